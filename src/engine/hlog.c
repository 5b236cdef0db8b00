/*
 * hlog.c - the in-memory hybrid log: see hlog.h.
 */
#include "hlog.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "device.h"
#include "fkv.h"
#include "record.h"

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
		   struct fkv__epoch *epoch, struct dev_device *dev, bool evict)
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
	l->dev = dev;
	l->evict = dev == NULL && evict;
	if (dev != NULL || evict) {
		/* Leave frames between read-only and the head, so that pages
		 * are flushed while the tail still has room: at most
		 * frames - 3 mutable pages (one being flushed, one closing,
		 * one free). */
		if (l->frames < 4) {
			munmap(mem, mem_size);
			return FKV_INVALID;
		}
		if (l->mutable_pages > l->frames - 3)
			l->mutable_pages = l->frames - 3;
	}
	if (l->mutable_pages < 1)
		l->mutable_pages = 1;
	l->flushed = calloc(l->frames, sizeof(*l->flushed));
	if (l->flushed == NULL) {
		munmap(mem, mem_size);
		return FKV_OUT_OF_MEMORY;
	}
	l->epoch = epoch;
	pthread_mutex_init(&l->flush_lock, NULL);
	pthread_mutex_init(&l->close_lock, NULL);
	l->flush_next = 0;
	atomic_init(&l->tail_word, FKV__LOG_START);
	atomic_init(&l->read_only, FKV__LOG_START);
	atomic_init(&l->safe_read_only, FKV__LOG_START);
	atomic_init(&l->head, FKV__LOG_START);
	atomic_init(&l->safe_head, FKV__LOG_START);
	atomic_init(&l->begin, FKV__LOG_START);
	atomic_init(&l->flushed_until, FKV__LOG_START);
	atomic_init(&l->flush_error, 0);
	atomic_init(&l->flush_waits, 0);
	atomic_init(&l->closing, false);
	return FKV_OK;
}

void fkv__hlog_destroy(struct fkv__hlog *l)
{
	if (l->mem == NULL)
		return;
	munmap(l->mem, l->mem_size);
	l->mem = NULL;
	free(l->flushed);
	pthread_mutex_destroy(&l->flush_lock);
	pthread_mutex_destroy(&l->close_lock);
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

struct log_action {
	struct fkv__hlog *l;
	uint64_t value;
};

/* A flushed page: account for it, and move flushed_until over every page
 * that is now complete.  Runs on a device I/O thread. */
struct flush_job {
	struct fkv__hlog *l;
	uint64_t page;
};

static void on_flushed(void *ctx, int status)
{
	struct flush_job *j = ctx;
	struct fkv__hlog *l = j->l;
	if (status < 0) {
		int none = 0;
		atomic_compare_exchange_strong(&l->flush_error, &none, status);
	}
	pthread_mutex_lock(&l->flush_lock);
	if (status == 0)
		l->flushed[j->page & (l->frames - 1)] = j->page + 1;
	uint64_t until = fkv__hlog_load(&l->flushed_until);
	for (;;) {
		uint64_t p = fkv__addr_page(until, l->page_bits);
		if (l->flushed[p & (l->frames - 1)] != p + 1)
			break;
		until = fkv__addr_make(p + 1, 0, l->page_bits);
	}
	fkv__atomic_max(&l->flushed_until, until);
	pthread_mutex_unlock(&l->flush_lock);
	free(j);
	fkv__hlog_shift_head(l);
}

/* Submits the writes of every page below `until` not yet submitted.  A
 * page that cannot be submitted (no memory) counts as a flush error. */
static void flush_pages(struct fkv__hlog *l, uint64_t until)
{
	if (atomic_load(&l->closing))
		return;
	uint64_t last = fkv__addr_page(until, l->page_bits);
	pthread_mutex_lock(&l->flush_lock);
	for (; l->flush_next < last; l->flush_next++) {
		uint64_t p = l->flush_next;
		struct flush_job *j = malloc(sizeof(*j));
		int rc = -1;
		if (j != NULL) {
			j->l = l;
			j->page = p;
			uint64_t a = fkv__addr_make(p, 0, l->page_bits);
			rc = dev_write(l->dev, a, fkv__hlog_ptr(l, a),
				       l->page_size, on_flushed, j);
		}
		if (rc != 0) {
			free(j);
			int none = 0;
			atomic_compare_exchange_strong(&l->flush_error, &none,
						       rc < 0 ? rc : -1);
		}
	}
	pthread_mutex_unlock(&l->flush_lock);
}

/* The flush of the pages below a new safe_read_only, once every thread
 * has seen that too: an operation that loaded the older safe_read_only may
 * still take a record's shared lock (or seal it) below the new one, and
 * the page must not be copied while it does. */
static void run_flush_action(void *ctx)
{
	struct log_action *a = ctx;
	flush_pages(a->l, a->value);
	free(a);
}

/* safe_read_only's move, once every thread has seen read_only's. */
static void run_read_only_action(void *ctx)
{
	struct log_action *a = ctx;
	struct fkv__hlog *l = a->l;
	fkv__atomic_max(&l->safe_read_only, a->value);
	if (l->dev != NULL && !atomic_load(&l->closing)) {
		fkv__epoch_bump(l->epoch, run_flush_action, a);
		return;
	}
	if (l->evict)
		fkv__hlog_shift_head(l);
	free(a);
}

/* Walks the records of a page that cache mode drops. */
static void evict_page(struct fkv__hlog *l, uint64_t page)
{
	uint64_t a = fkv__addr_make(page, 0, l->page_bits);
	uint64_t end = a + l->page_size;
	if (a < FKV__LOG_START)
		a = FKV__LOG_START;
	while (a + sizeof(struct fkv__record) <= end) {
		const struct fkv__record *r =
			(const struct fkv__record *)fkv__hlog_ptr(l, a);
		uint64_t h = fkv__rec_header(r);
		if (h == 0)
			break; /* the rest of the page was never used */
		l->on_evict(l->evict_ctx, a, r);
		a += fkv__record_size(r->key_len, r->val_cap,
				      (h & FKV__REC_EXPIRY) != 0);
	}
}

/* Closes the frames below the head, once no thread can still be reading
 * them: zeroes them for reuse and moves safe_head. */
static void run_close_action(void *ctx)
{
	struct log_action *a = ctx;
	struct fkv__hlog *l = a->l;
	pthread_mutex_lock(&l->close_lock);
	uint64_t from =
		fkv__addr_page(fkv__hlog_load(&l->safe_head), l->page_bits);
	uint64_t to = fkv__addr_page(a->value, l->page_bits);
	for (uint64_t p = from; p < to; p++) {
		if (l->evict && l->on_evict != NULL)
			evict_page(l, p);
		uint64_t pa = fkv__addr_make(p, 0, l->page_bits);
		memset(fkv__hlog_ptr(l, pa), 0, l->page_size);
	}
	if (to > from)
		atomic_store_explicit(&l->safe_head, a->value,
				      memory_order_release);
	pthread_mutex_unlock(&l->close_lock);
	free(a);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void fkv__hlog_close(struct fkv__hlog *l)
{
	atomic_store(&l->closing, true);
}

void fkv__hlog_shift_head(struct fkv__hlog *l)
{
	if ((l->dev == NULL && !l->evict) || atomic_load(&l->closing))
		return;
	/* Keep the tail's page and one free frame: the next page to open
	 * (tail page + 1) needs the head at tail page + 2 - frames. */
	uint64_t tail_page =
		atomic_load_explicit(&l->tail_word, memory_order_acquire) >> 32;
	if (tail_page + 2 <= l->frames)
		return;
	uint64_t want =
		fkv__addr_make(tail_page + 2 - l->frames, 0, l->page_bits);
	uint64_t limit = l->dev != NULL ? fkv__hlog_load(&l->flushed_until)
					: fkv__hlog_load(&l->safe_read_only);
	want = min_u64(want, fkv__addr_page_start(limit, l->page_bits));
	if (want <= fkv__hlog_load(&l->head))
		return;
	struct log_action *a = malloc(sizeof(*a));
	if (a == NULL)
		return; /* the next caller tries again */
	if (!fkv__atomic_max(&l->head, want)) {
		free(a);
		return;
	}
	a->l = l;
	a->value = want;
	fkv__epoch_bump(l->epoch, run_close_action, a);
}

int fkv__hlog_shift_read_only(struct fkv__hlog *l, uint64_t addr)
{
	if (addr <= fkv__hlog_load(&l->read_only))
		return FKV_OK;
	/* Threads may still update in place below the new read-only address
	 * until they refresh; safe_read_only follows once all have.  If the
	 * action cannot be allocated, read_only stays where it is, which only
	 * keeps more records mutable. */
	struct log_action *a = malloc(sizeof(*a));
	if (a == NULL)
		return FKV_OUT_OF_MEMORY;
	if (!fkv__atomic_max(&l->read_only, addr)) {
		free(a);
		return FKV_OK;
	}
	a->l = l;
	a->value = addr;
	fkv__epoch_bump(l->epoch, run_read_only_action, a);
	return FKV_OK;
}

/* Called once the page `page` has been opened. */
static void on_new_page(struct fkv__hlog *l, uint64_t page)
{
	if (page <= l->mutable_pages)
		return;
	uint64_t ro = fkv__addr_make(page - l->mutable_pages, 0, l->page_bits);
	(void)fkv__hlog_shift_read_only(l, ro);
	fkv__hlog_shift_head(l);
}

/* Opens page + 1 if `page` is still the tail page, reserving `size` bytes at
 * its start.  Returns 0 (done, *addr set), 1 (the tail moved on: retry),
 * FKV__LOG_RETRY + 1 (no free frame yet), FKV_OUT_OF_MEMORY or
 * FKV_IO_ERROR. */
static int open_next_page(struct fkv__hlog *l, uint64_t page, uint64_t size,
			  uint64_t *addr)
{
	for (;;) {
		uint64_t w = atomic_load_explicit(&l->tail_word,
						  memory_order_acquire);
		if ((w >> 32) != page)
			return 1;
		uint64_t next = page + 1;
		uint64_t closed = fkv__addr_page(fkv__hlog_load(&l->safe_head),
						 l->page_bits);
		/* The next page's frame must have been closed (zeroed). */
		if (next - closed >= l->frames) {
			if (l->dev == NULL && !l->evict)
				return FKV_OUT_OF_MEMORY;
			if (atomic_load(&l->flush_error) != 0)
				return FKV_IO_ERROR;
			atomic_fetch_add_explicit(&l->flush_waits, 1,
						  memory_order_relaxed);
			fkv__hlog_shift_head(l);
			return FKV__LOG_RETRY + 1;
		}
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
		if (rc == FKV__LOG_RETRY + 1)
			return FKV__LOG_RETRY;
		if (rc <= 0)
			return rc;
	}
}

struct sync_io {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
};

static void sync_io_done(void *ctx, int status)
{
	struct sync_io *io = ctx;
	pthread_mutex_lock(&io->lock);
	io->done = true;
	io->status = status;
	pthread_cond_signal(&io->cond);
	pthread_mutex_unlock(&io->lock);
}

int fkv__hlog_write_wait(struct fkv__hlog *l, uint64_t addr, const void *buf,
			 uint64_t len)
{
	struct sync_io io = {.done = false, .status = 0};
	pthread_mutex_init(&io.lock, NULL);
	pthread_cond_init(&io.cond, NULL);
	int rc = dev_write(l->dev, addr, buf, len, sync_io_done, &io);
	if (rc == 0) {
		pthread_mutex_lock(&io.lock);
		while (!io.done)
			pthread_cond_wait(&io.cond, &io.lock);
		pthread_mutex_unlock(&io.lock);
		rc = io.status;
	}
	pthread_mutex_destroy(&io.lock);
	pthread_cond_destroy(&io.cond);
	return rc == 0 ? FKV_OK : FKV_IO_ERROR;
}

/* A snapshot's copy of a page races, by design, with in-place writers of
 * the next version's records (recovery drops those records), as the
 * kernel's read of a page being flushed does; ThreadSanitizer, which sees
 * this copy but not the kernel's, is told so. */
#if FKV__TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define IGNORE_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define IGNORE_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define IGNORE_READS_BEGIN() ((void)0)
#define IGNORE_READS_END() ((void)0)
#endif

bool fkv__hlog_copy_page(struct fkv__hlog *l, uint64_t page, uint64_t len,
			 uint8_t *out)
{
	if (page < fkv__addr_page(fkv__hlog_load(&l->head), l->page_bits))
		return false;
	IGNORE_READS_BEGIN();
	memcpy(out, fkv__hlog_ptr(l, fkv__addr_make(page, 0, l->page_bits)),
	       len);
	IGNORE_READS_END();
	return true;
}

void fkv__hlog_restore(struct fkv__hlog *l, uint64_t begin, uint64_t tail,
		       const uint8_t *partial)
{
	uint64_t page = fkv__addr_page(tail, l->page_bits);
	uint64_t off = fkv__addr_offset(tail, l->page_bits);
	uint64_t start = fkv__addr_make(page, 0, l->page_bits);
	/* The tail's page: what lies below the tail comes back into its
	 * frame (it is on the device too, and will be flushed again whole). */
	if (off != 0)
		memcpy(fkv__hlog_ptr(l, start), partial, off);
	/* As at init, no boundary lies below the reserved start: chains end
	 * at addresses 0 and 1, which must read as "below the head". */
	if (start < FKV__LOG_START)
		start = FKV__LOG_START;
	atomic_store(&l->tail_word, page << 32 | off);
	atomic_store(&l->begin, begin);
	atomic_store(&l->read_only, tail);
	atomic_store(&l->safe_read_only, tail);
	atomic_store(&l->head, start);
	atomic_store(&l->safe_head, start);
	atomic_store(&l->flushed_until, start);
	l->flush_next = page;
}
