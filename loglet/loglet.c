/*
 * loglet.c — the log store behind seglog.h: logs as chains of segments, sequencing, waiting,
 * visibility, read streams, tail watches and describe.
 *
 * WHAT IT OWNS
 *   The in-memory model of every log, rebuilt from storage/ at open: the chain (segments with
 *   base, state, column family, durable counts), the chain version, the trim point, the
 *   *sequenced* tail (next LSN to hand out) and the *durable* tail (first LSN not yet durable and
 *   applied: readers see only what lies below it), and who is waiting for what.
 *
 * SEQUENCING
 *   Tails: `next_lsn` (sequenced) >= `durable_tail` (acknowledged; what find_tail shows) >=
 *   `applied_tail` (in RocksDB). Everything below durable_tail is readable: a record not yet
 *   applied is copied from its op on the way to RocksDB (`pend`, handed over with the
 *   acknowledgement and forgotten when the apply thread reports the op), so a tailing reader sees
 *   a record when its appender does, not when RocksDB has it (storage/store.c says why those are
 *   apart: with 64 appenders the apply ran 7-95 ms behind, p99 300 ms, before this).
 *
 *   An append takes the log's mutex, takes LSNs from the sequenced tail and enqueues its op in the
 *   WAL before letting go, so that within a log WAL order is LSN order, and a seal enqueued under
 *   the same mutex lands exactly after the last append it lets in: the seal's tail is exact. The
 *   enqueue never waits (store_submit): on a full queue the caller drops the mutex, waits for room,
 *   and sequences again. Completions arrive on the WAL thread in WAL order; each advances the
 *   durable tail (or applies the chain change), broadcasts the log's condition variable and then
 *   wakes the caller.
 *
 * RECONFIGURATION AND WAITING (DESIGN.md invariants 2, 5, 6)
 *   seal, extend and seal+extend each are one op. While one is in flight (`reconfig`), other
 *   chain changes wait; while a seal or seal+extend is in flight, or the tail is sealed, appends
 *   cannot land in the tail segment: they fail with SEGLOG_ESEALED, or, with SEGLOG_APPEND_WAIT,
 *   wait on the log's condition variable, which every chain change broadcasts under the mutex (no
 *   lost wake-up), re-check, and go on in the new tail segment, each up to its own deadline. A
 *   waiting appender is listed in the log (describe shows what it waits for and since when).
 *   The version grows by exactly one per chain change: seal, extension, seal+extend, and a trim
 *   that drops segments.
 *
 * LOCKS
 *   s->logs_lock (rwlock) guards the log table. Each log has two mutexes: mu (sequencing and the
 *   chain: appenders, chain changes) and tmu (the durable and applied tails and the watchers'
 *   history: append completions, the apply thread, readers). Order: logs_lock, mu, tmu. The WAL
 *   thread's append completions take only tmu: taking mu there made it queue behind hundreds of
 *   appenders for every record (C05 measured 60-170 ms per seal+extend before the split). No log
 *   mutex is held across a wait for WAL space, a RocksDB read or a pool wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "seglog.h"
#include "seglog_internal.h"
#include "store.h"

#define LOGLET_RECONFIG_WAIT_MS 25000u  /* longest wait of a chain change for an earlier one: more
                                         * than that one's own wait for room and its commit */
#define LOGLET_CF_WAIT_MS 60000u        /* longest wait for a pre-created column family: creating one
                                          * can take seconds when RocksDB is busy (sanitizer builds) */
#define LOGLET_SPACE_WAIT_MS 10000u     /* longest wait for room in the WAL queue */
#define LOGLET_ROOM_SLICE_MS 100u       /* a wait for room re-checks shutdown this often */
#define LOGLET_PARK_ROOM_RETRY_MS 5u    /* a parked append that found no room tries again after */
_Static_assert(LOGLET_RECONFIG_WAIT_MS > 2u * LOGLET_SPACE_WAIT_MS,
               "a chain change waiting behind another outlasts that one's wait for room");
#define LOGLET_BATCH_MAX 65536u         /* records in one batch append */
#define LOGLET_LOGS_MAX (1u << 20)

#define SEGLOG_ASSERT(c)                                                                           \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "seglog: assertion failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct lseg {
    uint64_t id;
    uint64_t base;
    uint64_t next;      /* durable: first LSN after its last durable record */
    uint64_t sealed_at; /* SEALED: the tail */
    uint64_t bytes;     /* durable payload bytes */
    uint64_t cf_no;
    uint8_t state;      /* store_seg_state */
} lseg;

/* A call waiting on the log, listed by describe: an appender waiting for reconfiguration, a chain
 * change waiting for an earlier one, or a chain change waiting for room in the WAL queue. Lives
 * on the waiting call's stack, linked into the log under mu. */
typedef struct waiter {
    struct waiter *next;
    const char *what;       /* static: seglog_waiter_info.what */
    uint64_t segment_id;
    uint64_t sealed_at;
    uint64_t since_us;
    uint64_t since_mono_ms;
    uint32_t timeout_ms;
} waiter;

/* Two locks per log, so that the WAL thread's completions never queue behind the appenders:
 * mu guards sequencing and the chain, tmu the tails that completions move (see LOCKS above). */
typedef struct log {
    seglog_log_id id;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* (mu) broadcast on every chain change: appenders wait on it */
    uint64_t version;         /* durable chain version */
    uint64_t trim_point;
    uint64_t created_us;
    lseg *segs;               /* the chain, oldest first; trimmed ones stay, marked */
    size_t n_segs, cap_segs;
    uint64_t next_lsn;        /* sequenced tail */
    uint64_t seq_bytes;       /* sequenced bytes of the tail segment */
    bool reconfig;            /* a chain op is in flight, or waiting for room to enter the WAL */
    bool sealing;             /* a seal or seal+extend is in flight: appends may not land */
    waiter *waiters;
    uint32_t n_waiters;

    /* Guarded by tmu. Lock order: mu before tmu. */
    pthread_mutex_t tmu;
    pthread_cond_t tcv;       /* broadcast on every change of a tail, the trim point or the chain */
    uint64_t durable_tail;    /* first LSN not yet durable (acknowledged up to here) */
    uint64_t applied_tail;    /* first LSN not yet in RocksDB (readable below here) */
    uint64_t tail_next;       /* durable next LSN of the tail segment */
    uint64_t tail_bytes;      /* durable payload bytes of the tail segment */
    uint64_t trim_point_t;    /* the trim point (a copy of trim_point, for tmu-only checks) */
    seglog_tail t;            /* the tail segment as find_tail shows it (lsn unused) */
    seglog_tail *hist;        /* tail history ring for watchers (allocated by the first one) */
    uint64_t hist_count;      /* changes pushed so far */
    /* The appends between applied_tail and durable_tail, oldest first (a ring): readers copy
     * records from them instead of waiting for the apply thread (see read_at). */
    struct pend_ref *pend;
    size_t pend_cap, pend_head, pend_len;
    size_t pend_inflight;     /* appends submitted, not yet completed: pend_cap holds room for
                               * each (reserved before the submit), so pend_push never fails */
    int apply_status;         /* the first failure the apply thread reported (0: none) */
    uint32_t pend_pins;       /* readers copying a record out of a pending op, outside tmu */
    bool pend_popping;        /* the apply thread waits for the pins to go: no new ones */
} log_t;

typedef struct pend_ref {
    uint64_t first;
    uint64_t n;
    const store_pending *p;
} pend_ref;

typedef struct parked parked;

struct seglog {
    store *st;
    seglog_options opt;
    pthread_rwlock_t logs_lock;
    log_t **logs;             /* sorted by id */
    size_t n_logs, cap_logs;
    pthread_mutex_t create_mu;
    atomic_uint_fast64_t next_seg_id;
    atomic_int closing;
    atomic_int active;        /* calls in progress */
    atomic_uint_fast64_t appends;
    atomic_uint_fast64_t waiting;
    atomic_uint_fast64_t chain_waiting_room; /* chain ops waiting for WAL room, now */
    pthread_mutex_t close_mu;
    bool shut;

    /* Parked asynchronous appends (SEGLOG_APPEND_WAIT on a sealed log). */
    pthread_mutex_t park_mu;
    pthread_cond_t park_cv;
    parked *parked_head;
    bool park_stop;
    uint64_t park_epoch;      /* bumped on every chain change */
    pthread_t park_thread;
};

struct parked {
    parked *next;
    log_t *lg;
    seglog_buf *recs;
    size_t n;
    uint8_t *data;
    seglog_append_cb cb;
    void *ctx;
    uint64_t deadline_ms;
    uint32_t timeout_ms;
    uint64_t epoch;   /* park_epoch before its last try: a chain change since makes it ready */
    uint64_t retry_ms; /* the WAL queue was full at its last try: ready again then (0: no) */
    /* for describe: what it waits behind, and since when */
    uint64_t segment_id;
    uint64_t sealed_at;
    uint64_t since_us;
    uint64_t since_mono_ms;
};

/* ---- helpers ----------------------------------------------------------------------------------- */

static int set_err(seglog_error *err, int code, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(seglog_error *err, int code, int os_errno, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        err->os_errno = os_errno;
        err->module = "loglet";
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec deadline_in(uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static bool past(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/* Milliseconds left until d, rounded up (0: past). */
static uint32_t ms_until(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = (int64_t)(d->tv_sec - now.tv_sec) * 1000000000 + (d->tv_nsec - now.tv_nsec);
    if (ns <= 0)
        return 0;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

static int enter(seglog *s, seglog_error *err)
{
    atomic_fetch_add(&s->active, 1);
    if (atomic_load(&s->closing)) {
        atomic_fetch_sub(&s->active, 1);
        return set_err(err, SEGLOG_ESHUTDOWN, 0, "loglet: the store is shut down");
    }
    return SEGLOG_OK;
}

static void leave(seglog *s)
{
    atomic_fetch_sub(&s->active, 1);
}

static log_t *find_log(seglog *s, seglog_log_id id)
{
    pthread_rwlock_rdlock(&s->logs_lock);
    size_t lo = 0, hi = s->n_logs;
    log_t *found = NULL;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->logs[mid]->id == id) {
            found = s->logs[mid];
            break;
        }
        if (s->logs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    pthread_rwlock_unlock(&s->logs_lock);
    return found;
}

static int no_log(seglog_error *err, seglog_log_id id)
{
    return set_err(err, SEGLOG_ENOTFOUND, 0, "loglet: no log %" PRIu64, id);
}

static lseg *tail_seg(log_t *lg)
{
    return &lg->segs[lg->n_segs - 1];
}

/* The tail as find_tail shows it. Called with tmu. */
static seglog_tail tail_of(const log_t *lg)
{
    seglog_tail out = lg->t;
    if (!out.sealed)
        out.lsn = lg->durable_tail;
    return out;
}

/* Records a tail change for watchers and wakes readers and watchers. Called with tmu. */
static void changed(log_t *lg)
{
    if (lg->hist) {
        lg->hist[lg->hist_count % SEGLOG_TAIL_HISTORY] = tail_of(lg);
        lg->hist_count++;
    }
    pthread_cond_broadcast(&lg->tcv);
}

/* Copies the chain's tail segment into the tmu-guarded view. Called with mu and tmu. */
static void publish_chain(log_t *lg)
{
    const lseg *t = &lg->segs[lg->n_segs - 1];
    lg->t = (seglog_tail){.lsn = t->state == STORE_SEG_SEALED ? t->sealed_at : 0,
                          .sealed = t->state == STORE_SEG_SEALED,
                          .version = lg->version,
                          .segment_id = t->id};
}

/* Makes room for n more segments in the chain (mu held). */
static int seg_reserve(log_t *lg, size_t n)
{
    if (lg->n_segs + n <= lg->cap_segs)
        return SEGLOG_OK;
    size_t cap = lg->cap_segs ? 2 * lg->cap_segs : 8;
    while (cap < lg->n_segs + n)
        cap *= 2;
    lseg *bigger = realloc(lg->segs, cap * sizeof *bigger);
    if (!bigger)
        return SEGLOG_ENOMEM;
    lg->segs = bigger;
    lg->cap_segs = cap;
    return SEGLOG_OK;
}

static int seg_push(log_t *lg, const lseg *seg)
{
    int rc = seg_reserve(lg, 1);
    if (rc == SEGLOG_OK)
        lg->segs[lg->n_segs++] = *seg;
    return rc;
}

static store_seg to_store(const log_t *lg, const lseg *g)
{
    store_seg out = {.log_id = lg->id,
                     .seg_id = g->id,
                     .base = g->base,
                     .next_lsn = g->next,
                     .sealed_at = g->sealed_at,
                     .bytes = g->bytes,
                     .cf_no = g->cf_no,
                     .state = g->state};
    return out;
}

static store_log log_meta(const log_t *lg, uint64_t version, uint64_t trim_point)
{
    store_log out = {.log_id = lg->id,
                     .version = version,
                     .trim_point = trim_point,
                     .created_us = lg->created_us};
    return out;
}

static log_t *log_new(seglog_log_id id)
{
    log_t *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->id = id;
    pthread_mutex_init(&lg->mu, NULL);
    cond_init_mono(&lg->cv);
    pthread_mutex_init(&lg->tmu, NULL);
    cond_init_mono(&lg->tcv);
    return lg;
}

static void log_free(log_t *lg)
{
    if (!lg)
        return;
    pthread_mutex_destroy(&lg->mu);
    pthread_cond_destroy(&lg->cv);
    pthread_mutex_destroy(&lg->tmu);
    pthread_cond_destroy(&lg->tcv);
    free(lg->segs);
    free(lg->hist);
    free(lg->pend);
    free(lg);
}

/* Makes room for one more log in the table. */
static int log_reserve(seglog *s)
{
    int rc = SEGLOG_OK;
    pthread_rwlock_wrlock(&s->logs_lock);
    if (s->n_logs == s->cap_logs) {
        size_t cap = s->cap_logs ? 2 * s->cap_logs : 16;
        log_t **bigger = realloc(s->logs, cap * sizeof *bigger);
        if (bigger) {
            s->logs = bigger;
            s->cap_logs = cap;
        } else {
            rc = SEGLOG_ENOMEM;
        }
    }
    pthread_rwlock_unlock(&s->logs_lock);
    return rc;
}

static int log_insert(seglog *s, log_t *lg)
{
    int rc = log_reserve(s);
    if (rc != SEGLOG_OK)
        return rc;
    pthread_rwlock_wrlock(&s->logs_lock);
    SEGLOG_ASSERT(s->n_logs < s->cap_logs);
    size_t at = s->n_logs;
    while (at > 0 && s->logs[at - 1]->id > lg->id)
        at--;
    memmove(s->logs + at + 1, s->logs + at, (s->n_logs - at) * sizeof *s->logs);
    s->logs[at] = lg;
    s->n_logs++;
    pthread_rwlock_unlock(&s->logs_lock);
    return SEGLOG_OK;
}

/* Fills err for an op that storage failed: what failed, and why (the WAL's errno, file and
 * offset, or the RocksDB error), not just the code. */
static void op_failed(seglog *s, int rc, seglog_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void op_failed(seglog *s, int rc, seglog_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char what[96], why[SEGLOG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int os_errno = store_failure(s->st, why, sizeof why);
    if (os_errno == 0)
        snprintf(why, sizeof why, "%s", seglog_strerror(rc));
    set_err(err, rc, os_errno, "loglet: %s failed: %.180s", what, why);
}

static void waiter_link(log_t *lg, waiter *w)
{
    w->next = lg->waiters;
    lg->waiters = w;
    lg->n_waiters++;
}

static void waiter_unlink(log_t *lg, waiter *w)
{
    for (waiter **p = &lg->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            lg->n_waiters--;
            return;
        }
    }
}

/* Waits (mu held, dropped meanwhile) for room for `bytes` in the WAL queue until deadline d:
 * SEGLOG_OK to try again, else SEGLOG_EFULL (or the store's failure). */
static int wait_room(seglog *s, log_t *lg, uint32_t bytes, const struct timespec *d,
                     seglog_error *err)
{
    uint32_t left = ms_until(d);
    if (left == 0)
        return set_err(err, SEGLOG_EFULL, 0,
                       "loglet: log %" PRIu64 ": the WAL queue had no room for %u bytes within "
                       "the allowed wait; the disk is slower than the producers",
                       lg->id, bytes);
    /* in slices, so that the caller sees a shutdown within one */
    uint32_t slice = left < LOGLET_ROOM_SLICE_MS ? left : LOGLET_ROOM_SLICE_MS;
    pthread_mutex_unlock(&lg->mu);
    int rc = store_wait_space(s->st, bytes, slice, err);
    pthread_mutex_lock(&lg->mu);
    if (rc == SEGLOG_EFULL && !past(d))
        rc = SEGLOG_OK; /* not yet the caller's deadline: it looks again */
    return rc;
}

/* ---- completions ------------------------------------------------------------------------------- */

/* What a caller waits on: filled by the completion, on the WAL thread. */
typedef struct completion {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
} completion;

#define COMPLETION_INIT {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}

static void complete(completion *c, int status)
{
    pthread_mutex_lock(&c->mu);
    c->done = true;
    c->status = status;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Unbounded on purpose: storage completes every accepted op exactly once (durable, failed, or
 * failed at shutdown), and it does so within one group commit unless the disk hangs. */
static int await(completion *c)
{
    pthread_mutex_lock(&c->mu);
    while (!c->done)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    return c->status;
}

typedef struct append_ctx {
    seglog *s;
    log_t *lg;
    uint64_t first;
    uint64_t n;
    uint64_t bytes;
    completion *sync;       /* a synchronous caller, or */
    seglog_append_cb cb;    /* an asynchronous one */
    void *cb_ctx;
    bool heap;
} append_ctx;

/* Reserves room in the ring for one more append before it is submitted (tmu held), so that its
 * completion can always remember its records: a durable record is then readable from the moment
 * it is acknowledged until it is in RocksDB, whatever memory does meanwhile. */
static int pend_reserve(log_t *lg)
{
    size_t need = lg->pend_len + lg->pend_inflight + 1;
    if (need > lg->pend_cap) {
        size_t cap = lg->pend_cap ? 2 * lg->pend_cap : 64;
        while (cap < need)
            cap *= 2;
        pend_ref *r = malloc(cap * sizeof *r);
        if (!r)
            return SEGLOG_ENOMEM;
        for (size_t i = 0; i < lg->pend_len; i++)
            r[i] = lg->pend[(lg->pend_head + i) % lg->pend_cap];
        free(lg->pend);
        lg->pend = r;
        lg->pend_cap = cap;
        lg->pend_head = 0;
    }
    lg->pend_inflight++;
    return SEGLOG_OK;
}

/* Remembers a durable append's records until they are applied (tmu held; room was reserved). */
static void pend_push(log_t *lg, uint64_t first, uint64_t n, const store_pending *p)
{
    SEGLOG_ASSERT(lg->pend_len < lg->pend_cap);
    lg->pend[(lg->pend_head + lg->pend_len) % lg->pend_cap] =
        (pend_ref){.first = first, .n = n, .p = p};
    lg->pend_len++;
}

/* Forgets the appends that end at or before end (applied; tmu held). */
static void pend_pop(log_t *lg, uint64_t end)
{
    while (lg->pend_len > 0) {
        const pend_ref *r = &lg->pend[lg->pend_head];
        if (r->first + r->n > end)
            break;
        lg->pend_head = (lg->pend_head + 1) % lg->pend_cap;
        lg->pend_len--;
    }
}

/* The pending append holding lsn, or NULL (tmu held). */
static const store_pending *pend_find(const log_t *lg, uint64_t lsn)
{
    size_t lo = 0, hi = lg->pend_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pend_ref *r = &lg->pend[(lg->pend_head + mid) % lg->pend_cap];
        if (lsn < r->first)
            hi = mid;
        else if (lsn >= r->first + r->n)
            lo = mid + 1;
        else
            return r->p;
    }
    return NULL;
}

static void append_done(void *ctx, int status, uint64_t seq, const store_pending *pend)
{
    (void)seq;
    append_ctx *a = ctx;
    log_t *lg = a->lg;
    /* Only tmu: appends land in the tail segment, and a chain change completes after every
     * append sequenced before it (WAL order), so these are the tail segment's counters. */
    pthread_mutex_lock(&lg->tmu);
    SEGLOG_ASSERT(lg->pend_inflight > 0);
    lg->pend_inflight--;
    if (status == SEGLOG_OK) {
        SEGLOG_ASSERT(a->first == lg->durable_tail); /* WAL order is LSN order within a log */
        lg->durable_tail = a->first + a->n;
        if (pend)
            pend_push(lg, a->first, a->n, pend);
        else if (lg->apply_status == 0)
            lg->apply_status = SEGLOG_ENOMEM; /* durable, but storage could not queue it for
                                               * RocksDB (it poisoned itself): reads fail at once */
        lg->tail_next = a->first + a->n;
        lg->tail_bytes += a->bytes;
        changed(lg);
    }
    pthread_mutex_unlock(&lg->tmu);
    if (status == SEGLOG_OK)
        atomic_fetch_add(&a->s->appends, a->n);
    if (a->sync) {
        complete(a->sync, status); /* a lives on the caller's stack: not touched after this */
        return;
    }
    if (a->cb)
        a->cb(a->cb_ctx, status, status == SEGLOG_OK ? a->first : 0,
              status == SEGLOG_OK ? a->first + a->n - 1 : 0);
    if (a->heap)
        free(a);
}

/* storage's apply thread reports each op in RocksDB: appended records become readable. */
static log_t *find_log(seglog *s, seglog_log_id id);

static void on_applied(void *ctx, const store_op *op, int status)
{
    seglog *s = ctx;
    if (op->type != STORE_OP_APPEND)
        return;
    log_t *lg = find_log(s, op->log.log_id);
    if (!lg)
        return;
    pthread_mutex_lock(&lg->tmu);
    /* the store frees the op after this returns: wait for readers copying from it */
    lg->pend_popping = true;
    while (lg->pend_pins > 0)
        pthread_cond_wait(&lg->tcv, &lg->tmu);
    lg->pend_popping = false;
    pend_pop(lg, op->first_lsn + op->n);
    if (status == SEGLOG_OK && op->first_lsn + op->n > lg->applied_tail)
        lg->applied_tail = op->first_lsn + op->n;
    if (status != SEGLOG_OK && lg->apply_status == 0)
        lg->apply_status = status; /* readers of what it held fail at once (read_at) */
    pthread_cond_broadcast(&lg->tcv);
    pthread_mutex_unlock(&lg->tmu);
}

typedef struct chain_ctx {
    seglog *s;
    log_t *lg;
    store_op op;            /* a copy (no records; dropped points into drops) */
    store_seg *drops;
    seglog_tail result;     /* the tail this change made, taken when it was applied */
    completion done;
} chain_ctx;

static void wake_parked(seglog *s)
{
    pthread_mutex_lock(&s->park_mu);
    s->park_epoch++;
    pthread_cond_broadcast(&s->park_cv);
    pthread_mutex_unlock(&s->park_mu);
}

/* A chain op is durable and applied: make it visible. */
static void chain_done(void *ctx, int status, uint64_t seq, const store_pending *pend)
{
    (void)seq;
    (void)pend;
    chain_ctx *c = ctx;
    log_t *lg = c->lg;
    const store_op *op = &c->op;
    pthread_mutex_lock(&lg->mu);
    pthread_mutex_lock(&lg->tmu);
    if (status == SEGLOG_OK) {
        switch (op->type) {
        case STORE_OP_SEAL: {
            lseg *t = tail_seg(lg);
            t->state = STORE_SEG_SEALED;
            t->sealed_at = op->seg.sealed_at;
            t->next = lg->tail_next;
            t->bytes = lg->tail_bytes;
            break;
        }
        case STORE_OP_EXTEND: {
            lseg g = {.id = op->seg.seg_id, .base = op->seg.base, .next = op->seg.base,
                      .cf_no = op->seg.cf_no, .state = STORE_SEG_OPEN};
            SEGLOG_ASSERT(lg->n_segs < lg->cap_segs); /* reserved by run_chain_op */
            seg_push(lg, &g);
            lg->seq_bytes = 0;
            lg->tail_next = op->seg.base;
            lg->tail_bytes = 0;
            break;
        }
        case STORE_OP_SEAL_EXTEND: {
            lseg *t = tail_seg(lg);
            t->state = STORE_SEG_SEALED;
            t->sealed_at = op->seg.sealed_at;
            t->next = lg->tail_next;
            t->bytes = lg->tail_bytes;
            lseg g = {.id = op->seg2.seg_id, .base = op->seg2.base, .next = op->seg2.base,
                      .cf_no = op->seg2.cf_no, .state = STORE_SEG_OPEN};
            SEGLOG_ASSERT(lg->n_segs < lg->cap_segs); /* reserved by run_chain_op */
            seg_push(lg, &g);
            lg->seq_bytes = 0;
            lg->tail_next = op->seg2.base;
            lg->tail_bytes = 0;
            break;
        }
        case STORE_OP_TRIM:
            lg->trim_point = lg->trim_point_t = op->log.trim_point;
            for (uint32_t i = 0; i < op->n_dropped; i++)
                for (size_t j = 0; j < lg->n_segs; j++)
                    if (lg->segs[j].id == op->dropped[i].seg_id)
                        lg->segs[j].state = STORE_SEG_TRIMMED;
            break;
        default:
            break;
        }
        lg->version = op->log.version;
        publish_chain(lg);
    }
    c->result = tail_of(lg); /* not re-read by the caller: a later change may follow at once */
    changed(lg);
    pthread_mutex_unlock(&lg->tmu);
    lg->reconfig = false;
    lg->sealing = false;
    pthread_cond_broadcast(&lg->cv);
    pthread_mutex_unlock(&lg->mu);
    wake_parked(c->s);
    complete(&c->done, status);
}

/* A waiter entry for describe, naming the log's tail segment now (mu held). */
static waiter waiter_here(const log_t *lg, const char *what, uint32_t timeout_ms)
{
    const lseg *t = &lg->segs[lg->n_segs - 1];
    return (waiter){.what = what,
                    .segment_id = t->id,
                    .sealed_at = t->state == STORE_SEG_SEALED ? t->sealed_at : lg->next_lsn,
                    .since_us = wall_us(),
                    .since_mono_ms = mono_ms(),
                    .timeout_ms = timeout_ms};
}

/* Enqueues the chain op c->op of lg (mu held; the op was built under it and is still exact).
 * The log is marked reconfiguring (and, for a seal or an extension, sealing) *before* the first
 * try: if the WAL queue is full the mutex is dropped while the op waits for room, and in that
 * window no other chain op may change the chain and no append may land in the tail segment, or
 * the op would describe a log that no longer is (a seal point behind acknowledged appends, two
 * seal+extends of one expected version, one segment dropped twice by two trims). Appends that
 * do not land in the tail (a trim) go on meanwhile: the trim's op does not depend on them.
 * The wait for room is bounded by LOGLET_SPACE_WAIT_MS in all and listed by describe. On
 * failure the marks are taken back and every waiter woken. */
static int submit_chain_op(seglog *s, log_t *lg, chain_ctx *c, bool sealing, seglog_error *err)
{
    SEGLOG_ASSERT(!lg->reconfig);
    lg->reconfig = true;
    lg->sealing = sealing;
    struct timespec d = deadline_in(LOGLET_SPACE_WAIT_MS);
    waiter w = {0};
    bool waiting = false;
    int rc;
    for (;;) {
        if (atomic_load(&s->closing)) {
            rc = set_err(err, SEGLOG_ESHUTDOWN, 0, "loglet: the store is shut down");
            break;
        }
        rc = store_submit(s->st, &c->op, chain_done, c, err);
        if (rc != SEGLOG_EFULL)
            break;
        if (!waiting) { /* listed from the first refusal until it is in (or gives up) */
            w = waiter_here(lg, "room in the WAL queue (chain change)", LOGLET_SPACE_WAIT_MS);
            waiter_link(lg, &w);
            atomic_fetch_add(&s->chain_waiting_room, 1);
            waiting = true;
        }
        wal_kill_point(LOGLET_KILL_CHAIN_WAIT_ROOM);
        rc = wait_room(s, lg, store_op_encoded_size(&c->op), &d, err);
        if (rc != SEGLOG_OK)
            break;
    }
    if (waiting) {
        atomic_fetch_sub(&s->chain_waiting_room, 1);
        waiter_unlink(lg, &w);
    }
    if (rc != SEGLOG_OK) {
        lg->reconfig = false;
        lg->sealing = false;
        pthread_cond_broadcast(&lg->cv);
    }
    return rc;
}

/* Waits (mu held) until no chain op is in flight, up to LOGLET_RECONFIG_WAIT_MS; listed by
 * describe while it waits. */
static int wait_reconfig(seglog *s, log_t *lg, seglog_error *err)
{
    if (!lg->reconfig)
        return SEGLOG_OK;
    struct timespec d = deadline_in(LOGLET_RECONFIG_WAIT_MS);
    waiter w = waiter_here(lg, "an earlier chain change", LOGLET_RECONFIG_WAIT_MS);
    waiter_link(lg, &w);
    int rc = SEGLOG_OK;
    while (lg->reconfig) {
        if (atomic_load(&s->closing)) {
            rc = set_err(err, SEGLOG_ESHUTDOWN, 0, "loglet: the store is shut down");
            break;
        }
        if (pthread_cond_timedwait(&lg->cv, &lg->mu, &d) == ETIMEDOUT && lg->reconfig) {
            rc = set_err(err, SEGLOG_ETIMEDOUT, 0,
                         "loglet: log %" PRIu64 ": an earlier chain change did not finish "
                         "within %u ms",
                         lg->id, LOGLET_RECONFIG_WAIT_MS);
            break;
        }
    }
    waiter_unlink(lg, &w);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------------ */

void seglog_options_init(seglog_options *o)
{
    memset(o, 0, sizeof *o);
    o->record_max_bytes = 256u << 10;
    o->memory_budget_bytes = 256u << 20;
    o->wal_file_size_bytes = WAL_FILE_SIZE_DEFAULT_BYTES;
    o->wal_inflight_groups = WAL_INFLIGHT_GROUPS_DEFAULT;
    o->cf_pool_target = 64;
    o->checkpoint_interval_ms = 5000;
}

static int load_log(void *ctx, const store_log *meta, const store_seg *segs, size_t n)
{
    seglog *s = ctx;
    if (n == 0)
        return SEGLOG_ECORRUPT;
    log_t *lg = log_new(meta->log_id);
    if (!lg)
        return SEGLOG_ENOMEM;
    lg->version = meta->version;
    lg->trim_point = lg->trim_point_t = meta->trim_point;
    lg->created_us = meta->created_us;
    for (size_t i = 0; i < n; i++) {
        lseg g = {.id = segs[i].seg_id, .base = segs[i].base, .next = segs[i].next_lsn,
                  .sealed_at = segs[i].sealed_at, .bytes = segs[i].bytes,
                  .cf_no = segs[i].cf_no, .state = segs[i].state};
        if (seg_push(lg, &g) != SEGLOG_OK) {
            log_free(lg);
            return SEGLOG_ENOMEM;
        }
        if (segs[i].seg_id >= atomic_load(&s->next_seg_id))
            atomic_store(&s->next_seg_id, segs[i].seg_id + 1);
    }
    lseg *t = tail_seg(lg);
    lg->next_lsn = lg->durable_tail = lg->applied_tail = lg->tail_next = t->next;
    lg->seq_bytes = lg->tail_bytes = t->bytes;
    publish_chain(lg);
    int rc = log_insert(s, lg);
    if (rc != SEGLOG_OK)
        log_free(lg);
    return rc;
}

static void *park_main(void *arg);

int seglog_fail_checkpoint_flushes(seglog *s, unsigned n)
{
    return store_fail_checkpoint_flushes(s->st, n);
}

int seglog_fail_next_apply(seglog *s)
{
    return store_fault_miss_next_cf(s->st);
}

void seglog_pause_apply(seglog *s, bool pause)
{
    store_pause_apply(s->st, pause);
}

int seglog_open_with_faults(seglog **out, const char *dir, const seglog_options *opts,
                            const wal_fault *faults, size_t n_faults, seglog_error *err)
{
    *out = NULL;
    seglog_options defaults;
    if (!opts) {
        seglog_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->record_max_bytes == 0 || opts->record_max_bytes > (64u << 20))
        return set_err(err, SEGLOG_EINVAL, 0, "loglet: record_max_bytes %u must be 1..%u",
                       opts->record_max_bytes, 64u << 20);
    if (opts->checkpoint_interval_ms == 0)
        return set_err(err, SEGLOG_EINVAL, 0, "loglet: checkpoint_interval_ms must be > 0");
    seglog *s = calloc(1, sizeof *s);
    if (!s)
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    s->opt = *opts;
    pthread_rwlock_init(&s->logs_lock, NULL);
    pthread_mutex_init(&s->create_mu, NULL);
    pthread_mutex_init(&s->close_mu, NULL);
    pthread_mutex_init(&s->park_mu, NULL);
    cond_init_mono(&s->park_cv);
    atomic_store(&s->next_seg_id, 1);
    store_options so = {.pub = *opts, .faults = faults, .n_faults = n_faults,
                        .applied = on_applied, .applied_ctx = s};
    int rc = store_open(&s->st, dir, &so, err);
    if (rc == SEGLOG_OK) {
        rc = store_load(s->st, load_log, s, err);
        if (rc != SEGLOG_OK && err && err->module == NULL)
            set_err(err, rc, 0, "loglet: cannot load the logs of %s", dir);
    }
    if (rc == SEGLOG_OK && pthread_create(&s->park_thread, NULL, park_main, s) != 0)
        rc = set_err(err, SEGLOG_EIO, errno, "loglet: cannot start a thread");
    if (rc != SEGLOG_OK) {
        store_close(s->st);
        for (size_t i = 0; i < s->n_logs; i++)
            log_free(s->logs[i]);
        free(s->logs);
        free(s);
        return rc;
    }
    *out = s;
    return SEGLOG_OK;
}

int seglog_open(seglog **out, const char *dir, const seglog_options *opts, seglog_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
    return seglog_open_with_faults(out, dir, opts, NULL, 0, err);
}

void seglog_shutdown(seglog *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->close_mu);
    if (s->shut) {
        pthread_mutex_unlock(&s->close_mu);
        return;
    }
    atomic_store(&s->closing, 1);
    /* Wake every waiter; they see `closing` and leave. Calls still sequencing finish soon. */
    while (atomic_load(&s->active) > 0) {
        pthread_rwlock_rdlock(&s->logs_lock);
        for (size_t i = 0; i < s->n_logs; i++) {
            pthread_mutex_lock(&s->logs[i]->mu);
            pthread_cond_broadcast(&s->logs[i]->cv);
            pthread_mutex_lock(&s->logs[i]->tmu);
            pthread_cond_broadcast(&s->logs[i]->tcv);
            pthread_mutex_unlock(&s->logs[i]->tmu);
            pthread_mutex_unlock(&s->logs[i]->mu);
        }
        pthread_rwlock_unlock(&s->logs_lock);
        usleep(1000);
    }
    pthread_mutex_lock(&s->park_mu);
    s->park_stop = true;
    pthread_cond_broadcast(&s->park_cv);
    pthread_mutex_unlock(&s->park_mu);
    pthread_join(s->park_thread, NULL);
    store_close(s->st); /* every accepted op completes before this returns */
    s->st = NULL;
    s->shut = true;
    pthread_mutex_unlock(&s->close_mu);
}

void seglog_close(seglog *s)
{
    if (!s)
        return;
    seglog_shutdown(s);
    for (size_t i = 0; i < s->n_logs; i++)
        log_free(s->logs[i]);
    free(s->logs);
    pthread_rwlock_destroy(&s->logs_lock);
    pthread_mutex_destroy(&s->create_mu);
    pthread_mutex_destroy(&s->close_mu);
    pthread_mutex_destroy(&s->park_mu);
    pthread_cond_destroy(&s->park_cv);
    free(s);
}

/* ---- logs ------------------------------------------------------------------------------------- */

int seglog_log_create(seglog *s, seglog_log_id id, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    if (find_log(s, id)) { /* the common refusal, without taking a CF from the pool first */
        leave(s);
        return set_err(err, SEGLOG_EEXIST, 0, "loglet: log %" PRIu64 " already exists", id);
    }
    uint64_t cf_no = 0;
    rc = store_cf_take(s->st, &cf_no, LOGLET_CF_WAIT_MS, err);
    if (rc != SEGLOG_OK) {
        leave(s);
        return rc;
    }
    pthread_mutex_lock(&s->create_mu);
    if (find_log(s, id)) {
        pthread_mutex_unlock(&s->create_mu);
        store_cf_return(s->st, cf_no);
        leave(s);
        return set_err(err, SEGLOG_EEXIST, 0, "loglet: log %" PRIu64 " already exists", id);
    }
    if (s->n_logs >= LOGLET_LOGS_MAX) {
        pthread_mutex_unlock(&s->create_mu);
        store_cf_return(s->st, cf_no);
        leave(s);
        return set_err(err, SEGLOG_EINVAL, 0, "loglet: more than %u logs", LOGLET_LOGS_MAX);
    }
    log_t *lg = log_new(id);
    if (!lg) {
        pthread_mutex_unlock(&s->create_mu);
        store_cf_return(s->st, cf_no);
        leave(s);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    }
    lg->created_us = wall_us();
    lg->version = 1;
    lseg first = {.id = atomic_fetch_add(&s->next_seg_id, 1), .base = SEGLOG_LSN_OLDEST,
                  .next = SEGLOG_LSN_OLDEST, .cf_no = cf_no, .state = STORE_SEG_OPEN};
    if (seg_push(lg, &first) != SEGLOG_OK) {
        pthread_mutex_unlock(&s->create_mu);
        store_cf_return(s->st, cf_no);
        log_free(lg);
        leave(s);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    }
    lg->next_lsn = lg->durable_tail = lg->applied_tail = lg->tail_next = SEGLOG_LSN_OLDEST;
    publish_chain(lg);
    store_op op = {.type = STORE_OP_CREATE_LOG, .log = log_meta(lg, 1, 0), .seg = to_store(lg, &first)};
    chain_ctx c = {.s = s, .lg = lg, .op = op, .done = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                                         .cv = PTHREAD_COND_INITIALIZER}};
    /* The log is not visible until its creation is durable: nothing else can touch it. Room in
     * the table is made first, so that a durable creation always becomes visible. */
    bool submitted = false;
    rc = log_reserve(s);
    if (rc != SEGLOG_OK) {
        rc = set_err(err, rc, ENOMEM, "loglet: out of memory");
    } else {
        pthread_mutex_lock(&lg->mu);
        rc = submit_chain_op(s, lg, &c, false, err);
        pthread_mutex_unlock(&lg->mu);
        submitted = rc == SEGLOG_OK;
    }
    if (rc == SEGLOG_OK)
        rc = await(&c.done);
    if (rc == SEGLOG_OK)
        rc = log_insert(s, lg); /* cannot fail: room was reserved */
    pthread_mutex_unlock(&s->create_mu);
    if (rc != SEGLOG_OK) {
        if (!submitted)
            store_cf_return(s->st, cf_no); /* never referenced by the WAL */
        log_free(lg);
        if (err && err->code != rc)
            set_err(err, rc, 0, "loglet: creating log %" PRIu64 " failed: %s", id,
                    seglog_strerror(rc));
    }
    leave(s);
    return rc;
}

int seglog_log_list(seglog *s, seglog_log_id *ids, size_t cap, size_t *count, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    pthread_rwlock_rdlock(&s->logs_lock);
    for (size_t i = 0; i < s->n_logs && i < cap; i++)
        ids[i] = s->logs[i]->id;
    if (count)
        *count = s->n_logs;
    pthread_rwlock_unlock(&s->logs_lock);
    leave(s);
    return SEGLOG_OK;
}

/* ---- appends ----------------------------------------------------------------------------------- */

static int check_records(seglog *s, const seglog_buf *recs, size_t n, uint64_t *bytes,
                         seglog_error *err)
{
    if (n == 0 || n > LOGLET_BATCH_MAX)
        return set_err(err, SEGLOG_EINVAL, 0, "loglet: a batch holds 1..%u records, not %zu",
                       LOGLET_BATCH_MAX, n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > s->opt.record_max_bytes)
            return set_err(err, SEGLOG_ETOOLARGE, 0,
                           "loglet: record of %zu bytes exceeds the limit of %u bytes",
                           recs[i].len, s->opt.record_max_bytes);
        if (recs[i].len > 0 && !recs[i].data)
            return set_err(err, SEGLOG_EINVAL, 0, "loglet: record %zu has no data", i);
        total += recs[i].len;
    }
    if (total > (uint64_t)s->opt.record_max_bytes * 4u + (1u << 20))
        return set_err(err, SEGLOG_ETOOLARGE, 0,
                       "loglet: batch of %" PRIu64 " bytes exceeds the limit of %u bytes", total,
                       s->opt.record_max_bytes * 4u + (1u << 20));
    *bytes = total;
    return SEGLOG_OK;
}

static int sealed_error(const log_t *lg, seglog_error *err)
{
    const lseg *t = &lg->segs[lg->n_segs - 1];
    if (t->state != STORE_SEG_SEALED) /* a seal or an extension is on its way into the WAL */
        return set_err(err, SEGLOG_ESEALED, 0,
                       "loglet: log %" PRIu64 ": segment %" PRIu64 " is being sealed at LSN %"
                       PRIu64 " (a chain change is in flight)",
                       lg->id, t->id, lg->next_lsn);
    return set_err(err, SEGLOG_ESEALED, 0,
                   "loglet: log %" PRIu64 ": segment %" PRIu64 " is sealed at LSN %" PRIu64, lg->id,
                   t->id, t->sealed_at);
}

static bool appendable(const log_t *lg)
{
    return lg->segs[lg->n_segs - 1].state == STORE_SEG_OPEN && !lg->sealing;
}

/* Sequences and enqueues one batch (mu held). *a is filled; the op is submitted. */
static int sequence_append(seglog *s, log_t *lg, const seglog_buf *recs, size_t n, uint64_t bytes,
                           append_ctx *a, seglog_error *err)
{
    lseg *t = tail_seg(lg);
    a->first = lg->next_lsn;
    a->n = n;
    a->bytes = bytes;
    store_op op = {.type = STORE_OP_APPEND,
                   .log = log_meta(lg, lg->version, lg->trim_point),
                   .seg = to_store(lg, t),
                   .first_lsn = a->first,
                   .n = (uint32_t)n,
                   .time_us = wall_us(),
                   .recs = recs};
    op.seg.next_lsn = a->first + n;
    op.seg.bytes = lg->seq_bytes + bytes;
    pthread_mutex_lock(&lg->tmu);
    int rc = pend_reserve(lg);
    pthread_mutex_unlock(&lg->tmu);
    if (rc != SEGLOG_OK)
        return set_err(err, rc, ENOMEM, "loglet: out of memory");
    rc = store_submit(s->st, &op, append_done, a, err);
    if (rc == SEGLOG_OK) {
        lg->next_lsn += n;
        lg->seq_bytes += bytes;
    } else {
        pthread_mutex_lock(&lg->tmu);
        lg->pend_inflight--; /* never submitted: its completion will not come */
        pthread_mutex_unlock(&lg->tmu);
    }
    return rc;
}


/* How long an append may wait for room in the WAL queue, all tries together: the caller's
 * timeout with SEGLOG_APPEND_WAIT (when it gives one), else LOGLET_SPACE_WAIT_MS. */
static uint32_t append_room_ms(const seglog_append_opts *opts)
{
    if (opts && opts->policy == SEGLOG_APPEND_WAIT && opts->timeout_ms > 0)
        return opts->timeout_ms;
    return LOGLET_SPACE_WAIT_MS;
}


/* The synchronous and asynchronous append path up to the submission. With may_wait the caller
 * waits for reconfiguration (WAIT policy); otherwise a sealed log yields SEGLOG_ESEALED and the
 * caller parks the append. Room in the WAL queue is waited for up to room_ms in all. */
static int append_common(seglog *s, log_t *lg, const seglog_buf *recs, size_t n, uint64_t bytes,
                         const seglog_append_opts *opts, append_ctx *a, bool may_wait,
                         uint32_t room_ms, seglog_error *err)
{
    bool wait = opts && opts->policy == SEGLOG_APPEND_WAIT;
    uint32_t timeout_ms = opts ? opts->timeout_ms : 0;
    struct timespec d = deadline_in(timeout_ms);
    struct timespec room_d = deadline_in(room_ms);
    waiter w = {0};
    bool linked = false;
    int rc;
    pthread_mutex_lock(&lg->mu);
    for (;;) {
        if (atomic_load(&s->closing)) {
            rc = set_err(err, SEGLOG_ESHUTDOWN, 0, "loglet: the store is shut down");
            break;
        }
        if (appendable(lg)) {
            rc = sequence_append(s, lg, recs, n, bytes, a, err);
            if (rc == SEGLOG_EFULL) {
                uint32_t size = (uint32_t)(bytes + 256u + 4u * n);
                rc = wait_room(s, lg, size, &room_d, err);
                if (rc == SEGLOG_OK)
                    continue;
            }
            break;
        }
        if (!wait || !may_wait) {
            rc = sealed_error(lg, err);
            break;
        }
        if (!linked) {
            const lseg *t = tail_seg(lg);
            w = (waiter){.what = "reconfiguration",
                         .segment_id = t->id,
                         .sealed_at = t->state == STORE_SEG_SEALED ? t->sealed_at : lg->next_lsn,
                         .since_us = wall_us(),
                         .since_mono_ms = mono_ms(),
                         .timeout_ms = timeout_ms};
            waiter_link(lg, &w);
            atomic_fetch_add(&s->waiting, 1);
            linked = true;
        }
        if (pthread_cond_timedwait(&lg->cv, &lg->mu, &d) == ETIMEDOUT && !appendable(lg) &&
            past(&d)) {
            rc = set_err(err, SEGLOG_ETIMEDOUT, 0,
                         "loglet: log %" PRIu64 ": waited %u ms for reconfiguration: segment %"
                         PRIu64 " sealed at LSN %" PRIu64 " and no successor yet",
                         lg->id, timeout_ms, w.segment_id, w.sealed_at);
            break;
        }
    }
    if (linked) {
        waiter_unlink(lg, &w);
        atomic_fetch_sub(&s->waiting, 1);
    }
    pthread_mutex_unlock(&lg->mu);
    return rc;
}

int seglog_log_append_batch(seglog *s, seglog_log_id log, const seglog_buf *recs, size_t n,
                            const seglog_append_opts *opts, seglog_lsn *first, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    uint64_t bytes = 0;
    log_t *lg = find_log(s, log);
    rc = lg ? check_records(s, recs, n, &bytes, err) : no_log(err, log);
    if (rc == SEGLOG_OK) {
        completion c = COMPLETION_INIT;
        append_ctx a = {.s = s, .lg = lg, .sync = &c};
        rc = append_common(s, lg, recs, n, bytes, opts, &a, true, append_room_ms(opts), err);
        if (rc == SEGLOG_OK) {
            rc = await(&c);
            if (rc != SEGLOG_OK)
                op_failed(s, rc, err, "log %" PRIu64 ": append of LSN %" PRIu64, log, a.first);
            else if (first)
                *first = a.first;
        }
    }
    leave(s);
    return rc;
}

int seglog_log_append(seglog *s, seglog_log_id log, const void *payload, size_t len,
                      const seglog_append_opts *opts, seglog_lsn *lsn, seglog_error *err)
{
    seglog_buf b = {.data = payload, .len = len};
    return seglog_log_append_batch(s, log, &b, 1, opts, lsn, err);
}

/* The park thread's epoch: every chain change moves it (wake_parked). */
static uint64_t park_epoch_now(seglog *s)
{
    pthread_mutex_lock(&s->park_mu);
    uint64_t e = s->park_epoch;
    pthread_mutex_unlock(&s->park_mu);
    return e;
}

static void park_free(parked *p)
{
    free(p->data);
    free(p->recs);
    free(p);
}

int seglog_log_append_async(seglog *s, seglog_log_id log, const seglog_buf *recs, size_t n,
                            const seglog_append_opts *opts, seglog_append_cb cb, void *ctx,
                            seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    uint64_t bytes = 0;
    log_t *lg = find_log(s, log);
    rc = lg ? check_records(s, recs, n, &bytes, err) : no_log(err, log);
    append_ctx *a = rc == SEGLOG_OK ? malloc(sizeof *a) : NULL;
    if (rc == SEGLOG_OK && !a)
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    if (rc == SEGLOG_OK) {
        *a = (append_ctx){.s = s, .lg = lg, .cb = cb, .cb_ctx = ctx, .heap = true};
        uint64_t epoch = 0;
        if (opts && opts->policy == SEGLOG_APPEND_WAIT)
            epoch = park_epoch_now(s);
        rc = append_common(s, lg, recs, n, bytes, opts, a, false, append_room_ms(opts), err);
        if (rc == SEGLOG_OK) {
            a = NULL; /* owned by the completion now */
        } else if (rc == SEGLOG_ESEALED && opts && opts->policy == SEGLOG_APPEND_WAIT) {
            /* park a copy; the park thread submits it when the chain is extended */
            parked *p = calloc(1, sizeof *p);
            uint8_t *data = p ? malloc(bytes ? bytes : 1) : NULL;
            seglog_buf *copy = p ? malloc(n * sizeof *copy) : NULL;
            if (!p || !data || !copy) {
                free(p);
                free(data);
                free(copy);
                rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
            } else {
                uint8_t *q = data;
                for (size_t i = 0; i < n; i++) {
                    if (recs[i].len)
                        memcpy(q, recs[i].data, recs[i].len);
                    copy[i] = (seglog_buf){.data = q, .len = recs[i].len};
                    q += recs[i].len;
                }
                *p = (parked){.lg = lg, .recs = copy, .n = n, .data = data, .cb = cb, .ctx = ctx,
                              .deadline_ms = mono_ms() + opts->timeout_ms,
                              .timeout_ms = opts->timeout_ms,
                              .epoch = epoch};
                pthread_mutex_lock(&lg->mu);
                lg->n_waiters++; /* counted while parked; describe lists it from the park list */
                const lseg *t = tail_seg(lg);
                p->segment_id = t->id;
                p->sealed_at = t->state == STORE_SEG_SEALED ? t->sealed_at : lg->next_lsn;
                p->since_us = wall_us();
                p->since_mono_ms = mono_ms();
                pthread_mutex_unlock(&lg->mu);
                atomic_fetch_add(&s->waiting, 1);
                pthread_mutex_lock(&s->park_mu);
                p->next = s->parked_head;
                s->parked_head = p;
                pthread_cond_broadcast(&s->park_cv);
                pthread_mutex_unlock(&s->park_mu);
                rc = SEGLOG_OK;
            }
        }
    }
    free(a);
    leave(s);
    return rc;
}

/* Retries parked appends on every chain change, fails them at their deadline. */

static void *park_main(void *arg)
{
    pthread_setname_np(pthread_self(), "seglog-park");
    seglog *s = arg;
    pthread_mutex_lock(&s->park_mu);
    for (;;) {
        bool stop = s->park_stop;
        uint64_t now = mono_ms();
        uint64_t next_deadline = UINT64_MAX;
        parked *ready = NULL, *keep = NULL;
        for (parked *p = s->parked_head, *nx; p; p = nx) {
            nx = p->next;
            /* p->epoch is the epoch before its last try: any chain change since (also one
             * between the try and its parking) makes it ready. Entries tried after the last
             * change stay in the list, where describe sees them (a retry takes them out). */
            if (stop || p->deadline_ms <= now || p->epoch != s->park_epoch ||
                (p->retry_ms != 0 && p->retry_ms <= now)) {
                p->next = ready;
                ready = p;
            } else {
                if (p->deadline_ms < next_deadline)
                    next_deadline = p->deadline_ms;
                if (p->retry_ms != 0 && p->retry_ms < next_deadline)
                    next_deadline = p->retry_ms;
                p->next = keep;
                keep = p;
            }
        }
        s->parked_head = keep;
        if (!ready) {
            if (stop)
                break;
            if (next_deadline == UINT64_MAX) {
                pthread_cond_wait(&s->park_cv, &s->park_mu);
            } else {
                struct timespec d = deadline_in((uint32_t)(next_deadline - now));
                pthread_cond_timedwait(&s->park_cv, &s->park_mu, &d);
            }
            continue;
        }
        pthread_mutex_unlock(&s->park_mu);
        while (ready) {
            parked *p = ready;
            ready = p->next;
            int rc = SEGLOG_ESHUTDOWN;
            seglog_error err = {0};
            append_ctx *a = NULL;
            if (!stop) {
                uint64_t bytes = 0;
                for (size_t i = 0; i < p->n; i++)
                    bytes += p->recs[i].len;
                a = malloc(sizeof *a);
                if (a) {
                    *a = (append_ctx){.s = s, .lg = p->lg, .cb = p->cb, .cb_ctx = p->ctx,
                                      .heap = true};
                    p->epoch = park_epoch_now(s);
                    p->retry_ms = 0;
                    /* Room is not waited for here, where it would hold up every other parked
                     * append: a full queue parks it again for a short while (below). */
                    rc = append_common(s, p->lg, p->recs, p->n, bytes, NULL, a, false, 1u, &err);
                } else {
                    rc = SEGLOG_ENOMEM;
                }
            }
            if (rc == SEGLOG_OK) {
                pthread_mutex_lock(&p->lg->mu);
                p->lg->n_waiters--;
                pthread_mutex_unlock(&p->lg->mu);
                atomic_fetch_sub(&s->waiting, 1);
                park_free(p);
                continue;
            }
            free(a);
            if (rc == SEGLOG_EFULL && mono_ms() < p->deadline_ms)
                p->retry_ms = mono_ms() + LOGLET_PARK_ROOM_RETRY_MS;
            if ((rc == SEGLOG_ESEALED || rc == SEGLOG_EFULL) && mono_ms() < p->deadline_ms) {
                pthread_mutex_lock(&s->park_mu);
                p->next = s->parked_head;
                s->parked_head = p;
                pthread_mutex_unlock(&s->park_mu);
                continue;
            }
            pthread_mutex_lock(&p->lg->mu);
            p->lg->n_waiters--;
            pthread_mutex_unlock(&p->lg->mu);
            atomic_fetch_sub(&s->waiting, 1);
            p->cb(p->ctx, rc == SEGLOG_ESEALED ? SEGLOG_ETIMEDOUT : rc, 0, 0);
            park_free(p);
        }
        pthread_mutex_lock(&s->park_mu);
    }
    pthread_mutex_unlock(&s->park_mu);
    return NULL;
}

/* ---- reads ------------------------------------------------------------------------------------- */

void seglog_entry_fini(seglog_entry *e)
{
    if (!e)
        return;
    free(e->payload);
    e->payload = NULL;
    e->len = 0;
}

/* Finds what lsn is (mu held): a trim gap (1), a readable record (2, its CF), not yet written
 * (0), or durable but not yet applied (3). */
static int locate(log_t *lg, uint64_t lsn, seglog_entry *out, uint64_t *cf_no)
{
    if (lsn <= lg->trim_point) {
        out->kind = SEGLOG_ENTRY_TRIM_GAP;
        out->lsn = lsn;
        out->gap_to = lg->trim_point;
        return 1;
    }
    if (lsn >= lg->durable_tail)
        return 0;
    if (lsn >= lg->applied_tail)
        return 3;
    for (size_t i = lg->n_segs; i-- > 0;) {
        if (lg->segs[i].base <= lsn) {
            *cf_no = lg->segs[i].cf_no;
            return 2;
        }
    }
    return -1;
}

/* Reads lsn, waiting up to timeout_ms for it to become durable. */
/* Reads lsn from RocksDB: through the reader's cursor when there is one (*itp: kept across
 * calls, reopened when it leaves the segment or reaches the end of what it sees), else by a
 * point lookup. */
static int read_stored(seglog *s, uint64_t cf_no, uint64_t lsn, store_iter **itp,
                       seglog_entry *out, seglog_error *err)
{
    if (itp) {
        int rc = SEGLOG_ENOTFOUND;
        if (*itp && store_iter_cf(*itp) == cf_no)
            rc = store_iter_read(*itp, lsn, &out->payload, &out->len, &out->append_time_us, err);
        if (rc != SEGLOG_ENOTFOUND)
            return rc;
        store_iter_close(s->st, *itp);
        *itp = NULL;
        rc = store_iter_open(s->st, cf_no, lsn, itp, err);
        if (rc == SEGLOG_OK)
            return store_iter_read(*itp, lsn, &out->payload, &out->len, &out->append_time_us,
                                   err);
        if (rc != SEGLOG_ENOTFOUND)
            return rc;
    }
    return store_read(s->st, cf_no, lsn, &out->payload, &out->len, &out->append_time_us, err);
}

static int read_at(seglog *s, log_t *lg, uint64_t lsn, uint32_t timeout_ms, seglog_entry *out,
                   store_iter **itp, seglog_error *err)
{
    memset(out, 0, sizeof *out);
    if (lsn == SEGLOG_LSN_INVALID)
        return set_err(err, SEGLOG_EINVAL, 0, "loglet: LSN 0 is not a position");
    struct timespec d = deadline_in(timeout_ms);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t cf_no = 0;
        int where;
        for (;;) {
            /* locate under both locks; wait under tmu alone, which every tail and trim change
             * takes, so no wake-up is lost between the look and the wait */
            pthread_mutex_lock(&lg->mu);
            pthread_mutex_lock(&lg->tmu);
            where = locate(lg, lsn, out, &cf_no);
            pthread_mutex_unlock(&lg->mu);
            if (where == 3) { /* acknowledged: served from the op on its way to RocksDB */
                if (lg->pend_popping) { /* the apply thread is letting ops go: look again */
                    pthread_cond_wait(&lg->tcv, &lg->tmu);
                    pthread_mutex_unlock(&lg->tmu);
                    continue;
                }
                const store_pending *p = pend_find(lg, lsn);
                if (p) {
                    /* copied outside tmu (a record may be megabytes): the pin keeps the op
                     * alive, on_applied waits for it before the store may free the op */
                    lg->pend_pins++;
                    pthread_mutex_unlock(&lg->tmu);
                    int prc = store_pending_read(p, lsn, &out->payload, &out->len,
                                                 &out->append_time_us);
                    pthread_mutex_lock(&lg->tmu);
                    if (--lg->pend_pins == 0)
                        pthread_cond_broadcast(&lg->tcv);
                    pthread_mutex_unlock(&lg->tmu);
                    if (prc == SEGLOG_OK) {
                        out->kind = SEGLOG_ENTRY_RECORD;
                        out->lsn = lsn;
                        return SEGLOG_OK;
                    }
                    if (prc == SEGLOG_ENOMEM)
                        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
                    return set_err(err, SEGLOG_ECORRUPT, 0,
                                   "loglet: log %" PRIu64 ": durable LSN %" PRIu64
                                   " is not in the op that holds it on its way to RocksDB",
                                   lg->id, lsn);
                }
                /* Every acknowledged append has its pending copy (pend_reserve) until the apply
                 * thread reports it; reported and still not applied means RocksDB refused it. */
                int status = lg->apply_status;
                pthread_mutex_unlock(&lg->tmu);
                char why[SEGLOG_ERROR_MESSAGE_MAX] = "";
                if (store_failure(s->st, why, sizeof why) == 0)
                    snprintf(why, sizeof why, "%s",
                             seglog_strerror(status ? status : SEGLOG_ECORRUPT));
                return set_err(err, status ? SEGLOG_EIO : SEGLOG_ECORRUPT, 0,
                               "loglet: log %" PRIu64 ": durable LSN %" PRIu64
                               " could not be applied to RocksDB: %.160s; reopen the store to "
                               "replay it from the WAL",
                               lg->id, lsn, why);
            }
            if (where != 0) {
                pthread_mutex_unlock(&lg->tmu);
                break;
            }
            uint64_t tail = lg->durable_tail;
            if (atomic_load(&s->closing)) {
                pthread_mutex_unlock(&lg->tmu);
                return set_err(err, SEGLOG_ESHUTDOWN, 0, "loglet: the store is shut down");
            }
            if (timeout_ms == 0) {
                pthread_mutex_unlock(&lg->tmu);
                return set_err(err, SEGLOG_ENOTFOUND, 0,
                               "loglet: log %" PRIu64 ": nothing yet at LSN %" PRIu64
                               " (the tail is at %" PRIu64 ")",
                               lg->id, lsn, tail);
            }
            if (pthread_cond_timedwait(&lg->tcv, &lg->tmu, &d) == ETIMEDOUT && past(&d) &&
                lsn >= lg->durable_tail && lsn > lg->trim_point_t) {
                tail = lg->durable_tail;
                pthread_mutex_unlock(&lg->tmu);
                return set_err(err, SEGLOG_ETIMEDOUT, 0,
                               "loglet: log %" PRIu64 ": waited %u ms for LSN %" PRIu64
                               " (the tail is at %" PRIu64 ")",
                               lg->id, timeout_ms, lsn, tail);
            }
            pthread_mutex_unlock(&lg->tmu);
        }
        if (where == 1)
            return SEGLOG_OK;
        if (where < 0)
            return set_err(err, SEGLOG_ECORRUPT, 0,
                           "loglet: log %" PRIu64 ": no segment holds LSN %" PRIu64, lg->id, lsn);
        int rc = read_stored(s, cf_no, lsn, itp, out, err);
        if (rc == SEGLOG_OK) {
            /* A trim between locate and the read may have recycled the CF for another log
             * (storage/store.c): the trim point is set before the CF can be reused, so a record
             * read from a CF still ours is one whose LSN is still above it. */
            pthread_mutex_lock(&lg->tmu);
            bool trimmed = lsn <= lg->trim_point_t;
            pthread_mutex_unlock(&lg->tmu);
            if (trimmed) {
                free(out->payload);
                memset(out, 0, sizeof *out);
                if (itp) { /* its snapshot may be another log's: never reuse it */
                    store_iter_close(s->st, *itp);
                    *itp = NULL;
                }
                continue;
            }
            out->kind = SEGLOG_ENTRY_RECORD;
            out->lsn = lsn;
            return SEGLOG_OK;
        }
        if (rc != SEGLOG_ENOTFOUND)
            return rc;
        if (itp) {
            store_iter_close(s->st, *itp);
            *itp = NULL;
        }
        /* trimmed meanwhile: look again */
    }
    return set_err(err, SEGLOG_ECORRUPT, 0,
                   "loglet: log %" PRIu64 ": durable LSN %" PRIu64 " is missing from storage",
                   lg->id, lsn);
}

int seglog_log_read(seglog *s, seglog_log_id log, seglog_lsn lsn, uint32_t timeout_ms,
                    seglog_entry *out, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    rc = lg ? read_at(s, lg, lsn, timeout_ms, out, NULL, err) : no_log(err, log);
    leave(s);
    return rc;
}

struct seglog_reader {
    seglog *s;
    log_t *lg;
    uint64_t pos;
    uint64_t to;
    seglog_entry cur;
    store_iter *it; /* the cursor in the segment being read, if any */
};

int seglog_reader_open(seglog_reader **out, seglog *s, seglog_log_id log, seglog_lsn from,
                       seglog_lsn to, seglog_error *err)
{
    *out = NULL;
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    if (!lg)
        rc = no_log(err, log);
    else if (from == SEGLOG_LSN_INVALID || to < from)
        rc = set_err(err, SEGLOG_EINVAL, 0, "loglet: bad read range [%" PRIu64 ", %" PRIu64 "]",
                     from, to);
    seglog_reader *r = rc == SEGLOG_OK ? calloc(1, sizeof *r) : NULL;
    if (rc == SEGLOG_OK && !r)
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    if (r) {
        *r = (seglog_reader){.s = s, .lg = lg, .pos = from, .to = to};
        *out = r;
    }
    leave(s);
    return rc;
}

int seglog_reader_next(seglog_reader *r, uint32_t timeout_ms, seglog_entry *out,
                       seglog_error *err)
{
    seglog_entry_fini(&r->cur);
    if (r->pos > r->to)
        return set_err(err, SEGLOG_EEND, 0, "loglet: the stream passed its end %" PRIu64, r->to);
    int rc = enter(r->s, err);
    if (rc != SEGLOG_OK)
        return rc;
    rc = read_at(r->s, r->lg, r->pos, timeout_ms, &r->cur, &r->it, err);
    leave(r->s);
    if (rc == SEGLOG_ENOTFOUND && timeout_ms == 0) /* a stream reports "nothing yet" as a timeout */
        rc = set_err(err, SEGLOG_ETIMEDOUT, 0,
                     "loglet: log %" PRIu64 ": nothing yet at LSN %" PRIu64 " (no wait asked)",
                     r->lg->id, r->pos);
    if (rc != SEGLOG_OK)
        return rc;
    if (r->cur.kind == SEGLOG_ENTRY_TRIM_GAP) {
        if (r->cur.gap_to > r->to)
            r->cur.gap_to = r->to;
        r->pos = r->cur.gap_to + 1;
    } else {
        r->pos++;
    }
    *out = r->cur;
    return SEGLOG_OK;
}

void seglog_reader_close(seglog_reader *r)
{
    if (!r)
        return;
    seglog_entry_fini(&r->cur);
    if (r->it) {
        seglog_error err;
        if (enter(r->s, &err) == SEGLOG_OK) {
            store_iter_close(r->s->st, r->it);
            leave(r->s);
        } else { /* shut down: once shutdown is over, store_close has destroyed the cursor */
            pthread_mutex_lock(&r->s->close_mu);
            store_iter_close(NULL, r->it);
            pthread_mutex_unlock(&r->s->close_mu);
        }
    }
    free(r);
}

/* ---- tails ------------------------------------------------------------------------------------- */

int seglog_log_find_tail(seglog *s, seglog_log_id log, seglog_tail *out, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    if (lg) {
        pthread_mutex_lock(&lg->tmu);
        *out = tail_of(lg);
        pthread_mutex_unlock(&lg->tmu);
    } else {
        rc = no_log(err, log);
    }
    leave(s);
    return rc;
}

struct seglog_tail_watch {
    seglog *s;
    log_t *lg;
    uint64_t cursor;
    bool first;
};

int seglog_tail_watch_open(seglog_tail_watch **out, seglog *s, seglog_log_id log,
                           seglog_error *err)
{
    *out = NULL;
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    seglog_tail_watch *tw = lg ? calloc(1, sizeof *tw) : NULL;
    if (!lg) {
        rc = no_log(err, log);
    } else if (!tw) {
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    } else {
        pthread_mutex_lock(&lg->tmu);
        if (!lg->hist)
            lg->hist = calloc(SEGLOG_TAIL_HISTORY, sizeof *lg->hist);
        if (!lg->hist) {
            rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
        } else {
            *tw = (seglog_tail_watch){.s = s, .lg = lg, .cursor = lg->hist_count, .first = true};
            *out = tw;
        }
        pthread_mutex_unlock(&lg->tmu);
        if (rc != SEGLOG_OK)
            free(tw);
    }
    leave(s);
    return rc;
}

int seglog_tail_watch_next(seglog_tail_watch *tw, uint32_t timeout_ms, seglog_tail *out,
                           uint64_t *missed, seglog_error *err)
{
    int rc = enter(tw->s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = tw->lg;
    struct timespec d = deadline_in(timeout_ms);
    if (missed)
        *missed = 0;
    pthread_mutex_lock(&lg->tmu);
    for (;;) {
        if (tw->first) {
            tw->first = false;
            tw->cursor = lg->hist_count;
            *out = tail_of(lg);
            break;
        }
        if (tw->cursor < lg->hist_count) {
            if (lg->hist_count - tw->cursor > SEGLOG_TAIL_HISTORY) {
                uint64_t oldest = lg->hist_count - SEGLOG_TAIL_HISTORY;
                if (missed)
                    *missed = oldest - tw->cursor;
                tw->cursor = oldest;
            }
            *out = lg->hist[tw->cursor % SEGLOG_TAIL_HISTORY];
            tw->cursor++;
            break;
        }
        if (atomic_load(&tw->s->closing)) {
            rc = set_err(err, SEGLOG_ESHUTDOWN, 0, "loglet: the store is shut down");
            break;
        }
        if (pthread_cond_timedwait(&lg->tcv, &lg->tmu, &d) == ETIMEDOUT && past(&d) &&
            tw->cursor >= lg->hist_count) {
            seglog_tail t = tail_of(lg);
            rc = set_err(err, SEGLOG_ETIMEDOUT, 0,
                         "loglet: log %" PRIu64 ": no tail change within %u ms (tail %s at %"
                         PRIu64 ")",
                         lg->id, timeout_ms, t.sealed ? "sealed" : "open", t.lsn);
            break;
        }
    }
    pthread_mutex_unlock(&lg->tmu);
    leave(tw->s);
    return rc;
}

void seglog_tail_watch_close(seglog_tail_watch *tw)
{
    free(tw);
}

/* ---- reconfiguration --------------------------------------------------------------------------- */

/* Submits a chain op built by `build` under the log's mutex and waits for it. */
/* *submitted tells the caller whether the op reached the WAL (if not, a CF it took is unused). */
static int run_chain_op(seglog *s, log_t *lg, chain_ctx *c, bool sealing, bool *submitted,
                        seglog_error *err)
{
    int rc = SEGLOG_OK;
    /* the chain grows when this op is applied: room for it now, so that applying it in memory
     * (chain_done, after it is durable) cannot fail */
    if (c->op.type == STORE_OP_EXTEND || c->op.type == STORE_OP_SEAL_EXTEND)
        rc = seg_reserve(lg, 1);
    if (rc != SEGLOG_OK)
        rc = set_err(err, rc, ENOMEM, "loglet: out of memory");
    else
        rc = submit_chain_op(s, lg, c, sealing, err);
    pthread_mutex_unlock(&lg->mu);
    if (rc != SEGLOG_OK)
        wake_parked(s); /* appends parked while it was marked sealing try again */
    if (submitted)
        *submitted = rc == SEGLOG_OK;
    if (rc != SEGLOG_OK)
        return rc;
    rc = await(&c->done);
    if (rc != SEGLOG_OK)
        op_failed(s, rc, err, "log %" PRIu64 ": chain change", lg->id);
    return rc;
}

int seglog_log_seal(seglog *s, seglog_log_id log, seglog_tail *out, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    if (!lg) {
        rc = no_log(err, log);
        goto out;
    }
    pthread_mutex_lock(&lg->mu);
    rc = wait_reconfig(s, lg, err);
    if (rc != SEGLOG_OK) {
        pthread_mutex_unlock(&lg->mu);
        goto out;
    }
    lseg *t = tail_seg(lg);
    if (t->state == STORE_SEG_SEALED) {
        pthread_mutex_lock(&lg->tmu);
        if (out)
            *out = tail_of(lg);
        pthread_mutex_unlock(&lg->tmu);
        pthread_mutex_unlock(&lg->mu);
        goto out;
    }
    chain_ctx c = {.s = s, .lg = lg, .done = COMPLETION_INIT};
    c.op = (store_op){.type = STORE_OP_SEAL, .log = log_meta(lg, lg->version + 1, lg->trim_point),
                      .seg = to_store(lg, t)};
    c.op.seg.state = STORE_SEG_SEALED;
    c.op.seg.sealed_at = c.op.seg.next_lsn = lg->next_lsn;
    c.op.seg.bytes = lg->seq_bytes;
    rc = run_chain_op(s, lg, &c, true, NULL, err);
    if (rc == SEGLOG_OK && out)
        *out = c.result;
out:
    leave(s);
    return rc;
}

/* extend (seal_first false) and seal+extend (true). */
static int extend_common(seglog *s, seglog_log_id log, bool seal_first, seglog_lsn base,
                         uint64_t expected_version, seglog_tail *out, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    if (!lg) {
        rc = no_log(err, log);
        leave(s);
        return rc;
    }
    uint64_t cf_no = 0;
    rc = store_cf_take(s->st, &cf_no, LOGLET_CF_WAIT_MS, err);
    if (rc != SEGLOG_OK) {
        leave(s);
        return rc;
    }
    pthread_mutex_lock(&lg->mu);
    rc = wait_reconfig(s, lg, err);
    lseg *t = tail_seg(lg);
    uint64_t tail = t->state == STORE_SEG_SEALED ? t->sealed_at : lg->next_lsn;
    if (rc == SEGLOG_OK && expected_version != 0 && expected_version != lg->version)
        rc = set_err(err, SEGLOG_ECONFLICT, 0,
                     "loglet: log %" PRIu64 ": expected chain version %" PRIu64
                     " but the chain is at version %" PRIu64,
                     log, expected_version, lg->version);
    if (rc == SEGLOG_OK && !seal_first && t->state != STORE_SEG_SEALED)
        rc = set_err(err, SEGLOG_ECONFLICT, 0,
                     "loglet: log %" PRIu64 ": the tail segment %" PRIu64
                     " is open at LSN %" PRIu64 "; seal it before extending",
                     log, t->id, lg->next_lsn);
    if (rc == SEGLOG_OK && !seal_first && base != 0 && base != tail)
        rc = set_err(err, SEGLOG_ECONFLICT, 0,
                     "loglet: log %" PRIu64 ": cannot extend at base %" PRIu64
                     ": expected base %" PRIu64 " (the sealed tail)",
                     log, base, tail);
    if (rc != SEGLOG_OK) {
        pthread_mutex_unlock(&lg->mu);
        store_cf_return(s->st, cf_no);
        leave(s);
        return rc;
    }
    chain_ctx c = {.s = s, .lg = lg, .done = COMPLETION_INIT};
    lseg fresh = {.id = atomic_fetch_add(&s->next_seg_id, 1), .base = tail, .next = tail,
                  .cf_no = cf_no, .state = STORE_SEG_OPEN};
    if (seal_first) {
        if (t->state != STORE_SEG_SEALED)
            wal_kill_point(STORE_KILL_SEAL_BEFORE_WAL);
        c.op = (store_op){.type = STORE_OP_SEAL_EXTEND,
                          .log = log_meta(lg, lg->version + 1, lg->trim_point),
                          .seg = to_store(lg, t),
                          .seg2 = to_store(lg, &fresh)};
        c.op.seg.state = STORE_SEG_SEALED;
        c.op.seg.sealed_at = c.op.seg.next_lsn = tail;
        c.op.seg.bytes = t->state == STORE_SEG_SEALED ? t->bytes : lg->seq_bytes;
    } else {
        c.op = (store_op){.type = STORE_OP_EXTEND,
                          .log = log_meta(lg, lg->version + 1, lg->trim_point),
                          .seg = to_store(lg, &fresh)};
    }
    bool submitted = false;
    rc = run_chain_op(s, lg, &c, true, &submitted, err);
    if (rc != SEGLOG_OK) {
        if (!submitted)
            store_cf_return(s->st, cf_no);
        leave(s);
        return rc;
    }
    if (out)
        *out = c.result;
    leave(s);
    return SEGLOG_OK;
}

int seglog_log_extend(seglog *s, seglog_log_id log, seglog_lsn base, seglog_tail *out,
                      seglog_error *err)
{
    return extend_common(s, log, false, base, 0, out, err);
}

int seglog_log_seal_and_extend(seglog *s, seglog_log_id log, uint64_t expected_version,
                               seglog_tail *out, seglog_error *err)
{
    return extend_common(s, log, true, 0, expected_version, out, err);
}

int seglog_log_trim(seglog *s, seglog_log_id log, seglog_lsn trim_point, seglog_lsn *trimmed_to,
                    seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    if (!lg) {
        rc = no_log(err, log);
        leave(s);
        return rc;
    }
    pthread_mutex_lock(&lg->mu);
    rc = wait_reconfig(s, lg, err);
    if (rc != SEGLOG_OK) {
        pthread_mutex_unlock(&lg->mu);
        leave(s);
        return rc;
    }
    uint64_t tp = trim_point;
    pthread_mutex_lock(&lg->tmu);
    uint64_t last = lg->durable_tail - 1;
    pthread_mutex_unlock(&lg->tmu);
    if (tp > last)
        tp = last; /* clamped to the last written record */
    if (tp <= lg->trim_point) {
        if (trimmed_to)
            *trimmed_to = lg->trim_point;
        pthread_mutex_unlock(&lg->mu);
        leave(s);
        return SEGLOG_OK;
    }
    store_seg *drops = calloc(lg->n_segs, sizeof *drops);
    if (!drops) {
        pthread_mutex_unlock(&lg->mu);
        leave(s);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    }
    uint32_t n_drops = 0;
    store_seg partial = {0};
    for (size_t i = 0; i + 1 < lg->n_segs; i++) { /* never the tail segment */
        lseg *g = &lg->segs[i];
        if (g->state == STORE_SEG_TRIMMED)
            continue;
        uint64_t end = g->state == STORE_SEG_SEALED ? g->sealed_at : g->next;
        if (end - 1 <= tp || end == g->base) {
            store_seg d = to_store(lg, g);
            d.state = STORE_SEG_TRIMMED;
            drops[n_drops++] = d;
        } else if (g->base <= tp) {
            partial = to_store(lg, g);
        }
    }
    lseg *t = tail_seg(lg);
    if (t->base <= tp)
        partial = to_store(lg, t);
    if (n_drops > STORE_OPS_MAX_DROPPED)
        n_drops = STORE_OPS_MAX_DROPPED; /* the rest go with the next trim */
    chain_ctx c = {.s = s, .lg = lg, .drops = drops, .done = COMPLETION_INIT};
    c.op = (store_op){.type = STORE_OP_TRIM,
                      .log = log_meta(lg, lg->version + (n_drops > 0 ? 1 : 0), tp),
                      .seg = partial,
                      .n_dropped = n_drops,
                      .dropped = drops};
    rc = run_chain_op(s, lg, &c, false, NULL, err);
    free(drops);
    if (rc == SEGLOG_OK && trimmed_to)
        *trimmed_to = tp;
    leave(s);
    return rc;
}

/* ---- describe and stats ------------------------------------------------------------------------ */

int seglog_log_describe(seglog *s, seglog_log_id log, seglog_log_info **out, seglog_error *err)
{
    *out = NULL;
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    log_t *lg = find_log(s, log);
    if (!lg) {
        rc = no_log(err, log);
        leave(s);
        return rc;
    }
    pthread_mutex_lock(&lg->mu);
    seglog_log_info *info = calloc(1, sizeof *info);
    seglog_segment_info *segs = calloc(lg->n_segs, sizeof *segs);
    seglog_waiter_info *ws = calloc(lg->n_waiters + 1, sizeof *ws);
    if (!info || !segs || !ws) {
        pthread_mutex_unlock(&lg->mu);
        free(info);
        free(segs);
        free(ws);
        leave(s);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    }
    pthread_mutex_lock(&lg->tmu);
    info->id = lg->id;
    info->version = lg->version;
    info->trim_point = lg->trim_point;
    info->tail = tail_of(lg);
    info->n_segments = lg->n_segs;
    info->segments = segs;
    for (size_t i = 0; i < lg->n_segs; i++) {
        lseg g_now = lg->segs[i];
        const lseg *g = &g_now;
        if (i + 1 == lg->n_segs && g->state == STORE_SEG_OPEN) {
            g_now.next = lg->tail_next; /* the tail segment's counters live under tmu */
            g_now.bytes = lg->tail_bytes;
        }
        uint64_t end = g->state == STORE_SEG_SEALED ? g->sealed_at : g->next;
        uint64_t first = g->base > lg->trim_point ? g->base : lg->trim_point + 1;
        segs[i] = (seglog_segment_info){
            .id = g->id,
            .base = g->base,
            .state = (seglog_segment_state)g->state,
            .sealed_at = g->state == STORE_SEG_SEALED ? g->sealed_at : 0,
            .records = g->state == STORE_SEG_TRIMMED || end <= first ? 0 : end - first,
            .bytes = g->state == STORE_SEG_TRIMMED ? 0 : g->bytes};
        if (g->state != STORE_SEG_TRIMMED) /* a trimmed one's CF may serve another log now */
            store_cf_name(segs[i].cf, g->cf_no);
    }
    uint64_t now = mono_ms();
    size_t k = 0;
    for (const waiter *w = lg->waiters; w; w = w->next, k++)
        ws[k] = (seglog_waiter_info){.what = w->what,
                                     .segment_id = w->segment_id,
                                     .sealed_at = w->sealed_at,
                                     .since_us = w->since_us,
                                     .waited_ms = now - w->since_mono_ms,
                                     .timeout_ms = w->timeout_ms};
    /* asynchronous appends parked behind the seal (park_mu nests inside mu and tmu: nothing
     * takes a log's lock while holding it) */
    pthread_mutex_lock(&s->park_mu);
    for (const parked *p = s->parked_head; p && k < lg->n_waiters + 1u; p = p->next)
        if (p->lg == lg)
            ws[k++] = (seglog_waiter_info){.what = "reconfiguration (asynchronous append)",
                                           .segment_id = p->segment_id,
                                           .sealed_at = p->sealed_at,
                                           .since_us = p->since_us,
                                           .waited_ms = now - p->since_mono_ms,
                                           .timeout_ms = p->timeout_ms};
    pthread_mutex_unlock(&s->park_mu);
    info->n_waiters = k;
    info->waiters = ws;
    pthread_mutex_unlock(&lg->tmu);
    pthread_mutex_unlock(&lg->mu);
    *out = info;
    leave(s);
    return SEGLOG_OK;
}

void seglog_log_info_free(seglog_log_info *info)
{
    if (!info)
        return;
    free(info->segments);
    free(info->waiters);
    free(info);
}

static const char *state_name(seglog_segment_state st)
{
    return st == SEGLOG_SEGMENT_OPEN ? "open" : st == SEGLOG_SEGMENT_SEALED ? "sealed" : "trimmed";
}

/* A growing string for describe_format. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *bigger = realloc(b->p, cap);
        if (!bigger) {
            b->oom = true;
            return;
        }
        b->p = bigger;
        b->cap = cap;
    }
}

int seglog_log_describe_format(seglog *s, seglog_log_id log, int json, char **out,
                               seglog_error *err)
{
    *out = NULL;
    seglog_log_info *info = NULL;
    int rc = seglog_log_describe(s, log, &info, err);
    if (rc != SEGLOG_OK)
        return rc;
    sbuf b = {0};
    if (json) {
        sb_printf(&b,
                  "{\"log\":%" PRIu64 ",\"version\":%" PRIu64 ",\"trim_point\":%" PRIu64
                  ",\"tail\":{\"lsn\":%" PRIu64 ",\"sealed\":%s,\"segment\":%" PRIu64
                  "},\"segments\":[",
                  info->id, info->version, info->trim_point, info->tail.lsn,
                  info->tail.sealed ? "true" : "false", info->tail.segment_id);
        for (size_t i = 0; i < info->n_segments; i++) {
            const seglog_segment_info *g = &info->segments[i];
            sb_printf(&b,
                      "%s{\"id\":%" PRIu64 ",\"base\":%" PRIu64 ",\"state\":\"%s\",\"sealed_at\":%"
                      PRIu64 ",\"cf\":\"%s\",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                      i ? "," : "", g->id, g->base, state_name(g->state), g->sealed_at, g->cf,
                      g->records, g->bytes);
        }
        sb_printf(&b, "],\"waiters\":[");
        for (size_t i = 0; i < info->n_waiters; i++) {
            const seglog_waiter_info *w = &info->waiters[i];
            sb_printf(&b,
                      "%s{\"what\":\"%s\",\"segment\":%" PRIu64 ",\"sealed_at\":%" PRIu64
                      ",\"since_us\":%" PRIu64 ",\"waited_ms\":%" PRIu64 ",\"timeout_ms\":%u}",
                      i ? "," : "", w->what, w->segment_id, w->sealed_at, w->since_us,
                      w->waited_ms, w->timeout_ms);
        }
        sb_printf(&b, "]}\n");
    } else {
        sb_printf(&b, "log %" PRIu64 ": chain version %" PRIu64 ", tail %s at %" PRIu64
                      ", trim point %" PRIu64 "\n",
                  info->id, info->version, info->tail.sealed ? "sealed" : "open", info->tail.lsn,
                  info->trim_point);
        for (size_t i = 0; i < info->n_segments; i++) {
            const seglog_segment_info *g = &info->segments[i];
            if (g->state == SEGLOG_SEGMENT_SEALED)
                sb_printf(&b, "  segment %" PRIu64 "  base %" PRIu64 "  sealed at %" PRIu64
                              "  %s  %" PRIu64 " records  %" PRIu64 " bytes\n",
                          g->id, g->base, g->sealed_at, g->cf, g->records, g->bytes);
            else
                sb_printf(&b, "  segment %" PRIu64 "  base %" PRIu64 "  %s  %s  %" PRIu64
                              " records  %" PRIu64 " bytes\n",
                          g->id, g->base, state_name(g->state), g->cf, g->records, g->bytes);
        }
        if (info->tail.sealed)
            sb_printf(&b, "  sealed at LSN %" PRIu64 ", no successor segment: appends will wait "
                          "until the chain is extended\n",
                      info->tail.lsn);
        sb_printf(&b, "  %zu appender(s) waiting\n", info->n_waiters);
        for (size_t i = 0; i < info->n_waiters; i++) {
            const seglog_waiter_info *w = &info->waiters[i];
            sb_printf(&b, "    waiting for %s: segment %" PRIu64 " sealed at %" PRIu64
                          ", for %" PRIu64 " ms of %u\n",
                      w->what, w->segment_id, w->sealed_at, w->waited_ms, w->timeout_ms);
        }
    }
    seglog_log_info_free(info);
    if (b.oom) {
        free(b.p);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "loglet: out of memory");
    }
    *out = b.p;
    return SEGLOG_OK;
}

int seglog_stats_get(seglog *s, seglog_stats *out, seglog_error *err)
{
    int rc = enter(s, err);
    if (rc != SEGLOG_OK)
        return rc;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&s->logs_lock);
    out->logs = s->n_logs;
    for (size_t i = 0; i < s->n_logs; i++) {
        pthread_mutex_lock(&s->logs[i]->mu);
        for (size_t j = 0; j < s->logs[i]->n_segs; j++)
            if (s->logs[i]->segs[j].state != STORE_SEG_TRIMMED)
                out->segments++;
        pthread_mutex_unlock(&s->logs[i]->mu);
    }
    pthread_rwlock_unlock(&s->logs_lock);
    store_stats ss;
    store_stats_get(s->st, &ss);
    out->column_families = ss.column_families;
    out->cf_pool = ss.cf_pool;
    out->cf_created = ss.cf_created;
    out->cf_recycled = ss.cf_recycled;
    out->cf_dropped = ss.cf_dropped;
    out->memory_budget_bytes = ss.memory_budget_bytes;
    out->memtable_bytes = ss.memtable_bytes;
    out->appends = atomic_load(&s->appends);
    out->wal_groups = ss.wal.groups;
    out->wal_fsyncs = ss.wal.fsyncs_submitted;
    out->wal_checkpoint_seq = ss.checkpoint_seq;
    out->waiting_appenders = atomic_load(&s->waiting);
    out->chain_ops_waiting_room = atomic_load(&s->chain_waiting_room);
    char why[SEGLOG_ERROR_MESSAGE_MAX];
    out->poisoned = ss.wal.poisoned || store_failure(s->st, why, sizeof why) != 0;
    leave(s);
    return SEGLOG_OK;
}
