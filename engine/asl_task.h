/*
 * struct asl_task_ops: how the ASL engine runs a Task state without knowing
 * what runs it. The host (stepfs run, the mount daemon, a unit test) fills the
 * table; the engine calls start() and waits for done() on its loop. The task
 * runner (engine/taskrun.c) is the real implementation: local executables,
 * Lambda ARNs mapped to local programs, long-lived workers.
 *
 * Threading: start() and cancel() are called on the loop thread; done() must
 * be called on the same loop thread, exactly once per successful start(),
 * never from inside start() itself (post or use a timer), and never after
 * cancel().
 */
#ifndef STEPFS_ASL_TASK_H
#define STEPFS_ASL_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/asl_err.h"

struct loop;
struct asl_task;

struct asl_task_req {
	const char *resource;        /* the Resource URI as written in the definition */
	json_t *input;               /* borrowed: the effective input (after Parameters) */
	const char *state_name;
	const char *state_machine;   /* name */
	const char *execution_arn;
	const char *execution_name;
	const char *definition_dir;  /* directory of the definition file, for relative paths; may be NULL */
	int retry_count;             /* $$.State.RetryCount */
	double timeout_s;            /* TimeoutSeconds(Path) resolved; 0 = none */
	double heartbeat_s;          /* HeartbeatSeconds(Path) resolved; 0 = none */
	json_t *credentials;         /* borrowed: evaluated Credentials or NULL */
	const char *task_token;      /* $$.Task.Token for .waitForTaskToken, else NULL */
	/*
	 * With a task_token: a runner whose result is the callback's answer
	 * itself (a mocked response) sets *callback_done = true in start();
	 * otherwise a successful done() only means "submitted" and the state
	 * waits for the token. NULL without a task_token.
	 */
	bool *callback_done;
	unsigned chain_depth;        /* loop guard: how many executions caused this one */
};

/*
 * Called once when the task ends. On success @error is NULL and @output is a
 * new reference the engine takes over (stolen). On failure @output is NULL and
 * @error/@cause name the failure (a program's errorType, States.TaskFailed,
 * States.Timeout, States.HeartbeatTimeout, States.DataLimitExceeded ...).
 * @stderr_tail (may be NULL) is what the program wrote to stderr, for logs.
 */
typedef void (*asl_task_done_fn)(void *done_arg, json_t *output, const char *error,
				 const char *cause);

struct asl_task_ops {
	/*
	 * Start a task. Returns 0 and a handle in *ret, or -1 with @err filled if
	 * it could not start at all (then done() is never called).
	 */
	int (*start)(void *arg, struct loop *loop, const struct asl_task_req *req,
		     asl_task_done_fn done, void *done_arg, struct asl_task **ret,
		     struct asl_err *err);
	/* Abort a running task (its process group is killed); done() is not called. */
	void (*cancel)(void *arg, struct asl_task *t);
	/*
	 * Optional static check for `stepfs validate`: 0 if @resource resolves to
	 * something runnable, else -1 with the reason in @msg. May be NULL.
	 */
	int (*check)(void *arg, const char *resource, const char *definition_dir, char *msg,
		     size_t msglen);
	void *arg;
};

#endif
