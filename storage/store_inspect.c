/*
 * store_inspect.c — the read-only view of a store that tools/seglog-dump prints and checks.
 *
 * WHAT IT OWNS
 *   Nothing on disk: it never writes to the store directory. RocksDB is opened with
 *   rocksdb_open_for_read_only_column_families, which takes no lock and writes nothing, with its
 *   info log sent to a scratch directory under $TMPDIR (removed at close) and max_open_files -1,
 *   so that every table file is opened once at open and stays readable even if a server running
 *   on the store compacts it away meanwhile. The store's LOCK.seglog is never touched: the view
 *   works while a server has the store open. The WAL is read by wal_scan_dir_files (no lock, no
 *   write, the recovery scan's own checks).
 *
 * WHAT A REOPEN WOULD SHOW
 *   seglog writes RocksDB with RocksDB's WAL off, so RocksDB on disk holds only what was flushed:
 *   at least everything up to the checkpoint K (meta key "K"). The newest state lives in the WAL
 *   after K. Recovery replays those records (each op writes absolute values); this view does the
 *   same to its in-memory copy of the metadata (logs and segments, the same puts as store.c's
 *   batch_op), and marks every log and segment it changed with the WAL sequence that changed it.
 *   Records are not copied: store_inspect_records merges, in LSN order, the records in the
 *   segments' column families with the appends found in the WAL after K (a second pass over the
 *   WAL), one record at a time.
 *
 * DAMAGE
 *   Undecodable metadata values become notes, not failures. A WAL scan that meets corruption stops
 *   there; the ops before it are applied and the damage is reported (file and offset) in
 *   store_inspect_info.wal_rc / wal_error. Only a RocksDB that cannot be opened at all fails open.
 *   Against a live store, the RocksDB snapshot and the WAL scan are taken one after the other; a
 *   scan that fails is retried (STORE_INSPECT_OPEN_ATTEMPTS) before its failure is believed.
 *
 * CHECK (store_inspect_check) verifies: the format version; the WAL scans cleanly and covers the
 *   checkpoint (wal-gap: the records after it are gone); per log, segment ids ascend, bases are
 *   contiguous (each segment starts at the end of the one before), trimmed segments form a
 *   prefix, every segment but the last is sealed or trimmed, at most one is open and only as the
 *   last, the trim point lies before the tail; every live segment's column family exists and is
 *   used by no other live segment; no orphan column family (unreferenced and not empty); every
 *   record the metadata promises is present (RocksDB or WAL), none lies past a segment's end,
 *   and a sealed segment holds exactly sealed_at - first records; RocksDB verifies its block
 *   checksums on every read, the WAL its CRC32C per frame. check reads each log's records once,
 *   with one pass over the WAL for each log the WAL after the checkpoint touched.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <rocksdb/c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_inspect.h"
#include "wal_internal.h"

#define STORE_INSPECT_PATH_MAX 4096u
#define STORE_INSPECT_OPEN_ATTEMPTS 3u
#define STORE_INSPECT_RETRY_MS 100u
#define STORE_INSPECT_RECS_PER_OP_MAX 65536u /* as store.c's STORE_RECS_PER_OP_MAX */
#define STORE_INSPECT_PROGRESS_EVERY 65536u  /* records between two progress calls */

struct store_inspect {
    char dir[STORE_INSPECT_PATH_MAX];
    char scratch[STORE_INSPECT_PATH_MAX]; /* RocksDB's info log goes here */
    rocksdb_options_t *dbopt;
    rocksdb_readoptions_t *ropt;
    rocksdb_t *db;
    rocksdb_column_family_handle_t **handles; /* parallel to cfs */
    rocksdb_column_family_handle_t *meta;
    store_inspect_cf *cfs; /* sorted: by cf_no, names seglog does not make first */
    size_t n_cfs;
    store_inspect_log *logs; /* sorted by log id */
    size_t n_logs, cap_logs;
    store_inspect_info info;
    wal_file_info *wal_files;
    char (*notes)[SEGLOG_ERROR_MESSAGE_MAX];
    seglog_buf *recs_scratch;
    store_seg *dropped_scratch;
};

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

/* The one place this file classifies, copies and frees RocksDB's error text. */
static int rocks_err(char *errptr, seglog_error *err, const char *what)
{
    if (!errptr)
        return SEGLOG_OK;
    int code = strstr(errptr, "Corruption") ? SEGLOG_ECORRUPT : SEGLOG_EIO;
    set_err(err, code, 0, "storage: %s: %s", what, errptr);
    rocksdb_free(errptr);
    return code;
}

static void note(store_inspect *si, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(store_inspect *si, const char *fmt, ...)
{
    if (si->info.n_notes < STORE_INSPECT_NOTES_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(si->notes[si->info.n_notes], SEGLOG_ERROR_MESSAGE_MAX, fmt, ap);
        va_end(ap);
    }
    si->info.n_notes++;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

const char *store_inspect_op_name(uint8_t type)
{
    switch (type) {
    case STORE_OP_CREATE_LOG: return "create-log";
    case STORE_OP_APPEND: return "append";
    case STORE_OP_SEAL: return "seal";
    case STORE_OP_EXTEND: return "extend";
    case STORE_OP_SEAL_EXTEND: return "seal-extend";
    case STORE_OP_TRIM: return "trim";
    default: return "unknown";
    }
}

const char *store_inspect_state_name(uint8_t state)
{
    return state == STORE_SEG_OPEN     ? "open"
           : state == STORE_SEG_SEALED ? "sealed"
           : state == STORE_SEG_TRIMMED ? "trimmed"
                                        : "invalid";
}

const char *store_inspect_cf_role_name(store_inspect_cf_role role)
{
    static const char *const names[] = {"default", "meta",   "segment", "trimmed",
                                        "pool",    "orphan", "unknown"};
    return (unsigned)role < sizeof names / sizeof names[0] ? names[role] : "unknown";
}

/* ---- the in-memory metadata ------------------------------------------------------------------ */

static store_inspect_log *log_get(store_inspect *si, uint64_t log_id, bool create)
{
    size_t lo = 0, hi = si->n_logs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (si->logs[mid].log.log_id < log_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < si->n_logs && si->logs[lo].log.log_id == log_id)
        return &si->logs[lo];
    if (!create)
        return NULL;
    if (si->n_logs == si->cap_logs) {
        size_t cap = si->cap_logs ? 2 * si->cap_logs : 16;
        store_inspect_log *bigger = realloc(si->logs, cap * sizeof *bigger);
        if (!bigger)
            return NULL;
        si->logs = bigger;
        si->cap_logs = cap;
    }
    memmove(si->logs + lo + 1, si->logs + lo, (si->n_logs - lo) * sizeof *si->logs);
    si->logs[lo] = (store_inspect_log){.log = {.log_id = log_id}};
    si->n_logs++;
    return &si->logs[lo];
}

static int put_log(store_inspect *si, const store_log *l, uint64_t wal_seq)
{
    store_inspect_log *lg = log_get(si, l->log_id, true);
    if (!lg)
        return SEGLOG_ENOMEM;
    lg->log = *l;
    lg->wal_seq = wal_seq;
    return SEGLOG_OK;
}

static int put_seg(store_inspect *si, const store_seg *s, uint64_t wal_seq)
{
    store_inspect_log *lg = log_get(si, s->log_id, true);
    if (!lg)
        return SEGLOG_ENOMEM;
    size_t lo = 0, hi = lg->n_segs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lg->segs[mid].seg.seg_id < s->seg_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < lg->n_segs && lg->segs[lo].seg.seg_id == s->seg_id) {
        lg->segs[lo] = (store_inspect_seg){.seg = *s, .wal_seq = wal_seq};
        return SEGLOG_OK;
    }
    if (lg->n_segs == lg->cap_segs) {
        size_t cap = lg->cap_segs ? 2 * lg->cap_segs : 4;
        store_inspect_seg *bigger = realloc(lg->segs, cap * sizeof *bigger);
        if (!bigger)
            return SEGLOG_ENOMEM;
        lg->segs = bigger;
        lg->cap_segs = cap;
    }
    memmove(lg->segs + lo + 1, lg->segs + lo, (lg->n_segs - lo) * sizeof *lg->segs);
    lg->segs[lo] = (store_inspect_seg){.seg = *s, .wal_seq = wal_seq};
    lg->n_segs++;
    return SEGLOG_OK;
}

/* The metadata puts of store.c's batch_op, applied in memory. */
static int overlay_op(store_inspect *si, uint64_t seq, const store_op *op)
{
    int rc = SEGLOG_OK;
    switch (op->type) {
    case STORE_OP_CREATE_LOG:
    case STORE_OP_SEAL:
    case STORE_OP_EXTEND:
        rc = put_log(si, &op->log, seq);
        if (rc == SEGLOG_OK)
            rc = put_seg(si, &op->seg, seq);
        break;
    case STORE_OP_APPEND:
        rc = put_seg(si, &op->seg, seq);
        break;
    case STORE_OP_SEAL_EXTEND:
        rc = put_log(si, &op->log, seq);
        if (rc == SEGLOG_OK)
            rc = put_seg(si, &op->seg, seq);
        if (rc == SEGLOG_OK)
            rc = put_seg(si, &op->seg2, seq);
        break;
    case STORE_OP_TRIM:
        rc = put_log(si, &op->log, seq);
        for (uint32_t i = 0; i < op->n_dropped && rc == SEGLOG_OK; i++)
            rc = put_seg(si, &op->dropped[i], seq);
        break;
    default:
        break;
    }
    return rc;
}

static int decode_op(store_inspect *si, uint8_t type, const void *payload, uint32_t len,
                     store_op *op, seglog_error *err)
{
    return store_op_decode(payload, len, type, op, si->recs_scratch, STORE_INSPECT_RECS_PER_OP_MAX,
                           si->dropped_scratch, STORE_OPS_MAX_DROPPED, err);
}

static int overlay_cb(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len,
                      uint64_t file_no, uint64_t offset)
{
    (void)file_no;
    (void)offset;
    store_inspect *si = ctx;
    store_op op;
    seglog_error e = {0};
    if (decode_op(si, type, payload, len, &op, &e) != SEGLOG_OK) {
        note(si, "WAL record %" PRIu64 " does not decode: %s", seq, e.message);
        return SEGLOG_OK;
    }
    si->info.wal_ops_applied++;
    return overlay_op(si, seq, &op);
}

/* ---- open ------------------------------------------------------------------------------------ */

static uint64_t meta_u64(store_inspect *si, const char *key, size_t min_len, bool *found)
{
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(si->db, si->ropt, si->meta, key, strlen(key), &vlen, &e);
    if (e)
        rocksdb_free(e);
    uint64_t r = 0;
    if (found)
        *found = v != NULL;
    if (v && vlen >= min_len)
        r = min_len == 4 ? wal_get32((const uint8_t *)v) : wal_get64((const uint8_t *)v);
    if (v)
        rocksdb_free(v);
    return r;
}

static int cmp_cf(const void *a, const void *b)
{
    const store_inspect_cf *x = a, *y = b;
    if (x->cf_no != y->cf_no)
        return x->cf_no < y->cf_no ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool cf_name_parse(const char *name, uint64_t *cf_no)
{
    if (strncmp(name, "cf-", 3) != 0 || name[3] < '0' || name[3] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name + 3, &end, 10);
    if (*end != '\0' || errno != 0 || v == 0)
        return false;
    *cf_no = v;
    return true;
}

static void close_rocks(store_inspect *si)
{
    if (si->db) {
        for (size_t i = 0; i < si->n_cfs; i++)
            if (si->handles[i])
                rocksdb_column_family_handle_destroy(si->handles[i]);
        rocksdb_close(si->db);
        si->db = NULL;
    }
    free(si->handles);
    free(si->cfs);
    si->handles = NULL;
    si->cfs = NULL;
    si->n_cfs = 0;
    si->meta = NULL;
}

static int open_rocks(store_inspect *si, seglog_error *err)
{
    char path[STORE_INSPECT_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/db", si->dir);
    size_t ncf = 0;
    char *e = NULL;
    char **names = rocksdb_list_column_families(si->dbopt, path, &ncf, &e);
    int rc = rocks_err(e, err, "list column families");
    if (rc != SEGLOG_OK) {
        if (names) /* RocksDB returns an (empty) array even on failure */
            rocksdb_list_column_families_destroy(names, ncf);
        return rc;
    }
    si->cfs = calloc(ncf ? ncf : 1, sizeof *si->cfs);
    rocksdb_column_family_handle_t **handles = calloc(ncf ? ncf : 1, sizeof *handles);
    const char **cfnames = calloc(ncf ? ncf : 1, sizeof *cfnames);
    const rocksdb_options_t **cfopts = calloc(ncf ? ncf : 1, sizeof *cfopts);
    if (!si->cfs || !handles || !cfnames || !cfopts) {
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto out;
    }
    for (size_t i = 0; i < ncf; i++) {
        cfnames[i] = names[i];
        cfopts[i] = si->dbopt;
    }
    si->db = rocksdb_open_for_read_only_column_families(si->dbopt, path, (int)ncf, cfnames, cfopts,
                                                        handles, 0, &e);
    rc = rocks_err(e, err, "open RocksDB read-only");
    if (rc != SEGLOG_OK)
        goto out;
    /* Sort the CFs and their handles together. */
    for (size_t i = 0; i < ncf; i++) {
        store_inspect_cf *c = &si->cfs[i];
        snprintf(c->name, sizeof c->name, "%s", names[i]);
        if (strcmp(names[i], "default") == 0)
            c->role = STORE_INSPECT_CF_DEFAULT;
        else if (strcmp(names[i], "meta") == 0)
            c->role = STORE_INSPECT_CF_META;
        else if (cf_name_parse(names[i], &c->cf_no))
            c->role = STORE_INSPECT_CF_POOL; /* classified after the metadata is known */
        else
            c->role = STORE_INSPECT_CF_UNKNOWN;
        uint64_t v = 0;
        if (rocksdb_property_int_cf(si->db, handles[i], "rocksdb.total-sst-files-size", &v) == 0)
            c->sst_bytes = v;
    }
    si->n_cfs = ncf;
    si->handles = calloc(ncf ? ncf : 1, sizeof *si->handles);
    if (!si->handles) {
        for (size_t i = 0; i < ncf; i++)
            rocksdb_column_family_handle_destroy(handles[i]);
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto out;
    }
    /* a stable order: remember each CF's handle by name, sort, then re-pair */
    store_inspect_cf *orig = malloc((ncf ? ncf : 1) * sizeof *orig);
    if (!orig) {
        for (size_t i = 0; i < ncf; i++)
            rocksdb_column_family_handle_destroy(handles[i]);
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto out;
    }
    memcpy(orig, si->cfs, ncf * sizeof *orig);
    qsort(si->cfs, ncf, sizeof *si->cfs, cmp_cf);
    for (size_t i = 0; i < ncf; i++)
        for (size_t j = 0; j < ncf; j++)
            if (strcmp(si->cfs[i].name, orig[j].name) == 0)
                si->handles[i] = handles[j];
    free(orig);
    for (size_t i = 0; i < ncf; i++)
        if (si->cfs[i].role == STORE_INSPECT_CF_META)
            si->meta = si->handles[i];
    if (!si->meta)
        rc = set_err(err, SEGLOG_ECORRUPT, 0, "storage: %s has no \"meta\" column family", path);
out:
    if (names)
        rocksdb_list_column_families_destroy(names, ncf);
    free(handles);
    free(cfnames);
    free(cfopts);
    return rc;
}

static int load_meta(store_inspect *si, seglog_error *err)
{
    bool found = false;
    si->info.format_version = (uint32_t)meta_u64(si, "F", 4, &found);
    if (!found)
        note(si, "metadata: no format version key");
    si->info.checkpoint_seq = meta_u64(si, "K", 8, NULL);
    si->info.applied_seq = meta_u64(si, "A", 8, NULL);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(si->db, si->ropt, si->meta);
    int rc = SEGLOG_OK;
    for (rocksdb_iter_seek_to_first(it); rc == SEGLOG_OK && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
        if (klen == 9 && k[0] == 'L') {
            store_log l;
            if (store_log_decode(v, vlen, get_be64(k + 1), &l) != SEGLOG_OK)
                note(si, "metadata: log %" PRIu64 ": value of %zu bytes does not decode",
                     get_be64(k + 1), vlen);
            else
                rc = put_log(si, &l, 0);
        } else if (klen == 17 && k[0] == 'S') {
            store_seg s;
            if (store_seg_decode(v, vlen, get_be64(k + 1), get_be64(k + 9), &s) != SEGLOG_OK)
                note(si, "metadata: log %" PRIu64 " segment %" PRIu64
                         ": value of %zu bytes does not decode",
                     get_be64(k + 1), get_be64(k + 9), vlen);
            else
                rc = put_seg(si, &s, 0);
        } else if (!(klen == 1 && (k[0] == 'F' || k[0] == 'K' || k[0] == 'A'))) {
            note(si, "metadata: unknown key of %zu bytes starting with 0x%02x", klen,
                 klen ? k[0] : 0);
        }
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (rc != SEGLOG_OK)
        return set_err(err, rc, 0, "storage: out of memory loading metadata");
    return rocks_err(e, err, "scan metadata");
}

static void free_logs(store_inspect *si)
{
    for (size_t i = 0; i < si->n_logs; i++)
        free(si->logs[i].segs);
    free(si->logs);
    si->logs = NULL;
    si->n_logs = si->cap_logs = 0;
}

static bool cf_empty(store_inspect *si, size_t i)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(si->db, si->ropt, si->handles[i]);
    rocksdb_iter_seek_to_first(it);
    bool empty = !rocksdb_iter_valid(it);
    rocksdb_iter_destroy(it);
    return empty;
}

static long cf_index(const store_inspect *si, uint64_t cf_no)
{
    size_t lo = 0, hi = si->n_cfs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (si->cfs[mid].cf_no < cf_no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < si->n_cfs && si->cfs[lo].cf_no == cf_no && cf_no != 0 ? (long)lo : -1;
}

/* A CF serving a live segment is that segment's. One referenced only by trimmed segments is
 * "trimmed" while it still holds records (a trim the WAL holds empties it when a reopen replays
 * it; a store that drops instead of recycling drops it in the background) and back in the pool
 * once empty (recycled). Unreferenced: pool if empty, orphan if not. */
static void classify_cfs(store_inspect *si)
{
    for (size_t i = 0; i < si->n_cfs; i++)
        si->cfs[i].trimmed_refs = 0;
    for (size_t i = 0; i < si->n_logs; i++) {
        const store_inspect_log *lg = &si->logs[i];
        for (size_t j = 0; j < lg->n_segs; j++) {
            const store_seg *s = &lg->segs[j].seg;
            long k = cf_index(si, s->cf_no);
            if (k < 0)
                continue;
            store_inspect_cf *c = &si->cfs[k];
            if (s->state == STORE_SEG_TRIMMED) {
                c->trimmed_refs++;
                if (lg->segs[j].wal_seq)
                    c->emptied_by_wal = true;
                if (c->role != STORE_INSPECT_CF_SEGMENT && c->role != STORE_INSPECT_CF_TRIMMED) {
                    c->role = STORE_INSPECT_CF_TRIMMED;
                    c->log_id = s->log_id;
                    c->seg_id = s->seg_id;
                }
                continue;
            }
            if (c->role == STORE_INSPECT_CF_SEGMENT && (c->log_id != s->log_id ||
                                                         c->seg_id != s->seg_id))
                c->shared = true;
            c->role = STORE_INSPECT_CF_SEGMENT;
            c->log_id = s->log_id;
            c->seg_id = s->seg_id;
        }
    }
    for (size_t i = 0; i < si->n_cfs; i++) {
        store_inspect_cf *c = &si->cfs[i];
        if (c->role == STORE_INSPECT_CF_POOL && !cf_empty(si, i))
            c->role = STORE_INSPECT_CF_ORPHAN;
        else if (c->role == STORE_INSPECT_CF_TRIMMED && cf_empty(si, i))
            c->role = STORE_INSPECT_CF_POOL;
    }
}

static int scan_wal_overlay(store_inspect *si, seglog_error *err)
{
    char path[STORE_INSPECT_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/wal", si->dir);
    seglog_error e = {0};
    uint32_t n = 0;
    struct stat stb;
    if (stat(path, &stb) != 0) {
        si->info.wal_rc = SEGLOG_OK;
        snprintf(si->info.wal.end_reason, sizeof si->info.wal.end_reason, "no WAL directory");
        return SEGLOG_OK;
    }
    si->info.wal_rc = wal_scan_dir_files(path, si->info.checkpoint_seq + 1, overlay_cb, si,
                                         &si->info.wal, si->wal_files,
                                         STORE_INSPECT_WAL_FILES_MAX, &n, &e);
    si->info.n_wal_files = n;
    if (si->info.wal_rc != SEGLOG_OK)
        snprintf(si->info.wal_error, sizeof si->info.wal_error, "%s", e.message);
    if (si->info.wal_rc == SEGLOG_ENOMEM)
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory reading the WAL");
    return SEGLOG_OK;
}

static void rm_scratch(store_inspect *si)
{
    if (!si->scratch[0])
        return;
    DIR *d = opendir(si->scratch);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char p[STORE_INSPECT_PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", si->scratch, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(si->scratch);
    si->scratch[0] = '\0';
}

void store_inspect_close(store_inspect *si)
{
    if (!si)
        return;
    close_rocks(si);
    free_logs(si);
    if (si->dbopt)
        rocksdb_options_destroy(si->dbopt);
    if (si->ropt)
        rocksdb_readoptions_destroy(si->ropt);
    rm_scratch(si);
    free(si->wal_files);
    free(si->notes);
    free(si->recs_scratch);
    free(si->dropped_scratch);
    free(si);
}

static int attempt(store_inspect *si, seglog_error *err)
{
    close_rocks(si);
    free_logs(si);
    wal_file_info *files = si->wal_files;
    char(*notes)[SEGLOG_ERROR_MESSAGE_MAX] = si->notes;
    memset(&si->info, 0, sizeof si->info);
    si->info.wal_files = files;
    si->info.notes = notes;
    int rc = open_rocks(si, err);
    if (rc == SEGLOG_OK)
        rc = load_meta(si, err);
    if (rc == SEGLOG_OK)
        rc = scan_wal_overlay(si, err);
    if (rc == SEGLOG_OK)
        classify_cfs(si);
    return rc;
}

int store_inspect_open(store_inspect **out, const char *dir, seglog_error *err)
{
    *out = NULL;
    if (strlen(dir) + 16 >= STORE_INSPECT_PATH_MAX)
        return set_err(err, SEGLOG_EINVAL, 0, "storage: directory path too long");
    char probe[STORE_INSPECT_PATH_MAX + 16];
    struct stat stb;
    snprintf(probe, sizeof probe, "%s/db/CURRENT", dir);
    if (stat(dir, &stb) != 0)
        return set_err(err, SEGLOG_ENOTFOUND, errno, "storage: cannot read %s: %s", dir,
                       strerror(errno));
    if (stat(probe, &stb) != 0)
        return set_err(err, SEGLOG_ENOTFOUND, errno, "storage: %s holds no store (no db/CURRENT)",
                       dir);
    store_inspect *si = calloc(1, sizeof *si);
    if (!si)
        return set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
    snprintf(si->dir, sizeof si->dir, "%s", dir);
    si->wal_files = calloc(STORE_INSPECT_WAL_FILES_MAX, sizeof *si->wal_files);
    si->notes = calloc(STORE_INSPECT_NOTES_MAX, sizeof *si->notes);
    si->recs_scratch = calloc(STORE_INSPECT_RECS_PER_OP_MAX, sizeof *si->recs_scratch);
    si->dropped_scratch = calloc(STORE_OPS_MAX_DROPPED, sizeof *si->dropped_scratch);
    int rc = SEGLOG_OK;
    if (!si->wal_files || !si->notes || !si->recs_scratch || !si->dropped_scratch) {
        rc = set_err(err, SEGLOG_ENOMEM, ENOMEM, "storage: out of memory");
        goto fail;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(si->scratch, sizeof si->scratch, "%s/seglog-dump-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(si->scratch)) {
        rc = set_err(err, SEGLOG_EIO, errno, "storage: cannot make a scratch directory %s: %s",
                     si->scratch, strerror(errno));
        si->scratch[0] = '\0';
        goto fail;
    }
    si->dbopt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(si->dbopt, 0);
    rocksdb_options_set_db_log_dir(si->dbopt, si->scratch);
    rocksdb_options_set_info_log_level(si->dbopt, 3 /* ERROR */);
    rocksdb_options_set_max_open_files(si->dbopt, -1);
    rocksdb_options_set_compression(si->dbopt, rocksdb_no_compression);
    si->ropt = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(si->ropt, 1);
    rocksdb_readoptions_set_fill_cache(si->ropt, 0);
    for (uint32_t a = 1; a <= STORE_INSPECT_OPEN_ATTEMPTS; a++) {
        rc = attempt(si, err);
        if (rc == SEGLOG_ENOMEM || (rc == SEGLOG_OK && si->info.wal_rc == SEGLOG_OK))
            break;
        if (a < STORE_INSPECT_OPEN_ATTEMPTS) {
            struct timespec ts = {0, (long)STORE_INSPECT_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (rc != SEGLOG_OK)
        goto fail;
    *out = si;
    return SEGLOG_OK;
fail:
    store_inspect_close(si);
    return rc;
}

/* ---- accessors ------------------------------------------------------------------------------- */

const store_inspect_info *store_inspect_info_get(const store_inspect *si)
{
    return &si->info;
}

size_t store_inspect_log_count(const store_inspect *si)
{
    return si->n_logs;
}

const store_inspect_log *store_inspect_log_at(const store_inspect *si, size_t i)
{
    return i < si->n_logs ? &si->logs[i] : NULL;
}

const store_inspect_log *store_inspect_log_find(const store_inspect *si, uint64_t log_id)
{
    return log_get((store_inspect *)(uintptr_t)si, log_id, false);
}

size_t store_inspect_cf_count(const store_inspect *si)
{
    return si->n_cfs;
}

const store_inspect_cf *store_inspect_cf_at(const store_inspect *si, size_t i)
{
    return i < si->n_cfs ? &si->cfs[i] : NULL;
}

const store_inspect_cf *store_inspect_cf_find(const store_inspect *si, uint64_t cf_no)
{
    long i = cf_index(si, cf_no);
    return i >= 0 ? &si->cfs[i] : NULL;
}

uint64_t store_inspect_seg_first(const store_inspect_log *log, const store_seg *seg)
{
    return seg->base > log->log.trim_point ? seg->base : log->log.trim_point + 1;
}

uint64_t store_inspect_seg_end(const store_seg *seg)
{
    return seg->state == STORE_SEG_SEALED ? seg->sealed_at : seg->next_lsn;
}

/* ---- records --------------------------------------------------------------------------------- */

/* The merge of store_inspect_records: RocksDB records are emitted up to each WAL append. */
typedef struct rec_walk {
    store_inspect *si;
    const store_inspect_log *lg;
    uint64_t from, to;  /* inclusive */
    uint64_t cursor;    /* next LSN to emit */
    store_inspect_rec_fn fn;
    void *ctx;
    int rc;             /* first error or callback stop */
    seglog_error *err;
    size_t it_seg;      /* segment index the iterator belongs to */
    rocksdb_iterator_t *it;
} rec_walk;

/* The live segment holding lsn, or -1. */
static long seg_of(const store_inspect_log *lg, uint64_t lsn)
{
    for (size_t i = 0; i < lg->n_segs; i++) {
        const store_seg *s = &lg->segs[i].seg;
        if (s->state == STORE_SEG_TRIMMED)
            continue;
        if (lsn >= store_inspect_seg_first(lg, s) && lsn < store_inspect_seg_end(s))
            return (long)i;
    }
    return -1;
}

static int emit_missing(rec_walk *w, uint64_t lsn, uint64_t n, uint64_t seg_id)
{
    if (n == 0)
        return 0;
    store_inspect_rec r = {.lsn = lsn, .missing = n, .seg_id = seg_id};
    return w->fn(w->ctx, &r);
}

/* Emits the RocksDB records of [a, b) (clipped to live segments), reporting gaps as missing. */
static int emit_rocks(rec_walk *w, uint64_t a, uint64_t b)
{
    const store_inspect_log *lg = w->lg;
    for (size_t i = 0; i < lg->n_segs && a < b; i++) {
        const store_seg *s = &lg->segs[i].seg;
        if (s->state == STORE_SEG_TRIMMED)
            continue;
        uint64_t lo = store_inspect_seg_first(lg, s), hi = store_inspect_seg_end(s);
        if (lo < a)
            lo = a;
        if (hi > b)
            hi = b;
        if (lo >= hi)
            continue;
        long k = cf_index(w->si, s->cf_no);
        if (k < 0) {
            int rc = emit_missing(w, lo, hi - lo, s->seg_id);
            if (rc)
                return rc;
            continue;
        }
        if (!w->it || w->it_seg != i) {
            if (w->it)
                rocksdb_iter_destroy(w->it);
            w->it = rocksdb_create_iterator_cf(w->si->db, w->si->ropt, w->si->handles[k]);
            w->it_seg = i;
        }
        uint8_t key[8];
        put_be64(key, lo);
        uint64_t next = lo;
        for (rocksdb_iter_seek(w->it, (const char *)key, 8); rocksdb_iter_valid(w->it);
             rocksdb_iter_next(w->it)) {
            size_t klen, vlen;
            const uint8_t *kk = (const uint8_t *)rocksdb_iter_key(w->it, &klen);
            if (klen != 8)
                continue;
            uint64_t lsn = get_be64(kk);
            if (lsn >= hi)
                break;
            const uint8_t *v = (const uint8_t *)rocksdb_iter_value(w->it, &vlen);
            int rc = emit_missing(w, next, lsn - next, s->seg_id);
            if (rc)
                return rc;
            store_inspect_rec r = {.lsn = lsn, .seg_id = s->seg_id};
            if (vlen >= 8) {
                r.time_us = wal_get64(v);
                r.payload = v + 8;
                r.len = vlen - 8;
            } else {
                r.payload = v;
                r.len = 0;
                note(w->si, "log %" PRIu64 " LSN %" PRIu64 ": value of %zu bytes", lg->log.log_id,
                     lsn, vlen);
            }
            rc = w->fn(w->ctx, &r);
            if (rc)
                return rc;
            next = lsn + 1;
        }
        char *e = NULL;
        rocksdb_iter_get_error(w->it, &e);
        if (e) {
            int rc = rocks_err(e, w->err, "read records");
            char cf[32];
            store_cf_name(cf, s->cf_no);
            if (w->err) {
                char msg[SEGLOG_ERROR_MESSAGE_MAX];
                snprintf(msg, sizeof msg, "%s", w->err->message);
                set_err(w->err, rc, 0, "%.60s (log %" PRIu64 " segment %" PRIu64 ", %s): %.150s",
                        "storage: record read failed", lg->log.log_id, s->seg_id, cf, msg);
            }
            return rc;
        }
        int rc = emit_missing(w, next, hi - next, s->seg_id);
        if (rc)
            return rc;
    }
    return 0;
}

static int rec_wal_cb(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    rec_walk *w = ctx;
    if (type != STORE_OP_APPEND)
        return 0;
    store_op op;
    if (decode_op(w->si, type, payload, len, &op, NULL) != SEGLOG_OK)
        return 0;
    if (op.log.log_id != w->lg->log.log_id)
        return 0;
    for (uint32_t i = 0; i < op.n; i++) {
        uint64_t lsn = op.first_lsn + i;
        if (lsn < w->cursor || lsn > w->to)
            continue;
        long k = seg_of(w->lg, lsn);
        if (k < 0)
            continue;
        int rc = emit_rocks(w, w->cursor, lsn);
        if (rc) {
            w->rc = rc;
            return 1;
        }
        store_inspect_rec r = {.lsn = lsn,
                               .seg_id = w->lg->segs[k].seg.seg_id,
                               .time_us = op.time_us,
                               .payload = op.recs[i].data,
                               .len = op.recs[i].len,
                               .wal_seq = seq};
        rc = w->fn(w->ctx, &r);
        if (rc) {
            w->rc = rc;
            return 1;
        }
        w->cursor = lsn + 1;
    }
    return 0;
}

int store_inspect_records(store_inspect *si, uint64_t log_id, uint64_t from, uint64_t to,
                          store_inspect_rec_fn fn, void *ctx, seglog_error *err)
{
    const store_inspect_log *lg = store_inspect_log_find(si, log_id);
    if (!lg)
        return set_err(err, SEGLOG_ENOTFOUND, 0, "storage: no log %" PRIu64, log_id);
    if (from == 0)
        from = 1;
    rec_walk w = {.si = si, .lg = lg, .from = from, .to = to, .cursor = from, .fn = fn,
                  .ctx = ctx, .err = err};
    char path[STORE_INSPECT_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/wal", si->dir);
    /* An append after the checkpoint marks its segment with its WAL sequence: a log with no
     * mark has no record in the WAL to merge, and is read from RocksDB alone. */
    bool in_wal = lg->wal_seq != 0;
    for (size_t i = 0; i < lg->n_segs && !in_wal; i++)
        in_wal = lg->segs[i].wal_seq != 0;
    struct stat stb;
    if (in_wal && stat(path, &stb) == 0) {
        /* the scan's own verdict is in store_inspect_info already; records before damage count */
        wal_scan_dir(path, si->info.checkpoint_seq + 1, rec_wal_cb, &w, NULL, NULL);
    }
    int rc = w.rc;
    if (rc == 0 && w.cursor <= to)
        rc = emit_rocks(&w, w.cursor, to == UINT64_MAX ? UINT64_MAX : to + 1);
    if (w.it)
        rocksdb_iter_destroy(w.it);
    return rc;
}

int store_inspect_cf_keys_outside(store_inspect *si, uint64_t cf_no, uint64_t lo, uint64_t hi,
                                  uint64_t *count, seglog_error *err)
{
    *count = 0;
    long k = cf_index(si, cf_no);
    if (k < 0)
        return set_err(err, SEGLOG_ENOTFOUND, 0, "storage: no column family %" PRIu64, cf_no);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(si->db, si->ropt, si->handles[k]);
    uint8_t key[8];
    /* below lo */
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const uint8_t *kk = (const uint8_t *)rocksdb_iter_key(it, &klen);
        if (klen == 8 && get_be64(kk) >= lo)
            break;
        (*count)++;
    }
    put_be64(key, hi);
    for (rocksdb_iter_seek(it, (const char *)key, 8); rocksdb_iter_valid(it);
         rocksdb_iter_next(it))
        (*count)++;
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    return rocks_err(e, err, "scan column family");
}

/* ---- the WAL --------------------------------------------------------------------------------- */

typedef struct wal_walk {
    store_inspect *si;
    uint64_t from_seq;
    store_inspect_wal_fn fn;
    void *ctx;
} wal_walk;

static int wal_cb(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len,
                  uint64_t file_no, uint64_t offset)
{
    wal_walk *w = ctx;
    if (seq < w->from_seq)
        return 0;
    store_op op;
    store_inspect_walrec r = {.seq = seq,
                              .type = type,
                              .len = len,
                              .file_no = file_no,
                              .offset = offset,
                              .after_checkpoint = seq > w->si->info.checkpoint_seq};
    r.decode_rc = decode_op(w->si, type, payload, len, &op, NULL);
    r.op = r.decode_rc == SEGLOG_OK ? &op : NULL;
    return w->fn(w->ctx, &r);
}

int store_inspect_wal(store_inspect *si, uint64_t from_seq, store_inspect_wal_fn fn, void *ctx,
                      wal_scan_report *rep, seglog_error *err)
{
    char path[STORE_INSPECT_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/wal", si->dir);
    wal_walk w = {.si = si, .from_seq = from_seq, .fn = fn, .ctx = ctx};
    struct stat stb;
    if (stat(path, &stb) != 0) {
        memset(rep, 0, sizeof *rep);
        snprintf(rep->end_reason, sizeof rep->end_reason, "no WAL directory");
        return SEGLOG_OK;
    }
    /* from 0: a WAL that starts after from_seq (recycled files) is no error here; the filter
     * is wal_cb's */
    uint32_t n_files = 0;
    return wal_scan_dir_files(path, 0, wal_cb, &w, rep, NULL, 0, &n_files, err);
}

/* ---- check ----------------------------------------------------------------------------------- */

typedef struct checker {
    store_inspect *si;
    store_inspect_problem_fn fn;
    void *ctx;
    long problems;
    void (*progress)(void *ctx, uint64_t records);
    uint64_t records;               /* verified so far, all logs */
    const store_inspect_log *lg;    /* the log being counted */
    uint64_t *found, *missing, *bytes; /* per segment of lg */
} checker;

static void problem(checker *c, const char *kind, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(checker *c, const char *kind, const char *where, const char *fmt, ...)
{
    char msg[2 * SEGLOG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    c->fn(c->ctx, kind, where, msg);
}

static long seg_index(const store_inspect_log *lg, uint64_t seg_id)
{
    for (size_t i = 0; i < lg->n_segs; i++)
        if (lg->segs[i].seg.seg_id == seg_id)
            return (long)i;
    return -1;
}

static int check_rec(void *ctx, const store_inspect_rec *r)
{
    checker *c = ctx;
    long i = seg_index(c->lg, r->seg_id);
    if (i < 0)
        return 0;
    if (r->missing) {
        c->missing[i] += r->missing;
        return 0;
    }
    c->found[i]++;
    c->bytes[i] += r->len;
    c->records++;
    if (c->progress && c->records % STORE_INSPECT_PROGRESS_EVERY == 0)
        c->progress(c->ctx, c->records);
    return 0;
}

/* The chain's shape and each segment's column family. */
static void check_chain(checker *c, const store_inspect_log *lg)
{
    store_inspect *si = c->si;
    char where[96];
    bool live_seen = false;
    for (size_t i = 0; i < lg->n_segs; i++) {
        const store_seg *s = &lg->segs[i].seg;
        snprintf(where, sizeof where, "log %" PRIu64 " segment %" PRIu64, lg->log.log_id,
                 s->seg_id);
        if (i > 0) {
            const store_seg *p = &lg->segs[i - 1].seg;
            uint64_t pend = p->state == STORE_SEG_SEALED ? p->sealed_at : p->next_lsn;
            if (s->base != pend)
                problem(c, "chain-gap", where,
                        "base %" PRIu64 " but the previous segment %" PRIu64 " ends at %" PRIu64,
                        s->base, p->seg_id, pend);
        }
        if (s->state == STORE_SEG_TRIMMED) {
            /* a trim drops every sealed segment that holds no LSN, wherever it is (loglet's
             * trim: nothing in it is above the trim point); only those may follow a live one */
            bool empty = i + 1 < lg->n_segs && lg->segs[i + 1].seg.base == s->base;
            if (live_seen && !empty)
                problem(c, "trim-order", where,
                        "trimmed, holding LSNs from %" PRIu64 ", but an earlier segment is not",
                        s->base);
            continue;
        }
        live_seen = true;
        if (s->state == STORE_SEG_OPEN && i + 1 < lg->n_segs)
            problem(c, "open-not-tail", where, "open, but segment %" PRIu64 " follows it",
                    lg->segs[i + 1].seg.seg_id);
        long k = cf_index(si, s->cf_no);
        char cf[32];
        store_cf_name(cf, s->cf_no);
        if (k < 0)
            problem(c, "missing-cf", where, "its column family %s does not exist", cf);
        else if (si->cfs[k].shared)
            problem(c, "shared-cf", where,
                    "its column family %s serves another live segment too (last seen: log %"
                    PRIu64 " segment %" PRIu64 ")",
                    cf, si->cfs[k].log_id, si->cfs[k].seg_id);
    }
    const store_seg *t = &lg->segs[lg->n_segs - 1].seg;
    snprintf(where, sizeof where, "log %" PRIu64, lg->log.log_id);
    if (t->state == STORE_SEG_TRIMMED)
        problem(c, "tail-trimmed", where, "its last segment %" PRIu64 " is trimmed", t->seg_id);
    uint64_t tail = store_inspect_seg_end(t);
    if (lg->log.trim_point >= tail && tail > 1)
        problem(c, "trim-past-tail", where,
                "trim point %" PRIu64 " is not before the tail %" PRIu64, lg->log.trim_point,
                tail);
}

/* Every record the metadata promises, and none outside a segment's range. */
static void check_records(checker *c, const store_inspect_log *lg, seglog_error *err)
{
    store_inspect *si = c->si;
    char where[96];
    snprintf(where, sizeof where, "log %" PRIu64, lg->log.log_id);
    c->lg = lg;
    c->found = calloc(lg->n_segs, sizeof *c->found);
    c->missing = calloc(lg->n_segs, sizeof *c->missing);
    c->bytes = calloc(lg->n_segs, sizeof *c->bytes);
    if (!c->found || !c->missing || !c->bytes) {
        problem(c, "out-of-memory", where, "records not verified");
        goto out;
    }
    int rc = store_inspect_records(si, lg->log.log_id, 1, SEGLOG_LSN_MAX, check_rec, c, err);
    if (rc != SEGLOG_OK) {
        problem(c, "record-read", where, "%s", err ? err->message : "read failed");
        goto out;
    }
    for (size_t i = 0; i < lg->n_segs; i++) {
        const store_seg *s = &lg->segs[i].seg;
        if (s->state == STORE_SEG_TRIMMED || cf_index(si, s->cf_no) < 0)
            continue;
        snprintf(where, sizeof where, "log %" PRIu64 " segment %" PRIu64, lg->log.log_id,
                 s->seg_id);
        uint64_t first = store_inspect_seg_first(lg, s), end = store_inspect_seg_end(s);
        uint64_t want = end > first ? end - first : 0;
        if (c->missing[i] || c->found[i] != want)
            problem(c, s->state == STORE_SEG_SEALED ? "sealed-count" : "record-count", where,
                    "%s, tail %" PRIu64 ": %" PRIu64 " records expected in [%" PRIu64 ", %" PRIu64
                    "), %" PRIu64 " found, %" PRIu64 " missing",
                    store_inspect_state_name(s->state), end, want, first, end, c->found[i],
                    c->missing[i]);
        else if (first == s->base && c->bytes[i] != s->bytes)
            problem(c, "byte-count", where,
                    "metadata says %" PRIu64 " payload bytes, the records hold %" PRIu64,
                    s->bytes, c->bytes[i]);
        uint64_t outside = 0;
        char cf[32];
        store_cf_name(cf, s->cf_no);
        /* keys below first are a trim the WAL holds and a reopen deletes: only then allowed;
         * a CF recycled from a segment whose trim only the WAL holds may still show the old
         * owner's records anywhere (the replayed range deletion removes them) */
        uint64_t lo = lg->wal_seq ? 0 : first;
        long ci = cf_index(si, s->cf_no);
        if (ci >= 0 && si->cfs[ci].emptied_by_wal)
            continue;
        if (store_inspect_cf_keys_outside(si, s->cf_no, lo, end, &outside, err) ==
                SEGLOG_OK &&
            outside > 0)
            problem(c, "records-outside", where,
                    "%s holds %" PRIu64 " records outside [%" PRIu64 ", %" PRIu64 ")", cf,
                    outside, first, end);
    }
out:
    free(c->found);
    free(c->missing);
    free(c->bytes);
    c->found = c->missing = c->bytes = NULL;
}

static void check_log(checker *c, const store_inspect_log *lg, seglog_error *err)
{
    char where[96];
    snprintf(where, sizeof where, "log %" PRIu64, lg->log.log_id);
    if (lg->log.version == 0)
        problem(c, "log-metadata", where, "segments but no log metadata (or chain version 0)");
    if (lg->n_segs == 0) {
        problem(c, "empty-chain", where, "the log has no segment");
        return;
    }
    check_chain(c, lg);
    check_records(c, lg, err);
}

long store_inspect_check(store_inspect *si, store_inspect_problem_fn fn, void *ctx,
                         void (*progress)(void *ctx, uint64_t records), seglog_error *err)
{
    checker c = {.si = si, .fn = fn, .ctx = ctx, .progress = progress};
    const store_inspect_info *in = &si->info;
    char where[WAL_FILE_NAME_MAX + 64];
    if (in->format_version != STORE_FORMAT_VERSION)
        problem(&c, "format-version", "meta F", "format version %u, this build reads %u",
                in->format_version, STORE_FORMAT_VERSION);
    for (uint32_t i = 0; i < in->n_notes && i < STORE_INSPECT_NOTES_MAX; i++)
        problem(&c, "metadata", "meta", "%s", in->notes[i]);
    if (in->n_notes > STORE_INSPECT_NOTES_MAX)
        problem(&c, "metadata", "meta", "%u more metadata problems not listed",
                in->n_notes - STORE_INSPECT_NOTES_MAX);
    if (in->wal_rc != SEGLOG_OK) {
        snprintf(where, sizeof where, "wal");
        const char *msg = in->wal_error;
        if (strncmp(msg, "wal: ", 5) == 0) /* the where says it already */
            msg += 5;
        problem(&c,
                strstr(msg, "are needed but the WAL starts") ? "wal-gap" : "wal-corrupt",
                where, "%s", msg);
    }
    if (in->wal_rc == SEGLOG_OK && in->checkpoint_seq > 0 && in->wal.last_seq > 0 &&
        in->wal.last_seq < in->checkpoint_seq)
        problem(&c, "wal-behind-checkpoint", "wal",
                "the WAL ends at sequence %" PRIu64 ", before the checkpoint %" PRIu64,
                in->wal.last_seq, in->checkpoint_seq);
    for (size_t i = 0; i < si->n_logs; i++)
        check_log(&c, &si->logs[i], err);
    for (size_t i = 0; i < si->n_cfs; i++) {
        if (si->cfs[i].role == STORE_INSPECT_CF_ORPHAN)
            problem(&c, "orphan-cf", si->cfs[i].name,
                    "not empty and referenced by no segment (a reopen drops it)");
        else if (si->cfs[i].role == STORE_INSPECT_CF_UNKNOWN)
            problem(&c, "unknown-cf", si->cfs[i].name, "a column family seglog does not make");
    }
    return c.problems;
}
