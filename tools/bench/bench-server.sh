#!/usr/bin/env bash
# bench-server.sh — seglogd against redis-server 7 with durable appends (appendonly yes,
# appendfsync always), in the same run: redis-benchmark with 50 clients, at -P 1 and -P 16,
# XADD on both servers, LOG.APPEND on seglogd against RPUSH on redis (a raw durable append each).
# Each configuration runs RUNS times, alternating the two servers, and the medians of requests/s,
# p50 and p99 are printed with the ratio seglogd/redis of the medians ("ratio") and the median of
# the per-run ratios of back-to-back runs ("paired", the steadier one on a shared machine).
#
#   tools/bench/bench-server.sh [--runs N] [--requests N] [--clients N] [--build DIR] [--keep]
#
# Scratch directories live under /var/tmp/server-bench-*; ports come from 16400-16479.
set -euo pipefail

RUNS=3
REQUESTS=200000
CLIENTS=50
BUILD=build
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --requests) REQUESTS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-server: unknown argument $1" >&2; exit 2 ;;
    esac
done

for p in redis-server redis-benchmark redis-cli; do
    command -v "$p" >/dev/null || { echo "bench-server: $p is missing (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
SEGLOGD="$BUILD/tools/seglogd"
[ -x "$SEGLOGD" ] || { echo "bench-server: $SEGLOGD is missing: build first" >&2; exit 1; }

SCRATCH="$(mktemp -d /var/tmp/server-bench-XXXXXX)"
REDIS_PORT=16401
SEGLOGD_PORT=16402
REDIS_PID=""
SEGLOGD_PID=""
cleanup() {
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
    [ -n "$SEGLOGD_PID" ] && kill "$SEGLOGD_PID" 2>/dev/null && wait "$SEGLOGD_PID" 2>/dev/null || true
    [ "$KEEP" = 1 ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT

mkdir -p "$SCRATCH/redis" "$SCRATCH/seglog"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$SCRATCH/redis" --appendonly yes \
    --appendfsync always --save '' --daemonize no --logfile "$SCRATCH/redis.log" &
REDIS_PID=$!
"$SEGLOGD" --dir "$SCRATCH/seglog" --port "$SEGLOGD_PORT" >"$SCRATCH/seglogd.log" 2>&1 &
SEGLOGD_PID=$!
for port in $REDIS_PORT $SEGLOGD_PORT; do
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null || { echo "bench-server: server on $port did not start" >&2; exit 1; }
done
redis-cli -p "$SEGLOGD_PORT" LOG.CREATE rawlog >/dev/null

# one_run PORT PIPELINE CMD... -> "rps p50 p99"
one_run() {
    local port="$1" pipe="$2"
    shift 2
    local n="$REQUESTS"
    [ "$pipe" = 1 ] && n=$((REQUESTS / 2))
    timeout 300 redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$pipe" --csv "$@" 2>/dev/null |
        awk -F'","' 'NR == 2 { gsub(/"/, "", $0); split($0, f, ","); print f[2], f[5], f[7] }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A RES
CONFIGS=("xadd:1" "xadd:16" "append:1" "append:16")
for run in $(seq "$RUNS"); do
    for cfg in "${CONFIGS[@]}"; do
        kind="${cfg%%:*}" pipe="${cfg##*:}"
        if [ "$kind" = xadd ]; then
            r=$(one_run "$REDIS_PORT" "$pipe" XADD bench '*' f payload-16-bytes)
            s=$(one_run "$SEGLOGD_PORT" "$pipe" XADD bench '*' f payload-16-bytes)
        else
            r=$(one_run "$REDIS_PORT" "$pipe" RPUSH rawlist payload-16-bytes)
            s=$(one_run "$SEGLOGD_PORT" "$pipe" LOG.APPEND rawlog payload-16-bytes)
        fi
        echo "run $run $kind -P $pipe: redis-server $r | seglogd $s" >&2
        RES[redis:$cfg]+="$r"$'\n'
        RES[seglogd:$cfg]+="$s"$'\n'
        # the two ran back to back, so their ratio cancels much of the machine's noise
        RES[ratio:$cfg]+="$(awk -v a="${s%% *}" -v b="${r%% *}" 'BEGIN { if (b > 0) print a / b }')"$'\n'
    done
done

col() { printf '%s' "$1" | awk -v c="$2" 'NF { print $c }' | median; }
printf '\n%d clients, %d runs each (medians), %s; redis-server %s with appendonly yes, appendfsync always\n' \
    "$CLIENTS" "$RUNS" "$(date -u +%FT%TZ)" "$(redis-server --version | awk '{print $3}')"
printf '%-28s %12s %8s %8s   %12s %8s %8s   %7s %7s\n' "workload" "redis req/s" "p50 ms" "p99 ms" \
    "seglogd req/s" "p50 ms" "p99 ms" "ratio" "paired"
for cfg in "${CONFIGS[@]}"; do
    kind="${cfg%%:*}" pipe="${cfg##*:}"
    name="XADD -P $pipe"
    [ "$kind" = append ] && name="RPUSH vs LOG.APPEND -P $pipe"
    rr=$(col "${RES[redis:$cfg]}" 1) rp50=$(col "${RES[redis:$cfg]}" 2) rp99=$(col "${RES[redis:$cfg]}" 3)
    sr=$(col "${RES[seglogd:$cfg]}" 1) sp50=$(col "${RES[seglogd:$cfg]}" 2) sp99=$(col "${RES[seglogd:$cfg]}" 3)
    ratio=$(awk -v a="$sr" -v b="$rr" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
    paired=$(printf '%s' "${RES[ratio:$cfg]}" | awk 'NF' | median | awk '{ printf "%.2fx", $1 }')
    printf '%-28s %12.0f %8s %8s   %12.0f %8s %8s   %7s %7s\n' "$name" "$rr" "$rp50" "$rp99" "$sr" \
        "$sp50" "$sp99" "$ratio" "$paired"
done
redis-cli -p "$SEGLOGD_PORT" INFO store | grep -E '^(appends|wal_groups|wal_fsyncs):' | tr -d '\r' |
    paste -sd' ' | sed 's/^/seglogd store: /'
