/*
 * Conformance runner: replays the AWS-recorded ASL cases of
 * ../shared/conformance/asl-aws-recorded.jsonl (or $STEPFS_CONFORMANCE) on
 * the engine and compares status, output and error name (the figure the
 * target is about), the cause (second figure), the history event-type
 * sequence (third figure) and the history detail shapes (keys of every event
 * and its *EventDetails, fourth figure). A recording that stopped the
 * execution through the API is replayed with asl_execution_stop() while it
 * waits. Definitions in the JSONata query language run like the others and
 * are also counted on their own (jsonata x/y). Cases that need something
 * this runner does not have are skipped and counted per reason: Lambda
 * functions (class lambda_only) unless a stand-in runner is configured,
 * ItemReader over S3 (itemreader_s3), TestState mocks, and recordings that
 * captured no final status. Every failure is listed with its reason; the
 * CHECKs assert only the thresholds, so the suite stays green while the
 * target holds. The file is absent from release tarballs: then it skips.
 *
 * Placeholders of the recordings ("<ExecArnPart_0idx>", "date", ...) match
 * any string; "<json-input:1>" matches any text.
 */
#include <errno.h>
#include <fnmatch.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "engine/mockcfg.h"
#include "engine/asl_s3.h"
#include "engine/taskrun.h"
#include "fs/bucketmap.h"
#include "fs/localstore.h"
#include "fs/store.h"
#include "tests/harness.h"

enum { CL_PURE, CL_LAMBDA, CL_S3, CL_N };

/* % of the pure JSONata cases that must pass (the rest are listed as FAIL) */
#define JSONATA_PURE_FLOOR 95
/* itemreader_s3 rows, and how many must pass (known failures are listed as FAIL) */
#define ITEMREADER_ROWS 18
#define ITEMREADER_FLOOR 18
static const char *const class_names[CL_N] = { "pure", "lambda_only", "itemreader_s3" };

struct counts {
	int run, pass, fail, cause_ok, cause_n, hist_ok, hist_n, shape_ok, shape_n;
	int ja_run, ja_pass; /* the JSONata cases among run/pass */
	int skip_lambda, skip_s3, skip_mock, skip_nostatus;
	int skip_unnamed; /* lambda_only rows whose recording names no handler (mocked) */
	int rw_n, rw_ok;  /* ResultWriter rows whose manifest was checked */
};

/* A placeholder string of the recordings matches any string. */
static bool is_placeholder(const char *e)
{
	return !strcmp(e, "date") || !strcmp(e, "timestamp") || !strcmp(e, "start-time") ||
	       !strcmp(e, "entered-time") ||
	       !strcmp(e, "snf_role_arn") || !strcmp(e, "sfn_role_arn") ||
	       /* Lambda response metadata, replaced by its own name in the snapshots */
	       !strcmp(e, "x-amzn-RequestId") || !strcmp(e, "X-Amzn-Trace-Id") ||
	       !strcmp(e, "RequestId") ||
	       /* a function name given in the input, replaced in the snapshots */
	       !strcmp(e, "lambda_function_name") ||
	       (strchr(e, '<') && strchr(e, '>'));
}

/* The recordings normalise the account id to 111111111111. */
#define ACCOUNT_PLACEHOLDER "111111111111"

/* Turn "a<x>b" into the glob "a*b" (escaping glob characters). */
static void to_glob(const char *e, char *out, size_t len)
{
	size_t o = 0;

	for (; *e && o + 3 < len; e++) {
		if (*e == '<') {
			const char *c = strchr(e, '>');

			if (c) {
				out[o++] = '*';
				e = c;
				continue;
			}
		}
		if (!strncmp(e, ACCOUNT_PLACEHOLDER, 12)) {
			out[o++] = '*';
			e += 11;
			continue;
		}
		if (*e == '*' || *e == '?' || *e == '[' || *e == '\\')
			out[o++] = '\\';
		out[o++] = *e;
	}
	out[o] = '\0';
}

static bool str_match(const char *want, const char *got)
{
	char glob[8192];

	if (!strcmp(want, got))
		return true;
	if (!is_placeholder(want))
		return false;
	if (!strchr(want, '<'))
		return true;
	to_glob(want, glob, sizeof(glob));
	return fnmatch(glob, got, 0) == 0;
}

static bool json_match(json_t *want, json_t *got)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!want || !got)
		return want == got;
	if (json_is_string(want) && json_is_string(got))
		return str_match(json_string_value(want), json_string_value(got));
	if (json_is_string(want) && is_placeholder(json_string_value(want)))
		return true;
	/* test_math_random replaces the random number by this marker */
	if (json_is_string(want) && !strcmp(json_string_value(want), "RandomNumberGenerated"))
		return json_is_number(got);
	if (json_is_number(want) && json_is_number(got))
		return json_number_value(want) == json_number_value(got);
	if (json_typeof(want) != json_typeof(got))
		return false;
	switch (json_typeof(want)) {
	case JSON_OBJECT:
		if (json_object_size(want) != json_object_size(got))
			return false;
		json_object_foreach(want, k, v)
			if (!json_match(v, json_object_get(got, k)))
				return false;
		return true;
	case JSON_ARRAY:
		if (json_array_size(want) != json_array_size(got))
			return false;
		for (i = 0; i < json_array_size(want); i++)
			if (!json_match(json_array_get(want, i), json_array_get(got, i)))
				return false;
		return true;
	default:
		return json_equal(want, got);
	}
}

static bool def_contains(json_t *def, const char *text)
{
	char *s = json_dumps(def, JSON_COMPACT);
	bool r = s && strstr(s, text);

	free(s);
	return r;
}

static bool is_jsonata(json_t *def)
{
	return def_contains(def, "\"JSONata\"");
}

/* TestState: wrap one state into a machine; Choice targets become a Succeed. */
static json_t *wrap_state(json_t *state)
{
	json_t *st = json_deep_copy(state), *choices;
	const char *type = json_string_value(json_object_get(st, "Type"));
	size_t i;

	if (!strcmp(type, "Choice")) {
		choices = json_object_get(st, "Choices");
		for (i = 0; i < json_array_size(choices); i++)
			json_object_set_new(json_array_get(choices, i), "Next",
					    json_string("__Next"));
		if (json_object_get(st, "Default"))
			json_object_set_new(st, "Default", json_string("__Next"));
	} else if (strcmp(type, "Succeed") && strcmp(type, "Fail")) {
		json_object_del(st, "Next");
		json_object_set_new(st, "End", json_true());
	}
	return json_pack("{s:s,s:{s:o,s:{s:s}}}", "StartAt", "TestState", "States", "TestState",
			 st, "__Next", "Type", "Succeed");
}

static const char *want_status(json_t *exp)
{
	const char *s = json_string_value(json_object_get(exp, "status"));

	if (!s)
		return json_object_get(exp, "value") ? "SUCCEEDED" : NULL;
	if (!strcmp(s, "ExecutionSucceeded") || !strcmp(s, "SUCCEEDED"))
		return "SUCCEEDED";
	if (!strcmp(s, "ExecutionFailed") || !strcmp(s, "FAILED"))
		return "FAILED";
	if (!strcmp(s, "ExecutionTimedOut"))
		return "TIMED_OUT";
	if (!strcmp(s, "ExecutionAborted"))
		return "ABORTED";
	return NULL;
}

static int cmp_type(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Same multiset of event types, and the same type at every recorded integer id. */
/* Same key sets in @a and @b (objects), else the first difference in @why. */
static bool same_keys(json_t *a, json_t *b, const char *where, char *why, size_t len)
{
	const char *k;
	json_t *v;

	json_object_foreach(a, k, v)
		if (!json_object_get(b, k)) {
			snprintf(why, len, "%s lacks '%s'", where, k);
			return false;
		}
	json_object_foreach(b, k, v)
		if (!json_object_get(a, k)) {
			snprintf(why, len, "%s has extra '%s'", where, k);
			return false;
		}
	return true;
}

/*
 * Detail shapes: for every recorded event with an integer id, the event with
 * that id has the same keys, and its *EventDetails object the same keys
 * (the values are run-specific: ARNs, timestamps, Lambda metadata).
 */
static bool history_shapes(json_t *want, json_t *got, char *why, size_t len)
{
	size_t i, j;

	for (i = 0; i < json_array_size(want); i++) {
		json_t *ev = json_array_get(want, i), *id = json_object_get(ev, "id"), *g = NULL;
		const char *k, *type = json_string_value(json_object_get(ev, "type"));
		char where[128];
		json_t *v;

		if (!json_is_integer(id))
			continue;
		for (j = 0; j < json_array_size(got) && !g; j++)
			if (json_equal(json_object_get(json_array_get(got, j), "id"), id))
				g = json_array_get(got, j);
		if (!g)
			continue; /* counted by history_match */
		snprintf(where, sizeof(where), "event #%lld %s", (long long)json_integer_value(id),
			 type ? type : "?");
		if (!same_keys(ev, g, where, why, len))
			return false;
		json_object_foreach(ev, k, v) {
			if (json_is_object(v) && !same_keys(v, json_object_get(g, k), where, why, len))
				return false;
		}
	}
	return true;
}

static bool history_match(json_t *want, json_t *got, char *why, size_t len)
{
	size_t nw = json_array_size(want), ng = json_array_size(got), i, j;
	const char **a, **b;
	bool ok = true;

	if (nw != ng) {
		snprintf(why, len, "history has %zu events, AWS %zu", ng, nw);
		return false;
	}
	a = calloc(nw + 1, sizeof(*a));
	b = calloc(ng + 1, sizeof(*b));
	for (i = 0; i < nw; i++) {
		a[i] = json_string_value(json_object_get(json_array_get(want, i), "type"));
		b[i] = json_string_value(json_object_get(json_array_get(got, i), "type"));
		if (!a[i])
			a[i] = "";
		if (!b[i])
			b[i] = "";
	}
	qsort(a, nw, sizeof(*a), cmp_type);
	qsort(b, ng, sizeof(*b), cmp_type);
	for (i = 0; i < nw && ok; i++)
		if (strcmp(a[i], b[i])) {
			snprintf(why, len, "event types differ (%s vs AWS %s)", b[i], a[i]);
			ok = false;
		}
	for (i = 0; i < nw && ok; i++) {
		json_t *ev = json_array_get(want, i), *id = json_object_get(ev, "id");
		const char *wt = json_string_value(json_object_get(ev, "type"));
		json_int_t n;
		const char *gt;

		if (!json_is_integer(id))
			continue;
		n = json_integer_value(id);
		if (n < 1 || (size_t)n > ng)
			continue;
		gt = NULL;
		for (j = 0; j < ng; j++) {
			json_t *g = json_array_get(got, j);

			if (json_integer_value(json_object_get(g, "id")) == n)
				gt = json_string_value(json_object_get(g, "type"));
		}
		if (!gt || !wt || strcmp(gt, wt)) {
			snprintf(why, len, "event #%lld is %s, AWS %s", (long long)n,
				 gt ? gt : "?", wt ? wt : "?");
			ok = false;
		}
	}
	free(a);
	free(b);
	return ok;
}

static int run_row(json_t *row, struct loop *loop, struct asl_engine *e, struct counts *c,
		   int cls, bool lambdas, bool s3)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *kind = json_string_value(json_object_get(row, "kind"));
	const char *type = json_string_value(json_object_get(row, "type"));
	json_t *def = json_object_get(row, "definition");
	json_t *exp = json_object_get(row, "expected");
	json_t *hist = json_object_get(row, "expected_history");
	const char *input_text = json_string_value(json_object_get(row, "input"));
	json_t *input = NULL, *wrapped = NULL, *want_out = NULL, *parsed = NULL;
	const char *st_want = want_status(exp), *err_want, *cause_want;
	json_t *rev_out = NULL;
	struct asl_machine *m = NULL;
	struct asl_execution *x = NULL;
	char why[512] = "", hwhy[256] = "";
	char *msg = NULL;
	bool ok = true, test_state = kind && !strcmp(kind, "test_state");
	bool jsonata = is_jsonata(def);

	if (!s3 && (cls == CL_S3 || def_contains(def, "\"ResultWriter\""))) {
		/* a ResultWriter writes to S3: counted with the S3 cases */
		c->skip_s3++;
		return 0;
	}
	if (cls == CL_LAMBDA && !lambdas) {
		c->skip_lambda++;
		return 0;
	}
	if (test_state && strstr(id, "mock")) {
		c->skip_mock++;
		return 0;
	}
	if (!st_want && json_array_size(hist)) {
		/* a history recorded in reverse order: the final event has the largest id */
		json_t *lastev = NULL, *ev;
		size_t k;

		json_array_foreach(hist, k, ev)
			if (!lastev || json_integer_value(json_object_get(ev, "id")) >
					       json_integer_value(json_object_get(lastev, "id")))
				lastev = ev;
		if (!strcmp(json_string_value(json_object_get(lastev, "type")) ?: "",
			    "ExecutionSucceeded")) {
			st_want = "SUCCEEDED";
			rev_out = json_object_get(json_object_get(lastev,
								  "executionSucceededEventDetails"),
						  "output");
		}
	}
	if (!st_want) {
		c->skip_nostatus++;
		return 0;
	}
	c->run++;
	c->ja_run += jsonata;
	if (test_state)
		def = wrapped = wrap_state(def);
	if (input_text) {
		input = json_loads(input_text, JSON_DECODE_ANY, NULL);
	}
	mo.validate = false; /* the validator's own figure is `stepfs validate`'s business */
	mo.name = "StateMachine";
	if (asl_machine_new(def, &mo, &m, &msg) < 0) {
		snprintf(why, sizeof(why), "load failed: %s", msg ? msg : "?");
		ok = false;
		goto out;
	}
	xo.name = "exec";
	xo.wait_scale = 0;
	xo.record_history = true;
	if (type && strstr(type, "EXPRESS"))
		xo.type = ASL_EXPRESS;
	if (!strcmp(st_want, "ABORTED")) {
		/* the recording test called StopExecution while the execution waited */
		xo.wait_scale = 1;
		if (asl_execution_start(e, m, input, &xo, &x) < 0) {
			snprintf(why, sizeof(why), "could not start");
			ok = false;
			goto out;
		}
		asl_execution_stop(x, NULL, NULL);
	} else if (asl_execution_run_sync(e, m, input, &xo, &x) < 0) {
		snprintf(why, sizeof(why), "could not start");
		ok = false;
		goto out;
	}
	if (strcmp(asl_status_name(asl_execution_status(x)), st_want)) {
		snprintf(why, sizeof(why), "status %s, AWS %s (error %s: %.200s)",
			 asl_status_name(asl_execution_status(x)), st_want,
			 asl_execution_error(x) ? asl_execution_error(x) : "-",
			 asl_execution_cause(x) ? asl_execution_cause(x) : "-");
		ok = false;
		goto out;
	}
	if (!strcmp(st_want, "SUCCEEDED")) {
		want_out = json_object_get(exp, "output");
		if (!want_out)
			want_out = json_object_get(exp, "value");
		if (!want_out)
			want_out = rev_out;
		if (json_is_string(want_out)) {
			parsed = json_loads(json_string_value(want_out), JSON_DECODE_ANY, NULL);
			if (parsed)
				want_out = parsed;
		}
		if (want_out && !json_match(want_out, asl_execution_output(x))) {
			char *g = asl_json_dumps(asl_execution_output(x));
			char *w = asl_json_dumps(want_out);

			snprintf(why, sizeof(why), "output %.200s, AWS %.200s", g ? g : "?",
				 w ? w : "?");
			free(g);
			free(w);
			ok = false;
			goto out;
		}
	} else {
		err_want = json_string_value(json_object_get(exp, "error"));
		cause_want = json_string_value(json_object_get(exp, "cause"));
		if ((err_want || asl_execution_error(x)) &&
		    (!err_want || !asl_execution_error(x) ||
		     strcmp(err_want, asl_execution_error(x)))) {
			snprintf(why, sizeof(why), "error %s, AWS %s (cause %.200s)",
				 asl_execution_error(x) ? asl_execution_error(x) : "(none)",
				 err_want ? err_want : "(none)",
				 asl_execution_cause(x) ? asl_execution_cause(x) : "-");
			ok = false;
			goto out;
		}
		if (cause_want || json_object_get(exp, "cause")) {
			json_t *cw = json_object_get(exp, "cause"), *cg = NULL;

			/* a cause that is JSON text is stored parsed: compare it parsed */
			if (!cause_want && json_is_object(cw) && asl_execution_cause(x))
				cg = json_loads(asl_execution_cause(x), 0, NULL);
			c->cause_n++;
			if ((cause_want && asl_execution_cause(x) &&
			     str_match(cause_want, asl_execution_cause(x))) ||
			    (cg && json_match(cw, cg)))
				c->cause_ok++;
			else
				printf("CAUSE %s %s: cause '%s', AWS '%s'\n", class_names[cls], id,
				       asl_execution_cause(x) ? asl_execution_cause(x) : "(none)",
				       cause_want ? cause_want : "(not a string)");
			json_decref(cg);
		}
	}
out:
	if (ok) {
		c->pass++;
		c->ja_pass += jsonata;
	} else {
		c->fail++;
		printf("FAIL %s %s: %s\n", class_names[cls], id, why);
	}
	if (x && json_array_size(hist) && !test_state) {
		json_t *h = asl_execution_history(x);

		c->hist_n++;
		if (history_match(hist, h, hwhy, sizeof(hwhy)))
			c->hist_ok++;
		else
			printf("HISTORY %s %s: %s\n", class_names[cls], id, hwhy);
		c->shape_n++;
		if (history_shapes(hist, h, hwhy, sizeof(hwhy)))
			c->shape_ok++;
		else
			printf("SHAPE %s %s: %s\n", class_names[cls], id, hwhy);
		json_decref(h);
	}
	(void)loop;
	asl_execution_free(x);
	asl_machine_unref(m);
	json_decref(input);
	json_decref(wrapped);
	json_decref(parsed);
	free(msg);
	return ok ? 0 : -1;
}


/*
 * Lambda stand-ins (owned by the task runner, engine/taskrun.c): each
 * lambda_only row names its functions in "lambdas" (ARN -> handler file);
 * the trivial handlers are played by tests/helper_task.c modes, wired in
 * through a functions table, and the row runs on an engine whose tasks go
 * through the real task runner. Rows whose "lambdas" is empty name no
 * handler (LocalStack's local_mocking and TestState recordings, answered by
 * mocks): run_mocked_row() below answers them from their recorded history
 * where it holds the results; the rest are skipped as "unnamed".
 */
static const struct {
	const char *handler; /* base name of the recorded handler_file */
	const char *mode;    /* helper_task mode */
	const char *arg;
} lambda_standins[] = {
	{ "id_function.py", "lambda-id", NULL },
	{ "raise_exception.py", "lambda-raise", NULL },
	{ "raise_custom_exception.py", "lambda-raise-custom", NULL },
	{ "return_bytes_str.py", "lambda-bytes-str", NULL },
	{ "large_output_string.py", "lambda-large", NULL },
	{ "echo_function.py", "lambda-echo", NULL },
	{ "wait_60_seconds.py", "lambda-sleep", "60" },
};

static bool lambda_helper(char *path, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", path, len - 32);
	char *slash;

	if (n <= 0)
		return false;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return false;
	strcpy(slash + 1, "helper_task");
	return access(path, X_OK) == 0;
}

/*
 * Rows with no handler names (LocalStack's local_mocking tests) were answered
 * on AWS by real functions and, in the original test, by a Step Functions
 * Local mock file. Their recorded history holds each function result: the
 * mock file is rebuilt from it (per state, in invocation order: every
 * LambdaFunctionSucceeded / TaskSucceeded output as "Return", every
 * LambdaFunctionFailed / TaskFailed error and cause as "Throw") and the row
 * runs through the mock runner (engine/mockcfg, the parser `stepfs run
 * --mock-config` uses). TestState rows have no history: their answers came
 * from the request's mock or context parameters, which were not recorded.
 */

/* The name of the state whose task produced event @ev: follow previousEventId to *StateEntered. */
static const char *mock_state_of(json_t *hist, json_t *ev)
{
	size_t i, guard;

	for (guard = 0; ev && guard < json_array_size(hist); guard++) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_int_t prev = json_integer_value(json_object_get(ev, "previousEventId"));
		json_t *p = NULL, *e;

		if (type && strlen(type) > 12 && !strcmp(type + strlen(type) - 12, "StateEntered"))
			return json_string_value(json_object_get(
				json_object_get(ev, "stateEnteredEventDetails"), "name"));
		json_array_foreach(hist, i, e)
			if (json_integer_value(json_object_get(e, "id")) == prev)
				p = e;
		ev = p;
	}
	return NULL;
}

static int cmp_event_id(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));

	return x < y ? -1 : x > y;
}

/* A recorded output or cause: JSON text is kept as the value it holds. */
static json_t *mock_value(json_t *v)
{
	json_t *p;

	if (json_is_string(v)) {
		p = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
		if (p)
			return p;
	}
	return v ? json_incref(v) : json_null();
}

/* The mock file's JSON for @hist, or NULL if it holds no function result. */
static size_t mock_from_map_outputs(json_t *def, json_t *hist, json_t *tc, json_t *resps);

static json_t *mock_file_from_history(json_t *def, json_t *hist)
{
	json_t *tc = json_object(), *resps = json_object(), *root = NULL;
	size_t n = json_array_size(hist), i, results = 0;
	json_t **evs = calloc(n + 1, sizeof(*evs));

	if (!evs || !tc || !resps)
		goto out;
	for (i = 0; i < n; i++)
		evs[i] = json_array_get(hist, i);
	qsort(evs, n, sizeof(*evs), cmp_event_id);
	for (i = 0; i < n; i++) {
		const char *type = json_string_value(json_object_get(evs[i], "type")) ?: "";
		bool ok = !strcmp(type, "LambdaFunctionSucceeded") || !strcmp(type, "TaskSucceeded");
		bool failed = !strcmp(type, "LambdaFunctionFailed") || !strcmp(type, "TaskFailed");
		const char *state = mock_state_of(hist, evs[i]);
		json_t *d, *resp, *entry;
		char rname[300], idx[24];

		if ((!ok && !failed) || !state)
			continue;
		d = json_object_get(evs[i], ok ? (type[0] == 'L' ? "lambdaFunctionSucceededEventDetails"
								  : "taskSucceededEventDetails")
					       : (type[0] == 'L' ? "lambdaFunctionFailedEventDetails"
								 : "taskFailedEventDetails"));
		snprintf(rname, sizeof(rname), "recorded %s", state);
		resp = json_object_get(resps, rname);
		if (!resp) {
			resp = json_object();
			json_object_set_new(resps, rname, resp);
			json_object_set_new(tc, state, json_string(rname));
		}
		snprintf(idx, sizeof(idx), "%zu", json_object_size(resp));
		if (ok) {
			entry = json_pack("{s:o}", "Return", mock_value(json_object_get(d, "output")));
		} else {
			json_t *cause = mock_value(json_object_get(d, "cause"));
			char *ct = json_is_string(cause) ? NULL : json_dumps(cause, JSON_COMPACT |
										JSON_ENCODE_ANY);

			entry = json_pack("{s:{s:s,s:s}}", "Throw", "Error",
					  json_string_value(json_object_get(d, "error")) ?: "",
					  "Cause", ct ? ct : json_string_value(cause) ?: "");
			free(ct);
			json_decref(cause);
		}
		json_object_set_new(resp, idx, entry);
		results++;
	}
	if (!results)
		results = mock_from_map_outputs(def, hist, tc, resps);
	if (results)
		root = json_pack("{s:{s:{s:{s:O}}},s:O}", "StateMachines", "StateMachine",
				 "TestCases", "Recorded", tc, "MockedResponses", resps);
out:
	free(evs);
	json_decref(tc);
	json_decref(resps);
	return root;
}

/*
 * A DISTRIBUTED Map's iterations are child executions, absent from the
 * recorded history; but when the ItemProcessor is a single Task state that
 * ends it and touches no data (no path, selector or template fields), and the
 * Map keeps its result whole at a plain "$.field" ResultPath, each iteration's
 * result is the function's answer and the recorded MapStateExited output holds
 * them in item order. With MaxConcurrency 1 that order is the invocation order.
 * Returns the number of results added to @tc/@resps for such Maps.
 */
static size_t mock_from_map_outputs(json_t *def, json_t *hist, json_t *tc, json_t *resps)
{
	static const char *const data_fields[] = { "InputPath", "Parameters", "ResultSelector",
						   "ResultPath", "OutputPath", "Arguments", "Output",
						   "Assign" };
	json_t *states = json_object_get(def, "States"), *st, *ev;
	const char *name;
	size_t added = 0, i, f;

	json_object_foreach(states, name, st) {
		json_t *proc = json_object_get(st, "ItemProcessor") ?: json_object_get(st, "Iterator");
		json_t *pstates = json_object_get(proc, "States"), *task;
		const char *rp = json_string_value(json_object_get(st, "ResultPath"));
		const char *tname = json_string_value(json_object_get(proc, "StartAt"));
		json_t *resp;
		char rname[300];

		if (strcmp(json_string_value(json_object_get(st, "Type")) ?: "", "Map") ||
		    json_integer_value(json_object_get(st, "MaxConcurrency")) != 1 ||
		    json_object_get(st, "ResultSelector") || json_object_get(st, "OutputPath") ||
		    !rp || strncmp(rp, "$.", 2) || strpbrk(rp + 2, ".[") ||
		    json_object_size(pstates) != 1 || !tname ||
		    !(task = json_object_get(pstates, tname)) ||
		    strcmp(json_string_value(json_object_get(task, "Type")) ?: "", "Task") ||
		    !json_is_true(json_object_get(task, "End")))
			continue;
		for (f = 0; f < sizeof(data_fields) / sizeof(data_fields[0]); f++)
			if (json_object_get(task, data_fields[f]))
				break;
		if (f < sizeof(data_fields) / sizeof(data_fields[0]))
			continue;
		snprintf(rname, sizeof(rname), "recorded %s", tname);
		resp = json_object();
		json_array_foreach(hist, i, ev) {
			json_t *d = json_object_get(ev, "stateExitedEventDetails"), *out, *r;
			size_t j;

			if (strcmp(json_string_value(json_object_get(ev, "type")) ?: "",
				   "MapStateExited") ||
			    strcmp(json_string_value(json_object_get(d, "name")) ?: "", name))
				continue;
			out = mock_value(json_object_get(d, "output"));
			json_array_foreach(json_object_get(out, rp + 2), j, r) {
				char idx[24];

				snprintf(idx, sizeof(idx), "%zu", json_object_size(resp));
				json_object_set_new(resp, idx, json_pack("{s:O}", "Return", r));
				added++;
			}
			json_decref(out);
		}
		if (json_object_size(resp)) {
			json_object_set_new(tc, tname, json_string(rname));
			json_object_set(resps, rname, resp);
		}
		json_decref(resp);
	}
	return added;
}

/* Run a lambda_only row that names no handler through a mock file built from its history. */
static void run_mocked_row(json_t *row, struct loop *loop, struct counts *c)
{
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *kind = json_string_value(json_object_get(row, "kind")) ?: "";
	json_t *root = NULL;
	struct mockcfg *cfg = NULL;
	struct mockcfg_run *mr = NULL;
	struct taskrun *tr = NULL;
	struct asl_task_ops inner, ops;
	struct asl_engine *e;
	char err[512];

	if (!strcmp(kind, "test_state")) {
		printf("SKIP lambda_only %s: a TestState call answered from the request's mock or "
		       "context parameters (not recorded)\n", id);
		c->skip_unnamed++;
		return;
	}
	root = mock_file_from_history(json_object_get(row, "definition"), json_object_get(row, "expected_history"));
	if (!root) {
		printf("SKIP lambda_only %s: the recorded history holds no function result (a "
		       "DISTRIBUTED Map whose iteration results are not recorded)\n", id);
		c->skip_unnamed++;
		return;
	}
	tr = taskrun_new(NULL); /* a state the history does not answer fails for real */
	taskrun_ops(tr, &inner);
	if (mockcfg_parse(root, "recorded history", &cfg, err, sizeof(err)) < 0 ||
	    mockcfg_run_new(cfg, "StateMachine", "Recorded", &inner, &mr, err, sizeof(err)) < 0) {
		printf("FAIL lambda_only %s: mock file from the history: %s\n", id, err);
		c->run++;
		c->fail++;
		goto out;
	}
	mockcfg_run_ops(mr, &ops);
	e = asl_engine_new(loop, &ops);
	run_row(row, loop, e, c, CL_LAMBDA, true, false);
	asl_engine_free(e);
out:
	mockcfg_run_free(mr);
	mockcfg_free(cfg);
	taskrun_free(tr);
	json_decref(root);
}

/* Run one lambda_only row with its stand-ins; false if a handler has none. */
static bool run_lambda_row(json_t *row, struct loop *loop, struct counts *c, const char *helper)
{
	json_t *lambdas = json_object_get(row, "lambdas"), *fns = json_object(), *v;
	struct taskrun_config *cfg = NULL;
	struct asl_task_ops ops;
	struct asl_engine *e;
	struct taskrun *tr;
	const char *arn;
	char err[512];
	json_t *root;
	size_t i;

	if (!json_object_size(lambdas)) {
		json_decref(fns);
		run_mocked_row(row, loop, c);
		return true;
	}
	json_object_foreach(lambdas, arn, v) {
		const char *hf = json_string_value(json_object_get(v, "handler_file"));
		const char *base = hf && strrchr(hf, '/') ? strrchr(hf, '/') + 1 : hf;

		for (i = 0; i < sizeof(lambda_standins) / sizeof(lambda_standins[0]); i++)
			if (base && !strcmp(base, lambda_standins[i].handler))
				break;
		if (i == sizeof(lambda_standins) / sizeof(lambda_standins[0])) {
			json_decref(fns);
			return false;
		}
		json_object_set_new(fns, arn,
				    json_pack("{s:s,s:[s,s*]}", "exec", helper, "args",
					      lambda_standins[i].mode, lambda_standins[i].arg));
	}
	root = json_pack("{s:o,s:{s:s}}", "functions", fns, "tasks", "account", "111111111111");
	if (taskrun_config_parse(root, NULL, &cfg, err, sizeof(err)) < 0) {
		printf("FAIL lambda_only stand-in config: %s\n", err);
		json_decref(root);
		return false;
	}
	json_decref(root);
	tr = taskrun_new(cfg);
	taskrun_ops(tr, &ops);
	e = asl_engine_new(loop, &ops);
	run_row(row, loop, e, c, CL_LAMBDA, true, false);
	asl_engine_free(e);
	taskrun_free(tr);
	taskrun_config_free(cfg);
	return true;
}

/*
 * itemreader_s3 rows (and the ResultWriter row): each runs against real
 * local-directory stores (fs/localstore.c), one directory per bucket under
 * a fresh temporary directory, filled with the row's "s3" objects (plus an
 * empty one for every ResultWriter bucket), served to the engine through
 * fs/bucketmap.c, the same asl_s3_ops the daemon uses. A ResultWriter row
 * also checks that the manifest it names exists and lists the results.
 */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static struct store *row_bucket(struct bucketmap *bm, const char *dir, const char *name)
{
	struct store_error se = { 0 };
	char path[4096];
	struct store *s;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return NULL;
	s = localstore_open(path, &se);
	if (s && bucketmap_add(bm, name, s, true) < 0) {
		store_free(s);
		return NULL;
	}
	return s;
}

static bool run_s3_row(json_t *row, struct loop *loop, struct counts *c, int cls)
{
	char dir[] = "/tmp/stepfs-conf-XXXXXX";
	json_t *objs = json_object_get(row, "s3"), *o, *rw;
	struct bucketmap *bm = NULL;
	struct asl_s3_ops ops;
	struct asl_engine *e = NULL;
	const char *b;
	size_t i;
	bool ok = false;

	if (!mkdtemp(dir))
		return false;
	bm = bucketmap_new(0);
	if (!bm)
		goto out;
	json_array_foreach(objs, i, o) {
		const char *key = json_string_value(json_object_get(o, "Key"));
		const char *body = json_string_value(json_object_get(o, "Body"));
		struct store_error se = { 0 };
		struct store *s;

		b = json_string_value(json_object_get(o, "Bucket"));
		if (!b || !key || !body)
			goto out;
		s = row_bucket(bm, dir, b);
		if (!s) {
			/* already served: find it by opening a second handle */
			struct store_error se2 = { 0 };
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", dir, b);
			s = localstore_open(path, &se2);
			if (!s)
				goto out;
			if (store_put(s, key, &STORE_BODY_MEM(body, strlen(body)), NULL, NULL, &se) !=
			    STORE_OK) {
				store_free(s);
				goto out;
			}
			store_free(s);
			continue;
		}
		if (store_put(s, key, &STORE_BODY_MEM(body, strlen(body)), NULL, NULL, &se) !=
		    STORE_OK)
			goto out;
	}
	rw = json_object_get(json_object_get(json_object_get(json_object_get(
					     row, "definition"), "States"), "MapState"),
			     "ResultWriter");
	b = json_string_value(json_object_get(json_object_get(rw, "Parameters"), "Bucket"));
	if (b && !row_bucket(bm, dir, b))
		goto out;
	bucketmap_ops(bm, &ops);
	e = asl_engine_new(loop, NULL);
	if (!e)
		goto out;
	asl_engine_set_s3(e, &ops);
	if (run_row(row, loop, e, c, cls, false, true) == 0 && b) {
		/* the manifest the output names was written, and lists the results */
		char path[4096];
		json_t *m;

		snprintf(path, sizeof(path), "%s/%s", dir, b);
		m = NULL;
		{
			struct store_error se = { 0 };
			struct store *s = localstore_open(path, &se);
			struct store_list l = { 0 };
			struct store_list_opts lo = STORE_LIST_OPTS_INIT;

			if (s && store_list_page(s, &lo, &l, &se) == STORE_OK) {
				for (i = 0; i < l.n; i++)
					if (strstr(l.entries[i].key, "/manifest.json")) {
						char buf[8192];
						size_t n = 0;

						if (store_get_range(s, l.entries[i].key, 0,
								    sizeof(buf) - 1, buf, &n,
								    &se) == STORE_OK) {
							buf[n] = '\0';
							m = json_loads(buf, 0, NULL);
						}
					}
				store_list_release(&l);
			}
			store_free(s);
		}
		c->rw_n++;
		if (m && json_array_size(json_object_get(
				 json_object_get(m, "ResultFiles"), "SUCCEEDED")) == 1)
			c->rw_ok++;
		else
			printf("FAIL ResultWriter: no manifest with one SUCCEEDED file in '%s'\n",
			       path);
		json_decref(m);
	}
	ok = true;
out:
	asl_engine_free(e);
	bucketmap_free(bm);
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ok;
}

static FILE *open_data(void)
{
	const char *env = getenv("STEPFS_CONFORMANCE");
	const char *cands[] = { "../shared/conformance/asl-aws-recorded.jsonl",
				"../../shared/conformance/asl-aws-recorded.jsonl" };
	FILE *f;
	size_t i;

	if (env)
		return fopen(env, "re");
	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		f = fopen(cands[i], "re");
		if (f)
			return f;
	}
	return NULL;
}

int main(void)
{
	struct counts c[CL_N];
	char helper[4096];
	bool have_helper = lambda_helper(helper, sizeof(helper));
	struct loop *loop;
	struct asl_engine *e;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int i;

	json_object_seed(1);
	memset(c, 0, sizeof(c));
	f = open_data();
	if (!f) {
		printf("conformance data not found (set STEPFS_CONFORMANCE): skipped\n");
		return TEST_DONE();
	}
	loop = loop_new();
	/* no task runner: Task states of pure cases do not call Lambda */
	e = asl_engine_new(loop, NULL);
	while (getline(&line, &cap, f) > 0) {
		json_t *row = json_loads(line, 0, NULL);
		const char *cls = json_string_value(json_object_get(row, "class"));
		int k = CL_PURE;

		if (!row)
			continue;
		if (cls && !strcmp(cls, "lambda_only"))
			k = CL_LAMBDA;
		else if (cls && !strcmp(cls, "itemreader_s3"))
			k = CL_S3;
		if (k == CL_LAMBDA && have_helper && run_lambda_row(row, loop, &c[k], helper)) {
			json_decref(row);
			continue;
		}
		if ((k == CL_S3 || def_contains(json_object_get(row, "definition"),
						"\"ResultWriter\"")) &&
		    run_s3_row(row, loop, &c[k], k)) {
			json_decref(row);
			continue;
		}
		run_row(row, loop, e, &c[k], k, false, false);
		json_decref(row);
	}
	free(line);
	fclose(f);
	for (i = 0; i < CL_N; i++) {
		struct counts *k = &c[i];

		printf("conformance %-13s: %d/%d pass (status+output+error) = %.1f%%, of which "
		       "JSONata %d/%d; causes %d/%d; history types %d/%d, detail shapes %d/%d; "
		       "skipped: lambda %d, s3 %d, mock %d, no-final-status %d, "
		       "lambda-unnamed %d\n",
		       class_names[i], k->pass, k->run, k->run ? 100.0 * k->pass / k->run : 0.0,
		       k->ja_pass, k->ja_run, k->cause_ok, k->cause_n, k->hist_ok, k->hist_n,
		       k->shape_ok, k->shape_n, k->skip_lambda, k->skip_s3, k->skip_mock, k->skip_nostatus, k->skip_unnamed);
	}
	printf("conformance ResultWriter manifests: %d/%d\n", c[CL_PURE].rw_ok, c[CL_PURE].rw_n);
	/* itemreader_s3: every row runs against local-directory stores */
	CHECK_INT_EQ(c[CL_S3].run, ITEMREADER_ROWS);
	CHECK(c[CL_S3].pass >= ITEMREADER_FLOOR);
	CHECK(c[CL_PURE].rw_ok == c[CL_PURE].rw_n);
	/* JSONPath and JSONata cases have their own floors: neither hides the other */
	CHECK(c[CL_PURE].run - c[CL_PURE].ja_run > 400);
	CHECK((c[CL_PURE].pass - c[CL_PURE].ja_pass) * 100 >=
	      (c[CL_PURE].run - c[CL_PURE].ja_run) * 98);
	CHECK(c[CL_PURE].ja_run >= 70);
	CHECK(c[CL_PURE].ja_pass * 100 >= c[CL_PURE].ja_run * JSONATA_PURE_FLOOR);
	if (have_helper) {
		CHECK(c[CL_LAMBDA].pass * 100 >= c[CL_LAMBDA].run * 95);
		CHECK(c[CL_LAMBDA].ja_run == 15 && c[CL_LAMBDA].ja_pass == c[CL_LAMBDA].ja_run);
	}
	asl_engine_free(e);
	loop_free(loop);
	return TEST_DONE();
}
