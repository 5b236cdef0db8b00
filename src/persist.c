/*
 * persist.c - SAVE, BGSAVE, autosave and the shutdown save over the
 * engine's checkpoints: see persist.h.
 */
#include "persist.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aof.h"
#include "server.h"

/* Redis waits this long before an autosave retries a failed one. */
#define RETRY_DELAY_MS 5000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t done; /* a checkpoint ended (on_checkpoint) */
	bool running, scheduled, last_ok;
	/* A SAVE waits for its own checkpoint: none may start before it has
	 * read the result. */
	bool save_waiting;
	int64_t started_ms, lastsave_ms, last_try_ms, last_time_sec;
	uint64_t saves, version, size;
	uint64_t writes_at_start; /* engine writes when the running one began */
	uint64_t writes_at_save;  /* ... when the last successful one began */
	uint64_t aof_at_start;	  /* the AOF's tail when the running began */
} ps = {.lock = PTHREAD_MUTEX_INITIALIZER,
	.last_ok = true,
	.last_time_sec = -1};

/* Writes the engine has done (upserts, RMWs, deletes): Redis's "dirty". */
static uint64_t engine_writes(void)
{
	fkv_stats st;
	fkv_store_stats(server.store, &st);
	return st.upserts + st.rmws + st.deletes;
}

bool persist_supported(void)
{
	return cfg_get_int(&server.cfg.storage_tier) != 0;
}

void persist_init(void)
{
	fkv_recovery_info ri;
	fkv_recovery_result(server.store, &ri);
	pthread_mutex_lock(&ps.lock);
	ps.lastsave_ms = rf_wall_ms();
	if (ri.recovered) {
		ps.version = ri.version;
		ps.size = ri.checkpoint_bytes;
	}
	pthread_mutex_unlock(&ps.lock);
}

/* The engine's checkpoint thread, when a checkpoint ends. */
static void on_checkpoint(void *ctx, const fkv_checkpoint_info *info)
{
	(void)ctx;
	/* First the AOF: what this checkpoint holds may go, before anything
	 * waits on the result. */
	pthread_mutex_lock(&ps.lock);
	uint64_t aof_at = ps.aof_at_start;
	pthread_mutex_unlock(&ps.lock);
	if (info->status == FKV_OK)
		aof_checkpoint_done(aof_at);
	pthread_mutex_lock(&ps.lock);
	ps.running = false;
	ps.last_ok = info->status == FKV_OK;
	ps.last_time_sec = (info->finished_ms - info->started_ms + 500) / 1000;
	if (ps.last_ok) {
		ps.lastsave_ms = info->finished_ms;
		ps.saves++;
		ps.version = info->version;
		ps.size = info->index_bytes + info->log_bytes;
		ps.writes_at_save = ps.writes_at_start;
	}
	pthread_cond_broadcast(&ps.done);
	pthread_mutex_unlock(&ps.lock);
	if (info->status == FKV_OK)
		rf_log(RF_LOG_NOTICE,
		       "Background saving terminated with success: checkpoint "
		       "%llu, %llu bytes of index, log up to %llu, %.3f s",
		       (unsigned long long)info->version,
		       (unsigned long long)info->index_bytes,
		       (unsigned long long)info->final_address,
		       (double)(info->finished_ms - info->started_ms) / 1000);
	else
		rf_log(RF_LOG_WARNING, "Background saving error: %s",
		       info->error);
}

/* Starts a checkpoint; ps.lock held.  A background one (BGSAVE,
 * autosave) is paced by checkpoint-flush-rate; one that somebody waits
 * for (SAVE, shutdown, FLUSHALL) goes as fast as it can. */
static int start_locked(bool background)
{
	if (!persist_supported())
		return PERSIST_UNSUPPORTED;
	if (ps.running || ps.save_waiting)
		return PERSIST_BUSY;
	uint64_t writes = engine_writes();
	/* Before the checkpoint starts: no entry below is of its next
	 * version (aof.h). */
	uint64_t aof_at = aof_checkpoint_start();
	uint64_t rate = background ? (uint64_t)cfg_get_int(
					     &server.cfg.checkpoint_flush_rate)
				   : 0;
	int rc = fkv_checkpoint_start(server.store, rate, on_checkpoint, NULL);
	if (rc == FKV_ABORTED)
		return PERSIST_BUSY;
	ps.last_try_ms = rf_wall_ms();
	if (rc != FKV_OK) {
		ps.last_ok = false;
		rf_log(RF_LOG_WARNING, "Cannot start a background save: %s",
		       fkv_strerror(rc));
		return PERSIST_FAILED;
	}
	ps.running = true;
	ps.scheduled = false;
	ps.started_ms = ps.last_try_ms;
	ps.writes_at_start = writes;
	ps.aof_at_start = aof_at;
	rf_log(RF_LOG_NOTICE,
	       "Background saving started (checkpoint, no fork)");
	return PERSIST_STARTED;
}

int persist_bgsave(bool schedule)
{
	pthread_mutex_lock(&ps.lock);
	int rc = start_locked(true);
	if (rc == PERSIST_BUSY && schedule) {
		ps.scheduled = true;
		rc = PERSIST_SCHEDULED;
	}
	pthread_mutex_unlock(&ps.lock);
	return rc;
}

int persist_save(fkv_session *s)
{
	pthread_mutex_lock(&ps.lock);
	int rc = start_locked(false);
	if (rc != PERSIST_STARTED) {
		pthread_mutex_unlock(&ps.lock);
		return rc;
	}
	ps.save_waiting = true;
	pthread_mutex_unlock(&ps.lock);
	if (s != NULL)
		fkv_session_suspend(s);
	pthread_mutex_lock(&ps.lock);
	while (ps.running)
		pthread_cond_wait(&ps.done, &ps.lock);
	bool ok = ps.last_ok; /* ours: nothing else could start meanwhile */
	ps.save_waiting = false;
	pthread_mutex_unlock(&ps.lock);
	if (s != NULL)
		fkv_session_resume(s);
	return ok ? PERSIST_STARTED : PERSIST_FAILED;
}

int persist_save_now(fkv_session *s)
{
	int rc = persist_save(s);
	if (rc != PERSIST_BUSY)
		return rc;
	/* A background save holds only what came before it. */
	if (s != NULL)
		fkv_session_suspend(s);
	fkv_checkpoint_wait(server.store, NULL);
	if (s != NULL)
		fkv_session_resume(s);
	return persist_save(s);
}

/* Walks the `save` points: true when one is due. */
static bool point_due(const char *points, int64_t now_ms, int64_t last_ms,
		      uint64_t changes)
{
	const char *p = points;
	for (;;) {
		char *end;
		long long secs = strtoll(p, &end, 10);
		if (end == p)
			return false;
		long long need = strtoll(end, &end, 10);
		p = end;
		if (changes >= (uint64_t)need && need > 0 &&
		    now_ms - last_ms >= secs * 1000)
			return true;
	}
}

void persist_cron(int64_t now_ms)
{
	if (!persist_supported())
		return;
	char *points = cfg_get_str(&server.cfg.save);
	pthread_mutex_lock(&ps.lock);
	if (!ps.running) {
		bool due = ps.scheduled;
		if (!due && points != NULL && points[0] != '\0' &&
		    (ps.last_ok || now_ms - ps.last_try_ms >= RETRY_DELAY_MS)) {
			uint64_t w = engine_writes();
			due = point_due(points, now_ms, ps.lastsave_ms,
					w - ps.writes_at_save);
		}
		if (due)
			(void)start_locked(true);
	}
	pthread_mutex_unlock(&ps.lock);
	free(points);
}

bool persist_has_save_points(void)
{
	char *points = cfg_get_str(&server.cfg.save);
	bool any = points != NULL && points[strspn(points, " \t")] != '\0';
	free(points);
	return any;
}

int64_t persist_lastsave(void)
{
	pthread_mutex_lock(&ps.lock);
	int64_t t = ps.lastsave_ms / 1000;
	pthread_mutex_unlock(&ps.lock);
	return t;
}

void persist_status_get(persist_status *out)
{
	uint64_t writes = engine_writes();
	pthread_mutex_lock(&ps.lock);
	out->in_progress = ps.running;
	out->last_ok = ps.last_ok;
	out->lastsave = ps.lastsave_ms / 1000;
	out->last_time_sec = ps.last_time_sec;
	out->current_time_sec =
		ps.running ? (rf_wall_ms() - ps.started_ms) / 1000 : -1;
	out->saves = ps.saves;
	out->changes = writes - ps.writes_at_save;
	out->version = ps.version;
	out->size = ps.size;
	pthread_mutex_unlock(&ps.lock);
	uint64_t version;
	out->phase = fkv_checkpoint_state(server.store, &version);
}

const char *persist_check_points(const char *value)
{
	const char *p = value;
	int n = 0;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (end == p || v < 0 || errno != 0 ||
		    (*end != '\0' && !isspace((unsigned char)*end)))
			return "Invalid save parameters";
		p = end;
		n++;
	}
	return n % 2 == 0 ? NULL : "Invalid save parameters";
}
