/*
 * test_server_badinput.c — malformed input never crashes seglogd or corrupts its data: garbage
 * bytes, truncated frames, huge, negative and non-numeric lengths, oversized bulks and requests,
 * wrong arity, unknown commands, mutated frames; after each the server still answers PING and the
 * data written before is intact. Also the idle timeout.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_server_util.h"

#define MAX_BULK "4096"
#define MAX_REQUEST "65536"
#define SEED_ENTRIES 10
#define FUZZ_ROUNDS 300

static int setup(void **state)
{
    srv *s = calloc(1, sizeof *s);
    srv_init(s, "bad");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv_fini(*state);
    free(*state);
    return 0;
}

/* Sends raw bytes on a fresh connection and returns what came back (until close or 1 s idle). */
static size_t exchange(const srv *s, const void *p, size_t n, char *out, size_t cap)
{
    int fd = raw_connect(s->port);
    raw_send(fd, p, n);
    shutdown(fd, SHUT_WR);
    size_t got = raw_recv(fd, out, cap, cap, 3000);
    close(fd);
    return got;
}

static void expect_reply(const srv *s, const char *req, size_t n, const char *want)
{
    char out[4096];
    exchange(s, req, n, out, sizeof out);
    if (!strstr(out, want))
        fail_msg("request %.40s...: expected a reply containing '%s', got '%s'", req, want, out);
}

static void check_alive(const srv *s)
{
    redisContext *c = srv_connect(s);
    EXPECT_STATUS(c, "PONG", "PING");
    redisReply *r = CMD(c, "XRANGE keep - +");
    assert_int_equal(r->elements, SEED_ENTRIES);
    for (size_t i = 0; i < r->elements; i++) {
        char want[32];
        snprintf(want, sizeof want, "value-%zu", i);
        expect_str(r->element[i]->element[1]->element[1], want);
    }
    freeReplyObject(r);
    redisFree(c);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_malformed_frames(void **state)
{
    srv *s = *state;
    const char *args[] = {"--max-bulk", MAX_BULK, "--max-request", MAX_REQUEST, NULL};
    srv_start(s, args);
    redisContext *c = srv_connect(s);
    for (int i = 0; i < SEED_ENTRIES; i++) {
        redisReply *r = CMD(c, "XADD keep * f value-%d", i);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    redisFree(c);

#define BAD(req, want) expect_reply(s, req, sizeof(req) - 1, want)
    BAD("*1\r\n$999999999999\r\n", "-ERR Protocol error: invalid bulk length");
    BAD("*1\r\n$99999999999999999999999\r\n", "-ERR Protocol error: invalid bulk length");
    BAD("*-5\r\n", "-ERR Protocol error: invalid multibulk length");
    BAD("*2\r\n$-3\r\n", "-ERR Protocol error: invalid bulk length");
    BAD("*2\r\n$4\r\nECHO\r\n$5000\r\n", "-ERR Protocol error: invalid bulk length");
    BAD("*abc\r\n", "-ERR Protocol error: invalid multibulk length");
    BAD("*99999999\r\n", "-ERR Protocol error: invalid multibulk length");
    BAD("*1\r\nX4\r\nPING\r\n", "-ERR Protocol error: expected '$'");
    BAD("*1\r\n$4\r\nPINGxx\r\n", "-ERR Protocol error: bulk string not terminated");
    BAD("*1\r\n$4x\r\nPING\r\n", "-ERR Protocol error: invalid bulk length");
    BAD("*1\r\n$\r\n\r\n", "-ERR Protocol error: invalid bulk length");
    BAD("*2\r\n$4\r\nPING\r\n$1\r\n", ""); /* truncated: no reply, then EOF */
    BAD("*3\r\n$3\r\nSET\r\n$1", "");
    /* a protocol error after a good request: the good one is answered first */
    BAD("*1\r\n$4\r\nPING\r\n*-9\r\n", "+PONG\r\n-ERR Protocol error");
    /* inline requests: garbage is an unknown command and the connection stays usable */
    BAD("hullo world\r\nPING\r\n", "-ERR unknown command 'hullo', with args beginning with: 'world'");
    BAD("hullo world\r\nPING\r\n", "+PONG");
    BAD("\r\n\r\n   \r\nPING\r\n", "+PONG");
    BAD("XADD keep\r\n", "-ERR wrong number of arguments");
    BAD("*0\r\n*1\r\n$4\r\nPING\r\n", "+PONG");
    check_alive(s);

    /* an inline line longer than the inline limit */
    size_t big = 100000;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, 'a', big);
    char out[4096];
    exchange(s, buf, big, out, sizeof out);
    assert_non_null(strstr(out, "-ERR Protocol error: too big inline request"));
    /* a request larger than --max-request made of bulks that are each allowed */
    {
        size_t off = 0;
        off += (size_t)sprintf(buf + off, "*20\r\n$4\r\nECHO\r\n");
        for (int i = 0; i < 19 && off + 4100 < big; i++) {
            off += (size_t)sprintf(buf + off, "$4000\r\n");
            memset(buf + off, 'b', 4000);
            off += 4000;
            off += (size_t)sprintf(buf + off, "\r\n");
        }
        exchange(s, buf, off, out, sizeof out);
        assert_non_null(strstr(out, "-ERR Protocol error: request too large"));
    }
    /* an allowed bulk that the store refuses is an error reply, not a crash */
    c = srv_connect(s);
    memset(buf, 'c', 4096);
    redisReply *r = CMD(c, "ECHO %b", buf, (size_t)4096);
    assert_int_equal(r->len, 4096);
    freeReplyObject(r);
    redisFree(c);
    check_alive(s);

    /* random garbage, then mutated valid frames */
    for (int round = 0; round < 20; round++) {
        size_t n = 1 + (size_t)(rnd() % 8192);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)rnd();
        exchange(s, buf, n, out, sizeof out);
    }
    check_alive(s);
    static const char *const frames[] = {
        "*5\r\n$4\r\nXADD\r\n$4\r\nfuzz\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n",
        "*4\r\n$6\r\nXRANGE\r\n$4\r\nkeep\r\n$1\r\n-\r\n$1\r\n+\r\n",
        "*6\r\n$5\r\nXREAD\r\n$5\r\nCOUNT\r\n$1\r\n2\r\n$7\r\nSTREAMS\r\n$4\r\nkeep\r\n$1\r\n0\r\n",
        "*3\r\n$10\r\nLOG.APPEND\r\n$4\r\nfuzz\r\n$3\r\nabc\r\n",
        "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
        "*4\r\n$5\r\nXTRIM\r\n$4\r\nfuzz\r\n$5\r\nMINID\r\n$1\r\n1\r\n",
    };
    for (int round = 0; round < FUZZ_ROUNDS; round++) {
        const char *f = frames[rnd() % (sizeof frames / sizeof frames[0])];
        size_t n = strlen(f);
        memcpy(buf, f, n);
        int muts = 1 + (int)(rnd() % 4);
        for (int m = 0; m < muts; m++) {
            size_t at = (size_t)(rnd() % n);
            switch (rnd() % 3) {
            case 0: buf[at] = (char)rnd(); break;
            case 1: buf[at] = "0123456789-*$\r\n"[rnd() % 15]; break;
            case 2: n = at + 1; break; /* truncate */
            }
        }
        exchange(s, buf, n, out, sizeof out);
    }
    free(buf);
    check_alive(s);

    /* wrong arity and unknown commands through a client library */
    c = srv_connect(s);
    EXPECT_ERR(c, "ERR wrong number of arguments", "XADD k");
    EXPECT_ERR(c, "ERR wrong number of arguments", "XRANGE k -");
    EXPECT_ERR(c, "ERR wrong number of arguments", "XLEN");
    EXPECT_ERR(c, "ERR wrong number of arguments", "LOG.APPEND k");
    EXPECT_ERR(c, "ERR wrong number of arguments", "LOG.APPEND k a b");
    EXPECT_ERR(c, "ERR wrong number of arguments", "LOG.READ k 1");
    EXPECT_ERR(c, "ERR wrong number of arguments", "LOG.SEAL");
    EXPECT_ERR(c, "ERR wrong number of arguments", "ECHO a b");
    EXPECT_ERR(c, "ERR unknown command", "SET a b");
    EXPECT_ERR(c, "ERR unknown command", "%b x", "\x00\xff\r\n", (size_t)4);
    EXPECT_ERR(c, "ERR value is not an integer", "XREAD BLOCK 10 COUNT x STREAMS k 0");
    EXPECT_ERR(c, "ERR syntax error", "XREAD BLOCK 10 NOPE 1 STREAMS k 0");
    EXPECT_ERR(c, "ERR timeout is not", "XREAD BLOCK -1 STREAMS k 0");
    EXPECT_ERR(c, "ERR Invalid stream ID", "XREAD STREAMS keep abc");
    EXPECT_ERR(c, "ERR Invalid stream ID", "XRANGE keep 1-x +");
    EXPECT_ERR(c, "ERR Invalid stream ID", "XADD keep 99999999999999999999999 f v");
    EXPECT_ERR(c, "ERR syntax error", "XTRIM keep NOPE 3");
    r = CMD(c, "INFO stats");
    assert_non_null(strstr(r->str, "protocol_errors:"));
    assert_null(strstr(r->str, "protocol_errors:0\r"));
    freeReplyObject(r);
    redisFree(c);
    check_alive(s);
    srv_stop(s);
    /* and the store reopens with the data intact */
    srv_start(s, args);
    check_alive(s);
    srv_stop(s);
#undef BAD
}

static void test_idle_timeout(void **state)
{
    srv *s = *state;
    const char *args[] = {"--timeout", "1", NULL};
    srv_start(s, args);
    int fd = raw_connect(s->port);
    raw_send(fd, "PING\r\n", 6);
    char out[64];
    raw_recv(fd, out, sizeof out, 7, 3000);
    assert_string_equal(out, "+PONG\r\n");
    /* idle past the limit: the server closes the connection (EOF) */
    uint64_t deadline = srv_now_ms() + 10000;
    int closed = 0;
    while (!closed && srv_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 500) > 0)
            closed = recv(fd, out, sizeof out, 0) == 0;
    }
    assert_true(closed);
    close(fd);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
