#!/bin/sh
# Start latency of a two-container busybox pod (`pealet run --detach`, which returns
# once both containers are Running) beside `runc run -d` of one busybox container on
# the same root file system, interleaved, N runs each; plus teardown time (`pealet rm`
# with a grace period of 0) and the PSS of one idle shim. Needs root, busybox-static,
# runc (apt-get install -y runc) and a release build (cargo build --release).
#
# Usage: scripts/bench-start.sh [N]     (default 20)
set -eu

N=${1:-20}
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
command -v runc >/dev/null || { echo "runc missing: apt-get install -y runc" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pealet-bench.XXXXXX)
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() {
    for c in $(runc --root "$WORK/runc" list -q 2>/dev/null); do
        runc --root "$WORK/runc" delete -f "$c" >/dev/null 2>&1 || true
    done
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm "$pod" >/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# One busybox root file system for both.
ROOTFS=$WORK/bundle/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name bench:1 >/dev/null

# runc bundle: the default spec, no terminal, sleeping.
(cd "$WORK/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sleep", "100000"/' "$WORK/bundle/config.json"

now_ns() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: > "$WORK/pod.ms"; : > "$WORK/runc.ms"; : > "$WORK/rm.ms"
i=0
while [ "$i" -lt "$N" ]; do
    i=$((i + 1))
    cat > "$WORK/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: bench-$i}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: bench:1, command: [sleep, '100000']}
  - {name: b, image: bench:1, command: [sleep, '100000']}
YAML
    t0=$(now_ns); $P run --detach "$WORK/pod.yaml" >/dev/null; t1=$(now_ns)
    ms "$t0" "$t1" >> "$WORK/pod.ms"
    t0=$(now_ns)
    runc --root "$WORK/runc" run -d -b "$WORK/bundle" "ctr-$i" </dev/null >/dev/null 2>&1
    t1=$(now_ns)
    ms "$t0" "$t1" >> "$WORK/runc.ms"
    if [ "$i" = 1 ]; then
        SHIM=$(cat "$WORK/run/pods/bench-1/shim.pid")
        sleep 1
        PSS=$(awk '/^Pss:/ { print $2 }' "/proc/$SHIM/smaps_rollup")
        PRIV=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$SHIM/smaps_rollup")
    fi
    runc --root "$WORK/runc" delete -f "ctr-$i" >/dev/null
    t0=$(now_ns); $P rm --grace 0 "bench-$i" >/dev/null; t1=$(now_ns)
    ms "$t0" "$t1" >> "$WORK/rm.ms"
done

POD=$(median < "$WORK/pod.ms"); RUNC=$(median < "$WORK/runc.ms"); RM=$(median < "$WORK/rm.ms")
echo "runs:                                    $N"
echo "pealet run --detach, 2 containers (ms):  median $POD"
echo "runc run -d, 1 container (ms):           median $RUNC"
echo "ratio pealet pod / runc container:       $(echo "scale=2; $POD / $RUNC" | bc)"
echo "pealet rm --grace 0 (ms):               median $RM"
echo "idle shim: Pss ${PSS} KiB, private ${PRIV} KiB"
