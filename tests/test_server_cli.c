/*
 * test_server_cli.c — seglogd as the README shows it: a redis-cli session (RESP2 and, with -3,
 * RESP3), HELLO 3 on the wire, the Unix socket, the Prometheus /metrics endpoint over HTTP,
 * redis-benchmark's LOG.APPEND and pipelined XADD, and --help. Exits 77 without redis-cli.
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
    srv_init(s, "cli");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv_fini(*state);
    free(*state);
    return 0;
}

/* Runs redis-cli against the server with the given arguments; returns its stdout. */
static void cli(const srv *s, const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d %s 2>&1", s->port, args);
    int rc = run_capture(cmd, out, cap);
    if (rc != 0)
        fail_msg("'%s' exited %d: %s", cmd, rc, out);
}

static void expect_cli(const srv *s, const char *args, const char *want)
{
    char out[8192];
    cli(s, args, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("redis-cli %s: expected\n%s\ngot\n%s", args, want, out);
}

static void test_redis_cli_session(void **state)
{
    srv *s = *state;
    char unixp[TEST_PATH_MAX + 16];
    snprintf(unixp, sizeof unixp, "%s/seglogd.sock", s->dir);
    const char *args[] = {"--unixsocket", unixp, NULL};
    srv_start(s, args);
    expect_cli(s, "PING", "PONG\n");
    expect_cli(s, "XADD orders '*' item book qty 2", "1-0\n");
    expect_cli(s, "XADD orders '*' item pen qty 10", "2-0\n");
    expect_cli(s, "XLEN orders", "2\n");
    expect_cli(s, "XRANGE orders - +", "1-0\nitem\nbook\nqty\n2\n2-0\nitem\npen\nqty\n10\n");
    expect_cli(s, "XREAD COUNT 1 STREAMS orders 1-0", "orders\n2-0\nitem\npen\nqty\n10\n");
    expect_cli(s, "LOG.SEALEXTEND orders", "lsn\n3\nsealed\n0\nversion\n2\nsegment\n3\n");
    expect_cli(s, "XADD orders '*' item ink qty 1", "3-0\n");
    expect_cli(s, "LOG.CREATE notes", "2\n");
    expect_cli(s, "LOG.APPEND notes 'raw bytes'", "1\n");
    expect_cli(s, "LOG.READ notes 1 +", "1\nraw bytes\n");
    char out[8192];
    cli(s, "LOG.DESCRIBE orders", out, sizeof out);
    assert_non_null(strstr(out, "chain version 2"));
    assert_non_null(strstr(out, "sealed at 3"));
    cli(s, "NOSUCH", out, sizeof out);
    assert_non_null(strstr(out, "ERR unknown command 'NOSUCH'"));
    /* RESP3: maps and nulls as redis-cli -3 shows them */
    cli(s, "-3 LOG.TAIL orders", out, sizeof out);
    assert_non_null(strstr(out, "lsn"));
    cli(s, "-3 XREAD STREAMS orders $", out, sizeof out);
    assert_null(strstr(out, "ERR"));
    /* the Unix socket serves the same store */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "redis-cli -s %s XLEN orders 2>&1", unixp);
    assert_int_equal(run_capture(cmd, out, sizeof out), 0);
    assert_string_equal(out, "3\n");
    srv_stop(s);
}

static void test_resp3_and_metrics(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    int fd = raw_connect(s->port);
    const char hello[] = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    raw_send(fd, hello, sizeof hello - 1);
    char out[4096];
    raw_recv(fd, out, sizeof out, 60, 3000);
    assert_true(strncmp(out, "%7\r\n$6\r\nserver\r\n$7\r\nseglogd\r\n", 29) == 0);
    const char xread[] = "*4\r\n$5\r\nXREAD\r\n$7\r\nSTREAMS\r\n$1\r\nk\r\n$1\r\n0\r\n";
    raw_send(fd, xread, sizeof xread - 1);
    raw_recv(fd, out, sizeof out, 3, 3000);
    assert_string_equal(out, "_\r\n"); /* RESP3 null */
    const char xadd[] = "*5\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n";
    raw_send(fd, xadd, sizeof xadd - 1);
    raw_recv(fd, out, sizeof out, 9, 3000);
    assert_string_equal(out, "$3\r\n1-0\r\n");
    raw_send(fd, xread, sizeof xread - 1);
    raw_recv(fd, out, sizeof out, 41, 3000);
    assert_string_equal(out, "%1\r\n$1\r\nk\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    close(fd);

    /* Prometheus text on the metrics port */
    fd = raw_connect(s->metrics_port);
    const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, get, sizeof get - 1);
    static char page[65536];
    raw_recv(fd, page, sizeof page, sizeof page, 5000);
    close(fd);
    assert_true(strncmp(page, "HTTP/1.0 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(page, "\nseglogd_appends_total 1\n"));
    assert_non_null(strstr(page, "seglogd_append_durable_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(page, "\nseglog_wal_fsyncs_total "));
    assert_non_null(strstr(page, "\nseglog_waiting_appenders 0\n"));
    assert_non_null(strstr(page, "\nseglog_column_families "));
    assert_non_null(strstr(page, "seglogd_completion_batch_records_count "));
    fd = raw_connect(s->metrics_port);
    const char bad[] = "GET /other HTTP/1.0\r\n\r\n";
    raw_send(fd, bad, sizeof bad - 1);
    raw_recv(fd, page, sizeof page, sizeof page, 5000);
    close(fd);
    assert_true(strncmp(page, "HTTP/1.0 404", 12) == 0);
    srv_stop(s);
}

static void test_benchmark_and_help(void **state)
{
    srv *s = *state;
    srv_start(s, NULL);
    char out[8192];
    cli(s, "LOG.CREATE rawlog", out, sizeof out);
    if (have_program("redis-benchmark")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "redis-benchmark -p %d -c 10 -n 2000 -P 16 -q LOG.APPEND rawlog 0123456789 2>&1 && "
                 "redis-benchmark -p %d -c 10 -n 2000 -q XADD bs '*' f v 2>&1", s->port, s->port);
        assert_int_equal(run_capture(cmd, out, sizeof out), 0);
        expect_cli(s, "XLEN rawlog", "2000\n");
        expect_cli(s, "XLEN bs", "2000\n");
        expect_cli(s, "LOG.READ rawlog 2000 +", "2000\n0123456789\n");
    }
    srv_stop(s);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --help", SEGLOGD_PATH);
    assert_int_equal(run_capture(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: seglogd"));
    assert_non_null(strstr(out, "--requirepass"));
    snprintf(cmd, sizeof cmd, "%s --bogus 2>/dev/null", SEGLOGD_PATH);
    assert_int_equal(run_capture(cmd, out, sizeof out), 2);
}

int main(void)
{
    if (!have_program("redis-cli")) {
        fprintf(stderr, "redis-cli (redis-tools) is not installed: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_cli_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resp3_and_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_benchmark_and_help, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
