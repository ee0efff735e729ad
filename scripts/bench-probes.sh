#!/bin/sh
# Cost of probing: PODS busybox pods (default 50), each one container with an exec
# liveness probe (`cat /tmp/healthy`) and an httpGet readiness probe (busybox httpd in
# the pod) every PERIOD seconds (default 10). Reports
#  - the CPU time of all shims together over CPU_S seconds (default 60), as % of one
#    core, once after warm-up and once at the end, and over the whole run: the shims'
#    own time (schedstat), and their reaped children's (cutime+cstime), which are the
#    exec probes: each one is a `pealet enter` process plus the command it runs in the
#    container;
#  - each shim's private memory (Private_Clean + Private_Dirty of smaps_rollup) at the
#    start and then every SAMPLE_MIN minutes (default 10) for DURATION_MIN minutes
#    (default 60): min / median / max over the shims, and the largest growth of one
#    shim since the start.
# LIVENESS=tcp replaces the exec liveness probe by a tcpSocket one: every probe then
# runs in the shims, with no process. All pods are removed at the end. Needs root,
# busybox-static and a release build (cargo build --release).
#
# Usage: scripts/bench-probes.sh
#        PODS=3 DURATION_MIN=2 SAMPLE_MIN=1 CPU_S=20 scripts/bench-probes.sh   (quick check)
#        LIVENESS=tcp DURATION_MIN=0 scripts/bench-probes.sh     (CPU only, no exec probes)
#        PODS=5 PERIOD=1 DURATION_MIN=20 SAMPLE_MIN=2 scripts/bench-probes.sh  (memory soak:
#        ten times the probes per minute)
set -eu

PODS=${PODS:-50}
DURATION_MIN=${DURATION_MIN:-60}
SAMPLE_MIN=${SAMPLE_MIN:-10}
CPU_S=${CPU_S:-60}
PERIOD=${PERIOD:-10}
# Pod names; cgroups are named by the pod, so runs side by side need their own.
PREFIX=${PREFIX:-probe}
case ${LIVENESS:-exec} in
exec) LIVENESS_PROBE='exec: {command: [cat, /tmp/healthy]}' ;;
tcp) LIVENESS_PROBE='tcpSocket: {port: 8080}' ;;
*) echo "LIVENESS is exec or tcp" >&2; exit 2 ;;
esac
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pealet-bench-probes.XXXXXX)
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() {
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm "$pod" >/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name bench:1 >/dev/null

i=0
while [ "$i" -lt "$PODS" ]; do
    i=$((i + 1))
    cat > "$WORK/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $PREFIX-$i}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: bench:1
    command: [sh, -c, 'echo ok > /tmp/index.html; touch /tmp/healthy; httpd -p 8080 -h /tmp; exec sleep 1000000']
    livenessProbe: {$LIVENESS_PROBE, periodSeconds: $PERIOD}
    readinessProbe: {httpGet: {path: /index.html, port: 8080}, periodSeconds: $PERIOD}
YAML
    $P run --detach "$WORK/pod.yaml" >/dev/null
done

SHIMS=""
i=0
while [ "$i" -lt "$PODS" ]; do
    i=$((i + 1))
    SHIMS="$SHIMS $(cat "$WORK/run/pods/$PREFIX-$i/shim.pid")"
done

HZ=$(getconf CLK_TCK)
# CPU seconds of the shims so far: "own children". Their own time from
# /proc/PID/schedstat (nanoseconds on the CPU, exact); their reaped children's from
# cutime+cstime of /proc/PID/stat (clock ticks, sampled: noisy over one minute). The
# comm field of stat may hold spaces: cut the line after its last ')'.
cpu_seconds() {
    for pid in $SHIMS; do
        echo "$(cut -d' ' -f1 "/proc/$pid/schedstat") $(sed 's/.*) //' "/proc/$pid/stat")"
    done | awk -v hz="$HZ" '{ own += $1; kids += $15 + $16 } END { printf "%.6f %.6f\n", own / 1e9, kids / hz }'
}
START_CPU=$(cpu_seconds)
START_S=$(date +%s)
cpu_window() {
    label=$1
    set -- $(cpu_seconds); own0=$1; kids0=$2
    sleep "$CPU_S"
    set -- $(cpu_seconds); own1=$1; kids1=$2
    own=$(echo "$own0 $own1 $CPU_S" | awk '{ printf "%.3f", ($2 - $1) * 100 / $3 }')
    kids=$(echo "$kids0 $kids1 $CPU_S" | awk '{ printf "%.3f", ($2 - $1) * 100 / $3 }')
    total=$(echo "$own $kids" | awk '{ printf "%.3f", $1 + $2 }')
    echo "$label: CPU over ${CPU_S} s, % of one core: shims $own, exec probes (pealet enter + command) $kids, together $total"
}
private_kib() {
    awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$1/smaps_rollup"
}
summary() {
    sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print v[1], m, v[NR] }'
}
mem_sample() {
    for pid in $SHIMS; do echo "$pid $(private_kib "$pid")"; done > "$WORK/mem.$1"
    set -- "$1" $(awk '{ print $2 }' "$WORK/mem.$1" | summary)
    growth=$(awk 'NR == FNR { s[$1] = $2; next } { d = $2 - s[$1]; if (d > m) m = d } END { print m + 0 }' "$WORK/mem.0" "$WORK/mem.$1")
    echo "private memory at ${1} min (KiB): min $2, median $3, max $4; largest growth of one shim since start: $growth"
}

# Pods ready (READY 1/1) and restarts summed, from `pealet ps`.
health() {
    $P ps | awk 'NR > 1 { n++; if ($2 == "1/1") r++; s += $4 } END { printf "%d of %d pods ready, %d restarts", r, n, s }'
}
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); pods: $PODS; $($PEALET --version)"
echo "probes per pod: ${LIVENESS:-exec} liveness + httpGet readiness, every $PERIOD s"
sleep 30 # every pod has probed a few times
echo "after warm-up: $(health)"
mem_sample 0
cpu_window "after warm-up"
elapsed=0
while [ "$elapsed" -lt "$DURATION_MIN" ]; do
    sleep $((SAMPLE_MIN * 60))
    elapsed=$((elapsed + SAMPLE_MIN))
    mem_sample "$elapsed"
done
cpu_window "after ${DURATION_MIN} min"
set -- $START_CPU $(cpu_seconds) $(($(date +%s) - START_S))
echo "$@" | awk '{ printf "whole run (%d s), %% of one core: shims %.3f, exec probes %.3f, together %.3f\n", $5, ($3 - $1) * 100 / $5, ($4 - $2) * 100 / $5, ($3 - $1 + $4 - $2) * 100 / $5 }'
echo "at the end: $(health)"
