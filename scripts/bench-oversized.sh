#!/bin/bash
# An oversized retained message on a node's pods topic: the agent's PSS before it,
# after it arrived, and after a broker restart (the broker sends it again); the
# connections the broker saw from the agent; the time from `pealet apply` of a normal
# pod to its status Running, with the message in place. SIZE is the message's size in
# bytes (default 10 MB), VERSION the MQTT version (3 or 5).
# Needs root, busybox-static, mosquitto, mosquitto-clients and a release build.
#
# Usage: scripts/bench-oversized.sh [SIZE] [VERSION]
set -eu

SIZE=${1:-10485760}
VERSION=${2:-3}
DIR=$(realpath "$(dirname "$0")/..")
PEALET=${PEALET:-$DIR/target/release/pealet}
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
export PATH="$PATH:/usr/sbin"

WORK=$(mktemp -d /tmp/pealet-bench-oversized.XXXXXX)
export PEALET_CONFIG=/dev/null
NODE=big$VERSION-$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=mqtt://127.0.0.1:$PORT
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() {
    [ -n "${AGENT:-}" ] && kill "$AGENT" 2>/dev/null || true
    sleep 1
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm --grace 0 "$pod" >/dev/null || true; done
    [ -n "${MQ:-}" ] && kill "$MQ" 2>/dev/null && wait "$MQ" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
ln -s busybox "$ROOTFS/bin/sleep"
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name big:1 >/dev/null

printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location %s/\nlog_dest file %s/mosquitto.log\nlog_type all\n' \
    "$PORT" "$WORK" "$WORK" > "$WORK/mosquitto.conf"
start_broker() {
    mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
    MQ=$!
    sleep 0.5
}
start_broker
mkdir -p "$WORK/manifests"
$P agent --node "$NODE" --broker "$URL" --mqtt-version "$VERSION" --manifests "$WORK/manifests" \
    >"$WORK/agent.log" 2>&1 &
AGENT=$!
sleep 3
pss() { awk '/^Pss:/ { print $2 }' "/proc/$AGENT/smaps_rollup"; }
connects() { grep -c "as pealet-$NODE " "$WORK/mosquitto.log" || true; }
echo "MQTT $VERSION, a retained message of $SIZE bytes"
echo "agent PSS before: $(pss) KiB"
head -c "$SIZE" /dev/zero > "$WORK/big"
mosquitto_pub -h 127.0.0.1 -p "$PORT" -r -q 1 -t "pealet/v1/$NODE/pods/junk" -f "$WORK/big"
sleep 3
echo "agent PSS after it arrived: $(pss) KiB (connections so far: $(connects))"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s-p}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: c, image: big:1, command: [sleep, "86400"]}\n' \
    "$NODE" > "$WORK/pod.yaml"
t0=$(date +%s.%N)
$PEALET apply -f "$WORK/pod.yaml" --node "$NODE" --broker "$URL" --mqtt-version "$VERSION" >/dev/null
until $PEALET get pods --node "$NODE" --broker "$URL" --mqtt-version "$VERSION" 2>/dev/null | grep -q "$NODE-p .*Running"; do sleep 0.1; done
t1=$(date +%s.%N)
echo "apply to Running (as an operator sees it, polling every 0.1 s): $(echo "$t1 - $t0" | bc) s"
kill "$MQ"; wait "$MQ" 2>/dev/null || true
start_broker
sleep 5
echo "after a broker restart: agent PSS $(pss) KiB, connections $(connects)"
sleep 10
echo "10 s later: agent PSS $(pss) KiB, connections $(connects)"
echo "Warnings about it in the agent's log: $(grep -c 'junk' "$WORK/agent.log" || true)"
