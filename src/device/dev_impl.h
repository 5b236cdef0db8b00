/*
 * dev_impl.h - what a device implementation provides to device.c, which
 * owns the queues, the I/O threads and the eventfd.  Not for callers.
 *
 * An implementation is either synchronous (read and write block; device.c
 * runs them on a pool of I/O threads) or asynchronous (start and run:
 * device.c runs one I/O thread that hands it every queued job and lets it
 * drive its own queue, such as an io_uring, which only that thread ever
 * touches).
 */
#ifndef DEV_IMPL_H
#define DEV_IMPL_H

#include <stdbool.h>

#include "device.h"

enum { DEV__READ, DEV__WRITE };

/* A submitted read or write.  device.c allocates it and owns it, except
 * that an asynchronous implementation holds it from `start` until it
 * passes it to dev__complete (after which it must not touch it). */
struct dev__job {
	struct dev__job *next; /* device.c's queues */
	dev_device *dev;
	int kind; /* DEV__READ or DEV__WRITE */
	int status;
	uint64_t offset;
	void *buf; /* written through only by reads */
	size_t len;
	dev_callback cb;
	void *ctx;
};

/* flush, truncate and destroy run on the owner thread with no I/O
 * executing (device.c drains first) and return 0 or -errno. */
struct dev__ops {
	/* Synchronous interface: run on an I/O thread, several at once. */
	int (*read)(void *impl, uint64_t offset, void *buf, size_t len);
	int (*write)(void *impl, uint64_t offset, const void *buf, size_t len);

	/* Asynchronous interface (start, run and wake all set, or none;
	 * read and write are then unused).  start and run are called only
	 * on the device's one I/O thread.
	 *
	 * start: takes `job`, which must end in exactly one dev__complete
	 * call (on the I/O thread, possibly before start returns); returns
	 * 0, or an error without having taken it (device.c completes it
	 * with that error).
	 *
	 * run: submits what start prepared, completes the jobs whose I/O
	 * is done, and when `block` waits first until at least one thing
	 * happens: an I/O finishes or `wake` is called.  Never spins.
	 *
	 * wake: makes a blocked (or the next blocking) run return soon.
	 * Called from any thread, with device.c's lock held. */
	int (*start)(void *impl, struct dev__job *job);
	void (*run)(void *impl, bool block);
	void (*wake)(void *impl);

	/* Optional: a read on the calling thread, any thread, at any time
	 * (dev_read_now). */
	int (*read_now)(void *impl, uint64_t offset, void *buf, size_t len);
	/* Optional: the same, but answering -EAGAIN instead of waiting for
	 * the disk (dev_read_nowait). */
	int (*read_nowait)(void *impl, uint64_t offset, void *buf, size_t len);
	/* Optional: a write on the calling thread (dev_write_now). */
	int (*write_now)(void *impl, uint64_t offset, const void *buf,
			 size_t len);

	int (*flush)(void *impl);
	/* Drops segments [0, first_kept). */
	int (*truncate)(void *impl, uint64_t first_kept);
	void (*destroy)(void *impl);
};

/* Wraps `impl` in a device with `nthreads` I/O threads (one, whatever
 * `nthreads` says, for an asynchronous implementation).  On failure calls
 * ops->destroy(impl) and returns -errno. */
int dev__create(const struct dev__ops *ops, void *impl, uint64_t segment_size,
		int nthreads, dev_device **out);

/* Finishes `job` with `status` (0 or negative): queues it for dev_poll,
 * or, on a shared device, runs its callback right here.  Called on an I/O
 * thread, without device.c's lock; frees the job (or dev_poll will). */
void dev__complete(struct dev__job *job, int status);

#endif
