/*
 * cf-scale — how the number of live segments (one RocksDB column family each) affects seglog:
 * the time to open the store, seal+extend latency, and memory. Grows one store step by step and
 * measures at each step in a fresh process (the command re-executes itself), so that open time and
 * RSS are those of a process that just opened a store of that size. Uses only seglog.h.
 *
 *   cf-scale --dir DIR [--steps 100,200,400,800]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seglog.h"

#define LOG_ID 1u
#define SAMPLE_SEALS 60u /* the first 20 come from the pool, the last 20 wait for creation */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: cf-scale --dir DIR [--steps N,N,...]\n"
                 "\n"
                 "Grows a store in DIR to each number of live segments in turn (default\n"
                 "100,200,400,800,820); each step is a fresh process that opens the store as the\n"
                 "previous step left it and prints: segments at open, open time, RSS after open, the\n"
                 "p50 of the first 20 of %u back-to-back seal+extend calls (served by the column\n"
                 "family pool) and the p50/max of the last 20 (waiting for the pool to create\n"
                 "column families), and RSS (MiB) after open and at the end. DIR is removed first.\n",
            SAMPLE_SEALS);
}

/* One step, in a fresh process: open, grow to `target` segments, measure, close. */
static int step(const char *dir, uint64_t target)
{
    seglog_options o;
    seglog_options_init(&o);
    seglog *s = NULL;
    seglog_error err = {0};
    double t0 = now_ms();
    int rc = seglog_open(&s, dir, &o, &err);
    double open_ms = now_ms() - t0;
    long rss_open = rss_kib();
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "cf-scale: open: %s\n", err.message);
        return 1;
    }
    rc = seglog_log_create(s, LOG_ID, &err);
    if (rc != SEGLOG_OK && rc != SEGLOG_EEXIST) {
        fprintf(stderr, "cf-scale: create: %s\n", err.message);
        return 1;
    }
    seglog_stats st;
    seglog_stats_get(s, &st, &err);
    uint64_t before = st.segments;
    double lat[SAMPLE_SEALS];
    uint32_t sampled = 0;
    for (uint64_t n = st.segments; n < target || sampled < SAMPLE_SEALS; n++) {
        if (seglog_log_append(s, LOG_ID, "x", 1, NULL, NULL, &err) != SEGLOG_OK) {
            fprintf(stderr, "cf-scale: append: %s\n", err.message);
            return 1;
        }
        double a = now_ms();
        if (seglog_log_seal_and_extend(s, LOG_ID, 0, NULL, &err) != SEGLOG_OK) {
            fprintf(stderr, "cf-scale: seal_and_extend: %s\n", err.message);
            return 1;
        }
        if (sampled < SAMPLE_SEALS)
            lat[sampled++] = now_ms() - a;
    }
    seglog_stats_get(s, &st, &err);
    long rss_end = rss_kib();
    double burst[20], sustained[20];
    memcpy(burst, lat, sizeof burst);
    memcpy(sustained, lat + sampled - 20, sizeof sustained);
    qsort(burst, 20, sizeof burst[0], cmp_double);
    qsort(sustained, 20, sizeof sustained[0], cmp_double);
    printf("%8" PRIu64 " %8" PRIu64 " %10.0f %12.1f %12.1f %12.1f %10.1f %10.1f\n", before,
           st.column_families, open_ms, burst[10], sustained[10], sustained[19],
           (double)rss_open / 1024.0, (double)rss_end / 1024.0);
    fflush(stdout);
    seglog_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    const char *steps = "100,200,400,800,820";
    uint64_t one = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = argv[++i];
        } else if (strcmp(argv[i], "--step") == 0 && i + 1 < argc) {
            one = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "cf-scale: unknown argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    if (one)
        return step(dir, one);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    printf("segments      CFs    open ms  burst p50 ms  sust. p50 ms  sust. max ms  RSS open   RSS end\n");
    fflush(stdout);
    char *list = strdup(steps);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "--dir", dir, "--step", tok, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "cf-scale: step %s failed\n", tok);
            free(list);
            return 1;
        }
    }
    free(list);
    return 0;
}
