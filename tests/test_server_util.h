/*
 * test_server_util.h — fixtures for the seglogd tests: start the built server as a child process
 * on a free port (it writes the port it bound to a file), connect with hiredis or a raw socket,
 * stop it with SIGTERM or SIGKILL, and run redis-cli / redis-benchmark when the machine has them.
 * Header-only, like test_util.h. SEGLOGD_PATH is the binary, set by CMake.
 */
#ifndef SEGLOG_TEST_SERVER_UTIL_H
#define SEGLOG_TEST_SERVER_UTIL_H

#include "test_util.h"

#include <hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define SRV_START_TIMEOUT_MS 60000 /* a sanitizer build on a busy 2-core machine is slow */
#define SRV_STOP_TIMEOUT_MS 60000
#define SRV_IO_TIMEOUT_MS 30000

typedef struct srv {
    char dir[TEST_PATH_MAX];   /* scratch directory: store in dir/data, log in dir/log */
    pid_t pid;
    int port;
    int metrics_port;
} srv;

static inline uint64_t srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void srv_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Makes the scratch directory (/var/tmp/server-<tag>-XXXXXX unless $SEGLOG_TEST_DIR). */
static inline void srv_init(srv *s, const char *tag)
{
    memset(s, 0, sizeof *s);
    const char *base = getenv("SEGLOG_TEST_DIR");
    snprintf(s->dir, sizeof s->dir, "%s/server-%s-XXXXXX", base && *base ? base : "/var/tmp", tag);
    assert_non_null(mkdtemp(s->dir));
}

/* Starts seglogd on the scratch store with extra arguments (NULL-terminated list, may be NULL). */
static inline void srv_start(srv *s, const char *const *extra)
{
    char data[TEST_PATH_MAX + 8], portfile[TEST_PATH_MAX + 8], logf[TEST_PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(portfile, sizeof portfile, "%s/port", s->dir);
    snprintf(logf, sizeof logf, "%s/log", s->dir);
    unlink(portfile);
    const char *argv[64];
    int n = 0;
    argv[n++] = SEGLOGD_PATH;
    argv[n++] = "--dir";
    argv[n++] = data;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--metrics-port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = portfile;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    uint64_t deadline = srv_now_ms() + SRV_START_TIMEOUT_MS;
    for (;;) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d %d", &s->port, &s->metrics_port);
            fclose(f);
            if (ok == 2)
                return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("seglogd exited at start (status %d); see %s", st, logf);
        }
        if (srv_now_ms() > deadline)
            fail_msg("seglogd did not start within %d ms; see %s", SRV_START_TIMEOUT_MS, logf);
        srv_sleep_ms(20);
    }
}

/* Sends sig and waits for the exit; returns the wait status. */
static inline int srv_signal_wait(srv *s, int sig)
{
    assert_true(s->pid > 0);
    kill(s->pid, sig);
    uint64_t deadline = srv_now_ms() + SRV_STOP_TIMEOUT_MS;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid)
            break;
        if (srv_now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            fail_msg("seglogd did not exit within %d ms of signal %d", SRV_STOP_TIMEOUT_MS, sig);
        }
        srv_sleep_ms(10);
    }
    s->pid = 0;
    return st;
}

/* SIGTERM; asserts a clean exit (status 0). */
static inline void srv_stop(srv *s)
{
    int st = srv_signal_wait(s, SIGTERM);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("seglogd exited with status 0x%x after SIGTERM; see %s/log", st, s->dir);
}

static inline void srv_fini(srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (!getenv("SEGLOG_TEST_KEEP"))
        test_rmtree(s->dir);
}

static inline redisContext *srv_connect(const srv *s)
{
    struct timeval tv = {.tv_sec = SRV_IO_TIMEOUT_MS / 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    assert_non_null(c);
    if (c->err)
        fail_msg("connect to seglogd on port %d: %s", s->port, c->errstr);
    redisSetTimeout(c, tv);
    return c;
}

static inline redisReply *cmd_ok(redisContext *ctx, void *r, const char *file, int line)
{
    if (!r)
        fail_msg("%s:%d: no reply: %s", file, line, ctx->errstr);
    return r;
}

/* Runs a command (printf-style, hiredis formatting) and returns the reply; fails on I/O error. */
#define CMD(ctx, ...) cmd_ok((ctx), redisCommand((ctx), __VA_ARGS__), __FILE__, __LINE__)

/* Asserts a reply type and frees nothing (callers free). */
static inline void expect_status(redisReply *r, const char *s)
{
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, s) != 0)
        fail_msg("expected status %s, got type %d '%s'", s, r->type, r->str ? r->str : "");
}

static inline void expect_str(redisReply *r, const char *s)
{
    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, s) != 0)
        fail_msg("expected string '%s', got type %d '%s'", s, r->type, r->str ? r->str : "");
}

static inline void expect_int(redisReply *r, long long v)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer != v)
        fail_msg("expected integer %lld, got type %d %lld '%s'", v, r->type, r->integer,
                 r->str ? r->str : "");
}

/* An error reply starting with prefix. */
static inline void expect_err(redisReply *r, const char *prefix)
{
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, prefix, strlen(prefix)) != 0)
        fail_msg("expected error '%s...', got type %d '%s'", prefix, r->type, r->str ? r->str : "");
}

#define EXPECT_STATUS(ctx, s, ...)                                                                 \
    do {                                                                                           \
        redisReply *r__ = CMD(ctx, __VA_ARGS__);                                                   \
        expect_status(r__, s);                                                                     \
        freeReplyObject(r__);                                                                      \
    } while (0)
#define EXPECT_STR(ctx, s, ...)                                                                    \
    do {                                                                                           \
        redisReply *r__ = CMD(ctx, __VA_ARGS__);                                                   \
        expect_str(r__, s);                                                                        \
        freeReplyObject(r__);                                                                      \
    } while (0)
#define EXPECT_INT(ctx, v, ...)                                                                    \
    do {                                                                                           \
        redisReply *r__ = CMD(ctx, __VA_ARGS__);                                                   \
        expect_int(r__, v);                                                                        \
        freeReplyObject(r__);                                                                      \
    } while (0)
#define EXPECT_ERR(ctx, p, ...)                                                                    \
    do {                                                                                           \
        redisReply *r__ = CMD(ctx, __VA_ARGS__);                                                   \
        expect_err(r__, p);                                                                        \
        freeReplyObject(r__);                                                                      \
    } while (0)

/* A raw TCP connection, for bytes no client library would send. */
static inline int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static inline void raw_send(int fd, const void *p, size_t n)
{
    const char *q = p;
    while (n > 0) {
        ssize_t w = send(fd, q, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close on a protocol error: fine */
        q += w;
        n -= (size_t)w;
    }
}

/* Reads until want bytes, EOF or timeout; returns the byte count, NUL-terminates buf. */
static inline size_t raw_recv(int fd, char *buf, size_t cap, size_t want, int timeout_ms)
{
    size_t got = 0;
    uint64_t deadline = srv_now_ms() + (uint64_t)timeout_ms;
    while (got < want && got + 1 < cap) {
        uint64_t now = srv_now_ms();
        if (now >= deadline)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            break;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = 0;
    return got;
}

/* True if an executable named name is on PATH. */
static inline int have_program(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Runs a shell command and captures its stdout (up to cap-1 bytes); returns the exit status. */
static inline int run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif /* SEGLOG_TEST_SERVER_UTIL_H */
