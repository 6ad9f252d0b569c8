/*
 * store.h — the durable state machine under the log store, as seen by loglet/.
 *
 * storage/ turns operations on logs (create, append, seal, extend, seal+extend, trim) into WAL
 * records, and once a record is durable applies it to RocksDB in one write batch, then reports it
 * to the caller. It owns RocksDB (a column family per segment, one for metadata), the column
 * family pool, the WAL, recovery (replay of the WAL from the checkpoint) and the checkpointer.
 * It knows logs only as keys and values: sequencing, waiting and visibility live in loglet/.
 */
#ifndef SEGLOG_STORE_H
#define SEGLOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seglog.h"
#include "wal.h"

#define STORE_FORMAT_VERSION 1u
#define STORE_OPS_MAX_DROPPED 4096u /* segments one trim may drop */

typedef enum store_op_type {
    STORE_OP_CREATE_LOG = 16,
    STORE_OP_APPEND = 17,
    STORE_OP_SEAL = 18,
    STORE_OP_EXTEND = 19,
    STORE_OP_SEAL_EXTEND = 20,
    STORE_OP_TRIM = 21,
} store_op_type;

typedef enum store_seg_state {
    STORE_SEG_OPEN = 1,
    STORE_SEG_SEALED = 2,
    STORE_SEG_TRIMMED = 3,
} store_seg_state;

/* A segment's persisted metadata (absolute values, so that applying twice is harmless). */
typedef struct store_seg {
    uint64_t log_id;
    uint64_t seg_id;
    uint64_t base;      /* first LSN */
    uint64_t next_lsn;  /* first LSN after its last record */
    uint64_t sealed_at; /* SEALED: its tail; else 0 */
    uint64_t bytes;     /* payload bytes written to it */
    uint64_t cf_no;     /* its column family "cf-%08llu" */
    uint8_t state;      /* store_seg_state */
} store_seg;

typedef struct store_log {
    uint64_t log_id;
    uint64_t version;    /* chain version */
    uint64_t trim_point; /* last trimmed LSN, 0 if none */
    uint64_t created_us;
} store_log;

/* One operation. Which fields count depends on type:
 *   CREATE_LOG:  log, seg (its first segment)
 *   APPEND:      log.log_id, seg (the segment after the append), first_lsn, n, recs, time_us
 *   SEAL:        log (version after), seg (sealed)
 *   EXTEND:      log (version after), seg (the new segment)
 *   SEAL_EXTEND: log (version after), seg (the sealed one), seg2 (the new one)
 *   TRIM:        log (trim point and version after), dropped[] (segments now trimmed, with their
 *                CFs), seg (if partly trimmed: the segment whose prefix is deleted, else seg_id 0) */
typedef struct store_op {
    uint8_t type;
    store_log log;
    store_seg seg;
    store_seg seg2;
    uint64_t first_lsn;
    uint32_t n;
    uint64_t time_us;
    const seglog_buf *recs;
    uint32_t n_dropped;
    const store_seg *dropped;
} store_op;

typedef struct store store;

/* Called on the apply thread, in WAL order, once a durable op is in RocksDB (status SEGLOG_OK), or
 * could not be written there (the store then refuses writes). op is valid during the call only. */
typedef void (*store_applied_fn)(void *ctx, const store_op *op, int status);

/* The scans of the metadata (and of unused CFs) at open, for tests that inject a read error. */
typedef enum store_scan {
    STORE_SCAN_NONE = 0,
    STORE_SCAN_SEGMENTS = 1,     /* store_open: which CFs live segments use */
    STORE_SCAN_CF_EMPTY = 2,     /* store_open: whether an unused CF is empty */
    STORE_SCAN_LOGS = 3,         /* store_load: the logs */
    STORE_SCAN_LOG_SEGMENTS = 4, /* store_load: each log's segments */
} store_scan;

typedef struct store_options {
    seglog_options pub;
    const wal_fault *faults;
    size_t n_faults;
    store_applied_fn applied; /* may be NULL */
    void *applied_ctx;
    /* Tests only (-DSEGLOG_FAULT_INJECTION=ON, else store_open refuses it with SEGLOG_ENOTSUP):
     * the scan fail_scan ends with a read error after fail_scan_after entries (in all, over every
     * time it runs), as a RocksDB iterator does on a bad block. */
    store_scan fail_scan;
    uint32_t fail_scan_after;
} store_options;

/* A durable op on its way to RocksDB. Its records can be read (store_pending_read) from the
 * moment store_done_fn hands it over until store_applied_fn has returned for the same op. */
typedef struct store_pending store_pending;

/* Called on the WAL thread, in WAL order, once the op is durable (SEGLOG_OK) or has failed, before
 * the apply thread can see it. It reaches RocksDB later, on the apply thread (store_applied_fn): a
 * RocksDB stall (a column family being created holds RocksDB's write thread for tens to hundreds
 * of milliseconds) delays visibility in RocksDB but never the acknowledgement; and readers need
 * not wait for it either: pend (NULL if the op failed) serves the op's records meanwhile. */
typedef void (*store_done_fn)(void *ctx, int status, uint64_t seq, const store_pending *pend);

/* Copies record lsn of a pending APPEND op (malloc'ed: free()). SEGLOG_ENOTFOUND if the op does
 * not hold lsn, SEGLOG_ENOMEM. Records may be large: the caller copies without holding its locks
 * and keeps the op from being let go meanwhile (loglet pins it). */
int store_pending_read(const store_pending *pend, uint64_t lsn, void **payload, size_t *len,
                       uint64_t *time_us);

/* Opens RocksDB in dir/db and the WAL in dir/wal (creating both), replays the WAL from the
 * checkpoint, adopts or drops unreferenced column families, starts the pool and checkpoint threads. */
int store_open(store **out, const char *dir, const store_options *opts, seglog_error *err);

/* Final checkpoint, then closes everything. The caller has stopped submitting. */
void store_close(store *st);

/* Enqueues an op in the WAL without ever waiting: SEGLOG_EFULL when the queue has no room (the
 * caller releases its locks and calls store_wait_space). done is called exactly once.
 * SEGLOG_ECORRUPT if the op writes a column family that does not exist or is in the pool: the
 * store is then poisoned (a bookkeeping error above; the op is refused before it is durable). */
int store_submit(store *st, const store_op *op, store_done_fn done, void *ctx, seglog_error *err);
int store_wait_space(store *st, uint32_t bytes, uint32_t timeout_ms, seglog_error *err);

/* Bytes the encoded op takes in the WAL (for store_wait_space). */
uint32_t store_op_encoded_size(const store_op *op);

/* Iterates the persisted logs and their segments (oldest first) after open. */
typedef int (*store_log_fn)(void *ctx, const store_log *log, const store_seg *segs, size_t n);
int store_load(store *st, store_log_fn fn, void *ctx, seglog_error *err);

/* Reads record lsn of the segment stored in CF cf_no. SEGLOG_ENOTFOUND if absent (or the CF is
 * gone). On success *payload is malloc'ed (free()), *len and *time_us are set. */
int store_read(store *st, uint64_t cf_no, uint64_t lsn, void **payload, size_t *len,
               uint64_t *time_us, seglog_error *err);

/* A forward cursor over one segment's column family, for readers going through it in LSN order:
 * one iterator step per record instead of a point lookup. It sees what was applied when it was
 * opened. store_close destroys every cursor still open (their owners then only free them with
 * store_iter_close(NULL, it)). */
typedef struct store_iter store_iter;
int store_iter_open(store *st, uint64_t cf_no, uint64_t lsn, store_iter **out, seglog_error *err);
uint64_t store_iter_cf(const store_iter *it);
/* Record lsn if the cursor has it (then steps past it); SEGLOG_ENOTFOUND if it does not (past
 * the end of what it sees: open a new one). Same output as store_read. */
int store_iter_read(store_iter *it, uint64_t lsn, void **payload, size_t *len, uint64_t *time_us,
                    seglog_error *err);
void store_iter_close(store *st, store_iter *it);

/* Takes a pre-created column family for a new segment, waiting up to timeout_ms for the pool.
 * SEGLOG_ECORRUPT if the pool's count has no CF behind it: the store is then poisoned. */
int store_cf_take(store *st, uint64_t *cf_no, uint32_t timeout_ms, seglog_error *err);
/* Returns an unused one (an op that was never submitted). A CF that was not taken (unknown, or in
 * the pool already) poisons the store (SEGLOG_ECORRUPT, see store_failure). */
void store_cf_return(store *st, uint64_t cf_no);

void store_cf_name(char dst[32], uint64_t cf_no);

/* Tests only: the next n checkpoint flushes fail, as if RocksDB had returned an error
 * (SEGLOG_ENOTSUP without -DSEGLOG_FAULT_INJECTION=ON). */
int store_fail_checkpoint_flushes(store *st, unsigned n);

/* Tests only: takes every column family out of the pool but leaves the pool's count (at least
 * the pool target, so that the pool thread adds none), as a bookkeeping error would: the next
 * store_cf_take sees a count and no CF (SEGLOG_ENOTSUP without -DSEGLOG_FAULT_INJECTION=ON). */
int store_fault_pool_miscount(store *st);

/* Tests only: the apply thread's next lookup of a column family to write (outside replay) finds
 * none, as if the CF had been dropped after the op was submitted (SEGLOG_ENOTSUP without
 * -DSEGLOG_FAULT_INJECTION=ON). */
int store_fault_miss_next_cf(store *st);

/* Tests only: holds the apply thread (ops stay durable but out of RocksDB) until resumed. */
void store_pause_apply(store *st, bool pause);

/* Why writes are refused, if they are: the WAL's poisoning (with errno, file and offset) or a
 * failed RocksDB write. Returns 0 if the store is healthy. */
int store_failure(store *st, char *msg, size_t cap);

typedef struct store_stats {
    uint64_t column_families;
    uint64_t cf_pool;
    uint64_t cf_created;  /* since open, by the pool thread */
    uint64_t cf_recycled; /* since open: trimmed segments' CFs emptied and pooled again */
    uint64_t cf_dropped;  /* since open */
    uint64_t memory_budget_bytes;
    uint64_t memtable_bytes;
    uint64_t applied_seq;
    uint64_t checkpoint_seq;
    wal_stats wal;
} store_stats;

void store_stats_get(store *st, store_stats *out);

/* Op codec (exposed for tests and fuzzing). encode writes store_op_encoded_size(op) bytes. decode
 * checks every length against len; recs/dropped point into a caller-provided scratch area. */
void store_op_encode(const store_op *op, uint8_t *dst);
/* The part before the payloads (so that payloads can be gathered without a copy). */
uint32_t store_op_head_size(const store_op *op);
uint32_t store_op_encode_head(const store_op *op, uint8_t *dst);
/* An encoded APPEND op's first LSN, record count and time; with offs (n + 1 entries), where each
 * record starts in src (offs[n] = the end of the last). */
int store_op_append_index(const uint8_t *src, uint32_t len, uint64_t *first, uint32_t *n,
                          uint64_t *time_us, uint32_t *offs);
int store_op_decode(const uint8_t *src, uint32_t len, uint8_t type, store_op *op,
                    seglog_buf *recs_scratch, uint32_t recs_cap, store_seg *dropped_scratch,
                    uint32_t dropped_cap, seglog_error *err);

/* Metadata value codecs (exposed for tests and fuzzing). */
#define STORE_SEG_VALUE_BYTES 57u
#define STORE_LOG_VALUE_BYTES 24u
void store_seg_encode(const store_seg *seg, uint8_t dst[STORE_SEG_VALUE_BYTES]);
int store_seg_decode(const uint8_t *src, size_t len, uint64_t log_id, uint64_t seg_id,
                     store_seg *out);
void store_log_encode(const store_log *log, uint8_t dst[STORE_LOG_VALUE_BYTES]);
int store_log_decode(const uint8_t *src, size_t len, uint64_t log_id, store_log *out);

#endif /* SEGLOG_STORE_H */
