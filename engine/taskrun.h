/*
 * taskrun: the task runner behind struct asl_task_ops. A Task state's
 * Resource names a local program; the runner starts it with the effective
 * input as JSON on stdin and turns its stdout, exit status and stderr into
 * the state's result or error, with Lambda-compatible semantics.
 *
 * Resource forms (README "Task protocol" is the user documentation):
 *   exec:./prog, exec:prog/x      relative to the definition's directory
 *   exec:/abs/prog, exec:///abs   absolute
 *   arn:aws:lambda:REGION:ACCT:function:NAME[:QUALIFIER]
 *                                 NAME looked up in the functions table
 *   arn:aws:states:::lambda:invoke   with Parameters FunctionName, Payload
 *                                 (result {ExecutedVersion, Payload, StatusCode, ...})
 * A functions-table entry with "workers": N runs N long-lived instances fed
 * one JSON request per line instead of one process per task.
 *
 * Everything is driven by the engine's loop (struct loop): child exits are
 * pidfds, stdio are non-blocking pipes, timeouts are loop timers. No thread
 * per program. The host must ignore SIGPIPE (stepfs main() does).
 *
 * Thread-safety: a struct taskrun is used on one loop thread only. A
 * struct taskrun_config is immutable after parsing and may be shared.
 */
#ifndef STEPFS_TASKRUN_H
#define STEPFS_TASKRUN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct asl_task_ops;
struct taskrun;
struct taskrun_config;

/* AWS Step Functions' payload limit, the default "payload_limit" */
#define TASKRUN_PAYLOAD_LIMIT 262144

/*
 * Parse the task-runner sections of a configuration file: the top-level
 * keys "functions" and "tasks" of @root (other keys are ignored; they belong
 * to other modules). Either may be absent. Relative "exec" and "cwd" paths
 * are resolved against @base_dir (the configuration file's directory; NULL
 * means the current directory). User and group names are resolved now.
 *
 * Returns 0 and a new config in *ret (free with taskrun_config_free()),
 * -EINVAL with a message naming the JSON pointer and the problem in @errmsg
 * (e.g. "/tasks/limits/as: expected a size like 512M or a byte count"), or
 * -ENOMEM. @root is borrowed.
 */
int taskrun_config_parse(json_t *root, const char *base_dir, struct taskrun_config **ret,
			 char *errmsg, size_t errlen);

/*
 * Read @path (a JSON file) and parse it as above, with base_dir = the file's
 * directory. Errors name the file: "'cfg.json': /functions/x: ...".
 */
int taskrun_config_load(const char *path, struct taskrun_config **ret, char *errmsg,
			size_t errlen);

/* A config with every default (no functions, caps 64 / unlimited). NULL on ENOMEM. */
struct taskrun_config *taskrun_config_new(void);

void taskrun_config_free(struct taskrun_config *cfg);

/*
 * A runner using @cfg (borrowed: it must outlive the runner; NULL means
 * defaults). Captures the allowlisted variables of the current environment
 * now. NULL on out-of-memory.
 */
struct taskrun *taskrun_new(const struct taskrun_config *cfg);

/*
 * Kill every running program and worker (SIGKILL to its process group),
 * reap them, and free the runner. done() is not called for tasks still
 * running. Blocks until the children are reaped. NULL is a no-op.
 */
void taskrun_free(struct taskrun *tr);

/* Fill @ops with the runner's start/cancel/check functions and @tr as arg. */
void taskrun_ops(struct taskrun *tr, struct asl_task_ops *ops);

/* Counters for tests and status output. */
struct taskrun_stats {
	unsigned running;  /* tasks holding a concurrency slot */
	unsigned queued;   /* tasks waiting for a slot or a worker */
	unsigned workers;  /* live worker processes */
	unsigned long spawned; /* processes started (tasks and workers) */
	unsigned long worker_restarts;
};
void taskrun_get_stats(const struct taskrun *tr, struct taskrun_stats *ret);

/*
 * Run times of ended tasks (from the program's start, or its dispatch to a
 * worker, to its result), as a cumulative histogram: bucket[i] counts tasks
 * that took at most taskrun_bucket_le(i) seconds (ms resolution). Any thread.
 */
#define TASKRUN_NBUCKETS 12
struct taskrun_durations {
	uint64_t bucket[TASKRUN_NBUCKETS];
	uint64_t count;
	double sum_s;
};
void taskrun_get_durations(struct taskrun *tr, struct taskrun_durations *ret);
double taskrun_bucket_le(unsigned i);

#endif
