/*
 * Unit tests of the ASL interpreter (engine/asl.h). Data-driven cases live
 * in tests/asl/<case>/: definition.json, input.json (optional),
 * expected.json (the output) or expected_error.json ({"error", "cause",
 * "status"}; a null error/cause means "absent"), opts.json (optional:
 * wait_scale, payload_limit, history_cap, min_ms, max_ms). Tasks run through a test
 * double in the asl_task_ops table: test:echo, test:fail:NAME,
 * test:flaky:N (fails N times with "Flaky" per execution, then echoes),
 * test:sleep:MS (echoes after MS milliseconds, on a loop timer), test:req
 * (returns what the request carried), test:sync (calls done() inside start(),
 * against the contract: the engine must cope).
 * Further C tests cover history shapes, stop, concurrent waits and the
 * number printer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/asl.h"
#include "engine/asl_i.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "tests/harness.h"

/* ------------------------------------------------------------ task double */

struct asl_task {
	struct loop *loop;
	struct loop_timer *timer;
	asl_task_done_fn done;
	void *done_arg;
	json_t *output;
	char error[64];
	struct dbl *d;
};

struct dbl {
	int flaky_failures; /* failures so far of test:flaky */
	int started, cancelled, running, max_running;
};

static void dbl_fire(void *arg)
{
	struct asl_task *t = arg;
	asl_task_done_fn done = t->done;
	void *done_arg = t->done_arg;
	json_t *out = t->output;
	char error[64];

	snprintf(error, sizeof(error), "%s", t->error);
	t->d->running--;
	free(t);
	if (error[0])
		done(done_arg, NULL, error, "test failure");
	else
		done(done_arg, out, NULL, NULL);
}

static int dbl_start(void *arg, struct loop *loop, const struct asl_task_req *req,
		     asl_task_done_fn done, void *done_arg, struct asl_task **ret,
		     struct asl_err *err)
{
	struct dbl *d = arg;
	struct asl_task *t;
	long ms = 0;

	if (strncmp(req->resource, "test:", 5) != 0)
		return asl_err_set(err, "States.TaskFailed", "unknown resource '%s'", req->resource);
	if (!strcmp(req->resource, "test:sync")) {
		/* breaks the contract on purpose: done() inside start() */
		done(done_arg, json_incref(req->input), NULL, NULL);
		*ret = NULL;
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return asl_err_set(err, "States.Runtime", "out of memory");
	t->loop = loop;
	t->done = done;
	t->done_arg = done_arg;
	t->d = d;
	if (!strncmp(req->resource, "test:fail:", 10)) {
		snprintf(t->error, sizeof(t->error), "%s", req->resource + 10);
	} else if (!strncmp(req->resource, "test:flaky:", 11)) {
		if (d->flaky_failures < atoi(req->resource + 11)) {
			d->flaky_failures++;
			snprintf(t->error, sizeof(t->error), "Flaky");
		} else {
			t->output = json_incref(req->input);
		}
	} else if (!strcmp(req->resource, "test:req")) {
		/* echo what the engine passed for the task */
		t->output = json_pack("{s:f,s:f,s:s,s:i,s:O}", "timeout", req->timeout_s,
				      "heartbeat", req->heartbeat_s, "state", req->state_name,
				      "retry", req->retry_count, "credentials",
				      req->credentials ? req->credentials : json_null());
	} else if (!strncmp(req->resource, "test:sleep:", 11)) {
		ms = atol(req->resource + 11);
		t->output = json_incref(req->input);
	} else {
		t->output = json_incref(req->input);
	}
	t->timer = loop_timer_add(loop, (uint64_t)ms, dbl_fire, t);
	d->started++;
	d->running++;
	if (d->running > d->max_running)
		d->max_running = d->running;
	*ret = t;
	return 0;
}

static void dbl_cancel(void *arg, struct asl_task *t)
{
	struct dbl *d = arg;

	loop_timer_cancel(t->loop, t->timer);
	json_decref(t->output);
	d->cancelled++;
	d->running--;
	free(t);
}

/* ---------------------------------------------------------- data-driven */

static json_t *load_opt(const char *dir, const char *file)
{
	char path[2048];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (stat(path, &st) < 0)
		return NULL;
	return json_load_file(path, JSON_DECODE_ANY, NULL);
}

static bool null_or_eq(json_t *want, const char *got)
{
	if (!want)
		return true; /* not checked */
	if (json_is_null(want))
		return got == NULL;
	return got && !strcmp(json_string_value(want), got);
}

static void run_case(const char *dir, const char *name, struct dbl *d)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	json_t *def = load_opt(dir, "definition.json");
	json_t *input = load_opt(dir, "input.json");
	json_t *want = load_opt(dir, "expected.json");
	json_t *want_err = load_opt(dir, "expected_error.json");
	json_t *opts = load_opt(dir, "opts.json");
	struct asl_machine *m = NULL;
	struct asl_engine *e = NULL;
	struct asl_execution *x = NULL;
	struct loop *loop = loop_new();
	struct asl_task_ops ops = { dbl_start, dbl_cancel, NULL, d };
	char *msg = NULL;
	uint64_t t0, ms;
	bool ok = true;

	d->flaky_failures = 0;
	if (!def || !loop || (!want && !want_err)) {
		fprintf(stderr, "case %s: missing files\n", name);
		CHECK(0);
		goto out;
	}
	mo.validate = false; /* the validator has its own tests; here: runtime semantics */
	if (asl_machine_new(def, &mo, &m, &msg) < 0) {
		fprintf(stderr, "case %s: load failed: %s\n", name, msg ? msg : "?");
		CHECK(0);
		goto out;
	}
	xo.name = "test-exec";
	xo.record_history = true;
	if (opts) {
		json_t *v;

		v = json_object_get(opts, "wait_scale");
		if (v)
			xo.wait_scale = json_number_value(v);
		v = json_object_get(opts, "payload_limit");
		if (v)
			xo.payload_limit = (size_t)json_integer_value(v);
		v = json_object_get(opts, "history_cap");
		if (v)
			xo.history_cap = (unsigned)json_integer_value(v);
	}
	e = asl_engine_new(loop, &ops);
	t0 = loop_now_ms();
	if (!e || asl_execution_run_sync(e, m, input, &xo, &x) < 0) {
		CHECK(0);
		goto out;
	}
	ms = loop_now_ms() - t0;
	if (opts && json_object_get(opts, "min_ms") &&
	    ms < (uint64_t)json_integer_value(json_object_get(opts, "min_ms"))) {
		fprintf(stderr, "case %s: took only %llu ms\n", name, (unsigned long long)ms);
		ok = false;
	}
	if (opts && json_object_get(opts, "max_ms") &&
	    ms > (uint64_t)json_integer_value(json_object_get(opts, "max_ms"))) {
		fprintf(stderr, "case %s: took %llu ms\n", name, (unsigned long long)ms);
		ok = false;
	}
	if (want) {
		if (asl_execution_status(x) != ASL_SUCCEEDED ||
		    !json_equal(asl_execution_output(x), want)) {
			char *got = asl_execution_output(x) ? asl_json_dumps(asl_execution_output(x))
							    : NULL;

			fprintf(stderr, "case %s: status %s output %s error %s cause %s\n", name,
				asl_status_name(asl_execution_status(x)), got ? got : "-",
				asl_execution_error(x) ? asl_execution_error(x) : "-",
				asl_execution_cause(x) ? asl_execution_cause(x) : "-");
			free(got);
			ok = false;
		}
	} else {
		const char *st = json_string_value(json_object_get(want_err, "status"));

		if (strcmp(asl_status_name(asl_execution_status(x)), st ? st : "FAILED") ||
		    !null_or_eq(json_object_get(want_err, "error"), asl_execution_error(x)) ||
		    !null_or_eq(json_object_get(want_err, "cause"), asl_execution_cause(x))) {
			fprintf(stderr, "case %s: status %s error %s cause %s\n", name,
				asl_status_name(asl_execution_status(x)),
				asl_execution_error(x) ? asl_execution_error(x) : "(none)",
				asl_execution_cause(x) ? asl_execution_cause(x) : "(none)");
			ok = false;
		}
	}
	/* every history ends with the Execution* event and ids are increasing */
	{
		json_t *h = asl_execution_history(x);
		size_t n = json_array_size(h);
		const char *last = n ? json_string_value(json_object_get(json_array_get(h, n - 1),
									  "type")) : "";

		if (!n || strncmp(last, "Execution", 9) != 0) {
			fprintf(stderr, "case %s: history ends with '%s'\n", name, last);
			ok = false;
		}
		json_decref(h);
	}
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "FAIL asl case %s\n", name);
out:
	asl_execution_free(x);
	asl_engine_free(e);
	asl_machine_unref(m);
	loop_free(loop);
	free(msg);
	json_decref(def);
	json_decref(input);
	json_decref(want);
	json_decref(want_err);
	json_decref(opts);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_cases(struct dbl *d)
{
	DIR *dir = opendir("tests/asl");
	struct dirent *de;
	char *names[512];
	size_t n = 0, i;
	char path[1024];

	CHECK(dir != NULL);
	if (!dir)
		return;
	while ((de = readdir(dir)) && n < 512)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "tests/asl/%s", names[i]);
		run_case(path, names[i], d);
		free(names[i]);
	}
	CHECK(n >= 40);
}

/* --------------------------------------------------------------- C tests */

static struct asl_machine *machine(const char *text)
{
	json_t *def = json_loads(text, 0, NULL);
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_machine *m = NULL;
	char *msg = NULL;

	mo.validate = false;
	if (!def || asl_machine_new(def, &mo, &m, &msg) < 0)
		fprintf(stderr, "machine: %s\n", msg ? msg : "bad json");
	free(msg);
	json_decref(def);
	return m;
}

static char *types_of(json_t *h)
{
	static char buf[4096]; /* test-only scratch, single-threaded */
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(h); i++) {
		json_t *ev = json_array_get(h, i);
		char one[128];

		snprintf(one, sizeof(one), "%s%s:%lld:%lld", i ? " " : "",
			 json_string_value(json_object_get(ev, "type")),
			 (long long)json_integer_value(json_object_get(ev, "id")),
			 (long long)json_integer_value(json_object_get(ev, "previousEventId")));
		strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

static void test_history_map(struct loop *loop, struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"MaxConcurrency\":1,"
		"\"ItemProcessor\":{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\","
		"\"End\":true}}},\"End\":true}}}");
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = NULL;
	json_t *in = json_loads("[1,2]", JSON_DECODE_ANY, NULL), *h;

	xo.record_history = true;
	CHECK(m && asl_execution_run_sync(e, m, in, &xo, &x) == 0);
	h = asl_execution_history(x);
	CHECK_STR_EQ(types_of(h),
		     "ExecutionStarted:1:0 MapStateEntered:2:0 MapStateStarted:3:2 "
		     "MapIterationStarted:4:3 PassStateEntered:5:4 PassStateExited:6:5 "
		     "MapIterationSucceeded:7:6 MapIterationStarted:8:6 PassStateEntered:9:8 "
		     "PassStateExited:10:9 MapIterationSucceeded:11:10 MapStateSucceeded:12:10 "
		     "MapStateExited:13:10 ExecutionSucceeded:14:13");
	/* detail shapes: inputs and outputs are JSON text */
	CHECK_STR_EQ(json_string_value(json_object_get(
			     json_object_get(json_array_get(h, 1), "stateEnteredEventDetails"),
			     "input")),
		     "[1,2]");
	CHECK_INT_EQ(json_integer_value(json_object_get(
			     json_object_get(json_array_get(h, 2), "mapStateStartedEventDetails"),
			     "length")),
		     2);
	json_decref(h);
	json_decref(in);
	asl_execution_free(x);
	asl_machine_unref(m);
	(void)loop;
}

static void test_history_task_retry_catch(struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"arn:aws:states:::test:fail:X\",\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"],"
		"\"MaxAttempts\":1}],\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"P\"}],"
		"\"End\":true},\"P\":{\"Type\":\"Pass\",\"End\":true}}}");
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = NULL;
	json_t *h;

	xo.record_history = true;
	xo.wait_scale = 0;
	CHECK(m && asl_execution_run_sync(e, m, NULL, &xo, &x) == 0);
	h = asl_execution_history(x);
	/* resource is not test:..., so the double fails it at start: TaskStartFailed */
	CHECK(strstr(types_of(h), "TaskStateEntered:2:0 TaskScheduled:3:2") != NULL);
	CHECK(strstr(types_of(h), "TaskStateExited") != NULL);
	CHECK(strstr(types_of(h), "ExecutionSucceeded") != NULL);
	json_decref(h);
	asl_execution_free(x);
	asl_machine_unref(m);
}

struct done_rec {
	int n;
	enum asl_status last;
};

static void on_done(void *arg, struct asl_execution *x, enum asl_status st, json_t *output,
		    const char *error, const char *cause)
{
	struct done_rec *r = arg;

	r->n++;
	r->last = st;
}

static void test_many_waits_and_stop(struct loop *loop, struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":10,"
		"\"End\":true}}}");
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *xs[1000];
	struct done_rec rec = { 0, ASL_RUNNING };
	uint64_t t0 = loop_now_ms();
	int i, ok = 0;

	xo.wait_scale = 0.01; /* 100 ms */
	xo.on_done = on_done;
	xo.arg = &rec;
	for (i = 0; i < 1000; i++)
		if (asl_execution_start(e, m, NULL, &xo, &xs[i]) == 0)
			ok++;
	CHECK_INT_EQ(ok, 1000);
	CHECK_INT_EQ(rec.n, 0);
	asl_execution_stop(xs[0], "Stopped", "by the test");
	CHECK_INT_EQ(rec.n, 1);
	CHECK_INT_EQ(rec.last, ASL_ABORTED);
	loop_run(loop);
	CHECK_INT_EQ(rec.n, 1000);
	CHECK(loop_now_ms() - t0 < 2000);
	CHECK_INT_EQ(asl_execution_status(xs[1]), ASL_SUCCEEDED);
	for (i = 0; i < 1000; i++)
		asl_execution_free(xs[i]);
	asl_machine_unref(m);
}

static void test_no_history_fast_path(struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}");
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = NULL;
	json_t *in = json_pack("{s:i}", "a", 1);
	int i, good = 0;

	xo.type = ASL_EXPRESS;
	for (i = 0; i < 1000; i++) {
		if (asl_execution_start(e, m, in, &xo, &x) == 0 &&
		    asl_execution_status(x) == ASL_SUCCEEDED &&
		    asl_execution_output(x) == in && asl_execution_history(x) == NULL)
			good++;
		asl_execution_free(x);
	}
	CHECK_INT_EQ(good, 1000); /* completes inside start, shares the input by reference */
	json_decref(in);
	asl_machine_unref(m);
}

struct journal {
	json_t *events;
	const char *stop_after; /* "crash" (stop journaling) after this event type */
	bool crashed;
};

static void journal_event(void *arg, struct asl_execution *x, json_t *ev)
{
	struct journal *j = arg;

	if (j->crashed)
		return;
	json_array_append(j->events, ev);
	if (j->stop_after && !strcmp(json_string_value(json_object_get(ev, "type")), j->stop_after))
		j->crashed = true;
}

/*
 * Run @def journaling events until @stop_after, "crash" (free the
 * execution), resume from the journal and return the resumed execution.
 */
static struct asl_execution *crash_and_resume(struct loop *loop, struct asl_engine *e,
					      struct asl_machine *m, const char *stop_after,
					      json_t *input, json_t **ret_journal)
{
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct journal j = { json_array(), stop_after, false };
	struct asl_execution *x = NULL, *y = NULL;
	struct asl_err err;

	xo.name = "resume-me";
	xo.on_event = journal_event;
	xo.arg = &j;
	xo.wait_scale = 0.01;
	CHECK(asl_execution_start(e, m, input, &xo, &x) == 0);
	while (!j.crashed && asl_execution_status(x) == ASL_RUNNING)
		loop_run(loop); /* cannot happen with these machines: they wait */
	asl_execution_free(x); /* the crash */
	xo.on_event = journal_event;
	j.crashed = false;
	j.stop_after = NULL;
	xo.record_history = true;
	CHECK(asl_execution_resume(e, m, j.events, &xo, &y, &err) == 0);
	while (y && asl_execution_status(y) == ASL_RUNNING)
		loop_run(loop);
	*ret_journal = j.events;
	return y;
}

static void test_resume(struct loop *loop, struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"A\",\"States\":{"
		"\"A\":{\"Type\":\"Pass\",\"Assign\":{\"n.$\":\"States.MathAdd($.n, 1)\"},"
		"\"Next\":\"W\"},"
		"\"W\":{\"Type\":\"Wait\",\"Seconds\":5,\"Next\":\"C\"},"
		"\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$n\","
		"\"NumericEquals\":2,\"Next\":\"B\"}],\"Default\":\"F\"},"
		"\"F\":{\"Type\":\"Fail\",\"Error\":\"Wrong\"},"
		"\"B\":{\"Type\":\"Pass\",\"Parameters\":{\"n.$\":\"$n\"},\"End\":true}}}");
	json_t *in = json_pack("{s:i}", "n", 1), *journal = NULL, *h;
	struct asl_execution *y;
	const char *stops[] = { "WaitStateEntered", "PassStateExited", "ChoiceStateExited",
				"ExecutionStarted" };
	size_t i;

	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		y = crash_and_resume(loop, e, m, stops[i], in, &journal);
		CHECK(y != NULL);
		if (!y)
			continue;
		CHECK_INT_EQ(asl_execution_status(y), ASL_SUCCEEDED);
		{
			json_t *want = json_pack("{s:i}", "n", 2);

			if (!json_equal(asl_execution_output(y), want))
				fprintf(stderr, "resume after %s: %s %s\n", stops[i],
					asl_status_name(asl_execution_status(y)),
					asl_execution_error(y) ? asl_execution_error(y) : "");
			CHECK(json_equal(asl_execution_output(y), want));
			json_decref(want);
		}
		CHECK_STR_EQ(asl_execution_name(y), "resume-me");
		h = asl_execution_history(y);
		/* ids continue without gaps or repeats, one ExecutionStarted */
		{
			size_t k, starts = 0;
			bool ids_ok = true;

			for (k = 0; k < json_array_size(h); k++) {
				json_t *ev = json_array_get(h, k);

				if (json_integer_value(json_object_get(ev, "id")) != (json_int_t)k + 1)
					ids_ok = false;
				if (!strcmp(json_string_value(json_object_get(ev, "type")),
					    "ExecutionStarted"))
					starts++;
			}
			if (!ids_ok)
				fprintf(stderr, "resume after %s: ids %s\n", stops[i], types_of(h));
			CHECK(ids_ok);
			CHECK_INT_EQ(starts, 1);
		}
		json_decref(h);
		/* resuming an ended history returns it ended */
		{
			struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
			struct asl_execution *z = NULL;
			struct asl_err err;

			h = asl_execution_history(y);
			CHECK(asl_execution_resume(e, m, h, &xo, &z, &err) == 0);
			CHECK(z && asl_execution_status(z) == ASL_SUCCEEDED);
			CHECK(z && json_equal(asl_execution_output(z), asl_execution_output(y)));
			asl_execution_free(z);
			json_decref(h);
		}
		asl_execution_free(y);
		json_decref(journal);
	}
	json_decref(in);
	asl_machine_unref(m);
}

static void test_map_concurrency(struct loop *loop, struct asl_engine *e, struct dbl *d)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\","
		"\"MaxConcurrencyPath\":\"$.c\",\"ItemsPath\":\"$.items\",\"ItemProcessor\":{"
		"\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"test:sleep:5\",\"End\":true}}},\"End\":true}}}");
	json_t *in = json_loads("{\"c\":3,\"items\":[1,2,3,4,5,6,7,8,9,10]}", 0, NULL);
	struct asl_execution *x = NULL;

	d->max_running = 0;
	CHECK(m && asl_execution_run_sync(e, m, in, NULL, &x) == 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	CHECK_INT_EQ(d->max_running, 3);
	asl_execution_free(x);
	/* 0 = unbounded: all ten at once */
	json_object_set_new(in, "c", json_integer(0));
	d->max_running = 0;
	CHECK(asl_execution_run_sync(e, m, in, NULL, &x) == 0);
	CHECK_INT_EQ(d->max_running, 10);
	asl_execution_free(x);
	json_decref(in);
	asl_machine_unref(m);
	(void)loop;
}

/* Retries without delay loop in the driver, not on the stack; the cap still holds. */
static void test_retry_storm(struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
		"\"nope:x\",\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"],\"MaxAttempts\":"
		"30000}],\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"C\"}],"
		"\"End\":true},\"C\":{\"Type\":\"Pass\",\"End\":true}}}");
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = NULL;

	xo.wait_scale = 0;
	xo.history_cap = 0;
	CHECK(m && asl_execution_run_sync(e, m, NULL, &xo, &x) == 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED); /* caught after 30001 attempts */
	CHECK_INT_EQ(asl_execution_event_count(x), 1 + 1 + 30001 * 2 + 1 + 2 + 1);
	asl_execution_free(x);
	xo.history_cap = ASL_HISTORY_CAP;
	xo.record_history = true;
	CHECK(asl_execution_run_sync(e, m, NULL, &xo, &x) == 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_FAILED); /* the cap is not caught */
	CHECK_STR_EQ(asl_execution_error(x), "States.Runtime");
	CHECK_STR_EQ(asl_execution_cause(x),
		     "The execution reached the maximum number of history events (25000).");
	CHECK_INT_EQ(asl_execution_event_count(x), 25000);
	asl_execution_free(x);
	asl_machine_unref(m);
}

static void test_input_limit(struct asl_engine *e)
{
	struct asl_machine *m = machine(
		"{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}}");
	char *big = malloc(300000);
	struct asl_execution *x = NULL;
	json_t *in;

	memset(big, 'a', 299999);
	big[299999] = '\0';
	in = json_pack("{s:s}", "s", big);
	CHECK_INT_EQ(asl_execution_start(e, m, in, NULL, &x), -E2BIG);
	json_decref(in);
	free(big);
	asl_machine_unref(m);
}

static void test_numbers(void)
{
	json_t *v = json_pack("{s:f,s:f,s:I,s:f}", "a", 0.1, "b", 1.0, "c", (json_int_t)12345678901,
			      "d", 1.0 / 3.0);
	char *s = asl_json_dumps(v);

	CHECK_STR_EQ(s, "{\"a\":0.1,\"b\":1.0,\"c\":12345678901,\"d\":0.3333333333333333}");
	free(s);
	json_decref(v);
}

static void test_sizes(void)
{
	const char *docs[] = {
		"{\"a\":[1,-1,0,-9223372036854775808,9223372036854775807,10,-10,99,100]}",
		"[\"esc\\\"\\\\\\n\\t\\u0001\\u00e9\",true,false,null,{}]",
		"[0.1,1e300,-2.5,1.0]",
		"\"\"",
	};
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
		char *s = asl_json_dumps(v);

		CHECK(v && s);
		if (v && s)
			CHECK_INT_EQ(asl_json_size(v, 0), strlen(s));
		free(s);
		json_decref(v);
	}
}

static void test_load_errors(void)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_machine *m = NULL;
	char *msg = NULL;
	json_t *def = json_loads("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\","
				 "\"Next\":\"Nope\"}}}", 0, NULL);

	mo.validate = false;
	CHECK(asl_machine_new(def, &mo, &m, &msg) < 0);
	CHECK(msg && strstr(msg, "Nope"));
	free(msg);
	msg = NULL;
	json_decref(def);
	def = json_loads("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Bogus\"}}}", 0, NULL);
	CHECK(asl_machine_new(def, &mo, &m, &msg) < 0);
	CHECK(msg && strstr(msg, "Bogus"));
	free(msg);
	msg = NULL;
	json_decref(def);
	/* expressions are compiled at load: a bad intrinsic is a load error */
	def = json_loads("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\","
			 "\"Parameters\":{\"x.$\":\"States.Format('{}'\"},\"End\":true}}}", 0,
			 NULL);
	CHECK(asl_machine_new(def, &mo, &m, &msg) < 0);
	CHECK(msg && strstr(msg, "state 'A': Parameters"));
	free(msg);
	msg = NULL;
	/* with the validator on (the default), its diagnostics come back */
	mo.validate = true;
	CHECK(asl_machine_new(def, &mo, &m, &msg) < 0);
	CHECK(msg && strstr(msg, "/States/A/Parameters"));
	free(msg);
	json_decref(def);
}

int main(void)
{
	struct dbl d = { 0 };
	struct asl_task_ops ops = { dbl_start, dbl_cancel, NULL, &d };
	struct loop *loop;
	struct asl_engine *e;

	json_object_seed(1);
	run_cases(&d);
	loop = loop_new();
	e = asl_engine_new(loop, &ops);
	test_history_map(loop, e);
	test_history_task_retry_catch(e);
	test_many_waits_and_stop(loop, e);
	test_no_history_fast_path(e);
	test_resume(loop, e);
	test_map_concurrency(loop, e, &d);
	test_input_limit(e);
	test_retry_storm(e);
	test_numbers();
	test_sizes();
	test_load_errors();
	CHECK_INT_EQ(d.running, 0);
	asl_engine_free(e);
	loop_free(loop);
	return TEST_DONE();
}
