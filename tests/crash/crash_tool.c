/*
 * crash_tool.c — the crash suite's workload, verifier and small helpers, one binary so that the
 * driver scripts (tests/crash/kill.sh, power.sh) need only this and a shell.
 *
 *   crash-tool run DIR ACKS EPOCH SECONDS     the workload: appends, seal+extends, trims
 *                                             (CRASH_BACKPRESSURE=1: with a full WAL queue)
 *   crash-tool verify DIR ACKS EPOCH          reopen twice, check everything, append once more
 *   crash-tool tear DIR                       write garbage just after the WAL's valid end
 *   crash-tool shutdown MOUNTPOINT            EXT4_IOC_SHUTDOWN with NOLOGFLUSH (power cut);
 *                                             exit 77 if the file system has no such ioctl
 *
 * WHY IT IS SHAPED SO
 *   A crash test is only as good as its oracle. Every record is self-describing: magic, log,
 *   writer, per-(writer, log) sequence, length, filler bytes derived from those, and a hash over
 *   all of it, so the verifier can tell a record that is present and intact from one that is
 *   damaged, misplaced or duplicated without keeping a copy. The workload reports an append to the
 *   harness (one write(2) of one line to ACKS, opened O_APPEND) only after seglog_log_append
 *   returned SEGLOG_OK: the ACKS file is the set of promises the store made. A seal+extend (with
 *   the chain version it returned) and a trim are reported the same way; a trim is also announced
 *   before the call (its intent), so that a trim point the workload never asked for stands out
 *   even when a kill cut off the ack. After a kill -9 the page cache keeps ACKS intact; for a
 *   power cut ACKS lives outside the cut file system and the driver stops the workload (SIGSTOP)
 *   before it cuts. The line formats are above acks_load.
 *
 *   Writer ids are EPOCH * 100 + thread (EPOCH: the driver's cycle number), so each incarnation
 *   starts fresh sequences and the verifier can demand, per log and writer, consecutive sequences
 *   with no hole and no duplicate.
 *
 * BACKPRESSURE MODE (CRASH_BACKPRESSURE=1 in run's environment)
 *   The normal workload's records (40..400 bytes) never fill the WAL queue, so a kill never lands
 *   while a chain op waits for room in it. In this mode the store is opened with
 *   wal_inflight_groups = 1 (the queue then holds 3 groups of 1 MiB: one in flight, one closed,
 *   one filling); 20 threads append with SEGLOG_APPEND_WAIT records of a quarter of a WAL group
 *   each, sized so that four fill a group to within less than a chain op's frame (bp_len_range);
 *   two threads seal+extend with the chain version they just read (ECONFLICT when the other came
 *   first) and trim, 1 ms apart (CRASH_RECONF_PAUSE_MS is for the normal mode). So the queue is
 *   full most of the time and a chain op waits for room. Records keep the one self-describing
 *   format (the filler grows with the length), so verify needs no mode: it accepts the lengths
 *   of either. About 90 MB of records a second here. Memory: the workload's own is fixed (20
 *   record buffers of 256 KiB); the process's grows with what the store holds (RocksDB): about
 *   250 MB after 4 s, 340 MB after 8 s, 450 MB after 20 s here. So the drivers keep these runs
 *   short and replace the store after each.

 *   CRASH_ROOM_FILE=PATH (either mode): a thread samples seglog_stats.chain_ops_waiting_room every
 *   millisecond into the one fixed-size line of PATH (room_main), so that the driver can tell, after
 *   a kill or a power cut, whether a chain op was waiting for room when the process died.
 *
 * WHAT VERIFY CHECKS (exit 0 only if all hold; one line per failure on stderr)
 *   - the store opens; every log an ACK names exists;
 *   - chain: at least one segment; the last is open (the workload never plain-seals, so a sealed
 *     tail would be a half-done seal+extend); every earlier one sealed or trimmed; each segment's
 *     base is its predecessor's seal point; the tail LSN is the open segment's end; the chain
 *     version is at least the highest an acknowledged seal+extend returned, there are more
 *     segments than acknowledged seal+extends, and the version fits the segments (untrimmed
 *     logs: version = segments; trimmed: segments <= version <= segments + trimmed ones);
 *   - trims: logs 1..40 (never trimmed) have trim point 0; the others 0 or a point the workload
 *     asked for, at least the acknowledged trim. Acknowledged records at or below a trim point
 *     count as trimmed only if it passes; else as lost;
 *   - records: from trim point + 1 to the tail every LSN holds a record (no hole), each intact,
 *     of this log, and per writer with consecutive sequences (no duplicate, no gap);
 *   - every acknowledged record above the trim point is at its LSN with the same writer, sequence
 *     and length (the bytes are then byte-identical: they are regenerated and hashed);
 *   - column families, read by RocksDB itself (read-only) after the store is closed: every live
 *     segment's CF exists; every other CF but "default" and "meta" is empty (the pool), and there
 *     are at most 2 * cf_pool_target of them;
 *   - a second open gives the same digest; a new append to every log works and reads back.
 * Figures go to stdout as "verify: key=value ..." for the driver to sum.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <linux/types.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "seglog.h"
#include "seglog_internal.h"
#include "store.h"
#include "wal.h"
#include "wal_internal.h"

#define CT_LOGS 50u                /* logs in the workload */
#define CT_TRIMMED_LOGS_FROM 41u   /* logs >= this are trimmed as well as resealed */
#define CT_WRITERS 4u              /* appending threads */
#define CT_WRITER_ID_STRIDE 100u   /* writer id = epoch * stride + thread */
#define CT_VERIFY_WRITER 99u       /* thread number of the verifier's own appends */
#define CT_PAYLOAD_MIN_BYTES 40u
#define CT_PAYLOAD_MAX_BYTES 400u
#define CT_HEADER_BYTES 28u        /* magic u32, log u64, writer u32, seq u64, len u32 */
#define CT_MAGIC 0x5EC7A5C1u
#define CT_APPEND_TIMEOUT_MS 10000u
#define CT_RECONF_PAUSE_US 15000u  /* between two seal+extends */
#define CT_MAX_SEQ_WRITERS 4096u   /* distinct writer ids one log may hold */
#define CT_ORPHAN_WAIT_MS 10000u   /* how long verify waits for open's CF clean-up */
#define CT_EXIT_UNSUPPORTED 77     /* shutdown: no EXT4_IOC_SHUTDOWN here (ENOTTY, EOPNOTSUPP) */
#define CT_RECORD_MAX_BYTES (256u << 10) /* the store's record_max_bytes, in both modes */

/* Backpressure mode (CRASH_BACKPRESSURE=1), see the top of the file. */
#define CT_BP_WRITERS 20u          /* appending threads: 20 records of a quarter group in flight */
#define CT_BP_RECONF_THREADS 2u    /* threads doing seal+extend (expected version) and trims */
#define CT_BP_RECONF_PAUSE_US 1000u /* between two chain ops of one thread */
#define CT_BP_INFLIGHT_GROUPS 1u   /* wal_inflight_groups: the WAL queue holds 3 groups in all */
#define CT_BP_JITTER_STEPS 7u      /* a record is 0..6 frame alignments short of a quarter group */
#define CT_ROOM_SAMPLE_US 1000u    /* how often chain_ops_waiting_room is sampled */
#define CT_ROOM_LINE_BYTES 80u     /* the sample file's one fixed-size line */
#define CT_WRITERS_MAX CT_BP_WRITERS
#define CT_RECONF_THREADS_MAX CT_BP_RECONF_THREADS

_Static_assert(CT_PAYLOAD_MIN_BYTES >= CT_HEADER_BYTES + 8u, "room for the header and hash");
_Static_assert(CT_WRITERS <= CT_WRITERS_MAX && CT_WRITERS_MAX < CT_VERIFY_WRITER,
               "writer thread numbers stay below the verifier's");
_Static_assert(CT_PAYLOAD_MAX_BYTES <= CT_RECORD_MAX_BYTES, "normal records fit the store's limit");
/* storage/store.c makes a WAL group at least twice (record_max_bytes + 4160) bytes; below the
 * default group size the group stays WAL_GROUP_MAX_BYTES_DEFAULT, which bp_len_range() divides. */
_Static_assert(2u * (CT_RECORD_MAX_BYTES + 4096u + 64u) <= WAL_GROUP_MAX_BYTES_DEFAULT,
               "the WAL group keeps its default size");
_Static_assert(WAL_GROUP_MAX_BYTES_DEFAULT / 4u <= CT_RECORD_MAX_BYTES,
               "a quarter-group record fits record_max_bytes");

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}
#define FNV_INIT 0xCBF29CE484222325ull

/* The record (log, writer, seq) of len bytes: header, filler, hash of everything before it. */
static void record_make(uint8_t *buf, uint32_t len, uint64_t log, uint32_t writer, uint64_t seq)
{
    wal_put32(buf, CT_MAGIC);
    wal_put64(buf + 4, log);
    wal_put32(buf + 12, writer);
    wal_put64(buf + 16, seq);
    wal_put32(buf + 24, len);
    uint64_t x = log * 1000003u ^ ((uint64_t)writer << 40) ^ seq;
    for (uint32_t i = CT_HEADER_BYTES; i < len - 8; i++)
        buf[i] = (uint8_t)splitmix(&x);
    wal_put64(buf + len - 8, fnv(FNV_INIT, buf, len - 8));
}

/* Backpressure records: [*min, *max], the longest being the payload whose append op (its store
 * head and WAL frame header included) is exactly a quarter of a WAL group, the others shorter by
 * up to CT_BP_JITTER_STEPS - 1 frame alignments. Four of them leave less room in a group than a
 * chain op's frame needs (cmd_run checks it), so a full queue stops chain ops too. */
static void bp_len_range(uint32_t *min, uint32_t *max)
{
    store_op op = {.type = STORE_OP_APPEND, .n = 1};
    *max = WAL_GROUP_MAX_BYTES_DEFAULT / 4u - WAL_FRAME_HEADER_BYTES - store_op_head_size(&op);
    *min = *max - (CT_BP_JITTER_STEPS - 1u) * WAL_FRAME_ALIGN_BYTES;
}

/* A length either mode writes: the verifier knows no mode, and accepts only these. */
static bool record_len_valid(size_t len)
{
    uint32_t bp_min, bp_max;
    bp_len_range(&bp_min, &bp_max);
    return (len >= CT_PAYLOAD_MIN_BYTES && len <= CT_PAYLOAD_MAX_BYTES) ||
           (len >= bp_min && len <= bp_max && (len - bp_min) % WAL_FRAME_ALIGN_BYTES == 0);
}

/* Checks a record read back: intact (regenerated bytes equal) and its identity. Not thread-safe
 * (one static buffer): only the verifier calls it. */
static bool record_check(const uint8_t *p, size_t len, uint64_t *log, uint32_t *writer,
                         uint64_t *seq)
{
    if (!record_len_valid(len) || wal_get32(p) != CT_MAGIC || wal_get32(p + 24) != len)
        return false;
    *log = wal_get64(p + 4);
    *writer = wal_get32(p + 12);
    *seq = wal_get64(p + 16);
    static uint8_t want[CT_RECORD_MAX_BYTES];
    record_make(want, (uint32_t)len, *log, *writer, *seq);
    return memcmp(want, p, len) == 0;
}

static void options(seglog_options *o)
{
    seglog_options_init(o);
    o->wal_file_size_bytes = 2u << 20; /* rotate often: rotation is a kill point */
    o->checkpoint_interval_ms = 300;     /* checkpoint often: so is moving it */
    const char *ck = getenv("CRASH_CHECKPOINT_MS"); /* the power-loss driver sets its own */
    if (ck && atoi(ck) > 0)
        o->checkpoint_interval_ms = (uint32_t)atoi(ck);
    o->cf_pool_target = 4;
    o->memory_budget_bytes = 64u << 20;
    o->record_max_bytes = CT_RECORD_MAX_BYTES;
}

/* CRASH_BACKPRESSURE=1: run in backpressure mode (verify needs no mode). */
static bool backpressure(void)
{
    const char *bp = getenv("CRASH_BACKPRESSURE");
    return bp && strcmp(bp, "1") == 0;
}

static void die(const char *what, int rc, const seglog_error *err)
{
    fprintf(stderr, "crash-tool: %s: %s (%s)\n", what, err ? err->message : "",
            seglog_strerror(rc));
    exit(2);
}

/* ---- run -------------------------------------------------------------------------------------- */

typedef struct run_ctx {
    seglog *s;
    int ack_fd;
    uint32_t epoch;
    bool bp;               /* backpressure mode */
    uint32_t bp_len_min;   /* bp: record lengths (bp_len_range) */
    uint32_t bp_len_max;
    int room_fd;           /* the chain_ops_waiting_room sample file, or -1 */
    atomic_bool stop;
    pthread_mutex_t ack_mu;
} run_ctx;

typedef struct writer_arg {
    run_ctx *c;
    uint32_t thread;
} writer_arg;

static void ack_line(run_ctx *c, const char *line, size_t n)
{
    pthread_mutex_lock(&c->ack_mu);
    ssize_t w = write(c->ack_fd, line, n);
    pthread_mutex_unlock(&c->ack_mu);
    if (w != (ssize_t)n) {
        fprintf(stderr, "crash-tool: writing an ack failed: %s\n", strerror(errno));
        _exit(3);
    }
}

static void *writer_main(void *arg)
{
    writer_arg *a = arg;
    run_ctx *c = a->c;
    uint32_t writer = c->epoch * CT_WRITER_ID_STRIDE + a->thread;
    uint64_t seqs[CT_LOGS + 1] = {0};
    uint64_t rnd = (uint64_t)time(NULL) * 31u + writer;
    uint8_t *buf = malloc(c->bp ? c->bp_len_max : CT_PAYLOAD_MAX_BYTES);
    if (!buf) {
        fprintf(stderr, "crash-tool: out of memory for a record buffer\n");
        return NULL;
    }
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = CT_APPEND_TIMEOUT_MS};
    while (!atomic_load(&c->stop)) {
        uint64_t log = 1 + splitmix(&rnd) % CT_LOGS;
        uint32_t len = c->bp ? c->bp_len_max - (uint32_t)(splitmix(&rnd) % CT_BP_JITTER_STEPS) *
                                                   WAL_FRAME_ALIGN_BYTES
                             : CT_PAYLOAD_MIN_BYTES +
                                   (uint32_t)(splitmix(&rnd) %
                                              (CT_PAYLOAD_MAX_BYTES - CT_PAYLOAD_MIN_BYTES));
        uint64_t seq = seqs[log] + 1;
        record_make(buf, len, log, writer, seq);
        seglog_lsn lsn = 0;
        seglog_error err = {0};
        int rc = seglog_log_append(c->s, log, buf, len, &wait, &lsn, &err);
        if (rc == SEGLOG_ETIMEDOUT || rc == SEGLOG_ESEALED)
            continue; /* never sequenced: the same sequence goes again */
        if (rc != SEGLOG_OK) {
            fprintf(stderr, "crash-tool: append to log %" PRIu64 " failed: %s (%s)\n", log,
                    err.message, seglog_strerror(rc));
            break;
        }
        seqs[log] = seq;
        char line[128];
        int n = snprintf(line, sizeof line, "A %" PRIu64 " %" PRIu64 " %u %" PRIu64 " %u\n", log,
                         lsn, writer, seq, len);
        ack_line(c, line, (size_t)n);
    }
    free(buf);
    return NULL;
}

typedef struct reconf_arg {
    run_ctx *c;
    uint32_t thread;
} reconf_arg;

static void *reconf_main(void *arg)
{
    reconf_arg *a = arg;
    run_ctx *c = a->c;
    uint64_t rnd = ((uint64_t)time(NULL) ^ 0xABCDu) + a->thread * 0x9E37u;
    while (!atomic_load(&c->stop)) {
        uint64_t log = 1 + splitmix(&rnd) % CT_LOGS;
        seglog_error err = {0};
        seglog_tail t;
        /* backpressure: with the version just seen, as a sequencer that fences a known chain
         * would; the other thread's change in between is an ECONFLICT */
        uint64_t expected = 0;
        if (c->bp && seglog_log_find_tail(c->s, log, &t, &err) == SEGLOG_OK)
            expected = t.version;
        int rc = seglog_log_seal_and_extend(c->s, log, expected, &t, &err);
        if (rc != SEGLOG_OK && rc != SEGLOG_ECONFLICT && rc != SEGLOG_ETIMEDOUT) {
            fprintf(stderr, "crash-tool: seal+extend of log %" PRIu64 " failed: %s\n", log,
                    err.message);
            return NULL;
        }
        char line[96];
        int n;
        if (rc == SEGLOG_OK) {
            n = snprintf(line, sizeof line, "E %" PRIu64 " %" PRIu64 "\n", log, t.version);
            ack_line(c, line, (size_t)n);
        }
        if (log >= CT_TRIMMED_LOGS_FROM && rc == SEGLOG_OK && t.lsn > 2) {
            seglog_lsn to = 0, point = t.lsn - 1 - splitmix(&rnd) % (t.lsn / 2);
            /* the intent before the call: a trim that became durable but whose ack a kill cut
             * off is still one the verifier knows was asked for */
            n = snprintf(line, sizeof line, "I %" PRIu64 " %" PRIu64 "\n", log, point);
            ack_line(c, line, (size_t)n);
            rc = seglog_log_trim(c->s, log, point, &to, &err);
            if (rc != SEGLOG_OK) {
                fprintf(stderr, "crash-tool: trim of log %" PRIu64 " failed: %s\n", log,
                        err.message);
                return NULL;
            }
            n = snprintf(line, sizeof line, "T %" PRIu64 " %" PRIu64 "\n", log, to);
            ack_line(c, line, (size_t)n);
        }
        const char *pause = getenv("CRASH_RECONF_PAUSE_MS");
        usleep(c->bp ? CT_BP_RECONF_PAUSE_US
               : pause && atoi(pause) > 0 ? (useconds_t)atoi(pause) * 1000u
                                          : CT_RECONF_PAUSE_US);
    }
    return NULL;
}

/* Samples seglog_stats.chain_ops_waiting_room every CT_ROOM_SAMPLE_US into the one line of the
 * file CRASH_ROOM_FILE names, rewritten in place (pwrite at 0, always CT_ROOM_LINE_BYTES):
 *   "room waiting=W samples=S waiting_samples=WS\n" (blank-padded)
 * W the last sample, S the samples taken, WS those with W > 0. After a kill -9 the page cache
 * keeps the last line; for a power cut the file lives outside the cut file system and the driver
 * stops the workload first. So the driver learns whether a chain op was waiting for room in the
 * WAL queue when the process died (to within one sample period). */
static void *room_main(void *arg)
{
    run_ctx *c = arg;
    uint64_t samples = 0, waiting_samples = 0;
    while (!atomic_load(&c->stop)) {
        seglog_stats st;
        seglog_error err = {0};
        if (seglog_stats_get(c->s, &st, &err) == SEGLOG_OK) {
            samples++;
            waiting_samples += st.chain_ops_waiting_room > 0;
            char line[CT_ROOM_LINE_BYTES + 1];
            int n = snprintf(line, sizeof line,
                             "room waiting=%" PRIu64 " samples=%" PRIu64 " waiting_samples=%" PRIu64,
                             st.chain_ops_waiting_room, samples, waiting_samples);
            if (n < 0 || n >= (int)CT_ROOM_LINE_BYTES) {
                fprintf(stderr, "crash-tool: a room sample line is too long\n");
                return NULL;
            }
            memset(line + n, ' ', CT_ROOM_LINE_BYTES - 1u - (size_t)n);
            line[CT_ROOM_LINE_BYTES - 1u] = '\n';
            if (pwrite(c->room_fd, line, CT_ROOM_LINE_BYTES, 0) != (ssize_t)CT_ROOM_LINE_BYTES) {
                fprintf(stderr, "crash-tool: writing a room sample failed: %s\n", strerror(errno));
                return NULL;
            }
        }
        usleep(CT_ROOM_SAMPLE_US);
    }
    return NULL;
}

static int cmd_run(const char *dir, const char *acks, uint32_t epoch, double seconds)
{
    run_ctx c = {.epoch = epoch, .bp = backpressure(), .room_fd = -1};
    pthread_mutex_init(&c.ack_mu, NULL);
    atomic_init(&c.stop, false);
    c.ack_fd = open(acks, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (c.ack_fd < 0) {
        fprintf(stderr, "crash-tool: open %s: %s\n", acks, strerror(errno));
        return 2;
    }
    const char *room = getenv("CRASH_ROOM_FILE");
    if (room && *room) {
        c.room_fd = open(room, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c.room_fd < 0) {
            fprintf(stderr, "crash-tool: open %s: %s\n", room, strerror(errno));
            return 2;
        }
    }
    seglog_options o;
    options(&o);
    uint32_t writers = CT_WRITERS, reconfs = 1;
    if (c.bp) {
        o.wal_inflight_groups = CT_BP_INFLIGHT_GROUPS;
        writers = CT_BP_WRITERS;
        reconfs = CT_BP_RECONF_THREADS;
        bp_len_range(&c.bp_len_min, &c.bp_len_max);
        /* the sizing above holds only while the smallest chain op's frame is more than four
         * records' worth of jitter: say so loudly if the store's encoding outgrows it */
        store_op chain = {.type = STORE_OP_SEAL_EXTEND};
        uint64_t chain_frame = wal_frame_size(store_op_head_size(&chain));
        if (4u * (uint64_t)(c.bp_len_max - c.bp_len_min) >= chain_frame ||
            c.bp_len_max > o.record_max_bytes) {
            fprintf(stderr, "crash-tool: backpressure records of %u..%u bytes no longer fill a "
                            "WAL group past a chain op's frame of %" PRIu64 " bytes\n",
                    c.bp_len_min, c.bp_len_max, chain_frame);
            return 2;
        }
    }
    seglog_error err = {0};
    int rc = seglog_open(&c.s, dir, &o, &err);
    if (rc != SEGLOG_OK)
        die("open", rc, &err);
    for (uint64_t log = 1; log <= CT_LOGS; log++) {
        rc = seglog_log_create(c.s, log, &err);
        if (rc != SEGLOG_OK && rc != SEGLOG_EEXIST)
            die("create", rc, &err);
    }
    fprintf(stderr, "crash-tool: running%s\n", c.bp ? " (backpressure)" : "");
    pthread_t th[CT_WRITERS_MAX + CT_RECONF_THREADS_MAX + 1];
    writer_arg wa[CT_WRITERS_MAX];
    reconf_arg ra[CT_RECONF_THREADS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < writers; i++) {
        wa[i] = (writer_arg){.c = &c, .thread = i};
        pthread_create(&th[n++], NULL, writer_main, &wa[i]);
    }
    for (uint32_t i = 0; i < reconfs; i++) {
        ra[i] = (reconf_arg){.c = &c, .thread = i};
        pthread_create(&th[n++], NULL, reconf_main, &ra[i]);
    }
    if (c.room_fd >= 0)
        pthread_create(&th[n++], NULL, room_main, &c);
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&c.stop, true);
    for (uint32_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    seglog_close(c.s);
    close(c.ack_fd);
    if (c.room_fd >= 0)
        close(c.room_fd);
    return 0;
}

/* ---- verify ----------------------------------------------------------------------------------- */

typedef struct ack {
    uint64_t lsn;
    uint32_t writer;
    uint32_t len;
    uint64_t seq;
} ack;

typedef struct log_acks {
    ack *v;
    size_t n, cap;
    uint64_t trim;      /* highest acknowledged trim */
    uint64_t *intents;  /* every trim point asked for ("I" lines), in file order */
    size_t n_intents, cap_intents;
    uint64_t version;   /* highest chain version an acknowledged seal+extend returned */
    uint64_t extends;   /* acknowledged seal+extends */
    bool named;         /* some ack names this log */
} log_acks;

static log_acks g_acks[CT_LOGS + 1];
static uint64_t g_n_acks, g_failures, g_lost, g_trimmed;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        g_failures++;                                                                              \
        if (g_failures <= 20) {                                                                    \
            fprintf(stderr, "verify: FAIL: ");                                                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static int cmp_ack(const void *a, const void *b)
{
    const ack *x = a, *y = b;
    return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

/* Appends v to a growing array of uint64_t; aborts when out of memory (a test tool). */
static void u64_push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = realloc(*v, *cap * sizeof **v);
        if (!*v)
            abort();
    }
    (*v)[(*n)++] = x;
}

/* The ACKS file, one line per promise (or intent), written by `run` and by verify's own appends:
 *   A LOG LSN WRITER SEQ LEN   an append returned SEGLOG_OK at LSN
 *   E LOG VERSION              a seal+extend returned SEGLOG_OK with this chain version
 *   I LOG POINT                a trim to POINT is about to be asked for (written before the call)
 *   T LOG TO                   that trim returned SEGLOG_OK; the trim point is TO */
static void acks_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return; /* no acknowledgement yet */
    char line[256];
    while (fgets(line, sizeof line, f)) {
        uint64_t log, lsn, seq;
        unsigned writer, len;
        if (line[0] == 'A' && sscanf(line + 1, "%" SCNu64 " %" SCNu64 " %u %" SCNu64 " %u", &log,
                                     &lsn, &writer, &seq, &len) == 5 && log >= 1 && log <= CT_LOGS) {
            log_acks *la = &g_acks[log];
            if (la->n == la->cap) {
                la->cap = la->cap ? 2 * la->cap : 256;
                la->v = realloc(la->v, la->cap * sizeof *la->v);
                if (!la->v)
                    abort();
            }
            la->v[la->n++] = (ack){.lsn = lsn, .writer = writer, .len = len, .seq = seq};
            la->named = true;
            g_n_acks++;
        } else if (line[0] == 'T' && sscanf(line + 1, "%" SCNu64 " %" SCNu64, &log, &lsn) == 2 &&
                   log >= 1 && log <= CT_LOGS) {
            if (lsn > g_acks[log].trim)
                g_acks[log].trim = lsn;
            g_acks[log].named = true;
        } else if (line[0] == 'I' && sscanf(line + 1, "%" SCNu64 " %" SCNu64, &log, &lsn) == 2 &&
                   log >= 1 && log <= CT_LOGS) {
            log_acks *la = &g_acks[log];
            u64_push(&la->intents, &la->n_intents, &la->cap_intents, lsn);
        } else if (line[0] == 'E' && sscanf(line + 1, "%" SCNu64 " %" SCNu64, &log, &seq) == 2 &&
                   log >= 1 && log <= CT_LOGS) {
            log_acks *la = &g_acks[log];
            if (seq > la->version)
                la->version = seq;
            la->extends++;
            la->named = true;
        } else if (line[0] != '\n' && strchr(line, '\n')) {
            FAIL("malformed ack line: %s", line);
        }
        /* a line without '\n' is one being written when the writer was killed: not an ack */
    }
    fclose(f);
    for (uint64_t l = 1; l <= CT_LOGS; l++)
        if (g_acks[l].n)
            qsort(g_acks[l].v, g_acks[l].n, sizeof(ack), cmp_ack);
}

typedef struct wseq {
    uint32_t writer;
    uint64_t last;
} wseq;

/* Checks one log; adds its state to *digest. Returns the number of records read. */
static uint64_t verify_log(seglog *s, uint64_t log, uint64_t *digest, uint64_t *live_segments,
                           uint64_t *verified, uint64_t *trimmed)
{
    seglog_error err = {0};
    seglog_log_info *info = NULL;
    int rc = seglog_log_describe(s, log, &info, &err);
    if (rc != SEGLOG_OK) {
        if (g_acks[log].named)
            FAIL("log %" PRIu64 " was acknowledged but describe fails: %s", log, err.message);
        return 0;
    }
    *digest = fnv(*digest, &log, sizeof log);
    *digest = fnv(*digest, &info->version, sizeof info->version);
    *digest = fnv(*digest, &info->trim_point, sizeof info->trim_point);
    /* the chain */
    log_acks *la = &g_acks[log];
    uint64_t n_trimmed_segments = 0;
    if (info->n_segments == 0) {
        FAIL("log %" PRIu64 ": no segment", log);
    } else {
        seglog_segment_info *last = &info->segments[info->n_segments - 1];
        if (last->state != SEGLOG_SEGMENT_OPEN || info->tail.sealed)
            FAIL("log %" PRIu64 ": tail segment %" PRIu64 " is not open (half-done seal+extend?)",
                 log, last->id);
        for (size_t i = 0; i < info->n_segments; i++) {
            seglog_segment_info *g = &info->segments[i];
            *digest = fnv(*digest, &g->id, sizeof g->id);
            *digest = fnv(*digest, &g->base, sizeof g->base);
            *digest = fnv(*digest, &g->sealed_at, sizeof g->sealed_at);
            if (g->state != SEGLOG_SEGMENT_TRIMMED)
                (*live_segments)++;
            else
                n_trimmed_segments++;
            if (i + 1 < info->n_segments && g->state != SEGLOG_SEGMENT_TRIMMED) {
                if (g->state == SEGLOG_SEGMENT_OPEN)
                    FAIL("log %" PRIu64 ": segment %" PRIu64 " open but not the tail", log, g->id);
                if (info->segments[i + 1].base != g->sealed_at)
                    FAIL("log %" PRIu64 ": segment %" PRIu64 " sealed at %" PRIu64
                         " but the next starts at %" PRIu64,
                         log, g->id, g->sealed_at, info->segments[i + 1].base);
            }
        }
    }
    /* Chain versions: creation gives 1 and one segment; each seal+extend adds one to both (the
     * workload never plain-seals or extends); a trim that drops segments adds one to the version
     * and leaves them listed as trimmed. */
    if (info->version < la->version)
        FAIL("log %" PRIu64 ": chain version %" PRIu64 " below the acknowledged seal+extend's %" PRIu64,
             log, info->version, la->version);
    if (info->n_segments < la->extends + 1)
        FAIL("log %" PRIu64 ": %zu segments after %" PRIu64 " acknowledged seal+extends", log,
             info->n_segments, la->extends);
    if (log < CT_TRIMMED_LOGS_FROM ? info->version != info->n_segments
                                   : info->version < info->n_segments ||
                                         info->version > info->n_segments + n_trimmed_segments)
        FAIL("log %" PRIu64 ": chain version %" PRIu64 " does not fit its %zu segments (%" PRIu64
             " trimmed)",
             log, info->version, info->n_segments, n_trimmed_segments);
    uint64_t tail = info->tail.lsn, trim = info->trim_point;
    seglog_log_info_free(info);
    /* Trims: the workload never trims logs below CT_TRIMMED_LOGS_FROM; the others' trim point is
     * 0 or a point the workload asked for, at least the acknowledged one. A trim point raised by
     * the store itself would hide lost records below it: they count as lost, not trimmed. */
    bool trim_asked = trim == 0;
    for (size_t k = 0; k < la->n_intents && !trim_asked; k++)
        trim_asked = la->intents[k] == trim;
    if (log < CT_TRIMMED_LOGS_FROM && trim != 0) {
        FAIL("log %" PRIu64 ": trim point %" PRIu64 ", but the workload never trims this log", log,
             trim);
        trim_asked = false;
    } else if (!trim_asked) {
        FAIL("log %" PRIu64 ": trim point %" PRIu64 " is none of the %zu trims asked for", log,
             trim, la->n_intents);
    }
    if (trim < la->trim)
        FAIL("log %" PRIu64 ": trim point %" PRIu64 " below the acknowledged trim %" PRIu64, log,
             trim, la->trim);

    /* the records */
    uint64_t nread = 0;
    seglog_reader *r = NULL;
    rc = seglog_reader_open(&r, s, log, SEGLOG_LSN_OLDEST, tail > 1 ? tail - 1 : 1, &err);
    if (rc != SEGLOG_OK) {
        FAIL("log %" PRIu64 ": reader_open: %s", log, err.message);
        return 0;
    }
    static wseq ws[CT_MAX_SEQ_WRITERS];
    size_t nws = 0;
    uint64_t expect = trim + 1;
    size_t ai = 0;
    while (ai < la->n && la->v[ai].lsn <= trim)
        ai++;
    if (trim_asked) {
        *trimmed += ai;
    } else {
        g_lost += ai;
        if (ai > 0)
            FAIL("log %" PRIu64 ": %zu acknowledged records below that trim point are lost", log,
                 ai);
    }
    while (tail > 1) {
        seglog_entry e;
        rc = seglog_reader_next(r, 2000, &e, &err);
        if (rc == SEGLOG_EEND)
            break;
        if (rc != SEGLOG_OK) {
            FAIL("log %" PRIu64 ": reading at %" PRIu64 ": %s", log, expect, err.message);
            break;
        }
        if (e.kind == SEGLOG_ENTRY_TRIM_GAP) {
            if (e.gap_to != trim)
                FAIL("log %" PRIu64 ": trim gap to %" PRIu64 ", trim point %" PRIu64, log,
                     e.gap_to, trim);
            continue;
        }
        if (e.lsn != expect) {
            FAIL("log %" PRIu64 ": hole: expected LSN %" PRIu64 ", got %" PRIu64, log, expect,
                 e.lsn);
            expect = e.lsn;
        }
        expect++;
        nread++;
        *digest = fnv(*digest, &e.lsn, sizeof e.lsn);
        *digest = fnv(*digest, e.payload, e.len);
        uint64_t rlog, seq;
        uint32_t writer;
        if (!record_check(e.payload, e.len, &rlog, &writer, &seq) || rlog != log) {
            FAIL("log %" PRIu64 ": record at LSN %" PRIu64 " is damaged or not of this log", log,
                 e.lsn);
            continue;
        }
        size_t k = 0;
        while (k < nws && ws[k].writer != writer)
            k++;
        if (k == nws && nws < CT_MAX_SEQ_WRITERS) {
            /* a writer's first record here: from sequence 1 unless earlier ones were trimmed */
            ws[nws++] = (wseq){.writer = writer, .last = seq - 1};
            if (seq != 1 && trim == 0)
                FAIL("log %" PRIu64 ": writer %u starts at sequence %" PRIu64 " (LSN %" PRIu64 ")",
                     log, writer, seq, e.lsn);
        }
        if (k < nws) {
            if (seq != ws[k].last + 1)
                FAIL("log %" PRIu64 ": writer %u: sequence %" PRIu64 " after %" PRIu64
                     " at LSN %" PRIu64 " (duplicate or hole)",
                     log, writer, seq, ws[k].last, e.lsn);
            ws[k].last = seq;
        }
        for (; ai < la->n && la->v[ai].lsn < e.lsn; ai++, g_lost++)
            FAIL("log %" PRIu64 ": acknowledged LSN %" PRIu64 " missing", log, la->v[ai].lsn);
        if (ai < la->n && la->v[ai].lsn == e.lsn) {
            if (la->v[ai].writer != writer || la->v[ai].seq != seq || la->v[ai].len != e.len) {
                g_lost++;
                FAIL("log %" PRIu64 ": LSN %" PRIu64 " holds writer %u seq %" PRIu64
                     ", acknowledged was writer %u seq %" PRIu64,
                     log, e.lsn, writer, seq, la->v[ai].writer, la->v[ai].seq);
            } else {
                (*verified)++;
            }
            ai++;
        }
    }
    seglog_reader_close(r);
    for (; ai < la->n; ai++, g_lost++)
        FAIL("log %" PRIu64 ": acknowledged LSN %" PRIu64 " missing (tail %" PRIu64 ")", log,
             la->v[ai].lsn, tail);
    return nread;
}

/* The column families of live segments, as seglog_log_describe names them. */
typedef struct cf_names {
    char (*v)[32];
    size_t n, cap;
} cf_names;

static int cmp_cf_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Opens, checks every log, collects the live segments' CFs into *live (sorted), lets open's
 * clean-up of unreferenced CFs finish, closes. Returns the digest. */
static uint64_t verify_pass(const char *dir, uint64_t *records, uint64_t *verified,
                            cf_names *live)
{
    seglog_options o;
    options(&o);
    seglog *s = NULL;
    seglog_error err = {0};
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK) {
        FAIL("open: %s (%s)", err.message, seglog_strerror(rc));
        return 0;
    }
    uint64_t digest = FNV_INIT, live_segments = 0;
    *records = 0;
    *verified = 0;
    g_trimmed = 0;
    for (uint64_t log = 1; log <= CT_LOGS; log++)
        *records += verify_log(s, log, &digest, &live_segments, verified, &g_trimmed);
    live->n = 0;
    for (uint64_t log = 1; log <= CT_LOGS; log++) {
        seglog_log_info *info = NULL;
        if (seglog_log_describe(s, log, &info, &err) != SEGLOG_OK)
            continue;
        for (size_t i = 0; i < info->n_segments; i++) {
            if (info->segments[i].state == SEGLOG_SEGMENT_TRIMMED)
                continue; /* its CF may serve another log by now */
            if (live->n == live->cap) {
                live->cap = live->cap ? 2 * live->cap : 1024;
                live->v = realloc(live->v, live->cap * sizeof *live->v);
                if (!live->v)
                    abort();
            }
            memcpy(live->v[live->n++], info->segments[i].cf, 32);
        }
        seglog_log_info_free(info);
    }
    qsort(live->v, live->n, sizeof *live->v, cmp_cf_name);
    /* Open adopts empty unreferenced CFs into the pool and queues the others for dropping on the
     * pool thread; close would leave the queue as it is. Wait until every CF is a live segment's
     * or pooled: check_cfs then judges what is on disk. */
    seglog_stats st = {0};
    for (uint32_t waited = 0;; waited += 50) {
        seglog_stats_get(s, &st, &err);
        if (st.column_families <= 2 + st.segments + st.cf_pool || waited >= CT_ORPHAN_WAIT_MS)
            break;
        usleep(50000);
    }
    if (st.column_families > 2 + st.segments + st.cf_pool)
        FAIL("open's clean-up of unreferenced column families did not end within %u ms: %" PRIu64
             " CFs for %" PRIu64 " live segments and %" PRIu64 " pooled",
             CT_ORPHAN_WAIT_MS, st.column_families, st.segments, st.cf_pool);
    seglog_close(s);
    return digest;
}

/* Removes dir and the files directly in it (RocksDB's info LOG of a read-only open). */
static void rmdir_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* RocksDB's own view of DIR/db, with the store closed: every live segment's CF exists; every CF
 * that is neither "default", "meta" nor a live segment's (the pool: open adopted it, or the pool
 * thread made it) is empty, and there are at most 2 * cf_pool_target of them (open adopts up to
 * that many; the rest must have been dropped). */
static void check_cfs(const char *dir, const cf_names *live, uint32_t cf_pool_target)
{
    char path[4096], scratch[4096];
    snprintf(path, sizeof path, "%s/db", dir);
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/crash-tool-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        FAIL("mkdtemp %s: %s", scratch, strerror(errno));
        return;
    }
    rocksdb_options_t *opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opt, 0);
    rocksdb_options_set_db_log_dir(opt, scratch); /* its info LOG: not into the store */
    rocksdb_readoptions_t *ropt = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(ropt, 1);
    rocksdb_readoptions_set_fill_cache(ropt, 0);
    char *e = NULL;
    size_t count = 0;
    char **names = rocksdb_list_column_families(opt, path, &count, &e);
    const char **cfnames = calloc(count ? count : 1, sizeof *cfnames);
    const rocksdb_options_t **cfopts = calloc(count ? count : 1, sizeof *cfopts);
    rocksdb_column_family_handle_t **h = calloc(count ? count : 1, sizeof *h);
    rocksdb_t *db = NULL;
    if (!cfnames || !cfopts || !h)
        abort();
    if (e) {
        FAIL("listing the column families of %s: %s", path, e);
        goto out;
    }
    for (size_t i = 0; i < live->n; i++) {
        bool found = false;
        for (size_t j = 0; j < count && !found; j++)
            found = strcmp(names[j], live->v[i]) == 0;
        if (!found)
            FAIL("live segment's column family %s does not exist", live->v[i]);
    }
    for (size_t i = 0; i < count; i++) {
        cfnames[i] = names[i];
        cfopts[i] = opt;
    }
    db = rocksdb_open_for_read_only_column_families(opt, path, (int)count, cfnames, cfopts, h, 0,
                                                    &e);
    if (e) {
        FAIL("opening %s read-only: %s", path, e);
        goto out;
    }
    uint64_t unreferenced = 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], "default") == 0 || strcmp(names[i], "meta") == 0 /* STORE_META_CF */ ||
            bsearch(names[i], live->v, live->n, sizeof *live->v, cmp_cf_name))
            continue;
        unreferenced++;
        rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ropt, h[i]);
        rocksdb_iter_seek_to_first(it);
        bool empty = !rocksdb_iter_valid(it);
        rocksdb_iter_get_error(it, &e);
        rocksdb_iter_destroy(it);
        if (e) {
            FAIL("reading column family %s: %s", names[i], e);
            rocksdb_free(e);
            e = NULL;
        } else if (!empty) {
            FAIL("orphan column family %s: no live segment's, yet not empty", names[i]);
        }
    }
    if (unreferenced > 2u * cf_pool_target)
        FAIL("%" PRIu64 " column families besides default, meta and the %zu live segments'; at most "
             "%u may be pooled",
             unreferenced, live->n, 2u * cf_pool_target);
    for (size_t i = 0; i < count; i++)
        rocksdb_column_family_handle_destroy(h[i]);
    rocksdb_close(db);
out:
    if (e)
        rocksdb_free(e);
    if (names)
        rocksdb_list_column_families_destroy(names, count);
    free(cfnames);
    free(cfopts);
    free(h);
    rocksdb_readoptions_destroy(ropt);
    rocksdb_options_destroy(opt);
    rmdir_flat(scratch);
}

/* A new append to every log works, reads back, and is reported as acknowledged. */
static void append_after(const char *dir, const char *acks, uint32_t epoch)
{
    seglog_options o;
    options(&o);
    seglog *s = NULL;
    seglog_error err = {0};
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK) {
        FAIL("open for new appends: %s", err.message);
        return;
    }
    int fd = open(acks, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    uint32_t writer = epoch * CT_WRITER_ID_STRIDE + CT_VERIFY_WRITER;
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = CT_APPEND_TIMEOUT_MS};
    for (uint64_t log = 1; log <= CT_LOGS; log++) {
        uint8_t buf[CT_PAYLOAD_MIN_BYTES];
        record_make(buf, sizeof buf, log, writer, 1);
        seglog_lsn lsn = 0;
        rc = seglog_log_append(s, log, buf, sizeof buf, &wait, &lsn, &err);
        if (rc == SEGLOG_ENOTFOUND)
            continue; /* never created: the kill came before */
        if (rc != SEGLOG_OK) {
            FAIL("new append to log %" PRIu64 ": %s", log, err.message);
            continue;
        }
        char line[128];
        int n = snprintf(line, sizeof line, "A %" PRIu64 " %" PRIu64 " %u 1 %zu\n", log, lsn,
                         writer, sizeof buf);
        if (fd < 0 || write(fd, line, (size_t)n) != n)
            FAIL("recording the new append failed");
        seglog_entry e;
        rc = seglog_log_read(s, log, lsn, 1000, &e, &err);
        if (rc != SEGLOG_OK || e.len != sizeof buf || memcmp(e.payload, buf, sizeof buf) != 0)
            FAIL("new append to log %" PRIu64 " does not read back", log);
        if (rc == SEGLOG_OK)
            seglog_entry_fini(&e);
    }
    if (fd >= 0)
        close(fd);
    seglog_close(s);
}

static int cmd_verify(const char *dir, const char *acks, uint32_t epoch)
{
    acks_load(acks);
    seglog_options o;
    options(&o);
    cf_names live = {0};
    uint64_t records = 0, verified = 0, r2 = 0, v2 = 0;
    uint64_t d1 = verify_pass(dir, &records, &verified, &live);
    uint64_t lost1 = g_lost, trimmed1 = g_trimmed;
    if (g_failures == 0)
        check_cfs(dir, &live, o.cf_pool_target);
    if (g_failures == 0) {
        uint64_t d2 = verify_pass(dir, &r2, &v2, &live);
        g_lost = lost1;
        g_trimmed = trimmed1;
        if (d2 != d1)
            FAIL("second reopen gives another digest (%016" PRIx64 " vs %016" PRIx64 ")", d2, d1);
    }
    if (g_failures == 0)
        append_after(dir, acks, epoch);
    /* an ack of a log that cannot be read at all counts as lost too */
    uint64_t accounted = verified + g_trimmed + g_lost;
    if (accounted < g_n_acks)
        g_lost += g_n_acks - accounted;
    printf("verify: acked=%" PRIu64 " verified=%" PRIu64 " trimmed=%" PRIu64 " lost=%" PRIu64
           " records=%" PRIu64 " failures=%" PRIu64 " digest=%016" PRIx64 "\n",
           g_n_acks, verified, g_trimmed, g_lost, records, g_failures, d1);
    free(live.v);
    return g_failures == 0 ? 0 : 1;
}

/* ---- tear: garbage after the WAL's valid end, so that the next open must cut a torn tail ---- */

static int cmd_tear(const char *dir)
{
    char wdir[4096];
    snprintf(wdir, sizeof wdir, "%s/wal", dir);
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = wal_scan_dir(wdir, 0, NULL, NULL, &rep, &err);
    if (rc != SEGLOG_OK || rep.end_file[0] == 0) {
        fprintf(stderr, "crash-tool: tear: scan: %s\n", err.message);
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", wdir, rep.end_file);
    uint64_t file_no = 0;
    wal_file_name_parse(rep.end_file, &file_no);
    /* a frame header of this file whose CRC does not check: what a torn write leaves */
    uint8_t junk[64];
    memset(junk, 0xA5, sizeof junk);
    wal_put32(junk + 4, 16);                   /* len */
    wal_put64(junk + 8, rep.last_seq + 1);     /* seq */
    wal_put64(junk + 16, 0);                   /* synced_seq: vouches for nothing */
    wal_put32(junk + 24, (uint32_t)file_no);   /* file_no */
    junk[28] = WAL_TYPE_USER_MIN;
    junk[29] = junk[30] = junk[31] = 0;
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, junk, sizeof junk, (off_t)rep.end_offset) != (ssize_t)sizeof junk) {
        fprintf(stderr, "crash-tool: tear: write %s: %s\n", path, strerror(errno));
        return 1;
    }
    close(fd);
    printf("tear: %s offset %" PRIu64 "\n", rep.end_file, rep.end_offset);
    return 0;
}

/* ---- shutdown: the power cut --------------------------------------------------------------- */

#ifndef EXT4_IOC_SHUTDOWN
#define EXT4_IOC_SHUTDOWN _IOR('X', 125, __u32)
#endif
#define EXT4_GOING_FLAGS_NOLOGFLUSH 0x2

/* Exit 0 cut; CT_EXIT_UNSUPPORTED the file system has no shutdown ioctl (power.sh skips); 1 any
 * other failure. */
static int cmd_shutdown(const char *mnt)
{
    int fd = open(mnt, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        fprintf(stderr, "crash-tool: shutdown: open %s: %s\n", mnt, strerror(errno));
        return 1;
    }
    __u32 flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
    if (ioctl(fd, EXT4_IOC_SHUTDOWN, &flags) != 0) {
        int e = errno;
        fprintf(stderr, "crash-tool: shutdown %s: %s\n", mnt, strerror(e));
        close(fd);
        return e == ENOTTY || e == EOPNOTSUPP ? CT_EXIT_UNSUPPORTED : 1;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "run") == 0)
        return cmd_run(argv[2], argv[3], (uint32_t)strtoul(argv[4], NULL, 10), atof(argv[5]));
    if (argc == 5 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv[2], argv[3], (uint32_t)strtoul(argv[4], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "tear") == 0)
        return cmd_tear(argv[2]);
    if (argc == 3 && strcmp(argv[1], "shutdown") == 0)
        return cmd_shutdown(argv[2]);
    if (argc == 2 && strcmp(argv[1], "killpoints") == 0)
        return wal_kill_points_compiled() ? 0 : 77;
    fprintf(stderr, "usage: crash-tool run DIR ACKS EPOCH SECONDS | verify DIR ACKS EPOCH |\n"
                    "       tear DIR | shutdown MOUNTPOINT | killpoints\n");
    return 2;
}
