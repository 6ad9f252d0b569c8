#!/usr/bin/env bash
# tests/crash/kill.sh — the kill -9 driver of the crash suite.
#
#   kill.sh --tool BUILD/tests/crash-tool --work DIR [--rounds N | --minutes M] [--store-cycles K]
#           [--dump BUILD/tools/seglog-dump]
#
# One round is one cycle per mode, in order: a kill at a random time, then a SIGKILL raised at each
# named kill point (SEGLOG_KILL_POINT / SEGLOG_KILL_AFTER, compiled in with SEGLOG_KILL_POINTS=ON);
# "wal-in-recovery": after a random kill the WAL gets a torn frame after its valid end
# (crash-tool tear), and the next open is killed while it cuts that tail; "store-in-replay": after
# a random kill the next open is killed while it replays the WAL into RocksDB. A random kill must
# find the workload running (not exited) and must come after at least one new acknowledged append.
# After every kill: with --dump, `seglog-dump check` on the crashed store (read-only; a torn WAL
# tail is no problem for it) must exit 0; `crash-tool verify` reopens the store twice and checks
# every acknowledged append (see crash_tool.c); then `seglog-dump check` must agree again on the
# verified store. Errors the library or the workload printed (lines "seglog: ..." or
# "crash-tool: ...") fail too. Any failure fails the run and keeps the store (as crashed, when the
# first check failed) under DIR/failed-<cycle>.
# With --rounds (the CI short form), a named kill point that was not reached is tried again, up to
# RETRIES more times in the same cycle, before it counts as a miss; every point must be hit at
# least once. With --minutes a miss is only counted.
# A store is reused for K cycles (so recovery meets the leftovers of earlier crashes), then
# replaced. CRASH_KILL_MODES="random wal-after-write ..." runs only those modes (e.g. one point
# for a long run). Exit: 0 all verified, 1 a failure, 77 kill points not compiled in.
#
# Backpressure cycles (crash-tool run with CRASH_BACKPRESSURE=1, see crash_tool.c: big records,
# one WAL group in flight, so chain ops wait for room in a full WAL queue): "bp-random", a random
# kill, and "loglet-chain-wait-room", the kill point raised while a chain op waits for room (a
# miss after BP_RUN_TIMEOUT_S). Such a run writes about 90 MB a second: it runs on the store the
# normal cycles left, which is then replaced. The workload samples chain_ops_waiting_room into
# DIR/room (CRASH_ROOM_FILE); after each backpressure kill the last sample says whether a chain op
# was waiting for room when the process died.
#
# Prints one summary line per figure at the end ("kill: ..."), which run-long.sh collects;
# "kill: bp_kills=K bp_chain_op_waiting=W bp_room_samples=S bp_room_samples_waiting=SW": of the K
# backpressure kills, W found a chain op waiting for room at the last sample; SW of all S samples
# taken in backpressure runs saw one waiting.
set -uo pipefail

PID=0
TOOL="" WORK="" ROUNDS=2 MINUTES=0 STORE_CYCLES=5 DUMP="" dump_checks=0
while [ $# -gt 0 ]; do
    case "$1" in
    --tool) TOOL="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --minutes) MINUTES="$2"; shift 2 ;;
    --store-cycles) STORE_CYCLES="$2"; shift 2 ;;
    --dump) DUMP="$2"; shift 2 ;;
    *) echo "kill.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$TOOL" ] && [ -n "$WORK" ] || { echo "kill.sh: --tool and --work are required" >&2; exit 2; }
"$TOOL" killpoints || { echo "kill.sh: kill points not compiled in: skipped" >&2; exit 77; }

MODES=(random wal-after-write wal-after-fsync wal-in-rotation wal-in-prepare wal-in-recovery
    store-seal-before-wal store-seal-durable store-after-cf-create store-after-batch
    store-before-checkpoint store-in-replay bp-random loglet-chain-wait-room)
if [ -n "${CRASH_KILL_MODES:-}" ]; then
    read -ra MODES <<<"$CRASH_KILL_MODES"
fi
RUN_TIMEOUT_S=25   # a kill point not reached by then is a miss (the run is killed at random)
BP_RUN_TIMEOUT_S=8 # the same in backpressure: the queue is full at once, and the store grows fast
RETRIES=3          # --rounds: more tries at a missed point in the same cycle

is_bp() { # MODE: a backpressure cycle?
    case "$1" in
    bp-random | loglet-chain-wait-room) return 0 ;;
    *) return 1 ;;
    esac
}

# SEGLOG_KILL_AFTER is drawn from 1..range: how many passes before the point fires.
after_range() {
    case "$1" in
    wal-after-write | wal-after-fsync) echo 1500 ;;
    store-after-batch) echo 60 ;; # the apply thread batches many ops: tens of batches a second
    store-seal-before-wal | store-seal-durable) echo 40 ;;
    wal-in-rotation | store-after-cf-create) echo 6 ;;
    wal-in-prepare) echo 3 ;; # once per WAL file made ready ahead of a rotation
    # a checkpoint flushes every CF written since the last one: with ~100 of them while the CF
    # pool refills (RocksDB rewrites its OPTIONS file per CF created) one takes 3-6 s here, so a
    # fourth checkpoint often came after RUN_TIMEOUT_S and the try was a miss
    store-before-checkpoint) echo 2 ;;
    loglet-chain-wait-room) echo 20 ;; # two threads' chain ops, each waiting for room
    *) echo 1 ;;
    esac
}

rm -rf "$WORK"
mkdir -p "$WORK"
trap '[ "$PID" -gt 0 ] && kill -9 "$PID" 2>/dev/null' EXIT # never leave a workload behind
declare -A HITS MISSES TRIES
for m in "${MODES[@]}"; do HITS[$m]=0; MISSES[$m]=0; TRIES[$m]=0; done
cycles=0 kills=0 checks=0 lost=0 failures=0 store_no=0 epoch=0 in_store=0 acks_total=0
bp_kills=0 bp_waiting=0 bp_samples=0 bp_samples_waiting=0
BP=0 # 1 during a backpressure cycle
STORE="" ACKS="" ERR="$WORK/run.err" ROOM="$WORK/room"
t_end=$(($(date +%s) + MINUTES * 60))

new_store() {
    if [ -n "$ACKS" ] && [ -f "$ACKS" ]; then
        acks_total=$((acks_total + $(acked_appends)))
        rm -rf "$STORE"
    fi
    store_no=$((store_no + 1))
    STORE="$WORK/store-$store_no"
    ACKS="$WORK/acks-$store_no"
    mkdir -p "$STORE"
    : >"$ACKS"
    in_store=0
}

# start_run POINT AFTER: the workload in the background (PID), stderr to $ERR; in backpressure
# mode when BP=1, sampling into $ROOM.
start_run() {
    local env=()
    : >"$ERR"
    rm -f "$ROOM"
    [ "$BP" -eq 1 ] && env+=(CRASH_BACKPRESSURE=1 CRASH_ROOM_FILE="$ROOM")
    [ "$1" != random ] && env+=(SEGLOG_KILL_POINT="$1" SEGLOG_KILL_AFTER="$2")
    env "${env[@]}" "$TOOL" run "$STORE" "$ACKS" "$epoch" 120 2>"$ERR" &
    PID=$!
}

# room_tally: after a backpressure kill, the workload's last chain_ops_waiting_room sample
# ("room waiting=W samples=S waiting_samples=SW", see crash_tool.c); no file: killed before the
# first sample.
room_tally() {
    local line w s sw
    bp_kills=$((bp_kills + 1))
    line="$(head -c 200 "$ROOM" 2>/dev/null)"
    w="$(sed -n 's/.*room waiting=\([0-9]*\).*/\1/p' <<<"$line")"
    s="$(sed -n 's/.* samples=\([0-9]*\).*/\1/p' <<<"$line")"
    sw="$(sed -n 's/.* waiting_samples=\([0-9]*\).*/\1/p' <<<"$line")"
    [ "${w:-0}" -gt 0 ] && bp_waiting=$((bp_waiting + 1))
    bp_samples=$((bp_samples + ${s:-0}))
    bp_samples_waiting=$((bp_samples_waiting + ${sw:-0}))
}

wait_running() { # until the workload has opened the store and started its threads
    local i
    for i in $(seq 600); do
        grep -q 'crash-tool: running' "$ERR" && return 0
        kill -0 "$PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

wait_exit() { # SECONDS: waits for PID to die; kills it at the deadline; returns its status
    local i
    for i in $(seq $(($1 * 20))); do
        kill -0 "$PID" 2>/dev/null || { wait "$PID" 2>/dev/null; return $?; }
        sleep 0.05
    done
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    return 200 # deadline
}

fail() {
    failures=$((failures + 1))
    echo "kill.sh: FAILURE in cycle $cycles (mode $1, store $STORE): $2" >&2
    [ -e "$WORK/failed-$cycles" ] && return # the store as it was at the cycle's first failure
    cp -a "$STORE" "$WORK/failed-$cycles" 2>/dev/null
    cp "$ACKS" "$WORK/failed-$cycles.acks" 2>/dev/null
    cp "$ERR" "$WORK/failed-$cycles.run-err" 2>/dev/null
}

acked_appends() { # the "A LOG LSN WRITER SEQ LEN" lines in ACKS (see crash_tool.c)
    local n
    n=$(grep -c '^A' "$ACKS" 2>/dev/null)
    echo "${n:-0}"
}

# random_kill MODE: the workload killed at a random time. It must still be running then (killed
# by this SIGKILL: status 137), and it must have acknowledged at least one new append.
random_kill() {
    local before after rc
    before=$(acked_appends)
    start_run random 0
    if wait_running; then
        sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + (r % 1800) / 1000 }')"
    fi
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    rc=$?
    if [ $rc -ne 137 ]; then
        fail "$1" "the workload was not running when it was to be killed (it exited with status $rc)"
        return
    fi
    kills=$((kills + 1))
    after=$(acked_appends)
    [ "$after" -gt "$before" ] ||
        fail "$1" "no new acknowledged append before the random kill ($before before, $after after)"
}

# Errors the workload or the library met (an append or a reconfiguration failing, "seglog:
# checkpoint failed", ...) are failures too: nothing here injects faults.
check_run_errors() {
    local bad
    bad="$(grep -E '(crash-tool|seglog):' "$ERR" | grep -v -e 'crash-tool: running' -e 'kill point .* reached')"
    [ -z "$bad" ] || fail "$1" "the workload reported: $(head -3 <<<"$bad")"
}

# kill_at MODE: one try at a named kill point; returns 0 if it was reached.
kill_at() {
    local mode="$1" rc
    epoch=$((epoch + 1))
    case "$mode" in
    wal-in-recovery | store-in-replay) # the open after a random kill, killed while it recovers
        random_kill "$mode"
        check_run_errors "$mode"
        if [ "$mode" = wal-in-recovery ] && ! "$TOOL" tear "$STORE" >/dev/null 2>"$WORK/tear.err"; then
            return 1 # no record yet (killed during the first open)
        fi
        epoch=$((epoch + 1))
        start_run "$mode" 1
        ;;
    *)
        start_run "$mode" $((1 + RANDOM % $(after_range "$mode")))
        ;;
    esac
    wait_exit "$([ "$BP" -eq 1 ] && echo "$BP_RUN_TIMEOUT_S" || echo "$RUN_TIMEOUT_S")"
    rc=$?
    if grep -q "kill point $mode reached" "$ERR"; then
        kills=$((kills + 1))
        return 0
    fi
    # not reached: the workload ran until the deadline and was killed there (a random kill)
    if [ $rc -eq 200 ]; then
        kills=$((kills + 1))
    else
        fail "$mode" "the workload exited with status $rc without a kill"
    fi
    return 1
}

# dump_check MODE WHEN: seglog-dump check on the store, which must exit 0.
dump_check() {
    local dout rc
    dout="$("$DUMP" check "$STORE" 2>&1)"
    rc=$?
    dump_checks=$((dump_checks + 1))
    [ $rc -eq 0 ] || fail "$1" "seglog-dump check $2 failed (exit $rc): $(head -8 <<<"$dout")"
}

# check_store MODE: after a kill, the checks described at the top.
check_store() {
    local mode="$1" out rc v l
    [ "$BP" -eq 1 ] && room_tally
    check_run_errors "$mode"
    [ -n "$DUMP" ] && dump_check "$mode" "of the crashed store (before verify)"
    out="$("$TOOL" verify "$STORE" "$ACKS" "$epoch" 2>"$WORK/verify.err")"
    rc=$?
    v="$(sed -n 's/.* verified=\([0-9]*\).*/\1/p' <<<"$out")"
    l="$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$out")"
    checks=$((checks + ${v:-0}))
    lost=$((lost + ${l:-0}))
    if [ $rc -ne 0 ]; then
        fail "$mode" "verify failed: $out"
        cat "$WORK/verify.err" >&2
    elif [ -n "$DUMP" ]; then
        dump_check "$mode" "after verify"
    fi
}

one_cycle() {
    local mode="$1" try
    cycles=$((cycles + 1))
    [ -z "$STORE" ] || [ "$in_store" -ge "$STORE_CYCLES" ] && new_store
    in_store=$((in_store + 1))
    BP=0
    if is_bp "$mode"; then
        BP=1
        in_store=$STORE_CYCLES # a new store after this one: it is big (see the top)
    fi
    if [ "$mode" = random ] || [ "$mode" = bp-random ]; then
        epoch=$((epoch + 1))
        TRIES[$mode]=$((TRIES[$mode] + 1))
        random_kill "$mode"
        HITS[$mode]=$((HITS[$mode] + 1))
        check_store "$mode"
        return
    fi
    for try in $(seq $((RETRIES + 1))); do
        TRIES[$mode]=$((TRIES[$mode] + 1))
        if kill_at "$mode"; then
            HITS[$mode]=$((HITS[$mode] + 1))
            check_store "$mode"
            return
        fi
        check_store "$mode" # every kill is verified, a miss's deadline kill too
        [ "$MINUTES" -gt 0 ] && break
        [ "$failures" -gt 0 ] && break
    done
    MISSES[$mode]=$((MISSES[$mode] + 1))
}

round=0
while :; do
    if [ "$MINUTES" -gt 0 ]; then
        [ "$(date +%s)" -ge "$t_end" ] && break
    else
        [ "$round" -ge "$ROUNDS" ] && break
    fi
    round=$((round + 1))
    for m in "${MODES[@]}"; do
        one_cycle "$m"
        [ "$failures" -gt 0 ] && [ "$MINUTES" -eq 0 ] && break 2
    done
done
acks_total=$((acks_total + $(acked_appends)))

echo "kill: cycles=$cycles kills=$kills rounds=$round"
for m in "${MODES[@]}"; do echo "kill: point=$m hits=${HITS[$m]} misses=${MISSES[$m]} tries=${TRIES[$m]}"; done
echo "kill: acked_appends=$acks_total ack_checks=$checks lost=$lost failures=$failures dump_checks=$dump_checks"
echo "kill: bp_kills=$bp_kills bp_chain_op_waiting=$bp_waiting bp_room_samples=$bp_samples bp_room_samples_waiting=$bp_samples_waiting"
if [ "$failures" -gt 0 ] || [ "$lost" -gt 0 ]; then
    exit 1
fi
for m in "${MODES[@]}"; do
    if [ "${HITS[$m]}" -eq 0 ]; then
        echo "kill.sh: kill point $m was never reached" >&2
        exit 1
    fi
done
rm -rf "$WORK"/store-* # keep only the logs of a passing run
exit 0
