/*
 * Unit tests for engine/taskrun.c through struct asl_task_ops, with real
 * programs (tests/helper_task.c): results and errors, Lambda forms,
 * timeouts, signals, programs that do not read stdin, flood stdout, fork
 * children holding the pipes, print junk; heartbeats; isolation (descriptors,
 * environment, user); concurrency caps; workers; the check op; config errors.
 */
#include "engine/taskrun.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "tests/harness.h"

/* an ASan-built helper cannot start under an address-space limit */
#ifdef __SANITIZE_ADDRESS__
#define TEST_AS_LIMIT "\"unlimited\""
#define TEST_AS_VALUE ((long long)RLIM_INFINITY)
#else
#define TEST_AS_LIMIT "\"4G\""
#define TEST_AS_VALUE (4LL << 30)
#endif

#define CHECK_PREFIX(s, p) CHECK(strncmp((s), (p), strlen(p)) == 0)

static char helper[PATH_MAX];
static char tmpdir[] = "/tmp/stepfs-taskrun-XXXXXX";

struct res {
	int done;
	json_t *out;
	char error[300];
	char cause[8192];
	uint64_t ms;
};

static struct loop *L;
static int pending;

static void on_done(void *arg, json_t *out, const char *error, const char *cause)
{
	struct res *r = arg;

	r->done++;
	r->out = out;
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
	snprintf(r->cause, sizeof(r->cause), "%s", cause ? cause : "");
	if (--pending == 0)
		loop_stop(L);
}

static struct asl_task_req req_for(const char *resource, json_t *input)
{
	struct asl_task_req q = { 0 };

	q.resource = resource;
	q.input = input;
	q.state_name = "TestState";
	q.state_machine = "test-machine";
	q.execution_arn = "arn:aws:states:local:0:execution:test-machine:exec1";
	q.execution_name = "exec1";
	q.definition_dir = tmpdir;
	return q;
}

/* Start one task and run the loop until it is done. */
static void run1(struct asl_task_ops *ops, struct asl_task_req *q, struct res *r)
{
	struct asl_task *t;
	struct asl_err err;
	uint64_t t0 = loop_now_ms();

	memset(r, 0, sizeof(*r));
	pending = 1;
	if (ops->start(ops->arg, L, q, on_done, r, &t, &err) < 0) {
		snprintf(r->error, sizeof(r->error), "start:%s", err.error);
		snprintf(r->cause, sizeof(r->cause), "%s", err.cause);
		return;
	}
	loop_run(L);
	r->ms = loop_now_ms() - t0;
}

static struct taskrun_config *cfg_from(const char *fmt)
{
	char text[8192], err[512];
	struct taskrun_config *cfg = NULL;
	json_error_t jerr;
	json_t *root;

	/* %H in the template stands for the helper path */
	{
		size_t o = 0;
		const char *p;

		for (p = fmt; *p && o < sizeof(text) - PATH_MAX; p++) {
			if (p[0] == '%' && p[1] == 'H') {
				o += (size_t)snprintf(text + o, sizeof(text) - o, "%s", helper);
				p++;
			} else {
				text[o++] = *p;
			}
		}
		text[o] = '\0';
	}
	root = json_loads(text, 0, &jerr);
	if (!root) {
		fprintf(stderr, "bad test config: %s\n", jerr.text);
		return NULL;
	}
	if (taskrun_config_parse(root, tmpdir, &cfg, err, sizeof(err)) < 0)
		fprintf(stderr, "config: %s\n", err);
	json_decref(root);
	return cfg;
}

static void write_script(const char *name, const char *body, mode_t mode)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	fputs(body, f);
	fclose(f);
	chmod(path, mode);
}

static int count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static char *cfg_error(const char *json)
{
	static char err[512];
	struct taskrun_config *cfg = NULL;
	json_t *root = json_loads(json, 0, NULL);

	err[0] = '\0';
	if (taskrun_config_parse(root, "/base", &cfg, err, sizeof(err)) == 0)
		snprintf(err, sizeof(err), "OK");
	taskrun_config_free(cfg);
	json_decref(root);
	return err;
}

static void test_config_errors(void)
{
	CHECK_STR_EQ(cfg_error("{}"), "OK");
	CHECK_STR_EQ(cfg_error("{\"functions\": {\"f\": {\"exec\": \"./x\", \"workers\": 2}},"
			       " \"tasks\": {\"limits\": {\"as\": \"1G\", \"cpu\": 10}}}"),
		     "OK");
	CHECK_STR_EQ(cfg_error("{\"functions\": []}"),
		     "/functions: expected an object of NAME: {\"exec\": ...}");
	CHECK_STR_EQ(cfg_error("{\"functions\": {\"f\": {\"args\": []}}}"),
		     "/functions/f: missing \"exec\" (the program to run)");
	CHECK_STR_EQ(cfg_error("{\"functions\": {\"f\": {\"exec\": \"x\", \"exce\": 1}}}"),
		     "/functions/f/exce: unknown key (expected exec, args, workers, timeout, env, cwd)");
	CHECK_STR_EQ(cfg_error("{\"functions\": {\"f\": {\"exec\": \"x\", \"workers\": -1}}}"),
		     "/functions/f/workers: expected an integer from 0 to 256");
	CHECK_STR_EQ(cfg_error("{\"functions\": {\"f\": {\"exec\": \"x\", \"args\": [1]}}}"),
		     "/functions/f/args/0: expected a string");
	CHECK_STR_EQ(cfg_error("{\"functions\": {\"bad name\": \"x\"}}"),
		     "/functions/bad name: invalid function name (letters, digits, - _ . and an "
		     "optional :qualifier, or a Lambda ARN)");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"limits\": {\"as\": \"12Q\"}}}"),
		     "/tasks/limits/as: expected a size like 512M, 1G, 64K, a byte count or "
		     "\"unlimited\"");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"limits\": {\"stack\": 1}}}"),
		     "/tasks/limits/stack: unknown limit (expected cpu, as, nofile, nproc, fsize, "
		     "core)");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"user\": \"no-such-user-xyz\"}}"),
		     "/tasks/user: no user 'no-such-user-xyz'");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"env\": {\"A-B\": \"x\"}}}"),
		     "/tasks/env/A-B: invalid variable name");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"env\": {\"STEPFS_X\": \"x\"}}}"),
		     "/tasks/env/STEPFS_X: STEPFS_* variables are set by the runner");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"max_concurrency\": 0}}"),
		     "/tasks/max_concurrency: expected an integer from 1 to 100000");
	CHECK_STR_EQ(cfg_error("{\"tasks\": {\"nice\": 40}}"),
		     "/tasks/nice: expected an integer from -20 to 19");
	CHECK(strncmp(cfg_error("{\"tasks\": {\"tiemout\": 1}}"), "/tasks/tiemout: unknown key",
		      27) == 0);
}

int main(void)
{
	struct taskrun_config *cfg;
	struct taskrun *tr;
	struct asl_task_ops ops;
	struct asl_task_req q;
	struct res r;
	char msg[512], counter[PATH_MAX];
	json_t *in;
	ssize_t n;
	int fds_before;

	signal(SIGPIPE, SIG_IGN);
	n = readlink("/proc/self/exe", helper, sizeof(helper) - 32);
	helper[n > 0 ? n : 0] = '\0';
	strcpy(strrchr(helper, '/') + 1, "helper_task");
	if (!mkdtemp(tmpdir))
		return 1;
	fds_before = count_fds();
	L = loop_new();
	test_config_errors();

	cfg = cfg_from("{\"functions\": {"
		       " \"echo\": {\"exec\": \"%H\", \"args\": [\"echo\"]},"
		       " \"raise\": {\"exec\": \"%H\", \"args\": [\"lambda-raise\"]},"
		       " \"exit3\": {\"exec\": \"%H\", \"args\": [\"exit\", \"3\"]},"
		       " \"segv\": {\"exec\": \"%H\", \"args\": [\"signal\", \"10\"]},"
		       " \"sleep\": {\"exec\": \"%H\", \"args\": [\"sleep\", \"30\"]},"
		       " \"ignoreterm\": {\"exec\": \"%H\", \"args\": [\"ignoreterm\", \"30\"]},"
		       " \"noread\": {\"exec\": \"%H\", \"args\": [\"noread\"]},"
		       " \"bigin\": {\"exec\": \"%H\", \"args\": [\"bigin\"]},"
		       " \"flood\": {\"exec\": \"%H\", \"args\": [\"flood\"]},"
		       " \"fork\": {\"exec\": \"%H\", \"args\": [\"fork\"]},"
		       " \"forksetsid\": {\"exec\": \"%H\", \"args\": [\"forksetsid\"]},"
		       " \"junk\": {\"exec\": \"%H\", \"args\": [\"junk\"]},"
		       " \"report\": {\"exec\": \"%H\", \"args\": [\"report\"], \"env\": {\"FN_VAR\": \"fv\"}},"
		       " \"errcause\": {\"exec\": \"%H\", \"args\": [\"errorcause\", \"My.Error\", \"it broke\"]},"
		       " \"hb\": {\"exec\": \"%H\", \"args\": [\"heartbeat\", \"8\", \"100\"]},"
		       " \"hbnone\": {\"exec\": \"%H\", \"args\": [\"sleep\", \"5\"]},"
		       " \"big\": {\"exec\": \"%H\", \"args\": [\"big\", \"300000\"]},"
		       " \"w\": {\"exec\": \"%H\", \"args\": [\"worker\"], \"workers\": 2},"
		       " \"v1:7\": {\"exec\": \"%H\", \"args\": [\"echo\"]}"
		       "}, \"tasks\": {\"kill_grace\": 0.3, \"exit_grace\": 0.3,"
		       " \"env\": {\"CONFIGURED\": \"yes\"}}}");
	CHECK(cfg != NULL);
	if (!cfg)
		return TEST_DONE();
	setenv("AWS_SECRET_ACCESS_KEY", "leak-me-not", 1);
	setenv("SOME_DAEMON_VAR", "no", 1);
	setenv("LANG", "C.UTF-8", 1);
	tr = taskrun_new(cfg);
	taskrun_ops(tr, &ops);

	/* exec: relative to the definition directory, JSON in and out */
	write_script("prog.sh", "#!/bin/sh\nread x\necho \"{\\\"got\\\": $x}\"\n", 0755);
	in = json_pack("{s:i}", "a", 1);
	q = req_for("exec:./prog.sh", in);
	run1(&ops, &q, &r);
	CHECK_INT_EQ(r.done, 1);
	CHECK_STR_EQ(r.error, "");
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(r.out, "got"), "a")), 1);
	json_decref(r.out);
	q = req_for("exec://localhost/bin/true", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "start:States.Runtime"); /* exec://host is not a path */

	/* Lambda ARN: function table, echo */
	q = req_for("arn:aws:lambda:us-east-1:123456789012:function:echo", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "");
	CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "a")), 1);
	json_decref(r.out);
	/* qualifier: "v1:7" first, unknown qualifier falls back to the plain name */
	q = req_for("arn:aws:lambda:us-east-1:123456789012:function:v1:7", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "");
	json_decref(r.out);

	/* Lambda error: errorType + the error object as cause, with requestId */
	q = req_for("arn:aws:lambda:us-east-1:123456789012:function:raise", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "Exception");
	CHECK_PREFIX(r.cause, "{\"errorMessage\": \"Some exception was raised.\", \"errorType\": "
			      "\"Exception\", \"requestId\": \"");
	/* unknown function: Lambda.ResourceNotFoundException, delivered through done() */
	q = req_for("arn:aws:lambda:us-east-1:123456789012:function:nosuch", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "Lambda.ResourceNotFoundException");
	CHECK_PREFIX(r.cause,
		     "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nosuch:$LATEST "
		     "(Service: AWSLambda; Status Code: 404;");
	json_decref(in);

	/* lambda:invoke: Payload string that is JSON text is sent as is; result shape */
	in = json_pack("{s:s,s:s}", "FunctionName", "arn:aws:lambda:us-east-1:1:function:echo",
		       "Payload", "\"HelloWorld\"");
	q = req_for("arn:aws:states:::lambda:invoke", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "");
	CHECK_STR_EQ(json_string_value(json_object_get(r.out, "Payload")), "HelloWorld");
	CHECK_STR_EQ(json_string_value(json_object_get(r.out, "ExecutedVersion")), "$LATEST");
	CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "StatusCode")), 200);
	CHECK_STR_EQ(json_string_value(json_array_get(
			     json_object_get(json_object_get(json_object_get(r.out, "SdkHttpMetadata"),
							     "AllHttpHeaders"),
					     "Content-Length"),
			     0)),
		     "12");
	json_decref(r.out);
	json_decref(in);
	in = json_pack("{s:s,s:{s:i}}", "FunctionName", "raise", "Payload", "x", 1);
	q = req_for("arn:aws:states:::lambda:invoke", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "Exception");
	CHECK_PREFIX(r.cause, "{\"errorMessage\":\"Some exception was raised.\",\"errorType\":"
			      "\"Exception\",\"requestId\":\"");
	json_decref(in);
	in = json_pack("{s:s}", "FunctionName", "no_such_fn");
	q = req_for("arn:aws:states:::lambda:invoke", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "Lambda.ResourceNotFoundException");
	json_decref(in);
	in = json_pack("{s:s}", "FunctionName", "big");
	q = req_for("arn:aws:states:::lambda:invoke", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.DataLimitExceeded");
	CHECK_STR_EQ(r.cause, "The state/task 'lambda' returned a result with a size exceeding "
			      "the maximum number of bytes service limit.");
	json_decref(in);

	in = json_object();
	/* exit status + stderr tail */
	q = req_for("arn:aws:lambda:us-east-1:1:function:exit3", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.TaskFailed");
	CHECK(strstr(r.cause, "exited with status 3") != NULL);
	CHECK(strstr(r.cause, "something went wrong\nexiting with 3") != NULL);
	/* killed by a signal */
	q = req_for("arn:aws:lambda:us-east-1:1:function:segv", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.TaskFailed");
	CHECK(strstr(r.cause, "killed by signal 10 (SIGUSR1)") != NULL);
	CHECK(strstr(r.cause, "about to die") != NULL);
	/* {Error, Cause} */
	q = req_for("arn:aws:lambda:us-east-1:1:function:errcause", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "My.Error");
	CHECK_STR_EQ(r.cause, "it broke");

	/* timeout: SIGTERM to the group, States.Timeout */
	q = req_for("arn:aws:lambda:us-east-1:1:function:sleep", in);
	q.timeout_s = 0.3;
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.Timeout");
	CHECK(r.ms >= 250 && r.ms < 2000);
	/* a program that ignores SIGTERM gets SIGKILL after kill_grace */
	q = req_for("arn:aws:lambda:us-east-1:1:function:ignoreterm", in);
	q.timeout_s = 0.3;
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.Timeout");
	CHECK(r.ms >= 550 && r.ms < 3000);

	/* heartbeats keep a task alive past HeartbeatSeconds; silence ends it */
	q = req_for("arn:aws:lambda:us-east-1:1:function:hb", in);
	q.heartbeat_s = 0.4;
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "");
	CHECK(r.ms >= 700);
	json_decref(r.out);
	q = req_for("arn:aws:lambda:us-east-1:1:function:hbnone", in);
	q.heartbeat_s = 0.3;
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.HeartbeatTimeout");
	CHECK(r.ms < 2000);

	/* never reads stdin: a big input must not deadlock */
	{
		json_t *big = json_object();
		char *s = malloc(200000);

		memset(s, 'x', 199999);
		s[199999] = '\0';
		json_object_set_new(big, "s", json_string(s));
		q = req_for("arn:aws:lambda:us-east-1:1:function:noread", big);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "");
		CHECK(json_is_true(json_object_get(r.out, "ok")));
		json_decref(r.out);
		q = req_for("arn:aws:lambda:us-east-1:1:function:bigin", big);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "");
		CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "len")), 200007);
		json_decref(r.out);
		/* input over the payload limit */
		s = realloc(s, 300000);
		memset(s, 'x', 299999);
		s[299999] = '\0';
		json_object_set_new(big, "s", json_string(s));
		q = req_for("arn:aws:lambda:us-east-1:1:function:echo", big);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "States.DataLimitExceeded");
		free(s);
		json_decref(big);
	}
	/* floods stdout: bounded capture, DataLimitExceeded, no hang */
	q = req_for("arn:aws:lambda:us-east-1:1:function:flood", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.DataLimitExceeded");
	CHECK(strstr(r.cause, "function:flood") != NULL);
	/* forks a child that holds the pipes: the group is killed when the main pid exits */
	q = req_for("arn:aws:lambda:us-east-1:1:function:fork", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "");
	CHECK(json_is_true(json_object_get(r.out, "forked")));
	CHECK(r.ms < 1000);
	json_decref(r.out);
	/* ... even if the child left the group: exit_grace, then stop reading */
	q = req_for("arn:aws:lambda:us-east-1:1:function:forksetsid", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "");
	CHECK(r.ms >= 250 && r.ms < 2000);
	json_decref(r.out);
	/* binary junk: a clear error naming the state and showing the first bytes */
	q = req_for("arn:aws:lambda:us-east-1:1:function:junk", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.TaskFailed");
	CHECK(strstr(r.cause, "state 'TestState'") != NULL);
	CHECK(strstr(r.cause, "not JSON") != NULL);
	CHECK(strstr(r.cause, "\\x89PNG\\r\\n\\x1a\\n\\x00\\xff") != NULL);
	/* missing and non-executable programs */
	q = req_for("exec:./missing", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.TaskFailed");
	CHECK(strstr(r.cause, "No such file or directory") != NULL);
	write_script("noexec.sh", "#!/bin/sh\necho {}\n", 0644);
	q = req_for("exec:./noexec.sh", in);
	run1(&ops, &q, &r);
	CHECK_STR_EQ(r.error, "States.TaskFailed");
	CHECK(strstr(r.cause, "Permission denied") != NULL);

	/* the check op, as `stepfs validate` uses it */
	CHECK_INT_EQ(ops.check(ops.arg, "exec:./prog.sh", tmpdir, msg, sizeof(msg)), 0);
	CHECK_INT_EQ(ops.check(ops.arg, "exec:./missing", tmpdir, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "No such file or directory") != NULL);
	CHECK_INT_EQ(ops.check(ops.arg, "exec:./noexec.sh", tmpdir, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "is not executable") != NULL);
	CHECK_INT_EQ(ops.check(ops.arg, "exec:/", tmpdir, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "not a regular file") != NULL);
	CHECK_INT_EQ(ops.check(ops.arg, "arn:aws:lambda:us-east-1:1:function:echo", NULL, msg,
			       sizeof(msg)),
		     0);
	CHECK_INT_EQ(ops.check(ops.arg, "arn:aws:lambda:us-east-1:1:function:nope", NULL, msg,
			       sizeof(msg)),
		     -1);
	CHECK(strstr(msg, "function 'nope' is not in the functions table") != NULL);
	CHECK_INT_EQ(ops.check(ops.arg, "arn:aws:states:::lambda:invoke", NULL, msg, sizeof(msg)),
		     0);
	CHECK_INT_EQ(ops.check(ops.arg, "arn:aws:states:::sqs:sendMessage", NULL, msg, sizeof(msg)),
		     -1);
	CHECK(strstr(msg, "no task runner") != NULL);

	/*
	 * Isolation: descriptors of the daemon (opened without close-on-exec),
	 * environment (allowlist + configured + context only), cwd.
	 */
	{
		int fd1 = open("/dev/null", O_RDONLY), fd2 = socket(AF_INET, SOCK_STREAM, 0);
		json_t *env;
		const char *k;
		json_t *v;

		q = req_for("arn:aws:lambda:us-east-1:1:function:report", in);
		q.retry_count = 2;
		q.task_token = "tok123";
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "");
		CHECK_INT_EQ(json_array_size(json_object_get(r.out, "fds")), 0);
		env = json_object_get(r.out, "env");
		CHECK(json_object_get(env, "AWS_SECRET_ACCESS_KEY") == NULL);
		CHECK(json_object_get(env, "SOME_DAEMON_VAR") == NULL);
		CHECK_STR_EQ(json_string_value(json_object_get(env, "LANG")), "C.UTF-8");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "CONFIGURED")), "yes");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "FN_VAR")), "fv");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "STEPFS_STATE_NAME")), "TestState");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "STEPFS_RETRY_COUNT")), "2");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "STEPFS_TASK_TOKEN")), "tok123");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "STEPFS_EXECUTION_NAME")), "exec1");
		CHECK_STR_EQ(json_string_value(json_object_get(env, "PATH")),
			     "/usr/local/bin:/usr/bin:/bin");
		json_object_foreach(env, k, v) {
			static const char *const ok[] = { "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES",
							   "TZ", "TMPDIR", "HOME", "USER", "LOGNAME",
							   "PATH", "CONFIGURED", "FN_VAR", NULL };
			int i, found = strncmp(k, "STEPFS_", 7) == 0;

			for (i = 0; ok[i]; i++)
				found |= strcmp(k, ok[i]) == 0;
			CHECK(found);
			if (!found)
				fprintf(stderr, "unexpected variable %s\n", k);
		}
		CHECK_STR_EQ(json_string_value(json_object_get(r.out, "cwd")), tmpdir);
		json_decref(r.out);
		close(fd1);
		close(fd2);
	}

	/* workers: N instances, one JSON line per request, restarted when they die */
	{
		json_t *wi = json_pack("{s:i}", "x", 42);
		json_int_t pid1;
		struct taskrun_stats st;

		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "");
		CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "x")), 42);
		json_decref(r.out);
		json_decref(wi);
		wi = json_pack("{s:b}", "ctx", 1);
		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		q.retry_count = 1;
		run1(&ops, &q, &r);
		CHECK_STR_EQ(json_string_value(json_object_get(r.out, "state_name")), "TestState");
		CHECK_STR_EQ(json_string_value(json_object_get(r.out, "retry_count")), "1");
		json_decref(r.out);
		json_decref(wi);
		wi = json_pack("{s:b}", "pid", 1);
		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		run1(&ops, &q, &r);
		pid1 = json_integer_value(json_object_get(r.out, "pid"));
		CHECK(pid1 > 0);
		json_decref(r.out);
		json_decref(wi);
		wi = json_pack("{s:s}", "fail", "nope");
		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "Worker.Failed");
		CHECK_STR_EQ(r.cause, "nope");
		json_decref(wi);
		/* a worker that dies mid-task fails the task, and is restarted */
		wi = json_pack("{s:b}", "die", 1);
		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "States.TaskFailed");
		CHECK(strstr(r.cause, "exited with status 3") != NULL);
		json_decref(wi);
		/* a timeout kills the worker; the next task still runs */
		wi = json_pack("{s:i}", "sleep_ms", 5000);
		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		q.timeout_s = 0.2;
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "States.Timeout");
		CHECK(r.ms < 1000);
		json_decref(wi);
		wi = json_pack("{s:i}", "y", 7);
		q = req_for("arn:aws:lambda:us-east-1:1:function:w", wi);
		run1(&ops, &q, &r);
		CHECK_STR_EQ(r.error, "");
		CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "y")), 7);
		json_decref(r.out);
		json_decref(wi);
		taskrun_get_stats(tr, &st);
		CHECK(st.worker_restarts >= 1);
	}

	/* flaky program: fails twice, succeeds on its third try */
	snprintf(counter, sizeof(counter), "%s/counter", tmpdir);
	{
		char fcfg[PATH_MAX * 2];
		struct taskrun_config *c2;
		struct taskrun *tr2;
		struct asl_task_ops ops2;
		int attempt;

		snprintf(fcfg, sizeof(fcfg),
			 "{\"functions\": {\"flaky\": {\"exec\": \"%%H\", \"args\": [\"flaky\", "
			 "\"%s\", \"3\"]}}}",
			 counter);
		c2 = cfg_from(fcfg);
		tr2 = taskrun_new(c2);
		taskrun_ops(tr2, &ops2);
		for (attempt = 0; attempt < 3; attempt++) {
			q = req_for("arn:aws:lambda:us-east-1:1:function:flaky", in);
			q.retry_count = attempt;
			run1(&ops2, &q, &r);
			if (attempt < 2) {
				CHECK_STR_EQ(r.error, "Flaky.NotYet");
			} else {
				CHECK_STR_EQ(r.error, "");
				CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "attempt")), 3);
				CHECK_STR_EQ(json_string_value(json_object_get(r.out, "retry_count")),
					     "2");
				json_decref(r.out);
			}
		}
		taskrun_free(tr2);
		taskrun_config_free(c2);
		unlink(counter);
	}

	/*
	 * Through the engine: Retry runs the flaky program until its third try
	 * succeeds ($$.State.RetryCount reaches the program as STEPFS_RETRY_COUNT);
	 * a Catch routes a TimeoutSeconds expiry.
	 */
	{
		char fcfg[PATH_MAX * 2];
		struct taskrun_config *c2;
		struct taskrun *tr2;
		struct asl_task_ops ops2;
		struct asl_engine *eng;
		struct asl_machine *m = NULL;
		struct asl_execution *x = NULL;
		struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
		char *mmsg = NULL;
		json_t *def;

		snprintf(fcfg, sizeof(fcfg),
			 "{\"functions\": {\"flaky\": {\"exec\": \"%%H\", \"args\": [\"flaky\", "
			 "\"%s.engine\", \"3\"]}, \"slow\": {\"exec\": \"%%H\", \"args\": "
			 "[\"sleep\", \"30\"]}}, \"tasks\": {\"kill_grace\": 0.2}}",
			 counter);
		c2 = cfg_from(fcfg);
		tr2 = taskrun_new(c2);
		taskrun_ops(tr2, &ops2);
		eng = asl_engine_new(L, &ops2);
		def = json_loads(
			"{\"StartAt\": \"Flaky\", \"States\": {"
			" \"Flaky\": {\"Type\": \"Task\", \"Resource\": "
			"\"arn:aws:lambda:us-east-1:1:function:flaky\", \"Retry\": [{\"ErrorEquals\": "
			"[\"Flaky.NotYet\"], \"IntervalSeconds\": 1, \"MaxAttempts\": 3}], "
			"\"ResultPath\": \"$.flaky\", \"Next\": \"Slow\"},"
			" \"Slow\": {\"Type\": \"Task\", \"Resource\": "
			"\"arn:aws:lambda:us-east-1:1:function:slow\", \"TimeoutSeconds\": 1, "
			"\"Catch\": [{\"ErrorEquals\": [\"States.Timeout\"], \"ResultPath\": "
			"\"$.caught\", \"Next\": \"Done\"}], \"End\": true},"
			" \"Done\": {\"Type\": \"Pass\", \"End\": true}}}",
			0, NULL);
		CHECK(def != NULL);
		CHECK_INT_EQ(asl_machine_new(def, NULL, &m, &mmsg), 0);
		if (mmsg)
			fprintf(stderr, "machine: %s\n", mmsg);
		xo.wait_scale = 0;
		if (m && asl_execution_run_sync(eng, m, in, &xo, &x) == 0) {
			json_t *o = asl_execution_output(x);

			CHECK_STR_EQ(asl_status_name(asl_execution_status(x)), "SUCCEEDED");
			CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(o, "flaky"),
								       "attempt")),
				     3);
			CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "flaky"),
								      "retry_count")),
				     "2");
			CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "caught"),
								      "Error")),
				     "States.Timeout");
			asl_execution_free(x);
		} else {
			CHECK(0);
		}
		free(mmsg);
		asl_machine_unref(m);
		json_decref(def);
		asl_engine_free(eng);
		taskrun_free(tr2);
		taskrun_config_free(c2);
		{
			char p[PATH_MAX + 8];

			snprintf(p, sizeof(p), "%s.engine", counter);
			unlink(p);
		}
	}

	/* concurrency: global cap 2, per-machine cap 1, FIFO */
	{
		struct taskrun_config *c3 = cfg_from(
			"{\"functions\": {\"s\": {\"exec\": \"%H\", \"args\": [\"sleep\", \"0.2\"]}},"
			" \"tasks\": {\"max_concurrency\": 2, "
			"\"max_concurrency_per_state_machine\": 1}}");
		struct taskrun *tr3 = taskrun_new(c3);
		struct asl_task_ops ops3;
		struct res rs[4];
		struct asl_task *t;
		struct asl_err err;
		struct taskrun_stats st;
		uint64_t t0 = loop_now_ms();
		int i;

		taskrun_ops(tr3, &ops3);
		memset(rs, 0, sizeof(rs));
		pending = 4;
		for (i = 0; i < 4; i++) {
			q = req_for("arn:aws:lambda:us-east-1:1:function:s", in);
			q.state_machine = i < 3 ? "A" : "B";
			CHECK_INT_EQ(ops3.start(ops3.arg, L, &q, on_done, &rs[i], &t, &err), 0);
		}
		taskrun_get_stats(tr3, &st);
		CHECK_INT_EQ(st.running, 2); /* A#0 and B#3 */
		CHECK_INT_EQ(st.queued, 2);
		loop_run(L);
		for (i = 0; i < 4; i++) {
			CHECK_STR_EQ(rs[i].error, "");
			json_decref(rs[i].out);
		}
		/* A runs one at a time: three rounds of 0.2 s */
		CHECK(loop_now_ms() - t0 >= 580);
		taskrun_free(tr3);
		taskrun_config_free(c3);
	}

	/* many programs in flight on one thread: 40 x 0.3 s in well under 40 x 0.3 s */
	{
		struct taskrun_config *c5 = cfg_from(
			"{\"functions\": {\"s\": {\"exec\": \"%H\", \"args\": [\"sleep\", \"0.3\"]}}}");
		struct taskrun *tr5 = taskrun_new(c5);
		struct asl_task_ops ops5;
		struct res rs[40];
		struct asl_task *t;
		struct asl_err err;
		uint64_t t0 = loop_now_ms();
		int i, ok = 0;

		taskrun_ops(tr5, &ops5);
		memset(rs, 0, sizeof(rs));
		pending = 40;
		for (i = 0; i < 40; i++) {
			q = req_for("arn:aws:lambda:us-east-1:1:function:s", in);
			CHECK_INT_EQ(ops5.start(ops5.arg, L, &q, on_done, &rs[i], &t, &err), 0);
		}
		loop_run(L);
		for (i = 0; i < 40; i++) {
			ok += rs[i].done == 1 && !rs[i].error[0];
			json_decref(rs[i].out);
		}
		CHECK_INT_EQ(ok, 40);
		CHECK(loop_now_ms() - t0 < 6000);
		taskrun_free(tr5);
		taskrun_config_free(c5);
	}

	/* cancel: the program is killed, done() is never called */
	{
		struct asl_task *t;
		struct asl_err err;
		struct res rc;
		struct taskrun_stats st;

		memset(&rc, 0, sizeof(rc));
		q = req_for("arn:aws:lambda:us-east-1:1:function:sleep", in);
		CHECK_INT_EQ(ops.start(ops.arg, L, &q, on_done, &rc, &t, &err), 0);
		ops.cancel(ops.arg, t);
		taskrun_get_stats(tr, &st);
		CHECK_INT_EQ(st.running, 0);
		pending = 1;
		loop_timer_add(L, 300, (loop_timer_fn)loop_stop, L);
		loop_run(L);
		CHECK_INT_EQ(rc.done, 0);
	}

	/* run as a configured user */
	if (geteuid() == 0 && getpwnam("nobody")) {
		struct passwd *pw = getpwnam("nobody");
		struct taskrun_config *c4 = cfg_from(
			"{\"functions\": {\"r\": {\"exec\": \"%H\", \"args\": [\"report\"]}},"
			" \"tasks\": {\"user\": \"nobody\", \"cwd\": \"/\", \"limits\": {\"nofile\": 64,"
			" \"cpu\": 30, \"as\": " TEST_AS_LIMIT ", \"nproc\": 500},"
			" \"nice\": 3}}");
		struct taskrun *tr4 = taskrun_new(c4);
		struct asl_task_ops ops4;
		json_t *env;

		taskrun_ops(tr4, &ops4);
		/* the helper lives under the build tree; make sure nobody can run it */
		q = req_for("arn:aws:lambda:us-east-1:1:function:r", in);
		run1(&ops4, &q, &r);
		if (r.out) {
			CHECK_STR_EQ(r.error, "");
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "uid")), pw->pw_uid);
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "gid")), pw->pw_gid);
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "nofile")), 64);
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "cpu")), 30);
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "as")), TEST_AS_VALUE);
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "nproc")), 500);
			CHECK_INT_EQ(json_integer_value(json_object_get(r.out, "nice")), 3);
			CHECK_INT_EQ(json_array_size(json_object_get(r.out, "fds")), 0);
			env = json_object_get(r.out, "env");
			CHECK_STR_EQ(json_string_value(json_object_get(env, "USER")), "nobody");
			CHECK_STR_EQ(json_string_value(json_object_get(env, "HOME")), pw->pw_dir);
			json_decref(r.out);
		} else {
			printf("note: run-as test could not run the helper as nobody: %s\n", r.cause);
			CHECK(strstr(r.cause, "Permission denied") != NULL);
		}
		taskrun_free(tr4);
		taskrun_config_free(c4);
	}

	json_decref(in);
	taskrun_free(tr);
	taskrun_config_free(cfg);
	loop_free(L);
	unlink(counter);
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/prog.sh", tmpdir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/noexec.sh", tmpdir);
		unlink(p);
	}
	rmdir(tmpdir);
	/* every pipe, pidfd and epoll descriptor was closed */
	CHECK_INT_EQ(count_fds(), fds_before);
	return TEST_DONE();
}
