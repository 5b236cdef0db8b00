/*
 * ev.h - a small event loop over epoll, one per worker thread.
 *
 * File events: a callback per fd for readable and/or writable.  Timers:
 * one-shot or periodic callbacks in milliseconds, kept in a small array
 * (a worker has a handful).  A before-sleep hook runs each turn before the
 * loop waits, and an after-wake hook right after (the server uses them to
 * suspend and resume its engine session around epoll_wait).
 *
 * Threads: a loop is owned by the thread that runs it; only ev_stop() and
 * ev_wake() may be called from other threads.
 */
#ifndef EV_H
#define EV_H

#include <stdbool.h>
#include <stdint.h>

#define EV_READABLE 1
#define EV_WRITABLE 2
/* With EV_READABLE on a listening socket shared by several loops: wake
 * only one of them per event (EPOLLEXCLUSIVE). */
#define EV_EXCLUSIVE 4

typedef struct ev_loop ev_loop;
typedef void (*ev_file_fn)(ev_loop *loop, int fd, void *data, int mask);
/* Returns the next delay in ms, or -1 to stop the timer. */
typedef int64_t (*ev_timer_fn)(ev_loop *loop, int64_t id, void *data);
typedef void (*ev_hook_fn)(ev_loop *loop, void *data);

/* Creates a loop for fds below setsize.  Returns NULL on failure. */
ev_loop *ev_create(int setsize);
void ev_destroy(ev_loop *loop);

/* Adds mask to the events watched on fd (fd < setsize).  Returns 0 or
 * -errno. */
int ev_add(ev_loop *loop, int fd, int mask, ev_file_fn fn, void *data);
/* Removes mask from the events watched on fd. */
void ev_del(ev_loop *loop, int fd, int mask);
int ev_mask(ev_loop *loop, int fd);

/* Adds a timer firing after ms.  Returns its id (> 0) or -1. */
int64_t ev_timer_add(ev_loop *loop, int64_t ms, ev_timer_fn fn, void *data);
void ev_timer_del(ev_loop *loop, int64_t id);

void ev_set_hooks(ev_loop *loop, ev_hook_fn before_sleep, ev_hook_fn after_wake,
		  void *data);

/* Runs until ev_stop(). */
void ev_run(ev_loop *loop);
/* Any thread: makes ev_run return after its current turn. */
void ev_stop(ev_loop *loop);
/* Any thread: interrupts the wait (an eventfd the loop watches). */
void ev_wake(ev_loop *loop);
/* Registers fn to run on the loop's thread when ev_wake is called. */
void ev_set_wake_fn(ev_loop *loop, ev_hook_fn fn, void *data);

/* Milliseconds on the monotonic clock. */
int64_t ev_now_ms(void);

#endif
