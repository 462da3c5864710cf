/*
 * libFuzzer target for the intrinsic-function parser and evaluator: the input
 * is an expression such as "States.Format('{}', $.a)", evaluated against a
 * fixed document holding every JSON type. Must never crash or leak.
 */
#include "engine/jpath.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *fuzz_var_get(void *arg, const char *name)
{
	return json_object_get((json_t *)arg, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *expr = strndup((const char *)data, size);
	json_t *doc, *out = NULL;
	struct jpath_env env;
	struct asl_err err;
	struct intrinsic *f = NULL;
	char msg[400];

	if (!expr)
		return 0;
	doc = json_loads("{\"s\":\"a,b;c\",\"n\":3,\"r\":-1.5,\"b\":true,\"z\":null,"
			 "\"a\":[1,2,2,\"x\",[1],{\"k\":1}],\"o\":{\"k\":[1],\"m\":{}},"
			 "\"j\":\"{\\\"x\\\":[1,2]}\",\"e\":\"\",\"b64\":\"aGVsbG8=\"}",
			 0, NULL);
	env.input = doc;
	env.context = doc;
	env.var_get = fuzz_var_get;
	env.var_arg = doc;
	(void)intrinsic_is_call(expr);
	(void)intrinsic_check(expr, msg, sizeof(msg));
	if (intrinsic_eval(expr, &env, &out, &err) == 0) {
		char *d = jpath_dumps(out);
		free(d);
		json_decref(out);
	}
	if (intrinsic_compile(expr, &f, &err) == 0) {
		out = NULL;
		if (intrinsic_exec(f, &env, &out, &err) == 0)
			json_decref(out);
		intrinsic_free(f);
	}
	json_decref(doc);
	free(expr);
	return 0;
}
