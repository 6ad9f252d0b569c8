/*
 * server.c — seglogd's event loop and connections: one thread, one epoll set, every socket
 * non-blocking. It owns the listening sockets (TCP, optional Unix socket, optional HTTP /metrics),
 * the connections, the ordered reply queue of each connection, the hand-off of append completions
 * from store threads back to the loop, blocked XREAD clients, the idle timeout and shutdown.
 *
 * Why epoll and not io_uring: the project keeps liburing inside wal/ (STYLE.md), the loop's work is
 * small reads and writes on many sockets where readiness is what matters, and the durable work is
 * already io_uring-driven inside the store. One thread serves every client; no thread per client.
 *
 * Durability and order. The appends (XADD, LOG.APPEND) that one read of a connection brings for one
 * log are collected into a batch (append.c) and handed to seglog_log_append_async with the batch
 * as context; each has a pending slot in the connection's ordered reply queue. The store calls
 * back on its own thread once the batch is durable (or failed); the callback only pushes the batch
 * onto a mutex-protected completion queue and, if the queue was empty, writes the eventfd. The loop
 * drains the queue, writes each reply into its slot, and releases a connection's slots from the
 * head of its queue while they are done. So a reply is sent only after its append is durable, and
 * pipelined replies leave in request order even when appends complete out of order.
 *
 * Memory is bounded: a connection is not read while it has SERVER_INFLIGHT_MAX unanswered requests
 * or more than SERVER_OUT_SOFT_BYTES of unsent output (backpressure: the client must read), one
 * request is limited by the parser's limits, one reply by SERVER_REPLY_MAX_BYTES, the number of
 * connections by --maxclients.
 *
 * Shutdown (SIGTERM, SIGINT, SHUTDOWN): stop accepting and reading, answer blocked XREADs with
 * null, wait up to SERVER_SHUTDOWN_DRAIN_MS for in-flight appends and their replies, then close the
 * store (seglog_close finishes whatever is still accepted) and exit 0.
 */
#define _GNU_SOURCE
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* epoll tags for the server's own descriptors; connections use their pointer */
enum { TAG_LISTEN = 1, TAG_UNIX = 2, TAG_METRICS = 3, TAG_EVENT = 4, TAG_SIGNAL = 5 };

#define LOOP_EVENTS_MAX 256        /* epoll events handled per wake-up */
#define LOOP_TICK_MS 1000u         /* idle checks run this often */
#define READ_PER_EVENT_BYTES (256u * 1024) /* fairness: bytes read from one socket per wake-up */
#define OUT_SHRINK_BYTES (256u * 1024)    /* free an emptied output buffer bigger than this */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_ms(void)
{
    return now_ns() / 1000000u;
}

void server_options_init(server_options *o)
{
    *o = (server_options){
        .bind_addr = "127.0.0.1",
        .port = 7379,
        .dir = "/var/tmp/seglog-data",
        .metrics_port = -1,
        .max_clients = 10000,
        .idle_timeout_s = 300,
        .append_wait_ms = 5000,
        .max_streams = 1000,
        .max_bulk_bytes = 1u << 20,
        .max_request_bytes = 4u << 20,
    };
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "seglogd: out of memory\n");
        abort();
    }
    return p;
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_set_events(conn *c)
{
    if (c->dead)
        return;
    server *srv = c->srv;
    uint32_t ev = 0;
    bool pending_out = c->out.len > c->out_off;
    bool can_read = !srv->stopping && !c->close_after && !c->blocked &&
                    c->inflight < SERVER_INFLIGHT_MAX &&
                    c->out.len - c->out_off < SERVER_OUT_SOFT_BYTES;
    if (can_read)
        ev |= EPOLLIN;
    if (pending_out)
        ev |= EPOLLOUT;
    if (c->blocked)
        ev |= EPOLLRDHUP; /* not read while blocked, but a hang-up must free it (BLOCK 0) */
    if (ev == c->ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->ev = ev;
}

static void conn_free(conn *c)
{
    sbuf_fini(&c->in);
    sbuf_fini(&c->out);
    while (c->q_head) {
        slot *s = c->q_head;
        c->q_head = s->next;
        sbuf_fini(&s->buf);
        free(s);
    }
    free(c->argv);
    sbuf_fini(&c->bbuf);
    free(c);
}

/* Closes the socket now; the memory goes (sweep_grave) once no append of it is in flight. */
static void conn_kill(conn *c)
{
    if (c->dead)
        return;
    server *srv = c->srv;
    if (c->building)
        batch_flush(srv, c);
    if (c->blocked)
        server_unblock(srv, c);
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    /* drop finished replies; pending append slots stay until their completion arrives */
    slot **pp = &c->q_head;
    c->q_tail = NULL;
    while (*pp) {
        slot *s = *pp;
        if (s->done) {
            *pp = s->next;
            sbuf_fini(&s->buf);
            free(s);
        } else {
            c->q_tail = s;
            pp = &s->next;
        }
    }
    c->prev = NULL;
    c->next = srv->grave; /* freed by sweep_grave once no append of it is in flight */
    srv->grave = c;
}

/* Frees dead connections whose appends have all completed. Runs between loop iterations only, so
 * that no handler ever holds a pointer to a freed connection. */
static void sweep_grave(server *srv)
{
    conn **pp = &srv->grave;
    while (*pp) {
        conn *c = *pp;
        if (c->inflight == 0) {
            *pp = c->next;
            conn_free(c);
        } else {
            pp = &c->next;
        }
    }
}

static void conn_write(conn *c)
{
    while (!c->dead && c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_kill(c); /* EPIPE, ECONNRESET: the client is gone */
        return;
    }
    if (c->out_off == c->out.len) {
        c->out.len = 0;
        c->out_off = 0;
        if (c->out.cap > OUT_SHRINK_BYTES)
            sbuf_fini(&c->out);
        if (c->close_after && c->inflight == 0 && !c->q_head) {
            conn_kill(c);
            return;
        }
    }
    conn_set_events(c);
}

sbuf *conn_reply(conn *c)
{
    if (!c->q_head)
        return &c->out;
    if (c->q_tail->kind == SLOT_READY)
        return &c->q_tail->buf;
    slot *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->kind = SLOT_READY;
    s->done = true;
    c->q_tail->next = s;
    c->q_tail = s;
    return &s->buf;
}

slot *conn_slot_pending(conn *c, enum slot_kind kind)
{
    slot *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->kind = kind;
    if (c->q_tail)
        c->q_tail->next = s;
    else
        c->q_head = s;
    c->q_tail = s;
    c->inflight++;
    return s;
}

/* Moves done slots at the head of the queue into the output buffer. */
static void conn_release(conn *c)
{
    while (c->q_head && c->q_head->done) {
        slot *s = c->q_head;
        c->q_head = s->next;
        if (!c->q_head)
            c->q_tail = NULL;
        if (c->out.len == 0 && s->buf.len > 0) { /* take the bytes instead of copying them */
            sbuf_fini(&c->out);
            c->out = s->buf;
            c->out_off = 0;
        } else {
            sbuf_append(&c->out, s->buf.p, s->buf.len);
            sbuf_fini(&s->buf);
        }
        free(s);
    }
}

void conn_slot_finish(conn *c, slot *sl)
{
    sl->done = true;
    c->inflight--;
    if (c->dead) {
        /* unlink and free; the connection goes with its last slot */
        slot **pp = &c->q_head;
        while (*pp && *pp != sl)
            pp = &(*pp)->next;
        if (*pp)
            *pp = sl->next;
        sbuf_fini(&sl->buf);
        free(sl);
        c->q_tail = NULL;
        for (slot *s = c->q_head; s; s = s->next)
            c->q_tail = s;
        return;
    }
    conn_release(c);
}

/* Parses and runs every complete request in the input buffer that the limits allow. */
static void conn_process(conn *c)
{
    server *srv = c->srv;
    size_t pos = 0;
    while (!c->dead && !c->close_after && !c->blocked && !srv->stopping &&
           c->inflight < SERVER_INFLIGHT_MAX &&
           c->out.len - c->out_off < SERVER_OUT_SOFT_BYTES && pos < c->in.len) {
        if (!c->argv)
            c->argv = xcalloc(SERVER_MAX_ARGS, sizeof *c->argv);
        size_t argc = 0, used = 0;
        const char *errmsg = NULL;
        int r = resp_parse(c->in.p + pos, c->in.len - pos, &srv->lim, c->argv, &argc, &used,
                           &errmsg);
        if (r == RESP_PARSE_NEED_MORE)
            break;
        if (r == RESP_PARSE_ERROR) {
            srv->m.protocol_errors++;
            resp_errorf(conn_reply(c), "ERR %s", errmsg);
            conn_release(c);
            c->close_after = true;
            pos = c->in.len;
            break;
        }
        pos += used;
        if (r == RESP_PARSE_OK) {
            srv->m.commands++;
            cmd_dispatch(srv, c, c->argv, argc);
        }
    }
    if (c->building)
        batch_flush(srv, c);
    if (!c->dead)
        sbuf_consume(&c->in, pos);
}

static void conn_on_http(conn *c)
{
    if (c->in.len >= 4 && memmem(c->in.p, c->in.len, "\r\n\r\n", 4)) {
        metrics_http(c->srv, c);
        c->close_after = true;
        conn_write(c);
    } else if (c->in.len > SERVER_HTTP_REQUEST_MAX_BYTES) {
        conn_kill(c);
    }
}

static void conn_on_readable(conn *c)
{
    bool eof = false;
    size_t got = 0;
    while (got < READ_PER_EVENT_BYTES) {
        sbuf_reserve(&c->in, SERVER_READ_CHUNK_BYTES);
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n > 0) {
            c->in.len += (size_t)n;
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            eof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        conn_kill(c);
        return;
    }
    c->last_ms = now_ms();
    if (c->kind == CONN_HTTP) {
        if (eof)
            conn_kill(c);
        else
            conn_on_http(c);
        return;
    }
    conn_process(c);
    if (c->dead)
        return;
    if (eof) {
        /* the client sent everything it will: answer what was asked, then close */
        c->close_after = true;
        if (c->blocked)
            server_unblock(c->srv, c);
    }
    conn_release(c);
    conn_write(c);
}

static conn *conn_new(server *srv, int fd, enum conn_kind kind)
{
    conn *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->fd = fd;
    c->kind = kind;
    c->id = ++srv->next_conn_id;
    c->proto = 2;
    c->authed = srv->opt.requirepass == NULL;
    c->last_ms = now_ms();
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        free(c);
        return NULL;
    }
    c->ev = EPOLLIN;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    return c;
}

static void on_accept(server *srv, int lfd, enum conn_kind kind)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: try again on the next readiness */
        if (srv->nconns >= srv->opt.max_clients) {
            static const char full[] = "-ERR max number of clients reached\r\n";
            ssize_t ignored = write(fd, full, sizeof full - 1);
            (void)ignored;
            close(fd);
            srv->m.conns_rejected++;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on Unix sockets */
        if (conn_new(srv, fd, kind))
            srv->m.conns_accepted++;
    }
}

/* ---- completions ----------------------------------------------------------------------------- */

void server_append_cb(void *ctx, int status, seglog_lsn first, seglog_lsn last)
{
    (void)last;
    abatch *b = ctx;
    server *srv = b->c->srv; /* c is not freed while b is in flight; srv is immutable */
    b->status = status;
    b->first = first;
    pthread_mutex_lock(&srv->cq_mu);
    bool was_empty = srv->cq_head == NULL;
    b->cnext = NULL;
    if (srv->cq_tail)
        srv->cq_tail->cnext = b;
    else
        srv->cq_head = b;
    srv->cq_tail = b;
    pthread_mutex_unlock(&srv->cq_mu);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t ignored = write(srv->event_fd, &one, sizeof one);
        (void)ignored;
    }
}

static void wake_blocked(server *srv, bool deadline_check)
{
    uint64_t now = deadline_check ? now_ms() : 0;
    conn *c = srv->blocked;
    while (c) {
        conn *next = c->bnext;
        bool timed_out = deadline_check && c->blocked->deadline_ms && now >= c->blocked->deadline_ms;
        if (xread_retry(srv, c, timed_out)) {
            conn_release(c);
            conn_process(c); /* requests pipelined behind the XREAD */
            if (!c->dead) {
                conn_release(c);
                conn_write(c);
            }
        }
        c = next;
    }
}

static void drain_completions(server *srv)
{
    uint64_t v;
    ssize_t ignored = read(srv->event_fd, &v, sizeof v);
    (void)ignored;
    pthread_mutex_lock(&srv->cq_mu);
    abatch *b = srv->cq_head;
    srv->cq_head = srv->cq_tail = NULL;
    pthread_mutex_unlock(&srv->cq_mu);
    uint64_t n = 0;
    uint64_t t = now_ns();
    /* connections whose replies changed: each is written once, after the batch */
    conn *touched = NULL;
    while (b) {
        abatch *next = b->cnext;
        n += b->n;
        srv->inflight_appends -= b->n;
        b->ent->inflight -= b->n;
        ent_pending_remove(b->ent, b);
        if (b->status == SEGLOG_OK) {
            b->ent->gen++;
            srv->m.appends_ok += b->n;
            srv->m.append_bytes += b->bytes;
        } else {
            srv->m.appends_failed += b->n;
        }
        uint64_t us = (t - b->start_ns) / 1000u;
        conn *c = b->c;
        bool dead = c->dead;
        for (uint32_t i = 0; i < b->n; i++) {
            slot *s = b->slots[i];
            if (b->status == SEGLOG_OK) {
                hist_add(&srv->m.append_latency, us);
                seglog_lsn lsn = b->first + i;
                if (s->kind == SLOT_XADD) {
                    char id[32];
                    int len = snprintf(id, sizeof id, "%llu-0", (unsigned long long)lsn);
                    resp_bulk(&s->buf, id, (size_t)len);
                } else {
                    resp_int(&s->buf, (long long)lsn);
                }
            } else if (b->status == SEGLOG_ETIMEDOUT) {
                resp_errorf(&s->buf, "TIMEOUT the log stayed sealed for %u ms; append not done",
                            srv->opt.append_wait_ms);
            } else {
                resp_errorf(&s->buf, "%s append failed: %s", seglog_reply_prefix(b->status),
                            seglog_strerror(b->status));
            }
            conn_slot_finish(c, s);
        }
        free(b);
        if (!dead && !c->touched) {
            c->touched = true;
            c->tnext = touched;
            touched = c;
        }
        b = next;
    }
    while (touched) {
        conn *c = touched;
        touched = c->tnext;
        c->touched = false;
        if (c->dead)
            continue;
        conn_process(c); /* requests held back by the in-flight limit */
        if (!c->dead) {
            conn_release(c);
            conn_write(c);
        }
    }
    if (n)
        hist_add(&srv->m.batch_records, n);
    if (srv->blocked)
        wake_blocked(srv, false);
}

/* ---- blocking -------------------------------------------------------------------------------- */

void server_block(server *srv, conn *c, xread_wait *w)
{
    c->blocked = w;
    c->bprev = NULL;
    c->bnext = srv->blocked;
    if (srv->blocked)
        srv->blocked->bprev = c;
    srv->blocked = c;
    conn_set_events(c);
}

void server_unblock(server *srv, conn *c)
{
    if (!c->blocked)
        return;
    if (c->bprev)
        c->bprev->bnext = c->bnext;
    else
        srv->blocked = c->bnext;
    if (c->bnext)
        c->bnext->bprev = c->bprev;
    c->bprev = c->bnext = NULL;
    xread_wait *w = c->blocked;
    c->blocked = NULL;
    if (w->slot && !w->slot->done) {
        if (!c->dead)
            resp_null_array(&w->slot->buf, c->proto);
        slot *sl = w->slot;
        w->slot = NULL;
        conn_slot_finish(c, sl);
    }
    xread_wait_free(w);
    if (!c->dead)
        conn_set_events(c);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int listen_tcp(const char *addr, int port, int *bound)
{
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    struct sockaddr *sa;
    socklen_t salen;
    int family;
    if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
        salen = sizeof a4;
        family = AF_INET;
    } else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        salen = sizeof a6;
        family = AF_INET6;
    } else {
        fprintf(stderr, "seglogd: bad bind address '%s' (an IPv4 or IPv6 literal)\n", addr);
        return -1;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, sa, salen) != 0 || listen(fd, 1024) != 0) {
        fprintf(stderr, "seglogd: cannot listen on %s:%d: %s\n", addr, port, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    *bound = ntohs(family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                     : ((struct sockaddr_in6 *)&got)->sin6_port);
    return fd;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "seglogd: unix socket path too long: %s\n", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0) {
        fprintf(stderr, "seglogd: cannot listen on %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int epoll_add_tag(server *srv, int fd, uint64_t tag)
{
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e);
}

int server_open(server *srv, const server_options *opt)
{
    memset(srv, 0, sizeof *srv);
    srv->opt = *opt;
    srv->listen_fd = srv->unix_fd = srv->metrics_fd = srv->event_fd = srv->signal_fd = srv->epfd = -1;
    srv->lim = (resp_limits){.max_args = SERVER_MAX_ARGS,
                             .max_bulk_bytes = opt->max_bulk_bytes,
                             .max_request_bytes = opt->max_request_bytes,
                             .max_inline_bytes = SERVER_MAX_INLINE_BYTES};
    srv->m.start_ms = now_ms();
    seglog_options so;
    seglog_options_init(&so); /* the store is opened with the defaults */
    srv->record_max_bytes = so.record_max_bytes;
    pthread_mutex_init(&srv->cq_mu, NULL);

    /* Signals: blocked in every thread (the store's threads inherit this mask) and read from a
     * signalfd by the loop, so that SIGTERM becomes an ordinary event. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    srv->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

    /* One descriptor per client plus the store's files. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)opt->max_clients + 256;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur < (rlim_t)opt->max_clients + 64) {
            srv->opt.max_clients = rl.rlim_cur > 128 ? (uint32_t)(rl.rlim_cur - 64) : 64;
            fprintf(stderr, "seglogd: descriptor limit %llu: maxclients lowered to %u\n",
                    (unsigned long long)rl.rlim_cur, srv->opt.max_clients);
        }
    }

    seglog_error err = {0};
    seglog_options sopt;
    seglog_options_init(&sopt);
    if (opt->wal_groups)
        sopt.wal_inflight_groups = opt->wal_groups;
    int rc = seglog_open(&srv->s, opt->dir, &sopt, &err);
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "seglogd: cannot open the store in %s: %s\n", opt->dir, err.message);
        return -1;
    }
    rc = catalog_load(srv, &err);
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "seglogd: cannot load the stream catalog: %s\n", err.message);
        return -1;
    }

    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->epfd < 0 || srv->event_fd < 0 || srv->signal_fd < 0)
        return -1;
    srv->listen_fd = listen_tcp(opt->bind_addr, opt->port, &srv->port);
    if (srv->listen_fd < 0)
        return -1;
    if (opt->unix_path) {
        srv->unix_fd = listen_unix(opt->unix_path);
        if (srv->unix_fd < 0)
            return -1;
    }
    if (opt->metrics_port >= 0) {
        srv->metrics_fd = listen_tcp(opt->bind_addr, opt->metrics_port, &srv->metrics_port);
        if (srv->metrics_fd < 0)
            return -1;
    }
    if (epoll_add_tag(srv, srv->listen_fd, TAG_LISTEN) || epoll_add_tag(srv, srv->event_fd, TAG_EVENT) ||
        epoll_add_tag(srv, srv->signal_fd, TAG_SIGNAL) ||
        (srv->unix_fd >= 0 && epoll_add_tag(srv, srv->unix_fd, TAG_UNIX)) ||
        (srv->metrics_fd >= 0 && epoll_add_tag(srv, srv->metrics_fd, TAG_METRICS)))
        return -1;

    printf("seglogd %s: store %s, listening on %s:%d", seglog_version(), opt->dir, opt->bind_addr,
           srv->port);
    if (opt->unix_path)
        printf(" and %s", opt->unix_path);
    if (srv->metrics_fd >= 0)
        printf(", metrics on http://%s:%d/metrics", opt->bind_addr, srv->metrics_port);
    printf("\n");
    fflush(stdout);
    if (opt->port_file) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s.tmp", opt->port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d %d\n", srv->port, srv->metrics_port) < 0 || fclose(f) != 0 ||
            rename(tmp, opt->port_file) != 0) {
            fprintf(stderr, "seglogd: cannot write %s\n", opt->port_file);
            return -1;
        }
    }
    return 0;
}

void server_stop(server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    srv->stop_deadline_ms = now_ms() + SERVER_SHUTDOWN_DRAIN_MS;
    int *lfds[] = {&srv->listen_fd, &srv->unix_fd, &srv->metrics_fd};
    for (size_t i = 0; i < sizeof lfds / sizeof lfds[0]; i++) {
        if (*lfds[i] >= 0) {
            epoll_ctl(srv->epfd, EPOLL_CTL_DEL, *lfds[i], NULL);
            close(*lfds[i]);
            *lfds[i] = -1;
        }
    }
    if (srv->opt.unix_path)
        unlink(srv->opt.unix_path);
    while (srv->blocked) {
        conn *c = srv->blocked;
        server_unblock(srv, c);
        conn_release(c);
        conn_write(c);
    }
    for (conn *c = srv->conns; c; c = c->next)
        conn_set_events(c);
    fprintf(stderr, "seglogd: shutting down: %llu append(s) in flight\n",
            (unsigned long long)srv->inflight_appends);
}

static bool all_flushed(server *srv)
{
    if (srv->inflight_appends)
        return false;
    for (conn *c = srv->conns; c; c = c->next)
        if (c->out.len > c->out_off || c->q_head)
            return false;
    return true;
}

static void on_tick(server *srv)
{
    if (srv->opt.idle_timeout_s == 0)
        return;
    uint64_t now = now_ms();
    uint64_t limit = (uint64_t)srv->opt.idle_timeout_s * 1000u;
    conn *c = srv->conns;
    while (c) {
        conn *next = c->next;
        if (!c->blocked && c->inflight == 0 && now - c->last_ms > limit)
            conn_kill(c);
        c = next;
    }
}

int server_run(server *srv)
{
    struct epoll_event evs[LOOP_EVENTS_MAX];
    uint64_t next_tick = now_ms() + LOOP_TICK_MS;
    for (;;) {
        if (srv->stopping && (all_flushed(srv) || now_ms() >= srv->stop_deadline_ms))
            break;
        uint64_t now = now_ms();
        uint64_t wake = next_tick;
        for (conn *c = srv->blocked; c; c = c->bnext)
            if (c->blocked->deadline_ms && c->blocked->deadline_ms < wake)
                wake = c->blocked->deadline_ms;
        if (srv->stopping && srv->stop_deadline_ms < wake)
            wake = srv->stop_deadline_ms;
        int timeout = wake > now ? (int)(wake - now) : 0;
        int n = epoll_wait(srv->epfd, evs, LOOP_EVENTS_MAX, timeout);
        if (n < 0 && errno != EINTR) {
            perror("seglogd: epoll_wait");
            return -1;
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            switch (tag) {
            case TAG_LISTEN: on_accept(srv, srv->listen_fd, CONN_RESP); break;
            case TAG_UNIX: on_accept(srv, srv->unix_fd, CONN_RESP); break;
            case TAG_METRICS: on_accept(srv, srv->metrics_fd, CONN_HTTP); break;
            case TAG_EVENT: drain_completions(srv); break;
            case TAG_SIGNAL: {
                struct signalfd_siginfo si;
                while (read(srv->signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
                    fprintf(stderr, "seglogd: signal %u\n", si.ssi_signo);
                server_stop(srv);
                break;
            }
            default: {
                conn *c = evs[i].data.ptr;
                if (c->dead)
                    break;
                if (c->blocked && (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                    conn_kill(c); /* a blocked client went away */
                    break;
                }
                if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    conn_on_readable(c);
                if (!c->dead && (evs[i].events & EPOLLOUT))
                    conn_write(c);
                break;
            }
            }
        }
        if (srv->blocked)
            wake_blocked(srv, true);
        if (now_ms() >= next_tick) {
            on_tick(srv);
            next_tick = now_ms() + LOOP_TICK_MS;
        }
        sweep_grave(srv);
    }
    return 0;
}

void server_close(server *srv)
{
    while (srv->conns)
        conn_kill(srv->conns);
    /* finishes every accepted append; their callbacks fill the completion queue */
    seglog_close(srv->s);
    srv->s = NULL;
    pthread_mutex_lock(&srv->cq_mu);
    abatch *b = srv->cq_head;
    srv->cq_head = srv->cq_tail = NULL;
    pthread_mutex_unlock(&srv->cq_mu);
    while (b) {
        abatch *next = b->cnext;
        srv->inflight_appends -= b->n;
        for (uint32_t i = 0; i < b->n; i++)
            conn_slot_finish(b->c, b->slots[i]); /* dead connections: frees the slot */
        free(b);
        b = next;
    }
    sweep_grave(srv);
    catalog_free(srv);
    int fds[] = {srv->listen_fd, srv->unix_fd, srv->metrics_fd, srv->event_fd, srv->signal_fd,
                 srv->epfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&srv->cq_mu);
}
