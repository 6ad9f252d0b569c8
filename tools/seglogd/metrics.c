/*
 * metrics.c — what seglogd tells about itself: the INFO command's sections (server, clients,
 * stats, store, latency) and a Prometheus text-format /metrics page served on the optional HTTP
 * port, plus the small latency histogram both use.
 *
 * Figures come from two places: counters the event loop keeps (commands, appends acknowledged,
 * bytes, connections, protocol errors, the time from submitting an append to its durable
 * completion) and seglog_stats_get (records made durable, WAL group commits and fsyncs, waiting
 * appenders, column families, logs, segments). The public API exposes no per-fsync timing, so the
 * "fsync latency" histogram is the append's submit-to-durable time: the fsync plus the wait for
 * its group. Group-commit size is appends/wal_groups from the store's counters (its mean); the
 * histogram seglogd_completion_batch_records shows how many completions arrive per wake-up of the
 * loop, which tracks the group size when the loop keeps up.
 *
 * The HTTP side is deliberately minimal: one GET per connection, the response, then close.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

/* 2^(i/4), rounded up and strictly growing: 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, ... */
uint64_t hist_bound(int i)
{
    static uint64_t bounds[HIST_BUCKETS];
    if (bounds[0] == 0) { /* first use is on the loop thread; metrics are loop-only */
        static const double quarter[4] = {1.0, 1.189207115, 1.414213562, 1.681792831};
        uint64_t prev = 0;
        for (int k = 0; k < HIST_BUCKETS; k++) {
            double v = (double)((uint64_t)1 << (k / 4)) * quarter[k % 4];
            uint64_t b = (uint64_t)v;
            if ((double)b < v)
                b++;
            if (b <= prev)
                b = prev + 1;
            bounds[k] = prev = b;
        }
    }
    return bounds[i];
}

void hist_add(hist *h, uint64_t v)
{
    int lo = 0, hi = HIST_BUCKETS - 1;
    while (lo < hi) { /* the first bound >= v; the last bucket takes everything above */
        int mid = (lo + hi) / 2;
        if (hist_bound(mid) >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    h->b[lo]++;
    h->count++;
    h->sum_us += v;
}

uint64_t hist_quantile_us(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)((double)h->count * q);
    if (want >= h->count)
        want = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want)
            return hist_bound(i);
    }
    return hist_bound(HIST_BUCKETS - 1);
}

static uint32_t blocked_count(server *srv)
{
    uint32_t n = 0;
    for (conn *c = srv->blocked; c; c = c->bnext)
        n++;
    return n;
}

static bool want(const char *section, const char *name)
{
    return !section || strcasecmp(section, "all") == 0 || strcasecmp(section, "default") == 0 ||
           strcasecmp(section, "everything") == 0 || strcasecmp(section, name) == 0;
}

void metrics_info(server *srv, sbuf *b, const char *section)
{
    if (want(section, "server")) {
        sbuf_printf(b,
                    "# Server\r\nredis_version:7.0.0\r\nseglogd_version:%s\r\nredis_mode:standalone\r\n"
                    "process_id:%d\r\ntcp_port:%d\r\nuptime_in_seconds:%" PRIu64 "\r\n"
                    "store_dir:%s\r\n\r\n",
                    seglog_version(), (int)getpid(), srv->port,
                    (now_ms() - srv->m.start_ms) / 1000u, srv->opt.dir);
    }
    if (want(section, "clients")) {
        sbuf_printf(b, "# Clients\r\nconnected_clients:%u\r\nblocked_clients:%u\r\nmaxclients:%u\r\n\r\n",
                    srv->nconns, blocked_count(srv), srv->opt.max_clients);
    }
    if (want(section, "stats")) {
        sbuf_printf(b,
                    "# Stats\r\ntotal_connections_received:%" PRIu64 "\r\nrejected_connections:%" PRIu64
                    "\r\ntotal_commands_processed:%" PRIu64 "\r\nprotocol_errors:%" PRIu64 "\r\n\r\n",
                    srv->m.conns_accepted, srv->m.conns_rejected, srv->m.commands,
                    srv->m.protocol_errors);
    }
    if (want(section, "store")) {
        seglog_stats st = {0};
        seglog_error err = {0};
        if (seglog_stats_get(srv->s, &st, &err) == SEGLOG_OK) {
            sbuf_printf(b,
                        "# Store\r\nstreams:%zu\r\nlogs:%" PRIu64 "\r\nsegments:%" PRIu64
                        "\r\ncolumn_families:%" PRIu64 "\r\ncf_pool:%" PRIu64
                        "\r\nmemtable_bytes:%" PRIu64 "\r\nmemory_budget_bytes:%" PRIu64
                        "\r\nappends:%" PRIu64 "\r\nwal_groups:%" PRIu64 "\r\nwal_fsyncs:%" PRIu64
                        "\r\nwal_checkpoint_seq:%" PRIu64 "\r\nwaiting_appenders:%" PRIu64
                        "\r\npoisoned:%d\r\nappends_acknowledged:%" PRIu64
                        "\r\nappends_failed:%" PRIu64 "\r\nappend_bytes:%" PRIu64
                        "\r\nappends_in_flight:%" PRIu64 "\r\n\r\n",
                        srv->cat_n, st.logs, st.segments, st.column_families, st.cf_pool,
                        st.memtable_bytes, st.memory_budget_bytes, st.appends, st.wal_groups,
                        st.wal_fsyncs, st.wal_checkpoint_seq, st.waiting_appenders, st.poisoned,
                        srv->m.appends_ok, srv->m.appends_failed, srv->m.append_bytes,
                        srv->inflight_appends);
        }
    }
    if (want(section, "latency")) {
        const hist *h = &srv->m.append_latency;
        sbuf_printf(b,
                    "# Latency\r\nappend_durable_count:%" PRIu64 "\r\nappend_durable_mean_us:%" PRIu64
                    "\r\nappend_durable_p50_us:%" PRIu64 "\r\nappend_durable_p99_us:%" PRIu64
                    "\r\nappend_durable_p999_us:%" PRIu64 "\r\n\r\n",
                    h->count, h->count ? h->sum_us / h->count : 0, hist_quantile_us(h, 0.50),
                    hist_quantile_us(h, 0.99), hist_quantile_us(h, 0.999));
    }
}

static void prom_hist(sbuf *b, const char *name, const char *help, const hist *h, double scale)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < HIST_BUCKETS - 1; i++) {
        cum += h->b[i];
        if (i % 4 == 0) /* Prometheus gets the powers of two; cumulative counts stay exact */
            sbuf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)hist_bound(i) * scale,
                        cum);
    }
    sbuf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %g\n%s_count %" PRIu64 "\n", name,
                h->count, name, (double)h->sum_us * scale, name, h->count);
}

static void prom(sbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

void metrics_http(server *srv, conn *c)
{
    bool ok = c->in.len >= 13 && (memcmp(c->in.p, "GET /metrics ", 13) == 0 ||
                                  memcmp(c->in.p, "GET /metrics?", 13) == 0);
    if (!ok) {
        static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 24\r\nConnection: close\r\n\r\nonly GET /metrics here\r\n";
        sbuf_append(&c->out, nf, sizeof nf - 1);
        return;
    }
    sbuf body = {0};
    const server_metrics *m = &srv->m;
    prom(&body, "seglogd_commands_total", "counter", "Requests handled.", m->commands);
    prom(&body, "seglogd_appends_total", "counter", "Appends acknowledged (durable).", m->appends_ok);
    prom(&body, "seglogd_append_failures_total", "counter", "Appends that failed.", m->appends_failed);
    prom(&body, "seglogd_append_bytes_total", "counter", "Payload bytes acknowledged.", m->append_bytes);
    prom(&body, "seglogd_appends_in_flight", "gauge", "Appends submitted, not yet durable.",
         srv->inflight_appends);
    prom(&body, "seglogd_connections", "gauge", "Open client connections.", srv->nconns);
    prom(&body, "seglogd_blocked_clients", "gauge", "Clients blocked in XREAD.", blocked_count(srv));
    prom(&body, "seglogd_connections_accepted_total", "counter", "Connections accepted.",
         m->conns_accepted);
    prom(&body, "seglogd_connections_rejected_total", "counter", "Connections refused (maxclients).",
         m->conns_rejected);
    prom(&body, "seglogd_protocol_errors_total", "counter", "Malformed requests.", m->protocol_errors);
    prom(&body, "seglogd_streams", "gauge", "Stream keys in the catalog.", srv->cat_n);
    prom_hist(&body, "seglogd_append_durable_seconds",
              "Append submit to durable completion (fsync latency plus group wait).",
              &m->append_latency, 1e-6);
    prom_hist(&body, "seglogd_completion_batch_records",
              "Append completions handed to the loop per wake-up (tracks group-commit size).",
              &m->batch_records, 1.0);
    seglog_stats st = {0};
    seglog_error err = {0};
    if (seglog_stats_get(srv->s, &st, &err) == SEGLOG_OK) {
        prom(&body, "seglog_appends_total", "counter", "Records made durable since open.", st.appends);
        prom(&body, "seglog_wal_groups_total", "counter",
             "WAL group commits (appends_total / this = mean group size).", st.wal_groups);
        prom(&body, "seglog_wal_fsyncs_total", "counter", "WAL fsyncs.", st.wal_fsyncs);
        prom(&body, "seglog_waiting_appenders", "gauge", "Appenders waiting for reconfiguration.",
             st.waiting_appenders);
        prom(&body, "seglog_column_families", "gauge", "RocksDB column families.", st.column_families);
        prom(&body, "seglog_cf_pool", "gauge", "Pre-created unassigned column families.", st.cf_pool);
        prom(&body, "seglog_logs", "gauge", "Logs.", st.logs);
        prom(&body, "seglog_segments", "gauge", "Live segments.", st.segments);
        prom(&body, "seglog_memtable_bytes", "gauge", "Write-buffer bytes in use.", st.memtable_bytes);
        prom(&body, "seglog_poisoned", "gauge", "1 if a write failed and writes are refused.",
             (uint64_t)st.poisoned);
    }
    sbuf_printf(&c->out,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                body.len);
    sbuf_append(&c->out, body.p, body.len);
    sbuf_fini(&body);
}
