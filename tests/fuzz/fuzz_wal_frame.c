/*
 * fuzz_wal_frame.c — libFuzzer target: the WAL frame parser and file-header decoder
 * (wal/wal_format.c), the code every byte read back from a WAL goes through first.
 *
 * Input: byte 0 flags (bit 0: fix the CRCs up first, see fuzz_common.h), bytes 1..4 the file
 * number the frame must carry, bytes 5..8 the record size limit, the rest the bytes on disk.
 * Properties beyond "no crash, no sanitizer report": a frame that checks out fits in the bytes
 * given and re-encodes to exactly the same bytes; the header decoder never accepts a header that
 * does not re-encode to itself.
 */
#define _GNU_SOURCE
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    uint8_t flags = data[0];
    uint32_t file_no = wal_get32(data + 1);
    uint32_t record_max = wal_get32(data + 5) & ((1u << 20) - 1);
    size_t n = size - 9;
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 9, n);
    if (flags & 1)
        fuzz_fix_crcs(buf, n);

    /* every frame in a row, as the recovery scan walks them */
    uint64_t off = 0;
    while (off < n) {
        wal_frame f;
        wal_frame_status st = wal_frame_check(buf + off, n - off, file_no, record_max, &f);
        if (st != WAL_FRAME_OK)
            break;
        uint64_t fsize = wal_frame_size(f.len);
        FUZZ_REQUIRE(fsize <= n - off);
        FUZZ_REQUIRE(f.file_no == file_no);
        FUZZ_REQUIRE(f.type == WAL_TYPE_PAD || f.len <= record_max);
        /* re-encoding gives the same bytes (the alignment padding is not under the CRC) */
        uint8_t *re = calloc(1, fsize);
        if (!re)
            break;
        struct iovec iov = {.iov_base = buf + off + WAL_FRAME_HEADER_BYTES, .iov_len = f.len};
        FUZZ_REQUIRE(wal_frame_encode(re, &f, &iov, 1) == fsize);
        FUZZ_REQUIRE(memcmp(re, buf + off, WAL_FRAME_HEADER_BYTES + f.len) == 0);
        free(re);
        off += fsize;
    }

    /* the file header */
    wal_file_header h;
    int rc = wal_file_header_decode(buf, n, &h);
    if (rc == SEGLOG_OK) {
        uint8_t *re = malloc(WAL_FILE_HEADER_BYTES);
        if (re) {
            wal_file_header_encode(re, &h);
            FUZZ_REQUIRE(memcmp(re, buf, 64) == 0);
            free(re);
        }
    } else {
        FUZZ_REQUIRE(rc == SEGLOG_ECORRUPT || rc == SEGLOG_EVERSION);
    }

    /* file names */
    char name[WAL_FILE_NAME_MAX];
    size_t nl = n < sizeof name - 1 ? n : sizeof name - 1;
    memcpy(name, buf, nl);
    name[nl] = 0;
    uint64_t no;
    if (wal_file_name_parse(name, &no)) {
        char re[WAL_FILE_NAME_MAX];
        wal_file_name(re, no);
        FUZZ_REQUIRE(strcmp(re, name) == 0);
    }
    free(buf);
    return 0;
}
