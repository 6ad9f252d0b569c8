#!/usr/bin/env bash
# tests/crash/power.sh — the power-loss driver of the crash suite.
#
#   power.sh --tool BUILD/tests/crash-tool --work DIR [--cycles N | --minutes M] [--store-cycles K]
#            [--dump BUILD/tools/seglog-dump]   (then `seglog-dump check` must agree after verify)
#
# The store lives on a loop-mounted ext4 image (DIR/img, mounted on DIR/mnt with commit=60, so
# that nothing but the store's own fsyncs makes anything durable); the acknowledgements go to
# DIR/acks-*, outside it. Each cycle: start the workload, let it run a random while, stop it
# (SIGSTOP, and wait until every thread is stopped), so the acknowledgement file is final; cut
# power with EXT4_IOC_SHUTDOWN + EXT4_GOING_FLAGS_NOLOGFLUSH (what was not fsynced, data or
# directory entry, is lost); kill -9; umount (retried while io_uring tears down); mount; verify
# with crash-tool verify. Unlike kill -9, this catches a store that acknowledges before its data
# is on disk (tests/crash/mutants.sh shows it).
#
# Exit: 0 all verified, 1 a failure, 77 not root, no loop device, or no ext4 shutdown ioctl.
set -uo pipefail

TOOL="" WORK="" CYCLES=10 MINUTES=0 STORE_CYCLES=4 DUMP="" dump_checks=0
while [ $# -gt 0 ]; do
    case "$1" in
    --tool) TOOL="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --cycles) CYCLES="$2"; shift 2 ;;
    --minutes) MINUTES="$2"; shift 2 ;;
    --store-cycles) STORE_CYCLES="$2"; shift 2 ;;
    --dump) DUMP="$2"; shift 2 ;;
    *) echo "power.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$TOOL" ] && [ -n "$WORK" ] || { echo "power.sh: --tool and --work are required" >&2; exit 2; }
skip() { echo "power.sh: skipped: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "not root (loop mounts need it)"
command -v mkfs.ext4 >/dev/null 2>&1 || skip "no mkfs.ext4"
command -v losetup >/dev/null 2>&1 && losetup -f >/dev/null 2>&1 || skip "no free loop device"

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
mountpoint -q "$MNT" 2>/dev/null && umount_retry
rm -rf "$WORK"
mkdir -p "$MNT"
trap cleanup EXIT
truncate -s 512M "$IMG"
mkfs.ext4 -q -F "$IMG" || skip "mkfs.ext4 failed"
mount -o loop,commit=60 "$IMG" "$MNT" 2>"$WORK/mount.err" || skip "mount -o loop failed: $(cat "$WORK/mount.err")"
"$TOOL" shutdown "$MNT" 2>/dev/null && { umount_retry; mount -o loop,commit=60 "$IMG" "$MNT"; } ||
    skip "EXT4_IOC_SHUTDOWN not supported here"

# Fewer reconfigurations and checkpoints than the kill run: every RocksDB flush and CF creation
# fsyncs and so commits ext4's journal, which would make up for a missing directory fsync.
export CRASH_CHECKPOINT_MS="${CRASH_CHECKPOINT_MS:-1000}" CRASH_RECONF_PAUSE_MS="${CRASH_RECONF_PAUSE_MS:-2000}"

cycles=0 cuts=0 checks=0 lost=0 failures=0 store_no=0 in_store=0 epoch=0 acks_total=0 PID=0
STORE="" ACKS=""
t_end=$(($(date +%s) + MINUTES * 60))
ERR="$WORK/run.err"

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
    cp -a "$MNT/store" "$WORK/failed-$cycles" 2>/dev/null
    cp "$ACKS" "$WORK/failed-$cycles.acks" 2>/dev/null
}

while :; do
    if [ "$MINUTES" -gt 0 ]; then
        [ "$(date +%s)" -ge "$t_end" ] && break
    else
        [ "$cycles" -ge "$CYCLES" ] && break
    fi
    cycles=$((cycles + 1))
    epoch=$((epoch + 1))
    [ -z "$STORE" ] || [ "$in_store" -ge "$STORE_CYCLES" ] && new_store
    in_store=$((in_store + 1))
    : >"$ERR"
    "$TOOL" run "$STORE" "$ACKS" "$epoch" 120 2>"$ERR" &
    PID=$!
    for i in $(seq 300); do
        grep -q 'crash-tool: running' "$ERR" && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + (r % 2500) / 1000 }')"
    kill -STOP "$PID"
    for i in $(seq 100); do all_stopped && break; sleep 0.02; done
    all_stopped || fail "the workload did not stop"
    "$TOOL" shutdown "$MNT" || fail "the shutdown ioctl failed"
    cuts=$((cuts + 1))
    kill -9 "$PID" 2>/dev/null
    kill -CONT "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=0
    if grep -v 'crash-tool: running' "$ERR" | grep -q 'crash-tool:'; then
        fail "the workload reported: $(grep 'crash-tool:' "$ERR" | grep -v running | head -3)"
    fi
    umount_retry || { fail "umount failed"; break; }
    mount -o loop,commit=60 "$IMG" "$MNT" || { fail "mount failed"; break; }
    out="$("$TOOL" verify "$STORE" "$ACKS" "$epoch" 2>"$WORK/verify.err")"
    rc=$?
    v="$(sed -n 's/.* verified=\([0-9]*\).*/\1/p' <<<"$out")"
    l="$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$out")"
    checks=$((checks + ${v:-0}))
    lost=$((lost + ${l:-0}))
    if [ $rc -ne 0 ]; then
        fail "verify failed: $out"
        head -5 "$WORK/verify.err" >&2
        [ "$MINUTES" -eq 0 ] && break
    elif [ -n "$DUMP" ]; then
        dout="$("$DUMP" check "$STORE" 2>&1)"
        rc=$?
        dump_checks=$((dump_checks + 1))
        if [ $rc -ne 0 ]; then
            fail "seglog-dump check disagrees (exit $rc): $(head -8 <<<"$dout")"
            [ "$MINUTES" -eq 0 ] && break
        fi
    fi
done
[ -n "$ACKS" ] && acks_total=$((acks_total + $(grep -c '^A' "$ACKS" || true)))
echo "power: cycles=$cycles cuts=$cuts acked_appends=$acks_total ack_checks=$checks lost=$lost failures=$failures dump_checks=$dump_checks"
[ "$failures" -eq 0 ] && [ "$lost" -eq 0 ]
