/*
 * epoch.c - epoch protection: see epoch.h for the contract.
 */
#include "epoch.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "fkv.h"

int fkv__epoch_init(struct fkv__epoch *e, uint32_t capacity)
{
	memset(e, 0, sizeof(*e));
	e->entries = aligned_alloc(64, sizeof(*e->entries) * capacity);
	if (e->entries == NULL)
		return FKV_OUT_OF_MEMORY;
	memset(e->entries, 0, sizeof(*e->entries) * capacity);
	e->capacity = capacity;
	atomic_init(&e->current, 1);
	atomic_init(&e->safe, 0);
	atomic_init(&e->drain_count, 0);
	atomic_init(&e->high_water, 0);
	atomic_init(&e->overflow_count, 0);
	for (int i = 0; i < FKV__DRAIN_SLOTS; i++)
		atomic_init(&e->slots[i].epoch, FKV__DRAIN_FREE);
	pthread_mutex_init(&e->overflow_lock, NULL);
	return FKV_OK;
}

/* Claims a slot whose action is registered at an epoch <= safe, and frees
 * it: *action and *ctx are then the caller's to run.  Returns false when
 * the slot is free, being filled or taken, or not yet safe. */
static bool take_slot(struct fkv__epoch *e, struct fkv__drain_slot *s,
		      uint64_t safe, fkv__epoch_action *action, void **ctx)
{
	uint64_t ep = atomic_load_explicit(&s->epoch, memory_order_acquire);
	if (ep == FKV__DRAIN_FREE || ep == FKV__DRAIN_BUSY || ep > safe)
		return false;
	if (!atomic_compare_exchange_strong_explicit(
		    &s->epoch, &ep, FKV__DRAIN_BUSY, memory_order_acq_rel,
		    memory_order_relaxed))
		return false;
	*action = s->action;
	*ctx = s->ctx;
	atomic_store_explicit(&s->epoch, FKV__DRAIN_FREE, memory_order_release);
	atomic_fetch_sub_explicit(&e->drain_count, 1, memory_order_acq_rel);
	return true;
}

void fkv__epoch_destroy(struct fkv__epoch *e)
{
	/* No thread is protected any more, so everything registered is safe.
	 * Each slot is claimed before its action runs (an action may drain
	 * or register another one), and passes repeat until none is left. */
	for (bool ran = true; ran;) {
		ran = false;
		for (int i = 0; i < FKV__DRAIN_SLOTS; i++) {
			fkv__epoch_action action;
			void *ctx;
			if (!take_slot(e, &e->slots[i], UINT64_MAX - 2, &action,
				       &ctx))
				continue;
			action(ctx);
			ran = true;
		}
		pthread_mutex_lock(&e->overflow_lock);
		struct fkv__overflow_action *o = e->overflow;
		e->overflow = NULL;
		pthread_mutex_unlock(&e->overflow_lock);
		while (o != NULL) {
			struct fkv__overflow_action *next = o->next;
			atomic_fetch_sub_explicit(&e->overflow_count, 1,
						  memory_order_relaxed);
			atomic_fetch_sub_explicit(&e->drain_count, 1,
						  memory_order_relaxed);
			o->action(o->ctx);
			free(o);
			o = next;
			ran = true;
		}
	}
	pthread_mutex_destroy(&e->overflow_lock);
	free(e->entries);
	e->entries = NULL;
}

int fkv__epoch_acquire(struct fkv__epoch *e)
{
	for (uint32_t i = 0; i < e->capacity; i++) {
		uint32_t expect = 0;
		if (atomic_compare_exchange_strong_explicit(
			    &e->entries[i].in_use, &expect, 1,
			    memory_order_acq_rel, memory_order_relaxed)) {
			uint32_t hw = atomic_load_explicit(
				&e->high_water, memory_order_relaxed);
			while (hw < i + 1 &&
			       !atomic_compare_exchange_weak_explicit(
				       &e->high_water, &hw, i + 1,
				       memory_order_acq_rel,
				       memory_order_relaxed))
				;
			return (int)i;
		}
	}
	return -1;
}

void fkv__epoch_release(struct fkv__epoch *e, int slot)
{
	atomic_store_explicit(&e->entries[slot].local, 0, memory_order_release);
	atomic_store_explicit(&e->entries[slot].in_use, 0,
			      memory_order_release);
}

uint64_t fkv__epoch_compute_safe(struct fkv__epoch *e)
{
	/* Pairs with the fence in protect: see epoch.h. */
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t oldest =
		atomic_load_explicit(&e->current, memory_order_acquire);
	uint32_t hw =
		atomic_load_explicit(&e->high_water, memory_order_acquire);
	for (uint32_t i = 0; i < hw; i++) {
		uint64_t l = atomic_load_explicit(&e->entries[i].local,
						  memory_order_acquire);
		if (l != 0 && l < oldest)
			oldest = l;
	}
	uint64_t safe = oldest - 1;
	uint64_t prev = atomic_load_explicit(&e->safe, memory_order_relaxed);
	while (prev < safe &&
	       !atomic_compare_exchange_weak_explicit(&e->safe, &prev, safe,
						      memory_order_acq_rel,
						      memory_order_relaxed))
		;
	return safe;
}

static int drain_overflow(struct fkv__epoch *e, uint64_t safe)
{
	int ran = 0;
	for (;;) {
		struct fkv__overflow_action *take = NULL;
		pthread_mutex_lock(&e->overflow_lock);
		for (struct fkv__overflow_action **p = &e->overflow; *p;
		     p = &(*p)->next) {
			if ((*p)->epoch <= safe) {
				take = *p;
				*p = take->next;
				atomic_fetch_sub_explicit(&e->overflow_count, 1,
							  memory_order_relaxed);
				break;
			}
		}
		pthread_mutex_unlock(&e->overflow_lock);
		if (take == NULL)
			return ran;
		atomic_fetch_sub_explicit(&e->drain_count, 1,
					  memory_order_acq_rel);
		take->action(take->ctx);
		free(take);
		ran++;
	}
}

int fkv__epoch_drain(struct fkv__epoch *e)
{
	if (atomic_load_explicit(&e->drain_count, memory_order_acquire) == 0)
		return 0;
	uint64_t safe = fkv__epoch_compute_safe(e);
	int ran = 0;
	for (int i = 0; i < FKV__DRAIN_SLOTS; i++) {
		fkv__epoch_action action;
		void *ctx;
		if (!take_slot(e, &e->slots[i], safe, &action, &ctx))
			continue;
		action(ctx);
		ran++;
	}
	/* The overflow list is only looked at when it may hold something. */
	if (atomic_load_explicit(&e->drain_count, memory_order_acquire) > 0 &&
	    atomic_load_explicit(&e->overflow_count, memory_order_acquire) > 0)
		ran += drain_overflow(e, safe);
	return ran;
}

static bool try_slots(struct fkv__epoch *e, uint64_t epoch,
		      fkv__epoch_action action, void *ctx)
{
	for (int i = 0; i < FKV__DRAIN_SLOTS; i++) {
		struct fkv__drain_slot *s = &e->slots[i];
		uint64_t expect = FKV__DRAIN_FREE;
		if (atomic_load_explicit(&s->epoch, memory_order_relaxed) !=
			    FKV__DRAIN_FREE ||
		    !atomic_compare_exchange_strong_explicit(
			    &s->epoch, &expect, FKV__DRAIN_BUSY,
			    memory_order_acq_rel, memory_order_relaxed))
			continue;
		s->action = action;
		s->ctx = ctx;
		atomic_store_explicit(&s->epoch, epoch, memory_order_release);
		return true;
	}
	return false;
}

static void register_action(struct fkv__epoch *e, uint64_t epoch,
			    fkv__epoch_action action, void *ctx)
{
	atomic_fetch_add_explicit(&e->drain_count, 1, memory_order_acq_rel);
	if (try_slots(e, epoch, action, ctx))
		return;
	/* Every slot taken: never sleep, park the action in the overflow list.
	 * Only if even that allocation fails, wait for a slot to free up. */
	struct fkv__overflow_action *o = malloc(sizeof(*o));
	while (o == NULL) {
		fkv__epoch_drain(e);
		if (try_slots(e, epoch, action, ctx))
			return;
		sched_yield();
		o = malloc(sizeof(*o));
	}
	o->epoch = epoch;
	o->action = action;
	o->ctx = ctx;
	pthread_mutex_lock(&e->overflow_lock);
	o->next = e->overflow;
	e->overflow = o;
	atomic_fetch_add_explicit(&e->overflow_count, 1, memory_order_release);
	pthread_mutex_unlock(&e->overflow_lock);
}

uint64_t fkv__epoch_bump(struct fkv__epoch *e, fkv__epoch_action action,
			 void *ctx)
{
	uint64_t prior =
		atomic_fetch_add_explicit(&e->current, 1, memory_order_seq_cst);
	if (action != NULL) {
		register_action(e, prior, action, ctx);
		fkv__epoch_drain(e);
	}
	return prior + 1;
}

uint64_t fkv__epoch_protect(struct fkv__epoch *e, int slot)
{
	struct fkv__epoch_entry *en = &e->entries[slot];
	uint64_t cur = atomic_load_explicit(&e->current, memory_order_acquire);
	if (atomic_load_explicit(&en->local, memory_order_relaxed) != cur) {
		atomic_store_explicit(&en->local, cur, memory_order_release);
		/* Pairs with the fence in compute_safe: see epoch.h. */
		atomic_thread_fence(memory_order_seq_cst);
	}
	fkv__epoch_drain(e);
	return cur;
}

void fkv__epoch_unprotect(struct fkv__epoch *e, int slot)
{
	atomic_store_explicit(&e->entries[slot].local, 0, memory_order_release);
}
