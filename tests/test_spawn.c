/*
 * Unit tests for engine/spawn.c with real programs: exit codes and signals,
 * exec errors, descriptors (nothing of ours beyond 0/1/2 reaches the child,
 * even descriptors opened without close-on-exec), empty environment, process
 * group, signal mask and dispositions, and the fork path (rlimits, nice,
 * run-as user).
 */
#include "engine/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

static char helper[PATH_MAX];

static void find_helper(void)
{
	ssize_t n = readlink("/proc/self/exe", helper, sizeof(helper) - 32);
	char *slash;

	helper[n > 0 ? n : 0] = '\0';
	slash = strrchr(helper, '/');
	strcpy(slash ? slash + 1 : helper, "helper_task");
}

/* Run helper MODE with stdin @in, capture stdout as JSON. */
static json_t *run_helper(struct spawn *s, const char *mode, const char *in, int *ret_code)
{
	const char *argv[] = { helper, mode, NULL };
	char out[1 << 16];
	size_t len = 0;
	ssize_t n;
	json_t *v;

	s->argv = argv;
	s->in = SPAWN_FD_PIPE;
	s->out = SPAWN_FD_PIPE;
	if (spawn_start(s) < 0)
		return NULL;
	if (in)
		(void)!write(s->in, in, strlen(in));
	close(s->in);
	while ((n = read(s->out, out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	close(s->out);
	*ret_code = spawn_finish(s);
	v = json_loadb(out, len, JSON_DECODE_ANY, NULL);
	return v;
}

int main(void)
{
	const char *t_true[] = { "/bin/true", NULL };
	const char *t_false[] = { "/bin/false", NULL };
	const char *t_kill[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	const char *t_missing[] = { "/nonexistent/prog", NULL };
	const char *t_path[] = { "true", NULL };
	char tmpl[] = "/tmp/stepfs-spawn-XXXXXX";
	char noexec[PATH_MAX];
	struct spawn s = SPAWN_INIT;
	struct sigaction sa;
	sigset_t block;
	json_t *v;
	int code, fd_plain, fd_sock, i;

	find_helper();
	signal(SIGPIPE, SIG_IGN);

	/* exit codes, signals */
	s.argv = t_true;
	CHECK_INT_EQ(spawn_run(&s), 0);
	s = (struct spawn)SPAWN_INIT;
	s.argv = t_false;
	CHECK_INT_EQ(spawn_run(&s), 1);
	s = (struct spawn)SPAWN_INIT;
	s.argv = t_kill;
	CHECK_INT_EQ(spawn_run(&s), 128 + SIGKILL);
	CHECK(WIFSIGNALED(s.status) && WTERMSIG(s.status) == SIGKILL);
	{
		char d[96];

		CHECK_STR_EQ(spawn_status_describe(s.status, d, sizeof(d)),
			     "killed by signal 9 (SIGKILL)");
		CHECK_STR_EQ(spawn_status_describe(W_EXITCODE(3, 0), d, sizeof(d)),
			     "exited with status 3");
	}

	/* exec errors come back as errno */
	s = (struct spawn)SPAWN_INIT;
	s.argv = t_missing;
	errno = 0;
	CHECK_INT_EQ(spawn_run(&s), -1);
	CHECK_INT_EQ(errno, ENOENT);
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(noexec, sizeof(noexec), "%s/noexec", tmpl);
	close(open(noexec, O_CREAT | O_WRONLY, 0644));
	{
		const char *av[] = { noexec, NULL };

		s = (struct spawn)SPAWN_INIT;
		s.argv = av;
		CHECK_INT_EQ(spawn_start(&s), -EACCES);
	}
	/* PATH search uses the child's PATH (empty env: the default PATH) */
	s = (struct spawn)SPAWN_INIT;
	s.argv = t_path;
	s.flags = SPAWN_SEARCH_PATH;
	CHECK_INT_EQ(spawn_run(&s), 0);
	{
		const char *env[] = { "PATH=/nonexistent", NULL };

		s = (struct spawn)SPAWN_INIT;
		s.argv = t_path;
		s.envp = env;
		s.flags = SPAWN_SEARCH_PATH;
		CHECK_INT_EQ(spawn_start(&s), -ENOENT);
	}
	/* a missing working directory fails the spawn, not the program */
	s = (struct spawn)SPAWN_INIT;
	s.argv = t_true;
	s.cwd = "/nonexistent-dir";
	CHECK_INT_EQ(spawn_start(&s), -ENOENT);

	/*
	 * The daemon's descriptors: a plain open() and a socket, both without
	 * close-on-exec (as libcurl 7.88 creates them), must not reach the child.
	 * Also: an ignored and a blocked signal must not either.
	 */
	fd_plain = open("/dev/null", O_RDONLY);
	fd_sock = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd_plain >= 3 && fd_sock >= 3);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	for (i = 0; i < 2; i++) {
		/* i == 0: posix_spawn path; i == 1: fork path (an rlimit forces it) */
		const char *env[] = { "ONLY=this", NULL };

		s = (struct spawn)SPAWN_INIT;
		s.envp = env;
		s.cwd = tmpl;
		if (i == 1) {
			s.nrlimits = 1;
			s.rlimits[0].resource = RLIMIT_NOFILE;
			s.rlimits[0].lim.rlim_cur = s.rlimits[0].lim.rlim_max = 77;
			s.set_nice = true;
			s.nice = 5;
		}
		v = run_helper(&s, "report", "{}", &code);
		CHECK(v != NULL);
		CHECK_INT_EQ(code, 0);
		CHECK_INT_EQ(json_array_size(json_object_get(v, "fds")), 0);
		if (json_array_size(json_object_get(v, "fds")))
			fprintf(stderr, "leaked: %s\n",
				json_dumps(json_object_get(v, "fds"), JSON_COMPACT));
		CHECK_INT_EQ(json_object_size(json_object_get(v, "env")), 1);
		CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(v, "env"), "ONLY")),
			     "this");
		CHECK_STR_EQ(json_string_value(json_object_get(v, "cwd")), tmpl);
		CHECK_INT_EQ(json_integer_value(json_object_get(v, "pgid")),
			     json_integer_value(json_object_get(v, "pid")));
		CHECK_STR_EQ(json_string_value(json_object_get(v, "SigBlk")), "0000000000000000");
		CHECK_STR_EQ(json_string_value(json_object_get(v, "SigIgn")), "0000000000000000");
		if (strcmp(json_string_value(json_object_get(v, "SigIgn")), "0000000000000000"))
			fprintf(stderr, "path %d\n", i);
		if (i == 1) {
			CHECK_INT_EQ(json_integer_value(json_object_get(v, "nofile")), 77);
			CHECK_INT_EQ(json_integer_value(json_object_get(v, "nice")), 5);
		}
		json_decref(v);
	}
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	signal(SIGUSR1, SIG_DFL);

	/* fd 3 passing: only the given descriptor appears, as fd 3 */
	{
		int p[2];

		CHECK(pipe2(p, O_CLOEXEC) == 0);
		s = (struct spawn)SPAWN_INIT;
		s.fd3 = p[1];
		v = run_helper(&s, "report", "{}", &code);
		CHECK_INT_EQ(json_array_size(json_object_get(v, "fds")), 1);
		CHECK_INT_EQ(json_integer_value(json_object_get(
				     json_array_get(json_object_get(v, "fds"), 0), "fd")),
			     3);
		json_decref(v);
		close(p[0]);
		close(p[1]);
	}

	/* /dev/null and SPAWN_KEEP_PGRP */
	s = (struct spawn)SPAWN_INIT;
	s.flags = SPAWN_KEEP_PGRP;
	v = run_helper(&s, "report", NULL, &code);
	CHECK_INT_EQ(json_integer_value(json_object_get(v, "pgid")), getpgid(0));
	json_decref(v);

	/* run as another user (fork path): needs root and the user "nobody" */
	if (geteuid() == 0 && getpwnam("nobody")) {
		struct passwd *pw = getpwnam("nobody");

		s = (struct spawn)SPAWN_INIT;
		s.set_ids = true;
		s.uid = pw->pw_uid;
		s.gid = pw->pw_gid;
		s.ngroups = 1;
		s.groups[0] = pw->pw_gid;
		s.cwd = "/";
		v = run_helper(&s, "report", "{}", &code);
		CHECK_INT_EQ(code, 0);
		CHECK_INT_EQ(json_integer_value(json_object_get(v, "uid")), pw->pw_uid);
		CHECK_INT_EQ(json_integer_value(json_object_get(v, "euid")), pw->pw_uid);
		CHECK_INT_EQ(json_integer_value(json_object_get(v, "gid")), pw->pw_gid);
		CHECK_INT_EQ(json_array_size(json_object_get(v, "groups")), 1);
		CHECK_INT_EQ(json_array_size(json_object_get(v, "fds")), 0);
		json_decref(v);
		/* exec errors on the fork path come back too */
		s = (struct spawn)SPAWN_INIT;
		s.set_ids = true;
		s.uid = pw->pw_uid;
		s.gid = pw->pw_gid;
		s.argv = t_missing;
		CHECK_INT_EQ(spawn_start(&s), -ENOENT);
	} else {
		printf("note: not root or no user 'nobody': run-as check skipped\n");
	}

	close(fd_plain);
	close(fd_sock);
	unlink(noexec);
	rmdir(tmpl);
	return TEST_DONE();
}
