/*
 * test_crash_faults.c — I/O errors under a whole store (label crash): EIO, ENOSPC and short
 * writes at the WAL's fault points, errors in RocksDB's files through libfiu, and a real ENOSPC on
 * a small tmpfs. What must hold each time (DESIGN.md invariants 1, 7, 8):
 *   - the affected append fails; from then on writes are refused with SEGLOG_EPOISONED and a
 *     message naming what failed; reads of acknowledged records keep working;
 *   - fsync is never retried after it failed (the WAL's fsync count stays put);
 *   - after a restart every acknowledged append is there, byte for byte, and appends work again.
 * A short write that a resubmission completes is not a failure: nothing may be lost or refused.
 *
 * The WAL's faults come from seglog_open_with_faults (the WAL's own fault hooks: io_uring I/O
 * never passes through libc). RocksDB's files are failed through libfiu's POSIX preload library:
 * the test re-executes itself with LD_PRELOAD, and the child arms the failure points with
 * fiu_enable found through dlsym (the preloaded libfiu is the one that counts). It records its
 * acknowledgements in a shared mapping (no write(2), which libfiu fails too), then dies by SIGKILL;
 * the parent reopens without faults and checks.
 *
 * Three groups, one CTest test each, so that a part the machine cannot run shows as skipped
 * rather than passed: `test_crash_faults wal` (crash_faults_wal; exit 77 without
 * -DSEGLOG_FAULT_INJECTION=ON), `rocksdb` (crash_faults_rocksdb; exit 77 without libfiu's preload
 * libraries), `enospc` (crash_faults_enospc; exit 77 when not root or no tmpfs can be mounted).
 */
#include "../test_util.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "seglog.h"
#include "seglog_internal.h"
#include "wal.h"

#define LOG_ID 3u
#define APPENDS_MAX 400u   /* per case */
#define REC_MAX 512u
#define FIU_POSIX "/usr/lib/fiu/fiu_posix_preload.so"
#define FIU_RUN "/usr/lib/fiu/fiu_run_preload.so"

typedef struct fixture {
    char dir[TEST_PATH_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "crashfault") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char mnt[TEST_PATH_MAX];
    if (test_path(mnt, f->dir, "tmpfs") == 0)
        umount2(mnt, MNT_DETACH); /* a failed ENOSPC case leaves its tmpfs mounted */
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static seglog_options store_options(void)
{
    seglog_options o;
    seglog_options_init(&o);
    o.wal_file_size_bytes = 2u << 20;
    o.cf_pool_target = 1;
    o.checkpoint_interval_ms = 200;
    return o;
}

static uint32_t rec_make(uint8_t *buf, uint32_t i, uint32_t salt)
{
    uint32_t len = 16 + (i * 37u + salt) % (REC_MAX - 16);
    uint64_t x = i * 2654435761u + salt;
    for (uint32_t k = 0; k < len; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        buf[k] = (uint8_t)(x >> 56);
    }
    memcpy(buf, &i, sizeof i);
    return len;
}

/* Reopens without faults: the first `acked` appends are there, intact; one more works. */
static void expect_acked_after_restart(const char *dir, uint32_t acked, uint32_t salt,
                                       const char *what)
{
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    int rc = seglog_open(&s, dir, &o, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s: reopen failed: %s", what, err.message);
    seglog_tail t;
    rc = seglog_log_find_tail(s, LOG_ID, &t, &err);
    if (acked == 0 && rc == SEGLOG_ENOTFOUND) {
        assert_int_equal(seglog_log_create(s, LOG_ID, &err), SEGLOG_OK);
        rc = seglog_log_find_tail(s, LOG_ID, &t, &err);
    }
    assert_int_equal(rc, SEGLOG_OK);
    if (t.lsn < acked + 1)
        fail_msg("%s: %u appends acknowledged, tail after restart is %llu", what, acked,
                 (unsigned long long)t.lsn);
    uint8_t want[REC_MAX];
    for (uint32_t i = 1; i <= acked; i++) {
        seglog_entry e;
        rc = seglog_log_read(s, LOG_ID, i, 0, &e, &err);
        if (rc != SEGLOG_OK)
            fail_msg("%s: acknowledged LSN %u lost: %s", what, i, err.message);
        uint32_t len = rec_make(want, i, salt);
        if (e.len != len || memcmp(e.payload, want, len) != 0)
            fail_msg("%s: acknowledged LSN %u differs", what, i);
        seglog_entry_fini(&e);
    }
    seglog_lsn lsn;
    assert_int_equal(seglog_log_append(s, LOG_ID, "again", 5, NULL, &lsn, &err), SEGLOG_OK);
    seglog_close(s);
}

/* ---- WAL fault points ------------------------------------------------------------------------- */

typedef struct fault_case {
    wal_fault_op op;
    int result;
    bool persistent;
    uint64_t nth;
} fault_case;

static void run_wal_fault(const char *root, const fault_case *fc, uint32_t case_no)
{
    char dir[TEST_PATH_MAX], what[160];
    TEST_FMT(dir, "%s/wal-fault-%u", root, case_no);
    TEST_FMT(what, "%s %d nth %llu%s", fc->op == WAL_FAULT_WRITE ? "write" : "fsync", fc->result,
             (unsigned long long)fc->nth, fc->persistent ? " persistent" : "");
    wal_fault fault = {.op = fc->op, .nth = fc->nth, .result = fc->result,
                       .persistent = fc->persistent};
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open_with_faults(&s, dir, &o, &fault, 1, &err), SEGLOG_OK);
    uint32_t acked = 0, salt = case_no;
    int first_fail = SEGLOG_OK;
    int rc = seglog_log_create(s, LOG_ID, &err);
    int rc_create = rc;
    if (rc != SEGLOG_OK)
        first_fail = rc;
    uint8_t buf[REC_MAX];
    for (uint32_t i = 1; first_fail == SEGLOG_OK && i <= 40; i++) {
        uint32_t len = rec_make(buf, i, salt);
        seglog_lsn lsn = 0;
        rc = seglog_log_append(s, LOG_ID, buf, len, NULL, &lsn, &err);
        if (rc != SEGLOG_OK) {
            first_fail = rc;
            break;
        }
        assert_int_equal(lsn, i);
        acked = i;
    }
    bool expect_failure = fc->result != WAL_FAULT_SHORT || fc->persistent;
    if (!expect_failure) {
        /* one short write is resubmitted: nothing fails */
        if (first_fail != SEGLOG_OK)
            fail_msg("%s: an append failed: %s", what, err.message);
    } else {
        if (first_fail == SEGLOG_OK)
            fail_msg("%s: no append failed", what);
        if (first_fail != SEGLOG_EIO && first_fail != SEGLOG_EPOISONED)
            fail_msg("%s: failed with %d (%s)", what, first_fail, err.message);
        /* read-only with a clear error; fsync never retried */
        seglog_stats st1, st2;
        assert_int_equal(seglog_stats_get(s, &st1, &err), SEGLOG_OK);
        assert_true(st1.poisoned);
        bool created = acked > 0 || first_fail != rc_create;
        for (int k = 0; k < 3; k++) {
            seglog_error e2 = {0};
            seglog_lsn lsn;
            rc = created ? seglog_log_append(s, LOG_ID, "x", 1, NULL, &lsn, &e2)
                         : seglog_log_create(s, LOG_ID, &e2);
            if (rc != SEGLOG_EPOISONED)
                fail_msg("%s: append after the failure gave %d", what, rc);
            if (!strstr(e2.message, fc->op == WAL_FAULT_WRITE ? "write" : "fdatasync"))
                fail_msg("%s: unclear error: %s", what, e2.message);
        }
        assert_int_equal(seglog_stats_get(s, &st2, &err), SEGLOG_OK);
        assert_int_equal(st2.wal_fsyncs, st1.wal_fsyncs);
        /* reads of acknowledged data keep working */
        for (uint32_t i = 1; i <= acked; i++) {
            seglog_entry e;
            assert_int_equal(seglog_log_read(s, LOG_ID, i, 1000, &e, &err), SEGLOG_OK);
            seglog_entry_fini(&e);
        }
    }
    seglog_close(s);
    expect_acked_after_restart(dir, acked, salt, what);
    test_rmtree(dir);
}

static void test_crash_wal_faults_every_point(void **state)
{
    fixture *f = *state;
    const wal_fault_op ops[] = {WAL_FAULT_WRITE, WAL_FAULT_FSYNC};
    const int results[] = {-EIO, -ENOSPC, WAL_FAULT_SHORT};
    const uint64_t nths[] = {1, 2, 5, 17};
    uint32_t case_no = 0;
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 3; b++)
            for (size_t c = 0; c < 4; c++)
                for (int p = 0; p < 2; p++) {
                    if (ops[a] == WAL_FAULT_FSYNC && results[b] == WAL_FAULT_SHORT)
                        continue; /* an fsync has no byte count */
                    fault_case fc = {.op = ops[a], .result = results[b], .persistent = p,
                                     .nth = nths[c]};
                    run_wal_fault(f->dir, &fc, ++case_no);
                }
    assert_int_equal(case_no, 40);
}

/* ---- RocksDB's files through libfiu ----------------------------------------------------------- */

typedef struct shared_acks {
    volatile uint32_t acked;      /* appends acknowledged */
    volatile uint32_t failed_rc;  /* the first failure's code (negated), 0 if none */
    volatile uint32_t after_rc;   /* the code of an append after it */
    char message[SEGLOG_ERROR_MESSAGE_MAX];
} shared_acks;

#define FIU_SALT 777u

static int fiu_child(const char *dir, const char *acks_path)
{
    int fd = open(acks_path, O_RDWR);
    if (fd < 0)
        return 10;
    shared_acks *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (sh == MAP_FAILED)
        return 11;
    typedef int (*fiu_enable_fn)(const char *, int, void *, unsigned int);
    fiu_enable_fn enable = (fiu_enable_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "fiu_enable");
    if (!enable)
        return 12;
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK || seglog_log_create(s, LOG_ID, &err))
        return 13;
    uint8_t buf[REC_MAX];
    uint32_t i = 1;
    for (; i <= 100; i++) {
        uint32_t len = rec_make(buf, i, FIU_SALT);
        seglog_lsn lsn;
        if (seglog_log_append(s, LOG_ID, buf, len, NULL, &lsn, &err) != SEGLOG_OK)
            return 14;
        sh->acked = i;
    }
    /* From now on every fsync and fdatasync through libc (RocksDB's flushes, the WAL preparer's
     * new files) fails with EIO: fsyncgate. (Failing write(2) as well makes RocksDB 7.8 abort on
     * an assertion of its own in WritableFileWriter, which tests RocksDB, not seglog.) */
    const char *points[] = {"posix/io/sync/fsync", "posix/io/sync/fdatasync"};
    for (size_t k = 0; k < sizeof points / sizeof points[0]; k++)
        if (enable(points[k], 1, (void *)(uintptr_t)EIO, 0) != 0)
            return 15;
    uint64_t deadline = test_now_ns() + 10ull * 1000000000u;
    for (; i <= 100000 && test_now_ns() < deadline; i++) {
        uint32_t len = rec_make(buf, i, FIU_SALT);
        seglog_lsn lsn;
        int rc = seglog_log_append(s, LOG_ID, buf, len, NULL, &lsn, &err);
        if (rc != SEGLOG_OK) {
            sh->failed_rc = (uint32_t)-rc;
            memcpy(sh->message, err.message, sizeof sh->message);
            rc = seglog_log_append(s, LOG_ID, buf, len, NULL, &lsn, &err);
            sh->after_rc = (uint32_t)-rc;
            break;
        }
        sh->acked = i;
        usleep(2000);
    }
    raise(SIGKILL);
    return 16;
}

static void test_crash_rocksdb_faults_libfiu(void **state)
{
    fixture *f = *state;
    char dir[TEST_PATH_MAX], acks[TEST_PATH_MAX];
    TEST_FMT(dir, "%s/fiu", f->dir);
    TEST_FMT(acks, "%s/fiu-acks", f->dir);
    int fd = open(acks, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, sizeof(shared_acks)), 0);
    shared_acks *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(sh != MAP_FAILED);
    close(fd);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("LD_PRELOAD", FIU_RUN " " FIU_POSIX, 1);
        execl("/proc/self/exe", "test_crash_faults", "--fiu-child", dir, acks, (char *)NULL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status))
        fail_msg("libfiu child exited with %d", WEXITSTATUS(status));
    assert_true(sh->acked >= 100);
    /* the store went read-only with a clear error, and stayed so */
    if (sh->failed_rc == 0)
        fail_msg("RocksDB failing for 10 s never made an append fail (%u acknowledged)",
                 sh->acked);
    assert_int_equal(-(int)sh->after_rc, SEGLOG_EPOISONED);
    fprintf(stderr, "libfiu: %u acknowledged; then %s: %s\n", sh->acked,
            seglog_strerror(-(int)sh->failed_rc), sh->message);
    /* the failure must be RocksDB's, passed on by the storage layer ("storage: write batch: IO
     * error: While fdatasync: .../db/000017.sst: ..." or a flush's), not some other error */
    if (!strstr(sh->message, "storage: ") || !strstr(sh->message, "IO error"))
        fail_msg("libfiu: the error does not come from RocksDB through storage/: %s", sh->message);
    expect_acked_after_restart(dir, sh->acked, FIU_SALT, "libfiu");
    munmap(sh, sizeof *sh);
}

/* ---- a real ENOSPC: a small tmpfs ------------------------------------------------------------- */

static void test_crash_real_enospc(void **state)
{
    fixture *f = *state;
    char mnt[TEST_PATH_MAX], dir[TEST_PATH_MAX], filler[TEST_PATH_MAX];
    TEST_FMT(mnt, "%s/tmpfs", f->dir);
    TEST_FMT(dir, "%s/store", mnt);
    TEST_FMT(filler, "%s/filler", mnt);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("seglog-enospc", mnt, "tmpfs", 0, "size=40m") != 0)
        fail_msg("mount tmpfs on %s: %s (a trial mount worked)", mnt, strerror(errno));
    seglog_options o = store_options();
    seglog *s = NULL;
    seglog_error err = {0};
    assert_int_equal(seglog_open(&s, dir, &o, &err), SEGLOG_OK);
    assert_int_equal(seglog_log_create(s, LOG_ID, &err), SEGLOG_OK);
    /* leave a few MiB: the WAL's next files and RocksDB's flushes run out */
    int fd = open(filler, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    static uint8_t chunk[1 << 20];
    memset(chunk, 0xEE, sizeof chunk);
    for (int k = 0; k < 40; k++) {
        char probe[TEST_PATH_MAX];
        TEST_FMT(probe, "df -k --output=avail '%s' | tail -1", mnt);
        FILE *p = popen(probe, "r");
        long avail = 0;
        if (p) {
            if (fscanf(p, "%ld", &avail) != 1)
                avail = 0;
            pclose(p);
        }
        if (avail < 6 * 1024)
            break;
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
            break;
    }
    close(fd);
    uint8_t buf[REC_MAX];
    uint32_t acked = 0;
    int first_fail = SEGLOG_OK;
    seglog_error fail_err = {0};
    for (uint32_t i = 1; i <= 200000; i++) {
        uint32_t len = rec_make(buf, i, 55);
        seglog_lsn lsn;
        int rc = seglog_log_append(s, LOG_ID, buf, len, NULL, &lsn, &fail_err);
        if (rc != SEGLOG_OK) {
            first_fail = rc;
            break;
        }
        acked = i;
    }
    if (first_fail == SEGLOG_OK)
        fail_msg("a full file system never failed an append (%u acknowledged)", acked);
    fprintf(stderr, "ENOSPC: %u acknowledged; then %s: %s\n", acked, seglog_strerror(first_fail),
            fail_err.message);
    assert_true(first_fail == SEGLOG_EIO || first_fail == SEGLOG_EPOISONED);
    assert_non_null(strstr(fail_err.message, "space"));
    seglog_lsn lsn;
    assert_int_equal(seglog_log_append(s, LOG_ID, "x", 1, NULL, &lsn, &err), SEGLOG_EPOISONED);
    seglog_close(s);
    assert_int_equal(unlink(filler), 0);
    expect_acked_after_restart(dir, acked, 55, "ENOSPC");
    test_rmtree(dir);
    assert_int_equal(umount(mnt), 0);
}

/* Why a real ENOSPC cannot be made here, or NULL: it needs root and a tmpfs mount (tried once). */
static const char *enospc_unavailable(char *why, size_t cap)
{
    if (geteuid() != 0)
        return "not root: no tmpfs mount";
    char probe[TEST_PATH_MAX];
    if (test_mkdtemp(probe, "enospc-probe") != 0)
        return "no temporary directory";
    const char *r = NULL;
    if (mount("seglog-enospc-probe", probe, "tmpfs", 0, "size=1m") != 0) {
        snprintf(why, cap, "mount tmpfs: %s", strerror(errno));
        r = why;
    } else {
        umount(probe);
    }
    test_rmtree(probe);
    return r;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--fiu-child") == 0)
        return fiu_child(argv[2], argv[3]);
    const char *group = argc == 2 ? argv[1] : "";
    const struct CMUnitTest wal_tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_wal_faults_every_point, setup, teardown),
    };
    const struct CMUnitTest rocksdb_tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_rocksdb_faults_libfiu, setup, teardown),
    };
    const struct CMUnitTest enospc_tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_real_enospc, setup, teardown),
    };
    if (strcmp(group, "wal") == 0) {
        if (!wal_faults_compiled()) {
            fprintf(stderr, "test_crash_faults wal: needs -DSEGLOG_FAULT_INJECTION=ON: skipped\n");
            return 77;
        }
        return cmocka_run_group_tests_name("WAL faults", wal_tests, NULL, NULL);
    }
    if (strcmp(group, "rocksdb") == 0) {
        if (access(FIU_POSIX, R_OK) != 0 || access(FIU_RUN, R_OK) != 0) {
            fprintf(stderr, "test_crash_faults rocksdb: libfiu's preload libraries (%s, %s; "
                            "package libfiu0) are missing: skipped\n", FIU_POSIX, FIU_RUN);
            return 77;
        }
        return cmocka_run_group_tests_name("RocksDB faults (libfiu)", rocksdb_tests, NULL, NULL);
    }
    if (strcmp(group, "enospc") == 0) {
        char why[160];
        const char *no = enospc_unavailable(why, sizeof why);
        if (no) {
            fprintf(stderr, "test_crash_faults enospc: %s: skipped\n", no);
            return 77;
        }
        return cmocka_run_group_tests_name("real ENOSPC", enospc_tests, NULL, NULL);
    }
    fprintf(stderr, "usage: test_crash_faults wal|rocksdb|enospc\n");
    return 2;
}
