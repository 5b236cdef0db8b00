/*
 * fetch.c - records read from the device: see fetch.h.
 *
 * Locking: a shard's mutex guards its table, its CLOCK list, its byte
 * count and every field of its entries except the read buffer, which only
 * the read's own completion touches while the entry is READING (entries
 * are never evicted while READING, so the completion's pointer stays
 * valid).  The completion publishes the buffer by changing the state under
 * the shard's mutex.
 */
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "internal.h"

/* The first read of a record: most records fit; larger ones take a second
 * read of their exact size. */
#define FETCH_READ 1024

enum { READING, FOUND, ABSENT, FAILED };

struct waiter {
	struct waiter *next;
	fkv_session *s;
	void *token;
};

struct fkv__fetch {
	struct fkv__fetch *next;       /* in the shard's table bucket */
	struct fkv__fetch *clock_next; /* the shard's CLOCK list */
	struct fkv__cache *cache;
	struct fkv__fetch_shard *shard;
	uint64_t start; /* the chain address the operation reached */
	uint64_t hash;
	uint64_t addr; /* being read; the record's address once FOUND */
	int state;
	int error;
	bool ref; /* CLOCK: used since the hand last passed */
	int pins; /* callers waiting in place: not evicted meanwhile */
	uint8_t *buf;
	uint32_t buf_len; /* bytes read into buf */
	uint64_t charged; /* bytes counted in shard->bytes */
	struct waiter *waiters;
	uint32_t key_len;
	uint8_t key[];
};

static uint64_t mix(uint64_t addr, uint64_t hash)
{
	uint64_t x = (addr * UINT64_C(0x9e3779b97f4a7c15)) ^ hash;
	x ^= x >> 29;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	return x ^ (x >> 32);
}

static struct fkv__fetch_shard *shard_of(struct fkv__cache *c, uint64_t m)
{
	return &c->shards[m % FKV__FETCH_SHARDS];
}

static uint64_t entry_bytes(const struct fkv__fetch *e)
{
	return sizeof(*e) + e->key_len + e->buf_len;
}

int fkv__cache_init(struct fkv__cache *c, struct fkv__hlog *log,
		    uint64_t budget)
{
	memset(c, 0, sizeof(*c));
	c->log = log;
	if (budget < (UINT64_C(4) << 20))
		budget = UINT64_C(4) << 20;
	c->shard_budget = budget / FKV__FETCH_SHARDS;
	for (int i = 0; i < FKV__FETCH_SHARDS; i++) {
		struct fkv__fetch_shard *sh = &c->shards[i];
		pthread_mutex_init(&sh->lock, NULL);
		pthread_cond_init(&sh->done, NULL);
		sh->mask = 63;
		sh->table = calloc(sh->mask + 1, sizeof(*sh->table));
		if (sh->table == NULL) {
			fkv__cache_destroy(c);
			return FKV_OUT_OF_MEMORY;
		}
	}
	return FKV_OK;
}

void fkv__cache_destroy(struct fkv__cache *c)
{
	for (int i = 0; i < FKV__FETCH_SHARDS; i++) {
		struct fkv__fetch_shard *sh = &c->shards[i];
		struct fkv__fetch *e = sh->clock_head;
		while (e != NULL) {
			struct fkv__fetch *n = e->clock_next;
			free(e->buf);
			free(e);
			e = n;
		}
		free(sh->table);
		sh->table = NULL;
		pthread_cond_destroy(&sh->done);
		pthread_mutex_destroy(&sh->lock);
	}
}

void fkv__cache_stats(struct fkv__cache *c, uint64_t *bytes, uint64_t *entries)
{
	*bytes = *entries = 0;
	for (int i = 0; i < FKV__FETCH_SHARDS; i++) {
		struct fkv__fetch_shard *sh = &c->shards[i];
		pthread_mutex_lock(&sh->lock);
		*bytes += sh->bytes;
		*entries += sh->count;
		pthread_mutex_unlock(&sh->lock);
	}
}

/* ---- The shard's table (under its lock) -------------------------------- */

static struct fkv__fetch **bucket(struct fkv__fetch_shard *sh, uint64_t m)
{
	return &sh->table[(m >> 6) & sh->mask];
}

static struct fkv__fetch *lookup(struct fkv__fetch_shard *sh, uint64_t m,
				 uint64_t addr, uint64_t hash, const void *key,
				 uint32_t key_len)
{
	for (struct fkv__fetch *e = *bucket(sh, m); e != NULL; e = e->next)
		if (e->start == addr && e->hash == hash &&
		    e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
			return e;
	return NULL;
}

static void grow_table(struct fkv__fetch_shard *sh)
{
	uint64_t n = (sh->mask + 1) * 2;
	struct fkv__fetch **t = calloc(n, sizeof(*t));
	if (t == NULL)
		return; /* longer chains, still correct */
	struct fkv__fetch **old = sh->table;
	uint64_t old_n = sh->mask + 1;
	sh->table = t;
	sh->mask = n - 1;
	for (uint64_t i = 0; i < old_n; i++) {
		struct fkv__fetch *e = old[i];
		while (e != NULL) {
			struct fkv__fetch *next = e->next;
			struct fkv__fetch **b =
				bucket(sh, mix(e->start, e->hash));
			e->next = *b;
			*b = e;
			e = next;
		}
	}
	free(old);
}

static void unlink_entry(struct fkv__fetch_shard *sh, struct fkv__fetch *e)
{
	struct fkv__fetch **p = bucket(sh, mix(e->start, e->hash));
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	sh->count--;
	sh->bytes -= e->charged;
}

/* Removes an entry from the table and the CLOCK list and frees it. */
static void drop_entry(struct fkv__fetch_shard *sh, struct fkv__fetch *e)
{
	unlink_entry(sh, e);
	struct fkv__fetch **p = &sh->clock_head, *prev = NULL;
	while (*p != e) {
		prev = *p;
		p = &(*p)->clock_next;
	}
	*p = e->clock_next;
	if (sh->clock_tail == e)
		sh->clock_tail = prev;
	free(e->buf);
	free(e);
}

/* Evicts in CLOCK order until the shard fits its budget: a used entry gets
 * a second chance, an entry being read is skipped. */
static void shrink(struct fkv__cache *c, struct fkv__fetch_shard *sh)
{
	uint64_t budget = 2 * sh->count + 2;
	while (sh->bytes > c->shard_budget && sh->clock_head != NULL &&
	       budget-- > 0) {
		struct fkv__fetch *e = sh->clock_head;
		if (e->state != READING && !e->ref && e->pins == 0) {
			sh->clock_head = e->clock_next;
			if (sh->clock_tail == e)
				sh->clock_tail = NULL;
			unlink_entry(sh, e);
			free(e->buf);
			free(e);
			continue;
		}
		e->ref = false;
		if (e->clock_next == NULL)
			break; /* the only entry */
		sh->clock_head = e->clock_next;
		e->clock_next = NULL;
		sh->clock_tail->clock_next = e;
		sh->clock_tail = e;
	}
}

/* ---- Reading ------------------------------------------------------------ */

/* Bytes from addr to the end of its page: no record crosses it. */
static uint64_t page_room(const struct fkv__hlog *l, uint64_t addr)
{
	return l->page_size - fkv__addr_offset(addr, l->page_bits);
}

uint64_t fkv__record_size_at(const struct fkv__hlog *l, uint64_t addr,
			     const uint8_t *buf)
{
	const struct fkv__record *r = (const struct fkv__record *)buf;
	uint64_t h = fkv__rec_header(r);
	uint64_t size = fkv__record_size(r->key_len, r->val_cap,
					 (h & FKV__REC_EXPIRY) != 0);
	if (h == 0 || size > page_room(l, addr) ||
	    atomic_load_explicit(&((struct fkv__record *)r)->val_len,
				 memory_order_relaxed) > r->val_cap)
		return 0;
	return size;
}

/* Sets the final state, wakes whoever waits, and hands tokens back. */
static void finish(struct fkv__fetch *e, int state, int error)
{
	struct fkv__fetch_shard *sh = e->shard;
	struct fkv__cache *c = e->cache;
	/* Keep only the record (reads fetch 1 KiB), or nothing: the cache's
	 * budget counts what it holds. */
	if (state == FOUND) {
		uint32_t size =
			(uint32_t)fkv__record_size_at(c->log, e->addr, e->buf);
		uint8_t *b = size < e->buf_len ? realloc(e->buf, size) : NULL;
		if (b != NULL) {
			e->buf = b;
			e->buf_len = size;
		}
	} else {
		free(e->buf);
		e->buf = NULL;
		e->buf_len = 0;
	}
	pthread_mutex_lock(&sh->lock);
	e->state = state;
	e->error = error;
	uint64_t bytes = entry_bytes(e);
	sh->bytes += bytes - e->charged;
	e->charged = bytes;
	struct waiter *w = e->waiters;
	e->waiters = NULL;
	/* Whoever went pending comes back for it soon. */
	e->ref = w != NULL;
	atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
	pthread_cond_broadcast(&sh->done);
	shrink(c, sh);
	pthread_mutex_unlock(&sh->lock);
	while (w != NULL) {
		struct waiter *next = w->next;
		fkv__session_deliver(w->s, w->token);
		free(w);
		w = next;
	}
}

static void on_read(void *ctx, int status);

/* Grows e->buf for a read of `len` bytes at e->addr (less where the page
 * ends first).  Returns the length to read, or 0 without memory. */
static uint32_t prepare_buf(struct fkv__fetch *e, uint32_t len)
{
	uint64_t room = page_room(e->cache->log, e->addr);
	if (len > room)
		len = (uint32_t)room;
	uint8_t *buf = realloc(e->buf, fkv__pad8(len));
	if (buf == NULL)
		return 0;
	e->buf = buf;
	e->buf_len = len;
	atomic_fetch_add_explicit(&e->cache->reads, 1, memory_order_relaxed);
	return len;
}

/* Judges what a read of e->addr (status) brought into e->buf.  Returns a
 * final state (with *error), or READING with *len set when another read
 * is needed: the rest of a large record, or the next record of the chain
 * (e->addr moved to it). */
static int examine(struct fkv__fetch *e, int status, uint32_t *len, int *error)
{
	struct fkv__hlog *l = e->cache->log;
	*error = FKV_CORRUPTION;
	if (status != 0) {
		*error = status == DEV_ERR_TRUNCATED ? FKV_NOT_FOUND
						     : FKV_IO_ERROR;
		return FAILED;
	}
	uint64_t size = fkv__record_size_at(l, e->addr, e->buf);
	if (size == 0)
		return FAILED;
	struct fkv__record *r = (struct fkv__record *)e->buf;
	uint64_t h = fkv__rec_header(r);
	if (size > e->buf_len) {
		*len = (uint32_t)size;
		return READING;
	}
	if (!(h & FKV__REC_INVALID) &&
	    fkv__rec_key_eq(r, h, e->key, e->key_len)) {
		*error = FKV_OK;
		return FOUND;
	}
	uint64_t prev = fkv__hdr_prev(h);
	if (prev < FKV__LOG_START || prev < fkv__hlog_load(&l->begin)) {
		*error = FKV_NOT_FOUND;
		return ABSENT;
	}
	if (prev >= e->addr)
		return FAILED; /* chains only go down */
	e->addr = prev;
	*len = FETCH_READ;
	return READING;
}

static void on_read(void *ctx, int status);

/* Reads `len` bytes of e->addr asynchronously.  On failure finishes the
 * entry. */
static void start_read(struct fkv__fetch *e, uint32_t len)
{
	len = prepare_buf(e, len);
	if (len == 0) {
		finish(e, FAILED, FKV_OUT_OF_MEMORY);
		return;
	}
	int rc = dev_read(e->cache->log->dev, e->addr, e->buf, len, on_read, e);
	if (rc != 0)
		finish(e, FAILED,
		       rc == DEV_ERR_TRUNCATED ? FKV_NOT_FOUND : FKV_IO_ERROR);
}

/* A read completed (a device I/O thread). */
static void on_read(void *ctx, int status)
{
	struct fkv__fetch *e = ctx;
	uint32_t len;
	int error;
	int state = examine(e, status, &len, &error);
	if (state == READING)
		start_read(e, len);
	else
		finish(e, state, error);
}

/* Follows e's chain on this thread for as long as the reads need not wait
 * for the disk (dev_read_nowait: the page cache has the data), or, with
 * may_wait, with reads that wait (dev_read_now).  e is READING, and only
 * this caller reads into it.  Returns true when it finished e; false when
 * a read would wait: *len is then what an asynchronous read of e->addr
 * must fetch. */
static bool walk_now(struct fkv__fetch *e, bool may_wait, uint32_t *len)
{
	struct dev_device *dev = e->cache->log->dev;
	*len = FETCH_READ;
	if (!may_wait && !e->cache->inline_reads)
		return false;
	for (;;) {
		uint32_t n = prepare_buf(e, *len);
		if (n == 0) {
			finish(e, FAILED, FKV_OUT_OF_MEMORY);
			return true;
		}
		int rc = may_wait ? dev_read_now(dev, e->addr, e->buf, n)
				  : dev_read_nowait(dev, e->addr, e->buf, n);
		if (rc == -EAGAIN || rc == -ENOTSUP) {
			/* Not counted: the asynchronous read will be. */
			atomic_fetch_sub_explicit(&e->cache->reads, 1,
						  memory_order_relaxed);
			return false;
		}
		int error;
		int state = examine(e, rc, len, &error);
		if (state != READING) {
			finish(e, state, error);
			return true;
		}
	}
}

/* Reads a new entry's record: at once when the data is in memory (or the
 * caller may wait), else asynchronously.  Called without the shard lock;
 * the caller keeps e pinned if it will look at e again. */
static void fetch(struct fkv__fetch *e, bool may_wait)
{
	uint32_t len;
	if (!walk_now(e, may_wait, &len))
		start_read(e, len);
}

/* Creates an entry in the READING state (shard locked).  NULL without
 * memory. */
static struct fkv__fetch *create(struct fkv__cache *c,
				 struct fkv__fetch_shard *sh, uint64_t m,
				 uint64_t addr, uint64_t hash, const void *key,
				 uint32_t key_len)
{
	struct fkv__fetch *e = calloc(1, sizeof(*e) + key_len);
	if (e == NULL)
		return NULL;
	e->cache = c;
	e->shard = sh;
	e->start = e->addr = addr;
	e->hash = hash;
	e->state = READING;
	e->key_len = key_len;
	memcpy(e->key, key, key_len);
	struct fkv__fetch **b = bucket(sh, m);
	e->next = *b;
	*b = e;
	if (sh->clock_tail != NULL)
		sh->clock_tail->clock_next = e;
	else
		sh->clock_head = e;
	sh->clock_tail = e;
	e->charged = entry_bytes(e);
	sh->bytes += e->charged;
	if (++sh->count > sh->mask + 1)
		grow_table(sh);
	atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed);
	return e;
}

/* Copies a found record into the session's buffer (shard locked). */
static int hand_over(fkv_session *s, struct fkv__fetch *e,
		     struct fkv__record **rec, uint64_t *rec_addr)
{
	if (s->disk_cap < e->buf_len) {
		uint32_t cap = (uint32_t)fkv__pad8(e->buf_len);
		uint8_t *b = aligned_alloc(8, cap);
		if (b == NULL)
			return FKV_OUT_OF_MEMORY;
		free(s->disk_buf);
		s->disk_buf = b;
		s->disk_cap = cap;
	}
	memcpy(s->disk_buf, e->buf, e->buf_len);
	*rec = (struct fkv__record *)s->disk_buf;
	*rec_addr = e->addr;
	return FKV_OK;
}

int fkv__cache_get(struct fkv__cache *c, fkv_session *s, uint64_t addr,
		   uint64_t hash, const void *key, uint32_t key_len,
		   struct fkv__record **rec, uint64_t *rec_addr)
{
	uint64_t m = mix(addr, hash);
	struct fkv__fetch_shard *sh = shard_of(c, m);
	pthread_mutex_lock(&sh->lock);
	struct fkv__fetch *e = lookup(sh, m, addr, hash, key, key_len);
	bool start = false;
	if (e == NULL) {
		e = create(c, sh, m, addr, hash, key, key_len);
		if (e == NULL) {
			pthread_mutex_unlock(&sh->lock);
			return FKV_OUT_OF_MEMORY;
		}
		start = true;
	} else {
		/* Found, or already being read (a prefetch, another
		 * operation): no read of our own. */
		atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
	}
	/* Pinned while we look at it: a completion's CLOCK sweep cannot free
	 * it under us. */
	bool in_place = s->waiter == NULL;
	e->pins++;
	uint32_t async_len = 0; /* a read still to start, after the token */
	if (start) {
		/* At once if the data is in memory (or we may wait); else the
		 * read starts once our token is on the entry, so that its
		 * completion cannot miss it. */
		pthread_mutex_unlock(&sh->lock);
		uint32_t len;
		if (!walk_now(e, in_place, &len)) {
			if (in_place)
				start_read(e, len);
			else
				async_len = len;
		}
		pthread_mutex_lock(&sh->lock);
	}
	while (e->state == READING) {
		if (in_place) {
			pthread_cond_wait(&sh->done, &sh->lock);
			continue;
		}
		if (!s->went_pending) {
			/* One token per command; later reads go on like
			 * prefetches, and the retry will find them. */
			struct waiter *w = malloc(sizeof(*w));
			if (w == NULL) {
				e->pins--;
				pthread_mutex_unlock(&sh->lock);
				if (async_len != 0)
					start_read(e, async_len);
				return FKV_OUT_OF_MEMORY;
			}
			w->s = s;
			w->token = s->waiter;
			w->next = e->waiters;
			e->waiters = w;
			atomic_fetch_add_explicit(&s->waiting, 1,
						  memory_order_relaxed);
			s->went_pending = true;
		}
		e->pins--;
		pthread_mutex_unlock(&sh->lock);
		if (async_len != 0)
			start_read(e, async_len);
		return FKV_PENDING;
	}
	e->pins--;
	int rc;
	e->ref = true;
	switch (e->state) {
	case FOUND:
		rc = hand_over(s, e, rec, rec_addr);
		break;
	case ABSENT:
		rc = FKV_NOT_FOUND;
		break;
	default:
		/* A failed read is reported, and the entry dropped so that
		 * the next caller tries again. */
		rc = e->error;
		if (e->pins == 0)
			drop_entry(sh, e);
		break;
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

void fkv__cache_prefetch(struct fkv__cache *c, uint64_t addr, uint64_t hash,
			 const void *key, uint32_t key_len)
{
	uint64_t m = mix(addr, hash);
	struct fkv__fetch_shard *sh = shard_of(c, m);
	pthread_mutex_lock(&sh->lock);
	struct fkv__fetch *e = lookup(sh, m, addr, hash, key, key_len);
	if (e != NULL) {
		pthread_mutex_unlock(&sh->lock);
		return;
	}
	e = create(c, sh, m, addr, hash, key, key_len);
	pthread_mutex_unlock(&sh->lock);
	if (e != NULL)
		fetch(e, false);
}

/* ---- Synchronous record reads (scans) ------------------------------------ */

/* Reads len bytes at addr into buf on this thread (dev_read_now).
 * Returns FKV_OK or FKV_IO_ERROR. */
static int read_wait(struct fkv__hlog *l, uint64_t addr, void *buf,
		     uint32_t len)
{
	return dev_read_now(l->dev, addr, buf, len) == 0 ? FKV_OK
							 : FKV_IO_ERROR;
}

int fkv__disk_read_record(struct fkv__hlog *l, uint64_t addr, uint8_t **buf,
			  uint32_t *cap)
{
	uint64_t room = page_room(l, addr);
	uint32_t len = (uint32_t)(room < FETCH_READ ? room : FETCH_READ);
	for (int pass = 0; pass < 2; pass++) {
		if (*cap < len) {
			uint8_t *b = realloc(*buf, fkv__pad8(len));
			if (b == NULL)
				return FKV_OUT_OF_MEMORY;
			*buf = b;
			*cap = (uint32_t)fkv__pad8(len);
		}
		int rc = read_wait(l, addr, *buf, len);
		if (rc != FKV_OK)
			return rc;
		uint64_t size = fkv__record_size_at(l, addr, *buf);
		if (size == 0)
			return FKV_CORRUPTION;
		if (size <= len)
			return FKV_OK;
		len = (uint32_t)size;
	}
	return FKV_CORRUPTION;
}
