/*
 * test_ev.c - the epoll event loop: file events, timers, wake-ups.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "ev.h"

struct pipe_ctx {
	int reads;
	char got[16];
};

static void on_read(ev_loop *l, int fd, void *data, int mask)
{
	struct pipe_ctx *c = data;
	cr_assert_eq(mask, EV_READABLE);
	ssize_t n = read(fd, c->got, sizeof(c->got));
	cr_assert_gt(n, 0);
	c->reads++;
	ev_stop(l);
}

Test(ev, readable_fd_calls_its_handler)
{
	ev_loop *l = ev_create(1024);
	cr_assert_not_null(l);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct pipe_ctx c = {0};
	cr_assert_eq(ev_add(l, p[0], EV_READABLE, on_read, &c), 0);
	cr_assert_eq(ev_mask(l, p[0]), EV_READABLE);
	cr_assert_eq(write(p[1], "hi", 2), 2);
	ev_run(l);
	cr_assert_eq(c.reads, 1);
	cr_assert_eq(memcmp(c.got, "hi", 2), 0);
	ev_del(l, p[0], EV_READABLE);
	cr_assert_eq(ev_mask(l, p[0]), 0);
	close(p[0]);
	close(p[1]);
	ev_destroy(l);
}

Test(ev, fd_beyond_setsize_is_refused)
{
	ev_loop *l = ev_create(4);
	cr_assert_lt(ev_add(l, 10, EV_READABLE, on_read, NULL), 0);
	ev_destroy(l);
}

struct timer_ctx {
	int fired;
	int64_t first_ms, last_ms;
};

static int64_t on_timer(ev_loop *l, int64_t id, void *data)
{
	(void)id;
	struct timer_ctx *c = data;
	int64_t now = ev_now_ms();
	if (c->fired++ == 0)
		c->first_ms = now;
	c->last_ms = now;
	if (c->fired == 3) {
		ev_stop(l);
		return -1;
	}
	return 10;
}

Test(ev, periodic_timer_fires_until_it_stops_itself)
{
	ev_loop *l = ev_create(64);
	struct timer_ctx c = {0};
	int64_t start = ev_now_ms();
	cr_assert_gt(ev_timer_add(l, 5, on_timer, &c), 0);
	ev_run(l);
	cr_assert_eq(c.fired, 3);
	cr_assert_geq(c.first_ms - start, 5);
	cr_assert_geq(c.last_ms - c.first_ms, 20);
	ev_destroy(l);
}

static int64_t never(ev_loop *l, int64_t id, void *data)
{
	(void)l;
	(void)id;
	*(int *)data = 1;
	return -1;
}

static int64_t stopper(ev_loop *l, int64_t id, void *data)
{
	(void)id;
	(void)data;
	ev_stop(l);
	return -1;
}

Test(ev, deleted_timer_never_fires)
{
	ev_loop *l = ev_create(64);
	int hit = 0;
	int64_t id = ev_timer_add(l, 1, never, &hit);
	ev_timer_del(l, id);
	ev_timer_add(l, 20, stopper, NULL);
	ev_run(l);
	cr_assert_eq(hit, 0);
	ev_destroy(l);
}

struct wake_ctx {
	ev_loop *loop;
	_Atomic int woken;
};

static void on_wake(ev_loop *l, void *data)
{
	struct wake_ctx *c = data;
	atomic_fetch_add(&c->woken, 1);
	ev_stop(l);
}

static void *waker(void *arg)
{
	struct wake_ctx *c = arg;
	usleep(20000);
	ev_wake(c->loop);
	return NULL;
}

Test(ev, wake_from_another_thread_interrupts_the_wait)
{
	ev_loop *l = ev_create(64);
	struct wake_ctx c = {.loop = l};
	ev_set_wake_fn(l, on_wake, &c);
	pthread_t t;
	pthread_create(&t, NULL, waker, &c);
	ev_run(l); /* no timers, no fds: only the wake-up ends it */
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&c.woken), 1);
	ev_destroy(l);
}

struct hook_ctx {
	int before, after;
};

static void before(ev_loop *l, void *data)
{
	(void)l;
	((struct hook_ctx *)data)->before++;
}

static void after(ev_loop *l, void *data)
{
	(void)l;
	((struct hook_ctx *)data)->after++;
}

Test(ev, hooks_run_around_each_wait)
{
	ev_loop *l = ev_create(64);
	struct hook_ctx h = {0};
	ev_set_hooks(l, before, after, &h);
	ev_timer_add(l, 5, stopper, NULL);
	ev_run(l);
	cr_assert_geq(h.before, 1);
	cr_assert_eq(h.before, h.after);
	ev_destroy(l);
}
