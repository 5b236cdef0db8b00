/*
 * aof.c - the append-only file over FasterLog: logging write commands,
 * replaying them at start-up, truncating after checkpoints (aof.h).
 *
 * Entry layout (little-endian): magic "AOF1" (u32), version (u64), the
 * command's clock and the session's clock (i64 Unix ms each), database
 * (u32), argc (u32), then each argument as a u32 length and its bytes.
 * The FasterLog adds its own length and CRC32C.
 */
#include "aof.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "conn.h"
#include "durable.h"
#include "logs.h"
#include "server.h"

#define AOF_MAGIC 0x31464f41u /* "AOF1" */
#define AOF_HEAD 36	      /* magic, version, 2 clocks, db, argc */
#define STRIPES 1024
#define MAX_STRIPES 32 /* per command: more run alone */

static rf_flog aof = {.name = "appendonly", .internal = true, .gen = 1};
static bool logging, replaying;
/* Test hook (RF_AOF_EFFECTS=always in the environment at start): every
 * command with keys is logged as its keys' state, as after a straddle,
 * so that tests can check those entries replay exactly. */
static bool effects_always;
static pthread_mutex_t stripes[STRIPES];
/* Held shared by a command that takes stripes, exclusive by one that
 * takes none (no keys: FLUSHALL, FLUSHDB; or too many keys). */
static pthread_rwlock_t all_lock =
	PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static _Atomic uint64_t prev_start; /* the previous checkpoint's start */
static _Atomic uint64_t base_size;

bool aof_logging(void)
{
	return logging;
}

bool aof_replaying(void)
{
	return replaying;
}

/* The automatic commit interval and fsync choice of appendfsync. */
static void policy(uint32_t *ms, bool *no_sync)
{
	int64_t p = cfg_get_int(&server.cfg.appendfsync);
	*ms = p == CFG_FSYNC_ALWAYS ? 0 : 1000;
	*no_sync = p == CFG_FSYNC_NO;
}

void aof_policy_changed(void)
{
	if (aof.log == NULL)
		return;
	uint32_t ms;
	bool no_sync;
	policy(&ms, &no_sync);
	flog_set_commit_interval(aof.log, ms, no_sync);
}

/* ---- entries ---------------------------------------------------------- */

static uint64_t entry_size(int argc, const size_t *argv_len)
{
	uint64_t n = AOF_HEAD;
	for (int i = 0; i < argc; i++)
		n += 4 + argv_len[i];
	return n;
}

/* One entry to log: a command line in a database, at given clocks. */
struct line {
	int db, argc;
	const char *const *argv;
	const size_t *argv_len;
	int64_t now_ms, clock;
	uint64_t version;
};

/* Serializes the line (n bytes: entry_size) into a buffer of the calling
 * thread, grown as needed.  Returns NULL without memory. */
static uint8_t *encode(const struct line *ln, uint64_t n)
{
	static _Thread_local uint8_t *buf;
	static _Thread_local uint64_t cap;
	if (cap < n) {
		uint8_t *b = realloc(buf, n);
		if (b == NULL)
			return NULL;
		buf = b;
		cap = n;
	}
	fkv__put32(buf, AOF_MAGIC);
	fkv__put64(buf + 4, ln->version);
	fkv__put64(buf + 12, (uint64_t)ln->now_ms);
	fkv__put64(buf + 20, (uint64_t)ln->clock);
	fkv__put32(buf + 28, (uint32_t)ln->db);
	fkv__put32(buf + 32, (uint32_t)ln->argc);
	uint8_t *p = buf + AOF_HEAD;
	for (int i = 0; i < ln->argc; i++) {
		fkv__put32(p, (uint32_t)ln->argv_len[i]);
		memcpy(p + 4, ln->argv[i], ln->argv_len[i]);
		p += 4 + ln->argv_len[i];
	}
	return buf;
}

/* Appends the line; sets *end.  Returns FKV_OK, FKV_INVALID (too large
 * for a page) or another append status. */
static int append_line(const struct line *ln, uint64_t *end)
{
	uint64_t n = entry_size(ln->argc, ln->argv_len);
	if (n > flog_max_entry(aof.log))
		return FKV_INVALID;
	uint8_t *e = encode(ln, n);
	if (e == NULL)
		return FKV_OUT_OF_MEMORY;
	return flog_append(aof.log, e, n, NULL, end);
}

/* ---- stripes ---------------------------------------------------------- */

static uint32_t stripe_of(const char *key, size_t len)
{
	/* FNV-1a: stripes only spread keys, any hash will do. */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	return h % STRIPES;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The stripes of the command's keys, sorted and unique, into *out (small
 * holds up to MAX_STRIPES).  Returns the count, or -1 when the command
 * has no keys or more stripes than that: it then runs alone. */
static int command_stripes(const cmd_ctx *ctx, const cmd_def *d, uint32_t *out)
{
	if (d->first_key == 0)
		return -1;
	int last = cmd_last_key(d, ctx->argc);
	int k = 0;
	for (int i = d->first_key; i <= last; i += d->key_step) {
		if (k == MAX_STRIPES)
			return -1;
		out[k++] = stripe_of(ctx->argv[i], ctx->argv_len[i]);
	}
	qsort(out, (size_t)k, sizeof(*out), cmp_u32);
	int u = 0;
	for (int i = 0; i < k; i++)
		if (u == 0 || out[u - 1] != out[i])
			out[u++] = out[i];
	return u;
}

/* Suspends the session before a lock wait: the holder may be waiting
 * for the epoch to move.  *suspended says whether it is. */
static void before_wait(fkv_session *s, bool *suspended)
{
	if (!*suspended && s != NULL) {
		fkv_session_suspend(s);
		*suspended = true;
	}
}

/* n >= 0: the whole-file lock shared, then the n stripes in order;
 * n < 0: the whole-file lock alone, exclusive. */
static void lock_stripes(fkv_session *s, const uint32_t *list, int n)
{
	bool suspended = false;
	if (n < 0 && pthread_rwlock_trywrlock(&all_lock) != 0) {
		before_wait(s, &suspended);
		pthread_rwlock_wrlock(&all_lock);
	} else if (n >= 0 && pthread_rwlock_tryrdlock(&all_lock) != 0) {
		before_wait(s, &suspended);
		pthread_rwlock_rdlock(&all_lock);
	}
	for (int i = 0; i < n; i++) {
		pthread_mutex_t *m = &stripes[list[i]];
		if (pthread_mutex_trylock(m) != 0) {
			before_wait(s, &suspended);
			pthread_mutex_lock(m);
		}
	}
	if (suspended)
		fkv_session_resume(s);
}

static void unlock_stripes(const uint32_t *list, int n)
{
	for (int i = n - 1; i >= 0; i--)
		pthread_mutex_unlock(&stripes[list[i]]);
	pthread_rwlock_unlock(&all_lock);
}

/* ---- a command that straddled a CPR point ---------------------------
 *
 * Its first operations belong to the checkpoint of the version it started
 * in, the rest to the next.  Replaying it whole over that checkpoint is
 * wrong for a command that is not idempotent (RENAME finds its source
 * gone), so instead the state it left in each of its keys is logged,
 * while their stripes are still held: SET key value [PXAT t], or DEL key.
 */

/* Runs a read-only command (GET, PEXPIRETIME) on one key into out, in
 * place (no pending), without touching the client's state. */
static void read_key(cmd_ctx *ctx, const char *cmd, int db, const char *key,
		     size_t len, resp_buf *out)
{
	const cmd_def *d = cmd_lookup(cmd, strlen(cmd));
	const char *argv[2] = {cmd, key};
	size_t argv_len[2] = {strlen(cmd), len};
	rf_client *c = ctx->c;
	int saved_db = c->db;
	c->db = db;
	fkv_session_set_waiter(ctx->s, NULL);
	cmd_ctx x = {.c = c,
		     .argc = 2,
		     .argv = argv,
		     .argv_len = argv_len,
		     .out = out,
		     .s = ctx->s,
		     .now_ms = ctx->now_ms};
	d->fn(&x);
	c->db = saved_db;
}

/* The state one key was left in: the entry that recreates it. */
struct effect {
	resp_buf v, t; /* GET's and PEXPIRETIME's replies */
	char pxat[24];
	const char *argv[5];
	size_t argv_len[5];
	struct line ln;
};

/* Reads the state of (db, key) into e's line: SET key value [PXAT t] or
 * DEL key.  The expiry is read first: a key that expires in between then
 * reads as gone.  Returns false when a reply cannot be understood. */
static bool read_effect(cmd_ctx *ctx, int db, const char *key, size_t len,
			struct effect *e)
{
	resp_buf_init(&e->v, 2);
	resp_buf_init(&e->t, 2);
	read_key(ctx, "pexpiretime", db, key, len, &e->t);
	read_key(ctx, "get", db, key, len, &e->v);
	resp_buf *v = &e->v, *t = &e->t;
	if (v->oom || t->oom || v->len < 5 || t->len < 4 || t->data[0] != ':')
		return false;
	long long at = strtoll(t->data + 1, NULL, 10);
	e->ln.db = db;
	e->ln.argv = e->argv;
	e->ln.argv_len = e->argv_len;
	e->argv[1] = key;
	e->argv_len[1] = len;
	if ((v->data[0] == '$' && v->data[1] == '-') || at == -2) {
		e->argv[0] = "DEL";
		e->argv_len[0] = 3;
		e->ln.argc = 2;
		return true;
	}
	if (v->data[0] != '$')
		return false; /* an error reply */
	char *crlf = memchr(v->data, '\r', v->len);
	if (crlf == NULL)
		return false;
	size_t vlen = strtoull(v->data + 1, NULL, 10);
	const char *val = crlf + 2;
	if ((size_t)(val - v->data) + vlen > v->len)
		return false;
	e->argv[0] = "SET";
	e->argv_len[0] = 3;
	e->argv[2] = val;
	e->argv_len[2] = vlen;
	e->ln.argc = 3;
	if (at > 0) {
		snprintf(e->pxat, sizeof(e->pxat), "%lld", at);
		e->argv[3] = "PXAT";
		e->argv[4] = e->pxat;
		e->argv_len[3] = 4;
		e->argv_len[4] = strlen(e->pxat);
		e->ln.argc = 5;
	}
	return true;
}

/* Logs the state of every key the command may have changed, all or
 * nothing.  Returns FKV_OK, FKV_INVALID when some key's entry would not
 * fit a page or its state cannot be read (the caller logs the command
 * itself then), or an append status. */
static int log_effects(cmd_ctx *ctx, const cmd_def *d, int64_t clock,
		       uint64_t version, uint64_t *end)
{
	int last = cmd_last_key(d, ctx->argc);
	int n = 0;
	for (int i = d->first_key; i <= last; i += d->key_step)
		n++;
	struct effect *ef = calloc((size_t)n, sizeof(*ef));
	if (ef == NULL)
		return FKV_OUT_OF_MEMORY;
	/* COPY src dst DB n: dst lives in database n. */
	int copy_db = -1;
	if (strcmp(d->name, "copy") == 0)
		for (int i = 3; i + 1 < ctx->argc; i++)
			if (cmd_arg_is(ctx, i, "db"))
				copy_db = atoi(ctx->argv[i + 1]);
	int rc = FKV_OK, k = 0;
	for (int i = d->first_key; i <= last; i += d->key_step, k++) {
		int db = (i == 2 && copy_db >= 0) ? copy_db : ctx->c->db;
		struct effect *e = &ef[k];
		e->ln.now_ms = ctx->now_ms;
		e->ln.clock = clock;
		e->ln.version = version;
		if (!read_effect(ctx, db, ctx->argv[i], ctx->argv_len[i], e) ||
		    entry_size(e->ln.argc, e->argv_len) >
			    flog_max_entry(aof.log))
			rc = FKV_INVALID;
	}
	for (k = 0; k < n && rc == FKV_OK; k++)
		rc = append_line(&ef[k].ln, end);
	for (k = 0; k < n; k++) {
		resp_buf_free(&ef[k].v);
		resp_buf_free(&ef[k].t);
	}
	free(ef);
	return rc;
}

/* ---- logging a command ----------------------------------------------- */

static bool failed_reply(cmd_ctx *ctx)
{
	const char *why = flog_failed(aof.log);
	if (why == NULL)
		return false;
	resp_add_errorf(ctx->out, "MISCONF Errors writing to the AOF file: %s",
			why);
	return true;
}

void aof_run(cmd_ctx *ctx, const cmd_def *d)
{
	if (failed_reply(ctx))
		return;
	uint64_t n = entry_size(ctx->argc, ctx->argv_len);
	if (n > flog_max_entry(aof.log)) {
		resp_add_errorf(ctx->out,
				"ERR the command is too large for the "
				"append-only file's pages (%llu bytes at "
				"most: faster-log-page-size)",
				(unsigned long long)flog_max_entry(aof.log));
		return;
	}
	uint32_t list[MAX_STRIPES];
	int ns = command_stripes(ctx, d, list);
	lock_stripes(ctx->s, list, ns);
	int64_t clock = fkv_session_clock(ctx->s);
	uint64_t v0 = fkv_session_version(ctx->s);
	size_t before = ctx->out->len;
	d->fn(ctx);
	bool pending = fkv_session_went_pending(ctx->s);
	bool error = ctx->out->len > before && (ctx->out->data[before] == '-' ||
						ctx->out->data[before] == '!');
	if (!pending && !error) {
		uint64_t v1 = fkv_session_version(ctx->s), end = 0;
		int rc;
		rc = FKV_INVALID;
		if ((v1 != v0 || effects_always) && d->first_key != 0)
			rc = log_effects(ctx, d, clock, v1, &end);
		if (rc == FKV_INVALID) {
			/* No straddle; or an entry of its effects would not
			 * fit a page (a value near the largest): the command
			 * itself, replayed whole (exact unless it is not
			 * idempotent and straddled). */
			struct line ln = {.db = ctx->c->db,
					  .argc = ctx->argc,
					  .argv = ctx->argv,
					  .argv_len = ctx->argv_len,
					  .now_ms = ctx->now_ms,
					  .clock = clock,
					  .version = v1};
			rc = append_line(&ln, &end);
		}
		if (rc != FKV_OK) {
			/* It ran but is not logged: say so loudly, and keep
			 * the client from taking it as durable. */
			rf_log(RF_LOG_WARNING,
			       "AOF: cannot log a %s command: %s", d->name,
			       fkv_strerror(rc));
			ctx->out->len = before;
			resp_add_errorf(ctx->out,
					"MISCONF Errors writing to the AOF "
					"file: %s",
					fkv_strerror(rc));
		} else if (cfg_get_int(&server.cfg.appendfsync) ==
				   CFG_FSYNC_ALWAYS &&
			   ctx->c->fd >= 0) {
			conn_wait_commit(ctx->c, &aof, aof.gen, end);
		}
	}
	unlock_stripes(list, ns);
}

/* ---- checkpoints ------------------------------------------------------ */

uint64_t aof_checkpoint_start(void)
{
	return logging ? flog_tail(aof.log) : 0;
}

void aof_checkpoint_done(uint64_t start)
{
	if (!logging || start == 0)
		return;
	/* Entries below `start` all belong to this checkpoint's version or
	 * an earlier one; keep those after the previous checkpoint's start
	 * too, for a recovery that falls back to it. */
	uint64_t prev = atomic_exchange(&prev_start, start);
	if (prev <= flog_begin(aof.log))
		return;
	char why[200] = "";
	int rc = flog_commit(aof.log);
	if (rc == FKV_OK)
		rc = flog_truncate(aof.log, prev, why, sizeof(why));
	if (rc != FKV_OK) {
		rf_log(RF_LOG_WARNING, "AOF: cannot truncate to %llu: %s",
		       (unsigned long long)prev,
		       why[0] ? why : fkv_strerror(rc));
		return;
	}
	atomic_store(&base_size, flog_tail(aof.log) - flog_begin(aof.log));
	rf_log(RF_LOG_VERBOSE, "AOF: truncated below %llu after a checkpoint",
	       (unsigned long long)prev);
}

void aof_status_get(aof_status *out)
{
	memset(out, 0, sizeof(*out));
	out->enabled = logging;
	out->write_ok = true;
	if (!logging)
		return;
	out->write_ok = flog_failed(aof.log) == NULL;
	uint64_t tail = flog_tail(aof.log);
	out->current_size = tail - flog_begin(aof.log);
	out->base_size = atomic_load(&base_size);
	out->buffer_length = tail - flog_committed(aof.log);
}

/* ---- start-up and shutdown ------------------------------------------- */

/* One entry's parts; argv points into the copy in *store. */
struct decoded {
	uint64_t version;
	int64_t now_ms, clock;
	int db, argc;
	char **argv;
	size_t *argv_len;
};

/* Parses entry e (len bytes) into d, copying the arguments (each with a
 * terminating NUL) into *store.  Returns false when it is malformed. */
static bool decode(const uint8_t *e, uint32_t len, struct decoded *d,
		   char **store)
{
	if (len < AOF_HEAD || fkv__get32(e) != AOF_MAGIC)
		return false;
	d->version = fkv__get64(e + 4);
	d->now_ms = (int64_t)fkv__get64(e + 12);
	d->clock = (int64_t)fkv__get64(e + 20);
	d->db = (int)fkv__get32(e + 28);
	uint32_t argc = fkv__get32(e + 32);
	if (argc == 0 || argc > len / 4)
		return false;
	d->argc = (int)argc;
	d->argv = malloc(argc * sizeof(*d->argv));
	d->argv_len = malloc(argc * sizeof(*d->argv_len));
	*store = malloc(len + argc);
	if (d->argv == NULL || d->argv_len == NULL || *store == NULL)
		goto bad;
	const uint8_t *p = e + AOF_HEAD, *end = e + len;
	char *q = *store;
	for (uint32_t i = 0; i < argc; i++) {
		if (end - p < 4)
			goto bad;
		uint32_t n = fkv__get32(p);
		p += 4;
		if ((uint64_t)(end - p) < n)
			goto bad;
		memcpy(q, p, n);
		q[n] = '\0';
		d->argv[i] = q;
		d->argv_len[i] = n;
		q += n + 1;
		p += n;
	}
	if (p == end)
		return true;
bad:
	free(d->argv);
	free(d->argv_len);
	free(*store);
	d->argv = NULL;
	d->argv_len = NULL;
	*store = NULL;
	return false;
}

struct replay {
	uint64_t after; /* the recovered checkpoint's version */
	uint64_t max_version;
	fkv_session *s;
	rf_client *c;
	uint64_t read, replayed, errors;
	bool malformed;
};

/* flog_scan's callback: replays one entry if the checkpoint lacks it. */
static bool replay_one(void *arg, uint64_t addr, const void *e, uint32_t len)
{
	struct replay *r = arg;
	struct decoded d;
	char *store = NULL;
	if (!decode(e, len, &d, &store)) {
		rf_log(RF_LOG_WARNING,
		       "AOF: the entry at %llu is malformed: the replay stops "
		       "there",
		       (unsigned long long)addr);
		r->malformed = true;
		return false;
	}
	r->read++;
	if (d.version > r->max_version)
		r->max_version = d.version;
	if (d.version > r->after) {
		r->c->db = d.db;
		fkv_session_set_clock(r->s, d.clock);
		cmd_ctx ctx = {.c = r->c,
			       .argc = d.argc,
			       .argv = (const char **)d.argv,
			       .argv_len = d.argv_len,
			       .out = &r->c->out,
			       .s = r->s,
			       .now_ms = d.now_ms};
		cmd_dispatch(&ctx);
		if (r->c->out.len > 0 && r->c->out.data[0] == '-' &&
		    r->errors++ < 5)
			rf_log(RF_LOG_WARNING, "AOF: replaying %s failed: %.*s",
			       d.argv[0], (int)(r->c->out.len - 3),
			       r->c->out.data + 1);
		r->c->out.len = 0;
		r->replayed++;
	}
	free(d.argv);
	free(d.argv_len);
	free(store);
	return true;
}

/* Replays, in order, the entries the recovered checkpoint does not hold,
 * then raises the store's version past every entry's: the next
 * checkpoint then holds them all, and none is replayed twice. */
static int replay(void)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fkv_recovery_info ri;
	fkv_recovery_result(server.store, &ri);
	struct replay r = {.after = ri.recovered ? ri.version : 0};
	if (fkv_session_start(server.store, &r.s) != FKV_OK) {
		rf_log(RF_LOG_WARNING, "AOF: no engine session for the replay");
		return -1;
	}
	r.c = calloc(1, sizeof(*r.c));
	if (r.c == NULL) {
		fkv_session_stop(r.s);
		return -1;
	}
	r.c->fd = -1;
	r.c->proto = 2;
	r.c->authenticated = true;
	r.c->flags = CLIENT_NO_PENDING;
	resp_buf_init(&r.c->out, 2);
	replaying = true;
	uint64_t stopped = 0;
	int rc = flog_scan(aof.log, flog_begin(aof.log),
			   flog_committed(aof.log), replay_one, &r, &stopped);
	replaying = false;
	if (rc != FKV_OK)
		rf_log(RF_LOG_WARNING,
		       "AOF: the entry at %llu cannot be read (%s): the "
		       "replay stops there",
		       (unsigned long long)stopped, fkv_strerror(rc));
	fkv_session_set_clock(r.s, 0);
	fkv_session_stop(r.s);
	resp_buf_free(&r.c->out);
	free(r.c->keybuf[0]);
	free(r.c->keybuf[1]);
	free(r.c);
	fkv_store_advance_version(server.store, r.max_version + 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rf_log(RF_LOG_NOTICE,
	       "AOF: replayed %llu entries of %llu after checkpoint %llu "
	       "(%llu errors) in %.3f s",
	       (unsigned long long)r.replayed, (unsigned long long)r.read,
	       (unsigned long long)r.after, (unsigned long long)r.errors,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	atomic_store(&base_size, flog_tail(aof.log) - flog_begin(aof.log));
	return 0;
}

int aof_open(void)
{
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
	if (!cfg_get_int(&server.cfg.appendonly))
		return 0;
	const char *hook = getenv("RF_AOF_EFFECTS");
	effects_always = hook != NULL && strcmp(hook, "always") == 0;
	if (!cfg_get_int(&server.cfg.storage_tier)) {
		rf_log(RF_LOG_WARNING,
		       "appendonly yes needs storage-tier yes: the append-only "
		       "file is replayed over a checkpoint, and a cache has "
		       "none");
		return -1;
	}
	char *name = cfg_get_str(&server.cfg.appenddirname);
	bool bad = name == NULL || name[0] == '\0' || strchr(name, '/') ||
		   strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
	char path[PATH_MAX];
	if (!bad)
		snprintf(path, sizeof(path), "%s/%s", server.cfg.dir, name);
	free(name);
	if (bad) {
		rf_log(RF_LOG_WARNING,
		       "appenddirname must be a folder name (no '/')");
		return -1;
	}
	uint32_t ms;
	bool no_sync;
	policy(&ms, &no_sync);
	/* A page holds any command the store can hold. */
	uint64_t page = (uint64_t)cfg_get_int(&server.cfg.log_page_size);
	uint64_t fpage =
		(uint64_t)cfg_get_int(&server.cfg.faster_log_page_size);
	if (fpage > page)
		page = fpage;
	uint64_t p2 = 4096;
	while (p2 < page && p2 < (1u << 30))
		p2 <<= 1;
	char err[400];
	if (logs_open_flog(&aof, path, ms, no_sync, p2, 4, err, sizeof(err)) !=
	    FKV_OK) {
		rf_log(RF_LOG_WARNING, "AOF: %s", err);
		return -1;
	}
	if (replay() != 0)
		return -1;
	logging = true;
	return 0;
}

void aof_close(void)
{
	if (aof.log == NULL)
		return;
	logging = false;
	if (flog_commit(aof.log) != FKV_OK)
		rf_log(RF_LOG_WARNING, "AOF: the final commit failed: %s",
		       flog_failed(aof.log));
	flog_close(aof.log);
	aof.log = NULL;
}
