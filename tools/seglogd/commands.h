/*
 * commands.h — private to seglogd's command modules (commands.c, catalog.c, append.c and the
 * families cmd_server.c, cmd_stream.c, cmd_log.c): the handler context, the helpers they share,
 * and the handlers that commands.c's table names. What server.c calls is in server.h.
 *
 * Everything here runs on the event-loop thread.
 */
#ifndef SEGLOGD_COMMANDS_H
#define SEGLOGD_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* A synchronous read waits this long for a durable record not yet applied to RocksDB: a few ms
 * at most in practice. */
#define CMD_READ_TIMEOUT_MS 5000u

/* One request being handled. argv[0] is the command's name; argv stays valid for the call only. */
typedef struct cmd_ctx {
    server *srv;
    conn *c;
    resp_arg *argv;
    size_t argc;
} cmd_ctx;

/* Where the handler's synchronous reply goes (in request order). */
static inline sbuf *R(cmd_ctx *x)
{
    return conn_reply(x->c);
}

/* ---- commands.c: helpers for every family ---------------------------------------------------- */

/* a equals s, ignoring ASCII case. */
bool arg_is(const resp_arg *a, const char *s);
/* A decimal unsigned 64-bit number, all of the argument. */
bool arg_u64(const resp_arg *a, uint64_t *out);
/* The same with an optional leading '-'. */
bool arg_i64(const resp_arg *a, int64_t *out);

/* "<PREFIX> <message> (<seglog_strerror>)": the prefix says what a client may act on. */
void reply_seglog_err(sbuf *b, int rc, const seglog_error *err);
/* Redis's "wrong number of arguments" error for the command name. */
void reply_arity(sbuf *b, const resp_arg *name);

/* The log that x->argv[i] names, or NULL. */
stream_ent *cmd_lookup(cmd_ctx *x, size_t i);
/* The same, replying NOTFOUND when there is none. */
stream_ent *cmd_lookup_or_err(cmd_ctx *x, size_t i);

/* The log's last durable LSN (0: empty) and trim point, and its tail if tail is not NULL. */
int log_bounds(server *srv, stream_ent *ent, seglog_lsn *last, seglog_lsn *trim,
               seglog_tail *tail, seglog_error *err);

/* ---- catalog.c ------------------------------------------------------------------------------- */

/* The entry of key p[0..n), or NULL. */
stream_ent *catalog_find(server *srv, const char *p, size_t n);
/* Creates the log for a new key: the catalog record first (durable), then the log. */
int catalog_create(server *srv, const resp_arg *key, stream_ent **out, seglog_error *err);

/* ---- append.c -------------------------------------------------------------------------------- */

/* Adds one append (kind SLOT_XADD: nfv fields and values; SLOT_APPEND: the raw record fv[0]) to
 * the connection's batch; the reply comes once it is durable. */
void append_submit(cmd_ctx *x, stream_ent *ent, enum slot_kind kind, const resp_arg *fv,
                   size_t nfv);

/* ---- cmd_stream.c: the stream entry format --------------------------------------------------- */

/* Bytes of the encoding of n fields and values. */
size_t stream_fields_encoded_len(const resp_arg *fv, size_t n);
/* Appends the encoding of n fields and values to b. */
void stream_fields_encode(sbuf *b, const resp_arg *fv, size_t n);

/* ---- the handlers (cmd_table in commands.c) -------------------------------------------------- */

/* cmd_server.c */
void cmd_ping(cmd_ctx *x);
void cmd_echo(cmd_ctx *x);
void cmd_auth(cmd_ctx *x);
void cmd_hello(cmd_ctx *x);
void cmd_info(cmd_ctx *x);
void cmd_command(cmd_ctx *x);
void cmd_client(cmd_ctx *x);
void cmd_select(cmd_ctx *x);
void cmd_config(cmd_ctx *x);
void cmd_quit(cmd_ctx *x);
void cmd_shutdown(cmd_ctx *x);

/* cmd_stream.c */
void cmd_xadd(cmd_ctx *x);
void cmd_xrange(cmd_ctx *x);
void cmd_xrevrange(cmd_ctx *x);
void cmd_xread(cmd_ctx *x);
void cmd_xlen(cmd_ctx *x);
void cmd_xtrim(cmd_ctx *x);
void cmd_xinfo(cmd_ctx *x);

/* cmd_log.c */
void cmd_log_create(cmd_ctx *x);
void cmd_log_append(cmd_ctx *x);
void cmd_log_read(cmd_ctx *x);
void cmd_log_tail(cmd_ctx *x);
void cmd_log_seal(cmd_ctx *x);
void cmd_log_extend(cmd_ctx *x);
void cmd_log_sealextend(cmd_ctx *x);
void cmd_log_trim(cmd_ctx *x);
void cmd_log_describe(cmd_ctx *x);

#endif /* SEGLOGD_COMMANDS_H */
