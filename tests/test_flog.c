/*
 * test_flog.c - FasterLog (flog.h): appends and reads across pages and
 * frames, many threads appending and committing, recovery that trusts
 * exactly the committed part (a torn or garbage tail is cut at the last
 * commit, a damaged commit slot falls back to the other one), a process
 * killed with SIGKILL in the middle of commits, truncation, and waiting
 * for commits.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "flog.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fkv-flog-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(flog, .init = setup, .fini = teardown, .timeout = 60);

static flog *open_log(uint64_t page, uint32_t pages, uint64_t seg,
		      uint32_t interval)
{
	flog_config c = {.dir = dir,
			 .page_size = page,
			 .pages = pages,
			 .segment_size = seg,
			 .commit_interval_ms = interval};
	flog *l = NULL;
	char why[256] = "";
	int rc = flog_open(&c, &l, why, sizeof(why));
	cr_assert_eq(rc, FKV_OK, "flog_open: %s (%s)", fkv_strerror(rc), why);
	return l;
}

/* Entry i's content: its number, then bytes derived from it; length
 * varies with i (0 for some). */
static size_t make_entry(uint64_t i, uint8_t *buf, size_t max)
{
	size_t n = (size_t)((i * 2654435761u) % max);
	if (i % 17 == 0)
		n = 0;
	for (size_t k = 0; k < n; k++)
		buf[k] = (uint8_t)(i * 31 + k);
	if (n >= 8)
		fkv__put64(buf, i);
	return n;
}

static void check_entry(uint64_t i, const void *p, uint32_t len, size_t max)
{
	uint8_t want[8192];
	size_t n = make_entry(i, want, max);
	cr_assert_eq(len, n, "entry %llu: length %u, want %zu",
		     (unsigned long long)i, len, n);
	cr_assert(n == 0 || memcmp(p, want, n) == 0, "entry %llu differs",
		  (unsigned long long)i);
}

/* Reads [from, limit) and checks entries first.. in order; returns how
 * many it read. */
static uint64_t scan_check(flog *l, uint64_t from, uint64_t limit,
			   uint64_t first, size_t max)
{
	uint64_t a = from, i = first;
	for (;;) {
		void *e;
		uint32_t len;
		uint64_t next;
		char why[128];
		uint64_t asked = a;
		int rc = flog_read(l, &a, limit, &e, &len, &next, why,
				   sizeof(why));
		if (rc == FKV_NOT_FOUND)
			break;
		cr_assert_eq(rc, FKV_OK, "read at %llu: %s (%s)",
			     (unsigned long long)a, fkv_strerror(rc), why);
		/* The previous entry's next was this entry's address: it
		 * skipped any page end (the first read may start on one). */
		cr_assert(a == asked || i == first,
			  "entry %llu is at %llu, not at next %llu",
			  (unsigned long long)i, (unsigned long long)a,
			  (unsigned long long)asked);
		check_entry(i, e, len, max);
		free(e);
		cr_assert_gt(next, a);
		a = next;
		i++;
	}
	return i - first;
}

Test(flog, append_read_roundtrip)
{
	flog *l = open_log(4096, 4, 1 << 20, 0);
	cr_assert_eq(flog_tail(l), FLOG_START);
	cr_assert_eq(flog_max_entry(l), 4096 - FLOG_HEADER);
	uint8_t buf[4096];
	uint64_t addrs[600], end = 0;
	for (uint64_t i = 0; i < 600; i++) {
		size_t n = make_entry(i, buf, 700);
		cr_assert_eq(flog_append(l, buf, n, &addrs[i], &end), FKV_OK);
		cr_assert(i == 0 || addrs[i] > addrs[i - 1]);
		cr_assert_eq(addrs[i] % 4, 0);
	}
	cr_assert_eq(addrs[0], FLOG_START);
	cr_assert_eq(end, flog_tail(l));
	/* The largest entry fits; one byte more does not. */
	memset(buf, 7, sizeof(buf));
	uint64_t big;
	cr_assert_eq(flog_append(l, buf, flog_max_entry(l), &big, NULL),
		     FKV_OK);
	cr_assert_eq(big % 4096, 0, "a full-page entry starts a page");
	cr_assert_eq(flog_append(l, buf, flog_max_entry(l) + 1, NULL, NULL),
		     FKV_INVALID);
	/* Read back every entry (most from the device by now: 4 frames of
	 * 4 KB hold far less than was appended), uncommitted, to the tail. */
	cr_assert_eq(scan_check(l, FLOG_START, big, 0, 700), 600);
	void *e;
	uint32_t len;
	uint64_t next;
	cr_assert_eq(flog_read(l, &(uint64_t){big}, flog_tail(l), &e, &len,
			       &next, NULL, 0),
		     FKV_OK);
	cr_assert_eq(len, flog_max_entry(l));
	cr_assert_eq(((uint8_t *)e)[len - 1], 7);
	free(e);
	cr_assert_eq(next, flog_tail(l));
	cr_assert_eq(flog_read(l, &(uint64_t){next}, flog_tail(l), &e, &len,
			       &next, NULL, 0),
		     FKV_NOT_FOUND);
	/* Not an entry boundary, below begin, beyond the limit. */
	char why[128];
	cr_assert_eq(flog_read(l, &(uint64_t){addrs[5] + 4}, flog_tail(l), &e,
			       &len, &next, why, sizeof(why)),
		     FKV_INVALID);
	cr_assert_eq(flog_read(l, &(uint64_t){0}, flog_tail(l), &e, &len, &next,
			       why, sizeof(why)),
		     FKV_INVALID);
	cr_assert(strstr(why, "below") != NULL, "%s", why);
	cr_assert_eq(flog_read(l, &(uint64_t){flog_tail(l) + 64}, flog_tail(l),
			       &e, &len, &next, why, sizeof(why)),
		     FKV_INVALID);
	cr_assert_eq(flog_commit(l), FKV_OK);
	flog_info in;
	flog_get_info(l, &in);
	cr_assert_eq(in.entries, 601);
	cr_assert_eq(in.committed, in.tail);
	cr_assert_eq(in.bytes, in.tail - FLOG_START);
	flog_close(l);
	/* Reopened: the same entries, from the device. */
	l = open_log(4096, 4, 1 << 20, 0);
	cr_assert_eq(flog_tail(l), in.tail);
	cr_assert_eq(scan_check(l, FLOG_START, big, 0, 700), 600);
	flog_get_info(l, &in);
	cr_assert_eq(in.entries, 601);
	flog_close(l);
}

#define THREADS 4
#define PER_THREAD 20000

struct writer {
	flog *l;
	int id;
};

/* Entries carry (thread, sequence); every 1000th append also commits. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (uint32_t i = 0; i < PER_THREAD; i++) {
		uint8_t b[64];
		fkv__put32(b, (uint32_t)w->id);
		fkv__put32(b + 4, i);
		size_t n = 8 + (i % 50);
		memset(b + 8, (int)(i & 0xff), n - 8);
		if (flog_append(w->l, b, n, NULL, NULL) != FKV_OK)
			return (void *)1;
		if (i % 1000 == 999 && flog_commit(w->l) != FKV_OK)
			return (void *)1;
	}
	return NULL;
}

/* Every entry of every thread exactly once, each thread's in order. */
static void check_threads(flog *l, uint64_t limit)
{
	uint32_t seen[THREADS] = {0};
	uint64_t a = FLOG_START;
	for (;;) {
		void *e;
		uint32_t len;
		uint64_t next;
		int rc = flog_read(l, &a, limit, &e, &len, &next, NULL, 0);
		if (rc == FKV_NOT_FOUND)
			break;
		cr_assert_eq(rc, FKV_OK, "read at %llu: %s",
			     (unsigned long long)a, fkv_strerror(rc));
		cr_assert_geq(len, 8);
		uint32_t t = fkv__get32(e), i = fkv__get32((uint8_t *)e + 4);
		cr_assert_lt(t, THREADS);
		cr_assert_eq(i, seen[t], "thread %u: entry %u after %u", t, i,
			     seen[t]);
		cr_assert_eq(len, 8 + (i % 50));
		if (len > 8)
			cr_assert_eq(((uint8_t *)e)[len - 1],
				     (uint8_t)(i & 0xff));
		seen[t]++;
		free(e);
		a = next;
	}
	for (int t = 0; t < THREADS; t++)
		cr_assert_eq(seen[t], PER_THREAD, "thread %d: %u entries", t,
			     seen[t]);
}

Test(flog, many_threads_append_commit_recover)
{
	/* Small pages and few frames: appenders wait for the flusher. */
	flog *l = open_log(16384, 3, 1 << 20, 5);
	pthread_t th[THREADS];
	struct writer w[THREADS];
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct writer){l, t};
		cr_assert_eq(pthread_create(&th[t], NULL, writer_main, &w[t]),
			     0);
	}
	for (int t = 0; t < THREADS; t++) {
		void *r;
		pthread_join(th[t], &r);
		cr_assert_null(r);
	}
	cr_assert_eq(flog_commit(l), FKV_OK);
	uint64_t tail = flog_tail(l);
	cr_assert_eq(flog_committed(l), tail);
	check_threads(l, tail);
	flog_info in;
	flog_get_info(l, &in);
	cr_assert_eq(in.entries, THREADS * PER_THREAD);
	cr_assert_gt(in.commits, 0);
	flog_close(l);
	l = open_log(16384, 3, 1 << 20, 5);
	cr_assert_eq(flog_tail(l), tail);
	check_threads(l, tail);
	flog_get_info(l, &in);
	cr_assert_eq(in.entries, THREADS * PER_THREAD);
	flog_close(l);
}

static void data_path(char *p, size_t n)
{
	snprintf(p, n, "%s/data.0", dir);
}

Test(flog, recovery_cuts_at_the_commit_point)
{
	flog *l = open_log(4096, 2, 1 << 20, 0);
	uint8_t buf[1024];
	for (uint64_t i = 0; i < 100; i++) {
		size_t n = make_entry(i, buf, 300);
		cr_assert_eq(flog_append(l, buf, n, NULL, NULL), FKV_OK);
	}
	cr_assert_eq(flog_commit(l), FKV_OK);
	uint64_t committed = flog_committed(l);
	/* Appended after the commit: whole pages even reach the device
	 * (2 frames), but no commit covers them. */
	for (uint64_t i = 100; i < 300; i++) {
		size_t n = make_entry(i, buf, 300);
		cr_assert_eq(flog_append(l, buf, n, NULL, NULL), FKV_OK);
	}
	cr_assert_gt(flog_tail(l), committed + 8192);
	flog_close(l);
	/* A torn write beyond the commit point: garbage where the next
	 * entries would be, and a plausible header with a bad checksum. */
	char p[128];
	data_path(p, sizeof(p));
	FILE *f = fopen(p, "r+");
	cr_assert_not_null(f);
	uint8_t junk[256];
	for (size_t k = 0; k < sizeof(junk); k++)
		junk[k] = (uint8_t)(k * 7 + 1);
	fkv__put32(junk, 0x80000010u);
	cr_assert_eq(fseek(f, (long)committed, SEEK_SET), 0);
	cr_assert_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	l = open_log(4096, 2, 1 << 20, 0);
	cr_assert_eq(flog_committed(l), committed);
	cr_assert_eq(flog_tail(l), committed);
	cr_assert_eq(scan_check(l, FLOG_START, flog_tail(l), 0, 300), 100);
	void *e;
	uint32_t len;
	uint64_t next;
	cr_assert_eq(flog_read(l, &(uint64_t){committed}, flog_tail(l), &e,
			       &len, &next, NULL, 0),
		     FKV_NOT_FOUND);
	/* New appends overwrite the cut tail and read back. */
	for (uint64_t i = 100; i < 200; i++) {
		size_t n = make_entry(i, buf, 300);
		cr_assert_eq(flog_append(l, buf, n, NULL, NULL), FKV_OK);
	}
	cr_assert_eq(flog_commit(l), FKV_OK);
	flog_close(l);
	l = open_log(4096, 2, 1 << 20, 0);
	cr_assert_eq(scan_check(l, FLOG_START, flog_tail(l), 0, 300), 200);
	flog_close(l);
}

Test(flog, damaged_commit_slot_falls_back)
{
	flog *l = open_log(4096, 4, 1 << 20, 0);
	uint8_t buf[512];
	for (uint64_t i = 0; i < 10; i++) {
		size_t n = make_entry(i, buf, 200);
		cr_assert_eq(flog_append(l, buf, n, NULL, NULL), FKV_OK);
	}
	cr_assert_eq(flog_commit(l), FKV_OK); /* seq 1: slot 1 */
	uint64_t first = flog_committed(l);
	for (uint64_t i = 10; i < 20; i++) {
		size_t n = make_entry(i, buf, 200);
		cr_assert_eq(flog_append(l, buf, n, NULL, NULL), FKV_OK);
	}
	cr_assert_eq(flog_commit(l), FKV_OK); /* seq 2: slot 0 */
	flog_close(l);
	/* A torn write of the newest record: the older one holds. */
	char p[128];
	snprintf(p, sizeof(p), "%s/commit", dir);
	FILE *f = fopen(p, "r+");
	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 30, SEEK_SET), 0);
	fputc(0x5a, f);
	fclose(f);
	l = open_log(4096, 4, 1 << 20, 0);
	cr_assert_eq(flog_committed(l), first);
	cr_assert_eq(scan_check(l, FLOG_START, flog_tail(l), 0, 200), 10);
	flog_close(l);
	/* Both damaged: refused, with a reason. */
	f = fopen(p, "r+");
	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 4096 + 30, SEEK_SET), 0);
	fputc(0x5a, f);
	fclose(f);
	flog_config c = {.dir = dir, .page_size = 4096, .pages = 4};
	flog *bad = NULL;
	char why[256] = "";
	cr_assert_eq(flog_open(&c, &bad, why, sizeof(why)), FKV_CORRUPTION);
	cr_assert(strstr(why, "damaged") != NULL, "%s", why);
}

Test(flog, existing_log_keeps_its_page_size)
{
	flog *l = open_log(4096, 4, 1 << 20, 0);
	cr_assert_eq(flog_append(l, "x", 1, NULL, NULL), FKV_OK);
	cr_assert_eq(flog_commit(l), FKV_OK);
	flog_close(l);
	/* Opened with other sizes: it keeps 4 KB pages and 1 MB segments. */
	l = open_log(8192, 4, 1 << 21, 0);
	cr_assert_eq(flog_max_entry(l), 4096 - FLOG_HEADER);
	uint8_t buf[4096] = {0};
	cr_assert_eq(flog_append(l, buf, 5000, NULL, NULL), FKV_INVALID);
	void *e;
	uint32_t len;
	uint64_t next;
	cr_assert_eq(flog_read(l, &(uint64_t){FLOG_START}, flog_tail(l), &e,
			       &len, &next, NULL, 0),
		     FKV_OK);
	cr_assert_eq(len, 1);
	free(e);
	flog_close(l);
	flog_config c = {.dir = dir, .page_size = 1000, .pages = 4};
	flog *bad = NULL;
	char why[256] = "";
	cr_assert_eq(flog_open(&c, &bad, why, sizeof(why)), FKV_INVALID);
}

/* The child appends entry i (make_entry) and commits after every few,
 * then writes the committed address to the pipe. */
static void crash_child(int fd)
{
	flog_config c = {.dir = dir,
			 .page_size = 8192,
			 .pages = 4,
			 .segment_size = 1 << 20};
	flog *l = NULL;
	if (flog_open(&c, &l, NULL, 0) != FKV_OK)
		_exit(3);
	uint8_t buf[2048];
	for (uint64_t i = 0;; i++) {
		size_t n = make_entry(i, buf, 1500);
		if (flog_append(l, buf, n, NULL, NULL) != FKV_OK)
			_exit(4);
		if (i % 7 == 6) {
			if (flog_commit(l) != FKV_OK)
				_exit(5);
			uint64_t a = flog_committed(l);
			if (write(fd, &a, sizeof(a)) != sizeof(a))
				_exit(6);
		}
	}
}

Test(flog, kill_during_commits_loses_nothing_committed)
{
	for (int round = 0; round < 5; round++) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(p[0]);
			crash_child(p[1]);
		}
		close(p[1]);
		/* Let it commit a while, then kill it at once. */
		uint64_t last = 0, a;
		int got = 0, want = 50 + 40 * round;
		while (got < want && read(p[0], &a, sizeof(a)) == sizeof(a)) {
			last = a;
			got++;
		}
		kill(pid, SIGKILL);
		/* Addresses the child wrote before dying were committed. */
		int total = got;
		while (read(p[0], &a, sizeof(a)) == sizeof(a)) {
			last = a;
			total++;
		}
		close(p[0]);
		int st;
		waitpid(pid, &st, 0);
		cr_assert(WIFSIGNALED(st), "child exited with %d",
			  WEXITSTATUS(st));
		cr_assert_eq(got, want);
		flog *l = open_log(8192, 4, 1 << 20, 0);
		cr_assert_geq(flog_committed(l), last,
			      "committed %llu < acknowledged %llu",
			      (unsigned long long)flog_committed(l),
			      (unsigned long long)last);
		/* Every committed entry is whole, in order: at least the 7
		 * per acknowledged commit. */
		uint64_t n =
			scan_check(l, FLOG_START, flog_committed(l), 0, 1500);
		cr_assert_geq(n, 7 * (uint64_t)total);
		flog_close(l);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s/*", dir);
		cr_assert_eq(system(cmd), 0);
	}
}

Test(flog, truncate_moves_begin_durably)
{
	/* 4 KB pages, 8 KB segments: truncation drops data.0 and data.1. */
	flog *l = open_log(4096, 2, 8192, 0);
	uint8_t buf[1024];
	uint64_t addrs[400];
	for (uint64_t i = 0; i < 400; i++) {
		size_t n = make_entry(i, buf, 300);
		cr_assert_eq(flog_append(l, buf, n, &addrs[i], NULL), FKV_OK);
	}
	cr_assert_gt(flog_tail(l), 3 * 8192);
	char why[160];
	/* Beyond the committed address: refused. */
	cr_assert_eq(flog_truncate(l, addrs[10], why, sizeof(why)),
		     FKV_INVALID);
	cr_assert(strstr(why, "committed") != NULL, "%s", why);
	cr_assert_eq(flog_commit(l), FKV_OK);
	/* Not an entry boundary: refused. */
	cr_assert_eq(flog_truncate(l, addrs[10] + 4, why, sizeof(why)),
		     FKV_INVALID);
	uint64_t cut = 0;
	int k = 0;
	while (addrs[k] < 2 * 8192 + 100)
		k++;
	cut = addrs[k]; /* entries 0..k-1 go */
	cr_assert_eq(flog_truncate(l, cut, why, sizeof(why)), FKV_OK, "%s",
		     why);
	cr_assert_eq(flog_begin(l), cut);
	flog_info in;
	flog_get_info(l, &in);
	cr_assert_eq(in.entries, 400 - (uint64_t)k);
	void *e;
	uint32_t len;
	uint64_t next;
	cr_assert_eq(flog_read(l, &(uint64_t){addrs[0]}, flog_tail(l), &e, &len,
			       &next, why, sizeof(why)),
		     FKV_INVALID);
	cr_assert_eq(scan_check(l, cut, flog_tail(l), (uint64_t)k, 300),
		     400 - (uint64_t)k);
	/* A lower address is a no-op. */
	cr_assert_eq(flog_truncate(l, addrs[3], why, sizeof(why)), FKV_OK);
	cr_assert_eq(flog_begin(l), cut);
	char p[128];
	snprintf(p, sizeof(p), "%s/data.0", dir);
	cr_assert_neq(access(p, F_OK), 0, "segment 0 was dropped");
	snprintf(p, sizeof(p), "%s/data.1", dir);
	cr_assert_neq(access(p, F_OK), 0, "segment 1 was dropped");
	flog_close(l);
	l = open_log(4096, 2, 8192, 0);
	cr_assert_eq(flog_begin(l), cut);
	flog_get_info(l, &in);
	cr_assert_eq(in.entries, 400 - (uint64_t)k);
	cr_assert_eq(scan_check(l, cut, flog_tail(l), (uint64_t)k, 300),
		     400 - (uint64_t)k);
	flog_close(l);
}

static atomic_uint_fast64_t seen_commit;

static void on_commit(void *ctx, uint64_t committed)
{
	(void)ctx;
	atomic_store(&seen_commit, committed);
}

struct waiter {
	flog *l;
	uint64_t addr;
	bool ok;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;
	w->ok = flog_wait_committed(w->l, w->addr, 10000);
	return NULL;
}

Test(flog, waiting_for_commits)
{
	flog_config c = {.dir = dir,
			 .page_size = 4096,
			 .pages = 4,
			 .commit_interval_ms = 20,
			 .on_commit = on_commit};
	flog *l = NULL;
	cr_assert_eq(flog_open(&c, &l, NULL, 0), FKV_OK);
	/* Nothing comes: the wait times out. */
	cr_assert_not(flog_wait_committed(l, FLOG_START + 8, 50));
	/* A waiter for the next entry wakes when the interval commits it. */
	struct waiter w = {l, FLOG_START + 16, false};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, wait_main, &w), 0);
	uint64_t end;
	cr_assert_eq(flog_append(l, "12345678", 8, NULL, &end), FKV_OK);
	cr_assert_eq(end, FLOG_START + 16);
	pthread_join(th, NULL);
	cr_assert(w.ok);
	cr_assert_geq(atomic_load(&seen_commit), end);
	flog_close(l);
}
