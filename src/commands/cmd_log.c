/*
 * cmd_log.c - the LOG.* family: named FasterLogs (logs.h, flog.h) as
 * durable append-only logs for clients.  docs/COMMANDS.md ("Logs") gives
 * the replies and errors.
 *
 * Durability: under log-commit-policy always a LOG.APPEND's reply waits
 * (conn_wait_commit) until its entries are committed; LOG.COMMIT always
 * does.  LOG.TAIL BLOCK parks its connection (conn_block_on_log) and runs
 * again when the log commits past its address, or at its deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "config.h"
#include "conn.h"
#include "logs.h"
#include "server.h"

#define ERR_MAX 400

static void reply_errf(cmd_ctx *ctx, const char *msg)
{
	resp_add_errorf(ctx->out, "ERR %s", msg);
}

/* Checks argv[1]'s name; replies the error and returns false if bad. */
static bool name_ok(cmd_ctx *ctx)
{
	if (logs_name_ok(ctx->argv[1], ctx->argv_len[1]))
		return true;
	char shown[RF_LOG_NAME_MAX + 8];
	size_t n = ctx->argv_len[1] < RF_LOG_NAME_MAX ? ctx->argv_len[1]
						      : RF_LOG_NAME_MAX;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = ctx->argv[1][i];
		shown[k++] = (ch >= 32 && ch < 127) ? ch : '?';
	}
	shown[k] = '\0';
	resp_add_errorf(ctx->out,
			"ERR invalid log name '%s' (use 1 to %d letters, "
			"digits, '.', '_' or '-', not starting with '.')",
			shown, RF_LOG_NAME_MAX);
	return false;
}

/* The log named by argv[1], with the registry's read lock held (the
 * caller calls logs_done when it returns non-NULL).  Replies the error
 * and returns NULL otherwise. */
static rf_flog *use_log(cmd_ctx *ctx, bool create)
{
	if (!name_ok(ctx))
		return NULL;
	char err[ERR_MAX];
	rf_flog *lg = logs_use(ctx->argv[1], ctx->argv_len[1], create, err,
			       sizeof(err));
	if (lg != NULL)
		return lg;
	logs_done();
	if (err[0] != '\0')
		reply_errf(ctx, err);
	else
		resp_add_errorf(ctx->out, "ERR no such log '%.*s'",
				(int)ctx->argv_len[1], ctx->argv[1]);
	return NULL;
}

/* Parses argv[i] as an address (a non-negative integer). */
static bool arg_addr(cmd_ctx *ctx, int i, uint64_t *out)
{
	int64_t v;
	if (!cmd_arg_int(ctx, i, &v))
		return false;
	if (v < 0) {
		resp_add_errorf(ctx->out,
				"ERR address %lld is below the log's begin "
				"address",
				(long long)v);
		return false;
	}
	*out = (uint64_t)v;
	return true;
}

/* Replies a failed flog_read. */
static void reply_read_error(cmd_ctx *ctx, rf_flog *lg, int rc, const char *why)
{
	if (rc == FKV_INVALID)
		reply_errf(ctx, why);
	else if (rc == FKV_CORRUPTION)
		resp_add_errorf(ctx->out, "ERR log '%s': %s", lg->name, why);
	else if (rc == FKV_OUT_OF_MEMORY)
		resp_add_error(ctx->out, "ERR out of memory");
	else
		resp_add_errorf(ctx->out, "ERR log '%s': %s (%s)", lg->name,
				why, fkv_strerror(rc));
}

static void cmd_log_append(cmd_ctx *ctx)
{
	rf_flog *lg = use_log(ctx, true);
	if (lg == NULL)
		return;
	uint64_t max = flog_max_entry(lg->log);
	for (int i = 2; i < ctx->argc; i++) {
		if (ctx->argv_len[i] > max) {
			resp_add_errorf(ctx->out,
					"ERR entry of %zu bytes is larger than "
					"the log's largest entry, %llu bytes "
					"(faster-log-page-size)",
					ctx->argv_len[i],
					(unsigned long long)max);
			logs_done();
			return;
		}
	}
	if (ctx->argc > 3)
		resp_add_array(ctx->out, ctx->argc - 2);
	uint64_t end = 0;
	for (int i = 2; i < ctx->argc; i++) {
		uint64_t addr;
		int rc = flog_append(lg->log, ctx->argv[i], ctx->argv_len[i],
				     &addr, &end);
		if (rc != FKV_OK) {
			/* Only a log that can no longer free memory. */
			resp_add_errorf(
				ctx->out, "ERR log '%s' cannot append: %s",
				lg->name,
				flog_failed(lg->log) ? flog_failed(lg->log)
						     : fkv_strerror(rc));
			continue;
		}
		resp_add_int(ctx->out, (int64_t)addr);
	}
	if (cfg_get_int(&server.cfg.log_commit_policy) == CFG_COMMIT_ALWAYS &&
	    end > 0)
		conn_wait_commit(ctx->c, lg, lg->gen, end);
	logs_done();
}

static void cmd_log_commit(cmd_ctx *ctx)
{
	rf_flog *lg = use_log(ctx, false);
	if (lg == NULL)
		return;
	const char *failed = flog_failed(lg->log);
	if (failed != NULL) {
		resp_add_errorf(ctx->out, "ERR log '%s' cannot commit: %s",
				lg->name, failed);
	} else {
		uint64_t target = flog_commit_async(lg->log);
		conn_wait_commit(ctx->c, lg, lg->gen, target);
		resp_add_int(ctx->out, (int64_t)target);
	}
	logs_done();
}

static void cmd_log_read(cmd_ctx *ctx)
{
	uint64_t addr;
	if (!name_ok(ctx) || !arg_addr(ctx, 2, &addr))
		return;
	rf_flog *lg = use_log(ctx, false);
	if (lg == NULL)
		return;
	void *e;
	uint32_t len;
	uint64_t next;
	char why[200] = "";
	int rc = flog_read(lg->log, &addr, flog_tail(lg->log), &e, &len, &next,
			   why, sizeof(why));
	if (rc == FKV_OK) {
		resp_add_array(ctx->out, 2);
		resp_add_bulk(ctx->out, e, len);
		resp_add_int(ctx->out, (int64_t)next);
		free(e);
	} else if (rc == FKV_NOT_FOUND || rc == FKV_PENDING) {
		resp_add_null(ctx->out);
	} else {
		reply_read_error(ctx, lg, rc, why);
	}
	logs_done();
}

/* Options of LOG.SCAN / LOG.TAIL after `from`. */
struct scan_opts {
	uint64_t to;   /* UINT64_MAX: up to the limit */
	int64_t count; /* -1: no limit */
	bool uncommitted;
	int64_t block_ms; /* -1: no BLOCK */
};

static bool parse_opts(cmd_ctx *ctx, int i, bool tail, struct scan_opts *o)
{
	*o = (struct scan_opts){UINT64_MAX, -1, false, -1};
	if (!tail && i < ctx->argc) {
		int64_t v;
		if (cmd_parse_ll(ctx->argv[i], ctx->argv_len[i], &v)) {
			o->to = v < 0 ? 0 : (uint64_t)v;
			i++;
		}
	}
	for (; i < ctx->argc; i++) {
		if (cmd_arg_is(ctx, i, "count") && i + 1 < ctx->argc) {
			if (!cmd_arg_int(ctx, ++i, &o->count))
				return false;
			if (o->count <= 0) {
				resp_add_error(ctx->out,
					       "ERR COUNT must be positive");
				return false;
			}
		} else if (!tail && cmd_arg_is(ctx, i, "uncommitted")) {
			o->uncommitted = true;
		} else if (tail && cmd_arg_is(ctx, i, "block") &&
			   i + 1 < ctx->argc) {
			if (!cmd_arg_int(ctx, ++i, &o->block_ms))
				return false;
			if (o->block_ms < 0) {
				resp_add_error(ctx->out,
					       "ERR timeout is negative");
				return false;
			}
			if (o->block_ms > INT64_MAX - ctx->now_ms) {
				resp_add_error(ctx->out,
					       "ERR timeout is out of range");
				return false;
			}
		} else {
			cmd_err_syntax(ctx);
			return false;
		}
	}
	return true;
}

/* Reads entries from `from` (up to o->to, o->count and limit) into a
 * reply [next, [[address, entry] ...]].  Returns how many, or -1 after
 * replying an error. */
static int64_t reply_scan(cmd_ctx *ctx, rf_flog *lg, uint64_t from,
			  uint64_t limit, const struct scan_opts *o)
{
	resp_buf items;
	resp_buf_init(&items, ctx->out->proto);
	uint64_t a = from;
	int64_t n = 0;
	/* Appended but not committed yet (beyond limit, not the tail):
	 * nothing to read there yet, as at the limit itself. */
	bool nothing = from > limit && from <= flog_tail(lg->log);
	while (!nothing && (o->count < 0 || n < o->count)) {
		void *e;
		uint32_t len;
		uint64_t next, at = a;
		char why[200] = "";
		if (at >= o->to && n > 0)
			break;
		int rc = flog_read(lg->log, &at, limit, &e, &len, &next, why,
				   sizeof(why));
		if (rc == FKV_NOT_FOUND || rc == FKV_PENDING)
			break;
		if (rc != FKV_OK) {
			resp_buf_free(&items);
			reply_read_error(ctx, lg, rc, why);
			return -1;
		}
		if (at >= o->to) {
			free(e);
			break;
		}
		resp_add_array(&items, 2);
		resp_add_int(&items, (int64_t)at);
		resp_add_bulk(&items, e, len);
		free(e);
		a = next;
		n++;
	}
	resp_add_array(ctx->out, 2);
	resp_add_int(ctx->out, (int64_t)a);
	resp_add_array(ctx->out, n);
	resp_add_raw(ctx->out, items.data, items.len);
	resp_buf_free(&items);
	return n;
}

static void cmd_log_scan(cmd_ctx *ctx)
{
	uint64_t from;
	struct scan_opts o;
	if (!name_ok(ctx) || !arg_addr(ctx, 2, &from) ||
	    !parse_opts(ctx, 3, false, &o))
		return;
	rf_flog *lg = use_log(ctx, false);
	if (lg == NULL)
		return;
	uint64_t limit =
		o.uncommitted ? flog_tail(lg->log) : flog_committed(lg->log);
	reply_scan(ctx, lg, from, limit, &o);
	logs_done();
}

static void cmd_log_tail(cmd_ctx *ctx)
{
	uint64_t from;
	struct scan_opts o;
	if (!name_ok(ctx) || !arg_addr(ctx, 2, &from) ||
	    !parse_opts(ctx, 3, true, &o))
		return;
	rf_flog *lg = use_log(ctx, false);
	if (lg == NULL)
		return;
	uint64_t committed = flog_committed(lg->log);
	if (o.block_ms >= 0 && from >= committed && ctx->c->fd >= 0) {
		/* Nothing committed at `from` yet: wait, unless an address
		 * beyond the tail could never be reached. */
		int64_t deadline =
			conn_block_deadline(ctx->c, ctx->now_ms, o.block_ms);
		if (from > flog_tail(lg->log)) {
			reply_scan(ctx, lg, from, committed, &o);
		} else if (deadline != 0 && ctx->now_ms >= deadline) {
			resp_add_null_array(ctx->out);
		} else {
			conn_block_on_log(ctx->c, lg, lg->gen, from, deadline);
		}
		logs_done();
		return;
	}
	reply_scan(ctx, lg, from, committed, &o);
	logs_done();
}

static void cmd_log_truncate(cmd_ctx *ctx)
{
	uint64_t until;
	if (!name_ok(ctx) || !arg_addr(ctx, 2, &until))
		return;
	rf_flog *lg = use_log(ctx, false);
	if (lg == NULL)
		return;
	char why[200] = "";
	int rc = flog_truncate(lg->log, until, why, sizeof(why));
	if (rc == FKV_OK)
		resp_add_int(ctx->out, (int64_t)flog_begin(lg->log));
	else
		reply_read_error(ctx, lg, rc, why);
	logs_done();
}

static void cmd_log_info(cmd_ctx *ctx)
{
	rf_flog *lg = use_log(ctx, false);
	if (lg == NULL)
		return;
	flog_info in;
	flog_get_info(lg->log, &in);
	const char *failed = flog_failed(lg->log);
	resp_add_map(ctx->out, 8);
	const struct {
		const char *k;
		uint64_t v;
	} f[] = {{"begin", in.begin},	      {"tail", in.tail},
		 {"committed", in.committed}, {"entries", in.entries},
		 {"bytes", in.bytes},	      {"commits", in.commits},
		 {"page-size", in.page_size}};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		resp_add_cstr(ctx->out, f[i].k);
		resp_add_int(ctx->out, (int64_t)f[i].v);
	}
	resp_add_cstr(ctx->out, "status");
	resp_add_cstr(ctx->out, failed ? failed : "ok");
	logs_done();
}

static void cmd_log_list(cmd_ctx *ctx)
{
	char **names;
	int n = logs_list(&names);
	if (n < 0) {
		resp_add_error(ctx->out, "ERR out of memory");
		return;
	}
	resp_add_array(ctx->out, n);
	for (int i = 0; i < n; i++) {
		resp_add_cstr(ctx->out, names[i]);
		free(names[i]);
	}
	free(names);
}

static void cmd_log_drop(cmd_ctx *ctx)
{
	if (!name_ok(ctx))
		return;
	char err[ERR_MAX];
	int rc = logs_drop(ctx->argv[1], ctx->argv_len[1], err, sizeof(err));
	if (rc < 0)
		reply_errf(ctx, err);
	else
		resp_add_int(ctx->out, rc);
}

/* Not CMD_WRITE: these change no key, and keep their own durable log
 * (the append-only file does not repeat them). */
#define LOG_FLAGS (CMD_FAST)

const cmd_def cmd_log_table[] = {
	{"log.append", cmd_log_append, -3, CMD_DENYOOM | LOG_FLAGS, 0, 0, 0,
	 "stream", "Appends entries to a durable log, creating it.", "1.0.0",
	 "O(N) with N the number of entries", NULL},
	{"log.commit", cmd_log_commit, 2, 0, 0, 0, 0, "stream",
	 "Makes every entry appended to a log so far durable.", "1.0.0",
	 "O(1), plus a disk flush", NULL},
	{"log.read", cmd_log_read, 3, CMD_READONLY | LOG_FLAGS, 0, 0, 0,
	 "stream", "Reads the entry at an address of a log.", "1.0.0", "O(1)",
	 NULL},
	{"log.scan", cmd_log_scan, -3, CMD_READONLY, 0, 0, 0, "stream",
	 "Reads the entries of a log from an address.", "1.0.0",
	 "O(N) with N the number of entries returned", NULL},
	{"log.tail", cmd_log_tail, -3, CMD_READONLY | CMD_BLOCKING, 0, 0, 0,
	 "stream",
	 "Reads committed entries of a log from an address, waiting for "
	 "them.",
	 "1.0.0", "O(N) with N the number of entries returned", NULL},
	{"log.truncate", cmd_log_truncate, 3, 0, 0, 0, 0, "stream",
	 "Drops the entries of a log below an address.", "1.0.0",
	 "O(N) with N the bytes dropped", NULL},
	{"log.info", cmd_log_info, 2, CMD_READONLY | LOG_FLAGS, 0, 0, 0,
	 "stream", "Returns a log's addresses and sizes.", "1.0.0", "O(1)",
	 NULL},
	{"log.list", cmd_log_list, 1, CMD_READONLY, 0, 0, 0, "stream",
	 "Lists the logs.", "1.0.0", "O(N) with N the number of logs", NULL},
	{"log.drop", cmd_log_drop, 2, 0, 0, 0, 0, "stream",
	 "Deletes a log and its files.", "1.0.0", "O(N) with N its files",
	 NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
