/*
 * test_cmd_table.c - the command table and the config table, checked row
 * by row: what the dispatcher and COMMAND rely on (a handler, a lower-case
 * unique name, an arity, consistent key positions, the COMMAND DOCS
 * fields), and what CONFIG GET / SET / REWRITE rely on (defaults that
 * parse and print back, Redis's error texts, a rewrite that reads back,
 * every option documented in docs/CONFIG.md and redis-faster.conf).
 *
 * The server's objects come from libserver.a (the .c files of src/ and
 * src/commands/ but main.c); the few globals main.c defines are
 * defined here instead.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "server.h"

/* ---- what main.c provides to the server objects ----------------------- */

rf_server server;

void rf_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

int64_t rf_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the command table -------------------------------------------------- */

static const char *const groups[] = {
	"generic",   "string",	    "list",	    "set",	  "sorted-set",
	"hash",	     "pubsub",	    "transactions", "connection", "server",
	"scripting", "hyperloglog", "cluster",	    "geo",	  "stream",
	"bitmap",    NULL};

static bool known_group(const char *g)
{
	for (int i = 0; groups[i]; i++)
		if (strcmp(groups[i], g) == 0)
			return true;
	return false;
}

/* Checks one row; parent is the container for a subcommand, else NULL. */
static void check_row(const cmd_def *d, const cmd_def *parent)
{
	cr_assert_not_null(d->fn, "%s has no handler", d->name);
	cr_assert(d->name[0] != '\0');
	for (const char *p = d->name; *p; p++)
		cr_assert(!isupper((unsigned char)*p) &&
				  !isspace((unsigned char)*p),
			  "%s: not a lower-case name", d->name);
	if (parent != NULL) {
		size_t n = strlen(parent->name);
		cr_assert(strncmp(d->name, parent->name, n) == 0 &&
				  d->name[n] == '|' && d->name[n + 1] != '\0',
			  "%s: a subcommand of %s must be named %s|sub",
			  d->name, parent->name, parent->name);
		cr_assert_null(d->subcommands, "%s: nested container", d->name);
		/* argc counts the container and the subcommand names. */
		cr_assert(d->arity >= 2 || d->arity <= -2,
			  "%s: arity %d cannot hold its own name", d->name,
			  d->arity);
	} else {
		cr_assert_null(strchr(d->name, '|'), "%s: '|' in a name",
			       d->name);
	}
	cr_assert_neq(d->arity, 0, "%s: arity 0", d->name);
	if (d->subcommands != NULL)
		cr_assert(d->arity == -2 || d->arity == -1,
			  "%s: a container's arity is -2 (or -1 when it also "
			  "runs alone), not %d",
			  d->name, d->arity);
	/* Key positions. */
	cr_assert_geq(d->first_key, 0, "%s: first key %d", d->name,
		      d->first_key);
	if (d->first_key == 0) {
		cr_assert(d->last_key == 0 && d->key_step == 0,
			  "%s: no first key but last %d step %d", d->name,
			  d->last_key, d->key_step);
	} else {
		cr_assert_geq(d->key_step, 1, "%s: key step %d", d->name,
			      d->key_step);
		cr_assert(d->last_key < 0 || d->last_key >= d->first_key,
			  "%s: last key %d before first %d", d->name,
			  d->last_key, d->first_key);
		int min_argc = d->arity > 0 ? d->arity : -d->arity;
		cr_assert_lt(d->first_key, min_argc,
			     "%s: first key %d beyond the %d arguments every "
			     "call has",
			     d->name, d->first_key, min_argc);
		if (d->arity > 0 && d->last_key > 0)
			cr_assert_lt(d->last_key, d->arity,
				     "%s: last key %d beyond arity %d", d->name,
				     d->last_key, d->arity);
	}
	cr_assert(!((d->flags & CMD_WRITE) && (d->flags & CMD_READONLY)),
		  "%s: both write and readonly", d->name);
	/* COMMAND DOCS needs these. */
	cr_assert(d->summary != NULL && d->summary[0] != '\0', "%s: no summary",
		  d->name);
	cr_assert(d->since != NULL && d->since[0] != '\0', "%s: no since",
		  d->name);
	cr_assert(d->group != NULL && known_group(d->group),
		  "%s: unknown group %s", d->name,
		  d->group ? d->group : "(null)");
}

Test(cmd_table, every_row_is_well_formed)
{
	cr_assert_eq(cmd_init(), 0, "two rows share a name");
	size_t n;
	const cmd_def *const *all = cmd_all(&n);
	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		const cmd_def *d = all[i];
		check_row(d, NULL);
		if (i > 0)
			cr_assert_lt(strcmp(all[i - 1]->name, d->name), 0,
				     "not sorted or duplicate: %s", d->name);
		for (const cmd_def *s = d->subcommands; s && s->name; s++) {
			check_row(s, d);
			for (const cmd_def *t = d->subcommands; t != s; t++)
				cr_assert_str_neq(t->name, s->name,
						  "duplicate subcommand");
		}
	}
}

Test(cmd_table, lookup_ignores_case)
{
	cr_assert_eq(cmd_init(), 0);
	size_t n;
	const cmd_def *const *all = cmd_all(&n);
	for (size_t i = 0; i < n; i++) {
		char up[64];
		size_t k = 0;
		for (; all[i]->name[k] && k < sizeof(up) - 1; k++)
			up[k] = (char)toupper((unsigned char)all[i]->name[k]);
		up[k] = '\0';
		cr_assert_eq(cmd_lookup(up, k), all[i], "%s", up);
		for (const cmd_def *s = all[i]->subcommands; s && s->name;
		     s++) {
			const char *sub = strchr(s->name, '|') + 1;
			char su[64];
			size_t m = 0;
			for (; sub[m] && m < sizeof(su) - 1; m++)
				su[m] = (char)toupper((unsigned char)sub[m]);
			cr_assert_eq(cmd_lookup_sub(all[i], su, m), s, "%s",
				     s->name);
		}
	}
	cr_assert_null(cmd_lookup("nosuchcommand", 13));
}

Test(cmd_table, the_families_of_this_file_are_present)
{
	cr_assert_eq(cmd_init(), 0);
	const char *names[] = {"command", "info",  "config",   "client",
			       "time",	  "debug", "shutdown", "lastsave",
			       "cluster", NULL};
	for (int i = 0; names[i]; i++)
		cr_assert_not_null(cmd_lookup(names[i], strlen(names[i])), "%s",
				   names[i]);
	const cmd_def *client = cmd_lookup("client", 6);
	const char *subs[] = {"id",    "setname", "getname", "setinfo",
			      "list",  "info",	  "kill",    "no-evict",
			      "reply", "help",	  NULL};
	for (int i = 0; subs[i]; i++)
		cr_assert_not_null(
			cmd_lookup_sub(client, subs[i], strlen(subs[i])),
			"client|%s", subs[i]);
}

/* ---- the config table --------------------------------------------------- */

Test(config, defaults_print_back_and_parse)
{
	rf_config c;
	cfg_init_defaults(&c);
	for (size_t i = 0; i < cfg_noptions; i++) {
		const cfg_option *o = &cfg_options[i];
		cr_assert_not_null(o->doc, "%s: no doc line", o->name);
		cr_assert_not_null(o->def, "%s: no default", o->name);
		cr_assert_eq(cfg_find(o->name), o, "%s", o->name);
		for (const char *p = o->name; *p; p++)
			cr_assert(!isupper((unsigned char)*p), "%s", o->name);
		char v[4096], err[256];
		cfg_format(&c, o, v, sizeof(v));
		const char *vp = v;
		cr_assert_eq(
			cfg_set(&c, o->name, &vp, 1, false, err, sizeof(err)),
			0, "%s: its own value '%s' is refused: %s", o->name, v,
			err);
		char again[4096];
		cfg_format(&c, o, again, sizeof(again));
		cr_assert_str_eq(again, v, "%s", o->name);
	}
	cfg_free(&c);
}

Test(config, options_clients_probe_exist)
{
	const char *names[] = {"save",
			       "appendonly",
			       "databases",
			       "timeout",
			       "maxmemory",
			       "maxmemory-policy",
			       "replica-read-only",
			       "slave-read-only",
			       "maxclients",
			       "bind",
			       "port",
			       "protected-mode",
			       "dir",
			       "requirepass",
			       "cluster-enabled",
			       NULL};
	for (int i = 0; names[i]; i++)
		cr_assert_not_null(cfg_find(names[i]), "%s", names[i]);
	cr_assert_eq(cfg_find("SLAVE-READ-ONLY"),
		     cfg_find("replica-read-only"));
	rf_config c;
	cfg_init_defaults(&c);
	char v[64];
	cfg_format(&c, cfg_find("maxmemory-policy"), v, sizeof(v));
	cr_assert_str_eq(v, "noeviction");
	cfg_format(&c, cfg_find("bind"), v, sizeof(v));
	cr_assert_str_eq(v, "127.0.0.1");
	cfg_format(&c, cfg_find("port"), v, sizeof(v));
	cr_assert_str_eq(v, "6379");
	cfg_format(&c, cfg_find("dir"), v, sizeof(v));
	cr_assert_str_eq(v, "./data");
	cfg_free(&c);
}

static void expect_set_error(rf_config *c, const char *name, const char *val,
			     bool running, const char *want)
{
	char err[512] = "";
	const char *v = val;
	cr_assert_eq(cfg_set(c, name, &v, 1, running, err, sizeof(err)), -1,
		     "%s %s was accepted", name, val);
	cr_assert_str_eq(err, want, "%s %s", name, val);
}

Test(config, errors_are_redis_texts)
{
	rf_config c;
	cfg_init_defaults(&c);
	expect_set_error(&c, "nosuch", "1", true,
			 "Unknown option or number of arguments for CONFIG "
			 "SET - 'nosuch'");
	expect_set_error(&c, "nosuch", "1", false,
			 "Bad directive or wrong number of arguments");
	expect_set_error(&c, "port", "1", true, "can't set immutable config");
	expect_set_error(&c, "timeout", "-1", true,
			 "argument must be between 0 and 2147483647 inclusive");
	expect_set_error(&c, "hz", "abc", true,
			 "argument couldn't be parsed into an integer");
	expect_set_error(&c, "maxmemory", "-1", true,
			 "argument must be a memory value");
	expect_set_error(&c, "maxmemory", "12xb", true,
			 "argument must be a memory value");
	expect_set_error(&c, "protected-mode", "maybe", true,
			 "argument must be 'yes' or 'no'");
	expect_set_error(&c, "maxmemory-policy", "foo", true,
			 "argument(s) must be one of the following: "
			 "volatile-lru, volatile-lfu, volatile-random, "
			 "volatile-ttl, allkeys-lru, allkeys-lfu, "
			 "allkeys-random, noeviction");
	expect_set_error(&c, "client-output-buffer-limit", "foo 1 2 3", true,
			 "Invalid client class specified in buffer limit "
			 "configuration.");
	expect_set_error(&c, "save", "3600", true, "Invalid save parameters");
	expect_set_error(&c, "save", "60 x", true, "Invalid save parameters");
	expect_set_error(&c, "save", "-1 5", true, "Invalid save parameters");
	expect_set_error(&c, "checkpoint-type", "fold", false,
			 "argument(s) must be one of the following: foldover, "
			 "snapshot");
	{
		const char *pts = "3600 1 60 10000";
		char e[128];
		cr_assert_eq(cfg_set(&c, "save", &pts, 1, true, e, sizeof(e)),
			     0, "%s", e);
	}
	/* A refused value leaves the old one. */
	char v[64];
	cfg_format(&c, cfg_find("maxmemory-policy"), v, sizeof(v));
	cr_assert_str_eq(v, "noeviction");
	const char *ok = "allkeys-lru";
	char err[256];
	cr_assert_eq(
		cfg_set(&c, "MAXMEMORY-POLICY", &ok, 1, true, err, sizeof(err)),
		0);
	cfg_format(&c, cfg_find("maxmemory-policy"), v, sizeof(v));
	cr_assert_str_eq(v, "allkeys-lru");
	const char *mem = "2mb";
	cr_assert_eq(cfg_set(&c, "maxmemory", &mem, 1, true, err, sizeof(err)),
		     0);
	cfg_format(&c, cfg_find("maxmemory"), v, sizeof(v));
	cr_assert_str_eq(v, "2097152");
	cfg_free(&c);
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	size_t got = fread(s, 1, (size_t)n, f);
	s[got] = '\0';
	fclose(f);
	return s;
}

Test(config, rewrite_reads_back)
{
	char dir[] = "/tmp/rf-cfg-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/redis-faster.conf", dir);
	FILE *f = fopen(path, "w");
	fputs("# a comment that stays\nport 7000\nslave-read-only no\n"
	      "timeout 5\ntimeout 6\n",
	      f);
	fclose(f);
	rf_config c;
	cfg_init_defaults(&c);
	char err[512];
	cr_assert_eq(cfg_load_file(&c, path, err, sizeof(err)), 0, "%s", err);
	const char *vals[][2] = {{"timeout", "42"},
				 {"requirepass", "p \"q\" \\ x\ty"},
				 {"maxmemory-policy", "allkeys-lfu"},
				 {"client-output-buffer-limit",
				  "normal 1mb 2mb 3 pubsub 1 2 3"}};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		const char *v = vals[i][1];
		cr_assert_eq(
			cfg_set(&c, vals[i][0], &v, 1, true, err, sizeof(err)),
			0, "%s", err);
	}
	cr_assert_eq(cfg_rewrite(&c, path, err, sizeof(err)), 0, "%s", err);
	char *text = read_all(path);
	cr_assert_not_null(strstr(text, "# a comment that stays\n"));
	cr_assert_not_null(strstr(text, "port 7000\n"), "%s", text);
	cr_assert_not_null(strstr(text, "replica-read-only no\n"), "%s", text);
	cr_assert_not_null(strstr(text, "timeout 42\n"), "%s", text);
	cr_assert_null(strstr(text, "timeout 6"), "%s", text);
	cr_assert_not_null(strstr(text, "# Generated by CONFIG REWRITE\n"));
	free(text);
	rf_config back;
	cfg_init_defaults(&back);
	cr_assert_eq(cfg_load_file(&back, path, err, sizeof(err)), 0, "%s",
		     err);
	for (size_t i = 0; i < cfg_noptions; i++) {
		char a[4096], b[4096];
		cfg_format(&c, &cfg_options[i], a, sizeof(a));
		cfg_format(&back, &cfg_options[i], b, sizeof(b));
		cr_assert_str_eq(a, b, "%s", cfg_options[i].name);
	}
	/* A second rewrite keeps a single signature. */
	cr_assert_eq(cfg_rewrite(&back, path, err, sizeof(err)), 0);
	text = read_all(path);
	char *first = strstr(text, "# Generated by CONFIG REWRITE");
	cr_assert_null(strstr(first + 1, "# Generated by CONFIG REWRITE"));
	free(text);
	cfg_free(&c);
	cfg_free(&back);
	unlink(path);
	rmdir(dir);
}

/* Every option has a line in the sample file and a row in the docs. */
Test(config, every_option_is_documented)
{
	char *conf = read_all("redis-faster.conf");
	char *docs = read_all("docs/CONFIG.md");
	cr_assert_not_null(conf, "redis-faster.conf (run from the repo root)");
	cr_assert_not_null(docs, "docs/CONFIG.md (run from the repo root)");
	for (size_t i = 0; i < cfg_noptions; i++) {
		const cfg_option *o = &cfg_options[i];
		char want[160];
		snprintf(want, sizeof(want), "\n%s %s", o->name, o->def);
		char want_q[160];
		snprintf(want_q, sizeof(want_q), "\n%s \"%s\"", o->name,
			 o->def);
		cr_assert(strstr(conf, want) != NULL ||
				  strstr(conf, want_q) != NULL,
			  "redis-faster.conf has no line '%s %s'", o->name,
			  o->def);
		snprintf(want, sizeof(want), "| `%s` |", o->name);
		cr_assert_not_null(strstr(docs, want),
				   "docs/CONFIG.md has no row for %s", o->name);
	}
	free(conf);
	free(docs);
}
