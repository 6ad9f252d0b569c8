/*
 * wal.c — seglog's write-ahead log: the queue, group commit through io_uring, open and close.
 *
 * WHAT IT OWNS
 *   The WAL as a whole (struct wal: wal_open, wal_close, the lock file wal.lock), the bounded
 *   queue that producers append to, and the WAL thread, which alone owns the io_uring ring and the
 *   file being written. The WAL lives in one directory of preallocated files
 *   wal-<16 hex digits>.log, numbered upwards. Other jobs have files of their own: wal_prepare.c,
 *   the preparer thread, which makes the next files ready and recycles or removes those behind
 *   the checkpoint, so that neither ever happens on the append path; wal_scan.c, the recovery
 *   scan that wal_open and the offline tools run; and wal_hooks.c, fault injection and kill
 *   points for the tests. The on-disk format (files, frames, markers) is described at the top of
 *   wal_format.c; wal/README.md tells the whole story for a newcomer.
 *
 * GROUP COMMIT
 *   Producers copy framed records into the filling slot of a ring of (inflight + 2) slot buffers
 *   of group_max_bytes each, under one mutex; that ring is the bounded queue, and a producer that
 *   finds it full waits at most enqueue_timeout_ms, then gets SEGLOG_EFULL. The WAL thread takes the
 *   filling slot as soon as it holds a record and fewer than `inflight` groups are in flight (no
 *   timer: an idle WAL writes a lone record at once, a busy one gathers what arrived meanwhile),
 *   stamps it, and submits write + linked fdatasync. Completions may arrive in any order; a group
 *   is acknowledged only when it and every earlier group are durable, so callbacks run in sequence
 *   order, each once. A group never spans two files: rotation waits for the groups in flight on the
 *   old file to finish (at most `inflight` fsyncs, once per 64 MiB), then switches to a file the
 *   preparer made ready (NEW FILES at the top of wal_prepare.c). Whenever the WAL goes idle the
 *   WAL thread writes a marker frame after the last group, so that the last groups before a pause
 *   are vouched for too (submit_marker; how recovery treats a lost one: LOST MARKERS at the top
 *   of wal_scan.c).
 *
 * SYNC MODE, MEASURED (tools/bench-wal.sh, 3 runs x 5 s, medians; 2-core VM, ext4 on virtio)
 *   fio on the same directory: 4 KiB O_DIRECT write+fdatasync qd1 13.7-14.6k/s (p50 64-68 us);
 *   64 KiB qd16 1.8 GB/s; O_DSYNC 4 KiB qd1 16.8k/s.
 *                              1 KiB, 1 producer          1 KiB, 256 producers
 *   write + linked fdatasync   10.6k/s  p50 89 us         128k/s  131 MB/s  p99 5.8 ms
 *   RWF_DSYNC write            10.8k/s  p50 88 us         143k/s  147 MB/s  p99 7.1 ms
 *   O_DIRECT + linked fdatas.  10.0k/s  p50 86 us         138k/s  141 MB/s  p99 6.7 ms
 *   The three are within the runs' noise of each other at one producer and within 12% at 256,
 *   where the limit is CPU, not the disk (about 10 us of CPU per synchronous append, half of it in
 *   waking the 256 waiting threads). Buffered write + linked fdatasync stays the default: it needs
 *   no 4 KiB padding of small groups (O_DIRECT doubles the bytes written at one producer), and it
 *   keeps the write and the sync as separate operations that fault injection and the crash suite
 *   can target one by one. sync_mode and direct_io select the others; the benchmark measures all.
 *
 * RECOVERY
 *   wal_open runs the recovery scan of wal_scan.c (RECOVERY, LOST MARKERS and DAMAGED AND RECYCLED
 *   HEADERS at its top), zeroes a torn tail before anything new is written, and resumes writing
 *   where the log ends.
 *
 * ERRORS
 *   A failed write or fdatasync (or one that stays short after WAL_SHORT_WRITE_RETRIES_MAX
 *   resubmissions) poisons the WAL: that group and every later one fail, new appends get
 *   SEGLOG_EPOISONED, nothing more is submitted, and fsync is never retried (after a failed fsync
 *   the kernel may have dropped the dirty pages: PostgreSQL's fsyncgate). Reopen to recover. A
 *   file the preparer failed to make poisons the WAL when the WAL thread needs it.
 *
 * LOCKS
 *   w->mu guards the slot ring, sequence counters, poison and closing state (WAL thread and
 *   producers). w->prep.mu guards the file lists and the checkpoint (WAL thread and preparer;
 *   wal_prepare.c takes it, wal.c only calls wal_prep_*). Order: mu before prep.mu; never is
 *   either held across io_uring_submit, a wait for completions or file I/O, except prep.mu while
 *   the WAL thread waits on prep.cv for a ready file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "wal.h"
#include "wal_internal.h"

#define WAL_SHORT_WRITE_RETRIES_MAX 4u
#define WAL_ZERO_CHUNK_BYTES (1u << 20)
#define WAL_PATH_MAX 4096u
#define WAL_LOCK_FILE "wal.lock"
#define WAL_SLOT_SLACK_BYTES (2u * WAL_BLOCK_BYTES) /* room for a padding frame */

_Static_assert(WAL_INFLIGHT_GROUPS_MAX + 2 <= 255, "slot index fits the user_data byte");
_Static_assert(WAL_RECORD_MAX_BYTES_DEFAULT + WAL_FRAME_HEADER_BYTES <= WAL_GROUP_MAX_BYTES_DEFAULT,
               "a default record fits a default group");

/* Mutants for the crash suite's mutation check (CMake -DSEGLOG_MUTANT=..., never in a real build;
 * tests/crash/mutants.sh): each breaks durability in one classic way that the power-loss test
 * must catch. skip-fdatasync: a group is acknowledged once written, never fdatasynced;
 * ack-before-fsync: see submit_attempt; skip-dirfsync: see fsync_dir in wal_prepare.c. */
#if defined(SEGLOG_MUTANT_SKIP_FDATASYNC) || defined(SEGLOG_MUTANT_ACK_BEFORE_FSYNC)
#define MUTANT_WRITE_IS_DURABLE 1
#else
#define MUTANT_WRITE_IS_DURABLE 0
#endif

enum { OP_WRITE = 1, OP_FSYNC = 2, OP_EVENT = 3, OP_MARKER = 4 };

typedef struct wal_done_entry {
    wal_done_fn fn;
    void *ctx;
    uint64_t seq;
    uint32_t off; /* of the frame in the slot buffer */
    uint32_t len; /* payload bytes */
} wal_done_entry;

/* One group buffer. Producers fill it under w->mu; once taken by the WAL thread, only the WAL
 * thread touches it until it is delivered and reset (under w->mu). Its buffer belongs to the
 * kernel while ops are pending. */
typedef struct wal_slot {
    uint8_t *buf;          /* aligned to WAL_BLOCK_BYTES; group_max_bytes + slack */
    uint64_t used;         /* bytes of frames */
    uint32_t n;            /* records */
    wal_done_entry *done;  /* [group_max_records] */
    uint64_t first_seq;    /* of the first record, when n > 0 */
    uint64_t last_seq;     /* of the last record */
    /* WAL thread only: */
    bool submitted;        /* given to the kernel (at least once) */
    uint64_t write_len;    /* bytes to write, padding included */
    uint64_t written;      /* bytes known written by the current attempt chain */
    uint64_t file_off;     /* offset of the group in its file */
    uint64_t file_no;      /* file it is written to */
    int fd;                /* that file's descriptor (owned by w, not the slot) */
    uint32_t gen;          /* attempt number; fsync of attempt g counts only after write of g */
    uint32_t write_ok_gen; /* attempt whose write completed in full (0: none) */
    bool durable;          /* write and fsync of one attempt both succeeded */
    int pending;           /* CQEs still to come for this slot */
    uint32_t short_retries;
    int error;             /* -errno of the failure, or 0 */
    const char *error_op;  /* "write" / "fdatasync" */
} wal_slot;

struct wal {
    /* Immutable after open. */
    char dir[WAL_PATH_MAX];
    wal_options opt;
    uint32_t nslots;
    int dir_fd;
    int lock_fd;
    int event_fd;

    /* Guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t space_cv;  /* broadcast when slots free up, on poison and on close */
    wal_slot *slots;
    uint32_t head;            /* oldest taken slot */
    uint32_t n_taken;         /* slots taken by the WAL thread (submitted or about to be) */
    uint32_t n_closed;        /* full slots waiting to be taken */
    uint32_t space_waiters;
    uint64_t next_seq;
    uint64_t durable_seq;
    bool sleeping;            /* WAL thread waits and wants an eventfd kick */
    bool closing;
    bool poisoned;
    bool failed_delivered;    /* a group was delivered as failed: every later one fails */
    int poison_errno;
    char poison_msg[SEGLOG_ERROR_MESSAGE_MAX];
    uint64_t groups, records, bytes; /* delivered as durable */

    /* Counters written by one thread, read by wal_stats_get. */
    atomic_uint_fast64_t n_writes, n_fsyncs, n_short, n_rotations;

    /* WAL thread only. */
    struct io_uring ring;
    int cur_fd;
    uint64_t cur_file_no;
    uint64_t cur_off;
    uint64_t cur_file_size;   /* bytes usable in the current file */
    uint8_t *marker_buf;      /* WAL_BLOCK_BYTES, aligned: the idle marker frame */
    bool marker_inflight;
    uint64_t marker_seq;      /* durable_seq the last marker vouched for */
    bool cur_first_seq_known;
    uint32_t n_submitted;     /* prefix of the taken slots that was submitted */
    uint64_t event_buf;
    uint64_t fault_count[2];  /* writes and fsyncs seen, for wal_fault_filter */
    pthread_t thread;          /* written before wal_open returns */

    /* The preparer's state, guarded by prep.mu (wal_prepare.c). */
    wal_prep prep;
};

/* ---- errors ---------------------------------------------------------------------------------- */

int wal_set_err(seglog_error *err, int code, int os_errno, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        err->os_errno = os_errno;
        err->module = "wal";
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- options --------------------------------------------------------------------------------- */

void wal_options_init(wal_options *o)
{
    memset(o, 0, sizeof *o);
    o->file_size_bytes = WAL_FILE_SIZE_DEFAULT_BYTES;
    o->group_max_bytes = WAL_GROUP_MAX_BYTES_DEFAULT;
    o->group_max_records = WAL_GROUP_MAX_RECORDS_DEFAULT;
    o->inflight_groups = WAL_INFLIGHT_GROUPS_DEFAULT;
    o->record_max_bytes = WAL_RECORD_MAX_BYTES_DEFAULT;
    o->enqueue_timeout_ms = WAL_ENQUEUE_TIMEOUT_MS_DEFAULT;
    o->spare_files = WAL_SPARE_FILES_DEFAULT;
    o->sync_mode = WAL_SYNC_LINKED_FDATASYNC;
    o->direct_io = false;
    o->prewrite_files = true;
}

static int options_check(const wal_options *o, seglog_error *err)
{
    if (o->file_size_bytes < WAL_FILE_SIZE_MIN_BYTES || o->file_size_bytes % WAL_BLOCK_BYTES != 0)
        return wal_set_err(err, SEGLOG_EINVAL, 0,
                           "wal: file_size_bytes %" PRIu64 " must be a multiple of %u and >= %u",
                           o->file_size_bytes, WAL_BLOCK_BYTES, WAL_FILE_SIZE_MIN_BYTES);
    if (o->group_max_bytes < WAL_BLOCK_BYTES ||
        (uint64_t)o->group_max_bytes + WAL_SLOT_SLACK_BYTES + WAL_FILE_HEADER_BYTES >
            o->file_size_bytes)
        return wal_set_err(err, SEGLOG_EINVAL, 0,
                           "wal: group_max_bytes %u must be >= %u and fit a file of %" PRIu64
                           " bytes",
                           o->group_max_bytes, WAL_BLOCK_BYTES, o->file_size_bytes);
    if (o->record_max_bytes == 0 ||
        wal_frame_size(o->record_max_bytes) > (uint64_t)o->group_max_bytes)
        return wal_set_err(err, SEGLOG_EINVAL, 0,
                           "wal: record_max_bytes %u plus a %u-byte header must fit "
                           "group_max_bytes %u",
                           o->record_max_bytes, WAL_FRAME_HEADER_BYTES, o->group_max_bytes);
    if (o->group_max_records == 0 || o->group_max_records > (1u << 20))
        return wal_set_err(err, SEGLOG_EINVAL, 0, "wal: group_max_records %u must be 1..%u",
                           o->group_max_records, 1u << 20);
    if (o->inflight_groups == 0 || o->inflight_groups > WAL_INFLIGHT_GROUPS_MAX)
        return wal_set_err(err, SEGLOG_EINVAL, 0, "wal: inflight_groups %u must be 1..%u",
                           o->inflight_groups, WAL_INFLIGHT_GROUPS_MAX);
    if (o->spare_files == 0 || o->spare_files > WAL_SPARE_FILES_MAX)
        return wal_set_err(err, SEGLOG_EINVAL, 0, "wal: spare_files %u must be 1..%u",
                           o->spare_files, WAL_SPARE_FILES_MAX);
    if (o->sync_mode != WAL_SYNC_LINKED_FDATASYNC && o->sync_mode != WAL_SYNC_RWF_DSYNC)
        return wal_set_err(err, SEGLOG_EINVAL, 0, "wal: unknown sync_mode %d", (int)o->sync_mode);
    if (o->n_faults > 0 && !wal_faults_compiled())
        return wal_set_err(err, SEGLOG_ENOTSUP, 0,
                           "wal: fault injection requested but not compiled in "
                           "(configure with -DSEGLOG_FAULT_INJECTION=ON)");
    return SEGLOG_OK;
}

/* ---- the WAL thread ---------------------------------------------------------------------------- */

static void poison_locked(wal *w, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void poison_locked(wal *w, int os_errno, const char *fmt, ...)
{
    if (w->poisoned)
        return;
    w->poisoned = true;
    w->poison_errno = os_errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->poison_msg, sizeof w->poison_msg, fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&w->space_cv);
}

static struct io_uring_sqe *get_sqe(wal *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    if (!sqe) {
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
    }
    SEGLOG_ASSERT(sqe != NULL); /* the ring has two entries per slot plus spare */
    return sqe;
}

static uint64_t ud(uint32_t slot, uint32_t gen, int op)
{
    return ((uint64_t)gen << 16) | ((uint64_t)slot << 8) | (uint64_t)op;
}

static void arm_event(wal *w)
{
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_read(sqe, w->event_fd, &w->event_buf, sizeof w->event_buf, 0);
    io_uring_sqe_set_data64(sqe, ud(0, 0, OP_EVENT));
}

/* Issues the write (from s->written on) and, in linked mode, its fdatasync, as attempt s->gen. */
static void submit_attempt(wal *w, uint32_t idx)
{
    wal_slot *s = &w->slots[idx];
    s->gen++;
    struct io_uring_sqe *sqe;
#ifdef SEGLOG_MUTANT_ACK_BEFORE_FSYNC
    /* MUTANT: the fdatasync is linked before the write, so a group is acknowledged with no
     * fdatasync after its write. */
    sqe = get_sqe(w);
    io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, ud(idx, s->gen, OP_FSYNC));
    sqe->flags |= IOSQE_IO_LINK;
    s->pending++;
    atomic_fetch_add(&w->n_fsyncs, 1);
#endif
    sqe = get_sqe(w);
    io_uring_prep_write(sqe, s->fd, s->buf + s->written, (unsigned)(s->write_len - s->written),
                        s->file_off + s->written);
    io_uring_sqe_set_data64(sqe, ud(idx, s->gen, OP_WRITE));
    s->pending++;
    atomic_fetch_add(&w->n_writes, 1);
    if (w->opt.sync_mode == WAL_SYNC_RWF_DSYNC || MUTANT_WRITE_IS_DURABLE) {
        if (w->opt.sync_mode == WAL_SYNC_RWF_DSYNC)
            sqe->rw_flags = RWF_DSYNC;
        return;
    }
    sqe->flags |= IOSQE_IO_LINK;
    sqe = get_sqe(w);
    io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, ud(idx, s->gen, OP_FSYNC));
    s->pending++;
    atomic_fetch_add(&w->n_fsyncs, 1);
}

/* Switches to the next prepared file; waits for the preparer if none is ready. */
static int rotate(wal *w)
{
    WAL_KILL_POINT(WAL_KILL_IN_ROTATION);
    uint64_t file_no = 0;
    seglog_error perr = {0};
    if (wal_prep_next_file(&w->prep, &file_no, &perr) != SEGLOG_OK) {
        pthread_mutex_lock(&w->mu);
        poison_locked(w, perr.os_errno, "%s", perr.message);
        pthread_mutex_unlock(&w->mu);
        return -perr.os_errno;
    }

    char name[WAL_FILE_NAME_MAX];
    wal_file_name(name, file_no);
    int flags = O_WRONLY | O_CLOEXEC | (w->opt.direct_io ? O_DIRECT : 0);
    int fd = openat(w->dir_fd, name, flags);
    if (fd < 0) {
        int e = errno;
        pthread_mutex_lock(&w->mu);
        poison_locked(w, e, "wal: open %s/%s failed: %s", w->dir, name, strerror(e));
        pthread_mutex_unlock(&w->mu);
        return -e;
    }
    close(w->cur_fd);
    w->cur_fd = fd;
    w->cur_file_no = file_no;
    w->cur_off = WAL_FILE_HEADER_BYTES;
    w->cur_file_size = w->opt.file_size_bytes; /* prepared files have this size */
    w->cur_first_seq_known = false;
    atomic_fetch_add(&w->n_rotations, 1);
    return 0;
}

/* Pads a slot for O_DIRECT and stamps every frame with the file and the durable sequence. */
static void seal_slot(wal *w, wal_slot *s, uint64_t synced_seq)
{
    uint32_t file_no32 = (uint32_t)w->cur_file_no;
    if (w->opt.direct_io) {
        uint64_t end = (s->used + WAL_BLOCK_BYTES - 1) & ~(uint64_t)(WAL_BLOCK_BYTES - 1);
        uint64_t gap = end - s->used;
        if (gap != 0 && gap < WAL_FRAME_HEADER_BYTES)
            gap += WAL_BLOCK_BYTES;
        if (gap != 0) {
            wal_frame pad = {.len = (uint32_t)(gap - WAL_FRAME_HEADER_BYTES),
                             .type = WAL_TYPE_PAD};
            struct iovec none = {0};
            memset(s->buf + s->used + WAL_FRAME_HEADER_BYTES, 0, pad.len);
            wal_frame_encode_begin(s->buf + s->used, &pad, &none, 0);
            /* the payload CRC of pad.len zero bytes */
            wal_put32(s->buf + s->used, wal_crc32c(0, s->buf + s->used + WAL_FRAME_HEADER_BYTES,
                                                  pad.len));
            s->used += gap;
        }
    }
    for (uint64_t off = 0; off < s->used;)
        off += wal_frame_finish(s->buf + off, file_no32, synced_seq);
    s->write_len = s->used;
}

static uint64_t marker_size(const wal *w)
{
    return w->opt.direct_io ? WAL_MARKER_DIRECT_BYTES : WAL_MARKER_BUFFERED_BYTES;
}

/* When the WAL goes idle, a padding frame stamped with the durable sequence is written after the
 * last group. Without it the last groups before a pause would carry a synced_seq that vouches for
 * none of them, and recovery could not tell damage to them, acknowledged as they are, from a torn
 * tail. It has no sync of its own and may be lost in a power cut even when the next group is not:
 * the scan allows for that (LOST MARKERS at the top of wal_scan.c). */
static void submit_marker(wal *w, uint64_t durable)
{
    uint64_t size = marker_size(w);
    if (w->cur_off + size > w->cur_file_size) {
        w->marker_seq = durable; /* no room before the file's end: the next file's frames vouch */
        return;
    }
    wal_frame pad = {.len = (uint32_t)(size - WAL_FRAME_HEADER_BYTES), .type = WAL_TYPE_PAD};
    memset(w->marker_buf, 0, WAL_BLOCK_BYTES);
    wal_frame_encode_begin(w->marker_buf, &pad, NULL, 0);
    wal_put32(w->marker_buf, wal_crc32c(0, w->marker_buf + WAL_FRAME_HEADER_BYTES, pad.len));
    wal_frame_finish(w->marker_buf, (uint32_t)w->cur_file_no, durable);
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_write(sqe, w->cur_fd, w->marker_buf, (unsigned)size, w->cur_off);
    io_uring_sqe_set_data64(sqe, ud(0, 0, OP_MARKER));
    w->cur_off += size;
    w->marker_inflight = true;
    w->marker_seq = durable;
    atomic_fetch_add(&w->n_writes, 1);
}

/* Submits taken slots in order; stops before one that needs a new file while older groups are
 * still in flight on the current one. */
static void submit_ready(wal *w)
{
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->n_submitted >= w->n_taken || w->poisoned) {
            pthread_mutex_unlock(&w->mu);
            return;
        }
        uint32_t idx = (w->head + w->n_submitted) % w->nslots;
        uint64_t synced = w->durable_seq;
        pthread_mutex_unlock(&w->mu);

        wal_slot *s = &w->slots[idx];
        uint64_t len = s->used;
        if (w->opt.direct_io)
            len = (len + WAL_BLOCK_BYTES + WAL_FRAME_HEADER_BYTES) & ~(uint64_t)(WAL_BLOCK_BYTES - 1);
        if (w->cur_off + len > w->cur_file_size) {
            /* drain the old file first: its groups, and an idle marker, which may be prepared
             * but not yet submitted (rotate closes the descriptor it names) */
            if (w->n_submitted > 0 || w->marker_inflight)
                return;
            if (rotate(w) != 0)
                return;
        }
        seal_slot(w, s, synced);
        SEGLOG_ASSERT(w->cur_off + s->write_len <= w->cur_file_size);
        s->fd = w->cur_fd;
        s->file_no = w->cur_file_no;
        s->file_off = w->cur_off;
        s->written = 0;
        s->submitted = true;
        w->cur_off += s->write_len;
        if (!w->cur_first_seq_known) {
            wal_prep_file_started(&w->prep, w->cur_file_no, s->first_seq);
            w->cur_first_seq_known = true;
        }
        submit_attempt(w, idx);
        pthread_mutex_lock(&w->mu);
        w->n_submitted++;
        pthread_mutex_unlock(&w->mu);
    }
}

static void slot_fail(wal *w, wal_slot *s, int res, const char *op)
{
    if (s->error == 0) {
        s->error = res;
        s->error_op = op;
        char name[WAL_FILE_NAME_MAX];
        wal_file_name(name, s->file_no);
        pthread_mutex_lock(&w->mu);
        poison_locked(w, -res,
                      "wal: %s of records %" PRIu64 "..%" PRIu64 " to %s/%s at offset %" PRIu64
                      " failed: %s",
                      op, s->first_seq, s->last_seq, w->dir, name, s->file_off + s->written,
                      strerror(-res));
        pthread_mutex_unlock(&w->mu);
    }
}

static void handle_cqe(wal *w, uint64_t data, int res)
{
    int op = (int)(data & 0xFF);
    if (op == OP_EVENT) {
        arm_event(w);
        return;
    }
    if (op == OP_MARKER) {
        w->marker_inflight = false;
        uint64_t size = marker_size(w);
        if (res < 0 || (uint64_t)res != size) {
            char name[WAL_FILE_NAME_MAX];
            wal_file_name(name, w->cur_file_no);
            pthread_mutex_lock(&w->mu);
            poison_locked(w, res < 0 ? -res : EIO, "wal: write of a marker to %s/%s failed: %s",
                          w->dir, name, strerror(res < 0 ? -res : EIO));
            pthread_mutex_unlock(&w->mu);
        }
        return;
    }
    uint32_t idx = (uint32_t)((data >> 8) & 0xFF);
    uint32_t gen = (uint32_t)(data >> 16);
    wal_slot *s = &w->slots[idx];
    SEGLOG_ASSERT(idx < w->nslots && s->pending > 0);
    s->pending--;
    if (op == OP_WRITE) {
        uint64_t want = s->write_len - s->written;
        res = wal_fault_filter(&w->opt, w->fault_count, WAL_FAULT_WRITE, res, want);
        if (res < 0) {
            slot_fail(w, s, res, "write");
        } else if ((uint64_t)res < want) {
            if (s->short_retries >= WAL_SHORT_WRITE_RETRIES_MAX || res == 0) {
                slot_fail(w, s, -EIO, "write (short, resubmitted too often)");
            } else {
                s->short_retries++;
                atomic_fetch_add(&w->n_short, 1);
                s->written += (uint64_t)res;
                if (w->opt.direct_io)
                    s->written &= ~(uint64_t)(WAL_BLOCK_BYTES - 1);
            }
        } else {
            s->written = s->write_len;
            s->write_ok_gen = gen;
            if (w->opt.sync_mode == WAL_SYNC_RWF_DSYNC || MUTANT_WRITE_IS_DURABLE)
                s->durable = true;
            else
                WAL_KILL_POINT(WAL_KILL_AFTER_WRITE);
        }
    } else {
        res = wal_fault_filter(&w->opt, w->fault_count, WAL_FAULT_FSYNC, res, 0);
        if (res == -ECANCELED && s->write_ok_gen != gen) {
            /* the linked write came back short or failed; the chain was broken */
        } else if (res < 0) {
            slot_fail(w, s, res, "fdatasync");
        } else if (s->write_ok_gen == gen) {
            s->durable = true;
        }
    }
    /* A short write: once this attempt's CQEs are all in, issue the rest with a fresh fsync. */
    if (s->pending == 0 && !s->durable && s->error == 0 && s->written < s->write_len) {
        pthread_mutex_lock(&w->mu);
        bool poisoned = w->poisoned;
        pthread_mutex_unlock(&w->mu);
        if (!poisoned)
            submit_attempt(w, idx);
    }
}

/* Delivers finished groups from the head, in sequence order. Returns how many. */
static uint32_t deliver(wal *w)
{
    uint32_t delivered = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->n_taken == 0) {
            pthread_mutex_unlock(&w->mu);
            return delivered;
        }
        uint32_t idx = w->head;
        wal_slot *s = &w->slots[idx];
        bool ok = s->durable && s->error == 0 && s->pending == 0 && !w->failed_delivered;
        bool failed = s->pending == 0 && !ok &&
                      (s->error != 0 || w->poisoned || w->failed_delivered);
        if (!ok && !failed) {
            pthread_mutex_unlock(&w->mu);
            return delivered;
        }
        if (!ok)
            w->failed_delivered = true;
        if (ok) {
            SEGLOG_ASSERT(s->first_seq == w->durable_seq + 1); /* acks go in sequence order */
            w->durable_seq = s->last_seq;
            w->groups++;
            w->records += s->n;
            w->bytes += s->write_len;
        }
        pthread_mutex_unlock(&w->mu);

        if (ok)
            WAL_KILL_POINT(WAL_KILL_AFTER_FSYNC);
        int status = ok ? SEGLOG_OK : (s->error != 0 ? SEGLOG_EIO : SEGLOG_EPOISONED);
        for (uint32_t i = 0; i < s->n; i++)
            if (s->done[i].fn)
                s->done[i].fn(s->done[i].ctx, s->done[i].seq, status,
                              s->buf + s->done[i].off + WAL_FRAME_HEADER_BYTES, s->done[i].len);

        pthread_mutex_lock(&w->mu);
        bool was_submitted = s->submitted;
        s->used = 0;
        s->n = 0;
        s->first_seq = s->last_seq = 0;
        s->submitted = false;
        s->write_len = s->written = 0;
        s->write_ok_gen = 0;
        s->durable = false;
        s->short_retries = 0;
        s->error = 0;
        s->error_op = NULL;
        w->head = (w->head + 1) % w->nslots;
        w->n_taken--;
        if (was_submitted)
            w->n_submitted--;
        if (w->space_waiters > 0)
            pthread_cond_broadcast(&w->space_cv);
        pthread_mutex_unlock(&w->mu);
        delivered++;
    }
}

/* Moves closed and filling slots to the taken region while the in-flight limit allows; after a
 * poisoning, takes everything so that it is failed. Called with mu held. */
static uint32_t take_locked(wal *w)
{
    uint32_t taken = 0;
    for (;;) {
        uint32_t limit = w->poisoned ? w->nslots : w->opt.inflight_groups;
        if (w->n_taken >= limit)
            break;
        if (w->n_closed > 0) {
            w->n_closed--;
            w->n_taken++;
            taken++;
            continue;
        }
        wal_slot *fill = &w->slots[(w->head + w->n_taken) % w->nslots];
        if (fill->n > 0 && w->n_taken + 2 <= w->nslots) {
            w->n_taken++;
            taken++;
            continue;
        }
        break;
    }
    return taken;
}

static bool work_pending_locked(const wal *w)
{
    const wal_slot *fill = &w->slots[(w->head + w->n_taken + w->n_closed) % w->nslots];
    return w->n_taken > 0 || w->n_closed > 0 || fill->n > 0;
}

static void *wal_main(void *arg)
{
    pthread_setname_np(pthread_self(), "seglog-wal");
    wal *w = arg;
    arm_event(w);
    io_uring_submit(&w->ring);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        uint32_t taken = take_locked(w);
        bool poisoned = w->poisoned;
        pthread_mutex_unlock(&w->mu);
        if (!poisoned)
            submit_ready(w);
        io_uring_submit(&w->ring);

        uint32_t handled = 0;
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&w->ring, &cqe) == 0) {
            uint64_t data = io_uring_cqe_get_data64(cqe);
            int res = cqe->res;
            io_uring_cqe_seen(&w->ring, cqe);
            handle_cqe(w, data, res);
            handled++;
        }
        uint32_t delivered = deliver(w);
        if (taken + handled + delivered > 0)
            continue;

        pthread_mutex_lock(&w->mu);
        uint32_t limit = w->poisoned ? w->nslots : w->opt.inflight_groups;
        const wal_slot *fill = &w->slots[(w->head + w->n_taken) % w->nslots];
        bool can_take = w->n_taken < limit && (w->n_closed > 0 || fill->n > 0);
        if (can_take) {
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        if (w->n_taken == 0 && !w->poisoned && !w->failed_delivered && !w->marker_inflight &&
            w->durable_seq > w->marker_seq) {
            uint64_t durable = w->durable_seq;
            pthread_mutex_unlock(&w->mu);
            submit_marker(w, durable);
            continue;
        }
        if (w->closing && !work_pending_locked(w) && !w->marker_inflight) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        w->sleeping = true;
        pthread_mutex_unlock(&w->mu);
        io_uring_submit_and_wait(&w->ring, 1);
        pthread_mutex_lock(&w->mu);
        w->sleeping = false;
        pthread_mutex_unlock(&w->mu);
    }
    /* A clean close leaves the last marker durable too. */
    pthread_mutex_lock(&w->mu);
    bool healthy = !w->poisoned && !w->failed_delivered;
    pthread_mutex_unlock(&w->mu);
    if (healthy && w->marker_seq > 0 && fdatasync(w->cur_fd) != 0)
        fprintf(stderr, "seglog: wal: fdatasync at close failed: %s\n", strerror(errno));
    return NULL;
}

/* ---- open and close ---------------------------------------------------------------------------- */

static void free_slots(wal *w)
{
    if (!w->slots)
        return;
    for (uint32_t i = 0; i < w->nslots; i++) {
        free(w->slots[i].buf);
        free(w->slots[i].done);
    }
    free(w->slots);
    w->slots = NULL;
}

static void wal_free(wal *w)
{
    if (!w)
        return;
    free_slots(w);
    free(w->marker_buf);
    if (w->cur_fd >= 0)
        close(w->cur_fd);
    if (w->event_fd >= 0)
        close(w->event_fd);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->space_cv);
    wal_prep_fini(&w->prep);
    free(w);
}

/* Opens the last live file for writing at the end of the log, after making every live file
 * durable. wal_prep_adopt_scan has run. */
static int start_writing(wal *w, wal_scan *sc, seglog_error *err)
{
    const wal_prep *p = &w->prep;
    uint64_t off = WAL_FILE_HEADER_BYTES; /* when adopt made the first file: nothing was found */
    if (sc->end_idx < sc->n) {
        SEGLOG_ASSERT(sc->files[sc->end_idx].file_no == p->files[p->n_files - 1].file_no);
        off = sc->end_off;
    }
    const wal_file *cur = &p->files[p->n_files - 1];
    char name[WAL_FILE_NAME_MAX];
    wal_file_name(name, cur->file_no);
    w->cur_fd = openat(w->dir_fd, name, O_WRONLY | O_CLOEXEC | (w->opt.direct_io ? O_DIRECT : 0));
    if (w->cur_fd < 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot open %s/%s for writing: %s", w->dir,
                           name, strerror(errno));
    w->cur_file_no = cur->file_no;
    w->cur_off = off;
    w->cur_file_size = sc->end_idx < sc->n ? sc->files[sc->end_idx].size : w->opt.file_size_bytes;
    if (w->cur_file_size > w->opt.file_size_bytes && sc->end_idx < sc->n &&
        sc->files[sc->end_idx].hdr.file_size < w->cur_file_size)
        w->cur_file_size = sc->files[sc->end_idx].hdr.file_size;
    w->cur_first_seq_known = cur->first_seq != 0;
    if (w->opt.direct_io && off % WAL_BLOCK_BYTES != 0)
        w->cur_off = w->cur_file_size; /* written buffered before: go on in a new file */
    /* The previous process may have died with records written but not synced, which this one
     * will treat as durable (new frames vouch for them): make them so before anything else. */
    for (uint32_t i = 0; i < p->n_files; i++) {
        char fname[WAL_FILE_NAME_MAX];
        wal_file_name(fname, p->files[i].file_no);
        int fd = openat(w->dir_fd, fname, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fdatasync(fd) != 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return wal_set_err(err, SEGLOG_EIO, e, "wal: fdatasync of %s/%s at open failed: %s",
                               w->dir, fname, strerror(e));
        }
        close(fd);
    }
    return SEGLOG_OK;
}

static int alloc_slots(wal *w, seglog_error *err)
{
    w->nslots = w->opt.inflight_groups + 2;
    w->slots = calloc(w->nslots, sizeof *w->slots);
    if (!w->slots)
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory for %u slots",
                           w->nslots);
    w->marker_buf = aligned_alloc(WAL_BLOCK_BYTES, WAL_BLOCK_BYTES);
    if (!w->marker_buf)
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory");
    size_t cap = ((size_t)w->opt.group_max_bytes + WAL_SLOT_SLACK_BYTES + WAL_BLOCK_BYTES - 1) &
                 ~(size_t)(WAL_BLOCK_BYTES - 1);
    for (uint32_t i = 0; i < w->nslots; i++) {
        w->slots[i].buf = aligned_alloc(WAL_BLOCK_BYTES, cap);
        w->slots[i].done = calloc(w->opt.group_max_records, sizeof(wal_done_entry));
        if (!w->slots[i].buf || !w->slots[i].done)
            return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM,
                               "wal: out of memory for %u group buffers of %zu bytes", w->nslots,
                               cap);
        w->slots[i].fd = -1;
    }
    return SEGLOG_OK;
}

/* Allocates a wal for dir (already checked to fit) with opts (already checked): its locks and the
 * preparer's state, no file yet. NULL when out of memory. */
static wal *wal_create(const char *dir, const wal_options *opts)
{
    wal *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    w->opt = *opts;
    w->dir_fd = w->lock_fd = w->event_fd = w->cur_fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->space_cv, &ca);
    pthread_condattr_destroy(&ca);
    wal_prep_init(&w->prep, w->dir, &w->opt);
    return w;
}

/* Opens the directory and takes its lock file: SEGLOG_EBUSY if another process holds it. */
static int lock_dir(wal *w, seglog_error *err)
{
    const char *dir = w->dir;
    w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot open directory %s: %s", dir,
                           strerror(errno));
    w->prep.dir_fd = w->dir_fd;
    w->lock_fd = openat(w->dir_fd, WAL_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot create %s/%s: %s", dir,
                           WAL_LOCK_FILE, strerror(errno));
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK
                   ? wal_set_err(err, SEGLOG_EBUSY, errno,
                                 "wal: %s is in use by another process (lock on %s held)", dir,
                                 WAL_LOCK_FILE)
                   : wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot lock %s/%s: %s", dir,
                                 WAL_LOCK_FILE, strerror(errno));
    return SEGLOG_OK;
}

/* Zeroes from the cut to the end of the file before anything new is written there, so that no
 * later recovery can take a leftover of the cut groups for a record. */
static int cut_torn_tail(wal *w, const wal_scan *sc, seglog_error *err)
{
    WAL_KILL_POINT(WAL_KILL_IN_RECOVERY);
    const wal_scan_file *f = &sc->files[sc->end_idx];
    char name[WAL_FILE_NAME_MAX];
    wal_file_name(name, f->file_no);
    int fd = openat(w->dir_fd, name, O_WRONLY | O_CLOEXEC);
    int zrc = fd < 0 ? -errno : wal_zero_range(fd, sc->end_off, f->size);
    if (fd >= 0)
        close(fd);
    if (zrc != 0)
        return wal_set_err(err, SEGLOG_EIO, -zrc, "wal: cannot cut the torn tail of %s/%s: %s",
                           w->dir, name, strerror(-zrc));
    return SEGLOG_OK;
}

/* The recovery at open: scans the directory (replaying from replay_from_seq), cuts a torn tail,
 * adopts the files and opens the one to write at the end of the log. */
static int recover(wal *w, uint64_t replay_from_seq, wal_replay_fn replay, void *replay_ctx,
                   wal_scan_report *rep, seglog_error *err)
{
    wal_scan sc = {0};
    int rc = wal_scan_list(w->dir_fd, w->dir, true, &sc, err);
    if (rc == SEGLOG_OK)
        rc = wal_scan_walk(&sc, w->dir, replay_from_seq, replay, replay_ctx, rep, err);
    if (rc == SEGLOG_OK && sc.torn)
        rc = cut_torn_tail(w, &sc, err);
    if (rc == SEGLOG_OK)
        rc = wal_prep_adopt_scan(&w->prep, &sc, err);
    if (rc == SEGLOG_OK)
        rc = start_writing(w, &sc, err);
    wal_scan_free(&sc);
    return rc;
}

/* New records follow the last one found (last_seq, 0 if none), and come at least at
 * replay_from_seq; everything before is durable, and behind the checkpoint. */
static int set_sequences(wal *w, uint64_t last, uint64_t replay_from_seq, seglog_error *err)
{
    if (last > 0 && replay_from_seq > last + 1)
        return wal_set_err(err, SEGLOG_ECORRUPT, 0,
                           "wal: records from %" PRIu64 " are needed but the WAL in %s ends at %"
                           PRIu64,
                           replay_from_seq, w->dir, last);
    w->next_seq = last + 1;
    if (w->next_seq < replay_from_seq)
        w->next_seq = replay_from_seq;
    w->durable_seq = w->next_seq - 1;
    w->prep.checkpoint_seq = replay_from_seq > 0 ? replay_from_seq - 1 : 0;
    return SEGLOG_OK;
}

/* Sets up the eventfd and the ring, and starts the preparer and the WAL thread. */
static int start_threads(wal *w, seglog_error *err)
{
    w->event_fd = eventfd(0, EFD_CLOEXEC);
    if (w->event_fd < 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: eventfd failed: %s", strerror(errno));
    unsigned entries = 8;
    while (entries < 2 * w->nslots + 8)
        entries <<= 1;
    int urc = io_uring_queue_init(entries, &w->ring, 0);
    if (urc < 0)
        return wal_set_err(err, urc == -ENOSYS || urc == -EPERM ? SEGLOG_ENOTSUP : SEGLOG_EIO,
                           -urc, "wal: io_uring_queue_init failed: %s", strerror(-urc));
    if (wal_prep_start(&w->prep) != 0) {
        io_uring_queue_exit(&w->ring);
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot start the preparer thread");
    }
    if (pthread_create(&w->thread, NULL, wal_main, w) != 0) {
        wal_prep_stop(&w->prep);
        io_uring_queue_exit(&w->ring);
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot start the WAL thread");
    }
    return SEGLOG_OK;
}

int wal_open(wal **out, const char *dir, const wal_options *opts, uint64_t replay_from_seq,
             wal_replay_fn replay, void *replay_ctx, wal_scan_report *report, seglog_error *err)
{
    *out = NULL;
    wal_scan_report local;
    wal_scan_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    wal_options defaults;
    if (!opts) {
        wal_options_init(&defaults);
        opts = &defaults;
    }
    int rc = options_check(opts, err);
    if (rc != SEGLOG_OK)
        return rc;
    if (strlen(dir) >= WAL_PATH_MAX)
        return wal_set_err(err, SEGLOG_EINVAL, 0, "wal: directory path longer than %u bytes",
                           WAL_PATH_MAX);
    wal *w = wal_create(dir, opts);
    if (!w)
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory");
    rc = lock_dir(w, err);
    if (rc == SEGLOG_OK)
        rc = recover(w, replay_from_seq, replay, replay_ctx, rep, err);
    if (rc == SEGLOG_OK)
        rc = alloc_slots(w, err);
    if (rc == SEGLOG_OK)
        rc = set_sequences(w, rep->last_seq, replay_from_seq, err);
    if (rc == SEGLOG_OK)
        rc = start_threads(w, err);
    if (rc != SEGLOG_OK) {
        wal_free(w);
        return rc;
    }
    *out = w;
    return SEGLOG_OK;
}

void wal_close(wal *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->closing = true;
    pthread_cond_broadcast(&w->space_cv);
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    if (write(w->event_fd, &one, sizeof one) < 0) {
        /* the counter cannot overflow here; nothing else can fail */
    }
    pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->mu);
    while (w->space_waiters > 0) /* producers that were waiting leave with SEGLOG_ESHUTDOWN */
        pthread_cond_wait(&w->space_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    wal_prep_stop(&w->prep);
    io_uring_queue_exit(&w->ring);
    wal_free(w);
}

/* ---- appending -------------------------------------------------------------------------------- */

static void deadline_after_ms(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int append_common(wal *w, uint8_t type, const struct iovec *iov, int iovcnt,
                         wal_done_fn done, void *done_ctx, uint64_t *seq_out, bool may_wait,
                         seglog_error *err)
{
    if (type < WAL_TYPE_USER_MIN)
        return wal_set_err(err, SEGLOG_EINVAL, 0, "wal: record type %u is reserved (use >= %u)",
                           type, WAL_TYPE_USER_MIN);
    uint64_t len = 0;
    for (int i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    if (len > w->opt.record_max_bytes)
        return wal_set_err(err, SEGLOG_ETOOLARGE, 0,
                           "wal: record of %" PRIu64 " bytes exceeds the limit of %u bytes", len,
                           w->opt.record_max_bytes);
    uint64_t fsz = wal_frame_size((uint32_t)len);
    bool on_wal_thread = pthread_equal(pthread_self(), w->thread) != 0;
    struct timespec deadline;
    bool have_deadline = false;
    bool kick = false;

    pthread_mutex_lock(&w->mu);
    wal_slot *fill;
    for (;;) {
        if (w->poisoned) {
            int rc = wal_set_err(err, SEGLOG_EPOISONED, w->poison_errno, "%s", w->poison_msg);
            pthread_mutex_unlock(&w->mu);
            return rc;
        }
        if (w->closing) {
            pthread_mutex_unlock(&w->mu);
            return wal_set_err(err, SEGLOG_ESHUTDOWN, 0, "wal: %s is closing", w->dir);
        }
        fill = &w->slots[(w->head + w->n_taken + w->n_closed) % w->nslots];
        if (fill->n < w->opt.group_max_records && fill->used + fsz <= w->opt.group_max_bytes)
            break;
        if (fill->n > 0 && w->n_taken + w->n_closed + 2 <= w->nslots) {
            w->n_closed++; /* this group is full: start the next */
            continue;
        }
        if (on_wal_thread || !may_wait) {
            pthread_mutex_unlock(&w->mu);
            return wal_set_err(err, SEGLOG_EFULL, 0,
                               "wal: queue full (%u groups of up to %u bytes)", w->nslots,
                               w->opt.group_max_bytes);
        }
        if (!have_deadline) {
            deadline_after_ms(&deadline, w->opt.enqueue_timeout_ms);
            have_deadline = true;
        }
        w->space_waiters++;
        int wrc = pthread_cond_timedwait(&w->space_cv, &w->mu, &deadline);
        w->space_waiters--;
        if (w->closing)
            pthread_cond_broadcast(&w->space_cv);
        if (wrc == ETIMEDOUT) {
            fill = &w->slots[(w->head + w->n_taken + w->n_closed) % w->nslots];
            if (w->poisoned || w->closing ||
                (fill->n < w->opt.group_max_records && fill->used + fsz <= w->opt.group_max_bytes))
                continue;
            pthread_mutex_unlock(&w->mu);
            return wal_set_err(err, SEGLOG_EFULL, 0,
                               "wal: queue full for %u ms (%u groups of up to %u bytes queued or "
                               "in flight); the disk is slower than the producers",
                               w->opt.enqueue_timeout_ms, w->nslots, w->opt.group_max_bytes);
        }
    }
    uint64_t seq = w->next_seq++;
    wal_frame hdr = {.len = (uint32_t)len, .seq = seq, .type = type};
    wal_frame_encode_begin(fill->buf + fill->used, &hdr, iov, iovcnt);
    fill->done[fill->n] = (wal_done_entry){
        .fn = done, .ctx = done_ctx, .seq = seq, .off = (uint32_t)fill->used, .len = (uint32_t)len};
    if (fill->n == 0)
        fill->first_seq = seq;
    fill->last_seq = seq;
    fill->n++;
    fill->used += fsz;
    if (w->sleeping) {
        w->sleeping = false;
        kick = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (kick) {
        uint64_t one = 1;
        if (write(w->event_fd, &one, sizeof one) < 0) {
            /* cannot fail for an eventfd counter far from overflow */
        }
    }
    if (seq_out)
        *seq_out = seq;
    return SEGLOG_OK;
}

int wal_appendv(wal *w, uint8_t type, const struct iovec *iov, int iovcnt, wal_done_fn done,
                void *done_ctx, uint64_t *seq_out, seglog_error *err)
{
    return append_common(w, type, iov, iovcnt, done, done_ctx, seq_out, true, err);
}

int wal_try_appendv(wal *w, uint8_t type, const struct iovec *iov, int iovcnt, wal_done_fn done,
                    void *done_ctx, uint64_t *seq_out, seglog_error *err)
{
    return append_common(w, type, iov, iovcnt, done, done_ctx, seq_out, false, err);
}

int wal_wait_space(wal *w, uint32_t bytes, uint32_t timeout_ms, seglog_error *err)
{
    uint64_t fsz = wal_frame_size(bytes);
    struct timespec deadline;
    deadline_after_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&w->mu);
    int rc = SEGLOG_OK;
    for (;;) {
        if (w->poisoned) {
            rc = wal_set_err(err, SEGLOG_EPOISONED, w->poison_errno, "%s", w->poison_msg);
            break;
        }
        if (w->closing) {
            rc = wal_set_err(err, SEGLOG_ESHUTDOWN, 0, "wal: %s is closing", w->dir);
            break;
        }
        wal_slot *fill = &w->slots[(w->head + w->n_taken + w->n_closed) % w->nslots];
        bool room = fill->n < w->opt.group_max_records && fill->used + fsz <= w->opt.group_max_bytes;
        if (room || w->n_taken + w->n_closed + 2 <= w->nslots)
            break;
        w->space_waiters++;
        int wrc = pthread_cond_timedwait(&w->space_cv, &w->mu, &deadline);
        w->space_waiters--;
        if (w->closing)
            pthread_cond_broadcast(&w->space_cv);
        if (wrc == ETIMEDOUT) {
            rc = wal_set_err(err, SEGLOG_EFULL, 0,
                             "wal: queue full for %u ms (%u groups of up to %u bytes queued or in "
                             "flight); the disk is slower than the producers",
                             timeout_ms, w->nslots, w->opt.group_max_bytes);
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int wal_append(wal *w, uint8_t type, const void *payload, uint32_t len, wal_done_fn done,
               void *done_ctx, uint64_t *seq_out, seglog_error *err)
{
    struct iovec iov = {.iov_base = (void *)(uintptr_t)payload, .iov_len = len};
    return wal_appendv(w, type, &iov, 1, done, done_ctx, seq_out, err);
}

typedef struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
} sync_wait;

static void sync_done(void *ctx, uint64_t seq, int status, const void *payload, uint32_t len)
{
    (void)seq;
    (void)payload;
    (void)len;
    sync_wait *sw = ctx;
    pthread_mutex_lock(&sw->mu);
    sw->done = true;
    sw->status = status;
    pthread_cond_signal(&sw->cv);
    pthread_mutex_unlock(&sw->mu);
}

int wal_append_sync(wal *w, uint8_t type, const void *payload, uint32_t len, uint64_t *seq_out,
                    seglog_error *err)
{
    sync_wait sw = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    uint64_t seq = 0;
    int rc = wal_append(w, type, payload, len, sync_done, &sw, &seq, err);
    if (rc != SEGLOG_OK)
        return rc;
    /* Unbounded on purpose: the WAL thread completes every accepted record exactly once, durable,
     * failed, or failed at close. */
    pthread_mutex_lock(&sw.mu);
    while (!sw.done)
        pthread_cond_wait(&sw.cv, &sw.mu);
    pthread_mutex_unlock(&sw.mu);
    pthread_cond_destroy(&sw.cv);
    pthread_mutex_destroy(&sw.mu);
    if (seq_out)
        *seq_out = seq;
    if (sw.status != SEGLOG_OK) {
        pthread_mutex_lock(&w->mu);
        wal_set_err(err, sw.status, w->poison_errno, "%s",
                    w->poison_msg[0] ? w->poison_msg : "wal: record failed");
        pthread_mutex_unlock(&w->mu);
    }
    return sw.status;
}

/* ---- checkpoint and statistics ---------------------------------------------------------------- */

void wal_checkpoint(wal *w, uint64_t seq)
{
    wal_prep_checkpoint(&w->prep, seq);
}

void wal_stats_get(wal *w, wal_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&w->mu);
    out->next_seq = w->next_seq;
    out->durable_seq = w->durable_seq;
    out->groups = w->groups;
    out->records = w->records;
    out->bytes = w->bytes;
    out->poisoned = w->poisoned;
    out->poison_errno = w->poison_errno;
    snprintf(out->poison_message, sizeof out->poison_message, "%s", w->poison_msg);
    pthread_mutex_unlock(&w->mu);
    out->writes_submitted = atomic_load(&w->n_writes);
    out->fsyncs_submitted = atomic_load(&w->n_fsyncs);
    out->short_writes = atomic_load(&w->n_short);
    out->rotations = atomic_load(&w->n_rotations);
    wal_prep_stats_get(&w->prep, out);
}
