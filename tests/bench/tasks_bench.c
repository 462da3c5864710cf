/*
 * tasks_bench: launches per second of a minimal JSON echo program
 * (tests/helper_task echo), one at a time, through
 *   raw     posix_spawn + waitpid, stdio on /dev/null (the floor: nothing but
 *           process start and exit)
 *   rawio   posix_spawn with stdin/stdout pipes, write the input, read the
 *           output, waitpid (what any caller that wants the result must do)
 *   runner  the task runner (engine/taskrun.c) through asl_task_ops
 *   engine  one-Task-state executions on the ASL engine with the task runner
 *   worker  the runner's worker form (one long-lived instance)
 * Usage: tasks_bench MODE HELPER MIN_SECONDS. Prints one JSON line
 * {"mode", "n", "seconds", "rate"}. tests/bench/tasks.sh runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "engine/taskrun.h"

extern char **environ;

static const char *helper;
static const char input_text[] = "{\"key\":\"incoming/a.csv\",\"size\":1234}";

static int raw_once(bool io)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)helper, (char *)"echo", NULL };
	int in[2], out[2], status;
	char buf[4096];
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	if (io) {
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
			return -1;
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
		posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	}
	r = posix_spawn(&pid, helper, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -1;
	if (io) {
		close(in[0]);
		close(out[1]);
		(void)!write(in[1], input_text, sizeof(input_text) - 1);
		close(in[1]);
		while (read(out[0], buf, sizeof(buf)) > 0)
			;
		close(out[0]);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

struct seq {
	struct loop *loop;
	struct asl_task_ops ops;
	struct asl_task_req req;
	json_t *input;
	long done, failed;
	uint64_t deadline;
};

static void seq_next(struct seq *s);

static void seq_done(void *arg, json_t *output, const char *error, const char *cause)
{
	struct seq *s = arg;

	s->done++;
	if (error || !json_is_object(output)) {
		s->failed++;
		if (s->failed < 3)
			fprintf(stderr, "task failed: %s: %s\n", error ? error : "?",
				cause ? cause : "");
	}
	json_decref(output);
	if (loop_now_ms() >= s->deadline) {
		loop_stop(s->loop);
		return;
	}
	seq_next(s);
}

static void seq_next(struct seq *s)
{
	struct asl_task *t;
	struct asl_err err;

	if (s->ops.start(s->ops.arg, s->loop, &s->req, seq_done, s, &t, &err) < 0) {
		fprintf(stderr, "start: %s: %s\n", err.error, err.cause);
		loop_stop(s->loop);
	}
}

static struct taskrun_config *bench_config(unsigned workers)
{
	struct taskrun_config *cfg = NULL;
	char err[512];
	json_t *root = json_pack("{s:{s:{s:s,s:[s],s:i}}}", "functions", "echo", "exec", helper,
				 "args", "echo", "workers", (int)workers);

	if (workers)
		json_object_set_new(json_object_get(json_object_get(root, "functions"), "echo"),
				    "args", json_pack("[s]", "worker"));
	if (taskrun_config_parse(root, NULL, &cfg, err, sizeof(err)) < 0)
		fprintf(stderr, "config: %s\n", err);
	json_decref(root);
	return cfg;
}

int main(int argc, char **argv)
{
	const char *mode;
	double min_s;
	uint64_t t0, t1;
	long n = 0, failed = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: tasks_bench raw|rawio|runner|engine|worker HELPER MIN_SECONDS\n");
		return 2;
	}
	mode = argv[1];
	helper = argv[2];
	min_s = atof(argv[3]);
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);

	/* warm up: page cache, dynamic loader */
	raw_once(true);
	t0 = loop_now_ms();
	if (!strcmp(mode, "raw") || !strcmp(mode, "rawio")) {
		do {
			if (raw_once(!strcmp(mode, "rawio")) < 0)
				failed++;
			n++;
		} while (loop_now_ms() - t0 < (uint64_t)(min_s * 1000));
	} else if (!strcmp(mode, "runner") || !strcmp(mode, "worker")) {
		struct taskrun_config *cfg = bench_config(!strcmp(mode, "worker") ? 1 : 0);
		struct taskrun *tr = taskrun_new(cfg);
		struct seq s = { 0 };

		s.loop = loop_new();
		taskrun_ops(tr, &s.ops);
		s.input = json_loads(input_text, 0, NULL);
		s.req.resource = "arn:aws:lambda:us-east-1:123456789012:function:echo";
		s.req.input = s.input;
		s.req.state_name = "Echo";
		s.req.state_machine = "bench";
		s.req.execution_arn = "arn:aws:states:us-east-1:123456789012:execution:bench:x";
		s.req.execution_name = "x";
		/* warm the worker up before timing */
		s.deadline = 0;
		seq_next(&s);
		loop_run(s.loop);
		s.done = s.failed = 0;
		t0 = loop_now_ms();
		s.deadline = t0 + (uint64_t)(min_s * 1000);
		seq_next(&s);
		loop_run(s.loop);
		n = s.done;
		failed = s.failed;
		t1 = loop_now_ms();
		taskrun_free(tr);
		taskrun_config_free(cfg);
		loop_free(s.loop);
		json_decref(s.input);
		goto print;
	} else if (!strcmp(mode, "engine")) {
		struct taskrun_config *cfg = bench_config(0);
		struct taskrun *tr = taskrun_new(cfg);
		struct asl_task_ops ops;
		struct loop *loop = loop_new();
		struct asl_engine *e;
		struct asl_machine *m = NULL;
		struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
		json_t *def = json_loads("{\"StartAt\": \"Echo\", \"States\": {\"Echo\": {\"Type\": "
					 "\"Task\", \"Resource\": "
					 "\"arn:aws:lambda:us-east-1:123456789012:function:echo\", "
					 "\"End\": true}}}",
					 0, NULL);
		json_t *input = json_loads(input_text, 0, NULL);
		char *msg = NULL;

		taskrun_ops(tr, &ops);
		e = asl_engine_new(loop, &ops);
		xo.type = ASL_EXPRESS;
		if (asl_machine_new(def, NULL, &m, &msg) < 0) {
			fprintf(stderr, "machine: %s\n", msg ? msg : "?");
			return 1;
		}
		do {
			struct asl_execution *x = NULL;

			if (asl_execution_run_sync(e, m, input, &xo, &x) < 0 ||
			    asl_execution_status(x) != ASL_SUCCEEDED)
				failed++;
			asl_execution_free(x);
			n++;
		} while (loop_now_ms() - t0 < (uint64_t)(min_s * 1000));
		asl_machine_unref(m);
		asl_engine_free(e);
		taskrun_free(tr);
		taskrun_config_free(cfg);
		loop_free(loop);
		json_decref(def);
		json_decref(input);
	} else {
		fprintf(stderr, "tasks_bench: unknown mode '%s'\n", mode);
		return 2;
	}
	t1 = loop_now_ms();
print:
	printf("{\"mode\":\"%s\",\"n\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rate\":%.1f}\n", mode,
	       n, failed, (double)(t1 - t0) / 1000.0,
	       t1 > t0 ? (double)n * 1000.0 / (double)(t1 - t0) : 0.0);
	return failed ? 1 : 0;
}
