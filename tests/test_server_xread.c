/*
 * test_server_xread.c — XREAD BLOCK follows the tail: a blocked client is woken by an append from
 * another client, keeps following across a seal+extend and across a plain seal then extend, times
 * out with a null reply, and serves several keys; seal and extend are visible to other clients, and
 * an append that meets a sealed log waits (listed by LOG.DESCRIBE) and lands once it is extended.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_server_util.h"

static int setup(void **state)
{
    srv *s = calloc(1, sizeof *s);
    srv_init(s, "xread");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv_fini(*state);
    free(*state);
    return 0;
}

/* Sends a command without waiting for its reply. */
static void send_only(redisContext *c, const char *cmd)
{
    assert_int_equal(redisAppendCommand(c, cmd), REDIS_OK);
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(c, &done), REDIS_OK);
}

/* True if a reply is already waiting on c (polls the socket for up to ms). */
static int reply_ready(redisContext *c, int ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

static redisReply *get(redisContext *c)
{
    redisReply *r = NULL;
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    return r;
}

/* Checks an XREAD reply holding exactly one entry of key with id and field value. */
static void expect_one(redisReply *r, const char *key, const char *id, const char *val)
{
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    expect_str(r->element[0]->element[0], key);
    redisReply *ents = r->element[0]->element[1];
    assert_int_equal(ents->elements, 1);
    expect_str(ents->element[0]->element[0], id);
    expect_str(ents->element[0]->element[1]->element[1], val);
}

static void test_block_follows_tail(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *reader = srv_connect(s);
    redisContext *w = srv_connect(s);
    EXPECT_STR(w, "1-0", "XADD t * v one");

    /* blocked on "$": nothing yet; woken by the next append */
    send_only(reader, "XREAD BLOCK 0 STREAMS t $");
    assert_false(reply_ready(reader, 200));
    EXPECT_STR(w, "2-0", "XADD t * v two");
    redisReply *r = get(reader);
    expect_one(r, "t", "2-0", "two");
    freeReplyObject(r);

    /* seal+extend while the reader is blocked: nothing to report, it stays blocked */
    send_only(reader, "XREAD BLOCK 0 STREAMS t 2-0");
    redisReply *x = CMD(w, "LOG.SEALEXTEND t");
    expect_int(x->element[1], 3);
    freeReplyObject(x);
    assert_false(reply_ready(reader, 200));
    EXPECT_STR(w, "3-0", "XADD t * v three"); /* lands in the new segment */
    r = get(reader);
    expect_one(r, "t", "3-0", "three");
    freeReplyObject(r);

    /* a plain seal: an append from another client waits, and LOG.DESCRIBE lists it */
    send_only(reader, "XREAD BLOCK 0 STREAMS t 3-0");
    x = CMD(w, "LOG.SEAL t");
    expect_int(x->element[3], 1);
    freeReplyObject(x);
    redisContext *a = srv_connect(s);
    send_only(a, "XADD t * v four");
    int listed = 0;
    for (int i = 0; i < 500 && !listed; i++) {
        x = CMD(w, "LOG.DESCRIBE t");
        listed = strstr(x->str, "1 client append(s) not yet durable") != NULL;
        freeReplyObject(x);
        if (!listed)
            srv_sleep_ms(10);
    }
    assert_true(listed);
    x = CMD(w, "LOG.TAIL t");
    expect_int(x->element[3], 1); /* every client sees the seal */
    freeReplyObject(x);
    assert_false(reply_ready(a, 100));
    assert_false(reply_ready(reader, 10));
    x = CMD(w, "LOG.EXTEND t");
    expect_int(x->element[3], 0);
    freeReplyObject(x);
    r = get(a);
    expect_str(r, "4-0");
    freeReplyObject(r);
    r = get(reader);
    expect_one(r, "t", "4-0", "four");
    freeReplyObject(r);

    /* a timeout is a null reply; the connection keeps working */
    r = CMD(reader, "XREAD BLOCK 100 STREAMS t $");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);

    /* several keys, one of which does not exist yet when the reader blocks; COUNT */
    send_only(reader, "XREAD COUNT 1 BLOCK 0 STREAMS t later 4-0 0");
    EXPECT_STR(w, "1-0", "XADD later * v L1");
    r = get(reader);
    expect_one(r, "later", "1-0", "L1");
    freeReplyObject(r);

    /* commands pipelined behind a blocked XREAD wait for it */
    send_only(reader, "XREAD BLOCK 0 STREAMS t 4-0");
    send_only(reader, "PING");
    assert_false(reply_ready(reader, 100));
    EXPECT_STR(w, "5-0", "XADD t * v five");
    r = get(reader);
    expect_one(r, "t", "5-0", "five");
    freeReplyObject(r);
    r = get(reader);
    expect_status(r, "PONG");
    freeReplyObject(r);

    /* a blocked client that hangs up is freed at once, not at its (infinite) deadline */
    redisContext *gone = srv_connect(s);
    send_only(gone, "XREAD BLOCK 0 STREAMS t $");
    int blocked = 0;
    for (int i = 0; i < 500 && !blocked; i++) {
        x = CMD(w, "INFO clients");
        blocked = strstr(x->str, "blocked_clients:1\r") != NULL;
        freeReplyObject(x);
        if (!blocked)
            srv_sleep_ms(10);
    }
    assert_true(blocked);
    redisFree(gone);
    int freed = 0;
    for (int i = 0; i < 500 && !freed; i++) {
        x = CMD(w, "INFO clients");
        freed = strstr(x->str, "blocked_clients:0\r") != NULL;
        freeReplyObject(x);
        if (!freed)
            srv_sleep_ms(10);
    }
    assert_true(freed);

    /* SIGTERM while a client is blocked: a null reply, a clean exit */
    send_only(reader, "XREAD BLOCK 0 STREAMS t $");
    srv_sleep_ms(50);
    srv_stop(s);
    r = NULL;
    if (redisGetReply(reader, (void **)&r) == REDIS_OK && r) {
        assert_int_equal(r->type, REDIS_REPLY_NIL);
        freeReplyObject(r);
    }
    redisFree(a);
    redisFree(w);
    redisFree(reader);
}

static void test_append_wait_timeout(void **state)
{
    srv *s = *state;
    const char *args[] = {"--append-wait-ms", "200", NULL};
    srv_start(s, args);
    redisContext *c = srv_connect(s);
    EXPECT_STR(c, "1-0", "XADD t * v one");
    redisReply *x = CMD(c, "LOG.SEAL t");
    freeReplyObject(x);
    EXPECT_ERR(c, "TIMEOUT", "XADD t * v two");
    EXPECT_ERR(c, "TIMEOUT", "LOG.APPEND t raw");
    x = CMD(c, "LOG.EXTEND t");
    freeReplyObject(x);
    EXPECT_STR(c, "2-0", "XADD t * v two");
    redisFree(c);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_block_follows_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_wait_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
