/*
 * commands.c — seglogd's command table and dispatch, and the helpers every command family uses:
 * argument parsing, error replies, key lookup and a log's bounds.
 *
 * A request's first argument names the command. cmd_dispatch() finds it in cmd_table (case
 * insensitive), checks authentication and arity the Redis way, and calls its handler. The
 * handlers live with their family, as Redis keeps t_stream.c apart from networking.c:
 *   cmd_server.c  connection and server commands (PING, AUTH, HELLO, INFO, CLIENT, CONFIG, ...)
 *   cmd_stream.c  the Redis stream commands (XADD, XRANGE, XREVRANGE, XREAD, XLEN, XTRIM, XINFO)
 *   cmd_log.c     seglog's own LOG.* commands (create, append, read, tail, seal, extend, trim)
 * and they share catalog.c (which log a key names) and append.c (batched asynchronous appends).
 * commands.h is their private header.
 *
 * All handlers run on the event loop. Appends are asynchronous (the reply is sent once durable,
 * see server.c); reads, tails, seal, extend and trim call the library synchronously: they are
 * bounded in-memory or RocksDB operations (a seal waits for the appends sequenced before it).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "commands.h"

/* ---- helpers for every family ---------------------------------------------------------------- */

bool arg_is(const resp_arg *a, const char *s)
{
    size_t n = strlen(s);
    return a->len == n && strncasecmp(a->p, s, n) == 0;
}

/* A decimal unsigned 64-bit number, all of the argument. */
bool arg_u64(const resp_arg *a, uint64_t *out)
{
    if (a->len == 0 || a->len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < a->len; i++) {
        if (a->p[i] < '0' || a->p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(a->p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool arg_i64(const resp_arg *a, int64_t *out)
{
    if (a->len > 0 && a->p[0] == '-') {
        resp_arg rest = {a->p + 1, a->len - 1};
        uint64_t v;
        if (!arg_u64(&rest, &v) || v > (uint64_t)INT64_MAX)
            return false;
        *out = -(int64_t)v;
        return true;
    }
    uint64_t v;
    if (!arg_u64(a, &v) || v > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

const char *seglog_reply_prefix(int code)
{
    switch (code) {
    case SEGLOG_ESEALED: return "SEALED";
    case SEGLOG_ECONFLICT: return "CONFLICT";
    case SEGLOG_ETIMEDOUT: return "TIMEOUT";
    case SEGLOG_ENOTFOUND: return "NOTFOUND";
    case SEGLOG_EPOISONED: return "POISONED";
    case SEGLOG_ESHUTDOWN: return "SHUTDOWN";
    case SEGLOG_EFULL: return "BUSY";
    default: return "ERR";
    }
}

void reply_seglog_err(sbuf *b, int rc, const seglog_error *err)
{
    resp_errorf(b, "%s %s (%s)", seglog_reply_prefix(rc), err->message[0] ? err->message : "",
                seglog_strerror(rc));
}

void reply_arity(sbuf *b, const resp_arg *name)
{
    resp_errorf(b, "ERR wrong number of arguments for '%.*s' command",
                (int)(name->len > 64 ? 64 : name->len), name->p);
}

stream_ent *cmd_lookup(cmd_ctx *x, size_t i)
{
    return catalog_find(x->srv, x->argv[i].p, x->argv[i].len);
}

stream_ent *cmd_lookup_or_err(cmd_ctx *x, size_t i)
{
    stream_ent *e = cmd_lookup(x, i);
    if (!e)
        resp_errorf(R(x), "NOTFOUND no such log '%.*s'",
                    (int)(x->argv[i].len > 128 ? 128 : x->argv[i].len), x->argv[i].p);
    return e;
}

/* The durable tail's last LSN (0: empty) and the trim point. */
int log_bounds(server *srv, stream_ent *ent, seglog_lsn *last, seglog_lsn *trim,
               seglog_tail *tail, seglog_error *err)
{
    seglog_log_info *info = NULL;
    int rc = seglog_log_describe(srv->s, ent->id, &info, err);
    if (rc != SEGLOG_OK)
        return rc;
    *last = info->tail.lsn - 1;
    *trim = info->trim_point;
    if (tail)
        *tail = info->tail;
    seglog_log_info_free(info);
    return SEGLOG_OK;
}

/* ---- table and dispatch ---------------------------------------------------------------------- */

typedef struct cmd_def {
    const char *name;
    size_t len;     /* strlen(name): most lookups end at a length mismatch */
    int arity;      /* Redis style: n exact argument count (name included), -n at least n */
    bool noauth;    /* allowed before AUTH */
    void (*fn)(cmd_ctx *x);
} cmd_def;

static const cmd_def cmd_table[] = {
    {"PING", 4, -1, false, cmd_ping},
    {"ECHO", 4, 2, false, cmd_echo},
    {"AUTH", 4, -2, true, cmd_auth},
    {"HELLO", 5, -1, true, cmd_hello},
    {"INFO", 4, -1, false, cmd_info},
    {"COMMAND", 7, -1, false, cmd_command},
    {"CLIENT", 6, -2, false, cmd_client},
    {"SELECT", 6, 2, false, cmd_select},
    {"CONFIG", 6, -2, false, cmd_config},
    {"QUIT", 4, -1, true, cmd_quit},
    {"SHUTDOWN", 8, -1, false, cmd_shutdown},
    {"XADD", 4, -5, false, cmd_xadd},
    {"XRANGE", 6, -4, false, cmd_xrange},
    {"XREVRANGE", 9, -4, false, cmd_xrevrange},
    {"XREAD", 5, -4, false, cmd_xread},
    {"XLEN", 4, 2, false, cmd_xlen},
    {"XTRIM", 5, -4, false, cmd_xtrim},
    {"XINFO", 5, -3, false, cmd_xinfo},
    {"LOG.CREATE", 10, 2, false, cmd_log_create},
    {"LOG.APPEND", 10, 3, false, cmd_log_append},
    {"LOG.READ", 8, -4, false, cmd_log_read},
    {"LOG.TAIL", 8, 2, false, cmd_log_tail},
    {"LOG.SEAL", 8, 2, false, cmd_log_seal},
    {"LOG.EXTEND", 10, -2, false, cmd_log_extend},
    {"LOG.SEALEXTEND", 14, -2, false, cmd_log_sealextend},
    {"LOG.TRIM", 8, 3, false, cmd_log_trim},
    {"LOG.DESCRIBE", 12, -2, false, cmd_log_describe},
};

void cmd_dispatch(server *srv, conn *c, resp_arg *argv, size_t argc)
{
    cmd_ctx x = {.srv = srv, .c = c, .argv = argv, .argc = argc};
    const cmd_def *d = NULL;
    for (size_t i = 0; i < sizeof cmd_table / sizeof cmd_table[0]; i++) {
        if (argv[0].len == cmd_table[i].len &&
            strncasecmp(argv[0].p, cmd_table[i].name, argv[0].len) == 0) {
            d = &cmd_table[i];
            break;
        }
    }
    if (!d) {
        batch_flush(srv, c);
        sbuf *b = conn_reply(c);
        char args[200];
        size_t off = 0;
        for (size_t i = 1; i < argc && i < 4 && off < sizeof args - 80; i++) {
            int n = snprintf(args + off, sizeof args - off, "'%.*s' ",
                             (int)(argv[i].len > 64 ? 64 : argv[i].len), argv[i].p);
            off += n > 0 ? (size_t)n : 0;
        }
        args[off] = 0;
        resp_errorf(b, "ERR unknown command '%.*s', with args beginning with: %s",
                    (int)(argv[0].len > 64 ? 64 : argv[0].len), argv[0].p, args);
        return;
    }
    if (c->building && d->fn != cmd_xadd && d->fn != cmd_log_append)
        batch_flush(srv, c); /* keeps every other command after the appends before it */
    if (!c->authed && !d->noauth) {
        resp_error(conn_reply(c), "NOAUTH Authentication required.");
        return;
    }
    if ((d->arity > 0 && argc != (size_t)d->arity) ||
        (d->arity < 0 && argc < (size_t)-d->arity)) {
        reply_arity(conn_reply(c), &argv[0]);
        return;
    }
    d->fn(&x);
}
