/*
 * fuzz_common.h — shared by seglog's libFuzzer targets: a CRC fix-up, so that the fuzzer gets
 * past the checksums (a fuzzer does not find a CRC32C by mutation: RELIABILITY.md) and reaches
 * the checks behind them, and an abort that names the broken property.
 */
#ifndef SEGLOG_FUZZ_COMMON_H
#define SEGLOG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wal_internal.h"

#define FUZZ_REQUIRE(c)                                                                            \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz: property failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Walks buf as a run of frames from offset 0 and rewrites the CRC of every header whose length
 * fits, so that the rest of the header is what decides. Stops at the first that does not fit. */
static inline void fuzz_fix_crcs(uint8_t *buf, uint64_t n)
{
    uint64_t off = 0;
    while (off + WAL_FRAME_HEADER_BYTES <= n) {
        uint32_t len = wal_get32(buf + off + 4);
        uint64_t size = wal_frame_size(len);
        if (size > n - off)
            return;
        uint32_t crc = wal_crc32c(0, buf + off + WAL_FRAME_HEADER_BYTES, len);
        crc = wal_crc32c(crc, buf + off + 4, WAL_FRAME_HEADER_BYTES - 4);
        wal_put32(buf + off, crc);
        off += size;
    }
}

#endif /* SEGLOG_FUZZ_COMMON_H */
