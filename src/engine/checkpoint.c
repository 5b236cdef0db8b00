/*
 * checkpoint.c - taking a CPR checkpoint on a thread of its own: the
 * phases of cpr.h, the index file, the fold-over of the log, the metadata
 * and the retention of old checkpoints.  ckpt_files.h describes the files.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_files.h"
#include "device.h"
#include "durable.h"
#include "internal.h"

#ifndef CHECKPOINT_NICE
#define CHECKPOINT_NICE 10
#endif

uint64_t fkv__cpr_next(uint64_t state)
{
	uint64_t v = fkv__cpr_version(state);
	switch (fkv__cpr_phase(state)) {
	case FKV__CPR_REST:
		return fkv__cpr_make(FKV__CPR_INDEX, v);
	case FKV__CPR_INDEX:
		return fkv__cpr_make(FKV__CPR_PREPARE, v);
	case FKV__CPR_PREPARE:
		return fkv__cpr_make(FKV__CPR_IN_PROGRESS, v + 1);
	case FKV__CPR_IN_PROGRESS:
		return fkv__cpr_make(FKV__CPR_WAIT_PENDING, v);
	case FKV__CPR_WAIT_PENDING:
		return fkv__cpr_make(FKV__CPR_WAIT_FLUSH, v);
	case FKV__CPR_WAIT_FLUSH:
		return fkv__cpr_make(FKV__CPR_PERSIST, v);
	default:
		return fkv__cpr_make(FKV__CPR_REST, v);
	}
}

uint64_t fkv__cpr_abort(uint64_t state)
{
	return fkv__cpr_make(FKV__CPR_REST, fkv__cpr_version(state));
}

const char *fkv__cpr_phase_name(unsigned phase)
{
	static const char *const names[] = {
		"rest",		"index",      "prepare", "in-progress",
		"wait-pending", "wait-flush", "persist",
	};
	return phase < sizeof(names) / sizeof(names[0]) ? names[phase]
							: "unknown";
}

void fkv__log(fkv_store *st, int level, const char *fmt, ...)
{
	if (st->cfg.log == NULL)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->cfg.log(st->cfg.log_ctx, level, msg);
}

/* The checkpoint thread's wait between looks at what it waits for: long
 * enough not to wake up thousands of times a second on a core that the
 * workers need. */
static void nap(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
	nanosleep(&ts, NULL);
}

/* ---- One checkpoint ---------------------------------------------------- */

struct run {
	fkv_store *st;
	uint64_t flush_rate; /* bytes per second of log written, 0: no limit */
	int slot; /* this thread's epoch entry (to help an index growth) */
	char folder[PATH_MAX];
	fkv_checkpoint_info *info;
	struct fkv__ckpt_meta meta;
};

static int fail(struct run *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct run *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->info->error, sizeof(r->info->error), fmt, ap);
	va_end(ap);
	return status;
}

static void set_state(fkv_store *st, uint64_t state)
{
	atomic_store_explicit(&st->cpr.state, state, memory_order_seq_cst);
}

static void advance(fkv_store *st)
{
	set_state(st, fkv__cpr_next(atomic_load(&st->cpr.state)));
}

static void flag_done(void *ctx)
{
	atomic_store_explicit((_Atomic bool *)ctx, true, memory_order_release);
}

/* Returns once every session protected now has refreshed (or left):
 * each has then seen every change made before the call. */
static void wait_epoch(fkv_store *st)
{
	_Atomic bool done = false;
	fkv__epoch_bump(&st->epoch, flag_done, (void *)&done);
	while (!atomic_load_explicit(&done, memory_order_acquire)) {
		nap();
		fkv__epoch_drain(&st->epoch);
	}
}

/* Takes the index's growth flag (as fkv_clear does), helping a running
 * growth to its end first. */
static void hold_growth(struct run *r)
{
	struct fkv__index *ix = &r->st->index;
	while (!fkv__index_hold(ix)) {
		fkv__epoch_protect(&r->st->epoch, r->slot);
		fkv__index_grow_help(ix, UINT64_MAX);
		fkv__epoch_unprotect(&r->st->epoch, r->slot);
		nap();
	}
}

/* Writes the current table's entries, bucket by bucket (fuzzy: writers
 * go on meanwhile; recovery repairs from the log after r->meta.start). */
static int write_index(struct run *r)
{
	fkv_store *st = r->st;
	struct fkv__table *t = fkv__index_current(&st->index);
	struct fkv__durable_out out;
	if (fkv__durable_open(&out, r->folder, FKV__CKPT_INDEX_FILE,
			      FKV__CKPT_INDEX_MAGIC,
			      FKV__CKPT_FORMAT) != FKV_OK)
		return fail(r, FKV_IO_ERROR, "cannot create %s/%s: %s",
			    r->folder, FKV__CKPT_INDEX_FILE, strerror(errno));
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL) {
		fkv__durable_abort(&out);
		return fail(r, FKV_OUT_OF_MEMORY, "out of memory");
	}
	fkv__put64(buf, t->size);
	n = 8;
	int rc = FKV_OK;
	uint64_t entries[FKV__CKPT_MAX_RUN];
	for (uint64_t b = 0; b < t->size && rc == FKV_OK; b++) {
		uint32_t k = 0;
		struct fkv__bucket *bk = &t->buckets[b];
		for (;;) {
			for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
				uint64_t e = atomic_load_explicit(
					&bk->entries[i], memory_order_acquire);
				if (e == 0 || (e & FKV__ENTRY_TENTATIVE))
					continue;
				if (k == FKV__CKPT_MAX_RUN)
					break;
				entries[k++] = e;
			}
			uint64_t o = atomic_load_explicit(&bk->overflow,
							  memory_order_acquire);
			if (o == 0 || k == FKV__CKPT_MAX_RUN)
				break;
			bk = fkv__index_ovf_bucket(t, o);
		}
		if (n + 4 + 8 * (size_t)k > cap) {
			rc = fkv__durable_append(&out, buf, n);
			n = 0;
		}
		fkv__put32(buf + n, k);
		n += 4;
		for (uint32_t i = 0; i < k; i++, n += 8)
			fkv__put64(buf + n, entries[i]);
	}
	if (rc == FKV_OK)
		rc = fkv__durable_append(&out, buf, n);
	free(buf);
	r->meta.index_len = out.len;
	r->meta.index_crc = out.crc;
	r->meta.index_buckets = t->size;
	if (rc == FKV_OK)
		rc = fkv__durable_commit(&out);
	if (rc != FKV_OK)
		return fail(r, FKV_IO_ERROR, "cannot write %s/%s: %s",
			    r->folder, FKV__CKPT_INDEX_FILE, strerror(errno));
	r->info->index_bytes = out.len + FKV__DURABLE_HEADER;
	return FKV_OK;
}

/* Waits until the log is on the device up to `until` (a page boundary),
 * then syncs it. */
static int flush_until(struct run *r, uint64_t until)
{
	fkv_store *st = r->st;
	struct fkv__hlog *l = &st->hlog;
	while (fkv__hlog_load(&l->flushed_until) < until) {
		int err = atomic_load(&l->flush_error);
		if (err != 0)
			return fail(r, FKV_IO_ERROR,
				    "flushing the log failed: %s",
				    dev_strerror(err));
		nap();
		fkv__epoch_drain(&st->epoch);
	}
	int rc = dev_flush(st->cfg.device);
	if (rc != 0)
		return fail(r, FKV_IO_ERROR, "syncing the log failed: %s",
			    dev_strerror(rc));
	return FKV_OK;
}

/* Copies `len` bytes of a page under this thread's epoch protection (so
 * that its frame cannot be closed meanwhile), zeroing the rest of buf.
 * False if the page left memory first (it is on the device then). */
static bool copy_page(struct run *r, uint64_t page, uint64_t len, uint8_t *buf)
{
	fkv_store *st = r->st;
	fkv__epoch_protect(&st->epoch, r->slot);
	bool in_memory = fkv__hlog_copy_page(&st->hlog, page, len, buf);
	fkv__epoch_unprotect(&st->epoch, r->slot);
	memset(buf + len, 0, st->hlog.page_size - len);
	return in_memory;
}

/* A paced checkpoint (flush_rate bytes per second) moves read-only up to
 * `final` one page at a time, no faster than that rate, so that the
 * flush of the in-memory log, which competes with the workers for the
 * CPU, the memory bus and the page cache, is spread out.  Correctness does
 * not depend on it: sessions in V+1 change no V record in place whatever
 * read-only is (cpr.h). */
static void pace_read_only(struct run *r, uint64_t final)
{
	struct fkv__hlog *l = &r->st->hlog;
	if (r->flush_rate == 0)
		return;
	uint64_t from = fkv__hlog_load(&l->read_only);
	double t0 = fkv__mono_seconds();
	for (uint64_t b =
		     fkv__addr_page_start(from, l->page_bits) + l->page_size;
	     b < final; b += l->page_size) {
		double due = t0 + (double)(b - from) / (double)r->flush_rate;
		for (double now = fkv__mono_seconds(); now < due;
		     now = fkv__mono_seconds()) {
			nap();
			fkv__epoch_drain(&r->st->epoch);
		}
		(void)fkv__hlog_shift_read_only(l, b);
	}
}

/* Fold-over: read-only moves to the tail (final); the whole pages below
 * are flushed by the log one epoch after safe read-only passes them
 * (hlog.c), and the part of final's page below final is written here,
 * once safe read-only has passed it and one more epoch has gone by (no
 * operation can write those records, nor hold their locks). */
static int fold_over(struct run *r)
{
	fkv_store *st = r->st;
	struct fkv__hlog *l = &st->hlog;
	uint64_t final = fkv__hlog_tail(l);
	r->meta.final = final;
	pace_read_only(r, final);
	if (fkv__hlog_shift_read_only(l, final) != FKV_OK)
		return fail(r, FKV_OUT_OF_MEMORY, "out of memory");
	while (fkv__hlog_load(&l->safe_read_only) < final) {
		nap();
		fkv__epoch_drain(&st->epoch);
	}
	wait_epoch(st);
	uint64_t page = fkv__addr_page(final, l->page_bits);
	uint64_t off = fkv__addr_offset(final, l->page_bits);
	uint64_t start = fkv__addr_make(page, 0, l->page_bits);
	if (off != 0) {
		uint8_t *buf = malloc(l->page_size);
		if (buf == NULL)
			return fail(r, FKV_OUT_OF_MEMORY, "out of memory");
		int rc = FKV_OK;
		if (copy_page(r, page, off, buf))
			rc = fkv__hlog_write_wait(l, start, buf, off);
		free(buf);
		if (rc != FKV_OK)
			return fail(r, rc, "writing the log's tail failed");
	}
	return flush_until(r, start);
}

/* Snapshot: the pages from the device's flushed end up to final (the
 * last one up to final) are copied to the snapshot file, and the mutable
 * region stays mutable.  Sessions in V+1 change no V record in place
 * until REST, and recovery drops V+1 records, so a page copied while V+1
 * writers work on it is good enough. */
static int snapshot(struct run *r)
{
	fkv_store *st = r->st;
	struct fkv__hlog *l = &st->hlog;
	uint64_t final = fkv__hlog_tail(l);
	r->meta.final = final;
	/* Every operation that allocated below final has finished. */
	wait_epoch(st);
	uint64_t from =
		fkv__addr_page(fkv__hlog_load(&l->flushed_until), l->page_bits);
	uint64_t last = fkv__addr_page(final, l->page_bits);
	uint64_t off = fkv__addr_offset(final, l->page_bits);
	struct fkv__durable_out out;
	if (fkv__durable_open(&out, r->folder, FKV__CKPT_SNAPSHOT_FILE,
			      FKV__CKPT_SNAPSHOT_MAGIC,
			      FKV__CKPT_FORMAT) != FKV_OK)
		return fail(r, FKV_IO_ERROR, "cannot create %s/%s: %s",
			    r->folder, FKV__CKPT_SNAPSHOT_FILE,
			    strerror(errno));
	uint8_t *buf = malloc(8 + l->page_size);
	if (buf == NULL) {
		fkv__durable_abort(&out);
		return fail(r, FKV_OUT_OF_MEMORY, "out of memory");
	}
	int rc = FKV_OK;
	for (uint64_t p = from; p <= last && rc == FKV_OK; p++) {
		uint64_t len = p < last ? l->page_size : off;
		if (len == 0 || !copy_page(r, p, len, buf + 8))
			continue; /* nothing, or flushed and closed meanwhile */
		fkv__put64(buf, p);
		rc = fkv__durable_append(&out, buf, 8 + l->page_size);
	}
	free(buf);
	r->meta.snapshot = 1;
	r->meta.snapshot_len = out.len;
	r->meta.snapshot_crc = out.crc;
	if (rc == FKV_OK)
		rc = fkv__durable_commit(&out);
	if (rc != FKV_OK)
		return fail(r, FKV_IO_ERROR, "cannot write %s/%s: %s",
			    r->folder, FKV__CKPT_SNAPSHOT_FILE,
			    strerror(errno));
	r->info->index_bytes += out.len + FKV__DURABLE_HEADER;
	/* What the snapshot does not hold is on the device: make it durable
	 * (pages skipped above were flushed before their frames closed). */
	return flush_until(r, fkv__addr_make(from, 0, l->page_bits));
}

/* The sessions' CPR points: how many operations each completed in the
 * checkpoint's version.  Every live session has moved on by now, or is
 * suspended and will move before its next operation. */
static int collect_points(struct run *r)
{
	fkv_store *st = r->st;
	uint64_t next = fkv__cpr_version(atomic_load(&st->cpr.state));
	pthread_mutex_lock(&st->sessions_lock);
	size_t n = 0;
	for (fkv_session *s = st->sessions; s != NULL; s = s->next)
		n++;
	uint64_t *pts = calloc(n ? 2 * n : 1, sizeof(*pts));
	if (pts == NULL) {
		pthread_mutex_unlock(&st->sessions_lock);
		return fail(r, FKV_OUT_OF_MEMORY, "out of memory");
	}
	size_t i = 0;
	for (fkv_session *s = st->sessions; s != NULL; s = s->next, i++) {
		/* serial first: if it already counts operations of the next
		 * version, cpr_version shows the move (fkv__op_end stores
		 * with release order after fkv__cpr_refresh's store). */
		uint64_t serial =
			atomic_load_explicit(&s->serial, memory_order_acquire);
		uint64_t cv = atomic_load_explicit(&s->cpr_version,
						   memory_order_acquire);
		pts[2 * i] = s->id;
		pts[2 * i + 1] =
			cv == next ? atomic_load_explicit(&s->cpr_point,
							  memory_order_relaxed)
				   : serial;
	}
	pthread_mutex_unlock(&st->sessions_lock);
	r->meta.points = pts;
	r->meta.npoints = n;
	return FKV_OK;
}

/* Deletes all but the newest `keep` checkpoints. */
static void prune(fkv_store *st)
{
	uint64_t *versions;
	size_t n;
	if (fkv__ckpt_list(st->ckpt_dir, &versions, &n) != FKV_OK)
		return;
	uint32_t keep = st->cfg.checkpoint_keep;
	for (size_t i = 0; i + keep < n; i++) {
		char folder[PATH_MAX];
		fkv__ckpt_folder(st->ckpt_dir, versions[i], folder,
				 sizeof(folder));
		fkv__ckpt_remove(folder);
	}
	if (n > keep)
		(void)fkv__fsync_dir(st->ckpt_dir);
	free(versions);
}

static int take(struct run *r)
{
	fkv_store *st = r->st;
	struct fkv__hlog *l = &st->hlog;
	uint64_t state = atomic_load(&st->cpr.state);
	uint64_t v = fkv__cpr_version(state);
	r->info->version = v;
	r->meta.version = v;
	fkv__ckpt_folder(st->ckpt_dir, v, r->folder, sizeof(r->folder));
	if (mkdir(st->ckpt_dir, 0755) != 0 && errno != EEXIST)
		return fail(r, FKV_IO_ERROR, "cannot create %s: %s",
			    st->ckpt_dir, strerror(errno));
	/* A folder of this version can only be an unfinished one. */
	fkv__ckpt_remove(r->folder);
	if (mkdir(r->folder, 0755) != 0)
		return fail(r, FKV_IO_ERROR, "cannot create %s: %s", r->folder,
			    strerror(errno));
	uint64_t clears = atomic_load(&st->cpr.clears);

	/* INDEX: no growth while the table is copied.  Operations that
	 * allocated below `start` have all published once an epoch has
	 * passed, so the copy misses nothing older than start. */
	advance(st);
	hold_growth(r);
	r->meta.start = fkv__hlog_tail(l);
	wait_epoch(st);
	int rc = write_index(r);
	if (rc != FKV_OK) {
		fkv__index_release(&st->index);
		return rc;
	}

	/* PREPARE, then IN_PROGRESS: sessions move to v + 1.  Growth stays
	 * held until none is left in v: recovery loads the index at the
	 * copied size, and a split would let v records chain through one
	 * half of a bucket that table cannot tell apart. */
	advance(st);
	wait_epoch(st);
	uint64_t ips = fkv__hlog_tail(l);
	atomic_store_explicit(&st->cpr.in_progress_start, ips,
			      memory_order_relaxed);
	r->meta.in_progress_start = ips;
	advance(st);
	wait_epoch(st);
	fkv__index_release(&st->index);

	/* WAIT_PENDING: a pending operation of v changed nothing and runs
	 * again in v + 1 (fkv.h); nothing of v is left in flight. */
	advance(st);
	/* WAIT_FLUSH */
	advance(st);
	rc = st->cfg.checkpoint_snapshot ? snapshot(r) : fold_over(r);
	if (rc != FKV_OK)
		return rc;
	rc = collect_points(r);
	if (rc != FKV_OK)
		return rc;
	if (atomic_load(&st->cpr.clears) != clears)
		return fail(r, FKV_ABORTED,
			    "the data set was cleared (FLUSHALL) during the "
			    "checkpoint");

	/* PERSIST: the checkpoint exists once its metadata is durable. */
	advance(st);
	r->meta.page_bits = l->page_bits;
	r->meta.segment_size = dev_segment_size(st->cfg.device);
	r->meta.begin = fkv__hlog_load(&l->begin);
	r->meta.created_ms = fkv__wall_ms();
	rc = fkv__ckpt_write_meta(r->folder, &r->meta);
	if (rc != FKV_OK)
		return fail(r, rc, "cannot write %s/%s: %s", r->folder,
			    FKV__CKPT_META_FILE, strerror(errno));
	r->info->final_address = r->meta.final;
	r->info->log_bytes = r->meta.final - r->meta.begin;
	advance(st);
	prune(st);
	return FKV_OK;
}

static void *checkpoint_main(void *arg)
{
	fkv_store *st = arg;
	/* A background job: where it shares a core with the workers, they
	 * come first (Linux nice values are per thread). */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
			  CHECKPOINT_NICE);
	fkv_checkpoint_info info;
	memset(&info, 0, sizeof(info));
	info.started_ms = fkv__wall_ms();
	struct run r;
	memset(&r, 0, sizeof(r));
	r.st = st;
	r.info = &info;
	r.flush_rate = st->ckpt_flush_rate;
	r.slot = fkv__epoch_acquire(&st->epoch);
	if (r.slot < 0)
		info.status = fail(&r, FKV_ABORTED, "no free epoch entry");
	else
		info.status = take(&r);
	if (info.status != FKV_OK) {
		set_state(st, fkv__cpr_abort(atomic_load(&st->cpr.state)));
		if (r.folder[0] != '\0')
			fkv__ckpt_remove(r.folder);
		fkv__log(st, 1, "Checkpoint %llu failed: %s",
			 (unsigned long long)info.version, info.error);
	}
	if (r.slot >= 0)
		fkv__epoch_release(&st->epoch, r.slot);
	free(r.meta.points);
	info.finished_ms = fkv__wall_ms();
	if (st->ckpt_cb != NULL)
		st->ckpt_cb(st->ckpt_ctx, &info);
	pthread_mutex_lock(&st->ckpt_lock);
	st->ckpt_last = info;
	st->ckpt_running = false;
	pthread_cond_broadcast(&st->ckpt_done);
	pthread_mutex_unlock(&st->ckpt_lock);
	return NULL;
}

/* ---- The API ----------------------------------------------------------- */

int fkv_checkpoint_start(fkv_store *st, uint64_t flush_rate,
			 fkv_checkpoint_cb cb, void *ctx)
{
	if (st->cfg.device == NULL || st->ckpt_dir == NULL)
		return FKV_INVALID;
	pthread_mutex_lock(&st->ckpt_lock);
	if (st->ckpt_running) {
		pthread_mutex_unlock(&st->ckpt_lock);
		return FKV_ABORTED;
	}
	if (st->ckpt_joinable) {
		pthread_join(st->ckpt_thread, NULL);
		st->ckpt_joinable = false;
	}
	st->ckpt_cb = cb;
	st->ckpt_ctx = ctx;
	st->ckpt_flush_rate = flush_rate;
	st->ckpt_running = true;
	st->ckpt_ever = true;
	int rc = pthread_create(&st->ckpt_thread, NULL, checkpoint_main, st);
	if (rc != 0) {
		st->ckpt_running = false;
		pthread_mutex_unlock(&st->ckpt_lock);
		return FKV_OUT_OF_MEMORY;
	}
	st->ckpt_joinable = true;
	pthread_mutex_unlock(&st->ckpt_lock);
	return FKV_OK;
}

int fkv_checkpoint_wait(fkv_store *st, fkv_checkpoint_info *out)
{
	pthread_mutex_lock(&st->ckpt_lock);
	while (st->ckpt_running)
		pthread_cond_wait(&st->ckpt_done, &st->ckpt_lock);
	int rc = st->ckpt_ever ? st->ckpt_last.status : FKV_NOT_FOUND;
	if (out != NULL)
		*out = st->ckpt_last;
	pthread_mutex_unlock(&st->ckpt_lock);
	return rc;
}

int fkv_checkpoint_count(const char *dir)
{
	uint64_t *versions;
	size_t n;
	if (fkv__ckpt_list(dir, &versions, &n) != FKV_OK)
		return 1; /* unknown: assume there are some */
	free(versions);
	return (int)n;
}

bool fkv_checkpoint_running(fkv_store *st)
{
	pthread_mutex_lock(&st->ckpt_lock);
	bool running = st->ckpt_running;
	pthread_mutex_unlock(&st->ckpt_lock);
	return running;
}

const char *fkv_checkpoint_state(fkv_store *st, uint64_t *version)
{
	uint64_t w = atomic_load_explicit(&st->cpr.state, memory_order_acquire);
	*version = fkv__cpr_version(w);
	return fkv__cpr_phase_name(fkv__cpr_phase(w));
}

void fkv__checkpoint_join(fkv_store *st)
{
	fkv_checkpoint_wait(st, NULL);
	pthread_mutex_lock(&st->ckpt_lock);
	if (st->ckpt_joinable) {
		pthread_join(st->ckpt_thread, NULL);
		st->ckpt_joinable = false;
	}
	pthread_mutex_unlock(&st->ckpt_lock);
}
