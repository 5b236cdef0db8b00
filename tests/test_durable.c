/*
 * test_durable.c - checksummed, atomically written files (durable.h): the
 * CRC32C against known values, round trips, and every kind of damage a
 * reader must refuse with a reason (short file, bad magic, other version,
 * header or payload bit flips, truncation, appended bytes).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "fkv.h"

#define MAGIC 0x52464b56u /* "VKFR" */

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fkv-durable-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/meta", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(durable, .init = setup, .fini = teardown, .timeout = 30);

Test(durable, crc32c_known_values)
{
	/* The CRC-32C check value, and RFC 3720's 32 zero bytes. */
	cr_assert_eq(fkv__crc32c(0, "123456789", 9), 0xe3069283u);
	uint8_t zeros[32] = {0};
	cr_assert_eq(fkv__crc32c(0, zeros, sizeof(zeros)), 0x8a9136aau);
	/* Continuing in pieces gives the same result as one call. */
	const char *s = "the quick brown fox jumps over the lazy dog";
	uint32_t whole = fkv__crc32c(0, s, strlen(s));
	uint32_t part = fkv__crc32c(0, s, 13);
	part = fkv__crc32c(part, s + 13, strlen(s) - 13);
	cr_assert_eq(part, whole);
	cr_assert_eq(fkv__crc32c(0, NULL, 0), 0);
}

static void write_payload(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(fkv__durable_write(dir, "meta", MAGIC, 2, p, n), FKV_OK);
	free(p);
}

Test(durable, round_trip_and_no_temporary_left)
{
	size_t sizes[] = {0, 1, 7, 8, 4096, 100003};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		write_payload(sizes[k]);
		void *got;
		size_t len;
		char why[128] = "";
		cr_assert_eq(fkv__durable_read(path, MAGIC, 2, &got, &len, why,
					       sizeof(why)),
			     FKV_OK, "%zu bytes: %s", sizes[k], why);
		cr_assert_eq(len, sizes[k]);
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(((uint8_t *)got)[i], (uint8_t)(i * 7 + 3));
		free(got);
	}
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_neq(access(tmp, F_OK), 0, "the temporary file is gone");
}

/* Flips one bit of the file at `off`. */
static void flip(long off, int bit)
{
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, off, SEEK_SET), 0);
	int c = fgetc(f);
	cr_assert_neq(c, EOF);
	cr_assert_eq(fseek(f, off, SEEK_SET), 0);
	fputc(c ^ (1 << bit), f);
	fclose(f);
}

static void expect_corrupt(uint32_t version, const char *reason)
{
	void *got = (void *)1;
	size_t len = 99;
	char why[160] = "";
	cr_assert_eq(fkv__durable_read(path, MAGIC, version, &got, &len, why,
				       sizeof(why)),
		     FKV_CORRUPTION);
	cr_assert_null(got);
	cr_assert_eq(len, 0);
	cr_assert(strstr(why, reason) != NULL, "reason '%s', wanted '%s'", why,
		  reason);
}

Test(durable, every_payload_bit_flip_is_detected)
{
	write_payload(64);
	for (long off = FKV__DURABLE_HEADER; off < FKV__DURABLE_HEADER + 64;
	     off++) {
		flip(off, (int)(off % 8));
		expect_corrupt(2, "payload checksum");
		flip(off, (int)(off % 8)); /* and back */
	}
}

Test(durable, header_damage_is_detected)
{
	write_payload(100);
	flip(0, 0);
	expect_corrupt(2, "bad magic");
	flip(0, 0);
	for (long off = 4; off < 24; off++) {
		flip(off, 3);
		expect_corrupt(2, "header checksum");
		flip(off, 3);
	}
	flip(25, 1); /* the header checksum itself */
	expect_corrupt(2, "header checksum");
}

Test(durable, other_version_short_and_resized_files_are_refused)
{
	write_payload(100);
	expect_corrupt(3, "format version 2");
	cr_assert_eq(truncate(path, FKV__DURABLE_HEADER + 50), 0);
	expect_corrupt(2, "length mismatch");
	cr_assert_eq(truncate(path, 10), 0);
	expect_corrupt(2, "short file");
	write_payload(100);
	FILE *f = fopen(path, "ab");
	cr_assert_not_null(f);
	fputs("extra", f);
	fclose(f);
	expect_corrupt(2, "length mismatch");
}

Test(durable, missing_file_and_a_failed_write_leave_the_old_one)
{
	void *got;
	size_t len;
	cr_assert_eq(fkv__durable_read(path, MAGIC, 2, &got, &len, NULL, 0),
		     FKV_IO_ERROR);
	write_payload(10);
	/* A write into a directory that is not there fails, and the file
	 * already written stays readable. */
	cr_assert_eq(fkv__durable_write("/nonexistent-dir", "meta", MAGIC, 2,
					"x", 1),
		     FKV_IO_ERROR);
	cr_assert_eq(fkv__durable_read(path, MAGIC, 2, &got, &len, NULL, 0),
		     FKV_OK);
	cr_assert_eq(len, 10);
	free(got);
}
