/*
 * test_server_cmds.c — seglogd's commands through hiredis, each checked for its reply and effect:
 * PING, ECHO, HELLO, AUTH, INFO, COMMAND, CLIENT, XADD (auto and explicit ids, NOMKSTREAM),
 * XRANGE / XREVRANGE (COUNT, exclusive bounds), XLEN, XTRIM, XINFO STREAM, every LOG.* command,
 * unknown commands, SHUTDOWN, and that everything is still there after a restart.
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
    srv_init(s, "cmds");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv_fini(*state);
    free(*state);
    return 0;
}

/* Checks reply r is one stream entry [id, [f1, v1, ...]] */
static void expect_entry(redisReply *r, const char *id, const char *f, const char *v)
{
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    expect_str(r->element[0], id);
    redisReply *fv = r->element[1];
    assert_int_equal(fv->type, REDIS_REPLY_ARRAY);
    assert_true(fv->elements >= 2);
    expect_str(fv->element[0], f);
    expect_str(fv->element[1], v);
}

static void test_basic_commands(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *c = srv_connect(s);
    EXPECT_STATUS(c, "PONG", "PING");
    EXPECT_STR(c, "hello", "PING hello");
    EXPECT_STR(c, "a b\r\nc", "ECHO %s", "a b\r\nc");
    EXPECT_ERR(c, "ERR wrong number of arguments", "ECHO");
    EXPECT_ERR(c, "ERR unknown command 'NOSUCH'", "NOSUCH x y");
    EXPECT_ERR(c, "ERR AUTH <password> called without", "AUTH x");

    redisReply *r = CMD(c, "HELLO 2");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 14);
    expect_str(r->element[0], "server");
    expect_str(r->element[1], "seglogd");
    expect_str(r->element[4], "proto");
    expect_int(r->element[5], 2);
    freeReplyObject(r);
    EXPECT_ERR(c, "NOPROTO", "HELLO 4");

    r = CMD(c, "INFO");
    assert_true(r->type == REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "# Server"));
    assert_non_null(strstr(r->str, "# Store"));
    assert_non_null(strstr(r->str, "# Latency"));
    freeReplyObject(r);
    r = CMD(c, "INFO store");
    assert_null(strstr(r->str, "# Server"));
    assert_non_null(strstr(r->str, "column_families:"));
    freeReplyObject(r);

    r = CMD(c, "COMMAND");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    r = CMD(c, "COMMAND DOCS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_STATUS(c, "OK", "CLIENT SETNAME tester");
    EXPECT_STR(c, "tester", "CLIENT GETNAME");
    EXPECT_ERR(c, "ERR Client names cannot contain", "CLIENT SETNAME %s", "a b");
    EXPECT_STATUS(c, "OK", "SELECT 0");
    EXPECT_ERR(c, "ERR DB index", "SELECT 1");
    r = CMD(c, "CONFIG GET appendonly");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    expect_str(r->element[1], "yes");
    freeReplyObject(r);
    redisFree(c);
    srv_stop(s);
}

static void test_auth(void **state)
{
    srv *s = *state;
    const char *args[] = {"--requirepass", "s3cret", NULL};
    srv_start(s, args);
    redisContext *c = srv_connect(s);
    EXPECT_ERR(c, "NOAUTH", "PING");
    EXPECT_ERR(c, "NOAUTH", "XADD k * a 1");
    EXPECT_ERR(c, "WRONGPASS", "AUTH wrong");
    EXPECT_ERR(c, "WRONGPASS", "AUTH s3cre");
    EXPECT_ERR(c, "WRONGPASS", "AUTH nobody s3cret");
    EXPECT_ERR(c, "NOAUTH", "HELLO 2");
    EXPECT_STATUS(c, "OK", "AUTH s3cret");
    EXPECT_STATUS(c, "PONG", "PING");
    redisFree(c);
    c = srv_connect(s);
    redisReply *r = CMD(c, "HELLO 2 AUTH default s3cret SETNAME x");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    EXPECT_STR(c, "x", "CLIENT GETNAME");
    EXPECT_STATUS(c, "PONG", "PING");
    redisFree(c);
    srv_stop(s);
    /* binding a non-loopback address without a password is refused */
    char cmd[TEST_PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "%s --dir %s/x --bind 0.0.0.0 --port 0 >/dev/null 2>&1", SEGLOGD_PATH,
             s->dir);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

static void test_streams(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *c = srv_connect(s);
    redisReply *r = CMD(c, "XADD nomk NOMKSTREAM * a 1");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    EXPECT_INT(c, 0, "XLEN nomk");
    for (int i = 1; i <= 10; i++) {
        char id[16], val[16];
        snprintf(id, sizeof id, "%d-0", i);
        snprintf(val, sizeof val, "v%d", i);
        EXPECT_STR(c, id, "XADD st * f %s g extra", val);
    }
    EXPECT_STR(c, "11-0", "XADD st 11-0 f v11 g extra");   /* the next LSN */
    EXPECT_STR(c, "12-0", "XADD st 12 f v12 g extra");
    EXPECT_ERR(c, "ERR The ID specified in XADD is equal or smaller", "XADD st 5-0 f x");
    EXPECT_ERR(c, "ERR The ID specified in XADD must be the next LSN 13", "XADD st 20-0 f x");
    EXPECT_ERR(c, "ERR Invalid stream ID", "XADD st 13-1 f x");
    EXPECT_ERR(c, "ERR wrong number of arguments", "XADD st * f");
    EXPECT_ERR(c, "ERR wrong number of arguments", "XADD st *");
    EXPECT_INT(c, 12, "XLEN st");

    r = CMD(c, "XRANGE st - +");
    assert_int_equal(r->elements, 12);
    expect_entry(r->element[0], "1-0", "f", "v1");
    expect_entry(r->element[11], "12-0", "f", "v12");
    expect_str(r->element[3]->element[1]->element[2], "g");
    expect_str(r->element[3]->element[1]->element[3], "extra");
    freeReplyObject(r);
    r = CMD(c, "XRANGE st 3 5-0");
    assert_int_equal(r->elements, 3);
    expect_entry(r->element[0], "3-0", "f", "v3");
    freeReplyObject(r);
    r = CMD(c, "XRANGE st (3-0 + COUNT 2");
    assert_int_equal(r->elements, 2);
    expect_entry(r->element[0], "4-0", "f", "v4");
    expect_entry(r->element[1], "5-0", "f", "v5");
    freeReplyObject(r);
    r = CMD(c, "XRANGE st 3-1 4");
    assert_int_equal(r->elements, 1);
    expect_entry(r->element[0], "4-0", "f", "v4");
    freeReplyObject(r);
    r = CMD(c, "XREVRANGE st + - COUNT 3");
    assert_int_equal(r->elements, 3);
    expect_entry(r->element[0], "12-0", "f", "v12");
    expect_entry(r->element[2], "10-0", "f", "v10");
    freeReplyObject(r);
    r = CMD(c, "XREVRANGE st 4 2");
    assert_int_equal(r->elements, 3);
    expect_entry(r->element[0], "4-0", "f", "v4");
    expect_entry(r->element[2], "2-0", "f", "v2");
    freeReplyObject(r);
    r = CMD(c, "XRANGE nosuch - +");
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    EXPECT_ERR(c, "ERR Invalid stream ID", "XRANGE st x +");
    EXPECT_ERR(c, "ERR COUNT is limited", "XRANGE st - + COUNT 100001");

    /* XREAD without BLOCK */
    r = CMD(c, "XREAD COUNT 2 STREAMS st 10-0");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    expect_str(r->element[0]->element[0], "st");
    assert_int_equal(r->element[0]->element[1]->elements, 2);
    expect_entry(r->element[0]->element[1]->element[0], "11-0", "f", "v11");
    freeReplyObject(r);
    r = CMD(c, "XREAD STREAMS st $");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    EXPECT_ERR(c, "ERR Unbalanced", "XREAD STREAMS st a b");
    EXPECT_ERR(c, "ERR wrong number of arguments", "XREAD STREAMS");

    /* XTRIM MINID: a prefix trim */
    EXPECT_INT(c, 4, "XTRIM st MINID 5-0");
    EXPECT_INT(c, 0, "XTRIM st MINID 5");
    EXPECT_INT(c, 8, "XLEN st");
    r = CMD(c, "XRANGE st - + COUNT 1");
    expect_entry(r->element[0], "5-0", "f", "v5");
    freeReplyObject(r);
    EXPECT_INT(c, 2, "XTRIM st MAXLEN = 6");
    EXPECT_INT(c, 6, "XLEN st");

    r = CMD(c, "XINFO STREAM st");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_true(r->elements >= 14);
    expect_str(r->element[0], "length");
    expect_int(r->element[1], 6);
    expect_str(r->element[2], "last-generated-id");
    expect_str(r->element[3], "12-0");
    expect_str(r->element[10], "first-entry");
    expect_entry(r->element[11], "7-0", "f", "v7");
    expect_str(r->element[12], "last-entry");
    expect_entry(r->element[13], "12-0", "f", "v12");
    freeReplyObject(r);
    EXPECT_ERR(c, "ERR no such key", "XINFO STREAM nosuch");

    /* restart: every entry and the trim are still there */
    redisFree(c);
    srv_stop(s);
    srv_start(s, NULL);
    c = srv_connect(s);
    EXPECT_INT(c, 6, "XLEN st");
    r = CMD(c, "XRANGE st - +");
    assert_int_equal(r->elements, 6);
    expect_entry(r->element[0], "7-0", "f", "v7");
    expect_entry(r->element[5], "12-0", "f", "v12");
    freeReplyObject(r);
    EXPECT_STR(c, "13-0", "XADD st * f v13");
    redisFree(c);
    srv_stop(s);
}

static void test_log_commands(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *c = srv_connect(s);
    redisReply *r = CMD(c, "LOG.CREATE l1");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer > 0);
    freeReplyObject(r);
    EXPECT_ERR(c, "ERR log 'l1' already exists", "LOG.CREATE l1");
    EXPECT_ERR(c, "NOTFOUND no such log", "LOG.APPEND nosuch x");
    EXPECT_INT(c, 1, "LOG.APPEND l1 %b", "\x00\x01\xff", (size_t)3);
    EXPECT_INT(c, 2, "LOG.APPEND l1 second");
    EXPECT_INT(c, 3, "LOG.APPEND l1 %b", "", (size_t)0);

    r = CMD(c, "LOG.READ l1 1 +");
    assert_int_equal(r->elements, 3);
    expect_int(r->element[0]->element[0], 1);
    assert_int_equal(r->element[0]->element[1]->len, 3);
    assert_memory_equal(r->element[0]->element[1]->str, "\x00\x01\xff", 3);
    expect_str(r->element[1]->element[1], "second");
    expect_str(r->element[2]->element[1], "");
    freeReplyObject(r);
    r = CMD(c, "LOG.READ l1 2 2");
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    /* raw records show as "payload" in XRANGE */
    r = CMD(c, "XRANGE l1 2 2");
    assert_int_equal(r->elements, 1);
    expect_entry(r->element[0], "2-0", "payload", "second");
    freeReplyObject(r);

    r = CMD(c, "LOG.TAIL l1");
    assert_int_equal(r->elements, 8);
    expect_str(r->element[0], "lsn");
    expect_int(r->element[1], 4);
    expect_str(r->element[2], "sealed");
    expect_int(r->element[3], 0);
    expect_str(r->element[4], "version");
    expect_int(r->element[5], 1);
    freeReplyObject(r);

    r = CMD(c, "LOG.SEAL l1");
    expect_int(r->element[1], 4);
    expect_int(r->element[3], 1);
    freeReplyObject(r);
    r = CMD(c, "LOG.TAIL l1");
    expect_int(r->element[3], 1); /* sealed, visible to every client */
    freeReplyObject(r);
    EXPECT_ERR(c, "CONFLICT", "LOG.EXTEND l1 BASE 2");
    r = CMD(c, "LOG.EXTEND l1 BASE 4");
    expect_int(r->element[1], 4);
    expect_int(r->element[3], 0);
    expect_int(r->element[5], 3);
    freeReplyObject(r);
    EXPECT_INT(c, 4, "LOG.APPEND l1 after-extend");
    EXPECT_ERR(c, "CONFLICT", "LOG.SEALEXTEND l1 VERSION 1");
    r = CMD(c, "LOG.SEALEXTEND l1 VERSION 3");
    expect_int(r->element[1], 5);
    expect_int(r->element[5], 4);
    freeReplyObject(r);
    r = CMD(c, "LOG.SEALEXTEND l1");
    expect_int(r->element[5], 5);
    freeReplyObject(r);
    EXPECT_INT(c, 5, "LOG.APPEND l1 fifth");

    r = CMD(c, "LOG.DESCRIBE l1");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "chain version 5"));
    assert_non_null(strstr(r->str, "appender(s) waiting"));
    freeReplyObject(r);
    r = CMD(c, "LOG.DESCRIBE l1 JSON");
    assert_non_null(strstr(r->str, "\"version\":5"));
    freeReplyObject(r);

    EXPECT_INT(c, 2, "LOG.TRIM l1 2");
    r = CMD(c, "LOG.READ l1 - +");
    assert_int_equal(r->elements, 4); /* a gap [1, 2], then 3, 4, 5 */
    expect_int(r->element[0]->element[0], 1);
    expect_int(r->element[0]->element[1], 2);
    expect_int(r->element[1]->element[0], 3);
    expect_str(r->element[3]->element[1], "fifth");
    freeReplyObject(r);
    EXPECT_INT(c, 3, "XLEN l1");
    EXPECT_ERR(c, "ERR syntax error", "LOG.READ l1 x +");
    EXPECT_ERR(c, "ERR wrong number of arguments", "LOG.TRIM l1");
    EXPECT_ERR(c, "ERR the trim point", "LOG.TRIM l1 -3");

    /* SHUTDOWN: no reply, the server exits cleanly */
    redisReply *sr = redisCommand(c, "SHUTDOWN");
    if (sr)
        freeReplyObject(sr);
    redisFree(c);
    uint64_t deadline = srv_now_ms() + SRV_STOP_TIMEOUT_MS;
    int st = 0;
    while (waitpid(s->pid, &st, WNOHANG) != s->pid) {
        assert_true(srv_now_ms() < deadline);
        srv_sleep_ms(10);
    }
    s->pid = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    srv_start(s, NULL);
    c = srv_connect(s);
    EXPECT_INT(c, 6, "LOG.APPEND l1 after-restart");
    redisFree(c);
    srv_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_commands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
