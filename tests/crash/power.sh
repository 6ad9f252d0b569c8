#!/usr/bin/env bash
# tests/crash/power.sh — the power-loss driver of the crash suite.
#
#   power.sh --tool BUILD/tests/crash-tool --work DIR [--cycles N | --minutes M] [--store-cycles K]
#            [--dump BUILD/tools/seglog-dump]   (then `seglog-dump check` must pass before and after
#                                                verify)
#            [--backpressure-every B]           (a backpressure cycle after every B others)
#
# The store lives on a loop-mounted ext4 image (DIR/img, mounted on DIR/mnt with commit=60, so
# that nothing but the store's own fsyncs makes anything durable); the acknowledgements go to
# DIR/acks-*, outside it. Each cycle: start the workload, let it run a random while, stop it
# (SIGSTOP, and wait until every thread is stopped), so the acknowledgement file is final; cut
# power with EXT4_IOC_SHUTDOWN + EXT4_GOING_FLAGS_NOLOGFLUSH (what was not fsynced, data or
# directory entry, is lost); kill -9; umount (retried while io_uring tears down); mount; with
# --dump, `seglog-dump check` on the cut store (read-only) must exit 0; verify with crash-tool
# verify; then `seglog-dump check` must pass again. Errors the workload or the library printed
# ("crash-tool: ...", "seglog: ...") fail the cycle. Unlike kill -9, this catches a store that
# acknowledges before its data is on disk (tests/crash/mutants.sh shows it).
#
# Exit: 0 all verified; 1 a failure; 77 (skipped) only when not root, no loop device can be had,
# or the file system has no ext4 shutdown ioctl (crash-tool shutdown exits 77 on ENOTTY or
# EOPNOTSUPP). Any other setup step that fails (mkfs, mount, umount, remount) is a failure.
# The summary line "power: ... lost=L failures=F durability_failures=D" counts in D the cuts that
# lost durability: acknowledged appends missing or damaged (verify's lost > 0), or a store that
# verify cannot open; mutants.sh counts only those as caught. With --cycles the run stops after
# the first cycle with a failure (its checks all run first).
#
# With --backpressure-every B (default 0: none), after every B cycles comes one more in
# backpressure mode (crash-tool run with CRASH_BACKPRESSURE=1, see crash_tool.c: big records, one
# WAL group in flight, chain ops without pause, so they wait for room in a full WAL queue), cut
# after a shorter while (it writes about 90 MB a second; the store is replaced after it). --cycles
# N counts the others: N + N/B cycles in all. The workload samples chain_ops_waiting_room into
# DIR/room (CRASH_ROOM_FILE, outside the cut file system); the summary adds "bp_cycles=C
# bp_chain_op_waiting=W bp_room_samples=S bp_room_samples_waiting=SW": at W of the C backpressure
# cuts the last sample before SIGSTOP saw a chain op waiting for room; SW of all S samples did.
set -uo pipefail

TOOL="" WORK="" CYCLES=10 MINUTES=0 STORE_CYCLES=4 DUMP="" dump_checks=0 BP_EVERY=0
while [ $# -gt 0 ]; do
    case "$1" in
    --tool) TOOL="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --cycles) CYCLES="$2"; shift 2 ;;
    --minutes) MINUTES="$2"; shift 2 ;;
    --store-cycles) STORE_CYCLES="$2"; shift 2 ;;
    --dump) DUMP="$2"; shift 2 ;;
    --backpressure-every) BP_EVERY="$2"; shift 2 ;;
    *) echo "power.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$TOOL" ] && [ -n "$WORK" ] || { echo "power.sh: --tool and --work are required" >&2; exit 2; }
skip() { echo "power.sh: skipped: $*" >&2; exit 77; }
die() { echo "power.sh: FAILURE in setup: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not root (loop mounts need it)"
command -v mkfs.ext4 >/dev/null 2>&1 || die "no mkfs.ext4 (e2fsprogs)"
command -v losetup >/dev/null 2>&1 || skip "no losetup to find a loop device"
losetup -f >/dev/null 2>&1 || skip "no free loop device"

IMG="$WORK/img" MNT="$WORK/mnt"
cleanup() {
    [ "${PID:-0}" -gt 0 ] && kill -9 "$PID" 2>/dev/null
    mountpoint -q "$MNT" 2>/dev/null && umount_retry
    rm -f "$IMG"
}
umount_retry() { # after SIGKILL, io_uring may keep the file system busy for a moment
    local i
    for i in $(seq 100); do
        umount "$MNT" 2>/dev/null && return 0
        sleep 0.1
    done
    umount "$MNT"
}
if mountpoint -q "$MNT" 2>/dev/null; then
    umount_retry || die "cannot umount $MNT, left mounted by an earlier run"
fi
rm -rf "$WORK"
mkdir -p "$MNT"
trap cleanup EXIT
truncate -s 512M "$IMG" || die "truncate $IMG failed"
mkfs.ext4 -q -F "$IMG" 2>"$WORK/setup.err" || die "mkfs.ext4 failed: $(cat "$WORK/setup.err")"
# a loop device: losetup -f said one was free; if another user took it meanwhile, say so
if ! mount -o loop,commit=60 "$IMG" "$MNT" 2>"$WORK/setup.err"; then
    losetup -f >/dev/null 2>&1 || skip "no free loop device"
    die "mount -o loop failed: $(cat "$WORK/setup.err")"
fi
"$TOOL" shutdown "$MNT" 2>"$WORK/setup.err"
rc=$?
[ $rc -eq 77 ] && skip "EXT4_IOC_SHUTDOWN not supported here: $(cat "$WORK/setup.err")"
[ $rc -eq 0 ] || die "the trial shutdown ioctl failed: $(cat "$WORK/setup.err")"
umount_retry 2>"$WORK/setup.err" || die "umount after the trial shutdown failed: $(cat "$WORK/setup.err")"
mount -o loop,commit=60 "$IMG" "$MNT" 2>"$WORK/setup.err" ||
    die "mount after the trial shutdown failed: $(cat "$WORK/setup.err")"

# Fewer reconfigurations and checkpoints than the kill run: every RocksDB flush and CF creation
# fsyncs and so commits ext4's journal, which would make up for a missing directory fsync.
export CRASH_CHECKPOINT_MS="${CRASH_CHECKPOINT_MS:-1000}" CRASH_RECONF_PAUSE_MS="${CRASH_RECONF_PAUSE_MS:-2000}"

cycles=0 cuts=0 checks=0 lost=0 failures=0 durability_failures=0 store_no=0 in_store=0 epoch=0
acks_total=0 PID=0 normal_cycles=0 since_bp=0
bp_cycles=0 bp_waiting=0 bp_samples=0 bp_samples_waiting=0
STORE="" ACKS=""
t_end=$(($(date +%s) + MINUTES * 60))
ERR="$WORK/run.err" ROOM="$WORK/room"

new_store() {
    [ -n "$ACKS" ] && acks_total=$((acks_total + $(grep -c '^A' "$ACKS" || true)))
    rm -rf "$MNT/store"
    store_no=$((store_no + 1))
    STORE="$MNT/store"
    ACKS="$WORK/acks-$store_no"
    : >"$ACKS"
    in_store=0
}

all_stopped() { # every thread of PID in state T (stopped)
    local t
    for t in /proc/"$PID"/task/*/stat; do
        [ "$(awk '{ print $3 }' "$t" 2>/dev/null)" = T ] || return 1
    done
    return 0
}

fail() {
    failures=$((failures + 1))
    echo "power.sh: FAILURE in cycle $cycles: $1" >&2
    [ -e "$WORK/failed-$cycles" ] && return # the store as it was at the cycle's first failure
    cp -a "$MNT/store" "$WORK/failed-$cycles" 2>/dev/null
    cp "$ACKS" "$WORK/failed-$cycles.acks" 2>/dev/null
}

# dump_check WHEN: seglog-dump check on the store, which must exit 0.
dump_check() {
    local dout rc
    dout="$("$DUMP" check "$STORE" 2>&1)"
    rc=$?
    dump_checks=$((dump_checks + 1))
    [ $rc -eq 0 ] && return 0
    fail "seglog-dump check $1 failed (exit $rc): $(head -8 <<<"$dout")"
    return 1
}

while :; do
    if [ "$MINUTES" -gt 0 ]; then
        [ "$(date +%s)" -ge "$t_end" ] && break
    else
        # N cycles, and the backpressure cycle due after the last B of them
        bp_due=0
        [ "$BP_EVERY" -gt 0 ] && [ "$since_bp" -ge "$BP_EVERY" ] && bp_due=1
        [ "$normal_cycles" -ge "$CYCLES" ] && [ $bp_due -eq 0 ] && break
    fi
    cycles=$((cycles + 1))
    epoch=$((epoch + 1))
    failures_before=$failures
    [ -z "$STORE" ] || [ "$in_store" -ge "$STORE_CYCLES" ] && new_store
    in_store=$((in_store + 1))
    : >"$ERR"
    rm -f "$ROOM"
    env=()
    if [ "$BP_EVERY" -gt 0 ] && [ "$since_bp" -ge "$BP_EVERY" ]; then
        bp=1 since_bp=0 bp_cycles=$((bp_cycles + 1)) in_store=$STORE_CYCLES
        env=(CRASH_BACKPRESSURE=1 CRASH_ROOM_FILE="$ROOM")
        run_ms=$((300 + RANDOM % 1000)) # 0.3..1.3 s: up to about 120 MB on the 512 MB image
    else
        bp=0 since_bp=$((since_bp + 1)) normal_cycles=$((normal_cycles + 1))
        run_ms=$((300 + RANDOM % 2500))
    fi
    env "${env[@]}" "$TOOL" run "$STORE" "$ACKS" "$epoch" 120 2>"$ERR" &
    PID=$!
    for i in $(seq 300); do
        grep -q 'crash-tool: running' "$ERR" && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep "$(awk -v ms=$run_ms 'BEGIN { printf "%.3f", ms / 1000 }')"
    kill -STOP "$PID"
    for i in $(seq 100); do all_stopped && break; sleep 0.02; done
    all_stopped || fail "the workload did not stop"
    "$TOOL" shutdown "$MNT" || fail "the shutdown ioctl failed"
    cuts=$((cuts + 1))
    kill -9 "$PID" 2>/dev/null
    kill -CONT "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=0
    if [ $bp -eq 1 ]; then # the last sample before SIGSTOP (see crash_tool.c)
        line="$(head -c 200 "$ROOM" 2>/dev/null)"
        rw="$(sed -n 's/.*room waiting=\([0-9]*\).*/\1/p' <<<"$line")"
        rs="$(sed -n 's/.* samples=\([0-9]*\).*/\1/p' <<<"$line")"
        rsw="$(sed -n 's/.* waiting_samples=\([0-9]*\).*/\1/p' <<<"$line")"
        [ "${rw:-0}" -gt 0 ] && bp_waiting=$((bp_waiting + 1))
        bp_samples=$((bp_samples + ${rs:-0}))
        bp_samples_waiting=$((bp_samples_waiting + ${rsw:-0}))
    fi
    bad="$(grep -E '(crash-tool|seglog):' "$ERR" | grep -v -e 'crash-tool: running' -e 'kill point .* reached')"
    [ -z "$bad" ] || fail "the workload reported: $(head -3 <<<"$bad")"
    umount_retry 2>"$WORK/umount.err" || { fail "umount failed: $(cat "$WORK/umount.err")"; break; }
    mount -o loop,commit=60 "$IMG" "$MNT" 2>"$WORK/mount.err" ||
        { fail "mount failed: $(cat "$WORK/mount.err")"; break; }
    [ -n "$DUMP" ] && dump_check "of the cut store (before verify)" # verify runs all the same
    out="$("$TOOL" verify "$STORE" "$ACKS" "$epoch" 2>"$WORK/verify.err")"
    rc=$?
    v="$(sed -n 's/.* verified=\([0-9]*\).*/\1/p' <<<"$out")"
    l="$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$out")"
    checks=$((checks + ${v:-0}))
    lost=$((lost + ${l:-0}))
    # durability lost: acknowledged appends missing or damaged (verify counts them as lost), or
    # the store no longer opens
    if [ "${l:-0}" -gt 0 ] || grep -q '^verify: FAIL: open' "$WORK/verify.err"; then
        durability_failures=$((durability_failures + 1))
    fi
    if [ $rc -ne 0 ]; then
        fail "verify failed: $out"
        head -5 "$WORK/verify.err" >&2
    elif [ -n "$DUMP" ]; then
        dump_check "after verify"
    fi
    [ "$failures" -gt "$failures_before" ] && [ "$MINUTES" -eq 0 ] && break
done
[ -n "$ACKS" ] && acks_total=$((acks_total + $(grep -c '^A' "$ACKS" || true)))
echo "power: cycles=$cycles cuts=$cuts acked_appends=$acks_total ack_checks=$checks lost=$lost failures=$failures durability_failures=$durability_failures dump_checks=$dump_checks bp_cycles=$bp_cycles bp_chain_op_waiting=$bp_waiting bp_room_samples=$bp_samples bp_room_samples_waiting=$bp_samples_waiting"
[ "$failures" -eq 0 ] && [ "$lost" -eq 0 ]
