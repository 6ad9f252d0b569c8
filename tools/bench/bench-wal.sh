#!/usr/bin/env bash
# bench-wal.sh — seglog's WAL benchmark of record: wal-bench against fio on the same directory.
#
# Each run (default 3, interleaved so that a noisy neighbour hits every configuration alike):
#   fio A  4 KiB writes, queue depth 1, write + fdatasync each, O_DIRECT, io_uring, on a
#          pre-written 1 GiB file: the cost of one durable write (the floor for one producer).
#   fio B  64 KiB writes, queue depth 16, same flags: the durable bandwidth of the disk.
#   wal-bench  100 B and 1 KiB records at 1, 16 and 256 producers with the WAL's defaults, and
#          for 1 KiB at 1 and 256 producers each variant: linked fdatasync buffered, RWF_DSYNC
#          buffered, linked fdatasync O_DIRECT.
# Then it prints the median over runs of each figure and two ratios with their targets:
#   (1 KiB @ 256 producers MB/s) / (fio B MB/s)  >= 0.70   the WAL keeps the disk busy
#   (1 producer append p50) / (fio A p50)        <= 1.3    one append costs about one flush
# fio A's p50 is write latency p50 (submit to completion, fio's lat_ns) plus fdatasync latency
# p50 (fio's "sync" section): a sum of two medians, close to but not exactly the median of the
# sum. 1e6/IOPS (the mean time of one write+fdatasync at queue depth 1) is shown as a cross-check.
# MB/s is 10^6 bytes per second (payload bytes for wal-bench, as fio counts its writes).
#
# Raw results go to DATADIR/results.jsonl (one JSON object per line); everything else the script
# writes in DATADIR (the fio file, the WAL directories) is removed at the end.
#
# Needs: bash, fio (>= 3.x, io_uring engine), python3 (standard library only), coreutils,
# bench-common.sh beside this script, and wal-bench built (cmake --build BUILD), found as
# BUILD/tools/wal-bench or BUILD/wal-bench.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/bench/bench-wal.sh [--build DIR] [--dir DATADIR] [--runs N] [--seconds S] [--quick]

Runs seglog's WAL benchmark of record: fio baselines (4 KiB qd1 and 64 KiB qd16, O_DIRECT,
write+fdatasync, io_uring) and wal-bench (100 B and 1 KiB records, 1/16/256 producers, plus sync
and O_DIRECT variants) on the same directory, interleaved per run, then prints the median of
each figure over the runs and the ratios to fio with their targets.

options:
  --build DIR     build directory holding wal-bench (default: build)
  --dir DATADIR   where to put the data (default: a fresh directory under /var/tmp); results
                  are kept in DATADIR/results.jsonl, the data files are removed at the end
  --runs N        runs of every configuration; medians are reported (default 3)
  --seconds S     seconds each fio job and each wal-bench configuration runs (default 5)
  --quick         1 run of 2 seconds each: a smoke test, not a figure to quote
  -h, --help      this text
EOF
}

SCRIPT=bench-wal.sh
TOOL=wal-bench
# shellcheck source=tools/bench/bench-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

bench_parse_args "$@"

command -v fio >/dev/null || die "fio not found (apt-get install fio)"
command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"
bench_find_binary

FIO_FILE_MIB=1024 # the pre-written file fio overwrites
NEED_MIB=$((FIO_FILE_MIB + 1024)) # plus room for the WAL's files
bench_make_datadir /var/tmp/seglog-bench-wal.XXXXXX "$NEED_MIB"

RESULTS=$DATADIR/results.jsonl
FIO_FILE=$DATADIR/fio-overwrite.dat
WALDIR=$DATADIR/wal-runs
FAILED=0

cleanup() {
    rm -f "$FIO_FILE" "$DATADIR"/fio-*.json "$DATADIR"/wal-bench.err
    # wal-bench removes its own subdirectory; one killed by the timeout leaves it behind.
    if [[ -d $WALDIR ]]; then
        find "$WALDIR" -mindepth 2 -maxdepth 2 -path "$WALDIR/wal-bench.*" -type f -delete 2>/dev/null || true
        find "$WALDIR" -mindepth 1 -maxdepth 1 -type d -name 'wal-bench.*' -exec rmdir {} + 2>/dev/null || true
        rmdir "$WALDIR" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WALDIR"
: >"$RESULTS"

# One JSON line of context first.
python3 - "$RESULTS" "$FSTYPE" "$DATADIR" "$RUNS" "$SECONDS_EACH" "$(fio --version)" \
    "$(uname -r)" "$(bench_git_rev)" <<'EOF'
import json, sys, time
path, fs, d, runs, secs, fio, kernel, rev = sys.argv[1:]
with open(path, "a") as f:
    f.write(json.dumps({"kind": "meta", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "fs": fs, "datadir": d, "runs": int(runs), "seconds": int(secs),
                        "fio": fio, "kernel": kernel, "git": rev, "nproc": __import__("os").cpu_count()}) + "\n")
EOF

echo "bench-wal.sh: $RUNS run(s) of ${SECONDS_EACH} s each in $DATADIR ($FSTYPE), wal-bench: $BENCH"
echo "bench-wal.sh: pre-writing the ${FIO_FILE_MIB} MiB fio file"
dd if=/dev/zero of="$FIO_FILE" bs=1M count=$FIO_FILE_MIB oflag=direct conv=fsync status=none
sync

# fio_run LABEL RUN fio-args... : runs one fio job, appends its figures as one JSON line.
fio_run() {
    local label=$1 run=$2; shift 2
    local out=$DATADIR/fio-$label.json
    if ! fio --name="$label" --ioengine=io_uring --filename="$FIO_FILE" --size=${FIO_FILE_MIB}m \
        --rw=write --direct=1 --fdatasync=1 --time_based --runtime="$SECONDS_EACH" \
        --lat_percentiles=1 --output-format=json "$@" >"$out" 2>"$out.err"; then
        echo "bench-wal.sh: fio $label failed: $(head -c 500 "$out.err")" >&2
        printf '{"kind":"fio","config":"%s","run":%d,"error":"fio failed"}\n' "$label" "$run" >>"$RESULTS"
        FAILED=1; rm -f "$out.err"; return 0
    fi
    rm -f "$out.err"
    python3 - "$out" "$label" "$run" "$*" >>"$RESULTS" <<'EOF'
import json, sys
path, label, run, args = sys.argv[1:]
with open(path) as f:
    text = f.read()
d = json.loads(text[text.index("{"):])  # fio may print notes before the JSON
j = d["jobs"][0]
w = j["write"]
def pct(sec, p):
    return sec.get("percentile", {}).get(p, 0) / 1e3
sync = j.get("sync", {}).get("lat_ns", {})
iops = w["iops"]
out = {
    "kind": "fio", "config": label, "run": int(run), "args": args,
    "iops": round(iops, 1), "mb_per_s": round(w["bw_bytes"] / 1e6, 2),
    "write_lat_p50_us": round(pct(w["lat_ns"], "50.000000"), 1),
    "write_lat_p99_us": round(pct(w["lat_ns"], "99.000000"), 1),
    "sync_lat_p50_us": round(pct(sync, "50.000000"), 1),
    "sync_lat_p99_us": round(pct(sync, "99.000000"), 1),
    "syncs": sync.get("N", 0),
}
out["op_p50_us"] = round(out["write_lat_p50_us"] + out["sync_lat_p50_us"], 1)
out["us_per_op_from_iops"] = round(1e6 / iops, 1) if iops > 0 else 0
print(json.dumps(out))
EOF
    rm -f "$out"
}

# bench_run (bench-common.sh) runs one configuration: wal-bench --dir $WALDIR, killed after:
BENCH_DIR=$WALDIR
BENCH_TIMEOUT_S=$((SECONDS_EACH * 3 + 60))

# The wal-bench configurations, in the order of the table: label and arguments.
CONFIGS=(
    "100B p1|--record-bytes 100 --producers 1"
    "100B p16|--record-bytes 100 --producers 16"
    "100B p256|--record-bytes 100 --producers 256"
    "1KiB p1|--record-bytes 1024 --producers 1"
    "1KiB p16|--record-bytes 1024 --producers 16"
    "1KiB p256|--record-bytes 1024 --producers 256"
    "1KiB p1 linked buffered|--record-bytes 1024 --producers 1 --sync linked --buffered"
    "1KiB p1 dsync buffered|--record-bytes 1024 --producers 1 --sync dsync --buffered"
    "1KiB p1 linked direct|--record-bytes 1024 --producers 1 --sync linked --direct"
    "1KiB p256 linked buffered|--record-bytes 1024 --producers 256 --sync linked --buffered"
    "1KiB p256 dsync buffered|--record-bytes 1024 --producers 256 --sync dsync --buffered"
    "1KiB p256 linked direct|--record-bytes 1024 --producers 256 --sync linked --direct"
)

for ((run = 1; run <= RUNS; run++)); do
    echo "bench-wal.sh: run $run/$RUNS: fio 4k qd1"
    fio_run "fio 4k qd1" "$run" --bs=4k --iodepth=1
    echo "bench-wal.sh: run $run/$RUNS: fio 64k qd16"
    fio_run "fio 64k qd16" "$run" --bs=64k --iodepth=16
    for c in "${CONFIGS[@]}"; do
        label=${c%%|*}
        # shellcheck disable=SC2206 # the arguments are split on purpose
        args=(${c#*|})
        echo "bench-wal.sh: run $run/$RUNS: wal-bench $label"
        bench_run "$label" "$run" "${args[@]}"
    done
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = rows[0]
order, by = [], {}
for r in rows[1:]:
    c = r["config"]
    if c not in by:
        by[c] = []
        order.append(c)
    by[c].append(r)

def med(c, key):
    vals = [r[key] for r in by.get(c, []) if "error" not in r and key in r]
    return statistics.median(vals) if vals else None

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

def nruns(c):
    ok = sum(1 for r in by.get(c, []) if "error" not in r)
    return f"{ok}/{len(by.get(c, []))}"

print()
print(f"seglog WAL benchmark: medians of {meta['runs']} run(s) x {meta['seconds']} s on {meta['fs']}"
      f" ({meta['nproc']} CPUs, kernel {meta['kernel']}, {meta['fio']}, git {meta['git']})")
print()
print("fio baselines (io_uring, O_DIRECT, write + fdatasync each, pre-written 1 GiB file):")
print(f"  {'config':<14}{'IOPS':>10}{'MB/s':>9}{'write p50':>11}{'sync p50':>10}"
      f"{'op p50':>9}{'1e6/IOPS':>10}{'ok':>6}")
for c in ("fio 4k qd1", "fio 64k qd16"):
    print(f"  {c:<14}{fmt(med(c,'iops'),'.0f'):>10}{fmt(med(c,'mb_per_s'),'.1f'):>9}"
          f"{fmt(med(c,'write_lat_p50_us'),'.1f'):>11}{fmt(med(c,'sync_lat_p50_us'),'.1f'):>10}"
          f"{fmt(med(c,'op_p50_us'),'.1f'):>9}{fmt(med(c,'us_per_op_from_iops'),'.1f'):>10}"
          f"{nruns(c):>6}")
print("  (latencies in us; op p50 = write p50 + fdatasync p50; 1e6/IOPS = mean us per op)")

fio_bw = med("fio 64k qd16", "mb_per_s")
fio_p50 = med("fio 4k qd1", "op_p50_us")
fio_per_op = med("fio 4k qd1", "us_per_op_from_iops")

print()
print("wal-bench (wal_append_sync loop per producer; MB/s = payload 10^6 B/s; latency in us):")
hdr = (f"  {'config':<27}{'mode':<17}{'appends/s':>10}{'MB/s':>8}{'p50':>8}{'p99':>8}{'p99.9':>9}"
       f"{'rec/grp':>9}{'fsync/s':>9}{'cpu us':>8}{'vs fio':>8}{'ok':>5}")
print(hdr)
for c in order:
    if c.startswith("fio "):
        continue
    good = [r for r in by[c] if "error" not in r]
    mode = "-"
    if good:
        g = good[0]
        mode = f"{g['sync']} {'direct' if g['direct'] else 'buffered'} if{g['inflight']}"
    vs = None
    if c.startswith("1KiB p256") and fio_bw and med(c, "mb_per_s") is not None:
        vs = med(c, "mb_per_s") / fio_bw
    elif " p1" in c and not " p16" in c and fio_p50 and med(c, "p50_us") is not None:
        vs = med(c, "p50_us") / fio_p50
    print(f"  {c:<27}{mode:<17}{fmt(med(c,'appends_per_s'),'.0f'):>10}"
          f"{fmt(med(c,'mb_per_s'),'.1f'):>8}{fmt(med(c,'p50_us'),'.0f'):>8}"
          f"{fmt(med(c,'p99_us'),'.0f'):>8}{fmt(med(c,'p999_us'),'.0f'):>9}"
          f"{fmt(med(c,'records_per_group'),'.1f'):>9}{fmt(med(c,'fsyncs_per_s'),'.0f'):>9}"
          f"{fmt(med(c,'cpu_us_per_append'),'.1f'):>8}{fmt(vs,'.2f'):>8}{nruns(c):>5}")
print("  cpu us: process CPU time (all threads) per append; vs fio: p256 rows: MB/s / fio 64k qd16"
      " MB/s; p1 rows: p50 / fio 4k qd1 op p50")

print()
def verdict(v, ok):
    return "n/a" if v is None else ("PASS" if ok(v) else "MISS")
bw = med("1KiB p256", "mb_per_s")
r1 = bw / fio_bw if bw is not None and fio_bw else None
print(f"ratio 1: 1 KiB @ 256 producers MB/s / fio 64k qd16 MB/s = {fmt(bw,'.1f')} / {fmt(fio_bw,'.1f')}"
      f" = {fmt(r1,'.2f')}   target >= 0.70: {verdict(r1, lambda v: v >= 0.70)}")
for c in ("1KiB p1", "100B p1"):
    p = med(c, "p50_us")
    r2 = p / fio_p50 if p is not None and fio_p50 else None
    r2b = p / fio_per_op if p is not None and fio_per_op else None
    print(f"ratio 2: {c} p50 / fio 4k qd1 op p50 = {fmt(p,'.1f')} / {fmt(fio_p50,'.1f')} us"
          f" = {fmt(r2,'.2f')}   target <= 1.3: {verdict(r2, lambda v: v <= 1.3)}"
          f"   (vs 1e6/IOPS {fmt(fio_per_op,'.1f')} us: {fmt(r2b,'.2f')})")
EOF

echo
echo "bench-wal.sh: raw results (JSON lines): $RESULTS"
if [[ $FAILED != 0 ]]; then
    echo "bench-wal.sh: some runs failed (see above and the \"error\" lines in $RESULTS)" >&2
    exit 1
fi
