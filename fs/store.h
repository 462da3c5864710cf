/*
 * struct store: the one object-store interface the filesystem, the watcher's
 * upload option and `stepfs check` use. Two backends implement it: S3 over
 * libcurl (fs/s3.c) and a local directory (fs/localstore.c). A backend fills
 * in a struct store_ops; callers use only the store_*() wrappers below.
 *
 * Errors: every call returns an enum store_err (0 = STORE_OK). Detail (HTTP
 * status, the server's error code and message, which key) goes into a
 * caller-owned struct store_error, never a global. store_err_to_errno() maps
 * to the errno the FUSE layer returns; the mapping runs once, at that boundary.
 *
 * Thread-safety: a struct store is shared by all FUSE worker threads; every
 * call may run concurrently with any other. Calls block (network I/O); never
 * call them with a lock held.
 *
 * Keys are raw bytes (UTF-8 in practice), never URL-encoded by the caller; a
 * store with a prefix (s3://bucket/prefix) prepends it itself, and keys in
 * results have it stripped again.
 */
#ifndef STEPFS_STORE_H
#define STEPFS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

/* Append only, never renumber. */
enum store_err {
	STORE_OK = 0,
	STORE_ENOTFOUND,     /* NoSuchKey / 404 on an object */
	STORE_ENOBUCKET,     /* NoSuchBucket */
	STORE_EDENIED,       /* AccessDenied, 403 without a signature problem */
	STORE_ESIGNATURE,    /* SignatureDoesNotMatch, InvalidAccessKeyId: bad credentials */
	STORE_ECLOCKSKEW,    /* RequestTimeTooSkewed */
	STORE_EPRECONDITION, /* 412: If-Match / If-None-Match failed */
	STORE_ERESOLVE,      /* DNS lookup failed */
	STORE_ECONNECT,      /* connection refused / reset / unreachable (after retries) */
	STORE_ETIMEOUT,      /* request timed out (after retries) */
	STORE_ETLS,          /* certificate or TLS handshake failure */
	STORE_ESERVER,       /* 5xx, SlowDown, throttling (after retries) */
	STORE_EINVAL,        /* bad argument, InvalidArgument, KeyTooLong, bad range */
	STORE_ETOOLARGE,     /* EntityTooLarge, or over a configured limit */
	STORE_ENOTSUP,       /* NotImplemented, or not supported by this backend */
	STORE_ENOMEM,
	STORE_EIO,           /* local I/O failure (spool file, local backend) */
	STORE_ECREDS,        /* no credentials found, or credential_process failed */
	STORE_EPROTO,        /* unparseable response */
	STORE_ENOTEMPTY,     /* (local backend) directory not empty */
	STORE_EEXIST,        /* object exists (If-None-Match: *) */
	STORE_EDIGEST,       /* BadDigest, XAmzContentSHA256Mismatch, or an ETag that is
			      * not the MD5 of what was sent: the data was corrupted on
			      * the way (after retries) */
};

/* Detail for the last failed call; caller-owned, may be NULL when not wanted. */
struct store_error {
	enum store_err code;
	int http_status;   /* 0 if no HTTP response */
	char s3_code[64];  /* e.g. "SignatureDoesNotMatch", "" if none */
	char message[512]; /* human-readable, names the key/bucket; no credentials */
};

/* Static strings. */
const char *store_strerror(enum store_err e);
/* ENOENT, EACCES, EIO, ... as the FUSE layer should return them (positive). */
int store_err_to_errno(enum store_err e);

/* What HEAD, a listing entry or a completed upload tells about an object. */
struct store_obj {
	uint64_t size;
	char etag[80];       /* without quotes; multipart ETags keep their "-N" */
	struct timespec last_modified;
	char content_type[128];
	json_t *meta;        /* object of x-amz-meta-* (lower-case names without the
			      * prefix) → string; a new reference owned by the
			      * struct, release with store_obj_release(); may be NULL */
};
void store_obj_release(struct store_obj *o);

/*
 * Digests of a body known before it is sent (the filesystem computes them
 * while the data is written). A backend that needs them (the S3 backend: the
 * signed payload hash, Content-MD5) uses these instead of reading the body
 * an extra time; the server still checks them against what it receives.
 */
#define STORE_DIGEST_SHA256 1u
#define STORE_DIGEST_MD5 2u
struct store_digests {
	unsigned have;            /* STORE_DIGEST_* bits of the fields that are set */
	unsigned char sha256[32];
	unsigned char md5[16];
};

/* A request body: either memory or a byte range of a file descriptor (not closed). */
struct store_body {
	const void *data; /* if non-NULL, the body is data[0..len) */
	int fd;           /* else bytes [off, off+len) of fd, read with pread() */
	off_t off;
	uint64_t len;
	const struct store_digests *dig; /* borrowed; may be NULL: not known */
};
#define STORE_BODY_MEM(p, n) ((struct store_body){ .data = (p), .fd = -1, .off = 0, .len = (n) })
#define STORE_BODY_FD(f, o, n) ((struct store_body){ .data = NULL, .fd = (f), .off = (o), .len = (n) })

struct store_put_opts {
	const char *content_type; /* NULL: backend default (application/octet-stream) */
	json_t *meta;             /* borrowed; object name → string for x-amz-meta-*; may be NULL */
	const char *if_match;     /* ETag; NULL for none */
	int if_none_match_star;   /* 1: only create (If-None-Match: *) */
};
#define STORE_PUT_OPTS_INIT { NULL, NULL, NULL, 0 }

/* One page of a listing. Release with store_list_release(). */
struct store_list_entry {
	char *key;
	struct store_obj obj; /* size, etag, last_modified; meta is NULL in listings */
};
struct store_list {
	struct store_list_entry *entries;
	size_t n;
	char **prefixes; /* common prefixes (with the delimiter at the end) */
	size_t nprefixes;
	char *next_token; /* continuation token, NULL when this was the last page */
};
void store_list_release(struct store_list *l);

struct store_list_opts {
	const char *prefix;
	const char *delimiter;   /* usually "/" or NULL */
	const char *start_after;
	const char *token;       /* continuation token from the previous page */
	int max_keys;            /* 0: server default (1000) */
};
#define STORE_LIST_OPTS_INIT { NULL, NULL, NULL, NULL, 0 }

struct store_part {
	int number;     /* 1-based */
	char etag[80];
	uint64_t size;
};

struct store_upload { /* an in-progress multipart upload, for list/abort of orphans */
	char *key;
	char *upload_id;
	struct timespec initiated;
};

struct store;
struct store_xfer_opts;

struct store_ops {
	const char *name; /* "s3", "local" */
	enum store_err (*head)(struct store *s, const char *key, struct store_obj *ret,
			       struct store_error *err);
	/* Read [off, off+len) into buf; *ret_n = bytes read (short at EOF). */
	enum store_err (*get_range)(struct store *s, const char *key, uint64_t off, uint64_t len,
				    void *buf, size_t *ret_n, struct store_error *err);
	/* Write the whole object (from offset 0) into fd at fd's offsets [0, size). */
	enum store_err (*get_to_fd)(struct store *s, const char *key, int fd,
				    struct store_obj *ret, struct store_error *err);
	enum store_err (*put)(struct store *s, const char *key, const struct store_body *body,
			      const struct store_put_opts *opts, struct store_obj *ret,
			      struct store_error *err);
	enum store_err (*mpu_create)(struct store *s, const char *key,
				     const struct store_put_opts *opts, char **ret_upload_id,
				     struct store_error *err);
	enum store_err (*mpu_put_part)(struct store *s, const char *key, const char *upload_id,
				       int number, const struct store_body *body,
				       struct store_part *ret, struct store_error *err);
	enum store_err (*mpu_complete)(struct store *s, const char *key, const char *upload_id,
				       const struct store_part *parts, size_t nparts,
				       struct store_obj *ret, struct store_error *err);
	enum store_err (*mpu_abort)(struct store *s, const char *key, const char *upload_id,
				    struct store_error *err);
	enum store_err (*mpu_list)(struct store *s, const char *prefix,
				   struct store_upload **ret, size_t *ret_n, struct store_error *err);
	/* Server-side copy; meta NULL copies the source's metadata, else replaces it
	 * (with opts->content_type). opts->if_match, if set, is a precondition on
	 * the source's ETag (x-amz-copy-source-if-match). */
	enum store_err (*copy)(struct store *s, const char *src, const char *dst,
			       const struct store_put_opts *opts, struct store_obj *ret,
			       struct store_error *err);
	enum store_err (*del)(struct store *s, const char *key, struct store_error *err);
	/* Delete up to 1000 keys; per-key failures are reported through err for the first one. */
	enum store_err (*del_many)(struct store *s, const char *const *keys, size_t n,
				   struct store_error *err);
	enum store_err (*list)(struct store *s, const struct store_list_opts *opts,
			       struct store_list *ret, struct store_error *err);
	void (*free)(struct store *s);
	/* Optional, may be NULL: the backend's configured transfer defaults
	 * (e.g. the S3 part_size/parallel options), used by store_put_file() and
	 * store_get_file() when they are called with xfer == NULL. */
	void (*xfer_defaults)(struct store *s, struct store_xfer_opts *ret);
	/* Optional, may be NULL: read [off, off+len) of the object straight into
	 * fd at fd offset @off (no bounce buffer); *ret_n = bytes written (short
	 * at EOF). store_get_file() uses it for its parallel ranges if present. */
	enum store_err (*get_range_to_fd)(struct store *s, const char *key, uint64_t off,
					  uint64_t len, int fd, size_t *ret_n,
					  struct store_error *err);
};

/* Every backend's handle starts with this. */
struct store {
	const struct store_ops *ops;
};

/*
 * High-level helpers implemented once in fs/store.c on top of the ops:
 * store_put_file() uploads [0, size) of fd with a single PUT when size <=
 * part_size, else a multipart upload with up to @parallel parts in flight
 * (aborted on failure); store_get_file() downloads with up to @parallel
 * ranged GETs. Both return the first error. @xfer may be NULL: the store's
 * own defaults (ops->xfer_defaults) or STORE_XFER_OPTS_INIT apply.
 */
struct store_xfer_opts {
	uint64_t part_size; /* default 8 MiB; S3 needs >= 5 MiB except the last */
	int parallel;       /* default 4 */
	unsigned digests;   /* out of xfer_defaults: the STORE_DIGEST_* a body's
			     * ->dig saves the backend from computing (0: none) */
};
#define STORE_XFER_OPTS_INIT { 8u << 20, 4, 0 }

/* Thin wrappers over s->ops (same contracts as the ops above). */
enum store_err store_head(struct store *s, const char *key, struct store_obj *ret,
			  struct store_error *err);
enum store_err store_get_range(struct store *s, const char *key, uint64_t off, uint64_t len,
			       void *buf, size_t *ret_n, struct store_error *err);
enum store_err store_put(struct store *s, const char *key, const struct store_body *body,
			 const struct store_put_opts *opts, struct store_obj *ret,
			 struct store_error *err);
enum store_err store_copy(struct store *s, const char *src, const char *dst,
			  const struct store_put_opts *opts, struct store_obj *ret,
			  struct store_error *err);
enum store_err store_delete(struct store *s, const char *key, struct store_error *err);
enum store_err store_delete_many(struct store *s, const char *const *keys, size_t n,
				 struct store_error *err);
enum store_err store_list_page(struct store *s, const struct store_list_opts *opts,
			       struct store_list *ret, struct store_error *err);
enum store_err store_put_file(struct store *s, const char *key, int fd, uint64_t size,
			      const struct store_put_opts *opts,
			      const struct store_xfer_opts *xfer, struct store_obj *ret,
			      struct store_error *err);
enum store_err store_get_file(struct store *s, const char *key, int fd,
			      const struct store_xfer_opts *xfer, struct store_obj *ret,
			      struct store_error *err);
/* Fill err (if non-NULL) with code and a printf-style message; returns code. */
enum store_err store_set_error(struct store_error *err, enum store_err code, int http_status,
			       const char *s3_code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Open a store from a BUCKET argument: "s3://name[/prefix]" or a local
 * directory path. @options is a JSON object of backend options (endpoint,
 * region, path_style, ca_bundle, profile, ...; may be NULL). On failure returns
 * NULL and fills err. The caller frees with store_free().
 */
struct store *store_open(const char *bucket_url, json_t *options, struct store_error *err);
void store_free(struct store *s);

#endif
