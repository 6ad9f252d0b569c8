/*
 * fuzz_wal_recovery.c — libFuzzer target: WAL recovery over arbitrary directory images.
 *
 * The input becomes one to three WAL files in a scratch directory (made once per process), and
 * wal_scan_dir — the scan that wal_open and the offline tools run — reads them. Input: byte 0
 * flags (bits 0-1: number of files - 1, capped at 3; bit 2: keep the input's own file headers
 * instead of writing valid ones; bit 3: fix the frame CRCs up, see fuzz_common.h; bit 4: stamp
 * each file's number into its frames; bit 5: run the recovery itself, wal_open, instead of the
 * read-only scan; bit 6: replay from a sequence taken from byte 1 instead of 1), byte 1 the first
 * file number, then the files' bytes, split evenly. Properties: the scan returns OK, ECORRUPT or
 * EVERSION (nothing else, no crash); the replayed records come in strictly increasing sequence
 * order, none below the replay start; the report is consistent (replayed <= records, last_seq >=
 * first_seq when there were records). wal_open, when it succeeds (cutting a torn tail, adopting
 * and preparing files), leaves a WAL that takes an append with a later sequence, and a scan after
 * close finds that record; when it fails, a read-only scan fails the same way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[256];

typedef struct replay_state {
    uint64_t from_seq;
    uint64_t last_seq;
    uint64_t n;
    bool last_is_probe; /* the last record replayed is the probe wal_open's WAL took */
} replay_state;

#define PROBE "fuzz-probe"

static int replay(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    replay_state *r = ctx;
    FUZZ_REQUIRE(seq > r->last_seq);
    FUZZ_REQUIRE(seq >= r->from_seq);
    r->last_is_probe = type == WAL_TYPE_USER_MIN && len == sizeof PROBE - 1 &&
                       memcmp(payload, PROBE, len) == 0;
    FUZZ_REQUIRE(type >= WAL_TYPE_USER_MIN);
    FUZZ_REQUIRE(payload != NULL || len == 0);
    if (len > 0) /* touch every byte: ASan checks that the payload is all readable */
        FUZZ_REQUIRE(((const volatile uint8_t *)payload)[len - 1] ==
                     ((const uint8_t *)payload)[len - 1]);
    r->last_seq = seq;
    r->n++;
    return 0;
}

static void clear_dir(void)
{
    for (unsigned i = 0; i < 260; i++) {
        char name[WAL_FILE_NAME_MAX], path[512];
        wal_file_name(name, i);
        snprintf(path, sizeof path, "%s/%s", g_dir, name);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.tmp", g_dir, name);
        unlink(path);
    }
}

/* wal_open over the image: recovery proper (see the properties above). */
static void open_and_probe(uint64_t from_seq)
{
    wal_options o;
    wal_options_init(&o);
    o.file_size_bytes = 1u << 20;
    o.group_max_bytes = 1u << 17;
    o.record_max_bytes = 1u << 16;
    o.spare_files = 1;
    o.direct_io = false; /* TMPDIR may be a tmpfs */
    wal *w = NULL;
    replay_state r = {.from_seq = from_seq};
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = wal_open(&w, g_dir, &o, from_seq, replay, &r, &rep, &err);
    FUZZ_REQUIRE(rc == SEGLOG_OK || rc == SEGLOG_ECORRUPT || rc == SEGLOG_EVERSION ||
                 rc == SEGLOG_EIO);
    if (rc != SEGLOG_OK) {
        FUZZ_REQUIRE(err.message[0] != 0);
        FUZZ_REQUIRE(w == NULL);
        replay_state r2 = {.from_seq = from_seq};
        seglog_error err2 = {0};
        FUZZ_REQUIRE(wal_scan_dir(g_dir, from_seq, replay, &r2, &rep, &err2) == rc);
        return;
    }
    FUZZ_REQUIRE(rep.replayed == r.n);
    uint64_t seq = 0;
    rc = wal_append_sync(w, WAL_TYPE_USER_MIN, PROBE, sizeof PROBE - 1, &seq, &err);
    FUZZ_REQUIRE(rc == SEGLOG_OK);
    FUZZ_REQUIRE(seq > rep.last_seq);
    wal_close(w);
    replay_state r3 = {.from_seq = seq};
    seglog_error err3 = {0};
    rc = wal_scan_dir(g_dir, seq, replay, &r3, &rep, &err3);
    if (rc != SEGLOG_OK)
        fprintf(stderr, "fuzz: probe seq %llu: rescan: %s\n", (unsigned long long)seq, err3.message);
    FUZZ_REQUIRE(rc == SEGLOG_OK);
    FUZZ_REQUIRE(r3.n == 1 && r3.last_seq == seq && r3.last_is_probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_dir[0] == 0) {
        const char *base = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/seglog-fuzz-wal-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(g_dir))
            abort();
    }
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    unsigned files = 1u + (flags & 3u);
    if (files > 3)
        files = 3;
    uint64_t first_no = 1u + data[1] % 250u;
    data += 2;
    size -= 2;
    clear_dir();
    size_t per = size / files;
    for (unsigned i = 0; i < files; i++) {
        const uint8_t *part = data + i * per;
        size_t plen = i + 1 == files ? size - i * per : per;
        uint64_t file_no = first_no + i;
        size_t total = (flags & 4) ? plen : WAL_FILE_HEADER_BYTES + plen;
        uint8_t *img = calloc(1, total + 1);
        if (!img)
            return 0;
        if (flags & 4) {
            memcpy(img, part, plen);
        } else {
            wal_file_header h = {.format_version = WAL_FORMAT_VERSION,
                                 .file_no = file_no,
                                 .file_size = total,
                                 .record_max = 1u << 16};
            wal_file_header_encode(img, &h);
            memcpy(img + WAL_FILE_HEADER_BYTES, part, plen);
            uint8_t *frames = img + WAL_FILE_HEADER_BYTES;
            if (flags & 16) { /* this file's number in every frame that fits */
                uint64_t off = 0;
                while (off + WAL_FRAME_HEADER_BYTES <= plen) {
                    wal_put32(frames + off + 24, (uint32_t)file_no);
                    uint64_t fs = wal_frame_size(wal_get32(frames + off + 4));
                    if (fs > plen - off)
                        break;
                    off += fs;
                }
            }
            if (flags & 8)
                fuzz_fix_crcs(frames, plen);
        }
        char name[WAL_FILE_NAME_MAX], path[512];
        wal_file_name(name, file_no);
        snprintf(path, sizeof path, "%s/%s", g_dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            if (write(fd, img, total) != (ssize_t)total)
                abort();
            close(fd);
        }
        free(img);
    }
    uint64_t from_seq = (flags & 64) ? 1u + first_no / 8u : 1u;
    if (flags & 32) {
        open_and_probe(from_seq);
        return 0;
    }
    replay_state r = {.from_seq = from_seq};
    wal_scan_report rep;
    seglog_error err = {0};
    int rc = wal_scan_dir(g_dir, from_seq, replay, &r, &rep, &err);
    FUZZ_REQUIRE(rc == SEGLOG_OK || rc == SEGLOG_ECORRUPT || rc == SEGLOG_EVERSION ||
                 rc == SEGLOG_EIO);
    if (rc == SEGLOG_OK) {
        FUZZ_REQUIRE(rep.replayed == r.n);
        FUZZ_REQUIRE(rep.replayed <= rep.records);
        FUZZ_REQUIRE(rep.records == 0 || rep.last_seq >= rep.first_seq);
        FUZZ_REQUIRE(r.n == 0 || r.last_seq == rep.last_seq);
    } else {
        FUZZ_REQUIRE(err.message[0] != 0);
    }
    return 0;
}
