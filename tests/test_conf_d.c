/*
 * test_conf_d.c — conformance group D (CONFORMANCE.md): durability and recovery. Reopen keeps
 * records, seals, chains, versions, trim points and tails; a crash inside seal-and-extend (the
 * store's kill points, and the WAL's) leaves the old chain or the new one, never a sealed tail
 * without its successor; a torn last WAL record (every truncation, every bit flip) drops only that
 * record; damage followed by durable records is SEGLOG_ECORRUPT naming file and offset; an
 * injected write/fsync failure poisons the store and loses no acknowledged append.
 *
 * Crash cases fork a child that runs the workload and reports each acknowledgement through a pipe
 * after the call returned; the child dies at a kill point, or the parent kills it with SIGKILL.
 * The store keeps its WAL in DIR/wal; checkpoint_interval_ms is set high so that the WAL still
 * holds every record when the child dies.
 */
#include "test_util.h"

#include <dirent.h>

#include "test_conf_util.h"
#include "wal_internal.h"

#define LOG 7u
#define NO_CHECKPOINT_MS 3600000u
#define CHILD_MS 60000u /* bound on a child's life */

static void crash_options(seglog_options *o)
{
    conf_options(o);
    o->checkpoint_interval_ms = NO_CHECKPOINT_MS;
    o->wal_file_size_bytes = 4u << 20; /* the smallest the store takes is above 1 MiB */
}

/* ---- D01 ---------------------------------------------------------------------------------------- */

#define D01_SEGS_MAX 16u

typedef struct d01_snap {
    seglog_log_info info;
    seglog_segment_info segs[D01_SEGS_MAX];
} d01_snap;

static void d01_take(seglog *s, seglog_log_id log, d01_snap *out)
{
    seglog_log_info *info = CONF_DESCRIBE(s, log);
    assert_true(info->n_segments <= D01_SEGS_MAX);
    out->info = *info;
    memcpy(out->segs, info->segments, info->n_segments * sizeof *out->segs);
    out->info.segments = NULL;
    out->info.waiters = NULL;
    assert_int_equal(info->n_waiters, 0);
    seglog_log_info_free(info);
    /* find_tail agrees with the description */
    seglog_tail t = CONF_TAIL(s, log);
    assert_int_equal(t.lsn, out->info.tail.lsn);
    assert_int_equal(t.sealed, out->info.tail.sealed);
    assert_int_equal(t.version, out->info.tail.version);
    assert_int_equal(t.segment_id, out->info.tail.segment_id);
    assert_int_equal(t.version, out->info.version);
}

static void d01_compare(seglog_log_id log, const d01_snap *a, const d01_snap *b)
{
#define D01_SAME(field)                                                                            \
    do {                                                                                           \
        if ((uint64_t)(a->field) != (uint64_t)(b->field))                                          \
            fail_msg("log %" PRIu64 ": %s was %" PRIu64 ", after reopen %" PRIu64, log, #field,    \
                     (uint64_t)(a->field), (uint64_t)(b->field));                                  \
    } while (0)
    D01_SAME(info.id);
    D01_SAME(info.version);
    D01_SAME(info.trim_point);
    D01_SAME(info.tail.lsn);
    D01_SAME(info.tail.sealed);
    D01_SAME(info.tail.version);
    D01_SAME(info.tail.segment_id);
    D01_SAME(info.n_segments);
    for (size_t i = 0; i < a->info.n_segments; i++) {
        D01_SAME(segs[i].id);
        D01_SAME(segs[i].base);
        D01_SAME(segs[i].state);
        D01_SAME(segs[i].sealed_at);
        D01_SAME(segs[i].records);
        D01_SAME(segs[i].bytes);
        if (strcmp(a->segs[i].cf, b->segs[i].cf) != 0)
            fail_msg("log %" PRIu64 " segment %zu: column family %s, after reopen %s", log, i,
                     a->segs[i].cf, b->segs[i].cf);
    }
#undef D01_SAME
}

#define D01_LOGS 5u

/* The records each log must hold (after the trims). */
static void d01_check_records(seglog *s)
{
    /* log 1: 1..18, trimmed to 4 */
    CONF_EXPECT_GAP(s, 1, 1, 1, 4);
    CONF_EXPECT_RANGE(s, 1, "a", 5, 18);
    CONF_EXPECT_NOTHING_YET(s, 1, 19);
    /* log 2: 1..3 sealed */
    CONF_EXPECT_RANGE(s, 2, "b", 1, 3);
    /* log 3: empty */
    CONF_EXPECT_NOTHING_YET(s, 3, 1);
    /* log 4: first segment (1..5) trimmed away, 6..8 left */
    CONF_EXPECT_GAP(s, 4, 1, 1, 5);
    CONF_EXPECT_RANGE(s, 4, "d", 6, 8);
    /* log 5: all four trimmed */
    CONF_EXPECT_GAP(s, 5, 1, 1, 4);
    CONF_EXPECT_NOTHING_YET(s, 5, 5);
    seglog_reader *r = CONF_READER(s, 1, 1, SEGLOG_LSN_MAX);
    CONF_READER_GAP(r, 1, 4);
    CONF_READER_RANGE(r, "a", 5, 18);
    CONF_READER_NOTHING(r, 50);
    seglog_reader_close(r);
}

static void test_conf_d01_reopen(void **state)
{
    conf_fixture *f = *state;
    seglog_options o;
    conf_options(&o);
    seglog *s = CONF_OPEN(f->dir, &o);
    for (seglog_log_id l = 1; l <= D01_LOGS; l++)
        CONF_CREATE(s, l);
    /* log 1: three segments, one sealed then extended, a partial trim */
    CONF_APPEND_RANGE(s, 1, "a", 1, 10);
    CONF_SEAL_EXTEND(s, 1, 0);
    CONF_APPEND_RANGE(s, 1, "a", 11, 15);
    CONF_SEAL(s, 1);
    CONF_EXTEND(s, 1, 16);
    CONF_APPEND_RANGE(s, 1, "a", 16, 18);
    assert_int_equal(CONF_TRIM(s, 1, 4), 4);
    /* log 2: sealed without successor */
    CONF_APPEND_RANGE(s, 2, "b", 1, 3);
    CONF_SEAL(s, 2);
    /* log 3: empty; log 4: a whole segment trimmed; log 5: everything trimmed */
    CONF_APPEND_RANGE(s, 4, "d", 1, 5);
    CONF_SEAL_EXTEND(s, 4, 0);
    CONF_APPEND_RANGE(s, 4, "d", 6, 8);
    assert_int_equal(CONF_TRIM(s, 4, 5), 5);
    CONF_APPEND_RANGE(s, 5, "e", 1, 4);
    assert_int_equal(CONF_TRIM(s, 5, SEGLOG_LSN_MAX), 4);

    d01_snap before[D01_LOGS + 1];
    for (seglog_log_id l = 1; l <= D01_LOGS; l++)
        d01_take(s, l, &before[l]);
    assert_int_equal(before[1].info.version, 4);
    assert_int_equal(before[2].info.version, 2);
    assert_int_equal(before[2].info.tail.sealed, 1);
    assert_int_equal(before[3].info.version, 1);
    assert_int_equal(before[4].info.version, 3);
    d01_check_records(s);
    seglog_close(s);

    /* twice: a reopen, then a reopen after a reopen */
    for (int round = 0; round < 2; round++) {
        s = CONF_OPEN(f->dir, &o);
        seglog_log_id ids[8];
        size_t count = 0;
        seglog_error err = {0};
        assert_int_equal(seglog_log_list(s, ids, 8, &count, &err), SEGLOG_OK);
        assert_int_equal(count, D01_LOGS);
        for (seglog_log_id l = 1; l <= D01_LOGS; l++) {
            assert_int_equal(ids[l - 1], l);
            d01_snap after;
            d01_take(s, l, &after);
            d01_compare(l, &before[l], &after);
        }
        d01_check_records(s);
        seglog_stats st;
        assert_int_equal(seglog_stats_get(s, &st, &err), SEGLOG_OK);
        assert_int_equal(st.logs, D01_LOGS);
        assert_false(st.poisoned);
        seglog_close(s);
    }

    /* and the store goes on where it was: appends, a refused append on the sealed log, extend */
    s = CONF_OPEN(f->dir, &o);
    assert_int_equal(CONF_APPEND(s, 1, "a19"), 19);
    assert_int_equal(CONF_APPEND(s, 3, "c1"), 1);
    assert_int_equal(CONF_APPEND(s, 5, "e5"), 5);
    seglog_lsn lsn = 0;
    seglog_error err = {0};
    assert_int_equal(seglog_log_append(s, 2, "x", 1, NULL, &lsn, &err), SEGLOG_ESEALED);
    seglog_tail t = CONF_EXTEND(s, 2, 4);
    assert_int_equal(t.version, 3);
    assert_int_equal(CONF_APPEND(s, 2, "b4"), 4);
    seglog_close(s);
    s = CONF_OPEN(f->dir, &o);
    CONF_EXPECT_RECORD(s, 1, 19, "a19");
    CONF_EXPECT_RECORD(s, 2, 4, "b4");
    CONF_EXPECT_RECORD(s, 3, 1, "c1");
    CONF_EXPECT_RECORD(s, 5, 5, "e5");
    CONF_EXPECT_TAIL(s, 2, 5, 0);
    assert_int_equal(CONF_VERSION(s, 2), 3);
    seglog_close(s);
}

/* ---- D02 ---------------------------------------------------------------------------------------- */

#define D02_ROUNDS 40u
#define D02_PER_ROUND 2u

static void d02_payload(char *buf, size_t cap, uint64_t lsn, uint32_t bytes)
{
    int n = snprintf(buf, cap, "d02-%06" PRIu64 "-", lsn);
    for (size_t i = (size_t)n; i < bytes && i + 1 < cap; i++)
        buf[i] = (char)('a' + (lsn + i) % 26);
    buf[bytes < cap ? bytes : cap - 1] = '\0';
}

#define D02_PAYLOAD_MAX 65536u

/* Child role "d02": creates the log, then rounds of appends each followed by a seal-and-extend.
 * argv: store directory, record bytes, WAL file bytes (0: default). */
static void d02_child(int fd, int argc, char **argv)
{
    if (argc < 3)
        _exit(8);
    const char *dir = argv[0];
    uint32_t payload_bytes = (uint32_t)strtoul(argv[1], NULL, 10);
    uint64_t wal_file_bytes = strtoull(argv[2], NULL, 10);
    seglog *s = NULL;
    seglog_error err = {0};
    seglog_options o;
    crash_options(&o);
    if (wal_file_bytes)
        o.wal_file_size_bytes = wal_file_bytes;
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK)
        conf_child_fail(fd, __LINE__, rc, &err);
    rc = seglog_log_create(s, LOG, &err);
    if (rc != SEGLOG_OK)
        conf_child_fail(fd, __LINE__, rc, &err);
    conf_child_send(fd, CONF_MSG_STATE, 0, 1, 0, 0); /* the log exists */
    static char buf[D02_PAYLOAD_MAX];
    seglog_lsn next = 1;
    for (uint32_t r = 0; r < D02_ROUNDS; r++) {
        for (uint32_t i = 0; i < D02_PER_ROUND; i++) {
            d02_payload(buf, sizeof buf, next, payload_bytes);
            seglog_lsn lsn = 0;
            rc = seglog_log_append(s, LOG, buf, strlen(buf), NULL, &lsn, &err);
            if (rc != SEGLOG_OK)
                conf_child_fail(fd, __LINE__, rc, &err);
            if (lsn != next)
                conf_child_fail(fd, __LINE__, SEGLOG_ECONFLICT, NULL);
            conf_child_send(fd, CONF_MSG_ACK, 0, LOG, lsn, lsn);
            next++;
        }
        seglog_tail t = {0};
        rc = seglog_log_seal_and_extend(s, LOG, 0, &t, &err);
        if (rc != SEGLOG_OK)
            conf_child_fail(fd, __LINE__, rc, &err);
        conf_child_send(fd, CONF_MSG_SEALED, 0, LOG, t.version, t.segment_id);
    }
    seglog_close(s);
    conf_child_send(fd, CONF_MSG_DONE, 0, 0, 0, 0);
}

typedef enum d02_expect {
    D02_OLD_OR_NEW = 0, /* either (a WAL kill point: the record may or may not be durable) */
    D02_OLD = 1,        /* the seal-and-extend in progress is not there */
    D02_NEW = 2,        /* it is there */
} d02_expect;

/* After the child died (or finished): the chain is whole, its tail open, every acknowledged
 * append and seal-and-extend present, and the one in progress all there or not at all. */
static void d02_verify(const char *dir, const conf_child *c, d02_expect expect, uint32_t payload,
                       const char *what)
{
    bool log_acked = false;
    uint64_t acked_appends = 0, acked_seals = 0, last_version = 1;
    uint32_t last_kind = 0;
    for (size_t i = 0; i < c->n; i++) {
        const conf_msg *m = &c->msgs[i];
        if (m->kind == CONF_MSG_STATE)
            log_acked = true;
        if (m->kind == CONF_MSG_ACK) {
            acked_appends++;
            assert_int_equal(m->b, acked_appends);
        }
        if (m->kind == CONF_MSG_SEALED) {
            acked_seals++;
            assert_int_equal(m->b, acked_seals + 1);
            last_version = m->b;
        }
        if (m->kind == CONF_MSG_ACK || m->kind == CONF_MSG_SEALED)
            last_kind = m->kind;
    }
    bool done = c->n > 0 && c->msgs[c->n - 1].kind == CONF_MSG_DONE;
    seglog_options o;
    crash_options(&o);
    seglog *s = CONF_OPEN(dir, &o);
    seglog_tail t = {0};
    seglog_error err = {0};
    int rc = seglog_log_find_tail(s, LOG, &t, &err);
    if (rc == SEGLOG_ENOTFOUND && !log_acked) {
        /* killed before the creation was acknowledged: it may be absent */
        CONF_CLOSE(s);
        return;
    }
    if (rc != SEGLOG_OK)
        fail_msg("%s: find_tail after restart = %d: %s", what, rc, err.message);
    seglog_log_info *info = CONF_DESCRIBE(s, LOG);
    /* never a sealed tail without the successor the operation asked for */
    if (t.sealed)
        fail_msg("%s: after restart the tail is sealed at %" PRIu64 " (v%" PRIu64
                 ") without a successor",
                 what, t.lsn, t.version);
    /* a well-formed chain: every segment but the last sealed where the next begins */
    assert_true(info->n_segments >= 1);
    assert_int_equal(info->segments[0].base, 1);
    for (size_t i = 0; i + 1 < info->n_segments; i++) {
        assert_int_equal(info->segments[i].state, SEGLOG_SEGMENT_SEALED);
        assert_int_equal(info->segments[i].sealed_at, info->segments[i + 1].base);
    }
    assert_int_equal(info->segments[info->n_segments - 1].state, SEGLOG_SEGMENT_OPEN);
    assert_int_equal(info->segments[info->n_segments - 1].id, t.segment_id);
    assert_int_equal(info->n_segments, t.version); /* version 1 + one per seal-and-extend */
    /* the seal-and-extend in progress: there or not, as the kill point says */
    bool in_seal = !done && last_kind == CONF_MSG_ACK && acked_appends % D02_PER_ROUND == 0 &&
                   acked_appends > 0;
    if (t.version == last_version + 1) {
        if (expect == D02_OLD)
            fail_msg("%s: the seal-and-extend killed before the WAL is applied (v%" PRIu64 ")",
                     what, t.version);
        if (!in_seal && expect == D02_OLD_OR_NEW)
            fail_msg("%s: version %" PRIu64 " but no seal-and-extend was in progress", what,
                     t.version);
    } else if (t.version == last_version) {
        if (expect == D02_NEW)
            fail_msg("%s: a durable seal-and-extend was lost: version %" PRIu64 ", want %" PRIu64,
                     what, t.version, last_version + 1);
    } else {
        fail_msg("%s: version %" PRIu64 " after restart; last acknowledged %" PRIu64, what,
                 t.version, last_version);
    }
    /* every acknowledged append is there; at most the one in flight beyond */
    if (t.lsn != acked_appends + 1 && t.lsn != acked_appends + 2)
        fail_msg("%s: tail %" PRIu64 " after restart, %" PRIu64 " appends acknowledged", what,
                 t.lsn, acked_appends);
    if (expect != D02_OLD_OR_NEW)
        assert_int_equal(t.lsn, acked_appends + 1);
    static char buf[D02_PAYLOAD_MAX];
    for (seglog_lsn lsn = 1; lsn < t.lsn; lsn++) {
        d02_payload(buf, sizeof buf, lsn, payload);
        CONF_EXPECT_RECORD(s, LOG, lsn, buf);
    }
    seglog_log_info_free(info);
    /* and it goes on: an append, a seal-and-extend */
    assert_int_equal(CONF_APPEND(s, LOG, "after-restart"), t.lsn);
    seglog_tail t2 = CONF_SEAL_EXTEND(s, LOG, t.version);
    assert_int_equal(t2.version, t.version + 1);
    assert_int_equal(t2.lsn, t.lsn + 1);
    CONF_CLOSE(s);
    s = CONF_OPEN(dir, &o);
    CONF_EXPECT_RECORD(s, LOG, t.lsn, "after-restart");
    seglog_tail t3 = CONF_EXPECT_TAIL(s, LOG, t.lsn + 1, 0);
    assert_int_equal(t3.version, t.version + 1);
    CONF_CLOSE(s);
}

static bool d02_run(conf_fixture *f, const char *kill_point, uint32_t after, d02_expect expect,
                    bool must_die, uint32_t payload, uint64_t wal_file_bytes)
{
    char dir[TEST_PATH_MAX], pl[16], wb[24];
    TEST_FMT(dir, "%s/%s-%u", f->dir, kill_point, after);
    TEST_FMT(pl, "%u", payload);
    TEST_FMT(wb, "%" PRIu64, wal_file_bytes);
    const char *args[] = {dir, pl, wb};
    conf_child c;
    conf_child_start(&c, &f->child, kill_point, after, "d02", args, 3);
    conf_child_wait(&c, CHILD_MS);
    bool killed = conf_child_was_killed(&c);
    if (must_die && !killed)
        fail_msg("%s after %u: the child was not killed", kill_point, after);
    char what[128];
    TEST_FMT(what, "%s after %u (%s)", kill_point, after, killed ? "killed" : "finished");
    d02_verify(dir, &c, expect, payload, what);
    conf_child_free(&c);
    return killed;
}

static void test_conf_d02_crash_mid_seal(void **state)
{
    conf_fixture *f = *state;
    if (!wal_kill_points_compiled())
        TEST_SKIP("kill points not compiled in (-DSEGLOG_KILL_POINTS=ON)");
    /* built but not in the WAL: the old chain; durable but not applied: the new one */
    const uint32_t nth[] = {1, 3, 17};
    for (size_t i = 0; i < sizeof nth / sizeof nth[0]; i++) {
        d02_run(f, STORE_KILL_SEAL_BEFORE_WAL, nth[i], D02_OLD, true, 40, 0);
        d02_run(f, STORE_KILL_SEAL_DURABLE, nth[i], D02_NEW, true, 40, 0);
    }
}

/* The same workload killed at the WAL's own kill points and the store's apply/checkpoint points,
 * wherever they fall: the invariant holds at every one. */
static void test_conf_d02_crash_mid_seal_other_kill_points(void **state)
{
    conf_fixture *f = *state;
    if (!wal_kill_points_compiled())
        TEST_SKIP("kill points not compiled in (-DSEGLOG_KILL_POINTS=ON)");
    const uint32_t after[] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 16, 23, 31, 45, 64, 90};
    uint32_t runs = 0, killed = 0;
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        /* the workload makes 1 + 3 * D02_ROUNDS WAL records: every one of these is reached */
        killed += d02_run(f, WAL_KILL_AFTER_WRITE, after[i], D02_OLD_OR_NEW, true, 40, 0);
        killed += d02_run(f, WAL_KILL_AFTER_FSYNC, after[i], D02_OLD_OR_NEW, true, 40, 0);
        /* the apply thread writes whatever queued up as one RocksDB batch, so the workload makes
         * between 1 and 1 + 3 * D02_ROUNDS batches: only the first is sure to be reached */
        killed += d02_run(f, STORE_KILL_AFTER_BATCH, after[i], D02_OLD_OR_NEW, after[i] == 1, 40,
                          0);
        runs += 3;
    }
    /* rotation between WAL files, with records big enough to fill several 2 MiB files */
    for (uint32_t a = 1; a <= 3; a++) {
        killed += d02_run(f, WAL_KILL_IN_ROTATION, a, D02_OLD_OR_NEW, a == 1, 60000, 2u << 20);
        runs++;
    }
    print_message("D02: %u of %u runs killed at their kill point\n", killed, runs);
}

/* ---- WAL inspection (D03, D04) ------------------------------------------------------------------ */

#define D_RECORDS 20u

typedef struct wal_hit {
    uint64_t seq;    /* 0 until found */
    uint8_t type;
    uint64_t last_seq;
    uint64_t records;
    uint32_t found_mask; /* bit i: "<tag>-record-%02u" i found (i < 32) */
    const char *tag;
    uint32_t target; /* which record number to locate */
} wal_hit;

static int wal_hit_scan(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    wal_hit *h = ctx;
    h->records++;
    h->last_seq = seq;
    for (uint32_t i = 1; i <= D_RECORDS; i++) {
        char marker[48];
        snprintf(marker, sizeof marker, "%s-record-%02u.", h->tag, i);
        if (memmem(payload, len, marker, strlen(marker))) {
            h->found_mask |= 1u << i;
            if (i == h->target) {
                h->seq = seq;
                h->type = type;
            }
        }
    }
    return 0;
}

/* Where a frame lies. */
typedef struct frame_loc {
    char file[TEST_PATH_MAX];
    char name[WAL_FILE_NAME_MAX];
    uint64_t off;
    uint32_t len;      /* payload bytes */
    uint64_t tail_end; /* end of the last valid frame of the file at or after this one */
    uint32_t trailing_records; /* non-padding frames after this one in the file */
} frame_loc;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Finds the frame with sequence seq in wal_dir by walking the frames of each file. */
static bool find_frame(const char *wal_dir, uint64_t seq, frame_loc *out)
{
    DIR *d = opendir(wal_dir);
    assert_non_null(d);
    uint64_t nos[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t no;
        if (wal_file_name_parse(de->d_name, &no) && n < 256)
            nos[n++] = no;
    }
    closedir(d);
    qsort(nos, n, sizeof *nos, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        char name[WAL_FILE_NAME_MAX], path[TEST_PATH_MAX];
        wal_file_name(name, nos[i]);
        assert_int_equal(test_path(path, wal_dir, name), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        size_t size = (size_t)st.st_size;
        uint8_t *buf = malloc(size);
        assert_non_null(buf);
        assert_int_equal(test_pread_file(path, buf, size, 0), 0);
        wal_file_header h;
        if (size < WAL_FILE_HEADER_BYTES || wal_file_header_decode(buf, size, &h) != SEGLOG_OK) {
            free(buf);
            continue;
        }
        uint64_t off = WAL_FILE_HEADER_BYTES;
        while (off + WAL_FRAME_HEADER_BYTES <= size) {
            wal_frame fr;
            if (wal_frame_check(buf + off, size - off, (uint32_t)nos[i], h.record_max, &fr) !=
                WAL_FRAME_OK)
                break;
            if (fr.seq == seq && fr.type != WAL_TYPE_PAD) {
                memcpy(out->file, path, sizeof out->file);
                memcpy(out->name, name, sizeof out->name);
                out->off = off;
                out->len = fr.len;
                out->trailing_records = 0;
                /* what follows it in the file: the WAL's padding frames, which carry the
                 * durable sequence (proof that this record was acknowledged), or records */
                uint64_t next = off + wal_frame_size(fr.len);
                out->tail_end = next;
                while (next + WAL_FRAME_HEADER_BYTES <= size &&
                       wal_frame_check(buf + next, size - next, (uint32_t)nos[i], h.record_max,
                                       &fr) == WAL_FRAME_OK) {
                    if (fr.type != WAL_TYPE_PAD)
                        out->trailing_records++;
                    next += wal_frame_size(fr.len);
                    out->tail_end = next;
                }
                free(buf);
                return true;
            }
            off += wal_frame_size(fr.len);
        }
        free(buf);
    }
    return false;
}

/* Child role "append": D_RECORDS appends "<tag>-record-NN." (each acknowledged), then waits to
 * be killed. argv: store directory, tag. */
static void d_append_child(int fd, int argc, char **argv)
{
    if (argc < 2)
        _exit(8);
    const char *dir = argv[0], *tag = argv[1];
    seglog *s = NULL;
    seglog_error err = {0};
    seglog_options o;
    crash_options(&o);
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK)
        conf_child_fail(fd, __LINE__, rc, &err);
    rc = seglog_log_create(s, LOG, &err);
    if (rc != SEGLOG_OK)
        conf_child_fail(fd, __LINE__, rc, &err);
    for (uint32_t i = 1; i <= D_RECORDS; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s-record-%02u.", tag, i);
        seglog_lsn lsn = 0;
        rc = seglog_log_append(s, LOG, buf, strlen(buf), NULL, &lsn, &err);
        if (rc != SEGLOG_OK)
            conf_child_fail(fd, __LINE__, rc, &err);
        conf_child_send(fd, CONF_MSG_ACK, 0, LOG, lsn, lsn);
    }
    conf_child_send(fd, CONF_MSG_DONE, 0, 0, 0, 0);
    conf_child_linger();
}

/* Runs the child to the end of its appends and kills it: the WAL holds every record. */
static void d_crash_after_appends(conf_fixture *f, const char *dir, const char *tag)
{
    const char *args[] = {dir, tag};
    conf_child c;
    conf_child_start(&c, &f->child, NULL, 0, "append", args, 2);
    if (!conf_child_read(&c, CONF_MSG_DONE, CHILD_MS))
        fail_msg("the child did not finish its %u appends", D_RECORDS);
    conf_child_kill(&c);
    uint64_t acks = 0;
    for (size_t i = 0; i < c.n; i++)
        if (c.msgs[i].kind == CONF_MSG_ACK) {
            acks++;
            assert_int_equal(c.msgs[i].b, acks);
        }
    assert_int_equal(acks, D_RECORDS);
    conf_child_free(&c);
}

static void d_record(char *buf, size_t cap, const char *tag, uint32_t i)
{
    snprintf(buf, cap, "%s-record-%02u.", tag, i);
}

/* After damage: the store opens with records 1..keep and nothing after. */
static void d03_expect_kept(const char *dir, const char *tag, uint32_t keep, const char *what,
                            uint64_t at, bool append_after)
{
    seglog_options o;
    crash_options(&o);
    seglog *s = NULL;
    seglog_error err = {0};
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s at %" PRIu64 ": seglog_open = %d (%s): %s", what, at, rc,
                 seglog_strerror(rc), err.message);
    seglog_tail t = {0};
    rc = seglog_log_find_tail(s, LOG, &t, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s at %" PRIu64 ": find_tail = %d: %s", what, at, rc, err.message);
    if (t.lsn != keep + 1 || t.sealed)
        fail_msg("%s at %" PRIu64 ": tail %s at %" PRIu64 ", want open at %u", what, at,
                 t.sealed ? "sealed" : "open", t.lsn, keep + 1);
    for (uint32_t i = 1; i <= keep; i++) {
        char want[64];
        d_record(want, sizeof want, tag, i);
        CONF_EXPECT_RECORD(s, LOG, i, want);
    }
    CONF_EXPECT_NOTHING_YET(s, LOG, keep + 1);
    if (append_after) {
        assert_int_equal(CONF_APPEND(s, LOG, "after-repair"), keep + 1);
        CONF_CLOSE(s);
        s = CONF_OPEN(dir, &o);
        CONF_EXPECT_RECORD(s, LOG, keep + 1, "after-repair");
        CONF_EXPECT_TAIL(s, LOG, keep + 2, 0);
    }
    CONF_CLOSE(s);
}

/* ---- D03 ---------------------------------------------------------------------------------------- */

static void d03_restore(const char *pristine, const char *dir)
{
    conf_copy_tree(pristine, dir);
}

typedef enum d03_damage {
    D03_TRUNCATE = 0, /* the file cut short at every byte of the frame */
    D03_ZERO = 1,     /* the bytes from every offset on never written (zeros, preallocated file) */
    D03_BITFLIP = 2,  /* every bit of the bytes the CRC covers flipped, one at a time */
} d03_damage;

static void d03_run(conf_fixture *f, d03_damage kind)
{
    static const char *const names[] = {"truncate", "zero-from", "bit flip"};
    char dir[TEST_PATH_MAX], pristine[TEST_PATH_MAX], wal_dir[TEST_PATH_MAX];
    TEST_FMT(dir, "%s/store", f->dir);
    TEST_FMT(pristine, "%s/pristine", f->dir);
    TEST_FMT(wal_dir, "%s/wal", dir);
    d_crash_after_appends(f, dir, "d03");

    /* the last append's frame; it should be the WAL's last record */
    wal_hit h = {.tag = "d03", .target = D_RECORDS};
    wal_scan_report rep;
    seglog_error err = {0};
    assert_int_equal(wal_scan_dir(wal_dir, 1, wal_hit_scan, &h, &rep, &err), SEGLOG_OK);
    assert_true(h.seq != 0);
    bool precise = h.seq == h.last_seq;
    uint64_t victim = precise ? h.seq : h.last_seq;
    if (!precise)
        print_message("D03: the WAL's last record (seq %" PRIu64 ") is not the last append (seq %"
                      PRIu64 "): damaging it and expecting every append to survive\n",
                      h.last_seq, h.seq);
    frame_loc loc;
    assert_true(find_frame(wal_dir, victim, &loc));
    assert_int_equal(loc.trailing_records, 0);
    uint32_t keep = precise ? D_RECORDS - 1 : D_RECORDS;
    /* The WAL follows an acknowledged group with a padding frame that records it as durable;
     * damage before such a frame is corruption (D04), not a torn tail. A torn last write has
     * nothing after it: the padding frames after the victim are zeroed in every variant, as they
     * would never have been written. */
    uint64_t victim_end = loc.off + wal_frame_size(loc.len);
    uint64_t trailing = loc.tail_end - victim_end;
    uint8_t *trail_zeros = calloc(1, trailing + 1);
    assert_non_null(trail_zeros);
    if (trailing > 0)
        assert_int_equal(test_pwrite_file(loc.file, trail_zeros, trailing, (off_t)victim_end), 0);
    free(trail_zeros);
    /* damage is applied to dir, which is restored from this copy before each variant */
    conf_copy_tree(dir, pristine);

    uint64_t start = loc.off;
    uint64_t covered = WAL_FRAME_HEADER_BYTES + loc.len; /* the bytes the CRC covers */
    uint64_t end = start + wal_frame_size(loc.len);
    uint64_t t0 = conf_now_ms();
    uint64_t variants = 0;
    uint8_t zeros[4096] = {0};
    /* every offset and every bit by default; the sanitizer builds take every nth
     * (SEGLOG_D03_STRIDE, set by tests/conformance.cmake), the normal build covers all */
    uint32_t stride = conf_env_u32("SEGLOG_D03_STRIDE", 1);
    if (stride == 0)
        stride = 1;
    assert_true(end - start <= sizeof zeros);

    if (kind == D03_TRUNCATE) {
        for (uint64_t k = start; k < end; k += stride) {
            d03_restore(pristine, dir);
            assert_int_equal(truncate(loc.file, (off_t)k), 0);
            d03_expect_kept(dir, "d03", keep, names[kind], k, k == start + 1);
            variants++;
        }
    } else if (kind == D03_ZERO) {
        /* (the alignment padding after the payload is zero anyway and outside the checksum) */
        for (uint64_t k = start; k < start + covered; k += stride) {
            d03_restore(pristine, dir);
            assert_int_equal(test_pwrite_file(loc.file, zeros, end - k, (off_t)k), 0);
            d03_expect_kept(dir, "d03", keep, names[kind], k, k == start + 7);
            variants++;
        }
    } else {
        for (uint64_t v = 0; v < covered * 8; v++) {
            uint64_t i = v / 8;
            int bit = (int)(v % 8);
            if (v % stride != 0 && !(i == 40 && bit == 2))
                continue;
            {
                d03_restore(pristine, dir);
                uint8_t b;
                assert_int_equal(test_pread_file(loc.file, &b, 1, (off_t)(start + i)), 0);
                b = (uint8_t)(b ^ (1u << bit));
                assert_int_equal(test_pwrite_file(loc.file, &b, 1, (off_t)(start + i)), 0);
                d03_expect_kept(dir, "d03", keep, names[kind], i * 8 + (uint64_t)bit,
                                i == 40 && bit == 2);
                variants++;
            }
        }
    }
    print_message("D03 %s: %" PRIu64 " damaged copies of %s frame (seq %" PRIu64 ", %s offset %"
                  PRIu64 ", %u payload bytes, %" PRIu64 " bytes of padding frames after it "
                  "zeroed) reopened in %" PRIu64 " ms\n",
                  names[kind], variants, precise ? "the last append's" : "the WAL's last", victim,
                  loc.name, loc.off, loc.len, trailing, conf_now_ms() - t0);
    /* undamaged, everything is there */
    d03_restore(pristine, dir);
    d03_expect_kept(dir, "d03", D_RECORDS, "undamaged", 0, true);
}

static void test_conf_d03_torn_wal_tail_truncated(void **state)
{
    d03_run(*state, D03_TRUNCATE);
}

static void test_conf_d03_torn_wal_tail_zeroed(void **state)
{
    d03_run(*state, D03_ZERO);
}

static void test_conf_d03_torn_wal_tail_bit_flips(void **state)
{
    d03_run(*state, D03_BITFLIP);
}

/* ---- D04 ---------------------------------------------------------------------------------------- */

/* Reads all bytes of every file in wal_dir into one buffer (names and contents), for comparison. */
static uint8_t *d04_snapshot(const char *wal_dir, size_t *len)
{
    char cmd[TEST_PATH_MAX + 64];
    TEST_FMT(cmd, "cd '%s' && ls | sort | while read f; do echo \"$f\"; cat \"$f\"; done", wal_dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1u << 20, n = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, p)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    pclose(p);
    *len = n;
    return buf;
}

static void d04_expect_corrupt(const char *dir, const char *wal_dir, const frame_loc *loc,
                               const char *what)
{
    size_t n0, n1;
    uint8_t *before = d04_snapshot(wal_dir, &n0);
    for (int attempt = 0; attempt < 2; attempt++) {
        seglog_options o;
        crash_options(&o);
        seglog *s = (seglog *)&o; /* must be set to NULL on failure */
        seglog_error err = {0};
        int rc = seglog_open(&s, dir, &o, &err);
        if (rc != SEGLOG_ECORRUPT) {
            if (rc == SEGLOG_OK)
                seglog_close(s);
            fail_msg("%s: seglog_open = %d (%s), want SEGLOG_ECORRUPT: %s", what, rc,
                     seglog_strerror(rc), err.message);
        }
        assert_null(s);
        assert_int_equal(err.code, SEGLOG_ECORRUPT);
        char want[64];
        TEST_FMT(want, "offset %" PRIu64, loc->off);
        if (!strstr(err.message, "wal-") || !strstr(err.message, loc->name) ||
            !strstr(err.message, want))
            fail_msg("%s: the message does not name %s and %s: %s", what, loc->name, want,
                     err.message);
    }
    /* it opened nothing read-write: the WAL is byte for byte as it was */
    uint8_t *after = d04_snapshot(wal_dir, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
}

static void test_conf_d04_corruption_mid_wal(void **state)
{
    conf_fixture *f = *state;
    char dir[TEST_PATH_MAX], wal_dir[TEST_PATH_MAX];
    TEST_FMT(dir, "%s/store", f->dir);
    TEST_FMT(wal_dir, "%s/wal", dir);
    d_crash_after_appends(f, dir, "d04");

    const uint32_t victim_no = 10; /* records 11..20 follow it, all durable */
    wal_hit h = {.tag = "d04", .target = victim_no};
    wal_scan_report rep;
    seglog_error err = {0};
    assert_int_equal(wal_scan_dir(wal_dir, 1, wal_hit_scan, &h, &rep, &err), SEGLOG_OK);
    assert_true(h.seq != 0);
    assert_true(h.last_seq > h.seq);
    frame_loc loc;
    assert_true(find_frame(wal_dir, h.seq, &loc));

    /* three kinds of damage: a payload byte, a header byte, the header zeroed */
    const struct {
        uint64_t at;
        uint32_t len;
        const char *what;
    } damage[] = {
        {loc.off + WAL_FRAME_HEADER_BYTES + loc.len - 3, 1, "payload byte"},
        {loc.off + 9, 1, "header byte"},
        {loc.off, WAL_FRAME_HEADER_BYTES, "zeroed header"},
    };
    for (size_t d = 0; d < sizeof damage / sizeof damage[0]; d++) {
        uint8_t saved[64], bad[64];
        assert_int_equal(test_pread_file(loc.file, saved, damage[d].len, (off_t)damage[d].at), 0);
        for (uint32_t i = 0; i < damage[d].len; i++)
            bad[i] = damage[d].len == 1 ? (uint8_t)(saved[i] ^ 0x10) : 0;
        assert_int_equal(test_pwrite_file(loc.file, bad, damage[d].len, (off_t)damage[d].at), 0);

        d04_expect_corrupt(dir, wal_dir, &loc, damage[d].what);

        /* the offline reader still shows everything before the damage */
        wal_hit off = {.tag = "d04", .target = victim_no};
        memset(&err, 0, sizeof err);
        assert_int_equal(wal_scan_dir(wal_dir, 1, wal_hit_scan, &off, &rep, &err),
                         SEGLOG_ECORRUPT);
        for (uint32_t i = 1; i < victim_no; i++)
            if (!(off.found_mask & (1u << i)))
                fail_msg("%s: the offline scan lost record %u before the damage", damage[d].what,
                         i);
        assert_int_equal(off.seq, 0);
        assert_int_equal(off.last_seq, h.seq - 1);

        assert_int_equal(test_pwrite_file(loc.file, saved, damage[d].len, (off_t)damage[d].at),
                         0);
    }
    /* repaired, it opens with everything */
    d03_expect_kept(dir, "d04", D_RECORDS, "repaired", 0, true);
}

/* ---- D05 ---------------------------------------------------------------------------------------- */

typedef struct d05_case {
    wal_fault_op op;
    uint64_t nth;
    int result;
    bool persistent;
    uint32_t threads; /* 0: one appender, in this thread */
} d05_case;

typedef struct d05_thread {
    seglog *s;
    uint32_t id;
    seglog_lsn lsns[4096];
    uint32_t n;
    int rc;
    int os_errno;
    char msg[SEGLOG_ERROR_MESSAGE_MAX];
} d05_thread;

static void *d05_thread_main(void *arg)
{
    d05_thread *t = arg;
    for (uint32_t i = 0; i < 4096; i++) {
        char buf[48];
        snprintf(buf, sizeof buf, "d05-t%u-%u", t->id, i);
        seglog_error err = {0};
        seglog_lsn lsn = 0;
        int rc = seglog_log_append(t->s, LOG, buf, strlen(buf), NULL, &lsn, &err);
        if (rc != SEGLOG_OK) {
            t->rc = rc;
            t->os_errno = err.os_errno;
            memcpy(t->msg, err.message, sizeof t->msg);
            return NULL;
        }
        t->lsns[t->n++] = lsn;
    }
    return NULL;
}

static void d05_run(const char *base, size_t idx, const d05_case *fc)
{
    char dir[TEST_PATH_MAX];
    TEST_FMT(dir, "%s/case%zu", base, idx);
    seglog_options o;
    crash_options(&o);
    /* the log and a few records exist before the faulty session */
    seglog *s = CONF_OPEN(dir, &o);
    CONF_CREATE(s, LOG);
    CONF_APPEND_RANGE(s, LOG, "pre", 1, 3);
    seglog_close(s);

    wal_fault fault = {.op = fc->op, .nth = fc->nth, .result = fc->result,
                       .persistent = fc->persistent};
    seglog_error err = {0};
    s = NULL;
    int rc = seglog_open_with_faults(&s, dir, &o, &fault, 1, &err);
    if (rc != SEGLOG_OK)
        fail_msg("case %zu: seglog_open_with_faults = %d (%s): %s", idx, rc, seglog_strerror(rc),
                 err.message);
    seglog_stats st0;
    assert_int_equal(seglog_stats_get(s, &st0, &err), SEGLOG_OK);
    if (st0.poisoned)
        fail_msg("case %zu: the fault hit while opening (nth %" PRIu64 " too small)", idx, fc->nth);

    int expect_errno = fc->result == WAL_FAULT_SHORT ? EIO : -fc->result;
    /* acknowledged records: "d05-t<thread>-<i>" at lsn */
    uint32_t nthreads = fc->threads ? fc->threads : 1;
    d05_thread *th = calloc(nthreads, sizeof *th);
    assert_non_null(th);
    if (fc->threads == 0) {
        th[0].s = s;
        d05_thread_main(&th[0]);
    } else {
        pthread_t tid[16];
        assert_true(fc->threads <= 16);
        for (uint32_t i = 0; i < fc->threads; i++) {
            th[i].s = s;
            th[i].id = i;
            conf_thread_start(&tid[i], CONF_STACK_BYTES, d05_thread_main, &th[i]);
        }
        for (uint32_t i = 0; i < fc->threads; i++)
            pthread_join(tid[i], NULL);
    }
    /* the affected appends failed with the I/O error; any later one as poisoned */
    uint32_t eio = 0;
    uint64_t acked = 0;
    for (uint32_t i = 0; i < nthreads; i++) {
        acked += th[i].n;
        if (th[i].rc == SEGLOG_EIO) {
            eio++;
            assert_int_equal(th[i].os_errno, expect_errno);
        } else if (th[i].rc != SEGLOG_EPOISONED || fc->threads == 0) {
            fail_msg("case %zu thread %u: append failed with %d (%s), want SEGLOG_EIO%s: %s", idx,
                     i, th[i].rc, seglog_strerror(th[i].rc),
                     fc->threads ? " or SEGLOG_EPOISONED" : "", th[i].msg);
        }
    }
    assert_true(eio >= 1);
    assert_true(acked >= 1);

    seglog_stats st1, st2;
    assert_int_equal(seglog_stats_get(s, &st1, &err), SEGLOG_OK);
    assert_int_equal(st1.poisoned, 1);
    /* every write is refused now, with a clear error */
    for (int i = 0; i < 5; i++) {
        seglog_lsn lsn = 0;
        memset(&err, 0, sizeof err);
        rc = seglog_log_append(s, LOG, "refused", 7, NULL, &lsn, &err);
        assert_int_equal(rc, SEGLOG_EPOISONED);
        assert_int_equal(err.code, SEGLOG_EPOISONED);
        assert_true(err.message[0] != '\0');
    }
    seglog_buf recs[2] = {{"r1", 2}, {"r2", 2}};
    seglog_lsn first = 0;
    assert_int_equal(seglog_log_append_batch(s, LOG, recs, 2, NULL, &first, &err),
                     SEGLOG_EPOISONED);
    seglog_tail t = {0};
    assert_int_equal(seglog_log_seal_and_extend(s, LOG, 0, &t, &err), SEGLOG_EPOISONED);
    assert_int_equal(seglog_log_seal(s, LOG, &t, &err), SEGLOG_EPOISONED);
    assert_int_equal(seglog_log_create(s, LOG + 1, &err), SEGLOG_EPOISONED);
    seglog_lsn trimmed = 0;
    assert_int_equal(seglog_log_trim(s, LOG, 1, &trimmed, &err), SEGLOG_EPOISONED);
    conf_sleep_ms(50);
    /* fsync is never retried */
    assert_int_equal(seglog_stats_get(s, &st2, &err), SEGLOG_OK);
    assert_int_equal(st2.poisoned, 1);
    assert_int_equal(st2.wal_fsyncs, st1.wal_fsyncs);
    assert_int_equal(st2.appends, st1.appends);
    seglog_close(s);

    /* after a restart every acknowledged append is there */
    s = CONF_OPEN(dir, &o);
    CONF_EXPECT_RANGE(s, LOG, "pre", 1, 3);
    for (uint32_t i = 0; i < nthreads; i++)
        for (uint32_t j = 0; j < th[i].n; j++) {
            char want[48];
            TEST_FMT(want, "d05-t%u-%u", i, j);
            CONF_EXPECT_RECORD(s, LOG, th[i].lsns[j], want);
        }
    seglog_tail after = CONF_TAIL(s, LOG);
    assert_int_equal(after.sealed, 0);
    assert_true(after.lsn >= 3 + acked + 1);
    assert_true(after.lsn <= 3 + acked + 1 + (fc->threads ? fc->threads : 1)); /* unacked, durable */
    seglog_stats st3;
    assert_int_equal(seglog_stats_get(s, &st3, &err), SEGLOG_OK);
    assert_int_equal(st3.poisoned, 0);
    assert_int_equal(CONF_APPEND(s, LOG, "after-restart"), after.lsn);
    seglog_close(s);
    print_message("D05 case %zu (%s nth %" PRIu64 " %d%s, %u thread%s): %" PRIu64
                  " appends acknowledged, %u failed with EIO, %" PRIu64 " on disk\n",
                  idx, fc->op == WAL_FAULT_FSYNC ? "fsync" : "write", fc->nth, fc->result,
                  fc->persistent ? " persistent" : "", nthreads, nthreads == 1 ? "" : "s", acked,
                  eio, after.lsn - 4);
    free(th);
}

static void test_conf_d05_fsync_failure(void **state)
{
    conf_fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    const d05_case cases[] = {
        {WAL_FAULT_FSYNC, 5, -EIO, false, 0},
        {WAL_FAULT_FSYNC, 12, -EIO, true, 0},
        {WAL_FAULT_FSYNC, 4, -ENOSPC, false, 0},
        {WAL_FAULT_WRITE, 5, -EIO, false, 0},
        {WAL_FAULT_WRITE, 6, -ENOSPC, true, 0},
        {WAL_FAULT_WRITE, 5, WAL_FAULT_SHORT, true, 0},
        {WAL_FAULT_FSYNC, 30, -EIO, false, 8},
        {WAL_FAULT_WRITE, 30, -EIO, false, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        d05_run(f->dir, i, &cases[i]);
}

int main(int argc, char **argv)
{
    const conf_child_role roles[] = {{"d02", d02_child}, {"append", d_append_child}};
    conf_child_dispatch(argc, argv, roles, sizeof roles / sizeof roles[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conf_d01_reopen, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d02_crash_mid_seal, conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d02_crash_mid_seal_other_kill_points, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d03_torn_wal_tail_truncated, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d03_torn_wal_tail_zeroed, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d03_torn_wal_tail_bit_flips, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d04_corruption_mid_wal, conf_setup,
                                        conf_teardown),
        cmocka_unit_test_setup_teardown(test_conf_d05_fsync_failure, conf_setup, conf_teardown),
    };
    conf_apply_filter();
    return TEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
