/*
 * sigv4: AWS Signature Version 4 on OpenSSL's HMAC and SHA-256, for the S3
 * client and anything else that speaks SigV4 (STS, Step Functions later).
 *
 * Two ways to sign one request description (struct sigv4_req):
 *  - sigv4_sign_headers(): the Authorization header (plus X-Amz-Date, and
 *    X-Amz-Security-Token when there is a session token) the caller sends;
 *  - sigv4_presign(): the query string of a presigned URL.
 * Both also return the canonical request, string to sign and signature so that
 * tests compare every step with the AWS vectors.
 *
 * Paths, query names and values are passed raw (not percent-encoded); this
 * module encodes them per AWS rules (everything but A-Za-z0-9-._~, and in paths
 * '/' is kept). S3 signs the path exactly as sent (normalize = 0); other
 * services remove dot segments and empty segments first (normalize = 1).
 *
 * No state, no globals: every function is thread-safe. Results never contain
 * the secret key; the signature and presigned query are secrets of their own
 * and must not be logged.
 */
#ifndef STEPFS_SIGV4_H
#define STEPFS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "engine/buf.h"

/* A name/value pair; value NULL means "" (a query parameter without '='). */
struct sigv4_kv {
	const char *name;
	const char *value;
};

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "" when there is none */
};

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* SHA-256 of the empty string, the payload hash of a request without a body. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_req {
	const char *method;                  /* "GET", "PUT", ... */
	const char *path;                    /* raw, starting with '/' */
	int normalize;                       /* 1: drop "." / ".." / empty segments */
	const struct sigv4_kv *query;        /* raw names and values, any order */
	size_t nquery;
	const struct sigv4_kv *headers;      /* must include "host"; any case, any order;
					      * duplicates are joined with ',' */
	size_t nheaders;
	const char *payload_hash;            /* hex SHA-256 or SIGV4_UNSIGNED_PAYLOAD */
	const char *region;                  /* "us-east-1" */
	const char *service;                 /* "s3" */
	time_t when;                         /* request time, UTC */
	int omit_token_from_signature;       /* sign without the session token, add it after
					      * (some services want that; S3 does not) */
};

/* What signing produced. Caller-owned: sigv4_result_init() then sigv4_result_release(). */
struct sigv4_result {
	char amz_date[17];        /* "YYYYMMDDTHHMMSSZ", also the X-Amz-Date header value */
	char signature[65];       /* lower-case hex */
	struct buf canonical;     /* the canonical request */
	struct buf string_to_sign;
	struct buf signed_headers; /* "host;x-amz-date" */
	struct buf authorization; /* sigv4_sign_headers(): the Authorization header value */
	struct buf query;         /* sigv4_presign(): the full encoded query string (no '?') */
};
void sigv4_result_init(struct sigv4_result *res);
void sigv4_result_release(struct sigv4_result *res);

/*
 * Header signing. The signed header set is @r's headers plus x-amz-date and,
 * with a session token (unless omit_token_from_signature), x-amz-security-token:
 * the caller must send "X-Amz-Date: res->amz_date", the token header if any,
 * and "Authorization: res->authorization". The caller adds
 * x-amz-content-sha256 to @r->headers itself if the service needs it (S3 does).
 * Returns 0, -ENOMEM, or -EINVAL (missing method/path/host/credentials).
 * On failure @res holds no partial results worth using.
 */
int sigv4_sign_headers(const struct sigv4_req *r, const struct sigv4_creds *c,
		       struct sigv4_result *res);

/*
 * Query (presigned URL) signing, valid for @expires seconds (1..604800).
 * res->query is the complete query string to append after '?': @r's parameters
 * and the X-Amz-* ones, encoded, ending with X-Amz-Signature.
 * Returns 0, -ENOMEM or -EINVAL.
 */
int sigv4_presign(const struct sigv4_req *r, const struct sigv4_creds *c, long expires,
		  struct sigv4_result *res);

/*
 * Append @s[0..len) percent-encoded per AWS rules: A-Za-z0-9-._~ stay, every
 * other byte becomes %XX (upper-case hex); '/' stays when @keep_slash.
 * Returns 0 or a buf_add() error.
 */
int sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash);

/*
 * Append the canonical query string of @q: names and values encoded, pairs
 * sorted by name then value, joined with '&' ("a=1&b="). The same string is
 * a valid query to send. Returns 0, -ENOMEM or -E2BIG.
 */
int sigv4_canonical_query(struct buf *out, const struct sigv4_kv *q, size_t n);

/* @n bytes as lower-case hex into @out (2 * @n + 1 bytes with the NUL). */
void sigv4_hex(const void *in, size_t n, char *out);

/* Lower-case hex SHA-256 of data[0..len) into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* Format @t as "YYYYMMDDTHHMMSSZ" (17 bytes with the NUL). */
void sigv4_amz_date(time_t t, char out[17]);

#endif
