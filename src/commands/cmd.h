/*
 * cmd.h - what a command handler sees, and the command table.
 *
 * The dispatcher (cmd_table.c) looks a command up, checks its arity and
 * authentication once, and calls its handler with a cmd_ctx.  Handlers
 * trust argc; they write exactly one reply to ctx->out (resp_write.h) and
 * use ctx->s, the worker thread's engine session, for data.
 *
 * Keys: every engine key is the database number (one byte) followed by
 * the user's key; cmd_key() builds it.
 *
 * Threads: a handler runs on the worker thread that owns the client.
 */
#ifndef CMD_H
#define CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fkv.h"
#include "resp_write.h"

struct rf_client;

typedef struct cmd_ctx {
	struct rf_client *c;
	int argc;
	const char **argv;
	const size_t *argv_len;
	resp_buf *out;
	fkv_session *s;
	int64_t now_ms; /* wall clock, fixed for the command */
} cmd_ctx;

typedef void (*cmd_fn)(cmd_ctx *ctx);

/* Flags, as COMMAND INFO shows them. */
enum {
	CMD_WRITE = 1 << 0,
	CMD_READONLY = 1 << 1,
	CMD_FAST = 1 << 2,
	CMD_DENYOOM = 1 << 3,
	CMD_NOAUTH = 1 << 4, /* allowed before AUTH (AUTH, HELLO, QUIT...) */
	CMD_LOADING = 1 << 5,
	CMD_STALE = 1 << 6,
	CMD_ADMIN = 1 << 7,
	CMD_NOSCRIPT = 1 << 8,
	CMD_BLOCKING = 1 << 9,
	/* Ours, not shown: writes without reading the old value, so a
	 * pipeline's look-ahead does not read the key from disk for it. */
	CMD_BLIND_WRITE = 1 << 10,
};

typedef struct cmd_def {
	const char *name; /* lower case; "container|sub" for subcommands */
	cmd_fn fn;
	int arity; /* argc including the name; negative: at least -arity */
	uint32_t flags;
	int first_key, last_key, key_step; /* 0 0 0: no keys; last -1: all */
	const char *group;   /* COMMAND DOCS group: string, generic, ... */
	const char *summary; /* one line, for COMMAND DOCS */
	const char *since;
	const char *complexity;
	const struct cmd_def *subcommands; /* NULL-terminated, or NULL */
} cmd_def;

/* Finds a command by name (any case).  NULL if unknown. */
const cmd_def *cmd_lookup(const char *name, size_t len);
/* Finds a subcommand of a container command. */
const cmd_def *cmd_lookup_sub(const cmd_def *parent, const char *name,
			      size_t len);

/* Runs one parsed command for a client.  Always writes one reply. */
void cmd_dispatch(cmd_ctx *ctx);

/* Every top-level command, sorted by name (for COMMAND).  *n is set to the
 * count. */
const cmd_def *const *cmd_all(size_t *n);
/* Builds the lookup table; main() calls it once before the workers start.
 * Returns 0, or -1 if two rows share a name. */
int cmd_init(void);

/* Command families: each file exports its rows, NULL-name terminated. */
extern const cmd_def cmd_connection_table[];
extern const cmd_def cmd_string_table[];
extern const cmd_def cmd_keys_table[];
extern const cmd_def cmd_server_table[];
extern const cmd_def cmd_client_table[];
extern const cmd_def cmd_command_table[];
extern const cmd_def cmd_log_table[];

/* Called by each worker about hz times a second: reclaims expired keys a
 * slice at a time (cmd_keys.c).  *cursor is the worker's own position. */
void cmd_keys_cron(fkv_session *s, uint64_t *cursor, int64_t now_ms);
/* Called by one worker about hz times a second: samples the statistics
 * behind INFO's instantaneous_* and peak-memory fields (cmd_server.c). */
void cmd_server_cron(int64_t now_ms);

/* ---- helpers for handlers -------------------------------------------- */

/* Builds the engine key for argv[i] in the client's database into a
 * buffer owned by the client (valid until the next cmd_key call with the
 * same slot 0..1).  Sets *len. */
const uint8_t *cmd_key(cmd_ctx *ctx, int i, int slot, uint32_t *len);
/* The same for a key given as bytes (for SCAN results, RENAME targets). */
const uint8_t *cmd_key_bytes(cmd_ctx *ctx, int db, const void *key,
			     size_t key_len, int slot, uint32_t *len);

/* The index of the command's last key argument in a call of argc
 * arguments (d->last_key counts from the end when negative), at most
 * argc - 1.  Only for a command with keys (first_key > 0). */
int cmd_last_key(const cmd_def *d, int argc);

/* Case-insensitive comparison of argv[i] with a word. */
bool cmd_arg_is(const cmd_ctx *ctx, int i, const char *word);

/* Parses argv[i] as a Redis integer (string2ll rules).  On failure writes
 * "-ERR value is not an integer or out of range" and returns false. */
bool cmd_arg_int(cmd_ctx *ctx, int i, int64_t *out);

/* Writes Redis's HELP reply for a container command: a first line naming
 * cmd, the given lines (NULL-terminated), then HELP. */
void cmd_add_help(cmd_ctx *ctx, const char *cmd, const char *const *lines);
/* Copies argv[i] into buf as a C string (truncated to cap-1); returns buf. */
const char *cmd_arg_str(const cmd_ctx *ctx, int i, char *buf, size_t cap);

/* Replies the error for an engine status other than FKV_OK: Redis's OOM
 * error for a full log, a page-size error for a record too large for a
 * log page, else the engine's status name. */
void cmd_reply_engine_error(cmd_ctx *ctx, int rc);

/* Replies the text built in *b (a verbatim string in RESP3, a bulk in
 * RESP2), or an out-of-memory error if building it failed; frees *b. */
void cmd_reply_text(cmd_ctx *ctx, resp_buf *b);

/* Redis's standard errors. */
void cmd_err_syntax(cmd_ctx *ctx);
void cmd_err_wrongtype(cmd_ctx *ctx);
void cmd_err_arity(cmd_ctx *ctx, const char *name);

/* Parses a whole string as a Redis integer / long double (strict, like
 * string2ll and string2ld). */
bool cmd_parse_ll(const char *s, size_t n, int64_t *out);
bool cmd_parse_ld(const char *s, size_t n, long double *out);

#endif
