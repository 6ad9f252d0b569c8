/*
 * test_crash_wal.c — torn and corrupt WAL under a whole store (label crash).
 *
 * test_wal.c damages bare WALs; this one damages the WAL of a store that was killed, and checks
 * what a user of seglog.h sees on the next seglog_open:
 *   - a torn last op (the file cut short at every byte of its frame, the frame zero-filled from
 *     every few bytes on, a bit flipped in every byte): the store opens, the log holds exactly the
 *     acknowledged records, byte for byte, and new appends follow without a gap;
 *   - damage to an acknowledged op (a later frame vouches that it was durable): seglog_open fails
 *     with SEGLOG_ECORRUPT naming the WAL file and the offset, changes nothing on disk (a second
 *     open fails the same way), and the read-only scan (what an offline dump tool uses) still
 *     hands over every op before the damage.
 * The store is written by a child (re-exec'ed through /proc/self/exe: RocksDB's threads do not
 * survive fork) that appends N records, then arms the kill point wal-after-write and appends one
 * more: it dies with that op written but never acknowledged (its fdatasync not seen to complete), as after a power cut in
 * the middle of a group. Needs a build with kill points (else exit 77).
 */
#include "../test_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "seglog.h"
#include "wal.h"
#include "wal_internal.h"

#define ACKED_RECORDS 40u
#define LOG_ID 7u
#define REC_MAX 64u

typedef struct fixture {
    char dir[TEST_PATH_MAX];      /* scratch root */
    char pristine[TEST_PATH_MAX]; /* the store as the child left it */
    char work[TEST_PATH_MAX];     /* a copy that each case damages */
} fixture;

static seglog_options store_options(void)
{
    seglog_options o;
    seglog_options_init(&o);
    o.wal_file_size_bytes = 2u << 20;
    o.checkpoint_interval_ms = 3600u * 1000u; /* nothing checkpointed: everything is in the WAL */
    o.cf_pool_target = 1;
    return o;
}

static uint32_t rec_make(uint8_t *buf, uint32_t i)
{
    int n = snprintf((char *)buf, REC_MAX, "record %u of the torn-WAL test", i);
    return (uint32_t)n;
}

static int child_main(const char *dir)
{
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK || seglog_log_create(s, LOG_ID, &err))
        return 2;
    uint8_t buf[REC_MAX];
    for (uint32_t i = 1; i <= ACKED_RECORDS + 1; i++) {
        if (i == ACKED_RECORDS + 1) {
            setenv("SEGLOG_KILL_POINT", WAL_KILL_AFTER_WRITE, 1);
            setenv("SEGLOG_KILL_AFTER", "1", 1);
            wal_kill_point_reset();
        }
        uint32_t len = rec_make(buf, i);
        seglog_lsn lsn;
        if (seglog_log_append(s, LOG_ID, buf, len, NULL, &lsn, &err) != SEGLOG_OK || lsn != i)
            return 3;
    }
    return 4; /* the kill point did not fire */
}

static void run_child(const char *dir)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_crash_wal", "--child", dir, (char *)NULL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fail_msg("child exited with %d instead of being killed", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static int sh(const char *fmt, ...)
{
    char cmd[4 * TEST_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd);
}

static int setup(void **state)
{
    if (!wal_kill_points_compiled())
        return -1;
    fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "crashwal") != 0)
        return -1;
    if (test_path(f->pristine, f->dir, "pristine") != 0 || test_path(f->work, f->dir, "work") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void restore(const fixture *f)
{
    assert_int_equal(sh("rm -rf '%s' && cp -a '%s' '%s'", f->work, f->pristine, f->work), 0);
}

/* Where the last frames are: the WAL file holding the end, and the offsets of two user frames. */
typedef struct wal_pos {
    char path[TEST_PATH_MAX];
    uint64_t last_seq;
    uint64_t last_off, last_covered; /* the last op: offset, bytes under its CRC */
    uint64_t mid_seq, mid_off;       /* an acknowledged op in the middle */
} wal_pos;

static void locate(const char *store_dir, wal_pos *p)
{
    char wdir[TEST_PATH_MAX];
    TEST_FMT(wdir, "%s/wal", store_dir);
    wal_scan_report rep;
    seglog_error err = {0};
    assert_int_equal(wal_scan_dir(wdir, 0, NULL, NULL, &rep, &err), SEGLOG_OK);
    TEST_FMT(p->path, "%s/%s", wdir, rep.end_file);
    uint64_t file_no = 0;
    assert_true(wal_file_name_parse(rep.end_file, &file_no));
    p->last_seq = rep.last_seq;
    int fd = open(p->path, O_RDONLY);
    struct stat st;
    assert_true(fd >= 0 && fstat(fd, &st) == 0);
    uint8_t *buf = malloc((size_t)st.st_size);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    p->last_off = p->mid_off = 0;
    p->mid_seq = rep.last_seq / 2;
    uint64_t off = WAL_FILE_HEADER_BYTES;
    wal_frame fr;
    while (off < (uint64_t)st.st_size &&
           wal_frame_check(buf + off, (uint64_t)st.st_size - off, (uint32_t)file_no, 1u << 30,
                           &fr) == WAL_FRAME_OK) {
        if (fr.type != WAL_TYPE_PAD && fr.seq == p->last_seq) {
            p->last_off = off;
            p->last_covered = WAL_FRAME_HEADER_BYTES + fr.len;
        }
        if (fr.type != WAL_TYPE_PAD && fr.seq == p->mid_seq)
            p->mid_off = off;
        off += wal_frame_size(fr.len);
    }
    free(buf);
    assert_true(p->last_off != 0 && p->mid_off != 0);
}

/* Opens the damaged copy: it must open, hold exactly the acknowledged records (plus, at most, the
 * unacknowledged one intact), and take new appends right after. */
static void expect_prefix(const fixture *f, const char *what, uint64_t at, bool append_after)
{
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    int rc = seglog_open(&s, f->work, &o, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s at %llu: open failed: %s", what, (unsigned long long)at, err.message);
    seglog_tail t;
    assert_int_equal(seglog_log_find_tail(s, LOG_ID, &t, &err), SEGLOG_OK);
    if (t.lsn != ACKED_RECORDS + 1 && t.lsn != ACKED_RECORDS + 2)
        fail_msg("%s at %llu: tail %llu, want %u (or %u)", what, (unsigned long long)at,
                 (unsigned long long)t.lsn, ACKED_RECORDS + 1, ACKED_RECORDS + 2);
    uint8_t want[REC_MAX];
    for (uint32_t i = 1; i < t.lsn; i++) {
        seglog_entry e;
        assert_int_equal(seglog_log_read(s, LOG_ID, i, 0, &e, &err), SEGLOG_OK);
        uint32_t len = rec_make(want, i);
        if (e.len != len || memcmp(e.payload, want, len) != 0)
            fail_msg("%s at %llu: record %u differs", what, (unsigned long long)at, i);
        seglog_entry_fini(&e);
    }
    if (append_after) {
        seglog_lsn lsn = 0;
        assert_int_equal(seglog_log_append(s, LOG_ID, "after", 5, NULL, &lsn, &err), SEGLOG_OK);
        assert_int_equal(lsn, t.lsn);
    }
    seglog_close(s);
}

static void test_crash_torn_last_op(void **state)
{
    fixture *f = *state;
    run_child(f->pristine);
    wal_pos p;
    locate(f->pristine, &p);
    restore(f);
    char path[TEST_PATH_MAX];
    TEST_FMT(path, "%s%s", f->work, p.path + strlen(f->pristine));
    /* the killed op is intact in the page cache: it may be kept (it was never acknowledged) */
    expect_prefix(f, "intact", 0, true);
    uint64_t start = p.last_off, end = p.last_off + p.last_covered;
    uint64_t cases = 0;
    for (uint64_t k = start; k < end; k++) {
        /* the file cut short at k */
        restore(f);
        assert_int_equal(truncate(path, (off_t)k), 0);
        expect_prefix(f, "truncate", k, k % 16 == 0);
        cases++;
        /* zeros from k on, as if the write stopped there */
        if ((k - start) % 3 == 0) {
            restore(f);
            static const uint8_t zeros[1 << 16];
            assert_true(end - k <= sizeof zeros);
            assert_int_equal(test_pwrite_file(path, zeros, end - k, (off_t)k), 0);
            expect_prefix(f, "zero-from", k, false);
            cases++;
        }
        /* one bit flipped in byte k (the bit rotates) */
        if ((k - start) % 2 == 0) {
            restore(f);
            uint8_t b;
            assert_int_equal(test_pread_file(path, &b, 1, (off_t)k), 0);
            b ^= (uint8_t)(1u << (k % 8));
            assert_int_equal(test_pwrite_file(path, &b, 1, (off_t)k), 0);
            expect_prefix(f, "bit flip", k, k % 8 == 0);
            cases++;
        }
    }
    assert_true(cases > p.last_covered);
    /* the cut is for good: after an open that cut it, a second open agrees */
    restore(f);
    assert_int_equal(truncate(path, (off_t)(start + 7)), 0);
    expect_prefix(f, "first open", start + 7, true);
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, f->work, &o, &err), SEGLOG_OK);
    seglog_tail t;
    assert_int_equal(seglog_log_find_tail(s, LOG_ID, &t, &err), SEGLOG_OK);
    assert_int_equal(t.lsn, ACKED_RECORDS + 2); /* the acknowledged ones and "after" */
    seglog_close(s);
}

static uint64_t file_hash(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    uint64_t h = 0xCBF29CE484222325ull;
    int c;
    while ((c = fgetc(fp)) != EOF)
        h = (h ^ (uint8_t)c) * 0x100000001B3ull;
    fclose(fp);
    return h;
}

static int count_replay(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    (void)type;
    (void)payload;
    (void)len;
    uint64_t *n = ctx;
    if (seq != *n + 1)
        return -1;
    *n = seq;
    return 0;
}

static void test_crash_corrupt_acknowledged_op(void **state)
{
    fixture *f = *state;
    run_child(f->pristine);
    wal_pos p;
    locate(f->pristine, &p);
    char path[TEST_PATH_MAX], wdir[TEST_PATH_MAX];
    TEST_FMT(path, "%s%s", f->work, p.path + strlen(f->pristine));
    TEST_FMT(wdir, "%s/wal", f->work);
    const char *base = strrchr(path, '/') + 1;
    /* a flipped bit in the header, in the payload, and in the CRC of an acknowledged op */
    const uint64_t where[] = {p.mid_off + 9, p.mid_off + WAL_FRAME_HEADER_BYTES + 5, p.mid_off};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        restore(f);
        uint8_t b;
        assert_int_equal(test_pread_file(path, &b, 1, (off_t)where[i]), 0);
        b ^= 0x10;
        assert_int_equal(test_pwrite_file(path, &b, 1, (off_t)where[i]), 0);
        uint64_t before = file_hash(path);
        for (int attempt = 0; attempt < 2; attempt++) {
            seglog_options o = store_options();
            seglog *s = (seglog *)1;
            seglog_error err = {0};
            int rc = seglog_open(&s, f->work, &o, &err);
            if (rc != SEGLOG_ECORRUPT)
                fail_msg("damage at %llu: open gave %d (%s), want SEGLOG_ECORRUPT",
                         (unsigned long long)where[i], rc, err.message);
            assert_null(s);
            assert_non_null(strstr(err.message, base));
            assert_non_null(strstr(err.message, "offset"));
            assert_int_equal(file_hash(path), before); /* nothing was "repaired" */
        }
        /* the read-only scan hands over everything before the damage */
        uint64_t n = 0;
        wal_scan_report rep;
        seglog_error err = {0};
        assert_int_equal(wal_scan_dir(wdir, 1, count_replay, &n, &rep, &err), SEGLOG_ECORRUPT);
        assert_int_equal(n, p.mid_seq - 1);
    }
}

/* Regression (found by the power-loss run: "write of a marker ... failed: Bad file descriptor"):
 * the WAL prepared its idle marker on the current file, then, in the same loop, rotated to the
 * next file for a group that had just arrived and closed the old descriptor before the marker was
 * submitted: the marker failed with EBADF (or, had the number been reused meanwhile, would have
 * landed in another file) and poisoned the store. One synchronous producer whose records nearly
 * fill a tiny file makes every append meet an idle marker and most of them a rotation. */
static void test_crash_rotation_after_idle_marker(void **state)
{
    fixture *f = *state;
    char wdir[TEST_PATH_MAX];
    TEST_FMT(wdir, "%s/wal", f->dir);
    assert_int_equal(mkdir(wdir, 0755), 0);
    wal_options o;
    wal_options_init(&o);
    o.file_size_bytes = WAL_FILE_SIZE_MIN_BYTES;
    o.group_max_bytes = 32u << 10;
    o.record_max_bytes = 24u << 10;
    o.spare_files = 2;
    wal *w = NULL;
    seglog_error err = {0};
    assert_int_equal(wal_open(&w, wdir, &o, 1, NULL, NULL, NULL, &err), SEGLOG_OK);
    static uint8_t rec[20u << 10];
    memset(rec, 0x5A, sizeof rec);
    for (uint32_t i = 0; i < 4000; i++) {
        uint64_t seq;
        int rc = wal_append_sync(w, WAL_TYPE_USER_MIN, rec, sizeof rec, &seq, &err);
        if (rc != SEGLOG_OK)
            fail_msg("append %u failed: %s", i, err.message);
        if (i % 100 == 99)
            wal_checkpoint(w, seq); /* let old files be recycled: the directory stays small */
    }
    wal_stats st;
    wal_stats_get(w, &st);
    assert_false(st.poisoned);
    assert_true(st.rotations >= 1000);
    wal_close(w);
}

/* Regression (found by the long kill run at wal-in-rotation: "the log ends at wal-...04.log
 * offset 2097144 but wal-...05.log offset 4096 holds records written after it"): a file that the
 * writer left because the next group did not fit ends with fewer bytes than a frame header; in a
 * recycled file those bytes are a previous use's, not zeros, and the scan took them for a
 * truncated frame, i.e. a torn tail, and then the next file's records for corruption: the store
 * could not be opened. Fewer bytes than a header can never hold a frame. Two crafted files: the
 * first full but for 8 bytes of old data, the second continuing the sequence. */
static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static int count_records(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    (void)seq;
    (void)type;
    (void)payload;
    (void)len;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void test_crash_recycled_file_tail_slack(void **state)
{
    fixture *f = *state;
    char wdir[TEST_PATH_MAX], path[TEST_PATH_MAX];
    TEST_FMT(wdir, "%s/wal", f->dir);
    assert_int_equal(mkdir(wdir, 0755), 0);
    const uint32_t file_size = WAL_FILE_SIZE_MIN_BYTES, big = 8744, small = 100;
    /* 7 frames of 8776 bytes fill 61432 of the 61440 data bytes: 8 are left */
    _Static_assert(WAL_FILE_SIZE_MIN_BYTES - WAL_FILE_HEADER_BYTES == 7u * (32u + 8744u) + 8u,
                   "the first file ends with 8 bytes of slack");
    static uint8_t file[WAL_FILE_SIZE_MIN_BYTES];
    static uint8_t payload[8744];
    memset(payload, 0x3C, sizeof payload);
    uint64_t seq = 1;
    for (uint64_t no = 1; no <= 2; no++) {
        memset(file, 0, sizeof file);
        wal_file_header h = {.format_version = WAL_FORMAT_VERSION, .file_no = no,
                             .file_size = file_size, .record_max = 16u << 10};
        wal_file_header_encode(file, &h);
        uint64_t off = WAL_FILE_HEADER_BYTES;
        for (int k = 0; k < (no == 1 ? 7 : 3); k++, seq++) {
            uint32_t len = no == 1 ? big : small;
            wal_frame fr = {.len = len, .seq = seq, .synced_seq = seq - 1,
                            .file_no = (uint32_t)no, .type = WAL_TYPE_USER_MIN};
            struct iovec iov = {.iov_base = payload, .iov_len = len};
            off += wal_frame_encode(file + off, &fr, &iov, 1);
        }
        if (no == 1) {
            assert_int_equal(off, file_size - 8);
            memset(file + off, 0xAB, 8); /* a previous use's bytes */
        }
        char name[WAL_FILE_NAME_MAX];
        wal_file_name(name, no);
        TEST_FMT(path, "%s/%s", wdir, name);
        write_file(path, file, file_size);
    }
    uint64_t n = 0;
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = wal_scan_dir(wdir, 1, count_records, &n, &rep, &err);
    if (rc != SEGLOG_OK)
        fail_msg("scan: %s", err.message);
    assert_int_equal(n, 10);
    assert_int_equal(rep.last_seq, 10);
    assert_int_equal(rep.end, WAL_END_CLEAN);
    /* and the WAL opens and appends after record 10 */
    wal_options o;
    wal_options_init(&o);
    o.file_size_bytes = file_size;
    o.group_max_bytes = 32u << 10;
    o.record_max_bytes = 16u << 10;
    wal *w = NULL;
    n = 0;
    assert_int_equal(wal_open(&w, wdir, &o, 1, count_records, &n, &rep, &err), SEGLOG_OK);
    assert_int_equal(n, 10);
    uint64_t s11 = 0;
    assert_int_equal(wal_append_sync(w, WAL_TYPE_USER_MIN, "next", 4, &s11, &err), SEGLOG_OK);
    assert_int_equal(s11, 11);
    wal_close(w);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    if (!wal_kill_points_compiled()) {
        fprintf(stderr, "test_crash_wal: needs -DSEGLOG_KILL_POINTS=ON: skipped\n");
        return 77;
    }
    /* Two groups, one CTest test each (crash_wal_torn, crash_wal_corrupt); no argument runs both. */
    const struct CMUnitTest torn[] = {
        cmocka_unit_test_setup_teardown(test_crash_torn_last_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_rotation_after_idle_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_recycled_file_tail_slack, setup, teardown),
    };
    const struct CMUnitTest corrupt[] = {
        cmocka_unit_test_setup_teardown(test_crash_corrupt_acknowledged_op, setup, teardown),
    };
    const char *group = argc == 2 ? argv[1] : "all";
    if (strcmp(group, "torn") != 0 && strcmp(group, "corrupt") != 0 && strcmp(group, "all") != 0) {
        fprintf(stderr, "usage: test_crash_wal [torn|corrupt|all]\n");
        return 2;
    }
    int failed = 0;
    if (strcmp(group, "corrupt") != 0)
        failed += cmocka_run_group_tests_name("torn WAL", torn, NULL, NULL);
    if (strcmp(group, "torn") != 0)
        failed += cmocka_run_group_tests_name("corrupt WAL", corrupt, NULL, NULL);
    return failed;
}
