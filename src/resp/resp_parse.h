/*
 * resp_parse.h - incremental parser of client requests (RESP multibulk
 * and inline commands).  It never touches sockets: the caller hands it the
 * bytes it has, and it says how many form complete commands.
 *
 * Arguments of multibulk requests point into the caller's buffer (no
 * copy); inline arguments, which may need unquoting, are copied into the
 * parser's own arena.  Either way they stay valid until the next call to
 * resp_parse() or until the caller moves or frees its buffer.
 *
 * Errors are Redis's exact "Protocol error: ..." texts; after one, the
 * connection is to be closed (as Redis does), so the parser keeps no state
 * worth resuming.
 *
 * Threads: a parser belongs to one connection, used by one thread.
 */
#ifndef RESP_PARSE_H
#define RESP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits, with Redis's defaults. */
typedef struct resp_limits {
	int64_t max_bulk_len;	  /* proto-max-bulk-len: 512 MiB */
	int64_t max_multibulk;	  /* arguments per command: INT_MAX */
	size_t max_inline;	  /* inline line / count line: 64 KiB */
	int64_t unauth_multibulk; /* before AUTH: 10 arguments */
	int64_t unauth_bulk;	  /* before AUTH: 16 KiB per argument */
} resp_limits;

void resp_limits_default(resp_limits *l);

typedef struct resp_parser {
	const resp_limits *limits;
	bool authenticated; /* false: the stricter pre-AUTH limits apply */
	/* Arguments of the last command. */
	int argc;
	int argv_cap;
	const char **argv;
	size_t *argv_len;
	/* Inline arguments are unquoted into this arena. */
	char *arena;
	size_t arena_cap;
	/* How many bytes the command being received needs in all, when known
	 * (so the caller can size its buffer for a large bulk); 0 if not. */
	size_t want;
	const char *error; /* the protocol error, after RESP_ERROR */
	char errbuf[64];
	/* A multibulk command received in parts resumes where it stopped. */
	int64_t mb_count; /* arguments announced, -1 when not in a multibulk */
	size_t mb_pos;	  /* offset of the next unparsed argument */
	size_t *argv_off; /* offsets of parsed arguments */
} resp_parser;

enum {
	RESP_OK = 0,	 /* one command parsed: argc, argv, argv_len */
	RESP_AGAIN = 1,	 /* need more bytes */
	RESP_EMPTY = 2,	 /* bytes consumed, no command (empty line, *0) */
	RESP_ERROR = -1, /* protocol error: p->error says which */
	RESP_NOMEM = -2,
};

void resp_parser_init(resp_parser *p, const resp_limits *limits);
void resp_parser_free(resp_parser *p);

/* Parses at most one command from buf[0..len).  On RESP_OK and RESP_EMPTY
 * *consumed is the number of bytes it used; on RESP_AGAIN nothing is
 * consumed: call again with the same bytes at the start of buf (the
 * buffer may have moved) followed by more.  Returns one of the
 * RESP_* codes above. */
int resp_parse(resp_parser *p, const char *buf, size_t len, size_t *consumed);

/* Parses s[0..n) as a decimal int64 with Redis's string2ll rules: an
 * optional '-', digits, no spaces, no '+', no leading zeros, no overflow.
 * Returns true and sets *out, or false. */
bool resp_string2ll(const char *s, size_t n, int64_t *out);

/* Splits one line into arguments with the inline-command rules (spaces
 * separate; "double" and 'single' quotes as redis-cli and redis.conf use
 * them).  On RESP_OK the words are in p->argc / argv / argv_len (copies in
 * the parser's arena).  Returns RESP_OK, RESP_ERROR (unbalanced quotes) or
 * RESP_NOMEM. */
int resp_split_line(resp_parser *p, const char *s, size_t n);

#endif
