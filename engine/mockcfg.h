/*
 * mockcfg: mocked Task responses in the format of AWS Step Functions Local's
 * mock configuration file (MockConfigFile.json), so a workflow can be tested
 * offline with the same file teams use with AWS's tool:
 *
 *   { "StateMachines": { "SM": { "TestCases": { "Happy": { "StateA": "RespA" } } } },
 *     "MockedResponses": { "RespA": { "0":   { "Throw": { "Error": "E", "Cause": "C" } },
 *                                     "1-2": { "Return": { "any": "json" } } } } }
 *
 * A struct mockcfg is the parsed, validated file (immutable, shareable). A
 * struct mockcfg_run picks one state machine and test case of it and wraps
 * another struct asl_task_ops (normally the task runner): a Task state named
 * in the test case gets its mocked response (Return: the state's result;
 * Throw: a task failure with that error and cause, so Retry and Catch apply
 * as usual) instead of running anything; every other Task state goes to the
 * wrapped ops. The engine emits the same history events as for a real
 * invocation. Each invocation of a mocked state takes the next invocation
 * index ("0", "1", ... or a range "1-3" covering 1, 2 and 3), counted per
 * execution ARN and state name: a retry is a new invocation, and the
 * iterations of a Map (inline or DISTRIBUTED, which here run inside the
 * parent execution) share the count. An index no key covers fails the
 * execution with States.Runtime, as AWS documents ("you must specify a mocked
 * response for every invocation").
 *
 * Thread-safety: a struct mockcfg may be shared; a struct mockcfg_run is
 * used on one loop thread, like the ops it wraps.
 */
#ifndef STEPFS_MOCKCFG_H
#define STEPFS_MOCKCFG_H

#include <jansson.h>
#include <stddef.h>

struct asl_task_ops;
struct mockcfg;
struct mockcfg_run;

/*
 * Validate @root (borrowed; a reference is kept) as a mock configuration.
 * @file names the source in messages (may be NULL). Unknown keys are errors.
 * Returns 0 and a new config in *ret, -EINVAL with a message
 * "'FILE': /JSON/pointer: problem" in @errmsg, or -ENOMEM.
 */
int mockcfg_parse(json_t *root, const char *file, struct mockcfg **ret, char *errmsg,
		  size_t errlen);

/* Read @path and parse it as above; unreadable or malformed JSON is -EINVAL too. */
int mockcfg_load(const char *path, struct mockcfg **ret, char *errmsg, size_t errlen);

/* NULL is a no-op. */
void mockcfg_free(struct mockcfg *cfg);

/*
 * A runner for test case @test_case of state machine @state_machine (NULL:
 * the file's only state machine). @cfg and @inner are borrowed and must
 * outlive the runner; @inner may be NULL (then an unmocked Task fails with
 * States.TaskFailed "no task runner"). Returns 0, -EINVAL with a message
 * naming the file and what is missing (and what exists) in @errmsg, or
 * -ENOMEM.
 */
int mockcfg_run_new(const struct mockcfg *cfg, const char *state_machine,
		    const char *test_case, const struct asl_task_ops *inner,
		    struct mockcfg_run **ret, char *errmsg, size_t errlen);

/*
 * Tell the runner the definition it will run (@def borrowed, not kept).
 * check() then accepts the Resource of a Task state the test case mocks
 * (it never runs) unless an unmocked state uses the same Resource.
 * Returns 0, or -ENOMEM. If @ret_warn is non-NULL it receives NULL or a
 * malloc'd text, one line per test-case entry that names no Task state of
 * @def (a typo would silently run the real program); the caller frees it.
 */
int mockcfg_run_bind(struct mockcfg_run *r, json_t *def, char **ret_warn);

/* The state machine name the runner uses (borrowed, valid while @r lives). */
const char *mockcfg_run_machine(const struct mockcfg_run *r);

/* Fill @ops with the runner's start/cancel/check and @r as arg. */
void mockcfg_run_ops(struct mockcfg_run *r, struct asl_task_ops *ops);

/*
 * Free the runner. Mocked tasks still pending are dropped without done();
 * tasks of the wrapped ops are the wrapped runner's business. NULL is a no-op.
 */
void mockcfg_run_free(struct mockcfg_run *r);

#endif
