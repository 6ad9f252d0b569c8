/*
 * test_conf_util.h — helpers shared by the conformance programs (test_conf_l.c, _c.c, _d.c, _t.c,
 * the cases of /work/shared/CONFORMANCE.md): a fixture with a fresh directory per test, store and
 * log helpers that fail the test with the caller's file and line and the library's message, small
 * thread stacks, a barrier with a deadline, and a child process that reports acknowledgements to
 * the parent through a pipe (the crash cases). Header-only; every helper is static inline so that
 * each program uses what it needs. Include test_util.h first.
 *
 * No helper blocks without a bound: every library call takes a timeout, the barrier and the child
 * helpers have deadlines, and a child that overstays is killed.
 */
#ifndef SEGLOG_TEST_CONF_UTIL_H
#define SEGLOG_TEST_CONF_UTIL_H

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "seglog.h"
#include "seglog_internal.h"
#include "wal.h"

#define CONF_WAIT_MS 5000u           /* the bound of every wait that is expected to succeed */
#define CONF_NOTHING_MS 200u         /* how long a "nothing arrives" check waits */
#define CONF_WAL_FILE_BYTES (4u << 20) /* small WAL files: tests open many stores */
#define CONF_PAYLOAD_MAX 128u        /* payload strings the helpers format */
/* Thread stacks: small, so that hundreds of appenders fit; sanitizers need far more stack. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CONF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CONF_SANITIZED 1
#endif
#endif
#ifdef CONF_SANITIZED
#define CONF_SMALL_STACK_BYTES (1u << 20)
#define CONF_STACK_BYTES (2u << 20)
#else
#define CONF_SMALL_STACK_BYTES (64u << 10)
#define CONF_STACK_BYTES (256u << 10)
#endif

/* ---- fixture ----------------------------------------------------------------------------------- */

typedef struct conf_fixture {
    char dir[TEST_PATH_MAX];
    pid_t child; /* a crash case's live child process, 0 if none */
} conf_fixture;

static inline int conf_setup(void **state)
{
    conf_fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "conf") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int conf_teardown(void **state)
{
    conf_fixture *f = *state;
    if (f->child > 0) { /* a failed crash case left its child running */
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    test_rmtree(f->dir);
    free(f);
    return 0;
}

/* SEGLOG_TEST_FILTER=pattern (cmocka's wildcards, e.g. "*c05*") runs only the matching tests. */
static inline void conf_apply_filter(void)
{
    const char *pattern = getenv("SEGLOG_TEST_FILTER");
    if (pattern && *pattern)
        cmocka_set_test_filter(pattern);
}

/* ---- time and environment ---------------------------------------------------------------------- */

static inline uint64_t conf_now_us(void)
{
    return test_now_ns() / 1000u;
}

static inline uint64_t conf_now_ms(void)
{
    return test_now_ns() / 1000000u;
}

static inline void conf_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* An unsigned integer from the environment, or def when unset or unparsable. */
static inline uint32_t conf_env_u32(const char *name, uint32_t def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (!end || *end != '\0' || n == 0 || n > 100000ul)
        return def;
    return (uint32_t)n;
}

/* ---- store and logs ---------------------------------------------------------------------------- */

static inline void conf_options(seglog_options *o)
{
    seglog_options_init(o);
    o->wal_file_size_bytes = CONF_WAL_FILE_BYTES;
}

static inline seglog *conf_open_at(const char *file, int line, const char *dir,
                                   const seglog_options *o)
{
    seglog *s = NULL;
    seglog_error err = {0};
    int rc = seglog_open(&s, dir, o, &err);
    if (rc != SEGLOG_OK || !s)
        fail_msg("%s:%d: seglog_open(%s) = %d (%s): %s", file, line, dir, rc, seglog_strerror(rc),
                 err.message);
    return s;
}
#define CONF_OPEN(dir, o) conf_open_at(__FILE__, __LINE__, (dir), (o))

static inline void conf_create_at(const char *file, int line, seglog *s, seglog_log_id log)
{
    seglog_error err = {0};
    int rc = seglog_log_create(s, log, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: seglog_log_create(%" PRIu64 ") = %d (%s): %s", file, line, log, rc,
                 seglog_strerror(rc), err.message);
}
#define CONF_CREATE(s, log) conf_create_at(__FILE__, __LINE__, (s), (log))

typedef struct conf_closer {
    seglog *s;
    atomic_int done;
} conf_closer;

static inline void *conf_closer_main(void *arg)
{
    conf_closer *c = arg;
    seglog_close(c->s);
    atomic_store(&c->done, 1);
    return NULL;
}

/* seglog_close with a bound: fails the test if it has not returned within timeout_ms (the closing
 * thread is then left behind, detached, so that the suite goes on). */
static inline void conf_close_at(const char *file, int line, seglog *s, uint32_t timeout_ms)
{
    conf_closer *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->s = s;
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 1u << 20);
    int rc = pthread_create(&th, &a, conf_closer_main, c);
    pthread_attr_destroy(&a);
    assert_int_equal(rc, 0);
    uint64_t deadline = conf_now_ms() + timeout_ms;
    while (!atomic_load(&c->done) && conf_now_ms() < deadline)
        conf_sleep_ms(1);
    if (!atomic_load(&c->done)) {
        pthread_detach(th);
        fail_msg("%s:%d: seglog_close did not return within %u ms", file, line, timeout_ms);
    }
    pthread_join(th, NULL);
    free(c);
}
#define CONF_CLOSE(s) conf_close_at(__FILE__, __LINE__, (s), 30000)

/* Appends the NUL-less bytes of str; fails the test unless SEGLOG_OK. Returns the LSN. */
static inline seglog_lsn conf_append_at(const char *file, int line, seglog *s, seglog_log_id log,
                                        const char *str, const seglog_append_opts *opts)
{
    seglog_lsn lsn = SEGLOG_LSN_INVALID;
    seglog_error err = {0};
    int rc = seglog_log_append(s, log, str, strlen(str), opts, &lsn, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: append \"%s\" to log %" PRIu64 " = %d (%s): %s", file, line, str, log, rc,
                 seglog_strerror(rc), err.message);
    if (lsn == SEGLOG_LSN_INVALID)
        fail_msg("%s:%d: append \"%s\" returned LSN 0", file, line, str);
    return lsn;
}
#define CONF_APPEND(s, log, str) conf_append_at(__FILE__, __LINE__, (s), (log), (str), NULL)

/* Appends "<prefix><i>" for i in [from, to] and asserts that record i gets LSN i + shift. */
static inline void conf_append_range_at(const char *file, int line, seglog *s, seglog_log_id log,
                                        const char *prefix, uint64_t from, uint64_t to,
                                        int64_t shift)
{
    char buf[CONF_PAYLOAD_MAX];
    for (uint64_t i = from; i <= to; i++) {
        snprintf(buf, sizeof buf, "%s%" PRIu64, prefix, i);
        seglog_lsn lsn = conf_append_at(file, line, s, log, buf, NULL);
        if (lsn != (seglog_lsn)((int64_t)i + shift))
            fail_msg("%s:%d: append \"%s\" got LSN %" PRIu64 ", want %" PRId64, file, line, buf,
                     lsn, (int64_t)i + shift);
    }
}
#define CONF_APPEND_RANGE(s, log, prefix, from, to)                                                \
    conf_append_range_at(__FILE__, __LINE__, (s), (log), (prefix), (from), (to), 0)

static inline bool conf_payload_is(const seglog_entry *e, const char *want)
{
    size_t n = strlen(want);
    return e->kind == SEGLOG_ENTRY_RECORD && e->len == n && (n == 0 || memcmp(e->payload, want, n) == 0);
}

static inline void conf_expect_record_at(const char *file, int line, seglog *s, seglog_log_id log,
                                         seglog_lsn lsn, const char *want)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_log_read(s, log, lsn, 0, &e, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: read of log %" PRIu64 " LSN %" PRIu64 " = %d (%s): %s", file, line, log,
                 lsn, rc, seglog_strerror(rc), err.message);
    bool ok = e.lsn == lsn && conf_payload_is(&e, want);
    if (!ok) {
        char got[CONF_PAYLOAD_MAX];
        size_t n = e.len < sizeof got - 1 ? e.len : sizeof got - 1;
        if (e.payload)
            memcpy(got, e.payload, n);
        got[e.payload ? n : 0] = '\0';
        int kind = (int)e.kind;
        seglog_lsn got_lsn = e.lsn;
        seglog_entry_fini(&e);
        fail_msg("%s:%d: read of LSN %" PRIu64 ": kind %d at LSN %" PRIu64 " \"%s\", want record \"%s\"",
                 file, line, lsn, kind, got_lsn, got, want);
    }
    seglog_entry_fini(&e);
}
#define CONF_EXPECT_RECORD(s, log, lsn, want)                                                      \
    conf_expect_record_at(__FILE__, __LINE__, (s), (log), (lsn), (want))

/* "<prefix><i>" at LSN i for i in [from, to]. */
static inline void conf_expect_range_at(const char *file, int line, seglog *s, seglog_log_id log,
                                        const char *prefix, uint64_t from, uint64_t to)
{
    char buf[CONF_PAYLOAD_MAX];
    for (uint64_t i = from; i <= to; i++) {
        snprintf(buf, sizeof buf, "%s%" PRIu64, prefix, i);
        conf_expect_record_at(file, line, s, log, i, buf);
    }
}
#define CONF_EXPECT_RANGE(s, log, prefix, from, to)                                                \
    conf_expect_range_at(__FILE__, __LINE__, (s), (log), (prefix), (from), (to))

/* A read with timeout 0 of an LSN at or past the tail says "nothing yet". */
static inline void conf_expect_nothing_yet_at(const char *file, int line, seglog *s,
                                              seglog_log_id log, seglog_lsn lsn)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_log_read(s, log, lsn, 0, &e, &err);
    if (rc == SEGLOG_OK)
        seglog_entry_fini(&e);
    if (rc != SEGLOG_ENOTFOUND)
        fail_msg("%s:%d: read of log %" PRIu64 " LSN %" PRIu64 " = %d (%s), want SEGLOG_ENOTFOUND "
                 "(nothing yet): %s",
                 file, line, log, lsn, rc, seglog_strerror(rc), err.message);
    if (err.code != SEGLOG_ENOTFOUND)
        fail_msg("%s:%d: seglog_error.code %d, want SEGLOG_ENOTFOUND", file, line, err.code);
}
#define CONF_EXPECT_NOTHING_YET(s, log, lsn)                                                       \
    conf_expect_nothing_yet_at(__FILE__, __LINE__, (s), (log), (lsn))

/* A read of lsn yields a trim gap [gap_from, gap_to]. */
static inline void conf_expect_gap_at(const char *file, int line, seglog *s, seglog_log_id log,
                                      seglog_lsn lsn, seglog_lsn gap_from, seglog_lsn gap_to)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_log_read(s, log, lsn, 0, &e, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: read of trimmed LSN %" PRIu64 " = %d (%s): %s", file, line, lsn, rc,
                 seglog_strerror(rc), err.message);
    seglog_entry_kind kind = e.kind;
    seglog_lsn got_lsn = e.lsn, got_to = e.gap_to;
    seglog_entry_fini(&e);
    if (kind != SEGLOG_ENTRY_TRIM_GAP || got_lsn != gap_from || got_to != gap_to)
        fail_msg("%s:%d: read of LSN %" PRIu64 ": kind %d lsn %" PRIu64 " gap_to %" PRIu64
                 ", want a trim gap %" PRIu64 "..%" PRIu64,
                 file, line, lsn, (int)kind, got_lsn, got_to, gap_from, gap_to);
}
#define CONF_EXPECT_GAP(s, log, lsn, from, to)                                                     \
    conf_expect_gap_at(__FILE__, __LINE__, (s), (log), (lsn), (from), (to))

/* A read of a trimmed lsn yields a trim gap that covers it and ends at the trim point (the spec
 * leaves open whether the gap starts at lsn or at the first trimmed LSN). */
static inline void conf_expect_gap_covering_at(const char *file, int line, seglog *s,
                                               seglog_log_id log, seglog_lsn lsn,
                                               seglog_lsn trim_point)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_log_read(s, log, lsn, 0, &e, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: read of trimmed LSN %" PRIu64 " = %d (%s): %s", file, line, lsn, rc,
                 seglog_strerror(rc), err.message);
    seglog_entry_kind kind = e.kind;
    seglog_lsn got_lsn = e.lsn, got_to = e.gap_to;
    seglog_entry_fini(&e);
    if (kind != SEGLOG_ENTRY_TRIM_GAP || got_lsn < SEGLOG_LSN_OLDEST || got_lsn > lsn ||
        got_to != trim_point)
        fail_msg("%s:%d: read of LSN %" PRIu64 ": kind %d lsn %" PRIu64 " gap_to %" PRIu64
                 ", want a trim gap covering it up to %" PRIu64,
                 file, line, lsn, (int)kind, got_lsn, got_to, trim_point);
}
#define CONF_EXPECT_GAP_COVERING(s, log, lsn, trim_point)                                          \
    conf_expect_gap_covering_at(__FILE__, __LINE__, (s), (log), (lsn), (trim_point))

static inline seglog_tail conf_tail_at(const char *file, int line, seglog *s, seglog_log_id log)
{
    seglog_tail t = {0};
    seglog_error err = {0};
    int rc = seglog_log_find_tail(s, log, &t, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: find_tail(%" PRIu64 ") = %d (%s): %s", file, line, log, rc,
                 seglog_strerror(rc), err.message);
    return t;
}
#define CONF_TAIL(s, log) conf_tail_at(__FILE__, __LINE__, (s), (log))

static inline seglog_tail conf_expect_tail_at(const char *file, int line, seglog *s,
                                              seglog_log_id log, seglog_lsn lsn, int sealed)
{
    seglog_tail t = conf_tail_at(file, line, s, log);
    if (t.lsn != lsn || t.sealed != sealed)
        fail_msg("%s:%d: tail of log %" PRIu64 " is %s at %" PRIu64 ", want %s at %" PRIu64, file,
                 line, log, t.sealed ? "sealed" : "open", t.lsn, sealed ? "sealed" : "open", lsn);
    return t;
}
#define CONF_EXPECT_TAIL(s, log, lsn, sealed)                                                      \
    conf_expect_tail_at(__FILE__, __LINE__, (s), (log), (lsn), (sealed))

static inline seglog_log_info *conf_describe_at(const char *file, int line, seglog *s,
                                                seglog_log_id log)
{
    seglog_log_info *info = NULL;
    seglog_error err = {0};
    int rc = seglog_log_describe(s, log, &info, &err);
    if (rc != SEGLOG_OK || !info)
        fail_msg("%s:%d: describe(%" PRIu64 ") = %d (%s): %s", file, line, log, rc,
                 seglog_strerror(rc), err.message);
    return info;
}
#define CONF_DESCRIBE(s, log) conf_describe_at(__FILE__, __LINE__, (s), (log))

static inline uint64_t conf_version_at(const char *file, int line, seglog *s, seglog_log_id log)
{
    return conf_tail_at(file, line, s, log).version;
}
#define CONF_VERSION(s, log) conf_version_at(__FILE__, __LINE__, (s), (log))

static inline seglog_tail conf_seal_at(const char *file, int line, seglog *s, seglog_log_id log)
{
    seglog_tail t = {0};
    seglog_error err = {0};
    int rc = seglog_log_seal(s, log, &t, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: seal(%" PRIu64 ") = %d (%s): %s", file, line, log, rc,
                 seglog_strerror(rc), err.message);
    if (!t.sealed)
        fail_msg("%s:%d: seal(%" PRIu64 ") returned an open tail at %" PRIu64, file, line, log,
                 t.lsn);
    return t;
}
#define CONF_SEAL(s, log) conf_seal_at(__FILE__, __LINE__, (s), (log))

static inline seglog_tail conf_extend_at(const char *file, int line, seglog *s, seglog_log_id log,
                                         seglog_lsn base)
{
    seglog_tail t = {0};
    seglog_error err = {0};
    int rc = seglog_log_extend(s, log, base, &t, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: extend(%" PRIu64 ", base %" PRIu64 ") = %d (%s): %s", file, line, log,
                 base, rc, seglog_strerror(rc), err.message);
    if (t.sealed)
        fail_msg("%s:%d: extend(%" PRIu64 ") returned a sealed tail", file, line, log);
    return t;
}
#define CONF_EXTEND(s, log, base) conf_extend_at(__FILE__, __LINE__, (s), (log), (base))

static inline seglog_tail conf_seal_extend_at(const char *file, int line, seglog *s,
                                              seglog_log_id log, uint64_t expected_version)
{
    seglog_tail t = {0};
    seglog_error err = {0};
    int rc = seglog_log_seal_and_extend(s, log, expected_version, &t, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: seal_and_extend(%" PRIu64 ", v%" PRIu64 ") = %d (%s): %s", file, line, log,
                 expected_version, rc, seglog_strerror(rc), err.message);
    if (t.sealed)
        fail_msg("%s:%d: seal_and_extend(%" PRIu64 ") returned a sealed tail", file, line, log);
    return t;
}
#define CONF_SEAL_EXTEND(s, log, v) conf_seal_extend_at(__FILE__, __LINE__, (s), (log), (v))

static inline seglog_lsn conf_trim_at(const char *file, int line, seglog *s, seglog_log_id log,
                                      seglog_lsn point)
{
    seglog_lsn to = SEGLOG_LSN_INVALID;
    seglog_error err = {0};
    int rc = seglog_log_trim(s, log, point, &to, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: trim(%" PRIu64 ", %" PRIu64 ") = %d (%s): %s", file, line, log, point, rc,
                 seglog_strerror(rc), err.message);
    return to;
}
#define CONF_TRIM(s, log, point) conf_trim_at(__FILE__, __LINE__, (s), (log), (point))

/* ---- readers ----------------------------------------------------------------------------------- */

static inline seglog_reader *conf_reader_at(const char *file, int line, seglog *s,
                                            seglog_log_id log, seglog_lsn from, seglog_lsn to)
{
    seglog_reader *r = NULL;
    seglog_error err = {0};
    int rc = seglog_reader_open(&r, s, log, from, to, &err);
    if (rc != SEGLOG_OK || !r)
        fail_msg("%s:%d: reader_open(%" PRIu64 ", %" PRIu64 "..%" PRIu64 ") = %d (%s): %s", file,
                 line, log, from, to, rc, seglog_strerror(rc), err.message);
    return r;
}
#define CONF_READER(s, log, from, to) conf_reader_at(__FILE__, __LINE__, (s), (log), (from), (to))

static inline void conf_reader_record_at(const char *file, int line, seglog_reader *r,
                                         seglog_lsn lsn, const char *want)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_reader_next(r, CONF_WAIT_MS, &e, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: reader_next (want LSN %" PRIu64 ") = %d (%s): %s", file, line, lsn, rc,
                 seglog_strerror(rc), err.message);
    if (e.kind != SEGLOG_ENTRY_RECORD || e.lsn != lsn || !conf_payload_is(&e, want))
        fail_msg("%s:%d: reader_next: kind %d LSN %" PRIu64 " (gap_to %" PRIu64 ", %zu bytes), "
                 "want record \"%s\" at %" PRIu64,
                 file, line, (int)e.kind, e.lsn, e.gap_to, e.len, want, lsn);
}
#define CONF_READER_RECORD(r, lsn, want) conf_reader_record_at(__FILE__, __LINE__, (r), (lsn), (want))

/* "<prefix><i>" at LSN i for i in [from, to], from the reader. */
static inline void conf_reader_range_at(const char *file, int line, seglog_reader *r,
                                        const char *prefix, uint64_t from, uint64_t to)
{
    char buf[CONF_PAYLOAD_MAX];
    for (uint64_t i = from; i <= to; i++) {
        snprintf(buf, sizeof buf, "%s%" PRIu64, prefix, i);
        conf_reader_record_at(file, line, r, i, buf);
    }
}
#define CONF_READER_RANGE(r, prefix, from, to)                                                     \
    conf_reader_range_at(__FILE__, __LINE__, (r), (prefix), (from), (to))

static inline void conf_reader_gap_at(const char *file, int line, seglog_reader *r,
                                      seglog_lsn from, seglog_lsn to)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_reader_next(r, CONF_WAIT_MS, &e, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s:%d: reader_next (want a gap %" PRIu64 "..%" PRIu64 ") = %d (%s): %s", file,
                 line, from, to, rc, seglog_strerror(rc), err.message);
    if (e.kind != SEGLOG_ENTRY_TRIM_GAP || e.lsn != from || e.gap_to != to)
        fail_msg("%s:%d: reader_next: kind %d LSN %" PRIu64 " gap_to %" PRIu64
                 ", want a trim gap %" PRIu64 "..%" PRIu64,
                 file, line, (int)e.kind, e.lsn, e.gap_to, from, to);
}
#define CONF_READER_GAP(r, from, to) conf_reader_gap_at(__FILE__, __LINE__, (r), (from), (to))

/* The reader yields nothing within ms: SEGLOG_ETIMEDOUT. */
static inline void conf_reader_nothing_at(const char *file, int line, seglog_reader *r,
                                          uint32_t ms)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_reader_next(r, ms, &e, &err);
    if (rc != SEGLOG_ETIMEDOUT)
        fail_msg("%s:%d: reader_next = %d (%s) (kind %d LSN %" PRIu64 "), want SEGLOG_ETIMEDOUT: %s",
                 file, line, rc, seglog_strerror(rc), rc == SEGLOG_OK ? (int)e.kind : 0,
                 rc == SEGLOG_OK ? e.lsn : 0, err.message);
    if (err.code != SEGLOG_ETIMEDOUT)
        fail_msg("%s:%d: seglog_error.code %d, want SEGLOG_ETIMEDOUT", file, line, err.code);
}
#define CONF_READER_NOTHING(r, ms) conf_reader_nothing_at(__FILE__, __LINE__, (r), (ms))

static inline void conf_reader_end_at(const char *file, int line, seglog_reader *r)
{
    seglog_entry e = {0};
    seglog_error err = {0};
    int rc = seglog_reader_next(r, CONF_WAIT_MS, &e, &err);
    if (rc != SEGLOG_EEND)
        fail_msg("%s:%d: reader_next = %d (%s) (kind %d LSN %" PRIu64 "), want SEGLOG_EEND: %s",
                 file, line, rc, seglog_strerror(rc), rc == SEGLOG_OK ? (int)e.kind : 0,
                 rc == SEGLOG_OK ? e.lsn : 0, err.message);
}
#define CONF_READER_END(r) conf_reader_end_at(__FILE__, __LINE__, (r))

/* ---- messages ---------------------------------------------------------------------------------- */

/* The error's message names the number n (as decimal digits not part of a longer number). */
static inline bool conf_names_number(const char *msg, uint64_t n)
{
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, n);
    size_t wl = strlen(want);
    for (const char *p = strstr(msg, want); p; p = strstr(p + 1, want)) {
        bool left = p == msg || p[-1] < '0' || p[-1] > '9';
        bool right = p[wl] < '0' || p[wl] > '9';
        if (left && right)
            return true;
    }
    return false;
}

#define CONF_EXPECT_NAMES(err, n)                                                                  \
    do {                                                                                           \
        if (!conf_names_number((err).message, (uint64_t)(n)))                                      \
            fail_msg("error message \"%s\" does not name %" PRIu64, (err).message, (uint64_t)(n)); \
    } while (0)

/* ---- threads ----------------------------------------------------------------------------------- */

static inline void conf_thread_start(pthread_t *th, size_t stack_bytes, void *(*fn)(void *),
                                     void *arg)
{
    pthread_attr_t a;
    assert_int_equal(pthread_attr_init(&a), 0);
    assert_int_equal(pthread_attr_setstacksize(&a, stack_bytes), 0);
    int rc = pthread_create(th, &a, fn, arg);
    pthread_attr_destroy(&a);
    if (rc != 0)
        fail_msg("pthread_create: %s", strerror(rc));
}

/* A barrier whose waits end after a deadline (pthread_barrier_wait has none). */
typedef struct conf_barrier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t need;
    uint32_t arrived;
} conf_barrier;

static inline void conf_barrier_init(conf_barrier *b, uint32_t need)
{
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->need = need;
    b->arrived = 0;
}

static inline void conf_barrier_fini(conf_barrier *b)
{
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
}

/* Returns true once `need` parties arrived, false if timeout_ms passed first. */
static inline bool conf_barrier_wait(conf_barrier *b, uint32_t timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += (time_t)(timeout_ms / 1000u);
    dl.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    b->arrived++;
    if (b->arrived >= b->need)
        pthread_cond_broadcast(&b->cv);
    int rc = 0;
    while (b->arrived < b->need && rc == 0)
        rc = pthread_cond_timedwait(&b->cv, &b->mu, &dl);
    bool ok = b->arrived >= b->need;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

/* ---- a child process that reports to its parent ------------------------------------------------ */

/*
 * Why exec and not a plain fork: RocksDB keeps process-wide background thread pools, which a fork
 * copies without their threads; a forked child that opens a store after the parent used one waits
 * for ever on a flush nobody runs. So the child re-executes this test program with
 *     argv = { exe, "--conf-child", role, fd, args... }
 * and main() hands that to conf_child_dispatch before cmocka starts. The child dies with SIGKILL
 * when the parent dies (PR_SET_PDEATHSIG) and with SIGALRM after CONF_CHILD_LIFE_S whatever
 * happens, so that no child outlives its test.
 */
#include <sys/prctl.h>

#define CONF_CHILD_LIFE_S 180u
#define CONF_CHILD_ARGS_MAX 8u

/* One message from the child. Smaller than PIPE_BUF, so each write is atomic. */
typedef struct conf_msg {
    uint32_t kind; /* CONF_MSG_... */
    int32_t code;  /* a return code (CONF_MSG_ERROR) */
    uint64_t a;    /* by kind: an LSN, a version, a line number */
    uint64_t b;
    uint64_t c;
} conf_msg;

enum {
    CONF_MSG_ACK = 1,      /* an append returned SEGLOG_OK: a = log (or batch), b = first LSN, c = last */
    CONF_MSG_SEALED = 2,   /* a seal_and_extend returned: a = log, b = new version, c = segment id */
    CONF_MSG_DONE = 3,     /* the workload is done (the child then exits or waits to be killed) */
    CONF_MSG_ERROR = 4,    /* a call failed: code, a = source line */
    CONF_MSG_STATE = 6,    /* a free-form triple, by test */
};

#define CONF_CHILD_MSGS_MAX (1u << 22)

typedef struct conf_child {
    pid_t pid;
    int fd;          /* read end */
    conf_msg *msgs;  /* everything received */
    size_t n, cap;
    conf_msg partial; /* a message being read */
    size_t have;      /* bytes of it */
    bool eof;
    int status;      /* from waitpid, once reaped */
    bool reaped;
    pid_t *owner;    /* the fixture's record of its live child, cleared when reaped */
} conf_child;

/* A child's role: runs in the re-executed program with the pipe's write end and its arguments. */
typedef void (*conf_child_fn)(int fd, int argc, char **argv);

typedef struct conf_child_role {
    const char *name;
    conf_child_fn fn;
} conf_child_role;

/* In main(), first thing: if this process is a child, runs its role and exits; else returns. */
static inline void conf_child_dispatch(int argc, char **argv, const conf_child_role *roles,
                                       size_t n_roles)
{
    if (argc < 4 || strcmp(argv[1], "--conf-child") != 0)
        return;
    int fd = atoi(argv[3]);
    for (size_t i = 0; i < n_roles; i++) {
        if (strcmp(roles[i].name, argv[2]) == 0) {
            wal_kill_point_reset();
            roles[i].fn(fd, argc - 4, argv + 4);
            close(fd);
            _exit(0);
        }
    }
    fprintf(stderr, "unknown child role %s\n", argv[2]);
    _exit(6);
}

/* In the child: sends one message; a failure to write ends the child. */
static inline void conf_child_send(int fd, uint32_t kind, int32_t code, uint64_t a, uint64_t b,
                                   uint64_t c)
{
    conf_msg m = {.kind = kind, .code = code, .a = a, .b = b, .c = c};
    const char *p = (const char *)&m;
    size_t left = sizeof m;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(5);
        p += n;
        left -= (size_t)n;
    }
}

/* In the child: reports a failed call and exits. */
static inline void conf_child_fail(int fd, int line, int code, const seglog_error *err)
{
    fprintf(stderr, "child: line %d: %d (%s): %s\n", line, code, seglog_strerror(code),
            err ? err->message : "");
    conf_child_send(fd, CONF_MSG_ERROR, code, (uint64_t)line, 0, 0);
    _exit(3);
}

/* In the child, after CONF_MSG_DONE: waits (bounded) to be killed. */
static inline void conf_child_linger(void)
{
    for (int i = 0; i < 600; i++)
        conf_sleep_ms(100);
    _exit(4);
}

/* Starts a child running `role` with args, with the kill point set (NULL: none). owner is where
 * the fixture keeps the live child's pid (so that its teardown can kill it after a failure). */
static inline void conf_child_start(conf_child *c, pid_t *owner, const char *kill_point,
                                    uint32_t kill_after, const char *role,
                                    const char *const *args, size_t n_args)
{
    memset(c, 0, sizeof *c);
    assert_true(n_args <= CONF_CHILD_ARGS_MAX);
    char exe[TEST_PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(el > 0 && (size_t)el < sizeof exe - 1);
    exe[el] = '\0';
    int p[2];
    assert_int_equal(pipe(p), 0);
    char fd_str[16], kp[160], ka[48];
    TEST_FMT(fd_str, "%d", p[1]);
    /* everything the child needs is built before the fork: after it, only exec */
    char *argv[4 + CONF_CHILD_ARGS_MAX + 1];
    argv[0] = exe;
    argv[1] = (char *)"--conf-child";
    argv[2] = (char *)role;
    argv[3] = fd_str;
    for (size_t i = 0; i < n_args; i++)
        argv[4 + i] = (char *)args[i];
    argv[4 + n_args] = NULL;
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 3, sizeof *envp);
    assert_non_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "SEGLOG_KILL_", 12) != 0)
            envp[k++] = environ[i];
    if (kill_point) {
        TEST_FMT(kp, "SEGLOG_KILL_POINT=%s", kill_point);
        TEST_FMT(ka, "SEGLOG_KILL_AFTER=%u", kill_after);
        envp[k++] = kp;
        envp[k++] = ka;
    }
    envp[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(7);
        alarm(CONF_CHILD_LIFE_S);
        execve(exe, argv, envp);
        _exit(127);
    }
    free(envp);
    close(p[1]);
    c->pid = pid;
    c->fd = p[0];
    c->owner = owner;
    if (owner)
        *owner = pid;
    c->cap = 1024;
    c->msgs = calloc(c->cap, sizeof *c->msgs);
    assert_non_null(c->msgs);
}

/* Reads messages until one of `kind` arrives (true), or EOF / timeout (false). kind 0: only until
 * EOF or timeout. */
static inline bool conf_child_read(conf_child *c, uint32_t kind, uint32_t timeout_ms)
{
    uint64_t deadline = conf_now_ms() + timeout_ms;
    while (!c->eof) {
        uint64_t now = conf_now_ms();
        if (now >= deadline)
            return false;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        assert_true(pr >= 0);
        if (pr == 0)
            return false;
        ssize_t n = read(c->fd, (char *)&c->partial + c->have, sizeof c->partial - c->have);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0) {
            c->eof = true; /* a partial message at EOF was cut by the kill: ignore it */
            break;
        }
        c->have += (size_t)n;
        if (c->have < sizeof c->partial)
            continue;
        c->have = 0;
        conf_msg cur = c->partial;
        if (c->n == c->cap) {
            assert_true(c->cap < CONF_CHILD_MSGS_MAX);
            c->cap *= 2;
            c->msgs = realloc(c->msgs, c->cap * sizeof *c->msgs);
            assert_non_null(c->msgs);
        }
        c->msgs[c->n++] = cur;
        if (cur.kind == CONF_MSG_ERROR) {
            kill(c->pid, SIGKILL);
            fail_msg("child failed at line %" PRIu64 ": %d (%s)", cur.a, cur.code,
                     seglog_strerror(cur.code));
        }
        if (kind != 0 && cur.kind == kind)
            return true;
    }
    return false;
}

/* Reads to EOF and reaps the child, killing it if it outlives timeout_ms. Returns the status. */
static inline int conf_child_wait(conf_child *c, uint32_t timeout_ms)
{
    uint64_t deadline = conf_now_ms() + timeout_ms;
    while (!c->eof && conf_now_ms() < deadline)
        conf_child_read(c, 0, (uint32_t)(deadline - conf_now_ms()) + 1);
    while (!c->reaped) {
        pid_t r = waitpid(c->pid, &c->status, WNOHANG);
        if (r == c->pid) {
            c->reaped = true;
            if (c->owner)
                *c->owner = 0;
            break;
        }
        if (conf_now_ms() >= deadline) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &c->status, 0);
            c->reaped = true;
            if (c->owner)
                *c->owner = 0;
            close(c->fd);
            fail_msg("child %d did not finish within %u ms: killed", (int)c->pid, timeout_ms);
        }
        conf_sleep_ms(5);
    }
    close(c->fd);
    c->fd = -1;
    return c->status;
}

/* Kills the child with SIGKILL and reaps it. */
static inline void conf_child_kill(conf_child *c)
{
    kill(c->pid, SIGKILL);
    conf_child_wait(c, CONF_WAIT_MS);
    if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != SIGKILL)
        fail_msg("child %d: status 0x%x, want killed by SIGKILL", (int)c->pid, c->status);
}

static inline void conf_child_free(conf_child *c)
{
    free(c->msgs);
    c->msgs = NULL;
}

/* True if the child died of SIGKILL (a kill point); false if it exited 0 (the kill point was not
 * reached). Anything else fails the test. */
static inline bool conf_child_was_killed(const conf_child *c)
{
    if (WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGKILL)
        return true;
    if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
        return false;
    fail_msg("child %d: status 0x%x (exit %d, signal %d), want SIGKILL or exit 0", (int)c->pid,
             c->status, WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1,
             WIFSIGNALED(c->status) ? WTERMSIG(c->status) : 0);
    return false;
}

/* Copies a directory tree (store directories hold sub-directories). */
static inline void conf_copy_tree(const char *src, const char *dst)
{
    char cmd[3 * TEST_PATH_MAX];
    TEST_FMT(cmd, "rm -rf '%s' && cp -a '%s' '%s'", dst, src, dst);
    assert_int_equal(system(cmd), 0);
}

#endif /* SEGLOG_TEST_CONF_UTIL_H */
