/*
 * fuzz_store_codec.c — libFuzzer target: every decoder of storage/store_codec.c (the WAL
 * operation record and the two metadata values), which see whatever the WAL or RocksDB hands
 * back, damaged or not.
 *
 * Input: byte 0 selects the decoder (0: operation record, with byte 1 as its type; 1: segment
 * value; 2: log value), the rest is the value. Properties: nothing read outside the input (ASan);
 * an operation that decodes has record lengths that add up to the input, points only into it,
 * and re-encodes to bytes that decode to the same counts; a segment or log value that decodes
 * satisfies the decoder's own invariants and re-encodes to the same bytes.
 */
#define _GNU_SOURCE
#include <string.h>

#include "fuzz_common.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECS_CAP 1024u
#define DROPPED_CAP 64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t which = data[0] % 3;
    if (which == 0) {
        uint8_t type = data[1];
        const uint8_t *v = data + 2;
        uint32_t len = (uint32_t)(size - 2);
        static seglog_buf recs[RECS_CAP];
        static store_seg dropped[DROPPED_CAP];
        store_op op;
        seglog_error err = {0};
        int rc = store_op_decode(v, len, type, &op, recs, RECS_CAP, dropped, DROPPED_CAP, &err);
        if (rc == SEGLOG_OK) {
            FUZZ_REQUIRE(op.n <= RECS_CAP && op.n_dropped <= DROPPED_CAP);
            uint64_t sum = 0;
            for (uint32_t i = 0; i < op.n; i++) {
                FUZZ_REQUIRE(op.recs[i].data >= (const void *)v);
                FUZZ_REQUIRE((const uint8_t *)op.recs[i].data + op.recs[i].len <= v + len);
                sum += op.recs[i].len;
            }
            FUZZ_REQUIRE(store_op_head_size(&op) + sum == len);
            FUZZ_REQUIRE(store_op_encoded_size(&op) == len);
            uint8_t *re = malloc(len ? len : 1);
            if (re) {
                store_op_encode(&op, re);
                /* segments that do not decode are kept as zeros with their ids: compare only
                 * when every segment round-trips */
                store_op again;
                static seglog_buf recs2[RECS_CAP];
                static store_seg dropped2[DROPPED_CAP];
                FUZZ_REQUIRE(store_op_decode(re, len, type, &again, recs2, RECS_CAP, dropped2,
                                             DROPPED_CAP, NULL) == SEGLOG_OK);
                FUZZ_REQUIRE(again.n == op.n && again.n_dropped == op.n_dropped &&
                             again.first_lsn == op.first_lsn);
                free(re);
            }
        } else {
            FUZZ_REQUIRE(rc == SEGLOG_ECORRUPT);
            FUZZ_REQUIRE(err.message[0] != 0);
        }
    } else if (which == 1) {
        store_seg s;
        uint64_t log_id = 0, seg_id = 0;
        if (store_seg_decode(data + 1, size - 1, log_id, seg_id, &s) == SEGLOG_OK) {
            FUZZ_REQUIRE(s.base != 0 && s.next_lsn >= s.base);
            FUZZ_REQUIRE(s.state >= STORE_SEG_OPEN && s.state <= STORE_SEG_TRIMMED);
            uint8_t re[STORE_SEG_VALUE_BYTES];
            store_seg_encode(&s, re);
            store_seg t;
            FUZZ_REQUIRE(store_seg_decode(re, sizeof re, log_id, seg_id, &t) == SEGLOG_OK);
            FUZZ_REQUIRE(memcmp(re, data + 1, 41) == 0); /* the fields before the reserved ones */
            FUZZ_REQUIRE(t.base == s.base && t.next_lsn == s.next_lsn &&
                         t.sealed_at == s.sealed_at && t.bytes == s.bytes && t.cf_no == s.cf_no &&
                         t.state == s.state);
        }
    } else {
        store_log l;
        if (store_log_decode(data + 1, size - 1, 9, &l) == SEGLOG_OK) {
            FUZZ_REQUIRE(l.version != 0 && l.log_id == 9);
            uint8_t re[STORE_LOG_VALUE_BYTES];
            store_log_encode(&l, re);
            FUZZ_REQUIRE(memcmp(re, data + 1, STORE_LOG_VALUE_BYTES) == 0);
        }
    }
    return 0;
}
