/*
 * ltm_client.c - a load generator for the larger-than-memory benchmark,
 * on Debian's libhiredis.
 *
 *   ltm-client load|get|hist [--host H] [--port P] [--keys N]
 *       [--value-size V] [--threads T] [--conns C] [--pipeline K]
 *       [--seconds D] [--warmup W] [--zipf THETA] [--load-threads P]
 *       [--seed S] [--timeout SEC] [--samples M]
 *
 * load: SETs keys "key:%010u" for the ids [0, N), values of V bytes made
 *   from the id (so that a GET can be checked), in pipelined batches of
 *   256 over P threads, each with its own connection and its own slice of
 *   the ids.  Prints
 *     ltm-client mode=load keys=N value_size=V threads=P seconds=..
 *     rps=.. errors=..
 * get: T threads, each with C connections, GET keys drawn from a Zipfian
 *   distribution over [0, N) (THETA 0.99 by default; 0 is uniform), K
 *   commands in flight on each connection.  Every reply must be a bulk
 *   string equal to the value load wrote.  Replies are counted from W
 *   seconds after the start (default 0) for D seconds.  Prints
 *     ltm-client mode=get keys=N zipf=THETA threads=T pipeline=K
 *     seconds=D requests=.. rps=.. errors=..
 *   (conns=C is added when C > 1).
 * hist: no server; draws M samples from the generator and prints the share
 *   of the hottest ranks next to the share the distribution promises, and
 *   checks that rank-to-id scrambling is a permutation of [0, N).
 *
 * Any error (a failed connection, an error reply, a missing or wrong value)
 * is counted; the exit status is 1 when there was one, with a message on
 * stderr.
 *
 * Zipfian ranks come from the generator of Gray et al., "Quickly generating
 * billion-record synthetic databases" (SIGMOD 1994), as YCSB uses it; zeta
 * is summed once at start-up.  Rank r is turned into a key id by a
 * bijective scramble of [0, N) (xorshift-multiply rounds on the next power
 * of two, with cycle walking), so the hot keys are spread over the key
 * space and over the log, and no two ranks share a key.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_FMT "key:%010" PRIu32
#define KEY_BUF 32
#define LOAD_BATCH 256
#define MAX_THREADS 1024
#define MAX_CONNS 256
#define MAX_PIPELINE 1024
#define MAX_ERRORS_SHOWN 10

struct opts {
	const char *mode;
	const char *host;
	int port;
	uint64_t keys;
	uint32_t value_size;
	int threads;
	int conns;
	int pipeline;
	double seconds;
	double warmup;
	double theta;
	int load_threads;
	uint64_t seed;
	double timeout;
	uint64_t samples;
};

/* ---- random numbers, Zipf, scrambling ---------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 bits. */
static double rand_unit(uint64_t *rng)
{
	return (double)(splitmix64(rng) >> 11) * 0x1.0p-53;
}

/* Read-only after zipf_init; shared by the threads. */
struct zipf {
	uint64_t n;
	double theta;
	double zetan;	/* sum over i in [1, n] of 1 / i^theta */
	double alpha;	/* 1 / (1 - theta) */
	double eta;	/* (1 - (2/n)^(1-theta)) / (1 - zeta(2) / zetan) */
	double two_cut; /* zeta(2) = 1 + 0.5^theta: uz below it is rank 1 */
};

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	z->n = n;
	z->theta = theta;
	if (theta == 0.0) {
		z->zetan = (double)n;
		return;
	}
	/* Summed from the smallest term up, so that they are not lost in
	 * the rounding of a large partial sum. */
	double sum = 0;
	for (uint64_t i = n; i >= 1; i--)
		sum += pow((double)i, -theta);
	z->zetan = sum;
	z->alpha = 1.0 / (1.0 - theta);
	z->two_cut = 1.0 + pow(0.5, theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) /
		 (1.0 - z->two_cut / z->zetan);
}

/* A rank in [0, n): 0 is the most popular. */
static uint64_t zipf_next(const struct zipf *z, uint64_t *rng)
{
	double u = rand_unit(rng);
	if (z->theta == 0.0 || z->n < 3) {
		uint64_t r = (uint64_t)(u * (double)z->n);
		return r < z->n ? r : z->n - 1;
	}
	double uz = u * z->zetan;
	if (uz < 1.0)
		return 0;
	if (uz < z->two_cut)
		return 1;
	uint64_t r = (uint64_t)((double)z->n *
				pow(z->eta * u - z->eta + 1.0, z->alpha));
	return r < z->n ? r : z->n - 1;
}

/* Probability of rank r (0-based) under the distribution. */
static double zipf_share(const struct zipf *z, uint64_t r)
{
	if (z->theta == 0.0)
		return 1.0 / (double)z->n;
	return pow((double)(r + 1), -z->theta) / z->zetan;
}

/* A bijection of [0, n): each round below is a bijection of the k-bit
 * integers (xor with a right shift of itself, multiply by an odd constant
 * modulo 2^k), and cycle walking (apply again until the value is below n)
 * restricts a bijection of [0, 2^k) to one of [0, n).  2^k < 2n, so the
 * expected number of walks is under two. */
struct scramble {
	uint64_t n;
	unsigned bits;
	unsigned shift;
	uint64_t mask;
};

static void scramble_init(struct scramble *s, uint64_t n)
{
	unsigned bits = 1;
	while (bits < 64 && (UINT64_C(1) << bits) < n)
		bits++;
	s->n = n;
	s->bits = bits;
	s->shift = (bits + 1) / 2;
	s->mask = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

static uint64_t scramble_round(const struct scramble *s, uint64_t x)
{
	x = (x ^ UINT64_C(0x5851f42d4c957f2d)) & s->mask;
	x ^= x >> s->shift;
	x = (x * UINT64_C(0xd6e8feb86659fd93)) & s->mask;
	x ^= x >> s->shift;
	x = (x * UINT64_C(0x9e3779b97f4a7c15)) & s->mask;
	x ^= x >> s->shift;
	return x;
}

static uint64_t scramble_id(const struct scramble *s, uint64_t rank)
{
	uint64_t x = rank;
	do
		x = scramble_round(s, x);
	while (x >= s->n);
	return x;
}

/* ---- keys and values ---------------------------------------------------- */

static int make_key(char *buf, uint64_t id)
{
	return snprintf(buf, KEY_BUF, KEY_FMT, (uint32_t)id);
}

/* The value of key `id`: "<id in 10 digits>." repeated, cut to `len`
 * bytes; the same for load and for the check of a GET. */
static void make_value(char *buf, uint32_t len, uint64_t id)
{
	char unit[16];
	uint32_t ulen = (uint32_t)snprintf(unit, sizeof(unit),
					   "%010" PRIu32 ".", (uint32_t)id);
	for (uint32_t i = 0; i < len; i += ulen)
		memcpy(buf + i, unit, len - i < ulen ? len - i : ulen);
}

/* ---- shared state --------------------------------------------------------- */

static _Atomic int stop_asked;
static _Atomic int thread_failed; /* a get thread lost its connection */
static _Atomic uint64_t errors_shown;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps `s` seconds, in slices of at most 50 ms; returns early (false)
 * when a get thread has failed. */
static bool sleep_s(double s)
{
	double end = now_s() + s;
	for (;;) {
		if (atomic_load(&thread_failed))
			return false;
		double left = end - now_s();
		if (left <= 0)
			return true;
		if (left > 0.05)
			left = 0.05;
		struct timespec ts = {.tv_sec = 0,
				      .tv_nsec = (long)(left * 1e9)};
		nanosleep(&ts, NULL);
	}
}

/* Prints the first few errors of the run; the rest are only counted. */
static void report_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void report_error(const char *fmt, ...)
{
	if (atomic_fetch_add(&errors_shown, 1) >= MAX_ERRORS_SHOWN)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ltm-client: %s\n", msg);
}

static redisContext *connect_server(const struct opts *o)
{
	long us = (long)(o->timeout * 1e6);
	struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
	redisContext *c = redisConnectWithTimeout(o->host, o->port, tv);
	if (c == NULL || c->err) {
		report_error("cannot connect to %s:%d: %s", o->host, o->port,
			     c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

/* ---- load ----------------------------------------------------------------- */

struct loader {
	pthread_t tid;
	const struct opts *o;
	uint64_t first, end; /* the ids [first, end) */
	uint64_t errors;
	bool broken; /* the connection failed: the thread gave up */
};

static void *load_main(void *arg)
{
	struct loader *l = arg;
	const struct opts *o = l->o;
	char *val = malloc(o->value_size ? o->value_size : 1);
	redisContext *c = connect_server(o);
	if (val == NULL || c == NULL) {
		l->broken = true;
		goto out;
	}
	for (uint64_t id = l->first; id < l->end; id += LOAD_BATCH) {
		uint64_t end =
			id + LOAD_BATCH < l->end ? id + LOAD_BATCH : l->end;
		for (uint64_t i = id; i < end; i++) {
			char key[KEY_BUF];
			int klen = make_key(key, i);
			make_value(val, o->value_size, i);
			redisAppendCommand(c, "SET %b %b", key, (size_t)klen,
					   val, (size_t)o->value_size);
		}
		for (uint64_t i = id; i < end; i++) {
			redisReply *r;
			if (redisGetReply(c, (void **)&r) != REDIS_OK) {
				report_error("SET key %" PRIu64 ": %s", i,
					     c->errstr);
				l->errors += end - i;
				l->broken = true;
				goto out;
			}
			if (r->type != REDIS_REPLY_STATUS ||
			    strcmp(r->str, "OK") != 0) {
				report_error("SET key %" PRIu64
					     ": unexpected reply (type %d) %s",
					     i, r->type, r->str ? r->str : "");
				l->errors++;
			}
			freeReplyObject(r);
		}
	}
out:
	if (c)
		redisFree(c);
	free(val);
	return NULL;
}

static int run_load(const struct opts *o)
{
	int nt = o->load_threads;
	struct loader *ls = calloc((size_t)nt, sizeof(*ls));
	if (ls == NULL)
		return 1;
	double start = now_s();
	uint64_t per = o->keys / (uint64_t)nt, extra = o->keys % (uint64_t)nt;
	uint64_t next = 0;
	int started = 0;
	for (int t = 0; t < nt; t++) {
		ls[t].o = o;
		ls[t].first = next;
		next += per + ((uint64_t)t < extra ? 1 : 0);
		ls[t].end = next;
		if (pthread_create(&ls[t].tid, NULL, load_main, &ls[t]) != 0) {
			fprintf(stderr, "ltm-client: pthread_create failed\n");
			break;
		}
		started++;
	}
	uint64_t errors = 0;
	bool broken = started < nt;
	for (int t = 0; t < started; t++) {
		pthread_join(ls[t].tid, NULL);
		errors += ls[t].errors;
		broken |= ls[t].broken;
	}
	double secs = now_s() - start;
	printf("ltm-client mode=load keys=%" PRIu64
	       " value_size=%u threads=%d seconds=%.2f rps=%.0f errors=%" PRIu64
	       "\n",
	       o->keys, o->value_size, nt, secs, (double)o->keys / secs,
	       errors);
	free(ls);
	if (errors || broken) {
		fprintf(stderr,
			"ltm-client: load failed (%" PRIu64 " errors%s)\n",
			errors, broken ? ", a connection failed" : "");
		return 1;
	}
	return 0;
}

/* ---- get ------------------------------------------------------------------ */

struct getter {
	pthread_t tid;
	int index;
	const struct opts *o;
	const struct zipf *zipf;
	const struct scramble *scr;
	_Atomic uint64_t done;	 /* replies checked so far */
	_Atomic uint64_t errors; /* of those, wrong ones */
	bool broken;
};

/* Checks one GET reply against the value of `id`; true when right. */
static bool check_reply(const struct opts *o, const redisReply *r, uint64_t id,
			char *want)
{
	char key[KEY_BUF];
	if (r->type != REDIS_REPLY_STRING) {
		make_key(key, id);
		if (r->type == REDIS_REPLY_NIL)
			report_error("GET %s: nil (key missing)", key);
		else
			report_error("GET %s: reply type %d %s", key, r->type,
				     r->type == REDIS_REPLY_ERROR ? r->str
								  : "");
		return false;
	}
	make_value(want, o->value_size, id);
	if ((size_t)r->len != o->value_size ||
	    memcmp(r->str, want, o->value_size) != 0) {
		make_key(key, id);
		report_error("GET %s: wrong value (%zu bytes, want %u)", key,
			     (size_t)r->len, o->value_size);
		return false;
	}
	return true;
}

static void *get_main(void *arg)
{
	struct getter *g = arg;
	const struct opts *o = g->o;
	int nc = o->conns, k = o->pipeline;
	uint64_t rng = o->seed ^ (UINT64_C(0x2545f4914f6cdd1d) *
				  (uint64_t)(g->index + 1));
	redisContext **cs = calloc((size_t)nc, sizeof(*cs));
	uint64_t *ids = calloc((size_t)nc * (size_t)k, sizeof(*ids));
	char *want = malloc(o->value_size ? o->value_size : 1);
	if (cs == NULL || ids == NULL || want == NULL) {
		g->broken = true;
		goto out;
	}
	for (int c = 0; c < nc; c++) {
		cs[c] = connect_server(o);
		if (cs[c] == NULL) {
			g->broken = true;
			goto out;
		}
	}
	while (!atomic_load_explicit(&stop_asked, memory_order_relaxed)) {
		/* K GETs on every connection, then their replies. */
		for (int c = 0; c < nc; c++) {
			for (int i = 0; i < k; i++) {
				uint64_t id = scramble_id(
					g->scr, zipf_next(g->zipf, &rng));
				char key[KEY_BUF];
				int klen = make_key(key, id);
				ids[c * k + i] = id;
				redisAppendCommand(cs[c], "GET %b", key,
						   (size_t)klen);
			}
		}
		uint64_t ok = 0, bad = 0;
		for (int c = 0; c < nc; c++) {
			for (int i = 0; i < k; i++) {
				redisReply *r;
				if (redisGetReply(cs[c], (void **)&r) !=
				    REDIS_OK) {
					report_error("GET: %s", cs[c]->errstr);
					g->broken = true;
					goto out;
				}
				if (check_reply(o, r, ids[c * k + i], want))
					ok++;
				else
					bad++;
				freeReplyObject(r);
			}
		}
		/* Only this thread writes its counters: a relaxed
		 * load-add-store is enough for main's sampling. */
		atomic_store_explicit(
			&g->done,
			atomic_load_explicit(&g->done, memory_order_relaxed) +
				ok + bad,
			memory_order_relaxed);
		if (bad)
			atomic_fetch_add(&g->errors, bad);
	}
out:
	if (g->broken)
		atomic_store(&thread_failed, 1);
	if (cs)
		for (int c = 0; c < nc; c++)
			if (cs[c])
				redisFree(cs[c]);
	free(cs);
	free(ids);
	free(want);
	return NULL;
}

static uint64_t sum_done(struct getter *gs, int n)
{
	uint64_t s = 0;
	for (int i = 0; i < n; i++)
		s += atomic_load_explicit(&gs[i].done, memory_order_relaxed);
	return s;
}

static int run_get(const struct opts *o)
{
	struct zipf z;
	struct scramble scr;
	zipf_init(&z, o->keys, o->theta);
	scramble_init(&scr, o->keys);
	int nt = o->threads;
	struct getter *gs = calloc((size_t)nt, sizeof(*gs));
	if (gs == NULL)
		return 1;
	int started = 0;
	for (int t = 0; t < nt; t++) {
		gs[t].index = t;
		gs[t].o = o;
		gs[t].zipf = &z;
		gs[t].scr = &scr;
		if (pthread_create(&gs[t].tid, NULL, get_main, &gs[t]) != 0) {
			fprintf(stderr, "ltm-client: pthread_create failed\n");
			break;
		}
		started++;
	}
	/* The counts are sampled at the edges of the measured window, so
	 * connecting and the final partial batches fall outside it. */
	bool ok = started == nt && sleep_s(o->warmup);
	uint64_t before = sum_done(gs, started);
	double t0 = now_s();
	if (ok)
		sleep_s(o->seconds);
	uint64_t after = sum_done(gs, started);
	double secs = now_s() - t0;
	atomic_store(&stop_asked, 1);
	uint64_t errors = 0;
	bool broken = started < nt;
	for (int t = 0; t < started; t++) {
		pthread_join(gs[t].tid, NULL);
		errors += atomic_load(&gs[t].errors);
		broken |= gs[t].broken;
	}
	uint64_t requests = after - before;
	char conns[32] = "";
	if (o->conns > 1)
		snprintf(conns, sizeof(conns), " conns=%d", o->conns);
	printf("ltm-client mode=get keys=%" PRIu64
	       " zipf=%g threads=%d%s pipeline=%d seconds=%.2f "
	       "requests=%" PRIu64 " rps=%.0f errors=%" PRIu64 "\n",
	       o->keys, o->theta, nt, conns, o->pipeline, secs, requests,
	       (double)requests / secs, errors);
	free(gs);
	if (errors || broken) {
		fprintf(stderr,
			"ltm-client: get failed (%" PRIu64
			" wrong replies%s)\n",
			errors, broken ? ", a connection failed" : "");
		return 1;
	}
	return 0;
}

/* ---- hist: a check of the generator, without a server ------------------ */

static int run_hist(const struct opts *o)
{
	struct zipf z;
	struct scramble scr;
	zipf_init(&z, o->keys, o->theta);
	scramble_init(&scr, o->keys);
	enum { TOP = 10 };
	uint64_t top[TOP] = {0}, top100 = 0, top1pct = 0;
	uint64_t pct = o->keys / 100 ? o->keys / 100 : 1;
	uint64_t rng = o->seed;
	for (uint64_t i = 0; i < o->samples; i++) {
		uint64_t r = zipf_next(&z, &rng);
		if (r < TOP)
			top[r]++;
		top100 += r < 100;
		top1pct += r < pct;
	}
	double m = (double)o->samples;
	printf("ltm-client mode=hist keys=%" PRIu64 " zipf=%g samples=%" PRIu64
	       " zetan=%.6f\n",
	       o->keys, o->theta, o->samples, z.zetan);
	double e100 = 0, e1pct = 0;
	for (uint64_t r = 0; r < o->keys && (r < pct || r < 100); r++) {
		double s = zipf_share(&z, r);
		if (r < 100)
			e100 += s;
		if (r < pct)
			e1pct += s;
	}
	for (int r = 0; r < TOP && (uint64_t)r < o->keys; r++)
		printf("rank=%d id=%" PRIu64 " share=%.5f expected=%.5f\n", r,
		       scramble_id(&scr, (uint64_t)r), (double)top[r] / m,
		       zipf_share(&z, (uint64_t)r));
	printf("top100 share=%.5f expected=%.5f\n", (double)top100 / m, e100);
	printf("top1%% (%" PRIu64 " keys) share=%.5f expected=%.5f\n", pct,
	       (double)top1pct / m, e1pct);
	/* The scramble must hit every id exactly once. */
	uint8_t *seen = calloc((size_t)o->keys, 1);
	if (seen == NULL)
		return 1;
	uint64_t dups = 0;
	for (uint64_t r = 0; r < o->keys; r++) {
		uint64_t id = scramble_id(&scr, r);
		dups += seen[id];
		seen[id] = 1;
	}
	free(seen);
	printf("scramble permutation=%s\n", dups ? "no" : "yes");
	return dups ? 1 : 0;
}

/* ---- options -------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: ltm-client load|get|hist [--host H] [--port P] "
			"[--keys N]\n"
			"    [--value-size V] [--threads T] [--conns C] "
			"[--pipeline K]\n"
			"    [--seconds D] [--warmup W] [--zipf THETA] "
			"[--load-threads P]\n"
			"    [--seed S] [--timeout SEC] [--samples M]\n");
	exit(2);
}

static double parse_num(const char *name, const char *s, double min, double max)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr,
			"ltm-client: --%s %s: want a number in [%g, %g]\n",
			name, s, min, max);
		exit(2);
	}
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.host = "127.0.0.1",
			   .port = 6379,
			   .keys = 1000000,
			   .value_size = 200,
			   .threads = 4,
			   .conns = 1,
			   .pipeline = 1,
			   .seconds = 10,
			   .warmup = 0,
			   .theta = 0.99,
			   .load_threads = 4,
			   .seed = 1,
			   .timeout = 30,
			   .samples = 10000000};
	if (argc < 2)
		usage();
	o->mode = argv[1];
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || i + 1 >= argc)
			usage();
		const char *n = a + 2, *v = argv[i + 1];
		if (strcmp(n, "host") == 0)
			o->host = v;
		else if (strcmp(n, "port") == 0)
			o->port = (int)parse_num(n, v, 1, 65535);
		else if (strcmp(n, "keys") == 0)
			o->keys = (uint64_t)parse_num(n, v, 1, UINT32_MAX);
		else if (strcmp(n, "value-size") == 0)
			o->value_size = (uint32_t)parse_num(n, v, 0, 1 << 26);
		else if (strcmp(n, "threads") == 0)
			o->threads = (int)parse_num(n, v, 1, MAX_THREADS);
		else if (strcmp(n, "conns") == 0)
			o->conns = (int)parse_num(n, v, 1, MAX_CONNS);
		else if (strcmp(n, "pipeline") == 0)
			o->pipeline = (int)parse_num(n, v, 1, MAX_PIPELINE);
		else if (strcmp(n, "seconds") == 0)
			o->seconds = parse_num(n, v, 0.01, 86400);
		else if (strcmp(n, "warmup") == 0)
			o->warmup = parse_num(n, v, 0, 86400);
		else if (strcmp(n, "zipf") == 0)
			o->theta = parse_num(n, v, 0, 0.9999);
		else if (strcmp(n, "load-threads") == 0)
			o->load_threads = (int)parse_num(n, v, 1, MAX_THREADS);
		else if (strcmp(n, "seed") == 0)
			o->seed = (uint64_t)parse_num(n, v, 0, 1e15);
		else if (strcmp(n, "timeout") == 0)
			o->timeout = parse_num(n, v, 0.001, 86400);
		else if (strcmp(n, "samples") == 0)
			o->samples = (uint64_t)parse_num(n, v, 1, 1e12);
		else
			usage();
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	parse_opts(argc, argv, &o);
	if (strcmp(o.mode, "load") == 0)
		return run_load(&o);
	if (strcmp(o.mode, "get") == 0)
		return run_get(&o);
	if (strcmp(o.mode, "hist") == 0)
		return run_hist(&o);
	usage();
	return 2;
}
