/*
 * hiredis_test.c - drives a server with Debian's libhiredis, the C client
 * most other clients' parsers descend from.  hiredis sends no handshake, so
 * this checks the plain request/reply path: PING, SET/GET of a binary value
 * (and of a 1 MiB one, which arrives in many reads), GET of a missing key,
 * INCR and its error on a non-integer, and pipelines of 1000 commands whose
 * replies must come back complete and in order.
 *
 *   hiredis-test PORT [HOST]
 *
 * Prints one line per check group and a summary; exits 0 when everything
 * matched, 1 on a mismatch, 2 on a usage or connection error.  Keys carry
 * the process id, so runs sharing a server do not collide.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PIPELINE_LEN 1000
#define BIG_LEN (1024 * 1024)

static int passed, failed;
static char prefix[64];

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failed++;
}

static const char *type_name(int type)
{
	switch (type) {
	case REDIS_REPLY_STRING:
		return "string";
	case REDIS_REPLY_ARRAY:
		return "array";
	case REDIS_REPLY_INTEGER:
		return "integer";
	case REDIS_REPLY_NIL:
		return "nil";
	case REDIS_REPLY_STATUS:
		return "status";
	case REDIS_REPLY_ERROR:
		return "error";
	default:
		return "other";
	}
}

/* Checks that r is of `type` and, for strings, statuses and errors, holds
 * exactly want (wlen bytes); for integers, equals wint.  Frees r. */
static void expect(const char *what, redisReply *r, int type, const char *want,
		   size_t wlen, long long wint)
{
	if (r == NULL) {
		fail("%s: no reply (connection error)", what);
		return;
	}
	if (r->type != type) {
		fail("%s: got a %s reply (%.*s), want a %s", what,
		     type_name(r->type), r->str ? (int)r->len : 0,
		     r->str ? r->str : "", type_name(type));
	} else if (type == REDIS_REPLY_INTEGER && r->integer != wint) {
		fail("%s: got %lld, want %lld", what, r->integer, wint);
	} else if ((type == REDIS_REPLY_STRING || type == REDIS_REPLY_STATUS ||
		    type == REDIS_REPLY_ERROR) &&
		   (r->len != wlen || memcmp(r->str, want, wlen) != 0)) {
		fail("%s: got %zu bytes '%.*s', want %zu bytes '%.*s'", what,
		     r->len, r->len > 80 ? 80 : (int)r->len, r->str, wlen,
		     wlen > 80 ? 80 : (int)wlen, want);
	} else {
		passed++;
	}
	freeReplyObject(r);
}

static void expect_status(const char *what, redisReply *r, const char *want)
{
	expect(what, r, REDIS_REPLY_STATUS, want, strlen(want), 0);
}

static void expect_int(const char *what, redisReply *r, long long want)
{
	expect(what, r, REDIS_REPLY_INTEGER, NULL, 0, want);
}

/* redisCommand's reply, or NULL after printing the context's error. */
static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r == NULL)
		printf("connection error: %s\n", c->errstr);
	return r;
}

static void check_basic(redisContext *c)
{
	int before = failed;
	expect_status("PING", cmd(c, "PING"), "PONG");
	redisReply *r = cmd(c, "PING %s", "hello");
	expect("PING hello", r, REDIS_REPLY_STRING, "hello", 5, 0);

	/* Every byte value, with CR LF and NUL in the middle. */
	char bin[256 + 6];
	for (int i = 0; i < 256; i++)
		bin[i] = (char)i;
	memcpy(bin + 256, "\r\n\0\r\n\0", 6);
	expect_status("SET binary",
		      cmd(c, "SET %sbin %b", prefix, bin, sizeof(bin)), "OK");
	expect("GET binary", cmd(c, "GET %sbin", prefix), REDIS_REPLY_STRING,
	       bin, sizeof(bin), 0);
	/* A binary key too. */
	expect_status("SET binary key",
		      cmd(c, "SET %s%b v", prefix, "k\0\r\nk", (size_t)5),
		      "OK");
	expect("GET binary key",
	       cmd(c, "GET %s%b", prefix, "k\0\r\nk", (size_t)5),
	       REDIS_REPLY_STRING, "v", 1, 0);
	expect("GET missing", cmd(c, "GET %smissing", prefix), REDIS_REPLY_NIL,
	       NULL, 0, 0);
	expect_status("SET empty", cmd(c, "SET %sempty %b", prefix, "", 0),
		      "OK");
	expect("GET empty", cmd(c, "GET %sempty", prefix), REDIS_REPLY_STRING,
	       "", 0, 0);

	char *big = malloc(BIG_LEN);
	if (big == NULL) {
		fail("out of memory");
		return;
	}
	for (size_t i = 0; i < BIG_LEN; i++)
		big[i] = (char)(i * 131 + (i >> 10));
	expect_status("SET 1 MiB",
		      cmd(c, "SET %sbig %b", prefix, big, (size_t)BIG_LEN),
		      "OK");
	expect("GET 1 MiB", cmd(c, "GET %sbig", prefix), REDIS_REPLY_STRING,
	       big, BIG_LEN, 0);
	free(big);
	printf("%s basic: PING, binary SET/GET, empty, missing, 1 MiB\n",
	       failed == before ? "ok  " : "FAIL");
}

static void check_incr(redisContext *c)
{
	int before = failed;
	expect_int("INCR new", cmd(c, "INCR %sn", prefix), 1);
	expect_int("INCR", cmd(c, "INCR %sn", prefix), 2);
	expect("GET counter", cmd(c, "GET %sn", prefix), REDIS_REPLY_STRING,
	       "2", 1, 0);
	expect_status("SET text", cmd(c, "SET %stext abc", prefix), "OK");
	const char *err = "ERR value is not an integer or out of range";
	expect("INCR on text", cmd(c, "INCR %stext", prefix), REDIS_REPLY_ERROR,
	       err, strlen(err), 0);
	/* The connection is still usable after an error reply. */
	expect_status("PING after error", cmd(c, "PING"), "PONG");
	printf("%s INCR: counts, error on text\n",
	       failed == before ? "ok  " : "FAIL");
}

/* Sends PIPELINE_LEN commands in one buffer before reading any reply:
 * SETs of distinct keys interleaved with INCRs of one counter, then
 * PIPELINE_LEN GETs of the keys just set. */
static void check_pipeline(redisContext *c)
{
	int before = failed;
	char what[64], val[64];
	for (int i = 0; i < PIPELINE_LEN; i++) {
		if (i % 2 == 0)
			redisAppendCommand(c, "SET %sp:%d v%d", prefix, i, i);
		else
			redisAppendCommand(c, "INCR %sctr", prefix);
	}
	for (int i = 0; i < PIPELINE_LEN; i++) {
		redisReply *r = NULL;
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			fail("pipeline reply %d: %s", i, c->errstr);
			return;
		}
		snprintf(what, sizeof(what), "pipeline reply %d", i);
		if (i % 2 == 0)
			expect_status(what, r, "OK");
		else
			expect_int(what, r, i / 2 + 1);
	}
	for (int i = 0; i < PIPELINE_LEN; i++)
		redisAppendCommand(c, "GET %sp:%d", prefix, i - i % 2);
	for (int i = 0; i < PIPELINE_LEN; i++) {
		redisReply *r = NULL;
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			fail("pipelined GET %d: %s", i, c->errstr);
			return;
		}
		snprintf(what, sizeof(what), "pipelined GET %d", i);
		int n = snprintf(val, sizeof(val), "v%d", i - i % 2);
		expect(what, r, REDIS_REPLY_STRING, val, (size_t)n, 0);
	}
	expect("GET counter after pipeline", cmd(c, "GET %sctr", prefix),
	       REDIS_REPLY_STRING, "500", 3, 0);
	printf("%s pipeline: %d SET/INCR then %d GET, replies in order\n",
	       failed == before ? "ok  " : "FAIL", PIPELINE_LEN, PIPELINE_LEN);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
		return 2;
	}
	const char *host = argc == 3 ? argv[2] : "127.0.0.1";
	struct timeval tv = {.tv_sec = 10};
	redisContext *c = redisConnectWithTimeout(host, atoi(argv[1]), tv);
	if (c == NULL || c->err) {
		fprintf(stderr, "cannot connect to %s:%s: %s\n", host, argv[1],
			c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return 2;
	}
	/* A server that stops answering fails the run instead of hanging. */
	redisSetTimeout(c, tv);
	snprintf(prefix, sizeof(prefix), "hiredis:%d:", (int)getpid());

	check_basic(c);
	check_incr(c);
	check_pipeline(c);

	redisFree(c);
	printf("%shiredis: %d checks passed, %d failed\n",
	       failed ? "FAIL " : "", passed, failed);
	return failed ? 1 : 0;
}
