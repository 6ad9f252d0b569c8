/*
 * test_conf_l.c — conformance group L (CONFORMANCE.md): one segment at a time. Smoke (appends,
 * reads, blocking reads, trim), read streams that start in the future or meet trims, appends after
 * a seal (one thread and 20 threads on each of 10 logs), sealing an empty log, the record size
 * limit, and batches (atomic and contiguous, also across a crash). Each test runs in a fresh
 * directory.
 */
#include "test_util.h"

#include "test_conf_util.h"

#define LOG 7u

/* ---- L01 ---------------------------------------------------------------------------------------- */

typedef struct blocking_read {
    seglog *s;
    seglog_log_id log;
    seglog_lsn lsn;
    uint32_t timeout_ms;
    int rc;
    seglog_entry e;
    seglog_error err;
    uint64_t done_us;
    atomic_int done;
} blocking_read;

static void *blocking_read_main(void *arg)
{
    blocking_read *b = arg;
    b->rc = seglog_log_read(b->s, b->log, b->lsn, b->timeout_ms, &b->e, &b->err);
    b->done_us = conf_now_us();
    atomic_store(&b->done, 1);
    return NULL;
}

static void test_conf_l01_smoke(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);

    /* a new log: open at 1, nothing trimmed, version 1 */
    seglog_tail t = CONF_EXPECT_TAIL(s, LOG, 1, 0);
    assert_int_equal(t.version, 1);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->id, LOG);
    assert_int_equal(info->trim_point, 0);
    assert_int_equal(info->version, 1);
    assert_int_equal(info->n_segments, 1);
    assert_int_equal(info->segments[0].base, 1);
    assert_int_equal(info->segments[0].state, SEGLOG_SEGMENT_OPEN);
    seglog_log_info_free(info);
    CONF_EXPECT_NOTHING_YET(s, LOG, 1);

    /* record1..record3 get 1..3; the tail follows each */
    for (uint64_t i = 1; i <= 3; i++) {
        char buf[32];
        TEST_FMT(buf, "record%" PRIu64, i);
        assert_int_equal(CONF_APPEND(s, LOG, buf), i);
        CONF_EXPECT_TAIL(s, LOG, i + 1, 0);
    }
    CONF_EXPECT_RANGE(s, LOG, "record", 1, 3);
    CONF_EXPECT_NOTHING_YET(s, LOG, 4);

    /* a blocking read of 4 returns only once record4 is appended */
    blocking_read b = {.s = s, .log = LOG, .lsn = 4, .timeout_ms = 10000};
    pthread_t th;
    conf_thread_start(&th, CONF_STACK_BYTES, blocking_read_main, &b);
    conf_sleep_ms(300);
    assert_int_equal(atomic_load(&b.done), 0);
    uint64_t appended_us = conf_now_us();
    assert_int_equal(CONF_APPEND(s, LOG, "record4"), 4);
    uint64_t acked_us = conf_now_us();
    pthread_join(th, NULL);
    if (b.rc != SEGLOG_OK)
        fail_msg("blocking read of 4 = %d (%s): %s", b.rc, seglog_strerror(b.rc), b.err.message);
    assert_true(b.done_us >= appended_us);
    assert_int_equal(b.e.kind, SEGLOG_ENTRY_RECORD);
    assert_int_equal(b.e.lsn, 4);
    assert_true(conf_payload_is(&b.e, "record4"));
    seglog_entry_fini(&b.e);
    print_message("L01: blocking read returned %" PRId64 " us after the append was acknowledged\n",
                  (int64_t)b.done_us - (int64_t)acked_us);

    /* a blocking read of 10 with 200 ms times out and leaves the tail at 5 */
    seglog_entry e = {0};
    seglog_error err = {0};
    uint64_t t0 = conf_now_ms();
    int rc = seglog_log_read(s, LOG, 10, 200, &e, &err);
    uint64_t waited = conf_now_ms() - t0;
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    assert_int_equal(err.code, SEGLOG_ETIMEDOUT);
    assert_true(waited >= 150); /* it did wait */
    CONF_EXPECT_TAIL(s, LOG, 5, 0);

    /* trim to 3: trim point 3, tail still open at 5; 1 is a gap up to 3, 4 is record4 */
    assert_int_equal(CONF_TRIM(s, LOG, 3), 3);
    info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->trim_point, 3);
    assert_int_equal(info->tail.lsn, 5);
    assert_int_equal(info->tail.sealed, 0);
    seglog_log_info_free(info);
    CONF_EXPECT_TAIL(s, LOG, 5, 0);
    CONF_EXPECT_GAP(s, LOG, 1, 1, 3);
    CONF_EXPECT_RECORD(s, LOG, 4, "record4");
    seglog_close(s);
}

/* ---- L02 ---------------------------------------------------------------------------------------- */

static void test_conf_l02_read_stream_from_future(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    seglog_reader *r = CONF_READER(s, LOG, 6, SEGLOG_LSN_MAX);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 5);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    CONF_APPEND_RANGE(s, LOG, "record", 6, 10);
    CONF_READER_RANGE(r, "record", 6, 10);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS); /* waits for 11 */
    /* and 11 arrives once appended */
    CONF_APPEND_RANGE(s, LOG, "record", 11, 11);
    CONF_READER_RANGE(r, "record", 11, 11);
    seglog_reader_close(r);
    seglog_close(s);
}

/* ---- L03 ---------------------------------------------------------------------------------------- */

static void test_conf_l03_read_stream_with_trims(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 10);
    assert_int_equal(CONF_TRIM(s, LOG, 5), 5);

    seglog_reader *r = CONF_READER(s, LOG, 1, SEGLOG_LSN_MAX);
    CONF_READER_GAP(r, 1, 5);
    CONF_READER_RANGE(r, "record", 6, 10);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    seglog_reader_close(r);

    /* trim to the largest LSN: clamped to the last written (10); the tail stays open at 11 */
    assert_int_equal(CONF_TRIM(s, LOG, SEGLOG_LSN_MAX), 10);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->trim_point, 10);
    seglog_log_info_free(info);
    CONF_EXPECT_TAIL(s, LOG, 11, 0);
    CONF_EXPECT_GAP_COVERING(s, LOG, 10, 10);

    CONF_APPEND_RANGE(s, LOG, "record", 11, 20);
    r = CONF_READER(s, LOG, 8, SEGLOG_LSN_MAX);
    /* 8..10: a gap (or, the spec allows, records) covering exactly 8..10, then data */
    seglog_lsn next = 8;
    while (next <= 10) {
        seglog_entry e = {0};
        seglog_error err = {0};
        int rc = seglog_reader_next(r, CONF_WAIT_MS, &e, &err);
        if (rc != SEGLOG_OK)
            fail_msg("reader_next at %" PRIu64 " = %d: %s", next, rc, err.message);
        assert_int_equal(e.lsn, next);
        if (e.kind == SEGLOG_ENTRY_TRIM_GAP) {
            assert_int_equal(e.gap_to, 10);
            next = 11;
        } else {
            char want[32];
            TEST_FMT(want, "record%" PRIu64, next);
            assert_true(conf_payload_is(&e, want));
            next++;
        }
    }
    CONF_READER_RANGE(r, "record", 11, 20);
    CONF_READER_NOTHING(r, CONF_NOTHING_MS);
    seglog_reader_close(r);
    seglog_close(s);
}

/* ---- L04 ---------------------------------------------------------------------------------------- */

static void test_conf_l04_append_after_seal(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "record", 1, 5);
    seglog_tail sealed = CONF_SEAL(s, LOG);
    assert_int_equal(sealed.lsn, 6);
    assert_int_equal(sealed.sealed, 1);
    assert_int_equal(sealed.version, 2);

    for (int i = 0; i < 5; i++) {
        seglog_lsn lsn = 99;
        seglog_error err = {0};
        int rc = seglog_log_append(s, LOG, "late", 4, NULL, &lsn, &err);
        assert_int_equal(rc, SEGLOG_ESEALED);
        assert_int_equal(err.code, SEGLOG_ESEALED);
        seglog_append_opts fail_opts = {.policy = SEGLOG_APPEND_FAIL_IF_SEALED, .timeout_ms = 0};
        rc = seglog_log_append(s, LOG, "late", 4, &fail_opts, &lsn, &err);
        assert_int_equal(rc, SEGLOG_ESEALED);
    }
    /* asked to wait: a timeout naming the sealed segment and its tail */
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = 300};
    seglog_error err = {0};
    seglog_lsn lsn = 0;
    uint64_t t0 = conf_now_ms();
    int rc = seglog_log_append(s, LOG, "late", 4, &wait, &lsn, &err);
    uint64_t waited = conf_now_ms() - t0;
    assert_int_equal(rc, SEGLOG_ETIMEDOUT);
    assert_int_equal(err.code, SEGLOG_ETIMEDOUT);
    assert_true(waited >= 250);
    CONF_EXPECT_NAMES(err, sealed.segment_id);
    CONF_EXPECT_NAMES(err, 6);

    seglog_tail t = CONF_EXPECT_TAIL(s, LOG, 6, 1);
    assert_int_equal(t.version, 2);
    assert_int_equal(t.segment_id, sealed.segment_id);
    CONF_EXPECT_RANGE(s, LOG, "record", 1, 5);
    CONF_EXPECT_NOTHING_YET(s, LOG, 6);
    seglog_close(s);
}

/* ---- L05 ---------------------------------------------------------------------------------------- */

#define L05_LOGS 10u
#define L05_APPENDERS 20u     /* per log */
#define L05_MIN_RECORDS 200u  /* per appender before the seal */
#define L05_MAX_RECORDS 20000u /* bound on one appender's records */
#define L05_AFTER_MS 20000u    /* bound on the appends after the barrier */

typedef struct l05_shared {
    seglog *s;
    conf_barrier barrier;
    atomic_int sealed_done[L05_LOGS]; /* the main thread sealed this log */
} l05_shared;

typedef struct l05_appender {
    l05_shared *sh;
    seglog_log_id log;
    uint32_t id;
    seglog_lsn *lsns; /* [L05_MAX_RECORDS] in append order */
    uint32_t n;
    int last_rc;
    char last_msg[SEGLOG_ERROR_MESSAGE_MAX];
    bool barrier_ok;
} l05_appender;

typedef struct l05_poller {
    l05_shared *sh;
    seglog_log_id log;
    seglog_lsn first_sealed; /* 0 until seen */
    uint64_t polls;
    int rc;
} l05_poller;

static int l05_append(l05_appender *a)
{
    char buf[64];
    snprintf(buf, sizeof buf, "appender-%u-record%u", a->id, a->n);
    seglog_lsn lsn = 0;
    seglog_error err = {0};
    int rc = seglog_log_append(a->sh->s, a->log, buf, strlen(buf), NULL, &lsn, &err);
    if (rc == SEGLOG_OK)
        a->lsns[a->n++] = lsn;
    else
        memcpy(a->last_msg, err.message, sizeof a->last_msg);
    a->last_rc = rc;
    return rc;
}

static void *l05_appender_main(void *arg)
{
    l05_appender *a = arg;
    int rc = SEGLOG_OK;
    while (a->n < L05_MIN_RECORDS && rc == SEGLOG_OK)
        rc = l05_append(a);
    a->barrier_ok = conf_barrier_wait(&a->sh->barrier, 60000);
    if (rc != SEGLOG_OK || !a->barrier_ok)
        return NULL;
    uint64_t deadline = conf_now_ms() + L05_AFTER_MS;
    while (a->n < L05_MAX_RECORDS && conf_now_ms() < deadline) {
        if (l05_append(a) != SEGLOG_OK)
            break;
    }
    return NULL;
}

static void *l05_poller_main(void *arg)
{
    l05_poller *p = arg;
    uint64_t deadline = conf_now_ms() + 120000u;
    while (conf_now_ms() < deadline) {
        seglog_tail t = {0};
        seglog_error err = {0};
        int rc = seglog_log_find_tail(p->sh->s, p->log, &t, &err);
        p->polls++;
        if (rc != SEGLOG_OK) {
            p->rc = rc;
            return NULL;
        }
        if (t.sealed) {
            p->first_sealed = t.lsn;
            return NULL;
        }
        /* spin, but let 200 appenders on two cores run */
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int cmp_lsn(const void *a, const void *b)
{
    seglog_lsn x = *(const seglog_lsn *)a, y = *(const seglog_lsn *)b;
    return x < y ? -1 : x > y;
}

static void test_conf_l05_append_after_seal_concurrent(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    l05_shared sh = {0};
    sh.s = CONF_OPEN(f->dir, &o);
    for (uint32_t l = 0; l < L05_LOGS; l++)
        CONF_CREATE(sh.s, 100 + l);
    conf_barrier_init(&sh.barrier, L05_LOGS * L05_APPENDERS + 1);

    const uint32_t na = L05_LOGS * L05_APPENDERS;
    l05_appender *ap = calloc(na, sizeof *ap);
    pthread_t *ath = calloc(na, sizeof *ath);
    l05_poller pol[L05_LOGS];
    pthread_t pth[L05_LOGS];
    assert_non_null(ap);
    assert_non_null(ath);
    for (uint32_t i = 0; i < na; i++) {
        ap[i] = (l05_appender){.sh = &sh, .log = 100 + i / L05_APPENDERS, .id = i % L05_APPENDERS};
        ap[i].lsns = calloc(L05_MAX_RECORDS, sizeof *ap[i].lsns);
        assert_non_null(ap[i].lsns);
        conf_thread_start(&ath[i], CONF_SMALL_STACK_BYTES, l05_appender_main, &ap[i]);
    }
    for (uint32_t l = 0; l < L05_LOGS; l++) {
        pol[l] = (l05_poller){.sh = &sh, .log = 100 + l};
        conf_thread_start(&pth[l], CONF_SMALL_STACK_BYTES, l05_poller_main, &pol[l]);
    }
    assert_true(conf_barrier_wait(&sh.barrier, 60000));
    conf_sleep_ms(20); /* the appenders are appending again */
    seglog_tail sealed[L05_LOGS];
    for (uint32_t l = 0; l < L05_LOGS; l++) {
        sealed[l] = CONF_SEAL(sh.s, 100 + l);
        atomic_store(&sh.sealed_done[l], 1);
    }
    for (uint32_t i = 0; i < na; i++)
        pthread_join(ath[i], NULL);
    /* No stop signal: a sealed log stays sealed, so every poller returns at its next poll (or
     * after its 120 s deadline, which fails below). Stopping them here made the test fail on a
     * loaded machine when a poller thread had not run between the seal and the stop. */
    for (uint32_t l = 0; l < L05_LOGS; l++)
        pthread_join(pth[l], NULL);

    uint64_t total = 0;
    for (uint32_t l = 0; l < L05_LOGS; l++) {
        seglog_log_id log = 100 + l;
        seglog_lsn tail = sealed[l].lsn;
        assert_int_equal(pol[l].rc, SEGLOG_OK);
        if (pol[l].first_sealed == 0)
            fail_msg("log %" PRIu64 ": the poller never saw the seal", log);
        size_t n = 0;
        for (uint32_t i = l * L05_APPENDERS; i < (l + 1) * L05_APPENDERS; i++)
            n += ap[i].n;
        seglog_lsn *all = calloc(n, sizeof *all);
        assert_non_null(all);
        size_t k = 0;
        for (uint32_t i = l * L05_APPENDERS; i < (l + 1) * L05_APPENDERS; i++) {
            l05_appender *a = &ap[i];
            assert_true(a->barrier_ok);
            if (a->n < L05_MIN_RECORDS)
                fail_msg("log %" PRIu64 " appender %u committed %u (< %u): last rc %d: %s", log,
                         a->id, a->n, L05_MIN_RECORDS, a->last_rc, a->last_msg);
            /* it stopped on the sealed error, not on anything else */
            if (a->last_rc != SEGLOG_ESEALED)
                fail_msg("log %" PRIu64 " appender %u stopped with %d (%s): %s", log, a->id,
                         a->last_rc, seglog_strerror(a->last_rc), a->last_msg);
            assert_true(a->lsns[a->n - 1] < tail);
            for (uint32_t j = 1; j < a->n; j++)
                assert_true(a->lsns[j] > a->lsns[j - 1]); /* one thread's appends in order */
            for (uint32_t j = 0; j < a->n; j++)
                all[k++] = a->lsns[j];
        }
        qsort(all, n, sizeof *all, cmp_lsn);
        for (size_t j = 1; j < n; j++)
            if (all[j] == all[j - 1])
                fail_msg("log %" PRIu64 ": LSN %" PRIu64 " committed twice", log, all[j]);
        /* the first sealed tail the poller saw is above every committed LSN: it is the seal */
        assert_true(pol[l].first_sealed > all[n - 1]);
        assert_int_equal(pol[l].first_sealed, tail);
        CONF_EXPECT_TAIL(sh.s, log, tail, 1);
        /* [1, tail) is exactly the committed records */
        assert_int_equal(n, tail - 1);
        for (size_t j = 0; j < n; j++)
            assert_int_equal(all[j], j + 1);
        seglog_lsn *owner_rec = calloc(tail, sizeof *owner_rec);  /* lsn -> record index */
        uint32_t *owner_id = calloc(tail, sizeof *owner_id);      /* lsn -> appender id */
        assert_non_null(owner_rec);
        assert_non_null(owner_id);
        for (uint32_t i = l * L05_APPENDERS; i < (l + 1) * L05_APPENDERS; i++)
            for (uint32_t j = 0; j < ap[i].n; j++) {
                owner_rec[ap[i].lsns[j]] = j;
                owner_id[ap[i].lsns[j]] = ap[i].id;
            }
        seglog_reader *r = CONF_READER(sh.s, log, 1, tail - 1);
        for (seglog_lsn lsn = 1; lsn < tail; lsn++) {
            char want[64];
            TEST_FMT(want, "appender-%u-record%" PRIu64, owner_id[lsn], owner_rec[lsn]);
            CONF_READER_RECORD(r, lsn, want);
        }
        CONF_READER_END(r);
        seglog_reader_close(r);
        total += n;
        free(owner_rec);
        free(owner_id);
        free(all);
    }
    print_message("L05: %" PRIu64 " records committed on %u logs before the seals\n", total,
                  L05_LOGS);
    for (uint32_t i = 0; i < na; i++)
        free(ap[i].lsns);
    free(ap);
    free(ath);
    conf_barrier_fini(&sh.barrier);
    seglog_close(sh.s);
}

/* ---- L06 ---------------------------------------------------------------------------------------- */

static void test_conf_l06_seal_empty(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);

    seglog_tail_watch *tw = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_tail_watch_open(&tw, s, LOG, &err), SEGLOG_OK);
    seglog_tail seen = {0};
    uint64_t missed = 99;
    assert_int_equal(seglog_tail_watch_next(tw, CONF_WAIT_MS, &seen, &missed, &err), SEGLOG_OK);
    assert_int_equal(seen.lsn, 1);
    assert_int_equal(seen.sealed, 0);
    assert_int_equal(seen.version, 1);
    assert_int_equal(missed, 0);

    seglog_tail t1 = CONF_SEAL(s, LOG);
    assert_int_equal(t1.lsn, 1);
    assert_int_equal(t1.sealed, 1);
    assert_int_equal(t1.version, 2);
    CONF_EXPECT_TAIL(s, LOG, 1, 1);
    assert_int_equal(seglog_tail_watch_next(tw, CONF_WAIT_MS, &seen, &missed, &err), SEGLOG_OK);
    assert_int_equal(seen.lsn, 1);
    assert_int_equal(seen.sealed, 1);
    assert_int_equal(seen.version, 2);
    assert_int_equal(seen.segment_id, t1.segment_id);
    assert_int_equal(missed, 0);

    /* sealing again: harmless, the same tail, no new version, no change to watch */
    seglog_tail t2 = CONF_SEAL(s, LOG);
    assert_int_equal(t2.lsn, t1.lsn);
    assert_int_equal(t2.sealed, t1.sealed);
    assert_int_equal(t2.version, t1.version);
    assert_int_equal(t2.segment_id, t1.segment_id);
    seglog_tail t3 = CONF_EXPECT_TAIL(s, LOG, 1, 1);
    assert_int_equal(t3.version, 2);
    assert_int_equal(seglog_tail_watch_next(tw, CONF_NOTHING_MS, &seen, &missed, &err),
                     SEGLOG_ETIMEDOUT);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    assert_int_equal(info->n_segments, 1);
    assert_int_equal(info->segments[0].state, SEGLOG_SEGMENT_SEALED);
    assert_int_equal(info->segments[0].sealed_at, 1);
    assert_int_equal(info->segments[0].records, 0);
    seglog_log_info_free(info);
    CONF_EXPECT_NOTHING_YET(s, LOG, 1);
    seglog_tail_watch_close(tw);
    seglog_close(s);
}

/* ---- L07 ---------------------------------------------------------------------------------------- */

#define L07_LIMIT 1000u

static void test_conf_l07_record_too_large(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    o.record_max_bytes = L07_LIMIT;
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);
    uint8_t *big = malloc(L07_LIMIT + 1);
    assert_non_null(big);
    memset(big, 'x', L07_LIMIT + 1);

    seglog_lsn lsn = 0;
    seglog_error err = {0};
    assert_int_equal(seglog_log_append(s, LOG, big, L07_LIMIT, NULL, &lsn, &err), SEGLOG_OK);
    assert_int_equal(lsn, 1); /* exactly the limit fits */

    int rc = seglog_log_append(s, LOG, big, L07_LIMIT + 1, NULL, &lsn, &err);
    if (rc != SEGLOG_ETOOLARGE && rc != SEGLOG_EINVAL)
        fail_msg("append of %u bytes = %d (%s), want SEGLOG_ETOOLARGE", L07_LIMIT + 1, rc,
                 seglog_strerror(rc));
    assert_int_equal(err.code, rc);
    CONF_EXPECT_NAMES(err, L07_LIMIT + 1);
    CONF_EXPECT_NAMES(err, L07_LIMIT);

    /* in a batch too; nothing of the batch is written */
    seglog_buf recs[3] = {{"a", 1}, {big, L07_LIMIT + 1}, {"c", 1}};
    seglog_lsn first = 0;
    rc = seglog_log_append_batch(s, LOG, recs, 3, NULL, &first, &err);
    if (rc != SEGLOG_ETOOLARGE && rc != SEGLOG_EINVAL)
        fail_msg("batch with a %u-byte record = %d (%s), want SEGLOG_ETOOLARGE", L07_LIMIT + 1, rc,
                 seglog_strerror(rc));
    CONF_EXPECT_NAMES(err, L07_LIMIT + 1);
    CONF_EXPECT_NAMES(err, L07_LIMIT);

    /* nothing was written: the next LSN is unchanged */
    CONF_EXPECT_TAIL(s, LOG, 2, 0);
    CONF_EXPECT_NOTHING_YET(s, LOG, 2);
    assert_int_equal(CONF_APPEND(s, LOG, "next"), 2);
    CONF_EXPECT_RECORD(s, LOG, 2, "next");
    seglog_stats st;
    assert_int_equal(seglog_stats_get(s, &st, &err), SEGLOG_OK);
    assert_int_equal(st.appends, 2);
    free(big);
    seglog_close(s);
}

/* ---- L08 ---------------------------------------------------------------------------------------- */

#define L08_THREADS 8u
#define L08_BATCHES 50u /* per thread */
#define L08_K 10u       /* records per batch */

typedef struct l08_thread {
    seglog *s;
    uint32_t id;
    seglog_lsn first[L08_BATCHES];
    int rc;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} l08_thread;

static void l08_payload(char *buf, size_t cap, uint32_t thread, uint32_t batch, uint32_t i)
{
    snprintf(buf, cap, "t%u-b%u-r%u", thread, batch, i);
}

static void *l08_thread_main(void *arg)
{
    l08_thread *t = arg;
    char bufs[L08_K][32];
    seglog_buf recs[L08_K];
    for (uint32_t b = 0; b < L08_BATCHES; b++) {
        /* odd threads mix in single appends between batches */
        if (t->id % 2 == 1) {
            char one[32];
            snprintf(one, sizeof one, "t%u-single%u", t->id, b);
            seglog_lsn lsn = 0;
            seglog_error err = {0};
            t->rc = seglog_log_append(t->s, LOG, one, strlen(one), NULL, &lsn, &err);
            if (t->rc != SEGLOG_OK) {
                memcpy(t->msg, err.message, sizeof t->msg);
                return NULL;
            }
        }
        for (uint32_t i = 0; i < L08_K; i++) {
            l08_payload(bufs[i], sizeof bufs[i], t->id, b, i);
            recs[i] = (seglog_buf){bufs[i], strlen(bufs[i])};
        }
        seglog_error err = {0};
        t->rc = seglog_log_append_batch(t->s, LOG, recs, L08_K, NULL, &t->first[b], &err);
        if (t->rc != SEGLOG_OK) {
            memcpy(t->msg, err.message, sizeof t->msg);
            return NULL;
        }
    }
    return NULL;
}

typedef struct l08_async {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int status;
    seglog_lsn first, last;
} l08_async;

static void l08_async_cb(void *ctx, int status, seglog_lsn first, seglog_lsn last)
{
    l08_async *a = ctx;
    pthread_mutex_lock(&a->mu);
    a->calls++;
    a->status = status;
    a->first = first;
    a->last = last;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void test_conf_l08_batches(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    CONF_CREATE(s, LOG);

    /* one batch on an empty log: 1..k */
    char bufs[L08_K][32];
    seglog_buf recs[L08_K];
    for (uint32_t i = 0; i < L08_K; i++) {
        l08_payload(bufs[i], sizeof bufs[i], 99, 0, i);
        recs[i] = (seglog_buf){bufs[i], strlen(bufs[i])};
    }
    seglog_lsn first = 0;
    seglog_error err = {0};
    assert_int_equal(seglog_log_append_batch(s, LOG, recs, L08_K, NULL, &first, &err), SEGLOG_OK);
    assert_int_equal(first, 1);
    CONF_EXPECT_TAIL(s, LOG, L08_K + 1, 0);
    for (uint32_t i = 0; i < L08_K; i++)
        CONF_EXPECT_RECORD(s, LOG, 1 + i, bufs[i]);

    /* concurrent batches and single appends: each batch is contiguous, nothing inside it */
    l08_thread th[L08_THREADS];
    pthread_t tid[L08_THREADS];
    for (uint32_t t = 0; t < L08_THREADS; t++) {
        th[t] = (l08_thread){.s = s, .id = t};
        conf_thread_start(&tid[t], CONF_STACK_BYTES, l08_thread_main, &th[t]);
    }
    for (uint32_t t = 0; t < L08_THREADS; t++)
        pthread_join(tid[t], NULL);
    uint64_t singles = 0;
    for (uint32_t t = 0; t < L08_THREADS; t++) {
        if (th[t].rc != SEGLOG_OK)
            fail_msg("thread %u: %d (%s): %s", t, th[t].rc, seglog_strerror(th[t].rc), th[t].msg);
        if (t % 2 == 1)
            singles += L08_BATCHES;
        for (uint32_t b = 0; b < L08_BATCHES; b++)
            for (uint32_t i = 0; i < L08_K; i++) {
                char want[32];
                l08_payload(want, sizeof want, t, b, i);
                CONF_EXPECT_RECORD(s, LOG, th[t].first[b] + i, want);
            }
    }
    seglog_lsn end = 1 + L08_K + L08_THREADS * L08_BATCHES * L08_K + singles;
    CONF_EXPECT_TAIL(s, LOG, end, 0);

    /* an asynchronous batch: the callback gets first..last, k records */
    l08_async a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    assert_int_equal(seglog_log_append_async(s, LOG, recs, L08_K, NULL, l08_async_cb, &a, &err),
                     SEGLOG_OK);
    pthread_mutex_lock(&a.mu);
    uint64_t deadline = conf_now_ms() + CONF_WAIT_MS;
    while (a.calls == 0 && conf_now_ms() < deadline) {
        pthread_mutex_unlock(&a.mu);
        conf_sleep_ms(2);
        pthread_mutex_lock(&a.mu);
    }
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, SEGLOG_OK);
    assert_int_equal(a.first, end);
    assert_int_equal(a.last, end + L08_K - 1);
    for (uint32_t i = 0; i < L08_K; i++)
        CONF_EXPECT_RECORD(s, LOG, end + i, bufs[i]);
    conf_sleep_ms(50);
    assert_int_equal(a.calls, 1); /* exactly once */

    /* a batch of one, and an empty batch is refused without writing anything */
    assert_int_equal(seglog_log_append_batch(s, LOG, recs, 1, NULL, &first, &err), SEGLOG_OK);
    assert_int_equal(first, end + L08_K);
    assert_int_equal(seglog_log_append_batch(s, LOG, recs, 0, NULL, &first, &err), SEGLOG_EINVAL);
    CONF_EXPECT_TAIL(s, LOG, end + L08_K + 1, 0);
    seglog_close(s);
}

/* After a crash a batch is all there or not at all. The child appends batches of random sizes
 * until killed; the parent checks every acknowledged batch is whole and no batch is partial. */

#define L08C_MAX_K 64u

/* Child role "l08": argv[0] = store directory. */
static void l08_crash_child(int fd, int argc, char **argv)
{
    if (argc < 1)
        _exit(8);
    const char *dir = argv[0];
    seglog *s = NULL;
    seglog_error err = {0};
    seglog_options o;
    conf_options(&o);
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK)
        conf_child_fail(fd, __LINE__, rc, &err);
    rc = seglog_log_create(s, LOG, &err);
    if (rc != SEGLOG_OK)
        conf_child_fail(fd, __LINE__, rc, &err);
    conf_child_send(fd, CONF_MSG_STATE, 0, 0, 0, 0); /* ready */
    static char bufs[L08C_MAX_K][40];
    seglog_buf recs[L08C_MAX_K];
    uint32_t seed = 12345;
    for (uint32_t b = 0; b < 1000000u; b++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t k = 1 + (seed >> 16) % L08C_MAX_K;
        for (uint32_t i = 0; i < k; i++) {
            snprintf(bufs[i], sizeof bufs[i], "batch%u-of%u-rec%u", b, k, i);
            recs[i] = (seglog_buf){bufs[i], strlen(bufs[i])};
        }
        seglog_lsn first = 0;
        rc = seglog_log_append_batch(s, LOG, recs, k, NULL, &first, &err);
        if (rc != SEGLOG_OK)
            conf_child_fail(fd, __LINE__, rc, &err);
        conf_child_send(fd, CONF_MSG_ACK, 0, b, first, first + k - 1);
    }
    conf_child_send(fd, CONF_MSG_DONE, 0, 0, 0, 0);
    conf_child_linger();
}

static void test_conf_l08_batch_all_or_nothing_after_crash(void **state)
{
    conf_fixture *f = *state;
    for (uint32_t round = 0; round < 3; round++) {
        char dir[TEST_PATH_MAX];
        TEST_FMT(dir, "%s/round%u", f->dir, round);
        conf_child c;
        const char *args[] = {dir};
        conf_child_start(&c, &f->child, NULL, 0, "l08", args, 1);
        assert_true(conf_child_read(&c, CONF_MSG_STATE, 30000));
        /* let it append for a while, then kill it mid-stream */
        conf_child_read(&c, CONF_MSG_DONE, 300 + 200 * round);
        conf_child_kill(&c);

        seglog_options o;
        conf_options(&o);
        seglog *s = CONF_OPEN(dir, &o);
        seglog_tail t = CONF_TAIL(s, LOG);
        assert_int_equal(t.sealed, 0);
        /* every acknowledged batch is there, whole */
        uint64_t acked = 0, acked_records = 0;
        for (size_t m = 0; m < c.n; m++) {
            if (c.msgs[m].kind != CONF_MSG_ACK)
                continue;
            acked++;
            uint64_t b = c.msgs[m].a;
            uint64_t k = c.msgs[m].c - c.msgs[m].b + 1;
            acked_records += k;
            for (uint64_t i = 0; i < k; i++) {
                char want[40];
                TEST_FMT(want, "batch%" PRIu64 "-of%" PRIu64 "-rec%" PRIu64, b, k, i);
                CONF_EXPECT_RECORD(s, LOG, c.msgs[m].b + i, want);
            }
        }
        /* and whatever is there beyond them is made of whole batches */
        seglog_lsn lsn = 1;
        uint64_t batches = 0;
        while (lsn < t.lsn) {
            seglog_entry e = {0};
            seglog_error err = {0};
            assert_int_equal(seglog_log_read(s, LOG, lsn, 0, &e, &err), SEGLOG_OK);
            char head[48] = {0};
            memcpy(head, e.payload, e.len < sizeof head - 1 ? e.len : sizeof head - 1);
            seglog_entry_fini(&e);
            unsigned b = 0, k = 0, i = 0;
            if (sscanf(head, "batch%u-of%u-rec%u", &b, &k, &i) != 3 || i != 0)
                fail_msg("LSN %" PRIu64 ": \"%s\" does not start a batch", lsn, head);
            assert_int_equal(b, batches);
            if (lsn + k > t.lsn)
                fail_msg("batch %u of %u records at LSN %" PRIu64 " is cut by the tail %" PRIu64,
                         b, k, lsn, t.lsn);
            for (uint32_t j = 0; j < k; j++) {
                char want[40];
                TEST_FMT(want, "batch%u-of%u-rec%u", b, k, j);
                CONF_EXPECT_RECORD(s, LOG, lsn + j, want);
            }
            lsn += k;
            batches++;
        }
        assert_true(batches >= acked);
        assert_true(batches <= acked + 1); /* one in flight at the kill, unacknowledged */
        print_message("L08 crash round %u: %" PRIu64 " batches (%" PRIu64
                      " records) acknowledged, %" PRIu64 " on disk\n",
                      round, acked, acked_records, batches);
        seglog_close(s);
        conf_child_free(&c);
    }
}

int main(int argc, char **argv)
{
    const conf_child_role roles[] = {{"l08", l08_crash_child}};
    conf_child_dispatch(argc, argv, roles, sizeof roles / sizeof roles[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conf_l01_smoke, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l02_read_stream_from_future, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l03_read_stream_with_trims, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l04_append_after_seal, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l05_append_after_seal_concurrent, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l06_seal_empty, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l07_record_too_large, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l08_batches, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_l08_batch_all_or_nothing_after_crash,
                                        conf_setup, conf_teardown),
    };
    conf_apply_filter();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
