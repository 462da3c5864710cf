/*
 * struct eventd: everything a mount or a drop-folder watch needs to run the
 * events side from one configuration file (engine/config.h): the config, the
 * task runner built from its "functions"/"tasks" sections (engine/taskrun.h),
 * and the router with its engine loop thread (engine/router.h). It is the
 * one place that assembles them: fs/service.c builds each configuration
 * generation of watch/serve through it.
 *
 * Use in a mount:
 *   eventd_check(path, ...)       before mounting: load and validate the
 *                                 config, the task settings and every state
 *                                 machine, and check that no other daemon
 *                                 holds the journal, so errors show at once
 *   (fuse_daemonize(): fork)
 *   eventd_start(path, ...)       after the fork: open the journal and start
 *                                 the loop thread (SQLite connections and
 *                                 threads must not cross a fork)
 *   eventd_sink(d, &sink)         the commit sink for the filesystem
 *   eventd_free(d)                after the filesystem is torn down
 *
 * In two steps (a reload that validates before it stops the running one):
 *   eventd_load(path, &d)         config + task settings, every definition
 *                                 compiled; no journal, no thread
 *   eventd_run(d, &opts)          runner + router, started
 *   eventd_stop(d)                back to loaded (the config stays in
 *                                 memory: eventd_run() may start it again)
 *
 * Thread-safety: as struct router (the sink, stats and metrics from any
 * thread while running); the rest from one thread.
 */
#ifndef STEPFS_EVENTD_H
#define STEPFS_EVENTD_H

#include <stddef.h>

struct buf;
struct commit_sink;
struct config;
struct eventd;
struct router;
struct router_stats;

struct eventd_opts {
	const char *mountpoint; /* completes local paths; may be NULL */
	double wait_scale;      /* Wait/Retry delays multiplier (tests); default 1 */
	/* borrowed, must outlive the run; objects for Map ItemReader/ResultWriter
	 * (engine/asl_s3.h, fs/bucketmap.h); NULL: none */
	const struct asl_s3_ops *s3;
};

#define EVENTD_OPTS_INIT { NULL, 1.0, NULL }

/* 0, or -1 with "'<file>': <pointer>: <reason>" in @err. */
int eventd_check(const char *config_path, char *err, size_t errlen);

/*
 * Load @config_path and start. @mountpoint (may be NULL) completes local
 * paths. Returns 0 and *ret, or -1 with a message in @err.
 */
int eventd_start(const char *config_path, const char *mountpoint, struct eventd **ret,
		 char *err, size_t errlen);

/* Load and validate without starting. Returns 0 and *ret, or -1 with @err. */
int eventd_load(const char *config_path, struct eventd **ret, char *err, size_t errlen);
/*
 * Open the journal (daemon lock) and start the router of a loaded @d.
 * @opts may be NULL (defaults). 0, or -1 with @err (then @d is loaded, not running).
 */
int eventd_run(struct eventd *d, const struct eventd_opts *opts, char *err, size_t errlen);
/* Stop the router and the runner (executions in flight stay RUNNING); NULL is a no-op. */
void eventd_stop(struct eventd *d);

/* The loaded configuration (borrowed, valid while @d lives). */
const struct config *eventd_config(const struct eventd *d);
/* The router while running, else NULL (borrowed). */
struct router *eventd_router(struct eventd *d);

/* The following need a running @d. */
void eventd_sink(struct eventd *d, struct commit_sink *ret);
/* The router's counters (engine/router.h); any thread. */
void eventd_stats(struct eventd *d, struct router_stats *ret);
/* Append the router's Prometheus samples (router_metrics()); any thread. */
void eventd_metrics(struct eventd *d, struct buf *out);

/* Stop and free (executions in flight resume at the next start). NULL is a no-op. */
void eventd_free(struct eventd *d);

#endif
