/*
 * spool: the local directory where written data waits until it is committed
 * to the bucket, with a hard cap on the bytes it may hold.
 *
 * Each spooled file is "<id>.data"; once a commit of it is attempted it also
 * gets "<id>.json", a small manifest naming the key and metadata, so that an
 * upload that failed (or a daemon that was killed) is retried after a
 * restart: spool_scan() reports every data file with a manifest and removes
 * data files without one (writes that were never flushed).
 *
 * Accounting: callers reserve bytes before a spool file grows and release
 * them when it shrinks or is removed; spool_reserve() fails with -ENOSPC
 * once the cap would be exceeded.
 *
 * Thread-safe.
 */
#ifndef STEPFS_SPOOL_H
#define STEPFS_SPOOL_H

#include <stdint.h>

#include <jansson.h>

struct spool;

/* Open (creating if needed) @dir with a cap of @max_bytes; NULL with *ret_err = -errno. */
struct spool *spool_open(const char *dir, uint64_t max_bytes, int *ret_err);
void spool_free(struct spool *sp);

const char *spool_dir(const struct spool *sp);

/* Create a new, empty data file; returns its fd (O_RDWR|O_CLOEXEC, caller closes) or -errno. */
int spool_create(struct spool *sp, uint64_t *ret_id);

/* Account @delta bytes (negative releases). Returns 0 or -ENOSPC (nothing reserved). */
int spool_reserve(struct spool *sp, int64_t delta);
uint64_t spool_used(struct spool *sp);
/* Data files in the spool now (created or found by spool_scan, not yet removed). */
uint64_t spool_files(struct spool *sp);
uint64_t spool_max(struct spool *sp);

/* Write the manifest of @id atomically (@m is borrowed). @sync: fsync it. */
int spool_write_manifest(struct spool *sp, uint64_t id, json_t *m, int sync);
/* Make data file @fd of @id and its manifest durable (fsync both and the directory). */
int spool_sync(struct spool *sp, uint64_t id, int fd);
/* Remove the manifest only (the data file stays while it is open). */
void spool_drop_manifest(struct spool *sp, uint64_t id);
/* Remove data file and manifest of @id. */
void spool_remove(struct spool *sp, uint64_t id);

/*
 * Call @fn for every data file that has a manifest, with an open fd (which
 * @fn owns from then on) and the manifest (borrowed for the call). Data files
 * without a manifest are deleted. The sizes found are reserved. Returns the
 * number reported, or -errno.
 */
int spool_scan(struct spool *sp, int (*fn)(void *arg, uint64_t id, int fd, json_t *manifest),
	       void *arg);

#endif
