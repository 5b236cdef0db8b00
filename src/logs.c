/*
 * logs.c - the registry of named FasterLogs and their commit waits: see
 * logs.h.
 */
#include "logs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "server.h"

/* Guards the list and each entry's log and gen (see logs.h). */
static pthread_rwlock_t reg_rw =
	PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static rf_flog *head;
static int nopen;	    /* logs with their FasterLog open */
static char root[PATH_MAX]; /* dir/logs */

int logs_init(const char *dir)
{
	snprintf(root, sizeof(root), "%s/logs", dir);
	return 0;
}

void logs_shutdown(void)
{
	pthread_rwlock_wrlock(&reg_rw);
	while (head != NULL) {
		rf_flog *lg = head;
		head = lg->next;
		if (lg->log != NULL && flog_commit(lg->log) != FKV_OK)
			rf_log(RF_LOG_WARNING,
			       "log '%s': final commit failed: %s", lg->name,
			       flog_failed(lg->log));
		flog_close(lg->log);
		free(lg);
	}
	pthread_rwlock_unlock(&reg_rw);
}

bool logs_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > RF_LOG_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

static void on_commit(void *ctx, uint64_t committed)
{
	(void)ctx;
	(void)committed;
	conn_log_committed();
}

static uint32_t policy_interval(void)
{
	return cfg_get_int(&server.cfg.log_commit_policy) == CFG_COMMIT_EVERYSEC
		       ? 1000
		       : 0;
}

int logs_open_flog(rf_flog *lg, const char *path, uint32_t commit_ms,
		   bool no_sync, uint64_t page_size, uint32_t pages, char *err,
		   size_t errlen)
{
	if (page_size == 0)
		page_size =
			(uint64_t)cfg_get_int(&server.cfg.faster_log_page_size);
	if (pages == 0)
		pages = (uint32_t)cfg_get_int(&server.cfg.faster_log_pages);
	flog_config c = {
		.dir = path,
		.page_size = page_size,
		.pages = pages,
		.segment_size = (uint64_t)cfg_get_int(
			&server.cfg.faster_log_segment_size),
		.commit_interval_ms = commit_ms,
		.no_sync = no_sync,
		.on_commit = on_commit,
		.ctx = lg,
	};
	if (c.segment_size < c.page_size)
		c.segment_size = c.page_size;
	char why[256] = "";
	int rc = flog_open(&c, &lg->log, why, sizeof(why));
	if (rc != FKV_OK)
		snprintf(err, errlen, "cannot open log '%s': %s", lg->name,
			 why[0] ? why : fkv_strerror(rc));
	return rc;
}

static rf_flog *find(const char *name, size_t len)
{
	for (rf_flog *lg = head; lg != NULL; lg = lg->next)
		if (strlen(lg->name) == len && memcmp(lg->name, name, len) == 0)
			return lg;
	return NULL;
}

/* dir/logs/<name> (name is valid: at most RF_LOG_NAME_MAX bytes). */
static void log_path(char *out, size_t cap, const char *name, size_t len)
{
	size_t r = strlen(root);
	if (r + 2 + len > cap)
		len = 0;
	memcpy(out, root, r);
	out[r] = '/';
	memcpy(out + r + 1, name, len);
	out[r + 1 + len] = '\0';
}

/* Under the write lock: the entry for name with its log open, opening an
 * existing folder or (create) a new one.  NULL when it does not exist or
 * on an error (err set). */
static rf_flog *open_locked(const char *name, size_t len, bool create,
			    char *err, size_t errlen)
{
	rf_flog *lg = find(name, len);
	if (lg != NULL && lg->log != NULL)
		return lg;
	char path[PATH_MAX];
	log_path(path, sizeof(path), name, len);
	struct stat st;
	if (!create && stat(path, &st) != 0)
		return NULL;
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", root,
			 strerror(errno));
		return NULL;
	}
	if (nopen >= cfg_get_int(&server.cfg.faster_log_max_logs)) {
		snprintf(err, errlen,
			 "too many open logs (faster-log-max-logs is %lld)",
			 (long long)cfg_get_int(
				 &server.cfg.faster_log_max_logs));
		return NULL;
	}
	bool fresh = lg == NULL;
	if (fresh) {
		lg = calloc(1, sizeof(*lg));
		if (lg == NULL) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		memcpy(lg->name, name, len);
	}
	if (logs_open_flog(lg, path, policy_interval(), false, 0, 0, err,
			   errlen) != FKV_OK) {
		if (fresh)
			free(lg);
		return NULL;
	}
	lg->gen++;
	nopen++;
	if (fresh) {
		lg->next = head;
		head = lg;
	}
	return lg;
}

rf_flog *logs_use(const char *name, size_t len, bool create, char *err,
		  size_t errlen)
{
	err[0] = '\0';
	pthread_rwlock_rdlock(&reg_rw);
	rf_flog *lg = find(name, len);
	if (lg != NULL && lg->log != NULL)
		return lg;
	/* Open (or create) it under the write lock, then come back. */
	pthread_rwlock_unlock(&reg_rw);
	pthread_rwlock_wrlock(&reg_rw);
	lg = open_locked(name, len, create, err, errlen);
	pthread_rwlock_unlock(&reg_rw);
	pthread_rwlock_rdlock(&reg_rw);
	/* (A LOG.DROP may have come in between: then it does not exist.) */
	return lg != NULL && lg->log != NULL ? lg : NULL;
}

void logs_done(void)
{
	pthread_rwlock_unlock(&reg_rw);
}

/* Removes every file of a log folder, then the folder. */
static int remove_folder(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	struct dirent *e;
	char p[PATH_MAX + 300];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		unlink(p);
	}
	closedir(d);
	return rmdir(path);
}

int logs_drop(const char *name, size_t len, char *err, size_t errlen)
{
	char path[PATH_MAX];
	log_path(path, sizeof(path), name, len);
	pthread_rwlock_wrlock(&reg_rw);
	rf_flog *lg = find(name, len);
	int rc = 0;
	struct stat st;
	if (lg != NULL && lg->log != NULL) {
		flog_close(lg->log);
		lg->log = NULL;
		lg->gen++;
		nopen--;
		rc = 1;
	} else if (stat(path, &st) == 0) {
		rc = 1;
	}
	if (rc == 1 && remove_folder(path) != 0) {
		snprintf(err, errlen, "cannot remove %s: %s", path,
			 strerror(errno));
		rc = -1;
	}
	pthread_rwlock_unlock(&reg_rw);
	/* Clients waiting on it are told (logs_reached says it is over). */
	if (rc == 1)
		conn_log_committed();
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int logs_list(char ***names)
{
	*names = NULL;
	int n = 0, cap = 0;
	DIR *d = opendir(root);
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!logs_name_ok(e->d_name, strlen(e->d_name)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(*names, (size_t)cap * sizeof(*nn));
			if (nn == NULL)
				goto oom;
			*names = nn;
		}
		if (((*names)[n] = strdup(e->d_name)) == NULL)
			goto oom;
		n++;
	}
	closedir(d);
	qsort(*names, (size_t)n, sizeof(**names), cmp_names);
	return n;
oom:
	closedir(d);
	for (int i = 0; i < n; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
	return -1;
}

int logs_reached(rf_flog *lg, uint64_t gen, uint64_t addr)
{
	bool internal = lg->internal;
	if (!internal)
		pthread_rwlock_rdlock(&reg_rw);
	int r;
	if (lg->log == NULL || lg->gen != gen)
		r = 1;
	else if (flog_committed(lg->log) >= addr)
		r = 1;
	else
		r = flog_failed(lg->log) != NULL ? -1 : 0;
	if (!internal)
		pthread_rwlock_unlock(&reg_rw);
	return r;
}

void logs_request_commit(rf_flog *lg, uint64_t gen)
{
	bool internal = lg->internal;
	if (!internal)
		pthread_rwlock_rdlock(&reg_rw);
	if (lg->log != NULL && lg->gen == gen)
		flog_commit_async(lg->log);
	if (!internal)
		pthread_rwlock_unlock(&reg_rw);
}

void logs_policy_changed(void)
{
	uint32_t ms = policy_interval();
	pthread_rwlock_rdlock(&reg_rw);
	for (rf_flog *lg = head; lg != NULL; lg = lg->next)
		if (lg->log != NULL)
			flog_set_commit_interval(lg->log, ms, false);
	pthread_rwlock_unlock(&reg_rw);
}
