/*
 * struct eventd: everything a mount or a drop-folder watch needs to run the
 * events side from one configuration file (engine/config.h): the config, the
 * task runner built from its "functions"/"tasks" sections (engine/taskrun.h),
 * and the router with its engine loop thread (engine/router.h).
 *
 * Use:
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
 * Thread-safety: as struct router (the sink from any thread).
 */
#ifndef STEPFS_EVENTD_H
#define STEPFS_EVENTD_H

#include <stddef.h>

struct buf;
struct commit_sink;
struct eventd;
struct router_stats;

/* 0, or -1 with "'<file>': <pointer>: <reason>" in @err. */
int eventd_check(const char *config_path, char *err, size_t errlen);

/*
 * Load @config_path and start. @mountpoint (may be NULL) completes local
 * paths. Returns 0 and *ret, or -1 with a message in @err.
 */
int eventd_start(const char *config_path, const char *mountpoint, struct eventd **ret,
		 char *err, size_t errlen);

void eventd_sink(struct eventd *d, struct commit_sink *ret);

/* The router's counters (engine/router.h); any thread. */
void eventd_stats(struct eventd *d, struct router_stats *ret);
/* Append the router's Prometheus samples (router_metrics()); any thread. */
void eventd_metrics(struct eventd *d, struct buf *out);

/* Stop and free (executions in flight resume at the next start). NULL is a no-op. */
void eventd_free(struct eventd *d);

#endif
