/*
 * resp.h — the Redis protocol (RESP2 and RESP3) as seglogd speaks it: an incremental request
 * parser that never trusts a length it has not checked against a limit, and a reply writer into a
 * growable byte buffer. It knows nothing of connections, commands or the store.
 */
#ifndef SEGLOGD_RESP_H
#define SEGLOGD_RESP_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. p is heap memory owned by the buffer (NULL while empty and unused). */
typedef struct sbuf {
    char *p;
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
} sbuf;

void sbuf_fini(sbuf *b);
/* Makes room for n more bytes; aborts on allocation failure (the server cannot reply without it). */
void sbuf_reserve(sbuf *b, size_t n);
void sbuf_append(sbuf *b, const void *data, size_t n);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len). */
void sbuf_consume(sbuf *b, size_t n);

/* One argument of a request: points into the connection's input buffer, valid until the request
 * has been handled (the buffer is compacted after that). */
typedef struct resp_arg {
    const char *p;
    size_t len;
} resp_arg;

/* The limits the parser enforces before it allocates or waits for anything. */
typedef struct resp_limits {
    size_t max_args;          /* arguments in one request */
    size_t max_bulk_bytes;    /* one argument */
    size_t max_request_bytes; /* one whole request, framing included */
    size_t max_inline_bytes;  /* one inline (telnet-style) request line */
} resp_limits;

enum {
    RESP_PARSE_NEED_MORE = 0, /* an incomplete request: read more, then parse again */
    RESP_PARSE_OK = 1,        /* a request: *argc arguments in argv, *used bytes consumed */
    RESP_PARSE_EMPTY = 2,     /* an empty inline line or "*0": *used bytes to skip, nothing to do */
    RESP_PARSE_ERROR = -1,    /* a protocol error: *errmsg says which; the connection must close */
};

/* Parses one request at the start of buf[0..len). argv has room for lim->max_args arguments.
 * Returns one of RESP_PARSE_*. Never reads past len; every declared length is checked against lim
 * before it is believed. */
int resp_parse(const char *buf, size_t len, const resp_limits *lim, resp_arg *argv, size_t *argc,
               size_t *used, const char **errmsg);

/* Reply writers. proto is 2 or 3; with 2, RESP3-only types are sent as their RESP2 equivalents
 * (a map as a flat array of 2n elements, a null as a null bulk string, a double as a bulk). */
void resp_simple(sbuf *b, const char *s);          /* +s */
void resp_error(sbuf *b, const char *prefix_and_msg); /* -ERR ... (newlines are replaced) */
void resp_errorf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void resp_int(sbuf *b, long long v);
void resp_bulk(sbuf *b, const void *p, size_t n);
void resp_bulk_str(sbuf *b, const char *s);
void resp_bulk_u64(sbuf *b, uint64_t v);            /* a number as a bulk string */
void resp_array(sbuf *b, size_t n);
void resp_map(sbuf *b, int proto, size_t n);        /* n key-value pairs */
void resp_null(sbuf *b, int proto);                 /* null bulk / RESP3 null */
void resp_null_array(sbuf *b, int proto);           /* null array / RESP3 null */
void resp_verbatim(sbuf *b, int proto, const char *text, size_t n); /* =txt: / bulk */

#endif /* SEGLOGD_RESP_H */
