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

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

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

static int fsync_dir(const char *dir)
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

int fkv__durable_write(const char *dir, const char *name, uint32_t magic,
		       uint32_t version, const void *payload, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		    (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >=
		    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return FKV_IO_ERROR;
	}
	uint8_t h[FKV__DURABLE_HEADER] = {0};
	put32(h, magic);
	put32(h + 4, version);
	put64(h + 8, len);
	put32(h + 16, fkv__crc32c(0, payload, len));
	put32(h + 24, fkv__crc32c(0, h, 24));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return FKV_IO_ERROR;
	if (write_all(fd, h, sizeof(h)) != 0 ||
	    write_all(fd, payload, len) != 0 || fsync(fd) != 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return FKV_IO_ERROR;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		return FKV_IO_ERROR;
	}
	return fsync_dir(dir) == 0 ? FKV_OK : FKV_IO_ERROR;
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
	if (get32(h) != magic) {
		rc = corrupt(why, why_len, "bad magic %#llx, expected %#llx",
			     get32(h), magic);
		goto out;
	}
	if (get32(h + 24) != fkv__crc32c(0, h, 24)) {
		rc = corrupt(why, why_len,
			     "header checksum mismatch (%#llx, computed %#llx)",
			     get32(h + 24), fkv__crc32c(0, h, 24));
		goto out;
	}
	if (get32(h + 4) != version) {
		rc = corrupt(why, why_len,
			     "format version %llu, this build reads %llu",
			     get32(h + 4), version);
		goto out;
	}
	uint64_t n = get64(h + 8);
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
	if (get32(h + 16) != fkv__crc32c(0, buf, n)) {
		rc = corrupt(why, why_len,
			     "payload checksum mismatch (%#llx, computed "
			     "%#llx)",
			     get32(h + 16), fkv__crc32c(0, buf, n));
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
