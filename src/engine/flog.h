/*
 * flog.h - FasterLog: a durable append-only log of byte entries with group
 * commit (the seed's second component, issue 6).
 *
 * Layout
 *   A log lives in one folder: its data on a device (files "data.<seg>",
 *   at byte offsets equal to log addresses) and a commit file "commit".
 *   Addresses start at FLOG_START.  An entry is an 8-byte header (length
 *   with a "written" bit, CRC32C of the length and the payload) and the
 *   payload, padded to 4 bytes.  Entries never span a page: an entry that
 *   does not fit in the rest of a page goes to the next one, and a filler
 *   word marks the skipped end.  So the largest entry is page_size - 8.
 *
 * Appending (any thread, lock-free)
 *   An append reserves its bytes at the tail with one compare-and-swap,
 *   copies the payload into the page's memory frame and publishes the
 *   header last (release).  Only when the frames are all taken by pages not
 *   yet written to the device does it wait for the flusher (backpressure).
 *
 * Flushing and committing (the log's own thread)
 *   Full pages go to the device as soon as they are complete.  A commit
 *   writes everything below the tail it saw, fsyncs the device (or, with
 *   sync off, leaves it to the OS) and then writes a commit record: begin,
 *   committed address and entry count, with a sequence number and a CRC32C,
 *   into one of two slots of the commit file, alternately, and fsyncs it.
 *   A torn commit write damages at most one slot, and the other still
 *   holds the previous commit.  One commit covers every append before it
 *   (group commit); commits run every commit_interval_ms, when asked
 *   (flog_commit_async, flog_commit) and never overlap.
 *
 * Recovery (flog_open)
 *   Trusts exactly [begin, committed) of the newest valid commit record;
 *   the tail resumes at the committed address, and whatever a crash left on
 *   the device above it (torn pages, entries with bad checksums) is
 *   overwritten by later appends.  A log that never committed opens empty.
 *
 * Reading
 *   Entries below the in-memory part are read from the device on the
 *   calling thread (pread; usually the page cache); the others are copied
 *   from memory.  An address not at an entry boundary is refused: its
 *   header fails the written bit, the length bounds or the checksum.
 *
 * Errors: FKV_* statuses (fkv.h).  After a failed device write or fsync
 * the log stops committing and flog_failed() says why; appends still work
 * but nothing more becomes durable.
 */
#ifndef FLOG_H
#define FLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fkv.h"

typedef struct flog flog;

#define FLOG_START 64 /* the first entry's address */
#define FLOG_HEADER 8 /* bytes before each payload */

/* Called on the log's thread after every successful commit with the new
 * committed address; it must not block or call back into the log except
 * for the address getters. */
typedef void (*flog_commit_fn)(void *ctx, uint64_t committed);

typedef struct flog_config {
	const char *dir;	     /* the log's folder; created if missing */
	const char *device;	     /* "file" (default when NULL) or "null" */
	uint64_t page_size;	     /* power of two, 4 KB .. 1 GB; 0: 1 MB
				   * (an existing log keeps its own) */
	uint32_t pages;		     /* memory frames, >= 2; 0: 8 */
	uint64_t segment_size;	     /* device segment, power of two >= page
				   * (an existing log keeps its own) */
	uint32_t commit_interval_ms; /* automatic commits; 0: none */
	bool no_sync;		     /* commits reach the OS, not the disk */
	flog_commit_fn on_commit;    /* may be NULL */
	void *ctx;
} flog_config;

/* Opens (creating it when missing) and recovers the log in cfg->dir, and
 * starts its thread.  Returns FKV_OK and sets *out; FKV_INVALID (bad
 * config), FKV_IO_ERROR, FKV_CORRUPTION (both commit slots damaged, or
 * impossible values in the record) or
 * FKV_OUT_OF_MEMORY, with the reason in why[why_len]. */
int flog_open(const flog_config *cfg, flog **out, char *why, size_t why_len);

/* Stops the thread and frees the log.  Nothing is committed: call
 * flog_commit first to keep the tail.  No other call may be running. */
void flog_close(flog *l);

/* Appends one entry made of the n pieces in iov (their lengths summed).
 * Sets *addr to its address (may be NULL) and *end to the address after
 * it (may be NULL): the entry is durable once flog_committed() >= *end.
 * Returns FKV_OK or FKV_INVALID (larger than flog_max_entry).  Any
 * thread; may wait while every frame waits for the device. */
int flog_appendv(flog *l, const struct iovec *iov, int n, uint64_t *addr,
		 uint64_t *end);
int flog_append(flog *l, const void *p, size_t len, uint64_t *addr,
		uint64_t *end);

/* The largest entry a log of this page size takes. */
uint64_t flog_max_entry(const flog *l);

/* Asks for a commit of everything appended so far and returns at once;
 * returns the address the commit will reach.  Any thread. */
uint64_t flog_commit_async(flog *l);

/* Commits everything appended before the call and waits until it is
 * durable.  Returns FKV_OK or FKV_IO_ERROR (the log failed).  Any thread
 * but the log's own. */
int flog_commit(flog *l);

/* Waits until flog_committed() >= addr or timeout_ms passes (< 0: no
 * limit).  Returns true when reached.  Any thread. */
bool flog_wait_committed(flog *l, uint64_t addr, int64_t timeout_ms);

/* Changes the automatic commit interval (0: none) and whether commits
 * skip fsync.  Any thread. */
void flog_set_commit_interval(flog *l, uint32_t ms, bool no_sync);

/* Addresses: begin (entries below were truncated), committed (durable
 * below), tail (next append).  Any thread. */
uint64_t flog_begin(const flog *l);
uint64_t flog_committed(const flog *l);
uint64_t flog_tail(const flog *l);

typedef struct flog_info {
	uint64_t begin, committed, tail;
	uint64_t entries; /* in [begin, tail) */
	uint64_t bytes;	  /* tail - begin */
	uint64_t commits; /* commits written since open */
	uint64_t page_size;
	int failed; /* 0, or the status that stopped commits */
} flog_info;

void flog_get_info(flog *l, flog_info *out);

/* Why commits stopped (a static or log-owned string), or NULL. */
const char *flog_failed(flog *l);

/* Reads the entry at *addr, which must lie in [begin, limit] where limit
 * <= tail; an address at the unused end of a page (a filler) reads the
 * next page's first entry, and *addr is moved to it.  On FKV_OK *entry
 * (malloc'd; the caller frees it, NULL for an empty entry), *len and
 * *next (the address after the entry) are set.  Returns FKV_NOT_FOUND
 * when nothing lies at *addr below limit yet, FKV_PENDING when the entry
 * there is still being written, FKV_INVALID (below begin, above limit,
 * or not an entry boundary: see why), FKV_CORRUPTION (a committed entry
 * fails its checksum), FKV_IO_ERROR or FKV_OUT_OF_MEMORY.  why (may be
 * NULL) gets a reason.  Any thread. */
int flog_read(flog *l, uint64_t *addr, uint64_t limit, void **entry,
	      uint32_t *len, uint64_t *next, char *why, size_t why_len);

/* Calls fn(ctx, address, entry, len) for each entry in [from, limit) in
 * order, where limit <= committed; fn returns false to stop.  Reads a
 * page at a time (one device read per page), checking every entry's
 * checksum; the entry pointer is valid during the call only.  *stopped
 * (may be NULL) gets the address it stopped at.  Returns FKV_OK (fn
 * stopped it, or it reached limit), FKV_INVALID (from is not an entry
 * boundary, or out of [begin, committed]), FKV_CORRUPTION (an entry fails
 * its checksum: *stopped is its address), FKV_IO_ERROR or
 * FKV_OUT_OF_MEMORY.  Any thread. */
typedef bool (*flog_scan_fn)(void *ctx, uint64_t addr, const void *entry,
			     uint32_t len);
int flog_scan(flog *l, uint64_t from, uint64_t limit, flog_scan_fn fn,
	      void *ctx, uint64_t *stopped);

/* Moves begin to until, which must be an entry boundary in [begin,
 * committed] (a lower one is a no-op), writes a commit record for it and
 * drops the device's whole segments below it.  Returns FKV_OK,
 * FKV_INVALID (see why) or FKV_IO_ERROR.  Any thread but the log's. */
int flog_truncate(flog *l, uint64_t until, char *why, size_t why_len);

#endif
