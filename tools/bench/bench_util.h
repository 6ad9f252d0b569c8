/*
 * bench_util.h — what wal-bench and seglog-bench share besides the histogram (bench_hist.h): the
 * monotonic clock, CPU time between two getrusage() samples, the latency summary of a histogram,
 * the payload pattern, thread start with a small stack, and the parsing and error reporting of
 * their command-line options.
 *
 * Both tools keep the same conventions so that their figures read alike: a 0.5 s warm-up before
 * measuring, latencies reported in microseconds, sizes with K/M/G suffixes (powers of 1024), and
 * exit status 2 for a bad argument, with a message that starts with the tool's name.
 */
#ifndef SEGLOG_BENCH_UTIL_H
#define SEGLOG_BENCH_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "bench_hist.h"

/* Limits and conventions, each with its unit. */
#define BENCH_SECONDS_MAX 86400.0    /* longest --seconds */
#define BENCH_WARMUP_NS 500000000ull /* 0.5 s before measuring */
#define BENCH_EXIT_USAGE 2           /* exit status for a bad argument */

/* Where a run is: main moves it forward (or a failing worker to STOP); workers read it. */
enum { BENCH_PHASE_WARMUP = 0, BENCH_PHASE_MEASURE = 1, BENCH_PHASE_STOP = 2 };

/* A histogram's summary, in microseconds. */
typedef struct bench_latency {
    double p50_us;
    double p99_us;
    double p999_us;
    double mean_us; /* 0 when the histogram is empty */
    double max_us;
} bench_latency;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sleeps ns nanoseconds, resuming after a signal. */
void bench_sleep_ns(uint64_t ns);

/* User plus system CPU seconds of the process from one getrusage(RUSAGE_SELF) sample to another. */
double bench_cpu_seconds(const struct rusage *from, const struct rusage *to);

/* Fills *out with h's p50/p99/p99.9, mean and max. */
void bench_latency_from_hist(bench_latency *out, const hist *h);

/* Fills p[0..len) with a pattern that is never zero and differs with seed (a thread's number). */
void bench_payload_fill(uint8_t *p, size_t len, unsigned seed);

/* Writes tag over the first bytes of p (at most 8, at most len): no two records are the same. */
void bench_payload_tag(uint8_t *p, size_t len, uint64_t tag);

/* Starts fn(arg) on a thread with a stack of stack_bytes. Returns 0 or an error number. */
int bench_thread_start(pthread_t *out, size_t stack_bytes, void *(*fn)(void *), void *arg);

/* Prints "TOOL: OPT VAL: WHY (see --help)" to stderr; returns BENCH_EXIT_USAGE. */
int bench_arg_error(const char *tool, const char *opt, const char *val, const char *why);

/* Parses s, a decimal number with an optional K, M or G suffix (powers of 1024), into *out,
 * which must fall in [min, max]. Returns 0, or BENCH_EXIT_USAGE after bench_arg_error(). */
int bench_parse_size(uint64_t *out, const char *tool, const char *opt, const char *s,
                     uint64_t min, uint64_t max);

/* Parses --seconds: a decimal number in (0, BENCH_SECONDS_MAX]. Returns 0 or BENCH_EXIT_USAGE. */
int bench_parse_seconds(double *out, const char *tool, const char *s);

/* getopt_long() returned c, ':' (a missing value) or an unknown option: prints which (argv and
 * optind as getopt_long left them) and returns BENCH_EXIT_USAGE. */
int bench_getopt_error(const char *tool, int c, char **argv);

/* After getopt_long(): refuses arguments left over and a missing --dir. Returns 0 or
 * BENCH_EXIT_USAGE. */
int bench_args_finish(const char *tool, int argc, char **argv, const char *dir);

#endif /* SEGLOG_BENCH_UTIL_H */
