/*
 * crc32c.c — CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every WAL frame.
 *
 * Debian has no C library for CRC32C, so it is here: the SSE4.2 `crc32` instruction eight bytes at a
 * time when the CPU has it (chosen once, at first use), and a byte-wise table otherwise. Both give
 * the standard CRC32C (initial value and final xor 0xFFFFFFFF), so `wal_crc32c(0, "123456789", 9)`
 * is 0xE3069283; tests/test_crc32c.c checks both paths against RFC 3720's vectors. The running
 * value can be continued: wal_crc32c(wal_crc32c(0, a, n), b, m) == wal_crc32c(0, a||b, n+m).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "wal.h"
#include "wal_internal.h"

static uint32_t crc_table[256];
static int crc_impl; /* 1: table, 2: sse4.2; set once under crc_once */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32c_table_run(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WAL_CRC_HW 1
__attribute__((target("sse4.2"))) uint32_t wal_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (len > 0 && ((uintptr_t)p & 7u) != 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

bool wal_crc32c_hw_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
}
#else
uint32_t wal_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return crc32c_table_run(crc, data, len);
}

bool wal_crc32c_hw_available(void)
{
    return false;
}
#endif

static void crc_choose(void)
{
    crc_table_init();
    crc_impl = wal_crc32c_hw_available() ? 2 : 1;
}

uint32_t wal_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_choose);
    return crc_impl == 2 ? wal_crc32c_hw(crc, data, len) : crc32c_table_run(crc, data, len);
}

uint32_t wal_crc32c_table(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_choose);
    return crc32c_table_run(crc, data, len);
}
