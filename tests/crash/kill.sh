#!/usr/bin/env bash
# tests/crash/kill.sh — the kill -9 driver of the crash suite.
#
#   kill.sh --tool BUILD/tests/crash-tool --work DIR [--rounds N | --minutes M] [--store-cycles K]
#           [--dump BUILD/tools/seglog-dump]
#
# One round is one cycle per mode, in order: a kill at a random time, then a SIGKILL raised at each
# named kill point (SEGLOG_KILL_POINT / SEGLOG_KILL_AFTER, compiled in with SEGLOG_KILL_POINTS=ON),
# and "wal-in-recovery": after a random kill the WAL gets a torn frame after its valid end
# (crash-tool tear), and the next open is killed while it cuts that tail. After every kill
# `crash-tool verify` reopens the store twice and checks every acknowledged append (see
# crash_tool.c), and with --dump `seglog-dump check` must agree (exit 0) on the verified store;
# any failure fails the run and keeps the store under DIR/failed-<cycle>.
# A store is reused for K cycles (so recovery meets the leftovers of earlier crashes), then
# replaced. Exit: 0 all verified, 1 a failure, 77 kill points not compiled in.
#
# Prints one summary line per figure at the end ("kill: ..."), which run-long.sh collects.
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

MODES=(random wal-after-write wal-after-fsync wal-in-rotation wal-in-recovery
    store-seal-before-wal store-seal-durable store-after-cf-create store-after-batch
    store-before-checkpoint)
RUN_TIMEOUT_S=25 # a kill point not reached by then is a miss (the run is killed at random)

# SEGLOG_KILL_AFTER is drawn from 1..range: how many passes before the point fires.
after_range() {
    case "$1" in
    wal-after-write | wal-after-fsync) echo 1500 ;;
    store-after-batch) echo 60 ;; # the apply thread batches many ops: tens of batches a second
    store-seal-before-wal | store-seal-durable) echo 40 ;;
    wal-in-rotation | store-after-cf-create) echo 6 ;;
    # a checkpoint flushes every CF written since the last one: with ~100 of them while the CF
    # pool refills (RocksDB rewrites its OPTIONS file per CF created) one takes 3-6 s here, so a
    # fourth checkpoint often came after RUN_TIMEOUT_S and the try was a miss
    store-before-checkpoint) echo 2 ;;
    *) echo 1 ;;
    esac
}

rm -rf "$WORK"
mkdir -p "$WORK"
trap '[ "$PID" -gt 0 ] && kill -9 "$PID" 2>/dev/null' EXIT # never leave a workload behind
declare -A HITS MISSES
for m in "${MODES[@]}"; do HITS[$m]=0; MISSES[$m]=0; done
cycles=0 kills=0 checks=0 lost=0 failures=0 store_no=0 epoch=0 in_store=0 acks_total=0
STORE="" ACKS="" ERR="$WORK/run.err"
t_end=$(($(date +%s) + MINUTES * 60))

new_store() {
    if [ -n "$ACKS" ] && [ -f "$ACKS" ]; then
        acks_total=$((acks_total + $(grep -c '^A' "$ACKS" || true)))
        rm -rf "$STORE"
    fi
    store_no=$((store_no + 1))
    STORE="$WORK/store-$store_no"
    ACKS="$WORK/acks-$store_no"
    mkdir -p "$STORE"
    : >"$ACKS"
    in_store=0
}

# start_run POINT AFTER: the workload in the background (PID), stderr to $ERR.
start_run() {
    : >"$ERR"
    if [ "$1" = random ]; then
        "$TOOL" run "$STORE" "$ACKS" "$epoch" 120 2>"$ERR" &
    else
        SEGLOG_KILL_POINT="$1" SEGLOG_KILL_AFTER="$2" "$TOOL" run "$STORE" "$ACKS" "$epoch" 120 \
            2>"$ERR" &
    fi
    PID=$!
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

random_kill() {
    start_run random 0
    if wait_running; then
        sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + (r % 1800) / 1000 }')"
    fi
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    kills=$((kills + 1))
}

fail() {
    failures=$((failures + 1))
    echo "kill.sh: FAILURE in cycle $cycles (mode $1, store $STORE): $2" >&2
    cp -a "$STORE" "$WORK/failed-$cycles" 2>/dev/null
    cp "$ACKS" "$WORK/failed-$cycles.acks" 2>/dev/null
    cp "$ERR" "$WORK/failed-$cycles.run-err" 2>/dev/null
}

# Errors the workload itself met (an append or a reconfiguration failing) are failures too:
# nothing here injects faults.
check_run_errors() {
    if grep -v -e 'crash-tool: running' -e 'kill point .* reached' "$ERR" | grep -q 'crash-tool:'; then
        fail "$1" "the workload reported: $(grep 'crash-tool:' "$ERR" | grep -v running | head -3)"
    fi
}

one_cycle() {
    local mode="$1" rc
    cycles=$((cycles + 1))
    epoch=$((epoch + 1))
    [ -z "$STORE" ] || [ "$in_store" -ge "$STORE_CYCLES" ] && new_store
    in_store=$((in_store + 1))
    case "$mode" in
    random)
        random_kill
        HITS[random]=$((HITS[random] + 1))
        ;;
    wal-in-recovery)
        random_kill
        check_run_errors "$mode"
        if "$TOOL" tear "$STORE" >/dev/null 2>"$WORK/tear.err"; then
            epoch=$((epoch + 1))
            start_run wal-in-recovery 1
            wait_exit "$RUN_TIMEOUT_S"
            rc=$?
            if grep -q "kill point wal-in-recovery reached" "$ERR"; then
                HITS[$mode]=$((HITS[$mode] + 1))
                kills=$((kills + 1))
            else
                MISSES[$mode]=$((MISSES[$mode] + 1))
                [ $rc -eq 200 ] && kills=$((kills + 1))
            fi
        else
            MISSES[$mode]=$((MISSES[$mode] + 1)) # no record yet (killed during the first open)
        fi
        ;;
    *)
        start_run "$mode" $((1 + RANDOM % $(after_range "$mode")))
        wait_exit "$RUN_TIMEOUT_S"
        rc=$?
        kills=$((kills + 1))
        if grep -q "kill point $mode reached" "$ERR"; then
            HITS[$mode]=$((HITS[$mode] + 1))
        else
            MISSES[$mode]=$((MISSES[$mode] + 1))
            [ $rc -eq 200 ] || fail "$mode" "the workload exited with status $rc without a kill"
        fi
        ;;
    esac
    check_run_errors "$mode"
    local out
    out="$("$TOOL" verify "$STORE" "$ACKS" "$epoch" 2>"$WORK/verify.err")"
    rc=$?
    local v l
    v="$(sed -n 's/.* verified=\([0-9]*\).*/\1/p' <<<"$out")"
    l="$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$out")"
    checks=$((checks + ${v:-0}))
    lost=$((lost + ${l:-0}))
    if [ $rc -ne 0 ]; then
        fail "$mode" "verify failed: $out"
        cat "$WORK/verify.err" >&2
    elif [ -n "$DUMP" ]; then
        local dout
        dout="$("$DUMP" check "$STORE" 2>&1)"
        rc=$?
        dump_checks=$((dump_checks + 1))
        [ $rc -eq 0 ] || fail "$mode" "seglog-dump check disagrees (exit $rc): $(head -8 <<<"$dout")"
    fi
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
acks_total=$((acks_total + $(grep -c '^A' "$ACKS" 2>/dev/null || echo 0)))

echo "kill: cycles=$cycles kills=$kills rounds=$round"
for m in "${MODES[@]}"; do echo "kill: point=$m hits=${HITS[$m]} misses=${MISSES[$m]}"; done
echo "kill: acked_appends=$acks_total ack_checks=$checks lost=$lost failures=$failures dump_checks=$dump_checks"
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
