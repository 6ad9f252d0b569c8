/*
 * test_conf_c.c — conformance group C (CONFORMANCE.md): chains of segments. Appends on many logs
 * and at close, reads across segment boundaries, seal without extend with a parked appender,
 * appends that survive reconfiguration, the headline case C05 (400 appenders against a sealer
 * reconfiguring every 100 ms, on one log and on 8), the rules of extend, prefix trims across
 * segments and a reader that meets a trim. Each test runs in a fresh directory.
 *
 * SEGLOG_C05_SECONDS (default 10) shortens or lengthens C05.
 */
#include "test_util.h"

#include "test_conf_util.h"

#define LOG 7u

/* ---- C01 ---------------------------------------------------------------------------------------- */

typedef struct c01_thread {
    seglog *s;
    int rc;
    seglog_lsn lsn[5];
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} c01_thread;

static void *c01_more_appends(void *arg)
{
    c01_thread *t = arg;
    for (int i = 0; i < 5; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "record%d", 6 + i);
        seglog_error err = {0};
        t->rc = seglog_log_append(t->s, 0, buf, strlen(buf), NULL, &t->lsn[i], &err);
        if (t->rc != SEGLOG_OK) {
            memcpy(t->msg, err.message, sizeof t->msg);
            return NULL;
        }
    }
    return NULL;
}

typedef struct c01_waiter {
    seglog *s;
    int rc;
    seglog_lsn lsn;
    atomic_int done;
} c01_waiter;

static void *c01_waiter_main(void *arg)
{
    c01_waiter *w = arg;
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = 20000};
    seglog_error err = {0};
    w->rc = seglog_log_append(w->s, 1, "parked", 6, &wait, &w->lsn, &err);
    atomic_store(&w->done, 1);
    return NULL;
}

#define C01_ASYNC 50

typedef struct c01_async {
    atomic_int calls[C01_ASYNC];
    int status[C01_ASYNC];
    seglog_lsn first[C01_ASYNC];
} c01_async;

typedef struct c01_async_ctx {
    c01_async *a;
    int i;
} c01_async_ctx;

static void c01_async_cb(void *ctx, int status, seglog_lsn first, seglog_lsn last)
{
    c01_async_ctx *c = ctx;
    (void)last;
    c->a->status[c->i] = status;
    c->a->first[c->i] = first;
    atomic_fetch_add(&c->a->calls[c->i], 1);
}

typedef struct c01_closer {
    seglog *s;
    atomic_int done;
} c01_closer;

static void *c01_closer_main(void *arg)
{
    c01_closer *c = arg;
    seglog_close(c->s);
    atomic_store(&c->done, 1);
    return NULL;
}

static void test_conf_c01_append_smoke_many_logs(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    for (seglog_log_id l = 0; l < 5; l++)
        CONF_CREATE(s, l);
    seglog_error err = {0};
    assert_int_equal(seglog_log_create(s, 3, &err), SEGLOG_EEXIST);
    assert_int_equal(err.code, SEGLOG_EEXIST);

    CONF_APPEND_RANGE(s, 0, "record", 1, 5);
    /* an unknown log */
    seglog_lsn lsn = 0;
    int rc = seglog_log_append(s, 4242, "x", 1, NULL, &lsn, &err);
    assert_int_equal(rc, SEGLOG_ENOTFOUND);
    assert_int_equal(err.code, SEGLOG_ENOTFOUND);
    CONF_EXPECT_NAMES(err, 4242);
    seglog_tail t;
    assert_int_equal(seglog_log_find_tail(s, 4242, &t, &err), SEGLOG_ENOTFOUND);

    /* 6..10 from another thread */
    c01_thread th = {.s = s};
    pthread_t tid;
    conf_thread_start(&tid, CONF_STACK_BYTES, c01_more_appends, &th);
    pthread_join(tid, NULL);
    if (th.rc != SEGLOG_OK)
        fail_msg("appends from another thread: %d: %s", th.rc, th.msg);
    for (int i = 0; i < 5; i++)
        assert_int_equal(th.lsn[i], 6 + i);

    assert_int_equal(CONF_APPEND(s, 3, "log3-first"), 1);
    assert_int_equal(CONF_APPEND(s, 0, "record11"), 11);
    assert_int_equal(CONF_APPEND(s, 0, "record12"), 12);
    CONF_EXPECT_TAIL(s, 0, 13, 0);
    CONF_EXPECT_TAIL(s, 3, 2, 0);
    CONF_EXPECT_TAIL(s, 1, 1, 0);
    CONF_EXPECT_RANGE(s, 0, "record", 1, 12);
    CONF_EXPECT_RECORD(s, 3, 1, "log3-first");

    seglog_log_id ids[8];
    size_t count = 0;
    assert_int_equal(seglog_log_list(s, ids, 8, &count, &err), SEGLOG_OK);
    assert_int_equal(count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ids[i], i);
    assert_int_equal(seglog_log_list(s, ids, 2, &count, &err), SEGLOG_OK);
    assert_int_equal(count, 5);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);

    /* close with appenders parked on a sealed log and asynchronous appends in flight: the parked
     * ones fail with SEGLOG_ESHUTDOWN, every accepted append completes once; nothing hangs */
    CONF_SEAL(s, 1);
    c01_waiter w[5];
    pthread_t wt[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (c01_waiter){.s = s};
        conf_thread_start(&wt[i], CONF_STACK_BYTES, c01_waiter_main, &w[i]);
    }
    uint64_t deadline = conf_now_ms() + CONF_WAIT_MS;
    seglog_stats st = {0};
    do {
        conf_sleep_ms(5);
        assert_int_equal(seglog_stats_get(s, &st, &err), SEGLOG_OK);
    } while (st.waiting_appenders < 5 && conf_now_ms() < deadline);
    assert_int_equal(st.waiting_appenders, 5);

    c01_async *a = calloc(1, sizeof *a);
    c01_async_ctx ctx[C01_ASYNC];
    assert_non_null(a);
    int accepted[C01_ASYNC];
    for (int i = 0; i < C01_ASYNC; i++) {
        char buf[32];
        TEST_FMT(buf, "async%d", i);
        seglog_buf rec = {buf, strlen(buf)};
        ctx[i] = (c01_async_ctx){.a = a, .i = i};
        accepted[i] = seglog_log_append_async(s, 2, &rec, 1, NULL, c01_async_cb, &ctx[i], &err);
        assert_int_equal(accepted[i], SEGLOG_OK);
    }
    c01_closer closer = {.s = s};
    pthread_t ct;
    conf_thread_start(&ct, CONF_STACK_BYTES, c01_closer_main, &closer);
    deadline = conf_now_ms() + 10000;
    while (!atomic_load(&closer.done) && conf_now_ms() < deadline)
        conf_sleep_ms(5);
    if (!atomic_load(&closer.done))
        fail_msg("seglog_close did not return within 10 s with parked appenders");
    pthread_join(ct, NULL);
    for (int i = 0; i < 5; i++) {
        pthread_join(wt[i], NULL);
        assert_int_equal(atomic_load(&w[i].done), 1);
        if (w[i].rc != SEGLOG_ESHUTDOWN)
            fail_msg("parked appender %d: %d (%s), want SEGLOG_ESHUTDOWN", i, w[i].rc,
                     seglog_strerror(w[i].rc));
    }
    int ok = 0;
    for (int i = 0; i < C01_ASYNC; i++) {
        assert_int_equal(atomic_load(&a->calls[i]), 1); /* before close returned, exactly once */
        if (a->status[i] == SEGLOG_OK)
            ok++;
        else if (a->status[i] != SEGLOG_ESHUTDOWN)
            fail_msg("async append %d: %d (%s)", i, a->status[i], seglog_strerror(a->status[i]));
    }

    /* what was acknowledged is there after reopening */
    s = CONF_OPEN(f->dir, &o);
    CONF_EXPECT_RANGE(s, 0, "record", 1, 12);
    CONF_EXPECT_TAIL(s, 1, 1, 1);
    for (int i = 0; i < C01_ASYNC; i++)
        if (a->status[i] == SEGLOG_OK) {
            char buf[32];
            TEST_FMT(buf, "async%d", i);
            CONF_EXPECT_RECORD(s, 2, a->first[i], buf);
        }
    seglog_tail t2 = CONF_TAIL(s, 2);
    assert_int_equal(t2.lsn, (seglog_lsn)ok + 1);
    print_message("C01: %d of %d asynchronous appends completed before close\n", ok, C01_ASYNC);
    free(a);
    seglog_close(s);
}

/* ---- C02 ---------------------------------------------------------------------------------------- */

static void test_conf_c02_read_across_segments(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 5);
    seglog_tail before = CONF_TAIL(s, LOG);
    seglog_tail t = CONF_SEAL_EXTEND(s, LOG, 0);
    assert_int_equal(t.lsn, 6);
    assert_int_equal(t.sealed, 0);
    assert_int_equal(t.version, before.version + 1);
    assert_true(t.segment_id != before.segment_id);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->version, before.version + 1);
    assert_int_equal(info->n_segments, 2);
    assert_int_equal(info->segments[0].id, before.segment_id);
    assert_int_equal(info->segments[0].base, 1);
    assert_int_equal(info->segments[0].state, SEGLOG_SEGMENT_SEALED);
    assert_int_equal(info->segments[0].sealed_at, 6);
    assert_int_equal(info->segments[0].records, 5);
    assert_int_equal(info->segments[1].id, t.segment_id);
    assert_int_equal(info->segments[1].base, 6);
    assert_int_equal(info->segments[1].state, SEGLOG_SEGMENT_OPEN);
    assert_true(strcmp(info->segments[0].cf, info->segments[1].cf) != 0);
    seglog_log_info_free(info);

    CONF_APPEND_RANGE(s, LOG, "record", 6, 8);
    const seglog_lsn probes[] = {1, 2, 5, 6, 8};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        char want[32];
        TEST_FMT(want, "record%" PRIu64, probes[i]);
        CONF_EXPECT_RECORD(s, LOG, probes[i], want);
    }
    CONF_EXPECT_NOTHING_YET(s, LOG, 9);
    CONF_EXPECT_TAIL(s, LOG, 9, 0);

    /* a stream from 3 crosses the boundary: no gap, no duplicate */
    seglog_reader *r = CONF_READER(s, LOG, 3, SEGLOG_LSN_MAX);
    CONF_READER_RANGE(r, "record", 3, 8);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    seglog_reader_close(r);
    /* and a bounded one ends */
    r = CONF_READER(s, LOG, 3, 7);
    CONF_READER_RANGE(r, "record", 3, 7);
    CONF_READER_END(r);
    seglog_reader_close(r);
    seglog_close(s);
}

/* ---- C03 ---------------------------------------------------------------------------------------- */

typedef struct c03_waiter {
    seglog *s;
    uint32_t timeout_ms;
    int rc;
    seglog_lsn lsn;
    seglog_error err;
    atomic_int done;
} c03_waiter;

static void *c03_waiter_main(void *arg)
{
    c03_waiter *w = arg;
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = w->timeout_ms};
    w->rc = seglog_log_append(w->s, LOG, "record6", 7, &wait, &w->lsn, &w->err);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_conf_c03_seal_without_extend_then_extend(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 5);
    seglog_tail sealed = CONF_SEAL(s, LOG);
    assert_int_equal(sealed.lsn, 6);
    assert_int_equal(sealed.version, 2);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->n_segments, 1); /* sealed, no successor */
    assert_int_equal(info->segments[0].state, SEGLOG_SEGMENT_SEALED);
    assert_int_equal(info->segments[0].sealed_at, 6);
    assert_int_equal(info->n_waiters, 0);
    seglog_log_info_free(info);

    /* reading the sealed segment completes */
    seglog_reader *r = CONF_READER(s, LOG, 4, 5);
    CONF_READER_RANGE(r, "record", 4, 5);
    CONF_READER_END(r);
    seglog_reader_close(r);

    /* an appender that chose to wait is reported as waiting for reconfiguration */
    c03_waiter w = {.s = s, .timeout_ms = 20000};
    pthread_t th;
    conf_thread_start(&th, CONF_STACK_BYTES, c03_waiter_main, &w);
    uint64_t deadline = conf_now_ms() + CONF_WAIT_MS;
    for (;;) {
        info = CONF_DESCRIBE(s, LOG);
        if (info->n_waiters > 0 || conf_now_ms() >= deadline)
            break;
        seglog_log_info_free(info);
        conf_sleep_ms(5);
    }
    assert_int_equal(info->n_waiters, 1);
    const seglog_waiter_info *wi = &info->waiters[0];
    assert_non_null(wi->what);
    assert_string_equal(wi->what, "reconfiguration");
    assert_int_equal(wi->segment_id, sealed.segment_id);
    assert_int_equal(wi->sealed_at, 6);
    assert_int_equal(wi->timeout_ms, 20000);
    assert_true(wi->since_us > 0);
    assert_true(wi->waited_ms < 20000);
    seglog_log_info_free(info);
    seglog_stats st;
    seglog_error err = {0};
    assert_int_equal(seglog_stats_get(s, &st, &err), SEGLOG_OK);
    assert_int_equal(st.waiting_appenders, 1);
    /* the text and JSON descriptions say so too */
    char *text = NULL;
    assert_int_equal(seglog_log_describe_format(s, LOG, 0, &text, &err), SEGLOG_OK);
    assert_non_null(strstr(text, "reconfiguration"));
    free(text);
    text = NULL;
    assert_int_equal(seglog_log_describe_format(s, LOG, 1, &text, &err), SEGLOG_OK);
    assert_non_null(strstr(text, "reconfiguration"));
    assert_true(text[0] == '{');
    free(text);
    conf_sleep_ms(100);
    assert_int_equal(atomic_load(&w.done), 0);

    /* extend: the waiting appender lands at 6 without a retry by its caller */
    seglog_tail t = CONF_EXTEND(s, LOG, 6);
    assert_int_equal(t.lsn, 6);
    assert_int_equal(t.version, 3);
    assert_true(t.segment_id != sealed.segment_id);
    pthread_join(th, NULL);
    if (w.rc != SEGLOG_OK)
        fail_msg("parked appender: %d (%s): %s", w.rc, seglog_strerror(w.rc), w.err.message);
    assert_int_equal(w.lsn, 6);
    CONF_EXPECT_RECORD(s, LOG, 6, "record6");
    CONF_EXPECT_TAIL(s, LOG, 7, 0);
    info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->n_waiters, 0);
    assert_int_equal(info->n_segments, 2);
    assert_int_equal(info->segments[1].base, 6);
    seglog_log_info_free(info);
    seglog_close(s);
}

/* ---- C04 ---------------------------------------------------------------------------------------- */

#define C04_MAX_RECORDS (1u << 20)

typedef struct c04 {
    seglog *s;
    atomic_uint_fast64_t committed; /* records */
    atomic_uint_fast64_t calls;     /* appends that returned SEGLOG_OK */
    atomic_int stop;
    seglog_lsn *lsn_of; /* [C04_MAX_RECORDS], by record number */
    uint64_t n;         /* records committed (appender thread only) */
    int rc;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} c04;

static void *c04_appender(void *arg)
{
    c04 *c = arg;
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = 30000};
    char bufs[10][32];
    seglog_buf recs[10];
    for (uint64_t call = 0; !atomic_load(&c->stop) && c->n + 10 <= C04_MAX_RECORDS; call++) {
        uint32_t k = call % 2 == 0 ? 1 : 10;
        for (uint32_t i = 0; i < k; i++) {
            snprintf(bufs[i], sizeof bufs[i], "c04-%" PRIu64, c->n + i);
            recs[i] = (seglog_buf){bufs[i], strlen(bufs[i])};
        }
        seglog_lsn first = 0;
        seglog_error err = {0};
        int rc = k == 1 ? seglog_log_append(c->s, LOG, bufs[0], recs[0].len, &wait, &first, &err)
                        : seglog_log_append_batch(c->s, LOG, recs, k, &wait, &first, &err);
        if (rc != SEGLOG_OK) {
            c->rc = rc;
            memcpy(c->msg, err.message, sizeof c->msg);
            return NULL;
        }
        for (uint32_t i = 0; i < k; i++)
            c->lsn_of[c->n + i] = first + i;
        c->n += k;
        atomic_store(&c->committed, c->n);
        atomic_fetch_add(&c->calls, 1);
    }
    return NULL;
}

/* Waits (bounded) until the committed count exceeds `than`. */
static void c04_expect_growth(c04 *c, uint64_t than, int round)
{
    uint64_t deadline = conf_now_ms() + CONF_WAIT_MS;
    while (atomic_load(&c->committed) <= than + 20 && conf_now_ms() < deadline && c->rc == 0)
        conf_sleep_ms(2);
    if (atomic_load(&c->committed) <= than)
        fail_msg("round %d: no append completed after the extension (rc %d: %s)", round, c->rc,
                 c->msg);
}

/* After a seal at tail: every record below the tail is committed, and no more will be. */
static void c04_expect_stopped(c04 *c, seglog_lsn tail, int round)
{
    conf_sleep_ms(100);
    uint64_t c1 = atomic_load(&c->committed);
    conf_sleep_ms(300);
    uint64_t c2 = atomic_load(&c->committed);
    if (c1 != c2)
        fail_msg("round %d: committed count grew from %" PRIu64 " to %" PRIu64 " after the seal",
                 round, c1, c2);
    assert_int_equal(c1, tail - 1);
}

static void test_conf_c04_appends_survive_reconfiguration(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    c04 *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->lsn_of = calloc(C04_MAX_RECORDS, sizeof *c->lsn_of);
    assert_non_null(c->lsn_of);
    c->s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(c->s, LOG);
    seglog_tail t = CONF_TAIL(c->s, LOG);
    uint64_t changes = 0;
    uint64_t seg = t.segment_id;

    pthread_t th;
    conf_thread_start(&th, CONF_STACK_BYTES, c04_appender, c);
    uint64_t deadline = conf_now_ms() + 30000;
    while (atomic_load(&c->calls) < 100 && conf_now_ms() < deadline && c->rc == 0)
        conf_sleep_ms(2);
    assert_true(atomic_load(&c->calls) >= 100);

    seglog_tail sealed = CONF_SEAL(c->s, LOG);
    changes++;
    c04_expect_stopped(c, sealed.lsn, 0);
    seglog_log_info *info = CONF_DESCRIBE(c->s, LOG);
    assert_int_equal(info->n_waiters, 1);
    assert_int_equal(info->waiters[0].segment_id, sealed.segment_id);
    assert_int_equal(info->waiters[0].sealed_at, sealed.lsn);
    seglog_log_info_free(info);

    bool is_sealed = true;
    for (int round = 1; round <= 5; round++) {
        conf_sleep_ms(100);
        uint64_t before = atomic_load(&c->committed);
        seglog_tail cur = CONF_TAIL(c->s, LOG);
        if (is_sealed)
            t = CONF_EXTEND(c->s, LOG, cur.lsn);
        else
            t = CONF_SEAL_EXTEND(c->s, LOG, cur.version);
        changes++;
        assert_int_equal(t.version, cur.version + 1);
        if (t.segment_id <= seg)
            fail_msg("round %d: tail segment id %" PRIu64 " did not grow from %" PRIu64, round,
                     t.segment_id, seg);
        seg = t.segment_id;
        c04_expect_growth(c, before, round);
        is_sealed = false;
        if (round == 1 || round == 3) {
            sealed = CONF_SEAL(c->s, LOG);
            changes++;
            c04_expect_stopped(c, sealed.lsn, round);
            is_sealed = true;
        }
    }
    conf_sleep_ms(50);
    atomic_store(&c->stop, 1);
    pthread_join(th, NULL);
    if (c->rc != SEGLOG_OK)
        fail_msg("appender failed: %d (%s): %s", c->rc, seglog_strerror(c->rc), c->msg);

    /* nothing lost or duplicated: record n is at LSN n + 1, the log holds exactly them */
    t = CONF_EXPECT_TAIL(c->s, LOG, c->n + 1, 0);
    assert_int_equal(t.version, 1 + changes);
    for (uint64_t n = 0; n < c->n; n++)
        if (c->lsn_of[n] != n + 1)
            fail_msg("record %" PRIu64 " got LSN %" PRIu64, n, c->lsn_of[n]);
    seglog_reader *r = CONF_READER(c->s, LOG, 1, c->n);
    for (uint64_t n = 0; n < c->n; n++) {
        char want[32];
        TEST_FMT(want, "c04-%" PRIu64, n);
        CONF_READER_RECORD(r, n + 1, want);
    }
    CONF_READER_END(r);
    seglog_reader_close(r);
    info = CONF_DESCRIBE(c->s, LOG);
    assert_int_equal(info->n_segments, 6);
    seglog_log_info_free(info);
    print_message("C04: %" PRIu64 " records in %" PRIu64 " appends across 6 segments\n", c->n,
                  (uint64_t)atomic_load(&c->calls));
    seglog_close(c->s);
    free(c->lsn_of);
    free(c);
}

/* ---- C05 ---------------------------------------------------------------------------------------- */

#define C05_APPENDERS 400u
#define C05_WAIT_MS 5000u         /* each append's bound on waiting for reconfiguration */
#define C05_SEAL_PERIOD_MS 100u
#define C05_MAX_WAIT_US 1000000u  /* the spec's bound on one append's wait */

typedef struct c05_shared {
    seglog *s;
    atomic_int stop;
} c05_shared;

typedef struct c05_appender {
    c05_shared *sh;
    seglog_log_id log;
    uint32_t id;      /* unique across logs */
    seglog_lsn *lsns; /* by record number */
    uint32_t n, cap;
    uint64_t max_wait_us;
    int rc;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} c05_appender;

typedef struct c05_sealer {
    c05_shared *sh;
    seglog_log_id log;
    uint32_t start_delay_ms;
    uint32_t period_ms;
    uint64_t start_version;
    uint64_t reconfigs;
    uint64_t stale;          /* find_tail showed another segment or version than created */
    char stale_msg[160];
    uint64_t max_seal_us;
    int rc;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} c05_sealer;

static void *c05_appender_main(void *arg)
{
    c05_appender *a = arg;
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = C05_WAIT_MS};
    char buf[48];
    while (!atomic_load_explicit(&a->sh->stop, memory_order_relaxed)) {
        if (a->n == a->cap) {
            uint32_t cap = a->cap ? a->cap * 2 : 1024;
            seglog_lsn *p = realloc(a->lsns, cap * sizeof *p);
            if (!p) {
                a->rc = SEGLOG_ENOMEM;
                return NULL;
            }
            a->lsns = p;
            a->cap = cap;
        }
        int len = snprintf(buf, sizeof buf, "appender-%u-record%u", a->id, a->n);
        seglog_lsn lsn = 0;
        seglog_error err;
        err.message[0] = '\0';
        uint64_t t0 = conf_now_us();
        int rc = seglog_log_append(a->sh->s, a->log, buf, (size_t)len, &wait, &lsn, &err);
        uint64_t waited = conf_now_us() - t0;
        if (waited > a->max_wait_us)
            a->max_wait_us = waited;
        if (rc != SEGLOG_OK) {
            a->rc = rc;
            memcpy(a->msg, err.message, sizeof a->msg);
            return NULL;
        }
        a->lsns[a->n++] = lsn;
    }
    return NULL;
}

static void *c05_sealer_main(void *arg)
{
    c05_sealer *z = arg;
    seglog_tail last = {0};
    seglog_error err = {0};
    int rc = seglog_log_find_tail(z->sh->s, z->log, &last, &err);
    if (rc != SEGLOG_OK)
        goto fail;
    z->start_version = last.version;
    uint64_t next_ms = conf_now_ms() + z->start_delay_ms + z->period_ms;
    while (!atomic_load(&z->sh->stop)) {
        uint64_t now = conf_now_ms();
        if (now < next_ms) {
            conf_sleep_ms((uint32_t)(next_ms - now < 10 ? next_ms - now : 10));
            continue;
        }
        next_ms += z->period_ms;
        if (next_ms < now)
            next_ms = now + z->period_ms; /* fell behind: do not burst */
        seglog_tail cur = {0};
        rc = seglog_log_find_tail(z->sh->s, z->log, &cur, &err);
        if (rc != SEGLOG_OK)
            goto fail;
        /* the chain caught up: its tail segment is the one created last time */
        if (cur.segment_id != last.segment_id || cur.version != last.version || cur.sealed) {
            if (z->stale++ == 0)
                snprintf(z->stale_msg, sizeof z->stale_msg,
                         "find_tail: segment %" PRIu64 " v%" PRIu64 " %s, created segment %" PRIu64
                         " v%" PRIu64,
                         cur.segment_id, cur.version, cur.sealed ? "sealed" : "open",
                         last.segment_id, last.version);
        }
        seglog_tail out = {0};
        uint64_t t0 = conf_now_us();
        rc = seglog_log_seal_and_extend(z->sh->s, z->log, cur.version, &out, &err);
        uint64_t took = conf_now_us() - t0;
        if (took > z->max_seal_us)
            z->max_seal_us = took;
        if (rc != SEGLOG_OK)
            goto fail;
        if (out.version != cur.version + 1 || out.sealed || out.segment_id == cur.segment_id ||
            out.lsn < cur.lsn) {
            z->rc = SEGLOG_ECONFLICT;
            snprintf(z->msg, sizeof z->msg,
                     "seal_and_extend returned v%" PRIu64 " segment %" PRIu64 " %s at %" PRIu64
                     " after v%" PRIu64 " segment %" PRIu64 " at %" PRIu64,
                     out.version, out.segment_id, out.sealed ? "sealed" : "open", out.lsn,
                     cur.version, cur.segment_id, cur.lsn);
            return NULL;
        }
        z->reconfigs++;
        last = out;
    }
    return NULL;
fail:
    z->rc = rc;
    memcpy(z->msg, err.message, sizeof z->msg);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void c05_run(const char *dir, uint32_t n_logs)
{
    uint32_t seconds = conf_env_u32("SEGLOG_C05_SECONDS", 10);
    seglog_options o;
    conf_options(&o);
    o.wal_file_size_bytes = 32u << 20;
    c05_shared sh = {0};
    sh.s = CONF_OPEN(dir, &o);
    for (uint32_t l = 0; l < n_logs; l++)
        CONF_CREATE(sh.s, 100 + l);

    c05_appender *ap = calloc(C05_APPENDERS, sizeof *ap);
    pthread_t *ath = calloc(C05_APPENDERS, sizeof *ath);
    c05_sealer *z = calloc(n_logs, sizeof *z);
    pthread_t *zth = calloc(n_logs, sizeof *zth);
    assert_non_null(ap);
    assert_non_null(ath);
    assert_non_null(z);
    assert_non_null(zth);
    for (uint32_t i = 0; i < C05_APPENDERS; i++) {
        ap[i] = (c05_appender){.sh = &sh, .log = 100 + i % n_logs, .id = i};
        conf_thread_start(&ath[i], CONF_SMALL_STACK_BYTES, c05_appender_main, &ap[i]);
    }
    /* One seal+extend every 100 ms for the whole store: with 8 logs each log is reconfigured every
     * 800 ms, in turn. (Every log every 100 ms would need 80 new column families a second, one
     * per segment; creating one takes 30-300 ms here, growing with their number: README.md,
     * "How many live segments".) */
    for (uint32_t l = 0; l < n_logs; l++) {
        z[l] = (c05_sealer){.sh = &sh, .log = 100 + l,
                            .start_delay_ms = l * C05_SEAL_PERIOD_MS,
                            .period_ms = C05_SEAL_PERIOD_MS * n_logs};
        conf_thread_start(&zth[l], CONF_STACK_BYTES, c05_sealer_main, &z[l]);
    }
    uint64_t t0 = conf_now_ms();
    for (uint32_t i = 0; i < seconds * 10u; i++) {
        conf_sleep_ms(100);
        /* stop early if something already failed */
        bool failed = false;
        for (uint32_t l = 0; l < n_logs; l++)
            failed |= z[l].rc != SEGLOG_OK;
        if (failed)
            break;
    }
    atomic_store(&sh.stop, 1);
    for (uint32_t l = 0; l < n_logs; l++)
        pthread_join(zth[l], NULL);
    for (uint32_t i = 0; i < C05_APPENDERS; i++)
        pthread_join(ath[i], NULL);
    uint64_t elapsed_ms = conf_now_ms() - t0;

    /* no appender and no sealer failed */
    uint64_t max_wait_us = 0, appends = 0, reconfigs = 0, max_seal_us = 0;
    uint32_t max_wait_id = 0;
    for (uint32_t l = 0; l < n_logs; l++) {
        if (z[l].rc != SEGLOG_OK)
            fail_msg("sealer of log %" PRIu64 ": %d (%s): %s", z[l].log, z[l].rc,
                     seglog_strerror(z[l].rc), z[l].msg);
        if (z[l].stale != 0)
            fail_msg("sealer of log %" PRIu64 ": %" PRIu64 " times the chain had not caught up: %s",
                     z[l].log, z[l].stale, z[l].stale_msg);
        reconfigs += z[l].reconfigs;
        if (z[l].max_seal_us > max_seal_us)
            max_seal_us = z[l].max_seal_us;
    }
    for (uint32_t i = 0; i < C05_APPENDERS; i++) {
        if (ap[i].rc != SEGLOG_OK)
            fail_msg("appender %u (log %" PRIu64 ") failed after %u appends: %d (%s): %s", i,
                     ap[i].log, ap[i].n, ap[i].rc, seglog_strerror(ap[i].rc), ap[i].msg);
        appends += ap[i].n;
        if (ap[i].max_wait_us > max_wait_us) {
            max_wait_us = ap[i].max_wait_us;
            max_wait_id = i;
        }
    }
    print_message("C05 (%u log%s, %u s): %" PRIu64 " appends by %u appenders, %" PRIu64
                  " reconfigurations, longest append %.1f ms (appender %u), longest "
                  "seal_and_extend %.1f ms, %.0f appends/s\n",
                  n_logs, n_logs == 1 ? "" : "s", seconds, appends, C05_APPENDERS, reconfigs,
                  (double)max_wait_us / 1000.0, max_wait_id, (double)max_seal_us / 1000.0,
                  (double)appends * 1000.0 / (double)(elapsed_ms ? elapsed_ms : 1));

    /* per log: unique LSNs, exactly [1, max] on disk with the right payloads, version */
    for (uint32_t l = 0; l < n_logs; l++) {
        seglog_log_id log = 100 + l;
        size_t n = 0;
        for (uint32_t i = l; i < C05_APPENDERS; i += n_logs)
            n += ap[i].n;
        assert_true(n > 0);
        uint64_t *all = calloc(n, sizeof *all);
        assert_non_null(all);
        size_t k = 0;
        for (uint32_t i = l; i < C05_APPENDERS; i += n_logs) {
            for (uint32_t j = 0; j < ap[i].n; j++) {
                if (j > 0 && ap[i].lsns[j] <= ap[i].lsns[j - 1])
                    fail_msg("appender %u: LSN %" PRIu64 " after %" PRIu64, i, ap[i].lsns[j],
                             ap[i].lsns[j - 1]);
                all[k++] = ap[i].lsns[j];
            }
        }
        qsort(all, n, sizeof *all, cmp_u64);
        for (size_t j = 1; j < n; j++)
            if (all[j] == all[j - 1])
                fail_msg("log %" PRIu64 ": LSN %" PRIu64 " committed twice", log, all[j]);
        seglog_lsn max = all[n - 1];
        /* every LSN in [1, max] was committed by exactly one appender (no append failed) */
        if (n != max)
            fail_msg("log %" PRIu64 ": %zu committed LSNs, but the largest is %" PRIu64, log, n,
                     max);
        free(all);
        uint32_t *owner = calloc(max + 1, sizeof *owner);
        uint32_t *rec = calloc(max + 1, sizeof *rec);
        assert_non_null(owner);
        assert_non_null(rec);
        for (uint32_t i = l; i < C05_APPENDERS; i += n_logs)
            for (uint32_t j = 0; j < ap[i].n; j++) {
                owner[ap[i].lsns[j]] = i;
                rec[ap[i].lsns[j]] = j;
            }
        seglog_reader *r = CONF_READER(sh.s, log, 1, max);
        for (seglog_lsn lsn = 1; lsn <= max; lsn++) {
            char want[48];
            TEST_FMT(want, "appender-%u-record%u", owner[lsn], rec[lsn]);
            CONF_READER_RECORD(r, lsn, want);
        }
        CONF_READER_END(r);
        seglog_reader_close(r);
        free(owner);
        free(rec);
        seglog_tail t = CONF_EXPECT_TAIL(sh.s, log, max + 1, 0);
        assert_int_equal(t.version, z[l].start_version + z[l].reconfigs);
        seglog_log_info *info = CONF_DESCRIBE(sh.s, log);
        assert_int_equal(info->n_segments, z[l].reconfigs + 1);
        assert_int_equal(info->n_waiters, 0);
        seglog_log_info_free(info);
    }
    /* the sealers were not stuck: one seal+extend per 100 ms was asked for; a call that waits for
     * a new column family delays the next one (about 90 of 100 happen in the normal build, 50-65
     * under TSan: README.md, "How many live segments") */
    uint64_t expected = (uint64_t)seconds * 1000u / C05_SEAL_PERIOD_MS;
    uint64_t floor_pct = conf_env_u32("SEGLOG_C05_MIN_RECONFIG_PCT", 25); /* 10 under ASan */
    if (reconfigs * 100u < expected * floor_pct)
        fail_msg("only %" PRIu64 " reconfigurations in %u s; the sealers should have made %" PRIu64,
                 reconfigs, seconds, expected);
    /* The spec's bound, 1 s, holds in the build users run. Sanitizer builds run everything 2-10x
     * slower on these 2 cores; tests/conformance.cmake gives them a looser bound through
     * SEGLOG_C05_MAX_WAIT_MS, and the figure above is printed either way. */
    uint64_t bound_us = (uint64_t)conf_env_u32("SEGLOG_C05_MAX_WAIT_MS", C05_MAX_WAIT_US / 1000u) *
                        1000u;
    if (max_wait_us >= bound_us)
        fail_msg("an append waited %.1f ms (appender %u); the bound is %.0f ms",
                 (double)max_wait_us / 1000.0, max_wait_id, (double)bound_us / 1000.0);

    for (uint32_t i = 0; i < C05_APPENDERS; i++)
        free(ap[i].lsns);
    free(ap);
    free(ath);
    free(z);
    free(zth);
    seglog_close(sh.s);
}

static void test_conf_c05_append_and_seal_concurrent(void **state)
{
    conf_fixture *f = *state;
    c05_run(f->dir, 1);
}

static void test_conf_c05_append_and_seal_concurrent_8_logs(void **state)
{
    conf_fixture *f = *state;
    c05_run(f->dir, 8);
}

/* ---- C06 ---------------------------------------------------------------------------------------- */

static void test_conf_c06_extend_rules(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 10);
    CONF_SEAL_EXTEND(s, LOG, 1);
    CONF_APPEND_RANGE(s, LOG, "record", 11, 20);
    CONF_SEAL_EXTEND(s, LOG, 2);
    CONF_APPEND_RANGE(s, LOG, "record", 21, 26);
    seglog_tail sealed = CONF_SEAL(s, LOG);
    assert_int_equal(sealed.lsn, 27);
    assert_int_equal(sealed.version, 4);

    /* a base that is not the sealed tail: a conflict naming the expected base */
    seglog_error err = {0};
    seglog_tail t = {0};
    const seglog_lsn bad_bases[] = {25, 26, 28, 1};
    for (size_t i = 0; i < sizeof bad_bases / sizeof bad_bases[0]; i++) {
        memset(&err, 0, sizeof err);
        int rc = seglog_log_extend(s, LOG, bad_bases[i], &t, &err);
        if (rc != SEGLOG_ECONFLICT)
            fail_msg("extend at %" PRIu64 " = %d (%s), want SEGLOG_ECONFLICT", bad_bases[i], rc,
                     seglog_strerror(rc));
        assert_int_equal(err.code, SEGLOG_ECONFLICT);
        CONF_EXPECT_NAMES(err, 27);
    }
    t = CONF_EXPECT_TAIL(s, LOG, 27, 1);
    assert_int_equal(t.version, 4);

    t = CONF_EXTEND(s, LOG, 27);
    assert_int_equal(t.lsn, 27);
    assert_int_equal(t.version, 5);

    /* extending an open tail segment is refused, at any base */
    const seglog_lsn open_bases[] = {27, 0, 26, 28};
    for (size_t i = 0; i < sizeof open_bases / sizeof open_bases[0]; i++) {
        int rc = seglog_log_extend(s, LOG, open_bases[i], &t, &err);
        if (rc != SEGLOG_ECONFLICT)
            fail_msg("extend of an open tail at %" PRIu64 " = %d (%s), want SEGLOG_ECONFLICT",
                     open_bases[i], rc, seglog_strerror(rc));
    }
    t = CONF_EXPECT_TAIL(s, LOG, 27, 0);
    assert_int_equal(t.version, 5);

    /* raise the version to 17, then a stale (and a future) expected version conflicts */
    for (uint64_t v = 5; v < 17; v++) {
        char buf[32];
        TEST_FMT(buf, "record%" PRIu64, 22 + v);
        assert_int_equal(CONF_APPEND(s, LOG, buf), 22 + v);
        CONF_SEAL_EXTEND(s, LOG, v);
    }
    assert_int_equal(CONF_VERSION(s, LOG), 17);
    int rc = seglog_log_seal_and_extend(s, LOG, 13, &t, &err);
    assert_int_equal(rc, SEGLOG_ECONFLICT);
    assert_int_equal(err.code, SEGLOG_ECONFLICT);
    CONF_EXPECT_NAMES(err, 13);
    CONF_EXPECT_NAMES(err, 17);
    rc = seglog_log_seal_and_extend(s, LOG, 18, &t, &err);
    assert_int_equal(rc, SEGLOG_ECONFLICT);
    CONF_EXPECT_NAMES(err, 18);
    CONF_EXPECT_NAMES(err, 17);
    t = CONF_EXPECT_TAIL(s, LOG, 39, 0);
    assert_int_equal(t.version, 17);
    t = CONF_SEAL_EXTEND(s, LOG, 17);
    assert_int_equal(t.version, 18);
    assert_int_equal(t.lsn, 39);

    /* unknown logs */
    assert_int_equal(seglog_log_extend(s, 4242, 0, &t, &err), SEGLOG_ENOTFOUND);
    assert_int_equal(seglog_log_seal(s, 4242, &t, &err), SEGLOG_ENOTFOUND);
    assert_int_equal(seglog_log_seal_and_extend(s, 4242, 0, &t, &err), SEGLOG_ENOTFOUND);
    CONF_EXPECT_RANGE(s, LOG, "record", 1, 38);
    seglog_close(s);
}

/* ---- C07 ---------------------------------------------------------------------------------------- */

static void test_conf_c07_prefix_trim_across_segments(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 10);
    seglog_tail first_seg = CONF_TAIL(s, LOG);
    seglog_tail t = CONF_SEAL_EXTEND(s, LOG, 0);
    CONF_APPEND_RANGE(s, LOG, "record", 11, 20);
    seglog_error err = {0};
    seglog_stats st0, st1;
    assert_int_equal(seglog_stats_get(s, &st0, &err), SEGLOG_OK);
    assert_int_equal(st0.segments, 2);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    char first_cf[32];
    memcpy(first_cf, info->segments[0].cf, sizeof first_cf);
    seglog_log_info_free(info);

    assert_int_equal(CONF_TRIM(s, LOG, 15), 15);
    /* the whole first segment is dropped (one chain change); the second keeps 16..20 */
    info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->trim_point, 15);
    assert_int_equal(info->version, t.version + 1);
    size_t live = 0;
    for (size_t i = 0; i < info->n_segments; i++) {
        const seglog_segment_info *si = &info->segments[i];
        if (si->id == first_seg.segment_id) {
            assert_int_equal(si->state, SEGLOG_SEGMENT_TRIMMED);
            continue;
        }
        live++;
        assert_int_equal(si->id, t.segment_id);
        assert_int_equal(si->base, 11);
        assert_int_equal(si->state, SEGLOG_SEGMENT_OPEN);
        assert_true(strcmp(si->cf, first_cf) != 0);
    }
    assert_int_equal(live, 1);
    seglog_log_info_free(info);
    assert_int_equal(seglog_stats_get(s, &st1, &err), SEGLOG_OK);
    assert_int_equal(st1.segments, 1); /* its storage reclaimed */
    seglog_tail t2 = CONF_EXPECT_TAIL(s, LOG, 21, 0);
    assert_int_equal(t2.segment_id, t.segment_id);

    CONF_EXPECT_GAP(s, LOG, 1, 1, 15);
    CONF_EXPECT_GAP_COVERING(s, LOG, 12, 15);
    CONF_EXPECT_RANGE(s, LOG, "record", 16, 20);
    seglog_reader *r = CONF_READER(s, LOG, 1, SEGLOG_LSN_MAX);
    CONF_READER_GAP(r, 1, 15);
    CONF_READER_RANGE(r, "record", 16, 20);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    seglog_reader_close(r);

    /* trimming everything never removes the tail segment */
    assert_int_equal(CONF_TRIM(s, LOG, SEGLOG_LSN_MAX), 20);
    info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->trim_point, 20);
    assert_true(info->n_segments >= 1);
    const seglog_segment_info *last = &info->segments[info->n_segments - 1];
    assert_int_equal(last->id, t.segment_id);
    assert_int_equal(last->state, SEGLOG_SEGMENT_OPEN);
    assert_int_equal(info->version, t.version + 1); /* the tail segment stays: no chain change */
    seglog_log_info_free(info);
    assert_int_equal(CONF_APPEND(s, LOG, "record21"), 21);
    CONF_EXPECT_TAIL(s, LOG, 22, 0);
    CONF_EXPECT_GAP_COVERING(s, LOG, 20, 20);
    CONF_EXPECT_RECORD(s, LOG, 21, "record21");

    /* nor a sealed tail segment without a successor */
    CONF_CREATE(s, LOG + 1);
    CONF_APPEND_RANGE(s, LOG + 1, "record", 1, 5);
    seglog_tail sealed = CONF_SEAL(s, LOG + 1);
    assert_int_equal(CONF_TRIM(s, LOG + 1, SEGLOG_LSN_MAX), 5);
    info = CONF_DESCRIBE(s, LOG + 1);
    assert_int_equal(info->segments[info->n_segments - 1].id, sealed.segment_id);
    assert_int_equal(info->segments[info->n_segments - 1].state, SEGLOG_SEGMENT_SEALED);
    seglog_log_info_free(info);
    CONF_EXPECT_TAIL(s, LOG + 1, 6, 1);
    t = CONF_EXTEND(s, LOG + 1, 6);
    assert_int_equal(CONF_APPEND(s, LOG + 1, "record6"), 6);
    CONF_EXPECT_GAP_COVERING(s, LOG + 1, 3, 5);
    seglog_close(s);
}

/* ---- C08 ---------------------------------------------------------------------------------------- */

static void test_conf_c08_reader_observes_chain_trim(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 10);
    CONF_SEAL_EXTEND(s, LOG, 0);
    CONF_APPEND_RANGE(s, LOG, "record", 11, 20);

    /* mid-way through segment 1 when segment 1 is trimmed away */
    seglog_reader *r = CONF_READER(s, LOG, 1, SEGLOG_LSN_MAX);
    CONF_READER_RANGE(r, "record", 1, 4);
    assert_int_equal(CONF_TRIM(s, LOG, 10), 10);
    CONF_READER_GAP(r, 5, 10);
    CONF_READER_RANGE(r, "record", 11, 20);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    CONF_APPEND_RANGE(s, LOG, "record", 21, 21);
    CONF_READER_RANGE(r, "record", 21, 21);
    seglog_reader_close(r);

    /* a trim reaching into segment 2 while a reader is in segment 2: a gap up to the trim point */
    r = CONF_READER(s, LOG, 11, SEGLOG_LSN_MAX);
    CONF_READER_RANGE(r, "record", 11, 12);
    CONF_SEAL_EXTEND(s, LOG, 0);
    CONF_APPEND_RANGE(s, LOG, "record", 22, 25);
    assert_int_equal(CONF_TRIM(s, LOG, 23), 23);
    CONF_READER_GAP(r, 13, 23);
    CONF_READER_RANGE(r, "record", 24, 25);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    seglog_reader_close(r);

    /* a reader blocked at the tail when everything is trimmed keeps waiting, then gets data */
    r = CONF_READER(s, LOG, 26, SEGLOG_LSN_MAX);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    assert_int_equal(CONF_TRIM(s, LOG, SEGLOG_LSN_MAX), 25);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    CONF_APPEND_RANGE(s, LOG, "record", 26, 27);
    CONF_READER_RANGE(r, "record", 26, 27);
    seglog_reader_close(r);
    seglog_close(s);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conf_c01_append_smoke_many_logs, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c02_read_across_segments, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c03_seal_without_extend_then_extend, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c04_appends_survive_reconfiguration, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c05_append_and_seal_concurrent, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c05_append_and_seal_concurrent_8_logs,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c06_extend_rules, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c07_prefix_trim_across_segments, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c08_reader_observes_chain_trim, conf_setup,
                                        conf_teardown),
    };
    conf_apply_filter();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
