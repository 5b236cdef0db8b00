/*
 * resp_write.c - the reply writer: see resp_write.h.
 */
#include "resp_write.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void resp_buf_init(resp_buf *b, int proto)
{
	memset(b, 0, sizeof(*b));
	b->proto = proto;
}

void resp_buf_free(resp_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void resp_buf_consume(resp_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

char *resp_buf_reserve(resp_buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return NULL;
			}
			cap *= 2;
		}
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			b->oom = true;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->len;
}

void resp_buf_commit(resp_buf *b, size_t n)
{
	b->len += n;
}

void resp_add_raw(resp_buf *b, const void *p, size_t n)
{
	char *w = resp_buf_reserve(b, n);
	if (w == NULL)
		return;
	memcpy(w, p, n);
	b->len += n;
}

/* Writes "<prefix><v>\r\n". */
static void add_prefixed_int(resp_buf *b, char prefix, int64_t v)
{
	char *w = resp_buf_reserve(b, 32);
	if (w == NULL)
		return;
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	size_t o = 0;
	w[o++] = prefix;
	if (v < 0)
		w[o++] = '-';
	while (n > 0)
		w[o++] = tmp[--n];
	w[o++] = '\r';
	w[o++] = '\n';
	b->len += o;
}

static void add_line(resp_buf *b, char prefix, const char *s, size_t n)
{
	char *w = resp_buf_reserve(b, n + 3);
	if (w == NULL)
		return;
	w[0] = prefix;
	memcpy(w + 1, s, n);
	w[n + 1] = '\r';
	w[n + 2] = '\n';
	b->len += n + 3;
}

void resp_add_simple(resp_buf *b, const char *s)
{
	add_line(b, '+', s, strlen(s));
}

void resp_add_ok(resp_buf *b)
{
	resp_add_raw(b, "+OK\r\n", 5);
}

void resp_add_error(resp_buf *b, const char *msg)
{
	/* An error line may not hold CR or LF: Redis turns them to spaces. */
	size_t n = strlen(msg);
	char *w = resp_buf_reserve(b, n + 3);
	if (w == NULL)
		return;
	w[0] = '-';
	for (size_t i = 0; i < n; i++)
		w[i + 1] = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
	w[n + 1] = '\r';
	w[n + 2] = '\n';
	b->len += n + 3;
}

void resp_add_errorf(resp_buf *b, const char *fmt, ...)
{
	char stack[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(stack, sizeof(stack), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(stack)) {
		resp_add_error(b, stack);
		return;
	}
	char *heap = malloc((size_t)n + 1);
	if (heap == NULL) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(heap, (size_t)n + 1, fmt, ap);
	va_end(ap);
	resp_add_error(b, heap);
	free(heap);
}

void resp_add_int(resp_buf *b, int64_t v)
{
	add_prefixed_int(b, ':', v);
}

void resp_add_bulk(resp_buf *b, const void *p, size_t n)
{
	add_prefixed_int(b, '$', (int64_t)n);
	char *w = resp_buf_reserve(b, n + 2);
	if (w == NULL)
		return;
	memcpy(w, p, n);
	w[n] = '\r';
	w[n + 1] = '\n';
	b->len += n + 2;
}

void resp_add_cstr(resp_buf *b, const char *s)
{
	resp_add_bulk(b, s, strlen(s));
}

void resp_add_null(resp_buf *b)
{
	if (b->proto >= 3)
		resp_add_raw(b, "_\r\n", 3);
	else
		resp_add_raw(b, "$-1\r\n", 5);
}

void resp_add_null_array(resp_buf *b)
{
	if (b->proto >= 3)
		resp_add_raw(b, "_\r\n", 3);
	else
		resp_add_raw(b, "*-1\r\n", 5);
}

void resp_add_array(resp_buf *b, int64_t n)
{
	add_prefixed_int(b, '*', n);
}

void resp_add_map(resp_buf *b, int64_t pairs)
{
	if (b->proto >= 3)
		add_prefixed_int(b, '%', pairs);
	else
		add_prefixed_int(b, '*', pairs * 2);
}

void resp_add_set(resp_buf *b, int64_t n)
{
	add_prefixed_int(b, b->proto >= 3 ? '~' : '*', n);
}

void resp_add_push(resp_buf *b, int64_t n)
{
	add_prefixed_int(b, b->proto >= 3 ? '>' : '*', n);
}

void resp_add_bool(resp_buf *b, bool v)
{
	if (b->proto >= 3)
		resp_add_raw(b, v ? "#t\r\n" : "#f\r\n", 4);
	else
		resp_add_int(b, v ? 1 : 0);
}

int resp_format_double(char *out, size_t cap, double v)
{
	if (isinf(v))
		return snprintf(out, cap, "%s", v > 0 ? "inf" : "-inf");
	if (isnan(v))
		return snprintf(out, cap, "nan");
	return snprintf(out, cap, "%.17g", v);
}

void resp_add_double(resp_buf *b, double v)
{
	char tmp[64];
	int n = resp_format_double(tmp, sizeof(tmp), v);
	if (b->proto >= 3)
		add_line(b, ',', tmp, (size_t)n);
	else
		resp_add_bulk(b, tmp, (size_t)n);
}

void resp_add_bignum(resp_buf *b, const char *digits)
{
	if (b->proto >= 3)
		add_line(b, '(', digits, strlen(digits));
	else
		resp_add_cstr(b, digits);
}

void resp_add_verbatim(resp_buf *b, const char *fmt3, const void *p, size_t n)
{
	if (b->proto < 3) {
		resp_add_bulk(b, p, n);
		return;
	}
	add_prefixed_int(b, '=', (int64_t)n + 4);
	char *w = resp_buf_reserve(b, n + 6);
	if (w == NULL)
		return;
	memcpy(w, fmt3, 3);
	w[3] = ':';
	memcpy(w + 4, p, n);
	w[n + 4] = '\r';
	w[n + 5] = '\n';
	b->len += n + 6;
}
