/*
 * test_index.c - the hash index: entries and tags, overflow buckets, keys
 * that share an entry, and online growth (alone and under concurrent
 * inserts).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fkv.h"
#include "index.h"
#include "internal.h"

/* A hash that lands in `bucket` (of a table of at most 2^50 buckets) with
 * tag `tag`. */
static uint64_t mkhash(uint16_t tag, uint64_t bucket)
{
	return ((uint64_t)tag << (64 - FKV__ENTRY_TAG_BITS)) | bucket;
}

static bool slot_in_bucket(_Atomic uint64_t *slot, struct fkv__bucket *b)
{
	return slot >= &b->entries[0] &&
	       slot < &b->entries[FKV__BUCKET_ENTRIES];
}

static void ix_open(struct fkv__index *ix, uint64_t buckets)
{
	/* Growth is not used at this level: no log or epoch needed. */
	cr_assert_eq(fkv__index_init(ix, buckets, false, NULL, NULL), FKV_OK);
}

Test(index, entry_packing)
{
	uint64_t e = fkv__entry_make(0x1234, UINT64_C(0xabcdef012345));
	cr_assert_eq(fkv__entry_tag(e), 0x1234);
	cr_assert_eq(fkv__entry_addr(e), UINT64_C(0xabcdef012345));
	cr_assert_eq(e & FKV__ENTRY_TENTATIVE, 0);
	e = fkv__entry_make(FKV__ENTRY_TAG_MASK, FKV__ADDR_MASK);
	cr_assert_eq(fkv__entry_tag(e), FKV__ENTRY_TAG_MASK);
	cr_assert_eq(fkv__entry_addr(e), FKV__ADDR_MASK);
	cr_assert_eq(e & FKV__ENTRY_TENTATIVE, 0,
		     "tag and tentative bit do not overlap");
	e = fkv__entry_make(7, FKV__ADDR_INVALID) | FKV__ENTRY_TENTATIVE;
	cr_assert_eq(fkv__entry_tag(e), 7);
	cr_assert_eq(fkv__entry_addr(e), FKV__ADDR_INVALID);
	/* Address bits above 48 are dropped, not mixed into the tag. */
	e = fkv__entry_make(0, UINT64_MAX);
	cr_assert_eq(fkv__entry_tag(e), 0);
	/* An entry for a live key is never zero (zero is a free slot). */
	cr_assert_neq(fkv__entry_make(0, FKV__ADDR_INVALID), 0);
	/* The tag is the hash's top 14 bits. */
	cr_assert_eq(fkv__hash_tag(UINT64_MAX), FKV__ENTRY_TAG_MASK);
	cr_assert_eq(fkv__hash_tag(mkhash(0x2abc, 12345)), 0x2abc);
	cr_assert_eq(fkv__hash_tag(UINT64_C(1) << 49), 0);
}

Test(index, hash_covers_every_byte)
{
	cr_assert_eq(fkv__hash("abc", 3), fkv__hash("abc", 3));
	cr_assert_neq(fkv__hash("a\0b", 3), fkv__hash("a\0c", 3));
	cr_assert_neq(fkv__hash("a\0", 2), fkv__hash("a", 1));
	cr_assert_neq(fkv__hash("", 0), fkv__hash("\0", 1));
}

Test(index, init_rejects_bad_sizes)
{
	struct fkv__index ix;
	cr_assert_eq(fkv__index_init(&ix, 0, false, NULL, NULL), FKV_INVALID);
	cr_assert_eq(fkv__index_init(&ix, 3, false, NULL, NULL), FKV_INVALID);
	cr_assert_eq(fkv__index_init(&ix, 100, false, NULL, NULL), FKV_INVALID);
	ix_open(&ix, 1);
	cr_assert_eq(fkv__index_current(&ix)->size, 1);
	cr_assert_eq(fkv__index_current(&ix)->mask, 0);
	fkv__index_destroy(&ix);
	ix_open(&ix, 64);
	cr_assert_eq(fkv__index_current(&ix)->size, 64);
	cr_assert_eq(atomic_load(&ix.stat_size), 64);
	fkv__index_destroy(&ix);
}

Test(index, find_on_empty_returns_null)
{
	struct fkv__index ix;
	ix_open(&ix, 8);
	struct fkv__table *t = fkv__index_current(&ix);
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t e = 12345;
		cr_assert_null(
			fkv__index_find(t, mkhash((uint16_t)(i * 37), i), &e));
		cr_assert_eq(e, 12345, "entry untouched on a miss");
	}
	cr_assert_null(fkv__index_find(t, fkv__hash("k", 1), &(uint64_t){0}));
	fkv__index_destroy(&ix);
}

Test(index, find_or_create_creates_once)
{
	struct fkv__index ix;
	ix_open(&ix, 8);
	struct fkv__table *t = fkv__index_current(&ix);
	uint64_t h = mkhash(5, 3);
	uint64_t e1, e2, e3;
	bool created;
	_Atomic uint64_t *s1 = fkv__index_find_or_create(t, h, &e1, &created);
	cr_assert_not_null(s1);
	cr_assert(created);
	cr_assert_eq(e1, fkv__entry_make(5, FKV__ADDR_INVALID));
	cr_assert_eq(atomic_load(s1), e1);
	cr_assert(slot_in_bucket(s1, &t->buckets[3]), "lands in its bucket");

	_Atomic uint64_t *s2 = fkv__index_find_or_create(t, h, &e2, &created);
	cr_assert_eq(s2, s1);
	cr_assert_not(created, "the second call finds the entry");
	cr_assert_eq(e2, e1);
	cr_assert_eq(fkv__index_find(t, h, &e3), s1);
	cr_assert_eq(e3, e1);

	/* Publish an address the way operations do; lookups see it. */
	uint64_t expect = e1;
	cr_assert(atomic_compare_exchange_strong(s1, &expect,
						 fkv__entry_make(5, 4096)));
	cr_assert_eq(fkv__index_find(t, h, &e3), s1);
	cr_assert_eq(fkv__entry_addr(e3), 4096);
	cr_assert_eq(fkv__index_find_or_create(t, h, &e2, &created), s1);
	cr_assert_not(created);
	cr_assert_eq(fkv__entry_addr(e2), 4096);

	/* Same bucket and tag from a different hash: the same entry. */
	cr_assert_eq(fkv__index_find(t, h + 8 * 1000, &e3), s1);
	/* Same tag, other bucket: a different entry. */
	cr_assert_null(fkv__index_find(t, mkhash(5, 4), &e3));
	_Atomic uint64_t *s4 =
		fkv__index_find_or_create(t, mkhash(5, 4), &e3, &created);
	cr_assert(created);
	cr_assert(slot_in_bucket(s4, &t->buckets[4]));
	/* No overflow bucket was needed. */
	cr_assert_eq(atomic_load(&t->pool.next), 0);
	cr_assert_eq(atomic_load(&t->buckets[3].overflow), 0);
	fkv__index_destroy(&ix);
}

Test(index, different_tags_share_a_bucket)
{
	struct fkv__index ix;
	ix_open(&ix, 4);
	struct fkv__table *t = fkv__index_current(&ix);
	_Atomic uint64_t *slots[FKV__BUCKET_ENTRIES];
	for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
		uint64_t e;
		bool created;
		slots[i] = fkv__index_find_or_create(t, mkhash(100 + i, 2), &e,
						     &created);
		cr_assert_not_null(slots[i]);
		cr_assert(created, "tag %d", 100 + i);
		cr_assert(slot_in_bucket(slots[i], &t->buckets[2]));
		cr_assert_eq(fkv__entry_tag(e), 100 + i);
		for (int j = 0; j < i; j++)
			cr_assert_neq(slots[i], slots[j]);
	}
	for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
		uint64_t e;
		cr_assert_eq(fkv__index_find(t, mkhash(100 + i, 2), &e),
			     slots[i]);
		cr_assert_eq(fkv__entry_tag(e), 100 + i);
	}
	cr_assert_null(fkv__index_find(t, mkhash(99, 2), &(uint64_t){0}));
	cr_assert_eq(atomic_load(&t->buckets[2].overflow), 0);
	cr_assert_eq(atomic_load(&t->pool.next), 0);
	for (int b = 0; b < 4; b++)
		if (b != 2)
			for (int i = 0; i < FKV__BUCKET_ENTRIES; i++)
				cr_assert_eq(
					atomic_load(&t->buckets[b].entries[i]),
					0);
	fkv__index_destroy(&ix);
}

Test(index, full_bucket_chains_overflow_buckets)
{
	struct fkv__index ix;
	ix_open(&ix, 1);
	struct fkv__table *t = fkv__index_current(&ix);
	enum { N = 30 };
	_Atomic uint64_t *slots[N];
	for (int i = 0; i < N; i++) {
		uint64_t e;
		bool created;
		slots[i] = fkv__index_find_or_create(t, mkhash(1 + 3 * i, 0),
						     &e, &created);
		cr_assert_not_null(slots[i], "entry %d", i);
		cr_assert(created, "entry %d", i);
		for (int j = 0; j < i; j++)
			cr_assert_neq(slots[i], slots[j]);
		if (i < FKV__BUCKET_ENTRIES)
			cr_assert(slot_in_bucket(slots[i], &t->buckets[0]));
		else
			cr_assert_not(slot_in_bucket(slots[i], &t->buckets[0]),
				      "entry %d is in the full bucket", i);
	}
	/* 23 entries past the first bucket: 7 + 7 + 7 + 2 in overflow. */
	cr_assert_eq(atomic_load(&t->pool.next), 4);
	cr_assert_eq(atomic_load(&ix.stat_overflow), 4);
	cr_assert_neq(atomic_load(&t->buckets[0].overflow), 0);

	/* Every entry is found again, and none is created twice. */
	for (int i = 0; i < N; i++) {
		uint64_t e;
		bool created;
		cr_assert_eq(fkv__index_find(t, mkhash(1 + 3 * i, 0), &e),
			     slots[i], "entry %d", i);
		cr_assert_eq(fkv__entry_tag(e), 1 + 3 * i);
		cr_assert_eq(fkv__index_find_or_create(t, mkhash(1 + 3 * i, 0),
						       &e, &created),
			     slots[i]);
		cr_assert_not(created);
	}
	cr_assert_null(fkv__index_find(t, mkhash(2, 0), &(uint64_t){0}),
		       "a missing tag walks the whole chain");
	cr_assert_eq(atomic_load(&t->pool.next), 4);

	/* A slot freed in the first bucket is reused before the chain. */
	atomic_store(slots[3], 0);
	uint64_t e;
	bool created;
	cr_assert_eq(fkv__index_find_or_create(t, mkhash(2, 0), &e, &created),
		     slots[3]);
	cr_assert(created);
	cr_assert_eq(atomic_load(&t->pool.next), 4);
	fkv__index_destroy(&ix);
}

Test(index, tentative_entries_are_invisible)
{
	struct fkv__index ix;
	ix_open(&ix, 2);
	struct fkv__table *t = fkv__index_current(&ix);
	/* A half-inserted entry (another thread between its two steps). */
	atomic_store(&t->buckets[1].entries[0],
		     fkv__entry_make(9, FKV__ADDR_INVALID) |
			     FKV__ENTRY_TENTATIVE);
	uint64_t e = 0;
	cr_assert_null(fkv__index_find(t, mkhash(9, 1), &e));
	/* Other tags still insert next to it. */
	bool created;
	_Atomic uint64_t *s =
		fkv__index_find_or_create(t, mkhash(10, 1), &e, &created);
	cr_assert(created);
	cr_assert_eq(s, &t->buckets[1].entries[1]);
	fkv__index_destroy(&ix);
}

/* ---- Through the public API ------------------------------------------ */

static fkv_store *open_store(uint64_t buckets, uint64_t log_mem,
			     uint32_t page_bits)
{
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = buckets;
	cfg.log_memory_size = log_mem;
	cfg.page_size_bits = page_bits;
	cfg.mutable_fraction = 0.9;
	cfg.max_sessions = 16;
	cfg.huge_pages = false;
	cfg.index_auto_grow = false;
	fkv_store *st = NULL;
	cr_assert_eq(fkv_store_open(&cfg, &st), FKV_OK);
	cr_assert_not_null(st);
	return st;
}

struct got {
	uint8_t buf[64];
	uint32_t len;
	int calls;
};

static void got_cb(void *ctx, const uint8_t *value, uint32_t len,
		   int64_t expire_ms)
{
	struct got *g = ctx;
	(void)expire_ms;
	g->calls++;
	g->len = len;
	memcpy(g->buf, value, len < sizeof(g->buf) ? len : sizeof(g->buf));
}

/* Reads key and returns whether it holds exactly `want`. */
static bool reads_as(fkv_session *s, const void *key, uint32_t key_len,
		     const char *want)
{
	struct got g = {0};
	int rc = fkv_read(s, key, key_len, got_cb, &g);
	return rc == FKV_OK && g.calls == 1 && g.len == strlen(want) &&
	       memcmp(g.buf, want, g.len) == 0;
}

#define COLL_KEYS 8

Test(index, tag_collisions_chain_through_records)
{
	enum { BUCKETS = 4 };
	fkv_store *st = open_store(BUCKETS, UINT64_C(4) << 20, 14);
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);

	/* Brute-force keys whose hashes agree on bucket and tag; one more
	 * that is never inserted. */
	char keys[COLL_KEYS + 1][24];
	uint64_t h0 = fkv__hash("coll:0", 6);
	int found = 0;
	for (unsigned u = 0; found < COLL_KEYS + 1 && u < 100000000u; u++) {
		char k[24];
		int n = snprintf(k, sizeof(k), "coll:%u", u);
		uint64_t h = fkv__hash(k, (uint32_t)n);
		if ((h & (BUCKETS - 1)) == (h0 & (BUCKETS - 1)) &&
		    fkv__hash_tag(h) == fkv__hash_tag(h0))
			memcpy(keys[found++], k, sizeof(k));
	}
	cr_assert_eq(found, COLL_KEYS + 1);
	for (int i = 1; i <= COLL_KEYS; i++)
		cr_assert_neq(fkv__hash(keys[i], strlen(keys[i])), h0,
			      "same tag and bucket, different hashes");

	char val[48];
	for (int i = 0; i < COLL_KEYS; i++) {
		snprintf(val, sizeof(val), "value-of-%.23s", keys[i]);
		cr_assert_eq(fkv_upsert(s, keys[i], strlen(keys[i]), val,
					strlen(val), 0),
			     FKV_OK);
	}
	for (int i = 0; i < COLL_KEYS; i++) {
		snprintf(val, sizeof(val), "value-of-%.23s", keys[i]);
		cr_assert(reads_as(s, keys[i], strlen(keys[i]), val), "key %s",
			  keys[i]);
	}
	const char *absent = keys[COLL_KEYS];
	cr_assert_eq(
		fkv_read(s, absent, strlen(absent), got_cb, &(struct got){0}),
		FKV_NOT_FOUND);

	/* They all share one entry: one was created, the bucket holds one. */
	fkv_stats stats;
	fkv_store_stats(st, &stats);
	cr_assert_eq(stats.index_entries, 1);
	struct fkv__table *t = fkv__index_current(&st->index);
	struct fkv__bucket *b = &t->buckets[h0 & (BUCKETS - 1)];
	int used = 0;
	for (int i = 0; i < FKV__BUCKET_ENTRIES; i++)
		used += atomic_load(&b->entries[i]) != 0;
	cr_assert_eq(used, 1);
	cr_assert_eq(atomic_load(&b->overflow), 0);

	/* Updates (growing the value: a new record) and deletes of keys deep
	 * in the chain touch only their own key. */
	cr_assert_eq(fkv_upsert(s, keys[0], strlen(keys[0]),
				"a much longer new value for key zero", 36, 0),
		     FKV_OK);
	cr_assert_eq(fkv_delete(s, keys[3], strlen(keys[3])), FKV_OK);
	cr_assert_eq(fkv_delete(s, absent, strlen(absent)), FKV_NOT_FOUND);
	for (int i = 0; i < COLL_KEYS; i++) {
		if (i == 3) {
			cr_assert_eq(fkv_read(s, keys[i], strlen(keys[i]),
					      got_cb, &(struct got){0}),
				     FKV_NOT_FOUND);
			continue;
		}
		if (i == 0) {
			cr_assert(reads_as(
				s, keys[0], strlen(keys[0]),
				"a much longer new value for key zero"));
			continue;
		}
		snprintf(val, sizeof(val), "value-of-%.23s", keys[i]);
		cr_assert(reads_as(s, keys[i], strlen(keys[i]), val),
			  "key %s after updates", keys[i]);
	}
	/* The same entry survives a growth: split by the full hash. */
	cr_assert_eq(fkv_grow_index(s, true), FKV_OK);
	cr_assert(reads_as(s, keys[0], strlen(keys[0]),
			   "a much longer new value for key zero"));
	for (int i = 1; i < COLL_KEYS; i++) {
		if (i == 3)
			continue;
		snprintf(val, sizeof(val), "value-of-%.23s", keys[i]);
		cr_assert(reads_as(s, keys[i], strlen(keys[i]), val),
			  "key %s after growth", keys[i]);
	}
	cr_assert_eq(
		fkv_read(s, keys[3], strlen(keys[3]), got_cb, &(struct got){0}),
		FKV_NOT_FOUND);
	fkv_session_stop(s);
	fkv_store_close(st);
}

static int key_of(char *buf, size_t cap, int t, int i)
{
	return snprintf(buf, cap, "key:%d:%d", t, i);
}

static int val_of(char *buf, size_t cap, int t, int i)
{
	return snprintf(buf, cap, "val:%d:%d", i, t);
}

static void insert_range(fkv_session *s, int t, int from, int to)
{
	char k[32], v[32];
	for (int i = from; i < to; i++) {
		int kn = key_of(k, sizeof(k), t, i);
		int vn = val_of(v, sizeof(v), t, i);
		cr_assert_eq(fkv_upsert(s, k, (uint32_t)kn, v, (uint32_t)vn, 0),
			     FKV_OK, "key %s", k);
	}
}

/* Returns the number of keys in [from, to) that do not read back. */
static int count_missing(fkv_session *s, int t, int from, int to)
{
	char k[32], v[32];
	int bad = 0;
	for (int i = from; i < to; i++) {
		int kn = key_of(k, sizeof(k), t, i);
		val_of(v, sizeof(v), t, i);
		if (!reads_as(s, k, (uint32_t)kn, v))
			bad++;
	}
	return bad;
}

/* 50k keys in 256 buckets: chains of ~28 overflow buckets to split. */
#define GROW_KEYS 50000
#define GROW_BUCKETS 256

Test(index, grow_keeps_every_key)
{
	fkv_store *st = open_store(GROW_BUCKETS, UINT64_C(8) << 20, 16);
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	insert_range(s, 0, 0, GROW_KEYS);
	fkv_stats stats;
	fkv_store_stats(st, &stats);
	cr_assert_eq(stats.index_buckets, GROW_BUCKETS);
	cr_assert_eq(stats.index_grows, 0);
	cr_assert_gt(stats.index_overflow_buckets, GROW_BUCKETS * 20);
	cr_assert_eq(count_missing(s, 0, 0, GROW_KEYS), 0);

	uint64_t buckets = GROW_BUCKETS;
	for (int g = 1; g <= 3; g++) {
		cr_assert_eq(fkv_grow_index(s, true), FKV_OK, "grow %d", g);
		buckets *= 2;
		fkv_store_stats(st, &stats);
		cr_assert_eq(stats.index_buckets, buckets);
		cr_assert_eq(stats.index_grows, (uint64_t)g);
		cr_assert_eq(fkv__index_current(&st->index)->size, buckets);
		cr_assert_eq(count_missing(s, 0, 0, GROW_KEYS), 0,
			     "after grow %d", g);
	}
	/* The grown index takes new keys and updates. */
	insert_range(s, 1, 0, 1000);
	cr_assert_eq(count_missing(s, 1, 0, 1000), 0);
	cr_assert_eq(count_missing(s, 0, 0, GROW_KEYS), 0);
	cr_assert_eq(fkv_read(s, "key:9:9", 7, got_cb, &(struct got){0}),
		     FKV_NOT_FOUND);
	fkv_session_stop(s);
	fkv_store_close(st);
}

/* fkv_grow_index(wait) has returned: the growth is done, so another one
 * may start at once. */
Test(index, grow_twice_back_to_back)
{
	fkv_store *st = open_store(64, UINT64_C(4) << 20, 16);
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	insert_range(s, 0, 0, 2000);
	cr_assert_eq(fkv_grow_index(s, true), FKV_OK);
	cr_assert_eq(fkv_grow_index(s, true), FKV_OK,
		     "a second growth right after a finished one");
	fkv_stats stats;
	fkv_store_stats(st, &stats);
	cr_assert_eq(stats.index_grows, 2);
	cr_assert_eq(stats.index_buckets, 256);
	cr_assert_eq(count_missing(s, 0, 0, 2000), 0);
	fkv_session_stop(s);
	fkv_store_close(st);
}

Test(index, grow_while_growing_is_aborted)
{
	fkv_store *st = open_store(64, UINT64_C(4) << 20, 16);
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	insert_range(s, 0, 0, 3000);
	cr_assert_eq(fkv_grow_index(s, false), FKV_OK);
	cr_assert_eq(fkv_grow_index(s, false), FKV_ABORTED);
	cr_assert_eq(fkv_grow_index(s, true), FKV_ABORTED);
	fkv_stats stats;
	fkv_store_stats(st, &stats);
	cr_assert_eq(stats.index_grows, 0, "nothing is split before refresh");

	/* Refreshes finish it (prepare, then split), reads in between. */
	int refreshes = 0;
	while (stats.index_grows == 0 && refreshes < 1000) {
		fkv_refresh(s);
		refreshes++;
		fkv_store_stats(st, &stats);
	}
	cr_assert_eq(stats.index_grows, 1);
	cr_assert_eq(stats.index_buckets, 128);
	cr_assert_eq(count_missing(s, 0, 0, 3000), 0);

	/* Once the old table is gone a new growth may start. */
	int rc = FKV_ABORTED;
	for (int i = 0; i < 100 && rc == FKV_ABORTED; i++) {
		fkv_refresh(s);
		rc = fkv_grow_index(s, true);
	}
	cr_assert_eq(rc, FKV_OK);
	fkv_store_stats(st, &stats);
	cr_assert_eq(stats.index_grows, 2);
	cr_assert_eq(stats.index_buckets, 256);
	cr_assert_eq(count_missing(s, 0, 0, 3000), 0);
	fkv_session_stop(s);
	fkv_store_close(st);
}

/* With auto-grow on, refreshes double the index once overflow buckets
 * pass a quarter of the table. */
Test(index, auto_grow_when_overflow_piles_up)
{
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = 64;
	cfg.log_memory_size = UINT64_C(4) << 20;
	cfg.page_size_bits = 16;
	cfg.max_sessions = 4;
	cfg.huge_pages = false;
	cfg.index_auto_grow = true;
	fkv_store *st = NULL;
	cr_assert_eq(fkv_store_open(&cfg, &st), FKV_OK);
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	insert_range(s, 0, 0, 20000);
	for (int i = 0; i < 100; i++)
		fkv_refresh(s);
	fkv_stats stats;
	fkv_store_stats(st, &stats);
	cr_assert_geq(stats.index_grows, 1);
	cr_assert_eq(stats.index_buckets, UINT64_C(64) << stats.index_grows);
	cr_assert_leq(stats.index_overflow_buckets,
		      stats.index_buckets / 4 + 64,
		      "%lu overflow buckets for %lu buckets",
		      (unsigned long)stats.index_overflow_buckets,
		      (unsigned long)stats.index_buckets);
	cr_assert_eq(count_missing(s, 0, 0, 20000), 0);
	fkv_session_stop(s);
	fkv_store_close(st);
}

/* ---- Growth under concurrent inserts --------------------------------- */

#define CG_THREADS 4

struct cg_ctx {
	fkv_store *st;
	int keys_per_thread;
	int grows;
	_Atomic long inserted;
	_Atomic int inserters_done;
	_Atomic int errors;	 /* failed upserts or session starts */
	_Atomic int lost_reads;	 /* earlier keys not read back mid-run */
	_Atomic int grow_errors; /* grow returned something unexpected */
	_Atomic int grows_done;
};

struct cg_thread {
	struct cg_ctx *c;
	int id;
};

static void *cg_inserter(void *arg)
{
	struct cg_thread *t = arg;
	struct cg_ctx *c = t->c;
	fkv_session *s;
	if (fkv_session_start(c->st, &s) != FKV_OK) {
		atomic_fetch_add(&c->errors, 1);
		return NULL;
	}
	char k[32], v[32];
	uint64_t rnd = 88172645463325252ULL + (uint64_t)t->id;
	for (int i = 0; i < c->keys_per_thread; i++) {
		int kn = key_of(k, sizeof(k), t->id, i);
		int vn = val_of(v, sizeof(v), t->id, i);
		if (fkv_upsert(s, k, (uint32_t)kn, v, (uint32_t)vn, 0) !=
		    FKV_OK)
			atomic_fetch_add(&c->errors, 1);
		if (i % 100 == 99)
			atomic_fetch_add(&c->inserted, 100);
		if (i % 16 == 0) {
			/* Read back an earlier key of ours. */
			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			int j = (int)(rnd % (uint64_t)(i + 1));
			kn = key_of(k, sizeof(k), t->id, j);
			val_of(v, sizeof(v), t->id, j);
			if (!reads_as(s, k, (uint32_t)kn, v))
				atomic_fetch_add(&c->lost_reads, 1);
		}
	}
	fkv_session_stop(s);
	atomic_fetch_add(&c->inserters_done, 1);
	return NULL;
}

static void *cg_grower(void *arg)
{
	struct cg_ctx *c = arg;
	fkv_session *s;
	if (fkv_session_start(c->st, &s) != FKV_OK) {
		atomic_fetch_add(&c->errors, 1);
		return NULL;
	}
	long start = (long)c->keys_per_thread * CG_THREADS / 10;
	while (atomic_load(&c->inserted) < start &&
	       atomic_load(&c->inserters_done) < CG_THREADS) {
		fkv_refresh(s);
		sched_yield();
	}
	int tries = 0;
	while (atomic_load(&c->grows_done) < c->grows && tries < 1000000) {
		int rc = fkv_grow_index(s, true);
		if (rc == FKV_OK) {
			atomic_fetch_add(&c->grows_done, 1);
		} else if (rc != FKV_ABORTED) {
			atomic_fetch_add(&c->grow_errors, 1);
			break;
		}
		/* The previous growth's old table goes after a refresh. */
		fkv_refresh(s);
		sched_yield();
		tries++;
	}
	fkv_session_stop(s);
	return NULL;
}

static void concurrent_growth(uint64_t buckets, int keys_per_thread, int grows)
{
	struct cg_ctx c = {.keys_per_thread = keys_per_thread, .grows = grows};
	c.st = open_store(buckets, UINT64_C(16) << 20, 16);
	struct cg_thread th[CG_THREADS];
	pthread_t pt[CG_THREADS], grower;
	for (int i = 0; i < CG_THREADS; i++) {
		th[i] = (struct cg_thread){.c = &c, .id = i};
		cr_assert_eq(pthread_create(&pt[i], NULL, cg_inserter, &th[i]),
			     0);
	}
	cr_assert_eq(pthread_create(&grower, NULL, cg_grower, &c), 0);
	for (int i = 0; i < CG_THREADS; i++)
		pthread_join(pt[i], NULL);
	pthread_join(grower, NULL);

	cr_assert_eq(atomic_load(&c.errors), 0);
	cr_assert_eq(atomic_load(&c.grow_errors), 0);
	cr_assert_eq(atomic_load(&c.grows_done), grows);
	cr_assert_eq(atomic_load(&c.lost_reads), 0,
		     "%d reads during growth missed",
		     atomic_load(&c.lost_reads));

	fkv_stats stats;
	fkv_store_stats(c.st, &stats);
	cr_assert_eq(stats.index_grows, (uint64_t)grows);
	cr_assert_eq(stats.index_buckets, buckets << grows);
	cr_assert_eq(stats.upserts, (uint64_t)CG_THREADS * keys_per_thread);

	fkv_session *s;
	cr_assert_eq(fkv_session_start(c.st, &s), FKV_OK);
	for (int t = 0; t < CG_THREADS; t++)
		cr_assert_eq(count_missing(s, t, 0, keys_per_thread), 0,
			     "thread %d's keys", t);
	fkv_session_stop(s);
	fkv_store_close(c.st);
}

Test(index, grow_during_concurrent_inserts)
{
	concurrent_growth(256, 20000, 2);
}

/* A table of several split chunks, split by many threads at once. */
Test(index, grow_many_chunks_during_concurrent_inserts)
{
	concurrent_growth(2 * FKV__SPLIT_CHUNK, 20000, 2);
}
