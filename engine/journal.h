/*
 * struct journal: the durable record of events and executions, in SQLite
 * (WAL mode). Producers (the FUSE filesystem, the drop-folder watcher) and the
 * engine meet only here, so a mount can embed the engine or hand its events
 * to a separate process without changing either side.
 *
 * Tables:
 *   outbox      one row per committed mutation; `routed` is set once the
 *               executions it starts are recorded (replayed on start if not)
 *   executions  one row per execution; UNIQUE(state_machine, name), and the
 *               name is derived from the event (journal_exec_name()), so a
 *               replayed event never starts a second execution
 *   history     the AWS-shaped history events of Standard executions
 *   requests    stop requests from `stepfs executions stop` and task-token
 *               callbacks (`send-task-*`) to a live daemon
 *   tokens      task tokens of .waitForTaskToken states and their status
 *   meta        key/value (sequencer high-water mark, schedule state)
 *
 * Durability. journal_append() commits with synchronous=FULL: in WAL mode
 * that fsyncs the WAL before the commit returns, so an event survives power
 * loss once close() has returned. Everything else (routing, history, status)
 * commits with synchronous=NORMAL: it survives a crash of the process
 * (kill -9: the WAL write reached the kernel) and is made durable by the next
 * FULL commit or checkpoint; after a power loss the worst case is that an
 * event is routed again, which the deterministic execution names make
 * harmless. Concurrent journal_append() calls share fsyncs (group commit).
 *
 * Thread-safety: every function may be called from any thread; one internal
 * mutex serialises use of the connection. Several processes may open the same
 * file (WAL readers do not block the writer; writers wait up to 5 s).
 */
#ifndef STEPFS_JOURNAL_H
#define STEPFS_JOURNAL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/event.h"

struct journal;
struct commit_event;

enum journal_flags {
	JOURNAL_READONLY = 1 << 0, /* for `stepfs executions` offline reads */
};

/*
 * Open (creating if needed, unless JOURNAL_READONLY) the journal at @path.
 * Returns 0 and *ret, or -errno with a message naming the file in @err.
 */
int journal_open(const char *path, unsigned flags, struct journal **ret, char *err,
		 size_t errlen);
/* Close; NULL is a no-op. */
void journal_close(struct journal *j);
const char *journal_path(const struct journal *j);

/* ---- outbox ---- */

/*
 * Append an event for @ce, assigning the next sequencer (monotonic across the
 * journal and restarts, hence per key). @cause_arn/@chain_depth are the loop
 * guard's (NULL/0 for writes not made by a task). Returns 0 once the event is
 * durable, with its row id in *ret_id (may be NULL), or -errno (-EIO for
 * SQLite errors, logged at debug; -EILSEQ if a string of @ce, e.g. a key
 * from a file name in a legacy 8-bit encoding, is not valid UTF-8).
 */
int journal_append(struct journal *j, const struct commit_event *ce, const char *cause_arn,
		   unsigned chain_depth, int64_t *ret_id);

/*
 * Call @fn for up to @max pending (unrouted) events with id > @after_id, in id
 * order. @ev is borrowed, valid during the call. Returns the number of events
 * visited or -EIO. Rows that do not parse are logged and marked routed.
 */
int journal_pending(struct journal *j, int64_t after_id, int max,
		    void (*fn)(void *arg, int64_t id, const struct event *ev), void *arg);
/*
 * The latest journaled event of (@bucket, @key): 0 with its row id in *ret_id
 * and a new event in *ret_ev (event_free()), -ENOENT, or -EIO.
 */
int journal_last_event(struct journal *j, const char *bucket, const char *key, int64_t *ret_id,
		       struct event **ret_ev);
/* The highest outbox row id (0 if empty), or -EIO. */
int64_t journal_max_id(struct journal *j);
/* Number of pending events, or -EIO. */
int64_t journal_pending_count(struct journal *j);

/* ---- executions ---- */

struct journal_exec {
	const char *arn;
	const char *name;
	const char *state_machine;     /* name */
	const char *state_machine_arn;
	const char *type;              /* "STANDARD" | "EXPRESS" */
	const char *status;            /* "RUNNING" ... */
	const char *input;             /* JSON text */
	const char *output;            /* JSON text or NULL */
	const char *error;
	const char *cause;
	int64_t start_ms, stop_ms;     /* stop_ms 0 while running */
	int64_t event_id;              /* outbox row, 0 for schedules */
	const char *trigger;           /* rule Id, EventBridge rule/target, or schedule name */
	const char *parent_arn;        /* loop guard: the execution whose task caused this one */
	unsigned chain_depth;
};

/*
 * Deterministic execution name for (@trigger, @ev): "<sequencer>-<hash>",
 * 33 characters of [0-9A-Fa-f-] (valid AWS execution name). @out >= 40 bytes.
 */
void journal_exec_name(const char *trigger, const struct event *ev, char *out, size_t len);

/*
 * In one transaction: insert each of @execs (INSERT OR IGNORE on
 * (state_machine, name)) and mark outbox row @event_id routed (if > 0).
 * ret_new[i] (array of @n, may be NULL) is set to 1 for rows inserted now
 * and 0 for rows that already existed. Returns 0 or -EIO.
 */
int journal_route(struct journal *j, int64_t event_id, const struct journal_exec *execs,
		  size_t n, int *ret_new);

/* Set the final status, output, error, cause and stop time. Returns 0 or -EIO. */
int journal_exec_finish(struct journal *j, const char *arn, const char *status,
			const char *output, const char *error, const char *cause,
			int64_t stop_ms);

/*
 * One execution by ARN, or by name (the latest with that name) if @arn_or_name
 * is not an ARN. Returns 0 and a new JSON object shaped like AWS's
 * DescribeExecution output (plus "type", "trigger", "chainDepth",
 * "parentExecutionArn"), -ENOENT, or -EIO.
 */
int journal_exec_describe(struct journal *j, const char *arn_or_name, json_t **ret);

/*
 * Executions newest first, optionally filtered by state machine name and
 * status (NULL = any), at most @max (0 = no limit). Returns 0 and a new array
 * of objects shaped like AWS's ListExecutions "executions" items (plus
 * "type"), or -EIO.
 */
int journal_exec_list(struct journal *j, const char *state_machine, const char *status,
		      int max, json_t **ret);

/*
 * Executions with status RUNNING (to resume after a restart): calls @fn with
 * the arn, name, state machine, type and input text. Returns the count or -EIO.
 */
int journal_exec_running(struct journal *j,
			 void (*fn)(void *arg, const char *arn, const char *name,
				    const char *state_machine, const char *type,
				    const char *input, unsigned chain_depth, const char *trigger),
			 void *arg);

/* ---- history ---- */

/*
 * Record one history event (an AWS-shaped object with "id"; borrowed) of
 * execution @arn. Idempotent on (arn, id). Returns 0 or -EIO.
 */
int journal_history_add(struct journal *j, const char *arn, const json_t *event);
/* Delete the history of @arn (before restarting it from the beginning). 0 or -EIO. */
int journal_history_clear(struct journal *j, const char *arn);
/* All history events of @arn in id order: 0 and a new array, or -EIO. */
int journal_history(struct journal *j, const char *arn, json_t **ret);

/* ---- requests from other processes ---- */

/* Ask the daemon to stop @arn. Returns 0 or -EIO. */
int journal_request_stop(struct journal *j, const char *arn, const char *error,
			 const char *cause);
/*
 * Take pending stop requests (deleting them): calls @fn for each. Returns the
 * count or -EIO.
 */
int journal_take_requests(struct journal *j,
			  void (*fn)(void *arg, const char *arn, const char *error,
				     const char *cause),
			  void *arg);

/*
 * Task-token callbacks (`stepfs executions send-task-*`): @kind is
 * "task_success" (@cause carries the output JSON text), "task_failure"
 * (@error, @cause) or "task_heartbeat". Returns 0 or -EIO.
 */
int journal_request_task(struct journal *j, const char *kind, const char *token,
			 const char *error, const char *cause);
/* Take pending task requests (deleting them): calls @fn for each. Count or -EIO. */
int journal_take_task_requests(struct journal *j,
			       void (*fn)(void *arg, const char *kind, const char *token,
					  const char *error, const char *cause),
			       void *arg);
/*
 * tokens: the daemon records each task token (status WAITING, then
 * SUCCEEDED, FAILED, TIMED_OUT or CLOSED) so that a sender can tell a live
 * token from an unknown or closed one. 0 or -EIO.
 */
int journal_token_set(struct journal *j, const char *token, const char *arn, const char *state,
		      const char *status);
/* 0 and a new {arn, state, status} in *ret, -ENOENT, or -EIO. */
int journal_token_get(struct journal *j, const char *token, json_t **ret);
/* A daemon starting: tokens still WAITING belong to a dead process; mark them CLOSED. */
int journal_tokens_close_all(struct journal *j);

/* ---- meta, retention ---- */

/* Returns 0 and a malloc'd value in *ret (caller frees), -ENOENT, or -EIO. */
int journal_meta_get(struct journal *j, const char *key, char **ret);
int journal_meta_set(struct journal *j, const char *key, const char *value);

/*
 * Retention: delete executions (and their history) that ended before
 * @before_ms, routed outbox rows created before @before_ms and task tokens
 * closed before @before_ms. Returns the
 * number of executions deleted, or -EIO.
 */
int64_t journal_prune(struct journal *j, int64_t before_ms);

/*
 * Take checkpoints off the commit path: turn SQLite's automatic checkpoint
 * (run by whichever commit crosses 1000 WAL pages, fsyncing the database
 * inside that commit, which is then a close() waiting for it) off for this
 * connection, and start a thread that runs a PASSIVE checkpoint on its own
 * connection every second (it never blocks appends). Stopped by
 * journal_close(). Returns 0 or -errno.
 */
int journal_start_checkpointer(struct journal *j);

/* ---- the daemon's presence ---- */

/*
 * Mark this process as the daemon serving the journal: an exclusive flock(2)
 * on "<path>-daemon.lock", held until journal_close(). Returns 0, -EBUSY if
 * another process holds it, or -errno.
 */
int journal_daemon_lock(struct journal *j);
/* 1 if some process holds the daemon lock of the journal at @path, else 0. */
int journal_daemon_alive(const char *path);

/*
 * Append an ExecutionAborted history event and set ABORTED, for stopping an
 * execution while no daemon runs. Returns 0, -ENOENT if @arn is not
 * RUNNING, or -EIO.
 */
int journal_exec_abort_offline(struct journal *j, const char *arn, const char *error,
			       const char *cause);

/* Wall clock in Unix epoch milliseconds. */
int64_t journal_now_ms(void);

#endif
