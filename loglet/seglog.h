/*
 * seglog.h — the whole public API of seglog, a persistent on-disk store of many logs, each a chain
 * of segments ("loglets") that are appended to, sealed at an exact tail, extended, trimmed and read.
 *
 * This header is what users embed and what tools/ build on. It shows no RocksDB or liburing type.
 * Conventions (see README.md):
 *   - Fallible calls return int: SEGLOG_OK (0) or a negative SEGLOG_E... code from seglog's own
 *     range (-1000 and below), never a raw errno.
 *   - Details of a failure go into a caller-owned seglog_error: the code, the module that raised it,
 *     the OS errno if one was involved, and one line naming the numbers that matter (log id, LSN,
 *     file, offset). Filling it never allocates. Every `seglog_error *err` parameter may be NULL.
 *
 *   - Objects are opaque. A constructor fills *out (NULL on failure); destructors accept NULL.
 *   - Every call is thread-safe unless it says otherwise. A reader or tail watch belongs to one
 *     thread at a time.
 *   - Every blocking call takes a timeout in milliseconds and fails with SEGLOG_ETIMEDOUT naming
 *     what it waited for; none waits forever.
 *
 * Terms. A store holds many logs, each named by a 64-bit id the caller chooses. A log is a chain of
 * segments; the last is the tail segment, every earlier one is sealed. An LSN is a position in a
 * log (SEGLOG_LSN_OLDEST = 1 is the first). A tail is the first unwritten LSN together with a flag:
 * open, or sealed (no append can land there until the chain is extended). The chain has a version
 * that grows by exactly one on every change (extension, seal, trim of a whole segment).
 */
#ifndef SEGLOG_H
#define SEGLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SEGLOG_BUILDING) && defined(__GNUC__)
#define SEGLOG_API __attribute__((visibility("default")))
#else
#define SEGLOG_API
#endif

/* Version of the library (not of the on-disk format, which each file header names). */
#define SEGLOG_VERSION_MAJOR 0
#define SEGLOG_VERSION_MINOR 1
#define SEGLOG_VERSION_PATCH 0

/* Return codes. A caller acts differently on each; anything else is SEGLOG_EIO. */
enum {
    SEGLOG_OK = 0,
    SEGLOG_EINVAL = -1001,    /* a bad argument: size, range, option; nothing was done */
    SEGLOG_EIO = -1002,       /* an I/O call failed; seglog_error.os_errno says which errno */
    SEGLOG_ECORRUPT = -1003,  /* bytes on disk fail a check; the message names file and offset */
    SEGLOG_EPOISONED = -1004, /* an earlier write or fsync failed; writes refused until reopen */
    SEGLOG_EFULL = -1005,     /* a bounded queue stayed full for the whole allowed wait */
    SEGLOG_ETIMEDOUT = -1006, /* a bounded wait ran out; the message says what was awaited */
    SEGLOG_ESHUTDOWN = -1007, /* the object is closing or closed */
    SEGLOG_ENOMEM = -1008,    /* an allocation failed */
    SEGLOG_EVERSION = -1009,  /* on-disk data written by an unknown format version */
    SEGLOG_EBUSY = -1010,     /* another process holds the directory */
    SEGLOG_ESEALED = -1011,   /* the segment is sealed (log store) */
    SEGLOG_ENOTFOUND = -1012, /* no such log, segment or record */
    SEGLOG_ECONFLICT = -1013, /* a version or base-LSN precondition did not hold */
    SEGLOG_ETOOLARGE = -1014, /* a record exceeds the configured size limit */
    SEGLOG_ENOTSUP = -1015,   /* not supported by this build or this machine */
    SEGLOG_EEXIST = -1016,    /* the log already exists */
    SEGLOG_EEND = -1017,      /* a read stream passed the end of its range */
};

#define SEGLOG_ERROR_MESSAGE_MAX 256 /* bytes, including the terminating NUL */

/* Details of the last failure of one call. Caller-owned; fixed size; no allocation. */
typedef struct seglog_error {
    int code;                               /* SEGLOG_E... (same as the call's return value) */
    int os_errno;                           /* the errno behind it, or 0 */
    const char *module;                     /* "wal", "storage", "loglet", ...: static string */
    char message[SEGLOG_ERROR_MESSAGE_MAX]; /* one line, NUL-terminated */
} seglog_error;

/* ---- store --------------------------------------------------------------------------------- */

typedef uint64_t seglog_lsn;
typedef uint64_t seglog_log_id;

#define SEGLOG_LSN_INVALID ((seglog_lsn)0)
#define SEGLOG_LSN_OLDEST ((seglog_lsn)1)
#define SEGLOG_LSN_MAX ((seglog_lsn)UINT64_MAX - 1) /* "no upper bound" for read streams */

typedef struct seglog seglog;

typedef struct seglog_options {
    uint32_t record_max_bytes;       /* payload bytes of one record (default 256 KiB) */
    uint64_t memory_budget_bytes;    /* shared write-buffer cap across all segments (256 MiB) */
    uint64_t wal_file_size_bytes;    /* size of each WAL file (64 MiB) */
    uint32_t wal_inflight_groups;    /* group commits in flight at once (4) */
    uint32_t cf_pool_target;         /* column families kept pre-created for new segments (8) */
    uint32_t checkpoint_interval_ms; /* how often applied state is flushed and the WAL trimmed */
} seglog_options;

/* Fills *opts with the defaults above. */
SEGLOG_API void seglog_options_init(seglog_options *opts);

/* Opens the store in dir, creating it (and dir) if missing; replays the write-ahead log. Errors:
 * SEGLOG_EBUSY (another process has it open), SEGLOG_EVERSION (unknown format), SEGLOG_ECORRUPT
 * (damage to acknowledged data: the message names file and offset), SEGLOG_EIO. opts may be NULL. */
SEGLOG_API int seglog_open(seglog **out, const char *dir, const seglog_options *opts,
                           seglog_error *err);

/* Stops the store without freeing the handle: wakes every waiting call (they fail with
 * SEGLOG_ESHUTDOWN), finishes every accepted append (durable or failed), flushes and closes the
 * files. From then on every call but seglog_close fails with SEGLOG_ESHUTDOWN. Idempotent. */
SEGLOG_API void seglog_shutdown(seglog *s);

/* seglog_shutdown, then frees the handle: no call may use it afterwards. Accepts NULL. */
SEGLOG_API void seglog_close(seglog *s);

/* ---- logs ------------------------------------------------------------------------------------ */

/* Creates log id with one open segment at LSN 1 and chain version 1. SEGLOG_EEXIST if it exists. */
SEGLOG_API int seglog_log_create(seglog *s, seglog_log_id id, seglog_error *err);

/* Writes up to cap log ids, ascending, into ids and the total number of logs into *count. */
SEGLOG_API int seglog_log_list(seglog *s, seglog_log_id *ids, size_t cap, size_t *count,
                               seglog_error *err);

/* ---- appending ------------------------------------------------------------------------------- */

typedef enum seglog_append_policy {
    SEGLOG_APPEND_FAIL_IF_SEALED = 0, /* a sealed tail segment fails the append: SEGLOG_ESEALED */
    SEGLOG_APPEND_WAIT = 1,           /* wait for the next chain version, up to timeout_ms */
} seglog_append_policy;

typedef struct seglog_append_opts {
    seglog_append_policy policy;
    uint32_t timeout_ms; /* with SEGLOG_APPEND_WAIT: the longest wait for reconfiguration, and
                          * (when nonzero) for room in the write-ahead log's queue; without it
                          * (or 0) room is waited for up to 10 s. Then SEGLOG_EFULL. */
} seglog_append_opts;

typedef struct seglog_buf {
    const void *data;
    size_t len;
} seglog_buf;

/* Appends one record and returns once it is durable; *lsn gets its LSN. opts NULL means fail if
 * sealed. Errors: SEGLOG_ESEALED, SEGLOG_ETIMEDOUT (waited for reconfiguration; the message names
 * the sealed segment and tail), SEGLOG_ENOTFOUND (no such log), SEGLOG_ETOOLARGE (both sizes in the
 * message), SEGLOG_EPOISONED, SEGLOG_ESHUTDOWN, SEGLOG_EFULL. */
SEGLOG_API int seglog_log_append(seglog *s, seglog_log_id log, const void *payload, size_t len,
                                 const seglog_append_opts *opts, seglog_lsn *lsn,
                                 seglog_error *err);

/* Appends n records atomically and contiguously (no other append lands between them; after a
 * crash all or none are there); *first gets the first LSN, the others follow. */
SEGLOG_API int seglog_log_append_batch(seglog *s, seglog_log_id log, const seglog_buf *recs,
                                       size_t n, const seglog_append_opts *opts,
                                       seglog_lsn *first, seglog_error *err);

/* Completion of an asynchronous append: status SEGLOG_OK with the LSNs of the batch, or an error.
 * Runs on a store thread; must not block or call seglog_close. */
typedef void (*seglog_append_cb)(void *ctx, int status, seglog_lsn first, seglog_lsn last);

/* Starts an append of n records and returns at once (SEGLOG_OK: cb will be called exactly once);
 * the payloads are copied before it returns. With SEGLOG_APPEND_WAIT a sealed segment parks the
 * append until the chain is extended or the timeout passes (cb then gets SEGLOG_ETIMEDOUT). */
SEGLOG_API int seglog_log_append_async(seglog *s, seglog_log_id log, const seglog_buf *recs,
                                       size_t n, const seglog_append_opts *opts,
                                       seglog_append_cb cb, void *ctx, seglog_error *err);

/* ---- reading --------------------------------------------------------------------------------- */

typedef enum seglog_entry_kind {
    SEGLOG_ENTRY_RECORD = 1,   /* a record at lsn */
    SEGLOG_ENTRY_TRIM_GAP = 2, /* lsn..gap_to were trimmed away */
} seglog_entry_kind;

/* One thing a read yields. payload is owned by the entry: for seglog_log_read free it with
 * seglog_entry_fini; for a reader it stays valid until the next call on that reader. */
typedef struct seglog_entry {
    seglog_entry_kind kind;
    seglog_lsn lsn;           /* the record's LSN, or the first trimmed LSN */
    seglog_lsn gap_to;        /* TRIM_GAP: the last trimmed LSN (inclusive) */
    uint64_t append_time_us;  /* RECORD: wall-clock microseconds when it was appended */
    void *payload;            /* RECORD: the bytes */
    size_t len;
} seglog_entry;

SEGLOG_API void seglog_entry_fini(seglog_entry *e);

/* Reads one LSN. Only durable records are visible. A trimmed LSN yields a TRIM_GAP up to the trim
 * point. An LSN at or past the tail waits up to timeout_ms (0: not at all) and then fails with
 * SEGLOG_ENOTFOUND ("nothing yet", timeout 0) or SEGLOG_ETIMEDOUT. An acknowledged record is
 * readable at once, before it reaches RocksDB; if writing it there failed (the store is then
 * poisoned), the read fails at once with SEGLOG_EIO until the store is reopened. */
SEGLOG_API int seglog_log_read(seglog *s, seglog_log_id log, seglog_lsn lsn, uint32_t timeout_ms,
                               seglog_entry *out, seglog_error *err);

typedef struct seglog_reader seglog_reader;

/* A stream over [from, to] (to = SEGLOG_LSN_MAX: follow the tail for ever). It yields records in
 * LSN order, each once, and one TRIM_GAP for a trimmed range; crossing segments adds neither gap
 * nor duplicate. */
SEGLOG_API int seglog_reader_open(seglog_reader **out, seglog *s, seglog_log_id log,
                                  seglog_lsn from, seglog_lsn to, seglog_error *err);

/* The next entry, waiting up to timeout_ms for it: SEGLOG_OK, SEGLOG_ETIMEDOUT, or SEGLOG_EEND once
 * past `to`. */
SEGLOG_API int seglog_reader_next(seglog_reader *r, uint32_t timeout_ms, seglog_entry *out,
                                  seglog_error *err);

SEGLOG_API void seglog_reader_close(seglog_reader *r);

/* ---- tails ----------------------------------------------------------------------------------- */

typedef struct seglog_tail {
    seglog_lsn lsn;      /* the first unwritten (durable) LSN */
    int sealed;          /* 1 if the tail segment is sealed (at lsn) */
    uint64_t version;    /* chain version */
    uint64_t segment_id; /* the tail segment */
} seglog_tail;

SEGLOG_API int seglog_log_find_tail(seglog *s, seglog_log_id log, seglog_tail *out,
                                    seglog_error *err);

typedef struct seglog_tail_watch seglog_tail_watch;

/* Watches a log's tail: each call to _next yields the next change after the previous one (the
 * first call yields the current tail), in order, without polling. A watcher that falls more than
 * SEGLOG_TAIL_HISTORY changes behind gets the oldest kept and *missed says how many it lost. */
#define SEGLOG_TAIL_HISTORY 1024u
SEGLOG_API int seglog_tail_watch_open(seglog_tail_watch **out, seglog *s, seglog_log_id log,
                                      seglog_error *err);
SEGLOG_API int seglog_tail_watch_next(seglog_tail_watch *tw, uint32_t timeout_ms,
                                      seglog_tail *out, uint64_t *missed, seglog_error *err);
SEGLOG_API void seglog_tail_watch_close(seglog_tail_watch *tw);

/* ---- reconfiguration ------------------------------------------------------------------------- */

/* Chain changes (seal, extend, seal+extend, trim) of one log run one at a time: a call waits up to
 * 10 s for one in flight (then SEGLOG_ETIMEDOUT). A change that finds the write-ahead log's queue
 * full waits up to 10 s for room (then SEGLOG_EFULL, nothing changed); meanwhile the log counts as
 * reconfiguring: other changes wait behind it, and while a seal or extension waits no append lands
 * in the tail segment (appends fail with SEGLOG_ESEALED or wait, as their policy says). Every
 * such wait is listed by seglog_log_describe. The change is described exactly as the log is when
 * it enters the WAL: the seal point is exact and expected_version holds. */

/* Seals the tail segment at its exact tail (every append sequenced before is in, none after) and
 * leaves the chain "sealed, no successor". Sealing a sealed log returns the same tail. */
SEGLOG_API int seglog_log_seal(seglog *s, seglog_log_id log, seglog_tail *out, seglog_error *err);

/* Adds a new open segment at base, which must be the sealed tail (0: whatever it is):
 * SEGLOG_ECONFLICT, naming the expected base, otherwise; or if the tail segment is open. */
SEGLOG_API int seglog_log_extend(seglog *s, seglog_log_id log, seglog_lsn base, seglog_tail *out,
                                 seglog_error *err);

/* Seals the tail segment and adds its successor in one durable record and one write batch. With
 * expected_version != 0, a different chain version fails with SEGLOG_ECONFLICT naming both. *out
 * is the new tail (open, version + 1). */
SEGLOG_API int seglog_log_seal_and_extend(seglog *s, seglog_log_id log, uint64_t expected_version,
                                          seglog_tail *out, seglog_error *err);

/* Trims the prefix up to and including trim_point (clamped to the last written LSN). Segments
 * wholly below it are dropped and their storage reclaimed; the tail segment is never dropped. */
SEGLOG_API int seglog_log_trim(seglog *s, seglog_log_id log, seglog_lsn trim_point,
                               seglog_lsn *trimmed_to, seglog_error *err);

/* ---- describing ------------------------------------------------------------------------------ */

typedef enum seglog_segment_state {
    SEGLOG_SEGMENT_OPEN = 1,
    SEGLOG_SEGMENT_SEALED = 2,
    SEGLOG_SEGMENT_TRIMMED = 3,
} seglog_segment_state;

typedef struct seglog_segment_info {
    uint64_t id;                /* segment id, unique in the store */
    seglog_lsn base;            /* its first LSN */
    seglog_segment_state state;
    seglog_lsn sealed_at;       /* SEALED: the tail it was sealed at (first LSN not in it) */
    char cf[32];                /* its column family */
    uint64_t records;           /* records in it (durable) */
    uint64_t bytes;             /* payload bytes in it */
} seglog_segment_info;

typedef struct seglog_waiter_info {
    const char *what;           /* a static string: "reconfiguration" (an appender waiting for
                                 * the chain to be extended), "reconfiguration (asynchronous
                                 * append)" (a parked seglog_log_append_async), "an earlier chain
                                 * change" (a seal, extend or trim waiting for one in flight), or
                                 * "room in the WAL queue (chain change)" (a chain change waiting
                                 * for the write-ahead log; appends to a log being sealed and
                                 * other chain changes wait behind it) */
    uint64_t segment_id;        /* the sealed segment it waits behind */
    seglog_lsn sealed_at;
    uint64_t since_us;          /* wall-clock microseconds when the wait began */
    uint64_t waited_ms;         /* how long so far */
    uint32_t timeout_ms;        /* its bound */
} seglog_waiter_info;

typedef struct seglog_log_info {
    seglog_log_id id;
    uint64_t version;
    seglog_lsn trim_point;      /* 0: nothing trimmed */
    seglog_tail tail;
    size_t n_segments;
    seglog_segment_info *segments; /* oldest first */
    size_t n_waiters;
    seglog_waiter_info *waiters;
} seglog_log_info;

/* A snapshot of one log; free with seglog_log_info_free. */
SEGLOG_API int seglog_log_describe(seglog *s, seglog_log_id log, seglog_log_info **out,
                                   seglog_error *err);
SEGLOG_API void seglog_log_info_free(seglog_log_info *info);

/* The same as text (json = 0) or one JSON object (json = 1), NUL-terminated, malloc'ed: free() it. */
SEGLOG_API int seglog_log_describe_format(seglog *s, seglog_log_id log, int json, char **out,
                                          seglog_error *err);

typedef struct seglog_stats {
    uint64_t logs;
    uint64_t segments;          /* live (not trimmed) */
    uint64_t column_families;   /* in RocksDB, pool and metadata included */
    uint64_t cf_pool;           /* pre-created, unassigned */
    uint64_t cf_created;        /* since open: column families created for the pool */
    uint64_t cf_recycled;       /* since open: trimmed segments' column families reused */
    uint64_t cf_dropped;        /* since open */
    uint64_t memory_budget_bytes;
    uint64_t memtable_bytes;    /* current write-buffer use across all column families */
    uint64_t appends;           /* records made durable since open */
    uint64_t wal_groups;        /* group commits since open */
    uint64_t wal_fsyncs;
    uint64_t wal_checkpoint_seq;
    uint64_t waiting_appenders; /* across all logs, now */
    uint64_t chain_ops_waiting_room; /* seals, extends, trims and creates waiting, now, for room in
                                      * the WAL queue (their log is marked reconfiguring) */
    int poisoned;               /* a write failed: writes are refused until reopen */
} seglog_stats;

SEGLOG_API int seglog_stats_get(seglog *s, seglog_stats *out, seglog_error *err);

/* A static, NUL-terminated name for a return code ("SEGLOG_ESEALED: segment sealed"). */
SEGLOG_API const char *seglog_strerror(int code);

/* The library's version as "MAJOR.MINOR.PATCH"; a static string. */
SEGLOG_API const char *seglog_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SEGLOG_H */
