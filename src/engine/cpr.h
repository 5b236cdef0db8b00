/*
 * cpr.h - the checkpoint state machine (Concurrent Prefix Recovery).
 *
 * One system-state word holds a phase and a version.  A checkpoint of
 * version V moves it through
 *
 *   REST(V) -> INDEX(V) -> PREPARE(V) -> IN_PROGRESS(V+1)
 *           -> WAIT_PENDING(V+1) -> WAIT_FLUSH(V+1) -> PERSIST(V+1)
 *           -> REST(V+1)
 *
 * (fkv__cpr_next is the transition function).  INDEX: the hash index is
 * written out, fuzzy, with index growth held off.  PREPARE: every session
 * acknowledges (refreshes) that a checkpoint is under way.  IN_PROGRESS:
 * each session moves to V+1 at its own next refresh, noting its CPR point
 * (how many operations it completed in V); records carry the version of
 * the session that wrote them (12 bits).  WAIT_PENDING: every session is
 * in V+1; a pending operation leaves nothing behind until it is run again
 * (fkv.h), so there is nothing of V left to wait for.  WAIT_FLUSH: the log
 * up to its tail (the checkpoint's final address) goes to the device
 * (fold-over) or, for the part not there yet, to a snapshot file.  PERSIST: the metadata is written; the checkpoint counts
 * once it is durable.
 *
 * The rules that make the checkpoint a prefix of every session's
 * operations (ops.c):
 *   - from IN_PROGRESS until REST, a session in V+1 never changes a record
 *     of V in place: it copies it to the tail (a V+1 record is one at or
 *     above `in_progress_start` with the new version's 12 bits);
 *   - a session still in V that meets a V+1 record of its key refreshes
 *     (moving to V+1) and starts the operation over.
 * Recovery (recover.c) replays the log between the index checkpoint's
 * start and the final address, dropping the V+1 records found there.
 *
 * Threads: the word is written by the checkpoint thread only, read by
 * everyone.
 */
#ifndef FKV_CPR_H
#define FKV_CPR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "record.h"

enum fkv__cpr_phase {
	FKV__CPR_REST = 0,
	FKV__CPR_INDEX = 1,
	FKV__CPR_PREPARE = 2,
	FKV__CPR_IN_PROGRESS = 3,
	FKV__CPR_WAIT_PENDING = 4,
	FKV__CPR_WAIT_FLUSH = 5,
	FKV__CPR_PERSIST = 6,
};

#define FKV__CPR_VERSION_MASK ((UINT64_C(1) << 56) - 1)

static inline uint64_t fkv__cpr_make(unsigned phase, uint64_t version)
{
	return (uint64_t)phase << 56 | (version & FKV__CPR_VERSION_MASK);
}

static inline unsigned fkv__cpr_phase(uint64_t state)
{
	return (unsigned)(state >> 56);
}

static inline uint64_t fkv__cpr_version(uint64_t state)
{
	return state & FKV__CPR_VERSION_MASK;
}

/* The state that follows `state` (the transition function). */
uint64_t fkv__cpr_next(uint64_t state);

/* A failed checkpoint goes back to REST: in V before IN_PROGRESS, in V+1
 * (which the sessions may already be in) from IN_PROGRESS on. */
uint64_t fkv__cpr_abort(uint64_t state);

/* A phase's name, for log lines and tests. */
const char *fkv__cpr_phase_name(unsigned phase);

struct fkv__cpr {
	_Atomic uint64_t state;
	/* The tail when IN_PROGRESS began: every V+1 record lies above. */
	_Atomic uint64_t in_progress_start;
	/* fkv_clear calls: a clear during a checkpoint fails it. */
	_Atomic uint64_t clears;
};

/* True if (addr, header) is a record of the version that a running
 * checkpoint's sessions move to (V+1), given the state word `state`. */
static inline bool fkv__cpr_is_new(const struct fkv__cpr *c, uint64_t state,
				   uint64_t addr, uint64_t header)
{
	unsigned ph = fkv__cpr_phase(state);
	if (ph < FKV__CPR_IN_PROGRESS)
		return false;
	uint64_t from =
		atomic_load_explicit(&((struct fkv__cpr *)c)->in_progress_start,
				     memory_order_relaxed);
	return addr >= from &&
	       fkv__hdr_version(header) ==
		       (fkv__cpr_version(state) & FKV__REC_VERSION_MASK);
}

#endif
