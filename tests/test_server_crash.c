/*
 * test_server_crash.c — acknowledged means durable, through the server: kill -9 seglogd while
 * redis-benchmark loads it with XADDs and this test pipelines XADDs of its own, restart it, and
 * check that every XADD that got a reply is there with its payload (three kill cycles on one
 * store). And SIGTERM: in-flight appends finish, their replies go out, the store closes cleanly.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_server_util.h"

#define KILL_CYCLES 3
#define WINDOW 32            /* pipelined XADDs per round trip */
#define LOAD_MS 1500         /* load before the kill */
#define MAX_ACKED 400000
#define SIGTERM_PIPELINE 2000

typedef struct acked {
    uint64_t id;
    char payload[48];
} acked;

static int setup(void **state)
{
    srv *s = calloc(1, sizeof *s);
    srv_init(s, "crash");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv_fini(*state);
    free(*state);
    return 0;
}

static pid_t start_benchmark(const srv *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("redis-benchmark", "redis-benchmark", "-p", port, "-c", "20", "-P", "8", "-n",
               "100000000", "XADD", "benchload", "*", "f", "benchmark-payload", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_kill9_under_load(void **state)
{
    srv *s = *state;
    acked *acks = calloc(MAX_ACKED, sizeof *acks);
    assert_non_null(acks);
    size_t nacks = 0;
    uint64_t seq = 0;
    for (int cycle = 0; cycle < KILL_CYCLES; cycle++) {
        srv_start(s, NULL);
        pid_t bench = start_benchmark(s);
        redisContext *c = srv_connect(s);
        uint64_t deadline = srv_now_ms() + LOAD_MS;
        bool killed = false;
        while (!killed) {
            char payloads[WINDOW][48];
            for (int i = 0; i < WINDOW; i++) {
                snprintf(payloads[i], sizeof payloads[i], "c%d-s%llu", cycle,
                         (unsigned long long)seq++);
                redisAppendCommand(c, "XADD acked * p %s", payloads[i]);
            }
            int done = 0;
            while (!done)
                assert_int_equal(redisBufferWrite(c, &done), REDIS_OK);
            if (srv_now_ms() >= deadline) {
                /* the window is in flight: kill now, then collect what was answered before */
                int st = srv_signal_wait(s, SIGKILL);
                assert_true(WIFSIGNALED(st));
                killed = true;
            }
            for (int i = 0; i < WINDOW; i++) {
                redisReply *r = NULL;
                if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
                    assert_true(killed);
                    break;
                }
                assert_int_equal(r->type, REDIS_REPLY_STRING); /* an id: durable */
                assert_true(nacks < MAX_ACKED);
                acks[nacks].id = strtoull(r->str, NULL, 10);
                memcpy(acks[nacks].payload, payloads[i], sizeof acks[nacks].payload);
                nacks++;
                freeReplyObject(r);
            }
        }
        redisFree(c);
        kill(bench, SIGKILL);
        waitpid(bench, NULL, 0);

        /* restart and check every acknowledged XADD */
        srv_start(s, NULL);
        c = srv_connect(s);
        /* page through the stream (a reply holds at most 100,000 entries) */
        size_t have = 0;
        char **got = NULL;
        for (;;) {
            char start[32];
            snprintf(start, sizeof start, "(%zu-0", have);
            redisReply *r = CMD(c, "XRANGE acked %s + COUNT 20000", start);
            assert_int_equal(r->type, REDIS_REPLY_ARRAY);
            if (r->elements == 0) {
                freeReplyObject(r);
                break;
            }
            got = realloc(got, (have + r->elements) * sizeof *got);
            assert_non_null(got);
            for (size_t k = 0; k < r->elements; k++) {
                /* ids are dense: entry k is k-0 */
                assert_int_equal(strtoull(r->element[k]->element[0]->str, NULL, 10), have + 1);
                got[have++] = strdup(r->element[k]->element[1]->element[1]->str);
            }
            freeReplyObject(r);
        }
        assert_true(have >= nacks);
        for (size_t i = 0; i < nacks; i++) {
            assert_true(acks[i].id >= 1 && acks[i].id <= have);
            assert_string_equal(got[acks[i].id - 1], acks[i].payload);
        }
        for (size_t k = 0; k < have; k++)
            free(got[k]);
        free(got);
        redisReply *r = CMD(c, "XLEN benchload");
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        long long blen = r->integer;
        freeReplyObject(r);
        print_message("cycle %d: %zu acknowledged XADDs of this test checked; benchload holds %lld\n",
                      cycle, nacks, blen);
        if (blen > 0) {
            r = CMD(c, "XREVRANGE benchload + - COUNT 1");
            char want[32];
            snprintf(want, sizeof want, "%lld-0", blen);
            expect_str(r->element[0]->element[0], want);
            expect_str(r->element[0]->element[1]->element[1], "benchmark-payload");
            freeReplyObject(r);
        }
        redisFree(c);
        srv_stop(s);
    }
    assert_true(nacks > 0);
    free(acks);
}

static void test_sigterm_finishes_appends(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    redisContext *c = srv_connect(s);
    for (int i = 0; i < SIGTERM_PIPELINE; i++)
        redisAppendCommand(c, "XADD t * p payload-%d", i);
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(c, &done), REDIS_OK);
    redisReply *r = NULL;
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    expect_str(r, "1-0");
    freeReplyObject(r);
    kill(s->pid, SIGTERM);
    int answered = 1;
    while (answered < SIGTERM_PIPELINE) {
        r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            break;
        char want[32];
        snprintf(want, sizeof want, "%d-0", answered + 1);
        expect_str(r, want); /* every answer is a durable id, in order */
        freeReplyObject(r);
        answered++;
    }
    redisFree(c);
    int st = srv_signal_wait(s, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    srv_start(s, NULL);
    c = srv_connect(s);
    r = CMD(c, "XRANGE t - +");
    assert_true(r->elements >= (size_t)answered);
    for (int i = 0; i < answered; i++) {
        char want[32];
        snprintf(want, sizeof want, "payload-%d", i);
        expect_str(r->element[i]->element[1]->element[1], want);
    }
    print_message("SIGTERM: %d of %d pipelined XADDs answered, all present after restart\n",
                  answered, SIGTERM_PIPELINE);
    freeReplyObject(r);
    redisFree(c);
    srv_stop(s);
}

int main(void)
{
    if (!have_program("redis-benchmark")) {
        fprintf(stderr, "redis-benchmark (redis-tools) is not installed: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_finishes_appends, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
