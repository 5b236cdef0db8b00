/*
 * cmd_table.c - the command table, the dispatcher and the COMMAND family.
 *
 * Each family file (cmd_string.c, cmd_keys.c, ...) exports its rows; at
 * start-up they are gathered into one array sorted by name, looked up by
 * binary search on the lower-cased name.  The same rows answer COMMAND,
 * COMMAND COUNT / INFO / DOCS / LIST / GETKEYS.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aof.h"
#include "cmd.h"
#include "conn.h"
#include "resp_parse.h"

static const cmd_def **all;
static size_t nall;

static int by_name(const void *a, const void *b)
{
	const cmd_def *x = *(const cmd_def *const *)a;
	const cmd_def *y = *(const cmd_def *const *)b;
	return strcmp(x->name, y->name);
}

int cmd_init(void)
{
	const cmd_def *families[] = {cmd_connection_table, cmd_string_table,
				     cmd_keys_table,	   cmd_server_table,
				     cmd_client_table,	   cmd_command_table,
				     cmd_log_table};
	size_t n = 0;
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		for (const cmd_def *d = families[f]; d->name; d++)
			n++;
	all = malloc(n * sizeof(*all));
	if (all == NULL)
		return -1;
	nall = 0;
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		for (const cmd_def *d = families[f]; d->name; d++)
			all[nall++] = d;
	qsort(all, nall, sizeof(*all), by_name);
	for (size_t i = 1; i < nall; i++)
		if (strcmp(all[i - 1]->name, all[i]->name) == 0)
			return -1;
	return 0;
}

const cmd_def *const *cmd_all(size_t *n)
{
	*n = nall;
	return all;
}

/* Lower-cases name into buf; false if it does not fit. */
static bool lower(const char *name, size_t len, char *buf, size_t cap)
{
	if (len >= cap)
		return false;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[len] = '\0';
	return true;
}

const cmd_def *cmd_lookup(const char *name, size_t len)
{
	char buf[64];
	if (!lower(name, len, buf, sizeof(buf)) || memchr(name, 0, len))
		return NULL;
	size_t lo = 0, hi = nall;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(buf, all[mid]->name);
		if (c == 0)
			return all[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const cmd_def *cmd_lookup_sub(const cmd_def *parent, const char *name,
			      size_t len)
{
	char buf[64];
	if (parent->subcommands == NULL || !lower(name, len, buf, sizeof(buf)))
		return NULL;
	size_t plen = strlen(parent->name);
	for (const cmd_def *d = parent->subcommands; d->name; d++)
		if (strncmp(d->name, parent->name, plen) == 0 &&
		    d->name[plen] == '|' &&
		    strcmp(d->name + plen + 1, buf) == 0)
			return d;
	return NULL;
}

/* Appends `s` (n bytes) to out for an error line, at most max bytes, with
 * characters that cannot appear in an error line replaced by spaces. */
static size_t clip(char *out, size_t cap, const char *s, size_t n, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < n && i < max && k + 1 < cap; i++)
		out[k++] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
	out[k] = '\0';
	return k;
}

static void unknown_command(cmd_ctx *ctx)
{
	char name[130], args[600];
	clip(name, sizeof(name), ctx->argv[0], ctx->argv_len[0], 128);
	size_t used = 0;
	args[0] = '\0';
	for (int i = 1; i < ctx->argc && used < 128; i++) {
		char one[130];
		clip(one, sizeof(one), ctx->argv[i], ctx->argv_len[i],
		     128 - used);
		used += (size_t)snprintf(args + used, sizeof(args) - used,
					 "'%s' ", one);
	}
	resp_add_errorf(
		ctx->out,
		"ERR unknown command '%s', with args beginning with: %s", name,
		args);
}

static bool arity_ok(const cmd_def *d, int argc)
{
	return d->arity >= 0 ? argc == d->arity : argc >= -d->arity;
}

/* Whether a command may go pending on the disk and run again from the
 * start later (conn.c): it must change nothing before its first engine
 * operation that needs the disk, which holds for read-only commands and
 * for commands on one key (the engine refuses every change after a pending
 * operation).  The others (DEL of several keys, RENAME, MSETNX...) wait
 * for the disk in place. */
static bool may_pend(const cmd_def *d, int argc)
{
	if (d->flags & CMD_READONLY)
		return true;
	if (d->first_key <= 0)
		return false;
	return cmd_last_key(d, argc) == d->first_key;
}

void cmd_dispatch(cmd_ctx *ctx)
{
	const cmd_def *d = cmd_lookup(ctx->argv[0], ctx->argv_len[0]);
	if (d == NULL) {
		unknown_command(ctx);
		return;
	}
	rf_client *c = ctx->c;
	snprintf(c->last_cmd, sizeof(c->last_cmd), "%s", d->name);
	if (d->subcommands != NULL && ctx->argc >= 2) {
		const cmd_def *sub =
			cmd_lookup_sub(d, ctx->argv[1], ctx->argv_len[1]);
		if (sub == NULL) {
			char name[130], upper[64];
			clip(name, sizeof(name), ctx->argv[1], ctx->argv_len[1],
			     128);
			size_t k = 0;
			for (; d->name[k] && k < sizeof(upper) - 1; k++)
				upper[k] = (char)toupper(
					(unsigned char)d->name[k]);
			upper[k] = '\0';
			resp_add_errorf(ctx->out,
					"ERR unknown subcommand '%s'. Try %s "
					"HELP.",
					name, upper);
			return;
		}
		d = sub;
		snprintf(c->last_cmd, sizeof(c->last_cmd), "%s", d->name);
	}
	if (!c->authenticated && !(d->flags & CMD_NOAUTH)) {
		resp_add_error(ctx->out, "NOAUTH Authentication required.");
		return;
	}
	if (!arity_ok(d, ctx->argc)) {
		cmd_err_arity(ctx, d->name);
		return;
	}
	if (ctx->s != NULL && may_pend(d, ctx->argc) &&
	    !(c->flags & CLIENT_NO_PENDING))
		fkv_session_set_waiter(ctx->s, c);
	if ((d->flags & CMD_WRITE) && aof_logging())
		aof_run(ctx, d);
	else
		d->fn(ctx);
}

/* ---- helpers ---------------------------------------------------------- */

int cmd_last_key(const cmd_def *d, int argc)
{
	int last = d->last_key < 0 ? argc + d->last_key : d->last_key;
	return last < argc ? last : argc - 1;
}

const uint8_t *cmd_key_bytes(cmd_ctx *ctx, int db, const void *key,
			     size_t key_len, int slot, uint32_t *len)
{
	rf_client *c = ctx->c;
	size_t need = key_len + 1;
	if (c->keycap[slot] < need) {
		size_t cap = need < 64 ? 64 : need;
		uint8_t *b = realloc(c->keybuf[slot], cap);
		if (b == NULL)
			return NULL;
		c->keybuf[slot] = b;
		c->keycap[slot] = cap;
	}
	c->keybuf[slot][0] = (uint8_t)db;
	memcpy(c->keybuf[slot] + 1, key, key_len);
	*len = (uint32_t)need;
	return c->keybuf[slot];
}

const uint8_t *cmd_key(cmd_ctx *ctx, int i, int slot, uint32_t *len)
{
	return cmd_key_bytes(ctx, ctx->c->db, ctx->argv[i], ctx->argv_len[i],
			     slot, len);
}

bool cmd_arg_is(const cmd_ctx *ctx, int i, const char *word)
{
	size_t n = strlen(word);
	return ctx->argv_len[i] == n && strncasecmp(ctx->argv[i], word, n) == 0;
}

bool cmd_parse_ll(const char *s, size_t n, int64_t *out)
{
	return resp_string2ll(s, n, out);
}

bool cmd_parse_ld(const char *s, size_t n, long double *out)
{
	/* Redis's string2ld: no leading space, whole string, not NaN. */
	char buf[5120];
	if (n == 0 || n >= sizeof(buf) || isspace((unsigned char)s[0]))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strlen(buf) != n)
		return false;
	char *end;
	errno = 0;
	long double v = strtold(buf, &end);
	if (*end != '\0' || v != v ||
	    (errno == ERANGE &&
	     (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)))
		return false;
	*out = v;
	return true;
}

bool cmd_arg_int(cmd_ctx *ctx, int i, int64_t *out)
{
	if (cmd_parse_ll(ctx->argv[i], ctx->argv_len[i], out))
		return true;
	resp_add_error(ctx->out, "ERR value is not an integer or out of range");
	return false;
}

void cmd_err_syntax(cmd_ctx *ctx)
{
	resp_add_error(ctx->out, "ERR syntax error");
}

void cmd_err_wrongtype(cmd_ctx *ctx)
{
	resp_add_error(ctx->out, "WRONGTYPE Operation against a key holding "
				 "the wrong kind of value");
}

void cmd_err_arity(cmd_ctx *ctx, const char *name)
{
	resp_add_errorf(ctx->out,
			"ERR wrong number of arguments for '%s' command", name);
}

/* Redis's HELP reply: a status line per text line. */
void cmd_add_help(cmd_ctx *ctx, const char *cmd, const char *const *lines)
{
	int n = 0;
	while (lines[n] != NULL)
		n++;
	resp_add_array(ctx->out, n + 3);
	char first[128];
	snprintf(first, sizeof(first),
		 "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		 cmd);
	resp_add_simple(ctx->out, first);
	for (int i = 0; i < n; i++)
		resp_add_simple(ctx->out, lines[i]);
	resp_add_simple(ctx->out, "HELP");
	resp_add_simple(ctx->out, "    Prints this help.");
}

/* Copies argv[i] into buf as a C string (truncated); returns buf. */
const char *cmd_arg_str(const cmd_ctx *ctx, int i, char *buf, size_t cap)
{
	size_t n = ctx->argv_len[i] < cap - 1 ? ctx->argv_len[i] : cap - 1;
	memcpy(buf, ctx->argv[i], n);
	buf[n] = '\0';
	return buf;
}

void cmd_reply_text(cmd_ctx *ctx, resp_buf *b)
{
	if (b->oom)
		resp_add_error(ctx->out, "ERR out of memory");
	else
		resp_add_verbatim(ctx->out, "txt", b->data ? b->data : "",
				  b->len);
	resp_buf_free(b);
}

void cmd_reply_engine_error(cmd_ctx *ctx, int rc)
{
	switch (rc) {
	case FKV_OUT_OF_MEMORY:
		resp_add_error(ctx->out, "OOM command not allowed when used "
					 "memory > 'maxmemory'.");
		break;
	case FKV_INVALID:
		resp_add_error(ctx->out,
			       "ERR value is too large for this "
			       "server's log page size (log-page-size)");
		break;
	default:
		resp_add_errorf(ctx->out, "ERR storage engine error: %s",
				fkv_strerror(rc));
		break;
	}
}
