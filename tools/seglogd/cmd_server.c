/*
 * cmd_server.c — the connection and server commands: PING, ECHO, AUTH, HELLO, INFO, COMMAND,
 * CLIENT, SELECT, CONFIG, QUIT and SHUTDOWN. They answer what redis-cli, redis-benchmark and client
 * libraries ask when they connect, so that those work unchanged; none of them touches a log.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

void cmd_ping(cmd_ctx *x)
{
    if (x->argc == 2)
        resp_bulk(R(x), x->argv[1].p, x->argv[1].len);
    else
        resp_simple(R(x), "PONG");
}

void cmd_echo(cmd_ctx *x)
{
    resp_bulk(R(x), x->argv[1].p, x->argv[1].len);
}

static bool password_ok(server *srv, const resp_arg *user, const resp_arg *pass)
{
    if (user && !arg_is(user, "default"))
        return false;
    const char *want = srv->opt.requirepass;
    size_t wn = strlen(want);
    unsigned char diff = (unsigned char)(wn != pass->len);
    for (size_t i = 0; i < pass->len; i++) /* time independent of where they differ */
        diff |= (unsigned char)(want[i % (wn ? wn : 1)] ^ pass->p[i]);
    return diff == 0;
}

void cmd_auth(cmd_ctx *x)
{
    if (!x->srv->opt.requirepass) {
        resp_error(R(x), "ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
        return;
    }
    bool ok = x->argc == 2 ? password_ok(x->srv, NULL, &x->argv[1])
                           : password_ok(x->srv, &x->argv[1], &x->argv[2]);
    if (!ok) {
        resp_error(R(x), "WRONGPASS invalid username-password pair or user is disabled.");
        return;
    }
    x->c->authed = true;
    resp_simple(R(x), "OK");
}

void cmd_hello(cmd_ctx *x)
{
    int proto = x->c->proto;
    size_t i = 1;
    if (x->argc > 1) {
        uint64_t v;
        if (!arg_u64(&x->argv[1], &v) || v < 2 || v > 3) {
            resp_error(R(x), "NOPROTO unsupported protocol version");
            return;
        }
        proto = (int)v;
        i = 2;
    }
    const resp_arg *setname = NULL;
    for (; i < x->argc; i++) {
        if (arg_is(&x->argv[i], "AUTH") && i + 2 < x->argc) {
            if (!x->srv->opt.requirepass ||
                !password_ok(x->srv, &x->argv[i + 1], &x->argv[i + 2])) {
                resp_error(R(x), "WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            x->c->authed = true;
            i += 2;
        } else if (arg_is(&x->argv[i], "SETNAME") && i + 1 < x->argc) {
            setname = &x->argv[++i];
        } else {
            resp_errorf(R(x), "ERR Syntax error in HELLO option '%.*s'",
                        (int)(x->argv[i].len > 64 ? 64 : x->argv[i].len), x->argv[i].p);
            return;
        }
    }
    if (!x->c->authed) {
        resp_error(R(x), "NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO <proto> AUTH <user> <pass> option can be used");
        return;
    }
    if (setname)
        snprintf(x->c->name, sizeof x->c->name, "%.*s", (int)setname->len, setname->p);
    x->c->proto = proto;
    sbuf *b = R(x);
    resp_map(b, proto, 7);
    resp_bulk_str(b, "server");
    resp_bulk_str(b, "seglogd");
    resp_bulk_str(b, "version");
    resp_bulk_str(b, seglog_version());
    resp_bulk_str(b, "proto");
    resp_int(b, proto);
    resp_bulk_str(b, "id");
    resp_int(b, (long long)x->c->id);
    resp_bulk_str(b, "mode");
    resp_bulk_str(b, "standalone");
    resp_bulk_str(b, "role");
    resp_bulk_str(b, "master");
    resp_bulk_str(b, "modules");
    resp_array(b, 0);
}

void cmd_info(cmd_ctx *x)
{
    sbuf text = {0};
    char sec[32] = "";
    if (x->argc > 1)
        snprintf(sec, sizeof sec, "%.*s", (int)(x->argv[1].len > 31 ? 31 : x->argv[1].len),
                 x->argv[1].p);
    metrics_info(x->srv, &text, x->argc > 1 ? sec : NULL);
    resp_verbatim(R(x), x->c->proto, text.p ? text.p : "", text.len);
    sbuf_fini(&text);
}

void cmd_command(cmd_ctx *x)
{
    if (x->argc > 1 && arg_is(&x->argv[1], "COUNT"))
        resp_int(R(x), 0);
    else if (x->argc > 1 && arg_is(&x->argv[1], "DOCS"))
        resp_map(R(x), x->c->proto, 0);
    else
        resp_array(R(x), 0); /* clients treat an empty table as "no command metadata" */
}

void cmd_client(cmd_ctx *x)
{
    const resp_arg *sub = &x->argv[1];
    if (arg_is(sub, "SETNAME") && x->argc == 3) {
        for (size_t i = 0; i < x->argv[2].len; i++) {
            if (x->argv[2].p[i] <= ' ' || x->argv[2].p[i] > '~') {
                resp_error(R(x), "ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
        }
        snprintf(x->c->name, sizeof x->c->name, "%.*s", (int)x->argv[2].len, x->argv[2].p);
        resp_simple(R(x), "OK");
    } else if (arg_is(sub, "GETNAME")) {
        if (x->c->name[0])
            resp_bulk_str(R(x), x->c->name);
        else
            resp_null(R(x), x->c->proto);
    } else if (arg_is(sub, "ID")) {
        resp_int(R(x), (long long)x->c->id);
    } else if (arg_is(sub, "SETINFO")) {
        resp_simple(R(x), "OK");
    } else {
        resp_errorf(R(x), "ERR unknown subcommand '%.*s'. Try CLIENT SETNAME, GETNAME or ID.",
                    (int)(sub->len > 64 ? 64 : sub->len), sub->p);
    }
}

void cmd_select(cmd_ctx *x)
{
    if (arg_is(&x->argv[1], "0"))
        resp_simple(R(x), "OK");
    else
        resp_error(R(x), "ERR DB index is out of range");
}

void cmd_config(cmd_ctx *x)
{
    if (arg_is(&x->argv[1], "GET") && x->argc == 3) {
        /* redis-benchmark asks for these two; every append here is durable (appendfsync always) */
        const resp_arg *k = &x->argv[2];
        const char *v = arg_is(k, "appendonly") ? "yes" : arg_is(k, "save") ? "" : NULL;
        resp_map(R(x), x->c->proto, v ? 1 : 0);
        if (v) {
            resp_bulk(R(x), k->p, k->len);
            resp_bulk_str(R(x), v);
        }
    } else
        resp_error(R(x), "ERR CONFIG: only GET is supported (and returns nothing)");
}

void cmd_quit(cmd_ctx *x)
{
    resp_simple(R(x), "OK");
    x->c->close_after = true;
}

void cmd_shutdown(cmd_ctx *x)
{
    fprintf(stderr, "seglogd: SHUTDOWN from client %" PRIu64 "\n", x->c->id);
    x->c->close_after = true; /* like Redis: no reply, the connection closes */
    server_stop(x->srv);
}
