/*
 * test_device.c - the device contract (src/device/device.h), one body run
 * against every device: writes and reads at scattered offsets with many
 * operations in flight, ranges across segment boundaries, the eventfd,
 * flush, truncate, and close with operations pending.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"

#define SEG (64u << 10) /* tiny segments, so that ranges cross them */
#define NOPS 128	/* all in flight at once */
#define CHUNK 8192

/* One device under test: how to open it and, for files, where they are. */
struct dt_dev {
	int (*open)(struct dt_dev *t, dev_device **out);
	char dir[64]; /* empty for the null device */
};

static int dt_open_file(struct dt_dev *t, dev_device **out)
{
	return dev_file_open(t->dir, "log", SEG, out);
}

static int dt_open_null(struct dt_dev *t, dev_device **out)
{
	(void)t;
	return dev_null_open(SEG, out);
}

static bool dt_segment_exists(const struct dt_dev *t, uint64_t seg)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/log.%" PRIu64, t->dir, seg);
	return access(path, F_OK) == 0;
}

/* A completion slot per operation; `order` records completion order. */
struct dt_op {
	int status;
	int done;
	int *order_next;
	int order;
};

static void dt_cb(void *ctx, int status)
{
	struct dt_op *op = ctx;
	op->status = status;
	op->done++;
	op->order = (*op->order_next)++;
}

/* Polls until `n` callbacks have run, waiting on the eventfd between
 * polls; checks the fd is readable whenever completions are outstanding. */
static void dt_wait(dev_device *dev, int *completed, int n)
{
	int efd = dev_event_fd(dev);
	cr_assert_geq(efd, 0);
	while (*completed < n) {
		struct pollfd pfd = {.fd = efd, .events = POLLIN};
		int r = poll(&pfd, 1, 10000);
		cr_assert_eq(r, 1, "eventfd not readable with %d of %d done",
			     *completed, n);
		dev_poll(dev, 16); /* small batches: exercise re-signalling */
	}
}

static void dt_contract(struct dt_dev *t)
{
	dev_device *dev = NULL;
	cr_assert_eq(t->open(t, &dev), 0);
	cr_assert_eq(dev_segment_size(dev), SEG);
	cr_assert_eq(dev_pending(dev), 0);

	/* NOPS chunks, chunk i at i*CHUNK + 4000: every 8th crosses a
	 * segment boundary.  Submitted in shuffled order. */
	char *src = malloc((size_t)NOPS * CHUNK);
	char *dst = malloc((size_t)NOPS * CHUNK);
	cr_assert(src && dst);
	srand(42);
	for (size_t i = 0; i < (size_t)NOPS * CHUNK; i++)
		src[i] = (char)rand();
	int perm[NOPS];
	for (int i = 0; i < NOPS; i++)
		perm[i] = i;
	for (int i = NOPS - 1; i > 0; i--) {
		int j = rand() % (i + 1), x = perm[i];
		perm[i] = perm[j];
		perm[j] = x;
	}
	struct dt_op ops[NOPS];
	int next = 0;
	for (int i = 0; i < NOPS; i++)
		ops[i] = (struct dt_op){.status = 1, .order_next = &next};
	for (int k = 0; k < NOPS; k++) {
		int i = perm[k];
		cr_assert_eq(dev_write(dev, (uint64_t)i * CHUNK + 4000,
				       src + (size_t)i * CHUNK, CHUNK, dt_cb,
				       &ops[i]),
			     0);
	}
	cr_assert_eq(dev_pending(dev), NOPS);
	dt_wait(dev, &next, NOPS);
	cr_assert_eq(dev_pending(dev), 0);
	for (int i = 0; i < NOPS; i++)
		cr_assert(ops[i].done == 1 && ops[i].status == 0,
			  "write %d: done %d status %d", i, ops[i].done,
			  ops[i].status);

	/* Read everything back, again shuffled and all in flight. */
	memset(dst, 0xAA, (size_t)NOPS * CHUNK);
	next = 0;
	for (int i = 0; i < NOPS; i++)
		ops[i] = (struct dt_op){.status = 1, .order_next = &next};
	for (int k = NOPS - 1; k >= 0; k--) {
		int i = perm[k];
		cr_assert_eq(dev_read(dev, (uint64_t)i * CHUNK + 4000,
				      dst + (size_t)i * CHUNK, CHUNK, dt_cb,
				      &ops[i]),
			     0);
	}
	dt_wait(dev, &next, NOPS);
	for (int i = 0; i < NOPS; i++) {
		cr_assert(ops[i].done == 1 && ops[i].status == 0,
			  "read %d: status %d", i, ops[i].status);
		cr_assert_arr_eq(dst + (size_t)i * CHUNK,
				 src + (size_t)i * CHUNK, CHUNK, "chunk %d", i);
	}

	/* Never-written ranges read as zeros: the hole before the first
	 * chunk, and past the end (inside and beyond the last segment). */
	uint64_t holes[] = {0, (uint64_t)NOPS * CHUNK + 4000,
			    (uint64_t)100 * SEG};
	for (size_t h = 0; h < sizeof(holes) / sizeof(holes[0]); h++) {
		char z[1000], zero[1000] = {0};
		memset(z, 0x55, sizeof(z));
		struct dt_op op = {.status = 1, .order_next = &next};
		int want = next + 1;
		cr_assert_eq(dev_read(dev, holes[h], z, sizeof(z), dt_cb, &op),
			     0);
		dt_wait(dev, &next, want);
		cr_assert_eq(op.status, 0);
		cr_assert_arr_eq(z, zero, sizeof(z), "hole at %" PRIu64,
				 holes[h]);
	}

	cr_assert_eq(dev_flush(dev), 0);

	/* Truncate at segment 4 plus a bit: segments 0..3 go, 4 stays. */
	uint64_t cut = 4 * (uint64_t)SEG + 100;
	if (t->dir[0]) {
		for (uint64_t s = 0; s <= 4; s++)
			cr_assert(dt_segment_exists(t, s), "segment %" PRIu64,
				  s);
	}
	cr_assert_eq(dev_truncate(dev, cut), 0);
	if (t->dir[0]) {
		for (uint64_t s = 0; s < 4; s++)
			cr_assert_not(dt_segment_exists(t, s),
				      "segment %" PRIu64 " still there", s);
		cr_assert(dt_segment_exists(t, 4));
	}
	char b[64];
	int rc = dev_read(dev, 0, b, sizeof(b), dt_cb, NULL);
	cr_assert_eq(rc, DEV_ERR_TRUNCATED, "%s", dev_strerror(rc));
	cr_assert_eq(dev_read(dev, cut - 1, b, sizeof(b), dt_cb, NULL),
		     DEV_ERR_TRUNCATED);
	cr_assert_eq(dev_write(dev, 0, b, sizeof(b), dt_cb, NULL),
		     DEV_ERR_TRUNCATED);
	cr_assert_str_eq(dev_strerror(DEV_ERR_TRUNCATED),
			 "range lies below the device's truncation point");
	cr_assert_eq(dev_pending(dev), 0);
	/* Above the cut the data is intact (chunk 40 lies in segment 5). */
	{
		struct dt_op op = {.status = 1, .order_next = &next};
		int want = next + 1;
		cr_assert_eq(dev_read(dev, 40 * CHUNK + 4000, dst, CHUNK, dt_cb,
				      &op),
			     0);
		dt_wait(dev, &next, want);
		cr_assert_eq(op.status, 0);
		cr_assert_arr_eq(dst, src + 40 * CHUNK, CHUNK);
	}

	/* Close with everything pending: every callback still runs. */
	next = 0;
	for (int i = 0; i < NOPS; i++)
		ops[i] = (struct dt_op){.status = 1, .order_next = &next};
	for (int i = 0; i < NOPS; i++)
		cr_assert_eq(dev_write(dev, cut + (uint64_t)i * CHUNK,
				       src + (size_t)i * CHUNK, CHUNK, dt_cb,
				       &ops[i]),
			     0);
	cr_assert_geq(dev_pending(dev), 64);
	dev_close(dev);
	cr_assert_eq(next, NOPS);
	for (int i = 0; i < NOPS; i++)
		cr_assert(ops[i].done == 1 && ops[i].status == 0);
	free(src);
	free(dst);
}

/* Removes the test directory and the segment files in it. */
static void dt_rmdir(const char *dir)
{
	for (uint64_t s = 0; s < 64; s++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/log.%" PRIu64, dir, s);
		unlink(path);
	}
	cr_expect_eq(rmdir(dir), 0, "rmdir %s: %s", dir, strerror(errno));
}

Test(device, contract_null)
{
	struct dt_dev t = {.open = dt_open_null};
	dt_contract(&t);
}

Test(device, contract_file)
{
	struct dt_dev t = {.open = dt_open_file};
	snprintf(t.dir, sizeof(t.dir), "/tmp/rf-device-XXXXXX");
	cr_assert_not_null(mkdtemp(t.dir));
	dt_contract(&t);
	dt_rmdir(t.dir);
}

Test(device, bad_arguments)
{
	dev_device *dev = NULL;
	cr_assert_eq(dev_null_open(1000, &dev), -EINVAL);
	cr_assert_eq(dev_file_open("/tmp", "x", 3 << 12, &dev), -EINVAL);
	cr_assert_eq(dev_null_open(4096, &dev), 0);
	char b[8];
	cr_assert_eq(dev_read(dev, UINT64_MAX - 2, b, sizeof(b), NULL, NULL),
		     DEV_ERR_RANGE);
	cr_assert_eq(dev_pending(dev), 0);
	dev_close(dev);
	dev_close(NULL);
}
