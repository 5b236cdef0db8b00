/*
 * record.h - the layout of a record in the hybrid log.
 *
 *   offset 0   header (atomic u64): previous address in the hash chain
 *              (48 bits), checkpoint version (12 bits), flags (4 bits)
 *   offset 8   key length (u32), value capacity (u32, a multiple of 8)
 *   offset 16  lock word (atomic u32), value length (atomic u32)
 *   offset 24  expiry in Unix ms (i64), only when FKV__REC_EXPIRY is set
 *   then       key bytes, padded to 8; value bytes, `capacity` of them
 *
 * A record is written whole by one thread before it is published (a CAS
 * of an index entry with release order).  Afterwards the key, key length,
 * capacity and expiry flag never change.  Value bytes, value length and the
 * expiry field change only in place, only in the mutable region, and only
 * under the record's exclusive lock; readers of records that some thread
 * may still update in place (addresses >= safe read-only) hold the lock
 * shared.  Header flags change by atomic OR.
 *
 * Sealed means superseded: a newer record for the key was published while
 * this one's lock was held; writers that find a record sealed start over.
 */
#ifndef FKV_RECORD_H
#define FKV_RECORD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "address.h"

/* FKV__TSAN: 1 in ThreadSanitizer builds. */
#if defined(__SANITIZE_THREAD__)
#define FKV__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FKV__TSAN 1
#endif
#endif
#ifndef FKV__TSAN
#define FKV__TSAN 0
#endif

#define FKV__REC_VERSION_SHIFT 48
#define FKV__REC_VERSION_MASK UINT64_C(0xfff)
#define FKV__REC_INVALID (UINT64_C(1) << 60)
#define FKV__REC_TOMBSTONE (UINT64_C(1) << 61)
#define FKV__REC_SEALED (UINT64_C(1) << 62)
#define FKV__REC_EXPIRY (UINT64_C(1) << 63)

/* The lock word: a writer bit, a 15-bit version that every exclusive
 * unlock bumps (for optimistic readers), and a 16-bit reader count. */
#define FKV__LOCK_WRITER (UINT32_C(1) << 31)
#define FKV__LOCK_VERSION_SHIFT 16
#define FKV__LOCK_VERSION_MASK (UINT32_C(0x7fff) << FKV__LOCK_VERSION_SHIFT)
#define FKV__LOCK_READERS_MASK UINT32_C(0xffff)

struct fkv__record {
	_Atomic uint64_t header;
	uint32_t key_len;
	uint32_t val_cap;
	_Atomic uint32_t lock;
	_Atomic uint32_t val_len;
};

_Static_assert(sizeof(struct fkv__record) == 24, "record header is 24 bytes");

static inline uint64_t fkv__pad8(uint64_t n)
{
	return (n + 7) & ~UINT64_C(7);
}

/* Bytes a record takes in the log. */
static inline uint64_t fkv__record_size(uint32_t key_len, uint64_t val_cap,
					bool expiry)
{
	return sizeof(struct fkv__record) + (expiry ? 8 : 0) +
	       fkv__pad8(key_len) + fkv__pad8(val_cap);
}

static inline uint64_t fkv__hdr_prev(uint64_t h)
{
	return h & FKV__ADDR_MASK;
}

static inline uint64_t fkv__hdr_make(uint64_t prev, uint32_t version,
				     uint64_t flags)
{
	return (prev & FKV__ADDR_MASK) |
	       ((uint64_t)(version & FKV__REC_VERSION_MASK)
		<< FKV__REC_VERSION_SHIFT) |
	       flags;
}

static inline uint32_t fkv__hdr_version(uint64_t h)
{
	return (uint32_t)((h >> FKV__REC_VERSION_SHIFT) &
			  FKV__REC_VERSION_MASK);
}

static inline uint64_t fkv__rec_header(const struct fkv__record *r)
{
	return atomic_load_explicit(&((struct fkv__record *)r)->header,
				    memory_order_acquire);
}

static inline int64_t *fkv__rec_expiry(struct fkv__record *r)
{
	return (int64_t *)(r + 1);
}

static inline uint8_t *fkv__rec_key(struct fkv__record *r, uint64_t header)
{
	return (uint8_t *)(r + 1) + ((header & FKV__REC_EXPIRY) ? 8 : 0);
}

static inline uint8_t *fkv__rec_value(struct fkv__record *r, uint64_t header)
{
	return fkv__rec_key(r, header) + fkv__pad8(r->key_len);
}

static inline bool fkv__rec_key_eq(struct fkv__record *r, uint64_t header,
				   const void *key, uint32_t key_len)
{
	return r->key_len == key_len &&
	       memcmp(fkv__rec_key(r, header), key, key_len) == 0;
}

/* The expiry of a record, 0 for none.  Caller holds the lock, or the
 * record is immutable. */
static inline int64_t fkv__rec_expire_ms(struct fkv__record *r, uint64_t header)
{
	return (header & FKV__REC_EXPIRY) ? *fkv__rec_expiry(r) : 0;
}

static inline void fkv__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Reader lock: readers back off while a writer holds or waits. */
static inline void fkv__rec_lock_shared(struct fkv__record *r)
{
	for (;;) {
		uint32_t v = atomic_fetch_add_explicit(&r->lock, 1,
						       memory_order_acquire);
		if (!(v & FKV__LOCK_WRITER))
			return;
		atomic_fetch_sub_explicit(&r->lock, 1, memory_order_relaxed);
		while (atomic_load_explicit(&r->lock, memory_order_relaxed) &
		       FKV__LOCK_WRITER)
			fkv__cpu_relax();
	}
}

static inline void fkv__rec_unlock_shared(struct fkv__record *r)
{
	atomic_fetch_sub_explicit(&r->lock, 1, memory_order_release);
}

/* Writer lock: claim the writer bit, then wait for readers to leave. */
static inline void fkv__rec_lock_excl(struct fkv__record *r)
{
	for (;;) {
		uint32_t v = atomic_fetch_or_explicit(
			&r->lock, FKV__LOCK_WRITER, memory_order_acquire);
		if (!(v & FKV__LOCK_WRITER))
			break;
		while (atomic_load_explicit(&r->lock, memory_order_relaxed) &
		       FKV__LOCK_WRITER)
			fkv__cpu_relax();
	}
	while (atomic_load_explicit(&r->lock, memory_order_acquire) &
	       FKV__LOCK_READERS_MASK)
		fkv__cpu_relax();
}

/* Drops the writer bit and bumps the version, so that an optimistic reader
 * that overlapped the writer sees the change. */
static inline void fkv__rec_unlock_excl(struct fkv__record *r)
{
	uint32_t v = atomic_load_explicit(&r->lock, memory_order_relaxed);
	uint32_t n;
	do {
		uint32_t ver = (v + (UINT32_C(1) << FKV__LOCK_VERSION_SHIFT)) &
			       FKV__LOCK_VERSION_MASK;
		n = ver | (v & FKV__LOCK_READERS_MASK);
	} while (!atomic_compare_exchange_weak_explicit(
		&r->lock, &v, n, memory_order_release, memory_order_relaxed));
}

/* Optimistic reads (a seqlock): take a snapshot of the lock word, copy,
 * then check that no writer held or released the lock meanwhile.  Returns
 * false when a writer holds it now. */
static inline bool fkv__rec_read_begin(struct fkv__record *r, uint32_t *snap)
{
	*snap = atomic_load_explicit(&r->lock, memory_order_acquire);
	return !(*snap & FKV__LOCK_WRITER);
}

static inline bool fkv__rec_read_validate(struct fkv__record *r, uint32_t snap)
{
#if FKV__TSAN
	/* ThreadSanitizer builds never read optimistically (internal.h);
	 * GCC's TSan does not accept a stand-alone acquire fence. */
	uint32_t now = atomic_load_explicit(&r->lock, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_acquire);
	uint32_t now = atomic_load_explicit(&r->lock, memory_order_relaxed);
#endif
	return ((now ^ snap) & (FKV__LOCK_WRITER | FKV__LOCK_VERSION_MASK)) ==
	       0;
}

/* Fills a freshly allocated record (not yet visible to any other thread),
 * written by a session in checkpoint version `version` (its low 12 bits
 * are kept).  The value is left for the caller to write. */
static inline void fkv__rec_init_version(struct fkv__record *r, uint64_t prev,
					 uint64_t version, uint64_t flags,
					 const void *key, uint32_t key_len,
					 uint32_t val_cap, uint32_t val_len,
					 int64_t expire_ms)
{
	if (expire_ms != 0)
		flags |= FKV__REC_EXPIRY;
	atomic_store_explicit(&r->header,
			      fkv__hdr_make(prev, (uint32_t)version, flags),
			      memory_order_relaxed);
	r->key_len = key_len;
	r->val_cap = val_cap;
	atomic_store_explicit(&r->lock, 0, memory_order_relaxed);
	atomic_store_explicit(&r->val_len, val_len, memory_order_relaxed);
	if (flags & FKV__REC_EXPIRY)
		*fkv__rec_expiry(r) = expire_ms;
	memcpy(fkv__rec_key(r, flags), key, key_len);
}

/* fkv__rec_init_version in version 0 (tests). */
static inline void fkv__rec_init(struct fkv__record *r, uint64_t prev,
				 uint64_t flags, const void *key,
				 uint32_t key_len, uint32_t val_cap,
				 uint32_t val_len, int64_t expire_ms)
{
	fkv__rec_init_version(r, prev, 0, flags, key, key_len, val_cap, val_len,
			      expire_ms);
}

#endif
