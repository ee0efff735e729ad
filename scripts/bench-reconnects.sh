#!/bin/bash
# The agent's memory across reconnects: an agent with PODS pods (default 5) connects to
# mosquitto through examples/wan-proxy; the proxy resets the connection (RST) COUNT
# times (default 1000), each time once the agent has connected again. The agent's PSS
# (smaps_rollup) and its anonymous memory (its own allocations: PSS also moves with the
# number of other processes that map the same binary) are printed after the first 10
# reconnects (warm) and every 100, and the connections the proxy accepted at the end.
# Run it with nothing else using the same binary (copy it: PEALET=/tmp/some-copy). VERSION is the MQTT version (3 or 5).
# Also: the messages a node with one refused pod sends in IDLE seconds (default 120),
# per topic kind, scaled to an hour.
# Needs root, busybox-static, mosquitto, mosquitto-clients and a release build with
# the proxy: cargo build --release --bin pealet --example wan-proxy.
#
# Usage: scripts/bench-reconnects.sh [COUNT] [VERSION] [PODS] [IDLE]
set -eu

COUNT=${1:-1000}
VERSION=${2:-3}
PODS=${3:-5}
IDLE=${4:-120}
DIR=$(realpath "$(dirname "$0")/..")
PEALET=${PEALET:-$DIR/target/release/pealet}
PROXY=${PROXY:-$DIR/target/release/examples/wan-proxy}
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
export PATH="$PATH:/usr/sbin"

WORK=$(mktemp -d /tmp/pealet-bench-reconnects.XXXXXX)
export PEALET_CONFIG=/dev/null
NODE=reconn$VERSION-$$
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PPORT=$(free_port)
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() {
    [ -n "${SUB:-}" ] && kill "$SUB" 2>/dev/null || true
    [ -n "${AGENT:-}" ] && kill "$AGENT" 2>/dev/null || true
    exec 3>&- 2>/dev/null || true
    sleep 1
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm --grace 0 "$pod" >/dev/null || true; done
    [ -n "${PX:-}" ] && kill "$PX" 2>/dev/null || true
    [ -n "${MQ:-}" ] && kill "$MQ" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
ln -s busybox "$ROOTFS/bin/sleep"
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name reconn:1 >/dev/null

printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$PORT" > "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
MQ=$!
mkfifo "$WORK/ctl" "$WORK/out"
"$PROXY" --listen "127.0.0.1:$PPORT" --upstream "127.0.0.1:$PORT" <"$WORK/ctl" >"$WORK/out" &
PX=$!
exec 3>"$WORK/ctl" 4<"$WORK/out"
read -r _ <&4 # listening on ...
ctl() { echo "$1" >&3; read -r answer <&4; echo "$answer"; }
accepted() { ctl stats | awk '{ print $2 }'; }
sleep 0.5

mkdir -p "$WORK/manifests"
$P agent --node "$NODE" --broker "mqtt://127.0.0.1:$PPORT" --mqtt-version "$VERSION" \
    --manifests "$WORK/manifests" >"$WORK/agent.log" 2>&1 &
AGENT=$!
for i in $(seq "$PODS"); do
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s-p%s}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {name: c, image: reconn:1, command: [sleep, "86400"]}\n' \
        "$NODE" "$i" >>"$WORK/pods.yaml"
done
# One refused pod: it requests more memory than the node has (OutOfmemory).
printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s-refused}\nspec:\n  containers:\n  - {name: c, image: reconn:1, command: [sleep, "86400"], resources: {requests: {memory: 1000Gi}}}\n' \
    "$NODE" >>"$WORK/pods.yaml"
$PEALET apply -f "$WORK/pods.yaml" --node "$NODE" --broker "mqtt://127.0.0.1:$PORT" >/dev/null
sleep 5

# Messages from a node with a refused pod, idle.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "pealet/v1/$NODE/status/+" -t "pealet/v1/$NODE/node" \
    -t "pealet/v1/$NODE/events" -F '%r %t' >"$WORK/messages" &
SUB=$!
sleep "$IDLE"
kill "$SUB"; SUB=
LIVE=$(awk '$1 == 0' "$WORK/messages") # not the retained ones sent at subscribe
status=$(echo "$LIVE" | grep -c '/status/' || true)
refused=$(echo "$LIVE" | grep -c "/status/$NODE-refused" || true)
node=$(echo "$LIVE" | grep -c '/node$' || true)
events=$(echo "$LIVE" | grep -c '/events$' || true)
echo "idle ${IDLE}s with $PODS pods and 1 refused pod (MQTT $VERSION): statuses $status (of the refused pod $refused), node $node, events $events;" \
    "per hour: $(( (status + node + events) * 3600 / IDLE )) messages ($(( refused * 3600 / IDLE )) about the refused pod)"

pss() { awk '/^Pss:/ { print $2 }' "/proc/$AGENT/smaps_rollup"; }
# Anonymous memory: the agent's own allocations, whatever else maps its binary.
anon() { awk '/^Anonymous:/ { print $2 }' "/proc/$AGENT/smaps_rollup"; }
# Resets the connection and waits until the agent has connected again.
reconnect() {
    local before
    before=$(grep -c 'connected to' "$WORK/agent.log" || true)
    ctl reset >/dev/null
    while [ "$(grep -c 'connected to' "$WORK/agent.log" || true)" -le "$before" ]; do sleep 0.02; done
}
for i in $(seq "$COUNT"); do
    reconnect
    if [ "$i" = 10 ]; then sleep 2; WARM=$(pss); WARM_ANON=$(anon); echo "after 10 reconnects: PSS $WARM KiB, anonymous $WARM_ANON KiB"; fi
    if [ $((i % 100)) = 0 ]; then sleep 2; echo "after $i reconnects: PSS $(pss) KiB, anonymous $(anon) KiB"; fi
done
sleep 2
END=$(pss)
END_ANON=$(anon)
echo "accepted connections: $(accepted); after $COUNT reconnects: PSS $END KiB ($((END - WARM)) KiB beside after 10), anonymous $END_ANON KiB ($((END_ANON - WARM_ANON)) KiB)"
echo "connects in the agent's log: $(grep -c 'connected to' "$WORK/agent.log")"
