/*
 * scan.c - visiting every live key through the hash index (fkv_scan), and
 * the sweep that takes dead keys out of it (fkv_sweep).
 *
 * The cursor is a bucket number walked in reverse-binary order (Redis's
 * dictScan): incrementing the reversed bits means that when the table
 * doubles between two calls, the buckets already visited map exactly onto
 * the new buckets the cursor has passed, so no key is missed.
 *
 * In a bucket, each entry's record chain is walked; a record is reported
 * if its key hashes to this bucket (chains may pass through records of a
 * sibling bucket after a split), it is the newest record of its key in the
 * chain, and it is live.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "record.h"

static uint64_t rev64(uint64_t v)
{
	v = ((v >> 1) & UINT64_C(0x5555555555555555)) |
	    ((v & UINT64_C(0x5555555555555555)) << 1);
	v = ((v >> 2) & UINT64_C(0x3333333333333333)) |
	    ((v & UINT64_C(0x3333333333333333)) << 2);
	v = ((v >> 4) & UINT64_C(0x0f0f0f0f0f0f0f0f)) |
	    ((v & UINT64_C(0x0f0f0f0f0f0f0f0f)) << 4);
	v = ((v >> 8) & UINT64_C(0x00ff00ff00ff00ff)) |
	    ((v & UINT64_C(0x00ff00ff00ff00ff)) << 8);
	v = ((v >> 16) & UINT64_C(0x0000ffff0000ffff)) |
	    ((v & UINT64_C(0x0000ffff0000ffff)) << 16);
	return (v >> 32) | (v << 32);
}

/* The cursor that follows bucket cursor v in a table with this mask. */
static uint64_t next_cursor(uint64_t v, uint64_t mask)
{
	v |= ~mask;
	v = rev64(v);
	v++;
	return rev64(v);
}

/* True if `addr` is the first record with its key on the chain from
 * `head_addr`. */
static bool is_newest(struct fkv__hlog *l, uint64_t head_addr, uint64_t addr,
		      struct fkv__record *r, uint64_t h, uint64_t mem_head)
{
	const uint8_t *key = fkv__rec_key(r, h);
	uint64_t a = head_addr;
	while (a >= mem_head && a != addr) {
		struct fkv__record *o =
			(struct fkv__record *)fkv__hlog_ptr(l, a);
		uint64_t oh = fkv__rec_header(o);
		if (!(oh & FKV__REC_INVALID) &&
		    fkv__rec_key_eq(o, oh, key, r->key_len))
			return false;
		a = fkv__hdr_prev(oh);
	}
	return a == addr;
}

static void visit_record(fkv_session *s, struct fkv__record *r, uint64_t addr,
			 fkv_scan_cb cb, void *ctx)
{
	struct fkv__hlog *l = &s->store->hlog;
	bool shared = addr >= fkv__hlog_load(&l->safe_read_only);
	if (shared)
		fkv__rec_lock_shared(r);
	uint64_t h = fkv__rec_header(r);
	int64_t exp = fkv__rec_expire_ms(r, h);
	bool live = !(h & FKV__REC_TOMBSTONE) && (exp == 0 || exp > s->now_ms);
	if (live)
		cb(ctx, fkv__rec_key(r, h), r->key_len, exp);
	if (shared)
		fkv__rec_unlock_shared(r);
}

/* Keys already met on one chain, newest first (the disk walk's memory). */
struct seen_keys {
	uint8_t **keys;
	uint32_t *lens;
	size_t n, cap;
};

static bool seen_has(const struct seen_keys *k, const uint8_t *key,
		     uint32_t len)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->lens[i] == len && memcmp(k->keys[i], key, len) == 0)
			return true;
	return false;
}

/* Adds a key; false without memory. */
static bool seen_add(struct seen_keys *k, const uint8_t *key, uint32_t len)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 8;
		uint8_t **keys = realloc(k->keys, cap * sizeof(*keys));
		if (keys == NULL)
			return false;
		k->keys = keys;
		uint32_t *lens = realloc(k->lens, cap * sizeof(*lens));
		if (lens == NULL)
			return false;
		k->lens = lens;
		k->cap = cap;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return false;
	memcpy(copy, key, len);
	k->keys[k->n] = copy;
	k->lens[k->n++] = len;
	return true;
}

static void seen_clear(struct seen_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->keys[i]);
	free(k->keys);
	free(k->lens);
	memset(k, 0, sizeof(*k));
}

/* Walks the part of an entry's chain that lies on the device (from addr
 * down), reading each record and waiting for it, and reports the keys of
 * bucket b whose newest record it finds there.  `first` is the chain's
 * newest address: the keys of its in-memory part are collected first.
 * Records below head are immutable, so no locks are taken. */
static void scan_disk_chain(fkv_session *s, struct fkv__table *t, uint64_t b,
			    uint64_t first, uint64_t addr, uint64_t mem_head,
			    fkv_scan_cb cb, void *ctx)
{
	struct fkv__hlog *l = &s->store->hlog;
	struct seen_keys seen = {0};
	for (uint64_t a = first; a >= mem_head && a != addr;) {
		struct fkv__record *r =
			(struct fkv__record *)fkv__hlog_ptr(l, a);
		uint64_t h = fkv__rec_header(r);
		if (!(h & FKV__REC_INVALID) &&
		    !seen_has(&seen, fkv__rec_key(r, h), r->key_len) &&
		    !seen_add(&seen, fkv__rec_key(r, h), r->key_len))
			goto out;
		a = fkv__hdr_prev(h);
	}
	uint8_t *buf = NULL;
	uint32_t cap = 0;
	uint64_t begin = fkv__hlog_load(&l->begin);
	for (uint64_t a = addr; a >= begin && a >= FKV__LOG_START;) {
		if (fkv__disk_read_record(l, a, &buf, &cap) != FKV_OK)
			break; /* an unreadable chain ends the walk */
		struct fkv__record *r = (struct fkv__record *)buf;
		uint64_t h = fkv__rec_header(r);
		const uint8_t *key = fkv__rec_key(r, h);
		if (!(h & FKV__REC_INVALID) &&
		    !seen_has(&seen, key, r->key_len)) {
			if (!seen_add(&seen, key, r->key_len))
				break;
			int64_t exp = fkv__rec_expire_ms(r, h);
			if ((fkv__hash(key, r->key_len) & t->mask) == b &&
			    !(h & FKV__REC_TOMBSTONE) &&
			    (exp == 0 || exp > s->now_ms))
				cb(ctx, key, r->key_len, exp);
		}
		uint64_t prev = fkv__hdr_prev(h);
		if (prev >= a)
			break; /* chains only go down */
		a = prev;
	}
	free(buf);
out:
	seen_clear(&seen);
}

/* What fkv_scan's bucket walk passes to scan_bucket. */
struct scan_args {
	fkv_scan_cb cb;
	void *ctx;
};

/* Reports the live keys of bucket b (arg: struct scan_args). */
static void scan_bucket(fkv_session *s, struct fkv__table *t, uint64_t b,
			void *arg)
{
	const struct scan_args *sa = arg;
	fkv_scan_cb cb = sa->cb;
	void *ctx = sa->ctx;
	struct fkv__hlog *l = &s->store->hlog;
	uint64_t mem_head = fkv__hlog_load(&l->head);
	struct fkv__bucket *bk = &t->buckets[b];
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			uint64_t e = atomic_load_explicit(&bk->entries[i],
							  memory_order_acquire);
			if (e == 0 || (e & FKV__ENTRY_TENTATIVE))
				continue;
			uint64_t first = fkv__entry_addr(e);
			uint64_t a = first;
			while (a >= mem_head) {
				struct fkv__record *r =
					(struct fkv__record *)fkv__hlog_ptr(l,
									    a);
				uint64_t h = fkv__rec_header(r);
				if (!(h & FKV__REC_INVALID) &&
				    (fkv__hash(fkv__rec_key(r, h), r->key_len) &
				     t->mask) == b &&
				    is_newest(l, first, a, r, h, mem_head))
					visit_record(s, r, a, cb, ctx);
				a = fkv__hdr_prev(h);
			}
			if (l->dev != NULL && a >= FKV__LOG_START &&
			    a >= fkv__hlog_load(&l->begin))
				scan_disk_chain(s, t, b, first, a, mem_head, cb,
						ctx);
		}
		uint64_t o = atomic_load_explicit(&bk->overflow,
						  memory_order_acquire);
		if (o == 0)
			return;
		bk = fkv__index_ovf_bucket(t, o);
	}
}

/* Calls fn for up to `buckets` buckets from *cursor (at least one), in
 * reverse-binary order, and leaves *cursor where the next call goes on (0
 * once a pass is complete).  Shared by fkv_scan and fkv_sweep. */
static void walk_buckets(fkv_session *s, uint64_t *cursor, uint64_t buckets,
			 void (*fn)(fkv_session *s, struct fkv__table *t,
				    uint64_t b, void *arg),
			 void *arg)
{
	uint64_t v = *cursor;
	if (buckets == 0)
		buckets = 1;
	do {
		struct fkv__table *t;
		/* Entering on the bucket's hash splits its chunk if a growth
		 * is under way, so the table returned holds its keys. */
		while (fkv__index_enter(&s->store->index, v, &t) != 0)
			fkv_refresh(s);
		fn(s, t, v & t->mask, arg);
		v = next_cursor(v, t->mask);
	} while (v != 0 && --buckets > 0);
	*cursor = v;
}

int fkv_scan(fkv_session *s, uint64_t *cursor, uint64_t buckets, fkv_scan_cb cb,
	     void *ctx)
{
	fkv__op_begin(s);
	struct scan_args a = {.cb = cb, .ctx = ctx};
	walk_buckets(s, cursor, buckets, scan_bucket, &a);
	return FKV_OK;
}

/* ---- The sweep --------------------------------------------------------
 *
 * An index entry is dropped when every key it leads to is dead: the
 * newest record of each key (among the records hashing to this bucket) is
 * a tombstone or has expired.  Dropping means a CAS of the entry from the
 * value the chain was read under to 0, so it fails, harmlessly, if a
 * writer published a record meanwhile; a later writer of one of those keys
 * creates a new entry whose chain starts afresh.
 *
 * CAS alone does not cover writers that change a record in place (an
 * upsert may revive a tombstone or an expired record without touching the
 * entry).  Such writers lock the record, so the sweep locks every newest
 * record at or above safe_read_only (below it nobody writes in place; see
 * ops.c) before it judges them, holds the locks across the CAS and seals
 * the records before unlocking: a writer that was waiting then finds them
 * sealed and starts over, as after any publish.  Locks are taken in chain
 * order, which is descending address order, and every other lock holder
 * holds one lock at a time, so two sweepers cannot deadlock.
 *
 * When an entry cannot be dropped (a live key shares it), expired records
 * in the mutable region are marked deleted in place, as fkv_delete would;
 * expired records elsewhere are left as they are (still hidden from
 * readers) until their entry can go.  A key is counted as reclaimed when it
 * is marked deleted or when the entry holding it is dropped, never twice.
 */

/* Newest records examined per entry; an entry leading to more keys, or a
 * chain longer than SWEEP_MAX_CHAIN records, is left in the index. */
#define SWEEP_MAX_KEYS 32
#define SWEEP_MAX_CHAIN 256

struct sweep_rec {
	struct fkv__record *r;
	uint64_t addr;
	bool locked;
	bool tombstone;
	bool expired;
	int64_t expire_ms;
};

struct sweep_out {
	fkv_scan_cb cb;
	void *ctx;
	uint64_t reclaimed;
	uint64_t dropped;
};

static void sweep_report(struct sweep_out *out, struct sweep_rec *x)
{
	out->reclaimed++;
	if (out->cb != NULL) {
		uint64_t h = fkv__rec_header(x->r);
		out->cb(out->ctx, fkv__rec_key(x->r, h), x->r->key_len,
			x->expire_ms);
	}
}

static void sweep_unlock(struct sweep_rec *recs, int n, bool seal)
{
	for (int i = 0; i < n; i++) {
		if (!recs[i].locked)
			continue;
		if (seal)
			atomic_fetch_or_explicit(&recs[i].r->header,
						 FKV__REC_SEALED,
						 memory_order_release);
		fkv__rec_unlock_excl(recs[i].r);
	}
}

/* Only the owning thread writes a counter (see fkv__stat_inc). */
static void stat_dec(fkv_session *s, int k)
{
	atomic_store_explicit(
		&s->stats[k],
		atomic_load_explicit(&s->stats[k], memory_order_relaxed) - 1,
		memory_order_relaxed);
}

static void sweep_entry(fkv_session *s, struct fkv__table *t, uint64_t b,
			_Atomic uint64_t *slot, uint64_t e,
			struct sweep_out *out)
{
	struct fkv__hlog *l = &s->store->hlog;
	uint64_t begin = fkv__hlog_load(&l->begin);
	uint64_t mem_head = fkv__hlog_load(&l->head);
	uint64_t safe_ro = fkv__hlog_load(&l->safe_read_only);
	uint64_t ro = fkv__hlog_load(&l->read_only);
	struct sweep_rec recs[SWEEP_MAX_KEYS];
	int n = 0, walked = 0;
	bool droppable = true;

	/* Collect the newest record of each key of this bucket. */
	uint64_t a = fkv__entry_addr(e);
	while (a >= mem_head) {
		if (++walked > SWEEP_MAX_CHAIN) {
			droppable = false;
			break;
		}
		struct fkv__record *r =
			(struct fkv__record *)fkv__hlog_ptr(l, a);
		uint64_t h = fkv__rec_header(r);
		if (!(h & FKV__REC_INVALID) &&
		    (fkv__hash(fkv__rec_key(r, h), r->key_len) & t->mask) ==
			    b) {
			bool seen = false;
			for (int i = 0; i < n && !seen; i++)
				seen = fkv__rec_key_eq(
					recs[i].r, fkv__rec_header(recs[i].r),
					fkv__rec_key(r, h), r->key_len);
			if (!seen) {
				if (n == SWEEP_MAX_KEYS) {
					droppable = false;
					break;
				}
				recs[n++] =
					(struct sweep_rec){.r = r, .addr = a};
			}
		}
		a = fkv__hdr_prev(h);
	}
	/* The rest of the chain is on disk: nothing to judge it by.  (In
	 * cache mode it is gone, and the entry may go with it.) */
	if (l->dev != NULL && a >= begin && a < mem_head)
		droppable = false;

	/* Lock what may be written in place, then judge each key. */
	bool any_live = false;
	for (int i = 0; i < n; i++) {
		struct sweep_rec *x = &recs[i];
		if (x->addr >= safe_ro) {
			fkv__rec_lock_excl(x->r);
			x->locked = true;
		}
		uint64_t h = fkv__rec_header(x->r);
		if (h & FKV__REC_SEALED) {
			/* Superseded since the walk: the entry has changed. */
			sweep_unlock(recs, i + 1, false);
			return;
		}
		x->tombstone = (h & FKV__REC_TOMBSTONE) != 0;
		x->expire_ms = fkv__rec_expire_ms(x->r, h);
		x->expired = !x->tombstone && x->expire_ms != 0 &&
			     x->expire_ms <= s->now_ms;
		if (!x->tombstone && !x->expired)
			any_live = true;
	}

	if (droppable && !any_live) {
		uint64_t expect = e;
		if (atomic_compare_exchange_strong_explicit(
			    slot, &expect, 0, memory_order_acq_rel,
			    memory_order_acquire)) {
			out->dropped++;
			stat_dec(s, FKV__ST_INDEX_ENTRIES);
			for (int i = 0; i < n; i++)
				if (recs[i].expired)
					sweep_report(out, &recs[i]);
			sweep_unlock(recs, n, true);
			return;
		}
	}

	/* The entry stays: mark its expired mutable records deleted. */
	for (int i = 0; i < n; i++) {
		struct sweep_rec *x = &recs[i];
		if (x->expired && x->locked && x->addr >= ro) {
			atomic_fetch_or_explicit(&x->r->header,
						 FKV__REC_TOMBSTONE,
						 memory_order_release);
			sweep_report(out, x);
		}
	}
	sweep_unlock(recs, n, false);
}

/* Reclaims the dead keys of bucket b (arg: struct sweep_out). */
static void sweep_bucket(fkv_session *s, struct fkv__table *t, uint64_t b,
			 void *arg)
{
	struct sweep_out *out = arg;
	struct fkv__bucket *bk = &t->buckets[b];
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			uint64_t e = atomic_load_explicit(&bk->entries[i],
							  memory_order_acquire);
			if (e == 0 || (e & FKV__ENTRY_TENTATIVE))
				continue;
			sweep_entry(s, t, b, &bk->entries[i], e, out);
		}
		uint64_t o = atomic_load_explicit(&bk->overflow,
						  memory_order_acquire);
		if (o == 0)
			return;
		bk = fkv__index_ovf_bucket(t, o);
	}
}

int fkv_sweep(fkv_session *s, uint64_t *cursor, uint64_t buckets,
	      fkv_scan_cb cb, void *ctx, fkv_sweep_result *res)
{
	/* A fresh clock, so that what expired by now is judged expired. */
	fkv_refresh(s);
	struct sweep_out out = {.cb = cb, .ctx = ctx};
	walk_buckets(s, cursor, buckets, sweep_bucket, &out);
	if (res != NULL) {
		res->expired = out.reclaimed;
		res->entries_dropped = out.dropped;
	}
	return FKV_OK;
}

/* Clears the entries of one bucket and its overflow chain.  Returns how
 * many it cleared. */
static uint64_t clear_bucket(struct fkv__table *t, struct fkv__bucket *bk)
{
	uint64_t n = 0;
	for (;;) {
		for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
			uint64_t e = atomic_load_explicit(&bk->entries[i],
							  memory_order_acquire);
			/* A tentative entry is an insert under way: its key
			 * counts as written after the clear. */
			while (e != 0 && !(e & FKV__ENTRY_TENTATIVE)) {
				if (atomic_compare_exchange_weak_explicit(
					    &bk->entries[i], &e, 0,
					    memory_order_acq_rel,
					    memory_order_acquire)) {
					n++;
					break;
				}
			}
		}
		uint64_t o = atomic_load_explicit(&bk->overflow,
						  memory_order_acquire);
		if (o == 0)
			return n;
		bk = fkv__index_ovf_bucket(t, o);
	}
}

int fkv_clear(fkv_session *s)
{
	struct fkv__index *ix = &s->store->index;
	/* Hold off index growth (its flag) so that no split copies entries
	 * the clear has not reached yet into a new table; finish a growth
	 * already running first. */
	while (!fkv__index_hold(ix)) {
		fkv__index_grow_help(ix, UINT64_MAX);
		fkv_refresh(s);
		sched_yield();
	}
	/* A checkpoint under way cannot hold this (cpr.h): it fails. */
	atomic_fetch_add_explicit(&s->store->cpr.clears, 1,
				  memory_order_seq_cst);
	fkv_refresh(s);
	struct fkv__table *t = fkv__index_current(ix);
	uint64_t n = 0;
	for (uint64_t b = 0; b < t->size; b++)
		n += clear_bucket(t, &t->buckets[b]);
	fkv__index_release(ix);
	for (uint64_t i = 0; i < n; i++)
		stat_dec(s, FKV__ST_INDEX_ENTRIES);
	fkv__stat_inc(s, FKV__ST_CLEARS);
	return FKV_OK;
}
