/*
 * test_resp.c - the RESP request parser and the reply writer.
 *
 * The parser is held to Redis 7's request parsing (processMultibulkBuffer,
 * processInlineBuffer and sdssplitargs in Redis's networking.c and sds.c):
 * the same commands, the same "Protocol error: ..." texts.  The writer is
 * held to the exact bytes Redis sends in RESP2 and RESP3.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp_parse.h"
#include "resp_write.h"

/* ---- Helpers ----------------------------------------------------------- */

/* A string literal and its length, zero bytes included. */
#define LIT(s) (s), (sizeof(s) - 1)

/* Writes bytes as a C-like literal for failure messages. */
static const char *esc(const void *data, size_t n, char *out, size_t cap)
{
	const unsigned char *s = data;
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		unsigned char c = s[i];
		if (c == '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (c < 32 || c >= 127)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static void expect_bytes(const void *got, size_t got_len, const void *want,
			 size_t want_len)
{
	char g[512], w[512];
	cr_assert(got_len == want_len && memcmp(got, want, want_len) == 0,
		  "got \"%s\" (%zu bytes), want \"%s\" (%zu bytes)",
		  esc(got, got_len, g, sizeof(g)), got_len,
		  esc(want, want_len, w, sizeof(w)), want_len);
}

/* The whole content of a reply buffer equals the literal. */
#define expect_buf(b, lit) expect_bytes((b)->data, (b)->len, LIT(lit))

/* Argument i of the last command equals [s, s+n). */
static void expect_arg(const resp_parser *p, int i, const char *s, size_t n)
{
	cr_assert_lt(i, p->argc, "argument %d missing (argc %d)", i, p->argc);
	expect_bytes(p->argv[i], p->argv_len[i], s, n);
}

/* The last command is exactly these C-string arguments. */
static void expect_args(const resp_parser *p, int argc, const char *const *argv)
{
	cr_assert_eq(p->argc, argc, "argc %d, want %d", p->argc, argc);
	for (int i = 0; i < argc; i++)
		expect_arg(p, i, argv[i], strlen(argv[i]));
}

#define ARGS(...)                                                              \
	(const char *const[])                                                  \
	{                                                                      \
		__VA_ARGS__                                                    \
	}
#define NARGS(...) (int)(sizeof(ARGS(__VA_ARGS__)) / sizeof(const char *))
#define EXPECT_ARGS(p, ...)                                                    \
	expect_args((p), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

/* Parses buf[0..n) as exactly one command: the result must be want_rc and
 * it must use all n bytes. */
static void parse_whole(resp_parser *p, const char *buf, size_t n, int want_rc)
{
	size_t used = 12345;
	int rc = resp_parse(p, buf, n, &used);
	char e[512];
	cr_assert_eq(rc, want_rc, "\"%s\": rc %d (%s), want %d",
		     esc(buf, n, e, sizeof(e)), rc, p->error ? p->error : "-",
		     want_rc);
	cr_assert_eq(used, n, "\"%s\": consumed %zu of %zu",
		     esc(buf, n, e, sizeof(e)), used, n);
}

/* Parses buf[0..n) expecting the protocol error `msg`. */
static void expect_error(resp_parser *p, const char *buf, size_t n,
			 const char *msg)
{
	size_t used = 12345;
	char e[512];
	int rc = resp_parse(p, buf, n, &used);
	cr_assert_eq(rc, RESP_ERROR, "\"%s\": rc %d, want RESP_ERROR",
		     esc(buf, n, e, sizeof(e)), rc);
	cr_assert_not_null(p->error);
	cr_assert_str_eq(p->error, msg, "\"%s\"", esc(buf, n, e, sizeof(e)));
	cr_assert_eq(used, 0);
}

/* Parses buf[0..n) expecting RESP_AGAIN with nothing consumed. */
static void expect_again(resp_parser *p, const char *buf, size_t n)
{
	size_t used = 12345;
	char e[512];
	int rc = resp_parse(p, buf, n, &used);
	cr_assert_eq(rc, RESP_AGAIN, "\"%s\": rc %d (%s), want RESP_AGAIN",
		     esc(buf, n, e, sizeof(e)), rc, p->error ? p->error : "-");
	cr_assert_eq(used, 0);
}

/*
 * Feeds cmd[0..n) one byte more at a time, each time in a freshly
 * malloc'd buffer (the previous one scribbled over and freed), as a
 * connection whose read buffer is reallocated between reads would.  Every
 * prefix must give RESP_AGAIN; the whole gives want_rc, consuming n bytes,
 * with the arguments argv (lengths lens, or strlen when lens is NULL)
 * checked while the last buffer is still alive.
 */
static void feed_bytewise(resp_parser *p, const char *cmd, size_t n,
			  int want_rc, int argc, const char *const *argv,
			  const size_t *lens)
{
	char *prev = NULL;
	size_t prev_len = 0;
	for (size_t k = 1; k <= n; k++) {
		char *buf = malloc(k);
		cr_assert_not_null(buf);
		memcpy(buf, cmd, k);
		if (prev != NULL) {
			memset(prev, '#', prev_len);
			free(prev);
		}
		size_t used = 12345;
		int rc = resp_parse(p, buf, k, &used);
		char e[512];
		if (k < n) {
			cr_assert_eq(rc, RESP_AGAIN,
				     "prefix \"%s\": rc %d (%s), want AGAIN",
				     esc(buf, k, e, sizeof(e)), rc,
				     p->error ? p->error : "-");
			cr_assert_eq(used, 0);
		} else {
			cr_assert_eq(rc, want_rc, "\"%s\": rc %d (%s), want %d",
				     esc(buf, k, e, sizeof(e)), rc,
				     p->error ? p->error : "-", want_rc);
			cr_assert_eq(used, n);
			cr_assert_eq(p->argc, argc);
			for (int i = 0; i < argc; i++) {
				size_t len = lens ? lens[i] : strlen(argv[i]);
				/* Multibulk arguments point into the latest
				 * buffer, not into a freed one. */
				expect_arg(p, i, argv[i], len);
			}
		}
		prev = buf;
		prev_len = k;
	}
	free(prev);
}

static resp_limits limits;
static resp_parser parser;

static void setup_parser(void)
{
	resp_limits_default(&limits);
	resp_parser_init(&parser, &limits);
}

static void teardown_parser(void)
{
	resp_parser_free(&parser);
}

/* ---- Parser: well-formed requests ------------------------------------- */

Test(resp, limits_default_to_redis)
{
	resp_limits l;
	resp_limits_default(&l);
	cr_assert_eq(l.max_bulk_len, INT64_C(512) * 1024 * 1024);
	cr_assert_eq(l.max_multibulk, INT_MAX);
	cr_assert_eq(l.max_inline, 64 * 1024);
	cr_assert_eq(l.unauth_multibulk, 10);
	cr_assert_eq(l.unauth_bulk, 16384);

	resp_parser p;
	resp_parser_init(&p, &l);
	cr_assert(p.authenticated);
	cr_assert_eq(p.argc, 0);
	resp_parser_free(&p);
}

Test(resp, parse_simple_multibulk, .init = setup_parser,
     .fini = teardown_parser)
{
	static const char req[] =
		"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nhello\r\n";
	parse_whole(&parser, LIT(req), RESP_OK);
	EXPECT_ARGS(&parser, "SET", "key", "hello");
	/* Multibulk arguments point into the caller's buffer. */
	cr_assert_eq(parser.argv[0], req + 8);
	cr_assert_eq(parser.want, 0);
}

Test(resp, parse_pipelined_commands, .init = setup_parser,
     .fini = teardown_parser)
{
	static const char in[] = "*1\r\n$4\r\nPING\r\n"
				 "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
				 "PING\r\n"
				 "*0\r\n"
				 "\r\n"
				 "set a b\n"
				 "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"
				 "*2\r\n$4\r\nEC"; /* the start of one more */
	size_t len = sizeof(in) - 1, off = 0, used;
	struct {
		int rc;
		size_t used;
	} steps[] = {
		{RESP_OK, 14},	 {RESP_OK, 20}, {RESP_OK, 6},  {RESP_EMPTY, 4},
		{RESP_EMPTY, 2}, {RESP_OK, 8},	{RESP_OK, 22},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int rc = resp_parse(&parser, in + off, len - off, &used);
		cr_assert_eq(rc, steps[i].rc, "step %zu: rc %d (%s)", i, rc,
			     parser.error ? parser.error : "-");
		cr_assert_eq(used, steps[i].used, "step %zu: consumed %zu", i,
			     used);
		switch (i) {
		case 0:
			EXPECT_ARGS(&parser, "PING");
			break;
		case 1:
			EXPECT_ARGS(&parser, "GET", "a");
			break;
		case 2:
			EXPECT_ARGS(&parser, "PING");
			break;
		case 5:
			EXPECT_ARGS(&parser, "set", "a", "b");
			break;
		case 6:
			EXPECT_ARGS(&parser, "ECHO", "hi");
			break;
		default:
			cr_assert_eq(parser.argc, 0);
			break;
		}
		off += used;
	}
	/* What is left is an incomplete command. */
	expect_again(&parser, in + off, len - off);
	/* The rest arrives (in a new buffer): the command completes. */
	static const char rest[] = "*2\r\n$4\r\nECHO\r\n$3\r\nbye\r\n";
	parse_whole(&parser, LIT(rest), RESP_OK);
	EXPECT_ARGS(&parser, "ECHO", "bye");
}

Test(resp, parse_every_command_byte_by_byte, .init = setup_parser,
     .fini = teardown_parser)
{
	feed_bytewise(&parser, LIT("*1\r\n$4\r\nPING\r\n"), RESP_OK, 1,
		      ARGS("PING"), NULL);
	feed_bytewise(&parser,
		      LIT("*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$12\r\n"
			  "value\r\nvalue\r\n"),
		      RESP_OK, 3, ARGS("SET", "key:000001", "value\r\nvalue"),
		      NULL);
	feed_bytewise(&parser, LIT("*2\r\n$3\r\nGET\r\n$0\r\n\r\n"), RESP_OK, 2,
		      ARGS("GET", ""), NULL);
	feed_bytewise(&parser, LIT("*2\r\n$4\r\nECHO\r\n$3\r\na\0b\r\n"),
		      RESP_OK, 2, ARGS("ECHO", "a\0b"), (size_t[]){4, 3});
	feed_bytewise(&parser, LIT("PING\r\n"), RESP_OK, 1, ARGS("PING"), NULL);
	feed_bytewise(&parser, LIT("set a b\n"), RESP_OK, 3,
		      ARGS("set", "a", "b"), NULL);
	feed_bytewise(&parser, LIT("set k \"a b\\n\\x41\" 'c d'\r\n"), RESP_OK,
		      4, ARGS("set", "k", "a b\nA", "c d"), NULL);
	feed_bytewise(&parser, LIT("*0\r\n"), RESP_EMPTY, 0, NULL, NULL);
	feed_bytewise(&parser, LIT("*-1\r\n"), RESP_EMPTY, 0, NULL, NULL);
	feed_bytewise(&parser, LIT("\r\n"), RESP_EMPTY, 0, NULL, NULL);
	/* The parser is back at a clean state: one more whole command. */
	parse_whole(&parser, LIT("*1\r\n$4\r\nQUIT\r\n"), RESP_OK);
	EXPECT_ARGS(&parser, "QUIT");
}

Test(resp, parse_resumes_in_uneven_chunks, .init = setup_parser,
     .fini = teardown_parser)
{
	/* A command arriving in three reads, split inside the count line of
	 * the second argument and inside the payload of the third. */
	static const char req[] =
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nvalue!\r\n";
	size_t cuts[] = {17, 30, sizeof(req) - 1};
	for (size_t i = 0; i < 3; i++) {
		char *buf = malloc(cuts[i]);
		cr_assert_not_null(buf);
		memcpy(buf, req, cuts[i]);
		size_t used;
		int rc = resp_parse(&parser, buf, cuts[i], &used);
		if (i < 2) {
			cr_assert_eq(rc, RESP_AGAIN);
		} else {
			cr_assert_eq(rc, RESP_OK);
			cr_assert_eq(used, sizeof(req) - 1);
			EXPECT_ARGS(&parser, "SET", "k", "value!");
		}
		free(buf);
	}
}

Test(resp, parse_binary_safe_bulks, .init = setup_parser,
     .fini = teardown_parser)
{
	static const char req[] = "*3\r\n$3\r\nSET\r\n$4\r\n\r\n\0\n\r\n"
				  "$6\r\n\0\0*1\r\n\r\n";
	parse_whole(&parser, LIT(req), RESP_OK);
	cr_assert_eq(parser.argc, 3);
	expect_arg(&parser, 0, LIT("SET"));
	expect_arg(&parser, 1, LIT("\r\n\0\n"));
	expect_arg(&parser, 2, LIT("\0\0*1\r\n"));
}

Test(resp, parse_empty_bulk, .init = setup_parser, .fini = teardown_parser)
{
	parse_whole(&parser, LIT("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n"),
		    RESP_OK);
	EXPECT_ARGS(&parser, "SET", "", "");
	cr_assert_eq(parser.argv_len[1], 0);
	cr_assert_eq(parser.argv_len[2], 0);
}

Test(resp, parse_zero_and_negative_counts_are_empty, .init = setup_parser,
     .fini = teardown_parser)
{
	/* Redis: a count <= 0 consumes the line and runs nothing. */
	parse_whole(&parser, LIT("*0\r\n"), RESP_EMPTY);
	cr_assert_eq(parser.argc, 0);
	parse_whole(&parser, LIT("*-1\r\n"), RESP_EMPTY);
	cr_assert_eq(parser.argc, 0);
	parse_whole(&parser, LIT("*-5\r\n"), RESP_EMPTY);
	parse_whole(&parser, LIT("*-10\r\n"), RESP_EMPTY);
	/* Only the count line is consumed. */
	size_t used;
	cr_assert_eq(resp_parse(&parser, LIT("*0\r\nPING\r\n"), &used),
		     RESP_EMPTY);
	cr_assert_eq(used, 4);
	/* Not authenticated: a negative count is no reason to refuse. */
	parser.authenticated = false;
	parse_whole(&parser, LIT("*-1\r\n"), RESP_EMPTY);
}

Test(resp, parse_inline_commands, .init = setup_parser, .fini = teardown_parser)
{
	parse_whole(&parser, LIT("PING\r\n"), RESP_OK);
	EXPECT_ARGS(&parser, "PING");
	parse_whole(&parser, LIT("PING\n"), RESP_OK);
	EXPECT_ARGS(&parser, "PING");
	parse_whole(&parser, LIT("set a b\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "a", "b");
	parse_whole(&parser, LIT("   set    a  b   \r\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "a", "b");
	parse_whole(&parser, LIT("set\ta\t\tb\r\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "a", "b");
	/* A lone \r inside the line separates too (sdssplitargs). */
	parse_whole(&parser, LIT("get a\rb\n"), RESP_OK);
	EXPECT_ARGS(&parser, "get", "a", "b");
	/* Inline arguments are copied: they are not in the caller's buffer. */
	static const char line[] = "echo hello\r\n";
	parse_whole(&parser, LIT(line), RESP_OK);
	uintptr_t at = (uintptr_t)parser.argv[1];
	cr_assert(at < (uintptr_t)line || at >= (uintptr_t)(line + 12));
	EXPECT_ARGS(&parser, "echo", "hello");
	/* A line that starts with '$' or ':' is just inline text. */
	parse_whole(&parser, LIT("$3 x\n"), RESP_OK);
	EXPECT_ARGS(&parser, "$3", "x");
}

Test(resp, parse_inline_quoting, .init = setup_parser, .fini = teardown_parser)
{
	parse_whole(&parser, LIT("set k \"a b\\n\\x41\"\r\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "k", "a b\nA");

	/* Every escape sdssplitargs knows; an unknown one is the char. */
	parse_whole(&parser, LIT("x \"\\r\\t\\b\\a\\\\\\\"\\q\\xff\\x0\"\n"),
		    RESP_OK);
	cr_assert_eq(parser.argc, 2);
	expect_arg(&parser, 1, LIT("\r\t\b\a\\\"q\xffx0"));

	/* \x00 gives a zero byte. */
	parse_whole(&parser, LIT("x \"a\\x00b\"\n"), RESP_OK);
	expect_arg(&parser, 1, LIT("a\0b"));

	/* Single quotes: only \' is an escape. */
	parse_whole(&parser, LIT("set k 'it\\'s \\n'\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "k", "it's \\n");

	/* Empty quotes are an empty argument. */
	parse_whole(&parser, LIT("set \"\" ''\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "", "");

	/* A quote may start in the middle of a word. */
	parse_whole(&parser, LIT("set a\"b c\"\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "ab c");

	/* A closing quote followed by a tab or the end is fine. */
	parse_whole(&parser, LIT("set \"a\"\t'b'\r\n"), RESP_OK);
	EXPECT_ARGS(&parser, "set", "a", "b");
}

Test(resp, parse_inline_unbalanced_quotes, .init = setup_parser,
     .fini = teardown_parser)
{
	const char *msg = "Protocol error: unbalanced quotes in request";
	expect_error(&parser, LIT("set k \"abc\r\n"), msg);
	resp_parser_free(&parser);
	resp_parser_init(&parser, &limits);
	expect_error(&parser, LIT("set k 'abc\n"), msg);
	/* A trailing backslash does not close the quote. */
	expect_error(&parser, LIT("set k \"abc\\\"\n"), msg);
	/* A closing quote must be followed by a space or the end. */
	expect_error(&parser, LIT("set k \"foo\"bar\n"), msg);
	expect_error(&parser, LIT("set k 'foo'bar\n"), msg);
	expect_error(&parser, LIT("set \"a\"\"b\"\n"), msg);
}

Test(resp, parse_inline_redis_edge_cases, .init = setup_parser,
     .fini = teardown_parser)
{
	/* sdssplitargs skips any isspace() between arguments but ends an
	 * unquoted argument only at space, tab, CR or LF. */
	parse_whole(&parser, LIT("\v get a\vb\n"), RESP_OK);
	EXPECT_ARGS(&parser, "get", "a\vb");
	/* It reads a C string: a zero byte ends the line. */
	parse_whole(&parser, LIT("get a\0b c\n"), RESP_OK);
	EXPECT_ARGS(&parser, "get", "a");
	parse_whole(&parser, LIT("\0get\r\n"), RESP_EMPTY);
}

Test(resp, parse_empty_inline_line, .init = setup_parser,
     .fini = teardown_parser)
{
	parse_whole(&parser, LIT("\r\n"), RESP_EMPTY);
	cr_assert_eq(parser.argc, 0);
	parse_whole(&parser, LIT("\n"), RESP_EMPTY);
	parse_whole(&parser, LIT("   \t \r\n"), RESP_EMPTY);
	size_t used;
	cr_assert_eq(resp_parse(&parser, LIT("\r\nPING\r\n"), &used),
		     RESP_EMPTY);
	cr_assert_eq(used, 2);
	/* No bytes at all: wait. */
	expect_again(&parser, "", 0);
}

/* ---- Parser: protocol errors ------------------------------------------ */

Test(resp, error_invalid_multibulk_length, .init = setup_parser,
     .fini = teardown_parser)
{
	const char *msg = "Protocol error: invalid multibulk length";
	expect_error(&parser, LIT("*abc\r\n"), msg);
	expect_error(&parser, LIT("*\r\n"), msg);
	expect_error(&parser, LIT("*-\r\n"), msg);
	expect_error(&parser, LIT("*1x\r\n"), msg);
	expect_error(&parser, LIT("* 1\r\n"), msg);
	expect_error(&parser, LIT("*+1\r\n"), msg);
	/* string2ll refuses leading zeros and "-0". */
	expect_error(&parser, LIT("*01\r\n"), msg);
	expect_error(&parser, LIT("*-0\r\n"), msg);
	/* Over INT_MAX (Redis's test: *3000000000). */
	expect_error(&parser, LIT("*3000000000\r\n"), msg);
	expect_error(&parser, LIT("*99999999999999999999\r\n"), msg);
	/* INT_MAX itself is allowed (and waits for the arguments). */
	expect_again(&parser, LIT("*2147483647\r\n"));
	cr_assert_leq(parser.argv_cap, 1024);
}

Test(resp, error_expected_dollar, .init = setup_parser, .fini = teardown_parser)
{
	expect_error(&parser, LIT("*1\r\nxyz\r\n"),
		     "Protocol error: expected '$', got 'x'");
	expect_error(&parser, LIT("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
		     "Protocol error: expected '$', got 'f'");
	expect_error(&parser, LIT("*2\r\n$4\r\nPING\r\n:1\r\n"),
		     "Protocol error: expected '$', got ':'");
	/* Like Redis, the byte is judged once its line is complete. */
	expect_again(&parser, LIT("*1\r\nxyz"));
	expect_error(&parser, LIT("*1\r\nxyz\r\n"),
		     "Protocol error: expected '$', got 'x'");
}

Test(resp, error_invalid_bulk_length, .init = setup_parser,
     .fini = teardown_parser)
{
	const char *msg = "Protocol error: invalid bulk length";
	expect_error(&parser, LIT("*1\r\n$-1\r\n"), msg);
	expect_error(&parser, LIT("*1\r\n$abc\r\n"), msg);
	expect_error(&parser, LIT("*1\r\n$\r\n"), msg);
	expect_error(&parser, LIT("*1\r\n$03\r\nabc\r\n"), msg);
	expect_error(&parser, LIT("*1\r\n$3x\r\nabc\r\n"), msg);
	expect_error(&parser, LIT("*1\r\n$99999999999999999999\r\n"), msg);
	/* Over the default proto-max-bulk-len of 512 MiB. */
	expect_error(&parser, LIT("*1\r\n$536870913\r\n"), msg);
	expect_again(&parser, LIT("*1\r\n$536870912\r\n"));
	cr_assert_eq(parser.want, 4 + 12 + (size_t)536870912 + 2);
}

Test(resp, error_bulk_over_custom_max, .init = setup_parser,
     .fini = teardown_parser)
{
	limits.max_bulk_len = 10;
	expect_error(&parser, LIT("*2\r\n$3\r\nGET\r\n$11\r\nhello world\r\n"),
		     "Protocol error: invalid bulk length");
	parse_whole(&parser, LIT("*2\r\n$3\r\nGET\r\n$10\r\nhelloworld\r\n"),
		    RESP_OK);
	EXPECT_ARGS(&parser, "GET", "helloworld");
}

Test(resp, error_missing_crlf_after_payload, .init = setup_parser,
     .fini = teardown_parser)
{
	/* Redis skips the two bytes unchecked; this parser refuses them. */
	const char *msg = "Protocol error: invalid bulk length";
	expect_error(&parser, LIT("*1\r\n$3\r\nfooXY"), msg);
	expect_error(&parser, LIT("*1\r\n$3\r\nfoo\n\r"), msg);
	expect_error(&parser, LIT("*1\r\n$3\r\nfoo\rX"), msg);
	expect_error(&parser, LIT("*2\r\n$3\r\nfoo\r\n$1\r\nab\r\n"), msg);
	/* One byte short of the CRLF: wait. */
	expect_again(&parser, LIT("*1\r\n$3\r\nfoo\r"));
}

Test(resp, error_too_big_mbulk_count, .init = setup_parser,
     .fini = teardown_parser)
{
	limits.max_inline = 16;
	/* 16 bytes without a CRLF: wait; 17: refuse. */
	expect_again(&parser, LIT("*111111111111111"));
	expect_error(&parser, LIT("*1111111111111111"),
		     "Protocol error: too big mbulk count string");
}

Test(resp, error_too_big_mbulk_count_default, .init = setup_parser,
     .fini = teardown_parser)
{
	size_t n = 64 * 1024 + 1;
	char *buf = malloc(n);
	cr_assert_not_null(buf);
	buf[0] = '*';
	memset(buf + 1, '1', n - 1);
	expect_again(&parser, buf, n - 1);
	expect_error(&parser, buf, n,
		     "Protocol error: too big mbulk count string");
	free(buf);
}

Test(resp, error_too_big_bulk_count, .init = setup_parser,
     .fini = teardown_parser)
{
	limits.max_inline = 16;
	/* Measured from the start of the "$" line. */
	char buf[64];
	memcpy(buf, "*1\r\n$", 5);
	memset(buf + 5, '1', 15);
	expect_again(&parser, buf, 20);
	memset(buf + 5, '1', 16);
	expect_error(&parser, buf, 21,
		     "Protocol error: too big bulk count string");
	/* The size check comes before the '$' check, as in Redis. */
	memcpy(buf, "*1\r\nx", 5);
	expect_error(&parser, buf, 21,
		     "Protocol error: too big bulk count string");
}

Test(resp, error_too_big_inline, .init = setup_parser, .fini = teardown_parser)
{
	limits.max_inline = 16;
	expect_again(&parser, LIT("aaaaaaaaaaaaaaaa"));
	expect_error(&parser, LIT("aaaaaaaaaaaaaaaaa"),
		     "Protocol error: too big inline request");
	/* A long line is fine once its newline is there. */
	parse_whole(&parser, LIT("echo aaaaaaaaaaaaaaaaaaaaaaaaaa\n"), RESP_OK);
	EXPECT_ARGS(&parser, "echo", "aaaaaaaaaaaaaaaaaaaaaaaaaa");
}

Test(resp, error_unauthenticated_limits, .init = setup_parser,
     .fini = teardown_parser)
{
	parser.authenticated = false;
	/* At most 10 arguments. */
	expect_error(&parser, LIT("*11\r\n"),
		     "Protocol error: unauthenticated multibulk length");
	expect_again(&parser, LIT("*10\r\n"));
	resp_parser_free(&parser);
	resp_parser_init(&parser, &limits);
	parser.authenticated = false;
	/* A bad count is still a bad count. */
	expect_error(&parser, LIT("*1x\r\n"),
		     "Protocol error: invalid multibulk length");
	/* At most 16384 bytes an argument. */
	expect_error(&parser, LIT("*2\r\n$4\r\nAUTH\r\n$16385\r\n"),
		     "Protocol error: unauthenticated bulk length");
	expect_again(&parser, LIT("*2\r\n$4\r\nAUTH\r\n$16384\r\n"));
	resp_parser_free(&parser);
	resp_parser_init(&parser, &limits);
	parser.authenticated = false;
	parse_whole(&parser, LIT("*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n"),
		    RESP_OK);
	EXPECT_ARGS(&parser, "AUTH", "secret");
	/* Once authenticated, the usual limits apply. */
	parser.authenticated = true;
	expect_again(&parser, LIT("*11\r\n"));
	resp_parser_free(&parser);
	resp_parser_init(&parser, &limits);
	expect_again(&parser, LIT("*1\r\n$16385\r\n"));
}

Test(resp, huge_announced_count_allocates_little, .init = setup_parser,
     .fini = teardown_parser)
{
	static const char req[] = "*1000000000\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";
	expect_again(&parser, LIT(req));
	cr_assert_leq(parser.argv_cap, 1024, "argv_cap %d", parser.argv_cap);
	/* More arguments arrive: the arrays grow with what arrived. */
	size_t n = sizeof(req) - 1 + 2000 * 7;
	char *buf = malloc(n);
	cr_assert_not_null(buf);
	memcpy(buf, req, sizeof(req) - 1);
	for (size_t i = sizeof(req) - 1; i < n; i += 7)
		memcpy(buf + i, "$1\r\nx\r\n", 7);
	expect_again(&parser, buf, n);
	cr_assert_geq(parser.argv_cap, 2002);
	cr_assert_leq(parser.argv_cap, 4096, "argv_cap %d", parser.argv_cap);
	free(buf);
}

Test(resp, want_reports_pending_bulk_size, .init = setup_parser,
     .fini = teardown_parser)
{
	/* "*2\r\n" (4) + "$3\r\nSET\r\n" (9) + "$1000000\r\n" (10) = 23 */
	size_t bulk = 1000000, total = 23 + bulk + 2;
	char *buf = malloc(total);
	cr_assert_not_null(buf);
	memcpy(buf, "*2\r\n$3\r\nSET\r\n$1000000\r\n", 23);
	memset(buf + 23, 'v', bulk);
	memcpy(buf + 23 + bulk, "\r\n", 2);

	expect_again(&parser, buf, 26);
	cr_assert_eq(parser.want, total, "want %zu", parser.want);
	expect_again(&parser, buf, total - 1);
	cr_assert_eq(parser.want, total);
	/* Not known before the "$" line is complete. */
	resp_parser_free(&parser);
	resp_parser_init(&parser, &limits);
	expect_again(&parser, buf, 20);
	cr_assert_eq(parser.want, 0);

	parse_whole(&parser, buf, total, RESP_OK);
	cr_assert_eq(parser.want, 0);
	cr_assert_eq(parser.argc, 2);
	cr_assert_eq(parser.argv_len[1], bulk);
	cr_assert_eq(parser.argv[1], buf + 23);
	free(buf);
}

Test(resp, want_is_cleared_once_the_bulk_arrives, .init = setup_parser,
     .fini = teardown_parser)
{
	static const char req[] =
		"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$1\r\nx\r\n";
	/* Waiting for the payload of "hello": want is the size up to it. */
	expect_again(&parser, req, 20);
	cr_assert_eq(parser.want, 4 + 9 + 4 + 7);
	/* "hello" complete, waiting for the next "$" line: unknown again. */
	expect_again(&parser, req, 26);
	cr_assert_eq(parser.want, 0);
	parse_whole(&parser, LIT(req), RESP_OK);
	EXPECT_ARGS(&parser, "SET", "hello", "x");
	cr_assert_eq(parser.want, 0);
}

Test(resp, writer_output_parses_back, .init = setup_parser,
     .fini = teardown_parser)
{
	/* A RESP2 array of bulks is a request: the writer and the parser
	 * agree on the framing. */
	resp_buf b;
	resp_buf_init(&b, 2);
	resp_add_array(&b, 3);
	resp_add_cstr(&b, "SET");
	resp_add_bulk(&b, LIT("k\r\n\0"));
	resp_add_bulk(&b, "", 0);
	parse_whole(&parser, b.data, b.len, RESP_OK);
	cr_assert_eq(parser.argc, 3);
	expect_arg(&parser, 0, LIT("SET"));
	expect_arg(&parser, 1, LIT("k\r\n\0"));
	expect_arg(&parser, 2, "", 0);
	resp_buf_free(&b);
}

/* ---- Writer ------------------------------------------------------------ */

static resp_buf b2, b3;

static void setup_writer(void)
{
	resp_buf_init(&b2, 2);
	resp_buf_init(&b3, 3);
}

static void teardown_writer(void)
{
	resp_buf_free(&b2);
	resp_buf_free(&b3);
}

Test(resp, write_simple_ok_error, .init = setup_writer, .fini = teardown_writer)
{
	resp_buf *bufs[] = {&b2, &b3};
	for (int i = 0; i < 2; i++) {
		resp_buf *b = bufs[i];
		resp_add_simple(b, "PONG");
		resp_add_ok(b);
		resp_add_error(b, "ERR unknown command");
		resp_add_simple(b, "");
		expect_buf(b, "+PONG\r\n+OK\r\n-ERR unknown command\r\n+\r\n");
		cr_assert_not(b->oom);
	}
}

Test(resp, write_error_replaces_crlf, .init = setup_writer,
     .fini = teardown_writer)
{
	resp_add_error(&b2, "ERR bad\r\nthing\rhere\n");
	expect_buf(&b2, "-ERR bad  thing here \r\n");
}

Test(resp, write_errorf, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_errorf(&b3,
			"ERR unknown command '%s', with args beginning "
			"with: '%s' ",
			"foo", "bar");
	expect_buf(&b3, "-ERR unknown command 'foo', with args beginning "
			"with: 'bar' \r\n");
	resp_add_errorf(&b2, "ERR %d %s", 42, "a\r\nb");
	expect_buf(&b2, "-ERR 42 a  b\r\n");
}

Test(resp, write_errorf_longer_than_stack, .init = setup_writer,
     .fini = teardown_writer)
{
	char arg[2001];
	memset(arg, 'x', 2000);
	arg[1000] = '\n';
	arg[2000] = '\0';
	resp_add_errorf(&b2, "ERR %s!", arg);
	cr_assert_not(b2.oom);
	cr_assert_eq(b2.len, 1 + 4 + 2000 + 1 + 2);
	cr_assert(memcmp(b2.data, "-ERR x", 6) == 0);
	cr_assert_eq(b2.data[5 + 1000], ' ');
	cr_assert(memcmp(b2.data + b2.len - 5, "xx!\r\n", 5) == 0);
	for (size_t i = 0; i < b2.len - 2; i++)
		cr_assert(b2.data[i] != '\r' && b2.data[i] != '\n');
}

Test(resp, write_int, .init = setup_writer, .fini = teardown_writer)
{
	resp_buf *bufs[] = {&b2, &b3};
	for (int i = 0; i < 2; i++) {
		resp_buf *b = bufs[i];
		resp_add_int(b, 0);
		resp_add_int(b, 42);
		resp_add_int(b, -1);
		resp_add_int(b, INT64_MAX);
		resp_add_int(b, INT64_MIN);
		expect_buf(b, ":0\r\n:42\r\n:-1\r\n"
			      ":9223372036854775807\r\n"
			      ":-9223372036854775808\r\n");
	}
}

Test(resp, write_bulk, .init = setup_writer, .fini = teardown_writer)
{
	resp_buf *bufs[] = {&b2, &b3};
	for (int i = 0; i < 2; i++) {
		resp_buf *b = bufs[i];
		resp_add_bulk(b, "hello", 5);
		resp_add_bulk(b, "", 0);
		resp_add_bulk(b, LIT("a\0b\r\nc"));
		resp_add_cstr(b, "bar");
		resp_add_cstr(b, "");
		expect_buf(b, "$5\r\nhello\r\n$0\r\n\r\n$6\r\na\0b\r\nc\r\n"
			      "$3\r\nbar\r\n$0\r\n\r\n");
	}
}

Test(resp, write_null, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_null(&b2);
	resp_add_null_array(&b2);
	expect_buf(&b2, "$-1\r\n*-1\r\n");
	resp_add_null(&b3);
	resp_add_null_array(&b3);
	expect_buf(&b3, "_\r\n_\r\n");
}

Test(resp, write_aggregates, .init = setup_writer, .fini = teardown_writer)
{
	/* An array is the same in both. */
	resp_add_array(&b2, 3);
	resp_add_array(&b2, 0);
	expect_buf(&b2, "*3\r\n*0\r\n");
	resp_add_array(&b3, 3);
	resp_add_array(&b3, 0);
	expect_buf(&b3, "*3\r\n*0\r\n");
	resp_buf_consume(&b2, b2.len);
	resp_buf_consume(&b3, b3.len);

	/* A map of 2 pairs: RESP2 sends a flat array of 4. */
	resp_add_map(&b2, 2);
	resp_add_map(&b2, 0);
	expect_buf(&b2, "*4\r\n*0\r\n");
	resp_add_map(&b3, 2);
	resp_add_map(&b3, 0);
	expect_buf(&b3, "%2\r\n%0\r\n");
	resp_buf_consume(&b2, b2.len);
	resp_buf_consume(&b3, b3.len);

	resp_add_set(&b2, 5);
	expect_buf(&b2, "*5\r\n");
	resp_add_set(&b3, 5);
	expect_buf(&b3, "~5\r\n");
	resp_buf_consume(&b2, b2.len);
	resp_buf_consume(&b3, b3.len);

	resp_add_push(&b2, 3);
	expect_buf(&b2, "*3\r\n");
	resp_add_push(&b3, 3);
	expect_buf(&b3, ">3\r\n");
}

Test(resp, write_hello_like_map, .init = setup_writer, .fini = teardown_writer)
{
	resp_buf *bufs[] = {&b2, &b3};
	for (int i = 0; i < 2; i++) {
		resp_buf *b = bufs[i];
		resp_add_map(b, 2);
		resp_add_cstr(b, "server");
		resp_add_cstr(b, "redis");
		resp_add_cstr(b, "proto");
		resp_add_int(b, b->proto);
	}
	expect_buf(&b2, "*4\r\n$6\r\nserver\r\n$5\r\nredis\r\n"
			"$5\r\nproto\r\n:2\r\n");
	expect_buf(&b3, "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n"
			"$5\r\nproto\r\n:3\r\n");
}

Test(resp, write_bool, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_bool(&b2, true);
	resp_add_bool(&b2, false);
	expect_buf(&b2, ":1\r\n:0\r\n");
	resp_add_bool(&b3, true);
	resp_add_bool(&b3, false);
	expect_buf(&b3, "#t\r\n#f\r\n");
}

Test(resp, write_double, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_double(&b3, 3.5);
	resp_add_double(&b3, -2.25);
	resp_add_double(&b3, 100);
	resp_add_double(&b3, 0);
	expect_buf(&b3, ",3.5\r\n,-2.25\r\n,100\r\n,0\r\n");
	resp_add_double(&b2, 3.5);
	resp_add_double(&b2, -2.25);
	resp_add_double(&b2, 100);
	expect_buf(&b2, "$3\r\n3.5\r\n$5\r\n-2.25\r\n$3\r\n100\r\n");
}

Test(resp, write_double_inf_nan, .init = setup_writer, .fini = teardown_writer)
{
	/* Redis writes these by hand ("Hi Solaris!"). */
	resp_add_double(&b3, INFINITY);
	resp_add_double(&b3, -INFINITY);
	resp_add_double(&b3, NAN);
	expect_buf(&b3, ",inf\r\n,-inf\r\n,nan\r\n");
	resp_add_double(&b2, INFINITY);
	resp_add_double(&b2, -INFINITY);
	resp_add_double(&b2, NAN);
	expect_buf(&b2, "$3\r\ninf\r\n$4\r\n-inf\r\n$3\r\nnan\r\n");
}

Test(resp, format_double)
{
	char out[64];
	cr_assert_eq(resp_format_double(out, sizeof(out), 3.5), 3);
	cr_assert_str_eq(out, "3.5");
	cr_assert_eq(resp_format_double(out, sizeof(out), INFINITY), 3);
	cr_assert_str_eq(out, "inf");
	cr_assert_eq(resp_format_double(out, sizeof(out), -INFINITY), 4);
	cr_assert_str_eq(out, "-inf");
	cr_assert_eq(resp_format_double(out, sizeof(out), -NAN), 3);
	cr_assert_str_eq(out, "nan");
	resp_format_double(out, sizeof(out), 1.0 / 3);
	cr_assert_str_eq(out, "0.33333333333333331");
	cr_assert_eq(strtod(out, NULL), 1.0 / 3);
}

Test(resp, write_bignum, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_bignum(&b3, "3492890328409238509324850943850943825024385");
	expect_buf(&b3, "(3492890328409238509324850943850943825024385\r\n");
	resp_add_bignum(&b2, "-12345678901234567890");
	expect_buf(&b2, "$21\r\n-12345678901234567890\r\n");
}

Test(resp, write_verbatim, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_verbatim(&b3, "txt", "Some string", 11);
	expect_buf(&b3, "=15\r\ntxt:Some string\r\n");
	resp_add_verbatim(&b2, "txt", "Some string", 11);
	expect_buf(&b2, "$11\r\nSome string\r\n");
	resp_buf_consume(&b3, b3.len);
	resp_add_verbatim(&b3, "mkd", "", 0);
	expect_buf(&b3, "=4\r\nmkd:\r\n");
}

Test(resp, write_raw_and_reserve, .init = setup_writer, .fini = teardown_writer)
{
	resp_add_raw(&b2, "+A\r\n", 4);
	char *w = resp_buf_reserve(&b2, 6);
	cr_assert_not_null(w);
	memcpy(w, ":123\r\n", 6);
	resp_buf_commit(&b2, 6);
	resp_add_raw(&b2, "", 0);
	expect_buf(&b2, "+A\r\n:123\r\n");
}

Test(resp, buf_consume_drops_sent_bytes, .init = setup_writer,
     .fini = teardown_writer)
{
	resp_add_ok(&b2);
	resp_add_int(&b2, 7);
	resp_add_cstr(&b2, "x");
	expect_buf(&b2, "+OK\r\n:7\r\n$1\r\nx\r\n");
	resp_buf_consume(&b2, 0);
	expect_buf(&b2, "+OK\r\n:7\r\n$1\r\nx\r\n");
	resp_buf_consume(&b2, 5);
	expect_buf(&b2, ":7\r\n$1\r\nx\r\n");
	resp_buf_consume(&b2, 2);
	expect_buf(&b2, "\r\n$1\r\nx\r\n");
	/* Appending after a partial consume keeps the order. */
	resp_add_ok(&b2);
	expect_buf(&b2, "\r\n$1\r\nx\r\n+OK\r\n");
	resp_buf_consume(&b2, b2.len);
	cr_assert_eq(b2.len, 0);
	/* More than there is: empty, not underflowed. */
	resp_add_ok(&b2);
	resp_buf_consume(&b2, 1000);
	cr_assert_eq(b2.len, 0);
	resp_add_int(&b2, 1);
	expect_buf(&b2, ":1\r\n");
}

Test(resp, write_large_bulk_grows_buffer, .init = setup_writer,
     .fini = teardown_writer)
{
	size_t n = 1024 * 1024;
	char *v = malloc(n);
	cr_assert_not_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (char)(i * 31 + 7);
	resp_add_ok(&b3);
	resp_add_bulk(&b3, v, n);
	resp_add_int(&b3, 5);
	cr_assert_not(b3.oom);
	const char head[] = "+OK\r\n$1048576\r\n";
	size_t hl = sizeof(head) - 1;
	cr_assert_eq(b3.len, hl + n + 2 + 4);
	cr_assert_geq(b3.cap, b3.len);
	cr_assert(memcmp(b3.data, head, hl) == 0);
	cr_assert(memcmp(b3.data + hl, v, n) == 0);
	cr_assert(memcmp(b3.data + hl + n, "\r\n:5\r\n", 6) == 0);

	/* Several large bulks one after another. */
	for (int i = 0; i < 4; i++)
		resp_add_bulk(&b2, v, n);
	cr_assert_not(b2.oom);
	cr_assert_eq(b2.len, 4 * (10 + n + 2));
	for (int i = 0; i < 4; i++) {
		const char *at = b2.data + (size_t)i * (10 + n + 2);
		cr_assert(memcmp(at, "$1048576\r\n", 10) == 0);
		cr_assert(memcmp(at + 10, v, n) == 0);
		cr_assert(memcmp(at + 10 + n, "\r\n", 2) == 0);
	}
	/* Sent in part, then more appended. */
	resp_buf_consume(&b2, 3 * (10 + n + 2));
	resp_add_ok(&b2);
	cr_assert_eq(b2.len, 10 + n + 2 + 5);
	cr_assert(memcmp(b2.data + 10, v, n) == 0);
	cr_assert(memcmp(b2.data + 10 + n, "\r\n+OK\r\n", 7) == 0);
	free(v);
}
