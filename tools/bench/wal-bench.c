/*
 * wal-bench — measures seglog's write-ahead log (wal/wal.h) alone, without RocksDB or the log store.
 *
 * What it measures: N producer threads each loop wal_append_sync() of one record of a fixed size,
 * for a fixed time after a 0.5 s warm-up, on a WAL opened fresh in a new subdirectory of --dir.
 * It reports durable appends per second, payload MB/s (10^6 bytes), the latency of one
 * wal_append_sync() call (queue + group commit + write + fdatasync + wake-up) as p50/p99/p99.9,
 * and, from wal_stats_get(), how many records went into one group and how many fdatasyncs and
 * writes per second the WAL issued. The main thread calls wal_checkpoint() with the durable
 * sequence every 0.5 s, as the storage layer would, so WAL files are recycled as in real use.
 *
 * Why: the WAL is the durability path of every append. DESIGN.md's measured facts say one flush
 * per group caps a single writer at a few thousand appends per second and that throughput must
 * come from many appends per group with several groups in flight. This tool gives the figures
 * to compare with fio on the same directory (tools/bench-wal.sh does that) and to choose the
 * defaults: linked fdatasync or RWF_DSYNC, buffered or O_DIRECT, groups in flight, group size.
 *
 * Latency is kept per thread in a log-linear histogram (HdrHistogram-like: 128 linear
 * sub-buckets per power of two, so any value is known to within 1/128 < 1%; values in ns up to
 * 2^40 ns, about 18 minutes; fixed size, no allocation while measuring) and merged at the end.
 * An append counts as measured when it completes inside the measurement window. The process's
 * CPU time and context switches over the window (getrusage: producers, WAL thread and preparer
 * together) are reported per append, since on a small machine the limit is often CPU, not disk.
 *
 * Exit status: 0 on success, 1 on a WAL error (printed with its seglog code and message),
 * 2 on bad arguments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "seglog.h"
#include "bench_util.h"
#include "wal.h"

#define TOOL "wal-bench" /* the prefix of its messages */

/* Limits, each with its unit. */
#define BENCH_PRODUCERS_MAX 4096u
#define BENCH_CHECKPOINT_INTERVAL_NS 500000000ull /* wal_checkpoint every 0.5 s */
#define BENCH_THREAD_STACK_BYTES (256u << 10)
#define BENCH_RECORD_TYPE WAL_TYPE_USER_MIN

/* Shared by main and the producers. phase is the only field written after the threads start. */
typedef struct bench {
    wal *w;                 /* immutable while producers run */
    uint32_t record_bytes;  /* immutable */
    _Atomic int phase;      /* BENCH_PHASE_*: main writes, producers read */
} bench;

/* One producer. Owned by its thread until joined; main reads it only after pthread_join. */
typedef struct producer {
    bench *b;
    pthread_t thread;
    unsigned id;
    uint8_t *payload;  /* record_bytes, never all zeros */
    hist *lat;         /* latencies of appends completed while measuring */
    uint64_t measured; /* appends completed while measuring (== lat->total) */
    int rc;            /* first error, or SEGLOG_OK */
    seglog_error err;  /* its details */
} producer;

static void *producer_main(void *arg)
{
    producer *p = arg;
    bench *b = p->b;
    uint64_t n = 0;
    for (;;) {
        int phase = atomic_load_explicit(&b->phase, memory_order_relaxed);
        if (phase == BENCH_PHASE_STOP)
            break;
        /* Vary the first bytes so no two records are identical; the rest stays non-zero. */
        bench_payload_tag(p->payload, b->record_bytes, ((uint64_t)p->id << 48) ^ n);
        uint64_t seq = 0;
        uint64_t t0 = bench_now_ns();
        int rc = wal_append_sync(b->w, BENCH_RECORD_TYPE, p->payload, b->record_bytes, &seq,
                                 &p->err);
        uint64_t t1 = bench_now_ns();
        if (rc != SEGLOG_OK) {
            p->rc = rc;
            atomic_store(&b->phase, BENCH_PHASE_STOP);
            break;
        }
        n++;
        if (atomic_load_explicit(&b->phase, memory_order_relaxed) == BENCH_PHASE_MEASURE) {
            hist_record(p->lat, t1 - t0);
            p->measured++;
        }
    }
    return NULL;
}

/* ---- arguments ---- */

typedef struct args {
    const char *dir;
    uint32_t record_bytes;
    unsigned producers;
    double seconds;
    bool json;
    bool have_sync;
    wal_sync_mode sync_mode;
    int direct; /* -1: WAL default, 0: buffered, 1: O_DIRECT */
    int prewrite; /* -1: WAL default, 0: no, 1: yes */
    uint32_t inflight;        /* 0: WAL default */
    uint32_t group_max_bytes; /* 0: WAL default */
    uint64_t file_size;       /* 0: WAL default */
} args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wal-bench --dir DIR [options]\n"
            "\n"
            "Benchmarks seglog's write-ahead log: producer threads loop wal_append_sync() of one\n"
            "record each for a fixed time (after a 0.5 s warm-up) on a fresh WAL in a new\n"
            "subdirectory DIR/wal-bench.PID, which is removed afterwards. Prints appends/s,\n"
            "payload MB/s (10^6 B), append latency p50/p99/p99.9 in microseconds, records per\n"
            "group and fdatasyncs/s.\n"
            "\n"
            "options:\n"
            "  --dir DIR              directory to put the WAL in (required; must exist)\n"
            "  --record-bytes N       payload bytes per record (default 1024)\n"
            "  --producers N          producer threads (default 1, at most %u)\n"
            "  --seconds S            measured seconds, decimals allowed (default 5)\n"
            "  --sync linked|dsync    linked write+fdatasync or RWF_DSYNC writes (default: WAL's)\n"
            "  --direct               O_DIRECT WAL files\n"
            "  --buffered             buffered WAL files (default: WAL's)\n"
            "  --no-prewrite          do not zero-fill new WAL files (default: WAL's)\n"
            "  --inflight N           groups in flight, 1..%u (default %u)\n"
            "  --group-max-bytes N    bytes of frames per group (default %u)\n"
            "  --file-size N          bytes per WAL file (default %u, at least %u)\n"
            "  --json                 one line of JSON instead of the table\n"
            "  -h, --help             this text\n"
            "Sizes accept a K, M or G suffix (powers of 1024).\n",
            BENCH_PRODUCERS_MAX, WAL_INFLIGHT_GROUPS_MAX, WAL_INFLIGHT_GROUPS_DEFAULT,
            WAL_GROUP_MAX_BYTES_DEFAULT, WAL_FILE_SIZE_DEFAULT_BYTES, WAL_FILE_SIZE_MIN_BYTES);
}

enum {
    OPT_DIR = 256,
    OPT_RECORD_BYTES,
    OPT_PRODUCERS,
    OPT_SECONDS,
    OPT_SYNC,
    OPT_DIRECT,
    OPT_BUFFERED,
    OPT_NO_PREWRITE,
    OPT_INFLIGHT,
    OPT_GROUP_MAX_BYTES,
    OPT_FILE_SIZE,
    OPT_JSON,
};

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, OPT_DIR },
        { "record-bytes", required_argument, NULL, OPT_RECORD_BYTES },
        { "producers", required_argument, NULL, OPT_PRODUCERS },
        { "seconds", required_argument, NULL, OPT_SECONDS },
        { "sync", required_argument, NULL, OPT_SYNC },
        { "direct", no_argument, NULL, OPT_DIRECT },
        { "buffered", no_argument, NULL, OPT_BUFFERED },
        { "no-prewrite", no_argument, NULL, OPT_NO_PREWRITE },
        { "inflight", required_argument, NULL, OPT_INFLIGHT },
        { "group-max-bytes", required_argument, NULL, OPT_GROUP_MAX_BYTES },
        { "file-size", required_argument, NULL, OPT_FILE_SIZE },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    memset(a, 0, sizeof *a);
    a->record_bytes = 1024;
    a->producers = 1;
    a->seconds = 5.0;
    a->direct = -1;
    a->prewrite = -1;
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
            a->dir = optarg;
            break;
        case OPT_RECORD_BYTES:
            if ((rc = bench_parse_size(&v, TOOL, "--record-bytes", optarg, 1, UINT32_MAX)) != 0)
                return rc;
            a->record_bytes = (uint32_t)v;
            break;
        case OPT_PRODUCERS:
            if ((rc = bench_parse_size(&v, TOOL, "--producers", optarg, 1,
                                       BENCH_PRODUCERS_MAX)) != 0)
                return rc;
            a->producers = (unsigned)v;
            break;
        case OPT_SECONDS:
            if ((rc = bench_parse_seconds(&a->seconds, TOOL, optarg)) != 0)
                return rc;
            break;
        case OPT_SYNC:
            if (strcmp(optarg, "linked") == 0)
                a->sync_mode = WAL_SYNC_LINKED_FDATASYNC;
            else if (strcmp(optarg, "dsync") == 0)
                a->sync_mode = WAL_SYNC_RWF_DSYNC;
            else
                return bench_arg_error(TOOL, "--sync", optarg, "expected linked or dsync");
            a->have_sync = true;
            break;
        case OPT_DIRECT:
            a->direct = 1;
            break;
        case OPT_BUFFERED:
            a->direct = 0;
            break;
        case OPT_NO_PREWRITE:
            a->prewrite = 0;
            break;
        case OPT_INFLIGHT:
            if ((rc = bench_parse_size(&v, TOOL, "--inflight", optarg, 1,
                                       WAL_INFLIGHT_GROUPS_MAX)) != 0)
                return rc;
            a->inflight = (uint32_t)v;
            break;
        case OPT_GROUP_MAX_BYTES:
            if ((rc = bench_parse_size(&v, TOOL, "--group-max-bytes", optarg, 4096,
                                       UINT32_MAX)) != 0)
                return rc;
            a->group_max_bytes = (uint32_t)v;
            break;
        case OPT_FILE_SIZE:
            if ((rc = bench_parse_size(&v, TOOL, "--file-size", optarg, WAL_FILE_SIZE_MIN_BYTES,
                                       UINT64_MAX / 2)) != 0)
                return rc;
            a->file_size = v;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        default: /* ':' or an unknown option */
            return bench_getopt_error(TOOL, c, argv);
        }
    }
    return bench_args_finish(TOOL, argc, argv, a->dir);
}

/* Removes the regular files in dir (the WAL's, which this run created), then dir itself. */
static void remove_run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "wal-bench: cannot clean %s: %s\n", dir, strerror(errno));
        return;
    }
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dfd, e->d_name, 0) != 0)
            fprintf(stderr, "wal-bench: cannot remove %s/%s: %s\n", dir, e->d_name,
                    strerror(errno));
    }
    closedir(d);
    if (rmdir(dir) != 0)
        fprintf(stderr, "wal-bench: cannot remove %s: %s\n", dir, strerror(errno));
}

static const char *sync_name(wal_sync_mode m)
{
    return m == WAL_SYNC_RWF_DSYNC ? "dsync" : "linked";
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;

    wal_options opts;
    wal_options_init(&opts);
    if (a.have_sync)
        opts.sync_mode = a.sync_mode;
    if (a.direct >= 0)
        opts.direct_io = a.direct == 1;
    if (a.prewrite >= 0)
        opts.prewrite_files = a.prewrite == 1;
    if (a.inflight != 0)
        opts.inflight_groups = a.inflight;
    if (a.group_max_bytes != 0)
        opts.group_max_bytes = a.group_max_bytes;
    if (a.file_size != 0)
        opts.file_size_bytes = a.file_size;
    if (a.record_bytes > opts.record_max_bytes) {
        /* Let a large record through if a group can hold it; the WAL checks the rest. */
        if (opts.group_max_bytes < WAL_FRAME_HEADER_BYTES ||
            a.record_bytes > opts.group_max_bytes - WAL_FRAME_HEADER_BYTES) {
            fprintf(stderr,
                    "wal-bench: --record-bytes %" PRIu32 " does not fit a group of %" PRIu32
                    " bytes (frame header %u); raise --group-max-bytes\n",
                    a.record_bytes, opts.group_max_bytes, WAL_FRAME_HEADER_BYTES);
            return 2;
        }
        opts.record_max_bytes = a.record_bytes;
    }

    struct stat st;
    if (stat(a.dir, &st) != 0) {
        fprintf(stderr, "wal-bench: --dir %s: %s\n", a.dir, strerror(errno));
        return 2;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "wal-bench: --dir %s: not a directory\n", a.dir);
        return 2;
    }
    char run_dir[PATH_MAX];
    int n = snprintf(run_dir, sizeof run_dir, "%s/wal-bench.%ld", a.dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof run_dir) {
        fprintf(stderr, "wal-bench: --dir %s: path too long\n", a.dir);
        return 2;
    }
    if (mkdir(run_dir, 0755) != 0) {
        fprintf(stderr, "wal-bench: cannot create %s: %s\n", run_dir, strerror(errno));
        return 1;
    }

    int exit_code = 1;
    bench b = { .w = NULL, .record_bytes = a.record_bytes };
    atomic_init(&b.phase, BENCH_PHASE_WARMUP);
    producer *prods = NULL;
    unsigned started = 0;
    wal_stats s0, s1; /* WAL counters at the start and the end of the measurement */
    uint64_t t0 = 0, t1 = 0; /* the measurement window, CLOCK_MONOTONIC ns */
    memset(&s0, 0, sizeof s0);
    memset(&s1, 0, sizeof s1);
    struct rusage ru0, ru1; /* process CPU time and context switches, same window */
    memset(&ru0, 0, sizeof ru0);
    memset(&ru1, 0, sizeof ru1);
    seglog_error err;
    memset(&err, 0, sizeof err);
    wal_scan_report report;
    rc = wal_open(&b.w, run_dir, &opts, 0, NULL, NULL, &report, &err);
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "wal-bench: wal_open %s: %s: %s\n", run_dir, seglog_strerror(rc),
                err.message);
        goto out_dir;
    }

    prods = calloc(a.producers, sizeof *prods);
    if (prods == NULL) {
        fprintf(stderr, "wal-bench: out of memory\n");
        goto out_wal;
    }
    for (unsigned i = 0; i < a.producers; i++) {
        producer *p = &prods[i];
        p->b = &b;
        p->id = i;
        p->payload = malloc(a.record_bytes);
        p->lat = calloc(1, sizeof *p->lat);
        if (p->payload == NULL || p->lat == NULL) {
            fprintf(stderr, "wal-bench: out of memory\n");
            goto out_threads;
        }
        bench_payload_fill(p->payload, a.record_bytes, i);
    }

    for (; started < a.producers; started++) {
        int e = bench_thread_start(&prods[started].thread, BENCH_THREAD_STACK_BYTES, producer_main,
                                   &prods[started]);
        if (e != 0) {
            fprintf(stderr, "wal-bench: cannot start producer %u: %s\n", started, strerror(e));
            break;
        }
    }
    if (started < a.producers) {
        atomic_store(&b.phase, BENCH_PHASE_STOP);
        goto out_threads;
    }

    /* Warm up, then measure; checkpoint the durable sequence every interval throughout. */
    uint64_t t_start = bench_now_ns();
    uint64_t measure_ns = (uint64_t)(a.seconds * 1e9);
    uint64_t next_ckpt = t_start + BENCH_CHECKPOINT_INTERVAL_NS;
    bool measuring = false;
    for (;;) {
        uint64_t now = bench_now_ns();
        if (atomic_load(&b.phase) == BENCH_PHASE_STOP) /* a producer failed */
            break;
        if (!measuring && now >= t_start + BENCH_WARMUP_NS) {
            wal_stats_get(b.w, &s0);
            getrusage(RUSAGE_SELF, &ru0);
            t0 = bench_now_ns();
            atomic_store(&b.phase, BENCH_PHASE_MEASURE);
            measuring = true;
            now = t0;
        }
        if (measuring && now >= t0 + measure_ns) {
            atomic_store(&b.phase, BENCH_PHASE_STOP);
            t1 = bench_now_ns();
            getrusage(RUSAGE_SELF, &ru1);
            wal_stats_get(b.w, &s1);
            break;
        }
        if (now >= next_ckpt) {
            wal_stats ck;
            wal_stats_get(b.w, &ck);
            wal_checkpoint(b.w, ck.durable_seq);
            next_ckpt += BENCH_CHECKPOINT_INTERVAL_NS;
        }
        uint64_t wake = next_ckpt;
        uint64_t phase_end = measuring ? t0 + measure_ns : t_start + BENCH_WARMUP_NS;
        if (phase_end < wake)
            wake = phase_end;
        now = bench_now_ns();
        bench_sleep_ns(wake > now ? (wake - now < 10000000ull ? wake - now : 10000000ull) : 0);
    }

out_threads:
    for (unsigned i = 0; i < started; i++)
        pthread_join(prods[i].thread, NULL);
    bool failed = started < a.producers || prods == NULL;
    if (prods != NULL) {
        for (unsigned i = 0; i < started; i++) {
            if (prods[i].rc != SEGLOG_OK) {
                fprintf(stderr, "wal-bench: producer %u: wal_append_sync: %s: %s\n", i,
                        seglog_strerror(prods[i].rc), prods[i].err.message);
                failed = true;
            }
        }
    }
    if (!failed && t1 > t0) {
        hist *all = calloc(1, sizeof *all);
        if (all == NULL) {
            fprintf(stderr, "wal-bench: out of memory\n");
            goto out_free;
        }
        for (unsigned i = 0; i < a.producers; i++)
            hist_merge(all, prods[i].lat);
        double secs = (double)(t1 - t0) / 1e9;
        double appends_s = (double)all->total / secs;
        double mb_s = (double)all->total * (double)a.record_bytes / 1e6 / secs;
        bench_latency lat;
        bench_latency_from_hist(&lat, all);
        uint64_t d_groups = s1.groups - s0.groups;
        uint64_t d_records = s1.records - s0.records;
        double per_group = d_groups ? (double)d_records / (double)d_groups : 0.0;
        double groups_s = (double)d_groups / secs;
        double fsyncs_s = (double)(s1.fsyncs_submitted - s0.fsyncs_submitted) / secs;
        double writes_s = (double)(s1.writes_submitted - s0.writes_submitted) / secs;
        double wal_mb_s = (double)(s1.bytes - s0.bytes) / 1e6 / secs;
        double cpu_s = bench_cpu_seconds(&ru0, &ru1);
        double n_appends = all->total ? (double)all->total : 1.0;
        double cpu_us_per_append = cpu_s * 1e6 / n_appends;
        double cpu_util = cpu_s / secs; /* in CPUs */
        double csw_per_append =
            (double)((ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw)) / n_appends;
        if (a.json) {
            printf("{\"tool\":\"wal-bench\",\"record_bytes\":%" PRIu32 ",\"producers\":%u,"
                   "\"sync\":\"%s\",\"direct\":%s,\"prewrite\":%s,\"inflight\":%" PRIu32
                   ",\"group_max_bytes\":%" PRIu32 ",\"file_size_bytes\":%" PRIu64
                   ",\"seconds\":%.3f,\"appends\":%" PRIu64 ",\"appends_per_s\":%.1f,"
                   "\"mb_per_s\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
                   "\"mean_us\":%.1f,\"max_us\":%.1f,\"records_per_group\":%.2f,"
                   "\"groups_per_s\":%.1f,\"fsyncs_per_s\":%.1f,\"writes_per_s\":%.1f,"
                   "\"wal_mb_per_s\":%.2f,\"cpu_us_per_append\":%.2f,\"cpus_busy\":%.2f,"
                   "\"ctx_switches_per_append\":%.2f,\"short_writes\":%" PRIu64 ",\"rotations\":%" PRIu64
                   ",\"files_created\":%" PRIu64 ",\"files_recycled\":%" PRIu64
                   ",\"files_removed\":%" PRIu64 "}\n",
                   a.record_bytes, a.producers, sync_name(opts.sync_mode),
                   opts.direct_io ? "true" : "false", opts.prewrite_files ? "true" : "false",
                   opts.inflight_groups, opts.group_max_bytes, opts.file_size_bytes, secs,
                   all->total, appends_s, mb_s, lat.p50_us, lat.p99_us, lat.p999_us, lat.mean_us,
                   lat.max_us, per_group, groups_s,
                   fsyncs_s, writes_s, wal_mb_s, cpu_us_per_append, cpu_util, csw_per_append,
                   s1.short_writes - s0.short_writes, s1.rotations,
                   s1.files_created, s1.files_recycled, s1.files_removed);
        } else {
            printf("wal-bench: %" PRIu32 " B records, %u producer%s, %.1f s measured (+0.5 s "
                   "warm-up)\n"
                   "  wal: sync %s, %s, prewrite %s, %" PRIu32 " groups in flight, groups up to "
                   "%" PRIu32 " B, files of %" PRIu64 " B\n",
                   a.record_bytes, a.producers, a.producers == 1 ? "" : "s", secs,
                   sync_name(opts.sync_mode), opts.direct_io ? "O_DIRECT" : "buffered",
                   opts.prewrite_files ? "on" : "off", opts.inflight_groups,
                   opts.group_max_bytes, opts.file_size_bytes);
            printf("  appends/s        %12.0f   (%" PRIu64 " appends)\n", appends_s, all->total);
            printf("  payload MB/s     %12.1f   (WAL bytes written: %.1f MB/s)\n", mb_s, wal_mb_s);
            printf("  latency us       p50 %.1f  p99 %.1f  p99.9 %.1f  mean %.1f  max %.1f\n",
                   lat.p50_us, lat.p99_us, lat.p999_us, lat.mean_us, lat.max_us);
            printf("  records/group    %12.2f   (%.0f groups/s)\n", per_group, groups_s);
            printf("  fsyncs/s         %12.0f   writes/s %.0f\n", fsyncs_s, writes_s);
            printf("  cpu              %12.2f   us per append (%.2f CPUs busy, %.2f context "
                   "switches per append)\n",
                   cpu_us_per_append, cpu_util, csw_per_append);
            printf("  files            created %" PRIu64 ", recycled %" PRIu64 ", removed %" PRIu64
                   ", rotations %" PRIu64 ", short writes %" PRIu64 "\n",
                   s1.files_created, s1.files_recycled, s1.files_removed, s1.rotations,
                   s1.short_writes - s0.short_writes);
        }
        free(all);
        exit_code = 0;
    }
out_free:
    if (prods != NULL) {
        for (unsigned i = 0; i < a.producers; i++) {
            free(prods[i].payload);
            free(prods[i].lat);
        }
        free(prods);
    }
out_wal:
    wal_close(b.w);
out_dir:
    remove_run_dir(run_dir);
    return exit_code;
}
