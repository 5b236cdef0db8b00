/*
 * fetch.h - reading records from the device: the read cache and the
 * pending-operation handoff.
 *
 * An operation that follows a hash chain below the head asks for "the
 * newest record of key K at or below address A".  The answer never changes
 * (records below the head are immutable; a newer version of K would be
 * found higher in the chain, before A), so it is cached under (A, K)
 * without any invalidation: an update or delete publishes a new record at
 * the tail, and later operations stop there and never ask for (A, K)
 * again.  A miss starts an asynchronous read of A; the completion (on a
 * device I/O thread) follows the chain on disk until it finds K or runs
 * out of chain, stores the answer and wakes the waiters: sessions that
 * went pending get their waiter token queued (fkv_complete_pending), and
 * sessions waiting in place are signalled.
 *
 * The cache is sharded (a mutex per shard) and bounded by bytes; entries
 * are evicted in CLOCK order, never while a read is in flight.
 *
 * Threads: any thread with a protected session; completions on I/O
 * threads.
 */
#ifndef FKV_FETCH_H
#define FKV_FETCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fkv__hlog;
struct fkv__fetch;
struct fkv__record;
struct fkv_session;

#define FKV__FETCH_SHARDS 64

struct fkv__fetch_shard {
	pthread_mutex_t lock;
	pthread_cond_t done; /* a read of this shard completed */
	struct fkv__fetch **table;
	uint64_t mask; /* table size - 1 */
	uint64_t count;
	uint64_t bytes;
	struct fkv__fetch *clock_head, *clock_tail; /* FIFO, second chance */
} __attribute__((aligned(64)));

struct fkv__cache {
	struct fkv__hlog *log;
	uint64_t shard_budget; /* bytes per shard */
	bool inline_reads;     /* fkv_config.cached_reads_inline */
	struct fkv__fetch_shard shards[FKV__FETCH_SHARDS];
	_Atomic uint64_t hits, misses, reads, inflight;
};

/* Sets up an empty cache of about `budget` bytes.  Returns 0 or
 * FKV_OUT_OF_MEMORY. */
int fkv__cache_init(struct fkv__cache *c, struct fkv__hlog *log,
		    uint64_t budget);

/* Frees every entry.  No read may be in flight (close the device first). */
void fkv__cache_destroy(struct fkv__cache *c);

/* Finds the newest record of `key` at or below `addr` (< head) for session
 * s.  Returns FKV_OK with *rec pointing to a copy in the session's buffer
 * (valid until the session's next fetch) and *rec_addr its address,
 * FKV_NOT_FOUND (the chain holds no record of the key), FKV_PENDING (the
 * session has a waiter token: the read is started and the token will be
 * delivered), FKV_IO_ERROR or FKV_CORRUPTION.  Without a waiter token it
 * waits for the read.  Never holds a record lock of the caller's. */
int fkv__cache_get(struct fkv__cache *c, struct fkv_session *s, uint64_t addr,
		   uint64_t hash, const void *key, uint32_t key_len,
		   struct fkv__record **rec, uint64_t *rec_addr);

/* Starts reading (addr, key) into the cache if it is not there yet, for
 * nobody in particular (a prefetch).  Never waits. */
void fkv__cache_prefetch(struct fkv__cache *c, uint64_t addr, uint64_t hash,
			 const void *key, uint32_t key_len);

/* Reads the whole record at `addr` (below the head) into *buf (grown as
 * needed; the caller frees it) and waits for it, outside the cache: for
 * scans, which walk whole chains.  Returns FKV_OK, FKV_IO_ERROR,
 * FKV_CORRUPTION or FKV_OUT_OF_MEMORY. */
int fkv__disk_read_record(struct fkv__hlog *l, uint64_t addr, uint8_t **buf,
			  uint32_t *cap);

/* The size of the record at the start of buf, read from addr; 0 when its
 * header cannot be a record's (zeros, past its page, a value longer than
 * its room): corruption. */
uint64_t fkv__record_size_at(const struct fkv__hlog *l, uint64_t addr,
			     const uint8_t *buf);

/* Counts for statistics. */
void fkv__cache_stats(struct fkv__cache *c, uint64_t *bytes, uint64_t *entries);

#endif
