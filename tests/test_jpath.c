/*
 * Unit tests for engine/jpath.c: JSONPath evaluation (definite and
 * indefinite, filters, context and variables), Jayway/AWS error causes,
 * ResultPath placement, payload templates, the compact printer.
 */
#include "engine/jpath.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

static json_t *vars;

static json_t *var_get(void *arg, const char *name)
{
	return json_object_get((json_t *)arg, name);
}

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &e);

	if (!v)
		fprintf(stderr, "bad test JSON %s: %s\n", s, e.text);
	return v;
}

/* Evaluate @path on @input; compare the compact result with @want (or the error cause). */
#define EXPECT(input, path, want) expect(__LINE__, input, path, want, NULL)
#define EXPECT_ERR(input, path, cause) expect(__LINE__, input, path, NULL, cause)

static void expect(int line, const char *input, const char *path, const char *want,
		   const char *cause)
{
	json_t *in = J(input), *ctx = J("{\"Execution\":{\"Id\":\"arn:x\",\"Input\":{\"a\":1}}}");
	struct jpath_env env = { in, ctx, var_get, vars };
	struct asl_err err = { "", "" };
	json_t *out = NULL;
	char *d;
	int r = jpath_eval(path, &env, &out, &err);

	if (want) {
		d = r == 0 ? jpath_dumps(out) : NULL;
		if (!d || strcmp(d, want))
			fprintf(stderr, "line %d: path %s\n", line, path);
		CHECK_STR_EQ(r == 0 ? d : err.cause, want);
		free(d);
	} else {
		if (r == 0 || strcmp(err.cause, cause))
			fprintf(stderr, "line %d: path %s\n", line, path);
		CHECK(r < 0);
		CHECK_STR_EQ(err.cause, cause);
		CHECK_STR_EQ(err.error, "States.Runtime");
	}
	json_decref(out);
	json_decref(in);
	json_decref(ctx);
}

static void test_paths(void)
{
	const char *doc = "{\"a\":{\"b\":[1,2,3,{\"c\":\"x\"}]},\"n\":null,\"s\":\"str\","
			  "\"items\":[{\"k\":1,\"v\":\"a\"},{\"k\":2,\"v\":\"b\"},{\"k\":3}],"
			  "\"weird key\":5,\"in-put\":6}";

	EXPECT(doc, "$", doc[0] ? "{\"a\":{\"b\":[1,2,3,{\"c\":\"x\"}]},\"n\":null,\"s\":\"str\","
				  "\"items\":[{\"k\":1,\"v\":\"a\"},{\"k\":2,\"v\":\"b\"},{\"k\":3}],"
				  "\"weird key\":5,\"in-put\":6}"
				: "");
	EXPECT(doc, "$.a.b[0]", "1");
	EXPECT(doc, "$.a.b[-1].c", "\"x\"");
	EXPECT(doc, "$['a']['b'][1]", "2");
	EXPECT(doc, "$[\"a\"].b[2]", "3");
	EXPECT(doc, "$['weird key']", "5");
	EXPECT(doc, "$.['weird key']", "5");
	EXPECT(doc, "$.a.[\"b\"].[0]", "1");
	EXPECT(doc, "$.in-put", "6");
	/* AWS: only an escaped delimiter is an escape inside a quoted name */
	EXPECT("{\"Test\\\\\\\"\\\"Name\\\"\": 1}", "$['Test\\\"\"Name\"']", "1");
	EXPECT("{\"it's\": 2}", "$['it\\'s']", "2");
	EXPECT("{\"a\\\\b\": 3}", "$['a\\b']", "3");
	EXPECT(doc, "$.n", "null");
	EXPECT(doc, "$.items[*].k", "[1,2,3]");
	EXPECT(doc, "$.items[*].v", "[\"a\",\"b\"]");
	EXPECT(doc, "$.items[0:2].k", "[1,2]");
	EXPECT(doc, "$.items[1:].k", "[2,3]");
	EXPECT(doc, "$.items[:1].k", "[1]");
	EXPECT(doc, "$.items[-2:].k", "[2,3]");
	EXPECT(doc, "$.items[::2].k", "[1,3]");
	EXPECT("[0,1,2,3,4]", "$[::-1]", "[4,3,2,1,0]");
	EXPECT("[0,1,2,3,4]", "$[3:0:-1]", "[3,2,1]");
	EXPECT("[0,1,2,3,4]", "$[-1:-3:-1]", "[4,3]");
	EXPECT("[0,1,2,3,4]", "$[10:-10:-2]", "[4,2,0]");
	EXPECT("[0,1,2,3,4]", "$[-10:10]", "[0,1,2,3,4]");
	EXPECT("[0,1,2,3,4]", "$[1:4:9223372036854775000]", "[1]");
	EXPECT("[0,1,2,3,4]", "$[3:0:-9223372036854775000]", "[3]");
	EXPECT("[0,1,2,3,4]", "$[-9223372036854775000:2]", "[0,1]");
	EXPECT(doc, "$.items[0,2].k", "[1,3]");
	EXPECT(doc, "$.a.b[0,1]", "[1,2]");
	EXPECT(doc, "$.a.b[0,9]", "[1,null]");
	EXPECT(doc, "$.items[*].k[0]", "[]");
	EXPECT("{\"l\":[[1,2],[3]]}", "$.l[*][1]", "[2,null]");
	EXPECT("{\"l\":[{\"t\":[1,2]},{\"t\":[3]}]}", "$.l[?(@.t[1])].t", "[[1,2]]");
	EXPECT(doc, "$..c", "[\"x\"]");
	EXPECT(doc, "$..k", "[1,2,3]");
	EXPECT(doc, "$.items[?(@.k > 1)].k", "[2,3]");
	EXPECT(doc, "$.items[?(@.k >= 2 && @.v)].v", "[\"b\"]");
	EXPECT(doc, "$.items[?(@.k == 1 || @.k == 3)].k", "[1,3]");
	/* && binds tighter than ||; chains are left-associative */
	EXPECT(doc, "$.items[?(@.k == 3 || @.k >= 2 && @.v)].k", "[2,3]");
	EXPECT(doc, "$.items[?(@.v && @.k >= 2 || @.k == 1)].k", "[1,2]");
	EXPECT(doc, "$.items[?(@.k == 1 || @.k == 2 || @.k == 3)].k", "[1,2,3]");
	EXPECT(doc, "$.items[?(!(@.k == 1))].k", "[2,3]");
	EXPECT(doc, "$.items[?(@.v == 'a')].k", "[1]");
	EXPECT(doc, "$.items[?(@.v != 'a')].k", "[2,3]");
	EXPECT(doc, "$.items[?(@.v)].k", "[1,2]");
	EXPECT(doc, "$.items[?(@.k < $.a.b[1])].k", "[1]");
	EXPECT(doc, "$.a[*]", "[[1,2,3,{\"c\":\"x\"}]]");
	EXPECT(doc, "$.items[?(@.v =~ /[ab]/)].k", "[1,2]");
	EXPECT(doc, "$.items[?(@.v =~ /A/i)].k", "[1]");
	EXPECT(doc, "$.items[?(@.v =~ /a.+/)].k", "[]");
	EXPECT(doc, "$.items[?(@.k =~ /\\d/)].k", "[]");
	EXPECT(doc, "$.items[?(@.k in [1, 3])].k", "[1,3]");
	EXPECT(doc, "$.items[?(@.v in ['b', \"c\"])].k", "[2]");
	EXPECT(doc, "$.items[?(@.k nin [1, 3])].k", "[2]");
	EXPECT("{\"l\":[{\"t\":[1,2]},{\"t\":[3]},{\"t\":[]}]}", "$.l[?(@.t size 2)].t", "[[1,2]]");
	EXPECT("{\"l\":[{\"t\":[1,2]},{\"t\":[3]},{\"t\":[]}]}", "$.l[?(@.t empty true)].t", "[[]]");
	EXPECT("{\"l\":[{\"t\":[1,2]},{\"t\":[3]},{\"t\":[]}]}", "$.l[?(@.t anyof [2, 3])].t", "[[1,2],[3]]");
	EXPECT("{\"l\":[{\"t\":[1,2]},{\"t\":[3]},{\"t\":[]}]}", "$.l[?(@.t noneof [2])].t", "[[3],[]]");
	EXPECT("{\"l\":[{\"t\":[1,2]},{\"t\":[3]},{\"t\":[]}]}", "$.l[?(@.t subsetof [1, 2])].t", "[[1,2],[]]");
	EXPECT(doc, "$.items[*]['k','v']",
	       "[{\"k\":1,\"v\":\"a\"},{\"k\":2,\"v\":\"b\"},{\"k\":3}]");
	EXPECT(doc, "$.items[*]['k','v'].length()", "3");
	EXPECT(doc, "$['a','s']", "{\"a\":{\"b\":[1,2,3,{\"c\":\"x\"}]},\"s\":\"str\"}");
	/* Jayway path functions */
	EXPECT(doc, "$.items.length()", "3");
	EXPECT(doc, "$.a.b.length()", "4");
	EXPECT(doc, "$.s.length()", "3");
	EXPECT(doc, "$.a.length()", "1");
	EXPECT(doc, "$.items[*].k.length()", "3");
	EXPECT(doc, "$.items[*].k.sum()", "6.0");
	EXPECT(doc, "$.items[*].k.min()", "1.0");
	EXPECT(doc, "$.items[*].k.max()", "3.0");
	EXPECT(doc, "$.items[*].k.avg()", "2.0");
	EXPECT(doc, "$.a.b.first()", "1");
	EXPECT(doc, "$.a.b.last()", "{\"c\":\"x\"}");
	EXPECT(doc, "$.a.keys()", "[\"b\"]");
	EXPECT(doc, "$.items[?(@.v.length() > 0)].k", "[1,2]");
	EXPECT_ERR(doc, "$.n.length()", "Invalid path '$.n.length()' : Function length() cannot be applied to null");
	EXPECT_ERR(doc, "$.nope.length()", "Invalid path '$.nope.length()' : No results for path: $['nope'].length()");
	/* indefinite paths over missing data give [] (AWS) */
	EXPECT("{}", "$[*]", "[]");
	EXPECT("{}", "$.item.items[*]", "[]");
	EXPECT("{}", "$.items[*].itemValue", "[]");
	EXPECT("{}", "$.items[1:]", "[]");
	EXPECT("{}", "$.items[:1].itemValue", "[]");
	/* context and variables */
	EXPECT("{}", "$$.Execution.Id", "\"arn:x\"");
	EXPECT("{}", "$$.Execution.Input", "{\"a\":1}");
	EXPECT("{}", "$myvar", "{\"x\":[10,20]}");
	EXPECT("{}", "$myvar.x[1]", "20");
	EXPECT("{}", "$n", "0");
	/* scalars and odd inputs */
	EXPECT("0", "$", "0");
	EXPECT("false", "$", "false");
	EXPECT("\"\"", "$", "\"\"");
	EXPECT("null", "$", "null");
	EXPECT("{\"r\":1.1,\"e\":1e20,\"z\":1.0}", "$", "{\"r\":1.1,\"e\":1.0E20,\"z\":1.0}");
	EXPECT("\"a\\u001fb\\n\\\"/\\u00e9\"", "$", "\"a\\u001Fb\\n\\\"/\u00e9\"");

	/* causes as AWS (Jayway) words them */
	EXPECT_ERR("{\"int-literal\":0}", "$.NoSuchInputPath",
		   "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']");
	EXPECT_ERR("{}", "$.no.such.result.path",
		   "Invalid path '$.no.such.result.path' : Missing property in path $['no']");
	EXPECT_ERR("{\"a\":{}}", "$.a.b.c",
		   "Invalid path '$.a.b.c' : Missing property in path $['a']['b']");
	/* AWS reads through Jackson: an index past the end is null, and a step after it fails */
	EXPECT("{\"items\":[1,2]}", "$.items[5]", "null");
	EXPECT("{\"items\":[1,2]}", "$.items[-5]", "null");
	EXPECT_ERR("{\"items\":[1]}", "$.items[5].x",
		   "Invalid path '$.items[5].x' : Expected to find an object with property ['x'] in "
		   "path $['items'][5] but found 'null'. This is not a json object according to the "
		   "JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.");
	EXPECT_ERR("{\"items\":[1]}", "$.items[5][0]",
		   "Invalid path '$.items[5][0]' : The path $['items'][5] is null");
	EXPECT_ERR("{\"other\":1}", "$.other[0]",
		   "Invalid path '$.other[0]' : Filter: [0] can only be applied to arrays. Current "
		   "context is: 1");
	EXPECT_ERR("{\"n\":null}", "$.n.x",
		   "Invalid path '$.n.x' : Expected to find an object with property ['x'] in path "
		   "$['n'] but found 'null'. This is not a json object according to the "
		   "JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.");
	EXPECT_ERR("{\"n\":null}", "$.n[0]", "Invalid path '$.n[0]' : The path $['n'] is null");
	EXPECT_ERR("{\"s\":\"abc\"}", "$.s[0]",
		   "Invalid path '$.s[0]' : Filter: [0] can only be applied to arrays. Current "
		   "context is: abc");
	EXPECT_ERR("{\"s\":\"abc\"}", "$.s.x",
		   "Invalid path '$.s.x' : Expected to find an object with property ['x'] in path "
		   "$['s'] but found 'java.lang.String'. This is not a json object according to the "
		   "JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.");
	EXPECT_ERR("{}", "$nosuchvar", "Invalid path '$nosuchvar' : variable 'nosuchvar' is not defined");
	EXPECT_ERR("{\"a\":1}", "$.a.b",
		   "Invalid path '$.a.b' : Expected to find an object with property ['b'] in path "
		   "$['a'] but found 'java.lang.Integer'. This is not a json object according to "
		   "the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.");
}

static void test_syntax(void)
{
	static const char *bad[] = {
		"",	  "a",	      "$.",	 "$..",	     "$[",	"$['a'",     "$[1",
		"$[?(@.a", "$.a b",   "$[?()]",	 "$[x]",     "$$$",	"$[1:2:0]",  "$.a)",
		"$[?(@.a == )]",      "$['a',]", "$[1,]",    "@.a",	"$ .a",
		"$.a.nofunc()", "$.a.length(1)", "$.a.length().b", "$.a.length(",
		"$[?(@.a =~ /x)]", "$[?(@.a =~ x)]", "$[?(@.a in [1,)]", "$[?(@.a =~ /(/)]",
		"$[?(@.a =~ /a+++*++/)]", "$[?(@.a =~ /(a)\\1/)]", "$[?(@.a =~ /((((((((((a))))))))))/)]",
	};
	static const char *good[] = {
		"$", "$$", "$.a", "$..a", "$[*]", "$.a[1:2]", "$[?(@.x)]", "$var", "$var.a[0]",
		"$['a b']", "$.a[-1]", "$.a.*", "$..*", "$..[0]", "$.a.length()", "$[*].sum()",
	};
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = jpath_check(bad[i], msg, sizeof(msg));
		if (r == 0)
			fprintf(stderr, "accepted bad path '%s'\n", bad[i]);
		CHECK(r < 0);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r = jpath_check(good[i], msg, sizeof(msg));
		if (r < 0)
			fprintf(stderr, "rejected good path '%s': %s\n", good[i], msg);
		CHECK_INT_EQ(r, 0);
	}
	CHECK_INT_EQ(jpath_check_reference("$.a.b[0]", msg, sizeof(msg)), 0);
	CHECK_INT_EQ(jpath_check_reference("$", msg, sizeof(msg)), 0);
	CHECK(jpath_check_reference("$.a[*]", msg, sizeof(msg)) < 0);
	CHECK(jpath_check_reference("$..a", msg, sizeof(msg)) < 0);
	CHECK(jpath_check_reference("$.a[?(@.x)]", msg, sizeof(msg)) < 0);
	CHECK(jpath_check_reference("$.a[0,1]", msg, sizeof(msg)) < 0);
	CHECK(jpath_check_reference("$.a[1:]", msg, sizeof(msg)) < 0);
	{
		struct asl_err err;
		json_t *out = NULL;
		struct jpath_env env = { NULL, NULL, NULL, NULL };
		CHECK_INT_EQ(jpath_eval("$.a[", &env, &out, &err), JPATH_ESYNTAX);
		/* a chain with a missing operand frees what it built (ASan) */
		CHECK_INT_EQ(jpath_eval("$.a[?(@.k == 1 || @.k == 2 ||)]", &env, &out, &err),
			     JPATH_ESYNTAX);
		CHECK_INT_EQ(jpath_eval("$.a[?(@.k && @.v &&)]", &env, &out, &err),
			     JPATH_ESYNTAX);
		CHECK_STR_EQ(err.error, "States.Runtime");
		CHECK_INT_EQ(jpath_eval("$.a", &env, &out, &err), JPATH_ENOTFOUND);
		CHECK_INT_EQ(jpath_eval("$$.a", &env, &out, &err), JPATH_ENOTFOUND);
	}
}

static void expect_set(int line, const char *doc, const char *path, const char *value,
		       const char *want)
{
	json_t *d = J(doc), *v = J(value), *out = NULL;
	char *before = jpath_dumps(d), *after, *s;
	struct asl_err err = { "", "" };
	int r = jpath_set(d, path, v, &out, &err);

	if (want) {
		s = r == 0 ? jpath_dumps(out) : NULL;
		if (!s || strcmp(s, want))
			fprintf(stderr, "line %d: set %s\n", line, path);
		CHECK_STR_EQ(r == 0 ? s : err.cause, want);
		free(s);
	} else {
		CHECK(r < 0);
		CHECK_STR_EQ(err.error, "States.ResultPathMatchFailure");
	}
	after = jpath_dumps(d);
	CHECK_STR_EQ(after, before); /* doc is never modified */
	free(before);
	free(after);
	json_decref(out);
	json_decref(d);
	json_decref(v);
}

static void test_set(void)
{
	expect_set(__LINE__, "{\"a\":1}", "$", "{\"r\":2}", "{\"r\":2}");
	expect_set(__LINE__, "{\"a\":1}", "$.b", "2", "{\"a\":1,\"b\":2}");
	expect_set(__LINE__, "{\"a\":1}", "$.a", "[3]", "{\"a\":[3]}");
	expect_set(__LINE__, "{\"a\":1}", "$.x.y.z", "true", "{\"a\":1,\"x\":{\"y\":{\"z\":true}}}");
	expect_set(__LINE__, "{\"a\":{\"k\":1}}", "$.a.m", "2", "{\"a\":{\"k\":1,\"m\":2}}");
	expect_set(__LINE__, "{\"a\":[1,2]}", "$.a[1]", "9", "{\"a\":[1,9]}");
	expect_set(__LINE__, "\"str\"", "$", "1", "1");
	expect_set(__LINE__, "\"str\"", "$.a", "1", NULL);
	expect_set(__LINE__, "{\"a\":5}", "$.a.b", "1", NULL);
	expect_set(__LINE__, "{\"a\":[1]}", "$.a[3]", "1", NULL);
	expect_set(__LINE__, "{}", "$.a[*]", "1", NULL);
	expect_set(__LINE__, "{}", "$$.a", "1", NULL);
	expect_set(__LINE__, "{}", "$v.a", "1", NULL);
}

static void expect_tmpl(int line, const char *input, const char *tmpl, const char *want,
			const char *cause)
{
	json_t *in = J(input), *t = J(tmpl), *out = NULL;
	json_t *ctx = J("{\"Execution\":{\"Name\":\"ex\"},\"State\":{\"Name\":\"S\"}}");
	struct jpath_env env = { in, ctx, var_get, vars };
	struct asl_err err = { "", "" };
	int r = jpath_template(t, &env, "Parameters", &out, &err);
	char *s;

	if (want) {
		s = r == 0 ? jpath_dumps(out) : NULL;
		if (!s || strcmp(s, want))
			fprintf(stderr, "line %d: template %s\n", line, tmpl);
		CHECK_STR_EQ(r == 0 ? s : err.cause, want);
		free(s);
	} else {
		CHECK(r < 0);
		CHECK_STR_EQ(err.error, "States.Runtime");
		CHECK_STR_EQ(err.cause, cause);
	}
	json_decref(out);
	json_decref(in);
	json_decref(t);
	json_decref(ctx);
}

static void test_templates(void)
{
	char msg[256];
	json_t *t;

	expect_tmpl(__LINE__, "{\"x\":1}", "{\"a\":1,\"b.$\":\"$.x\"}", "{\"a\":1,\"b\":1}", NULL);
	expect_tmpl(__LINE__, "{\"x\":1}", "{\"o\":{\"p\":{\"q.$\":\"$\"}},\"l\":[{\"z.$\":\"$.x\"},2]}",
		    "{\"o\":{\"p\":{\"q\":{\"x\":1}}},\"l\":[{\"z\":1},2]}", NULL);
	expect_tmpl(__LINE__, "{}", "{\"n.$\":\"$$.Execution.Name\",\"c.$\":\"$$\"}",
		    "{\"n\":\"ex\",\"c\":{\"Execution\":{\"Name\":\"ex\"},\"State\":{\"Name\":\"S\"}}}",
		    NULL);
	expect_tmpl(__LINE__, "{\"x\":2}", "{\"v.$\":\"$myvar.x\",\"f.$\":\"States.Format('x={}', $.x)\"}",
		    "{\"v\":[10,20],\"f\":\"x=2\"}", NULL);
	expect_tmpl(__LINE__, "0", "{\"v.$\":\"$\"}", "{\"v\":0}", NULL);
	expect_tmpl(__LINE__, "false", "{\"v.$\":\"$\"}", "{\"v\":false}", NULL);
	expect_tmpl(__LINE__, "null", "{\"v.$\":\"$\"}", "{\"v\":null}", NULL);
	expect_tmpl(__LINE__, "{}", "{\"item.$\":\"$[*]\"}", "{\"item\":[]}", NULL);
	expect_tmpl(__LINE__, "{}", "\"plain\"", "\"plain\"", NULL);
	expect_tmpl(__LINE__, "{\"int-literal\":0}", "{\"value.$\":\"$.no_such_jsonpath\"}", NULL,
		    "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not "
		    "be found in the input '{\"int-literal\":0}'");
	expect_tmpl(__LINE__, "{\"items\":[1,2]}", "{\"idx.$\":\"$.items[5]\"}", "{\"idx\":null}", NULL);
	expect_tmpl(__LINE__, "{\"other\":1}", "{\"v.$\":\"States.Format('{} {}', $.other, $.a.b)\"}", NULL,
		    "The function 'States.Format('{} {}', $.other, $.a.b)' had the following error: "
		    "The JsonPath argument for the field '$.a.b' could not be found in the input "
		    "'{\"other\":1}'");
	expect_tmpl(__LINE__, "{}", "{\"a.$\":\"$.x\",\"a\":1}", NULL,
		    "The field 'a' is given twice ('a.$' and 'a')");

	t = J("{\"a.$\":\"$.x[\"}");
	CHECK(jpath_template_check(t, msg, sizeof(msg)) < 0);
	json_decref(t);
	t = J("{\"a.$\":\"States.Nope()\"}");
	CHECK(jpath_template_check(t, msg, sizeof(msg)) < 0);
	json_decref(t);
	t = J("{\"a.$\":5}");
	CHECK(jpath_template_check(t, msg, sizeof(msg)) < 0);
	json_decref(t);
	t = J("{\"a.$\":\"$.x\",\"b\":{\"c.$\":\"States.UUID()\"},\"d\":[{\"e.$\":\"$$.x\"}]}");
	CHECK_INT_EQ(jpath_template_check(t, msg, sizeof(msg)), 0);
	json_decref(t);
}

static void test_blowup(void)
{
	json_t *a = json_integer(1), *o, *out = NULL;
	struct jpath_env env = { NULL, NULL, NULL, NULL };
	struct asl_err err;
	int i;

	for (i = 0; i < 300; i++) {
		o = json_object();
		json_object_set_new(o, "x", a);
		a = o;
	}
	env.input = a;
	CHECK_INT_EQ(jpath_eval("$..*..*..*..*", &env, &out, &err), -E2BIG);
	CHECK(strstr(err.cause, "selects more than") != NULL);
	CHECK_INT_EQ(jpath_eval("$..x", &env, &out, &err), 0);
	CHECK_INT_EQ(json_array_size(out), 300);
	json_decref(out);
	json_decref(a);
}

static void test_compiled(void)
{
	struct jpath *p = NULL;
	struct asl_err err;
	json_t *in = J("{\"a\":{\"b\":7}}"), *out = NULL;
	struct jpath_env env = { in, NULL, NULL, NULL };
	int i, ok = 0;

	CHECK_INT_EQ(jpath_compile("$.a.b", &p, &err), 0);
	CHECK(jpath_is_definite(p));
	CHECK(jpath_is_reference(p));
	CHECK_STR_EQ(jpath_text(p), "$.a.b");
	for (i = 0; i < 1000; i++) {
		if (jpath_exec(p, &env, &out, &err) == 0 && json_integer_value(out) == 7)
			ok++;
		json_decref(out);
		out = NULL;
	}
	CHECK_INT_EQ(ok, 1000);
	jpath_free(p);
	CHECK_INT_EQ(jpath_compile("$.a[*]", &p, &err), 0);
	CHECK(!jpath_is_definite(p));
	CHECK(!jpath_is_reference(p));
	jpath_free(p);
	jpath_free(NULL);
	json_decref(in);
}

static void test_fmt_real(void)
{
	char b[32];

	CHECK_STR_EQ(jpath_fmt_real(1.1, b), "1.1");
	CHECK_STR_EQ(jpath_fmt_real(1.0, b), "1.0");
	CHECK_STR_EQ(jpath_fmt_real(-2.5, b), "-2.5");
	CHECK_STR_EQ(jpath_fmt_real(0.001, b), "0.001");
	CHECK_STR_EQ(jpath_fmt_real(0.0001, b), "1.0E-4");
	CHECK_STR_EQ(jpath_fmt_real(1234567.0, b), "1234567.0");
	CHECK_STR_EQ(jpath_fmt_real(12345678.0, b), "1.2345678E7");
	CHECK_STR_EQ(jpath_fmt_real(1e20, b), "1.0E20");
	CHECK_STR_EQ(jpath_fmt_real(0.1 + 0.2, b), "0.30000000000000004");
	CHECK_STR_EQ(jpath_fmt_real(0.0, b), "0.0");
	CHECK_STR_EQ(jpath_fmt_real(100.0, b), "100.0");
}

/*
 * Under `make tsan`: jansson's inline json_incref()/json_decref() read the
 * refcount plainly before the atomic update (the check for its static
 * singletons); that benign race is not ours.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:json_incref\nrace:json_decref\n";
}

/* Compiled objects are immutable: threads share them and the input document. */
struct shared {
	struct jpath *path;
	struct jpath_tmpl *tmpl;
	struct choice_rule *rule;
	json_t *input;
	int ok;
};

static void *worker(void *arg)
{
	struct shared *sh = arg;
	struct jpath_env env = { sh->input, NULL, NULL, NULL };
	struct asl_err err;
	int i, ok = 0;

	for (i = 0; i < 2000; i++) {
		json_t *a = NULL, *b = NULL;
		bool m = false;
		if (jpath_exec(sh->path, &env, &a, &err) == 0 && json_array_size(a) == 2 &&
		    jpath_tmpl_exec(sh->tmpl, &env, "Parameters", &b, &err) == 0 &&
		    json_integer_value(json_object_get(b, "n")) == 3 &&
		    choice_exec(sh->rule, &env, &m, &err) == 0 && m)
			ok++;
		json_decref(a);
		json_decref(b);
	}
	sh->ok = ok;
	return NULL;
}

static void test_threads(void)
{
	struct shared sh[4];
	pthread_t t[4];
	struct asl_err err;
	struct jpath *p = NULL;
	struct jpath_tmpl *tm = NULL;
	struct choice_rule *r = NULL;
	json_t *in = J("{\"l\":[{\"v\":\"ab\",\"k\":2},{\"v\":\"x\",\"k\":1},{\"v\":\"ac\",\"k\":3}]}");
	json_t *tj = J("{\"n.$\":\"States.ArrayLength($.l)\",\"s.$\":\"States.Hash($.l, 'SHA-256')\"}");
	json_t *rj = J("{\"And\":[{\"Variable\":\"$.l[0].v\",\"StringMatches\":\"a*\"},"
		       "{\"Variable\":\"$.l[2].k\",\"NumericEqualsPath\":\"$.l[2].k\"}]}");
	int i;

	CHECK_INT_EQ(jpath_compile("$.l[?(@.v =~ /a.*/ && @.k > 1)].k", &p, &err), 0);
	CHECK_INT_EQ(jpath_tmpl_compile(tj, &tm, &err), 0);
	CHECK_INT_EQ(choice_compile(rj, &r, &err), 0);
	for (i = 0; i < 4; i++) {
		sh[i] = (struct shared){ p, tm, r, in, 0 };
		CHECK_INT_EQ(pthread_create(&t[i], NULL, worker, &sh[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT_EQ(sh[i].ok, 2000);
	}
	jpath_free(p);
	jpath_tmpl_free(tm);
	choice_free(r);
	json_decref(in);
	json_decref(tj);
	json_decref(rj);
}

int main(void)
{
	vars = J("{\"myvar\":{\"x\":[10,20]},\"n\":0}");
	test_paths();
	test_syntax();
	test_set();
	test_templates();
	test_compiled();
	test_blowup();
	test_fmt_real();
	test_threads();
	json_decref(vars);
	return TEST_DONE();
}
