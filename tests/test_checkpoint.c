/*
 * test_checkpoint.c - CPR checkpoints and recovery: the state machine,
 * a store recovered from a checkpoint of a data set larger than memory,
 * the prefix property under 4 threads of RMW increments (checked exactly
 * from per-thread operation logs), and damaged checkpoints skipped for
 * the previous one.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpr.h"
#include "device.h"
#include "fkv.h"
#include "internal.h"
#include "test_util.h"

static fkv_store *st;
static fkv_session *sess;
static char dir[64];
static bool snapshots; /* checkpoint_snapshot for the stores opened */

static void teardown(void)
{
	tu_close(&sess, &st);
	snapshots = false;
	if (dir[0] != '\0') {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		int rc = system(cmd);
		cr_expect_eq(rc, 0, "%s: %d", cmd, rc);
		dir[0] = '\0';
	}
}

static void log_line(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	if (getenv("FKV_TEST_LOG") != NULL)
		fprintf(stderr, "%s\n", msg);
}

/* 4 KiB pages, 64 KiB of log memory: the data sets below are several
 * times larger than memory.  A file device in `dir`, checkpoints there. */
static int open_store(bool recover, uint32_t keep)
{
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = 256;
	cfg.log_memory_size = 64 << 10;
	cfg.page_size_bits = 12;
	cfg.mutable_fraction = 0.5;
	cfg.max_sessions = 16;
	cfg.huge_pages = false;
	cfg.read_cache_size = 1 << 20;
	cfg.checkpoint_dir = dir;
	cfg.checkpoint_keep = keep;
	cfg.recover = recover;
	cfg.checkpoint_snapshot = snapshots;
	cfg.log = log_line;
	cr_assert_eq(dev_file_open(dir, "hlog", 1 << 20, &cfg.device), 0);
	int rc = fkv_store_open(&cfg, &st);
	if (rc != FKV_OK) {
		dev_close(cfg.device);
		return rc;
	}
	cr_assert_eq(fkv_session_start(st, &sess), FKV_OK);
	return FKV_OK;
}

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fkv-ckpt-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

/* Takes a checkpoint with the main session suspended; returns its info. */
static fkv_checkpoint_info checkpoint(void)
{
	fkv_checkpoint_info info;
	fkv_session_suspend(sess);
	cr_assert_eq(fkv_checkpoint_start(st, 0, NULL, NULL), FKV_OK);
	cr_assert_eq(fkv_checkpoint_wait(st, &info), FKV_OK, "%s", info.error);
	fkv_session_resume(sess);
	return info;
}

/* Closes without a checkpoint: what a crash after the last one leaves
 * (the log written since may or may not be on the device). */
static void crash(void)
{
	tu_close(&sess, &st);
}

/* Writes keys [0, n) with round r's values. */
static void write_round(int n, int r)
{
	for (int i = 0; i < n; i++) {
		char k[32], v[160];
		tu_key_of(k, sizeof(k), i);
		tu_value_of(v, sizeof(v), i, r);
		cr_assert_eq(tu_put(sess, k, v), FKV_OK);
	}
}

/* Every key [0, n) holds round r's value. */
static void check_round(int n, int r)
{
	struct tu_val *v = malloc(sizeof(*v));
	for (int i = 0; i < n; i++) {
		char k[32], want[160];
		tu_key_of(k, sizeof(k), i);
		tu_value_of(want, sizeof(want), i, r);
		cr_assert_eq(tu_get(sess, k, v), FKV_OK, "key %d", i);
		cr_assert(tu_val_is(v, want), "key %d: %.*s, want %s", i,
			  (int)v->len, v->buf, want);
	}
	free(v);
}

TestSuite(checkpoint, .fini = teardown, .timeout = 120);

Test(checkpoint, state_machine_transitions)
{
	static const unsigned order[] = {
		FKV__CPR_REST,	       FKV__CPR_INDEX,
		FKV__CPR_PREPARE,      FKV__CPR_IN_PROGRESS,
		FKV__CPR_WAIT_PENDING, FKV__CPR_WAIT_FLUSH,
		FKV__CPR_PERSIST,      FKV__CPR_REST,
	};
	uint64_t s = fkv__cpr_make(FKV__CPR_REST, 7);
	for (size_t i = 1; i < sizeof(order) / sizeof(order[0]); i++) {
		uint64_t n = fkv__cpr_next(s);
		cr_assert_eq(fkv__cpr_phase(n), order[i], "step %zu", i);
		/* The version moves once, entering IN_PROGRESS. */
		uint64_t want =
			order[i] >= FKV__CPR_IN_PROGRESS || (i == 7) ? 8 : 7;
		cr_assert_eq(fkv__cpr_version(n), want, "step %zu", i);
		/* Aborting goes back to REST without changing the version. */
		uint64_t a = fkv__cpr_abort(n);
		cr_assert_eq(fkv__cpr_phase(a), FKV__CPR_REST);
		cr_assert_eq(fkv__cpr_version(a), fkv__cpr_version(n));
		s = n;
	}
	cr_assert_str_eq(fkv__cpr_phase_name(FKV__CPR_WAIT_FLUSH),
			 "wait-flush");
	cr_assert_str_eq(fkv__cpr_phase_name(99), "unknown");
}

Test(checkpoint, needs_a_device_and_a_folder)
{
	cr_assert_eq(tu_open_default(&st), FKV_OK);
	cr_assert_eq(fkv_checkpoint_start(st, 0, NULL, NULL), FKV_INVALID);
	cr_assert_eq(fkv_checkpoint_wait(st, NULL), FKV_NOT_FOUND);
}

static void recovers_larger_than_memory(void)
{
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_info ri;
	fkv_recovery_result(st, &ri);
	cr_assert(!ri.recovered);
	/* 3000 keys of ~90 bytes: ~400 KiB of records, 64 KiB of memory. */
	write_round(3000, 1);
	for (int i = 0; i < 3000; i += 3) { /* deletes come back too */
		char k[32];
		tu_key_of(k, sizeof(k), i);
		cr_assert_eq(fkv_delete(sess, k, (uint32_t)strlen(k)), FKV_OK);
	}
	uint64_t tail = tu_stats(st).log_tail;
	fkv_checkpoint_info info = checkpoint();
	cr_assert_eq(info.version, 1);
	cr_assert_gt(info.final_address, 300 << 10);
	/* The log ends where it was, inside its page: no page is skipped. */
	cr_assert_eq(info.final_address, tail);
	cr_assert_eq(tu_stats(st).log_tail, tail);
	cr_assert_gt(info.index_bytes, 0);
	/* After the checkpoint: changes that a crash loses. */
	write_round(3000, 2);
	crash();

	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_result(st, &ri);
	cr_assert(ri.recovered);
	cr_assert_eq(ri.version, 1);
	cr_assert_eq(ri.final_address, info.final_address);
	struct tu_val *v = malloc(sizeof(*v));
	for (int i = 0; i < 3000; i++) {
		char k[32], want[160];
		tu_key_of(k, sizeof(k), i);
		tu_value_of(want, sizeof(want), i, 1);
		int rc = tu_get(sess, k, v);
		if (i % 3 == 0) {
			cr_assert_eq(rc, FKV_NOT_FOUND, "key %d", i);
			continue;
		}
		cr_assert_eq(rc, FKV_OK, "key %d", i);
		cr_assert(tu_val_is(v, want), "key %d", i);
	}
	free(v);
	/* The recovered store goes on: writes, a second checkpoint, and a
	 * second recovery from it. */
	write_round(3000, 3);
	info = checkpoint();
	cr_assert_eq(info.version, 2);
	crash();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_result(st, &ri);
	cr_assert_eq(ri.version, 2);
	check_round(3000, 3);
}

Test(checkpoint, recovers_a_data_set_larger_than_memory)
{
	recovers_larger_than_memory();
}

Test(checkpoint, snapshot_recovers_a_data_set_larger_than_memory)
{
	snapshots = true;
	recovers_larger_than_memory();
	char p[128];
	snprintf(p, sizeof(p), "%s/ckpt-%020llu/snapshot", dir, 2ull);
	struct stat sb;
	cr_assert_eq(stat(p, &sb), 0, "%s", p);
}

/* ---- The prefix property under concurrency ----------------------------- */

#define NTHREADS 4
#define NCOUNTERS 64
#define MAX_OPS 4000000

struct worker {
	pthread_t tid;
	int index;
	uint64_t session_id;
	uint8_t *keys; /* the counter each completed increment went to */
	_Atomic uint64_t done;
	_Atomic bool *stop;
	int status;
};

static void counter_key(char *buf, size_t n, int c)
{
	snprintf(buf, n, "counter:%02d", c);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	fkv_session *s;
	w->status = fkv_session_start(st, &s);
	if (w->status != FKV_OK)
		return NULL;
	w->session_id = fkv_session_id(s);
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(w->index + 1);
	uint64_t done = 0;
	while (!atomic_load(w->stop) && done < MAX_OPS) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Skewed: a few hot counters stay mutable, the rest age
		 * into the read-only region and onto the disk. */
		int c = (int)((x >> 8) % ((x & 3) ? 4 : NCOUNTERS));
		char k[32];
		counter_key(k, sizeof(k), c);
		int rc = tu_incr(s, k, (uint32_t)strlen(k), 1);
		if (rc != FKV_OK) {
			w->status = rc;
			break;
		}
		w->keys[done++] = (uint8_t)c;
		atomic_store(&w->done, done);
		/* Filler records push the counters out of memory. */
		if ((x & 63) == 0) {
			char fk[32];
			snprintf(fk, sizeof(fk), "fill:%d:%llu", w->index,
				 (unsigned long long)done);
			tu_put(s, fk,
			       "0123456789012345678901234567890123456789");
		}
	}
	/* Out of room: stay a live session (so that checkpoints list it)
	 * that keeps refreshing until told to stop. */
	while (!atomic_load(w->stop) && w->status == FKV_OK) {
		fkv_refresh(s);
		usleep(100);
	}
	fkv_session_stop(s);
	return NULL;
}

static uint64_t total_done(struct worker *ws)
{
	uint64_t n = 0;
	for (int i = 0; i < NTHREADS; i++)
		n += atomic_load(&ws[i].done);
	return n;
}

static void wait_ops(struct worker *ws, uint64_t n)
{
	while (total_done(ws) < n)
		usleep(1000);
}

static void four_threads_prefix(void)
{
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	/* The main session is not needed while the workers run. */
	fkv_session_stop(sess);
	sess = NULL;
	_Atomic bool stop = false;
	struct worker ws[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		memset(&ws[i], 0, sizeof(ws[i]));
		ws[i].index = i;
		ws[i].stop = &stop;
		ws[i].keys = malloc(MAX_OPS);
		cr_assert_eq(
			pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]),
			0);
	}
	wait_ops(ws, 20000);
	fkv_checkpoint_info info;
	cr_assert_eq(fkv_checkpoint_start(st, 0, NULL, NULL), FKV_OK);
	cr_assert_eq(fkv_checkpoint_wait(st, &info), FKV_OK, "%s", info.error);
	/* A second checkpoint while they still run: the one recovered. */
	uint64_t after_first = total_done(ws);
	wait_ops(ws, after_first + 20000);
	cr_assert_eq(fkv_checkpoint_start(st, 0, NULL, NULL), FKV_OK);
	cr_assert_eq(fkv_checkpoint_wait(st, &info), FKV_OK, "%s", info.error);
	cr_assert_eq(info.version, 2);
	/* Every worker goes on past its CPR point. */
	for (int i = 0; i < NTHREADS; i++) {
		uint64_t at = atomic_load(&ws[i].done);
		while (atomic_load(&ws[i].done) < at + 2000 &&
		       atomic_load(&ws[i].done) < MAX_OPS)
			usleep(1000);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(ws[i].tid, NULL);
		cr_assert_eq(ws[i].status, FKV_OK, "worker %d: %s", i,
			     fkv_strerror(ws[i].status));
	}
	crash();

	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_info ri;
	fkv_recovery_result(st, &ri);
	cr_assert(ri.recovered);
	cr_assert_eq(ri.version, 2);
	uint64_t want[NCOUNTERS] = {0};
	uint64_t in_prefix = 0;
	for (int i = 0; i < NTHREADS; i++) {
		uint64_t serial;
		cr_assert_eq(
			fkv_recovered_serial(st, ws[i].session_id, &serial),
			FKV_OK, "worker %d", i);
		/* The worker's operations are its increments and fillers;
		 * the CPR point counts both, in its own order. */
		uint64_t ops = 0, incs = 0;
		uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		while (ops < serial) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cr_assert_lt(incs, ws[i].done, "worker %d", i);
			want[ws[i].keys[incs++]]++;
			ops++;
			if ((x & 63) == 0 && ops < serial)
				ops++; /* its filler */
			else if ((x & 63) == 0)
				break;
		}
		cr_assert_gt(incs, 0, "worker %d did nothing before", i);
		cr_assert_lt(incs, ws[i].done,
			     "worker %d did nothing after its CPR point", i);
		in_prefix += incs;
	}
	cr_assert_gt(ri.records_dropped + in_prefix, 0);
	for (int c = 0; c < NCOUNTERS; c++) {
		char k[32];
		counter_key(k, sizeof(k), c);
		uint64_t got;
		int rc = tu_counter_read(sess, k, (uint32_t)strlen(k), &got);
		if (want[c] == 0) {
			cr_assert_eq(rc, FKV_NOT_FOUND, "counter %d", c);
			continue;
		}
		cr_assert_eq(rc, FKV_OK, "counter %d", c);
		cr_assert_eq(got, want[c], "counter %d: %llu, prefix sum %llu",
			     c, (unsigned long long)got,
			     (unsigned long long)want[c]);
	}
	for (int i = 0; i < NTHREADS; i++)
		free(ws[i].keys);
}

Test(checkpoint, four_threads_recover_a_prefix_of_each)
{
	four_threads_prefix();
}

Test(checkpoint, snapshot_four_threads_recover_a_prefix_of_each)
{
	snapshots = true;
	four_threads_prefix();
}

/* ---- Damaged checkpoints ------------------------------------------------ */

/* Two checkpoints: version 1 holds round 1, version 2 round 2; round 3
 * follows, lost in the crash. */
static void two_checkpoints(void)
{
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	write_round(1500, 1);
	cr_assert_eq(checkpoint().version, 1);
	write_round(1500, 2);
	cr_assert_eq(checkpoint().version, 2);
	write_round(1500, 3);
	crash();
}

static void ckpt_file(char *out, size_t n, uint64_t version, const char *f)
{
	snprintf(out, n, "%s/ckpt-%020llu/%s", dir, (unsigned long long)version,
		 f);
}

static void flip_bit(const char *path, long offset)
{
	FILE *fp = fopen(path, "r+b");
	cr_assert_not_null(fp, "%s", path);
	if (offset < 0) {
		fseek(fp, 0, SEEK_END);
		offset += ftell(fp);
	}
	fseek(fp, offset, SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, offset, SEEK_SET);
	fputc(c ^ 0x10, fp);
	fclose(fp);
}

/* Reopens, expects version 1 (round 1) and the damaged one set aside. */
static void expect_fallback(void)
{
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_info ri;
	fkv_recovery_result(st, &ri);
	cr_assert(ri.recovered);
	cr_assert_eq(ri.version, 1);
	cr_assert_eq(ri.skipped, 1);
	check_round(1500, 1);
	char bad[128];
	snprintf(bad, sizeof(bad), "%s/ckpt-%020llu.invalid", dir, 2ull);
	struct stat sb;
	cr_assert_eq(stat(bad, &sb), 0, "%s kept aside", bad);
	/* And the store takes checkpoints again, numbered after 1. */
	write_round(1500, 4);
	cr_assert_eq(checkpoint().version, 2);
	crash();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	check_round(1500, 4);
}

Test(checkpoint, intact_checkpoints_recover_the_newest)
{
	two_checkpoints();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_info ri;
	fkv_recovery_result(st, &ri);
	cr_assert_eq(ri.version, 2);
	cr_assert_eq(ri.skipped, 0);
	check_round(1500, 2);
}

Test(checkpoint, corrupted_metadata_falls_back)
{
	two_checkpoints();
	char p[128];
	ckpt_file(p, sizeof(p), 2, "meta");
	flip_bit(p, 40); /* in the payload: the CRC catches it */
	expect_fallback();
}

Test(checkpoint, truncated_index_falls_back)
{
	two_checkpoints();
	char p[128];
	ckpt_file(p, sizeof(p), 2, "index");
	struct stat sb;
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(truncate(p, sb.st_size - 5), 0);
	expect_fallback();
}

Test(checkpoint, bit_flip_in_index_falls_back)
{
	two_checkpoints();
	char p[128];
	ckpt_file(p, sizeof(p), 2, "index");
	flip_bit(p, -3);
	expect_fallback();
}

/* Nothing of the log on the device yet: the snapshot holds all of it,
 * from page 0 (whose first bytes are reserved). */
Test(checkpoint, snapshot_of_a_log_all_in_memory)
{
	snapshots = true;
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	write_round(100, 1);
	fkv_stats stats = tu_stats(st);
	cr_assert_lt(stats.log_tail, 32 << 10, "fits in memory");
	fkv_checkpoint_info info = checkpoint();
	cr_assert_eq(info.version, 1);
	cr_assert_eq(info.final_address, stats.log_tail);
	write_round(100, 2);
	crash();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	check_round(100, 1);
}

/* A log that ends inside its first page (whose first bytes are
 * reserved): reads walk chains that end at address 1 or 0 after
 * recovery too, and writes go on in that page. */
static void log_ends_in_page_zero(void)
{
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	write_round(5, 1);
	cr_assert_lt(tu_stats(st).log_tail, 4096);
	cr_assert_eq(checkpoint().version, 1);
	crash();
	for (int round = 2; round <= 3; round++) {
		cr_assert_eq(open_store(true, 2), FKV_OK);
		check_round(5, round - 1);
		struct tu_val *v = malloc(sizeof(*v));
		cr_assert_eq(tu_get(sess, "absent", v), FKV_NOT_FOUND);
		free(v);
		/* A new key: its fresh entry's chain ends at once. */
		char k[32];
		snprintf(k, sizeof(k), "new-%d", round);
		cr_assert_eq(tu_put(sess, k, "x"), FKV_OK);
		write_round(5, round);
		checkpoint();
		crash();
	}
}

Test(checkpoint, log_ends_in_page_zero)
{
	log_ends_in_page_zero();
}

Test(checkpoint, snapshot_log_ends_in_page_zero)
{
	snapshots = true;
	log_ends_in_page_zero();
}

Test(checkpoint, bit_flip_in_snapshot_falls_back)
{
	snapshots = true;
	two_checkpoints();
	char p[128];
	ckpt_file(p, sizeof(p), 2, "snapshot");
	flip_bit(p, 100);
	expect_fallback();
}

Test(checkpoint, missing_metadata_is_an_unfinished_checkpoint)
{
	two_checkpoints();
	char p[128];
	ckpt_file(p, sizeof(p), 2, "meta");
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_info ri;
	fkv_recovery_result(st, &ri);
	cr_assert_eq(ri.version, 1);
	check_round(1500, 1);
	ckpt_file(p, sizeof(p), 2, "");
	struct stat sb;
	cr_assert_neq(stat(p, &sb), 0, "the unfinished folder is removed");
}

Test(checkpoint, keeps_only_the_newest)
{
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	for (int r = 1; r <= 4; r++) {
		write_round(200, r);
		cr_assert_eq(checkpoint().version, (uint64_t)r);
	}
	struct stat sb;
	char p[128];
	for (uint64_t v = 1; v <= 4; v++) {
		ckpt_file(p, sizeof(p), v, "meta");
		cr_assert_eq(stat(p, &sb) == 0, v >= 3, "version %llu",
			     (unsigned long long)v);
	}
}

Test(checkpoint, nothing_valid_starts_empty)
{
	two_checkpoints();
	char p[128];
	ckpt_file(p, sizeof(p), 1, "meta");
	flip_bit(p, 3); /* the magic number */
	ckpt_file(p, sizeof(p), 2, "meta");
	flip_bit(p, 20); /* the header's CRC field */
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_recovery_info ri;
	fkv_recovery_result(st, &ri);
	cr_assert(!ri.recovered);
	cr_assert_eq(ri.skipped, 2);
}

/* ---- Sessions that have not moved on yet -------------------------------- */

static const char *phase_now(void)
{
	uint64_t v;
	return fkv_checkpoint_state(st, &v);
}

/* Starts a checkpoint and returns with it in PREPARE, waiting for a and b
 * to refresh: both are in the checkpoint's version. */
static void start_until_prepare(fkv_session *a, fkv_session *b)
{
	cr_assert_eq(fkv_checkpoint_start(st, 0, NULL, NULL), FKV_OK);
	while (strcmp(phase_now(), "prepare") != 0) {
		fkv_refresh(a);
		fkv_refresh(b);
	}
}

/* Lets the running checkpoint finish (both sessions suspended), stops b,
 * crashes and recovers. */
static void finish_crash_recover(fkv_session *b)
{
	fkv_session_suspend(b);
	fkv_session_suspend(sess);
	fkv_checkpoint_info info;
	cr_assert_eq(fkv_checkpoint_wait(st, &info), FKV_OK, "%s", info.error);
	fkv_session_resume(sess);
	fkv_session_resume(b);
	fkv_session_stop(b);
	crash();
	cr_assert_eq(open_store(true, 2), FKV_OK);
}

static void value_is(fkv_session *s, const char *key, const char *want)
{
	struct tu_val *v = malloc(sizeof(*v));
	cr_assert_eq(tu_get(s, key, v), FKV_OK, "%s", key);
	cr_assert(tu_val_is(v, want), "%s: %.*s, want %s", key, (int)v->len,
		  v->buf, want);
	free(v);
}

/* An index growth must not start between the index copy and the moment
 * every session has left the checkpoint's version: recovery loads the
 * index at the copied size, where two keys that a split sent to different
 * buckets share one entry, and one of their newer chains would be lost. */
Test(checkpoint, growth_while_sessions_are_in_the_version)
{
	/* Two keys in one bucket of 256 with one tag, in two of 512. */
	static int seen[256][1 << 14];
	char k1[32] = "", k2[32] = "";
	for (int i = 1; i < 4000000 && k2[0] == '\0'; i++) {
		char k[32];
		snprintf(k, sizeof(k), "key:%d", i);
		uint64_t h = fkv__hash(k, (uint32_t)strlen(k));
		int *j = &seen[h & 255][fkv__hash_tag(h)];
		if (*j == 0) {
			*j = i;
			continue;
		}
		char o[32];
		snprintf(o, sizeof(o), "key:%d", *j);
		if (((fkv__hash(o, (uint32_t)strlen(o)) ^ h) & 256) != 0) {
			strcpy(k1, o);
			strcpy(k2, k);
		}
	}
	cr_assert_neq(k2[0], '\0');
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_session *b;
	cr_assert_eq(fkv_session_start(st, &b), FKV_OK);
	cr_assert_eq(tu_put(b, k1, "old"), FKV_OK);
	cr_assert_eq(tu_put(b, k2, "old"), FKV_OK);
	start_until_prepare(sess, b);
	/* A growth asked for now is refused; were it run, finish it. */
	if (fkv_grow_index(sess, false) == FKV_OK)
		while (fkv__index_current(&st->index)->size == 256) {
			fkv__epoch_drain(&st->epoch);
			fkv__index_grow_help(&st->index, UINT64_MAX);
		}
	/* Writes of the checkpoint's version (b has not refreshed). */
	cr_assert_eq(tu_put(b, k1, "new-and-longer-than-old"), FKV_OK);
	cr_assert_eq(tu_put(b, k2, "new-and-longer-than-old"), FKV_OK);
	finish_crash_recover(b);
	value_is(sess, k1, "new-and-longer-than-old");
	value_is(sess, k2, "new-and-longer-than-old");
}

/* A session still in the checkpoint's version that reads what a session
 * of the next version wrote moves on first: a write it bases on that
 * read must not be in the checkpoint without the write it read. */
Test(checkpoint, reads_do_not_see_the_next_version)
{
	make_dir();
	cr_assert_eq(open_store(true, 2), FKV_OK);
	fkv_session *b;
	cr_assert_eq(fkv_session_start(st, &b), FKV_OK);
	cr_assert_eq(tu_put(sess, "x", "old"), FKV_OK);
	cr_assert_eq(tu_put(sess, "y", "old"), FKV_OK);
	start_until_prepare(sess, b);
	fkv_refresh(sess);
	fkv_refresh(b);
	while (strcmp(phase_now(), "in-progress") != 0)
		usleep(100);
	fkv_refresh(sess); /* moves to the next version; b does not */
	cr_assert_eq(tu_put(sess, "x", "new"), FKV_OK);
	struct tu_val *v = malloc(sizeof(*v));
	cr_assert_eq(tu_get(b, "x", v), FKV_OK);
	cr_assert(tu_val_is(v, "new"));
	/* y's new value depends on x's: both or neither recovered. */
	cr_assert_eq(fkv_upsert(b, "y", 1, v->buf, v->len, 0), FKV_OK);
	free(v);
	finish_crash_recover(b);
	value_is(sess, "x", "old");
	value_is(sess, "y", "old");
}
