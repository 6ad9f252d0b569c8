/*
 * test_dump.c — tools/seglog-dump on stores the tests build: every field of each subcommand, as
 * text and as JSON (parsed by python3's json module, and each field compared), a torn WAL tail,
 * damage in the middle of the WAL, an orphan column family, a log sealed without a successor,
 * state that lives only in the WAL after the checkpoint, the read-only guarantee (a digest of
 * every file of the store before and after) and a dump while another process appends.
 *
 * The tool runs as a separate process (its path comes from $SEGLOG_DUMP); children that build or
 * hold a store are fresh processes (this binary re-executed), because RocksDB's background
 * threads do not survive fork().
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <rocksdb/c.h>

#include "seglog.h"
#include "store.h"
#include "test_util.h"
#include "wal.h"
#include "wal_internal.h"

#define OUT_MAX (4u << 20) /* bytes of tool output a test reads */

typedef struct fixture {
    char dir[TEST_PATH_MAX];   /* the test's scratch directory */
    char store[TEST_PATH_MAX]; /* the store inside it */
    char out[TEST_PATH_MAX];   /* the tool's stdout */
    char err[TEST_PATH_MAX];   /* the tool's stderr */
    char *text;                /* the last run's stdout */
} fixture;

static const char *dump_path(void)
{
    const char *p = getenv("SEGLOG_DUMP");
    return p && *p ? p : "tools/seglog-dump";
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "dump") != 0)
        return -1;
    if (test_path(f->store, f->dir, "store") || test_path(f->out, f->dir, "out.txt") ||
        test_path(f->err, f->dir, "err.txt"))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_rmtree(f->dir);
    free(f->text);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = malloc(OUT_MAX + 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, OUT_MAX, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* Runs `seglog-dump ARGS` (ARGS formatted; the store's path is %s-substituted by the caller);
 * keeps stdout in f->text and returns the exit status. */
static int dump(fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int dump(fixture *f, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof args);
    TEST_FMT(cmd, "'%s' %s >'%s' 2>'%s'", dump_path(), args, f->out, f->err);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    free(f->text);
    f->text = NULL;
    char *errs = slurp(f->err);
    if (strstr(errs, "Sanitizer") || strstr(errs, "runtime error"))
        fail_msg("seglog-dump %s:\n%s", args, errs);
    free(errs);
    f->text = slurp(f->out);
    return WEXITSTATUS(st);
}

static void expect_text(const fixture *f, const char *needle)
{
    if (!strstr(f->text, needle))
        fail_msg("expected \"%s\" in the output:\n%s", needle, f->text);
}

static void expect_no_text(const fixture *f, const char *needle)
{
    if (strstr(f->text, needle))
        fail_msg("did not expect \"%s\" in the output:\n%s", needle, f->text);
}

static bool have_python(void)
{
    return system("python3 -c 'import json' >/dev/null 2>&1") == 0;
}

/* Parses the last output as one JSON document and evaluates a Python expression over it (d). */
static void expect_json(const fixture *f, const char *expr)
{
    char script[TEST_PATH_MAX], cmd[2 * TEST_PATH_MAX];
    TEST_FMT(script, "%s/check.py", f->dir);
    FILE *fp = fopen(script, "w");
    assert_non_null(fp);
    fprintf(fp, "import json, sys\nd = json.load(open(sys.argv[1]))\nok = bool(%s)\n"
                "sys.exit(0 if ok else 1)\n",
            expr);
    fclose(fp);
    TEST_FMT(cmd, "python3 '%s' '%s' 2>&1", script, f->out);
    if (system(cmd) != 0)
        fail_msg("JSON check failed: %s\non:\n%s", expr, f->text);
}

static int test_pwrite_file_create(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, buf, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* ---- building stores ------------------------------------------------------------------------- */

static seglog_options small_options(void)
{
    seglog_options o;
    seglog_options_init(&o);
    o.wal_file_size_bytes = 4u << 20;
    o.cf_pool_target = 2;
    o.checkpoint_interval_ms = 3600u * 1000u; /* checkpoints only at close */
    return o;
}

static void must(int rc, const seglog_error *err)
{
    if (rc != SEGLOG_OK)
        fail_msg("seglog call failed: %s", err->message);
}

static void append(seglog *s, seglog_log_id log, const char *text)
{
    seglog_error err = {0};
    must(seglog_log_append(s, log, text, strlen(text), NULL, NULL, &err), &err);
}

/* Log 7: LSN 1..3 in segment 1 (sealed at 4), 4..5 in segment 4, trimmed to 2. Log 8: one record,
 * sealed with no successor. Log 9: created, empty. Segment ids are store-wide, in creation
 * order. */
static void build_reference(seglog *s)
{
    seglog_error err = {0};
    must(seglog_log_create(s, 7, &err), &err);
    must(seglog_log_create(s, 8, &err), &err);
    must(seglog_log_create(s, 9, &err), &err);
    append(s, 7, "a");
    append(s, 7, "bb");
    append(s, 7, "ccc");
    seglog_tail t;
    must(seglog_log_seal_and_extend(s, 7, 0, &t, &err), &err);
    append(s, 7, "dddd");
    append(s, 7, "eeeee");
    must(seglog_log_trim(s, 7, 2, NULL, &err), &err);
    append(s, 8, "x\n\"y");
    must(seglog_log_seal(s, 8, NULL, &err), &err);
}

static void build_closed(const char *dir, void (*fn)(seglog *))
{
    seglog_options o = small_options();
    seglog *s = NULL;
    seglog_error err = {0};
    must(seglog_open(&s, dir, &o, &err), &err);
    fn(s);
    seglog_close(s);
}

/* Runs this binary as `--child MODE DIR`: it builds a store and is killed (nothing checkpointed,
 * so the state lives only in the WAL). */
static void build_killed(const char *dir, const char *mode)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_dump", "--child", mode, dir, (char *)NULL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("child %s did not die by SIGKILL (status %d)", mode, status);
}

static void wl_twenty(seglog *s)
{
    seglog_error err = {0};
    must(seglog_log_create(s, 3, &err), &err);
    char buf[32];
    for (int i = 1; i <= 20; i++) {
        snprintf(buf, sizeof buf, "record-%02d", i);
        append(s, 3, buf);
    }
}

/* Log 21: segments 1 (LSN 1..2), 2 (3..4) and 3 (5..6), trimmed to 4: two whole segments go. */
static void wl_trim_whole(seglog *s)
{
    seglog_error err = {0};
    must(seglog_log_create(s, 21, &err), &err);
    seglog_tail t;
    const char *words[] = {"r1", "r2", "r3", "r4", "r5", "r6"};
    for (int i = 0; i < 6; i++) {
        append(s, 21, words[i]);
        if (i == 1 || i == 3)
            must(seglog_log_seal_and_extend(s, 21, 0, &t, &err), &err);
    }
    must(seglog_log_trim(s, 21, 4, NULL, &err), &err);
}

static int child_main(const char *mode, const char *dir)
{
    seglog_options o = small_options();
    seglog *s = NULL;
    seglog_error err = {0};
    if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK) {
        fprintf(stderr, "child open: %s\n", err.message);
        return 2;
    }
    if (strcmp(mode, "reference") == 0)
        build_reference(s);
    else if (strcmp(mode, "twenty") == 0)
        wl_twenty(s);
    else if (strcmp(mode, "trim-whole") == 0)
        wl_trim_whole(s);
    else
        return 3;
    raise(SIGKILL);
    return 4;
}

/* `--live DIR FD`: opens the store, creates log 5, appends 100 records, writes one byte to FD,
 * then keeps appending until killed. */
static int live_main(const char *dir, int fd)
{
    seglog_options o = small_options();
    o.checkpoint_interval_ms = 200; /* checkpoints and WAL recycling happen during the dump */
    seglog *s = NULL;
    seglog_error err = {0};
    if (seglog_open(&s, dir, &o, &err) != SEGLOG_OK) {
        fprintf(stderr, "live open: %s\n", err.message);
        return 2;
    }
    if (seglog_log_create(s, 5, &err) != SEGLOG_OK)
        return 3;
    char buf[64];
    for (uint64_t i = 1;; i++) {
        snprintf(buf, sizeof buf, "live-%06llu", (unsigned long long)i);
        if (seglog_log_append(s, 5, buf, strlen(buf), NULL, NULL, &err) != SEGLOG_OK)
            return 4;
        if (i == 100 && write(fd, "r", 1) != 1)
            return 5;
        if (i % 500 == 0) {
            seglog_tail t;
            seglog_log_seal_and_extend(s, 5, 0, &t, &err);
        }
        struct timespec ts = {0, 200000}; /* 0.2 ms: a steady trickle, not a flood */
        nanosleep(&ts, NULL);
    }
}

/* ---- a digest of every file ------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Names, sizes, modes and contents of everything under dir, in name order. */
static uint64_t digest_tree(const char *dir, uint64_t h)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char p[TEST_PATH_MAX];
            TEST_FMT(p, "%s/%s", dir, name);
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            h = fnv(h, name, strlen(name) + 1);
            h = fnv(h, &st.st_mode, sizeof st.st_mode);
            h = fnv(h, &st.st_mtim, sizeof st.st_mtim);
            if (S_ISDIR(st.st_mode)) {
                h = digest_tree(p, h);
            } else if (S_ISREG(st.st_mode)) {
                h = fnv(h, &st.st_size, sizeof st.st_size);
                FILE *fp = fopen(p, "rb");
                assert_non_null(fp);
                char buf[1 << 16];
                size_t r;
                while ((r = fread(buf, 1, sizeof buf, fp)) > 0)
                    h = fnv(h, buf, r);
                fclose(fp);
            }
        }
        free(names[i]);
    }
    free(names);
    return h;
}

static void run_every_subcommand(fixture *f)
{
    dump(f, "summary '%s'", f->store);
    dump(f, "--json summary '%s'", f->store);
    dump(f, "logs '%s'", f->store);
    dump(f, "--json logs '%s'", f->store);
    dump(f, "wal '%s'", f->store);
    dump(f, "--json wal '%s'", f->store);
    dump(f, "check '%s'", f->store);
    dump(f, "--json check '%s'", f->store);
    dump(f, "records '%s' --log 7", f->store);
    dump(f, "records '%s' --log 7 --format raw", f->store);
}

/* ---- tests ----------------------------------------------------------------------------------- */

/* A store closed cleanly: every field of the text output. */
static void test_dump_text_fields(void **state)
{
    fixture *f = *state;
    build_closed(f->store, build_reference);

    assert_int_equal(dump(f, "summary '%s'", f->store), 0);
    expect_text(f, "format version   1\n");
    expect_text(f, "logs             3\n");
    expect_text(f, "segments         4 (2 open, 2 sealed, 0 trimmed)\n");
    expect_text(f, "(4 segment, 0 trimmed not yet emptied, ");
    expect_text(f, " 0 orphan, 1 meta, 1 default, 0 unknown)\n");
    expect_text(f, "wal              ");
    expect_text(f, "    wal-0000000000000001.log  4194304 bytes  seq 1..");
    expect_text(f, "wal end          clean at wal-0000000000000001.log offset ");
    expect_text(f, "0 WAL records after it overlaid");
    expect_text(f, "disk use         wal ");

    assert_int_equal(dump(f, "logs '%s'", f->store), 0);
    expect_text(f, "log 7: chain version 2, tail open at 6 (segment 4), trim point 2\n");
    expect_text(f, "  segment 1  base 1  sealed at 4  cf-");
    expect_text(f, "  1 records  LSN 3..3  6 bytes\n");
    expect_text(f, "  segment 4  base 4  open  cf-");
    expect_text(f, "  2 records  LSN 4..5  9 bytes\n");
    expect_text(f, "log 8: chain version 2, tail sealed at 2 (segment 2), trim point 0\n");
    expect_text(f, "  segment 2  base 1  sealed at 2  cf-");
    expect_text(f, "  sealed at LSN 2, no successor segment: appends will wait until the chain "
                   "is extended\n");
    expect_text(f, "log 9: chain version 1, tail open at 1 (segment 3), trim point 0\n");
    expect_text(f, "  segment 3  base 1  open  cf-");
    expect_text(f, "  0 records  0 bytes\n");
    expect_no_text(f, "[from WAL seq");

    assert_int_equal(dump(f, "logs '%s' --log 9", f->store), 0);
    expect_text(f, "log 9:");
    expect_no_text(f, "log 7:");
    assert_int_equal(dump(f, "logs '%s' --log 99", f->store), 2);

    assert_int_equal(dump(f, "records '%s' --log 7", f->store), 0);
    expect_no_text(f, "lsn 1 ");
    expect_no_text(f, "lsn 2 ");
    expect_text(f, "lsn 3  size 3  time 20");
    expect_text(f, "Z  checksum ok (rocksdb)  segment 1  \"ccc\"\n");
    expect_text(f, "lsn 4  size 4  ");
    expect_text(f, "segment 4  \"dddd\"\n");
    expect_text(f, "lsn 5  size 5  ");
    assert_int_equal(dump(f, "records '%s' --log 8", f->store), 0);
    expect_text(f, "lsn 1  size 4  ");
    expect_text(f, "  \"x\\n\\\"y\"\n"); /* escaped: "x\n\"y" */
    assert_int_equal(dump(f, "records '%s' --log 7 --from 4 --to 4 --format hex", f->store), 0);
    expect_text(f, "lsn 4  size 4  ");
    expect_text(f, "  64646464\n");
    expect_no_text(f, "lsn 5");
    expect_no_text(f, "lsn 3");
    assert_int_equal(dump(f, "records '%s' --log 7 --format raw", f->store), 0);
    assert_string_equal(f->text, "cccddddeeeee");
    assert_int_equal(dump(f, "records '%s'", f->store), 2); /* --log is required */

    assert_int_equal(dump(f, "wal '%s'", f->store), 0);
    expect_text(f, "seq 1  create-log  size ");
    expect_text(f, "crc ok  at wal-0000000000000001.log:4096  (before checkpoint)  log 7  "
                   "segment 1 base 1  version 1\n");
    expect_text(f, "  append  size ");
    expect_text(f, "  log 7  lsn 1..1 (1 records)  segment 1\n");
    expect_text(f, "  seal-extend  size ");
    expect_text(f, "log 7  segment 1 sealed at 4, new segment 4 base 4  version 2\n");
    expect_text(f, "  trim  size ");
    expect_text(f, "  log 7  trim point 2, 0 segments dropped  version 2\n");
    expect_text(f, "  seal  size ");
    expect_text(f, "  log 8  segment 2 sealed at 2  version 2\n");
    expect_text(f, "end: clean at wal-0000000000000001.log offset ");
    assert_int_equal(dump(f, "wal '%s' --from 5", f->store), 0);
    expect_no_text(f, "seq 4 ");
    expect_text(f, "seq 5 ");

    assert_int_equal(dump(f, "check '%s'", f->store), 0);
    expect_text(f, "note: log 8: sealed at LSN 2, no successor segment");
    expect_text(f, "check: ");
    expect_text(f, ": 0 problems (3 logs)\n");
    expect_no_text(f, "problem:");

    assert_int_equal(dump(f, "--help"), 0);
    expect_text(f, "usage: seglog-dump");
    const char *cmds[] = {"summary", "logs", "records", "wal", "check"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(dump(f, "%s --help", cmds[i]), 0);
        expect_text(f, "usage: seglog-dump [--json] ");
        expect_text(f, cmds[i]);
    }
    assert_int_equal(dump(f, "nonsense '%s'", f->store), 2);
    char missing[TEST_PATH_MAX];
    TEST_FMT(missing, "%s/no-such-store", f->dir);
    assert_int_equal(dump(f, "check '%s'", missing), 2);
    /* a RocksDB that cannot be opened: nothing can be read, which is not "problems found" */
    char bad[TEST_PATH_MAX], current[TEST_PATH_MAX];
    TEST_FMT(bad, "%s/bad", f->dir);
    TEST_FMT(current, "%s/bad/db", f->dir);
    assert_int_equal(mkdir(bad, 0755), 0);
    assert_int_equal(mkdir(current, 0755), 0);
    TEST_FMT(current, "%s/bad/db/CURRENT", f->dir);
    assert_int_equal(test_pwrite_file_create(current, "MANIFEST-999999\n", 16), 0);
    assert_int_equal(dump(f, "check '%s'", bad), 2);
    assert_int_equal(dump(f, "summary '%s'", bad), 2);
}

/* The same store as JSON: every subcommand's document parses, and its fields are checked. */
static void test_dump_json_fields(void **state)
{
    fixture *f = *state;
    if (!have_python())
        TEST_SKIP("no python3 to parse the JSON");
    build_closed(f->store, build_reference);

    assert_int_equal(dump(f, "--json summary '%s'", f->store), 0);
    expect_json(f, "d['format_version'] == 1 and d['logs'] == 3");
    expect_json(f, "d['segments'] == {'total': 4, 'open': 2, 'sealed': 2, 'trimmed': 0}");
    expect_json(f, "d['column_families']['segment'] == 4 and d['column_families']['orphan'] == 0"
                   " and d['column_families']['meta'] == 1 and d['orphan_cfs'] == []");
    expect_json(f, "len(d['cfs']) == d['column_families']['total'] and "
                   "sorted(c['segment'] for c in d['cfs'] if c['role'] == 'segment') == "
                   "[1, 2, 3, 4] and all(c['log'] is None for c in d['cfs'] "
                   "if c['role'] in ('pool', 'meta', 'default')) and "
                   "sum(c['sst_bytes'] for c in d['cfs']) > 0");
    expect_json(f, "d['column_families']['total'] == sum(v for k, v in "
                   "d['column_families'].items() if k != 'total')");
    expect_json(f, "d['checkpoint_seq'] == d['wal']['last_seq'] and "
                   "d['wal_ops_after_checkpoint'] == 0");
    expect_json(f, "d['wal']['end'] == 'clean' and d['wal']['first_seq'] == 1 and "
                   "d['wal']['files'][0]['name'] == 'wal-0000000000000001.log' and "
                   "d['wal']['files'][0]['first_seq'] == 1 and "
                   "d['wal']['files'][0]['last_seq'] == d['wal']['last_seq'] and "
                   "d['wal']['files'][0]['header_ok'] and "
                   "d['wal']['records'] == d['wal']['last_seq']");
    expect_json(f, "d['disk']['wal_bytes'] >= 4194304 and d['disk']['db_other_bytes'] > 0 and "
                   "d['disk']['total_bytes'] == d['disk']['wal_bytes'] + d['disk']['db_sst_bytes']"
                   " + d['disk']['db_other_bytes'] + d['disk']['other_bytes'] and "
                   "d['notes'] == []");

    assert_int_equal(dump(f, "--json logs '%s'", f->store), 0);
    expect_json(f, "[l['log'] for l in d['logs']] == [7, 8, 9]");
    expect_json(f, "d['logs'][0]['version'] == 2 and d['logs'][0]['trim_point'] == 2 and "
                   "d['logs'][0]['tail'] == {'lsn': 6, 'sealed': False, 'segment': 4} and "
                   "not d['logs'][0]['sealed_without_successor'] and "
                   "d['logs'][0]['from_wal_seq'] == 0 and d['logs'][0]['created_us'] > 0");
    expect_json(f, "[(s['id'], s['base'], s['state'], s['sealed_at'], s['records'], "
                   "s['first_lsn'], s['last_lsn'], s['next_lsn'], s['bytes'], s['cf_exists'], "
                   "s['from_wal_seq']) for s in d['logs'][0]['segments']] == "
                   "[(1, 1, 'sealed', 4, 1, 3, 3, 4, 6, True, 0), "
                   "(4, 4, 'open', None, 2, 4, 5, 6, 9, True, 0)]");
    expect_json(f, "all(s['cf'].startswith('cf-') and len(s['cf']) == 11 for l in d['logs'] "
                   "for s in l['segments'])");
    expect_json(f, "d['logs'][1]['sealed_without_successor'] and "
                   "d['logs'][1]['tail'] == {'lsn': 2, 'sealed': True, 'segment': 2}");
    expect_json(f, "d['logs'][2]['segments'][0]['records'] == 0 and "
                   "d['logs'][2]['segments'][0]['first_lsn'] is None");

    assert_int_equal(dump(f, "--json records '%s' --log 8", f->store), 0);
    expect_json(f, "d['log'] == 8 and d['count'] == 1 and d['missing'] == 0 and "
                   "d['error'] is None and d['wal_error'] is None");
    expect_json(f, "[(r['lsn'], r['size'], r['payload'], r['payload_hex'], r['checksum'], "
                   "r['source'], r['wal_seq'], r['segment']) for r in d['records']] == "
                   "[(1, 4, 'x\\n\"y', '780a2279', 'ok', 'rocksdb', 0, 2)]");
    expect_json(f, "d['records'][0]['time_us'] > 0 and d['records'][0]['time'].endswith('Z')");
    assert_int_equal(dump(f, "records '%s' --log 7 --format json --from 5", f->store), 0);
    expect_json(f, "[r['lsn'] for r in d['records']] == [5] and d['from'] == 5");

    assert_int_equal(dump(f, "--json wal '%s'", f->store), 0);
    expect_json(f, "d['count'] == len(d['records']) and d['end']['kind'] == 'clean' and "
                   "d['end']['file'] == 'wal-0000000000000001.log' and d['end']['offset'] > 4096");
    expect_json(f, "[r['type'] for r in d['records']] == ['create-log'] * 3 + ['append'] * 3 + "
                   "['seal-extend', 'append', 'append', 'trim', 'append', 'seal']");
    expect_json(f, "[r['seq'] for r in d['records']] == list(range(1, 13)) and "
                   "all(r['checksum'] == 'ok' and r['decodes'] and not r['after_checkpoint'] "
                   "for r in d['records'])");
    expect_json(f, "d['records'][6]['segment'] == 1 and d['records'][6]['sealed_at'] == 4 and "
                   "d['records'][6]['new_segment'] == 4 and d['records'][6]['base'] == 4 and "
                   "d['records'][6]['version'] == 2");
    expect_json(f, "d['records'][7]['first_lsn'] == 4 and d['records'][7]['last_lsn'] == 4 and "
                   "d['records'][7]['count'] == 1 and d['records'][9]['trim_point'] == 2");

    assert_int_equal(dump(f, "--json check '%s'", f->store), 0);
    expect_json(f, "d['ok'] and d['problems'] == [] and d['problem_count'] == 0 and "
                   "d['logs'] == 3 and len(d['notes']) == 1 and 'log 8' in d['notes'][0]");
}

/* Ops after the checkpoint live only in the WAL: the dump shows what a reopen shows. */
static void test_dump_shows_wal_state(void **state)
{
    fixture *f = *state;
    build_killed(f->store, "reference");
    assert_int_equal(dump(f, "logs '%s'", f->store), 0);
    expect_text(f, "log 7: chain version 2, tail open at 6 (segment 4), trim point 2  [from WAL "
                   "seq ");
    expect_text(f, "  segment 4  base 4  open  cf-");
    expect_text(f, "  2 records  LSN 4..5  9 bytes  [from WAL seq ");
    expect_text(f, "  sealed at LSN 2, no successor segment");
    assert_int_equal(dump(f, "records '%s' --log 7", f->store), 0);
    expect_text(f, "lsn 3  size 3  ");
    expect_text(f, "checksum ok (wal seq ");
    expect_text(f, "  \"eeeee\"\n");
    expect_no_text(f, "MISSING");
    assert_int_equal(dump(f, "summary '%s'", f->store), 0);
    expect_text(f, "checkpoint       WAL seq 0 ");
    expect_text(f, "12 WAL records after it overlaid");
    assert_int_equal(dump(f, "check '%s'", f->store), 0);
    assert_int_equal(dump(f, "records '%s' --log 7 --format raw", f->store), 0);
    char *before = strdup(f->text);

    /* what a reopen shows is what the dump showed */
    seglog_options o = small_options();
    seglog *s = NULL;
    seglog_error err = {0};
    must(seglog_open(&s, f->store, &o, &err), &err);
    seglog_reader *r = NULL;
    must(seglog_reader_open(&r, s, 7, SEGLOG_LSN_OLDEST, SEGLOG_LSN_MAX, &err), &err);
    char got[256] = "";
    seglog_entry e;
    while (seglog_reader_next(r, 50, &e, &err) == SEGLOG_OK)
        if (e.payload)
            strncat(got, (const char *)e.payload, e.len);
    seglog_reader_close(r);
    seglog_close(s);
    assert_string_equal(got, before);
    free(before);
    assert_int_equal(dump(f, "logs '%s'", f->store), 0); /* now checkpointed: from RocksDB */
    expect_no_text(f, "[from WAL seq");
    expect_text(f, "  2 records  LSN 4..5  9 bytes\n");
}

/* Writes a damaged frame header where the valid WAL ends: an unacknowledged, torn last group. */
static void make_torn_tail(const fixture *f)
{
    char wdir[TEST_PATH_MAX], path[TEST_PATH_MAX];
    TEST_FMT(wdir, "%s/wal", f->store);
    wal_scan_report rep;
    seglog_error err = {0};
    must(wal_scan_dir(wdir, 0, NULL, NULL, &rep, &err), &err);
    assert_int_equal(rep.end, WAL_END_CLEAN);
    TEST_FMT(path, "%s/%s", wdir, rep.end_file);
    uint64_t no = 0;
    assert_true(wal_file_name_parse(rep.end_file, &no));
    uint8_t hdr[WAL_FRAME_HEADER_BYTES] = {0};
    wal_put32(hdr, 0xdeadbeefu);       /* a CRC that does not match */
    wal_put32(hdr + 4, 64);            /* payload length */
    wal_put64(hdr + 8, rep.last_seq + 1);
    wal_put64(hdr + 16, rep.last_seq); /* nothing later was durable */
    wal_put32(hdr + 24, (uint32_t)no);
    hdr[28] = 17;
    assert_int_equal(test_pwrite_file(path, hdr, sizeof hdr, (off_t)rep.end_offset), 0);
}

static void test_dump_torn_tail(void **state)
{
    fixture *f = *state;
    build_killed(f->store, "twenty");
    make_torn_tail(f);
    assert_int_equal(dump(f, "wal '%s'", f->store), 0);
    expect_text(f, "seq 21  append  ");
    expect_text(f, "end: torn at wal-0000000000000001.log offset ");
    expect_text(f, "torn tail: a damaged frame at offset ");
    assert_int_equal(dump(f, "summary '%s'", f->store), 0);
    expect_text(f, "wal end          torn at wal-0000000000000001.log offset ");
    assert_int_equal(dump(f, "records '%s' --log 3 --from 20", f->store), 0);
    expect_text(f, "lsn 20  size 9  ");
    expect_text(f, "\"record-20\"");
    assert_int_equal(dump(f, "check '%s'", f->store), 0); /* a torn tail is no problem */
    expect_text(f, "note: wal: torn tail: a damaged frame at offset ");
    if (have_python()) {
        assert_int_equal(dump(f, "--json wal '%s'", f->store), 0);
        expect_json(f, "d['end']['kind'] == 'torn' and d['end']['torn_bytes'] > 0 and "
                       "d['count'] == 21");
    }
}

/* Offset of the frame with sequence seq in the first WAL file. */
static uint64_t frame_offset(const char *path, uint64_t seq)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uint8_t *buf = malloc((size_t)st.st_size);
    assert_non_null(buf);
    assert_int_equal(test_pread_file(path, buf, (size_t)st.st_size, 0), 0);
    uint64_t off = WAL_FILE_HEADER_BYTES, found = 0;
    while (off < (uint64_t)st.st_size) {
        wal_frame fr;
        if (wal_frame_check(buf + off, (uint64_t)st.st_size - off, 1, 1u << 20, &fr) !=
            WAL_FRAME_OK)
            break;
        if (fr.seq == seq) {
            found = off;
            break;
        }
        off += wal_frame_size(fr.len);
    }
    free(buf);
    assert_true(found > 0);
    return found;
}

static void test_dump_mid_wal_damage(void **state)
{
    fixture *f = *state;
    build_killed(f->store, "twenty"); /* seq 1 creates log 3, seq 2..21 append LSN 1..20 */
    char path[TEST_PATH_MAX];
    TEST_FMT(path, "%s/wal/wal-0000000000000001.log", f->store);
    uint64_t off = frame_offset(path, 11); /* LSN 10 */
    uint8_t b = 0;
    assert_int_equal(test_pread_file(path, &b, 1, (off_t)(off + WAL_FRAME_HEADER_BYTES + 8)), 0);
    b ^= 0x40;
    assert_int_equal(test_pwrite_file(path, &b, 1, (off_t)(off + WAL_FRAME_HEADER_BYTES + 8)), 0);
    char where[64];
    TEST_FMT(where, "offset %llu", (unsigned long long)off);

    assert_int_equal(dump(f, "check '%s'", f->store), 1);
    expect_text(f, "problem: wal-corrupt: wal: corruption at ");
    expect_text(f, "wal-0000000000000001.log");
    expect_text(f, where);
    expect_text(f, ": 1 problem (1 logs)\n");

    char at10[96];
    TEST_FMT(at10, "crc ok  at wal-0000000000000001.log:%llu  log 3  lsn 9..9 (1 records)",
             (unsigned long long)frame_offset(path, 10));
    assert_int_equal(dump(f, "wal '%s'", f->store), 1);
    expect_text(f, at10);
    expect_no_text(f, "seq 11 ");
    expect_text(f, "end: CORRUPTION after seq 10: wal: corruption at ");
    expect_text(f, where);

    /* everything before the damage is shown */
    assert_int_equal(dump(f, "logs '%s'", f->store), 0);
    expect_text(f, "log 3: chain version 1, tail open at 10 (segment 1)");
    expect_text(f, "  9 records  LSN 1..9  81 bytes  [from WAL seq 10]\n");
    assert_int_equal(dump(f, "records '%s' --log 3", f->store), 0);
    expect_text(f, "lsn 9  size 9  ");
    expect_text(f, "\"record-09\"");
    expect_no_text(f, "lsn 10 ");
    expect_text(f, "note: the WAL is damaged");
    assert_int_equal(dump(f, "summary '%s'", f->store), 0);
    expect_text(f, "wal end          CORRUPT: wal: corruption at ");
    if (have_python()) {
        assert_int_equal(dump(f, "--json check '%s'", f->store), 1);
        expect_json(f, "not d['ok'] and d['problem_count'] == 1 and "
                       "d['problems'][0]['kind'] == 'wal-corrupt' and "
                       "'wal-0000000000000001.log' in d['problems'][0]['message']");
        assert_int_equal(dump(f, "--json wal '%s'", f->store), 1);
        expect_json(f, "d['end']['kind'] == 'corrupt' and d['count'] == 10 and "
                       "d['end']['last_seq'] == 10 and len(d['records']) == 10");
        char off_expr[160];
        TEST_FMT(off_expr, "d['records'][9]['offset'] == %llu and d['records'][0]['offset'] == "
                           "4096 and d['records'][9]['file'] == 'wal-0000000000000001.log'",
                 (unsigned long long)frame_offset(path, 10));
        expect_json(f, off_expr);
        assert_int_equal(dump(f, "--json summary '%s'", f->store), 0);
        expect_json(f, "d['wal']['end'] == 'corrupt' and 'corruption' in d['wal']['reason']");
    }
}

/* The store's RocksDB opened read-write by the test, to damage it on purpose. */
typedef struct rdb {
    rocksdb_options_t *o;
    rocksdb_writeoptions_t *wo;
    rocksdb_flushoptions_t *fo;
    rocksdb_t *db;
    char **names;
    size_t ncf;
    rocksdb_column_family_handle_t **h;
} rdb;

static void rdb_open(rdb *r, const char *store_dir)
{
    char db[TEST_PATH_MAX];
    TEST_FMT(db, "%s/db", store_dir);
    memset(r, 0, sizeof *r);
    r->o = rocksdb_options_create();
    r->wo = rocksdb_writeoptions_create();
    r->fo = rocksdb_flushoptions_create();
    char *e = NULL;
    r->names = rocksdb_list_column_families(r->o, db, &r->ncf, &e);
    assert_null(e);
    const rocksdb_options_t **opts = calloc(r->ncf, sizeof *opts);
    r->h = calloc(r->ncf, sizeof *r->h);
    assert_non_null(opts);
    assert_non_null(r->h);
    for (size_t i = 0; i < r->ncf; i++)
        opts[i] = r->o;
    r->db = rocksdb_open_column_families(r->o, db, (int)r->ncf, (const char *const *)r->names,
                                         opts, r->h, &e);
    assert_null(e);
    free(opts);
}

static rocksdb_column_family_handle_t *rdb_cf(const rdb *r, const char *name)
{
    for (size_t i = 0; i < r->ncf; i++)
        if (strcmp(r->names[i], name) == 0)
            return r->h[i];
    fail_msg("no column family %s", name);
    return NULL;
}

static void rdb_close(rdb *r)
{
    for (size_t i = 0; i < r->ncf; i++) {
        char *e = NULL;
        rocksdb_flush_cf(r->db, r->fo, r->h[i], &e);
        assert_null(e);
        rocksdb_column_family_handle_destroy(r->h[i]);
    }
    rocksdb_close(r->db);
    rocksdb_list_column_families_destroy(r->names, r->ncf);
    rocksdb_flushoptions_destroy(r->fo);
    rocksdb_writeoptions_destroy(r->wo);
    rocksdb_options_destroy(r->o);
    free(r->h);
}

/* A column family no segment references, with data in it: a leak that check reports. */
static void test_dump_orphan_cf(void **state)
{
    fixture *f = *state;
    build_closed(f->store, build_reference);
    rdb r;
    rdb_open(&r, f->store);
    char *e = NULL;
    rocksdb_column_family_handle_t *orphan = rocksdb_create_column_family(r.db, r.o,
                                                                          "cf-00000900", &e);
    assert_null(e);
    rocksdb_put_cf(r.db, r.wo, orphan, "\0\0\0\0\0\0\0\1", 8, "\0\0\0\0\0\0\0\0zz", 10, &e);
    assert_null(e);
    rocksdb_flush_cf(r.db, r.fo, orphan, &e);
    assert_null(e);
    rocksdb_column_family_handle_destroy(orphan);
    rdb_close(&r);

    assert_int_equal(dump(f, "summary '%s'", f->store), 0);
    expect_text(f, " 1 orphan, ");
    expect_text(f, "    orphan column family cf-00000900\n");
    assert_int_equal(dump(f, "check '%s'", f->store), 1);
    expect_text(f, "problem: orphan-cf: cf-00000900: not empty and referenced by no segment");
    expect_text(f, ": 1 problem (3 logs)\n");
    if (have_python()) {
        assert_int_equal(dump(f, "--json summary '%s'", f->store), 0);
        expect_json(f, "d['orphan_cfs'] == ['cf-00000900'] and "
                       "d['column_families']['orphan'] == 1");
        assert_int_equal(dump(f, "--json check '%s'", f->store), 1);
        expect_json(f, "d['problems'] == [{'kind': 'orphan-cf', 'where': 'cf-00000900', "
                       "'message': 'not empty and referenced by no segment (a reopen drops it)'}]");
    }
}

/* Metadata and records that disagree: check names each problem and where it is. */
static void test_dump_check_finds_damage(void **state)
{
    fixture *f = *state;
    build_closed(f->store, build_reference);
    if (have_python()) { /* the column families of log 7's segments, from the tool itself */
        assert_int_equal(dump(f, "--json logs '%s' --log 7", f->store), 0);
        expect_json(f, "[s['id'] for s in d['logs'][0]['segments']] == [1, 4]");
    }
    rdb r;
    rdb_open(&r, f->store);
    rocksdb_column_family_handle_t *meta = rdb_cf(&r, "meta");
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    uint8_t k[17] = {'S'};
    k[8] = 7;  /* log 7, big-endian */
    k[16] = 4; /* segment 4 */
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get_cf(r.db, ro, meta, (const char *)k, sizeof k, &vlen, &e);
    assert_null(e);
    assert_non_null(v);
    store_seg seg;
    assert_int_equal(store_seg_decode((const uint8_t *)v, vlen, 7, 4, &seg), SEGLOG_OK);
    rocksdb_free(v);
    /* segment 4 starts one LSN late: a gap in the chain, its LSN 4 now lies outside it */
    seg.base = 5;
    uint8_t nv[STORE_SEG_VALUE_BYTES];
    store_seg_encode(&seg, nv);
    rocksdb_put_cf(r.db, r.wo, meta, (const char *)k, sizeof k, (const char *)nv, sizeof nv, &e);
    assert_null(e);
    /* a segment value that does not decode */
    k[16] = 99;
    rocksdb_put_cf(r.db, r.wo, meta, (const char *)k, sizeof k, "abc", 3, &e);
    assert_null(e);
    /* the one record left in sealed segment 1 (LSN 3) disappears */
    k[16] = 1;
    v = rocksdb_get_cf(r.db, ro, meta, (const char *)k, sizeof k, &vlen, &e);
    assert_null(e);
    assert_non_null(v);
    assert_int_equal(store_seg_decode((const uint8_t *)v, vlen, 7, 1, &seg), SEGLOG_OK);
    rocksdb_free(v);
    char cf[32];
    store_cf_name(cf, seg.cf_no);
    uint8_t lsn3[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    rocksdb_delete_cf(r.db, r.wo, rdb_cf(&r, cf), (const char *)lsn3, 8, &e);
    assert_null(e);
    rocksdb_readoptions_destroy(ro);
    rdb_close(&r);

    assert_int_equal(dump(f, "check '%s'", f->store), 1);
    expect_text(f, "problem: metadata: meta: metadata: log 7 segment 99: value of 3 bytes does "
                   "not decode\n");
    expect_text(f, "problem: chain-gap: log 7 segment 4: base 5 but the previous segment 1 ends "
                   "at 4\n");
    expect_text(f, "problem: sealed-count: log 7 segment 1: sealed, tail 4: 1 records expected in "
                   "[3, 4), 0 found, 1 missing\n");
    expect_text(f, "problem: byte-count: log 7 segment 4: metadata says 9 payload bytes, the "
                   "records hold 5\n");
    expect_text(f, "problem: records-outside: log 7 segment 4: cf-");
    expect_text(f, " holds 1 records outside [5, 6)\n");
    expect_text(f, ": 5 problems (3 logs)\n");
    assert_int_equal(dump(f, "records '%s' --log 7", f->store), 0);
    expect_text(f, "lsn 3..3  MISSING: 1 records the metadata promises are absent (segment 1)\n");
    expect_no_text(f, "lsn 4 ");
    expect_text(f, "lsn 5  size 5  ");
    assert_int_equal(dump(f, "summary '%s'", f->store), 0);
    expect_text(f, "  note: metadata: log 7 segment 99: value of 3 bytes does not decode\n");
    if (have_python()) {
        assert_int_equal(dump(f, "--json check '%s'", f->store), 1);
        expect_json(f, "sorted(p['kind'] for p in d['problems']) == ['byte-count', 'chain-gap', "
                       "'metadata', 'records-outside', 'sealed-count'] and not d['ok'] and "
                       "d['problem_count'] == 5");
        assert_int_equal(dump(f, "--json records '%s' --log 7", f->store), 0);
        expect_json(f, "d['records'][0] == {'lsn': 3, 'missing': 1, 'segment': 1} and "
                       "d['missing'] == 1 and d['count'] == 1");
    }
}

static void expect_trimmed_whole(fixture *f, bool from_wal)
{
    assert_int_equal(dump(f, "logs '%s'", f->store), 0);
    expect_text(f, "log 21: chain version 4, tail open at 7 (segment 3), trim point 4");
    expect_text(f, "  segment 1  base 1  trimmed  cf-");
    expect_text(f, "  segment 2  base 3  trimmed  cf-");
    expect_text(f, "  0 records  0 bytes");
    expect_text(f, "  segment 3  base 5  open  cf-");
    expect_text(f, "  2 records  LSN 5..6  4 bytes");
    if (from_wal)
        expect_text(f, "[from WAL seq ");
    else
        expect_no_text(f, "[from WAL seq ");
    assert_int_equal(dump(f, "records '%s' --log 21 --format raw", f->store), 0);
    assert_string_equal(f->text, "r5r6");
    assert_int_equal(dump(f, "check '%s'", f->store), 0);
    expect_no_text(f, "problem:");
    assert_int_equal(dump(f, "wal '%s'", f->store), 0);
    expect_text(f, "  trim  size ");
    expect_text(f, "  log 21  trim point 4, 2 segments dropped  version 4\n");
}

/* A trim that drops whole segments, both while the WAL alone holds it and once checkpointed
 * (their column families dropped or recycled into the pool, as the store does it). */
static void test_dump_trim_whole_segments(void **state)
{
    fixture *f = *state;
    build_killed(f->store, "trim-whole");
    expect_trimmed_whole(f, true);
    seglog_options o = small_options();
    seglog *s = NULL;
    seglog_error err = {0};
    must(seglog_open(&s, f->store, &o, &err), &err); /* replays and checkpoints at close */
    seglog_close(s);
    expect_trimmed_whole(f, false);
    if (have_python()) {
        assert_int_equal(dump(f, "--json summary '%s'", f->store), 0);
        /* the trimmed segments' CFs: dropped, pooled (recycled) or, if the store closed before
         * its background drop, still "trimmed" (holding records no segment serves): never
         * orphans, since trimmed segments still name them */
        expect_json(f, "d['column_families']['orphan'] == 0 and "
                       "d['column_families']['segment'] == 1 and "
                       "all(c['log'] == 21 and c['segment'] in (1, 2) for c in d['cfs'] "
                       "if c['role'] == 'trimmed') and "
                       "d['segments'] == {'total': 3, 'open': 1, 'sealed': 0, 'trimmed': 2}");
    }
}

/* Log 31: segment 1 holds LSN 1..3, segment 2 none (sealed+extended again at once), segment 3
 * LSN 4; a trim to 1 drops the empty segment 2 but keeps segment 1 (LSN 2..3 are above it). */
static void wl_empty_middle(seglog *s)
{
    seglog_error err = {0};
    must(seglog_log_create(s, 31, &err), &err);
    append(s, 31, "a");
    append(s, 31, "b");
    append(s, 31, "c");
    must(seglog_log_seal_and_extend(s, 31, 0, NULL, &err), &err);
    must(seglog_log_seal_and_extend(s, 31, 0, NULL, &err), &err);
    append(s, 31, "d");
    must(seglog_log_trim(s, 31, 1, NULL, &err), &err);
}

/* An empty segment that a trim dropped after a live one is a normal chain for check (the long
 * crash run found check calling it a trim-order problem). A trimmed segment
 * that held LSNs after a live one is still reported: storage/store_inspect.c, check_chain. */
static void test_dump_trimmed_empty_segment(void **state)
{
    fixture *f = *state;
    build_closed(f->store, wl_empty_middle);
    assert_int_equal(dump(f, "logs '%s' --log 31", f->store), 0);
    expect_text(f, "log 31: chain version 4, tail open at 5 (segment 3), trim point 1\n");
    expect_text(f, "  segment 2  base 4  trimmed");
    expect_text(f, "  segment 1  base 1  sealed at 4");
    assert_int_equal(dump(f, "check '%s'", f->store), 0);
}

static void wl_sealed(seglog *s)
{
    seglog_error err = {0};
    must(seglog_log_create(s, 11, &err), &err);
    append(s, 11, "one");
    append(s, 11, "two");
    must(seglog_log_seal(s, 11, NULL, &err), &err);
    must(seglog_log_create(s, 12, &err), &err);
    append(s, 12, "three");
    seglog_tail t;
    must(seglog_log_seal_and_extend(s, 12, 0, &t, &err), &err);
}

/* A plain seal leaves the log visibly "sealed, no successor"; seal+extend never does. */
static void test_dump_sealed_without_successor(void **state)
{
    fixture *f = *state;
    build_closed(f->store, wl_sealed);
    assert_int_equal(dump(f, "logs '%s' --log 11", f->store), 0);
    expect_text(f, "log 11: chain version 2, tail sealed at 3 (segment 1), trim point 0\n"
                   "  segment 1  base 1  sealed at 3  cf-");
    expect_text(f, "  2 records  LSN 1..2  6 bytes\n"
                   "  sealed at LSN 3, no successor segment: appends will wait until the chain is "
                   "extended\n");
    assert_int_equal(dump(f, "logs '%s' --log 12", f->store), 0);
    expect_no_text(f, "no successor");
    expect_text(f, "tail open at 2");
    assert_int_equal(dump(f, "check '%s'", f->store), 0);
    expect_text(f, "note: log 11: sealed at LSN 3, no successor segment: appends will wait until "
                   "the chain is extended\n");
    expect_no_text(f, "note: log 12");
    if (have_python()) {
        assert_int_equal(dump(f, "--json logs '%s'", f->store), 0);
        expect_json(f, "[l['sealed_without_successor'] for l in d['logs']] == [True, False]");
        expect_json(f, "d['logs'][0]['segments'][0]['sealed_at'] == 3 and "
                       "d['logs'][0]['tail']['sealed']");
    }
}

/* Nothing in the store directory changes: names, sizes, modes, times and contents. */
static void test_dump_read_only(void **state)
{
    fixture *f = *state;
    build_killed(f->store, "reference"); /* a replay-pending WAL: the riskiest store to read */
    make_torn_tail(f);
    uint64_t before = digest_tree(f->store, 1469598103934665603ull);
    run_every_subcommand(f);
    assert_int_equal(digest_tree(f->store, 1469598103934665603ull), before);
    assert_int_equal(dump(f, "logs '%s'", f->store), 0);
    expect_text(f, "[from WAL seq"); /* and it was read, not skipped */

    char clean[TEST_PATH_MAX];
    TEST_FMT(clean, "%s/clean", f->dir);
    build_closed(clean, build_reference);
    snprintf(f->store, sizeof f->store, "%s", clean);
    before = digest_tree(f->store, 1469598103934665603ull);
    run_every_subcommand(f);
    assert_int_equal(digest_tree(f->store, 1469598103934665603ull), before);
}

/* Another process has the store open and appends: the dump works and sees its records. */
static void test_dump_while_open(void **state)
{
    fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl("/proc/self/exe", "test_dump", "--live", f->store, fd, (char *)NULL);
        _exit(7);
    }
    close(p[1]);
    char c = 0;
    ssize_t n = read(p[0], &c, 1);
    close(p[0]);
    if (n != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the appending child did not start");
    }
    int rc_logs = dump(f, "logs '%s' --log 5", f->store);
    char *logs = strdup(f->text);
    int rc_records = dump(f, "records '%s' --log 5 --to 100", f->store);
    char *records = strdup(f->text);
    int rc_summary = dump(f, "summary '%s'", f->store);
    int rc_check = dump(f, "check '%s'", f->store);
    int rc_json = dump(f, "--json logs '%s'", f->store);
    bool alive = waitpid(pid, NULL, WNOHANG) == 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_true(alive); /* it kept the store open throughout */
    assert_int_equal(rc_logs, 0);
    if (!strstr(logs, "log 5: chain version "))
        fail_msg("logs while open:\n%s", logs);
    assert_int_equal(rc_records, 0);
    char line[64];
    for (int i = 1; i <= 100; i++) {
        TEST_FMT(line, "\"live-%06d\"\n", i);
        if (!strstr(records, line))
            fail_msg("record %d missing while open:\n%s", i, records);
    }
    assert_int_equal(rc_summary, 0);
    assert_true(rc_check == 0 || rc_check == 1); /* readable; a live store may be mid-change */
    assert_int_equal(rc_json, 0);
    free(logs);
    free(records);
    /* the store is none the worse: it opens and holds at least those records */
    seglog_options o = small_options();
    seglog *s = NULL;
    seglog_error err = {0};
    must(seglog_open(&s, f->store, &o, &err), &err);
    seglog_tail t;
    must(seglog_log_find_tail(s, 5, &t, &err), &err);
    assert_true(t.lsn > 100);
    seglog_close(s);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--live") == 0)
        return live_main(argv[2], atoi(argv[3]));
    const char *only = argc == 3 && strcmp(argv[1], "--case") == 0 ? argv[2] : NULL;
    struct stat st;
    if (stat(dump_path(), &st) != 0) {
        fprintf(stderr, "test_dump: %s not found (set SEGLOG_DUMP)\n", dump_path());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dump_text_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_shows_wal_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_mid_wal_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_orphan_cf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_check_finds_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_trim_whole_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_trimmed_empty_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_sealed_without_successor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_while_open, setup, teardown),
    };
    if (only) { /* one case (CTest runs each on its own); a name that matches none fails */
        bool known = false;
        for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
            known = known || strcmp(tests[i].name, only) == 0;
        if (!known) {
            fprintf(stderr, "test_dump: no case named %s\n", only);
            return 2;
        }
        cmocka_set_test_filter(only);
    }
    return TEST_EXIT(cmocka_run_group_tests_name("dump", tests, NULL, NULL));
}
