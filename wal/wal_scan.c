/*
 * wal_scan.c — the WAL's recovery scan: where the log ends, and whether that end is a torn tail
 * or damage.
 *
 * WHAT IT OWNS
 *   Reading a WAL directory: listing and mapping its files (wal_scan_list), walking their frames
 *   in order and handing each record to a replay callback (wal_scan_walk), and the read-only entry
 *   points wal_scan_dir and wal_scan_dir_files that the offline tools use. wal_open (wal.c) runs
 *   the same scan, then cuts the torn tail and adopts the files. It is kept apart from the writer
 *   because it shares nothing with it but the format: it takes no lock, starts no thread and writes
 *   nothing (except that wal_open has it remove .tmp leftovers of an unfinished preparation). Every
 *   byte it reads goes through wal_format.c's checks before it sizes anything; the format is
 *   described at the top of wal_format.c.
 *
 * RECOVERY
 *   Files are read in number order, frames checked one after the other, with the expected sequence
 *   E (the previous frame's + 1). The log ends at the first position that is not a valid frame of
 *   this file with sequence E. Then the rest of that file and every later file are searched, at
 *   every 8-byte offset, for valid frames of their file: if one says synced_seq >= E, the record at
 *   the end was durable, so the end is damage, not a tail: SEGLOG_ECORRUPT naming file and offset.
 *   Otherwise what follows was never acknowledged (acks go in order, and at most `inflight` groups
 *   can be unsynced), and the end is WAL_END_TORN if anything was there, or WAL_END_CLEAN. A torn
 *   tail is zeroed by wal_open (before any new write), so that a later recovery can never take
 *   leftovers of the cut groups for records; writing then resumes at the end. Files without a
 *   record before the first one that has records are not the end (the oldest file can be left
 *   empty when a group did not fit in it); open removes them.
 *
 * LOST MARKERS
 *   An idle marker (wal.c writes one whenever the WAL goes idle, to vouch for the groups before it)
 *   gets no sync of its own, and nothing else reliably syncs it: in linked mode the
 *   next group's fdatasync covers it only if the marker's write landed first (the two are not
 *   ordered), with RWF_DSYNC the next group's write syncs only its own byte range (a marker that
 *   ends a page, the next group on the next page: the marker's page is never synced), and
 *   rotation never syncs the file it leaves. So a power cut can lose a marker and keep the
 *   acknowledged group written after it. The scan therefore does not end the log at such a hole:
 *   when the first valid frame after the stop lies exactly one marker further on and is record E
 *   with synced_seq E - 1 (as the first frame after a marker always is: a marker is written only
 *   when nothing is in flight, so everything before it is durable), it goes on from there; and a
 *   damaged frame with nothing valid after it in its file is a clean end, not a tear, when the
 *   next file starts with such a record. Nothing that could hold a record is skipped: E comes
 *   right after the hole, and that frame says everything before E was durable. The other way,
 *   making the marker durable before the next group, would put an fdatasync per idle period, or a
 *   wait for the marker's write, in front of every synchronous append, and would leave WALs
 *   already written that way unreadable; and once a group follows a marker, the marker vouches
 *   for nothing that group's frames do not (they carry the same synced_seq).
 *
 * DAMAGED AND RECYCLED HEADERS
 *   A file whose header is damaged or names another file (a power cut in the middle of recycling
 *   could leave one; RECYCLING at the top of wal_prepare.c) is read by the number in its name:
 *   when none of its frames holds a record at or after the replay start, or says that such a
 *   record was durable, it holds nothing needed, and the scan ignores it (open removes it);
 *   otherwise it is corruption. A recycled file's frames from its previous use carry their old
 *   file number and read as "stale", that is, unwritten space.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"
#include "wal_internal.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void wal_scan_free(wal_scan *sc)
{
    for (uint32_t i = 0; i < sc->n; i++) {
        if (sc->files[i].map)
            munmap(sc->files[i].map, sc->files[i].size);
        if (sc->files[i].fd >= 0)
            close(sc->files[i].fd);
    }
    free(sc->files);
    memset(sc, 0, sizeof *sc);
}

/* Lists and maps the WAL files of dir; removes .tmp leftovers if remove_tmp. */
int wal_scan_list(int dir_fd, const char *dir, bool remove_tmp, wal_scan *sc, seglog_error *err)
{
    int dfd = dup(dir_fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot list %s: %s", dir, strerror(errno));
    }
    rewinddir(d);
    uint64_t *nos = malloc(WAL_FILES_LIST_MAX * sizeof *nos);
    uint32_t n = 0;
    bool removed = false;
    struct dirent *de;
    int rc = SEGLOG_OK;
    while (nos && (de = readdir(d)) != NULL) {
        uint64_t no;
        size_t len = strlen(de->d_name);
        if (remove_tmp && len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0 &&
            strncmp(de->d_name, "wal-", 4) == 0) {
            unlinkat(dir_fd, de->d_name, 0);
            removed = true;
            continue;
        }
        if (!wal_file_name_parse(de->d_name, &no))
            continue;
        if (n == WAL_FILES_LIST_MAX) {
            rc = wal_set_err(err, SEGLOG_EINVAL, 0, "wal: more than %u WAL files in %s",
                             WAL_FILES_LIST_MAX, dir);
            break;
        }
        nos[n++] = no;
    }
    closedir(d);
    if (!nos)
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory listing %s", dir);
    if (rc != SEGLOG_OK) {
        free(nos);
        return rc;
    }
    if (removed)
        fsync(dir_fd);
    qsort(nos, n, sizeof *nos, cmp_u64);
    sc->files = calloc(n ? n : 1, sizeof *sc->files);
    if (!sc->files) {
        free(nos);
        return wal_set_err(err, SEGLOG_ENOMEM, ENOMEM, "wal: out of memory listing %s", dir);
    }
    for (uint32_t i = 0; i < n; i++) {
        wal_scan_file *f = &sc->files[sc->n++];
        f->file_no = nos[i];
        f->fd = -1;
        char name[WAL_FILE_NAME_MAX];
        wal_file_name(name, f->file_no);
        f->fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (f->fd < 0 || fstat(f->fd, &st) != 0) {
            rc = wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot open %s/%s: %s", dir, name,
                             strerror(errno));
            break;
        }
        f->size = (uint64_t)st.st_size;
        if (f->size > 0) {
            void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
            if (m == MAP_FAILED) {
                rc = wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot map %s/%s: %s", dir, name,
                                 strerror(errno));
                break;
            }
            f->map = m;
        }
        f->header_rc = wal_file_header_decode(f->map, f->size, &f->hdr);
        if (f->header_rc == SEGLOG_EVERSION) {
            rc = wal_set_err(err, SEGLOG_EVERSION, 0,
                             "wal: %s/%s has format version %u; this build reads version %u", dir,
                             name, f->hdr.format_version, WAL_FORMAT_VERSION);
            break;
        }
        if (f->header_rc == SEGLOG_OK && f->hdr.file_no != f->file_no)
            f->header_rc = SEGLOG_ECORRUPT;
    }
    free(nos);
    return rc;
}

/* Searches [from, size) of f at every frame alignment for valid frames of f. */
static bool scan_ahead(const wal_scan_file *f, uint32_t record_max, uint64_t from,
                       uint64_t *max_synced, uint64_t *max_end, uint64_t *first_off)
{
    bool found = false;
    uint32_t want = (uint32_t)f->file_no;
    from &= ~(uint64_t)(WAL_FRAME_ALIGN_BYTES - 1);
    for (uint64_t off = from; off + WAL_FRAME_HEADER_BYTES <= f->size;
         off += WAL_FRAME_ALIGN_BYTES) {
        if (wal_get32(f->map + off + 24) != want)
            continue;
        wal_frame fr;
        if (wal_frame_check(f->map + off, f->size - off, want, record_max, &fr) != WAL_FRAME_OK)
            continue;
        if (!found) {
            *first_off = off;
            *max_synced = 0;
            *max_end = 0;
        }
        found = true;
        if (fr.synced_seq > *max_synced)
            *max_synced = fr.synced_seq;
        if (off + wal_frame_size(fr.len) > *max_end)
            *max_end = off + wal_frame_size(fr.len);
    }
    return found;
}

/* True if f's frame at off is record `expect` as the first group after an idle marker writes it:
 * submitted when every earlier record was durable. */
static bool follows_marker(const wal_scan_file *f, uint32_t record_max, uint64_t off,
                           uint64_t expect)
{
    wal_frame fr;
    return off + WAL_FRAME_HEADER_BYTES <= f->size &&
           wal_frame_check(f->map + off, f->size - off, (uint32_t)f->file_no, record_max, &fr) ==
               WAL_FRAME_OK &&
           fr.type != WAL_TYPE_PAD && fr.seq == expect && fr.synced_seq + 1 == expect;
}

/* The walk of f stopped at pos (no valid frame there) expecting record `expect`: true, with the
 * offset to go on from in *next, if pos is a lost idle marker (LOST MARKERS at the top of this
 * file): the first valid frame of f after pos lies exactly one marker further on, and follows a
 * marker. Looks at most one block ahead. */
static bool lost_marker_at(const wal_scan_file *f, uint32_t record_max, uint64_t pos,
                           uint64_t expect, uint64_t *next)
{
    uint32_t want = (uint32_t)f->file_no;
    for (uint64_t off = pos + WAL_FRAME_ALIGN_BYTES;
         off <= pos + WAL_MARKER_DIRECT_BYTES && off + WAL_FRAME_HEADER_BYTES <= f->size;
         off += WAL_FRAME_ALIGN_BYTES) {
        if (wal_get32(f->map + off + 24) != want ||
            wal_frame_check(f->map + off, f->size - off, want, record_max, NULL) != WAL_FRAME_OK)
            continue;
        uint64_t gap = off - pos;
        if ((gap != WAL_MARKER_BUFFERED_BYTES && gap != WAL_MARKER_DIRECT_BYTES) ||
            !follows_marker(f, record_max, off, expect))
            return false;
        *next = off;
        return true;
    }
    return false;
}

/* The scanner bounds a frame's length by its file, not by the record limit of whoever prepared
 * the file: the limit may have been raised since, and a file can be written by a later open. */
static uint32_t file_record_max(const wal_scan_file *f)
{
    return (uint32_t)(f->size > UINT32_MAX / 2 ? UINT32_MAX / 2 : f->size);
}

/* f's header is damaged or names another file: true if f still holds something needed for a
 * replay from from_seq (RECYCLING at the top of this file), with the offset of the first such
 * frame in *off. Frames are read by the number in f's name, at every frame alignment. */
static bool bad_header_holds_needed(const wal_scan_file *f, uint64_t from_seq, uint64_t *off)
{
    uint64_t from = from_seq > 1 ? from_seq : 1;
    uint32_t want = (uint32_t)f->file_no;
    uint32_t rmax = file_record_max(f);
    for (uint64_t o = WAL_FILE_HEADER_BYTES; o + WAL_FRAME_HEADER_BYTES <= f->size;
         o += WAL_FRAME_ALIGN_BYTES) {
        wal_frame fr;
        if (wal_get32(f->map + o + 24) != want ||
            wal_frame_check(f->map + o, f->size - o, want, rmax, &fr) != WAL_FRAME_OK)
            continue;
        if ((fr.type != WAL_TYPE_PAD && fr.seq >= from) || fr.synced_seq >= from) {
            *off = o;
            return true;
        }
    }
    return false;
}

/* The state of one wal_scan_walk, handed from step to step. */
typedef struct walk {
    wal_scan *sc;
    const char *dir;
    uint64_t from_seq;
    wal_replay_fn replay; /* may be NULL */
    void *ctx;
    wal_scan_report *rep;
    seglog_error *err;
    uint64_t expect;      /* next sequence, 0 until the first record */
    bool ended;           /* the end is found: no later file may hold records */
    bool have_end;        /* sc's end is set */
} walk;

/* A file after the end of the log: any valid frame of it was written after the end. */
static int walk_after_end(const walk *wk, const wal_scan_file *f, const char *name)
{
    uint64_t ms, me, fo;
    if (f->size > WAL_FILE_HEADER_BYTES &&
        scan_ahead(f, file_record_max(f), WAL_FILE_HEADER_BYTES, &ms, &me, &fo)) {
        const wal_scan *sc = wk->sc;
        char ename[WAL_FILE_NAME_MAX];
        wal_file_name(ename, sc->end_idx < sc->n ? sc->files[sc->end_idx].file_no : 0);
        return wal_set_err(wk->err, SEGLOG_ECORRUPT, 0,
                           "wal: corruption: the log ends at %s/%s offset %" PRIu64
                           " but %s offset %" PRIu64 " holds records written after it",
                           wk->dir, ename, sc->end_off, name, fo);
    }
    return SEGLOG_OK;
}

/* A file whose header is damaged or names another file (DAMAGED AND RECYCLED HEADERS). */
static int walk_bad_header(const walk *wk, const wal_scan_file *f, const char *name)
{
    uint64_t at = 0;
    if (bad_header_holds_needed(f, wk->from_seq, &at))
        return wal_set_err(wk->err, SEGLOG_ECORRUPT, 0,
                           "wal: corruption: the header of %s/%s is damaged but the file "
                           "holds records needed from %" PRIu64 " on (a frame at offset %"
                           PRIu64 ")",
                           wk->dir, name, wk->from_seq > 1 ? wk->from_seq : 1, at);
    return SEGLOG_OK; /* nothing in it is needed: ignored, and open removes it */
}

/* Reads f's frames in order from its first while they are the expected records (or padding, or
 * a lost marker), replaying them. Leaves in *pos where it stopped and in *st what is there. */
static int walk_frames(walk *wk, wal_scan_file *f, const char *name, uint64_t *pos,
                       wal_frame_status *st)
{
    uint32_t rmax = file_record_max(f);
    uint32_t want = (uint32_t)f->file_no;
    wal_scan_report *rep = wk->rep;
    wal_frame fr;
    *pos = WAL_FILE_HEADER_BYTES;
    *st = WAL_FRAME_ZERO;
    while (f->size > *pos) {
        *st = wal_frame_check(f->map + *pos, f->size - *pos, want, rmax, &fr);
        uint64_t next = 0;
        if (*st != WAL_FRAME_OK && wk->expect != 0 &&
            lost_marker_at(f, rmax, *pos, wk->expect, &next)) {
            *pos = next;
            continue;
        }
        if (*st != WAL_FRAME_OK)
            break;
        if (fr.type == WAL_TYPE_PAD) {
            *pos += wal_frame_size(fr.len);
            continue;
        }
        if (wk->expect != 0 && fr.seq != wk->expect)
            break;
        if (wk->expect == 0 && wk->from_seq > 0 && fr.seq > wk->from_seq)
            return wal_set_err(wk->err, SEGLOG_ECORRUPT, 0,
                               "wal: records from %" PRIu64
                               " are needed but the WAL starts at %" PRIu64 " (%s/%s)",
                               wk->from_seq, fr.seq, wk->dir, name);
        if (f->first_seq == 0)
            f->first_seq = fr.seq;
        f->records++;
        rep->records++;
        if (rep->first_seq == 0)
            rep->first_seq = fr.seq;
        rep->last_seq = fr.seq;
        if (fr.seq >= wk->from_seq && wk->replay) {
            int rc = wk->replay(wk->ctx, fr.seq, fr.type, f->map + *pos + WAL_FRAME_HEADER_BYTES,
                                fr.len);
            if (rc != 0)
                return rc;
        }
        if (fr.seq >= wk->from_seq)
            rep->replayed++;
        wk->expect = fr.seq + 1;
        *pos += wal_frame_size(fr.len);
    }
    return SEGLOG_OK;
}

/* The log ends in file i at pos, at a torn tail: records the end and reports how much is cut. */
static void walk_torn(walk *wk, uint32_t i, uint64_t pos, wal_frame_status st, bool after,
                      uint64_t max_end)
{
    wal_scan *sc = wk->sc;
    const wal_scan_file *f = &sc->files[i];
    wal_scan_report *rep = wk->rep;
    sc->end_idx = i;
    sc->end_off = pos;
    sc->torn = true;
    wk->ended = wk->have_end = true;
    rep->end = WAL_END_TORN;
    uint64_t extent = after ? max_end : pos + WAL_FRAME_HEADER_BYTES;
    if (!after && st != WAL_FRAME_OK && f->size - pos >= WAL_FRAME_HEADER_BYTES) {
        uint64_t len = wal_get32(f->map + pos + 4);
        if (len <= file_record_max(f))
            extent = pos + wal_frame_size((uint32_t)len);
    }
    if (extent > f->size)
        extent = f->size;
    rep->torn_bytes = extent - pos;
    snprintf(rep->end_reason, sizeof rep->end_reason,
             "torn tail: %s at offset %" PRIu64 ", %" PRIu64
             " bytes of unacknowledged records cut off",
             st == WAL_FRAME_TRUNCATED ? "a truncated frame"
             : st == WAL_FRAME_OK      ? "a frame out of sequence"
             : st == WAL_FRAME_BAD     ? "a damaged frame"
                                       : "a gap",
             pos, rep->torn_bytes);
}

/* The walk of file i stopped at pos, where st was found: decides whether that is damage, a torn
 * tail, a clean end, or (an empty file before the first record) no end at all. */
static int walk_stopped(walk *wk, uint32_t i, const char *name, uint64_t pos, wal_frame_status st)
{
    wal_scan *sc = wk->sc;
    const wal_scan_file *f = &sc->files[i];
    uint64_t expect = wk->expect;
    /* fewer bytes than a frame header never hold a frame (the writer moves to the next file
     * when a group does not fit): in a recycled file they are a previous use's, not a tear */
    if (f->size < pos + WAL_FRAME_HEADER_BYTES)
        st = WAL_FRAME_ZERO;
    uint64_t eref = expect ? expect : (wk->from_seq > 1 ? wk->from_seq : 1);
    uint64_t max_synced = 0, max_end = 0, first_off = 0;
    bool after = f->size > pos &&
                 scan_ahead(f, file_record_max(f), pos, &max_synced, &max_end, &first_off);
    bool damaged = st == WAL_FRAME_BAD || st == WAL_FRAME_TRUNCATED || st == WAL_FRAME_OK;
    /* a marker torn at the end of the file, the next group at the start of the next file */
    bool marker_at_end = !after && damaged && st != WAL_FRAME_OK && expect != 0 &&
                         i + 1 < sc->n && sc->files[i + 1].header_rc == SEGLOG_OK &&
                         follows_marker(&sc->files[i + 1], file_record_max(&sc->files[i + 1]),
                                        WAL_FILE_HEADER_BYTES, expect);
    if (marker_at_end)
        damaged = false;
    if (after && max_synced >= eref)
        return wal_set_err(wk->err, SEGLOG_ECORRUPT, 0,
                           "wal: corruption at %s/%s offset %" PRIu64 " (record %" PRIu64
                           " expected): records after it, up to offset %" PRIu64
                           ", were written when it was already durable",
                           wk->dir, name, pos, eref, max_end);
    if (after || damaged) {
        walk_torn(wk, i, pos, st, after, max_end);
        return SEGLOG_OK;
    }
    if (pos == WAL_FILE_HEADER_BYTES && expect != 0) {
        wk->ended = true; /* an empty file after the last one written: the log ended before */
        return SEGLOG_OK;
    }
    /* No record so far: an empty file is the end unless a later file holds records (the
     * writer rotated away from it before a group fitted, and it was not yet recycled: the
     * log starts after it; test_wal_empty_file_before_the_first_record). The first such file
     * stays the end when none does; the check that the records from from_seq are all here
     * is the one in walk_frames, on the first record found. */
    if (pos == WAL_FILE_HEADER_BYTES && wk->have_end)
        return SEGLOG_OK;
    sc->end_idx = i;
    sc->end_off = pos;
    wk->have_end = true;
    wk->rep->end = expect ? WAL_END_CLEAN : WAL_END_EMPTY;
    snprintf(wk->rep->end_reason, sizeof wk->rep->end_reason, "%s at offset %" PRIu64,
             st == WAL_FRAME_STALE ? "clean end: a previous use's frames follow"
                                   : "clean end: unwritten space follows",
             pos);
    return SEGLOG_OK;
}

/* The recovery walk described at the top of this file. */
int wal_scan_walk(wal_scan *sc, const char *dir, uint64_t from_seq, wal_replay_fn replay,
                  void *ctx, wal_scan_report *rep, seglog_error *err)
{
    walk wk = {.sc = sc, .dir = dir, .from_seq = from_seq, .replay = replay, .ctx = ctx,
               .rep = rep, .err = err};
    sc->end_idx = sc->n;
    sc->end_off = WAL_FILE_HEADER_BYTES;
    char name[WAL_FILE_NAME_MAX];
    for (uint32_t i = 0; i < sc->n; i++) {
        wal_scan_file *f = &sc->files[i];
        rep->files++;
        wal_file_name(name, f->file_no);
        int rc;
        if (wk.ended) {
            rc = walk_after_end(&wk, f, name);
        } else if (f->header_rc != SEGLOG_OK) {
            rc = walk_bad_header(&wk, f, name);
        } else {
            uint64_t pos;
            wal_frame_status st;
            rc = walk_frames(&wk, f, name, &pos, &st);
            if (rc == SEGLOG_OK)
                rc = walk_stopped(&wk, i, name, pos, st);
        }
        if (rc != SEGLOG_OK)
            return rc;
    }
    sc->next_seq = wk.expect;
    if (sc->end_idx < sc->n)
        wal_file_name(rep->end_file, sc->files[sc->end_idx].file_no);
    rep->end_offset = sc->end_off;
    if (rep->end == WAL_END_EMPTY && rep->end_reason[0] == '\0')
        snprintf(rep->end_reason, sizeof rep->end_reason, "no WAL files");
    return SEGLOG_OK;
}

/* The read-only scan that wal_scan_dir and wal_scan_dir_files share: lists dir into *sc (which
 * the caller frees, even on failure) and walks it, without removing anything. */
static int scan_dir_readonly(const char *dir, uint64_t from_seq, wal_replay_fn replay, void *ctx,
                             wal_scan_report *rep, wal_scan *sc, seglog_error *err)
{
    memset(rep, 0, sizeof *rep);
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return wal_set_err(err, SEGLOG_EIO, errno, "wal: cannot open directory %s: %s", dir,
                           strerror(errno));
    int rc = wal_scan_list(dir_fd, dir, false, sc, err);
    if (rc == SEGLOG_OK)
        rc = wal_scan_walk(sc, dir, from_seq, replay, ctx, rep, err);
    close(dir_fd);
    return rc;
}

int wal_scan_dir(const char *dir, uint64_t from_seq, wal_replay_fn replay, void *replay_ctx,
                 wal_scan_report *report, seglog_error *err)
{
    wal_scan_report local;
    wal_scan sc = {0};
    int rc = scan_dir_readonly(dir, from_seq, replay, replay_ctx, report ? report : &local, &sc,
                               err);
    wal_scan_free(&sc);
    return rc;
}

/* Turns wal_scan_walk's replay calls into wal_scan_pos_fn calls: the payload points into the map of
 * the file being walked (files are walked in order, so the search starts at the last one). */
typedef struct scan_pos {
    const wal_scan *sc;
    wal_scan_pos_fn fn;
    void *ctx;
    uint32_t file; /* index of the file of the last record */
} scan_pos;

static int scan_pos_replay(void *ctx, uint64_t seq, uint8_t type, const void *payload,
                           uint32_t len)
{
    scan_pos *sp = ctx;
    const uint8_t *p = payload;
    for (uint32_t i = sp->file; i < sp->sc->n; i++) {
        const wal_scan_file *f = &sp->sc->files[i];
        if (f->map && p >= f->map + WAL_FRAME_HEADER_BYTES && p <= f->map + f->size) {
            sp->file = i;
            return sp->fn(sp->ctx, seq, type, payload, len, f->file_no,
                          (uint64_t)(p - f->map) - WAL_FRAME_HEADER_BYTES);
        }
    }
    return sp->fn(sp->ctx, seq, type, payload, len, 0, 0); /* not reached: every frame is mapped */
}

int wal_scan_dir_files(const char *dir, uint64_t from_seq, wal_scan_pos_fn replay,
                       void *replay_ctx, wal_scan_report *report, wal_file_info *files,
                       uint32_t cap, uint32_t *n_files, seglog_error *err)
{
    wal_scan_report local;
    wal_scan sc = {0};
    scan_pos sp = {.sc = &sc, .fn = replay, .ctx = replay_ctx};
    int rc = scan_dir_readonly(dir, from_seq, replay ? scan_pos_replay : NULL, &sp,
                               report ? report : &local, &sc, err);
    *n_files = sc.n;
    for (uint32_t i = 0; i < sc.n && i < cap; i++)
        files[i] = (wal_file_info){.file_no = sc.files[i].file_no,
                                   .size_bytes = sc.files[i].size,
                                   .first_seq = sc.files[i].first_seq,
                                   .records = sc.files[i].records,
                                   .header_rc = sc.files[i].header_rc};
    wal_scan_free(&sc);
    return rc;
}
