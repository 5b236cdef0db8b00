/*
 * cmd_server.c - the server command family: INFO, CONFIG, TIME, SAVE,
 * BGSAVE, LASTSAVE, DEBUG, SHUTDOWN, and the cluster commands of a server that is not a
 * cluster (CLUSTER, READONLY, READWRITE).  COMMAND is in cmd_command.c.
 *
 * SAVE, BGSAVE and LASTSAVE are here too; persist.c runs them.
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "aof.h"
#include "cmd.h"
#include "cmd_docs.h"
#include "conn.h"
#include "device.h"
#include "glob.h"
#include "persist.h"
#include "server.h"

#define REDIS_VERSION "7.2.4"

/* jemalloc's control interface, when the binary is linked with jemalloc
 * (MALLOC=jemalloc, the default); NULL otherwise (sanitizer builds). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

/* ---- small helpers ------------------------------------------------------ */

/* Appends printf output to a byte buffer (INFO text). */
static void __attribute__((format(printf, 2, 3)))
sb_printf(resp_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	char *w = resp_buf_reserve(b, (size_t)n + 1);
	if (w == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(w, (size_t)n + 1, fmt, ap);
	va_end(ap);
	resp_buf_commit(b, (size_t)n);
}

/* ---- INFO --------------------------------------------------------------- */

/* Samples for the instantaneous_* fields, taken by cmd_server_cron. */
#define INST_SAMPLES 16
#define INST_PERIOD_MS 100

static struct {
	pthread_mutex_t lock;
	int64_t last_ms;
	uint64_t last_ops, last_in, last_out;
	double ops[INST_SAMPLES], in_kbps[INST_SAMPLES], out_kbps[INST_SAMPLES];
	int next;
	uint64_t peak_memory;
} inst = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct mem_usage {
	uint64_t heap, index, log, total, rss;
};

/* used_memory, as documented in docs/COMMANDS.md: the heap the allocator
 * has handed out (jemalloc's stats.allocated, or glibc's mallinfo2 in
 * builds without jemalloc) plus the engine's mmap'd memory in use, which
 * no allocator sees: the index's main table (buckets * 64 bytes; its
 * overflow buckets are on the heap) and the log from begin to tail. */
/* Reads the engine's statistics into *st; returns st, or NULL when there
 * is no store. */
static const fkv_stats *engine_stats(fkv_stats *st)
{
	if (server.store == NULL)
		return NULL;
	fkv_store_stats(server.store, st);
	return st;
}

/* Fills *m; `st` is the engine's statistics, or NULL when there is no
 * store. */
static void mem_usage(struct mem_usage *m, const fkv_stats *st)
{
	memset(m, 0, sizeof(*m));
	if (mallctl != NULL) {
		uint64_t epoch = 1;
		size_t sz = sizeof(epoch);
		(void)mallctl("epoch", &epoch, &sz, &epoch, sz);
		size_t allocated = 0;
		sz = sizeof(allocated);
		if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
			m->heap = allocated;
	} else {
		struct mallinfo2 mi = mallinfo2();
		m->heap = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
	}
	if (st != NULL) {
		m->index = st->index_buckets * 64;
		/* The part of the log in memory: head to tail (the rest is
		 * on the device, or evicted). */
		m->log = st->log_tail - st->log_head;
	}
	m->total = m->heap + m->index + m->log;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f != NULL) {
		unsigned long long size, resident;
		if (fscanf(f, "%llu %llu", &size, &resident) == 2)
			m->rss = resident * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
}

static void update_peak(uint64_t used)
{
	uint64_t peak = __atomic_load_n(&inst.peak_memory, __ATOMIC_RELAXED);
	while (used > peak && !__atomic_compare_exchange_n(
				      &inst.peak_memory, &peak, used, false,
				      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Says in the log when writes had to wait for the log's flushes to the
 * device (the disk cannot keep up with the write rate), at most every 10
 * seconds, and once when a flush has failed.  One worker's cron only. */
static void watch_flushes(int64_t now_ms, const fkv_stats *stats)
{
	static uint64_t last_waits;
	static int64_t last_report_ms;
	static bool error_reported;
	if (stats == NULL)
		return;
	const fkv_stats st = *stats;
	if (st.log_flush_error != 0 && !error_reported) {
		error_reported = true;
		rf_log(RF_LOG_WARNING,
		       "Writing the log to the device failed (%s): writes "
		       "that need a free page fail from now on",
		       dev_strerror(st.log_flush_error));
	}
	if (now_ms - last_report_ms < 10 * 1000)
		return;
	if (st.log_flush_waits > last_waits && last_report_ms != 0)
		rf_log(RF_LOG_WARNING,
		       "Log flush falling behind: %llu page openings waited "
		       "for older pages to be flushed or freed in the last "
		       "%lld s (flushed up to %llu, tail at %llu)",
		       (unsigned long long)(st.log_flush_waits - last_waits),
		       (long long)((now_ms - last_report_ms) / 1000),
		       (unsigned long long)st.log_flushed_until,
		       (unsigned long long)st.log_tail);
	last_waits = st.log_flush_waits;
	last_report_ms = now_ms;
}

void cmd_server_cron(int64_t now_ms)
{
	pthread_mutex_lock(&inst.lock);
	int64_t dt = now_ms - inst.last_ms;
	if (dt < INST_PERIOD_MS) {
		pthread_mutex_unlock(&inst.lock);
		return;
	}
	uint64_t ops = atomic_load_explicit(&server.total_commands,
					    memory_order_relaxed);
	uint64_t in = atomic_load_explicit(&server.net_input_bytes,
					   memory_order_relaxed);
	uint64_t out = atomic_load_explicit(&server.net_output_bytes,
					    memory_order_relaxed);
	if (inst.last_ms != 0 && dt < 10 * 1000) {
		/* A counter reset by CONFIG RESETSTAT counts as no traffic. */
		double secs = (double)dt / 1000.0;
		int i = inst.next;
		inst.ops[i] = ops >= inst.last_ops
				      ? (double)(ops - inst.last_ops) / secs
				      : 0;
		inst.in_kbps[i] =
			in >= inst.last_in
				? (double)(in - inst.last_in) / 1024 / secs
				: 0;
		inst.out_kbps[i] =
			out >= inst.last_out
				? (double)(out - inst.last_out) / 1024 / secs
				: 0;
		inst.next = (i + 1) % INST_SAMPLES;
	}
	inst.last_ms = now_ms;
	inst.last_ops = ops;
	inst.last_in = in;
	inst.last_out = out;
	pthread_mutex_unlock(&inst.lock);
	/* One read of the engine's statistics serves both. */
	fkv_stats st;
	const fkv_stats *stp = engine_stats(&st);
	struct mem_usage m;
	mem_usage(&m, stp);
	update_peak(m.total);
	watch_flushes(now_ms, stp);
}

static double inst_avg(const double *v)
{
	double sum = 0;
	for (int i = 0; i < INST_SAMPLES; i++)
		sum += v[i];
	return sum / INST_SAMPLES;
}

/* Redis's bytesToHuman. */
static void human(char *out, size_t cap, uint64_t n)
{
	double d = (double)n;
	if (n < 1024)
		snprintf(out, cap, "%lluB", (unsigned long long)n);
	else if (n < (1ULL << 20))
		snprintf(out, cap, "%.2fK", d / 1024);
	else if (n < (1ULL << 30))
		snprintf(out, cap, "%.2fM", d / (1ULL << 20));
	else if (n < (1ULL << 40))
		snprintf(out, cap, "%.2fG", d / (1ULL << 30));
	else if (n < (1ULL << 50))
		snprintf(out, cap, "%.2fT", d / (1ULL << 40));
	else
		snprintf(out, cap, "%.2fP", d / (1ULL << 50));
}

static uint64_t stat_get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void info_server(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	struct utsname u;
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	int64_t now = rf_wall_ms();
	int64_t up = (now - server.start_ms) / 1000;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		snprintf(exe, sizeof(exe), "%s",
			 server.executable ? server.executable : "");
	else
		exe[n] = '\0';
	/* After a rebuild under a running server the link says so. */
	char *deleted = strstr(exe, " (deleted)");
	if (deleted != NULL && deleted[10] == '\0')
		*deleted = '\0';
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	sb_printf(b,
		  "# Server\r\n"
		  "redis_version:" REDIS_VERSION "\r\n"
		  "redis_git_sha1:00000000\r\n"
		  "redis_git_dirty:0\r\n"
		  "redis_build_id:0\r\n"
		  "redis_mode:standalone\r\n"
		  "os:%s %s %s\r\n"
		  "arch_bits:%d\r\n"
		  "monotonic_clock:POSIX clock_gettime\r\n"
		  "multiplexing_api:epoll\r\n"
		  "atomicvar_api:c11-builtin\r\n"
		  "gcc_version:%d.%d.%d\r\n"
		  "process_id:%d\r\n"
		  "process_supervised:no\r\n"
		  "run_id:%s\r\n"
		  "tcp_port:%lld\r\n"
		  "server_time_usec:%lld\r\n"
		  "uptime_in_seconds:%lld\r\n"
		  "uptime_in_days:%lld\r\n"
		  "hz:%lld\r\n"
		  "configured_hz:%lld\r\n"
		  "executable:%s\r\n"
		  "config_file:%s\r\n"
		  "io_threads_active:%d\r\n"
		  "io_threads:%d\r\n",
		  u.sysname, u.release, u.machine, (int)(sizeof(void *) * 8),
#ifdef __GNUC__
		  __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__,
#else
		  0, 0, 0,
#endif
		  (int)getpid(), server.run_id,
		  (long long)cfg_get_int(&server.cfg.port),
		  (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
		  (long long)up, (long long)(up / 86400),
		  (long long)cfg_get_int(&server.cfg.hz),
		  (long long)cfg_get_int(&server.cfg.hz), exe,
		  server.config_file ? server.config_file : "",
		  server.nworkers > 1, server.nworkers);
}

static void info_clients(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	sb_printf(b,
		  "# Clients\r\n"
		  "connected_clients:%lld\r\n"
		  "cluster_connections:0\r\n"
		  "maxclients:%lld\r\n"
		  "blocked_clients:0\r\n"
		  "tracking_clients:0\r\n"
		  "clients_in_timeout_table:0\r\n",
		  (long long)atomic_load(&server.connected_clients),
		  (long long)cfg_get_int(&server.cfg.maxclients));
}

static void info_memory(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	fkv_stats st;
	struct mem_usage m;
	mem_usage(&m, engine_stats(&st));
	update_peak(m.total);
	uint64_t peak = __atomic_load_n(&inst.peak_memory, __ATOMIC_RELAXED);
	uint64_t sysmem = (uint64_t)sysconf(_SC_PHYS_PAGES) *
			  (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t maxmem = (uint64_t)cfg_get_int(&server.cfg.maxmemory);
	char h_used[32], h_rss[32], h_peak[32], h_sys[32], h_max[32];
	human(h_used, sizeof(h_used), m.total);
	human(h_rss, sizeof(h_rss), m.rss);
	human(h_peak, sizeof(h_peak), peak);
	human(h_sys, sizeof(h_sys), sysmem);
	human(h_max, sizeof(h_max), maxmem);
	char policy[32];
	const cfg_option *o = cfg_find("maxmemory-policy");
	cfg_format(&server.cfg, o, policy, sizeof(policy));
	char allocator[64] = "libc";
	if (mallctl != NULL) {
		const char *ver = NULL;
		size_t sz = sizeof(ver);
		if (mallctl("version", &ver, &sz, NULL, 0) == 0 && ver) {
			/* "5.3.0-0-g54eaed1d..." -> "jemalloc-5.3.0" */
			size_t k = strcspn(ver, "-");
			snprintf(allocator, sizeof(allocator), "jemalloc-%.*s",
				 (int)k, ver);
		}
	}
	sb_printf(b,
		  "# Memory\r\n"
		  "used_memory:%llu\r\n"
		  "used_memory_human:%s\r\n"
		  "used_memory_rss:%llu\r\n"
		  "used_memory_rss_human:%s\r\n"
		  "used_memory_peak:%llu\r\n"
		  "used_memory_peak_human:%s\r\n"
		  "used_memory_heap:%llu\r\n"
		  "used_memory_engine_index:%llu\r\n"
		  "used_memory_engine_log:%llu\r\n"
		  "total_system_memory:%llu\r\n"
		  "total_system_memory_human:%s\r\n"
		  "maxmemory:%llu\r\n"
		  "maxmemory_human:%s\r\n"
		  "maxmemory_policy:%s\r\n"
		  "mem_fragmentation_ratio:%.2f\r\n"
		  "mem_allocator:%s\r\n"
		  "lazyfree_pending_objects:0\r\n",
		  (unsigned long long)m.total, h_used,
		  (unsigned long long)m.rss, h_rss, (unsigned long long)peak,
		  h_peak, (unsigned long long)m.heap,
		  (unsigned long long)m.index, (unsigned long long)m.log,
		  (unsigned long long)sysmem, h_sys, (unsigned long long)maxmem,
		  h_max, policy,
		  m.total ? (double)m.rss / (double)m.total : 0.0, allocator);
}

/* Checkpoints (persist.c): Redis's rdb_* fields describe them. */
static void info_persistence(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	persist_status ps;
	persist_status_get(&ps);
	aof_status as;
	aof_status_get(&as);
	sb_printf(b,
		  "# Persistence\r\n"
		  "loading:0\r\n"
		  "async_loading:0\r\n"
		  "rdb_changes_since_last_save:%llu\r\n"
		  "rdb_bgsave_in_progress:%d\r\n"
		  "rdb_last_save_time:%lld\r\n"
		  "rdb_last_bgsave_status:%s\r\n"
		  "rdb_last_bgsave_time_sec:%lld\r\n"
		  "rdb_current_bgsave_time_sec:%lld\r\n"
		  "rdb_saves:%llu\r\n"
		  "checkpoint_type:%s\r\n"
		  "checkpoint_version:%llu\r\n"
		  "checkpoint_size:%llu\r\n"
		  "checkpoint_phase:%s\r\n"
		  "aof_enabled:%d\r\n"
		  "aof_rewrite_in_progress:0\r\n"
		  "aof_rewrite_scheduled:0\r\n"
		  "aof_last_rewrite_time_sec:-1\r\n"
		  "aof_current_rewrite_time_sec:-1\r\n"
		  "aof_last_bgrewrite_status:ok\r\n"
		  "aof_rewrites:0\r\n"
		  "aof_last_write_status:%s\r\n",
		  (unsigned long long)ps.changes, ps.in_progress ? 1 : 0,
		  (long long)ps.lastsave, ps.last_ok ? "ok" : "err",
		  (long long)ps.last_time_sec, (long long)ps.current_time_sec,
		  (unsigned long long)ps.saves,
		  cfg_get_int(&server.cfg.checkpoint_type) ==
				  CFG_CHECKPOINT_SNAPSHOT
			  ? "snapshot"
			  : "foldover",
		  (unsigned long long)ps.version, (unsigned long long)ps.size,
		  ps.phase, as.enabled ? 1 : 0, as.write_ok ? "ok" : "err");
	if (as.enabled)
		sb_printf(b,
			  "aof_current_size:%llu\r\n"
			  "aof_base_size:%llu\r\n"
			  "aof_pending_rewrite:0\r\n"
			  "aof_buffer_length:%llu\r\n"
			  "aof_pending_bio_fsync:0\r\n"
			  "aof_delayed_fsync:0\r\n",
			  (unsigned long long)as.current_size,
			  (unsigned long long)as.base_size,
			  (unsigned long long)as.buffer_length);
}

/* Live records the cache mode's log dropped from memory. */
static uint64_t evicted_keys(void)
{
	fkv_stats st;
	return engine_stats(&st) != NULL ? st.evicted_records : 0;
}

static void info_stats(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	pthread_mutex_lock(&inst.lock);
	double ops = inst_avg(inst.ops), in = inst_avg(inst.in_kbps),
	       out = inst_avg(inst.out_kbps);
	pthread_mutex_unlock(&inst.lock);
	sb_printf(b,
		  "# Stats\r\n"
		  "total_connections_received:%llu\r\n"
		  "total_commands_processed:%llu\r\n"
		  "instantaneous_ops_per_sec:%lld\r\n"
		  "total_net_input_bytes:%llu\r\n"
		  "total_net_output_bytes:%llu\r\n"
		  "instantaneous_input_kbps:%.2f\r\n"
		  "instantaneous_output_kbps:%.2f\r\n"
		  "rejected_connections:%llu\r\n"
		  "sync_full:0\r\n"
		  "sync_partial_ok:0\r\n"
		  "sync_partial_err:0\r\n"
		  "expired_keys:%llu\r\n"
		  "evicted_keys:%llu\r\n"
		  "keyspace_hits:%llu\r\n"
		  "keyspace_misses:%llu\r\n"
		  "pubsub_channels:0\r\n"
		  "pubsub_patterns:0\r\n"
		  "latest_fork_usec:0\r\n",
		  (unsigned long long)stat_get(&server.total_connections),
		  (unsigned long long)stat_get(&server.total_commands),
		  (long long)llround(ops),
		  (unsigned long long)stat_get(&server.net_input_bytes),
		  (unsigned long long)stat_get(&server.net_output_bytes), in,
		  out,
		  (unsigned long long)stat_get(&server.rejected_connections),
		  (unsigned long long)stat_get(&server.expired_keys),
		  (unsigned long long)evicted_keys(),
		  (unsigned long long)stat_get(&server.keyspace_hits),
		  (unsigned long long)stat_get(&server.keyspace_misses));
}

static pthread_once_t replid_once = PTHREAD_ONCE_INIT;
static char replid[41];

static void make_replid(void)
{
	unsigned char r[20];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(rand() ^ (server.start_ms >> i));
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(replid + 2 * i, 3, "%02x", r[i]);
}

static void info_replication(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	pthread_once(&replid_once, make_replid);
	sb_printf(b,
		  "# Replication\r\n"
		  "role:master\r\n"
		  "connected_slaves:0\r\n"
		  "master_failover_state:no-failover\r\n"
		  "master_replid:%s\r\n"
		  "master_replid2:0000000000000000000000000000000000000000\r\n"
		  "master_repl_offset:0\r\n"
		  "second_repl_offset:-1\r\n"
		  "repl_backlog_active:0\r\n"
		  "repl_backlog_size:1048576\r\n"
		  "repl_backlog_first_byte_offset:0\r\n"
		  "repl_backlog_histlen:0\r\n",
		  replid);
}

static double tv_secs(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void info_cpu(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	struct rusage self, children;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	sb_printf(b,
		  "# CPU\r\n"
		  "used_cpu_sys:%.6f\r\n"
		  "used_cpu_user:%.6f\r\n"
		  "used_cpu_sys_children:%.6f\r\n"
		  "used_cpu_user_children:%.6f\r\n",
		  tv_secs(self.ru_stime), tv_secs(self.ru_utime),
		  tv_secs(children.ru_stime), tv_secs(children.ru_utime));
}

static void info_modules(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	sb_printf(b, "# Modules\r\n");
}

static void info_cluster(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	sb_printf(b, "# Cluster\r\ncluster_enabled:0\r\n");
}

struct ks_count {
	uint64_t keys[256], expires[256];
	long double expire_sum[256]; /* absolute expiry times, Unix ms */
};

static void ks_count_cb(void *arg, const uint8_t *key, uint32_t key_len,
			int64_t expire_ms)
{
	struct ks_count *k = arg;
	if (key_len == 0)
		return;
	int db = key[0];
	k->keys[db]++;
	if (expire_ms != 0) {
		k->expires[db]++;
		k->expire_sum[db] += (long double)expire_ms;
	}
}

/* The last count, reused while no write has completed since (the
 * engine's completed-write counters have not moved) and it is younger
 * than KS_CACHE_MS: a full count costs a scan of the whole index (about
 * 35 ms for the default 1 Mi buckets, since fkv_scan walks buckets in
 * reverse-binary order), and clients such as ioredis send INFO on every
 * connect.  Keys that expire by time alone may thus be counted for up to
 * KS_CACHE_MS longer (Redis too counts them until they are reclaimed). */
#define KS_CACHE_MS 5000

static struct {
	pthread_mutex_t lock;
	bool valid;
	uint64_t writes;
	int64_t at_ms;
	struct ks_count k;
} ks_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t completed_writes(void)
{
	fkv_stats st;
	fkv_store_stats(server.store, &st);
	return st.upserts_in_place + st.upserts_appended + st.rmws_in_place +
	       st.rmws_copied + st.rmws_initial + st.deletes_in_place +
	       st.deletes_appended + st.index_grows + st.clears;
}

/* Counts keys per database with a full fkv_scan of the index: O(index
 * buckets + keys) on the calling worker, refreshing its session between
 * slices so the rest of the engine is not held back; see ks_cache. */
static void info_keyspace(cmd_ctx *ctx, resp_buf *b)
{
	sb_printf(b, "# Keyspace\r\n");
	if (ctx->s == NULL || server.store == NULL)
		return;
	struct ks_count *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return;
	int64_t now = rf_wall_ms();
	uint64_t writes = completed_writes();
	pthread_mutex_lock(&ks_cache.lock);
	bool hit = ks_cache.valid && ks_cache.writes == writes &&
		   now - ks_cache.at_ms >= 0 &&
		   now - ks_cache.at_ms < KS_CACHE_MS;
	if (hit)
		*k = ks_cache.k;
	pthread_mutex_unlock(&ks_cache.lock);
	if (!hit) {
		uint64_t cursor = 0;
		do {
			fkv_scan(ctx->s, &cursor, 4096, ks_count_cb, k);
			fkv_refresh(ctx->s);
		} while (cursor != 0);
		pthread_mutex_lock(&ks_cache.lock);
		ks_cache.k = *k;
		ks_cache.writes = writes; /* read before the scan */
		ks_cache.at_ms = now;
		ks_cache.valid = true;
		pthread_mutex_unlock(&ks_cache.lock);
	}
	for (int db = 0; db < 256; db++) {
		if (k->keys[db] == 0)
			continue;
		long double avg = 0;
		if (k->expires[db] != 0)
			avg = k->expire_sum[db] / k->expires[db] -
			      (long double)now;
		sb_printf(b, "db%d:keys=%llu,expires=%llu,avg_ttl=%llu\r\n", db,
			  (unsigned long long)k->keys[db],
			  (unsigned long long)k->expires[db],
			  avg > 0 ? (unsigned long long)avg : 0ULL);
	}
	free(k);
}

/* Lines of the disk tier, after the rest of # Engine. */
static void info_disk_tier(resp_buf *b, const fkv_stats *st)
{
	bool store = cfg_get_int(&server.cfg.storage_tier) != 0;
	char device[16] = "none";
	if (store)
		cfg_format(&server.cfg, cfg_find("device-type"), device,
			   sizeof(device));
	uint64_t on_disk = store && st->log_flushed_until > st->log_begin
				   ? st->log_flushed_until - st->log_begin
				   : 0;
#define U(x) ((unsigned long long)(x))
	sb_printf(b,
		  "storage_tier:%s\r\n"
		  "device_type:%s\r\n"
		  "log_flushed_until_address:%llu\r\n"
		  "log_bytes_on_disk:%llu\r\n"
		  "log_flush_waits:%llu\r\n"
		  "log_flush_error:%s\r\n"
		  "disk_reads:%llu\r\n"
		  "pending_reads:%llu\r\n"
		  "read_cache_hits:%llu\r\n"
		  "read_cache_misses:%llu\r\n"
		  "read_cache_bytes:%llu\r\n"
		  "read_cache_entries:%llu\r\n"
		  "copies_to_tail:%llu\r\n"
		  "evicted_records:%llu\r\n",
		  store ? "store" : "cache", device, U(st->log_flushed_until),
		  U(on_disk), U(st->log_flush_waits),
		  st->log_flush_error ? dev_strerror(st->log_flush_error)
				      : "none",
		  U(st->disk_reads), U(st->pending_reads),
		  U(st->read_cache_hits), U(st->read_cache_misses),
		  U(st->read_cache_bytes), U(st->read_cache_entries),
		  U(st->copies_to_tail), U(st->evicted_records));
#undef U
}

static void info_engine(cmd_ctx *ctx, resp_buf *b)
{
	(void)ctx;
	fkv_stats st;
	memset(&st, 0, sizeof(st));
	if (server.store != NULL)
		fkv_store_stats(server.store, &st);
#define U(x) ((unsigned long long)(x))
	sb_printf(b,
		  "# Engine\r\n"
		  "engine:faster\r\n"
		  "log_begin_address:%llu\r\n"
		  "log_head_address:%llu\r\n"
		  "log_safe_read_only_address:%llu\r\n"
		  "log_read_only_address:%llu\r\n"
		  "log_tail_address:%llu\r\n"
		  "log_bytes:%llu\r\n"
		  "log_memory_size:%llu\r\n"
		  "index_buckets:%llu\r\n"
		  "index_entries:%llu\r\n"
		  "index_overflow_buckets:%llu\r\n"
		  "index_grows:%llu\r\n"
		  "reads:%llu\r\n"
		  "read_hits:%llu\r\n"
		  "read_misses:%llu\r\n"
		  "upserts:%llu\r\n"
		  "upserts_in_place:%llu\r\n"
		  "upserts_appended:%llu\r\n"
		  "rmws:%llu\r\n"
		  "rmws_in_place:%llu\r\n"
		  "rmws_copied:%llu\r\n"
		  "rmws_initial:%llu\r\n"
		  "rmws_aborted:%llu\r\n"
		  "deletes:%llu\r\n"
		  "deletes_in_place:%llu\r\n"
		  "deletes_appended:%llu\r\n"
		  "retries:%llu\r\n"
		  "sessions:%llu\r\n",
		  U(st.log_begin), U(st.log_head), U(st.log_safe_read_only),
		  U(st.log_read_only), U(st.log_tail), U(st.log_bytes),
		  U(st.log_memory_size), U(st.index_buckets),
		  U(st.index_entries), U(st.index_overflow_buckets),
		  U(st.index_grows), U(st.reads), U(st.read_hits),
		  U(st.read_misses), U(st.upserts), U(st.upserts_in_place),
		  U(st.upserts_appended), U(st.rmws), U(st.rmws_in_place),
		  U(st.rmws_copied), U(st.rmws_initial), U(st.rmws_aborted),
		  U(st.deletes), U(st.deletes_in_place), U(st.deletes_appended),
		  U(st.retries), U(st.sessions));
#undef U
	info_disk_tier(b, &st);
}

static const struct info_section {
	const char *name;
	void (*fn)(cmd_ctx *ctx, resp_buf *b);
	bool in_default;
} info_sections[] = {
	{"server", info_server, true},
	{"clients", info_clients, true},
	{"memory", info_memory, true},
	{"persistence", info_persistence, true},
	{"stats", info_stats, true},
	{"replication", info_replication, true},
	{"cpu", info_cpu, true},
	{"modules", info_modules, true},
	{"cluster", info_cluster, true},
	{"keyspace", info_keyspace, true},
	{"engine", info_engine, true},
};

#define NSECTIONS (sizeof(info_sections) / sizeof(info_sections[0]))

/* INFO [section ...]: the named sections in their fixed order; "default"
 * (no argument), "all" and "everything" name groups; unknown names add
 * nothing. */
static void cmd_info(cmd_ctx *ctx)
{
	bool want[NSECTIONS] = {false};
	if (ctx->argc == 1) {
		for (size_t i = 0; i < NSECTIONS; i++)
			want[i] = info_sections[i].in_default;
	}
	for (int a = 1; a < ctx->argc; a++) {
		if (cmd_arg_is(ctx, a, "default")) {
			for (size_t i = 0; i < NSECTIONS; i++)
				want[i] |= info_sections[i].in_default;
		} else if (cmd_arg_is(ctx, a, "all") ||
			   cmd_arg_is(ctx, a, "everything")) {
			for (size_t i = 0; i < NSECTIONS; i++)
				want[i] = true;
		} else {
			for (size_t i = 0; i < NSECTIONS; i++)
				if (cmd_arg_is(ctx, a, info_sections[i].name))
					want[i] = true;
		}
	}
	resp_buf b;
	resp_buf_init(&b, 2);
	bool first = true;
	for (size_t i = 0; i < NSECTIONS; i++) {
		if (!want[i])
			continue;
		if (!first)
			sb_printf(&b, "\r\n");
		first = false;
		info_sections[i].fn(ctx, &b);
	}
	cmd_reply_text(ctx, &b);
}

/* ---- CONFIG ------------------------------------------------------------- */

/* Serializes CONFIG SET, REWRITE and RESETSTAT, so that a multi-option
 * SET and its rollback are not interleaved with another. */
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;

static void cmd_config(cmd_ctx *ctx)
{
	/* The container itself runs only without a subcommand, which the
	 * arity check (-2) refuses first; answer as Redis would anyway. */
	cmd_err_arity(ctx, "config");
}

/* CONFIG GET pattern [pattern ...]: a name without glob characters is
 * looked up directly (names and aliases, any case, answered as asked);
 * a pattern matches names and aliases, case-insensitively. */
static void cmd_config_get(cmd_ctx *ctx)
{
	size_t cap = 2 * cfg_noptions + (size_t)ctx->argc;
	const char **names = malloc(cap * sizeof(*names));
	const cfg_option **opts = malloc(cap * sizeof(*opts));
	char **owned = calloc((size_t)ctx->argc, sizeof(*owned));
	if (names == NULL || opts == NULL || owned == NULL) {
		resp_add_error(ctx->out, "ERR out of memory");
		goto out;
	}
	size_t n = 0;
	for (int a = 2; a < ctx->argc; a++) {
		owned[a] = strndup(ctx->argv[a], ctx->argv_len[a]);
		if (owned[a] == NULL)
			continue;
		const char *pat = owned[a];
		if (strpbrk(pat, "[*?") == NULL) {
			const cfg_option *o = cfg_find(pat);
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++)
				dup = strcasecmp(names[k], pat) == 0;
			if (o != NULL && !dup) {
				names[n] = pat;
				opts[n++] = o;
			}
			continue;
		}
		for (size_t i = 0; i < cfg_noptions; i++) {
			const cfg_option *o = &cfg_options[i];
			const char *cands[2] = {o->name, o->alias};
			for (int c = 0; c < 2; c++) {
				const char *nm = cands[c];
				if (nm == NULL ||
				    !cmd_glob_match(pat, strlen(pat), nm,
						    strlen(nm), true))
					continue;
				bool dup = false;
				for (size_t k = 0; k < n && !dup; k++)
					dup = strcasecmp(names[k], nm) == 0;
				if (!dup) {
					names[n] = nm;
					opts[n++] = o;
				}
			}
		}
	}
	resp_add_map(ctx->out, (int64_t)n);
	for (size_t i = 0; i < n; i++) {
		char val[4096];
		size_t len = cfg_format(&server.cfg, opts[i], val, sizeof(val));
		resp_add_cstr(ctx->out, names[i]);
		resp_add_bulk(ctx->out, val, len);
	}
out:
	if (owned != NULL)
		for (int a = 0; a < ctx->argc; a++)
			free(owned[a]);
	free(owned);
	free(names);
	free(opts);
}

/* CONFIG SET name value [name value ...]: all or nothing.  Names are
 * checked first (unknown, immutable, given twice); then the values are
 * applied in order, and if one is refused the ones before it get their
 * old values back. */
static void cmd_config_set(cmd_ctx *ctx)
{
	if (ctx->argc % 2 != 0) {
		cmd_err_syntax(ctx);
		return;
	}
	int count = (ctx->argc - 2) / 2;
	const cfg_option **opts = calloc((size_t)count, sizeof(*opts));
	char **names = calloc((size_t)count, sizeof(*names));
	char **vals = calloc((size_t)count, sizeof(*vals));
	char **olds = calloc((size_t)count, sizeof(*olds));
	const char *unknown = NULL, *err_name = NULL, *errstr = NULL;
	char err[512];
	if (opts == NULL || names == NULL || vals == NULL || olds == NULL) {
		resp_add_error(ctx->out, "ERR out of memory");
		goto out;
	}
	for (int i = 0; i < count; i++) {
		names[i] =
			strndup(ctx->argv[2 + 2 * i], ctx->argv_len[2 + 2 * i]);
		vals[i] =
			strndup(ctx->argv[3 + 2 * i], ctx->argv_len[3 + 2 * i]);
		if (names[i] == NULL || vals[i] == NULL) {
			resp_add_error(ctx->out, "ERR out of memory");
			goto out;
		}
	}
	for (int i = 0; i < count; i++) {
		const cfg_option *o = cfg_find(names[i]);
		if (o == NULL) {
			if (unknown == NULL && errstr == NULL)
				unknown = names[i];
			continue;
		}
		if (unknown != NULL || errstr != NULL)
			continue;
		if (!o->mutable_) {
			errstr = "can't set immutable config";
			err_name = names[i];
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (opts[j] == o) {
				errstr = "duplicate parameter";
				err_name = names[i];
				break;
			}
		}
		opts[i] = o;
	}
	if (unknown != NULL) {
		resp_add_errorf(ctx->out,
				"ERR Unknown option or number of arguments "
				"for CONFIG SET - '%s'",
				unknown);
		goto out;
	}
	if (errstr != NULL) {
		resp_add_errorf(ctx->out,
				"ERR CONFIG SET failed (possibly related to "
				"argument '%s') - %s",
				err_name, errstr);
		goto out;
	}
	pthread_mutex_lock(&config_lock);
	for (int i = 0; i < count; i++) {
		char val[4096];
		cfg_format(&server.cfg, opts[i], val, sizeof(val));
		olds[i] = strdup(val);
	}
	int failed = -1;
	for (int i = 0; i < count && failed < 0; i++) {
		const char *v = vals[i];
		if (olds[i] == NULL || cfg_set(&server.cfg, opts[i]->name, &v,
					       1, true, err, sizeof(err)) != 0)
			failed = i;
	}
	if (failed >= 0) {
		for (int i = 0; i < failed; i++) {
			char e2[256];
			const char *v = olds[i];
			if (cfg_set(&server.cfg, opts[i]->name, &v, 1, true, e2,
				    sizeof(e2)) != 0)
				rf_log(RF_LOG_WARNING,
				       "Failed restoring failed CONFIG SET "
				       "command. Error setting %s to '%s': %s",
				       opts[i]->name, olds[i], e2);
		}
		pthread_mutex_unlock(&config_lock);
		if (olds[failed] == NULL)
			snprintf(err, sizeof(err), "out of memory");
		resp_add_errorf(ctx->out,
				"ERR CONFIG SET failed (possibly related to "
				"argument '%s') - %s",
				names[failed], err);
		goto out;
	}
	pthread_mutex_unlock(&config_lock);
	resp_add_ok(ctx->out);
out:
	for (int i = 0; i < count; i++) {
		if (names)
			free(names[i]);
		if (vals)
			free(vals[i]);
		if (olds)
			free(olds[i]);
	}
	free(opts);
	free(names);
	free(vals);
	free(olds);
}

static void cmd_config_resetstat(cmd_ctx *ctx)
{
	pthread_mutex_lock(&config_lock);
	atomic_store(&server.total_connections, 0);
	atomic_store(&server.rejected_connections, 0);
	atomic_store(&server.total_commands, 0);
	atomic_store(&server.net_input_bytes, 0);
	atomic_store(&server.net_output_bytes, 0);
	atomic_store(&server.expired_keys, 0);
	atomic_store(&server.keyspace_hits, 0);
	atomic_store(&server.keyspace_misses, 0);
	pthread_mutex_lock(&inst.lock);
	memset(inst.ops, 0, sizeof(inst.ops));
	memset(inst.in_kbps, 0, sizeof(inst.in_kbps));
	memset(inst.out_kbps, 0, sizeof(inst.out_kbps));
	inst.last_ms = 0;
	pthread_mutex_unlock(&inst.lock);
	__atomic_store_n(&inst.peak_memory, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&config_lock);
	resp_add_ok(ctx->out);
}

static void cmd_config_rewrite(cmd_ctx *ctx)
{
	if (server.config_file == NULL) {
		resp_add_error(ctx->out,
			       "ERR The server is running without a config "
			       "file");
		return;
	}
	char err[512];
	pthread_mutex_lock(&config_lock);
	int rc = cfg_rewrite(&server.cfg, server.config_file, err, sizeof(err));
	pthread_mutex_unlock(&config_lock);
	if (rc != 0) {
		rf_log(RF_LOG_WARNING, "CONFIG REWRITE failed: %s", err);
		resp_add_errorf(ctx->out, "ERR %s", err);
		return;
	}
	rf_log(RF_LOG_NOTICE, "CONFIG REWRITE executed with success.");
	resp_add_ok(ctx->out);
}

static void cmd_config_help(cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and "
		"their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"REWRITE",
		"    Rewrite the configuration file.",
		NULL};
	cmd_add_help(ctx, "CONFIG", lines);
}

/* ---- TIME, LASTSAVE, DEBUG, SHUTDOWN ------------------------------------ */

static void cmd_time(cmd_ctx *ctx)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char sec[32], usec[32];
	snprintf(sec, sizeof(sec), "%lld", (long long)ts.tv_sec);
	snprintf(usec, sizeof(usec), "%ld", ts.tv_nsec / 1000);
	resp_add_array(ctx->out, 2);
	resp_add_cstr(ctx->out, sec);
	resp_add_cstr(ctx->out, usec);
}

static void cmd_lastsave(cmd_ctx *ctx)
{
	resp_add_int(ctx->out, persist_lastsave());
}

/* Replies to a persist_* status that is not success. */
static void reply_persist_error(cmd_ctx *ctx, int rc)
{
	if (rc == PERSIST_BUSY)
		resp_add_error(ctx->out,
			       "ERR Background save already in progress");
	else if (rc == PERSIST_UNSUPPORTED)
		resp_add_error(ctx->out,
			       "ERR checkpoints need the log on a device "
			       "(storage-tier yes)");
	else
		resp_add_error(ctx->out, "ERR Checkpoint failed. Check logs.");
}

/* SAVE: a checkpoint, waited for (other workers keep serving; this
 * worker's session is suspended meanwhile). */
static void cmd_save(cmd_ctx *ctx)
{
	int rc = persist_save(ctx->s);
	if (rc == PERSIST_STARTED)
		resp_add_ok(ctx->out);
	else
		reply_persist_error(ctx, rc);
}

/* BGSAVE [SCHEDULE]: a checkpoint on the engine's thread, no fork. */
static void cmd_bgsave(cmd_ctx *ctx)
{
	bool schedule = false;
	if (ctx->argc == 2 && cmd_arg_is(ctx, 1, "schedule")) {
		schedule = true;
	} else if (ctx->argc > 1) {
		cmd_err_syntax(ctx);
		return;
	}
	int rc = persist_bgsave(schedule);
	if (rc == PERSIST_STARTED)
		resp_add_simple(ctx->out, "Background saving started");
	else if (rc == PERSIST_SCHEDULED)
		resp_add_simple(ctx->out, "Background saving scheduled");
	else
		reply_persist_error(ctx, rc);
}

/* BGREWRITEAOF: a checkpoint is our rewrite: once it is durable the
 * append-only file drops what it holds (aof.h).  Redis's replies. */
static void cmd_bgrewriteaof(cmd_ctx *ctx)
{
	int rc = persist_bgsave(true);
	if (rc == PERSIST_STARTED)
		resp_add_simple(
			ctx->out,
			"Background append only file rewriting started");
	else if (rc == PERSIST_SCHEDULED)
		resp_add_simple(ctx->out, "Background append only file "
					  "rewriting scheduled");
	else
		reply_persist_error(ctx, rc);
}

static bool client_is_local(const rf_client *c)
{
	return (c->flags & CLIENT_UNIX) || strncmp(c->addr, "127.", 4) == 0 ||
	       strncmp(c->addr, "::1:", 4) == 0 ||
	       strncmp(c->addr, "::ffff:127.", 11) == 0;
}

/* DEBUG SLEEP <seconds> | HELP, behind enable-debug-command. */
static void cmd_debug(cmd_ctx *ctx)
{
	int64_t mode = cfg_get_int(&server.cfg.enable_debug_command);
	if (mode == CFG_DEBUG_NO ||
	    (mode == CFG_DEBUG_LOCAL && !client_is_local(ctx->c))) {
		resp_add_error(
			ctx->out,
			"ERR DEBUG command not allowed. If the "
			"enable-debug-command option is set to \"local\", you "
			"can run it from a local connection, otherwise you "
			"need to set this option in the configuration file, "
			"and then restart the server.");
		return;
	}
	if (cmd_arg_is(ctx, 1, "help") && ctx->argc == 2) {
		static const char *const lines[] = {
			"SLEEP <seconds>",
			"    Stop the server for <seconds>. Decimals allowed.",
			NULL};
		cmd_add_help(ctx, "DEBUG", lines);
		return;
	}
	if (cmd_arg_is(ctx, 1, "sleep") && ctx->argc == 3) {
		char buf[64];
		double secs =
			strtod(cmd_arg_str(ctx, 2, buf, sizeof(buf)), NULL);
		if (secs > 0 && isfinite(secs)) {
			struct timespec ts = {
				.tv_sec = (time_t)secs,
				.tv_nsec = (long)((secs - floor(secs)) * 1e9)};
			/* A sleeping worker must not hold the engine's
			 * epoch back. */
			fkv_session_suspend(ctx->s);
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
			fkv_session_resume(ctx->s);
		}
		resp_add_ok(ctx->out);
		return;
	}
	char name[130];
	resp_add_errorf(ctx->out,
			"ERR unknown subcommand or wrong number of arguments "
			"for '%s'. Try DEBUG HELP.",
			cmd_arg_str(ctx, 1, name, sizeof(name)));
}

/* SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: a graceful stop through
 * the main thread (SIGTERM); the connection closes without a reply.  The
 * main thread takes the final checkpoint (SAVE, or by default when save
 * points are set) once the workers have stopped, so that it holds every
 * acknowledged write.  Without a device nothing can be saved: SAVE then
 * fails unless FORCE is given, as a failed save does in Redis. */
static void cmd_shutdown(cmd_ctx *ctx)
{
	bool nosave = false, save = false, force = false, abort_ = false;
	for (int i = 1; i < ctx->argc; i++) {
		if (cmd_arg_is(ctx, i, "nosave"))
			nosave = true;
		else if (cmd_arg_is(ctx, i, "save"))
			save = true;
		else if (cmd_arg_is(ctx, i, "now"))
			;
		else if (cmd_arg_is(ctx, i, "force"))
			force = true;
		else if (cmd_arg_is(ctx, i, "abort"))
			abort_ = true;
		else {
			cmd_err_syntax(ctx);
			return;
		}
	}
	if ((nosave && save) || (abort_ && ctx->argc != 2)) {
		cmd_err_syntax(ctx);
		return;
	}
	if (abort_) {
		resp_add_error(ctx->out, "ERR No shutdown in progress.");
		return;
	}
	if (save && !force && !persist_supported()) {
		rf_log(RF_LOG_WARNING,
		       "SHUTDOWN SAVE refused: checkpoints need storage-tier "
		       "yes (use NOSAVE or FORCE)");
		resp_add_error(ctx->out,
			       "ERR Errors trying to SHUTDOWN. Check logs.");
		return;
	}
	atomic_store(&server.shutdown_save, save     ? RF_SHUTDOWN_SAVE
					    : nosave ? RF_SHUTDOWN_NOSAVE
						     : RF_SHUTDOWN_DEFAULT);
	rf_log(RF_LOG_WARNING, "User requested shutdown...");
	atomic_store(&server.shutdown_asked, 1);
	ctx->c->flags |= CLIENT_CLOSE_AFTER_REPLY;
	kill(getpid(), SIGTERM);
}

/* ---- cluster commands on a server that is not a cluster ---------------- */

static void cmd_cluster_disabled(cmd_ctx *ctx)
{
	resp_add_error(ctx->out, "ERR This instance has cluster support "
				 "disabled");
}

/* ---- the table ---------------------------------------------------------- */

#define END                                                                    \
	{                                                                      \
		NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL        \
	}
#define SUB_FLAGS (CMD_LOADING | CMD_STALE)

#define CONFIG_FLAGS (CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)

static const cmd_def config_subs[] = {
	{"config|get", cmd_config_get, -3, CONFIG_FLAGS, 0, 0, 0, "server",
	 "Returns the effective values of configuration parameters.", "2.0.0",
	 "O(N) when N is the number of configuration parameters provided",
	 NULL},
	{"config|help", cmd_config_help, 2, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns helpful text about the different subcommands.", "5.0.0",
	 "O(1)", NULL},
	{"config|resetstat", cmd_config_resetstat, 2, CONFIG_FLAGS, 0, 0, 0,
	 "server", "Resets the server's statistics.", "2.0.0", "O(1)", NULL},
	{"config|rewrite", cmd_config_rewrite, 2, CONFIG_FLAGS, 0, 0, 0,
	 "server", "Persists the effective configuration to file.", "2.8.0",
	 "O(1)", NULL},
	{"config|set", cmd_config_set, -4, CONFIG_FLAGS, 0, 0, 0, "server",
	 "Sets configuration parameters in-flight.", "2.0.0",
	 "O(N) when N is the number of configuration parameters provided",
	 NULL},
	END,
};

#define CLUSTER_SUB(n, ar, sum)                                                \
	{                                                                      \
		"cluster|" n, cmd_cluster_disabled, ar, CMD_STALE, 0, 0, 0,    \
			"cluster", sum, "3.0.0", "O(1)", NULL                  \
	}

static const cmd_def cluster_subs[] = {
	CLUSTER_SUB("countkeysinslot", 3,
		    "Returns the number of keys in a hash slot."),
	CLUSTER_SUB("getkeysinslot", 4,
		    "Returns the key names in a hash slot."),
	CLUSTER_SUB("help", 2,
		    "Returns helpful text about the different subcommands."),
	CLUSTER_SUB("info", 2,
		    "Returns information about the state of a "
		    "node."),
	CLUSTER_SUB("keyslot", 3, "Returns the hash slot for a key."),
	CLUSTER_SUB("links", 2,
		    "Returns a list of all TCP links to and from peer nodes."),
	CLUSTER_SUB("myid", 2, "Returns the ID of a node."),
	CLUSTER_SUB("myshardid", 2, "Returns the shard ID of a node."),
	CLUSTER_SUB("nodes", 2,
		    "Returns the cluster configuration for a "
		    "node."),
	CLUSTER_SUB("replicas", 3, "Lists the replica nodes of a master node."),
	CLUSTER_SUB("shards", 2,
		    "Returns the mapping of cluster slots to "
		    "shards."),
	CLUSTER_SUB("slaves", 3, "Lists the replica nodes of a master node."),
	CLUSTER_SUB("slots", 2,
		    "Returns the mapping of cluster slots to "
		    "nodes."),
	END,
};

const cmd_def cmd_server_table[] = {
	{"cluster", cmd_cluster_disabled, -2, 0, 0, 0, 0, "cluster",
	 "A container for Redis Cluster commands.", "3.0.0",
	 "Depends on subcommand.", cluster_subs},
	{"config", cmd_config, -2, 0, 0, 0, 0, "server",
	 "A container for server configuration commands.", "2.0.0",
	 "Depends on subcommand.", config_subs},
	{"debug", cmd_debug, -2,
	 CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE, 0, 0, 0, "server",
	 "A container for debugging commands.", "1.0.0",
	 "Depends on subcommand.", NULL},
	{"info", cmd_info, -1, CMD_LOADING | CMD_STALE, 0, 0, 0, "server",
	 "Returns information and statistics about the server.", "1.0.0",
	 "O(1)", NULL},
	{"bgrewriteaof", cmd_bgrewriteaof, 1, CMD_ADMIN | CMD_NOSCRIPT, 0, 0, 0,
	 "server",
	 "Asynchronously rewrites the append-only file to disk (here: takes "
	 "a checkpoint, which truncates the append-only file).",
	 "1.0.0", "O(1)", NULL},
	{"bgsave", cmd_bgsave, -1, CMD_ADMIN | CMD_NOSCRIPT, 0, 0, 0, "server",
	 "Asynchronously saves the database(s) to disk.", "1.0.0", "O(1)",
	 NULL},
	{"lastsave", cmd_lastsave, 1, CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0,
	 0, "server",
	 "Returns the Unix timestamp of the last successful save "
	 "to disk.",
	 "1.0.0", "O(1)", NULL},
	{"readonly", cmd_cluster_disabled, 1,
	 CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0, 0, "cluster",
	 "Enables read-only queries for a connection to a Redis Cluster "
	 "replica node.",
	 "3.0.0", "O(1)", NULL},
	{"readwrite", cmd_cluster_disabled, 1,
	 CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0, 0, "cluster",
	 "Enables read-write queries for a connection to a Redis Cluster "
	 "replica node.",
	 "3.0.0", "O(1)", NULL},
	{"save", cmd_save, 1, CMD_ADMIN | CMD_NOSCRIPT, 0, 0, 0, "server",
	 "Synchronously saves the database(s) to disk.", "1.0.0",
	 "O(N) where N is the total number of keys in all databases", NULL},
	{"shutdown", cmd_shutdown, -1,
	 CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE, 0, 0, 0, "server",
	 "Synchronously saves the database(s) to disk and shuts down the "
	 "Redis server.",
	 "1.0.0",
	 "O(N) when saving, where N is the total number of keys in all "
	 "databases when saving data, otherwise O(1)",
	 NULL},
	{"time", cmd_time, 1, CMD_LOADING | CMD_STALE | CMD_FAST, 0, 0, 0,
	 "server", "Returns the server time.", "2.6.0", "O(1)", NULL},
	END,
};
