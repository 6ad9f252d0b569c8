#!/usr/bin/env bash
# tests/crash/mutants.sh — the mutation check: would the crash suite catch the classic mistakes?
#
#   mutants.sh [--work DIR] [--cycles N] [--source REPO]
#
# Builds the WAL three times broken (CMake -DSEGLOG_MUTANT=skip-fdatasync | ack-before-fsync |
# skip-dirfsync, see the top of wal/wal.c), each in its own build directory DIR/build-<mutant>,
# and runs the power-loss driver (power.sh) against each for up to N cycles. Each mutant must make
# it fail (exit 1: acknowledged appends lost or a store that no longer opens). Prints one line per
# mutant and "mutants: caught=C of 3". Exit 0 if all three were caught, 1 if one survived, 77 if
# power.sh cannot run here.
set -uo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=/var/tmp/crash-mutants CYCLES=100 # skip-dirfsync needs a cut in a narrow window: up to 100
while [ $# -gt 0 ]; do
    case "$1" in
    --work) WORK="$2"; shift 2 ;;
    --cycles) CYCLES="$2"; shift 2 ;;
    --source) SRC="$2"; shift 2 ;;
    *) echo "mutants.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$WORK"
caught=0
for m in skip-fdatasync ack-before-fsync skip-dirfsync; do
    b="$WORK/build-$m"
    cmake -S "$SRC" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGLOG_MUTANT="$m" \
        -DSEGLOG_FAULT_INJECTION=ON -DSEGLOG_KILL_POINTS=ON -DSEGLOG_BUILD_TESTS=ON >"$WORK/$m.cmake.log" 2>&1 &&
        cmake --build "$b" --target crash-tool --parallel 2 >>"$WORK/$m.cmake.log" 2>&1 ||
        { echo "mutants.sh: building $m failed (see $WORK/$m.cmake.log)" >&2; exit 1; }
    bash "$SRC/tests/crash/power.sh" --tool "$b/tests/crash-tool" --work "$WORK/power-$m" \
        --cycles "$CYCLES" >"$WORK/$m.power.log" 2>&1
    rc=$?
    [ $rc -eq 77 ] && { cat "$WORK/$m.power.log" >&2; exit 77; }
    summary="$(grep '^power:' "$WORK/$m.power.log" | tail -1)"
    if [ $rc -eq 1 ]; then
        caught=$((caught + 1))
        echo "mutant $m: CAUGHT ($summary; first failure: $(grep -m1 -o 'FAIL: .*' "$WORK/$m.power.log" | head -c 200))"
    else
        echo "mutant $m: SURVIVED ($summary)"
    fi
done
echo "mutants: caught=$caught of 3"
[ $caught -eq 3 ]
