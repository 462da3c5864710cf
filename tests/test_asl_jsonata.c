/*
 * Unit tests of the JSONata query language mode of the ASL engine: what the
 * data-driven cases in tests/asl/jsonata_* cannot show (load-time errors,
 * history events, the context object, mixed query languages). Expected
 * values follow AWS's recorded histories in
 * ../shared/conformance/asl-aws-recorded.jsonl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl.h"
#include "engine/loop.h"
#include "tests/harness.h"

static struct asl_machine *load_opts(const char *text, bool validate, char **msg)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_machine *m = NULL;
	json_t *def = json_loads(text, 0, NULL);

	CHECK(def != NULL);
	mo.name = "JsonataTest";
	mo.validate = validate;
	if (asl_machine_new(def, &mo, &m, msg) < 0)
		m = NULL;
	json_decref(def);
	return m;
}

static struct asl_machine *load(const char *text, char **msg)
{
	return load_opts(text, true, msg);
}

static struct asl_execution *run(struct asl_engine *e, const char *def, const char *input)
{
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = NULL;
	struct asl_machine *m;
	json_t *in = input ? json_loads(input, JSON_DECODE_ANY, NULL) : NULL;
	char *msg = NULL;

	m = load(def, &msg);
	if (!m) {
		fprintf(stderr, "load failed: %s\n", msg ? msg : "?");
		free(msg);
		CHECK(0);
		json_decref(in);
		return NULL;
	}
	xo.name = "exec-1";
	xo.record_history = true;
	xo.wait_scale = 0;
	CHECK_INT_EQ(asl_execution_run_sync(e, m, in, &xo, &x), 0);
	asl_machine_unref(m);
	json_decref(in);
	return x;
}

static json_t *event_of(json_t *h, const char *type)
{
	json_t *ev;
	size_t i;

	json_array_foreach(h, i, ev)
		if (!strcmp(json_string_value(json_object_get(ev, "type")) ?: "", type))
			return ev;
	return NULL;
}

/*
 * A syntax error is a load-time error naming the state and the field: the
 * validator's (a pointer) by default, the compiler's without validation.
 */
static void test_syntax_error_at_load(void)
{
	const char *def = "{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"S\", \"States\": "
			  "{\"S\": {\"Type\": \"Pass\", \"Output\": {\"a\": [1, "
			  "\"{% $states.input.( %}\"]}, \"End\": true}}}";
	char *msg = NULL;
	struct asl_machine *m;

	m = load(def, &msg);
	CHECK(m == NULL);
	CHECK(msg && strstr(msg, "/States/S/Output/a/1") && strstr(msg, "S0207"));
	free(msg);
	msg = NULL;
	m = load_opts(def, false, &msg);
	CHECK(m == NULL);
	CHECK(msg && strstr(msg, "state 'S'"));
	CHECK(msg && strstr(msg, "Output/a[1]"));
	CHECK(msg && strstr(msg, "$states.input.("));
	if (msg)
		printf("load error: %s\n", msg);
	free(msg);
	asl_machine_unref(m);

	/* the machine-wide language reaches states nested in a Map */
	msg = NULL;
	m = load_opts("{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"M\", \"States\": {\"M\": "
		 "{\"Type\": \"Map\", \"Items\": [1], \"ItemProcessor\": {\"StartAt\": \"In\", "
		 "\"States\": {\"In\": {\"Type\": \"Pass\", \"Output\": \"{% ] %}\", \"End\": "
		 "true}}}, \"End\": true}}}",
		 false, &msg);
	CHECK(m == NULL);
	CHECK(msg && strstr(msg, "state 'In'") && strstr(msg, "Output"));
	free(msg);
	asl_machine_unref(m);
}

/*
 * AWS records a failed evaluation as EvaluationFailed {cause, error,
 * location, state} between the state's Entered event and ExecutionFailed
 * (BASE_UNDEFINED_OUTPUT_MULTIPLE_STATES).
 */
static void test_evaluation_failed_event(struct asl_engine *e)
{
	struct asl_execution *x;
	json_t *h, *ev, *d;
	const char *want = "An error occurred while executing the state 'State2' (entered at the "
			   "event id #6). The JSONata expression '$doesNotExist' specified for the "
			   "field 'Output/result' returned nothing (undefined).";

	x = run(e,
		"{\"StartAt\": \"State0\", \"QueryLanguage\": \"JSONata\", \"States\": {"
		"\"State0\": {\"Type\": \"Pass\", \"Next\": \"State1\"}, \"State1\": {\"Type\": "
		"\"Pass\", \"Next\": \"State2\"}, \"State2\": {\"Type\": \"Pass\", \"Output\": "
		"{\"result\": \"{% $doesNotExist %}\"}, \"End\": true}}}",
		"{}");
	if (!x)
		return;
	CHECK_INT_EQ(asl_execution_status(x), ASL_FAILED);
	CHECK_STR_EQ(asl_execution_error(x), "States.QueryEvaluationError");
	CHECK_STR_EQ(asl_execution_cause(x), want);
	h = asl_execution_history(x);
	CHECK_INT_EQ((int)json_array_size(h), 8);
	ev = json_array_get(h, 6);
	CHECK_STR_EQ(json_string_value(json_object_get(ev, "type")), "EvaluationFailed");
	CHECK_INT_EQ((int)json_integer_value(json_object_get(ev, "id")), 7);
	CHECK_INT_EQ((int)json_integer_value(json_object_get(ev, "previousEventId")), 5);
	d = json_object_get(ev, "evaluationFailedEventDetails");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "error")), "States.QueryEvaluationError");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "cause")), want);
	CHECK_STR_EQ(json_string_value(json_object_get(d, "location")), "Output/result");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "state")), "State2");
	ev = json_array_get(h, 7);
	CHECK_STR_EQ(json_string_value(json_object_get(ev, "type")), "ExecutionFailed");
	CHECK_INT_EQ((int)json_integer_value(json_object_get(ev, "previousEventId")), 7);
	json_decref(h);
	asl_execution_free(x);

	/* a Map whose Items is not an array: EvaluationFailed, then MapStateFailed */
	x = run(e,
		"{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"M\", \"States\": {\"M\": "
		"{\"Type\": \"Map\", \"Items\": \"{% 'string' %}\", \"ItemProcessor\": "
		"{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Pass\", \"End\": true}}}, "
		"\"End\": true}}}",
		"{}");
	if (!x)
		return;
	h = asl_execution_history(x);
	CHECK_INT_EQ((int)json_array_size(h), 5);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(h, 2), "type")),
		     "EvaluationFailed");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(h, 3), "type")),
		     "MapStateFailed");
	CHECK_STR_EQ(asl_execution_cause(x),
		     "An error occurred while executing the state 'M' (entered at the event id "
		     "#2). The JSONata expression ''string'' specified for the field 'Items' "
		     "returned an unexpected result type. Expected 'array', but was 'string' for "
		     "value: \"string\"");
	json_decref(h);
	asl_execution_free(x);
}

/* Assign in a JSONata state: assignedVariables on the Exited event, as JSON text. */
static void test_assigned_variables_event(struct asl_engine *e)
{
	struct asl_execution *x;
	json_t *h, *d;

	x = run(e,
		"{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"ChoiceState\", \"States\": {"
		"\"ChoiceState\": {\"Type\": \"Choice\", \"Choices\": [{\"Condition\": "
		"\"{% $states.input.condition %}\", \"Next\": \"ConditionTrue\", \"Assign\": "
		"{\"Assignment\": \"Condition assignment\"}}], \"Default\": \"DefaultState\", "
		"\"Assign\": {\"Assignment\": \"Default Assignment\"}}, \"ConditionTrue\": "
		"{\"Type\": \"Pass\", \"End\": true}, \"DefaultState\": {\"Type\": \"Fail\", "
		"\"Cause\": \"Condition is false\"}}}",
		"{\"condition\": true}");
	if (!x)
		return;
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	h = asl_execution_history(x);
	d = json_object_get(event_of(h, "ChoiceStateExited"), "stateExitedEventDetails");
	d = json_object_get(d, "assignedVariables");
	CHECK_STR_EQ(json_string_value(json_object_get(d, "Assignment")), "\"Condition assignment\"");
	d = json_object_get(event_of(h, "ChoiceStateExited"), "stateExitedEventDetails");
	CHECK(json_is_false(json_object_get(json_object_get(d, "assignedVariablesDetails"),
					    "truncated")));
	json_decref(h);
	asl_execution_free(x);
}

/* $states.context is the context object ($$ in JSONPath). */
static void test_context(struct asl_engine *e)
{
	struct asl_execution *x;
	json_t *out;

	x = run(e,
		"{\"StartAt\": \"First\", \"States\": {\"First\": {\"Type\": \"Pass\", "
		"\"QueryLanguage\": \"JSONata\", \"Output\": {\"state\": "
		"\"{% $states.context.State.Name %}\", \"exec\": "
		"\"{% $states.context.Execution.Name %}\", \"machine\": "
		"\"{% $states.context.StateMachine.Name %}\", \"input\": "
		"\"{% $states.context.Execution.Input.k %}\"}, \"End\": true}}}",
		"{\"k\": \"v\"}");
	if (!x)
		return;
	out = asl_execution_output(x);
	CHECK_STR_EQ(json_string_value(json_object_get(out, "state")), "First");
	CHECK_STR_EQ(json_string_value(json_object_get(out, "exec")), "exec-1");
	CHECK_STR_EQ(json_string_value(json_object_get(out, "machine")), "JsonataTest");
	CHECK_STR_EQ(json_string_value(json_object_get(out, "input")), "v");
	asl_execution_free(x);
}

/*
 * A JSONPath machine with a JSONata Map whose inner state is JSONPath again
 * (AWS accepts it): each state runs in its own language.
 */
static void test_mixed_map(struct asl_engine *e)
{
	struct asl_execution *x;
	char *out;

	x = run(e,
		"{\"StartAt\": \"M\", \"States\": {\"M\": {\"Type\": \"Map\", "
		"\"QueryLanguage\": \"JSONata\", \"Items\": \"{% $states.input.xs %}\", "
		"\"ItemSelector\": {\"v\": \"{% $states.context.Map.Item.Value %}\"}, "
		"\"ItemProcessor\": {\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": "
		"\"Pass\", \"QueryLanguage\": \"JSONPath\", \"InputPath\": \"$.v\", \"End\": "
		"true}}}, \"Output\": {\"n\": \"{% $count($states.result) %}\", \"r\": "
		"\"{% $states.result %}\"}, \"End\": true}}}",
		"{\"xs\": [\"a\", \"b\", \"c\"]}");
	if (!x)
		return;
	CHECK_INT_EQ(asl_execution_status(x), ASL_SUCCEEDED);
	out = asl_json_dumps(asl_execution_output(x));
	CHECK_STR_EQ(out, "{\"n\":3,\"r\":[\"a\",\"b\",\"c\"]}");
	free(out);
	asl_execution_free(x);
}

/* A journaled JSONata execution resumes with its variables (assignedVariables). */
static void test_resume(struct loop *loop, struct asl_engine *e)
{
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = NULL, *y = NULL;
	struct asl_machine *m;
	struct asl_err err;
	json_t *in = json_pack("{s:i}", "v", 5), *h;
	char *msg = NULL;

	m = load("{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"A\", \"States\": {\"A\": "
		 "{\"Type\": \"Pass\", \"Assign\": {\"x\": \"{% $states.input.v * 2 %}\"}, "
		 "\"Next\": \"W\"}, \"W\": {\"Type\": \"Wait\", \"Seconds\": 3600, \"Next\": "
		 "\"P\"}, \"P\": {\"Type\": \"Pass\", \"Output\": {\"x\": \"{% $x %}\"}, "
		 "\"End\": true}}}",
		 &msg);
	CHECK(m != NULL);
	free(msg);
	if (!m) {
		json_decref(in);
		return;
	}
	xo.name = "resume-me";
	xo.record_history = true;
	CHECK_INT_EQ(asl_execution_start(e, m, in, &xo, &x), 0);
	CHECK_INT_EQ(asl_execution_status(x), ASL_RUNNING); /* in the Wait */
	h = asl_execution_history(x);
	asl_execution_free(x); /* the crash */
	xo.wait_scale = 0;
	CHECK_INT_EQ(asl_execution_resume(e, m, h, &xo, &y, &err), 0);
	while (y && asl_execution_status(y) == ASL_RUNNING)
		loop_run(loop);
	CHECK(y && asl_execution_status(y) == ASL_SUCCEEDED);
	CHECK(y && json_integer_value(json_object_get(asl_execution_output(y), "x")) == 10);
	asl_execution_free(y);
	json_decref(h);
	json_decref(in);
	asl_machine_unref(m);
}

int main(void)
{
	struct loop *loop = loop_new();
	struct asl_engine *e = asl_engine_new(loop, NULL);

	test_syntax_error_at_load();
	test_evaluation_failed_event(e);
	test_assigned_variables_event(e);
	test_context(e);
	test_mixed_map(e);
	test_resume(loop, e);
	asl_engine_free(e);
	loop_free(loop);
	return TEST_DONE();
}
