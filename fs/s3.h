/*
 * s3: the S3 backend of struct store (fs/store.h) over libcurl, with our own
 * SigV4 (fs/sigv4.h), the AWS CLI credential chain (fs/creds.h) and libxml2
 * response parsing.
 *
 * Options (a JSON object; every member optional):
 *   endpoint         "http://127.0.0.1:8000" (default https://s3.REGION.amazonaws.com)
 *   region           default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1
 *   path_style       true/false; default: true for IP addresses, "localhost" and
 *                    bucket names that are not DNS-safe, else virtual-host style
 *   ca_bundle        PEM file of trusted CAs (default: the system store; also AWS_CA_BUNDLE)
 *   profile          AWS profile name (see fs/creds.h)
 *   access_key, secret_key, session_token   explicit credentials
 *   payload_signing  "signed" | "unsigned" | "auto" (default: signed over http,
 *                    UNSIGNED-PAYLOAD over https where TLS protects the body)
 *   checksum         "auto" (default) | "md5" | "none": "auto" adds MD5 only to
 *                    UNSIGNED-PAYLOAD uploads (a signed payload's SHA-256 is
 *                    already checked by the server): Content-MD5 when the
 *                    caller knows it (store_body.dig), else computed while
 *                    sending and compared with a plain-MD5 ETag (mismatch:
 *                    STORE_EDIGEST, retried). "md5": Content-MD5 on every
 *                    upload; "none": no MD5 at all.
 *   part_size        bytes per multipart part for store_put_file (default 8 MiB)
 *   parallel         parts / ranges in flight per transfer (default 4)
 *   connections      keep-alive handles in the pool (default 16)
 *   retries          attempts after the first (default 5)
 *   retry_base_ms, retry_max_ms   backoff: full jitter in [0, min(max, base * 2^n)]
 *                    (defaults 100 and 5000)
 *   retry_total_ms   stop retrying once this much time has passed (default 60000)
 *   connect_timeout_ms  (default 10000)
 *   stall_timeout_ms    abort a transfer that moves no byte for this long (default 30000)
 *   request_timeout_ms  whole-request limit, 0 = none (default 0)
 *   multipart_copy_threshold  copy objects larger than this with UploadPartCopy
 *                    (default 5 GiB, S3's CopyObject limit)
 *   clock_offset_s   seconds added to the local clock when signing (correct a skew)
 *
 * Errors name the bucket and key and never contain credentials, Authorization
 * headers or presigned URLs. All store ops are thread-safe: curl easy handles
 * come from a mutex-protected pool (one thread per handle at a time),
 * sharing DNS and TLS sessions through a curl_share with lock callbacks.
 * curl_global_init() must have run before the first call (main does it).
 */
#ifndef STEPFS_S3_H
#define STEPFS_S3_H

#include <jansson.h>

#include "fs/store.h"

/*
 * Open bucket @bucket (with optional key prefix @prefix, "" or NULL for none;
 * a '/' is appended if missing). @options as above (borrowed, may be NULL).
 * Credentials are loaded now; a failure to find them, or a bad option, returns
 * NULL with @err filled (STORE_ECREDS, STORE_EINVAL). No network I/O happens
 * here. The caller frees with store_free().
 */
struct store *s3_store_open(const char *bucket, const char *prefix, json_t *options,
			    struct store_error *err);

/*
 * A presigned GET URL for @key valid for @expires seconds; a new string the
 * caller frees (never log it: it grants access). NULL on failure with @err set.
 */
char *s3_presign_get(struct store *s, const char *key, long expires, struct store_error *err);

/* Where the credentials came from ("environment", ...), for `stepfs check`. */
const char *s3_creds_source(struct store *s);
/* The access key id in use (not secret; shown by `stepfs check`). */
const char *s3_access_key(struct store *s);
/* The endpoint URL and region in use. */
const char *s3_endpoint(struct store *s);
const char *s3_region(struct store *s);

#endif
