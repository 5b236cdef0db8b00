/*
 * recover.c - recovery at open from the newest valid checkpoint.
 *
 *   1. choose: the checkpoint folders, newest first; the first whose
 *      metadata and index files verify (magic, version, lengths, CRC32C,
 *      and agreement with each other and with the device) wins.  Those
 *      that fail are logged with the reason and renamed "*.invalid";
 *      unfinished ones (no metadata) are removed.
 *   2. load the index file into the (empty) table.
 *   3. roll back index entries that point into the log written during the
 *      checkpoint (>= start) to their newest record of version <= V, the
 *      checkpoint's version: records of V + 1 (at or above
 *      in_progress_start, with V + 1's version bits) come after the CPR
 *      points and are dropped.
 *   4. replay [start, final) page by page: every record of V raises its
 *      entry to its address; every record of V + 1 is marked invalid, and
 *      the page is written back, so that no later reader sees it.
 *   5. the log resumes at final (everything below is on the device), in
 *      version V + 1.
 * Running it twice from the same checkpoint gives the same store.
 *
 * Threads: store open only, before any session.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "internal.h"

/* ---- 1. choose ----------------------------------------------------------- */

/* Checks the metadata against itself, the device and the index file.
 * Returns FKV_OK with *index (malloc'd) or FKV_CORRUPTION / FKV_IO_ERROR
 * with the reason in why. */
static int verify(fkv_store *st, const char *folder, uint64_t version,
		  struct fkv__ckpt_meta *m, void **index, size_t *index_len,
		  void **snap, size_t *snap_len, char *why, size_t why_len)
{
	*index = NULL;
	*snap = NULL;
	*snap_len = 0;
	int rc = fkv__ckpt_read_meta(folder, m, why, why_len);
	if (rc != FKV_OK)
		return rc;
	uint64_t page = UINT64_C(1) << (m->page_bits & 63);
	uint64_t seg = dev_segment_size(st->cfg.device);
	if (m->version != version) {
		snprintf(why, why_len, "metadata says version %llu",
			 (unsigned long long)m->version);
		return FKV_CORRUPTION;
	}
	if (m->page_bits < 12 || m->page_bits > 30 || m->begin > m->start ||
	    m->start > m->in_progress_start ||
	    m->in_progress_start > m->final || m->final > FKV__ADDR_MASK ||
	    m->index_buckets == 0 ||
	    (m->index_buckets & (m->index_buckets - 1)) != 0) {
		snprintf(why, why_len, "metadata addresses do not add up");
		return FKV_CORRUPTION;
	}
	if (m->segment_size != seg) {
		snprintf(why, why_len,
			 "written with segment-size %llu, the device has %llu",
			 (unsigned long long)m->segment_size,
			 (unsigned long long)seg);
		return FKV_CORRUPTION;
	}
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", folder, FKV__CKPT_INDEX_FILE);
	char inner[160];
	rc = fkv__durable_read(path, FKV__CKPT_INDEX_MAGIC, FKV__CKPT_FORMAT,
			       index, index_len, inner, sizeof(inner));
	if (rc == FKV_IO_ERROR)
		snprintf(inner, sizeof(inner), "%s", strerror(errno));
	if (rc != FKV_OK) {
		snprintf(why, why_len, "index file: %s", inner);
		return rc;
	}
	if (m->snapshot) {
		char spath[PATH_MAX + 64];
		snprintf(spath, sizeof(spath), "%s/%s", folder,
			 FKV__CKPT_SNAPSHOT_FILE);
		rc = fkv__durable_read(spath, FKV__CKPT_SNAPSHOT_MAGIC,
				       FKV__CKPT_FORMAT, snap, snap_len, inner,
				       sizeof(inner));
		if (rc == FKV_IO_ERROR)
			snprintf(inner, sizeof(inner), "%s", strerror(errno));
		if (rc == FKV_OK && (*snap_len != m->snapshot_len ||
				     fkv__crc32c(0, *snap, *snap_len) !=
					     (uint32_t)m->snapshot_crc ||
				     *snap_len % (8 + page) != 0)) {
			snprintf(inner, sizeof(inner),
				 "does not match the metadata");
			rc = FKV_CORRUPTION;
		}
		if (rc != FKV_OK) {
			free(*index);
			free(*snap);
			*index = *snap = NULL;
			snprintf(why, why_len, "snapshot file: %s", inner);
			return rc;
		}
	}
	if (*index_len != m->index_len ||
	    fkv__crc32c(0, *index, *index_len) != (uint32_t)m->index_crc ||
	    *index_len < 8 ||
	    fkv__get64((const uint8_t *)*index) != m->index_buckets) {
		free(*index);
		free(*snap);
		*index = *snap = NULL;
		snprintf(why, why_len,
			 "index file does not match the metadata");
		return FKV_CORRUPTION;
	}
	return FKV_OK;
}

static void set_aside(fkv_store *st, const char *folder, const char *why)
{
	char bad[PATH_MAX + 64];
	snprintf(bad, sizeof(bad), "%s.invalid", folder);
	fkv__ckpt_remove(bad);
	if (rename(folder, bad) == 0)
		fkv__log(st, 1,
			 "Checkpoint %s is not valid (%s): skipped, kept as "
			 "%s",
			 folder, why, bad);
	else
		fkv__log(st, 1, "Checkpoint %s is not valid (%s): skipped",
			 folder, why);
}

int fkv__recover_choose(fkv_store *st, unsigned *page_bits,
			uint64_t *index_buckets)
{
	uint64_t *versions;
	size_t n;
	int rc = fkv__ckpt_list(st->ckpt_dir, &versions, &n);
	if (rc != FKV_OK)
		return rc;
	for (size_t i = n; i-- > 0;) {
		char folder[PATH_MAX], meta[PATH_MAX + 64], why[256] = "";
		fkv__ckpt_folder(st->ckpt_dir, versions[i], folder,
				 sizeof(folder));
		snprintf(meta, sizeof(meta), "%s/%s", folder,
			 FKV__CKPT_META_FILE);
		if (access(meta, F_OK) != 0) {
			fkv__log(st, 0,
				 "Removing unfinished checkpoint %s (no "
				 "metadata)",
				 folder);
			fkv__ckpt_remove(folder);
			continue;
		}
		struct fkv__ckpt_meta *m = calloc(1, sizeof(*m));
		if (m == NULL) {
			free(versions);
			return FKV_OUT_OF_MEMORY;
		}
		void *index, *snap;
		size_t len, snap_len;
		rc = verify(st, folder, versions[i], m, &index, &len, &snap,
			    &snap_len, why, sizeof(why));
		if (rc == FKV_OUT_OF_MEMORY) {
			free(m->points);
			free(m);
			free(versions);
			return rc;
		}
		if (rc != FKV_OK) {
			free(m->points);
			free(m);
			st->recovered.skipped++;
			set_aside(st, folder, why);
			continue;
		}
		st->rec_meta = m;
		st->rec_index = index;
		st->rec_index_len = len;
		st->rec_snapshot = snap;
		st->rec_snapshot_len = snap_len;
		if (*page_bits != m->page_bits)
			fkv__log(
				st, 0,
				"The log keeps the page size of its checkpoint "
				"(%llu bytes)",
				(unsigned long long)1 << m->page_bits);
		*page_bits = (unsigned)m->page_bits;
		*index_buckets = m->index_buckets;
		break;
	}
	free(versions);
	return FKV_OK;
}

void fkv__recover_forget(fkv_store *st)
{
	if (st->rec_meta != NULL)
		free(st->rec_meta->points);
	free(st->rec_meta);
	free(st->rec_index);
	free(st->rec_snapshot);
	st->rec_meta = NULL;
	st->rec_index = NULL;
	st->rec_snapshot = NULL;
}

/* ---- 2. load ------------------------------------------------------------- */

static int load_index(fkv_store *st, uint64_t *entries)
{
	struct fkv__table *t = fkv__index_current(&st->index);
	const uint8_t *p = st->rec_index;
	size_t len = st->rec_index_len, off = 8;
	*entries = 0;
	for (uint64_t b = 0; b < t->size; b++) {
		if (off + 4 > len)
			return FKV_CORRUPTION;
		uint32_t k = fkv__get32(p + off);
		off += 4;
		if (k > FKV__CKPT_MAX_RUN || off + 8 * (size_t)k > len)
			return FKV_CORRUPTION;
		for (uint32_t i = 0; i < k; i++, off += 8) {
			int rc = fkv__index_restore(t, b, fkv__get64(p + off));
			if (rc < 0)
				return rc;
			*entries += (uint64_t)rc;
		}
	}
	return off == len ? FKV_OK : FKV_CORRUPTION;
}

/* ---- 3 and 4. roll back, replay ----------------------------------------- */

struct replay {
	fkv_store *st;
	const struct fkv__ckpt_meta *m;
	uint16_t next_version; /* V + 1's 12 bits */
	uint64_t dropped;
	uint64_t created;   /* index entries the replay added */
	uint8_t *tail_page; /* final's page below final, for the log */
};

/* Whether a record in [start, final) belongs to the checkpoint. */
static bool kept(const struct replay *r, uint64_t addr, uint64_t header)
{
	if (header & FKV__REC_INVALID)
		return false;
	return !(addr >= r->m->in_progress_start &&
		 fkv__hdr_version(header) == r->next_version);
}

static int roll_back(struct replay *r)
{
	fkv_store *st = r->st;
	struct fkv__table *t = fkv__index_current(&st->index);
	const struct fkv__ckpt_meta *m = r->m;
	struct fkv__record rec;
	for (uint64_t b = 0; b < t->size; b++) {
		struct fkv__bucket *bk = &t->buckets[b];
		for (;;) {
			for (int i = 0; i < FKV__BUCKET_ENTRIES; i++) {
				uint64_t e = atomic_load(&bk->entries[i]);
				uint64_t a = fkv__entry_addr(e);
				if (e == 0 || a < m->start)
					continue;
				while (a >= m->start) {
					if (a >= m->final)
						return FKV_CORRUPTION;
					int rc =
						dev_read_now(st->cfg.device, a,
							     &rec, sizeof(rec));
					if (rc != 0)
						return FKV_IO_ERROR;
					uint64_t h = fkv__rec_header(&rec);
					if (h == 0)
						return FKV_CORRUPTION;
					if (kept(r, a, h))
						break;
					a = fkv__hdr_prev(h);
				}
				atomic_store(
					&bk->entries[i],
					fkv__entry_make(fkv__entry_tag(e), a));
			}
			uint64_t o = atomic_load(&bk->overflow);
			if (o == 0)
				break;
			bk = fkv__index_ovf_bucket(t, o);
		}
	}
	return FKV_OK;
}

/* Replays one page held in buf; *dirty tells whether it changed. */
static int replay_page(struct replay *r, uint64_t page_addr, uint8_t *buf,
		       bool *dirty)
{
	fkv_store *st = r->st;
	struct fkv__hlog *l = &st->hlog;
	struct fkv__table *t = fkv__index_current(&st->index);
	uint64_t a = page_addr < FKV__LOG_START ? FKV__LOG_START : page_addr;
	uint64_t end = page_addr + l->page_size;
	if (end > r->m->final)
		end = r->m->final;
	*dirty = false;
	while (a + sizeof(struct fkv__record) <= end) {
		uint8_t *p = buf + (a - page_addr);
		struct fkv__record *rec = (struct fkv__record *)p;
		uint64_t h = fkv__rec_header(rec);
		if (h == 0)
			break; /* the rest of the page was never used */
		uint64_t size = fkv__record_size_at(l, a, p);
		if (size == 0)
			return FKV_CORRUPTION;
		if (a >= r->m->start) {
			if (!kept(r, a, h)) {
				if (!(h & FKV__REC_INVALID)) {
					atomic_store(&rec->header,
						     h | FKV__REC_INVALID);
					*dirty = true;
					r->dropped++;
				}
			} else {
				uint64_t hash = fkv__hash(fkv__rec_key(rec, h),
							  rec->key_len);
				uint64_t e =
					fkv__entry_make(fkv__hash_tag(hash), a);
				int rc = fkv__index_restore(t, hash, e);
				if (rc < 0)
					return rc;
				r->created += (uint64_t)rc;
			}
		}
		a += size;
	}
	return FKV_OK;
}

static int replay(struct replay *r)
{
	fkv_store *st = r->st;
	struct fkv__hlog *l = &st->hlog;
	const struct fkv__ckpt_meta *m = r->m;
	uint8_t *buf = malloc(l->page_size);
	if (buf == NULL)
		return FKV_OUT_OF_MEMORY;
	uint64_t first = fkv__addr_page(m->start, l->page_bits);
	uint64_t last = fkv__addr_page(m->final, l->page_bits);
	uint64_t off = fkv__addr_offset(m->final, l->page_bits);
	/* The page that holds final (when final is inside one) is replayed
	 * too, up to final; what lies above final there is cleared. */
	uint64_t end = off != 0 ? last + 1 : last;
	double t0 = fkv__mono_seconds(), shown = t0;
	int rc = FKV_OK;
	for (uint64_t p = first; p < end && rc == FKV_OK; p++) {
		uint64_t a = fkv__addr_make(p, 0, l->page_bits);
		if (dev_read_now(st->cfg.device, a, buf, l->page_size) != 0) {
			rc = FKV_IO_ERROR;
			break;
		}
		bool dirty;
		rc = replay_page(r, a, buf, &dirty);
		if (rc == FKV_OK && p == last) {
			memset(buf + off, 0, l->page_size - off);
			memcpy(r->tail_page, buf, off);
			dirty = true;
		}
		if (rc == FKV_OK && dirty)
			rc = fkv__hlog_write_wait(l, a, buf, l->page_size);
		double now = fkv__mono_seconds();
		if (now - shown >= 2.0) {
			fkv__log(st, 0,
				 "Recovery: replayed %llu of %llu log pages "
				 "(%.0f s)",
				 (unsigned long long)(p + 1 - first),
				 (unsigned long long)(end - first), now - t0);
			shown = now;
		}
	}
	free(buf);
	if (rc == FKV_OK && dev_flush(st->cfg.device) != 0)
		rc = FKV_IO_ERROR;
	return rc;
}

/* A snapshot checkpoint's pages go back to the device first: from then
 * on the device holds the checkpoint's log below final, as after a
 * fold-over. */
static int restore_snapshot(fkv_store *st)
{
	struct fkv__hlog *l = &st->hlog;
	const uint8_t *p = st->rec_snapshot;
	uint64_t last = fkv__addr_page(st->rec_meta->final, l->page_bits);
	for (size_t off = 0; off + 8 + l->page_size <= st->rec_snapshot_len;
	     off += 8 + l->page_size) {
		uint64_t page = fkv__get64(p + off);
		if (page > last)
			return FKV_CORRUPTION;
		int rc = fkv__hlog_write_wait(
			l, fkv__addr_make(page, 0, l->page_bits), p + off + 8,
			l->page_size);
		if (rc != FKV_OK)
			return rc;
	}
	return FKV_OK;
}

/* ---- 5. resume ----------------------------------------------------------- */

int fkv__recover(fkv_store *st)
{
	struct fkv__ckpt_meta *m = st->rec_meta;
	if (m == NULL) {
		fkv__log(st, st->recovered.skipped ? 1 : 0,
			 "No valid checkpoint in %s%s: starting empty",
			 st->ckpt_dir,
			 st->recovered.skipped ? " (see above)" : "");
		return FKV_OK;
	}
	double t0 = fkv__mono_seconds();
	fkv__log(st, 0,
		 "Recovering checkpoint %llu: %llu log bytes, index of %llu "
		 "buckets",
		 (unsigned long long)m->version,
		 (unsigned long long)(m->final - m->begin),
		 (unsigned long long)m->index_buckets);
	uint64_t entries;
	int rc = load_index(st, &entries);
	struct replay r = {
		.st = st,
		.m = m,
		.next_version =
			(uint16_t)((m->version + 1) & FKV__REC_VERSION_MASK),
		.tail_page = calloc(1, st->hlog.page_size),
	};
	if (r.tail_page == NULL)
		rc = FKV_OUT_OF_MEMORY;
	if (rc == FKV_OK)
		rc = restore_snapshot(st);
	if (rc == FKV_OK)
		rc = roll_back(&r);
	if (rc == FKV_OK)
		rc = replay(&r);
	if (rc != FKV_OK) {
		free(r.tail_page);
		fkv__log(st, 1, "Recovery of checkpoint %llu failed: %s",
			 (unsigned long long)m->version, fkv_strerror(rc));
		return rc;
	}
	fkv__hlog_restore(&st->hlog, m->begin, m->final, r.tail_page);
	free(r.tail_page);
	/* Entries of the recovered index, for growth and statistics. */
	st->retired[FKV__ST_INDEX_ENTRIES] = entries + r.created;
	atomic_store(&st->cpr.state,
		     fkv__cpr_make(FKV__CPR_REST, m->version + 1));
	st->recovered.recovered = true;
	st->recovered.version = m->version;
	st->recovered.final_address = m->final;
	st->recovered.replayed_bytes = m->final - m->start;
	st->recovered.checkpoint_bytes =
		FKV__DURABLE_HEADER + st->rec_index_len +
		(st->rec_snapshot != NULL
			 ? FKV__DURABLE_HEADER + st->rec_snapshot_len
			 : 0) +
		(m->final - m->begin);
	st->recovered.records_dropped = r.dropped;
	st->recovered.seconds = fkv__mono_seconds() - t0;
	st->recovered_points = m->points;
	st->nrecovered_points = m->npoints;
	m->points = NULL;
	fkv__log(st, 0,
		 "Recovered checkpoint %llu in %.3f s: %llu index entries, "
		 "%llu log bytes replayed, %llu records after the CPR points "
		 "dropped",
		 (unsigned long long)m->version, st->recovered.seconds,
		 (unsigned long long)entries,
		 (unsigned long long)st->recovered.replayed_bytes,
		 (unsigned long long)r.dropped);
	fkv__recover_forget(st);
	return FKV_OK;
}

void fkv_recovery_result(fkv_store *st, fkv_recovery_info *out)
{
	*out = st->recovered;
}

int fkv_recovered_serial(fkv_store *st, uint64_t session_id, uint64_t *serial)
{
	for (size_t i = 0; i < st->nrecovered_points; i++) {
		if (st->recovered_points[2 * i] == session_id) {
			*serial = st->recovered_points[2 * i + 1];
			return FKV_OK;
		}
	}
	return FKV_NOT_FOUND;
}
