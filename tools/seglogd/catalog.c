/*
 * catalog.c — the stream catalog: which seglog log each key names.
 *
 * Redis keys are strings, seglog logs are 64-bit ids. The server keeps the mapping in a log of its
 * own, CATALOG_LOG (a reserved id at the top of the range), one record per key:
 * "SCAT" | id (8 bytes, little-endian) | key bytes. It is appended (durably) before the log it
 * names is created, and at start-up it is read back and every named log is created if a crash
 * came between the two; ids are handed out from 1 upwards. So the mapping survives crashes with
 * the same guarantee as the data, and the server needs nothing but the public API.
 *
 * In memory the mapping is an open-addressed hash table in the server (server.cat, at most half
 * full), owned by the event loop. Keys are never removed: an entry lives until catalog_free().
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define CATALOG_LOG UINT64_C(0xFFFFFFFFFFFFFF00)
#define CATALOG_MAGIC "SCAT"
#define CATALOG_READ_TIMEOUT_MS 5000u

static uint64_t name_hash(const char *p, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

stream_ent *catalog_find(server *srv, const char *p, size_t n)
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
int catalog_create(server *srv, const resp_arg *key, stream_ent **out, seglog_error *err)
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
