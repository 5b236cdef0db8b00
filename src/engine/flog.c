/*
 * flog.c - FasterLog: appends, the flusher thread, commits, recovery,
 * reads and truncation (flog.h has the design).
 *
 * Addresses and frames
 *   Page p lives in frame p % pages while p is in [mem_page, mem_page +
 *   pages).  Appends may reserve below `limit`, the end of the last such
 *   page.  Frames hold [mem_begin, tail); below mem_begin everything is on
 *   the device.  The flusher writes [flushed, target) and recycles (zeroes)
 *   the frames of pages wholly below `flushed`, under frames_lock taken for
 *   writing; readers copy out of frames under it taken for reading.
 *
 * Completion
 *   Reservations are contiguous: every position in [FLOG_START, tail) is an
 *   entry header or a page-end filler, published last with release order.
 *   The flusher walks headers from `scanned` to its target, waiting on a
 *   header still zero: that entry's writer is between its reservation and
 *   its publication, which never blocks.
 */
#include "flog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "durable.h"

#define WRITTEN 0x80000000u	 /* header bit: the entry is published */
#define FILLER 0xffffffffu	 /* header: the rest of the page is unused */
#define COMMIT_MAGIC 0x31474c46u /* "FLG1" */
#define COMMIT_FORMAT 1u
#define COMMIT_BYTES 128
#define COMMIT_SLOT 4096 /* slot 1's offset: another disk block */

struct flog {
	/* Appenders' line: the tail and the entries below it. */
	_Atomic uint64_t tail __attribute__((aligned(64)));
	_Atomic uint64_t appended;
	/* Read-mostly by appenders. */
	_Atomic uint64_t limit __attribute__((aligned(64)));
	_Atomic uint64_t mem_begin;
	_Atomic uint64_t begin;
	_Atomic uint64_t committed;
	_Atomic uint64_t flushed;
	_Atomic uint64_t commit_want;
	_Atomic int failed;
	_Atomic uint64_t commits;

	uint8_t *frames;
	uint64_t page_size, mask, segment_size;
	uint32_t pages;
	int page_bits;
	uint64_t mem_page; /* flusher only */
	dev_device *dev;
	char dir[PATH_MAX];
	char why[160]; /* set once, before failed */

	pthread_rwlock_t frames_lock;

	/* lock guards stop and wakes the flusher (cond) and waiters (done). */
	pthread_mutex_t lock;
	pthread_cond_t cond, done;
	bool stop;
	pthread_t thread;
	_Atomic uint32_t interval_ms;
	_Atomic bool no_sync;
	flog_commit_fn on_commit;
	void *ctx;

	/* Flusher only: entries are complete below scanned. */
	uint64_t scanned, scanned_entries;

	/* commit_lock guards the commit file, seq, the entry counts and the
	 * moves of committed and begin; trunc_lock orders truncations. */
	pthread_mutex_t commit_lock, trunc_lock;
	int cfd;
	uint64_t seq, begin_entries, committed_entries;

	/* Device writes in flight (callbacks on the device's threads). */
	pthread_mutex_t io_lock;
	pthread_cond_t io_cond;
	int io_out, io_err;
};

static uint64_t pad4(uint64_t n)
{
	return (n + 3) & ~(uint64_t)3;
}

static uint8_t *at(const flog *l, uint64_t addr)
{
	return l->frames + ((addr >> l->page_bits) % l->pages) * l->page_size +
	       (addr & l->mask);
}

static uint32_t load_word(const uint8_t *p)
{
	return __atomic_load_n((const uint32_t *)(const void *)p,
			       __ATOMIC_ACQUIRE);
}

static void publish_word(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static uint32_t entry_crc(uint32_t len, const struct iovec *iov, int n)
{
	uint8_t lb[4];
	fkv__put32(lb, len);
	uint32_t c = fkv__crc32c(0, lb, 4);
	for (int i = 0; i < n; i++)
		c = fkv__crc32c(c, iov[i].iov_base, iov[i].iov_len);
	return c;
}

static void fail(flog *l, int status, const char *what, int err)
{
	int expect = 0;
	pthread_mutex_lock(&l->lock);
	if (atomic_load(&l->failed) == 0) {
		snprintf(l->why, sizeof(l->why), "%s: %s", what,
			 err != 0 ? dev_strerror(err) : "failed");
		atomic_compare_exchange_strong(&l->failed, &expect, status);
	}
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->lock);
}

/* ---- appending ------------------------------------------------------ */

static void wake_flusher(flog *l)
{
	pthread_mutex_lock(&l->lock);
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* Waits until an append ending at e fits the frames.  Returns FKV_OK or
 * the failure that stops the flusher from freeing any. */
static int wait_space(flog *l, uint64_t e)
{
	int rc = FKV_OK;
	pthread_mutex_lock(&l->lock);
	pthread_cond_signal(&l->cond);
	while (e > atomic_load(&l->limit) && !l->stop) {
		if ((rc = atomic_load(&l->failed)) != 0)
			break;
		pthread_cond_wait(&l->done, &l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

uint64_t flog_max_entry(const flog *l)
{
	return l->page_size - FLOG_HEADER;
}

int flog_appendv(flog *l, const struct iovec *iov, int n, uint64_t *addr,
		 uint64_t *end)
{
	uint64_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (len > flog_max_entry(l))
		return FKV_INVALID;
	uint64_t sz = FLOG_HEADER + pad4(len);
	uint64_t t = atomic_load_explicit(&l->tail, memory_order_relaxed);
	uint64_t a, e;
	for (;;) {
		a = t;
		if ((t & l->mask) + sz > l->page_size)
			a = (t | l->mask) + 1; /* the next page */
		e = a + sz;
		if (e > atomic_load_explicit(&l->limit, memory_order_acquire)) {
			int rc = wait_space(l, e);
			if (rc != FKV_OK)
				return rc;
			t = atomic_load_explicit(&l->tail,
						 memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(&l->tail, &t, e,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			break;
	}
	atomic_fetch_add_explicit(&l->appended, 1, memory_order_relaxed);
	uint8_t *p = at(l, a);
	fkv__put32(p + 4, entry_crc((uint32_t)len, iov, n));
	uint8_t *q = p + FLOG_HEADER;
	for (int i = 0; i < n; i++) {
		memcpy(q, iov[i].iov_base, iov[i].iov_len);
		q += iov[i].iov_len;
	}
	publish_word(p, (uint32_t)len | WRITTEN);
	if (a != t)
		publish_word(at(l, t), FILLER);
	/* A page just filled up: the flusher can write it. */
	if (a != t || (e & l->mask) == 0)
		wake_flusher(l);
	if (addr != NULL)
		*addr = a;
	if (end != NULL)
		*end = e;
	return FKV_OK;
}

int flog_append(flog *l, const void *p, size_t len, uint64_t *addr,
		uint64_t *end)
{
	struct iovec v = {.iov_base = (void *)p, .iov_len = len};
	return flog_appendv(l, &v, 1, addr, end);
}

/* ---- committing ----------------------------------------------------- */

uint64_t flog_commit_async(flog *l)
{
	uint64_t t = atomic_load(&l->tail);
	uint64_t w = atomic_load(&l->commit_want);
	while (w < t && !atomic_compare_exchange_weak(&l->commit_want, &w, t))
		;
	if (t > atomic_load(&l->committed))
		wake_flusher(l);
	return t;
}

/* The wall-clock time ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(uint64_t ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)(ms / 1000);
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	return dl;
}

bool flog_wait_committed(flog *l, uint64_t addr, int64_t timeout_ms)
{
	struct timespec dl =
		deadline_in(timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
	pthread_mutex_lock(&l->lock);
	while (atomic_load(&l->committed) < addr &&
	       atomic_load(&l->failed) == 0 && !l->stop) {
		if (timeout_ms < 0)
			pthread_cond_wait(&l->done, &l->lock);
		else if (pthread_cond_timedwait(&l->done, &l->lock, &dl) ==
			 ETIMEDOUT)
			break;
	}
	bool ok = atomic_load(&l->committed) >= addr;
	pthread_mutex_unlock(&l->lock);
	return ok;
}

int flog_commit(flog *l)
{
	uint64_t want = flog_commit_async(l);
	flog_wait_committed(l, want, -1);
	return atomic_load(&l->committed) >= want ? FKV_OK : FKV_IO_ERROR;
}

/* Writes a commit record into the next slot and syncs it.  Caller holds
 * commit_lock.  Returns 0 or -errno. */
static int write_commit(flog *l, uint64_t begin, uint64_t committed,
			uint64_t entries)
{
	uint8_t r[COMMIT_BYTES] = {0};
	uint64_t seq = l->seq + 1;
	fkv__put32(r, COMMIT_MAGIC);
	fkv__put32(r + 4, COMMIT_FORMAT);
	fkv__put64(r + 8, seq);
	fkv__put64(r + 16, begin);
	fkv__put64(r + 24, committed);
	fkv__put64(r + 32, l->begin_entries);
	fkv__put64(r + 40, entries);
	fkv__put64(r + 48, l->page_size);
	fkv__put64(r + 56, l->segment_size);
	fkv__put32(r + 64, fkv__crc32c(0, r, 64));
	off_t off = (seq & 1) ? COMMIT_SLOT : 0;
	if (pwrite(l->cfd, r, sizeof(r), off) != (ssize_t)sizeof(r))
		return errno != 0 ? -errno : -EIO;
	if (!atomic_load(&l->no_sync) && fdatasync(l->cfd) != 0)
		return -errno;
	l->seq = seq;
	return 0;
}

static void on_written(void *ctx, int status)
{
	flog *l = ctx;
	pthread_mutex_lock(&l->io_lock);
	if (status != 0 && l->io_err == 0)
		l->io_err = status;
	if (--l->io_out == 0)
		pthread_cond_signal(&l->io_cond);
	pthread_mutex_unlock(&l->io_lock);
}

/* Waits for every published entry below target (flusher). */
static void walk_to(flog *l, uint64_t target)
{
	uint64_t p = l->scanned;
	while (p < target) {
		uint32_t h;
		int spins = 0;
		while ((h = load_word(at(l, p))) == 0) {
			if (++spins > 64)
				sched_yield();
		}
		if (h == FILLER) {
			p = (p | l->mask) + 1;
			continue;
		}
		p += FLOG_HEADER + pad4(h & ~WRITTEN);
		l->scanned_entries++;
	}
	l->scanned = p;
}

/* Writes [flushed, target) to the device, on this thread where the
 * device can (dev_write_now), else through its I/O threads, and waits.
 * Returns 0 or the device's error. */
static int write_out(flog *l, uint64_t target)
{
	uint64_t from = atomic_load(&l->flushed);
	pthread_mutex_lock(&l->io_lock);
	l->io_err = 0;
	pthread_mutex_unlock(&l->io_lock);
	int err = 0;
	while (from < target && err == 0) {
		uint64_t end = (from | l->mask) + 1;
		if (end > target)
			end = target;
		int rc = dev_write_now(l->dev, from, at(l, from), end - from);
		if (rc == -ENOTSUP) {
			pthread_mutex_lock(&l->io_lock);
			l->io_out++;
			pthread_mutex_unlock(&l->io_lock);
			rc = dev_write(l->dev, from, at(l, from), end - from,
				       on_written, l);
			if (rc != 0)
				on_written(l, rc);
			rc = 0;
		}
		err = rc;
		from = end;
	}
	pthread_mutex_lock(&l->io_lock);
	while (l->io_out > 0)
		pthread_cond_wait(&l->io_cond, &l->io_lock);
	if (err == 0)
		err = l->io_err;
	pthread_mutex_unlock(&l->io_lock);
	if (err == 0)
		atomic_store(&l->flushed, target);
	return err;
}

/* Zeroes the frames of pages wholly written, making room for appends. */
static void recycle(flog *l)
{
	uint64_t flushed = atomic_load(&l->flushed);
	bool freed = false;
	while (((l->mem_page + 1) << l->page_bits) <= flushed) {
		pthread_rwlock_wrlock(&l->frames_lock);
		memset(at(l, l->mem_page << l->page_bits), 0, l->page_size);
		l->mem_page++;
		atomic_store(&l->mem_begin, l->mem_page << l->page_bits);
		atomic_store_explicit(&l->limit,
				      (l->mem_page + l->pages) << l->page_bits,
				      memory_order_release);
		pthread_rwlock_unlock(&l->frames_lock);
		freed = true;
	}
	if (freed) {
		pthread_mutex_lock(&l->lock);
		pthread_cond_broadcast(&l->done);
		pthread_mutex_unlock(&l->lock);
	}
}

/* One commit up to target (the flusher).  Returns 0 or an error. */
static int commit_to(flog *l, uint64_t target)
{
	if (!atomic_load(&l->no_sync)) {
		int rc = dev_flush(l->dev);
		if (rc != 0) {
			fail(l, FKV_IO_ERROR, "fsync of the log", rc);
			return rc;
		}
	}
	/* committed moves under commit_lock, with the record that says so:
	 * a truncation's record (flog_truncate) never names an older one. */
	pthread_mutex_lock(&l->commit_lock);
	int rc = write_commit(l, atomic_load(&l->begin), target,
			      l->scanned_entries);
	if (rc == 0) {
		l->committed_entries = l->scanned_entries;
		atomic_store(&l->committed, target);
	}
	pthread_mutex_unlock(&l->commit_lock);
	if (rc != 0) {
		fail(l, FKV_IO_ERROR, "commit record", rc);
		return rc;
	}
	atomic_fetch_add(&l->commits, 1);
	pthread_mutex_lock(&l->lock);
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->lock);
	if (l->on_commit != NULL)
		l->on_commit(l->ctx, target);
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *flusher(void *arg)
{
	flog *l = arg;
	uint32_t interval = atomic_load(&l->interval_ms);
	uint64_t next_commit = mono_ms() + interval;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		uint64_t tail = atomic_load(&l->tail);
		uint64_t now = mono_ms();
		if (atomic_load(&l->interval_ms) != interval) {
			interval = atomic_load(&l->interval_ms);
			next_commit = now + interval;
		}
		bool due = interval > 0 && now >= next_commit;
		bool want = atomic_load(&l->commit_want) >
				    atomic_load(&l->committed) ||
			    (due && tail > atomic_load(&l->committed));
		uint64_t whole = tail & ~l->mask;
		bool pages = whole > atomic_load(&l->flushed);
		if (atomic_load(&l->failed) != 0)
			want = pages = false;
		if (!want && !pages) {
			if (l->stop)
				break;
			if (due)
				next_commit = now + interval;
			if (interval > 0) {
				uint64_t ms = next_commit > now
						      ? next_commit - now
						      : 1;
				struct timespec dl = deadline_in(ms);
				pthread_cond_timedwait(&l->cond, &l->lock, &dl);
			} else {
				pthread_cond_wait(&l->cond, &l->lock);
			}
			continue;
		}
		pthread_mutex_unlock(&l->lock);
		uint64_t target = want ? tail : whole;
		if (target > atomic_load(&l->flushed)) {
			walk_to(l, target);
			int rc = write_out(l, target);
			if (rc != 0)
				fail(l, FKV_IO_ERROR, "log write", rc);
		}
		recycle(l);
		if (want && atomic_load(&l->failed) == 0) {
			commit_to(l, target);
			next_commit = mono_ms() + interval;
		}
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* ---- reading -------------------------------------------------------- */

/* Copies n bytes at addr (within one page, below tail) from memory or the
 * device.  Caller holds frames_lock for reading.  Returns FKV_OK,
 * FKV_INVALID (truncated) or FKV_IO_ERROR. */
static int copy_out(flog *l, uint64_t addr, void *buf, size_t n)
{
	if (addr >= atomic_load(&l->mem_begin)) {
		memcpy(buf, at(l, addr), n);
		return FKV_OK;
	}
	int rc = dev_read_now(l->dev, addr, buf, n);
	if (rc == DEV_ERR_TRUNCATED)
		return FKV_INVALID;
	return rc == 0 ? FKV_OK : FKV_IO_ERROR;
}

/* The header at addr (4-aligned, with room for a header before the page
 * ends): acquire from memory, or from the device. */
static int header_at(flog *l, uint64_t addr, uint32_t *h, uint32_t *crc)
{
	uint8_t b[FLOG_HEADER];
	if (addr >= atomic_load(&l->mem_begin)) {
		*h = load_word(at(l, addr));
		/* The checksum word is written before the header publishes
		 * it: read it only after seeing the header published. */
		*crc = (*h & WRITTEN) && *h != FILLER
			       ? fkv__get32(at(l, addr) + 4)
			       : 0;
		return FKV_OK;
	}
	int rc = copy_out(l, addr, b, sizeof(b));
	*h = fkv__get32(b);
	*crc = fkv__get32(b + 4);
	return rc;
}

/* Formats a reason into why (may be NULL) and returns rc. */
static int say(char *why, size_t n, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *why, size_t n, int rc, const char *fmt, ...)
{
	if (why != NULL && n > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int flog_read(flog *l, uint64_t *at_addr, uint64_t limit, void **entry,
	      uint32_t *len, uint64_t *next, char *why, size_t why_len)
{
	uint64_t addr = *at_addr;
	*entry = NULL;
	*len = 0;
	uint64_t begin = atomic_load(&l->begin);
	if (addr < begin)
		return say(why, why_len, FKV_INVALID,
			   "address %llu is below the log's begin "
			   "address %llu",
			   (unsigned long long)addr, (unsigned long long)begin);
	if (addr > limit)
		return say(why, why_len, FKV_INVALID,
			   "address %llu is beyond the end address %llu",
			   (unsigned long long)addr, (unsigned long long)limit);
	if (addr & 3)
		return say(why, why_len, FKV_INVALID,
			   "no entry starts at address %llu",
			   (unsigned long long)addr);
	pthread_rwlock_rdlock(&l->frames_lock);
	int rc;
	uint32_t h = 0, crc = 0;
	for (;;) {
		if (addr >= limit) {
			rc = FKV_NOT_FOUND;
			goto out;
		}
		/* No header fits the rest of the page: the next page. */
		if ((addr & l->mask) + FLOG_HEADER > l->page_size) {
			addr = (addr | l->mask) + 1;
			continue;
		}
		if ((rc = header_at(l, addr, &h, &crc)) != FKV_OK)
			goto io;
		if (h != FILLER)
			break;
		addr = (addr | l->mask) + 1;
	}
	uint64_t n = h & ~WRITTEN;
	uint64_t end = addr + FLOG_HEADER + pad4(n);
	if (h == 0 && addr >= atomic_load(&l->mem_begin)) {
		rc = FKV_PENDING;
		goto out;
	}
	if (!(h & WRITTEN) || n > flog_max_entry(l) || end > limit ||
	    ((addr & l->mask) + FLOG_HEADER + pad4(n)) > l->page_size) {
		rc = say(why, why_len, FKV_INVALID,
			 "no entry starts at address %llu",
			 (unsigned long long)addr);
		goto out;
	}
	/* The word after the entry tells whether the next entry went to the
	 * next page (a filler).  On the device it comes with the payload. */
	uint64_t mem_begin = atomic_load(&l->mem_begin);
	bool peek = end < limit && (end & l->mask) != 0;
	bool peek_dev = peek && end < mem_begin;
	uint64_t want = peek_dev ? end - addr - FLOG_HEADER + 4 : n;
	uint8_t *buf = malloc(want > 0 ? want : 1);
	if (buf == NULL) {
		rc = FKV_OUT_OF_MEMORY;
		goto out;
	}
	if ((rc = copy_out(l, addr + FLOG_HEADER, buf, want)) != FKV_OK) {
		free(buf);
		goto io;
	}
	uint32_t after = 0;
	if (peek_dev)
		after = fkv__get32(buf + want - 4);
	else if (peek)
		after = load_word(at(l, end));
	struct iovec v = {.iov_base = buf, .iov_len = n};
	if (entry_crc((uint32_t)n, &v, 1) != crc) {
		free(buf);
		/* Below committed it was written whole: damage.  Elsewhere
		 * (an address handed in by the caller) it is no entry. */
		rc = say(why, why_len,
			 addr < atomic_load(&l->committed) ? FKV_CORRUPTION
							   : FKV_INVALID,
			 "no entry starts at address %llu, or it fails "
			 "its checksum",
			 (unsigned long long)addr);
		goto out;
	}
	if (n == 0) {
		free(buf);
		buf = NULL;
	}
	*entry = buf;
	*len = (uint32_t)n;
	*at_addr = addr;
	if ((end & l->mask) + FLOG_HEADER > l->page_size || after == FILLER)
		end = (end | l->mask) + 1;
	*next = end;
	rc = FKV_OK;
	goto out;
io:
	if (rc == FKV_INVALID)
		say(why, why_len, FKV_INVALID, "address %llu was truncated",
		    (unsigned long long)addr);
	else
		say(why, why_len, rc, "reading the log at %llu",
		    (unsigned long long)addr);
out:
	pthread_rwlock_unlock(&l->frames_lock);
	return rc;
}

/* flog_scan, with or without checking each entry's checksum (a
 * truncation only walks the entries it drops). */
static int scan_pages(flog *l, uint64_t from, uint64_t limit, bool check,
		      flog_scan_fn fn, void *ctx, uint64_t *stopped)
{
	uint64_t p = from;
	int rc = FKV_OK;
	if (stopped != NULL)
		*stopped = p;
	if (from < atomic_load(&l->begin) ||
	    limit > atomic_load(&l->committed) || (from & 3) != 0)
		return FKV_INVALID;
	uint8_t *page = malloc(l->page_size);
	if (page == NULL)
		return FKV_OUT_OF_MEMORY;
	while (p < limit && rc == FKV_OK) {
		uint64_t pend = (p | l->mask) + 1;
		uint64_t stop = pend < limit ? pend : limit;
		uint64_t base = p;
		pthread_rwlock_rdlock(&l->frames_lock);
		rc = copy_out(l, base, page, stop - base);
		pthread_rwlock_unlock(&l->frames_lock);
		while (rc == FKV_OK && p < stop) {
			if ((p & l->mask) + FLOG_HEADER > l->page_size) {
				p = pend;
				break;
			}
			const uint8_t *e = page + (p - base);
			uint32_t h = fkv__get32(e);
			if (h == FILLER) {
				p = pend;
				break;
			}
			uint64_t n = h & ~WRITTEN;
			if (!(h & WRITTEN) || n > flog_max_entry(l) ||
			    p + FLOG_HEADER + pad4(n) > stop) {
				rc = FKV_INVALID;
				break;
			}
			struct iovec v = {.iov_base = (void *)(e + FLOG_HEADER),
					  .iov_len = n};
			if (check && entry_crc((uint32_t)n, &v, 1) !=
					     fkv__get32(e + 4)) {
				rc = FKV_CORRUPTION;
				break;
			}
			if (!fn(ctx, p, e + FLOG_HEADER, (uint32_t)n)) {
				free(page);
				if (stopped != NULL)
					*stopped = p;
				return FKV_OK;
			}
			p += FLOG_HEADER + pad4(n);
		}
	}
	free(page);
	if (stopped != NULL)
		*stopped = p;
	return rc;
}

/* ---- truncation ----------------------------------------------------- */

int flog_scan(flog *l, uint64_t from, uint64_t limit, flog_scan_fn fn,
	      void *ctx, uint64_t *stopped)
{
	return scan_pages(l, from, limit, true, fn, ctx, stopped);
}

static bool count_one(void *ctx, uint64_t addr, const void *entry, uint32_t len)
{
	(void)addr;
	(void)entry;
	(void)len;
	(*(uint64_t *)ctx)++;
	return true;
}

int flog_truncate(flog *l, uint64_t until, char *why, size_t why_len)
{
	/* trunc_lock orders truncations; commits go on while the dropped
	 * entries are counted, and wait only for the record's write. */
	pthread_mutex_lock(&l->trunc_lock);
	uint64_t begin = atomic_load(&l->begin);
	uint64_t committed = atomic_load(&l->committed);
	int rc = FKV_OK;
	if (until <= begin)
		goto out;
	if (until > committed) {
		rc = say(why, why_len, FKV_INVALID,
			 "address %llu is beyond the committed address "
			 "%llu",
			 (unsigned long long)until,
			 (unsigned long long)committed);
		goto out;
	}
	/* Counting the dropped entries also proves `until` is an entry
	 * boundary: the scan ends exactly there or fails. */
	uint64_t n = 0;
	rc = scan_pages(l, begin, until, false, count_one, &n, NULL);
	if (rc != FKV_OK) {
		say(why, why_len, rc,
		    rc == FKV_INVALID ? "no entry starts at address %llu"
				      : "reading the log at %llu",
		    (unsigned long long)until);
		goto out;
	}
	/* At a page's unused end (a reader's position when it was the
	 * tail), the log begins at the next page. */
	uint32_t h = 0, crc;
	pthread_rwlock_rdlock(&l->frames_lock);
	if (until < committed &&
	    ((until & l->mask) + FLOG_HEADER > l->page_size ||
	     (header_at(l, until, &h, &crc) == FKV_OK && h == FILLER)))
		until = (until | l->mask) + 1;
	pthread_rwlock_unlock(&l->frames_lock);
	pthread_mutex_lock(&l->commit_lock);
	l->begin_entries += n;
	int err = write_commit(l, until, atomic_load(&l->committed),
			       l->committed_entries);
	if (err != 0)
		l->begin_entries -= n;
	else
		atomic_store(&l->begin, until);
	pthread_mutex_unlock(&l->commit_lock);
	if (err != 0) {
		rc = say(why, why_len, FKV_IO_ERROR,
			 "writing the commit record (errno %llu)",
			 (unsigned long long)-err);
		goto out;
	}
	pthread_rwlock_wrlock(&l->frames_lock);
	dev_truncate(l->dev, until);
	pthread_rwlock_unlock(&l->frames_lock);
out:
	pthread_mutex_unlock(&l->trunc_lock);
	return rc;
}

/* ---- opening and closing -------------------------------------------- */

/* Reads commit slot `off`; returns true and fills r[] fields when valid. */
static bool read_slot(int fd, off_t off, uint64_t v[7])
{
	uint8_t r[COMMIT_BYTES];
	if (pread(fd, r, sizeof(r), off) != (ssize_t)sizeof(r))
		return false;
	if (fkv__get32(r) != COMMIT_MAGIC ||
	    fkv__get32(r + 4) != COMMIT_FORMAT ||
	    fkv__get32(r + 64) != fkv__crc32c(0, r, 64))
		return false;
	for (int i = 0; i < 7; i++)
		v[i] = fkv__get64(r + 8 + 8 * i);
	return true;
}

static bool all_zero(int fd)
{
	uint8_t b[COMMIT_SLOT + COMMIT_BYTES];
	ssize_t n = pread(fd, b, sizeof(b), 0);
	for (ssize_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Loads the newest valid commit record.  v: seq, begin, committed,
 * begin_entries, committed_entries, page_size, segment_size; all zero for
 * a log that never committed. */
static int load_commit(flog *l, uint64_t v[7], char *why, size_t why_len)
{
	uint64_t a[7], b[7];
	bool va = read_slot(l->cfd, 0, a),
	     vb = read_slot(l->cfd, COMMIT_SLOT, b);
	memset(v, 0, 7 * sizeof(*v));
	if (!va && !vb) {
		if (all_zero(l->cfd))
			return FKV_OK;
		return say(why, why_len, FKV_CORRUPTION,
			   "%s/commit: both commit records are damaged",
			   l->dir);
	}
	memcpy(v, (va && (!vb || a[0] > b[0])) ? a : b, 7 * sizeof(*v));
	uint64_t ps = v[5], seg = v[6];
	if (ps < 4096 || ps > (1u << 30) || (ps & (ps - 1)) != 0 || seg < ps ||
	    (seg & (seg - 1)) != 0)
		return say(why, why_len, FKV_CORRUPTION,
			   "%s/commit: bad page or segment size", l->dir);
	if (v[1] < FLOG_START || v[1] > v[2] || v[3] > v[4])
		return say(why, why_len, FKV_CORRUPTION,
			   "%s/commit: inconsistent addresses", l->dir);
	return FKV_OK;
}

static int mkdir_p(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int flog_open(const flog_config *cfg, flog **out, char *why, size_t why_len)
{
	*out = NULL;
	uint64_t ps = cfg->page_size ? cfg->page_size : (1u << 20);
	uint32_t pages = cfg->pages ? cfg->pages : 8;
	uint64_t seg = cfg->segment_size ? cfg->segment_size : (256u << 20);
	if (cfg->dir == NULL || ps < 4096 || ps > (1u << 30) ||
	    (ps & (ps - 1)) != 0 || pages < 2 || seg < ps ||
	    (seg & (seg - 1)) != 0)
		return say(why, why_len, FKV_INVALID,
			   "bad log configuration (page size %llu, %u pages, "
			   "segment size %llu)",
			   (unsigned long long)ps, pages,
			   (unsigned long long)seg);
	flog *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return FKV_OUT_OF_MEMORY;
	l->cfd = -1;
	l->page_size = ps;
	l->mask = ps - 1;
	l->segment_size = seg;
	l->pages = pages;
	l->page_bits = __builtin_ctzll(ps);
	atomic_init(&l->interval_ms, cfg->commit_interval_ms);
	atomic_init(&l->no_sync, cfg->no_sync);
	l->on_commit = cfg->on_commit;
	l->ctx = cfg->ctx;
	snprintf(l->dir, sizeof(l->dir), "%s", cfg->dir);
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&l->frames_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	pthread_cond_init(&l->done, NULL);
	pthread_mutex_init(&l->commit_lock, NULL);
	pthread_mutex_init(&l->trunc_lock, NULL);
	pthread_mutex_init(&l->io_lock, NULL);
	pthread_cond_init(&l->io_cond, NULL);
	int rc;
	char path[PATH_MAX + 16];
	if (mkdir_p(l->dir) != 0) {
		rc = say(why, why_len, FKV_IO_ERROR, "%s: %s", l->dir,
			 strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/commit", l->dir);
	bool fresh = access(path, F_OK) != 0;
	l->cfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->cfd < 0) {
		rc = say(why, why_len, FKV_IO_ERROR, "%s: %s", path,
			 strerror(errno));
		goto fail;
	}
	if (fresh && fkv__fsync_dir(l->dir) != 0) {
		rc = say(why, why_len, FKV_IO_ERROR, "%s: %s", l->dir,
			 strerror(errno));
		goto fail;
	}
	uint64_t v[7];
	if ((rc = load_commit(l, v, why, why_len)) != FKV_OK)
		goto fail;
	if (v[0] != 0) {
		/* An existing log keeps the sizes it was written with. */
		ps = v[5];
		seg = v[6];
		l->page_size = ps;
		l->mask = ps - 1;
		l->page_bits = __builtin_ctzll(ps);
		l->segment_size = seg;
	}
	uint64_t begin = v[0] ? v[1] : FLOG_START;
	uint64_t committed = v[0] ? v[2] : FLOG_START;
	l->seq = v[0];
	l->begin_entries = v[3];
	l->committed_entries = v[4];
	l->frames = calloc(pages, ps);
	if (l->frames == NULL) {
		rc = FKV_OUT_OF_MEMORY;
		goto fail;
	}
	rc = dev_open(cfg->device ? cfg->device : "file", l->dir, "data", seg,
		      &l->dev);
	if (rc != 0) {
		rc = say(why, why_len, FKV_IO_ERROR, "%s: device: %s", l->dir,
			 dev_strerror(rc));
		goto fail;
	}
	dev_share(l->dev);
	if (begin > FLOG_START)
		dev_truncate(l->dev, begin);
	atomic_init(&l->begin, begin);
	atomic_init(&l->committed, committed);
	atomic_init(&l->flushed, committed);
	atomic_init(&l->tail, committed);
	atomic_init(&l->commit_want, committed);
	atomic_init(&l->mem_begin, committed);
	atomic_init(&l->appended, v[4]);
	l->mem_page = committed >> l->page_bits;
	atomic_init(&l->limit, (l->mem_page + pages) << l->page_bits);
	l->scanned = committed;
	l->scanned_entries = v[4];
	if (pthread_create(&l->thread, NULL, flusher, l) != 0) {
		rc = say(why, why_len, FKV_IO_ERROR, "%s: thread: %s", l->dir,
			 strerror(errno));
		goto fail;
	}
	*out = l;
	return FKV_OK;
fail:
	dev_close(l->dev);
	if (l->cfd >= 0)
		close(l->cfd);
	free(l->frames);
	free(l);
	return rc;
}

void flog_close(flog *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	dev_close(l->dev);
	close(l->cfd);
	free(l->frames);
	pthread_rwlock_destroy(&l->frames_lock);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	pthread_cond_destroy(&l->done);
	pthread_mutex_destroy(&l->commit_lock);
	pthread_mutex_destroy(&l->trunc_lock);
	pthread_mutex_destroy(&l->io_lock);
	pthread_cond_destroy(&l->io_cond);
	free(l);
}

void flog_set_commit_interval(flog *l, uint32_t ms, bool no_sync)
{
	atomic_store(&l->no_sync, no_sync);
	atomic_store(&l->interval_ms, ms);
	wake_flusher(l);
}

uint64_t flog_begin(const flog *l)
{
	return atomic_load(&((flog *)l)->begin);
}

uint64_t flog_committed(const flog *l)
{
	return atomic_load(&((flog *)l)->committed);
}

uint64_t flog_tail(const flog *l)
{
	return atomic_load(&((flog *)l)->tail);
}

const char *flog_failed(flog *l)
{
	return atomic_load(&l->failed) != 0 ? l->why : NULL;
}

void flog_get_info(flog *l, flog_info *out)
{
	pthread_mutex_lock(&l->commit_lock);
	out->begin = atomic_load(&l->begin);
	out->committed = atomic_load(&l->committed);
	out->tail = atomic_load(&l->tail);
	uint64_t app = atomic_load(&l->appended);
	out->entries = app > l->begin_entries ? app - l->begin_entries : 0;
	pthread_mutex_unlock(&l->commit_lock);
	out->bytes = out->tail - out->begin;
	out->commits = atomic_load(&l->commits);
	out->page_size = l->page_size;
	out->failed = atomic_load(&l->failed);
}
