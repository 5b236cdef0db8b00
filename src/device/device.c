/*
 * device.c - the machinery every device shares: a FIFO of submitted jobs
 * served by I/O threads, a queue of completions, and an eventfd that
 * tells the owner's event loop when to call dev_poll.
 *
 * A synchronous implementation (file, null) gets a few I/O threads that
 * each take one job at a time and run it.  An asynchronous one (uring)
 * gets one I/O thread that takes every queued job at once, starts them
 * all, then lets the implementation wait on its own queue; `sleeping` says
 * it waits there, so that a submission wakes it (ops->wake) exactly when
 * needed.
 *
 * Locking: `lock` guards the job and completion queues, `inflight`,
 * `stopping`, `sleeping`.  `pending` and `begin` are atomics so that a
 * shared device (dev_share) takes submissions from any thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev_impl.h"

struct dev_device {
	const struct dev__ops *ops;
	void *impl;
	uint64_t segment_size;
	int efd;
	int nthreads;
	pthread_t threads[DEV_IO_THREADS];

	pthread_mutex_t lock;
	pthread_cond_t job_cv;	/* a job was queued, or stopping */
	pthread_cond_t idle_cv; /* inflight dropped to 0 */
	struct dev__job *jobs, *jobs_tail;
	struct dev__job *done, *done_tail;
	uint64_t inflight; /* queued or executing */
	bool stopping;
	bool shared;   /* callbacks run on the I/O threads (dev_share) */
	bool sleeping; /* the async I/O thread waits in ops->run */

	_Atomic uint64_t pending; /* submitted, callback not yet run */
	_Atomic uint64_t begin;	  /* the truncation point */
};

static void dev__signal(dev_device *dev)
{
	uint64_t one = 1;
	/* EAGAIN only if the counter is near overflow: it is signalled. */
	ssize_t n = write(dev->efd, &one, sizeof(one));
	(void)n;
}

void dev__complete(struct dev__job *j, int status)
{
	dev_device *dev = j->dev;
	j->status = status;
	if (dev->shared) {
		/* The callback runs here, before the job counts as done, so
		 * that dev_close and dev_flush wait for it. */
		atomic_fetch_sub(&dev->pending, 1);
		j->cb(j->ctx, j->status);
		free(j);
		pthread_mutex_lock(&dev->lock);
		if (--dev->inflight == 0)
			pthread_cond_broadcast(&dev->idle_cv);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	j->next = NULL;
	if (dev->done_tail)
		dev->done_tail->next = j;
	else
		dev->done = j;
	dev->done_tail = j;
	if (--dev->inflight == 0)
		pthread_cond_broadcast(&dev->idle_cv);
	dev__signal(dev);
	pthread_mutex_unlock(&dev->lock);
}

/* A synchronous implementation's I/O thread: one job at a time. */
static void *dev__io_thread(void *arg)
{
	dev_device *dev = arg;
	pthread_mutex_lock(&dev->lock);
	for (;;) {
		while (!dev->jobs && !dev->stopping)
			pthread_cond_wait(&dev->job_cv, &dev->lock);
		struct dev__job *j = dev->jobs;
		if (!j)
			break; /* stopping, and the queue is empty */
		dev->jobs = j->next;
		if (!dev->jobs)
			dev->jobs_tail = NULL;
		pthread_mutex_unlock(&dev->lock);

		int rc;
		if (j->kind == DEV__READ)
			rc = dev->ops->read(dev->impl, j->offset, j->buf,
					    j->len);
		else
			rc = dev->ops->write(dev->impl, j->offset, j->buf,
					     j->len);
		dev__complete(j, rc);
		pthread_mutex_lock(&dev->lock);
	}
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

/* An asynchronous implementation's one I/O thread: takes every queued job,
 * starts them, and lets ops->run submit and reap; it blocks in ops->run
 * only when it found no job, after setting `sleeping` under the lock, so
 * a job queued later wakes it (dev__submit) and none is left waiting. */
static void *dev__async_thread(void *arg)
{
	dev_device *dev = arg;
	for (;;) {
		pthread_mutex_lock(&dev->lock);
		struct dev__job *list = dev->jobs;
		dev->jobs = dev->jobs_tail = NULL;
		bool block = !list;
		dev->sleeping = block;
		if (block && dev->stopping && dev->inflight == 0) {
			pthread_mutex_unlock(&dev->lock);
			break;
		}
		pthread_mutex_unlock(&dev->lock);

		while (list) {
			struct dev__job *j = list;
			list = j->next;
			int rc = dev->ops->start(dev->impl, j);
			if (rc)
				dev__complete(j, rc);
		}
		dev->ops->run(dev->impl, block);
	}
	return NULL;
}

int dev__create(const struct dev__ops *ops, void *impl, uint64_t segment_size,
		int nthreads, dev_device **out)
{
	int rc;
	dev_device *dev = calloc(1, sizeof(*dev));
	if (!dev) {
		ops->destroy(impl);
		return -ENOMEM;
	}
	dev->ops = ops;
	dev->impl = impl;
	dev->segment_size = segment_size;
	bool async = ops->start != NULL;
	if (async)
		nthreads = 1;
	else if (nthreads < 1 || nthreads > DEV_IO_THREADS)
		nthreads = DEV_IO_THREADS;
	dev->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->efd < 0) {
		rc = -errno;
		goto fail;
	}
	pthread_mutex_init(&dev->lock, NULL);
	pthread_cond_init(&dev->job_cv, NULL);
	pthread_cond_init(&dev->idle_cv, NULL);
	for (int i = 0; i < nthreads; i++) {
		rc = -pthread_create(&dev->threads[i], NULL,
				     async ? dev__async_thread : dev__io_thread,
				     dev);
		if (rc) {
			dev->nthreads = i;
			dev_close(dev); /* joins the started ones, destroys */
			return rc;
		}
	}
	dev->nthreads = nthreads;
	*out = dev;
	return 0;
fail:
	ops->destroy(impl);
	free(dev);
	return rc;
}

/* Wakes the async I/O thread if it waits in ops->run.  Lock held. */
static void dev__wake(dev_device *dev)
{
	if (dev->sleeping) {
		dev->sleeping = false;
		dev->ops->wake(dev->impl);
	}
}

static int dev__submit(dev_device *dev, int kind, uint64_t offset, void *buf,
		       size_t len, dev_callback cb, void *ctx)
{
	if (offset + len < offset)
		return DEV_ERR_RANGE;
	if (offset < atomic_load(&dev->begin))
		return DEV_ERR_TRUNCATED;
	struct dev__job *j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (struct dev__job){.dev = dev,
			       .kind = kind,
			       .offset = offset,
			       .buf = buf,
			       .len = len,
			       .cb = cb,
			       .ctx = ctx};
	atomic_fetch_add(&dev->pending, 1);
	pthread_mutex_lock(&dev->lock);
	if (dev->jobs_tail)
		dev->jobs_tail->next = j;
	else
		dev->jobs = j;
	dev->jobs_tail = j;
	dev->inflight++;
	pthread_cond_signal(&dev->job_cv);
	dev__wake(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

typedef int (*dev__sync_read)(void *impl, uint64_t offset, void *buf,
			      size_t len);

/* A read on the calling thread through `op` (NULL: -ENOTSUP), after the
 * checks every read makes. */
static int dev__read_here(dev_device *dev, dev__sync_read op, uint64_t offset,
			  void *buf, size_t len)
{
	if (offset + len < offset)
		return DEV_ERR_RANGE;
	if (offset < atomic_load(&dev->begin))
		return DEV_ERR_TRUNCATED;
	if (op == NULL)
		return -ENOTSUP;
	return op(dev->impl, offset, buf, len);
}

int dev_read_now(dev_device *dev, uint64_t offset, void *buf, size_t len)
{
	return dev__read_here(dev, dev->ops->read_now, offset, buf, len);
}

int dev_read_nowait(dev_device *dev, uint64_t offset, void *buf, size_t len)
{
	return dev__read_here(dev, dev->ops->read_nowait, offset, buf, len);
}

int dev_write_now(dev_device *dev, uint64_t offset, const void *buf, size_t len)
{
	if (offset + len < offset)
		return DEV_ERR_RANGE;
	if (offset < atomic_load(&dev->begin))
		return DEV_ERR_TRUNCATED;
	if (dev->ops->write_now == NULL)
		return -ENOTSUP;
	return dev->ops->write_now(dev->impl, offset, buf, len);
}

int dev_read(dev_device *dev, uint64_t offset, void *buf, size_t len,
	     dev_callback cb, void *ctx)
{
	return dev__submit(dev, DEV__READ, offset, buf, len, cb, ctx);
}

int dev_write(dev_device *dev, uint64_t offset, const void *buf, size_t len,
	      dev_callback cb, void *ctx)
{
	/* The job never writes through buf for a write. */
	return dev__submit(dev, DEV__WRITE, offset, (void *)buf, len, cb, ctx);
}

/* Blocks until no job is queued or executing. */
static void dev__drain(dev_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	while (dev->inflight)
		pthread_cond_wait(&dev->idle_cv, &dev->lock);
	pthread_mutex_unlock(&dev->lock);
}

int dev_flush(dev_device *dev)
{
	dev__drain(dev);
	return dev->ops->flush(dev->impl);
}

int dev_truncate(dev_device *dev, uint64_t offset)
{
	if (offset <= atomic_load(&dev->begin))
		return 0;
	dev__drain(dev);
	atomic_store(&dev->begin, offset);
	return dev->ops->truncate(dev->impl, offset / dev->segment_size);
}

int dev_poll(dev_device *dev, int max)
{
	uint64_t count;
	/* Reset the eventfd before taking the list: a completion queued
	 * after this read signals again. */
	ssize_t n = read(dev->efd, &count, sizeof(count));
	(void)n;
	pthread_mutex_lock(&dev->lock);
	struct dev__job *list = dev->done, *last = NULL;
	int taken = 0;
	for (struct dev__job *j = list; j && taken < max; j = j->next) {
		last = j;
		taken++;
	}
	if (last) {
		dev->done = last->next;
		if (!dev->done)
			dev->done_tail = NULL;
		last->next = NULL;
	}
	if (dev->done)
		dev__signal(dev); /* some stay behind: keep the fd readable */
	pthread_mutex_unlock(&dev->lock);

	int ran = 0;
	while (ran < taken) {
		struct dev__job *j = list;
		list = j->next;
		atomic_fetch_sub(&dev->pending, 1);
		j->cb(j->ctx, j->status);
		free(j);
		ran++;
	}
	return ran;
}

uint64_t dev_pending(const dev_device *dev)
{
	return atomic_load(&((dev_device *)dev)->pending);
}

void dev_share(dev_device *dev)
{
	dev->shared = true;
}

int dev_event_fd(const dev_device *dev)
{
	return dev->efd;
}

uint64_t dev_segment_size(const dev_device *dev)
{
	return dev->segment_size;
}

void dev_close(dev_device *dev)
{
	if (!dev)
		return;
	dev__drain(dev);
	pthread_mutex_lock(&dev->lock);
	dev->stopping = true;
	pthread_cond_broadcast(&dev->job_cv);
	dev__wake(dev);
	pthread_mutex_unlock(&dev->lock);
	for (int i = 0; i < dev->nthreads; i++)
		pthread_join(dev->threads[i], NULL);
	while (dev_poll(dev, 1 << 30) > 0)
		;
	dev->ops->destroy(dev->impl);
	pthread_cond_destroy(&dev->idle_cv);
	pthread_cond_destroy(&dev->job_cv);
	pthread_mutex_destroy(&dev->lock);
	close(dev->efd);
	free(dev);
}

const char *dev_strerror(int status)
{
	switch (status) {
	case 0:
		return "ok";
	case DEV_ERR_TRUNCATED:
		return "range lies below the device's truncation point";
	case DEV_ERR_RANGE:
		return "offset + length overflows";
	default:
		return status < 0 && status > DEV_ERR_BASE ? strerror(-status)
							   : "unknown status";
	}
}
