/*
 * test_record.c - the record layout, header packing, key comparison and the
 * record's reader/writer lock.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "record.h"

/* Room for one record, 8-byte aligned as the log hands it out. */
struct rec_buf {
	alignas(8) uint8_t b[512];
};

Test(record, header_struct_is_24_bytes)
{
	cr_assert_eq(sizeof(struct fkv__record), 24);
	cr_assert_eq(offsetof(struct fkv__record, key_len), 8);
	cr_assert_eq(offsetof(struct fkv__record, val_cap), 12);
	cr_assert_eq(offsetof(struct fkv__record, lock), 16);
	cr_assert_eq(offsetof(struct fkv__record, val_len), 20);
}

Test(record, pad8)
{
	cr_assert_eq(fkv__pad8(0), 0);
	cr_assert_eq(fkv__pad8(1), 8);
	cr_assert_eq(fkv__pad8(7), 8);
	cr_assert_eq(fkv__pad8(8), 8);
	cr_assert_eq(fkv__pad8(9), 16);
	cr_assert_eq(fkv__pad8(UINT32_MAX), UINT64_C(0x100000000));
}

Test(record, record_size)
{
	cr_assert_eq(fkv__record_size(8, 8, false), 40);
	cr_assert_eq(fkv__record_size(8, 8, true), 48);
	cr_assert_eq(fkv__record_size(0, 0, false), 24);
	cr_assert_eq(fkv__record_size(0, 0, true), 32);
	cr_assert_eq(fkv__record_size(1, 0, false), 32);
	cr_assert_eq(fkv__record_size(0, 1, false), 32);
	cr_assert_eq(fkv__record_size(9, 8, false), 48);
	cr_assert_eq(fkv__record_size(5, 13, true), 24 + 8 + 8 + 16);
	cr_assert_eq(fkv__record_size(100, 1000, false), 24 + 104 + 1000);
	/* Every combination is a multiple of 8 and at least the raw bytes. */
	for (uint32_t k = 0; k < 40; k++)
		for (uint32_t v = 0; v < 40; v++)
			for (int x = 0; x < 2; x++) {
				uint64_t n = fkv__record_size(k, v, x);
				cr_assert_eq(n % 8, 0, "k %u v %u x %d", k, v,
					     x);
				cr_assert_geq(n, 24 + (x ? 8 : 0) + k + v);
				cr_assert_lt(n, 24 + (x ? 8 : 0) + k + v + 16);
			}
	/* Large values do not overflow 32 bits. */
	cr_assert_eq(fkv__record_size(UINT32_MAX, UINT32_MAX, true),
		     24 + 8 + 2 * UINT64_C(0x100000000));
}

Test(record, header_round_trip)
{
	const uint64_t flags[] = {0,
				  FKV__REC_INVALID,
				  FKV__REC_TOMBSTONE,
				  FKV__REC_SEALED,
				  FKV__REC_EXPIRY,
				  FKV__REC_TOMBSTONE | FKV__REC_EXPIRY,
				  FKV__REC_INVALID | FKV__REC_TOMBSTONE |
					  FKV__REC_SEALED | FKV__REC_EXPIRY};
	const uint64_t prevs[] = {0, FKV__ADDR_INVALID, FKV__LOG_START,
				  UINT64_C(0x123456789abc), FKV__ADDR_MASK};
	const uint32_t versions[] = {0, 1, 77, 0xfff};
	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
		for (size_t p = 0; p < sizeof(prevs) / sizeof(prevs[0]); p++)
			for (size_t v = 0;
			     v < sizeof(versions) / sizeof(versions[0]); v++) {
				uint64_t h = fkv__hdr_make(
					prevs[p], versions[v], flags[f]);
				cr_assert_eq(fkv__hdr_prev(h), prevs[p]);
				cr_assert_eq(fkv__hdr_version(h), versions[v]);
				cr_assert_eq(h & (UINT64_C(0xf) << 60),
					     flags[f]);
			}
	/* The fields do not overlap. */
	cr_assert_eq(fkv__hdr_make(FKV__ADDR_MASK, 0, 0), FKV__ADDR_MASK);
	cr_assert_eq(fkv__hdr_make(0, 0xfff, 0) & FKV__ADDR_MASK, 0);
	cr_assert_eq(fkv__hdr_make(0, 0xfff, 0) & (UINT64_C(0xf) << 60), 0);
	/* Out-of-range inputs are masked, not spilled into other fields. */
	uint64_t h = fkv__hdr_make(UINT64_MAX, 0x1abc, 0);
	cr_assert_eq(fkv__hdr_prev(h), FKV__ADDR_MASK);
	cr_assert_eq(fkv__hdr_version(h), 0xabc);
	cr_assert_eq(h & (UINT64_C(0xf) << 60), 0);
}

Test(record, init_without_expiry)
{
	struct rec_buf buf;
	memset(&buf, 0xee, sizeof(buf));
	struct fkv__record *r = (struct fkv__record *)buf.b;
	const char key[] = "hello-key"; /* 9 bytes, padded to 16 */
	fkv__rec_init(r, 4096, 0, key, 9, 16, 5, 0);
	uint64_t h = fkv__rec_header(r);
	cr_assert_eq(fkv__hdr_prev(h), 4096);
	cr_assert_eq(fkv__hdr_version(h), 0);
	cr_assert_eq(h & FKV__REC_EXPIRY, 0);
	cr_assert_eq(r->key_len, 9);
	cr_assert_eq(r->val_cap, 16);
	cr_assert_eq(atomic_load(&r->val_len), 5);
	cr_assert_eq(atomic_load(&r->lock), 0);
	cr_assert_eq(fkv__rec_key(r, h), buf.b + 24);
	cr_assert_arr_eq(fkv__rec_key(r, h), key, 9);
	cr_assert_eq(fkv__rec_value(r, h), buf.b + 24 + 16);
	cr_assert_eq(fkv__rec_expire_ms(r, h), 0);
	memcpy(fkv__rec_value(r, h), "value", 5);
	cr_assert_arr_eq(buf.b + 40, "value", 5);
	cr_assert(fkv__rec_key_eq(r, h, key, 9));
}

Test(record, init_with_expiry_and_flags)
{
	struct rec_buf buf;
	memset(&buf, 0, sizeof(buf));
	struct fkv__record *r = (struct fkv__record *)buf.b;
	const uint8_t key[] = {1, 2, 3, 4, 5, 6, 7, 8};
	int64_t exp = INT64_C(1700000000123);
	fkv__rec_init(r, FKV__ADDR_INVALID, FKV__REC_TOMBSTONE, key, 8, 8, 0,
		      exp);
	uint64_t h = fkv__rec_header(r);
	cr_assert_eq(fkv__hdr_prev(h), FKV__ADDR_INVALID);
	cr_assert(h & FKV__REC_EXPIRY, "a non-zero expiry sets the flag");
	cr_assert(h & FKV__REC_TOMBSTONE, "the caller's flags are kept");
	cr_assert_eq(h & (FKV__REC_SEALED | FKV__REC_INVALID), 0);
	cr_assert_eq(*fkv__rec_expiry(r), exp);
	cr_assert_eq(fkv__rec_expire_ms(r, h), exp);
	cr_assert_eq((uint8_t *)fkv__rec_expiry(r), buf.b + 24);
	cr_assert_eq(fkv__rec_key(r, h), buf.b + 32);
	cr_assert_arr_eq(fkv__rec_key(r, h), key, 8);
	cr_assert_eq(fkv__rec_value(r, h), buf.b + 40);
	/* The whole record fits in record_size bytes. */
	cr_assert_eq(fkv__rec_value(r, h) + r->val_cap - buf.b,
		     (long)fkv__record_size(8, 8, true));
	/* A negative expiry (already past) is still an expiry. */
	fkv__rec_init(r, 0, 0, key, 8, 8, 0, -5);
	h = fkv__rec_header(r);
	cr_assert(h & FKV__REC_EXPIRY);
	cr_assert_eq(fkv__rec_expire_ms(r, h), -5);
}

Test(record, key_compare_binary_and_empty)
{
	struct rec_buf buf;
	struct fkv__record *r = (struct fkv__record *)buf.b;
	const char bin[] = {'a', '\0', 'b', '\0'};
	fkv__rec_init(r, 0, 0, bin, 4, 0, 0, 0);
	uint64_t h = fkv__rec_header(r);
	cr_assert(fkv__rec_key_eq(r, h, bin, 4));
	cr_assert(fkv__rec_key_eq(r, h, "a\0b\0", 4));
	cr_assert_not(fkv__rec_key_eq(r, h, "a\0c\0", 4),
		      "bytes after a zero byte count");
	cr_assert_not(fkv__rec_key_eq(r, h, "a\0b", 3), "a prefix differs");
	cr_assert_not(fkv__rec_key_eq(r, h, "a\0b\0\0", 5));
	cr_assert_not(fkv__rec_key_eq(r, h, "a", 1));
	cr_assert_not(fkv__rec_key_eq(r, h, "", 0));

	/* An empty key, with and without an expiry in front of it. */
	for (int x = 0; x < 2; x++) {
		memset(&buf, 0, sizeof(buf));
		fkv__rec_init(r, 0, 0, "", 0, 8, 3, x ? 99 : 0);
		h = fkv__rec_header(r);
		cr_assert_eq(r->key_len, 0);
		cr_assert(fkv__rec_key_eq(r, h, "", 0));
		cr_assert(fkv__rec_key_eq(r, h, "zzz", 0));
		cr_assert_not(fkv__rec_key_eq(r, h, "\0", 1));
		cr_assert_eq(fkv__rec_value(r, h), fkv__rec_key(r, h),
			     "an empty key takes no room");
	}

	/* Same length, different bytes; and a key of only zero bytes. */
	const char zeros[16] = {0};
	fkv__rec_init(r, 0, 0, zeros, 16, 0, 0, 0);
	h = fkv__rec_header(r);
	cr_assert(fkv__rec_key_eq(r, h, zeros, 16));
	char other[16] = {0};
	other[15] = 1;
	cr_assert_not(fkv__rec_key_eq(r, h, other, 16));
	cr_assert_not(fkv__rec_key_eq(r, h, zeros, 15));
}

/* The lock word's fields. */
static uint32_t lk_readers(struct fkv__record *r)
{
	return atomic_load(&r->lock) & FKV__LOCK_READERS_MASK;
}

static uint32_t lk_version(struct fkv__record *r)
{
	return (atomic_load(&r->lock) & FKV__LOCK_VERSION_MASK) >>
	       FKV__LOCK_VERSION_SHIFT;
}

static bool lk_writer(struct fkv__record *r)
{
	return (atomic_load(&r->lock) & FKV__LOCK_WRITER) != 0;
}

Test(record, lock_word_fields_do_not_overlap)
{
	cr_assert_eq(FKV__LOCK_WRITER & FKV__LOCK_VERSION_MASK, 0);
	cr_assert_eq(FKV__LOCK_WRITER & FKV__LOCK_READERS_MASK, 0);
	cr_assert_eq(FKV__LOCK_VERSION_MASK & FKV__LOCK_READERS_MASK, 0);
	cr_assert_eq(FKV__LOCK_WRITER | FKV__LOCK_VERSION_MASK |
			     FKV__LOCK_READERS_MASK,
		     UINT32_MAX);
}

Test(record, lock_word_single_thread)
{
	struct rec_buf buf;
	struct fkv__record *r = (struct fkv__record *)buf.b;
	fkv__rec_init(r, 0, 0, "k", 1, 8, 0, 0);
	cr_assert_eq(atomic_load(&r->lock), 0);

	fkv__rec_lock_shared(r);
	cr_assert_eq(atomic_load(&r->lock), 1);
	fkv__rec_lock_shared(r);
	fkv__rec_lock_shared(r);
	cr_assert_eq(atomic_load(&r->lock), 3, "readers share the lock");
	fkv__rec_unlock_shared(r);
	cr_assert_eq(atomic_load(&r->lock), 2);
	fkv__rec_unlock_shared(r);
	fkv__rec_unlock_shared(r);
	cr_assert_eq(atomic_load(&r->lock), 0, "readers leave no version");

	fkv__rec_lock_excl(r);
	cr_assert_eq(atomic_load(&r->lock), FKV__LOCK_WRITER);
	fkv__rec_unlock_excl(r);
	cr_assert_not(lk_writer(r));
	cr_assert_eq(lk_readers(r), 0);
	cr_assert_eq(lk_version(r), 1, "an exclusive unlock bumps the version");

	/* Again after a writer: readers get in, the version stays. */
	fkv__rec_lock_shared(r);
	cr_assert_eq(lk_readers(r), 1);
	cr_assert_not(lk_writer(r));
	cr_assert_eq(lk_version(r), 1);
	fkv__rec_unlock_shared(r);
	fkv__rec_lock_excl(r);
	cr_assert(lk_writer(r));
	cr_assert_eq(lk_version(r), 1);
	fkv__rec_unlock_excl(r);
	cr_assert_eq(atomic_load(&r->lock), UINT32_C(2)
						    << FKV__LOCK_VERSION_SHIFT);

	/* The lock word is separate from the header and lengths. */
	cr_assert_eq(fkv__hdr_prev(fkv__rec_header(r)), 0);
	cr_assert_eq(r->key_len, 1);
	cr_assert_eq(atomic_load(&r->val_len), 0);
}

Test(record, unlock_excl_keeps_readers_and_wraps_version)
{
	struct rec_buf buf;
	struct fkv__record *r = (struct fkv__record *)buf.b;
	fkv__rec_init(r, 0, 0, "k", 1, 8, 0, 0);
	/* Readers that are backing off (counted for a moment) are kept. */
	atomic_store(&r->lock,
		     FKV__LOCK_WRITER |
			     (UINT32_C(5) << FKV__LOCK_VERSION_SHIFT) | 2);
	fkv__rec_unlock_excl(r);
	cr_assert_eq(atomic_load(&r->lock),
		     (UINT32_C(6) << FKV__LOCK_VERSION_SHIFT) | 2);
	/* The highest version wraps to 0 without touching the writer bit. */
	atomic_store(&r->lock, FKV__LOCK_WRITER | FKV__LOCK_VERSION_MASK);
	fkv__rec_unlock_excl(r);
	cr_assert_eq(atomic_load(&r->lock), 0);
}

Test(record, optimistic_read_validation)
{
	struct rec_buf buf;
	struct fkv__record *r = (struct fkv__record *)buf.b;
	fkv__rec_init(r, 0, 0, "k", 1, 8, 0, 0);
	uint32_t snap;
	cr_assert(fkv__rec_read_begin(r, &snap));
	cr_assert(fkv__rec_read_validate(r, snap), "nothing happened");
	/* Shared lockers do not invalidate a snapshot. */
	fkv__rec_lock_shared(r);
	cr_assert(fkv__rec_read_validate(r, snap));
	cr_assert(fkv__rec_read_begin(r, &snap), "readers do not block");
	fkv__rec_unlock_shared(r);
	cr_assert(fkv__rec_read_validate(r, snap));

	/* A writer that held the lock meanwhile invalidates it... */
	fkv__rec_lock_excl(r);
	cr_assert_not(fkv__rec_read_validate(r, snap), "writer holds it");
	uint32_t during;
	cr_assert_not(fkv__rec_read_begin(r, &during),
		      "no optimistic read under a writer");
	fkv__rec_unlock_excl(r);
	cr_assert_not(fkv__rec_read_validate(r, snap),
		      "a writer came and went");
	/* ...and a fresh snapshot is good again. */
	cr_assert(fkv__rec_read_begin(r, &snap));
	cr_assert(fkv__rec_read_validate(r, snap));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

struct lock_ctx {
	struct fkv__record *r;
	_Atomic int started;
	_Atomic int got;
	_Atomic int seen_value;
	int value; /* guarded by the record lock */
};

static void *shared_locker(void *arg)
{
	struct lock_ctx *c = arg;
	atomic_store(&c->started, 1);
	fkv__rec_lock_shared(c->r);
	atomic_store(&c->got, 1);
	atomic_store(&c->seen_value, c->value);
	fkv__rec_unlock_shared(c->r);
	return NULL;
}

static void *excl_locker(void *arg)
{
	struct lock_ctx *c = arg;
	atomic_store(&c->started, 1);
	fkv__rec_lock_excl(c->r);
	atomic_store(&c->got, 1);
	c->value = 7;
	fkv__rec_unlock_excl(c->r);
	return NULL;
}

Test(record, writer_blocks_reader)
{
	struct rec_buf buf;
	struct lock_ctx c = {.r = (struct fkv__record *)buf.b};
	fkv__rec_init(c.r, 0, 0, "k", 1, 8, 0, 0);
	fkv__rec_lock_excl(c.r);
	c.value = 1;
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, shared_locker, &c), 0);
	while (!atomic_load(&c.started))
		sched_yield();
	sleep_ms(50);
	cr_assert_eq(atomic_load(&c.got), 0, "a reader got past a writer");
	c.value = 42;
	fkv__rec_unlock_excl(c.r);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&c.got), 1);
	cr_assert_eq(atomic_load(&c.seen_value), 42,
		     "the reader saw the writer's update");
	cr_assert_eq(lk_readers(c.r), 0);
	cr_assert_not(lk_writer(c.r));
	cr_assert_eq(lk_version(c.r), 1);
}

Test(record, reader_blocks_writer)
{
	struct rec_buf buf;
	struct lock_ctx c = {.r = (struct fkv__record *)buf.b};
	fkv__rec_init(c.r, 0, 0, "k", 1, 8, 0, 0);
	fkv__rec_lock_shared(c.r);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, excl_locker, &c), 0);
	while (!atomic_load(&c.started))
		sched_yield();
	/* Wait for the writer to announce itself, then give it time to
	 * (wrongly) get in. */
	for (int ms = 0; !lk_writer(c.r) && ms < 5000; ms++)
		sleep_ms(1);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&c.got), 0, "a writer got past a reader");
	/* ...and is still waiting for the reader. */
	cr_assert_eq(atomic_load(&c.r->lock), FKV__LOCK_WRITER | 1);
	fkv__rec_unlock_shared(c.r);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&c.got), 1);
	cr_assert_eq(lk_readers(c.r), 0);
	cr_assert_not(lk_writer(c.r));
	cr_assert_eq(lk_version(c.r), 1);
	cr_assert_eq(c.value, 7);
}

/* A writer repeatedly updates two words under the exclusive lock; a reader
 * under the shared lock must never see them differ. */
#define LOCK_ROUNDS 50000

struct pair_ctx {
	struct fkv__record *r;
	uint64_t a, b; /* guarded by the record lock */
	_Atomic int done;
	_Atomic long torn;
	_Atomic long reads;
};

static void *pair_writer(void *arg)
{
	struct pair_ctx *c = arg;
	for (uint64_t i = 1; i <= LOCK_ROUNDS; i++) {
		fkv__rec_lock_excl(c->r);
		c->a = i;
		atomic_signal_fence(memory_order_seq_cst);
		if (i % 64 == 0)
			sched_yield(); /* hold the lock across a reschedule */
		c->b = i;
		fkv__rec_unlock_excl(c->r);
		for (int k = 0; k < 8; k++)
			fkv__cpu_relax(); /* give readers a window */
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static void *pair_reader(void *arg)
{
	struct pair_ctx *c = arg;
	long torn = 0, reads = 0;
	while (!atomic_load(&c->done) || reads < 1000) {
		fkv__rec_lock_shared(c->r);
		uint64_t a = c->a;
		atomic_signal_fence(memory_order_seq_cst);
		uint64_t b = c->b;
		fkv__rec_unlock_shared(c->r);
		if (a != b)
			torn++;
		reads++;
	}
	atomic_store(&c->torn, torn);
	atomic_store(&c->reads, reads);
	return NULL;
}

Test(record, exclusive_lock_excludes_readers)
{
	struct rec_buf buf;
	struct pair_ctx c = {.r = (struct fkv__record *)buf.b};
	fkv__rec_init(c.r, 0, 0, "k", 1, 8, 0, 0);
	pthread_t w, rd;
	cr_assert_eq(pthread_create(&rd, NULL, pair_reader, &c), 0);
	cr_assert_eq(pthread_create(&w, NULL, pair_writer, &c), 0);
	pthread_join(w, NULL);
	pthread_join(rd, NULL);
	cr_assert_gt(atomic_load(&c.reads), 0);
	cr_assert_eq(atomic_load(&c.torn), 0, "%ld of %ld reads were torn",
		     (long)atomic_load(&c.torn), (long)atomic_load(&c.reads));
	cr_assert_eq(c.a, LOCK_ROUNDS);
	cr_assert_eq(c.b, LOCK_ROUNDS);
	cr_assert_eq(lk_readers(c.r), 0);
	cr_assert_not(lk_writer(c.r));
	cr_assert_eq(lk_version(c.r), LOCK_ROUNDS & (FKV__LOCK_VERSION_MASK >>
						     FKV__LOCK_VERSION_SHIFT));
}

/* Optimistic readers (snapshot, copy, validate) racing a writer: a copy
 * that validates is never torn.  The words are relaxed atomics, as a
 * seqlock's data must be for the C memory model. */
struct seq_ctx {
	struct fkv__record *r;
	_Atomic uint64_t a, b;
	_Atomic int done;
	long torn, validated, failed;
};

#define SEQ_ROUNDS 50000

static void *seq_writer(void *arg)
{
	struct seq_ctx *c = arg;
	for (uint64_t i = 1; i <= SEQ_ROUNDS; i++) {
		fkv__rec_lock_excl(c->r);
		atomic_store_explicit(&c->a, i, memory_order_relaxed);
		if (i % 64 == 0)
			sched_yield();
		atomic_store_explicit(&c->b, i, memory_order_relaxed);
		fkv__rec_unlock_excl(c->r);
		for (int k = 0; k < 8; k++)
			fkv__cpu_relax();
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static void *seq_reader(void *arg)
{
	struct seq_ctx *c = arg;
	while (!atomic_load(&c->done) || c->validated < 1000) {
		uint32_t snap;
		if (!fkv__rec_read_begin(c->r, &snap)) {
			c->failed++;
			continue;
		}
		uint64_t a = atomic_load_explicit(&c->a, memory_order_relaxed);
		uint64_t b = atomic_load_explicit(&c->b, memory_order_relaxed);
		if (!fkv__rec_read_validate(c->r, snap)) {
			c->failed++;
			continue;
		}
		c->validated++;
		if (a != b)
			c->torn++;
	}
	return NULL;
}

Test(record, optimistic_reads_never_torn)
{
	struct rec_buf buf;
	struct seq_ctx c = {.r = (struct fkv__record *)buf.b};
	fkv__rec_init(c.r, 0, 0, "k", 1, 8, 0, 0);
	pthread_t w, rd;
	cr_assert_eq(pthread_create(&rd, NULL, seq_reader, &c), 0);
	cr_assert_eq(pthread_create(&w, NULL, seq_writer, &c), 0);
	pthread_join(w, NULL);
	pthread_join(rd, NULL);
	cr_assert_geq(c.validated, 1000);
	cr_assert_eq(c.torn, 0, "%ld of %ld validated reads were torn", c.torn,
		     c.validated);
}
