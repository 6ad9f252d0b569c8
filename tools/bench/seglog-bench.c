/*
 * seglog-bench — measures seglog through its public API (seglog.h), each figure beside a plain
 * RocksDB writer run by the same command on the same disk.
 *
 * What it measures (--mode):
 *   append  T threads each loop seglog_log_append() of one record of --record-bytes, spread over
 *           --logs logs (thread i appends to log i mod L), for --seconds after a 0.5 s warm-up:
 *           durable appends/s and the latency of one call, p50/p99/p99.9. With --seal-every-ms
 *           a sealer thread also runs (see seal).
 *   async   T submitter threads loop seglog_log_append_async() of one record, at most --inflight
 *           outstanding in all (a counting semaphore over a fixed slot table; a submitter waits
 *           for a completion when it is full): appends/s and completion latency (just before the
 *           call to the callback).
 *   seal    append with SEGLOG_APPEND_WAIT appenders plus a sealer thread calling
 *           seglog_log_seal_and_extend() every --seal-every-ms (default 100) on the logs in turn:
 *           appends/s, append latency, and seal+extend latency p50/p99 under that load.
 *   read    writes --records records to one log first (atomic batches of 256, each durable),
 *           then one seglog_reader from LSN 1 reads them all: catch-up records/s.
 *   tail    T appenders (as in append; each payload starts with the monotonic time taken just
 *           before the append call) and one reader thread following log 1 with
 *           seglog_reader_next(): write-to-read latency (that time to the reader's return)
 *           p50/p99, beside the appends/s.
 *
 * The baseline is RocksDB through its C API in its own directory, default options, WAL on: a Put
 * of key (log, lsn) (16 bytes, big-endian) with sync=true per record, from the same number of
 * threads (--baseline-threads to change), the same record size and the same log spread. For read
 * it is the same number of records written in sync'ed 256-record write batches, then one
 * iterator over all of them. For tail, the baseline's Put p50 (the time until a record is durable,
 * a floor for any reader) is shown beside the write-to-read p50. Each run prints seglog's figure,
 * the baseline's, and their ratio.
 *
 * seglog runs first, then it is closed and the peak RSS of the process (getrusage ru_maxrss:
 * the bench's own buffers and seglog, the baseline not yet started) is reported, with the
 * memtable bytes from seglog_stats_get() at the end of the measurement, records per WAL group and
 * fdatasyncs/s, and the process CPU time per operation over the window (on a 2-core machine the
 * limit is often CPU). Targets are printed as PASS/MISS and never change the exit status:
 *   append, 64 threads, 1 KiB records: seglog appends/s >= 8 x the baseline's
 *   seal+extend p99 under load <= 5 ms;  tail write-to-read p50 <= 200 us;  peak RSS < 512 MiB.
 *
 * Data: DIR/seglog-bench.store (seglog) and DIR/seglog-bench.rocksdb (baseline), each deleted
 * and recreated at the start of every run and deleted at the end (unless --keep). DIR must be on
 * a real disk: tmpfs and ramfs are refused, since fsync there costs nothing.
 *
 * Latency is kept per thread in the log-linear histogram shared with wal-bench (128 linear
 * sub-buckets per power of two: within 1%; fixed size, no allocation while measuring) and merged
 * at the end.
 * Threads get 128 KiB stacks so that 400 of them fit comfortably on a small machine.
 *
 * Exit status: 0 on success (whatever the targets say), 1 on a seglog or RocksDB error (printed
 * with its code and message), 2 on bad arguments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "bench_util.h"
#include "seglog.h"

#define TOOL "seglog-bench" /* the prefix of its messages */

/* Limits, each with its unit. */
#define BENCH_THREADS_MAX 4096u
#define BENCH_LOGS_MAX 4096u
#define BENCH_LOGS_DEFAULT_MAX 8u          /* default --logs: min(threads, this) */
#define BENCH_INFLIGHT_MAX (1u << 20)
#define BENCH_INFLIGHT_DEFAULT 4096u
#define BENCH_TICK_NS 10000000ull          /* the main thread checks for stop every 10 ms */
#define BENCH_THREAD_STACK_BYTES (128u << 10)
#define BENCH_SEAL_EVERY_MS_DEFAULT 100u   /* seal mode's sealer period */
#define BENCH_SEAL_EVERY_MS_MAX 3600000u
#define BENCH_RETAIN_MAX 64u
#define BENCH_APPEND_WAIT_MS 10000u        /* SEGLOG_APPEND_WAIT timeout while sealing */
#define BENCH_READ_WAIT_MS 100u            /* tail reader: one wait, then re-check for stop */
#define BENCH_CATCHUP_WAIT_MS 10000u       /* catch-up reader: a record below the tail must come */
#define BENCH_DRAIN_WAIT_NS 60000000000ull /* async: longest wait for outstanding completions */
#define BENCH_FILL_BATCH 256u              /* read mode: records per fill batch */
#define BENCH_RECORDS_DEFAULT 300000ull
#define BENCH_RECORDS_MAX 100000000ull
#define BENCH_RECORD_MIN_BYTES 8u          /* room for a tag or a timestamp */
#define BENCH_RECORD_MAX_BYTES (16u << 20)
#define BENCH_KEY_BYTES 16u                /* baseline key: log, lsn (big-endian u64 each) */
#define BENCH_FAIL_MESSAGE_MAX 512u

/* Targets (printed only). */
#define TARGET_APPEND_RATIO 8.0            /* at 64 threads, 1 KiB records */
#define TARGET_APPEND_THREADS 64u
#define TARGET_APPEND_RECORD_BYTES 1024u
#define TARGET_SEAL_P99_US 5000.0
#define TARGET_TAIL_P50_US 200.0
#define TARGET_RSS_KIB (512ull << 10)

_Static_assert(BENCH_RECORD_MIN_BYTES >= sizeof(uint64_t), "a payload must hold a timestamp");
_Static_assert(BENCH_FILL_BATCH * (uint64_t)BENCH_RECORD_MAX_BYTES <= (8ull << 30),
               "one fill batch must stay a reasonable allocation");

/* Time, the histogram, option parsing: tools/bench/bench_util.h (shared with wal-bench). */

/* ---- arguments ----------------------------------------------------------------------------- */

typedef enum mode { MODE_APPEND, MODE_ASYNC, MODE_SEAL, MODE_READ, MODE_TAIL } mode;

static const char *const MODE_NAMES[] = { "append", "async", "seal", "read", "tail" };

typedef struct args {
    const char *dir;
    mode mode;
    uint32_t record_bytes;
    unsigned threads;
    unsigned logs;             /* 0: min(threads, BENCH_LOGS_DEFAULT_MAX) */
    double seconds;
    uint32_t inflight;
    uint32_t seal_every_ms;    /* 0: no sealer */
    bool seal_set;             /* --seal-every-ms given */
    uint32_t retain_segments;  /* sealer: trim each log to its last N segments (0: never) */
    uint64_t records;          /* read mode */
    unsigned baseline_threads; /* 0: same as threads */
    bool baseline;
    bool json;
    bool keep;
} args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: seglog-bench --dir DIR [--mode MODE] [options]\n"
            "\n"
            "Benchmarks seglog through its public API beside a plain RocksDB writer (Put of key\n"
            "(log, lsn) with sync=true from the same number of threads, in its own directory)\n"
            "and prints both figures and their ratio. Each run starts from fresh stores in\n"
            "DIR/seglog-bench.store and DIR/seglog-bench.rocksdb (deleted at the end).\n"
            "\n"
            "modes:\n"
            "  append   threads loop seglog_log_append(): appends/s, latency p50/p99/p99.9\n"
            "  async    seglog_log_append_async() with --inflight outstanding: appends/s,\n"
            "           completion latency\n"
            "  seal     append with SEGLOG_APPEND_WAIT plus a sealer calling\n"
            "           seglog_log_seal_and_extend() every --seal-every-ms: seal+extend latency\n"
            "  read     write --records records, then read them all with one reader: records/s\n"
            "  tail     appenders plus a reader following log 1: write-to-read latency\n"
            "\n"
            "options:\n"
            "  --dir DIR              data directory on a real disk (required; created if missing)\n"
            "  --mode MODE            append, async, seal, read or tail (default append)\n"
            "  --record-bytes N       payload bytes per record, %u..%u (default 1024)\n"
            "  --threads N            appender / submitter threads, 1..%u (default 1)\n"
            "  --logs N               logs the threads spread over (default min(threads, %u))\n"
            "  --seconds S            measured seconds after a 0.5 s warm-up (default 5)\n"
            "  --inflight N           async: appends outstanding at once (default %u)\n"
            "  --seal-every-ms N      sealer period (seal: default %u; append: default 0 = none)\n"
            "  --retain-segments N    sealer: after each seal+extend, trim the log to its last\n"
            "                         N segments (retention: trimmed CFs are recycled); 0 = never\n"
            "  --records N            read: records written then read (default %llu)\n"
            "  --baseline-threads N   RocksDB writer threads (default: --threads)\n"
            "  --no-baseline          skip the RocksDB baseline\n"
            "  --keep                 keep the data directories\n"
            "  --json                 one line of JSON per measurement instead of the text\n"
            "  -h, --help             this text\n"
            "Sizes and counts accept a K, M or G suffix (powers of 1024).\n"
            "Targets (printed as PASS/MISS; the exit status ignores them): append at 64 threads\n"
            "with 1 KiB records >= 8x RocksDB's appends/s; seal+extend p99 <= 5 ms under load;\n"
            "tail write-to-read p50 <= 200 us; peak RSS < 512 MiB.\n",
            BENCH_RECORD_MIN_BYTES, BENCH_RECORD_MAX_BYTES, BENCH_THREADS_MAX,
            BENCH_LOGS_DEFAULT_MAX, BENCH_INFLIGHT_DEFAULT, BENCH_SEAL_EVERY_MS_DEFAULT,
            (unsigned long long)BENCH_RECORDS_DEFAULT);
}

enum {
    OPT_DIR = 256,
    OPT_MODE,
    OPT_RECORD_BYTES,
    OPT_THREADS,
    OPT_LOGS,
    OPT_SECONDS,
    OPT_INFLIGHT,
    OPT_SEAL_EVERY_MS,
    OPT_RETAIN_SEGMENTS,
    OPT_RECORDS,
    OPT_BASELINE_THREADS,
    OPT_NO_BASELINE,
    OPT_KEEP,
    OPT_JSON,
};

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, OPT_DIR },
        { "mode", required_argument, NULL, OPT_MODE },
        { "record-bytes", required_argument, NULL, OPT_RECORD_BYTES },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "logs", required_argument, NULL, OPT_LOGS },
        { "seconds", required_argument, NULL, OPT_SECONDS },
        { "inflight", required_argument, NULL, OPT_INFLIGHT },
        { "seal-every-ms", required_argument, NULL, OPT_SEAL_EVERY_MS },
        { "retain-segments", required_argument, NULL, OPT_RETAIN_SEGMENTS },
        { "records", required_argument, NULL, OPT_RECORDS },
        { "baseline-threads", required_argument, NULL, OPT_BASELINE_THREADS },
        { "no-baseline", no_argument, NULL, OPT_NO_BASELINE },
        { "keep", no_argument, NULL, OPT_KEEP },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    memset(a, 0, sizeof *a);
    a->mode = MODE_APPEND;
    a->record_bytes = 1024;
    a->threads = 1;
    a->seconds = 5.0;
    a->inflight = BENCH_INFLIGHT_DEFAULT;
    a->records = BENCH_RECORDS_DEFAULT;
    a->baseline = true;
    opterr = 0;
    int c;
    uint64_t v;
    int rc;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_DIR:
            if (*optarg == '\0')
                return bench_arg_error(TOOL, "--dir", optarg, "empty path");
            a->dir = optarg;
            break;
        case OPT_MODE: {
            bool found = false;
            for (unsigned i = 0; i < sizeof MODE_NAMES / sizeof MODE_NAMES[0]; i++) {
                if (strcmp(optarg, MODE_NAMES[i]) == 0) {
                    a->mode = (mode)i;
                    found = true;
                }
            }
            if (!found)
                return bench_arg_error(TOOL, "--mode", optarg,
                                       "expected append, async, seal, read or tail");
            break;
        }
        case OPT_RECORD_BYTES:
            if ((rc = bench_parse_size(&v, TOOL, "--record-bytes", optarg, BENCH_RECORD_MIN_BYTES,
                                 BENCH_RECORD_MAX_BYTES)) != 0)
                return rc;
            a->record_bytes = (uint32_t)v;
            break;
        case OPT_THREADS:
            if ((rc = bench_parse_size(&v, TOOL, "--threads", optarg, 1, BENCH_THREADS_MAX)) != 0)
                return rc;
            a->threads = (unsigned)v;
            break;
        case OPT_LOGS:
            if ((rc = bench_parse_size(&v, TOOL, "--logs", optarg, 1, BENCH_LOGS_MAX)) != 0)
                return rc;
            a->logs = (unsigned)v;
            break;
        case OPT_SECONDS:
            if ((rc = bench_parse_seconds(&a->seconds, TOOL, optarg)) != 0)
                return rc;
            break;
        case OPT_INFLIGHT:
            if ((rc = bench_parse_size(&v, TOOL, "--inflight", optarg, 1, BENCH_INFLIGHT_MAX)) != 0)
                return rc;
            a->inflight = (uint32_t)v;
            break;
        case OPT_SEAL_EVERY_MS:
            if ((rc = bench_parse_size(&v, TOOL, "--seal-every-ms", optarg, 0,
                                       BENCH_SEAL_EVERY_MS_MAX)) != 0)
                return rc;
            a->seal_every_ms = (uint32_t)v;
            a->seal_set = true;
            break;
        case OPT_RETAIN_SEGMENTS:
            if ((rc = bench_parse_size(&v, TOOL, "--retain-segments", optarg, 0,
                                       BENCH_RETAIN_MAX)) != 0)
                return rc;
            a->retain_segments = (uint32_t)v;
            break;
        case OPT_RECORDS:
            if ((rc = bench_parse_size(&v, TOOL, "--records", optarg, 1, BENCH_RECORDS_MAX)) != 0)
                return rc;
            a->records = v;
            break;
        case OPT_BASELINE_THREADS:
            if ((rc = bench_parse_size(&v, TOOL, "--baseline-threads", optarg, 1,
                                       BENCH_THREADS_MAX)) != 0)
                return rc;
            a->baseline_threads = (unsigned)v;
            break;
        case OPT_NO_BASELINE:
            a->baseline = false;
            break;
        case OPT_KEEP:
            a->keep = true;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        default: /* ':' or an unknown option */
            return bench_getopt_error(TOOL, c, argv);
        }
    }
    if ((rc = bench_args_finish(TOOL, argc, argv, a->dir)) != 0)
        return rc;
    if (a->mode == MODE_SEAL && !a->seal_set)
        a->seal_every_ms = BENCH_SEAL_EVERY_MS_DEFAULT;
    if (a->mode == MODE_SEAL && a->seal_every_ms == 0)
        return bench_arg_error(TOOL, "--seal-every-ms", "0",
                               "seal mode needs a sealer period of at least 1");
    if (a->seal_set && a->seal_every_ms != 0 && a->mode != MODE_APPEND && a->mode != MODE_SEAL)
        return bench_arg_error(TOOL, "--seal-every-ms", "",
                               "only append and seal modes run a sealer");
    if (a->mode == MODE_SEAL)
        a->mode = MODE_APPEND; /* the same run with a sealer */
    if (a->logs == 0)
        a->logs = a->threads < BENCH_LOGS_DEFAULT_MAX ? a->threads : BENCH_LOGS_DEFAULT_MAX;
    if (a->mode == MODE_READ)
        a->logs = 1;
    if (a->baseline_threads == 0)
        a->baseline_threads = a->threads;
    return 0;
}

/* ---- shared state -------------------------------------------------------------------------- */

typedef struct bench bench;

/* One async slot: an append in flight. Free slots sit on bench.free_slots. */
typedef struct slot {
    bench *b;
    uint32_t idx;
    uint64_t t0_ns; /* just before seglog_log_append_async */
} slot;

/* Shared by main and the worker threads. Immutable while workers run unless noted. */
struct bench {
    const args *a;
    seglog *s;                       /* seglog phase */
    rocksdb_t *db;                   /* baseline phase */
    rocksdb_writeoptions_t *wo;      /* sync=true */
    _Atomic uint64_t *next_key;      /* baseline: next lsn per log (index log - 1) */
    _Atomic int phase;               /* PHASE_*: main writes, workers read; a failure stops */
    uint64_t measure_start_ns;       /* written before phase becomes MEASURE */

    /* Async: amu guards everything below it; the callback runs on a store thread. */
    pthread_mutex_t amu;
    pthread_cond_t acv;              /* a slot was freed */
    slot *slots;                     /* inflight of them */
    uint32_t *free_slots;            /* stack of free slot indices */
    uint32_t n_free;
    unsigned a_waiting;              /* submitters waiting for a slot */
    hist *a_lat;                     /* completion latency while measuring */
    int a_status;                    /* first failed completion, or SEGLOG_OK */

    /* First failure, for the report. fail_mu guards fail_msg. */
    pthread_mutex_t fail_mu;
    bool failed;
    char fail_msg[BENCH_FAIL_MESSAGE_MAX];
};

static void fail(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first failure and stops every worker. */
static void fail(bench *b, const char *fmt, ...)
{
    pthread_mutex_lock(&b->fail_mu);
    if (!b->failed) {
        b->failed = true;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->fail_msg, sizeof b->fail_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&b->fail_mu);
    atomic_store(&b->phase, BENCH_PHASE_STOP);
}

static bool is_failed(bench *b)
{
    pthread_mutex_lock(&b->fail_mu);
    bool f = b->failed;
    pthread_mutex_unlock(&b->fail_mu);
    return f;
}

static int phase_of(bench *b)
{
    return atomic_load_explicit(&b->phase, memory_order_relaxed);
}

/* One worker thread. Owned by its thread until joined; main reads it only after the join. */
typedef struct worker {
    bench *b;
    pthread_t thread;
    bool started;
    unsigned id;
    seglog_log_id log;
    uint8_t *payload; /* record_bytes, never all zeros */
    hist *lat;        /* latencies while measuring */
} worker;

/* What one measured window saw. Latencies in microseconds. */
typedef struct result {
    bool ok;
    unsigned threads;
    double secs;
    uint64_t ops;
    double ops_s;
    double mb_s;
    bench_latency lat; /* of one operation */
    double cpu_us_per_op, cpus;
    /* a second latency: seal+extend (seal) or write-to-read (tail) */
    bool has2;
    uint64_t n2;
    bench_latency lat2;
    /* seglog only */
    bool seglog;
    uint64_t memtable_bytes, segments, column_families, cf_pool;
    double recs_per_group, fsyncs_s;
    long rss_kib;
    /* read mode: fill rate */
    double fill_s;
} result;

static void fill_latency2(result *r, const hist *h)
{
    r->has2 = true;
    r->n2 = h->total;
    bench_latency_from_hist(&r->lat2, h);
}

/* ---- seglog workers ------------------------------------------------------------------------ */

/* Appender: seglog_log_append in a loop (append, seal and tail modes). */
static void *appender_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    const args *a = b->a;
    seglog_append_opts opts = { .policy = SEGLOG_APPEND_FAIL_IF_SEALED, .timeout_ms = 0 };
    if (a->seal_every_ms != 0) {
        opts.policy = SEGLOG_APPEND_WAIT;
        opts.timeout_ms = BENCH_APPEND_WAIT_MS;
    }
    seglog_error err;
    for (uint64_t n = 0;; n++) {
        int phase = phase_of(b);
        if (phase == BENCH_PHASE_STOP)
            break;
        uint64_t t0 = bench_now_ns();
        /* tail mode: the reader computes write-to-read latency from this time */
        bench_payload_tag(w->payload, a->record_bytes,
                          a->mode == MODE_TAIL ? t0 : ((uint64_t)w->id << 40) ^ n);
        seglog_lsn lsn = 0;
        int rc = seglog_log_append(b->s, w->log, w->payload, a->record_bytes, &opts, &lsn, &err);
        uint64_t t1 = bench_now_ns();
        if (rc != SEGLOG_OK) {
            if (rc == SEGLOG_ESHUTDOWN && phase_of(b) == BENCH_PHASE_STOP)
                break;
            fail(b, "appender %u: seglog_log_append log %" PRIu64 ": %s: %s", w->id, w->log,
                 seglog_strerror(rc), err.message);
            break;
        }
        if (phase_of(b) == BENCH_PHASE_MEASURE)
            hist_record(w->lat, t1 - t0);
    }
    return NULL;
}

/* Sealer: seglog_log_seal_and_extend every seal_every_ms on the logs in turn. */
static void *sealer_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    const args *a = b->a;
    uint64_t period = (uint64_t)a->seal_every_ms * 1000000ull;
    uint64_t next = bench_now_ns() + period;
    seglog_error err;
    /* per log, the bases of its newest segments (a ring of retain_segments) */
    seglog_lsn *bases = calloc((size_t)a->logs * (BENCH_RETAIN_MAX + 1), sizeof *bases);
    if (!bases) {
        fail(b, "sealer: out of memory");
        return NULL;
    }
    for (uint64_t n = 0;; n++) {
        while (phase_of(b) != BENCH_PHASE_STOP) {
            uint64_t now = bench_now_ns();
            if (now >= next)
                break;
            bench_sleep_ns(next - now < BENCH_TICK_NS ? next - now : BENCH_TICK_NS);
        }
        if (phase_of(b) == BENCH_PHASE_STOP)
            break;
        next += period;
        seglog_log_id log = 1u + n % a->logs;
        seglog_tail tail;
        uint64_t t0 = bench_now_ns();
        int rc = seglog_log_seal_and_extend(b->s, log, 0, &tail, &err);
        uint64_t t1 = bench_now_ns();
        if (rc != SEGLOG_OK) {
            if (rc == SEGLOG_ESHUTDOWN && phase_of(b) == BENCH_PHASE_STOP)
                break;
            fail(b, "sealer: seglog_log_seal_and_extend log %" PRIu64 ": %s: %s", log,
                 seglog_strerror(rc), err.message);
            break;
        }
        if (phase_of(b) == BENCH_PHASE_MEASURE)
            hist_record(w->lat, t1 - t0);
        if (a->retain_segments != 0) {
            seglog_lsn *ring = bases + (log - 1) * (BENCH_RETAIN_MAX + 1);
            uint64_t round = n / a->logs;
            seglog_lsn oldest = ring[round % a->retain_segments];
            ring[round % a->retain_segments] = tail.lsn;
            if (oldest > 1 && seglog_log_trim(b->s, log, oldest - 1, NULL, &err) != SEGLOG_OK) {
                fail(b, "sealer: seglog_log_trim log %" PRIu64 ": %s", log, err.message);
                break;
            }
        }
        if (t1 > next)
            next = t1; /* a slow seal does not cause a burst of catch-up seals */
    }
    free(bases);
    return NULL;
}

/* Tail reader: follows log 1 from LSN 1; write-to-read latency from the payload's timestamp. */
static void *tail_reader_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    seglog_error err;
    seglog_reader *r = NULL;
    int rc = seglog_reader_open(&r, b->s, 1, SEGLOG_LSN_OLDEST, SEGLOG_LSN_MAX, &err);
    if (rc != SEGLOG_OK) {
        fail(b, "tail reader: seglog_reader_open: %s: %s", seglog_strerror(rc), err.message);
        return NULL;
    }
    seglog_lsn expect = SEGLOG_LSN_OLDEST;
    while (phase_of(b) != BENCH_PHASE_STOP) {
        seglog_entry e;
        rc = seglog_reader_next(r, BENCH_READ_WAIT_MS, &e, &err);
        uint64_t t1 = bench_now_ns();
        if (rc == SEGLOG_ETIMEDOUT)
            continue;
        if (rc != SEGLOG_OK) {
            if (rc == SEGLOG_ESHUTDOWN && phase_of(b) == BENCH_PHASE_STOP)
                break;
            fail(b, "tail reader: seglog_reader_next at LSN %" PRIu64 ": %s: %s", expect,
                 seglog_strerror(rc), err.message);
            break;
        }
        if (e.kind != SEGLOG_ENTRY_RECORD || e.lsn != expect || e.len != b->a->record_bytes) {
            fail(b, "tail reader: expected record %" PRIu64 " of %" PRIu32 " B, got kind %d LSN %" PRIu64 " of %zu B",
                 expect, b->a->record_bytes, (int)e.kind, e.lsn, e.len);
            break;
        }
        expect++;
        uint64_t t0;
        memcpy(&t0, e.payload, sizeof t0);
        if (phase_of(b) == BENCH_PHASE_MEASURE && t0 >= b->measure_start_ns && t1 >= t0)
            hist_record(w->lat, t1 - t0);
    }
    seglog_reader_close(r);
    return NULL;
}

/* Async completion: runs on a store thread; records the latency and frees the slot. */
static void async_done(void *ctx, int status, seglog_lsn first, seglog_lsn last)
{
    (void)first;
    (void)last;
    slot *sl = ctx;
    bench *b = sl->b;
    uint64_t t1 = bench_now_ns();
    bool measuring = phase_of(b) == BENCH_PHASE_MEASURE;
    pthread_mutex_lock(&b->amu);
    if (status == SEGLOG_OK) {
        if (measuring && sl->t0_ns >= b->measure_start_ns)
            hist_record(b->a_lat, t1 - sl->t0_ns);
    } else if (b->a_status == SEGLOG_OK) {
        b->a_status = status;
    }
    b->free_slots[b->n_free++] = sl->idx;
    if (b->a_waiting > 0)
        pthread_cond_signal(&b->acv);
    pthread_mutex_unlock(&b->amu);
    if (status != SEGLOG_OK)
        atomic_store(&b->phase, BENCH_PHASE_STOP); /* reported by main from a_status */
}

/* Async submitter: takes a slot (waiting while all are in flight), starts one append. */
static void *submitter_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    const args *a = b->a;
    seglog_error err;
    for (uint64_t n = 0;; n++) {
        pthread_mutex_lock(&b->amu);
        while (b->n_free == 0 && phase_of(b) != BENCH_PHASE_STOP) {
            struct timespec d;
            clock_gettime(CLOCK_REALTIME, &d);
            d.tv_nsec += (long)BENCH_TICK_NS;
            if (d.tv_nsec >= 1000000000L) {
                d.tv_sec++;
                d.tv_nsec -= 1000000000L;
            }
            b->a_waiting++;
            pthread_cond_timedwait(&b->acv, &b->amu, &d);
            b->a_waiting--;
        }
        if (phase_of(b) == BENCH_PHASE_STOP) {
            pthread_mutex_unlock(&b->amu);
            break;
        }
        slot *sl = &b->slots[b->free_slots[--b->n_free]];
        pthread_mutex_unlock(&b->amu);
        bench_payload_tag(w->payload, a->record_bytes, ((uint64_t)w->id << 40) ^ n);
        seglog_buf rec = { .data = w->payload, .len = a->record_bytes };
        sl->t0_ns = bench_now_ns();
        int rc = seglog_log_append_async(b->s, w->log, &rec, 1, NULL, async_done, sl, &err);
        if (rc != SEGLOG_OK) {
            pthread_mutex_lock(&b->amu);
            b->free_slots[b->n_free++] = sl->idx;
            pthread_mutex_unlock(&b->amu);
            if (rc == SEGLOG_ESHUTDOWN && phase_of(b) == BENCH_PHASE_STOP)
                break;
            fail(b, "submitter %u: seglog_log_append_async log %" PRIu64 ": %s: %s", w->id,
                 w->log, seglog_strerror(rc), err.message);
            break;
        }
    }
    return NULL;
}

/* ---- baseline worker ----------------------------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56u - 8u * i));
}

/* RocksDB writer: Put (log, lsn) with sync=true in a loop. */
static void *putter_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    const args *a = b->a;
    uint8_t key[BENCH_KEY_BYTES];
    put_be64(key, w->log);
    for (uint64_t n = 0;; n++) {
        if (phase_of(b) == BENCH_PHASE_STOP)
            break;
        uint64_t lsn = atomic_fetch_add(&b->next_key[w->log - 1u], 1) + 1u;
        put_be64(key + 8, lsn);
        bench_payload_tag(w->payload, a->record_bytes, ((uint64_t)w->id << 40) ^ n);
        char *e = NULL;
        uint64_t t0 = bench_now_ns();
        rocksdb_put(b->db, b->wo, (const char *)key, sizeof key, (const char *)w->payload,
                    a->record_bytes, &e);
        uint64_t t1 = bench_now_ns();
        if (e != NULL) {
            fail(b, "rocksdb writer %u: rocksdb_put: %s", w->id, e);
            rocksdb_free(e);
            break;
        }
        if (phase_of(b) == BENCH_PHASE_MEASURE)
            hist_record(w->lat, t1 - t0);
    }
    return NULL;
}

/* ---- running a window ---------------------------------------------------------------------- */

static int workers_alloc(worker **out, unsigned n, bench *b, uint32_t record_bytes)
{
    worker *ws = calloc(n, sizeof *ws);
    if (ws == NULL)
        return -1;
    *out = ws;
    for (unsigned i = 0; i < n; i++) {
        ws[i].b = b;
        ws[i].id = i;
        ws[i].log = 1u + i % b->a->logs;
        ws[i].payload = malloc(record_bytes);
        ws[i].lat = calloc(1, sizeof *ws[i].lat);
        if (ws[i].payload == NULL || ws[i].lat == NULL)
            return -1;
        bench_payload_fill(ws[i].payload, record_bytes, i);
    }
    return 0;
}

static void workers_free(worker *ws, unsigned n)
{
    if (ws == NULL)
        return;
    for (unsigned i = 0; i < n; i++) {
        free(ws[i].payload);
        free(ws[i].lat);
    }
    free(ws);
}

static int start_thread(bench *b, worker *w, void *(*fn)(void *), const char *what)
{
    int e = bench_thread_start(&w->thread, BENCH_THREAD_STACK_BYTES, fn, w);
    if (e != 0) {
        fail(b, "cannot start %s thread %u: %s", what, w->id, strerror(e));
        return -1;
    }
    w->started = true;
    return 0;
}

static void join_all(worker *ws, unsigned n)
{
    for (unsigned i = 0; ws != NULL && i < n; i++) {
        if (ws[i].started) {
            pthread_join(ws[i].thread, NULL);
            ws[i].started = false;
        }
    }
}

/* The measured window: counters at its ends. */
typedef struct window {
    uint64_t t0, t1;
    struct rusage ru0, ru1;
    seglog_stats s0, s1;
    bool have_stats;
} window;

/* Warm-up, then the measured window; returns with phase STOP (the workers still to be joined). */
static void run_window(bench *b, window *win)
{
    memset(win, 0, sizeof *win);
    uint64_t start = bench_now_ns();
    while (phase_of(b) != BENCH_PHASE_STOP && bench_now_ns() < start + BENCH_WARMUP_NS)
        bench_sleep_ns(BENCH_TICK_NS);
    if (phase_of(b) == BENCH_PHASE_STOP)
        return;
    seglog_error err;
    win->have_stats = b->s != NULL && seglog_stats_get(b->s, &win->s0, &err) == SEGLOG_OK;
    getrusage(RUSAGE_SELF, &win->ru0);
    win->t0 = bench_now_ns();
    b->measure_start_ns = win->t0;
    int expected = BENCH_PHASE_WARMUP;
    atomic_compare_exchange_strong(&b->phase, &expected, BENCH_PHASE_MEASURE);
    uint64_t measure_ns = (uint64_t)(b->a->seconds * 1e9);
    for (;;) {
        uint64_t now = bench_now_ns();
        if (phase_of(b) == BENCH_PHASE_STOP || now >= win->t0 + measure_ns)
            break;
        uint64_t left = win->t0 + measure_ns - now;
        bench_sleep_ns(left < BENCH_TICK_NS ? left : BENCH_TICK_NS);
    }
    win->t1 = bench_now_ns();
    getrusage(RUSAGE_SELF, &win->ru1);
    if (win->have_stats)
        win->have_stats = seglog_stats_get(b->s, &win->s1, &err) == SEGLOG_OK;
    atomic_store(&b->phase, BENCH_PHASE_STOP);
}

static void fill_window(result *r, const window *win, const hist *lat, uint32_t record_bytes)
{
    r->secs = (double)(win->t1 - win->t0) / 1e9;
    r->ops = lat->total;
    r->ops_s = r->secs > 0 ? (double)r->ops / r->secs : 0.0;
    r->mb_s = r->ops_s * (double)record_bytes / 1e6;
    bench_latency_from_hist(&r->lat, lat);
    double cpu_s = bench_cpu_seconds(&win->ru0, &win->ru1);
    r->cpu_us_per_op = r->ops ? cpu_s * 1e6 / (double)r->ops : 0.0;
    r->cpus = r->secs > 0 ? cpu_s / r->secs : 0.0;
    if (win->have_stats) {
        uint64_t groups = win->s1.wal_groups - win->s0.wal_groups;
        uint64_t appends = win->s1.appends - win->s0.appends;
        r->recs_per_group = groups ? (double)appends / (double)groups : 0.0;
        r->fsyncs_s = r->secs > 0 ? (double)(win->s1.wal_fsyncs - win->s0.wal_fsyncs) / r->secs
                                  : 0.0;
        r->memtable_bytes = win->s1.memtable_bytes;
        r->segments = win->s1.segments;
        r->column_families = win->s1.column_families;
        r->cf_pool = win->s1.cf_pool;
    }
}

/* ---- directories --------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc != 0 && errno != ENOENT)
        fprintf(stderr, "seglog-bench: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* Removes path and everything under it; a missing path is fine. */
static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define TMPFS_MAGIC_ 0x01021994L
#define RAMFS_MAGIC_ 0x858458f6L

/* Makes sure dir exists, is a directory, and is not in memory. */
static int check_dir(const char *dir)
{
    struct stat st;
    bool created = false;
    if (stat(dir, &st) != 0) {
        created = true;
        if (errno != ENOENT || mkdir(dir, 0755) != 0 || stat(dir, &st) != 0) {
            fprintf(stderr, "seglog-bench: --dir %s: %s\n", dir, strerror(errno));
            return 2;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "seglog-bench: --dir %s: not a directory\n", dir);
        return 2;
    }
    struct statfs fs;
    if (statfs(dir, &fs) != 0) {
        fprintf(stderr, "seglog-bench: --dir %s: statfs: %s\n", dir, strerror(errno));
        return 2;
    }
    if ((long)fs.f_type == TMPFS_MAGIC_ || (long)fs.f_type == RAMFS_MAGIC_) {
        if (created)
            rmdir(dir);
        fprintf(stderr,
                "seglog-bench: --dir %s is on tmpfs/ramfs, where fsync costs nothing; use a "
                "directory on a real disk (e.g. /var/tmp/x)\n",
                dir);
        return 2;
    }
    return 0;
}

/* Deletes and recreates path. */
static int fresh_dir(const char *path)
{
    rm_tree(path);
    if (mkdir(path, 0755) != 0) {
        fprintf(stderr, "seglog-bench: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the seglog phase ---------------------------------------------------------------------- */

static int open_seglog(bench *b, const char *path)
{
    seglog_options opts;
    seglog_options_init(&opts);
    if (b->a->record_bytes > opts.record_max_bytes)
        opts.record_max_bytes = b->a->record_bytes;
    seglog_error err;
    int rc = seglog_open(&b->s, path, &opts, &err);
    if (rc != SEGLOG_OK) {
        fail(b, "seglog_open %s: %s: %s", path, seglog_strerror(rc), err.message);
        return -1;
    }
    for (unsigned i = 1; i <= b->a->logs; i++) {
        rc = seglog_log_create(b->s, i, &err);
        if (rc != SEGLOG_OK) {
            fail(b, "seglog_log_create %u: %s: %s", i, seglog_strerror(rc), err.message);
            return -1;
        }
    }
    return 0;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* append (with or without sealer) and tail: T appenders, maybe a sealer or a tail reader. */
static void seglog_appenders(bench *b, result *r)
{
    const args *a = b->a;
    worker *ws = NULL;
    worker extra = { .b = b, .id = 0, .log = 1 };
    bool have_extra = a->seal_every_ms != 0 || a->mode == MODE_TAIL;
    hist *all = calloc(1, sizeof *all);
    extra.lat = calloc(1, sizeof *extra.lat);
    if (all == NULL || extra.lat == NULL || workers_alloc(&ws, a->threads, b, a->record_bytes) != 0) {
        fail(b, "out of memory");
        goto out;
    }
    if (have_extra &&
        start_thread(b, &extra, a->mode == MODE_TAIL ? tail_reader_main : sealer_main,
                     a->mode == MODE_TAIL ? "reader" : "sealer") != 0)
        goto out;
    for (unsigned i = 0; i < a->threads; i++)
        if (start_thread(b, &ws[i], appender_main, "appender") != 0)
            goto out;
    window win;
    run_window(b, &win);
    join_all(ws, a->threads);
    join_all(&extra, 1);
    if (is_failed(b))
        goto out;
    for (unsigned i = 0; i < a->threads; i++)
        hist_merge(all, ws[i].lat);
    fill_window(r, &win, all, a->record_bytes);
    if (have_extra)
        fill_latency2(r, extra.lat);
    r->ok = true;
out:
    atomic_store(&b->phase, BENCH_PHASE_STOP);
    join_all(ws, a->threads);
    join_all(&extra, 1);
    workers_free(ws, a->threads);
    free(extra.lat);
    free(all);
}

static void seglog_async(bench *b, result *r)
{
    const args *a = b->a;
    worker *ws = NULL;
    b->slots = calloc(a->inflight, sizeof *b->slots);
    b->free_slots = calloc(a->inflight, sizeof *b->free_slots);
    b->a_lat = calloc(1, sizeof *b->a_lat);
    if (b->slots == NULL || b->free_slots == NULL || b->a_lat == NULL ||
        workers_alloc(&ws, a->threads, b, a->record_bytes) != 0) {
        fail(b, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < a->inflight; i++) {
        b->slots[i] = (slot){ .b = b, .idx = i };
        b->free_slots[i] = a->inflight - 1u - i;
    }
    b->n_free = a->inflight;
    b->a_status = SEGLOG_OK;
    for (unsigned i = 0; i < a->threads; i++)
        if (start_thread(b, &ws[i], submitter_main, "submitter") != 0)
            goto out;
    window win;
    run_window(b, &win);
    join_all(ws, a->threads);
    /* Wait for every outstanding completion: the slots must outlive the callbacks. */
    uint64_t deadline = bench_now_ns() + BENCH_DRAIN_WAIT_NS;
    for (;;) {
        pthread_mutex_lock(&b->amu);
        uint32_t n_free = b->n_free;
        pthread_mutex_unlock(&b->amu);
        if (n_free == a->inflight)
            break;
        if (bench_now_ns() >= deadline) {
            fail(b, "async: %" PRIu32 " appends still outstanding %.0f s after the stop",
                 a->inflight - n_free, (double)BENCH_DRAIN_WAIT_NS / 1e9);
            break;
        }
        bench_sleep_ns(1000000ull);
    }
    pthread_mutex_lock(&b->amu);
    int st = b->a_status;
    pthread_mutex_unlock(&b->amu);
    if (st != SEGLOG_OK)
        fail(b, "async: a completion failed: %s", seglog_strerror(st));
    if (is_failed(b))
        goto out;
    fill_window(r, &win, b->a_lat, a->record_bytes);
    r->ok = true;
out:
    atomic_store(&b->phase, BENCH_PHASE_STOP);
    join_all(ws, a->threads);
    workers_free(ws, a->threads);
}

/* read: fill log 1 with `records` in durable batches, then read them all with one reader. */
static void seglog_catchup(bench *b, result *r)
{
    const args *a = b->a;
    size_t batch_bytes = (size_t)BENCH_FILL_BATCH * a->record_bytes;
    uint8_t *data = malloc(batch_bytes);
    seglog_buf *recs = calloc(BENCH_FILL_BATCH, sizeof *recs);
    seglog_reader *rd = NULL;
    seglog_error err;
    if (data == NULL || recs == NULL) {
        fail(b, "out of memory");
        goto out;
    }
    bench_payload_fill(data, batch_bytes, 0);
    uint64_t t0 = bench_now_ns();
    for (uint64_t done = 0; done < a->records;) {
        uint64_t n = a->records - done < BENCH_FILL_BATCH ? a->records - done : BENCH_FILL_BATCH;
        for (uint64_t i = 0; i < n; i++) {
            uint8_t *p = data + i * a->record_bytes;
            bench_payload_tag(p, a->record_bytes, done + i);
            recs[i] = (seglog_buf){ .data = p, .len = a->record_bytes };
        }
        seglog_lsn first = 0;
        int rc = seglog_log_append_batch(b->s, 1, recs, (size_t)n, NULL, &first, &err);
        if (rc != SEGLOG_OK) {
            fail(b, "fill: seglog_log_append_batch at record %" PRIu64 ": %s: %s", done,
                 seglog_strerror(rc), err.message);
            goto out;
        }
        done += n;
    }
    uint64_t t1 = bench_now_ns();
    r->fill_s = (double)(t1 - t0) / 1e9;

    seglog_stats st0, st1;
    memset(&st1, 0, sizeof st1);
    bool have_stats = seglog_stats_get(b->s, &st0, &err) == SEGLOG_OK;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t t2 = bench_now_ns();
    int rc = seglog_reader_open(&rd, b->s, 1, SEGLOG_LSN_OLDEST, a->records, &err);
    if (rc != SEGLOG_OK) {
        fail(b, "catch-up: seglog_reader_open: %s: %s", seglog_strerror(rc), err.message);
        goto out;
    }
    uint64_t got = 0;
    for (;;) {
        seglog_entry e;
        rc = seglog_reader_next(rd, BENCH_CATCHUP_WAIT_MS, &e, &err);
        if (rc == SEGLOG_EEND)
            break;
        if (rc != SEGLOG_OK) {
            fail(b, "catch-up: seglog_reader_next after %" PRIu64 " records: %s: %s", got,
                 seglog_strerror(rc), err.message);
            goto out;
        }
        if (e.kind != SEGLOG_ENTRY_RECORD || e.lsn != got + 1u || e.len != a->record_bytes) {
            fail(b, "catch-up: expected record %" PRIu64 " of %" PRIu32 " B, got kind %d LSN %" PRIu64 " of %zu B",
                 got + 1u, a->record_bytes, (int)e.kind, e.lsn, e.len);
            goto out;
        }
        got++;
    }
    uint64_t t3 = bench_now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    if (got != a->records) {
        fail(b, "catch-up: read %" PRIu64 " records, wrote %" PRIu64, got, a->records);
        goto out;
    }
    if (have_stats)
        have_stats = seglog_stats_get(b->s, &st1, &err) == SEGLOG_OK;
    r->secs = (double)(t3 - t2) / 1e9;
    r->ops = got;
    r->ops_s = r->secs > 0 ? (double)got / r->secs : 0.0;
    r->mb_s = r->ops_s * (double)a->record_bytes / 1e6;
    double cpu_s = bench_cpu_seconds(&ru0, &ru1);
    r->cpu_us_per_op = cpu_s * 1e6 / (double)got;
    r->cpus = r->secs > 0 ? cpu_s / r->secs : 0.0;
    if (have_stats) {
        r->memtable_bytes = st1.memtable_bytes;
        r->segments = st1.segments;
        r->column_families = st1.column_families;
        r->cf_pool = st1.cf_pool;
    }
    r->ok = true;
out:
    seglog_reader_close(rd);
    free(recs);
    free(data);
}

static void run_seglog(bench *b, const char *path, result *r)
{
    memset(r, 0, sizeof *r);
    r->seglog = true;
    r->threads = b->a->threads;
    atomic_store(&b->phase, BENCH_PHASE_WARMUP);
    if (fresh_dir(path) != 0) {
        fail(b, "cannot create %s", path);
        return;
    }
    if (open_seglog(b, path) == 0) {
        switch (b->a->mode) {
        case MODE_APPEND:
        case MODE_SEAL:
        case MODE_TAIL:
            seglog_appenders(b, r);
            break;
        case MODE_ASYNC:
            seglog_async(b, r);
            break;
        case MODE_READ:
            seglog_catchup(b, r);
            break;
        }
    }
    seglog_close(b->s); /* finishes every accepted append, so the async slots may go now */
    b->s = NULL;
    r->rss_kib = peak_rss_kib();
}

/* ---- the RocksDB phase --------------------------------------------------------------------- */

static int open_rocksdb(bench *b, const char *path)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    char *e = NULL;
    b->db = rocksdb_open(o, path, &e);
    rocksdb_options_destroy(o);
    if (e != NULL) {
        fail(b, "rocksdb_open %s: %s", path, e);
        rocksdb_free(e);
        b->db = NULL;
        return -1;
    }
    b->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(b->wo, 1);
    return 0;
}

static void rocksdb_putters(bench *b, result *r)
{
    const args *a = b->a;
    unsigned n = a->baseline_threads;
    worker *ws = NULL;
    hist *all = calloc(1, sizeof *all);
    if (all == NULL || workers_alloc(&ws, n, b, a->record_bytes) != 0) {
        fail(b, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < n; i++)
        if (start_thread(b, &ws[i], putter_main, "rocksdb writer") != 0)
            goto out;
    window win;
    run_window(b, &win);
    join_all(ws, n);
    if (is_failed(b))
        goto out;
    for (unsigned i = 0; i < n; i++)
        hist_merge(all, ws[i].lat);
    fill_window(r, &win, all, a->record_bytes);
    r->ok = true;
out:
    atomic_store(&b->phase, BENCH_PHASE_STOP);
    join_all(ws, n);
    workers_free(ws, n);
    free(all);
}

/* read baseline: the same records in sync'ed 256-record write batches, then one iterator. */
static void rocksdb_catchup(bench *b, result *r)
{
    const args *a = b->a;
    uint8_t *payload = malloc(a->record_bytes);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = NULL;
    if (payload == NULL) {
        fail(b, "out of memory");
        goto out;
    }
    bench_payload_fill(payload, a->record_bytes, 0);
    uint8_t key[BENCH_KEY_BYTES];
    put_be64(key, 1);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < a->records; i++) {
        put_be64(key + 8, i + 1u);
        bench_payload_tag(payload, a->record_bytes, i);
        rocksdb_writebatch_put(wb, (const char *)key, sizeof key, (const char *)payload,
                               a->record_bytes);
        if ((i + 1u) % BENCH_FILL_BATCH == 0 || i + 1u == a->records) {
            char *e = NULL;
            rocksdb_write(b->db, b->wo, wb, &e);
            if (e != NULL) {
                fail(b, "rocksdb fill: rocksdb_write at record %" PRIu64 ": %s", i, e);
                rocksdb_free(e);
                goto out;
            }
            rocksdb_writebatch_clear(wb);
        }
    }
    uint64_t t1 = bench_now_ns();
    r->fill_s = (double)(t1 - t0) / 1e9;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t t2 = bench_now_ns();
    it = rocksdb_create_iterator(b->db, ro);
    uint64_t got = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t vlen = 0;
        const char *v = rocksdb_iter_value(it, &vlen);
        if (v == NULL || vlen != a->record_bytes) {
            fail(b, "rocksdb catch-up: record %" PRIu64 " has %zu bytes", got + 1u, vlen);
            goto out;
        }
        got++;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e != NULL) {
        fail(b, "rocksdb catch-up: iterator: %s", e);
        rocksdb_free(e);
        goto out;
    }
    uint64_t t3 = bench_now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    if (got != a->records) {
        fail(b, "rocksdb catch-up: read %" PRIu64 " records, wrote %" PRIu64, got, a->records);
        goto out;
    }
    r->secs = (double)(t3 - t2) / 1e9;
    r->ops = got;
    r->ops_s = r->secs > 0 ? (double)got / r->secs : 0.0;
    r->mb_s = r->ops_s * (double)a->record_bytes / 1e6;
    double cpu_s = bench_cpu_seconds(&ru0, &ru1);
    r->cpu_us_per_op = cpu_s * 1e6 / (double)got;
    r->cpus = r->secs > 0 ? cpu_s / r->secs : 0.0;
    r->ok = true;
out:
    if (it != NULL)
        rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_writebatch_destroy(wb);
    free(payload);
}

static void run_rocksdb(bench *b, const char *path, result *r)
{
    memset(r, 0, sizeof *r);
    r->threads = b->a->mode == MODE_READ ? 1u : b->a->baseline_threads;
    atomic_store(&b->phase, BENCH_PHASE_WARMUP);
    if (fresh_dir(path) != 0) {
        fail(b, "cannot create %s", path);
        return;
    }
    if (open_rocksdb(b, path) == 0) {
        if (b->a->mode == MODE_READ)
            rocksdb_catchup(b, r);
        else
            rocksdb_putters(b, r);
    }
    if (b->wo != NULL)
        rocksdb_writeoptions_destroy(b->wo);
    b->wo = NULL;
    if (b->db != NULL)
        rocksdb_close(b->db);
    b->db = NULL;
}

/* ---- report -------------------------------------------------------------------------------- */

static const char *verdict(bool ok)
{
    return ok ? "PASS" : "MISS";
}

static const char *mode_label(const args *a)
{
    if (a->mode == MODE_APPEND && a->seal_every_ms != 0)
        return "seal";
    return MODE_NAMES[a->mode];
}

static void json_result(const char *name, const result *r)
{
    printf("\"%s\":{\"threads\":%u,\"seconds\":%.3f,\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,"
           "\"mb_per_s\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"mean_us\":%.1f,"
           "\"max_us\":%.1f,\"cpu_us_per_op\":%.2f,\"cpus_busy\":%.2f",
           name, r->threads, r->secs, r->ops, r->ops_s, r->mb_s, r->lat.p50_us, r->lat.p99_us,
           r->lat.p999_us, r->lat.mean_us, r->lat.max_us, r->cpu_us_per_op, r->cpus);
    if (r->fill_s > 0)
        printf(",\"fill_seconds\":%.3f", r->fill_s);
    if (r->seglog) {
        printf(",\"peak_rss_kib\":%ld,\"memtable_bytes\":%" PRIu64 ",\"segments\":%" PRIu64
               ",\"column_families\":%" PRIu64 ",\"cf_pool\":%" PRIu64
               ",\"records_per_group\":%.2f,\"fsyncs_per_s\":%.1f",
               r->rss_kib, r->memtable_bytes, r->segments, r->column_families, r->cf_pool,
               r->recs_per_group, r->fsyncs_s);
    }
    printf("}");
}

/* One line of the text table; read mode times the whole scan, so it has no latencies. */
static void text_row(const char *name, const args *a, const result *r)
{
    if (a->mode == MODE_READ)
        printf("  %-28s %12.0f %9.1f %9s %9s %9s %8.2f\n", name, r->ops_s, r->mb_s, "-", "-", "-",
               r->cpu_us_per_op);
    else
        printf("  %-28s %12.0f %9.1f %9.1f %9.1f %9.1f %8.2f\n", name, r->ops_s, r->mb_s,
               r->lat.p50_us, r->lat.p99_us, r->lat.p999_us, r->cpu_us_per_op);
}

static void report(const args *a, const result *s, const result *rb, bool have_base)
{
    double ratio = have_base && rb->ops_s > 0 ? s->ops_s / rb->ops_s : 0.0;
    bool tail = a->mode == MODE_TAIL;
    bool seal = a->mode == MODE_APPEND && a->seal_every_ms != 0;
    bool append_target = a->mode == MODE_APPEND && !seal && a->threads == TARGET_APPEND_THREADS &&
                         a->record_bytes == TARGET_APPEND_RECORD_BYTES && have_base;
    bool rss_ok = (unsigned long long)s->rss_kib < TARGET_RSS_KIB;
    if (a->json) {
        printf("{\"tool\":\"seglog-bench\",\"mode\":\"%s\",\"record_bytes\":%" PRIu32
               ",\"threads\":%u,\"logs\":%u",
               mode_label(a), a->record_bytes, a->threads, a->logs);
        if (a->mode == MODE_ASYNC)
            printf(",\"inflight\":%" PRIu32, a->inflight);
        if (seal)
            printf(",\"seal_every_ms\":%" PRIu32 ",\"retain_segments\":%" PRIu32,
                   a->seal_every_ms, a->retain_segments);
        if (a->mode == MODE_READ)
            printf(",\"records\":%" PRIu64, a->records);
        printf(",");
        json_result("seglog", s);
        if (have_base) {
            printf(",");
            json_result("rocksdb", rb);
            printf(",\"ratio\":%.3f", ratio);
        }
        if (seal)
            printf(",\"seal_extend\":{\"count\":%" PRIu64 ",\"p50_us\":%.1f,\"p99_us\":%.1f,"
                   "\"p999_us\":%.1f,\"max_us\":%.1f}",
                   s->n2, s->lat2.p50_us, s->lat2.p99_us, s->lat2.p999_us, s->lat2.max_us);
        if (tail)
            printf(",\"write_to_read\":{\"count\":%" PRIu64 ",\"p50_us\":%.1f,\"p99_us\":%.1f,"
                   "\"p999_us\":%.1f,\"max_us\":%.1f}",
                   s->n2, s->lat2.p50_us, s->lat2.p99_us, s->lat2.p999_us, s->lat2.max_us);
        printf(",\"targets\":{");
        const char *sep = "";
        if (append_target) {
            printf("%s\"append_ratio_ge_8\":\"%s\"", sep, verdict(ratio >= TARGET_APPEND_RATIO));
            sep = ",";
        }
        if (seal) {
            printf("%s\"seal_p99_le_5ms\":\"%s\"", sep,
                   verdict(s->lat2.p99_us <= TARGET_SEAL_P99_US));
            sep = ",";
        }
        if (tail) {
            printf("%s\"tail_p50_le_200us\":\"%s\"", sep,
                   verdict(s->lat2.p50_us <= TARGET_TAIL_P50_US));
            sep = ",";
        }
        printf("%s\"rss_lt_512mib\":\"%s\"}}\n", sep, verdict(rss_ok));
        fflush(stdout);
        return;
    }

    printf("seglog-bench %s: %" PRIu32 " B records, %u thread%s over %u log%s", mode_label(a),
           a->record_bytes, a->threads, a->threads == 1 ? "" : "s", a->logs,
           a->logs == 1 ? "" : "s");
    if (a->mode == MODE_ASYNC)
        printf(", %" PRIu32 " in flight", a->inflight);
    if (seal)
        printf(", seal+extend every %" PRIu32 " ms", a->seal_every_ms);
    if (seal && a->retain_segments != 0)
        printf(" (trimmed to the last %" PRIu32 " segments)", a->retain_segments);
    if (a->mode == MODE_READ)
        printf(", %" PRIu64 " records", a->records);
    else
        printf(", %.1f s measured (+0.5 s warm-up)", a->seconds);
    printf("\n");
    const char *unit = a->mode == MODE_READ ? "reads/s" : "appends/s";
    printf("  %-28s %12s %9s %9s %9s %9s %8s\n", "", unit, "MB/s", "p50 us", "p99 us",
           "p99.9 us", "cpu us");
    text_row("seglog", a, s);
    if (have_base) {
        char name[64];
        snprintf(name, sizeof name, "rocksdb %s (%u thr)",
                 a->mode == MODE_READ ? "iterator" : "put sync", rb->threads);
        text_row(name, a, rb);
        printf("  ratio seglog / rocksdb      %12.2f\n", ratio);
    }
    if (a->mode == MODE_READ)
        printf("  fill (256-record durable batches): seglog %.2f s%s", s->fill_s,
               have_base ? "" : "\n");
    if (a->mode == MODE_READ && have_base)
        printf(", rocksdb %.2f s\n", rb->fill_s);
    if (seal)
        printf("  seal+extend us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%" PRIu64 " calls)\n",
               s->lat2.p50_us, s->lat2.p99_us, s->lat2.p999_us, s->lat2.max_us, s->n2);
    if (tail) {
        printf("  write-to-read us  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%" PRIu64
               " records)\n",
               s->lat2.p50_us, s->lat2.p99_us, s->lat2.p999_us, s->lat2.max_us, s->n2);
        if (have_base && rb->lat.p50_us > 0)
            printf("  write-to-read p50 / rocksdb put sync p50 = %.2f\n",
                   s->lat2.p50_us / rb->lat.p50_us);
    }
    if (a->mode != MODE_READ)
        printf("  wal: %.1f records/group, %.0f fsyncs/s; ", s->recs_per_group, s->fsyncs_s);
    else
        printf("  ");
    printf("memtables %.1f MiB; %" PRIu64 " segments, %" PRIu64 " CFs (%" PRIu64
           " pooled); peak RSS %.1f MiB; %.2f CPUs busy\n",
           (double)s->memtable_bytes / 1048576.0, s->segments, s->column_families, s->cf_pool,
           (double)s->rss_kib / 1024.0, s->cpus);
    if (append_target)
        printf("  target: appends/s >= %.0fx rocksdb at %u threads, 1 KiB: %.2fx %s\n",
               TARGET_APPEND_RATIO, TARGET_APPEND_THREADS, ratio,
               verdict(ratio >= TARGET_APPEND_RATIO));
    if (seal)
        printf("  target: seal+extend p99 <= %.0f us: %.1f us %s\n", TARGET_SEAL_P99_US,
               s->lat2.p99_us, verdict(s->lat2.p99_us <= TARGET_SEAL_P99_US));
    if (tail)
        printf("  target: write-to-read p50 <= %.0f us: %.1f us %s\n", TARGET_TAIL_P50_US,
               s->lat2.p50_us, verdict(s->lat2.p50_us <= TARGET_TAIL_P50_US));
    printf("  target: peak RSS < 512 MiB: %.1f MiB %s\n", (double)s->rss_kib / 1024.0,
           verdict(rss_ok));
    fflush(stdout);
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    if ((rc = check_dir(a.dir)) != 0)
        return rc;
    char store_dir[PATH_MAX], rocks_dir[PATH_MAX];
    int n1 = snprintf(store_dir, sizeof store_dir, "%s/seglog-bench.store", a.dir);
    int n2 = snprintf(rocks_dir, sizeof rocks_dir, "%s/seglog-bench.rocksdb", a.dir);
    if (n1 < 0 || (size_t)n1 >= sizeof store_dir || n2 < 0 || (size_t)n2 >= sizeof rocks_dir) {
        fprintf(stderr, "seglog-bench: --dir %s: path too long\n", a.dir);
        return 2;
    }

    bench b;
    memset(&b, 0, sizeof b);
    b.a = &a;
    atomic_init(&b.phase, BENCH_PHASE_WARMUP);
    pthread_mutex_init(&b.amu, NULL);
    pthread_cond_init(&b.acv, NULL);
    pthread_mutex_init(&b.fail_mu, NULL);
    b.next_key = calloc(a.logs, sizeof *b.next_key);
    if (b.next_key == NULL) {
        fprintf(stderr, "seglog-bench: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < a.logs; i++)
        atomic_init(&b.next_key[i], 0);

    int exit_code = 1;
    result rs, rb;
    memset(&rb, 0, sizeof rb);
    run_seglog(&b, store_dir, &rs);
    if (is_failed(&b)) {
        fprintf(stderr, "seglog-bench: seglog %s: %s\n", mode_label(&a), b.fail_msg);
        goto out;
    }
    if (!a.keep)
        rm_tree(store_dir);
    if (a.baseline) {
        run_rocksdb(&b, rocks_dir, &rb);
        if (is_failed(&b)) {
            fprintf(stderr, "seglog-bench: rocksdb baseline: %s\n", b.fail_msg);
            goto out;
        }
    }
    report(&a, &rs, &rb, a.baseline);
    exit_code = 0;
out:
    if (!a.keep) {
        rm_tree(store_dir);
        rm_tree(rocks_dir);
    }
    free(b.slots);
    free(b.free_slots);
    free(b.a_lat);
    free(b.next_key);
    pthread_mutex_destroy(&b.amu);
    pthread_cond_destroy(&b.acv);
    pthread_mutex_destroy(&b.fail_mu);
    return exit_code;
}
