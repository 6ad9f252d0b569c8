/*
 * store.c — seglog's durable state machine: WAL first, then RocksDB, then the caller.
 *
 * WHAT IT OWNS
 *   dir/wal (seglog's WAL, the source of truth) and dir/db (RocksDB): the column family "meta" for
 *   logs, segments, the checkpoint and the format version, and one column family per segment,
 *   named neutrally "cf-%08llu" so that it can be created long before a segment needs it.
 *
 * THE PATH OF AN OPERATION
 *   store_submit encodes the op (header + payloads gathered, one copy) into the WAL without ever
 *   waiting. When the WAL reports it durable (on the WAL thread, in WAL order), the op is copied
 *   out of the WAL's buffer, the caller's callback runs at once (the acknowledgement, with the
 *   copy as a store_pending its readers may use until it is applied) and the copy joins the apply
 *   queue (bounded:
 *   STORE_APPLY_QUEUE_MAX_BYTES; beyond it the WAL thread waits, which is backpressure). The apply
 *   thread writes each op to RocksDB as ONE write batch with RocksDB's own WAL disabled: records
 *   into the segment's CF, the segment's and the log's metadata as absolute values, and the
 *   applied sequence, then reports it (store_applied_fn), in WAL order. Acknowledgement and
 *   RocksDB are decoupled because RocksDB stalls every writer while it creates a column family
 *   (it persists the options of all CFs inside its write thread: 30 ms with 100 CFs, 600 ms with
 *   800, measured here), and the pool creates CFs while appends run. Seal+extend is thus one WAL record and one write batch (DESIGN.md,
 *   invariant 2): after a crash it is replayed whole or not at all.
 *
 * RECOVERY
 *   RocksDB holds only what was flushed. The checkpointer periodically flushes every column family
 *   written since the last checkpoint, then writes the checkpoint S (the last applied sequence
 *   before the flush) into meta and flushes meta, then lets the WAL drop files up to S. On open,
 *   the WAL is replayed from S + 1: every op is applied again, and since every op writes absolute
 *   values, applying one twice gives the same state. Side effects outside the batch are
 *   idempotent too: a dropped column family stays dropped (replayed writes to it are skipped).
 *
 * THE COLUMN FAMILY POOL
 *   Creating a CF costs tens to hundreds of milliseconds and grows with the number of CFs
 *   (DESIGN.md), so a pool thread keeps cf_pool_target CFs created ahead; seal+extend takes one.
 *   A trim empties the CFs of the segments it trims with a range deletion in its own batch, and
 *   once the batch is written puts them back into the pool (recycling; beyond twice the target
 *   they are dropped), so a store whose logs are sealed and trimmed at the same pace creates and
 *   drops no CF at all. A recycled CF may serve another log whose LSNs overlap the old ones:
 *   loglet re-checks the trim point after every read (a reader that looked up the segment before
 *   the trim must not return the new owner's record).
 *   On open every CF that no live segment references is adopted into the pool if it is empty
 *   (created but never used: an orphan of an op that never became durable; or recycled) and
 *   dropped if not (its range deletion was lost with the crash). Drops happen on the pool thread.
 *
 * BOOKKEEPING ERRORS
 *   Every CF an op writes was handed out by the pool and not given back, and the pool's count is
 *   the number of CFs marked pooled. A breach is a bug, here or above, never a state to work
 *   around: skipping the write or the recycling, as this file once did, acknowledged records that
 *   never reached RocksDB and let the pool hand out a made-up CF number. store_submit refuses such
 *   an op before it is durable, the apply thread checks each op again, and either poisons the
 *   store (SEGLOG_ECORRUPT; writes refused until reopen, as after a failed WAL write). Only replay
 *   accepts a missing CF (cf_for_write says why). Likewise a scan at open that stops on a read
 *   error fails the open rather than pass for the end of the data (scan_end).
 *
 * DIRTY COLUMN FAMILIES
 *   A CF is marked dirty after a batch that wrote it is in RocksDB and before applied_seq moves
 *   past that batch; the checkpointer reads applied_seq first, then clears the marks and flushes.
 *   So a checkpoint S covers every write of every op up to S. (Marking before the write let a
 *   checkpoint clear the mark between the two; and open used to clear every mark after replay:
 *   the first checkpoint then skipped what replay wrote, and a second crash lost it. Both lost
 *   acknowledged records; test_storage checks crash, replay, checkpoint, crash for each op.)
 *   A flush that fails puts back the marks of the CFs it did not flush, so that no later
 *   checkpoint passes their ops either (test_store_failed_flush_keeps_marks).
 *
 * LOCKS
 *   cf_lock (rwlock) guards the CF table. pool_mu guards the pool, the drop queue and the
 *   counters of both; taken before cf_lock where both are. apply_mu guards the apply queue and
 *   the failure state; iter_mu the list of readers' cursors. None is held across a RocksDB call
 *   that can block, except cf_lock held for reading across a Get or an iterator's creation (which
 *   do not block on other writers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "seglog_internal.h"
#include "store.h"
#include "store_inspect.h"
#include "wal_internal.h"

#define STORE_PATH_MAX 4096u
#define STORE_META_CF "meta"
#define STORE_LOCK_FILE "LOCK.seglog"
#define STORE_CF_PREFIX "cf-"
#define STORE_CF_MAX 65536u           /* column families in one store */
#define STORE_RECS_PER_OP_MAX 65536u  /* records in one append op */
#define STORE_POOL_TARGET_MAX 256u
#define STORE_WRITE_BUFFER_MAX_BYTES (8u << 20) /* per CF: a segment is written briefly, then sealed */
#define STORE_WAL_ENQUEUE_TIMEOUT_MS 10000u
#define STORE_APPLY_QUEUE_MAX_BYTES (64u << 20) /* durable ops waiting for RocksDB, at most */

/* Checks of invariants that storage's own bookkeeping keeps (the pool's count and marks); cheap,
 * and on in release builds (STYLE.md). Bytes read from disk are never asserted: they are
 * SEGLOG_ECORRUPT. */
#define SEGLOG_ASSERT(c)                                                                           \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "seglog: assertion failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define KEY_FORMAT "F"
#define KEY_CHECKPOINT "K"
#define KEY_APPLIED "A"

typedef struct cf_entry {
    uint64_t cf_no;
    rocksdb_column_family_handle_t *h;
    bool dirty;    /* written since the last checkpoint (set after the write, never before) */
    bool pooled;   /* in the pool, not yet assigned */
    bool in_batch; /* listed in st->batch_cfs */
    bool trimmed;  /* listed in st->pending_drops (a segment of the batch being built trims it) */
} cf_entry;

struct store {
    char dir[STORE_PATH_MAX];
    store_options opt;
    int lock_fd;                  /* flock on dir/LOCK.seglog, held until close */
    rocksdb_t *db;
    rocksdb_options_t *dbopt;
    rocksdb_writeoptions_t *wopt;
    rocksdb_readoptions_t *ropt;
    rocksdb_flushoptions_t *fopt;
    rocksdb_column_family_handle_t *meta;
    rocksdb_column_family_handle_t *deflt;
    wal *wal;

    /* CF table, sorted by cf_no. */
    pthread_rwlock_t cf_lock;
    cf_entry *cfs;
    uint32_t n_cfs;
    rocksdb_column_family_handle_t **graveyard; /* dropped handles, destroyed at close */
    uint32_t n_graveyard;

    /* Pool and drops. */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;       /* pool thread: work; takers: a CF arrived */
    uint64_t next_cf_no;
    uint64_t *drops;              /* cf_nos to drop */
    uint32_t n_drops;
    uint32_t n_pooled;
    bool stop;
    atomic_int creating;          /* a CF someone waits for is being created: apply holds off */
    uint32_t cf_waiters;          /* callers waiting in store_cf_take */
    int pool_error;
    char pool_msg[SEGLOG_ERROR_MESSAGE_MAX];
    pthread_t pool_thread;
    uint64_t n_created, n_recycled, n_dropped; /* since open */

    /* Readers' cursors (store_iter), destroyed by store_close if still open. */
    pthread_mutex_t iter_mu;
    struct store_iter *iters;

    /* Checkpointer. */
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    bool ckpt_stop;
    pthread_t ckpt_thread;
    atomic_uint_fast64_t applied_seq;
    atomic_uint_fast64_t checkpoint_seq;
    atomic_uint fail_flushes; /* tests (fault injection): checkpoint flushes still to fail */
    atomic_bool fault_miss_cf; /* tests (fault injection): the apply thread's next CF lookup misses */

    /* The apply queue: durable ops waiting for RocksDB, oldest first. */
    pthread_mutex_t apply_mu;
    pthread_cond_t apply_cv;      /* apply thread: work; WAL thread: room */
    struct store_pending *aq_head, *aq_tail;
    uint64_t aq_bytes;
    bool apply_stop;
    bool apply_paused;            /* tests: store_pause_apply */
    int apply_error;              /* a RocksDB write failed: writes are refused */
    char apply_msg[SEGLOG_ERROR_MESSAGE_MAX];
    pthread_t apply_thread;
    bool apply_started;

    /* Apply (the apply thread only, and replay before it starts). */
    rocksdb_writebatch_t *batch;
    uint64_t *batch_cfs;          /* CFs the batch being built writes: dirty once it is written */
    uint32_t n_batch_cfs;
    uint64_t *pending_drops;      /* CFs of segments trimmed by the batch being built */
    uint32_t n_pending_drops;     /* (emptied by a range deletion in the batch: recycled) */
    seglog_buf *recs_scratch;
    store_seg *dropped_scratch;
    bool replaying;
};

typedef struct pending {
    store *st;
    store_done_fn done;
    void *ctx;
    uint8_t type; /* the WAL record type, which the WAL does not hand back */
} pending;

typedef struct store_pending {
    struct store_pending *next;
    uint64_t seq;
    uint32_t len;
    uint8_t type;
    uint32_t n_recs;     /* APPEND: its records, for readers (store_pending_read) */
    uint64_t first_lsn;
    uint64_t time_us;
    const uint32_t *offs; /* APPEND: n_recs + 1 record offsets in data, or NULL */
    uint8_t data[];      /* the op as written to the WAL (then the offsets) */
} apply_entry;

int store_pending_read(const store_pending *pend, uint64_t lsn, void **payload, size_t *len,
                       uint64_t *time_us)
{
    if (!pend->offs || lsn < pend->first_lsn || lsn - pend->first_lsn >= pend->n_recs)
        return SEGLOG_ENOTFOUND;
    uint32_t i = (uint32_t)(lsn - pend->first_lsn);
    const uint8_t *data = pend->data + pend->offs[i];
    uint32_t dlen = pend->offs[i + 1] - pend->offs[i];
    *time_us = pend->time_us;
    void *copy = malloc(dlen ? dlen : 1);
    if (!copy)
        return SEGLOG_ENOMEM;
    if (dlen)
        memcpy(copy, data, dlen);
    *payload = copy;
    *len = dlen;
    return SEGLOG_OK;
}

/* ---- errors ---------------------------------------------------------------------------------- */

static int set_err(seglog_error *err, int code, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(seglog_error *err, int code, int os_errno, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        err->os_errno = os_errno;
        err->module = "storage";
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The one place RocksDB's error text is classified, copied and freed. */
static int rocks_err(char *errptr, seglog_error *err, const char *what)
{
    if (!errptr)
        return SEGLOG_OK;
    int code = SEGLOG_EIO;
    if (strstr(errptr, "Corruption"))
        code = SEGLOG_ECORRUPT;
    else if (strstr(errptr, "lock") && strstr(errptr, "LOCK"))
        code = SEGLOG_EBUSY;
    set_err(err, code, 0, "storage: %s: %s", what, errptr);
    rocksdb_free(errptr);
    return code;
}

/* Refuses every later write until reopen, as a failed WAL write does (store_submit answers
 * SEGLOG_EPOISONED, store_failure says why): used when storage's bookkeeping of column families
 * no longer adds up, since going on could acknowledge records that never reach RocksDB or hand one
 * CF to two segments. The first failure is the one reported. Takes apply_mu: call it with no other
 * lock of the store held. */
static void poison(store *st, int code, const char *msg)
{
    pthread_mutex_lock(&st->apply_mu);
    if (st->apply_error == 0) {
        st->apply_error = code;
        snprintf(st->apply_msg, sizeof st->apply_msg, "%.180s; writes are refused until reopen",
                 msg);
        fprintf(stderr, "seglog: %s\n", st->apply_msg);
    }
    pthread_cond_broadcast(&st->apply_cv);
    pthread_mutex_unlock(&st->apply_mu);
}

void store_cf_name(char dst[32], uint64_t cf_no)
{
    snprintf(dst, 32, STORE_CF_PREFIX "%08" PRIu64, cf_no);
}

static bool cf_name_parse(const char *name, uint64_t *cf_no)
{
    if (strncmp(name, STORE_CF_PREFIX, 3) != 0 || name[3] == '\0')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name + 3, &end, 10);
    if (*end != '\0' || errno != 0 || v == 0)
        return false;
    *cf_no = v;
    return true;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void key_log(uint8_t k[9], uint64_t log_id)
{
    k[0] = 'L';
    put_be64(k + 1, log_id);
}

static void key_seg(uint8_t k[17], uint64_t log_id, uint64_t seg_id)
{
    k[0] = 'S';
    put_be64(k + 1, log_id);
    put_be64(k + 9, seg_id);
}

/* ---- the CF table ------------------------------------------------------------------------------ */

/* Index of cf_no, or -(insertion point) - 1. Called with cf_lock held. */
static long cf_find(const store *st, uint64_t cf_no)
{
    long lo = 0, hi = (long)st->n_cfs - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (st->cfs[mid].cf_no == cf_no)
            return mid;
        if (st->cfs[mid].cf_no < cf_no)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -lo - 1;
}

static int cf_insert_locked(store *st, uint64_t cf_no, rocksdb_column_family_handle_t *h,
                            bool pooled)
{
    if (st->n_cfs >= STORE_CF_MAX)
        return -1;
    long i = cf_find(st, cf_no);
    if (i >= 0)
        return -1;
    long at = -i - 1;
    memmove(st->cfs + at + 1, st->cfs + at, (size_t)((long)st->n_cfs - at) * sizeof *st->cfs);
    st->cfs[at] = (cf_entry){.cf_no = cf_no, .h = h, .pooled = pooled};
    st->n_cfs++;
    return 0;
}

/* ---- apply ------------------------------------------------------------------------------------- */

static void batch_put_seg(store *st, const store_seg *seg)
{
    uint8_t k[17], v[STORE_SEG_VALUE_BYTES];
    key_seg(k, seg->log_id, seg->seg_id);
    store_seg_encode(seg, v);
    rocksdb_writebatch_put_cf(st->batch, st->meta, (const char *)k, sizeof k, (const char *)v,
                              sizeof v);
}

static void batch_put_log(store *st, const store_log *log)
{
    uint8_t k[9], v[STORE_LOG_VALUE_BYTES];
    key_log(k, log->log_id);
    store_log_encode(log, v);
    rocksdb_writebatch_put_cf(st->batch, st->meta, (const char *)k, sizeof k, (const char *)v,
                              sizeof v);
}

/* Why an op may not write cf_no (outside replay), or NULL if it may: every CF an op writes has
 * been handed out by store_cf_take and is not back in the pool. cf_lock held. */
static const char *cf_unusable_locked(const store *st, uint64_t cf_no)
{
    long i = cf_find(st, cf_no);
    if (i < 0)
        return "does not exist";
    if (st->cfs[i].pooled)
        return "is in the pool (no segment's)";
    return NULL;
}

/* Tests only: whether the lookup at hand is to miss (store_fault_miss_next_cf). */
static bool cf_miss_fault_due(store *st)
{
#ifdef SEGLOG_FAULT_INJECTION
    return atomic_exchange(&st->fault_miss_cf, false);
#else
    (void)st;
    return false;
#endif
}

/* Looks up a CF that the batch being built writes and lists it among the batch's CFs (marked dirty
 * once the batch is written); a trimmed segment's CF (trimmed) also among the CFs to recycle after
 * the write. Outside replay a CF that does not exist or is in the pool is a bookkeeping error, as
 * is one trimmed twice in a batch: SEGLOG_ECORRUPT (the store is then poisoned by the caller).
 * Skipping the write, as this once did, acknowledged records that never reached RocksDB, and a
 * pooled CF written here left the pool's count with nothing behind it.
 *
 * During replay a missing CF is legitimate, and *h is NULL (the write is skipped): a trimmed
 * segment's CF is dropped once its trim is applied (when the pool is full) or at open (when
 * unused and not empty), while the WAL keeps the ops that wrote it (its create or extend, its
 * appends, the trim) until a checkpoint passes them. Their records belong to a segment that the
 * metadata, or the trim later in the WAL, marks trimmed. Replay cannot tell such a CF from one that
 * was never there, and each op it meets was checked when it was first applied. */
static int cf_for_write(store *st, uint64_t seq, const store_op *op, uint64_t cf_no, bool trimmed,
                        rocksdb_column_family_handle_t **h, seglog_error *err)
{
    *h = NULL;
    const char *why = NULL;
    pthread_rwlock_wrlock(&st->cf_lock);
    long i = cf_find(st, cf_no);
    if (i >= 0 && !st->replaying && cf_miss_fault_due(st))
        i = -1;
    if (i < 0) {
        if (!st->replaying) /* (gone during replay: see above) */
            why = "does not exist";
    } else if (st->cfs[i].pooled) {
        why = "is in the pool (no segment's)";
    } else if (trimmed && st->cfs[i].trimmed && !st->replaying) {
        why = "is trimmed twice in one batch (it would be recycled twice)";
    } else {
        cf_entry *c = &st->cfs[i];
        if (!c->in_batch) {
            SEGLOG_ASSERT(st->n_batch_cfs < STORE_CF_MAX); /* each CF once */
            c->in_batch = true;
            st->batch_cfs[st->n_batch_cfs++] = cf_no;
        }
        if (trimmed && !st->replaying) { /* replay recycles nothing: sort_out_cfs does */
            SEGLOG_ASSERT(st->n_pending_drops < STORE_CF_MAX); /* each CF once */
            c->trimmed = true;
            st->pending_drops[st->n_pending_drops++] = cf_no;
        }
        *h = c->h;
    }
    pthread_rwlock_unlock(&st->cf_lock);
    if (why)
        return set_err(err, SEGLOG_ECORRUPT, 0,
                       "storage: column family %" PRIu64 " %s, but WAL seq %" PRIu64
                       " (%s of log %" PRIu64 ") writes it",
                       cf_no, why, seq, store_inspect_op_name(op->type), op->log.log_id);
    return SEGLOG_OK;
}

/* After the batch is written (ok) or dropped: marks its CFs dirty. Marking before the write let
 * a checkpoint clear the mark and flush the CF between the two, then move past ops whose data
 * was still only in the memtable. A dropped batch recycles nothing. */
static void batch_cfs_done(store *st, bool ok)
{
    if (!ok)
        st->n_pending_drops = 0;
    if (st->n_batch_cfs == 0)
        return;
    pthread_rwlock_wrlock(&st->cf_lock);
    for (uint32_t k = 0; k < st->n_batch_cfs; k++) {
        long i = cf_find(st, st->batch_cfs[k]);
        if (i >= 0) {
            st->cfs[i].in_batch = false;
            st->cfs[i].trimmed = false;
            if (ok)
                st->cfs[i].dirty = true;
        }
    }
    st->n_batch_cfs = 0;
    pthread_rwlock_unlock(&st->cf_lock);
}

static void queue_drop(store *st, uint64_t cf_no)
{
    pthread_mutex_lock(&st->pool_mu);
    if (st->n_drops < STORE_CF_MAX)
        st->drops[st->n_drops++] = cf_no;
    pthread_cond_broadcast(&st->pool_cv);
    pthread_mutex_unlock(&st->pool_mu);
}

/* Adds one durable op to the pending write batch (st->batch). */
static int batch_op(store *st, uint64_t seq, const store_op *op, seglog_error *err)
{
    rocksdb_column_family_handle_t *h = NULL;
    int rc = SEGLOG_OK;
    switch (op->type) {
    case STORE_OP_CREATE_LOG:
        batch_put_log(st, &op->log);
        batch_put_seg(st, &op->seg);
        rc = cf_for_write(st, seq, op, op->seg.cf_no, false, &h, err);
        break;
    case STORE_OP_APPEND:
        rc = cf_for_write(st, seq, op, op->seg.cf_no, false, &h, err);
        if (rc == SEGLOG_OK && h) {
            uint8_t k[8];
            for (uint32_t i = 0; i < op->n; i++) {
                put_be64(k, op->first_lsn + i);
                size_t vlen = 8 + op->recs[i].len;
                uint8_t small[512];
                uint8_t *v = vlen <= sizeof small ? small : malloc(vlen);
                if (!v)
                    return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
                wal_put64(v, op->time_us);
                if (op->recs[i].len)
                    memcpy(v + 8, op->recs[i].data, op->recs[i].len);
                rocksdb_writebatch_put_cf(st->batch, h, (const char *)k, sizeof k,
                                          (const char *)v, vlen);
                if (v != small)
                    free(v);
            }
        }
        batch_put_seg(st, &op->seg);
        break;
    case STORE_OP_SEAL:
    case STORE_OP_EXTEND:
        batch_put_log(st, &op->log);
        batch_put_seg(st, &op->seg);
        if (op->type == STORE_OP_EXTEND)
            rc = cf_for_write(st, seq, op, op->seg.cf_no, false, &h, err);
        break;
    case STORE_OP_SEAL_EXTEND:
        batch_put_log(st, &op->log);
        batch_put_seg(st, &op->seg);
        batch_put_seg(st, &op->seg2);
        rc = cf_for_write(st, seq, op, op->seg2.cf_no, false, &h, err);
        break;
    case STORE_OP_TRIM:
        batch_put_log(st, &op->log);
        for (uint32_t i = 0; i < op->n_dropped && rc == SEGLOG_OK; i++) {
            batch_put_seg(st, &op->dropped[i]);
            /* Empty the CF in this very batch, so that it can serve a new segment as soon as
             * the batch is written (recycling: see batch_write). Replay repeats it in WAL order,
             * before any later op that reuses the CF. Marks it dirty: the next checkpoint
             * flushes the range deletion before the WAL lets this op go. */
            rc = cf_for_write(st, seq, op, op->dropped[i].cf_no, true, &h, err);
            if (rc == SEGLOG_OK && h) {
                static const uint8_t lo[8] = {0};
                static const uint8_t hi[9] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff};
                rocksdb_writebatch_delete_range_cf(st->batch, h, (const char *)lo, sizeof lo,
                                                   (const char *)hi, sizeof hi);
            }
        }
        if (rc == SEGLOG_OK && op->seg.seg_id != 0) {
            rc = cf_for_write(st, seq, op, op->seg.cf_no, false, &h, err);
            if (rc == SEGLOG_OK && h) {
                uint8_t from[8], to[8];
                put_be64(from, op->seg.base);
                put_be64(to, op->log.trim_point + 1);
                rocksdb_writebatch_delete_range_cf(st->batch, h, (const char *)from, 8,
                                                   (const char *)to, 8);
            }
        }
        break;
    default:
        return set_err(err, SEGLOG_ECORRUPT, 0, "storage: unknown op type %u at WAL seq %" PRIu64,
                       op->type, seq);
    }
    return rc;
}

/* Puts the emptied CF of a trimmed segment back into the pool (it is not referenced by any live
 * segment any more, and the range deletion that emptied it is written), or, when the pool holds
 * plenty already, hands it to the pool thread to drop. In steady state (segments sealed, then
 * trimmed) the store thus neither creates nor drops column families: both persist the options
 * of every CF inside RocksDB's write thread, which is what makes them slow (DESIGN.md).
 * During replay nothing is pooled here: sort_out_cfs adopts every empty unreferenced CF.
 * batch_op checked the CF; one gone or pooled since (given back by store_cf_return meanwhile)
 * poisons the store: recycling it again, as this once did (it was dropped from under the pool's
 * count), ended with the pool handing out a made-up CF number. */
static void recycle_cf(store *st, uint64_t cf_no)
{
    if (st->replaying)
        return;
    pthread_mutex_lock(&st->pool_mu);
    pthread_rwlock_wrlock(&st->cf_lock);
    const char *why = cf_unusable_locked(st, cf_no);
    bool keep = why == NULL && st->n_pooled < 2u * st->opt.pub.cf_pool_target;
    if (keep) {
        st->cfs[cf_find(st, cf_no)].pooled = true;
        st->n_pooled++;
        st->n_recycled++;
        SEGLOG_ASSERT(st->n_pooled <= st->n_cfs);
    }
    pthread_rwlock_unlock(&st->cf_lock);
    if (keep)
        pthread_cond_broadcast(&st->pool_cv);
    pthread_mutex_unlock(&st->pool_mu);
    if (why) {
        char msg[SEGLOG_ERROR_MESSAGE_MAX];
        snprintf(msg, sizeof msg,
                 "storage: column family %" PRIu64 " of a trimmed segment %s when recycled",
                 cf_no, why);
        poison(st, SEGLOG_ECORRUPT, msg);
    } else if (!keep) {
        queue_drop(st, cf_no);
    }
}

/* Writes the pending batch (ops up to and including last_seq) to RocksDB, then recycles (or
 * drops) the column families of the segments it trimmed. */
static int batch_write(store *st, uint64_t last_seq, seglog_error *err)
{
    uint8_t a[8];
    wal_put64(a, last_seq);
    rocksdb_writebatch_put_cf(st->batch, st->meta, KEY_APPLIED, 1, (const char *)a, 8);
    char *e = NULL;
    rocksdb_write(st->db, st->wopt, st->batch, &e);
    rocksdb_writebatch_clear(st->batch);
    batch_cfs_done(st, e == NULL); /* before applied_seq moves: see batch_cfs_done */
    if (e)
        return rocks_err(e, err, "write batch");
    atomic_store(&st->applied_seq, last_seq);
    for (uint32_t i = 0; i < st->n_pending_drops; i++)
        recycle_cf(st, st->pending_drops[i]);
    st->n_pending_drops = 0;
    wal_kill_point(st->replaying ? STORE_KILL_IN_REPLAY : STORE_KILL_AFTER_BATCH);
    return SEGLOG_OK;
}

static int decode(store *st, uint8_t type, const void *payload, uint32_t len, store_op *op,
                  seglog_error *err)
{
    return store_op_decode(payload, len, type, op, st->recs_scratch, STORE_RECS_PER_OP_MAX,
                           st->dropped_scratch, STORE_OPS_MAX_DROPPED, err);
}

/* Replay: one op, one write batch. */
static int decode_and_apply(store *st, uint64_t seq, uint8_t type, const void *payload,
                            uint32_t len, seglog_error *err)
{
    store_op op;
    int rc = decode(st, type, payload, len, &op, err);
    if (rc == SEGLOG_OK)
        rc = batch_op(st, seq, &op, err);
    if (rc == SEGLOG_OK)
        rc = batch_write(st, seq, err);
    rocksdb_writebatch_clear(st->batch);
    batch_cfs_done(st, false); /* (a no-op after batch_write) */
    return rc;
}

static int replay_one(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    store *st = ctx;
    seglog_error err = {0};
    int rc = decode_and_apply(st, seq, type, payload, len, &err);
    if (rc != SEGLOG_OK)
        fprintf(stderr, "seglog: replay of WAL seq %" PRIu64 " failed: %s\n", seq, err.message);
    return rc;
}

/* The WAL's completion (WAL thread): queue the op for RocksDB, then acknowledge it. */
static void op_done(void *ctx, uint64_t seq, int status, const void *payload, uint32_t len)
{
    pending *p = ctx;
    store *st = p->st;
    if (status == SEGLOG_OK) {
        if (p->type == STORE_OP_SEAL_EXTEND)
            wal_kill_point(STORE_KILL_SEAL_DURABLE);
        uint64_t first = 0, time_us = 0;
        uint32_t n = 0;
        size_t at = ((size_t)len + 3u) & ~(size_t)3u; /* the offsets, aligned, after the op */
        bool indexed = p->type == STORE_OP_APPEND &&
                       store_op_append_index(payload, len, &first, &n, &time_us, NULL) ==
                           SEGLOG_OK;
        apply_entry *e = malloc(sizeof *e + at + (indexed ? 4u * ((size_t)n + 1u) : 0));
        if (!e) {
            /* Durable, so acknowledged; but it will not reach RocksDB in this process: stop
             * applying (the checkpoint must not pass it) and refuse writes until reopen, which
             * replays it. */
            pthread_mutex_lock(&st->apply_mu);
            if (st->apply_error == 0) {
                st->apply_error = SEGLOG_ENOMEM;
                snprintf(st->apply_msg, sizeof st->apply_msg,
                         "storage: out of memory queueing WAL seq %" PRIu64
                         " for RocksDB; writes are refused until reopen",
                         seq);
            }
            pthread_mutex_unlock(&st->apply_mu);
        } else {
            e->next = NULL;
            e->seq = seq;
            e->len = len;
            e->type = p->type;
            memcpy(e->data, payload, len);
            e->offs = NULL;
            e->n_recs = 0;
            if (indexed) {
                uint32_t *offs = (uint32_t *)(void *)(e->data + at);
                if (store_op_append_index(e->data, len, &first, &n, &time_us, offs) ==
                    SEGLOG_OK) {
                    e->offs = offs;
                    e->n_recs = n;
                    e->first_lsn = first;
                    e->time_us = time_us;
                }
            }
            /* the acknowledgement first: the caller indexes e for its readers before the apply
             * thread can see (and later free) it */
            p->done(p->ctx, status, seq, e);
            pthread_mutex_lock(&st->apply_mu);
            while (st->aq_bytes + len > STORE_APPLY_QUEUE_MAX_BYTES && st->aq_head &&
                   st->apply_error == 0)
                pthread_cond_wait(&st->apply_cv, &st->apply_mu);
            if (st->aq_tail)
                st->aq_tail->next = e;
            else
                st->aq_head = e;
            st->aq_tail = e;
            st->aq_bytes += len;
            pthread_cond_broadcast(&st->apply_cv);
            pthread_mutex_unlock(&st->apply_mu);
            free(p);
            return;
        }
    }
    p->done(p->ctx, status, seq, NULL);
    free(p);
}

/* The apply thread: writes durable ops to RocksDB in WAL order, whatever has queued up since the
 * last write in one write batch (each op's own batch is part of it, so each stays atomic), then
 * reports each op. Batching matters: one RocksDB write per append costs more than the rest of an
 * append's path together. */
static void *apply_main(void *arg)
{
    pthread_setname_np(pthread_self(), "seglog-apply");
    store *st = arg;
    pthread_mutex_lock(&st->apply_mu);
    for (;;) {
        apply_entry *first = st->aq_head;
        if (!first || (st->apply_paused && !st->apply_stop) ||
            (atomic_load(&st->creating) && !st->apply_stop &&
             st->aq_bytes < STORE_APPLY_QUEUE_MAX_BYTES / 2)) {
            if (!first && st->apply_stop)
                break;
            pthread_cond_wait(&st->apply_cv, &st->apply_mu);
            continue;
        }
        /* take the whole queue as it is now (bounded by STORE_APPLY_QUEUE_MAX_BYTES) */
        st->aq_head = st->aq_tail = NULL;
        /* After a failure nothing more is written: applied_seq (and so the checkpoint) must not
         * pass the op that failed; the WAL replays them all at the next open. */
        int failed = st->apply_error;
        pthread_mutex_unlock(&st->apply_mu);

        seglog_error err = {0};
        int rc = failed;
        if (failed)
            snprintf(err.message, sizeof err.message, "storage: writes refused after a failure");
        uint64_t last_seq = 0, bytes = 0;
        for (apply_entry *e = first; e && rc == SEGLOG_OK; e = e->next) {
            store_op op;
            rc = decode(st, e->type, e->data, e->len, &op, &err);
            if (rc == SEGLOG_OK)
                rc = batch_op(st, e->seq, &op, &err);
            last_seq = e->seq;
        }
        if (rc == SEGLOG_OK)
            rc = batch_write(st, last_seq, &err);
        rocksdb_writebatch_clear(st->batch);
        batch_cfs_done(st, false); /* (a no-op after batch_write) */
        /* refused before anyone hears of the failure: whoever reacts to it finds writes refused */
        pthread_mutex_lock(&st->apply_mu);
        if (rc != SEGLOG_OK && st->apply_error == 0 && !failed) {
            st->apply_error = rc;
            snprintf(st->apply_msg, sizeof st->apply_msg,
                     "storage: applying WAL records up to %" PRIu64
                     " failed, writes are refused until reopen: %.160s",
                     last_seq, err.message);
            fprintf(stderr, "seglog: %s\n", st->apply_msg);
        }
        pthread_mutex_unlock(&st->apply_mu);
        for (apply_entry *e = first, *next; e; e = next) {
            next = e->next;
            store_op op;
            bytes += e->len;
            if (decode(st, e->type, e->data, e->len, &op, NULL) != SEGLOG_OK) {
                /* cannot happen (we encoded it); the caller may still index e: keep it */
                fprintf(stderr, "seglog: cannot decode queued WAL seq %" PRIu64 "\n", e->seq);
                continue;
            }
            if (st->opt.applied)
                st->opt.applied(st->opt.applied_ctx, &op, rc);
            free(e);
        }
        pthread_mutex_lock(&st->apply_mu);
        st->aq_bytes -= bytes;
        pthread_cond_broadcast(&st->apply_cv);
    }
    pthread_mutex_unlock(&st->apply_mu);
    return NULL;
}

/* Every CF an op writes must be handed out and not back in the pool before the op goes to the
 * WAL: once it is durable it is acknowledged, and an op refused only when applied (cf_for_write)
 * is replayed at the next open, which skips the records of a missing CF but writes the segment's
 * metadata naming it: the segment's earlier records became unreachable too. For an append (the
 * hot path) this costs a read lock and a binary search. */
static int check_op_cfs(store *st, const store_op *op, seglog_error *err)
{
    uint64_t bad = 0;
    const char *why = NULL;
    pthread_rwlock_rdlock(&st->cf_lock);
    switch (op->type) {
    case STORE_OP_CREATE_LOG:
    case STORE_OP_APPEND:
    case STORE_OP_EXTEND:
        why = cf_unusable_locked(st, bad = op->seg.cf_no);
        break;
    case STORE_OP_SEAL_EXTEND:
        why = cf_unusable_locked(st, bad = op->seg2.cf_no);
        break;
    case STORE_OP_TRIM:
        for (uint32_t i = 0; i < op->n_dropped && !why; i++)
            why = cf_unusable_locked(st, bad = op->dropped[i].cf_no);
        if (!why && op->seg.seg_id != 0)
            why = cf_unusable_locked(st, bad = op->seg.cf_no);
        break;
    default:
        break;
    }
    pthread_rwlock_unlock(&st->cf_lock);
    if (!why)
        return SEGLOG_OK;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
    snprintf(msg, sizeof msg,
             "storage: column family %" PRIu64 " %s, but an op of log %" PRIu64 " (%s) writes it",
             bad, why, op->log.log_id, store_inspect_op_name(op->type));
    poison(st, SEGLOG_ECORRUPT, msg);
    return set_err(err, SEGLOG_ECORRUPT, 0, "%s", msg);
}

int store_submit(store *st, const store_op *op, store_done_fn done, void *ctx, seglog_error *err)
{
    if (op->n > STORE_RECS_PER_OP_MAX || op->n_dropped > STORE_OPS_MAX_DROPPED)
        return set_err(err, SEGLOG_EINVAL, 0, "storage: %u records / %u segments in one op "
                       "(limits %u / %u)", op->n, op->n_dropped, STORE_RECS_PER_OP_MAX,
                       STORE_OPS_MAX_DROPPED);
    pthread_mutex_lock(&st->apply_mu);
    int apply_error = st->apply_error;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s", st->apply_msg);
    pthread_mutex_unlock(&st->apply_mu);
    if (apply_error != 0)
        return set_err(err, SEGLOG_EPOISONED, 0, "%s", msg);
    int rc = check_op_cfs(st, op, err);
    if (rc != SEGLOG_OK)
        return rc;
    uint32_t head_len = store_op_head_size(op);
    uint8_t small_head[1024];
    uint8_t *head = head_len <= sizeof small_head ? small_head : malloc(head_len);
    struct iovec small_iov[17];
    struct iovec *iov = op->n + 1 <= 17 ? small_iov : malloc((op->n + 1) * sizeof *iov);
    pending *p = malloc(sizeof *p);
    if (!head || !iov || !p) {
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto out;
    }
    store_op_encode_head(op, head);
    iov[0] = (struct iovec){.iov_base = head, .iov_len = head_len};
    for (uint32_t i = 0; i < op->n; i++)
        iov[i + 1] = (struct iovec){.iov_base = (void *)(uintptr_t)op->recs[i].data,
                                    .iov_len = op->recs[i].len};
    *p = (pending){.st = st, .done = done, .ctx = ctx, .type = op->type};
    rc = wal_try_appendv(st->wal, op->type, iov, (int)op->n + 1, op_done, p, NULL, err);
    if (rc == SEGLOG_OK)
        p = NULL;
out:
    free(p);
    if (head != small_head)
        free(head);
    if (iov != small_iov)
        free(iov);
    return rc;
}

int store_wait_space(store *st, uint32_t bytes, uint32_t timeout_ms, seglog_error *err)
{
    return wal_wait_space(st->wal, bytes, timeout_ms, err);
}

/* ---- the pool thread ------------------------------------------------------------------------- */

static void *pool_main(void *arg)
{
    pthread_setname_np(pthread_self(), "seglog-cfpool");
    store *st = arg;
    pthread_mutex_lock(&st->pool_mu);
    while (!st->stop) {
        if (st->n_drops > 0) {
            uint64_t cf_no = st->drops[--st->n_drops];
            pthread_mutex_unlock(&st->pool_mu);
            pthread_rwlock_wrlock(&st->cf_lock);
            long i = cf_find(st, cf_no);
            rocksdb_column_family_handle_t *h = NULL;
            if (i >= 0) {
                /* dropping a pooled CF would leave the pool's count with nothing behind it */
                SEGLOG_ASSERT(!st->cfs[i].pooled);
                h = st->cfs[i].h;
                memmove(st->cfs + i, st->cfs + i + 1,
                        (size_t)((long)st->n_cfs - i - 1) * sizeof *st->cfs);
                st->n_cfs--;
                if (st->n_graveyard < STORE_CF_MAX)
                    st->graveyard[st->n_graveyard++] = h;
            }
            pthread_rwlock_unlock(&st->cf_lock);
            if (h) {
                char *e = NULL;
                rocksdb_drop_column_family(st->db, h, &e);
                pthread_mutex_lock(&st->pool_mu);
                st->n_dropped++;
                pthread_mutex_unlock(&st->pool_mu);
                if (e) {
                    seglog_error err;
                    rocks_err(e, &err, "drop column family");
                    fprintf(stderr, "seglog: %s\n", err.message);
                }
            }
            pthread_mutex_lock(&st->pool_mu);
            continue;
        }
        if (st->n_pooled < st->opt.pub.cf_pool_target && st->pool_error == 0) {
            uint64_t cf_no = st->next_cf_no++;
            pthread_mutex_unlock(&st->pool_mu);
            char name[32];
            store_cf_name(name, cf_no);
            char *e = NULL;
            /* RocksDB creates a CF inside its write thread; with the apply thread writing back to
             * back it waited behind batch after batch (300-650 ms under C05's load): when a
             * seal+extend waits for this CF, the apply thread holds off meanwhile
             * (acknowledgements do not wait for it; readers of new records do). */
            pthread_mutex_lock(&st->pool_mu);
            bool urgent = st->cf_waiters > 0; /* not for background refills: readers would lag */
            pthread_mutex_unlock(&st->pool_mu);
            atomic_store(&st->creating, urgent ? 1 : 0);
            rocksdb_column_family_handle_t *h =
                rocksdb_create_column_family(st->db, st->dbopt, name, &e);
            atomic_store(&st->creating, 0);
            pthread_mutex_lock(&st->apply_mu);
            pthread_cond_broadcast(&st->apply_cv);
            pthread_mutex_unlock(&st->apply_mu);
            seglog_error err = {0};
            int rc = rocks_err(e, &err, "create column family");
            if (rc == SEGLOG_OK) {
                wal_kill_point(STORE_KILL_AFTER_CF_CREATE);
                pthread_rwlock_wrlock(&st->cf_lock);
                if (cf_insert_locked(st, cf_no, h, true) != 0) {
                    rc = set_err(&err, SEGLOG_EINVAL, 0, "storage: more than %u column families",
                                 STORE_CF_MAX);
                    rocksdb_column_family_handle_destroy(h);
                }
                pthread_rwlock_unlock(&st->cf_lock);
            }
            pthread_mutex_lock(&st->pool_mu);
            if (rc == SEGLOG_OK) {
                st->n_pooled++;
                st->n_created++;
            } else {
                st->pool_error = rc;
                snprintf(st->pool_msg, sizeof st->pool_msg, "%s", err.message);
            }
            pthread_cond_broadcast(&st->pool_cv);
            continue;
        }
        pthread_cond_wait(&st->pool_cv, &st->pool_mu);
    }
    pthread_mutex_unlock(&st->pool_mu);
    return NULL;
}

int store_cf_take(store *st, uint64_t *cf_no, uint32_t timeout_ms, seglog_error *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->pool_mu);
    int rc = SEGLOG_OK;
    for (;;) {
        if (st->n_pooled > 0)
            break;
        if (st->pool_error != 0) {
            rc = set_err(err, st->pool_error, 0, "%s", st->pool_msg);
            break;
        }
        pthread_cond_broadcast(&st->pool_cv);
        st->cf_waiters++;
        int wrc = pthread_cond_timedwait(&st->pool_cv, &st->pool_mu, &deadline);
        st->cf_waiters--;
        if (wrc == ETIMEDOUT && st->n_pooled == 0) {
            rc = set_err(err, SEGLOG_ETIMEDOUT, 0,
                         "storage: no pre-created column family within %u ms (pool target %u)",
                         timeout_ms, st->opt.pub.cf_pool_target);
            break;
        }
    }
    char msg[SEGLOG_ERROR_MESSAGE_MAX] = "";
    if (rc == SEGLOG_OK) {
        bool found = false;
        pthread_rwlock_wrlock(&st->cf_lock);
        for (uint32_t i = 0; i < st->n_cfs; i++) {
            if (st->cfs[i].pooled) {
                st->cfs[i].pooled = false;
                *cf_no = st->cfs[i].cf_no;
                found = true;
                break;
            }
        }
        /* A count with no pooled CF behind it once handed out the number the caller's variable
         * held (0): its segment's records were then never written. */
        if (!found)
            snprintf(msg, sizeof msg,
                     "storage: the column family pool counts %u but none of the %u column "
                     "families is in it: no column family number to hand out",
                     st->n_pooled, st->n_cfs);
        pthread_rwlock_unlock(&st->cf_lock);
        if (found) {
            SEGLOG_ASSERT(st->n_pooled > 0);
            st->n_pooled--;
            pthread_cond_broadcast(&st->pool_cv); /* refill */
        } else {
            rc = set_err(err, SEGLOG_ECORRUPT, 0, "%s", msg);
        }
    }
    pthread_mutex_unlock(&st->pool_mu);
    if (rc == SEGLOG_ECORRUPT && msg[0])
        poison(st, rc, msg);
    return rc;
}

void store_cf_return(store *st, uint64_t cf_no)
{
    const char *why = NULL;
    pthread_mutex_lock(&st->pool_mu);
    pthread_rwlock_wrlock(&st->cf_lock);
    long i = cf_find(st, cf_no);
    if (i < 0) {
        why = "but does not exist";
    } else if (st->cfs[i].pooled) {
        why = "twice (it is in the pool already)";
    } else {
        st->cfs[i].pooled = true;
        st->n_pooled++;
        SEGLOG_ASSERT(st->n_pooled <= st->n_cfs);
    }
    pthread_rwlock_unlock(&st->cf_lock);
    pthread_cond_broadcast(&st->pool_cv);
    pthread_mutex_unlock(&st->pool_mu);
    if (why) { /* counting it again would make the pool's count lie (see store_cf_take) */
        char msg[SEGLOG_ERROR_MESSAGE_MAX];
        snprintf(msg, sizeof msg,
                 "storage: column family %" PRIu64 " given back to the pool %s", cf_no, why);
        poison(st, SEGLOG_ECORRUPT, msg);
    }
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

/* Puts back the dirty marks of CFs whose flush failed or never ran: a later checkpoint must not
 * pass ops whose records are still only in their memtables (RocksDB may recover from the error,
 * and then that checkpoint would flush the others and move on). */
static void remark_dirty(store *st, const uint64_t *cf_nos, uint32_t n)
{
    pthread_rwlock_wrlock(&st->cf_lock);
    for (uint32_t i = 0; i < n; i++) {
        long at = cf_find(st, cf_nos[i]);
        if (at >= 0)
            st->cfs[at].dirty = true;
    }
    pthread_rwlock_unlock(&st->cf_lock);
}

/* Tests only: whether an injected flush failure is due (never without SEGLOG_FAULT_INJECTION). */
static bool flush_fault_due(store *st)
{
#ifdef SEGLOG_FAULT_INJECTION
    unsigned left = atomic_load(&st->fail_flushes);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&st->fail_flushes, &left, left - 1))
            return true;
    }
#else
    (void)st;
#endif
    return false;
}

/* Flushes every CF written since the last checkpoint, then persists and announces checkpoint S. */
static int checkpoint_now(store *st, seglog_error *err)
{
    uint64_t s = atomic_load(&st->applied_seq);
    if (s <= atomic_load(&st->checkpoint_seq))
        return SEGLOG_OK;
    pthread_rwlock_wrlock(&st->cf_lock);
    uint32_t n = 0;
    rocksdb_column_family_handle_t **dirty = malloc((st->n_cfs + 1) * sizeof *dirty);
    uint64_t *dirty_nos = malloc((st->n_cfs + 1) * sizeof *dirty_nos);
    if (!dirty || !dirty_nos) {
        pthread_rwlock_unlock(&st->cf_lock);
        free(dirty);
        free(dirty_nos);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    }
    for (uint32_t i = 0; i < st->n_cfs; i++) {
        if (st->cfs[i].dirty) {
            st->cfs[i].dirty = false;
            dirty_nos[n] = st->cfs[i].cf_no;
            dirty[n++] = st->cfs[i].h;
        }
    }
    pthread_rwlock_unlock(&st->cf_lock);
    /* A handle dropped meanwhile stays valid (kept in the graveyard until close). */
    int rc = SEGLOG_OK;
    uint32_t i = 0;
    for (; i < n; i++) {
        if (flush_fault_due(st)) {
            rc = set_err(err, SEGLOG_EIO, EIO, "storage: flush: injected fault");
            break;
        }
        char *e = NULL;
        rocksdb_flush_cf(st->db, st->fopt, dirty[i], &e);
        if (e && strstr(e, "dropped")) {
            rocksdb_free(e);
            e = NULL;
        }
        rc = rocks_err(e, err, "flush");
        if (rc != SEGLOG_OK)
            break;
    }
    if (rc != SEGLOG_OK)
        remark_dirty(st, dirty_nos + i, n - i);
    free(dirty);
    free(dirty_nos);
    if (rc != SEGLOG_OK)
        return rc;
    wal_kill_point(STORE_KILL_BEFORE_CHECKPOINT);
    uint8_t v[8];
    wal_put64(v, s);
    char *e = NULL;
    rocksdb_put_cf(st->db, st->wopt, st->meta, KEY_CHECKPOINT, 1, (const char *)v, 8, &e);
    if (!e)
        rocksdb_flush_cf(st->db, st->fopt, st->meta, &e);
    rc = rocks_err(e, err, "checkpoint");
    if (rc != SEGLOG_OK)
        return rc;
    atomic_store(&st->checkpoint_seq, s);
    if (st->wal)
        wal_checkpoint(st->wal, s);
    return SEGLOG_OK;
}

static void *ckpt_main(void *arg)
{
    pthread_setname_np(pthread_self(), "seglog-ckpt");
    store *st = arg;
    pthread_mutex_lock(&st->ckpt_mu);
    while (!st->ckpt_stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        uint32_t ms = st->opt.pub.checkpoint_interval_ms;
        deadline.tv_sec += ms / 1000;
        deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->ckpt_cv, &st->ckpt_mu, &deadline);
        if (st->ckpt_stop)
            break;
        pthread_mutex_unlock(&st->ckpt_mu);
        seglog_error err = {0};
        if (checkpoint_now(st, &err) != SEGLOG_OK)
            fprintf(stderr, "seglog: checkpoint failed: %s\n", err.message);
        pthread_mutex_lock(&st->ckpt_mu);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
    return NULL;
}

/* ---- scans of the metadata at open ------------------------------------------------------------ */

/* A RocksDB iterator that stops on a read error looks just like one at the end of its data
 * (rocksdb_iter_valid is false either way); only rocksdb_iter_get_error tells them apart. Taking
 * an error for the end dropped logs (store_load) and made a CF whose records could not be read
 * look empty, so that the pool handed it to a new segment (sort_out_cfs). So every scan at open
 * ends in scan_end, which asks, and a read error fails the open. */
typedef struct scan {
    rocksdb_iterator_t *it;
    uint32_t *left; /* tests: entries still to yield before the injected error, or NULL */
} scan;

static void scan_begin(store *st, scan *sc, rocksdb_column_family_handle_t *cf, store_scan kind)
{
    sc->it = rocksdb_create_iterator_cf(st->db, st->ropt, cf);
    sc->left = NULL;
#ifdef SEGLOG_FAULT_INJECTION
    if (st->opt.fail_scan == kind)
        sc->left = &st->opt.fail_scan_after; /* counted over every scan of that kind */
#else
    (void)kind;
#endif
}

static bool scan_valid(const scan *sc)
{
    return (!sc->left || *sc->left > 0) && rocksdb_iter_valid(sc->it);
}

static void scan_next(scan *sc)
{
    if (sc->left)
        (*sc->left)--;
    rocksdb_iter_next(sc->it);
}

/* SEGLOG_OK if the scan stopped for want of data, not on a read error. */
static int scan_check(const scan *sc, seglog_error *err, const char *what)
{
    if (sc->left && *sc->left == 0)
        return set_err(err, SEGLOG_EIO, EIO, "storage: %s: read error (injected)", what);
    char *e = NULL;
    rocksdb_iter_get_error(sc->it, &e);
    return rocks_err(e, err, what);
}

static int scan_end(scan *sc, seglog_error *err, const char *what)
{
    int rc = scan_check(sc, err, what);
    rocksdb_iter_destroy(sc->it);
    sc->it = NULL;
    return rc;
}

/* ---- open ------------------------------------------------------------------------------------ */

/* Creates directory path unless it exists; *created says whether this call made it. */
static int dir_create(const char *path, bool *created, seglog_error *err)
{
    *created = false;
    if (mkdir(path, 0755) == 0) {
        *created = true;
        return SEGLOG_OK;
    }
    if (errno == EEXIST)
        return SEGLOG_OK;
    return set_err(err, SEGLOG_EIO, errno, "storage: cannot create directory %s: %s", path,
                   strerror(errno));
}

/* Makes the entries of directory path durable (a new file's or directory's name survives a crash
 * only once the directory holding it is fsynced). */
static int dir_fsync(const char *path, seglog_error *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return set_err(err, SEGLOG_EIO, errno, "storage: cannot open directory %s to fsync it: %s",
                       path, strerror(errno));
    int rc = SEGLOG_OK;
    if (fsync(fd) != 0)
        rc = set_err(err, SEGLOG_EIO, errno, "storage: fsync of directory %s failed: %s", path,
                     strerror(errno));
    close(fd);
    return rc;
}

/* Creates dir, dir/wal and dir/db (RocksDB would create the last one itself, without fsyncing
 * dir) and makes their names durable before anything is acknowledged: the WAL fsyncs the entries
 * of its files in dir/wal, but they are lost with dir/wal itself if its own entry is not. dir is
 * fsynced at every open, which also covers a subdirectory made by an open that died before its
 * fsync; the parent of dir only when this open made dir (the parent is not the store's, and may
 * not be readable). */
static int dirs_create(const char *dir, seglog_error *err)
{
    char path[STORE_PATH_MAX + 8];
    bool made_dir = false, made;
    int rc = dir_create(dir, &made_dir, err);
    snprintf(path, sizeof path, "%s/wal", dir);
    if (rc == SEGLOG_OK)
        rc = dir_create(path, &made, err);
    snprintf(path, sizeof path, "%s/db", dir);
    if (rc == SEGLOG_OK)
        rc = dir_create(path, &made, err);
    if (rc == SEGLOG_OK)
        rc = dir_fsync(dir, err);
    if (rc == SEGLOG_OK && made_dir) {
        snprintf(path, sizeof path, "%s", dir);
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/') /* "a/b/" names b */
            path[--n] = '\0';
        char *slash = strrchr(path, '/');
        if (!slash)
            snprintf(path, sizeof path, ".");
        else
            slash[slash == path ? 1 : 0] = '\0'; /* "/b": the root */
        rc = dir_fsync(path, err);
    }
    return rc;
}

static int open_rocks(store *st, const char *path, seglog_error *err)
{
    uint64_t budget = st->opt.pub.memory_budget_bytes;
    uint64_t wbs = budget / 8;
    if (wbs > STORE_WRITE_BUFFER_MAX_BYTES)
        wbs = STORE_WRITE_BUFFER_MAX_BYTES;
    if (wbs < (1u << 20))
        wbs = 1u << 20;
    st->dbopt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->dbopt, 1);
    rocksdb_options_set_create_missing_column_families(st->dbopt, 1);
    /* RocksDB flushes the largest memtable once the mutable ones pass this; memtables being
     * flushed still count against the budget, so trigger at half of it. */
    rocksdb_options_set_db_write_buffer_size(st->dbopt, (size_t)(budget / 2));
    rocksdb_options_set_write_buffer_size(st->dbopt, (size_t)wbs);
    rocksdb_options_set_arena_block_size(st->dbopt, 256u << 10);
    rocksdb_options_set_max_write_buffer_number(st->dbopt, 4);
    rocksdb_options_set_compression(st->dbopt, rocksdb_no_compression);
    rocksdb_options_set_max_background_jobs(st->dbopt, 2);
    rocksdb_options_set_keep_log_file_num(st->dbopt, 3);
    /* Only fatal lines in RocksDB's info LOG: Debian's librocksdb 7.8 aborts on an assertion
     * (WritableFileWriter, sync_without_flush_called_) when it logs again after a LOG write
     * failed, i.e. on a full disk (tests/crash/test_crash_faults.c, real ENOSPC). seglog's own
     * errors carry RocksDB's error text. */
    rocksdb_options_set_info_log_level(st->dbopt, 4 /* FATAL_LEVEL */);
    rocksdb_options_set_max_open_files(st->dbopt, 512);
    st->wopt = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(st->wopt, 1);
    st->ropt = rocksdb_readoptions_create();
    st->fopt = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(st->fopt, 1);

    size_t ncf = 0;
    char *e = NULL;
    char **names = rocksdb_list_column_families(st->dbopt, path, &ncf, &e);
    if (e) { /* a new store */
        rocksdb_free(e);
        e = NULL;
        if (names)
            rocksdb_list_column_families_destroy(names, 0);
        names = NULL;
        ncf = 0;
    }
    size_t total = ncf;
    bool have_meta = false;
    for (size_t i = 0; i < ncf; i++)
        if (strcmp(names[i], STORE_META_CF) == 0)
            have_meta = true;
    const char **cfnames = calloc(ncf + 2, sizeof *cfnames);
    const rocksdb_options_t **cfopts = calloc(ncf + 2, sizeof *cfopts);
    rocksdb_column_family_handle_t **handles = calloc(ncf + 2, sizeof *handles);
    int rc = SEGLOG_OK;
    if (!cfnames || !cfopts || !handles) {
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto out;
    }
    for (size_t i = 0; i < ncf; i++)
        cfnames[i] = names[i];
    if (ncf == 0)
        cfnames[total++] = "default";
    if (!have_meta)
        cfnames[total++] = STORE_META_CF;
    for (size_t i = 0; i < total; i++)
        cfopts[i] = st->dbopt;
    st->db = rocksdb_open_column_families(st->dbopt, path, (int)total, cfnames, cfopts, handles,
                                          &e);
    rc = rocks_err(e, err, "open RocksDB");
    if (rc != SEGLOG_OK)
        goto out;
    for (size_t i = 0; i < total; i++) {
        uint64_t cf_no;
        if (strcmp(cfnames[i], "default") == 0)
            st->deflt = handles[i];
        else if (strcmp(cfnames[i], STORE_META_CF) == 0)
            st->meta = handles[i];
        else if (cf_name_parse(cfnames[i], &cf_no) && cf_insert_locked(st, cf_no, handles[i],
                                                                          false) == 0) {
            if (cf_no >= st->next_cf_no)
                st->next_cf_no = cf_no + 1;
        } else {
            rc = set_err(err, SEGLOG_ECORRUPT, 0,
                         "storage: unexpected column family \"%s\" in %s", cfnames[i], path);
            rocksdb_column_family_handle_destroy(handles[i]);
        }
    }
out:
    if (names)
        rocksdb_list_column_families_destroy(names, ncf);
    free(cfnames);
    free(cfopts);
    free(handles);
    return rc;
}

static int check_format(store *st, seglog_error *err)
{
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(st->db, st->ropt, st->meta, KEY_FORMAT, 1, &vlen, &e);
    int rc = rocks_err(e, err, "read format version");
    if (rc != SEGLOG_OK)
        return rc;
    if (!v) {
        uint8_t f[4];
        wal_put32(f, STORE_FORMAT_VERSION);
        rocksdb_put_cf(st->db, st->wopt, st->meta, KEY_FORMAT, 1, (const char *)f, 4, &e);
        if (!e)
            rocksdb_flush_cf(st->db, st->fopt, st->meta, &e);
        return rocks_err(e, err, "write format version");
    }
    uint32_t fv = vlen >= 4 ? wal_get32((const uint8_t *)v) : 0;
    rocksdb_free(v);
    if (fv != STORE_FORMAT_VERSION)
        return set_err(err, SEGLOG_EVERSION, 0,
                       "storage: %s was written with store format version %u; this build reads "
                       "version %u",
                       st->dir, fv, STORE_FORMAT_VERSION);
    return SEGLOG_OK;
}

/* A u64 of the metadata (0 if absent). A read error fails the open: taking it for "no
 * checkpoint" would replay the WAL from a start it no longer holds. */
static int read_u64(store *st, const char *key, uint64_t *out, seglog_error *err)
{
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(st->db, st->ropt, st->meta, key, strlen(key), &vlen, &e);
    *out = 0;
    int rc = rocks_err(e, err, "read metadata");
    if (rc == SEGLOG_OK && v && vlen != 8)
        rc = set_err(err, SEGLOG_ECORRUPT, 0, "storage: metadata key \"%s\" holds %zu bytes, not 8",
                     key, vlen);
    else if (rc == SEGLOG_OK && v)
        *out = wal_get64((const uint8_t *)v);
    if (v)
        rocksdb_free(v);
    return rc;
}

/* After replay: CFs no live segment uses go to the pool if empty, else are dropped. Nothing is
 * decided unless both scans read to their end: a segment missed makes its CF look unused (and
 * dropped, or pooled for another segment), a CF whose first record cannot be read looks empty. */
static int sort_out_cfs(store *st, seglog_error *err)
{
    /* Its own marks: `dirty` must survive for the first checkpoint to flush what replay wrote. */
    bool *referenced = calloc(st->n_cfs + 1, sizeof *referenced);
    if (!referenced)
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    scan sc;
    scan_begin(st, &sc, st->meta, STORE_SCAN_SEGMENTS);
    uint8_t prefix = 'S';
    int rc = SEGLOG_OK;
    for (rocksdb_iter_seek(sc.it, (const char *)&prefix, 1); rc == SEGLOG_OK && scan_valid(&sc);
         scan_next(&sc)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(sc.it, &klen);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(sc.it, &vlen);
        if (klen == 0 || k[0] != 'S')
            break;
        if (klen != 17) {
            rc = set_err(err, SEGLOG_ECORRUPT, 0, "storage: segment key of %zu bytes", klen);
            break;
        }
        store_seg seg;
        if (store_seg_decode(v, vlen, get_be64(k + 1), get_be64(k + 9), &seg) != SEGLOG_OK) {
            rc = set_err(err, SEGLOG_ECORRUPT, 0,
                         "storage: bad metadata of segment %" PRIu64 " of log %" PRIu64,
                         get_be64(k + 9), get_be64(k + 1));
            break;
        }
        if (seg.state == STORE_SEG_TRIMMED)
            continue;
        long i = cf_find(st, seg.cf_no);
        if (i >= 0)
            referenced[i] = true;
    }
    int src = scan_end(&sc, rc == SEGLOG_OK ? err : NULL, "scan segments");
    if (rc == SEGLOG_OK)
        rc = src;
    bool *empty = rc == SEGLOG_OK ? calloc(st->n_cfs + 1, sizeof *empty) : NULL;
    if (rc == SEGLOG_OK && !empty)
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    for (uint32_t i = 0; i < st->n_cfs && rc == SEGLOG_OK; i++) {
        if (referenced[i])
            continue;
        scan_begin(st, &sc, st->cfs[i].h, STORE_SCAN_CF_EMPTY);
        rocksdb_iter_seek_to_first(sc.it);
        empty[i] = !scan_valid(&sc);
        char what[64];
        snprintf(what, sizeof what, "read column family %" PRIu64, st->cfs[i].cf_no);
        rc = scan_end(&sc, err, what);
    }
    /* decided only now, so that a failed open has pooled and queued nothing */
    for (uint32_t i = 0; i < st->n_cfs && rc == SEGLOG_OK; i++) {
        if (referenced[i])
            continue;
        if (empty[i] && st->n_pooled < 2u * st->opt.pub.cf_pool_target) {
            st->cfs[i].pooled = true;
            st->n_pooled++;
        } else {
            st->drops[st->n_drops++] = st->cfs[i].cf_no;
        }
    }
    free(empty);
    free(referenced);
    return rc;
}

static void store_free(store *st)
{
    if (!st)
        return;
    if (st->db) {
        for (uint32_t i = 0; i < st->n_cfs; i++)
            rocksdb_column_family_handle_destroy(st->cfs[i].h);
        for (uint32_t i = 0; i < st->n_graveyard; i++)
            rocksdb_column_family_handle_destroy(st->graveyard[i]);
        if (st->meta)
            rocksdb_column_family_handle_destroy(st->meta);
        if (st->deflt)
            rocksdb_column_family_handle_destroy(st->deflt);
        rocksdb_close(st->db);
    }
    if (st->dbopt)
        rocksdb_options_destroy(st->dbopt);
    if (st->wopt)
        rocksdb_writeoptions_destroy(st->wopt);
    if (st->ropt)
        rocksdb_readoptions_destroy(st->ropt);
    if (st->fopt)
        rocksdb_flushoptions_destroy(st->fopt);
    if (st->batch)
        rocksdb_writebatch_destroy(st->batch);
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    free(st->cfs);
    free(st->graveyard);
    free(st->drops);
    free(st->pending_drops);
    free(st->batch_cfs);
    free(st->recs_scratch);
    free(st->dropped_scratch);
    pthread_rwlock_destroy(&st->cf_lock);
    pthread_mutex_destroy(&st->pool_mu);
    pthread_cond_destroy(&st->pool_cv);
    pthread_mutex_destroy(&st->ckpt_mu);
    pthread_cond_destroy(&st->ckpt_cv);
    pthread_mutex_destroy(&st->apply_mu);
    pthread_mutex_destroy(&st->iter_mu);
    pthread_cond_destroy(&st->apply_cv);
    free(st);
}

/* Lets the apply thread drain its queue, then stops it. */
static void stop_apply(store *st)
{
    if (!st->apply_started)
        return;
    pthread_mutex_lock(&st->apply_mu);
    st->apply_stop = true;
    pthread_cond_broadcast(&st->apply_cv);
    pthread_mutex_unlock(&st->apply_mu);
    pthread_join(st->apply_thread, NULL);
    st->apply_started = false;
}

int store_open(store **out, const char *dir, const store_options *opts, seglog_error *err)
{
    *out = NULL;
    if (strlen(dir) + 8 >= STORE_PATH_MAX)
        return set_err(err, SEGLOG_EINVAL, 0, "storage: directory path too long");
    if (opts->pub.cf_pool_target > STORE_POOL_TARGET_MAX)
        return set_err(err, SEGLOG_EINVAL, 0, "storage: cf_pool_target %u over %u",
                       opts->pub.cf_pool_target, STORE_POOL_TARGET_MAX);
#ifndef SEGLOG_FAULT_INJECTION
    if (opts->fail_scan != STORE_SCAN_NONE)
        return set_err(err, SEGLOG_ENOTSUP, 0,
                       "storage: fault injection requested but not compiled in "
                       "(configure with -DSEGLOG_FAULT_INJECTION=ON)");
#endif
    store *st = calloc(1, sizeof *st);
    if (!st)
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    snprintf(st->dir, sizeof st->dir, "%s", dir);
    st->opt = *opts;
    pthread_rwlock_init(&st->cf_lock, NULL);
    pthread_mutex_init(&st->pool_mu, NULL);
    pthread_cond_init(&st->pool_cv, NULL);
    pthread_mutex_init(&st->ckpt_mu, NULL);
    pthread_cond_init(&st->ckpt_cv, NULL);
    pthread_mutex_init(&st->apply_mu, NULL);
    pthread_mutex_init(&st->iter_mu, NULL);
    pthread_cond_init(&st->apply_cv, NULL);
    st->next_cf_no = 1;
    st->lock_fd = -1;
    st->cfs = calloc(STORE_CF_MAX, sizeof *st->cfs);
    st->graveyard = calloc(STORE_CF_MAX, sizeof *st->graveyard);
    st->drops = calloc(STORE_CF_MAX, sizeof *st->drops);
    st->pending_drops = calloc(STORE_CF_MAX, sizeof *st->pending_drops);
    st->batch_cfs = calloc(STORE_CF_MAX, sizeof *st->batch_cfs);
    st->recs_scratch = calloc(STORE_RECS_PER_OP_MAX, sizeof *st->recs_scratch);
    st->dropped_scratch = calloc(STORE_OPS_MAX_DROPPED, sizeof *st->dropped_scratch);
    st->batch = rocksdb_writebatch_create();
    int rc = SEGLOG_OK;
    if (!st->cfs || !st->graveyard || !st->drops || !st->pending_drops || !st->batch_cfs ||
        !st->recs_scratch || !st->dropped_scratch) {
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto fail;
    }
    char path[STORE_PATH_MAX + 8];
    rc = dirs_create(dir, err);
    if (rc != SEGLOG_OK)
        goto fail;

    /* The store's own lock, held until close: a second process gets a clear SEGLOG_EBUSY here
     * rather than RocksDB's or the WAL's. */
    snprintf(path, sizeof path, "%s/" STORE_LOCK_FILE, dir);
    st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->lock_fd < 0) {
        rc = set_err(err, SEGLOG_EIO, errno, "storage: cannot create %s: %s", path,
                     strerror(errno));
        goto fail;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? set_err(err, SEGLOG_EBUSY, errno,
                           "storage: %s is in use by another process (lock on %s held)", dir,
                           STORE_LOCK_FILE)
                 : set_err(err, SEGLOG_EIO, errno, "storage: cannot lock %s: %s", path,
                           strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof path, "%s/db", dir);
    rc = open_rocks(st, path, err);
    if (rc == SEGLOG_OK)
        rc = check_format(st, err);
    if (rc != SEGLOG_OK)
        goto fail;
    uint64_t ckpt = 0;
    rc = read_u64(st, KEY_CHECKPOINT, &ckpt, err);
    if (rc != SEGLOG_OK)
        goto fail;
    atomic_store(&st->checkpoint_seq, ckpt);
    atomic_store(&st->applied_seq, ckpt);

    wal_options wo;
    wal_options_init(&wo);
    wo.file_size_bytes = opts->pub.wal_file_size_bytes;
    wo.inflight_groups = opts->pub.wal_inflight_groups;
    wo.enqueue_timeout_ms = STORE_WAL_ENQUEUE_TIMEOUT_MS;
    uint64_t rec_max = (uint64_t)opts->pub.record_max_bytes + 4096u + 64u;
    if (wo.group_max_bytes < rec_max * 2)
        wo.group_max_bytes = (uint32_t)(rec_max * 2);
    wo.record_max_bytes = (uint32_t)(wo.group_max_bytes - WAL_FRAME_HEADER_BYTES - 8u);
    wo.faults = opts->faults;
    wo.n_faults = opts->n_faults;
    snprintf(path, sizeof path, "%s/wal", dir);
    /* The apply thread runs before the WAL opens (replay applies synchronously, before any op can
     * be queued), so that fail: below can always stop it. */
    if (pthread_create(&st->apply_thread, NULL, apply_main, st) != 0) {
        rc = set_err(err, SEGLOG_EIO, errno, "storage: cannot start the apply thread");
        goto fail;
    }
    st->apply_started = true;
    st->replaying = true;
    wal_scan_report rep;
    rc = wal_open(&st->wal, path, &wo, ckpt + 1, replay_one, st, &rep, err);
    st->replaying = false;
    if (rc != SEGLOG_OK)
        goto fail;
    rc = sort_out_cfs(st, err);
    if (rc != SEGLOG_OK)
        goto fail;
    if (pthread_create(&st->pool_thread, NULL, pool_main, st) != 0) {
        rc = set_err(err, SEGLOG_EIO, errno, "storage: cannot start the pool thread");
        goto fail;
    }
    if (pthread_create(&st->ckpt_thread, NULL, ckpt_main, st) != 0) {
        pthread_mutex_lock(&st->pool_mu);
        st->stop = true;
        pthread_cond_broadcast(&st->pool_cv);
        pthread_mutex_unlock(&st->pool_mu);
        pthread_join(st->pool_thread, NULL);
        rc = set_err(err, SEGLOG_EIO, errno, "storage: cannot start the checkpoint thread");
        goto fail;
    }
    *out = st;
    return SEGLOG_OK;
fail:
    wal_close(st->wal);
    stop_apply(st);
    store_free(st);
    return rc;
}

struct store_iter {
    struct store_iter *prev, *next;
    rocksdb_iterator_t *it; /* NULL once store_close destroyed it */
    uint64_t cf_no;
};

int store_iter_open(store *st, uint64_t cf_no, uint64_t lsn, store_iter **out, seglog_error *err)
{
    store_iter *si = calloc(1, sizeof *si);
    if (!si)
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    si->cf_no = cf_no;
    pthread_rwlock_rdlock(&st->cf_lock);
    long i = cf_find(st, cf_no);
    if (i >= 0) /* a dropped CF's handle stays valid until close (graveyard), and its data with
                 * the iterator */
        si->it = rocksdb_create_iterator_cf(st->db, st->ropt, st->cfs[i].h);
    pthread_rwlock_unlock(&st->cf_lock);
    if (!si->it) {
        free(si);
        return set_err(err, SEGLOG_ENOTFOUND, 0, "storage: column family %" PRIu64 " is gone",
                       cf_no);
    }
    uint8_t k[8];
    put_be64(k, lsn);
    rocksdb_iter_seek(si->it, (const char *)k, sizeof k);
    pthread_mutex_lock(&st->iter_mu);
    si->next = st->iters;
    if (st->iters)
        st->iters->prev = si;
    st->iters = si;
    pthread_mutex_unlock(&st->iter_mu);
    *out = si;
    return SEGLOG_OK;
}

uint64_t store_iter_cf(const store_iter *it)
{
    return it->cf_no;
}

int store_iter_read(store_iter *si, uint64_t lsn, void **payload, size_t *len, uint64_t *time_us,
                    seglog_error *err)
{
    for (int seeks = 0; si->it && seeks < 2; seeks++) {
        if (!rocksdb_iter_valid(si->it)) {
            char *e = NULL;
            rocksdb_iter_get_error(si->it, &e);
            int rc = rocks_err(e, err, "read records");
            return rc != SEGLOG_OK ? rc
                                   : set_err(err, SEGLOG_ENOTFOUND, 0,
                                             "storage: no record %" PRIu64 " (yet)", lsn);
        }
        size_t klen = 0, vlen = 0;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(si->it, &klen);
        if (klen != 8)
            return set_err(err, SEGLOG_ECORRUPT, 0, "storage: record key of %zu bytes", klen);
        uint64_t at = get_be64(k);
        if (at > lsn)
            break;
        if (at < lsn) { /* the caller skipped ahead (a trim): reposition */
            uint8_t want[8];
            put_be64(want, lsn);
            rocksdb_iter_seek(si->it, (const char *)want, sizeof want);
            continue;
        }
        const char *v = rocksdb_iter_value(si->it, &vlen);
        if (vlen < 8)
            return set_err(err, SEGLOG_ECORRUPT, 0,
                           "storage: record %" PRIu64 " value of %zu bytes", lsn, vlen);
        *time_us = wal_get64((const uint8_t *)v);
        *len = vlen - 8;
        *payload = malloc(*len ? *len : 1);
        if (!*payload)
            return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        memcpy(*payload, v + 8, *len);
        rocksdb_iter_next(si->it);
        return SEGLOG_OK;
    }
    return set_err(err, SEGLOG_ENOTFOUND, 0, "storage: no record %" PRIu64, lsn);
}

void store_iter_close(store *st, store_iter *si)
{
    if (!si)
        return;
    if (st) {
        pthread_mutex_lock(&st->iter_mu);
        if (si->prev)
            si->prev->next = si->next;
        else if (st->iters == si)
            st->iters = si->next;
        if (si->next)
            si->next->prev = si->prev;
        if (si->it)
            rocksdb_iter_destroy(si->it);
        pthread_mutex_unlock(&st->iter_mu);
    }
    free(si);
}

/* Destroys the cursors readers left open (before RocksDB closes); their owners free them. */
static void close_iters(store *st)
{
    pthread_mutex_lock(&st->iter_mu);
    for (store_iter *si = st->iters, *next; si; si = next) {
        next = si->next;
        if (si->it)
            rocksdb_iter_destroy(si->it);
        si->it = NULL;
        si->prev = si->next = NULL;
    }
    st->iters = NULL;
    pthread_mutex_unlock(&st->iter_mu);
}

void store_close(store *st)
{
    if (!st)
        return;
    /* The checkpointer first: it calls into the WAL, which is closed next. */
    pthread_mutex_lock(&st->ckpt_mu);
    st->ckpt_stop = true;
    pthread_cond_broadcast(&st->ckpt_cv);
    pthread_mutex_unlock(&st->ckpt_mu);
    pthread_join(st->ckpt_thread, NULL);
    wal_close(st->wal); /* every accepted op is durable (and queued) or failed after this */
    st->wal = NULL;
    stop_apply(st);     /* ... and applied after this */
    pthread_mutex_lock(&st->pool_mu);
    st->stop = true;
    pthread_cond_broadcast(&st->pool_cv);
    pthread_mutex_unlock(&st->pool_mu);
    pthread_join(st->pool_thread, NULL);
    seglog_error err = {0};
    if (checkpoint_now(st, &err) != SEGLOG_OK)
        fprintf(stderr, "seglog: final checkpoint failed: %s\n", err.message);
    close_iters(st);
    store_free(st);
}

/* ---- reading metadata and records -------------------------------------------------------------- */

/* Each scan must read to its end (see scan_end): a read error taken for the end of the logs
 * dropped the logs after it, one taken for the end of a log's segments cut its chain short. */
int store_load(store *st, store_log_fn fn, void *ctx, seglog_error *err)
{
    scan it, si;
    scan_begin(st, &it, st->meta, STORE_SCAN_LOGS);
    scan_begin(st, &si, st->meta, STORE_SCAN_LOG_SEGMENTS);
    size_t cap = 16;
    store_seg *segs = malloc(cap * sizeof *segs);
    int rc = segs ? SEGLOG_OK : set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    uint8_t prefix = 'L';
    for (rocksdb_iter_seek(it.it, (const char *)&prefix, 1); rc == SEGLOG_OK && scan_valid(&it);
         scan_next(&it)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it.it, &klen);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it.it, &vlen);
        if (klen == 0 || k[0] != 'L')
            break;
        if (klen != 9) {
            rc = set_err(err, SEGLOG_ECORRUPT, 0, "storage: log key of %zu bytes", klen);
            break;
        }
        store_log log;
        uint64_t log_id = get_be64(k + 1);
        if (store_log_decode(v, vlen, log_id, &log) != SEGLOG_OK) {
            rc = set_err(err, SEGLOG_ECORRUPT, 0, "storage: bad metadata of log %" PRIu64, log_id);
            break;
        }
        size_t n = 0;
        uint8_t sk[9];
        sk[0] = 'S';
        put_be64(sk + 1, log_id);
        for (rocksdb_iter_seek(si.it, (const char *)sk, 9); scan_valid(&si); scan_next(&si)) {
            const uint8_t *k2 = (const uint8_t *)rocksdb_iter_key(si.it, &klen);
            const uint8_t *v2 = (const uint8_t *)rocksdb_iter_value(si.it, &vlen);
            if (klen < 9 || memcmp(k2, sk, 9) != 0)
                break;
            if (klen != 17) {
                rc = set_err(err, SEGLOG_ECORRUPT, 0,
                             "storage: segment key of %zu bytes in log %" PRIu64, klen, log_id);
                break;
            }
            if (n == cap) {
                store_seg *bigger = realloc(segs, 2 * cap * sizeof *segs);
                if (!bigger) {
                    rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
                    break;
                }
                segs = bigger;
                cap *= 2;
            }
            if (store_seg_decode(v2, vlen, log_id, get_be64(k2 + 9), &segs[n]) != SEGLOG_OK) {
                rc = set_err(err, SEGLOG_ECORRUPT, 0,
                             "storage: bad metadata of segment %" PRIu64 " of log %" PRIu64,
                             get_be64(k2 + 9), log_id);
                break;
            }
            n++;
        }
        if (rc == SEGLOG_OK) {
            char what[64];
            snprintf(what, sizeof what, "read the segments of log %" PRIu64, log_id);
            rc = scan_check(&si, err, what);
        }
        if (rc == SEGLOG_OK)
            rc = fn(ctx, &log, segs, n);
    }
    int lrc = scan_end(&it, rc == SEGLOG_OK ? err : NULL, "read the logs");
    if (rc == SEGLOG_OK)
        rc = lrc;
    free(segs);
    scan_end(&si, NULL, "");
    return rc;
}

int store_read(store *st, uint64_t cf_no, uint64_t lsn, void **payload, size_t *len,
               uint64_t *time_us, seglog_error *err)
{
    uint8_t k[8];
    put_be64(k, lsn);
    pthread_rwlock_rdlock(&st->cf_lock);
    long i = cf_find(st, cf_no);
    if (i < 0) {
        pthread_rwlock_unlock(&st->cf_lock);
        return set_err(err, SEGLOG_ENOTFOUND, 0, "storage: column family %" PRIu64 " is gone",
                       cf_no);
    }
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(st->db, st->ropt, st->cfs[i].h, (const char *)k, 8, &vlen, &e);
    pthread_rwlock_unlock(&st->cf_lock);
    int rc = rocks_err(e, err, "read record");
    if (rc != SEGLOG_OK)
        return rc;
    if (!v)
        return set_err(err, SEGLOG_ENOTFOUND, 0, "storage: no record %" PRIu64, lsn);
    if (vlen < 8) {
        rocksdb_free(v);
        return set_err(err, SEGLOG_ECORRUPT, 0, "storage: record %" PRIu64 " value of %zu bytes",
                       lsn, vlen);
    }
    *time_us = wal_get64((const uint8_t *)v);
    *len = vlen - 8;
    *payload = malloc(*len ? *len : 1);
    if (!*payload) {
        rocksdb_free(v);
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    }
    memcpy(*payload, v + 8, *len);
    rocksdb_free(v);
    return SEGLOG_OK;
}

int store_fail_checkpoint_flushes(store *st, unsigned n)
{
#ifdef SEGLOG_FAULT_INJECTION
    atomic_store(&st->fail_flushes, n);
    return SEGLOG_OK;
#else
    (void)st;
    (void)n;
    return SEGLOG_ENOTSUP;
#endif
}

int store_fault_pool_miscount(store *st)
{
#ifdef SEGLOG_FAULT_INJECTION
    pthread_mutex_lock(&st->pool_mu);
    pthread_rwlock_wrlock(&st->cf_lock);
    for (uint32_t i = 0; i < st->n_cfs; i++)
        st->cfs[i].pooled = false; /* unreferenced: the next open adopts them again */
    pthread_rwlock_unlock(&st->cf_lock);
    /* at least the target, so that the pool thread puts no new CF behind the count */
    if (st->n_pooled < st->opt.pub.cf_pool_target)
        st->n_pooled = st->opt.pub.cf_pool_target;
    if (st->n_pooled == 0)
        st->n_pooled = 1;
    pthread_mutex_unlock(&st->pool_mu);
    return SEGLOG_OK;
#else
    (void)st;
    return SEGLOG_ENOTSUP;
#endif
}

int store_fault_miss_next_cf(store *st)
{
#ifdef SEGLOG_FAULT_INJECTION
    atomic_store(&st->fault_miss_cf, true);
    return SEGLOG_OK;
#else
    (void)st;
    return SEGLOG_ENOTSUP;
#endif
}

void store_pause_apply(store *st, bool pause)
{
    pthread_mutex_lock(&st->apply_mu);
    st->apply_paused = pause;
    pthread_cond_broadcast(&st->apply_cv);
    pthread_mutex_unlock(&st->apply_mu);
}

int store_failure(store *st, char *msg, size_t cap)
{
    wal_stats ws;
    if (st->wal) {
        wal_stats_get(st->wal, &ws);
        if (ws.poisoned) {
            snprintf(msg, cap, "%s", ws.poison_message);
            return ws.poison_errno ? ws.poison_errno : EIO;
        }
    }
    pthread_mutex_lock(&st->apply_mu);
    int e = st->apply_error != 0 ? EIO : 0;
    if (e)
        snprintf(msg, cap, "%s", st->apply_msg);
    pthread_mutex_unlock(&st->apply_mu);
    return e;
}

void store_stats_get(store *st, store_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&st->cf_lock);
    out->column_families = st->n_cfs + 2;
    for (uint32_t i = 0; i < st->n_cfs; i++) {
        uint64_t v = 0;
        if (rocksdb_property_int_cf(st->db, st->cfs[i].h, "rocksdb.cur-size-all-mem-tables",
                                    &v) == 0)
            out->memtable_bytes += v;
    }
    pthread_rwlock_unlock(&st->cf_lock);
    uint64_t v = 0;
    if (rocksdb_property_int_cf(st->db, st->meta, "rocksdb.cur-size-all-mem-tables", &v) == 0)
        out->memtable_bytes += v;
    pthread_mutex_lock(&st->pool_mu);
    out->cf_pool = st->n_pooled;
    out->cf_created = st->n_created;
    out->cf_recycled = st->n_recycled;
    out->cf_dropped = st->n_dropped;
    pthread_mutex_unlock(&st->pool_mu);
    out->memory_budget_bytes = st->opt.pub.memory_budget_bytes;
    out->applied_seq = atomic_load(&st->applied_seq);
    out->checkpoint_seq = atomic_load(&st->checkpoint_seq);
    if (st->wal)
        wal_stats_get(st->wal, &out->wal);
}
