/*
 * cmd_keys.c - the keys family: DEL, UNLINK, EXISTS, TYPE, TOUCH, the TTL
 * commands (EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME,
 * PEXPIRETIME, PERSIST), RENAME, RENAMENX, COPY, KEYS, SCAN, RANDOMKEY,
 * DBSIZE, FLUSHDB, FLUSHALL, and the expired-key sweep (cmd_keys_cron),
 * with Redis 7.2's replies and error texts.
 *
 * Databases: an engine key is one byte of database number followed by the
 * user's key (cmd_key), so commands that walk the keyspace (KEYS, SCAN,
 * RANDOMKEY, DBSIZE, FLUSHDB) walk the whole index and keep the keys whose
 * first byte is the client's database; FLUSHALL keeps them all.
 *
 * Time: a command judges expiry by its own clock (ctx->now_ms).  The
 * engine judges by the session's clock, set at each refresh, which may lag
 * by one event-loop turn; a key that the engine still returns but whose
 * expiry has passed by ctx->now_ms counts here as missing, as in Redis.
 *
 * Changing an expiry (EXPIRE, PERSIST, ...) is one engine RMW, so its
 * conditions (NX, XX, GT, LT) and its write cannot be split by a client on
 * another worker thread.  A record that has no room for an expiry (written
 * without one) is copied: in_place answers FKV_RMW_COPY.
 *
 * Deleting from inside an RMW: as in cmd_string.c (GETDEL), a key is
 * removed atomically by giving it an empty value that expired at
 * KEYS_DELETED_MS, a time every clock has passed.  EXPIRE with a time in
 * the past and RENAME's taking of the source key work that way.  Such
 * records are reclaimed by the sweep like any expired key but are not
 * counted as expired (Redis counts them as deleted, not expired).
 *
 * Not atomic across keys: RENAME takes the source atomically, then writes
 * the destination, so a reader on another thread may briefly see neither;
 * COPY reads, then writes; FLUSHDB / FLUSHALL delete key by key while
 * other clients may write.  The engine has no multi-key transactions yet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aof.h"
#include "cmd.h"
#include "conn.h"
#include "glob.h"
#include "persist.h"
#include "server.h"

/* An expiry (Unix ms) that every engine clock has passed: "deleted".  The
 * same value as cmd_string.c's STR_EXPIRED_MS. */
#define KEYS_DELETED_MS 1

/* Buckets one SCAN call may visit at most, whatever its COUNT (a few
 * milliseconds of work). */
#define KEYS_SCAN_MAX_BUCKETS 65536
/* Buckets per slice of a full walk (KEYS, DBSIZE, FLUSHDB, RANDOMKEY);
 * the session refreshes between slices so that it holds nobody back. */
#define KEYS_WALK_SLICE 4096
/* The sweep: buckets per fkv_sweep call, and time per cron call. */
#define KEYS_SWEEP_SLICE 256
#define KEYS_SWEEP_BUDGET_NS 1000000

static const char err_not_int[] = "ERR value is not an integer or out of range";

/* True when a record with this expiry is gone at `now`. */
static bool is_dead(int64_t expire_ms, int64_t now)
{
	return expire_ms != 0 && expire_ms <= now;
}

static void reply_nokey(cmd_ctx *ctx)
{
	resp_add_error(ctx->out, "ERR no such key");
}

/* ---- Reading a key ---------------------------------------------------- */

struct kread {
	bool want_value; /* copy the value out (into malloc'd memory) */
	bool found;
	bool oom;
	int64_t expire_ms;
	uint8_t *val;
	uint32_t len;
};

static void kread_cb(void *p, const uint8_t *value, uint32_t len,
		     int64_t expire_ms)
{
	struct kread *r = p;
	r->found = true;
	r->expire_ms = expire_ms;
	r->len = len;
	if (!r->want_value)
		return;
	r->val = malloc(len > 0 ? len : 1);
	if (r->val == NULL) {
		r->oom = true;
		return;
	}
	memcpy(r->val, value, len);
}

/* Looks an engine key up.  Returns true when it is live at ctx->now_ms;
 * with want_value, r->val then holds a copy the caller frees (on an
 * allocation failure r->oom is set and false returned). */
static bool kread(cmd_ctx *ctx, const uint8_t *key, uint32_t klen,
		  bool want_value, struct kread *r)
{
	memset(r, 0, sizeof(*r));
	r->want_value = want_value;
	if (key == NULL) {
		r->oom = true;
		return false;
	}
	if (fkv_read(ctx->s, key, klen, kread_cb, r) != FKV_OK || r->oom)
		return false;
	if (is_dead(r->expire_ms, ctx->now_ms)) {
		free(r->val);
		r->val = NULL;
		r->found = false;
		return false;
	}
	return true;
}

/* Looks argv[i] up in the client's database. */
static bool exists_arg(cmd_ctx *ctx, int i, int64_t *expire_ms)
{
	uint32_t klen;
	const uint8_t *key = cmd_key(ctx, i, 0, &klen);
	struct kread r;
	bool found = kread(ctx, key, klen, false, &r);
	if (expire_ms != NULL)
		*expire_ms = r.expire_ms;
	return found;
}

/* ---- DEL, UNLINK, EXISTS, TOUCH, TYPE ------------------------------- */

static void del_generic(cmd_ctx *ctx)
{
	int64_t deleted = 0;
	for (int i = 1; i < ctx->argc; i++) {
		uint32_t klen;
		const uint8_t *key = cmd_key(ctx, i, 0, &klen);
		if (key == NULL) {
			cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
			return;
		}
		int rc = fkv_delete(ctx->s, key, klen);
		if (rc == FKV_OK)
			deleted++;
		else if (rc != FKV_NOT_FOUND) {
			cmd_reply_engine_error(ctx, rc);
			return;
		}
	}
	resp_add_int(ctx->out, deleted);
}

static void cmd_del(cmd_ctx *ctx)
{
	del_generic(ctx);
}

/* Values are freed with their records (nothing to hand to a background
 * thread), so UNLINK is DEL. */
static void cmd_unlink(cmd_ctx *ctx)
{
	del_generic(ctx);
}

/* EXISTS and TOUCH count every argument that exists, repeats included.
 * There is no access time to update, so TOUCH is EXISTS. */
static void count_existing(cmd_ctx *ctx)
{
	int64_t n = 0;
	for (int i = 1; i < ctx->argc; i++)
		if (exists_arg(ctx, i, NULL))
			n++;
	resp_add_int(ctx->out, n);
}

static void cmd_exists(cmd_ctx *ctx)
{
	count_existing(ctx);
}

static void cmd_touch(cmd_ctx *ctx)
{
	count_existing(ctx);
}

/* Only strings exist so far. */
static void cmd_type(cmd_ctx *ctx)
{
	resp_add_simple(ctx->out, exists_arg(ctx, 1, NULL) ? "string" : "none");
}

/* ---- Expiry ------------------------------------------------------------ */

enum {
	EXP_NX = 1 << 0,
	EXP_XX = 1 << 1,
	EXP_GT = 1 << 2,
	EXP_LT = 1 << 3,
};

/* One change of a key's expiry, decided against the current one. */
struct exp_op {
	/* inputs */
	int flags;
	bool persist; /* PERSIST: remove the expiry */
	int64_t when; /* the new expiry (Unix ms), unless persist */
	int64_t now;  /* ctx->now_ms */
	/* output, overwritten by every callback run */
	int result; /* the reply: 1 changed (or deleted), 0 not */
};

/* What the change does to a live key whose expiry is `cur` (0: none):
 * returns false (result 0) when a condition fails or there is nothing to
 * do, else true with *next set (KEYS_DELETED_MS: the key goes). */
static bool exp_decide(const struct exp_op *x, int64_t cur, int64_t *next)
{
	if (x->persist) {
		*next = 0;
		return cur != 0;
	}
	/* Redis's order: NX, XX, GT, LT; no expiry counts as infinite. */
	if ((x->flags & EXP_NX) && cur != 0)
		return false;
	if ((x->flags & EXP_XX) && cur == 0)
		return false;
	if ((x->flags & EXP_GT) && (cur == 0 || x->when <= cur))
		return false;
	if ((x->flags & EXP_LT) && cur != 0 && x->when >= cur)
		return false;
	*next = x->when <= x->now ? KEYS_DELETED_MS : x->when;
	return true;
}

static int exp_new_len(void *p, const uint8_t *old, uint32_t old_len,
		       uint32_t *new_len, int64_t *expire_ms)
{
	struct exp_op *x = p;
	x->result = 0;
	if (old == NULL || is_dead(*expire_ms, x->now))
		return FKV_ABORTED;
	int64_t next;
	if (!exp_decide(x, *expire_ms, &next))
		return FKV_ABORTED;
	x->result = 1;
	*expire_ms = next;
	*new_len = next == KEYS_DELETED_MS ? 0 : old_len;
	return FKV_OK;
}

static void exp_write(void *p, const uint8_t *old, uint32_t old_len,
		      uint8_t *dst, uint32_t new_len)
{
	(void)p;
	if (new_len > 0 && old != NULL && new_len <= old_len)
		memcpy(dst, old, new_len);
}

static int exp_in_place(void *p, uint8_t *value, uint32_t *len, uint32_t cap,
			int64_t *expire_ms)
{
	struct exp_op *x = p;
	(void)value;
	(void)cap;
	x->result = 0;
	int64_t cur = expire_ms != NULL ? *expire_ms : 0;
	if (is_dead(cur, x->now))
		return FKV_ABORTED;
	int64_t next;
	if (!exp_decide(x, cur, &next))
		return FKV_ABORTED;
	if (expire_ms == NULL)
		return FKV_RMW_COPY; /* no room for an expiry: copy */
	x->result = 1;
	*expire_ms = next;
	if (next == KEYS_DELETED_MS)
		*len = 0;
	return FKV_OK;
}

static const fkv_rmw_ops exp_ops = {
	.new_len = exp_new_len,
	.write = exp_write,
	.in_place = exp_in_place,
};

/* Runs an expiry change on argv[1] and replies 1 or 0. */
static void exp_apply(cmd_ctx *ctx, struct exp_op *x)
{
	uint32_t klen;
	const uint8_t *key = cmd_key(ctx, 1, 0, &klen);
	if (key == NULL) {
		cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
		return;
	}
	int rc = fkv_rmw(ctx->s, key, klen, &exp_ops, x);
	if (rc == FKV_OK || rc == FKV_ABORTED)
		resp_add_int(ctx->out, rc == FKV_OK ? x->result : 0);
	else
		cmd_reply_engine_error(ctx, rc);
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX | XX | GT | LT]:
 * `base` is the time the argument counts from (0 for the *AT forms),
 * `unit_ms` 1000 for seconds, 1 for milliseconds. */
static void expire_generic(cmd_ctx *ctx, const char *name, int64_t base,
			   int64_t unit_ms)
{
	struct exp_op x = {.now = ctx->now_ms};
	bool nx = false, xx = false, gt = false, lt = false;
	for (int i = 3; i < ctx->argc; i++) {
		if (cmd_arg_is(ctx, i, "nx"))
			nx = true;
		else if (cmd_arg_is(ctx, i, "xx"))
			xx = true;
		else if (cmd_arg_is(ctx, i, "gt"))
			gt = true;
		else if (cmd_arg_is(ctx, i, "lt"))
			lt = true;
		else {
			resp_add_errorf(ctx->out, "ERR Unsupported option %.*s",
					(int)ctx->argv_len[i], ctx->argv[i]);
			return;
		}
	}
	if (nx && (xx || gt || lt)) {
		resp_add_error(ctx->out, "ERR NX and XX, GT or LT options at "
					 "the same time are not compatible");
		return;
	}
	if (gt && lt) {
		resp_add_error(ctx->out, "ERR GT and LT options at the same "
					 "time are not compatible");
		return;
	}
	x.flags = (nx ? EXP_NX : 0) | (xx ? EXP_XX : 0) | (gt ? EXP_GT : 0) |
		  (lt ? EXP_LT : 0);
	int64_t when;
	if (!cmd_arg_int(ctx, 2, &when))
		return;
	/* Negative times are allowed (the key goes); overflow is not. */
	if (unit_ms == 1000 &&
	    (when > INT64_MAX / 1000 || when < INT64_MIN / 1000)) {
		resp_add_errorf(ctx->out,
				"ERR invalid expire time in '%s' command",
				name);
		return;
	}
	when *= unit_ms;
	if (when > INT64_MAX - base) {
		resp_add_errorf(ctx->out,
				"ERR invalid expire time in '%s' command",
				name);
		return;
	}
	x.when = when + base;
	exp_apply(ctx, &x);
}

static void cmd_expire(cmd_ctx *ctx)
{
	expire_generic(ctx, "expire", ctx->now_ms, 1000);
}

static void cmd_pexpire(cmd_ctx *ctx)
{
	expire_generic(ctx, "pexpire", ctx->now_ms, 1);
}

static void cmd_expireat(cmd_ctx *ctx)
{
	expire_generic(ctx, "expireat", 0, 1000);
}

static void cmd_pexpireat(cmd_ctx *ctx)
{
	expire_generic(ctx, "pexpireat", 0, 1);
}

static void cmd_persist(cmd_ctx *ctx)
{
	struct exp_op x = {.persist = true, .now = ctx->now_ms};
	exp_apply(ctx, &x);
}

/* TTL, PTTL (relative) and EXPIRETIME, PEXPIRETIME (absolute): -2 for a
 * missing key, -1 without expiry; seconds are rounded to nearest. */
static void ttl_generic(cmd_ctx *ctx, bool in_ms, bool absolute)
{
	int64_t exp;
	if (!exists_arg(ctx, 1, &exp)) {
		resp_add_int(ctx->out, -2);
		return;
	}
	if (exp == 0) {
		resp_add_int(ctx->out, -1);
		return;
	}
	int64_t t = absolute ? exp : exp - ctx->now_ms;
	if (t < 0)
		t = 0;
	resp_add_int(ctx->out, in_ms ? t : (t + 500) / 1000);
}

static void cmd_ttl(cmd_ctx *ctx)
{
	ttl_generic(ctx, false, false);
}

static void cmd_pttl(cmd_ctx *ctx)
{
	ttl_generic(ctx, true, false);
}

static void cmd_expiretime(cmd_ctx *ctx)
{
	ttl_generic(ctx, false, true);
}

static void cmd_pexpiretime(cmd_ctx *ctx)
{
	ttl_generic(ctx, true, true);
}

/* ---- RENAME, RENAMENX, COPY ------------------------------------------ */

/* Takes a key's value and expiry out and deletes it, atomically. */
struct take {
	int64_t now;
	/* outputs, overwritten by every callback run */
	bool taken;
	bool oom;
	int64_t expire_ms;
	uint8_t *val; /* malloc'd; the caller frees */
	uint32_t len;
};

static bool take_copy(struct take *t, const uint8_t *v, uint32_t len,
		      int64_t expire_ms)
{
	uint8_t *copy = realloc(t->val, len > 0 ? len : 1);
	if (copy == NULL) {
		t->oom = true;
		return false;
	}
	memcpy(copy, v, len);
	t->val = copy;
	t->len = len;
	t->expire_ms = expire_ms;
	t->taken = true;
	return true;
}

static int take_new_len(void *p, const uint8_t *old, uint32_t old_len,
			uint32_t *new_len, int64_t *expire_ms)
{
	struct take *t = p;
	t->taken = false;
	t->oom = false;
	if (old == NULL || is_dead(*expire_ms, t->now))
		return FKV_ABORTED;
	if (!take_copy(t, old, old_len, *expire_ms))
		return FKV_ABORTED;
	*expire_ms = KEYS_DELETED_MS;
	*new_len = 0;
	return FKV_OK;
}

static void take_write(void *p, const uint8_t *old, uint32_t old_len,
		       uint8_t *dst, uint32_t new_len)
{
	(void)p;
	(void)old;
	(void)old_len;
	(void)dst;
	(void)new_len;
}

static int take_in_place(void *p, uint8_t *value, uint32_t *len, uint32_t cap,
			 int64_t *expire_ms)
{
	struct take *t = p;
	(void)cap;
	t->taken = false;
	t->oom = false;
	if (expire_ms == NULL)
		return FKV_RMW_COPY; /* no room to mark it deleted */
	if (is_dead(*expire_ms, t->now))
		return FKV_ABORTED;
	if (!take_copy(t, value, *len, *expire_ms))
		return FKV_ABORTED;
	*expire_ms = KEYS_DELETED_MS;
	*len = 0;
	return FKV_OK;
}

static const fkv_rmw_ops take_ops = {
	.new_len = take_new_len,
	.write = take_write,
	.in_place = take_in_place,
};

/* Writes a key only if it does not exist (live) already. */
struct put_nx {
	const uint8_t *val;
	uint32_t len;
	int64_t expire_ms;
	int64_t now;
	bool existed; /* output */
};

static int put_nx_new_len(void *p, const uint8_t *old, uint32_t old_len,
			  uint32_t *new_len, int64_t *expire_ms)
{
	struct put_nx *x = p;
	(void)old_len;
	x->existed = old != NULL && !is_dead(*expire_ms, x->now);
	if (x->existed)
		return FKV_ABORTED;
	*expire_ms = x->expire_ms;
	*new_len = x->len;
	return FKV_OK;
}

static void put_nx_write(void *p, const uint8_t *old, uint32_t old_len,
			 uint8_t *dst, uint32_t new_len)
{
	struct put_nx *x = p;
	(void)old;
	(void)old_len;
	if (new_len > 0)
		memcpy(dst, x->val, new_len);
}

static int put_nx_in_place(void *p, uint8_t *value, uint32_t *len, uint32_t cap,
			   int64_t *expire_ms)
{
	struct put_nx *x = p;
	(void)value;
	(void)len;
	(void)cap;
	x->existed = !is_dead(expire_ms != NULL ? *expire_ms : 0, x->now);
	return x->existed ? FKV_ABORTED : FKV_RMW_COPY;
}

static const fkv_rmw_ops put_nx_ops = {
	.new_len = put_nx_new_len,
	.write = put_nx_write,
	.in_place = put_nx_in_place,
};

/* Returns FKV_OK (written), FKV_ABORTED (the key exists) or an error. */
static int put_nx(cmd_ctx *ctx, const uint8_t *key, uint32_t klen,
		  const uint8_t *val, uint32_t len, int64_t expire_ms)
{
	struct put_nx x = {.val = val,
			   .len = len,
			   .expire_ms = expire_ms,
			   .now = ctx->now_ms};
	return fkv_rmw(ctx->s, key, klen, &put_nx_ops, &x);
}

static bool same_arg(const cmd_ctx *ctx, int a, int b)
{
	return ctx->argv_len[a] == ctx->argv_len[b] &&
	       memcmp(ctx->argv[a], ctx->argv[b], ctx->argv_len[a]) == 0;
}

/* RENAME / RENAMENX key newkey.  The source is taken (read and deleted in
 * one RMW), then the destination written; if that fails, or with NX the
 * destination turns out to exist, the source is put back unless someone
 * wrote it meanwhile. */
static void rename_generic(cmd_ctx *ctx, bool nx)
{
	if (!exists_arg(ctx, 1, NULL)) {
		reply_nokey(ctx);
		return;
	}
	if (same_arg(ctx, 1, 2)) {
		if (nx)
			resp_add_int(ctx->out, 0);
		else
			resp_add_ok(ctx->out);
		return;
	}
	if (nx && exists_arg(ctx, 2, NULL)) {
		resp_add_int(ctx->out, 0);
		return;
	}
	uint32_t slen, dlen;
	const uint8_t *src = cmd_key(ctx, 1, 0, &slen);
	const uint8_t *dst = cmd_key(ctx, 2, 1, &dlen);
	if (src == NULL || dst == NULL) {
		cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
		return;
	}
	struct take t = {.now = ctx->now_ms};
	int rc = fkv_rmw(ctx->s, src, slen, &take_ops, &t);
	if (rc != FKV_OK || !t.taken) {
		if (t.oom)
			cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
		else if (rc == FKV_OK || rc == FKV_ABORTED)
			reply_nokey(ctx); /* gone since the check above */
		else
			cmd_reply_engine_error(ctx, rc);
		free(t.val);
		return;
	}
	if (nx)
		rc = put_nx(ctx, dst, dlen, t.val, t.len, t.expire_ms);
	else
		rc = fkv_upsert(ctx->s, dst, dlen, t.val, t.len, t.expire_ms);
	if (rc != FKV_OK)
		(void)put_nx(ctx, src, slen, t.val, t.len, t.expire_ms);
	free(t.val);
	if (rc == FKV_OK) {
		if (nx)
			resp_add_int(ctx->out, 1);
		else
			resp_add_ok(ctx->out);
	} else if (rc == FKV_ABORTED) {
		resp_add_int(ctx->out, 0);
	} else {
		cmd_reply_engine_error(ctx, rc);
	}
}

static void cmd_rename(cmd_ctx *ctx)
{
	rename_generic(ctx, false);
}

static void cmd_renamenx(cmd_ctx *ctx)
{
	rename_generic(ctx, true);
}

/* COPY source destination [DB destination-db] [REPLACE] */
static void cmd_copy(cmd_ctx *ctx)
{
	int db = ctx->c->db;
	bool replace = false;
	for (int i = 3; i < ctx->argc; i++) {
		if (cmd_arg_is(ctx, i, "replace")) {
			replace = true;
		} else if (cmd_arg_is(ctx, i, "db") && i + 1 < ctx->argc) {
			int64_t v;
			if (!cmd_parse_ll(ctx->argv[i + 1],
					  ctx->argv_len[i + 1], &v)) {
				resp_add_error(ctx->out, err_not_int);
				return;
			}
			if (v < INT32_MIN || v > INT32_MAX) {
				resp_add_error(
					ctx->out,
					"ERR value is out of range, value "
					"must between -2147483648 and "
					"2147483647");
				return;
			}
			if (v < 0 || v >= cfg_get_int(&server.cfg.databases)) {
				resp_add_error(ctx->out,
					       "ERR DB index is out of range");
				return;
			}
			db = (int)v;
			i++;
		} else {
			cmd_err_syntax(ctx);
			return;
		}
	}
	if (db == ctx->c->db && same_arg(ctx, 1, 2)) {
		resp_add_error(ctx->out,
			       "ERR source and destination objects are the "
			       "same");
		return;
	}
	uint32_t slen, dlen;
	const uint8_t *src = cmd_key(ctx, 1, 0, &slen);
	struct kread r;
	if (!kread(ctx, src, slen, true, &r)) {
		if (r.oom)
			cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
		else
			resp_add_int(ctx->out, 0);
		return;
	}
	const uint8_t *dst = cmd_key_bytes(ctx, db, ctx->argv[2],
					   ctx->argv_len[2], 1, &dlen);
	int rc;
	if (dst == NULL)
		rc = FKV_OUT_OF_MEMORY;
	else if (replace)
		rc = fkv_upsert(ctx->s, dst, dlen, r.val, r.len, r.expire_ms);
	else
		rc = put_nx(ctx, dst, dlen, r.val, r.len, r.expire_ms);
	free(r.val);
	if (rc == FKV_OK || rc == FKV_ABORTED)
		resp_add_int(ctx->out, rc == FKV_OK ? 1 : 0);
	else
		cmd_reply_engine_error(ctx, rc);
}

/* ---- Walking the keyspace -------------------------------------------- */

/* Keys collected by a scan callback: each is a u32 length, then bytes. */
struct klist {
	uint8_t *buf;
	size_t len, cap;
	uint64_t n;
	bool oom;
};

static void klist_add(struct klist *l, const uint8_t *key, uint32_t len)
{
	size_t need = l->len + sizeof(uint32_t) + len;
	if (need > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *b = realloc(l->buf, cap);
		if (b == NULL) {
			l->oom = true;
			return;
		}
		l->buf = b;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, &len, sizeof(len));
	memcpy(l->buf + l->len + sizeof(len), key, len);
	l->len = need;
	l->n++;
}

/* Iterates a list: returns the next key at *pos, or NULL at the end. */
static const uint8_t *klist_next(const struct klist *l, size_t *pos,
				 uint32_t *len)
{
	if (*pos >= l->len)
		return NULL;
	memcpy(len, l->buf + *pos, sizeof(*len));
	const uint8_t *k = l->buf + *pos + sizeof(*len);
	*pos += sizeof(*len) + *len;
	return k;
}

static void klist_clear(struct klist *l)
{
	l->len = 0;
	l->n = 0;
}

static void klist_free(struct klist *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

/* How many times the index has doubled.  A walk of the whole index may
 * visit a key twice only if this changed meanwhile (see fkv_scan). */
static uint64_t index_grows(void)
{
	fkv_stats st;
	fkv_store_stats(server.store, &st);
	return st.index_grows;
}

/* qsort's comparison has no context argument: the list being sorted, per
 * worker thread. */
static _Thread_local const uint8_t *dedupe_base;

static int by_key(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	uint32_t lx, ly;
	memcpy(&lx, dedupe_base + x, sizeof(lx));
	memcpy(&ly, dedupe_base + y, sizeof(ly));
	int c = memcmp(dedupe_base + x + sizeof(lx),
		       dedupe_base + y + sizeof(ly), lx < ly ? lx : ly);
	return c != 0 ? c : (lx > ly) - (lx < ly);
}

/* Drops repeated keys from a list (sorting it).  Returns false when
 * memory ran out (the list is then unchanged). */
static bool klist_dedupe(struct klist *l)
{
	if (l->n < 2)
		return true;
	size_t *offs = malloc(l->n * sizeof(*offs));
	uint8_t *buf = malloc(l->len);
	if (offs == NULL || buf == NULL) {
		free(offs);
		free(buf);
		return false;
	}
	size_t pos = 0, n = 0;
	uint32_t len;
	while (klist_next(l, &pos, &len) != NULL)
		offs[n++] = pos - len - sizeof(len);
	dedupe_base = l->buf;
	qsort(offs, n, sizeof(*offs), by_key);
	size_t out = 0;
	uint64_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && by_key(&offs[i - 1], &offs[i]) == 0)
			continue;
		memcpy(&len, l->buf + offs[i], sizeof(len));
		memcpy(buf + out, l->buf + offs[i], sizeof(len) + len);
		out += sizeof(len) + len;
		kept++;
	}
	free(offs);
	free(l->buf);
	l->buf = buf;
	l->len = out;
	l->n = kept;
	return true;
}

/* What a scan callback keeps: live engine keys of one database (db < 0:
 * every database), whole (database byte included). */
struct collect {
	struct klist *out;
	int db;
	int64_t now;
	uint64_t count; /* keys kept */
	bool count_only;
};

static void collect_cb(void *p, const uint8_t *key, uint32_t len,
		       int64_t expire_ms)
{
	struct collect *c = p;
	if (len < 1 || (c->db >= 0 && key[0] != (uint8_t)c->db) ||
	    is_dead(expire_ms, c->now))
		return;
	c->count++;
	if (!c->count_only)
		klist_add(c->out, key, len);
}

/* KEYS pattern */
static void cmd_keys(cmd_ctx *ctx)
{
	const char *pat = ctx->argv[1];
	size_t plen = ctx->argv_len[1];
	bool all = plen == 1 && pat[0] == '*';
	struct klist slice = {0}, out = {0};
	struct collect c = {
		.out = &slice, .db = ctx->c->db, .now = ctx->now_ms};
	uint64_t cur = 0, grows = index_grows();
	do {
		klist_clear(&slice);
		fkv_scan(ctx->s, &cur, KEYS_WALK_SLICE, collect_cb, &c);
		size_t pos = 0;
		uint32_t len;
		const uint8_t *k;
		while ((k = klist_next(&slice, &pos, &len)) != NULL)
			if (all ||
			    cmd_glob_match(pat, plen, k + 1, len - 1, false))
				klist_add(&out, k, len);
		if (cur != 0)
			fkv_refresh(ctx->s);
	} while (cur != 0 && !slice.oom && !out.oom);
	/* Redis's KEYS never repeats a key; a walk across a growth may. */
	if (!out.oom && index_grows() != grows && !klist_dedupe(&out))
		out.oom = true;
	if (slice.oom || out.oom) {
		cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
	} else {
		resp_add_array(ctx->out, (int64_t)out.n);
		size_t pos = 0;
		uint32_t len;
		const uint8_t *k;
		while ((k = klist_next(&out, &pos, &len)) != NULL)
			resp_add_bulk(ctx->out, k + 1, len - 1);
	}
	klist_free(&slice);
	klist_free(&out);
}

/* Parses a SCAN cursor as Redis does (strtoul): optional sign, decimal
 * digits up to the first NUL byte; no leading space, nothing after, no
 * overflow.  "-1" wraps around, as in Redis. */
static bool parse_cursor(const char *s, size_t n, uint64_t *out)
{
	char stack[64];
	char *buf = n < sizeof(stack) ? stack : malloc(n + 1);
	if (buf == NULL)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	bool ok = !(buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r')) &&
		  *end == '\0' && errno != ERANGE;
	if (buf != stack)
		free(buf);
	*out = (uint64_t)v;
	return ok;
}

/* SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
 *
 * As in Redis, a call visits buckets until it holds COUNT keys or has
 * visited 10 * COUNT buckets, here at most KEYS_SCAN_MAX_BUCKETS, so that
 * a huge COUNT costs a bounded amount of work; MATCH and TYPE filter what
 * was gathered.  The cursor is fkv_scan's: every key present for the
 * whole iteration is returned at least once (exactly once unless the index
 * grew meanwhile). */
static void cmd_scan(cmd_ctx *ctx)
{
	uint64_t cur;
	if (!parse_cursor(ctx->argv[1], ctx->argv_len[1], &cur)) {
		resp_add_error(ctx->out, "ERR invalid cursor");
		return;
	}
	int64_t count = 10;
	const char *pat = NULL, *type = NULL;
	size_t plen = 0, tlen = 0;
	for (int i = 2; i < ctx->argc; i++) {
		bool arg = i + 1 < ctx->argc;
		if (cmd_arg_is(ctx, i, "count") && arg) {
			if (!cmd_arg_int(ctx, i + 1, &count))
				return;
			if (count < 1) {
				cmd_err_syntax(ctx);
				return;
			}
		} else if (cmd_arg_is(ctx, i, "match") && arg) {
			pat = ctx->argv[i + 1];
			plen = ctx->argv_len[i + 1];
		} else if (cmd_arg_is(ctx, i, "type") && arg) {
			type = ctx->argv[i + 1];
			tlen = ctx->argv_len[i + 1];
		} else {
			cmd_err_syntax(ctx);
			return;
		}
		i++;
	}
	if (pat != NULL && plen == 1 && pat[0] == '*')
		pat = NULL;
	/* Only strings exist; Redis 7.2 answers an unknown type with
	 * nothing rather than an error. */
	bool type_ok = type == NULL ||
		       (tlen == 6 && strncasecmp(type, "string", 6) == 0);

	uint64_t max_buckets = (uint64_t)count > KEYS_SCAN_MAX_BUCKETS / 10
				       ? KEYS_SCAN_MAX_BUCKETS
				       : (uint64_t)count * 10;
	struct klist keys = {0};
	struct collect c = {.out = &keys, .db = ctx->c->db, .now = ctx->now_ms};
	uint64_t visited = 0;
	do {
		fkv_scan(ctx->s, &cur, 1, collect_cb, &c);
		visited++;
	} while (cur != 0 && visited < max_buckets &&
		 c.count < (uint64_t)count && !keys.oom);
	if (keys.oom) {
		klist_free(&keys);
		cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
		return;
	}
	uint64_t n = 0;
	size_t pos = 0;
	uint32_t len;
	const uint8_t *k;
	if (type_ok)
		while ((k = klist_next(&keys, &pos, &len)) != NULL)
			if (pat == NULL ||
			    cmd_glob_match(pat, plen, k + 1, len - 1, false))
				n++;
	char num[24];
	int nl = snprintf(num, sizeof(num), "%" PRIu64, cur);
	resp_add_array(ctx->out, 2);
	resp_add_bulk(ctx->out, num, (size_t)nl);
	resp_add_array(ctx->out, (int64_t)n);
	pos = 0;
	if (type_ok)
		while ((k = klist_next(&keys, &pos, &len)) != NULL)
			if (pat == NULL ||
			    cmd_glob_match(pat, plen, k + 1, len - 1, false))
				resp_add_bulk(ctx->out, k + 1, len - 1);
	klist_free(&keys);
}

/* Bit reversal: SCAN cursors advance by incrementing their reversed bits
 * (see scan.c). */
static uint64_t rev64(uint64_t v)
{
	uint64_t r = 0;
	for (int i = 0; i < 64; i++, v >>= 1)
		r = (r << 1) | (v & 1);
	return r;
}

/* A per-thread generator for RANDOMKEY (splitmix64). */
static uint64_t keys_random(void)
{
	static _Thread_local uint64_t state;
	if (state == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
			(uint64_t)(uintptr_t)&state;
	}
	uint64_t z = (state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* RANDOMKEY: starts at a random bucket and walks on (wrapping once) to
 * the first slice that holds keys of the database, then picks one of
 * those.  Keys after long empty stretches are likelier picks, a bias
 * Redis's own sampling shares in kind.  An empty database costs a walk
 * of the whole index (Redis: O(1)). */
static void cmd_randomkey(cmd_ctx *ctx)
{
	struct klist keys = {0};
	struct collect c = {.out = &keys, .db = ctx->c->db, .now = ctx->now_ms};
	uint64_t start = keys_random();
	uint64_t cur = start;
	bool wrapped = false;
	for (;;) {
		fkv_scan(ctx->s, &cur, 256, collect_cb, &c);
		if (keys.n > 0 || keys.oom)
			break;
		if (cur == 0) {
			if (wrapped)
				break;
			wrapped = true;
		}
		/* Past the start again (cursors grow in reversed bits). */
		if (wrapped && cur != 0 && rev64(cur) >= rev64(start))
			break;
		fkv_refresh(ctx->s);
	}
	if (keys.oom) {
		cmd_reply_engine_error(ctx, FKV_OUT_OF_MEMORY);
	} else if (keys.n == 0) {
		resp_add_null(ctx->out);
	} else {
		uint64_t pick = keys_random() % keys.n;
		size_t pos = 0;
		uint32_t len = 0;
		const uint8_t *k = NULL;
		for (uint64_t i = 0; i <= pick; i++)
			k = klist_next(&keys, &pos, &len);
		resp_add_bulk(ctx->out, k + 1, len - 1);
	}
	klist_free(&keys);
}

/* DBSIZE: a full walk of the index, O(buckets + keys), as the engine
 * keeps no count per database yet (Redis: O(1)).  A walk across an index
 * growth may count a key twice: it is then done again (a few times at
 * most; growths are rare and each doubles the index). */
static void cmd_dbsize(cmd_ctx *ctx)
{
	struct collect c;
	for (int attempt = 0; attempt < 4; attempt++) {
		c = (struct collect){.db = ctx->c->db,
				     .now = ctx->now_ms,
				     .count_only = true};
		uint64_t cur = 0, grows = index_grows();
		do {
			fkv_scan(ctx->s, &cur, KEYS_WALK_SLICE, collect_cb, &c);
			if (cur != 0)
				fkv_refresh(ctx->s);
		} while (cur != 0);
		if (index_grows() == grows)
			break;
	}
	resp_add_int(ctx->out, (int64_t)c.count);
}

/* Deletes every key of database db (db < 0: all), a slice of the index at
 * a time: the slice's keys are gathered, deleted, and the slice swept so
 * that their index entries go too.  Returns FKV_OK or an engine error. */
static int flush_keys(cmd_ctx *ctx, int db)
{
	struct klist slice = {0};
	struct collect c = {.out = &slice, .db = db, .now = ctx->now_ms};
	uint64_t cur = 0;
	int rc = FKV_OK;
	do {
		uint64_t from = cur;
		klist_clear(&slice);
		fkv_scan(ctx->s, &cur, KEYS_WALK_SLICE, collect_cb, &c);
		if (slice.oom) {
			rc = FKV_OUT_OF_MEMORY;
			break;
		}
		size_t pos = 0;
		uint32_t len;
		const uint8_t *k;
		while ((k = klist_next(&slice, &pos, &len)) != NULL) {
			int d = fkv_delete(ctx->s, k, len);
			if (d != FKV_OK && d != FKV_NOT_FOUND)
				rc = d;
		}
		if (rc != FKV_OK)
			break;
		(void)fkv_sweep(ctx->s, &from, KEYS_WALK_SLICE, NULL, NULL,
				NULL);
	} while (cur != 0);
	klist_free(&slice);
	return rc;
}

/* FLUSHDB / FLUSHALL [ASYNC | SYNC]: both modes flush before replying. */
static void flush_generic(cmd_ctx *ctx, bool all)
{
	if (ctx->argc > 2 || (ctx->argc == 2 && !cmd_arg_is(ctx, 1, "async") &&
			      !cmd_arg_is(ctx, 1, "sync"))) {
		cmd_err_syntax(ctx);
		return;
	}
	/* FLUSHALL clears the whole index at once: no key is read, on disk
	 * or in memory.  FLUSHDB deletes its database's keys one by one. */
	int rc = all ? fkv_clear(ctx->s) : flush_keys(ctx, ctx->c->db);
	/* As Redis does with save points set, FLUSHALL saves at once, so
	 * that a crash cannot bring the old data set back.  (A checkpoint
	 * under way when the clear came fails: it cannot hold it.) */
	if (rc == FKV_OK && all && persist_supported() && !aof_replaying() &&
	    persist_has_save_points() &&
	    persist_save_now(ctx->s) != PERSIST_STARTED)
		rf_log(RF_LOG_WARNING,
		       "The save after FLUSHALL failed: a crash before the "
		       "next "
		       "checkpoint would bring back the data it cleared");
	if (rc == FKV_OK)
		resp_add_ok(ctx->out);
	else
		cmd_reply_engine_error(ctx, rc);
}

static void cmd_flushdb(cmd_ctx *ctx)
{
	flush_generic(ctx, false);
}

static void cmd_flushall(cmd_ctx *ctx)
{
	flush_generic(ctx, true);
}

/* ---- The expired-key sweep ------------------------------------------- */

static void count_expired_cb(void *p, const uint8_t *key, uint32_t len,
			     int64_t expire_ms)
{
	uint64_t *n = p;
	(void)key;
	(void)len;
	if (expire_ms > KEYS_DELETED_MS) /* deleted keys are not "expired" */
		(*n)++;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sweeps slices of the index from *cursor for about
 * KEYS_SWEEP_BUDGET_NS, stopping early at the end of a pass (so that a
 * small index is not swept over and over within one call).  Each worker
 * walks with its own cursor; the engine makes concurrent sweeps safe.
 * The engine judges expiry by its own clock, refreshed by fkv_sweep, so
 * now_ms is not needed. */
void cmd_keys_cron(fkv_session *s, uint64_t *cursor, int64_t now_ms)
{
	(void)now_ms;
	uint64_t expired = 0;
	int64_t start = mono_ns();
	do {
		(void)fkv_sweep(s, cursor, KEYS_SWEEP_SLICE, count_expired_cb,
				&expired, NULL);
	} while (*cursor != 0 && mono_ns() - start < KEYS_SWEEP_BUDGET_NS);
	if (expired > 0)
		atomic_fetch_add_explicit(&server.expired_keys, expired,
					  memory_order_relaxed);
}

/* ---- The table ------------------------------------------------------- */

#define RO_FAST (CMD_READONLY | CMD_FAST)
#define RW_FAST (CMD_WRITE | CMD_FAST)

const cmd_def cmd_keys_table[] = {
	{"copy", cmd_copy, -3, CMD_WRITE | CMD_DENYOOM, 1, 2, 1, "generic",
	 "Copies the value of a key to a new key.", "6.2.0",
	 "O(N) worst case for collections, where N is the number of nested "
	 "items. O(1) for string values.",
	 NULL},
	{"dbsize", cmd_dbsize, 1, RO_FAST, 0, 0, 0, "server",
	 "Returns the number of keys in the database.", "1.0.0", "O(1)", NULL},
	{"del", cmd_del, -2, CMD_WRITE, 1, -1, 1, "generic",
	 "Deletes one or more keys.", "1.0.0",
	 "O(N) where N is the number of keys that will be removed. When a key "
	 "to remove holds a value other than a string, the individual "
	 "complexity for this key is O(M) where M is the number of elements "
	 "in the list, set, sorted set or hash. Removing a single key that "
	 "holds a string value is O(1).",
	 NULL},
	{"exists", cmd_exists, -2, RO_FAST, 1, -1, 1, "generic",
	 "Determines whether one or more keys exist.", "1.0.0",
	 "O(N) where N is the number of keys to check.", NULL},
	{"expire", cmd_expire, -3, RW_FAST, 1, 1, 1, "generic",
	 "Sets the expiration time of a key in seconds.", "1.0.0", "O(1)",
	 NULL},
	{"expireat", cmd_expireat, -3, RW_FAST, 1, 1, 1, "generic",
	 "Sets the expiration time of a key to a Unix timestamp.", "1.2.0",
	 "O(1)", NULL},
	{"expiretime", cmd_expiretime, 2, RO_FAST, 1, 1, 1, "generic",
	 "Returns the expiration time of a key as a Unix timestamp.", "7.0.0",
	 "O(1)", NULL},
	{"flushall", cmd_flushall, -1, CMD_WRITE, 0, 0, 0, "server",
	 "Removes all keys from all databases.", "1.0.0",
	 "O(N) where N is the total number of keys in all databases", NULL},
	{"flushdb", cmd_flushdb, -1, CMD_WRITE, 0, 0, 0, "server",
	 "Remove all keys from the current database.", "1.0.0",
	 "O(N) where N is the number of keys in the selected database", NULL},
	{"keys", cmd_keys, 2, CMD_READONLY, 0, 0, 0, "generic",
	 "Returns all key names that match a pattern.", "1.0.0",
	 "O(N) with N being the number of keys in the database, under the "
	 "assumption that the key names in the database and the given "
	 "pattern have limited length.",
	 NULL},
	{"persist", cmd_persist, 2, RW_FAST, 1, 1, 1, "generic",
	 "Removes the expiration time of a key.", "2.2.0", "O(1)", NULL},
	{"pexpire", cmd_pexpire, -3, RW_FAST, 1, 1, 1, "generic",
	 "Sets the expiration time of a key in milliseconds.", "2.6.0", "O(1)",
	 NULL},
	{"pexpireat", cmd_pexpireat, -3, RW_FAST, 1, 1, 1, "generic",
	 "Sets the expiration time of a key to a Unix milliseconds timestamp.",
	 "2.6.0", "O(1)", NULL},
	{"pexpiretime", cmd_pexpiretime, 2, RO_FAST, 1, 1, 1, "generic",
	 "Returns the expiration time of a key as a Unix milliseconds "
	 "timestamp.",
	 "7.0.0", "O(1)", NULL},
	{"pttl", cmd_pttl, 2, RO_FAST, 1, 1, 1, "generic",
	 "Returns the expiration time in milliseconds of a key.", "2.6.0",
	 "O(1)", NULL},
	{"randomkey", cmd_randomkey, 1, CMD_READONLY, 0, 0, 0, "generic",
	 "Returns a random key name from the database.", "1.0.0", "O(1)", NULL},
	{"rename", cmd_rename, 3, CMD_WRITE, 1, 2, 1, "generic",
	 "Renames a key and overwrites the destination.", "1.0.0", "O(1)",
	 NULL},
	{"renamenx", cmd_renamenx, 3, RW_FAST, 1, 2, 1, "generic",
	 "Renames a key only when the target key name doesn't exist.", "1.0.0",
	 "O(1)", NULL},
	{"scan", cmd_scan, -2, CMD_READONLY, 0, 0, 0, "generic",
	 "Iterates over the key names in the database.", "2.8.0",
	 "O(1) for every call. O(N) for a complete iteration, including "
	 "enough command calls for the cursor to return back to 0. N is the "
	 "number of elements inside the collection.",
	 NULL},
	{"touch", cmd_touch, -2, RO_FAST, 1, -1, 1, "generic",
	 "Returns the number of existing keys out of those specified after "
	 "updating the time they were last accessed.",
	 "3.2.1", "O(N) where N is the number of keys that will be touched.",
	 NULL},
	{"ttl", cmd_ttl, 2, RO_FAST, 1, 1, 1, "generic",
	 "Returns the expiration time in seconds of a key.", "1.0.0", "O(1)",
	 NULL},
	{"type", cmd_type, 2, RO_FAST, 1, 1, 1, "generic",
	 "Determines the type of value stored at a key.", "1.0.0", "O(1)",
	 NULL},
	{"unlink", cmd_unlink, -2, RW_FAST, 1, -1, 1, "generic",
	 "Asynchronously deletes one or more keys.", "4.0.0",
	 "O(1) for each key removed regardless of its size. Then the command "
	 "does O(N) work in a different thread in order to reclaim memory, "
	 "where N is the number of allocations the deleted objects where "
	 "composed of.",
	 NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL},
};
