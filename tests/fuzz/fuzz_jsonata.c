/*
 * libFuzzer target for the JSONata evaluator: the input is an expression, a
 * newline and a JSON document. Compiles the expression in both dialects
 * (plain JSONata and JSONATA_ASL) and evaluates it on the document with a
 * couple of variable bindings. Must never crash, leak or hang past the
 * evaluator's own limits.
 */
#include "engine/jsonata.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl ? (size_t)(nl - data) : size;
	char *src = strndup((const char *)data, elen);
	json_t *doc = NULL, *bindings;
	struct jsonata_err err;

	if (!src)
		return 0;
	if (nl)
		doc = json_loadb((const char *)nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
	if (!doc)
		doc = json_pack("{s:[i,{s:s},f], s:n, s:{s:[s,s]}}", "a", 1, "b", "x", 2.5, "c", "d", "e",
				"p", "q");
	bindings = json_pack("{s:O, s:i}", "v", doc, "n", 3);
	for (unsigned flags = 0; flags <= JSONATA_ASL; flags += JSONATA_ASL) {
		struct jsonata *j = jsonata_compile(src, flags, &err);
		json_t *out = NULL;

		if (!j)
			continue;
		if (jsonata_eval(j, doc, bindings, &out, &err) == 0) {
			char *d = json_dumps(out, JSON_ENCODE_ANY);

			free(d);
			json_decref(out);
		}
		jsonata_free(j);
	}
	json_decref(bindings);
	json_decref(doc);
	free(src);
	return 0;
}
