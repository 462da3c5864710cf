/*
 * struct commit_event: what a producer (the FUSE filesystem, the drop-folder
 * watcher) reports after it committed a mutation to the bucket; the events
 * module turns it into an S3/EventBridge-shaped event, journals it and routes
 * it to the notification rules.
 *
 * Contract: exactly one commit_event per committed mutation (not per flush),
 * reported after the object is in the bucket and before close() returns; the
 * sink returns 0 once the event is durable (journaled), or -errno, in which case
 * close() fails with that error (the data stays in the spool).
 */
#ifndef STEPFS_COMMIT_H
#define STEPFS_COMMIT_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum commit_kind {
	COMMIT_PUT = 0,            /* ObjectCreated:Put */
	COMMIT_MULTIPART,          /* ObjectCreated:CompleteMultipartUpload */
	COMMIT_COPY,               /* ObjectCreated:Copy (rename target) */
	COMMIT_DELETE,             /* ObjectRemoved:Delete */
};

struct commit_event {
	enum commit_kind kind;
	const char *key;           /* object key, raw (not URL-encoded), bucket prefix stripped */
	const char *bucket;        /* bucket name (or the watched directory's name) */
	uint64_t size;             /* 0 for deletes */
	const char *etag;          /* without quotes; NULL for deletes */
	const char *version_id;    /* NULL if unversioned */
	struct timespec time;      /* when the commit completed (wall clock) */
	const char *local_path;    /* path of the file inside the mount/watched dir; may be NULL */
	pid_t writer_pid;          /* process that wrote (FUSE context), 0 if unknown */
	const char *src_key;       /* COMMIT_COPY: the source key, else NULL */
	int fresh;                 /* 1: known to be a new mutation (the watcher saw it
	                              happen): never taken for a replay of an event an
	                              earlier run journaled (0: it may be one, e.g. a
	                              spool replay or a file found by a start-up scan) */
};

struct commit_sink {
	int (*commit)(void *arg, const struct commit_event *ev);
	void *arg;
};

#endif
