/*
 * device.h - storage devices: asynchronous reads and writes at byte offsets
 * of one logical address space, stored in segments of `segment_size` bytes.
 *
 * Implementations
 *   dev_file_open  segmented files <dir>/<name>.<segment>, pread/pwrite on
 *                  a pool of DEV_IO_THREADS I/O threads (dev_file.c)
 *   dev_uring_open the same segment files, read and written through one
 *                  io_uring owned by the device's one I/O thread, many
 *                  operations in flight at once (dev_uring.c)
 *   dev_null_open  memory only, for tests (dev_null.c)
 *   dev_open       any of them by type name ("file", "uring", "null"),
 *                  falling back from io_uring to files (dev_open.c)
 *
 * Threading
 *   A handle has one owner thread (unless shared: see dev_share): every public function is called from
 *   that thread only (one handle per worker thread, like the engine's
 *   sessions).  Reads and writes never block it: they are queued for the
 *   device's I/O threads, which queue each completion and signal the
 *   eventfd.  The owner collects completions with dev_poll(), which runs
 *   their callbacks on the owner thread.  dev_flush, dev_truncate and
 *   dev_close do block (see each).
 *
 * Ownership
 *   The caller owns each buffer passed to dev_read/dev_write and must keep
 *   it alive and untouched until that operation's callback has run.
 *
 * Errors
 *   0 for success, -errno for system errors, DEV_ERR_* (a reserved range
 *   below -20000) for the device's own; dev_strerror() names both.
 *
 * Reads past written data
 *   Ranges never written (holes, or past the end) read as zeros.  Ranges
 *   below the truncation point fail with DEV_ERR_TRUNCATED.
 */
#ifndef DEV_DEVICE_H
#define DEV_DEVICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dev_device dev_device;

enum {
	DEV_ERR_BASE = -20000,
	DEV_ERR_TRUNCATED = -20001, /* the range lies below the truncation */
	DEV_ERR_RANGE = -20002,	    /* offset + length overflows */
};

/* I/O threads per synchronous device (file, null); a uring device has one. */
#define DEV_IO_THREADS 2

/* A completion: `status` is 0 (the whole length was read or written) or a
 * negative error.  Runs on the thread that called dev_poll or dev_close. */
typedef void (*dev_callback)(void *ctx, int status);

/* Opens (creating `dir`'s files as needed) a file device.  `segment_size`
 * must be a power of two >= 4096.  `dir` must exist.  Returns 0 and sets
 * *out, -EINVAL, -ENOMEM, or an error from eventfd/pthread_create. */
int dev_file_open(const char *dir, const char *name, uint64_t segment_size,
		  dev_device **out);

/* Opens an io_uring device: the same contract and the same files as
 * dev_file_open (data written by one reads back with the other), served
 * by one I/O thread that owns a ring and keeps up to 255 reads and writes
 * in flight.  Returns 0 and sets *out, -EINVAL, -ENOMEM, an error from
 * eventfd/pthread_create, or io_uring_setup's error when the kernel
 * refuses a ring (-ENOSYS, -EPERM, ...: see dev_open).  Any thread; the
 * caller owns the handle (see Threading) and frees it with dev_close. */
int dev_uring_open(const char *dir, const char *name, uint64_t segment_size,
		   dev_device **out);

/* Opens a memory-only device with the same contract.  Returns 0 and sets
 * *out, -EINVAL, -ENOMEM, or an error from eventfd/pthread_create. */
int dev_null_open(uint64_t segment_size, dev_device **out);

/* Opens a device by type: "file", "uring" or "null" (which ignores `dir`
 * and `name`), with the arguments of the functions above.  When the
 * kernel refuses io_uring (-ENOSYS, -EPERM, -EACCES, -EOPNOTSUPP from
 * io_uring_setup, as in containers with seccomp), "uring" logs one line to
 * stderr ("io_uring unavailable (...): using the file device") and opens
 * the file device instead.  Returns 0 and sets *out, -EINVAL for an
 * unknown type, or the chosen open function's error.  Any thread. */
int dev_open(const char *type, const char *dir, const char *name,
	     uint64_t segment_size, dev_device **out);

/* Queues a read of `len` bytes at `offset` into `buf`.  Returns 0 (cb will
 * run once, from dev_poll or dev_close), or, without queuing anything and
 * without calling cb: DEV_ERR_TRUNCATED, DEV_ERR_RANGE, -ENOMEM. */
int dev_read(dev_device *dev, uint64_t offset, void *buf, size_t len,
	     dev_callback cb, void *ctx);

/* Reads on the calling thread and waits for it (pread for files, also for
 * the io_uring device, whose segment files are the same), for a caller
 * that must wait anyway (a scan walking on-disk chains): it saves the
 * hand-off to an I/O thread and back.  Any thread, shared or not; must not
 * race with dev_truncate or dev_close.  Returns 0, DEV_ERR_TRUNCATED,
 * DEV_ERR_RANGE, -ENOTSUP (the device has no such read) or -errno. */
int dev_read_now(dev_device *dev, uint64_t offset, void *buf, size_t len);

/* dev_read_now, but it never waits for the disk: when part of the range
 * is not in memory (the page cache), it answers -EAGAIN having waited for
 * nothing, and the caller reads asynchronously instead.  So a worker
 * thread serves data the kernel already holds without a hand-off to an
 * I/O thread, and still never blocks on the disk.  Returns 0, -EAGAIN,
 * -ENOTSUP (this device or file system cannot tell), DEV_ERR_TRUNCATED,
 * DEV_ERR_RANGE or -errno. */
int dev_read_nowait(dev_device *dev, uint64_t offset, void *buf, size_t len);

/* Queues a write; the same contract as dev_read.  Concurrent writes to
 * overlapping ranges land in an unspecified order. */
int dev_write(dev_device *dev, uint64_t offset, const void *buf, size_t len,
	      dev_callback cb, void *ctx);

/* Writes on the calling thread and waits for it (pwrite; the io_uring
 * device writes its segment files the same way), for a caller that must
 * wait anyway (FasterLog's flusher thread): it saves the hand-off to an
 * I/O thread and back.  Any thread; the caller keeps it from overlapping
 * submitted writes of the same range, and from racing with dev_truncate
 * and dev_close.  dev_flush makes it durable like any write.  Returns 0,
 * DEV_ERR_TRUNCATED, DEV_ERR_RANGE, -ENOTSUP or -errno. */
int dev_write_now(dev_device *dev, uint64_t offset, const void *buf,
		  size_t len);

/* Synchronous: waits until every read and write submitted before it has
 * executed (their callbacks still run from dev_poll), then makes the
 * written data durable (fsync for files).  Returns 0 or -errno. */
int dev_flush(dev_device *dev);

/* Synchronous: waits for submitted I/O to execute, then drops every whole
 * segment below `offset` (files are unlinked) and refuses later reads and
 * writes below `offset` with DEV_ERR_TRUNCATED.  A lower offset than the
 * current truncation point is a no-op.  Returns 0 or -errno. */
int dev_truncate(dev_device *dev, uint64_t offset);

/* Runs up to `max` ready completion callbacks on this thread; returns how
 * many ran.  Callbacks may submit new operations. */
int dev_poll(dev_device *dev, int max);

/* Operations submitted whose callbacks have not run yet. */
uint64_t dev_pending(const dev_device *dev);

/* An eventfd, readable while completions wait for dev_poll (level: the
 * device re-signals when dev_poll leaves some behind), or -1 if none. */
int dev_event_fd(const dev_device *dev);

/* The segment size the device was opened with. */
uint64_t dev_segment_size(const dev_device *dev);

/* Makes the device shared: from now on dev_read and dev_write may be
 * called from any thread, and each callback runs on the I/O thread that
 * executed the operation, as soon as it is done (it must not block, and
 * must not call dev_flush, dev_truncate or dev_close).  dev_poll then has
 * nothing to do.  dev_flush and dev_close still wait for callbacks to
 * finish.  The engine's hybrid log uses its device this way, routing
 * completions to its own sessions.  Call once, before any I/O. */
void dev_share(dev_device *dev);

/* Waits for every submitted operation to execute, runs all remaining
 * callbacks on this thread (so none is lost), then frees the device.
 * Data not flushed may not be durable.  NULL is a no-op. */
void dev_close(dev_device *dev);

/* A static name for a status from this module (or -errno). */
const char *dev_strerror(int status);

#endif
