#!/usr/bin/env bash
# bench-seglog.sh — seglog's benchmark of record: seglog-bench against a plain RocksDB writer.
#
# Each run (default 3, interleaved so that a noisy neighbour hits every configuration alike) runs
# seglog-bench once per configuration; every invocation measures seglog and then its RocksDB
# baseline (Put of key (log, lsn) with sync=true from the same number of threads, same record
# size, its own directory) and prints both:
#   append   100 B and 1 KiB records at 1, 64 and 400 threads (1, 8, 8 logs)
#   async    1 KiB, one submitter, 4096 appends in flight; baseline: RocksDB with 64 sync writers
#            (a single sync writer would make the ratio meaningless)
#   seal     1 KiB, 64 SEGLOG_APPEND_WAIT appenders over 8 logs, seal+extend every 100 ms; and
#            the same with each log trimmed to its last 4 segments (retention: CFs recycled)
#   read     catch-up: 300,000 1 KiB records written, then read by one reader (RocksDB: iterator)
#   tail     1 KiB, 1 appender (the target) and 64 appenders over 8 logs (informative), one
#            reader following log 1: write-to-read latency
# Then it prints the median over runs of each figure, the median of the per-run ratios
# seglog / RocksDB (paired within a run), and the targets:
#   append 1 KiB @ 64 threads: appends/s >= 8x RocksDB;  seal+extend p99 <= 5 ms under load;
#   tail (1 appender) write-to-read p50 <= 200 us;  peak RSS < 512 MiB in every run.
# A miss is printed, never an exit status; a failed run is (exit 1).
#
# Raw results go to DATADIR/results.jsonl (one JSON object per line); the stores seglog-bench
# creates in DATADIR are removed by it after each run.
#
# Needs: bash, python3 (standard library only), coreutils, bench-common.sh beside this script,
# and seglog-bench built (cmake --build BUILD), found as BUILD/tools/seglog-bench or
# BUILD/seglog-bench.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tools/bench/bench-seglog.sh [--build DIR] [--dir DATADIR] [--runs N] [--seconds S] [--quick]

Runs seglog's benchmark matrix (append 100 B / 1 KiB x 1/64/400 threads, async with 4096 in
flight, seal+extend under load at 64 threads, catch-up read, tail write-to-read latency), each
beside a plain RocksDB sync writer, interleaved per run, then prints the median of each figure,
the seglog / RocksDB ratios and the targets (PASS/MISS).

options:
  --build DIR     build directory holding seglog-bench (default: build)
  --dir DATADIR   where to put the data, on a real disk (default: a fresh directory under
                  /var/tmp); results are kept in DATADIR/results.jsonl
  --runs N        runs of every configuration; medians are reported (default 3)
  --seconds S     measured seconds of each side of each configuration (default 5)
  --quick         1 run of 2 seconds each: a smoke test, not a figure to quote
  -h, --help      this text
EOF
}

SCRIPT=bench-seglog.sh
TOOL=seglog-bench
# shellcheck source=tools/bench/bench-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"

bench_parse_args "$@"

command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"
bench_find_binary

NEED_MIB=4096 # the catch-up fill (300 MB, twice) plus WAL files and RocksDB's
bench_make_datadir /var/tmp/seglog-bench.XXXXXX "$NEED_MIB"
case $FSTYPE in tmpfs*|ramfs*) die "$DATADIR is on $FSTYPE: use a directory on a real disk" ;; esac

RESULTS=$DATADIR/results.jsonl
RUNDIR=$DATADIR/runs
FAILED=0

cleanup() {
    rm -f "$DATADIR/seglog-bench.err"
    # seglog-bench removes its stores; one killed by the timeout leaves them behind.
    if [[ -d $RUNDIR ]]; then
        rm -rf "$RUNDIR/seglog-bench.store" "$RUNDIR/seglog-bench.rocksdb"
        rmdir "$RUNDIR" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$RUNDIR"
: >"$RESULTS"

python3 - "$RESULTS" "$FSTYPE" "$DATADIR" "$RUNS" "$SECONDS_EACH" "$(uname -r)" \
    "$(bench_git_rev)" <<'EOF'
import json, os, sys, time
path, fs, d, runs, secs, kernel, rev = sys.argv[1:]
with open(path, "a") as f:
    f.write(json.dumps({"kind": "meta", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "fs": fs, "datadir": d, "runs": int(runs), "seconds": int(secs),
                        "kernel": kernel, "git": rev, "nproc": os.cpu_count()}) + "\n")
EOF

echo "bench-seglog.sh: $RUNS run(s) of ${SECONDS_EACH} s per side in $DATADIR ($FSTYPE), seglog-bench: $BENCH"

# bench_run (bench-common.sh) runs one configuration: seglog-bench --dir $RUNDIR, killed after:
BENCH_DIR=$RUNDIR
BENCH_TIMEOUT_S=$((SECONDS_EACH * 4 + 180))

# The configurations, in the order of the table: label and arguments.
CONFIGS=(
    "append 100B t1|--mode append --record-bytes 100 --threads 1 --logs 1"
    "append 100B t64|--mode append --record-bytes 100 --threads 64 --logs 8"
    "append 100B t400|--mode append --record-bytes 100 --threads 400 --logs 8"
    "append 1KiB t1|--mode append --record-bytes 1024 --threads 1 --logs 1"
    "append 1KiB t64|--mode append --record-bytes 1024 --threads 64 --logs 8"
    "append 1KiB t400|--mode append --record-bytes 1024 --threads 400 --logs 8"
    "async 1KiB if4096|--mode async --record-bytes 1024 --threads 1 --logs 1 --inflight 4096 --baseline-threads 64"
    "seal 1KiB t64|--mode seal --record-bytes 1024 --threads 64 --logs 8 --seal-every-ms 100"
    "seal+trim 1KiB t64|--mode seal --record-bytes 1024 --threads 64 --logs 8 --seal-every-ms 100 --retain-segments 4 --no-baseline"
    "read 1KiB catch-up|--mode read --record-bytes 1024 --records 300000"
    "tail 1KiB t1|--mode tail --record-bytes 1024 --threads 1 --logs 1"
    "tail 1KiB t64|--mode tail --record-bytes 1024 --threads 64 --logs 8"
)

START=$(date +%s)
for ((run = 1; run <= RUNS; run++)); do
    for c in "${CONFIGS[@]}"; do
        label=${c%%|*}
        # shellcheck disable=SC2206 # the arguments are split on purpose
        args=(${c#*|})
        echo "bench-seglog.sh: run $run/$RUNS: $label"
        bench_run "$label" "$run" "${args[@]}"
    done
done
echo "bench-seglog.sh: matrix took $(( $(date +%s) - START )) s"

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

def good(c):
    return [r for r in by.get(c, []) if "error" not in r]

def get(r, path):
    for k in path.split("."):
        if not isinstance(r, dict) or k not in r:
            return None
        r = r[k]
    return r

def med(c, path):
    vals = [get(r, path) for r in good(c)]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

def nruns(c):
    return f"{len(good(c))}/{len(by.get(c, []))}"

print()
print(f"seglog benchmark: medians of {meta['runs']} run(s) x {meta['seconds']} s per side on "
      f"{meta['fs']} ({meta['nproc']} CPUs, kernel {meta['kernel']}, git {meta['git']})")
print("seglog: ops/s = durable appends/s (read: records read/s); latency us per call (async:"
      " submit to callback);")
print("rocksdb: Put sync=true per record from the threads shown (read: one iterator); ratio ="
      " median of per-run seglog/rocksdb ops/s")
print()
hdr = (f"  {'config':<20}{'seglog/s':>10}{'p50':>8}{'p99':>8}{'p99.9':>9}{'rocksdb/s':>11}"
       f"{'thr':>5}{'p50':>8}{'p99':>8}{'ratio':>7}{'rec/grp':>9}{'cpu us':>8}{'RSS MiB':>9}"
       f"{'memt MiB':>9}{'ok':>5}")
print(hdr)
for c in order:
    ratio = None
    rs = [get(r, "ratio") for r in good(c)]
    rs = [v for v in rs if v is not None]
    if rs:
        ratio = statistics.median(rs)
    rss = med(c, "seglog.peak_rss_kib")
    mt = med(c, "seglog.memtable_bytes")
    lat = not c.startswith("read")
    print(f"  {c:<20}{fmt(med(c,'seglog.ops_per_s'),'.0f'):>10}"
          f"{fmt(med(c,'seglog.p50_us') if lat else None,'.0f'):>8}"
          f"{fmt(med(c,'seglog.p99_us') if lat else None,'.0f'):>8}"
          f"{fmt(med(c,'seglog.p999_us') if lat else None,'.0f'):>9}"
          f"{fmt(med(c,'rocksdb.ops_per_s'),'.0f'):>11}{fmt(med(c,'rocksdb.threads'),'.0f'):>5}"
          f"{fmt(med(c,'rocksdb.p50_us') if lat else None,'.0f'):>8}"
          f"{fmt(med(c,'rocksdb.p99_us') if lat else None,'.0f'):>8}"
          f"{fmt(ratio,'.2f'):>7}{fmt(med(c,'seglog.records_per_group') if lat else None,'.1f'):>9}"
          f"{fmt(med(c,'seglog.cpu_us_per_op'),'.1f'):>8}"
          f"{fmt(rss / 1024 if rss is not None else None,'.0f'):>9}"
          f"{fmt(mt / 1048576 if mt is not None else None,'.0f'):>9}{nruns(c):>5}")
print("  cpu us: process CPU time (all threads) per seglog operation; RSS: peak of the process"
      " after the seglog side; memt: seglog memtable bytes at the end")

print()
for c in order:
    if c.startswith("seal"):
        print(f"  {c}: seal+extend us p50 {fmt(med(c,'seal_extend.p50_us'),'.0f')}"
              f"  p99 {fmt(med(c,'seal_extend.p99_us'),'.0f')}"
              f"  max {fmt(med(c,'seal_extend.max_us'),'.0f')}"
              f"  ({fmt(med(c,'seal_extend.count'),'.0f')} calls per run)")
    if c.startswith("tail"):
        print(f"  {c}: write-to-read us p50 {fmt(med(c,'write_to_read.p50_us'),'.0f')}"
              f"  p99 {fmt(med(c,'write_to_read.p99_us'),'.0f')}"
              f"  p99.9 {fmt(med(c,'write_to_read.p999_us'),'.0f')}"
              f"  (rocksdb put sync p50 {fmt(med(c,'rocksdb.p50_us'),'.0f')})")
    if c.startswith("read"):
        print(f"  {c}: fill s seglog {fmt(med(c,'seglog.fill_seconds'),'.2f')}"
              f"  rocksdb {fmt(med(c,'rocksdb.fill_seconds'),'.2f')}"
              f"  (300,000 records in 256-record durable batches)")

print()
def verdict(v, ok):
    return "n/a" if v is None else ("PASS" if ok(v) else "MISS")
c = "append 1KiB t64"
rs = [get(r, "ratio") for r in good(c)]
r1 = statistics.median(rs) if rs else None
print(f"target 1: append 1 KiB @ 64 threads: seglog {fmt(med(c,'seglog.ops_per_s'),'.0f')}/s vs"
      f" rocksdb {fmt(med(c,'rocksdb.ops_per_s'),'.0f')}/s = {fmt(r1,'.2f')}x"
      f"   target >= 8x: {verdict(r1, lambda v: v >= 8.0)}")
p = med("seal 1KiB t64", "seal_extend.p99_us")
print(f"target 2: seal+extend p99 under load (64 appenders) = {fmt(p,'.0f')} us"
      f"   target <= 5000 us: {verdict(p, lambda v: v <= 5000.0)}")
p = med("seal+trim 1KiB t64", "seal_extend.p99_us")
print(f"          the same with each log trimmed to its last 4 segments (CFs recycled) ="
      f" {fmt(p,'.0f')} us   target <= 5000 us: {verdict(p, lambda v: v <= 5000.0)}")
p = med("tail 1KiB t1", "write_to_read.p50_us")
print(f"target 3: tail write-to-read p50 (1 appender) = {fmt(p,'.0f')} us"
      f"   target <= 200 us: {verdict(p, lambda v: v <= 200.0)}")
rss = [get(r, "seglog.peak_rss_kib") for rr in by.values() for r in rr if "error" not in r]
rss = [v for v in rss if v is not None]
worst = max(rss) / 1024 if rss else None
print(f"target 4: peak RSS, worst of all runs = {fmt(worst,'.0f')} MiB"
      f"   target < 512 MiB: {verdict(worst, lambda v: v < 512.0)}")
EOF

echo
echo "bench-seglog.sh: raw results (JSON lines): $RESULTS"
if [[ $FAILED != 0 ]]; then
    echo "bench-seglog.sh: some runs failed (see above and the \"error\" lines in $RESULTS)" >&2
    exit 1
fi
