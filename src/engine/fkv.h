/*
 * fkv.h - the public API of redis-faster's storage engine (libfaster.a).
 *
 * An in-memory implementation of the FASTER design: a latch-free hash index
 * over a hybrid log of records, protected by epochs.  Keys and values are
 * byte strings (any bytes, zero included; empty is allowed).
 *
 * Threads and epochs
 *   Every operation runs on a session.  A session belongs to one thread at a
 *   time and is protected by the epoch framework from fkv_session_start() (or
 *   fkv_session_resume()) until fkv_session_stop() (or fkv_session_suspend()).
 *   A protected thread must call fkv_refresh() regularly (the server: once
 *   per event-loop turn; a tight loop: every few dozen operations) so that
 *   the log can advance, the index can grow and deferred work can run.  The
 *   operations refresh by themselves every FKV_AUTO_REFRESH_OPS operations.
 *   A thread that is about to block (epoll_wait, a sleep) suspends its
 *   session first so that it does not hold the others back.
 *
 * Ownership
 *   The engine copies keys and values on write; the caller keeps its
 *   buffers.  A read hands the caller a pointer into the log that is valid
 *   only for the duration of the callback.
 *
 * Errors
 *   Functions return FKV_OK (0) or one of the negative FKV_* statuses below;
 *   fkv_strerror() names them.
 */
#ifndef FKV_H
#define FKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fkv_store fkv_store;
typedef struct fkv_session fkv_session;
struct dev_device; /* src/device/device.h */

/* Statuses.  FKV_OK is 0; everything else is negative. */
enum {
	FKV_OK = 0,
	FKV_PENDING = -1,   /* the operation waits on I/O; completes on poll */
	FKV_NOT_FOUND = -2, /* no live value for the key */
	FKV_OUT_OF_MEMORY = -3, /* the log or the index cannot take more */
	FKV_IO_ERROR = -4,
	FKV_CORRUPTION = -5,
	FKV_ABORTED =
		-6, /* a callback refused, or an action is already under way */
	FKV_INVALID =
		-7, /* bad argument: a record larger than a page, a bad config */
};

/* Returns a static, human-readable name for a status. */
const char *fkv_strerror(int status);

/* The store's configuration.  Sizes are in bytes and are rounded down to
 * powers of two where the engine needs one (see each field). */
typedef struct fkv_config {
	uint64_t index_buckets; /* hash buckets, 64 bytes each (power of two) */
	uint64_t
		log_memory_size; /* in-memory log size (power of two, >= 2 pages) */
	uint32_t page_size_bits; /* log page size = 1 << bits (12..30) */
	double mutable_fraction; /* share of log memory updated in place (0..1] */
	uint32_t max_sessions;	 /* epoch table capacity (sessions at once) */
	bool huge_pages;	 /* madvise(MADV_HUGEPAGE) on index and log */
	bool index_auto_grow; /* double the index when overflow buckets pile up */

	/* The disk tier.  With a device (store mode), pages that leave memory
	 * are flushed to it first and stay readable there: nothing is lost.
	 * The store takes ownership (dev_share()s it, closes it).  Without
	 * one, `evict` picks cache mode (the oldest pages are dropped when
	 * memory fills, their records are gone) or, when false, a memory-only
	 * log that answers FKV_OUT_OF_MEMORY once full. */
	struct dev_device *device;
	bool evict;
	/* Reads of records below the read-only address (in memory or on
	 * disk) append a copy at the tail, so hot records stay in memory. */
	bool copy_reads_to_tail;
	/* Reads of on-disk records that the kernel's page cache holds are
	 * done on the calling thread (dev_read_nowait), without the hand-off
	 * to an I/O thread; false: always asynchronous. */
	bool cached_reads_inline;
	/* Bytes of records read from disk kept in memory (the read cache);
	 * 0 keeps only a small buffer that hands records to pending
	 * operations. */
	uint64_t read_cache_size;

	/* Checkpoints (store mode only).  The folder that holds them (the
	 * store keeps a copy of the string), or NULL for none. */
	const char *checkpoint_dir;
	/* At open, recover the newest checkpoint in checkpoint_dir whose
	 * files all verify (the device must hold the same log). */
	bool recover;
	/* Checkpoints kept on disk (older ones are deleted); at least 1. */
	uint32_t checkpoint_keep;
	/* Snapshot checkpoints: the part of the log not yet on the device is
	 * copied to a file of the checkpoint, and the mutable region stays
	 * mutable; false: fold-over (the log is flushed up to its tail, and
	 * every record becomes read-only). */
	bool checkpoint_snapshot;
	/* Receives the engine's log lines (recovery progress, checkpoints
	 * skipped and why), from whichever thread is working; may be NULL.
	 * level: 0 notice, 1 warning. */
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
} fkv_config;

/* Fills *cfg with the defaults: 1 Mi buckets (64 MiB of index), 1 GiB of log
 * memory in 32 MiB pages, mutable fraction 0.9, 256 sessions, huge pages on,
 * auto-grow on. */
void fkv_config_default(fkv_config *cfg);

/* Creates a store.  On success *out owns it (free with fkv_store_close).
 * Returns FKV_OK, FKV_INVALID (bad config) or FKV_OUT_OF_MEMORY. */
int fkv_store_open(const fkv_config *cfg, fkv_store **out);

/* Frees the store.  Every session must have been stopped first. */
void fkv_store_close(fkv_store *store);

/* Starts a session for the calling thread and protects it.  Returns FKV_OK
 * with *out set, FKV_OUT_OF_MEMORY, or FKV_ABORTED when max_sessions
 * sessions are already running. */
int fkv_session_start(fkv_store *store, fkv_session **out);

/* Unprotects and frees the session.  The thread must not use it again. */
void fkv_session_stop(fkv_session *s);

/* Leaves / re-enters epoch protection around a blocking wait. */
void fkv_session_suspend(fkv_session *s);
void fkv_session_resume(fkv_session *s);

/* Moves the session to the current epoch, runs deferred actions that have
 * become safe and helps a running index growth.  Needs a protected session. */
void fkv_refresh(fkv_session *s);

/* ---- Pending operations (records on disk) ------------------------------
 *
 * An operation whose record lies on the device needs a disk read.  When
 * the kernel's page cache holds the data (and cached_reads_inline is on),
 * the read is done at once on the calling thread, without waiting for the
 * disk.  Otherwise, by default (waiter NULL), the operation waits for the
 * read itself.  With a waiter token set, it starts the read and returns
 * FKV_PENDING instead, having changed nothing; once the read completes, fkv_complete_pending() hands
 * the token back, and the caller runs the operation again: it then finds
 * the record in memory (the read cache) and completes.  Reads, RMWs and
 * deletes can go pending; upserts never do on their own.  Once one
 * operation went pending, the session's later upserts, RMWs and deletes
 * answer FKV_PENDING at once without changing anything, and later reads
 * that need the disk start their reads and answer FKV_PENDING without
 * leaving another token: the caller re-runs its whole command, which
 * therefore must have changed nothing before its first pending operation.
 * A session's completions arrive on its own thread, through
 * fkv_complete_pending(). */

/* Sets the token that operations of this session leave behind when they
 * go pending (NULL: wait for the disk instead).  Owner thread only. */
void fkv_session_set_waiter(fkv_session *s, void *token);

/* True if an operation went pending since the last fkv_session_set_waiter
 * call.  Owner thread only. */
bool fkv_session_went_pending(const fkv_session *s);

/* An eventfd that is readable while completions wait for
 * fkv_complete_pending (for an event loop), or -1 without a device. */
int fkv_session_event_fd(const fkv_session *s);

/* Called once per completed disk read that a pending operation of this
 * session waits for, with the waiter token it left. */
typedef void (*fkv_wake_cb)(void *ctx, void *token);

/* Delivers the session's completed reads: calls cb for each (on this
 * thread; cb may run operations).  Returns how many it delivered.  Needs a
 * protected session. */
int fkv_complete_pending(fkv_session *s, fkv_wake_cb cb, void *ctx);

/* Operations of this session still waiting for the disk. */
uint64_t fkv_session_pending(const fkv_session *s);

#define FKV_AUTO_REFRESH_OPS 256

/* ---- Operations.  All need a protected session. ---------------------- */

/* Called with the live value of a key.  `value` points into the log and is
 * stable (no concurrent writer can change it) only during the call.
 * `expire_ms` is the absolute expiry in Unix milliseconds, or 0. */
typedef void (*fkv_read_cb)(void *ctx, const uint8_t *value, uint32_t len,
			    int64_t expire_ms);

/* Reads a key.  Returns FKV_OK after calling cb once, FKV_NOT_FOUND
 * (absent, deleted or expired; cb not called). */
int fkv_read(fkv_session *s, const void *key, uint32_t key_len, fkv_read_cb cb,
	     void *ctx);

/* Sets a key to a value with an absolute expiry (Unix ms; 0 = none).
 * Returns FKV_OK, FKV_OUT_OF_MEMORY (log full) or FKV_INVALID (record
 * larger than a page). */
int fkv_upsert(fkv_session *s, const void *key, uint32_t key_len,
	       const void *value, uint32_t value_len, int64_t expire_ms);

/* Deletes a key (writes a tombstone, or marks a mutable record deleted).
 * An expired key is deleted as well but reported as FKV_NOT_FOUND, as
 * Redis's DEL counts it.  Returns FKV_OK, FKV_NOT_FOUND (nothing live to
 * delete) or FKV_OUT_OF_MEMORY. */
int fkv_delete(fkv_session *s, const void *key, uint32_t key_len);

/* Read-modify-write callbacks.  They run inside the engine, possibly more
 * than once for one fkv_rmw() call when the engine has to retry (a racing
 * writer won), so they must compute from their arguments and ctx only and
 * must not block.  They own no engine memory. */
#define FKV_RMW_COPY 1 /* in_place's answer: does not fit, copy instead */
typedef struct fkv_rmw_ops {
	/* The new value's length.  old == NULL when the key has no live value
	 * (initial value), else the current value (copy update).  May change
	 * *expire_ms (in: the current expiry, 0 for none or for a new key).
	 * Returns 0, or FKV_ABORTED to leave the key as it is. */
	int (*new_len)(void *ctx, const uint8_t *old, uint32_t old_len,
		       uint32_t *new_len, int64_t *expire_ms);
	/* Writes the new value of new_len bytes to dst (old as for new_len). */
	void (*write)(void *ctx, const uint8_t *old, uint32_t old_len,
		      uint8_t *dst, uint32_t new_len);
	/* Optional (may be NULL): updates a mutable value in place.  The value
	 * has room for `cap` bytes; set *len to the new length.  expire_ms
	 * points at the record's expiry (changes take effect), or is NULL
	 * when the record has no room for one: return FKV_RMW_COPY then to
	 * set an expiry.  Returns 0 when done, FKV_RMW_COPY to fall back to a
	 * copy update, or FKV_ABORTED. */
	int (*in_place)(void *ctx, uint8_t *value, uint32_t *len, uint32_t cap,
			int64_t *expire_ms);
} fkv_rmw_ops;

/* Atomically replaces a key's value by a function of the old one.
 * Returns FKV_OK, FKV_ABORTED (a callback refused), FKV_OUT_OF_MEMORY or
 * FKV_INVALID. */
int fkv_rmw(fkv_session *s, const void *key, uint32_t key_len,
	    const fkv_rmw_ops *ops, void *ctx);

/* Hints that `key` will be operated on soon, so that a batch of operations
 * (the commands of one pipeline) overlaps its memory misses.  Stage 0
 * prefetches the key's index bucket; stage 1, called once the bucket has
 * had time to arrive (after stage 0 of the rest of the batch), prefetches
 * the newest record the bucket points to; stage 2 does the same and, when
 * that record lies on disk, starts reading it into the read cache (for an
 * operation that will read the key; a blind upsert would not need it).
 * Only a hint: it never blocks, fails or changes what operations return.
 * Needs a protected session. */
void fkv_prefetch(fkv_session *s, const void *key, uint32_t key_len, int stage);

/* ---- Scanning ----------------------------------------------------------- */

/* Called once per live key found by fkv_scan.  `key` points into the log
 * and is valid only during the call. */
typedef void (*fkv_scan_cb)(void *ctx, const uint8_t *key, uint32_t key_len,
			    int64_t expire_ms);

/* Visits the live keys of up to `buckets` hash buckets, starting at
 * *cursor (0 to begin), and sets *cursor to where the next call goes on (0
 * once the scan is complete).  As with Redis's SCAN, the cursor is a hash
 * bucket in reverse-binary order, so it stays valid across concurrent
 * writes and index growth: a key live for the whole scan is visited at
 * least once; a key may be visited twice only if the index grew meanwhile.
 * Expired keys are skipped.  cb must not call engine operations (it may
 * run under a record lock).  Needs a protected session.  Returns FKV_OK. */
int fkv_scan(fkv_session *s, uint64_t *cursor, uint64_t buckets, fkv_scan_cb cb,
	     void *ctx);

/* What one fkv_sweep call did. */
typedef struct fkv_sweep_result {
	uint64_t expired;	  /* expired keys reclaimed (cb was called) */
	uint64_t entries_dropped; /* index entries removed */
} fkv_sweep_result;

/* Reclaims dead keys in up to `buckets` hash buckets, walked with the same
 * cursor as fkv_scan (0 to begin; *cursor is set to 0 once a pass is
 * complete).  Expiry is judged by the session's clock, which the call
 * refreshes first, as fkv_read judges it.
 *
 * An index entry whose keys are all dead (deleted or expired) is removed,
 * so its records become unreachable and lookups no longer walk them (their
 * log space comes back only when the log itself is truncated).  An entry
 * shared with a live key stays; its expired keys in the mutable region are
 * marked deleted in place, and the others stay hidden until the entry can
 * go.  cb (may be NULL) is called once for each expired key reclaimed, with
 * its key and former expiry; a key is reported at most once over any number
 * of sweeps.  cb runs under record locks and must not call engine
 * operations.  Concurrent operations, scans and sweeps are safe: a key that
 * a writer revives meanwhile is left alone.  *res (may be NULL) receives
 * the counts.  Needs a protected session.  Returns FKV_OK. */
int fkv_sweep(fkv_session *s, uint64_t *cursor, uint64_t buckets,
	      fkv_scan_cb cb, void *ctx, fkv_sweep_result *res);

/* Deletes every key at once by clearing the hash index (O(index), whatever
 * the data set's size; no record is read, on disk or in memory).  The log
 * space of the old records stays until the log is truncated.  Operations
 * running at the same time behave as if they ran before or after the clear
 * of their key's bucket (it is not atomic across buckets).  A running
 * index growth is finished first.  Needs a protected session.  Returns
 * FKV_OK. */
int fkv_clear(fkv_session *s);

/* ---- Index growth ----------------------------------------------------- */

/* Starts doubling the hash index; sessions finish it chunk by chunk at their
 * refreshes.  With wait, the caller helps and returns once it is done.
 * Returns FKV_OK, FKV_ABORTED (a growth is already running) or
 * FKV_OUT_OF_MEMORY. */
int fkv_grow_index(fkv_session *s, bool wait);

/* ---- Checkpoints (CPR) -------------------------------------------------
 *
 * A checkpoint is taken while every session keeps working: no pause, no
 * fork.  It holds, for every session, exactly the operations it completed
 * before its CPR point (the moment it moved to the next version, at one of
 * its refreshes) and none after.  It writes, under
 * checkpoint_dir/ckpt-<version>/, the hash index (fuzzy) and a metadata
 * file, after the log has been flushed to the device up to the
 * checkpoint's final address; it counts once the metadata is durable.
 * Every file has a magic number, a format version, lengths and CRC32C
 * checksums.  Sessions must keep refreshing (or be suspended) for a
 * checkpoint to make progress.  cpr.h describes the phases. */

typedef struct fkv_checkpoint_info {
	int status;		/* FKV_OK, or why it failed */
	uint64_t version;	/* the checkpoint's version */
	uint64_t final_address; /* the log it holds ends here */
	uint64_t index_bytes;	/* size of its index file */
	uint64_t log_bytes;	/* log it needs: final address - begin */
	int64_t started_ms, finished_ms; /* Unix ms */
	char error[192];		 /* when status != FKV_OK */
} fkv_checkpoint_info;

/* Called once when a checkpoint ends, on the checkpoint's own thread. */
typedef void (*fkv_checkpoint_cb)(void *ctx, const fkv_checkpoint_info *info);

/* Starts a checkpoint on a thread of its own and returns at once.  With
 * flush_rate (bytes per second; 0: as fast as it goes) a fold-over
 * checkpoint writes the in-memory log no faster than that, so that it
 * takes less from the workers while it runs (a background save); the
 * thread also runs at a lower priority (nice 10).  cb (may be NULL) is
 * called when it ends.  Returns FKV_OK, FKV_ABORTED (one
 * is already running), FKV_INVALID (no device or no checkpoint_dir) or
 * FKV_OUT_OF_MEMORY.  Any thread; the caller's session, if any, must keep
 * refreshing or be suspended while it waits. */
int fkv_checkpoint_start(fkv_store *st, uint64_t flush_rate,
			 fkv_checkpoint_cb cb, void *ctx);

/* Waits for the running checkpoint (if any) to end and fills *out (may be
 * NULL) with the last one's result.  Returns its status, or FKV_NOT_FOUND
 * when no checkpoint ever ran.  The caller must hold no protected session. */
int fkv_checkpoint_wait(fkv_store *st, fkv_checkpoint_info *out);

/* How many checkpoint folders (valid or not) dir holds; 0 for a missing
 * dir.  Any thread; needs no store. */
int fkv_checkpoint_count(const char *dir);

/* True while a checkpoint runs. */
bool fkv_checkpoint_running(fkv_store *st);

/* The current checkpoint phase's name ("rest", "index", "prepare",
 * "in-progress", "wait-pending", "wait-flush", "persist"; cpr.h) and the
 * current version, for statistics. */
const char *fkv_checkpoint_state(fkv_store *st, uint64_t *version);

/* What recovery at open found. */
typedef struct fkv_recovery_info {
	bool recovered;		   /* a checkpoint was loaded */
	uint64_t version;	   /* its version */
	uint64_t final_address;	   /* the log resumes here */
	uint64_t replayed_bytes;   /* log replayed after the index checkpoint */
	uint64_t checkpoint_bytes; /* its files and the log it needs */
	uint64_t records_dropped;  /* records after the CPR points, dropped */
	uint32_t skipped;	   /* newer checkpoints that failed to verify */
	double seconds;
} fkv_recovery_info;

void fkv_recovery_result(fkv_store *st, fkv_recovery_info *out);

/* A session's identity (unique within one open store) and, after a
 * recovery, the number of operations that session of the crashed run had
 * completed at its CPR point: the recovered state holds exactly its first
 * *serial completed operations (reads, upserts, RMWs and deletes that did
 * not answer FKV_PENDING).  Returns FKV_OK or FKV_NOT_FOUND (the session
 * was not running at that checkpoint). */
uint64_t fkv_session_id(const fkv_session *s);
int fkv_recovered_serial(fkv_store *st, uint64_t session_id, uint64_t *serial);

/* The checkpoint version the session's operations belong to: an
 * operation completed in version v is held by a checkpoint of version v
 * or later, never by an earlier one.  It rises only at the session's
 * refreshes.  Owner thread. */
uint64_t fkv_session_version(const fkv_session *s);

/* The session's clock (Unix ms), by which expiry is judged; set at each
 * refresh from the wall clock, unless fixed: fkv_session_set_clock(s, ms)
 * fixes it at ms (a log replay runs each operation at its original time),
 * and 0 lets it follow the wall clock again.  Owner thread. */
int64_t fkv_session_clock(const fkv_session *s);
void fkv_session_set_clock(fkv_session *s, int64_t ms);

/* Raises the store's version to at least `version` (for a log replayed
 * after recovery whose operations carry later versions: the next
 * checkpoint is then later than all of them).  Only while no checkpoint
 * runs and before sessions start. */
void fkv_store_advance_version(fkv_store *st, uint64_t version);

/* ---- Statistics ------------------------------------------------------- */

typedef struct fkv_stats {
	uint64_t reads, read_hits, read_misses;
	uint64_t upserts, upserts_in_place, upserts_appended;
	uint64_t rmws, rmws_in_place, rmws_copied, rmws_initial, rmws_aborted;
	uint64_t deletes, deletes_in_place, deletes_appended;
	uint64_t retries;	/* operations restarted after losing a race */
	uint64_t index_buckets; /* main-table buckets */
	uint64_t index_entries; /* index entries in use (key tags) */
	uint64_t index_overflow_buckets;
	uint64_t index_grows;
	uint64_t log_begin, log_head, log_safe_read_only, log_read_only,
		log_tail;
	uint64_t log_bytes; /* tail - begin */
	uint64_t log_memory_size;
	uint64_t log_flushed_until; /* bytes below are on the device */
	uint64_t log_flush_waits;   /* allocations that waited for a flush */
	int log_flush_error;	  /* first device error while flushing, or 0 */
	uint64_t evicted_records; /* live records dropped (cache mode) */
	uint64_t disk_reads;	  /* device reads issued for records */
	uint64_t pending_reads;	  /* disk reads in flight */
	uint64_t read_cache_hits, read_cache_misses;
	uint64_t read_cache_bytes, read_cache_entries;
	uint64_t
		copies_to_tail; /* reads that copied their record to the tail */
	uint64_t clears;	/* fkv_clear calls */
	uint64_t sessions;
} fkv_stats;

/* Sums every session's counters (stopped ones included) and reads the log
 * addresses.  Any thread; needs no session. */
void fkv_store_stats(fkv_store *store, fkv_stats *out);

#endif
