/*
 * bench_util.c — the helpers wal-bench and seglog-bench share (see bench_util.h). Nothing here is
 * on a measured path except bench_now_ns(); the histogram's hot path stays inline in
 * bench_hist.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
                           .tv_nsec = (long)(ns % 1000000000ull) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

double bench_cpu_seconds(const struct rusage *from, const struct rusage *to)
{
    return tv_seconds(&to->ru_utime) - tv_seconds(&from->ru_utime) +
           tv_seconds(&to->ru_stime) - tv_seconds(&from->ru_stime);
}

void bench_latency_from_hist(bench_latency *out, const hist *h)
{
    out->p50_us = hist_quantile(h, 0.50) / 1e3;
    out->p99_us = hist_quantile(h, 0.99) / 1e3;
    out->p999_us = hist_quantile(h, 0.999) / 1e3;
    out->mean_us = h->total ? (double)h->sum_ns / (double)h->total / 1e3 : 0.0;
    out->max_us = (double)h->max_ns / 1e3;
}

void bench_payload_fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t j = 0; j < len; j++)
        p[j] = (uint8_t)(1u + (j + seed) % 251u);
}

void bench_payload_tag(uint8_t *p, size_t len, uint64_t tag)
{
    memcpy(p, &tag, len < sizeof tag ? len : sizeof tag);
}

int bench_thread_start(pthread_t *out, size_t stack_bytes, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_bytes);
    int e = pthread_create(out, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return e;
}

int bench_arg_error(const char *tool, const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "%s: %s %s: %s (see --help)\n", tool, opt, val ? val : "", why);
    return BENCH_EXIT_USAGE;
}

int bench_parse_size(uint64_t *out, const char *tool, const char *opt, const char *s,
                     uint64_t min, uint64_t max)
{
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return bench_arg_error(tool, opt, s, "expected a non-negative number");
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return bench_arg_error(tool, opt, s, "not a number");
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0')
        return bench_arg_error(tool, opt, s, "unexpected characters after the number");
    if (shift != 0 && v > (ULLONG_MAX >> shift))
        return bench_arg_error(tool, opt, s, "too large");
    v <<= shift;
    if (v < min || v > max) {
        char why[96];
        snprintf(why, sizeof why, "must be between %" PRIu64 " and %" PRIu64, min, max);
        return bench_arg_error(tool, opt, s, why);
    }
    *out = (uint64_t)v;
    return 0;
}

int bench_parse_seconds(double *out, const char *tool, const char *s)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0.0) || v > BENCH_SECONDS_MAX)
        return bench_arg_error(tool, "--seconds", s, "expected a number of seconds in (0, 86400]");
    *out = v;
    return 0;
}

int bench_getopt_error(const char *tool, int c, char **argv)
{
    if (c == ':')
        fprintf(stderr, "%s: %s needs a value (see --help)\n", tool, argv[optind - 1]);
    else
        fprintf(stderr, "%s: unknown option %s (see --help)\n", tool, argv[optind - 1]);
    return BENCH_EXIT_USAGE;
}

int bench_args_finish(const char *tool, int argc, char **argv, const char *dir)
{
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument %s (see --help)\n", tool, argv[optind]);
        return BENCH_EXIT_USAGE;
    }
    if (dir == NULL) {
        fprintf(stderr, "%s: --dir DIR is required (see --help)\n", tool);
        return BENCH_EXIT_USAGE;
    }
    return 0;
}
