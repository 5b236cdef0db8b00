/*
 * test_device.c - the device contract (src/device/device.h), each body run
 * against every device (null, file, uring): writes and reads at scattered
 * offsets with many operations in flight, ranges across segment
 * boundaries, the eventfd, flush, truncate, and close with operations
 * pending; shared mode with submissions from several threads; files
 * written by one file-backed device read back by the other; dev_open and
 * its fall-back when the kernel refuses io_uring.
 *
 * The uring tests skip, saying why, where the kernel refuses io_uring.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static int dt_open_uring(struct dt_dev *t, dev_device **out)
{
	return dev_uring_open(t->dir, "log", SEG, out);
}

static int dt_open_null(struct dt_dev *t, dev_device **out)
{
	(void)t;
	return dev_null_open(SEG, out);
}

/* Skips the calling test, with the reason, when the kernel refuses
 * io_uring here (no segment file is created by opening). */
static void dt_need_uring(void)
{
	dev_device *dev = NULL;
	int rc = dev_uring_open("/tmp", "rf-device-probe", SEG, &dev);
	if (rc != 0)
		cr_skip_test("io_uring refused by the kernel: %s",
			     dev_strerror(rc));
	dev_close(dev);
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
	for (uint64_t s = 0; s < 256; s++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/log.%" PRIu64, dir, s);
		unlink(path);
	}
	cr_expect_eq(rmdir(dir), 0, "rmdir %s: %s", dir, strerror(errno));
}

/* Sets up `t` for device `type` ("null", "file", "uring"), making a fresh
 * directory for the file-backed ones; skips where io_uring is refused. */
static void dt_setup(struct dt_dev *t, const char *type)
{
	*t = (struct dt_dev){0};
	if (strcmp(type, "null") == 0) {
		t->open = dt_open_null;
		return;
	}
	if (strcmp(type, "uring") == 0) {
		dt_need_uring();
		t->open = dt_open_uring;
	} else {
		t->open = dt_open_file;
	}
	snprintf(t->dir, sizeof(t->dir), "/tmp/rf-device-XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir));
}

static void dt_teardown(struct dt_dev *t)
{
	if (t->dir[0])
		dt_rmdir(t->dir);
}

Test(device, contract_null)
{
	struct dt_dev t;
	dt_setup(&t, "null");
	dt_contract(&t);
}

Test(device, contract_file)
{
	struct dt_dev t;
	dt_setup(&t, "file");
	dt_contract(&t);
	dt_teardown(&t);
}

Test(device, contract_uring)
{
	struct dt_dev t;
	dt_setup(&t, "uring");
	dt_contract(&t);
	dt_teardown(&t);
}

/*
 * Random ranges, more in flight than an io_uring holds (RN_OPS writes of
 * random lengths at random places in RN_SLOT-byte slots, then reads of
 * random lengths, up to several segments long, covering the whole
 * region), checked against an image kept in memory, so that holes between
 * the writes must read as zeros too.
 */
#define RN_OPS 1024
#define RN_SLOT 8192
#define RN_SIZE ((size_t)RN_OPS * RN_SLOT) /* 128 segments */

static void dt_random(struct dt_dev *t)
{
	dev_device *dev = NULL;
	cr_assert_eq(t->open(t, &dev), 0);
	char *ref = calloc(1, RN_SIZE), *src = malloc(RN_SIZE);
	char *dst = malloc(RN_SIZE);
	struct dt_op *ops = calloc(RN_OPS, sizeof(*ops));
	cr_assert(ref && src && dst && ops);
	srand(7);
	for (size_t i = 0; i < RN_SIZE; i++)
		src[i] = (char)(rand() | 1); /* never zero: holes show */
	int next = 0;
	for (int k = 0; k < RN_OPS; k++) {
		/* Slot (k * 389) % RN_OPS: every slot once, scattered. */
		size_t slot = (size_t)k * 389 % RN_OPS * RN_SLOT;
		size_t off = slot + (size_t)rand() % 4096;
		size_t len = 1 + (size_t)rand() % (slot + RN_SLOT - off);
		memcpy(ref + off, src + off, len);
		ops[k] = (struct dt_op){.status = 1, .order_next = &next};
		cr_assert_eq(
			dev_write(dev, off, src + off, len, dt_cb, &ops[k]), 0);
	}
	cr_assert_eq(dev_pending(dev), RN_OPS);
	dt_wait(dev, &next, RN_OPS);
	for (int k = 0; k < RN_OPS; k++)
		cr_assert(ops[k].done == 1 && ops[k].status == 0,
			  "write %d: done %d status %d", k, ops[k].done,
			  ops[k].status);

	/* Read it all back in pieces of up to 3.5 segments. */
	memset(dst, 0x5A, RN_SIZE);
	next = 0;
	int nreads = 0;
	for (size_t off = 0; off < RN_SIZE; nreads++) {
		size_t len = 1 + (size_t)rand() % (SEG * 7 / 2);
		if (len > RN_SIZE - off)
			len = RN_SIZE - off;
		cr_assert_lt(nreads, RN_OPS);
		ops[nreads] = (struct dt_op){.status = 1, .order_next = &next};
		cr_assert_eq(
			dev_read(dev, off, dst + off, len, dt_cb, &ops[nreads]),
			0);
		off += len;
	}
	dt_wait(dev, &next, nreads);
	for (int k = 0; k < nreads; k++)
		cr_assert(ops[k].done == 1 && ops[k].status == 0,
			  "read %d: status %d", k, ops[k].status);
	for (size_t i = 0; i < RN_SIZE; i += 4096) {
		size_t n = RN_SIZE - i < 4096 ? RN_SIZE - i : 4096;
		cr_assert_arr_eq(dst + i, ref + i, n, "bytes at %zu", i);
	}

	/* dev_read_now reads the same bytes on this thread. */
	memset(dst, 0x5A, RN_SIZE);
	for (size_t off = 0; off < RN_SIZE;) {
		size_t len = 1 + (size_t)rand() % (SEG * 3 / 2);
		if (len > RN_SIZE - off)
			len = RN_SIZE - off;
		cr_assert_eq(dev_read_now(dev, off, dst + off, len), 0);
		off += len;
	}
	for (size_t i = 0; i < RN_SIZE; i += 4096) {
		size_t n = RN_SIZE - i < 4096 ? RN_SIZE - i : 4096;
		cr_assert_arr_eq(dst + i, ref + i, n, "read_now at %zu", i);
	}
	cr_assert_eq(dev_read_now(dev, UINT64_MAX - 2, dst, 16), DEV_ERR_RANGE);
	dev_close(dev);
	free(ref);
	free(src);
	free(dst);
	free(ops);
}

Test(device, random_null)
{
	struct dt_dev t;
	dt_setup(&t, "null");
	dt_random(&t);
}

Test(device, random_file)
{
	struct dt_dev t;
	dt_setup(&t, "file");
	dt_random(&t);
	dt_teardown(&t);
}

Test(device, random_uring)
{
	struct dt_dev t;
	dt_setup(&t, "uring");
	dt_random(&t);
	dt_teardown(&t);
}

/*
 * Shared mode (dev_share): SH_THREADS threads submit at once; every
 * callback must run on an I/O thread (never on a submitter, which marks
 * itself in dt_submitter), dev_flush must wait for the writes' callbacks
 * and dev_close for the reads'.
 */
#define SH_THREADS 4
#define SH_PER 64 /* operations per thread and phase */

static _Thread_local bool dt_submitter;

struct dt_shared {
	dev_device *dev;
	char *src, *dst;
	bool reading;
	atomic_int done, failed, on_submitter;
};

struct dt_worker {
	struct dt_shared *sh;
	int id;
};

static void dt_shared_cb(void *ctx, int status)
{
	struct dt_shared *sh = ctx;
	if (status)
		atomic_fetch_add(&sh->failed, 1);
	if (dt_submitter)
		atomic_fetch_add(&sh->on_submitter, 1);
	atomic_fetch_add(&sh->done, 1);
}

/* Chunk i lies at i*CHUNK + 1000: some cross a segment boundary. */
static void *dt_shared_thread(void *arg)
{
	struct dt_worker *w = arg;
	struct dt_shared *sh = w->sh;
	dt_submitter = true;
	for (int k = 0; k < SH_PER; k++) {
		size_t i = (size_t)k * SH_THREADS + (size_t)w->id;
		uint64_t off = i * CHUNK + 1000;
		int rc = sh->reading
				 ? dev_read(sh->dev, off, sh->dst + i * CHUNK,
					    CHUNK, dt_shared_cb, sh)
				 : dev_write(sh->dev, off, sh->src + i * CHUNK,
					     CHUNK, dt_shared_cb, sh);
		if (rc)
			atomic_fetch_add(&sh->failed, 1);
	}
	return NULL;
}

static void dt_shared_phase(struct dt_shared *sh, bool reading)
{
	pthread_t th[SH_THREADS];
	struct dt_worker w[SH_THREADS];
	sh->reading = reading;
	for (int i = 0; i < SH_THREADS; i++) {
		w[i] = (struct dt_worker){.sh = sh, .id = i};
		cr_assert_eq(
			pthread_create(&th[i], NULL, dt_shared_thread, &w[i]),
			0);
	}
	for (int i = 0; i < SH_THREADS; i++)
		pthread_join(th[i], NULL);
}

static void dt_shared(struct dt_dev *t)
{
	size_t size = (size_t)SH_THREADS * SH_PER * CHUNK;
	struct dt_shared sh = {.src = malloc(size), .dst = malloc(size)};
	cr_assert(sh.src && sh.dst);
	srand(11);
	for (size_t i = 0; i < size; i++)
		sh.src[i] = (char)rand();
	memset(sh.dst, 0, size);
	dt_submitter = true; /* the test's own thread */
	cr_assert_eq(t->open(t, &sh.dev), 0);
	dev_share(sh.dev);

	dt_shared_phase(&sh, false);
	cr_assert_eq(dev_flush(sh.dev), 0); /* waits for the callbacks */
	cr_assert_eq(atomic_load(&sh.done), SH_THREADS * SH_PER);
	cr_assert_eq(dev_pending(sh.dev), 0);
	cr_assert_eq(dev_poll(sh.dev, 1000), 0, "nothing left to poll");

	dt_shared_phase(&sh, true);
	dev_close(sh.dev); /* waits for the callbacks */
	cr_assert_eq(atomic_load(&sh.done), 2 * SH_THREADS * SH_PER);
	cr_assert_eq(atomic_load(&sh.failed), 0);
	cr_assert_eq(atomic_load(&sh.on_submitter), 0,
		     "callbacks ran on a submitting thread");
	for (size_t i = 0; i < (size_t)SH_THREADS * SH_PER; i++)
		cr_assert_arr_eq(sh.dst + i * CHUNK, sh.src + i * CHUNK, CHUNK,
				 "chunk %zu", i);
	free(sh.src);
	free(sh.dst);
}

Test(device, shared_null)
{
	struct dt_dev t;
	dt_setup(&t, "null");
	dt_shared(&t);
}

Test(device, shared_file)
{
	struct dt_dev t;
	dt_setup(&t, "file");
	dt_shared(&t);
	dt_teardown(&t);
}

Test(device, shared_uring)
{
	struct dt_dev t;
	dt_setup(&t, "uring");
	dt_shared(&t);
	dt_teardown(&t);
}

/* Runs one operation to completion on a device with an owner thread. */
static int dt_sync(dev_device *dev, bool write, uint64_t off, void *buf,
		   size_t len)
{
	int next = 0;
	struct dt_op op = {.status = 1, .order_next = &next};
	int rc = write ? dev_write(dev, off, buf, len, dt_cb, &op)
		       : dev_read(dev, off, buf, len, dt_cb, &op);
	if (rc)
		return rc;
	dt_wait(dev, &next, 1);
	return op.status;
}

/* Writes with `writer` (a range over five segments, and chunks), closes
 * it, then reads everything back with `reader` over the same files. */
static void dt_cross(int (*writer)(struct dt_dev *, dev_device **),
		     int (*reader)(struct dt_dev *, dev_device **))
{
	struct dt_dev t;
	dt_setup(&t, "uring");
	size_t big = 4 * (size_t)SEG + 777;
	uint64_t big_at = 3 * (uint64_t)SEG - 333;
	char *src = malloc(big), *dst = malloc(big);
	cr_assert(src && dst);
	srand(5);
	for (size_t i = 0; i < big; i++)
		src[i] = (char)rand();

	dev_device *dev = NULL;
	t.open = writer;
	cr_assert_eq(t.open(&t, &dev), 0);
	cr_assert_eq(dt_sync(dev, true, big_at, src, big), 0);
	cr_assert_eq(dt_sync(dev, true, 100, src, CHUNK), 0);
	cr_assert_eq(dev_flush(dev), 0);
	dev_close(dev);

	t.open = reader;
	cr_assert_eq(t.open(&t, &dev), 0);
	memset(dst, 0x77, big);
	cr_assert_eq(dt_sync(dev, false, big_at, dst, big), 0);
	cr_assert_arr_eq(dst, src, big);
	cr_assert_eq(dt_sync(dev, false, 100, dst, CHUNK), 0);
	cr_assert_arr_eq(dst, src, CHUNK);
	/* Between the two writes, and past the end of the last file. */
	char z[3000], zero[3000] = {0};
	memset(z, 1, sizeof(z));
	cr_assert_eq(dt_sync(dev, false, SEG + 5, z, sizeof(z)), 0);
	cr_assert_arr_eq(z, zero, sizeof(z));
	memset(z, 1, sizeof(z));
	cr_assert_eq(dt_sync(dev, false, big_at + big - 1000, z, sizeof(z)), 0);
	cr_assert_arr_eq(z, src + big - 1000, 1000);
	cr_assert_arr_eq(z + 1000, zero, sizeof(z) - 1000);
	dev_close(dev);
	free(src);
	free(dst);
	dt_teardown(&t);
}

Test(device, uring_writes_file_reads)
{
	dt_cross(dt_open_uring, dt_open_file);
}

Test(device, file_writes_uring_reads)
{
	dt_cross(dt_open_file, dt_open_uring);
}

Test(device, open_by_type)
{
	const char *types[] = {"file", "uring", "null"};
	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/rf-device-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		dev_device *dev = NULL;
		cr_assert_eq(dev_open(types[i], dir, "log", SEG, &dev), 0, "%s",
			     types[i]);
		char b[100] = "abc";
		cr_assert_eq(dt_sync(dev, true, SEG - 50, b, sizeof(b)), 0);
		memset(b, 0, sizeof(b));
		cr_assert_eq(dt_sync(dev, false, SEG - 50, b, sizeof(b)), 0);
		cr_assert_str_eq(b, "abc");
		dev_close(dev);
	}
	dev_device *dev = NULL;
	cr_assert_eq(dev_open("disk", dir, "log", SEG, &dev), -EINVAL);
	cr_assert_eq(dev_open(NULL, dir, "log", SEG, &dev), -EINVAL);
	cr_assert_eq(dev_open("uring", dir, "log", 5000, &dev), -EINVAL);
	dt_rmdir(dir);
}

/*
 * The fall-back: in a child process whose seccomp filter refuses
 * io_uring_setup with EPERM (as container runtimes do), dev_uring_open
 * returns -EPERM and dev_open("uring") logs one line and gives a working
 * file device.  The child reports through its exit status: 0 passed, 77
 * seccomp unavailable, else the failed step.
 */
static int dt_refuse_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
}

static int dt_fallback_child(const char *dir, const char *log)
{
	if (dt_refuse_uring() < 0)
		return 77;
	dev_device *dev = NULL;
	if (dev_uring_open(dir, "log", SEG, &dev) != -EPERM)
		return 2;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		return 3;
	if (dev_open("uring", dir, "log", SEG, &dev) != 0)
		return 4;
	char b[16] = "fallback";
	int next = 0;
	struct dt_op op = {.status = 1, .order_next = &next};
	if (dev_write(dev, 10, b, sizeof(b), dt_cb, &op) != 0)
		return 5;
	while (dev_pending(dev))
		dev_poll(dev, 1);
	dev_close(dev);
	return op.status == 0 ? 0 : 6;
}

Test(device, uring_fallback)
{
	char dir[64], log[96];
	snprintf(dir, sizeof(dir), "/tmp/rf-device-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/stderr", dir);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(dt_fallback_child(dir, log));
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child died: status %d", st);
	if (WEXITSTATUS(st) == 77) {
		unlink(log);
		dt_rmdir(dir);
		cr_skip_test("seccomp filters are not available here");
	}
	cr_assert_eq(WEXITSTATUS(st), 0, "child failed at step %d",
		     WEXITSTATUS(st));
	char text[256] = {0};
	FILE *fp = fopen(log, "r");
	cr_assert_not_null(fp);
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	cr_assert_gt(n, 0);
	cr_assert_str_eq(text, "io_uring unavailable (Operation not "
			       "permitted): using the file device\n");
	/* The file device wrote the data. */
	dev_device *dev = NULL;
	cr_assert_eq(dev_file_open(dir, "log", SEG, &dev), 0);
	char b[16] = {0};
	cr_assert_eq(dt_sync(dev, false, 10, b, sizeof(b)), 0);
	cr_assert_str_eq(b, "fallback");
	dev_close(dev);
	unlink(log);
	dt_rmdir(dir);
}

Test(device, bad_arguments)
{
	dev_device *dev = NULL;
	cr_assert_eq(dev_null_open(1000, &dev), -EINVAL);
	cr_assert_eq(dev_file_open("/tmp", "x", 3 << 12, &dev), -EINVAL);
	cr_assert_eq(dev_uring_open("/tmp", "x", 3 << 12, &dev), -EINVAL);
	cr_assert_eq(dev_uring_open(NULL, "x", 4096, &dev), -EINVAL);
	cr_assert_eq(dev_null_open(4096, &dev), 0);
	char b[8];
	cr_assert_eq(dev_read(dev, UINT64_MAX - 2, b, sizeof(b), NULL, NULL),
		     DEV_ERR_RANGE);
	cr_assert_eq(dev_pending(dev), 0);
	dev_close(dev);
	dev_close(NULL);
}

/* dev_write_now: written on the calling thread, read back by both kinds
 * of read, across a segment boundary; refused below the truncation
 * point and on overflow. */
static void dt_write_now(struct dt_dev *t)
{
	dev_device *dev = NULL;
	cr_assert_eq(t->open(t, &dev), 0);
	static uint8_t in[CHUNK], out[CHUNK];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	uint64_t off = SEG - CHUNK / 2; /* straddles segments 0 and 1 */
	cr_assert_eq(dev_write_now(dev, off, in, sizeof(in)), 0);
	cr_assert_eq(dev_read_now(dev, off, out, sizeof(out)), 0);
	cr_assert_arr_eq(in, out, sizeof(in));
	cr_assert_eq(dev_flush(dev), 0);
	cr_assert_eq(dev_truncate(dev, SEG), 0);
	cr_assert_eq(dev_write_now(dev, 0, in, 16), DEV_ERR_TRUNCATED);
	cr_assert_eq(dev_write_now(dev, UINT64_MAX - 4, in, 16), DEV_ERR_RANGE);
	memset(out, 0, sizeof(out));
	cr_assert_eq(dev_read_now(dev, SEG, out, CHUNK / 2), 0);
	cr_assert_arr_eq(in + CHUNK / 2, out, CHUNK / 2);
	dev_close(dev);
}

Test(device, write_now_null)
{
	struct dt_dev t;
	dt_setup(&t, "null");
	dt_write_now(&t);
}

Test(device, write_now_file)
{
	struct dt_dev t;
	dt_setup(&t, "file");
	dt_write_now(&t);
	dt_teardown(&t);
}

Test(device, write_now_uring)
{
	dt_need_uring();
	struct dt_dev t;
	dt_setup(&t, "uring");
	dt_write_now(&t);
	dt_teardown(&t);
}
