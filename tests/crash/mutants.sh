#!/usr/bin/env bash
# tests/crash/mutants.sh — the mutation check: would the crash suite catch the classic mistakes?
#
#   mutants.sh [--tool BUILD/tests/crash-tool] [--work DIR] [--cycles N] [--control-cycles C]
#              [--source REPO]
#
# First the control: the power-loss driver (power.sh) against the normal build (--tool, default
# REPO/build/tests/crash-tool) for C cycles (default 10) must pass, so that what the mutants fail on is their
# mutation and not the harness or the machine ("control: passed (C cuts)"). Then it builds the
# WAL three times broken (CMake -DSEGLOG_MUTANT=skip-fdatasync | ack-before-fsync | skip-dirfsync,
# see the top of wal/wal.c), each in its own build directory DIR/build-<mutant>, and runs
# power.sh against each for up to N cycles. A mutant is caught only by a durability failure:
# power.sh's summary shows acknowledged appends lost (lost > 0) or a cut after which verify could
# not open the store (durability_failures > 0). Any other failure of power.sh (a umount, a setup
# step, a check of a different kind) catches nothing and is reported as such. Prints one line per
# mutant and "mutants: caught=C of 3". Exit 0 if the control passed and all three were caught, 1
# otherwise, 77 if power.sh cannot run here.
set -uo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=/var/tmp/crash-mutants CYCLES=100 # skip-dirfsync needs a cut in a narrow window: up to 100
CONTROL_CYCLES=10 # the control shows the harness passes the normal build here and now
TOOL=""
while [ $# -gt 0 ]; do
    case "$1" in
    --tool) TOOL="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --cycles) CYCLES="$2"; shift 2 ;;
    --control-cycles) CONTROL_CYCLES="$2"; shift 2 ;;
    --source) SRC="$2"; shift 2 ;;
    *) echo "mutants.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$TOOL" ] || TOOL="$SRC/build/tests/crash-tool"
[ -x "$TOOL" ] || { echo "mutants.sh: no crash-tool at $TOOL (build first, or give --tool)" >&2; exit 2; }
mkdir -p "$WORK"

# field NAME SUMMARY: the value of NAME=... in a "power: ..." line (0 if absent)
field() { local v; v="$(sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2")"; echo "${v:-0}"; }
first_failure() { # verify's first "FAIL: ..." line, else power.sh's first "FAILURE ..."
    local f
    f="$(grep -m1 -o 'FAIL: .*' "$1")" || f="$(grep -m1 -o 'FAILURE.*' "$1")"
    head -c 200 <<<"$f"
}

bash "$SRC/tests/crash/power.sh" --tool "$TOOL" --work "$WORK/power-control" --cycles "$CONTROL_CYCLES" \
    >"$WORK/control.power.log" 2>&1
rc=$?
[ $rc -eq 77 ] && { cat "$WORK/control.power.log" >&2; exit 77; }
summary="$(grep '^power:' "$WORK/control.power.log" | tail -1)"
if [ $rc -ne 0 ]; then
    echo "control: FAILED, the normal build fails the power-loss run: mutants mean nothing (${summary:-no summary}; first failure: $(first_failure "$WORK/control.power.log"))"
    echo "mutants: caught=0 of 3 (no control)"
    exit 1
fi
echo "control: passed ($(field cuts "$summary") cuts)"

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
    if [ "$(field lost "$summary")" -gt 0 ] || [ "$(field durability_failures "$summary")" -gt 0 ]; then
        caught=$((caught + 1))
        echo "mutant $m: CAUGHT ($summary; first failure: $(first_failure "$WORK/$m.power.log"))"
    elif [ $rc -eq 0 ]; then
        echo "mutant $m: SURVIVED ($summary)"
    else
        echo "mutant $m: NOT CAUGHT, power.sh failed without a durability failure (${summary:-no summary}; first failure: $(first_failure "$WORK/$m.power.log"))"
    fi
done
echo "mutants: caught=$caught of 3"
[ $caught -eq 3 ]
