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
};
#define WATCH_IGNORE_DEFAULT "^\\.|~$|\\.(tmp|part|partial|swp|swx|crdownload)$"
#define WATCH_OPTS_INIT { NULL, NULL, NULL, 200, NULL, NULL, 1 }

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
/* Stop the thread (pending checks are dropped; they are found again by the next start's scan). */
void watch_stop(struct watch *w);
/* Free; NULL is a no-op. Stops first if running. */
void watch_free(struct watch *w);
void watch_get_stats(struct watch *w, struct watch_stats *ret);
/* Block until nothing is pending and the thread is idle, or @timeout_ms passes. 0 if idle. */
int watch_wait_idle(struct watch *w, unsigned timeout_ms);

#endif
