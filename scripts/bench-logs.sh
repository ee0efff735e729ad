#!/bin/sh
# Remote logs: the round trip of `pealet logs --node` (connect, subscribe, request,
# answer) against a mosquitto and an agent on 127.0.0.1, for a container whose log
# fills the per-instance cap (the answer is the newest 60 KiB), and for --tail 10; then
# the agent's PSS before and after 53 requests. The agent answers 4 requests at once,
# then 2 a second: the later runs of a quick series show that pacing. Needs root,
# busybox-static, mosquitto and a release build (cargo build --release).
#
# Usage: scripts/bench-logs.sh
set -eu
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v mosquitto >/dev/null || { echo "mosquitto missing" >&2; exit 1; }
BUSYBOX=$(command -v busybox || echo /bin/busybox)
WORK=$(mktemp -d /tmp/pealet-bench-logs.XXXXXX)
export PEALET_CONFIG=/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B="--broker mqtt://127.0.0.1:$PORT"
P="$PEALET --root $WORK/root --run-dir $WORK/run"
cleanup() { kill $AGENT 2>/dev/null || true; sleep 1; $P rm rt >/dev/null 2>&1 || true; kill $MQ 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
R=$WORK/rootfs; mkdir -p $R/bin $R/etc $R/tmp $R/proc $R/sys $R/dev
cp $BUSYBOX $R/bin/busybox; for a in $($BUSYBOX --list); do [ $a = busybox ] || ln -sf busybox $R/bin/$a; done
echo 'root:x:0:0:root:/:/bin/sh' > $R/etc/passwd
$P image import $R --name rt:1 >/dev/null
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' $PORT > $WORK/m.conf
mosquitto -c $WORK/m.conf >/dev/null 2>&1 & MQ=$!
sleep 0.5; mkdir -p $WORK/man
$P agent --node rt $B --manifests $WORK/man > $WORK/agent.log 2>&1 & AGENT=$!
sleep 1
cat > $WORK/rt.yaml <<YAML
apiVersion: v1
kind: Pod
metadata: {name: rt}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: rt:1
    command: [sh, -c, 'i=0; while [ \$i -lt 20000 ]; do echo "line \$i of the log, some text to make it longer"; i=\$((i+1)); done; exec sleep 100000']
YAML
$PEALET apply -f $WORK/rt.yaml --node rt $B >/dev/null
sleep 8
du -b $WORK/run/pods/rt/logs/c/* | tr '\n' ' '; echo
printf 'agent PSS before any logs request: '; awk '/^Pss:/ { print $2 " KiB" }' /proc/$AGENT/smaps_rollup
for i in 1 2 3 4 5 6 7 8 9 10; do
  t0=$(date +%s%N); $PEALET logs --node rt $B rt > $WORK/out 2>$WORK/err; t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 )) ms, $(wc -c < $WORK/out) bytes, $(cat $WORK/err)"
done
sleep 3   # the token bucket refills
for i in 1 2 3; do
  sleep 0.6
  t0=$(date +%s%N); $PEALET logs --node rt $B rt --tail 10 > $WORK/out 2>$WORK/err; t1=$(date +%s%N)
  echo "tail 10: $(( (t1 - t0) / 1000000 )) ms, $(wc -c < $WORK/out) bytes"
done
printf 'agent PSS after 13 requests: '; awk '/^Pss:/ { print $2 " KiB" }' /proc/$AGENT/smaps_rollup
for i in $(seq 1 40); do $PEALET logs --node rt $B rt > /dev/null 2>&1; sleep 0.5; done
printf 'agent PSS after 53 requests: '; awk '/^Pss:/ { print $2 " KiB" }' /proc/$AGENT/smaps_rollup
