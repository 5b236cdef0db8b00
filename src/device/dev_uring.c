/*
 * dev_uring.c - the io_uring device: the file device's segment files
 * (dev_segs.h: segment s in <dir>/<name>.<s>, so either device reads what
 * the other wrote), read and written through one io_uring.
 *
 * device.c runs one I/O thread for this device and hands it every queued
 * job (start); each job is split at segment boundaries into pieces, one
 * SQE each, which wait in a backlog until the ring has room: up to
 * DEV__URING_DEPTH - 1 pieces are in flight at once, submitted with one
 * io_uring_enter per batch (run).  A short read or write goes back to the
 * front of the backlog for the rest; a read that meets the end of its
 * segment file fills the rest with zeros, and a segment with no file reads
 * as zeros without any I/O.  A read of the eventfd `wake_fd` stays armed
 * in the ring, so that device.c wakes the thread (wake) while it waits on
 * the ring for completions.
 *
 * Threading: the ring, the backlog and the pieces belong to the I/O
 * thread.  The ring is created by dev_uring_open (so that a refusal is
 * reported there) before that thread starts, and touched elsewhere again
 * only by destroy, after the thread has been joined.  The segment files'
 * lock guards their fd table, which start uses on the I/O thread and
 * flush and truncate on the owner thread.
 */
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dev_impl.h"
#include "dev_segs.h"

#define DEV__URING_DEPTH 256	      /* SQ entries; the CQ has twice that */
#define DEV__URING_MAX_SQE (1u << 30) /* bytes one SQE asks for at most */

struct dev__uring_op;

/* One segment's part of a job: what is still to read or write. */
struct dev__uring_piece {
	struct dev__uring_piece *next; /* in the backlog */
	struct dev__uring_op *op;
	int fd;
	uint64_t pos; /* in the segment file */
	char *buf;
	size_t left;
};

/* A job and its pieces, in one allocation. */
struct dev__uring_op {
	struct dev__job *job;
	uint64_t parts; /* pieces not finished */
	int status;	/* the first error */
	struct dev__uring_piece piece[];
};

struct dev__uring {
	struct dev__segs segs; /* has its own lock; see dev_segs.h */

	/* The I/O thread's. */
	struct io_uring ring;
	bool ring_ok;
	bool wake_armed;
	bool warned; /* io_uring_enter failed once */
	uint64_t wake_buf;
	unsigned inflight; /* pieces in the ring, not yet reaped */
	struct dev__uring_piece *backlog, *backlog_tail;

	int wake_fd; /* a blocking eventfd; written from any thread */
};

/* Ends one piece of `op` with `status`; the last one completes the job. */
static void dev__uring_piece_done(struct dev__uring_op *op, int status)
{
	if (status && !op->status)
		op->status = status;
	if (--op->parts == 0) {
		dev__complete(op->job, op->status);
		free(op);
	}
}

static void dev__uring_backlog_push(struct dev__uring *u,
				    struct dev__uring_piece *p)
{
	p->next = NULL;
	if (u->backlog_tail)
		u->backlog_tail->next = p;
	else
		u->backlog = p;
	u->backlog_tail = p;
}

/* Puts a piece with a rest to do first in line. */
static void dev__uring_backlog_retry(struct dev__uring *u,
				     struct dev__uring_piece *p)
{
	p->next = u->backlog;
	u->backlog = p;
	if (!u->backlog_tail)
		u->backlog_tail = p;
}

static int dev__uring_start(void *impl, struct dev__job *job)
{
	struct dev__uring *u = impl;
	uint64_t ss = u->segs.segment_size;
	uint64_t n = job->len ? (job->offset + job->len - 1) / ss -
					job->offset / ss + 1
			      : 0;
	if (n > (SIZE_MAX - sizeof(struct dev__uring_op)) /
			sizeof(struct dev__uring_piece))
		return -ENOMEM;
	struct dev__uring_op *op =
		malloc(sizeof(*op) + n * sizeof(struct dev__uring_piece));
	if (!op)
		return -ENOMEM;
	op->job = job;
	op->parts = n + 1; /* one held until every piece is queued */
	op->status = 0;
	uint64_t offset = job->offset;
	char *p = job->buf;
	size_t len = job->len;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t seg = offset / ss, in = offset % ss;
		size_t part = ss - in < len ? ss - in : len;
		int fd = dev__segs_fd(&u->segs, seg, job->kind == DEV__WRITE);
		if (fd == -ENOENT && job->kind == DEV__READ) {
			memset(p, 0, part); /* never written: zeros */
			dev__uring_piece_done(op, 0);
		} else if (fd < 0) {
			dev__uring_piece_done(op, fd);
		} else {
			op->piece[i] = (struct dev__uring_piece){.op = op,
								 .fd = fd,
								 .pos = in,
								 .buf = p,
								 .left = part};
			dev__uring_backlog_push(u, &op->piece[i]);
		}
		p += part;
		offset += part;
		len -= part;
	}
	dev__uring_piece_done(op, 0); /* the hold */
	return 0;
}

/* Moves backlog pieces into SQEs while the ring has room, and keeps the
 * wake read armed. */
static void dev__uring_fill(struct dev__uring *u)
{
	struct io_uring_sqe *sqe;
	if (!u->wake_armed && (sqe = io_uring_get_sqe(&u->ring))) {
		io_uring_prep_read(sqe, u->wake_fd, &u->wake_buf,
				   sizeof(u->wake_buf), 0);
		io_uring_sqe_set_data(sqe, &u->wake_buf);
		u->wake_armed = true;
	}
	while (u->backlog && u->inflight < DEV__URING_DEPTH - 1 &&
	       (sqe = io_uring_get_sqe(&u->ring))) {
		struct dev__uring_piece *p = u->backlog;
		u->backlog = p->next;
		if (!u->backlog)
			u->backlog_tail = NULL;
		unsigned n = p->left < DEV__URING_MAX_SQE ? (unsigned)p->left
							  : DEV__URING_MAX_SQE;
		if (p->op->job->kind == DEV__READ)
			io_uring_prep_read(sqe, p->fd, p->buf, n, p->pos);
		else
			io_uring_prep_write(sqe, p->fd, p->buf, n, p->pos);
		io_uring_sqe_set_data(sqe, p);
		u->inflight++;
	}
}

/* Handles one piece's CQE. */
static void dev__uring_reap_piece(struct dev__uring *u,
				  struct dev__uring_piece *p, int res)
{
	u->inflight--;
	if (res == -EINTR || res == -EAGAIN) {
		dev__uring_backlog_retry(u, p);
	} else if (res < 0) {
		dev__uring_piece_done(p->op, res);
	} else if (res == 0) {
		if (p->op->job->kind == DEV__READ) {
			memset(p->buf, 0, p->left); /* past the end: zeros */
			dev__uring_piece_done(p->op, 0);
		} else {
			dev__uring_piece_done(p->op, -EIO);
		}
	} else {
		p->buf += res;
		p->pos += (uint64_t)res;
		p->left -= (size_t)res;
		if (p->left)
			dev__uring_backlog_retry(u, p); /* short: the rest */
		else
			dev__uring_piece_done(p->op, 0);
	}
}

static void dev__uring_run(void *impl, bool block)
{
	struct dev__uring *u = impl;
	dev__uring_fill(u);
	int rc = block ? io_uring_submit_and_wait(&u->ring, 1)
		       : io_uring_submit(&u->ring);
	if (rc < 0 && rc != -EINTR && rc != -ETIME &&
	    !io_uring_cq_ready(&u->ring)) {
		/* The kernel is short of memory or the CQ is overflowing:
		 * retry soon, without spinning (and say so once). */
		if (!u->warned)
			fprintf(stderr, "io_uring_enter: %s: retrying\n",
				strerror(-rc));
		u->warned = true;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
		return;
	}
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&u->ring, head, cqe)
	{
		void *data = io_uring_cqe_get_data(cqe);
		if (data == &u->wake_buf)
			u->wake_armed = false; /* re-armed by the next fill */
		else
			dev__uring_reap_piece(u, data, cqe->res);
		seen++;
	}
	io_uring_cq_advance(&u->ring, seen);
}

static void dev__uring_wake(void *impl)
{
	struct dev__uring *u = impl;
	uint64_t one = 1;
	/* A blocking eventfd only blocks near overflow: never here. */
	ssize_t n = write(u->wake_fd, &one, sizeof(one));
	(void)n;
}

static int dev__uring_flush(void *impl)
{
	struct dev__uring *u = impl;
	return dev__segs_flush(&u->segs);
}

static int dev__uring_truncate(void *impl, uint64_t first_kept)
{
	struct dev__uring *u = impl;
	return dev__segs_truncate(&u->segs, first_kept);
}

static void dev__uring_destroy(void *impl)
{
	struct dev__uring *u = impl;
	if (u->ring_ok) {
		dev__uring_wake(u); /* ends the armed read at once */
		io_uring_queue_exit(&u->ring);
	}
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	dev__segs_fini(&u->segs);
	free(u);
}

static const struct dev__ops dev__uring_ops = {
	.read_now = dev__segs_read, /* segs is the first member */
	.read_nowait = dev__segs_read_nowait,
	.write_now = dev__segs_write,
	.start = dev__uring_start,
	.run = dev__uring_run,
	.wake = dev__uring_wake,
	.flush = dev__uring_flush,
	.truncate = dev__uring_truncate,
	.destroy = dev__uring_destroy,
};

int dev_uring_open(const char *dir, const char *name, uint64_t segment_size,
		   dev_device **out)
{
	int rc = dev__segs_check(dir, name, segment_size);
	if (rc)
		return rc;
	struct dev__uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->wake_fd = -1;
	rc = dev__segs_init(&u->segs, dir, name, segment_size);
	if (rc) {
		free(u);
		return rc;
	}
	u->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (u->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* Task work runs when the I/O thread enters the kernel anyway;
	 * kernels before 5.19 do not know the flag. */
	rc = io_uring_queue_init(DEV__URING_DEPTH, &u->ring,
				 IORING_SETUP_COOP_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(DEV__URING_DEPTH, &u->ring, 0);
	if (rc < 0)
		goto fail;
	u->ring_ok = true;
	return dev__create(&dev__uring_ops, u, segment_size, 1, out);
fail:
	dev__uring_destroy(u);
	return rc;
}
