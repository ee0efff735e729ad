#!/bin/sh
# pealet over a WAN link. Two agents on this machine, one reaching mosquitto on
# loopback and one through the wan-proxy example (a shaped TCP link: RTT_MS round
# trip); the operator (`pealet apply`) and the subscriber (`pealet get pods --watch`)
# sit beside the broker, as in a cloud region.
#  1. apply of a two-container busybox pod until the subscriber sees both containers
#     Running, for each agent in turn (interleaved, N times each); medians.
#  2. a black hole of HOLE seconds on the link (HOLES times): a pod on the device
#     finishes during it; the time from the heal to the subscriber seeing that status
#     (the first status delivered), and how many connections the proxy accepted.
# KEEP_ALIVE (seconds) is passed to the agent behind the link when set; otherwise it
# runs with its defaults. Needs root, busybox-static, mosquitto, and release builds of
# pealet and the proxy (cargo build --release && cargo build --release --example wan-proxy).
#
# Usage: scripts/bench-wan.sh [N] [RTT_MS] [HOLE] [HOLES]    (defaults 10 300 120 1)
set -eu

N=${1:-10}
RTT_MS=${2:-300}
HOLE=${3:-120}
HOLES=${4:-1}
HERE=$(dirname "$0")
PEALET=$(realpath "${PEALET:-$HERE/../target/release/pealet}")
PROXY=$(realpath "${PROXY:-$HERE/../target/release/examples/wan-proxy}")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v mosquitto >/dev/null || { echo "mosquitto missing" >&2; exit 1; }
[ -x "$PROXY" ] || { echo "build the proxy: cargo build --release --example wan-proxy" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pealet-bench-wan.XXXXXX)
export PEALET_CONFIG=/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIRECT="--broker mqtt://127.0.0.1:$PORT"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for side in l w; do
        P="$PEALET --root $WORK/$side/root --run-dir $WORK/$side/run"
        for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm --grace 0 "$pod" >/dev/null || true; done
    done
    [ -n "${MQ:-}" ] && kill "$MQ" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# Pod names unique to this run: cgroups are named after pods, and other pealets may run
# pods on this machine (bench-apply.sh names its own p1, p2, ...).
U=wan$$
now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() {
    sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"

printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$PORT" > "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
MQ=$!
sleep 0.5

# The link: controls through a fifo held open on fd 3.
mkfifo "$WORK/proxy.ctl"
"$PROXY" --upstream "127.0.0.1:$PORT" --delay-ms $((RTT_MS / 2)) < "$WORK/proxy.ctl" > "$WORK/proxy.out" 2>&1 &
PIDS="$PIDS $!"
exec 3> "$WORK/proxy.ctl"
until grep -q '^listening on' "$WORK/proxy.out"; do sleep 0.01; done
LINK="--broker mqtt://$(awk '/^listening on/ { print $3 }' "$WORK/proxy.out")"
control() { echo "$1" >&3; }

# side l: loopback; side w: through the link.
for side in l w; do
    P="$PEALET --root $WORK/$side/root --run-dir $WORK/$side/run"
    $P image import "$ROOTFS" --name bench:1 >/dev/null
    mkdir -p "$WORK/$side/manifests"
    if [ "$side" = l ]; then B=$DIRECT; EXTRA=""; else B=$LINK; EXTRA=${KEEP_ALIVE:+--keep-alive $KEEP_ALIVE}; fi
    # shellcheck disable=SC2086
    PEALET_LOG=info $P agent --node "bench-$side-$$" $B $EXTRA --manifests "$WORK/$side/manifests" >"$WORK/$side/agent.log" 2>&1 &
    PIDS="$PIDS $!"
    # shellcheck disable=SC2086
    $PEALET get pods --node "bench-$side-$$" $DIRECT --watch 2>/dev/null | while IFS= read -r line; do
        echo "$(date +%s%N) $line"
    done > "$WORK/$side/watch.log" &
    PIDS="$PIDS $!"
done
sleep 2

manifest() {
    cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: a, image: bench:1, command: [sleep, "100000"]}
  - {name: b, image: bench:1, command: [sleep, "100000"]}
YAML
}

# Waits for a row matching $2 in side $1's watch log that came after $3; prints its time.
# Gives up after 10 minutes.
seen_after() {
    deadline=$(( $(date +%s) + 600 ))
    while :; do
        t=$(grep -E "$2" "$WORK/$1/watch.log" | awk -v after="$3" '$1 >= after { print $1; exit }')
        [ -n "$t" ] && { echo "$t"; return; }
        [ "$(date +%s)" -lt "$deadline" ] || { echo "no row matching $2 on side $1" >&2; exit 1; }
        sleep 0.002
    done
}

: > "$WORK/l.ms"; : > "$WORK/w.ms"
i=0
while [ "$i" -lt "$N" ]; do
    i=$((i + 1))
    for side in l w; do
        pod=$U-$side$i
        manifest "$pod" > "$WORK/$pod.yaml"
        t0=$(now)
        # shellcheck disable=SC2086
        $PEALET apply -f "$WORK/$pod.yaml" --node "bench-$side-$$" $DIRECT >/dev/null
        t1=$(seen_after "$side" "^[0-9]+ $pod +2/2 +Running" "$t0")
        ms "$t0" "$t1" >> "$WORK/$side.ms"
    done
done
echo "apply -> both containers Running seen by a subscriber, ms (N=$N):"
printf 'loopback:          '; tr '\n' ' ' < "$WORK/l.ms"; printf '\n  median: %s\n' "$(median "$WORK/l.ms")"
printf '%s ms round trip: ' "$RTT_MS"; tr '\n' ' ' < "$WORK/w.ms"; printf '\n  median: %s\n' "$(median "$WORK/w.ms")"

# Black holes: a pod that finishes when told, told during the outage.
PW="$PEALET --root $WORK/w/root --run-dir $WORK/w/run"
h=0
while [ "$h" -lt "$HOLES" ]; do
    h=$((h + 1))
    cat > "$WORK/$U-flip$h.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $U-flip$h}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: bench:1, command: [sh, -c, 'while [ ! -e /tmp/stop ]; do sleep 0.2; done']}
YAML
    t0=$(now)
    # shellcheck disable=SC2086
    $PEALET apply -f "$WORK/$U-flip$h.yaml" --node "bench-w-$$" $DIRECT >/dev/null
    seen_after w "^[0-9]+ $U-flip$h +1/1 +Running" "$t0" >/dev/null
    control stats; control "blackhole on"
    sleep 5
    $PW exec "$U-flip$h" -- touch /tmp/stop
    sleep $((HOLE - 5))
    control stats
    t0=$(now)
    control "blackhole off"
    t1=$(seen_after w "^[0-9]+ $U-flip$h +0/1 +Completed" "$t0")
    echo "black hole $h of ${HOLE}s: heal -> the status changed during it seen by the subscriber: $(ms "$t0" "$t1") ms"
    control stats
    sleep 1
    grep '^accepted' "$WORK/proxy.out" | tail -3 | sed 's/^/  proxy: /'
done
grep -E 'connected|lost' "$WORK/w/agent.log" | tail -8 | sed 's/^/  agent: /'
