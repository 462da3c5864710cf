/*
 * spawn: start a child process safely (shaped like git's run-command.h).
 *
 * Every child gets its own process group (so a timeout can kill the whole
 * tree with kill(-pid, sig)), an empty signal mask, default dispositions for
 * every signal, and no descriptor of the parent beyond 0/1/2 (and the one
 * optional extra descriptor that becomes fd 3): Debian 12's libcurl and
 * libinotifytools create descriptors without close-on-exec, and a task must
 * never inherit a live S3 connection. No shell is involved: argv and envp are
 * passed to execve() as given.
 *
 * Two paths, same guarantees:
 *  - posix_spawn() (glibc 2.36: clone(CLONE_VM|CLONE_VFORK)), the fast and
 *    common path;
 *  - fork() + execve() when a user/group, rlimits or a nice value are
 *    requested (posix_spawn cannot change credentials or limits). The child
 *    makes only async-signal-safe calls and reports an exec failure over a
 *    close-on-exec pipe, so spawn_start() still returns the real errno.
 *
 * Usage:
 *	struct spawn s = SPAWN_INIT;
 *	const char *argv[] = { "/usr/bin/true", NULL };
 *	s.argv = argv;
 *	r = spawn_run(&s);   (exit code, 128+signal, or -1 with errno)
 *
 * Thread-safety: a struct spawn belongs to one thread. spawn_start() may be
 * called from any thread (it calls fflush(NULL) first).
 */
#ifndef STEPFS_SPAWN_H
#define STEPFS_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Values for spawn.in / spawn.out / spawn.err (a value >= 0 is an fd to use) */
#define SPAWN_FD_INHERIT (-1) /* the child shares the parent's descriptor */
#define SPAWN_FD_NULL (-2)    /* /dev/null */
#define SPAWN_FD_PIPE (-3)    /* a new pipe; spawn_start() stores the parent's end back */

enum spawn_flags {
	/* parent ends of SPAWN_FD_PIPE pipes are O_NONBLOCK (for an event loop) */
	SPAWN_NONBLOCK = 1 << 0,
	/* stay in the parent's process group (default: a new group led by the child) */
	SPAWN_KEEP_PGRP = 1 << 1,
	/* resolve argv[0] through $PATH of the child's environment (execvpe-like) */
	SPAWN_SEARCH_PATH = 1 << 2,
};

#define SPAWN_MAX_RLIMITS 8
#define SPAWN_MAX_GROUPS 64

struct spawn_rlimit {
	int resource; /* RLIMIT_CPU, RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_NPROC ... */
	struct rlimit lim;
};

struct spawn {
	/* --- filled by the caller --- */
	const char *path;        /* program to execute; NULL: argv[0] */
	const char *const *argv; /* NULL-terminated, argv[0] required; borrowed */
	const char *const *envp; /* NULL-terminated; NULL means an EMPTY environment; borrowed */
	const char *cwd;         /* chdir() in the child; NULL: inherit */
	/*
	 * Standard descriptors: SPAWN_FD_INHERIT (the default), SPAWN_FD_NULL,
	 * SPAWN_FD_PIPE or a descriptor (borrowed: not closed by spawn_*, the
	 * caller keeps it). With SPAWN_FD_PIPE, spawn_start() replaces the value
	 * with the parent's end (O_CLOEXEC; the caller closes it).
	 */
	int in, out, err;
	/*
	 * If >= 0, becomes fd 3 in the child (e.g. the heartbeat pipe's write
	 * end). Borrowed, like the above. Every other descriptor >= 3 is closed.
	 */
	int fd3;
	unsigned flags;          /* enum spawn_flags */
	/* credentials (fork path): applied only if set_ids */
	bool set_ids;
	uid_t uid;
	gid_t gid;
	int ngroups;             /* supplementary groups; 0 = none (setgroups(0, NULL)) */
	gid_t groups[SPAWN_MAX_GROUPS];
	/* limits (fork path) */
	int nrlimits;
	struct spawn_rlimit rlimits[SPAWN_MAX_RLIMITS];
	bool set_nice;
	int nice;                /* setpriority(PRIO_PROCESS, 0, nice) */

	/* --- filled by spawn_start() / spawn_finish() --- */
	pid_t pid;               /* > 0 while the child has not been reaped */
	int status;              /* raw waitpid() status after spawn_finish() */
};

#define SPAWN_INIT                                                                     \
	{                                                                              \
		.in = SPAWN_FD_INHERIT, .out = SPAWN_FD_INHERIT, .err = SPAWN_FD_INHERIT, \
		.fd3 = -1, .pid = -1                                                   \
	}

/*
 * Start the child. Returns 0 (s->pid set, pipe ends stored in s->in/out/err)
 * or -errno if the program could not be started at all: ENOENT, EACCES,
 * ENOEXEC from execve() are reported here, as are failures of chdir() and of
 * setuid()/setgid()/setrlimit() on the fork path. On failure every pipe it
 * created is closed and s->in/out/err are left as the caller set them.
 */
int spawn_start(struct spawn *s);

/*
 * Wait for the child (waitpid() in an EINTR loop). Returns the exit code,
 * or 128 + signal number if it was killed, or -1 with errno set. The raw
 * status is kept in s->status. Does not close pipe ends.
 */
int spawn_finish(struct spawn *s);

/*
 * Like spawn_finish() but never blocks: returns -1 with errno EAGAIN while
 * the child is still running.
 */
int spawn_try_finish(struct spawn *s);

/* spawn_start() + spawn_finish(): exit code, 128 + signal, or -1 with errno set. */
int spawn_run(struct spawn *s);

/* Exit code or 128 + signal number for a raw waitpid() status. */
int spawn_status_code(int status);

/*
 * Describe a raw waitpid() status: "exited with status 3", "killed by signal
 * 9 (SIGKILL)", "killed by signal 11 (SIGSEGV), core dumped". Returns @buf.
 */
char *spawn_status_describe(int status, char *buf, size_t len);

#endif
