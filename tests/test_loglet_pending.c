/*
 * test_loglet_pending.c — reads of acknowledged records that are not in RocksDB yet (DESIGN.md
 * invariant 7: reads of acknowledged data keep working). With the store's apply thread held,
 * every acknowledged record must be served at once from the op on its way to RocksDB: by
 * seglog_log_read with timeout 0 (which never waits) and by a reader, records of several
 * megabytes included, while other threads keep appending; and the same bytes after the apply
 * thread lets them go, and after a reopen.
 */
#include "test_util.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

#include <cmocka.h>

#include "seglog.h"
#include "seglog_internal.h"

#define PEND_BIG_BYTES (3u << 20)   /* more than one WAL group would hold in one write */
#define PEND_RECORDS 12u
#define PEND_QUICK_MS 10000u        /* "at once": a read used to wait 30 s for the apply thread */

typedef struct fixture {
    char dir[TEST_PATH_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "pend") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static size_t rec_len(uint32_t i)
{
    return i % 3 == 0 ? PEND_BIG_BYTES - i : 100u + i; /* every third one is megabytes */
}

static void rec_fill(uint8_t *buf, size_t len, uint32_t i)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(k * 131u + i * 7u);
}

static void expect_rec(const seglog_entry *e, uint32_t i, uint8_t *scratch)
{
    assert_int_equal(e->kind, SEGLOG_ENTRY_RECORD);
    size_t len = rec_len(i);
    assert_int_equal(e->len, len);
    rec_fill(scratch, len, i);
    assert_memory_equal(e->payload, scratch, len);
}

/* Records from+1..to of log 1, read with timeout 0, hold their bytes. */
static void expect_all(seglog *s, uint32_t from, uint32_t to, uint8_t *scratch)
{
    seglog_error err = {0};
    for (uint32_t i = from; i < to; i++) {
        seglog_entry e = {0};
        assert_int_equal(seglog_log_read(s, 1, i + 1, 0, &e, &err), SEGLOG_OK);
        expect_rec(&e, i, scratch);
        seglog_entry_fini(&e);
    }
}

/* After a reopen every acknowledged record is there, byte-identical. */
static void expect_all_after_reopen(const char *dir, const seglog_options *o, uint8_t *scratch)
{
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, dir, o, &err), SEGLOG_OK);
    expect_all(s, 0, PEND_RECORDS, scratch);
    seglog_close(s);
}

static seglog_options big_options(void)
{
    seglog_options o;
    seglog_options_init(&o);
    o.record_max_bytes = 4u << 20;
    return o;
}

typedef struct more {
    seglog *s;
    atomic_int stop;
    uint64_t n;
} more;

/* Appends small records to another log meanwhile, so that completions and pins interleave. */
static void *more_main(void *arg)
{
    more *m = arg;
    while (!atomic_load(&m->stop)) {
        seglog_error err = {0};
        if (seglog_log_append(m->s, 2, "x", 1, NULL, NULL, &err) == SEGLOG_OK)
            m->n++;
    }
    return NULL;
}

static void test_pending_reads_served_at_once(void **state)
{
    fixture *f = *state;
    seglog_options o = big_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 1, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 2, &err), SEGLOG_OK);
    uint8_t *buf = malloc(PEND_BIG_BYTES);
    assert_non_null(buf);
    seglog_reader *r = NULL;
    assert_int_equal(seglog_reader_open(&r, s, 1, SEGLOG_LSN_OLDEST, SEGLOG_LSN_MAX, &err),
                     SEGLOG_OK);

    seglog_pause_apply(s, true);
    for (uint32_t i = 0; i < PEND_RECORDS; i++) {
        size_t len = rec_len(i);
        rec_fill(buf, len, i);
        seglog_lsn lsn = 0;
        assert_int_equal(seglog_log_append(s, 1, buf, len, NULL, &lsn, &err), SEGLOG_OK);
        assert_int_equal(lsn, i + 1);
    }
    more m = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, more_main, &m), 0);
    for (uint32_t i = 0; i < PEND_RECORDS; i++) {
        seglog_entry e = {0};
        uint64_t start = test_now_ns();
        int rc = seglog_log_read(s, 1, i + 1, 0, &e, &err);
        uint64_t ms = (test_now_ns() - start) / 1000000u;
        if (rc != SEGLOG_OK)
            fail_msg("read of LSN %u (%zu bytes), not yet applied: %d (%s): %s", i + 1,
                     rec_len(i), rc, seglog_strerror(rc), err.message);
        assert_true(ms < PEND_QUICK_MS); /* served, not waited for */
        expect_rec(&e, i, buf);
        seglog_entry_fini(&e);
        assert_int_equal(seglog_reader_next(r, 0, &e, &err), SEGLOG_OK);
        assert_int_equal(e.lsn, i + 1);
        expect_rec(&e, i, buf);
    }
    /* past the tail, timeout 0: "nothing yet", at once */
    seglog_entry none = {0};
    assert_int_equal(seglog_log_read(s, 1, PEND_RECORDS + 1, 0, &none, &err), SEGLOG_ENOTFOUND);

    seglog_pause_apply(s, false); /* now they go to RocksDB while the reads go on */
    for (int pass = 0; pass < 3; pass++)
        expect_all(s, 0, PEND_RECORDS, buf);
    atomic_store(&m.stop, 1);
    pthread_join(t, NULL);
    assert_true(m.n > 0);
    seglog_reader_close(r);
    seglog_close(s);

    expect_all_after_reopen(f->dir, &o, buf);
    free(buf);
}

/* The apply thread fails to write acknowledged records to RocksDB (the store is poisoned): a read
 * of one of them fails at once with SEGLOG_EIO naming the failure — it neither waits for an apply
 * that will not come nor returns wrong bytes — while records applied before still read back; after
 * a reopen every acknowledged record is there. */
static void test_pending_reads_after_an_apply_failure(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    seglog_options o = big_options();
    seglog *s = NULL;
    seglog_error err = {0};
    uint8_t *buf = malloc(PEND_BIG_BYTES);
    assert_non_null(buf);
    assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, 1, &err), SEGLOG_OK);
    const uint32_t applied = 4; /* records 1..4 reach RocksDB (a reopen applies them), 5..12 not */
    for (uint32_t i = 0; i < PEND_RECORDS; i++) {
        if (i == applied) {
            seglog_close(s);
            s = NULL;
            assert_int_equal(seglog_open(&s, f->dir, &o, &err), SEGLOG_OK);
            seglog_pause_apply(s, true);
            assert_int_equal(seglog_fail_next_apply(s), SEGLOG_OK);
        }
        size_t len = rec_len(i);
        rec_fill(buf, len, i);
        assert_int_equal(seglog_log_append(s, 1, buf, len, NULL, NULL, &err), SEGLOG_OK);
    }
    seglog_pause_apply(s, false); /* the held ones meet the fault */
    seglog_stats st;
    for (int k = 0; k < 10000; k++) {
        assert_int_equal(seglog_stats_get(s, &st, &err), SEGLOG_OK);
        seglog_entry e = {0};
        if (st.poisoned && seglog_log_read(s, 1, PEND_RECORDS, 0, &e, &err) != SEGLOG_OK)
            break;
        seglog_entry_fini(&e);
        usleep(1000);
    }
    assert_true(st.poisoned);
    for (uint32_t i = applied; i < PEND_RECORDS; i++) {
        seglog_entry e = {0};
        uint64_t start = test_now_ns();
        int rc = seglog_log_read(s, 1, i + 1, 0, &e, &err);
        uint64_t ms = (test_now_ns() - start) / 1000000u;
        if (rc == SEGLOG_OK) { /* served from its pending copy before the failure: right bytes */
            expect_rec(&e, i, buf);
            seglog_entry_fini(&e);
            continue;
        }
        assert_int_equal(rc, SEGLOG_EIO);
        assert_non_null(strstr(err.message, "could not be applied"));
        assert_true(ms < PEND_QUICK_MS);
    }
    expect_all(s, 0, applied, buf);
    assert_int_equal(seglog_log_append(s, 1, "x", 1, NULL, NULL, &err), SEGLOG_EPOISONED);
    seglog_close(s);

    expect_all_after_reopen(f->dir, &o, buf);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pending_reads_served_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_reads_after_an_apply_failure, setup,
                                        teardown),
    };
    return TEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
