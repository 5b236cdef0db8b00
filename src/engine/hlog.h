/*
 * hlog.h - the hybrid log, in memory.
 *
 * The log's address space is split into pages of 1 << page_bits bytes.
 * Pages live in one contiguous, power-of-two sized buffer used as a ring of
 * frames: the frame of an address is (address & mem_mask), so turning an
 * address into a pointer is one AND and one ADD.
 *
 * Regions, from low to high addresses:
 *   begin <= head            on the device only (store mode); gone in
 *                            cache mode; empty in memory-only mode
 *   head <= safe_read_only   in memory, immutable: read without locks
 *   safe_ro <= read_only     fuzzy: some thread may still update in place
 *   read_only <= tail        mutable: updates in place under record locks
 *
 * The tail is one word, page << 32 | offset.  Allocation adds to the
 * offset; the thread whose reservation crosses the end of the page (or any
 * thread that finds the page full) opens the next page by CAS, after which
 * read_only is moved to keep `mutable_pages` pages mutable and an epoch
 * action moves safe_read_only once every thread has seen the new value.
 * Space left at the end of a page stays zeroed: a zero header word means
 * "no more records on this page".
 *
 * Leaving memory (store and cache modes).  One epoch after safe_read_only
 * passes a page (when no operation can still lock a record in it), the
 * page is written to the device (store mode) by the device's I/O threads; flushed_until follows the completed writes.  The head
 * trails the tail so that one frame stays free for the next page, but
 * never passes flushed_until (store) or safe_read_only (cache).  Moving
 * the head is an epoch action too: once every thread has seen the new
 * head, no thread can still hold a pointer into the pages below it, so
 * their frames are zeroed and safe_head (the closed boundary) follows.
 * A page can be opened only in a frame below safe_head's ring position;
 * when none is free yet, allocation answers FKV__LOG_RETRY and the caller
 * refreshes its epoch and tries again.
 *
 * Threads: any thread with a protected epoch entry; flush completions run
 * on the device's I/O threads (they touch only the flush bookkeeping).
 */
#ifndef FKV_HLOG_H
#define FKV_HLOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "epoch.h"

struct dev_device;

/* fkv__hlog_alloc's answer when no frame is free yet: refresh and retry. */
#define FKV__LOG_RETRY 1

/* Called for every record of a page dropped in cache mode (its address,
 * its record), before the frame is zeroed. */
typedef void (*fkv__evict_cb)(void *ctx, uint64_t addr, const void *record);

struct fkv__hlog {
	uint8_t *mem;
	uint64_t mem_size; /* power of two */
	uint64_t mem_mask;
	unsigned page_bits;
	uint64_t page_size;
	uint64_t frames;
	uint64_t mutable_pages;
	struct fkv__epoch *epoch;

	struct dev_device *dev; /* store mode; NULL otherwise */
	bool evict;		/* cache mode (no device) */
	_Atomic bool closing;	/* the store is closing: no more flushes */
	fkv__evict_cb on_evict;
	void *evict_ctx;

	_Atomic uint64_t tail_word __attribute__((aligned(64)));
	_Atomic uint64_t read_only __attribute__((aligned(64)));
	_Atomic uint64_t safe_read_only;
	_Atomic uint64_t head;
	_Atomic uint64_t safe_head; /* frames below are closed (zeroed) */
	_Atomic uint64_t begin;
	_Atomic uint64_t flushed_until;
	_Atomic int flush_error;
	_Atomic uint64_t flush_waits;

	/* Flush bookkeeping: pages below flush_next have been submitted;
	 * flushed[frame] is page + 1 once that page's write completed. */
	pthread_mutex_t flush_lock;
	uint64_t flush_next;
	uint64_t *flushed;
	pthread_mutex_t close_lock; /* one closer of frames at a time */
};

/* Maps the buffer.  `dev` (store mode, may be NULL) is used shared and is
 * not closed here; `evict` picks cache mode when dev is NULL.  Returns 0,
 * FKV_INVALID (sizes) or FKV_OUT_OF_MEMORY. */
int fkv__hlog_init(struct fkv__hlog *l, uint64_t mem_size, unsigned page_bits,
		   double mutable_fraction, bool huge_pages,
		   struct fkv__epoch *epoch, struct dev_device *dev,
		   bool evict);
void fkv__hlog_destroy(struct fkv__hlog *l);

static inline uint8_t *fkv__hlog_ptr(const struct fkv__hlog *l, uint64_t addr)
{
	return l->mem + (addr & l->mem_mask);
}

/* Reserves `size` bytes (a multiple of 8) at the tail; the memory is zero.
 * Returns 0 with *addr set, FKV__LOG_RETRY (store and cache modes: no
 * frame is free yet; refresh the epoch, holding no record pointers, and
 * try again), FKV_OUT_OF_MEMORY (memory-only mode: the log is full),
 * FKV_IO_ERROR (a flush failed) or FKV_INVALID (size exceeds a page). */
int fkv__hlog_alloc(struct fkv__hlog *l, uint64_t size, uint64_t *addr);

/* The current tail address (the next byte to be allocated). */
uint64_t fkv__hlog_tail(struct fkv__hlog *l);

static inline uint64_t fkv__hlog_load(_Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_acquire);
}

/* Raises *target to value (never lowers it).  Returns true if it changed. */
bool fkv__atomic_max(_Atomic uint64_t *target, uint64_t value);

/* Moves read_only up to `addr` (<= tail; a checkpoint may pass an address
 * inside a page) and schedules the
 * matching move of safe_read_only (and, in store mode, the flush of the
 * pages below it).  Returns 0 or FKV_OUT_OF_MEMORY. */
int fkv__hlog_shift_read_only(struct fkv__hlog *l, uint64_t addr);

/* Moves the head as far as the tail, the flushes and the read-only
 * boundary allow (store and cache modes).  Any thread. */
void fkv__hlog_shift_head(struct fkv__hlog *l);

/* Writes len bytes at addr to the device and waits for the write (the
 * store's device is shared: any thread but an I/O thread).  Returns
 * FKV_OK or FKV_IO_ERROR. */
int fkv__hlog_write_wait(struct fkv__hlog *l, uint64_t addr, const void *buf,
			 uint64_t len);

/* Copies the first len bytes of `page` to out if the page is still in
 * memory (at or above the head's page); returns false if it has left.
 * The caller's epoch entry must be protected, so that the frame cannot
 * be closed during the copy. */
bool fkv__hlog_copy_page(struct fkv__hlog *l, uint64_t page, uint64_t len,
			 uint8_t *out);

/* Recovery, before any session: the log holds [begin, tail) on the
 * device; allocation resumes at tail.  When tail is not page aligned,
 * `partial` holds the bytes of its page below it, which go back into the
 * page's frame (the head is then the page's start). */
void fkv__hlog_restore(struct fkv__hlog *l, uint64_t begin, uint64_t tail,
		       const uint8_t *partial);

/* The store is closing (no session is left): from now on no flush is
 * submitted and the head stays, so that the writes still in flight can
 * complete (dev_close) without starting epoch work on a dying store. */
void fkv__hlog_close(struct fkv__hlog *l);

#endif
