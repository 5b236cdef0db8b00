/*
 * epoch.h - epoch protection (the FASTER "LightEpoch").
 *
 * A global epoch counter, a table of per-thread entries (one cache line
 * each) holding the epoch a thread is protected at (0 = not protected), and
 * a drain list of deferred actions.  fkv__epoch_bump() advances the global
 * epoch and registers an action that runs once every protected thread has
 * moved past the epoch in which the caller made its change: the action may
 * then assume no thread still sees the state from before that change.
 *
 * Memory order: a thread publishes its local epoch and then issues a
 * seq_cst fence before it reads shared state; a bumper changes shared state,
 * advances the epoch and issues a seq_cst fence before it reads the
 * entries.  So either the bumper sees the thread's entry, or the thread sees
 * the change (the store-buffering pattern, made safe by the two fences).
 *
 * Threads: an entry is owned by one thread between acquire and release; all
 * other functions are safe from any thread.  Actions run on whichever
 * thread drains them, outside any lock, and must not block.
 */
#ifndef FKV_EPOCH_H
#define FKV_EPOCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*fkv__epoch_action)(void *ctx);

struct fkv__epoch_entry {
	_Atomic uint64_t local; /* protected epoch, 0 when not protected */
	_Atomic uint32_t in_use;
	char pad[64 - sizeof(uint64_t) - sizeof(uint32_t)];
} __attribute__((aligned(64)));

#define FKV__DRAIN_SLOTS 64
#define FKV__DRAIN_FREE UINT64_MAX
#define FKV__DRAIN_BUSY (UINT64_MAX - 1)

struct fkv__drain_slot {
	_Atomic uint64_t
		epoch; /* FREE, BUSY (being filled or taken), or epoch */
	fkv__epoch_action action;
	void *ctx;
};

struct fkv__overflow_action {
	uint64_t epoch;
	fkv__epoch_action action;
	void *ctx;
	struct fkv__overflow_action *next;
};

struct fkv__epoch {
	_Atomic uint64_t current __attribute__((aligned(64)));
	_Atomic uint64_t safe; /* last computed safe-to-reclaim epoch */
	_Atomic uint32_t drain_count __attribute__((aligned(64)));
	_Atomic uint32_t high_water; /* entries [0, high_water) may be in use */
	uint32_t capacity;
	struct fkv__epoch_entry *entries;
	struct fkv__drain_slot slots[FKV__DRAIN_SLOTS];
	/* When every slot is taken, actions wait here; lock guards the list. */
	pthread_mutex_t overflow_lock;
	struct fkv__overflow_action *overflow;
	_Atomic uint32_t overflow_count; /* entries in overflow */
};

/* Initialises an epoch table for `capacity` threads.  Returns 0 or
 * FKV_OUT_OF_MEMORY. */
int fkv__epoch_init(struct fkv__epoch *e, uint32_t capacity);

/* Runs every action still registered (no thread may be protected), then
 * frees the table. */
void fkv__epoch_destroy(struct fkv__epoch *e);

/* Claims a free entry for the calling thread; returns its index, or -1 when
 * the table is full.  The entry starts unprotected. */
int fkv__epoch_acquire(struct fkv__epoch *e);
void fkv__epoch_release(struct fkv__epoch *e, int slot);

/* Protects the entry at the current epoch (also used to refresh).  Runs any
 * actions that became safe.  Returns the epoch now protected. */
uint64_t fkv__epoch_protect(struct fkv__epoch *e, int slot);
void fkv__epoch_unprotect(struct fkv__epoch *e, int slot);

static inline bool fkv__epoch_is_protected(struct fkv__epoch *e, int slot)
{
	return atomic_load_explicit(&e->entries[slot].local,
				    memory_order_relaxed) != 0;
}

/* Advances the global epoch.  With an action, registers it to run once the
 * epoch before the advance is safe.  Returns the new current epoch.  Never
 * sleeps: when the drain list is full the action waits in an overflow list. */
uint64_t fkv__epoch_bump(struct fkv__epoch *e, fkv__epoch_action action,
			 void *ctx);

/* Computes the safe epoch and runs the actions it allows.  Returns the
 * number of actions run. */
int fkv__epoch_drain(struct fkv__epoch *e);

/* The largest epoch that no protected thread can still be in. */
uint64_t fkv__epoch_compute_safe(struct fkv__epoch *e);

#endif
