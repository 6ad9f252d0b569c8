/*
 * wal_prepare.c — the WAL's preparer: next files made ready, old ones recycled or removed.
 *
 * WHAT IT OWNS
 *   The preparer thread and its state (wal_prep, embedded in struct wal): the files that hold
 *   records, the spares ready to be written, the reserve of files behind the checkpoint, and every
 *   change to the WAL directory after the scan (create, rename, unlink, and the directory fsyncs
 *   that make them durable). It works ahead of the WAL thread (wal.c) so that no append ever waits
 *   for a file to be created, zero-filled or recycled: on rotation the WAL thread only takes a
 *   ready spare (wal_prep_next_file), and waits only when the preparer has fallen behind. The file
 *   header it writes is described with the rest of the format at the top of wal_format.c.
 *
 * NEW FILES
 *   A new file is created under a .tmp name, its header written, the rest zero-filled (or
 *   fallocated when prewrite_files is off), fdatasynced, renamed to wal-<n>.log, and the directory
 *   fsynced. The scan at open removes .tmp leftovers, so a power cut at any point leaves no
 *   half-made file under a real name.
 *
 * FILES BEHIND THE CHECKPOINT
 *   files[i] holds only records below files[i+1].first_seq, so it may go once that is at most the
 *   checkpoint + 1; the last file is the one being written and never goes. Such files go first to
 *   a reserve (up to spare_files, oldest first, no I/O) from which the next spare is recycled; only
 *   beyond that are they deleted. The reserve is always the files just before the live ones, so the
 *   files on disk stay a contiguous run of sequences (recovery requires it). Recycling an old file
 *   costs a rename and a 4 KiB header write; creating one costs zero-filling file_size_bytes.
 *
 * RECYCLING
 *   A file behind the checkpoint becomes the next spare by a rename to wal-<new>.log.tmp, a
 *   directory fsync, <new>'s header written and fdatasynced, a rename to wal-<new>.log and a
 *   second directory fsync. The first directory fsync keeps <new>'s header out of a file that a
 *   power cut could leave named wal-<old>.log: without it, a cut after the header's sync but
 *   before the renames were durable left exactly that, and open refused the WAL ("the header ...
 *   is damaged but the file holds records") though nothing in that file was needed any more.
 *   Such files exist, so the scan still accepts one whose header is damaged as long as nothing in
 *   it is needed (DAMAGED AND RECYCLED HEADERS at the top of wal_scan.c).
 *
 * ERRORS
 *   A failed preparation is kept (the first one) and reported when the WAL thread next needs a
 *   file: it poisons the WAL then. Until then appends go on in the current file.
 *
 * LOCKS
 *   p->mu guards the lists, the checkpoint, the error and the counters (struct wal_prep in
 *   wal_internal.h). The preparer releases it around every file operation; the WAL thread holds
 *   it only to take a spare or record a file's first sequence, and while it waits on p->cv for a
 *   spare.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"
#include "wal_internal.h"

/* ---- small file helpers ----------------------------------------------------------------------- */

static int fsync_dir(wal_prep *p, seglog_error *err, const char *why)
{
#ifdef SEGLOG_MUTANT_SKIP_DIRFSYNC
    return SEGLOG_OK; /* MUTANT: directory entries of new and renamed files are never fsynced */
#endif
    if (fsync(p->dir_fd) != 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: fsync of directory %s after %s failed: %s",
                           p->dir, why, strerror(errno));
    return SEGLOG_OK;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int wal_zero_range(int fd, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[64 << 10];
    while (from < to) {
        size_t n = (size_t)(to - from < sizeof zeros ? to - from : sizeof zeros);
        int rc = pwrite_all(fd, zeros, n, (off_t)from);
        if (rc < 0)
            return rc;
        from += n;
    }
    return fdatasync(fd) == 0 ? 0 : -errno;
}

/* ---- preparing one file ----------------------------------------------------------------------- */

/* Makes file file_no ready: recycles `recycle_from` (a file behind the checkpoint) if non-zero,
 * else creates it. Called without p->mu. */
static int prepare_file(wal_prep *p, uint64_t file_no, uint64_t recycle_from, seglog_error *err)
{
    char name[WAL_FILE_NAME_MAX], tmp[WAL_FILE_NAME_MAX + 8], old[WAL_FILE_NAME_MAX];
    wal_file_name(name, file_no);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = -1;
    if (recycle_from != 0) {
        wal_file_name(old, recycle_from);
        if (renameat(p->dir_fd, old, p->dir_fd, tmp) != 0)
            return wal_set_err(err, SEGLOG_EIO, errno, "wal: rename %s/%s to %s failed: %s", p->dir,
                               old, tmp, strerror(errno));
        WAL_KILL_POINT(WAL_KILL_IN_PREPARE); /* an old file now named .tmp */
        /* durable before the header changes (RECYCLING at the top of this file) */
        int drc = fsync_dir(p, err, "renaming a WAL file to recycle it");
        if (drc != SEGLOG_OK)
            return drc;
        fd = openat(p->dir_fd, tmp, O_WRONLY | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size != p->opt->file_size_bytes &&
            ftruncate(fd, (off_t)p->opt->file_size_bytes) != 0) {
            close(fd);
            fd = -1;
        }
    } else {
        fd = openat(p->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: open %s/%s failed: %s", p->dir, tmp,
                           strerror(errno));
    uint8_t *hdr = aligned_alloc(WAL_BLOCK_BYTES, WAL_FILE_HEADER_BYTES);
    if (!hdr) {
        close(fd);
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory preparing %s", name);
    }
    wal_file_header h = {.format_version = WAL_FORMAT_VERSION,
                         .file_no = file_no,
                         .file_size = p->opt->file_size_bytes,
                         .record_max = p->opt->record_max_bytes};
    wal_file_header_encode(hdr, &h);
    int rc = pwrite_all(fd, hdr, WAL_FILE_HEADER_BYTES, 0);
    free(hdr);
    if (rc == 0 && recycle_from == 0) {
        if (p->opt->prewrite_files) {
            rc = wal_zero_range(fd, WAL_FILE_HEADER_BYTES, p->opt->file_size_bytes);
        } else {
            rc = posix_fallocate(fd, 0, (off_t)p->opt->file_size_bytes);
            rc = -rc;
        }
    }
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc != 0)
        return wal_set_err(err, SEGLOG_EIO, -rc, "wal: preparing %s/%s failed: %s", p->dir, tmp,
                           strerror(-rc));
    WAL_KILL_POINT(WAL_KILL_IN_PREPARE); /* the new header synced, still named .tmp */
    if (renameat(p->dir_fd, tmp, p->dir_fd, name) != 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: rename %s/%s failed: %s", p->dir, tmp,
                           strerror(errno));
    WAL_KILL_POINT(WAL_KILL_IN_PREPARE); /* renamed, the directory not yet synced */
    return fsync_dir(p, err, "preparing a WAL file");
}

/* ---- the preparer thread ----------------------------------------------------------------------- */

/* How many of the oldest live files are behind the checkpoint (FILES BEHIND THE CHECKPOINT). */
static uint32_t recyclable_count(const wal_prep *p)
{
    /* files[i] holds only records < files[i+1].first_seq; it may go when that is <= ckpt + 1.
     * The last file is the one being written and never goes. */
    uint32_t k = 0;
    while (k + 1 < p->n_files && p->files[k + 1].first_seq != 0 &&
           p->files[k + 1].first_seq <= p->checkpoint_seq + 1)
        k++;
    return k;
}

static int remove_file(wal_prep *p, uint64_t file_no, seglog_error *err)
{
    char name[WAL_FILE_NAME_MAX];
    wal_file_name(name, file_no);
    if (unlinkat(p->dir_fd, name, 0) != 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: unlink %s/%s failed: %s", p->dir, name,
                           strerror(errno));
    return fsync_dir(p, err, "removing a WAL file");
}

/* The preparer thread: keeps spare_files spares ready, and moves files behind the checkpoint to
 * the reserve or removes them, until wal_prep_stop. */
static void *prep_main(void *arg)
{
    pthread_setname_np(pthread_self(), "seglog-walprep");
    wal_prep *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        uint32_t recyclable = recyclable_count(p);
        bool need_spare = p->n_spares < p->opt->spare_files && p->error == 0;
        seglog_error err = {0};
        int rc = SEGLOG_OK;
        if (recyclable > 0 && !need_spare) {
            uint64_t victim = 0;
            if (p->n_reserve == p->opt->spare_files) {
                victim = p->reserve[0];
                memmove(p->reserve, p->reserve + 1, (p->n_reserve - 1) * sizeof *p->reserve);
                p->n_reserve--;
            }
            p->reserve[p->n_reserve++] = p->files[0].file_no;
            memmove(p->files, p->files + 1, (p->n_files - 1) * sizeof *p->files);
            p->n_files--;
            if (victim == 0)
                continue;
            pthread_mutex_unlock(&p->mu);
            rc = remove_file(p, victim, &err);
            pthread_mutex_lock(&p->mu);
            if (rc == SEGLOG_OK)
                p->files_removed++;
        } else if (need_spare) {
            uint64_t old = 0;
            if (p->n_reserve > 0) {
                old = p->reserve[0];
                memmove(p->reserve, p->reserve + 1, (p->n_reserve - 1) * sizeof *p->reserve);
                p->n_reserve--;
            } else if (recyclable > 0) {
                old = p->files[0].file_no;
                memmove(p->files, p->files + 1, (p->n_files - 1) * sizeof *p->files);
                p->n_files--;
            }
            uint64_t file_no = p->next_file_no++;
            pthread_mutex_unlock(&p->mu);
            rc = prepare_file(p, file_no, old, &err);
            pthread_mutex_lock(&p->mu);
            if (rc == SEGLOG_OK) {
                p->spares[p->n_spares++] = file_no;
                if (old)
                    p->files_recycled++;
                else
                    p->files_created++;
            }
        } else {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        if (rc != SEGLOG_OK && p->error == 0) {
            p->error = err.os_errno ? err.os_errno : EIO;
            snprintf(p->msg, sizeof p->msg, "%s", err.message);
        }
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the preparer's interface to wal.c -------------------------------------------------------- */

void wal_prep_init(wal_prep *p, const char *dir, const wal_options *opt)
{
    memset(p, 0, sizeof *p);
    p->dir = dir;
    p->dir_fd = -1;
    p->opt = opt;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
}

void wal_prep_fini(wal_prep *p)
{
    free(p->files);
    free(p->spares);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* Adds f to the live files, the spares, or neither (then removes it). */
static int adopt_file(wal_prep *p, const wal_scan *sc, uint32_t i, seglog_error *err)
{
    const wal_scan_file *f = &sc->files[i];
    char name[WAL_FILE_NAME_MAX];
    wal_file_name(name, f->file_no);
    bool bad = f->header_rc != SEGLOG_OK;
    if (i <= sc->end_idx && (f->records > 0 || i == sc->end_idx) && !bad) {
        p->files[p->n_files++] = (wal_file){.file_no = f->file_no, .first_seq = f->first_seq};
    } else if (i > sc->end_idx && !bad && f->size == p->opt->file_size_bytes &&
               f->hdr.file_size == f->size && p->n_spares < p->opt->spare_files) {
        p->spares[p->n_spares++] = f->file_no;
    } else if (i != sc->end_idx) {
        SEGLOG_ASSERT(f->records == 0); /* the scan put every file with records before */
        /* behind the end with nothing needed, damaged with nothing needed, or a spare too many */
        if (unlinkat(p->dir_fd, name, 0) != 0)
            return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot remove %s/%s: %s", p->dir,
                               name, strerror(errno));
        p->files_removed++;
    }
    return SEGLOG_OK;
}

int wal_prep_adopt_scan(wal_prep *p, const wal_scan *sc, seglog_error *err)
{
    p->files = calloc(WAL_FILES_MAX + 1, sizeof *p->files);
    p->spares = calloc(WAL_FILES_MAX + 1, sizeof *p->spares);
    if (!p->files || !p->spares)
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory");
    uint64_t max_no = 0;
    for (uint32_t i = 0; i < sc->n; i++) {
        if (sc->files[i].file_no > max_no)
            max_no = sc->files[i].file_no;
        int rc = adopt_file(p, sc, i, err);
        if (rc != SEGLOG_OK)
            return rc;
    }
    p->next_file_no = max_no + 1;
    int rc = fsync_dir(p, err, "removing unusable WAL files");
    if (rc != SEGLOG_OK || p->n_files > 0)
        return rc;
    uint64_t no = p->next_file_no++; /* no file holds records: the first one is made now */
    rc = prepare_file(p, no, 0, err);
    if (rc != SEGLOG_OK)
        return rc;
    p->files_created++;
    p->files[p->n_files++] = (wal_file){.file_no = no, .first_seq = 0};
    return SEGLOG_OK;
}

int wal_prep_start(wal_prep *p)
{
    return pthread_create(&p->thread, NULL, prep_main, p);
}

void wal_prep_stop(wal_prep *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
}

int wal_prep_next_file(wal_prep *p, uint64_t *file_no, seglog_error *err)
{
    pthread_mutex_lock(&p->mu);
    while (p->n_spares == 0 && p->error == 0) {
        pthread_cond_broadcast(&p->cv);
        pthread_cond_wait(&p->cv, &p->mu);
    }
    int rc = SEGLOG_OK;
    if (p->n_spares == 0) {
        rc = wal_set_err(err, SEGLOG_EIO, p->error, "wal: no next file to rotate into: %s",
                         p->msg);
    } else if (p->n_files >= WAL_FILES_MAX) {
        rc = wal_set_err(err, SEGLOG_EIO, ENOSPC,
                         "wal: %u WAL files hold records after checkpoint %" PRIu64
                         "; the layer above must checkpoint",
                         WAL_FILES_MAX, p->checkpoint_seq);
    } else {
        *file_no = p->spares[0];
        memmove(p->spares, p->spares + 1, (p->n_spares - 1) * sizeof *p->spares);
        p->n_spares--;
        p->files[p->n_files++] = (wal_file){.file_no = *file_no, .first_seq = 0};
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void wal_prep_file_started(wal_prep *p, uint64_t file_no, uint64_t first_seq)
{
    pthread_mutex_lock(&p->mu);
    SEGLOG_ASSERT(p->n_files > 0 && p->files[p->n_files - 1].file_no == file_no);
    p->files[p->n_files - 1].first_seq = first_seq;
    pthread_mutex_unlock(&p->mu);
}

void wal_prep_checkpoint(wal_prep *p, uint64_t seq)
{
    pthread_mutex_lock(&p->mu);
    if (seq > p->checkpoint_seq) {
        p->checkpoint_seq = seq;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

void wal_prep_stats_get(wal_prep *p, wal_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->files_created = p->files_created;
    out->files_recycled = p->files_recycled;
    out->files_removed = p->files_removed;
    out->checkpoint_seq = p->checkpoint_seq;
    out->live_files = p->n_files;
    out->spare_files = p->n_spares;
    out->reserve_files = p->n_reserve;
    pthread_mutex_unlock(&p->mu);
}
