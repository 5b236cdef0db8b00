/*
 * dev_segs.c - segment files for the file and io_uring devices (see
 * dev_segs.h for the contract and the locking rule).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev_segs.h"

int dev__segs_check(const char *dir, const char *name, uint64_t segment_size)
{
	if (!dir || !name || segment_size < 4096 ||
	    (segment_size & (segment_size - 1)))
		return -EINVAL;
	return 0;
}

int dev__segs_init(struct dev__segs *s, const char *dir, const char *name,
		   uint64_t segment_size)
{
	*s = (struct dev__segs){.segment_size = segment_size};
	s->dir = strdup(dir);
	s->name = strdup(name);
	if (!s->dir || !s->name) {
		free(s->dir);
		free(s->name);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

static void dev__segs_path(const struct dev__segs *s, uint64_t seg, char *path,
			   size_t size)
{
	snprintf(path, size, "%s/%s.%" PRIu64, s->dir, s->name, seg);
}

int dev__segs_fd(struct dev__segs *s, uint64_t seg, bool create)
{
	int rc;
	pthread_mutex_lock(&s->lock);
	if (seg >= s->nfds) {
		uint64_t n = s->nfds ? s->nfds : 16;
		while (n <= seg)
			n *= 2;
		int *fds = realloc(s->fds, n * sizeof(*fds));
		if (!fds) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint64_t i = s->nfds; i < n; i++)
			fds[i] = -1;
		s->fds = fds;
		s->nfds = n;
	}
	rc = s->fds[seg];
	if (rc < 0) {
		char path[PATH_MAX];
		dev__segs_path(s, seg, path, sizeof(path));
		rc = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0),
			  0644);
		if (rc < 0) {
			rc = -errno;
		} else {
			s->fds[seg] = rc;
			s->dir_dirty |= create;
		}
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int dev__segs_flush(struct dev__segs *s)
{
	int rc = 0;
	/* Nobody contends for the lock here (no I/O in flight); it is taken
	 * so that the rule beside its declaration holds without exception. */
	pthread_mutex_lock(&s->lock);
	for (uint64_t i = s->first; i < s->nfds; i++)
		if (s->fds[i] >= 0 && fsync(s->fds[i]) < 0 && !rc)
			rc = -errno;
	/* The folder needs a sync only for files created since the last
	 * one (their opens finished before this flag was read). */
	bool dir = s->dir_dirty;
	s->dir_dirty = false;
	pthread_mutex_unlock(&s->lock);
	if (!dir)
		return rc;
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return rc ? rc : -errno;
	if (fsync(dfd) < 0) {
		if (!rc)
			rc = -errno;
		pthread_mutex_lock(&s->lock);
		s->dir_dirty = true; /* the next flush tries again */
		pthread_mutex_unlock(&s->lock);
	}
	close(dfd);
	return rc;
}

int dev__segs_truncate(struct dev__segs *s, uint64_t first_kept)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	for (uint64_t seg = s->first; seg < first_kept; seg++) {
		if (seg < s->nfds && s->fds[seg] >= 0) {
			close(s->fds[seg]);
			s->fds[seg] = -1;
		}
		char path[PATH_MAX];
		dev__segs_path(s, seg, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT && !rc)
			rc = -errno;
	}
	if (first_kept > s->first)
		s->first = first_kept;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void dev__segs_fini(struct dev__segs *s)
{
	for (uint64_t i = 0; i < s->nfds; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	pthread_mutex_destroy(&s->lock);
	free(s->fds);
	free(s->dir);
	free(s->name);
}

/* One piece of a read: pread, or preadv2 with RWF_NOWAIT (-EAGAIN when
 * the data is not in the page cache). */
static ssize_t segs_pread(int fd, char *p, size_t n, off_t off, bool nowait)
{
	if (!nowait)
		return pread(fd, p, n, off);
	struct iovec iov = {.iov_base = p, .iov_len = n};
	return preadv2(fd, &iov, 1, off, RWF_NOWAIT);
}

static int segs_read(struct dev__segs *f, uint64_t offset, void *buf,
		     size_t len, bool nowait)
{
	char *p = buf;
	while (len) {
		uint64_t seg = offset / f->segment_size;
		uint64_t in = offset % f->segment_size;
		size_t n =
			f->segment_size - in < len ? f->segment_size - in : len;
		int fd = dev__segs_fd(f, seg, false);
		size_t got = 0;
		if (fd == -ENOENT) {
			got = 0; /* never written: zeros */
		} else if (fd < 0) {
			return fd;
		} else {
			while (got < n) {
				ssize_t r =
					segs_pread(fd, p + got, n - got,
						   (off_t)(in + got), nowait);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0 && nowait && errno == EOPNOTSUPP)
					return -ENOTSUP;
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

int dev__segs_read(void *impl, uint64_t offset, void *buf, size_t len)
{
	return segs_read(impl, offset, buf, len, false);
}

int dev__segs_read_nowait(void *impl, uint64_t offset, void *buf, size_t len)
{
	return segs_read(impl, offset, buf, len, true);
}

int dev__segs_write(void *impl, uint64_t offset, const void *buf, size_t len)
{
	struct dev__segs *f = impl;
	const char *p = buf;
	while (len) {
		uint64_t seg = offset / f->segment_size;
		uint64_t in = offset % f->segment_size;
		size_t n =
			f->segment_size - in < len ? f->segment_size - in : len;
		int fd = dev__segs_fd(f, seg, true);
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
