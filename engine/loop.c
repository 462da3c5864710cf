/*
 * The event loop: epoll for descriptors, a binary min-heap of timers (each
 * timer knows its heap slot, so cancel is O(log n)), and an eventfd-backed
 * queue for work posted from other threads.
 *
 * Deleted fd watches are not freed at once: epoll may already have returned
 * an event for them in the current batch, so they are marked dead and freed
 * after the batch.
 */
#include "engine/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct loop_timer {
	uint64_t due;
	uint64_t seq; /* FIFO order among equal deadlines */
	size_t slot;
	loop_timer_fn fn;
	void *arg;
};

struct loop_fd {
	int fd;
	bool dead;
	loop_fd_fn fn;
	void *arg;
	struct loop_fd *next_dead;
};

struct post {
	loop_post_fn fn;
	void *arg;
	struct post *next;
};

struct loop {
	int epfd;
	int evfd;
	atomic_bool stop;
	struct loop_timer **heap;
	size_t nheap, aheap;
	uint64_t seq;
	size_t nfds;
	unsigned holds;
	struct loop_fd *dead;
	pthread_mutex_t lock; /* protects posts, tail */
	struct post *posts, *tail;
	atomic_size_t npost;
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->evfd < 0)
		goto fail;
	ev.data.ptr = NULL; /* NULL marks the eventfd */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	return l;
fail:
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->evfd >= 0)
		close(l->evfd);
	free(l);
	return NULL;
}

static void loop_reap_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_fd *w = l->dead;

		l->dead = w->next_dead;
		free(w);
	}
}

void loop_free(struct loop *l)
{
	struct post *p;
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->nheap; i++)
		free(l->heap[i]);
	free(l->heap);
	loop_reap_dead(l);
	while ((p = l->posts)) {
		l->posts = p->next;
		free(p);
	}
	pthread_mutex_destroy(&l->lock);
	close(l->epfd);
	close(l->evfd);
	free(l);
}

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->slot = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!timer_before(t, l->heap[p]))
			break;
		heap_set(l, i, l->heap[p]);
		i = p;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, size_t i)
{
	struct loop_timer *last = l->heap[--l->nheap];

	if (i == l->nheap)
		return;
	heap_set(l, i, last);
	heap_down(l, i);
	heap_up(l, last->slot);
}

struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_fn fn, void *arg)
{
	struct loop_timer *t;

	if (l->nheap == l->aheap) {
		size_t n = l->aheap ? l->aheap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, n * sizeof(*h));

		if (!h)
			return NULL;
		l->heap = h;
		l->aheap = n;
	}
	t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	t->due = ms ? loop_now_ms() + ms : 0;
	t->seq = l->seq++;
	t->fn = fn;
	t->arg = arg;
	l->heap[l->nheap] = t;
	t->slot = l->nheap++;
	heap_up(l, t->slot);
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t)
		return;
	heap_remove(l, t->slot);
	free(t);
}

struct loop_fd *loop_fd_add(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *arg)
{
	struct loop_fd *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return NULL;
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		free(w);
		errno = e;
		return NULL;
	}
	l->nfds++;
	return w;
}

int loop_fd_mod(struct loop *l, struct loop_fd *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop_fd_del(struct loop *l, struct loop_fd *w)
{
	if (!w || w->dead)
		return;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	w->next_dead = l->dead;
	l->dead = w;
	l->nfds--;
}

int loop_post(struct loop *l, loop_post_fn fn, void *arg)
{
	struct post *p = malloc(sizeof(*p));
	uint64_t one = 1;

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&l->lock);
	if (l->tail)
		l->tail->next = p;
	else
		l->posts = p;
	l->tail = p;
	atomic_fetch_add(&l->npost, 1);
	pthread_mutex_unlock(&l->lock);
	(void)!write(l->evfd, &one, sizeof(one));
	return 0;
}

void loop_stop(struct loop *l)
{
	uint64_t one = 1;

	atomic_store(&l->stop, true);
	(void)!write(l->evfd, &one, sizeof(one));
}

void loop_hold(struct loop *l)
{
	l->holds++;
}

void loop_unhold(struct loop *l)
{
	l->holds--;
}

static void loop_run_posts(struct loop *l)
{
	struct post *p;
	uint64_t v;

	(void)!read(l->evfd, &v, sizeof(v));
	pthread_mutex_lock(&l->lock);
	p = l->posts;
	l->posts = l->tail = NULL;
	pthread_mutex_unlock(&l->lock);
	while (p) {
		struct post *next = p->next;

		atomic_fetch_sub(&l->npost, 1);
		p->fn(p->arg);
		free(p);
		p = next;
	}
}

static void loop_run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();
	/* only timers due now, and none added by these callbacks with ms=0 twice */
	uint64_t limit = l->seq;

	while (l->nheap && l->heap[0]->due <= now && l->heap[0]->seq < limit &&
	       !atomic_load(&l->stop)) {
		struct loop_timer *t = l->heap[0];
		loop_timer_fn fn = t->fn;
		void *arg = t->arg;

		heap_remove(l, 0);
		free(t);
		fn(arg);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[64];

	atomic_store(&l->stop, false);
	while (!atomic_load(&l->stop)) {
		int timeout = -1, n, i;

		if (!l->nheap && !l->nfds && !l->holds && !atomic_load(&l->npost))
			break;
		if (l->nheap) {
			uint64_t now = loop_now_ms(), due = l->heap[0]->due;

			timeout = due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
		}
		n = epoll_wait(l->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n && !atomic_load(&l->stop); i++) {
			struct loop_fd *w = evs[i].data.ptr;

			if (!w)
				loop_run_posts(l);
			else if (!w->dead)
				w->fn(w->arg, w->fd, evs[i].events);
		}
		loop_reap_dead(l);
		if (!atomic_load(&l->stop))
			loop_run_timers(l);
	}
	return 0;
}
