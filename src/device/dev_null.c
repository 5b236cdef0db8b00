/*
 * dev_null.c - the memory-only device, for tests: a sparse table of
 * segments, each allocated (zeroed) on its first write.  Operations still
 * complete through device.c's queue, so callers exercise the pending path.
 *
 * Locking: `lock` guards the table and the segments' bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev_impl.h"

struct dev__null {
	uint64_t segment_size;
	pthread_mutex_t lock;
	char **segs; /* by segment number; NULL when never written */
	uint64_t nsegs;
};

/* Copies between the device and `p`; `to_dev` picks the direction. */
static int dev__null_copy(struct dev__null *m, uint64_t offset, char *p,
			  size_t len, int to_dev)
{
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	while (len) {
		uint64_t seg = offset / m->segment_size;
		uint64_t in = offset % m->segment_size;
		size_t n =
			m->segment_size - in < len ? m->segment_size - in : len;
		if (to_dev && seg >= m->nsegs) {
			uint64_t cap = m->nsegs ? m->nsegs : 16;
			while (cap <= seg)
				cap *= 2;
			char **segs = realloc(m->segs, cap * sizeof(*segs));
			if (!segs) {
				rc = -ENOMEM;
				break;
			}
			memset(segs + m->nsegs, 0,
			       (cap - m->nsegs) * sizeof(*segs));
			m->segs = segs;
			m->nsegs = cap;
		}
		char *s = seg < m->nsegs ? m->segs[seg] : NULL;
		if (to_dev && !s) {
			s = calloc(1, m->segment_size);
			if (!s) {
				rc = -ENOMEM;
				break;
			}
			m->segs[seg] = s;
		}
		if (to_dev)
			memcpy(s + in, p, n);
		else if (s)
			memcpy(p, s + in, n);
		else
			memset(p, 0, n);
		p += n;
		offset += n;
		len -= n;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int dev__null_read(void *impl, uint64_t offset, void *buf, size_t len)
{
	return dev__null_copy(impl, offset, buf, len, 0);
}

static int dev__null_write(void *impl, uint64_t offset, const void *buf,
			   size_t len)
{
	/* The copy only reads from buf when to_dev is set. */
	return dev__null_copy(impl, offset, (char *)buf, len, 1);
}

static int dev__null_flush(void *impl)
{
	(void)impl;
	return 0;
}

static int dev__null_truncate(void *impl, uint64_t first_kept)
{
	struct dev__null *m = impl;
	pthread_mutex_lock(&m->lock);
	for (uint64_t s = 0; s < first_kept && s < m->nsegs; s++) {
		free(m->segs[s]);
		m->segs[s] = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void dev__null_destroy(void *impl)
{
	struct dev__null *m = impl;
	for (uint64_t s = 0; s < m->nsegs; s++)
		free(m->segs[s]);
	free(m->segs);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct dev__ops dev__null_ops = {
	.read = dev__null_read,
	.read_now = dev__null_read,
	.read_nowait = dev__null_read, /* memory: never waits */
	.write = dev__null_write,
	.write_now = dev__null_write,
	.flush = dev__null_flush,
	.truncate = dev__null_truncate,
	.destroy = dev__null_destroy,
};

int dev_null_open(uint64_t segment_size, dev_device **out)
{
	if (segment_size < 4096 || (segment_size & (segment_size - 1)))
		return -EINVAL;
	struct dev__null *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->segment_size = segment_size;
	pthread_mutex_init(&m->lock, NULL);
	return dev__create(&dev__null_ops, m, segment_size, DEV_IO_THREADS,
			   out);
}
