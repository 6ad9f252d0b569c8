/*
 * wal.h — seglog's write-ahead log, as seen by the layer above (storage/).
 *
 * One WAL serves the whole store. It knows nothing of logs: it takes opaque records (a type byte
 * and a payload), gives each a sequence number, makes groups of them durable with io_uring, and
 * reports each record exactly once, in sequence order, as durable or failed. On open it scans the
 * directory, hands every record from a given sequence on to a replay callback, cuts off a torn
 * tail and refuses damage that is followed by records known to have been durable.
 *
 * wal/README.md describes the WAL for a newcomer. In the sources: the on-disk format at the top of
 * wal_format.c; the group-commit pipeline and the measurements behind the defaults at the top of
 * wal.c; file preparation and recycling at the top of wal_prepare.c; the recovery rules at the
 * top of wal_scan.c.
 *
 * Threads: every call here is thread-safe except wal_close, which must be the last call on a WAL.
 * Completion callbacks run on the WAL's own thread, in sequence order; they must not block and
 * must not call wal_close (they may call wal_append, which then never waits: it fails with
 * SEGLOG_EFULL instead of waiting when called from a callback).
 */
#ifndef SEGLOG_WAL_H
#define SEGLOG_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "seglog.h"

/* Limits. Each is a named constant with its unit. */
#define WAL_FILE_SIZE_DEFAULT_BYTES (64u << 20)
#define WAL_FILE_SIZE_MIN_BYTES (64u << 10)
#define WAL_GROUP_MAX_BYTES_DEFAULT (1u << 20)
#define WAL_GROUP_MAX_RECORDS_DEFAULT 4096u
#define WAL_INFLIGHT_GROUPS_DEFAULT 4u
#define WAL_INFLIGHT_GROUPS_MAX 64u
#define WAL_RECORD_MAX_BYTES_DEFAULT (512u << 10)
#define WAL_ENQUEUE_TIMEOUT_MS_DEFAULT 5000u
#define WAL_SPARE_FILES_DEFAULT 1u
#define WAL_SPARE_FILES_MAX 64u
#define WAL_FRAME_HEADER_BYTES 32u /* see the format in wal_format.c */
#define WAL_FILE_HEADER_BYTES 4096u
#define WAL_FORMAT_VERSION 1u

/* Record types below 16 belong to the WAL itself; the layer above uses 16..255. */
#define WAL_TYPE_PAD 1u
#define WAL_TYPE_USER_MIN 16u

/* How a group is made durable. Measured in wal.c's header comment. */
typedef enum wal_sync_mode {
    WAL_SYNC_LINKED_FDATASYNC = 0, /* write, then IOSQE_IO_LINK-ed fdatasync (the default) */
    WAL_SYNC_RWF_DSYNC = 1,        /* one write with RWF_DSYNC */
} wal_sync_mode;

/* Fault injection (compiled in only with -DSEGLOG_FAULT_INJECTION=ON; otherwise wal_open refuses a
 * non-empty fault list with SEGLOG_ENOTSUP). A fault replaces the result of the nth write or fsync
 * that the WAL's completion path sees with an error or a short count. */
typedef enum wal_fault_op {
    WAL_FAULT_WRITE = 0,
    WAL_FAULT_FSYNC = 1,
} wal_fault_op;

#define WAL_FAULT_SHORT 1 /* as wal_fault.result: the write completes with half its bytes */

typedef struct wal_fault {
    wal_fault_op op; /* which kind of operation */
    uint64_t nth;    /* 1-based index among operations of that kind since open */
    int result;      /* a negative errno (-EIO, -ENOSPC), or WAL_FAULT_SHORT */
    bool persistent; /* also every later operation of that kind */
} wal_fault;

/* Named kill points (compiled in only with -DSEGLOG_KILL_POINTS=ON): when the environment variable
 * SEGLOG_KILL_POINT names one of them (and SEGLOG_KILL_AFTER, default 1, counts down to zero), the
 * process raises SIGKILL there. Used by the crash suite. */
/* wal-after-write: a group's write has completed and its fdatasync (linked to the write, so
 * submitted with it) has not been seen to complete: the group is not acknowledged. */
#define WAL_KILL_AFTER_WRITE "wal-after-write"   /* a group written, not known durable */
#define WAL_KILL_AFTER_FSYNC "wal-after-fsync"   /* a group durable, not yet acknowledged */
#define WAL_KILL_IN_ROTATION "wal-in-rotation"   /* between two files */
#define WAL_KILL_IN_RECOVERY "wal-in-recovery"   /* while cutting a torn tail */
#define WAL_KILL_IN_PREPARE "wal-in-prepare"     /* next file: renamed, header synced, renamed */

typedef struct wal_options {
    uint64_t file_size_bytes;      /* size of each preallocated WAL file */
    uint32_t group_max_bytes;      /* bytes of frames in one group (one write) */
    uint32_t group_max_records;    /* records in one group */
    uint32_t inflight_groups;      /* groups written and not yet durable, at most */
    uint32_t record_max_bytes;     /* payload bytes of one record; <= group_max_bytes - header */
    uint32_t enqueue_timeout_ms;   /* how long a producer waits for queue space, then EFULL */
    uint32_t spare_files;          /* files kept prepared ahead of the writer */
    wal_sync_mode sync_mode;       /* see above */
    bool direct_io;                /* O_DIRECT, groups padded to 4 KiB */
    bool prewrite_files;           /* fill new files with zeros (faster fdatasync later) */
    const wal_fault *faults;       /* borrowed for the WAL's lifetime; may be NULL */
    size_t n_faults;
} wal_options;

/* Fills *opts with the defaults above. */
void wal_options_init(wal_options *opts);

/* How the scan of an existing WAL ended. */
typedef enum wal_end_kind {
    WAL_END_EMPTY = 0, /* no record at all */
    WAL_END_CLEAN = 1, /* zeros or a previous use's frames after the last record */
    WAL_END_TORN = 2,  /* an unacknowledged, damaged last group was cut off */
} wal_end_kind;

typedef struct wal_scan_report {
    uint64_t files;            /* WAL files looked at */
    uint64_t records;          /* valid records found (all sequences) */
    uint64_t replayed;         /* records handed to the replay callback */
    uint64_t first_seq;        /* first record's sequence, 0 if none */
    uint64_t last_seq;         /* last valid record's sequence, 0 if none */
    wal_end_kind end;          /* how it ended */
    char end_file[64];         /* file name (no directory) where the valid log ends */
    uint64_t end_offset;       /* byte offset in end_file where the valid log ends */
    uint64_t torn_bytes;       /* bytes cut off (WAL_END_TORN) */
    char end_reason[160];      /* one line: why the scan stopped where it did */
} wal_scan_report;

/* Called for each record with seq >= from_seq, in order. payload is valid only during the call.
 * A non-zero return stops the scan and is returned by the scanning call. */
typedef int (*wal_replay_fn)(void *ctx, uint64_t seq, uint8_t type, const void *payload,
                             uint32_t len);

/* Called once per record, on the WAL thread, in sequence order: status is SEGLOG_OK when the
 * record (and every earlier one) is durable, or a negative SEGLOG_E... code when it never will be
 * acknowledged. Never both, never twice. payload/len are the record as written, valid only during
 * the call (the layer above applies it from there instead of keeping a copy). */
typedef void (*wal_done_fn)(void *ctx, uint64_t seq, int status, const void *payload,
                            uint32_t len);

typedef struct wal wal;

/* Opens (creating if needed) the WAL in dir, which must exist. Takes an exclusive lock on it
 * (SEGLOG_EBUSY if another process holds it), scans it, calls replay for every record from
 * replay_from_seq on, cuts a torn tail, and starts the WAL thread. New records get sequences after
 * the last one found (and at least replay_from_seq). report and replay may be NULL. On failure
 * *out is NULL and nothing in dir was changed except a torn tail's zeroing. */
int wal_open(wal **out, const char *dir, const wal_options *opts, uint64_t replay_from_seq,
             wal_replay_fn replay, void *replay_ctx, wal_scan_report *report, seglog_error *err);

/* Waits for every accepted record to be durable or failed (callbacks delivered), stops the
 * thread, closes the files. Accepts NULL. */
void wal_close(wal *w);

/* Reads the WAL in dir without changing anything (no lock taken, no file written): the same scan
 * and the same checks as wal_open. For tools that inspect a WAL, even one another process has open
 * (that process's unfinished tail then shows as WAL_END_TORN or WAL_END_CLEAN). */
int wal_scan_dir(const char *dir, uint64_t from_seq, wal_replay_fn replay, void *replay_ctx,
                 wal_scan_report *report, seglog_error *err);

/* One WAL file as wal_scan_dir_files saw it. */
typedef struct wal_file_info {
    uint64_t file_no;    /* the number in its name */
    uint64_t size_bytes; /* its length on disk */
    uint64_t first_seq;  /* its first valid record's sequence, 0 if it holds none */
    uint64_t records;    /* valid records in it (consecutive sequences from first_seq) */
    int header_rc;       /* SEGLOG_OK, or SEGLOG_ECORRUPT for a damaged header */
} wal_file_info;

/* A replay callback that is also told where the record's frame is: the number of its file and
 * the frame's byte offset in it. */
typedef int (*wal_scan_pos_fn)(void *ctx, uint64_t seq, uint8_t type, const void *payload,
                               uint32_t len, uint64_t file_no, uint64_t offset);

/* wal_scan_dir with the position of each record, that also describes each file, in number order:
 * up to cap of them into files (may be NULL with cap 0), the number of files into *n_files (which
 * may exceed cap). Filled even when the scan fails. */
int wal_scan_dir_files(const char *dir, uint64_t from_seq, wal_scan_pos_fn replay,
                       void *replay_ctx, wal_scan_report *report, wal_file_info *files,
                       uint32_t cap, uint32_t *n_files, seglog_error *err);

/* Queues one record (payload gathered from iov) and returns its sequence in *seq_out. done is
 * called later exactly once (it may be NULL: fire and forget). Waits at most enqueue_timeout_ms for
 * queue space, then SEGLOG_EFULL. Fails at once with SEGLOG_EPOISONED after a write or fsync error,
 * SEGLOG_ESHUTDOWN once closing, SEGLOG_ETOOLARGE over record_max_bytes, SEGLOG_EINVAL for a type
 * below WAL_TYPE_USER_MIN. */
int wal_appendv(wal *w, uint8_t type, const struct iovec *iov, int iovcnt, wal_done_fn done,
                void *done_ctx, uint64_t *seq_out, seglog_error *err);

/* wal_appendv that never waits: SEGLOG_EFULL at once when the queue has no room. For callers that
 * sequence under their own lock; they release it and call wal_wait_space before retrying. */
int wal_try_appendv(wal *w, uint8_t type, const struct iovec *iov, int iovcnt, wal_done_fn done,
                    void *done_ctx, uint64_t *seq_out, seglog_error *err);

/* Waits up to timeout_ms until a record of `bytes` payload bytes would probably fit (another
 * producer may take the room first). SEGLOG_OK, SEGLOG_EFULL, SEGLOG_EPOISONED, SEGLOG_ESHUTDOWN. */
int wal_wait_space(wal *w, uint32_t bytes, uint32_t timeout_ms, seglog_error *err);

/* wal_appendv with one buffer. */
int wal_append(wal *w, uint8_t type, const void *payload, uint32_t len, wal_done_fn done,
               void *done_ctx, uint64_t *seq_out, seglog_error *err);

/* Queues one record and waits until it is durable (SEGLOG_OK) or failed. */
int wal_append_sync(wal *w, uint8_t type, const void *payload, uint32_t len, uint64_t *seq_out,
                    seglog_error *err);

/* The layer above has made everything up to and including seq durable elsewhere: WAL files that
 * hold only records <= seq are recycled (up to spare_files) or removed, in the background. */
void wal_checkpoint(wal *w, uint64_t seq);

typedef struct wal_stats {
    uint64_t next_seq;           /* the sequence the next record will get */
    uint64_t durable_seq;        /* every record <= this is durable */
    uint64_t groups;             /* groups made durable */
    uint64_t records;            /* records made durable */
    uint64_t bytes;              /* bytes written, padding included */
    uint64_t writes_submitted;   /* write operations given to the kernel */
    uint64_t fsyncs_submitted;   /* fdatasync operations given to the kernel */
    uint64_t short_writes;       /* short writes resubmitted */
    uint64_t rotations;          /* switches to the next file */
    uint64_t files_created;      /* new files made */
    uint64_t files_recycled;     /* old files renamed and reused */
    uint64_t files_removed;      /* old files deleted */
    uint64_t checkpoint_seq;     /* last value given to wal_checkpoint */
    uint32_t live_files;         /* files holding records at or after the checkpoint */
    uint32_t spare_files;        /* prepared files waiting to be written */
    uint32_t reserve_files;      /* files behind the checkpoint kept for recycling */
    bool poisoned;               /* a write or fsync failed */
    int poison_errno;            /* its errno */
    char poison_message[SEGLOG_ERROR_MESSAGE_MAX];
} wal_stats;

void wal_stats_get(wal *w, wal_stats *out);

/* Raises SIGKILL if the environment names this kill point (see above); a no-op unless compiled in.
 * The layers above use it for their own kill points. */
void wal_kill_point(const char *name);

/* Re-reads the two environment variables (for a forked child that has just set them). */
void wal_kill_point_reset(void);

/* True if this build has fault injection / kill points compiled in. */
bool wal_faults_compiled(void);
bool wal_kill_points_compiled(void);

/* CRC32C (Castagnoli) of len bytes, continuing from crc (start with 0). Hardware (SSE4.2) when the
 * CPU has it, a table otherwise; both are checked against RFC 3720's test vectors. */
uint32_t wal_crc32c(uint32_t crc, const void *data, size_t len);

#endif /* SEGLOG_WAL_H */
