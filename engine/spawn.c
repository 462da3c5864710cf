/*
 * spawn: child processes with a clean slate. Two paths share one contract:
 * posix_spawn() when nothing but descriptors, directory, process group and
 * signals must be set up (glibc 2.36 runs it with CLONE_VFORK, so it costs
 * little even for a large parent), and fork()+execve() when credentials,
 * rlimits or a nice value must change, which posix_spawn cannot do.
 *
 * Invariant: on both paths the child starts the program with fds 0-2 (and 3
 * when asked) set as requested, every other descriptor closed, an empty
 * signal mask, default dispositions and (unless SPAWN_KEEP_PGRP) its own
 * process group; exec errors come back to spawn_start() as -errno.
 *
 * Descriptor shuffling: a source descriptor below 4 that is not already its
 * own target would be clobbered by an earlier dup2(), so such sources are
 * first moved to a close-on-exec copy above 3.
 */
#include "engine/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define NSTD 4 /* fds 0..3 */

struct plan {
	int src[NSTD];     /* child fd i comes from src[i]; -1: leave as is (inherit / closed) */
	int parent[NSTD];  /* our end of a pipe we created, or -1 */
	int tmp[NSTD * 2]; /* descriptors to close after the spawn */
	int ntmp;
	int first_close;   /* closefrom() start: 3, or 4 when fd 3 is passed */
	char pathbuf[PATH_MAX];
	const char *path;
};

static void plan_close_tmp(struct plan *p)
{
	int i;

	for (i = 0; i < p->ntmp; i++)
		(void)close(p->tmp[i]);
	p->ntmp = 0;
}

static void plan_fail(struct plan *p)
{
	int i;

	plan_close_tmp(p);
	for (i = 0; i < NSTD; i++)
		if (p->parent[i] >= 0)
			(void)close(p->parent[i]);
}

/* Set up the child end of stream @i (0 stdin, 1 stdout, 2 stderr) from @how. */
static int plan_stream(struct plan *p, int i, int how, int *devnull, bool nonblock)
{
	int fds[2];

	switch (how) {
	case SPAWN_FD_INHERIT:
		p->src[i] = -1;
		return 0;
	case SPAWN_FD_NULL:
		if (*devnull < 0) {
			*devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (*devnull < 0)
				return -errno;
			p->tmp[p->ntmp++] = *devnull;
		}
		p->src[i] = *devnull;
		return 0;
	case SPAWN_FD_PIPE:
		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		/* stdin: the child reads fds[0]; stdout/stderr: the child writes fds[1] */
		p->src[i] = i == 0 ? fds[0] : fds[1];
		p->parent[i] = i == 0 ? fds[1] : fds[0];
		p->tmp[p->ntmp++] = p->src[i];
		if (nonblock && fcntl(p->parent[i], F_SETFL, O_NONBLOCK) < 0)
			return -errno;
		return 0;
	default:
		if (how < 0)
			return -EINVAL;
		p->src[i] = how;
		return 0;
	}
}

/* Move sources below NSTD that are not their own target out of the way. */
static int plan_lift(struct plan *p)
{
	int i, fd;

	for (i = 0; i < NSTD; i++) {
		if (p->src[i] < 0 || p->src[i] >= NSTD || p->src[i] == i)
			continue;
		fd = fcntl(p->src[i], F_DUPFD_CLOEXEC, NSTD);
		if (fd < 0)
			return -errno;
		p->tmp[p->ntmp++] = fd;
		p->src[i] = fd;
	}
	return 0;
}

static const char *env_get(const char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* execvpe-like lookup of @file in the child's PATH, done in the parent. */
static int plan_search(struct plan *p, const char *file, const char *const *envp)
{
	const char *path = env_get(envp, "PATH");
	const char *dir, *end;
	struct stat st;
	int r = -ENOENT;

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (dir = path; *dir; dir = *end ? end + 1 : end) {
		size_t dl;
		int n;

		end = strchr(dir, ':');
		if (!end)
			end = dir + strlen(dir);
		dl = (size_t)(end - dir);
		n = snprintf(p->pathbuf, sizeof(p->pathbuf), "%.*s%s%s", (int)dl, dir,
			     dl ? "/" : "", file);
		if (n < 0 || (size_t)n >= sizeof(p->pathbuf))
			continue;
		if (stat(p->pathbuf, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(p->pathbuf, X_OK) < 0) {
			r = -EACCES;
			continue;
		}
		p->path = p->pathbuf;
		return 0;
	}
	return r;
}

static int spawn_posix(struct spawn *s, struct plan *p, char *const *envp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	pid_t pid;
	int i, r;

	r = -posix_spawnattr_init(&attr);
	if (r < 0)
		return r;
	r = -posix_spawn_file_actions_init(&fa);
	if (r < 0) {
		posix_spawnattr_destroy(&attr);
		return r;
	}
	if (!(s->flags & SPAWN_KEEP_PGRP))
		flags |= POSIX_SPAWN_SETPGROUP;
	sigemptyset(&mask);
	r = -posix_spawnattr_setsigmask(&attr, &mask);
	if (r < 0)
		goto out;
	/*
	 * Every signal, including glibc's internal 32 and 33 that sigfillset()
	 * leaves out: glibc's spawn child sets those to SIG_IGN otherwise, and
	 * an ignored signal survives execve().
	 */
	memset(&mask, 0xff, sizeof(mask));
	r = -posix_spawnattr_setsigdefault(&attr, &mask);
	if (r < 0)
		goto out;
	r = -posix_spawnattr_setpgroup(&attr, 0);
	if (r < 0)
		goto out;
	r = -posix_spawnattr_setflags(&attr, flags);
	if (r < 0)
		goto out;
	for (i = 0; i < NSTD; i++) {
		if (p->src[i] < 0)
			continue;
		/* dup2(fd, fd) in a file action clears FD_CLOEXEC (glibc >= 2.29) */
		r = -posix_spawn_file_actions_adddup2(&fa, p->src[i], i);
		if (r < 0)
			goto out;
	}
	r = -posix_spawn_file_actions_addclosefrom_np(&fa, p->first_close);
	if (r < 0)
		goto out;
	if (s->cwd) {
		r = -posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
		if (r < 0)
			goto out;
	}
	r = -posix_spawn(&pid, p->path, &fa, &attr, (char *const *)s->argv, envp);
	if (r < 0)
		goto out;
	s->pid = pid;
out:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return r;
}

/*
 * The forked child: async-signal-safe calls only (no malloc, no stdio, no
 * locks). Credentials change through raw syscalls, not glibc's setxid
 * broadcast, since only this thread exists. Reports errno over @errfd.
 */
static void __attribute__((noreturn))
child_exec(const struct spawn *s, const struct plan *p, char *const *envp, int errfd)
{
	struct sigaction sa;
	sigset_t mask;
	int i, sig, e;

	if (!(s->flags & SPAWN_KEEP_PGRP) && setpgid(0, 0) < 0)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		/*
		 * glibc's sigaction() refuses its internal signals (32, 33), which
		 * an ignoring parent may have left SIG_IGN (glibc's own spawn does
		 * that): reset them with the raw syscall. Zeroed kernel sigaction:
		 * handler, flags, [restorer,] mask.
		 */
		struct {
			void *handler;
			unsigned long flags, restorer, mask;
		} ksa = { 0 };

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, &sa, NULL) < 0)
			(void)syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
	}
	for (i = 0; i < NSTD; i++) {
		if (p->src[i] < 0)
			continue;
		if (p->src[i] == i) {
			if (fcntl(i, F_SETFD, 0) < 0)
				goto fail;
		} else if (dup2(p->src[i], i) < 0) {
			goto fail;
		}
	}
	/* mark everything else close-on-exec; @errfd must survive until execve() */
	if (syscall(SYS_close_range, (unsigned)p->first_close, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		int fd;

		for (fd = p->first_close; fd < 65536; fd++)
			if (fd != errfd)
				(void)close(fd);
	}
	if (s->cwd && chdir(s->cwd) < 0)
		goto fail;
	for (i = 0; i < s->nrlimits; i++)
		if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].lim) < 0)
			goto fail;
	if (s->set_nice && setpriority(PRIO_PROCESS, 0, s->nice) < 0)
		goto fail;
	if (s->set_ids) {
		if (syscall(SYS_setgroups, (size_t)s->ngroups, s->groups) < 0)
			goto fail;
		if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
			goto fail;
		if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
			goto fail;
	}
	sigemptyset(&mask);
	(void)sigprocmask(SIG_SETMASK, &mask, NULL);
	execve(p->path, (char *const *)s->argv, envp);
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

static int spawn_fork(struct spawn *s, struct plan *p, char *const *envp)
{
	sigset_t all, old;
	int errpipe[2];
	pid_t pid;
	ssize_t n;
	int e = 0, status;

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return -errno;
	/* no handler of ours may run in the child before it resets dispositions */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		(void)close(errpipe[0]);
		child_exec(s, p, envp, errpipe[1]);
	}
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)close(errpipe[1]);
	if (pid < 0) {
		(void)close(errpipe[0]);
		return -e;
	}
	do
		n = read(errpipe[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	(void)close(errpipe[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return e > 0 ? -e : -ECHILD;
	}
	s->pid = pid;
	return 0;
}

int spawn_start(struct spawn *s)
{
	static const char *const empty_env[] = { NULL };
	const char *const *envp = s->envp ? s->envp : empty_env;
	bool nonblock = s->flags & SPAWN_NONBLOCK;
	struct plan p;
	int devnull = -1;
	int i, r;

	if (!s->argv || !s->argv[0])
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	for (i = 0; i < NSTD; i++)
		p.parent[i] = -1;
	p.path = s->path ? s->path : s->argv[0];
	if ((s->flags & SPAWN_SEARCH_PATH) && !strchr(p.path, '/')) {
		r = plan_search(&p, p.path, envp);
		if (r < 0)
			return r;
	}
	r = plan_stream(&p, 0, s->in, &devnull, nonblock);
	if (r >= 0)
		r = plan_stream(&p, 1, s->out, &devnull, nonblock);
	if (r >= 0)
		r = plan_stream(&p, 2, s->err, &devnull, nonblock);
	if (r < 0)
		goto fail;
	p.src[3] = s->fd3;
	p.first_close = s->fd3 >= 0 ? 4 : 3;
	r = plan_lift(&p);
	if (r < 0)
		goto fail;

	fflush(NULL);
	if (s->set_ids || s->nrlimits > 0 || s->set_nice)
		r = spawn_fork(s, &p, (char *const *)envp);
	else
		r = spawn_posix(s, &p, (char *const *)envp);
	if (r < 0)
		goto fail;
	plan_close_tmp(&p);
	if (s->in == SPAWN_FD_PIPE)
		s->in = p.parent[0];
	if (s->out == SPAWN_FD_PIPE)
		s->out = p.parent[1];
	if (s->err == SPAWN_FD_PIPE)
		s->err = p.parent[2];
	s->status = 0;
	return 0;
fail:
	plan_fail(&p);
	return r;
}

static int spawn_wait(struct spawn *s, int options)
{
	int status;
	pid_t r;

	if (s->pid <= 0) {
		errno = ECHILD;
		return -1;
	}
	do
		r = waitpid(s->pid, &status, options);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = EAGAIN;
		return -1;
	}
	s->pid = -1;
	s->status = status;
	return spawn_status_code(status);
}

int spawn_finish(struct spawn *s)
{
	return spawn_wait(s, 0);
}

int spawn_try_finish(struct spawn *s)
{
	return spawn_wait(s, WNOHANG);
}

int spawn_run(struct spawn *s)
{
	int r = spawn_start(s);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	return spawn_finish(s);
}

int spawn_status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

char *spawn_status_describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, len, "killed by signal %d (SIG%s)%s", WTERMSIG(status),
			 abbrev ? abbrev : "?", WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(buf, len, "ended with wait status 0x%x", (unsigned)status);
	}
	return buf;
}
