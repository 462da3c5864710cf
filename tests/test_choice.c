/*
 * Unit tests for engine/choice.c: every operator, Is* inversion, type
 * mismatches, StringMatches escapes, And/Or/Not, missing Variables,
 * choice_check(), asl_timestamp_parse(), and all 311 AWS-recorded
 * Choice-operator rows (ids with '#cases[') run through choice_eval().
 */
#include "engine/jpath.h"

#include <stdlib.h>
#include <string.h>

#include "tests/conformance.h"
#include "tests/harness.h"

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &e);

	if (!v)
		fprintf(stderr, "bad test JSON %s: %s\n", s, e.text);
	return v;
}

static json_t *var_get(void *arg, const char *name)
{
	return json_object_get((json_t *)arg, name);
}

#define M(input, rule, want) expect(__LINE__, input, rule, want)
#define ERR(input, rule) expect(__LINE__, input, rule, -1)

static void expect(int line, const char *input, const char *rule, int want)
{
	json_t *in = J(input), *r = J(rule), *vars = J("{\"v\":5,\"s\":\"abc\"}");
	struct jpath_env env = { in, NULL, var_get, vars };
	struct asl_err err = { "", "" };
	bool m = false;
	int rc = choice_eval(r, &env, &m, &err);

	if (want < 0) {
		if (rc == 0)
			fprintf(stderr, "line %d: %s matched=%d, expected an error\n", line, rule, m);
		CHECK(rc < 0);
		CHECK_STR_EQ(err.error, "States.Runtime");
	} else {
		if (rc < 0 || m != (want == 1))
			fprintf(stderr, "line %d: %s on %s -> %s\n", line, rule, input,
				rc < 0 ? err.cause : m ? "true" : "false");
		CHECK_INT_EQ(rc, 0);
		CHECK_INT_EQ(m, want);
	}
	json_decref(in);
	json_decref(r);
	json_decref(vars);
}

static void test_operators(void)
{
	const char *in = "{\"s\":\"abc\",\"n\":5,\"r\":5.0,\"f\":2.5,\"b\":true,\"z\":null,"
			 "\"t\":\"2012-10-09T19:00:55Z\",\"t2\":\"2012-10-09T20:00:55+01:00\","
			 "\"o\":{},\"a\":[1],\"e\":\"\"}";

	M(in, "{\"Variable\":\"$.s\",\"StringEquals\":\"abc\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringEquals\":\"abd\"}", 0);
	M(in, "{\"Variable\":\"$.n\",\"StringEquals\":\"5\"}", 0);
	M(in, "{\"Variable\":\"$.s\",\"StringLessThan\":\"abd\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringLessThan\":\"abc\"}", 0);
	M(in, "{\"Variable\":\"$.s\",\"StringLessThanEquals\":\"abc\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringGreaterThan\":\"ab\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringGreaterThanEquals\":\"abd\"}", 0);
	M(in, "{\"Variable\":\"$.s\",\"StringEqualsPath\":\"$.s\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringEqualsPath\":\"$s\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringLessThanPath\":\"$.e\"}", 0);
	M(in, "{\"Variable\":\"$.s\",\"StringGreaterThanPath\":\"$.e\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringGreaterThanPath\":\"$.n\"}", 0);
	/* StringMatches */
	M(in, "{\"Variable\":\"$.s\",\"StringMatches\":\"a*\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringMatches\":\"*c\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringMatches\":\"*b*\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringMatches\":\"a*d\"}", 0);
	M(in, "{\"Variable\":\"$.s\",\"StringMatches\":\"abc\"}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringMatches\":\"*\"}", 1);
	M(in, "{\"Variable\":\"$.e\",\"StringMatches\":\"*\"}", 1);
	M(in, "{\"Variable\":\"$.n\",\"StringMatches\":\"*\"}", 0);
	M("{\"x\":\"a*b\"}", "{\"Variable\":\"$.x\",\"StringMatches\":\"a\\\\*b\"}", 1);
	M("{\"x\":\"axb\"}", "{\"Variable\":\"$.x\",\"StringMatches\":\"a\\\\*b\"}", 0);
	M("{\"x\":\"a\\\\b\"}", "{\"Variable\":\"$.x\",\"StringMatches\":\"a\\\\\\\\b\"}", 1);
	M("{\"x\":\"log-2024.txt\"}", "{\"Variable\":\"$.x\",\"StringMatches\":\"log-*.txt\"}", 1);
	M("{\"x\":\"aaa\"}", "{\"Variable\":\"$.x\",\"StringMatches\":\"*a*a*a*\"}", 1);
	M("{\"x\":\"aa\"}", "{\"Variable\":\"$.x\",\"StringMatches\":\"*a*a*a*\"}", 0);
	/* numbers across int/real */
	M(in, "{\"Variable\":\"$.n\",\"NumericEquals\":5}", 1);
	M(in, "{\"Variable\":\"$.r\",\"NumericEquals\":5}", 1);
	M(in, "{\"Variable\":\"$.n\",\"NumericEquals\":5.0}", 1);
	M(in, "{\"Variable\":\"$.f\",\"NumericLessThan\":3}", 1);
	M(in, "{\"Variable\":\"$.f\",\"NumericGreaterThan\":2}", 1);
	M(in, "{\"Variable\":\"$.f\",\"NumericGreaterThanEquals\":2.5}", 1);
	M(in, "{\"Variable\":\"$.f\",\"NumericLessThanEquals\":2.4}", 0);
	M(in, "{\"Variable\":\"$.s\",\"NumericEquals\":5}", 0);
	M(in, "{\"Variable\":\"$.n\",\"NumericEqualsPath\":\"$.r\"}", 1);
	M(in, "{\"Variable\":\"$.n\",\"NumericLessThanPath\":\"$.s\"}", 0);
	M(in, "{\"Variable\":\"$.n\",\"NumericEqualsPath\":\"$v\"}", 1);
	/* booleans */
	M(in, "{\"Variable\":\"$.b\",\"BooleanEquals\":true}", 1);
	M(in, "{\"Variable\":\"$.b\",\"BooleanEquals\":false}", 0);
	M(in, "{\"Variable\":\"$.n\",\"BooleanEquals\":true}", 0);
	M(in, "{\"Variable\":\"$.b\",\"BooleanEqualsPath\":\"$.b\"}", 1);
	/* timestamps */
	M(in, "{\"Variable\":\"$.t\",\"TimestampEquals\":\"2012-10-09T19:00:55Z\"}", 1);
	M(in, "{\"Variable\":\"$.t\",\"TimestampEqualsPath\":\"$.t2\"}", 1);
	M(in, "{\"Variable\":\"$.t\",\"TimestampLessThan\":\"2012-10-09T19:00:55.001Z\"}", 1);
	M(in, "{\"Variable\":\"$.t\",\"TimestampGreaterThan\":\"2012-10-09T19:00:54.999+00:00\"}", 1);
	M(in, "{\"Variable\":\"$.t\",\"TimestampLessThanEquals\":\"2012-10-09T19:00:55Z\"}", 1);
	M(in, "{\"Variable\":\"$.t\",\"TimestampGreaterThanEquals\":\"2012-10-09T19:00:56Z\"}", 0);
	M(in, "{\"Variable\":\"$.s\",\"TimestampEquals\":\"2012-10-09T19:00:55Z\"}", 0);
	M(in, "{\"Variable\":\"$.t\",\"TimestampEqualsPath\":\"$.s\"}", 0);
	/* Is* with true and false */
	M(in, "{\"Variable\":\"$.z\",\"IsNull\":true}", 1);
	M(in, "{\"Variable\":\"$.z\",\"IsNull\":false}", 0);
	M(in, "{\"Variable\":\"$.s\",\"IsNull\":false}", 1);
	M(in, "{\"Variable\":\"$.s\",\"IsPresent\":true}", 1);
	M(in, "{\"Variable\":\"$.nope\",\"IsPresent\":true}", 0);
	M(in, "{\"Variable\":\"$.nope\",\"IsPresent\":false}", 1);
	M(in, "{\"Variable\":\"$.z\",\"IsPresent\":false}", 0);
	M(in, "{\"Variable\":\"$.nope[*]\",\"IsPresent\":true}", 0);
	M(in, "{\"Variable\":\"$nosuchvar\",\"IsPresent\":false}", 1);
	M(in, "{\"Variable\":\"$.r\",\"IsNumeric\":true}", 1);
	M(in, "{\"Variable\":\"$.s\",\"IsNumeric\":false}", 1);
	M(in, "{\"Variable\":\"$.e\",\"IsString\":true}", 1);
	M(in, "{\"Variable\":\"$.e\",\"IsString\":false}", 0);
	M(in, "{\"Variable\":\"$.b\",\"IsBoolean\":true}", 1);
	M(in, "{\"Variable\":\"$.z\",\"IsBoolean\":false}", 1);
	M(in, "{\"Variable\":\"$.t\",\"IsTimestamp\":true}", 1);
	M(in, "{\"Variable\":\"$.s\",\"IsTimestamp\":true}", 0);
	M(in, "{\"Variable\":\"$.s\",\"IsTimestamp\":false}", 1);
	M(in, "{\"Variable\":\"$.n\",\"IsTimestamp\":false}", 1);
	/* boolean rules */
	M(in, "{\"And\":[{\"Variable\":\"$.n\",\"NumericEquals\":5},{\"Variable\":\"$.b\",\"BooleanEquals\":true}]}", 1);
	M(in, "{\"And\":[{\"Variable\":\"$.n\",\"NumericEquals\":5},{\"Variable\":\"$.b\",\"BooleanEquals\":false}]}", 0);
	M(in, "{\"Or\":[{\"Variable\":\"$.n\",\"NumericEquals\":4},{\"Variable\":\"$.b\",\"BooleanEquals\":true}]}", 1);
	M(in, "{\"Or\":[{\"Variable\":\"$.n\",\"NumericEquals\":4}]}", 0);
	M(in, "{\"Not\":{\"Variable\":\"$.n\",\"NumericEquals\":4}}", 1);
	M(in, "{\"Not\":{\"Not\":{\"Variable\":\"$.n\",\"NumericEquals\":4}}}", 0);
	/* short circuit: the missing variable behind a decided Or is not evaluated */
	M(in, "{\"Or\":[{\"Variable\":\"$.n\",\"NumericEquals\":5},{\"Variable\":\"$.nope\",\"NumericEquals\":4}]}", 1);
	M(in, "{\"Variable\":\"$.s\",\"StringEquals\":\"abc\",\"Next\":\"X\",\"Comment\":\"c\"}", 1);
	/* missing Variable / operand path: States.Runtime */
	ERR(in, "{\"Variable\":\"$.nope\",\"StringEquals\":\"x\"}");
	ERR(in, "{\"Variable\":\"$.nope\",\"IsNull\":true}");
	ERR(in, "{\"Variable\":\"$.s\",\"StringEqualsPath\":\"$.nope\"}");
	ERR(in, "{\"Variable\":\"$nosuchvar\",\"NumericEquals\":1}");
	ERR(in, "{\"And\":[{\"Variable\":\"$.n\",\"NumericEquals\":5},{\"Variable\":\"$.nope\",\"NumericEquals\":4}]}");
	{
		json_t *i = J(in), *r = J("{\"Variable\":\"$.nope\",\"StringEquals\":\"x\"}");
		struct jpath_env env = { i, NULL, NULL, NULL };
		struct asl_err err;
		bool m;
		CHECK(choice_eval(r, &env, &m, &err) < 0);
		CHECK_STR_EQ(err.cause, "Invalid path '$.nope': The choice state's condition path "
					"references an invalid value.");
		json_decref(i);
		json_decref(r);
	}
}

static void test_check(void)
{
	static const char *bad[] = {
		"{}",
		"[]",
		"{\"Variable\":\"$.a\"}",
		"{\"StringEquals\":\"x\"}",
		"{\"Variable\":\"$.a\",\"StringEquals\":1}",
		"{\"Variable\":\"$.a\",\"NumericEquals\":\"1\"}",
		"{\"Variable\":\"$.a\",\"BooleanEquals\":1}",
		"{\"Variable\":\"$.a\",\"IsNull\":\"true\"}",
		"{\"Variable\":\"$.a\",\"TimestampEquals\":\"2016-12-05 21:29:29Z\"}",
		"{\"Variable\":\"$.a\",\"StringEquals\":\"x\",\"NumericEquals\":1}",
		"{\"Variable\":\"$.a\",\"StringEqualsPath\":\"a\"}",
		"{\"Variable\":\"a\",\"StringEquals\":\"x\"}",
		"{\"Variable\":\"$.a\",\"StringMatches\":\"a\\\\b\"}",
		"{\"Variable\":\"$.a\",\"StringMatches\":\"a\\\\\"}",
		"{\"Variable\":\"$.a\",\"Bogus\":1}",
		"{\"And\":[]}",
		"{\"And\":{}}",
		"{\"Not\":[]}",
		"{\"And\":[{\"Variable\":\"$.a\",\"IsNull\":true,\"Next\":\"X\"}]}",
		"{\"Not\":{\"Variable\":\"$.a\",\"IsNull\":true,\"Next\":\"X\"}}",
		"{\"And\":[{\"Variable\":\"$.a\",\"IsNull\":true}],\"Variable\":\"$.a\"}",
		"{\"And\":[{\"Variable\":\"$.a\",\"IsNull\":true}],\"Or\":[]}",
	};
	static const char *good[] = {
		"{\"Variable\":\"$.a\",\"StringEquals\":\"x\",\"Next\":\"N\"}",
		"{\"Variable\":\"$.a\",\"StringMatches\":\"a\\\\*\\\\\\\\*\"}",
		"{\"Variable\":\"$$.Execution.Id\",\"IsString\":true}",
		"{\"Variable\":\"$v\",\"NumericEqualsPath\":\"$w.x\"}",
		"{\"Not\":{\"Or\":[{\"Variable\":\"$.a\",\"IsNull\":true},{\"And\":[{\"Variable\":\"$.b\",\"IsPresent\":false}]}]},\"Next\":\"X\"}",
		"{\"Variable\":\"$.a\",\"TimestampEquals\":\"2016-12-05T21:29:29.123456789-08:00\"}",
	};
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = J(bad[i]);
		int rc = choice_check(r, msg, sizeof(msg));
		if (rc == 0)
			fprintf(stderr, "accepted bad rule %s\n", bad[i]);
		CHECK(rc < 0);
		json_decref(r);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *r = J(good[i]);
		int rc = choice_check(r, msg, sizeof(msg));
		if (rc < 0)
			fprintf(stderr, "rejected good rule %s: %s\n", good[i], msg);
		CHECK_INT_EQ(rc, 0);
		json_decref(r);
	}
}

static void test_timestamps(void)
{
	struct timespec t;

	CHECK_INT_EQ(asl_timestamp_parse("1970-01-01T00:00:00Z", &t), 0);
	CHECK_INT_EQ(t.tv_sec, 0);
	CHECK_INT_EQ(asl_timestamp_parse("2016-03-14T01:59:00Z", &t), 0);
	CHECK_INT_EQ(t.tv_sec, 1457920740);
	CHECK_INT_EQ(asl_timestamp_parse("2016-03-14T02:59:00+01:00", &t), 0);
	CHECK_INT_EQ(t.tv_sec, 1457920740);
	CHECK_INT_EQ(asl_timestamp_parse("2016-03-13T20:59:00-05:00", &t), 0);
	CHECK_INT_EQ(t.tv_sec, 1457920740);
	CHECK_INT_EQ(asl_timestamp_parse("2026-11-23T18:59:11.000000Z", &t), 0);
	CHECK_INT_EQ(asl_timestamp_parse("2026-11-23T18:59:11.5Z", &t), 0);
	CHECK_INT_EQ(t.tv_nsec, 500000000);
	CHECK_INT_EQ(asl_timestamp_parse("2026-11-23T18:59:11.123456789Z", &t), 0);
	CHECK_INT_EQ(t.tv_nsec, 123456789);
	CHECK_INT_EQ(asl_timestamp_parse("2024-02-29T00:00:00Z", &t), 0);
	CHECK(asl_timestamp_parse("2023-02-29T00:00:00Z", &t) < 0);
	/* Java ISO_OFFSET_DATE_TIME: seconds optional, at most 9 fraction digits */
	CHECK_INT_EQ(asl_timestamp_parse("2016-03-14T01:59Z", &t), 0);
	CHECK_INT_EQ(t.tv_sec, 1457920740);
	CHECK_INT_EQ(asl_timestamp_parse("2016-03-14T01:59:30+00:00:30", &t), 0);
	CHECK_INT_EQ(t.tv_sec, 1457920740);
	CHECK(asl_timestamp_parse("2016-03-14T01:59.5Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-03-14T01:59:00.1234567890Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-03-14T01:59:00+19:00", &t) < 0);
	CHECK(asl_timestamp_parse("2026-11-23T18:59:11", &t) < 0);
	CHECK(asl_timestamp_parse("2026-11-23T18:59:11.000000", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05 21:29:29Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05t21:29:29Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05T21:29:29z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-13-05T21:29:29Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05T25:29:29Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05T21:29:29.Z", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05T21:29:29+0100", &t) < 0);
	CHECK(asl_timestamp_parse("2016-12-05T21:29:29Zjunk", &t) < 0);
	CHECK(asl_timestamp_parse("2023-02-24", &t) < 0);
	CHECK(asl_timestamp_parse("", &t) < 0);
	CHECK(asl_timestamp_parse(NULL, &t) < 0);
}

/* ---- the AWS-recorded operator tables */

struct aws_stats {
	int run, passed;
};

static void aws_row(json_t *row, void *arg)
{
	struct aws_stats *st = arg;
	const char *id = json_string_value(json_object_get(row, "id"));
	json_t *states = json_object_get(json_object_get(row, "definition"), "States");
	json_t *choice = NULL, *rules, *in;
	const char *want = json_string_value(
		json_object_get(json_object_get(json_object_get(row, "expected"), "value"),
				"TestResult.$"));
	const char *k, *input = json_string_value(json_object_get(row, "input"));
	const char *got = NULL;
	json_t *s;
	struct jpath_env env = { NULL, NULL, NULL, NULL };
	struct asl_err err = { "", "" };
	size_t i;

	json_object_foreach(states, k, s)
		if (!strcmp(json_string_value(json_object_get(s, "Type")), "Choice"))
			choice = s;
	if (!choice || !want)
		return;
	st->run++;
	in = J(input ? input : "{}");
	env.input = in;
	rules = json_object_get(choice, "Choices");
	for (i = 0; i < json_array_size(rules) && !got; i++) {
		bool m = false;
		if (choice_eval(json_array_get(rules, i), &env, &m, &err) < 0) {
			got = "error";
			break;
		}
		if (m)
			got = json_string_value(json_object_get(json_array_get(rules, i), "Next"));
	}
	if (!got)
		got = json_string_value(json_object_get(choice, "Default"));
	if (got && !strcmp(got, want)) {
		st->passed++;
	} else {
		char *r = jpath_dumps(json_array_get(rules, 0));
		fprintf(stderr, "AWS case %s: rule %s on %s: got %s (%s), AWS %s\n", id, r, input,
			got ? got : "nothing", err.cause, want);
		free(r);
	}
	json_decref(in);
}

static void test_aws_recorded(void)
{
	struct aws_stats st = { 0, 0 };
	int n = conformance_each("#cases[", aws_row, &st);

	if (n < 0) {
		printf("note: conformance file not found; AWS-recorded Choice cases skipped\n");
		return;
	}
	printf("AWS-recorded Choice cases: %d of %d agree\n", st.passed, st.run);
	CHECK(st.run >= 300);
	CHECK_INT_EQ(st.passed, st.run);
}

int main(void)
{
	test_operators();
	test_check();
	test_timestamps();
	test_aws_recorded();
	return TEST_DONE();
}
