/*
 * server.h — what seglogd's modules share: the options, the server and connection state that the
 * event loop (server.c) owns and the command modules (commands.c and the files it lists) and
 * metrics (metrics.c) use.
 *
 * Threading: everything here belongs to the event-loop thread, except the completion queue
 * (server.cq_*), which store threads fill from seglog's append callbacks under cq_mu and which the
 * loop drains after the eventfd wakes it. Slots are handed to the store as callback contexts and
 * come back only through that queue, so no other field is ever touched off the loop.
 */
#ifndef SEGLOGD_SERVER_H
#define SEGLOGD_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "resp.h"
#include "seglog.h"

/* ---- limits (named, with units) -------------------------------------------------------------- */
#define SERVER_MAX_ARGS 65536u               /* arguments in one request */
#define SERVER_MAX_INLINE_BYTES (64u * 1024) /* one inline request line */
#define SERVER_READ_CHUNK_BYTES (64u * 1024) /* one read() from a socket */
#define SERVER_OUT_SOFT_BYTES (1u << 20)     /* pending output above which a client is not read */
#define SERVER_REPLY_MAX_BYTES (16u << 20)   /* one reply (XRANGE, LOG.READ, XREAD) */
#define SERVER_INFLIGHT_MAX 1024u            /* unanswered requests per connection */
#define SERVER_NAME_MAX_BYTES 1024u          /* a stream key */
#define SERVER_HTTP_REQUEST_MAX_BYTES 8192u  /* one /metrics request */
#define SERVER_SHUTDOWN_DRAIN_MS 10000u      /* longest wait for in-flight appends at exit */
#define SERVER_RANGE_MAX_ENTRIES 100000u     /* entries in one XRANGE/LOG.READ without COUNT */
#define SERVER_BATCH_MAX_RECORDS 64u         /* pipelined appends of one connection in one batch */
#define SERVER_BATCH_MAX_BYTES (1u << 20)    /* their payload bytes (the library allows 2 MiB) */
_Static_assert(SERVER_REPLY_MAX_BYTES > SERVER_OUT_SOFT_BYTES, "a reply may exceed the soft limit");

typedef struct server_options {
    const char *bind_addr;        /* TCP address (default 127.0.0.1) */
    int port;                     /* TCP port; 0 picks a free one (printed and in port_file) */
    const char *unix_path;        /* optional Unix socket path */
    const char *dir;              /* the store's directory */
    const char *requirepass;      /* AUTH password, or NULL */
    const char *port_file;        /* where to write "<port> <metrics port>\n" once listening */
    int metrics_port;             /* HTTP /metrics port; -1 off, 0 a free one */
    uint32_t max_clients;         /* connections at once */
    uint32_t idle_timeout_s;      /* close a connection idle this long (0: never) */
    uint32_t append_wait_ms;      /* how long an append waits for a sealed log to be extended */
    uint32_t max_streams;         /* stream keys (logs) the server will create */
    size_t max_bulk_bytes;        /* one argument */
    size_t max_request_bytes;     /* one request */
    uint32_t wal_groups;          /* WAL group commits in flight (0: the library's default) */
} server_options;

void server_options_init(server_options *o);

/* A stream key and the log it names (the catalog, see catalog.c). */
typedef struct stream_ent {
    char *name;
    size_t name_len;
    seglog_log_id id;
    uint64_t gen; /* bumped whenever the loop learns the log changed (append, seal, extend, trim) */
    uint32_t inflight; /* appends submitted and not yet completed */
    struct abatch *pending_head, *pending_tail; /* those appends' batches, oldest first */
} stream_ent;

typedef struct conn conn;
typedef struct server server;

enum slot_kind { SLOT_READY, SLOT_XADD, SLOT_APPEND, SLOT_XREAD };

/* One reply position in a connection's ordered reply queue. A READY slot holds finished bytes; an
 * append slot waits for its batch's completion; an XREAD slot waits for data or its deadline.
 * Replies leave in queue order, so pipelined commands are answered in request order whatever
 * completes first. */
typedef struct slot {
    struct slot *next;  /* in the connection's queue */
    conn *c;
    enum slot_kind kind;
    bool done;
    sbuf buf;
} slot;

/* Appends of one connection to one log that arrived back to back (pipelined), submitted as one
 * atomic, contiguous seglog batch: record i gets LSN first + i. One store op instead of up to
 * SERVER_BATCH_MAX_RECORDS halves the store's per-append work under pipelining; requests that
 * arrive alone are batches of one. */
typedef struct abatch {
    struct abatch *cnext;         /* in the server's completion queue */
    struct abatch *eprev, *enext; /* in ent's pending list */
    conn *c;
    stream_ent *ent;
    uint32_t n;
    slot *slots[SERVER_BATCH_MAX_RECORDS];
    uint64_t start_ns;            /* when submitted */
    uint64_t bytes;               /* payload bytes */
    int status;                   /* filled by the completion */
    seglog_lsn first;             /* filled by the completion */
} abatch;

/* A client blocked in XREAD BLOCK. */
typedef struct xread_wait {
    size_t nkeys;
    stream_ent **ents;  /* NULL for a key that does not exist yet (looked up again on retry) */
    char **names;       /* per key: a copy of the key while ents[i] is NULL */
    size_t *name_lens;
    seglog_lsn *after;  /* per key: reply entries with LSN > after */
    uint64_t *gens;     /* per key: ent->gen when last looked at */
    uint64_t count;     /* COUNT, 0: no limit */
    uint64_t deadline_ms; /* monotonic; 0: for ever */
    slot *slot;
} xread_wait;

enum conn_kind { CONN_RESP, CONN_HTTP };

struct conn {
    conn *prev, *next;   /* server's connection list */
    conn *bprev, *bnext; /* server's blocked list (XREAD), when blocked */
    server *srv;
    int fd;
    enum conn_kind kind;
    uint64_t id;
    sbuf in;
    sbuf out;
    size_t out_off;      /* bytes of out already written */
    slot *q_head, *q_tail;
    uint32_t inflight;   /* slots not yet done */
    uint32_t ev;         /* epoll events registered */
    int proto;           /* 2 or 3 */
    bool authed;
    bool close_after;    /* close once out is written */
    bool dead;           /* socket closed; freed when inflight reaches 0 */
    xread_wait *blocked;
    bool touched;        /* on drain_completions' list of connections to write */
    conn *tnext;
    uint64_t last_ms;    /* last activity, for the idle timeout */
    char name[64];       /* CLIENT SETNAME */
    resp_arg *argv;      /* SERVER_MAX_ARGS entries, allocated on first request */
    abatch *building;    /* appends collected from this read, not yet submitted */
    sbuf bbuf;           /* their payloads, back to back */
    size_t boff[SERVER_BATCH_MAX_RECORDS + 1]; /* payload i is bbuf[boff[i], boff[i + 1]) */
};

/* A log-scale histogram: bucket i counts values <= hist_bound(i); bounds grow by about 19% (four
 * per doubling), so a quantile read from it is within 19% of the true value. Values are in
 * microseconds for latencies, plain counts for batch sizes. */
#define HIST_BUCKETS 104
typedef struct hist {
    uint64_t b[HIST_BUCKETS];
    uint64_t count;
    uint64_t sum_us;
} hist;
uint64_t hist_bound(int i);
void hist_add(hist *h, uint64_t us);
uint64_t hist_quantile_us(const hist *h, double q); /* upper bound of the bucket holding q */

typedef struct server_metrics {
    uint64_t commands;
    uint64_t appends_ok;
    uint64_t appends_failed;
    uint64_t append_bytes;
    uint64_t conns_accepted;
    uint64_t conns_rejected;
    uint64_t protocol_errors;
    hist append_latency;   /* submit -> durable completion */
    hist batch_records;    /* completions handed over per wake-up (values, not us) */
    uint64_t start_ms;
} server_metrics;

struct server {
    server_options opt;
    seglog *s;
    int epfd;
    int listen_fd, unix_fd, metrics_fd, event_fd, signal_fd;
    int port, metrics_port; /* bound ports */
    conn *conns;
    uint32_t nconns;
    conn *blocked;
    conn *grave;            /* dead connections, linked by next, awaiting their appends */
    uint64_t next_conn_id;
    uint64_t inflight_appends; /* submitted, not completed, all connections */
    bool stopping;          /* SIGTERM or SHUTDOWN: no new requests, drain, exit */
    uint64_t stop_deadline_ms;
    /* completion queue: filled by store threads */
    pthread_mutex_t cq_mu;
    abatch *cq_head, *cq_tail;
    /* catalog: stream key -> log (catalog.c) */
    stream_ent **cat;      /* open-addressed table */
    size_t cat_cap, cat_n;
    seglog_log_id cat_next_id;
    server_metrics m;
    resp_limits lim;
    uint32_t record_max_bytes; /* the store's record limit (seglog_options default) */
};

uint64_t now_ms(void);
uint64_t now_ns(void);

/* server.c, for the handlers */
sbuf *conn_reply(conn *c);             /* where a synchronous reply goes (in order) */
slot *conn_slot_pending(conn *c, enum slot_kind kind); /* a reply that comes later */
void conn_slot_finish(conn *c, slot *sl); /* sl's bytes are final: release in order */
void server_append_cb(void *ctx, int status, seglog_lsn first, seglog_lsn last);
void server_block(server *srv, conn *c, xread_wait *w);
void server_unblock(server *srv, conn *c);
void server_stop(server *srv);
int server_open(server *srv, const server_options *opt);
int server_run(server *srv);
void server_close(server *srv);

/* commands.c */
void cmd_dispatch(server *srv, conn *c, resp_arg *argv, size_t argc);
const char *seglog_reply_prefix(int code);
/* catalog.c */
int catalog_load(server *srv, seglog_error *err);
void catalog_free(server *srv);
/* cmd_stream.c: retries a blocked XREAD: replies and returns true if it is finished (data or
 * deadline). */
bool xread_retry(server *srv, conn *c, bool timed_out);
void xread_wait_free(xread_wait *w);
/* append.c */
void ent_pending_remove(stream_ent *ent, abatch *b);
void batch_flush(server *srv, conn *c); /* submits c->building, if any */

/* metrics.c */
void metrics_info(server *srv, sbuf *b, const char *section);
void metrics_http(server *srv, conn *c);

#endif /* SEGLOGD_SERVER_H */
