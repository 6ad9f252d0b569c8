/*
 * test_storage.c — storage/'s byte formats (metadata values, operation records: round trips and
 * rejection of every truncation) and the recovery of each operation type: a child process does
 * the operation and is killed before any checkpoint, so that reopening must replay it from the
 * WAL; a second kill-and-reopen replays it again over that state (applying twice is harmless).
 */
#include "test_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "seglog.h"
#include "seglog_internal.h"
#include "store.h"

typedef struct fixture {
    char dir[TEST_PATH_MAX];
    seglog *store; /* a test's open store, if it keeps it here: teardown closes it (see below) */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "storage") != 0)
        return -1;
    *state = f;
    return 0;
}

/* A failed assertion leaves its test at once: a store it left open is closed here, so that its
 * threads are not still running when the process exits (a CF pool thread inside RocksDB then
 * can crash, and ASan's leak check hang). */
static int teardown(void **state)
{
    fixture *f = *state;
    seglog_close(f->store);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- codecs ------------------------------------------------------------------------------------ */

static bool seg_equal(const store_seg *a, const store_seg *b)
{
    return a->log_id == b->log_id && a->seg_id == b->seg_id && a->base == b->base &&
           a->next_lsn == b->next_lsn && a->sealed_at == b->sealed_at && a->bytes == b->bytes &&
           a->cf_no == b->cf_no && a->state == b->state;
}

static void test_store_metadata_values_round_trip(void **state)
{
    (void)state;
    store_seg seg = {.log_id = 9, .seg_id = 4, .base = 100, .next_lsn = 150, .sealed_at = 150,
                     .bytes = 12345, .cf_no = 77, .state = STORE_SEG_SEALED};
    uint8_t v[STORE_SEG_VALUE_BYTES];
    store_seg_encode(&seg, v);
    store_seg out;
    assert_int_equal(store_seg_decode(v, sizeof v, 9, 4, &out), SEGLOG_OK);
    assert_true(seg_equal(&seg, &out));
    for (size_t n = 0; n < sizeof v; n++)
        assert_int_equal(store_seg_decode(v, n, 9, 4, &out), SEGLOG_ECORRUPT);
    uint8_t bad[STORE_SEG_VALUE_BYTES];
    memcpy(bad, v, sizeof v);
    bad[0] = 9; /* unknown state */
    assert_int_equal(store_seg_decode(bad, sizeof bad, 9, 4, &out), SEGLOG_ECORRUPT);
    seg.sealed_at = 140; /* sealed somewhere else than its end */
    store_seg_encode(&seg, bad);
    assert_int_equal(store_seg_decode(bad, sizeof bad, 9, 4, &out), SEGLOG_ECORRUPT);

    store_log lg = {.log_id = 3, .version = 8, .trim_point = 41, .created_us = 1234567};
    uint8_t lv[STORE_LOG_VALUE_BYTES];
    store_log_encode(&lg, lv);
    store_log lout;
    assert_int_equal(store_log_decode(lv, sizeof lv, 3, &lout), SEGLOG_OK);
    assert_int_equal(lout.log_id, 3);
    assert_int_equal(lout.version, 8);
    assert_int_equal(lout.trim_point, 41);
    assert_int_equal(lout.created_us, 1234567);
    for (size_t n = 0; n < sizeof lv; n++)
        assert_int_equal(store_log_decode(lv, n, 3, &lout), SEGLOG_ECORRUPT);
    lg.version = 0;
    store_log_encode(&lg, lv);
    assert_int_equal(store_log_decode(lv, sizeof lv, 3, &lout), SEGLOG_ECORRUPT);
}

static void check_op_round_trip(const store_op *op)
{
    uint32_t size = store_op_encoded_size(op);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    store_op_encode(op, buf);
    seglog_buf recs[8];
    store_seg drops[8];
    store_op out;
    seglog_error err = {0};
    assert_int_equal(store_op_decode(buf, size, op->type, &out, recs, 8, drops, 8, &err), SEGLOG_OK);
    assert_int_equal(out.type, op->type);
    assert_int_equal(out.log.log_id, op->log.log_id);
    assert_int_equal(out.log.version, op->log.version);
    assert_int_equal(out.log.trim_point, op->log.trim_point);
    assert_int_equal(out.log.created_us, op->log.created_us);
    assert_true(seg_equal(&out.seg, &op->seg));
    assert_true(seg_equal(&out.seg2, &op->seg2));
    assert_int_equal(out.seg.seg_id, op->seg.seg_id);
    assert_int_equal(out.seg.next_lsn, op->seg.next_lsn);
    assert_int_equal(out.seg2.seg_id, op->seg2.seg_id);
    assert_int_equal(out.first_lsn, op->first_lsn);
    assert_int_equal(out.n, op->n);
    assert_int_equal(out.time_us, op->time_us);
    for (uint32_t i = 0; i < op->n; i++) {
        assert_int_equal(out.recs[i].len, op->recs[i].len);
        assert_memory_equal(out.recs[i].data, op->recs[i].data, op->recs[i].len);
    }
    assert_int_equal(out.n_dropped, op->n_dropped);
    for (uint32_t i = 0; i < op->n_dropped; i++)
        assert_true(seg_equal(&out.dropped[i], &op->dropped[i]));
    /* every truncation, and one byte too many, is refused without reading past the end */
    for (uint32_t n = 0; n < size; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, buf, n);
        assert_int_equal(store_op_decode(cut, n, op->type, &out, recs, 8, drops, 8, &err),
                         SEGLOG_ECORRUPT);
        free(cut);
    }
    uint8_t *longer = calloc(1, size + 1);
    assert_non_null(longer);
    memcpy(longer, buf, size);
    assert_int_equal(store_op_decode(longer, size + 1, op->type, &out, recs, 8, drops, 8, &err),
                     SEGLOG_ECORRUPT);
    free(longer);
    /* a wrong type byte is refused */
    assert_int_equal(store_op_decode(buf, size, 3, &out, recs, 8, drops, 8, &err),
                     SEGLOG_ECORRUPT);
    free(buf);
}

static void test_store_op_codec_each_type(void **state)
{
    (void)state;
    store_seg a = {.log_id = 5, .seg_id = 2, .base = 1, .next_lsn = 11, .sealed_at = 11,
                   .bytes = 99, .cf_no = 3, .state = STORE_SEG_SEALED};
    store_seg b = {.log_id = 5, .seg_id = 3, .base = 11, .next_lsn = 11, .cf_no = 4,
                   .state = STORE_SEG_OPEN};
    store_log lg = {.log_id = 5, .version = 2, .trim_point = 0, .created_us = 42};
    seglog_buf recs[3] = {{"alpha", 5}, {"", 0}, {"gamma!", 6}};
    store_seg dropped[2] = {a, b};
    dropped[0].state = STORE_SEG_TRIMMED;
    dropped[1].state = STORE_SEG_TRIMMED;
    const store_op ops[] = {
        {.type = STORE_OP_CREATE_LOG, .log = lg, .seg = b},
        {.type = STORE_OP_APPEND, .log = lg, .seg = b, .first_lsn = 11, .n = 3, .time_us = 7,
         .recs = recs},
        {.type = STORE_OP_SEAL, .log = lg, .seg = a},
        {.type = STORE_OP_EXTEND, .log = lg, .seg = b},
        {.type = STORE_OP_SEAL_EXTEND, .log = lg, .seg = a, .seg2 = b},
        {.type = STORE_OP_TRIM, .log = lg, .seg = b, .n_dropped = 2, .dropped = dropped},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        check_op_round_trip(&ops[i]);
}

/* ---- recovery of each op type ------------------------------------------------------------------ */

static seglog_options crash_options(void)
{
    seglog_options o;
    seglog_options_init(&o);
    o.checkpoint_interval_ms = 3600u * 1000u; /* nothing is checkpointed before the kill */
    o.cf_pool_target = 2;
    return o;
}

/* A digest of everything the API shows of log 1 and 2: describe (less the waiters) and records. */
static char *digest(seglog *s)
{
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (seglog_log_id id = 1; id <= 2; id++) {
        seglog_log_info *info = NULL;
        seglog_error err = {0};
        if (seglog_log_describe(s, id, &info, &err) != SEGLOG_OK) {
            len += (size_t)snprintf(out + len, cap - len, "log %llu absent\n",
                                    (unsigned long long)id);
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len,
                                "log %llu v%llu trim %llu tail %llu%s seg %llu\n",
                                (unsigned long long)id, (unsigned long long)info->version,
                                (unsigned long long)info->trim_point,
                                (unsigned long long)info->tail.lsn,
                                info->tail.sealed ? " sealed" : "",
                                (unsigned long long)info->tail.segment_id);
        for (size_t i = 0; i < info->n_segments; i++)
            len += (size_t)snprintf(out + len, cap - len,
                                    " seg %llu base %llu state %d sealed_at %llu rec %llu by %llu\n",
                                    (unsigned long long)info->segments[i].id,
                                    (unsigned long long)info->segments[i].base,
                                    (int)info->segments[i].state,
                                    (unsigned long long)info->segments[i].sealed_at,
                                    (unsigned long long)info->segments[i].records,
                                    (unsigned long long)info->segments[i].bytes);
        uint64_t tail = info->tail.lsn;
        seglog_log_info_free(info);
        for (seglog_lsn l = 1; l < tail; l++) {
            seglog_entry e;
            int rc = seglog_log_read(s, id, l, 0, &e, &err);
            assert_int_equal(rc, SEGLOG_OK);
            if (e.kind == SEGLOG_ENTRY_TRIM_GAP) {
                len += (size_t)snprintf(out + len, cap - len, " gap %llu..%llu\n",
                                        (unsigned long long)e.lsn, (unsigned long long)e.gap_to);
                l = e.gap_to;
            } else {
                len += (size_t)snprintf(out + len, cap - len, " %llu=%.*s\n",
                                        (unsigned long long)l, (int)e.len, (char *)e.payload);
            }
            seglog_entry_fini(&e);
            assert_true(len < cap - 256);
        }
    }
    return out;
}

typedef void (*workload_fn)(seglog *s);

static void append_n(seglog *s, seglog_log_id id, int n, const char *tag)
{
    for (int i = 0; i < n; i++) {
        char rec[64];
        int len = snprintf(rec, sizeof rec, "%s-%d", tag, i);
        seglog_lsn lsn;
        seglog_error err = {0};
        if (seglog_log_append(s, id, rec, (size_t)len, NULL, &lsn, &err) != SEGLOG_OK) {
            fprintf(stderr, "append: %s\n", err.message);
            _exit(3);
        }
    }
}

static void must(int rc, const seglog_error *err)
{
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "child: %s\n", err->message);
        _exit(4);
    }
}

static void wl_create(seglog *s)
{
    seglog_error err = {0};
    must(seglog_log_create(s, 1, &err), &err);
    must(seglog_log_create(s, 2, &err), &err);
}

static void wl_append(seglog *s)
{
    wl_create(s);
    append_n(s, 1, 20, "a");
    seglog_buf batch[3] = {{"b0", 2}, {"b1", 2}, {"b2", 2}};
    seglog_error err = {0};
    must(seglog_log_append_batch(s, 2, batch, 3, NULL, NULL, &err), &err);
}

static void wl_seal(seglog *s)
{
    wl_append(s);
    seglog_error err = {0};
    must(seglog_log_seal(s, 1, NULL, &err), &err);
}

static void wl_extend(seglog *s)
{
    wl_seal(s);
    seglog_error err = {0};
    must(seglog_log_extend(s, 1, 21, NULL, &err), &err);
    append_n(s, 1, 5, "x");
}

static void wl_seal_extend(seglog *s)
{
    wl_append(s);
    seglog_error err = {0};
    for (int i = 0; i < 3; i++) {
        must(seglog_log_seal_and_extend(s, 1, 0, NULL, &err), &err);
        append_n(s, 1, 4, i == 0 ? "p" : i == 1 ? "q" : "r");
    }
}

static void wl_trim(seglog *s)
{
    wl_seal_extend(s);
    seglog_error err = {0};
    must(seglog_log_trim(s, 1, 26, NULL, &err), &err);
    must(seglog_log_trim(s, 2, 1, NULL, &err), &err);
}

/* How long a test waits for the store's background threads (apply, CF pool) to catch up: far
 * more than they need, even in a sanitizer build on a busy machine (creating one CF can take
 * seconds there). */
#define SETTLE_TIMEOUT_MS 30000u
#define SETTLE_POLL_MS 5u

typedef bool (*stats_pred)(const seglog_stats *st, uint64_t arg);

/* Polls seglog_stats until pred holds, and leaves in *st the stats that satisfied it; fails the
 * test after SETTLE_TIMEOUT_MS, or at once if the store is poisoned. Needed because chain changes
 * are acknowledged once durable in the WAL, before the apply thread writes them to RocksDB and
 * recycles the column families a trim emptied, and the pool thread creates and drops CFs on its
 * own: CF counters read right after a call show a moment, not an outcome. */
static void stats_wait(seglog *s, stats_pred pred, uint64_t arg, const char *what,
                       seglog_stats *st)
{
    seglog_error err = {0};
    uint64_t deadline_ns = test_now_ns() + (uint64_t)SETTLE_TIMEOUT_MS * 1000000u;
    for (;;) {
        assert_int_equal(seglog_stats_get(s, st, &err), SEGLOG_OK);
        if (pred(st, arg))
            return;
        if (st->poisoned || test_now_ns() > deadline_ns)
            fail_msg("%s: not so after %u ms%s (column families %llu, segments %llu, pool %llu, "
                     "created %llu, recycled %llu, dropped %llu)",
                     what, SETTLE_TIMEOUT_MS, st->poisoned ? " (store poisoned)" : "",
                     (unsigned long long)st->column_families, (unsigned long long)st->segments,
                     (unsigned long long)st->cf_pool, (unsigned long long)st->cf_created,
                     (unsigned long long)st->cf_recycled, (unsigned long long)st->cf_dropped);
        usleep(SETTLE_POLL_MS * 1000u);
    }
}

/* The CFs of the first n segments trimmed whole are back in the pool, or dropped. */
static bool trims_recycled(const seglog_stats *st, uint64_t n)
{
    return st->cf_recycled + st->cf_dropped >= n;
}

/* The CF bookkeeping is at rest: every CF is a live segment's or in the pool (no trimmed
 * segment's CF waits for its recycling, none for its drop, no new one is half counted), and the
 * pool is refilled to its target (the pool thread has nothing left to do). */
static bool cfs_settled(const seglog_stats *st, uint64_t pool_target)
{
    return st->column_families == st->segments + st->cf_pool + 2 && st->cf_pool >= pool_target;
}

/* Seal and trim both logs round after round: each trim empties its segment's CF and puts it back
 * into the pool, and the next seal+extend (of either log: their LSNs overlap) takes it again.
 * Unless `settle`, the next seal+extend comes right after the trim is acknowledged, which may be
 * before it is applied: it then takes a CF the pool created meanwhile. With `settle`, it waits
 * (stats_wait: the test process only) until the trim's CF is back in the pool. */
#define RECYCLE_ROUNDS 8
static void recycle_rounds(seglog *s, bool settle)
{
    wl_create(s);
    seglog_error err = {0};
    uint64_t trimmed_whole = 0;
    for (int r = 0; r < RECYCLE_ROUNDS; r++) {
        for (seglog_log_id id = 1; id <= 2; id++) {
            char tag[16];
            snprintf(tag, sizeof tag, "l%llur%d", (unsigned long long)id, r);
            append_n(s, id, 3, tag);
            seglog_tail t;
            must(seglog_log_seal_and_extend(s, id, 0, &t, &err), &err);
            /* everything before the new segment, except in the last round: a partial trim */
            seglog_lsn to = r + 1 < RECYCLE_ROUNDS ? t.lsn - 1 : t.lsn - 2;
            must(seglog_log_trim(s, id, to, NULL, &err), &err);
            if (settle && r + 1 < RECYCLE_ROUNDS) {
                seglog_stats st;
                stats_wait(s, trims_recycled, ++trimmed_whole, "the trimmed segment's CF recycled",
                           &st);
            }
        }
    }
    append_n(s, 1, 2, "tail1");
    append_n(s, 2, 2, "tail2");
}

static void wl_recycle(seglog *s)
{
    recycle_rounds(s, false);
}

static const struct {
    const char *name;
    workload_fn fn;
} workloads[] = {{"recycle", wl_recycle}, {"create", wl_create}, {"append", wl_append},           {"seal", wl_seal},
                 {"extend", wl_extend}, {"seal-extend", wl_seal_extend}, {"trim", wl_trim},
                 {"none", NULL}};

/* The child's side: `test_storage --child NAME DIR` opens the store, runs the workload and is
 * killed right after it, before any checkpoint. A fresh process (not just a fork) because
 * RocksDB's background threads do not survive fork(). */
/* A child's store, checkpointing every 50 ms; NULL (said on stderr) if it does not open. */
static seglog *child_open_ckpt50(const char *dir)
{
    seglog_options o = crash_options();
    o.checkpoint_interval_ms = 50;
    seglog *s = NULL;
    seglog_error err = {0};
    if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK) {
        fprintf(stderr, "child open: %s\n", err.message);
        return NULL;
    }
    return s;
}

static uint64_t checkpoint_seq(seglog *s)
{
    seglog_stats st;
    seglog_error err = {0};
    must(seglog_stats_get(s, &st, &err), &err);
    return st.wal_checkpoint_seq;
}

/* Waits up to 10 s for the checkpoint to move past `from`; false if it did not. */
static bool checkpoint_moves(seglog *s, uint64_t from)
{
    for (int i = 0; i < 1000; i++) {
        if (checkpoint_seq(s) != from)
            return true;
        usleep(10000);
    }
    return checkpoint_seq(s) != from;
}

/* `--child replay-ckpt DIR`: reopens (replaying the WAL), waits for the first checkpoint after
 * the replay and is killed: whatever replay wrote must be in that checkpoint's flush. */
static int child_replay_ckpt(const char *dir)
{
    seglog *s = child_open_ckpt50(dir);
    if (!s)
        return 2;
    (void)checkpoint_moves(s, checkpoint_seq(s));
    raise(SIGKILL);
    return 6;
}

/* The cross-log case: log 1's records are flushed in CF X; log 1 is sealed and trimmed (X is
 * recycled), log 2's next segment takes X and gets records; the process dies; a reopen replays
 * it and checkpoints; it dies again. Log 2 must read its own records, never log 1's. */
static int child_cross(const char *step, const char *dir)
{
    seglog_options o = crash_options();
    seglog *s = NULL;
    seglog_error err = {0};
    if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK) {
        fprintf(stderr, "child open: %s\n", err.message);
        return 2;
    }
    if (strcmp(step, "a") == 0) {
        wl_create(s);
        append_n(s, 1, 3, "one");
        seglog_close(s); /* its final checkpoint flushes log 1's records into X */
        return 0;
    }
    seglog_log_info *info = NULL;
    must(seglog_log_describe(s, 1, &info, &err), &err);
    char x[sizeof info->segments[0].cf];
    memcpy(x, info->segments[0].cf, sizeof x);
    seglog_log_info_free(info);
    seglog_tail t;
    must(seglog_log_seal_and_extend(s, 1, 0, &t, &err), &err);
    must(seglog_log_trim(s, 1, t.lsn - 1, NULL, &err), &err);
    seglog_stats st;
    must(seglog_stats_get(s, &st, &err), &err);
    for (int i = 0; i < 1000 && st.cf_recycled == 0; i++) {
        usleep(10000);
        must(seglog_stats_get(s, &st, &err), &err);
    }
    must(seglog_log_seal_and_extend(s, 2, 0, &t, &err), &err);
    must(seglog_log_describe(s, 2, &info, &err), &err);
    bool same = info->n_segments == 2 && strcmp(info->segments[1].cf, x) == 0;
    seglog_log_info_free(info);
    if (!same) {
        fprintf(stderr, "child: log 2's new segment did not get log 1's recycled %s\n", x);
        return 5;
    }
    seglog_buf b[3] = {{"two-0", 5}, {"two-1", 5}, {"two-2", 5}};
    must(seglog_log_append_batch(s, 2, b, 3, NULL, NULL, &err), &err);
    raise(SIGKILL);
    return 6;
}

/* `--child failed-flush DIR`: the first checkpoint flush after open fails (as if RocksDB had
 * returned an error and then recovered); an append of 5 records to log 1 waits in its memtable.
 * Once a later checkpoint has moved, the process is killed: that checkpoint must have flushed
 * log 1's CF, or the records are gone (replay starts after the checkpoint). */
static int child_failed_flush(const char *dir)
{
    seglog *s = child_open_ckpt50(dir);
    if (!s)
        return 2;
    uint64_t at_open = checkpoint_seq(s);
    if (seglog_fail_checkpoint_flushes(s, 1) != SEGLOG_OK)
        return 8;
    /* one op: it is applied (log 1's CF marked) before any checkpoint can try to flush */
    seglog_buf b[5] = {{"ff-0", 4}, {"ff-1", 4}, {"ff-2", 4}, {"ff-3", 4}, {"ff-4", 4}};
    seglog_error err = {0};
    must(seglog_log_append_batch(s, 1, b, 5, NULL, NULL, &err), &err);
    if (!checkpoint_moves(s, at_open)) {
        fprintf(stderr, "child: no checkpoint within 10 s\n");
        return 5;
    }
    raise(SIGKILL);
    return 6;
}

static int child_main(const char *name, const char *dir)
{
    if (strcmp(name, "replay-ckpt") == 0)
        return child_replay_ckpt(dir);
    if (strcmp(name, "failed-flush") == 0)
        return child_failed_flush(dir);
    if (strncmp(name, "cross-", 6) == 0)
        return child_cross(name + 6, dir);
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
        if (strcmp(workloads[i].name, name) != 0)
            continue;
        seglog_options o = crash_options();
        seglog *s = NULL;
        seglog_error err = {0};
        if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK) {
            fprintf(stderr, "child open: %s\n", err.message);
            return 2;
        }
        if (workloads[i].fn)
            workloads[i].fn(s);
        raise(SIGKILL);
    }
    return 6;
}

static int run_child(const char *dir, const char *name)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_storage", "--child", name, dir, (char *)NULL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

static void run_and_kill(const char *dir, const char *name)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_storage", "--child", name, dir, (char *)NULL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static char *clean_digest(const char *dir, workload_fn fn)
{
    seglog_options o = crash_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, dir, &o, &err), SEGLOG_OK);
    if (fn)
        fn(s);
    char *d = digest(s);
    seglog_close(s);
    return d;
}

static void check_recovery(const char *base, const char *name, workload_fn fn)
{
    (void)fn;
    char ref[TEST_PATH_MAX], crash[TEST_PATH_MAX];
    TEST_FMT(ref, "%s/%s-ref", base, name);
    TEST_FMT(crash, "%s/%s-crash", base, name);
    char *want = clean_digest(ref, fn); /* the same workload without a crash */

    run_and_kill(crash, name);
    seglog_options o = crash_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, crash, &o, &err), SEGLOG_OK);
    char *got = digest(s);
    seglog_close(s);
    if (strcmp(want, got) != 0)
        fail_msg("%s: after a crash\n--- want\n%s--- got\n%s", name, want, got);
    free(got);

    /* the replay again, over what the first reopen applied and flushed at close, and again after
     * a crash that follows a replay with nothing flushed */
    run_and_kill(crash, "none");
    s = NULL;
    assert_int_equal(seglog_open(&s, crash, &o, &err), SEGLOG_OK);
    got = digest(s);
    seglog_close(s);
    if (strcmp(want, got) != 0)
        fail_msg("%s: after a second crash\n--- want\n%s--- got\n%s", name, want, got);
    free(got);

    /* crash, replay, checkpoint, crash: the checkpoint after a replay must cover what the
     * replay wrote (it once cleared the CFs' dirty marks, losing acknowledged records) */
    char crash2[TEST_PATH_MAX];
    TEST_FMT(crash2, "%s/%s-crash2", base, name);
    run_and_kill(crash2, name);
    assert_int_equal(run_child(crash2, "replay-ckpt"), -SIGKILL);
    s = NULL;
    assert_int_equal(seglog_open(&s, crash2, &o, &err), SEGLOG_OK);
    got = digest(s);
    seglog_close(s);
    if (strcmp(want, got) != 0)
        fail_msg("%s: after crash, replay, checkpoint, crash\n--- want\n%s--- got\n%s", name,
                 want, got);
    free(got);
    free(want);
}

static void test_store_recovery_of_each_op_type(void **state)
{
    fixture *f = *state;
    check_recovery(f->dir, "create", wl_create);
    check_recovery(f->dir, "append", wl_append);
    check_recovery(f->dir, "seal", wl_seal);
    check_recovery(f->dir, "extend", wl_extend);
    check_recovery(f->dir, "seal-extend", wl_seal_extend);
    check_recovery(f->dir, "trim", wl_trim);
    check_recovery(f->dir, "recycle", wl_recycle);
}

/* Acknowledged records are readable at once, before the apply thread writes them to RocksDB:
 * point reads, a reader following the tail, across a seal+extend, and after the apply resumes. */
static void test_store_durable_records_readable_before_apply(void **state)
{
    fixture *f = *state;
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, NULL, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 1, &err), SEGLOG_OK);
    seglog_reader *r = NULL;
    assert_int_equal(seglog_reader_open(&r, s, 1, SEGLOG_LSN_OLDEST, SEGLOG_LSN_MAX, &err),
                     SEGLOG_OK);
    seglog_pause_apply(s, true);
    append_n(s, 1, 10, "p");
    seglog_buf batch[3] = {{"b0", 2}, {"", 0}, {"b2", 2}};
    seglog_lsn first = 0;
    assert_int_equal(seglog_log_append_batch(s, 1, batch, 3, NULL, &first, &err), SEGLOG_OK);
    assert_int_equal(first, 11);
    assert_int_equal(seglog_log_seal_and_extend(s, 1, 0, NULL, &err), SEGLOG_OK);
    append_n(s, 1, 2, "q");
    const char *want[] = {"p-0", "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7",
                          "p-8", "p-9", "b0",  "",    "b2",  "q-0", "q-1"};
    for (int pass = 0; pass < 2; pass++) {
        for (seglog_lsn l = 1; l <= 15; l++) {
            seglog_entry e;
            assert_int_equal(seglog_log_read(s, 1, l, 0, &e, &err), SEGLOG_OK);
            assert_int_equal(e.kind, SEGLOG_ENTRY_RECORD);
            assert_int_equal(e.lsn, l);
            assert_int_equal(e.len, strlen(want[l - 1]));
            assert_memory_equal(e.payload, want[l - 1], e.len);
            assert_true(e.append_time_us > 0);
            seglog_entry_fini(&e);
            if (pass == 0) {
                assert_int_equal(seglog_reader_next(r, 0, &e, &err), SEGLOG_OK);
                assert_int_equal(e.lsn, l);
                assert_int_equal(e.len, strlen(want[l - 1]));
                assert_memory_equal(e.payload, want[l - 1], e.len); /* the reader owns it */
            }
        }
        seglog_pause_apply(s, false); /* pass 2 reads them from RocksDB (or still pending) */
    }
    seglog_reader_close(r);
    seglog_close(s);
}

/* A reader keeps a RocksDB cursor in the segment it reads; one still open at shutdown is
 * destroyed with the store, and closing the reader afterwards is safe (ASan checks the rest).
 * The cursor follows records applied after it was opened, across segments and a trim. */
static void test_store_reader_cursor_lifetime(void **state)
{
    fixture *f = *state;
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, NULL, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 1, &err), SEGLOG_OK);
    append_n(s, 1, 6, "a");
    seglog_reader *r = NULL, *r2 = NULL;
    assert_int_equal(seglog_reader_open(&r, s, 1, 1, SEGLOG_LSN_MAX, &err), SEGLOG_OK);
    assert_int_equal(seglog_reader_open(&r2, s, 1, 1, SEGLOG_LSN_MAX, &err), SEGLOG_OK);
    seglog_entry e;
    for (seglog_lsn l = 1; l <= 3; l++) {
        assert_int_equal(seglog_reader_next(r, 1000, &e, &err), SEGLOG_OK);
        assert_int_equal(e.lsn, l);
    }
    append_n(s, 1, 2, "b"); /* after the cursor was opened */
    assert_int_equal(seglog_log_seal_and_extend(s, 1, 0, NULL, &err), SEGLOG_OK);
    append_n(s, 1, 2, "c");
    const char *want[] = {"a-3", "a-4", "a-5", "b-0", "b-1", "c-0", "c-1"};
    for (seglog_lsn l = 4; l <= 10; l++) {
        assert_int_equal(seglog_reader_next(r, 1000, &e, &err), SEGLOG_OK);
        assert_int_equal(e.kind, SEGLOG_ENTRY_RECORD);
        assert_int_equal(e.lsn, l);
        assert_int_equal(e.len, strlen(want[l - 4]));
        assert_memory_equal(e.payload, want[l - 4], e.len);
    }
    /* r2 has a cursor in the first segment; a trim removes it under the reader */
    assert_int_equal(seglog_reader_next(r2, 1000, &e, &err), SEGLOG_OK);
    assert_int_equal(e.lsn, 1);
    assert_int_equal(seglog_log_trim(s, 1, 8, NULL, &err), SEGLOG_OK);
    assert_int_equal(seglog_reader_next(r2, 1000, &e, &err), SEGLOG_OK);
    assert_int_equal(e.kind, SEGLOG_ENTRY_TRIM_GAP);
    assert_int_equal(e.gap_to, 8);
    assert_int_equal(seglog_reader_next(r2, 1000, &e, &err), SEGLOG_OK);
    assert_int_equal(e.lsn, 9);
    assert_memory_equal(e.payload, "c-0", 3);
    seglog_reader_close(r2);
    seglog_shutdown(s);
    assert_int_equal(seglog_reader_next(r, 0, &e, &err), SEGLOG_ESHUTDOWN);
    seglog_reader_close(r);
    seglog_close(s);
}

typedef struct async_done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls, status;
    seglog_lsn first;
} async_done;

static void on_async(void *ctx, int status, seglog_lsn first, seglog_lsn last)
{
    (void)last;
    async_done *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->calls++;
    d->status = status;
    d->first = first;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* An asynchronous append parked behind a seal is listed by describe (what, segment, since, bound)
 * until the extension lets it in. */
static void test_store_describe_lists_parked_async_appends(void **state)
{
    fixture *f = *state;
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, NULL, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 1, &err), SEGLOG_OK);
    append_n(s, 1, 2, "a");
    seglog_tail sealed;
    assert_int_equal(seglog_log_seal(s, 1, &sealed, &err), SEGLOG_OK);
    async_done d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    seglog_append_opts ao = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = 60000};
    seglog_buf rec = {"parked", 6};
    assert_int_equal(seglog_log_append_async(s, 1, &rec, 1, &ao, on_async, &d, &err), SEGLOG_OK);
    seglog_log_info *info = NULL;
    assert_int_equal(seglog_log_describe(s, 1, &info, &err), SEGLOG_OK);
    assert_int_equal(info->n_waiters, 1);
    assert_string_equal(info->waiters[0].what, "reconfiguration (asynchronous append)");
    assert_int_equal(info->waiters[0].segment_id, sealed.segment_id);
    assert_int_equal(info->waiters[0].sealed_at, sealed.lsn);
    assert_int_equal(info->waiters[0].timeout_ms, 60000);
    assert_true(info->waiters[0].since_us > 0);
    seglog_log_info_free(info);
    char *text = NULL;
    assert_int_equal(seglog_log_describe_format(s, 1, 0, &text, &err), SEGLOG_OK);
    assert_non_null(strstr(text, "asynchronous append"));
    free(text);
    assert_int_equal(seglog_log_extend(s, 1, 0, NULL, &err), SEGLOG_OK);
    pthread_mutex_lock(&d.mu);
    while (d.calls == 0)
        pthread_cond_wait(&d.cv, &d.mu);
    pthread_mutex_unlock(&d.mu);
    assert_int_equal(d.status, SEGLOG_OK);
    assert_int_equal(d.first, sealed.lsn);
    assert_int_equal(seglog_log_describe(s, 1, &info, &err), SEGLOG_OK);
    assert_int_equal(info->n_waiters, 0);
    seglog_log_info_free(info);
    seglog_close(s);
}

/* Trimmed segments' column families serve new segments: no creation per seal+extend, and a
 * record read after the round-trip belongs to its own log (a recycled CF held the other log's
 * overlapping LSNs before).
 * A trim is acknowledged once durable, before the apply thread writes it and recycles its CF:
 * each round waits for that (recycle_rounds with settle) before its seal+extend takes a CF, and
 * the counters are read once the pool is at rest (cfs_settled). Without the waits they depend on
 * how far the apply thread lags: under ASan, by most of the workload, and the pool then creates a
 * CF for nearly every seal+extend and drops the surplus later, at the latest at the next open. */
static void test_store_trim_recycles_column_families(void **state)
{
    fixture *f = *state;
    seglog_options o;
    seglog_options_init(&o);
    o.cf_pool_target = 2;
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
    f->store = s;
    recycle_rounds(s, true);
    seglog_stats st;
    stats_wait(s, cfs_settled, o.cf_pool_target, "CFs at rest after the workload", &st);
    /* Every CF taken (2 creates, 2 * RECYCLE_ROUNDS seal+extends) came from the pool, which got
     * each by creating or recycling it; each trim but the last round's partial ones emptied one
     * segment's CF, and the next seal+extend took it back (the pool never overflowed: nothing
     * dropped). */
    assert_int_equal(st.cf_created + st.cf_recycled, 2 + 2 * RECYCLE_ROUNDS + st.cf_pool);
    assert_int_equal(st.cf_recycled, 2 * (RECYCLE_ROUNDS - 1));
    assert_int_equal(st.cf_dropped, 0);
    assert_true(st.cf_created < 2 * RECYCLE_ROUNDS);
    assert_int_equal(st.segments, 4); /* per log: the last sealed one (partly trimmed), the tail */
    assert_true(st.cf_pool <= 2 * o.cf_pool_target);
    assert_true(st.column_families <= st.segments + 2 * o.cf_pool_target + 2);
    for (int pass = 0; pass < 2; pass++) {
        for (seglog_log_id id = 1; id <= 2; id++) {
            seglog_log_info *info = NULL;
            assert_int_equal(seglog_log_describe(s, id, &info, &err), SEGLOG_OK);
            uint64_t tp = info->trim_point, tail = info->tail.lsn;
            seglog_log_info_free(info);
            assert_int_equal(tail, 3 * RECYCLE_ROUNDS + 2 + 1);
            assert_int_equal(tp, 3 * RECYCLE_ROUNDS - 1);
            seglog_entry e;
            assert_int_equal(seglog_log_read(s, id, 1, 0, &e, &err), SEGLOG_OK);
            assert_int_equal(e.kind, SEGLOG_ENTRY_TRIM_GAP);
            assert_int_equal(e.gap_to, tp);
            seglog_entry_fini(&e);
            const char *want[3];
            char last[16];
            snprintf(last, sizeof last, "l%llur%d-2", (unsigned long long)id, RECYCLE_ROUNDS - 1);
            want[0] = last;
            want[1] = id == 1 ? "tail1-0" : "tail2-0";
            want[2] = id == 1 ? "tail1-1" : "tail2-1";
            for (seglog_lsn l = tp + 1; l < tail; l++) {
                assert_int_equal(seglog_log_read(s, id, l, 0, &e, &err), SEGLOG_OK);
                assert_int_equal(e.kind, SEGLOG_ENTRY_RECORD);
                assert_int_equal(e.len, strlen(want[l - tp - 1]));
                assert_memory_equal(e.payload, want[l - tp - 1], e.len);
                seglog_entry_fini(&e);
            }
        }
        /* and the same after a reopen (recycled CFs adopted by the pool, none orphaned),
         * checked once the pool thread is done: a drop it was queued is then counted */
        seglog_close(s);
        f->store = s = NULL;
        assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
        f->store = s;
        stats_wait(s, cfs_settled, o.cf_pool_target, "CFs at rest after the reopen", &st);
        assert_int_equal(st.segments, 4);
        assert_true(st.column_families <= st.segments + 2 * o.cf_pool_target + 2);
        assert_int_equal(st.cf_dropped, 0);
    }
    seglog_close(s);
    f->store = NULL;
}

/* Asserts that LSN l of the log is a record holding exactly `want`. */
static void expect_record(seglog *s, seglog_log_id log, seglog_lsn l, const char *want)
{
    seglog_entry e;
    seglog_error err = {0};
    int rc = seglog_log_read(s, log, l, 0, &e, &err);
    if (rc != SEGLOG_OK)
        fail_msg("log %llu LSN %llu: %s", (unsigned long long)log, (unsigned long long)l,
                 err.message);
    assert_int_equal(e.kind, SEGLOG_ENTRY_RECORD);
    assert_int_equal(e.len, strlen(want));
    assert_memory_equal(e.payload, want, strlen(want));
    seglog_entry_fini(&e);
}

static void test_store_recycled_cf_after_replay_and_checkpoint(void **state)
{
    fixture *f = *state;
    assert_int_equal(run_child(f->dir, "cross-a"), 0);
    assert_int_equal(run_child(f->dir, "cross-b"), -SIGKILL);
    assert_int_equal(run_child(f->dir, "replay-ckpt"), -SIGKILL);
    seglog_options o = crash_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
    for (seglog_lsn l = 1; l <= 3; l++) {
        char want[8];
        snprintf(want, sizeof want, "two-%d", (int)l - 1);
        expect_record(s, 2, l, want);
        seglog_entry e;
        assert_int_equal(seglog_log_read(s, 1, l, 0, &e, &err), SEGLOG_OK);
        assert_int_equal(e.kind, SEGLOG_ENTRY_TRIM_GAP);
        seglog_entry_fini(&e);
    }
    seglog_close(s);
}

/* A checkpoint whose flush fails puts back the dirty marks it took: the next checkpoint flushes
 * those CFs before it moves (it used to move past records that were only in a memtable). */
static void test_store_failed_flush_keeps_marks(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    seglog_options o = crash_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 1, &err), SEGLOG_OK);
    seglog_close(s); /* checkpointed: the child's checkpoints start from nothing dirty */

    assert_int_equal(run_child(f->dir, "failed-flush"), -SIGKILL);
    s = NULL;
    assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
    for (seglog_lsn l = 1; l <= 5; l++) {
        char want[8];
        snprintf(want, sizeof want, "ff-%d", (int)l - 1);
        expect_record(s, 1, l, want);
    }
    seglog_close(s);
}

/* A second process is refused with a clear error while the first has the store open. */
static void test_store_second_open_is_busy(void **state)
{
    fixture *f = *state;
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, NULL, &err), SEGLOG_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_storage", "--open-busy", f->dir, (char *)NULL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    seglog_close(s);
}

static int open_busy_main(const char *dir)
{
    seglog *s2 = NULL;
    seglog_error e2 = {0};
    int rc = seglog_open(&s2, dir, NULL, &e2);
    return rc == SEGLOG_EBUSY && strstr(e2.message, "in use") ? 0 : 1;
}

/* ---- bookkeeping errors fail loudly (through storage's own API) -------------------------------- */

/* What the apply thread reported. */
typedef struct applied_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n;    /* ops reported */
    int status;    /* the status of the last one */
} applied_log;

static void on_store_applied(void *ctx, const store_op *op, int status)
{
    (void)op;
    applied_log *al = ctx;
    pthread_mutex_lock(&al->mu);
    al->n++;
    al->status = status;
    pthread_cond_broadcast(&al->cv);
    pthread_mutex_unlock(&al->mu);
}

typedef struct op_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
} op_wait;

static void on_store_done(void *ctx, int status, uint64_t seq, const store_pending *pend)
{
    (void)seq;
    (void)pend;
    op_wait *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->status = status;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* A store holding two logs, built op by op: log 1 has segment 1 (sealed, LSN 1..3) in CF a and
 * segment 2 (LSN 4..5) in CF b; log 2 has segment 3 (LSN 1..3) in CF c. */
typedef struct bk {
    store *st;
    applied_log al;
    seglog_error err;
    store_seg s1, s2, s3;
} bk;

/* Opens the store in dir; with fail_scan, that scan at open ends in a read error (see store.h). */
static int bk_open_scan(bk *b, const char *dir, store_scan fail_scan, uint32_t fail_after)
{
    b->al = (applied_log){.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    store_options so = {.applied = on_store_applied, .applied_ctx = &b->al,
                        .fail_scan = fail_scan, .fail_scan_after = fail_after};
    seglog_options_init(&so.pub);
    so.pub.cf_pool_target = 2;
    b->st = NULL;
    memset(&b->err, 0, sizeof b->err);
    return store_open(&b->st, dir, &so, &b->err);
}

static int bk_open(bk *b, const char *dir)
{
    return bk_open_scan(b, dir, STORE_SCAN_NONE, 0);
}

/* Waits until the apply thread has reported n ops in all. */
static void bk_wait_applied(bk *b, unsigned n)
{
    struct timespec d;
    clock_gettime(CLOCK_REALTIME, &d);
    d.tv_sec += 30;
    pthread_mutex_lock(&b->al.mu);
    while (b->al.n < n)
        if (pthread_cond_timedwait(&b->al.cv, &b->al.mu, &d) == ETIMEDOUT)
            break;
    unsigned got = b->al.n;
    pthread_mutex_unlock(&b->al.mu);
    if (got < n)
        fail_msg("the apply thread reported %u ops within 30 s, not %u", got, n);
}

/* Submits op; once it is durable and (if wait_applied) applied, returns the WAL's status and sets
 * *applied to the apply thread's. A refused op returns store_submit's code. */
static int bk_submit(bk *b, const store_op *op, bool wait_applied, int *applied)
{
    op_wait w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_mutex_lock(&b->al.mu);
    unsigned before = b->al.n;
    pthread_mutex_unlock(&b->al.mu);
    int rc = store_submit(b->st, op, on_store_done, &w, &b->err);
    if (rc != SEGLOG_OK)
        return rc;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    if (w.status == SEGLOG_OK && wait_applied && applied) {
        bk_wait_applied(b, before + 1);
        pthread_mutex_lock(&b->al.mu);
        *applied = b->al.status;
        pthread_mutex_unlock(&b->al.mu);
    }
    return w.status;
}

/* An APPEND of n records "tag-0".. to seg (advanced past them unless it is a copy). */
static store_op bk_append_op(store_seg *seg, seglog_buf recs[8], char text[8][16], const char *tag,
                             uint32_t n)
{
    store_op op = {.type = STORE_OP_APPEND, .log = {.log_id = seg->log_id},
                   .first_lsn = seg->next_lsn, .n = n, .time_us = 1, .recs = recs};
    for (uint32_t i = 0; i < n; i++) {
        snprintf(text[i], 16, "%s-%u", tag, i);
        recs[i] = (seglog_buf){text[i], strlen(text[i])};
        seg->bytes += recs[i].len;
    }
    seg->next_lsn += n;
    op.seg = *seg;
    return op;
}

static void bk_must(bk *b, const store_op *op)
{
    int applied = SEGLOG_OK;
    int rc = bk_submit(b, op, true, &applied);
    if (rc != SEGLOG_OK || applied != SEGLOG_OK)
        fail_msg("op %u: %d / applied %d: %s", op->type, rc, applied, b->err.message);
}

static void bk_append(bk *b, store_seg *seg, const char *tag, uint32_t n)
{
    seglog_buf recs[8];
    char text[8][16];
    store_op op = bk_append_op(seg, recs, text, tag, n);
    bk_must(b, &op);
}

static uint64_t bk_take(bk *b)
{
    uint64_t cf = 0;
    assert_int_equal(store_cf_take(b->st, &cf, 30000, &b->err), SEGLOG_OK);
    assert_true(cf != 0);
    return cf;
}

static void bk_build(bk *b)
{
    b->s1 = (store_seg){.log_id = 1, .seg_id = 1, .base = 1, .next_lsn = 1, .cf_no = bk_take(b),
                        .state = STORE_SEG_OPEN};
    store_op op = {.type = STORE_OP_CREATE_LOG, .log = {.log_id = 1, .version = 1, .created_us = 1},
                   .seg = b->s1};
    bk_must(b, &op);
    bk_append(b, &b->s1, "a", 3);
    b->s1.state = STORE_SEG_SEALED;
    b->s1.sealed_at = b->s1.next_lsn;
    b->s2 = (store_seg){.log_id = 1, .seg_id = 2, .base = 4, .next_lsn = 4, .cf_no = bk_take(b),
                        .state = STORE_SEG_OPEN};
    op = (store_op){.type = STORE_OP_SEAL_EXTEND, .log = {.log_id = 1, .version = 2,
                                                          .created_us = 1},
                    .seg = b->s1, .seg2 = b->s2};
    bk_must(b, &op);
    bk_append(b, &b->s2, "b", 2);
    b->s3 = (store_seg){.log_id = 2, .seg_id = 3, .base = 1, .next_lsn = 1, .cf_no = bk_take(b),
                        .state = STORE_SEG_OPEN};
    op = (store_op){.type = STORE_OP_CREATE_LOG, .log = {.log_id = 2, .version = 1, .created_us = 1},
                    .seg = b->s3};
    bk_must(b, &op);
    bk_append(b, &b->s3, "c", 3);
}

static void bk_expect_record(store *st, uint64_t cf_no, uint64_t lsn, const char *want)
{
    void *p = NULL;
    size_t len = 0;
    uint64_t t = 0;
    seglog_error err = {0};
    int rc = store_read(st, cf_no, lsn, &p, &len, &t, &err);
    if (rc != SEGLOG_OK)
        fail_msg("CF %llu LSN %llu: %s", (unsigned long long)cf_no, (unsigned long long)lsn,
                 err.message);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(p, want, len);
    free(p);
}

/* The acknowledged records of segments 2 and 3 (segment 1 is trimmed by some cases). */
static void bk_expect_data(bk *b)
{
    bk_expect_record(b->st, b->s2.cf_no, 4, "b-0");
    bk_expect_record(b->st, b->s2.cf_no, 5, "b-1");
    for (uint64_t l = 1; l <= 3; l++) {
        char want[16];
        snprintf(want, sizeof want, "c-%u", (unsigned)(l - 1));
        bk_expect_record(b->st, b->s3.cf_no, l, want);
    }
}

typedef struct bk_loaded {
    int logs;
    uint64_t tail_cf[3]; /* by log id: its last segment's CF */
    uint64_t tail_next[3];
} bk_loaded;

static int bk_load_one(void *ctx, const store_log *log, const store_seg *segs, size_t n)
{
    bk_loaded *l = ctx;
    l->logs++;
    if (log->log_id <= 2 && n > 0) {
        l->tail_cf[log->log_id] = segs[n - 1].cf_no;
        l->tail_next[log->log_id] = segs[n - 1].next_lsn;
    }
    return SEGLOG_OK;
}

/* The store refuses writes and says why: its failure message holds `named`. */
static void bk_expect_poisoned(bk *b, const char *named)
{
    char msg[SEGLOG_ERROR_MESSAGE_MAX] = "";
    assert_int_not_equal(store_failure(b->st, msg, sizeof msg), 0);
    if (!strstr(msg, named))
        fail_msg("the store's failure does not name \"%s\": %s", named, msg);
    store_seg copy = b->s3;
    seglog_buf recs[8];
    char text[8][16];
    store_op op = bk_append_op(&copy, recs, text, "late", 1);
    int applied = SEGLOG_OK;
    assert_int_equal(bk_submit(b, &op, true, &applied), SEGLOG_EPOISONED);
}

/* Closes the store (if open), reopens it and finds both logs and their acknowledged records. */
static void bk_reopen_and_check(bk *b, const char *dir)
{
    store_close(b->st);
    int rc = bk_open(b, dir);
    if (rc != SEGLOG_OK)
        fail_msg("reopen: %s", b->err.message);
    bk_loaded l = {0};
    assert_int_equal(store_load(b->st, bk_load_one, &l, &b->err), SEGLOG_OK);
    assert_int_equal(l.logs, 2);
    assert_int_equal(l.tail_cf[1], b->s2.cf_no);
    assert_int_equal(l.tail_next[1], 6);
    assert_int_equal(l.tail_cf[2], b->s3.cf_no);
    assert_true(l.tail_next[2] >= 4);
    bk_expect_data(b);
    store_close(b->st);
    b->st = NULL;
}

/* The pool counts CFs it does not hold (a bookkeeping error): taking one fails loudly instead of
 * handing out the caller's 0, whose segment's records were then never written. */
static void test_store_cf_take_from_miscounted_pool_fails(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    bk b;
    assert_int_equal(bk_open(&b, f->dir), SEGLOG_OK);
    bk_build(&b);
    assert_int_equal(store_fault_pool_miscount(b.st), SEGLOG_OK);
    uint64_t cf = 0;
    assert_int_equal(store_cf_take(b.st, &cf, 1000, &b.err), SEGLOG_ECORRUPT);
    assert_int_equal(cf, 0);
    assert_non_null(strstr(b.err.message, "pool counts 2 but none"));
    bk_expect_poisoned(&b, "pool counts 2 but none");
    bk_expect_data(&b);
    bk_reopen_and_check(&b, f->dir);
}

/* Bookkeeping errors of column families, each made on purpose in a store holding two logs. */
typedef enum bk_bad {
    BK_APPEND_MISSING,      /* an append to a CF that does not exist */
    BK_EXTEND_CF0,          /* an extension onto CF 0 (what a miscounted pool handed out) */
    BK_APPLY_MISSING,       /* an append whose CF is gone by the time it is applied (hook) */
    BK_TRIM_POOLED,         /* a segment trimmed again once its CF is back in the pool */
    BK_TRIM_TWICE_IN_BATCH, /* one trim listing the same segment twice */
    BK_RETURN_TWICE,        /* a CF given back to the pool twice */
} bk_bad;

/* A trim of log 1 that drops segment 1. */
static store_op bk_trim_s1(const bk *b, store_seg *dropped)
{
    *dropped = b->s1;
    dropped->state = STORE_SEG_TRIMMED;
    return (store_op){.type = STORE_OP_TRIM,
                      .log = {.log_id = 1, .version = 3, .trim_point = 3, .created_us = 1},
                      .n_dropped = 1, .dropped = dropped};
}

/* Makes the error `bad` in a fresh store under base/name and checks that it fails loudly:
 * SEGLOG_ECORRUPT naming the CF (from store_submit, or in the apply thread's report), the store
 * poisoned (a further write is refused), the records acknowledged before it readable, and both
 * logs with those records there after a reopen. */
static void bk_run(const char *base, const char *name, bk_bad bad)
{
    char dir[TEST_PATH_MAX];
    TEST_FMT(dir, "%s/%s", base, name);
    bk b;
    assert_int_equal(bk_open(&b, dir), SEGLOG_OK);
    bk_build(&b);
    uint64_t cf = 0;
    int submitted = SEGLOG_OK, applied = SEGLOG_OK;
    seglog_buf recs[8];
    char text[8][16];
    store_seg seg = b.s3, dropped;
    store_op op;
    switch (bad) {
    case BK_APPEND_MISSING:
        seg.cf_no = cf = 4242;
        op = bk_append_op(&seg, recs, text, "lost", 2);
        submitted = bk_submit(&b, &op, true, &applied);
        break;
    case BK_EXTEND_CF0:
        seg = (store_seg){.log_id = 2, .seg_id = 4, .base = 4, .next_lsn = 4, .cf_no = cf = 0,
                          .state = STORE_SEG_OPEN};
        op = (store_op){.type = STORE_OP_EXTEND,
                        .log = {.log_id = 2, .version = 2, .created_us = 1}, .seg = seg};
        submitted = bk_submit(&b, &op, true, &applied);
        break;
    case BK_APPLY_MISSING:
        assert_int_equal(store_fault_miss_next_cf(b.st), SEGLOG_OK);
        cf = b.s3.cf_no;
        op = bk_append_op(&seg, recs, text, "late-c", 2);
        submitted = bk_submit(&b, &op, true, &applied);
        break;
    case BK_TRIM_POOLED:
        op = bk_trim_s1(&b, &dropped);
        bk_must(&b, &op); /* its CF is recycled into the pool */
        cf = b.s1.cf_no;
        op.log.version++;
        submitted = bk_submit(&b, &op, true, &applied);
        break;
    case BK_TRIM_TWICE_IN_BATCH: {
        /* (two trims of it applied in one batch meet the same check, but whether they do share
         * a batch is up to the apply thread's timing) */
        store_seg twice[2];
        op = bk_trim_s1(&b, &twice[0]);
        twice[1] = twice[0];
        op.n_dropped = 2;
        op.dropped = twice;
        cf = b.s1.cf_no;
        submitted = bk_submit(&b, &op, true, &applied);
        break;
    }
    case BK_RETURN_TWICE:
        cf = bk_take(&b);
        store_cf_return(b.st, cf);
        store_cf_return(b.st, cf);
        break;
    }
    char named[48];
    TEST_FMT(named, "column family %llu ", (unsigned long long)cf);
    if (bad == BK_RETURN_TWICE) {
        /* (a void call: the poisoning below is its report) */
    } else if (bad == BK_APPLY_MISSING || bad == BK_TRIM_TWICE_IN_BATCH) {
        assert_int_equal(submitted, SEGLOG_OK); /* durable: found out when applied */
        assert_int_equal(applied, SEGLOG_ECORRUPT);
    } else {
        assert_int_equal(submitted, SEGLOG_ECORRUPT); /* refused before it is durable */
        if (!strstr(b.err.message, named))
            fail_msg("%s: the error does not name %s: %s", name, named, b.err.message);
    }
    bk_expect_poisoned(&b, named);
    bk_expect_data(&b);
    bk_reopen_and_check(&b, dir);
}

/* A write to a column family that does not exist fails loudly: it was skipped, and the records
 * acknowledged for it never reached RocksDB. */
static void test_store_write_to_missing_cf_fails(void **state)
{
    fixture *f = *state;
    bk_run(f->dir, "append", BK_APPEND_MISSING);
    bk_run(f->dir, "extend-cf0", BK_EXTEND_CF0);
    if (!wal_faults_compiled())
        TEST_SKIP("the rest needs fault injection (-DSEGLOG_FAULT_INJECTION=ON)");
    bk_run(f->dir, "apply", BK_APPLY_MISSING);
}

/* A column family recycled twice fails loudly: the second time, it was dropped from under the
 * pool's count, which then handed out a made-up CF number (0). */
static void test_store_double_recycle_fails(void **state)
{
    fixture *f = *state;
    bk_run(f->dir, "trim-pooled", BK_TRIM_POOLED);
    bk_run(f->dir, "trim-twice", BK_TRIM_TWICE_IN_BATCH);
    bk_run(f->dir, "return-twice", BK_RETURN_TWICE);
}

/* A read error in a scan of the metadata at open (or of an unused CF) fails the open, where it was
 * taken for the end of the data: logs after it were dropped, CFs of segments after it looked
 * unused (dropped, or pooled for new segments), a CF whose records could not be read looked
 * empty. Nothing is lost: a later open finds every log and record. */
static void test_store_open_read_error_fails(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    bk b;
    assert_int_equal(bk_open(&b, f->dir), SEGLOG_OK);
    bk_build(&b);
    store_close(b.st); /* two empty pool CFs stay unused: the CF_EMPTY scan reads them */
    const struct {
        store_scan kind;
        uint32_t after;
        const char *named;
    } cases[] = {
        {STORE_SCAN_SEGMENTS, 1, "scan segments: read error"},
        {STORE_SCAN_CF_EMPTY, 0, "read column family"},
        {STORE_SCAN_LOGS, 1, "read the logs: read error"},
        {STORE_SCAN_LOG_SEGMENTS, 1, "read the segments of log 1: read error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bk c = b;
        int rc = bk_open_scan(&c, f->dir, cases[i].kind, cases[i].after);
        if (rc == SEGLOG_OK) { /* the logs are read by store_load, after store_open */
            rc = store_load(c.st, bk_load_one, &(bk_loaded){0}, &c.err);
            store_close(c.st);
        }
        if (rc != SEGLOG_EIO || !strstr(c.err.message, cases[i].named))
            fail_msg("scan %d: %d, \"%s\" (want SEGLOG_EIO naming \"%s\")", (int)cases[i].kind,
                     rc, c.err.message, cases[i].named);
        /* nothing dropped or pooled: a plain open finds it all */
        c.st = NULL;
        bk_reopen_and_check(&c, f->dir);
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--open-busy") == 0)
        return open_busy_main(argv[2]);
    const char *pattern = getenv("SEGLOG_TEST_FILTER"); /* e.g. "*miscounted*": those tests only */
    if (pattern && *pattern)
        cmocka_set_test_filter(pattern);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_metadata_values_round_trip),
        cmocka_unit_test(test_store_op_codec_each_type),
        cmocka_unit_test_setup_teardown(test_store_recovery_of_each_op_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_second_open_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_trim_recycles_column_families, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_durable_records_readable_before_apply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_reader_cursor_lifetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_describe_lists_parked_async_appends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_recycled_cf_after_replay_and_checkpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_failed_flush_keeps_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_cf_take_from_miscounted_pool_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_write_to_missing_cf_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_double_recycle_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_read_error_fails, setup, teardown),
    };
    return TEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
