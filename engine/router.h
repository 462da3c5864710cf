/*
 * struct router: the daemon side of events. It is the commit sink the
 * filesystem (or the drop-folder watcher) reports to, and it owns the engine
 * loop thread that turns journaled events into executions:
 *
 *   commit() (any thread)      loop guard, back-pressure, journal_append()
 *                              (durable before it returns), wake the loop
 *   loop thread                read the outbox, match the rules, record the
 *                              executions and mark the event routed in one
 *                              transaction, start them on the ASL engine
 *                              (at most Limits.MaxRunningExecutions at once),
 *                              write Standard histories as they happen,
 *                              fire schedules, serve stop requests, prune
 *
 * Exactly once. An execution's name is derived from (rule, bucket, key,
 * sequencer) and the executions table has UNIQUE(state_machine, name), so an
 * event replayed after a crash records nothing new. On start, the router
 * first restarts every execution still RUNNING in the journal, then routes
 * the events that were journaled but not routed.
 *
 * Crash recovery of executions. A Standard execution is resumed from its
 * journaled history with asl_execution_resume() (a Task in flight at the
 * crash is run again: at-least-once for tasks, like AWS redrive). A history
 * the engine cannot resume restarts the execution from its first state with
 * its recorded input, under the same name and ARN, and its old partial
 * history is replaced (logged). Express executions are restarted from the
 * beginning (AWS's asynchronous Express workflows are at-least-once too);
 * their history is never journaled, only the summary row.
 *
 * Loop guard. The task runner gives every task STEPFS_EXECUTION_ARN and
 * STEPFS_CHAIN_DEPTH. When a write is committed, the router reads the
 * environment of the writing process and of its ancestors (/proc/PID/environ,
 * up to 64 levels), so a task's children and grandchildren are attributed
 * too, even if they cleared their own environment. Such an event carries
 * depth+1 and the causing execution's ARN; an event deeper than
 * Limits.MaxChainDepth starts nothing and logs one warning line naming the
 * key, the state machine and the causing execution.
 *
 * Back-pressure. Events journaled but not yet routed, plus executions waiting
 * for a run slot, are bounded by Limits.QueueSize. When the bound is reached,
 * commit() waits up to Limits.EnqueueTimeoutMs for room, then fails with
 * -EBUSY (close() reports "Device or resource busy") and logs the key: the
 * event is never dropped silently.
 *
 * Schedules fire at their times while the router runs. Missed runs (the
 * daemon was stopped): with MissedRuns "RUN_ONCE" (default) one execution
 * starts at start-up for the latest missed time; with "SKIP" none. Scheduled
 * executions are named "<schedule>-<yyyymmddThhmmssZ>" of the scheduled
 * time, so a time never runs twice.
 *
 * Thread-safety: commit (through router_sink()) and router_stats() from any
 * thread; everything else from the thread that created the router.
 */
#ifndef STEPFS_ROUTER_H
#define STEPFS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct asl_task_ops;
struct asl_s3_ops;
struct buf;
struct commit_sink;
struct config;
struct router;

struct router_opts {
	const struct config *cfg;          /* borrowed; must outlive the router */
	const struct asl_task_ops *tasks;  /* borrowed; NULL: every Task fails */
	const char *mountpoint;            /* for local paths when a commit has none; may be NULL */
	double wait_scale;                 /* Wait/Retry delays multiplier (tests); default 1 */
	/* borrowed; objects for Map ItemReader/ResultWriter (engine/asl_s3.h); may be NULL */
	const struct asl_s3_ops *s3;
};

#define ROUTER_OPTS_INIT { NULL, NULL, NULL, 1.0, NULL }

/*
 * Open the journal (taking its daemon lock: one router per journal), compile
 * every state machine of the configuration, create the engine loop. Nothing
 * runs yet. Returns 0 and *ret, or -1 with a message in @err naming the file.
 */
int router_new(const struct router_opts *opts, struct router **ret, char *err, size_t errlen);

/*
 * Start the engine loop thread: recovery (resume RUNNING executions, route
 * pending events), schedules, stop requests, pruning. Returns 0 or -errno.
 */
int router_start(struct router *r);

/*
 * Stop the loop thread (executions in flight stay RUNNING in the journal and
 * are resumed by the next start) and free everything. NULL is a no-op.
 */
void router_free(struct router *r);

/* The commit sink to hand to the filesystem or watcher (valid while @r lives). */
void router_sink(struct router *r, struct commit_sink *ret);

/*
 * The struct loop the router runs its engine on (borrowed): a task runner
 * bound to a loop must be created on this one, before router_start().
 */
struct loop *router_loop(struct router *r);

/*
 * Set the task operations (borrowed) before router_start(), when the runner
 * needs router_loop() to be created.
 */
void router_set_tasks(struct router *r, const struct asl_task_ops *tasks);

struct router_stats {
	uint64_t events;           /* commits journaled by this process */
	uint64_t routed;           /* events routed */
	uint64_t started;          /* executions started (incl. restarts) */
	uint64_t finished;         /* executions ended */
	uint64_t loop_guard;       /* events not routed because of the chain depth */
	uint64_t busy;             /* commits refused because the queue stayed full */
	unsigned running;          /* executions running now */
	unsigned queued;           /* events + executions waiting (the bounded queue) */
};

void router_stats(struct router *r, struct router_stats *ret);

/*
 * Append the router's Prometheus samples to @out (engine/metrics.h): the
 * router_stats() figures, executions ended by state machine and status, the
 * sum and count of their run times, executions started by rule. Any thread.
 */
void router_metrics(struct router *r, struct buf *out);

/*
 * Wait until nothing is queued and nothing runs, or @timeout_ms passes.
 * Returns 0 when idle, -ETIMEDOUT otherwise. For tests and clean shutdown.
 */
int router_wait_idle(struct router *r, unsigned timeout_ms);

/*
 * Loop guard lookup (public for tests): the causing execution ARN and chain
 * depth from the environment of @pid or its nearest ancestor that has
 * STEPFS_EXECUTION_ARN. Returns 1 and fills them (*ret_arn malloc'd), or 0.
 */
int router_find_cause(int pid, char **ret_arn, unsigned *ret_depth);

#endif
