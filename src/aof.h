/*
 * aof.h - the append-only file (issue 6): every write command is logged to
 * a FasterLog in dir/<appenddirname>/ before it is acknowledged, and
 * start-up replays what the newest checkpoint does not hold.
 *
 * An entry holds the command's checkpoint version (the session's CPR
 * version after it ran: fkv_session_version), its clocks, its database
 * and its arguments.  A checkpoint of version V holds exactly the
 * operations of versions <= V, so replay runs, in log order, the entries
 * of versions > V.  Log order agrees with the order in which commands
 * changed each key: a write command runs and is appended while it holds
 * the locks of its keys' stripes, under a whole-file lock held shared; a
 * command without keys (FLUSHALL, FLUSHDB) or with more than 32 stripes
 * holds the whole-file lock alone.  A command replayed runs with its original
 * clocks, so relative TTLs and expiry come out as they did.
 *
 * A command that straddles a CPR point (its session's version moved while
 * it ran: some of its operations are in the older checkpoint) is logged
 * as the state it left in its keys (SET key value [PXAT t] / DEL key),
 * which replays exactly over either checkpoint.
 *
 * Threads: aof_open/aof_close on the main thread without workers; aof_run
 * on workers; the checkpoint hooks on whatever thread persist.c runs.
 */
#ifndef RF_AOF_H
#define RF_AOF_H

#include <stdbool.h>
#include <stdint.h>

#include "cmd.h"

/* Opens the append-only file when appendonly is yes and replays it into
 * the recovered store.  Returns 0, or -1 (logged): the server must not
 * start. */
int aof_open(void);

/* Commits and closes it (after the workers and the final save). */
void aof_close(void);

/* True when write commands go through aof_run. */
bool aof_logging(void);

/* True while start-up replays the file (commands must not save). */
bool aof_replaying(void);

/* Runs the write command d: under its stripes' locks, runs it and, unless
 * it failed or went pending, appends it; under appendfsync always the
 * client's reply then waits for the commit.  Refuses it (MISCONF) when
 * the file cannot commit, or when it is too large for a log page. */
void aof_run(cmd_ctx *ctx, const cmd_def *d);

/* The file's tail when a checkpoint starts (0 when off), and, once that
 * checkpoint is durable, the hook that truncates what no kept checkpoint
 * needs: entries below the previous checkpoint's start. */
uint64_t aof_checkpoint_start(void);
void aof_checkpoint_done(uint64_t start);

/* appendfsync changed (CONFIG SET). */
void aof_policy_changed(void);

/* INFO persistence's aof_* fields. */
typedef struct aof_status {
	bool enabled;
	bool write_ok;		/* the file commits */
	uint64_t current_size;	/* bytes: tail - begin */
	uint64_t base_size;	/* bytes after the last truncation */
	uint64_t buffer_length; /* bytes not yet committed */
} aof_status;

void aof_status_get(aof_status *out);

#endif
