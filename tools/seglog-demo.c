/*
 * seglog-demo — the main job of `tools/dev run` until the server lands: writes a few records
 * through the WAL into a data directory, reads them back by reopening it, and prints what it did.
 * It uses the internal WAL API (wal/wal.h) because the log store above it has not landed yet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "seglog.h"
#include "wal.h"

#define DEMO_RECORDS 5u
#define DEMO_TYPE 16u

static void usage(FILE *out)
{
    fprintf(out,
            "usage: seglog-demo [--help] [DATADIR]\n"
            "\n"
            "Appends %u records durably through seglog's write-ahead log in DATADIR/wal\n"
            "(default ./seglog-data), reopens it, replays every record and prints them.\n"
            "Run it again and it finds the earlier runs' records too.\n",
            DEMO_RECORDS);
}

typedef struct shown {
    uint64_t count;
    uint64_t first_new;
} shown;

static int show(void *ctx, uint64_t seq, uint8_t type, const void *payload, uint32_t len)
{
    shown *s = ctx;
    s->count++;
    if (seq >= s->first_new)
        printf("  seq %-6" PRIu64 " type %u  %.*s\n", seq, type, (int)len, (const char *)payload);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = "seglog-data";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "seglog-demo: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
        data = argv[i];
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/wal", data);
    if ((mkdir(data, 0755) != 0 && errno != EEXIST) || (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        fprintf(stderr, "seglog-demo: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    printf("seglog %s demo: write-ahead log in %s\n", seglog_version(), dir);

    wal *w = NULL;
    seglog_error err = {0};
    wal_scan_report rep;
    int rc = wal_open(&w, dir, NULL, 1, NULL, NULL, &rep, &err);
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "seglog-demo: %s (%s)\n", err.message, seglog_strerror(rc));
        return 1;
    }
    printf("opened: %" PRIu64 " earlier records, %s\n", rep.records, rep.end_reason);
    time_t now = time(NULL);
    uint64_t first = 0;
    for (unsigned i = 0; i < DEMO_RECORDS; i++) {
        char rec[128];
        int n = snprintf(rec, sizeof rec, "demo record %u of run at %ld", i + 1, (long)now);
        uint64_t seq = 0;
        rc = wal_append_sync(w, DEMO_TYPE, rec, (uint32_t)n, &seq, &err);
        if (rc != SEGLOG_OK) {
            fprintf(stderr, "seglog-demo: append failed: %s\n", err.message);
            wal_close(w);
            return 1;
        }
        if (i == 0)
            first = seq;
        printf("appended seq %" PRIu64 " (durable)\n", seq);
    }
    wal_stats st;
    wal_stats_get(w, &st);
    printf("wrote %" PRIu64 " records in %" PRIu64 " groups, %" PRIu64 " fdatasyncs\n",
           st.records, st.groups, st.fsyncs_submitted);
    wal_close(w);

    shown s = {.first_new = first};
    rc = wal_open(&w, dir, NULL, 1, show, &s, &rep, &err);
    if (rc != SEGLOG_OK) {
        fprintf(stderr, "seglog-demo: reopen failed: %s\n", err.message);
        return 1;
    }
    printf("reopened and replayed %" PRIu64 " records (last seq %" PRIu64 "); this run's are above\n",
           s.count, rep.last_seq);
    wal_close(w);
    return 0;
}
