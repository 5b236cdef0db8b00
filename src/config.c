/*
 * config.c - the option table and its file / CONFIG SET / CONFIG GET /
 * CONFIG REWRITE code: see config.h.
 */
#include "config.h"
#include "aof.h"
#include "logs.h"
#include "persist.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "resp_parse.h"

pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;

#define OFF(f) offsetof(rf_config, f)

static const struct cfg_enum loglevels[] = {{"debug", 0},   {"verbose", 1},
					    {"notice", 2},  {"warning", 3},
					    {"nothing", 4}, {NULL, 0}};

/* In the order Redis lists them in its error message. */
static const struct cfg_enum maxmemory_policies[] = {
	{"volatile-lru", 0},   {"volatile-lfu", 1}, {"volatile-random", 2},
	{"volatile-ttl", 3},   {"allkeys-lru", 4},  {"allkeys-lfu", 5},
	{"allkeys-random", 6}, {"noeviction", 7},   {NULL, 0}};

static const struct cfg_enum fsync_policies[] = {
	{"everysec", 1}, {"always", 2}, {"no", 0}, {NULL, 0}};

static const struct cfg_enum log_commit_policies[] = {
	{"always", CFG_COMMIT_ALWAYS},
	{"everysec", CFG_COMMIT_EVERYSEC},
	{"manual", CFG_COMMIT_MANUAL},
	{NULL, 0}};

static const struct cfg_enum checkpoint_types[] = {
	{"foldover", CFG_CHECKPOINT_FOLDOVER},
	{"snapshot", CFG_CHECKPOINT_SNAPSHOT},
	{NULL, 0}};
static const struct cfg_enum device_types[] = {{"file", CFG_DEVICE_FILE},
					       {"uring", CFG_DEVICE_URING},
					       {"null", CFG_DEVICE_NULL},
					       {NULL, 0}};
static const struct cfg_enum debug_modes[] = {{"no", CFG_DEBUG_NO},
					      {"yes", CFG_DEBUG_YES},
					      {"local", CFG_DEBUG_LOCAL},
					      {NULL, 0}};

static const char *check_obl(rf_config *cfg);
static const char *check_save(rf_config *cfg);
static const char *check_cluster(rf_config *cfg);
static const char *check_log_policy(rf_config *cfg);
static const char *check_appendfsync(rf_config *cfg);
static const char *check_faster_log_page_size(rf_config *cfg);
static const char *check_faster_log_segment_size(rf_config *cfg);
static const char *check_daemonize(rf_config *cfg);
static const char *check_maxclients(rf_config *cfg);

/* Keep in the order of docs/CONFIG.md and redis-faster.conf. */
const cfg_option cfg_options[] = {
	/* ---- network ---- */
	{.name = "bind",
	 .type = CFG_STRING,
	 .offset = OFF(bind),
	 .def = "127.0.0.1",
	 .multi_word = true,
	 .doc = "addresses to listen on, separated by spaces (IPv4 or IPv6; "
		"'*' for all, a leading '-' makes one optional)"},
	{.name = "port",
	 .type = CFG_INT,
	 .offset = OFF(port),
	 .max = 65535,
	 .def = "6379",
	 .doc = "TCP port; 0 disables TCP"},
	{.name = "unixsocket",
	 .type = CFG_STRING,
	 .offset = OFF(unixsocket),
	 .def = "",
	 .doc = "path of a unix socket to listen on as well (empty: none)"},
	{.name = "unixsocketperm",
	 .type = CFG_INT,
	 .offset = OFF(unixsocketperm),
	 .max = 0777,
	 .def = "0",
	 .octal = true,
	 .doc = "permissions of the unix socket, octal (0: as the umask "
		"leaves them)"},
	{.name = "protected-mode",
	 .type = CFG_BOOL,
	 .offset = OFF(protected_mode),
	 .max = 1,
	 .def = "yes",
	 .mutable_ = true,
	 .doc = "with no password set, accept only loopback and unix-socket "
		"clients"},
	{.name = "tcp-backlog",
	 .type = CFG_INT,
	 .offset = OFF(tcp_backlog),
	 .max = 65535,
	 .def = "511",
	 .doc = "listen() backlog"},
	{.name = "tcp-keepalive",
	 .type = CFG_INT,
	 .offset = OFF(tcp_keepalive),
	 .max = INT32_MAX,
	 .def = "300",
	 .mutable_ = true,
	 .doc = "TCP keepalive interval in seconds for new clients (0: off)"},
	{.name = "timeout",
	 .type = CFG_INT,
	 .offset = OFF(timeout),
	 .max = INT32_MAX,
	 .def = "0",
	 .mutable_ = true,
	 .doc = "close a client idle for this many seconds (0: never)"},
	{.name = "io-threads",
	 .type = CFG_INT,
	 .offset = OFF(io_threads),
	 .max = 128,
	 .def = "0",
	 .doc = "worker threads, each with its own event loop and its own "
		"clients (0: one per core)"},
	/* ---- general ---- */
	{.name = "daemonize",
	 .type = CFG_BOOL,
	 .offset = OFF(daemonize),
	 .max = 1,
	 .def = "no",
	 .check = check_daemonize,
	 .doc = "accepted for compatibility; only 'no' is supported (run "
		"under a supervisor)"},
	{.name = "pidfile",
	 .type = CFG_STRING,
	 .offset = OFF(pidfile),
	 .def = "",
	 .doc = "write the process id to this file (empty: no file)"},
	{.name = "loglevel",
	 .type = CFG_ENUM,
	 .offset = OFF(loglevel),
	 .def = "notice",
	 .mutable_ = true,
	 .enums = loglevels,
	 .doc = "debug, verbose, notice, warning or nothing"},
	{.name = "logfile",
	 .type = CFG_STRING,
	 .offset = OFF(logfile),
	 .def = "",
	 .doc = "log file (empty: standard output)"},
	{.name = "databases",
	 .type = CFG_INT,
	 .offset = OFF(databases),
	 .min = 1,
	 .max = 256,
	 .def = "16",
	 .doc = "number of databases (SELECT 0 .. databases-1)"},
	{.name = "dir",
	 .type = CFG_STRING,
	 .offset = OFF(dir),
	 .def = "./data",
	 .doc = "data directory (created at start if missing)"},
	{.name = "hz",
	 .type = CFG_INT,
	 .offset = OFF(hz),
	 .min = 1,
	 .max = 500,
	 .def = "10",
	 .mutable_ = true,
	 .doc = "background tasks (expiry sweep, idle timeouts, statistics) "
		"per second, per worker"},
	/* ---- security ---- */
	{.name = "requirepass",
	 .type = CFG_STRING,
	 .offset = OFF(requirepass),
	 .def = "",
	 .mutable_ = true,
	 .doc = "password of the default user: clients must AUTH (empty: "
		"none); connected clients stay authenticated when it changes"},
	{.name = "enable-debug-command",
	 .type = CFG_ENUM,
	 .offset = OFF(enable_debug_command),
	 .def = "no",
	 .enums = debug_modes,
	 .doc = "allow DEBUG: no, yes, or local (loopback and unix-socket "
		"clients only)"},
	/* ---- clients and limits ---- */
	{.name = "maxclients",
	 .type = CFG_INT,
	 .offset = OFF(maxclients),
	 .min = 1,
	 .max = 1000000,
	 .def = "10000",
	 .mutable_ = true,
	 .check = check_maxclients,
	 .doc = "most clients connected at once; CONFIG SET may lower it, "
		"or raise it up to the value the server started with"},
	{.name = "proto-max-bulk-len",
	 .type = CFG_MEMORY,
	 .offset = OFF(proto_max_bulk_len),
	 .min = 1024,
	 .max = INT64_MAX,
	 .def = "512mb",
	 .doc = "largest bulk string a request may carry (fixed at start)"},
	{.name = "client-query-buffer-limit",
	 .type = CFG_MEMORY,
	 .offset = OFF(client_query_buffer_limit),
	 .min = 1024 * 1024,
	 .max = INT64_MAX,
	 .def = "1gb",
	 .mutable_ = true,
	 .doc = "largest query buffer of one client; a client over it is "
		"closed"},
	{.name = "client-output-buffer-limit",
	 .type = CFG_STRING,
	 .offset = OFF(client_output_buffer_limit),
	 .def = "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60",
	 .mutable_ = true,
	 .multi_word = true,
	 .check = check_obl,
	 .doc = "per class: hard limit, soft limit, soft seconds; the normal "
		"class's hard limit is enforced (a value replaces all "
		"classes)"},
	/* ---- memory management ---- */
	{.name = "maxmemory",
	 .type = CFG_MEMORY,
	 .offset = OFF(maxmemory),
	 .max = INT64_MAX,
	 .def = "0",
	 .mutable_ = true,
	 .doc = "with storage-tier no (a cache): the log memory, set at "
		"start; with storage-tier yes: accepted and reported"},
	{.name = "maxmemory-policy",
	 .type = CFG_ENUM,
	 .offset = OFF(maxmemory_policy),
	 .def = "noeviction",
	 .mutable_ = true,
	 .enums = maxmemory_policies,
	 .doc = "accepted and reported: storage-tier picks eviction (no: "
		"the oldest records, yes: none, records go to disk)"},
	{.name = "maxmemory-samples",
	 .type = CFG_INT,
	 .offset = OFF(maxmemory_samples),
	 .min = 1,
	 .max = 64,
	 .def = "5",
	 .mutable_ = true,
	 .doc = "accepted and reported, not used yet"},
	/* ---- persistence ---- */
	{.name = "save",
	 .type = CFG_STRING,
	 .offset = OFF(save),
	 .def = "3600 1 300 100 60 10000",
	 .mutable_ = true,
	 .multi_word = true,
	 .check = check_save,
	 .doc = "autosave points, pairs of <seconds> <changes>: a background "
		"checkpoint (BGSAVE) starts once <changes> writes happened and "
		"<seconds> passed since the last save; \"\" disables; "
		"SHUTDOWN saves when points are set"},
	{.name = "checkpoint-keep",
	 .type = CFG_INT,
	 .offset = OFF(checkpoint_keep),
	 .min = 1,
	 .max = 1000,
	 .def = "2",
	 .doc = "checkpoints kept in dir (older ones are deleted once a new "
		"one is durable); recovery falls back to an older one when "
		"the newest does not verify"},
	{.name = "checkpoint-flush-rate",
	 .type = CFG_MEMORY,
	 .offset = OFF(checkpoint_flush_rate),
	 .min = 0,
	 .max = INT64_MAX,
	 .def = "64mb",
	 .mutable_ = true,
	 .doc = "bytes per second a background checkpoint (BGSAVE, autosave) "
		"writes of the in-memory log (fold-over), so that it takes "
		"less from the workers; 0: no limit; SAVE and the shutdown "
		"save are never paced"},
	{.name = "checkpoint-type",
	 .type = CFG_ENUM,
	 .offset = OFF(checkpoint_type),
	 .def = "foldover",
	 .enums = checkpoint_types,
	 .doc = "foldover: the log is flushed to the device up to its tail "
		"(every record becomes read-only); snapshot: the part of the "
		"log not yet on the device is written to a file of the "
		"checkpoint (the mutable region stays mutable)"},
	{.name = "appendonly",
	 .type = CFG_BOOL,
	 .offset = OFF(appendonly),
	 .max = 1,
	 .def = "no",
	 .doc = "yes: every write command is logged to the append-only file "
		"(a FasterLog in dir/appenddirname) before it is acknowledged; "
		"start-up replays it after the newest checkpoint; needs "
		"storage-tier yes; set at start"},
	{.name = "appendfsync",
	 .type = CFG_ENUM,
	 .offset = OFF(appendfsync),
	 .def = "everysec",
	 .mutable_ = true,
	 .enums = fsync_policies,
	 .check = check_appendfsync,
	 .doc = "always: a write's reply waits until it is durable (group "
		"commit); everysec: the append-only file commits every second; "
		"no: it reaches the OS every second without fsync"},
	{.name = "appenddirname",
	 .type = CFG_STRING,
	 .offset = OFF(appenddirname),
	 .def = "appendonlydir",
	 .doc = "the append-only file's folder, under dir"},
	{.name = "log-commit-policy",
	 .type = CFG_ENUM,
	 .offset = OFF(log_commit_policy),
	 .def = "everysec",
	 .mutable_ = true,
	 .enums = log_commit_policies,
	 .check = check_log_policy,
	 .doc = "when LOG.APPEND entries become durable: always (the reply "
		"waits for the commit), everysec (each log commits every "
		"second), manual (only LOG.COMMIT)"},
	{.name = "faster-log-page-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(faster_log_page_size),
	 .min = 4096,
	 .max = 1024 * 1024 * 1024,
	 .def = "1mb",
	 .check = check_faster_log_page_size,
	 .doc = "page size of new LOG.* logs and of a new append-only file (a "
		"power of two); an entry holds at most this minus 8 bytes; an "
		"existing log keeps the size it was created with"},
	{.name = "faster-log-pages",
	 .type = CFG_INT,
	 .offset = OFF(faster_log_pages),
	 .min = 2,
	 .max = 4096,
	 .def = "8",
	 .doc = "pages each open log keeps in memory (appends wait when all "
		"of them wait for the device)"},
	{.name = "faster-log-max-logs",
	 .type = CFG_INT,
	 .offset = OFF(faster_log_max_logs),
	 .min = 1,
	 .max = 65536,
	 .def = "256",
	 .mutable_ = true,
	 .doc = "LOG.* logs open at once (each keeps its pages in memory and "
		"a flusher thread); one more answers an error"},
	{.name = "faster-log-segment-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(faster_log_segment_size),
	 .min = 4096,
	 .max = INT64_C(1) << 40,
	 .def = "256mb",
	 .check = check_faster_log_segment_size,
	 .doc = "segment file size of new logs (a power of two, at least the "
		"page size); LOG.TRUNCATE frees whole segments"},
	{.name = "dbfilename",
	 .type = CFG_STRING,
	 .offset = OFF(dbfilename),
	 .def = "dump.rdb",
	 .mutable_ = true,
	 .doc = "accepted and reported, not used until snapshots exist"},
	/* ---- replication and cluster (neither exists) ---- */
	{.name = "replica-read-only",
	 .alias = "slave-read-only",
	 .type = CFG_BOOL,
	 .offset = OFF(replica_read_only),
	 .max = 1,
	 .def = "yes",
	 .mutable_ = true,
	 .doc = "accepted and reported; the server is always a master"},
	{.name = "cluster-enabled",
	 .type = CFG_BOOL,
	 .offset = OFF(cluster_enabled),
	 .max = 1,
	 .def = "no",
	 .check = check_cluster,
	 .doc = "cluster mode is not supported: must stay 'no'"},
	/* ---- engine ---- */
	{.name = "index-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(index_size),
	 .min = 64 * 1024,
	 .max = INT64_MAX,
	 .def = "64mb",
	 .doc = "engine hash index size (64-byte buckets; rounded down to a "
		"power of two; grows online)"},
	{.name = "log-memory-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(log_memory_size),
	 .min = 1024 * 1024,
	 .max = INT64_MAX,
	 .def = "1gb",
	 .doc = "engine log memory (rounded down to a power of two): the "
		"in-memory part of the log; with storage-tier yes the data "
		"set may be larger, with storage-tier no this bounds it"},
	{.name = "log-page-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(log_page_size),
	 .min = 4096,
	 .max = 1 << 30,
	 .def = "32mb",
	 .doc = "engine log page size (rounded down to a power of two); the "
		"largest record"},
	{.name = "log-mutable-percent",
	 .type = CFG_INT,
	 .offset = OFF(log_mutable_percent),
	 .min = 1,
	 .max = 100,
	 .def = "90",
	 .doc = "share of log memory updated in place"},
	{.name = "hugepages",
	 .type = CFG_BOOL,
	 .offset = OFF(hugepages),
	 .max = 1,
	 .def = "yes",
	 .doc = "ask for transparent huge pages for the index and the log"},
	{.name = "index-auto-grow",
	 .type = CFG_BOOL,
	 .offset = OFF(index_auto_grow),
	 .max = 1,
	 .def = "yes",
	 .doc = "double the index online when it gets crowded"},
	/* ---- the disk tier ---- */
	{.name = "storage-tier",
	 .type = CFG_BOOL,
	 .offset = OFF(storage_tier),
	 .max = 1,
	 .def = "yes",
	 .doc = "yes: a store (pages leaving memory go to the device under "
		"dir, nothing is lost); no: a cache (memory bounded by "
		"log-memory-size, or maxmemory when set; the oldest records "
		"are evicted)"},
	{.name = "device-type",
	 .type = CFG_ENUM,
	 .offset = OFF(device_type),
	 .def = "file",
	 .enums = device_types,
	 .doc = "the log's device: file (pread/pwrite on I/O threads), uring "
		"(io_uring; falls back to file when the kernel refuses), null "
		"(memory only, for tests)"},
	{.name = "segment-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(segment_size),
	 .min = 1024 * 1024,
	 .max = INT64_C(1) << 40,
	 .def = "1gb",
	 .doc = "size of each log segment file under dir (a power of two)"},
	{.name = "copy-reads-to-tail",
	 .type = CFG_BOOL,
	 .offset = OFF(copy_reads_to_tail),
	 .max = 1,
	 .def = "no",
	 .doc = "reads of records outside the mutable region copy them to "
		"the tail, so hot keys stay in memory (LRU-like in cache "
		"mode)"},
	{.name = "cached-reads-inline",
	 .type = CFG_BOOL,
	 .offset = OFF(cached_reads_inline),
	 .max = 1,
	 .def = "yes",
	 .doc = "read on-disk records that the kernel's page cache holds on "
		"the worker thread (preadv2 RWF_NOWAIT: never waits for the "
		"disk); no: every disk read goes through the device's I/O "
		"threads and the command waits pending"},
	{.name = "read-cache",
	 .type = CFG_BOOL,
	 .offset = OFF(read_cache),
	 .max = 1,
	 .def = "yes",
	 .doc = "keep records read from disk in memory "
		"(read-cache-memory-size)"},
	{.name = "read-cache-memory-size",
	 .type = CFG_MEMORY,
	 .offset = OFF(read_cache_memory_size),
	 .max = INT64_MAX,
	 .def = "64mb",
	 .doc = "memory for records read from disk when read-cache is yes"},
};

const size_t cfg_noptions = sizeof(cfg_options) / sizeof(cfg_options[0]);

/* The largest maxclients CONFIG SET may ask for: the value the server
 * started with, since the worker event loops were sized for it.  Taken at
 * the first CONFIG SET (the first cfg_set with running), before which
 * maxclients cannot have changed at run time. */
static int64_t maxclients_ceiling = -1;
/* True while cfg_set applies a CONFIG SET (callers serialize those). */
static bool setting_live;

static int64_t *int_field(rf_config *cfg, const cfg_option *o)
{
	return (int64_t *)((char *)cfg + o->offset);
}

static char **str_field(rf_config *cfg, const cfg_option *o)
{
	return (char **)((char *)cfg + o->offset);
}

const cfg_option *cfg_find(const char *name)
{
	for (size_t i = 0; i < cfg_noptions; i++) {
		const cfg_option *o = &cfg_options[i];
		if (strcasecmp(o->name, name) == 0 ||
		    (o->alias != NULL && strcasecmp(o->alias, name) == 0))
			return o;
	}
	return NULL;
}

/* Redis's memtoull: digits then b, k (1000), kb (1024), m, mb, g, gb, any
 * case; no sign. */
static bool parse_memory(const char *s, int64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return false;
	int64_t mul = 1;
	if (*end != '\0') {
		if (strcasecmp(end, "b") == 0)
			mul = 1;
		else if (strcasecmp(end, "k") == 0)
			mul = 1000;
		else if (strcasecmp(end, "kb") == 0)
			mul = 1024;
		else if (strcasecmp(end, "m") == 0)
			mul = 1000 * 1000;
		else if (strcasecmp(end, "mb") == 0)
			mul = 1024 * 1024;
		else if (strcasecmp(end, "g") == 0)
			mul = 1000LL * 1000 * 1000;
		else if (strcasecmp(end, "gb") == 0)
			mul = 1024LL * 1024 * 1024;
		else
			return false;
	}
	if (v > INT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static bool parse_int(const char *s, int64_t *out, bool octal)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, octal ? 8 : 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*out = v;
	return true;
}

static const char *check_obl(rf_config *cfg)
{
	/* "class hard soft seconds" groups; we enforce the normal class's
	 * hard limit. */
	const char *s = cfg->client_output_buffer_limit;
	char cls[32], hard[32], soft[32], secs[32];
	int used = 0;
	int64_t normal = 0;
	while (sscanf(s, "%31s %31s %31s %31s%n", cls, hard, soft, secs,
		      &used) == 4) {
		int64_t h, so, se;
		if (!parse_memory(hard, &h) || !parse_memory(soft, &so) ||
		    !parse_int(secs, &se, false) || se < 0)
			return "Invalid argument";
		if (strcasecmp(cls, "normal") == 0)
			normal = h;
		else if (strcasecmp(cls, "replica") != 0 &&
			 strcasecmp(cls, "slave") != 0 &&
			 strcasecmp(cls, "pubsub") != 0)
			return "Invalid client class specified in buffer limit "
			       "configuration.";
		s += used;
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		return "Wrong number of arguments in buffer limit "
		       "configuration.";
	__atomic_store_n(&cfg->obl_normal_hard, normal, __ATOMIC_RELAXED);
	return NULL;
}

static const char *check_save(rf_config *cfg)
{
	return persist_check_points(cfg->save);
}

/* Not a check: open logs take the new policy's commit interval. */
static const char *check_log_policy(rf_config *cfg)
{
	(void)cfg;
	logs_policy_changed();
	return NULL;
}

static bool pow2(int64_t v)
{
	return v > 0 && (v & (v - 1)) == 0;
}

static const char *check_faster_log_page_size(rf_config *cfg)
{
	return pow2(cfg->faster_log_page_size)
		       ? NULL
		       : "faster-log-page-size must be a power of two";
}

static const char *check_faster_log_segment_size(rf_config *cfg)
{
	return pow2(cfg->faster_log_segment_size)
		       ? NULL
		       : "faster-log-segment-size must be a power of two";
}

/* Not a check either: the append-only file takes the new policy. */
static const char *check_appendfsync(rf_config *cfg)
{
	(void)cfg;
	aof_policy_changed();
	return NULL;
}

static const char *check_cluster(rf_config *cfg)
{
	return cfg->cluster_enabled ? "cluster mode is not supported" : NULL;
}

static const char *check_daemonize(rf_config *cfg)
{
	return cfg->daemonize ? "daemonize yes is not supported; run the "
				"server under a supervisor"
			      : NULL;
}

static const char *check_maxclients(rf_config *cfg)
{
	if (setting_live && maxclients_ceiling > 0 &&
	    cfg->maxclients > maxclients_ceiling)
		return "The event loop API used by Redis is not able to handle "
		       "the specified number of clients";
	return NULL;
}

/* Stores v in a numeric field, runs the option's check and puts the old
 * value back if it fails. */
static int store_int(rf_config *cfg, const cfg_option *o, int64_t v, char *err,
		     size_t errlen)
{
	int64_t *f = int_field(cfg, o);
	int64_t old = cfg_get_int(f);
	__atomic_store_n(f, v, __ATOMIC_RELAXED);
	const char *bad = o->check ? o->check(cfg) : NULL;
	if (bad != NULL) {
		__atomic_store_n(f, old, __ATOMIC_RELAXED);
		snprintf(err, errlen, "%s", bad);
		return -1;
	}
	return 0;
}

static int set_one(rf_config *cfg, const cfg_option *o, const char *v,
		   char *err, size_t errlen)
{
	int64_t n;
	switch (o->type) {
	case CFG_BOOL:
		if (strcasecmp(v, "yes") == 0)
			n = 1;
		else if (strcasecmp(v, "no") == 0)
			n = 0;
		else {
			snprintf(err, errlen, "argument must be 'yes' or 'no'");
			return -1;
		}
		return store_int(cfg, o, n, err, errlen);
	case CFG_INT:
	case CFG_MEMORY: {
		if (o->type == CFG_MEMORY && !parse_memory(v, &n)) {
			snprintf(err, errlen,
				 "argument must be a memory value");
			return -1;
		}
		if (o->type == CFG_INT && !parse_int(v, &n, o->octal)) {
			snprintf(err, errlen,
				 "argument couldn't be parsed into an integer");
			return -1;
		}
		if (n < o->min || n > o->max) {
			snprintf(err, errlen,
				 "argument must be between %" PRId64
				 " and %" PRId64 " inclusive",
				 o->min, o->max);
			return -1;
		}
		return store_int(cfg, o, n, err, errlen);
	}
	case CFG_ENUM: {
		for (const struct cfg_enum *e = o->enums; e->name; e++)
			if (strcasecmp(e->name, v) == 0)
				return store_int(cfg, o, e->value, err, errlen);
		size_t k = (size_t)snprintf(
			err, errlen,
			"argument(s) must be one of the following: ");
		for (const struct cfg_enum *e = o->enums; e->name && k < errlen;
		     e++)
			k += (size_t)snprintf(err + k, errlen - k, "%s%s",
					      e->name, e[1].name ? ", " : "");
		return -1;
	}
	case CFG_STRING: {
		char *copy = strdup(v);
		if (copy == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pthread_mutex_lock(&cfg_lock);
		char *old = *str_field(cfg, o);
		*str_field(cfg, o) = copy;
		const char *bad = o->check ? o->check(cfg) : NULL;
		if (bad != NULL) {
			*str_field(cfg, o) = old;
			if (old != NULL)
				(void)o->check(cfg); /* re-derive from old */
			pthread_mutex_unlock(&cfg_lock);
			free(copy);
			snprintf(err, errlen, "%s", bad);
			return -1;
		}
		pthread_mutex_unlock(&cfg_lock);
		free(old);
		return 0;
	}
	}
	return -1;
}

int cfg_set(rf_config *cfg, const char *name, const char *const *values,
	    int nvalues, bool running, char *err, size_t errlen)
{
	const cfg_option *o = cfg_find(name);
	if (o == NULL) {
		if (running)
			snprintf(err, errlen,
				 "Unknown option or number of arguments "
				 "for CONFIG SET - '%s'",
				 name);
		else
			snprintf(err, errlen,
				 "Bad directive or wrong number of arguments");
		return -1;
	}
	if (running) {
		if (!o->mutable_) {
			snprintf(err, errlen, "can't set immutable config");
			return -1;
		}
		if (maxclients_ceiling < 0)
			maxclients_ceiling = cfg_get_int(&cfg->maxclients);
	}
	if (o->type != CFG_STRING && nvalues != 1) {
		snprintf(err, errlen, "wrong number of arguments");
		return -1;
	}
	/* Multi-word values (save, bind, client-output-buffer-limit) are
	 * joined with spaces. */
	size_t total = 1;
	for (int i = 0; i < nvalues; i++)
		total += strlen(values[i]) + 1;
	char *joined = malloc(total);
	if (joined == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t k = 0;
	for (int i = 0; i < nvalues; i++) {
		size_t n = strlen(values[i]);
		if (i > 0)
			joined[k++] = ' ';
		memcpy(joined + k, values[i], n);
		k += n;
	}
	joined[k] = '\0';
	setting_live = running;
	int rc = set_one(cfg, o, joined, err, errlen);
	setting_live = false;
	free(joined);
	return rc;
}

int cfg_init_defaults(rf_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < cfg_noptions; i++) {
		char err[256];
		const char *v = cfg_options[i].def;
		if (set_one(cfg, &cfg_options[i], v, err, sizeof(err)) != 0) {
			fprintf(stderr, "config: bad default for %s: %s\n",
				cfg_options[i].name, err);
			abort();
		}
	}
	return 0;
}

void cfg_free(rf_config *cfg)
{
	for (size_t i = 0; i < cfg_noptions; i++) {
		if (cfg_options[i].type == CFG_STRING) {
			free(*str_field(cfg, &cfg_options[i]));
			*str_field(cfg, &cfg_options[i]) = NULL;
		}
	}
}

char *cfg_get_str(char *const *field)
{
	pthread_mutex_lock(&cfg_lock);
	char *copy = strdup(*field ? *field : "");
	pthread_mutex_unlock(&cfg_lock);
	return copy;
}

size_t cfg_format(const rf_config *cfg, const cfg_option *o, char *out,
		  size_t cap)
{
	rf_config *c = (rf_config *)cfg;
	int n = 0;
	switch (o->type) {
	case CFG_BOOL:
		n = snprintf(out, cap, "%s",
			     cfg_get_int(int_field(c, o)) ? "yes" : "no");
		break;
	case CFG_INT:
	case CFG_MEMORY:
		n = snprintf(out, cap, o->octal ? "%" PRIo64 : "%" PRId64,
			     cfg_get_int(int_field(c, o)));
		break;
	case CFG_ENUM: {
		int64_t v = cfg_get_int(int_field(c, o));
		const char *name = "";
		for (const struct cfg_enum *e = o->enums; e->name; e++)
			if (e->value == v) {
				name = e->name;
				break;
			}
		n = snprintf(out, cap, "%s", name);
		break;
	}
	case CFG_STRING:
		pthread_mutex_lock(&cfg_lock);
		n = snprintf(out, cap, "%s",
			     *str_field(c, o) ? *str_field(c, o) : "");
		pthread_mutex_unlock(&cfg_lock);
		break;
	}
	if (n < 0)
		n = 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

int cfg_load_file(rf_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "can't open config file '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	resp_limits lim;
	resp_limits_default(&lim);
	resp_parser p;
	resp_parser_init(&p, &lim);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		const char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#' || *s == '\0')
			continue;
		if (resp_split_line(&p, s, strlen(s)) != RESP_OK) {
			snprintf(err, errlen, "%s:%d: unbalanced quotes", path,
				 lineno);
			rc = -1;
			break;
		}
		if (p.argc < 2) {
			snprintf(err, errlen, "%s:%d: '%s' needs a value", path,
				 lineno, s);
			rc = -1;
			break;
		}
		/* argv entries are NUL-free copies in the arena; terminate. */
		char name[128];
		size_t nl = p.argv_len[0] < sizeof(name) - 1 ? p.argv_len[0]
							     : sizeof(name) - 1;
		memcpy(name, p.argv[0], nl);
		name[nl] = '\0';
		const char *vals[64];
		char *bufs[64];
		int nv = p.argc - 1 < 64 ? p.argc - 1 : 64;
		for (int i = 0; i < nv; i++) {
			bufs[i] = strndup(p.argv[i + 1], p.argv_len[i + 1]);
			vals[i] = bufs[i] ? bufs[i] : "";
		}
		char e2[256];
		int r = cfg_set(cfg, name, vals, nv, false, e2, sizeof(e2));
		for (int i = 0; i < nv; i++)
			free(bufs[i]);
		if (r != 0) {
			snprintf(err, errlen, "%s:%d: %s: %s", path, lineno,
				 name, e2);
			rc = -1;
			break;
		}
	}
	free(line);
	resp_parser_free(&p);
	fclose(f);
	return rc;
}

/* ---- CONFIG REWRITE ----------------------------------------------------- */

#define REWRITE_SIGNATURE "# Generated by CONFIG REWRITE"

/* Writes one word so that the config reader gives it back unchanged: bare
 * when it is plain, else in double quotes with escapes. */
static void write_word(FILE *out, const char *w, size_t n)
{
	bool plain = n > 0;
	for (size_t i = 0; i < n && plain; i++) {
		unsigned char ch = (unsigned char)w[i];
		if (ch <= ' ' || ch >= 127 || ch == '"' || ch == '\'' ||
		    ch == '\\')
			plain = false;
	}
	if (plain) {
		fwrite(w, 1, n, out);
		return;
	}
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)w[i];
		switch (ch) {
		case '\\':
			fputs("\\\\", out);
			break;
		case '"':
			fputs("\\\"", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (ch < ' ' || ch >= 127)
				fprintf(out, "\\x%02x", ch);
			else
				fputc(ch, out);
		}
	}
	fputc('"', out);
}

static void write_option(FILE *out, const rf_config *cfg, const cfg_option *o)
{
	char val[4096];
	size_t n = cfg_format(cfg, o, val, sizeof(val));
	fputs(o->name, out);
	fputc(' ', out);
	if (o->multi_word && n > 0) {
		/* Words as Redis writes them: `save 3600 1`, `bind a b`. */
		bool first = true;
		for (char *save, *w = strtok_r(val, " ", &save); w;
		     w = strtok_r(NULL, " ", &save)) {
			if (!first)
				fputc(' ', out);
			write_word(out, w, strlen(w));
			first = false;
		}
		if (first)
			fputs("\"\"", out);
	} else {
		write_word(out, val, n);
	}
	fputc('\n', out);
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL)
		return -1;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int cfg_rewrite(const rf_config *cfg, const char *path, char *err,
		size_t errlen)
{
	/* Keep every line; replace the value of each option line (dropping
	 * later lines for the same option); append the options the file did
	 * not mention whose value is not the default. */
	FILE *in = fopen(path, "r");
	if (in == NULL && errno != ENOENT) {
		snprintf(err, errlen, "Rewriting config file: %s",
			 strerror(errno));
		return -1;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	FILE *out = fopen(tmp, "w");
	if (out == NULL) {
		int e = errno;
		if (in != NULL)
			fclose(in);
		snprintf(err, errlen, "Rewriting config file: %s", strerror(e));
		return -1;
	}
	bool seen[sizeof(cfg_options) / sizeof(cfg_options[0])] = {false};
	bool signed_ = false; /* the file has the signature line already */
	char *line = NULL;
	size_t cap = 0;
	while (in != NULL && getline(&line, &cap, in) >= 0) {
		const char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		char name[128];
		size_t k = 0;
		while (s[k] && !isspace((unsigned char)s[k]) && k < 127) {
			name[k] = s[k];
			k++;
		}
		name[k] = '\0';
		if (strncmp(s, REWRITE_SIGNATURE, strlen(REWRITE_SIGNATURE)) ==
		    0)
			signed_ = true;
		const cfg_option *o = *s == '#' ? NULL : cfg_find(name);
		if (o == NULL) {
			fputs(line, out);
			if (line[0] != '\0' && line[strlen(line) - 1] != '\n')
				fputc('\n', out);
			continue;
		}
		if (seen[o - cfg_options])
			continue;
		seen[o - cfg_options] = true;
		write_option(out, cfg, o);
	}
	free(line);
	if (in != NULL)
		fclose(in);
	rf_config defaults;
	cfg_init_defaults(&defaults);
	bool header = signed_;
	for (size_t i = 0; i < cfg_noptions; i++) {
		if (seen[i])
			continue;
		char val[4096], def[4096];
		cfg_format(cfg, &cfg_options[i], val, sizeof(val));
		cfg_format(&defaults, &cfg_options[i], def, sizeof(def));
		if (strcmp(val, def) == 0)
			continue;
		if (!header)
			fputs(REWRITE_SIGNATURE "\n", out);
		header = true;
		write_option(out, cfg, &cfg_options[i]);
	}
	cfg_free(&defaults);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		int e = errno;
		fclose(out);
		unlink(tmp);
		snprintf(err, errlen, "Rewriting config file: %s", strerror(e));
		return -1;
	}
	fclose(out);
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		snprintf(err, errlen, "Rewriting config file: %s", strerror(e));
		return -1;
	}
	(void)fsync_dir_of(path); /* the rename is done; best effort */
	return 0;
}
