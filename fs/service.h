/*
 * struct service: what a daemon (stepfs watch, stepfs mount -o config=,
 * stepfs serve) runs behind its event source: the configuration, the task
 * runner and the router (journal + rules + ASL engine on its loop thread).
 * The source reports commits to service_sink(); the sink forwards to the
 * current router, so that service_reload() can swap configuration, task
 * runner and router under a lock without the source noticing (commits made
 * during the swap wait for it).
 *
 * Thread-safety: the sink may be called from any thread; the other
 * functions from the controlling thread only.
 */
#ifndef STEPFS_SERVICE_H
#define STEPFS_SERVICE_H

#include <jansson.h>
#include <stddef.h>

struct commit_sink;
struct service;

struct service_opts {
	const char *config;      /* configuration file (required) */
	const char *mountpoint;  /* local root of keys (mount point or watched dir); may be NULL */
	const char *bucket;      /* bucket name for events when the config names none; may be NULL */
	double wait_scale;       /* Wait/Retry multiplier; default 1 */
	/* the bucket Map ItemReader/ResultWriter reach under its name (fs/bucketmap.h),
	 * e.g. `watch --upload`'s, with its store options; both may be NULL */
	const char *store_url;
	json_t *store_opts;
};
#define SERVICE_OPTS_INIT { NULL, NULL, NULL, 1.0, NULL, NULL }

/*
 * Load and validate the configuration (every state machine is compiled),
 * create the task runner and the router, and start the router's loop thread
 * (recovery runs first: RUNNING executions resume, unrouted events route).
 * Returns 0 and *ret, or -1 with a message naming the file and problem.
 */
int service_start(const struct service_opts *opts, struct service **ret, char *err,
		  size_t errlen);

/* The commit sink for the event source (valid while @s lives). */
void service_sink(struct service *s, struct commit_sink *ret);

/*
 * Re-read the configuration. If the new one (and every definition it names)
 * is valid, swap it in: the router is stopped (executions in flight stay
 * RUNNING in the journal) and restarted on the new configuration, which
 * resumes them. On any error the running configuration stays and -1 is
 * returned with the reason. Returns 1 if swapped, 0 if nothing changed.
 */
int service_reload(struct service *s, char *err, size_t errlen);

/* Files whose change should trigger a reload: the config and its definitions. */
size_t service_watched_files(struct service *s, const char ***ret);

/* The journal file (for the watcher's state table). Borrowed. */
const char *service_journal(struct service *s);

/* Wait until the router is idle (tests, clean shutdown); 0 or -ETIMEDOUT. */
int service_wait_idle(struct service *s, unsigned timeout_ms);

struct router_stats;
/* The current router's counters (zero while a reload swaps it). */
void service_stats(struct service *s, struct router_stats *ret);
/* Append the current router's Prometheus samples (router_metrics()); any thread. */
struct buf;
void service_metrics(struct service *s, struct buf *out);

/* Stop everything (executions in flight stay RUNNING and resume at the next start). */
void service_free(struct service *s);

#endif
