/*
 * The Amazon States Language interpreter (JSONPath and JSONata query
 * languages, per machine or per state; JSONata expressions are compiled once
 * at load, engine/jsonata.h, and fail at run time as
 * States.QueryEvaluationError with an EvaluationFailed event): load a
 * definition once into an immutable, shareable struct asl_machine, then run
 * any number of executions of it on one struct asl_engine, which is bound to
 * one struct loop (engine/loop.h) and one struct asl_task_ops
 * (engine/asl_task.h).
 *
 * Model. Everything is single-threaded and event-driven on the engine's
 * loop: no thread per execution. Wait states and Retry delays are loop
 * timers (scaled by asl_exec_opts.wait_scale; 0 = no waiting), Task states
 * complete through asl_task_ops callbacks, Map iterations and Parallel
 * branches are child activities on the same loop. States that need no
 * waiting run back to back without returning to the loop, so an execution
 * that never waits completes inside asl_execution_start().
 *
 * History. With opts.record_history or opts.on_event, the engine builds
 * history events exactly as AWS's GetExecutionHistory "events" array shows
 * them ({timestamp, type, id, previousEventId, <type>EventDetails}); state
 * inputs and outputs are JSON text strings, as AWS gives them. With neither,
 * no event objects are built at all (the fast path); event ids are still
 * counted, so $$-visible behaviour and the history cap stay the same.
 * Following AWS's recorded histories: the first state's Entered event has
 * previousEventId 0; MapIteration{Succeeded,Failed} and MapStateSucceeded
 * point at the last event of the iteration without becoming the "previous"
 * event themselves; a Parallel state that succeeds uses one id for which no
 * event is emitted (AWS records no ParallelStateSucceeded but skips its id);
 * a retried Map/Parallel emits {Map,Parallel}StateStarted again and its
 * *StateFailed only when it is not retried; a DISTRIBUTED Map emits
 * MapRunStarted/MapRunSucceeded|MapRunFailed and keeps its iterations' events
 * out of the parent history (they belong to child executions).
 *
 * Resume (for Standard executions journaled by the caller through on_event):
 * every piece of execution state is derivable from the event list: the
 * current state is the last {X}StateEntered at top level without its
 * {X}StateExited, its input is that event's input; variables are the union of
 * the assignedVariables of the top-level {X}StateExited events in order; the
 * next event id is last id + 1; the start time and input are in
 * ExecutionStarted. Map/Parallel states in flight are re-entered from their
 * MapStateEntered/ParallelStateEntered (their iterations rerun), and a Task
 * in flight is rescheduled (at-least-once for tasks, as AWS redrive does).
 * A Choice whose Exited is the last event, or a state that failed and was
 * caught, is re-run from its entry (its target is not recorded). Retry
 * counts restart at 0; a Wait waits only for what is left. Executions nest
 * nothing else: asl_execution_resume() implements exactly this.
 *
 * Threading: every function here must be called on the loop's thread (or
 * before the loop runs). A struct asl_machine is immutable after load and may
 * be shared by reference between engines on different threads.
 */
#ifndef STEPFS_ASL_H
#define STEPFS_ASL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "engine/asl_err.h"

struct loop;
struct asl_task_ops;
struct asl_machine;
struct asl_engine;
struct asl_execution;

/* ---------------------------------------------------------------- machines */

struct asl_machine_opts {
	/* state machine name for $$.StateMachine.Name and ARNs; NULL: "StateMachine" */
	const char *name;
	/* directory of the definition file, handed to tasks (relative paths); may be NULL */
	const char *definition_dir;
	/* run the static validator (engine/aslcheck.h) first; default on */
	bool validate;
	/* borrowed; passed to the validator for resource checks; may be NULL */
	const struct asl_task_ops *tasks;
};

#define ASL_MACHINE_OPTS_INIT { NULL, NULL, true, NULL }

/*
 * Compile the definition @def (borrowed; the machine keeps its own reference
 * to the parts it needs and never mutates them) into a machine. On success
 * returns 0 and *ret (refcount 1). On failure returns -1 and, if @ret_msg is
 * non-NULL, a malloc'd message the caller frees: the validator's diagnostics,
 * one per line "<pointer>: <CODE>: <reason>", or a compile error. -ENOMEM on
 * out-of-memory.
 */
int asl_machine_new(json_t *def, const struct asl_machine_opts *opts, struct asl_machine **ret,
		    char **ret_msg);
/*
 * Read and compile a definition file. Malformed JSON yields a message naming
 * the file, line and column. opts->definition_dir defaults to the file's
 * directory and opts->name to the file's base name without extensions.
 */
int asl_machine_load_file(const char *path, const struct asl_machine_opts *opts,
			  struct asl_machine **ret, char **ret_msg);
/* Reference counting; asl_machine_unref(NULL) is a no-op. */
struct asl_machine *asl_machine_ref(struct asl_machine *m);
void asl_machine_unref(struct asl_machine *m);
/* Borrowed, valid while @m lives. */
const char *asl_machine_name(const struct asl_machine *m);
const char *asl_machine_arn(const struct asl_machine *m);
json_t *asl_machine_definition(const struct asl_machine *m);

/* ----------------------------------------------------------------- engines */

/*
 * New engine on @loop (borrowed; must outlive the engine) running tasks with
 * @tasks (copied; tasks->arg must outlive the engine; NULL: every Task fails
 * with States.TaskFailed "no task runner"). NULL on out-of-memory.
 */
struct asl_engine *asl_engine_new(struct loop *loop, const struct asl_task_ops *tasks);
/*
 * Free the engine. Executions still running are stopped without callbacks
 * and their handles become invalid (free them first if you hold them).
 * NULL is a no-op.
 */
void asl_engine_free(struct asl_engine *e);
struct loop *asl_engine_loop(struct asl_engine *e);

/*
 * Task tokens (the .waitForTaskToken callback pattern). A Task whose Resource
 * ends in ASL_CALLBACK_SUFFIX runs its program (the Resource without the
 * suffix) with a fresh token ($$.Task.Token, 192 random bits, base64url); the
 * program's success only records TaskSubmitted, and the state waits for
 * asl_engine_task_callback(), TimeoutSeconds (States.Timeout) or
 * HeartbeatSeconds without a heartbeat callback (States.HeartbeatTimeout).
 * The program's failure fails the state. A token is valid for one attempt.
 */
#define ASL_CALLBACK_SUFFIX ".waitForTaskToken"
enum asl_callback { ASL_CB_SUCCESS = 0, ASL_CB_FAILURE, ASL_CB_HEARTBEAT };
/*
 * SendTaskSuccess (@output borrowed, copied), SendTaskFailure (@error and
 * @cause may be NULL) or SendTaskHeartbeat for @token. Must be called on the
 * engine's loop thread, not from inside an engine callback. Returns 0, or
 * -ENOENT if no task of this engine waits for @token (TaskDoesNotExist).
 */
int asl_engine_task_callback(struct asl_engine *e, const char *token, enum asl_callback kind,
			     json_t *output, const char *error, const char *cause);
/*
 * Told when a token starts waiting (@status "WAITING", with the execution's
 * @arn and the @state name) and when it stops ("SUCCEEDED", "FAILED",
 * "TIMED_OUT" or "CLOSED": the execution or attempt ended otherwise). The
 * host records it so that other processes can tell a live token from an
 * unknown or expired one. @fn NULL removes the hook.
 */
typedef void (*asl_token_fn)(void *arg, const char *token, const char *arn, const char *state,
			     const char *status);
void asl_engine_set_token_hook(struct asl_engine *e, asl_token_fn fn, void *arg);
/*
 * Objects for Distributed Map ItemReader/ResultWriter (engine/asl_s3.h;
 * copied; ops->arg must outlive the engine). Without it (or with NULL)
 * they fail with States.ItemReaderFailed / States.ResultWriterFailed.
 */
struct asl_s3_ops;
void asl_engine_set_s3(struct asl_engine *e, const struct asl_s3_ops *ops);

/* ------------------------------------------------------------- executions */

enum asl_exec_type { ASL_STANDARD = 0, ASL_EXPRESS };

enum asl_status {
	ASL_RUNNING = 0,
	ASL_SUCCEEDED,
	ASL_FAILED,
	ASL_TIMED_OUT,
	ASL_ABORTED,
};

/* "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED" */
const char *asl_status_name(enum asl_status s);

/*
 * Called for each history event as it is appended (for durability: the
 * journal writes it). @event is borrowed, valid during the call; incref to
 * keep it. Must not start, stop or free executions.
 */
typedef void (*asl_event_fn)(void *arg, struct asl_execution *x, json_t *event);
/*
 * Called once when the execution ends (any status). @output (SUCCEEDED only)
 * is borrowed, valid while @x lives. @error and @cause may be NULL (a Fail
 * state without Error/Cause). May be called from inside
 * asl_execution_start() if the execution never has to wait. The callback may
 * free @x (asl_execution_free); the engine does not touch @x afterwards.
 */
typedef void (*asl_done_fn)(void *arg, struct asl_execution *x, enum asl_status status,
			    json_t *output, const char *error, const char *cause);

struct asl_exec_opts {
	const char *name;          /* execution name; NULL: a random UUID */
	enum asl_exec_type type;   /* STANDARD or EXPRESS */
	double wait_scale;         /* multiplies Wait and Retry delays; 0 = no waiting */
	size_t payload_limit;      /* bytes; States.DataLimitExceeded beyond; 0 = none */
	unsigned history_cap;      /* max history events; 0 = none */
	bool record_history;       /* keep the events for asl_execution_history() */
	asl_event_fn on_event;     /* may be NULL */
	asl_done_fn on_done;       /* may be NULL */
	void *arg;                 /* for on_event and on_done */
	unsigned chain_depth;      /* passed to tasks (loop guard) */
	const char *role_arn;      /* $$.Execution.RoleArn; NULL: a local placeholder */
};

#define ASL_PAYLOAD_LIMIT 262144
#define ASL_HISTORY_CAP 25000
#define ASL_EXEC_OPTS_INIT                                                                    \
	{ NULL, ASL_STANDARD, 1.0, ASL_PAYLOAD_LIMIT, ASL_HISTORY_CAP, false, NULL, NULL, NULL, 0, \
	  NULL }

/*
 * Start an execution of @m (referenced for the execution's life) with @input
 * (borrowed; NULL means {}; shared, never mutated). @opts may be NULL (the
 * defaults). Sets *ret before anything runs, then runs as far as it can
 * without waiting. Returns 0, -E2BIG if @input exceeds opts->payload_limit
 * (AWS rejects such a start), or -ENOMEM (nothing started). The handle is
 * the caller's: free it with asl_execution_free() after it ended (or to stop
 * and discard it silently).
 */
int asl_execution_start(struct asl_engine *e, struct asl_machine *m, json_t *input,
			const struct asl_exec_opts *opts, struct asl_execution **ret);
/*
 * Stop a running execution: cancels tasks and timers, appends
 * ExecutionAborted (with @error/@cause if non-NULL) and calls on_done with
 * ASL_ABORTED. No-op if it already ended.
 */
void asl_execution_stop(struct asl_execution *x, const char *error, const char *cause);
/* Free; stops silently (no callbacks) if still running. NULL is a no-op. */
void asl_execution_free(struct asl_execution *x);

enum asl_status asl_execution_status(const struct asl_execution *x);
/* Borrowed, valid while @x lives; NULL unless SUCCEEDED. */
json_t *asl_execution_output(const struct asl_execution *x);
/* Borrowed strings, valid while @x lives; NULL if none. */
const char *asl_execution_error(const struct asl_execution *x);
const char *asl_execution_cause(const struct asl_execution *x);
const char *asl_execution_name(const struct asl_execution *x);
const char *asl_execution_arn(const struct asl_execution *x);
json_t *asl_execution_input(const struct asl_execution *x); /* borrowed */
struct asl_machine *asl_execution_machine(const struct asl_execution *x); /* borrowed */
/* Wall-clock start and stop (stop is zero while running). */
struct timespec asl_execution_start_time(const struct asl_execution *x);
struct timespec asl_execution_stop_time(const struct asl_execution *x);
/* Number of history events so far (counted even when not recorded). */
unsigned asl_execution_event_count(const struct asl_execution *x);
/*
 * The recorded history as a JSON array of events in id order (a new
 * array; the events in it are shared: treat them as read-only), or NULL if
 * the execution does not record history.
 */
json_t *asl_execution_history(const struct asl_execution *x);

/*
 * Convenience: start and run @e's loop until this execution ends (other
 * work on the loop runs too). Returns 0 with the ended execution in *ret (the
 * caller frees it), -E2BIG or -ENOMEM as asl_execution_start().
 */
int asl_execution_run_sync(struct asl_engine *e, struct asl_machine *m, json_t *input,
			   const struct asl_exec_opts *opts, struct asl_execution **ret);

/*
 * Resume a Standard execution from its journaled history @events (borrowed;
 * a JSON array as asl_execution_history() returns it) as described at the top
 * of this file. New events continue the ids. Returns 0 and *ret, -EINVAL if
 * the history cannot be resumed (with a reason in @err), or -ENOMEM. An
 * execution whose history already ended is returned ended, without callbacks.
 * Old events are not passed to on_event again; with record_history the
 * returned history holds them followed by the new ones.
 */
int asl_execution_resume(struct asl_engine *e, struct asl_machine *m, json_t *events,
			 const struct asl_exec_opts *opts, struct asl_execution **ret,
			 struct asl_err *err);

/* ------------------------------------------------------------------ helpers */

/*
 * Serialise @v as compact JSON the way AWS prints it: integers as integers,
 * reals in their shortest round-trip form. Returns a malloc'd string (caller
 * frees) or NULL on out-of-memory.
 */
char *asl_json_dumps(const json_t *v);
/* ISO-8601 UTC with milliseconds, "2024-01-02T03:04:05.678Z", into @buf (>= 32 bytes). */
void asl_time_format(const struct timespec *t, char *buf, size_t len);

#endif
