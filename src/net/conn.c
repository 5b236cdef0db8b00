/*
 * conn.c - worker threads and client connections: accept, read, parse,
 * dispatch, write.  See conn.h for the threading rules.
 *
 * Reading: bytes go to the client's query buffer; every complete command
 * in it is parsed and run in order (pipelining), each appending its reply
 * to the client's output buffer; then the output is written at once, and
 * only what the socket would not take waits for EV_WRITABLE.  Replies thus
 * always leave in request order.
 *
 * Engine epochs: the worker's session is resumed (refreshed) when the loop
 * wakes and suspended before it waits, so an idle worker never holds the
 * engine back.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd.h"
#include "logs.h"
#include "server.h"

pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
rf_client *reg_head;

static rf_worker **workers;
static int nworkers_running;
/* Guards workers and nworkers_running against conn_log_committed, which
 * log threads call at any time. */
static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;

#define READ_CHUNK (16 * 1024)
#define CRON_MS 100

static void client_free(rf_client *c);
static void client_release(rf_client *c);
static void write_out(rf_client *c);
static void park(rf_client *c);
static void unpark(rf_client *c);
static void block_end(rf_client *c);
static bool replies_held(rf_client *c);

/* Registers a new client and gives it its id: under the lock, so that
 * the registry (newest first) stays in id order across workers, as
 * CLIENT LIST shows it. */
static void reg_add(rf_client *c)
{
	pthread_mutex_lock(&reg_lock);
	c->id = atomic_fetch_add(&server.next_client_id, 1) + 1;
	c->reg_next = reg_head;
	if (reg_head != NULL)
		reg_head->reg_prev = c;
	reg_head = c;
	pthread_mutex_unlock(&reg_lock);
}

static void reg_del(rf_client *c)
{
	pthread_mutex_lock(&reg_lock);
	if (c->reg_prev != NULL)
		c->reg_prev->reg_next = c->reg_next;
	else
		reg_head = c->reg_next;
	if (c->reg_next != NULL)
		c->reg_next->reg_prev = c->reg_prev;
	pthread_mutex_unlock(&reg_lock);
}

void client_set_name(rf_client *c, char **field, const char *v, size_t n)
{
	(void)c; /* the field belongs to c; the lock guards every client */
	char *copy = v != NULL ? strndup(v, n) : NULL;
	pthread_mutex_lock(&reg_lock);
	char *old = *field;
	*field = copy;
	pthread_mutex_unlock(&reg_lock);
	free(old);
}

static void format_addr(const struct sockaddr_storage *sa, bool is_unix,
			const char *unix_path, char *out, size_t cap)
{
	if (is_unix) {
		snprintf(out, cap, "%s:0", unix_path);
		return;
	}
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%d", ip, port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "%s:%d", ip, port);
	} else {
		snprintf(out, cap, "?:0");
	}
}

void client_format_info(rf_client *c, resp_buf *b, bool newline)
{
	char line[1024];
	int64_t now = rf_wall_ms();
	int n = snprintf(
		line, sizeof(line),
		"id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld "
		"flags=N db=%d sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu "
		"qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu rbp=0 obl=0 "
		"oll=0 omem=%zu tot-mem=%zu events=r cmd=%s user=default "
		"redir=-1 resp=%d lib-name=%s lib-ver=%s%s",
		(unsigned long long)c->id, c->addr, c->laddr, c->fd,
		c->name ? c->name : "", (long long)((now - c->ctime_ms) / 1000),
		(long long)((now - c->last_ms) / 1000), c->db,
		c->qlen - c->qpos, c->qcap - c->qlen, c->qcap, c->out.len,
		c->qcap + c->out.cap, c->last_cmd[0] ? c->last_cmd : "NULL",
		c->proto, c->lib_name ? c->lib_name : "",
		c->lib_ver ? c->lib_ver : "", newline ? "\n" : "");
	if (n > 0)
		resp_add_raw(b, line,
			     (size_t)n < sizeof(line) ? (size_t)n
						      : sizeof(line) - 1);
}

/* ---- reading and running commands ----------------------------------- */

static void close_client(rf_client *c)
{
	client_free(c);
}

/* Reads a "<prefix><digits>\r\n" header at *p (before end); returns the
 * number, or -1 if incomplete or malformed (the parser will judge it). */
static int64_t peek_header(const char **p, const char *end, char prefix)
{
	const char *q = *p;
	if (q >= end || *q != prefix)
		return -1;
	int64_t v = 0;
	for (q++; q < end && *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (*q - '0');
		if (v > (INT64_C(1) << 40))
			return -1;
	}
	if (q + 1 >= end || q[0] != '\r' || q[1] != '\n')
		return -1;
	*p = q + 2;
	return v;
}

#define PREFETCH_MAX 16
#define PREFETCH_KEY_MAX 120

/* Before running a pipeline of several commands, prefetches the index
 * bucket and then the record of each command's first key, so that the
 * commands' cache misses overlap instead of coming one after another
 * (fkv_prefetch).  Only complete multibulk commands with their key at
 * argv[1] are looked at; anything else ends the look-ahead. */
static void prefetch_pipeline(rf_client *c, fkv_session *s)
{
	static _Thread_local uint8_t keys[PREFETCH_MAX][PREFETCH_KEY_MAX + 1];
	uint32_t lens[PREFETCH_MAX];
	int stage[PREFETCH_MAX];
	int nk = 0;
	const char *p = c->qbuf + c->qpos, *end = c->qbuf + c->qlen;
	while (p < end && nk < PREFETCH_MAX) {
		int64_t argc = peek_header(&p, end, '*');
		if (argc < 2)
			break;
		const char *arg0 = NULL, *arg1 = NULL;
		int64_t len0 = 0, len1 = 0;
		for (int64_t i = 0; i < argc; i++) {
			int64_t n = peek_header(&p, end, '$');
			if (n < 0 || end - p < n + 2)
				goto done;
			if (i == 0) {
				arg0 = p;
				len0 = n;
			} else if (i == 1) {
				arg1 = p;
				len1 = n;
			}
			p += n + 2;
		}
		const cmd_def *d = cmd_lookup(arg0, (size_t)len0);
		if (d == NULL || d->first_key != 1 || len1 > PREFETCH_KEY_MAX)
			continue;
		keys[nk][0] = (uint8_t)c->db;
		memcpy(keys[nk] + 1, arg1, (size_t)len1);
		lens[nk] = (uint32_t)len1 + 1;
		/* Stage 2 also starts reading an on-disk record. */
		stage[nk] = (d->flags & CMD_BLIND_WRITE) ? 1 : 2;
		nk++;
	}
done:
	if (nk < 2)
		return;
	for (int i = 0; i < nk; i++)
		fkv_prefetch(s, keys[i], lens[i], 0);
	for (int i = 0; i < nk; i++)
		fkv_prefetch(s, keys[i], lens[i], stage[i]);
}

/* Bookkeeping after a command ran to completion (its reply is in c->out
 * from `before` on). */
static void command_done(rf_client *c, size_t before)
{
	c->commands++;
	atomic_fetch_add_explicit(&server.total_commands, 1,
				  memory_order_relaxed);
	/* CLIENT REPLY OFF / SKIP: drop what this command wrote. */
	if (c->flags & (CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP)) {
		c->out.len = before;
		c->flags &= ~CLIENT_REPLY_SKIP;
	}
	if (c->flags & CLIENT_REPLY_SKIP_NEXT) {
		c->flags &= ~CLIENT_REPLY_SKIP_NEXT;
		c->flags |= CLIENT_REPLY_SKIP;
	}
}

static void pending_free(rf_pending_cmd *p)
{
	for (int i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	free(p->argv_len);
	memset(p, 0, sizeof(*p));
}

/* Keeps a copy of the command's arguments to run it again once its disk
 * read is back.  Returns false without memory. */
static bool pending_keep(rf_pending_cmd *p, int argc, const char **argv,
			 const size_t *argv_len)
{
	p->argv = calloc((size_t)argc, sizeof(*p->argv));
	p->argv_len = calloc((size_t)argc, sizeof(*p->argv_len));
	if (p->argv == NULL || p->argv_len == NULL) {
		pending_free(p);
		return false;
	}
	for (int i = 0; i < argc; i++) {
		p->argv[i] = malloc(argv_len[i] + 1);
		if (p->argv[i] == NULL) {
			p->argc = i;
			pending_free(p);
			return false;
		}
		memcpy(p->argv[i], argv[i], argv_len[i]);
		p->argv[i][argv_len[i]] = '\0';
		p->argv_len[i] = argv_len[i];
	}
	p->argc = argc;
	return true;
}

/* Runs one command.  Returns false when it went pending on the disk: its
 * partial reply is dropped, and the client waits (CLIENT_WAIT_IO) with a
 * copy of the command, which runs again from the start when the read is
 * back (on_engine_ready).  Replies thus stay in request order: nothing
 * after the waiting command runs before it. */
static bool run_command(rf_client *c, int argc, const char **argv,
			const size_t *argv_len)
{
	rf_worker *w = c->w;
	int64_t now = rf_wall_ms();
	c->last_ms = now;
	cmd_ctx ctx = {.c = c,
		       .argc = argc,
		       .argv = argv,
		       .argv_len = argv_len,
		       .out = &c->out,
		       .s = w->s,
		       .now_ms = now};
	size_t before = c->out.len;
	fkv_session_set_waiter(w->s, NULL);
	cmd_dispatch(&ctx);
	bool pending = fkv_session_went_pending(w->s);
	fkv_session_set_waiter(w->s, NULL);
	if (c->flags & CLIENT_BLOCKED) {
		/* It writes no reply and runs again when its wait ends. */
		c->out.len = before;
		if (c->pending.argv == NULL &&
		    !pending_keep(&c->pending, argc, argv, argv_len)) {
			block_end(c);
			resp_add_error(&c->out, "ERR out of memory");
			c->flags |= CLIENT_CLOSE_AFTER_REPLY;
			return true;
		}
		park(c);
		/* It may have committed before the client was parked. */
		if (logs_reached(c->blk_log, c->blk_gen, c->blk_from + 1) != 0)
			ev_wake(w->loop);
		return false;
	}
	if (!pending) {
		command_done(c, before);
		return true;
	}
	c->out.len = before;
	if (c->pending.argv == NULL &&
	    !pending_keep(&c->pending, argc, argv, argv_len)) {
		/* The read still completes and wakes the client; without the
		 * copy the command cannot run again: say so. */
		resp_add_error(&c->out, "ERR out of memory");
		c->flags |= CLIENT_CLOSE_AFTER_REPLY;
	}
	c->flags |= CLIENT_WAIT_IO;
	return false;
}

/* Runs every complete command in the query buffer. */
static void process_input(rf_client *c)
{
	rf_worker *w = c->w;
	int until_prefetch = 0;
	while (c->qpos < c->qlen && !(c->flags & CLIENT_CLOSE_AFTER_REPLY) &&
	       !(c->flags & (CLIENT_WAIT_IO | CLIENT_BLOCKED))) {
		/* Each batch of pipelined commands is prefetched just before
		 * it runs (commands of a batch overlap their misses). */
		if (--until_prefetch <= 0) {
			until_prefetch = PREFETCH_MAX;
			if (c->qlen - c->qpos > 64 && c->parser.mb_count < 0)
				prefetch_pipeline(c, w->s);
		}
		size_t used;
		int rc = resp_parse(&c->parser, c->qbuf + c->qpos,
				    c->qlen - c->qpos, &used);
		if (rc == RESP_AGAIN)
			break;
		if (rc == RESP_NOMEM || rc == RESP_ERROR) {
			const char *e = rc == RESP_NOMEM ? "out of memory"
							 : c->parser.error;
			rf_log(RF_LOG_VERBOSE,
			       "Protocol error (%s) from client: "
			       "id=%llu addr=%s",
			       e, (unsigned long long)c->id, c->addr);
			resp_add_errorf(&c->out, "ERR %s", e);
			c->flags |= CLIENT_CLOSE_AFTER_REPLY;
			c->qpos = c->qlen;
			break;
		}
		c->qpos += used;
		if (rc == RESP_EMPTY)
			continue;
		if (!run_command(c, c->parser.argc, c->parser.argv,
				 c->parser.argv_len))
			break;
	}
	/* Drop the parsed prefix; keep a partial command. */
	if (c->qpos == c->qlen) {
		c->qpos = c->qlen = 0;
	} else if (c->qpos > 0 && c->parser.mb_count < 0) {
		memmove(c->qbuf, c->qbuf + c->qpos, c->qlen - c->qpos);
		c->qlen -= c->qpos;
		c->qpos = 0;
	}
}

/* A disk read that a waiting client's command needed is back: run the
 * command again, then whatever it held up.  `token` is the client. */
static void on_io_done(void *ctx, void *token)
{
	(void)ctx;
	rf_client *c = token;
	if (!(c->flags & CLIENT_WAIT_IO))
		return;
	c->flags &= ~CLIENT_WAIT_IO;
	if (c->flags & CLIENT_CLOSED) {
		client_release(c);
		return;
	}
	if (atomic_load_explicit(&c->kill, memory_order_acquire)) {
		close_client(c);
		return;
	}
	rf_pending_cmd *p = &c->pending;
	if (p->argv != NULL) {
		/* A command that keeps going pending (it reads more records
		 * than the read cache keeps until its next run) waits in place
		 * from its third run on, so that it always finishes.  The copy
		 * stays kept while it runs (run_command keeps only a first
		 * one). */
		if (p->rounds >= 1)
			c->flags |= CLIENT_NO_PENDING;
		bool done = run_command(c, p->argc, (const char **)p->argv,
					p->argv_len);
		c->flags &= ~CLIENT_NO_PENDING;
		if (!done) {
			/* Pending again (a longer chain, or evicted). */
			p->rounds++;
			return;
		}
		pending_free(p);
	}
	/* (Without a copy of the command, its error reply is already out.) */
	process_input(c);
	write_out(c);
}

/* The worker's engine session has completed disk reads. */
static void on_engine_ready(ev_loop *loop, int fd, void *data, int mask)
{
	(void)loop;
	(void)fd;
	(void)mask;
	rf_worker *w = data;
	fkv_complete_pending(w->s, on_io_done, w);
}

static bool grow_qbuf(rf_client *c, size_t need)
{
	if (c->qcap - c->qlen >= need)
		return true;
	size_t cap = c->qcap ? c->qcap : READ_CHUNK;
	while (cap - c->qlen < need)
		cap *= 2;
	char *q = realloc(c->qbuf, cap);
	if (q == NULL)
		return false;
	c->qbuf = q;
	c->qcap = cap;
	return true;
}

static void on_readable(ev_loop *loop, int fd, void *data, int mask)
{
	(void)loop;
	(void)fd;
	(void)mask;
	rf_client *c = data;
	/* Killed by CLIENT KILL from another client: run nothing more. */
	if (atomic_load_explicit(&c->kill, memory_order_acquire)) {
		close_client(c);
		return;
	}
	size_t want = READ_CHUNK;
	/* A large bulk being received: read it in as few calls as we can. */
	if (c->parser.want > c->qlen - c->qpos) {
		size_t rest = c->parser.want - (c->qlen - c->qpos);
		if (rest > want)
			want = rest < (64u << 20) ? rest : (64u << 20);
	}
	if (!grow_qbuf(c, want)) {
		rf_log(RF_LOG_WARNING, "out of memory reading from client %llu",
		       (unsigned long long)c->id);
		close_client(c);
		return;
	}
	ssize_t n = read(c->fd, c->qbuf + c->qlen, c->qcap - c->qlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		rf_log(RF_LOG_VERBOSE, "Reading from client: %s",
		       strerror(errno));
		close_client(c);
		return;
	}
	if (n == 0) {
		close_client(c);
		return;
	}
	c->qlen += (size_t)n;
	atomic_fetch_add_explicit(&server.net_input_bytes, (uint64_t)n,
				  memory_order_relaxed);
	int64_t limit = cfg_get_int(&server.cfg.client_query_buffer_limit);
	if ((int64_t)(c->qlen - c->qpos) > limit) {
		rf_log(RF_LOG_WARNING,
		       "Closing client that reached max query buffer length: "
		       "id=%llu addr=%s (qbuf initial bytes dropped)",
		       (unsigned long long)c->id, c->addr);
		close_client(c);
		return;
	}
	c->parser.authenticated = c->authenticated;
	process_input(c);
	write_out(c);
}

/* ---- clients waiting for commits (logs.h) ------------------------- */

static void park(rf_client *c)
{
	if (c->parked)
		return;
	rf_worker *w = c->w;
	c->parked = true;
	c->park_prev = NULL;
	c->park_next = w->parked;
	if (w->parked != NULL)
		w->parked->park_prev = c;
	w->parked = c;
	/* seq_cst, before the caller looks at the log: either it sees the
	 * commit, or the committing thread sees it parked (Dekker). */
	atomic_fetch_add(&w->nparked, 1);
}

static void unpark(rf_client *c)
{
	if (!c->parked)
		return;
	rf_worker *w = c->w;
	if (c->park_prev != NULL)
		c->park_prev->park_next = c->park_next;
	else
		w->parked = c->park_next;
	if (c->park_next != NULL)
		c->park_next->park_prev = c->park_prev;
	c->parked = false;
	atomic_fetch_sub(&w->nparked, 1);
}

void conn_wait_commit(rf_client *c, struct rf_flog *lg, uint64_t gen,
		      uint64_t addr)
{
	for (int i = 0; i < c->nwaits; i++) {
		rf_commit_wait *wt = &c->waits[i];
		if (wt->lg == lg && wt->gen == gen) {
			if (addr > wt->addr)
				wt->addr = addr;
			return;
		}
	}
	/* Called with the log registry's lock held (a handler): nothing
	 * here may wait, or take that lock again. */
	if (c->waits == NULL) {
		c->waits = c->waits_small;
		c->waits_cap = 2;
	}
	if (c->nwaits == c->waits_cap) {
		int cap = c->waits_cap * 2;
		rf_commit_wait *w = malloc((size_t)cap * sizeof(*w));
		if (w == NULL) {
			/* Without memory the reply cannot be held: close the
			 * connection (replies_held) rather than claim
			 * durability. */
			atomic_store(&c->kill, 1);
			return;
		}
		memcpy(w, c->waits, (size_t)c->nwaits * sizeof(*w));
		if (c->waits != c->waits_small)
			free(c->waits);
		c->waits = w;
		c->waits_cap = cap;
	}
	c->waits[c->nwaits++] = (rf_commit_wait){lg, gen, addr};
}

/* Drops the waits that are over; true while some remain (the client is
 * then parked and its logs asked to commit).  A failed log closes the
 * client: its replies would claim durability that is not there. */
static bool replies_held(rf_client *c)
{
	if (atomic_load_explicit(&c->kill, memory_order_acquire)) {
		close_client(c);
		return true;
	}
	park(c); /* first: see park() */
	int k = 0;
	for (int i = 0; i < c->nwaits; i++) {
		rf_commit_wait *wt = &c->waits[i];
		int r = logs_reached(wt->lg, wt->gen, wt->addr);
		if (r < 0) {
			rf_log(RF_LOG_WARNING,
			       "Closing client id=%llu: log '%s' cannot "
			       "commit, so its replies cannot be sent",
			       (unsigned long long)c->id, wt->lg->name);
			c->nwaits = 0;
			close_client(c);
			return true;
		}
		if (r == 0)
			c->waits[k++] = *wt;
	}
	c->nwaits = k;
	if (k == 0) {
		if (!(c->flags & CLIENT_BLOCKED))
			unpark(c);
		return false;
	}
	for (int i = 0; i < k; i++)
		logs_request_commit(c->waits[i].lg, c->waits[i].gen);
	return true;
}

int64_t conn_block_deadline(rf_client *c, int64_t now_ms, int64_t ms)
{
	if (c->blk_rerun)
		return c->blk_deadline;
	return ms > 0 ? now_ms + ms : 0;
}

static int64_t on_block_timer(ev_loop *loop, int64_t id, void *data);

void conn_block_on_log(rf_client *c, struct rf_flog *lg, uint64_t gen,
		       uint64_t from, int64_t deadline_ms)
{
	c->flags |= CLIENT_BLOCKED;
	/* A request left from an earlier blocking command is stale; one that
	 * came while this command ran again is not. */
	if (!c->blk_rerun)
		atomic_store(&c->unblock_req, 0);
	atomic_store(&c->blocked, true);
	c->blk_log = lg;
	c->blk_gen = gen;
	c->blk_from = from;
	c->blk_deadline = deadline_ms;
	if (deadline_ms > 0 && c->blk_timer == 0) {
		int64_t ms = deadline_ms - rf_wall_ms();
		c->blk_timer = ev_timer_add(c->w->loop, ms > 0 ? ms : 1,
					    on_block_timer, c);
	}
}

/* The client's command no longer waits (it runs again, or is ended). */
static void block_end(rf_client *c)
{
	c->flags &= ~CLIENT_BLOCKED;
	atomic_store(&c->blocked, false);
}

static void block_timer_stop(rf_client *c)
{
	if (c->blk_timer > 0) {
		ev_timer_del(c->w->loop, c->blk_timer);
		c->blk_timer = 0;
	}
}

/* The blocked command has replied: drops its timer and its copy, then
 * runs what it held up. */
static void block_over(rf_client *c)
{
	block_timer_stop(c);
	if (c->nwaits == 0)
		unpark(c);
	pending_free(&c->pending);
	process_input(c);
	write_out(c);
}

/* Runs a blocked client's command again; then what it held up. */
static void unblock(rf_client *c)
{
	block_end(c);
	if (atomic_load_explicit(&c->kill, memory_order_acquire)) {
		close_client(c);
		return;
	}
	rf_pending_cmd *p = &c->pending;
	c->blk_rerun = true;
	bool done =
		run_command(c, p->argc, (const char **)p->argv, p->argv_len);
	c->blk_rerun = false;
	if (!done)
		return; /* blocked again (the timer stays) */
	block_over(c);
}

static int64_t on_block_timer(ev_loop *loop, int64_t id, void *data)
{
	(void)loop;
	(void)id;
	rf_client *c = data;
	c->blk_timer = 0;
	if (c->flags & CLIENT_BLOCKED)
		unblock(c);
	return -1;
}

bool conn_unblock(rf_client *c, int how)
{
	if (!atomic_load(&c->blocked))
		return false;
	atomic_store(&c->unblock_req, how);
	conn_wake_worker(c->w);
	return true;
}

/* CLIENT UNBLOCK reached the blocked client c: as if its deadline passed
 * (the command runs again and replies as on a timeout), or an error. */
static void unblock_forced(rf_client *c, int how)
{
	if (atomic_load_explicit(&c->kill, memory_order_acquire)) {
		close_client(c);
		return;
	}
	if (how == RF_UNBLOCK_TIMEOUT) {
		c->blk_deadline = 1; /* long past */
		unblock(c);
		return;
	}
	block_end(c);
	size_t before = c->out.len;
	resp_add_error(&c->out,
		       "UNBLOCKED client unblocked via CLIENT UNBLOCK");
	command_done(c, before);
	block_over(c);
}

/* A log committed: runs what its parked clients waited for. */
static void wake_parked(rf_worker *w)
{
	rf_client *c = w->parked;
	while (c != NULL) {
		rf_client *next = c->park_next;
		int how = atomic_exchange(&c->unblock_req, 0);
		if (how != 0 && (c->flags & CLIENT_BLOCKED)) {
			unblock_forced(c, how);
			c = next;
			continue;
		}
		if ((c->flags & CLIENT_BLOCKED) &&
		    logs_reached(c->blk_log, c->blk_gen, c->blk_from + 1) != 0)
			unblock(c);
		else if (c->nwaits > 0)
			write_out(c); /* replies before a blocked command too */
		else if (!(c->flags & CLIENT_BLOCKED))
			unpark(c);
		c = next;
	}
}

/* ---- writing ---------------------------------------------------------- */

static void on_writable(ev_loop *loop, int fd, void *data, int mask)
{
	(void)loop;
	(void)fd;
	(void)mask;
	write_out(data);
}

/* Writes what the socket takes; waits for EV_WRITABLE for the rest.
 * May free the client. */
static void write_out(rf_client *c)
{
	if (c->nwaits > 0 && replies_held(c))
		return;
	size_t sent = 0;
	while (sent < c->out.len) {
		ssize_t n = write(c->fd, c->out.data + sent, c->out.len - sent);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			rf_log(RF_LOG_VERBOSE, "Error writing to client: %s",
			       strerror(errno));
			close_client(c);
			return;
		}
		sent += (size_t)n;
	}
	atomic_fetch_add_explicit(&server.net_output_bytes, sent,
				  memory_order_relaxed);
	resp_buf_consume(&c->out, sent);
	if (c->out.oom) {
		rf_log(RF_LOG_WARNING, "out of memory replying to client %llu",
		       (unsigned long long)c->id);
		close_client(c);
		return;
	}
	int64_t hard = cfg_get_int(&server.cfg.obl_normal_hard);
	if (hard > 0 && (int64_t)c->out.len > hard) {
		rf_log(RF_LOG_WARNING,
		       "Client id=%llu addr=%s closed for overcoming of output "
		       "buffer limits.",
		       (unsigned long long)c->id, c->addr);
		close_client(c);
		return;
	}
	if (c->out.len == 0) {
		if (c->flags & CLIENT_CLOSE_AFTER_REPLY) {
			close_client(c);
			return;
		}
		ev_del(c->w->loop, c->fd, EV_WRITABLE);
		/* Large idle buffers go back to the allocator. */
		if (c->out.cap > (1u << 20)) {
			resp_buf_free(&c->out);
			resp_buf_init(&c->out, c->proto);
		}
	} else if (!(ev_mask(c->w->loop, c->fd) & EV_WRITABLE)) {
		ev_add(c->w->loop, c->fd, EV_WRITABLE, on_writable, c);
	}
}

/* ---- accepting ---------------------------------------------------- */

/* Takes the client out of everything (registry, event loop, socket,
 * worker list, counters); its memory stays (client_release). */
static void client_detach(rf_client *c)
{
	rf_worker *w = c->w;
	/* Out of the registry before the socket closes: once a peer sees the
	 * connection closed, CLIENT LIST / KILL no longer find it. */
	reg_del(c);
	unpark(c);
	block_timer_stop(c);
	ev_del(w->loop, c->fd, EV_READABLE | EV_WRITABLE);
	close(c->fd);
	c->fd = -1;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->nclients--;
	atomic_fetch_sub_explicit(&server.connected_clients, 1,
				  memory_order_relaxed);
}

static void client_release(rf_client *c)
{
	pending_free(&c->pending);
	if (c->waits != c->waits_small)
		free(c->waits);
	resp_parser_free(&c->parser);
	resp_buf_free(&c->out);
	free(c->qbuf);
	free(c->name);
	free(c->lib_name);
	free(c->lib_ver);
	free(c->keybuf[0]);
	free(c->keybuf[1]);
	free(c);
}

/* A client waiting for a disk read is freed when the read is back (the
 * engine holds its address as the waiter token). */
static void client_free(rf_client *c)
{
	if (c->flags & CLIENT_CLOSED)
		return;
	client_detach(c);
	if (c->flags & CLIENT_WAIT_IO)
		c->flags |= CLIENT_CLOSED;
	else
		client_release(c);
}

static resp_limits client_limits;

static bool loopback_or_unix(const struct sockaddr_storage *sa, bool is_unix)
{
	if (is_unix)
		return true;
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
			in6->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

static void reject(int fd, const char *msg)
{
	ssize_t n = write(fd, msg, strlen(msg));
	(void)n;
	close(fd);
	atomic_fetch_add_explicit(&server.rejected_connections, 1,
				  memory_order_relaxed);
}

static const char protected_msg[] =
	"-DENIED Redis is running in protected mode because protected mode "
	"is enabled and no password is set for the default user. In this "
	"mode connections are only accepted from the loopback interface. If "
	"you want to connect from external computers to Redis you may adopt "
	"one of the following solutions: 1) Just disable protected mode "
	"sending the command 'CONFIG SET protected-mode no' from the loopback "
	"interface by connecting to Redis from the same host the server is "
	"running, however MAKE SURE Redis is not publicly accessible from "
	"internet if you do so. Use CONFIG REWRITE to make this change "
	"permanent. 2) Alternatively you can just disable the protected mode "
	"by editing the Redis configuration file, and setting the protected "
	"mode option to 'no', and then restarting the server. 3) If you "
	"started the server manually just for testing, restart it with the "
	"'--protected-mode no' option. 4) Set up an authentication password "
	"for the default user. NOTE: You only need to do one of the above "
	"things in order for the server to start accepting connections from "
	"the outside.\r\n";

static void on_accept(ev_loop *loop, int lfd, void *data, int mask)
{
	(void)mask;
	rf_worker *w = data;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage sa;
		socklen_t slen = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &slen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				rf_log(RF_LOG_WARNING,
				       "Accepting client "
				       "connection: %s",
				       strerror(errno));
			return;
		}
		bool is_unix = sa.ss_family == AF_UNIX;
		int64_t maxc = cfg_get_int(&server.cfg.maxclients);
		if (atomic_load(&server.connected_clients) >= maxc) {
			reject(fd, "-ERR max number of clients reached\r\n");
			continue;
		}
		char *pass = cfg_get_str(&server.cfg.requirepass);
		bool nopass = pass == NULL || pass[0] == '\0';
		free(pass);
		if (cfg_get_int(&server.cfg.protected_mode) && nopass &&
		    !loopback_or_unix(&sa, is_unix)) {
			reject(fd, protected_msg);
			continue;
		}
		rf_client *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		if (!is_unix) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			int ka = (int)cfg_get_int(&server.cfg.tcp_keepalive);
			if (ka > 0) {
				setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one,
					   sizeof(one));
				setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &ka,
					   sizeof(ka));
			}
		}
		c->fd = fd;
		c->w = w;
		c->proto = 2;
		c->flags = is_unix ? CLIENT_UNIX : 0;
		char *rp = cfg_get_str(&server.cfg.requirepass);
		c->authenticated = rp == NULL || rp[0] == '\0';
		free(rp);
		resp_parser_init(&c->parser, &client_limits);
		resp_buf_init(&c->out, 2);
		c->ctime_ms = c->last_ms = rf_wall_ms();
		struct sockaddr_storage la;
		socklen_t llen = sizeof(la);
		getsockname(fd, (struct sockaddr *)&la, &llen);
		char *usock = cfg_get_str(&server.cfg.unixsocket);
		format_addr(&sa, is_unix, "", c->addr, sizeof(c->addr));
		format_addr(&la, is_unix, usock ? usock : "", c->laddr,
			    sizeof(c->laddr));
		if (is_unix)
			snprintf(c->addr, sizeof(c->addr), "%s:0",
				 usock ? usock : "");
		free(usock);
		if (ev_add(loop, fd, EV_READABLE, on_readable, c) != 0) {
			resp_parser_free(&c->parser);
			free(c);
			close(fd);
			continue;
		}
		c->next = w->clients;
		if (w->clients != NULL)
			w->clients->prev = c;
		w->clients = c;
		w->nclients++;
		reg_add(c);
		atomic_fetch_add(&server.connected_clients, 1);
		atomic_fetch_add(&server.total_connections, 1);
	}
}

/* ---- the worker thread -------------------------------------------- */

static void before_sleep(ev_loop *loop, void *data)
{
	(void)loop;
	rf_worker *w = data;
	fkv_session_suspend(w->s);
}

static void after_wake(ev_loop *loop, void *data)
{
	(void)loop;
	rf_worker *w = data;
	fkv_session_resume(w->s);
}

/* Closes killed and idle clients. */
static int64_t worker_cron(ev_loop *loop, int64_t id, void *data)
{
	(void)loop;
	(void)id;
	rf_worker *w = data;
	int64_t now = rf_wall_ms();
	int64_t idle = cfg_get_int(&server.cfg.timeout) * 1000;
	rf_client *c = w->clients;
	while (c != NULL) {
		rf_client *next = c->next;
		if (atomic_load_explicit(&c->kill, memory_order_acquire) ||
		    (idle > 0 && now - c->last_ms > idle && c->out.len == 0 &&
		     !(c->flags & CLIENT_BLOCKED))) {
			if (!atomic_load(&c->kill))
				rf_log(RF_LOG_VERBOSE, "Closing idle client");
			close_client(c);
		}
		c = next;
	}
	cmd_keys_cron(w->s, &w->sweep_cursor, now);
	if (w->id == 0)
		cmd_server_cron(now);
	if (atomic_load(&server.shutdown_asked))
		ev_stop(loop);
	int64_t hz = cfg_get_int(&server.cfg.hz);
	return hz > 0 ? 1000 / hz : CRON_MS;
}

static void on_wake(ev_loop *loop, void *data)
{
	rf_worker *w = data;
	wake_parked(w);
	if (atomic_exchange(&w->cron_asked, false))
		worker_cron(loop, 0, data);
}

static void *worker_main(void *arg)
{
	rf_worker *w = arg;
	if (fkv_session_start(server.store, &w->s) != FKV_OK) {
		rf_log(RF_LOG_WARNING, "worker %d: no engine session", w->id);
		return NULL;
	}
	int efd = fkv_session_event_fd(w->s);
	if (efd >= 0 &&
	    ev_add(w->loop, efd, EV_READABLE, on_engine_ready, w) != 0) {
		rf_log(RF_LOG_WARNING, "worker %d: cannot watch the engine",
		       w->id);
		fkv_session_stop(w->s);
		return NULL;
	}
	ev_run(w->loop);
	while (w->clients != NULL)
		close_client(w->clients);
	/* Clients still waiting for the disk are freed as reads come back. */
	while (fkv_session_pending(w->s) > 0) {
		fkv_complete_pending(w->s, on_io_done, w);
		sched_yield();
	}
	fkv_complete_pending(w->s, on_io_done, w);
	if (efd >= 0)
		ev_del(w->loop, efd, EV_READABLE);
	fkv_session_stop(w->s);
	return NULL;
}

int workers_start(int n, const int *listen_fds, int nlisten)
{
	resp_limits_default(&client_limits);
	client_limits.max_bulk_len =
		cfg_get_int(&server.cfg.proto_max_bulk_len);
	workers = calloc((size_t)n, sizeof(*workers));
	if (workers == NULL)
		return -1;
	int setsize = (int)cfg_get_int(&server.cfg.maxclients) + 128;
	for (int i = 0; i < n; i++) {
		rf_worker *w = calloc(1, sizeof(*w));
		if (w == NULL)
			return -1;
		w->id = i;
		w->loop = ev_create(setsize);
		if (w->loop == NULL) {
			rf_log(RF_LOG_WARNING, "worker %d: event loop: %s", i,
			       strerror(errno));
			return -1;
		}
		for (int k = 0; k < nlisten; k++) {
			if (ev_add(w->loop, listen_fds[k],
				   EV_READABLE | EV_EXCLUSIVE, on_accept,
				   w) != 0) {
				rf_log(RF_LOG_WARNING, "worker %d: listen fd",
				       i);
				return -1;
			}
		}
		ev_set_hooks(w->loop, before_sleep, after_wake, w);
		ev_set_wake_fn(w->loop, on_wake, w);
		w->cron_timer = ev_timer_add(w->loop, CRON_MS, worker_cron, w);
		workers[i] = w;
	}
	server.workers = (struct rf_worker **)workers;
	server.nworkers = n;
	for (int i = 0; i < n; i++) {
		if (pthread_create(&workers[i]->tid, NULL, worker_main,
				   workers[i]) != 0) {
			rf_log(RF_LOG_WARNING, "worker %d: thread: %s", i,
			       strerror(errno));
			return -1;
		}
		pthread_mutex_lock(&workers_lock);
		nworkers_running++;
		pthread_mutex_unlock(&workers_lock);
	}
	return 0;
}

void workers_stop(void)
{
	for (int i = 0; i < nworkers_running; i++)
		ev_stop(workers[i]->loop);
	for (int i = 0; i < nworkers_running; i++)
		pthread_join(workers[i]->tid, NULL);
	pthread_mutex_lock(&workers_lock);
	for (int i = 0; i < nworkers_running; i++) {
		ev_destroy(workers[i]->loop);
		free(workers[i]);
	}
	free(workers);
	workers = NULL;
	nworkers_running = 0;
	pthread_mutex_unlock(&workers_lock);
}

void conn_wake_worker(rf_worker *w)
{
	atomic_store(&w->cron_asked, true);
	ev_wake(w->loop);
}

void conn_log_committed(void)
{
	pthread_mutex_lock(&workers_lock);
	for (int i = 0; i < nworkers_running; i++)
		if (atomic_load(&workers[i]->nparked) > 0)
			ev_wake(workers[i]->loop);
	pthread_mutex_unlock(&workers_lock);
}
