/*
 * resp_write.h - the reply writer: appends RESP2 or RESP3 replies to a
 * growable byte buffer.
 *
 * Each function appends one reply (or one aggregate header) in the
 * protocol the buffer was set to; types RESP2 lacks degrade as Redis does
 * (map -> flat array of 2n, set -> array, null -> $-1 or *-1, boolean ->
 * integer, double -> bulk string, big number -> bulk string, verbatim ->
 * bulk string, push -> array).
 *
 * Memory: the buffer owns `data` (malloc'd).  An allocation failure sets
 * `oom` and drops the write; the caller checks it once per batch and
 * closes the connection.
 *
 * Threads: one buffer, one thread.
 */
#ifndef RESP_WRITE_H
#define RESP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct resp_buf {
	char *data;
	size_t len;
	size_t cap;
	int proto; /* 2 or 3 */
	bool oom;
} resp_buf;

void resp_buf_init(resp_buf *b, int proto);
void resp_buf_free(resp_buf *b);
/* Drops the first n bytes (those sent). */
void resp_buf_consume(resp_buf *b, size_t n);
/* Raw bytes, already in RESP. */
void resp_add_raw(resp_buf *b, const void *p, size_t n);

void resp_add_simple(resp_buf *b, const char *s);  /* +s */
void resp_add_ok(resp_buf *b);			   /* +OK */
void resp_add_error(resp_buf *b, const char *msg); /* -msg (no CR/LF in msg) */
/* -ERR-style error from a printf format. */
void resp_add_errorf(resp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void resp_add_int(resp_buf *b, int64_t v);		  /* :v */
void resp_add_bulk(resp_buf *b, const void *p, size_t n); /* $n */
void resp_add_cstr(resp_buf *b, const char *s);		  /* bulk of s */
void resp_add_null(resp_buf *b);       /* $-1 / _ (a missing value) */
void resp_add_null_array(resp_buf *b); /* *-1 / _ */
void resp_add_array(resp_buf *b, int64_t n);
void resp_add_map(resp_buf *b, int64_t pairs);
void resp_add_set(resp_buf *b, int64_t n);
void resp_add_push(resp_buf *b, int64_t n);
void resp_add_bool(resp_buf *b, bool v);
void resp_add_double(resp_buf *b, double v);
void resp_add_bignum(resp_buf *b, const char *digits);
/* Verbatim string of a 3-letter format ("txt", "mkd"). */
void resp_add_verbatim(resp_buf *b, const char *fmt3, const void *p, size_t n);

/* Reserves room for n more bytes; returns where to write them (then call
 * resp_buf_commit), or NULL on allocation failure. */
char *resp_buf_reserve(resp_buf *b, size_t n);
void resp_buf_commit(resp_buf *b, size_t n);

/* Formats a double as Redis does for replies (%.17g, inf/-inf/nan). */
int resp_format_double(char *out, size_t cap, double v);

#endif
