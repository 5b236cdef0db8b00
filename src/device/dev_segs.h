/*
 * dev_segs.h - segment files, shared by the file and io_uring devices:
 * segment s of a device lives in <dir>/<name>.<s>, a file of at most
 * segment_size bytes, so either device reads what the other wrote.  This
 * keeps the table of open fds, opens a segment on first use, and flushes,
 * truncates and closes them.  Internal to src/device; not part of
 * device.h's API.
 *
 * Threading: `lock` guards fds, nfds and first, so dev__segs_fd may be
 * called from any I/O thread at once.  An fd it returns stays valid while
 * the job that asked for it runs, because flush, truncate and fini run
 * only on the owner thread with no I/O in flight (device.c drains first).
 * dir, name and segment_size are set by init and read-only after it.
 *
 * Return values follow device.h: 0 or a non-negative fd for success,
 * -errno for a system error.
 */
#ifndef DEV_SEGS_H
#define DEV_SEGS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct dev__segs {
	char *dir;  /* owned copy */
	char *name; /* owned copy */
	uint64_t segment_size;

	pthread_mutex_t lock; /* guards fds, nfds, first */
	int *fds;	      /* by segment number; -1 when not open */
	uint64_t nfds;
	uint64_t first; /* segments below it are truncated */
	bool dir_dirty; /* a file was created since the last flush */
};

/* Whether dir, name and segment_size can make segment files: both names
 * set and segment_size a power of two of at least 4096.  Returns 0 or
 * -EINVAL.  Touches nothing, so a device open calls it before it
 * allocates anything. */
int dev__segs_check(const char *dir, const char *name, uint64_t segment_size);

/* Sets up `s` (caller-owned storage, not yet initialised) for segment
 * files of `name` in `dir`, both copied, with no segment open.  Opens no
 * file and does not check its arguments (dev__segs_check does).  Returns
 * 0, after which dev__segs_fini must be called, or -ENOMEM having released
 * whatever it took (do not call fini then).  Owner thread. */
int dev__segs_init(struct dev__segs *s, const char *dir, const char *name,
		   uint64_t segment_size);

/* Returns segment `seg`'s fd, opening it on first use (O_RDWR, and
 * O_CREAT when `create`), -ENOENT when the file does not exist and
 * !create, -ENOMEM when the table cannot grow, or another -errno from
 * open.  The fd stays owned by `s`: the caller must not close it.  The
 * open is synchronous, once per segment.  Any thread; takes the lock. */
int dev__segs_fd(struct dev__segs *s, uint64_t seg, bool create);

/* Reads len bytes at offset (split at segment boundaries) with pread on
 * the calling thread; ranges never written read as zeros.  `impl` is a
 * struct dev__segs (or a struct that starts with one), so that devices can
 * use it as their read op.  Any thread.  Returns 0 or -errno. */
int dev__segs_read(void *impl, uint64_t offset, void *buf, size_t len);

/* Writes through the segment files with pwrite (creating them), on the
 * calling thread.  impl points to a dev__segs (or a struct that begins
 * with one).  Returns 0 or -errno. */
int dev__segs_write(void *impl, uint64_t offset, const void *buf, size_t len);

/* The same read, but it never waits for the disk: -EAGAIN when some of
 * the range is not in the page cache (preadv2 with RWF_NOWAIT), -ENOTSUP
 * when the file system cannot tell. */
int dev__segs_read_nowait(void *impl, uint64_t offset, void *buf, size_t len);

/* fsyncs every open segment from `first` on, then the directory, so that
 * created files stay.  Goes on past a failure and returns 0 or the first
 * -errno.  Owner thread, no I/O in flight. */
int dev__segs_flush(struct dev__segs *s);

/* Closes and unlinks segments [first, first_kept) (a missing file is no
 * error) and raises `first` to first_kept; a first_kept at or below
 * `first` does nothing.  Goes on past a failure and returns 0 or the
 * first -errno from unlink.  Owner thread, no I/O in flight. */
int dev__segs_truncate(struct dev__segs *s, uint64_t first_kept);

/* Closes every open segment and frees what init took; `s` itself stays
 * the caller's.  Owner thread, no I/O in flight. */
void dev__segs_fini(struct dev__segs *s);

#endif
