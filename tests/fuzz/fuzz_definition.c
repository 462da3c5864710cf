/*
 * libFuzzer target: an ASL definition as bytes. Parses it as JSON, runs the
 * static validator on it (as a whole machine and as a single state), and, if
 * it is valid, compiles it into a machine and runs one execution with no
 * task runner, no waiting and a small history cap so that loops end.
 * Anything but a clean return (crash, leak, sanitizer report, hang) is a
 * finding. Built and run by `make fuzz`.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/asl.h"
#include "engine/aslcheck.h"
#include "engine/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_machine(json_t *def)
{
	struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
	struct asl_exec_opts xo = ASL_EXEC_OPTS_INIT;
	struct asl_machine *m = NULL;
	struct asl_execution *x = NULL;
	struct asl_engine *e = NULL;
	struct loop *loop = NULL;
	char *msg = NULL;

	if (asl_machine_new(def, &mo, &m, &msg) < 0)
		goto out;
	loop = loop_new();
	e = loop ? asl_engine_new(loop, NULL) : NULL;
	if (!e)
		goto out;
	xo.type = ASL_EXPRESS;
	xo.wait_scale = 0;
	xo.history_cap = 2000;
	xo.payload_limit = 65536;
	xo.name = "fuzz";
	if (asl_execution_run_sync(e, m, NULL, &xo, &x) == 0)
		(void)asl_execution_status(x);
out:
	asl_execution_free(x);
	asl_engine_free(e);
	loop_free(loop);
	asl_machine_unref(m);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aslcheck_result res = ASLCHECK_RESULT_INIT;
	json_error_t jerr;
	json_t *def;
	int n;

	def = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!def)
		return 0;
	n = aslcheck_definition(def, NULL, &res);
	aslcheck_result_release(&res);
	(void)aslcheck_state(def, NULL, &res);
	aslcheck_result_release(&res);
	if (n == 0)
		run_machine(def);
	json_decref(def);
	return 0;
}
