/*
 * logs.h - the server's FasterLogs: the named logs of the LOG.* commands
 * (dir/logs/<name>/) and the append-only file (aof.c), and the waits of
 * clients on their commits.
 *
 * Registry
 *   A name's entry (rf_flog) lives until the server exits; its FasterLog is
 *   opened on first use (created by LOG.APPEND), closed and deleted by
 *   LOG.DROP, and opened again if the name is used again; `gen` counts
 *   those lives.  Commands hold the registry's read lock (logs_use ..
 *   logs_done) while they use a log; LOG.DROP and creation take it for
 *   writing.  The append-only file's entry is not in the registry and is
 *   never dropped.
 *
 * Waits
 *   A client waiting for a commit keeps (entry, gen, address); a commit of
 *   any log wakes the workers that have parked clients (conn.h).
 *
 * Threads: any, unless said.
 */
#ifndef RF_LOGS_H
#define RF_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flog.h"

#define RF_LOG_NAME_MAX 128

typedef struct rf_flog {
	char name[RF_LOG_NAME_MAX + 1];
	flog *log;     /* NULL while it does not exist (not yet, or dropped) */
	uint64_t gen;  /* changes when the log is dropped or created */
	bool internal; /* the append-only file */
	struct rf_flog *next;
} rf_flog;

/* Opens the registry over dir/logs (logs themselves open when first
 * used).  Returns 0, or -1 (logged). */
int logs_init(const char *dir);

/* Commits and closes every open named log (a graceful shutdown, after the
 * workers stopped). */
void logs_shutdown(void);

/* True when the name is valid: 1..RF_LOG_NAME_MAX bytes of letters,
 * digits, '.', '_', '-', not starting with '.'. */
bool logs_name_ok(const char *name, size_t len);

/* Takes the registry's read lock and finds the log `name`, opening it if
 * its folder exists, creating it if create is set.  Returns the entry
 * with its log open; NULL when it does not exist (or on an error: err
 * then holds the reply text, without "ERR ").  Either way the caller
 * calls logs_done(). */
rf_flog *logs_use(const char *name, size_t len, bool create, char *err,
		  size_t errlen);
void logs_done(void);

/* Deletes the log `name` and its files.  Returns 1, 0 (no such log) or
 * -1 (err set).  Takes the lock for writing: not between logs_use and
 * logs_done. */
int logs_drop(const char *name, size_t len, char *err, size_t errlen);

/* The existing logs' names (open or only on disk), sorted; *names and
 * each name are malloc'd, the caller frees them.  Returns the count or
 * -1 without memory. */
int logs_list(char ***names);

/* Opens lg's FasterLog in `path` with the server's settings (the
 * faster-log-* options; page_size and pages override them when not 0),
 * telling conn.h's waiters about its commits.  commit_ms: the automatic
 * commit interval (0: none); no_sync: commits skip fsync.  Returns FKV_OK
 * or an FKV_* error with err set. */
int logs_open_flog(rf_flog *lg, const char *path, uint32_t commit_ms,
		   bool no_sync, uint64_t page_size, uint32_t pages, char *err,
		   size_t errlen);

/* Whether the wait (lg, gen, addr) is over: 1 when lg committed up to
 * addr or was dropped, 0 while it has not, -1 when it cannot commit any
 * more (flog_failed).  Takes the read lock. */
int logs_reached(rf_flog *lg, uint64_t gen, uint64_t addr);

/* Asks lg's log for a commit (under the read lock). */
void logs_request_commit(rf_flog *lg, uint64_t gen);

/* Sets every open named log's automatic commit interval after CONFIG SET
 * log-commit-policy. */
void logs_policy_changed(void);

#endif
