/*
 * store_inspect.h — a read-only view of a store directory, for tools/seglog-dump (and tests).
 *
 * It shows what a reopen would show without opening the store: RocksDB opened read-only (never
 * the store's LOCK.seglog, never a write), RocksDB's info log kept out of the directory, the WAL
 * read with wal_scan_dir_files, and the WAL's operations after the checkpoint applied to the
 * metadata in memory. Works while another process has the store open (its unflushed state is then
 * seen through the WAL) and on a damaged store (everything before the damage is shown; the damage
 * is reported with file and offset). Records are streamed, never loaded whole.
 *
 * Not thread-safe: one thread uses one store_inspect.
 */
#ifndef SEGLOG_STORE_INSPECT_H
#define SEGLOG_STORE_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seglog.h"
#include "store.h"
#include "wal.h"

#define STORE_INSPECT_WAL_FILES_MAX 4096u /* WAL files described one by one, at most */
#define STORE_INSPECT_NOTES_MAX 64u       /* metadata problems kept word for word, at most */

/* A segment as a reopen would see it. */
typedef struct store_inspect_seg {
    store_seg seg;
    uint64_t wal_seq; /* the WAL record after the checkpoint that last set it; 0: from RocksDB */
} store_inspect_seg;

typedef struct store_inspect_log {
    store_log log;
    uint64_t wal_seq;        /* as above, for the log's own metadata */
    store_inspect_seg *segs; /* oldest first (by segment id) */
    size_t n_segs;
    size_t cap_segs;
} store_inspect_log;

/* What a column family is for. */
typedef enum store_inspect_cf_role {
    STORE_INSPECT_CF_DEFAULT = 0, /* RocksDB's "default" (unused by seglog) */
    STORE_INSPECT_CF_META,        /* "meta" */
    STORE_INSPECT_CF_SEGMENT,     /* holds a live (open or sealed) segment */
    STORE_INSPECT_CF_TRIMMED,     /* only trimmed segments' and not empty yet (emptied on replay
                                   * of the trim, or dropped in the background) */
    STORE_INSPECT_CF_POOL,        /* empty, no live segment's: pre-created or recycled */
    STORE_INSPECT_CF_ORPHAN,      /* unreferenced and not empty: a leak (dropped at next open) */
    STORE_INSPECT_CF_UNKNOWN,     /* a name seglog does not make */
} store_inspect_cf_role;

typedef struct store_inspect_cf {
    char name[64];
    uint64_t cf_no; /* 0 for default, meta and unknown names */
    store_inspect_cf_role role;
    uint64_t log_id, seg_id; /* SEGMENT / TRIMMED: whose */
    uint64_t sst_bytes;      /* RocksDB's "rocksdb.total-sst-files-size" */
    uint32_t trimmed_refs;   /* trimmed segments that name it (a recycled CF has some) */
    bool emptied_by_wal;     /* a trim after the checkpoint empties it when replayed */
    bool shared;             /* more than one live segment names it (a problem) */
} store_inspect_cf;

typedef struct store_inspect_info {
    uint32_t format_version;  /* 0 if the key is missing */
    uint64_t checkpoint_seq;  /* WAL sequence RocksDB's flushed state covers */
    uint64_t applied_seq;     /* last applied sequence RocksDB's flushed state records */
    uint64_t wal_ops_applied; /* WAL records after the checkpoint overlaid on the metadata */
    int wal_rc;               /* SEGLOG_OK, or why the WAL scan stopped (damage, I/O) */
    char wal_error[SEGLOG_ERROR_MESSAGE_MAX]; /* its message (names file and offset) */
    wal_scan_report wal;      /* how the scan ended */
    uint32_t n_wal_files;     /* may exceed STORE_INSPECT_WAL_FILES_MAX */
    const wal_file_info *wal_files; /* min(n_wal_files, STORE_INSPECT_WAL_FILES_MAX) entries */
    uint32_t n_notes;         /* metadata problems found while loading (may exceed the kept) */
    char (*notes)[SEGLOG_ERROR_MESSAGE_MAX];
} store_inspect_info;

typedef struct store_inspect store_inspect;

/* Opens dir read-only. SEGLOG_ENOTFOUND if dir holds no store, SEGLOG_EIO / SEGLOG_ECORRUPT if
 * RocksDB cannot be opened or its metadata read. A damaged WAL is not a failure: it shows in
 * store_inspect_info's wal_rc. */
int store_inspect_open(store_inspect **out, const char *dir, seglog_error *err);
void store_inspect_close(store_inspect *si);

/* Valid until store_inspect_close. */
const store_inspect_info *store_inspect_info_get(const store_inspect *si);
size_t store_inspect_log_count(const store_inspect *si);
const store_inspect_log *store_inspect_log_at(const store_inspect *si, size_t i); /* by id */
const store_inspect_log *store_inspect_log_find(const store_inspect *si, uint64_t log_id);
size_t store_inspect_cf_count(const store_inspect *si);
const store_inspect_cf *store_inspect_cf_at(const store_inspect *si, size_t i);
const store_inspect_cf *store_inspect_cf_find(const store_inspect *si, uint64_t cf_no);

/* First LSN still readable in seg (after the trim point) and the first one after it. */
uint64_t store_inspect_seg_first(const store_inspect_log *log, const store_seg *seg);
uint64_t store_inspect_seg_end(const store_seg *seg);

/* One record, or a run of records the metadata says exist but nothing holds (missing > 0). */
typedef struct store_inspect_rec {
    uint64_t lsn;
    uint64_t missing;     /* > 0: LSNs lsn .. lsn + missing - 1 are absent; the rest is unset */
    uint64_t seg_id;
    uint64_t time_us;     /* append time */
    const void *payload;  /* valid during the callback only */
    size_t len;
    uint64_t wal_seq;     /* 0: read from RocksDB (block checksums verified); else its WAL record */
} store_inspect_rec;

typedef int (*store_inspect_rec_fn)(void *ctx, const store_inspect_rec *rec);

/* Streams the records of log_id with LSN in [from, to] in LSN order, each once: those in RocksDB,
 * and those only in the WAL after the checkpoint. A non-zero callback return stops and is returned.
 * A RocksDB read error (a checksum mismatch) returns SEGLOG_ECORRUPT / SEGLOG_EIO. */
int store_inspect_records(store_inspect *si, uint64_t log_id, uint64_t from, uint64_t to,
                          store_inspect_rec_fn fn, void *ctx, seglog_error *err);

/* Counts the keys of a column family outside [lo, hi) (records past a segment's end). */
int store_inspect_cf_keys_outside(store_inspect *si, uint64_t cf_no, uint64_t lo, uint64_t hi,
                                  uint64_t *count, seglog_error *err);

/* One WAL record for store_inspect_wal. */
typedef struct store_inspect_walrec {
    uint64_t seq;
    uint8_t type;          /* store_op_type */
    uint32_t len;          /* payload bytes */
    uint64_t file_no;      /* the WAL file holding its frame (wal_file_name) */
    uint64_t offset;       /* the frame's byte offset in that file */
    bool after_checkpoint; /* replayed by a reopen */
    int decode_rc;         /* SEGLOG_OK, or the op does not decode (op is then NULL) */
    const store_op *op;    /* valid during the callback only */
} store_inspect_walrec;

typedef int (*store_inspect_wal_fn)(void *ctx, const store_inspect_walrec *rec);

/* Streams every valid WAL record with seq >= from_seq. Returns what the scan returned
 * (SEGLOG_ECORRUPT at damage, after every record before it); *rep says where and why it ended. */
int store_inspect_wal(store_inspect *si, uint64_t from_seq, store_inspect_wal_fn fn, void *ctx,
                      wal_scan_report *rep, seglog_error *err);

/* A problem check found: kind is a stable word, where names the place (log/segment, file:offset,
 * CF name), message says what is wrong. */
typedef void (*store_inspect_problem_fn)(void *ctx, const char *kind, const char *where,
                                         const char *message);

/* Verifies every invariant it can (see the top of store_inspect.c); reports each problem; returns
 * the number of problems, or a negative SEGLOG_E... code if the store cannot be read. progress (may
 * be NULL) is called now and then with the records verified so far. */
long store_inspect_check(store_inspect *si, store_inspect_problem_fn fn, void *ctx,
                         void (*progress)(void *ctx, uint64_t records), seglog_error *err);

const char *store_inspect_op_name(uint8_t type);
const char *store_inspect_state_name(uint8_t state);
const char *store_inspect_cf_role_name(store_inspect_cf_role role);

#endif /* SEGLOG_STORE_INSPECT_H */
