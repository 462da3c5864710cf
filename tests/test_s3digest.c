/*
 * Unit tests for the body digests of fs/s3.c uploads, against a tiny HTTP
 * server on 127.0.0.1 in a thread (it records each request's headers and
 * body and answers 200 with an ETag that is the MD5 of the body, or a wrong
 * one on demand). Checked: digests supplied in store_body.dig become
 * x-amz-content-sha256 / Content-MD5 as the options say (and are not
 * recomputed: a deliberately wrong supplied SHA-256 is what goes out);
 * without them the hash is computed; checksum=auto sends MD5 only with
 * UNSIGNED-PAYLOAD and otherwise checks the ETag against the MD5 of what
 * was sent (a wrong ETag fails with STORE_EDIGEST after the retries);
 * xfer_defaults() asks for the digests the settings use.
 */
#include "fs/s3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "tests/harness.h"

struct srv {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t lock;
	int stop;         /* protected by lock */
	int bad_etag;     /* 1: answer with an ETag that is not the body's MD5,
			   * 2: with one that is not an MD5 at all (multipart style) */
	int requests;     /* count */
	char method[16];  /* of the last request */
	char sha[128];    /* x-amz-content-sha256 of the last request */
	char md5[64];     /* Content-MD5 of the last request, "" if none */
	char body_md5[33];
};

static void hdr_value(const char *head, const char *name, char *out, size_t outlen)
{
	const char *p = head;
	size_t n = strlen(name);

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(out, outlen, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return;
		}
	}
}

static void md5_hex(const char *d, size_t n, char out[33])
{
	unsigned char md[16];
	unsigned int l;
	int i;

	EVP_Digest(d, n, md, &l, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* serve one connection until the client closes it */
static void serve_conn(struct srv *s, int fd)
{
	static char buf[1 << 20];
	size_t len = 0;

	for (;;) {
		char *end, head[8192], cl[32], resp[256];
		size_t hlen, blen;
		ssize_t k;

		while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
			k = read(fd, buf + len, sizeof(buf) - len);
			if (k <= 0)
				return;
			len += (size_t)k;
		}
		hlen = (size_t)(end - buf) + 4;
		snprintf(head, sizeof(head), "%.*s", (int)hlen, buf);
		hdr_value(head, "Content-Length", cl, sizeof(cl));
		blen = (size_t)strtoul(cl, NULL, 10);
		while (len < hlen + blen) {
			k = read(fd, buf + len, sizeof(buf) - len);
			if (k <= 0)
				return;
			len += (size_t)k;
		}
		pthread_mutex_lock(&s->lock);
		s->requests++;
		snprintf(s->method, sizeof(s->method), "%.*s", (int)strcspn(head, " "), head);
		hdr_value(head, "x-amz-content-sha256", s->sha, sizeof(s->sha));
		hdr_value(head, "Content-MD5", s->md5, sizeof(s->md5));
		md5_hex(buf + hlen, blen, s->body_md5);
		snprintf(resp, sizeof(resp),
			 "HTTP/1.1 200 OK\r\nETag: \"%s\"\r\nContent-Length: 0\r\n\r\n",
			 s->bad_etag == 1   ? "0123456789abcdef0123456789abcdef"
			 : s->bad_etag == 2 ? "0123456789abcdef0123456789abcdef-2"
					    : s->body_md5);
		pthread_mutex_unlock(&s->lock);
		if (write(fd, resp, strlen(resp)) < 0)
			return;
		memmove(buf, buf + hlen + blen, len - hlen - blen);
		len -= hlen + blen;
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p = { s->lfd, POLLIN, 0 };
		int stop, fd;

		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			return NULL;
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve_conn(s, fd);
		close(fd);
	}
}

static int srv_start(struct srv *s)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->lfd, 8) < 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) < 0)
		return -errno;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, srv_main, s) == 0 ? 0 : -1;
}

static void srv_stop(struct srv *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->th, NULL);
	close(s->lfd);
	pthread_mutex_destroy(&s->lock);
}

static struct store *open_opts(struct srv *s, const char *extra)
{
	struct store_error e;
	char js[512];
	json_error_t jerr;
	json_t *o;
	struct store *st;

	snprintf(js, sizeof(js),
		 "{\"endpoint\": \"http://127.0.0.1:%d\", \"access_key\": \"AK\", "
		 "\"secret_key\": \"SK\", \"retries\": 2, \"retry_base_ms\": 1, "
		 "\"retry_max_ms\": 2%s%s}",
		 s->port, extra[0] ? ", " : "", extra);
	o = json_loads(js, 0, &jerr);
	memset(&e, 0, sizeof(e));
	st = store_open("s3://bucket", o, &e);
	if (!st)
		fprintf(stderr, "store_open: %s\n", e.message);
	json_decref(o);
	return st;
}

static unsigned want_of(struct store *st)
{
	struct store_xfer_opts xo = STORE_XFER_OPTS_INIT;

	st->ops->xfer_defaults(st, &xo);
	return xo.digests;
}

static enum store_err put(struct store *st, const char *data, size_t n,
			  const struct store_digests *dig, struct store_error *e)
{
	struct store_body b = STORE_BODY_MEM(data, n);

	b.dig = dig;
	memset(e, 0, sizeof(*e));
	return store_put(st, "k", &b, NULL, NULL, e);
}

int main(void)
{
	static char data[5000];
	char sha_hex[65], md5_b64[32], bad_hex[65];
	struct store_digests dig, wrong;
	struct store_error e;
	struct store *st;
	struct srv s;
	unsigned int l;
	int i;

	curl_global_init(CURL_GLOBAL_ALL);
	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (char)('a' + i % 23);
	memset(&dig, 0, sizeof(dig));
	EVP_Digest(data, sizeof(data), dig.sha256, &l, EVP_sha256(), NULL);
	EVP_Digest(data, sizeof(data), dig.md5, &l, EVP_md5(), NULL);
	dig.have = STORE_DIGEST_SHA256 | STORE_DIGEST_MD5;
	for (i = 0; i < 32; i++)
		sprintf(sha_hex + 2 * i, "%02x", dig.sha256[i]);
	EVP_EncodeBlock((unsigned char *)md5_b64, dig.md5, 16);
	wrong = dig;
	wrong.sha256[0] ^= 1;
	for (i = 0; i < 32; i++)
		sprintf(bad_hex + 2 * i, "%02x", wrong.sha256[i]);
	CHECK(srv_start(&s) == 0);

	/* http default: SHA-256-signed payload, no Content-MD5 */
	st = open_opts(&s, "");
	CHECK(st != NULL);
	CHECK_INT_EQ(want_of(st), STORE_DIGEST_SHA256);
	CHECK_INT_EQ(put(st, data, sizeof(data), NULL, &e), STORE_OK);
	CHECK_STR_EQ(s.sha, sha_hex); /* computed */
	CHECK_STR_EQ(s.md5, "");
	CHECK_INT_EQ(put(st, data, sizeof(data), &dig, &e), STORE_OK);
	CHECK_STR_EQ(s.sha, sha_hex);
	CHECK_STR_EQ(s.md5, "");
	/* the supplied digest is what is sent (not recomputed): a wrong one shows */
	CHECK_INT_EQ(put(st, data, sizeof(data), &wrong, &e), STORE_OK);
	CHECK_STR_EQ(s.sha, bad_hex);
	/* the ETag is not checked with a signed payload (the server checks the hash) */
	s.bad_etag = 1;
	CHECK_INT_EQ(put(st, data, sizeof(data), &dig, &e), STORE_OK);
	s.bad_etag = 0;
	store_free(st);

	/* checksum=md5 forces Content-MD5 next to the signed payload */
	st = open_opts(&s, "\"checksum\": \"md5\"");
	CHECK_INT_EQ(want_of(st), STORE_DIGEST_SHA256 | STORE_DIGEST_MD5);
	CHECK_INT_EQ(put(st, data, sizeof(data), NULL, &e), STORE_OK);
	CHECK_STR_EQ(s.sha, sha_hex);
	CHECK_STR_EQ(s.md5, md5_b64);
	CHECK_INT_EQ(put(st, data, sizeof(data), &dig, &e), STORE_OK);
	CHECK_STR_EQ(s.md5, md5_b64);
	store_free(st);

	/* unsigned, checksum auto: Content-MD5 when supplied ... */
	st = open_opts(&s, "\"payload_signing\": \"unsigned\"");
	CHECK_INT_EQ(want_of(st), STORE_DIGEST_MD5);
	CHECK_INT_EQ(put(st, data, sizeof(data), &dig, &e), STORE_OK);
	CHECK_STR_EQ(s.sha, "UNSIGNED-PAYLOAD");
	CHECK_STR_EQ(s.md5, md5_b64);
	/* ... else none up front, and the ETag is checked against what was sent */
	CHECK_INT_EQ(put(st, data, sizeof(data), NULL, &e), STORE_OK);
	CHECK_STR_EQ(s.md5, "");
	s.requests = 0;
	s.bad_etag = 1;
	CHECK_INT_EQ(put(st, data, sizeof(data), NULL, &e), STORE_EDIGEST);
	CHECK_INT_EQ(s.requests, 4); /* retried (retries = 2), then DELETE */
	CHECK(strstr(e.message, "is not the MD5 of the data sent") != NULL);
	CHECK(strstr(e.message, "the corrupted object was deleted") != NULL);
	CHECK_STR_EQ(s.method, "DELETE");
	/* an ETag that is not a plain MD5 (SSE-KMS, multipart) is not compared */
	s.bad_etag = 2;
	CHECK_INT_EQ(put(st, data, sizeof(data), NULL, &e), STORE_OK);
	s.bad_etag = 0;
	store_free(st);

	/* unsigned, checksum none: nothing, and no ETag check */
	st = open_opts(&s, "\"payload_signing\": \"unsigned\", \"checksum\": \"none\"");
	CHECK_INT_EQ(want_of(st), 0);
	s.bad_etag = 1;
	CHECK_INT_EQ(put(st, data, sizeof(data), &dig, &e), STORE_OK);
	CHECK_STR_EQ(s.sha, "UNSIGNED-PAYLOAD");
	CHECK_STR_EQ(s.md5, "");
	s.bad_etag = 0;
	store_free(st);

	/* upload part: the same rules */
	st = open_opts(&s, "\"payload_signing\": \"unsigned\"");
	{
		struct store_body b = STORE_BODY_MEM(data, sizeof(data));
		struct store_part part;

		s.bad_etag = 1;
		CHECK_INT_EQ(st->ops->mpu_put_part(st, "k", "UP", 1, &b, &part, &e), STORE_EDIGEST);
		s.bad_etag = 0;
		CHECK_INT_EQ(st->ops->mpu_put_part(st, "k", "UP", 1, &b, &part, &e), STORE_OK);
		CHECK_STR_EQ(part.etag, s.body_md5);
		b.dig = &dig;
		CHECK_INT_EQ(st->ops->mpu_put_part(st, "k", "UP", 2, &b, &part, &e), STORE_OK);
		CHECK_STR_EQ(s.md5, md5_b64);
		/* a request document (not object data) gets Content-MD5 when unsigned */
		(void)st->ops->mpu_complete(st, "k", "UP", &part, 1, NULL, &e);
		CHECK_STR_EQ(s.method, "POST");
		CHECK(s.md5[0] != '\0');
	}
	store_free(st);

	srv_stop(&s);
	curl_global_cleanup();
	return TEST_DONE();
}
