/*
 * test_conf_t.c — conformance group T (CONFORMANCE.md): tail following and waiting. A tail watcher
 * sees every change of the tail in order without polling (and says how many it missed when it
 * falls behind); a reader following the tail receives every record in order (its latency is
 * printed, not asserted: timings belong to the benchmarks); every blocking call takes a timeout
 * and fails with SEGLOG_ETIMEDOUT naming what it waited for.
 */
#include "test_util.h"

#include "test_conf_util.h"

#define LOG 4242u

static seglog_tail watch_next_at(const char *file, int line, seglog_tail_watch *tw,
                                 uint64_t *missed)
{
    seglog_tail t = {0};
    seglog_error err = {0};
    *missed = 99999;
    int rc = seglog_tail_watch_next(tw, CONF_WAIT_MS, &t, missed, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: tail_watch_next = %d (%s): %s", file, line, rc, seglog_strerror(rc),
                 err.message);
    return t;
}
#define WATCH_NEXT(tw, missed) watch_next_at(__FILE__, __LINE__, (tw), (missed))

/* The next change is exactly this tail, nothing missed. */
static void watch_expect_at(const char *file, int line, seglog_tail_watch *tw, seglog_lsn lsn,
                            int sealed, uint64_t version, uint64_t segment_id)
{
    uint64_t missed;
    seglog_tail t = watch_next_at(file, line, tw, &missed);
    if (t.lsn != lsn || t.sealed != sealed || t.version != version ||
        (segment_id != 0 && t.segment_id != segment_id) || missed != 0)
        fail_msg("%s:%d: watched %s at %" PRIu64 " v%" PRIu64 " segment %" PRIu64
                 " (missed %" PRIu64 "), want %s at %" PRIu64 " v%" PRIu64 " segment %" PRIu64,
                 file, line, t.sealed ? "sealed" : "open", t.lsn, t.version, t.segment_id, missed,
                 sealed ? "sealed" : "open", lsn, version, segment_id);
}
#define WATCH_EXPECT(tw, lsn, sealed, version, seg)                                                \
    watch_expect_at(__FILE__, __LINE__, (tw), (lsn), (sealed), (version), (seg))

static seglog_tail_watch *watch_open(seglog *s, seglog_log_id log)
{
    seglog_tail_watch *tw = NULL;
    seglog_error err = {0};
    int rc = seglog_tail_watch_open(&tw, s, log, &err);
    if (rc != SEGLOG_OK || !tw)
        fail_msg("tail_watch_open(%" PRIu64 ") = %d (%s): %s", log, rc, seglog_strerror(rc),
                 err.message);
    return tw;
}

/* ---- T01 ---------------------------------------------------------------------------------------- */

typedef struct t01_blocked {
    seglog_tail_watch *tw;
    int rc;
    seglog_tail t;
    uint64_t missed;
    uint64_t done_us;
    atomic_int done;
} t01_blocked;

static void *t01_blocked_main(void *arg)
{
    t01_blocked *b = arg;
    seglog_error err = {0};
    b->rc = seglog_tail_watch_next(b->tw, 10000, &b->t, &b->missed, &err);
    b->done_us = conf_now_us();
    atomic_store(&b->done, 1);
    return NULL;
}

#define T01_THREADS 4u
#define T01_PER_THREAD 100u

typedef struct t01_appender {
    seglog *s;
    int rc;
} t01_appender;

static void *t01_appender_main(void *arg)
{
    t01_appender *a = arg;
    for (uint32_t i = 0; i < T01_PER_THREAD; i++) {
        seglog_lsn lsn;
        seglog_error err = {0};
        a->rc = seglog_log_append(a->s, LOG, "x", 1, NULL, &lsn, &err);
        if (a->rc != SEGLOG_OK)
            return NULL;
    }
    return NULL;
}

static void test_conf_t01_tail_watch(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    seglog_tail t0 = CONF_TAIL(s, LOG);
    seglog_tail_watch *tw = watch_open(s, LOG);
    WATCH_EXPECT(tw, 1, 0, 1, t0.segment_id); /* the first call: the current tail */

    /* a watcher blocked in _next wakes on the change, not before */
    t01_blocked b = {.tw = tw};
    pthread_t th;
    conf_thread_start(&th, CONF_STACK_BYTES, t01_blocked_main, &b);
    conf_sleep_ms(300);
    assert_int_equal(atomic_load(&b.done), 0);
    uint64_t before_us = conf_now_us();
    assert_int_equal(CONF_APPEND(s, LOG, "r1"), 1);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, SEGLOG_OK);
    assert_true(b.done_us >= before_us);
    assert_int_equal(b.t.lsn, 2);
    assert_int_equal(b.t.sealed, 0);
    assert_int_equal(b.missed, 0);
    print_message("T01: blocked watcher woke %" PRIu64 " us after the append began\n",
                  b.done_us - before_us);

    /* open to open, open to sealed, sealed to open, in order */
    assert_int_equal(CONF_APPEND(s, LOG, "r2"), 2);
    assert_int_equal(CONF_APPEND(s, LOG, "r3"), 3);
    seglog_tail sealed = CONF_SEAL(s, LOG);
    seglog_tail ext = CONF_EXTEND(s, LOG, 4);
    assert_int_equal(CONF_APPEND(s, LOG, "r4"), 4);
    seglog_tail se = CONF_SEAL_EXTEND(s, LOG, 3);
    WATCH_EXPECT(tw, 3, 0, 1, t0.segment_id);
    WATCH_EXPECT(tw, 4, 0, 1, t0.segment_id);
    WATCH_EXPECT(tw, 4, 1, 2, sealed.segment_id);
    WATCH_EXPECT(tw, 4, 0, 3, ext.segment_id);
    WATCH_EXPECT(tw, 5, 0, 3, ext.segment_id);
    WATCH_EXPECT(tw, 5, 0, 4, se.segment_id);
    seglog_tail none;
    uint64_t missed = 0;
    seglog_error err = {0};
    assert_int_equal(seglog_tail_watch_next(tw, CONF_NOTHING_MS, &none, &missed, &err),
                     SEGLOG_ETIMEDOUT);

    /* a second watcher starts from the current tail */
    seglog_tail_watch *tw2 = watch_open(s, LOG);
    WATCH_EXPECT(tw2, 5, 0, 4, se.segment_id);
    seglog_tail_watch_close(tw2);

    /* falling more than SEGLOG_TAIL_HISTORY changes behind: the oldest kept, and how many lost */
    const uint64_t changes = SEGLOG_TAIL_HISTORY + 76;
    for (uint64_t i = 0; i < changes; i++) {
        char buf[32];
        TEST_FMT(buf, "h%" PRIu64, i);
        assert_int_equal(CONF_APPEND(s, LOG, buf), 5 + i);
    }
    seglog_tail t = WATCH_NEXT(tw, &missed);
    assert_int_equal(missed, 76);
    assert_int_equal(t.lsn, 5 + 76 + 1);
    for (uint64_t lsn = t.lsn + 1; lsn <= 5 + changes; lsn++)
        WATCH_EXPECT(tw, lsn, 0, 4, se.segment_id);
    assert_int_equal(seglog_tail_watch_next(tw, CONF_NOTHING_MS, &none, &missed, &err),
                     SEGLOG_ETIMEDOUT);

    /* concurrent appenders: the watcher sees the tail only grow, ending at the final tail */
    t01_appender ap[T01_THREADS];
    pthread_t at[T01_THREADS];
    for (uint32_t i = 0; i < T01_THREADS; i++) {
        ap[i] = (t01_appender){.s = s};
        conf_thread_start(&at[i], CONF_STACK_BYTES, t01_appender_main, &ap[i]);
    }
    seglog_lsn final = 5 + changes + T01_THREADS * T01_PER_THREAD;
    seglog_lsn last = 5 + changes;
    uint64_t seen = 0;
    while (last < final) {
        t = WATCH_NEXT(tw, &missed);
        assert_int_equal(missed, 0);
        if (t.lsn <= last)
            fail_msg("the watched tail went from %" PRIu64 " to %" PRIu64, last, t.lsn);
        last = t.lsn;
        seen++;
    }
    for (uint32_t i = 0; i < T01_THREADS; i++) {
        pthread_join(at[i], NULL);
        assert_int_equal(ap[i].rc, SEGLOG_OK);
    }
    assert_int_equal(last, final);
    assert_int_equal(seglog_tail_watch_next(tw, CONF_NOTHING_MS, &none, &missed, &err),
                     SEGLOG_ETIMEDOUT);
    print_message("T01: %" PRIu64 " tail changes seen for %u concurrent appends\n", seen,
                  T01_THREADS * T01_PER_THREAD);
    seglog_tail_watch_close(tw);
    seglog_close(s);
}

/* ---- T02 ---------------------------------------------------------------------------------------- */

#define T02_RECORDS 3000u

typedef struct t02 {
    seglog *s;
    uint64_t *ack_us;  /* [T02_RECORDS + 1] by LSN, set by the appender after the call returned */
    uint64_t *recv_us; /* [T02_RECORDS + 1] by LSN, set by the reader */
    seglog_lsn got;    /* last LSN the reader received */
    int rc;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} t02;

static void t02_payload(char *buf, size_t cap, seglog_lsn lsn)
{
    snprintf(buf, cap, "t02-record-%" PRIu64, lsn);
}

static void *t02_reader(void *arg)
{
    t02 *c = arg;
    seglog_reader *r = NULL;
    seglog_error err = {0};
    c->rc = seglog_reader_open(&r, c->s, LOG, 1, SEGLOG_LSN_MAX, &err);
    if (c->rc != SEGLOG_OK)
        goto fail;
    while (c->got < T02_RECORDS) {
        seglog_entry e = {0};
        c->rc = seglog_reader_next(r, 10000, &e, &err);
        if (c->rc != SEGLOG_OK)
            goto fail;
        uint64_t now = conf_now_us();
        char want[48];
        t02_payload(want, sizeof want, c->got + 1);
        if (e.kind != SEGLOG_ENTRY_RECORD || e.lsn != c->got + 1 || !conf_payload_is(&e, want)) {
            c->rc = SEGLOG_ECONFLICT;
            snprintf(c->msg, sizeof c->msg, "got kind %d LSN %" PRIu64 " (%zu bytes), want \"%s\"",
                     (int)e.kind, e.lsn, e.len, want);
            seglog_reader_close(r);
            return NULL;
        }
        c->recv_us[e.lsn] = now;
        c->got = e.lsn;
    }
    seglog_reader_close(r);
    return NULL;
fail:
    memcpy(c->msg, err.message, sizeof c->msg);
    seglog_reader_close(r);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_conf_t02_tailing_reader_receives_every_record(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    t02 c = {0};
    c.s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(c.s, LOG);
    c.ack_us = calloc(T02_RECORDS + 1, sizeof *c.ack_us);
    c.recv_us = calloc(T02_RECORDS + 1, sizeof *c.recv_us);
    assert_non_null(c.ack_us);
    assert_non_null(c.recv_us);
    pthread_t th;
    conf_thread_start(&th, CONF_STACK_BYTES, t02_reader, &c);

    /* singles and batches of 5, a seal-and-extend every 500 records, an occasional pause */
    seglog_lsn next = 1;
    while (next <= T02_RECORDS) {
        uint32_t k = (next / 7) % 3 == 0 && next + 5 <= T02_RECORDS + 1 ? 5 : 1;
        char bufs[5][48];
        seglog_buf recs[5];
        for (uint32_t i = 0; i < k; i++) {
            t02_payload(bufs[i], sizeof bufs[i], next + i);
            recs[i] = (seglog_buf){bufs[i], strlen(bufs[i])};
        }
        seglog_lsn first = 0;
        seglog_error err = {0};
        int rc = seglog_log_append_batch(c.s, LOG, recs, k, NULL, &first, &err);
        if (rc != SEGLOG_OK)
            fail_msg("append at %" PRIu64 ": %d: %s", next, rc, err.message);
        assert_int_equal(first, next);
        uint64_t now = conf_now_us();
        for (uint32_t i = 0; i < k; i++)
            c.ack_us[next + i] = now;
        seglog_lsn before = next;
        next += k;
        if ((next - 1) / 500 != (before - 1) / 500) /* crossed a multiple of 500 */
            CONF_SEAL_EXTEND(c.s, LOG, 0);
        if (next % 97 < k)
            conf_sleep_ms(3); /* let the reader catch up and wait at the tail */
    }
    pthread_join(th, NULL);
    if (c.rc != SEGLOG_OK)
        fail_msg("reader stopped after LSN %" PRIu64 ": %d (%s): %s", c.got, c.rc,
                 seglog_strerror(c.rc), c.msg);
    assert_int_equal(c.got, T02_RECORDS);

    /* the figures (not asserted): receive time minus acknowledgement time */
    int64_t *lat = calloc(T02_RECORDS, sizeof *lat);
    assert_non_null(lat);
    for (seglog_lsn l = 1; l <= T02_RECORDS; l++)
        lat[l - 1] = (int64_t)c.recv_us[l] - (int64_t)c.ack_us[l];
    qsort(lat, T02_RECORDS, sizeof *lat, cmp_i64);
    print_message("T02: write-to-read latency over %u records: p50 %" PRId64 " us, p99 %" PRId64
                  " us, max %" PRId64 " us (negative: read before the append returned)\n",
                  T02_RECORDS, lat[T02_RECORDS / 2], lat[T02_RECORDS * 99 / 100],
                  lat[T02_RECORDS - 1]);
    free(lat);
    free(c.ack_us);
    free(c.recv_us);
    CONF_EXPECT_TAIL(c.s, LOG, T02_RECORDS + 1, 0);
    seglog_close(c.s);
}

/* ---- T03 ---------------------------------------------------------------------------------------- */

#define T03_TIMEOUT_MS 300u

typedef struct t03_async {
    atomic_int calls;
    atomic_int status;
    uint64_t done_us;
} t03_async;

static void t03_async_cb(void *ctx, int status, seglog_lsn first, seglog_lsn last)
{
    t03_async *a = ctx;
    (void)first;
    (void)last;
    a->done_us = conf_now_us();
    atomic_store(&a->status, status);
    atomic_fetch_add(&a->calls, 1);
}

/* The call took at least (about) its timeout: it waited, and then it returned. */
#define EXPECT_WAITED(t0_ms, what)                                                                 \
    do {                                                                                           \
        uint64_t waited_ = conf_now_ms() - (t0_ms);                                                \
        if (waited_ + 50 < T03_TIMEOUT_MS)                                                         \
            fail_msg("%s returned after %" PRIu64 " ms, before its %u ms timeout", (what),         \
                     waited_, T03_TIMEOUT_MS);                                                     \
    } while (0)

static void test_conf_t03_bounded_waits(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 5);
    seglog_error err = {0};

    /* a read waiting for records */
    seglog_entry e = {0};
    uint64_t t0 = conf_now_ms();
    int rc = seglog_log_read(s, LOG, 987, T03_TIMEOUT_MS, &e, &err);
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    assert_int_equal(err.code, SEGLOG_ETIMEDOUT);
    EXPECT_WAITED(t0, "read");
    CONF_EXPECT_NAMES(err, 987);
    CONF_EXPECT_NAMES(err, LOG);
    /* timeout 0 does not wait */
    assert_int_equal(seglog_log_read(s, LOG, 6, 0, &e, &err), SEGLOG_ENOTFOUND);

    /* a read stream waiting at the tail */
    seglog_reader *r = CONF_READER(s, LOG, 6, SEGLOG_LSN_MAX);
    memset(&err, 0, sizeof err);
    t0 = conf_now_ms();
    rc = seglog_reader_next(r, T03_TIMEOUT_MS, &e, &err);
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    assert_int_equal(err.code, SEGLOG_ETIMEDOUT);
    EXPECT_WAITED(t0, "reader_next");
    CONF_EXPECT_NAMES(err, 6);
    CONF_EXPECT_NAMES(err, LOG);
    assert_int_equal(seglog_reader_next(r, 0, &e, &err), SEGLOG_ETIMEDOUT);
    seglog_reader_close(r);

    /* a tail watch waiting for a change */
    seglog_tail_watch *tw = watch_open(s, LOG);
    uint64_t missed = 0;
    seglog_tail t = WATCH_NEXT(tw, &missed);
    assert_int_equal(t.lsn, 6);
    memset(&err, 0, sizeof err);
    t0 = conf_now_ms();
    rc = seglog_tail_watch_next(tw, T03_TIMEOUT_MS, &t, &missed, &err);
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    assert_int_equal(err.code, SEGLOG_ETIMEDOUT);
    EXPECT_WAITED(t0, "tail_watch_next");
    CONF_EXPECT_NAMES(err, LOG);
    assert_int_equal(seglog_tail_watch_next(tw, 0, &t, &missed, &err), SEGLOG_ETIMEDOUT);
    seglog_tail_watch_close(tw);

    /* an append waiting for reconfiguration */
    seglog_tail sealed = CONF_SEAL(s, LOG);
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = T03_TIMEOUT_MS};
    seglog_lsn lsn = 0;
    memset(&err, 0, sizeof err);
    t0 = conf_now_ms();
    rc = seglog_log_append(s, LOG, "late", 4, &wait, &lsn, &err);
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    assert_int_equal(err.code, SEGLOG_ETIMEDOUT);
    EXPECT_WAITED(t0, "append");
    CONF_EXPECT_NAMES(err, sealed.segment_id);
    CONF_EXPECT_NAMES(err, sealed.lsn);
    /* a batch too */
    seglog_buf recs[2] = {{"b1", 2}, {"b2", 2}};
    t0 = conf_now_ms();
    rc = seglog_log_append_batch(s, LOG, recs, 2, &wait, &lsn, &err);
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    EXPECT_WAITED(t0, "append_batch");
    /* and an asynchronous one: its callback gets the timeout */
    t03_async a = {0};
    uint64_t t0_us = conf_now_us();
    assert_int_equal(seglog_log_append_async(s, LOG, recs, 2, &wait, t03_async_cb, &a, &err),
                     SEGLOG_OK);
    uint64_t deadline = conf_now_ms() + CONF_WAIT_MS + T03_TIMEOUT_MS;
    while (atomic_load(&a.calls) == 0 && conf_now_ms() < deadline)
        conf_sleep_ms(5);
    assert_int_equal(atomic_load(&a.calls), 1);
    assert_int_equal(atomic_load(&a.status), SEGLOG_ETIMEDOUT);
    if ((a.done_us - t0_us) / 1000 + 50 < T03_TIMEOUT_MS)
        fail_msg("async append timed out after %" PRIu64 " ms", (a.done_us - t0_us) / 1000);

    /* nobody waits any more, and nothing was written */
    seglog_stats st;
    assert_int_equal(seglog_stats_get(s, &st, &err), SEGLOG_OK);
    assert_int_equal(st.waiting_appenders, 0);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->n_waiters, 0);
    seglog_log_info_free(info);
    CONF_EXPECT_TAIL(s, LOG, 6, 1);
    t = CONF_EXTEND(s, LOG, 6);
    assert_int_equal(CONF_APPEND(s, LOG, "record6"), 6);
    CONF_EXPECT_RANGE(s, LOG, "record", 1, 6);
    conf_sleep_ms(50);
    assert_int_equal(atomic_load(&a.calls), 1); /* exactly once */
    seglog_close(s);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conf_t01_tail_watch, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_t02_tailing_reader_receives_every_record,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_t03_bounded_waits, conf_setup, conf_teardown),
    };
    conf_apply_filter();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
