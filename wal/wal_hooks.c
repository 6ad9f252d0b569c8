/*
 * wal_hooks.c — the WAL's test hooks: fault injection and kill points.
 *
 * WHAT IT OWNS
 *   The switches that let the tests and the crash suite break the WAL on purpose, kept out of the
 *   write path's file so that wal.c reads as the path itself. Both are compiled in only on
 *   request (CMake -DSEGLOG_FAULT_INJECTION=ON, -DSEGLOG_KILL_POINTS=ON); otherwise they are
 *   no-ops, and wal_open refuses a fault plan with SEGLOG_ENOTSUP.
 *
 * FAULT INJECTION
 *   wal_options.faults replaces the result of the nth write or fsync that the WAL thread reaps
 *   (or of every later one) with -EIO, -ENOSPC or a short count, inside the completion path:
 *   io_uring bypasses libc, so LD_PRELOAD tools cannot do this. The WAL thread alone calls
 *   wal_fault_filter, with the counters it owns.
 *
 * KILL POINTS
 *   When SEGLOG_KILL_POINT names a point (wal.h lists the WAL's; storage/ has its own and calls
 *   wal_kill_point too), the process raises SIGKILL there once SEGLOG_KILL_AFTER hits (default 1)
 *   have counted down: a crash at an exact step, for the crash suite. The environment is read
 *   once per process, and again by wal_kill_point_reset (for a forked child).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"
#include "wal_internal.h"

bool wal_faults_compiled(void)
{
#ifdef SEGLOG_FAULT_INJECTION
    return true;
#else
    return false;
#endif
}

bool wal_kill_points_compiled(void)
{
#ifdef SEGLOG_KILL_POINTS
    return true;
#else
    return false;
#endif
}

/* ---- kill points ----------------------------------------------------------------------------- */

#ifdef SEGLOG_KILL_POINTS
static pthread_once_t kill_once = PTHREAD_ONCE_INIT;
static const char *kill_name;
static atomic_long kill_countdown;

static void kill_init(void)
{
    kill_name = getenv("SEGLOG_KILL_POINT");
    const char *after = getenv("SEGLOG_KILL_AFTER");
    long n = after ? strtol(after, NULL, 10) : 1;
    atomic_store(&kill_countdown, n > 0 ? n : 1);
}

void wal_kill_point_reset(void)
{
    pthread_once(&kill_once, kill_init);
    kill_init();
}

void wal_kill_point(const char *name)
{
    pthread_once(&kill_once, kill_init);
    if (kill_name && strcmp(kill_name, name) == 0 && atomic_fetch_sub(&kill_countdown, 1) == 1) {
        fprintf(stderr, "seglog: kill point %s reached\n", name);
        raise(SIGKILL);
    }
}
#else
void wal_kill_point_reset(void)
{
}

void wal_kill_point(const char *name)
{
    (void)name;
}
#endif

/* ---- fault injection ------------------------------------------------------------------------- */

int wal_fault_filter(const wal_options *opt, uint64_t fault_count[2], wal_fault_op op, int res,
                     uint64_t len)
{
#ifdef SEGLOG_FAULT_INJECTION
    uint64_t nth = ++fault_count[op];
    for (size_t i = 0; i < opt->n_faults; i++) {
        const wal_fault *f = &opt->faults[i];
        if (f->op != op || !(nth == f->nth || (f->persistent && nth > f->nth)))
            continue;
        if (f->result == WAL_FAULT_SHORT)
            return res > 0 ? (int)(len / 2) : res;
        return f->result;
    }
#else
    (void)opt;
    (void)fault_count;
    (void)op;
    (void)len;
#endif
    return res;
}
