/*
 * ops.c - read, upsert, RMW and delete.
 *
 * Every operation hashes the key, picks its index entry and walks the
 * entry's record chain to the newest record with the key.  Where that
 * record sits decides what the operation may do (see hlog.h for regions):
 *
 *   >= read_only       mutable: update in place under the record's
 *                      exclusive lock; readers hold it shared.
 *   >= safe_read_only  fuzzy: a thread that has not yet seen the new
 *                      read_only may still write in place, so readers and
 *                      copiers take the lock too, but nobody starts a new
 *                      in-place update.
 *   >= head            immutable: read and copy without locks.
 *
 * An update that cannot happen in place appends a new record at the tail,
 * chained to the entry's old address, and publishes it with a CAS on the
 * index entry.  When the record it supersedes may still be written by
 * others (>= safe_read_only), the old record is locked across the CAS and
 * sealed after it, so that a writer that finds the old record later sees
 * the seal and starts over: no update is lost.  A lost CAS marks the new
 * record invalid and retries the whole operation.
 */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "fetch.h"
#include "internal.h"
#include "record.h"

struct found {
	uint64_t hash;
	uint16_t tag;
	_Atomic uint64_t *slot;
	uint64_t entry;
	uint64_t addr; /* of the record with the key, if rec != NULL */
	struct fkv__record *rec;
	uint64_t header;
	uint64_t read_only, safe_read_only;
};

/* Picks the index table, waiting out a growth being prepared. */
static struct fkv__table *enter_index(fkv_session *s, uint64_t hash)
{
	struct fkv__table *t;
	while (fkv__index_enter(&s->store->index, hash, &t) != 0)
		fkv_refresh(s);
	return t;
}

/* Walks the chain from the entry to the newest record with the key.  When
 * the chain leaves memory and `disk` is set, the record is looked up on the
 * device (through the read cache): f->rec then points to a copy in the
 * session's buffer, immutable like any record below safe read-only.
 * Returns FKV_OK (f->rec NULL if the key has no record), or, from the
 * device, FKV_PENDING, FKV_IO_ERROR or FKV_CORRUPTION. */
static int trace(fkv_session *s, struct found *f, const void *key,
		 uint32_t key_len, bool disk)
{
	struct fkv__hlog *l = &s->store->hlog;
	f->read_only = fkv__hlog_load(&l->read_only);
	f->safe_read_only = fkv__hlog_load(&l->safe_read_only);
	uint64_t head = fkv__hlog_load(&l->head);
	uint64_t a = fkv__entry_addr(f->entry);
	f->rec = NULL;
	while (a >= head) {
		struct fkv__record *r =
			(struct fkv__record *)fkv__hlog_ptr(l, a);
		uint64_t h = fkv__rec_header(r);
		if (!(h & FKV__REC_INVALID) &&
		    fkv__rec_key_eq(r, h, key, key_len)) {
			f->rec = r;
			f->addr = a;
			f->header = h;
			return FKV_OK;
		}
		a = fkv__hdr_prev(h);
	}
	if (!disk || l->dev == NULL || a < FKV__LOG_START ||
	    a < fkv__hlog_load(&l->begin))
		return FKV_OK;
	struct fkv__record *r;
	int rc = fkv__cache_get(&s->store->cache, s, a, f->hash, key, key_len,
				&r, &f->addr);
	if (rc == FKV_NOT_FOUND)
		return FKV_OK;
	if (rc != FKV_OK)
		return rc;
	f->rec = r;
	f->header = fkv__rec_header(r);
	return FKV_OK;
}

/* A new record could not be allocated yet (no free frame: a flush or a
 * page close is under way).  Lets the epoch move on, so that the page
 * closes, and lets the device's threads run. */
static void wait_for_log(fkv_session *s, int *spins)
{
	fkv_refresh(s);
	if (++*spins <= 16)
		return;
	if (*spins <= 64) {
		sched_yield();
		return;
	}
	/* A flush takes a while: give the device's threads the CPU. */
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 50000};
	nanosleep(&ts, NULL);
}

/* A new record could not be allocated: releases the found record's lock
 * (if held).  Returns true when the caller must return rc; false after
 * waiting for the log (FKV__LOG_RETRY), when it starts over. */
static bool allocation_failed(fkv_session *s, const struct found *f,
			      bool locked, int rc, int *spins)
{
	if (locked)
		fkv__rec_unlock_excl(f->rec);
	if (rc != FKV__LOG_RETRY)
		return true;
	wait_for_log(s, spins);
	return false;
}

/* Starts an upsert, RMW or delete (counted under `stat`).  False after a
 * pending operation of the session: the caller's command will run again
 * from the start, and nothing may change before then. */
static bool begin_write(fkv_session *s, int stat)
{
	if (s->went_pending)
		return false;
	fkv__op_begin(s);
	fkv__stat_inc(s, stat);
	return true;
}

static bool is_live(fkv_session *s, struct fkv__record *r, uint64_t h)
{
	if (h & FKV__REC_TOMBSTONE)
		return false;
	int64_t exp = fkv__rec_expire_ms(r, h);
	return exp == 0 || exp > s->now_ms;
}

/* Allocates and fills the head of a new record chained to the entry's
 * current address.  Returns 0 or an allocation status. */
static int new_record(fkv_session *s, const struct found *f, const void *key,
		      uint32_t key_len, uint64_t val_cap, uint32_t val_len,
		      uint64_t flags, int64_t expire_ms, uint64_t *addr,
		      struct fkv__record **rec)
{
	struct fkv__hlog *l = &s->store->hlog;
	uint64_t size = fkv__record_size(key_len, val_cap, expire_ms != 0);
	if (size > l->page_size)
		return FKV_INVALID; /* also keeps val_cap within 32 bits */
	int rc = fkv__hlog_alloc(l, size, addr);
	if (rc != FKV_OK)
		return rc;
	*rec = (struct fkv__record *)fkv__hlog_ptr(l, *addr);
	fkv__rec_init_version(*rec, fkv__entry_addr(f->entry), s->version,
			      flags, key, key_len, (uint32_t)val_cap, val_len,
			      expire_ms);
	return FKV_OK;
}

/* Publishes a new record at addr.  On success seals the superseded record
 * (if locked).  On failure marks the new record invalid.  Either way
 * releases the old record's lock. */
static bool publish(const struct found *f, bool locked, uint64_t addr,
		    struct fkv__record *fresh)
{
	uint64_t expect = f->entry;
	bool ok = atomic_compare_exchange_strong_explicit(
		f->slot, &expect, fkv__entry_make(f->tag, addr),
		memory_order_acq_rel, memory_order_acquire);
	if (!ok)
		atomic_fetch_or_explicit(&fresh->header, FKV__REC_INVALID,
					 memory_order_release);
	if (locked) {
		if (ok)
			atomic_fetch_or_explicit(&f->rec->header,
						 FKV__REC_SEALED,
						 memory_order_release);
		fkv__rec_unlock_excl(f->rec);
	}
	return ok;
}

/* Locks the found record if someone may be writing it in place.  Returns
 * false (nothing held) when it turns out to be sealed: start over. */
static bool lock_if_shared(struct found *f, bool *locked)
{
	*locked = false;
	if (f->rec == NULL || f->addr < f->safe_read_only)
		return true;
	fkv__rec_lock_excl(f->rec);
	f->header = fkv__rec_header(f->rec);
	if (f->header & FKV__REC_SEALED) {
		fkv__rec_unlock_excl(f->rec);
		return false;
	}
	*locked = true;
	return true;
}

/* What the checkpoint rules (cpr.h) allow a write to do with the record
 * it found: IN_PLACE (where the region allows it), COPY (the record is of
 * the version a running checkpoint holds, and this session has moved on),
 * or SHIFT (this session is still in the checkpoint's version and the
 * record is newer: refresh, moving on, and start over). */
enum { CPR_IN_PLACE, CPR_COPY, CPR_SHIFT };

static int version_rule(fkv_session *s, const struct found *f)
{
	if (f->rec == NULL)
		return CPR_IN_PLACE;
	const struct fkv__cpr *c = &s->store->cpr;
	uint64_t w = atomic_load_explicit(&((struct fkv__cpr *)c)->state,
					  memory_order_acquire);
	if (fkv__cpr_phase(w) < FKV__CPR_IN_PROGRESS)
		return CPR_IN_PLACE;
	bool fresh = fkv__cpr_is_new(c, w, f->addr, f->header);
	if (s->version != fkv__cpr_version(w))
		return fresh ? CPR_SHIFT : CPR_IN_PLACE;
	return fresh ? CPR_IN_PLACE : CPR_COPY;
}

/* Applies version_rule after lock_if_shared.  Returns false (lock
 * released, session refreshed) when the operation must start over;
 * otherwise sets *in_place. */
static bool check_version(fkv_session *s, struct found *f, bool locked,
			  bool *in_place)
{
	int rule = version_rule(s, f);
	if (rule == CPR_SHIFT) {
		if (locked)
			fkv__rec_unlock_excl(f->rec);
		fkv_refresh(s);
		return false;
	}
	*in_place = locked && rule == CPR_IN_PLACE && f->addr >= f->read_only;
	return true;
}

/* Copies a small value out of a record that writers may be changing,
 * without writing to the record's cache line, and hands the copy to cb.
 * Returns FKV_OK, FKV_NOT_FOUND, or 1 when the caller must take the lock
 * (a writer is active, or the value is too large for the scratch buffer). */
static int read_optimistic(fkv_session *s, struct fkv__record *r,
			   fkv_read_cb cb, void *ctx)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		uint32_t snap;
		if (!fkv__rec_read_begin(r, &snap))
			return 1;
		uint64_t h = fkv__rec_header(r);
		uint32_t len =
			atomic_load_explicit(&r->val_len, memory_order_relaxed);
		if (len > FKV__SCRATCH)
			return 1;
		int64_t exp = fkv__rec_expire_ms(r, h);
		bool live = !(h & FKV__REC_TOMBSTONE) &&
			    (exp == 0 || exp > s->now_ms);
		if (live)
			memcpy(s->scratch, fkv__rec_value(r, h), len);
		if (!fkv__rec_read_validate(r, snap))
			continue;
		if (!live)
			return FKV_NOT_FOUND;
		cb(ctx, s->scratch, len, exp);
		return FKV_OK;
	}
	return 1;
}

/* Copies an immutable record that a read found (in memory below
 * safe read-only, or on disk) to the tail, so that a hot record stays in
 * memory.  Best effort: a lost race or a full log leaves things as they
 * are. */
static void copy_to_tail(fkv_session *s, struct found *f, const void *key,
			 uint32_t key_len, uint32_t len)
{
	struct fkv__record *r = f->rec;
	int64_t exp = fkv__rec_expire_ms(r, f->header);
	uint64_t addr;
	struct fkv__record *fresh;
	if (new_record(s, f, key, key_len, fkv__pad8(len), len, 0, exp, &addr,
		       &fresh) != FKV_OK)
		return;
	memcpy(fkv__rec_value(fresh, fkv__rec_header(fresh)),
	       fkv__rec_value(r, f->header), len);
	if (publish(f, false, addr, fresh))
		fkv__stat_inc(s, FKV__ST_COPIES_TO_TAIL);
}

static int read_op(fkv_session *s, const void *key, uint32_t key_len,
		   fkv_read_cb cb, void *ctx)
{
	fkv__op_begin(s);
	fkv__stat_inc(s, FKV__ST_READS);
	struct found f;
	f.hash = fkv__hash(key, key_len);
	f.tag = fkv__hash_tag(f.hash);
	for (;;) {
		struct fkv__table *t = enter_index(s, f.hash);
		f.slot = fkv__index_find(t, f.hash, &f.entry);
		if (f.slot == NULL)
			break;
		int rc = trace(s, &f, key, key_len, true);
		if (rc != FKV_OK) {
			if (rc == FKV_PENDING)
				fkv__stat_inc(s, FKV__ST_READS_PENDING);
			return rc;
		}
		/* A session still in a checkpoint's version must not see what
		 * the next one wrote (a write it then makes would depend on
		 * it): it moves on first, as writers do (cpr.h). */
		if (f.rec == NULL || version_rule(s, &f) != CPR_SHIFT)
			break;
		fkv_refresh(s);
	}
	if (f.slot == NULL || f.rec == NULL)
		goto miss;
	struct fkv__record *r = f.rec;
	bool shared = f.addr >= f.safe_read_only;
	if (shared && FKV__OPTIMISTIC_READS) {
		int rc = read_optimistic(s, r, cb, ctx);
		if (rc == FKV_NOT_FOUND)
			goto miss;
		if (rc == FKV_OK)
			goto hit;
	}
	if (shared) {
		fkv__rec_lock_shared(r);
		f.header = fkv__rec_header(r);
	}
	if (!is_live(s, r, f.header)) {
		if (shared)
			fkv__rec_unlock_shared(r);
		goto miss;
	}
	uint32_t len = atomic_load_explicit(&r->val_len, memory_order_relaxed);
	cb(ctx, fkv__rec_value(r, f.header), len,
	   fkv__rec_expire_ms(r, f.header));
	if (shared)
		fkv__rec_unlock_shared(r);
	else if (s->store->cfg.copy_reads_to_tail)
		copy_to_tail(s, &f, key, key_len, len);
hit:
	fkv__stat_inc(s, FKV__ST_READ_HITS);
	return FKV_OK;
miss:
	fkv__stat_inc(s, FKV__ST_READ_MISSES);
	return FKV_NOT_FOUND;
}

/* Finds or creates the key's entry and traces its record (from the device
 * too when `disk`).  Returns FKV_OK or a status for the caller. */
static int locate_for_write(fkv_session *s, struct found *f, const void *key,
			    uint32_t key_len, bool disk)
{
	struct fkv__table *t = enter_index(s, f->hash);
	bool created;
	f->slot = fkv__index_find_or_create(t, f->hash, &f->entry, &created);
	if (f->slot == NULL)
		return FKV_OUT_OF_MEMORY;
	if (created)
		fkv__stat_inc(s, FKV__ST_INDEX_ENTRIES);
	return trace(s, f, key, key_len, disk);
}

static int upsert_op(fkv_session *s, const void *key, uint32_t key_len,
		     const void *value, uint32_t value_len, int64_t expire_ms)
{
	if (!begin_write(s, FKV__ST_UPSERTS))
		return FKV_PENDING;
	struct found f;
	f.hash = fkv__hash(key, key_len);
	f.tag = fkv__hash_tag(f.hash);
	int spins = 0;
	for (;; fkv__stat_inc(s, FKV__ST_RETRIES)) {
		/* A blind write: an older version on disk does not matter. */
		int rc = locate_for_write(s, &f, key, key_len, false);
		if (rc != FKV_OK)
			return rc;
		bool locked, in_place;
		if (!lock_if_shared(&f, &locked) ||
		    !check_version(s, &f, locked, &in_place))
			continue;
		struct fkv__record *r = f.rec;
		if (in_place && r->val_cap >= value_len &&
		    (expire_ms == 0 || (f.header & FKV__REC_EXPIRY))) {
			memcpy(fkv__rec_value(r, f.header), value, value_len);
			atomic_store_explicit(&r->val_len, value_len,
					      memory_order_relaxed);
			if (f.header & FKV__REC_EXPIRY)
				*fkv__rec_expiry(r) = expire_ms;
			if (f.header & FKV__REC_TOMBSTONE)
				atomic_fetch_and_explicit(&r->header,
							  ~FKV__REC_TOMBSTONE,
							  memory_order_release);
			fkv__rec_unlock_excl(r);
			fkv__stat_inc(s, FKV__ST_UPSERTS_IN_PLACE);
			return FKV_OK;
		}
		uint64_t addr;
		struct fkv__record *fresh;
		rc = new_record(s, &f, key, key_len, fkv__pad8(value_len),
				value_len, 0, expire_ms, &addr, &fresh);
		if (rc != FKV_OK) {
			if (allocation_failed(s, &f, locked, rc, &spins))
				return rc;
			continue;
		}
		memcpy(fkv__rec_value(fresh, fkv__rec_header(fresh)), value,
		       value_len);
		if (publish(&f, locked, addr, fresh)) {
			fkv__stat_inc(s, FKV__ST_UPSERTS_APPENDED);
			return FKV_OK;
		}
	}
}

static int rmw_op(fkv_session *s, const void *key, uint32_t key_len,
		  const fkv_rmw_ops *ops, void *ctx)
{
	if (!begin_write(s, FKV__ST_RMWS))
		return FKV_PENDING;
	struct found f;
	f.hash = fkv__hash(key, key_len);
	f.tag = fkv__hash_tag(f.hash);
	int spins = 0;
	for (;; fkv__stat_inc(s, FKV__ST_RETRIES)) {
		int rc = locate_for_write(s, &f, key, key_len, true);
		if (rc != FKV_OK)
			return rc;
		bool locked, in_place;
		if (!lock_if_shared(&f, &locked) ||
		    !check_version(s, &f, locked, &in_place))
			continue;
		struct fkv__record *r = f.rec;
		const uint8_t *old = NULL;
		uint32_t old_len = 0;
		int64_t expire_ms = 0;
		bool refused = false;
		if (r != NULL && is_live(s, r, f.header)) {
			old = fkv__rec_value(r, f.header);
			old_len = atomic_load_explicit(&r->val_len,
						       memory_order_relaxed);
			expire_ms = fkv__rec_expire_ms(r, f.header);
			if (in_place && ops->in_place != NULL) {
				uint32_t len = old_len;
				int64_t *exp = (f.header & FKV__REC_EXPIRY)
						       ? fkv__rec_expiry(r)
						       : NULL;
				rc = ops->in_place(ctx, (uint8_t *)old, &len,
						   r->val_cap, exp);
				if (rc == FKV_OK) {
					atomic_store_explicit(
						&r->val_len, len,
						memory_order_relaxed);
					fkv__rec_unlock_excl(r);
					fkv__stat_inc(s, FKV__ST_RMWS_IN_PLACE);
					return FKV_OK;
				}
				if (rc != FKV_RMW_COPY) {
					fkv__rec_unlock_excl(r);
					fkv__stat_inc(s, FKV__ST_RMWS_ABORTED);
					return FKV_ABORTED;
				}
				refused = true;
			}
		}
		uint32_t new_len = 0;
		if (ops->new_len(ctx, old, old_len, &new_len, &expire_ms) !=
		    FKV_OK) {
			if (locked)
				fkv__rec_unlock_excl(r);
			fkv__stat_inc(s, FKV__ST_RMWS_ABORTED);
			return FKV_ABORTED;
		}
		/* A value that outgrew its record gets room to grow again,
		 * where that room still fits a page. */
		uint64_t cap = fkv__pad8(new_len);
		uint64_t roomy = fkv__pad8((uint64_t)new_len + new_len / 4);
		if (refused &&
		    fkv__record_size(key_len, roomy, expire_ms != 0) <=
			    s->store->hlog.page_size)
			cap = roomy;
		uint64_t addr;
		struct fkv__record *fresh;
		rc = new_record(s, &f, key, key_len, cap, new_len, 0, expire_ms,
				&addr, &fresh);
		if (rc != FKV_OK) {
			if (allocation_failed(s, &f, locked, rc, &spins))
				return rc;
			continue;
		}
		ops->write(ctx, old, old_len,
			   fkv__rec_value(fresh, fkv__rec_header(fresh)),
			   new_len);
		if (publish(&f, locked, addr, fresh)) {
			fkv__stat_inc(s, old != NULL ? FKV__ST_RMWS_COPIED
						     : FKV__ST_RMWS_INITIAL);
			return FKV_OK;
		}
	}
}

static int delete_op(fkv_session *s, const void *key, uint32_t key_len)
{
	if (!begin_write(s, FKV__ST_DELETES))
		return FKV_PENDING;
	struct found f;
	f.hash = fkv__hash(key, key_len);
	f.tag = fkv__hash_tag(f.hash);
	int spins = 0;
	for (;; fkv__stat_inc(s, FKV__ST_RETRIES)) {
		struct fkv__table *t = enter_index(s, f.hash);
		f.slot = fkv__index_find(t, f.hash, &f.entry);
		if (f.slot == NULL)
			return FKV_NOT_FOUND;
		/* The disk tells whether the key existed (DEL's count). */
		int rc = trace(s, &f, key, key_len, true);
		if (rc != FKV_OK)
			return rc;
		bool locked, in_place;
		if (!lock_if_shared(&f, &locked) ||
		    !check_version(s, &f, locked, &in_place))
			continue;
		struct fkv__record *r = f.rec;
		if (r == NULL || (f.header & FKV__REC_TOMBSTONE)) {
			if (locked)
				fkv__rec_unlock_excl(r);
			return FKV_NOT_FOUND;
		}
		/* An expired key is deleted too (so that it can be reclaimed),
		 * but, as in Redis, it did not exist for the caller. */
		int found = is_live(s, r, f.header) ? FKV_OK : FKV_NOT_FOUND;
		if (in_place) {
			atomic_fetch_or_explicit(&r->header, FKV__REC_TOMBSTONE,
						 memory_order_release);
			fkv__rec_unlock_excl(r);
			fkv__stat_inc(s, FKV__ST_DELETES_IN_PLACE);
			return found;
		}
		uint64_t addr;
		struct fkv__record *fresh;
		rc = new_record(s, &f, key, key_len, 0, 0, FKV__REC_TOMBSTONE,
				0, &addr, &fresh);
		if (rc != FKV_OK) {
			if (allocation_failed(s, &f, locked, rc, &spins))
				return rc;
			continue;
		}
		if (publish(&f, locked, addr, fresh)) {
			fkv__stat_inc(s, FKV__ST_DELETES_APPENDED);
			return found;
		}
	}
}

/* The public operations count what they complete (fkv__op_end). */
int fkv_read(fkv_session *s, const void *key, uint32_t key_len, fkv_read_cb cb,
	     void *ctx)
{
	return fkv__op_end(s, read_op(s, key, key_len, cb, ctx));
}

int fkv_upsert(fkv_session *s, const void *key, uint32_t key_len,
	       const void *value, uint32_t value_len, int64_t expire_ms)
{
	return fkv__op_end(
		s, upsert_op(s, key, key_len, value, value_len, expire_ms));
}

int fkv_rmw(fkv_session *s, const void *key, uint32_t key_len,
	    const fkv_rmw_ops *ops, void *ctx)
{
	return fkv__op_end(s, rmw_op(s, key, key_len, ops, ctx));
}

int fkv_delete(fkv_session *s, const void *key, uint32_t key_len)
{
	return fkv__op_end(s, delete_op(s, key, key_len));
}

void fkv_prefetch(fkv_session *s, const void *key, uint32_t key_len, int stage)
{
	uint64_t hash = fkv__hash(key, key_len);
	struct fkv__table *t = fkv__index_current(&s->store->index);
	struct fkv__bucket *b = &t->buckets[hash & t->mask];
	if (stage == 0) {
		__builtin_prefetch(b, 1, 3);
		return;
	}
	uint16_t tag = fkv__hash_tag(hash);
	for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
		uint64_t e = atomic_load_explicit(&b->entries[i],
						  memory_order_relaxed);
		if (e == 0 || (e & FKV__ENTRY_TENTATIVE) ||
		    fkv__entry_tag(e) != tag)
			continue;
		struct fkv__hlog *l = &s->store->hlog;
		uint64_t a = fkv__entry_addr(e);
		if (a >= fkv__hlog_load(&l->head)) {
			const uint8_t *p = fkv__hlog_ptr(l, a);
			__builtin_prefetch(p, 1, 3);
			__builtin_prefetch(p + 63, 1, 3);
		} else if (stage >= 2 && l->dev != NULL &&
			   a >= FKV__LOG_START &&
			   a >= fkv__hlog_load(&l->begin)) {
			fkv__cache_prefetch(&s->store->cache, a, hash, key,
					    key_len);
		}
		return;
	}
}
