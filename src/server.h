/*
 * server.h - the server-wide state.  Set up by main() before the worker
 * threads start and read-only afterwards, except the atomic counters and
 * the config's mutable options (see config.h).
 */
#ifndef RF_SERVER_H
#define RF_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "fkv.h"

struct rf_worker;

typedef struct rf_server {
	rf_config cfg;
	const char *config_file; /* absolute path, or NULL */
	fkv_store *store;
	int nworkers;
	struct rf_worker **workers;
	int64_t start_ms; /* wall clock */
	char run_id[41];
	const char *executable;

	/* statistics (any thread, relaxed) */
	_Atomic int64_t connected_clients;
	_Atomic uint64_t total_connections;
	_Atomic uint64_t rejected_connections;
	_Atomic uint64_t total_commands;
	_Atomic uint64_t net_input_bytes;
	_Atomic uint64_t net_output_bytes;
	_Atomic uint64_t expired_keys;
	_Atomic uint64_t keyspace_hits;
	_Atomic uint64_t keyspace_misses;
	_Atomic uint64_t next_client_id;
	_Atomic int shutdown_asked;
	_Atomic int shutdown_save; /* RF_SHUTDOWN_*: SHUTDOWN's choice */
} rf_server;

enum { RF_SHUTDOWN_DEFAULT = 0, RF_SHUTDOWN_SAVE = 1, RF_SHUTDOWN_NOSAVE = 2 };

extern rf_server server;

/* Logs a line like Redis: "pid:M dd Mon yyyy hh:mm:ss.mmm * text". */
void rf_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum { RF_LOG_DEBUG, RF_LOG_VERBOSE, RF_LOG_NOTICE, RF_LOG_WARNING };

int64_t rf_wall_ms(void);

#endif
