/*
 * commands.c — seglogd's command table and handlers, and the stream catalog.
 *
 * Catalog. Redis keys are strings, seglog logs are 64-bit ids. The server keeps the mapping in a
 * log of its own, CATALOG_LOG (a reserved id at the top of the range), one record per key:
 * "SCAT" | id (8 bytes, little-endian) | key bytes. It is appended (durably) before the log it
 * names is created, and at start-up it is read back and every named log is created if a crash
 * came between the two; ids are handed out from 1 upwards. So the mapping survives crashes with
 * the same guarantee as the data, and the server needs nothing but the public API.
 *
 * Stream entries. An XADD record's payload is "\xF5X" | u32 pair count | (u32 len | bytes) per
 * field and value, little-endian. The id of the record at LSN n is "n-0": LSNs are dense (seal and
 * extend keep them contiguous), so id ranges map one-to-one onto LSN ranges. A record that does
 * not decode as fields (one written by LOG.APPEND) is shown by XRANGE as the pair
 * "payload" <raw bytes>; LOG.READ shows every record's raw bytes.
 *
 * All handlers run on the event loop. Appends are asynchronous (the reply is sent once durable,
 * see server.c); reads, tails, seal, extend and trim call the library synchronously: they are
 * bounded in-memory or RocksDB operations (a seal waits for the appends sequenced before it).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"

#define CATALOG_LOG UINT64_C(0xFFFFFFFFFFFFFF00)
#define CATALOG_MAGIC "SCAT"
#define CATALOG_READ_TIMEOUT_MS 5000u
#define ENTRY_MAGIC0 0xF5u
#define ENTRY_MAGIC1 'X'
#define READ_TIMEOUT_MS 5000u /* a durable record not yet applied to RocksDB: a few ms at most */

/* ---- small helpers --------------------------------------------------------------------------- */

static bool arg_is(const resp_arg *a, const char *s)
{
    size_t n = strlen(s);
    return a->len == n && strncasecmp(a->p, s, n) == 0;
}

/* A decimal unsigned 64-bit number, all of the argument. */
static bool arg_u64(const resp_arg *a, uint64_t *out)
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

static bool arg_i64(const resp_arg *a, int64_t *out)
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

/* A stream id "ms" or "ms-seq". */
static bool parse_id(const resp_arg *a, uint64_t *ms, uint64_t *seq, bool *has_seq)
{
    const char *dash = memchr(a->p, '-', a->len);
    if (!dash) {
        *seq = 0;
        *has_seq = false;
        return arg_u64(a, ms);
    }
    resp_arg l = {a->p, (size_t)(dash - a->p)};
    resp_arg r = {dash + 1, a->len - l.len - 1};
    *has_seq = true;
    return arg_u64(&l, ms) && arg_u64(&r, seq);
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

static void reply_seglog_err(sbuf *b, int rc, const seglog_error *err)
{
    resp_errorf(b, "%s %s (%s)", seglog_reply_prefix(rc), err->message[0] ? err->message : "",
                seglog_strerror(rc));
}

static void reply_arity(sbuf *b, const resp_arg *name)
{
    resp_errorf(b, "ERR wrong number of arguments for '%.*s' command",
                (int)(name->len > 64 ? 64 : name->len), name->p);
}

/* ---- catalog --------------------------------------------------------------------------------- */

static uint64_t name_hash(const char *p, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static stream_ent *catalog_find(server *srv, const char *p, size_t n)
{
    if (srv->cat_cap == 0)
        return NULL;
    size_t mask = srv->cat_cap - 1;
    for (size_t i = (size_t)name_hash(p, n) & mask;; i = (i + 1) & mask) {
        stream_ent *e = srv->cat[i];
        if (!e)
            return NULL;
        if (e->name_len == n && memcmp(e->name, p, n) == 0)
            return e;
    }
}

static void catalog_insert(server *srv, stream_ent *e)
{
    if ((srv->cat_n + 1) * 2 > srv->cat_cap) {
        size_t cap = srv->cat_cap ? srv->cat_cap * 2 : 64;
        stream_ent **t = calloc(cap, sizeof *t);
        if (!t)
            abort();
        for (size_t i = 0; i < srv->cat_cap; i++) {
            stream_ent *x = srv->cat[i];
            if (!x)
                continue;
            size_t j = (size_t)name_hash(x->name, x->name_len) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = x;
        }
        free(srv->cat);
        srv->cat = t;
        srv->cat_cap = cap;
    }
    size_t j = (size_t)name_hash(e->name, e->name_len) & (srv->cat_cap - 1);
    while (srv->cat[j])
        j = (j + 1) & (srv->cat_cap - 1);
    srv->cat[j] = e;
    srv->cat_n++;
    if (e->id >= srv->cat_next_id)
        srv->cat_next_id = e->id + 1;
}

static stream_ent *ent_new(const char *p, size_t n, seglog_log_id id)
{
    stream_ent *e = calloc(1, sizeof *e);
    char *name = malloc(n ? n : 1);
    if (!e || !name)
        abort();
    memcpy(name, p, n);
    *e = (stream_ent){.name = name, .name_len = n, .id = id};
    return e;
}

int catalog_load(server *srv, seglog_error *err)
{
    srv->cat_next_id = 1;
    int rc = seglog_log_create(srv->s, CATALOG_LOG, err);
    if (rc != SEGLOG_OK && rc != SEGLOG_EEXIST)
        return rc;
    seglog_tail tail;
    rc = seglog_log_find_tail(srv->s, CATALOG_LOG, &tail, err);
    if (rc != SEGLOG_OK)
        return rc;
    if (tail.lsn <= SEGLOG_LSN_OLDEST)
        return SEGLOG_OK;
    seglog_reader *r = NULL;
    rc = seglog_reader_open(&r, srv->s, CATALOG_LOG, SEGLOG_LSN_OLDEST, tail.lsn - 1, err);
    if (rc != SEGLOG_OK)
        return rc;
    seglog_entry e;
    while ((rc = seglog_reader_next(r, CATALOG_READ_TIMEOUT_MS, &e, err)) == SEGLOG_OK) {
        if (e.kind != SEGLOG_ENTRY_RECORD)
            continue;
        if (e.len < 12 || memcmp(e.payload, CATALOG_MAGIC, 4) != 0) {
            fprintf(stderr, "seglogd: catalog record at LSN %" PRIu64 " is not one; skipped\n", e.lsn);
            continue;
        }
        const unsigned char *p = e.payload;
        uint64_t id = 0;
        for (int i = 0; i < 8; i++)
            id |= (uint64_t)p[4 + i] << (8 * i);
        const char *name = (const char *)p + 12;
        size_t n = e.len - 12;
        if (catalog_find(srv, name, n))
            continue;
        int crc = seglog_log_create(srv->s, id, err); /* a crash may have come before it */
        if (crc != SEGLOG_OK && crc != SEGLOG_EEXIST) {
            seglog_reader_close(r);
            return crc;
        }
        catalog_insert(srv, ent_new(name, n, id));
    }
    seglog_reader_close(r);
    return rc == SEGLOG_EEND ? SEGLOG_OK : rc;
}

void catalog_free(server *srv)
{
    for (size_t i = 0; i < srv->cat_cap; i++) {
        if (srv->cat[i]) {
            free(srv->cat[i]->name);
            free(srv->cat[i]);
        }
    }
    free(srv->cat);
    srv->cat = NULL;
    srv->cat_cap = srv->cat_n = 0;
}

/* Creates the log for a new key: the catalog record first (durable), then the log. */
static int catalog_create(server *srv, const resp_arg *key, stream_ent **out, seglog_error *err)
{
    if (key->len == 0 || key->len > SERVER_NAME_MAX_BYTES) {
        snprintf(err->message, sizeof err->message, "a key is 1 to %u bytes", SERVER_NAME_MAX_BYTES);
        return SEGLOG_EINVAL;
    }
    if (srv->cat_n >= srv->opt.max_streams) {
        snprintf(err->message, sizeof err->message, "too many streams (--max-streams %u)",
                 srv->opt.max_streams);
        return SEGLOG_EFULL;
    }
    seglog_log_id id = srv->cat_next_id;
    unsigned char rec[12 + SERVER_NAME_MAX_BYTES];
    memcpy(rec, CATALOG_MAGIC, 4);
    for (int i = 0; i < 8; i++)
        rec[4 + i] = (unsigned char)(id >> (8 * i));
    memcpy(rec + 12, key->p, key->len);
    int rc = seglog_log_append(srv->s, CATALOG_LOG, rec, 12 + key->len, NULL, NULL, err);
    if (rc != SEGLOG_OK)
        return rc;
    srv->cat_next_id = id + 1;
    rc = seglog_log_create(srv->s, id, err);
    if (rc != SEGLOG_OK && rc != SEGLOG_EEXIST)
        return rc; /* the catalog names it: the next start creates it */
    stream_ent *e = ent_new(key->p, key->len, id);
    catalog_insert(srv, e);
    *out = e;
    return SEGLOG_OK;
}

/* ---- entry encoding -------------------------------------------------------------------------- */

static void put_u32(sbuf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    sbuf_append(b, x, 4);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Appends the encoding of n fields and values to b. */
static void encode_fields(sbuf *b, const resp_arg *fv, size_t n)
{
    unsigned char m[2] = {ENTRY_MAGIC0, ENTRY_MAGIC1};
    sbuf_append(b, m, 2);
    put_u32(b, (uint32_t)(n / 2));
    for (size_t i = 0; i < n; i++) {
        put_u32(b, (uint32_t)fv[i].len);
        sbuf_append(b, fv[i].p, fv[i].len);
    }
}

/* Checks that p[0..n) is a whole field encoding; returns the pair count or -1. */
static long decode_check(const unsigned char *p, size_t n)
{
    if (n < 6 || p[0] != ENTRY_MAGIC0 || p[1] != ENTRY_MAGIC1)
        return -1;
    uint32_t pairs = get_u32(p + 2);
    size_t off = 6;
    for (uint64_t i = 0; i < 2 * (uint64_t)pairs; i++) {
        if (n - off < 4)
            return -1;
        uint32_t l = get_u32(p + off);
        off += 4;
        if (n - off < l)
            return -1;
        off += l;
    }
    return off == n ? (long)pairs : -1;
}

/* One stream entry: [id, [field, value, ...]]. */
static void emit_entry(sbuf *b, seglog_lsn lsn, const void *payload, size_t len)
{
    char id[32];
    int idn = snprintf(id, sizeof id, "%" PRIu64 "-0", lsn);
    resp_array(b, 2);
    resp_bulk(b, id, (size_t)idn);
    const unsigned char *p = payload;
    long pairs = decode_check(p, len);
    if (pairs < 0) {
        resp_array(b, 2);
        resp_bulk_str(b, "payload");
        resp_bulk(b, payload, len);
        return;
    }
    resp_array(b, 2 * (size_t)pairs);
    size_t off = 6;
    for (long i = 0; i < 2 * pairs; i++) {
        uint32_t l = get_u32(p + off);
        resp_bulk(b, p + off + 4, l);
        off += 4 + (size_t)l;
    }
}

/* Reads the records of [from, to] (to below the tail) and emits up to max of them as stream
 * entries into body; offsets (if not NULL) gets each entry's start. Returns the count, or -1 with
 * an error already written to errb. */
static long read_entries(server *srv, stream_ent *ent, seglog_lsn from, seglog_lsn to, uint64_t max,
                         sbuf *body, size_t *offsets, sbuf *errb)
{
    if (from > to || max == 0)
        return 0;
    seglog_error err = {0};
    seglog_reader *r = NULL;
    int rc = seglog_reader_open(&r, srv->s, ent->id, from, to, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(errb, rc, &err);
        return -1;
    }
    long n = 0;
    seglog_entry e;
    while ((uint64_t)n < max && (rc = seglog_reader_next(r, READ_TIMEOUT_MS, &e, &err)) == SEGLOG_OK) {
        if (e.kind != SEGLOG_ENTRY_RECORD)
            continue;
        if (offsets)
            offsets[n] = body->len;
        emit_entry(body, e.lsn, e.payload, e.len);
        n++;
        if (body->len > SERVER_REPLY_MAX_BYTES) {
            seglog_reader_close(r);
            resp_errorf(errb, "ERR reply larger than %u bytes: ask for fewer entries with COUNT",
                        SERVER_REPLY_MAX_BYTES);
            return -1;
        }
    }
    seglog_reader_close(r);
    if (rc != SEGLOG_OK && rc != SEGLOG_EEND && (uint64_t)n < max) {
        reply_seglog_err(errb, rc, &err);
        return -1;
    }
    return n;
}

/* ---- handlers -------------------------------------------------------------------------------- */

typedef struct cmd_ctx {
    server *srv;
    conn *c;
    resp_arg *argv;
    size_t argc;
} cmd_ctx;

static sbuf *R(cmd_ctx *x)
{
    return conn_reply(x->c);
}

static stream_ent *lookup(cmd_ctx *x, size_t i)
{
    return catalog_find(x->srv, x->argv[i].p, x->argv[i].len);
}

static stream_ent *lookup_or_err(cmd_ctx *x, size_t i)
{
    stream_ent *e = lookup(x, i);
    if (!e)
        resp_errorf(R(x), "NOTFOUND no such log '%.*s'",
                    (int)(x->argv[i].len > 128 ? 128 : x->argv[i].len), x->argv[i].p);
    return e;
}

static void cmd_ping(cmd_ctx *x)
{
    if (x->argc == 2)
        resp_bulk(R(x), x->argv[1].p, x->argv[1].len);
    else
        resp_simple(R(x), "PONG");
}

static void cmd_echo(cmd_ctx *x)
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

static void cmd_auth(cmd_ctx *x)
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

static void cmd_hello(cmd_ctx *x)
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

static void cmd_info(cmd_ctx *x)
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

static void cmd_command(cmd_ctx *x)
{
    if (x->argc > 1 && arg_is(&x->argv[1], "COUNT"))
        resp_int(R(x), 0);
    else if (x->argc > 1 && arg_is(&x->argv[1], "DOCS"))
        resp_map(R(x), x->c->proto, 0);
    else
        resp_array(R(x), 0); /* clients treat an empty table as "no command metadata" */
}

static void cmd_client(cmd_ctx *x)
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

static void cmd_select(cmd_ctx *x)
{
    if (arg_is(&x->argv[1], "0"))
        resp_simple(R(x), "OK");
    else
        resp_error(R(x), "ERR DB index is out of range");
}

static void cmd_config(cmd_ctx *x)
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

static void cmd_quit(cmd_ctx *x)
{
    resp_simple(R(x), "OK");
    x->c->close_after = true;
}

static void cmd_shutdown(cmd_ctx *x)
{
    fprintf(stderr, "seglogd: SHUTDOWN from client %" PRIu64 "\n", x->c->id);
    x->c->close_after = true; /* like Redis: no reply, the connection closes */
    server_stop(x->srv);
}

void ent_pending_remove(stream_ent *ent, abatch *b)
{
    if (b->eprev)
        b->eprev->enext = b->enext;
    else
        ent->pending_head = b->enext;
    if (b->enext)
        b->enext->eprev = b->eprev;
    else
        ent->pending_tail = b->eprev;
    b->eprev = b->enext = NULL;
}

void batch_flush(server *srv, conn *c)
{
    abatch *b = c->building;
    if (!b)
        return;
    c->building = NULL;
    seglog_buf recs[SERVER_BATCH_MAX_RECORDS];
    for (uint32_t i = 0; i < b->n; i++)
        recs[i] = (seglog_buf){.data = c->bbuf.p + c->boff[i], .len = c->boff[i + 1] - c->boff[i]};
    b->bytes = c->bbuf.len;
    b->start_ns = now_ns();
    stream_ent *ent = b->ent;
    ent->inflight += b->n;
    srv->inflight_appends += b->n;
    b->eprev = ent->pending_tail;
    if (ent->pending_tail)
        ent->pending_tail->enext = b;
    else
        ent->pending_head = b;
    ent->pending_tail = b;
    seglog_append_opts ao = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = srv->opt.append_wait_ms};
    seglog_error err = {0};
    /* the library copies the payloads before it returns, so bbuf is free again at once */
    int rc = seglog_log_append_async(srv->s, ent->id, recs, b->n, &ao, server_append_cb, b, &err);
    c->bbuf.len = 0;
    if (rc == SEGLOG_OK)
        return;
    ent_pending_remove(ent, b);
    ent->inflight -= b->n;
    srv->inflight_appends -= b->n;
    srv->m.appends_failed += b->n;
    for (uint32_t i = 0; i < b->n; i++) {
        reply_seglog_err(&b->slots[i]->buf, rc, &err);
        conn_slot_finish(c, b->slots[i]);
    }
    free(b);
}

/* Adds one append to the connection's batch (submitted at the end of this read, or when a request
 * that is not an append to the same log comes, or when full); the reply comes once durable. */
static void submit_append(cmd_ctx *x, stream_ent *ent, enum slot_kind kind, const resp_arg *fv,
                          size_t nfv)
{
    conn *c = x->c;
    size_t len = 0;
    if (kind == SLOT_XADD) {
        len = 6;
        for (size_t i = 0; i < nfv; i++)
            len += 4 + fv[i].len;
    } else {
        len = fv[0].len;
    }
    /* a record the store will refuse goes alone, so that its error is its own */
    bool alone = len > x->srv->record_max_bytes;
    abatch *b = c->building;
    if (b && (alone || b->ent != ent || b->n == SERVER_BATCH_MAX_RECORDS ||
              c->bbuf.len + len > SERVER_BATCH_MAX_BYTES)) {
        batch_flush(x->srv, c);
        b = NULL;
    }
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            abort();
        b->c = c;
        b->ent = ent;
        c->building = b;
        c->bbuf.len = 0;
        c->boff[0] = 0;
    }
    if (kind == SLOT_XADD)
        encode_fields(&c->bbuf, fv, nfv);
    else
        sbuf_append(&c->bbuf, fv[0].p, fv[0].len);
    b->slots[b->n] = conn_slot_pending(c, kind);
    b->n++;
    c->boff[b->n] = c->bbuf.len;
    if (alone)
        batch_flush(x->srv, c);
}

static void cmd_xadd(cmd_ctx *x)
{
    size_t i = 2;
    bool nomk = false;
    if (arg_is(&x->argv[i], "NOMKSTREAM")) {
        nomk = true;
        i++;
    }
    if (i < x->argc && (arg_is(&x->argv[i], "MAXLEN") || arg_is(&x->argv[i], "MINID"))) {
        resp_error(R(x), "ERR XADD MAXLEN/MINID are not supported: use XTRIM");
        return;
    }
    if (i >= x->argc) {
        reply_arity(R(x), &x->argv[0]);
        return;
    }
    const resp_arg *idarg = &x->argv[i++];
    size_t nfv = x->argc - i;
    if (nfv == 0 || nfv % 2) {
        reply_arity(R(x), &x->argv[0]);
        return;
    }
    uint64_t want = 0, seq = 0;
    bool has_seq = false;
    bool explicit_id = !(idarg->len == 1 && idarg->p[0] == '*');
    if (explicit_id && (!parse_id(idarg, &want, &seq, &has_seq) || seq != 0 || want == 0)) {
        resp_error(R(x), "ERR Invalid stream ID specified as stream command argument "
                         "(seglogd accepts '*' or '<next LSN>-0')");
        return;
    }
    stream_ent *ent = lookup(x, 1);
    seglog_error err = {0};
    if (!ent) {
        if (nomk) {
            resp_null(R(x), x->c->proto);
            return;
        }
        int rc = catalog_create(x->srv, &x->argv[1], &ent, &err);
        if (rc != SEGLOG_OK) {
            reply_seglog_err(R(x), rc, &err);
            return;
        }
    }
    if (explicit_id) {
        batch_flush(x->srv, x->c); /* earlier appends of this pipeline count as in flight */
        seglog_tail t;
        int rc = seglog_log_find_tail(x->srv->s, ent->id, &t, &err);
        if (rc != SEGLOG_OK) {
            reply_seglog_err(R(x), rc, &err);
            return;
        }
        if (want < t.lsn) {
            resp_error(R(x), "ERR The ID specified in XADD is equal or smaller than the target "
                             "stream top item");
            return;
        }
        if (want != t.lsn || ent->inflight) {
            resp_errorf(R(x), "ERR The ID specified in XADD must be the next LSN %" PRIu64
                        "-0 with no append in flight", t.lsn);
            return;
        }
    }
    submit_append(x, ent, SLOT_XADD, &x->argv[i], nfv);
}

static void cmd_log_append(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
    if (ent)
        submit_append(x, ent, SLOT_APPEND, &x->argv[2], 1);
}

static void cmd_log_create(cmd_ctx *x)
{
    if (lookup(x, 1)) {
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

static void cmd_log_tail(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
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

static void cmd_log_seal(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
    if (!ent)
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_seal(x->srv->s, ent->id, &t, &err);
    chain_reply(x, ent, rc, &t, &err);
}

static void cmd_log_extend(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
    uint64_t base;
    if (!ent || !opt_word_u64(x, "BASE", "ERR BASE must be an LSN",
                              "ERR syntax error: LOG.EXTEND key [BASE lsn]", &base))
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_extend(x->srv->s, ent->id, base, &t, &err);
    chain_reply(x, ent, rc, &t, &err);
}

static void cmd_log_sealextend(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
    uint64_t version;
    if (!ent || !opt_word_u64(x, "VERSION", "ERR VERSION must be a chain version",
                              "ERR syntax error: LOG.SEALEXTEND key [VERSION v]", &version))
        return;
    seglog_tail t;
    seglog_error err = {0};
    int rc = seglog_log_seal_and_extend(x->srv->s, ent->id, version, &t, &err);
    chain_reply(x, ent, rc, &t, &err);
}

static void cmd_log_trim(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
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

static void cmd_log_describe(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
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

/* The durable tail's last LSN (0: empty) and the trim point. */
static int log_bounds(server *srv, stream_ent *ent, seglog_lsn *last, seglog_lsn *trim,
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

static void cmd_log_read(cmd_ctx *x)
{
    stream_ent *ent = lookup_or_err(x, 1);
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
               (rc = seglog_reader_next(r, READ_TIMEOUT_MS, &e, &err)) == SEGLOG_OK) {
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

/* Range bounds for XRANGE: start "-", "N", "N-M", "(N-M"; end "+", ... */
static bool range_start(const resp_arg *a, uint64_t *lsn)
{
    if (arg_is(a, "-")) {
        *lsn = 1;
        return true;
    }
    bool excl = a->len > 0 && a->p[0] == '(';
    resp_arg r = excl ? (resp_arg){a->p + 1, a->len - 1} : *a;
    uint64_t ms, seq;
    bool has;
    if (!parse_id(&r, &ms, &seq, &has))
        return false;
    /* only "ms-0" exists: the first id >= ms-seq is ms if seq == 0, else ms+1 */
    *lsn = (excl || seq > 0) ? ms + 1 : ms;
    if (*lsn == 0)
        *lsn = 1;
    return ms != UINT64_MAX;
}

static bool range_end(const resp_arg *a, uint64_t *lsn)
{
    if (arg_is(a, "+")) {
        *lsn = UINT64_MAX;
        return true;
    }
    bool excl = a->len > 0 && a->p[0] == '(';
    resp_arg r = excl ? (resp_arg){a->p + 1, a->len - 1} : *a;
    uint64_t ms, seq;
    bool has;
    if (!parse_id(&r, &ms, &seq, &has))
        return false;
    if (excl && seq == 0)
        *lsn = ms ? ms - 1 : 0;
    else
        *lsn = ms;
    return true;
}

static void do_range(cmd_ctx *x, bool rev)
{
    uint64_t start, end, count = SERVER_RANGE_MAX_ENTRIES;
    bool ok = rev ? (range_end(&x->argv[2], &end) && range_start(&x->argv[3], &start))
                  : (range_start(&x->argv[2], &start) && range_end(&x->argv[3], &end));
    if (!ok) {
        resp_error(R(x), "ERR Invalid stream ID specified as stream command argument");
        return;
    }
    bool counted = x->argc == 6 && arg_is(&x->argv[4], "COUNT");
    if (counted) {
        int64_t c;
        if (!arg_i64(&x->argv[5], &c)) {
            resp_error(R(x), "ERR value is not an integer or out of range");
            return;
        }
        count = c < 0 ? 0 : (uint64_t)c;
        if (count > SERVER_RANGE_MAX_ENTRIES) {
            resp_errorf(R(x), "ERR COUNT is limited to %u entries per reply", SERVER_RANGE_MAX_ENTRIES);
            return;
        }
    } else if (x->argc != 4) {
        resp_error(R(x), "ERR syntax error");
        return;
    }
    stream_ent *ent = lookup(x, 1);
    if (!ent || count == 0) {
        resp_array(R(x), 0);
        return;
    }
    seglog_lsn last, trim;
    seglog_error err = {0};
    int rc = log_bounds(x->srv, ent, &last, &trim, NULL, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    if (start <= trim)
        start = trim + 1;
    if (end > last)
        end = last;
    if (start > end) {
        resp_array(R(x), 0);
        return;
    }
    /* without COUNT the whole range is asked for: more than one reply may hold is an error,
     * never a silently shortened answer */
    if (!counted && end - start + 1 > SERVER_RANGE_MAX_ENTRIES) {
        resp_errorf(R(x), "ERR the range holds more than %u entries: page through it with COUNT",
                    SERVER_RANGE_MAX_ENTRIES);
        return;
    }
    if (rev && end - start + 1 > count)
        start = end - count + 1; /* LSNs are dense above the trim point */
    uint64_t span = end - start + 1;
    size_t nmax = (size_t)(span < count ? span : count);
    size_t *offs = rev ? malloc((nmax + 1) * sizeof *offs) : NULL;
    sbuf body = {0};
    sbuf errb = {0};
    long n = read_entries(x->srv, ent, start, end, count, &body, offs, &errb);
    sbuf *b = R(x);
    if (n < 0) {
        sbuf_append(b, errb.p, errb.len);
    } else {
        resp_array(b, (size_t)n);
        if (!rev) {
            sbuf_append(b, body.p, body.len);
        } else {
            offs[n] = body.len;
            for (long i = n - 1; i >= 0; i--)
                sbuf_append(b, body.p + offs[i], offs[i + 1] - offs[i]);
        }
    }
    free(offs);
    sbuf_fini(&body);
    sbuf_fini(&errb);
}

static void cmd_xrange(cmd_ctx *x)
{
    do_range(x, false);
}

static void cmd_xrevrange(cmd_ctx *x)
{
    do_range(x, true);
}

static void cmd_xlen(cmd_ctx *x)
{
    stream_ent *ent = lookup(x, 1);
    if (!ent) {
        resp_int(R(x), 0);
        return;
    }
    seglog_lsn last, trim;
    seglog_error err = {0};
    int rc = log_bounds(x->srv, ent, &last, &trim, NULL, &err);
    if (rc != SEGLOG_OK)
        reply_seglog_err(R(x), rc, &err);
    else
        resp_int(R(x), (long long)(last > trim ? last - trim : 0));
}

static void cmd_xtrim(cmd_ctx *x)
{
    size_t i = 3;
    if (i < x->argc && (arg_is(&x->argv[i], "=") || arg_is(&x->argv[i], "~")))
        i++;
    if (i + 1 != x->argc) {
        resp_error(R(x), "ERR syntax error: XTRIM key MINID|MAXLEN [=|~] threshold");
        return;
    }
    bool minid = arg_is(&x->argv[2], "MINID");
    if (!minid && !arg_is(&x->argv[2], "MAXLEN")) {
        resp_error(R(x), "ERR syntax error: XTRIM key MINID|MAXLEN [=|~] threshold");
        return;
    }
    uint64_t v, seq = 0;
    bool has;
    if (minid ? !parse_id(&x->argv[i], &v, &seq, &has) : !arg_u64(&x->argv[i], &v)) {
        resp_error(R(x), minid ? "ERR Invalid stream ID specified as stream command argument"
                               : "ERR value is out of range, must be positive");
        return;
    }
    stream_ent *ent = lookup(x, 1);
    if (!ent) {
        resp_int(R(x), 0);
        return;
    }
    seglog_lsn last, trim;
    seglog_error err = {0};
    int rc = log_bounds(x->srv, ent, &last, &trim, NULL, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    /* MINID: entries with id < v-seq go, i.e. LSNs up to v-1 (up to v if seq > 0) */
    uint64_t target = minid ? (seq > 0 ? v : (v ? v - 1 : 0)) : (last > v ? last - v : 0);
    if (target > last)
        target = last;
    if (target <= trim) {
        resp_int(R(x), 0);
        return;
    }
    seglog_lsn to = 0;
    rc = seglog_log_trim(x->srv->s, ent->id, target, &to, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    ent->gen++;
    resp_int(R(x), (long long)(to > trim ? to - trim : 0));
}

static void cmd_xinfo(cmd_ctx *x)
{
    if (!arg_is(&x->argv[1], "STREAM") || x->argc < 3) {
        resp_error(R(x), "ERR XINFO: only XINFO STREAM key is supported");
        return;
    }
    x->argv++; /* argv[1] is now the key */
    x->argc--;
    stream_ent *ent = lookup(x, 1);
    if (!ent) {
        resp_error(R(x), "ERR no such key");
        return;
    }
    seglog_log_info *info = NULL;
    seglog_error err = {0};
    int rc = seglog_log_describe(x->srv->s, ent->id, &info, &err);
    if (rc != SEGLOG_OK) {
        reply_seglog_err(R(x), rc, &err);
        return;
    }
    seglog_lsn last = info->tail.lsn - 1, trim = info->trim_point;
    sbuf *b = R(x);
    int proto = x->c->proto;
    char id[32];
    resp_map(b, proto, 11);
    resp_bulk_str(b, "length");
    resp_int(b, (long long)(last > trim ? last - trim : 0));
    resp_bulk_str(b, "last-generated-id");
    snprintf(id, sizeof id, "%" PRIu64 "-0", last);
    resp_bulk_str(b, id);
    resp_bulk_str(b, "max-deleted-entry-id");
    snprintf(id, sizeof id, "%" PRIu64 "-0", trim);
    resp_bulk_str(b, id);
    resp_bulk_str(b, "entries-added");
    resp_int(b, (long long)last);
    resp_bulk_str(b, "recorded-first-entry-id");
    snprintf(id, sizeof id, "%" PRIu64 "-0", last > trim ? trim + 1 : 0);
    resp_bulk_str(b, id);
    for (int which = 0; which < 2; which++) {
        resp_bulk_str(b, which ? "last-entry" : "first-entry");
        seglog_lsn at = which ? last : trim + 1;
        seglog_entry e = {0};
        if (last > trim &&
            seglog_log_read(x->srv->s, ent->id, at, READ_TIMEOUT_MS, &e, &err) == SEGLOG_OK &&
            e.kind == SEGLOG_ENTRY_RECORD)
            emit_entry(b, e.lsn, e.payload, e.len);
        else
            resp_null(b, proto);
        seglog_entry_fini(&e);
    }
    resp_bulk_str(b, "seglog-log-id");
    resp_int(b, (long long)ent->id);
    resp_bulk_str(b, "seglog-chain-version");
    resp_int(b, (long long)info->version);
    resp_bulk_str(b, "seglog-sealed");
    resp_int(b, info->tail.sealed);
    resp_bulk_str(b, "seglog-segments");
    resp_int(b, (long long)info->n_segments);
    seglog_log_info_free(info);
}

/* ---- XREAD ----------------------------------------------------------------------------------- */

void xread_wait_free(xread_wait *w)
{
    if (!w)
        return;
    for (size_t i = 0; w->names && i < w->nkeys; i++)
        free(w->names[i]);
    free(w->names);
    free(w->name_lens);
    free(w->ents);
    free(w->after);
    free(w->gens);
    free(w);
}

/* Writes the XREAD reply for every key with entries after w->after into out; returns how many
 * keys had some (0: nothing written), or -1 with an error in out. */
static int xread_collect(server *srv, conn *c, xread_wait *w, sbuf *out)
{
    sbuf body = {0};
    sbuf errb = {0};
    int keys = 0;
    for (size_t i = 0; i < w->nkeys; i++) {
        stream_ent *ent = w->ents[i];
        if (!ent)
            continue;
        w->gens[i] = ent->gen;
        seglog_tail t;
        seglog_error err = {0};
        if (seglog_log_find_tail(srv->s, ent->id, &t, &err) != SEGLOG_OK || t.lsn - 1 <= w->after[i])
            continue;
        uint64_t max = w->count ? w->count : SERVER_RANGE_MAX_ENTRIES;
        size_t mark = body.len;
        if (c->proto < 3) /* RESP2: [key, entries] pairs; RESP3: a map key -> entries */
            resp_array(&body, 2);
        resp_bulk(&body, ent->name, ent->name_len);
        sbuf ents = {0};
        long n = read_entries(srv, ent, w->after[i] + 1, t.lsn - 1, max, &ents, NULL, &errb);
        if (n < 0) {
            sbuf_append(out, errb.p, errb.len);
            sbuf_fini(&ents);
            sbuf_fini(&body);
            sbuf_fini(&errb);
            return -1;
        }
        if (n == 0) {
            body.len = mark;
            sbuf_fini(&ents);
            continue;
        }
        resp_array(&body, (size_t)n);
        sbuf_append(&body, ents.p, ents.len);
        sbuf_fini(&ents);
        keys++;
    }
    if (keys > 0) {
        if (c->proto >= 3)
            resp_map(out, 3, (size_t)keys);
        else
            resp_array(out, (size_t)keys);
        sbuf_append(out, body.p, body.len);
    }
    sbuf_fini(&body);
    sbuf_fini(&errb);
    return keys;
}

bool xread_retry(server *srv, conn *c, bool timed_out)
{
    xread_wait *w = c->blocked;
    bool changed = false;
    for (size_t i = 0; i < w->nkeys; i++) {
        if (!w->ents[i] && w->names[i]) {
            w->ents[i] = catalog_find(srv, w->names[i], w->name_lens[i]);
            if (w->ents[i]) /* created since: every entry is new to this reader */
                changed = true;
        }
        if (w->ents[i] && w->ents[i]->gen != w->gens[i])
            changed = true;
    }
    if (changed) {
        slot *sl = w->slot;
        int keys = xread_collect(srv, c, w, &sl->buf);
        if (keys != 0) {
            w->slot = NULL;
            conn_slot_finish(c, sl);
            server_unblock(srv, c);
            return true;
        }
    }
    if (timed_out) {
        server_unblock(srv, c); /* replies the null array */
        return true;
    }
    return false;
}

static void cmd_xread(cmd_ctx *x)
{
    uint64_t count = 0;
    int64_t block = -1;
    size_t i = 1;
    for (; i < x->argc; i++) {
        if (arg_is(&x->argv[i], "COUNT") && i + 1 < x->argc) {
            int64_t v;
            if (!arg_i64(&x->argv[++i], &v)) {
                resp_error(R(x), "ERR value is not an integer or out of range");
                return;
            }
            count = v > 0 ? (uint64_t)v : 0;
        } else if (arg_is(&x->argv[i], "BLOCK") && i + 1 < x->argc) {
            if (!arg_i64(&x->argv[++i], &block) || block < 0) {
                resp_error(R(x), "ERR timeout is not an integer or out of range");
                return;
            }
        } else if (arg_is(&x->argv[i], "STREAMS")) {
            i++;
            break;
        } else {
            resp_error(R(x), "ERR syntax error");
            return;
        }
    }
    size_t rest = x->argc - i;
    if (i > x->argc || rest == 0 || rest % 2) {
        resp_error(R(x), "ERR Unbalanced 'xread' list of streams: for each stream key an ID or "
                         "'$' must be specified.");
        return;
    }
    size_t nkeys = rest / 2;
    xread_wait *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->nkeys = nkeys;
    w->ents = calloc(nkeys, sizeof *w->ents);
    w->after = calloc(nkeys, sizeof *w->after);
    w->gens = calloc(nkeys, sizeof *w->gens);
    w->names = calloc(nkeys, sizeof *w->names);
    w->name_lens = calloc(nkeys, sizeof *w->name_lens);
    if (!w->ents || !w->after || !w->gens || !w->names || !w->name_lens)
        abort();
    w->count = count;
    for (size_t k = 0; k < nkeys; k++) {
        const resp_arg *idarg = &x->argv[i + nkeys + k];
        stream_ent *ent = lookup(x, i + k);
        w->ents[k] = ent;
        if (arg_is(idarg, "$")) {
            seglog_tail t;
            seglog_error err = {0};
            w->after[k] = ent && seglog_log_find_tail(x->srv->s, ent->id, &t, &err) == SEGLOG_OK
                              ? t.lsn - 1 : 0;
        } else {
            uint64_t ms, seq;
            bool has;
            if (!parse_id(idarg, &ms, &seq, &has)) {
                xread_wait_free(w);
                resp_error(R(x), "ERR Invalid stream ID specified as stream command argument");
                return;
            }
            w->after[k] = ms; /* entries after ms-seq: LSN > ms, as only ms-0 exists */
        }
        if (!ent) {
            /* XREAD never creates a stream; one that does not exist has no entries yet */
            const resp_arg *key = &x->argv[i + k];
            w->names[k] = malloc(key->len ? key->len : 1);
            if (!w->names[k])
                abort();
            memcpy(w->names[k], key->p, key->len);
            w->name_lens[k] = key->len;
        }
    }
    sbuf *b = R(x);
    int keys = xread_collect(x->srv, x->c, w, b);
    if (keys != 0 || block < 0) {
        if (keys == 0)
            resp_null_array(b, x->c->proto);
        xread_wait_free(w);
        return;
    }
    w->deadline_ms = block ? now_ms() + (uint64_t)block : 0;
    w->slot = conn_slot_pending(x->c, SLOT_XREAD);
    server_block(x->srv, x->c, w);
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
