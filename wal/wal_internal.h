/*
 * wal_internal.h — the WAL's private header, in two parts.
 *
 * First the frame and file-header codecs (wal_format.c), the CRC32C paths (crc32c.c) and the
 * little-endian helpers: shared by the WAL's files, its tests and fuzz targets, and also used by
 * storage/ and the tools, which decode WAL bytes themselves. Nothing there does I/O. The format
 * they encode is described at the top of wal_format.c.
 *
 * Then what the WAL's own files share with one another and nothing else should use: the one
 * wal_set_err, the recovery scan's types and calls (wal_scan.c), and the preparer's state and
 * calls (wal_prepare.c). No io_uring type appears here: struct wal and the ring stay in wal.c.
 */
#ifndef SEGLOG_WAL_INTERNAL_H
#define SEGLOG_WAL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "wal.h"

#define WAL_FRAME_ALIGN_BYTES 8u
#define WAL_BLOCK_BYTES 4096u /* O_DIRECT alignment and file-header size */
#define WAL_FILE_MAGIC "SEGLOGWL"
#define WAL_FILE_NAME_MAX 64u

_Static_assert(WAL_FILE_HEADER_BYTES == WAL_BLOCK_BYTES, "data starts at the first block");
_Static_assert(WAL_FRAME_HEADER_BYTES % WAL_FRAME_ALIGN_BYTES == 0, "frames stay aligned");

/* A decoded frame header. */
typedef struct wal_frame {
    uint32_t crc;        /* stored CRC32C */
    uint32_t len;        /* payload bytes */
    uint64_t seq;        /* sequence number (0 for padding) */
    uint64_t synced_seq; /* every record <= this was durable when this frame was made */
    uint32_t file_no;    /* low 32 bits of the number of the file it was written into */
    uint8_t type;        /* WAL_TYPE_PAD or a user type */
    uint8_t flags;       /* 0 */
    uint16_t reserved;   /* 0 */
} wal_frame;

/* What wal_frame_check found at a position. */
typedef enum wal_frame_status {
    WAL_FRAME_OK = 0,    /* a valid frame of this file */
    WAL_FRAME_ZERO,      /* an all-zero header: unwritten space */
    WAL_FRAME_STALE,     /* a header of another file number: a previous use of a recycled file */
    WAL_FRAME_TRUNCATED, /* the frame runs past the available bytes */
    WAL_FRAME_BAD,       /* a header of this file whose fields or CRC do not check */
} wal_frame_status;

/* Bytes a frame with len payload bytes occupies (header + payload, rounded up to 8). */
static inline uint64_t wal_frame_size(uint32_t len)
{
    return ((uint64_t)WAL_FRAME_HEADER_BYTES + len + WAL_FRAME_ALIGN_BYTES - 1) &
           ~(uint64_t)(WAL_FRAME_ALIGN_BYTES - 1);
}

/* Writes a frame (header, payload gathered from iov, zero padding to 8) at dst, which has room for
 * wal_frame_size(len) bytes. Returns the bytes written. */
uint64_t wal_frame_encode(uint8_t *dst, const wal_frame *hdr, const struct iovec *iov, int iovcnt);

/* The two halves of wal_frame_encode, so that producers copy the payload and compute its CRC in
 * parallel and the WAL thread, which alone knows the file and the durable sequence at submission,
 * stamps file_no and synced_seq and completes the CRC over the 28 header bytes. Between the two the
 * crc field holds the payload's CRC. finish returns the frame's size. */
uint64_t wal_frame_encode_begin(uint8_t *dst, const wal_frame *hdr, const struct iovec *iov,
                                int iovcnt);
uint64_t wal_frame_finish(uint8_t *frame, uint32_t file_no, uint64_t synced_seq);

/* Checks the frame at buf (avail bytes readable) for file number file_no, with payloads of at most
 * record_max bytes. On WAL_FRAME_OK fills *out; the payload is at buf + WAL_FRAME_HEADER_BYTES. */
wal_frame_status wal_frame_check(const uint8_t *buf, uint64_t avail, uint32_t file_no,
                                 uint32_t record_max, wal_frame *out);

/* The file header occupies the first WAL_FILE_HEADER_BYTES of each file. */
typedef struct wal_file_header {
    uint32_t format_version; /* WAL_FORMAT_VERSION */
    uint64_t file_no;        /* the number in the file's name */
    uint64_t file_size;      /* bytes the file was prepared to */
    uint32_t record_max;     /* record_max_bytes of the writer that prepared it */
} wal_file_header;

void wal_file_header_encode(uint8_t dst[WAL_FILE_HEADER_BYTES], const wal_file_header *h);

/* SEGLOG_OK, SEGLOG_ECORRUPT (bad magic or CRC) or SEGLOG_EVERSION (unknown format version). */
int wal_file_header_decode(const uint8_t *src, uint64_t avail, wal_file_header *out);

/* "wal-0000000000000007.log" for file_no 7; returns false if name is not such a name. */
void wal_file_name(char dst[WAL_FILE_NAME_MAX], uint64_t file_no);
bool wal_file_name_parse(const char *name, uint64_t *file_no);

/* Both CRC32C paths, for the tests. */
uint32_t wal_crc32c_table(uint32_t crc, const void *data, size_t len);
uint32_t wal_crc32c_hw(uint32_t crc, const void *data, size_t len);
bool wal_crc32c_hw_available(void);

/* Little-endian helpers. */
static inline void wal_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wal_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t wal_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t wal_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ==== Shared by the WAL's own files (wal.c, wal_prepare.c, wal_scan.c) ========================= */

#define WAL_FILES_MAX 4096u /* files holding records after the checkpoint, at most */
#define WAL_FILES_LIST_MAX (WAL_FILES_MAX + WAL_SPARE_FILES_MAX + 16u) /* files in the directory */
#define WAL_MARKER_BUFFERED_BYTES WAL_FRAME_HEADER_BYTES /* an idle marker: a bare header, */
#define WAL_MARKER_DIRECT_BYTES WAL_BLOCK_BYTES            /* or one block under O_DIRECT */

_Static_assert(WAL_MARKER_DIRECT_BYTES % WAL_BLOCK_BYTES == 0 &&
                   WAL_MARKER_BUFFERED_BYTES % WAL_FRAME_ALIGN_BYTES == 0,
               "markers keep writes aligned");

/* Stays on in release builds: for cheap checks that guard durability. */
#ifndef SEGLOG_ASSERT
#define SEGLOG_ASSERT(c)                                                                           \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "seglog: assertion failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#endif

/* A named kill point (wal.h); compiled out unless SEGLOG_KILL_POINTS. */
#ifdef SEGLOG_KILL_POINTS
#define WAL_KILL_POINT(name) wal_kill_point(name)
#else
#define WAL_KILL_POINT(name) ((void)0)
#endif

/* Fills *err (when not NULL) with code, os_errno, module "wal" and the message; returns code.
 * The one definition for the WAL's files is in wal.c. */
int wal_set_err(seglog_error *err, int code, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- test hooks (wal_hooks.c) ---- */

/* Returns res, or what the fault plan in opt puts in its place for this op; fault_count[op]
 * counts the ops seen (the WAL thread's own counters). No-op unless SEGLOG_FAULT_INJECTION. */
int wal_fault_filter(const wal_options *opt, uint64_t fault_count[2], wal_fault_op op, int res,
                     uint64_t len);

/* ---- the recovery scan (wal_scan.c) ---- */

/* One file as the scan saw it. Owned by the wal_scan that lists it: fd and map stay valid until
 * wal_scan_free. */
typedef struct wal_scan_file {
    uint64_t file_no;    /* the number in its name */
    int fd;              /* read-only descriptor, or -1 */
    uint8_t *map;        /* whole file, read-only; NULL if empty */
    uint64_t size;       /* bytes on disk */
    int header_rc;       /* SEGLOG_OK, SEGLOG_ECORRUPT or SEGLOG_EVERSION */
    wal_file_header hdr; /* decoded header, when header_rc is SEGLOG_OK */
    uint64_t first_seq;  /* of its first record, 0 if none */
    uint64_t records;    /* records the walk found in it */
} wal_scan_file;

/* A WAL directory as the scan saw it: filled by wal_scan_list (the files) and wal_scan_walk (the
 * end); released by wal_scan_free. */
typedef struct wal_scan {
    wal_scan_file *files; /* [n], in number order */
    uint32_t n;
    uint32_t end_idx;    /* file holding the end of the log (n if no files) */
    uint64_t end_off;    /* offset in that file where the log ends */
    uint64_t next_seq;   /* last record's seq + 1, or 0 if none */
    bool torn;           /* the end is a torn tail that wal_open must zero */
} wal_scan;

/* Lists and maps the WAL files of dir (dir_fd open on it) into *sc, in number order; removes .tmp
 * leftovers first if remove_tmp. On failure *sc may hold some files: wal_scan_free it anyway. */
int wal_scan_list(int dir_fd, const char *dir, bool remove_tmp, wal_scan *sc, seglog_error *err);

/* Walks the listed files (RECOVERY at the top of wal_scan.c): calls replay (may be NULL) for every
 * record from from_seq on, fills *rep and sc's end. SEGLOG_OK, SEGLOG_ECORRUPT, or replay's
 * non-zero return. */
int wal_scan_walk(wal_scan *sc, const char *dir, uint64_t from_seq, wal_replay_fn replay,
                  void *ctx, wal_scan_report *rep, seglog_error *err);

/* Unmaps and closes what wal_scan_list opened; leaves *sc empty. */
void wal_scan_free(wal_scan *sc);

/* ---- the preparer (wal_prepare.c) ---- */

/* A file the WAL knows of. */
typedef struct wal_file {
    uint64_t file_no;   /* the number in its name */
    uint64_t first_seq; /* first record written into it; 0 while unknown */
} wal_file;

/* The preparer's state, embedded in struct wal (wal.c) as w->prep.
 * Immutable after wal_open: dir, opt (borrowed from the struct wal that embeds this) and dir_fd
 * (set by wal_open once the directory is open).
 * Guarded by mu: everything else, shared by the preparer thread and the WAL thread. wal_open fills
 * it before the preparer starts, and wal_close frees it after the preparer stopped, without mu.
 * Lock order: the wal's mu before this mu; neither is held across file I/O or io_uring calls,
 * except this one while the WAL thread waits on cv for a spare (wal_prep_next_file). */
typedef struct wal_prep {
    const char *dir;          /* the WAL directory's path, for messages */
    int dir_fd;               /* the WAL directory (owned by the wal) */
    const wal_options *opt;   /* the wal's options */
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* preparer: work to do; WAL thread: a spare is ready */
    wal_file *files;          /* [WAL_FILES_MAX + 1]: files with (or about to get) records, oldest
                               * first; the last one is being written */
    uint32_t n_files;
    uint64_t *spares;         /* [WAL_FILES_MAX + 1]: ready files' numbers, ascending */
    uint32_t n_spares;
    uint64_t reserve[WAL_SPARE_FILES_MAX]; /* files behind the checkpoint kept for recycling */
    uint32_t n_reserve;
    uint64_t next_file_no;    /* number of the next file to prepare */
    uint64_t checkpoint_seq;  /* last value given to wal_checkpoint */
    bool stop;                /* wal_prep_stop: the preparer thread exits */
    int error;                /* errno of a failed preparation, reported on rotation */
    char msg[SEGLOG_ERROR_MESSAGE_MAX]; /* its message */
    uint64_t files_created, files_recycled, files_removed; /* for wal_stats_get */
    pthread_t thread;         /* the preparer thread, between wal_prep_start and wal_prep_stop */
} wal_prep;

/* Sets up *p with no files; dir and opt must outlive it. */
void wal_prep_init(wal_prep *p, const char *dir, const wal_options *opt);

/* Frees the lists and the lock (after wal_prep_stop, or if the thread never started). */
void wal_prep_fini(wal_prep *p);

/* Builds the lists from a finished scan: files up to the end hold records, later ones become
 * spares, the rest are removed; if no file holds records, the first one is created. Before the
 * preparer starts. */
int wal_prep_adopt_scan(wal_prep *p, const wal_scan *sc, seglog_error *err);

/* Starts / stops the preparer thread. wal_prep_start returns pthread_create's result. */
int wal_prep_start(wal_prep *p);
void wal_prep_stop(wal_prep *p);

/* The WAL thread's side of rotation: waits for a spare, makes it the last live file and returns
 * SEGLOG_OK with its number in *file_no; or SEGLOG_EIO with the preparer's errno, or ENOSPC when
 * WAL_FILES_MAX files hold records after the checkpoint, in err->os_errno. */
int wal_prep_next_file(wal_prep *p, uint64_t *file_no, seglog_error *err);

/* The WAL thread's first group in file_no (the last live file) starts at first_seq. */
void wal_prep_file_started(wal_prep *p, uint64_t file_no, uint64_t first_seq);

/* wal_checkpoint: files holding only records <= seq may be recycled or removed. */
void wal_prep_checkpoint(wal_prep *p, uint64_t seq);

/* Fills the file counters of *out (files_*, checkpoint_seq, live/spare/reserve_files). */
void wal_prep_stats_get(wal_prep *p, wal_stats *out);

/* Writes zeros over [from, to) of fd and fdatasyncs. 0 or -errno. */
int wal_zero_range(int fd, uint64_t from, uint64_t to);

#endif /* SEGLOG_WAL_INTERNAL_H */
