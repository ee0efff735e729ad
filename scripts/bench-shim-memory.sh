#!/bin/sh
# Private memory of one idle shim: a one-container busybox pod started with
# `pealet run --detach`, then, after N seconds idle, Private_Clean + Private_Dirty of
# /proc/<shim>/smaps_rollup, and the mappings that hold most of it. Needs root,
# busybox-static and a release build (cargo build --release).
#
# Usage: scripts/bench-shim-memory.sh [SECONDS]     (default 2)
set -eu

IDLE=${1:-2}
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pealet-shim-mem.XXXXXX)
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() { $P rm idle >/dev/null 2>&1 || true; rm -rf "$WORK"; }
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
metadata: {name: idle}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: bench:1, command: [sleep, '100000']}
YAML
$P run --detach "$WORK/pod.yaml" >/dev/null
sleep "$IDLE"
SHIM=$(cat "$WORK/run/pods/idle/shim.pid")
awk '/^(Pss|Private_Clean|Private_Dirty):/ { v[$1] = $2 }
     END { printf "idle shim: Pss %d KiB, private %d KiB (clean %d, dirty %d)\n",
           v["Pss:"], v["Private_Clean:"] + v["Private_Dirty:"], v["Private_Clean:"], v["Private_Dirty:"] }' \
    "/proc/$SHIM/smaps_rollup"
echo "largest private mappings (KiB clean, dirty, mapping):"
awk '/^[0-9a-f]+-[0-9a-f]+ / { m = $2 " " ($6 == "" ? "[anon]" : $6) }
     /^Private_Clean:/ { c[m] += $2 } /^Private_Dirty:/ { d[m] += $2 }
     END { for (k in c) if (c[k] + d[k] > 0) printf "%6d %6d  %s\n", c[k], d[k], k }' \
    "/proc/$SHIM/smaps" | sort -k1,1nr -k2,2nr | head -8
