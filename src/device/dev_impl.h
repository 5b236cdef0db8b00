/*
 * dev_impl.h - what a device implementation provides to device.c, which
 * owns the queues, the I/O threads and the eventfd.  Not for callers.
 */
#ifndef DEV_IMPL_H
#define DEV_IMPL_H

#include "device.h"

/* Synchronous operations, run on an I/O thread (read, write; several at
 * once) or on the owner thread with no I/O running (flush, truncate,
 * destroy).  Return 0 or -errno. */
struct dev__ops {
	int (*read)(void *impl, uint64_t offset, void *buf, size_t len);
	int (*write)(void *impl, uint64_t offset, const void *buf, size_t len);
	int (*flush)(void *impl);
	/* Drops segments [0, first_kept). */
	int (*truncate)(void *impl, uint64_t first_kept);
	void (*destroy)(void *impl);
};

/* Wraps `impl` in a device with `nthreads` I/O threads.  On failure calls
 * ops->destroy(impl) and returns -errno. */
int dev__create(const struct dev__ops *ops, void *impl, uint64_t segment_size,
		int nthreads, dev_device **out);

#endif
