/*
 * cmd_docs.c - COMMAND DOCS "arguments" from redis.io-style syntax strings.
 *
 * Each command with arguments has one syntax string, written as redis.io
 * shows it.  The grammar:
 *
 *   lower-case word   an argument; its name is the word.  "key", "newkey",
 *                     "source" and "destination" are keys; "pattern" is a
 *                     pattern; "unix-time-*" a unix-time; count-like names
 *                     (seconds, count, offset, ...) integers; else strings
 *   UPPER-CASE word   a token: the token of the argument or group right
 *                     after it, a block's token when it starts a group of
 *                     several items, else a pure token
 *   [ ... ]           optional
 *   ( ... ) < ... >   a group
 *   a | b             one of (each alternative of several items a block)
 *   x ...             x may repeat; "x [x ...]" is one multiple argument
 *
 * The parse builds a small tree in a fixed pool, then writes the maps with
 * Redis 7's fields: name, type, key_spec_index, token, flags, arguments.
 * Flags are simple strings in a set, as redis-cli asserts.
 */
#include "cmd_docs.h"

#include <ctype.h>
#include <string.h>

/* ---- the syntax table ------------------------------------------------- */

typedef struct doc_syntax {
	const char *name;
	const char *syntax;
} doc_syntax;

#define EXPIRE_COND "[NX | XX | GT | LT]"
#define KEYS "key [key ...]"

static const doc_syntax syntaxes[] = {
	{"append", "key value"},
	{"auth", "[username] password"},
	{"client|kill",
	 "<ip:port | <[ID client-id] [TYPE <NORMAL | MASTER | SLAVE | REPLICA "
	 "| PUBSUB>] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME "
	 "<YES | NO>] [MAXAGE maxage]>>"},
	{"client|list",
	 "[TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id "
	 "[client-id ...]]"},
	{"client|no-evict", "<ON | OFF>"},
	{"client|no-touch", "<ON | OFF>"},
	{"client|reply", "<ON | OFF | SKIP>"},
	{"client|setinfo", "<LIB-NAME libname | LIB-VER libver>"},
	{"client|setname", "connection-name"},
	{"client|unblock", "client-id [TIMEOUT | ERROR]"},
	{"command|docs", "[command-name [command-name ...]]"},
	{"command|getkeys", "command [arg [arg ...]]"},
	{"command|getkeysandflags", "command [arg [arg ...]]"},
	{"command|info", "[command-name [command-name ...]]"},
	{"command|list",
	 "[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]"},
	{"config|get", "parameter [parameter ...]"},
	{"config|set", "parameter value [parameter value ...]"},
	{"copy", "source destination [DB destination-db] [REPLACE]"},
	{"decr", "key"},
	{"decrby", "key decrement"},
	{"del", KEYS},
	{"echo", "message"},
	{"exists", KEYS},
	{"expire", "key seconds " EXPIRE_COND},
	{"expireat", "key unix-time-seconds " EXPIRE_COND},
	{"expiretime", "key"},
	{"flushall", "[ASYNC | SYNC]"},
	{"flushdb", "[ASYNC | SYNC]"},
	{"get", "key"},
	{"getdel", "key"},
	{"getex",
	 "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT "
	 "unix-time-milliseconds | PERSIST]"},
	{"getrange", "key start end"},
	{"getset", "key value"},
	{"hello", "[protover [AUTH username password] [SETNAME clientname]]"},
	{"incr", "key"},
	{"incrby", "key increment"},
	{"incrbyfloat", "key increment"},
	{"info", "[section [section ...]]"},
	{"keys", "pattern"},
	{"mget", KEYS},
	{"mset", "key value [key value ...]"},
	{"msetnx", "key value [key value ...]"},
	{"persist", "key"},
	{"pexpire", "key milliseconds " EXPIRE_COND},
	{"pexpireat", "key unix-time-milliseconds " EXPIRE_COND},
	{"pexpiretime", "key"},
	{"ping", "[message]"},
	{"psetex", "key milliseconds value"},
	{"pttl", "key"},
	{"rename", "key newkey"},
	{"renamenx", "key newkey"},
	{"scan", "cursor [MATCH pattern] [COUNT count] [TYPE type]"},
	{"select", "index"},
	{"set",
	 "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT "
	 "unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]"},
	{"setex", "key seconds value"},
	{"setnx", "key value"},
	{"setrange", "key offset value"},
	{"shutdown", "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]"},
	{"strlen", "key"},
	{"substr", "key start end"},
	{"touch", KEYS},
	{"ttl", "key"},
	{"type", "key"},
	{"unlink", KEYS},
	{NULL, NULL},
};

const char *cmd_docs_syntax(const char *name)
{
	for (const doc_syntax *d = syntaxes; d->name; d++)
		if (strcmp(d->name, name) == 0)
			return d->syntax;
	return NULL;
}

/* ---- the tree --------------------------------------------------------- */

enum {
	T_STRING,
	T_INTEGER,
	T_KEY,
	T_PATTERN,
	T_UNIX_TIME,
	T_PURE_TOKEN,
	T_ONEOF,
	T_BLOCK,
};

static const char *const type_names[] = {
	"string",    "integer",	   "key",   "pattern",
	"unix-time", "pure-token", "oneof", "block",
};

enum { F_OPTIONAL = 1, F_MULTIPLE = 2 };

#define MAX_NODES 96
#define NAME_CAP 48

typedef struct dnode {
	char name[NAME_CAP];
	const char *token; /* into the syntax string; NULL if none */
	size_t token_len;
	int type;
	unsigned flags;
	int first, next; /* children and sibling: pool indexes, -1 for none */
} dnode;

typedef struct parser {
	const char *p; /* next character */
	dnode pool[MAX_NODES];
	int n;
	bool bad;
} parser;

static int new_node(parser *ps, int type)
{
	if (ps->n == MAX_NODES) {
		ps->bad = true;
		return -1;
	}
	dnode *d = &ps->pool[ps->n];
	memset(d, 0, sizeof(*d));
	d->type = type;
	d->first = d->next = -1;
	return ps->n++;
}

static bool is_word_char(char c)
{
	return c != '\0' && !isspace((unsigned char)c) &&
	       strchr("[]()<>|", c) == NULL;
}

static void skip_space(parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

/* The type a lower-case argument name implies. */
static int type_of_name(const char *name)
{
	static const char *const keys[] = {"key", "newkey", "source",
					   "destination", NULL};
	static const char *const ints[] = {"seconds",
					   "milliseconds",
					   "count",
					   "increment",
					   "decrement",
					   "offset",
					   "start",
					   "end",
					   "cursor",
					   "index",
					   "db",
					   "timeout",
					   "numkeys",
					   "client-id",
					   "maxage",
					   "protover",
					   "destination-db",
					   NULL};
	for (int i = 0; keys[i]; i++)
		if (strcmp(name, keys[i]) == 0)
			return T_KEY;
	for (int i = 0; ints[i]; i++)
		if (strcmp(name, ints[i]) == 0)
			return T_INTEGER;
	if (strcmp(name, "pattern") == 0)
		return T_PATTERN;
	if (strncmp(name, "unix-time", 9) == 0)
		return T_UNIX_TIME;
	return T_STRING;
}

/* Two arguments are the same (for "x [x ...]") when their names, types,
 * tokens and children match; flags are not compared. */
static bool same_node(const parser *ps, int a, int b)
{
	const dnode *x = &ps->pool[a], *y = &ps->pool[b];
	if (strcmp(x->name, y->name) != 0 || x->type != y->type ||
	    x->token_len != y->token_len ||
	    (x->token_len > 0 && memcmp(x->token, y->token, x->token_len) != 0))
		return false;
	int i = x->first, j = y->first;
	for (; i >= 0 && j >= 0; i = ps->pool[i].next, j = ps->pool[j].next)
		if (!same_node(ps, i, j))
			return false;
	return i < 0 && j < 0;
}

/* A group's name: its token in lower case, else its children's names
 * joined with '-' (truncated to fit). */
static void name_group(parser *ps, int g)
{
	dnode *d = &ps->pool[g];
	size_t len = 0;
	if (d->token != NULL) {
		for (size_t i = 0; i < d->token_len && i + 1 < NAME_CAP; i++)
			d->name[len++] =
				(char)tolower((unsigned char)d->token[i]);
		d->name[len] = '\0';
		return;
	}
	d->name[0] = '\0';
	for (int c = d->first; c >= 0; c = ps->pool[c].next) {
		const char *part = ps->pool[c].name;
		size_t plen = strlen(part), sep = len > 0;
		if (len + sep + plen >= NAME_CAP)
			break; /* whole names only */
		if (sep)
			d->name[len++] = '-';
		memcpy(d->name + len, part, plen + 1);
		len += plen;
	}
}

/* Wraps items[0..n) in a new group node of the given type. */
static int make_group(parser *ps, int type, const int *items, int n)
{
	int g = new_node(ps, type);
	if (g < 0)
		return -1;
	ps->pool[g].first = items[0];
	for (int i = 0; i < n; i++)
		ps->pool[items[i]].next = i + 1 < n ? items[i + 1] : -1;
	name_group(ps, g);
	return g;
}

static int parse_alternatives(parser *ps, char close, bool in_group);

#define MAX_ITEMS 32

/* One sequence, up to '|', the closing character or the end.  Returns the
 * node: a single item, or a block of several; -1 when empty or bad. */
static int parse_sequence(parser *ps, char close, bool in_group)
{
	int items[MAX_ITEMS];
	int n = 0;
	bool repeat_all = false; /* "a b ..." ends the group */
	for (;;) {
		skip_space(ps);
		char c = *ps->p;
		if (c == '\0' || c == '|' || c == close)
			break;
		if (n == MAX_ITEMS) {
			ps->bad = true;
			return -1;
		}
		int item;
		if (strncmp(ps->p, "...", 3) == 0) {
			ps->p += 3;
			if (n == 0) {
				ps->bad = true;
				return -1;
			}
			skip_space(ps);
			if (n > 1 && (*ps->p == close || *ps->p == '\0') &&
			    close == ']')
				repeat_all = true;
			else
				ps->pool[items[n - 1]].flags |= F_MULTIPLE;
			continue;
		} else if (c == '[' || c == '(' || c == '<') {
			char end = c == '[' ? ']' : c == '(' ? ')' : '>';
			ps->p++;
			item = parse_alternatives(ps, end, true);
			if (item < 0 || *ps->p != end) {
				ps->bad = true;
				return -1;
			}
			ps->p++;
			if (c == '[')
				ps->pool[item].flags |= F_OPTIONAL;
		} else if (is_word_char(c)) {
			const char *w = ps->p;
			bool lower = false;
			while (is_word_char(*ps->p) &&
			       strncmp(ps->p, "...", 3) != 0) {
				if (islower((unsigned char)*ps->p))
					lower = true;
				ps->p++;
			}
			size_t len = (size_t)(ps->p - w);
			if (len == 0 || len >= NAME_CAP) {
				ps->bad = true;
				return -1;
			}
			item = new_node(ps, T_STRING);
			if (item < 0)
				return -1;
			dnode *d = &ps->pool[item];
			for (size_t i = 0; i < len; i++)
				d->name[i] = (char)tolower((unsigned char)w[i]);
			d->name[len] = '\0';
			if (lower) {
				d->type = type_of_name(d->name);
			} else {
				d->type = T_PURE_TOKEN;
				d->token = w;
				d->token_len = len;
			}
		} else {
			ps->bad = true;
			return -1;
		}
		items[n++] = item;
	}
	/* "x [x ...]": the optional repeat folds into x itself. */
	for (int i = 1; i < n; i++) {
		dnode *r = &ps->pool[items[i]];
		if ((r->flags & (F_OPTIONAL | F_MULTIPLE)) !=
		    (F_OPTIONAL | F_MULTIPLE))
			continue;
		int k = 1; /* how many items before r it repeats */
		if (r->type == T_BLOCK && r->token == NULL) {
			k = 0;
			for (int c = r->first; c >= 0; c = ps->pool[c].next)
				k++;
			if (k > i)
				continue;
			int c = r->first;
			bool same = true;
			for (int j = i - k; j < i; j++, c = ps->pool[c].next)
				same = same && same_node(ps, items[j], c);
			if (!same)
				continue;
		} else if (!same_node(ps, items[i - 1], items[i])) {
			continue;
		}
		r->flags &= ~(unsigned)F_OPTIONAL;
		r->flags |= ps->pool[items[i - k]].flags & F_OPTIONAL;
		memmove(&items[i - k], &items[i],
			(size_t)(n - i) * sizeof(items[0]));
		n -= k;
		i -= k;
	}
	/* Tokens: a group that starts with one and holds more is a block
	 * with that token; otherwise a token names the item after it. */
	if (in_group && n > 2 && ps->pool[items[0]].type == T_PURE_TOKEN &&
	    ps->pool[items[0]].flags == 0) {
		const dnode *t = &ps->pool[items[0]];
		int g = new_node(ps, T_BLOCK);
		if (g < 0)
			return -1;
		ps->pool[g].token = t->token;
		ps->pool[g].token_len = t->token_len;
		ps->pool[g].first = items[1];
		for (int i = 1; i < n; i++)
			ps->pool[items[i]].next = i + 1 < n ? items[i + 1] : -1;
		name_group(ps, g);
		if (repeat_all)
			ps->pool[g].flags |= F_MULTIPLE;
		return g;
	}
	for (int i = 0; i + 1 < n; i++) {
		const dnode *t = &ps->pool[items[i]];
		dnode *a = &ps->pool[items[i + 1]];
		if (t->type != T_PURE_TOKEN || t->flags != 0 ||
		    a->type == T_PURE_TOKEN || a->token != NULL ||
		    (a->flags & F_OPTIONAL))
			continue;
		a->token = t->token;
		a->token_len = t->token_len;
		if (a->type == T_ONEOF || a->type == T_BLOCK)
			name_group(ps, items[i + 1]);
		memmove(&items[i], &items[i + 1],
			(size_t)(n - i - 1) * sizeof(items[0]));
		n--;
	}
	if (n == 0)
		return -1;
	int result = n == 1 ? items[0] : make_group(ps, T_BLOCK, items, n);
	if (result >= 0 && repeat_all)
		ps->pool[result].flags |= F_MULTIPLE;
	return result;
}

/* Alternatives separated by '|': one sequence, or a oneof of several. */
static int parse_alternatives(parser *ps, char close, bool in_group)
{
	int alts[MAX_ITEMS];
	int n = 0;
	for (;;) {
		int a = parse_sequence(ps, close,
				       in_group || n > 0 || *ps->p == '|');
		if (a < 0 || n == MAX_ITEMS) {
			ps->bad = true;
			return -1;
		}
		alts[n++] = a;
		skip_space(ps);
		if (*ps->p != '|')
			break;
		ps->p++;
	}
	return n == 1 ? alts[0] : make_group(ps, T_ONEOF, alts, n);
}

/* Parses a whole syntax string into top-level items; returns the first
 * (the rest follow by next), or -1 when it does not parse. */
static int parse_syntax(parser *ps, const char *syntax)
{
	ps->p = syntax;
	ps->n = 0;
	ps->bad = false;
	int root = parse_alternatives(ps, '\0', false);
	if (ps->bad || root < 0 || *ps->p != '\0')
		return -1;
	/* A top-level sequence of several is the argument list itself. */
	dnode *r = &ps->pool[root];
	if (r->type == T_BLOCK && r->token == NULL && r->flags == 0)
		return r->first;
	return root;
}

/* ---- the reply -------------------------------------------------------- */

static int count_siblings(const parser *ps, int first)
{
	int n = 0;
	for (int i = first; i >= 0; i = ps->pool[i].next)
		n++;
	return n;
}

static void add_args(resp_buf *b, const parser *ps, int first, int *key_index)
{
	resp_add_array(b, count_siblings(ps, first));
	for (int i = first; i >= 0; i = ps->pool[i].next) {
		const dnode *d = &ps->pool[i];
		bool key = d->type == T_KEY;
		bool token = d->token != NULL;
		bool flags = d->flags != 0;
		bool children = d->first >= 0;
		resp_add_map(b, 2 + key + token + flags + children);
		resp_add_cstr(b, "name");
		resp_add_cstr(b, d->name);
		resp_add_cstr(b, "type");
		resp_add_cstr(b, type_names[d->type]);
		if (key) {
			resp_add_cstr(b, "key_spec_index");
			resp_add_int(b, (*key_index)++);
		}
		if (token) {
			resp_add_cstr(b, "token");
			resp_add_bulk(b, d->token, d->token_len);
		}
		if (flags) {
			resp_add_cstr(b, "flags");
			resp_add_set(b, !!(d->flags & F_OPTIONAL) +
						!!(d->flags & F_MULTIPLE));
			if (d->flags & F_OPTIONAL)
				resp_add_simple(b, "optional");
			if (d->flags & F_MULTIPLE)
				resp_add_simple(b, "multiple");
		}
		if (children) {
			resp_add_cstr(b, "arguments");
			add_args(b, ps, d->first, key_index);
		}
	}
}

bool cmd_docs_has_arguments(const char *name)
{
	const char *syntax = cmd_docs_syntax(name);
	if (syntax == NULL)
		return false;
	parser ps;
	return parse_syntax(&ps, syntax) >= 0;
}

void cmd_docs_add_arguments(resp_buf *b, const char *name)
{
	const char *syntax = cmd_docs_syntax(name);
	parser ps;
	int first = syntax != NULL ? parse_syntax(&ps, syntax) : -1;
	if (first < 0) {
		resp_add_array(b, 0);
		return;
	}
	int key_index = 0;
	add_args(b, &ps, first, &key_index);
}
