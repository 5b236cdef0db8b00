/*
 * test_epoch.c - epoch protection: the entry table, the safe epoch and the
 * deferred actions (drain slots, the overflow list, destroy).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "epoch.h"
#include "fkv.h"
#include "record.h" /* fkv__cpu_relax */

/* An action that counts its runs in the _Atomic int its ctx points to. */
static void count_action(void *ctx)
{
	atomic_fetch_add_explicit((_Atomic int *)ctx, 1, memory_order_relaxed);
}

Test(epoch, init_acquire_release)
{
	struct fkv__epoch e;
	cr_assert_eq(fkv__epoch_init(&e, 4), FKV_OK);
	cr_assert_eq(atomic_load(&e.current), 1);
	int seen[4] = {0};
	for (int i = 0; i < 4; i++) {
		int s = fkv__epoch_acquire(&e);
		cr_assert(s >= 0 && s < 4, "slot %d", s);
		cr_assert_eq(seen[s], 0, "slot %d handed out twice", s);
		seen[s] = 1;
		cr_assert_not(fkv__epoch_is_protected(&e, s));
	}
	cr_assert_eq(fkv__epoch_acquire(&e), -1, "a full table gives -1");
	cr_assert_eq(fkv__epoch_acquire(&e), -1);
	cr_assert_eq(atomic_load(&e.high_water), 4);

	fkv__epoch_release(&e, 2);
	cr_assert_eq(fkv__epoch_acquire(&e), 2, "a released slot is reused");
	cr_assert_eq(fkv__epoch_acquire(&e), -1);
	fkv__epoch_destroy(&e);
}

Test(epoch, release_clears_protection)
{
	struct fkv__epoch e;
	cr_assert_eq(fkv__epoch_init(&e, 2), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	fkv__epoch_protect(&e, a);
	cr_assert(fkv__epoch_is_protected(&e, a));
	fkv__epoch_release(&e, a);
	int b = fkv__epoch_acquire(&e);
	cr_assert_eq(b, a);
	cr_assert_not(fkv__epoch_is_protected(&e, b),
		      "a reacquired entry starts unprotected");
	fkv__epoch_destroy(&e);
}

Test(epoch, protect_unprotect)
{
	struct fkv__epoch e;
	cr_assert_eq(fkv__epoch_init(&e, 2), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	cr_assert_not(fkv__epoch_is_protected(&e, a));
	cr_assert_eq(fkv__epoch_protect(&e, a), 1);
	cr_assert(fkv__epoch_is_protected(&e, a));
	cr_assert_eq(atomic_load(&e.entries[a].local), 1);

	cr_assert_eq(fkv__epoch_bump(&e, NULL, NULL), 2);
	cr_assert_eq(atomic_load(&e.entries[a].local), 1,
		     "a bump does not move a protected thread");
	cr_assert_eq(fkv__epoch_protect(&e, a), 2, "refresh moves it");
	cr_assert_eq(atomic_load(&e.entries[a].local), 2);
	cr_assert_eq(fkv__epoch_protect(&e, a), 2, "refresh is idempotent");

	fkv__epoch_unprotect(&e, a);
	cr_assert_not(fkv__epoch_is_protected(&e, a));
	cr_assert_eq(atomic_load(&e.entries[a].local), 0);
	fkv__epoch_destroy(&e);
}

Test(epoch, compute_safe)
{
	struct fkv__epoch e;
	cr_assert_eq(fkv__epoch_init(&e, 4), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	int b = fkv__epoch_acquire(&e);

	/* Nobody protected: everything before the current epoch is safe. */
	cr_assert_eq(fkv__epoch_compute_safe(&e), 0);
	fkv__epoch_bump(&e, NULL, NULL);
	fkv__epoch_bump(&e, NULL, NULL);
	cr_assert_eq(atomic_load(&e.current), 3);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 2);
	cr_assert_eq(atomic_load(&e.safe), 2);

	/* The oldest protected thread holds it back. */
	cr_assert_eq(fkv__epoch_protect(&e, a), 3);
	fkv__epoch_bump(&e, NULL, NULL);
	fkv__epoch_bump(&e, NULL, NULL);
	cr_assert_eq(fkv__epoch_protect(&e, b), 5);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 2, "min(3, 5) - 1");
	fkv__epoch_protect(&e, a);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 4, "both at 5");
	fkv__epoch_bump(&e, NULL, NULL);
	fkv__epoch_protect(&e, b);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 4, "a at 5, b at 6");
	fkv__epoch_unprotect(&e, a);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 5, "only b, at 6");
	fkv__epoch_unprotect(&e, b);
	fkv__epoch_bump(&e, NULL, NULL);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 6, "nobody: current - 1");
	cr_assert_eq(atomic_load(&e.safe), 6);

	/* A released entry no longer counts, even if it was protected. */
	fkv__epoch_protect(&e, a);
	fkv__epoch_bump(&e, NULL, NULL);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 6);
	fkv__epoch_release(&e, a);
	cr_assert_eq(fkv__epoch_compute_safe(&e), 7);
	fkv__epoch_destroy(&e);
}

Test(epoch, action_waits_for_every_protected_thread)
{
	struct fkv__epoch e;
	_Atomic int runs = 0;
	cr_assert_eq(fkv__epoch_init(&e, 4), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	int b = fkv__epoch_acquire(&e);
	fkv__epoch_protect(&e, a);
	fkv__epoch_protect(&e, b);

	/* b changes something and bumps; a (and b itself) may still see the
	 * old state. */
	cr_assert_eq(fkv__epoch_bump(&e, count_action, (void *)&runs), 2);
	cr_assert_eq(atomic_load(&runs), 0);
	cr_assert_eq(atomic_load(&e.drain_count), 1);
	cr_assert_eq(fkv__epoch_drain(&e), 0);
	cr_assert_eq(atomic_load(&runs), 0);

	fkv__epoch_protect(&e, b); /* b moves on, a has not */
	cr_assert_eq(fkv__epoch_drain(&e), 0);
	cr_assert_eq(atomic_load(&runs), 0, "ran while a was behind");

	fkv__epoch_protect(&e, a); /* a moves on: its refresh drains */
	cr_assert_eq(atomic_load(&runs), 1);
	cr_assert_eq(atomic_load(&e.drain_count), 0);

	fkv__epoch_protect(&e, a);
	fkv__epoch_protect(&e, b);
	cr_assert_eq(fkv__epoch_drain(&e), 0);
	cr_assert_eq(atomic_load(&runs), 1, "an action runs only once");
	fkv__epoch_destroy(&e);
	cr_assert_eq(atomic_load(&runs), 1);
}

Test(epoch, unprotect_releases_actions)
{
	struct fkv__epoch e;
	_Atomic int runs = 0;
	cr_assert_eq(fkv__epoch_init(&e, 2), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	fkv__epoch_protect(&e, a);
	fkv__epoch_bump(&e, count_action, (void *)&runs);
	cr_assert_eq(atomic_load(&runs), 0);
	fkv__epoch_unprotect(&e, a);
	cr_assert_eq(fkv__epoch_drain(&e), 1);
	cr_assert_eq(atomic_load(&runs), 1);
	fkv__epoch_destroy(&e);
	cr_assert_eq(atomic_load(&runs), 1);
}

Test(epoch, bump_without_protected_threads_runs_at_once)
{
	struct fkv__epoch e;
	_Atomic int runs = 0;
	cr_assert_eq(fkv__epoch_init(&e, 2), FKV_OK);
	fkv__epoch_bump(&e, count_action, (void *)&runs);
	cr_assert_eq(atomic_load(&runs), 1);
	cr_assert_eq(atomic_load(&e.drain_count), 0);
	fkv__epoch_destroy(&e);
	cr_assert_eq(atomic_load(&runs), 1);
}

#define MANY_ACTIONS (3 * FKV__DRAIN_SLOTS + 7)

Test(epoch, overflow_actions_run_exactly_once)
{
	struct fkv__epoch e;
	static _Atomic int runs[MANY_ACTIONS];
	cr_assert_eq(fkv__epoch_init(&e, 2), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	fkv__epoch_protect(&e, a);
	for (int i = 0; i < MANY_ACTIONS; i++)
		fkv__epoch_bump(&e, count_action, (void *)&runs[i]);
	for (int i = 0; i < MANY_ACTIONS; i++)
		cr_assert_eq(atomic_load(&runs[i]), 0, "action %d ran early",
			     i);
	cr_assert_eq(atomic_load(&e.drain_count), MANY_ACTIONS);
	cr_assert_eq(atomic_load(&e.overflow_count),
		     MANY_ACTIONS - FKV__DRAIN_SLOTS);

	fkv__epoch_protect(&e, a);
	for (int i = 0; i < MANY_ACTIONS; i++)
		cr_assert_eq(atomic_load(&runs[i]), 1, "action %d ran %d times",
			     i, atomic_load(&runs[i]));
	cr_assert_eq(atomic_load(&e.drain_count), 0);
	cr_assert_eq(atomic_load(&e.overflow_count), 0);

	/* The slots are usable again. */
	_Atomic int again = 0;
	fkv__epoch_bump(&e, count_action, (void *)&again);
	fkv__epoch_protect(&e, a);
	cr_assert_eq(atomic_load(&again), 1);
	fkv__epoch_unprotect(&e, a);
	fkv__epoch_destroy(&e);
	for (int i = 0; i < MANY_ACTIONS; i++)
		cr_assert_eq(atomic_load(&runs[i]), 1);
	cr_assert_eq(atomic_load(&again), 1);
}

Test(epoch, partially_safe_overflow)
{
	/* Actions of different epochs in slots and overflow: a drain runs
	 * exactly those that are safe. */
	struct fkv__epoch e;
	static _Atomic int runs[MANY_ACTIONS];
	cr_assert_eq(fkv__epoch_init(&e, 3), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	int b = fkv__epoch_acquire(&e);
	fkv__epoch_protect(&e, a);
	fkv__epoch_protect(&e, b);
	int half = MANY_ACTIONS / 2;
	for (int i = 0; i < half; i++)
		fkv__epoch_bump(&e, count_action, (void *)&runs[i]);
	fkv__epoch_protect(&e, b); /* b past the first half */
	for (int i = half; i < MANY_ACTIONS; i++)
		fkv__epoch_bump(&e, count_action, (void *)&runs[i]);
	/* a still at 1 holds everything. */
	cr_assert_eq(fkv__epoch_drain(&e), 0);
	fkv__epoch_unprotect(&e, a);
	/* Now b (past the first half only) is the oldest. */
	cr_assert_eq(fkv__epoch_drain(&e), half);
	for (int i = 0; i < MANY_ACTIONS; i++)
		cr_assert_eq(atomic_load(&runs[i]), i < half ? 1 : 0,
			     "action %d", i);
	fkv__epoch_protect(&e, b);
	for (int i = 0; i < MANY_ACTIONS; i++)
		cr_assert_eq(atomic_load(&runs[i]), 1, "action %d", i);
	cr_assert_eq(atomic_load(&e.drain_count), 0);
	fkv__epoch_unprotect(&e, b);
	fkv__epoch_destroy(&e);
}

Test(epoch, destroy_runs_leftovers_once)
{
	struct fkv__epoch e;
	static _Atomic int first[MANY_ACTIONS];
	static _Atomic int second[MANY_ACTIONS];
	cr_assert_eq(fkv__epoch_init(&e, 2), FKV_OK);
	int a = fkv__epoch_acquire(&e);
	fkv__epoch_protect(&e, a);
	for (int i = 0; i < MANY_ACTIONS; i++)
		fkv__epoch_bump(&e, count_action, (void *)&first[i]);
	fkv__epoch_protect(&e, a); /* runs the first batch */
	for (int i = 0; i < MANY_ACTIONS; i++)
		fkv__epoch_bump(&e, count_action, (void *)&second[i]);
	for (int i = 0; i < MANY_ACTIONS; i++) {
		cr_assert_eq(atomic_load(&first[i]), 1);
		cr_assert_eq(atomic_load(&second[i]), 0);
	}
	/* No drain after unprotect: destroy must run the second batch
	 * (slots and overflow list alike) and free the overflow nodes. */
	fkv__epoch_unprotect(&e, a);
	fkv__epoch_destroy(&e);
	for (int i = 0; i < MANY_ACTIONS; i++) {
		cr_assert_eq(atomic_load(&first[i]), 1, "first %d", i);
		cr_assert_eq(atomic_load(&second[i]), 1, "second %d", i);
	}
}

/*
 * Many threads.  The bumper publishes a new object, retires the old one and
 * bumps with an action that poisons it.  Refreshers read the current object
 * while protected and check that it is never poisoned under them; every
 * action must run exactly once.
 */
#define MT_REFRESHERS 4
#define MT_BUMPS 2000
#define OBJ_ALIVE 0x600dUL
#define OBJ_DEAD 0xdeadUL

struct mt_obj {
	_Atomic unsigned long magic;
	_Atomic int runs;
	_Atomic int seen; /* a refresher has picked it up */
};

struct mt_ctx {
	struct fkv__epoch e;
	struct mt_obj *objs; /* MT_BUMPS + 1 */
	struct mt_obj *_Atomic current;
	_Atomic int stop;
	_Atomic long violations;
	_Atomic long reads;
	_Atomic int no_slot;
	_Atomic int running; /* refreshers that have started */
};

static void retire_action(void *ctx)
{
	struct mt_obj *o = ctx;
	atomic_store_explicit(&o->magic, OBJ_DEAD, memory_order_relaxed);
	atomic_fetch_add_explicit(&o->runs, 1, memory_order_relaxed);
}

static void *mt_refresher(void *arg)
{
	struct mt_ctx *c = arg;
	int slot = fkv__epoch_acquire(&c->e);
	if (slot < 0) {
		atomic_store(&c->no_slot, 1);
		return NULL;
	}
	long reads = 0;
	atomic_fetch_add(&c->running, 1);
	for (unsigned long n = 0; !atomic_load(&c->stop); n++) {
		fkv__epoch_protect(&c->e, slot);
		struct mt_obj *o =
			atomic_load_explicit(&c->current, memory_order_acquire);
		atomic_store_explicit(&o->seen, 1, memory_order_relaxed);
		/* Hold the object a while, as a reader of it would. */
		for (int k = 0; k < 64; k++) {
			if (atomic_load_explicit(&o->magic,
						 memory_order_relaxed) !=
			    OBJ_ALIVE)
				atomic_fetch_add(&c->violations, 1);
			reads++;
			fkv__cpu_relax();
		}
		if (n % 16 == 15) {
			fkv__epoch_unprotect(&c->e, slot);
			sched_yield();
		}
	}
	fkv__epoch_unprotect(&c->e, slot);
	fkv__epoch_release(&c->e, slot);
	atomic_fetch_add(&c->reads, reads);
	return NULL;
}

static void *mt_bumper(void *arg)
{
	struct mt_ctx *c = arg;
	int slot = fkv__epoch_acquire(&c->e);
	if (slot < 0) {
		atomic_store(&c->no_slot, 1);
		return NULL;
	}
	/* Start once every refresher is in its loop. */
	while (atomic_load(&c->running) < MT_REFRESHERS &&
	       !atomic_load(&c->no_slot))
		sched_yield();
	fkv__epoch_protect(&c->e, slot);
	for (int i = 0; i < MT_BUMPS; i++) {
		struct mt_obj *old = atomic_exchange_explicit(
			&c->current, &c->objs[i + 1], memory_order_seq_cst);
		fkv__epoch_bump(&c->e, retire_action, old);
		if (i % 4 == 0)
			fkv__epoch_protect(&c->e, slot);
		/* Retire objects that readers hold: wait until one has picked
		 * up the new object before it is retired in turn. */
		for (int spin = 0;
		     !atomic_load_explicit(&c->objs[i + 1].seen,
					   memory_order_relaxed) &&
		     spin < 1000;
		     spin++)
			sched_yield();
	}
	fkv__epoch_unprotect(&c->e, slot);
	fkv__epoch_release(&c->e, slot);
	return NULL;
}

Test(epoch, many_threads_actions_run_once_and_safely)
{
	struct mt_ctx *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->objs = calloc(MT_BUMPS + 1, sizeof(*c->objs));
	cr_assert_not_null(c->objs);
	for (int i = 0; i <= MT_BUMPS; i++)
		atomic_init(&c->objs[i].magic, OBJ_ALIVE);
	atomic_init(&c->current, &c->objs[0]);
	cr_assert_eq(fkv__epoch_init(&c->e, MT_REFRESHERS + 1), FKV_OK);

	pthread_t th[MT_REFRESHERS], bumper;
	for (int i = 0; i < MT_REFRESHERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, mt_refresher, c), 0);
	cr_assert_eq(pthread_create(&bumper, NULL, mt_bumper, c), 0);
	pthread_join(bumper, NULL);
	atomic_store(&c->stop, 1);
	for (int i = 0; i < MT_REFRESHERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&c->no_slot), 0);

	/* Everyone is unprotected: a drain runs all that is left. */
	fkv__epoch_drain(&c->e);
	cr_assert_eq(atomic_load(&c->e.drain_count), 0);
	fkv__epoch_destroy(&c->e);

	cr_assert_gt(atomic_load(&c->reads), 0);
	cr_assert_eq(atomic_load(&c->violations), 0,
		     "%ld reads saw a retired object",
		     (long)atomic_load(&c->violations));
	for (int i = 0; i < MT_BUMPS; i++)
		cr_assert_eq(atomic_load(&c->objs[i].runs), 1,
			     "action %d ran %d times", i,
			     atomic_load(&c->objs[i].runs));
	cr_assert_eq(atomic_load(&c->objs[MT_BUMPS].runs), 0);
	free(c->objs);
	free(c);
}
