/*
 * test_concurrency.c - many sessions on one store at once: no lost RMW
 * updates, no torn reads, and a mixed load that never crashes and never
 * reads a value nobody wrote.
 *
 * Every test runs with 2, 4 and 8 threads (the test machine has 2 cores,
 * so threads get preempted mid-operation, which is the point).  Each
 * thread starts its own session and stops it at the end.  Workers never
 * call cr_assert (a failed assertion ends the test by unwinding the
 * calling thread, which must be the test's own): they count what went
 * wrong in an atomic that the test checks after joining them.
 *
 * Some stores have 4 KiB pages and a small mutable region, and the workers
 * write filler records, so that records move through the fuzzy and
 * read-only regions while others update them: that exercises the copy,
 * lock and seal paths.  The log's memory is sized so that it never fills.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "test_util.h"

#define MAX_THREADS 8

struct shape {
	uint32_t page_bits;
	uint64_t log_size;
	double mutable_fraction;
	uint64_t buckets;
};

/* Big pages and log: every hot record stays mutable. */
static const struct shape big_log = {20, UINT64_C(64) << 20, 0.9, 1024};
/* 4 KiB pages, 30% mutable: the filler pushes hot records out of it. */
static const struct shape small_pages = {12, UINT64_C(16) << 20, 0.3, 256};
/* 4 KiB pages, 0.1% (16 pages) mutable: hot records are copied over and
 * over, and a small index grows under the load. */
static const struct shape churn = {12, UINT64_C(64) << 20, 0.001, 64};

static fkv_store *open_shape(const struct shape *sh)
{
	fkv_store *st;
	cr_assert_eq(tu_open(&st, sh->page_bits, sh->log_size,
			     sh->mutable_fraction, sh->buckets),
		     FKV_OK);
	return st;
}

/* Runs fn(arg[i]) on `n` threads that start together. */
struct runner {
	pthread_barrier_t go;
	void *(*fn)(void *);
};

static struct runner runner;

static void *start_together(void *p)
{
	pthread_barrier_wait(&runner.go);
	return runner.fn(p);
}

static void run_threads(int n, void *(*fn)(void *), void *args, size_t arg_size)
{
	pthread_t th[MAX_THREADS];
	cr_assert_leq(n, MAX_THREADS);
	runner.fn = fn;
	cr_assert_eq(pthread_barrier_init(&runner.go, NULL, (unsigned)n), 0);
	for (int i = 0; i < n; i++)
		cr_assert_eq(
			pthread_create(&th[i], NULL, start_together,
				       (char *)args + (size_t)i * arg_size),
			0);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&runner.go);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Errors seen by workers: a count and the first message. */
static atomic_int errors;
static char first_error[256];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	if (atomic_fetch_add(&errors, 1) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
	}
}

static void check_no_errors(void)
{
	int n = atomic_load(&errors);
	cr_assert_eq(n, 0, "%d errors, the first: %s", n, first_error);
}

/* ---- 1. Counters ------------------------------------------------------- */

#define NKEYS 16
#define ROUNDS_TOTAL 32768 /* rounds over all keys, all threads together */
#define FILL_EVERY 8
/* A filler every FILL_EVERY rounds, two to a 4 KiB page: 2048 pages, 8 MiB
 * in all. */
#define FILL_LEN 1960

struct counter_worker {
	fkv_store *st;
	int id, rounds;
};

static void counter_key(char *buf, size_t size, int k)
{
	snprintf(buf, size, "counter-%02d", k);
}

static void *counter_thread(void *p)
{
	struct counter_worker *w = p;
	fkv_session *s;
	static const uint8_t filler[FILL_LEN];
	if (fkv_session_start(w->st, &s) != FKV_OK) {
		fail("thread %d: no session", w->id);
		return NULL;
	}
	for (int r = 0; r < w->rounds; r++) {
		/* Each thread starts at a different key, so that threads meet
		 * on every key rather than marching in step. */
		for (int j = 0; j < NKEYS; j++) {
			char key[32];
			counter_key(key, sizeof(key), (j + w->id) % NKEYS);
			int rc = tu_incr(s, key, (uint32_t)strlen(key),
					 w->id + 1);
			if (rc != FKV_OK)
				fail("incr returned %d (round %d)", rc, r);
		}
		if (r % FILL_EVERY == 0) {
			char key[32];
			int n = snprintf(key, sizeof(key), "fill-%d-%d", w->id,
					 r);
			int rc = fkv_upsert(s, key, (uint32_t)n, filler,
					    sizeof(filler), 0);
			if (rc != FKV_OK)
				fail("filler upsert returned %d (round %d)", rc,
				     r);
		}
	}
	fkv_session_stop(s);
	return NULL;
}

static void counters(int threads, const struct shape *sh, bool expect_copies)
{
	fkv_store *st = open_shape(sh);
	struct counter_worker w[MAX_THREADS];
	int rounds = ROUNDS_TOTAL / threads;
	for (int i = 0; i < threads; i++)
		w[i] = (struct counter_worker){st, i, rounds};
	run_threads(threads, counter_thread, w, sizeof(w[0]));
	check_no_errors();

	/* Thread i adds i + 1 to every key once per round. */
	uint64_t want = (uint64_t)rounds * (uint64_t)threads *
			(uint64_t)(threads + 1) / 2;
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	for (int k = 0; k < NKEYS; k++) {
		char key[32];
		uint64_t got;
		counter_key(key, sizeof(key), k);
		cr_assert_eq(
			tu_counter_read(s, key, (uint32_t)strlen(key), &got),
			FKV_OK, "%s", key);
		cr_expect_eq(got, want, "%s: %llu, want %llu", key,
			     (unsigned long long)got, (unsigned long long)want);
	}
	fkv_session_stop(s);

	fkv_stats a;
	fkv_store_stats(st, &a);
	uint64_t total = (uint64_t)rounds * threads * NKEYS;
	cr_assert_eq(a.sessions, 0);
	cr_assert_eq(a.rmws, total);
	cr_assert_eq(a.rmws_aborted, 0);
	cr_assert_eq(a.rmws_initial, NKEYS, "one initial value per key");
	cr_assert_eq(a.rmws_in_place + a.rmws_copied + a.rmws_initial, total);
	cr_assert_leq(a.log_bytes, a.log_memory_size);
	if (expect_copies) {
		cr_assert_gt(a.rmws_copied, 0,
			     "nothing left the mutable region");
		cr_assert_gt(a.log_safe_read_only, UINT64_C(64));
	} else {
		cr_assert_eq(a.rmws_copied, 0);
	}
	fkv_store_close(st);
}

TestSuite(concurrency, .timeout = 60);

Test(concurrency, counters_in_place_2)
{
	counters(2, &big_log, false);
}

Test(concurrency, counters_in_place_4)
{
	counters(4, &big_log, false);
}

Test(concurrency, counters_in_place_8)
{
	counters(8, &big_log, false);
}

Test(concurrency, counters_small_pages_2)
{
	counters(2, &small_pages, true);
}

Test(concurrency, counters_small_pages_4)
{
	counters(4, &small_pages, true);
}

Test(concurrency, counters_small_pages_8)
{
	counters(8, &small_pages, true);
}

Test(concurrency, counters_churn_2)
{
	counters(2, &churn, true);
}

Test(concurrency, counters_churn_4)
{
	counters(4, &churn, true);
}

Test(concurrency, counters_churn_8)
{
	counters(8, &churn, true);
}

/* ---- 2. No torn reads ------------------------------------------------- */

/* A value is `len_of(c)` copies of the byte c. */
#define TORN_KEYS 4
#define TORN_WRITES 100000 /* writes, all writers together */

static uint32_t len_of(uint8_t c)
{
	return (uint32_t)(c % 200) + 1;
}

static bool consistent(const uint8_t *v, uint32_t len)
{
	if (len == 0 || len != len_of(v[0]))
		return false;
	for (uint32_t i = 1; i < len; i++)
		if (v[i] != v[0])
			return false;
	return true;
}

static atomic_int torn;

static void check_cb(void *ctx, const uint8_t *value, uint32_t len,
		     int64_t expire_ms)
{
	(void)expire_ms;
	if (!consistent(value, len)) {
		atomic_fetch_add(&torn, 1);
		fail("torn value: %u bytes, first byte %d", len, value[0]);
	}
	(*(uint64_t *)ctx)++;
}

/* RMW "next": the byte after the old value's byte (ctx: the step), as a
 * whole new value.  It checks what it reads too. */
static uint8_t next_byte(const uint8_t *old, uint32_t old_len, uint8_t step)
{
	if (old == NULL)
		return step;
	if (!consistent(old, old_len)) {
		atomic_fetch_add(&torn, 1);
		fail("RMW saw a torn value: %u bytes, first byte %d", old_len,
		     old[0]);
	}
	return (uint8_t)(old[0] + step);
}

static int next_new_len(void *ctx, const uint8_t *old, uint32_t old_len,
			uint32_t *new_len, int64_t *expire_ms)
{
	(void)expire_ms;
	*new_len = len_of(next_byte(old, old_len, *(const uint8_t *)ctx));
	return FKV_OK;
}

static void next_write(void *ctx, const uint8_t *old, uint32_t old_len,
		       uint8_t *dst, uint32_t new_len)
{
	memset(dst, next_byte(old, old_len, *(const uint8_t *)ctx), new_len);
}

static int next_in_place(void *ctx, uint8_t *value, uint32_t *len, uint32_t cap,
			 int64_t *expire_ms)
{
	(void)expire_ms;
	uint8_t c = next_byte(value, *len, *(const uint8_t *)ctx);
	if (len_of(c) > cap)
		return FKV_RMW_COPY;
	memset(value, c, len_of(c));
	*len = len_of(c);
	return FKV_OK;
}

static const fkv_rmw_ops next_ops = {
	.new_len = next_new_len,
	.write = next_write,
	.in_place = next_in_place,
};

struct torn_worker {
	fkv_store *st;
	int id;
	int writes; /* 0 for a reader */
	atomic_int *writers_left;
	uint64_t reads, hits;
};

static void *torn_thread(void *p)
{
	struct torn_worker *w = p;
	fkv_session *s;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
	static const uint8_t filler[1500];
	if (fkv_session_start(w->st, &s) != FKV_OK) {
		fail("thread %d: no session", w->id);
		return NULL;
	}
	char key[8] = "torn-0";
	if (w->writes > 0) {
		for (int i = 0; i < w->writes; i++) {
			key[5] = (char)('0' + i % TORN_KEYS);
			uint64_t x = xorshift(&rng);
			int rc;
			if (x % 3 == 0) {
				uint8_t step = (uint8_t)(x >> 8 | 1);
				rc = fkv_rmw(s, key, 6, &next_ops, &step);
			} else {
				uint8_t v[200];
				uint8_t c = (uint8_t)(x >> 8);
				memset(v, c, len_of(c));
				rc = fkv_upsert(s, key, 6, v, len_of(c), 0);
			}
			if (rc != FKV_OK)
				fail("write returned %d (op %d)", rc, i);
			if (i % 32 == 0) {
				/* Push hot records out of the mutable region. */
				char fk[32];
				int n = snprintf(fk, sizeof(fk), "fill-%d-%d",
						 w->id, i);
				rc = fkv_upsert(s, fk, (uint32_t)n, filler,
						sizeof(filler), 0);
				if (rc != FKV_OK)
					fail("filler returned %d (op %d)", rc,
					     i);
			}
		}
		atomic_fetch_sub(w->writers_left, 1);
	} else {
		/* Read until the writers are done, and at least a little. */
		for (uint64_t i = 0;
		     atomic_load(w->writers_left) > 0 || i < 1000; i++) {
			key[5] = (char)('0' + i % TORN_KEYS);
			uint64_t before = w->hits;
			int rc = fkv_read(s, key, 6, check_cb, &w->hits);
			w->reads++;
			if (rc == FKV_OK && w->hits != before + 1)
				fail("callback ran %d times (read %d)",
				     (int)(w->hits - before), (int)i);
			if (rc != FKV_OK && rc != FKV_NOT_FOUND)
				fail("read returned %d (read %d)", rc, (int)i);
		}
	}
	fkv_session_stop(s);
	return NULL;
}

static void no_torn_reads(int threads)
{
	fkv_store *st = open_shape(&churn);
	struct torn_worker w[MAX_THREADS];
	int writers = threads / 2;
	atomic_int writers_left = writers;
	for (int i = 0; i < threads; i++)
		w[i] = (struct torn_worker){
			.st = st,
			.id = i,
			.writes = i < writers ? TORN_WRITES / writers : 0,
			.writers_left = &writers_left,
		};
	run_threads(threads, torn_thread, w, sizeof(w[0]));
	check_no_errors();
	cr_assert_eq(atomic_load(&torn), 0);

	uint64_t reads = 0, hits = 0;
	for (int i = writers; i < threads; i++) {
		reads += w[i].reads;
		hits += w[i].hits;
	}
	cr_assert_geq(reads, (uint64_t)(threads - writers) * 1000);
	cr_assert_gt(hits, 0);

	/* The final values are consistent too. */
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	for (int k = 0; k < TORN_KEYS; k++) {
		char key[8] = "torn-0";
		uint64_t n = 0;
		key[5] = (char)('0' + k);
		cr_assert_eq(fkv_read(s, key, 6, check_cb, &n), FKV_OK);
	}
	fkv_session_stop(s);
	check_no_errors();
	fkv_stats a;
	fkv_store_stats(st, &a);
	cr_assert_gt(a.upserts_in_place, 0);
	cr_assert_gt(a.upserts_appended, 0);
	cr_assert_gt(a.rmws_copied, 0);
	cr_assert_gt(a.log_safe_read_only, UINT64_C(64));
	fkv_store_close(st);
}

Test(concurrency, no_torn_reads_2)
{
	no_torn_reads(2);
}

Test(concurrency, no_torn_reads_4)
{
	no_torn_reads(4);
}

Test(concurrency, no_torn_reads_8)
{
	no_torn_reads(8);
}

/* ---- 3. Mixed upsert / delete / read ---------------------------------- */

/* A value: key index, writer, sequence number (4 bytes each, little
 * endian), then pad bytes whose count and contents follow from those. */
#define MIXED_KEYS 32
#define MIXED_OPS 200000 /* all threads together */
#define MIXED_HDR 12
#define MIXED_FILL_EVERY 32 /* 6250 fillers, 12 MiB */

static uint32_t pad_len(uint32_t k, uint32_t t, uint32_t seq)
{
	return (k * 31 + t * 7 + seq * 13) % 300;
}

static uint8_t pad_byte(uint32_t k, uint32_t t, uint32_t seq, uint32_t i)
{
	return (uint8_t)(k + t * 3 + seq * 5 + i);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t make_value(uint8_t *v, uint32_t k, uint32_t t, uint32_t seq)
{
	uint32_t n = pad_len(k, t, seq);
	put32(v, k);
	put32(v + 4, t);
	put32(v + 8, seq);
	for (uint32_t i = 0; i < n; i++)
		v[MIXED_HDR + i] = pad_byte(k, t, seq, i);
	return MIXED_HDR + n;
}

struct mixed_read {
	uint32_t key;
	int threads, ops;
	bool bad;
};

static void mixed_cb(void *ctx, const uint8_t *v, uint32_t len,
		     int64_t expire_ms)
{
	struct mixed_read *r = ctx;
	r->bad = true;
	if (expire_ms != 0 || len < MIXED_HDR)
		return;
	uint32_t k = get32(v), t = get32(v + 4), seq = get32(v + 8);
	if (k != r->key || t >= (uint32_t)r->threads ||
	    seq >= (uint32_t)r->ops || len != MIXED_HDR + pad_len(k, t, seq))
		return;
	for (uint32_t i = 0; i < len - MIXED_HDR; i++)
		if (v[MIXED_HDR + i] != pad_byte(k, t, seq, i))
			return;
	r->bad = false;
}

struct mixed_worker {
	fkv_store *st;
	int id, threads, ops;
	uint64_t reads, hits, deleted;
};

static void mixed_key(char *buf, uint32_t k)
{
	snprintf(buf, 16, "mixed-%02u", k);
}

static void *mixed_thread(void *p)
{
	struct mixed_worker *w = p;
	fkv_session *s;
	uint64_t rng = 0x2545f4914f6cdd1dull * (uint64_t)(w->id + 1);
	if (fkv_session_start(w->st, &s) != FKV_OK) {
		fail("thread %d: no session", w->id);
		return NULL;
	}
	for (int i = 0; i < w->ops; i++) {
		int rc;
		uint64_t x = xorshift(&rng);
		uint32_t k = (uint32_t)(x >> 20) % MIXED_KEYS;
		if (i % MIXED_FILL_EVERY == 0) {
			/* Push the keys' records out of the mutable region. */
			static const uint8_t filler[FILL_LEN];
			char fk[32];
			int n = snprintf(fk, sizeof(fk), "fill-%d-%d", w->id,
					 i);
			rc = fkv_upsert(s, fk, (uint32_t)n, filler,
					sizeof(filler), 0);
			if (rc != FKV_OK)
				fail("filler returned %d (op %d)", rc, i);
		}
		char key[16];
		mixed_key(key, k);
		uint32_t klen = (uint32_t)strlen(key);
		switch (x % 10) {
		case 0:
		case 1:
		case 2: {
			uint8_t v[MIXED_HDR + 300];
			uint32_t n =
				make_value(v, k, (uint32_t)w->id, (uint32_t)i);
			rc = fkv_upsert(s, key, klen, v, n, 0);
			if (rc != FKV_OK)
				fail("upsert returned %d (op %d)", rc, i);
			break;
		}
		case 3:
		case 4:
			rc = fkv_delete(s, key, klen);
			if (rc == FKV_OK)
				w->deleted++;
			else if (rc != FKV_NOT_FOUND)
				fail("delete returned %d (op %d)", rc, i);
			break;
		default: {
			struct mixed_read r = {k, w->threads, w->ops, false};
			rc = fkv_read(s, key, klen, mixed_cb, &r);
			w->reads++;
			if (rc == FKV_OK)
				w->hits++;
			else if (rc != FKV_NOT_FOUND)
				fail("read returned %d (op %d)", rc, i);
			if (r.bad)
				fail("read a value never written (key %d, op "
				     "%d)",
				     (int)k, i);
			break;
		}
		}
	}
	fkv_session_stop(s);
	return NULL;
}

static void mixed(int threads)
{
	fkv_store *st = open_shape(&churn);
	struct mixed_worker w[MAX_THREADS];
	for (int i = 0; i < threads; i++)
		w[i] = (struct mixed_worker){
			st, i, threads, MIXED_OPS / threads, 0, 0, 0};
	run_threads(threads, mixed_thread, w, sizeof(w[0]));
	check_no_errors();

	uint64_t reads = 0, hits = 0, deleted = 0;
	for (int i = 0; i < threads; i++) {
		reads += w[i].reads;
		hits += w[i].hits;
		deleted += w[i].deleted;
	}
	cr_assert_gt(hits, 0);
	cr_assert_lt(hits, reads, "some reads should miss");
	cr_assert_gt(deleted, 0);

	/* Afterwards every key is absent or holds a value somebody wrote. */
	fkv_session *s;
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	for (uint32_t k = 0; k < MIXED_KEYS; k++) {
		char key[16];
		mixed_key(key, k);
		struct mixed_read r = {k, threads, MIXED_OPS / threads, false};
		int rc = fkv_read(s, key, (uint32_t)strlen(key), mixed_cb, &r);
		cr_assert(rc == FKV_OK || rc == FKV_NOT_FOUND, "%s: %s", key,
			  fkv_strerror(rc));
		cr_assert_not(r.bad, "%s", key);
	}
	fkv_session_stop(s);
	fkv_stats a;
	fkv_store_stats(st, &a);
	cr_assert_eq(a.reads, reads + MIXED_KEYS);
	cr_assert_eq(a.read_hits + a.read_misses, a.reads);
	cr_assert_eq(a.upserts, a.upserts_in_place + a.upserts_appended);
	cr_assert_eq(a.deletes_in_place + a.deletes_appended, deleted);
	fkv_store_close(st);
}

Test(concurrency, mixed_2)
{
	mixed(2);
}

Test(concurrency, mixed_4)
{
	mixed(4);
}

Test(concurrency, mixed_8)
{
	mixed(8);
}
