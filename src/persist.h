/*
 * persist.h - SAVE, BGSAVE, autosave and the shutdown save, over the
 * engine's CPR checkpoints (fkv_checkpoint_*), and what INFO persistence
 * and LASTSAVE report.
 *
 * One checkpoint runs at a time, on the engine's own thread; workers keep
 * serving meanwhile.  The state below is shared by every thread under one
 * mutex.
 */
#ifndef RF_PERSIST_H
#define RF_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "fkv.h"

/* After the store is open (main thread): logs what recovery found and
 * sets the last save time to now, as Redis does at start. */
void persist_init(void);

/* True when checkpoints can be taken (storage-tier yes). */
bool persist_supported(void);

enum {
	PERSIST_STARTED = 0,
	PERSIST_SCHEDULED = 1, /* BGSAVE SCHEDULE: runs after the current */
	PERSIST_BUSY = -1,     /* one is already running */
	PERSIST_UNSUPPORTED = -2,
	PERSIST_FAILED = -3, /* could not start (see the log) */
};

/* BGSAVE [SCHEDULE].  Any thread. */
int persist_bgsave(bool schedule);

/* SAVE: takes a checkpoint and waits for it.  The caller's session (may
 * be NULL) is suspended meanwhile.  Returns PERSIST_STARTED (done, ok),
 * PERSIST_BUSY, PERSIST_UNSUPPORTED or PERSIST_FAILED. */
int persist_save(fkv_session *s);

/* persist_save, but when a background save is running, waits for it
 * and then takes a new one (that one holds only what came before it). */
int persist_save_now(fkv_session *s);

/* Autosave points and a scheduled BGSAVE; called about every 100 ms from
 * the main thread. */
void persist_cron(int64_t now_ms);

/* Whether `save` points are configured (SHUTDOWN's default). */
bool persist_has_save_points(void);

/* The last successful save, Unix seconds (LASTSAVE). */
int64_t persist_lastsave(void);

/* What INFO persistence shows. */
typedef struct persist_status {
	bool in_progress;
	bool last_ok;		  /* the last save succeeded (or none ran) */
	int64_t lastsave;	  /* Unix seconds */
	int64_t last_time_sec;	  /* duration of the last one, -1: none */
	int64_t current_time_sec; /* of the running one, -1: none */
	uint64_t saves;		  /* successful ones since start */
	uint64_t changes;	  /* writes since the last successful save */
	uint64_t version;	  /* the last successful checkpoint's */
	uint64_t size;		  /* its index file and the log it needs */
	const char *phase;	  /* the checkpoint phase now (static) */
} persist_status;

void persist_status_get(persist_status *out);

/* Parses a `save` value: "" or pairs of "<seconds> <changes>".  Returns
 * NULL or an error text. */
const char *persist_check_points(const char *value);

#endif
