/*
 * ev.c - epoll event loop: see ev.h.
 */
#include "ev.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct ev_file {
	int mask;
	ev_file_fn rfn, wfn;
	void *rdata, *wdata;
};

struct ev_timer {
	int64_t id;
	int64_t when; /* ms, monotonic */
	ev_timer_fn fn;
	void *data;
	uint64_t turn; /* the last turn it ran in */
};

struct ev_loop {
	int epfd;
	int wakefd;
	int setsize;
	struct ev_file *files;
	struct epoll_event *fired;
	struct ev_timer *timers;
	int ntimers, timers_cap;
	int64_t next_timer_id;
	uint64_t turn;
	ev_hook_fn before_sleep, after_wake, wake_fn;
	void *hook_data, *wake_data;
	_Atomic bool stop;
};

int64_t ev_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ev_loop *ev_create(int setsize)
{
	ev_loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->setsize = setsize;
	l->files = calloc((size_t)setsize, sizeof(*l->files));
	l->fired = calloc((size_t)setsize, sizeof(*l->fired));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->files == NULL || l->fired == NULL || l->epfd < 0 ||
	    l->wakefd < 0)
		goto fail;
	struct epoll_event ee = {.events = EPOLLIN, .data.fd = -1};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ee) != 0)
		goto fail;
	atomic_init(&l->stop, false);
	return l;
fail:
	ev_destroy(l);
	return NULL;
}

void ev_destroy(ev_loop *l)
{
	if (l == NULL)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l->files);
	free(l->fired);
	free(l->timers);
	free(l);
}

static int apply(ev_loop *l, int fd, int old, int mask)
{
	struct epoll_event ee = {.events = 0, .data.fd = fd};
	if (mask & EV_READABLE)
		ee.events |= EPOLLIN;
	if (mask & EV_WRITABLE)
		ee.events |= EPOLLOUT;
	if (mask & EV_EXCLUSIVE)
		ee.events |= EPOLLEXCLUSIVE;
	int op = old == 0 ? EPOLL_CTL_ADD
			  : (mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
	return epoll_ctl(l->epfd, op, fd, &ee) == 0 ? 0 : -errno;
}

int ev_add(ev_loop *l, int fd, int mask, ev_file_fn fn, void *data)
{
	if (fd < 0 || fd >= l->setsize)
		return -ERANGE;
	struct ev_file *f = &l->files[fd];
	if ((mask & EV_EXCLUSIVE) && f->mask != 0)
		return -EINVAL; /* epoll takes it only when the fd is added */
	int rc = apply(l, fd, f->mask, f->mask | mask);
	if (rc != 0)
		return rc;
	f->mask |= mask;
	if (mask & EV_READABLE) {
		f->rfn = fn;
		f->rdata = data;
	}
	if (mask & EV_WRITABLE) {
		f->wfn = fn;
		f->wdata = data;
	}
	return 0;
}

void ev_del(ev_loop *l, int fd, int mask)
{
	if (fd < 0 || fd >= l->setsize)
		return;
	struct ev_file *f = &l->files[fd];
	if ((f->mask & mask) == 0)
		return;
	(void)apply(l, fd, f->mask, f->mask & ~mask);
	f->mask &= ~mask;
}

int ev_mask(ev_loop *l, int fd)
{
	return (fd >= 0 && fd < l->setsize) ? l->files[fd].mask : 0;
}

int64_t ev_timer_add(ev_loop *l, int64_t ms, ev_timer_fn fn, void *data)
{
	if (l->ntimers == l->timers_cap) {
		int cap = l->timers_cap ? l->timers_cap * 2 : 8;
		struct ev_timer *t =
			realloc(l->timers, (size_t)cap * sizeof(*t));
		if (t == NULL)
			return -1;
		l->timers = t;
		l->timers_cap = cap;
	}
	int64_t id = ++l->next_timer_id;
	l->timers[l->ntimers++] = (struct ev_timer){
		.id = id, .when = ev_now_ms() + ms, .fn = fn, .data = data};
	return id;
}

void ev_timer_del(ev_loop *l, int64_t id)
{
	for (int i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			return;
		}
	}
}

void ev_set_hooks(ev_loop *l, ev_hook_fn before_sleep, ev_hook_fn after_wake,
		  void *data)
{
	l->before_sleep = before_sleep;
	l->after_wake = after_wake;
	l->hook_data = data;
}

void ev_set_wake_fn(ev_loop *l, ev_hook_fn fn, void *data)
{
	l->wake_fn = fn;
	l->wake_data = data;
}

void ev_stop(ev_loop *l)
{
	atomic_store(&l->stop, true);
	ev_wake(l);
}

void ev_wake(ev_loop *l)
{
	uint64_t one = 1;
	ssize_t n = write(l->wakefd, &one, sizeof(one));
	(void)n; /* EAGAIN: a wake-up is already pending */
}

static int find_timer(ev_loop *l, int64_t id)
{
	for (int i = 0; i < l->ntimers; i++)
		if (l->timers[i].id == id)
			return i;
	return -1;
}

/* Runs each timer that is due at most once per turn.  A callback may add
 * or delete timers, so the array is searched afresh after each one. */
static void run_timers(ev_loop *l)
{
	int64_t now = ev_now_ms();
	uint64_t turn = ++l->turn;
	for (int i = 0; i < l->ntimers;) {
		struct ev_timer *t = &l->timers[i];
		if (t->turn == turn || t->when > now) {
			i++;
			continue;
		}
		t->turn = turn;
		int64_t id = t->id;
		int64_t next = t->fn(l, id, t->data);
		int j = find_timer(l, id);
		if (j >= 0) {
			if (next < 0)
				l->timers[j] = l->timers[--l->ntimers];
			else
				l->timers[j].when = ev_now_ms() + next;
		}
		i = 0;
	}
}

static int wait_ms(ev_loop *l)
{
	if (l->ntimers == 0)
		return -1;
	int64_t soonest = l->timers[0].when;
	for (int i = 1; i < l->ntimers; i++)
		if (l->timers[i].when < soonest)
			soonest = l->timers[i].when;
	int64_t d = soonest - ev_now_ms();
	return d < 0 ? 0 : (d > 1000000 ? 1000000 : (int)d);
}

void ev_run(ev_loop *l)
{
	while (!atomic_load(&l->stop)) {
		if (l->before_sleep != NULL)
			l->before_sleep(l, l->hook_data);
		int n = epoll_wait(l->epfd, l->fired, l->setsize, wait_ms(l));
		if (l->after_wake != NULL)
			l->after_wake(l, l->hook_data);
		for (int i = 0; i < n; i++) {
			int fd = l->fired[i].data.fd;
			uint32_t ev = l->fired[i].events;
			if (fd < 0) {
				uint64_t v;
				ssize_t r = read(l->wakefd, &v, sizeof(v));
				(void)r;
				if (l->wake_fn != NULL)
					l->wake_fn(l, l->wake_data);
				continue;
			}
			struct ev_file *f = &l->files[fd];
			bool err = ev & (EPOLLERR | EPOLLHUP);
			bool did_read = false;
			if ((f->mask & EV_READABLE) && (ev & EPOLLIN || err)) {
				f->rfn(l, fd, f->rdata, EV_READABLE);
				did_read = true;
			}
			/* The read handler may have closed or changed fd. */
			if ((f->mask & EV_WRITABLE) && (ev & EPOLLOUT || err) &&
			    !(did_read && f->wfn == f->rfn &&
			      f->wdata == f->rdata && err))
				f->wfn(l, fd, f->wdata, EV_WRITABLE);
		}
		if (l->ntimers > 0)
			run_timers(l);
	}
}
