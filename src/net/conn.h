/*
 * conn.h - a client connection and the worker thread that owns it.
 *
 * A worker thread runs one event loop (ev.h) and holds one engine session;
 * it owns its connections outright, so a connection's state needs no lock.
 * The only cross-thread access is through the client registry (CLIENT
 * LIST, CLIENT KILL): fields shown there change under reg_lock, and a kill
 * is a flag the owner acts on when its loop wakes.
 */
#ifndef CONN_H
#define CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ev.h"
#include "fkv.h"
#include "resp_parse.h"
#include "resp_write.h"

enum {
	CLIENT_CLOSE_AFTER_REPLY = 1 << 0,
	CLIENT_REPLY_OFF = 1 << 1,
	CLIENT_REPLY_SKIP_NEXT = 1 << 2,
	CLIENT_REPLY_SKIP = 1 << 3, /* this command's reply is dropped */
	CLIENT_UNIX = 1 << 4,
	CLIENT_NO_EVICT = 1 << 5,
	CLIENT_WAIT_IO = 1 << 6,    /* a command waits for a disk read */
	CLIENT_CLOSED = 1 << 7,	    /* detached; freed once the read is back */
	CLIENT_NO_PENDING = 1 << 8, /* this run waits for the disk in place */
	CLIENT_BLOCKED = 1 << 9,    /* a command waits for a log's commit */
};

struct rf_flog;

/* A commit the client's replies wait for (logs.h). */
typedef struct rf_commit_wait {
	struct rf_flog *lg;
	uint64_t gen, addr;
} rf_commit_wait;

/* A command kept while it waits for the disk (its arguments copied). */
typedef struct rf_pending_cmd {
	int argc;
	char **argv;
	size_t *argv_len;
	int rounds; /* times it went pending */
} rf_pending_cmd;

struct rf_worker;

typedef struct rf_client {
	uint64_t id;
	int fd;
	struct rf_worker *w;
	int flags;
	_Atomic int kill; /* set by CLIENT KILL from any thread */
	/* CLIENT UNBLOCK from any thread: whether it is blocked (set by its
	 * owner), and the request (RF_UNBLOCK_*, 0: none). */
	_Atomic bool blocked;
	_Atomic int unblock_req;

	char *qbuf; /* query buffer: [qpos, qlen) not yet parsed */
	size_t qlen, qcap, qpos;
	resp_parser parser;
	resp_buf out; /* replies not yet written */

	int db;
	int proto;
	bool authenticated;
	/* Shown by CLIENT LIST; changed under reg_lock. */
	char *name, *lib_name, *lib_ver;
	char addr[64], laddr[64];
	char last_cmd[32];
	int64_t ctime_ms, last_ms; /* wall clock */
	uint64_t commands;

	uint8_t *keybuf[2]; /* engine keys being built (cmd_key) */
	size_t keycap[2];
	rf_pending_cmd pending; /* while CLIENT_WAIT_IO or CLIENT_BLOCKED */

	/* Replies are held while a commit they depend on is not durable. */
	rf_commit_wait waits_small[2];
	rf_commit_wait *waits; /* waits_small, or malloc'd when more */
	int nwaits, waits_cap;
	/* While CLIENT_BLOCKED: the log whose commit past blk_from ends the
	 * wait, the deadline (wall ms; 0: none) and its timer (0: none). */
	struct rf_flog *blk_log;
	uint64_t blk_gen, blk_from;
	int64_t blk_deadline, blk_timer;
	bool blk_rerun; /* the blocked command runs again */
	bool parked;	/* in the worker's parked list */
	struct rf_client *park_prev, *park_next;

	struct rf_client *prev, *next;	       /* worker's list */
	struct rf_client *reg_prev, *reg_next; /* registry */
} rf_client;

typedef struct rf_worker {
	int id;
	pthread_t tid;
	ev_loop *loop;
	fkv_session *s;
	rf_client *clients;
	int nclients;
	int64_t cron_timer;
	uint64_t sweep_cursor; /* expired-key sweep position (cmd_keys_cron) */
	rf_client *parked;     /* clients waiting for a commit */
	_Atomic int nparked;   /* read by committing threads */
	_Atomic bool cron_asked; /* conn_wake_worker: run the cron checks */
} rf_worker;

/* Registry of every client of every worker. */
extern pthread_mutex_t reg_lock;
extern rf_client *reg_head;

/* Starts nworkers worker threads that accept on the listening fds.
 * Returns 0 or -1 (logged). */
int workers_start(int nworkers, const int *listen_fds, int nlisten);
/* Asks every worker to stop and joins them. */
void workers_stop(void);

/* Any thread: wakes a worker so that it acts on a CLIENT KILL. */
void conn_wake_worker(rf_worker *w);

/* The running command appended to lg (generation gen) up to addr: the
 * client's replies wait until that is committed.  Owner thread. */
void conn_wait_commit(rf_client *c, struct rf_flog *lg, uint64_t gen,
		      uint64_t addr);

/* The running command (LOG.TAIL BLOCK) found nothing: it writes no reply,
 * the client stops reading commands, and the command runs again once lg
 * commits past `from`, lg is dropped, or the wall clock passes
 * deadline_ms (0: no deadline).  Owner thread. */
void conn_block_on_log(rf_client *c, struct rf_flog *lg, uint64_t gen,
		       uint64_t from, int64_t deadline_ms);

/* For a blocking command: its deadline, kept across its runs: the one set
 * by its first run when it runs again, else now_ms + ms (0 for ms 0). */
int64_t conn_block_deadline(rf_client *c, int64_t now_ms, int64_t ms);

enum { RF_UNBLOCK_TIMEOUT = 1, RF_UNBLOCK_ERROR = 2 };

/* Any thread, under reg_lock: asks c's worker to end c's blocking
 * command (CLIENT UNBLOCK) as if it timed out, or with an UNBLOCKED
 * error.  Returns false when c is not blocked. */
bool conn_unblock(rf_client *c, int how);

/* Any thread: a log committed (or was dropped): wakes the workers that
 * have parked clients. */
void conn_log_committed(void);

/* Replaces the client's name (NULL to clear) under reg_lock. */
void client_set_name(rf_client *c, char **field, const char *v, size_t n);

/* Appends a CLIENT LIST / CLIENT INFO line for c (caller holds reg_lock
 * for clients of other workers). */
void client_format_info(rf_client *c, resp_buf *b, bool newline);

#endif
