/* Unit tests for engine/loop.c: timer order, cancel, fd watches, posts from threads. */
#include "engine/loop.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tests/harness.h"

static int order[16], norder;
static void rec(void *arg) { order[norder++] = (int)(intptr_t)arg; }

static struct loop *gl;
static int posted;
static void on_post(void *arg) { posted += (int)(intptr_t)arg; if (posted == 2000) loop_stop(gl); }
static void *poster(void *arg)
{
	for (int i = 0; i < 100; i++)
		loop_post(gl, on_post, (void *)(intptr_t)10);
	return NULL;
}

static int got_fd;
static void on_fd(void *arg, int fd, uint32_t ev)
{
	char c;
	(void)!read(fd, &c, 1);
	got_fd = c;
	loop_fd_del(gl, arg);
}

int main(void)
{
	struct loop_timer *t;
	struct loop_fd *w;
	pthread_t th[2];
	uint64_t t0;
	int p[2];

	gl = loop_new();
	CHECK(gl != NULL);
	loop_timer_add(gl, 30, rec, (void *)3);
	loop_timer_add(gl, 10, rec, (void *)1);
	t = loop_timer_add(gl, 20, rec, (void *)99);
	loop_timer_add(gl, 20, rec, (void *)2);
	loop_timer_add(gl, 0, rec, (void *)0);
	loop_timer_cancel(gl, t);
	t0 = loop_now_ms();
	loop_run(gl);
	CHECK(loop_now_ms() - t0 >= 30);
	CHECK_INT_EQ(norder, 4);
	CHECK_INT_EQ(order[0], 0);
	CHECK_INT_EQ(order[1], 1);
	CHECK_INT_EQ(order[2], 2);
	CHECK_INT_EQ(order[3], 3);

	CHECK_INT_EQ(pipe(p), 0);
	w = loop_fd_add(gl, p[0], EPOLLIN, on_fd, NULL);
	CHECK(w != NULL);
	/* the callback deletes its own watch: pass it as arg */
	loop_fd_del(gl, w);
	w = loop_fd_add(gl, p[0], EPOLLIN, on_fd, NULL);
	CHECK(w != NULL);
	loop_fd_mod(gl, w, EPOLLIN);
	/* re-register with the handle as argument */
	loop_fd_del(gl, w);
	w = loop_fd_add(gl, p[0], EPOLLIN, on_fd, NULL);
	CHECK(w != NULL);
	(void)!write(p[1], "x", 1);
	/* on_fd gets arg NULL here, so delete manually after the run */
	loop_timer_add(gl, 50, (loop_timer_fn)loop_stop, gl);
	loop_run(gl);
	CHECK_INT_EQ(got_fd, 'x');
	loop_fd_del(gl, w);

	loop_hold(gl);
	pthread_create(&th[0], NULL, poster, NULL);
	pthread_create(&th[1], NULL, poster, NULL);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	loop_run(gl);
	loop_unhold(gl);
	CHECK_INT_EQ(posted, 2000);
	loop_free(gl);
	close(p[0]);
	close(p[1]);
	return TEST_DONE();
}
