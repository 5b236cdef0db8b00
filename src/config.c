/*
 * config.c - the option table and its file / CONFIG SET / CONFIG GET /
 * CONFIG REWRITE code: see config.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "resp_parse.h"

pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;

#define OFF(f) offsetof(rf_config, f)

static const struct cfg_enum loglevels[] = {{"debug", 0},   {"verbose", 1},
					    {"notice", 2},  {"warning", 3},
					    {"nothing", 4}, {NULL, 0}};

static const char *check_obl(rf_config *cfg);

/* Keep in the order of docs/CONFIG.md and redis-faster.conf. */
const cfg_option cfg_options[] = {
	{"bind", CFG_STRING, OFF(bind), 0, 0, "127.0.0.1", false, NULL, NULL,
	 "addresses to listen on, separated by spaces (IPv4 or IPv6)"},
	{"port", CFG_INT, OFF(port), 0, 65535, "6379", false, NULL, NULL,
	 "TCP port; 0 disables TCP"},
	{"unixsocket", CFG_STRING, OFF(unixsocket), 0, 0, "", false, NULL, NULL,
	 "path of a unix socket to listen on as well (empty: none)"},
	{"unixsocketperm", CFG_INT, OFF(unixsocketperm), 0, 0777, "0", false,
	 NULL, NULL, "permissions of the unix socket, octal (0: umask)"},
	{"tcp-backlog", CFG_INT, OFF(tcp_backlog), 0, 65535, "511", false, NULL,
	 NULL, "listen() backlog"},
	{"tcp-keepalive", CFG_INT, OFF(tcp_keepalive), 0, INT32_MAX, "300",
	 true, NULL, NULL, "TCP keepalive interval in seconds (0: off)"},
	{"timeout", CFG_INT, OFF(timeout), 0, INT32_MAX, "0", true, NULL, NULL,
	 "close a client idle for this many seconds (0: never)"},
	{"protected-mode", CFG_BOOL, OFF(protected_mode), 0, 1, "yes", true,
	 NULL, NULL,
	 "with no password, accept only loopback and unix-socket clients"},
	{"io-threads", CFG_INT, OFF(io_threads), 0, 128, "0", false, NULL, NULL,
	 "worker threads, each with its own event loop (0: one per core)"},
	{"maxclients", CFG_INT, OFF(maxclients), 1, 1000000, "10000", true,
	 NULL, NULL, "most clients connected at once"},
	{"proto-max-bulk-len", CFG_MEMORY, OFF(proto_max_bulk_len), 1024,
	 INT64_MAX, "512mb", true, NULL, NULL,
	 "largest bulk string a request may carry"},
	{"client-query-buffer-limit", CFG_MEMORY,
	 OFF(client_query_buffer_limit), 1024 * 1024, INT64_MAX, "1gb", true,
	 NULL, NULL, "largest query buffer of one client"},
	{"client-output-buffer-limit", CFG_STRING,
	 OFF(client_output_buffer_limit), 0, 0,
	 "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60", true, NULL,
	 check_obl,
	 "per class: hard limit, soft limit, soft seconds (normal clients: "
	 "hard limit enforced)"},
	{"requirepass", CFG_STRING, OFF(requirepass), 0, 0, "", true, NULL,
	 NULL, "password clients must AUTH with (empty: none)"},
	{"databases", CFG_INT, OFF(databases), 1, 256, "16", false, NULL, NULL,
	 "number of databases (SELECT 0..databases-1)"},
	{"dir", CFG_STRING, OFF(dir), 0, 0, "./data", false, NULL, NULL,
	 "data directory (created at start if missing)"},
	{"logfile", CFG_STRING, OFF(logfile), 0, 0, "", false, NULL, NULL,
	 "log file (empty: standard output)"},
	{"loglevel", CFG_ENUM, OFF(loglevel), 0, 0, "notice", true, loglevels,
	 NULL, "debug, verbose, notice, warning or nothing"},
	{"pidfile", CFG_STRING, OFF(pidfile), 0, 0, "", false, NULL, NULL,
	 "write the process id here (empty: no file)"},
	{"daemonize", CFG_BOOL, OFF(daemonize), 0, 1, "no", false, NULL, NULL,
	 "accepted for compatibility; only 'no' is supported"},
	{"save", CFG_STRING, OFF(save), 0, 0, "", true, NULL, NULL,
	 "autosave points (persistence is not built yet: must stay empty)"},
	{"appendonly", CFG_BOOL, OFF(appendonly), 0, 1, "no", true, NULL, NULL,
	 "append-only file (not built yet: must stay 'no')"},
	{"hz", CFG_INT, OFF(hz), 1, 500, "10", true, NULL, NULL,
	 "background tasks (expiry sweep, timeouts) per second"},
	{"index-size", CFG_MEMORY, OFF(index_size), 64 * 1024, INT64_MAX,
	 "64mb", false, NULL, NULL,
	 "engine hash index size (64-byte buckets; rounded to a power of two; "
	 "grows online)"},
	{"log-memory-size", CFG_MEMORY, OFF(log_memory_size), 1024 * 1024,
	 INT64_MAX, "1gb", false, NULL, NULL,
	 "engine log memory (rounded down to a power of two); until the disk "
	 "tier exists this bounds the data set"},
	{"log-page-size", CFG_MEMORY, OFF(log_page_size), 4096, 1 << 30, "32mb",
	 false, NULL, NULL,
	 "engine log page size (a power of two); the largest record"},
	{"log-mutable-percent", CFG_INT, OFF(log_mutable_percent), 1, 100, "90",
	 false, NULL, NULL, "share of log memory updated in place"},
	{"hugepages", CFG_BOOL, OFF(hugepages), 0, 1, "yes", false, NULL, NULL,
	 "ask for transparent huge pages for the index and the log"},
	{"index-auto-grow", CFG_BOOL, OFF(index_auto_grow), 0, 1, "yes", false,
	 NULL, NULL, "double the index online when it gets crowded"},
};

const size_t cfg_noptions = sizeof(cfg_options) / sizeof(cfg_options[0]);

static int64_t *int_field(rf_config *cfg, const cfg_option *o)
{
	return (int64_t *)((char *)cfg + o->offset);
}

static char **str_field(rf_config *cfg, const cfg_option *o)
{
	return (char **)((char *)cfg + o->offset);
}

const cfg_option *cfg_find(const char *name)
{
	for (size_t i = 0; i < cfg_noptions; i++)
		if (strcasecmp(cfg_options[i].name, name) == 0)
			return &cfg_options[i];
	return NULL;
}

/* Redis's memtoll: b, k (1000), kb (1024), m, mb, g, gb; case-insensitive. */
static bool parse_memory(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return false;
	int64_t mul = 1;
	if (*end != '\0') {
		if (strcasecmp(end, "b") == 0)
			mul = 1;
		else if (strcasecmp(end, "k") == 0)
			mul = 1000;
		else if (strcasecmp(end, "kb") == 0)
			mul = 1024;
		else if (strcasecmp(end, "m") == 0)
			mul = 1000 * 1000;
		else if (strcasecmp(end, "mb") == 0)
			mul = 1024 * 1024;
		else if (strcasecmp(end, "g") == 0)
			mul = 1000LL * 1000 * 1000;
		else if (strcasecmp(end, "gb") == 0)
			mul = 1024LL * 1024 * 1024;
		else
			return false;
	}
	if (v != 0 && (v > INT64_MAX / mul || v < INT64_MIN / mul))
		return false;
	*out = v * mul;
	return true;
}

static bool parse_int(const char *s, int64_t *out, bool octal)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, octal ? 8 : 10);
	if (errno != 0 || end == s || *end != '\0')
		return false;
	*out = v;
	return true;
}

static const char *check_obl(rf_config *cfg)
{
	/* "class hard soft seconds" groups; we enforce the normal class's
	 * hard limit. */
	const char *s = cfg->client_output_buffer_limit;
	char cls[32], hard[32], soft[32], secs[32];
	int used = 0;
	cfg->obl_normal_hard = 0;
	while (sscanf(s, "%31s %31s %31s %31s%n", cls, hard, soft, secs,
		      &used) == 4) {
		int64_t h, so, se;
		if (!parse_memory(hard, &h) || !parse_memory(soft, &so) ||
		    !parse_int(secs, &se, false) || h < 0 || so < 0 || se < 0)
			return "Invalid argument";
		if (strcasecmp(cls, "normal") == 0)
			cfg->obl_normal_hard = h;
		else if (strcasecmp(cls, "replica") != 0 &&
			 strcasecmp(cls, "slave") != 0 &&
			 strcasecmp(cls, "pubsub") != 0)
			return "Invalid client class specified in buffer limit "
			       "configuration.";
		s += used;
	}
	while (isspace((unsigned char)*s))
		s++;
	return *s == '\0' ? NULL
			  : "Wrong number of arguments in buffer limit "
			    "configuration.";
}

static int set_one(rf_config *cfg, const cfg_option *o, const char *v,
		   char *err, size_t errlen)
{
	int64_t n;
	switch (o->type) {
	case CFG_BOOL:
		if (strcasecmp(v, "yes") == 0)
			n = 1;
		else if (strcasecmp(v, "no") == 0)
			n = 0;
		else {
			snprintf(err, errlen, "argument must be 'yes' or 'no'");
			return -1;
		}
		__atomic_store_n(int_field(cfg, o), n, __ATOMIC_RELAXED);
		return 0;
	case CFG_INT:
	case CFG_MEMORY: {
		bool ok = o->type == CFG_MEMORY
				  ? parse_memory(v, &n)
				  : parse_int(v, &n,
					      o->offset == OFF(unixsocketperm));
		if (!ok) {
			snprintf(err, errlen,
				 "argument couldn't be parsed into "
				 "an integer");
			return -1;
		}
		if (n < o->min || n > o->max) {
			snprintf(err, errlen,
				 "argument must be between %" PRId64
				 " and %" PRId64 " inclusive",
				 o->min, o->max);
			return -1;
		}
		__atomic_store_n(int_field(cfg, o), n, __ATOMIC_RELAXED);
		return 0;
	}
	case CFG_ENUM:
		for (const struct cfg_enum *e = o->enums; e->name; e++) {
			if (strcasecmp(e->name, v) == 0) {
				__atomic_store_n(int_field(cfg, o), e->value,
						 __ATOMIC_RELAXED);
				return 0;
			}
		}
		snprintf(err, errlen,
			 "argument(s) must be one of the following: "
			 "debug, verbose, notice, warning, nothing");
		return -1;
	case CFG_STRING: {
		char *copy = strdup(v);
		if (copy == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pthread_mutex_lock(&cfg_lock);
		char *old = *str_field(cfg, o);
		*str_field(cfg, o) = copy;
		const char *bad = o->check ? o->check(cfg) : NULL;
		if (bad != NULL) {
			*str_field(cfg, o) = old;
			if (o->check)
				(void)o->check(cfg);
			pthread_mutex_unlock(&cfg_lock);
			free(copy);
			snprintf(err, errlen, "%s", bad);
			return -1;
		}
		pthread_mutex_unlock(&cfg_lock);
		free(old);
		return 0;
	}
	}
	return -1;
}

int cfg_set(rf_config *cfg, const char *name, const char *const *values,
	    int nvalues, bool running, char *err, size_t errlen)
{
	const cfg_option *o = cfg_find(name);
	if (o == NULL) {
		snprintf(err, errlen,
			 "Unknown option or number of arguments "
			 "for CONFIG SET - '%s'",
			 name);
		return -1;
	}
	if (running && !o->mutable_) {
		snprintf(err, errlen, "can't set immutable config");
		return -1;
	}
	/* Multi-word values (save, bind, client-output-buffer-limit) are
	 * joined with spaces. */
	size_t total = 1;
	for (int i = 0; i < nvalues; i++)
		total += strlen(values[i]) + 1;
	char *joined = malloc(total);
	if (joined == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	joined[0] = '\0';
	for (int i = 0; i < nvalues; i++) {
		if (i > 0)
			strcat(joined, " ");
		strcat(joined, values[i]);
	}
	if (o->type != CFG_STRING && nvalues != 1) {
		free(joined);
		snprintf(err, errlen, "wrong number of arguments");
		return -1;
	}
	int rc = set_one(cfg, o, joined, err, errlen);
	free(joined);
	return rc;
}

int cfg_init_defaults(rf_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < cfg_noptions; i++) {
		char err[256];
		const char *v = cfg_options[i].def;
		if (set_one(cfg, &cfg_options[i], v, err, sizeof(err)) != 0) {
			fprintf(stderr, "config: bad default for %s: %s\n",
				cfg_options[i].name, err);
			abort();
		}
	}
	return 0;
}

void cfg_free(rf_config *cfg)
{
	for (size_t i = 0; i < cfg_noptions; i++) {
		if (cfg_options[i].type == CFG_STRING) {
			free(*str_field(cfg, &cfg_options[i]));
			*str_field(cfg, &cfg_options[i]) = NULL;
		}
	}
}

char *cfg_get_str(char *const *field)
{
	pthread_mutex_lock(&cfg_lock);
	char *copy = strdup(*field ? *field : "");
	pthread_mutex_unlock(&cfg_lock);
	return copy;
}

size_t cfg_format(const rf_config *cfg, const cfg_option *o, char *out,
		  size_t cap)
{
	rf_config *c = (rf_config *)cfg;
	int n = 0;
	switch (o->type) {
	case CFG_BOOL:
		n = snprintf(out, cap, "%s",
			     cfg_get_int(int_field(c, o)) ? "yes" : "no");
		break;
	case CFG_INT:
	case CFG_MEMORY:
		if (o->offset == OFF(unixsocketperm))
			n = snprintf(out, cap, "%" PRIo64,
				     cfg_get_int(int_field(c, o)));
		else
			n = snprintf(out, cap, "%" PRId64,
				     cfg_get_int(int_field(c, o)));
		break;
	case CFG_ENUM: {
		int64_t v = cfg_get_int(int_field(c, o));
		const char *name = "";
		for (const struct cfg_enum *e = o->enums; e->name; e++)
			if (e->value == v)
				name = e->name;
		n = snprintf(out, cap, "%s", name);
		break;
	}
	case CFG_STRING:
		pthread_mutex_lock(&cfg_lock);
		n = snprintf(out, cap, "%s",
			     *str_field(c, o) ? *str_field(c, o) : "");
		pthread_mutex_unlock(&cfg_lock);
		break;
	}
	if (n < 0)
		n = 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

int cfg_load_file(rf_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "can't open config file '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	resp_limits lim;
	resp_limits_default(&lim);
	resp_parser p;
	resp_parser_init(&p, &lim);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		const char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#' || *s == '\0')
			continue;
		if (resp_split_line(&p, s, strlen(s)) != RESP_OK) {
			snprintf(err, errlen, "%s:%d: unbalanced quotes", path,
				 lineno);
			rc = -1;
			break;
		}
		if (p.argc < 2) {
			snprintf(err, errlen, "%s:%d: '%s' needs a value", path,
				 lineno, s);
			rc = -1;
			break;
		}
		/* argv entries are NUL-free copies in the arena; terminate. */
		char name[128];
		size_t nl = p.argv_len[0] < sizeof(name) - 1 ? p.argv_len[0]
							     : sizeof(name) - 1;
		memcpy(name, p.argv[0], nl);
		name[nl] = '\0';
		const char *vals[64];
		char *bufs[64];
		int nv = p.argc - 1 < 64 ? p.argc - 1 : 64;
		for (int i = 0; i < nv; i++) {
			bufs[i] = strndup(p.argv[i + 1], p.argv_len[i + 1]);
			vals[i] = bufs[i] ? bufs[i] : "";
		}
		char e2[256];
		int r = cfg_set(cfg, name, vals, nv, false, e2, sizeof(e2));
		for (int i = 0; i < nv; i++)
			free(bufs[i]);
		if (r != 0) {
			snprintf(err, errlen, "%s:%d: %s: %s", path, lineno,
				 name, e2);
			rc = -1;
			break;
		}
	}
	free(line);
	resp_parser_free(&p);
	fclose(f);
	return rc;
}

int cfg_rewrite(const rf_config *cfg, const char *path, char *err,
		size_t errlen)
{
	/* Keep every line; replace the value of each option line; append
	 * options the file did not mention but whose value is not the
	 * default. */
	FILE *in = fopen(path, "r");
	if (in == NULL) {
		snprintf(err, errlen, "Rewriting config file: %s",
			 strerror(errno));
		return -1;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	FILE *out = fopen(tmp, "w");
	if (out == NULL) {
		fclose(in);
		snprintf(err, errlen, "Rewriting config file: %s",
			 strerror(errno));
		return -1;
	}
	bool seen[sizeof(cfg_options) / sizeof(cfg_options[0])] = {false};
	char *line = NULL;
	size_t cap = 0;
	char val[4096];
	while (getline(&line, &cap, in) >= 0) {
		const char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		char name[128];
		size_t k = 0;
		while (s[k] && !isspace((unsigned char)s[k]) && k < 127) {
			name[k] = s[k];
			k++;
		}
		name[k] = '\0';
		const cfg_option *o = *s == '#' ? NULL : cfg_find(name);
		if (o == NULL || seen[o - cfg_options]) {
			fputs(line, out);
			continue;
		}
		seen[o - cfg_options] = true;
		cfg_format(cfg, o, val, sizeof(val));
		fprintf(out, "%s \"%s\"\n", o->name, val);
	}
	for (size_t i = 0; i < cfg_noptions; i++) {
		if (seen[i])
			continue;
		cfg_format(cfg, &cfg_options[i], val, sizeof(val));
		rf_config defaults;
		cfg_init_defaults(&defaults);
		char def[4096];
		cfg_format(&defaults, &cfg_options[i], def, sizeof(def));
		cfg_free(&defaults);
		if (strcmp(val, def) != 0)
			fprintf(out, "%s \"%s\"\n", cfg_options[i].name, val);
	}
	free(line);
	fclose(in);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		fclose(out);
		unlink(tmp);
		snprintf(err, errlen, "Rewriting config file: %s",
			 strerror(errno));
		return -1;
	}
	fclose(out);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		snprintf(err, errlen, "Rewriting config file: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}
