/*
 * dev_open.c - opens a device by its configured type name, and falls back
 * from io_uring to the file device when the kernel refuses io_uring.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "device.h"

/* Whether io_uring_setup's error means the kernel will not give us a ring
 * (not built in, disabled by sysctl, or filtered by seccomp in a
 * container), rather than a failure the file device would share. */
static int dev__uring_refused(int rc)
{
	return rc == -ENOSYS || rc == -EPERM || rc == -EACCES ||
	       rc == -EOPNOTSUPP;
}

int dev_open(const char *type, const char *dir, const char *name,
	     uint64_t segment_size, dev_device **out)
{
	if (!type)
		return -EINVAL;
	if (strcmp(type, "file") == 0)
		return dev_file_open(dir, name, segment_size, out);
	if (strcmp(type, "null") == 0)
		return dev_null_open(segment_size, out);
	if (strcmp(type, "uring") != 0)
		return -EINVAL;
	int rc = dev_uring_open(dir, name, segment_size, out);
	if (!dev__uring_refused(rc))
		return rc;
	fprintf(stderr, "io_uring unavailable (%s): using the file device\n",
		dev_strerror(rc));
	return dev_file_open(dir, name, segment_size, out);
}
