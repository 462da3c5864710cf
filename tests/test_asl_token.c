/*
 * Unit tests of task tokens (.waitForTaskToken, engine/asl.h
 * asl_engine_task_callback): the token in $$.Task.Token and
 * $states.context.Task.Token, TaskSubmitted, success/failure/heartbeat
 * callbacks, TimeoutSeconds and HeartbeatSeconds, Retry/Catch after a
 * failure callback, the program's own failure, the host's token hook.
 * Tasks run through a double: test:ok (ends at once with {"submitted":true}),
 * test:sleep:MS (ends after MS ms), test:fail:NAME (fails with NAME),
 * test:answer (its result is the callback's answer, as a mocked response).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "tests/harness.h"

struct asl_task {
	struct loop *loop;
	struct loop_timer *timer;
	asl_task_done_fn done;
	void *done_arg;
	char error[64];
	struct dbl *d;
};

struct dbl {
	char token[128];       /* last token a task was started with */
	char resource[128];    /* and its resource */
	double heartbeat_s;
	int started, cancelled;
};

static void dbl_fire(void *arg)
{
	struct asl_task *t = arg;
	asl_task_done_fn done = t->done;
	void *done_arg = t->done_arg;
	char error[64];

	snprintf(error, sizeof(error), "%s", t->error);
	free(t);
	if (error[0])
		done(done_arg, NULL, error, "program failed");
	else
		done(done_arg, json_pack("{s:b}", "submitted", 1), NULL, NULL);
}

static int dbl_start(void *arg, struct loop *loop, const struct asl_task_req *req,
		     asl_task_done_fn done, void *done_arg, struct asl_task **ret,
		     struct asl_err *err)
{
	struct dbl *d = arg;
	struct asl_task *t = calloc(1, sizeof(*t));
	long ms = 0;

	if (!t)
		return asl_err_set(err, "States.Runtime", "out of memory");
	snprintf(d->token, sizeof(d->token), "%s", req->task_token ? req->task_token : "");
	snprintf(d->resource, sizeof(d->resource), "%s", req->resource);
	d->heartbeat_s = req->heartbeat_s;
	t->loop = loop;
	t->done = done;
	t->done_arg = done_arg;
	t->d = d;
	if (!strncmp(req->resource, "test:fail:", 10))
		snprintf(t->error, sizeof(t->error), "%s", req->resource + 10);
	else if (!strncmp(req->resource, "test:sleep:", 11))
		ms = atol(req->resource + 11);
	else if (!strcmp(req->resource, "test:answer") && req->callback_done)
		*req->callback_done = true; /* like a mocked response */
	t->timer = loop_timer_add(loop, (uint64_t)ms, dbl_fire, t);
	d->started++;
	*ret = t;
	return 0;
}

static void dbl_cancel(void *arg, struct asl_task *t)
{
	struct dbl *d = arg;

	loop_timer_cancel(t->loop, t->timer);
	d->cancelled++;
	free(t);
}

/* ----------------------------------------------------------- callbacks */

struct env {
	struct loop *loop;
	struct asl_engine *e;
	struct dbl d;
	char hook[512];        /* statuses the token hook saw, space separated */
	char hook_state[64];
};

/* A scheduled callback: at @ms, send @kind for the token the double saw last. */
struct cb {
	struct env *v;
	enum asl_callback kind;
	const char *output, *error, *cause;
	int rc;
	char token[128];
};

static void cb_fire(void *arg)
{
	struct cb *c = arg;
	json_t *out = c->output ? json_loads(c->output, JSON_DECODE_ANY, NULL) : NULL;

	snprintf(c->token, sizeof(c->token), "%s", c->v->d.token);
	c->rc = asl_engine_task_callback(c->v->e, c->token, c->kind, out, c->error, c->cause);
	json_decref(out);
}

static void at(struct env *v, uint64_t ms, struct cb *c)
{
	c->v = v;
	c->rc = 1;
	loop_timer_add(v->loop, ms, cb_fire, c);
}

static void hook(void *arg, const char *token, const char *arn, const char *state,
		 const char *status)
{
	struct env *v = arg;
	size_t n = strlen(v->hook);

	(void)token;
	CHECK(arn[0] != '\0');
	snprintf(v->hook_state, sizeof(v->hook_state), "%s", state);
	snprintf(v->hook + n, sizeof(v->hook) - n, "%s%s", n ? " " : "", status);
}

static struct asl_machine *machine(const char *text)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	json_t *def = json_loads(text, 0, NULL);
	struct asl_machine *m = NULL;
	char *msg = NULL;

	if (!def || asl_machine_new(def, &mo, &m, &msg) < 0) {
		fprintf(stderr, "machine: %s\n", msg ? msg : "bad JSON");
		CHECK(0);
	}
	free(msg);
	json_decref(def);
	return m;
}

/* Run @def to its end; returns the execution (caller frees). */
static struct asl_execution *run(struct env *v, const char *def, const char *input)
{
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_machine *m = machine(def);
	json_t *in = input ? json_loads(input, 0, NULL) : NULL;
	struct asl_execution *x = NULL;

	xo.record_history = true;
	CHECK(m != NULL);
	if (m)
		CHECK_INT_EQ(asl_execution_start(v->e, m, in, &xo, &x), 0);
	loop_run(v->loop);
	json_decref(in);
	asl_machine_unref(m);
	return x;
}

/* The event types of @x's history (a new array of shared events), space separated, into @buf. */
static const char *types(struct asl_execution *x, char *buf, size_t len)
{
	json_t *h = asl_execution_history(x), *ev;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(h, i, ev) {
		snprintf(buf + n, len - n, "%s%s", n ? " " : "",
			 json_string_value(json_object_get(ev, "type")));
		n = strlen(buf);
	}
	json_decref(h);
	return buf;
}

static json_t *event_of(struct asl_execution *x, const char *type)
{
	json_t *h = asl_execution_history(x), *ev, *found = NULL;
	size_t i;

	/* the events are shared with @x, which keeps them alive */
	json_array_foreach(h, i, ev) {
		if (!strcmp(json_string_value(json_object_get(ev, "type")), type)) {
			found = ev;
			break;
		}
	}
	json_decref(h);
	return found;
}

static void test_success(struct env *v)
{
	struct cb c = { 0 };
	struct asl_execution *x;
	char buf[1024], first[128];
	json_t *out, *ev;

	c.kind = ASL_CB_SUCCESS;
	c.output = "{\"approved\":true}";
	at(v, 20, &c);
	v->hook[0] = '\0';
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"HeartbeatSeconds\":5,\"Parameters\":{\"tok.$\":"
		"\"$$.Task.Token\"},\"ResultPath\":\"$.r\",\"End\":true}}}",
		"{\"a\":1}");
	CHECK_INT_EQ(c.rc, 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	/* the program runs the Resource without the suffix; heartbeats are callbacks */
	CHECK_STR_EQ(v->d.resource, "test:ok");
	CHECK(v->d.heartbeat_s == 0);
	CHECK_INT_EQ((int)strlen(c.token), 32);
	CHECK(strspn(c.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      32);
	out = asl_execution_output(x);
	CHECK(json_is_true(json_object_get(json_object_get(out, "r"), "approved")));
	CHECK_STR_EQ(types(x, buf, sizeof(buf)),
		     "ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSubmitted "
		     "TaskSucceeded TaskStateExited ExecutionSucceeded");
	/* the program saw the token in its input, and TaskSubmitted has its output */
	ev = event_of(x, "TaskScheduled");
	CHECK(ev && strstr(json_string_value(json_object_get(
				   json_object_get(ev, "taskScheduledEventDetails"), "parameters")),
			   c.token));
	ev = event_of(x, "TaskSubmitted");
	CHECK(ev && strstr(json_string_value(json_object_get(
				   json_object_get(ev, "taskSubmittedEventDetails"), "output")),
			   "submitted"));
	CHECK_STR_EQ(v->hook, "WAITING SUCCEEDED");
	CHECK_STR_EQ(v->hook_state, "T");
	/* a closed token is unknown; so is a made-up one */
	CHECK_INT_EQ(asl_engine_task_callback(v->e, c.token, ASL_CB_SUCCESS, NULL, NULL, NULL),
		     -ENOENT);
	CHECK_INT_EQ(asl_engine_task_callback(v->e, "nope", ASL_CB_HEARTBEAT, NULL, NULL, NULL),
		     -ENOENT);
	asl_execution_free(x);
	/* every execution gets its own token */
	snprintf(first, sizeof(first), "%s", c.token);
	at(v, 20, &c);
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	CHECK(strcmp(first, c.token) != 0);
	asl_execution_free(x);
}

static void test_jsonata(struct env *v)
{
	struct cb c = { 0 };
	struct asl_execution *x;
	json_t *ev;

	c.kind = ASL_CB_SUCCESS;
	c.output = "42";
	at(v, 20, &c);
	x = run(v,
		"{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":"
		"\"Task\",\"Resource\":\"test:ok.waitForTaskToken\",\"Arguments\":{\"t\":"
		"\"{% $states.context.Task.Token %}\"},\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	CHECK_INT_EQ((int)json_integer_value(asl_execution_output(x)), 42);
	ev = event_of(x, "TaskScheduled");
	CHECK(ev && c.token[0] &&
	      strstr(json_string_value(json_object_get(
			     json_object_get(ev, "taskScheduledEventDetails"), "parameters")),
		     c.token));
	asl_execution_free(x);
}

static void test_failure_retry_catch(struct env *v)
{
	struct cb c1 = { 0 }, c2 = { 0 };
	struct asl_execution *x;
	json_t *out;
	char buf[1024];

	c1.kind = c2.kind = ASL_CB_FAILURE;
	c1.error = c2.error = "Rejected";
	c1.cause = "first";
	c2.cause = "second";
	at(v, 20, &c1);
	at(v, 1100, &c2);
	v->hook[0] = '\0';
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"Retry\":[{\"ErrorEquals\":[\"Rejected\"],"
		"\"IntervalSeconds\":1,\"MaxAttempts\":1}],\"Catch\":[{\"ErrorEquals\":"
		"[\"Rejected\"],\"ResultPath\":\"$.err\",\"Next\":\"P\"}],\"End\":true},"
		"\"P\":{\"Type\":\"Pass\",\"End\":true}}}",
		"{}");
	CHECK_INT_EQ(c1.rc, 0);
	CHECK_INT_EQ(c2.rc, 0);
	CHECK(c1.token[0] && strcmp(c1.token, c2.token) != 0); /* a retry has a new token */
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	out = json_object_get(asl_execution_output(x), "err");
	CHECK_STR_EQ(json_string_value(json_object_get(out, "Error")), "Rejected");
	CHECK_STR_EQ(json_string_value(json_object_get(out, "Cause")), "second");
	CHECK(strstr(types(x, buf, sizeof(buf)), "TaskSubmitted TaskFailed") != NULL);
	CHECK_STR_EQ(v->hook, "WAITING FAILED WAITING FAILED");
	CHECK_INT_EQ(asl_engine_task_callback(v->e, c1.token, ASL_CB_SUCCESS, NULL, NULL, NULL),
		     -ENOENT);
	asl_execution_free(x);
}

/* send-task-failure without error or cause: a task failure, caught by States.TaskFailed */
static void test_failure_bare(struct env *v)
{
	struct cb c = { 0 };
	struct asl_execution *x;
	json_t *err;

	c.kind = ASL_CB_FAILURE;
	at(v, 20, &c);
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"Catch\":[{\"ErrorEquals\":[\"States.TaskFailed\"],"
		"\"ResultPath\":\"$.err\",\"Next\":\"Caught\"}],\"End\":true},"
		"\"Caught\":{\"Type\":\"Pass\",\"End\":true}}}",
		"{}");
	CHECK_INT_EQ(c.rc, 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	err = json_object_get(asl_execution_output(x), "err");
	CHECK_STR_EQ(json_string_value(json_object_get(err, "Error")), "");
	asl_execution_free(x);
}

static void test_heartbeat(struct env *v)
{
	struct cb h[3] = { { 0 } }, ok = { 0 };
	struct asl_execution *x;
	uint64_t t0 = loop_now_ms();
	char buf[1024];
	int i;

	/* HeartbeatSeconds 1, done after 1.4 s: alive thanks to heartbeats */
	for (i = 0; i < 3; i++) {
		h[i].kind = ASL_CB_HEARTBEAT;
		at(v, 400 * (uint64_t)(i + 1), &h[i]);
	}
	ok.kind = ASL_CB_SUCCESS;
	ok.output = "{}";
	at(v, 1400, &ok);
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"HeartbeatSeconds\":1,\"End\":true}}}",
		NULL);
	for (i = 0; i < 3; i++)
		CHECK_INT_EQ(h[i].rc, 0);
	CHECK_INT_EQ(ok.rc, 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	CHECK(loop_now_ms() - t0 >= 1400);
	asl_execution_free(x);
	/* no heartbeat: States.HeartbeatTimeout after 1 s, TaskTimedOut */
	t0 = loop_now_ms();
	v->hook[0] = '\0';
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"HeartbeatSeconds\":1,\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_FAILED);
	CHECK_STR_EQ(asl_execution_error(x), "States.HeartbeatTimeout");
	CHECK(loop_now_ms() - t0 >= 1000 && loop_now_ms() - t0 < 3000);
	CHECK(strstr(types(x, buf, sizeof(buf)), "TaskSubmitted TaskTimedOut") != NULL);
	CHECK_STR_EQ(v->hook, "WAITING TIMED_OUT");
	asl_execution_free(x);
}

static void test_timeout(struct env *v)
{
	struct cb late = { 0 };
	struct asl_execution *x;
	uint64_t t0 = loop_now_ms();
	char buf[1024];

	late.kind = ASL_CB_SUCCESS;
	late.output = "{}";
	at(v, 1300, &late);
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"TimeoutSeconds\":1,\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_FAILED);
	CHECK_STR_EQ(asl_execution_error(x), "States.Timeout");
	CHECK(loop_now_ms() - t0 >= 1000);
	CHECK(strstr(types(x, buf, sizeof(buf)), "TaskSubmitted TaskTimedOut") != NULL);
	CHECK_INT_EQ(late.rc, -ENOENT); /* the token expired with the task */
	asl_execution_free(x);
}

static void test_program_fails(struct env *v)
{
	struct asl_execution *x;
	char buf[1024];

	v->hook[0] = '\0';
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:fail:Boom.waitForTaskToken\",\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_FAILED);
	CHECK_STR_EQ(asl_execution_error(x), "Boom");
	CHECK(strstr(types(x, buf, sizeof(buf)), "TaskSubmitted") == NULL);
	CHECK_STR_EQ(v->hook, "WAITING FAILED");
	CHECK_INT_EQ(asl_engine_task_callback(v->e, v->d.token, ASL_CB_SUCCESS, NULL, NULL, NULL),
		     -ENOENT);
	asl_execution_free(x);
}

static void test_callback_before_exit(struct env *v)
{
	struct cb c = { 0 };
	struct asl_execution *x;
	int cancelled = v->d.cancelled;

	c.kind = ASL_CB_SUCCESS;
	c.output = "\"early\"";
	at(v, 20, &c);
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:sleep:5000.waitForTaskToken\",\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(c.rc, 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	CHECK_STR_EQ(json_string_value(asl_execution_output(x)), "early");
	CHECK_INT_EQ(v->d.cancelled, cancelled + 1);
	asl_execution_free(x);
}

static void test_stop_closes(struct env *v)
{
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_machine *m = machine(
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:ok.waitForTaskToken\",\"End\":true}}}");
	struct asl_execution *x = NULL;

	v->hook[0] = '\0';
	CHECK_INT_EQ(asl_execution_start(v->e, m, NULL, &xo, &x), 0);
	asl_execution_stop(x, "Stopped", NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_ABORTED);
	CHECK_STR_EQ(v->hook, "WAITING CLOSED");
	CHECK_INT_EQ(asl_engine_task_callback(v->e, v->d.token, ASL_CB_SUCCESS, NULL, NULL, NULL),
		     -ENOENT);
	loop_run(v->loop);
	asl_execution_free(x);
	asl_machine_unref(m);
}

static void test_runner_answers(struct env *v)
{
	struct asl_execution *x;
	char buf[1024];

	v->hook[0] = '\0';
	x = run(v,
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:answer.waitForTaskToken\",\"End\":true}}}",
		NULL);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	CHECK(json_is_true(json_object_get(asl_execution_output(x), "submitted")));
	CHECK(strstr(types(x, buf, sizeof(buf)), "TaskStarted TaskSucceeded") != NULL);
	CHECK_STR_EQ(v->hook, "");
	asl_execution_free(x);
}

int main(void)
{
	struct env v;
	struct asl_task_ops ops = { dbl_start, dbl_cancel, NULL, &v.d };

	memset(&v, 0, sizeof(v));
	v.loop = loop_new();
	v.e = asl_engine_new(v.loop, &ops);
	CHECK(v.loop && v.e);
	asl_engine_set_token_hook(v.e, hook, &v);
	test_success(&v);
	test_jsonata(&v);
	test_failure_retry_catch(&v);
	test_failure_bare(&v);
	test_heartbeat(&v);
	test_timeout(&v);
	test_program_fails(&v);
	test_callback_before_exit(&v);
	test_stop_closes(&v);
	test_runner_answers(&v);
	asl_engine_free(v.e);
	loop_free(v.loop);
	return TEST_DONE();
}
