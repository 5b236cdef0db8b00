/*
 * internal.h - the store and session structures, shared by the engine's
 * own files only (store.c, ops.c).  Nothing outside src/engine includes it.
 */
#ifndef FKV_INTERNAL_H
#define FKV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ckpt_files.h"
#include "cpr.h"
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
	_Atomic uint64_t next_session_id;

	/* Checkpoints (checkpoint.c). */
	struct fkv__cpr cpr;
	char *ckpt_dir;		   /* a copy of cfg.checkpoint_dir, or NULL */
	pthread_mutex_t ckpt_lock; /* guards the fields below */
	pthread_cond_t ckpt_done;
	bool ckpt_running, ckpt_joinable, ckpt_ever;
	pthread_t ckpt_thread;
	fkv_checkpoint_cb ckpt_cb;
	void *ckpt_ctx;
	uint64_t ckpt_flush_rate;
	fkv_checkpoint_info ckpt_last;

	/* Recovery (recover.c): the result and the crashed run's CPR
	 * points, pairs of (session id, serial). */
	fkv_recovery_info recovered;
	uint64_t *recovered_points;
	size_t nrecovered_points;
	/* The checkpoint chosen at open, verified, waiting to be loaded. */
	struct fkv__ckpt_meta *rec_meta;
	void *rec_index;
	size_t rec_index_len;
	void *rec_snapshot; /* its snapshot file's payload, or NULL */
	size_t rec_snapshot_len;
};

/* Clocks: Unix milliseconds (expiry, checkpoint times) and monotonic
 * seconds (durations). */
int64_t fkv__wall_ms(void);
double fkv__mono_seconds(void);

/* Logs a line through cfg.log (printf-style). */
void fkv__log(fkv_store *st, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Recovers st from its checkpoint folder (store open, before any session).
 * Returns FKV_OK (also when there was nothing to recover) or an error. */
int fkv__recover(fkv_store *st);

/* Store open, before the log and the index exist: picks the newest
 * checkpoint whose files all verify (logging and setting aside those that
 * do not), keeps it for fkv__recover, and sets the page size and index
 * size the store must have to load it (left as they are when there is
 * none).  Returns FKV_OK or FKV_OUT_OF_MEMORY. */
int fkv__recover_choose(fkv_store *st, unsigned *page_bits,
			uint64_t *index_buckets);

/* Frees what fkv__recover_choose kept (also after a failed open). */
void fkv__recover_forget(fkv_store *st);

/* Waits for a running checkpoint thread and joins it (store close). */
void fkv__checkpoint_join(fkv_store *st);

/* Owned by one thread; other threads only read `stats` (relaxed). */
struct fkv_session {
	fkv_store *store;
	int slot;		  /* epoch table entry */
	uint32_t ops;		  /* operations since the last refresh */
	uint32_t grow_checks;	  /* refreshes that saw a crowded index */
	int64_t now_ms;		  /* the session's clock, set at refresh */
	int64_t fixed_clock;	  /* fkv_session_set_clock; 0: the wall */
	fkv_session *next, *prev; /* store->sessions, under sessions_lock */
	uint64_t id;		  /* fkv_session_id */
	uint64_t version;	  /* checkpoint version (cpr.h) */
	/* Completed operations; the owner stores them with release order so
	 * that the checkpoint thread reads them consistently with cpr_*. */
	_Atomic uint64_t serial;
	_Atomic uint64_t cpr_point;   /* serial when it left cpr_version - 1 */
	_Atomic uint64_t cpr_version; /* the version it last moved to */
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

/* Counts a completed operation (not a pending one) for the CPR point. */
static inline int fkv__op_end(fkv_session *s, int rc)
{
	if (rc != FKV_PENDING)
		atomic_store_explicit(
			&s->serial,
			atomic_load_explicit(&s->serial, memory_order_relaxed) +
				1,
			memory_order_release);
	return rc;
}

/* Moves the session to the checkpoint version of the state word (at its
 * refresh, after protecting): notes its CPR point first. */
void fkv__cpr_refresh(fkv_session *s);

/* Counts an operation and refreshes every FKV_AUTO_REFRESH_OPS. */
static inline void fkv__op_begin(fkv_session *s)
{
	if (++s->ops >= FKV_AUTO_REFRESH_OPS)
		fkv_refresh(s);
}

#endif
