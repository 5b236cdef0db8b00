/*
 * durable.h - checksummed files written atomically, for the metadata that
 * checkpoints and recovery read back (issue 5).
 *
 * A file is a 32-byte header and a payload:
 *   magic (u32), format version (u32), payload length (u64),
 *   payload CRC32C (u32), reserved (u32, 0), header CRC32C (u32) over the
 *   24 bytes before it, reserved (u32, 0); all little-endian.
 * It is written to "<name>.tmp", fsynced, renamed over "<name>", and the
 * directory is fsynced: after fkv__durable_write returns FKV_OK the file
 * survives a crash whole, and before, the old one (if any) stays whole.
 * A reader checks everything and says what is wrong.
 *
 * Threads: any; no shared state (the CRC tables are built once, safely).
 */
#ifndef FKV_DURABLE_H
#define FKV_DURABLE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define FKV__DURABLE_HEADER 32

/* Little-endian integers in files. */
static inline void fkv__put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fkv__put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t fkv__get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t fkv__get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* CRC32C (Castagnoli) of n bytes, continuing from crc (0 to start).  Uses
 * the CPU's crc32 instruction where it has one. */
uint32_t fkv__crc32c(uint32_t crc, const void *p, size_t n);

/* Writes dir/name atomically and durably (see above).  Returns FKV_OK or
 * FKV_IO_ERROR, with errno set from the failing call; on failure the
 * temporary file is removed and dir/name is as it was. */
int fkv__durable_write(const char *dir, const char *name, uint32_t magic,
		       uint32_t version, const void *payload, size_t len);

/* The same file written piece by piece (a large payload need not be in
 * memory at once).  fkv__durable_open creates "<name>.tmp"; append adds
 * payload bytes; commit writes the header, fsyncs, renames and fsyncs the
 * directory; abort removes the temporary file.  After a failed call the
 * writer is already aborted.  One thread at a time. */
struct fkv__durable_out {
	int fd;
	uint32_t magic, version, crc;
	uint64_t len;
	char path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
};

/* Each returns FKV_OK or FKV_IO_ERROR (errno set). */
int fkv__durable_open(struct fkv__durable_out *o, const char *dir,
		      const char *name, uint32_t magic, uint32_t version);
int fkv__durable_append(struct fkv__durable_out *o, const void *p, size_t n);
int fkv__durable_commit(struct fkv__durable_out *o);
void fkv__durable_abort(struct fkv__durable_out *o);

/* fsyncs a directory (after creating, renaming or removing entries).
 * Returns 0 or -1 (errno set). */
int fkv__fsync_dir(const char *dir);

/* Reads and verifies `path`.  On FKV_OK, *payload (malloc'd, the caller
 * frees it; NULL when len is 0) and *len hold the payload.  Returns
 * FKV_IO_ERROR (cannot open or read; errno set), FKV_CORRUPTION (short
 * file, bad magic, unknown version, bad header or payload checksum,
 * length mismatch) with the reason in why[why_len], or
 * FKV_OUT_OF_MEMORY. */
int fkv__durable_read(const char *path, uint32_t magic, uint32_t version,
		      void **payload, size_t *len, char *why, size_t why_len);

#endif
