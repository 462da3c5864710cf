/*
 * stepfs serve CONFIG: run what a configuration file describes, as systemd's
 * stepfs@NAME.service does with /etc/stepfs/NAME.json. The file's "Source"
 * member says what to run; everything else is the events configuration
 * (engine/config.h) that the mount or the watcher loads itself:
 *
 *   "Source": {"Mount": {"Bucket": "s3://name/prefix" | "/srv/dir",
 *                        "MountPoint": "/mnt/x",
 *                        "Options": "allow_other,endpoint=https://..."}}
 *   "Source": {"Watch": {"Directory": "/srv/incoming", "QuietMs": 200,
 *                        "Ignore": "REGEX", "Upload": "s3://...",
 *                        "Endpoint": "URL", "Region": "R", "PathStyle": true,
 *                        "Metrics": "127.0.0.1:9464"}}
 *
 * It builds the argv of `stepfs mount ... -f -o config=FILE` or `stepfs watch
 * ... --config FILE` and runs that command in this process, in the
 * foreground, so systemd supervises it directly.
 */
#include "fs/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

#define SERVE_MAX_ARGS 32

struct argv_builder {
	char *v[SERVE_MAX_ARGS + 1];
	int n;
};

static void arg(struct argv_builder *a, const char *s)
{
	if (a->n < SERVE_MAX_ARGS)
		a->v[a->n++] = strdup(s);
}

static void serve_usage(FILE *f)
{
	fprintf(f, "usage: stepfs serve CONFIG\n\n"
		   "Mount or watch what the \"Source\" member of CONFIG describes, in the\n"
		   "foreground, with CONFIG's rules and state machines (systemd's\n"
		   "stepfs@NAME.service runs `stepfs serve /etc/stepfs/NAME.json`).\n\n"
		   "  \"Source\": {\"Mount\": {\"Bucket\": \"s3://name/prefix\", \"MountPoint\": \"/mnt/x\",\n"
		   "                       \"Options\": \"allow_other,endpoint=URL\"}}\n"
		   "  \"Source\": {\"Watch\": {\"Directory\": \"/srv/incoming\", \"QuietMs\": 200,\n"
		   "                       \"Upload\": \"s3://...\", \"Metrics\": \"127.0.0.1:9464\"}}\n");
}

static const char *str_member(json_t *o, const char *k, const char *file, const char *ptr,
			      int required, int *bad)
{
	json_t *v = json_object_get(o, k);

	if (!v && !required)
		return NULL;
	if (!json_is_string(v) || !*json_string_value(v)) {
		fprintf(stderr, "stepfs serve: '%s': %s/%s: expected a non-empty string\n", file, ptr,
			k);
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

int cmd_serve(int argc, char **argv)
{
	struct argv_builder a = { .n = 0 };
	json_t *root = NULL, *src, *m, *w;
	const char *file;
	json_error_t je;
	int rc = 2, bad = 0, i;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		serve_usage(stdout);
		return 0;
	}
	if (argc != 2) {
		serve_usage(stderr);
		return 2;
	}
	file = argv[1];
	root = json_load_file(file, 0, &je);
	if (!root) {
		fprintf(stderr, "stepfs serve: %s:%d:%d: %s\n", file, je.line, je.column, je.text);
		return 2;
	}
	src = json_object_get(root, "Source");
	m = json_object_get(src, "Mount");
	w = json_object_get(src, "Watch");
	if (!json_is_object(src) || (!!m + !!w) != 1 || (m && !json_is_object(m)) ||
	    (w && !json_is_object(w))) {
		fprintf(stderr, "stepfs serve: '%s': /Source: expected {\"Mount\": {...}} or "
				"{\"Watch\": {...}}\n", file);
		goto out;
	}
	if (m) {
		const char *bucket = str_member(m, "Bucket", file, "/Source/Mount", 1, &bad);
		const char *mnt = str_member(m, "MountPoint", file, "/Source/Mount", 1, &bad);
		const char *opts = str_member(m, "Options", file, "/Source/Mount", 0, &bad);
		struct buf o = BUF_INIT;

		if (bad)
			goto out;
		buf_printf(&o, "config=%s%s%s", file, opts ? "," : "", opts ? opts : "");
		arg(&a, "mount");
		arg(&a, bucket);
		arg(&a, mnt);
		arg(&a, "-f");
		arg(&a, "-o");
		arg(&a, o.data);
		buf_release(&o);
		rc = cmd_mount(a.n, a.v);
	} else {
		static const struct {
			const char *key, *flag;
		} str_opts[] = {
			{ "Ignore", "--ignore" }, { "Upload", "--upload" },
			{ "Endpoint", "--endpoint" }, { "Region", "--region" },
			{ "Metrics", "--metrics" }, { "Bucket", "--bucket" },
		};
		const char *dir = str_member(w, "Directory", file, "/Source/Watch", 1, &bad);
		json_t *q = json_object_get(w, "QuietMs");
		size_t k;

		if (bad)
			goto out;
		arg(&a, "watch");
		arg(&a, dir);
		arg(&a, "--config");
		arg(&a, file);
		for (k = 0; k < sizeof(str_opts) / sizeof(str_opts[0]); k++) {
			const char *v = str_member(w, str_opts[k].key, file, "/Source/Watch", 0, &bad);

			if (v) {
				arg(&a, str_opts[k].flag);
				arg(&a, v);
			}
		}
		if (q) {
			char n[32];

			if (!json_is_integer(q) || json_integer_value(q) < 0) {
				fprintf(stderr, "stepfs serve: '%s': /Source/Watch/QuietMs: expected a "
						"non-negative integer\n", file);
				goto out;
			}
			snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(q));
			arg(&a, "--quiet-ms");
			arg(&a, n);
		}
		if (json_is_true(json_object_get(w, "PathStyle")))
			arg(&a, "--path-style");
		if (bad)
			goto out;
		rc = cmd_watch(a.n, a.v);
	}
out:
	for (i = 0; i < a.n; i++)
		free(a.v[i]);
	json_decref(root);
	return rc;
}
