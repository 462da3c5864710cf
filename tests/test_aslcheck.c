/*
 * engine/aslcheck: every definition AWS accepted in the recorded conformance
 * set must pass; hand-written broken definitions must each be rejected with
 * the right JSON pointer, code and reason.
 */
#include "engine/aslcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl_task.h"
#include "tests/harness.h"

static void print_diags(const char *what, const struct aslcheck_result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		fprintf(stderr, "  %s: %s: %s: %s\n", what, r->diags[i].pointer, r->diags[i].code,
			r->diags[i].message);
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (!v)
		fprintf(stderr, "test bug: cannot parse test JSON: %s (line %d col %d)\n", e.text,
			e.line, e.column);
	return v;
}

/* @text must be rejected with a diagnostic at @pointer, with @code, whose message holds @reason */
static void expect_bad_opts(const char *name, const char *text, const char *pointer,
			    const char *code, const char *reason, const struct aslcheck_opts *o,
			    int state)
{
	struct aslcheck_result r = ASLCHECK_RESULT_INIT;
	json_t *def = parse(text);
	int n, found = 0;
	size_t i;

	CHECK(def != NULL);
	n = state ? aslcheck_state(def, o, &r) : aslcheck_definition(def, o, &r);
	CHECK(n > 0);
	CHECK_INT_EQ(r.nerrors, n);
	for (i = 0; i < r.n; i++)
		if (strcmp(r.diags[i].pointer, pointer) == 0 && strcmp(r.diags[i].code, code) == 0 &&
		    strstr(r.diags[i].message, reason))
			found = 1;
	if (!found) {
		fprintf(stderr, "%s: expected '%s: %s: ...%s...', got:\n", name, pointer, code,
			reason);
		print_diags(name, &r);
	}
	CHECK(found);
	aslcheck_result_release(&r);
	json_decref(def);
}

static void expect_bad(const char *name, const char *text, const char *pointer,
		       const char *code, const char *reason)
{
	expect_bad_opts(name, text, pointer, code, reason, NULL, 0);
}

static void expect_ok(const char *name, const char *text)
{
	struct aslcheck_result r = ASLCHECK_RESULT_INIT;
	json_t *def = parse(text);
	int n;

	CHECK(def != NULL);
	n = aslcheck_definition(def, NULL, &r);
	if (n != 0) {
		fprintf(stderr, "%s: expected valid, got %d errors:\n", name, n);
		print_diags(name, &r);
	}
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(r.n, 0);
	aslcheck_result_release(&r);
	json_decref(def);
}

/* ---- the AWS-recorded conformance set ---- */

static FILE *open_conformance(void)
{
	const char *dir = getenv("STEPFS_CONFORMANCE_DIR");
	const char *cands[] = { "../shared/conformance", "../../shared/conformance",
				"/work/shared/conformance" };
	char path[4096];
	FILE *f;
	size_t i;

	if (dir) {
		snprintf(path, sizeof(path), "%s/asl-aws-recorded.jsonl", dir);
		return fopen(path, "re");
	}
	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		snprintf(path, sizeof(path), "%s/asl-aws-recorded.jsonl", cands[i]);
		f = fopen(path, "re");
		if (f)
			return f;
	}
	return NULL;
}

static void test_conformance(void)
{
	FILE *f = open_conformance();
	char *line = NULL;
	size_t cap = 0, rows = 0, accepted = 0, rejected = 0;

	if (!f) {
		printf("conformance: asl-aws-recorded.jsonl not found, skipped\n");
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		struct aslcheck_result r = ASLCHECK_RESULT_INIT;
		json_error_t e;
		json_t *row = json_loads(line, 0, &e);
		json_t *def, *kind;
		int n;

		if (!row)
			continue;
		rows++;
		def = json_object_get(row, "definition");
		kind = json_object_get(row, "kind");
		/* every recorded row ran on AWS, so AWS accepted every definition */
		if (json_is_string(kind) && strcmp(json_string_value(kind), "test_state") == 0)
			n = aslcheck_state(def, NULL, &r);
		else
			n = aslcheck_definition(def, NULL, &r);
		if (n == 0) {
			accepted++;
		} else {
			rejected++;
			fprintf(stderr, "REJECTED %s\n",
				json_string_value(json_object_get(row, "id")));
			print_diags("  ", &r);
		}
		CHECK_INT_EQ(n, 0);
		aslcheck_result_release(&r);
		json_decref(row);
	}
	free(line);
	fclose(f);
	printf("conformance: %zu rows, %zu definitions accepted, %zu rejected\n", rows, accepted,
	       rejected);
	CHECK(rows > 0);
}

/* ---- hand-written definitions ---- */

static void test_valid(void)
{
	expect_ok("all-jsonpath",
		  "{\"Comment\":\"c\",\"Version\":\"1.0\",\"TimeoutSeconds\":30,\"StartAt\":\"P\","
		  "\"States\":{"
		  "\"P\":{\"Type\":\"Pass\",\"InputPath\":\"$.a\",\"Parameters\":{\"x.$\":\"$.b\","
		  "\"y.$\":\"States.Format('{}', $.c)\",\"z\":1},\"ResultPath\":\"$.r\","
		  "\"OutputPath\":null,\"Assign\":{\"v.$\":\"$.b\",\"w\":2},\"Next\":\"T\"},"
		  "\"T\":{\"Type\":\"Task\",\"Resource\":\"exec:///bin/true\",\"TimeoutSeconds\":10,"
		  "\"HeartbeatSeconds\":5,\"ResultSelector\":{\"o.$\":\"$\"},"
		  "\"Retry\":[{\"ErrorEquals\":[\"Custom\",\"States.Timeout\"],"
		  "\"IntervalSeconds\":1,\"MaxAttempts\":0,\"BackoffRate\":1.5,"
		  "\"MaxDelaySeconds\":10,\"JitterStrategy\":\"FULL\"},"
		  "{\"ErrorEquals\":[\"States.ALL\"]}],"
		  "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"ResultPath\":\"$.err\","
		  "\"Next\":\"F\"}],\"Next\":\"C\"},"
		  "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.n\","
		  "\"NumericGreaterThan\":1,\"Next\":\"W\"},{\"And\":[{\"Variable\":\"$.s\","
		  "\"StringEquals\":\"x\"},{\"Not\":{\"Variable\":\"$.t\",\"IsPresent\":true}}],"
		  "\"Next\":\"M\"}],\"Default\":\"S\"},"
		  "\"W\":{\"Type\":\"Wait\",\"Timestamp\":\"2016-03-14T01:59:00Z\",\"Next\":\"M\"},"
		  "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"MaxConcurrency\":0,"
		  "\"ItemSelector\":{\"i.$\":\"$$.Map.Item.Value\"},"
		  "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"INLINE\"},\"StartAt\":\"MP\","
		  "\"States\":{\"MP\":{\"Type\":\"Pass\",\"End\":true}}},\"Next\":\"Par\"},"
		  "\"Par\":{\"Type\":\"Parallel\",\"Branches\":[{\"StartAt\":\"B1\",\"States\":"
		  "{\"B1\":{\"Type\":\"Succeed\"}}},{\"StartAt\":\"B2\",\"States\":{\"B2\":"
		  "{\"Type\":\"Wait\",\"Seconds\":0,\"End\":true}}}],\"End\":true},"
		  "\"S\":{\"Type\":\"Succeed\"},"
		  "\"F\":{\"Type\":\"Fail\",\"ErrorPath\":\"$.err.Error\",\"Cause\":\"boom\"}}}");
	expect_ok("all-jsonata",
		  "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"P\",\"States\":{"
		  "\"P\":{\"Type\":\"Pass\",\"Output\":{\"a\":\"{% $states.input.a %}\"},"
		  "\"Assign\":{\"x\":\"{% 1 + 2 %}\"},\"Next\":\"T\"},"
		  "\"T\":{\"Type\":\"Task\",\"Resource\":\"exec:///bin/true\","
		  "\"Arguments\":\"{% $states.input %}\",\"TimeoutSeconds\":\"{% $x %}\","
		  "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Output\":\"{% $states.errorOutput %}\","
		  "\"Next\":\"F\"}],\"Next\":\"C\"},"
		  "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Condition\":\"{% $x > 1 %}\","
		  "\"Next\":\"M\"}],\"Default\":\"F\"},"
		  "\"M\":{\"Type\":\"Map\",\"Items\":\"{% [1,2] %}\",\"MaxConcurrency\":\"{% 2 %}\","
		  "\"ItemProcessor\":{\"StartAt\":\"I\",\"States\":{\"I\":{\"Type\":\"Pass\","
		  "\"End\":true}}},\"End\":true},"
		  "\"F\":{\"Type\":\"Fail\",\"Error\":\"{% 'E' %}\",\"Cause\":\"c\"}}}");
	/* a JSONPath top level may hold JSONata states (asl.md §1.5) */
	expect_ok("mixed",
		  "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"QueryLanguage\":"
		  "\"JSONata\",\"Output\":\"{% 1 %}\",\"End\":true}}}");
}

static void test_structure(void)
{
	expect_bad("array", "[]", "", ASLCHECK_SCHEMA, "must be a JSON object");
	expect_bad("no StartAt", "{\"States\":{\"A\":{\"Type\":\"Succeed\"}}}", "",
		   ASLCHECK_SCHEMA, "missing required field 'StartAt'");
	expect_bad("no States", "{\"StartAt\":\"A\"}", "", ASLCHECK_SCHEMA,
		   "missing required field 'States'");
	expect_bad("empty States", "{\"StartAt\":\"A\",\"States\":{}}", "/States",
		   ASLCHECK_SCHEMA, "non-empty object");
	expect_bad("StartAt dangling",
		   "{\"StartAt\":\"X\",\"States\":{\"A\":{\"Type\":\"Succeed\"}}}", "/StartAt",
		   ASLCHECK_MISSING_TARGET, "'X'");
	expect_bad("top-level unknown field",
		   "{\"StartAt\":\"A\",\"Foo\":1,\"States\":{\"A\":{\"Type\":\"Succeed\"}}}", "/Foo",
		   ASLCHECK_SCHEMA, "field 'Foo' is not supported");
	expect_bad("top-level TimeoutSeconds",
		   "{\"StartAt\":\"A\",\"TimeoutSeconds\":\"5\",\"States\":{\"A\":{\"Type\":"
		   "\"Succeed\"}}}", "/TimeoutSeconds", ASLCHECK_SCHEMA, "must be an integer");
	expect_bad("QueryLanguage value",
		   "{\"StartAt\":\"A\",\"QueryLanguage\":\"XPath\",\"States\":{\"A\":{\"Type\":"
		   "\"Succeed\"}}}", "/QueryLanguage", ASLCHECK_SCHEMA, "JSONPath");
	expect_bad("unknown type",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Lambda\",\"End\":true}}}",
		   "/States/A/Type", ASLCHECK_SCHEMA, "unknown state type 'Lambda'");
	expect_bad("missing type", "{\"StartAt\":\"A\",\"States\":{\"A\":{\"End\":true}}}",
		   "/States/A", ASLCHECK_SCHEMA, "missing required field 'Type'");
	expect_bad("state not an object", "{\"StartAt\":\"A\",\"States\":{\"A\":3}}", "/States/A",
		   ASLCHECK_SCHEMA, "must be an object");
	expect_bad("dangling Next",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"B\"},"
		   "\"C\":{\"Type\":\"Succeed\"}}}", "/States/A/Next", ASLCHECK_MISSING_TARGET,
		   "no state is named 'B'");
	expect_bad("Next and End",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"A\","
		   "\"End\":true}}}", "/States/A/End", ASLCHECK_SCHEMA, "both 'Next' and 'End'");
	expect_bad("neither Next nor End",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":\"x\"},"
		   "\"B\":{\"Type\":\"Succeed\"}}}", "/States/A", ASLCHECK_SCHEMA,
		   "either 'Next' or 'End'");
	expect_bad("End not boolean",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":\"yes\"}}}",
		   "/States/A/End", ASLCHECK_SCHEMA, "must be a boolean");
	expect_bad("unknown field",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Foo\":1,"
		   "\"End\":true}}}", "/States/A/Foo", ASLCHECK_SCHEMA, "field 'Foo' is not supported");
	expect_bad("field of another type",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Resource\":\"x\","
		   "\"End\":true}}}", "/States/A/Resource", ASLCHECK_SCHEMA,
		   "not supported in Pass states");
	expect_bad("unreachable",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Succeed\"},\"B\":{\"Type\":"
		   "\"Succeed\"}}}", "/States/B", ASLCHECK_UNREACHABLE, "state 'B' is not reachable");
	expect_bad("no terminal",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"B\"},"
		   "\"B\":{\"Type\":\"Pass\",\"Next\":\"A\"}}}", "/States", ASLCHECK_NO_TERMINAL,
		   "no terminal state");
	expect_bad("long name",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":"
		   "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"
		   "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":"
		   "{\"Type\":\"Succeed\"}}}",
		   "/States/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		   ASLCHECK_STATE_NAME, "longer than 80 characters");
	/* 80 characters of UTF-8 (160 bytes) are still fine, 81 are not */
	{
		char name[81 * 2 + 1], text[512], ptr[200];
		size_t i;

		for (i = 0; i < 81; i++)
			memcpy(name + 2 * i, "\xc3\xa9", 2);
		name[160] = '\0';
		snprintf(text, sizeof(text),
			 "{\"StartAt\":\"%s\",\"States\":{\"%s\":{\"Type\":\"Succeed\"}}}", name,
			 name);
		expect_ok("80 chars", text);
		name[162] = '\0';
		memcpy(name + 160, "\xc3\xa9", 2);
		snprintf(text, sizeof(text),
			 "{\"StartAt\":\"%s\",\"States\":{\"%s\":{\"Type\":\"Succeed\"}}}", name,
			 name);
		snprintf(ptr, sizeof(ptr), "/States/%s", name);
		expect_bad("81 chars", text, ptr, ASLCHECK_STATE_NAME, "longer than 80");
	}
	/* a name with '/' and '~' is escaped in the pointer (RFC 6901) */
	expect_bad("pointer escaping",
		   "{\"StartAt\":\"a/b~c\",\"States\":{\"a/b~c\":{\"Type\":\"Pass\",\"Next\":"
		   "\"nope\"},\"S\":{\"Type\":\"Succeed\"}}}", "/States/a~1b~0c/Next",
		   ASLCHECK_MISSING_TARGET, "'nope'");
}

static void test_nesting(void)
{
	char *deep;
	size_t i, len = 0, cap = 200000;

	expect_bad("duplicate names in branches",
		   "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,"
		   "\"Branches\":[{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Succeed\"}}},"
		   "{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Succeed\"}}}]}}}",
		   "/States/P/Branches/1/States/X", ASLCHECK_DUPLICATE,
		   "also defined at /States/P/Branches/0/States/X");
	expect_bad("duplicate name in a map",
		   "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Map\",\"End\":true,"
		   "\"ItemProcessor\":{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Succeed\"}}}}}}",
		   "/States/P/ItemProcessor/States/P", ASLCHECK_DUPLICATE, "duplicate state name 'P'");
	expect_bad("jump out of a branch",
		   "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Next\":\"Out\","
		   "\"Branches\":[{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Pass\","
		   "\"Next\":\"Out\"},\"Y\":{\"Type\":\"Succeed\"}}}]},\"Out\":{\"Type\":\"Succeed\"}}}",
		   "/States/P/Branches/0/States/X/Next", ASLCHECK_MISSING_TARGET,
		   "'Out' is a state of another");
	expect_bad("jump into a branch",
		   "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Next\":\"X\","
		   "\"Branches\":[{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Succeed\"}}}]}}}",
		   "/States/P/Next", ASLCHECK_MISSING_TARGET,
		   "cannot jump into or out of a Parallel branch or Map processor");
	expect_bad("jump out of a map processor",
		   "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true,"
		   "\"ItemProcessor\":{\"StartAt\":\"I\",\"States\":{\"I\":{\"Type\":\"Pass\","
		   "\"Next\":\"M\"},\"J\":{\"Type\":\"Succeed\"}}}}}}",
		   "/States/M/ItemProcessor/States/I/Next", ASLCHECK_MISSING_TARGET,
		   "cannot jump into or out of");
	expect_bad("empty Branches",
		   "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,"
		   "\"Branches\":[]}}}", "/States/P/Branches", ASLCHECK_SCHEMA, "non-empty array");
	expect_bad("branch field",
		   "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,"
		   "\"Branches\":[{\"StartAt\":\"X\",\"TimeoutSeconds\":3,\"States\":{\"X\":"
		   "{\"Type\":\"Succeed\"}}}]}}}", "/States/P/Branches/0/TimeoutSeconds",
		   ASLCHECK_SCHEMA, "not supported in a Parallel branch");

	/* 100 nested Parallel states: refused with TOO_DEEPLY_NESTED, never a crash */
	deep = malloc(cap);
	CHECK(deep != NULL);
	if (!deep)
		return;
	len += (size_t)snprintf(deep + len, cap - len, "{\"StartAt\":\"S0\",\"States\":");
	for (i = 0; i < 100; i++)
		len += (size_t)snprintf(deep + len, cap - len,
					"{\"S%zu\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":"
					"[{\"StartAt\":\"S%zu\",\"States\":", i, i + 1);
	len += (size_t)snprintf(deep + len, cap - len, "{\"S100\":{\"Type\":\"Succeed\"}}");
	for (i = 0; i < 100; i++)
		len += (size_t)snprintf(deep + len, cap - len, "}]}}");
	snprintf(deep + len, cap - len, "}");
	{
		struct aslcheck_result r = ASLCHECK_RESULT_INIT;
		json_t *def = parse(deep);
		size_t k;
		int found = 0;

		CHECK(def != NULL);
		CHECK(aslcheck_definition(def, NULL, &r) > 0);
		for (k = 0; k < r.n; k++)
			found |= strcmp(r.diags[k].code, ASLCHECK_NESTED) == 0;
		CHECK(found);
		aslcheck_result_release(&r);
		json_decref(def);
	}
	free(deep);
}

static void test_paths(void)
{
	expect_bad("bad InputPath",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"InputPath\":"
		   "\"a.b\",\"End\":true}}}", "/States/A/InputPath", ASLCHECK_PATH,
		   "not a valid JSONPath");
	expect_bad("InputPath type",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"InputPath\":"
		   "3,\"End\":true}}}", "/States/A/InputPath", ASLCHECK_SCHEMA, "must be a string");
	/* a filter regex that would make regcomp() take gigabytes (fuzz_jpath finding) */
	expect_bad("regex blowup",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"InputPath\":"
		   "\"$.a[?(@.x =~ /t+++++++++++++++++++++++++++++++++++++++++/)]\",\"End\":true}}}",
		   "/States/A/InputPath", ASLCHECK_PATH, "too complex");
	expect_bad("ResultPath wildcard",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"ResultPath\":"
		   "\"$.a[*]\",\"End\":true}}}", "/States/A/ResultPath", ASLCHECK_PATH,
		   "not a valid reference path");
	expect_bad("ResultPath context",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"ResultPath\":"
		   "\"$$.Execution\",\"End\":true}}}", "/States/A/ResultPath", ASLCHECK_PATH,
		   "context object");
	expect_bad("ResultPath variable",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"ResultPath\":"
		   "\"$v.x\",\"End\":true}}}", "/States/A/ResultPath", ASLCHECK_PATH, "variable");
	expect_bad("Parameters bad path",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Parameters\":"
		   "{\"k\":{\"x.$\":\"nope\"}},\"End\":true}}}", "/States/A/Parameters/k/x.$",
		   ASLCHECK_PATH, "invalid payload template in 'Parameters'");
	expect_bad("Parameters not object",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":\"r\","
		   "\"Parameters\":[1],\"End\":true}}}", "/States/A/Parameters", ASLCHECK_SCHEMA,
		   "must be an object");
	expect_bad("intrinsic syntax",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Parameters\":"
		   "{\"x.$\":\"States.Format('{}', $.a\"},\"End\":true}}}", "/States/A/Parameters/x.$",
		   ASLCHECK_INTRINSIC, "'Parameters'");
	expect_bad("intrinsic unknown",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Parameters\":"
		   "{\"x.$\":\"States.NoSuchFunction($.a)\"},\"End\":true}}}",
		   "/States/A/Parameters/x.$", ASLCHECK_INTRINSIC, "'Parameters'");
	expect_bad("Fail ErrorPath intrinsic",
		   "{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"ErrorPath\":"
		   "\"States.Format('{}'\"}}}", "/States/F/ErrorPath", ASLCHECK_INTRINSIC,
		   "invalid intrinsic function in 'ErrorPath'");
	expect_bad("Fail CausePath",
		   "{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"CausePath\":"
		   "\"cause\"}}}", "/States/F/CausePath", ASLCHECK_PATH, "reference path");
	expect_bad("Assign bad path",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Assign\":"
		   "{\"x.$\":\"x\"},\"End\":true}}}", "/States/A/Assign/x.$", ASLCHECK_PATH, "'Assign'");
	expect_bad("template key twice",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Parameters\":"
		   "{\"k\":[{\"a\":1,\"a.$\":\"$.a\"}]},\"End\":true}}}", "/States/A/Parameters",
		   ASLCHECK_PATH, "given twice");
	expect_bad("Assign variable name",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Assign\":"
		   "{\"1x\":1},\"End\":true}}}", "/States/A/Assign/1x", ASLCHECK_SCHEMA,
		   "invalid variable name '1x'");
	expect_bad("ItemsPath",
		   "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemsPath\":"
		   "\"$..a\",\"End\":true,\"ItemProcessor\":{\"StartAt\":\"I\",\"States\":{\"I\":"
		   "{\"Type\":\"Succeed\"}}}}}}", "/States/M/ItemsPath", ASLCHECK_PATH,
		   "reference path");
}

static void test_choice(void)
{
	const char *head = "{\"StartAt\":\"C\",\"States\":{\"S\":{\"Type\":\"Succeed\"},\"C\":";
	char buf[2048];

	snprintf(buf, sizeof(buf), "%s{\"Type\":\"Choice\",\"Default\":\"S\"}}}", head);
	expect_bad("no Choices", buf, "/States/C", ASLCHECK_SCHEMA, "'Choices'");
	snprintf(buf, sizeof(buf), "%s{\"Type\":\"Choice\",\"Choices\":[],\"Default\":\"S\"}}}",
		 head);
	expect_bad("empty Choices", buf, "/States/C/Choices", ASLCHECK_SCHEMA, "non-empty");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"End\":true,\"Choices\":[{\"Variable\":\"$.a\","
		 "\"IsNull\":true,\"Next\":\"S\"}]}}}", head);
	expect_bad("Choice End", buf, "/States/C/End", ASLCHECK_SCHEMA,
		   "not supported in Choice states");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Next\":\"S\",\"Choices\":[{\"Variable\":\"$.a\","
		 "\"IsNull\":true,\"Next\":\"S\"}]}}}", head);
	expect_bad("Choice Next", buf, "/States/C/Next", ASLCHECK_SCHEMA,
		   "not supported in Choice states");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true}],"
		 "\"Default\":\"S\"}}}", head);
	expect_bad("rule without Next", buf, "/States/C/Choices/0", ASLCHECK_SCHEMA, "'Next'");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true,"
		 "\"Next\":\"S\"}],\"Default\":\"Nowhere\"}}}", head);
	expect_bad("Default dangling", buf, "/States/C/Default", ASLCHECK_MISSING_TARGET,
		   "'Nowhere'");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true,"
		 "\"Next\":\"Nowhere\"}],\"Default\":\"S\"}}}", head);
	expect_bad("rule Next dangling", buf, "/States/C/Choices/0/Next",
		   ASLCHECK_MISSING_TARGET, "'Nowhere'");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"Next\":\"S\"}],"
		 "\"Default\":\"S\"}}}", head);
	expect_bad("rule without operator", buf, "/States/C/Choices/0", ASLCHECK_SCHEMA,
		   "invalid choice rule");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"StringEquals\":"
		 "\"x\",\"NumericEquals\":1,\"Next\":\"S\"}],\"Default\":\"S\"}}}", head);
	expect_bad("rule with two operators", buf, "/States/C/Choices/0", ASLCHECK_SCHEMA,
		   "invalid choice rule");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"Choices\":[{\"Not\":{\"Variable\":\"$.a\","
		 "\"IsNull\":true,\"Next\":\"S\"},\"Next\":\"S\"}],\"Default\":\"S\"}}}", head);
	expect_bad("nested rule with Next", buf, "/States/C/Choices/0", ASLCHECK_SCHEMA,
		   "invalid choice rule");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"QueryLanguage\":\"JSONata\",\"Choices\":[{\"Next\":"
		 "\"S\"}],\"Default\":\"S\"}}}", head);
	expect_bad("JSONata rule without Condition", buf, "/States/C/Choices/0", ASLCHECK_SCHEMA,
		   "'Condition'");
	snprintf(buf, sizeof(buf),
		 "%s{\"Type\":\"Choice\",\"QueryLanguage\":\"JSONata\",\"Choices\":[{\"Variable\":"
		 "\"$.a\",\"IsNull\":true,\"Condition\":true,\"Next\":\"S\"}]}}}", head);
	expect_bad("JSONata rule with Variable", buf, "/States/C/Choices/0/Variable",
		   ASLCHECK_SCHEMA, "field 'Variable' is not supported");
}

static void test_fields(void)
{
	const char *task = "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\","
			   "\"Resource\":\"r\",\"End\":true,";
	const char *wait = "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"End\":true";
	const char *map = "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true,"
			  "\"ItemProcessor\":{\"StartAt\":\"I\",\"States\":{\"I\":{\"Type\":"
			  "\"Succeed\"}}},";
	char buf[2048];

#define TASK(extra) (snprintf(buf, sizeof(buf), "%s%s}}}", task, extra), buf)
#define WAIT(extra) (snprintf(buf, sizeof(buf), "%s%s}}}", wait, extra), buf)
#define MAP(extra) (snprintf(buf, sizeof(buf), "%s%s}}}", map, extra), buf)
	expect_bad("no Resource",
		   "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"End\":true}}}",
		   "/States/T", ASLCHECK_SCHEMA, "'Resource'");
	expect_bad("timeout pair", TASK("\"TimeoutSeconds\":5,\"TimeoutSecondsPath\":\"$.t\""),
		   "/States/T/TimeoutSecondsPath", ASLCHECK_SCHEMA, "mutually exclusive");
	expect_bad("timeout zero", TASK("\"TimeoutSeconds\":0"), "/States/T/TimeoutSeconds",
		   ASLCHECK_SCHEMA, "between 1 and");
	expect_bad("timeout real", TASK("\"TimeoutSeconds\":1.5"), "/States/T/TimeoutSeconds",
		   ASLCHECK_SCHEMA, "must be an integer");
	expect_bad("heartbeat >= timeout", TASK("\"TimeoutSeconds\":5,\"HeartbeatSeconds\":5"),
		   "/States/T/HeartbeatSeconds", ASLCHECK_SCHEMA, "smaller than");
	expect_bad("heartbeat pair",
		   TASK("\"HeartbeatSeconds\":5,\"HeartbeatSecondsPath\":\"$.h\""),
		   "/States/T/HeartbeatSecondsPath", ASLCHECK_SCHEMA, "mutually exclusive");
	expect_bad("retry interval", TASK("\"Retry\":[{\"ErrorEquals\":[\"E\"],"
					  "\"IntervalSeconds\":0}]"),
		   "/States/T/Retry/0/IntervalSeconds", ASLCHECK_SCHEMA, "between 1 and");
	expect_bad("retry attempts", TASK("\"Retry\":[{\"ErrorEquals\":[\"E\"],"
					  "\"MaxAttempts\":-1}]"),
		   "/States/T/Retry/0/MaxAttempts", ASLCHECK_SCHEMA, "between 0 and");
	expect_bad("retry backoff", TASK("\"Retry\":[{\"ErrorEquals\":[\"E\"],"
					 "\"BackoffRate\":0.5}]"),
		   "/States/T/Retry/0/BackoffRate", ASLCHECK_SCHEMA, "between 1 and");
	expect_bad("retry max delay", TASK("\"Retry\":[{\"ErrorEquals\":[\"E\"],"
					   "\"MaxDelaySeconds\":31622401}]"),
		   "/States/T/Retry/0/MaxDelaySeconds", ASLCHECK_SCHEMA, "between 1 and 31622400");
	expect_bad("retry jitter", TASK("\"Retry\":[{\"ErrorEquals\":[\"E\"],"
					"\"JitterStrategy\":\"HALF\"}]"),
		   "/States/T/Retry/0/JitterStrategy", ASLCHECK_SCHEMA, "FULL, NONE");
	expect_bad("retry field", TASK("\"Retry\":[{\"ErrorEquals\":[\"E\"],\"Next\":\"T\"}]"),
		   "/States/T/Retry/0/Next", ASLCHECK_SCHEMA, "not supported in a retrier");
	expect_bad("retry empty ErrorEquals", TASK("\"Retry\":[{\"ErrorEquals\":[]}]"),
		   "/States/T/Retry/0/ErrorEquals", ASLCHECK_SCHEMA, "non-empty array");
	expect_bad("retry no ErrorEquals", TASK("\"Retry\":[{\"MaxAttempts\":1}]"),
		   "/States/T/Retry/0", ASLCHECK_SCHEMA, "'ErrorEquals'");
	expect_bad("States.ALL not alone",
		   TASK("\"Retry\":[{\"ErrorEquals\":[\"States.ALL\",\"E\"]}]"),
		   "/States/T/Retry/0/ErrorEquals/0", ASLCHECK_SCHEMA, "alone");
	expect_bad("States.ALL not last",
		   TASK("\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"]},{\"ErrorEquals\":[\"E\"]}]"),
		   "/States/T/Retry/0/ErrorEquals", ASLCHECK_SCHEMA, "last retrier");
	expect_bad("reserved error name", TASK("\"Retry\":[{\"ErrorEquals\":[\"States.Oops\"]}]"),
		   "/States/T/Retry/0/ErrorEquals/0", ASLCHECK_SCHEMA, "reserved");
	expect_bad("catch without Next", TASK("\"Catch\":[{\"ErrorEquals\":[\"E\"]}]"),
		   "/States/T/Catch/0", ASLCHECK_SCHEMA, "'Next'");
	expect_bad("catch dangling", TASK("\"Catch\":[{\"ErrorEquals\":[\"E\"],\"Next\":\"X\"}]"),
		   "/States/T/Catch/0/Next", ASLCHECK_MISSING_TARGET, "'X'");
	expect_bad("catch ResultPath", TASK("\"Catch\":[{\"ErrorEquals\":[\"E\"],\"Next\":\"T\","
					    "\"ResultPath\":\"$.a[0:2]\"}]"),
		   "/States/T/Catch/0/ResultPath", ASLCHECK_PATH, "reference path");
	expect_bad("Credentials", TASK("\"Credentials\":\"role\""), "/States/T/Credentials",
		   ASLCHECK_SCHEMA, "must be an object");

	expect_bad("wait none", WAIT(""), "/States/W", ASLCHECK_SCHEMA, "exactly one of");
	expect_bad("wait two", WAIT(",\"Seconds\":1,\"Timestamp\":\"2016-03-14T01:59:00Z\""),
		   "/States/W", ASLCHECK_SCHEMA, "exactly one of");
	expect_bad("wait timestamp", WAIT(",\"Timestamp\":\"2016-12-05 21:29:29Z\""),
		   "/States/W/Timestamp", ASLCHECK_SCHEMA, "RFC 3339");
	expect_bad("wait seconds", WAIT(",\"Seconds\":-1"), "/States/W/Seconds", ASLCHECK_SCHEMA,
		   "between 0 and");
	expect_bad("wait SecondsPath", WAIT(",\"SecondsPath\":\"$.a[*]\""),
		   "/States/W/SecondsPath", ASLCHECK_PATH, "reference path");

	expect_bad("fail pair",
		   "{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"Error\":\"E\","
		   "\"ErrorPath\":\"$.e\"}}}", "/States/F/ErrorPath", ASLCHECK_SCHEMA,
		   "mutually exclusive");
	expect_bad("fail cause pair",
		   "{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"Cause\":\"E\","
		   "\"CausePath\":\"$.e\"}}}", "/States/F/CausePath", ASLCHECK_SCHEMA,
		   "mutually exclusive");
	expect_bad("fail InputPath",
		   "{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"InputPath\":\"$\"}}}",
		   "/States/F/InputPath", ASLCHECK_SCHEMA, "not supported in Fail states");
	expect_bad("succeed Next",
		   "{\"StartAt\":\"S\",\"States\":{\"S\":{\"Type\":\"Succeed\",\"Next\":\"S\"}}}",
		   "/States/S/Next", ASLCHECK_SCHEMA, "not supported in Succeed states");

	expect_bad("map no processor",
		   "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true}}}",
		   "/States/M", ASLCHECK_SCHEMA, "'ItemProcessor'");
	expect_bad("map concurrency", MAP("\"MaxConcurrency\":-1"), "/States/M/MaxConcurrency",
		   ASLCHECK_SCHEMA, "between 0 and");
	expect_bad("map concurrency pair",
		   MAP("\"MaxConcurrency\":1,\"MaxConcurrencyPath\":\"$.c\""),
		   "/States/M/MaxConcurrencyPath", ASLCHECK_SCHEMA, "mutually exclusive");
	expect_bad("map tolerated pct", MAP("\"ToleratedFailurePercentage\":101"),
		   "/States/M/ToleratedFailurePercentage", ASLCHECK_SCHEMA, "between 0 and 100");
	expect_bad("map tolerated count", MAP("\"ToleratedFailureCount\":-2"),
		   "/States/M/ToleratedFailureCount", ASLCHECK_SCHEMA, "between 0 and");
	expect_bad("map label", MAP("\"Label\":\"a b\""), "/States/M/Label", ASLCHECK_LABEL,
		   "'Label'");
	expect_bad("map mode", MAP("\"ItemSelector\":{},\"Parameters\":{}"),
		   "/States/M/Parameters", ASLCHECK_SCHEMA, "mutually exclusive");
	expect_bad("map reader",
		   MAP("\"ItemReader\":{\"Resource\":\"arn:aws:states:::s3:getObject\","
		       "\"ReaderConfig\":{\"InputType\":\"XML\"}}"),
		   "/States/M/ItemReader/ReaderConfig/InputType", ASLCHECK_SCHEMA, "CSV, JSON");
	expect_bad("map batcher", MAP("\"ItemBatcher\":{}"), "/States/M/ItemBatcher",
		   ASLCHECK_SCHEMA, "MaxItemsPerBatch");
	expect_bad("map both processors",
		   MAP("\"Iterator\":{\"StartAt\":\"J\",\"States\":{\"J\":{\"Type\":\"Succeed\"}}}"),
		   "/States/M/Iterator", ASLCHECK_SCHEMA, "mutually exclusive");
	expect_bad("map distributed",
		   "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true,"
		   "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\"},"
		   "\"StartAt\":\"I\",\"States\":{\"I\":{\"Type\":\"Succeed\"}}}}}}",
		   "/States/M/ItemProcessor/ProcessorConfig", ASLCHECK_SCHEMA, "'ExecutionType'");
#undef TASK
#undef WAIT
#undef MAP
}

static void test_query_language(void)
{
	expect_bad("JSONata with InputPath",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Pass\",\"InputPath\":\"$.a\",\"End\":true}}}", "/States/A/InputPath",
		   ASLCHECK_SCHEMA, "not supported when QueryLanguage is JSONata");
	expect_bad("JSONata with Parameters",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"QueryLanguage\":"
		   "\"JSONata\",\"Resource\":\"r\",\"Parameters\":{},\"End\":true}}}",
		   "/States/A/Parameters", ASLCHECK_SCHEMA, "JSONata");
	expect_bad("JSONPath with Output",
		   "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Output\":{},"
		   "\"End\":true}}}", "/States/A/Output", ASLCHECK_SCHEMA,
		   "not supported when QueryLanguage is JSONPath");
	expect_bad("JSONPath state in JSONata machine",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Pass\",\"QueryLanguage\":\"JSONPath\",\"End\":true}}}",
		   "/States/A/QueryLanguage", ASLCHECK_SCHEMA, "JSONPath state cannot be used");
	expect_bad("unterminated expression",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Pass\",\"Output\":{\"x\":[\"{% $states.input\"]},\"End\":true}}}",
		   "/States/A/Output/x/0", ASLCHECK_SCHEMA, "'{% expression %}'");
	expect_bad("empty expression",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Pass\",\"Output\":\"{%  %}\",\"End\":true}}}", "/States/A/Output",
		   ASLCHECK_SCHEMA, "not be empty");
	expect_bad("JSONata timeout",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Task\",\"Resource\":\"r\",\"TimeoutSeconds\":\"5\",\"End\":true}}}",
		   "/States/A/TimeoutSeconds", ASLCHECK_SCHEMA, "JSONata expression");
	expect_bad("JSONata syntax error",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Pass\",\"Output\":{\"x\":\"{% $states.input.( %}\"},\"End\":true}}}",
		   "/States/A/Output/x", ASLCHECK_SCHEMA,
		   "the JSONata expression '$states.input.(' is not valid: S0207");
	expect_bad("JSONata syntax error in a Condition",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":"
		   "\"Choice\",\"Choices\":[{\"Condition\":\"{% $states.input.a = %}\",\"Next\":"
		   "\"D\"}],\"Default\":\"D\"},\"D\":{\"Type\":\"Succeed\"}}}",
		   "/States/C/Choices/0/Condition", ASLCHECK_SCHEMA, "is not valid");
	expect_bad("JSONata syntax error in MaxConcurrency",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":"
		   "\"Map\",\"MaxConcurrency\":\"{% ) %}\",\"ItemProcessor\":{\"StartAt\":\"P\","
		   "\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}},\"End\":true}}}",
		   "/States/M/MaxConcurrency", ASLCHECK_SCHEMA, "is not valid");
	expect_bad("JSONata assign states",
		   "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
		   "\"Pass\",\"Assign\":{\"states\":1},\"End\":true}}}", "/States/A/Assign/states",
		   ASLCHECK_SCHEMA, "reserved");
}

/* the optional resource check goes through the task ops table */
static int check_res(void *arg, const char *resource, const char *dir, char *msg, size_t len)
{
	int *calls = arg;

	(*calls)++;
	if (strncmp(resource, "exec://", 7) == 0)
		return 0;
	snprintf(msg, len, "no program for '%s' under '%s'", resource, dir ? dir : "?");
	return -1;
}

static void test_resources(void)
{
	struct asl_task_ops ops = { 0 };
	struct aslcheck_opts o = ASLCHECK_OPTS_INIT;
	int calls = 0;

	ops.check = check_res;
	ops.arg = &calls;
	o.check_resources = 1;
	o.tasks = &ops;
	o.definition_dir = "/defs";
	expect_bad_opts("resource",
			"{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
			"\"arn:aws:lambda:us-east-1:1:function:f\",\"Next\":\"U\"},\"U\":{\"Type\":"
			"\"Task\",\"Resource\":\"exec:///bin/true\",\"End\":true}}}",
			"/States/T/Resource", ASLCHECK_RESOURCE, "under '/defs'", &o, 0);
	CHECK_INT_EQ(calls, 2);
}

static void test_single_state(void)
{
	struct aslcheck_result r = ASLCHECK_RESULT_INIT;
	json_t *st = parse("{\"Type\":\"Pass\",\"Next\":\"Elsewhere\"}");

	/* TestState: the transition is not resolved */
	CHECK_INT_EQ(aslcheck_state(st, NULL, &r), 0);
	aslcheck_result_release(&r);
	json_decref(st);
	expect_bad_opts("state type", "{\"Type\":\"Pas\",\"End\":true}", "/Type",
			ASLCHECK_SCHEMA, "unknown state type", NULL, 1);
}

static void test_release(void)
{
	struct aslcheck_result r = ASLCHECK_RESULT_INIT;
	json_t *def = parse("{\"StartAt\":1}");

	/* results accumulate across calls; release resets */
	CHECK(aslcheck_definition(def, NULL, &r) > 0);
	CHECK(aslcheck_definition(def, NULL, &r) > 0);
	CHECK(r.n >= 4);
	CHECK_INT_EQ(r.n, r.nerrors);
	aslcheck_result_release(&r);
	CHECK(r.n == 0 && r.diags == NULL);
	aslcheck_result_release(&r);
	aslcheck_result_release(NULL);
	CHECK(aslcheck_definition(NULL, NULL, &r) == 1);
	aslcheck_result_release(&r);
	json_decref(def);
}

int main(void)
{
	test_valid();
	test_structure();
	test_nesting();
	test_paths();
	test_choice();
	test_fields();
	test_query_language();
	test_resources();
	test_single_state();
	test_release();
	test_conformance();
	return TEST_DONE();
}
