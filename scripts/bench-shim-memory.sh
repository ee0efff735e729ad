#!/bin/sh
# pealet's own memory per pod: a two-container busybox pod started with `pealet run
# --detach`; 4 s after it returned and again after IDLE seconds, the PSS and private
# memory (Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup) of every pealet
# process of the pod (the shim and any descendant running the pealet binary), summed,
# and the shim's largest private mappings. Needs root, busybox-static and a release
# build (cargo build --release); PEALET=path measures another build.
#
# Usage: scripts/bench-shim-memory.sh [IDLE]     (default 30)
set -eu

IDLE=${1:-30}
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pealet-shim-mem.XXXXXX)
POD=idle-$$
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() { $P rm --grace 0 "$POD" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
# Also when killed, or when a reader such as `head` goes away: never leave the pod.
trap 'exit 1' HUP INT TERM PIPE

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
$P image import "$ROOTFS" --name bench:1 >/dev/null
cat > "$WORK/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $POD}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: bench:1, command: [sleep, '100000']}
  - {name: b, image: bench:1, command: [sleep, '100000']}
YAML
$P run --detach "$WORK/pod.yaml" >/dev/null
START=$(date +%s)
SHIM=$(cat "$WORK/run/pods/$POD/shim.pid")

# The shim and its descendants that run the pealet binary.
pealet_procs() {
    ps -e -o pid=,ppid= | awk -v root="$SHIM" '
        { parent[$1] = $2 } END {
          for (p in parent) { q = p; while (q != "" && q != root && q in parent && q != parent[q]) q = parent[q]; if (q == root) print p }
        }' | while read -r pid; do
        [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$PEALET" ] && echo "$pid"
    done
}

report() {
    label=$1; n=0; pss=0; priv=0
    for pid in $(pealet_procs); do
        n=$((n + 1))
        set -- $(awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { v += $2 } END { print p, v }' "/proc/$pid/smaps_rollup")
        pss=$((pss + $1)); priv=$((priv + $2))
    done
    echo "$label s after start: $n pealet processes, Pss $pss KiB, private $priv KiB"
}

sleep $((START + 4 - $(date +%s)))
report 4
sleep $((START + IDLE - $(date +%s)))
report "$IDLE"
echo "largest private mappings of the shim (KiB clean, dirty, mapping):"
awk '/^[0-9a-f]+-[0-9a-f]+ / { m = $2 " " ($6 == "" ? "[anon]" : $6) }
     /^Private_Clean:/ { c[m] += $2 } /^Private_Dirty:/ { d[m] += $2 }
     END { for (k in c) if (c[k] + d[k] > 0) printf "%6d %6d  %s\n", c[k], d[k], k }' \
    "/proc/$SHIM/smaps" | sort -k1,1nr -k2,2nr | head -8
