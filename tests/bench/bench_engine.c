/*
 * bench_engine: the stepfs side of tests/bench/engine.sh. Runs one workload
 * of tests/bench/workloads.json on the engine (engine/asl.h) the way
 * engine_alsf.mjs runs it on aws-local-stepfunctions: one warm-up run, then
 * runs until MIN_SECONDS have passed, then one JSON line with the rate.
 *
 * Executions are EXPRESS, unnamed (the engine generates each name), in
 * memory, without recorded history (the engine's fast path), with the default 256 KiB payload limit and no history cap
 * (AWS's 25,000-event cap would end the loop and Map workloads early, and
 * aws-local-stepfunctions has none).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/asl.h"
#include "engine/loop.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct bench {
	const char *workload;
	long n;
	struct asl_engine *engine;
	struct asl_machine *machine;
	struct asl_exec_opts xo;
	json_t *map_input; /* built once, like the items array of the node side */
};

/* one run of the workload; returns the units of work done, or -1 on a wrong result */
static long run_once(struct bench *b)
{
	struct asl_execution *x = NULL;
	json_t *in, *out;
	long k, done = -1;

	if (strcmp(b->workload, "loop") == 0) {
		in = json_pack("{s:i,s:I}", "i", 0, "n", (json_int_t)b->n);
		if (!in || asl_execution_run_sync(b->engine, b->machine, in, &b->xo, &x) < 0)
			goto out_loop;
		out = asl_execution_output(x);
		if (asl_execution_status(x) == ASL_SUCCEEDED &&
		    json_integer_value(json_object_get(out, "i")) == b->n)
			done = 2 * b->n + 1;
		else
			fprintf(stderr, "bench_engine: loop ended %s: %s %s\n",
				asl_status_name(asl_execution_status(x)),
				asl_execution_error(x) ? asl_execution_error(x) : "",
				asl_execution_cause(x) ? asl_execution_cause(x) : "");
out_loop:
		asl_execution_free(x);
		json_decref(in);
		return done;
	}
	if (strcmp(b->workload, "map") == 0) {
		if (asl_execution_run_sync(b->engine, b->machine, b->map_input, &b->xo, &x) < 0)
			return -1;
		out = asl_execution_output(x);
		if (asl_execution_status(x) == ASL_SUCCEEDED && json_array_size(out) == (size_t)b->n &&
		    json_integer_value(json_array_get(out, (size_t)b->n - 1)) == b->n - 1)
			done = b->n;
		else
			fprintf(stderr, "bench_engine: map ended %s: %s %s\n",
				asl_status_name(asl_execution_status(x)),
				asl_execution_error(x) ? asl_execution_error(x) : "",
				asl_execution_cause(x) ? asl_execution_cause(x) : "");
		asl_execution_free(x);
		return done;
	}
	for (k = 0; k < b->n; k++) {
		in = json_pack("{s:I}", "k", (json_int_t)k);
		x = NULL;
		if (!in || asl_execution_run_sync(b->engine, b->machine, in, &b->xo, &x) < 0 ||
		    asl_execution_status(x) != ASL_SUCCEEDED ||
		    json_integer_value(json_object_get(asl_execution_output(x), "k")) != k) {
			fprintf(stderr, "bench_engine: execution %ld failed\n", k);
			asl_execution_free(x);
			json_decref(in);
			return -1;
		}
		asl_execution_free(x);
		json_decref(in);
	}
	return b->n;
}

int main(int argc, char **argv)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct bench b = { 0 };
	struct loop *loop = NULL;
	json_t *all = NULL, *def;
	json_error_t jerr;
	char *msg = NULL;
	double min_s, t0, secs;
	long count = 0, r;
	int rc = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_engine WORKLOADS_JSON loop|map|exec N MIN_SECONDS\n");
		return 2;
	}
	b.workload = argv[2];
	b.n = strtol(argv[3], NULL, 10);
	min_s = strtod(argv[4], NULL);
	all = json_load_file(argv[1], 0, &jerr);
	if (!all) {
		fprintf(stderr, "bench_engine: %s:%d:%d: %s\n", argv[1], jerr.line, jerr.column,
			jerr.text);
		return 1;
	}
	def = json_object_get(json_object_get(all, b.workload), "definition");
	if (!def || b.n < 1) {
		fprintf(stderr, "bench_engine: unknown workload '%s' or bad N\n", b.workload);
		goto out;
	}
	mo.name = b.workload;
	if (asl_machine_new(def, &mo, &b.machine, &msg) < 0) {
		fprintf(stderr, "bench_engine: %s\n", msg ? msg : "cannot load the definition");
		goto out;
	}
	loop = loop_new();
	b.engine = loop ? asl_engine_new(loop, NULL) : NULL;
	if (!b.engine) {
		fprintf(stderr, "bench_engine: out of memory\n");
		goto out;
	}
	xo.type = ASL_EXPRESS;
	xo.wait_scale = 0;
	xo.history_cap = 0;
	xo.record_history = false;
	/* no name: the engine names each execution (a UUID), as a real start does */
	b.xo = xo;
	if (strcmp(b.workload, "map") == 0) {
		json_t *items = json_array();
		long i;

		for (i = 0; items && i < b.n; i++)
			json_array_append_new(items, json_integer(i));
		b.map_input = json_pack("{s:o}", "items", items);
		if (!b.map_input)
			goto out;
	}

	if (run_once(&b) < 0)
		goto out;
	t0 = now_s();
	do {
		r = run_once(&b);
		if (r < 0)
			goto out;
		count += r;
		secs = now_s() - t0;
	} while (secs < min_s);
	printf("{\"side\":\"stepfs\",\"workload\":\"%s\",\"count\":%ld,\"seconds\":%.6f,"
	       "\"rate\":%.1f}\n", b.workload, count, secs, (double)count / secs);
	rc = 0;
out:
	json_decref(b.map_input);
	asl_engine_free(b.engine);
	loop_free(loop);
	asl_machine_unref(b.machine);
	free(msg);
	json_decref(all);
	return rc;
}
