/*
 * index.h - the latch-free hash index.
 *
 * An array of 64-byte buckets, each 7 entries and an overflow word.  An
 * entry packs a log address (48 bits), a 14-bit tag taken from the key
 * hash's high bits, and a tentative bit (the top bit).  Keys whose hashes
 * share a bucket and a tag share one entry; their records are chained
 * through the records' previous-address fields.
 *
 * Insertion is latch-free: claim a free slot as (tag, tentative), look for
 * another entry with the same tag, back off if there is one, else clear the
 * tentative bit.  An entry's address then only changes by CAS.  An entry
 * is removed (CAS to zero) only by fkv_sweep, once every key behind it is
 * deleted or expired (scan.c).
 *
 * Growth doubles the table without stopping anyone:
 *   REST -> PREPARE: a new table is allocated; an epoch action moves to
 *       IN_PROGRESS once every operation that saw REST has finished.
 *       Operations that see PREPARE do not touch the index: they refresh
 *       and retry.
 *   IN_PROGRESS: the old table is split chunk by chunk into the new one.
 *       An operation first makes sure its key's chunk is split (splitting
 *       it itself if nobody has), then works in the new table; refreshes
 *       split further chunks.  The thread that splits the last chunk makes
 *       the new table current (REST) and frees the old one through an epoch
 *       action.
 * Splitting walks each entry's record chain and points each of the two new
 * buckets at the first record whose hash belongs to it.
 *
 * Threads: any thread with a protected epoch entry.
 */
#ifndef FKV_INDEX_H
#define FKV_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "epoch.h"
#include "hlog.h"

#define FKV__BUCKET_ENTRIES 7
#define FKV__ENTRY_TAG_SHIFT 48
#define FKV__ENTRY_TAG_BITS 14
#define FKV__ENTRY_TAG_MASK ((UINT64_C(1) << FKV__ENTRY_TAG_BITS) - 1)
#define FKV__ENTRY_TENTATIVE (UINT64_C(1) << 63)

struct fkv__bucket {
	_Atomic uint64_t entries[FKV__BUCKET_ENTRIES];
	_Atomic uint64_t overflow; /* index + 1 into the overflow pool, or 0 */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct fkv__bucket) == 64, "a bucket is a cache line");

#define FKV__OVF_CHUNK_BITS 12
#define FKV__OVF_CHUNKS 65536

struct fkv__ovf_pool {
	_Atomic uint64_t next; /* buckets handed out */
	struct fkv__bucket *_Atomic chunks[FKV__OVF_CHUNKS];
};

struct fkv__table {
	uint64_t size; /* buckets, a power of two */
	uint64_t mask;
	struct fkv__bucket *buckets;
	bool huge_pages;
	_Atomic uint64_t *ovf_counter; /* the index's stat_overflow */
	struct fkv__ovf_pool pool;
};

enum { FKV__GROW_REST = 0, FKV__GROW_PREPARE = 1, FKV__GROW_IN_PROGRESS = 2 };

#define FKV__SPLIT_CHUNK 4096 /* buckets per split chunk */

struct fkv__index {
	/* state = phase << 1 | current table (0 or 1) */
	_Atomic uint64_t state __attribute__((aligned(64)));
	struct fkv__table *tables[2];
	struct fkv__hlog *hlog;
	struct fkv__epoch *epoch;
	bool huge_pages;

	_Atomic uint32_t
		grow_busy; /* 1 from grow start until the old table is freed */
	_Atomic uint64_t next_chunk;
	_Atomic uint64_t chunks_done;
	uint64_t chunks;
	_Atomic uint8_t *chunk_state; /* 0 unsplit, 1 splitting, 2 split */
	_Atomic uint64_t grows;
	/* For statistics read without epoch protection: the current table's
	 * size and its overflow buckets (during a growth, both tables'). */
	_Atomic uint64_t stat_size;
	_Atomic uint64_t stat_overflow;
};

static inline uint16_t fkv__hash_tag(uint64_t hash)
{
	return (uint16_t)((hash >> (64 - FKV__ENTRY_TAG_BITS)) &
			  FKV__ENTRY_TAG_MASK);
}

static inline uint64_t fkv__entry_addr(uint64_t e)
{
	return e & FKV__ADDR_MASK;
}

static inline uint16_t fkv__entry_tag(uint64_t e)
{
	return (uint16_t)((e >> FKV__ENTRY_TAG_SHIFT) & FKV__ENTRY_TAG_MASK);
}

static inline uint64_t fkv__entry_make(uint16_t tag, uint64_t addr)
{
	return ((uint64_t)tag << FKV__ENTRY_TAG_SHIFT) |
	       (addr & FKV__ADDR_MASK);
}

/* Returns 0 or FKV_OUT_OF_MEMORY / FKV_INVALID (size not a power of two). */
int fkv__index_init(struct fkv__index *ix, uint64_t buckets, bool huge_pages,
		    struct fkv__hlog *hlog, struct fkv__epoch *epoch);
void fkv__index_destroy(struct fkv__index *ix);

#define FKV__INDEX_RETRY 1 /* a growth is being prepared: refresh, retry */

/* Picks the table an operation on `hash` must use, splitting the hash's
 * chunk first if a growth is under way.  Returns 0 with *table set, or
 * FKV__INDEX_RETRY.  The table stays valid until the caller's next refresh. */
int fkv__index_enter(struct fkv__index *ix, uint64_t hash,
		     struct fkv__table **table);

/* Finds the entry for hash's tag.  Returns the slot, with *entry set to its
 * value, or NULL when the key's tag has no entry. */
_Atomic uint64_t *fkv__index_find(struct fkv__table *t, uint64_t hash,
				  uint64_t *entry);

/* Finds or creates the entry for hash's tag.  A new entry holds
 * FKV__ADDR_INVALID.  Returns the slot with *entry set, or NULL when no
 * overflow bucket could be allocated.  *created tells whether it is new. */
_Atomic uint64_t *fkv__index_find_or_create(struct fkv__table *t, uint64_t hash,
					    uint64_t *entry, bool *created);

/* Recovery, single-threaded: puts `entry` (tag | address) into bucket b,
 * or, if b already has an entry with its tag, keeps the higher address.
 * Returns 1 (a new entry), 0 (merged) or FKV_OUT_OF_MEMORY. */
int fkv__index_restore(struct fkv__table *t, uint64_t b, uint64_t entry);

/* The overflow bucket behind a bucket's overflow word. */
struct fkv__bucket *fkv__index_ovf_bucket(struct fkv__table *t, uint64_t ref);

/* Takes the growth flag (grow_busy) when it is free: no growth can start
 * until fkv__index_release.  Returns false while a growth runs (or
 * another holder has it): the caller helps it along and tries again.
 * fkv_clear and checkpoints hold it; a growth holds it itself until its
 * old table is freed.  Any thread. */
bool fkv__index_hold(struct fkv__index *ix);
void fkv__index_release(struct fkv__index *ix);

/* Starts a growth.  Returns 0, FKV_ABORTED (one is running) or
 * FKV_OUT_OF_MEMORY. */
int fkv__index_grow_start(struct fkv__index *ix);

/* Splits up to max_chunks unsplit chunks if a growth is in progress.
 * Returns true while a growth is still running. */
bool fkv__index_grow_help(struct fkv__index *ix, uint64_t max_chunks);

struct fkv__table *fkv__index_current(struct fkv__index *ix);

/* Hash of a key, as the index uses it. */
uint64_t fkv__hash(const void *key, uint32_t len);

#endif
