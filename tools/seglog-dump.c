/*
 * seglog-dump.c — the offline inspection and check tool: what state is a store in?
 *
 *   seglog-dump [--json] summary DIR
 *   seglog-dump [--json] logs DIR [--log ID]
 *   seglog-dump [--json] records DIR --log ID [--from LSN] [--to LSN] [--format text|json|hex|raw]
 *   seglog-dump [--json] wal DIR [--from SEQ]
 *   seglog-dump [--json] check DIR
 *
 * Everything it shows comes from storage/store_inspect.h, which opens the store read-only (also
 * while a server has it open, also when it is damaged) and overlays the WAL's operations after the
 * checkpoint, so that the dump shows what a reopen would show; whatever comes from the WAL is
 * marked so. It never writes to the store directory. Output is streamed: records and WAL records
 * are printed as they are read, never gathered first. When stderr is a terminal, long scans show
 * a progress count there.
 *
 * JSON (--json, or records --format json) is one document per run with the field names the man
 * page (tools/seglog-dump.1) documents; they are stable. It is written by the small writer below,
 * which escapes every string (control bytes and bytes >= 0x80 as \u00XX, so that any payload
 * survives as a string of code points 0..255; payload_hex carries the bytes as well).
 *
 * Exit status: 0 success (check: no problem); 1 check found problems, or wal met corruption;
 * 2 the store cannot be read, or a usage error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_inspect.h"
#include "wal_internal.h"

#define DUMP_JSON_DEPTH_MAX 16u       /* nesting of the JSON writer */
#define DUMP_PROGRESS_EVERY 65536u    /* records between two progress lines */
#define DUMP_PATH_MAX 4096u
#define DUMP_WALK_DEPTH_MAX 8u        /* directory levels the disk-use walk descends */
#define DUMP_EXIT_OK 0
#define DUMP_EXIT_PROBLEMS 1
#define DUMP_EXIT_CANNOT_READ 2

/* ---- a streaming JSON writer --------------------------------------------------------------- */

typedef struct jw {
    FILE *f;
    unsigned depth;
    bool need_comma[DUMP_JSON_DEPTH_MAX];
} jw;

static void jw_raw_str(jw *w, const void *data, size_t len)
{
    const unsigned char *p = data;
    fputc('"', w->f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = p[i];
        switch (ch) {
        case '"': fputs("\\\"", w->f); break;
        case '\\': fputs("\\\\", w->f); break;
        case '\n': fputs("\\n", w->f); break;
        case '\r': fputs("\\r", w->f); break;
        case '\t': fputs("\\t", w->f); break;
        default:
            if (ch < 0x20 || ch >= 0x7f)
                fprintf(w->f, "\\u%04x", ch);
            else
                fputc(ch, w->f);
        }
    }
    fputc('"', w->f);
}

/* Writes the separator and the key (NULL inside an array). */
static void jw_key(jw *w, const char *key)
{
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            fputc(',', w->f);
        w->need_comma[w->depth - 1] = true;
    }
    if (key) {
        jw_raw_str(w, key, strlen(key));
        fputc(':', w->f);
    }
}

static void jw_open(jw *w, const char *key, char ch)
{
    jw_key(w, key);
    fputc(ch, w->f);
    if (w->depth < DUMP_JSON_DEPTH_MAX)
        w->need_comma[w->depth] = false;
    w->depth++;
}

static void jw_close(jw *w, char ch)
{
    if (w->depth > 0)
        w->depth--;
    fputc(ch, w->f);
    if (w->depth == 0)
        fputc('\n', w->f);
}

static void jw_obj(jw *w, const char *key) { jw_open(w, key, '{'); }
static void jw_obj_end(jw *w) { jw_close(w, '}'); }
static void jw_arr(jw *w, const char *key) { jw_open(w, key, '['); }
static void jw_arr_end(jw *w) { jw_close(w, ']'); }

static void jw_u64(jw *w, const char *key, uint64_t v)
{
    jw_key(w, key);
    fprintf(w->f, "%" PRIu64, v);
}

static void jw_bool(jw *w, const char *key, bool v)
{
    jw_key(w, key);
    fputs(v ? "true" : "false", w->f);
}

static void jw_null(jw *w, const char *key)
{
    jw_key(w, key);
    fputs("null", w->f);
}

static void jw_str(jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_raw_str(w, s, strlen(s));
}

static void jw_bytes(jw *w, const char *key, const void *data, size_t len)
{
    jw_key(w, key);
    jw_raw_str(w, data, len);
}

static void jw_hex(jw *w, const char *key, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    jw_key(w, key);
    fputc('"', w->f);
    for (size_t i = 0; i < len; i++) {
        fputc(digits[p[i] >> 4], w->f);
        fputc(digits[p[i] & 15], w->f);
    }
    fputc('"', w->f);
}

/* ---- small helpers --------------------------------------------------------------------------- */

typedef struct dump_ctx {
    const char *dir;
    bool json;
    bool progress;  /* stderr is a terminal */
    jw w;
    uint64_t count; /* records seen (progress) */
} dump_ctx;

static void progress_tick(dump_ctx *d, const char *what)
{
    d->count++;
    if (d->progress && d->count % DUMP_PROGRESS_EVERY == 0)
        fprintf(stderr, "\rseglog-dump: %" PRIu64 " %s...", d->count, what);
}

static void progress_done(dump_ctx *d)
{
    if (d->progress && d->count >= DUMP_PROGRESS_EVERY)
        fprintf(stderr, "\r\033[K");
}

static void fmt_time(char dst[40], uint64_t us)
{
    time_t t = (time_t)(us / 1000000u);
    struct tm tm;
    if (us == 0 || !gmtime_r(&t, &tm)) {
        snprintf(dst, 40, "-");
        return;
    }
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(dst, 40, "%s.%06uZ", base, (unsigned)(us % 1000000u));
}

static void print_escaped(FILE *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void print_hex(FILE *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", p[i]);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end || errno)
        return false;
    *out = v;
    return true;
}

static const char *end_kind(const store_inspect_info *in)
{
    if (in->wal_rc != SEGLOG_OK)
        return "corrupt";
    switch (in->wal.end) {
    case WAL_END_CLEAN: return "clean";
    case WAL_END_TORN: return "torn";
    default: return "empty";
    }
}

static int open_store(dump_ctx *d, store_inspect **si)
{
    seglog_error err = {0};
    int rc = store_inspect_open(si, d->dir, &err);
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "seglog-dump: cannot read %s: %s\n", d->dir, err.message);
        return DUMP_EXIT_CANNOT_READ;
    }
    return DUMP_EXIT_OK;
}

/* ---- summary --------------------------------------------------------------------------------- */

typedef struct disk_use {
    uint64_t wal_bytes, db_sst_bytes, db_other_bytes, other_bytes;
    uint64_t allocated_bytes;
    uint64_t files;
} disk_use;

/* Adds up the files under path; component 0 = top level, 1 = wal/, 2 = db/. */
static void walk(const char *path, int component, unsigned depth, disk_use *u)
{
    DIR *dd = opendir(path);
    if (!dd || depth > DUMP_WALK_DEPTH_MAX) {
        if (dd)
            closedir(dd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dd)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[DUMP_PATH_MAX];
        int n = snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        if (n <= 0 || (size_t)n >= sizeof p)
            continue;
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int c = component;
            if (depth == 0 && strcmp(de->d_name, "wal") == 0)
                c = 1;
            else if (depth == 0 && strcmp(de->d_name, "db") == 0)
                c = 2;
            walk(p, c, depth + 1, u);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        uint64_t sz = (uint64_t)st.st_size;
        u->files++;
        u->allocated_bytes += (uint64_t)st.st_blocks * 512u;
        size_t len = strlen(de->d_name);
        if (component == 1)
            u->wal_bytes += sz;
        else if (component == 2 && len > 4 && strcmp(de->d_name + len - 4, ".sst") == 0)
            u->db_sst_bytes += sz;
        else if (component == 2)
            u->db_other_bytes += sz;
        else
            u->other_bytes += sz;
    }
    closedir(dd);
}

typedef struct seg_counts {
    uint64_t segments, open, sealed, trimmed;
    uint64_t cf_role[STORE_INSPECT_CF_UNKNOWN + 1];
} seg_counts;

static void count_all(const store_inspect *si, seg_counts *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < store_inspect_log_count(si); i++) {
        const store_inspect_log *lg = store_inspect_log_at(si, i);
        for (size_t j = 0; j < lg->n_segs; j++) {
            c->segments++;
            uint8_t s = lg->segs[j].seg.state;
            if (s == STORE_SEG_OPEN)
                c->open++;
            else if (s == STORE_SEG_SEALED)
                c->sealed++;
            else
                c->trimmed++;
        }
    }
    for (size_t i = 0; i < store_inspect_cf_count(si); i++)
        c->cf_role[store_inspect_cf_at(si, i)->role]++;
}

static int cmd_summary(dump_ctx *d, store_inspect *si)
{
    const store_inspect_info *in = store_inspect_info_get(si);
    seg_counts c;
    count_all(si, &c);
    disk_use u = {0};
    walk(d->dir, 0, 0, &u);
    uint32_t nf = in->n_wal_files < STORE_INSPECT_WAL_FILES_MAX ? in->n_wal_files
                                                                 : STORE_INSPECT_WAL_FILES_MAX;
    if (d->json) {
        jw *w = &d->w;
        jw_obj(w, NULL);
        jw_str(w, "dir", d->dir);
        jw_u64(w, "format_version", in->format_version);
        jw_u64(w, "logs", store_inspect_log_count(si));
        jw_obj(w, "segments");
        jw_u64(w, "total", c.segments);
        jw_u64(w, "open", c.open);
        jw_u64(w, "sealed", c.sealed);
        jw_u64(w, "trimmed", c.trimmed);
        jw_obj_end(w);
        jw_obj(w, "column_families");
        jw_u64(w, "total", store_inspect_cf_count(si));
        for (int r = 0; r <= STORE_INSPECT_CF_UNKNOWN; r++)
            jw_u64(w, store_inspect_cf_role_name((store_inspect_cf_role)r), c.cf_role[r]);
        jw_obj_end(w);
        jw_arr(w, "orphan_cfs");
        for (size_t i = 0; i < store_inspect_cf_count(si); i++)
            if (store_inspect_cf_at(si, i)->role == STORE_INSPECT_CF_ORPHAN)
                jw_str(w, NULL, store_inspect_cf_at(si, i)->name);
        jw_arr_end(w);
        jw_arr(w, "cfs");
        for (size_t i = 0; i < store_inspect_cf_count(si); i++) {
            const store_inspect_cf *cf = store_inspect_cf_at(si, i);
            jw_obj(w, NULL);
            jw_str(w, "name", cf->name);
            jw_str(w, "role", store_inspect_cf_role_name(cf->role));
            jw_u64(w, "sst_bytes", cf->sst_bytes);
            if (cf->role == STORE_INSPECT_CF_SEGMENT || cf->role == STORE_INSPECT_CF_TRIMMED) {
                jw_u64(w, "log", cf->log_id);
                jw_u64(w, "segment", cf->seg_id);
            } else {
                jw_null(w, "log");
                jw_null(w, "segment");
            }
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_u64(w, "checkpoint_seq", in->checkpoint_seq);
        jw_u64(w, "applied_seq", in->applied_seq);
        jw_u64(w, "wal_ops_after_checkpoint", in->wal_ops_applied);
        jw_obj(w, "wal");
        jw_arr(w, "files");
        for (uint32_t i = 0; i < nf; i++) {
            const wal_file_info *f = &in->wal_files[i];
            char name[WAL_FILE_NAME_MAX];
            wal_file_name(name, f->file_no);
            jw_obj(w, NULL);
            jw_str(w, "name", name);
            jw_u64(w, "size_bytes", f->size_bytes);
            jw_u64(w, "records", f->records);
            if (f->records) {
                jw_u64(w, "first_seq", f->first_seq);
                jw_u64(w, "last_seq", f->first_seq + f->records - 1);
            } else {
                jw_null(w, "first_seq");
                jw_null(w, "last_seq");
            }
            jw_bool(w, "header_ok", f->header_rc == SEGLOG_OK);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_u64(w, "records", in->wal.records);
        jw_u64(w, "first_seq", in->wal.first_seq);
        jw_u64(w, "last_seq", in->wal.last_seq);
        jw_str(w, "end", end_kind(in));
        jw_str(w, "end_file", in->wal.end_file);
        jw_u64(w, "end_offset", in->wal.end_offset);
        jw_u64(w, "torn_bytes", in->wal.torn_bytes);
        jw_str(w, "reason", in->wal_rc != SEGLOG_OK ? in->wal_error : in->wal.end_reason);
        jw_obj_end(w);
        jw_obj(w, "disk");
        jw_u64(w, "wal_bytes", u.wal_bytes);
        jw_u64(w, "db_sst_bytes", u.db_sst_bytes);
        jw_u64(w, "db_other_bytes", u.db_other_bytes);
        jw_u64(w, "other_bytes", u.other_bytes);
        jw_u64(w, "total_bytes", u.wal_bytes + u.db_sst_bytes + u.db_other_bytes + u.other_bytes);
        jw_u64(w, "allocated_bytes", u.allocated_bytes);
        jw_obj_end(w);
        jw_arr(w, "notes");
        for (uint32_t i = 0; i < in->n_notes && i < STORE_INSPECT_NOTES_MAX; i++)
            jw_str(w, NULL, in->notes[i]);
        jw_arr_end(w);
        jw_obj_end(w);
        return DUMP_EXIT_OK;
    }
    printf("store %s\n", d->dir);
    printf("  format version   %u\n", in->format_version);
    printf("  logs             %zu\n", store_inspect_log_count(si));
    printf("  segments         %" PRIu64 " (%" PRIu64 " open, %" PRIu64 " sealed, %" PRIu64
           " trimmed)\n",
           c.segments, c.open, c.sealed, c.trimmed);
    printf("  column families  %zu (%" PRIu64 " segment, %" PRIu64 " trimmed not yet emptied, %"
           PRIu64 " pool, %" PRIu64 " orphan, %" PRIu64 " meta, %" PRIu64 " default, %" PRIu64
           " unknown)\n",
           store_inspect_cf_count(si), c.cf_role[STORE_INSPECT_CF_SEGMENT],
           c.cf_role[STORE_INSPECT_CF_TRIMMED], c.cf_role[STORE_INSPECT_CF_POOL],
           c.cf_role[STORE_INSPECT_CF_ORPHAN], c.cf_role[STORE_INSPECT_CF_META],
           c.cf_role[STORE_INSPECT_CF_DEFAULT], c.cf_role[STORE_INSPECT_CF_UNKNOWN]);
    for (size_t i = 0; i < store_inspect_cf_count(si); i++)
        if (store_inspect_cf_at(si, i)->role == STORE_INSPECT_CF_ORPHAN)
            printf("    orphan column family %s\n", store_inspect_cf_at(si, i)->name);
    printf("  checkpoint       WAL seq %" PRIu64 " (RocksDB applied seq %" PRIu64 "); %" PRIu64
           " WAL records after it overlaid\n",
           in->checkpoint_seq, in->applied_seq, in->wal_ops_applied);
    printf("  wal              %u files, %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 "\n",
           in->n_wal_files, in->wal.records, in->wal.first_seq, in->wal.last_seq);
    for (uint32_t i = 0; i < nf; i++) {
        const wal_file_info *f = &in->wal_files[i];
        char name[WAL_FILE_NAME_MAX];
        wal_file_name(name, f->file_no);
        if (f->records)
            printf("    %s  %" PRIu64 " bytes  seq %" PRIu64 "..%" PRIu64 " (%" PRIu64
                   " records)%s\n",
                   name, f->size_bytes, f->first_seq, f->first_seq + f->records - 1, f->records,
                   f->header_rc == SEGLOG_OK ? "" : "  damaged header");
        else
            printf("    %s  %" PRIu64 " bytes  no records%s\n", name, f->size_bytes,
                   f->header_rc == SEGLOG_OK ? "" : "  damaged header");
    }
    if (in->wal_rc != SEGLOG_OK)
        printf("  wal end          CORRUPT: %s\n", in->wal_error);
    else
        printf("  wal end          %s at %s offset %" PRIu64 ": %s\n", end_kind(in),
               in->wal.end_file[0] ? in->wal.end_file : "-", in->wal.end_offset,
               in->wal.end_reason);
    printf("  disk use         wal %" PRIu64 " bytes, db %" PRIu64 " bytes (sst %" PRIu64
           ", other %" PRIu64 "), other %" PRIu64 " bytes; %" PRIu64 " allocated\n",
           u.wal_bytes, u.db_sst_bytes + u.db_other_bytes, u.db_sst_bytes, u.db_other_bytes,
           u.other_bytes, u.allocated_bytes);
    for (uint32_t i = 0; i < in->n_notes && i < STORE_INSPECT_NOTES_MAX; i++)
        printf("  note: %s\n", in->notes[i]);
    return DUMP_EXIT_OK;
}

/* ---- logs ------------------------------------------------------------------------------------ */

static bool sealed_without_successor(const store_inspect_log *lg)
{
    return lg->n_segs > 0 && lg->segs[lg->n_segs - 1].seg.state == STORE_SEG_SEALED;
}

static void print_log(dump_ctx *d, const store_inspect *si, const store_inspect_log *lg)
{
    const store_seg *t = lg->n_segs ? &lg->segs[lg->n_segs - 1].seg : NULL;
    uint64_t tail = t ? store_inspect_seg_end(t) : 0;
    bool sealed = t && t->state == STORE_SEG_SEALED;
    if (d->json) {
        jw *w = &d->w;
        jw_obj(w, NULL);
        jw_u64(w, "log", lg->log.log_id);
        jw_u64(w, "version", lg->log.version);
        jw_u64(w, "trim_point", lg->log.trim_point);
        jw_u64(w, "created_us", lg->log.created_us);
        jw_u64(w, "from_wal_seq", lg->wal_seq);
        jw_obj(w, "tail");
        jw_u64(w, "lsn", tail);
        jw_bool(w, "sealed", sealed);
        jw_u64(w, "segment", t ? t->seg_id : 0);
        jw_obj_end(w);
        jw_bool(w, "sealed_without_successor", sealed_without_successor(lg));
        jw_arr(w, "segments");
        for (size_t j = 0; j < lg->n_segs; j++) {
            const store_seg *s = &lg->segs[j].seg;
            uint64_t first = store_inspect_seg_first(lg, s), end = store_inspect_seg_end(s);
            uint64_t n = s->state == STORE_SEG_TRIMMED || end <= first ? 0 : end - first;
            char cf[32];
            store_cf_name(cf, s->cf_no);
            jw_obj(w, NULL);
            jw_u64(w, "id", s->seg_id);
            jw_u64(w, "base", s->base);
            jw_str(w, "state", store_inspect_state_name(s->state));
            if (s->state == STORE_SEG_SEALED)
                jw_u64(w, "sealed_at", s->sealed_at);
            else
                jw_null(w, "sealed_at");
            jw_str(w, "cf", cf);
            jw_bool(w, "cf_exists", store_inspect_cf_find(si, s->cf_no) != NULL);
            jw_u64(w, "records", n);
            if (n) {
                jw_u64(w, "first_lsn", first);
                jw_u64(w, "last_lsn", end - 1);
            } else {
                jw_null(w, "first_lsn");
                jw_null(w, "last_lsn");
            }
            jw_u64(w, "next_lsn", s->next_lsn);
            jw_u64(w, "bytes", s->state == STORE_SEG_TRIMMED ? 0 : s->bytes);
            jw_u64(w, "from_wal_seq", lg->segs[j].wal_seq);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
        return;
    }
    printf("log %" PRIu64 ": chain version %" PRIu64 ", tail %s at %" PRIu64 " (segment %" PRIu64
           "), trim point %" PRIu64,
           lg->log.log_id, lg->log.version, sealed ? "sealed" : "open", tail,
           t ? t->seg_id : 0, lg->log.trim_point);
    if (lg->wal_seq)
        printf("  [from WAL seq %" PRIu64 "]", lg->wal_seq);
    putchar('\n');
    for (size_t j = 0; j < lg->n_segs; j++) {
        const store_seg *s = &lg->segs[j].seg;
        uint64_t first = store_inspect_seg_first(lg, s), end = store_inspect_seg_end(s);
        uint64_t n = s->state == STORE_SEG_TRIMMED || end <= first ? 0 : end - first;
        char cf[32], state[48];
        store_cf_name(cf, s->cf_no);
        if (s->state == STORE_SEG_SEALED)
            snprintf(state, sizeof state, "sealed at %" PRIu64, s->sealed_at);
        else
            snprintf(state, sizeof state, "%s", store_inspect_state_name(s->state));
        printf("  segment %" PRIu64 "  base %" PRIu64 "  %s  %s%s  %" PRIu64 " records", s->seg_id,
               s->base, state, cf,
               s->state != STORE_SEG_TRIMMED && !store_inspect_cf_find(si, s->cf_no)
                   ? " (MISSING)"
                   : "",
               n);
        if (n)
            printf("  LSN %" PRIu64 "..%" PRIu64, first, end - 1);
        printf("  %" PRIu64 " bytes", s->state == STORE_SEG_TRIMMED ? 0 : s->bytes);
        if (lg->segs[j].wal_seq)
            printf("  [from WAL seq %" PRIu64 "]", lg->segs[j].wal_seq);
        putchar('\n');
    }
    if (sealed_without_successor(lg))
        printf("  sealed at LSN %" PRIu64
               ", no successor segment: appends will wait until the chain is extended\n",
               tail);
}

static int cmd_logs(dump_ctx *d, store_inspect *si, bool one, uint64_t log_id)
{
    if (one && !store_inspect_log_find(si, log_id)) {
        fprintf(stderr, "seglog-dump: %s has no log %" PRIu64 "\n", d->dir, log_id);
        return DUMP_EXIT_CANNOT_READ;
    }
    if (d->json) {
        jw_obj(&d->w, NULL);
        jw_str(&d->w, "dir", d->dir);
        jw_arr(&d->w, "logs");
    }
    for (size_t i = 0; i < store_inspect_log_count(si); i++) {
        const store_inspect_log *lg = store_inspect_log_at(si, i);
        if (!one || lg->log.log_id == log_id)
            print_log(d, si, lg);
    }
    if (d->json) {
        jw_arr_end(&d->w);
        jw_obj_end(&d->w);
    }
    return DUMP_EXIT_OK;
}

/* ---- records --------------------------------------------------------------------------------- */

enum rec_format { FMT_TEXT, FMT_JSON, FMT_HEX, FMT_RAW };

typedef struct rec_ctx {
    dump_ctx *d;
    enum rec_format fmt;
    uint64_t records, missing;
} rec_ctx;

static int rec_cb(void *ctx, const store_inspect_rec *r)
{
    rec_ctx *rc = ctx;
    dump_ctx *d = rc->d;
    if (r->missing) {
        rc->missing += r->missing;
        if (rc->fmt == FMT_JSON) {
            jw_obj(&d->w, NULL);
            jw_u64(&d->w, "lsn", r->lsn);
            jw_u64(&d->w, "missing", r->missing);
            jw_u64(&d->w, "segment", r->seg_id);
            jw_obj_end(&d->w);
        } else if (rc->fmt != FMT_RAW) {
            printf("lsn %" PRIu64 "..%" PRIu64 "  MISSING: %" PRIu64
                   " records the metadata promises are absent (segment %" PRIu64 ")\n",
                   r->lsn, r->lsn + r->missing - 1, r->missing, r->seg_id);
        }
        return 0;
    }
    rc->records++;
    progress_tick(d, "records");
    char when[40];
    fmt_time(when, r->time_us);
    switch (rc->fmt) {
    case FMT_RAW:
        if (r->len)
            fwrite(r->payload, 1, r->len, stdout);
        break;
    case FMT_JSON:
        jw_obj(&d->w, NULL);
        jw_u64(&d->w, "lsn", r->lsn);
        jw_u64(&d->w, "size", r->len);
        jw_u64(&d->w, "time_us", r->time_us);
        jw_str(&d->w, "time", when);
        jw_str(&d->w, "checksum", "ok");
        jw_str(&d->w, "source", r->wal_seq ? "wal" : "rocksdb");
        jw_u64(&d->w, "wal_seq", r->wal_seq);
        jw_u64(&d->w, "segment", r->seg_id);
        jw_bytes(&d->w, "payload", r->payload, r->len);
        jw_hex(&d->w, "payload_hex", r->payload, r->len);
        jw_obj_end(&d->w);
        break;
    default:
        printf("lsn %" PRIu64 "  size %zu  time %s  checksum ok (", r->lsn, r->len, when);
        if (r->wal_seq)
            printf("wal seq %" PRIu64 ")", r->wal_seq);
        else
            printf("rocksdb)");
        printf("  segment %" PRIu64 "  ", r->seg_id);
        if (rc->fmt == FMT_HEX)
            print_hex(stdout, r->payload, r->len);
        else
            print_escaped(stdout, r->payload, r->len);
        putchar('\n');
    }
    return 0;
}

static int cmd_records(dump_ctx *d, store_inspect *si, uint64_t log_id, uint64_t from, uint64_t to,
                       enum rec_format fmt)
{
    if (!store_inspect_log_find(si, log_id)) {
        fprintf(stderr, "seglog-dump: %s has no log %" PRIu64 "\n", d->dir, log_id);
        return DUMP_EXIT_CANNOT_READ;
    }
    rec_ctx rc = {.d = d, .fmt = fmt};
    if (fmt == FMT_JSON) {
        jw_obj(&d->w, NULL);
        jw_str(&d->w, "dir", d->dir);
        jw_u64(&d->w, "log", log_id);
        jw_u64(&d->w, "from", from);
        jw_u64(&d->w, "to", to);
        jw_arr(&d->w, "records");
    }
    seglog_error err = {0};
    int r = store_inspect_records(si, log_id, from, to, rec_cb, &rc, &err);
    progress_done(d);
    const store_inspect_info *in = store_inspect_info_get(si);
    if (fmt == FMT_JSON) {
        jw_arr_end(&d->w);
        jw_u64(&d->w, "count", rc.records);
        jw_u64(&d->w, "missing", rc.missing);
        if (r != SEGLOG_OK)
            jw_str(&d->w, "error", err.message);
        else
            jw_null(&d->w, "error");
        if (in->wal_rc != SEGLOG_OK)
            jw_str(&d->w, "wal_error", in->wal_error);
        else
            jw_null(&d->w, "wal_error");
        jw_obj_end(&d->w);
    }
    if (r != SEGLOG_OK) {
        fprintf(stderr, "seglog-dump: %s\n", err.message);
        return DUMP_EXIT_PROBLEMS;
    }
    if (fmt != FMT_JSON && fmt != FMT_RAW && in->wal_rc != SEGLOG_OK)
        printf("note: the WAL is damaged; records after the damage are not shown: %s\n",
               in->wal_error);
    return DUMP_EXIT_OK;
}

/* ---- wal ------------------------------------------------------------------------------------- */

static void op_describe_text(const store_inspect_walrec *r)
{
    const store_op *op = r->op;
    if (!op) {
        printf("  (does not decode)");
        return;
    }
    printf("  log %" PRIu64, op->log.log_id);
    switch (op->type) {
    case STORE_OP_CREATE_LOG:
        printf("  segment %" PRIu64 " base %" PRIu64 "  version %" PRIu64, op->seg.seg_id,
               op->seg.base, op->log.version);
        break;
    case STORE_OP_APPEND:
        if (op->n)
            printf("  lsn %" PRIu64 "..%" PRIu64 " (%u records)", op->first_lsn,
                   op->first_lsn + op->n - 1, op->n);
        printf("  segment %" PRIu64, op->seg.seg_id);
        break;
    case STORE_OP_SEAL:
        printf("  segment %" PRIu64 " sealed at %" PRIu64 "  version %" PRIu64, op->seg.seg_id,
               op->seg.sealed_at, op->log.version);
        break;
    case STORE_OP_EXTEND:
        printf("  new segment %" PRIu64 " base %" PRIu64 "  version %" PRIu64, op->seg.seg_id,
               op->seg.base, op->log.version);
        break;
    case STORE_OP_SEAL_EXTEND:
        printf("  segment %" PRIu64 " sealed at %" PRIu64 ", new segment %" PRIu64
               " base %" PRIu64 "  version %" PRIu64,
               op->seg.seg_id, op->seg.sealed_at, op->seg2.seg_id, op->seg2.base,
               op->log.version);
        break;
    case STORE_OP_TRIM:
        printf("  trim point %" PRIu64 ", %u segments dropped  version %" PRIu64,
               op->log.trim_point, op->n_dropped, op->log.version);
        break;
    default:
        break;
    }
}

static void op_describe_json(jw *w, const store_inspect_walrec *r)
{
    const store_op *op = r->op;
    if (!op)
        return;
    jw_u64(w, "log", op->log.log_id);
    if (op->type != STORE_OP_APPEND)
        jw_u64(w, "version", op->log.version);
    switch (op->type) {
    case STORE_OP_APPEND:
        jw_u64(w, "count", op->n);
        if (op->n) {
            jw_u64(w, "first_lsn", op->first_lsn);
            jw_u64(w, "last_lsn", op->first_lsn + op->n - 1);
        }
        jw_u64(w, "segment", op->seg.seg_id);
        break;
    case STORE_OP_CREATE_LOG:
    case STORE_OP_EXTEND:
        jw_u64(w, "segment", op->seg.seg_id);
        jw_u64(w, "base", op->seg.base);
        break;
    case STORE_OP_SEAL:
        jw_u64(w, "segment", op->seg.seg_id);
        jw_u64(w, "sealed_at", op->seg.sealed_at);
        break;
    case STORE_OP_SEAL_EXTEND:
        jw_u64(w, "segment", op->seg.seg_id);
        jw_u64(w, "sealed_at", op->seg.sealed_at);
        jw_u64(w, "new_segment", op->seg2.seg_id);
        jw_u64(w, "base", op->seg2.base);
        break;
    case STORE_OP_TRIM:
        jw_u64(w, "trim_point", op->log.trim_point);
        jw_u64(w, "dropped_segments", op->n_dropped);
        break;
    default:
        break;
    }
}

static int wal_rec_cb(void *ctx, const store_inspect_walrec *r)
{
    dump_ctx *d = ctx;
    progress_tick(d, "WAL records");
    if (d->json) {
        jw *w = &d->w;
        jw_obj(w, NULL);
        jw_u64(w, "seq", r->seq);
        jw_str(w, "type", store_inspect_op_name(r->type));
        jw_u64(w, "size", r->len);
        char name[WAL_FILE_NAME_MAX];
        wal_file_name(name, r->file_no);
        jw_str(w, "file", name);
        jw_u64(w, "offset", r->offset);
        jw_str(w, "checksum", "ok");
        jw_bool(w, "decodes", r->decode_rc == SEGLOG_OK);
        jw_bool(w, "after_checkpoint", r->after_checkpoint);
        op_describe_json(w, r);
        jw_obj_end(w);
        return 0;
    }
    char name[WAL_FILE_NAME_MAX];
    wal_file_name(name, r->file_no);
    printf("seq %" PRIu64 "  %s  size %u  crc ok  at %s:%" PRIu64 "%s", r->seq,
           store_inspect_op_name(r->type), r->len, name, r->offset,
           r->after_checkpoint ? "" : "  (before checkpoint)");
    op_describe_text(r);
    putchar('\n');
    return 0;
}

static int cmd_wal(dump_ctx *d, store_inspect *si, uint64_t from)
{
    const store_inspect_info *in = store_inspect_info_get(si);
    if (d->json) {
        jw_obj(&d->w, NULL);
        jw_str(&d->w, "dir", d->dir);
        jw_u64(&d->w, "checkpoint_seq", in->checkpoint_seq);
        jw_arr(&d->w, "records");
    }
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = store_inspect_wal(si, from, wal_rec_cb, d, &rep, &err);
    progress_done(d);
    const char *kind = rc != SEGLOG_OK            ? "corrupt"
                       : rep.end == WAL_END_CLEAN ? "clean"
                       : rep.end == WAL_END_TORN  ? "torn"
                                                  : "empty";
    if (d->json) {
        jw *w = &d->w;
        jw_arr_end(w);
        jw_u64(w, "count", rep.records);
        jw_obj(w, "end");
        jw_str(w, "kind", kind);
        jw_str(w, "file", rep.end_file);
        jw_u64(w, "offset", rep.end_offset);
        jw_u64(w, "torn_bytes", rep.torn_bytes);
        jw_u64(w, "last_seq", rep.last_seq);
        jw_str(w, "reason", rc != SEGLOG_OK ? err.message : rep.end_reason);
        jw_obj_end(w);
        jw_obj_end(w);
    } else if (rc != SEGLOG_OK) {
        printf("end: CORRUPTION after seq %" PRIu64 ": %s\n", rep.last_seq, err.message);
    } else {
        printf("end: %s at %s offset %" PRIu64 " after seq %" PRIu64 ": %s\n", kind,
               rep.end_file[0] ? rep.end_file : "-", rep.end_offset, rep.last_seq,
               rep.end_reason);
    }
    return rc != SEGLOG_OK ? DUMP_EXIT_PROBLEMS : DUMP_EXIT_OK;
}

/* ---- check ----------------------------------------------------------------------------------- */

static void problem_cb(void *ctx, const char *kind, const char *where, const char *message)
{
    dump_ctx *d = ctx;
    if (d->progress && d->count >= DUMP_PROGRESS_EVERY)
        fprintf(stderr, "\r\033[K");
    if (d->json) {
        jw_obj(&d->w, NULL);
        jw_str(&d->w, "kind", kind);
        jw_str(&d->w, "where", where);
        jw_str(&d->w, "message", message);
        jw_obj_end(&d->w);
    } else {
        printf("problem: %s: %s: %s\n", kind, where, message);
    }
    fflush(stdout);
}

static void check_progress(void *ctx, uint64_t records)
{
    dump_ctx *d = ctx;
    d->count = records;
    if (d->progress)
        fprintf(stderr, "\rseglog-dump: %" PRIu64 " records verified...", records);
}

static int cmd_check(dump_ctx *d, store_inspect *si)
{
    const store_inspect_info *in = store_inspect_info_get(si);
    if (d->json) {
        jw_obj(&d->w, NULL);
        jw_str(&d->w, "dir", d->dir);
        jw_arr(&d->w, "problems");
    }
    seglog_error err = {0};
    long n = store_inspect_check(si, problem_cb, d, check_progress, &err);
    progress_done(d);
    /* notes: states that are legal but worth a look */
    char buf[SEGLOG_ERROR_MESSAGE_MAX + 64];
    if (d->json) {
        jw_arr_end(&d->w);
        jw_arr(&d->w, "notes");
    }
    for (size_t i = 0; i < store_inspect_log_count(si); i++) {
        const store_inspect_log *lg = store_inspect_log_at(si, i);
        if (!sealed_without_successor(lg))
            continue;
        snprintf(buf, sizeof buf,
                 "log %" PRIu64 ": sealed at LSN %" PRIu64
                 ", no successor segment: appends will wait until the chain is extended",
                 lg->log.log_id, store_inspect_seg_end(&lg->segs[lg->n_segs - 1].seg));
        if (d->json)
            jw_str(&d->w, NULL, buf);
        else
            printf("note: %s\n", buf);
    }
    if (in->wal_rc == SEGLOG_OK && in->wal.end == WAL_END_TORN) {
        snprintf(buf, sizeof buf, "wal: %s (%s); a reopen cuts it off", in->wal.end_reason,
                 in->wal.end_file);
        if (d->json)
            jw_str(&d->w, NULL, buf);
        else
            printf("note: %s\n", buf);
    }
    if (d->json) {
        jw_arr_end(&d->w);
        jw_u64(&d->w, "logs", store_inspect_log_count(si));
        jw_u64(&d->w, "problem_count", n > 0 ? (uint64_t)n : 0);
        jw_bool(&d->w, "ok", n == 0);
        jw_obj_end(&d->w);
    } else {
        printf("check: %s: %ld problem%s (%zu logs)\n", d->dir, n < 0 ? 0 : n, n == 1 ? "" : "s",
               store_inspect_log_count(si));
    }
    if (n < 0) {
        fprintf(stderr, "seglog-dump: %s\n", err.message);
        return DUMP_EXIT_CANNOT_READ;
    }
    return n == 0 ? DUMP_EXIT_OK : DUMP_EXIT_PROBLEMS;
}

/* ---- main ------------------------------------------------------------------------------------ */

static const char usage_main[] =
    "usage: seglog-dump [--json] COMMAND DIR [OPTIONS]\n"
    "Inspects a seglog store offline, read-only (also while a server has it open).\n"
    "\n"
    "commands:\n"
    "  summary DIR                 format, counts of logs/segments/column families, WAL, disk use\n"
    "  logs DIR [--log ID]         each log's chain: segments, states, LSNs, records, bytes\n"
    "  records DIR --log ID [--from LSN] [--to LSN] [--format text|json|hex|raw]\n"
    "                              the records of one log\n"
    "  wal DIR [--from SEQ]        every WAL record and where and why the WAL ends\n"
    "  check DIR                   verify every invariant; exit 0 clean, 1 problems, 2 unreadable\n"
    "\n"
    "  --json                      one JSON document (fields: seglog-dump(1))\n"
    "  COMMAND --help              help on one command\n";

static const char *const usage_cmd[][2] = {
    {"summary", "usage: seglog-dump [--json] summary DIR\n"
                "Format version; number of logs, segments and column families (pool, orphan);\n"
                "WAL files with their sequence ranges, the checkpoint and the WAL's end; disk use\n"
                "of wal/, db/ (sst and other) and the rest.\n"},
    {"logs", "usage: seglog-dump [--json] logs DIR [--log ID]\n"
             "Each log's chain version, trim point and tail; per segment its id, base LSN, state\n"
             "(open / sealed at T / trimmed), column family, record count, first and last LSN and\n"
             "bytes. [from WAL seq N] marks state a reopen takes from the WAL after the\n"
             "checkpoint.\n"},
    {"records", "usage: seglog-dump [--json] records DIR --log ID [--from LSN] [--to LSN]\n"
                "                   [--format text|json|hex|raw]\n"
                "LSN, size, append time, checksum status, source (RocksDB or WAL seq) and payload\n"
                "(escaped text, hex, or with --format raw the payload bytes alone, for piping).\n"},
    {"wal", "usage: seglog-dump [--json] wal DIR [--from SEQ]\n"
            "Every valid WAL record: sequence, type, log, LSN range, size, checksum; then where\n"
            "the valid WAL ends and why (clean end, torn tail, corruption at file:offset).\n"
            "Exit 1 if the WAL is corrupt.\n"},
    {"check", "usage: seglog-dump [--json] check DIR\n"
              "Verifies chains, tails, record counts, column families, checksums and the WAL's\n"
              "coverage of the checkpoint. Exit 0 clean, 1 problems (each listed), 2\n"
              "unreadable.\n"},
};

static const char *cmd_usage(const char *cmd)
{
    for (size_t i = 0; i < sizeof usage_cmd / sizeof usage_cmd[0]; i++)
        if (strcmp(usage_cmd[i][0], cmd) == 0)
            return usage_cmd[i][1];
    return NULL;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    fprintf(stderr, "seglog-dump: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    const char *u = cmd ? cmd_usage(cmd) : NULL;
    fputs(u ? u : usage_main, stderr);
    return DUMP_EXIT_CANNOT_READ;
}

int main(int argc, char **argv)
{
    dump_ctx d = {.w = {.f = stdout}, .progress = isatty(2) != 0};
    const char *cmd = NULL;
    bool have_log = false, have_from = false, have_to = false, help = false;
    uint64_t log_id = 0, from = 0, to = SEGLOG_LSN_MAX;
    const char *format = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            d.json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help = true;
        } else if (strcmp(a, "--log") == 0) {
            if (!parse_u64(val, &log_id))
                return usage_error(cmd, "--log needs a log id, not \"%s\"", val ? val : "");
            have_log = true;
            i++;
        } else if (strcmp(a, "--from") == 0) {
            if (!parse_u64(val, &from))
                return usage_error(cmd, "--from needs a number, not \"%s\"", val ? val : "");
            have_from = true;
            i++;
        } else if (strcmp(a, "--to") == 0) {
            if (!parse_u64(val, &to))
                return usage_error(cmd, "--to needs a number, not \"%s\"", val ? val : "");
            have_to = true;
            i++;
        } else if (strcmp(a, "--format") == 0) {
            if (!val)
                return usage_error(cmd, "--format needs text, json, hex or raw");
            format = val;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error(cmd, "unknown option %s", a);
        } else if (!cmd) {
            cmd = a;
            if (!cmd_usage(cmd) && strcmp(cmd, "help") != 0)
                return usage_error(NULL, "unknown command \"%s\"", cmd);
        } else if (!d.dir) {
            d.dir = a;
        } else {
            return usage_error(cmd, "unexpected argument \"%s\"", a);
        }
    }
    if (!cmd || strcmp(cmd, "help") == 0) {
        fputs(usage_main, help || cmd ? stdout : stderr);
        return help || cmd ? DUMP_EXIT_OK : DUMP_EXIT_CANNOT_READ;
    }
    if (help) {
        fputs(cmd_usage(cmd), stdout);
        return DUMP_EXIT_OK;
    }
    if (!d.dir)
        return usage_error(cmd, "%s needs a store directory", cmd);
    enum rec_format fmt = d.json ? FMT_JSON : FMT_TEXT;
    if (format) {
        if (strcmp(cmd, "records") != 0)
            return usage_error(cmd, "--format is an option of records only");
        if (strcmp(format, "text") == 0)
            fmt = FMT_TEXT;
        else if (strcmp(format, "json") == 0)
            fmt = FMT_JSON;
        else if (strcmp(format, "hex") == 0)
            fmt = FMT_HEX;
        else if (strcmp(format, "raw") == 0)
            fmt = FMT_RAW;
        else
            return usage_error(cmd, "unknown format \"%s\"", format);
    }
    if (strcmp(cmd, "records") == 0 && !have_log)
        return usage_error(cmd, "records needs --log ID");
    if (have_log && strcmp(cmd, "records") != 0 && strcmp(cmd, "logs") != 0)
        return usage_error(cmd, "--log is an option of logs and records only");
    if ((have_from && strcmp(cmd, "records") != 0 && strcmp(cmd, "wal") != 0) ||
        (have_to && strcmp(cmd, "records") != 0))
        return usage_error(cmd, "--from/--to do not apply to %s", cmd);

    store_inspect *si = NULL;
    int rc = open_store(&d, &si);
    if (rc != DUMP_EXIT_OK)
        return rc;
    if (strcmp(cmd, "summary") == 0)
        rc = cmd_summary(&d, si);
    else if (strcmp(cmd, "logs") == 0)
        rc = cmd_logs(&d, si, have_log, log_id);
    else if (strcmp(cmd, "records") == 0)
        rc = cmd_records(&d, si, log_id, from ? from : 1, to, fmt);
    else if (strcmp(cmd, "wal") == 0)
        rc = cmd_wal(&d, si, from);
    else
        rc = cmd_check(&d, si);
    store_inspect_close(si);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "seglog-dump: writing the output failed: %s\n", strerror(errno));
        return DUMP_EXIT_CANNOT_READ;
    }
    return rc;
}
