/*
 * test_server_pipeline.c — pipelined requests are answered in request order even when appends to
 * different logs complete out of order, every append reply is a durable id, and one event loop
 * serves 1,000 connections at once.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_server_util.h"

#define PIPE_DEPTH 3000
#define MANY_CONNS 1000

static int setup(void **state)
{
    srv *s = calloc(1, sizeof *s);
    srv_init(s, "pipe");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv_fini(*state);
    free(*state);
    return 0;
}

static void test_pipeline_order(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *c = srv_connect(s);
    redisContext *c2 = srv_connect(s);
    EXPECT_INT(c, 1, "LOG.CREATE raw");
    /* 3 streams interleaved with reads and pings, all in one pipeline */
    for (int i = 0; i < PIPE_DEPTH; i++) {
        switch (i % 5) {
        case 0: redisAppendCommand(c, "XADD a * i %d", i); break;
        case 1: redisAppendCommand(c, "XADD b * i %d", i); break;
        case 2: redisAppendCommand(c, "LOG.APPEND raw r%d", i); break;
        case 3: redisAppendCommand(c, "PING %d", i); break;
        case 4: redisAppendCommand(c, "XLEN a"); break;
        }
    }
    /* a second connection appends to the same logs meanwhile */
    for (int i = 0; i < 100; i++)
        redisAppendCommand(c2, "XADD a * other %d", i);
    long long la = 0, lb = 0, lr = 0;
    long long prev_xlen = 0;
    for (int i = 0; i < PIPE_DEPTH; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        char want[32];
        switch (i % 5) {
        case 0:
        case 1: {
            assert_int_equal(r->type, REDIS_REPLY_STRING);
            long long id = atoll(r->str);
            long long *last = i % 5 == 0 ? &la : &lb;
            assert_true(id > *last); /* ids grow in request order on each stream */
            *last = id;
            assert_non_null(strstr(r->str, "-0"));
            break;
        }
        case 2:
            assert_int_equal(r->type, REDIS_REPLY_INTEGER);
            assert_int_equal(r->integer, lr + 1); /* only this connection appends to raw */
            lr = r->integer;
            break;
        case 3:
            snprintf(want, sizeof want, "%d", i);
            expect_str(r, want);
            break;
        case 4:
            assert_int_equal(r->type, REDIS_REPLY_INTEGER);
            assert_true(r->integer >= prev_xlen);
            prev_xlen = r->integer;
            break;
        }
        freeReplyObject(r);
    }
    for (int i = 0; i < 100; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(c2, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    EXPECT_INT(c, PIPE_DEPTH / 5 + 100, "XLEN a");
    EXPECT_INT(c, PIPE_DEPTH / 5, "XLEN b");
    /* every acknowledged append is readable, with its payload, in order */
    redisReply *r = CMD(c, "XRANGE b - +");
    assert_int_equal(r->elements, PIPE_DEPTH / 5);
    for (size_t k = 0; k < r->elements; k++) {
        char want[32];
        snprintf(want, sizeof want, "%zu", k * 5 + 1);
        expect_str(r->element[k]->element[1]->element[1], want);
    }
    freeReplyObject(r);
    r = CMD(c, "LOG.READ raw - +");
    assert_int_equal(r->elements, PIPE_DEPTH / 5);
    expect_str(r->element[1]->element[1], "r7");
    freeReplyObject(r);
    redisFree(c);
    redisFree(c2);
    srv_stop(s);
}

/* Pipelined appends are submitted as one batch; a record the store refuses must fail alone. */
static void test_batch_isolates_refused_record(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *c = srv_connect(s);
    EXPECT_INT(c, 1, "LOG.CREATE big");
    size_t big = 300 * 1024; /* under --max-bulk (1 MiB), over the store's 256 KiB record limit */
    char *p = malloc(big);
    assert_non_null(p);
    memset(p, 'x', big);
    redisAppendCommand(c, "LOG.APPEND big a");
    redisAppendCommand(c, "LOG.APPEND big %b", p, big);
    redisAppendCommand(c, "LOG.APPEND big b");
    redisAppendCommand(c, "XADD big * f %b", p, big);
    redisAppendCommand(c, "XADD big * f c");
    redisReply *r = NULL;
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    expect_int(r, 1);
    freeReplyObject(r);
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    expect_err(r, "ERR");
    assert_non_null(strstr(r->str, "exceeds the limit"));
    freeReplyObject(r);
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    expect_int(r, 2);
    freeReplyObject(r);
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    expect_err(r, "ERR");
    freeReplyObject(r);
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    expect_str(r, "3-0");
    freeReplyObject(r);
    free(p);
    redisFree(c);
    srv_stop(s);
}

static void test_many_connections(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext **cs = calloc(MANY_CONNS, sizeof *cs);
    assert_non_null(cs);
    for (int i = 0; i < MANY_CONNS; i++)
        cs[i] = srv_connect(s);
    /* every connection has requests in flight at the same time */
    for (int i = 0; i < MANY_CONNS; i++) {
        redisAppendCommand(cs[i], "XADD many * conn %d", i);
        redisAppendCommand(cs[i], "PING");
        int done = 0;
        while (!done)
            assert_int_equal(redisBufferWrite(cs[i], &done), REDIS_OK);
    }
    for (int i = 0; i < MANY_CONNS; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(cs[i], (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
        assert_int_equal(redisGetReply(cs[i], (void **)&r), REDIS_OK);
        expect_status(r, "PONG");
        freeReplyObject(r);
    }
    redisReply *r = CMD(cs[0], "INFO clients");
    assert_non_null(strstr(r->str, "connected_clients:1000"));
    freeReplyObject(r);
    EXPECT_INT(cs[1], MANY_CONNS, "XLEN many");
    for (int i = 0; i < MANY_CONNS; i++)
        redisFree(cs[i]);
    free(cs);
    srv_stop(s);
}

static void test_maxclients(void **state)
{
    srv *s = *state;
    const char *args[] = {"--maxclients", "3", NULL};
    srv_start(s, args);
    redisContext *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = srv_connect(s);
        EXPECT_STATUS(c[i], "PONG", "PING");
    }
    redisContext *extra = srv_connect(s);
    redisReply *r = redisCommand(extra, "PING");
    if (r) { /* the refusal may arrive as an error reply or as a closed connection */
        expect_err(r, "ERR max number of clients reached");
        freeReplyObject(r);
    }
    redisFree(extra);
    redisFree(c[0]);
    srv_sleep_ms(200);
    c[0] = srv_connect(s);
    EXPECT_STATUS(c[0], "PONG", "PING");
    for (int i = 0; i < 3; i++)
        redisFree(c[i]);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_isolates_refused_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maxclients, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
