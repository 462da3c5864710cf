/*
 * libFuzzer target for the JSONPath layer: the input is a path, a newline and
 * a JSON document. Compiles the path (and checks it), evaluates it on the
 * document with a context object and variables, uses it as a ResultPath, and
 * treats the document as a payload template. Must never crash or leak.
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
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl ? (size_t)(nl - data) : size;
	char *path = strndup((const char *)data, plen);
	json_t *doc = NULL, *out = NULL, *vars, *ctx;
	struct jpath_env env;
	struct asl_err err;
	struct jpath *p = NULL;
	char msg[256];

	if (!path)
		return 0;
	if (nl)
		doc = json_loadb((const char *)nl + 1, size - plen - 1, JSON_DECODE_ANY, NULL);
	if (!doc)
		doc = json_pack("{s:[i,{s:s},f], s:n}", "a", 1, "b", "x", 2.5, "c");
	vars = json_pack("{s:O, s:i}", "v", doc, "n", 3);
	ctx = json_pack("{s:{s:s, s:O}}", "Execution", "Id", "arn:x", "Input", doc);
	env.input = doc;
	env.context = ctx;
	env.var_get = fuzz_var_get;
	env.var_arg = vars;

	(void)jpath_check(path, msg, sizeof(msg));
	(void)jpath_check_reference(path, msg, sizeof(msg));
	if (jpath_eval(path, &env, &out, &err) == 0) {
		char *d = jpath_dumps(out);
		free(d);
		json_decref(out);
		out = NULL;
	}
	if (jpath_compile(path, &p, &err) == 0) {
		if (jpath_exec(p, &env, &out, &err) == 0)
			json_decref(out);
		out = NULL;
		if (jpath_set_compiled(doc, p, vars, &out, &err) == 0)
			json_decref(out);
		out = NULL;
		jpath_free(p);
	}
	if (jpath_template(doc, &env, "Parameters", &out, &err) == 0)
		json_decref(out);
	(void)jpath_template_check(doc, msg, sizeof(msg));
	if (json_is_object(doc)) {
		bool m;
		(void)choice_eval(doc, &env, &m, &err);
		(void)choice_check(doc, msg, sizeof(msg));
	}
	json_decref(ctx);
	json_decref(vars);
	json_decref(doc);
	free(path);
	return 0;
}
