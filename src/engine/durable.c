/*
 * durable.c - checksummed files written atomically: see durable.h.
 */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fkv.h"

/* ---- CRC32C ------------------------------------------------------------ */

#define CRC32C_POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t crc_table[256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[i] = c;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw_update(uint32_t c, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = (uint32_t)__builtin_ia32_crc32di(c, v);
		p += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t fkv__crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
	const uint8_t *b = p;
	uint32_t c = ~crc;
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_hw_update(c, b, n);
#endif
	while (n-- > 0)
		c = crc_table[(c ^ *b++) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- The header -------------------------------------------------------- */

/* Writes all of buf; returns 0 or -1 (errno set). */
static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int fkv__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static void make_header(uint8_t *h, uint32_t magic, uint32_t version,
			uint64_t len, uint32_t crc)
{
	memset(h, 0, FKV__DURABLE_HEADER);
	fkv__put32(h, magic);
	fkv__put32(h + 4, version);
	fkv__put64(h + 8, len);
	fkv__put32(h + 16, crc);
	fkv__put32(h + 24, fkv__crc32c(0, h, 24));
}

int fkv__durable_open(struct fkv__durable_out *o, const char *dir,
		      const char *name, uint32_t magic, uint32_t version)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (snprintf(o->path, sizeof(o->path), "%s/%s", dir, name) >=
		    (int)sizeof(o->path) ||
	    snprintf(o->tmp, sizeof(o->tmp), "%s/%s.tmp", dir, name) >=
		    (int)sizeof(o->tmp) ||
	    snprintf(o->dir, sizeof(o->dir), "%s", dir) >=
		    (int)sizeof(o->dir)) {
		errno = ENAMETOOLONG;
		return FKV_IO_ERROR;
	}
	o->magic = magic;
	o->version = version;
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return FKV_IO_ERROR;
	/* A placeholder header (checksums wrong until commit rewrites it). */
	uint8_t h[FKV__DURABLE_HEADER] = {0};
	if (write_all(o->fd, h, sizeof(h)) != 0) {
		fkv__durable_abort(o);
		return FKV_IO_ERROR;
	}
	return FKV_OK;
}

int fkv__durable_append(struct fkv__durable_out *o, const void *p, size_t n)
{
	if (o->fd < 0)
		return FKV_IO_ERROR;
	if (write_all(o->fd, p, n) != 0) {
		fkv__durable_abort(o);
		return FKV_IO_ERROR;
	}
	o->crc = fkv__crc32c(o->crc, p, n);
	o->len += n;
	return FKV_OK;
}

void fkv__durable_abort(struct fkv__durable_out *o)
{
	if (o->fd < 0)
		return;
	int saved = errno;
	close(o->fd);
	unlink(o->tmp);
	o->fd = -1;
	errno = saved;
}

int fkv__durable_commit(struct fkv__durable_out *o)
{
	if (o->fd < 0)
		return FKV_IO_ERROR;
	uint8_t h[FKV__DURABLE_HEADER];
	make_header(h, o->magic, o->version, o->len, o->crc);
	ssize_t w;
	do
		w = pwrite(o->fd, h, sizeof(h), 0);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(h) || fsync(o->fd) != 0) {
		if (w >= 0 && w != (ssize_t)sizeof(h))
			errno = EIO;
		fkv__durable_abort(o);
		return FKV_IO_ERROR;
	}
	int fd = o->fd;
	o->fd = -1;
	if (close(fd) != 0 || rename(o->tmp, o->path) != 0) {
		int saved = errno;
		unlink(o->tmp);
		errno = saved;
		return FKV_IO_ERROR;
	}
	return fkv__fsync_dir(o->dir) == 0 ? FKV_OK : FKV_IO_ERROR;
}

int fkv__durable_write(const char *dir, const char *name, uint32_t magic,
		       uint32_t version, const void *payload, size_t len)
{
	struct fkv__durable_out o;
	int rc = fkv__durable_open(&o, dir, name, magic, version);
	if (rc == FKV_OK)
		rc = fkv__durable_append(&o, payload, len);
	if (rc == FKV_OK)
		rc = fkv__durable_commit(&o);
	return rc;
}

/* ---- Reading ----------------------------------------------------------- */

static int corrupt(char *why, size_t n, const char *fmt, unsigned long long a,
		   unsigned long long b)
{
	if (why != NULL && n > 0)
		snprintf(why, n, fmt, a, b);
	return FKV_CORRUPTION;
}

/* Reads exactly n bytes, or fewer at the end of the file.  Returns the
 * count, or -1 (errno set). */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int fkv__durable_read(const char *path, uint32_t magic, uint32_t version,
		      void **payload, size_t *len, char *why, size_t why_len)
{
	*payload = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return FKV_IO_ERROR;
	struct stat st;
	uint8_t h[FKV__DURABLE_HEADER];
	int rc = FKV_IO_ERROR;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) != 0)
		goto out;
	ssize_t got = read_full(fd, h, sizeof(h));
	if (got < 0)
		goto out;
	if ((size_t)got < sizeof(h)) {
		rc = corrupt(why, why_len,
			     "short file: %llu bytes, header %llu",
			     (unsigned long long)got, FKV__DURABLE_HEADER);
		goto out;
	}
	if (fkv__get32(h) != magic) {
		rc = corrupt(why, why_len, "bad magic %#llx, expected %#llx",
			     fkv__get32(h), magic);
		goto out;
	}
	if (fkv__get32(h + 24) != fkv__crc32c(0, h, 24)) {
		rc = corrupt(why, why_len,
			     "header checksum mismatch (%#llx, computed %#llx)",
			     fkv__get32(h + 24), fkv__crc32c(0, h, 24));
		goto out;
	}
	if (fkv__get32(h + 4) != version) {
		rc = corrupt(why, why_len,
			     "format version %llu, this build reads %llu",
			     fkv__get32(h + 4), version);
		goto out;
	}
	uint64_t n = fkv__get64(h + 8);
	uint64_t have = (uint64_t)st.st_size - FKV__DURABLE_HEADER;
	if (n != have) {
		rc = corrupt(why, why_len,
			     "length mismatch: header says %llu payload bytes, "
			     "file has %llu",
			     n, have);
		goto out;
	}
	if (n > 0) {
		buf = malloc(n);
		if (buf == NULL) {
			rc = FKV_OUT_OF_MEMORY;
			goto out;
		}
		got = read_full(fd, buf, n);
		if (got < 0)
			goto out;
		if ((uint64_t)got != n) {
			rc = corrupt(why, why_len,
				     "truncated while reading: %llu of %llu "
				     "bytes",
				     (unsigned long long)got, n);
			goto out;
		}
	}
	if (fkv__get32(h + 16) != fkv__crc32c(0, buf, n)) {
		rc = corrupt(why, why_len,
			     "payload checksum mismatch (%#llx, computed "
			     "%#llx)",
			     fkv__get32(h + 16), fkv__crc32c(0, buf, n));
		goto out;
	}
	*payload = buf;
	*len = n;
	buf = NULL;
	rc = FKV_OK;
out:
	if (rc == FKV_IO_ERROR) {
		int saved = errno;
		close(fd);
		errno = saved;
	} else {
		close(fd);
	}
	free(buf);
	return rc;
}
