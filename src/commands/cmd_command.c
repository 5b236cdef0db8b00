/*
 * cmd_command.c - the COMMAND family (COMMAND, COUNT, INFO, DOCS, LIST,
 * GETKEYS, GETKEYSANDFLAGS, HELP): the command table as Redis 7 reports it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "cmd_docs.h"
#include "glob.h"

#define END                                                                    \
	{                                                                      \
		NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL        \
	}
#define SUB_FLAGS (CMD_LOADING | CMD_STALE)

/* ---- the COMMAND family ------------------------------------------------- */

/* ACL categories, in the order Redis lists them. */
enum {
	ACL_KEYSPACE = 1 << 0,
	ACL_READ = 1 << 1,
	ACL_WRITE = 1 << 2,
	ACL_SET = 1 << 3,
	ACL_SORTEDSET = 1 << 4,
	ACL_LIST = 1 << 5,
	ACL_HASH = 1 << 6,
	ACL_STRING = 1 << 7,
	ACL_BITMAP = 1 << 8,
	ACL_HYPERLOGLOG = 1 << 9,
	ACL_GEO = 1 << 10,
	ACL_STREAM = 1 << 11,
	ACL_PUBSUB = 1 << 12,
	ACL_ADMIN = 1 << 13,
	ACL_FAST = 1 << 14,
	ACL_SLOW = 1 << 15,
	ACL_BLOCKING = 1 << 16,
	ACL_DANGEROUS = 1 << 17,
	ACL_CONNECTION = 1 << 18,
	ACL_TRANSACTION = 1 << 19,
	ACL_SCRIPTING = 1 << 20,
};

static const char *const acl_names[] = {
	"keyspace",  "read",	 "write",     "set",	    "sortedset",
	"list",	     "hash",	 "string",    "bitmap",	    "hyperloglog",
	"geo",	     "stream",	 "pubsub",    "admin",	    "fast",
	"slow",	     "blocking", "dangerous", "connection", "transaction",
	"scripting", NULL};

/* The category a COMMAND DOCS group implies. */
static const struct {
	const char *group;
	uint32_t acl;
} group_acl[] = {
	{"generic", ACL_KEYSPACE},
	{"string", ACL_STRING},
	{"list", ACL_LIST},
	{"set", ACL_SET},
	{"sorted-set", ACL_SORTEDSET},
	{"hash", ACL_HASH},
	{"bitmap", ACL_BITMAP},
	{"hyperloglog", ACL_HYPERLOGLOG},
	{"geo", ACL_GEO},
	{"stream", ACL_STREAM},
	{"pubsub", ACL_PUBSUB},
	{"connection", ACL_CONNECTION},
	{"transactions", ACL_TRANSACTION},
	{"scripting", ACL_SCRIPTING},
};

/* What a row cannot say: extra ACL categories, command tips and key-spec
 * flags as Redis 7.2 gives them, for the commands that need them.  Rows
 * not listed get what their flags and group imply. */
static const struct cmd_note {
	const char *name;
	uint32_t acl;
	const char *tips;     /* space-separated */
	const char *ks_flags; /* space-separated; NULL: from RO/RW flags */
} cmd_notes[] = {
	{"command", ACL_CONNECTION, NULL, NULL},
	{"config|resetstat", 0,
	 "request_policy:all_nodes response_policy:all_succeeded", NULL},
	{"config|rewrite", 0,
	 "request_policy:all_nodes response_policy:all_succeeded", NULL},
	{"config|set", 0,
	 "request_policy:all_nodes response_policy:all_succeeded", NULL},
	{"client|info", 0, "nondeterministic_output", NULL},
	{"client|list", 0, "nondeterministic_output", NULL},
	{"dbsize", ACL_KEYSPACE,
	 "request_policy:all_shards response_policy:agg_sum", NULL},
	{"bgsave", ACL_ADMIN | ACL_DANGEROUS, NULL, NULL},
	{"del", 0, "request_policy:multi_shard response_policy:agg_sum",
	 "RM delete"},
	{"exists", 0, "request_policy:multi_shard response_policy:agg_sum",
	 "RO"},
	{"flushall", ACL_KEYSPACE | ACL_DANGEROUS,
	 "request_policy:all_shards response_policy:all_succeeded", NULL},
	{"flushdb", ACL_KEYSPACE | ACL_DANGEROUS,
	 "request_policy:all_shards response_policy:all_succeeded", NULL},
	{"getdel", 0, NULL, "RW access delete"},
	{"info", ACL_DANGEROUS,
	 "nondeterministic_output request_policy:all_shards "
	 "response_policy:special",
	 NULL},
	{"keys", ACL_DANGEROUS,
	 "request_policy:all_shards nondeterministic_output_order", NULL},
	{"lastsave", ACL_ADMIN | ACL_DANGEROUS, "nondeterministic_output",
	 NULL},
	{"mget", 0, "request_policy:multi_shard", NULL},
	{"mset", 0, "request_policy:multi_shard response_policy:all_succeeded",
	 "OW update"},
	{"msetnx", 0, "request_policy:multi_shard response_policy:agg_min",
	 "OW insert"},
	{"ping", 0, "request_policy:all_shards response_policy:all_succeeded",
	 NULL},
	{"psetex", 0, NULL, "OW update"},
	{"randomkey", 0,
	 "request_policy:all_shards response_policy:special "
	 "nondeterministic_output",
	 NULL},
	{"readonly", ACL_CONNECTION, NULL, NULL},
	{"readwrite", ACL_CONNECTION, NULL, NULL},
	{"save", ACL_ADMIN | ACL_DANGEROUS, NULL, NULL},
	{"scan", 0, "nondeterministic_output request_policy:special", NULL},
	{"set", 0, NULL, "RW access update variable_flags"},
	{"setex", 0, NULL, "OW update"},
	{"setnx", 0, NULL, "OW insert"},
	{"strlen", 0, NULL, "RO"},
	{"swapdb", ACL_KEYSPACE | ACL_DANGEROUS, NULL, NULL},
	{"time", 0, "nondeterministic_output", NULL},
	{"touch", 0, "request_policy:multi_shard response_policy:agg_sum",
	 "RO"},
	{"type", 0, NULL, "RO"},
	{"unlink", 0, "request_policy:multi_shard response_policy:agg_sum",
	 "RM delete"},
};

static const struct cmd_note *note_of(const cmd_def *d)
{
	for (size_t i = 0; i < sizeof(cmd_notes) / sizeof(cmd_notes[0]); i++)
		if (strcmp(cmd_notes[i].name, d->name) == 0)
			return &cmd_notes[i];
	return NULL;
}

/* Redis's setImplicitACLCategories plus the group's own category. */
static uint32_t acl_of(const cmd_def *d)
{
	uint32_t a = 0;
	if (d->group != NULL)
		for (size_t i = 0; i < sizeof(group_acl) / sizeof(group_acl[0]);
		     i++)
			if (strcmp(group_acl[i].group, d->group) == 0)
				a |= group_acl[i].acl;
	const struct cmd_note *n = note_of(d);
	if (n != NULL)
		a |= n->acl;
	if (d->flags & CMD_WRITE)
		a |= ACL_WRITE;
	if (d->flags & CMD_READONLY)
		a |= ACL_READ;
	if (d->flags & CMD_ADMIN)
		a |= ACL_ADMIN | ACL_DANGEROUS;
	if (d->flags & CMD_FAST)
		a |= ACL_FAST;
	if (d->flags & CMD_BLOCKING)
		a |= ACL_BLOCKING;
	if (!(a & ACL_FAST))
		a |= ACL_SLOW;
	return a;
}

static int count_words(const char *s)
{
	int n = 0;
	for (const char *p = s; p && *p;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n++;
		while (*p && *p != ' ')
			p++;
	}
	return n;
}

/* Adds each space-separated word of s as a simple or bulk string. */
static void add_words(resp_buf *b, const char *s, bool simple)
{
	for (const char *p = s; p && *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e == p)
			break;
		char w[64];
		size_t n = (size_t)(e - p) < sizeof(w) - 1 ? (size_t)(e - p)
							   : sizeof(w) - 1;
		memcpy(w, p, n);
		w[n] = '\0';
		if (simple)
			resp_add_simple(b, w);
		else
			resp_add_bulk(b, w, n);
		p = e;
	}
}

static void add_flags(resp_buf *b, const cmd_def *d)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{CMD_WRITE, "write"},	    {CMD_READONLY, "readonly"},
		{CMD_DENYOOM, "denyoom"},   {CMD_ADMIN, "admin"},
		{CMD_NOSCRIPT, "noscript"}, {CMD_BLOCKING, "blocking"},
		{CMD_LOADING, "loading"},   {CMD_STALE, "stale"},
		{CMD_FAST, "fast"},	    {CMD_NOAUTH, "no_auth"},
	};
	size_t n = sizeof(names) / sizeof(names[0]);
	int k = 0;
	for (size_t i = 0; i < n; i++)
		if (d->flags & names[i].bit)
			k++;
	resp_add_set(b, k);
	for (size_t i = 0; i < n; i++)
		if (d->flags & names[i].bit)
			resp_add_simple(b, names[i].name);
}

static void add_acl(resp_buf *b, uint32_t a)
{
	int k = 0;
	for (int i = 0; acl_names[i]; i++)
		if (a & (1u << i))
			k++;
	resp_add_set(b, k);
	for (int i = 0; acl_names[i]; i++) {
		if (a & (1u << i)) {
			char w[32];
			snprintf(w, sizeof(w), "@%s", acl_names[i]);
			resp_add_simple(b, w);
		}
	}
}

static const char *ks_flags_of(const cmd_def *d)
{
	const struct cmd_note *n = note_of(d);
	if (n != NULL && n->ks_flags != NULL)
		return n->ks_flags;
	return (d->flags & CMD_WRITE) ? "RW update" : "RO access";
}

/* One key spec from the row's first/last/step: begin at an index, then a
 * range (Redis's lastkey is relative to the first key, or negative from
 * the end). */
static void add_key_specs(resp_buf *b, const cmd_def *d)
{
	/* A set, as in Redis 7 (RESP3 shows ~n). */
	if (d->first_key <= 0) {
		resp_add_set(b, 0);
		return;
	}
	const char *flags = ks_flags_of(d);
	resp_add_set(b, 1);
	resp_add_map(b, 3);
	resp_add_cstr(b, "flags");
	resp_add_set(b, count_words(flags));
	add_words(b, flags, true);
	resp_add_cstr(b, "begin_search");
	resp_add_map(b, 2);
	resp_add_cstr(b, "type");
	resp_add_cstr(b, "index");
	resp_add_cstr(b, "spec");
	resp_add_map(b, 1);
	resp_add_cstr(b, "index");
	resp_add_int(b, d->first_key);
	resp_add_cstr(b, "find_keys");
	resp_add_map(b, 2);
	resp_add_cstr(b, "type");
	resp_add_cstr(b, "range");
	resp_add_cstr(b, "spec");
	resp_add_map(b, 3);
	resp_add_cstr(b, "lastkey");
	resp_add_int(b, d->last_key < 0 ? d->last_key
					: d->last_key - d->first_key);
	resp_add_cstr(b, "keystep");
	resp_add_int(b, d->key_step);
	resp_add_cstr(b, "limit");
	resp_add_int(b, 0);
}

static int count_subs(const cmd_def *d)
{
	int n = 0;
	for (const cmd_def *s = d->subcommands; s && s->name; s++)
		n++;
	return n;
}

/* COMMAND INFO's ten elements for one command (and its subcommands). */
static void add_command_info(resp_buf *b, const cmd_def *d)
{
	resp_add_array(b, 10);
	resp_add_cstr(b, d->name);
	resp_add_int(b, d->arity);
	add_flags(b, d);
	resp_add_int(b, d->first_key);
	resp_add_int(b, d->last_key);
	resp_add_int(b, d->key_step);
	add_acl(b, acl_of(d));
	const struct cmd_note *n = note_of(d);
	const char *tips = n != NULL ? n->tips : NULL;
	resp_add_set(b, count_words(tips));
	add_words(b, tips, false);
	add_key_specs(b, d);
	/* Redis answers an empty set for no subcommands, else an array. */
	if (d->subcommands == NULL)
		resp_add_set(b, 0);
	else
		resp_add_array(b, count_subs(d));
	for (const cmd_def *s = d->subcommands; s && s->name; s++)
		add_command_info(b, s);
}

/* COMMAND DOCS's map for one command: summary, since, group, complexity,
 * the arguments (cmd_docs.c), and the subcommands' docs for a container. */
static void add_command_docs(resp_buf *b, const cmd_def *d)
{
	int nsub = count_subs(d);
	bool args = cmd_docs_has_arguments(d->name);
	resp_add_map(b, 3 + (d->complexity != NULL) + args + (nsub > 0));
	resp_add_cstr(b, "summary");
	resp_add_cstr(b, d->summary ? d->summary : "");
	resp_add_cstr(b, "since");
	resp_add_cstr(b, d->since ? d->since : "1.0.0");
	resp_add_cstr(b, "group");
	resp_add_cstr(b, d->group ? d->group : "generic");
	if (d->complexity != NULL) {
		resp_add_cstr(b, "complexity");
		resp_add_cstr(b, d->complexity);
	}
	if (args) {
		resp_add_cstr(b, "arguments");
		cmd_docs_add_arguments(b, d->name);
	}
	if (nsub > 0) {
		resp_add_cstr(b, "subcommands");
		resp_add_map(b, nsub);
		for (const cmd_def *s = d->subcommands; s->name; s++) {
			resp_add_cstr(b, s->name);
			add_command_docs(b, s);
		}
	}
}

/* Finds "name" or "container|sub", any case. */
static const cmd_def *lookup_full(const char *name, size_t len)
{
	const char *bar = memchr(name, '|', len);
	if (bar == NULL)
		return cmd_lookup(name, len);
	const cmd_def *parent = cmd_lookup(name, (size_t)(bar - name));
	if (parent == NULL)
		return NULL;
	return cmd_lookup_sub(parent, bar + 1, len - (size_t)(bar - name) - 1);
}

/* COMMAND (no subcommand): every command's info. */
static void cmd_command(cmd_ctx *ctx)
{
	size_t n;
	const cmd_def *const *all = cmd_all(&n);
	resp_add_array(ctx->out, (int64_t)n);
	for (size_t i = 0; i < n; i++)
		add_command_info(ctx->out, all[i]);
}

static void cmd_command_count(cmd_ctx *ctx)
{
	size_t n;
	(void)cmd_all(&n);
	resp_add_int(ctx->out, (int64_t)n);
}

static void cmd_command_info(cmd_ctx *ctx)
{
	if (ctx->argc == 2) {
		cmd_command(ctx);
		return;
	}
	resp_add_array(ctx->out, ctx->argc - 2);
	for (int i = 2; i < ctx->argc; i++) {
		const cmd_def *d = lookup_full(ctx->argv[i], ctx->argv_len[i]);
		if (d == NULL)
			resp_add_null(ctx->out);
		else
			add_command_info(ctx->out, d);
	}
}

static void cmd_command_docs(cmd_ctx *ctx)
{
	size_t n;
	const cmd_def *const *all = cmd_all(&n);
	if (ctx->argc == 2) {
		resp_add_map(ctx->out, (int64_t)n);
		for (size_t i = 0; i < n; i++) {
			resp_add_cstr(ctx->out, all[i]->name);
			add_command_docs(ctx->out, all[i]);
		}
		return;
	}
	/* Unknown names are left out, as Redis does. */
	int found = 0;
	for (int i = 2; i < ctx->argc; i++)
		if (lookup_full(ctx->argv[i], ctx->argv_len[i]) != NULL)
			found++;
	resp_add_map(ctx->out, found);
	for (int i = 2; i < ctx->argc; i++) {
		const cmd_def *d = lookup_full(ctx->argv[i], ctx->argv_len[i]);
		if (d != NULL) {
			resp_add_cstr(ctx->out, d->name);
			add_command_docs(ctx->out, d);
		}
	}
}

enum { LIST_ALL, LIST_MODULE, LIST_ACLCAT, LIST_PATTERN };

static bool list_match(const cmd_def *d, int type, const char *arg, size_t len)
{
	switch (type) {
	case LIST_MODULE:
		return false; /* no modules */
	case LIST_ACLCAT: {
		uint32_t a = acl_of(d);
		for (int i = 0; acl_names[i]; i++)
			if (strlen(acl_names[i]) == len &&
			    strncasecmp(acl_names[i], arg, len) == 0)
				return (a & (1u << i)) != 0;
		return false;
	}
	case LIST_PATTERN:
		return cmd_glob_match(arg, len, d->name, strlen(d->name), true);
	default:
		return true;
	}
}

/* COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]: names of the
 * commands and their subcommands. */
static void cmd_command_list(cmd_ctx *ctx)
{
	int type = LIST_ALL;
	const char *arg = NULL;
	size_t len = 0;
	if (ctx->argc == 5 && cmd_arg_is(ctx, 2, "filterby")) {
		if (cmd_arg_is(ctx, 3, "module"))
			type = LIST_MODULE;
		else if (cmd_arg_is(ctx, 3, "aclcat"))
			type = LIST_ACLCAT;
		else if (cmd_arg_is(ctx, 3, "pattern"))
			type = LIST_PATTERN;
		else {
			cmd_err_syntax(ctx);
			return;
		}
		arg = ctx->argv[4];
		len = ctx->argv_len[4];
	} else if (ctx->argc != 2) {
		cmd_err_syntax(ctx);
		return;
	}
	size_t n;
	const cmd_def *const *all = cmd_all(&n);
	int count = 0;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			resp_add_array(ctx->out, count);
		for (size_t i = 0; i < n; i++) {
			if (list_match(all[i], type, arg, len)) {
				if (pass == 0)
					count++;
				else
					resp_add_cstr(ctx->out, all[i]->name);
			}
			for (const cmd_def *s = all[i]->subcommands;
			     s && s->name; s++) {
				if (!list_match(s, type, arg, len))
					continue;
				if (pass == 0)
					count++;
				else
					resp_add_cstr(ctx->out, s->name);
			}
		}
	}
}

/* COMMAND GETKEYS / GETKEYSANDFLAGS <full command>: the key positions of
 * the row (first, last, step), checked against the command's arity. */
static void getkeys(cmd_ctx *ctx, bool with_flags)
{
	const char **argv = ctx->argv + 2;
	const size_t *lens = ctx->argv_len + 2;
	int argc = ctx->argc - 2;
	const cmd_def *d = cmd_lookup(argv[0], lens[0]);
	if (d != NULL && d->subcommands != NULL && argc >= 2)
		d = cmd_lookup_sub(d, argv[1], lens[1]);
	if (d == NULL) {
		resp_add_error(ctx->out, "ERR Invalid command specified");
		return;
	}
	if (d->first_key <= 0) {
		resp_add_error(ctx->out,
			       "ERR The command has no key arguments");
		return;
	}
	if ((d->arity > 0 && d->arity != argc) ||
	    (d->arity < 0 && argc < -d->arity)) {
		resp_add_error(ctx->out, "ERR Invalid number of arguments "
					 "specified for command");
		return;
	}
	int last = cmd_last_key(d, argc);
	int step = d->key_step > 0 ? d->key_step : 1;
	int n = 0;
	for (int i = d->first_key; i <= last; i += step)
		n++;
	if (n == 0) {
		resp_add_error(ctx->out,
			       "ERR Invalid arguments specified for command");
		return;
	}
	const char *flags = ks_flags_of(d);
	resp_add_array(ctx->out, n);
	for (int i = d->first_key; i <= last; i += step) {
		if (with_flags) {
			resp_add_array(ctx->out, 2);
			resp_add_bulk(ctx->out, argv[i], lens[i]);
			resp_add_set(ctx->out, count_words(flags));
			add_words(ctx->out, flags, true);
		} else {
			resp_add_bulk(ctx->out, argv[i], lens[i]);
		}
	}
}

static void cmd_command_getkeys(cmd_ctx *ctx)
{
	getkeys(ctx, false);
}

static void cmd_command_getkeysandflags(cmd_ctx *ctx)
{
	getkeys(ctx, true);
}

static void cmd_command_help(cmd_ctx *ctx)
{
	static const char *const lines[] = {
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for "
		"all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis "
		"commands.",
		"    If no command names are given, documentation details for "
		"all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
		"GETKEYSANDFLAGS <full-command>",
		"    Return the keys and the access flags from a full Redis "
		"command.",
		NULL};
	cmd_add_help(ctx, "COMMAND", lines);
}

static const cmd_def command_subs[] = {
	{"command|count", cmd_command_count, 2, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns a count of commands.", "2.8.13", "O(1)", NULL},
	{"command|docs", cmd_command_docs, -2, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns documentary information about one, multiple or all "
	 "commands.",
	 "7.0.0", "O(N) where N is the number of commands to look up", NULL},
	{"command|getkeys", cmd_command_getkeys, -3, SUB_FLAGS, 0, 0, 0,
	 "server", "Extracts the key names from an arbitrary command.",
	 "2.8.13", "O(N) where N is the number of arguments to the command",
	 NULL},
	{"command|getkeysandflags", cmd_command_getkeysandflags, -3, SUB_FLAGS,
	 0, 0, 0, "server",
	 "Extracts the key names and access flags for an arbitrary command.",
	 "7.0.0", "O(N) where N is the number of arguments to the command",
	 NULL},
	{"command|help", cmd_command_help, 2, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns helpful text about the different subcommands.", "5.0.0",
	 "O(1)", NULL},
	{"command|info", cmd_command_info, -2, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns information about one, multiple or all commands.", "2.8.13",
	 "O(N) where N is the number of commands to look up", NULL},
	{"command|list", cmd_command_list, -2, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns a list of command names.", "7.0.0",
	 "O(N) where N is the total number of Redis commands", NULL},
	END,
};

const cmd_def cmd_command_table[] = {
	{"command", cmd_command, -1, SUB_FLAGS, 0, 0, 0, "server",
	 "Returns detailed information about all commands.", "2.8.13",
	 "O(N) where N is the total number of Redis commands", command_subs},
	END,
};
