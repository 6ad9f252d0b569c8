/* example_quickstart.c — the README's example: open a store, append, reconfigure, read back. */
#include <seglog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(int rc, const seglog_error *err)
{
    if (rc != SEGLOG_OK)
        fprintf(stderr, "seglog: %s (%s)\n", err->message, seglog_strerror(rc));
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "./example-store";
    seglog *s = NULL;
    seglog_error err = {0};
    if (check(seglog_open(&s, dir, NULL, &err), &err))
        return 1;
    seglog_log_id log = 42;
    int rc = seglog_log_create(s, log, &err);
    if (rc != SEGLOG_OK && rc != SEGLOG_EEXIST)
        return check(rc, &err), 1;

    /* Appends return once the record is durable. */
    const char *words[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        seglog_lsn lsn;
        if (check(seglog_log_append(s, log, words[i], strlen(words[i]), NULL, &lsn, &err), &err))
            return 1;
        printf("appended %-5s at LSN %llu\n", words[i], (unsigned long long)lsn);
    }

    /* Seal the tail segment and start the next one: one durable record, one write batch. */
    seglog_tail tail;
    if (check(seglog_log_seal_and_extend(s, log, 0, &tail, &err), &err))
        return 1;
    printf("new segment %llu at LSN %llu, chain version %llu\n",
           (unsigned long long)tail.segment_id, (unsigned long long)tail.lsn,
           (unsigned long long)tail.version);

    /* Appenders that may meet a sealed segment can wait for the next chain version. */
    seglog_append_opts wait = {.policy = SEGLOG_APPEND_WAIT, .timeout_ms = 1000};
    if (check(seglog_log_append(s, log, "delta", 5, &wait, NULL, &err), &err))
        return 1;

    /* Read everything back: a stream crosses segments without gaps or duplicates. */
    seglog_reader *r = NULL;
    if (check(seglog_reader_open(&r, s, log, SEGLOG_LSN_OLDEST, SEGLOG_LSN_MAX, &err), &err))
        return 1;
    seglog_entry e;
    while (seglog_reader_next(r, 100, &e, &err) == SEGLOG_OK) /* times out at the tail */
        printf("read LSN %llu: %.*s\n", (unsigned long long)e.lsn, (int)e.len, (char *)e.payload);
    seglog_reader_close(r);

    char *text = NULL;
    if (check(seglog_log_describe_format(s, log, 0, &text, &err), &err))
        return 1;
    fputs(text, stdout);
    free(text);
    seglog_close(s);
    return 0;
}
