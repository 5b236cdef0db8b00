/*
 * test_util.h - helpers shared by the engine's operation tests
 * (test_ops.c, test_concurrency.c): opening small stores, reading a value
 * into a buffer, and an INCR-style RMW over an 8-byte counter.
 *
 * Everything here is static inline so that each test file takes only what
 * it uses.  Nothing here asserts: helpers return statuses and the tests
 * check them, which keeps the helpers usable from worker threads too.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fkv.h"

/* A store small enough to open in every test: `page_bits` pages, `log_size`
 * bytes of log memory, a `buckets`-bucket index that may grow, no huge
 * pages.  Returns fkv_store_open's status. */
static inline int tu_open(fkv_store **out, uint32_t page_bits,
			  uint64_t log_size, double mutable_fraction,
			  uint64_t buckets)
{
	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.index_buckets = buckets;
	cfg.log_memory_size = log_size;
	cfg.page_size_bits = page_bits;
	cfg.mutable_fraction = mutable_fraction;
	cfg.max_sessions = 64;
	cfg.huge_pages = false;
	cfg.index_auto_grow = true;
	return fkv_store_open(&cfg, out);
}

/* 16 MiB of log in 64 KiB pages, 90% mutable: nothing in these tests moves
 * a record out of the mutable region unless it means to. */
static inline int tu_open_default(fkv_store **out)
{
	return tu_open(out, 16, UINT64_C(16) << 20, 0.9, 1024);
}

/* Stops the session and closes the store, if open; clears both. */
static inline void tu_close(fkv_session **s, fkv_store **st)
{
	if (*s != NULL)
		fkv_session_stop(*s);
	*s = NULL;
	if (*st != NULL)
		fkv_store_close(*st);
	*st = NULL;
}

static inline fkv_stats tu_stats(fkv_store *st)
{
	fkv_stats out;
	fkv_store_stats(st, &out);
	return out;
}

static inline int64_t tu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Reading into a buffer ------------------------------------------- */

#define TU_VAL_MAX 8192

struct tu_val {
	int calls; /* how many times the callback ran */
	uint32_t len;
	int64_t expire_ms;
	uint8_t buf[TU_VAL_MAX];
};

static inline void tu_val_cb(void *ctx, const uint8_t *value, uint32_t len,
			     int64_t expire_ms)
{
	struct tu_val *v = ctx;
	v->calls++;
	v->len = len;
	v->expire_ms = expire_ms;
	memcpy(v->buf, value, len < TU_VAL_MAX ? len : TU_VAL_MAX);
}

/* Reads key (a C string, without its terminator) into *v. */
static inline int tu_get(fkv_session *s, const char *key, struct tu_val *v)
{
	memset(v, 0, sizeof(*v));
	return fkv_read(s, key, (uint32_t)strlen(key), tu_val_cb, v);
}

static inline int tu_put(fkv_session *s, const char *key, const char *value)
{
	return fkv_upsert(s, key, (uint32_t)strlen(key), value,
			  (uint32_t)strlen(value), 0);
}

/* True when *v holds exactly the C string `want` (terminator excluded). */
static inline bool tu_val_is(const struct tu_val *v, const char *want)
{
	size_t n = strlen(want);
	return v->len == n && memcmp(v->buf, want, n) == 0;
}

/* ---- Numbered keys and values ----------------------------------------- */

static inline void tu_key_of(char *buf, size_t n, int i)
{
	snprintf(buf, n, "key:%07d", i);
}

/* A value that differs per key and per version, 40..103 bytes long (buf
 * holds at least 104). */
static inline void tu_value_of(char *buf, size_t n, int i, int version)
{
	int len = snprintf(buf, n, "v%d-%d:", version, i);
	int want = 40 + (i * 7 + version) % 64;
	while (len < want && (size_t)len + 1 < n) {
		buf[len] = (char)('a' + (i + len) % 26);
		len++;
	}
	buf[len] = '\0';
}

/* ---- INCR: an 8-byte little-endian counter ---------------------------- */

/* ctx points to the int64_t to add.  An absent key starts at 0; a value
 * that is not 8 bytes long counts as 0 too.  The callbacks depend only on
 * their arguments, as the engine requires (they may run more than once). */
static inline uint64_t tu_counter_get(const uint8_t *p, uint32_t len)
{
	uint64_t v = 0;
	if (p == NULL || len != 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void tu_counter_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline int tu_incr_new_len(void *ctx, const uint8_t *old,
				  uint32_t old_len, uint32_t *new_len,
				  int64_t *expire_ms)
{
	(void)ctx;
	(void)old;
	(void)old_len;
	(void)expire_ms;
	*new_len = 8;
	return FKV_OK;
}

static inline void tu_incr_write(void *ctx, const uint8_t *old,
				 uint32_t old_len, uint8_t *dst,
				 uint32_t new_len)
{
	const int64_t *delta = ctx;
	(void)new_len;
	tu_counter_put(dst, tu_counter_get(old, old_len) + (uint64_t)*delta);
}

static inline int tu_incr_in_place(void *ctx, uint8_t *value, uint32_t *len,
				   uint32_t cap, int64_t *expire_ms)
{
	const int64_t *delta = ctx;
	(void)expire_ms;
	if (*len != 8 || cap < 8)
		return FKV_RMW_COPY;
	tu_counter_put(value, tu_counter_get(value, 8) + (uint64_t)*delta);
	return FKV_OK;
}

static const fkv_rmw_ops tu_incr_ops = {
	.new_len = tu_incr_new_len,
	.write = tu_incr_write,
	.in_place = tu_incr_in_place,
};

/* The same without in_place: every update is a copy. */
static const fkv_rmw_ops tu_incr_copy_ops = {
	.new_len = tu_incr_new_len,
	.write = tu_incr_write,
	.in_place = NULL,
};

static inline int tu_incr(fkv_session *s, const void *key, uint32_t key_len,
			  int64_t delta)
{
	return fkv_rmw(s, key, key_len, &tu_incr_ops, &delta);
}

static inline void tu_counter_cb(void *ctx, const uint8_t *value, uint32_t len,
				 int64_t expire_ms)
{
	(void)expire_ms;
	*(uint64_t *)ctx = len == 8 ? tu_counter_get(value, len) : UINT64_MAX;
}

/* Reads a counter; *out = UINT64_MAX when the value is not 8 bytes. */
static inline int tu_counter_read(fkv_session *s, const void *key,
				  uint32_t key_len, uint64_t *out)
{
	*out = 0;
	return fkv_read(s, key, key_len, tu_counter_cb, out);
}

#endif
