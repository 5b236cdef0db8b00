/*
 * ckpt_files.h - the files of a checkpoint, written by checkpoint.c and
 * read back by recover.c.
 *
 * checkpoint_dir/ckpt-<version, 20 digits>/
 *   index   the hash index: u64 bucket count, then for every bucket a u32
 *           count and that many u64 entries (tag | address, as index.h
 *           packs them), main bucket and overflow chain together
 *   snapshot (snapshot checkpoints only) the log pages that were not on
 *           the device: for each, its page number (u64) and its bytes
 *   meta    struct fkv__ckpt_meta, written last: the checkpoint exists
 *           once it is durable
 * All are durable.h files (magic, format version, length, CRC32C),
 * integers little-endian.  A folder whose files do not all verify is
 * renamed "<folder>.invalid" by recovery; one without meta is an
 * unfinished checkpoint and is removed.
 *
 * Threads: any; nothing shared.
 */
#ifndef FKV_CKPT_FILES_H
#define FKV_CKPT_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "durable.h"

#define FKV__CKPT_FORMAT 2
#define FKV__CKPT_META_MAGIC 0x4d564b46u  /* "FKVM" */
#define FKV__CKPT_INDEX_MAGIC 0x49564b46u /* "FKVI" */
#define FKV__CKPT_META_FILE "meta"
#define FKV__CKPT_INDEX_FILE "index"
#define FKV__CKPT_SNAPSHOT_FILE "snapshot"
#define FKV__CKPT_SNAPSHOT_MAGIC 0x53564b46u /* "FKVS" */
/* At most this many entries of one bucket are written (a bucket chain
 * longer than this cannot be built: tags are 14 bits). */
#define FKV__CKPT_MAX_RUN 16384

struct fkv__ckpt_meta {
	uint64_t version;
	uint64_t page_bits;
	uint64_t segment_size;
	uint64_t begin;		    /* the log's begin address */
	uint64_t start;		    /* the tail when the index was copied */
	uint64_t in_progress_start; /* records of version + 1 lie above */
	uint64_t final;		    /* the log ends here */
	uint64_t index_buckets;
	uint64_t index_len; /* the index file's payload length and CRC32C */
	uint64_t index_crc;
	uint64_t created_ms;
	/* 1 for a snapshot checkpoint: the log pages from the device's
	 * flushed end up to final are in the snapshot file (its payload
	 * length and CRC32C) rather than on the device. */
	uint64_t snapshot;
	uint64_t snapshot_len, snapshot_crc;
	/* (session id, CPR point) pairs; owned by whoever filled them */
	uint64_t *points;
	uint64_t npoints;
};

/* Formats dir/ckpt-<version> into out. */
void fkv__ckpt_folder(const char *dir, uint64_t version, char *out, size_t len);

/* Lists the versions of dir's checkpoint folders (valid or not), in
 * increasing order, into *versions (malloc'd; the caller frees it).
 * Returns FKV_OK (also for a missing dir: none), FKV_OUT_OF_MEMORY. */
int fkv__ckpt_list(const char *dir, uint64_t **versions, size_t *n);

/* Removes a checkpoint folder: the metadata first (so that a crash
 * half-way leaves an unfinished checkpoint, never a valid-looking one),
 * then the rest.  Missing files are fine. */
void fkv__ckpt_remove(const char *folder);

/* Writes / reads and verifies folder/meta.  read fills *m (m->points
 * malloc'd) or answers FKV_CORRUPTION / FKV_IO_ERROR with the reason in
 * why. */
int fkv__ckpt_write_meta(const char *folder, const struct fkv__ckpt_meta *m);
int fkv__ckpt_read_meta(const char *folder, struct fkv__ckpt_meta *m, char *why,
			size_t why_len);

#endif
