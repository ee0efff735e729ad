#!/bin/bash
# Chaos soak: PODS pods (default 20, named soak-<run>-<n>) on a real agent and a real
# mosquitto, and for DURATION seconds (default 1800) a random kill every 5 to 15 s:
# kill -9 of the agent (restarted at once), kill -9 of a pod's shim, kill -9 of a
# pod's `pealet reap` (the pods with shareProcessNamespace), or a broker restart.
# Every CHECK seconds (default 2) the invariants are checked:
#   - no pod lost or invented: the broker's view (`pealet get pods`) and the device's
#     (`pealet ps`) list exactly the soak's pods (a pod missing, or one too many, in
#     two checks in a row is a violation, counted once per episode);
#   - no status lies: a pod whose upstream STATUS differs from the device's for more
#     than LIE_MAX seconds (default 5) is a violation (counted once per episode);
#   - no zombie: a zombie whose parent is a pealet process, seen in two checks LIE_MAX
#     apart, is a violation;
#   - bounded agent memory: the agent's PSS (smaps_rollup) above PSS_MAX KiB (default
#     16384) is a violation; its peak is reported;
#   - bounded message rate: the messages under the node's topics (a subscriber counts
#     them) over any minute above RATE_MAX (default 1200) is a violation.
# At the end it prints a summary: kills survived by kind, violations by kind, and the
# container restarts that pealet's own processes caused (the containers sleep and never
# exit by themselves: every restart counted in their statuses, and every pod started
# from scratch (a new start time), is one).
# Needs root, busybox-static, mosquitto and mosquitto-clients, and a build
# (PEALET, default target/release/pealet).
#
# Usage: scripts/soak-chaos.sh [DURATION] [PODS]
set -u

DURATION=${1:-1800}
PODS=${2:-20}
CHECK=${CHECK:-2}
LIE_MAX=${LIE_MAX:-5}
PSS_MAX=${PSS_MAX:-16384}
RATE_MAX=${RATE_MAX:-1200}
PEALET=${PEALET:-$(dirname "$0")/../target/release/pealet}
PEALET=$(realpath "$PEALET")
BUSYBOX=$(command -v busybox)
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
export PATH="$PATH:/usr/sbin"
command -v mosquitto >/dev/null || { echo "mosquitto missing" >&2; exit 1; }
command -v mosquitto_sub >/dev/null || { echo "mosquitto_sub (mosquitto-clients) missing" >&2; exit 1; }

RUN=$$
NODE=soak-$RUN
WORK=$(mktemp -d /tmp/pealet-soak.XXXXXX)
export PEALET_CONFIG=/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=mqtt://127.0.0.1:$PORT
P="$PEALET --root $WORK/root --run-dir $WORK/run"
log() { echo "$(date -u +%H:%M:%S) $*"; }

cleanup() {
    [ -n "${SUB:-}" ] && kill "$SUB" 2>/dev/null
    [ -n "${AGENT:-}" ] && kill "$AGENT" 2>/dev/null
    sleep 1
    for pod in $($P ps 2>/dev/null | awk 'NR > 1 { print $1 }'); do
        $P rm --grace 0 "$pod" >/dev/null 2>&1
    done
    [ -n "${MQ:-}" ] && kill "$MQ" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
for a in sh sleep; do ln -s busybox "$ROOTFS/bin/$a"; done
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOTFS/etc/passwd"
$P image import "$ROOTFS" --name soak:1 >/dev/null || exit 1

printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location %s/\n' \
    "$PORT" "$WORK" > "$WORK/mosquitto.conf"
start_broker() {
    mosquitto -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
    MQ=$!
    for _ in $(seq 50); do
        (echo > /dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && return
        sleep 0.1
    done
}
start_agent() {
    $P agent --node "$NODE" --broker "$URL" --manifests "$WORK/manifests" --heartbeat 30 \
        >>"$WORK/agent.log" 2>&1 &
    AGENT=$!
}
start_broker
mkdir -p "$WORK/manifests"
start_agent
# Every message under the node's topics, one line each (retained ones included at
# each reconnect of the subscriber).
mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "pealet/v1/$NODE/#" -F '%t' >"$WORK/messages" 2>/dev/null &
SUB=$!

# Pods: sleeping containers, restartPolicy Always; every fourth shares its process
# namespace (a `pealet reap` runs for it) and has two containers.
for i in $(seq "$PODS"); do
    name=soak-$RUN-$i
    if [ $((i % 4)) = 0 ]; then
        share="  shareProcessNamespace: true"
        more="  - {name: b, image: soak:1, command: [sleep, '86400']}"
    else
        share=""
        more=""
    fi
    cat >>"$WORK/pods.yaml" <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: $name}
spec:
  terminationGracePeriodSeconds: 1
$share
  containers:
  - {name: a, image: soak:1, command: [sleep, '86400']}
$more
YAML
done
$PEALET apply -f "$WORK/pods.yaml" --node "$NODE" --broker "$URL" >/dev/null || exit 1
WANT=$(seq "$PODS" | sed "s/^/soak-$RUN-/" | sort)

# NAME STATUS pairs; the reason ShimLost upstream is the device's Unknown.
upstream() { $PEALET get pods --node "$NODE" --broker "$URL" 2>/dev/null | awk 'NR > 1 { s = $3; if (s == "ShimLost") s = "Unknown"; print $1, s }' | sort; }
local_view() { $P ps 2>/dev/null | awk 'NR > 1 { print $1, $3 }' | sort; }

log "waiting for $PODS pods Running"
for _ in $(seq 120); do
    [ "$(upstream | grep -c ' Running$')" = "$PODS" ] && break
    sleep 1
done
[ "$(upstream | grep -c ' Running$')" = "$PODS" ] || { log "the pods did not all run"; upstream; exit 1; }
declare -A START0
for pod in $WANT; do
    START0[$pod]=$($P inspect "$pod" -o json 2>/dev/null | grep -o '"startTime": *"[^"]*"' | head -1)
done
log "all $PODS pods Running; chaos for ${DURATION}s"

declare -A KILLS VIOL LIE_SINCE LIE_COUNTED ZOMBIE_SEEN
KILLS=([agent]=0 [shim]=0 [reap]=0 [broker]=0)
VIOL=([lost]=0 [invented]=0 [lie]=0 [zombie]=0 [memory]=0 [rate]=0)
PSS_PEAK=0
RATE_PEAK=0
MISSING=""
MISSING_COUNTED=""

END=$(( $(date +%s) + DURATION ))
NEXT_KILL=$(( $(date +%s) + 5 + RANDOM % 11 ))
MINUTE_START=$(date +%s)
MINUTE_LINES=0

random_pid_file() { ls "$WORK"/run/pods/*/"$1" 2>/dev/null | shuf -n 1; }
# The pids of this soak's shims, space-separated (pid files carry no newline).
shim_pids() { for f in "$WORK"/run/pods/*/shim.pid; do [ -f "$f" ] && printf '%s ' "$(cat "$f")"; done; }

kill_something() {
    case $((RANDOM % 4)) in
    0)
        kill -9 "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null
        start_agent; KILLS[agent]=$((KILLS[agent] + 1)); log "killed the agent" ;;
    1)
        f=$(random_pid_file shim.pid)
        [ -n "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null && { KILLS[shim]=$((KILLS[shim] + 1)); log "killed the shim of $(basename "$(dirname "$f")")"; } ;;
    2)
        # A `pealet reap` whose parent is one of this soak's shims.
        shims=" $(shim_pids) "
        pid=$(ps -eo pid,ppid,args | awk '$3 == "pealet" && $4 == "reap" { print $1 ":" $2 }' \
            | while IFS=: read -r r pp; do case "$shims" in *" $pp "*) echo "$r" ;; esac; done | shuf -n 1)
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && { KILLS[reap]=$((KILLS[reap] + 1)); log "killed a reap ($pid)"; } ;;
    3)
        kill "$MQ" 2>/dev/null; wait "$MQ" 2>/dev/null
        sleep $((RANDOM % 5))
        start_broker; KILLS[broker]=$((KILLS[broker] + 1)); log "restarted the broker" ;;
    esac
}

# This soak's pealet processes: the agent, its shims, and their children named pealet
# (reaps, container waiters).
pealet_pids() {
    local shims
    shims=" $AGENT $(shim_pids) "
    echo "$shims" | tr ' ' '\n' | grep .
    ps -eo pid,ppid,args | awk '$3 == "pealet" { print $1 ":" $2 }' \
        | while IFS=: read -r c pp; do case "$shims" in *" $pp "*) echo "$c" ;; esac; done
}

check() {
    local now up dev pod a b
    now=$(date +%s)
    up=$(upstream)
    dev=$(local_view)
    # Lost or invented: by name, on both sides, missing (or there) in two checks in a
    # row (a replacement removes a pod's directory for a moment); an empty upstream is
    # skipped (the operator could not read the broker, e.g. during its restart).
    local missing=""
    if [ -n "$up" ]; then
        for pod in $WANT; do
            echo "$up" | grep -q "^$pod " || missing="$missing up:$pod"
        done
        for pod in $(echo "$up" | awk '{ print $1 }'); do
            echo "$WANT" | grep -qx "$pod" || missing="$missing extra:$pod"
        done
    fi
    for pod in $WANT; do
        echo "$dev" | grep -q "^$pod " || missing="$missing device:$pod"
    done
    local counted=""
    for m in $missing; do
        case " $MISSING " in
        *" $m "*)
            counted="$counted $m"
            # Once per episode.
            case " $MISSING_COUNTED " in *" $m "*) continue ;; esac
            case $m in
            extra:*) VIOL[invented]=$((VIOL[invented] + 1)); log "VIOLATION invented upstream: ${m#*:}" ;;
            *) VIOL[lost]=$((VIOL[lost] + 1)); log "VIOLATION lost (${m%%:*}): ${m#*:}" ;;
            esac ;;
        esac
    done
    MISSING=$missing
    MISSING_COUNTED=$counted
    # Lies: the upstream STATUS beside the device's.
    if [ -n "$up" ]; then
        for pod in $WANT; do
            a=$(echo "$up" | awk -v p="$pod" '$1 == p { print $2 }')
            b=$(echo "$dev" | awk -v p="$pod" '$1 == p { print $2 }')
            if [ "$a" = "$b" ]; then
                unset "LIE_SINCE[$pod]" "LIE_COUNTED[$pod]"
            elif [ -z "${LIE_SINCE[$pod]:-}" ]; then
                LIE_SINCE[$pod]=$now
            elif [ $((now - LIE_SINCE[$pod])) -gt "$LIE_MAX" ] && [ -z "${LIE_COUNTED[$pod]:-}" ]; then
                LIE_COUNTED[$pod]=1
                VIOL[lie]=$((VIOL[lie] + 1))
                log "VIOLATION $pod: upstream says $a, the device $b, for more than ${LIE_MAX}s"
            fi
        done
    fi
    # Zombies of pealet processes.
    local parents zs z
    parents=" $(pealet_pids | tr '\n' ' ') "
    zs=$(ps -eo pid,ppid,stat | awk '$3 ~ /^Z/ { print $1 ":" $2 }')
    for z in $zs; do
        case "$parents" in *" ${z#*:} "*) ;; *) continue ;; esac
        if [ -z "${ZOMBIE_SEEN[$z]:-}" ]; then
            ZOMBIE_SEEN[$z]=$now
        elif [ "${ZOMBIE_SEEN[$z]}" != counted ] && [ $((now - ZOMBIE_SEEN[$z])) -gt "$LIE_MAX" ]; then
            ZOMBIE_SEEN[$z]=counted
            VIOL[zombie]=$((VIOL[zombie] + 1))
            log "VIOLATION zombie ${z%%:*} of pealet process ${z#*:}"
        fi
    done
    # Agent memory.
    local pss
    pss=$(awk '/^Pss:/ { print $2 }' "/proc/$AGENT/smaps_rollup" 2>/dev/null)
    if [ -n "$pss" ]; then
        [ "$pss" -gt "$PSS_PEAK" ] && PSS_PEAK=$pss
        if [ "$pss" -gt "$PSS_MAX" ]; then VIOL[memory]=$((VIOL[memory] + 1)); log "VIOLATION agent PSS $pss KiB"; fi
    fi
    # Message rate, per minute.
    if [ $((now - MINUTE_START)) -ge 60 ]; then
        local lines n
        lines=$(wc -l < "$WORK/messages")
        n=$((lines - MINUTE_LINES))
        [ "$n" -gt "$RATE_PEAK" ] && RATE_PEAK=$n
        if [ "$n" -gt "$RATE_MAX" ]; then VIOL[rate]=$((VIOL[rate] + 1)); log "VIOLATION $n messages in a minute"; fi
        MINUTE_LINES=$lines
        MINUTE_START=$now
    fi
}

while [ "$(date +%s)" -lt "$END" ]; do
    if [ "$(date +%s)" -ge "$NEXT_KILL" ]; then
        kill_something
        NEXT_KILL=$(( $(date +%s) + 5 + RANDOM % 11 ))
    fi
    check
    sleep "$CHECK"
done

# Settle, then count what the chaos cost the containers.
log "chaos over; settling for 20s"
sleep 20
check
RESTARTS=$($PEALET get pods --node "$NODE" --broker "$URL" -o json 2>/dev/null \
    | grep -o '"restartCount": *[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }')
FRESH=0
for pod in $WANT; do
    s=$($P inspect "$pod" -o json 2>/dev/null | grep -o '"startTime": *"[^"]*"' | head -1)
    [ "$s" != "${START0[$pod]}" ] && FRESH=$((FRESH + 1))
done
TOTAL_KILLS=$((KILLS[agent] + KILLS[shim] + KILLS[reap] + KILLS[broker]))
TOTAL_VIOL=0
for k in "${!VIOL[@]}"; do TOTAL_VIOL=$((TOTAL_VIOL + VIOL[$k])); done
echo
echo "soak: $PODS pods, ${DURATION}s, node $NODE"
echo "kills survived: $TOTAL_KILLS (agent ${KILLS[agent]}, shim ${KILLS[shim]}, reap ${KILLS[reap]}, broker restarts ${KILLS[broker]})"
echo "invariant violations: $TOTAL_VIOL (lost ${VIOL[lost]}, invented ${VIOL[invented]}, lies ${VIOL[lie]}, zombies ${VIOL[zombie]}, memory ${VIOL[memory]}, rate ${VIOL[rate]})"
echo "container restarts caused by pealet's processes: $RESTARTS counted in statuses, $FRESH pods started from scratch"
echo "agent PSS peak: $PSS_PEAK KiB; busiest minute: $RATE_PEAK messages; messages in all: $(wc -l < "$WORK/messages")"
echo "final view (upstream):"
upstream | awk '{ print "  " $0 }' | head -"$PODS"
[ "$TOTAL_VIOL" = 0 ]
