/*
 * resp_parse.c - request parser: see resp_parse.h.
 */
#include "resp_parse.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void resp_limits_default(resp_limits *l)
{
	l->max_bulk_len = INT64_C(512) * 1024 * 1024;
	l->max_multibulk = INT_MAX;
	l->max_inline = 64 * 1024;
	l->unauth_multibulk = 10;
	l->unauth_bulk = 16384;
}

void resp_parser_init(resp_parser *p, const resp_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->limits = limits;
	p->authenticated = true;
	p->mb_count = -1;
}

void resp_parser_free(resp_parser *p)
{
	free(p->argv);
	free(p->argv_len);
	free(p->argv_off);
	free(p->arena);
	memset(p, 0, sizeof(*p));
	p->mb_count = -1;
}

static int ensure_args(resp_parser *p, int64_t n)
{
	if (n <= p->argv_cap)
		return 0;
	/* Grow geometrically, but never ahead of what has arrived by more
	 * than a bounded step: a client announcing a billion arguments must
	 * not make us allocate for all of them up front. */
	int64_t cap = p->argv_cap ? (int64_t)p->argv_cap * 2 : 8;
	if (cap < n)
		cap = n;
	if (cap > INT_MAX)
		return -1;
	const char **argv = realloc(p->argv, (size_t)cap * sizeof(*argv));
	if (argv == NULL)
		return -1;
	p->argv = argv;
	size_t *lens = realloc(p->argv_len, (size_t)cap * sizeof(*lens));
	if (lens == NULL)
		return -1;
	p->argv_len = lens;
	size_t *offs = realloc(p->argv_off, (size_t)cap * sizeof(*offs));
	if (offs == NULL)
		return -1;
	p->argv_off = offs;
	p->argv_cap = (int)cap;
	return 0;
}

/* Parses a decimal integer in [s, s+n) like Redis's string2ll: optional
 * '-', digits, no spaces, no leading '+', no leading zero ("0" alone is
 * fine, "01" and "-0" are not), no overflow. */
bool resp_string2ll(const char *s, size_t n, int64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	if (n == 1 && s[0] == '0') {
		*out = 0;
		return true;
	}
	bool neg = false;
	size_t i = 0;
	if (s[0] == '-') {
		neg = true;
		i = 1;
		if (n == 1)
			return false;
	}
	if (s[i] < '1' || s[i] > '9')
		return false;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - v);
	} else {
		if (v > INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

static const char *find_crlf(const char *s, size_t n)
{
	const char *r = memchr(s, '\r', n);
	while (r != NULL && (size_t)(r - s) + 1 < n) {
		if (r[1] == '\n')
			return r;
		size_t off = (size_t)(r - s) + 1;
		r = memchr(s + off, '\r', n - off);
	}
	return NULL;
}

static int fail(resp_parser *p, const char *msg)
{
	p->error = msg;
	p->mb_count = -1;
	return RESP_ERROR;
}

static int parse_multibulk(resp_parser *p, const char *buf, size_t len,
			   size_t *consumed)
{
	const resp_limits *lim = p->limits;
	if (p->mb_count < 0) {
		const char *nl = find_crlf(buf, len);
		if (nl == NULL) {
			if (len > lim->max_inline)
				return fail(p, "Protocol error: too big mbulk "
					       "count string");
			return RESP_AGAIN;
		}
		int64_t count;
		if (!resp_string2ll(buf + 1, (size_t)(nl - buf - 1), &count) ||
		    count > INT_MAX || count > lim->max_multibulk)
			return fail(p, "Protocol error: invalid multibulk "
				       "length");
		if (!p->authenticated && count > lim->unauth_multibulk)
			return fail(p, "Protocol error: unauthenticated "
				       "multibulk length");
		size_t pos = (size_t)(nl - buf) + 2;
		if (count <= 0) {
			*consumed = pos;
			return RESP_EMPTY;
		}
		/* Reserve lazily: at most what 1 KiB per argument could hold. */
		int64_t reserve = count < 1024 ? count : 1024;
		if (ensure_args(p, reserve) != 0)
			return RESP_NOMEM;
		p->mb_count = count;
		p->mb_pos = pos;
		p->argc = 0;
	}
	size_t pos = p->mb_pos;
	while (p->argc < p->mb_count) {
		if (pos >= len)
			goto again;
		/* As in Redis, the whole "$<n>" line must be there before its
		 * first byte is judged. */
		const char *nl = find_crlf(buf + pos, len - pos);
		if (nl == NULL) {
			if (len - pos > lim->max_inline)
				return fail(p, "Protocol error: too big bulk "
					       "count string");
			goto again;
		}
		if (buf[pos] != '$') {
			/* Redis names the byte it found. */
			snprintf(p->errbuf, sizeof(p->errbuf),
				 "Protocol error: expected '$', got '%c'",
				 buf[pos]);
			return fail(p, p->errbuf);
		}
		int64_t blen;
		const char *digits = buf + pos + 1;
		if (!resp_string2ll(digits, (size_t)(nl - digits), &blen) ||
		    blen < 0 || blen > lim->max_bulk_len)
			return fail(p, "Protocol error: invalid bulk length");
		if (!p->authenticated && blen > lim->unauth_bulk)
			return fail(p, "Protocol error: unauthenticated bulk "
				       "length");
		size_t start = (size_t)(nl - buf) + 2;
		if (len < start + (size_t)blen + 2) {
			p->want = start + (size_t)blen + 2;
			goto again;
		}
		/* Redis skips the two bytes after the payload unchecked; we
		 * insist on CRLF, since anything else means the client and
		 * the server disagree about where commands start. */
		if (buf[start + blen] != '\r' || buf[start + blen + 1] != '\n')
			return fail(p, "Protocol error: invalid bulk length");
		if (ensure_args(p, p->argc + 1) != 0)
			return RESP_NOMEM;
		p->argv_off[p->argc] = start;
		p->argv_len[p->argc] = (size_t)blen;
		p->argc++;
		pos = start + (size_t)blen + 2;
		p->mb_pos = pos;
	}
	for (int i = 0; i < p->argc; i++)
		p->argv[i] = buf + p->argv_off[i];
	p->mb_count = -1;
	p->want = 0;
	*consumed = pos;
	return RESP_OK;
again:
	return RESP_AGAIN;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* isspace() in the C locale: what sdssplitargs skips between arguments
 * and accepts after a closing quote. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* What ends an unquoted argument in sdssplitargs: a narrower set than
 * is_space (a \v or \f inside an argument stays part of it). */
static bool ends_word(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits an inline line into arguments the way redis-cli and Redis do
 * (sdssplitargs): spaces separate, "double quotes" understand \n \r \t \b
 * \a \\ \" and \xHH, 'single quotes' only \', and a closing quote must be
 * followed by a space or the end.  sdssplitargs reads a C string, so in
 * Redis a zero byte ends the line: so it does here. */
static int split_inline(resp_parser *p, const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	if (nul != NULL)
		n = (size_t)(nul - s);
	if (p->arena_cap < n + 1) {
		char *a = realloc(p->arena, n + 1);
		if (a == NULL)
			return RESP_NOMEM;
		p->arena = a;
		p->arena_cap = n + 1;
	}
	char *out = p->arena;
	size_t i = 0, o = 0;
	p->argc = 0;
	for (;;) {
		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			return RESP_OK;
		size_t arg_start = o;
		bool dq = false, sq = false, done = false;
		while (!done) {
			if (dq) {
				if (i >= n)
					return fail(p, "Protocol error: "
						       "unbalanced quotes in "
						       "request");
				if (s[i] == '\\' && i + 3 < n &&
				    s[i + 1] == 'x' && hex_val(s[i + 2]) >= 0 &&
				    hex_val(s[i + 3]) >= 0) {
					out[o++] =
						(char)(hex_val(s[i + 2]) * 16 +
						       hex_val(s[i + 3]));
					i += 4;
				} else if (s[i] == '\\' && i + 1 < n) {
					char c = s[i + 1];
					switch (c) {
					case 'n':
						c = '\n';
						break;
					case 'r':
						c = '\r';
						break;
					case 't':
						c = '\t';
						break;
					case 'b':
						c = '\b';
						break;
					case 'a':
						c = '\a';
						break;
					default:
						break;
					}
					out[o++] = c;
					i += 2;
				} else if (s[i] == '"') {
					if (i + 1 < n && !is_space(s[i + 1]))
						return fail(p,
							    "Protocol error: "
							    "unbalanced quotes "
							    "in request");
					dq = false;
					done = true;
					i++;
				} else {
					out[o++] = s[i++];
				}
			} else if (sq) {
				if (i >= n)
					return fail(p, "Protocol error: "
						       "unbalanced quotes in "
						       "request");
				if (s[i] == '\\' && i + 1 < n &&
				    s[i + 1] == '\'') {
					out[o++] = '\'';
					i += 2;
				} else if (s[i] == '\'') {
					if (i + 1 < n && !is_space(s[i + 1]))
						return fail(p,
							    "Protocol error: "
							    "unbalanced quotes "
							    "in request");
					sq = false;
					done = true;
					i++;
				} else {
					out[o++] = s[i++];
				}
			} else if (i >= n || ends_word(s[i])) {
				done = true;
			} else if (s[i] == '"') {
				dq = true;
				i++;
			} else if (s[i] == '\'') {
				sq = true;
				i++;
			} else {
				out[o++] = s[i++];
			}
		}
		if (ensure_args(p, p->argc + 1) != 0)
			return RESP_NOMEM;
		p->argv[p->argc] = out + arg_start;
		p->argv_len[p->argc] = o - arg_start;
		p->argc++;
	}
}

static int parse_inline(resp_parser *p, const char *buf, size_t len,
			size_t *consumed)
{
	const char *nl = memchr(buf, '\n', len);
	if (nl == NULL) {
		if (len > p->limits->max_inline)
			return fail(p,
				    "Protocol error: too big inline request");
		return RESP_AGAIN;
	}
	size_t line = (size_t)(nl - buf);
	size_t used = line + 1;
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	int rc = split_inline(p, buf, line);
	if (rc != RESP_OK)
		return rc;
	*consumed = used;
	return p->argc == 0 ? RESP_EMPTY : RESP_OK;
}

int resp_parse(resp_parser *p, const char *buf, size_t len, size_t *consumed)
{
	*consumed = 0;
	p->error = NULL;
	p->want = 0;
	if (p->mb_count >= 0)
		return parse_multibulk(p, buf, len, consumed);
	p->argc = 0;
	if (len == 0)
		return RESP_AGAIN;
	if (buf[0] == '*')
		return parse_multibulk(p, buf, len, consumed);
	return parse_inline(p, buf, len, consumed);
}

int resp_split_line(resp_parser *p, const char *s, size_t n)
{
	p->error = NULL;
	return split_inline(p, s, n);
}
