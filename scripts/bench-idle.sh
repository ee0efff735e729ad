#!/bin/sh
# An idle agent with PODS pods over a live broker connection: its wakeups (context
# switches per thread, from /proc/<pid>/task/*/status), its PSS, and the bytes its MQTT
# connection carries each way (the kernel's own TCP counters for the agent's socket,
# `ss -ti`: MQTT framing, pings and TLS-free TCP payload, not IP headers), over
# DURATION seconds after the pods are Running. VERSION is the MQTT version (3 or 5).
# PSS counts a share of the binary's pages that the agent maps with every shim and
# container waiter: it is lower the more pealet processes run; the private part is not.
# Needs root, busybox-static, mosquitto, iproute2 (ss) and a release build.
#
# Usage: scripts/bench-idle.sh [PODS] [DURATION] [VERSION]     (defaults 10, 60, 3)
set -eu

PODS=${1:-10}
DURATION=${2:-60}
VERSION=${3:-3}
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { echo "mosquitto missing" >&2; exit 1; }
export PATH="$PATH:/usr/sbin"

WORK=$(mktemp -d /tmp/pealet-bench-idle.XXXXXX)
export PEALET_CONFIG=/dev/null
NODE=idle$VERSION-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BROKER="--broker mqtt://127.0.0.1:$PORT --mqtt-version $VERSION"
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() {
    [ -n "${AGENT:-}" ] && kill "$AGENT" 2>/dev/null || true
    sleep 1
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm --grace 0 "$pod" >/dev/null || true; done
    [ -n "${MQ:-}" ] && kill "$MQ" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
ln -s busybox "$ROOTFS/bin/sleep"
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name idle:1 >/dev/null

printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$PORT" > "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
MQ=$!
sleep 0.5
mkdir -p "$WORK/manifests"
$P agent --node "$NODE" $BROKER --manifests "$WORK/manifests" >"$WORK/agent.log" 2>&1 &
AGENT=$!

i=0
while [ "$i" -lt "$PODS" ]; do
    i=$((i + 1))
    cat > "$WORK/p$i.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $NODE-p$i}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: idle:1, command: [sleep, "100000"]}
YAML
    $PEALET apply -f "$WORK/p$i.yaml" --node "$NODE" $BROKER >/dev/null
done
until [ "$($PEALET get pods --node "$NODE" $BROKER | grep -c ' Running ')" -ge "$PODS" ]; do sleep 0.5; done
sleep 5

switches() {  # per thread: name voluntary+nonvoluntary
    for t in /proc/"$AGENT"/task/*; do
        name=$(cat "$t/comm")
        awk -v n="$name" '/ctxt_switches/ { s += $2 } END { print n, s }' "$t/status"
    done | sort
}
tcp() {  # bytes_sent bytes_received of the agent's connection to the broker
    ss -tinpH "dport = :$PORT" | awk -v pid="pid=$AGENT," '
        index($0, pid) { found = 1; next }
        found { for (i = 1; i <= NF; i++) { split($i, kv, ":");
            if (kv[1] == "bytes_sent") s = kv[2]; if (kv[1] == "bytes_received") r = kv[2] }
            print s + 0, r + 0; exit }'
}
pss() {  # PSS, and the private part of it (what the agent alone costs)
    awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { q += $2 }
        END { print p " KiB (" q " KiB private)" }' "/proc/$AGENT/smaps_rollup"
}
PSS0=$(pss)
switches > "$WORK/sw0"; set -- $(tcp); S0=$1; R0=$2
sleep "$DURATION"
switches > "$WORK/sw1"; set -- $(tcp); S1=$1; R1=$2

echo "idle agent, $PODS pods, MQTT $VERSION, over $DURATION s:"
join "$WORK/sw0" "$WORK/sw1" | awk -v d="$DURATION" '{ printf "  wakeups of thread %-10s %6d (%.1f per minute)\n", $1, $3 - $2, ($3 - $2) * 60 / d }'
echo "  PSS: $PSS0 at the start (5 s after the last pod ran), $(pss) at the end"
echo "  MQTT connection: $((S1 - S0)) bytes sent, $((R1 - R0)) received (since connect: $S1 and $R1) -> $(( (S1 - S0 + R1 - R0) * 3600 / DURATION )) bytes/hour both ways"
