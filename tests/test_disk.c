/*
 * test_disk.c - the hybrid log below memory: store mode (pages flushed to a
 * device and read back, synchronously and through pending operations) and
 * cache mode (pages dropped).  Tiny pages and tiny memory make records
 * leave memory within a few thousand operations.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "fkv.h"
#include "test_util.h"

static fkv_store *st;
static fkv_session *sess;
static char dir[64];
/* Every disk read asynchronous (as with a cold page cache): the pending
 * path runs even where the kernel has the segment files cached. */
static bool async_reads;

static void teardown(void)
{
	tu_close(&sess, &st);
	async_reads = false;
	if (dir[0] != '\0') {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		cr_expect_eq(system(cmd), 0);
		dir[0] = '\0';
	}
}

enum { DEV_NULL, DEV_FILE };

/* 4 KiB pages, 64 KiB of log memory (16 frames), 256 index buckets. */
static void open_store(int dev_kind, bool evict, bool copy_reads,
		       uint64_t read_cache)
{
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = 256;
	cfg.log_memory_size = 64 << 10;
	cfg.page_size_bits = 12;
	cfg.mutable_fraction = 0.5;
	cfg.max_sessions = 16;
	cfg.huge_pages = false;
	cfg.evict = evict;
	cfg.copy_reads_to_tail = copy_reads;
	cfg.read_cache_size = read_cache;
	cfg.cached_reads_inline = !async_reads;
	if (dev_kind == DEV_NULL) {
		cr_assert_eq(dev_null_open(1 << 20, &cfg.device), 0);
	} else if (dev_kind == DEV_FILE) {
		snprintf(dir, sizeof(dir), "/tmp/fkv-disk-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
		cr_assert_eq(dev_file_open(dir, "hlog", 1 << 20, &cfg.device),
			     0);
	}
	cr_assert_eq(fkv_store_open(&cfg, &st), FKV_OK);
	cr_assert_eq(fkv_session_start(st, &sess), FKV_OK);
}

static void put(int i, int version)
{
	char k[32], v[128];
	tu_key_of(k, sizeof(k), i);
	tu_value_of(v, sizeof(v), i, version);
	cr_assert_eq(tu_put(sess, k, v), FKV_OK, "put %d", i);
}

static void expect_value(int i, int version)
{
	char k[32], v[128];
	struct tu_val got;
	tu_key_of(k, sizeof(k), i);
	tu_value_of(v, sizeof(v), i, version);
	int rc = tu_get(sess, k, &got);
	cr_assert_eq(rc, FKV_OK, "get %d: %s", i, fkv_strerror(rc));
	cr_assert(tu_val_is(&got, v), "key %d: wrong value %.*s", i,
		  (int)got.len, (const char *)got.buf);
}

static void expect_missing(int i)
{
	char k[32];
	struct tu_val got;
	tu_key_of(k, sizeof(k), i);
	cr_assert_eq(tu_get(sess, k, &got), FKV_NOT_FOUND, "key %d", i);
}

TestSuite(disk, .fini = teardown, .timeout = 60);

static void evicted_records_read_back(int dev_kind)
{
	open_store(dev_kind, false, false, 0);
	const int n = 5000; /* about 500 KiB of records: 8x memory */
	for (int i = 0; i < n; i++)
		put(i, 0);
	fkv_stats a = tu_stats(st);
	cr_assert_gt(a.log_head, UINT64_C(64) << 10, "the head moved");
	cr_assert_geq(a.log_flushed_until, a.log_head);
	for (int i = 0; i < n; i++)
		expect_value(i, 0);
	fkv_stats b = tu_stats(st);
	cr_assert_gt(b.disk_reads, 0);
	cr_assert_eq(b.pending_reads, 0);
	/* Splits copy entries of on-disk chains into both halves: that
	 * must not set off growth after growth. */
	cr_assert_leq(b.index_buckets, UINT64_C(8192), "index grew to %llu",
		      (unsigned long long)b.index_buckets);
}

Test(disk, evicted_records_read_back_null_device)
{
	evicted_records_read_back(DEV_NULL);
}

Test(disk, evicted_records_read_back_file_device)
{
	evicted_records_read_back(DEV_FILE);
}

Test(disk, newest_version_wins_and_tombstones_hide_older_values)
{
	open_store(DEV_FILE, false, false, 0);
	const int n = 3000;
	for (int i = 0; i < n; i++)
		put(i, 0);
	/* Overwrite every third key, delete every fifth, while the older
	 * versions sit on disk; then push those to disk too. */
	for (int i = 0; i < n; i += 3)
		put(i, 1);
	for (int i = 0; i < n; i += 5) {
		char k[32];
		tu_key_of(k, sizeof(k), i);
		cr_assert_eq(fkv_delete(sess, k, (uint32_t)strlen(k)), FKV_OK,
			     "delete %d", i);
	}
	for (int i = n; i < 2 * n; i++)
		put(i, 0);
	for (int i = 0; i < n; i++) {
		if (i % 5 == 0)
			expect_missing(i);
		else
			expect_value(i, i % 3 == 0 ? 1 : 0);
	}
	/* Deleting an on-disk key reports it existed; again, that it did
	 * not. */
	char k[32];
	tu_key_of(k, sizeof(k), 1);
	cr_assert_eq(fkv_delete(sess, k, (uint32_t)strlen(k)), FKV_OK);
	cr_assert_eq(fkv_delete(sess, k, (uint32_t)strlen(k)), FKV_NOT_FOUND);
	expect_missing(2 * n + 1); /* never written */
}

Test(disk, chains_cross_from_memory_to_disk)
{
	/* Two buckets' worth of index for many keys: long chains whose
	 * newest records are in memory and older ones on disk. */
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = 2;
	cfg.index_auto_grow = false;
	cfg.log_memory_size = 64 << 10;
	cfg.page_size_bits = 12;
	cfg.mutable_fraction = 0.5;
	cfg.max_sessions = 4;
	cfg.huge_pages = false;
	cr_assert_eq(dev_null_open(1 << 20, &cfg.device), 0);
	cr_assert_eq(fkv_store_open(&cfg, &st), FKV_OK);
	cr_assert_eq(fkv_session_start(st, &sess), FKV_OK);
	const int n = 1500;
	for (int i = 0; i < n; i++)
		put(i, 0);
	for (int i = n - 20; i < n; i++)
		put(i, 1); /* newest, in memory */
	for (int i = 0; i < n; i++)
		expect_value(i, i >= n - 20 ? 1 : 0);
}

Test(disk, rmw_of_on_disk_counters_is_exact)
{
	open_store(DEV_NULL, false, false, 0);
	const int keys = 400, rounds = 5;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < keys; i++) {
			char k[32];
			tu_key_of(k, sizeof(k), i);
			cr_assert_eq(
				tu_incr(sess, k, (uint32_t)strlen(k), i + 1),
				FKV_OK);
		}
		/* Filler pushes the counters out of memory between rounds. */
		for (int i = 0; i < 1000; i++)
			put(100000 + r * 1000 + i, r);
	}
	for (int i = 0; i < keys; i++) {
		char k[32];
		tu_key_of(k, sizeof(k), i);
		uint64_t v = 0;
		cr_assert_eq(tu_counter_read(sess, k, (uint32_t)strlen(k), &v),
			     FKV_OK);
		cr_assert_eq(v, (uint64_t)(i + 1) * rounds, "counter %d", i);
	}
}

/* ---- Pending operations -------------------------------------------------- */

struct woken {
	int count;
	void *last;
};

static void on_wake(void *ctx, void *token)
{
	struct woken *w = ctx;
	w->count++;
	w->last = token;
}

/* Waits (poll on the session's eventfd) until a completion is delivered. */
static void wait_wake(struct woken *w)
{
	int fd = fkv_session_event_fd(sess);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 1000 && w->count == 0; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		fkv_session_suspend(sess);
		(void)poll(&p, 1, 10);
		fkv_session_resume(sess);
		fkv_complete_pending(sess, on_wake, w);
	}
	cr_assert_gt(w->count, 0, "no completion delivered");
}

Test(disk, pending_read_completes_through_the_session)
{
	async_reads = true;
	open_store(DEV_FILE, false, false, 0);
	for (int i = 0; i < 3000; i++)
		put(i, 0);
	char k[32], v[128];
	tu_key_of(k, sizeof(k), 7);
	tu_value_of(v, sizeof(v), 7, 0);
	int token;
	fkv_session_set_waiter(sess, &token);
	struct tu_val got;
	cr_assert_eq(tu_get(sess, k, &got), FKV_PENDING);
	cr_assert_eq(got.calls, 0);
	cr_assert(fkv_session_went_pending(sess));
	struct woken w = {0};
	wait_wake(&w);
	cr_assert_eq(w.count, 1);
	cr_assert_eq(w.last, &token);
	cr_assert_eq(fkv_session_pending(sess), 0);
	/* The retry finds the record in the read cache. */
	cr_assert_eq(tu_get(sess, k, &got), FKV_OK);
	cr_assert(tu_val_is(&got, v));
	fkv_stats s = tu_stats(st);
	cr_assert_geq(s.read_cache_hits, 1);

	/* A pending RMW changes nothing until it is run again. */
	tu_key_of(k, sizeof(k), 8);
	fkv_session_set_waiter(sess, &token);
	cr_assert_eq(tu_incr(sess, k, (uint32_t)strlen(k), 1), FKV_PENDING);
	w.count = 0;
	wait_wake(&w);
	fkv_session_set_waiter(sess, NULL);
	expect_value(8, 0); /* not a counter: the RMW has not run */
}

Test(disk, cached_reads_complete_inline_without_going_pending)
{
	open_store(DEV_NULL, false, false, 0); /* memory: always "cached" */
	for (int i = 0; i < 3000; i++)
		put(i, 0);
	int token;
	fkv_session_set_waiter(sess, &token);
	char k[32], v[128];
	tu_key_of(k, sizeof(k), 5);
	tu_value_of(v, sizeof(v), 5, 0);
	struct tu_val got;
	uint64_t before = tu_stats(st).disk_reads;
	cr_assert_eq(tu_get(sess, k, &got), FKV_OK);
	cr_assert(tu_val_is(&got, v));
	cr_assert(!fkv_session_went_pending(sess));
	cr_assert_gt(tu_stats(st).disk_reads, before);
	cr_assert_eq(fkv_session_pending(sess), 0);
	fkv_session_set_waiter(sess, NULL);
}

Test(disk, prefetch_starts_the_read)
{
	async_reads = true;
	open_store(DEV_NULL, false, false, 0);
	for (int i = 0; i < 3000; i++)
		put(i, 0);
	char k[32];
	tu_key_of(k, sizeof(k), 11);
	uint64_t before = tu_stats(st).disk_reads;
	fkv_prefetch(sess, k, (uint32_t)strlen(k), 0);
	fkv_prefetch(sess, k, (uint32_t)strlen(k), 1);
	cr_assert_eq(tu_stats(st).disk_reads, before, "stage 1: memory only");
	fkv_prefetch(sess, k, (uint32_t)strlen(k), 2);
	cr_assert_gt(tu_stats(st).disk_reads, before);
	expect_value(11, 0);
	cr_assert_geq(tu_stats(st).read_cache_hits, 1);
}

/* ---- Cache mode ------------------------------------------------------------ */

Test(disk, cache_mode_drops_cold_keys_and_keeps_hot_ones)
{
	open_store(-1, true, true, 0);
	const int n = 6000, hot = 20;
	for (int h = 0; h < hot; h++)
		put(h, 0);
	for (int i = hot; i < n; i++) {
		put(i, 0);
		/* Reading the hot keys keeps copying them to the tail. */
		if (i % 50 == 0)
			for (int h = 0; h < hot; h++)
				expect_value(h, 0);
	}
	for (int h = 0; h < hot; h++)
		expect_value(h, 0);
	int missing = 0;
	for (int i = hot; i < n / 2; i++) {
		char k[32];
		struct tu_val got;
		tu_key_of(k, sizeof(k), i);
		missing += tu_get(sess, k, &got) == FKV_NOT_FOUND;
	}
	cr_assert_gt(missing, n / 4, "cold keys were evicted");
	fkv_stats s = tu_stats(st);
	cr_assert_gt(s.evicted_records, (uint64_t)n / 4);
	cr_assert_gt(s.copies_to_tail, 0);
	cr_assert_leq(s.log_tail - s.log_head, s.log_memory_size);
	for (int i = n - 10; i < n; i++)
		expect_value(i, 0); /* the newest are still there */
}

Test(disk, memory_only_log_still_fills_up)
{
	open_store(-1, false, false, 0);
	int rc = FKV_OK;
	for (int i = 0; i < 5000 && rc == FKV_OK; i++) {
		char k[32], v[128];
		tu_key_of(k, sizeof(k), i);
		tu_value_of(v, sizeof(v), i, 0);
		rc = tu_put(sess, k, v);
	}
	cr_assert_eq(rc, FKV_OUT_OF_MEMORY);
}

/* ---- Threads --------------------------------------------------------------- */

struct worker {
	int id;
	int failures;
};

static void *disk_worker(void *arg)
{
	struct worker *w = arg;
	fkv_session *s;
	if (fkv_session_start(st, &s) != FKV_OK) {
		w->failures++;
		return NULL;
	}
	const int n = 1500;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < n; i++) {
			char k[32], v[128];
			tu_key_of(k, sizeof(k), w->id * 100000 + i);
			tu_value_of(v, sizeof(v), i, round);
			if (tu_put(s, k, v) != FKV_OK)
				w->failures++;
		}
		for (int i = 0; i < n; i++) {
			char k[32], v[128];
			struct tu_val got;
			tu_key_of(k, sizeof(k), w->id * 100000 + i);
			tu_value_of(v, sizeof(v), i, round);
			if (tu_get(s, k, &got) != FKV_OK || !tu_val_is(&got, v))
				w->failures++;
		}
	}
	fkv_session_stop(s);
	return NULL;
}

Test(disk, four_threads_write_and_read_through_eviction)
{
	open_store(DEV_NULL, false, false, 0);
	/* The main session must not hold the epoch back while it waits. */
	fkv_session_suspend(sess);
	pthread_t t[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.id = i};
		cr_assert_eq(pthread_create(&t[i], NULL, disk_worker, &w[i]),
			     0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(w[i].failures, 0, "thread %d", i);
	}
	fkv_session_resume(sess);
	cr_assert_gt(tu_stats(st).log_head, UINT64_C(64) << 10);
}

/* ---- Clearing ------------------------------------------------------------ */

static void count_cb(void *ctx, const uint8_t *key, uint32_t key_len,
		     int64_t expire_ms)
{
	(void)key;
	(void)key_len;
	(void)expire_ms;
	(*(uint64_t *)ctx)++;
}

static uint64_t count_keys(void)
{
	uint64_t n = 0, cur = 0;
	do {
		cr_assert_eq(fkv_scan(sess, &cur, 64, count_cb, &n), FKV_OK);
	} while (cur != 0);
	return n;
}

Test(disk, clear_drops_keys_in_memory_and_on_disk_without_reading_them)
{
	open_store(DEV_NULL, false, false, 0);
	const int n = 3000;
	for (int i = 0; i < n; i++)
		put(i, 0);
	cr_assert_eq(count_keys(), (uint64_t)n, "the scan sees disk keys");
	fkv_stats before = tu_stats(st);
	cr_assert_eq(fkv_clear(sess), FKV_OK);
	fkv_stats after = tu_stats(st);
	cr_assert_eq(after.disk_reads, before.disk_reads);
	cr_assert_eq(after.clears, before.clears + 1);
	cr_assert_eq(count_keys(), 0);
	for (int i = 0; i < n; i += 97)
		expect_missing(i);
	/* The store works on: new versions, then more eviction. */
	for (int i = 0; i < n; i++)
		put(i, 1);
	for (int i = 0; i < n; i += 7)
		expect_value(i, 1);
	cr_assert_eq(count_keys(), (uint64_t)n);
}
