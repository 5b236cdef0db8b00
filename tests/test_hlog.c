/*
 * test_hlog.c - the in-memory hybrid log: configuration checks, allocation
 * at the tail, page changes, running out of memory, the read-only and
 * safe read-only addresses, and concurrent allocation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "epoch.h"
#include "fkv.h"
#include "hlog.h"

struct log_env {
	struct fkv__epoch epoch;
	struct fkv__hlog log;
};

static void env_open(struct log_env *env, uint64_t mem, unsigned bits,
		     double fraction, uint32_t threads)
{
	cr_assert_eq(fkv__epoch_init(&env->epoch, threads), FKV_OK);
	cr_assert_eq(fkv__hlog_init(&env->log, mem, bits, fraction, false,
				    &env->epoch, NULL, false),
		     FKV_OK);
}

static void env_close(struct log_env *env)
{
	/* Pending epoch actions touch the log's addresses: run them first. */
	fkv__epoch_destroy(&env->epoch);
	fkv__hlog_destroy(&env->log);
}

/* begin <= head <= safe_read_only <= read_only <= tail <= end of memory. */
static void check_regions(struct fkv__hlog *l)
{
	uint64_t begin = fkv__hlog_load(&l->begin);
	uint64_t head = fkv__hlog_load(&l->head);
	uint64_t sro = fkv__hlog_load(&l->safe_read_only);
	uint64_t ro = fkv__hlog_load(&l->read_only);
	uint64_t tail = fkv__hlog_tail(l);
	cr_assert_eq(begin, FKV__LOG_START);
	cr_assert_leq(begin, head);
	cr_assert_leq(head, sro);
	cr_assert_leq(sro, ro, "safe_read_only %lu > read_only %lu",
		      (unsigned long)sro, (unsigned long)ro);
	cr_assert_leq(ro, tail, "read_only %lu > tail %lu", (unsigned long)ro,
		      (unsigned long)tail);
	cr_assert_leq(tail, l->mem_size, "tail %lu past memory %lu",
		      (unsigned long)tail, (unsigned long)l->mem_size);
}

static int try_init(uint64_t mem, unsigned bits, double fraction)
{
	struct fkv__epoch e;
	struct fkv__hlog l;
	cr_assert_eq(fkv__epoch_init(&e, 1), FKV_OK);
	memset(&l, 0, sizeof(l));
	int rc =
		fkv__hlog_init(&l, mem, bits, fraction, false, &e, NULL, false);
	if (rc == FKV_OK)
		fkv__hlog_destroy(&l);
	fkv__epoch_destroy(&e);
	return rc;
}

Test(hlog, init_rejects_bad_sizes)
{
	const uint64_t mib = UINT64_C(1) << 20;
	cr_assert_eq(try_init(mib, 11, 0.5), FKV_INVALID, "page_bits < 12");
	cr_assert_eq(try_init(mib, 0, 0.5), FKV_INVALID);
	cr_assert_eq(try_init(UINT64_C(1) << 32, 31, 0.5), FKV_INVALID,
		     "page_bits > 30");
	cr_assert_eq(try_init(4096, 12, 0.5), FKV_INVALID, "one page");
	cr_assert_eq(try_init(2 * 4096 - 1, 12, 0.5), FKV_INVALID,
		     "rounds down to one page");
	cr_assert_eq(try_init(0, 12, 0.5), FKV_INVALID);
	cr_assert_eq(try_init(mib, 16, 0.0), FKV_INVALID, "fraction 0");
	cr_assert_eq(try_init(mib, 16, -0.5), FKV_INVALID, "fraction < 0");
	cr_assert_eq(try_init(mib, 16, 1.01), FKV_INVALID, "fraction > 1");
	cr_assert_eq(try_init(mib, 16, 2.0), FKV_INVALID);

	cr_assert_eq(try_init(2 * 4096, 12, 0.5), FKV_OK, "two pages");
	cr_assert_eq(try_init(mib, 12, 1.0), FKV_OK, "fraction 1");
	cr_assert_eq(try_init(mib, 16, 0.01), FKV_OK);
	cr_assert_eq(try_init(mib, 20, 0.5), FKV_INVALID, "1 MiB pages");
	cr_assert_eq(try_init(2 * mib, 20, 0.5), FKV_OK);
}

/* NaN compares false with everything, so "<= 0 || > 1" lets it through;
 * the fraction must be rejected like any other out-of-range value. */
Test(hlog, init_rejects_nan_fraction)
{
	cr_assert_eq(try_init(UINT64_C(1) << 20, 16, NAN), FKV_INVALID);
}

Test(hlog, memory_rounded_down_to_power_of_two)
{
	const uint64_t mib = UINT64_C(1) << 20;
	const uint64_t cases[][2] = {
		{3 * mib + 5, 2 * mib}, {5 * mib, 4 * mib},
		{4 * mib, 4 * mib},	{4 * mib - 1, 2 * mib},
		{3 * 4096, 2 * 4096},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct log_env env;
		env_open(&env, cases[i][0], 12, 0.5, 1);
		cr_assert_eq(env.log.mem_size, cases[i][1], "case %zu", i);
		cr_assert_eq(env.log.mem_mask, cases[i][1] - 1);
		cr_assert_eq(env.log.page_size, 4096);
		cr_assert_eq(env.log.frames, cases[i][1] / 4096);
		cr_assert_eq(env.log.mutable_pages, cases[i][1] / 4096 / 2);
		cr_assert_eq(fkv__hlog_tail(&env.log), FKV__LOG_START);
		check_regions(&env.log);
		env_close(&env);
	}
}

Test(hlog, alloc_sequential_aligned_zeroed)
{
	struct log_env env;
	env_open(&env, UINT64_C(1) << 20, 12, 0.5, 1);
	struct fkv__hlog *l = &env.log;
	uint64_t expect = FKV__LOG_START;
	for (int i = 0; i < 500; i++) {
		uint64_t size = 8 * (uint64_t)(1 + (i * 7) % 40);
		uint64_t a;
		cr_assert_eq(fkv__hlog_alloc(l, size, &a), FKV_OK);
		cr_assert_eq(a % 8, 0);
		cr_assert_geq(a, FKV__LOG_START);
		/* Either right after the previous one, or at the start of the
		 * next page when it did not fit. */
		if (fkv__addr_offset(expect, 12) + size <= 4096) {
			cr_assert_eq(a, expect, "alloc %d", i);
		} else {
			cr_assert_eq(a, fkv__addr_page_start(expect, 12) + 4096,
				     "alloc %d", i);
		}
		cr_assert_leq(fkv__addr_offset(a, 12) + size, 4096,
			      "alloc %d spans pages", i);
		uint8_t *p = fkv__hlog_ptr(l, a);
		for (uint64_t k = 0; k < size; k++)
			cr_assert_eq(p[k], 0, "fresh memory is zero");
		memset(p, 0xa5, size);
		expect = a + size;
		cr_assert_eq(fkv__hlog_tail(l), expect);
	}
	check_regions(l);
	env_close(&env);
}

Test(hlog, alloc_crossing_page_moves_to_next_page)
{
	struct log_env env;
	env_open(&env, 16 * 4096, 12, 0.5, 1);
	struct fkv__hlog *l = &env.log;
	uint64_t a;
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(fkv__hlog_alloc(l, 1000, &a), FKV_OK);
		cr_assert_eq(a, FKV__LOG_START + 1000 * (uint64_t)i);
	}
	cr_assert_eq(fkv__hlog_tail(l), 4064);
	/* 4064 + 1000 > 4096: the record goes to the start of page 1. */
	cr_assert_eq(fkv__hlog_alloc(l, 1000, &a), FKV_OK);
	cr_assert_eq(a, 4096);
	cr_assert_eq(fkv__hlog_tail(l), 5096);
	/* The end of page 0 was skipped and stays zero (a zero header ends
	 * the page for scans). */
	for (uint64_t k = 4064; k < 4096; k++)
		cr_assert_eq(*fkv__hlog_ptr(l, k), 0);

	/* A record of exactly one page takes a page of its own. */
	cr_assert_eq(fkv__hlog_alloc(l, 4096, &a), FKV_OK);
	cr_assert_eq(a, 2 * 4096);
	cr_assert_eq(fkv__hlog_tail(l), 3 * 4096);
	/* And the tail at a page start lets a full page fit right there. */
	cr_assert_eq(fkv__hlog_alloc(l, 4096, &a), FKV_OK);
	cr_assert_eq(a, 3 * 4096);
	/* An allocation that exactly fills a page's rest stays in it. */
	cr_assert_eq(fkv__hlog_alloc(l, 96, &a), FKV_OK);
	cr_assert_eq(a, 4 * 4096);
	cr_assert_eq(fkv__hlog_alloc(l, 4000, &a), FKV_OK);
	cr_assert_eq(a, 4 * 4096 + 96);
	cr_assert_eq(fkv__hlog_alloc(l, 8, &a), FKV_OK);
	cr_assert_eq(a, 5 * 4096);
	check_regions(l);
	env_close(&env);
}

/* A page filled to its last byte: the tail is the next page's start, for
 * even and odd page numbers alike. */
Test(hlog, tail_at_end_of_full_page)
{
	struct log_env env;
	env_open(&env, 16 * 4096, 12, 0.5, 1);
	struct fkv__hlog *l = &env.log;
	uint64_t a;
	cr_assert_eq(fkv__hlog_alloc(l, 4096 - FKV__LOG_START, &a), FKV_OK);
	cr_assert_eq(a, FKV__LOG_START);
	cr_assert_eq(fkv__hlog_tail(l), 4096, "page 0 full");
	for (uint64_t page = 1; page < 6; page++) {
		cr_assert_eq(fkv__hlog_alloc(l, 4096, &a), FKV_OK);
		cr_assert_eq(a, page * 4096);
		cr_assert_eq(fkv__hlog_tail(l), (page + 1) * 4096,
			     "page %lu full: tail %lu, want %lu",
			     (unsigned long)page,
			     (unsigned long)fkv__hlog_tail(l),
			     (unsigned long)((page + 1) * 4096));
	}
	env_close(&env);
}

Test(hlog, alloc_larger_than_page_is_invalid)
{
	struct log_env env;
	env_open(&env, 16 * 4096, 12, 0.5, 1);
	struct fkv__hlog *l = &env.log;
	uint64_t a = 12345;
	cr_assert_eq(fkv__hlog_alloc(l, 4096 + 8, &a), FKV_INVALID);
	cr_assert_eq(fkv__hlog_alloc(l, UINT64_C(1) << 40, &a), FKV_INVALID);
	cr_assert_eq(a, 12345, "*addr untouched on failure");
	cr_assert_eq(fkv__hlog_tail(l), FKV__LOG_START, "tail untouched");
	cr_assert_eq(fkv__hlog_alloc(l, 64, &a), FKV_OK);
	cr_assert_eq(a, FKV__LOG_START);
	env_close(&env);
}

Test(hlog, out_of_memory_is_clean_and_sticky)
{
	struct log_env env;
	env_open(&env, 4 * 4096, 12, 0.5, 1);
	struct fkv__hlog *l = &env.log;
	uint64_t addrs[64];
	int n = 0;
	int rc;
	for (;;) {
		uint64_t a;
		rc = fkv__hlog_alloc(l, 1000, &a);
		if (rc != FKV_OK)
			break;
		cr_assert_lt(n, 64);
		addrs[n++] = a;
		memset(fkv__hlog_ptr(l, a), n, 1000);
	}
	cr_assert_eq(rc, FKV_OUT_OF_MEMORY);
	cr_assert_eq(n, 16, "4 records of 1000 bytes in each of 4 pages");
	for (int i = 0; i < n; i++) {
		cr_assert_leq(addrs[i] + 1000, 4 * 4096);
		cr_assert_eq(*fkv__hlog_ptr(l, addrs[i]), (uint8_t)(i + 1),
			     "record %d was overwritten", i);
	}
	uint64_t tail = fkv__hlog_tail(l);
	cr_assert_eq(tail, 3 * 4096 + 4000);
	for (int i = 0; i < 100; i++) {
		uint64_t a = 7;
		cr_assert_eq(fkv__hlog_alloc(l, 1000, &a), FKV_OUT_OF_MEMORY);
		cr_assert_eq(fkv__hlog_alloc(l, 4096, &a), FKV_OUT_OF_MEMORY);
		cr_assert_eq(a, 7);
		cr_assert_eq(fkv__hlog_tail(l), tail, "tail moved on OOM");
	}
	check_regions(l);
	/* The frame of page 0 was not reused: page 0's data is intact. */
	cr_assert_eq(*fkv__hlog_ptr(l, addrs[0]), 1);
	env_close(&env);
}

Test(hlog, read_only_follows_tail_and_safe_read_only_waits_for_epoch)
{
	struct log_env env;
	env_open(&env, 16 * 4096, 12, 0.5, 2);
	struct fkv__hlog *l = &env.log;
	cr_assert_eq(l->mutable_pages, 8);
	int a = fkv__epoch_acquire(&env.epoch);
	fkv__epoch_protect(&env.epoch, a);

	uint64_t last_page = 0;
	for (;;) {
		uint64_t addr;
		cr_assert_eq(fkv__hlog_alloc(l, 2048, &addr), FKV_OK);
		uint64_t page = fkv__addr_page(addr, 12);
		uint64_t ro = fkv__hlog_load(&l->read_only);
		uint64_t want = page > 8 ? (page - 8) * 4096 : FKV__LOG_START;
		cr_assert_eq(ro, want, "page %lu: read_only %lu, want %lu",
			     (unsigned long)page, (unsigned long)ro,
			     (unsigned long)want);
		if (page > 8)
			cr_assert_eq(page - fkv__addr_page(ro, 12),
				     l->mutable_pages);
		/* a has not refreshed: nothing became safe read-only. */
		cr_assert_eq(fkv__hlog_load(&l->safe_read_only),
			     FKV__LOG_START);
		check_regions(l);
		last_page = page;
		if (page == 12)
			break;
	}
	cr_assert_eq(fkv__hlog_load(&l->read_only), 4 * 4096);
	fkv__epoch_drain(&env.epoch);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), FKV__LOG_START);

	/* a refreshes: every thread has seen the new read_only. */
	fkv__epoch_protect(&env.epoch, a);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), 4 * 4096);

	/* Two more pages: read_only moves, safe_read_only waits again. */
	while (last_page < 14) {
		uint64_t addr;
		cr_assert_eq(fkv__hlog_alloc(l, 2048, &addr), FKV_OK);
		last_page = fkv__addr_page(addr, 12);
	}
	cr_assert_eq(fkv__hlog_load(&l->read_only), 6 * 4096);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), 4 * 4096);
	check_regions(l);
	fkv__epoch_unprotect(&env.epoch, a);
	fkv__epoch_drain(&env.epoch);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), 6 * 4096);
	check_regions(l);
	fkv__epoch_release(&env.epoch, a);
	env_close(&env);
}

Test(hlog, unprotected_log_moves_safe_read_only_at_once)
{
	struct log_env env;
	env_open(&env, 8 * 4096, 12, 0.25, 1);
	struct fkv__hlog *l = &env.log;
	cr_assert_eq(l->mutable_pages, 2);
	uint64_t addr = 0;
	while (fkv__addr_page(addr, 12) < 5)
		cr_assert_eq(fkv__hlog_alloc(l, 4096, &addr), FKV_OK);
	cr_assert_eq(fkv__hlog_load(&l->read_only), 3 * 4096);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), 3 * 4096);
	check_regions(l);
	env_close(&env);
}

Test(hlog, all_mutable_with_fraction_one)
{
	struct log_env env;
	env_open(&env, 8 * 4096, 12, 1.0, 1);
	struct fkv__hlog *l = &env.log;
	cr_assert_eq(l->mutable_pages, 8);
	uint64_t addr;
	int n = 0;
	while (fkv__hlog_alloc(l, 4096, &addr) == FKV_OK)
		n++;
	cr_assert_eq(n, 7, "page 0 is partly reserved: pages 1..7");
	cr_assert_eq(fkv__hlog_load(&l->read_only), FKV__LOG_START);
	check_regions(l);
	env_close(&env);
}

Test(hlog, shift_read_only)
{
	struct log_env env;
	env_open(&env, 16 * 4096, 12, 0.5, 2);
	struct fkv__hlog *l = &env.log;
	uint64_t addr = 0;
	while (fkv__addr_page(addr, 12) < 4)
		cr_assert_eq(fkv__hlog_alloc(l, 4096, &addr), FKV_OK);
	int a = fkv__epoch_acquire(&env.epoch);
	fkv__epoch_protect(&env.epoch, a);
	cr_assert_eq(fkv__hlog_shift_read_only(l, 2 * 4096), FKV_OK);
	cr_assert_eq(fkv__hlog_load(&l->read_only), 2 * 4096);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), FKV__LOG_START);
	/* Never lowered. */
	cr_assert_eq(fkv__hlog_shift_read_only(l, 4096), FKV_OK);
	cr_assert_eq(fkv__hlog_load(&l->read_only), 2 * 4096);
	fkv__epoch_protect(&env.epoch, a);
	cr_assert_eq(fkv__hlog_load(&l->safe_read_only), 2 * 4096);
	fkv__epoch_unprotect(&env.epoch, a);
	check_regions(l);
	fkv__epoch_release(&env.epoch, a);
	env_close(&env);
}

Test(hlog, atomic_max)
{
	_Atomic uint64_t v = 10;
	cr_assert(fkv__atomic_max(&v, 11));
	cr_assert_eq(atomic_load(&v), 11);
	cr_assert_not(fkv__atomic_max(&v, 11));
	cr_assert_not(fkv__atomic_max(&v, 3));
	cr_assert_eq(atomic_load(&v), 11);
	cr_assert(fkv__atomic_max(&v, UINT64_MAX));
	cr_assert_eq(atomic_load(&v), UINT64_MAX);
}

/* Four threads allocate until the log is full; their ranges must be
 * disjoint, in-page, aligned, and keep what each thread wrote. */
#define CA_THREADS 4
#define CA_MAX 40000
#define CA_BITS 16

struct ca_range {
	uint64_t addr, size;
	int thread;
};

struct ca_thread {
	struct log_env *env;
	int id;
	int n;
	int last_rc;
	int no_slot;
	struct ca_range *ranges;
};

static void *ca_worker(void *arg)
{
	struct ca_thread *t = arg;
	struct fkv__hlog *l = &t->env->log;
	int slot = fkv__epoch_acquire(&t->env->epoch);
	if (slot < 0) {
		t->no_slot = 1;
		return NULL;
	}
	fkv__epoch_protect(&t->env->epoch, slot);
	uint64_t rnd = 0x9e3779b97f4a7c15ULL * (uint64_t)(t->id + 1);
	t->last_rc = FKV_OK;
	while (t->n < CA_MAX) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		uint64_t size = 8 * (2 + rnd % 63); /* two marks */
		uint64_t a;
		int rc = fkv__hlog_alloc(l, size, &a);
		if (rc != FKV_OK) {
			t->last_rc = rc;
			break;
		}
		uint64_t *p = (uint64_t *)fkv__hlog_ptr(l, a);
		/* Fresh memory is zero; mark it as ours. */
		if (p[0] != 0 || p[size / 8 - 1] != 0)
			t->last_rc = -100;
		p[0] = ((uint64_t)t->id << 32) | (uint64_t)t->n;
		p[size / 8 - 1] = ~p[0];
		t->ranges[t->n++] = (struct ca_range){a, size, t->id};
		if (t->n % 64 == 0)
			fkv__epoch_protect(&t->env->epoch, slot);
		if (t->last_rc != FKV_OK)
			break;
	}
	fkv__epoch_unprotect(&t->env->epoch, slot);
	fkv__epoch_release(&t->env->epoch, slot);
	return NULL;
}

static int cmp_range(const void *x, const void *y)
{
	const struct ca_range *a = x, *b = y;
	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

Test(hlog, concurrent_alloc_disjoint)
{
	struct log_env env;
	uint64_t mem = UINT64_C(8) << 20;
	env_open(&env, mem, CA_BITS, 0.5, CA_THREADS);
	struct ca_thread th[CA_THREADS];
	pthread_t pt[CA_THREADS];
	for (int i = 0; i < CA_THREADS; i++) {
		th[i] = (struct ca_thread){.env = &env, .id = i};
		th[i].ranges = malloc(CA_MAX * sizeof(struct ca_range));
		cr_assert_not_null(th[i].ranges);
	}
	for (int i = 0; i < CA_THREADS; i++)
		cr_assert_eq(pthread_create(&pt[i], NULL, ca_worker, &th[i]),
			     0);
	for (int i = 0; i < CA_THREADS; i++)
		pthread_join(pt[i], NULL);

	size_t total = 0;
	for (int i = 0; i < CA_THREADS; i++) {
		cr_assert_eq(th[i].no_slot, 0);
		cr_assert_neq(th[i].last_rc, -100,
			      "thread %d got memory that was not zero", i);
		/* 4 x 40000 x ~260 bytes is more than 8 MiB: all stop on OOM. */
		cr_assert_eq(th[i].last_rc, FKV_OUT_OF_MEMORY, "thread %d: %d",
			     i, th[i].last_rc);
		total += (size_t)th[i].n;
	}
	struct ca_range *all = malloc(total * sizeof(*all));
	cr_assert_not_null(all);
	size_t k = 0;
	uint64_t bytes = 0;
	for (int i = 0; i < CA_THREADS; i++)
		for (int j = 0; j < th[i].n; j++) {
			all[k++] = th[i].ranges[j];
			bytes += th[i].ranges[j].size;
		}
	qsort(all, total, sizeof(*all), cmp_range);
	uint64_t page = UINT64_C(1) << CA_BITS;
	for (size_t i = 0; i < total; i++) {
		struct ca_range *r = &all[i];
		cr_assert_eq(r->addr % 8, 0);
		cr_assert_geq(r->addr, FKV__LOG_START);
		cr_assert_leq(r->addr + r->size, mem);
		cr_assert_leq(fkv__addr_offset(r->addr, CA_BITS) + r->size,
			      page, "range at %lu spans pages",
			      (unsigned long)r->addr);
		if (i + 1 < total)
			cr_assert_leq(r->addr + r->size, all[i + 1].addr,
				      "ranges at %lu and %lu overlap",
				      (unsigned long)r->addr,
				      (unsigned long)all[i + 1].addr);
	}
	/* Each thread's marks survived everyone else's writes. */
	for (int i = 0; i < CA_THREADS; i++)
		for (int j = 0; j < th[i].n; j++) {
			struct ca_range *r = &th[i].ranges[j];
			uint64_t *p =
				(uint64_t *)fkv__hlog_ptr(&env.log, r->addr);
			uint64_t mark = ((uint64_t)i << 32) | (uint64_t)j;
			cr_assert_eq(p[0], mark);
			cr_assert_eq(p[r->size / 8 - 1], ~mark);
		}
	/* Little is lost to abandoned page ends. */
	cr_assert_geq(bytes, mem / 10 * 9, "only %lu of %lu bytes used",
		      (unsigned long)bytes, (unsigned long)mem);
	check_regions(&env.log);
	cr_assert_gt(fkv__hlog_load(&env.log.read_only), FKV__LOG_START);
	free(all);
	for (int i = 0; i < CA_THREADS; i++)
		free(th[i].ranges);
	env_close(&env);
}
