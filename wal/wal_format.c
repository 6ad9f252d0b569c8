/*
 * wal_format.c — the WAL's on-disk format: encoding and checking of frames and file headers
 * (no I/O).
 *
 * Kept apart from the writer (wal.c, wal_prepare.c) so that the recovery scan (wal_scan.c), the
 * tests and the fuzz targets share exactly one parser, and so that every byte read from disk is
 * checked here before it sizes anything. This is the one description of the format; the other
 * files refer to it.
 *
 * ON-DISK FORMAT (little-endian)
 *   Directory: files wal-<16 lowercase hex digits>.log, numbered upwards, all of one size
 *   (file_size_bytes, 64 MiB by default), and the lock file wal.lock. A name ending in .tmp is a
 *   file being prepared; the scan at open removes such leftovers.
 *   File: a 4 KiB header block ("SEGLOGWL", format version, file number, size, record limit,
 *   CRC32C; the byte layout is above wal_file_header_encode), then frames from offset 4096. A
 *   frame is a 32-byte header and the payload, padded to 8 bytes:
 *       crc u32 | len u32 | seq u64 | synced_seq u64 | file_no u32 | type u8 | flags u8 | 0 u16
 *   crc is CRC32C over the payload and then header bytes 4..31, so producers checksum their
 *   payload as they copy it in and the WAL thread completes it over 28 bytes when it stamps the
 *   two fields only it knows: file_no (the low 32 bits of the file's number; a recycled file's old
 *   frames carry their old number and read as "stale", i.e. unwritten) and synced_seq (every
 *   record <= synced_seq was durable when this frame was submitted). Type 1 is padding (O_DIRECT
 *   groups end on 4 KiB), also used as a "marker" written whenever the WAL goes idle, to vouch for
 *   the groups before it (a bare header, or one block under O_DIRECT). Types below 16 belong to
 *   the WAL (only 1 is used); the layer above uses 16..255.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wal_internal.h"

/* Frame header layout (little-endian):
 *   0 u32 crc  4 u32 len  8 u64 seq  16 u64 synced_seq  24 u32 file_no  28 u8 type  29 u8 flags
 *   30 u16 reserved
 * crc = CRC32C(payload, then header bytes 4..31). */
#define OFF_CRC 0
#define OFF_LEN 4
#define OFF_SEQ 8
#define OFF_SYNCED 16
#define OFF_FILE 24
#define OFF_TYPE 28
#define OFF_FLAGS 29
#define OFF_RESERVED 30

/* Padding frames fill at most one block plus a header's worth. */
#define WAL_PAD_MAX_BYTES (2u * WAL_BLOCK_BYTES)

uint64_t wal_frame_encode_begin(uint8_t *dst, const wal_frame *hdr, const struct iovec *iov,
                                int iovcnt)
{
    uint8_t *p = dst + WAL_FRAME_HEADER_BYTES;
    uint32_t crc = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        crc = wal_crc32c(crc, p, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    uint64_t size = wal_frame_size(hdr->len);
    memset(p, 0, (size_t)(dst + size - p));
    wal_put32(dst + OFF_CRC, crc); /* the payload's CRC until wal_frame_finish */
    wal_put32(dst + OFF_LEN, hdr->len);
    wal_put64(dst + OFF_SEQ, hdr->seq);
    wal_put64(dst + OFF_SYNCED, hdr->synced_seq);
    wal_put32(dst + OFF_FILE, hdr->file_no);
    dst[OFF_TYPE] = hdr->type;
    dst[OFF_FLAGS] = 0;
    dst[OFF_RESERVED] = 0;
    dst[OFF_RESERVED + 1] = 0;
    return size;
}

uint64_t wal_frame_finish(uint8_t *frame, uint32_t file_no, uint64_t synced_seq)
{
    wal_put64(frame + OFF_SYNCED, synced_seq);
    wal_put32(frame + OFF_FILE, file_no);
    uint32_t crc = wal_get32(frame + OFF_CRC);
    crc = wal_crc32c(crc, frame + OFF_LEN, WAL_FRAME_HEADER_BYTES - OFF_LEN);
    wal_put32(frame + OFF_CRC, crc);
    return wal_frame_size(wal_get32(frame + OFF_LEN));
}

uint64_t wal_frame_encode(uint8_t *dst, const wal_frame *hdr, const struct iovec *iov, int iovcnt)
{
    uint64_t size = wal_frame_encode_begin(dst, hdr, iov, iovcnt);
    wal_frame_finish(dst, hdr->file_no, hdr->synced_seq);
    return size;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

wal_frame_status wal_frame_check(const uint8_t *buf, uint64_t avail, uint32_t file_no,
                                 uint32_t record_max, wal_frame *out)
{
    if (avail < WAL_FRAME_HEADER_BYTES)
        return avail == 0 || all_zero(buf, (size_t)avail) ? WAL_FRAME_ZERO : WAL_FRAME_TRUNCATED;
    if (all_zero(buf, WAL_FRAME_HEADER_BYTES))
        return WAL_FRAME_ZERO;
    wal_frame f;
    f.crc = wal_get32(buf + OFF_CRC);
    f.len = wal_get32(buf + OFF_LEN);
    f.seq = wal_get64(buf + OFF_SEQ);
    f.synced_seq = wal_get64(buf + OFF_SYNCED);
    f.file_no = wal_get32(buf + OFF_FILE);
    f.type = buf[OFF_TYPE];
    f.flags = buf[OFF_FLAGS];
    f.reserved = (uint16_t)(buf[OFF_RESERVED] | (buf[OFF_RESERVED + 1] << 8));
    if (f.file_no != file_no)
        return WAL_FRAME_STALE;
    uint32_t limit = f.type == WAL_TYPE_PAD ? WAL_PAD_MAX_BYTES : record_max;
    if (f.flags != 0 || f.reserved != 0 || f.len > limit ||
        (f.type != WAL_TYPE_PAD && (f.type < WAL_TYPE_USER_MIN || f.seq == 0)) ||
        (f.type == WAL_TYPE_PAD && f.seq != 0) || f.synced_seq >= UINT64_MAX / 2 ||
        (f.type != WAL_TYPE_PAD && f.synced_seq >= f.seq))
        return WAL_FRAME_BAD;
    if (wal_frame_size(f.len) > avail)
        return WAL_FRAME_TRUNCATED;
    uint32_t crc = wal_crc32c(0, buf + WAL_FRAME_HEADER_BYTES, f.len);
    crc = wal_crc32c(crc, buf + OFF_LEN, WAL_FRAME_HEADER_BYTES - OFF_LEN);
    if (crc != f.crc)
        return WAL_FRAME_BAD;
    if (out)
        *out = f;
    return WAL_FRAME_OK;
}

/* File header layout: 0 "SEGLOGWL"  8 u32 format_version  12 u32 header_crc (over bytes 0..63 with
 * this field zero)  16 u64 file_no  24 u64 file_size  32 u32 record_max  36..63 zero; the rest of
 * the block is zero. */
void wal_file_header_encode(uint8_t dst[WAL_FILE_HEADER_BYTES], const wal_file_header *h)
{
    memset(dst, 0, WAL_FILE_HEADER_BYTES);
    memcpy(dst, WAL_FILE_MAGIC, 8);
    wal_put32(dst + 8, h->format_version);
    wal_put64(dst + 16, h->file_no);
    wal_put64(dst + 24, h->file_size);
    wal_put32(dst + 32, h->record_max);
    wal_put32(dst + 12, wal_crc32c(0, dst, 64));
}

int wal_file_header_decode(const uint8_t *src, uint64_t avail, wal_file_header *out)
{
    if (avail < 64 || memcmp(src, WAL_FILE_MAGIC, 8) != 0)
        return SEGLOG_ECORRUPT;
    uint8_t copy[64];
    memcpy(copy, src, sizeof copy);
    uint32_t stored = wal_get32(copy + 12);
    wal_put32(copy + 12, 0);
    if (wal_crc32c(0, copy, sizeof copy) != stored)
        return SEGLOG_ECORRUPT;
    wal_file_header h = {
        .format_version = wal_get32(src + 8),
        .file_no = wal_get64(src + 16),
        .file_size = wal_get64(src + 24),
        .record_max = wal_get32(src + 32),
    };
    if (h.format_version != WAL_FORMAT_VERSION) {
        if (out)
            *out = h;
        return SEGLOG_EVERSION;
    }
    if (out)
        *out = h;
    return SEGLOG_OK;
}

void wal_file_name(char dst[WAL_FILE_NAME_MAX], uint64_t file_no)
{
    snprintf(dst, WAL_FILE_NAME_MAX, "wal-%016" PRIx64 ".log", file_no);
}

bool wal_file_name_parse(const char *name, uint64_t *file_no)
{
    if (strlen(name) != 24 || strncmp(name, "wal-", 4) != 0 || strcmp(name + 20, ".log") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = (v << 4) | d;
    }
    *file_no = v;
    return true;
}
