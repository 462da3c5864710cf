/*
 * mockcfg: the parser (a good file, and each kind of bad file with its exact
 * message) and the mock runner on the real engine and the real task runner:
 * Return, Throw with Retry taking invocations "0" then "1", a range "1-3",
 * a Map whose iterations share the count, Parallel branches (one throws, the
 * other's pending mocked task is cancelled), a missing invocation, a state the
 * test case does not name running its real program (tests/helper_task).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "engine/mockcfg.h"
#include "engine/taskrun.h"
#include "tests/harness.h"

static const char good[] =
	"{\"StateMachines\":{\"SM\":{\"TestCases\":{"
	"  \"Happy\":{\"Charge\":\"ok\"},"
	"  \"Retry\":{\"Charge\":\"busyThenOk\"},"
	"  \"Range\":{\"Charge\":\"range\"},"
	"  \"Map\":{\"Item\":\"perItem\"},"
	"  \"Real\":{\"Other\":\"ok\"},"
	"  \"Par\":{\"A\":\"boom\",\"B\":\"ok\"},"
	"  \"ParOk\":{\"A\":\"ok\",\"B\":\"range\"}}},"
	" \"Other\":{\"TestCases\":{}}},"
	" \"MockedResponses\":{"
	"  \"ok\":{\"0\":{\"Return\":{\"id\":\"ch_1\"}}},"
	"  \"busyThenOk\":{\"0\":{\"Throw\":{\"Error\":\"Pay.Busy\",\"Cause\":\"later\"}},"
	"                \"1\":{\"Return\":{\"id\":\"ch_2\"}}},"
	"  \"range\":{\"0\":{\"Throw\":{\"Error\":\"E0\",\"Cause\":\"c0\"}},"
	"           \"1-3\":{\"Throw\":{\"Error\":\"E13\",\"Cause\":\"c13\"}},"
	"           \"4\":{\"Return\":\"four\"}},"
	"  \"boom\":{\"0\":{\"Throw\":{\"Error\":\"Boom\",\"Cause\":\"b\"}}},"
	"  \"perItem\":{\"0\":{\"Return\":\"a\"},\"1-2\":{\"Return\":\"b\"}}}}";

/* Parse @text as a mock config named 'm.json'; the message (or "") in @msg. */
static int parse_text(const char *text, struct mockcfg **ret, char *msg, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	int r;

	msg[0] = '\0';
	if (!root) {
		snprintf(msg, len, "test bug: %s", jerr.text);
		return -1;
	}
	r = mockcfg_parse(root, "m.json", ret, msg, len);
	json_decref(root);
	return r;
}

static void expect_error(const char *text, const char *want)
{
	struct mockcfg *cfg = NULL;
	char msg[1024];

	CHECK_INT_EQ(parse_text(text, &cfg, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(msg, want);
	CHECK(cfg == NULL);
}

static void test_parse(void)
{
	struct mockcfg *cfg = NULL;
	struct mockcfg_run *r = NULL;
	char msg[1024];

	CHECK_INT_EQ(parse_text(good, &cfg, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(msg, "");
	/* two state machines: the name is needed */
	CHECK_INT_EQ(mockcfg_run_new(cfg, NULL, "Happy", NULL, &r, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(msg, "'m.json' defines 2 state machines ('SM', 'Other'): name the one to "
			  "use");
	CHECK_INT_EQ(mockcfg_run_new(cfg, "Nope", "Happy", NULL, &r, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(msg, "'m.json' has no state machine 'Nope' (it has 'SM', 'Other')");
	CHECK_INT_EQ(mockcfg_run_new(cfg, "SM", "Sad", NULL, &r, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(msg, "'m.json': state machine 'SM' has no test case 'Sad' (it has 'Happy', "
			  "'Retry', 'Range', 'Map', 'Real', 'Par', 'ParOk')");
	CHECK_INT_EQ(mockcfg_run_new(cfg, "Other", "X", NULL, &r, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(msg, "'m.json': state machine 'Other' has no test case 'X' (it has none)");
	CHECK(r == NULL);
	CHECK_INT_EQ(mockcfg_run_new(cfg, "SM", "Happy", NULL, &r, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(mockcfg_run_machine(r), "SM");
	mockcfg_run_free(r);
	mockcfg_free(cfg);

	/* the only state machine is the default */
	CHECK_INT_EQ(parse_text("{\"StateMachines\":{\"A\":{\"TestCases\":{\"T\":{}}}}}", &cfg,
				msg, sizeof(msg)), 0);
	r = NULL;
	CHECK_INT_EQ(mockcfg_run_new(cfg, NULL, "T", NULL, &r, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(r ? mockcfg_run_machine(r) : NULL, "A");
	mockcfg_run_free(r);
	mockcfg_free(cfg);

	expect_error("[]", "'m.json': expected an object with \"StateMachines\" and "
			   "\"MockedResponses\", not an array");
	expect_error("{\"StateMachines\":{},\"MockedResponse\":{}}",
		     "'m.json': /MockedResponse: unknown key (expected \"StateMachines\" and "
		     "\"MockedResponses\")");
	expect_error("{\"MockedResponses\":{}}", "'m.json': \"StateMachines\" is missing");
	expect_error("{\"StateMachines\":[]}",
		     "'m.json': /StateMachines: expected an object, not an array");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":7}",
		     "'m.json': /MockedResponses: expected an object, not a number");
	expect_error("{\"StateMachines\":{\"S\":{\"Cases\":{}}}}",
		     "'m.json': /StateMachines/S/Cases: unknown key (expected \"TestCases\")");
	expect_error("{\"StateMachines\":{\"S\":{}}}",
		     "'m.json': /StateMachines/S/TestCases: is missing");
	expect_error("{\"StateMachines\":{\"S\":\"x\"}}",
		     "'m.json': /StateMachines/S: expected an object with \"TestCases\", not a "
		     "string");
	expect_error("{\"StateMachines\":{\"S\":{\"TestCases\":{\"T\":[]}}}}",
		     "'m.json': /StateMachines/S/TestCases/T: expected an object mapping state "
		     "names to mocked responses, not an array");
	expect_error("{\"StateMachines\":{\"S\":{\"TestCases\":{\"T\":{\"St/a\":1}}}}}",
		     "'m.json': /StateMachines/S/TestCases/T/St~1a: expected the name of a "
		     "mocked response, not a number");
	expect_error("{\"StateMachines\":{\"S\":{\"TestCases\":{\"T\":{\"A\":\"R\"}}}},"
		     "\"MockedResponses\":{}}",
		     "'m.json': /StateMachines/S/TestCases/T/A: mocked response 'R' is not "
		     "defined in \"MockedResponses\"");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{}}}",
		     "'m.json': /MockedResponses/R: no invocation index (\"0\", \"1-2\", ...)");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":[]}}",
		     "'m.json': /MockedResponses/R: expected an object of invocation indexes "
		     "(\"0\", \"1-2\", ...), not an array");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"x\":{\"Return\":1}}}}",
		     "'m.json': /MockedResponses/R/x: invalid invocation index (expected a number "
		     "like \"0\" or an inclusive range like \"1-2\")");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"3-1\":{\"Return\":1}}}}",
		     "'m.json': /MockedResponses/R/3-1: invalid invocation index (expected a "
		     "number like \"0\" or an inclusive range like \"1-2\")");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"-1\":{\"Return\":1}}}}",
		     "'m.json': /MockedResponses/R/-1: invalid invocation index (expected a "
		     "number like \"0\" or an inclusive range like \"1-2\")");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"1-2-3\":{\"Return\":1}}}}",
		     "'m.json': /MockedResponses/R/1-2-3: invalid invocation index (expected a "
		     "number like \"0\" or an inclusive range like \"1-2\")");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"99999999999\":"
		     "{\"Return\":1}}}}",
		     "'m.json': /MockedResponses/R/99999999999: invalid invocation index "
		     "(expected a number like \"0\" or an inclusive range like \"1-2\")");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0-2\":{\"Return\":1},"
		     "\"2\":{\"Return\":2}}}}",
		     "'m.json': /MockedResponses/R/2: invocation index overlaps \"0-2\"");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{}}}}",
		     "'m.json': /MockedResponses/R/0: needs \"Return\" or \"Throw\"");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":5}}}",
		     "'m.json': /MockedResponses/R/0: expected an object with \"Return\" or "
		     "\"Throw\", not a number");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Return\":1,"
		     "\"Throw\":{\"Error\":\"E\"}}}}}",
		     "'m.json': /MockedResponses/R/0: \"Return\" and \"Throw\" exclude each other");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Returns\":1}}}}",
		     "'m.json': /MockedResponses/R/0: needs \"Return\" or \"Throw\"");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Return\":1,"
		     "\"Delay\":2}}}}",
		     "'m.json': /MockedResponses/R/0/Delay: unknown key (expected \"Return\" or "
		     "\"Throw\")");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Throw\":\"E\"}}}}",
		     "'m.json': /MockedResponses/R/0/Throw: expected an object with \"Error\" and "
		     "\"Cause\", not a string");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Throw\":"
		     "{\"Cause\":\"c\"}}}}}",
		     "'m.json': /MockedResponses/R/0/Throw: needs a non-empty \"Error\"");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Throw\":"
		     "{\"Error\":\"E\",\"Cause\":{}}}}}}",
		     "'m.json': /MockedResponses/R/0/Throw/Cause: expected a string, not an "
		     "object");
	expect_error("{\"StateMachines\":{},\"MockedResponses\":{\"R\":{\"0\":{\"Throw\":"
		     "{\"Error\":\"E\",\"Code\":\"1\"}}}}}",
		     "'m.json': /MockedResponses/R/0/Throw/Code: unknown key (expected \"Error\" "
		     "and \"Cause\")");
}

static void test_load(void)
{
	char path[] = "/tmp/test_mockcfg.XXXXXX", msg[1024], want[1200];
	struct mockcfg *cfg = NULL;
	int fd = mkstemp(path);
	FILE *f;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	fputs("{\"StateMachines\":\n  {\"S\": }", f);
	fclose(f);
	CHECK_INT_EQ(mockcfg_load(path, &cfg, msg, sizeof(msg)), -EINVAL);
	snprintf(want, sizeof(want), "'%s': malformed JSON at line 2, column 9: unexpected token "
		 "near '}'", path);
	CHECK_STR_EQ(msg, want);
	f = fopen(path, "w");
	fputs(good, f);
	fclose(f);
	CHECK_INT_EQ(mockcfg_load(path, &cfg, msg, sizeof(msg)), 0);
	mockcfg_free(cfg);
	(void)unlink(path);
	CHECK_INT_EQ(mockcfg_load(path, &cfg, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, path) != NULL);
}

struct world {
	struct loop *loop;
	struct taskrun *tr;
	struct mockcfg *cfg;
	char helper[4096];
};

/*
 * Run @def under test case @tc of state machine SM with @input; the
 * execution (ended) in *ret. Validation is on, so a mocked Lambda ARN with
 * no function behind it must pass the resource check.
 */
static int run_case(struct world *w, const char *def_text, const char *tc, const char *input,
		    struct asl_execution **ret, json_t **ret_hist)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	json_t *def = json_loads(def_text, 0, NULL), *in = json_loads(input, 0, NULL);
	struct asl_task_ops inner, ops;
	struct mockcfg_run *r = NULL;
	struct asl_machine *m = NULL;
	struct asl_engine *e = NULL;
	char msg[512], *text = NULL, *warn = NULL;
	int rc = -1;

	CHECK(def != NULL);
	taskrun_ops(w->tr, &inner);
	if (mockcfg_run_new(w->cfg, "SM", tc, &inner, &r, msg, sizeof(msg)) < 0) {
		printf("mockcfg_run_new: %s\n", msg);
		goto out;
	}
	CHECK_INT_EQ(mockcfg_run_bind(r, def, &warn), 0);
	CHECK(warn == NULL);
	free(warn);
	mockcfg_run_ops(r, &ops);
	mo.tasks = &ops;
	mo.name = "SM";
	mo.definition_dir = "/";
	if (asl_machine_new(def, &mo, &m, &text) < 0) {
		printf("asl_machine_new: %s\n", text ? text : "?");
		goto out;
	}
	e = asl_engine_new(w->loop, &ops);
	xo.wait_scale = 0;
	xo.record_history = true;
	rc = asl_execution_run_sync(e, m, in, &xo, ret);
	if (rc == 0 && ret_hist)
		*ret_hist = asl_execution_history(*ret);
out:
	asl_engine_free(e);
	asl_machine_unref(m);
	mockcfg_run_free(r);
	json_decref(def);
	json_decref(in);
	free(text);
	return rc;
}

static const char lambda_def[] =
	"{\"StartAt\":\"Charge\",\"States\":{\"Charge\":{\"Type\":\"Task\","
	"\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:charge\","
	"\"Retry\":[{\"ErrorEquals\":[\"Pay.Busy\",\"E13\"],\"MaxAttempts\":5}],"
	"\"Catch\":[{\"ErrorEquals\":[\"E0\"],\"ResultPath\":\"$.err\",\"Next\":\"Caught\"}],"
	"\"End\":true},\"Caught\":{\"Type\":\"Pass\",\"End\":true}}}";

/* The output of @x as compact JSON text (caller frees), or the error name. */
static char *outcome(struct asl_execution *x)
{
	char *s = NULL;

	if (asl_execution_status(x) == ASL_SUCCEEDED)
		return json_dumps(asl_execution_output(x), JSON_COMPACT | JSON_ENCODE_ANY |
								   JSON_SORT_KEYS);
	if (asprintf(&s, "%s: %s: %s", asl_status_name(asl_execution_status(x)),
		     asl_execution_error(x) ? asl_execution_error(x) : "-",
		     asl_execution_cause(x) ? asl_execution_cause(x) : "-") < 0)
		return NULL;
	return s;
}

/* How many events of @type are in @h. */
static int count_events(json_t *h, const char *type)
{
	json_t *ev;
	size_t i;
	int n = 0;

	json_array_foreach(h, i, ev)
		if (!strcmp(json_string_value(json_object_get(ev, "type")) ?: "", type))
			n++;
	return n;
}

static void test_return_throw(struct world *w)
{
	struct asl_execution *x = NULL;
	json_t *h = NULL;
	char *o;

	/* Return: the mocked value is the result, with a real Lambda history */
	CHECK_INT_EQ(run_case(w, lambda_def, "Happy", "{\"a\":1}", &x, &h), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "{\"id\":\"ch_1\"}");
	free(o);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionScheduled"), 1);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionStarted"), 1);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionSucceeded"), 1);
	json_decref(h);
	h = NULL;
	asl_execution_free(x);
	x = NULL;

	/* Throw, then Retry takes invocation "1" */
	CHECK_INT_EQ(run_case(w, lambda_def, "Retry", "{}", &x, &h), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "{\"id\":\"ch_2\"}");
	free(o);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionFailed"), 1);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionSucceeded"), 1);
	{
		json_t *ev;
		size_t i;

		json_array_foreach(h, i, ev) {
			json_t *d = json_object_get(ev, "lambdaFunctionFailedEventDetails");

			if (d) {
				CHECK_STR_EQ(json_string_value(json_object_get(d, "error")),
					     "Pay.Busy");
				CHECK_STR_EQ(json_string_value(json_object_get(d, "cause")),
					     "later");
			}
		}
	}
	json_decref(h);
	h = NULL;
	asl_execution_free(x);
	x = NULL;

	/* a range: 0 throws E0 (caught at once, no retry) */
	CHECK_INT_EQ(run_case(w, lambda_def, "Range", "{}", &x, NULL), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "{\"err\":{\"Cause\":\"c0\",\"Error\":\"E0\"}}");
	free(o);
	asl_execution_free(x);
	x = NULL;
}

/* invocation 0 throws E0, 1-3 throw E13 (one range), 4 returns: five invocations */
static void test_range(struct world *w)
{
	static const char def[] =
		"{\"StartAt\":\"Charge\",\"States\":{"
		"\"Charge\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:c\","
		"\"Retry\":[{\"ErrorEquals\":[\"E0\",\"E13\"],\"MaxAttempts\":4}],\"End\":true}}}";
	struct asl_execution *x = NULL;
	const char *errs[8];
	json_t *h = NULL, *ev;
	size_t i, nerr = 0;
	char *o;

	CHECK_INT_EQ(run_case(w, def, "Range", "{}", &x, &h), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "\"four\"");
	free(o);
	json_array_foreach(h, i, ev) {
		json_t *d = json_object_get(ev, "lambdaFunctionFailedEventDetails");

		if (d && nerr < 8)
			errs[nerr++] = json_string_value(json_object_get(d, "error"));
	}
	CHECK_INT_EQ(nerr, 4);
	if (nerr == 4) {
		CHECK_STR_EQ(errs[0], "E0");
		CHECK_STR_EQ(errs[1], "E13");
		CHECK_STR_EQ(errs[2], "E13");
		CHECK_STR_EQ(errs[3], "E13");
	}
	CHECK_INT_EQ(count_events(h, "LambdaFunctionScheduled"), 5);
	json_decref(h);
	asl_execution_free(x);
}

/*
 * A Map's iterations share the state's count (MaxConcurrency 1 keeps the
 * order): "0" -> a, "1-2" -> b. A fourth item has no invocation "3": the
 * execution fails with States.Runtime, which no Catch takes.
 */
static void test_map(struct world *w)
{
	static const char def[] =
		"{\"StartAt\":\"Each\",\"States\":{\"Each\":{\"Type\":\"Map\",\"MaxConcurrency\":1,"
		"\"ItemsPath\":\"$.items\",\"ItemProcessor\":{\"StartAt\":\"Item\",\"States\":{"
		"\"Item\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:i\","
		"\"End\":true}}},"
		"\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"Caught\"}],\"End\":true},"
		"\"Caught\":{\"Type\":\"Pass\",\"End\":true}}}";
	struct asl_execution *x = NULL;
	char *o;

	CHECK_INT_EQ(run_case(w, def, "Map", "{\"items\":[1,2,3]}", &x, NULL), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "[\"a\",\"b\",\"b\"]");
	free(o);
	asl_execution_free(x);
	x = NULL;
	CHECK_INT_EQ(run_case(w, def, "Map", "{\"items\":[1,2,3,4]}", &x, NULL), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "FAILED: States.Runtime: mock config 'm.json': mocked response "
			"'perItem' (state 'Item', test case of state machine 'SM') has no entry "
			"for invocation 3");
	free(o);
	asl_execution_free(x);
}

/* A state the test case does not name runs its real program (helper_task echo). */
static void test_real(struct world *w)
{
	static const char def[] =
		"{\"StartAt\":\"Step\",\"States\":{"
		"\"Step\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:echo\","
		"\"ResultPath\":\"$.step\",\"Next\":\"Other\"},"
		"\"Other\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:no\","
		"\"ResultPath\":\"$.other\",\"End\":true}}}";
	struct taskrun_stats before, after;
	struct asl_execution *x = NULL;
	struct mockcfg_run *r = NULL;
	char msg[256], *warn = NULL, *o;
	json_t *d;

	taskrun_get_stats(w->tr, &before);
	CHECK_INT_EQ(run_case(w, def, "Real", "{\"v\":1}", &x, NULL), 0);
	taskrun_get_stats(w->tr, &after);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "{\"other\":{\"id\":\"ch_1\"},\"step\":{\"v\":1},\"v\":1}");
	free(o);
	CHECK_INT_EQ(after.spawned - before.spawned, 1);
	asl_execution_free(x);

	/* a test-case entry naming no Task state of the definition is reported */
	d = json_loads(def, 0, NULL);
	CHECK_INT_EQ(mockcfg_run_new(w->cfg, "SM", "Map", NULL, &r, msg, sizeof(msg)), 0);
	CHECK_INT_EQ(r ? mockcfg_run_bind(r, d, &warn) : -1, 0);
	CHECK_STR_EQ(warn, "mock config 'm.json': test case entry 'Item' names no Task state of "
			   "the definition");
	free(warn);
	mockcfg_run_free(r);
	json_decref(d);
}

/*
 * Parallel branches: mocked results land in their branch; when one branch
 * throws, the other branch's mocked task, still pending, is cancelled.
 */
static void test_parallel(struct world *w)
{
	static const char def[] =
		"{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Branches\":["
		"{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\","
		"\"Resource\":\"arn:aws:lambda:us-east-1:1:function:a\",\"End\":true}}},"
		"{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Task\","
		"\"Resource\":\"arn:aws:lambda:us-east-1:1:function:b\","
		"\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"BC\"}],\"End\":true},"
		"\"BC\":{\"Type\":\"Pass\",\"Result\":\"caught\",\"End\":true}}}],"
		"\"End\":true}}}";
	struct asl_execution *x = NULL;
	json_t *h = NULL;
	char *o;

	CHECK_INT_EQ(run_case(w, def, "ParOk", "{}", &x, NULL), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "[{\"id\":\"ch_1\"},\"caught\"]");
	free(o);
	asl_execution_free(x);
	x = NULL;
	CHECK_INT_EQ(run_case(w, def, "Par", "{}", &x, &h), 0);
	o = x ? outcome(x) : NULL;
	CHECK_STR_EQ(o, "FAILED: Boom: b");
	free(o);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionStarted"), 2);
	CHECK_INT_EQ(count_events(h, "LambdaFunctionSucceeded"), 0);
	json_decref(h);
	asl_execution_free(x);
}

int main(void)
{
	struct taskrun_config *tcfg = NULL;
	struct world w = { 0 };
	char msg[512];
	json_t *fns;
	ssize_t n;

	test_parse();
	test_load();
	w.loop = loop_new();
	n = readlink("/proc/self/exe", w.helper, sizeof(w.helper) - 32);
	CHECK(n > 0);
	w.helper[n > 0 ? n : 0] = '\0';
	strcpy(strrchr(w.helper, '/') ? strrchr(w.helper, '/') + 1 : w.helper, "helper_task");
	fns = json_pack("{s:{s:{s:s,s:[s]}}}", "functions", "arn:aws:lambda:us-east-1:1:function:echo",
			"exec", w.helper, "args", "echo");
	CHECK_INT_EQ(taskrun_config_parse(fns, NULL, &tcfg, msg, sizeof(msg)), 0);
	json_decref(fns);
	w.tr = taskrun_new(tcfg);
	CHECK_INT_EQ(parse_text(good, &w.cfg, msg, sizeof(msg)), 0);
	test_return_throw(&w);
	test_range(&w);
	test_map(&w);
	test_real(&w);
	test_parallel(&w);
	mockcfg_free(w.cfg);
	taskrun_free(w.tr);
	taskrun_config_free(tcfg);
	loop_free(w.loop);
	return TEST_DONE();
}
