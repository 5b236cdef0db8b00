/*
 * dev_file.c - the file device: segment s lives in <dir>/<name>.<s>, a
 * file of at most segment_size bytes.  Reads and writes are pread/pwrite
 * on device.c's I/O threads, split at segment boundaries.  Segments are
 * opened on first use and stay open until truncated or closed.
 *
 * Locking: `lock` guards the fd table; an fd taken from it stays valid
 * while the job runs because truncate and destroy run only with no I/O in
 * flight (device.c drains first).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev_impl.h"

struct dev__file {
	char *dir;
	char *name;
	uint64_t segment_size;
	pthread_mutex_t lock;
	int *fds; /* by segment number; -1 when not open */
	uint64_t nfds;
	uint64_t first; /* segments below it are truncated */
};

static void dev__file_path(const struct dev__file *f, uint64_t seg, char *path,
			   size_t size)
{
	snprintf(path, size, "%s/%s.%" PRIu64, f->dir, f->name, seg);
}

/* Returns segment `seg`'s fd, opening it (and creating the file when
 * `create`), -ENOENT when it does not exist and !create, or -errno. */
static int dev__file_fd(struct dev__file *f, uint64_t seg, int create)
{
	int rc;
	pthread_mutex_lock(&f->lock);
	if (seg >= f->nfds) {
		uint64_t n = f->nfds ? f->nfds : 16;
		while (n <= seg)
			n *= 2;
		int *fds = realloc(f->fds, n * sizeof(*fds));
		if (!fds) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint64_t i = f->nfds; i < n; i++)
			fds[i] = -1;
		f->fds = fds;
		f->nfds = n;
	}
	rc = f->fds[seg];
	if (rc < 0) {
		char path[PATH_MAX];
		dev__file_path(f, seg, path, sizeof(path));
		rc = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0),
			  0644);
		if (rc < 0)
			rc = -errno;
		else
			f->fds[seg] = rc;
	}
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int dev__file_read(void *impl, uint64_t offset, void *buf, size_t len)
{
	struct dev__file *f = impl;
	char *p = buf;
	while (len) {
		uint64_t seg = offset / f->segment_size;
		uint64_t in = offset % f->segment_size;
		size_t n =
			f->segment_size - in < len ? f->segment_size - in : len;
		int fd = dev__file_fd(f, seg, 0);
		size_t got = 0;
		if (fd == -ENOENT) {
			got = 0; /* never written: zeros */
		} else if (fd < 0) {
			return fd;
		} else {
			while (got < n) {
				ssize_t r = pread(fd, p + got, n - got,
						  (off_t)(in + got));
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0)
					return -errno;
				if (r == 0)
					break; /* past the end: zeros */
				got += (size_t)r;
			}
		}
		memset(p + got, 0, n - got);
		p += n;
		offset += n;
		len -= n;
	}
	return 0;
}

static int dev__file_write(void *impl, uint64_t offset, const void *buf,
			   size_t len)
{
	struct dev__file *f = impl;
	const char *p = buf;
	while (len) {
		uint64_t seg = offset / f->segment_size;
		uint64_t in = offset % f->segment_size;
		size_t n =
			f->segment_size - in < len ? f->segment_size - in : len;
		int fd = dev__file_fd(f, seg, 1);
		if (fd < 0)
			return fd;
		size_t put = 0;
		while (put < n) {
			ssize_t r =
				pwrite(fd, p + put, n - put, (off_t)(in + put));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			put += (size_t)r;
		}
		p += n;
		offset += n;
		len -= n;
	}
	return 0;
}

static int dev__file_flush(void *impl)
{
	struct dev__file *f = impl;
	int rc = 0;
	for (uint64_t i = f->first; i < f->nfds; i++)
		if (f->fds[i] >= 0 && fsync(f->fds[i]) < 0 && !rc)
			rc = -errno;
	int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rc ? rc : -errno;
	if (fsync(dfd) < 0 && !rc)
		rc = -errno;
	close(dfd);
	return rc;
}

static int dev__file_truncate(void *impl, uint64_t first_kept)
{
	struct dev__file *f = impl;
	int rc = 0;
	for (uint64_t s = f->first; s < first_kept; s++) {
		if (s < f->nfds && f->fds[s] >= 0) {
			close(f->fds[s]);
			f->fds[s] = -1;
		}
		char path[PATH_MAX];
		dev__file_path(f, s, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT && !rc)
			rc = -errno;
	}
	if (first_kept > f->first)
		f->first = first_kept;
	return rc;
}

static void dev__file_destroy(void *impl)
{
	struct dev__file *f = impl;
	for (uint64_t i = 0; i < f->nfds; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	pthread_mutex_destroy(&f->lock);
	free(f->fds);
	free(f->dir);
	free(f->name);
	free(f);
}

static const struct dev__ops dev__file_ops = {
	.read = dev__file_read,
	.write = dev__file_write,
	.flush = dev__file_flush,
	.truncate = dev__file_truncate,
	.destroy = dev__file_destroy,
};

int dev_file_open(const char *dir, const char *name, uint64_t segment_size,
		  dev_device **out)
{
	if (!dir || !name || segment_size < 4096 ||
	    (segment_size & (segment_size - 1)))
		return -EINVAL;
	struct dev__file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->dir = strdup(dir);
	f->name = strdup(name);
	f->segment_size = segment_size;
	pthread_mutex_init(&f->lock, NULL);
	if (!f->dir || !f->name) {
		dev__file_destroy(f);
		return -ENOMEM;
	}
	return dev__create(&dev__file_ops, f, segment_size, DEV_IO_THREADS,
			   out);
}
