#!/bin/sh
# Apply-to-running latency through a broker: `pealet apply` of a two-container busybox
# pod (local image) until a subscriber (`pealet get pods --watch`) sees both containers
# Running; the median of N runs, beside `runc run -d` of one busybox container on the
# same root file system in the same run (interleaved). Then, idle with the N pods and a
# live broker connection: the agent's PSS, its wakeups over IDLE seconds (voluntary +
# involuntary context switches of /proc/<pid>/task/*/status, per thread name: `pealet`
# is the agent's loop, `mqtt` the MQTT thread), and the MQTT bytes it sends per hour
# (messages under <prefix>/<node>/# counted by a subscriber for IDLE seconds,
# heartbeats included, extrapolated). Needs root, busybox-static, mosquitto, runc and a
# release build (cargo build --release).
#
# Usage: scripts/bench-apply.sh [N] [IDLE]     (defaults 10 and 60; NODELAY=1, see below)
# Pods are named ${PREFIX}1 .. ${PREFIX}N (PREFIX defaults to a<pid>-): cgroups are named
# by pod name, so runs side by side (or beside tests) must not share names.
set -eu

N=${1:-10}
IDLE=${2:-60}
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v mosquitto >/dev/null || { echo "mosquitto missing" >&2; exit 1; }
command -v runc >/dev/null || { echo "runc missing: apt-get install -y runc" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pealet-bench-apply.XXXXXX)
export PEALET_CONFIG=/dev/null
NODE=bench-$$
PREFIX=${PREFIX:-a$$-}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BROKER="--broker mqtt://127.0.0.1:$PORT"
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() {
    [ -n "${WATCH:-}" ] && kill "$WATCH" 2>/dev/null || true
    [ -n "${AGENT:-}" ] && kill "$AGENT" 2>/dev/null || true
    sleep 1
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do $P rm --grace 0 "$pod" >/dev/null || true; done
    for c in $(runc --root "$WORK/runc" list -q 2>/dev/null); do runc --root "$WORK/runc" delete -f "$c" >/dev/null 2>&1 || true; done
    [ -n "${MQ:-}" ] && kill "$MQ" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ROOTFS=$WORK/bundle/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name bench:1 >/dev/null
# runc bundle: the default spec, no terminal, sleeping.
(cd "$WORK/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sleep", "100000"/' "$WORK/bundle/config.json"

printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$PORT" > "$WORK/mosquitto.conf"
# NODELAY=1: the broker sends without Nagle's algorithm (mosquitto's default keeps it,
# so a small message can wait for the delayed ACK of the one before: up to 40 ms).
[ "${NODELAY:-0}" = 1 ] && echo 'set_tcp_nodelay true' >> "$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
MQ=$!
sleep 0.5
mkdir -p "$WORK/manifests"
$P agent --node "$NODE" $BROKER --manifests "$WORK/manifests" >"$WORK/agent.log" 2>&1 &
AGENT=$!
sleep 1

# Watch the node's pods; one line per status change, with a time stamp.
$PEALET get pods --node "$NODE" $BROKER --watch 2>/dev/null | while IFS= read -r line; do
    echo "$(date +%s%N) $line"
done > "$WORK/watch.log" &
WATCH=$!
sleep 1

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

: > "$WORK/apply.ms"; : > "$WORK/runc.ms"
i=0
while [ "$i" -lt "$N" ]; do
    i=$((i + 1))
    pod=$PREFIX$i
    manifest "$pod" > "$WORK/$pod.yaml"
    t0=$(date +%s%N)
    $PEALET apply -f "$WORK/$pod.yaml" --node "$NODE" $BROKER >/dev/null
    until grep -Eq "^[0-9]+ $pod +2/2 +Running" "$WORK/watch.log"; do sleep 0.002; done
    t1=$(grep -E "^[0-9]+ $pod +2/2 +Running" "$WORK/watch.log" | head -1 | cut -d' ' -f1)
    echo "scale=1; ($t1 - $t0) / 1000000" | bc >> "$WORK/apply.ms"
    t0=$(date +%s%N)
    runc --root "$WORK/runc" run -d -b "$WORK/bundle" "c$$-$i" </dev/null >/dev/null 2>&1
    t1=$(date +%s%N)
    echo "scale=1; ($t1 - $t0) / 1000000" | bc >> "$WORK/runc.ms"
done
echo "apply -> both containers Running seen by a subscriber, ms (N=$N):"
tr '\n' ' ' < "$WORK/apply.ms"; echo
printf 'median: '
sort -n "$WORK/apply.ms" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
echo "runc run -d, one container, ms:"
tr '\n' ' ' < "$WORK/runc.ms"; echo
printf 'median: '
sort -n "$WORK/runc.ms" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
kill "$WATCH" 2>/dev/null || true; WATCH=

# Idle with (at least) 10 pods.
sleep 5
printf 'agent PSS idle with %s pods: ' "$N"
awk '/^Pss:/ { print $2 " KiB" }' "/proc/$AGENT/smaps_rollup"
printf 'agent threads: '; ls "/proc/$AGENT/task" | wc -l
# Context switches per thread name: "name count" lines.
switches() {
    for t in /proc/"$AGENT"/task/*; do
        printf '%s ' "$(cat "$t/comm")"
        awk '/ctxt_switches/ { n += $2 } END { print n }' "$t/status"
    done | awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort
}
switches > "$WORK/switches.0"
python3 - "$PORT" "$NODE" "$IDLE" <<'PY'
import socket, struct, sys, time
port, node, idle = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
def s8(s): b = s.encode(); return struct.pack(">H", len(b)) + b
def packet(t, body):
    n, enc = len(body), b""
    while True:
        d, n = n % 128, n // 128
        enc += bytes([d | (128 if n else 0)])
        if not n: break
    return bytes([t]) + enc + body
c = socket.create_connection(("127.0.0.1", port))
# Keep-alive 0: this counter sends no PINGREQ, and a broker drops a silent client after
# 1.5 times its keep-alive (with 60 s, any IDLE over 90 s failed).
c.sendall(packet(0x10, s8("MQTT") + b"\x04\x02\x00\x00" + s8("bench-counter")))
c.sendall(packet(0x82, b"\x00\x01" + s8("pealet/v1/%s/#" % node) + b"\x00"))
def read_packet():
    h = c.recv(1)
    if not h: raise EOF
    mult, n = 1, 0
    while True:
        b = c.recv(1)[0]; n += (b & 127) * mult; mult *= 128
        if not b & 128: break
    body = b""
    while len(body) < n: body += c.recv(n - len(body))
    return h[0], body
# Skip the retained messages sent at subscription: count only what arrives after.
c.settimeout(1.0)
try:
    while True: read_packet()
except socket.timeout:
    pass
c.settimeout(None)
end, total, count = time.time() + idle, 0, 0
while True:
    left = end - time.time()
    if left <= 0: break
    c.settimeout(left)
    try:
        t, body = read_packet()
    except socket.timeout:
        break
    if t >> 4 == 3:
        tl = struct.unpack(">H", body[:2])[0]
        payload = len(body) - 2 - tl
        total += len(body) + 2; count += 1
print("MQTT from the idle node over %ds: %d messages, %d bytes (PUBLISH packets as received) -> %d bytes/hour" % (idle, count, total, total * 3600 / idle))
PY
switches > "$WORK/switches.1"
echo "agent wakeups over ${IDLE}s idle (context switches, per thread):"
join "$WORK/switches.0" "$WORK/switches.1" | awk '{ printf "  %s: %d\n", $1, $3 - $2 }'
printf 'agent PSS after the idle time: '
awk '/^Pss:/ { print $2 " KiB" }' "/proc/$AGENT/smaps_rollup"
