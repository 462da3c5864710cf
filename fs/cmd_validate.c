/*
 * stepfs validate: static checks of ASL definition files, reported the way
 * compilers do (FILE: /json/pointer: CODE: message, or FILE:LINE:COLUMN for
 * JSON syntax errors) or, with --json, in the shape of AWS
 * ValidateStateMachineDefinition's answer. Reads files only; runs nothing.
 */
#include "fs/cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl_task.h"
#include "engine/aslcheck.h"
#include "engine/buf.h"
#include "engine/taskrun.h"

/* AWS's limit on the size of a definition */
#define DEFINITION_MAX ((size_t)1 << 20)

struct vopts {
	bool json;
	bool state;   /* check one state, as TestState takes it */
	bool quiet;   /* print nothing for valid files */
	bool several; /* more than one file: --json output names each */
	/* --resources / --config: Task resources must resolve to runnable programs */
	const struct asl_task_ops *tasks;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: stepfs validate [--json] [--state] [--quiet] [--resources]\n"
		"                       [--config FILE] DEFINITION...\n\n"
		"Check Amazon States Language definitions without running them: every\n"
		"problem is printed as FILE: /json/pointer: CODE: message (JSON syntax\n"
		"errors as FILE:LINE:COLUMN: message), valid files as FILE: ok. The codes\n"
		"are those of AWS ValidateStateMachineDefinition. '-' reads standard input.\n\n"
		"  --json    print {\"result\":\"OK\"|\"FAIL\",\"diagnostics\":[...]} per file, as\n"
		"            aws stepfunctions validate-state-machine-definition does\n"
		"  --state   each file holds one state (as for TestState), not a machine\n"
		"  --quiet   print nothing for valid files\n"
		"  --resources  also check that every Task Resource runs: exec: programs\n"
		"            exist and are executable, Lambda ARNs are in the functions table\n"
		"  --config FILE  the task runner's configuration (\"functions\", \"tasks\");\n"
		"            implies --resources\n\n"
		"Exit status: 0 if every definition is valid, 1 if any is not, 2 on usage\n"
		"errors or unreadable files.\n");
}

/* read all of @path ('-' = stdin) into @b; -errno or -E2BIG past the cap */
static int read_all(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
	char chunk[65536];
	size_t n;
	int r = 0;

	if (!f)
		return -errno;
	errno = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		r = buf_add(b, chunk, n);
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = errno ? -errno : -EIO;
	if (f != stdin)
		fclose(f);
	return r;
}

static int print_json(const char *path, const struct vopts *o, const struct aslcheck_result *res,
		      const char *extra_code, const char *extra_msg, const char *extra_loc)
{
	json_t *out = json_object(), *diags = json_array();
	size_t i;
	char *s;

	if (!out || !diags) {
		json_decref(out);
		json_decref(diags);
		return -ENOMEM;
	}
	if (o->several)
		json_object_set_new(out, "file", json_string(path));
	if (extra_code) {
		json_t *d = json_pack("{s:s,s:s,s:s}", "severity", "ERROR", "code", extra_code,
				      "message", extra_msg);

		if (d && extra_loc)
			json_object_set_new(d, "location", json_string(extra_loc));
		json_array_append_new(diags, d);
	}
	for (i = 0; res && i < res->n; i++)
		json_array_append_new(diags,
				      json_pack("{s:s,s:s,s:s,s:s}", "severity", "ERROR", "code",
						res->diags[i].code, "message",
						res->diags[i].message, "location",
						res->diags[i].pointer[0] ? res->diags[i].pointer :
									   "/"));
	json_object_set_new(out, "result",
			    json_string(json_array_size(diags) ? "FAIL" : "OK"));
	json_object_set_new(out, "diagnostics", diags);
	s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(out);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

/* 0 valid, 1 invalid, 2 unreadable */
static int validate_one(const char *path, const struct vopts *o)
{
	struct aslcheck_result res = ASLCHECK_RESULT_INIT;
	struct buf text = BUF_INIT_CAP(DEFINITION_MAX + 1);
	json_error_t jerr;
	json_t *def = NULL;
	char msg[512];
	size_t i;
	int r;

	r = read_all(path, &text);
	if (r == -E2BIG) {
		snprintf(msg, sizeof(msg), "the definition is larger than %zu bytes, AWS's limit",
			 DEFINITION_MAX);
		if (o->json)
			print_json(path, o, NULL, ASLCHECK_SCHEMA, msg, "/");
		else
			printf("%s: /: %s: %s\n", path, ASLCHECK_SCHEMA, msg);
		r = 1;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "stepfs validate: cannot read '%s': %s\n", path, strerror(-r));
		r = 2;
		goto out;
	}
	if (text.len == 0 || strspn(text.data, " \t\r\n") == text.len) {
		if (o->json)
			print_json(path, o, NULL, "MISSING_DESCRIPTION", "the definition is empty",
				   NULL);
		else
			printf("%s: /: MISSING_DESCRIPTION: the definition is empty\n", path);
		r = 1;
		goto out;
	}
	def = json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!def) {
		if (o->json) {
			snprintf(msg, sizeof(msg), "line %d, column %d: %s", jerr.line,
				 jerr.column, jerr.text);
			print_json(path, o, NULL, ASLCHECK_JSON, msg, NULL);
		} else {
			printf("%s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
		}
		r = 1;
		goto out;
	}
	{
		struct aslcheck_opts co = ASLCHECK_OPTS_INIT;
		char dir[4096], *slash;

		snprintf(dir, sizeof(dir), "%s", strcmp(path, "-") ? path : ".");
		slash = strrchr(dir, '/');
		if (!strcmp(path, "-") || !slash)
			snprintf(dir, sizeof(dir), ".");
		else
			*(slash == dir ? slash + 1 : slash) = '\0';
		co.check_resources = o->tasks != NULL;
		co.tasks = o->tasks;
		co.definition_dir = dir;
		r = o->state ? aslcheck_state(def, &co, &res) : aslcheck_definition(def, &co, &res);
	}
	if (r < 0) {
		fprintf(stderr, "stepfs validate: '%s': out of memory\n", path);
		r = 2;
		goto out;
	}
	if (o->json) {
		print_json(path, o, &res, NULL, NULL, NULL);
	} else {
		for (i = 0; i < res.n; i++)
			printf("%s: %s: %s: %s\n", path,
			       res.diags[i].pointer[0] ? res.diags[i].pointer : "/",
			       res.diags[i].code, res.diags[i].message);
		if (res.n == 0 && !o->quiet)
			printf("%s: ok\n", path);
	}
	r = res.n ? 1 : 0;
out:
	aslcheck_result_release(&res);
	json_decref(def);
	buf_release(&text);
	return r;
}

int cmd_validate(int argc, char **argv)
{
	struct vopts o = { 0 };
	int i, nfiles = 0, worst = 0;
	bool dashdash = false, resources = false;
	const char *config = NULL;
	struct taskrun_config *tcfg = NULL;
	struct taskrun *tr = NULL;
	struct asl_task_ops ops;
	char errmsg[1024];

	/* options may come anywhere before "--"; the other arguments are files */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			nfiles += argc - i - 1;
			break;
		}
		if (argv[i][0] != '-' || argv[i][1] == '\0') {
			nfiles++;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			o.json = true;
		} else if (strcmp(argv[i], "--state") == 0) {
			o.state = true;
		} else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
			o.quiet = true;
		} else if (strcmp(argv[i], "--resources") == 0) {
			resources = true;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
			resources = true;
		} else {
			fprintf(stderr, "stepfs validate: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (nfiles == 0) {
		usage(stderr);
		return 2;
	}
	o.several = nfiles > 1;
	if (config && taskrun_config_load(config, &tcfg, errmsg, sizeof(errmsg)) < 0) {
		fprintf(stderr, "stepfs validate: --config: %s\n", errmsg);
		return 2;
	}
	if (resources) {
		tr = taskrun_new(tcfg);
		if (!tr) {
			taskrun_config_free(tcfg);
			fprintf(stderr, "stepfs validate: out of memory\n");
			return 2;
		}
		taskrun_ops(tr, &ops);
		o.tasks = &ops;
	}
	for (i = 1; i < argc; i++) {
		int r;

		if (!dashdash && strcmp(argv[i], "--config") == 0) {
			i++; /* its argument is not a definition */
			continue;
		}
		if (!dashdash && strcmp(argv[i], "--") == 0)
			dashdash = true;
		else if (dashdash || argv[i][0] != '-' || argv[i][1] == '\0') {
			r = validate_one(argv[i], &o);
			if (r > worst)
				worst = r;
		}
	}
	fflush(stdout);
	taskrun_free(tr);
	taskrun_config_free(tcfg);
	return worst;
}
