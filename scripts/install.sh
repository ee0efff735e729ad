#!/usr/bin/env bash
# Installs pealet on a device: the binary, /etc/pealet (config and static-pod
# manifests folder) and the systemd unit, then enables and starts the agent.
#
#   sudo scripts/install.sh path/to/pealet [--broker mqtt://host:1883] [--node NAME]
#   sudo scripts/install.sh --uninstall [--purge]
#
# --uninstall stops and removes the unit and the binary and leaves pods' data and
# /etc/pealet in place; --purge also removes /etc/pealet, /var/lib/pealet and
# /run/pealet (after stopping every pod).
set -euo pipefail

BIN_DIR=/usr/local/bin
ETC=/etc/pealet
UNIT=/etc/systemd/system/pealet.service
HERE="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"

uninstall() {
    local purge=$1
    systemctl disable --now pealet.service 2>/dev/null || true
    rm -f "$UNIT"
    systemctl daemon-reload || true
    if [ "$purge" = yes ]; then
        # Stop every pod first, so no container, mount or cgroup is left behind.
        if [ -x "$BIN_DIR/pealet" ]; then
            for pod in $("$BIN_DIR/pealet" ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do
                "$BIN_DIR/pealet" rm "$pod" || true
            done
        fi
        rm -rf "$ETC" /var/lib/pealet /run/pealet
    fi
    rm -f "$BIN_DIR/pealet"
    if [ "$purge" = yes ]; then echo "pealet uninstalled, its data purged"; else echo "pealet uninstalled (pods' data and /etc/pealet kept)"; fi
}

if [ "${1:-}" = --uninstall ]; then
    uninstall "$([ "${2:-}" = --purge ] && echo yes || echo no)"
    exit 0
fi

bin=${1:-}; shift || true
[ -n "$bin" ] && [ -x "$bin" ] || die "usage: install.sh PATH/TO/pealet [--broker URL] [--node NAME]"
broker="" node=""
while [ $# -gt 0 ]; do
    case "$1" in
        --broker) broker=$2; shift 2 ;;
        --node) node=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done

"$bin" --version >/dev/null || die "$bin does not run on this machine (wrong target?)"
install -m 0755 "$bin" "$BIN_DIR/pealet"

install -d -m 0755 "$ETC" "$ETC/manifests"
if [ ! -e "$ETC/config.toml" ]; then
    {
        echo "# pealet agent settings; flags and PEALET_* environment variables override them."
        if [ -n "$broker" ]; then echo "broker = \"$broker\""; else echo "# broker = \"mqtts://broker.example:8883\""; fi
        if [ -n "$node" ]; then echo "node = \"$node\""; else echo "# node = \"$(hostname)\"   # default: the hostname"; fi
        echo "# prefix = \"pealet/v1\""
        echo "# username = \"device\""
        echo "# password_file = \"/etc/pealet/password\""
        echo "# manifests = \"/etc/pealet/manifests\"   # static pods, run without a broker"
        echo "# Pods from the broker may not have the host (static pods of the manifests"
        echo "# directory may): privileged, hostNetwork/hostPID/hostIPC and hostPath are"
        echo "# refused unless allowed here."
        echo "allow_privileged = false"
        echo "allow_host_namespaces = false"
        echo "allow_host_path = false"
        echo "# host_path_prefixes = [\"/srv\", \"/var/log\"]   # where hostPath is allowed"
        echo "# Public keys (pealet keygen) whose signatures on pods, deletions and indexes"
        echo "# this device trusts; once one is set, unsigned desired state is refused."
        echo "# trusted_keys = [\"ed25519:...\"]"
        echo "# reserved_cpu = \"200m\""
        echo "# reserved_memory = \"128Mi\""
        echo "seccomp_default = true   # containers without a seccompProfile get RuntimeDefault"
        echo "# allowed_unsafe_sysctls = [\"kernel.msg*\"]   # beyond the safe set; default none"
        echo ""
        echo "# [tls]"
        echo "# ca_file = \"/etc/pealet/ca.crt\""
        echo "# cert_file = \"/etc/pealet/device.crt\"   # mutual TLS"
        echo "# key_file = \"/etc/pealet/device.key\""
    } > "$ETC/config.toml"
    chmod 0600 "$ETC/config.toml"
fi

install -m 0644 "$HERE/targets/systemd/pealet.service" "$UNIT"
systemctl daemon-reload
systemctl enable --now pealet.service
echo "pealet installed: $("$BIN_DIR/pealet" --version); 'systemctl status pealet' shows the agent"
