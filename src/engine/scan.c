/*
 * scan.c - visiting every live key through the hash index (fkv_scan).
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

static void scan_bucket(fkv_session *s, struct fkv__table *t, uint64_t b,
			fkv_scan_cb cb, void *ctx)
{
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
			for (uint64_t a = first; a >= mem_head;) {
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
		}
		uint64_t o = atomic_load_explicit(&bk->overflow,
						  memory_order_acquire);
		if (o == 0)
			return;
		bk = fkv__index_ovf_bucket(t, o);
	}
}

int fkv_scan(fkv_session *s, uint64_t *cursor, uint64_t buckets, fkv_scan_cb cb,
	     void *ctx)
{
	fkv__op_begin(s);
	uint64_t v = *cursor;
	if (buckets == 0)
		buckets = 1;
	do {
		struct fkv__table *t;
		/* Entering on the bucket's hash splits its chunk if a growth
		 * is under way, so the table returned holds its keys. */
		while (fkv__index_enter(&s->store->index, v, &t) != 0)
			fkv_refresh(s);
		scan_bucket(s, t, v & t->mask, cb, ctx);
		v |= ~t->mask;
		v = rev64(v);
		v++;
		v = rev64(v);
	} while (v != 0 && --buckets > 0);
	*cursor = v;
	return FKV_OK;
}
