/*
 * cmd_log.c — seglog's own commands, LOG.*: they expose the log store's model beside the stream
 * commands. LOG.CREATE and LOG.APPEND (raw records), LOG.READ (records and trimmed gaps by LSN),
 * LOG.TAIL, and the chain operations LOG.SEAL, LOG.EXTEND, LOG.SEALEXTEND and LOG.TRIM, whose
 * reply is the new tail; LOG.DESCRIBE adds the server's own appends waiting on the log to the
 * library's description.
 *
 * A chain change bumps the log's generation (stream_ent.gen), so that XREADs blocked on it look
 * again.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

void cmd_log_append(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    if (ent)
        append_submit(x, ent, SLOT_APPEND, &x->argv[2], 1);
}

void cmd_log_create(cmd_ctx *x)
{
    if (cmd_lookup(x, 1)) {
        resp_errorf(R(x), "ERR log '%.*s' already exists",
                    (int)(x->argv[1].len > 128 ? 128 : x->argv[1].len), x->argv[1].p);
        return;
    }
    stream_ent *ent = NULL;
    seglog_error err = {0};
    int rc = catalog_create(x->srv, &x->argv[1], &ent, &err);
    if (rc != SEGLOG_OK)
        reply_seglog_err(R(x), rc, &err);
    else
        resp_int(R(x), (long long)ent->id);
}

static void reply_tail(cmd_ctx *x, const seglog_tail *t)
{
    sbuf *b = R(x);
    resp_map(b, x->c->proto, 4);
    resp_bulk_str(b, "lsn");
    resp_int(b, (long long)t->lsn);
    resp_bulk_str(b, "sealed");
    resp_int(b, t->sealed);
    resp_bulk_str(b, "version");
    resp_int(b, (long long)t->version);
    resp_bulk_str(b, "segment");
    resp_int(b, (long long)t->segment_id);
}

void cmd_log_tail(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    if (!ent)
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_find_tail(x->srv->s, ent->id, &t, &err);
    if (rc != SEGLOG_OK)
        reply_seglog_err(R(x), rc, &err);
    else
        reply_tail(x, &t);
}

/* The chain changed: blocked XREADs on this log look again (server.c wakes them). */
static void chain_changed(cmd_ctx *x, stream_ent *ent)
{
    (void)x;
    ent->gen++;
}

/* A chain change's reply: the new tail, after waking the clients that wait on the log. */
static void chain_reply(cmd_ctx *x, stream_ent *ent, int rc, const seglog_tail *t,
                        const seglog_error *err)
{
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, err);
        return;
    }
    chain_changed(x, ent);
    reply_tail(x, t);
}

/* `CMD key [WORD n]`: *v = n, or 0 without it; false once an error has been replied. */
static bool opt_word_u64(cmd_ctx *x, const char *word, const char *bad, const char *usage,
                         uint64_t *v)
{
    *v = 0;
    if (x->argc == 4 && arg_is(&x->argv[2], word)) {
        if (!arg_u64(&x->argv[3], v)) {
            resp_error(R(x), bad);
            return false;
        }
    } else if (x->argc != 2) {
        resp_error(R(x), usage);
        return false;
    }
    return true;
}

void cmd_log_seal(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    if (!ent)
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_seal(x->srv->s, ent->id, &t, &err);
    chain_reply(x, ent, rc, &t, &err);
}

void cmd_log_extend(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    uint64_t base;
    if (!ent || !opt_word_u64(x, "BASE", "ERR BASE must be an LSN",
                              "ERR syntax error: LOG.EXTEND key [BASE lsn]", &base))
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_extend(x->srv->s, ent->id, base, &t, &err);
    chain_reply(x, ent, rc, &t, &err);
}

void cmd_log_sealextend(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    uint64_t version;
    if (!ent || !opt_word_u64(x, "VERSION", "ERR VERSION must be a chain version",
                              "ERR syntax error: LOG.SEALEXTEND key [VERSION v]", &version))
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_seal_and_extend(x->srv->s, ent->id, version, &t, &err);
    chain_reply(x, ent, rc, &t, &err);
}

void cmd_log_trim(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    if (!ent)
        return;
    uint64_t lsn;
    if (!arg_u64(&x->argv[2], &lsn)) {
        resp_error(R(x), "ERR the trim point must be an LSN");
        return;
    }
    seglog_lsn to = 0;
    seglog_error err = {0};
    int rc = seglog_log_trim(x->srv->s, ent->id, lsn, &to, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    chain_changed(x, ent);
    resp_int(R(x), (long long)to);
}

void cmd_log_describe(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    if (!ent)
        return;
    int json = x->argc == 3 && arg_is(&x->argv[2], "JSON");
    if (x->argc == 3 && !json) {
        resp_error(R(x), "ERR syntax error: LOG.DESCRIBE key [JSON]");
        return;
    }
    char *text = NULL;
    seglog_error err = {0};
    int rc = seglog_log_describe_format(x->srv->s, ent->id, json, &text, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    /* The library lists the appenders that wait inside a synchronous call; the server's own
     * appends are asynchronous, so it adds what it knows: its appends to this log that are not
     * durable yet (parked behind a seal, or in the WAL's queue), and the oldest one's age. */
    uint64_t oldest_ms = ent->pending_head ? (now_ns() - ent->pending_head->start_ns) / 1000000u : 0;
    sbuf out = {0};
    if (json) {
        size_t n = strlen(text);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '}'))
            n--; /* reopen the object: strip the closing brace */
        sbuf_append(&out, text, n);
        sbuf_printf(&out, ",\"server_appends_waiting\":{\"count\":%u,\"oldest_ms\":%" PRIu64
                    ",\"timeout_ms\":%u}}", ent->inflight, oldest_ms, x->srv->opt.append_wait_ms);
        resp_bulk(R(x), out.p, out.len);
    } else {
        sbuf_append(&out, text, strlen(text));
        sbuf_printf(&out, "  %u client append(s) not yet durable (seglogd), the oldest for %" PRIu64
                    " ms; a sealed log makes them wait up to %u ms\n", ent->inflight, oldest_ms,
                    x->srv->opt.append_wait_ms);
        resp_verbatim(R(x), x->c->proto, out.p, out.len);
    }
    sbuf_fini(&out);
    free(text);
}

void cmd_log_read(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup_or_err(x, 1);
    if (!ent)
        return;
    uint64_t from = 0, to = 0, count = SERVER_RANGE_MAX_ENTRIES;
    bool ok = (arg_is(&x->argv[2], "-") ? (from = 1, true) : arg_u64(&x->argv[2], &from)) &&
              (arg_is(&x->argv[3], "+") ? (to = UINT64_MAX, true) : arg_u64(&x->argv[3], &to));
    if (ok && x->argc == 6 && arg_is(&x->argv[4], "COUNT"))
        ok = arg_u64(&x->argv[5], &count);
    else if (x->argc != 4)
        ok = false;
    if (!ok) {
        resp_error(R(x), "ERR syntax error: LOG.READ key from|- to|+ [COUNT n]");
        return;
    }
    seglog_lsn last, trim;
    seglog_error err = {0};
    int rc = log_bounds(x->srv, ent, &last, &trim, NULL, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    if (from < 1)
        from = 1;
    if (to > last)
        to = last;
    bool counted = x->argc == 6;
    if (counted && count > SERVER_RANGE_MAX_ENTRIES) {
        resp_errorf(R(x), "ERR COUNT is limited to %u entries per reply", SERVER_RANGE_MAX_ENTRIES);
        return;
    }
    if (!counted && from <= to && to - from + 1 > SERVER_RANGE_MAX_ENTRIES) {
        resp_errorf(R(x), "ERR the range holds more than %u entries: page through it with COUNT",
                    SERVER_RANGE_MAX_ENTRIES);
        return;
    }
    sbuf body = {0};
    size_t n = 0;
    if (from <= to && count > 0) {
        seglog_reader *r = NULL;
        rc = seglog_reader_open(&r, x->srv->s, ent->id, from, to, &err);
        seglog_entry e;
        while (rc == SEGLOG_OK && n < count &&
               (rc = seglog_reader_next(r, CMD_READ_TIMEOUT_MS, &e, &err)) == SEGLOG_OK) {
            resp_array(&body, 2);
            resp_int(&body, (long long)e.lsn);
            if (e.kind == SEGLOG_ENTRY_RECORD)
                resp_bulk(&body, e.payload, e.len);
            else
                resp_int(&body, (long long)e.gap_to); /* a trimmed range: [first, last] */
            n++;
            if (body.len > SERVER_REPLY_MAX_BYTES) {
                rc = SEGLOG_ETOOLARGE;
                snprintf(err.message, sizeof err.message, "reply larger than %u bytes: use COUNT",
                         SERVER_REPLY_MAX_BYTES);
            }
        }
        seglog_reader_close(r);
        if (rc == SEGLOG_EEND)
            rc = SEGLOG_OK;
    }
    if (rc != SEGLOG_OK && n < count) {
        reply_seglog_err(R(x), rc, &err);
    } else {
        sbuf *b = R(x);
        resp_array(b, n);
        sbuf_append(b, body.p, body.len);
    }
    sbuf_fini(&body);
}
