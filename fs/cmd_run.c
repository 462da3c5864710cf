/*
 * stepfs run: run one execution of a state machine in the foreground on a
 * private loop and print its output, like `aws stepfunctions
 * start-sync-execution`. Exit status: 0 succeeded, 1 failed / timed out,
 * 2 bad usage or bad input (unreadable or malformed definition or input,
 * validator diagnostics).
 */
#include "fs/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/loop.h"
#include "engine/mockcfg.h"
#include "engine/asl_s3.h"
#include "engine/taskrun.h"
#include "fs/bucketmap.h"

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: stepfs run DEFINITION [--input JSON|@FILE] [--name NAME] [--express]\n"
		"                  [--wait-scale F] [--json] [--history] [--config FILE]\n"
		"                  [--mock-config FILE --test-case NAME [--state-machine NAME]]\n\n"
		"Run one execution of the state machine in DEFINITION (Amazon States Language,\n"
		"JSONPath) and print its output. On failure the error and cause go to stderr\n"
		"and the exit status is 1; a bad definition or input exits with 2.\n\n"
		"  --input JSON|@FILE  execution input (default {}); @FILE reads a file, @- stdin\n"
		"  --name NAME         execution name (default: a random UUID)\n"
		"  --express           run as an EXPRESS execution (default STANDARD)\n"
		"  --wait-scale F      multiply every Wait and Retry delay by F (0: no waiting)\n"
		"  --json              print one object shaped like start-sync-execution's answer\n"
		"  --history           also print the history events (as get-execution-history)\n"
		"  --config FILE       task-runner configuration (\"functions\" for Lambda ARNs,\n"
		"                      \"tasks\" limits); Task resources exec:PROG run local programs;\n"
		"                      its \"Buckets\" (name -> s3://bucket or a directory) are what\n"
		"                      a Distributed Map's ItemReader/ResultWriter reach by name\n"
		"  --mock-config FILE  answer Task states from an AWS Step Functions Local mock\n"
		"                      configuration (MockConfigFile.json): the states named in the\n"
		"                      test case return or throw their mocked responses, the others\n"
		"                      run their programs\n"
		"  --test-case NAME    the test case of --mock-config to use\n"
		"  --state-machine NAME  the state machine of --mock-config (default: its only\n"
		"                      one); also the execution's state machine name\n");
}

static json_t *load_input(const char *arg)
{
	json_error_t jerr;
	json_t *v;

	if (arg[0] == '@') {
		if (!strcmp(arg + 1, "-"))
			v = json_loadf(stdin, JSON_DECODE_ANY, &jerr);
		else
			v = json_load_file(arg + 1, JSON_DECODE_ANY, &jerr);
		if (!v && jerr.line < 0)
			fprintf(stderr, "stepfs run: --input: %s\n", jerr.text);
		else if (!v)
			fprintf(stderr, "stepfs run: --input '%s': %s at line %d, column %d\n",
				arg + 1, jerr.text, jerr.line, jerr.column);
		return v;
	}
	v = json_loads(arg, JSON_DECODE_ANY, &jerr);
	if (!v)
		fprintf(stderr, "stepfs run: --input: malformed JSON: %s at line %d, column %d\n",
			jerr.text, jerr.line, jerr.column);
	return v;
}

static json_t *sync_answer(struct asl_execution *x)
{
	struct timespec t0 = asl_execution_start_time(x), t1 = asl_execution_stop_time(x);
	enum asl_status st = asl_execution_status(x);
	char start[40], stop[40];
	json_t *o;
	char *in;
	long ms;

	asl_time_format(&t0, start, sizeof(start));
	asl_time_format(&t1, stop, sizeof(stop));
	ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	in = asl_json_dumps(asl_execution_input(x));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:b}}", "executionArn", asl_execution_arn(x),
		      "stateMachineArn", asl_machine_arn(asl_execution_machine(x)), "name",
		      asl_execution_name(x), "startDate", start, "stopDate", stop, "status",
		      asl_status_name(st), "input", in ? in : "{}", "inputDetails", "included", 1);
	free(in);
	if (!o)
		return NULL;
	if (st == ASL_SUCCEEDED) {
		char *out = asl_json_dumps(asl_execution_output(x));

		json_object_set_new(o, "output", json_string(out ? out : "null"));
		json_object_set_new(o, "outputDetails", json_pack("{s:b}", "included", 1));
		free(out);
	} else {
		if (asl_execution_error(x))
			json_object_set_new(o, "error", json_string(asl_execution_error(x)));
		if (asl_execution_cause(x))
			json_object_set_new(o, "cause", json_string(asl_execution_cause(x)));
	}
	json_object_set_new(o, "billingDetails",
			    json_pack("{s:i,s:I}", "billedMemoryUsedInMB", 64,
				      "billedDurationInMilliseconds", (json_int_t)(ms > 100 ? ms : 100)));
	return o;
}

static void print_json(const json_t *v)
{
	char *s = asl_json_dumps(v);

	if (s)
		printf("%s\n", s);
	free(s);
}

/*
 * --mock-config: wrap @ops (the task runner's) in a mock runner for the
 * test case; @ops then holds the wrapper's. Errors are printed. The
 * definition is read here too, so the mocked states' Resources pass the
 * validator's runnable check; if it cannot be read, loading it reports why.
 */
static int setup_mocks(const char *file, const char *sm_name, const char *test_case,
		       const char *def_path, struct asl_task_ops *ops, struct mockcfg **ret_cfg,
		       struct mockcfg_run **ret_run)
{
	char errmsg[1024], *warn = NULL, *line, *nl;
	struct asl_task_ops inner = *ops;
	json_t *def;
	int r;

	r = mockcfg_load(file, ret_cfg, errmsg, sizeof(errmsg));
	if (r == 0)
		r = mockcfg_run_new(*ret_cfg, sm_name, test_case, &inner, ret_run, errmsg,
				    sizeof(errmsg));
	if (r < 0) {
		fprintf(stderr, "stepfs run: --mock-config: %s\n",
			r == -ENOMEM ? "out of memory" : errmsg);
		return -1;
	}
	/* the wrapper copies @inner: it holds the task runner's functions and arg */
	def = json_load_file(def_path, JSON_DECODE_ANY, NULL);
	if (def && mockcfg_run_bind(*ret_run, def, &warn) < 0) {
		json_decref(def);
		fprintf(stderr, "stepfs run: out of memory\n");
		return -1;
	}
	json_decref(def);
	for (line = warn; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		fprintf(stderr, "stepfs run: warning: %s\n", line);
	}
	free(warn);
	mockcfg_run_ops(*ret_run, ops);
	return 0;
}

/* The "Buckets" of the --config file for ItemReader/ResultWriter; 0 (none: *ret NULL) or -1. */
static int run_buckets(const char *config, struct bucketmap **ret)
{
	json_error_t je;
	json_t *root = json_load_file(config, 0, &je), *b;
	char err[1024], *dir = NULL, *slash;
	int r = -1;

	*ret = NULL;
	if (!root) {
		fprintf(stderr, "stepfs run: --config '%s': line %d: %s\n", config, je.line,
			je.text);
		return -1;
	}
	b = json_object_get(root, "Buckets");
	if (!b) {
		json_decref(root);
		return 0;
	}
	dir = strdup(config);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = '\0';
	*ret = bucketmap_new((uint64_t)json_integer_value(json_object_get(
				     json_object_get(root, "Limits"), "ItemReaderMaxMiB")) << 20);
	if (!dir || !*ret) {
		fprintf(stderr, "stepfs run: out of memory\n");
	} else if (bucketmap_add_config(*ret, b, NULL, slash ? dir : ".", err, sizeof(err)) < 0) {
		fprintf(stderr, "stepfs run: --config '%s': %s\n", config, err);
	} else {
		r = 0;
	}
	if (r < 0) {
		bucketmap_free(*ret);
		*ret = NULL;
	}
	free(dir);
	json_decref(root);
	return r;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "express", no_argument, NULL, 'e' },
		{ "wait-scale", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "history", no_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "mock-config", required_argument, NULL, 'M' },
		{ "test-case", required_argument, NULL, 'T' },
		{ "state-machine", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	const char *input_arg = NULL, *config = NULL;
	const char *mock_file = NULL, *test_case = NULL, *sm_name = NULL;
	struct mockcfg *mcfg = NULL;
	struct mockcfg_run *mrun = NULL;
	struct taskrun_config *tcfg = NULL;
	struct taskrun *tr = NULL;
	struct asl_task_ops ops;
	char errmsg[1024];
	bool as_json = false, history = false;
	struct asl_machine *m = NULL;
	struct asl_engine *e = NULL;
	struct asl_execution *x = NULL;
	struct loop *loop = NULL;
	json_t *input = NULL;
	struct bucketmap *bm = NULL;
	struct asl_s3_ops s3ops;
	char *msg = NULL, *end;
	int c, rc = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "i:n:ew:jHc:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			input_arg = optarg;
			break;
		case 'n':
			xo.name = optarg;
			break;
		case 'e':
			xo.type = ASL_EXPRESS;
			break;
		case 'w':
			xo.wait_scale = strtod(optarg, &end);
			if (*end || end == optarg || !isfinite(xo.wait_scale) || xo.wait_scale < 0) {
				fprintf(stderr, "stepfs run: --wait-scale: '%s' is not a number >= 0\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			as_json = true;
			break;
		case 'H':
			history = true;
			break;
		case 'c':
			config = optarg;
			break;
		case 'M':
			mock_file = optarg;
			break;
		case 'T':
			test_case = optarg;
			break;
		case 'S':
			sm_name = optarg;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		run_usage(stderr);
		return 2;
	}
	if (!mock_file != !test_case || (sm_name && !mock_file)) {
		fprintf(stderr, "stepfs run: --mock-config and --test-case go together "
				"(--state-machine needs them)\n");
		return 2;
	}
	if (input_arg) {
		input = load_input(input_arg);
		if (!input)
			return 2;
	}
	if (config && taskrun_config_load(config, &tcfg, errmsg, sizeof(errmsg)) < 0) {
		fprintf(stderr, "stepfs run: --config: %s\n", errmsg);
		goto out;
	}
	tr = taskrun_new(tcfg);
	if (!tr) {
		fprintf(stderr, "stepfs run: out of memory\n");
		goto out;
	}
	taskrun_ops(tr, &ops);
	if (mock_file && setup_mocks(mock_file, sm_name, test_case, argv[optind], &ops, &mcfg,
				     &mrun) < 0)
		goto out;
	if (mrun)
		mo.name = mockcfg_run_machine(mrun);
	mo.tasks = &ops;
	if (asl_machine_load_file(argv[optind], &mo, &m, &msg) < 0) {
		fprintf(stderr, "stepfs run: %s\n", msg ? msg : "out of memory");
		goto out;
	}
	if (config && run_buckets(config, &bm) < 0)
		goto out;
	loop = loop_new();
	e = loop ? asl_engine_new(loop, &ops) : NULL;
	if (e && bm) {
		bucketmap_ops(bm, &s3ops);
		asl_engine_set_s3(e, &s3ops);
	}
	xo.record_history = history;
	c = e ? asl_execution_run_sync(e, m, input, &xo, &x) : -ENOMEM;
	if (c == -E2BIG) {
		fprintf(stderr, "stepfs run: --input: the input exceeds the payload limit of %d "
				"bytes\n", ASL_PAYLOAD_LIMIT);
		goto out;
	}
	if (c < 0) {
		fprintf(stderr, "stepfs run: out of memory\n");
		rc = 1;
		goto out;
	}
	if (as_json) {
		json_t *o = sync_answer(x);

		print_json(o);
		json_decref(o);
	} else if (asl_execution_status(x) == ASL_SUCCEEDED) {
		print_json(asl_execution_output(x));
	} else {
		fprintf(stderr, "stepfs run: execution %s\n",
			asl_status_name(asl_execution_status(x)));
		if (asl_execution_error(x))
			fprintf(stderr, "error: %s\n", asl_execution_error(x));
		if (asl_execution_cause(x))
			fprintf(stderr, "cause: %s\n", asl_execution_cause(x));
	}
	if (history) {
		json_t *h = asl_execution_history(x);

		print_json(h);
		json_decref(h);
	}
	rc = asl_execution_status(x) == ASL_SUCCEEDED ? 0 : 1;
out:
	asl_execution_free(x);
	bucketmap_close(bm);
	asl_engine_free(e);
	bucketmap_free(bm);
	mockcfg_run_free(mrun);
	mockcfg_free(mcfg);
	taskrun_free(tr);
	taskrun_config_free(tcfg);
	asl_machine_unref(m);
	loop_free(loop);
	json_decref(input);
	free(msg);
	return rc;
}
