/*
 * index.c - the latch-free hash index and its online growth: see index.h.
 */
#include "index.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fkv.h"
#include "record.h"

uint64_t fkv__hash(const void *key, uint32_t len)
{
	return XXH3_64bits(key, len);
}

/* ---- tables ------------------------------------------------------------ */

static struct fkv__table *table_new(uint64_t size, bool huge_pages,
				    _Atomic uint64_t *ovf_counter)
{
	struct fkv__table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	void *mem = mmap(NULL, size * sizeof(struct fkv__bucket),
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		free(t);
		return NULL;
	}
	if (huge_pages)
		(void)madvise(mem, size * sizeof(struct fkv__bucket),
			      MADV_HUGEPAGE);
	t->size = size;
	t->mask = size - 1;
	t->buckets = mem;
	t->huge_pages = huge_pages;
	t->ovf_counter = ovf_counter;
	return t;
}

static void table_free(struct fkv__table *t)
{
	if (t == NULL)
		return;
	for (uint64_t i = 0; i < FKV__OVF_CHUNKS; i++) {
		struct fkv__bucket *c = atomic_load_explicit(
			&t->pool.chunks[i], memory_order_acquire);
		if (c == NULL)
			break;
		free(c);
	}
	munmap(t->buckets, t->size * sizeof(struct fkv__bucket));
	free(t);
}

struct fkv__bucket *fkv__index_ovf_bucket(struct fkv__table *t, uint64_t ref)
{
	uint64_t idx = ref - 1;
	struct fkv__bucket *chunk = atomic_load_explicit(
		&t->pool.chunks[idx >> FKV__OVF_CHUNK_BITS],
		memory_order_acquire);
	return &chunk[idx & ((UINT64_C(1) << FKV__OVF_CHUNK_BITS) - 1)];
}

/* Hands out a zeroed overflow bucket; returns its reference, or 0. */
static uint64_t ovf_alloc(struct fkv__table *t)
{
	uint64_t idx = atomic_fetch_add_explicit(&t->pool.next, 1,
						 memory_order_relaxed);
	uint64_t c = idx >> FKV__OVF_CHUNK_BITS;
	if (c >= FKV__OVF_CHUNKS) {
		atomic_fetch_sub_explicit(&t->pool.next, 1,
					  memory_order_relaxed);
		return 0;
	}
	struct fkv__bucket *chunk =
		atomic_load_explicit(&t->pool.chunks[c], memory_order_acquire);
	while (chunk == NULL) {
		size_t bytes = sizeof(struct fkv__bucket)
			       << FKV__OVF_CHUNK_BITS;
		struct fkv__bucket *fresh = aligned_alloc(64, bytes);
		if (fresh == NULL)
			return 0; /* the index stays usable; the bucket is lost */
		memset(fresh, 0, bytes);
		if (atomic_compare_exchange_strong_explicit(
			    &t->pool.chunks[c], &chunk, fresh,
			    memory_order_acq_rel, memory_order_acquire))
			chunk = fresh;
		else
			free(fresh);
	}
	atomic_fetch_add_explicit(t->ovf_counter, 1, memory_order_relaxed);
	return idx + 1;
}

/* ---- find / create ---------------------------------------------------- */

_Atomic uint64_t *fkv__index_find(struct fkv__table *t, uint64_t hash,
				  uint64_t *entry)
{
	struct fkv__bucket *b = &t->buckets[hash & t->mask];
	uint16_t tag = fkv__hash_tag(hash);
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			uint64_t e = atomic_load_explicit(&b->entries[i],
							  memory_order_acquire);
			if (e != 0 && !(e & FKV__ENTRY_TENTATIVE) &&
			    fkv__entry_tag(e) == tag) {
				*entry = e;
				return &b->entries[i];
			}
		}
		uint64_t o = atomic_load_explicit(&b->overflow,
						  memory_order_acquire);
		if (o == 0)
			return NULL;
		b = fkv__index_ovf_bucket(t, o);
	}
}

/* True if some slot other than `mine` holds the tag (tentative or not). */
static bool tag_taken_elsewhere(struct fkv__table *t, uint64_t hash,
				uint16_t tag, _Atomic uint64_t *mine)
{
	struct fkv__bucket *b = &t->buckets[hash & t->mask];
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			if (&b->entries[i] == mine)
				continue;
			uint64_t e = atomic_load_explicit(&b->entries[i],
							  memory_order_acquire);
			if (e != 0 && fkv__entry_tag(e) == tag)
				return true;
		}
		uint64_t o = atomic_load_explicit(&b->overflow,
						  memory_order_acquire);
		if (o == 0)
			return false;
		b = fkv__index_ovf_bucket(t, o);
	}
}

_Atomic uint64_t *fkv__index_find_or_create(struct fkv__table *t, uint64_t hash,
					    uint64_t *entry, bool *created)
{
	uint16_t tag = fkv__hash_tag(hash);
	*created = false;
	for (;;) {
		struct fkv__bucket *b = &t->buckets[hash & t->mask];
		_Atomic uint64_t *free_slot = NULL;
		for (;;) {
			for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
				uint64_t e = atomic_load_explicit(
					&b->entries[i], memory_order_acquire);
				if (e == 0) {
					if (free_slot == NULL)
						free_slot = &b->entries[i];
				} else if (!(e & FKV__ENTRY_TENTATIVE) &&
					   fkv__entry_tag(e) == tag) {
					*entry = e;
					return &b->entries[i];
				}
			}
			uint64_t o = atomic_load_explicit(&b->overflow,
							  memory_order_acquire);
			if (o == 0)
				break;
			b = fkv__index_ovf_bucket(t, o);
		}
		if (free_slot == NULL) {
			uint64_t ref = ovf_alloc(t);
			if (ref == 0)
				return NULL;
			uint64_t expect = 0;
			if (!atomic_compare_exchange_strong_explicit(
				    &b->overflow, &expect, ref,
				    memory_order_acq_rel, memory_order_acquire))
				continue; /* another thread linked one: rescan */
			free_slot = &fkv__index_ovf_bucket(t, ref)->entries[0];
		}
		uint64_t expect = 0;
		uint64_t mine = fkv__entry_make(tag, 0) | FKV__ENTRY_TENTATIVE;
		if (!atomic_compare_exchange_strong_explicit(
			    free_slot, &expect, mine, memory_order_acq_rel,
			    memory_order_acquire))
			continue;
		if (tag_taken_elsewhere(t, hash, tag, free_slot)) {
			atomic_store_explicit(free_slot, 0,
					      memory_order_release);
			continue;
		}
		uint64_t e = fkv__entry_make(tag, FKV__ADDR_INVALID);
		atomic_store_explicit(free_slot, e, memory_order_release);
		*entry = e;
		*created = true;
		return free_slot;
	}
}

/* ---- growth ------------------------------------------------------------ */

static uint64_t state_make(uint64_t phase, uint64_t cur)
{
	return (phase << 1) | cur;
}

int fkv__index_init(struct fkv__index *ix, uint64_t buckets, bool huge_pages,
		    struct fkv__hlog *hlog, struct fkv__epoch *epoch)
{
	memset(ix, 0, sizeof(*ix));
	if (buckets == 0 || (buckets & (buckets - 1)) != 0)
		return FKV_INVALID;
	ix->tables[0] = table_new(buckets, huge_pages, &ix->stat_overflow);
	if (ix->tables[0] == NULL)
		return FKV_OUT_OF_MEMORY;
	ix->hlog = hlog;
	ix->epoch = epoch;
	ix->huge_pages = huge_pages;
	atomic_init(&ix->state, state_make(FKV__GROW_REST, 0));
	atomic_init(&ix->stat_size, buckets);
	return FKV_OK;
}

void fkv__index_destroy(struct fkv__index *ix)
{
	table_free(ix->tables[0]);
	table_free(ix->tables[1]);
	free((void *)ix->chunk_state);
	memset(ix, 0, sizeof(*ix));
}

struct fkv__table *fkv__index_current(struct fkv__index *ix)
{
	uint64_t s = atomic_load_explicit(&ix->state, memory_order_acquire);
	return ix->tables[s & 1];
}

static void prepare_done(void *ctx)
{
	struct fkv__index *ix = ctx;
	uint64_t s = atomic_load_explicit(&ix->state, memory_order_acquire);
	atomic_store_explicit(&ix->state,
			      state_make(FKV__GROW_IN_PROGRESS, s & 1),
			      memory_order_seq_cst);
}

bool fkv__index_hold(struct fkv__index *ix)
{
	uint32_t idle = 0;
	return atomic_compare_exchange_strong_explicit(&ix->grow_busy, &idle, 1,
						       memory_order_acq_rel,
						       memory_order_relaxed);
}

void fkv__index_release(struct fkv__index *ix)
{
	atomic_store_explicit(&ix->grow_busy, 0, memory_order_release);
}

int fkv__index_grow_start(struct fkv__index *ix)
{
	if (!fkv__index_hold(ix))
		return FKV_ABORTED;
	uint64_t s = atomic_load_explicit(&ix->state, memory_order_acquire);
	uint64_t cur = s & 1;
	struct fkv__table *old = ix->tables[cur];
	struct fkv__table *grown =
		table_new(old->size * 2, ix->huge_pages, &ix->stat_overflow);
	uint64_t chunks = (old->size + FKV__SPLIT_CHUNK - 1) / FKV__SPLIT_CHUNK;
	_Atomic uint8_t *cs = calloc(chunks, sizeof(*cs));
	if (grown == NULL || cs == NULL) {
		table_free(grown);
		free((void *)cs);
		fkv__index_release(ix);
		return FKV_OUT_OF_MEMORY;
	}
	ix->tables[cur ^ 1] = grown;
	ix->chunk_state = cs;
	ix->chunks = chunks;
	atomic_store_explicit(&ix->next_chunk, 0, memory_order_relaxed);
	atomic_store_explicit(&ix->chunks_done, 0, memory_order_relaxed);
	atomic_store_explicit(&ix->state, state_make(FKV__GROW_PREPARE, cur),
			      memory_order_seq_cst);
	fkv__epoch_bump(ix->epoch, prepare_done, ix);
	return FKV_OK;
}

/* Appends (tag, addr) to bucket `b` of a table only this thread writes to
 * at that bucket.  Returns false if no overflow bucket could be had. */
static bool put_entry(struct fkv__table *t, uint64_t b, uint16_t tag,
		      uint64_t addr)
{
	struct fkv__bucket *bk = &t->buckets[b];
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			if (atomic_load_explicit(&bk->entries[i],
						 memory_order_relaxed) == 0) {
				atomic_store_explicit(
					&bk->entries[i],
					fkv__entry_make(tag, addr),
					memory_order_release);
				return true;
			}
		}
		uint64_t o = atomic_load_explicit(&bk->overflow,
						  memory_order_acquire);
		if (o == 0) {
			o = ovf_alloc(t);
			if (o == 0)
				return false;
			atomic_store_explicit(&bk->overflow, o,
					      memory_order_release);
		}
		bk = fkv__index_ovf_bucket(t, o);
	}
}

/* Splits one entry of old bucket b into new buckets b and b + old size. */
static void split_entry(struct fkv__index *ix, struct fkv__table *grown,
			uint64_t b, uint64_t old_size, uint64_t e)
{
	struct fkv__hlog *l = ix->hlog;
	uint64_t head = fkv__hlog_load(&l->head);
	uint64_t begin = fkv__hlog_load(&l->begin);
	uint64_t lo = 0, hi = 0;
	uint64_t a = fkv__entry_addr(e);
	while (a >= head && (lo == 0 || hi == 0)) {
		struct fkv__record *r =
			(struct fkv__record *)fkv__hlog_ptr(l, a);
		uint64_t h = fkv__rec_header(r);
		uint64_t nb =
			fkv__hash(fkv__rec_key(r, h), r->key_len) & grown->mask;
		if (nb == b && lo == 0)
			lo = a;
		else if (nb == b + old_size && hi == 0)
			hi = a;
		a = fkv__hdr_prev(h);
	}
	/* The rest of the chain is on disk: a side with no record in memory
	 * points there too (lookups compare whole keys). */
	if (a >= begin) {
		if (lo == 0)
			lo = a;
		if (hi == 0)
			hi = a;
	}
	uint16_t tag = fkv__entry_tag(e);
	/* put_entry fails only when malloc cannot give an overflow chunk. */
	if (lo != 0)
		(void)put_entry(grown, b, tag, lo);
	if (hi != 0)
		(void)put_entry(grown, b + old_size, tag, hi);
}

static void split_chunk(struct fkv__index *ix, uint64_t cur, uint64_t chunk)
{
	struct fkv__table *old = ix->tables[cur];
	struct fkv__table *grown = ix->tables[cur ^ 1];
	uint64_t first = chunk * FKV__SPLIT_CHUNK;
	uint64_t last = first + FKV__SPLIT_CHUNK;
	if (last > old->size)
		last = old->size;
	for (uint64_t b = first; b < last; b++) {
		struct fkv__bucket *bk = &old->buckets[b];
		for (;;) {
			for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
				uint64_t e = atomic_load_explicit(
					&bk->entries[i], memory_order_acquire);
				if (e != 0 && !(e & FKV__ENTRY_TENTATIVE))
					split_entry(ix, grown, b, old->size, e);
			}
			uint64_t o = atomic_load_explicit(&bk->overflow,
							  memory_order_acquire);
			if (o == 0)
				break;
			bk = fkv__index_ovf_bucket(old, o);
		}
	}
}

static void free_old_table(void *ctx)
{
	struct fkv__index *ix = ctx;
	uint64_t s = atomic_load_explicit(&ix->state, memory_order_acquire);
	uint64_t old = (s & 1) ^ 1;
	table_free(ix->tables[old]);
	ix->tables[old] = NULL;
	free((void *)ix->chunk_state);
	ix->chunk_state = NULL;
	fkv__index_release(ix);
}

static void ensure_split(struct fkv__index *ix, uint64_t cur, uint64_t chunk)
{
	_Atomic uint8_t *st = &ix->chunk_state[chunk];
	uint8_t v = atomic_load_explicit(st, memory_order_acquire);
	if (v == 2)
		return;
	if (v == 0 &&
	    atomic_compare_exchange_strong_explicit(
		    st, &v, 1, memory_order_acq_rel, memory_order_acquire)) {
		split_chunk(ix, cur, chunk);
		atomic_store_explicit(st, 2, memory_order_release);
		uint64_t done =
			atomic_fetch_add_explicit(&ix->chunks_done, 1,
						  memory_order_acq_rel) +
			1;
		if (done == ix->chunks) {
			struct fkv__table *grown = ix->tables[cur ^ 1];
			atomic_fetch_add_explicit(&ix->grows, 1,
						  memory_order_relaxed);
			atomic_store_explicit(&ix->stat_size, grown->size,
					      memory_order_relaxed);
			atomic_store_explicit(
				&ix->stat_overflow,
				atomic_load_explicit(&grown->pool.next,
						     memory_order_relaxed),
				memory_order_relaxed);
			atomic_store_explicit(
				&ix->state, state_make(FKV__GROW_REST, cur ^ 1),
				memory_order_seq_cst);
			fkv__epoch_bump(ix->epoch, free_old_table, ix);
		}
		return;
	}
	while (atomic_load_explicit(st, memory_order_acquire) != 2)
		fkv__cpu_relax();
}

int fkv__index_enter(struct fkv__index *ix, uint64_t hash,
		     struct fkv__table **table)
{
	uint64_t s = atomic_load_explicit(&ix->state, memory_order_acquire);
	uint64_t cur = s & 1;
	switch (s >> 1) {
	case FKV__GROW_REST:
		*table = ix->tables[cur];
		return 0;
	case FKV__GROW_PREPARE:
		return FKV__INDEX_RETRY;
	default: {
		struct fkv__table *old = ix->tables[cur];
		ensure_split(ix, cur, (hash & old->mask) / FKV__SPLIT_CHUNK);
		*table = ix->tables[cur ^ 1];
		return 0;
	}
	}
}

bool fkv__index_grow_help(struct fkv__index *ix, uint64_t max_chunks)
{
	uint64_t s = atomic_load_explicit(&ix->state, memory_order_acquire);
	if ((s >> 1) != FKV__GROW_IN_PROGRESS)
		return (s >> 1) != FKV__GROW_REST;
	for (uint64_t k = 0; k < max_chunks; k++) {
		uint64_t c = atomic_fetch_add_explicit(&ix->next_chunk, 1,
						       memory_order_relaxed);
		if (c >= ix->chunks)
			break;
		ensure_split(ix, s & 1, c);
	}
	s = atomic_load_explicit(&ix->state, memory_order_acquire);
	return (s >> 1) != FKV__GROW_REST;
}

int fkv__index_restore(struct fkv__table *t, uint64_t b, uint64_t entry)
{
	uint16_t tag = fkv__entry_tag(entry);
	uint64_t addr = fkv__entry_addr(entry);
	struct fkv__bucket *bk = &t->buckets[b & t->mask];
	_Atomic uint64_t *free_slot = NULL;
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			uint64_t e = atomic_load_explicit(&bk->entries[i],
							  memory_order_relaxed);
			if (e == 0) {
				if (free_slot == NULL)
					free_slot = &bk->entries[i];
				continue;
			}
			if (fkv__entry_tag(e) != tag)
				continue;
			if (fkv__entry_addr(e) < addr)
				atomic_store_explicit(
					&bk->entries[i],
					fkv__entry_make(tag, addr),
					memory_order_relaxed);
			return 0;
		}
		uint64_t o = atomic_load_explicit(&bk->overflow,
						  memory_order_relaxed);
		if (o == 0)
			break;
		bk = fkv__index_ovf_bucket(t, o);
	}
	if (free_slot != NULL) {
		atomic_store_explicit(free_slot, fkv__entry_make(tag, addr),
				      memory_order_relaxed);
		return 1;
	}
	return put_entry(t, b & t->mask, tag, addr) ? 1 : FKV_OUT_OF_MEMORY;
}
