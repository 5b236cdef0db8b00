/*
 * test_ops.c - single-threaded semantics of read, upsert, RMW and delete
 * through the public API (fkv.h): values, binary and empty keys, expiry,
 * the RMW callbacks' contract, the log's regions (in place vs appended),
 * a full log, oversized records, statuses and statistics.
 *
 * Each test opens its own store.  The RMW callbacks below record what they
 * saw in their ctx; that is only an observation for the test: what they
 * write still depends on their arguments alone, as fkv.h requires.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/mman.h>

#include "test_util.h"

static fkv_store *st;
static fkv_session *s;

static void open_with(uint32_t page_bits, uint64_t log_size, double mf)
{
	cr_assert_eq(tu_open(&st, page_bits, log_size, mf, 1024), FKV_OK);
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
}

static void open_default(void)
{
	cr_assert_eq(tu_open_default(&st), FKV_OK);
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
}

static void teardown(void)
{
	tu_close(&s, &st);
}

static fkv_stats stats(void)
{
	return tu_stats(st);
}

/* ---- APPEND: an RMW that appends ctx's suffix ------------------------ */

enum { NO_ABORT, ABORT_NEW_LEN, ABORT_IN_PLACE };

struct append {
	const uint8_t *suffix;
	uint32_t n;
	int abort_in; /* NO_ABORT, ABORT_NEW_LEN or ABORT_IN_PLACE */
	/* Observations. */
	int new_len_calls, write_calls, in_place_calls;
	bool new_len_saw_null;
	int64_t new_len_saw_expiry;
	bool in_place_saw_expiry_ptr;
	int64_t in_place_saw_expiry;
};

static int append_new_len(void *ctx, const uint8_t *old, uint32_t old_len,
			  uint32_t *new_len, int64_t *expire_ms)
{
	struct append *a = ctx;
	a->new_len_calls++;
	a->new_len_saw_null = old == NULL;
	a->new_len_saw_expiry = *expire_ms;
	if (a->abort_in == ABORT_NEW_LEN)
		return FKV_ABORTED;
	*new_len = (old != NULL ? old_len : 0) + a->n;
	return FKV_OK;
}

static void append_write(void *ctx, const uint8_t *old, uint32_t old_len,
			 uint8_t *dst, uint32_t new_len)
{
	struct append *a = ctx;
	a->write_calls++;
	if (old == NULL)
		old_len = 0;
	/* new_len is what append_new_len asked for; stay within it anyway
	 * (no assertion here: this runs inside the engine, under a lock). */
	if (old_len > new_len)
		old_len = new_len;
	if (old_len > 0)
		memcpy(dst, old, old_len);
	memcpy(dst + old_len, a->suffix,
	       new_len - old_len < a->n ? new_len - old_len : a->n);
}

static int append_in_place(void *ctx, uint8_t *value, uint32_t *len,
			   uint32_t cap, int64_t *expire_ms)
{
	struct append *a = ctx;
	a->in_place_calls++;
	a->in_place_saw_expiry_ptr = expire_ms != NULL;
	a->in_place_saw_expiry = expire_ms != NULL ? *expire_ms : 0;
	if (a->abort_in == ABORT_IN_PLACE)
		return FKV_ABORTED;
	if ((uint64_t)*len + a->n > cap)
		return FKV_RMW_COPY;
	memcpy(value + *len, a->suffix, a->n);
	*len += a->n;
	return FKV_OK;
}

static const fkv_rmw_ops append_ops = {
	.new_len = append_new_len,
	.write = append_write,
	.in_place = append_in_place,
};

static const fkv_rmw_ops append_copy_ops = {
	.new_len = append_new_len,
	.write = append_write,
	.in_place = NULL,
};

static int rmw_append(const char *key, const char *suffix, struct append *a)
{
	memset(a, 0, sizeof(*a));
	a->suffix = (const uint8_t *)suffix;
	a->n = (uint32_t)strlen(suffix);
	return fkv_rmw(s, key, (uint32_t)strlen(key), &append_ops, a);
}

/* ---- Reads and upserts ----------------------------------------------- */

TestSuite(ops, .fini = teardown, .timeout = 30);

Test(ops, read_missing_key_is_not_found)
{
	open_default();
	struct tu_val v;
	cr_assert_eq(tu_get(s, "nobody", &v), FKV_NOT_FOUND);
	cr_assert_eq(v.calls, 0, "the callback must not run on a miss");
	cr_assert_eq(tu_put(s, "somebody", "x"), FKV_OK);
	cr_assert_eq(tu_get(s, "nobody", &v), FKV_NOT_FOUND);
	cr_assert_eq(v.calls, 0);
}

Test(ops, upsert_then_read_returns_same_bytes)
{
	open_default();
	struct tu_val v;
	cr_assert_eq(tu_put(s, "greeting", "hello"), FKV_OK);
	cr_assert_eq(tu_get(s, "greeting", &v), FKV_OK);
	cr_assert_eq(v.calls, 1);
	cr_assert(tu_val_is(&v, "hello"));
	cr_assert_eq(v.expire_ms, 0);

	/* Every byte value, zero included. */
	uint8_t bin[1000];
	for (int i = 0; i < 1000; i++)
		bin[i] = (uint8_t)(i * 7);
	cr_assert_eq(fkv_upsert(s, "bin", 3, bin, sizeof(bin), 0), FKV_OK);
	cr_assert_eq(fkv_read(s, "bin", 3, tu_val_cb, &v), FKV_OK);
	cr_assert_eq(v.len, sizeof(bin));
	cr_assert_arr_eq(v.buf, bin, sizeof(bin));
}

Test(ops, overwrite_in_place_when_it_fits_else_appended)
{
	open_default();
	struct tu_val v;
	/* "hello" gets an 8-byte value capacity. */
	cr_assert_eq(tu_put(s, "k", "hello"), FKV_OK);
	fkv_stats a = stats();
	cr_assert_eq(a.upserts_appended, 1);
	cr_assert_eq(a.upserts_in_place, 0);

	cr_assert_eq(tu_put(s, "k", "world"), FKV_OK); /* same length */
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "world"));
	cr_assert_eq(tu_put(s, "k", "hi"), FKV_OK); /* shorter */
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "hi"), "got %u bytes", v.len);
	cr_assert_eq(tu_put(s, "k", "12345678"), FKV_OK); /* longer, fits */
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "12345678"));
	fkv_stats b = stats();
	cr_assert_eq(b.upserts_in_place, 3);
	cr_assert_eq(b.upserts_appended, 1);

	cr_assert_eq(tu_put(s, "k", "123456789"), FKV_OK); /* outgrows it */
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "123456789"));
	fkv_stats c = stats();
	cr_assert_eq(c.upserts_in_place, 3);
	cr_assert_eq(c.upserts_appended, 2);
	cr_assert_gt(c.log_tail, b.log_tail);

	/* The appended record is mutable: the next short write is in place. */
	cr_assert_eq(tu_put(s, "k", "x"), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "x"));
	fkv_stats d = stats();
	cr_assert_eq(d.upserts_in_place, 4);
	cr_assert_eq(d.log_tail, c.log_tail);
}

Test(ops, binary_keys_are_distinct)
{
	open_default();
	static const struct {
		const char *key;
		uint32_t len;
		const char *value;
	} keys[] = {
		{"a\0b", 3, "first"},	{"a\0c", 3, "second"},
		{"a", 1, "third"},	{"a\0", 2, "fourth"},
		{"", 0, "fifth"},	{"\0", 1, "sixth"},
		{"\0\0", 2, "seventh"}, {"b\0a", 3, "eighth"},
	};
	size_t n = sizeof(keys) / sizeof(keys[0]);
	struct tu_val v;
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(fkv_upsert(s, keys[i].key, keys[i].len,
					keys[i].value,
					(uint32_t)strlen(keys[i].value), 0),
			     FKV_OK);
	for (size_t i = 0; i < n; i++) {
		memset(&v, 0, sizeof(v));
		cr_assert_eq(
			fkv_read(s, keys[i].key, keys[i].len, tu_val_cb, &v),
			FKV_OK, "key %zu", i);
		cr_assert(tu_val_is(&v, keys[i].value), "key %zu", i);
	}
	/* Deleting one leaves its prefix-sharing neighbours alone. */
	cr_assert_eq(fkv_delete(s, "a\0b", 3), FKV_OK);
	memset(&v, 0, sizeof(v));
	cr_assert_eq(fkv_read(s, "a\0b", 3, tu_val_cb, &v), FKV_NOT_FOUND);
	cr_assert_eq(fkv_read(s, "a\0c", 3, tu_val_cb, &v), FKV_OK);
	cr_assert(tu_val_is(&v, "second"));
	cr_assert_eq(fkv_read(s, "a", 1, tu_val_cb, &v), FKV_OK);
	cr_assert(tu_val_is(&v, "third"));
	cr_assert_eq(fkv_read(s, "a\0bc", 4, tu_val_cb, &v), FKV_NOT_FOUND);
}

Test(ops, empty_key_and_empty_value)
{
	open_default();
	struct tu_val v;
	cr_assert_eq(fkv_upsert(s, "", 0, "for the empty key", 17, 0), FKV_OK);
	cr_assert_eq(fkv_upsert(s, "empty", 5, "", 0, 0), FKV_OK);

	memset(&v, 0, sizeof(v));
	cr_assert_eq(fkv_read(s, "", 0, tu_val_cb, &v), FKV_OK);
	cr_assert(tu_val_is(&v, "for the empty key"));
	cr_assert_eq(tu_get(s, "empty", &v), FKV_OK);
	cr_assert_eq(v.calls, 1, "an empty value is a hit");
	cr_assert_eq(v.len, 0);

	/* An empty value has no room: a longer one is appended. */
	cr_assert_eq(tu_put(s, "empty", "now full"), FKV_OK);
	cr_assert_eq(tu_get(s, "empty", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "now full"));
	cr_assert_eq(tu_put(s, "empty", ""), FKV_OK);
	cr_assert_eq(tu_get(s, "empty", &v), FKV_OK);
	cr_assert_eq(v.calls, 1);
	cr_assert_eq(v.len, 0);

	cr_assert_eq(fkv_delete(s, "", 0), FKV_OK);
	memset(&v, 0, sizeof(v));
	cr_assert_eq(fkv_read(s, "", 0, tu_val_cb, &v), FKV_NOT_FOUND);
	cr_assert_eq(v.calls, 0);
	cr_assert_eq(tu_get(s, "empty", &v), FKV_OK);
}

/* ---- Delete ----------------------------------------------------------- */

Test(ops, delete_then_upsert_brings_it_back)
{
	open_default();
	struct tu_val v;
	cr_assert_eq(fkv_delete(s, "never", 5), FKV_NOT_FOUND);

	cr_assert_eq(tu_put(s, "k", "value"), FKV_OK);
	cr_assert_eq(fkv_delete(s, "k", 1), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_NOT_FOUND);
	cr_assert_eq(v.calls, 0);
	cr_assert_eq(fkv_delete(s, "k", 1), FKV_NOT_FOUND);

	/* Same size (in place over the deleted record) ... */
	cr_assert_eq(tu_put(s, "k", "again"), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "again"));
	/* ... and bigger (appended after a tombstone). */
	cr_assert_eq(fkv_delete(s, "k", 1), FKV_OK);
	cr_assert_eq(tu_put(s, "k", "a much longer value"), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "a much longer value"));
	cr_assert_eq(fkv_delete(s, "k", 1), FKV_OK);
	cr_assert_eq(fkv_delete(s, "k", 1), FKV_NOT_FOUND);

	fkv_stats a = stats();
	cr_assert_eq(a.deletes, 6);
	cr_assert_eq(a.deletes_in_place + a.deletes_appended, 3);
}

Test(ops, rmw_after_delete_starts_from_initial_value)
{
	open_default();
	uint64_t n;
	cr_assert_eq(tu_incr(s, "n", 1, 5), FKV_OK);
	cr_assert_eq(fkv_delete(s, "n", 1), FKV_OK);
	cr_assert_eq(tu_incr(s, "n", 1, 2), FKV_OK);
	cr_assert_eq(tu_counter_read(s, "n", 1, &n), FKV_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(stats().rmws_initial, 2);
}

/* ---- Expiry ----------------------------------------------------------- */

Test(ops, expired_value_reads_not_found)
{
	open_default();
	struct tu_val v;
	int64_t past = tu_now_ms() - 1000;
	cr_assert_eq(fkv_upsert(s, "old", 3, "stale", 5, past), FKV_OK);
	cr_assert_eq(tu_get(s, "old", &v), FKV_NOT_FOUND);
	cr_assert_eq(v.calls, 0);
	cr_assert_eq(fkv_delete(s, "old", 3), FKV_NOT_FOUND);

	/* Rewriting it without an expiry makes it live again. */
	cr_assert_eq(tu_put(s, "old", "fresh"), FKV_OK);
	cr_assert_eq(tu_get(s, "old", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "fresh"));
	cr_assert_eq(v.expire_ms, 0);
}

Test(ops, future_expiry_is_passed_to_the_callback)
{
	open_default();
	struct tu_val v;
	int64_t later = tu_now_ms() + 3600 * 1000;
	cr_assert_eq(fkv_upsert(s, "k", 1, "v1", 2, later), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "v1"));
	cr_assert_eq(v.expire_ms, later);

	/* A record with an expiry field takes a new expiry in place ... */
	fkv_stats a = stats();
	cr_assert_eq(fkv_upsert(s, "k", 1, "v2", 2, later + 1), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "v2"));
	cr_assert_eq(v.expire_ms, later + 1);
	/* ... and can drop it (0 = none). */
	cr_assert_eq(fkv_upsert(s, "k", 1, "v3", 2, 0), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "v3"));
	cr_assert_eq(v.expire_ms, 0);
	fkv_stats b = stats();
	cr_assert_eq(b.upserts_in_place - a.upserts_in_place, 2);

	/* A record without one must be appended to gain one. */
	cr_assert_eq(tu_put(s, "plain", "v"), FKV_OK);
	a = stats();
	cr_assert_eq(fkv_upsert(s, "plain", 5, "w", 1, later), FKV_OK);
	b = stats();
	cr_assert_eq(b.upserts_appended - a.upserts_appended, 1);
	cr_assert_eq(tu_get(s, "plain", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "w"));
	cr_assert_eq(v.expire_ms, later);
}

Test(ops, rmw_sees_and_sets_expiry)
{
	open_default();
	struct append a;
	struct tu_val v;
	int64_t later = tu_now_ms() + 3600 * 1000;
	cr_assert_eq(fkv_upsert(s, "k", 1, "ab", 2, later), FKV_OK);

	cr_assert_eq(rmw_append("k", "c", &a), FKV_OK);
	cr_assert_eq(a.in_place_calls, 1);
	cr_assert(a.in_place_saw_expiry_ptr);
	cr_assert_eq(a.in_place_saw_expiry, later);

	/* Copy update: new_len gets the current expiry, which survives. */
	cr_assert_eq(rmw_append("k", "0123456789", &a), FKV_OK);
	cr_assert_eq(a.new_len_calls, 1);
	cr_assert_not(a.new_len_saw_null);
	cr_assert_eq(a.new_len_saw_expiry, later);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abc0123456789"));
	cr_assert_eq(v.expire_ms, later);

	/* An expired value is absent to RMW: it starts over from nothing. */
	cr_assert_eq(fkv_upsert(s, "gone", 4, "xyz", 3, tu_now_ms() - 1000),
		     FKV_OK);
	cr_assert_eq(rmw_append("gone", "new", &a), FKV_OK);
	cr_assert(a.new_len_saw_null);
	cr_assert_eq(a.new_len_saw_expiry, 0);
	cr_assert_eq(tu_get(s, "gone", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "new"));
	cr_assert_eq(v.expire_ms, 0);
}

/* ---- RMW ---------------------------------------------------------------- */

Test(ops, rmw_initial_in_place_and_copy)
{
	open_default();
	struct append a;
	struct tu_val v;

	/* Absent: new_len sees NULL, the result is the initial value. */
	cr_assert_eq(rmw_append("log", "abc", &a), FKV_OK);
	cr_assert(a.new_len_saw_null);
	cr_assert_eq(a.in_place_calls, 0);
	cr_assert_eq(a.write_calls, 1);
	cr_assert_eq(tu_get(s, "log", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abc"));
	fkv_stats st1 = stats();
	cr_assert_eq(st1.rmws_initial, 1);

	/* 3 + 2 bytes fit the 8-byte capacity: in place. */
	cr_assert_eq(rmw_append("log", "de", &a), FKV_OK);
	cr_assert_eq(a.in_place_calls, 1);
	cr_assert_eq(a.new_len_calls, 0);
	cr_assert_eq(tu_get(s, "log", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abcde"));
	fkv_stats st2 = stats();
	cr_assert_eq(st2.rmws_in_place, 1);
	cr_assert_eq(st2.rmws_copied, 0);

	/* 5 + 5 do not: in_place answers FKV_RMW_COPY, the engine copies. */
	cr_assert_eq(rmw_append("log", "fghij", &a), FKV_OK);
	cr_assert_eq(a.in_place_calls, 1);
	cr_assert_eq(a.new_len_calls, 1);
	cr_assert_not(a.new_len_saw_null);
	cr_assert_eq(a.write_calls, 1);
	cr_assert_eq(tu_get(s, "log", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abcdefghij"));
	fkv_stats st3 = stats();
	cr_assert_eq(st3.rmws_copied, 1);
	cr_assert_eq(st3.rmws_in_place, 1);

	/* A value that outgrew its record got room to grow: in place again. */
	cr_assert_eq(rmw_append("log", "k", &a), FKV_OK);
	cr_assert_eq(tu_get(s, "log", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abcdefghijk"));
	fkv_stats st4 = stats();
	cr_assert_eq(st4.rmws_in_place, 2);
	cr_assert_eq(st4.rmws, 4);
}

Test(ops, rmw_counter_in_place)
{
	open_default();
	uint64_t n;
	for (int i = 1; i <= 100; i++)
		cr_assert_eq(tu_incr(s, "hits", 4, i), FKV_OK);
	cr_assert_eq(tu_counter_read(s, "hits", 4, &n), FKV_OK);
	cr_assert_eq(n, 5050);
	fkv_stats a = stats();
	cr_assert_eq(a.rmws_initial, 1);
	cr_assert_eq(a.rmws_in_place, 99);
	cr_assert_eq(a.rmws_copied, 0);
}

Test(ops, rmw_without_in_place_always_copies)
{
	open_default();
	uint64_t n;
	int64_t d = 3;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(fkv_rmw(s, "c", 1, &tu_incr_copy_ops, &d), FKV_OK);
	cr_assert_eq(tu_counter_read(s, "c", 1, &n), FKV_OK);
	cr_assert_eq(n, 15);
	fkv_stats a = stats();
	cr_assert_eq(a.rmws_initial, 1);
	cr_assert_eq(a.rmws_copied, 4);
	cr_assert_eq(a.rmws_in_place, 0);

	struct append ap = {.suffix = (const uint8_t *)"z", .n = 1};
	cr_assert_eq(tu_put(s, "s", "abcdefg"), FKV_OK);
	cr_assert_eq(fkv_rmw(s, "s", 1, &append_copy_ops, &ap), FKV_OK);
	struct tu_val v;
	cr_assert_eq(tu_get(s, "s", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abcdefgz"));
	cr_assert_eq(stats().rmws_copied, 5);
}

Test(ops, rmw_abort_leaves_value_unchanged)
{
	open_default();
	struct append a = {.suffix = (const uint8_t *)"XYZ", .n = 3};
	struct tu_val v;
	cr_assert_eq(tu_put(s, "k", "base"), FKV_OK);

	/* From in_place (the value fits, so in_place is asked). */
	a.abort_in = ABORT_IN_PLACE;
	cr_assert_eq(fkv_rmw(s, "k", 1, &append_ops, &a), FKV_ABORTED);
	cr_assert_eq(a.in_place_calls, 1);
	cr_assert_eq(a.write_calls, 0);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "base"));

	/* From new_len, on the copy path ... */
	a.abort_in = ABORT_NEW_LEN;
	cr_assert_eq(fkv_rmw(s, "k", 1, &append_copy_ops, &a), FKV_ABORTED);
	cr_assert_eq(a.write_calls, 0);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "base"));

	/* ... and for an absent key, which stays absent. */
	cr_assert_eq(fkv_rmw(s, "none", 4, &append_ops, &a), FKV_ABORTED);
	cr_assert(a.new_len_saw_null);
	cr_assert_eq(a.write_calls, 0);
	cr_assert_eq(tu_get(s, "none", &v), FKV_NOT_FOUND);
	cr_assert_eq(fkv_delete(s, "none", 4), FKV_NOT_FOUND);

	fkv_stats b = stats();
	cr_assert_eq(b.rmws, 3);
	cr_assert_eq(b.rmws_aborted, 3);
	cr_assert_eq(b.rmws_in_place + b.rmws_copied + b.rmws_initial, 0);
	cr_assert_eq(b.upserts, 1);

	/* The key still takes updates afterwards. */
	a.abort_in = NO_ABORT;
	cr_assert_eq(fkv_rmw(s, "k", 1, &append_ops, &a), FKV_OK);
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "baseXYZ"));
}

/* ---- Regions ------------------------------------------------------------ */

/* Writes 1000-byte values under fresh keys until `done` holds. */
static void fill_until(bool (*done)(const fkv_stats *, uint64_t), uint64_t arg)
{
	static uint8_t big[1000];
	memset(big, 'f', sizeof(big));
	for (int i = 0;; i++) {
		fkv_stats a = stats();
		if (done(&a, arg))
			return;
		cr_assert_lt(i, 100000, "the log never moved");
		char key[32];
		int n = snprintf(key, sizeof(key), "fill-%d", i);
		cr_assert_eq(
			fkv_upsert(s, key, (uint32_t)n, big, sizeof(big), 0),
			FKV_OK, "filler %d", i);
	}
}

static bool read_only_past(const fkv_stats *a, uint64_t addr)
{
	return a->log_read_only >= addr;
}

Test(ops, read_only_records_are_never_changed_in_place)
{
	open_with(12, UINT64_C(1) << 20, 0.5);
	struct tu_val v;
	uint64_t n;
	cr_assert_eq(tu_put(s, "up", "value-1"), FKV_OK);
	cr_assert_eq(tu_incr(s, "rmw", 3, 10), FKV_OK);
	cr_assert_eq(tu_put(s, "del", "doomed"), FKV_OK);
	struct append ap;
	cr_assert_eq(rmw_append("app", "ab", &ap), FKV_OK);
	uint64_t end = stats().log_tail; /* all four records lie below */

	fill_until(read_only_past, end);
	fkv_refresh(s);
	fkv_stats a = stats();
	cr_assert_geq(a.log_safe_read_only, end,
		      "refresh must let safe_read_only catch up");
	cr_assert_lt(a.log_read_only, a.log_tail);

	/* Each would fit in place, were its record mutable. */
	cr_assert_eq(tu_put(s, "up", "value-2"), FKV_OK);
	cr_assert_eq(tu_incr(s, "rmw", 3, 1), FKV_OK);
	cr_assert_eq(fkv_delete(s, "del", 3), FKV_OK);
	cr_assert_eq(rmw_append("app", "c", &ap), FKV_OK);
	cr_assert_eq(ap.in_place_calls, 0, "in_place on a read-only record");
	fkv_stats b = stats();
	cr_assert_eq(b.upserts_in_place, a.upserts_in_place);
	cr_assert_eq(b.upserts_appended, a.upserts_appended + 1);
	cr_assert_eq(b.rmws_in_place, a.rmws_in_place);
	cr_assert_eq(b.rmws_copied, a.rmws_copied + 2);
	cr_assert_eq(b.deletes_in_place, a.deletes_in_place);
	cr_assert_eq(b.deletes_appended, a.deletes_appended + 1);

	cr_assert_eq(tu_get(s, "up", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "value-2"));
	cr_assert_eq(tu_counter_read(s, "rmw", 3, &n), FKV_OK);
	cr_assert_eq(n, 11);
	cr_assert_eq(tu_get(s, "del", &v), FKV_NOT_FOUND);
	cr_assert_eq(tu_get(s, "app", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "abc"));

	/* The copies sit at the tail, mutable: in place from now on. */
	cr_assert_eq(tu_put(s, "up", "value-3"), FKV_OK);
	cr_assert_eq(tu_incr(s, "rmw", 3, 1), FKV_OK);
	fkv_stats c = stats();
	cr_assert_eq(c.upserts_in_place, b.upserts_in_place + 1);
	cr_assert_eq(c.rmws_in_place, b.rmws_in_place + 1);
	cr_assert_eq(tu_get(s, "up", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "value-3"));
	cr_assert_eq(tu_counter_read(s, "rmw", 3, &n), FKV_OK);
	cr_assert_eq(n, 12);
}

/* Between safe_read_only and read_only (the fuzzy region) nobody starts a
 * new in-place update either.  3000-byte fillers take a page each, so the
 * tail passes read_only's first move well before the session's automatic
 * refresh (FKV_AUTO_REFRESH_OPS operations) lets safe_read_only follow. */
Test(ops, fuzzy_records_are_not_changed_in_place)
{
	open_with(12, UINT64_C(1) << 20, 0.5);
	struct tu_val v;
	cr_assert_eq(tu_put(s, "up", "value-1"), FKV_OK);
	cr_assert_eq(tu_incr(s, "rmw", 3, 10), FKV_OK);
	uint64_t end = stats().log_tail;
	static uint8_t big[3000];
	memset(big, 'f', sizeof(big));
	int i = 0;
	while (stats().log_read_only < end) {
		char key[32];
		int n = snprintf(key, sizeof(key), "fill-%d", i++);
		cr_assert_eq(
			fkv_upsert(s, key, (uint32_t)n, big, sizeof(big), 0),
			FKV_OK);
	}
	cr_assert_lt(i, FKV_AUTO_REFRESH_OPS);
	fkv_stats a = stats();
	cr_assert_lt(a.log_safe_read_only, end, "not fuzzy: test is moot");

	cr_assert_eq(tu_put(s, "up", "value-2"), FKV_OK);
	cr_assert_eq(tu_incr(s, "rmw", 3, 1), FKV_OK);
	fkv_stats b = stats();
	cr_assert_eq(b.upserts_in_place, a.upserts_in_place);
	cr_assert_eq(b.upserts_appended, a.upserts_appended + 1);
	cr_assert_eq(b.rmws_in_place, a.rmws_in_place);
	cr_assert_eq(b.rmws_copied, a.rmws_copied + 1);

	fkv_refresh(s);
	cr_assert_geq(stats().log_safe_read_only, end);
	uint64_t n;
	cr_assert_eq(tu_get(s, "up", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "value-2"));
	cr_assert_eq(tu_counter_read(s, "rmw", 3, &n), FKV_OK);
	cr_assert_eq(n, 11);
}

/* ---- Full log and oversized records ------------------------------------ */

static int put_numbered(int i)
{
	char key[32], val[32];
	snprintf(key, sizeof(key), "key-%06d", i);
	snprintf(val, sizeof(val), "val-%06d", i);
	return tu_put(s, key, val);
}

Test(ops, full_log_returns_out_of_memory_and_stays_usable)
{
	open_with(12, UINT64_C(64) << 10, 0.9);
	int n = 0, rc;
	while ((rc = put_numbered(n)) == FKV_OK) {
		n++;
		cr_assert_lt(n, 100000, "a 64 KiB log never filled");
	}
	cr_assert_eq(rc, FKV_OUT_OF_MEMORY, "%s", fkv_strerror(rc));
	cr_assert_gt(n, 100);
	fkv_stats a = stats();
	cr_assert_leq(a.log_bytes, a.log_memory_size);

	/* Everything written before is still there. */
	for (int i = 0; i < n; i++) {
		char key[32], val[32];
		struct tu_val v;
		snprintf(key, sizeof(key), "key-%06d", i);
		snprintf(val, sizeof(val), "val-%06d", i);
		cr_assert_eq(tu_get(s, key, &v), FKV_OK, "%s", key);
		cr_assert(tu_val_is(&v, val), "%s", key);
	}

	/* Whatever needs log space keeps failing, without a crash. */
	for (int i = 0; i < 200; i++)
		cr_assert_eq(put_numbered(n + i), FKV_OUT_OF_MEMORY);
	cr_assert_eq(tu_incr(s, "counter", 7, 1), FKV_OUT_OF_MEMORY);
	cr_assert_eq(tu_put(s, "key-000000", "val-999999"), FKV_OUT_OF_MEMORY,
		     "a read-only record needs a copy");
	cr_assert_eq(fkv_delete(s, "key-000000", 10), FKV_OUT_OF_MEMORY);

	struct tu_val v;
	cr_assert_eq(tu_get(s, "key-000000", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "val-000000"));
	cr_assert_eq(tu_get(s, "counter", &v), FKV_NOT_FOUND);
	cr_assert_eq(fkv_delete(s, "counter", 7), FKV_NOT_FOUND);

	/* A mutable record can still be updated in place. */
	char last[32];
	snprintf(last, sizeof(last), "key-%06d", n - 1);
	cr_assert_eq(tu_put(s, last, "val-LAST!!"), FKV_OK);
	cr_assert_eq(tu_get(s, last, &v), FKV_OK);
	cr_assert(tu_val_is(&v, "val-LAST!!"));
	fkv_refresh(s);
	cr_assert_eq(put_numbered(n + 1000), FKV_OUT_OF_MEMORY);
}

/* With 4 KiB pages a record of 24 header bytes, an 8-byte padded key and a
 * 4064-byte value fills a page exactly. */
Test(ops, record_larger_than_a_page_is_invalid)
{
	open_with(12, UINT64_C(1) << 20, 0.9);
	static uint8_t big[8192];
	memset(big, 'v', sizeof(big));
	struct tu_val v;

	cr_assert_eq(fkv_upsert(s, "k", 1, big, 4064, 0), FKV_OK);
	cr_assert_eq(fkv_read(s, "k", 1, tu_val_cb, &v), FKV_OK);
	cr_assert_eq(v.len, 4064);

	cr_assert_eq(fkv_upsert(s, "k", 1, big, 4065, 0), FKV_INVALID);
	cr_assert_eq(fkv_upsert(s, "k", 1, big, 4064, tu_now_ms() + 60000),
		     FKV_INVALID, "the expiry field takes 8 more bytes");
	cr_assert_eq(fkv_upsert(s, "k", 1, big, sizeof(big), 0), FKV_INVALID);
	cr_assert_eq(fkv_upsert(s, big, 4096, "", 0, 0), FKV_INVALID);
	cr_assert_eq(fkv_read(s, "k", 1, tu_val_cb, &v), FKV_OK);
	cr_assert_eq(v.len, 4064, "a refused write changes nothing");

	/* The same through RMW. */
	struct append a = {.suffix = big, .n = 5000};
	cr_assert_eq(fkv_rmw(s, "r", 1, &append_ops, &a), FKV_INVALID);
	cr_assert_eq(a.write_calls, 0);
	cr_assert_eq(fkv_read(s, "r", 1, tu_val_cb, &v), FKV_NOT_FOUND);
	a.n = 1;
	cr_assert_eq(fkv_rmw(s, "k", 1, &append_ops, &a), FKV_INVALID);
	cr_assert_eq(fkv_read(s, "k", 1, tu_val_cb, &v), FKV_OK);
	cr_assert_eq(v.len, 4064);

	/* The store goes on working. */
	cr_assert_eq(tu_put(s, "small", "ok"), FKV_OK);
	cr_assert_eq(tu_get(s, "small", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "ok"));
}

/* A copy update after in_place said FKV_RMW_COPY reserves growth room
 * (new_len / 4).  That room is a bonus: a value whose record fits a page
 * must not be refused because the room does not. */
Test(ops, rmw_growth_room_never_makes_a_fitting_value_invalid)
{
	open_with(12, UINT64_C(1) << 20, 0.9);
	static uint8_t tail[3400];
	memset(tail, 'b', sizeof(tail));
	struct append a = {.suffix = tail, .n = sizeof(tail)};
	struct tu_val v;

	/* Control: without in_place the 3500-byte value is copied fine. */
	cr_assert_eq(fkv_upsert(s, "c", 1, tail, 100, 0), FKV_OK);
	cr_assert_eq(fkv_rmw(s, "c", 1, &append_copy_ops, &a), FKV_OK);
	cr_assert_eq(fkv_read(s, "c", 1, tu_val_cb, &v), FKV_OK);
	cr_assert_eq(v.len, 3500);

	/* With in_place answering FKV_RMW_COPY it must work the same. */
	cr_assert_eq(fkv_upsert(s, "k", 1, tail, 100, 0), FKV_OK);
	int rc = fkv_rmw(s, "k", 1, &append_ops, &a);
	cr_assert_eq(a.in_place_calls, 1);
	cr_assert_eq(rc, FKV_OK,
		     "a 3500-byte value (a 3536-byte record) fits a 4096-byte "
		     "page, got %s",
		     fkv_strerror(rc));
	cr_assert_eq(fkv_read(s, "k", 1, tu_val_cb, &v), FKV_OK);
	cr_assert_eq(v.len, 3500);
}

/* An RMW whose new length cannot fit a page, however close to UINT32_MAX,
 * is refused before the write callback is asked to fill the record. */
struct sized {
	uint32_t len;
	int write_calls;
};

static int sized_new_len(void *ctx, const uint8_t *old, uint32_t old_len,
			 uint32_t *new_len, int64_t *expire_ms)
{
	(void)old;
	(void)old_len;
	(void)expire_ms;
	*new_len = ((struct sized *)ctx)->len;
	return FKV_OK;
}

static void sized_write(void *ctx, const uint8_t *old, uint32_t old_len,
			uint8_t *dst, uint32_t new_len)
{
	/* Writes nothing: a buggy engine must not make this test crash. */
	(void)old;
	(void)old_len;
	(void)dst;
	(void)new_len;
	((struct sized *)ctx)->write_calls++;
}

static int sized_refuse(void *ctx, uint8_t *value, uint32_t *len, uint32_t cap,
			int64_t *expire_ms)
{
	(void)ctx;
	(void)value;
	(void)len;
	(void)cap;
	(void)expire_ms;
	return FKV_RMW_COPY;
}

static const fkv_rmw_ops sized_ops = {
	.new_len = sized_new_len,
	.write = sized_write,
	.in_place = NULL,
};

/* The same through the path where in_place refused (growth room). */
static const fkv_rmw_ops sized_refused_ops = {
	.new_len = sized_new_len,
	.write = sized_write,
	.in_place = sized_refuse,
};

Test(ops, rmw_huge_new_len_is_invalid)
{
	open_with(12, UINT64_C(1) << 20, 0.9);
	static const uint32_t lens[] = {
		4097,		UINT32_C(1) << 20, UINT32_MAX - 8,
		UINT32_MAX - 7, UINT32_MAX - 6,	   UINT32_MAX - 1,
		UINT32_MAX,
	};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct sized z = {.len = lens[i]};
		char key[16];
		int n = snprintf(key, sizeof(key), "k%zu", i);
		int rc = fkv_rmw(s, key, (uint32_t)n, &sized_ops, &z);
		cr_expect_eq(rc, FKV_INVALID, "new_len %u: got %s", lens[i],
			     fkv_strerror(rc));
		cr_expect_eq(z.write_calls, 0, "new_len %u: write called",
			     lens[i]);

		cr_assert_eq(fkv_upsert(s, key, (uint32_t)n, "old", 3, 0),
			     FKV_OK);
		rc = fkv_rmw(s, key, (uint32_t)n, &sized_refused_ops, &z);
		cr_expect_eq(rc, FKV_INVALID, "new_len %u, copy: got %s",
			     lens[i], fkv_strerror(rc));
		cr_expect_eq(z.write_calls, 0, "new_len %u: write called",
			     lens[i]);
		struct tu_val v;
		memset(&v, 0, sizeof(v));
		cr_assert_eq(fkv_read(s, key, (uint32_t)n, tu_val_cb, &v),
			     FKV_OK);
		cr_expect(tu_val_is(&v, "old"), "new_len %u: value changed",
			  lens[i]);
	}
}

/* The same for upsert.  The value is a 4 GiB read-only mapping of zero
 * pages (nothing is allocated); a correct engine never touches it. */
Test(ops, upsert_huge_value_len_is_invalid)
{
	open_with(12, UINT64_C(1) << 20, 0.9);
	size_t map = (size_t)UINT32_MAX + 1;
	void *src = mmap(NULL, map, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(src, MAP_FAILED);
	static const uint32_t lens[] = {UINT32_MAX - 7, UINT32_MAX - 6,
					UINT32_MAX};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		int rc = fkv_upsert(s, "k", 1, src, lens[i], 0);
		cr_expect_eq(rc, FKV_INVALID, "value_len %u: got %s", lens[i],
			     fkv_strerror(rc));
	}
	munmap(src, map);
}

/* ---- Store, sessions, index growth --------------------------------------- */

static int open_cfg(const fkv_config *cfg)
{
	fkv_store *x = NULL;
	int rc = fkv_store_open(cfg, &x);
	if (rc == FKV_OK)
		fkv_store_close(x);
	return rc;
}

Test(ops, bad_config_is_invalid)
{
	fkv_config good, c;
	fkv_config_default(&good);
	good.index_buckets = 1024;
	good.log_memory_size = UINT64_C(1) << 20;
	good.page_size_bits = 12;
	good.huge_pages = false;
	cr_assert_eq(open_cfg(&good), FKV_OK);

	c = good;
	c.page_size_bits = 11;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "page_size_bits 11");
	c = good;
	c.page_size_bits = 31;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "page_size_bits 31");
	c = good;
	c.log_memory_size = 4096 + 4095; /* rounds down to one page */
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "log smaller than 2 pages");
	c = good;
	c.mutable_fraction = 0;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "mutable_fraction 0");
	c.mutable_fraction = -0.5;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "mutable_fraction -0.5");
	c.mutable_fraction = 1.01;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "mutable_fraction 1.01");
	c.mutable_fraction = 1.0;
	cr_assert_eq(open_cfg(&c), FKV_OK, "mutable_fraction 1");
	c = good;
	c.max_sessions = 0;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "max_sessions 0");
	c = good;
	c.index_buckets = 0;
	cr_assert_eq(open_cfg(&c), FKV_INVALID, "index_buckets 0");

	/* Sizes that are not powers of two are refused or rounded down. */
	c = good;
	c.index_buckets = 1000;
	fkv_store *x;
	int rc = fkv_store_open(&c, &x);
	if (rc == FKV_OK) {
		fkv_stats a;
		fkv_store_stats(x, &a);
		cr_assert_leq(a.index_buckets, 1000);
		cr_assert_eq(a.index_buckets & (a.index_buckets - 1), 0);
		fkv_store_close(x);
	} else {
		cr_assert_eq(rc, FKV_INVALID);
	}
	c = good;
	c.log_memory_size = (UINT64_C(3) << 20) / 2;
	cr_assert_eq(fkv_store_open(&c, &x), FKV_OK);
	fkv_stats a;
	fkv_store_stats(x, &a);
	cr_assert_eq(a.log_memory_size, UINT64_C(1) << 20);
	fkv_store_close(x);
}

/* NaN passes both "<= 0" and "> 1" and must still be refused. */
Test(ops, nan_mutable_fraction_is_invalid)
{
	fkv_config c;
	fkv_config_default(&c);
	c.index_buckets = 1024;
	c.log_memory_size = UINT64_C(1) << 20;
	c.page_size_bits = 12;
	c.huge_pages = false;
	c.mutable_fraction = __builtin_nan("");
	int rc = open_cfg(&c);
	cr_assert_eq(rc, FKV_INVALID, "a NaN mutable_fraction got %s",
		     fkv_strerror(rc));
}

Test(ops, session_limit)
{
	open_default(); /* 64 sessions at most; s is the first */
	fkv_session *more[63];
	for (int i = 0; i < 63; i++)
		cr_assert_eq(fkv_session_start(st, &more[i]), FKV_OK, "%d", i);
	cr_assert_eq(stats().sessions, 64);
	fkv_session *extra = NULL;
	cr_assert_eq(fkv_session_start(st, &extra), FKV_ABORTED);
	fkv_session_stop(more[10]);
	cr_assert_eq(fkv_session_start(st, &more[10]), FKV_OK);
	cr_assert_eq(tu_put(more[10], "k", "v"), FKV_OK);
	struct tu_val v;
	cr_assert_eq(tu_get(s, "k", &v), FKV_OK);
	for (int i = 0; i < 63; i++)
		fkv_session_stop(more[i]);
	cr_assert_eq(stats().sessions, 1);
}

/* A protected session that does not refresh holds safe_read_only back (it
 * might still be writing in place); a suspended one does not. */
Test(ops, suspended_session_does_not_hold_others_back)
{
	open_with(12, UINT64_C(1) << 20, 0.5);
	fkv_session *idle;
	cr_assert_eq(fkv_session_start(st, &idle), FKV_OK);
	cr_assert_eq(tu_put(s, "first", "1"), FKV_OK);
	uint64_t end = stats().log_tail;
	fill_until(read_only_past, end);
	fkv_refresh(s);
	fkv_stats a = stats();
	cr_assert_lt(a.log_safe_read_only, end,
		     "an idle protected session must hold it back");

	fkv_session_suspend(idle);
	fkv_refresh(s);
	cr_assert_geq(stats().log_safe_read_only, end);

	fkv_session_resume(idle);
	struct tu_val v;
	cr_assert_eq(tu_get(idle, "first", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "1"));
	cr_assert_eq(tu_put(idle, "first", "2"), FKV_OK);
	cr_assert_eq(tu_get(s, "first", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "2"));
	fkv_session_stop(idle);
}

Test(ops, grow_index_keeps_every_key)
{
	cr_assert_eq(tu_open(&st, 16, UINT64_C(16) << 20, 0.9, 64), FKV_OK);
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	for (int i = 0; i < 2000; i++)
		cr_assert_eq(put_numbered(i), FKV_OK);
	cr_assert_eq(fkv_delete(s, "key-000007", 10), FKV_OK);
	fkv_stats a = stats();
	cr_assert_eq(fkv_grow_index(s, true), FKV_OK);
	fkv_stats b = stats();
	cr_assert_eq(b.index_grows, a.index_grows + 1);
	cr_assert_eq(b.index_buckets, 2 * a.index_buckets);
	for (int i = 0; i < 2000; i++) {
		char key[32], val[32];
		struct tu_val v;
		snprintf(key, sizeof(key), "key-%06d", i);
		snprintf(val, sizeof(val), "val-%06d", i);
		if (i == 7) {
			cr_assert_eq(tu_get(s, key, &v), FKV_NOT_FOUND);
			continue;
		}
		cr_assert_eq(tu_get(s, key, &v), FKV_OK, "%s", key);
		cr_assert(tu_val_is(&v, val), "%s", key);
	}
	cr_assert_eq(put_numbered(7), FKV_OK);
	cr_assert_eq(put_numbered(5000), FKV_OK);
}

/* ---- Statuses and statistics -------------------------------------------- */

Test(ops, strerror_names_every_status)
{
	static const int all[] = {
		FKV_OK,	      FKV_PENDING,    FKV_NOT_FOUND, FKV_OUT_OF_MEMORY,
		FKV_IO_ERROR, FKV_CORRUPTION, FKV_ABORTED,   FKV_INVALID};
	const size_t n = sizeof(all) / sizeof(all[0]);
	const char *unknown = fkv_strerror(12345);
	cr_assert_not_null(unknown);
	cr_assert_not_null(fkv_strerror(-12345));
	for (size_t i = 0; i < n; i++) {
		const char *name = fkv_strerror(all[i]);
		cr_assert_not_null(name);
		cr_assert_gt(strlen(name), 0);
		cr_assert_str_neq(name, unknown, "status %d unnamed", all[i]);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(name, fkv_strerror(all[j]),
					  "statuses %d and %d share a name",
					  all[i], all[j]);
	}
}

Test(ops, statistics_add_up_and_survive_session_stop)
{
	open_default();
	struct tu_val v;
	struct append a = {.suffix = (const uint8_t *)"!",
			   .n = 1,
			   .abort_in = ABORT_NEW_LEN};
	fkv_stats z = stats();
	cr_assert_eq(z.reads + z.upserts + z.rmws + z.deletes, 0);
	cr_assert_eq(z.sessions, 1);
	cr_assert_eq(z.log_memory_size, UINT64_C(16) << 20);

	cr_assert_eq(tu_put(s, "a", "1"), FKV_OK);
	cr_assert_eq(tu_put(s, "b", "2"), FKV_OK);
	cr_assert_eq(tu_put(s, "c", "3"), FKV_OK);
	cr_assert_eq(tu_put(s, "a", "4"), FKV_OK);
	cr_assert_eq(tu_get(s, "a", &v), FKV_OK);
	cr_assert_eq(tu_get(s, "b", &v), FKV_OK);
	cr_assert_eq(tu_get(s, "x", &v), FKV_NOT_FOUND);
	cr_assert_eq(tu_get(s, "y", &v), FKV_NOT_FOUND);
	cr_assert_eq(tu_get(s, "c", &v), FKV_OK);
	cr_assert_eq(tu_incr(s, "n", 1, 1), FKV_OK);
	cr_assert_eq(tu_incr(s, "n", 1, 1), FKV_OK);
	cr_assert_eq(fkv_rmw(s, "n", 1, &append_copy_ops, &a), FKV_ABORTED);
	cr_assert_eq(fkv_delete(s, "a", 1), FKV_OK);
	cr_assert_eq(fkv_delete(s, "a", 1), FKV_NOT_FOUND);
	cr_assert_eq(fkv_delete(s, "zz", 2), FKV_NOT_FOUND);

	fkv_stats b = stats();
	cr_assert_eq(b.reads, 5);
	cr_assert_eq(b.read_hits, 3);
	cr_assert_eq(b.read_misses, 2);
	cr_assert_eq(b.upserts, 4);
	cr_assert_eq(b.upserts_in_place, 1);
	cr_assert_eq(b.upserts_appended, 3);
	cr_assert_eq(b.rmws, 3);
	cr_assert_eq(b.rmws_initial, 1);
	cr_assert_eq(b.rmws_in_place, 1);
	cr_assert_eq(b.rmws_copied, 0);
	cr_assert_eq(b.rmws_aborted, 1);
	cr_assert_eq(b.deletes, 3);
	cr_assert_eq(b.deletes_in_place, 1);
	cr_assert_eq(b.deletes_appended, 0);
	cr_assert_eq(b.retries, 0);
	cr_assert_eq(b.index_entries, 4, "a, b, c and n");
	cr_assert_eq(b.index_buckets, 1024);
	cr_assert_gt(b.log_tail, b.log_begin);
	cr_assert_eq(b.log_bytes, b.log_tail - b.log_begin);
	cr_assert_leq(b.log_safe_read_only, b.log_read_only);
	cr_assert_leq(b.log_read_only, b.log_tail);
	cr_assert_leq(b.log_head, b.log_safe_read_only);

	/* A stopped session's counters stay in the totals. */
	fkv_session_stop(s);
	s = NULL;
	fkv_stats c = stats();
	cr_assert_eq(c.sessions, 0);
	cr_assert_eq(c.reads, b.reads);
	cr_assert_eq(c.read_hits, b.read_hits);
	cr_assert_eq(c.upserts, b.upserts);
	cr_assert_eq(c.upserts_in_place, b.upserts_in_place);
	cr_assert_eq(c.rmws, b.rmws);
	cr_assert_eq(c.rmws_aborted, b.rmws_aborted);
	cr_assert_eq(c.deletes, b.deletes);
	cr_assert_eq(c.index_entries, b.index_entries);

	/* And a new session's add to them. */
	cr_assert_eq(fkv_session_start(st, &s), FKV_OK);
	cr_assert_eq(tu_get(s, "b", &v), FKV_OK);
	cr_assert(tu_val_is(&v, "2"));
	cr_assert_eq(tu_put(s, "d", "5"), FKV_OK);
	fkv_stats d = stats();
	cr_assert_eq(d.sessions, 1);
	cr_assert_eq(d.reads, 6);
	cr_assert_eq(d.read_hits, 4);
	cr_assert_eq(d.read_misses, 2);
	cr_assert_eq(d.upserts, 5);
	cr_assert_eq(d.upserts_appended, 4);
}

/* Deleting an expired key reports FKV_NOT_FOUND (Redis's DEL counts it as
 * absent) but still marks it deleted, so that a sweep reclaims it; a second
 * delete finds nothing to mark. */
Test(ops, delete_of_expired_key_marks_it_but_reports_not_found)
{
	open_default();
	cr_assert_eq(fkv_upsert(s, "old", 3, "v", 1, 1), FKV_OK);
	struct tu_val v;
	cr_assert_eq(tu_get(s, "old", &v), FKV_NOT_FOUND);
	cr_assert_eq(fkv_delete(s, "old", 3), FKV_NOT_FOUND);
	fkv_stats a = stats();
	cr_assert_eq(a.deletes_in_place + a.deletes_appended, 1);
	cr_assert_eq(fkv_delete(s, "old", 3), FKV_NOT_FOUND);
	fkv_stats b = stats();
	cr_assert_eq(b.deletes_in_place + b.deletes_appended, 1,
		     "a deleted key is not deleted again");
}
