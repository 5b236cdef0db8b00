/*
 * config.h - the server's configuration: one table row per option serves
 * the config file (redis-faster.conf, Redis's syntax), the command line
 * (--name value), CONFIG GET, CONFIG SET and CONFIG REWRITE alike.
 * docs/CONFIG.md and redis-faster.conf list the same rows (a unit test
 * checks that every option appears in both).
 *
 * Values live in one rf_config struct.  Numeric and boolean options are
 * read and written with relaxed atomic builtins (cfg_get_int), so worker
 * threads may read them while CONFIG SET changes a mutable one; string
 * options are copied under cfg_lock (cfg_get_str).
 */
#ifndef RF_CONFIG_H
#define RF_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rf_config {
	/* network */
	char *bind;
	int64_t port;
	char *unixsocket;
	int64_t unixsocketperm;
	int64_t protected_mode;
	int64_t tcp_backlog;
	int64_t tcp_keepalive;
	int64_t timeout;
	int64_t io_threads;
	/* general */
	int64_t daemonize;
	char *pidfile;
	int64_t loglevel;
	char *logfile;
	int64_t databases;
	char *dir;
	int64_t hz;
	/* security */
	char *requirepass;
	int64_t enable_debug_command; /* CFG_DEBUG_* */
	/* clients and limits */
	int64_t maxclients;
	int64_t proto_max_bulk_len;
	int64_t client_query_buffer_limit;
	char *client_output_buffer_limit;
	int64_t obl_normal_hard; /* parsed from client-output-buffer-limit */
	/* memory management (maxmemory sizes the log in cache mode) */
	int64_t maxmemory;
	int64_t maxmemory_policy;
	int64_t maxmemory_samples;
	/* persistence */
	char *save;
	int64_t checkpoint_keep;
	int64_t checkpoint_flush_rate;
	int64_t checkpoint_type; /* CFG_CHECKPOINT_* */
	int64_t appendonly;
	int64_t appendfsync; /* CFG_FSYNC_* */
	char *appenddirname;
	/* FasterLog (LOG.* and the append-only file) */
	int64_t log_commit_policy; /* CFG_COMMIT_* */
	int64_t faster_log_page_size;
	int64_t faster_log_pages;
	int64_t faster_log_segment_size;
	int64_t faster_log_max_logs;
	char *dbfilename;
	/* replication and cluster (neither exists) */
	int64_t replica_read_only;
	int64_t cluster_enabled;
	/* engine */
	int64_t index_size;
	int64_t log_memory_size;
	int64_t log_page_size;
	int64_t log_mutable_percent;
	int64_t hugepages;
	int64_t index_auto_grow;
	/* the disk tier */
	int64_t device_type; /* CFG_DEVICE_* */
	int64_t storage_tier;
	int64_t segment_size;
	int64_t copy_reads_to_tail;
	int64_t cached_reads_inline;
	int64_t read_cache;
	int64_t read_cache_memory_size;
} rf_config;

/* device-type values. */
enum { CFG_DEVICE_FILE = 0, CFG_DEVICE_URING = 1, CFG_DEVICE_NULL = 2 };
enum { CFG_CHECKPOINT_FOLDOVER = 0, CFG_CHECKPOINT_SNAPSHOT = 1 };
enum { CFG_FSYNC_NO = 0, CFG_FSYNC_EVERYSEC = 1, CFG_FSYNC_ALWAYS = 2 };
enum { CFG_COMMIT_ALWAYS = 0, CFG_COMMIT_EVERYSEC = 1, CFG_COMMIT_MANUAL = 2 };

/* enable-debug-command values. */
enum { CFG_DEBUG_NO = 0, CFG_DEBUG_YES = 1, CFG_DEBUG_LOCAL = 2 };

enum cfg_type { CFG_BOOL, CFG_INT, CFG_MEMORY, CFG_STRING, CFG_ENUM };

struct cfg_enum {
	const char *name;
	int64_t value;
};

typedef struct cfg_option {
	const char *name;
	const char *alias; /* an older name still accepted, or NULL */
	enum cfg_type type;
	size_t offset; /* into rf_config */
	int64_t min, max;
	const char *def; /* default, as it would be written in the file */
	bool mutable_;	 /* CONFIG SET may change it while running */
	bool multi_word; /* a list of words (bind, save): written unquoted */
	bool octal;	 /* CFG_INT read and shown in octal */
	const struct cfg_enum *enums;
	/* Optional check after the new value is stored (the old one is put
	 * back if it fails); returns NULL or an error text. */
	const char *(*check)(rf_config *cfg);
	const char *doc; /* one line for docs/CONFIG.md and the sample file */
} cfg_option;

extern const cfg_option cfg_options[];
extern const size_t cfg_noptions;

/* Guards string options of the live config. */
extern pthread_mutex_t cfg_lock;

/* Fills cfg with every option's default.  Returns 0. */
int cfg_init_defaults(rf_config *cfg);
void cfg_free(rf_config *cfg);

/* Reads a config file.  Returns 0, or -1 with a message in err. */
int cfg_load_file(rf_config *cfg, const char *path, char *err, size_t errlen);

/* Applies one `name value...` setting (from the file, the command line or
 * CONFIG SET).  With running, refuses immutable options.  Returns 0, or -1
 * with Redis's error text in err (without the "ERR " prefix and without
 * CONFIG SET's "CONFIG SET failed (possibly related to ...) - " frame). */
int cfg_set(rf_config *cfg, const char *name, const char *const *values,
	    int nvalues, bool running, char *err, size_t errlen);

/* Formats an option's current value as CONFIG GET shows it.  Returns the
 * length written (truncated to cap-1). */
size_t cfg_format(const rf_config *cfg, const cfg_option *o, char *out,
		  size_t cap);

/* Finds an option by name or alias, any case.  NULL if unknown. */
const cfg_option *cfg_find(const char *name);

/* Atomic reads of numeric options (any thread). */
static inline int64_t cfg_get_int(const int64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

/* Copies a string option (any thread); returns a malloc'd copy or NULL. */
char *cfg_get_str(char *const *field);

/* Writes the current config back to path, keeping comments and the order
 * of the lines it had (a missing file is created); options the file does
 * not mention are appended when they differ from their default.  The file
 * is replaced atomically (temporary file, fsync, rename, directory
 * fsync).  Returns 0 or -1 with err ("Rewriting config file: ..."). */
int cfg_rewrite(const rf_config *cfg, const char *path, char *err,
		size_t errlen);

#endif
