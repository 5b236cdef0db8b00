/*
 * engine_bench.c - YCSB-style in-process benchmark of the engine.
 *
 *   engine-bench --keys N --seconds S --threads T --dist uniform|zipf
 *                [--zipf-theta 0.99] [--mix READ:UPSERT:RMW] [--key-size B]
 *                [--value-size B] [--index-buckets N] [--log-memory BYTES]
 *                [--page-bits B] [--no-huge-pages] [--seed N] [--quick]
 *                [--batch N] [--device file|uring|null [--dir DIR]]
 *
 * Loads N keys (split over the threads), then runs the mix for S seconds
 * on T threads, each with its own session, and prints one final line:
 *   engine-bench mix=50:50:0 dist=uniform threads=1 keys=N ops_per_sec=X
 *   bytes_per_key=Y
 * bytes_per_key is the index (buckets and overflow buckets) plus the log
 * bytes in use after loading, divided by N.
 *
 * --batch N (a power of two up to 64) runs the operations in batches whose
 * keys are first prefetched with fkv_prefetch(), as the server does with
 * the commands of a pipeline; the default, 1, prefetches nothing.
 *
 * Keys are 8-byte ids (zero-padded to --key-size); the key sequence of each
 * thread is generated before the timed run so the run measures the engine,
 * not the random number generator.  Zipfian ranks follow YCSB's generator
 * and are scattered over the ids by a fixed odd multiplier, so hot keys are
 * not neighbours in the log.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "fkv.h"

#define SEQ_LEN (UINT64_C(1) << 22) /* pre-generated key ids per thread */

struct opts {
	uint64_t keys;
	double seconds;
	int threads;
	bool zipf;
	double theta;
	int mix_read, mix_upsert, mix_rmw;
	uint32_t key_size, value_size;
	uint64_t index_buckets;
	uint64_t log_memory;
	uint32_t page_bits;
	bool huge_pages;
	uint64_t seed;
	int batch;
	const char *device; /* NULL: memory only */
	const char *dir;
};

struct worker {
	pthread_t tid;
	int id;
	const struct opts *o;
	fkv_store *store;
	uint64_t *seq; /* key ids of the timed run */
	uint64_t ops;
	uint64_t failures;
	int rc;
};

static _Atomic int phase_go;   /* 1: timed run under way */
static _Atomic int phase_stop; /* 1: stop the timed run */
static _Atomic int ready;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double rand01(uint64_t *x)
{
	return (double)(splitmix(x) >> 11) * (1.0 / 9007199254740992.0);
}

/* YCSB's Zipfian generator (Gray et al., "Quickly generating billion-record
 * synthetic databases"). */
struct zipf {
	uint64_t n;
	double theta, alpha, zetan, eta, half_pow;
};

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	double zetan = 0, zeta2 = 1.0 + pow(0.5, theta);
	for (uint64_t i = 1; i <= n; i++)
		zetan += 1.0 / pow((double)i, theta);
	z->n = n;
	z->theta = theta;
	z->zetan = zetan;
	z->alpha = 1.0 / (1.0 - theta);
	z->eta = (1 - pow(2.0 / (double)n, 1 - theta)) / (1 - zeta2 / zetan);
	z->half_pow = 1.0 + pow(0.5, theta);
}

static uint64_t zipf_next(const struct zipf *z, uint64_t *rng)
{
	double u = rand01(rng);
	double uz = u * z->zetan;
	if (uz < 1.0)
		return 0;
	if (uz < z->half_pow)
		return 1;
	uint64_t r = (uint64_t)((double)z->n *
				pow(z->eta * u - z->eta + 1, z->alpha));
	return r >= z->n ? z->n - 1 : r;
}

static void make_key(uint8_t *buf, uint32_t size, uint64_t id)
{
	memset(buf, 0, size);
	memcpy(buf, &id, size < 8 ? size : 8);
}

/* ---- RMW: add 1 to the value's first 8 bytes -------------------------- */

struct incr_ctx {
	uint32_t value_size;
};

static int incr_new_len(void *ctx, const uint8_t *old, uint32_t old_len,
			uint32_t *new_len, int64_t *expire_ms)
{
	struct incr_ctx *c = ctx;
	(void)old;
	(void)expire_ms;
	*new_len = old != NULL ? old_len : c->value_size;
	return FKV_OK;
}

static void incr_write(void *ctx, const uint8_t *old, uint32_t old_len,
		       uint8_t *dst, uint32_t new_len)
{
	(void)ctx;
	uint64_t v = 0;
	if (old != NULL) {
		memcpy(dst, old, old_len < new_len ? old_len : new_len);
		memcpy(&v, old, old_len < 8 ? old_len : 8);
	} else {
		memset(dst, 0, new_len);
	}
	v++;
	memcpy(dst, &v, new_len < 8 ? new_len : 8);
}

static int incr_in_place(void *ctx, uint8_t *value, uint32_t *len, uint32_t cap,
			 int64_t *expire_ms)
{
	(void)ctx;
	(void)cap;
	(void)expire_ms;
	uint64_t v = 0;
	uint32_t n = *len < 8 ? *len : 8;
	memcpy(&v, value, n);
	v++;
	memcpy(value, &v, n);
	return FKV_OK;
}

static const fkv_rmw_ops incr_ops = {incr_new_len, incr_write, incr_in_place};

/* ---- reads copy the value out, as a server copies it into a reply ---- */

struct read_ctx {
	uint8_t buf[4096];
	uint64_t sum;
};

static void read_cb(void *ctx, const uint8_t *value, uint32_t len,
		    int64_t expire_ms)
{
	struct read_ctx *r = ctx;
	(void)expire_ms;
	uint32_t n = len < sizeof(r->buf) ? len : sizeof(r->buf);
	memcpy(r->buf, value, n);
	r->sum += r->buf[0];
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	fkv_session *s;
	w->rc = fkv_session_start(w->store, &s);
	if (w->rc != FKV_OK)
		return NULL;
	uint8_t key[1024], value[65536];
	memset(value, 'v', o->value_size);

	/* Load this thread's share of the keys. */
	uint64_t lo = o->keys * (uint64_t)w->id / (uint64_t)o->threads;
	uint64_t hi = o->keys * (uint64_t)(w->id + 1) / (uint64_t)o->threads;
	for (uint64_t id = lo; id < hi; id++) {
		make_key(key, o->key_size, id);
		memcpy(value, &id, o->value_size < 8 ? o->value_size : 8);
		int rc = fkv_upsert(s, key, o->key_size, value, o->value_size,
				    0);
		if (rc != FKV_OK) {
			w->rc = rc;
			break;
		}
	}
	atomic_fetch_add(&ready, 1);
	fkv_session_suspend(s);
	while (!atomic_load(&phase_go))
		usleep(100);
	fkv_session_resume(s);

	struct read_ctx rctx = {.sum = 0};
	struct incr_ctx ictx = {o->value_size};
	uint64_t rng = o->seed * 7919 + (uint64_t)w->id + 1;
	uint64_t ops = 0, fails = 0;
	uint64_t i = 0;
	int upsert_cut = o->mix_read + o->mix_upsert;
	uint8_t keys[64][64];
	uint32_t ksz = o->key_size <= 64 ? o->key_size : 64;
	int batch = o->batch;
	while (!atomic_load_explicit(&phase_stop, memory_order_relaxed)) {
		for (int k = 0; k < 256; k += batch) {
			/* With --batch > 1 the batch's keys are prefetched in
			 * two stages first, as the server does for a pipeline. */
			if (batch > 1) {
				for (int j = 0; j < batch; j++) {
					make_key(keys[j], ksz,
						 w->seq[(i + (uint64_t)j) &
							(SEQ_LEN - 1)]);
					fkv_prefetch(s, keys[j], ksz, 0);
				}
				for (int j = 0; j < batch; j++)
					fkv_prefetch(s, keys[j], ksz, 1);
			}
			for (int j = 0; j < batch; j++) {
				uint64_t id = w->seq[i++ & (SEQ_LEN - 1)];
				make_key(key, o->key_size, id);
				int dice = (int)(splitmix(&rng) % 100);
				int rc;
				if (dice < o->mix_read) {
					rc = fkv_read(s, key, o->key_size,
						      read_cb, &rctx);
				} else if (dice < upsert_cut) {
					rc = fkv_upsert(s, key, o->key_size,
							value, o->value_size,
							0);
				} else {
					rc = fkv_rmw(s, key, o->key_size,
						     &incr_ops, &ictx);
				}
				fails += rc != FKV_OK;
			}
		}
		ops += 256;
	}
	w->ops = ops;
	w->failures = fails + (rctx.sum == UINT64_MAX);
	fkv_session_stop(s);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: engine-bench [--keys N] [--seconds S] [--threads T]\n"
		"  [--dist uniform|zipf] [--zipf-theta X] [--mix R:U:M]\n"
		"  [--key-size B] [--value-size B] [--index-buckets N]\n"
		"  [--log-memory BYTES] [--page-bits B] [--no-huge-pages]\n"
		"  [--seed N] [--batch 1|2|4|...|64] [--quick]\n"
		"  [--device file|uring|null [--dir DIR]]  (with --log-memory "
		"below the data set:\n   larger than memory; operations wait "
		"for their disk reads)\n");
	exit(2);
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		usage();
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		break;
	case '\0':
		break;
	default:
		usage();
	}
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.keys = 10000000,
			   .seconds = 10,
			   .threads = 1,
			   .theta = 0.99,
			   .mix_read = 50,
			   .mix_upsert = 50,
			   .key_size = 8,
			   .value_size = 8,
			   .page_bits = 25,
			   .huge_pages = true,
			   .seed = 1,
			   .batch = 1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--quick") == 0) {
			o->keys = 1000000;
			o->seconds = 2;
			continue;
		}
		if (strcmp(a, "--no-huge-pages") == 0) {
			o->huge_pages = false;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--keys") == 0)
			o->keys = parse_u64(v);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = atof(v);
		else if (strcmp(a, "--threads") == 0)
			o->threads = atoi(v);
		else if (strcmp(a, "--dist") == 0) {
			if (strcmp(v, "zipf") == 0)
				o->zipf = true;
			else if (strcmp(v, "uniform") != 0)
				usage();
		} else if (strcmp(a, "--zipf-theta") == 0)
			o->theta = atof(v);
		else if (strcmp(a, "--mix") == 0) {
			if (sscanf(v, "%d:%d:%d", &o->mix_read, &o->mix_upsert,
				   &o->mix_rmw) != 3 ||
			    o->mix_read < 0 || o->mix_upsert < 0 ||
			    o->mix_rmw < 0 ||
			    o->mix_read + o->mix_upsert + o->mix_rmw != 100)
				usage();
		} else if (strcmp(a, "--key-size") == 0)
			o->key_size = (uint32_t)parse_u64(v);
		else if (strcmp(a, "--value-size") == 0)
			o->value_size = (uint32_t)parse_u64(v);
		else if (strcmp(a, "--index-buckets") == 0)
			o->index_buckets = parse_u64(v);
		else if (strcmp(a, "--log-memory") == 0)
			o->log_memory = parse_u64(v);
		else if (strcmp(a, "--page-bits") == 0)
			o->page_bits = (uint32_t)parse_u64(v);
		else if (strcmp(a, "--batch") == 0)
			o->batch = atoi(v);
		else if (strcmp(a, "--device") == 0)
			o->device = v;
		else if (strcmp(a, "--dir") == 0)
			o->dir = v;
		else if (strcmp(a, "--seed") == 0)
			o->seed = parse_u64(v);
		else
			usage();
	}
	if (o->keys == 0 || o->threads < 1 || o->threads > 1024 ||
	    o->seconds <= 0 || o->batch < 1 || o->batch > 64 ||
	    256 % o->batch != 0 || o->key_size == 0 || o->key_size > 1024 ||
	    o->value_size > 65536 ||
	    (o->zipf && (o->theta <= 0 || o->theta >= 1)))
		usage();
}

int main(int argc, char **argv)
{
	struct opts o;
	parse_args(argc, argv, &o);

	fkv_config cfg;
	fkv_config_default(&cfg);
	cfg.huge_pages = o.huge_pages;
	cfg.page_size_bits = o.page_bits;
	cfg.index_buckets =
		o.index_buckets != 0
			? next_pow2(o.index_buckets)
			: next_pow2(o.keys / 4 < 1024 ? 1024 : o.keys / 4);
	uint64_t rec =
		24 + ((o.key_size + 7) & ~7u) + ((o.value_size + 7) & ~7u);
	uint64_t need = o.keys * rec * 2;
	if (need < (UINT64_C(64) << 20))
		need = UINT64_C(64) << 20;
	cfg.log_memory_size =
		o.log_memory != 0 ? o.log_memory : next_pow2(need);
	if (cfg.log_memory_size < (UINT64_C(2) << o.page_bits))
		cfg.log_memory_size = UINT64_C(2) << o.page_bits;
	if (o.device != NULL) {
		/* Pages leave memory one by one: keep at least 8. */
		while (cfg.page_size_bits > 12 &&
		       (cfg.log_memory_size >> cfg.page_size_bits) < 8)
			cfg.page_size_bits--;
		int drc = dev_open(o.device, o.dir != NULL ? o.dir : ".",
				   "engine-bench-hlog", UINT64_C(1) << 30,
				   &cfg.device);
		if (drc != 0) {
			fprintf(stderr, "engine-bench: device %s: %s\n",
				o.device, dev_strerror(drc));
			return 1;
		}
	}

	fkv_store *store;
	int rc = fkv_store_open(&cfg, &store);
	if (rc != FKV_OK) {
		fprintf(stderr, "engine-bench: store: %s\n", fkv_strerror(rc));
		return 1;
	}

	/* Pre-generate each thread's key sequence. */
	struct zipf z = {0};
	if (o.zipf)
		zipf_init(&z, o.keys, o.theta);
	struct worker *w = calloc((size_t)o.threads, sizeof(*w));
	if (w == NULL)
		return 1;
	for (int t = 0; t < o.threads; t++) {
		w[t].seq = malloc(SEQ_LEN * sizeof(uint64_t));
		if (w[t].seq == NULL) {
			fprintf(stderr, "engine-bench: out of memory\n");
			return 1;
		}
		uint64_t rng = o.seed * 31 + (uint64_t)t * 1000003 + 17;
		for (uint64_t i = 0; i < SEQ_LEN; i++) {
			uint64_t id;
			if (o.zipf)
				id = (zipf_next(&z, &rng) *
				      UINT64_C(0x9e3779b97f4a7c15)) %
				     o.keys;
			else
				id = splitmix(&rng) % o.keys;
			w[t].seq[i] = id;
		}
	}

	double t0 = now_s();
	for (int t = 0; t < o.threads; t++) {
		w[t].id = t;
		w[t].o = &o;
		w[t].store = store;
		pthread_create(&w[t].tid, NULL, worker_main, &w[t]);
	}
	while (atomic_load(&ready) < o.threads)
		usleep(1000);
	double load_s = now_s() - t0;
	fkv_stats st;
	fkv_store_stats(store, &st);
	double bytes_per_key =
		(double)((st.index_buckets + st.index_overflow_buckets) * 64 +
			 st.log_bytes) /
		(double)o.keys;

	double start = now_s();
	atomic_store(&phase_go, 1);
	usleep((useconds_t)(o.seconds * 1e6));
	atomic_store(&phase_stop, 1);
	uint64_t ops = 0, fails = 0;
	for (int t = 0; t < o.threads; t++) {
		pthread_join(w[t].tid, NULL);
		if (w[t].rc != FKV_OK) {
			fprintf(stderr, "engine-bench: thread %d: %s\n", t,
				fkv_strerror(w[t].rc));
			return 1;
		}
		ops += w[t].ops;
		fails += w[t].failures;
	}
	double elapsed = now_s() - start;
	fkv_store_stats(store, &st);
	char mix[32];
	snprintf(mix, sizeof(mix), "%d:%d:%d", o.mix_read, o.mix_upsert,
		 o.mix_rmw);
	fprintf(stderr,
		"# load %.2fs; index %llu buckets + %llu overflow; log %llu "
		"bytes; in-place upserts %llu of %llu, rmws %llu of %llu; "
		"failed ops %llu\n",
		load_s, (unsigned long long)st.index_buckets,
		(unsigned long long)st.index_overflow_buckets,
		(unsigned long long)st.log_bytes,
		(unsigned long long)st.upserts_in_place,
		(unsigned long long)st.upserts,
		(unsigned long long)st.rmws_in_place,
		(unsigned long long)st.rmws, (unsigned long long)fails);
	fkv_store_stats(store, &st);
	printf("engine-bench mix=%s dist=%s threads=%d keys=%llu "
	       "ops_per_sec=%.0f bytes_per_key=%.1f",
	       mix, o.zipf ? "zipf" : "uniform", o.threads,
	       (unsigned long long)o.keys, (double)ops / elapsed,
	       bytes_per_key);
	if (o.device != NULL)
		printf(" device=%s log_memory=%llu data_to_memory=%.1f "
		       "disk_reads=%llu read_cache_hits=%llu",
		       o.device, (unsigned long long)cfg.log_memory_size,
		       (double)st.log_bytes / (double)cfg.log_memory_size,
		       (unsigned long long)st.disk_reads,
		       (unsigned long long)st.read_cache_hits);
	printf("\n");
	for (int t = 0; t < o.threads; t++)
		free(w[t].seq);
	free(w);
	fkv_store_close(store);
	return fails != 0;
}
