/*
 * main.c - redis-faster's entry point: configuration, the engine store,
 * listening sockets, worker threads, signals and shutdown.
 *
 *   redis-faster [config-file] [--name value ...]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aof.h"
#include "cmd.h"
#include "conn.h"
#include "device.h"
#include "logs.h"
#include "persist.h"
#include "server.h"

rf_server server;

static FILE *logfp;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t rf_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rf_log(int level, const char *fmt, ...)
{
	if (level < cfg_get_int(&server.cfg.loglevel))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	char when[64];
	strftime(when, sizeof(when), "%d %b %Y %H:%M:%S", &tm);
	static const char marks[] = ".-*#";
	pthread_mutex_lock(&log_lock);
	fprintf(logfp ? logfp : stdout, "%d:M %s.%03ld %c %s\n", (int)getpid(),
		when, ts.tv_nsec / 1000000, marks[level], msg);
	fflush(logfp ? logfp : stdout);
	pthread_mutex_unlock(&log_lock);
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&server.shutdown_asked, 1);
}

static int listen_tcp(const char *addr, int port, int backlog, int *fds, int *n,
		      int max)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
	struct addrinfo *res;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *host = addr;
	if (host[0] == '-')
		host++; /* "-::1": optional address, as in Redis */
	int rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr,
			     &hints, &res);
	if (rc != 0) {
		rf_log(RF_LOG_WARNING, "bind %s: %s", addr, gai_strerror(rc));
		return addr[0] == '-' ? 0 : -1;
	}
	for (struct addrinfo *ai = res; ai != NULL && *n < max;
	     ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				   sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
		    listen(fd, backlog) != 0) {
			rf_log(RF_LOG_WARNING,
			       "Warning: Could not create server TCP listening "
			       "socket %s:%d: %s",
			       addr, port, strerror(errno));
			close(fd);
			freeaddrinfo(res);
			return addr[0] == '-' ? 0 : -1;
		}
		fds[(*n)++] = fd;
	}
	freeaddrinfo(res);
	return 0;
}

static int listen_unix(const char *path, int perm, int backlog)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		rf_log(RF_LOG_WARNING, "unixsocket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, backlog) != 0) {
		rf_log(RF_LOG_WARNING, "Failed opening Unix socket %s: %s",
		       path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (perm != 0)
		chmod(path, (mode_t)perm);
	return fd;
}

static int parse_args(int argc, char **argv)
{
	char err[512];
	int i = 1;
	if (i < argc && strncmp(argv[i], "--", 2) != 0) {
		if (strcmp(argv[i], "-v") == 0 ||
		    strcmp(argv[i], "--version") == 0) {
			printf("redis-faster v=7.2.4 (engine: FASTER in C)\n");
			exit(0);
		}
		char *abs = realpath(argv[i], NULL);
		server.config_file = abs ? abs : argv[i];
		if (cfg_load_file(&server.cfg, argv[i], err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "*** FATAL CONFIG FILE ERROR ***\n%s\n",
				err);
			return -1;
		}
		i++;
	}
	while (i < argc) {
		if (strncmp(argv[i], "--", 2) != 0) {
			fprintf(stderr, "Invalid argument '%s'\n", argv[i]);
			return -1;
		}
		const char *name = argv[i] + 2;
		int first = ++i;
		while (i < argc && strncmp(argv[i], "--", 2) != 0)
			i++;
		if (cfg_set(&server.cfg, name,
			    (const char *const *)argv + first, i - first, false,
			    err, sizeof(err)) != 0) {
			fprintf(stderr,
				"*** FATAL CONFIG ERROR ***\n--%s: %s\n", name,
				err);
			return -1;
		}
	}
	return 0;
}

static uint64_t floor_pow2(uint64_t v)
{
	uint64_t b = 1;
	while (b * 2 <= v)
		b *= 2;
	return b;
}

/* Removes the log segments of an earlier run that left no checkpoint:
 * nothing can be recovered from them. */
static void remove_old_segments(const char *dir)
{
	if (fkv_checkpoint_count(dir) > 0)
		return; /* recovery decides */
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "hlog.", 5) != 0)
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if (removed > 0)
		rf_log(RF_LOG_NOTICE,
		       "Removed %d log segment(s) of an earlier run from %s "
		       "(no checkpoint refers to them)",
		       removed, dir);
}

/* The disk tier: a device in store mode; cache mode bounds memory by
 * maxmemory when it is set.  Returns 0 or -1 (logged). */
static int configure_tier(fkv_config *fc)
{
	if (!cfg_get_int(&server.cfg.storage_tier)) {
		fc->evict = true;
		uint64_t maxmem = (uint64_t)cfg_get_int(&server.cfg.maxmemory);
		if (maxmem > 0) {
			uint64_t want = floor_pow2(maxmem);
			if (want < (UINT64_C(1) << 20))
				want = UINT64_C(1) << 20;
			rf_log(RF_LOG_NOTICE,
			       "Cache mode: maxmemory %llu sets the log memory "
			       "to %llu bytes",
			       (unsigned long long)maxmem,
			       (unsigned long long)want);
			fc->log_memory_size = want;
		}
		return 0;
	}
	/* The option's names (file, uring, null) are dev_open's types. */
	char type[16];
	cfg_format(&server.cfg, cfg_find("device-type"), type, sizeof(type));
	uint64_t seg =
		floor_pow2((uint64_t)cfg_get_int(&server.cfg.segment_size));
	remove_old_segments(server.cfg.dir);
	int rc = dev_open(type, server.cfg.dir, "hlog", seg, &fc->device);
	if (rc != 0) {
		rf_log(RF_LOG_WARNING, "Cannot open the %s device in %s: %s",
		       type, server.cfg.dir, dev_strerror(rc));
		return -1;
	}
	return 0;
}

/* The engine's log lines (recovery, checkpoints). */
static void engine_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	rf_log(level ? RF_LOG_WARNING : RF_LOG_NOTICE, "%s", msg);
}

static int open_store(void)
{
	fkv_config fc;
	fkv_config_default(&fc);
	fc.index_buckets =
		floor_pow2((uint64_t)cfg_get_int(&server.cfg.index_size) / 64);
	fc.log_memory_size = (uint64_t)cfg_get_int(&server.cfg.log_memory_size);
	if (configure_tier(&fc) != 0)
		return -1;
	uint64_t page = (uint64_t)cfg_get_int(&server.cfg.log_page_size);
	/* Pages leave memory one at a time: keep at least 8 of them. */
	uint64_t mem = floor_pow2(fc.log_memory_size);
	if (page > mem / 8) {
		page = mem / 8 >= 4096 ? mem / 8 : 4096;
		rf_log(RF_LOG_NOTICE,
		       "log-page-size lowered to %llu bytes (log memory / 8)",
		       (unsigned long long)page);
	}
	unsigned bits = 12;
	while ((UINT64_C(1) << (bits + 1)) <= page && bits < 30)
		bits++;
	fc.page_size_bits = bits;
	fc.copy_reads_to_tail = cfg_get_int(&server.cfg.copy_reads_to_tail);
	fc.cached_reads_inline = cfg_get_int(&server.cfg.cached_reads_inline);
	fc.read_cache_size =
		cfg_get_int(&server.cfg.read_cache)
			? (uint64_t)cfg_get_int(
				  &server.cfg.read_cache_memory_size)
			: 0;
	fc.mutable_fraction =
		(double)cfg_get_int(&server.cfg.log_mutable_percent) / 100.0;
	fc.huge_pages = cfg_get_int(&server.cfg.hugepages) != 0;
	fc.index_auto_grow = cfg_get_int(&server.cfg.index_auto_grow) != 0;
	fc.max_sessions = 256;
	if (fc.device != NULL) {
		fc.checkpoint_dir = server.cfg.dir;
		fc.recover = true;
		fc.checkpoint_keep =
			(uint32_t)cfg_get_int(&server.cfg.checkpoint_keep);
		fc.checkpoint_snapshot =
			cfg_get_int(&server.cfg.checkpoint_type) ==
			CFG_CHECKPOINT_SNAPSHOT;
		fc.log = engine_log;
	}
	int rc = fkv_store_open(&fc, &server.store);
	if (rc != FKV_OK && fc.device != NULL)
		dev_close(fc.device);
	if (rc != FKV_OK) {
		rf_log(RF_LOG_WARNING, "engine: cannot open the store: %s",
		       fkv_strerror(rc));
		return -1;
	}
	return 0;
}

/* SHUTDOWN SAVE, or a shutdown (SHUTDOWN, SIGTERM) with save points set:
 * one last checkpoint once the workers have stopped, so that it holds
 * every write they acknowledged.  Returns the exit code. */
static int final_save(void)
{
	int want = atomic_load(&server.shutdown_save);
	bool save = want == RF_SHUTDOWN_SAVE ||
		    (want == RF_SHUTDOWN_DEFAULT && persist_has_save_points());
	if (!save || !persist_supported())
		return 0;
	rf_log(RF_LOG_NOTICE, "Saving the final checkpoint before exiting.");
	if (persist_save_now(NULL) == PERSIST_STARTED)
		return 0;
	rf_log(RF_LOG_WARNING,
	       "Error trying to save the DB before exiting: recovery will use "
	       "the last checkpoint that succeeded");
	return 1;
}

int main(int argc, char **argv)
{
	cfg_init_defaults(&server.cfg);
	server.executable = argv[0];
	if (parse_args(argc, argv) != 0)
		return 1;
	if (server.cfg.logfile[0] != '\0') {
		logfp = fopen(server.cfg.logfile, "a");
		if (logfp == NULL) {
			fprintf(stderr, "Can't open the log file: %s\n",
				strerror(errno));
			return 1;
		}
	}
	if (server.cfg.daemonize) {
		rf_log(RF_LOG_WARNING, "daemonize yes is not supported");
		return 1;
	}
	if (mkdir(server.cfg.dir, 0755) != 0 && errno != EEXIST) {
		rf_log(RF_LOG_WARNING, "Can't create the data directory %s: %s",
		       server.cfg.dir, strerror(errno));
		return 1;
	}
	server.start_ms = rf_wall_ms();
	srand((unsigned)(server.start_ms ^ getpid()));
	for (int i = 0; i < 40; i++)
		server.run_id[i] = "0123456789abcdef"[rand() % 16];
	if (cmd_init() != 0) {
		rf_log(RF_LOG_WARNING, "command table: duplicate name");
		return 1;
	}
	if (open_store() != 0)
		return 1;
	if (aof_open() != 0)
		return 1;

	int fds[16], nfds = 0;
	int backlog = (int)server.cfg.tcp_backlog;
	if (server.cfg.port != 0) {
		char *binds = strdup(server.cfg.bind);
		for (char *save, *tok = strtok_r(binds, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save)) {
			if (listen_tcp(tok, (int)server.cfg.port, backlog, fds,
				       &nfds, 15) != 0) {
				free(binds);
				return 1;
			}
		}
		free(binds);
	}
	if (server.cfg.unixsocket[0] != '\0') {
		int fd = listen_unix(server.cfg.unixsocket,
				     (int)server.cfg.unixsocketperm, backlog);
		if (fd < 0)
			return 1;
		fds[nfds++] = fd;
	}
	if (nfds == 0) {
		rf_log(RF_LOG_WARNING, "Configured to not listen anywhere, "
				       "exiting.");
		return 1;
	}
	if (server.cfg.pidfile[0] != '\0') {
		FILE *pf = fopen(server.cfg.pidfile, "w");
		if (pf != NULL) {
			fprintf(pf, "%d\n", (int)getpid());
			fclose(pf);
		}
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Workers run with these signals blocked, so the main thread is the
	 * one that takes them (SHUTDOWN sends itself SIGTERM). */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	int n = (int)server.cfg.io_threads;
	if (n <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (int)cores : 1;
	}
	persist_init();
	logs_init(server.cfg.dir);
	if (workers_start(n, fds, nfds) != 0)
		return 1;
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	rf_log(RF_LOG_NOTICE,
	       "redis-faster started, pid=%d port=%d io-threads=%d "
	       "config=%s",
	       (int)getpid(), (int)server.cfg.port, n,
	       server.config_file ? server.config_file : "(none)");
	rf_log(RF_LOG_NOTICE, "Ready to accept connections tcp");
	/* The main thread waits for a shutdown request, and runs the
	 * autosave points. */
	while (!atomic_load(&server.shutdown_asked)) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
		nanosleep(&ts, NULL); /* a signal cuts it short */
		persist_cron(rf_wall_ms());
	}
	rf_log(RF_LOG_WARNING, "Received a shutdown request, exiting now.");
	workers_stop();
	logs_shutdown();
	int exit_code = final_save();
	aof_close();
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (server.cfg.unixsocket[0] != '\0')
		unlink(server.cfg.unixsocket);
	if (server.cfg.pidfile[0] != '\0')
		unlink(server.cfg.pidfile);
	fkv_store_close(server.store);
	rf_log(RF_LOG_WARNING, "redis-faster is now ready to exit, bye bye...");
	cfg_free(&server.cfg);
	return exit_code;
}
