/*
 * The S3 backend of struct store: requests over libcurl, signed with our own
 * SigV4, retried with exponential backoff and full jitter, XML parsed by
 * fs/s3xml.c.
 *
 * Connections. libcurl allows one thread per easy handle at a time, so
 * handles live in a pool guarded by s3->pool_lock: a request takes an idle
 * handle (or creates one while fewer than `connections` exist, else waits on
 * pool_cond), uses it without any lock held, and gives it back. A handle keeps
 * its keep-alive connection between requests; curl_easy_reset() clears the
 * options but not the connection. All handles share DNS and TLS sessions via
 * one curl_share whose lock callbacks use share_locks[]. Sockets are created
 * with SOCK_CLOEXEC (libcurl 7.88 does not), so spawned tasks never inherit
 * an S3 connection.
 *
 * Retries. A request is retried when curl reports a connection error or
 * timeout, or the server answers 5xx, 429, or an S3 throttling code
 * (SlowDown, RequestTimeout...), at most `retries` more times and never past
 * `retry_total_ms`. The request is re-signed and its body re-read from the
 * start each time; the body's hashes are computed once.
 *
 * Lock order: creds_lock and pool_lock are never held together, and neither
 * is held across network I/O (creds_lock may be held while a
 * credential_process runs, which blocks only other signers).
 */
#include "fs/s3.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "engine/buf.h"
#include "engine/log.h"
#include "fs/creds.h"
#include "fs/s3_i.h"
#include "fs/sigv4.h"

#define S3_ERRBODY_CAP (64u << 10)
#define S3_XMLBODY_CAP (32u << 20)
#define S3_MAX_SINGLE_PUT (5ull << 30)
#define S3_CREDS_REFRESH_MARGIN 600

struct s3 {
	struct store base; /* first: a struct store * is a struct s3 * */
	char *bucket;
	char *prefix;       /* "" or ending with '/' */
	char *endpoint;     /* as configured, without trailing '/' */
	char *url_base;     /* scheme://host[:port][/bucket], no trailing '/' */
	char *host_header;  /* what Host: says (and what is signed) */
	char *region;
	char *ca_bundle;    /* NULL: system store */
	int https;
	int path_style;
	int sign_payload;   /* 1: SHA-256 of the body, 0: UNSIGNED-PAYLOAD */
	int md5;            /* enum s3_md5: Content-MD5 on uploads */
	uint64_t part_size;
	int parallel;
	int retries;
	long retry_base_ms, retry_max_ms, retry_total_ms;
	long connect_timeout_ms, stall_timeout_ms, request_timeout_ms;
	uint64_t mpcopy_threshold;
	long clock_offset;

	pthread_mutex_t creds_lock;
	struct creds creds;          /* protected by creds_lock */
	struct creds_opts creds_opts; /* strings owned below; immutable after open */
	char *opt_profile, *opt_ak, *opt_sk, *opt_token;

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct conn **idle; /* protected by pool_lock */
	size_t nidle;  /* protected by pool_lock */
	size_t created; /* protected by pool_lock */
	size_t max_handles;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

static const struct store_ops s3_ops;
static enum store_err s3_del(struct store *s, const char *key, struct store_error *err);

/*
 * Content-MD5 (option checksum). A signed payload already makes the server
 * check every byte (it rejects a body whose SHA-256 differs from the signed
 * x-amz-content-sha256), so by default ("auto") MD5 goes along only with an
 * UNSIGNED-PAYLOAD body: as Content-MD5 when the caller knows it in advance
 * (store_body.dig), else computed while the body is sent and compared with
 * the ETag the server returns when that is a plain MD5 (as the AWS SDKs do).
 * "md5" always sends Content-MD5 (reading the body once more if need be),
 * "none" never checks.
 */
enum s3_md5 { S3_MD5_AUTO, S3_MD5_ALWAYS, S3_MD5_NONE };

/* ---- small helpers ---- */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int base64(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	if (outlen < 4 * ((n + 2) / 3) + 1)
		return -EINVAL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return 0;
}

/* ---- the handle pool and the share ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct s3 *s3 = userp;

	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&s3->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	struct s3 *s3 = userp;

	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&s3->share_locks[data]);
}

/* A pooled handle, and the socket of its connection (its own: not shared). */
struct conn {
	CURL *h;
	curl_socket_t sock; /* the last socket curl opened for h, or CURL_SOCKET_BAD */
};

static curl_socket_t open_cloexec(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct conn *c = clientp;

	c->sock = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return c->sock;
}

/* curl is done with @fd: forget it (its number may be given to another file). */
static int close_sock(void *clientp, curl_socket_t fd)
{
	struct conn *c = clientp;

	if (c->sock == fd)
		c->sock = CURL_SOCKET_BAD;
	return close(fd);
}

/*
 * libcurl 7.88 makes the wakeup socketpair of the multi handle inside each
 * easy handle (created at its first transfer) without close-on-exec, and
 * offers no callback for it. Mark every socket above stderr close-on-exec
 * once a new handle has run: no part of stepfs means a socket to survive an
 * exec (stdin/stdout/stderr, which may be journald's socket, are left alone).
 */
static void cloexec_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	struct stat st;
	int fd, fl;

	if (!d)
		return;
	while ((de = readdir(d))) {
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(d) || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
	closedir(d);
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->h);
	free(c);
}

static struct conn *pool_get(struct s3 *s3, int *ret_new)
{
	struct conn *c = NULL;

	*ret_new = 0;
	pthread_mutex_lock(&s3->pool_lock);
	for (;;) {
		if (s3->nidle) {
			c = s3->idle[--s3->nidle];
			break;
		}
		if (s3->created < s3->max_handles) {
			s3->created++;
			pthread_mutex_unlock(&s3->pool_lock);
			c = calloc(1, sizeof(*c));
			if (c) {
				c->sock = CURL_SOCKET_BAD;
				c->h = curl_easy_init();
			}
			if (!c || !c->h) {
				free(c);
				c = NULL;
				pthread_mutex_lock(&s3->pool_lock);
				s3->created--;
				pthread_cond_signal(&s3->pool_cond);
				break;
			}
			*ret_new = 1;
			return c;
		}
		pthread_cond_wait(&s3->pool_cond, &s3->pool_lock);
	}
	pthread_mutex_unlock(&s3->pool_lock);
	return c;
}

static void pool_put(struct s3 *s3, struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&s3->pool_lock);
	s3->idle[s3->nidle++] = c;
	pthread_cond_signal(&s3->pool_cond);
	pthread_mutex_unlock(&s3->pool_lock);
}

/* ---- requests ---- */

struct s3_hdrs { /* what a response's headers said */
	long status;
	uint64_t content_length;
	int have_length;
	char etag[80];
	char content_type[128];
	char last_modified[64];
	char content_range[96];
	int sse_kms;  /* SSE-KMS or SSE-C: the ETag is not the MD5 of the body */
	json_t *meta;
};

struct s3_req {
	const char *op;          /* "put", "head", ... for messages */
	const char *method;
	const char *key;         /* full key (store prefix applied), NULL: the bucket */
	const char *user_key;    /* key as the caller named it, for messages */
	struct sigv4_kv query[8];
	size_t nquery;
	struct sigv4_kv *hdrs;   /* extra request headers (strings owned by hown) */
	size_t nhdrs, ahdrs;
	char **hown;
	size_t nhown;
	const struct store_body *body; /* NULL: no body */
	int if_none_match_star;
	int etag_is_md5;         /* PUT object / part: a plain-MD5 ETag may be checked */

	/* response sinks */
	struct buf resp;         /* XML / error body */
	char *dst;               /* get_range: caller's buffer */
	size_t dst_cap, dst_len;
	uint64_t skip;           /* bytes to drop (ranged GET answered with 200) */
	uint64_t range_off;
	int ranged;
	int fd;                  /* get_to_fd: >= 0 */
	uint64_t fd_base;        /* file offset of the first byte */
	uint64_t fd_cap;         /* 0: unlimited, else at most this many bytes */
	uint64_t fd_written;
	int sink_err;            /* -errno from the fd sink */
	struct s3_hdrs rh;
	int attempts;
	struct conn *conn;       /* the attempt in progress */
};

static void req_init(struct s3_req *r, const char *op, const char *method, const char *key,
		     const char *user_key)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->method = method;
	r->key = key;
	r->user_key = user_key;
	r->fd = -1;
	buf_init(&r->resp, S3_XMLBODY_CAP);
}

static void req_release(struct s3_req *r)
{
	size_t i;

	for (i = 0; i < r->nhown; i++)
		free(r->hown[i]);
	free(r->hown);
	free(r->hdrs);
	buf_release(&r->resp);
	json_decref(r->rh.meta);
	r->rh.meta = NULL;
}

static int req_own(struct s3_req *r, char *s)
{
	char **n;

	if (!s)
		return -ENOMEM;
	n = realloc(r->hown, (r->nhown + 1) * sizeof(*n));
	if (!n) {
		free(s);
		return -ENOMEM;
	}
	r->hown = n;
	r->hown[r->nhown++] = s;
	return 0;
}

static int req_header(struct s3_req *r, const char *name, const char *value)
{
	char *n = strdup(name), *v;
	struct sigv4_kv *nh;

	if (req_own(r, n) < 0)
		return -ENOMEM;
	v = strdup(value);
	if (req_own(r, v) < 0)
		return -ENOMEM;
	if (r->nhdrs == r->ahdrs) {
		size_t na = r->ahdrs ? 2 * r->ahdrs : 8;

		nh = realloc(r->hdrs, na * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		r->hdrs = nh;
		r->ahdrs = na;
	}
	r->hdrs[r->nhdrs++] = (struct sigv4_kv){ n, v };
	return 0;
}

static void req_query(struct s3_req *r, const char *name, const char *value)
{
	if (r->nquery < sizeof(r->query) / sizeof(r->query[0]))
		r->query[r->nquery++] = (struct sigv4_kv){ name, value };
}

/*
 * Acknowledge what arrived at once. A server that writes a response in
 * pieces without TCP_NODELAY (Ceph RGW's beast frontend by default) holds
 * back its last, short piece until the piece before is acknowledged
 * (Nagle), and Linux delays that acknowledgement by up to 40 ms: a page of
 * 1000 keys from ListObjectsV2 took 30-40 ms instead of 10 (10,000 keys:
 * 0.32-0.47 s, 0.16 s with the server's tcp_nodelay). TCP_QUICKACK does not
 * stick, so it is set again each time data arrives: at the end of the
 * headers and with every piece of the body.
 */
static void quickack(struct s3_req *r)
{
#ifdef TCP_QUICKACK
	int one = 1;

	if (r->conn && r->conn->sock != CURL_SOCKET_BAD)
		(void)setsockopt(r->conn->sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
	(void)r;
#endif
}

static size_t on_header(char *line, size_t size, size_t n, void *userp)
{
	struct s3_req *r = userp;
	size_t len = size * n, nl;
	char *colon, *val, name[128];

	if (len <= 2 && (line[0] == '\r' || line[0] == '\n'))
		quickack(r); /* the empty line: the headers are in */

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		json_decref(r->rh.meta);
		memset(&r->rh, 0, sizeof(r->rh));
		const char *sp = memchr(line, ' ', len);

		r->rh.status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	colon = memchr(line, ':', len);
	if (!colon || (size_t)(colon - line) >= sizeof(name))
		return len;
	memcpy(name, line, (size_t)(colon - line));
	name[colon - line] = '\0';
	val = colon + 1;
	while (val < line + len && (*val == ' ' || *val == '\t'))
		val++;
	nl = (size_t)(line + len - val);
	while (nl && (val[nl - 1] == '\r' || val[nl - 1] == '\n' || val[nl - 1] == ' '))
		nl--;
#define COPYVAL(dst)                                                          \
	snprintf(dst, sizeof(dst), "%.*s", (int)(nl < sizeof(dst) ? nl : sizeof(dst) - 1), val)
	if (strcasecmp(name, "etag") == 0) {
		const char *v = val;
		size_t vn = nl;

		if (vn && v[0] == '"') {
			v++;
			vn--;
		}
		if (vn && v[vn - 1] == '"')
			vn--;
		snprintf(r->rh.etag, sizeof(r->rh.etag), "%.*s",
			 (int)(vn < sizeof(r->rh.etag) ? vn : sizeof(r->rh.etag) - 1), v);
	} else if (strcasecmp(name, "content-length") == 0) {
		r->rh.content_length = strtoull(val, NULL, 10);
		r->rh.have_length = 1;
	} else if (strcasecmp(name, "content-type") == 0) {
		COPYVAL(r->rh.content_type);
	} else if (strcasecmp(name, "last-modified") == 0) {
		COPYVAL(r->rh.last_modified);
	} else if (strcasecmp(name, "content-range") == 0) {
		COPYVAL(r->rh.content_range);
	} else if ((strcasecmp(name, "x-amz-server-side-encryption") == 0 &&
		    nl >= 3 && memmem(val, nl, "kms", 3)) ||
		   strcasecmp(name, "x-amz-server-side-encryption-customer-algorithm") == 0) {
		r->rh.sse_kms = 1;
	} else if (strncasecmp(name, "x-amz-meta-", 11) == 0 && name[11]) {
		char *k = name + 11, *v;
		size_t i;

		for (i = 0; k[i]; i++)
			if (k[i] >= 'A' && k[i] <= 'Z')
				k[i] = (char)(k[i] - 'A' + 'a');
		if (!r->rh.meta)
			r->rh.meta = json_object();
		v = strndup(val, nl);
		if (r->rh.meta && v)
			json_object_set_new(r->rh.meta, k, json_stringn_nocheck(v, nl));
		free(v);
	}
#undef COPYVAL
	return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
	struct s3_req *r = userp;
	size_t len = size * n, take;

	quickack(r);
	if (r->rh.status >= 300 || r->rh.status < 200) {
		if (r->resp.len < S3_ERRBODY_CAP)
			(void)buf_add(&r->resp, data,
				      len < S3_ERRBODY_CAP - r->resp.len ? len
									 : S3_ERRBODY_CAP - r->resp.len);
		return len;
	}
	if (r->dst) {
		if (r->ranged && r->rh.status == 200 && r->skip == 0 && r->dst_len == 0 &&
		    r->range_off && !r->rh.content_range[0])
			r->skip = r->range_off; /* server ignored Range: drop the head */
		if (r->skip) {
			take = len < r->skip ? len : (size_t)r->skip;
			r->skip -= take;
			data += take;
			len -= take;
			r->range_off = 0;
		}
		take = len < r->dst_cap - r->dst_len ? len : r->dst_cap - r->dst_len;
		memcpy(r->dst + r->dst_len, data, take);
		r->dst_len += take;
		return size * n; /* excess beyond the range is dropped */
	}
	if (r->fd >= 0) {
		size_t done = 0;

		if (r->ranged && r->range_off && r->rh.status == 200) {
			r->sink_err = -ERANGE; /* server ignored Range */
			return 0;
		}
		if (r->fd_cap && len > r->fd_cap - r->fd_written)
			len = (size_t)(r->fd_cap - r->fd_written);
		while (done < len) {
			ssize_t w = pwrite(r->fd, data + done, len - done,
					   (off_t)(r->fd_base + r->fd_written + done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				r->sink_err = -errno;
				return 0;
			}
			done += (size_t)w;
		}
		r->fd_written += len;
		return size * n;
	}
	if (buf_add(&r->resp, data, len) < 0) {
		r->sink_err = -E2BIG;
		return 0;
	}
	return len;
}

struct body_reader {
	const struct store_body *b;
	uint64_t pos;
	int err;
	EVP_MD_CTX *md5; /* MD5 of what was sent, or NULL */
	int md5_ok;      /* md5 covers [0, pos) */
};

static size_t on_read(char *dst, size_t size, size_t n, void *userp)
{
	struct body_reader *br = userp;
	size_t want = size * n;
	uint64_t left = br->b->len - br->pos;
	ssize_t got;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (br->b->data) {
		memcpy(dst, (const char *)br->b->data + br->pos, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(br->b->fd, dst, want, br->b->off + (off_t)br->pos);
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			br->err = got < 0 ? -errno : -EIO; /* file shrank under us */
			return CURL_READFUNC_ABORT;
		}
	}
	if (br->md5 && br->md5_ok && !EVP_DigestUpdate(br->md5, dst, (size_t)got))
		br->md5_ok = 0;
	br->pos += (uint64_t)got;
	return (size_t)got;
}

static int on_seek(void *userp, curl_off_t offset, int origin)
{
	struct body_reader *br = userp;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > br->b->len)
		return CURL_SEEKFUNC_CANTSEEK;
	br->pos = (uint64_t)offset;
	if (br->md5) /* a rewind starts the digest over; anything else loses it */
		br->md5_ok = offset == 0 && EVP_DigestInit_ex(br->md5, EVP_md5(), NULL);
	return CURL_SEEKFUNC_OK;
}

/* 1 if @etag is a plain MD5 (32 hex digits), as S3 returns for a PUT without SSE-KMS. */
static int etag_plain_md5(const char *etag)
{
	size_t i;

	for (i = 0; etag[i]; i++)
		if (!((etag[i] >= '0' && etag[i] <= '9') || (etag[i] >= 'a' && etag[i] <= 'f') ||
		      (etag[i] >= 'A' && etag[i] <= 'F')))
			return 0;
	return i == 32;
}

/* SHA-256 (hex) and/or MD5 (base64) of a body, reading an fd body once. */
static enum store_err body_hashes(const struct store_body *b, char sha_hex[65], char md5_b64[32],
				  struct store_error *err, const char *what)
{
	EVP_MD_CTX *sha = NULL, *md5 = NULL;
	unsigned char md[EVP_MAX_MD_SIZE], *tmp = NULL;
	unsigned int mdlen;
	uint64_t pos = 0;
	enum store_err rc = STORE_OK;

	if (sha_hex) {
		sha = EVP_MD_CTX_new();
		if (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))
			goto nomem;
	}
	if (md5_b64) {
		md5 = EVP_MD_CTX_new();
		if (!md5 || !EVP_DigestInit_ex(md5, EVP_md5(), NULL))
			goto nomem;
	}
	if (b->data) {
		if (sha)
			EVP_DigestUpdate(sha, b->data, b->len);
		if (md5)
			EVP_DigestUpdate(md5, b->data, b->len);
	} else if (b->len) {
		tmp = malloc(1 << 20);
		if (!tmp)
			goto nomem;
		while (pos < b->len) {
			size_t want = b->len - pos < (1 << 20) ? (size_t)(b->len - pos) : (1 << 20);
			ssize_t got = pread(b->fd, tmp, want, b->off + (off_t)pos);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				rc = store_set_error(err, STORE_EIO, 0, NULL,
						     "%s: cannot read the data to upload: %s", what,
						     got < 0 ? strerror(errno) : "file is shorter");
				goto out;
			}
			if (sha)
				EVP_DigestUpdate(sha, tmp, (size_t)got);
			if (md5)
				EVP_DigestUpdate(md5, tmp, (size_t)got);
			pos += (uint64_t)got;
		}
	}
	if (sha) {
		EVP_DigestFinal_ex(sha, md, &mdlen);
		sigv4_hex(md, mdlen, sha_hex);
	}
	if (md5) {
		EVP_DigestFinal_ex(md5, md, &mdlen);
		base64(md, mdlen, md5_b64, 32);
	}
	goto out;
nomem:
	rc = store_set_error(err, STORE_ENOMEM, 0, NULL, "%s: out of memory", what);
out:
	free(tmp);
	EVP_MD_CTX_free(sha);
	EVP_MD_CTX_free(md5);
	return rc;
}

/* "s3://bucket/key" for messages (the store's prefix included). */
static void name_obj(struct s3 *s3, const struct s3_req *r, char *out, size_t outlen)
{
	if (r->key)
		snprintf(out, outlen, "s3://%s/%s", s3->bucket, r->key);
	else
		snprintf(out, outlen, "s3://%s", s3->bucket);
}

static enum store_err map_curl(CURLcode cc, int *retry)
{
	*retry = 0;
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		*retry = 1;
		return STORE_ERESOLVE;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		*retry = 1;
		return STORE_ECONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		*retry = 1;
		return STORE_ETIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CRL_BADFILE:
		return STORE_ETLS;
	case CURLE_OUT_OF_MEMORY:
		return STORE_ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return STORE_EINVAL;
	default:
		return STORE_ECONNECT;
	}
}

/* Apply the options every request needs (after curl_easy_reset()). */
static void setup_handle(struct s3 *s3, struct conn *c, struct s3_req *r, char *errbuf)
{
	CURL *h = c->h;

	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, s3->share);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_sock);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s3->connect_timeout_ms);
	if (s3->request_timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s3->request_timeout_ms);
	if (s3->stall_timeout_ms > 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
				 (s3->stall_timeout_ms + 999) / 1000);
	}
	if (s3->ca_bundle)
		curl_easy_setopt(h, CURLOPT_CAINFO, s3->ca_bundle);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
}

/* Build the URL: base + encoded key + '?' + canonical query. */
static int build_url(struct s3 *s3, const struct s3_req *r, struct buf *url, char **ret_path)
{
	struct buf path = BUF_INIT_CAP(1 << 16);
	int rc;

	if (s3->path_style)
		rc = buf_printf(&path, "/%s/", s3->bucket);
	else
		rc = buf_putc(&path, '/');
	if (rc == 0 && r->key)
		rc = buf_puts(&path, r->key);
	if (rc == 0)
		rc = buf_puts(url, s3->url_base);
	if (rc == 0) {
		const char *p = path.data;

		/* url_base already holds "/bucket" in path style */
		if (s3->path_style)
			p += 1 + strlen(s3->bucket);
		rc = sigv4_uri_encode(url, p, strlen(p), 1);
	}
	if (rc == 0 && r->nquery) {
		rc = buf_putc(url, '?');
		if (rc == 0)
			rc = sigv4_canonical_query(url, r->query, r->nquery);
	}
	if (rc == 0) {
		*ret_path = buf_detach(&path, NULL);
		if (!*ret_path)
			rc = -ENOMEM;
	}
	buf_release(&path);
	return rc;
}

/* Refresh expiring credentials; called with creds_lock held. */
static enum store_err creds_fresh(struct s3 *s3, struct store_error *err)
{
	struct creds c;
	char msg[512] = "";
	int r;

	if (!creds_expiring(&s3->creds, time(NULL), S3_CREDS_REFRESH_MARGIN))
		return STORE_OK;
	r = creds_load(&s3->creds_opts, &c, msg, sizeof(msg));
	if (r < 0) {
		/* keep using the old ones until they have really expired */
		if (!creds_expiring(&s3->creds, time(NULL), 0))
			return STORE_OK;
		return store_set_error(err, STORE_ECREDS, 0, NULL,
				       "credentials expired and refreshing failed: %s", msg);
	}
	if (creds_expiring(&c, time(NULL), 0)) {
		/* as botocore: refreshed, but still expired */
		char src[sizeof(c.source)];

		snprintf(src, sizeof(src), "%s", c.source);
		creds_release(&c);
		return store_set_error(err, STORE_ECREDS, 0, NULL,
				       "credentials from %s were refreshed but are still expired",
				       src);
	}
	creds_release(&s3->creds);
	s3->creds = c;
	return STORE_OK;
}

/* One attempt. Returns the outcome; *retry says whether another may help. */
static enum store_err perform_once(struct s3 *s3, struct conn *c, struct s3_req *r,
				   const char *payload_hash, const char *md5_b64, int verify_md5,
				   int *retry, struct store_error *err)
{
	CURL *h = c->h;
	struct curl_slist *sl = NULL, *t;
	struct buf url = BUF_INIT_CAP(1 << 17), line = BUF_INIT_CAP(1 << 17);
	struct sigv4_kv *sh = NULL;
	struct sigv4_result sres;
	struct sigv4_req sreq;
	struct body_reader br = { r->body, 0, 0, NULL, 0 };
	char errbuf[CURL_ERROR_SIZE] = "", obj[1200], *path = NULL;
	enum store_err rc = STORE_OK;
	CURLcode cc;
	size_t i, nsh = 0;
	int x;

	*retry = 0;
	sigv4_result_init(&sres);
	curl_easy_reset(h);
	setup_handle(s3, c, r, errbuf);
	r->conn = c;
	name_obj(s3, r, obj, sizeof(obj));
	if (build_url(s3, r, &url, &path) < 0)
		goto nomem;

	sh = calloc(r->nhdrs + 3, sizeof(*sh));
	if (!sh)
		goto nomem;
	sh[nsh++] = (struct sigv4_kv){ "host", s3->host_header };
	sh[nsh++] = (struct sigv4_kv){ "x-amz-content-sha256", payload_hash };
	if (md5_b64)
		sh[nsh++] = (struct sigv4_kv){ "content-md5", md5_b64 };
	for (i = 0; i < r->nhdrs; i++)
		sh[nsh++] = r->hdrs[i];
	memset(&sreq, 0, sizeof(sreq));
	sreq.method = r->method;
	sreq.path = path;
	sreq.query = r->query;
	sreq.nquery = r->nquery;
	sreq.headers = sh;
	sreq.nheaders = nsh;
	sreq.payload_hash = payload_hash;
	sreq.region = s3->region;
	sreq.service = "s3";
	sreq.when = time(NULL) + s3->clock_offset;

	pthread_mutex_lock(&s3->creds_lock);
	rc = creds_fresh(s3, err);
	if (rc == STORE_OK) {
		struct sigv4_creds sc = { s3->creds.access_key, s3->creds.secret_key,
					  s3->creds.session_token };

		x = sigv4_sign_headers(&sreq, &sc, &sres);
		if (x == 0 && sc.session_token)
			x = buf_printf(&line, "X-Amz-Security-Token: %s", sc.session_token);
		if (x < 0)
			rc = store_set_error(err, x == -ENOMEM ? STORE_ENOMEM : STORE_EINVAL, 0,
					     NULL, "%s '%s': cannot sign the request", r->op, obj);
	}
	pthread_mutex_unlock(&s3->creds_lock);
	if (rc != STORE_OK)
		goto out;
	if (line.len) {
		t = curl_slist_append(sl, line.data);
		if (!t)
			goto nomem;
		sl = t;
	}
	for (i = 0; i < nsh; i++) {
		buf_reset(&line);
		if (buf_printf(&line, "%s: %s", sh[i].name, sh[i].value) < 0)
			goto nomem;
		t = curl_slist_append(sl, line.data);
		if (!t)
			goto nomem;
		sl = t;
	}
	buf_reset(&line);
	if (buf_printf(&line, "X-Amz-Date: %s", sres.amz_date) < 0)
		goto nomem;
	t = curl_slist_append(sl, line.data);
	if (!t)
		goto nomem;
	sl = t;
	buf_reset(&line);
	if (buf_printf(&line, "Authorization: %s", sres.authorization.data) < 0)
		goto nomem;
	t = curl_slist_append(sl, line.data);
	OPENSSL_cleanse(line.data, line.len);
	if (!t)
		goto nomem;
	sl = t;
	if (!r->body) {
		/* no "Content-Type:" or "Accept:" surprises on body-less requests */
		t = curl_slist_append(sl, "Accept:");
		if (t)
			sl = t;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, sl);

	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "GET") != 0) {
		if (r->body || strcmp(r->method, "DELETE") != 0) {
			static const struct store_body empty = { "", -1, 0, 0, NULL };

			if (!r->body)
				br.b = &empty;
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)br.b->len);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(h, CURLOPT_READDATA, &br);
			curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(h, CURLOPT_SEEKDATA, &br);
			if (verify_md5 && r->body) {
				br.md5 = EVP_MD_CTX_new();
				br.md5_ok = br.md5 && EVP_DigestInit_ex(br.md5, EVP_md5(), NULL);
			}
		}
		if (strcmp(r->method, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}

	/* reset the sinks: an attempt starts from scratch */
	buf_reset(&r->resp);
	r->dst_len = 0;
	r->fd_written = 0;
	r->sink_err = 0;
	r->skip = 0;
	json_decref(r->rh.meta);
	memset(&r->rh, 0, sizeof(r->rh));
	r->attempts++;

	cc = curl_easy_perform(h);
	r->conn = NULL;
	if (cc != CURLE_OK) {
		if (r->sink_err) {
			if (r->sink_err == -ERANGE)
				rc = store_set_error(err, STORE_EPROTO, 200, NULL,
						     "%s '%s': the server ignored the Range header",
						     r->op, obj);
			else
				rc = store_set_error(err, STORE_EIO, 0, NULL,
						     "%s '%s': cannot write data: %s", r->op, obj,
						     strerror(-r->sink_err));
			goto out;
		}
		if (br.err) {
			rc = store_set_error(err, STORE_EIO, 0, NULL,
					     "%s '%s': cannot read the data to upload: %s", r->op,
					     obj, strerror(-br.err));
			goto out;
		}
		rc = map_curl(cc, retry);
		store_set_error(err, rc, 0, NULL, "%s '%s': %s: %s", r->op, obj,
				store_strerror(rc), errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->rh.status);
	if (r->rh.status >= 200 && r->rh.status < 300) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1];

		/* what was sent, hashed on the way, against what the server stored */
		if (br.md5 && br.md5_ok && br.pos == r->body->len && r->etag_is_md5 &&
		    !r->rh.sse_kms && etag_plain_md5(r->rh.etag) &&
		    EVP_DigestFinal_ex(br.md5, md, &mdlen)) {
			sigv4_hex(md, mdlen, hex);
			if (strcasecmp(hex, r->rh.etag) != 0) {
				*retry = 1;
				rc = store_set_error(err, STORE_EDIGEST, (int)r->rh.status, "BadDigest",
						     "%s '%s': the server's ETag %s is not the MD5 "
						     "of the data sent (%s): corrupted on the way",
						     r->op, obj, r->rh.etag, hex);
			}
		}
		goto out;
	}
	{
		char code[64] = "", msg[300] = "";
		const char *hint = "";

		if (!s3xml_parse_error(r->resp.data, r->resp.len, code, sizeof(code), msg,
				       sizeof(msg)))
			code[0] = msg[0] = '\0';
		rc = s3_map_error(code, r->rh.status);
		if (!code[0] && r->rh.status == 404 && !r->key)
			rc = STORE_ENOBUCKET;
		if (rc == STORE_EPRECONDITION && r->if_none_match_star)
			rc = STORE_EEXIST;
		if (!code[0] && r->rh.status == 301)
			hint = " (the bucket is in another region: set the region option)";
		if (rc == STORE_ESIGNATURE)
			hint = " (check the secret key and the region)";
		else if (rc == STORE_ECLOCKSKEW)
			hint = " (check the local clock, or set clock_offset_s)";
		else if (rc == STORE_ENOBUCKET)
			hint = " (check the bucket name and the endpoint)";
		*retry = s3_error_retryable(code, r->rh.status);
		store_set_error(err, rc, (int)r->rh.status, code, "%s '%s': %s%s%s (HTTP %ld)%s",
				r->op, obj, code[0] ? code : store_strerror(rc), msg[0] ? ": " : "",
				msg, r->rh.status, hint);
	}
	goto out;
nomem:
	rc = store_set_error(err, STORE_ENOMEM, 0, NULL, "%s '%s': out of memory", r->op, obj);
out:
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	EVP_MD_CTX_free(br.md5);
	curl_slist_free_all(sl);
	sigv4_result_release(&sres);
	buf_release(&url);
	buf_release(&line);
	free(sh);
	free(path);
	return rc;
}

/* 1 if s3_request() sends Content-MD5 with a request body that is not object data. */
static int md5_on_requests(const struct s3 *s3)
{
	return s3->md5 == S3_MD5_ALWAYS || (s3->md5 == S3_MD5_AUTO && !s3->sign_payload);
}

/*
 * The body digests a request sends: x-amz-content-sha256 (@sha: hex, or
 * UNSIGNED-PAYLOAD) and Content-MD5 (@md5: base64, or "" for none), taken
 * from b->dig where known (unless @recompute) and computed in one pass
 * otherwise. @data: the body is object data (PUT object, upload part), else
 * a small request document (complete, delete many), which gets Content-MD5
 * whenever the payload is unsigned (unless checksum=none). *ret_verify:
 * check the ETag against an MD5 computed while sending (unsigned object
 * data without Content-MD5; see enum s3_md5).
 */
static enum store_err request_digests(struct s3 *s3, const struct store_body *b, int data,
				      int recompute, char sha[65], char md5[32], int *ret_verify,
				      struct store_error *err, const char *what)
{
	const struct store_digests *d = recompute ? NULL : b->dig;
	unsigned have = d ? d->have : 0;
	int want_sha = s3->sign_payload, want_md5;
	enum store_err rc;

	want_md5 = s3->md5 == S3_MD5_ALWAYS ||
		   (s3->md5 == S3_MD5_AUTO && !want_sha && ((have & STORE_DIGEST_MD5) || !data));
	*ret_verify = data && s3->md5 == S3_MD5_AUTO && !want_sha && !want_md5;
	md5[0] = '\0';
	snprintf(sha, 65, "%s", want_sha ? "" : SIGV4_UNSIGNED_PAYLOAD);
	if (want_sha && (have & STORE_DIGEST_SHA256)) {
		sigv4_hex(d->sha256, 32, sha);
		want_sha = 0;
	}
	if (want_md5 && (have & STORE_DIGEST_MD5)) {
		base64(d->md5, 16, md5, 32);
		want_md5 = 0;
	}
	if (!want_sha && !want_md5)
		return STORE_OK;
	rc = body_hashes(b, want_sha ? sha : NULL, want_md5 ? md5 : NULL, err, what);
	return rc;
}

/*
 * Run a request with retries. @r->body's hashes are computed here once
 * (again only if the server found digests the caller supplied wrong).
 * On success the response is in r->rh / r->resp / the sinks.
 */
static enum store_err s3_request(struct s3 *s3, struct s3_req *r, struct store_error *err)
{
	char sha[65] = SIGV4_EMPTY_SHA256, md5[32] = "";
	const char *payload = SIGV4_EMPTY_SHA256;
	long start = now_ms(), delay, cap;
	struct store_error local;
	enum store_err rc;
	int retry, attempt, verify = 0;
	struct conn *c;

	if (!err)
		err = &local;
	if (r->body) {
		rc = request_digests(s3, r->body, r->etag_is_md5, 0, sha, md5, &verify, err, r->op);
		if (rc != STORE_OK)
			return rc;
		payload = sha;
	}
	for (attempt = 0;; attempt++) {
		int fresh;

		c = pool_get(s3, &fresh);
		if (!c)
			return store_set_error(err, STORE_ENOMEM, 0, NULL, "cannot create a curl handle");
		rc = perform_once(s3, c, r, payload, md5[0] ? md5 : NULL, verify, &retry, err);
		if (fresh)
			cloexec_sockets();
		pool_put(s3, c);
		if (rc == STORE_OK || !retry || attempt >= s3->retries)
			break;
		if (rc == STORE_EDIGEST && r->body && r->body->dig && r->body->dig->have) {
			/* the digests we were given may be the wrong ones: hash the body */
			enum store_err e2 = request_digests(s3, r->body, r->etag_is_md5, 1, sha,
							    md5, &verify, err, r->op);

			if (e2 != STORE_OK)
				return e2;
			log_warn("s3: %s: the server rejected the supplied digests; computed "
				 "them again from the data", r->op);
		}
		cap = s3->retry_base_ms << (attempt < 20 ? attempt : 20);
		if (cap > s3->retry_max_ms || cap <= 0)
			cap = s3->retry_max_ms;
		delay = cap > 0 ? (long)arc4random_uniform((uint32_t)cap + 1) : 0;
		if (now_ms() - start + delay > s3->retry_total_ms)
			break;
		log_debug("s3: %s: %s; retry %d in %ld ms", r->op,
			  err ? err->message : store_strerror(rc), attempt + 1, delay);
		sleep_ms(delay);
	}
	if (rc != STORE_OK && err && r->attempts > 1) {
		size_t n = strlen(err->message);

		snprintf(err->message + n, sizeof(err->message) - n,
			 " (gave up after %d attempts in %.1f s)", r->attempts,
			 (now_ms() - start) / 1000.0);
	}
	return rc;
}

/* ---- the store ops ---- */

static char *full_key(struct s3 *s3, const char *key)
{
	char *k;

	if (asprintf(&k, "%s%s", s3->prefix, key ? key : "") < 0)
		return NULL;
	return k;
}

static enum store_err check_key(struct s3 *s3, const char *key, const char *op,
				struct store_error *err)
{
	size_t n = key ? strlen(key) : 0;

	if (!key || !n)
		return store_set_error(err, STORE_EINVAL, 0, NULL, "%s: empty key in bucket '%s'",
				       op, s3->bucket);
	if (n + strlen(s3->prefix) > 1024)
		return store_set_error(err, STORE_EINVAL, 0, "KeyTooLongError",
				       "%s: key '%.60s...' is longer than 1024 bytes", op, key);
	return STORE_OK;
}

static void fill_obj(const struct s3_req *r, struct store_obj *ret)
{
	time_t t;

	memset(ret, 0, sizeof(*ret));
	ret->size = r->rh.content_length;
	snprintf(ret->etag, sizeof(ret->etag), "%s", r->rh.etag);
	snprintf(ret->content_type, sizeof(ret->content_type), "%s", r->rh.content_type);
	if (r->rh.last_modified[0]) {
		t = curl_getdate(r->rh.last_modified, NULL);
		if (t != -1)
			ret->last_modified.tv_sec = t;
	}
	ret->meta = r->rh.meta ? json_incref(r->rh.meta) : NULL;
}

static enum store_err s3_head(struct store *s, const char *key, struct store_obj *ret,
			      struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *k;

	rc = check_key(s3, key, "head", err);
	if (rc != STORE_OK)
		return rc;
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "head", "HEAD", k, key);
	rc = s3_request(s3, &r, err);
	if (rc == STORE_OK && ret)
		fill_obj(&r, ret);
	if (rc != STORE_OK && (r.rh.status == 403 || r.rh.status == 400)) {
		/*
		 * A HEAD error has no body, so "403" cannot tell a bad signature
		 * from a denied key or a skewed clock. Ask again with a one-byte
		 * GET, whose error document names the cause.
		 */
		struct s3_req g;
		char byte;

		req_init(&g, "head", "GET", k, key);
		g.dst = &byte;
		g.dst_cap = 1;
		g.ranged = 1;
		if (req_header(&g, "Range", "bytes=0-0") == 0) {
			struct store_error e2;
			enum store_err rc2;

			memset(&e2, 0, sizeof(e2));
			rc2 = s3_request(s3, &g, &e2);
			if (rc2 != STORE_OK && e2.s3_code[0]) {
				rc = rc2;
				if (err)
					*err = e2;
			}
		}
		req_release(&g);
	}
	req_release(&r);
	free(k);
	return rc;
}

/*
 * GET bytes [@off, @off + @len) into @buf, or with @buf NULL into @fd at
 * offset @off; the bytes received go to *ret_n. A range that starts at or
 * past the end is a short (empty) read, as for read(2).
 */
static enum store_err get_range(struct s3 *s3, const char *key, uint64_t off, uint64_t len,
				void *buf, int fd, size_t *ret_n, struct store_error *err)
{
	struct s3_req r;
	enum store_err rc;
	char range[64], *k;

	rc = check_key(s3, key, "get", err);
	if (rc != STORE_OK)
		return rc;
	if (len == 0) {
		*ret_n = 0;
		return STORE_OK;
	}
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "get", "GET", k, key);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	rc = req_header(&r, "Range", range) < 0 ? STORE_ENOMEM : STORE_OK;
	if (buf) {
		r.dst = buf;
		r.dst_cap = len;
	} else {
		r.fd = fd;
		r.fd_base = off;
		r.fd_cap = len;
	}
	r.ranged = 1;
	r.range_off = off;
	if (rc == STORE_OK)
		rc = s3_request(s3, &r, err);
	if (rc == STORE_EINVAL && r.rh.status == 416) {
		*ret_n = 0;
		rc = STORE_OK;
	} else if (rc == STORE_OK) {
		*ret_n = buf ? r.dst_len : (size_t)r.fd_written;
	}
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_get_range(struct store *s, const char *key, uint64_t off, uint64_t len,
				   void *buf, size_t *ret_n, struct store_error *err)
{
	return get_range((struct s3 *)s, key, off, len, buf, -1, ret_n, err);
}

static enum store_err s3_get_to_fd(struct store *s, const char *key, int fd,
				   struct store_obj *ret, struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *k;

	rc = check_key(s3, key, "get", err);
	if (rc != STORE_OK)
		return rc;
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "get", "GET", k, key);
	r.fd = fd;
	rc = s3_request(s3, &r, err);
	if (rc == STORE_OK && r.rh.have_length && r.fd_written != r.rh.content_length)
		rc = store_set_error(err, STORE_ECONNECT, 200, NULL,
				     "get 's3://%s/%s': got %" PRIu64 " of %" PRIu64 " bytes",
				     s3->bucket, k, r.fd_written, r.rh.content_length);
	if (rc == STORE_OK && ret) {
		fill_obj(&r, ret);
		ret->size = r.fd_written;
	}
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_get_range_to_fd(struct store *s, const char *key, uint64_t off,
					 uint64_t len, int fd, size_t *ret_n,
					 struct store_error *err)
{
	return get_range((struct s3 *)s, key, off, len, NULL, fd, ret_n, err);
}

static int valid_header_value(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 && *v != '\t')
			return 0;
	return 1;
}

static int valid_meta_name(const char *n)
{
	if (!*n)
		return 0;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '-' || *n == '_' || *n == '.'))
			return 0;
	return 1;
}

/* Content-Type, x-amz-meta-*, conditions. */
static enum store_err put_headers(struct s3_req *r, const struct store_put_opts *o,
				  int conditions, struct store_error *err)
{
	const char *name;
	json_t *v;
	char hn[256];

	if (req_header(r, "Content-Type",
		       o && o->content_type ? o->content_type : "application/octet-stream") < 0)
		goto nomem;
	if (o && o->content_type && !valid_header_value(o->content_type))
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "%s '%s': content type contains control characters", r->op,
				       r->user_key);
	if (o && o->meta) {
		if (!json_is_object(o->meta))
			return store_set_error(err, STORE_EINVAL, 0, NULL,
					       "%s '%s': metadata is not a JSON object", r->op,
					       r->user_key);
		json_object_foreach(o->meta, name, v) {
			const char *s = json_string_value(v);

			if (!s || !valid_meta_name(name) || !valid_header_value(s) ||
			    strlen(name) > 200)
				return store_set_error(err, STORE_EINVAL, 0, NULL,
						       "%s '%s': bad metadata '%s' (names: letters, "
						       "digits, '-', '_', '.'; values: strings "
						       "without control characters)",
						       r->op, r->user_key, name);
			snprintf(hn, sizeof(hn), "x-amz-meta-%s", name);
			if (req_header(r, hn, s) < 0)
				goto nomem;
		}
	}
	if (conditions && o && o->if_match && req_header(r, "If-Match", o->if_match) < 0)
		goto nomem;
	if (conditions && o && o->if_none_match_star) {
		if (req_header(r, "If-None-Match", "*") < 0)
			goto nomem;
		r->if_none_match_star = 1;
	}
	return STORE_OK;
nomem:
	return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
}

static enum store_err s3_put(struct store *s, const char *key, const struct store_body *body,
			     const struct store_put_opts *opts, struct store_obj *ret,
			     struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *k;

	rc = check_key(s3, key, "put", err);
	if (rc != STORE_OK)
		return rc;
	if (body->len > S3_MAX_SINGLE_PUT)
		return store_set_error(err, STORE_ETOOLARGE, 0, NULL,
				       "put '%s': %" PRIu64 " bytes is over the 5 GiB single PUT "
				       "limit (use store_put_file)",
				       key, body->len);
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "put", "PUT", k, key);
	r.body = body;
	r.etag_is_md5 = 1;
	rc = put_headers(&r, opts, 1, err);
	if (rc == STORE_OK)
		rc = s3_request(s3, &r, err);
	if (rc == STORE_EDIGEST && r.rh.status >= 200 && r.rh.status < 300) {
		/* stored, but not what was sent (the ETag check): do not leave it readable */
		enum store_err d = s3_del(s, key, NULL);

		if (err) {
			size_t n = strlen(err->message);

			snprintf(err->message + n, sizeof(err->message) - n, "; %s",
				 d == STORE_OK ? "the corrupted object was deleted"
					       : "the corrupted object could not be deleted");
		}
	}
	if (rc == STORE_OK && ret) {
		memset(ret, 0, sizeof(*ret));
		ret->size = body->len;
		snprintf(ret->etag, sizeof(ret->etag), "%s", r.rh.etag);
		snprintf(ret->content_type, sizeof(ret->content_type), "%s",
			 opts && opts->content_type ? opts->content_type
						    : "application/octet-stream");
		clock_gettime(CLOCK_REALTIME, &ret->last_modified);
		ret->meta = opts && opts->meta ? json_deep_copy(opts->meta) : NULL;
	}
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_mpu_create(struct store *s, const char *key,
				    const struct store_put_opts *opts, char **ret_upload_id,
				    struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *k;

	rc = check_key(s3, key, "create multipart upload", err);
	if (rc != STORE_OK)
		return rc;
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "create multipart upload", "POST", k, key);
	req_query(&r, "uploads", NULL);
	rc = put_headers(&r, opts, 0, err);
	if (rc == STORE_OK)
		rc = s3_request(s3, &r, err);
	if (rc == STORE_OK)
		rc = s3xml_parse_initiate(r.resp.data, r.resp.len, ret_upload_id, err);
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_mpu_put_part(struct store *s, const char *key, const char *upload_id,
				      int number, const struct store_body *body,
				      struct store_part *ret, struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char num[16], *k;

	rc = check_key(s3, key, "upload part", err);
	if (rc != STORE_OK)
		return rc;
	if (number < 1 || number > 10000)
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "upload part: part number %d of '%s' is not in 1..10000",
				       number, key);
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	snprintf(num, sizeof(num), "%d", number);
	req_init(&r, "upload part", "PUT", k, key);
	req_query(&r, "partNumber", num);
	req_query(&r, "uploadId", upload_id);
	r.body = body;
	r.etag_is_md5 = 1;
	rc = s3_request(s3, &r, err);
	if (rc == STORE_OK && !r.rh.etag[0])
		rc = store_set_error(err, STORE_EPROTO, (int)r.rh.status, NULL,
				     "upload part %d of 's3://%s/%s': no ETag in the response",
				     number, s3->bucket, k);
	if (rc == STORE_OK && ret) {
		ret->number = number;
		ret->size = body->len;
		snprintf(ret->etag, sizeof(ret->etag), "%s", r.rh.etag);
	}
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_mpu_complete(struct store *s, const char *key, const char *upload_id,
				      const struct store_part *parts, size_t nparts,
				      struct store_obj *ret, struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct buf xml = BUF_INIT_CAP(16u << 20);
	struct store_body body;
	struct store_obj o;
	struct s3_req r;
	enum store_err rc;
	uint64_t total = 0;
	size_t i;
	char *k;

	rc = check_key(s3, key, "complete multipart upload", err);
	if (rc != STORE_OK)
		return rc;
	if (nparts == 0)
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "complete multipart upload of '%s': no parts", key);
	for (i = 0; i < nparts; i++)
		total += parts[i].size;
	k = full_key(s3, key);
	if (!k || s3xml_build_complete(&xml, parts, nparts) < 0) {
		free(k);
		buf_release(&xml);
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	}
	body = STORE_BODY_MEM(xml.data, xml.len);
	req_init(&r, "complete multipart upload", "POST", k, key);
	req_query(&r, "uploadId", upload_id);
	r.body = &body;
	rc = req_header(&r, "Content-Type", "application/xml") < 0 ? STORE_ENOMEM : STORE_OK;
	if (rc == STORE_OK)
		rc = s3_request(s3, &r, err);
	memset(&o, 0, sizeof(o));
	if (rc == STORE_OK)
		rc = s3xml_parse_etag_result(r.resp.data, r.resp.len, &o, err);
	if (rc == STORE_OK && !o.etag[0])
		snprintf(o.etag, sizeof(o.etag), "%s", r.rh.etag);
	if (rc == STORE_OK && !o.etag[0]) {
		/* Ceph RGW 16 sends <ETag></ETag>: ask the object itself */
		struct s3_req hr;

		req_init(&hr, "head", "HEAD", k, key);
		if (s3_request(s3, &hr, NULL) == STORE_OK)
			snprintf(o.etag, sizeof(o.etag), "%s", hr.rh.etag);
		req_release(&hr);
	}
	if (rc == STORE_ENOTFOUND && r.attempts > 1) {
		/*
		 * NoSuchUpload on a retry: the first attempt may have completed
		 * the upload before its response was lost. Accept the object if it
		 * is there with a multipart ETag of this many parts.
		 */
		struct s3_req hr;
		char suffix[24];
		size_t el;

		req_init(&hr, "head", "HEAD", k, key);
		snprintf(suffix, sizeof(suffix), "-%zu", nparts);
		if (s3_request(s3, &hr, NULL) == STORE_OK && hr.rh.content_length == total &&
		    (el = strlen(hr.rh.etag)) > strlen(suffix) &&
		    strcmp(hr.rh.etag + el - strlen(suffix), suffix) == 0) {
			rc = STORE_OK;
			snprintf(o.etag, sizeof(o.etag), "%s", hr.rh.etag);
		}
		req_release(&hr);
	}
	if (rc == STORE_OK && ret) {
		memset(ret, 0, sizeof(*ret));
		ret->size = total;
		snprintf(ret->etag, sizeof(ret->etag), "%s", o.etag);
		ret->last_modified = o.last_modified;
		if (!ret->last_modified.tv_sec)
			clock_gettime(CLOCK_REALTIME, &ret->last_modified);
	}
	req_release(&r);
	buf_release(&xml);
	free(k);
	return rc;
}

static enum store_err s3_mpu_abort(struct store *s, const char *key, const char *upload_id,
				   struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *k;

	rc = check_key(s3, key, "abort multipart upload", err);
	if (rc != STORE_OK)
		return rc;
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "abort multipart upload", "DELETE", k, key);
	req_query(&r, "uploadId", upload_id);
	rc = s3_request(s3, &r, err);
	if (rc == STORE_ENOTFOUND && r.attempts > 1)
		rc = STORE_OK; /* an earlier attempt did it */
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_mpu_list(struct store *s, const char *prefix, struct store_upload **ret,
				  size_t *ret_n, struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct store_upload *arr = NULL;
	size_t n = 0, i;
	char *key_marker = NULL, *id_marker = NULL, *p;
	enum store_err rc;
	int truncated = 1, pages = 0;

	p = full_key(s3, prefix);
	if (!p)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	while (truncated) {
		struct s3_req r;
		char *nk = NULL, *nu = NULL;

		req_init(&r, "list multipart uploads", "GET", NULL, prefix);
		req_query(&r, "uploads", NULL);
		req_query(&r, "encoding-type", "url");
		if (p[0])
			req_query(&r, "prefix", p);
		if (key_marker)
			req_query(&r, "key-marker", key_marker);
		if (id_marker)
			req_query(&r, "upload-id-marker", id_marker);
		rc = s3_request(s3, &r, err);
		if (rc == STORE_OK)
			rc = s3xml_parse_uploads(r.resp.data, r.resp.len, strlen(s3->prefix), &arr,
						 &n, &truncated, &nk, &nu, err);
		req_release(&r);
		free(key_marker);
		free(id_marker);
		key_marker = nk;
		id_marker = nu;
		if (rc != STORE_OK)
			goto fail;
		if (truncated && !key_marker) {
			rc = store_set_error(err, STORE_EPROTO, 200, NULL,
					     "list multipart uploads: truncated without NextKeyMarker");
			goto fail;
		}
		if (++pages > 100000)
			break;
	}
	*ret = arr;
	*ret_n = n;
	free(p);
	return STORE_OK;
fail:
	for (i = 0; i < n; i++) {
		free(arr[i].key);
		free(arr[i].upload_id);
	}
	free(arr);
	free(key_marker);
	free(id_marker);
	free(p);
	return rc;
}

static enum store_err copy_source_header(struct s3 *s3, struct s3_req *r, const char *src_full)
{
	struct buf v = BUF_INIT_CAP(1 << 16);
	int x;

	x = buf_printf(&v, "/%s/", s3->bucket);
	if (x == 0)
		x = sigv4_uri_encode(&v, src_full, strlen(src_full), 1);
	if (x == 0)
		x = req_header(r, "x-amz-copy-source", v.data);
	buf_release(&v);
	return x < 0 ? STORE_ENOMEM : STORE_OK;
}

/* UploadPartCopy loop for sources over the CopyObject limit. */
static enum store_err copy_multipart(struct s3 *s3, const char *src_full,
				     const char *dst, uint64_t size,
				     const struct store_put_opts *opts, const struct store_obj *so,
				     struct store_obj *ret, struct store_error *err)
{
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_part *parts = NULL;
	uint64_t psize = s3->part_size, off;
	char *upload_id = NULL, *dk = NULL;
	enum store_err rc;
	size_t np, i;

	if (psize < (5u << 20))
		psize = 5u << 20;
	while ((size + psize - 1) / psize > 10000)
		psize *= 2;
	np = (size_t)((size + psize - 1) / psize);
	/* metadata: replaced, or carried over from the source */
	po.content_type = opts && opts->meta ? opts->content_type : so->content_type;
	po.meta = opts && opts->meta ? opts->meta : so->meta;
	rc = s3_mpu_create(&s3->base, dst, &po, &upload_id, err);
	if (rc != STORE_OK)
		return rc;
	parts = calloc(np, sizeof(*parts));
	dk = full_key(s3, dst);
	if (!parts || !dk) {
		rc = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto fail;
	}
	for (i = 0, off = 0; i < np; i++, off += psize) {
		uint64_t len = size - off < psize ? size - off : psize;
		struct store_obj po_res;
		struct s3_req r;
		char num[16], range[80];

		snprintf(num, sizeof(num), "%zu", i + 1);
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
		req_init(&r, "copy part", "PUT", dk, dst);
		req_query(&r, "partNumber", num);
		req_query(&r, "uploadId", upload_id);
		rc = copy_source_header(s3, &r, src_full);
		if (rc == STORE_OK && req_header(&r, "x-amz-copy-source-range", range) < 0)
			rc = STORE_ENOMEM;
		if (rc == STORE_OK && opts && opts->if_match &&
		    req_header(&r, "x-amz-copy-source-if-match", opts->if_match) < 0)
			rc = STORE_ENOMEM;
		if (rc == STORE_OK)
			rc = s3_request(s3, &r, err);
		memset(&po_res, 0, sizeof(po_res));
		if (rc == STORE_OK)
			rc = s3xml_parse_etag_result(r.resp.data, r.resp.len, &po_res, err);
		req_release(&r);
		if (rc != STORE_OK)
			goto fail;
		parts[i].number = (int)i + 1;
		parts[i].size = len;
		snprintf(parts[i].etag, sizeof(parts[i].etag), "%s", po_res.etag);
	}
	rc = s3_mpu_complete(&s3->base, dst, upload_id, parts, np, ret, err);
	if (rc != STORE_OK)
		goto fail;
	goto out;
fail:
	(void)s3_mpu_abort(&s3->base, dst, upload_id, NULL);
out:
	free(parts);
	free(dk);
	free(upload_id);
	return rc;
}

static enum store_err s3_copy(struct store *s, const char *src, const char *dst,
			      const struct store_put_opts *opts, struct store_obj *ret,
			      struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct store_obj so, o;
	struct s3_req r;
	enum store_err rc;
	char *sk = NULL, *dk = NULL;

	rc = check_key(s3, src, "copy", err);
	if (rc == STORE_OK)
		rc = check_key(s3, dst, "copy", err);
	if (rc != STORE_OK)
		return rc;
	sk = full_key(s3, src);
	dk = full_key(s3, dst);
	if (!sk || !dk) {
		free(sk);
		free(dk);
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	}
	/* the source's size decides between CopyObject and UploadPartCopy */
	memset(&so, 0, sizeof(so));
	rc = s3_head(s, src, &so, err);
	if (rc != STORE_OK)
		goto out;
	/*
	 * Check the source precondition here too: Ceph RGW 16 ignores
	 * x-amz-copy-source-if-match (it reads x-amz-copy-if-match), and
	 * UploadPartCopy checks each part only. The header is still sent, so
	 * a server that honours it closes the race between HEAD and copy.
	 */
	if (opts && opts->if_match && strcmp(opts->if_match, so.etag) != 0) {
		rc = store_set_error(err, STORE_EPRECONDITION, 412, "PreconditionFailed",
				     "copy '%s': the source's ETag is not '%s'", src,
				     opts->if_match);
		goto out;
	}
	if (so.size > s3->mpcopy_threshold) {
		rc = copy_multipart(s3, sk, dst, so.size, opts, &so, ret, err);
		goto out;
	}
	req_init(&r, "copy", "PUT", dk, dst);
	rc = copy_source_header(s3, &r, sk);
	if (rc == STORE_OK && opts && opts->meta) {
		rc = put_headers(&r, opts, 0, err);
		if (rc == STORE_OK && req_header(&r, "x-amz-metadata-directive", "REPLACE") < 0)
			rc = STORE_ENOMEM;
	} else if (rc == STORE_OK && req_header(&r, "x-amz-metadata-directive", "COPY") < 0) {
		rc = STORE_ENOMEM;
	}
	if (rc == STORE_OK && opts && opts->if_match &&
	    req_header(&r, "x-amz-copy-source-if-match", opts->if_match) < 0)
		rc = STORE_ENOMEM;
	if (rc == STORE_ENOMEM)
		store_set_error(err, rc, 0, NULL, "out of memory");
	if (rc == STORE_OK)
		rc = s3_request(s3, &r, err);
	memset(&o, 0, sizeof(o));
	if (rc == STORE_OK)
		rc = s3xml_parse_etag_result(r.resp.data, r.resp.len, &o, err);
	if (rc == STORE_OK && ret) {
		*ret = o;
		ret->size = so.size;
		snprintf(ret->content_type, sizeof(ret->content_type), "%s",
			 opts && opts->meta && opts->content_type ? opts->content_type
								  : so.content_type);
		ret->meta = opts && opts->meta ? json_deep_copy(opts->meta)
					       : (so.meta ? json_incref(so.meta) : NULL);
	}
	req_release(&r);
out:
	store_obj_release(&so);
	free(sk);
	free(dk);
	return rc;
}

static enum store_err s3_del(struct store *s, const char *key, struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *k;

	rc = check_key(s3, key, "delete", err);
	if (rc != STORE_OK)
		return rc;
	k = full_key(s3, key);
	if (!k)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	req_init(&r, "delete", "DELETE", k, key);
	rc = s3_request(s3, &r, err);
	req_release(&r);
	free(k);
	return rc;
}

static enum store_err s3_del_many(struct store *s, const char *const *keys, size_t n,
				  struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct buf xml = BUF_INIT_CAP(16u << 20);
	struct store_body body;
	struct s3_req r;
	enum store_err rc;
	size_t i;

	if (n == 0)
		return STORE_OK;
	if (n > 1000)
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "delete many: %zu keys, at most 1000 per call", n);
	for (i = 0; i < n; i++) {
		rc = check_key(s3, keys[i], "delete many", err);
		if (rc != STORE_OK)
			return rc;
	}
	/*
	 * XML 1.0 cannot carry control characters other than tab, CR and LF,
	 * not even as character references: such keys are deleted one by one.
	 */
	for (i = 0; i < n; i++) {
		const unsigned char *c = (const unsigned char *)keys[i];

		for (; *c; c++)
			if (*c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r')
				break;
		if (*c)
			break;
	}
	if (i < n) {
		const char **xmlkeys = calloc(n, sizeof(*xmlkeys));
		size_t nx = 0, j;

		if (!xmlkeys)
			return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		rc = STORE_OK;
		for (j = 0; j < n && rc == STORE_OK; j++) {
			const unsigned char *c = (const unsigned char *)keys[j];

			for (; *c; c++)
				if (*c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r')
					break;
			if (*c)
				rc = s3_del(s, keys[j], err);
			else
				xmlkeys[nx++] = keys[j];
		}
		if (rc == STORE_OK)
			rc = s3_del_many(s, xmlkeys, nx, err);
		free(xmlkeys);
		return rc;
	}
	if (s3xml_build_delete(&xml, s3->prefix, keys, n) < 0) {
		buf_release(&xml);
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	}
	body = STORE_BODY_MEM(xml.data, xml.len);
	req_init(&r, "delete many", "POST", NULL, NULL);
	req_query(&r, "delete", NULL);
	r.body = &body;
	rc = req_header(&r, "Content-Type", "application/xml") < 0 ? STORE_ENOMEM : STORE_OK;
	if (rc == STORE_OK && !md5_on_requests(s3)) {
		/* DeleteObjects requires Content-MD5 even when uploads go without */
		unsigned char md[16];
		char b64[32];
		unsigned int ml = 16;

		EVP_Digest(xml.data, xml.len, md, &ml, EVP_md5(), NULL);
		base64(md, 16, b64, sizeof(b64));
		if (req_header(&r, "Content-MD5", b64) < 0)
			rc = STORE_ENOMEM;
	}
	if (rc == STORE_OK)
		rc = s3_request(s3, &r, err);
	if (rc == STORE_OK)
		rc = s3xml_parse_delete(r.resp.data, r.resp.len, strlen(s3->prefix), NULL, err);
	req_release(&r);
	buf_release(&xml);
	return rc;
}

static enum store_err s3_list(struct store *s, const struct store_list_opts *opts,
			      struct store_list *ret, struct store_error *err)
{
	struct s3 *s3 = (struct s3 *)s;
	struct s3_req r;
	enum store_err rc;
	char *p = NULL, *sa = NULL, maxk[16];

	p = full_key(s3, opts && opts->prefix ? opts->prefix : "");
	if (opts && opts->start_after && opts->start_after[0])
		sa = full_key(s3, opts->start_after);
	if (!p || (opts && opts->start_after && opts->start_after[0] && !sa)) {
		free(p);
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	}
	req_init(&r, "list", "GET", NULL, opts && opts->prefix ? opts->prefix : "");
	req_query(&r, "list-type", "2");
	req_query(&r, "encoding-type", "url");
	if (p[0])
		req_query(&r, "prefix", p);
	if (opts && opts->delimiter && opts->delimiter[0])
		req_query(&r, "delimiter", opts->delimiter);
	if (sa)
		req_query(&r, "start-after", sa);
	if (opts && opts->token && opts->token[0])
		req_query(&r, "continuation-token", opts->token);
	if (opts && opts->max_keys > 0) {
		snprintf(maxk, sizeof(maxk), "%d", opts->max_keys);
		req_query(&r, "max-keys", maxk);
	}
	rc = s3_request(s3, &r, err);
	if (rc == STORE_OK)
		rc = s3xml_parse_list(r.resp.data, r.resp.len, strlen(s3->prefix), ret, err);
	req_release(&r);
	free(p);
	free(sa);
	return rc;
}

static void s3_xfer_defaults(struct store *s, struct store_xfer_opts *ret)
{
	struct s3 *s3 = (struct s3 *)s;

	ret->part_size = s3->part_size;
	ret->parallel = s3->parallel;
	ret->digests = 0;
	if (s3->sign_payload)
		ret->digests |= STORE_DIGEST_SHA256;
	if (s3->md5 == S3_MD5_ALWAYS || (s3->md5 == S3_MD5_AUTO && !s3->sign_payload))
		ret->digests |= STORE_DIGEST_MD5;
}

static void s3_free(struct store *s)
{
	struct s3 *s3 = (struct s3 *)s;
	size_t i;

	if (!s3)
		return;
	for (i = 0; i < s3->nidle; i++)
		conn_free(s3->idle[i]);
	free(s3->idle);
	if (s3->share)
		curl_share_cleanup(s3->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s3->share_locks[i]);
	pthread_mutex_destroy(&s3->pool_lock);
	pthread_cond_destroy(&s3->pool_cond);
	pthread_mutex_destroy(&s3->creds_lock);
	creds_release(&s3->creds);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->endpoint);
	free(s3->url_base);
	free(s3->host_header);
	free(s3->region);
	free(s3->ca_bundle);
	free(s3->opt_profile);
	free(s3->opt_ak);
	if (s3->opt_sk) {
		OPENSSL_cleanse(s3->opt_sk, strlen(s3->opt_sk));
		free(s3->opt_sk);
	}
	if (s3->opt_token) {
		OPENSSL_cleanse(s3->opt_token, strlen(s3->opt_token));
		free(s3->opt_token);
	}
	free(s3);
}

static const struct store_ops s3_ops = {
	.name = "s3",
	.head = s3_head,
	.get_range = s3_get_range,
	.get_to_fd = s3_get_to_fd,
	.put = s3_put,
	.mpu_create = s3_mpu_create,
	.mpu_put_part = s3_mpu_put_part,
	.mpu_complete = s3_mpu_complete,
	.mpu_abort = s3_mpu_abort,
	.mpu_list = s3_mpu_list,
	.copy = s3_copy,
	.del = s3_del,
	.del_many = s3_del_many,
	.list = s3_list,
	.free = s3_free,
	.xfer_defaults = s3_xfer_defaults,
	.get_range_to_fd = s3_get_range_to_fd,
};

/* ---- opening ---- */

static const char *opt_str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* Integer option: absent → @def; wrong type or out of range → -1 with err. */
static int opt_int(json_t *o, const char *name, long long def, long long min, long long max,
		   long long *ret, struct store_error *err)
{
	json_t *v = json_object_get(o, name);

	if (!v) {
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		store_set_error(err, STORE_EINVAL, 0, NULL,
				"option '%s' must be an integer in %lld..%lld", name, min, max);
		return -1;
	}
	*ret = json_integer_value(v);
	return 0;
}

static int is_ip_or_localhost(const char *host)
{
	size_t i;
	int dots = 0;

	if (host[0] == '[' || strcmp(host, "localhost") == 0)
		return 1;
	for (i = 0; host[i]; i++) {
		if (host[i] == '.')
			dots++;
		else if (host[i] < '0' || host[i] > '9')
			return 0;
	}
	return dots == 3;
}

static int dns_safe_bucket(const char *b)
{
	size_t i;

	for (i = 0; b[i]; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
			return 0;
	return i >= 3 && i <= 63;
}

static int valid_bucket(const char *b)
{
	size_t i, n = strlen(b);

	if (n < 3 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' && b[i] <= 'Z') ||
		      (b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '.' || b[i] == '_'))
			return 0;
	return 1;
}

static const char *known_opts[] = {
	"endpoint", "region", "path_style", "ca_bundle", "profile", "access_key", "secret_key",
	"session_token", "payload_signing", "checksum", "part_size", "parallel", "connections",
	"retries", "retry_base_ms", "retry_max_ms", "retry_total_ms", "connect_timeout_ms",
	"stall_timeout_ms", "request_timeout_ms", "multipart_copy_threshold", "clock_offset_s",
	NULL
};

static enum store_err parse_endpoint(struct s3 *s3, const char *ep, json_t *path_style_opt,
				     struct store_error *err)
{
	const char *p = ep, *host, *hend, *rest;
	char *hostport = NULL, *hostonly = NULL, *url = NULL;
	size_t n = strlen(ep);

	while (n && ep[n - 1] == '/')
		n--;
	s3->endpoint = strndup(ep, n);
	if (!s3->endpoint)
		goto nomem;
	if (strncmp(p, "https://", 8) == 0) {
		s3->https = 1;
		host = p + 8;
	} else if (strncmp(p, "http://", 7) == 0) {
		host = p + 7;
	} else {
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "endpoint '%s' must start with http:// or https://", ep);
	}
	hend = host + strcspn(host, "/?#");
	rest = hend;
	if (hend == host || (strchr(host, '@') && strchr(host, '@') < hend))
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "endpoint '%s': bad host (no user info allowed)", ep);
	hostport = strndup(host, (size_t)(hend - host));
	if (!hostport)
		goto nomem;
	/* host without port, for the path-style guess */
	if (hostport[0] == '[') {
		char *e = strchr(hostport, ']');

		hostonly = strndup(hostport, e ? (size_t)(e - hostport + 1) : strlen(hostport));
	} else {
		hostonly = strndup(hostport, strcspn(hostport, ":"));
	}
	if (!hostonly)
		goto nomem;
	if (json_is_boolean(path_style_opt)) {
		s3->path_style = json_is_true(path_style_opt);
	} else if (path_style_opt) {
		free(hostport);
		free(hostonly);
		return store_set_error(err, STORE_EINVAL, 0, NULL,
				       "option 'path_style' must be true or false");
	} else
		s3->path_style = is_ip_or_localhost(hostonly) || !dns_safe_bucket(s3->bucket);
	if (s3->path_style) {
		if (asprintf(&url, "%.*s%s%.*s/%s", (int)(host - p), p, hostport,
			     (int)((ep + n) - rest), rest, s3->bucket) < 0)
			goto nomem;
		s3->host_header = hostport;
	} else {
		if (asprintf(&url, "%.*s%s.%s%.*s", (int)(host - p), p, s3->bucket, hostport,
			     (int)((ep + n) - rest), rest) < 0)
			goto nomem;
		if (asprintf(&s3->host_header, "%s.%s", s3->bucket, hostport) < 0) {
			s3->host_header = NULL;
			goto nomem;
		}
		free(hostport);
	}
	hostport = NULL;
	s3->url_base = url;
	free(hostonly);
	return STORE_OK;
nomem:
	free(hostport);
	free(hostonly);
	free(url);
	return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
}

struct store *s3_store_open(const char *bucket, const char *prefix, json_t *options,
			    struct store_error *err)
{
	struct s3 *s3;
	const char *k, *ep, *v;
	json_t *val;
	long long x;
	char msg[512] = "", *cfgregion = NULL;
	size_t i;
	int r;

	if (options && !json_is_object(options)) {
		store_set_error(err, STORE_EINVAL, 0, NULL, "S3 options must be a JSON object");
		return NULL;
	}
	json_object_foreach(options, k, val) {
		for (i = 0; known_opts[i] && strcmp(known_opts[i], k) != 0; i++)
			;
		if (!known_opts[i]) {
			store_set_error(err, STORE_EINVAL, 0, NULL, "unknown S3 option '%s'", k);
			return NULL;
		}
		if (strcmp(k, "path_style") != 0 && i <= 9 && !json_is_string(val)) {
			store_set_error(err, STORE_EINVAL, 0, NULL, "option '%s' must be a string",
					k);
			return NULL;
		}
	}
	if (!bucket || !valid_bucket(bucket)) {
		store_set_error(err, STORE_EINVAL, 0, NULL,
				"bad bucket name '%s' (3-255 characters: letters, digits, '-', '.', '_')",
				bucket ? bucket : "");
		return NULL;
	}
	xmlInitParser();
	s3 = calloc(1, sizeof(*s3));
	if (!s3) {
		store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		return NULL;
	}
	s3->base.ops = &s3_ops;
	pthread_mutex_init(&s3->creds_lock, NULL);
	pthread_mutex_init(&s3->pool_lock, NULL);
	pthread_cond_init(&s3->pool_cond, NULL);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s3->share_locks[i], NULL);
	s3->bucket = strdup(bucket);
	if (!s3->bucket)
		goto nomem;
	if (prefix && prefix[0]) {
		while (*prefix == '/')
			prefix++;
		if (asprintf(&s3->prefix, "%s%s", prefix,
			     prefix[0] && prefix[strlen(prefix) - 1] != '/' ? "/" : "") < 0) {
			s3->prefix = NULL;
			goto nomem;
		}
	} else {
		s3->prefix = strdup("");
	}
	if (!s3->prefix)
		goto nomem;

	/* region */
	v = opt_str(options, "region");
	if (!v || !v[0])
		v = getenv("AWS_REGION");
	if (!v || !v[0])
		v = getenv("AWS_DEFAULT_REGION");
	if (!v || !v[0]) {
		cfgregion = creds_config_get(opt_str(options, "profile"), "region");
		v = cfgregion;
	}
	s3->region = strdup(v && v[0] ? v : "us-east-1");
	free(cfgregion);
	if (!s3->region)
		goto nomem;

	ep = opt_str(options, "endpoint");
	if (!ep || !ep[0])
		ep = getenv("AWS_ENDPOINT_URL_S3");
	if (!ep || !ep[0])
		ep = getenv("AWS_ENDPOINT_URL");
	{
		char *def = NULL;
		enum store_err rc;

		if (!ep || !ep[0]) {
			if (asprintf(&def, "https://s3.%s.amazonaws.com", s3->region) < 0)
				goto nomem;
			ep = def;
		}
		rc = parse_endpoint(s3, ep, json_object_get(options, "path_style"), err);
		free(def);
		if (rc != STORE_OK)
			goto fail;
	}
	v = opt_str(options, "ca_bundle");
	if (!v || !v[0])
		v = getenv("AWS_CA_BUNDLE");
	if (v && v[0]) {
		if (access(v, R_OK) != 0) {
			store_set_error(err, STORE_EINVAL, 0, NULL, "ca_bundle '%s': %s", v,
					strerror(errno));
			goto fail;
		}
		s3->ca_bundle = strdup(v);
		if (!s3->ca_bundle)
			goto nomem;
	}
	v = opt_str(options, "payload_signing");
	if (!v || strcmp(v, "auto") == 0)
		s3->sign_payload = !s3->https;
	else if (strcmp(v, "signed") == 0)
		s3->sign_payload = 1;
	else if (strcmp(v, "unsigned") == 0)
		s3->sign_payload = 0;
	else {
		store_set_error(err, STORE_EINVAL, 0, NULL,
				"option 'payload_signing' must be \"signed\", \"unsigned\" or \"auto\"");
		goto fail;
	}
	v = opt_str(options, "checksum");
	if (!v || strcmp(v, "auto") == 0)
		s3->md5 = S3_MD5_AUTO;
	else if (strcmp(v, "md5") == 0)
		s3->md5 = S3_MD5_ALWAYS;
	else if (strcmp(v, "none") == 0)
		s3->md5 = S3_MD5_NONE;
	else {
		store_set_error(err, STORE_EINVAL, 0, NULL,
				"option 'checksum' must be \"auto\", \"md5\" or \"none\"");
		goto fail;
	}
#define INTOPT(name, def, min, max, field)                                  \
	do {                                                                \
		if (opt_int(options, name, def, min, max, &x, err) < 0)     \
			goto fail;                                          \
		s3->field = x;                                              \
	} while (0)
	INTOPT("part_size", 8LL << 20, 5LL << 20, 5LL << 30, part_size);
	INTOPT("parallel", 4, 1, 64, parallel);
	INTOPT("connections", 16, 1, 256, max_handles);
	INTOPT("retries", 5, 0, 100, retries);
	INTOPT("retry_base_ms", 100, 1, 60000, retry_base_ms);
	INTOPT("retry_max_ms", 5000, 1, 600000, retry_max_ms);
	INTOPT("retry_total_ms", 60000, 0, 86400000, retry_total_ms);
	INTOPT("connect_timeout_ms", 10000, 1, 600000, connect_timeout_ms);
	INTOPT("stall_timeout_ms", 30000, 0, 3600000, stall_timeout_ms);
	INTOPT("request_timeout_ms", 0, 0, 86400000, request_timeout_ms);
	INTOPT("multipart_copy_threshold", 5LL << 30, 5LL << 20, 5LL << 30, mpcopy_threshold);
	INTOPT("clock_offset_s", 0, -86400 * 365, 86400 * 365, clock_offset);
#undef INTOPT
	if ((size_t)s3->parallel > s3->max_handles)
		s3->max_handles = (size_t)s3->parallel;
	s3->idle = calloc(s3->max_handles, sizeof(*s3->idle));
	if (!s3->idle)
		goto nomem;

	s3->share = curl_share_init();
	if (!s3->share)
		goto nomem;
	curl_share_setopt(s3->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(s3->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(s3->share, CURLSHOPT_USERDATA, s3);
	curl_share_setopt(s3->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(s3->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	/* credentials */
#define DUPOPT(name, field)                                 \
	do {                                                \
		v = opt_str(options, name);                 \
		if (v && v[0] && !(s3->field = strdup(v)))  \
			goto nomem;                         \
	} while (0)
	DUPOPT("profile", opt_profile);
	DUPOPT("access_key", opt_ak);
	DUPOPT("secret_key", opt_sk);
	DUPOPT("session_token", opt_token);
#undef DUPOPT
	s3->creds_opts.profile = s3->opt_profile;
	s3->creds_opts.access_key = s3->opt_ak;
	s3->creds_opts.secret_key = s3->opt_sk;
	s3->creds_opts.session_token = s3->opt_token;
	r = creds_load(&s3->creds_opts, &s3->creds, msg, sizeof(msg));
	if (r == -ENOMEM)
		goto nomem;
	if (r < 0) {
		store_set_error(err, STORE_ECREDS, 0, NULL, "bucket '%s': %s", bucket, msg);
		goto fail;
	}
	if (creds_expiring(&s3->creds, time(NULL), 0)) {
		store_set_error(err, STORE_ECREDS, 0, NULL,
				"bucket '%s': the credentials from %s have expired", bucket,
				s3->creds.source);
		goto fail;
	}
	return &s3->base;
nomem:
	store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
fail:
	s3_free(&s3->base);
	return NULL;
}

static struct s3 *as_s3(struct store *s)
{
	return s && s->ops == &s3_ops ? (struct s3 *)s : NULL;
}

const char *s3_creds_source(struct store *s)
{
	struct s3 *s3 = as_s3(s);

	return s3 ? s3->creds.source : "";
}

const char *s3_access_key(struct store *s)
{
	struct s3 *s3 = as_s3(s);

	return s3 && s3->creds.access_key ? s3->creds.access_key : "";
}

const char *s3_endpoint(struct store *s)
{
	struct s3 *s3 = as_s3(s);

	return s3 ? s3->endpoint : "";
}

const char *s3_region(struct store *s)
{
	struct s3 *s3 = as_s3(s);

	return s3 ? s3->region : "";
}

char *s3_presign_get(struct store *s, const char *key, long expires, struct store_error *err)
{
	struct s3 *s3 = as_s3(s);
	struct s3_req r;
	struct sigv4_result res;
	struct sigv4_req sreq;
	struct sigv4_kv h[1];
	struct buf url = BUF_INIT_CAP(1 << 17);
	char *path = NULL, *k = NULL, *out = NULL;
	int x;

	if (!s3) {
		store_set_error(err, STORE_ENOTSUP, 0, NULL, "presigning needs an S3 store");
		return NULL;
	}
	if (check_key(s3, key, "presign", err) != STORE_OK)
		return NULL;
	k = full_key(s3, key);
	if (!k) {
		store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		return NULL;
	}
	req_init(&r, "presign", "GET", k, key);
	sigv4_result_init(&res);
	x = build_url(s3, &r, &url, &path);
	h[0] = (struct sigv4_kv){ "host", s3->host_header };
	memset(&sreq, 0, sizeof(sreq));
	sreq.method = "GET";
	sreq.path = path;
	sreq.headers = h;
	sreq.nheaders = 1;
	sreq.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
	sreq.region = s3->region;
	sreq.service = "s3";
	sreq.when = time(NULL) + s3->clock_offset;
	if (x == 0) {
		struct sigv4_creds sc;

		pthread_mutex_lock(&s3->creds_lock);
		if (creds_fresh(s3, err) != STORE_OK) {
			x = -EACCES;
		} else {
			sc = (struct sigv4_creds){ s3->creds.access_key, s3->creds.secret_key,
						   s3->creds.session_token };
			x = sigv4_presign(&sreq, &sc, expires, &res);
		}
		pthread_mutex_unlock(&s3->creds_lock);
	}
	if (x == 0)
		x = buf_printf(&url, "?%s", res.query.data);
	if (x == 0)
		out = buf_detach(&url, NULL);
	else if (x != -EACCES)
		store_set_error(err, x == -EINVAL ? STORE_EINVAL : STORE_ENOMEM, 0, NULL,
				"presign '%s': %s", key,
				x == -EINVAL ? "expiry must be 1..604800 s" : "out of memory");
	sigv4_result_release(&res);
	buf_release(&url);
	req_release(&r);
	free(path);
	free(k);
	return out;
}
