/*
 * resp.c — the Redis serialization protocol for seglogd: request parsing and reply writing.
 *
 * Requests are either RESP arrays of bulk strings ("*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", what every
 * client library and redis-cli send) or inline lines ("PING\r\n", what a person types into nc).
 * The parser is restartable: it parses from the start of the request each time more bytes arrive
 * and returns NEED_MORE until the whole request is there. It skips bulk payloads by their length
 * (never scanning them), so re-parsing costs one pass over the headers only. Every number it reads
 * (argument count, bulk length) is checked against a limit before it sizes anything, so a hostile
 * "$9999999999" or "*-5" is a protocol error, not an allocation or a wait for bytes that will
 * never come. After a protocol error the caller closes the connection, as Redis does: the framing
 * is lost and nothing after it can be trusted.
 *
 * Replies go into an sbuf. RESP3 (after HELLO 3) adds maps, nulls and verbatim strings; with RESP2
 * they degrade to what Redis itself sends (flat arrays, "$-1", "*-1", bulk strings).
 */
#define _GNU_SOURCE
#include "resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESP_NUM_LINE_MAX 32u  /* bytes of one "*<n>\r\n" or "$<n>\r\n" header line */
#define RESP_NUM_DIGITS_MAX 18 /* digits in a length: below 2^63, no overflow possible */

/* ---- sbuf ------------------------------------------------------------------------------------ */

void sbuf_fini(sbuf *b)
{
    free(b->p);
    *b = (sbuf){0};
}

void sbuf_reserve(sbuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        fprintf(stderr, "seglogd: out of memory (%zu bytes)\n", cap);
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void sbuf_append(sbuf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    sbuf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        sbuf_append(b, small, (size_t)n);
    } else {
        sbuf_reserve(b, (size_t)n + 1);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sbuf_consume(sbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

/* ---- parser ---------------------------------------------------------------------------------- */

/* Reads "<int>\r\n" at buf[pos..len). Returns 1 and sets *v / *next, 0 if the line is incomplete,
 * -1 if it is malformed (not digits, too long, no CRLF within RESP_NUM_LINE_MAX). */
static int parse_num_line(const char *buf, size_t len, size_t pos, long long *v, size_t *next)
{
    size_t end = pos;
    while (end < len && buf[end] != '\r') {
        if (end - pos >= RESP_NUM_LINE_MAX)
            return -1;
        end++;
    }
    if (end + 1 >= len)
        return end - pos >= RESP_NUM_LINE_MAX ? -1 : 0;
    if (buf[end + 1] != '\n')
        return -1;
    size_t i = pos;
    int neg = 0;
    if (i < end && buf[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == end || end - i > RESP_NUM_DIGITS_MAX)
        return -1;
    long long x = 0;
    for (; i < end; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        x = x * 10 + (buf[i] - '0');
    }
    *v = neg ? -x : x;
    *next = end + 2;
    return 1;
}

static int parse_inline(const char *buf, size_t len, const resp_limits *lim, resp_arg *argv,
                        size_t *argc, size_t *used, const char **errmsg)
{
    size_t scan = len < lim->max_inline_bytes ? len : lim->max_inline_bytes;
    const char *nl = memchr(buf, '\n', scan);
    if (!nl) {
        if (len >= lim->max_inline_bytes) {
            *errmsg = "Protocol error: too big inline request";
            return RESP_PARSE_ERROR;
        }
        return RESP_PARSE_NEED_MORE;
    }
    size_t line = (size_t)(nl - buf);
    size_t end = line;
    if (end > 0 && buf[end - 1] == '\r')
        end--;
    size_t n = 0;
    size_t i = 0;
    while (i < end) {
        while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        if (i == end)
            break;
        size_t start = i;
        while (i < end && buf[i] != ' ' && buf[i] != '\t')
            i++;
        if (n == lim->max_args) {
            *errmsg = "Protocol error: too many arguments in inline request";
            return RESP_PARSE_ERROR;
        }
        argv[n++] = (resp_arg){.p = buf + start, .len = i - start};
    }
    *argc = n;
    *used = line + 1;
    return n ? RESP_PARSE_OK : RESP_PARSE_EMPTY;
}

int resp_parse(const char *buf, size_t len, const resp_limits *lim, resp_arg *argv, size_t *argc,
               size_t *used, const char **errmsg)
{
    if (len == 0)
        return RESP_PARSE_NEED_MORE;
    if (buf[0] != '*')
        return parse_inline(buf, len, lim, argv, argc, used, errmsg);
    long long count = 0;
    size_t pos = 0;
    int r = parse_num_line(buf, len, 1, &count, &pos);
    if (r == 0)
        return RESP_PARSE_NEED_MORE;
    if (r < 0 || count > (long long)lim->max_args || count < -1) {
        *errmsg = "Protocol error: invalid multibulk length";
        return RESP_PARSE_ERROR;
    }
    if (count <= 0) { /* "*0" and "*-1" are no request at all; Redis skips them too */
        *used = pos;
        return RESP_PARSE_EMPTY;
    }
    size_t declared = pos; /* framing plus every bulk length declared so far */
    for (size_t i = 0; i < (size_t)count; i++) {
        if (pos >= len)
            return RESP_PARSE_NEED_MORE;
        if (buf[pos] != '$') {
            *errmsg = "Protocol error: expected '$'";
            return RESP_PARSE_ERROR;
        }
        long long blen = 0;
        size_t body = 0;
        r = parse_num_line(buf, len, pos + 1, &blen, &body);
        if (r == 0)
            return RESP_PARSE_NEED_MORE;
        if (r < 0 || blen < 0 || (unsigned long long)blen > lim->max_bulk_bytes) {
            *errmsg = "Protocol error: invalid bulk length";
            return RESP_PARSE_ERROR;
        }
        declared += (body - pos) + (size_t)blen + 2;
        if (declared > lim->max_request_bytes) {
            *errmsg = "Protocol error: request too large";
            return RESP_PARSE_ERROR;
        }
        if (len - body < (size_t)blen + 2)
            return RESP_PARSE_NEED_MORE;
        if (buf[body + (size_t)blen] != '\r' || buf[body + (size_t)blen + 1] != '\n') {
            *errmsg = "Protocol error: bulk string not terminated by CRLF";
            return RESP_PARSE_ERROR;
        }
        argv[i] = (resp_arg){.p = buf + body, .len = (size_t)blen};
        pos = body + (size_t)blen + 2;
    }
    *argc = (size_t)count;
    *used = pos;
    return RESP_PARSE_OK;
}

/* ---- writer ---------------------------------------------------------------------------------- */

/* "<type><n>\r\n" without printf: the reply path formats a header per element, and vsnprintf was
 * a visible share of the event loop's time under redis-benchmark -P 16. */
static void put_header(sbuf *b, char type, int neg, unsigned long long v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    tmp[--i] = '\n';
    tmp[--i] = '\r';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg)
        tmp[--i] = '-';
    tmp[--i] = type;
    sbuf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

void resp_simple(sbuf *b, const char *s)
{
    sbuf_printf(b, "+%s\r\n", s);
}

void resp_error(sbuf *b, const char *msg)
{
    size_t n = strlen(msg);
    sbuf_reserve(b, n + 3);
    b->p[b->len++] = '-';
    for (size_t i = 0; i < n; i++)
        b->p[b->len++] = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
    b->p[b->len++] = '\r';
    b->p[b->len++] = '\n';
}

void resp_errorf(sbuf *b, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp_error(b, msg);
}

void resp_int(sbuf *b, long long v)
{
    unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    put_header(b, ':', v < 0, m);
}

void resp_bulk(sbuf *b, const void *p, size_t n)
{
    sbuf_reserve(b, n + 32);
    put_header(b, '$', 0, n);
    sbuf_append(b, p, n);
    sbuf_append(b, "\r\n", 2);
}

void resp_bulk_str(sbuf *b, const char *s)
{
    resp_bulk(b, s, strlen(s));
}

void resp_bulk_u64(sbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    resp_bulk(b, tmp, (size_t)n);
}

void resp_array(sbuf *b, size_t n)
{
    put_header(b, '*', 0, n);
}

void resp_map(sbuf *b, int proto, size_t n)
{
    if (proto >= 3)
        put_header(b, '%', 0, n);
    else
        put_header(b, '*', 0, 2 * n);
}

void resp_null(sbuf *b, int proto)
{
    sbuf_append(b, proto >= 3 ? "_\r\n" : "$-1\r\n", proto >= 3 ? 3u : 5u);
}

void resp_null_array(sbuf *b, int proto)
{
    sbuf_append(b, proto >= 3 ? "_\r\n" : "*-1\r\n", proto >= 3 ? 3u : 5u);
}

void resp_verbatim(sbuf *b, int proto, const char *text, size_t n)
{
    if (proto < 3) {
        resp_bulk(b, text, n);
        return;
    }
    sbuf_printf(b, "=%zu\r\ntxt:", n + 4);
    sbuf_append(b, text, n);
    sbuf_append(b, "\r\n", 2);
}
