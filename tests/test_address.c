/*
 * test_address.c - logical addresses: page/offset packing and the reserved
 * addresses at the start of the log.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "address.h"

static const unsigned page_bits_cases[] = {12, 16, 22, 25, 30};

Test(address, make_page_offset_round_trip)
{
	for (size_t i = 0;
	     i < sizeof(page_bits_cases) / sizeof(page_bits_cases[0]); i++) {
		unsigned bits = page_bits_cases[i];
		uint64_t page_size = UINT64_C(1) << bits;
		uint64_t max_page =
			(UINT64_C(1) << (FKV__ADDR_BITS - bits)) - 1;
		uint64_t pages[] = {
			0, 1, 2, 12345 & max_page, max_page - 1, max_page};
		uint64_t offsets[] = {0,
				      1,
				      8,
				      64,
				      page_size / 2,
				      page_size - 8,
				      page_size - 1};
		for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
			for (size_t o = 0;
			     o < sizeof(offsets) / sizeof(offsets[0]); o++) {
				uint64_t a = fkv__addr_make(pages[p],
							    offsets[o], bits);
				cr_assert_eq(fkv__addr_page(a, bits), pages[p],
					     "bits %u page %lu offset %lu",
					     bits, (unsigned long)pages[p],
					     (unsigned long)offsets[o]);
				cr_assert_eq(fkv__addr_offset(a, bits),
					     offsets[o], "bits %u offset %lu",
					     bits, (unsigned long)offsets[o]);
				cr_assert_eq(fkv__addr_page_start(a, bits),
					     fkv__addr_make(pages[p], 0, bits));
				cr_assert_eq(a & ~FKV__ADDR_MASK, 0);
				cr_assert_eq(a,
					     pages[p] * page_size + offsets[o]);
			}
		}
	}
}

Test(address, consecutive_addresses_cross_pages)
{
	unsigned bits = 12;
	uint64_t last = fkv__addr_make(6, 4095, bits);
	uint64_t next = last + 1;
	cr_assert_eq(fkv__addr_page(last, bits), 6);
	cr_assert_eq(fkv__addr_page(next, bits), 7);
	cr_assert_eq(fkv__addr_offset(next, bits), 0);
	cr_assert_eq(fkv__addr_page_start(next, bits), next);
	cr_assert_eq(fkv__addr_page_start(last, bits),
		     fkv__addr_make(6, 0, bits));
}

Test(address, masked_to_48_bits)
{
	cr_assert_eq(FKV__ADDR_BITS, 48);
	cr_assert_eq(FKV__ADDR_MASK, UINT64_C(0xffffffffffff));
	for (size_t i = 0;
	     i < sizeof(page_bits_cases) / sizeof(page_bits_cases[0]); i++) {
		unsigned bits = page_bits_cases[i];
		uint64_t first_bad_page = UINT64_C(1)
					  << (FKV__ADDR_BITS - bits);
		/* A page number past the 48-bit space wraps, it does not leak
		 * into the bits above (used for tags and flags). */
		cr_assert_eq(fkv__addr_make(first_bad_page, 0, bits), 0);
		cr_assert_eq(fkv__addr_make(first_bad_page + 3, 40, bits),
			     fkv__addr_make(3, 40, bits));
		uint64_t top = fkv__addr_make(first_bad_page - 1,
					      (UINT64_C(1) << bits) - 1, bits);
		cr_assert_eq(top, FKV__ADDR_MASK);
	}
}

Test(address, reserved_addresses)
{
	/* INVALID is non-zero (zero means "empty" in index entries and
	 * record headers) and sits below the first record. */
	cr_assert_neq(FKV__ADDR_INVALID, 0);
	cr_assert_eq(FKV__ADDR_INVALID, 1);
	cr_assert_lt(FKV__ADDR_INVALID, FKV__LOG_START);
	cr_assert_eq(FKV__ADDR_INVALID & ~FKV__ADDR_MASK, 0);
	/* LOG_START keeps records 8-byte aligned and inside page 0 of even
	 * the smallest page size. */
	cr_assert_eq(FKV__LOG_START % 8, 0);
	cr_assert_gt(FKV__LOG_START, 0);
	for (size_t i = 0;
	     i < sizeof(page_bits_cases) / sizeof(page_bits_cases[0]); i++) {
		unsigned bits = page_bits_cases[i];
		cr_assert_eq(fkv__addr_page(FKV__LOG_START, bits), 0);
		cr_assert_eq(fkv__addr_offset(FKV__LOG_START, bits),
			     FKV__LOG_START);
		cr_assert_eq(fkv__addr_page(FKV__ADDR_INVALID, bits), 0);
		cr_assert_eq(fkv__addr_page_start(FKV__LOG_START, bits), 0);
	}
}
