/*
 * struct watch: drop-folder mode. Watches a directory tree with
 * libinotifytools on one dedicated thread and reports each completed file
 * exactly once, as a commit_event (engine/commit.h), to a commit sink.
 *
 * "Completed" means: an IN_CLOSE_WRITE, IN_MOVED_TO or IN_CREATE (hard
 * links) was seen, no further event arrived for the quiet period, nobody has
 * the file open for writing (an F_SETLEASE read lease succeeds), and its
 * fingerprint (dev, ino, size, mtime) differs from the last one reported for
 * that path. Fingerprints are kept in a SQLite table so that files present at
 * start-up are reported once, across restarts.
 *
 * Coverage: the watch on a directory is added before it is scanned (at start,
 * for every new subdirectory, and on IN_Q_OVERFLOW, which triggers a full
 * rescan reconciled against the table), so nothing created in between is
 * missed; duplicates from the overlap are removed by the fingerprint check.
 *
 * Sink calls. Up to commit_threads files are handed to the sink at once,
 * each from a commit thread (so the sink must be thread-safe; concurrent
 * journal appends share one fsync). One path is never in flight twice, and a
 * file is recorded as reported only after the sink returned 0 (durable).
 *
 * Thread-safety: watch_new/start/stop/free from one controlling thread;
 * watch_get_stats() from any thread. libinotifytools keeps hidden global
 * state, so at most one struct watch may run per process.
 */
#ifndef STEPFS_WATCH_H
#define STEPFS_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct commit_sink;
struct watch;

struct watch_opts {
	const char *dir;             /* the watched directory (required) */
	const char *bucket;          /* name used as the bucket in events; default: basename of dir */
	const char *ignore_regex;    /* POSIX ERE on the file's base name; NULL: WATCH_IGNORE_DEFAULT */
	unsigned quiet_ms;           /* coalescing period; default 200 */
	const char *state_db;        /* SQLite file for fingerprints; NULL: in memory */
	const struct commit_sink *sink; /* borrowed; must outlive the watch */
	int report_deletes;          /* 1: report deletions of reported files as COMMIT_DELETE */
	unsigned commit_threads;     /* sink calls in flight at once; 0: default (8), max 64 */
};
#define WATCH_IGNORE_DEFAULT "^\\.|~$|\\.(tmp|part|partial|swp|swx|crdownload)$"
#define WATCH_OPTS_INIT { NULL, NULL, NULL, 200, NULL, NULL, 1, 0 }
#define WATCH_COMMIT_THREADS_DEFAULT 8

struct watch_stats {
	uint64_t inotify_events;  /* raw events read */
	uint64_t reported;        /* commit events accepted by the sink */
	uint64_t duplicates;      /* candidates skipped: same fingerprint as already reported */
	uint64_t rescans;         /* full rescans (start-up, overflow, lost root) */
	uint64_t overflows;       /* IN_Q_OVERFLOW seen */
	uint64_t recovered;       /* files reported that were found by a rescan, not by an event */
	uint64_t deferred;        /* checks postponed because the file was still open for writing */
	uint64_t sink_errors;     /* sink refusals (retried) */
	uint64_t directories;     /* directories watched now */
};

/*
 * Prepare a watch (nothing runs yet). Returns NULL on error with a message
 * naming what is wrong in @errbuf (bad directory, bad regex, state db).
 */
struct watch *watch_new(const struct watch_opts *opts, char *errbuf, size_t errlen);
/* Start the watcher thread. Returns 0 or -errno. */
int watch_start(struct watch *w);
/*
 * Stop the threads. Files already handed to the sink finish and are recorded;
 * pending checks are dropped (the next start's scan finds them again).
 */
void watch_stop(struct watch *w);
/* Free; NULL is a no-op. Stops first if running. */
void watch_free(struct watch *w);
void watch_get_stats(struct watch *w, struct watch_stats *ret);
/* Block until nothing is pending and the thread is idle, or @timeout_ms passes. 0 if idle. */
int watch_wait_idle(struct watch *w, unsigned timeout_ms);

#endif
