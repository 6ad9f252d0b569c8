/*
 * test_wal.c — the write-ahead log's contract: framing, reopen, torn tails (every truncation and
 * every bit flip of the last record, zero-filled tails), corruption followed by durable records,
 * what a power cut can leave (a lost idle marker before an acknowledged group, a recycled file
 * with another file's header), injected write/fsync failures (EIO, ENOSPC, short writes) poisoning the WAL, 16 producers'
 * records each exactly once in one order, rotation, checkpoint-driven removal, backpressure, the
 * directory lock and the format version. Every test runs in its own temporary directory.
 */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include "wal.h"
#include "wal_internal.h"

#define TYPE_DATA 16u
#define FIRST_FILE "wal-0000000000000001.log"

/* ---- fixture and helpers ---------------------------------------------------------------------- */

typedef struct fixture {
    char dir[TEST_PATH_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || test_mkdtemp(f->dir, "wal") != 0)
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

/* Record seq's deterministic payload: length 1..200 and bytes derived from seq. */
static uint32_t payload_len(uint64_t seq)
{
    return (uint32_t)(1 + (seq * 37) % 200);
}

static void payload_fill(uint64_t seq, uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 131 + i * 7 + 1);
}

typedef struct collector {
    uint64_t count;
    uint64_t first;
    uint64_t last;
    uint64_t bad; /* out of order or wrong payload */
} collector;

static int collect(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    collector *c = ctx;
    uint8_t want[256];
    if (type != TYPE_DATA || len != payload_len(seq))
        c->bad++;
    else {
        payload_fill(seq, want, len);
        if (memcmp(want, payload, len) != 0)
            c->bad++;
    }
    if (c->count > 0 && seq != c->last + 1)
        c->bad++;
    if (c->count == 0)
        c->first = seq;
    c->last = seq;
    c->count++;
    return 0;
}

static void small_options(wal_options *o)
{
    wal_options_init(o);
    o->file_size_bytes = 1u << 20;
    o->group_max_bytes = 64u << 10;
    o->record_max_bytes = 16u << 10;
}

static void tiny_file_options(wal_options *o);

static wal *open_ok(const char *dir, const wal_options *o, uint64_t from, collector *c,
                    wal_scan_report *rep)
{
    wal *w = NULL;
    seglog_error err = {0};
    int rc = wal_open(&w, dir, o, from, c ? collect : NULL, c, rep, &err);
    if (rc != SEGLOG_OK)
        fail_msg("wal_open(%s) = %d: %s", dir, rc, err.message);
    return w;
}

/* Appends records first..first+n-1 one at a time, each durable before the next. */
static void append_sync_n(wal *w, uint64_t first, uint64_t n)
{
    uint8_t buf[256];
    for (uint64_t s = first; s < first + n; s++) {
        uint32_t len = payload_len(s);
        payload_fill(s, buf, len);
        uint64_t got = 0;
        seglog_error err = {0};
        int rc = wal_append_sync(w, TYPE_DATA, buf, len, &got, &err);
        if (rc != SEGLOG_OK)
            fail_msg("append %llu = %d: %s", (unsigned long long)s, rc, err.message);
        assert_int_equal(got, s);
    }
}

typedef struct async_count {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t ok, failed, last_seq, out_of_order;
} async_count;

static void async_done(void *ctx, uint64_t seq, int status, const void *payload, uint32_t len)
{
    (void)payload;
    (void)len;
    async_count *a = ctx;
    pthread_mutex_lock(&a->mu);
    if (a->last_seq != 0 && seq != a->last_seq + 1)
        a->out_of_order++;
    a->last_seq = seq;
    if (status == SEGLOG_OK)
        a->ok++;
    else
        a->failed++;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Counts completions; out_of_order counts an OK that follows a failure. */
static void ok_then_fail_done(void *ctx, uint64_t seq, int status, const void *payload,
                              uint32_t len)
{
    (void)seq;
    (void)payload;
    (void)len;
    async_count *a = ctx;
    pthread_mutex_lock(&a->mu);
    if (status == SEGLOG_OK) {
        if (a->failed > 0)
            a->out_of_order++;
        a->ok++;
    } else {
        a->failed++;
    }
    pthread_mutex_unlock(&a->mu);
}

/* Appends n records asynchronously (so that groups form), then waits for all completions. */
static void append_async_n(wal *w, uint64_t first, uint64_t n)
{
    async_count a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    uint8_t buf[256];
    for (uint64_t s = first; s < first + n; s++) {
        uint32_t len = payload_len(s);
        payload_fill(s, buf, len);
        uint64_t got = 0;
        seglog_error err = {0};
        int rc = wal_append(w, TYPE_DATA, buf, len, async_done, &a, &got, &err);
        if (rc != SEGLOG_OK)
            fail_msg("append %llu = %d: %s", (unsigned long long)s, rc, err.message);
        assert_int_equal(got, s);
    }
    pthread_mutex_lock(&a.mu);
    while (a.ok + a.failed < n)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    assert_int_equal(a.ok, n);
    assert_int_equal(a.out_of_order, 0);
}

/* Walks the frames of a WAL's first file: the offset of record `seq` (0 if absent), and in *end
 * the offset after it (or, for seq 0, after the last valid frame of any kind). */
static uint64_t frame_at(const char *dir, uint64_t seq, uint64_t *end)
{
    char path[TEST_PATH_MAX];
    if (test_path(path, dir, FIRST_FILE) != 0)
        return 0;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return 0;
    uint8_t *buf = malloc((size_t)st.st_size);
    if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        free(buf);
        close(fd);
        return 0;
    }
    close(fd);
    uint64_t off = WAL_FILE_HEADER_BYTES, found = 0;
    wal_frame fr;
    while (wal_frame_check(buf + off, (uint64_t)st.st_size - off, 1, 1u << 20, &fr) ==
           WAL_FRAME_OK) {
        uint64_t next = off + wal_frame_size(fr.len);
        if (seq != 0 && fr.type != WAL_TYPE_PAD && fr.seq == seq) {
            found = off;
            *end = next;
            break;
        }
        if (seq == 0)
            *end = next;
        off = next;
    }
    free(buf);
    return seq == 0 ? 1 : found;
}

static uint64_t frame_offset(const char *dir, uint64_t seq)
{
    uint64_t end = 0;
    uint64_t off = frame_at(dir, seq, &end);
    assert_true(off != 0);
    return off;
}

static int scan(const char *dir, uint64_t from, collector *c, wal_scan_report *rep,
                seglog_error *err)
{
    memset(c, 0, sizeof *c);
    return wal_scan_dir(dir, from, collect, c, rep, err);
}

/* ---- framing ----------------------------------------------------------------------------------- */

static void test_wal_frame_round_trip(void **state)
{
    (void)state;
    uint8_t buf[4096];
    uint8_t a[100], b[57];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(200 - i);
    struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
    wal_frame h = {.len = 157, .seq = 42, .synced_seq = 40, .file_no = 9, .type = 17};
    uint64_t size = wal_frame_encode(buf, &h, iov, 2);
    assert_int_equal(size, wal_frame_size(157));
    assert_int_equal(size % WAL_FRAME_ALIGN_BYTES, 0);
    wal_frame out;
    assert_int_equal(wal_frame_check(buf, size, 9, 1000, &out), WAL_FRAME_OK);
    assert_int_equal(out.len, 157);
    assert_int_equal(out.seq, 42);
    assert_int_equal(out.synced_seq, 40);
    assert_int_equal(out.type, 17);
    assert_memory_equal(buf + WAL_FRAME_HEADER_BYTES, a, sizeof a);
    assert_memory_equal(buf + WAL_FRAME_HEADER_BYTES + sizeof a, b, sizeof b);

    /* the two-step encoding producers and the WAL thread use gives the same bytes */
    uint8_t buf2[4096];
    wal_frame h0 = h;
    h0.file_no = 0;
    h0.synced_seq = 0;
    wal_frame_encode_begin(buf2, &h0, iov, 2);
    wal_frame_finish(buf2, 9, 40);
    assert_memory_equal(buf, buf2, size);

    /* another file number reads as stale, zeros as unwritten, a short buffer as truncated */
    assert_int_equal(wal_frame_check(buf, size, 8, 1000, &out), WAL_FRAME_STALE);
    uint8_t zeros[64] = {0};
    assert_int_equal(wal_frame_check(zeros, sizeof zeros, 9, 1000, &out), WAL_FRAME_ZERO);
    assert_int_equal(wal_frame_check(buf, size - 8, 9, 1000, &out), WAL_FRAME_TRUNCATED);
    /* a limit below the length, and any changed byte of header or payload, make it bad */
    assert_int_equal(wal_frame_check(buf, size, 9, 100, &out), WAL_FRAME_BAD);
    for (uint64_t i = 0; i < WAL_FRAME_HEADER_BYTES + 157; i++) {
        if (i >= 24 && i < 28)
            continue; /* the file number: checked above */
        buf[i] ^= 0x10;
        wal_frame_status st = wal_frame_check(buf, size, 9, 1000, &out);
        assert_true(st == WAL_FRAME_BAD || st == WAL_FRAME_TRUNCATED);
        buf[i] ^= 0x10;
    }
    /* file names */
    char name[WAL_FILE_NAME_MAX];
    uint64_t no = 0;
    wal_file_name(name, 0x1234abcdULL);
    assert_string_equal(name, "wal-000000001234abcd.log");
    assert_true(wal_file_name_parse(name, &no));
    assert_int_equal(no, 0x1234abcdULL);
    assert_false(wal_file_name_parse("wal-000000001234abcX.log", &no));
    assert_false(wal_file_name_parse("wal-1.log", &no));
}

static void test_wal_reopen_after_clean_close(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    wal_scan_report rep;
    wal *w = open_ok(f->dir, &o, 1, NULL, &rep);
    assert_int_equal(rep.end, WAL_END_EMPTY);
    append_sync_n(w, 1, 50);
    append_async_n(w, 51, 450);
    wal_close(w);

    collector c = {0};
    w = open_ok(f->dir, &o, 1, &c, &rep);
    assert_int_equal(c.count, 500);
    assert_int_equal(c.first, 1);
    assert_int_equal(c.last, 500);
    assert_int_equal(c.bad, 0);
    assert_int_equal(rep.end, WAL_END_CLEAN);
    assert_int_equal(rep.last_seq, 500);
    append_sync_n(w, 501, 10); /* sequences continue */
    wal_stats st;
    wal_stats_get(w, &st);
    assert_int_equal(st.durable_seq, 510);
    wal_close(w);

    /* replay from the middle hands over only the later records */
    memset(&c, 0, sizeof c);
    w = open_ok(f->dir, &o, 300, &c, &rep);
    assert_int_equal(c.count, 211);
    assert_int_equal(c.first, 300);
    assert_int_equal(c.bad, 0);
    wal_close(w);
}

static void test_wal_append_argument_errors(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    seglog_error err = {0};
    uint8_t *big = calloc(1, o.record_max_bytes + 1);
    assert_non_null(big);
    int rc = wal_append(w, TYPE_DATA, big, o.record_max_bytes + 1, NULL, NULL, NULL, &err);
    assert_int_equal(rc, SEGLOG_ETOOLARGE);
    assert_int_equal(err.code, SEGLOG_ETOOLARGE);
    assert_non_null(strstr(err.message, "16385"));
    assert_non_null(strstr(err.message, "16384"));
    rc = wal_append(w, WAL_TYPE_PAD, big, 10, NULL, NULL, NULL, &err);
    assert_int_equal(rc, SEGLOG_EINVAL);
    free(big);
    wal_stats st;
    wal_stats_get(w, &st);
    assert_int_equal(st.next_seq, 1); /* nothing was sequenced */
    wal_close(w);

    wal_options bad;
    small_options(&bad);
    bad.record_max_bytes = bad.group_max_bytes;
    w = NULL;
    assert_int_equal(wal_open(&w, f->dir, &bad, 1, NULL, NULL, NULL, &err), SEGLOG_EINVAL);
    assert_null(w);
    assert_non_null(strstr(err.message, "record_max_bytes"));
}

/* ---- torn tails -------------------------------------------------------------------------------- */

#define TORN_RECORDS 40u

/* TORN_RECORDS records, each acknowledged before the next, as a crash right after the last one
 * was written would leave them: the marker that a clean close writes after it is removed. */
static void write_torn_fixture(const char *dir, wal_options *o)
{
    small_options(o);
    wal *w = open_ok(dir, o, 1, NULL, NULL);
    append_sync_n(w, 1, TORN_RECORDS);
    wal_close(w);
    uint64_t last_end = 0, all_end = 0;
    assert_true(frame_at(dir, TORN_RECORDS, &last_end) != 0);
    frame_at(dir, 0, &all_end);
    assert_true(all_end >= last_end);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, dir, FIRST_FILE), 0);
    uint8_t zeros[8192] = {0};
    assert_true(all_end - last_end <= sizeof zeros);
    assert_int_equal(test_pwrite_file(path, zeros, all_end - last_end, (off_t)last_end), 0);
}

/* After damage to the last record: exactly the records before it, never an error. */
static void expect_last_dropped(const char *dir, const char *what, uint64_t at, uint64_t at_last)
{
    collector c;
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = scan(dir, 1, &c, &rep, &err);
    if (rc != SEGLOG_OK)
        fail_msg("%s at %llu: scan = %d: %s", what, (unsigned long long)at, rc, err.message);
    if (c.count != TORN_RECORDS - 1 || c.bad != 0)
        fail_msg("%s at %llu: %llu records (bad %llu), want %u", what, (unsigned long long)at,
                 (unsigned long long)c.count, (unsigned long long)c.bad, TORN_RECORDS - 1);
    assert_true(rep.end == WAL_END_TORN || rep.end == WAL_END_CLEAN);
    assert_int_equal(rep.end_offset, at_last);
}

static void reopen_keeps_prefix(const char *dir, const wal_options *o, uint64_t want)
{
    collector c = {0};
    wal_scan_report rep;
    wal *w = open_ok(dir, o, 1, &c, &rep);
    assert_int_equal(c.count, want);
    assert_int_equal(c.bad, 0);
    append_sync_n(w, want + 1, 3); /* the cut is clean: new records follow */
    wal_close(w);
    memset(&c, 0, sizeof c);
    w = open_ok(dir, o, 1, &c, &rep);
    assert_int_equal(c.count, want + 3);
    assert_int_equal(c.bad, 0);
    assert_int_equal(rep.end, WAL_END_CLEAN);
    wal_close(w);
}

static void test_wal_truncate_last_record_every_offset(void **state)
{
    fixture *f = *state;
    wal_options o;
    write_torn_fixture(f->dir, &o);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, f->dir, FIRST_FILE), 0);
    uint64_t start = frame_offset(f->dir, TORN_RECORDS);
    uint64_t end = start + wal_frame_size(payload_len(TORN_RECORDS));
    uint8_t saved[512], zeros[512] = {0};
    assert_int_equal(test_pread_file(path, saved, end - start, (off_t)start), 0);
    for (uint64_t k = start; k < end; k++) {
        /* the file cut short at k */
        assert_int_equal(truncate(path, (off_t)k), 0);
        expect_last_dropped(f->dir, "truncate", k, start);
        assert_int_equal(truncate(path, 1 << 20), 0);
        assert_int_equal(test_pwrite_file(path, saved, end - start, (off_t)start), 0);
        /* the bytes from k on never written (zeros in the preallocated file); the alignment
         * padding after the payload is zero anyway and outside the checksum */
        if (k < start + WAL_FRAME_HEADER_BYTES + payload_len(TORN_RECORDS)) {
            assert_int_equal(test_pwrite_file(path, zeros, end - k, (off_t)k), 0);
            expect_last_dropped(f->dir, "zero-from", k, start);
            assert_int_equal(test_pwrite_file(path, saved, end - start, (off_t)start), 0);
        }
    }
    /* and once through wal_open, which cuts the tail for good */
    assert_int_equal(test_pwrite_file(path, zeros, end - start - 20, (off_t)start + 20), 0);
    reopen_keeps_prefix(f->dir, &o, TORN_RECORDS - 1);
}

static void test_wal_bitflip_last_record_every_bit(void **state)
{
    fixture *f = *state;
    wal_options o;
    write_torn_fixture(f->dir, &o);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, f->dir, FIRST_FILE), 0);
    uint64_t start = frame_offset(f->dir, TORN_RECORDS);
    uint64_t covered = WAL_FRAME_HEADER_BYTES + payload_len(TORN_RECORDS);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    for (uint64_t i = 0; i < covered; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t b;
            assert_int_equal(pread(fd, &b, 1, (off_t)(start + i)), 1);
            uint8_t flipped = (uint8_t)(b ^ (1u << bit));
            assert_int_equal(pwrite(fd, &flipped, 1, (off_t)(start + i)), 1);
            expect_last_dropped(f->dir, "bit flip", i * 8 + (uint64_t)bit, start);
            assert_int_equal(pwrite(fd, &b, 1, (off_t)(start + i)), 1);
        }
    }
    /* one flip through wal_open */
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)(start + 40)), 1);
    b ^= 4;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)(start + 40)), 1);
    close(fd);
    reopen_keeps_prefix(f->dir, &o, TORN_RECORDS - 1);
}

static void test_wal_zero_filled_tail(void **state)
{
    fixture *f = *state;
    wal_options o;
    write_torn_fixture(f->dir, &o);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, f->dir, FIRST_FILE), 0);
    uint64_t from = frame_offset(f->dir, TORN_RECORDS - 4);
    uint64_t end = 0;
    frame_at(f->dir, TORN_RECORDS, &end);
    uint8_t *zeros = calloc(1, end - from);
    assert_non_null(zeros);
    assert_int_equal(test_pwrite_file(path, zeros, end - from, (off_t)from), 0);
    free(zeros);
    collector c;
    wal_scan_report rep;
    seglog_error err = {0};
    assert_int_equal(scan(f->dir, 1, &c, &rep, &err), SEGLOG_OK);
    assert_int_equal(c.count, TORN_RECORDS - 5);
    assert_int_equal(rep.end, WAL_END_CLEAN);
    assert_int_equal(rep.end_offset, from);
    reopen_keeps_prefix(f->dir, &o, TORN_RECORDS - 5);
}

/* After a clean close the last record is vouched for by the marker behind it: damage to it is
 * corruption, not a torn tail. */
static void test_wal_damage_to_last_acknowledged_record_is_an_error(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    append_sync_n(w, 1, 10);
    wal_close(w);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, f->dir, FIRST_FILE), 0);
    uint64_t off = frame_offset(f->dir, 10) + WAL_FRAME_HEADER_BYTES;
    uint8_t b;
    assert_int_equal(test_pread_file(path, &b, 1, (off_t)off), 0);
    b ^= 1;
    assert_int_equal(test_pwrite_file(path, &b, 1, (off_t)off), 0);
    collector c;
    wal_scan_report rep;
    seglog_error err = {0};
    assert_int_equal(scan(f->dir, 1, &c, &rep, &err), SEGLOG_ECORRUPT);
    assert_int_equal(c.count, 9);
    assert_non_null(strstr(err.message, FIRST_FILE));
}

/* A damaged group followed by a group submitted while it was still unsynced is a torn tail; the
 * same followed by a frame that says the damaged record was durable is corruption. */
static void craft_wal(const char *dir, uint64_t synced_of_last)
{
    uint8_t *file = calloc(1, 1u << 20);
    assert_non_null(file);
    wal_file_header h = {.format_version = WAL_FORMAT_VERSION,
                         .file_no = 1,
                         .file_size = 1u << 20,
                         .record_max = 16u << 10};
    wal_file_header_encode(file, &h);
    uint64_t off = WAL_FILE_HEADER_BYTES;
    uint64_t damaged_off = 0;
    for (uint64_t s = 1; s <= 7; s++) {
        uint8_t buf[256];
        uint32_t len = payload_len(s);
        payload_fill(s, buf, len);
        struct iovec iov = {buf, len};
        wal_frame fr = {.len = len,
                        .seq = s,
                        .synced_seq = s == 7 ? synced_of_last : s - 1,
                        .file_no = 1,
                        .type = TYPE_DATA};
        if (s == 6)
            damaged_off = off;
        off += wal_frame_encode(file + off, &fr, &iov, 1);
    }
    file[damaged_off + WAL_FRAME_HEADER_BYTES] ^= 0xFF; /* record 6's payload */
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, dir, FIRST_FILE), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file, 1u << 20), 1 << 20);
    close(fd);
    free(file);
}

static void test_wal_torn_group_vs_durable_damage(void **state)
{
    fixture *f = *state;
    collector c;
    wal_scan_report rep;
    seglog_error err = {0};
    craft_wal(f->dir, 5); /* record 7 was written while 6 was in flight */
    assert_int_equal(scan(f->dir, 1, &c, &rep, &err), SEGLOG_OK);
    assert_int_equal(c.count, 5);
    assert_int_equal(rep.end, WAL_END_TORN);

    craft_wal(f->dir, 6); /* record 7 was written after 6 was durable */
    assert_int_equal(scan(f->dir, 1, &c, &rep, &err), SEGLOG_ECORRUPT);
    assert_int_equal(c.count, 5); /* what precedes the damage is still readable */
    assert_non_null(strstr(err.message, FIRST_FILE));
    char want[64];
    TEST_FMT(want, "offset %llu", (unsigned long long)(WAL_FILE_HEADER_BYTES +
                                                          wal_frame_size(payload_len(1)) +
                                                          wal_frame_size(payload_len(2)) +
                                                          wal_frame_size(payload_len(3)) +
                                                          wal_frame_size(payload_len(4)) +
                                                          wal_frame_size(payload_len(5))));
    assert_non_null(strstr(err.message, want));
}

static void test_wal_corruption_mid_file_is_an_error(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    append_sync_n(w, 1, 200);
    wal_close(w);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, f->dir, FIRST_FILE), 0);
    uint64_t off = frame_offset(f->dir, 100);
    char want[64];
    TEST_FMT(want, "offset %llu", (unsigned long long)off);

    /* three kinds of damage to record 100: payload byte, zeroed header, another file number */
    const struct {
        uint64_t at;
        uint32_t len;
    } damage[] = {{off + WAL_FRAME_HEADER_BYTES + 1, 1}, {off, WAL_FRAME_HEADER_BYTES}, {off + 24, 1}};
    for (size_t d = 0; d < sizeof damage / sizeof damage[0]; d++) {
        uint8_t saved[64], bad[64];
        assert_int_equal(test_pread_file(path, saved, damage[d].len, (off_t)damage[d].at), 0);
        for (uint32_t i = 0; i < damage[d].len; i++)
            bad[i] = damage[d].len == 1 ? (uint8_t)(saved[i] ^ 0x40) : 0;
        assert_int_equal(test_pwrite_file(path, bad, damage[d].len, (off_t)damage[d].at), 0);

        seglog_error err = {0};
        wal *w2 = NULL;
        assert_int_equal(wal_open(&w2, f->dir, &o, 1, NULL, NULL, NULL, &err), SEGLOG_ECORRUPT);
        assert_null(w2);
        assert_int_equal(err.code, SEGLOG_ECORRUPT);
        assert_non_null(strstr(err.message, FIRST_FILE));
        assert_non_null(strstr(err.message, want));

        collector c;
        wal_scan_report rep;
        assert_int_equal(scan(f->dir, 1, &c, &rep, &err), SEGLOG_ECORRUPT);
        assert_int_equal(c.count, 99);
        assert_int_equal(c.bad, 0);
        assert_int_equal(test_pwrite_file(path, saved, damage[d].len, (off_t)damage[d].at), 0);
    }
    /* repaired, it opens again with everything */
    collector c = {0};
    w = open_ok(f->dir, &o, 1, &c, NULL);
    assert_int_equal(c.count, 200);
    wal_close(w);
}

/* ---- layouts a power cut leaves: lost idle markers, a recycled file's header ----------------- */

/* A WAL file image built frame by frame (records carry payload_fill bytes of payload_len). */
typedef struct image {
    uint8_t *buf;
    uint64_t size;
    uint64_t off;   /* where the next frame goes */
    uint32_t stamp; /* file number stamped into its frames */
} image;

static void image_init(image *m, uint64_t header_no, uint64_t stamp_no)
{
    m->size = 1u << 20; /* small_options' file size */
    m->buf = calloc(1, m->size);
    assert_non_null(m->buf);
    m->off = WAL_FILE_HEADER_BYTES;
    m->stamp = (uint32_t)stamp_no;
    wal_file_header h = {.format_version = WAL_FORMAT_VERSION,
                         .file_no = header_no,
                         .file_size = m->size,
                         .record_max = 16u << 10};
    wal_file_header_encode(m->buf, &h);
}

static void image_record(image *m, uint64_t seq, uint64_t synced_seq)
{
    uint8_t buf[256];
    uint32_t len = payload_len(seq);
    payload_fill(seq, buf, len);
    struct iovec iov = {buf, len};
    wal_frame fr = {.len = len, .seq = seq, .synced_seq = synced_seq, .file_no = m->stamp,
                    .type = TYPE_DATA};
    assert_true(m->off + wal_frame_size(len) <= m->size);
    m->off += wal_frame_encode(m->buf + m->off, &fr, &iov, 1);
}

/* A padding frame of `size` bytes (an O_DIRECT group's end, or an idle marker). */
static void image_pad(image *m, uint64_t size, uint64_t synced_seq)
{
    assert_true(size >= WAL_FRAME_HEADER_BYTES && m->off + size <= m->size);
    wal_frame fr = {.len = (uint32_t)(size - WAL_FRAME_HEADER_BYTES), .type = WAL_TYPE_PAD};
    uint8_t *p = m->buf + m->off;
    wal_frame_encode_begin(p, &fr, NULL, 0);
    wal_put32(p, wal_crc32c(0, p + WAL_FRAME_HEADER_BYTES, fr.len)); /* the zeros' CRC */
    m->off += wal_frame_finish(p, m->stamp, synced_seq);
}

/* What a lost idle marker left on disk. */
typedef enum gap_kind {
    GAP_ZEROS, /* a prewritten file: the marker never reached the disk */
    GAP_STALE, /* a recycled file: a previous use's frame is still there */
    GAP_TORN,  /* the marker's first half lost (it straddled two pages) */
} gap_kind;

static void image_lost_marker(image *m, uint64_t size, uint64_t synced_seq, gap_kind kind)
{
    uint64_t at = m->off;
    if (kind == GAP_ZEROS) {
        m->off += size;
        return;
    }
    if (kind == GAP_STALE) {
        uint32_t stamp = m->stamp;
        m->stamp = stamp - 1; /* the file's number before it was recycled */
        image_record(m, 777, 776);
        m->stamp = stamp;
        m->off = at + size;
        return;
    }
    image_pad(m, size, synced_seq);
    memset(m->buf + at, 0, 16);
}

static void image_write(image *m, const char *dir, uint64_t name_no)
{
    char name[WAL_FILE_NAME_MAX], path[TEST_PATH_MAX];
    wal_file_name(name, name_no);
    TEST_FMT(path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, m->buf, m->size), (ssize_t)m->size);
    close(fd);
    free(m->buf);
    m->buf = NULL;
}

/* Records 1..last, each acknowledged before the next, ending `marker` bytes before a page end
 * (buffered) or padded to a block (O_DIRECT); returns the last sequence. */
static uint64_t image_acked_prefix(image *m, uint64_t marker)
{
    uint64_t s = 0;
    if (marker == WAL_FRAME_HEADER_BYTES) {
        while ((m->off + marker) % WAL_BLOCK_BYTES != 0) {
            s++;
            assert_true(s < 1000);
            image_record(m, s, s - 1);
        }
        return s;
    }
    for (s = 1; s <= 20; s++)
        image_record(m, s, s - 1);
    s--;
    uint64_t gap = WAL_BLOCK_BYTES - m->off % WAL_BLOCK_BYTES;
    if (gap < WAL_FRAME_HEADER_BYTES)
        gap += WAL_BLOCK_BYTES;
    image_pad(m, gap, s - 1);
    return s;
}

/* Regression (issue 11, item 5a): the idle marker written after a group has no sync of its own;
 * with RWF_DSYNC the next group's write syncs only its own range, so a marker that ends a page,
 * followed by a group on the next page, is lost in a power cut while that group, acknowledged,
 * survives. The scan stopped at the lost marker and cut the acknowledged group off as a torn tail
 * (or, with a later group vouching for it, refused the WAL as corrupt). Every kind of lost marker,
 * buffered (one header) and O_DIRECT (one block), with and without a later group. */
static void test_wal_lost_marker_before_an_acknowledged_group(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    const uint64_t markers[] = {WAL_FRAME_HEADER_BYTES, WAL_BLOCK_BYTES};
    for (size_t mk = 0; mk < 2; mk++) {
        for (int kind = GAP_ZEROS; kind <= GAP_TORN; kind++) {
            for (int vouched = 0; vouched <= 1; vouched++) {
                char sub[TEST_PATH_MAX];
                TEST_FMT(sub, "%s/m%zu-k%d-v%d", f->dir, mk, kind, vouched);
                assert_int_equal(mkdir(sub, 0755), 0);
                image m;
                image_init(&m, 1, 1);
                uint64_t s = image_acked_prefix(&m, markers[mk]);
                image_lost_marker(&m, markers[mk], s, (gap_kind)kind);
                assert_int_equal(m.off % WAL_BLOCK_BYTES, 0); /* the group starts a page */
                image_record(&m, s + 1, s); /* the group after the marker, acknowledged */
                image_record(&m, s + 2, s);
                uint64_t last = s + 2;
                if (vouched) {
                    image_record(&m, s + 3, s + 2); /* a later group: s+1 was durable */
                    last++;
                }
                image_write(&m, sub, 1);

                collector c;
                wal_scan_report rep;
                seglog_error err = {0};
                int rc = scan(sub, 1, &c, &rep, &err);
                if (rc != SEGLOG_OK || c.count != last)
                    fail_msg("marker %llu kind %d vouched %d: scan = %d, %llu records of %llu "
                             "(%s%s)",
                             (unsigned long long)markers[mk], kind, vouched, rc,
                             (unsigned long long)c.count, (unsigned long long)last, err.message,
                             rep.end_reason);
                assert_int_equal(c.bad, 0);
                assert_int_equal(rep.end, WAL_END_CLEAN);
                reopen_keeps_prefix(sub, &o, last);
            }
        }
    }
}

/* What a lost marker may not hide: a gap followed by anything but the next record, vouched for
 * by nothing, is still a torn tail (the next record itself is missing, or the gap is no marker). */
static void test_wal_gap_that_is_no_lost_marker(void **state)
{
    fixture *f = *state;
    const struct {
        uint64_t gap;    /* bytes lost */
        uint64_t skip;   /* records missing after the gap */
        uint64_t synced; /* what the frame after the gap says was durable, below the prefix */
    } cases[] = {
        {WAL_FRAME_HEADER_BYTES, 1, 0}, /* the next record is lost with the marker */
        {64, 0, 0},                     /* no marker is 64 bytes long */
        {WAL_BLOCK_BYTES + 8, 0, 0},    /* nor a block and 8 */
        {WAL_FRAME_HEADER_BYTES, 0, 1}, /* submitted while the prefix was still in flight */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sub[TEST_PATH_MAX];
        TEST_FMT(sub, "%s/c%zu", f->dir, i);
        assert_int_equal(mkdir(sub, 0755), 0);
        image m;
        image_init(&m, 1, 1);
        uint64_t s = image_acked_prefix(&m, WAL_FRAME_HEADER_BYTES);
        m.off += cases[i].gap;
        image_record(&m, s + 1 + cases[i].skip, s - cases[i].synced);
        image_write(&m, sub, 1);
        collector c;
        wal_scan_report rep;
        seglog_error err = {0};
        int rc = scan(sub, 1, &c, &rep, &err);
        if (rc != SEGLOG_OK)
            fail_msg("case %zu: scan = %d (%s)", i, rc, err.message);
        assert_int_equal(c.count, s);
        assert_int_equal(rep.end, WAL_END_TORN);
    }
}

/* The same lost marker at the end of a file, the next group at the start of the next file
 * (rotation does not sync the old file): torn, the marker read as damage at the old file's end,
 * and the next file's records as "written after" that end: the WAL could not be opened. */
static void test_wal_torn_marker_at_a_file_end(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    image m;
    image_init(&m, 1, 1);
    for (uint64_t s = 1; s <= 10; s++)
        image_record(&m, s, s - 1);
    image_lost_marker(&m, WAL_FRAME_HEADER_BYTES, 10, GAP_TORN);
    image_write(&m, f->dir, 1);
    image_init(&m, 2, 2);
    image_record(&m, 11, 10);
    image_record(&m, 12, 11);
    image_write(&m, f->dir, 2);
    collector c;
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = scan(f->dir, 1, &c, &rep, &err);
    if (rc != SEGLOG_OK)
        fail_msg("scan = %d (%s)", rc, err.message);
    assert_int_equal(c.count, 12);
    assert_int_equal(c.bad, 0);
    reopen_keeps_prefix(f->dir, &o, 12);
}

/* Regression (issue 11, item 5b): recycling renames wal-<old> to wal-<new>.log.tmp, writes and
 * syncs <new>'s header, renames it to wal-<new>.log. A power cut before the renames were durable
 * left wal-<old>.log with <new>'s header over <old>'s frames, and open refused: "header ... is
 * damaged but the file holds records". Such a file lies wholly before the replay start (it was
 * recycled because the checkpoint had passed it): it holds nothing needed and is removed. One that
 * holds a record at or after the replay start is still refused. */
static void write_recycled_pair(const char *dir, bool header_crc_ok)
{
    image m;
    image_init(&m, 3, 1); /* wal-1 with wal-3's header: the recycling was cut */
    if (!header_crc_ok)
        m.buf[12] ^= 0x01; /* or a header that is plainly damaged */
    for (uint64_t s = 1; s <= 5; s++)
        image_record(&m, s, s - 1);
    image_pad(&m, WAL_FRAME_HEADER_BYTES, 5);
    image_write(&m, dir, 1);
    image_init(&m, 2, 2);
    for (uint64_t s = 6; s <= 10; s++)
        image_record(&m, s, s - 1);
    image_write(&m, dir, 2);
}

static void test_wal_recycled_header_behind_the_replay_start(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    char path1[TEST_PATH_MAX];
    TEST_FMT(path1, "%s/wal-0000000000000001.log", f->dir);
    for (int crc_ok = 1; crc_ok >= 0; crc_ok--) {
        write_recycled_pair(f->dir, crc_ok);
        /* replay from 5 or from the start: file 1 holds needed records behind a bad header */
        const uint64_t needs[] = {1, 5};
        for (size_t i = 0; i < 2; i++) {
            collector c;
            wal_scan_report rep;
            seglog_error err = {0};
            assert_int_equal(scan(f->dir, needs[i], &c, &rep, &err), SEGLOG_ECORRUPT);
            assert_non_null(strstr(err.message, "wal-0000000000000001.log"));
            assert_non_null(strstr(err.message, "header"));
            wal *w = NULL;
            assert_int_equal(wal_open(&w, f->dir, &o, needs[i], NULL, NULL, NULL, &err),
                             SEGLOG_ECORRUPT);
            assert_null(w);
            assert_int_equal(access(path1, F_OK), 0);
        }
        /* replay from 6: nothing in file 1 is needed */
        collector c;
        wal_scan_report rep;
        seglog_error err = {0};
        int rc = scan(f->dir, 6, &c, &rep, &err);
        if (rc != SEGLOG_OK)
            fail_msg("scan from 6 = %d (%s)", rc, err.message);
        assert_int_equal(c.count, 5);
        assert_int_equal(c.first, 6);
        assert_int_equal(c.bad, 0);
        assert_int_equal(access(path1, F_OK), 0); /* the read-only scan changed nothing */
        memset(&c, 0, sizeof c);
        wal *w = open_ok(f->dir, &o, 6, &c, &rep);
        assert_int_equal(c.count, 5);
        assert_int_equal(c.first, 6);
        assert_int_equal(c.last, 10);
        append_sync_n(w, 11, 3);
        wal_close(w);
        assert_int_equal(access(path1, F_OK), -1); /* open removed it */
        memset(&c, 0, sizeof c);
        wal_close(open_ok(f->dir, &o, 6, &c, &rep));
        assert_int_equal(c.count, 8);
        assert_int_equal(c.bad, 0);
        test_rmtree(f->dir);
        assert_int_equal(mkdir(f->dir, 0700), 0);
    }
}

/* A file with a damaged header whose frames say that a record at or after the replay start was
 * durable holds something needed even when that record is not found: refused. Without such a
 * frame, a damaged-header file behind the replay start is dropped even when no later file holds a
 * record (the first group in the next file was not acknowledged and is gone). */
static void test_wal_damaged_header_vouching_for_needed_records(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    for (int vouching = 1; vouching >= 0; vouching--) {
        image m;
        image_init(&m, 3, 1);
        for (uint64_t s = 1; s <= 5; s++)
            image_record(&m, s, s - 1);
        if (vouching) {
            m.off += 64;                              /* record 6, lost */
            image_pad(&m, WAL_FRAME_HEADER_BYTES, 6); /* a marker after it */
        }
        image_write(&m, f->dir, 1);
        image_init(&m, 2, 2); /* prepared, and its first group lost */
        image_write(&m, f->dir, 2);
        collector c;
        wal_scan_report rep;
        seglog_error err = {0};
        wal *w = NULL;
        int rc = wal_open(&w, f->dir, &o, 6, collect, &c, &rep, &err);
        if (vouching) {
            assert_int_equal(rc, SEGLOG_ECORRUPT);
            assert_non_null(strstr(err.message, "wal-0000000000000001.log"));
            continue;
        }
        if (rc != SEGLOG_OK)
            fail_msg("open = %d (%s)", rc, err.message);
        append_sync_n(w, 6, 3);
        wal_close(w);
        memset(&c, 0, sizeof c);
        wal_close(open_ok(f->dir, &o, 6, &c, &rep));
        assert_int_equal(c.count, 3);
        assert_int_equal(c.first, 6);
        assert_int_equal(c.bad, 0);
    }
}

/* ---- injected faults --------------------------------------------------------------------------- */

typedef struct fault_case {
    wal_fault_op op;
    uint64_t nth;
    int result;
    bool persistent;
    wal_sync_mode mode;
    bool direct;
} fault_case;

static void run_fault_case(const char *dir, const fault_case *fc)
{
    wal_options o;
    small_options(&o);
    o.sync_mode = fc->mode;
    o.direct_io = fc->direct;
    wal_fault fault = {.op = fc->op, .nth = fc->nth, .result = fc->result,
                       .persistent = fc->persistent};
    o.faults = &fault;
    o.n_faults = 1;
    wal *w = open_ok(dir, &o, 1, NULL, NULL);
    uint8_t buf[256];
    uint64_t acked = 0;
    int rc = SEGLOG_OK;
    seglog_error err = {0};
    uint64_t s;
    for (s = 1; s <= fc->nth + 2; s++) {
        uint32_t len = payload_len(s);
        payload_fill(s, buf, len);
        rc = wal_append_sync(w, TYPE_DATA, buf, len, NULL, &err);
        if (rc != SEGLOG_OK)
            break;
        acked = s;
    }
    /* each append is its own group, so the nth write or fsync belongs to record nth */
    assert_int_equal(acked, fc->nth - 1);
    assert_int_equal(rc, SEGLOG_EIO);
    assert_non_null(strstr(err.message, "wal-"));
    assert_non_null(strstr(err.message, "offset"));
    wal_stats st0, st1;
    wal_stats_get(w, &st0);
    assert_true(st0.poisoned);
    assert_int_equal(st0.poison_errno,
                     fc->result == WAL_FAULT_SHORT ? EIO : -fc->result);
    for (int i = 0; i < 5; i++) {
        rc = wal_append_sync(w, TYPE_DATA, buf, 10, NULL, &err);
        assert_int_equal(rc, SEGLOG_EPOISONED);
        assert_int_equal(err.code, SEGLOG_EPOISONED);
    }
    wal_stats_get(w, &st1);
    assert_int_equal(st1.fsyncs_submitted, st0.fsyncs_submitted); /* never retried */
    assert_int_equal(st1.writes_submitted, st0.writes_submitted);
    wal_close(w);

    /* after a restart every acknowledged record is there, as a prefix; writing works again */
    wal_options clean;
    small_options(&clean);
    clean.sync_mode = fc->mode;
    clean.direct_io = fc->direct;
    collector c = {0};
    w = open_ok(dir, &clean, 1, &c, NULL);
    assert_true(c.count >= acked);
    assert_true(c.count <= acked + 1); /* the failed group may have reached the disk anyway */
    assert_int_equal(c.bad, 0);
    append_sync_n(w, c.count + 1, 3);
    wal_close(w);
}

static void test_wal_fault_injection(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    const fault_case cases[] = {
        {WAL_FAULT_WRITE, 1, -EIO, false, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_WRITE, 7, -EIO, false, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_WRITE, 1, -ENOSPC, false, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_WRITE, 7, -ENOSPC, true, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_WRITE, 1, WAL_FAULT_SHORT, true, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_WRITE, 7, WAL_FAULT_SHORT, true, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_FSYNC, 1, -EIO, false, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_FSYNC, 7, -EIO, false, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_FSYNC, 1, -ENOSPC, false, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_FSYNC, 7, -ENOSPC, true, WAL_SYNC_LINKED_FDATASYNC, false},
        {WAL_FAULT_WRITE, 1, -EIO, false, WAL_SYNC_RWF_DSYNC, false},
        {WAL_FAULT_WRITE, 7, -ENOSPC, false, WAL_SYNC_RWF_DSYNC, false},
        {WAL_FAULT_WRITE, 7, WAL_FAULT_SHORT, true, WAL_SYNC_RWF_DSYNC, false},
        {WAL_FAULT_WRITE, 7, WAL_FAULT_SHORT, true, WAL_SYNC_LINKED_FDATASYNC, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sub[TEST_PATH_MAX];
        TEST_FMT(sub, "%s/case%zu", f->dir, i);
        assert_int_equal(mkdir(sub, 0755), 0);
        run_fault_case(sub, &cases[i]);
    }
}

/* A failure with many groups in flight: every completion after the first failed one fails too,
 * so no record is ever acknowledged behind a failed one. */
static void test_wal_failure_with_groups_in_flight(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    for (uint64_t nth = 2; nth <= 6; nth++) {
        char sub[TEST_PATH_MAX];
        TEST_FMT(sub, "%s/n%llu", f->dir, (unsigned long long)nth);
        assert_int_equal(mkdir(sub, 0755), 0);
        wal_options o;
        small_options(&o);
        o.inflight_groups = 8;
        o.group_max_records = 4;
        wal_fault fault = {.op = WAL_FAULT_WRITE, .nth = nth, .result = -EIO};
        o.faults = &fault;
        o.n_faults = 1;
        wal *w = open_ok(sub, &o, 1, NULL, NULL);
        async_count a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
        uint64_t accepted = 0;
        uint8_t rec[64] = {7};
        for (int i = 0; i < 200; i++) {
            seglog_error err = {0};
            if (wal_append(w, TYPE_DATA, rec, sizeof rec, ok_then_fail_done, &a, NULL, &err) ==
                SEGLOG_OK)
                accepted++;
        }
        wal_close(w);
        assert_int_equal(a.ok + a.failed, accepted);
        assert_int_equal(a.out_of_order, 0); /* here: an OK after a failure */
        assert_true(a.failed > 0);
        assert_true(a.ok < (nth - 1) * 4 + 1);
    }
}

/* Options may change between opens: a larger record limit and file size, smaller spares. */
static void test_wal_options_change_between_opens(void **state)
{
    fixture *f = *state;
    wal_options o;
    tiny_file_options(&o);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    append_async_n(w, 1, 3000);
    wal_close(w);
    wal_options big;
    wal_options_init(&big);
    big.file_size_bytes = 256u << 10;
    big.group_max_bytes = 64u << 10;
    big.record_max_bytes = 32u << 10;
    collector c = {0};
    w = open_ok(f->dir, &big, 1, &c, NULL);
    assert_int_equal(c.count, 3000);
    append_async_n(w, 3001, 3000);
    wal_close(w);
    memset(&c, 0, sizeof c);
    w = open_ok(f->dir, &o, 1, &c, NULL);
    assert_int_equal(c.count, 6000);
    assert_int_equal(c.bad, 0);
    wal_close(w);
    wal_options zero;
    small_options(&zero);
    zero.spare_files = 0;
    seglog_error err = {0};
    w = NULL;
    assert_int_equal(wal_open(&w, f->dir, &zero, 1, NULL, NULL, NULL, &err), SEGLOG_EINVAL);
}

/* Writes DIR/wal-<no>.log: a valid header and zeros, as a prepared file that never got a record. */
static void write_empty_file(const char *dir, uint64_t no, uint64_t size)
{
    char name[WAL_FILE_NAME_MAX], path[TEST_PATH_MAX];
    wal_file_name(name, no);
    TEST_FMT(path, "%s/%s", dir, name);
    uint8_t *img = calloc(1, size);
    assert_non_null(img);
    wal_file_header h = {.format_version = WAL_FORMAT_VERSION,
                         .file_no = no,
                         .file_size = size,
                         .record_max = 4u << 10};
    wal_file_header_encode(img, &h);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(img, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
    free(img);
}

/* A file without a record before the first file that has one (the oldest file was rotated away
 * from before anything fit in it, and the process died before the preparer recycled it) is not
 * the end of the log: the records after it are the log. The scan used to end the log at the empty
 * file and then refuse the records after it as corruption, so the store would not open. Found by
 * fuzz_wal_recovery's wal_open mode. */
static void test_wal_empty_file_before_the_first_record(void **state)
{
    fixture *f = *state;
    wal_options o;
    tiny_file_options(&o);
    /* a damaged, empty file 1 is removed at open, so the WAL starts writing in file 2 */
    write_empty_file(f->dir, 1, o.file_size_bytes);
    char path[TEST_PATH_MAX], name[WAL_FILE_NAME_MAX];
    wal_file_name(name, 1);
    TEST_FMT(path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fputc(0x5a, fp), 0x5a); /* the header's magic */
    assert_int_equal(fclose(fp), 0);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    append_sync_n(w, 1, 20);
    wal_close(w);
    /* now an intact empty file 1 in front of file 2's records */
    write_empty_file(f->dir, 1, o.file_size_bytes);
    collector c = {0};
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = wal_scan_dir(f->dir, 1, collect, &c, &rep, &err);
    if (rc != SEGLOG_OK)
        fail_msg("scan: %s", err.message);
    assert_int_equal(c.count, 20);
    memset(&c, 0, sizeof c);
    w = open_ok(f->dir, &o, 1, &c, NULL);
    assert_int_equal(c.count, 20);
    assert_int_equal(c.bad, 0);
    append_sync_n(w, 21, 5);
    wal_close(w);
    /* open removed the empty file; the log reads on */
    assert_int_equal(access(path, F_OK), -1);
    memset(&c, 0, sizeof c);
    wal_close(open_ok(f->dir, &o, 1, &c, NULL));
    assert_int_equal(c.count, 25);
}

/* One short write is resubmitted, not taken for success and not fatal. */
static void test_wal_single_short_write_is_resubmitted(void **state)
{
    fixture *f = *state;
    if (!wal_faults_compiled())
        TEST_SKIP("fault injection not compiled in (-DSEGLOG_FAULT_INJECTION=ON)");
    for (int direct = 0; direct <= 1; direct++) {
        char sub[TEST_PATH_MAX];
        TEST_FMT(sub, "%s/d%d", f->dir, direct);
        assert_int_equal(mkdir(sub, 0755), 0);
        wal_options o;
        small_options(&o);
        o.direct_io = direct != 0;
        wal_fault fault = {.op = WAL_FAULT_WRITE, .nth = 3, .result = WAL_FAULT_SHORT};
        o.faults = &fault;
        o.n_faults = 1;
        wal *w = open_ok(sub, &o, 1, NULL, NULL);
        append_sync_n(w, 1, 10);
        wal_stats st;
        wal_stats_get(w, &st);
        assert_false(st.poisoned);
        assert_int_equal(st.short_writes, 1);
        wal_close(w);
        collector c = {0};
        o.faults = NULL;
        o.n_faults = 0;
        w = open_ok(sub, &o, 1, &c, NULL);
        assert_int_equal(c.count, 10);
        assert_int_equal(c.bad, 0);
        wal_close(w);
    }
}

/* ---- concurrency ------------------------------------------------------------------------------- */

#define PRODUCERS 16u
#define PER_PRODUCER 10000u

typedef struct conc {
    wal *w;
    uint64_t *seq_of;       /* [PRODUCERS * PER_PRODUCER] */
    atomic_uint *delivered; /* [PRODUCERS * PER_PRODUCER + 1], by sequence */
    atomic_ullong last_cb;
    atomic_uint out_of_order;
    atomic_uint failed;
    uint32_t id;
} conc;

typedef struct producer_arg {
    conc *c;
    uint32_t id;
} producer_arg;

static void conc_done(void *ctx, uint64_t seq, int status, const void *payload, uint32_t len)
{
    (void)payload;
    (void)len;
    conc *c = ctx;
    uint64_t prev = atomic_exchange(&c->last_cb, seq);
    if (seq != prev + 1)
        atomic_fetch_add(&c->out_of_order, 1);
    if (status != SEGLOG_OK)
        atomic_fetch_add(&c->failed, 1);
    if (seq <= PRODUCERS * PER_PRODUCER)
        atomic_fetch_add(&c->delivered[seq], 1);
}

static void *producer(void *arg)
{
    producer_arg *pa = arg;
    uint8_t rec[16];
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        memcpy(rec, &pa->id, 4);
        memcpy(rec + 4, &i, 4);
        memset(rec + 8, (int)(pa->id ^ i), 8);
        uint64_t seq = 0;
        seglog_error err = {0};
        int rc;
        do {
            rc = wal_append(pa->c->w, TYPE_DATA, rec, sizeof rec, conc_done, pa->c, &seq, &err);
        } while (rc == SEGLOG_EFULL);
        if (rc != SEGLOG_OK)
            return (void *)1;
        pa->c->seq_of[pa->id * PER_PRODUCER + i] = seq;
    }
    return NULL;
}

typedef struct order_check {
    uint32_t next[PRODUCERS];
    uint64_t count, bad;
} order_check;

static int check_order(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    (void)seq;
    order_check *oc = ctx;
    uint32_t id, i;
    const uint8_t *p = payload;
    if (type != TYPE_DATA || len != 16) {
        oc->bad++;
        return 0;
    }
    memcpy(&id, p, 4);
    memcpy(&i, p + 4, 4);
    if (id >= PRODUCERS || i != oc->next[id] || p[8] != (uint8_t)(id ^ i))
        oc->bad++;
    else
        oc->next[id]++;
    oc->count++;
    return 0;
}

static void test_wal_16_producers_exactly_once_in_order(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    o.file_size_bytes = 4u << 20;
    conc c = {0};
    c.w = open_ok(f->dir, &o, 1, NULL, NULL);
    c.seq_of = calloc(PRODUCERS * PER_PRODUCER, sizeof *c.seq_of);
    c.delivered = calloc(PRODUCERS * PER_PRODUCER + 1, sizeof *c.delivered);
    assert_non_null(c.seq_of);
    assert_non_null(c.delivered);
    pthread_t th[PRODUCERS];
    producer_arg pa[PRODUCERS];
    for (uint32_t p = 0; p < PRODUCERS; p++) {
        pa[p] = (producer_arg){.c = &c, .id = p};
        assert_int_equal(pthread_create(&th[p], NULL, producer, &pa[p]), 0);
    }
    for (uint32_t p = 0; p < PRODUCERS; p++) {
        void *ret;
        pthread_join(th[p], &ret);
        assert_null(ret);
    }
    wal_close(c.w); /* delivers everything */
    assert_int_equal(atomic_load(&c.out_of_order), 0);
    assert_int_equal(atomic_load(&c.failed), 0);
    assert_int_equal(atomic_load(&c.last_cb), PRODUCERS * PER_PRODUCER);
    for (uint64_t s = 1; s <= PRODUCERS * PER_PRODUCER; s++)
        assert_int_equal(atomic_load(&c.delivered[s]), 1);
    /* each producer's sequences increase */
    for (uint32_t p = 0; p < PRODUCERS; p++)
        for (uint32_t i = 1; i < PER_PRODUCER; i++)
            assert_true(c.seq_of[p * PER_PRODUCER + i] > c.seq_of[p * PER_PRODUCER + i - 1]);
    /* and on disk: one total order that keeps every producer's order */
    order_check oc = {0};
    wal_scan_report rep;
    seglog_error err = {0};
    assert_int_equal(wal_scan_dir(f->dir, 1, check_order, &oc, &rep, &err), SEGLOG_OK);
    assert_int_equal(oc.count, PRODUCERS * PER_PRODUCER);
    assert_int_equal(oc.bad, 0);
    for (uint32_t p = 0; p < PRODUCERS; p++)
        assert_int_equal(oc.next[p], PER_PRODUCER);
    free(c.seq_of);
    free(c.delivered);
}

/* ---- files: rotation, checkpoint, recycling ---------------------------------------------------- */

static void tiny_file_options(wal_options *o)
{
    wal_options_init(o);
    o->file_size_bytes = WAL_FILE_SIZE_MIN_BYTES; /* 64 KiB: a rotation every ~500 records */
    o->group_max_bytes = 16u << 10;
    o->record_max_bytes = 4u << 10;
}

static void test_wal_rotation_across_many_files(void **state)
{
    fixture *f = *state;
    wal_options o;
    tiny_file_options(&o);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    append_async_n(w, 1, 20000);
    append_sync_n(w, 20001, 100);
    wal_stats st;
    wal_stats_get(w, &st);
    assert_true(st.rotations >= 40);
    assert_int_equal(st.durable_seq, 20100);
    wal_close(w);
    collector c = {0};
    wal_scan_report rep;
    w = open_ok(f->dir, &o, 1, &c, &rep);
    assert_int_equal(c.count, 20100);
    assert_int_equal(c.bad, 0);
    assert_true(rep.files >= 40);
    wal_close(w);
}

static uint32_t count_wal_files(const char *dir)
{
    char cmd[TEST_PATH_MAX + 64];
    TEST_FMT(cmd, "ls '%s' | grep -c '^wal-.*\\.log$'", dir);
    FILE *p = popen(cmd, "r");
    unsigned n = 0;
    if (p) {
        if (fscanf(p, "%u", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

static void wait_for_files(wal *w, uint32_t max_live)
{
    for (int i = 0; i < 1000; i++) { /* at most 10 s */
        wal_stats st;
        wal_stats_get(w, &st);
        if (st.live_files <= max_live && st.spare_files >= 1)
            return;
        usleep(10000);
    }
    fail_msg("the preparer did not catch up within 10 s");
}

static void test_wal_checkpoint_removes_only_safe_files(void **state)
{
    fixture *f = *state;
    wal_options o;
    tiny_file_options(&o);
    o.spare_files = 2;
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    append_async_n(w, 1, 10000);
    wal_stats st;
    wal_stats_get(w, &st);
    uint32_t live_before = st.live_files;
    assert_true(live_before >= 15);
    /* a checkpoint of 0 removes nothing */
    wal_checkpoint(w, 0);
    usleep(50000);
    wal_stats_get(w, &st);
    assert_int_equal(st.live_files, live_before);
    assert_int_equal(st.files_removed + st.files_recycled, 0);

    wal_checkpoint(w, 5000);
    wait_for_files(w, live_before / 2 + 2);
    wal_stats_get(w, &st);
    assert_true(st.files_removed + st.files_recycled > 0);
    assert_true(st.live_files < live_before);
    /* recycled files are written again: their old frames must not confuse recovery */
    append_async_n(w, 10001, 10000);
    wal_stats_get(w, &st);
    assert_true(st.files_recycled > 0); /* old files are reused, not deleted and re-created */
    wal_close(w);

    /* everything after the checkpoint survives; a replay from there needs nothing removed */
    collector c = {0};
    wal_scan_report rep;
    w = open_ok(f->dir, &o, 5001, &c, &rep);
    assert_int_equal(c.first, 5001);
    assert_int_equal(c.last, 20000);
    assert_int_equal(c.count, 15000);
    assert_int_equal(c.bad, 0);
    assert_true(rep.first_seq <= 5001);
    assert_true(rep.first_seq > 1); /* and some of what came before is gone */
    wal_checkpoint(w, 20000);
    wait_for_files(w, 1);
    wal_close(w);
    assert_true(count_wal_files(f->dir) <= 1 + 2 * 2); /* live + spares + reserve */
    /* the newest records are never removed */
    memset(&c, 0, sizeof c);
    w = open_ok(f->dir, &o, 20001, &c, &rep);
    assert_int_equal(rep.last_seq, 20000);
    append_sync_n(w, 20001, 5);
    wal_close(w);
}

/* ---- backpressure, lock, version, modes -------------------------------------------------------- */

typedef struct blocker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool release;
    bool entered;
    atomic_uint completed;
} blocker;

static void blocking_done(void *ctx, uint64_t seq, int status, const void *payload, uint32_t len)
{
    (void)payload;
    (void)len;
    (void)seq;
    (void)status;
    blocker *b = ctx;
    pthread_mutex_lock(&b->mu);
    b->entered = true;
    pthread_cond_broadcast(&b->cv);
    while (!b->release)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    atomic_fetch_add(&b->completed, 1);
}

static void test_wal_full_queue_is_bounded_backpressure(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    o.group_max_records = 1;
    o.inflight_groups = 1;
    o.enqueue_timeout_ms = 50;
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    blocker b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    uint8_t rec[8] = {1};
    seglog_error err = {0};
    /* the first completion stalls the WAL thread, so nothing drains */
    assert_int_equal(wal_append(w, TYPE_DATA, rec, 8, blocking_done, &b, NULL, &err), SEGLOG_OK);
    pthread_mutex_lock(&b.mu);
    while (!b.entered)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    uint32_t accepted = 1;
    int rc = SEGLOG_OK;
    uint64_t t0 = test_now_ns();
    for (int i = 0; i < 100 && rc == SEGLOG_OK; i++) {
        rc = wal_append(w, TYPE_DATA, rec, 8, blocking_done, &b, NULL, &err);
        if (rc == SEGLOG_OK)
            accepted++;
    }
    uint64_t waited_ms = (test_now_ns() - t0) / 1000000u;
    assert_int_equal(rc, SEGLOG_EFULL);
    assert_non_null(strstr(err.message, "queue full"));
    assert_true(accepted <= 4); /* (inflight + 2) slots of one record */
    assert_true(waited_ms >= 40);  /* it did wait for the bounded time ... */
    pthread_mutex_lock(&b.mu);
    b.release = true;
    pthread_cond_broadcast(&b.cv);
    pthread_mutex_unlock(&b.mu);
    wal_close(w); /* ... and every accepted record completes */
    assert_int_equal(atomic_load(&b.completed), accepted);
}

static void test_wal_directory_lock(void **state)
{
    fixture *f = *state;
    wal_options o;
    small_options(&o);
    wal *w = open_ok(f->dir, &o, 1, NULL, NULL);
    wal *w2 = NULL;
    seglog_error err = {0};
    assert_int_equal(wal_open(&w2, f->dir, &o, 1, NULL, NULL, NULL, &err), SEGLOG_EBUSY);
    assert_null(w2);
    assert_non_null(strstr(err.message, "in use"));
    wal_close(w);
    w = open_ok(f->dir, &o, 1, NULL, NULL);
    wal_close(w);
}

static void test_wal_unknown_format_version(void **state)
{
    fixture *f = *state;
    uint8_t hdr[WAL_FILE_HEADER_BYTES];
    wal_file_header h = {.format_version = 99, .file_no = 1, .file_size = 1u << 20,
                         .record_max = 1024};
    wal_file_header_encode(hdr, &h);
    char path[TEST_PATH_MAX];
    assert_int_equal(test_path(path, f->dir, FIRST_FILE), 0);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    wal_options o;
    small_options(&o);
    wal *w = NULL;
    seglog_error err = {0};
    assert_int_equal(wal_open(&w, f->dir, &o, 1, NULL, NULL, NULL, &err), SEGLOG_EVERSION);
    assert_null(w);
    assert_non_null(strstr(err.message, "version 99"));
}

static void test_wal_sync_modes_round_trip(void **state)
{
    fixture *f = *state;
    for (int mode = 0; mode < 4; mode++) {
        char sub[TEST_PATH_MAX];
        TEST_FMT(sub, "%s/m%d", f->dir, mode);
        assert_int_equal(mkdir(sub, 0755), 0);
        wal_options o;
        small_options(&o);
        o.sync_mode = (mode & 1) ? WAL_SYNC_RWF_DSYNC : WAL_SYNC_LINKED_FDATASYNC;
        o.direct_io = (mode & 2) != 0;
        wal *w = open_ok(sub, &o, 1, NULL, NULL);
        append_sync_n(w, 1, 20);
        append_async_n(w, 21, 3000);
        wal_close(w);
        collector c = {0};
        /* reopen with the other I/O kind: buffered after direct, direct after buffered */
        o.direct_io = !o.direct_io;
        w = open_ok(sub, &o, 1, &c, NULL);
        assert_int_equal(c.count, 3020);
        assert_int_equal(c.bad, 0);
        append_async_n(w, 3021, 500);
        wal_close(w);
        memset(&c, 0, sizeof c);
        w = open_ok(sub, &o, 1, &c, NULL);
        assert_int_equal(c.count, 3520);
        assert_int_equal(c.bad, 0);
        wal_close(w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_frame_round_trip),
        cmocka_unit_test_setup_teardown(test_wal_reopen_after_clean_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_append_argument_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_truncate_last_record_every_offset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_bitflip_last_record_every_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_zero_filled_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_torn_group_vs_durable_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_damage_to_last_acknowledged_record_is_an_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_corruption_mid_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_lost_marker_before_an_acknowledged_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_gap_that_is_no_lost_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_torn_marker_at_a_file_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_recycled_header_behind_the_replay_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_damaged_header_vouching_for_needed_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_fault_injection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_single_short_write_is_resubmitted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_failure_with_groups_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_options_change_between_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_empty_file_before_the_first_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_16_producers_exactly_once_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_rotation_across_many_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpoint_removes_only_safe_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_full_queue_is_bounded_backpressure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_directory_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_unknown_format_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_sync_modes_round_trip, setup, teardown),
    };
    return TEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
