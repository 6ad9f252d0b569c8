/*
 * test_crc32c.c — CRC32C against RFC 3720 (iSCSI) test vectors, for the hardware and the table
 * path, and the two paths against each other on random data of every alignment and length.
 */
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wal_internal.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn fn)
{
    uint8_t buf[32];
    assert_int_equal(fn(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof buf);
    assert_int_equal(fn(0, buf, sizeof buf), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(fn(0, buf, sizeof buf), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(fn(0, buf, sizeof buf), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(fn(0, buf, sizeof buf), 0x113FDB5Cu);
    assert_int_equal(fn(0, "", 0), 0u);
}

static void test_crc32c_vectors_table(void **state)
{
    (void)state;
    check_vectors(wal_crc32c_table);
}

static void test_crc32c_vectors_hw(void **state)
{
    (void)state;
    if (!wal_crc32c_hw_available())
        TEST_SKIP("no hardware CRC32C on this CPU");
    check_vectors(wal_crc32c_hw);
}

static void test_crc32c_vectors_dispatch(void **state)
{
    (void)state;
    check_vectors(wal_crc32c);
}

static void test_crc32c_paths_agree_and_continue(void **state)
{
    (void)state;
    uint8_t buf[1024 + 16];
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand();
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= 1024; len += (len < 64 ? 1 : 37)) {
            uint32_t a = wal_crc32c_table(0, buf + align, len);
            uint32_t b = wal_crc32c(0, buf + align, len);
            assert_int_equal(a, b);
            size_t cut = len / 3;
            uint32_t c = wal_crc32c(wal_crc32c(0, buf + align, cut), buf + align + cut, len - cut);
            assert_int_equal(a, c);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors_table),
        cmocka_unit_test(test_crc32c_vectors_hw),
        cmocka_unit_test(test_crc32c_vectors_dispatch),
        cmocka_unit_test(test_crc32c_paths_agree_and_continue),
    };
    return TEST_EXIT(cmocka_run_group_tests(tests, NULL, NULL));
}
