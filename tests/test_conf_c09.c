/*
 * test_conf_c09.c — conformance case C09: backpressure during reconfiguration.
 *
 * The WAL's queue is kept full — one group in flight (wal_inflight_groups = 1), records of about a
 * quarter of a 1 MiB group — while 24 appenders append with the wait policy and chain changes run
 * against the same logs: seal+extend with the expected version from two threads, seal then extend
 * from two threads, or trims of one log from two threads while another log only appends. This is
 * where a chain change meets a full queue and must wait for room: the test checks (and asserts)
 * that it did, through seglog_stats.chain_ops_waiting_room.
 *
 * Checked before and after reopen: every acknowledged record reads back byte-identical (its bytes
 * are regenerated from writer and sequence); no two seal+extends succeed with one expected
 * version; the chain has exactly one open segment (the last), contiguous bases, and the version
 * the successes imply; a log that is never trimmed loses nothing while another one is trimmed;
 * every call returns within its bound (plus a margin for a loaded machine: this checks that no
 * wait hangs, not how fast anything is).
 *
 * SEGLOG_C09_SECONDS (default 4) sets how long each workload runs.
 */
#include "test_util.h"

#include "test_conf_util.h"

#include "store.h" /* the size of an append's head in the WAL, to size records that fill a group */

#define C09_APPENDERS 24u
#define C09_CHANGERS 2u
#define C09_GROUP_BYTES WAL_GROUP_MAX_BYTES_DEFAULT /* the WAL's group: four records fill one */
#define C09_RECORD_MAX_BYTES (256u << 10)
#define C09_SIZE_STEPS 8u /* records are up to 7 * 8 bytes shorter than a quarter group's frame */
#define C09_APPEND_WAIT_MS 10000u           /* each append's bound (reconfiguration and room) */
#define C09_CHAIN_WAIT_MS 95000u            /* a chain change's bounds: 25 s for an earlier change,
                                             * 10 s for room, 60 s for a pooled column family */
#define C09_MARGIN_MS 15000u                /* slack for a loaded (sanitizer) machine */
#define C09_ACKS_MAX 100000u
#define C09_SUCCESSES_MAX 100000u
#define C09_LOG_A 1u
#define C09_LOG_B 2u

_Static_assert(C09_GROUP_BYTES / 4u <= C09_RECORD_MAX_BYTES, "a quarter group fits the limit");

typedef enum c09_mode {
    C09_SEAL_EXTEND,   /* seal+extend with the expected version */
    C09_SEAL_THEN_EXTEND,
    C09_TRIM,          /* log A trimmed and resealed, log B only appended to */
} c09_mode;

typedef struct c09_ack {
    seglog_log_id log;
    seglog_lsn lsn;
    uint32_t writer;
    uint32_t seq;
} c09_ack;

typedef struct c09 {
    seglog *s;
    c09_mode mode;
    atomic_int stop;
    pthread_mutex_t mu;
    c09_ack *acks;             /* (mu) */
    size_t n_acks;
    uint64_t *successes;       /* (mu) expected versions of successful seal+extends */
    size_t n_successes;
    uint64_t extends;          /* (mu) successful extends (seal then extend) */
    uint64_t trims;            /* (mu) trims that moved the trim point */
    uint64_t append_failures;  /* (mu) ETIMEDOUT / EFULL: allowed, counted */
    uint64_t chain_failures;   /* (mu) ECONFLICT / ETIMEDOUT / EFULL: allowed, counted */
    uint64_t room_waits_seen;  /* samples with a chain change waiting for room */
    uint64_t room_waits_described; /* samples where describe listed such a wait */
    uint64_t longest_call_ms;  /* (mu) */
    char failure[SEGLOG_ERROR_MESSAGE_MAX + 128]; /* (mu) the first unexpected error */
} c09;

typedef struct c09_thread {
    c09 *c;
    uint32_t id;
    seglog_log_id log;
} c09_thread;

/* ---- records ------------------------------------------------------------------------------------ */

/* A record whose WAL frame is a quarter of a group, less 0..7 times 8 bytes: four fill a group so
 * nearly (at most 4 * 56 bytes left) that not even a chain change's frame (the smallest, a seal,
 * is 240 bytes) fits behind them. That is what makes chain changes wait for room. */
static size_t c09_len(uint32_t writer, uint32_t seq)
{
    const store_op one = {.type = STORE_OP_APPEND, .n = 1};
    size_t quarter = C09_GROUP_BYTES / 4u - WAL_FRAME_HEADER_BYTES - store_op_head_size(&one);
    return quarter - 8u * ((writer + seq) % C09_SIZE_STEPS);
}

/* The record's bytes, from its writer and sequence alone. */
static void c09_fill(uint8_t *buf, size_t len, uint32_t writer, uint32_t seq)
{
    uint32_t x = writer * 2654435761u ^ (seq + 1u) * 40503u;
    for (size_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(x >> 24);
    }
    memcpy(buf, &writer, sizeof writer);
    memcpy(buf + sizeof writer, &seq, sizeof seq);
}

/* ---- bookkeeping -------------------------------------------------------------------------------- */

static void c09_unexpected(c09 *c, const char *what, int rc, const seglog_error *err)
{
    pthread_mutex_lock(&c->mu);
    if (c->failure[0] == '\0')
        snprintf(c->failure, sizeof c->failure, "%s = %d (%s): %s", what, rc, seglog_strerror(rc),
                 err->message);
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->stop, 1);
}

static void c09_took(c09 *c, uint64_t start_ms)
{
    uint64_t ms = conf_now_ms() - start_ms;
    pthread_mutex_lock(&c->mu);
    if (ms > c->longest_call_ms)
        c->longest_call_ms = ms;
    pthread_mutex_unlock(&c->mu);
}

/* ---- threads ------------------------------------------------------------------------------------ */

static void *c09_appender(void *arg)
{
    c09_thread *t = arg;
    c09 *c = t->c;
    uint8_t *buf = malloc(C09_RECORD_MAX_BYTES);
    if (!buf) {
        seglog_error e = {.message = "out of memory"};
        c09_unexpected(c, "malloc", SEGLOG_ENOMEM, &e);
        return NULL;
    }
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = C09_APPEND_WAIT_MS};
    for (uint32_t seq = 0; !atomic_load(&c->stop); seq++) {
        size_t len = c09_len(t->id, seq);
        c09_fill(buf, len, t->id, seq);
        seglog_lsn lsn = 0;
        seglog_error err = {0};
        uint64_t start = conf_now_ms();
        int rc = seglog_log_append(c->s, t->log, buf, len, &wait, &lsn, &err);
        c09_took(c, start);
        if (rc == SEGLOG_OK) {
            pthread_mutex_lock(&c->mu);
            if (c->n_acks < C09_ACKS_MAX)
                c->acks[c->n_acks++] = (c09_ack){.log = t->log, .lsn = lsn, .writer = t->id,
                                                 .seq = seq};
            pthread_mutex_unlock(&c->mu);
        } else if (rc == SEGLOG_ETIMEDOUT || rc == SEGLOG_EFULL) {
            pthread_mutex_lock(&c->mu);
            c->append_failures++;
            pthread_mutex_unlock(&c->mu);
        } else {
            c09_unexpected(c, "append", rc, &err);
        }
    }
    free(buf);
    return NULL;
}

static bool c09_chain_rc_ok(c09 *c, const char *what, int rc, const seglog_error *err)
{
    if (rc == SEGLOG_OK)
        return true;
    if (rc == SEGLOG_ECONFLICT || rc == SEGLOG_ETIMEDOUT || rc == SEGLOG_EFULL) {
        pthread_mutex_lock(&c->mu);
        c->chain_failures++;
        pthread_mutex_unlock(&c->mu);
    } else {
        c09_unexpected(c, what, rc, err);
    }
    return false;
}

static void c09_seal_extend_once(c09 *c, seglog_log_id log)
{
    seglog_tail now = {0}, out = {0};
    seglog_error err = {0};
    int rc = seglog_log_find_tail(c->s, log, &now, &err);
    if (rc != SEGLOG_OK) {
        c09_unexpected(c, "find_tail", rc, &err);
        return;
    }
    uint64_t start = conf_now_ms();
    rc = seglog_log_seal_and_extend(c->s, log, now.version, &out, &err);
    c09_took(c, start);
    if (!c09_chain_rc_ok(c, "seal_and_extend", rc, &err))
        return;
    if (out.sealed || out.version != now.version + 1) {
        seglog_error e = {0};
        snprintf(e.message, sizeof e.message,
                 "expected version %" PRIu64 " gave an open tail at version %" PRIu64
                 " (sealed: %d)", now.version, out.version, out.sealed);
        c09_unexpected(c, "seal_and_extend result", SEGLOG_ECONFLICT, &e);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (c->n_successes < C09_SUCCESSES_MAX)
        c->successes[c->n_successes++] = now.version;
    pthread_mutex_unlock(&c->mu);
}

static void c09_seal_then_extend_once(c09 *c, seglog_log_id log)
{
    seglog_tail sealed = {0}, out = {0};
    seglog_error err = {0};
    uint64_t start = conf_now_ms();
    int rc = seglog_log_seal(c->s, log, &sealed, &err);
    c09_took(c, start);
    if (!c09_chain_rc_ok(c, "seal", rc, &err))
        return;
    start = conf_now_ms();
    rc = seglog_log_extend(c->s, log, sealed.lsn, &out, &err);
    c09_took(c, start);
    if (!c09_chain_rc_ok(c, "extend", rc, &err))
        return;
    pthread_mutex_lock(&c->mu);
    c->extends++;
    pthread_mutex_unlock(&c->mu);
}

static void c09_trim_once(c09 *c, seglog_log_id log, uint32_t id)
{
    seglog_tail now = {0};
    seglog_error err = {0};
    int rc = seglog_log_find_tail(c->s, log, &now, &err);
    if (rc != SEGLOG_OK) {
        c09_unexpected(c, "find_tail", rc, &err);
        return;
    }
    if (now.lsn <= 4)
        return;
    /* two trimmers aim at nearly the same point: both see the same chain */
    seglog_lsn point = now.lsn - 2 - id % 2u, to = 0;
    uint64_t start = conf_now_ms();
    rc = seglog_log_trim(c->s, log, point, &to, &err);
    c09_took(c, start);
    if (!c09_chain_rc_ok(c, "trim", rc, &err))
        return;
    pthread_mutex_lock(&c->mu);
    c->trims++;
    pthread_mutex_unlock(&c->mu);
}

static void *c09_changer(void *arg)
{
    c09_thread *t = arg;
    c09 *c = t->c;
    while (!atomic_load(&c->stop)) {
        switch (c->mode) {
        case C09_SEAL_EXTEND:
            c09_seal_extend_once(c, C09_LOG_A);
            break;
        case C09_SEAL_THEN_EXTEND:
            c09_seal_then_extend_once(c, C09_LOG_A);
            break;
        case C09_TRIM:
            /* one changer trims, the other alternates trims and seal+extends, so that there are
             * sealed segments for the trims to drop */
            if (t->id == 1 && (conf_now_ms() / 50) % 2 == 0)
                c09_seal_extend_once(c, C09_LOG_A);
            else
                c09_trim_once(c, C09_LOG_A, t->id);
            break;
        }
        conf_sleep_ms(2);
    }
    return NULL;
}

static void *c09_sampler(void *arg)
{
    c09 *c = arg;
    while (!atomic_load(&c->stop)) {
        seglog_stats st;
        seglog_error err = {0};
        if (seglog_stats_get(c->s, &st, &err) == SEGLOG_OK && st.chain_ops_waiting_room > 0) {
            c->room_waits_seen++;
            /* and describe names the wait, with its bound */
            seglog_log_info *info = NULL;
            if (seglog_log_describe(c->s, C09_LOG_A, &info, &err) == SEGLOG_OK) {
                for (size_t i = 0; i < info->n_waiters; i++)
                    if (strcmp(info->waiters[i].what, "room in the WAL queue (chain change)") ==
                            0 &&
                        info->waiters[i].timeout_ms > 0)
                        c->room_waits_described++;
                seglog_log_info_free(info);
            }
        }
        usleep(200);
    }
    return NULL;
}

/* ---- checks ------------------------------------------------------------------------------------- */

static int c09_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every acknowledged record of log above its trim point reads back byte-identical. */
static void c09_check_records(c09 *c, seglog *s, const char *when)
{
    uint8_t *want = malloc(C09_RECORD_MAX_BYTES);
    assert_non_null(want);
    size_t checked = 0;
    for (size_t i = 0; i < c->n_acks; i++) {
        const c09_ack *a = &c->acks[i];
        seglog_entry e = {0};
        seglog_error err = {0};
        int rc = seglog_log_read(s, a->log, a->lsn, 0, &e, &err);
        if (rc != SEGLOG_OK)
            fail_msg("%s: acknowledged LSN %" PRIu64 " of log %" PRIu64 " (writer %u seq %u): "
                     "read = %d (%s): %s",
                     when, a->lsn, a->log, a->writer, a->seq, rc, seglog_strerror(rc),
                     err.message);
        if (e.kind == SEGLOG_ENTRY_TRIM_GAP) {
            if (a->log != C09_LOG_A || c->mode != C09_TRIM)
                fail_msg("%s: LSN %" PRIu64 " of log %" PRIu64 " reads as trimmed, but that log "
                         "was never trimmed", when, a->lsn, a->log);
            continue;
        }
        size_t len = c09_len(a->writer, a->seq);
        c09_fill(want, len, a->writer, a->seq);
        if (e.len != len || memcmp(e.payload, want, len) != 0)
            fail_msg("%s: LSN %" PRIu64 " of log %" PRIu64 " holds %zu bytes that are not "
                     "writer %u's record %u (%zu bytes)",
                     when, a->lsn, a->log, e.len, a->writer, a->seq, len);
        seglog_entry_fini(&e);
        checked++;
    }
    free(want);
    print_message("c09 %s: %zu acknowledged records read back byte-identical\n", when, checked);
}

/* One open segment, the last; contiguous bases; the version the successes imply. */
static void c09_check_chain(c09 *c, seglog *s, seglog_log_id log, const char *when)
{
    seglog_log_info *info = CONF_DESCRIBE(s, log);
    size_t open = 0;
    for (size_t i = 0; i < info->n_segments; i++) {
        const seglog_segment_info *g = &info->segments[i];
        if (g->state == SEGLOG_SEGMENT_OPEN)
            open++;
        if (i + 1 < info->n_segments && g->state == SEGLOG_SEGMENT_OPEN)
            fail_msg("%s: log %" PRIu64 ": segment %zu of %zu is open", when, log, i,
                     info->n_segments);
        if (i > 0 && info->segments[i - 1].state != SEGLOG_SEGMENT_TRIMMED &&
            g->base != info->segments[i - 1].sealed_at)
            fail_msg("%s: log %" PRIu64 ": segment %zu starts at %" PRIu64
                     " but its predecessor was sealed at %" PRIu64,
                     when, log, i, g->base, info->segments[i - 1].sealed_at);
    }
    assert_int_equal(open, 1);
    if (c->mode == C09_SEAL_EXTEND && log == C09_LOG_A) {
        assert_int_equal(info->version, 1 + c->n_successes);
        assert_int_equal(info->n_segments, 1 + c->n_successes);
    }
    if (c->mode == C09_SEAL_THEN_EXTEND && log == C09_LOG_A) {
        assert_int_equal(info->version, 1 + 2 * c->extends);
        assert_int_equal(info->n_segments, 1 + c->extends);
    }
    if (log == C09_LOG_B)
        assert_int_equal(info->version, 1);
    seglog_log_info_free(info);
}

static void c09_check_all(c09 *c, seglog *s, const char *when)
{
    c09_check_records(c, s, when);
    c09_check_chain(c, s, C09_LOG_A, when);
    if (c->mode == C09_TRIM)
        c09_check_chain(c, s, C09_LOG_B, when);
}

/* ---- the run ------------------------------------------------------------------------------------ */

static void c09_run(const char *dir, c09_mode mode)
{
    seglog_options o;
    conf_options(&o);
    o.wal_inflight_groups = 1;
    o.record_max_bytes = C09_RECORD_MAX_BYTES;
    o.wal_file_size_bytes = 64u << 20;
    c09 c = {.mode = mode, .mu = PTHREAD_MUTEX_INITIALIZER};
    c.acks = calloc(C09_ACKS_MAX, sizeof *c.acks);
    c.successes = calloc(C09_SUCCESSES_MAX, sizeof *c.successes);
    assert_non_null(c.acks);
    assert_non_null(c.successes);
    c.s = CONF_OPEN(dir, &o);
    CONF_CREATE(c.s, C09_LOG_A);
    if (mode == C09_TRIM)
        CONF_CREATE(c.s, C09_LOG_B);

    c09_thread apps[C09_APPENDERS], chg[C09_CHANGERS];
    pthread_t app_tid[C09_APPENDERS], chg_tid[C09_CHANGERS], sampler;
    for (uint32_t i = 0; i < C09_APPENDERS; i++) {
        /* with trims, half the appenders write to the log that is never trimmed */
        seglog_log_id log = mode == C09_TRIM && i % 2 ? C09_LOG_B : C09_LOG_A;
        apps[i] = (c09_thread){.c = &c, .id = i + 1, .log = log};
        assert_int_equal(pthread_create(&app_tid[i], NULL, c09_appender, &apps[i]), 0);
    }
    for (uint32_t i = 0; i < C09_CHANGERS; i++) {
        chg[i] = (c09_thread){.c = &c, .id = i};
        assert_int_equal(pthread_create(&chg_tid[i], NULL, c09_changer, &chg[i]), 0);
    }
    assert_int_equal(pthread_create(&sampler, NULL, c09_sampler, &c), 0);
    uint32_t seconds = conf_env_u32("SEGLOG_C09_SECONDS", 4);
    for (uint32_t ms = 0; ms < seconds * 1000u && !atomic_load(&c.stop); ms += 50)
        conf_sleep_ms(50);
    atomic_store(&c.stop, 1);
    for (uint32_t i = 0; i < C09_APPENDERS; i++)
        pthread_join(app_tid[i], NULL);
    for (uint32_t i = 0; i < C09_CHANGERS; i++)
        pthread_join(chg_tid[i], NULL);
    pthread_join(sampler, NULL);
    if (c.failure[0])
        fail_msg("c09: unexpected error: %s", c.failure);
    if (mode == C09_SEAL_THEN_EXTEND && CONF_TAIL(c.s, C09_LOG_A).sealed) {
        /* the last seal's extend ran out of its bound: finish the pair */
        CONF_EXTEND(c.s, C09_LOG_A, 0);
        c.extends++;
    }

    print_message("c09 mode %d: %zu acknowledged appends, %" PRIu64 " failed by their bound; "
                  "%zu seal+extends, %" PRIu64 " extends, %" PRIu64 " trims, %" PRIu64
                  " chain changes refused or timed out; a chain change waited for room in %"
                  PRIu64 " samples (listed by describe in %" PRIu64 "); longest call %" PRIu64
                  " ms\n",
                  (int)mode, c.n_acks, c.append_failures, c.n_successes, c.extends, c.trims,
                  c.chain_failures, c.room_waits_seen, c.room_waits_described,
                  c.longest_call_ms);
    /* the hard path was reached: queue full, chain changes waiting for room */
    assert_true(c.n_acks > 0);
    assert_true(c.room_waits_seen > 0);
    assert_true(c.room_waits_described > 0);
    if (mode == C09_SEAL_EXTEND)
        assert_true(c.n_successes > 0);
    if (mode == C09_SEAL_THEN_EXTEND)
        assert_true(c.extends > 0);
    if (mode == C09_TRIM)
        assert_true(c.trims > 0);
    /* every wait ended by its bound */
    assert_true(c.longest_call_ms <= C09_CHAIN_WAIT_MS + C09_MARGIN_MS);

    /* no expected version succeeded twice */
    qsort(c.successes, c.n_successes, sizeof *c.successes, c09_cmp_u64);
    for (size_t i = 1; i < c.n_successes; i++)
        if (c.successes[i] == c.successes[i - 1])
            fail_msg("c09: two seal+extends succeeded with expected version %" PRIu64,
                     c.successes[i]);

    c09_check_all(&c, c.s, "before reopen");
    CONF_CLOSE(c.s);
    c.s = CONF_OPEN(dir, &o);
    c09_check_all(&c, c.s, "after reopen");
    CONF_CLOSE(c.s);
    free(c.acks);
    free(c.successes);
}

static void test_conf_c09_backpressure_seal_and_extend(void **state)
{
    conf_fixture *f = *state;
    c09_run(f->dir, C09_SEAL_EXTEND);
}

static void test_conf_c09_backpressure_seal_then_extend(void **state)
{
    conf_fixture *f = *state;
    c09_run(f->dir, C09_SEAL_THEN_EXTEND);
}

static void test_conf_c09_backpressure_trim_two_logs(void **state)
{
    conf_fixture *f = *state;
    c09_run(f->dir, C09_TRIM);
}

int main(void)
{
    conf_apply_filter();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conf_c09_backpressure_seal_and_extend, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c09_backpressure_seal_then_extend, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_c09_backpressure_trim_two_logs, conf_setup,
                                        conf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
