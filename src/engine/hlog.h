/*
 * hlog.h - the hybrid log, in memory.
 *
 * The log's address space is split into pages of 1 << page_bits bytes.
 * Pages live in one contiguous, power-of-two sized buffer used as a ring of
 * frames: the frame of an address is (address & mem_mask), so turning an
 * address into a pointer is one AND and one ADD.
 *
 * Regions, from low to high addresses:
 *   begin <= head            on disk only (none yet: the disk tier is a
 *                            later layer; until then head == begin)
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
 * Threads: any thread with a protected epoch entry.
 */
#ifndef FKV_HLOG_H
#define FKV_HLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "epoch.h"

struct fkv__hlog {
	uint8_t *mem;
	uint64_t mem_size; /* power of two */
	uint64_t mem_mask;
	unsigned page_bits;
	uint64_t page_size;
	uint64_t frames;
	uint64_t mutable_pages;
	struct fkv__epoch *epoch;

	_Atomic uint64_t tail_word __attribute__((aligned(64)));
	_Atomic uint64_t read_only __attribute__((aligned(64)));
	_Atomic uint64_t safe_read_only;
	_Atomic uint64_t head;
	_Atomic uint64_t begin;
};

/* Maps the buffer.  Returns 0, FKV_INVALID (sizes) or FKV_OUT_OF_MEMORY. */
int fkv__hlog_init(struct fkv__hlog *l, uint64_t mem_size, unsigned page_bits,
		   double mutable_fraction, bool huge_pages,
		   struct fkv__epoch *epoch);
void fkv__hlog_destroy(struct fkv__hlog *l);

static inline uint8_t *fkv__hlog_ptr(const struct fkv__hlog *l, uint64_t addr)
{
	return l->mem + (addr & l->mem_mask);
}

/* Reserves `size` bytes (a multiple of 8) at the tail; the memory is zero.
 * Returns 0 with *addr set, FKV_OUT_OF_MEMORY when the log's memory is full
 * or FKV_INVALID when size exceeds a page. */
int fkv__hlog_alloc(struct fkv__hlog *l, uint64_t size, uint64_t *addr);

/* The current tail address (the next byte to be allocated). */
uint64_t fkv__hlog_tail(struct fkv__hlog *l);

static inline uint64_t fkv__hlog_load(_Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_acquire);
}

/* Raises *target to value (never lowers it).  Returns true if it changed. */
bool fkv__atomic_max(_Atomic uint64_t *target, uint64_t value);

/* Moves read_only up to `addr` (page aligned, <= tail) and schedules the
 * matching move of safe_read_only.  Returns 0 or FKV_OUT_OF_MEMORY. */
int fkv__hlog_shift_read_only(struct fkv__hlog *l, uint64_t addr);

#endif
