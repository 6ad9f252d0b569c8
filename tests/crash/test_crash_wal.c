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
 *
 * The power group cuts power under a bare WAL on a loop-mounted ext4, in two windows where the
 * WAL's recovery once lost an acknowledged record or refused to open (see its section below).
 */
#include "../test_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <sys/ioctl.h>
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

/* ---- power cuts on a loop-mounted ext4 (group `power`, CTest crash_wal_power) ----------------
 *
 * Windows where the WAL once left, after a power cut, a state that its own recovery got wrong.
 * Each test runs the WAL in a forked child on an ext4 image mounted with commit=60 (so that only
 * the WAL's own syncs make anything durable), cuts power with EXT4_IOC_SHUTDOWN + NOLOGFLUSH
 * (what was not synced, data or directory entry, is lost), remounts and checks that every
 * acknowledged record is there and the WAL opens. The child reports each acknowledgement through
 * a pipe before it goes on, so the parent counts only acknowledgements that preceded the cut.
 * Needs root, a free loop device, mkfs.ext4 and the ioctl; else main exits 77. */

#ifndef EXT4_IOC_SHUTDOWN
#define EXT4_IOC_SHUTDOWN _IOR('X', 125, __u32)
#endif
#define EXT4_GOING_FLAGS_NOLOGFLUSH 0x2
#define POWER_IMAGE_MIB 64
#define POWER_UMOUNT_TRIES 100   /* 100 ms apart: io_uring may hold the mount after SIGKILL */
#define POWER_WAIT_TRIES 1000    /* 10 ms apart: the preparer's background work, at most 10 s */
#define POWER_ACKS_MAX 100000u
#define POWER_ACK_DONE UINT64_MAX /* the child's last message: it has done its part */
#define MARKER_ROUNDS 8u

typedef struct power_env {
    char root[TEST_PATH_MAX]; /* scratch directory with the image and the mount point */
    char img[TEST_PATH_MAX];
    char mnt[TEST_PATH_MAX];
    bool mounted;
} power_env;

/* 0 cut; 77 the file system has no shutdown ioctl; -1 another failure. */
static int power_cut(const char *mnt)
{
    int fd = open(mnt, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    __u32 flags = EXT4_GOING_FLAGS_NOLOGFLUSH;
    int rc = ioctl(fd, EXT4_IOC_SHUTDOWN, &flags) == 0 ? 0
             : errno == ENOTTY || errno == EOPNOTSUPP  ? 77
                                                       : -1;
    close(fd);
    return rc;
}

static int power_mount(power_env *e)
{
    if (sh("mount -o loop,commit=60 '%s' '%s' 2>/dev/null", e->img, e->mnt) != 0)
        return -1;
    e->mounted = true;
    return 0;
}

static int power_umount(power_env *e)
{
    for (int i = 0; i < POWER_UMOUNT_TRIES; i++) {
        if (sh("umount '%s' 2>/dev/null", e->mnt) == 0) {
            e->mounted = false;
            return 0;
        }
        usleep(100000);
    }
    return -1;
}

static void power_release(power_env *e)
{
    if (e->mounted)
        power_umount(e);
    if (e->root[0])
        test_rmtree(e->root);
}

/* Makes and mounts the image and tries the ioctl once: 0 ready, 77 the machine cannot (not root,
 * no loop device, no shutdown ioctl), 1 a failure. */
static int power_prepare(power_env *e)
{
    memset(e, 0, sizeof *e);
    if (geteuid() != 0) {
        fprintf(stderr, "test_crash_wal power: not root (loop mounts need it): skipped\n");
        return 77;
    }
    if (sh("command -v mkfs.ext4 >/dev/null && losetup -f >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_crash_wal power: no mkfs.ext4 or no free loop device: skipped\n");
        return 77;
    }
    if (test_mkdtemp(e->root, "crashwal-power") != 0 || test_path(e->img, e->root, "img") != 0 ||
        test_path(e->mnt, e->root, "mnt") != 0 || mkdir(e->mnt, 0755) != 0)
        return 1;
    if (sh("truncate -s %dM '%s' && mkfs.ext4 -q -F '%s' >/dev/null 2>&1", POWER_IMAGE_MIB, e->img,
           e->img) != 0) {
        fprintf(stderr, "test_crash_wal power: mkfs.ext4 of %s failed\n", e->img);
        return 1;
    }
    if (power_mount(e) != 0) {
        int free_loop = sh("losetup -f >/dev/null 2>&1");
        fprintf(stderr, "test_crash_wal power: mount -o loop of %s failed%s\n", e->img,
                free_loop != 0 ? " (no free loop device): skipped" : "");
        return free_loop != 0 ? 77 : 1;
    }
    int rc = power_cut(e->mnt);
    if (rc != 0) {
        fprintf(stderr, "test_crash_wal power: EXT4_IOC_SHUTDOWN %s%s\n",
                rc == 77 ? "not supported here: skipped" : "failed: ", rc == 77 ? "" : e->mnt);
        return rc == 77 ? 77 : 1;
    }
    if (power_umount(e) != 0 || power_mount(e) != 0) {
        fprintf(stderr, "test_crash_wal power: remount after the trial cut failed\n");
        return 1;
    }
    return 0;
}

/* Record seq's payload in the power tests: len bytes derived from seq. */
static void power_payload(uint64_t seq, uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 29 + i * 13 + 5);
}

static void send_u64(int fd, uint64_t v)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(9);
}

/* What the child said before the cut. */
typedef struct power_acks {
    uint64_t last;  /* highest acknowledged sequence */
    uint64_t ckpt;  /* the checkpoint it gave the WAL (0: none) */
    bool done;      /* it finished its part alive */
} power_acks;

/* Reads the child's messages: acknowledged sequences in order, then (optionally) a checkpoint as
 * POWER_ACK_DONE - 1 followed by its value, and POWER_ACK_DONE; stops at DONE or end of file. */
static void power_read_acks(int fd, power_acks *a)
{
    memset(a, 0, sizeof *a);
    uint64_t v;
    for (uint32_t n = 0; n < 2 * POWER_ACKS_MAX && read(fd, &v, sizeof v) == (ssize_t)sizeof v;
         n++) {
        if (v == POWER_ACK_DONE) {
            a->done = true;
            return;
        }
        if (v == POWER_ACK_DONE - 1) {
            assert_int_equal(read(fd, &a->ckpt, sizeof a->ckpt), (ssize_t)sizeof a->ckpt);
            continue;
        }
        assert_int_equal(v, a->last + 1);
        a->last = v;
    }
}

static uint64_t power_append(wal *w, uint32_t len, int ack_fd)
{
    static uint8_t buf[16u << 10];
    uint64_t seq = 0;
    wal_stats st;
    wal_stats_get(w, &st);
    power_payload(st.next_seq, buf, len);
    seglog_error err = {0};
    if (wal_append_sync(w, WAL_TYPE_USER_MIN, buf, len, &seq, &err) != SEGLOG_OK ||
        seq != st.next_seq) {
        fprintf(stderr, "power child: append failed: %s\n", err.message);
        _exit(3);
    }
    send_u64(ack_fd, seq);
    return seq;
}

/* Cuts power, then ends the child (which may be dead already) and remounts. */
static void power_cut_and_remount(power_env *e, pid_t pid, bool expect_killed)
{
    assert_int_equal(power_cut(e->mnt), 0);
    if (!expect_killed)
        kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child was not killed (status %#x)", (unsigned)status);
    assert_int_equal(power_umount(e), 0);
    assert_int_equal(power_mount(e), 0);
}

typedef struct power_check {
    uint64_t next; /* the sequence the next replayed record must have */
    uint64_t bad;  /* records out of order or with other bytes */
} power_check;

static int power_replay(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    power_check *c = ctx;
    static uint8_t want[16u << 10];
    if (seq != c->next || type != WAL_TYPE_USER_MIN || len > sizeof want) {
        c->bad++;
    } else {
        power_payload(seq, want, len);
        if (memcmp(want, payload, len) != 0)
            c->bad++;
    }
    c->next = seq + 1;
    return 0;
}

/* After the cut: the WAL opens, replays from `from` on at least every acknowledged record intact,
 * and takes a new record right after what it found. */
static void power_verify(const char *dir, const wal_options *o, uint64_t from, uint64_t acked)
{
    power_check c = {.next = from};
    wal_scan_report rep;
    seglog_error err = {0};
    wal *w = NULL;
    int rc = wal_open(&w, dir, o, from, power_replay, &c, &rep, &err);
    if (rc != SEGLOG_OK)
        fail_msg("open after the cut = %d: %s", rc, err.message);
    if (c.next <= acked)
        fail_msg("acknowledged records lost: %llu..%llu acknowledged, found up to %llu (%s)",
                 (unsigned long long)from, (unsigned long long)acked,
                 (unsigned long long)c.next - 1, rep.end_reason);
    assert_int_equal(c.bad, 0);
    uint64_t seq = 0;
    assert_int_equal(wal_append_sync(w, WAL_TYPE_USER_MIN, "x", 1, &seq, &err), SEGLOG_OK);
    assert_int_equal(seq, c.next);
    wal_close(w);
}

static void marker_options(wal_options *o)
{
    wal_options_init(o);
    o->file_size_bytes = 1u << 20;
    o->group_max_bytes = 64u << 10;
    o->record_max_bytes = 16u << 10;
    o->sync_mode = WAL_SYNC_RWF_DSYNC;
}

static void power_dir(const power_env *e, const char *name, char out[TEST_PATH_MAX])
{
    assert_int_equal(test_path(out, e->mnt, name), 0);
    assert_int_equal(mkdir(out, 0755), 0);
}

/* (a) With RWF_DSYNC, each group's write syncs only its own range. The idle marker after a group
 * that ends 32 bytes before a page end fills that page; the next group starts the next page. The
 * cut loses the marker (its page was never synced) and keeps the next group, which was
 * acknowledged: recovery must not cut that group off as a torn tail. */
static void marker_child(const char *dir, int ack_fd)
{
    wal_options o;
    marker_options(&o);
    wal *w = NULL;
    seglog_error err = {0};
    if (wal_open(&w, dir, &o, 1, NULL, NULL, NULL, &err) != SEGLOG_OK)
        _exit(2);
    /* Each round fills two pages, each group followed by its marker (the WAL goes idle after
     * every synchronous append): A and its marker fill the first page; B, its marker, C and its
     * marker the second. A's and C's markers end a page; B and the next round's A start one. */
    const uint32_t a_len = WAL_BLOCK_BYTES - 2 * WAL_FRAME_HEADER_BYTES;
    const uint32_t b_len = 100;
    const uint32_t c_len = (uint32_t)(WAL_BLOCK_BYTES - wal_frame_size(b_len) -
                                      3 * WAL_FRAME_HEADER_BYTES);
    const uint32_t lens[] = {a_len, b_len, c_len};
    for (uint32_t r = 0; r < MARKER_ROUNDS; r++) {
        for (int g = 0; g < 3; g++) {
            wal_stats st;
            wal_stats_get(w, &st);
            power_append(w, lens[g], ack_fd);
            /* let the WAL find itself idle and its marker's write land */
            for (int i = 0; i < POWER_WAIT_TRIES; i++) {
                wal_stats now;
                wal_stats_get(w, &now);
                if (now.writes_submitted >= st.writes_submitted + 2)
                    break;
                usleep(10000);
            }
            usleep(10000);
        }
    }
    send_u64(ack_fd, POWER_ACK_DONE);
    pause();
    _exit(0);
}

static void test_power_marker_at_a_page_end(void **state)
{
    power_env *e = *state;
    char dir[TEST_PATH_MAX];
    power_dir(e, "marker", dir);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        marker_child(dir, fds[1]);
    }
    close(fds[1]);
    power_acks a;
    power_read_acks(fds[0], &a);
    close(fds[0]);
    assert_true(a.done);
    assert_int_equal(a.last, 3 * MARKER_ROUNDS);
    power_cut_and_remount(e, pid, false);
    wal_options o;
    marker_options(&o);
    power_verify(dir, &o, 1, a.last);
}

/* (b) Recycling the oldest file renames wal-<old>.log to wal-<new>.log.tmp, writes and syncs
 * <new>'s header, renames it to wal-<new>.log. The child dies (kill point wal-in-prepare, second
 * hit) with the header synced and the second rename not done; the cut then loses what of the
 * directory was not synced. No WAL file may be left holding another file's header (open refused
 * one holding records), and the WAL must open with every acknowledged record. */
static void recycle_options(wal_options *o)
{
    wal_options_init(o);
    o->file_size_bytes = WAL_FILE_SIZE_MIN_BYTES;
    o->group_max_bytes = 16u << 10;
    o->record_max_bytes = 4u << 10;
    o->spare_files = 1;
}

static void wait_stats(wal *w, bool (*ready)(const wal_stats *))
{
    for (int i = 0; i < POWER_WAIT_TRIES; i++) {
        wal_stats st;
        wal_stats_get(w, &st);
        if (ready(&st))
            return;
        usleep(10000);
    }
    fprintf(stderr, "power child: the preparer did not get there in time\n");
    _exit(5);
}

static bool third_file_ready(const wal_stats *st)
{
    return st->rotations >= 1 && st->files_created >= 3 && st->spare_files == 1;
}

static bool first_file_in_reserve(const wal_stats *st)
{
    return st->reserve_files == 1;
}

static void recycle_child(const char *dir, int ack_fd)
{
    wal_options o;
    recycle_options(&o);
    wal *w = NULL;
    seglog_error err = {0};
    if (wal_open(&w, dir, &o, 1, NULL, NULL, NULL, &err) != SEGLOG_OK)
        _exit(2);
    /* file 1 filled, file 2 being written, file 3 prepared */
    wal_stats st;
    do {
        power_append(w, 2000, ack_fd);
        wal_stats_get(w, &st);
    } while (st.rotations == 0);
    wait_stats(w, third_file_ready);
    /* file 1 now lies behind the checkpoint: it waits in the reserve to be recycled */
    wal_stats_get(w, &st);
    wal_checkpoint(w, st.durable_seq);
    send_u64(ack_fd, POWER_ACK_DONE - 1);
    send_u64(ack_fd, st.durable_seq);
    wait_stats(w, first_file_in_reserve);
    /* rotating into file 3 makes the preparer recycle file 1 as file 4: die there, header synced */
    setenv("SEGLOG_KILL_POINT", WAL_KILL_IN_PREPARE, 1);
    setenv("SEGLOG_KILL_AFTER", "2", 1);
    wal_kill_point_reset();
    for (uint32_t i = 0; i < POWER_ACKS_MAX; i++)
        power_append(w, 2000, ack_fd);
    _exit(4); /* the kill point did not fire */
}

static void test_power_recycle_before_the_renames_are_durable(void **state)
{
    power_env *e = *state;
    char dir[TEST_PATH_MAX];
    power_dir(e, "recycle", dir);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        recycle_child(dir, fds[1]);
    }
    close(fds[1]);
    power_acks a;
    power_read_acks(fds[0], &a); /* to end of file: the child is dead */
    close(fds[0]);
    assert_false(a.done);
    assert_true(a.ckpt > 0 && a.last > a.ckpt);
    power_cut_and_remount(e, pid, true);
    /* file 1 was recycled (so the kill point was where it should be), and no file holds a header
     * that is not its own */
    wal_file_info files[16];
    uint32_t n = 0;
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = wal_scan_dir_files(dir, a.ckpt + 1, NULL, NULL, &rep, files, 16, &n, &err);
    if (rc != SEGLOG_OK)
        fail_msg("scan after the cut = %d: %s", rc, err.message);
    assert_true(n >= 2 && n <= 16);
    for (uint32_t i = 0; i < n; i++) {
        if (files[i].header_rc != SEGLOG_OK)
            fail_msg("after the cut, wal file %llu holds another file's header or a damaged one",
                     (unsigned long long)files[i].file_no);
        assert_true(files[i].file_no != 1);
    }
    wal_options o;
    recycle_options(&o);
    power_verify(dir, &o, a.ckpt + 1, a.last);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2]);
    if (!wal_kill_points_compiled()) {
        fprintf(stderr, "test_crash_wal: needs -DSEGLOG_KILL_POINTS=ON: skipped\n");
        return 77;
    }
    /* Three groups, one CTest test each (crash_wal_torn, crash_wal_corrupt, crash_wal_power); no
     * argument runs the first two. power exits 77 when the machine cannot cut power. */
    const struct CMUnitTest torn[] = {
        cmocka_unit_test_setup_teardown(test_crash_torn_last_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_rotation_after_idle_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_recycled_file_tail_slack, setup, teardown),
    };
    const struct CMUnitTest corrupt[] = {
        cmocka_unit_test_setup_teardown(test_crash_corrupt_acknowledged_op, setup, teardown),
    };
    const char *group = argc == 2 ? argv[1] : "all";
    if (strcmp(group, "torn") != 0 && strcmp(group, "corrupt") != 0 && strcmp(group, "all") != 0 &&
        strcmp(group, "power") != 0) {
        fprintf(stderr, "usage: test_crash_wal [torn|corrupt|power|all]\n");
        return 2;
    }
    if (strcmp(group, "power") == 0) {
        power_env env;
        int rc = power_prepare(&env);
        if (rc == 0) {
            const struct CMUnitTest power[] = {
                cmocka_unit_test_prestate(test_power_marker_at_a_page_end, &env),
                cmocka_unit_test_prestate(test_power_recycle_before_the_renames_are_durable,
                                          &env),
            };
            rc = cmocka_run_group_tests_name("power cuts", power, NULL, NULL);
        }
        power_release(&env);
        return rc;
    }
    int failed = 0;
    if (strcmp(group, "corrupt") != 0)
        failed += cmocka_run_group_tests_name("torn WAL", torn, NULL, NULL);
    if (strcmp(group, "torn") != 0)
        failed += cmocka_run_group_tests_name("corrupt WAL", corrupt, NULL, NULL);
    return failed;
}
