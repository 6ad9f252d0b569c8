/*
 * store_codec.c — the byte formats of storage/: WAL operation records and the metadata values
 * kept in RocksDB. No I/O. Every length read from bytes is checked against the bytes there before
 * it sizes anything (these decoders see damaged and fuzzed input).
 *
 * Operation record (the WAL record's payload; its type byte is the store_op_type):
 *   u64 log_id | u64 version | u64 trim_point | u64 created_us          (store_log, 32 bytes)
 *   seg  (STORE_SEG_VALUE_BYTES + 16: log_id, seg_id, then the value)    (store_seg)
 *   seg2 (same)                                                          (SEAL_EXTEND's new one)
 *   u64 first_lsn | u32 n | u64 time_us | u32 n_dropped
 *   n x u32 record length | n_dropped x seg | the n payloads, concatenated
 * Segment value: u8 state | u64 base | u64 next_lsn | u64 sealed_at | u64 bytes | u64 cf_no |
 *   u64 reserved(0) | u64 reserved(0)  (57 bytes). Log value: u64 version | u64 trim_point |
 *   u64 created_us (24 bytes). All little-endian. Appending fields later means a longer value;
 *   decoders accept longer values and ignore the rest.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "wal_internal.h"

#define OP_FIXED_BYTES (32u + 2u * (STORE_SEG_VALUE_BYTES + 16u) + 24u)

static int codec_err(seglog_error *err, const char *what, uint64_t a, uint64_t b)
{
    if (err) {
        err->code = SEGLOG_ECORRUPT;
        err->os_errno = 0;
        err->module = "storage";
        snprintf(err->message, sizeof err->message, "storage: bad %s (%" PRIu64 " / %" PRIu64 ")",
                 what, a, b);
    }
    return SEGLOG_ECORRUPT;
}

void store_seg_encode(const store_seg *seg, uint8_t dst[STORE_SEG_VALUE_BYTES])
{
    dst[0] = seg->state;
    wal_put64(dst + 1, seg->base);
    wal_put64(dst + 9, seg->next_lsn);
    wal_put64(dst + 17, seg->sealed_at);
    wal_put64(dst + 25, seg->bytes);
    wal_put64(dst + 33, seg->cf_no);
    wal_put64(dst + 41, 0);
    wal_put64(dst + 49, 0);
}

int store_seg_decode(const uint8_t *src, size_t len, uint64_t log_id, uint64_t seg_id,
                     store_seg *out)
{
    if (len < STORE_SEG_VALUE_BYTES)
        return codec_err(NULL, "segment value length", len, STORE_SEG_VALUE_BYTES);
    store_seg s = {
        .log_id = log_id,
        .seg_id = seg_id,
        .state = src[0],
        .base = wal_get64(src + 1),
        .next_lsn = wal_get64(src + 9),
        .sealed_at = wal_get64(src + 17),
        .bytes = wal_get64(src + 25),
        .cf_no = wal_get64(src + 33),
    };
    if (s.state < STORE_SEG_OPEN || s.state > STORE_SEG_TRIMMED || s.base == 0 ||
        s.next_lsn < s.base || (s.state == STORE_SEG_SEALED && s.sealed_at != s.next_lsn))
        return SEGLOG_ECORRUPT;
    *out = s;
    return SEGLOG_OK;
}

void store_log_encode(const store_log *log, uint8_t dst[STORE_LOG_VALUE_BYTES])
{
    wal_put64(dst, log->version);
    wal_put64(dst + 8, log->trim_point);
    wal_put64(dst + 16, log->created_us);
}

int store_log_decode(const uint8_t *src, size_t len, uint64_t log_id, store_log *out)
{
    if (len < STORE_LOG_VALUE_BYTES)
        return SEGLOG_ECORRUPT;
    store_log l = {.log_id = log_id,
                   .version = wal_get64(src),
                   .trim_point = wal_get64(src + 8),
                   .created_us = wal_get64(src + 16)};
    if (l.version == 0)
        return SEGLOG_ECORRUPT;
    *out = l;
    return SEGLOG_OK;
}

static uint8_t *put_seg(uint8_t *p, const store_seg *s)
{
    wal_put64(p, s->log_id);
    wal_put64(p + 8, s->seg_id);
    store_seg_encode(s, p + 16);
    return p + 16 + STORE_SEG_VALUE_BYTES;
}

static const uint8_t *get_seg(const uint8_t *p, store_seg *s)
{
    uint64_t log_id = wal_get64(p), seg_id = wal_get64(p + 8);
    memset(s, 0, sizeof *s);
    if (store_seg_decode(p + 16, STORE_SEG_VALUE_BYTES, log_id, seg_id, s) != SEGLOG_OK) {
        /* an absent segment is all zeros: keep it as zeros (seg_id 0) */
        s->log_id = log_id;
        s->seg_id = seg_id;
        s->state = p[16];
    }
    return p + 16 + STORE_SEG_VALUE_BYTES;
}

uint32_t store_op_encoded_size(const store_op *op)
{
    uint64_t size = OP_FIXED_BYTES + 4u * (uint64_t)op->n +
                    (uint64_t)op->n_dropped * (STORE_SEG_VALUE_BYTES + 16u);
    for (uint32_t i = 0; i < op->n; i++)
        size += op->recs[i].len;
    return size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
}

/* Everything but the payloads; returns its length. dst has OP_FIXED_BYTES + 4n + drops room. */
static uint32_t encode_head(const store_op *op, uint8_t *dst)
{
    uint8_t *p = dst;
    wal_put64(p, op->log.log_id);
    wal_put64(p + 8, op->log.version);
    wal_put64(p + 16, op->log.trim_point);
    wal_put64(p + 24, op->log.created_us);
    p += 32;
    p = put_seg(p, &op->seg);
    p = put_seg(p, &op->seg2);
    wal_put64(p, op->first_lsn);
    wal_put32(p + 8, op->n);
    wal_put64(p + 12, op->time_us);
    wal_put32(p + 20, op->n_dropped);
    p += 24;
    for (uint32_t i = 0; i < op->n; i++, p += 4)
        wal_put32(p, (uint32_t)op->recs[i].len);
    for (uint32_t i = 0; i < op->n_dropped; i++)
        p = put_seg(p, &op->dropped[i]);
    return (uint32_t)(p - dst);
}

uint32_t store_op_head_size(const store_op *op)
{
    return OP_FIXED_BYTES + 4u * op->n + op->n_dropped * (STORE_SEG_VALUE_BYTES + 16u);
}

uint32_t store_op_encode_head(const store_op *op, uint8_t *dst)
{
    return encode_head(op, dst);
}

void store_op_encode(const store_op *op, uint8_t *dst)
{
    uint8_t *p = dst + encode_head(op, dst);
    for (uint32_t i = 0; i < op->n; i++) {
        if (op->recs[i].len)
            memcpy(p, op->recs[i].data, op->recs[i].len);
        p += op->recs[i].len;
    }
}

int store_op_record(const uint8_t *src, uint32_t len, uint64_t lsn, const uint8_t **data,
                    uint32_t *dlen, uint64_t *time_us)
{
    if (len < OP_FIXED_BYTES)
        return SEGLOG_ECORRUPT;
    const uint8_t *p = src + OP_FIXED_BYTES - 24u;
    uint64_t first = wal_get64(p);
    uint32_t n = wal_get32(p + 8);
    uint32_t n_dropped = wal_get32(p + 20);
    if (lsn < first || lsn - first >= n)
        return SEGLOG_ENOTFOUND;
    uint64_t off = OP_FIXED_BYTES + 4u * (uint64_t)n +
                   (uint64_t)n_dropped * (STORE_SEG_VALUE_BYTES + 16u);
    const uint8_t *lens = src + OP_FIXED_BYTES;
    if (off > len)
        return SEGLOG_ECORRUPT;
    uint32_t idx = (uint32_t)(lsn - first);
    for (uint32_t i = 0; i < idx; i++)
        off += wal_get32(lens + 4u * i);
    uint32_t l = wal_get32(lens + 4u * idx);
    if (off + l > len)
        return SEGLOG_ECORRUPT;
    *data = src + off;
    *dlen = l;
    *time_us = wal_get64(p + 12);
    return SEGLOG_OK;
}

int store_op_decode(const uint8_t *src, uint32_t len, uint8_t type, store_op *op,
                    seglog_buf *recs_scratch, uint32_t recs_cap, store_seg *dropped_scratch,
                    uint32_t dropped_cap, seglog_error *err)
{
    memset(op, 0, sizeof *op);
    if (type < STORE_OP_CREATE_LOG || type > STORE_OP_TRIM)
        return codec_err(err, "operation type", type, 0);
    if (len < OP_FIXED_BYTES)
        return codec_err(err, "operation length", len, OP_FIXED_BYTES);
    op->type = type;
    const uint8_t *p = src;
    op->log.log_id = wal_get64(p);
    op->log.version = wal_get64(p + 8);
    op->log.trim_point = wal_get64(p + 16);
    op->log.created_us = wal_get64(p + 24);
    p += 32;
    p = get_seg(p, &op->seg);
    p = get_seg(p, &op->seg2);
    op->first_lsn = wal_get64(p);
    op->n = wal_get32(p + 8);
    op->time_us = wal_get64(p + 12);
    op->n_dropped = wal_get32(p + 20);
    p += 24;
    uint64_t head = OP_FIXED_BYTES + 4u * (uint64_t)op->n +
                    (uint64_t)op->n_dropped * (STORE_SEG_VALUE_BYTES + 16u);
    if (head > len)
        return codec_err(err, "operation counts", op->n, op->n_dropped);
    if (op->n > recs_cap || op->n_dropped > dropped_cap)
        return codec_err(err, "operation counts over the limits", op->n, op->n_dropped);
    uint64_t payload = 0;
    for (uint32_t i = 0; i < op->n; i++)
        payload += wal_get32(p + 4u * i);
    if (head + payload != len)
        return codec_err(err, "operation payload length", head + payload, len);
    const uint8_t *data = src + head;
    for (uint32_t i = 0; i < op->n; i++) {
        uint32_t l = wal_get32(p + 4u * i);
        recs_scratch[i].data = data;
        recs_scratch[i].len = l;
        data += l;
    }
    p += 4u * op->n;
    for (uint32_t i = 0; i < op->n_dropped; i++)
        p = get_seg(p, &dropped_scratch[i]);
    op->recs = recs_scratch;
    op->dropped = dropped_scratch;
    if (op->log.log_id != op->seg.log_id && op->seg.seg_id != 0)
        return codec_err(err, "operation's segment log", op->seg.log_id, op->log.log_id);
    return SEGLOG_OK;
}
