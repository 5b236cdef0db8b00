/*
 * store.c - store lifetime, sessions, refresh and statistics.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "internal.h"

const char *fkv_strerror(int status)
{
	switch (status) {
	case FKV_OK:
		return "ok";
	case FKV_PENDING:
		return "pending";
	case FKV_NOT_FOUND:
		return "not found";
	case FKV_OUT_OF_MEMORY:
		return "out of memory";
	case FKV_IO_ERROR:
		return "I/O error";
	case FKV_CORRUPTION:
		return "corruption";
	case FKV_ABORTED:
		return "aborted";
	case FKV_INVALID:
		return "invalid argument";
	default:
		return "unknown status";
	}
}

void fkv_config_default(fkv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->index_buckets = UINT64_C(1) << 20;
	cfg->log_memory_size = UINT64_C(1) << 30;
	cfg->page_size_bits = 25;
	cfg->mutable_fraction = 0.9;
	cfg->max_sessions = 256;
	cfg->huge_pages = true;
	cfg->index_auto_grow = true;
	cfg->cached_reads_inline = true;
}

/* Cache mode drops a page: counts the live records that go with it (those
 * still the newest of their key).  Runs in an epoch action, from a
 * protected thread, before the page is zeroed. */
static void count_evicted(void *ctx, uint64_t addr, const void *record)
{
	fkv_store *st = ctx;
	struct fkv__record *r = (struct fkv__record *)record;
	uint64_t h = fkv__rec_header(r);
	if (h & (FKV__REC_INVALID | FKV__REC_TOMBSTONE | FKV__REC_SEALED))
		return;
	const uint8_t *key = fkv__rec_key(r, h);
	uint64_t hash = fkv__hash(key, r->key_len);
	uint64_t entry;
	if (fkv__index_find(fkv__index_current(&st->index), hash, &entry) ==
	    NULL)
		return;
	/* Newer records sit above addr, still in memory. */
	for (uint64_t a = fkv__entry_addr(entry); a > addr;) {
		struct fkv__record *o =
			(struct fkv__record *)fkv__hlog_ptr(&st->hlog, a);
		uint64_t oh = fkv__rec_header(o);
		if (!(oh & FKV__REC_INVALID) &&
		    fkv__rec_key_eq(o, oh, key, r->key_len))
			return; /* superseded */
		a = fkv__hdr_prev(oh);
	}
	atomic_fetch_add_explicit(&st->evicted, 1, memory_order_relaxed);
}

int fkv_store_open(const fkv_config *cfg, fkv_store **out)
{
	if (cfg->max_sessions == 0 || cfg->max_sessions > 65536)
		return FKV_INVALID;
	/* The store holds cache-line aligned members (epoch, log, index). */
	fkv_store *st = aligned_alloc(64, (sizeof(*st) + 63) & ~(size_t)63);
	if (st == NULL)
		return FKV_OUT_OF_MEMORY;
	memset(st, 0, sizeof(*st));
	st->cfg = *cfg;
	if (st->cfg.checkpoint_keep == 0)
		st->cfg.checkpoint_keep = 1;
	if (cfg->checkpoint_dir != NULL) {
		st->ckpt_dir = strdup(cfg->checkpoint_dir);
		if (st->ckpt_dir == NULL) {
			free(st);
			return FKV_OUT_OF_MEMORY;
		}
	}
	st->cfg.checkpoint_dir = st->ckpt_dir;
	pthread_mutex_init(&st->ckpt_lock, NULL);
	pthread_cond_init(&st->ckpt_done, NULL);
	/* A checkpoint fixes the log's page size and the index's size. */
	unsigned page_bits = cfg->page_size_bits;
	uint64_t buckets = cfg->index_buckets;
	atomic_init(&st->cpr.state, fkv__cpr_make(FKV__CPR_REST, 1));
	int rc = FKV_OK;
	if (cfg->recover && cfg->device != NULL && st->ckpt_dir != NULL)
		rc = fkv__recover_choose(st, &page_bits, &buckets);
	if (rc != FKV_OK)
		goto fail_store;
	st->cfg.page_size_bits = page_bits;
	rc = fkv__epoch_init(&st->epoch, cfg->max_sessions);
	if (rc != FKV_OK)
		goto fail_store;
	rc = fkv__hlog_init(&st->hlog, cfg->log_memory_size, page_bits,
			    cfg->mutable_fraction, cfg->huge_pages, &st->epoch,
			    cfg->device, cfg->evict);
	if (rc != FKV_OK)
		goto fail_epoch;
	st->hlog.on_evict = count_evicted;
	st->hlog.evict_ctx = st;
	rc = fkv__index_init(&st->index, buckets, cfg->huge_pages, &st->hlog,
			     &st->epoch);
	if (rc != FKV_OK)
		goto fail_hlog;
	rc = fkv__cache_init(&st->cache, &st->hlog, cfg->read_cache_size);
	if (rc != FKV_OK)
		goto fail_index;
	st->cache.inline_reads = cfg->cached_reads_inline;
	if (cfg->device != NULL)
		dev_share(cfg->device);
	pthread_mutex_init(&st->sessions_lock, NULL);
	if (cfg->recover && cfg->device != NULL && st->ckpt_dir != NULL) {
		rc = fkv__recover(st);
		if (rc != FKV_OK) {
			/* The caller still owns the device on failure. */
			fkv__hlog_close(&st->hlog);
			dev_flush(cfg->device);
			st->cfg.device = NULL;
			fkv_store_close(st);
			return rc;
		}
	}
	*out = st;
	return FKV_OK;

fail_index:
	fkv__index_destroy(&st->index);
fail_hlog:
	fkv__hlog_destroy(&st->hlog);
fail_epoch:
	fkv__epoch_destroy(&st->epoch);
fail_store:
	fkv__recover_forget(st);
	pthread_mutex_destroy(&st->ckpt_lock);
	pthread_cond_destroy(&st->ckpt_done);
	free(st->ckpt_dir);
	free(st);
	return rc;
}

void fkv_store_close(fkv_store *st)
{
	if (st == NULL)
		return;
	fkv__checkpoint_join(st);
	/* No more flushes or head moves; the device finishes the writes and
	 * reads in flight (their completions find the epoch still there),
	 * then the deferred actions (a table to free, safe addresses) run. */
	fkv__hlog_close(&st->hlog);
	dev_close(st->cfg.device);
	fkv__epoch_destroy(&st->epoch);
	fkv__cache_destroy(&st->cache);
	fkv__index_destroy(&st->index);
	fkv__hlog_destroy(&st->hlog);
	pthread_mutex_destroy(&st->sessions_lock);
	pthread_mutex_destroy(&st->ckpt_lock);
	pthread_cond_destroy(&st->ckpt_done);
	fkv__recover_forget(st);
	free(st->recovered_points);
	free(st->ckpt_dir);
	free(st);
}

int64_t fkv__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double fkv__mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int fkv_session_start(fkv_store *st, fkv_session **out)
{
	fkv_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return FKV_OUT_OF_MEMORY;
	s->slot = fkv__epoch_acquire(&st->epoch);
	if (s->slot < 0) {
		free(s);
		return FKV_ABORTED;
	}
	s->store = st;
	s->efd = -1;
	s->id = atomic_fetch_add_explicit(&st->next_session_id, 1,
					  memory_order_relaxed) +
		1;
	s->version = UINT64_MAX; /* the first refresh sets it */
	if (st->cfg.device != NULL) {
		s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->efd < 0) {
			fkv__epoch_release(&st->epoch, s->slot);
			free(s);
			return FKV_OUT_OF_MEMORY;
		}
	}
	pthread_mutex_init(&s->done_lock, NULL);
	pthread_mutex_lock(&st->sessions_lock);
	s->next = st->sessions;
	if (st->sessions != NULL)
		st->sessions->prev = s;
	st->sessions = s;
	pthread_mutex_unlock(&st->sessions_lock);
	atomic_fetch_add_explicit(&st->nsessions, 1, memory_order_relaxed);
	fkv_refresh(s);
	*out = s;
	return FKV_OK;
}

void fkv_session_stop(fkv_session *s)
{
	fkv_store *st = s->store;
	fkv__epoch_unprotect(&st->epoch, s->slot);
	/* Reads this session waits for still hold its address: let them
	 * complete (they always do, with data or an error), and let the last
	 * deliverer leave done_lock before it goes. */
	while (atomic_load_explicit(&s->waiting, memory_order_acquire) > 0)
		sched_yield();
	pthread_mutex_lock(&s->done_lock);
	pthread_mutex_unlock(&s->done_lock);
	fkv__epoch_drain(&st->epoch);
	fkv__epoch_release(&st->epoch, s->slot);
	pthread_mutex_lock(&st->sessions_lock);
	for (int k = 0; k < FKV__ST_COUNT; k++)
		st->retired[k] += atomic_load_explicit(&s->stats[k],
						       memory_order_relaxed);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		st->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&st->sessions_lock);
	atomic_fetch_sub_explicit(&st->nsessions, 1, memory_order_relaxed);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->done_lock);
	free(s->done);
	free(s->disk_buf);
	free(s);
}

void fkv_session_set_waiter(fkv_session *s, void *token)
{
	s->waiter = token;
	s->went_pending = false;
}

bool fkv_session_went_pending(const fkv_session *s)
{
	return s->went_pending;
}

int fkv_session_event_fd(const fkv_session *s)
{
	return s->efd;
}

uint64_t fkv_session_pending(const fkv_session *s)
{
	return atomic_load_explicit(&((fkv_session *)s)->waiting,
				    memory_order_relaxed);
}

void fkv__session_deliver(fkv_session *s, void *token)
{
	pthread_mutex_lock(&s->done_lock);
	if (s->ndone == s->done_cap) {
		size_t cap = s->done_cap ? 2 * s->done_cap : 16;
		void **d = realloc(s->done, cap * sizeof(*d));
		if (d == NULL) {
			/* Cannot happen in practice; the waiter would hang,
			 * so keep trying rather than lose it. */
			pthread_mutex_unlock(&s->done_lock);
			sched_yield();
			fkv__session_deliver(s, token);
			return;
		}
		s->done = d;
		s->done_cap = cap;
	}
	s->done[s->ndone++] = token;
	/* The count drops inside the lock: fkv_session_stop may free s as
	 * soon as it reads zero. */
	uint64_t one = 1;
	ssize_t n = write(s->efd, &one, sizeof(one));
	(void)n;
	atomic_fetch_sub_explicit(&s->waiting, 1, memory_order_release);
	pthread_mutex_unlock(&s->done_lock);
}

int fkv_complete_pending(fkv_session *s, fkv_wake_cb cb, void *ctx)
{
	if (s->efd < 0)
		return 0;
	uint64_t count;
	ssize_t n = read(s->efd, &count, sizeof(count));
	(void)n;
	pthread_mutex_lock(&s->done_lock);
	void **list = s->done;
	size_t nlist = s->ndone;
	s->done = NULL;
	s->ndone = s->done_cap = 0;
	pthread_mutex_unlock(&s->done_lock);
	for (size_t i = 0; i < nlist; i++)
		cb(ctx, list[i]);
	free(list);
	return (int)nlist;
}

void fkv_session_suspend(fkv_session *s)
{
	fkv__epoch_unprotect(&s->store->epoch, s->slot);
}

void fkv_session_resume(fkv_session *s)
{
	fkv_refresh(s);
}

/* Index entries made for new keys (all sessions), less those swept. */
static uint64_t created_entries(fkv_store *st)
{
	pthread_mutex_lock(&st->sessions_lock);
	uint64_t n = st->retired[FKV__ST_INDEX_ENTRIES];
	for (fkv_session *x = st->sessions; x != NULL; x = x->next)
		n += atomic_load_explicit(&x->stats[FKV__ST_INDEX_ENTRIES],
					  memory_order_relaxed);
	pthread_mutex_unlock(&st->sessions_lock);
	return n;
}

void fkv_refresh(fkv_session *s)
{
	fkv_store *st = s->store;
	fkv__epoch_protect(&st->epoch, s->slot);
	fkv__cpr_refresh(s);
	s->ops = 0;
	s->now_ms = s->fixed_clock != 0 ? s->fixed_clock : fkv__wall_ms();
	struct fkv__index *ix = &st->index;
	if (atomic_load_explicit(&ix->grow_busy, memory_order_relaxed)) {
		fkv__index_grow_help(ix, 4);
	} else if (st->cfg.index_auto_grow) {
		/* Overflow buckets beyond a quarter of the table, and more
		 * keys' entries than buckets: double it.  (A split copies an
		 * entry whose chain continues on disk into both halves, since
		 * only the disk knows which keys go where; overflow alone
		 * would then call for growth after growth.)  The count takes
		 * the sessions' lock: one refresh in 8 looks. */
		struct fkv__table *t = fkv__index_current(ix);
		if (atomic_load_explicit(&t->pool.next, memory_order_relaxed) >
			    t->size / 4 &&
		    (++s->grow_checks & 7) == 0 &&
		    created_entries(st) > t->size)
			(void)fkv__index_grow_start(ix);
	}
}

void fkv__cpr_refresh(fkv_session *s)
{
	uint64_t v = fkv__cpr_version(atomic_load_explicit(
		&s->store->cpr.state, memory_order_acquire));
	if (s->version == v)
		return;
	atomic_store_explicit(
		&s->cpr_point,
		atomic_load_explicit(&s->serial, memory_order_relaxed),
		memory_order_relaxed);
	atomic_store_explicit(&s->cpr_version, v, memory_order_release);
	s->version = v;
}

uint64_t fkv_session_id(const fkv_session *s)
{
	return s->id;
}

uint64_t fkv_session_version(const fkv_session *s)
{
	return s->version;
}

int64_t fkv_session_clock(const fkv_session *s)
{
	return s->now_ms;
}

void fkv_session_set_clock(fkv_session *s, int64_t ms)
{
	s->fixed_clock = ms;
	s->now_ms = ms != 0 ? ms : fkv__wall_ms();
}

void fkv_store_advance_version(fkv_store *st, uint64_t version)
{
	uint64_t w = atomic_load(&st->cpr.state);
	if (fkv__cpr_phase(w) == FKV__CPR_REST && fkv__cpr_version(w) < version)
		atomic_store(&st->cpr.state,
			     fkv__cpr_make(FKV__CPR_REST, version));
}

int fkv_grow_index(fkv_session *s, bool wait)
{
	struct fkv__index *ix = &s->store->index;
	int rc = fkv__index_grow_start(ix);
	if (rc != FKV_OK || !wait)
		return rc;
	/* Done once the new table is current and the old one is freed (so
	 * that another growth may start at once). */
	for (;;) {
		fkv__epoch_protect(&s->store->epoch, s->slot);
		fkv__cpr_refresh(s); /* a refresh: the checkpoint counts it */
		if (!fkv__index_grow_help(ix, UINT64_MAX) &&
		    !atomic_load_explicit(&ix->grow_busy, memory_order_acquire))
			return FKV_OK;
		sched_yield();
	}
}

void fkv_store_stats(fkv_store *st, fkv_stats *out)
{
	uint64_t sum[FKV__ST_COUNT];
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->sessions_lock);
	memcpy(sum, st->retired, sizeof(sum));
	for (fkv_session *s = st->sessions; s != NULL; s = s->next)
		for (int k = 0; k < FKV__ST_COUNT; k++)
			sum[k] += atomic_load_explicit(&s->stats[k],
						       memory_order_relaxed);
	pthread_mutex_unlock(&st->sessions_lock);

	out->reads = sum[FKV__ST_READS];
	out->read_hits = sum[FKV__ST_READ_HITS];
	out->read_misses = sum[FKV__ST_READ_MISSES];
	out->upserts = sum[FKV__ST_UPSERTS];
	out->upserts_in_place = sum[FKV__ST_UPSERTS_IN_PLACE];
	out->upserts_appended = sum[FKV__ST_UPSERTS_APPENDED];
	out->rmws = sum[FKV__ST_RMWS];
	out->rmws_in_place = sum[FKV__ST_RMWS_IN_PLACE];
	out->rmws_copied = sum[FKV__ST_RMWS_COPIED];
	out->rmws_initial = sum[FKV__ST_RMWS_INITIAL];
	out->rmws_aborted = sum[FKV__ST_RMWS_ABORTED];
	out->deletes = sum[FKV__ST_DELETES];
	out->deletes_in_place = sum[FKV__ST_DELETES_IN_PLACE];
	out->deletes_appended = sum[FKV__ST_DELETES_APPENDED];
	out->retries = sum[FKV__ST_RETRIES];
	out->index_entries = sum[FKV__ST_INDEX_ENTRIES];

	out->index_buckets = atomic_load_explicit(&st->index.stat_size,
						  memory_order_relaxed);
	out->index_overflow_buckets = atomic_load_explicit(
		&st->index.stat_overflow, memory_order_relaxed);
	out->index_grows =
		atomic_load_explicit(&st->index.grows, memory_order_relaxed);
	struct fkv__hlog *l = &st->hlog;
	out->log_begin = fkv__hlog_load(&l->begin);
	out->log_head = fkv__hlog_load(&l->head);
	out->log_safe_read_only = fkv__hlog_load(&l->safe_read_only);
	out->log_read_only = fkv__hlog_load(&l->read_only);
	out->log_tail = fkv__hlog_tail(l);
	out->log_bytes = out->log_tail - out->log_begin;
	out->log_memory_size = l->mem_size;
	out->log_flushed_until = fkv__hlog_load(&l->flushed_until);
	out->log_flush_waits =
		atomic_load_explicit(&l->flush_waits, memory_order_relaxed);
	out->log_flush_error = atomic_load(&l->flush_error);
	out->evicted_records =
		atomic_load_explicit(&st->evicted, memory_order_relaxed);
	struct fkv__cache *c = &st->cache;
	out->disk_reads = atomic_load_explicit(&c->reads, memory_order_relaxed);
	out->pending_reads =
		atomic_load_explicit(&c->inflight, memory_order_relaxed);
	out->read_cache_hits =
		atomic_load_explicit(&c->hits, memory_order_relaxed);
	out->read_cache_misses =
		atomic_load_explicit(&c->misses, memory_order_relaxed);
	fkv__cache_stats(c, &out->read_cache_bytes, &out->read_cache_entries);
	out->copies_to_tail = sum[FKV__ST_COPIES_TO_TAIL];
	out->clears = sum[FKV__ST_CLEARS];
	out->sessions =
		atomic_load_explicit(&st->nsessions, memory_order_relaxed);
}
