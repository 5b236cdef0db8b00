/*
 * cmd_string.c - the string family: GET, SET and its variants (SETNX,
 * SETEX, PSETEX, GETSET, GETDEL, GETEX), MGET, MSET, MSETNX, the counters
 * (INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT), APPEND, STRLEN, GETRANGE,
 * SUBSTR and SETRANGE, with Redis 7.2's replies and error texts.
 *
 * Every command that changes a value as a function of the old one is one
 * engine read-modify-write (fkv_rmw), so that clients on other worker
 * threads cannot slip in between the read and the write: concurrent INCRs
 * lose nothing, SET NX has one winner, SET ... GET returns exactly the
 * value it replaced.
 *
 * RMW callbacks follow the engine's rules (fkv.h): the engine may call
 * them more than once for one fkv_rmw() (it retries when a racing writer
 * wins), so each one computes from its arguments and the constant inputs
 * in its context, and overwrites (never accumulates into) the context's
 * outputs.  An in_place callback decides everything that could make it
 * refuse (FKV_RMW_COPY, FKV_ABORTED) before it touches the record.  A
 * callback that refuses stores the reason in the context; the handler
 * turns it into Redis's error.
 *
 * Deleting from inside an RMW: the engine has no "delete" outcome for an
 * RMW, so GETDEL (and SET / GETEX with an expiry already in the past)
 * replace the value by an empty one that expired at STR_EXPIRED_MS, long
 * before any clock the engine can hold.  Every engine operation treats
 * such a record as absent at once, and the expiry sweep reclaims it like
 * any other expired key.  That keeps GETDEL atomic, where a read followed
 * by fkv_delete() could delete a value written in between by another
 * client.
 *
 * Not atomic across keys: MSET and MSETNX write key by key (the engine
 * has no multi-key transactions yet), so a reader on another thread may
 * see some of the keys set and not others, and MSETNX's existence check
 * and its writes are separate steps.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "server.h"

/* An expiry (Unix ms) that every engine clock has passed: "already gone". */
#define STR_EXPIRED_MS 1

/* Room for any long double printed with "%.17Lf" (Redis's
 * MAX_LONG_DOUBLE_CHARS); also the longest value INCRBYFLOAT parses. */
#define STR_LD_CHARS (5 * 1024)

/* Why a callback refused (FKV_ABORTED), or why a handler stopped early. */
enum str_why {
	WHY_NONE = 0,
	WHY_ABSENT,	/* no live value: the command has nothing to do */
	WHY_COND,	/* NX / XX not met */
	WHY_UNCHANGED,	/* nothing to change (GETEX PERSIST without a TTL) */
	WHY_NOOP,	/* an already-expired SET on a missing key */
	WHY_NOT_INT,	/* the value is not an integer */
	WHY_OVERFLOW,	/* INCR / DECR would leave int64 */
	WHY_NOT_FLOAT,	/* the value is not a float */
	WHY_NAN_INF,	/* INCRBYFLOAT would give NaN or an infinity */
	WHY_TOO_BIG,	/* beyond proto-max-bulk-len */
	WHY_PAGE_LIMIT, /* beyond what one engine record can hold */
};

static const char err_oom[] =
	"OOM command not allowed when used memory > 'maxmemory'.";
static const char err_page[] = "ERR value is too large for this server's "
			       "log page size (log-page-size)";
static const char err_not_int[] = "ERR value is not an integer or out of range";
static const char err_not_float[] = "ERR value is not a valid float";
static const char err_too_big[] =
	"ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/* Replies the error for a callback's reason (the error cases only). */
static void reply_why(cmd_ctx *ctx, int why)
{
	switch (why) {
	case WHY_NOT_INT:
		resp_add_error(ctx->out, err_not_int);
		break;
	case WHY_OVERFLOW:
		resp_add_error(ctx->out,
			       "ERR increment or decrement would overflow");
		break;
	case WHY_NOT_FLOAT:
		resp_add_error(ctx->out, err_not_float);
		break;
	case WHY_NAN_INF:
		resp_add_error(ctx->out,
			       "ERR increment would produce NaN or Infinity");
		break;
	case WHY_TOO_BIG:
		resp_add_error(ctx->out, err_too_big);
		break;
	case WHY_PAGE_LIMIT:
		resp_add_error(ctx->out, err_page);
		break;
	default:
		resp_add_error(ctx->out, "ERR internal error in a string "
					 "command");
		break;
	}
}

/* The engine key of argv[i] (slot 0), or NULL after an error reply. */
static const uint8_t *str_key(cmd_ctx *ctx, int i, uint32_t *len)
{
	const uint8_t *k = cmd_key(ctx, i, 0, len);
	if (k == NULL)
		resp_add_error(ctx->out, err_oom);
	return k;
}

/* The largest string a command may build (CONFIG proto-max-bulk-len). */
static uint64_t max_string_len(void)
{
	return (uint64_t)cfg_get_int(&server.cfg.proto_max_bulk_len);
}

/* ---- numbers ---------------------------------------------------------- */

/* Writes v in decimal to buf (>= 21 bytes); returns the length. */
static int format_ll(char *buf, int64_t v)
{
	char tmp[24];
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	int n = 0;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	int k = 0;
	if (v < 0)
		buf[k++] = '-';
	while (n > 0)
		buf[k++] = tmp[--n];
	return k;
}

/*
 * Parses a whole string as a long double with Redis's string2ld rules:
 * strtold syntax (so "0x10", "inf" and "1e3" are numbers), no leading
 * space, nothing after the number up to the first NUL byte (Redis reads
 * the argument as a C string), not NaN, and not out of range
 * (strtold's ERANGE with an infinite or zero result: "1e5000", "1e-5000").
 */
static bool parse_ld(const void *s, size_t n, long double *out)
{
	char buf[STR_LD_CHARS];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r'))
		return false;
	char *end;
	errno = 0;
	long double v = strtold(buf, &end);
	if (*end != '\0' || isnan(v)) /* as Redis: a NUL ends the number */
		return false;
	if (errno == ERANGE && (isinf(v) || v == 0))
		return false;
	*out = v;
	return true;
}

/*
 * Formats a finite long double the way INCRBYFLOAT stores it (Redis's
 * ld2string in human mode): "%.17Lf", trailing zeros after the point
 * removed, then the point if nothing follows it, and "-0" made "0".
 * Returns the length, or -1 if buf is too small.
 */
static int format_ld(char *buf, size_t cap, long double v)
{
	int n = snprintf(buf, cap, "%.17Lf", v);
	if (n < 0 || (size_t)n + 1 > cap)
		return -1;
	if (memchr(buf, '.', (size_t)n) != NULL) {
		while (buf[n - 1] == '0')
			n--;
		if (buf[n - 1] == '.')
			n--;
	}
	if (n == 2 && buf[0] == '-' && buf[1] == '0') {
		buf[0] = '0';
		n = 1;
	}
	return n;
}

/* ---- options and expiry ----------------------------------------------- */

enum { EXP_NONE, EXP_EX, EXP_PX, EXP_EXAT, EXP_PXAT };

typedef struct str_opts {
	bool nx, xx, get, keepttl, persist;
	int exp_kind; /* EXP_* */
	int exp_arg;  /* argv index of the expiry's value */
} str_opts;

/*
 * Parses SET's options (set: NX XX GET KEEPTTL EX PX EXAT PXAT) or
 * GETEX's (!set: PERSIST EX PX EXAT PXAT) from argv[from] on, with
 * Redis's rules: an option may repeat, but NX excludes XX, and the expiry
 * options, KEEPTTL and PERSIST exclude each other.  On a violation writes
 * "ERR syntax error" and returns false.
 */
static bool parse_opts(cmd_ctx *ctx, int from, bool set, str_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int j = from; j < ctx->argc; j++) {
		bool next = j + 1 < ctx->argc;
		int kind = EXP_NONE;
		if (cmd_arg_is(ctx, j, "EX"))
			kind = EXP_EX;
		else if (cmd_arg_is(ctx, j, "PX"))
			kind = EXP_PX;
		else if (cmd_arg_is(ctx, j, "EXAT"))
			kind = EXP_EXAT;
		else if (cmd_arg_is(ctx, j, "PXAT"))
			kind = EXP_PXAT;
		bool other_exp = o->exp_kind != EXP_NONE && o->exp_kind != kind;
		if (set && cmd_arg_is(ctx, j, "NX") && !o->xx) {
			o->nx = true;
		} else if (set && cmd_arg_is(ctx, j, "XX") && !o->nx) {
			o->xx = true;
		} else if (set && cmd_arg_is(ctx, j, "GET")) {
			o->get = true;
		} else if (set && cmd_arg_is(ctx, j, "KEEPTTL") &&
			   o->exp_kind == EXP_NONE) {
			o->keepttl = true;
		} else if (!set && cmd_arg_is(ctx, j, "PERSIST") &&
			   o->exp_kind == EXP_NONE) {
			o->persist = true;
		} else if (kind != EXP_NONE && next && !other_exp &&
			   !o->keepttl && !o->persist) {
			o->exp_kind = kind;
			o->exp_arg = ++j;
		} else {
			cmd_err_syntax(ctx);
			return false;
		}
	}
	return true;
}

enum { EXPIRE_OK, EXPIRE_NOT_INT, EXPIRE_INVALID };

/*
 * Turns the expiry argument argv[i] of the given kind into an absolute
 * Unix time in ms, as Redis's getExpireMillisecondsOrReply: the number
 * must be positive, and the result must not overflow.  A positive
 * EXAT / PXAT in the past is accepted (the key then expires at once).
 */
static int expire_at(const cmd_ctx *ctx, int i, int kind, int64_t *at)
{
	int64_t v;
	if (!cmd_parse_ll(ctx->argv[i], ctx->argv_len[i], &v))
		return EXPIRE_NOT_INT;
	bool seconds = kind == EXP_EX || kind == EXP_EXAT;
	if (v <= 0 || (seconds && v > INT64_MAX / 1000))
		return EXPIRE_INVALID;
	if (seconds)
		v *= 1000;
	if (kind == EXP_EX || kind == EXP_PX) {
		if (v > INT64_MAX - ctx->now_ms)
			return EXPIRE_INVALID;
		v += ctx->now_ms;
	}
	*at = v;
	return EXPIRE_OK;
}

static void reply_expire_error(cmd_ctx *ctx, int err, const char *cmd)
{
	if (err == EXPIRE_NOT_INT)
		resp_add_error(ctx->out, err_not_int);
	else
		resp_add_errorf(ctx->out,
				"ERR invalid expire time in '%s' command", cmd);
}

/* ---- capturing the old value into the reply ---------------------------- */

/*
 * Commands that return the value they replace (SET ... GET, GETSET,
 * GETDEL, GETEX) write it into the reply from inside the RMW callback,
 * while the engine holds the record steady: no copy to a side buffer.  A
 * callback that runs again first drops what its last run wrote (back to
 * `mark`), and a handler that ends in an error drops it too.
 */
typedef struct str_capture {
	resp_buf *out;
	size_t mark; /* reply length before the command */
	bool on;
} str_capture;

static void capture_init(str_capture *cap, cmd_ctx *ctx, bool on)
{
	cap->out = ctx->out;
	cap->mark = ctx->out->len;
	cap->on = on;
}

static void capture(str_capture *cap, const uint8_t *old, uint32_t len)
{
	if (!cap->on)
		return;
	cap->out->len = cap->mark;
	if (old == NULL)
		resp_add_null(cap->out);
	else
		resp_add_bulk(cap->out, old, len);
}

static void capture_drop(str_capture *cap)
{
	cap->out->len = cap->mark;
}

/* ---- GET, MGET, STRLEN, GETRANGE ---------------------------------------- */

static void get_cb(void *p, const uint8_t *value, uint32_t len,
		   int64_t expire_ms)
{
	(void)expire_ms;
	resp_add_bulk((resp_buf *)p, value, len);
}

/* Replies the value of argv[i], or a null. */
static void reply_value(cmd_ctx *ctx, int i)
{
	uint32_t klen;
	const uint8_t *k = str_key(ctx, i, &klen);
	if (k == NULL)
		return;
	int rc = fkv_read(ctx->s, k, klen, get_cb, ctx->out);
	if (rc == FKV_NOT_FOUND)
		resp_add_null(ctx->out);
	else if (rc != FKV_OK)
		cmd_reply_engine_error(ctx, rc);
}

static void cmd_get(cmd_ctx *ctx)
{
	reply_value(ctx, 1);
}

/* MGET key [key ...]: one bulk or null per key; an error only when the
 * engine cannot read a key (a disk error), instead of a wrong null. */
static void cmd_mget(cmd_ctx *ctx)
{
	size_t before = ctx->out->len;
	resp_add_array(ctx->out, ctx->argc - 1);
	for (int i = 1; i < ctx->argc; i++) {
		uint32_t klen;
		const uint8_t *k = cmd_key(ctx, i, 0, &klen);
		int rc = k == NULL
				 ? FKV_OUT_OF_MEMORY
				 : fkv_read(ctx->s, k, klen, get_cb, ctx->out);
		if (rc == FKV_OK)
			continue;
		/* Not found, or pending (the reply is dropped and the
		 * command runs again). */
		if (rc == FKV_NOT_FOUND || rc == FKV_PENDING) {
			resp_add_null(ctx->out);
			continue;
		}
		ctx->out->len = before;
		cmd_reply_engine_error(ctx, rc);
		return;
	}
}

static void len_cb(void *p, const uint8_t *value, uint32_t len,
		   int64_t expire_ms)
{
	(void)value;
	(void)expire_ms;
	*(uint32_t *)p = len;
}

/* Reads argv[i]: its value's length (0 when absent) into *len and, if
 * found is not NULL, whether it has a live value.  false after an error
 * reply. */
static bool value_len(cmd_ctx *ctx, int i, uint32_t *len, bool *found)
{
	uint32_t klen;
	const uint8_t *k = str_key(ctx, i, &klen);
	if (k == NULL)
		return false;
	*len = 0;
	int rc = fkv_read(ctx->s, k, klen, len_cb, len);
	if (rc != FKV_OK && rc != FKV_NOT_FOUND) {
		cmd_reply_engine_error(ctx, rc);
		return false;
	}
	if (found != NULL)
		*found = rc == FKV_OK;
	return true;
}

static void cmd_strlen(cmd_ctx *ctx)
{
	uint32_t len;
	if (value_len(ctx, 1, &len, NULL))
		resp_add_int(ctx->out, len);
}

struct range_ctx {
	resp_buf *out;
	int64_t start, end;
};

/* Replies the substring, with GETRANGE's index rules: negative indexes
 * count from the end, both are clamped into the string, and a range that
 * is empty or inverted gives "". */
static void range_cb(void *p, const uint8_t *value, uint32_t len,
		     int64_t expire_ms)
{
	(void)expire_ms;
	struct range_ctx *x = p;
	int64_t start = x->start, end = x->end, n = len;
	if (start < 0 && end < 0 && start > end) {
		resp_add_bulk(x->out, "", 0);
		return;
	}
	if (start < 0)
		start += n;
	if (end < 0)
		end += n;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= n)
		end = n - 1;
	if (n == 0 || start > end)
		resp_add_bulk(x->out, "", 0);
	else
		resp_add_bulk(x->out, value + start, (size_t)(end - start + 1));
}

/* GETRANGE key start end (and SUBSTR, its old name). */
static void cmd_getrange(cmd_ctx *ctx)
{
	struct range_ctx x = {.out = ctx->out};
	if (!cmd_arg_int(ctx, 2, &x.start) || !cmd_arg_int(ctx, 3, &x.end))
		return;
	uint32_t klen;
	const uint8_t *k = str_key(ctx, 1, &klen);
	if (k == NULL)
		return;
	int rc = fkv_read(ctx->s, k, klen, range_cb, &x);
	if (rc == FKV_NOT_FOUND)
		resp_add_bulk(ctx->out, "", 0);
	else if (rc != FKV_OK)
		cmd_reply_engine_error(ctx, rc);
}

/* ---- SET and its variants ----------------------------------------------- */

struct set_ctx {
	const uint8_t *val;
	uint32_t vlen;
	bool nx, xx, keepttl;
	bool dead;  /* the expiry has already passed: leave no value */
	int64_t at; /* the new expiry (absolute ms, 0 = none) */
	str_capture cap;
	int why;
};

/* Captures the old value and checks NX / XX; 0 or FKV_ABORTED. */
static int set_check(struct set_ctx *x, const uint8_t *old, uint32_t old_len)
{
	capture(&x->cap, old, old_len);
	if ((x->nx && old != NULL) || (x->xx && old == NULL)) {
		x->why = WHY_COND;
		return FKV_ABORTED;
	}
	if (x->dead && old == NULL) {
		x->why = WHY_NOOP;
		return FKV_ABORTED;
	}
	return 0;
}

static int set_new_len(void *p, const uint8_t *old, uint32_t old_len,
		       uint32_t *new_len, int64_t *expire_ms)
{
	struct set_ctx *x = p;
	int rc = set_check(x, old, old_len);
	if (rc != 0)
		return rc;
	if (x->dead) {
		*new_len = 0;
		*expire_ms = STR_EXPIRED_MS;
		return 0;
	}
	*new_len = x->vlen;
	if (!x->keepttl)
		*expire_ms = x->at;
	return 0;
}

static void set_write(void *p, const uint8_t *old, uint32_t old_len,
		      uint8_t *dst, uint32_t new_len)
{
	(void)old;
	(void)old_len;
	struct set_ctx *x = p;
	if (new_len > 0)
		memcpy(dst, x->val, new_len);
}

static int set_in_place(void *p, uint8_t *value, uint32_t *len, uint32_t cap,
			int64_t *expire_ms)
{
	struct set_ctx *x = p;
	int rc = set_check(x, value, *len);
	if (rc != 0)
		return rc;
	bool keep = x->keepttl && !x->dead;
	int64_t want = x->dead ? STR_EXPIRED_MS : x->at;
	if (!keep && expire_ms == NULL && want != 0)
		return FKV_RMW_COPY; /* no room for an expiry */
	if (!x->dead && x->vlen > cap)
		return FKV_RMW_COPY;
	if (!keep && expire_ms != NULL)
		*expire_ms = want;
	if (x->dead) {
		*len = 0;
		return 0;
	}
	memcpy(value, x->val, x->vlen);
	*len = x->vlen;
	return 0;
}

static const fkv_rmw_ops set_ops = {set_new_len, set_write, set_in_place};

enum { SET_REPLY_OK, SET_REPLY_INT };

/*
 * The SET family's common path: sets argv[ki] to argv[vi] under the
 * options (NX, XX, GET, KEEPTTL; `at` the new absolute expiry or 0).
 * Replies +OK (or :1 with SET_REPLY_INT), a null (:0) when NX / XX stops
 * it, and with GET the old value instead either way.  An unconditional
 * SET is a plain upsert; anything that depends on the old value is one
 * RMW.
 */
static void set_generic(cmd_ctx *ctx, int ki, int vi, const str_opts *o,
			int64_t at, int reply)
{
	if (ctx->argv_len[vi] > UINT32_MAX) {
		resp_add_error(ctx->out, err_page);
		return;
	}
	uint32_t klen;
	const uint8_t *k = str_key(ctx, ki, &klen);
	if (k == NULL)
		return;
	struct set_ctx x = {
		.val = (const uint8_t *)ctx->argv[vi],
		.vlen = (uint32_t)ctx->argv_len[vi],
		.nx = o->nx,
		.xx = o->xx,
		.keepttl = o->keepttl,
		.dead = at != 0 && at <= ctx->now_ms,
		.at = at,
	};
	int rc;
	if (!o->nx && !o->xx && !o->get && !o->keepttl) {
		if (x.dead) {
			rc = fkv_delete(ctx->s, k, klen);
			if (rc == FKV_NOT_FOUND)
				rc = FKV_OK;
		} else {
			rc = fkv_upsert(ctx->s, k, klen, x.val, x.vlen, at);
		}
		if (rc != FKV_OK)
			cmd_reply_engine_error(ctx, rc);
		else if (reply == SET_REPLY_INT)
			resp_add_int(ctx->out, 1);
		else
			resp_add_ok(ctx->out);
		return;
	}
	capture_init(&x.cap, ctx, o->get);
	rc = fkv_rmw(ctx->s, k, klen, &set_ops, &x);
	if (rc == FKV_ABORTED && x.why == WHY_NOOP)
		rc = FKV_OK; /* done: nothing to expire */
	if (rc != FKV_OK && rc != FKV_ABORTED) {
		capture_drop(&x.cap);
		cmd_reply_engine_error(ctx, rc);
		return;
	}
	if (o->get)
		return; /* the old value is the reply, already written */
	if (reply == SET_REPLY_INT)
		resp_add_int(ctx->out, rc == FKV_OK ? 1 : 0);
	else if (rc == FKV_OK)
		resp_add_ok(ctx->out);
	else
		resp_add_null(ctx->out);
}

/* SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms |
 * KEEPTTL] */
static void cmd_set(cmd_ctx *ctx)
{
	str_opts o;
	if (!parse_opts(ctx, 3, true, &o))
		return;
	int64_t at = 0;
	if (o.exp_kind != EXP_NONE) {
		int err = expire_at(ctx, o.exp_arg, o.exp_kind, &at);
		if (err != EXPIRE_OK) {
			reply_expire_error(ctx, err, "set");
			return;
		}
	}
	set_generic(ctx, 1, 2, &o, at, SET_REPLY_OK);
}

static void cmd_setnx(cmd_ctx *ctx)
{
	str_opts o = {.nx = true};
	set_generic(ctx, 1, 2, &o, 0, SET_REPLY_INT);
}

/* SETEX key seconds value / PSETEX key milliseconds value. */
static void setex_generic(cmd_ctx *ctx, int kind, const char *name)
{
	int64_t at;
	int err = expire_at(ctx, 2, kind, &at);
	if (err != EXPIRE_OK) {
		reply_expire_error(ctx, err, name);
		return;
	}
	str_opts o = {0};
	set_generic(ctx, 1, 3, &o, at, SET_REPLY_OK);
}

static void cmd_setex(cmd_ctx *ctx)
{
	setex_generic(ctx, EXP_EX, "setex");
}

static void cmd_psetex(cmd_ctx *ctx)
{
	setex_generic(ctx, EXP_PX, "psetex");
}

/* GETSET key value: SET key value GET (the TTL is cleared). */
static void cmd_getset(cmd_ctx *ctx)
{
	str_opts o = {.get = true};
	set_generic(ctx, 1, 2, &o, 0, SET_REPLY_OK);
}

/* Writes every key / value pair of MSET or MSETNX (argc checked odd);
 * false after an error reply. */
static bool mset_pairs(cmd_ctx *ctx)
{
	for (int i = 2; i < ctx->argc; i += 2) {
		if (ctx->argv_len[i] > UINT32_MAX) {
			resp_add_error(ctx->out, err_page);
			return false;
		}
	}
	for (int i = 1; i < ctx->argc; i += 2) {
		uint32_t klen;
		const uint8_t *k = str_key(ctx, i, &klen);
		if (k == NULL)
			return false;
		int rc = fkv_upsert(ctx->s, k, klen, ctx->argv[i + 1],
				    (uint32_t)ctx->argv_len[i + 1], 0);
		if (rc != FKV_OK) {
			cmd_reply_engine_error(ctx, rc);
			return false;
		}
	}
	return true;
}

/* MSET key value [key value ...] */
static void cmd_mset(cmd_ctx *ctx)
{
	if (ctx->argc % 2 == 0) {
		cmd_err_arity(ctx, "mset");
		return;
	}
	if (mset_pairs(ctx))
		resp_add_ok(ctx->out);
}

/* MSETNX key value [key value ...]: 0 and nothing set if any key exists.
 * The check and the writes are separate engine operations (see the top
 * of the file). */
static void cmd_msetnx(cmd_ctx *ctx)
{
	if (ctx->argc % 2 == 0) {
		cmd_err_arity(ctx, "msetnx");
		return;
	}
	for (int i = 1; i < ctx->argc; i += 2) {
		bool found;
		uint32_t len;
		if (!value_len(ctx, i, &len, &found))
			return;
		if (found) {
			resp_add_int(ctx->out, 0);
			return;
		}
	}
	if (mset_pairs(ctx))
		resp_add_int(ctx->out, 1);
}

/* ---- GETDEL, GETEX ------------------------------------------------------ */

struct getex_ctx {
	bool persist;
	bool dead;  /* expire at once (EXAT / PXAT in the past; GETDEL) */
	int64_t at; /* the new expiry when neither */
	str_capture cap;
	int why;
};

static int getex_new_len(void *p, const uint8_t *old, uint32_t old_len,
			 uint32_t *new_len, int64_t *expire_ms)
{
	struct getex_ctx *x = p;
	capture(&x->cap, old, old_len);
	if (old == NULL) {
		x->why = WHY_ABSENT;
		return FKV_ABORTED;
	}
	if (x->dead) {
		*new_len = 0;
		*expire_ms = STR_EXPIRED_MS;
		return 0;
	}
	int64_t want = x->persist ? 0 : x->at;
	if (*expire_ms == want) {
		x->why = WHY_UNCHANGED; /* no need to copy the value */
		return FKV_ABORTED;
	}
	*new_len = old_len;
	*expire_ms = want;
	return 0;
}

static void getex_write(void *p, const uint8_t *old, uint32_t old_len,
			uint8_t *dst, uint32_t new_len)
{
	(void)p;
	(void)old_len;
	if (new_len > 0)
		memcpy(dst, old, new_len);
}

static int getex_in_place(void *p, uint8_t *value, uint32_t *len, uint32_t cap,
			  int64_t *expire_ms)
{
	(void)cap;
	struct getex_ctx *x = p;
	capture(&x->cap, value, *len);
	int64_t want = x->dead ? STR_EXPIRED_MS : x->persist ? 0 : x->at;
	if (expire_ms == NULL)
		return want == 0 ? 0 : FKV_RMW_COPY;
	*expire_ms = want;
	if (x->dead)
		*len = 0;
	return 0;
}

static const fkv_rmw_ops getex_ops = {getex_new_len, getex_write,
				      getex_in_place};

/* Replies argv[1]'s value and expires it at once (dead), removes its TTL
 * (persist) or sets it to `at`, atomically.  A null if there is none. */
static void getex_generic(cmd_ctx *ctx, bool dead, bool persist, int64_t at)
{
	uint32_t klen;
	const uint8_t *k = str_key(ctx, 1, &klen);
	if (k == NULL)
		return;
	struct getex_ctx x = {.persist = persist, .dead = dead, .at = at};
	capture_init(&x.cap, ctx, true);
	int rc = fkv_rmw(ctx->s, k, klen, &getex_ops, &x);
	if (rc != FKV_OK && rc != FKV_ABORTED) {
		capture_drop(&x.cap);
		cmd_reply_engine_error(ctx, rc);
	}
	/* else the reply (value or null) is written */
}

/* GETDEL key: atomic (see the top of the file for how it deletes). */
static void cmd_getdel(cmd_ctx *ctx)
{
	getex_generic(ctx, true, false, 0);
}

/* GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] */
static void cmd_getex(cmd_ctx *ctx)
{
	str_opts o;
	if (!parse_opts(ctx, 2, false, &o))
		return;
	if (o.exp_kind == EXP_NONE && !o.persist) {
		reply_value(ctx, 1);
		return;
	}
	int64_t at = 0;
	if (o.exp_kind != EXP_NONE) {
		int err = expire_at(ctx, o.exp_arg, o.exp_kind, &at);
		if (err != EXPIRE_OK) {
			/* Redis looks the key up first: a missing key is a
			 * null even with a bad expiry. */
			bool found;
			uint32_t len;
			if (!value_len(ctx, 1, &len, &found))
				return;
			if (found)
				reply_expire_error(ctx, err, "getex");
			else
				resp_add_null(ctx->out);
			return;
		}
	}
	getex_generic(ctx, at != 0 && at <= ctx->now_ms, o.persist, at);
}

/* ---- INCR, DECR, INCRBY, DECRBY ----------------------------------------- */

/* An RMW whose new value is computed from the old one (NULL: none) into a
 * buffer by `compute` (0 or FKV_ABORTED); the bytes then go in place when
 * they fit the record, or into a copy.  The TTL stays.  INCR's and
 * INCRBYFLOAT's contexts start with this. */
struct computed {
	int (*compute)(struct computed *c, const uint8_t *old,
		       uint32_t old_len);
	const char *out; /* the bytes computed */
	uint32_t n;
};

static int computed_new_len(void *p, const uint8_t *old, uint32_t old_len,
			    uint32_t *new_len, int64_t *expire_ms)
{
	(void)expire_ms; /* the TTL stays */
	struct computed *c = p;
	int rc = c->compute(c, old, old_len);
	*new_len = c->n;
	return rc;
}

static void computed_write(void *p, const uint8_t *old, uint32_t old_len,
			   uint8_t *dst, uint32_t new_len)
{
	(void)old;
	(void)old_len;
	memcpy(dst, ((struct computed *)p)->out, new_len);
}

/* Writes the computed bytes over the old ones when they fit the record. */
static int computed_in_place(void *p, uint8_t *value, uint32_t *len,
			     uint32_t cap, int64_t *expire_ms)
{
	(void)expire_ms;
	struct computed *c = p;
	int rc = c->compute(c, value, *len);
	if (rc != 0)
		return rc;
	if (c->n > cap)
		return FKV_RMW_COPY;
	memcpy(value, c->out, c->n);
	*len = c->n;
	return 0;
}

static const fkv_rmw_ops computed_ops = {computed_new_len, computed_write,
					 computed_in_place};

struct incr_ctx {
	struct computed base; /* first: the RMW callbacks see this */
	int64_t by;
	int64_t result;
	char digits[24];
	int why;
};

/* Computes the new value from the old (NULL: 0) into x; 0 or
 * FKV_ABORTED. */
static int incr_compute(struct computed *c, const uint8_t *old,
			uint32_t old_len)
{
	struct incr_ctx *x = (struct incr_ctx *)c;
	int64_t v = 0;
	if (old != NULL && !cmd_parse_ll((const char *)old, old_len, &v)) {
		x->why = WHY_NOT_INT;
		return FKV_ABORTED;
	}
	if ((x->by < 0 && v < 0 && x->by < INT64_MIN - v) ||
	    (x->by > 0 && v > 0 && x->by > INT64_MAX - v)) {
		x->why = WHY_OVERFLOW;
		return FKV_ABORTED;
	}
	x->result = v + x->by;
	c->n = (uint32_t)format_ll(x->digits, x->result);
	c->out = x->digits;
	return 0;
}

static void incr_generic(cmd_ctx *ctx, int64_t by)
{
	uint32_t klen;
	const uint8_t *k = str_key(ctx, 1, &klen);
	if (k == NULL)
		return;
	struct incr_ctx x = {.base.compute = incr_compute, .by = by};
	int rc = fkv_rmw(ctx->s, k, klen, &computed_ops, &x);
	if (rc == FKV_OK)
		resp_add_int(ctx->out, x.result);
	else if (rc == FKV_ABORTED)
		reply_why(ctx, x.why);
	else
		cmd_reply_engine_error(ctx, rc);
}

static void cmd_incr(cmd_ctx *ctx)
{
	incr_generic(ctx, 1);
}

static void cmd_decr(cmd_ctx *ctx)
{
	incr_generic(ctx, -1);
}

static void cmd_incrby(cmd_ctx *ctx)
{
	int64_t by;
	if (cmd_arg_int(ctx, 2, &by))
		incr_generic(ctx, by);
}

static void cmd_decrby(cmd_ctx *ctx)
{
	int64_t by;
	if (!cmd_arg_int(ctx, 2, &by))
		return;
	if (by == INT64_MIN) {
		resp_add_error(ctx->out, "ERR decrement would overflow");
		return;
	}
	incr_generic(ctx, -by);
}

/* ---- INCRBYFLOAT -------------------------------------------------------- */

struct incrf_ctx {
	struct computed base; /* first: the RMW callbacks see this */
	long double by;
	char buf[STR_LD_CHARS];
	int why;
};

static int incrf_compute(struct computed *c, const uint8_t *old,
			 uint32_t old_len)
{
	struct incrf_ctx *x = (struct incrf_ctx *)c;
	long double v = 0;
	if (old != NULL && !parse_ld(old, old_len, &v)) {
		x->why = WHY_NOT_FLOAT;
		return FKV_ABORTED;
	}
	v += x->by;
	if (isnan(v) || isinf(v)) {
		x->why = WHY_NAN_INF;
		return FKV_ABORTED;
	}
	int n = format_ld(x->buf, sizeof(x->buf), v);
	if (n < 0) {
		x->why = WHY_NAN_INF; /* cannot happen: finite values fit */
		return FKV_ABORTED;
	}
	c->n = (uint32_t)n;
	c->out = x->buf;
	return 0;
}

/* INCRBYFLOAT key increment: replies the new value as a bulk string. */
static void cmd_incrbyfloat(cmd_ctx *ctx)
{
	struct incrf_ctx x = {.base.compute = incrf_compute};
	if (!parse_ld(ctx->argv[2], ctx->argv_len[2], &x.by)) {
		resp_add_error(ctx->out, err_not_float);
		return;
	}
	uint32_t klen;
	const uint8_t *k = str_key(ctx, 1, &klen);
	if (k == NULL)
		return;
	int rc = fkv_rmw(ctx->s, k, klen, &computed_ops, &x);
	if (rc == FKV_OK)
		resp_add_bulk(ctx->out, x.buf, x.base.n);
	else if (rc == FKV_ABORTED)
		reply_why(ctx, x.why);
	else
		cmd_reply_engine_error(ctx, rc);
}

/* ---- APPEND, SETRANGE --------------------------------------------------- */

struct append_ctx {
	const uint8_t *add;
	uint32_t alen;
	uint64_t max; /* proto-max-bulk-len */
	uint32_t total;
	int why;
};

/* The new length into x->total; 0 or FKV_ABORTED. */
static int append_check(struct append_ctx *x, const uint8_t *old,
			uint32_t old_len)
{
	uint64_t total = (uint64_t)(old != NULL ? old_len : 0) + x->alen;
	if (old != NULL && total > x->max) {
		x->why = WHY_TOO_BIG;
		return FKV_ABORTED;
	}
	if (total > UINT32_MAX) {
		x->why = WHY_PAGE_LIMIT;
		return FKV_ABORTED;
	}
	x->total = (uint32_t)total;
	return 0;
}

static int append_new_len(void *p, const uint8_t *old, uint32_t old_len,
			  uint32_t *new_len, int64_t *expire_ms)
{
	(void)expire_ms;
	struct append_ctx *x = p;
	int rc = append_check(x, old, old_len);
	*new_len = x->total;
	return rc;
}

static void append_write(void *p, const uint8_t *old, uint32_t old_len,
			 uint8_t *dst, uint32_t new_len)
{
	(void)new_len;
	struct append_ctx *x = p;
	if (old == NULL)
		old_len = 0;
	if (old_len > 0)
		memcpy(dst, old, old_len);
	if (x->alen > 0)
		memcpy(dst + old_len, x->add, x->alen);
}

/* Appends after the old bytes when the record has room for them. */
static int append_in_place(void *p, uint8_t *value, uint32_t *len, uint32_t cap,
			   int64_t *expire_ms)
{
	(void)expire_ms;
	struct append_ctx *x = p;
	int rc = append_check(x, value, *len);
	if (rc != 0)
		return rc;
	if (x->total > cap)
		return FKV_RMW_COPY;
	if (x->alen > 0)
		memcpy(value + *len, x->add, x->alen);
	*len = x->total;
	return 0;
}

static const fkv_rmw_ops append_ops = {append_new_len, append_write,
				       append_in_place};

/* APPEND key value: replies the new length. */
static void cmd_append(cmd_ctx *ctx)
{
	if (ctx->argv_len[2] > UINT32_MAX) {
		resp_add_error(ctx->out, err_page);
		return;
	}
	uint32_t klen;
	const uint8_t *k = str_key(ctx, 1, &klen);
	if (k == NULL)
		return;
	struct append_ctx x = {.add = (const uint8_t *)ctx->argv[2],
			       .alen = (uint32_t)ctx->argv_len[2],
			       .max = max_string_len()};
	int rc = fkv_rmw(ctx->s, k, klen, &append_ops, &x);
	if (rc == FKV_OK)
		resp_add_int(ctx->out, x.total);
	else if (rc == FKV_ABORTED)
		reply_why(ctx, x.why);
	else
		cmd_reply_engine_error(ctx, rc);
}

struct setrange_ctx {
	const uint8_t *val;
	uint32_t vlen;
	uint32_t off; /* off + vlen fits 32 bits (checked before) */
	uint32_t total;
};

static uint32_t setrange_total(const struct setrange_ctx *x, uint32_t old_len)
{
	uint32_t end = x->off + x->vlen;
	return end > old_len ? end : old_len;
}

static int setrange_new_len(void *p, const uint8_t *old, uint32_t old_len,
			    uint32_t *new_len, int64_t *expire_ms)
{
	(void)expire_ms;
	struct setrange_ctx *x = p;
	x->total = setrange_total(x, old != NULL ? old_len : 0);
	*new_len = x->total;
	return 0;
}

static void setrange_write(void *p, const uint8_t *old, uint32_t old_len,
			   uint8_t *dst, uint32_t new_len)
{
	(void)new_len;
	struct setrange_ctx *x = p;
	if (old == NULL)
		old_len = 0;
	if (old_len > 0)
		memcpy(dst, old, old_len);
	if (x->off > old_len)
		memset(dst + old_len, 0, x->off - old_len);
	memcpy(dst + x->off, x->val, x->vlen);
}

/* Overwrites in place when the result fits the record, zero-filling any
 * gap between the old end and the offset. */
static int setrange_in_place(void *p, uint8_t *value, uint32_t *len,
			     uint32_t cap, int64_t *expire_ms)
{
	(void)expire_ms;
	struct setrange_ctx *x = p;
	x->total = setrange_total(x, *len);
	if (x->total > cap)
		return FKV_RMW_COPY;
	if (x->off > *len)
		memset(value + *len, 0, x->off - *len);
	memcpy(value + x->off, x->val, x->vlen);
	*len = x->total;
	return 0;
}

static const fkv_rmw_ops setrange_ops = {setrange_new_len, setrange_write,
					 setrange_in_place};

/* SETRANGE key offset value: replies the new length. */
static void cmd_setrange(cmd_ctx *ctx)
{
	int64_t off;
	if (!cmd_arg_int(ctx, 2, &off))
		return;
	if (off < 0) {
		resp_add_error(ctx->out, "ERR offset is out of range");
		return;
	}
	size_t vlen = ctx->argv_len[3];
	if (vlen == 0) {
		/* Nothing to write: the current length (0 if absent). */
		cmd_strlen(ctx);
		return;
	}
	uint64_t max = max_string_len();
	if ((uint64_t)off > max || vlen > max - (uint64_t)off) {
		resp_add_error(ctx->out, err_too_big);
		return;
	}
	if ((uint64_t)off + vlen > UINT32_MAX) {
		resp_add_error(ctx->out, err_page);
		return;
	}
	uint32_t klen;
	const uint8_t *k = str_key(ctx, 1, &klen);
	if (k == NULL)
		return;
	struct setrange_ctx x = {.val = (const uint8_t *)ctx->argv[3],
				 .vlen = (uint32_t)vlen,
				 .off = (uint32_t)off};
	int rc = fkv_rmw(ctx->s, k, klen, &setrange_ops, &x);
	if (rc == FKV_OK)
		resp_add_int(ctx->out, x.total);
	else
		cmd_reply_engine_error(ctx, rc);
}

/* ---- the table ---------------------------------------------------------- */

#define RW_FAST (CMD_WRITE | CMD_DENYOOM | CMD_FAST)
#define RO_FAST (CMD_READONLY | CMD_FAST)

static const char cx_range[] =
	"O(N) where N is the length of the returned string. The complexity "
	"is ultimately determined by the returned length, but because "
	"creating a substring from an existing string is very cheap, it can "
	"be considered O(1) for small strings.";

const cmd_def cmd_string_table[] = {
	{"append", cmd_append, 3, RW_FAST, 1, 1, 1, "string",
	 "Appends a string to the value of a key. Creates the key if it "
	 "doesn't exist.",
	 "2.0.0",
	 "O(1). The amortized time complexity is O(1) assuming the appended "
	 "value is small and the already present value is of any size, since "
	 "the dynamic string library used by Redis will double the free space "
	 "available on every reallocation.",
	 NULL},
	{"decr", cmd_decr, 2, RW_FAST, 1, 1, 1, "string",
	 "Decrements the integer value of a key by one. Uses 0 as initial "
	 "value if the key doesn't exist.",
	 "1.0.0", "O(1)", NULL},
	{"decrby", cmd_decrby, 3, RW_FAST, 1, 1, 1, "string",
	 "Decrements a number from the integer value of a key. Uses 0 as "
	 "initial value if the key doesn't exist.",
	 "1.0.0", "O(1)", NULL},
	{"get", cmd_get, 2, RO_FAST, 1, 1, 1, "string",
	 "Returns the string value of a key.", "1.0.0", "O(1)", NULL},
	{"getdel", cmd_getdel, 2, CMD_WRITE | CMD_FAST, 1, 1, 1, "string",
	 "Returns the string value of a key after deleting the key.", "6.2.0",
	 "O(1)", NULL},
	{"getex", cmd_getex, -2, CMD_WRITE | CMD_FAST, 1, 1, 1, "string",
	 "Returns the string value of a key after setting its expiration "
	 "time.",
	 "6.2.0", "O(1)", NULL},
	{"getrange", cmd_getrange, 4, CMD_READONLY, 1, 1, 1, "string",
	 "Returns a substring of the string stored at a key.", "2.4.0",
	 cx_range, NULL},
	{"getset", cmd_getset, 3, RW_FAST, 1, 1, 1, "string",
	 "Returns the previous string value of a key after setting it to a "
	 "new value.",
	 "1.0.0", "O(1)", NULL},
	{"incr", cmd_incr, 2, RW_FAST, 1, 1, 1, "string",
	 "Increments the integer value of a key by one. Uses 0 as initial "
	 "value if the key doesn't exist.",
	 "1.0.0", "O(1)", NULL},
	{"incrby", cmd_incrby, 3, RW_FAST, 1, 1, 1, "string",
	 "Increments the integer value of a key by a number. Uses 0 as "
	 "initial value if the key doesn't exist.",
	 "1.0.0", "O(1)", NULL},
	{"incrbyfloat", cmd_incrbyfloat, 3, RW_FAST, 1, 1, 1, "string",
	 "Increment the floating point value of a key by a number. Uses 0 as "
	 "initial value if the key doesn't exist.",
	 "2.6.0", "O(1)", NULL},
	{"mget", cmd_mget, -2, RO_FAST, 1, -1, 1, "string",
	 "Atomically returns the string values of one or more keys.", "1.0.0",
	 "O(N) where N is the number of keys to retrieve.", NULL},
	{"mset", cmd_mset, -3, CMD_WRITE | CMD_DENYOOM | CMD_BLIND_WRITE, 1, -1,
	 2, "string",
	 "Atomically creates or modifies the string values of one or more "
	 "keys.",
	 "1.0.1", "O(N) where N is the number of keys to set.", NULL},
	{"msetnx", cmd_msetnx, -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, "string",
	 "Atomically modifies the string values of one or more keys only "
	 "when all keys don't exist.",
	 "1.0.1", "O(N) where N is the number of keys to set.", NULL},
	{"psetex", cmd_psetex, 4, CMD_WRITE | CMD_DENYOOM | CMD_BLIND_WRITE, 1,
	 1, 1, "string",
	 "Sets both string value and expiration time in milliseconds of a "
	 "key. The key is created if it doesn't exist.",
	 "2.6.0", "O(1)", NULL},
	{"set", cmd_set, -3, CMD_WRITE | CMD_DENYOOM | CMD_BLIND_WRITE, 1, 1, 1,
	 "string",
	 "Sets the string value of a key, ignoring its type. The key is "
	 "created if it doesn't exist.",
	 "1.0.0", "O(1)", NULL},
	{"setex", cmd_setex, 4, CMD_WRITE | CMD_DENYOOM | CMD_BLIND_WRITE, 1, 1,
	 1, "string",
	 "Sets the string value and expiration time of a key. Creates the key "
	 "if it doesn't exist.",
	 "2.0.0", "O(1)", NULL},
	{"setnx", cmd_setnx, 3, RW_FAST, 1, 1, 1, "string",
	 "Set the string value of a key only when the key doesn't exist.",
	 "1.0.0", "O(1)", NULL},
	{"setrange", cmd_setrange, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1,
	 "string",
	 "Overwrites a part of a string value with another by an offset. "
	 "Creates the key if it doesn't exist.",
	 "2.2.0",
	 "O(1), not counting the time taken to copy the new string in place. "
	 "Usually, this string is very small so the amortized complexity is "
	 "O(1). Otherwise, complexity is O(M) with M being the length of the "
	 "value argument.",
	 NULL},
	{"strlen", cmd_strlen, 2, RO_FAST, 1, 1, 1, "string",
	 "Returns the length of a string value.", "2.2.0", "O(1)", NULL},
	{"substr", cmd_getrange, 4, CMD_READONLY, 1, 1, 1, "string",
	 "Returns a substring from a string value.", "1.0.0", cx_range, NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
