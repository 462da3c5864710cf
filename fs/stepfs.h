/*
 * struct stepfs: the context of one mount, built by `stepfs mount` before
 * fuse_main(), passed as its user_data and read back in every operation
 * through fuse_get_context()->private_data. No file-scope state.
 *
 * Options are caller-filled (STEPFS_OPTS_INIT gives the defaults documented
 * in README "Mounting"); stepfs_new() takes the store and a sink.
 *
 * Lifetime: stepfs_new() -> fuse_main(..., stepfs_fuse_ops(), fs) -> the
 * .init operation starts the background uploader (retries of failed
 * commits); .destroy stops it; stepfs_free() releases the rest.
 */
#ifndef STEPFS_STEPFS_H
#define STEPFS_STEPFS_H

#include <stdint.h>
#include <sys/types.h>

struct store;
struct commit_sink;
struct fuse_operations;

struct stepfs_opts {
	uid_t uid;            /* owner of objects without x-amz-meta-uid */
	gid_t gid;
	mode_t umask;         /* applied to the default modes 0666/0777 */
	int ro;
	const char *bucket;   /* the BUCKET argument, for events and logs */
	const char *mountpoint; /* absolute; for the local_path of events */
	const char *spool_dir;
	uint64_t spool_max;   /* bytes of spooled (not yet committed) data */
	int64_t attr_ttl_ms;  /* metadata cache; also the kernel's attr/entry timeout */
	int64_t neg_ttl_ms;
	size_t cache_entries;
	uint64_t part_size;   /* first multipart part's size (>= 5 MiB) */
	uint64_t part_max;    /* parts grow to this size (fs/parts.h); = part_size: all alike */
	int parallel;         /* parts / ranged GETs in flight per file */
	int stream;           /* 1: upload complete parts while the file is written */
	uint64_t readahead_max; /* largest read-ahead window per open file */
	uint64_t read_mem;    /* total read-ahead buffers of all open files */
	uint64_t small_file;  /* objects up to this size are fetched whole */
	int exact_attrs;      /* 1: an entry first seen in a listing is HEADed when looked
			       * up (exact x-amz-meta-* modes/owners/mtimes, one request
			       * per entry in ls -l); 0: listing attributes (size,
			       * LastModified) with the defaults above */
	int64_t retry_max_ms; /* back-off cap of background retries */
};

#define STEPFS_OPTS_INIT                                                                     \
	{                                                                                    \
		.uid = 0, .gid = 0, .umask = 022, .ro = 0, .bucket = "", .mountpoint = NULL, .spool_dir = NULL, \
		.spool_max = (uint64_t)8 << 30, .attr_ttl_ms = 10000, .neg_ttl_ms = 2000,    \
		.cache_entries = 100000, .part_size = 8u << 20, .part_max = 64u << 20, .parallel = 4, .stream = 1,  \
		.readahead_max = 32u << 20, .read_mem = 256u << 20, .small_file = 1u << 20,  \
		.exact_attrs = 0, .retry_max_ms = 60000,                                      \
	}

struct stepfs;

/*
 * Build a mount context. Borrows @opts' strings (they must outlive the
 * context), takes ownership of @store (freed by stepfs_free), borrows @sink
 * (may be NULL: no events). Opens the spool. Returns NULL with *ret_err set
 * (-errno) on failure; the store is freed then too.
 */
struct stepfs *stepfs_new(const struct stepfs_opts *opts, struct store *store,
			  const struct commit_sink *sink, int *ret_err);
void stepfs_free(struct stepfs *fs);

/* Counters since stepfs_new() (the spool figures are current values). */
struct stepfs_stats {
	uint64_t puts;             /* objects committed by a single PUT */
	uint64_t multiparts;       /* objects committed by a multipart upload */
	uint64_t copies;           /* objects committed by a server-side copy (rename) */
	uint64_t deletes;          /* objects deleted */
	uint64_t bytes_uploaded;   /* file data committed (PUT and multipart) */
	uint64_t bytes_downloaded; /* object data fetched */
	uint64_t upload_failures;  /* commits that failed (kept in the spool, retried) */
	uint64_t retries;          /* background commit attempts of the retrier */
	uint64_t spool_bytes;      /* spool space reserved now */
	uint64_t spool_files;      /* spool data files now */
};

/* Thread-safe: any thread, while @fs lives. */
void stepfs_get_stats(struct stepfs *fs, struct stepfs_stats *ret);

/* The operations table for fuse_main(); user_data must be the struct stepfs. */
const struct fuse_operations *stepfs_fuse_ops(void);

#endif
