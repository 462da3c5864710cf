/*
 * Private interface between the parts of the S3 backend: fs/s3.c (HTTP,
 * signing, retries, the store ops) and fs/s3xml.c (libxml2 parsing of S3
 * responses, building request bodies). Not for use outside the S3 module;
 * tests/test_s3xml.c includes it to test the parsers on recorded bodies.
 *
 * All parsers take the raw response body and its length, never assume NUL
 * termination, and return an enum store_err (STORE_EPROTO for a body that is
 * not the expected document) with detail in @err. They are thread-safe once
 * xmlInitParser() has run (s3_store_open() calls it).
 */
#ifndef STEPFS_S3_I_H
#define STEPFS_S3_I_H

#include <stddef.h>

#include "engine/buf.h"
#include "fs/store.h"

/*
 * If @body is an S3 <Error> document, copy its Code and Message (truncated to
 * the sizes given) and return 1; else return 0 and leave them untouched.
 */
int s3xml_parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
		      size_t msglen);

/*
 * ListObjectsV2 result → @ret (zeroed first; release with store_list_release()).
 * Keys are URL-decoded when the response says EncodingType=url. The first
 * @strip bytes (the store's prefix) are removed from keys and common prefixes.
 */
enum store_err s3xml_parse_list(const char *body, size_t len, size_t strip,
				struct store_list *ret, struct store_error *err);

/* InitiateMultipartUploadResult → UploadId; *ret_upload_id is freed with free(). */
enum store_err s3xml_parse_initiate(const char *body, size_t len, char **ret_upload_id,
				    struct store_error *err);

/*
 * CompleteMultipartUploadResult, CopyObjectResult or CopyPartResult → ETag
 * (quotes removed) and LastModified when present, into @ret (other fields kept).
 * An <Error> document (S3 may send one with status 200) gives the mapped error.
 */
enum store_err s3xml_parse_etag_result(const char *body, size_t len, struct store_obj *ret,
				       struct store_error *err);

/*
 * DeleteResult: returns STORE_OK when it holds no <Error>, else the mapped
 * error of the first failed key (its key, with @strip bytes removed, named in
 * err->message) and *ret_nfailed (may be NULL) the number of failed keys.
 */
enum store_err s3xml_parse_delete(const char *body, size_t len, size_t strip,
				  size_t *ret_nfailed, struct store_error *err);

/*
 * One ListMultipartUploadsResult page: appends uploads to *arr (realloc'd,
 * *n entries), sets *ret_truncated and the next markers (new strings or
 * NULL; caller frees).
 */
enum store_err s3xml_parse_uploads(const char *body, size_t len, size_t strip,
				   struct store_upload **arr, size_t *n, int *ret_truncated,
				   char **ret_next_key, char **ret_next_upload,
				   struct store_error *err);

/* Request bodies. Return 0 or a buf error (-ENOMEM, -E2BIG). */
int s3xml_build_complete(struct buf *out, const struct store_part *parts, size_t n);
/* DeleteObjects in quiet mode; @prefix (may be "") is prepended to every key. */
int s3xml_build_delete(struct buf *out, const char *prefix, const char *const *keys, size_t n);
/* Append @s with &, <, >, ", ' and control characters as character references. */
int s3xml_escape(struct buf *out, const char *s);

/* S3 error code (e.g. "NoSuchKey") and HTTP status → store error. */
enum store_err s3_map_error(const char *code, long http_status);
/* 1 if a response with this status/code should be retried. */
int s3_error_retryable(const char *code, long http_status);

/* "2009-10-12T17:50:30.000Z" → timespec; 0 or -EINVAL. */
int s3_parse_iso8601(const char *s, struct timespec *ret);
/* Percent-decoding ('+' is a space) of encoding-type=url values; caller frees. */
char *s3_url_decode(const char *s);

#endif
