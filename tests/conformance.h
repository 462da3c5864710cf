/*
 * Locating and reading ../shared/conformance/asl-aws-recorded.jsonl from unit
 * tests: $STEPFS_CONFORMANCE (a directory), else ../shared/conformance or
 * ../../shared/conformance relative to the repository root (tests run there).
 * conformance_each() calls @fn for every row whose id contains @id_part;
 * returns the number of rows seen, or -1 if the file is absent (skip).
 */
#ifndef STEPFS_TESTS_CONFORMANCE_H
#define STEPFS_TESTS_CONFORMANCE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *conformance_open(void)
{
	static const char *dirs[] = { "../shared/conformance", "../../shared/conformance" };
	char path[4096];
	const char *env = getenv("STEPFS_CONFORMANCE");
	FILE *f;
	size_t i;

	if (env) {
		snprintf(path, sizeof(path), "%s/asl-aws-recorded.jsonl", env);
		return fopen(path, "r");
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/asl-aws-recorded.jsonl", dirs[i]);
		f = fopen(path, "r");
		if (f)
			return f;
	}
	return NULL;
}

static int conformance_each(const char *id_part, void (*fn)(json_t *row, void *arg), void *arg)
{
	FILE *f = conformance_open();
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		json_error_t e;
		json_t *row = json_loads(line, 0, &e);
		const char *id = json_string_value(json_object_get(row, "id"));
		if (id && strstr(id, id_part)) {
			fn(row, arg);
			n++;
		}
		json_decref(row);
	}
	free(line);
	fclose(f);
	return n;
}

#endif
