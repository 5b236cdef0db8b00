/*
 * dev_file.c - the file device: segment s lives in <dir>/<name>.<s>, a
 * file of at most segment_size bytes (dev_segs.h).  Reads and writes are
 * pread/pwrite on device.c's I/O threads, split at segment boundaries.
 * Segments are opened on first use and stay open until truncated or
 * closed.  The device is its segment files and nothing more: its impl is
 * a struct dev__segs.
 *
 * Locking: dev_segs.h's lock guards the fd table; an fd taken from it
 * stays valid while the job runs because truncate and destroy run only
 * with no I/O in flight (device.c drains first).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_impl.h"
#include "dev_segs.h"

static int dev__file_flush(void *impl)
{
	return dev__segs_flush(impl);
}

static int dev__file_truncate(void *impl, uint64_t first_kept)
{
	return dev__segs_truncate(impl, first_kept);
}

static void dev__file_destroy(void *impl)
{
	dev__segs_fini(impl);
	free(impl);
}

static const struct dev__ops dev__file_ops = {
	.read = dev__segs_read,
	.read_now = dev__segs_read,
	.read_nowait = dev__segs_read_nowait,
	.write = dev__segs_write,
	.write_now = dev__segs_write,
	.flush = dev__file_flush,
	.truncate = dev__file_truncate,
	.destroy = dev__file_destroy,
};

int dev_file_open(const char *dir, const char *name, uint64_t segment_size,
		  dev_device **out)
{
	int rc = dev__segs_check(dir, name, segment_size);
	if (rc)
		return rc;
	struct dev__segs *f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = dev__segs_init(f, dir, name, segment_size);
	if (rc) {
		free(f);
		return rc;
	}
	return dev__create(&dev__file_ops, f, segment_size, DEV_IO_THREADS,
			   out);
}
