/*
 * struct asl_s3_ops: how the ASL engine reads and writes objects for a
 * Distributed Map's ItemReader (s3:getObject, s3:listObjectsV2) and
 * ResultWriter (s3:putObject) without knowing what stores them. The host
 * fills the table (the daemon and `stepfs run` with fs/bucketmap.h, which
 * maps bucket names to struct store backends; a unit test with a double);
 * without one, an ItemReader fails with States.ItemReaderFailed and a
 * ResultWriter with States.ResultWriterFailed, naming the missing store.
 *
 * Threading: start() and cancel() are called on the loop thread; done() must
 * be called on the same loop thread, exactly once per successful start(),
 * never from inside start() itself (post it), and never after cancel().
 * Store calls block, so an implementation runs them on a thread of its own
 * and hands the result back with loop_post() (engine/loop.h).
 */
#ifndef STEPFS_ASL_S3_H
#define STEPFS_ASL_S3_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct asl_s3_call;

enum asl_s3_kind {
	ASL_S3_GET = 0, /* the whole object @key of @bucket, at most @max_bytes */
	ASL_S3_LIST,    /* ListObjectsV2 of @bucket under @prefix, at most @max_items keys */
	ASL_S3_PUT,     /* put @body (@len bytes) as @key of @bucket */
};

/* Borrowed by start(), which copies what it keeps. */
struct asl_s3_req {
	enum asl_s3_kind kind;
	const char *bucket;
	const char *key;     /* GET, PUT */
	const char *prefix;  /* LIST; NULL: the whole bucket */
	const void *body;    /* PUT */
	size_t len;          /* PUT */
	uint64_t max_bytes;  /* GET: a larger object fails (0: the implementation's cap) */
	size_t max_items;    /* LIST: stop after this many keys (0: no limit but the cap) */
};

/*
 * What a call produced, valid only during done(): GET: @data/@len (the
 * object's bytes); LIST: @items, a JSON array of {"Key", "Size", "Etag",
 * "LastModified" (epoch seconds), "StorageClass"} objects in key order as
 * AWS's ItemReader gives them (borrowed: incref to keep); PUT: nothing.
 */
struct asl_s3_result {
	const char *data;
	size_t len;
	json_t *items;
};

/*
 * @res is NULL on failure; then @cause says what failed and where ("bucket
 * 'b' key 'k': object not found", "... is larger than the 64 MiB limit").
 */
typedef void (*asl_s3_done_fn)(void *done_arg, const struct asl_s3_result *res,
			       const char *cause);

struct asl_s3_ops {
	/*
	 * Start a call. 0 and a handle in *ret, or -1 with a reason in @msg (an
	 * unknown bucket, out of memory); then done() is never called.
	 */
	int (*start)(void *arg, struct loop *loop, const struct asl_s3_req *req,
		     asl_s3_done_fn done, void *done_arg, struct asl_s3_call **ret, char *msg,
		     size_t msglen);
	/* Forget a running call: done() is not called (the store call may still finish). */
	void (*cancel)(void *arg, struct asl_s3_call *c);
	void *arg;
};

#endif
