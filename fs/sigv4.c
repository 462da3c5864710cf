/*
 * AWS Signature Version 4: canonical request, string to sign, signing key
 * derivation and signature, for header and query signing. Pure functions over
 * a request description; all memory is in caller-owned bufs, so the module
 * has no state and is thread-safe. Checked against the aws-c-auth vectors in
 * tests/test_sigv4.c.
 */
#include "fs/sigv4.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define SIGV4_ALGO "AWS4-HMAC-SHA256"

static const char hexdig[] = "0123456789abcdef";

void sigv4_hex(const void *data, size_t n, char *out)
{
	const unsigned char *in = data;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	sigv4_hex(md, sizeof(md), out);
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		snprintf(out, 17, "19700101T000000Z");
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash)
{
	static const char HEX[] = "0123456789ABCDEF";
	size_t i;
	int r;

	r = buf_grow(out, len * 3);
	if (r < 0)
		return r;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			out->data[out->len++] = (char)c;
		} else {
			out->data[out->len++] = '%';
			out->data[out->len++] = HEX[c >> 4];
			out->data[out->len++] = HEX[c & 15];
		}
	}
	out->data[out->len] = '\0';
	return 0;
}

void sigv4_result_init(struct sigv4_result *res)
{
	memset(res, 0, sizeof(*res));
	buf_init(&res->canonical, 1 << 20);
	buf_init(&res->string_to_sign, 1 << 20);
	buf_init(&res->signed_headers, 1 << 16);
	buf_init(&res->authorization, 1 << 16);
	buf_init(&res->query, 1 << 20);
}

void sigv4_result_release(struct sigv4_result *res)
{
	buf_release(&res->canonical);
	buf_release(&res->string_to_sign);
	buf_release(&res->signed_headers);
	buf_release(&res->authorization);
	buf_release(&res->query);
}

static void result_reset(struct sigv4_result *res)
{
	buf_reset(&res->canonical);
	buf_reset(&res->string_to_sign);
	buf_reset(&res->signed_headers);
	buf_reset(&res->authorization);
	buf_reset(&res->query);
	res->signature[0] = '\0';
}

/*
 * Canonical URI. Without normalisation the path is encoded as it is (S3 keys
 * may contain "//" and ".."). With it, "." and empty segments vanish and ".."
 * removes the previous segment; a trailing '/' survives if anything remains.
 */
static int canonical_path(struct buf *out, const char *path, int normalize)
{
	const char **segs = NULL;
	size_t *lens = NULL, nseg = 0, i, plen = strlen(path);
	const char *p = path, *end = path + plen;
	int r = 0, trailing;

	if (!normalize || plen == 0)
		return plen ? sigv4_uri_encode(out, path, plen, 1) : buf_putc(out, '/');
	segs = calloc(plen + 1, sizeof(*segs));
	lens = calloc(plen + 1, sizeof(*lens));
	if (!segs || !lens) {
		r = -ENOMEM;
		goto out;
	}
	while (p < end) {
		const char *q = memchr(p, '/', (size_t)(end - p));
		size_t n;

		if (!q)
			q = end;
		n = (size_t)(q - p);
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* empty or "." segment: drop */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg)
				nseg--;
		} else {
			segs[nseg] = p;
			lens[nseg++] = n;
		}
		p = q + 1;
	}
	trailing = end[-1] == '/';
	r = buf_putc(out, '/');
	for (i = 0; r == 0 && i < nseg; i++) {
		r = sigv4_uri_encode(out, segs[i], lens[i], 0);
		if (r == 0 && (i + 1 < nseg || trailing))
			r = buf_putc(out, '/');
	}
out:
	free(segs);
	free(lens);
	return r;
}

struct enc_kv {
	char *name;
	char *value;
};

static int enc_kv_cmp(const void *a, const void *b)
{
	const struct enc_kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

int sigv4_canonical_query(struct buf *out, const struct sigv4_kv *q, size_t n)
{
	struct enc_kv *kv;
	struct buf tmp;
	size_t i;
	int r = 0;

	if (n == 0)
		return 0;
	kv = calloc(n, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	buf_init(&tmp, 1 << 20);
	for (i = 0; i < n; i++) {
		const char *v = q[i].value ? q[i].value : "";

		buf_reset(&tmp);
		r = sigv4_uri_encode(&tmp, q[i].name, strlen(q[i].name), 0);
		if (r < 0)
			goto out;
		kv[i].name = strdup(tmp.data);
		buf_reset(&tmp);
		r = sigv4_uri_encode(&tmp, v, strlen(v), 0);
		if (r < 0)
			goto out;
		kv[i].value = strdup(tmp.data);
		if (!kv[i].name || !kv[i].value) {
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(kv, n, sizeof(*kv), enc_kv_cmp);
	for (i = 0; i < n && r == 0; i++)
		r = buf_printf(out, "%s%s=%s", i ? "&" : "", kv[i].name, kv[i].value);
out:
	for (i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
	buf_release(&tmp);
	return r;
}

struct canon_hdr {
	char *name;  /* lower case */
	char *value; /* trimmed, whitespace runs collapsed */
	size_t order;
};

static int canon_hdr_cmp(const void *a, const void *b)
{
	const struct canon_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *canon_value(const char *v)
{
	char *out = malloc(strlen(v) + 1), *o = out;
	int pending_space = 0;

	if (!out)
		return NULL;
	while (is_ws(*v))
		v++;
	for (; *v; v++) {
		if (is_ws(*v)) {
			pending_space = 1;
			continue;
		}
		if (pending_space)
			*o++ = ' ';
		pending_space = 0;
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

/*
 * Canonical headers block ("name:value\n"...) into @out and the signed header
 * list into @signed_list. @extra are added to @r->headers (x-amz-date, token).
 */
static int canonical_headers(struct buf *out, struct buf *signed_list, const struct sigv4_kv *h,
			     size_t nh, const struct sigv4_kv *extra, size_t nextra)
{
	size_t n = nh + nextra, i, j, k;
	struct canon_hdr *ch;
	int r = 0;

	ch = calloc(n ? n : 1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct sigv4_kv *kv = i < nh ? &h[i] : &extra[i - nh];

		ch[i].name = strdup(kv->name);
		ch[i].value = canon_value(kv->value ? kv->value : "");
		ch[i].order = i;
		if (!ch[i].name || !ch[i].value) {
			r = -ENOMEM;
			goto out;
		}
		for (k = 0; ch[i].name[k]; k++)
			if (ch[i].name[k] >= 'A' && ch[i].name[k] <= 'Z')
				ch[i].name[k] = (char)(ch[i].name[k] - 'A' + 'a');
	}
	qsort(ch, n, sizeof(*ch), canon_hdr_cmp);
	for (i = 0; i < n && r == 0; i = j) {
		r = buf_printf(out, "%s:%s", ch[i].name, ch[i].value);
		for (j = i + 1; r == 0 && j < n && strcmp(ch[j].name, ch[i].name) == 0; j++)
			r = buf_printf(out, ",%s", ch[j].value);
		if (r == 0)
			r = buf_putc(out, '\n');
		if (r == 0)
			r = buf_printf(signed_list, "%s%s", i ? ";" : "", ch[i].name);
	}
out:
	for (i = 0; i < n; i++) {
		free(ch[i].name);
		free(ch[i].value);
	}
	free(ch);
	return r;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;

	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
		    &len)
		       ? 0
		       : -ENOMEM;
}

static int has_host(const struct sigv4_req *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, "host") == 0)
			return 1;
	return 0;
}

/*
 * Shared core: canonical request from path, @query (already complete for
 * presigning) and headers; then string to sign and signature.
 */
static int sign_core(const struct sigv4_req *r, const struct sigv4_creds *c,
		     const struct sigv4_kv *query, size_t nquery, const struct sigv4_kv *extra,
		     size_t nextra, struct sigv4_result *res)
{
	unsigned char k1[32], k2[32], md[32];
	char hash[65], date[9], *secret_key = NULL;
	struct buf hdrs;
	int rc;

	buf_init(&hdrs, 1 << 20);
	rc = buf_printf(&res->canonical, "%s\n", r->method);
	if (rc == 0)
		rc = canonical_path(&res->canonical, r->path, r->normalize);
	if (rc == 0)
		rc = buf_putc(&res->canonical, '\n');
	if (rc == 0)
		rc = sigv4_canonical_query(&res->canonical, query, nquery);
	if (rc == 0)
		rc = buf_putc(&res->canonical, '\n');
	if (rc == 0)
		rc = canonical_headers(&hdrs, &res->signed_headers, r->headers, r->nheaders, extra,
				       nextra);
	if (rc == 0)
		rc = buf_printf(&res->canonical, "%s\n%s\n%s", hdrs.data, res->signed_headers.data,
				r->payload_hash ? r->payload_hash : SIGV4_EMPTY_SHA256);
	if (rc < 0)
		goto out;

	memcpy(date, res->amz_date, 8);
	date[8] = '\0';
	sigv4_sha256_hex(res->canonical.data, res->canonical.len, hash);
	rc = buf_printf(&res->string_to_sign, SIGV4_ALGO "\n%s\n%s/%s/%s/aws4_request\n%s",
			res->amz_date, date, r->region, r->service, hash);
	if (rc < 0)
		goto out;

	if (asprintf(&secret_key, "AWS4%s", c->secret_key) < 0) {
		secret_key = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = hmac(secret_key, strlen(secret_key), date, k1);
	if (rc == 0)
		rc = hmac(k1, 32, r->region, k2);
	if (rc == 0)
		rc = hmac(k2, 32, r->service, k1);
	if (rc == 0)
		rc = hmac(k1, 32, "aws4_request", k2);
	if (rc == 0)
		rc = hmac(k2, 32, res->string_to_sign.data, md);
	if (rc == 0)
		sigv4_hex(md, 32, res->signature);
out:
	if (secret_key) {
		OPENSSL_cleanse(secret_key, strlen(secret_key));
		free(secret_key);
	}
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	buf_release(&hdrs);
	return rc;
}

static int check_args(const struct sigv4_req *r, const struct sigv4_creds *c)
{
	if (!r->method || !r->path || !r->region || !r->service || !c || !c->access_key ||
	    !c->secret_key || !has_host(r))
		return -EINVAL;
	return 0;
}

static int has_token(const struct sigv4_creds *c)
{
	return c->session_token && c->session_token[0];
}

int sigv4_sign_headers(const struct sigv4_req *r, const struct sigv4_creds *c,
		       struct sigv4_result *res)
{
	struct sigv4_kv extra[2];
	size_t nextra = 0;
	char date[9];
	int rc;

	rc = check_args(r, c);
	if (rc < 0)
		return rc;
	result_reset(res);
	sigv4_amz_date(r->when, res->amz_date);
	extra[nextra++] = (struct sigv4_kv){ "x-amz-date", res->amz_date };
	if (has_token(c) && !r->omit_token_from_signature)
		extra[nextra++] = (struct sigv4_kv){ "x-amz-security-token", c->session_token };
	rc = sign_core(r, c, r->query, r->nquery, extra, nextra, res);
	if (rc < 0)
		return rc;
	memcpy(date, res->amz_date, 8);
	date[8] = '\0';
	return buf_printf(&res->authorization,
			  SIGV4_ALGO " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
				     "Signature=%s",
			  c->access_key, date, r->region, r->service, res->signed_headers.data,
			  res->signature);
}

/* Append "&name=value" (value encoded; names here are all unreserved). */
static int query_add(struct buf *q, const char *name, const char *value)
{
	int r = buf_printf(q, "%s%s=", q->len ? "&" : "", name);

	return r < 0 ? r : sigv4_uri_encode(q, value, strlen(value), 0);
}

int sigv4_presign(const struct sigv4_req *r, const struct sigv4_creds *c, long expires,
		  struct sigv4_result *res)
{
	struct sigv4_kv *q = NULL;
	char date[9], cred[512], exp[24];
	struct buf signed_list, scratch;
	size_t n, i;
	int rc, tok;

	rc = check_args(r, c);
	if (rc < 0)
		return rc;
	if (expires < 1 || expires > 604800)
		return -EINVAL;
	result_reset(res);
	buf_init(&signed_list, 1 << 16);
	buf_init(&scratch, 1 << 20);
	sigv4_amz_date(r->when, res->amz_date);
	memcpy(date, res->amz_date, 8);
	date[8] = '\0';
	snprintf(cred, sizeof(cred), "%s/%s/%s/%s/aws4_request", c->access_key, date, r->region,
		 r->service);
	snprintf(exp, sizeof(exp), "%ld", expires);

	/* The signed header list is needed inside the query that is signed. */
	rc = canonical_headers(&scratch, &signed_list, r->headers, r->nheaders, NULL, 0);
	if (rc < 0)
		goto out;

	tok = has_token(c);
	q = calloc(r->nquery + 6, sizeof(*q));
	if (!q) {
		rc = -ENOMEM;
		goto out;
	}
	for (n = 0; n < r->nquery; n++)
		q[n] = r->query[n];
	q[n++] = (struct sigv4_kv){ "X-Amz-Algorithm", SIGV4_ALGO };
	q[n++] = (struct sigv4_kv){ "X-Amz-Credential", cred };
	q[n++] = (struct sigv4_kv){ "X-Amz-Date", res->amz_date };
	q[n++] = (struct sigv4_kv){ "X-Amz-Expires", exp };
	if (tok && !r->omit_token_from_signature)
		q[n++] = (struct sigv4_kv){ "X-Amz-Security-Token", c->session_token };
	q[n++] = (struct sigv4_kv){ "X-Amz-SignedHeaders", signed_list.data };

	rc = sign_core(r, c, q, n, NULL, 0, res);
	if (rc < 0)
		goto out;

	/* Query to send: the caller's parameters first, then the X-Amz-* ones. */
	for (i = 0; i < r->nquery && rc == 0; i++) {
		rc = buf_printf(&res->query, "%s", res->query.len ? "&" : "");
		if (rc == 0)
			rc = sigv4_uri_encode(&res->query, r->query[i].name,
					      strlen(r->query[i].name), 0);
		if (rc == 0)
			rc = buf_putc(&res->query, '=');
		if (rc == 0 && r->query[i].value)
			rc = sigv4_uri_encode(&res->query, r->query[i].value,
					      strlen(r->query[i].value), 0);
	}
	if (rc == 0)
		rc = query_add(&res->query, "X-Amz-Algorithm", SIGV4_ALGO);
	if (rc == 0)
		rc = query_add(&res->query, "X-Amz-Credential", cred);
	if (rc == 0)
		rc = query_add(&res->query, "X-Amz-Date", res->amz_date);
	if (rc == 0)
		rc = query_add(&res->query, "X-Amz-SignedHeaders", signed_list.data);
	if (rc == 0)
		rc = query_add(&res->query, "X-Amz-Expires", exp);
	if (rc == 0 && tok)
		rc = query_add(&res->query, "X-Amz-Security-Token", c->session_token);
	if (rc == 0)
		rc = query_add(&res->query, "X-Amz-Signature", res->signature);
out:
	free(q);
	buf_release(&signed_list);
	buf_release(&scratch);
	return rc;
}
