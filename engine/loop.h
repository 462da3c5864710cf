/*
 * struct loop: a single-threaded epoll event loop with timers, descriptor
 * watches and a thread-safe post queue. The engine runs every execution on
 * one loop, so thousands of executions can wait (Wait states, Retry delays,
 * running tasks) without a thread each.
 *
 * Thread-safety: everything except loop_post() and loop_stop() must be called
 * on the loop's own thread (the one inside loop_run()), or before it runs.
 */
#ifndef STEPFS_LOOP_H
#define STEPFS_LOOP_H

#include <stdint.h>

struct loop;
struct loop_timer;
struct loop_fd;

typedef void (*loop_timer_fn)(void *arg);
/* @events is the epoll event mask that fired (EPOLLIN, EPOLLOUT, EPOLLHUP ...). */
typedef void (*loop_fd_fn)(void *arg, int fd, uint32_t events);
typedef void (*loop_post_fn)(void *arg);

/* New loop; NULL on out-of-memory or if epoll/eventfd cannot be created (errno set). */
struct loop *loop_new(void);
/* Free the loop; pending timers and watches are dropped without callbacks. NULL is a no-op. */
void loop_free(struct loop *l);

/* Monotonic clock in milliseconds. */
uint64_t loop_now_ms(void);

/*
 * Run callbacks until loop_stop() is called or nothing is left to wait for
 * (no timers, no fd watches, no posted work, and no holds). Returns 0.
 */
int loop_run(struct loop *l);
/* Make loop_run() return after the current callback. Thread-safe. */
void loop_stop(struct loop *l);

/*
 * Keep loop_run() alive while there is nothing to wait for (e.g. a daemon that
 * expects posted work). Each hold is released by loop_unhold().
 */
void loop_hold(struct loop *l);
void loop_unhold(struct loop *l);

/*
 * Call @fn(@arg) after @ms milliseconds (0: on the next iteration, after
 * pending I/O). Returns a handle valid until the callback starts or
 * loop_timer_cancel() is called; NULL on out-of-memory.
 */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_fn fn, void *arg);
/* Cancel a pending timer; NULL is a no-op. Must not be called after it fired. */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/*
 * Watch @fd (not owned; the caller closes it after loop_fd_del()) for
 * @events (EPOLLIN | EPOLLOUT ...). Returns a handle, or NULL with errno set.
 */
struct loop_fd *loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *arg);
int loop_fd_mod(struct loop *l, struct loop_fd *w, uint32_t events);
/* Stop watching and free the handle; safe inside its own callback. NULL is a no-op. */
void loop_fd_del(struct loop *l, struct loop_fd *w);

/*
 * Run @fn(@arg) on the loop thread soon. Thread-safe; the only way for other
 * threads (FUSE workers, the watcher) to hand work to the loop.
 * Returns 0 or -ENOMEM.
 */
int loop_post(struct loop *l, loop_post_fn fn, void *arg);

#endif
