/*
 * test_scan.c - fkv_scan (every live key once, across index growth, past
 * dead keys, bounded work per call) and fkv_sweep (expired keys reclaimed
 * exactly once, in the mutable and read-only regions, entries shared with
 * live keys, deleted keys' entries dropped, and a sweeper racing writers
 * that revive the keys it is judging).
 *
 * Keys are "k<number>" so that a test can tell which key a callback saw.
 * Workers never call cr_assert (see test_concurrency.c): they count
 * failures in an atomic that the test checks after joining them.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "index.h"
#include "test_util.h"

static fkv_store *st;
static fkv_session *s;

static void open_store(uint32_t page_bits, uint64_t log_size, double mf,
		       uint64_t buckets, bool grow)
{
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = buckets;
	cfg.log_memory_size = log_size;
	cfg.page_size_bits = page_bits;
	cfg.mutable_fraction = mf;
	cfg.max_sessions = 16;
	cfg.huge_pages = false;
	cfg.index_auto_grow = grow;
	cr_assert_eq(fkv_store_open(&cfg, &st), FKV_OK);
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
}

static void teardown(void)
{
	tu_close(&s, &st);
}

static fkv_stats stats(void)
{
	return tu_stats(st);
}

static uint32_t key_of(char *buf, size_t cap, int i)
{
	return (uint32_t)snprintf(buf, cap, "k%d", i);
}

static int put(int i, int64_t expire_ms)
{
	char k[32];
	uint32_t n = key_of(k, sizeof(k), i);
	return fkv_upsert(s, k, n, k, n, expire_ms);
}

static int del(int i)
{
	char k[32];
	uint32_t n = key_of(k, sizeof(k), i);
	return fkv_delete(s, k, n);
}

static int get(int i)
{
	char k[32];
	struct tu_val v;
	uint32_t n = key_of(k, sizeof(k), i);
	memset(&v, 0, sizeof(v));
	int rc = fkv_read(s, k, n, tu_val_cb, &v);
	if (rc == FKV_OK && (v.len != n || memcmp(v.buf, k, n) != 0))
		return -100; /* a value nobody wrote */
	return rc;
}

/* Counts per key number what a callback saw. */
#define MAXK 20000
struct seen {
	int count[MAXK];
	int other; /* keys that are not "k<n>" with n < MAXK */
	uint64_t calls;
};

static void seen_cb(void *ctx, const uint8_t *key, uint32_t len,
		    int64_t expire_ms)
{
	struct seen *sn = ctx;
	(void)expire_ms;
	sn->calls++;
	char buf[32];
	if (len < 2 || len >= sizeof(buf) || key[0] != 'k') {
		sn->other++;
		return;
	}
	memcpy(buf, key + 1, len - 1);
	buf[len - 1] = '\0';
	int i = atoi(buf);
	if (i < 0 || i >= MAXK) {
		sn->other++;
		return;
	}
	sn->count[i]++;
}

static struct seen *seen_new(void)
{
	struct seen *sn = calloc(1, sizeof(*sn));
	cr_assert_not_null(sn);
	return sn;
}

/* A full scan, `per_call` buckets at a time.  Returns the calls made. */
static int scan_all(struct seen *sn, uint64_t per_call)
{
	uint64_t cur = 0;
	int calls = 0;
	do {
		cr_assert_eq(fkv_scan(s, &cur, per_call, seen_cb, sn), FKV_OK);
		calls++;
		cr_assert_lt(calls, 10000000, "the scan never ends");
	} while (cur != 0);
	return calls;
}

/* A full sweep pass.  Adds what it did to *total. */
static void sweep_all(struct seen *sn, fkv_sweep_result *total)
{
	uint64_t cur = 0;
	int calls = 0;
	memset(total, 0, sizeof(*total));
	do {
		fkv_sweep_result r;
		cr_assert_eq(fkv_sweep(s, &cur, 16, seen_cb, sn, &r), FKV_OK);
		total->expired += r.expired;
		total->entries_dropped += r.entries_dropped;
		cr_assert_lt(++calls, 10000000, "the sweep never ends");
	} while (cur != 0);
}

/* ---- fkv_scan ------------------------------------------------------ */

Test(scan, every_key_exactly_once, .fini = teardown)
{
	/* 64 buckets for 10000 keys: long chains, shared entries and
	 * overflow buckets; no growth, so exactly once. */
	open_store(16, UINT64_C(16) << 20, 0.9, 64, false);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(put(i, 0), FKV_OK);
	struct seen *sn = seen_new();
	int calls = scan_all(sn, 3);
	cr_assert_eq(calls, 22, "64 buckets, 3 a call");
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(sn->count[i], 1, "key %d seen %d times", i,
			     sn->count[i]);
	cr_assert_eq(sn->other, 0);
	free(sn);
}

Test(scan, huge_bucket_count_finishes_in_one_call, .fini = teardown)
{
	open_store(16, UINT64_C(16) << 20, 0.9, 256, false);
	for (int i = 0; i < 500; i++)
		cr_assert_eq(put(i, 0), FKV_OK);
	struct seen *sn = seen_new();
	uint64_t cur = 0;
	cr_assert_eq(fkv_scan(s, &cur, UINT64_MAX, seen_cb, sn), FKV_OK);
	cr_assert_eq(cur, 0);
	cr_assert_eq(sn->calls, 500);
	/* A cursor beyond the table is taken modulo its size. */
	cur = UINT64_MAX;
	cr_assert_eq(fkv_scan(s, &cur, 1, seen_cb, sn), FKV_OK);
	cr_assert_eq(cur, 0, "the last bucket in reverse-binary order");
	free(sn);
}

Test(scan, dead_keys_are_skipped, .fini = teardown)
{
	open_store(16, UINT64_C(16) << 20, 0.9, 128, false);
	int64_t now = tu_now_ms();
	for (int i = 0; i < 300; i++) {
		int64_t exp = i % 3 == 1   ? now - 1000
			      : i % 3 == 2 ? now + 3600000
					   : 0;
		cr_assert_eq(put(i, exp), FKV_OK);
	}
	for (int i = 0; i < 300; i += 6)
		cr_assert_eq(del(i), FKV_OK);
	struct seen *sn = seen_new();
	scan_all(sn, 7);
	for (int i = 0; i < 300; i++) {
		int want = (i % 3 == 1 || i % 6 == 0) ? 0 : 1;
		cr_assert_eq(sn->count[i], want, "key %d", i);
	}
	free(sn);
}

Test(scan, growth_between_calls_misses_no_key, .fini = teardown)
{
	open_store(16, UINT64_C(32) << 20, 0.9, 64, false);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(put(i, 0), FKV_OK);
	struct seen *sn = seen_new();
	uint64_t cur = 0;
	int calls = 0;
	do {
		cr_assert_eq(fkv_scan(s, &cur, 5, seen_cb, sn), FKV_OK);
		if (++calls == 4 || calls == 9)
			cr_assert_eq(fkv_grow_index(s, true), FKV_OK);
	} while (cur != 0);
	cr_assert_eq(stats().index_buckets, 256);
	for (int i = 0; i < 5000; i++)
		cr_assert_geq(sn->count[i], 1, "key %d missed", i);
	free(sn);
}

/* ---- fkv_sweep ------------------------------------------------------ */

Test(sweep, reclaims_expired_keys_once, .fini = teardown)
{
	open_store(16, UINT64_C(16) << 20, 0.9, 256, false);
	int64_t now = tu_now_ms();
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(put(i, i % 2 ? now - 1 : 0), FKV_OK);
	uint64_t entries = stats().index_entries;
	struct seen *sn = seen_new();
	fkv_sweep_result r;
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 500);
	cr_assert_eq(sn->calls, 500);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(sn->count[i], i % 2, "key %d", i);
	cr_assert_eq(stats().index_entries, entries - r.entries_dropped);
	cr_assert_gt(r.entries_dropped, 0);

	/* A second pass finds nothing more; live keys are all there. */
	struct seen *again = seen_new();
	sweep_all(again, &r);
	cr_assert_eq(r.expired, 0);
	cr_assert_eq(again->calls, 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(get(i), i % 2 ? FKV_NOT_FOUND : FKV_OK, "key %d",
			     i);
	/* Reclaimed keys can be written again. */
	for (int i = 1; i < 1000; i += 2)
		cr_assert_eq(put(i, 0), FKV_OK);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(get(i), FKV_OK, "key %d", i);
	struct seen *all = seen_new();
	scan_all(all, 10);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(all->count[i], 1, "key %d", i);
	free(sn);
	free(again);
	free(all);
}

Test(sweep, every_dead_key_leaves_the_index, .fini = teardown)
{
	open_store(16, UINT64_C(16) << 20, 0.9, 256, false);
	int64_t now = tu_now_ms();
	for (int i = 0; i < 2000; i++)
		cr_assert_eq(put(i, i < 1000 ? now - 1 : 0), FKV_OK);
	for (int i = 1000; i < 2000; i++)
		cr_assert_eq(del(i), FKV_OK);
	struct seen *sn = seen_new();
	fkv_sweep_result r;
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 1000, "deleted keys are not counted");
	cr_assert_eq(stats().index_entries, 0, "every entry dropped");
	struct seen *none = seen_new();
	scan_all(none, 1000);
	cr_assert_eq(none->calls, 0);
	free(sn);
	free(none);
}

Test(sweep, future_expiry_is_left_alone, .fini = teardown)
{
	open_store(16, UINT64_C(16) << 20, 0.9, 64, false);
	int64_t now = tu_now_ms();
	for (int i = 0; i < 200; i++)
		cr_assert_eq(put(i, now + 3600000), FKV_OK);
	uint64_t entries = stats().index_entries;
	struct seen *sn = seen_new();
	fkv_sweep_result r;
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 0);
	cr_assert_eq(r.entries_dropped, 0);
	cr_assert_eq(stats().index_entries, entries);
	for (int i = 0; i < 200; i++)
		cr_assert_eq(get(i), FKV_OK);
	free(sn);
}

/* Writes 1000-byte values under fresh keys until read_only passes addr. */
static void fill_past(uint64_t addr)
{
	static uint8_t big[1000];
	memset(big, 'f', sizeof(big));
	for (int i = 0; stats().log_read_only < addr; i++) {
		cr_assert_lt(i, 100000, "the log never moved");
		char key[32];
		int n = snprintf(key, sizeof(key), "fill-%d", i);
		cr_assert_eq(
			fkv_upsert(s, key, (uint32_t)n, big, sizeof(big), 0),
			FKV_OK);
	}
	fkv_refresh(s);
	cr_assert_geq(stats().log_safe_read_only, addr);
}

Test(sweep, read_only_records_are_reclaimed, .fini = teardown)
{
	open_store(12, UINT64_C(4) << 20, 0.25, 1024, false);
	int64_t now = tu_now_ms();
	for (int i = 0; i < 100; i++)
		cr_assert_eq(put(i, i % 2 ? now - 1 : 0), FKV_OK);
	fill_past(stats().log_tail);
	fkv_stats a = stats();
	struct seen *sn = seen_new();
	fkv_sweep_result r;
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 50);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(sn->count[i], i % 2, "key %d", i);
		cr_assert_eq(get(i), i % 2 ? FKV_NOT_FOUND : FKV_OK);
	}
	/* Nothing was written to the log to do it. */
	cr_assert_eq(stats().log_tail, a.log_tail);
	free(sn);
}

/* Two keys that share an entry: the same bucket and tag. */
static void sharing_pair(uint64_t buckets, int *x, int *y)
{
	static int first_with[1 << FKV__ENTRY_TAG_BITS];
	for (size_t i = 0; i < sizeof(first_with) / sizeof(first_with[0]); i++)
		first_with[i] = -1;
	for (int i = 0; i < 1000000; i++) {
		char k[32];
		uint32_t n = key_of(k, sizeof(k), i);
		uint64_t h = fkv__hash(k, n);
		if ((h & (buckets - 1)) != 0)
			continue; /* only bucket 0's keys */
		uint16_t tag = fkv__hash_tag(h);
		if (first_with[tag] >= 0) {
			*x = first_with[tag];
			*y = i;
			return;
		}
		first_with[tag] = i;
	}
	cr_assert(false, "no two keys share an entry");
	*x = *y = -1;
}

Test(sweep, entry_shared_with_a_live_key, .fini = teardown)
{
	open_store(12, UINT64_C(4) << 20, 0.25, 64, false);
	int x = -1, y = -1;
	sharing_pair(64, &x, &y);
	cr_assert_lt(y, MAXK);
	int64_t now = tu_now_ms();

	/* Mutable: the expired key is marked deleted, counted once. */
	cr_assert_eq(put(x, 0), FKV_OK);
	cr_assert_eq(put(y, now - 1), FKV_OK);
	uint64_t entries = stats().index_entries;
	struct seen *sn = seen_new();
	fkv_sweep_result r;
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 1);
	cr_assert_eq(sn->count[y], 1);
	cr_assert_eq(stats().index_entries, entries, "x keeps the entry");
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 0, "counted once");
	cr_assert_eq(get(x), FKV_OK);
	cr_assert_eq(get(y), FKV_NOT_FOUND);

	/* Read-only: the expired key waits for its entry to go. */
	cr_assert_eq(put(y, now - 1), FKV_OK);
	fill_past(stats().log_tail);
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 0, "nothing to do without writing");
	cr_assert_eq(get(x), FKV_OK);
	cr_assert_eq(del(x), FKV_OK);
	memset(sn, 0, sizeof(*sn));
	sweep_all(sn, &r);
	cr_assert_eq(r.expired, 1);
	cr_assert_eq(sn->count[y], 1);
	cr_assert_eq(sn->count[x], 0, "deleted, not expired");
	cr_assert_eq(get(x), FKV_NOT_FOUND);
	cr_assert_eq(get(y), FKV_NOT_FOUND);
	free(sn);
}

Test(sweep, growth_keeps_live_keys, .fini = teardown)
{
	open_store(16, UINT64_C(32) << 20, 0.9, 64, true);
	int64_t now = tu_now_ms();
	for (int i = 0; i < 6000; i++)
		cr_assert_eq(put(i, i % 3 == 0 ? now - 1 : 0), FKV_OK);
	/* Sweep part of the way, grow, sweep on. */
	uint64_t cur = 0;
	struct seen *sn = seen_new();
	uint64_t expired = 0;
	int calls = 0;
	do {
		fkv_sweep_result r;
		cr_assert_eq(fkv_sweep(s, &cur, 3, seen_cb, sn, &r), FKV_OK);
		expired += r.expired;
		if (++calls == 5)
			(void)fkv_grow_index(s, true);
	} while (cur != 0);
	for (int i = 0; i < 6000; i++)
		cr_assert_eq(get(i), i % 3 == 0 ? FKV_NOT_FOUND : FKV_OK,
			     "key %d", i);
	for (int i = 0; i < 6000; i++)
		cr_assert_leq(sn->count[i], 1, "key %d reported twice", i);
	/* A full pass after the growth gets the rest. */
	fkv_sweep_result r;
	sweep_all(sn, &r);
	cr_assert_eq(expired + r.expired, 2000);
	free(sn);
}

/* ---- A sweeper racing writers ---------------------------------------
 *
 * Each writer owns keys w*PER..w*PER+PER-1 and loops over them: it sets a
 * key already expired, or live (with or without a future expiry), or
 * deletes it, then reads it back and checks that what it sees is what it
 * last did (a live key must never disappear, a dead one never come back).
 * Meanwhile a sweeper thread sweeps the whole index over and over.  The
 * small mutable region and the filler push records through every region,
 * and the small index grows under the load. */

#define WRITERS 3
#define PER 100
#define ROUNDS 800

struct race {
	fkv_store *st;
	int id;
	_Atomic int *stop;
	_Atomic uint64_t *bad;
	_Atomic uint64_t *swept;
};

static void *writer_main(void *p)
{
	struct race *w = p;
	fkv_session *ws;
	if (fkv_session_start(w->st, &ws) != FKV_OK) {
		atomic_fetch_add(w->bad, 1);
		return NULL;
	}
	uint8_t filler[200];
	memset(filler, 'x', sizeof(filler));
	unsigned seed = (unsigned)w->id * 7919u + 1;
	for (int round = 0; round < ROUNDS; round++) {
		for (int j = 0; j < PER; j++) {
			int i = w->id * PER + j;
			char k[32];
			uint32_t n = key_of(k, sizeof(k), i);
			int op = (int)(rand_r(&seed) % 4);
			int64_t now = tu_now_ms();
			bool live;
			int rc;
			if (op == 0) {
				/* Far enough back for the session's clock,
				 * which is set at refreshes only. */
				rc = fkv_upsert(ws, k, n, k, n, now - 60000);
				live = false;
			} else if (op == 1) {
				rc = fkv_upsert(ws, k, n, k, n, 0);
				live = true;
			} else if (op == 2) {
				rc = fkv_upsert(ws, k, n, k, n, now + 3600000);
				live = true;
			} else {
				rc = fkv_delete(ws, k, n);
				if (rc == FKV_NOT_FOUND)
					rc = FKV_OK;
				live = false;
			}
			if (rc != FKV_OK) {
				atomic_fetch_add(w->bad, 1);
				continue;
			}
			struct tu_val v;
			memset(&v, 0, sizeof(v));
			rc = fkv_read(ws, k, n, tu_val_cb, &v);
			if (live != (rc == FKV_OK) ||
			    (rc == FKV_OK &&
			     (v.len != n || memcmp(v.buf, k, n) != 0)))
				atomic_fetch_add(w->bad, 1);
			if (j % 8 == 0) {
				char fk[48];
				int fn = snprintf(fk, sizeof(fk),
						  "fill-%d-%d-%d", w->id, round,
						  j);
				(void)fkv_upsert(ws, fk, (uint32_t)fn, filler,
						 sizeof(filler), 0);
			}
		}
	}
	fkv_session_stop(ws);
	return NULL;
}

static void *sweeper_main(void *p)
{
	struct race *w = p;
	fkv_session *ws;
	if (fkv_session_start(w->st, &ws) != FKV_OK) {
		atomic_fetch_add(w->bad, 1);
		return NULL;
	}
	uint64_t cur = 0;
	while (!atomic_load(w->stop)) {
		fkv_sweep_result r;
		(void)fkv_sweep(ws, &cur, 8, NULL, NULL, &r);
		atomic_fetch_add(w->swept, r.expired);
	}
	fkv_session_stop(ws);
	return NULL;
}

static void race(uint32_t page_bits, uint64_t log_size, double mf,
		 uint64_t buckets)
{
	open_store(page_bits, log_size, mf, buckets, true);
	/* The test's own session must not hold the others back while it
	 * waits for them. */
	fkv_session_suspend(s);
	_Atomic int stop = 0;
	_Atomic uint64_t bad = 0, swept = 0;
	struct race rs[WRITERS + 2];
	pthread_t th[WRITERS + 2];
	for (int i = 0; i < WRITERS + 2; i++) {
		rs[i] = (struct race){.st = st,
				      .id = i,
				      .stop = &stop,
				      .bad = &bad,
				      .swept = &swept};
		void *(*fn)(void *) = i < WRITERS ? writer_main : sweeper_main;
		cr_assert_eq(pthread_create(&th[i], NULL, fn, &rs[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop, 1);
	for (int i = WRITERS; i < WRITERS + 2; i++)
		pthread_join(th[i], NULL);
	fkv_session_resume(s);
	cr_assert_eq(atomic_load(&bad), 0, "%llu wrong results",
		     (unsigned long long)atomic_load(&bad));
	cr_assert_gt(atomic_load(&swept), 0, "the sweeper never reclaimed");
}

/* Most records mutable: keys are revived in place while being judged. */
Test(sweep, racing_writers_in_place, .fini = teardown)
{
	race(16, UINT64_C(64) << 20, 0.9, 64);
}

/* 4 KiB pages, 1% mutable: records move through every region. */
Test(sweep, racing_writers_copying, .fini = teardown)
{
	race(12, UINT64_C(64) << 20, 0.01, 64);
}
