/*
 * test_util.h — fixtures shared by seglog's cmocka programs: a fresh temporary directory per test,
 * removed afterwards, and small file helpers. Header-only so that each test program stays one file.
 */
#ifndef SEGLOG_TEST_UTIL_H
#define SEGLOG_TEST_UTIL_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEST_PATH_MAX 512

/* Skipped cases must be visible: TEST_SKIP(why) says why and counts the case, and
 * TEST_EXIT(failed) turns a run that failed nothing but skipped something into exit 77, which
 * CTest shows as "skipped" (SKIP_RETURN_CODE) instead of "passed". Use them for every case that
 * cannot run here (a build without fault injection, a machine without a tool). */
static unsigned test_skipped_cases;

#define TEST_SKIP(why)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "SKIPPED %s: %s\n", __func__, (why));                                      \
        test_skipped_cases++;                                                                      \
        skip();                                                                                    \
    } while (0)

static inline int test_exit_code(int failed)
{
    if (failed != 0)
        return failed;
    if (test_skipped_cases > 0) {
        fprintf(stderr, "%u case(s) skipped: exit 77 (skipped), not 0 (passed)\n",
                test_skipped_cases);
        return 77;
    }
    return 0;
}
#define TEST_EXIT(failed) test_exit_code(failed)

static int test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory tree; ignores what is already gone. */
static inline void test_rmtree(const char *dir)
{
    nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a fresh directory under $SEGLOG_TEST_DIR, $TMPDIR or /var/tmp into out. */
static inline int test_mkdtemp(char out[TEST_PATH_MAX], const char *tag)
{
    const char *base = getenv("SEGLOG_TEST_DIR");
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/var/tmp";
    int n = snprintf(out, TEST_PATH_MAX, "%s/seglog-%s-XXXXXX", base, tag);
    if (n <= 0 || n >= TEST_PATH_MAX)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

/* snprintf into an array that must not truncate (checked with the test's own assertion). */
#define TEST_FMT(buf, ...)                                                                         \
    do {                                                                                           \
        int test_fmt_n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                               \
        assert_true(test_fmt_n_ > 0 && (size_t)test_fmt_n_ < sizeof(buf));                         \
    } while (0)

static inline int test_path(char out[TEST_PATH_MAX], const char *dir, const char *name)
{
    int n = snprintf(out, TEST_PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < TEST_PATH_MAX ? 0 : -1;
}

/* Copies every regular file of src into dst (which exists). */
static inline int test_copy_dir(const char *src, const char *dst)
{
    char cmd[3 * TEST_PATH_MAX];
    int n = snprintf(cmd, sizeof cmd, "cp -p '%s'/* '%s'/ 2>/dev/null", src, dst);
    if (n <= 0 || (size_t)n >= sizeof cmd)
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}

static inline int test_pwrite_file(const char *path, const void *buf, size_t len, off_t off)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = pwrite(fd, buf, len, off);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static inline int test_pread_file(const char *path, void *buf, size_t len, off_t off)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, buf, len, off);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static inline uint64_t test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* SEGLOG_TEST_UTIL_H */
