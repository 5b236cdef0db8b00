/*
 * ckpt_files.c - naming, listing, removing checkpoint folders and their
 * metadata file: see ckpt_files.h.
 */
#include "ckpt_files.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "fkv.h"

#define PREFIX "ckpt-"
#define META_FIELDS 15 /* u64 fields before the session points */

void fkv__ckpt_folder(const char *dir, uint64_t version, char *out, size_t len)
{
	snprintf(out, len, "%s/" PREFIX "%020llu", dir,
		 (unsigned long long)version);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int fkv__ckpt_list(const char *dir, uint64_t **versions, size_t *n)
{
	*versions = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return FKV_OK;
	size_t cap = 0;
	struct dirent *e;
	int rc = FKV_OK;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		if (strncmp(name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		const char *digits = name + strlen(PREFIX);
		if (strlen(digits) != 20 || strspn(digits, "0123456789") != 20)
			continue; /* "*.invalid" and strangers */
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *v = realloc(*versions, cap * sizeof(*v));
			if (v == NULL) {
				rc = FKV_OUT_OF_MEMORY;
				break;
			}
			*versions = v;
		}
		(*versions)[(*n)++] = strtoull(digits, NULL, 10);
	}
	closedir(d);
	if (rc != FKV_OK) {
		free(*versions);
		*versions = NULL;
		*n = 0;
		return rc;
	}
	qsort(*versions, *n, sizeof(**versions), cmp_u64);
	return FKV_OK;
}

void fkv__ckpt_remove(const char *folder)
{
	char path[PATH_MAX + 300];
	snprintf(path, sizeof(path), "%s/%s", folder, FKV__CKPT_META_FILE);
	if (unlink(path) == 0)
		(void)fkv__fsync_dir(folder);
	DIR *d = opendir(folder);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", folder, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(folder);
}

int fkv__ckpt_write_meta(const char *folder, const struct fkv__ckpt_meta *m)
{
	size_t len = 8 * (META_FIELDS + 2 * m->npoints);
	uint8_t *p = malloc(len);
	if (p == NULL)
		return FKV_OUT_OF_MEMORY;
	const uint64_t f[META_FIELDS] = {
		m->version,	 m->page_bits,	   m->segment_size,
		m->begin,	 m->start,	   m->in_progress_start,
		m->final,	 m->index_buckets, m->index_len,
		m->index_crc,	 m->created_ms,	   m->snapshot,
		m->snapshot_len, m->snapshot_crc,  m->npoints,
	};
	for (int i = 0; i < META_FIELDS; i++)
		fkv__put64(p + 8 * i, f[i]);
	for (uint64_t i = 0; i < 2 * m->npoints; i++)
		fkv__put64(p + 8 * (META_FIELDS + i), m->points[i]);
	int rc = fkv__durable_write(folder, FKV__CKPT_META_FILE,
				    FKV__CKPT_META_MAGIC, FKV__CKPT_FORMAT, p,
				    len);
	free(p);
	return rc;
}

int fkv__ckpt_read_meta(const char *folder, struct fkv__ckpt_meta *m, char *why,
			size_t why_len)
{
	memset(m, 0, sizeof(*m));
	char path[PATH_MAX + 300];
	snprintf(path, sizeof(path), "%s/%s", folder, FKV__CKPT_META_FILE);
	void *buf;
	size_t len;
	int rc = fkv__durable_read(path, FKV__CKPT_META_MAGIC, FKV__CKPT_FORMAT,
				   &buf, &len, why, why_len);
	if (rc == FKV_IO_ERROR)
		snprintf(why, why_len, "cannot read %s: %s", path,
			 strerror(errno));
	if (rc != FKV_OK)
		return rc;
	const uint8_t *p = buf;
	uint64_t npoints = len >= 8 * META_FIELDS
				   ? fkv__get64(p + 8 * (META_FIELDS - 1))
				   : 0;
	if (len < 8 * META_FIELDS || npoints > (len / 16) ||
	    len != 8 * (META_FIELDS + 2 * npoints)) {
		free(buf);
		snprintf(why, why_len, "metadata of %zu bytes does not parse",
			 len);
		return FKV_CORRUPTION;
	}
	uint64_t *f[META_FIELDS] = {
		&m->version,	  &m->page_bits,     &m->segment_size,
		&m->begin,	  &m->start,	     &m->in_progress_start,
		&m->final,	  &m->index_buckets, &m->index_len,
		&m->index_crc,	  &m->created_ms,    &m->snapshot,
		&m->snapshot_len, &m->snapshot_crc,  &m->npoints,
	};
	for (int i = 0; i < META_FIELDS; i++)
		*f[i] = fkv__get64(p + 8 * i);
	m->points = malloc((2 * npoints + 1) * sizeof(uint64_t));
	if (m->points == NULL) {
		free(buf);
		return FKV_OUT_OF_MEMORY;
	}
	for (uint64_t i = 0; i < 2 * npoints; i++)
		m->points[i] = fkv__get64(p + 8 * (META_FIELDS + i));
	free(buf);
	return FKV_OK;
}
