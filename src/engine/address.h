/*
 * address.h - logical addresses into the hybrid log.
 *
 * An address is a 48-bit byte offset into the log's address space: page
 * number in the high bits, offset within the page in the low page_bits
 * bits.  Address 0 is never a record and FKV__ADDR_INVALID (1) marks "no
 * previous record"; the first FKV__LOG_START bytes of the log are reserved
 * so that no record ever sits at those addresses.
 */
#ifndef FKV_ADDRESS_H
#define FKV_ADDRESS_H

#include <stdint.h>

#define FKV__ADDR_BITS 48
#define FKV__ADDR_MASK ((UINT64_C(1) << FKV__ADDR_BITS) - 1)
#define FKV__ADDR_INVALID UINT64_C(1)
#define FKV__LOG_START UINT64_C(64)

static inline uint64_t fkv__addr_make(uint64_t page, uint64_t offset,
				      unsigned page_bits)
{
	return ((page << page_bits) | offset) & FKV__ADDR_MASK;
}

static inline uint64_t fkv__addr_page(uint64_t addr, unsigned page_bits)
{
	return addr >> page_bits;
}

static inline uint64_t fkv__addr_offset(uint64_t addr, unsigned page_bits)
{
	return addr & ((UINT64_C(1) << page_bits) - 1);
}

/* The first address of the page holding addr. */
static inline uint64_t fkv__addr_page_start(uint64_t addr, unsigned page_bits)
{
	return addr & ~((UINT64_C(1) << page_bits) - 1);
}

#endif
