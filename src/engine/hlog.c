/*
 * hlog.c - the in-memory hybrid log: see hlog.h.
 */
#include "hlog.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "fkv.h"

#define OFFSET_MASK UINT64_C(0xffffffff)

bool fkv__atomic_max(_Atomic uint64_t *target, uint64_t value)
{
	uint64_t cur = atomic_load_explicit(target, memory_order_relaxed);
	while (cur < value) {
		if (atomic_compare_exchange_weak_explicit(target, &cur, value,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

int fkv__hlog_init(struct fkv__hlog *l, uint64_t mem_size, unsigned page_bits,
		   double mutable_fraction, bool huge_pages,
		   struct fkv__epoch *epoch)
{
	if (page_bits < 12 || page_bits > 30)
		return FKV_INVALID;
	uint64_t page_size = UINT64_C(1) << page_bits;
	/* Round the memory down to a power of two. */
	while (mem_size & (mem_size - 1))
		mem_size &= mem_size - 1;
	if (mem_size < 2 * page_size ||
	    !(mutable_fraction > 0 && mutable_fraction <= 1))
		return FKV_INVALID;
	void *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return FKV_OUT_OF_MEMORY;
	if (huge_pages)
		(void)madvise(mem, mem_size, MADV_HUGEPAGE);
	l->mem = mem;
	l->mem_size = mem_size;
	l->mem_mask = mem_size - 1;
	l->page_bits = page_bits;
	l->page_size = page_size;
	l->frames = mem_size / page_size;
	l->mutable_pages = (uint64_t)((double)l->frames * mutable_fraction);
	if (l->mutable_pages < 1)
		l->mutable_pages = 1;
	l->epoch = epoch;
	atomic_init(&l->tail_word, FKV__LOG_START);
	atomic_init(&l->read_only, FKV__LOG_START);
	atomic_init(&l->safe_read_only, FKV__LOG_START);
	atomic_init(&l->head, FKV__LOG_START);
	atomic_init(&l->begin, FKV__LOG_START);
	return FKV_OK;
}

void fkv__hlog_destroy(struct fkv__hlog *l)
{
	if (l->mem != NULL)
		munmap(l->mem, l->mem_size);
	l->mem = NULL;
}

uint64_t fkv__hlog_tail(struct fkv__hlog *l)
{
	uint64_t w = atomic_load_explicit(&l->tail_word, memory_order_acquire);
	uint64_t off = w & OFFSET_MASK;
	if (off > l->page_size)
		off = l->page_size;
	/* Added, not OR-ed: a full page's offset is the next page's start. */
	return ((w >> 32) << l->page_bits) + off;
}

struct max_action {
	_Atomic uint64_t *target;
	uint64_t value;
};

static void run_max_action(void *ctx)
{
	struct max_action *a = ctx;
	fkv__atomic_max(a->target, a->value);
	free(a);
}

int fkv__hlog_shift_read_only(struct fkv__hlog *l, uint64_t addr)
{
	if (addr <= fkv__hlog_load(&l->read_only))
		return FKV_OK;
	/* Threads may still update in place below the new read-only address
	 * until they refresh; safe_read_only follows once all have.  If the
	 * action cannot be allocated, read_only stays where it is, which only
	 * keeps more records mutable. */
	struct max_action *a = malloc(sizeof(*a));
	if (a == NULL)
		return FKV_OUT_OF_MEMORY;
	if (!fkv__atomic_max(&l->read_only, addr)) {
		free(a);
		return FKV_OK;
	}
	a->target = &l->safe_read_only;
	a->value = addr;
	fkv__epoch_bump(l->epoch, run_max_action, a);
	return FKV_OK;
}

/* Called once the page `page` has been opened. */
static void on_new_page(struct fkv__hlog *l, uint64_t page)
{
	if (page <= l->mutable_pages)
		return;
	uint64_t ro = fkv__addr_make(page - l->mutable_pages, 0, l->page_bits);
	(void)fkv__hlog_shift_read_only(l, ro);
}

/* Opens page + 1 if `page` is still the tail page, reserving `size` bytes at
 * its start.  Returns 0 (done, *addr set), 1 (the tail moved on: retry) or
 * FKV_OUT_OF_MEMORY. */
static int open_next_page(struct fkv__hlog *l, uint64_t page, uint64_t size,
			  uint64_t *addr)
{
	for (;;) {
		uint64_t w = atomic_load_explicit(&l->tail_word,
						  memory_order_acquire);
		if ((w >> 32) != page)
			return 1;
		uint64_t next = page + 1;
		uint64_t head_page =
			fkv__addr_page(fkv__hlog_load(&l->head), l->page_bits);
		/* The next page's frame must not still hold the head's data. */
		if (next - head_page >= l->frames)
			return FKV_OUT_OF_MEMORY;
		if (atomic_compare_exchange_weak_explicit(
			    &l->tail_word, &w, (next << 32) | size,
			    memory_order_acq_rel, memory_order_acquire)) {
			*addr = fkv__addr_make(next, 0, l->page_bits);
			on_new_page(l, next);
			return 0;
		}
	}
}

int fkv__hlog_alloc(struct fkv__hlog *l, uint64_t size, uint64_t *addr)
{
	if (size > l->page_size)
		return FKV_INVALID;
	for (;;) {
		uint64_t w = atomic_load_explicit(&l->tail_word,
						  memory_order_relaxed);
		if ((w & OFFSET_MASK) + size <= l->page_size) {
			w = atomic_fetch_add_explicit(&l->tail_word, size,
						      memory_order_acq_rel);
			uint64_t off = w & OFFSET_MASK;
			if (off + size <= l->page_size) {
				*addr = fkv__addr_make(w >> 32, off,
						       l->page_bits);
				return FKV_OK;
			}
		}
		/* The tail page is full (our reservation, if any, ran past its
		 * end and is abandoned; that space stays zero). */
		int rc = open_next_page(l, w >> 32, size, addr);
		if (rc <= 0)
			return rc;
	}
}
