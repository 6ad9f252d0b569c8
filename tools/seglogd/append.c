/*
 * append.c — seglogd's appends (XADD and LOG.APPEND), submitted asynchronously and in batches.
 *
 * The appends that one read of a connection brings for one log, back to back, are collected into
 * the connection's batch (conn.building, payloads in conn.bbuf) and submitted as one atomic
 * seglog_log_append_async(): record i gets LSN first + i. The batch is submitted when a request
 * that is not an append to the same log comes, when it is full (SERVER_BATCH_MAX_RECORDS or
 * SERVER_BATCH_MAX_BYTES), or at the end of the read. Each append has a pending slot in the
 * connection's reply queue; the completion (server.c) fills them once the batch is durable. A log
 * keeps its batches in flight in a list, oldest first (stream_ent.pending_*), so that LOG.DESCRIBE
 * can say how long the oldest has waited.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "commands.h"

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
void append_submit(cmd_ctx *x, stream_ent *ent, enum slot_kind kind, const resp_arg *fv,
                   size_t nfv)
{
    conn *c = x->c;
    size_t len = kind == SLOT_XADD ? stream_fields_encoded_len(fv, nfv) : fv[0].len;
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
        stream_fields_encode(&c->bbuf, fv, nfv);
    else
        sbuf_append(&c->bbuf, fv[0].p, fv[0].len);
    b->slots[b->n] = conn_slot_pending(c, kind);
    b->n++;
    c->boff[b->n] = c->bbuf.len;
    if (alone)
        batch_flush(x->srv, c);
}
