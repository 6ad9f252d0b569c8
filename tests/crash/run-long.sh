#!/usr/bin/env bash
# tests/crash/run-long.sh — the crash suite's long run (`tools/dev crash-long [minutes]`).
#
#   run-long.sh --tool BUILD/tests/crash-tool [--minutes M] [--workers W] [--work DIR]
#               [--no-power] [--no-mutants]
#
# Runs, side by side for M minutes (default 45): W kill -9 drivers (kill.sh, default 2: the kill
# cycles wait on I/O and sleeps as much as on the CPU) and one power-loss driver (power.sh, if
# root and a loop device are there); then the mutation check (mutants.sh, whose control run uses
# the same crash-tool). Prints the figures the closing note reports: kills, power cuts, hits per
# kill point, acknowledged appends verified and lost, the control and the mutants caught. Logs
# stay under DIR (default /var/tmp/crash-long). Exit 0 only if nothing acknowledged was lost,
# nothing failed, the control passed and every mutant was caught.
# Backpressure (crash-tool's CRASH_BACKPRESSURE mode: a full WAL queue, chain ops waiting for room
# in it): each kill driver's round has its two backpressure modes (bp-random and the kill point
# loglet-chain-wait-room), and the power-loss driver cuts one backpressure run after every 3
# others (--backpressure-every 3). The figure "chain op waiting for room at death" sums, over the
# kills and cuts of backpressure runs, those whose last chain_ops_waiting_room sample was above 0.
set -uo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOL="" MINUTES=45 WORKERS=2 WORK=/var/tmp/crash-long POWER=1 MUTANTS=1
while [ $# -gt 0 ]; do
    case "$1" in
    --tool) TOOL="$2"; shift 2 ;;
    --minutes) MINUTES="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --no-power) POWER=0; shift ;;
    --no-mutants) MUTANTS=0; shift ;;
    *) echo "run-long.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$TOOL" ] || { echo "run-long.sh: --tool is required" >&2; exit 2; }
TOOL_SRC="$TOOL"
mkdir -p "$WORK"
# the binary under test is copied: a rebuild during the run must not change it
cp "$TOOL" "$WORK/crash-tool"
TOOL="$WORK/crash-tool"
# seglog-dump check must agree after every verified crash, when it is built beside crash-tool
DUMP_ARGS=()
if [ -x "$(dirname "$TOOL_SRC")/../tools/seglog-dump" ]; then
    cp "$(dirname "$TOOL_SRC")/../tools/seglog-dump" "$WORK/seglog-dump"
    DUMP_ARGS=(--dump "$WORK/seglog-dump")
fi
echo "run-long: $WORKERS kill driver(s)$([ $POWER = 1 ] && echo ' + power-loss driver') for $MINUTES min, logs in $WORK"
pids=()
for w in $(seq "$WORKERS"); do
    bash "$SRC/tests/crash/kill.sh" --tool "$TOOL" --work "$WORK/kill-$w" --minutes "$MINUTES" "${DUMP_ARGS[@]}" \
        >"$WORK/kill-$w.log" 2>&1 &
    pids+=($!)
done
if [ $POWER = 1 ]; then
    bash "$SRC/tests/crash/power.sh" --tool "$TOOL" --work "$WORK/power" --minutes "$MINUTES" "${DUMP_ARGS[@]}" \
        --backpressure-every 3 >"$WORK/power.log" 2>&1 &
    pids+=($!)
fi
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
mrc=0
if [ $MUTANTS = 1 ]; then
    bash "$SRC/tests/crash/mutants.sh" --tool "$TOOL" --work "$WORK/mutants" >"$WORK/mutants.log" 2>&1 || mrc=$?
fi

# ---- figures ----
sum() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) s += a[2] } } END { print s + 0 }'; }
kl=$(cat "$WORK"/kill-*.log | grep '^kill: ')
echo "== long run: $MINUTES min =="
echo "kill -9 cycles:            $(grep 'cycles=' <<<"$kl" | sum cycles)"
echo "kills:                     $(grep 'kills=' <<<"$kl" | sum kills)"
for m in random wal-after-write wal-after-fsync wal-in-rotation wal-in-prepare wal-in-recovery \
    store-seal-before-wal store-seal-durable store-after-cf-create store-after-batch \
    store-before-checkpoint store-in-replay bp-random loglet-chain-wait-room; do
    printf '  %-26s %s\n' "$m:" "$(grep "point=$m " <<<"$kl" | sum hits) hits"
done
bk=$(grep 'bp_kills=' <<<"$kl")
bc=""
[ $POWER = 1 ] && bc=$(grep '^power:' "$WORK/power.log")
echo "backpressure kills, cuts:  $(sum bp_kills <<<"$bk"), $(sum bp_cycles <<<"$bc")"
echo "  chain op waiting for room at death: $(sum bp_chain_op_waiting <<<"$bk") of the kills, $(sum bp_chain_op_waiting <<<"$bc") of the cuts"
echo "  room samples waiting:    $(printf '%s\n%s\n' "$bk" "$bc" | sum bp_room_samples_waiting) of $(printf '%s\n%s\n' "$bk" "$bc" | sum bp_room_samples)"
echo "acked appends (kill):      $(grep 'acked_appends=' <<<"$kl" | sum acked_appends)"
echo "ack checks (kill):         $(grep 'ack_checks=' <<<"$kl" | sum ack_checks)"
echo "lost (kill):               $(grep 'lost=' <<<"$kl" | sum lost)"
echo "failures (kill):           $(grep 'failures=' <<<"$kl" | sum failures)"
echo "seglog-dump checks (kill): $(grep 'dump_checks=' <<<"$kl" | sum dump_checks) (each had to agree)"
if [ $POWER = 1 ]; then
    pl=$(grep '^power:' "$WORK/power.log" || echo "power: skipped")
    echo "power: $pl"
fi
[ $MUTANTS = 1 ] && grep -E '^(control:|mutant|mutants:)' "$WORK/mutants.log"
[ $rc -eq 0 ] && [ $mrc -eq 0 ]
