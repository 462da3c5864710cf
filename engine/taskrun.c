/*
 * taskrun: Task states run local programs, driven by one event loop.
 *
 * Layers, bottom up:
 *  - struct proc: one child process (spawn.c) with non-blocking pipes for
 *    stdin/stdout/stderr, an optional heartbeat pipe (fd 3 in the child) and
 *    a pidfd, all watched on the loop. It buffers stdin, captures stdout up
 *    to a cap, keeps the tail of stderr and logs stderr line by line. When
 *    the main pid exits it is reaped at once and the rest of its process
 *    group is killed, so a forked child that holds the pipes cannot keep the
 *    task alive; a child that escaped the group only delays the end by
 *    exit_grace, after which the pipes are no longer read.
 *  - struct asl_task: one Task state. Spawn form: one proc per task, result
 *    from exit status + stdout. Worker form: a request line to an idle
 *    worker of the function's pool, result from its reply line.
 *  - concurrency: every task first takes a slot (global cap, and the
 *    per-state-machine cap) in FIFO order; worker tasks then wait for an
 *    idle worker in their pool, also FIFO.
 *
 * Invariants: done() is called exactly once per started task, always from a
 * loop callback (a timer or fd event), never from start() or cancel(), and
 * never after cancel(). Every child is reaped: a cancelled task's proc is
 * detached and frees itself when its pidfd fires; taskrun_free() kills and
 * reaps whatever is left.
 */
#include "engine/taskrun.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/asl_task.h"
#include "engine/buf.h"
#include "engine/log.h"
#include "engine/loop.h"
#include "engine/spawn.h"
#include "engine/taskrun_i.h"

#define READ_CHUNK 65536
#define RESTART_MAX_MS 10000

extern char **environ;

/* ---------------------------------------------------------------- proc */

struct proc;

struct proc_ops {
	/* new stdout data in p->outb (or EOF / overflow: see p->out_eof, p->out_overflow) */
	void (*out)(void *owner, struct proc *p);
	/* the main pid was reaped (p->status); pipes were drained once */
	void (*exited)(void *owner, struct proc *p);
	void (*heartbeat)(void *owner, struct proc *p);
	/* stderr reached EOF */
	void (*err_eof)(void *owner, struct proc *p);
};

struct proc {
	struct taskrun *tr;
	struct proc *prev, *next; /* tr->procs */
	const struct proc_ops *ops;
	void *owner;              /* NULL once detached: free on exit */
	pid_t pid;                /* > 0 until reaped */
	int status;
	bool exited, out_eof, err_eof, out_overflow;
	int pidfd, in, out, err, hb;
	struct loop_fd *w_pid, *w_in, *w_out, *w_err, *w_hb;
	struct loop_timer *t_kill; /* SIGTERM sent; SIGKILL when it fires */
	struct buf wq;             /* stdin bytes not yet written, from woff */
	size_t woff;
	bool close_in;             /* close stdin once wq is written */
	struct buf outb;           /* stdout, capped */
	struct buf tail;           /* the last stderr bytes */
	struct buf line;           /* partial stderr line, for the log */
	char label[200];
};

/* ------------------------------------------------------------- runner */

struct machine {
	char *name;
	unsigned running;
	struct machine *next;
};

struct pool;

struct taskrun {
	const struct taskrun_config *cfg;
	struct taskrun_config *own_cfg;
	struct loop *loop;       /* bound by the first start() */
	char **base_env;         /* allowlisted + configured + PATH, "NAME=value" */
	size_t nbase;
	struct proc *procs;      /* every live child */
	struct asl_task *tasks;  /* every live task */
	struct asl_task *qhead, *qtail; /* waiting for a slot */
	unsigned running, queued;
	struct machine *machines;
	struct pool *pools;      /* one per functions-table entry, lazily */
	unsigned long spawned, restarts;
	/* run times of ended tasks (taskrun_get_durations(), any thread) */
	atomic_uint_fast64_t dur_bucket[TASKRUN_NBUCKETS];
	atomic_uint_fast64_t dur_count, dur_sum_us;
};

enum task_kind { TK_EXEC, TK_LAMBDA, TK_INVOKE };
enum task_phase { TP_QUEUED, TP_POOLQ, TP_RUNNING, TP_DEFERRED };

struct worker;

struct asl_task {
	struct taskrun *tr;
	struct asl_task *all_prev, *all_next;
	struct asl_task *q_prev, *q_next; /* tr queue or pool queue */
	enum task_kind kind;
	enum task_phase phase;
	bool has_slot;
	struct machine *machine;
	const struct fnent *fn;
	char *prog;          /* program path (spawn form) */
	char *cwd;
	char *resource;      /* as written, for messages */
	char *fn_arn;        /* Lambda forms: the function's ARN */
	char *state_name;
	char **env;          /* context variables "NAME=value" */
	size_t nenv;
	char *payload;       /* stdin / request input, JSON text */
	size_t payload_len;
	char request_id[40];
	char version[64];    /* ExecutedVersion */
	double timeout_s, heartbeat_s;
	asl_task_done_fn done;
	void *done_arg;
	struct proc *proc;       /* spawn form, while running */
	struct worker *worker;   /* worker form, while assigned */
	struct loop_timer *t_timeout, *t_hb, *t_drain, *t_defer;
	const char *fail_error;  /* set by a timeout, heartbeat or overflow */
	char *fail_cause;
	char *def_error, *def_cause; /* deferred failure */
	uint64_t run_ms;     /* loop_now_ms() when it started running; 0 before */
};

struct worker {
	struct pool *pool;
	unsigned idx;
	struct proc *proc;       /* NULL while down */
	struct asl_task *cur;
	struct loop_timer *t_restart;
	uint64_t started_ms;
	unsigned quick_deaths;
	bool killing;            /* being stopped: takes no task */
};

struct pool {
	struct taskrun *tr;
	const struct fnent *fn;
	struct worker *w;
	unsigned n;
	struct asl_task *qhead, *qtail;
};

static void task_complete(struct asl_task *t, json_t *output, const char *error,
			  const char *cause);
static void taskrun_pump(struct taskrun *tr);
static void pool_pump(struct pool *pl);

/* ------------------------------------------------------------- helpers */

static uint64_t secs_to_ms(double s)
{
	return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5);
}

static void make_uuid(char out[40])
{
	unsigned char b[16];
	size_t i, o = 0;

	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		/* no entropy yet: uniqueness is all that matters here */
		uint64_t x = loop_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)out;

		for (i = 0; i < sizeof(b); i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			b[i] = (unsigned char)(x >> 56);
		}
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		o += (size_t)snprintf(out + o, 3, "%02x", b[i]);
	}
	out[o] = '\0';
}

/* "NAME=..." entries: set @kv (owned) replacing an entry with the same name */
static int env_set(char ***v, size_t *n, char *kv)
{
	size_t i, nl;

	if (!kv)
		return -ENOMEM;
	nl = (size_t)(strchr(kv, '=') - kv);
	for (i = 0; i < *n; i++)
		if (strncmp((*v)[i], kv, nl + 1) == 0) {
			free((*v)[i]);
			(*v)[i] = kv;
			return 0;
		}
	return taskrun_strv_push(v, n, kv);
}

static int env_setf(char ***v, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int env_setf(char ***v, size_t *n, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return env_set(v, n, s);
}

/*
 * The environment of one child: base (allowlist, configured, PATH), then the
 * function's variables, then @extra (context). Later names override earlier
 * ones. Returns a vector of borrowed pointers (free the array only).
 */
static const char **env_merge(char **base, size_t nbase, char **fnenv, char **extra, size_t nextra)
{
	size_t nfn = 0, cap, n = 0, i, j;
	const char **out;

	while (fnenv && fnenv[nfn])
		nfn++;
	cap = nbase + nfn + nextra + 1;
	out = calloc(cap, sizeof(*out));
	if (!out)
		return NULL;
	for (j = 0; j < 3; j++) {
		char **src = j == 0 ? base : j == 1 ? fnenv : extra;
		size_t cnt = j == 0 ? nbase : j == 1 ? nfn : nextra;

		for (i = 0; i < cnt; i++) {
			size_t nl = (size_t)(strchr(src[i], '=') - src[i]), k;

			for (k = 0; k < n; k++)
				if (strncmp(out[k], src[i], nl + 1) == 0)
					break;
			out[k] = src[i];
			if (k == n)
				n++;
		}
	}
	out[n] = NULL;
	return out;
}

/* Printable preview of the first bytes of @s: \xNN for anything else. */
static void preview(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len && i < 64 && o + 6 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			o += (size_t)snprintf(out + o, outlen - o, "\\n");
		else if (c == '\r')
			o += (size_t)snprintf(out + o, outlen - o, "\\r");
		else if (c == '\t')
			o += (size_t)snprintf(out + o, outlen - o, "\\t");
		else if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (i < len && o + 4 < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o] = '\0';
}

/* --------------------------------------------------------------- procs */

static void proc_close_io(struct proc *p)
{
	struct loop *l = p->tr->loop;

	loop_fd_del(l, p->w_in);
	loop_fd_del(l, p->w_out);
	loop_fd_del(l, p->w_err);
	loop_fd_del(l, p->w_hb);
	p->w_in = p->w_out = p->w_err = p->w_hb = NULL;
	if (p->in >= 0)
		(void)close(p->in);
	if (p->out >= 0)
		(void)close(p->out);
	if (p->err >= 0)
		(void)close(p->err);
	if (p->hb >= 0)
		(void)close(p->hb);
	p->in = p->out = p->err = p->hb = -1;
}

static void proc_free(struct proc *p)
{
	struct taskrun *tr;

	if (!p)
		return;
	tr = p->tr;
	proc_close_io(p);
	loop_fd_del(tr->loop, p->w_pid);
	if (p->pidfd >= 0)
		(void)close(p->pidfd);
	loop_timer_cancel(tr->loop, p->t_kill);
	if (p->pid > 0) {
		/* only at taskrun_free(): kill and reap synchronously */
		(void)kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		tr->procs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	buf_release(&p->wq);
	buf_release(&p->outb);
	buf_release(&p->tail);
	buf_release(&p->line);
	free(p);
}

static struct proc *proc_new(struct taskrun *tr, const struct proc_ops *ops, void *owner,
			     size_t out_cap)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tr = tr;
	p->ops = ops;
	p->owner = owner;
	p->pid = -1;
	p->pidfd = p->in = p->out = p->err = p->hb = -1;
	buf_init(&p->wq, (size_t)1 << 30);
	buf_init(&p->outb, out_cap);
	buf_init(&p->tail, tr->cfg->stderr_tail + READ_CHUNK);
	buf_init(&p->line, 1024);
	p->next = tr->procs;
	if (p->next)
		p->next->prev = p;
	tr->procs = p;
	return p;
}

/* Signal the process group (the group id is the leader's pid). */
static void proc_signal(struct proc *p, int sig)
{
	if (p->pid > 0)
		(void)kill(-p->pid, sig);
}

static void proc_on_kill_timer(void *arg)
{
	struct proc *p = arg;

	p->t_kill = NULL;
	proc_signal(p, SIGKILL);
}

/* SIGTERM to the group now, SIGKILL after kill_grace (0: SIGKILL now). */
static void proc_terminate(struct proc *p)
{
	uint64_t grace = secs_to_ms(p->tr->cfg->kill_grace_s);

	if (p->pid <= 0)
		return;
	if (!grace) {
		proc_signal(p, SIGKILL);
		return;
	}
	proc_signal(p, SIGTERM);
	if (!p->t_kill)
		p->t_kill = loop_timer_add(p->tr->loop, grace, proc_on_kill_timer, p);
	if (!p->t_kill)
		proc_signal(p, SIGKILL);
}

static void proc_close_in(struct proc *p)
{
	loop_fd_del(p->tr->loop, p->w_in);
	p->w_in = NULL;
	if (p->in >= 0)
		(void)close(p->in);
	p->in = -1;
	buf_release(&p->wq);
	p->woff = 0;
}

static void proc_on_in(void *arg, int fd, uint32_t events);

/* Write as much of wq as the pipe takes; returns when it would block. */
static void proc_flush_in(struct proc *p)
{
	while (p->in >= 0 && p->woff < p->wq.len) {
		ssize_t n = write(p->in, p->wq.data + p->woff, p->wq.len - p->woff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!p->w_in)
				p->w_in = loop_fd_add(p->tr->loop, p->in, EPOLLOUT, proc_on_in, p);
			return;
		}
		if (n < 0) {
			/* EPIPE: the program does not read its input; that is its business */
			proc_close_in(p);
			return;
		}
		p->woff += (size_t)n;
	}
	if (p->in < 0)
		return;
	loop_fd_del(p->tr->loop, p->w_in);
	p->w_in = NULL;
	buf_reset(&p->wq);
	p->woff = 0;
	if (p->close_in)
		proc_close_in(p);
}

static void proc_on_in(void *arg, int fd, uint32_t events)
{
	proc_flush_in(arg);
}

/* Queue @len bytes for the child's stdin; @then_close closes it after them. */
static int proc_send(struct proc *p, const char *data, size_t len, bool then_close)
{
	int r;

	if (p->in < 0)
		return -EPIPE;
	r = buf_add(&p->wq, data, len);
	if (r < 0)
		return r;
	p->close_in = then_close;
	proc_flush_in(p);
	return 0;
}

/* Read stdout until it would block. Calls ops->out once if anything changed. */
static void proc_read_out(struct proc *p)
{
	bool changed = false;

	while (p->out >= 0) {
		size_t room = p->outb.cap - p->outb.len;
		char scratch[64];
		ssize_t n;

		if (room == 0) {
			n = read(p->out, scratch, sizeof(scratch));
		} else {
			if (room > READ_CHUNK)
				room = READ_CHUNK;
			if (buf_grow(&p->outb, room) < 0) {
				n = -1;
				errno = ENOMEM;
			} else {
				n = read(p->out, p->outb.data + p->outb.len, room);
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n > 0 && room == 0) {
			p->out_overflow = true;
			n = 0;
		} else if (n > 0) {
			p->outb.len += (size_t)n;
			p->outb.data[p->outb.len] = '\0';
			changed = true;
			continue;
		}
		/* EOF, error or overflow: stop reading */
		p->out_eof = true;
		changed = true;
		loop_fd_del(p->tr->loop, p->w_out);
		p->w_out = NULL;
		(void)close(p->out);
		p->out = -1;
	}
	if (changed && p->owner)
		p->ops->out(p->owner, p);
}

static void proc_on_out(void *arg, int fd, uint32_t events)
{
	proc_read_out(arg);
}

static void proc_log_line(struct proc *p, const char *s, size_t n)
{
	while (n && (s[n - 1] == '\r'))
		n--;
	log_notice("%s: %.*s", p->label, (int)n, s);
}

static void proc_read_err(struct proc *p)
{
	char chunk[4096];
	size_t keep = p->tr->cfg->stderr_tail;

	while (p->err >= 0) {
		ssize_t n = read(p->err, chunk, sizeof(chunk));
		size_t i, start = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (p->line.len)
				proc_log_line(p, p->line.data, p->line.len);
			buf_reset(&p->line);
			p->err_eof = true;
			loop_fd_del(p->tr->loop, p->w_err);
			p->w_err = NULL;
			(void)close(p->err);
			p->err = -1;
			if (p->owner && p->ops->err_eof)
				p->ops->err_eof(p->owner, p);
			return;
		}
		if (keep) {
			(void)buf_add(&p->tail, chunk, (size_t)n);
			if (p->tail.len > keep) {
				memmove(p->tail.data, p->tail.data + p->tail.len - keep, keep);
				p->tail.len = keep;
				p->tail.data[keep] = '\0';
			}
		}
		for (i = 0; i < (size_t)n; i++) {
			if (chunk[i] != '\n')
				continue;
			if (p->line.len) {
				(void)buf_add(&p->line, chunk + start, i - start);
				proc_log_line(p, p->line.data, p->line.len);
				buf_reset(&p->line);
			} else {
				proc_log_line(p, chunk + start, i - start);
			}
			start = i + 1;
		}
		if (start < (size_t)n && buf_add(&p->line, chunk + start, (size_t)n - start) < 0) {
			/* an endless line: log what we have and carry on */
			proc_log_line(p, p->line.data, p->line.len);
			buf_reset(&p->line);
		}
	}
}

static void proc_on_err(void *arg, int fd, uint32_t events)
{
	proc_read_err(arg);
}

static void proc_on_hb(void *arg, int fd, uint32_t events)
{
	struct proc *p = arg;
	char chunk[256];
	bool beat = false;

	for (;;) {
		ssize_t n = read(p->hb, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			beat = true;
			continue;
		}
		if (n == 0 || errno != EAGAIN) {
			/* the program closed its heartbeat descriptor: no more beats */
			loop_fd_del(p->tr->loop, p->w_hb);
			p->w_hb = NULL;
			(void)close(p->hb);
			p->hb = -1;
		}
		break;
	}
	if (beat && p->owner && p->ops->heartbeat)
		p->ops->heartbeat(p->owner, p);
}

static void proc_on_pid(void *arg, int fd, uint32_t events)
{
	struct proc *p = arg;
	int status;
	pid_t r;

	do
		r = waitpid(p->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return;
	if (r < 0)
		status = W_EXITCODE(255, 0); /* reaped elsewhere: nothing better to report */
	/* the group outlives its leader only through children it forked: end them */
	(void)kill(-p->pid, SIGKILL);
	p->pid = -1;
	p->status = status;
	loop_fd_del(p->tr->loop, p->w_pid);
	p->w_pid = NULL;
	(void)close(p->pidfd);
	p->pidfd = -1;
	loop_timer_cancel(p->tr->loop, p->t_kill);
	p->t_kill = NULL;
	/*
	 * What the program wrote before it exited is in the pipes now. The
	 * owner sees it before it learns of the exit (so it cannot finish and
	 * free the proc under us).
	 */
	proc_read_err(p);
	proc_read_out(p);
	p->exited = true;
	if (!p->owner) {
		proc_free(p);
		return;
	}
	p->ops->exited(p->owner, p);
}

/* The owner lets go: close the pipes; the proc frees itself once reaped. */
static void proc_detach(struct proc *p)
{
	if (!p)
		return;
	p->owner = NULL;
	proc_close_io(p);
	if (p->exited)
		proc_free(p);
}

/*
 * Start @sp (argv, envp, cwd filled in by the caller) with pipes, plus the
 * heartbeat pipe as fd 3 when @heartbeat. 0 or -errno.
 */
static int proc_spawn(struct proc *p, struct spawn *sp, bool heartbeat)
{
	const struct taskrun_config *cfg = p->tr->cfg;
	struct loop *l = p->tr->loop;
	int hbp[2] = { -1, -1 };
	int r;

	sp->in = sp->out = sp->err = SPAWN_FD_PIPE;
	sp->flags |= SPAWN_NONBLOCK;
	if (heartbeat) {
		if (pipe2(hbp, O_CLOEXEC) < 0)
			return -errno;
		if (fcntl(hbp[0], F_SETFL, O_NONBLOCK) < 0) {
			r = -errno;
			goto fail_hb;
		}
		sp->fd3 = hbp[1];
	}
	if (cfg->set_ids) {
		sp->set_ids = true;
		sp->uid = cfg->uid;
		sp->gid = cfg->gid;
		sp->ngroups = cfg->ngroups;
		memcpy(sp->groups, cfg->groups, sizeof(sp->groups));
	}
	sp->nrlimits = cfg->nrlimits;
	memcpy(sp->rlimits, cfg->rlimits, sizeof(sp->rlimits));
	sp->set_nice = cfg->set_nice;
	sp->nice = cfg->nice;
	r = spawn_start(sp);
	if (r < 0)
		goto fail_hb;
	if (hbp[1] >= 0)
		(void)close(hbp[1]);
	p->tr->spawned++;
	p->pid = sp->pid;
	p->in = sp->in;
	p->out = sp->out;
	p->err = sp->err;
	p->hb = hbp[0];
	p->pidfd = pidfd_open(p->pid, 0);
	if (p->pidfd < 0) {
		r = -errno;
		goto fail_child;
	}
	p->w_pid = loop_fd_add(l, p->pidfd, EPOLLIN, proc_on_pid, p);
	p->w_out = loop_fd_add(l, p->out, EPOLLIN, proc_on_out, p);
	p->w_err = loop_fd_add(l, p->err, EPOLLIN, proc_on_err, p);
	if (!p->w_pid || !p->w_out || !p->w_err) {
		r = -ENOMEM;
		goto fail_child;
	}
	if (p->hb >= 0) {
		p->w_hb = loop_fd_add(l, p->hb, EPOLLIN, proc_on_hb, p);
		if (!p->w_hb) {
			r = -ENOMEM;
			goto fail_child;
		}
	}
	return 0;
fail_child:
	/* started but not watchable: kill and reap it here */
	proc_close_io(p);
	loop_fd_del(l, p->w_pid);
	p->w_pid = NULL;
	if (p->pidfd >= 0)
		(void)close(p->pidfd);
	p->pidfd = -1;
	(void)kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
		;
	p->pid = -1;
	return r;
fail_hb:
	if (hbp[0] >= 0)
		(void)close(hbp[0]);
	if (hbp[1] >= 0)
		(void)close(hbp[1]);
	sp->fd3 = -1;
	return r;
}

/* ------------------------------------------------------- concurrency */

static struct machine *machine_get(struct taskrun *tr, const char *name)
{
	struct machine *m;

	if (!name)
		name = "";
	for (m = tr->machines; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->name = strdup(name);
	if (!m->name) {
		free(m);
		return NULL;
	}
	m->next = tr->machines;
	tr->machines = m;
	return m;
}

static bool slot_free(struct taskrun *tr, struct asl_task *t)
{
	if (tr->running >= tr->cfg->max_concurrency)
		return false;
	return !tr->cfg->max_per_machine || t->machine->running < tr->cfg->max_per_machine;
}

static void slot_release(struct asl_task *t)
{
	if (!t->has_slot)
		return;
	t->has_slot = false;
	t->tr->running--;
	t->machine->running--;
}

static void q_remove(struct asl_task **head, struct asl_task **tail, struct asl_task *t)
{
	if (t->q_prev)
		t->q_prev->q_next = t->q_next;
	else
		*head = t->q_next;
	if (t->q_next)
		t->q_next->q_prev = t->q_prev;
	else
		*tail = t->q_prev;
	t->q_prev = t->q_next = NULL;
}

static void q_append(struct asl_task **head, struct asl_task **tail, struct asl_task *t)
{
	t->q_next = NULL;
	t->q_prev = *tail;
	if (*tail)
		(*tail)->q_next = t;
	else
		*head = t;
	*tail = t;
}

/* --------------------------------------------------------------- tasks */

static void task_free(struct asl_task *t)
{
	struct taskrun *tr = t->tr;

	loop_timer_cancel(tr->loop, t->t_timeout);
	loop_timer_cancel(tr->loop, t->t_hb);
	loop_timer_cancel(tr->loop, t->t_drain);
	loop_timer_cancel(tr->loop, t->t_defer);
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		tr->tasks = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	free(t->prog);
	free(t->cwd);
	free(t->resource);
	free(t->fn_arn);
	free(t->state_name);
	taskrun_strv_free(t->env);
	free(t->payload);
	free(t->fail_cause);
	free(t->def_error);
	free(t->def_cause);
	free(t);
}

static void task_on_defer(void *arg)
{
	struct asl_task *t = arg;

	t->t_defer = NULL;
	task_complete(t, NULL, t->def_error ? t->def_error : ASL_E_RUNTIME,
		      t->def_cause ? t->def_cause : "");
}

/* Fail @t from a timer: start() and dispatch must never call done() themselves. */
static void task_fail_later(struct asl_task *t, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void task_fail_later(struct asl_task *t, const char *error, const char *fmt, ...)
{
	va_list ap;

	free(t->def_error);
	free(t->def_cause);
	t->def_error = strdup(error);
	va_start(ap, fmt);
	if (vasprintf(&t->def_cause, fmt, ap) < 0)
		t->def_cause = NULL;
	va_end(ap);
	t->phase = TP_DEFERRED;
	loop_timer_cancel(t->tr->loop, t->t_defer);
	t->t_defer = loop_timer_add(t->tr->loop, 0, task_on_defer, t);
	if (!t->t_defer)
		log_err("task '%s': out of memory arming a timer", t->state_name);
}

static void task_set_fail(struct asl_task *t, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void task_set_fail(struct asl_task *t, const char *error, const char *fmt, ...)
{
	va_list ap;

	if (t->fail_error)
		return; /* the first reason wins */
	t->fail_error = error;
	va_start(ap, fmt);
	if (vasprintf(&t->fail_cause, fmt, ap) < 0)
		t->fail_cause = NULL;
	va_end(ap);
}

static void datalimit_cause(struct asl_task *t, char *buf, size_t len)
{
	snprintf(buf, len,
		 "The state/task '%s' returned a result with a size exceeding the maximum number of "
		 "bytes service limit.",
		 t->kind == TK_INVOKE ? "lambda" : t->kind == TK_LAMBDA ? t->fn_arn : t->resource);
}

static void http_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The lambda:invoke result: {ExecutedVersion, Payload, SdkHttpMetadata, SdkResponseMetadata, StatusCode} */
static json_t *invoke_result(struct asl_task *t, json_t *payload, size_t raw_len)
{
	char clen[32], date[64], trace[96];
	json_t *all, *hdr;

	snprintf(clen, sizeof(clen), "%zu", raw_len);
	http_date(date, sizeof(date));
	snprintf(trace, sizeof(trace), "root=1-%08lx-%.24s;sampled=0", (unsigned long)time(NULL),
		 t->request_id + 12);
	all = json_pack("{s:[s],s:[s],s:[s],s:[s],s:[s],s:[s],s:[s],s:[s]}", "X-Amz-Executed-Version",
			t->version, "x-amzn-Remapped-Content-Length", "0", "Connection",
			"keep-alive", "x-amzn-RequestId", t->request_id, "Content-Length", clen,
			"Date", date, "X-Amzn-Trace-Id", trace, "Content-Type", "application/json");
	hdr = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Connection", "keep-alive",
			"Content-Length", clen, "Content-Type", "application/json", "Date", date,
			"X-Amz-Executed-Version", t->version, "x-amzn-Remapped-Content-Length", "0",
			"x-amzn-RequestId", t->request_id, "X-Amzn-Trace-Id", trace);
	return json_pack("{s:s,s:o,s:{s:o*,s:o*,s:i},s:{s:s},s:i}", "ExecutedVersion", t->version,
			 "Payload", payload, "SdkHttpMetadata", "AllHttpHeaders", all,
			 "HttpHeaders", hdr, "HttpStatusCode", 200, "SdkResponseMetadata",
			 "RequestId", t->request_id, "StatusCode", 200);
}

/*
 * A program's error object -> error name and cause. Lambda style
 * {"errorType", "errorMessage", ...}: the cause is the object as JSON text,
 * as Step Functions reports a Lambda error (requestId added for the Lambda
 * forms). {"Error", "Cause"}: taken as they are. Returns false if @obj names
 * no error. *ret_cause is malloc'd.
 */
static bool error_from_object(struct asl_task *t, json_t *obj, const char **ret_error,
			      char **ret_cause)
{
	json_t *et = json_object_get(obj, "errorType");
	json_t *e = json_object_get(obj, "Error");
	json_t *c;

	if (json_is_string(et)) {
		json_t *copy = json_copy(obj);

		if (!copy)
			return false;
		if (t->kind != TK_EXEC && !json_object_get(copy, "requestId"))
			json_object_set_new(copy, "requestId", json_string(t->request_id));
		*ret_cause = json_dumps(copy, JSON_SORT_KEYS | JSON_ENCODE_ANY |
						      (t->kind == TK_INVOKE ? JSON_COMPACT : 0));
		json_decref(copy);
		*ret_error = json_string_value(et);
		return true;
	}
	if (json_is_string(e)) {
		c = json_object_get(obj, "Cause");
		*ret_error = json_string_value(e);
		if (!c || json_is_null(c))
			*ret_cause = strdup("");
		else if (json_is_string(c))
			*ret_cause = strdup(json_string_value(c));
		else
			*ret_cause = json_dumps(c, JSON_ENCODE_ANY | JSON_COMPACT);
		return true;
	}
	return false;
}

static const char *trim(const char *s, size_t *len)
{
	while (*len && isspace((unsigned char)*s)) {
		s++;
		(*len)--;
	}
	while (*len && isspace((unsigned char)s[*len - 1]))
		(*len)--;
	return s;
}

/* Decide the outcome of a finished spawn-form task and complete it. */
static void task_decide(struct asl_task *t)
{
	struct proc *p = t->proc;
	char desc[96], big[512];
	size_t len = p->outb.len;
	const char *s = trim(p->outb.data, &len);
	const char *tail;
	size_t tl;
	json_error_t jerr;
	json_t *v = NULL;

	if (t->fail_error) {
		task_complete(t, NULL, t->fail_error, t->fail_cause ? t->fail_cause : "");
		return;
	}
	if (p->out_overflow) {
		datalimit_cause(t, big, sizeof(big));
		task_complete(t, NULL, ASL_E_DATALIMIT, big);
		return;
	}
	if (len)
		v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0) {
		if (!len) {
			v = json_null();
		} else if (!v) {
			char pv[400], *cause = NULL;

			preview(s, len, pv, sizeof(pv));
			if (asprintf(&cause,
				     "state '%s': program '%s' wrote output that is not JSON (%s, at "
				     "byte %d); it starts with: \"%s\"",
				     t->state_name, t->prog, jerr.text, jerr.position, pv) < 0)
				cause = NULL;
			task_complete(t, NULL, ASL_E_TASKFAILED, cause ? cause : "output is not JSON");
			free(cause);
			return;
		}
		if (t->kind == TK_INVOKE) {
			v = invoke_result(t, v, len);
			if (!v) {
				task_complete(t, NULL, ASL_E_RUNTIME, "out of memory");
				return;
			}
		}
		task_complete(t, v, NULL, NULL);
		return;
	}
	if (json_is_object(v)) {
		const char *error;
		char *cause = NULL;

		if (error_from_object(t, v, &error, &cause)) {
			task_complete(t, NULL, error, cause ? cause : "");
			free(cause);
			json_decref(v);
			return;
		}
	}
	json_decref(v);
	spawn_status_describe(p->status, desc, sizeof(desc));
	tl = p->tail.len;
	tail = trim(p->tail.data, &tl);
	{
		char *cause = NULL;

		if (asprintf(&cause, "program '%s' %s%s%.*s", t->prog ? t->prog : "?", desc,
			     tl ? "; stderr: " : "", (int)tl, tail) < 0)
			cause = NULL;
		task_complete(t, NULL, ASL_E_TASKFAILED, cause ? cause : desc);
		free(cause);
	}
}

static void task_on_drain(void *arg)
{
	struct asl_task *t = arg;

	t->t_drain = NULL;
	log_debug("task '%s': pipes still open %.1fs after exit; no longer reading them",
		  t->state_name, t->tr->cfg->exit_grace_s);
	task_decide(t);
}

static void task_maybe_done(struct asl_task *t)
{
	struct proc *p = t->proc;

	if (!p->exited)
		return;
	if (p->out_eof && p->err_eof) {
		task_decide(t);
		return;
	}
	if (!t->t_drain)
		t->t_drain = loop_timer_add(t->tr->loop, secs_to_ms(t->tr->cfg->exit_grace_s),
					    task_on_drain, t);
}

static void task_proc_out(void *owner, struct proc *p)
{
	struct asl_task *t = owner;

	if (p->out_overflow && !p->exited) {
		char big[512];

		/* the result is lost anyway: do not wait for the rest */
		datalimit_cause(t, big, sizeof(big));
		task_set_fail(t, ASL_E_DATALIMIT, "%s", big);
		proc_signal(p, SIGKILL);
	}
	task_maybe_done(t);
}

static void task_proc_exited(void *owner, struct proc *p)
{
	task_maybe_done(owner);
}

static void task_proc_err_eof(void *owner, struct proc *p)
{
	task_maybe_done(owner);
}

static void task_arm_heartbeat(struct asl_task *t);

static void task_proc_heartbeat(void *owner, struct proc *p)
{
	task_arm_heartbeat(owner);
}

static const struct proc_ops task_proc_ops = {
	.out = task_proc_out,
	.exited = task_proc_exited,
	.heartbeat = task_proc_heartbeat,
	.err_eof = task_proc_err_eof,
};

static void worker_kill(struct worker *w);

static void task_on_timeout(void *arg)
{
	struct asl_task *t = arg;

	t->t_timeout = NULL;
	if (t->proc && t->proc->exited)
		return; /* it finished in time; only its pipes are still draining */
	if (t->worker) {
		struct worker *w = t->worker;

		w->cur = NULL;
		t->worker = NULL;
		worker_kill(w);
		task_complete(t, NULL, ASL_E_TIMEOUT, "");
		return;
	}
	task_set_fail(t, ASL_E_TIMEOUT, "program '%s' did not finish within %g seconds", t->prog,
		      t->timeout_s);
	if (t->proc)
		proc_terminate(t->proc);
}

static void task_on_heartbeat_timeout(void *arg)
{
	struct asl_task *t = arg;

	t->t_hb = NULL;
	if (t->proc && t->proc->exited)
		return;
	if (t->worker) {
		struct worker *w = t->worker;

		w->cur = NULL;
		t->worker = NULL;
		worker_kill(w);
		task_complete(t, NULL, ASL_E_HEARTBEAT, "");
		return;
	}
	task_set_fail(t, ASL_E_HEARTBEAT, "program '%s' sent no heartbeat for %g seconds",
		      t->prog, t->heartbeat_s);
	if (t->proc)
		proc_terminate(t->proc);
}

static void task_arm_heartbeat(struct asl_task *t)
{
	if (t->heartbeat_s <= 0 || t->fail_error)
		return;
	loop_timer_cancel(t->tr->loop, t->t_hb);
	t->t_hb = loop_timer_add(t->tr->loop, secs_to_ms(t->heartbeat_s),
				 task_on_heartbeat_timeout, t);
}

static void task_arm_timers(struct asl_task *t)
{
	if (t->timeout_s > 0)
		t->t_timeout = loop_timer_add(t->tr->loop, secs_to_ms(t->timeout_s),
					      task_on_timeout, t);
	task_arm_heartbeat(t);
}

double taskrun_bucket_le(unsigned i)
{
	static const double le[TASKRUN_NBUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
						     0.5,   1,    2.5,   5,    10,  60 };

	return i < TASKRUN_NBUCKETS ? le[i] : 0;
}

static void record_duration(struct taskrun *tr, uint64_t ms)
{
	unsigned i;

	for (i = 0; i < TASKRUN_NBUCKETS; i++)
		if ((double)ms / 1000.0 <= taskrun_bucket_le(i))
			atomic_fetch_add(&tr->dur_bucket[i], 1);
	atomic_fetch_add(&tr->dur_count, 1);
	atomic_fetch_add(&tr->dur_sum_us, ms * 1000);
}

void taskrun_get_durations(struct taskrun *tr, struct taskrun_durations *ret)
{
	unsigned i;

	for (i = 0; i < TASKRUN_NBUCKETS; i++)
		ret->bucket[i] = atomic_load(&tr->dur_bucket[i]);
	ret->count = atomic_load(&tr->dur_count);
	ret->sum_s = (double)atomic_load(&tr->dur_sum_us) / 1e6;
}

/* The single exit of a task: release everything, call done(), free, pump. */
static void task_complete(struct asl_task *t, json_t *output, const char *error,
			  const char *cause)
{
	struct taskrun *tr = t->tr;
	asl_task_done_fn done = t->done;
	void *done_arg = t->done_arg;
	char *err_copy = NULL, *cause_copy = NULL;

	if (t->run_ms)
		record_duration(tr, loop_now_ms() - t->run_ms);
	if (error) {
		/* @error/@cause may point into the task or its proc, freed below */
		err_copy = strdup(error);
		cause_copy = strdup(cause ? cause : "");
	}
	proc_detach(t->proc);
	t->proc = NULL;
	slot_release(t);
	task_free(t);
	if (error)
		done(done_arg, NULL, err_copy ? err_copy : ASL_E_RUNTIME,
		     cause_copy ? cause_copy : "");
	else
		done(done_arg, output, NULL, NULL);
	free(err_copy);
	free(cause_copy);
	taskrun_pump(tr);
}

static void task_spawn(struct asl_task *t)
{
	struct taskrun *tr = t->tr;
	struct spawn sp = SPAWN_INIT;
	const char **envp = NULL;
	char **argv = NULL;
	size_t nargv = 0, i;
	int r = -ENOMEM;

	t->proc = proc_new(tr, &task_proc_ops, t, tr->cfg->payload_limit);
	if (!t->proc)
		goto fail;
	snprintf(t->proc->label, sizeof(t->proc->label), "task '%s'", t->state_name);
	if (taskrun_strv_push(&argv, &nargv, strdup(t->prog)) < 0)
		goto fail;
	for (i = 0; t->fn && i < t->fn->nargs; i++)
		if (taskrun_strv_push(&argv, &nargv, strdup(t->fn->args[i])) < 0)
			goto fail;
	envp = env_merge(tr->base_env, tr->nbase, t->fn ? t->fn->env : NULL, t->env, t->nenv);
	if (!envp)
		goto fail;
	sp.argv = (const char *const *)argv;
	sp.envp = envp;
	sp.cwd = t->cwd;
	if (!strchr(t->prog, '/'))
		sp.flags |= SPAWN_SEARCH_PATH;
	r = proc_spawn(t->proc, &sp, t->heartbeat_s > 0);
	if (r < 0)
		goto fail;
	snprintf(t->proc->label, sizeof(t->proc->label), "task '%s' [%d]", t->state_name,
		 (int)t->proc->pid);
	t->phase = TP_RUNNING;
	t->run_ms = loop_now_ms();
	r = proc_send(t->proc, t->payload, t->payload_len, true);
	if (r < 0 && r != -EPIPE)
		log_debug("task '%s': cannot queue input: %s", t->state_name, strerror(-r));
	task_arm_timers(t);
	goto out;
fail:
	proc_free(t->proc);
	t->proc = NULL;
	slot_release(t);
	if (r == -ENOENT || r == -EACCES || r == -ENOEXEC || r == -ENOTDIR)
		task_fail_later(t, ASL_E_TASKFAILED, "cannot run program '%s'%s%s: %s", t->prog,
				t->cwd ? " in " : "", t->cwd ? t->cwd : "", strerror(-r));
	else
		task_fail_later(t, ASL_E_TASKFAILED, "cannot start program '%s': %s", t->prog,
				strerror(-r));
out:
	taskrun_strv_free(argv);
	free(envp);
}

static struct pool *pool_for(struct taskrun *tr, const struct fnent *fn);
static void pool_submit(struct pool *pl, struct asl_task *t);

static void task_dispatch(struct asl_task *t)
{
	struct taskrun *tr = t->tr;

	t->has_slot = true;
	tr->running++;
	t->machine->running++;
	if (t->fn && t->fn->workers > 0) {
		struct pool *pl = pool_for(tr, t->fn);

		if (!pl) {
			slot_release(t);
			task_fail_later(t, ASL_E_RUNTIME, "out of memory");
			return;
		}
		pool_submit(pl, t);
		return;
	}
	task_spawn(t);
}

static void taskrun_pump(struct taskrun *tr)
{
	struct asl_task *t, *next;

	for (t = tr->qhead; t && tr->running < tr->cfg->max_concurrency; t = next) {
		next = t->q_next;
		if (!slot_free(tr, t))
			continue; /* its state machine is at its cap; later ones may run */
		q_remove(&tr->qhead, &tr->qtail, t);
		tr->queued--;
		task_dispatch(t);
	}
}

/* ------------------------------------------------------------- workers */

static void worker_start(struct worker *w);

static void worker_on_restart(void *arg)
{
	struct worker *w = arg;

	w->t_restart = NULL;
	worker_start(w);
	pool_pump(w->pool);
}

/* The worker's process is gone (or never started): fail its task, plan a restart. */
static void worker_down(struct worker *w, const char *why)
{
	struct taskrun *tr = w->pool->tr;
	struct asl_task *t = w->cur;
	uint64_t delay = 0;

	if (w->proc) {
		size_t tl = w->proc->tail.len;
		const char *tail = trim(w->proc->tail.data, &tl);

		if (t) {
			char *cause = NULL;

			w->cur = NULL;
			t->worker = NULL;
			if (asprintf(&cause, "worker of function '%s' %s while running the task%s%.*s",
				     w->pool->fn->name, why, tl ? "; stderr: " : "", (int)tl,
				     tail) < 0)
				cause = NULL;
			task_complete(t, NULL, ASL_E_TASKFAILED, cause ? cause : why);
			free(cause);
		}
		proc_detach(w->proc);
		w->proc = NULL;
	}
	w->killing = false;
	if (loop_now_ms() - w->started_ms < 1000) {
		if (w->quick_deaths < 10)
			w->quick_deaths++;
		delay = 100ULL << w->quick_deaths;
		if (delay > RESTART_MAX_MS)
			delay = RESTART_MAX_MS;
	} else {
		w->quick_deaths = 0;
	}
	tr->restarts++;
	if (!w->t_restart)
		w->t_restart = loop_timer_add(tr->loop, delay, worker_on_restart, w);
}

static void worker_kill(struct worker *w)
{
	if (!w->proc)
		return;
	w->killing = true;
	proc_terminate(w->proc);
}

static void worker_reply(struct worker *w, const char *line, size_t len)
{
	struct asl_task *t = w->cur;
	json_error_t jerr;
	json_t *v, *out;
	const char *error;
	char *cause = NULL;

	if (!t) {
		log_warn("worker of function '%s' wrote a line with no task in flight; ignored",
			 w->pool->fn->name);
		return;
	}
	w->cur = NULL;
	t->worker = NULL;
	v = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
	if (!json_is_object(v)) {
		char pv[400];

		preview(line, len, pv, sizeof(pv));
		if (asprintf(&cause,
			     "task '%s': worker of function '%s' replied with something other than a "
			     "JSON object (%s), starting with: \"%s\"",
			     t->state_name, w->pool->fn->name, v ? "not an object" : jerr.text,
			     pv) < 0)
			cause = NULL;
		task_complete(t, NULL, ASL_E_TASKFAILED, cause ? cause : "bad worker reply");
		goto out;
	}
	out = json_object_get(v, "output");
	if (out) {
		json_incref(out);
		if (t->kind == TK_INVOKE) {
			char *raw = json_dumps(out, JSON_ENCODE_ANY);

			out = invoke_result(t, out, raw ? strlen(raw) : 0);
			free(raw);
		}
		task_complete(t, out, NULL, NULL);
		goto out;
	}
	if (json_is_string(json_object_get(v, "error"))) {
		json_t *c = json_object_get(v, "cause");

		task_complete(t, NULL, json_string_value(json_object_get(v, "error")),
			      json_is_string(c) ? json_string_value(c) : "");
		goto out;
	}
	if (error_from_object(t, v, &error, &cause)) {
		task_complete(t, NULL, error, cause ? cause : "");
		goto out;
	}
	task_complete(t, NULL, ASL_E_TASKFAILED,
		      "worker reply has neither \"output\" nor \"error\"/\"errorType\"/\"Error\"");
out:
	free(cause);
	json_decref(v);
}

static void worker_proc_out(void *owner, struct proc *p)
{
	struct worker *w = owner;
	char *nl;

	/* one reply per line; the task may be completed (and the pool pumped) per line */
	while (w->proc == p && (nl = memchr(p->outb.data, '\n', p->outb.len))) {
		size_t n = (size_t)(nl - p->outb.data);
		char *line = strndup(p->outb.data, n);

		memmove(p->outb.data, nl + 1, p->outb.len - n - 1);
		p->outb.len -= n + 1;
		p->outb.data[p->outb.len] = '\0';
		if (!line) {
			log_err("worker of function '%s': out of memory", w->pool->fn->name);
			continue;
		}
		worker_reply(w, line, n);
		free(line);
	}
	if (w->proc != p)
		return;
	if (p->out_overflow && w->cur) {
		struct asl_task *t = w->cur;
		char big[512];

		w->cur = NULL;
		t->worker = NULL;
		datalimit_cause(t, big, sizeof(big));
		task_complete(t, NULL, ASL_E_DATALIMIT, big);
	}
	if (w->proc == p && p->out_eof && !p->exited)
		worker_kill(w); /* a worker that cannot answer is no use */
	pool_pump(w->pool);
}

static void worker_proc_exited(void *owner, struct proc *p)
{
	struct worker *w = owner;
	char desc[96];

	spawn_status_describe(p->status, desc, sizeof(desc));
	log_notice("worker %u of function '%s' %s", w->idx, w->pool->fn->name, desc);
	worker_down(w, desc);
	pool_pump(w->pool);
}

static void worker_proc_heartbeat(void *owner, struct proc *p)
{
	struct worker *w = owner;

	if (w->cur)
		task_arm_heartbeat(w->cur);
}

static const struct proc_ops worker_proc_ops = {
	.out = worker_proc_out,
	.exited = worker_proc_exited,
	.heartbeat = worker_proc_heartbeat,
	.err_eof = NULL,
};

static void worker_start(struct worker *w)
{
	struct taskrun *tr = w->pool->tr;
	const struct fnent *fn = w->pool->fn;
	struct spawn sp = SPAWN_INIT;
	const char **envp = NULL;
	char **argv = NULL, **ctx = NULL;
	size_t nargv = 0, nctx = 0, i;
	struct asl_task *t;
	int r = -ENOMEM;

	if (w->proc || w->t_restart)
		return;
	w->started_ms = loop_now_ms();
	w->proc = proc_new(tr, &worker_proc_ops, w, tr->cfg->payload_limit + 4096);
	if (!w->proc)
		goto fail;
	snprintf(w->proc->label, sizeof(w->proc->label), "worker %u of '%s'", w->idx, fn->name);
	if (taskrun_strv_push(&argv, &nargv, strdup(fn->exec)) < 0)
		goto fail;
	for (i = 0; i < fn->nargs; i++)
		if (taskrun_strv_push(&argv, &nargv, strdup(fn->args[i])) < 0)
			goto fail;
	if (env_setf(&ctx, &nctx, "STEPFS_WORKER=%u", w->idx) < 0 ||
	    env_setf(&ctx, &nctx, "STEPFS_HEARTBEAT_FD=3") < 0 ||
	    env_setf(&ctx, &nctx, "STEPFS_FUNCTION_NAME=%s", fn->name) < 0)
		goto fail;
	envp = env_merge(tr->base_env, tr->nbase, fn->env, ctx, nctx);
	if (!envp)
		goto fail;
	sp.argv = (const char *const *)argv;
	sp.envp = envp;
	sp.cwd = fn->cwd ? fn->cwd : tr->cfg->cwd;
	if (!strchr(fn->exec, '/'))
		sp.flags |= SPAWN_SEARCH_PATH;
	r = proc_spawn(w->proc, &sp, true);
	if (r < 0)
		goto fail;
	snprintf(w->proc->label, sizeof(w->proc->label), "worker %u of '%s' [%d]", w->idx,
		 fn->name, (int)w->proc->pid);
	goto out;
fail:
	log_err("cannot start worker %u of function '%s' ('%s'): %s", w->idx, fn->name, fn->exec,
		strerror(-r));
	proc_free(w->proc);
	w->proc = NULL;
	/* nothing can run here until it starts: fail the waiting tasks now */
	while ((t = w->pool->qhead)) {
		q_remove(&w->pool->qhead, &w->pool->qtail, t);
		tr->queued--;
		slot_release(t);
		task_fail_later(t, ASL_E_TASKFAILED, "cannot start worker of function '%s' ('%s'): %s",
				fn->name, fn->exec, strerror(-r));
	}
	worker_down(w, "did not start");
out:
	taskrun_strv_free(argv);
	taskrun_strv_free(ctx);
	free(envp);
}

/* Append @s as a JSON string literal. */
static int buf_put_jstr(struct buf *b, const char *s)
{
	int r = buf_putc(b, '"');

	for (; r >= 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			r = buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			r = buf_printf(b, "\\u%04x", c);
		else
			r = buf_putc(b, (char)c);
	}
	return r < 0 ? r : buf_putc(b, '"');
}

/*
 * The request line {"input": <payload>, "context": {"state_name": ...}}\n,
 * built as text (the payload is already JSON) and written with one write().
 * The context keys are the STEPFS_* variables, lower-cased without prefix.
 */
static void worker_assign(struct worker *w, struct asl_task *t)
{
	struct buf line = BUF_INIT_CAP((size_t)1 << 30);
	size_t i;
	int r, first = 1;

	w->cur = t;
	t->worker = w;
	t->phase = TP_RUNNING;
	t->run_ms = loop_now_ms();
	r = buf_puts(&line, "{\"input\":");
	if (r >= 0)
		r = buf_add(&line, t->payload, t->payload_len);
	if (r >= 0)
		r = buf_puts(&line, ",\"context\":{");
	for (i = 0; r >= 0 && i < t->nenv; i++) {
		const char *eq = strchr(t->env[i], '=');
		char key[64];
		size_t k, n;

		if (strncmp(t->env[i], "STEPFS_", 7) != 0 || !eq)
			continue;
		n = (size_t)(eq - t->env[i]) - 7;
		if (n >= sizeof(key))
			continue;
		for (k = 0; k < n; k++)
			key[k] = (char)tolower((unsigned char)t->env[i][7 + k]);
		key[n] = '\0';
		r = buf_printf(&line, "%s\"%s\":", first ? "" : ",", key);
		if (r >= 0)
			r = buf_put_jstr(&line, eq + 1);
		first = 0;
	}
	if (r >= 0)
		r = buf_puts(&line, "}}\n");
	if (r < 0) {
		buf_release(&line);
		w->cur = NULL;
		t->worker = NULL;
		slot_release(t);
		task_fail_later(t, ASL_E_RUNTIME, "out of memory");
		return;
	}
	r = proc_send(w->proc, line.data, line.len, false);
	buf_release(&line);
	if (r < 0 && r != -EPIPE)
		log_warn("worker of function '%s': cannot send request: %s", w->pool->fn->name,
			 strerror(-r));
	task_arm_timers(t);
}

static void pool_pump(struct pool *pl)
{
	unsigned i;

	if (!pl->qhead)
		return;
	for (i = 0; i < pl->n; i++)
		if (!pl->w[i].proc && !pl->w[i].t_restart)
			worker_start(&pl->w[i]);
	for (i = 0; i < pl->n && pl->qhead; i++) {
		struct worker *w = &pl->w[i];
		struct asl_task *t;

		if (!w->proc || w->cur || w->killing || w->proc->exited || w->proc->in < 0)
			continue;
		t = pl->qhead;
		q_remove(&pl->qhead, &pl->qtail, t);
		pl->tr->queued--;
		worker_assign(w, t);
	}
}

static void pool_submit(struct pool *pl, struct asl_task *t)
{
	t->phase = TP_POOLQ;
	q_append(&pl->qhead, &pl->qtail, t);
	pl->tr->queued++;
	pool_pump(pl);
}

static struct pool *pool_for(struct taskrun *tr, const struct fnent *fn)
{
	size_t idx = (size_t)(fn - tr->cfg->fns);
	struct pool *pl;
	unsigned i;

	if (!tr->pools) {
		tr->pools = calloc(tr->cfg->nfns, sizeof(*tr->pools));
		if (!tr->pools)
			return NULL;
	}
	pl = &tr->pools[idx];
	if (!pl->w) {
		pl->w = calloc(fn->workers, sizeof(*pl->w));
		if (!pl->w)
			return NULL;
		pl->tr = tr;
		pl->fn = fn;
		pl->n = fn->workers;
		for (i = 0; i < pl->n; i++) {
			pl->w[i].pool = pl;
			pl->w[i].idx = i;
		}
	}
	return pl;
}

/* ------------------------------------------------------------- resolve */

/* "exec:PATH" -> the program path, relative to @dir; NULL with @msg on error */
static char *exec_path(const char *resource, const char *dir, char *msg, size_t msglen)
{
	const char *p = resource + 5;
	char *r;

	if (p[0] == '/' && p[1] == '/') {
		if (p[2] != '/') {
			snprintf(msg, msglen,
				 "resource '%s': exec: URIs take a path, not a host (use "
				 "exec:///abs/path or exec:./relative/path)",
				 resource);
			return NULL;
		}
		p += 2;
	}
	if (!*p) {
		snprintf(msg, msglen, "resource '%s': no program path after exec:", resource);
		return NULL;
	}
	r = taskrun_abs_path(dir, p);
	if (!r)
		snprintf(msg, msglen, "out of memory");
	return r;
}

/* Parse "arn:PART:lambda:REGION:ACCT:function:NAME[:QUAL]"; false if not that shape. */
static bool parse_lambda_arn(const char *s, char *name, size_t nlen, char *qual, size_t qlen,
			     char *region, size_t rlen, char *acct, size_t alen)
{
	const char *f[8];
	size_t n = 0;
	const char *p = s;

	if (strncmp(s, "arn:", 4) != 0)
		return false;
	f[n++] = p;
	while ((p = strchr(p, ':')) && n < 8)
		f[n++] = ++p;
	/* f: arn, PART, lambda, REGION, ACCT, function, NAME, [QUAL] */
	if (n < 7 || strncmp(f[2], "lambda:", 7) != 0 || strncmp(f[5], "function:", 9) != 0)
		return false;
	snprintf(region, rlen, "%.*s", (int)(f[4] - f[3] - 1), f[3]);
	snprintf(acct, alen, "%.*s", (int)(f[5] - f[4] - 1), f[4]);
	if (n == 8) {
		snprintf(name, nlen, "%.*s", (int)(f[7] - f[6] - 1), f[6]);
		snprintf(qual, qlen, "%s", f[7]);
	} else {
		snprintf(name, nlen, "%s", f[6]);
		qual[0] = '\0';
	}
	return name[0] != '\0' && !strchr(qual, ':');
}

/* FunctionName of lambda:invoke: NAME, NAME:QUAL, ACCT:function:NAME[:QUAL] or a full ARN */
static bool parse_function_name(const char *fname, const struct taskrun_config *cfg, char *name,
				size_t nlen, char *qual, size_t qlen, char *region, size_t rlen,
				char *acct, size_t alen)
{
	const char *p;

	if (parse_lambda_arn(fname, name, nlen, qual, qlen, region, rlen, acct, alen))
		return true;
	snprintf(region, rlen, "%s", cfg->region);
	snprintf(acct, alen, "%s", cfg->account);
	p = strstr(fname, ":function:");
	if (p) {
		snprintf(acct, alen, "%.*s", (int)(p - fname), fname);
		fname = p + 10;
	}
	p = strchr(fname, ':');
	if (p) {
		snprintf(name, nlen, "%.*s", (int)(p - fname), fname);
		snprintf(qual, qlen, "%s", p + 1);
	} else {
		snprintf(name, nlen, "%s", fname);
		qual[0] = '\0';
	}
	return name[0] != '\0' && !strchr(qual, ':');
}

static bool is_invoke(const char *r)
{
	return strncmp(r, "arn:", 4) == 0 && strstr(r, ":states:::lambda:invoke") &&
	       strcmp(strstr(r, ":states:::lambda:invoke"), ":states:::lambda:invoke") == 0;
}

static int check_program(const char *path, const struct taskrun_config *cfg, char *msg,
			 size_t msglen)
{
	struct stat st;

	if (!strchr(path, '/')) {
		/* the lookup spawn's SPAWN_SEARCH_PATH makes, in the programs' PATH */
		const char *dir, *end;

		for (dir = cfg->path; *dir; dir = *end ? end + 1 : end) {
			char full[4096];

			end = strchr(dir, ':');
			if (!end)
				end = dir + strlen(dir);
			snprintf(full, sizeof(full), "%.*s/%s", (int)(end - dir), dir, path);
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
				return 0;
		}
		snprintf(msg, msglen, "program '%s' is not in PATH (%s)", path, cfg->path);
		return -1;
	}
	if (stat(path, &st) < 0) {
		snprintf(msg, msglen, "program '%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, msglen, "program '%s' is not a regular file", path);
		return -1;
	}
	if (!(st.st_mode & 0111) || access(path, X_OK) < 0) {
		snprintf(msg, msglen, "program '%s' is not executable (mode %04o)", path,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static int taskrun_check(void *arg, const char *resource, const char *definition_dir, char *msg,
			 size_t msglen)
{
	struct taskrun *tr = arg;
	char name[256], qual[128], region[128], acct[64];
	const struct fnent *fn;
	char *path;
	int r;

	if (strncmp(resource, "exec:", 5) == 0) {
		path = exec_path(resource, definition_dir, msg, msglen);
		if (!path)
			return -1;
		r = check_program(path, tr->cfg, msg, msglen);
		free(path);
		return r;
	}
	if (is_invoke(resource))
		return 0; /* FunctionName is known only at run time */
	if (parse_lambda_arn(resource, name, sizeof(name), qual, sizeof(qual), region,
			     sizeof(region), acct, sizeof(acct))) {
		fn = taskrun_config_find(tr->cfg, name, qual);
		if (!fn) {
			snprintf(msg, msglen,
				 "function '%s' is not in the functions table (\"functions\" in the "
				 "configuration file)",
				 name);
			return -1;
		}
		return check_program(fn->exec, tr->cfg, msg, msglen);
	}
	snprintf(msg, msglen,
		 "no task runner for resource '%s' (expected exec:PATH, a Lambda function ARN or "
		 "arn:aws:states:::lambda:invoke)",
		 resource);
	return -1;
}

/* --------------------------------------------------------------- start */

static int task_context_env(struct asl_task *t, const struct asl_task_req *req)
{
	char ***v = &t->env;
	size_t *n = &t->nenv;
	int r = 0;

	r |= env_setf(v, n, "STEPFS_EXECUTION_ARN=%s", req->execution_arn ? req->execution_arn : "");
	r |= env_setf(v, n, "STEPFS_EXECUTION_NAME=%s",
		      req->execution_name ? req->execution_name : "");
	r |= env_setf(v, n, "STEPFS_STATE_MACHINE=%s", req->state_machine ? req->state_machine : "");
	r |= env_setf(v, n, "STEPFS_STATE_NAME=%s", req->state_name ? req->state_name : "");
	r |= env_setf(v, n, "STEPFS_RETRY_COUNT=%d", req->retry_count);
	r |= env_setf(v, n, "STEPFS_REQUEST_ID=%s", t->request_id);
	r |= env_setf(v, n, "STEPFS_CHAIN_DEPTH=%u", req->chain_depth);
	if (req->task_token)
		r |= env_setf(v, n, "STEPFS_TASK_TOKEN=%s", req->task_token);
	if (t->timeout_s > 0)
		r |= env_setf(v, n, "STEPFS_TIMEOUT_SECONDS=%g", t->timeout_s);
	if (t->heartbeat_s > 0) {
		r |= env_setf(v, n, "STEPFS_HEARTBEAT_SECONDS=%g", t->heartbeat_s);
		if (!(t->fn && t->fn->workers))
			r |= env_setf(v, n, "STEPFS_HEARTBEAT_FD=3");
	}
	if (t->fn)
		r |= env_setf(v, n, "STEPFS_FUNCTION_NAME=%s", t->fn->name);
	if (req->credentials) {
		char *c = json_dumps(req->credentials, JSON_COMPACT | JSON_ENCODE_ANY);

		r |= c ? env_setf(v, n, "STEPFS_CREDENTIALS=%s", c) : -ENOMEM;
		free(c);
	}
	return r < 0 ? -ENOMEM : 0;
}

/* Lambda payload of lambda:invoke: a string Payload that is JSON text is sent as is. */
static char *invoke_payload(json_t *payload)
{
	if (!payload)
		return strdup("{}");
	if (json_is_string(payload)) {
		json_t *v = json_loads(json_string_value(payload), JSON_DECODE_ANY, NULL);

		if (v) {
			json_decref(v);
			return strdup(json_string_value(payload));
		}
	}
	return json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int taskrun_start(void *arg, struct loop *loop, const struct asl_task_req *req,
			 asl_task_done_fn done, void *done_arg, struct asl_task **ret,
			 struct asl_err *err)
{
	struct taskrun *tr = arg;
	const struct taskrun_config *cfg = tr->cfg;
	char name[256], qual[128], region[128], acct[64], msg[512];
	const char *resource = req->resource ? req->resource : "";
	const char *state = req->state_name ? req->state_name : "?";
	const char *notfound = NULL;
	json_t *payload_src = req->input;
	struct asl_task *t;

	if (tr->loop && tr->loop != loop)
		return asl_err_set(err, ASL_E_RUNTIME, "task runner used from two loops");
	tr->loop = loop;
	t = calloc(1, sizeof(*t));
	if (!t)
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	t->tr = tr;
	t->done = done;
	t->done_arg = done_arg;
	t->phase = TP_QUEUED;
	t->timeout_s = req->timeout_s;
	t->heartbeat_s = req->heartbeat_s;
	make_uuid(t->request_id);
	snprintf(t->version, sizeof(t->version), "$LATEST");
	t->resource = strdup(resource);
	t->state_name = strdup(state);
	t->machine = machine_get(tr, req->state_machine);
	if (!t->resource || !t->state_name || !t->machine)
		goto nomem;

	if (strncmp(resource, "exec:", 5) == 0) {
		t->kind = TK_EXEC;
		t->prog = exec_path(resource, req->definition_dir, msg, sizeof(msg));
		if (!t->prog) {
			asl_err_set(err, ASL_E_RUNTIME, "state '%s': %s", state, msg);
			goto fail;
		}
	} else if (is_invoke(resource)) {
		json_t *fname = json_object_get(req->input, "FunctionName");
		json_t *q = json_object_get(req->input, "Qualifier");

		t->kind = TK_INVOKE;
		if (!json_is_object(req->input) || !json_is_string(fname) ||
		    !parse_function_name(json_string_value(fname), cfg, name, sizeof(name), qual,
					 sizeof(qual), region, sizeof(region), acct, sizeof(acct))) {
			asl_err_set(err, ASL_E_RUNTIME,
				    "state '%s': arn:aws:states:::lambda:invoke needs the parameter "
				    "FunctionName (a function name or ARN)",
				    state);
			goto fail;
		}
		if (json_is_string(q) && !qual[0])
			snprintf(qual, sizeof(qual), "%s", json_string_value(q));
		payload_src = json_object_get(req->input, "Payload");
		t->fn = taskrun_config_find(cfg, name, qual);
		notfound = t->fn ? NULL : name;
	} else if (parse_lambda_arn(resource, name, sizeof(name), qual, sizeof(qual), region,
				    sizeof(region), acct, sizeof(acct))) {
		t->kind = TK_LAMBDA;
		t->fn = taskrun_config_find(cfg, name, qual);
		notfound = t->fn ? NULL : name;
	} else if (strstr(resource, ":lambda:invoke.")) {
		asl_err_set(err, ASL_E_RUNTIME,
			    "state '%s': resource '%s': only the request-response lambda:invoke is "
			    "supported",
			    state, resource);
		goto fail;
	} else {
		asl_err_set(err, ASL_E_RUNTIME,
			    "state '%s': no task runner for resource '%s' (expected exec:PATH, a "
			    "Lambda function ARN or arn:aws:states:::lambda:invoke)",
			    state, resource);
		goto fail;
	}
	if (t->kind != TK_EXEC) {
		if (qual[0] && strspn(qual, "0123456789") == strlen(qual))
			snprintf(t->version, sizeof(t->version), "%.60s", qual);
		if (asprintf(&t->fn_arn, "arn:aws:lambda:%s:%s:function:%s", region, acct, name) < 0) {
			t->fn_arn = NULL;
			goto nomem;
		}
	}
	if (t->fn) {
		t->prog = strdup(t->fn->exec);
		if (!t->prog)
			goto nomem;
		if (t->timeout_s <= 0)
			t->timeout_s = t->fn->timeout_s;
	}
	if (t->kind == TK_INVOKE)
		t->payload = invoke_payload(payload_src);
	else
		t->payload = json_dumps(payload_src ? payload_src : json_null(),
					JSON_COMPACT | JSON_ENCODE_ANY);
	if (!t->payload)
		goto nomem;
	t->payload_len = strlen(t->payload);
	{
		const char *cwd = t->fn && t->fn->cwd ? t->fn->cwd : cfg->cwd ? cfg->cwd : req->definition_dir;

		if (cwd && *cwd && !(t->cwd = taskrun_abs_path(NULL, cwd)))
			goto nomem;
	}
	if (task_context_env(t, req) < 0)
		goto nomem;

	t->all_next = tr->tasks;
	if (t->all_next)
		t->all_next->all_prev = t;
	tr->tasks = t;

	if (notfound) {
		task_fail_later(t, "Lambda.ResourceNotFoundException",
				"Function not found: %s%s%s (Service: AWSLambda; Status Code: 404; "
				"Error Code: ResourceNotFoundException; Request ID: %s; Proxy: null)",
				t->fn_arn, ":", qual[0] ? qual : "$LATEST", t->request_id);
	} else if (t->payload_len > cfg->payload_limit) {
		task_fail_later(t, ASL_E_DATALIMIT,
				"The state/task '%s' has an input of %zu bytes, more than the limit "
				"of %zu bytes",
				state, t->payload_len, cfg->payload_limit);
	} else if (!tr->qhead && slot_free(tr, t)) {
		task_dispatch(t);
	} else {
		q_append(&tr->qhead, &tr->qtail, t);
		tr->queued++;
		taskrun_pump(tr); /* another state machine may still have room */
	}
	*ret = t;
	return 0;
nomem:
	asl_err_set(err, ASL_E_RUNTIME, "out of memory");
fail:
	free(t->prog);
	free(t->cwd);
	free(t->resource);
	free(t->fn_arn);
	free(t->state_name);
	taskrun_strv_free(t->env);
	free(t->payload);
	free(t);
	return -1;
}

static void taskrun_cancel(void *arg, struct asl_task *t)
{
	struct taskrun *tr = arg;

	switch (t->phase) {
	case TP_QUEUED:
		q_remove(&tr->qhead, &tr->qtail, t);
		tr->queued--;
		break;
	case TP_POOLQ: {
		struct pool *pl = pool_for(tr, t->fn);

		q_remove(&pl->qhead, &pl->qtail, t);
		tr->queued--;
		break;
	}
	case TP_RUNNING:
		if (t->worker) {
			struct worker *w = t->worker;

			w->cur = NULL;
			t->worker = NULL;
			worker_kill(w);
		}
		if (t->proc) {
			proc_signal(t->proc, SIGKILL);
			proc_detach(t->proc);
			t->proc = NULL;
		}
		break;
	case TP_DEFERRED:
		break;
	}
	slot_release(t);
	task_free(t);
	taskrun_pump(tr);
}

/* ------------------------------------------------------------- runner */

static int base_env_build(struct taskrun *tr)
{
	const struct taskrun_config *cfg = tr->cfg;
	size_t i;
	int r = 0;

	for (i = 0; i < cfg->npass; i++) {
		const char *v = getenv(cfg->pass[i]);

		if (cfg->set_ids && (strcmp(cfg->pass[i], "HOME") == 0 ||
				     strcmp(cfg->pass[i], "USER") == 0 ||
				     strcmp(cfg->pass[i], "LOGNAME") == 0))
			continue; /* those of the run-as user, below */
		if (v)
			r |= env_setf(&tr->base_env, &tr->nbase, "%s=%s", cfg->pass[i], v);
	}
	if (cfg->set_ids) {
		r |= env_setf(&tr->base_env, &tr->nbase, "HOME=%s", cfg->home);
		r |= env_setf(&tr->base_env, &tr->nbase, "USER=%s", cfg->user);
		r |= env_setf(&tr->base_env, &tr->nbase, "LOGNAME=%s", cfg->user);
	}
	r |= env_setf(&tr->base_env, &tr->nbase, "PATH=%s", cfg->path);
	for (i = 0; i < cfg->nenv; i++)
		r |= env_set(&tr->base_env, &tr->nbase, strdup(cfg->env[i]));
	return r < 0 ? -ENOMEM : 0;
}

struct taskrun *taskrun_new(const struct taskrun_config *cfg)
{
	struct taskrun *tr = calloc(1, sizeof(*tr));

	if (!tr)
		return NULL;
	if (!cfg) {
		tr->own_cfg = taskrun_config_new();
		if (!tr->own_cfg) {
			free(tr);
			return NULL;
		}
		cfg = tr->own_cfg;
	}
	tr->cfg = cfg;
	if (base_env_build(tr) < 0) {
		taskrun_free(tr);
		return NULL;
	}
	return tr;
}

void taskrun_free(struct taskrun *tr)
{
	struct machine *m;
	size_t i;

	if (!tr)
		return;
	while (tr->tasks) {
		struct asl_task *t = tr->tasks;

		if (t->proc)
			t->proc->owner = NULL;
		t->proc = NULL;
		task_free(t);
	}
	if (tr->pools) {
		for (i = 0; i < tr->cfg->nfns; i++) {
			struct pool *pl = &tr->pools[i];
			unsigned k;

			for (k = 0; pl->w && k < pl->n; k++) {
				loop_timer_cancel(tr->loop, pl->w[k].t_restart);
				if (pl->w[k].proc)
					pl->w[k].proc->owner = NULL;
			}
			free(pl->w);
		}
		free(tr->pools);
	}
	while (tr->procs)
		proc_free(tr->procs);
	while ((m = tr->machines)) {
		tr->machines = m->next;
		free(m->name);
		free(m);
	}
	taskrun_strv_free(tr->base_env);
	taskrun_config_free(tr->own_cfg);
	free(tr);
}

void taskrun_ops(struct taskrun *tr, struct asl_task_ops *ops)
{
	ops->start = taskrun_start;
	ops->cancel = taskrun_cancel;
	ops->check = taskrun_check;
	ops->arg = tr;
}

void taskrun_get_stats(const struct taskrun *tr, struct taskrun_stats *ret)
{
	size_t i;
	unsigned k;

	memset(ret, 0, sizeof(*ret));
	ret->running = tr->running;
	ret->queued = tr->queued;
	ret->spawned = tr->spawned;
	ret->worker_restarts = tr->restarts;
	for (i = 0; tr->pools && i < tr->cfg->nfns; i++)
		for (k = 0; tr->pools[i].w && k < tr->pools[i].n; k++)
			if (tr->pools[i].w[k].proc && !tr->pools[i].w[k].proc->exited)
				ret->workers++;
}
