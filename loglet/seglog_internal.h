/*
 * seglog_internal.h — hooks for seglog's own tests and tools that the public header does not show:
 * opening a store with WAL fault injection, and the names of the store's kill points. Not
 * installed; nothing outside this repository may include it.
 */
#ifndef SEGLOG_INTERNAL_H
#define SEGLOG_INTERNAL_H

#include "seglog.h"
#include "wal.h"

/* seglog_open with WAL faults (see wal.h; needs -DSEGLOG_FAULT_INJECTION=ON, else
 * SEGLOG_ENOTSUP). faults is borrowed until seglog_close. */
int seglog_open_with_faults(seglog **out, const char *dir, const seglog_options *opts,
                            const wal_fault *faults, size_t n_faults, seglog_error *err);

/* Tests only: holds (pause = true) or resumes the store's apply thread, so that acknowledged
 * records stay out of RocksDB and reads must be served from the ops on their way there. */
void seglog_pause_apply(seglog *s, bool pause);

/* Tests only: the apply thread's next write to RocksDB fails (a column family it needs is not
 * found), which poisons the store; acknowledged records stay in the WAL and come back at the next
 * open (needs -DSEGLOG_FAULT_INJECTION=ON, else SEGLOG_ENOTSUP). */
int seglog_fail_next_apply(seglog *s);

/* Tests only: the next n flushes of the checkpointer fail as if RocksDB had returned an error
 * (needs -DSEGLOG_FAULT_INJECTION=ON, else SEGLOG_ENOTSUP). */
int seglog_fail_checkpoint_flushes(seglog *s, unsigned n);

/* Kill points of the store (see wal.h for the mechanism: SEGLOG_KILL_POINT=name raises SIGKILL
 * there, after SEGLOG_KILL_AFTER hits). */
#define STORE_KILL_SEAL_BEFORE_WAL "store-seal-before-wal"   /* seal+extend built, not yet in WAL */
#define STORE_KILL_SEAL_DURABLE "store-seal-durable"         /* seal+extend durable, not applied */
#define STORE_KILL_AFTER_CF_CREATE "store-after-cf-create"   /* pool CF created, not referenced */
#define STORE_KILL_AFTER_BATCH "store-after-batch"           /* op applied, checkpoint not moved */
#define STORE_KILL_BEFORE_CHECKPOINT "store-before-checkpoint" /* flushed, checkpoint not moved */
#define STORE_KILL_IN_REPLAY "store-in-replay"               /* open: a replayed batch written */
#define LOGLET_KILL_CHAIN_WAIT_ROOM "loglet-chain-wait-room"  /* a chain op waits for WAL room */

/* wal_kill_point_reset() (wal.h) re-reads SEGLOG_KILL_POINT / SEGLOG_KILL_AFTER in a forked child. */

#endif /* SEGLOG_INTERNAL_H */
