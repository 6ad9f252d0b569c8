/*
 * cmd_stream.c — the Redis stream commands over seglog logs: XADD, XRANGE, XREVRANGE, XLEN,
 * XTRIM, XINFO STREAM and XREAD (with BLOCK).
 *
 * Stream entries. An XADD record's payload is "\xF5X" | u32 pair count | (u32 len | bytes) per
 * field and value, little-endian. The id of the record at LSN n is "n-0": LSNs are dense (seal and
 * extend keep them contiguous), so id ranges map one-to-one onto LSN ranges. A record that does
 * not decode as fields (one written by LOG.APPEND) is shown by XRANGE as the pair
 * "payload" <raw bytes>; LOG.READ shows every record's raw bytes.
 *
 * XREAD BLOCK. A client that finds nothing is parked with an xread_wait (server.c keeps the list
 * and calls xread_retry() after each round of events and completions); a retry reads again only
 * when a log it waits on has changed (stream_ent.gen moved) or a missing key has been created, and
 * answers null at the deadline.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define ENTRY_MAGIC0 0xF5u
#define ENTRY_MAGIC1 'X'

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

size_t stream_fields_encoded_len(const resp_arg *fv, size_t n)
{
    size_t len = 6;
    for (size_t i = 0; i < n; i++)
        len += 4 + fv[i].len;
    return len;
}

/* Appends the encoding of n fields and values to b. */
void stream_fields_encode(sbuf *b, const resp_arg *fv, size_t n)
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
    while ((uint64_t)n < max && (rc = seglog_reader_next(r, CMD_READ_TIMEOUT_MS, &e, &err)) == SEGLOG_OK) {
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

/* ---- XADD, XRANGE, XREVRANGE, XLEN, XTRIM, XINFO --------------------------------------------- */

void cmd_xadd(cmd_ctx *x)
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
    stream_ent *ent = cmd_lookup(x, 1);
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
    append_submit(x, ent, SLOT_XADD, &x->argv[i], nfv);
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
    stream_ent *ent = cmd_lookup(x, 1);
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

void cmd_xrange(cmd_ctx *x)
{
    do_range(x, false);
}

void cmd_xrevrange(cmd_ctx *x)
{
    do_range(x, true);
}

void cmd_xlen(cmd_ctx *x)
{
    stream_ent *ent = cmd_lookup(x, 1);
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

void cmd_xtrim(cmd_ctx *x)
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
    stream_ent *ent = cmd_lookup(x, 1);
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

void cmd_xinfo(cmd_ctx *x)
{
    if (!arg_is(&x->argv[1], "STREAM") || x->argc < 3) {
        resp_error(R(x), "ERR XINFO: only XINFO STREAM key is supported");
        return;
    }
    x->argv++; /* argv[1] is now the key */
    x->argc--;
    stream_ent *ent = cmd_lookup(x, 1);
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
            seglog_log_read(x->srv->s, ent->id, at, CMD_READ_TIMEOUT_MS, &e, &err) == SEGLOG_OK &&
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

void cmd_xread(cmd_ctx *x)
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
        stream_ent *ent = cmd_lookup(x, i + k);
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
