/*
 * internal.h - the store and session structures, shared by the engine's
 * own files only (store.c, ops.c).  Nothing outside src/engine includes it.
 */
#ifndef FKV_INTERNAL_H
#define FKV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "epoch.h"
#include "fetch.h"
#include "fkv.h"
#include "hlog.h"
#include "index.h"
#include "record.h"

/* Reads of mutable records copy values up to this size out under a
 * seqlock instead of taking the record's lock (a locked instruction would
 * stop the CPU from overlapping the next operation's cache misses).
 * ThreadSanitizer cannot model a seqlock's racy copy, so its builds always
 * take the lock. */
#define FKV__OPTIMISTIC_READS (!FKV__TSAN)
#define FKV__SCRATCH 256

/* Per-session counters, in fkv_stats order where they share a name. */
enum {
	FKV__ST_READS,
	FKV__ST_READ_HITS,
	FKV__ST_READ_MISSES,
	FKV__ST_UPSERTS,
	FKV__ST_UPSERTS_IN_PLACE,
	FKV__ST_UPSERTS_APPENDED,
	FKV__ST_RMWS,
	FKV__ST_RMWS_IN_PLACE,
	FKV__ST_RMWS_COPIED,
	FKV__ST_RMWS_INITIAL,
	FKV__ST_RMWS_ABORTED,
	FKV__ST_DELETES,
	FKV__ST_DELETES_IN_PLACE,
	FKV__ST_DELETES_APPENDED,
	FKV__ST_RETRIES,
	FKV__ST_INDEX_ENTRIES,
	FKV__ST_READS_PENDING,
	FKV__ST_COPIES_TO_TAIL,
	FKV__ST_CLEARS,
	FKV__ST_COUNT
};

struct fkv_store {
	fkv_config cfg;
	struct fkv__epoch epoch;
	struct fkv__hlog hlog;
	struct fkv__index index;
	struct fkv__cache cache;  /* records read from the device */
	_Atomic uint64_t evicted; /* live records dropped in cache mode */

	pthread_mutex_t sessions_lock; /* guards sessions, retired */
	fkv_session *sessions;
	uint64_t retired[FKV__ST_COUNT]; /* counters of stopped sessions */
	_Atomic uint64_t nsessions;
};

/* Owned by one thread; other threads only read `stats` (relaxed). */
struct fkv_session {
	fkv_store *store;
	int slot;		  /* epoch table entry */
	uint32_t ops;		  /* operations since the last refresh */
	uint32_t grow_checks;	  /* refreshes that saw a crowded index */
	int64_t now_ms;		  /* the session's clock, set at refresh */
	fkv_session *next, *prev; /* store->sessions, under sessions_lock */
	/* Optimistic reads copy values of up to FKV__SCRATCH bytes here. */
	uint8_t scratch[FKV__SCRATCH] __attribute__((aligned(8)));
	_Atomic uint64_t stats[FKV__ST_COUNT];

	/* Records from the device are copied here for the operation that
	 * asked (fetch.c); 8-byte aligned, grown as needed. */
	uint8_t *disk_buf;
	uint32_t disk_cap;
	/* Pending operations (fkv_session_set_waiter). */
	void *waiter;
	bool went_pending;
	int efd;		   /* eventfd: completions wait; -1 if none */
	_Atomic uint64_t waiting;  /* registered waits not yet delivered */
	pthread_mutex_t done_lock; /* guards done, ndone, done_cap */
	void **done;		   /* delivered tokens */
	size_t ndone, done_cap;
};

/* Queues a waiter token for the session's fkv_complete_pending and
 * signals its eventfd.  Any thread (device I/O threads). */
void fkv__session_deliver(fkv_session *s, void *token);

/* Only the owning thread writes a counter, so a load and a store suffice. */
static inline void fkv__stat_inc(fkv_session *s, int k)
{
	atomic_store_explicit(
		&s->stats[k],
		atomic_load_explicit(&s->stats[k], memory_order_relaxed) + 1,
		memory_order_relaxed);
}

/* Counts an operation and refreshes every FKV_AUTO_REFRESH_OPS. */
static inline void fkv__op_begin(fkv_session *s)
{
	if (++s->ops >= FKV_AUTO_REFRESH_OPS)
		fkv_refresh(s);
}

#endif
