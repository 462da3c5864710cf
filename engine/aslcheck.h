/*
 * Static validation of Amazon States Language definitions, in the spirit of
 * AWS's ValidateStateMachineDefinition: every problem found is reported with
 * a JSON pointer into the definition, an AWS-style code and a reason. The
 * checker never evaluates a definition; it only reads it.
 *
 * Pure functions: no I/O (except through opts->tasks->check), no globals;
 * safe to call from any thread on a definition that thread does not mutate.
 */
#ifndef STEPFS_ASLCHECK_H
#define STEPFS_ASLCHECK_H

#include <jansson.h>
#include <stddef.h>

struct asl_task_ops;

/*
 * Diagnostic codes: the error codes of AWS ValidateStateMachineDefinition.
 * AWS reports bad paths, bad intrinsic functions and unreachable states under
 * the codes below too (e.g. "MISSING_TRANSITION_TARGET: State "X" is not
 * reachable."), so several names share one code; the message tells them apart.
 */
#define ASLCHECK_SCHEMA "SCHEMA_VALIDATION_FAILED"
#define ASLCHECK_JSON "INVALID_JSON_DESCRIPTION"
#define ASLCHECK_PATH ASLCHECK_SCHEMA
#define ASLCHECK_INTRINSIC ASLCHECK_SCHEMA
#define ASLCHECK_MISSING_TARGET "MISSING_TRANSITION_TARGET"
#define ASLCHECK_UNREACHABLE ASLCHECK_MISSING_TARGET
#define ASLCHECK_DUPLICATE "DUPLICATE_STATE_NAME"
#define ASLCHECK_STATE_NAME "INVALID_STATE_NAME"
#define ASLCHECK_LABEL "INVALID_LABEL_NAME"
#define ASLCHECK_RESOURCE "INVALID_RESOURCE"
#define ASLCHECK_NO_TERMINAL "MISSING_END_STATE"
#define ASLCHECK_NESTED "TOO_DEEPLY_NESTED"

/* One problem. All strings are owned by the result. */
struct aslcheck_diag {
	char *pointer; /* JSON pointer (RFC 6901), e.g. "/States/Foo/Next"; "" = the root */
	char *code;    /* one of the ASLCHECK_* codes above */
	char *message; /* lower-case reason naming what is wrong */
};

/* Caller-owned; fill with ASLCHECK_RESULT_INIT, release with aslcheck_result_release(). */
struct aslcheck_result {
	struct aslcheck_diag *diags;
	size_t n;       /* number of entries in diags */
	size_t nerrors; /* how many are errors (currently all are) */
};

#define ASLCHECK_RESULT_INIT { NULL, 0, 0 }

struct aslcheck_opts {
	/* non-zero: ask tasks->check() whether each Task Resource is runnable */
	int check_resources;
	/* borrowed; may be NULL (then resources are not checked) */
	const struct asl_task_ops *tasks;
	/* directory of the definition file, passed to tasks->check(); may be NULL */
	const char *definition_dir;
};

#define ASLCHECK_OPTS_INIT { 0, NULL, NULL }

/*
 * Check the definition @def (borrowed; not modified). @opts may be NULL (no
 * resource checks). Appends every problem found to @ret (which must have been
 * initialised with ASLCHECK_RESULT_INIT, or hold the diagnostics of an earlier
 * call) and returns the number of errors found by this call, 0 if @def is a
 * valid state machine. Returns -ENOMEM if memory ran out (@ret then holds
 * what was found so far and must still be released).
 */
int aslcheck_definition(json_t *def, const struct aslcheck_opts *opts,
			struct aslcheck_result *ret);

/*
 * The same checks for one state on its own, as AWS TestState takes it: its
 * Next, Default and Catch targets are not resolved. Same returns.
 */
int aslcheck_state(json_t *state, const struct aslcheck_opts *opts,
		   struct aslcheck_result *ret);

/* Free everything @r holds and reset it to ASLCHECK_RESULT_INIT. NULL is a no-op. */
void aslcheck_result_release(struct aslcheck_result *r);

#endif
