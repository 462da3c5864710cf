/*
 * Whole-file transfers over any store backend: store_put_file() (one PUT, or
 * a multipart upload with parts in flight on worker threads, aborted on
 * failure) and store_get_file() (one GET, or parallel ranged GETs written at
 * their offsets, checked against a HEAD before and after so that a file
 * replaced during the download is reported, not silently mixed).
 *
 * Workers take the next part number from a shared counter under xfer->lock
 * and stop taking new ones once any part failed; the first error wins. The
 * caller's thread is one of the workers, so parallel = 1 starts no thread.
 * Signals that libfuse handles on the main thread are blocked in workers.
 */
#include "fs/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/parts.h"

#define XFER_MIN_PART (5ull << 20)

struct xfer {
	struct store *s;
	const char *key;
	const char *upload_id; /* put: the multipart upload */
	int fd;
	uint64_t size, part_size;
	size_t nparts;
	struct store_part *parts; /* put: one per part, filled by workers */
	pthread_mutex_t lock;
	size_t next;              /* protected by lock */
	enum store_err rc;        /* protected by lock: first error */
	struct store_error err;   /* protected by lock: detail of the first error */
};

static int xfer_take(struct xfer *x, size_t *ret)
{
	int ok;

	pthread_mutex_lock(&x->lock);
	ok = x->rc == STORE_OK && x->next < x->nparts;
	if (ok)
		*ret = x->next++;
	pthread_mutex_unlock(&x->lock);
	return ok;
}

static void xfer_fail(struct xfer *x, enum store_err rc, const struct store_error *e)
{
	pthread_mutex_lock(&x->lock);
	if (x->rc == STORE_OK) {
		x->rc = rc;
		x->err = *e;
	}
	pthread_mutex_unlock(&x->lock);
}

static void *put_worker(void *arg)
{
	struct xfer *x = arg;
	struct store_error e;
	size_t i;

	while (xfer_take(x, &i)) {
		uint64_t off = (uint64_t)i * x->part_size;
		uint64_t len = x->size - off < x->part_size ? x->size - off : x->part_size;
		struct store_body b = STORE_BODY_FD(x->fd, (off_t)off, len);
		enum store_err rc;

		memset(&e, 0, sizeof(e));
		rc = x->s->ops->mpu_put_part(x->s, x->key, x->upload_id, (int)i + 1, &b,
					     &x->parts[i], &e);
		if (rc != STORE_OK)
			xfer_fail(x, rc, &e);
	}
	return NULL;
}

/* Ranges straight into the file, when the backend can. */
static void *get_fd_worker(void *arg)
{
	struct xfer *x = arg;
	struct store_error e;
	size_t i;

	while (xfer_take(x, &i)) {
		uint64_t off = (uint64_t)i * x->part_size;
		uint64_t len = x->size - off < x->part_size ? x->size - off : x->part_size;
		size_t got = 0;
		enum store_err rc;

		memset(&e, 0, sizeof(e));
		rc = x->s->ops->get_range_to_fd(x->s, x->key, off, len, x->fd, &got, &e);
		if (rc == STORE_OK && got != len)
			rc = store_set_error(&e, STORE_EPRECONDITION, 0, NULL,
					     "get '%s': object changed size during the download "
					     "(range at %" PRIu64 " gave %zu of %" PRIu64 " bytes)",
					     x->key, off, got, len);
		if (rc != STORE_OK)
			xfer_fail(x, rc, &e);
	}
	return NULL;
}

static void *get_worker(void *arg)
{
	struct xfer *x = arg;
	struct store_error e;
	char *buf = malloc(x->part_size);
	size_t i;

	if (!buf) {
		store_set_error(&e, STORE_ENOMEM, 0, NULL, "out of memory for a download buffer");
		xfer_fail(x, STORE_ENOMEM, &e);
		return NULL;
	}
	while (xfer_take(x, &i)) {
		uint64_t off = (uint64_t)i * x->part_size;
		uint64_t len = x->size - off < x->part_size ? x->size - off : x->part_size;
		size_t got = 0, done = 0;
		enum store_err rc;

		memset(&e, 0, sizeof(e));
		rc = x->s->ops->get_range(x->s, x->key, off, len, buf, &got, &e);
		if (rc == STORE_OK && got != len)
			rc = store_set_error(&e, STORE_EPRECONDITION, 0, NULL,
					     "get '%s': object changed size during the download "
					     "(range at %" PRIu64 " gave %zu of %" PRIu64 " bytes)",
					     x->key, off, got, len);
		while (rc == STORE_OK && done < got) {
			ssize_t w = pwrite(x->fd, buf + done, got - done, (off_t)(off + done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				rc = store_set_error(&e, STORE_EIO, 0, NULL,
						     "get '%s': cannot write the local file: %s",
						     x->key, strerror(errno));
			else
				done += (size_t)w;
		}
		if (rc != STORE_OK)
			xfer_fail(x, rc, &e);
	}
	free(buf);
	return NULL;
}

/* Run @fn on @parallel threads (the caller's included). */
static void xfer_run(struct xfer *x, int parallel, void *(*fn)(void *))
{
	pthread_t th[64];
	sigset_t block, old;
	int n = 0, i;

	if (parallel > 64)
		parallel = 64;
	if ((size_t)parallel > x->nparts)
		parallel = (int)x->nparts;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 1; i < parallel; i++)
		if (pthread_create(&th[n], NULL, fn, x) == 0)
			n++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	fn(x);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

static void xfer_opts(struct store *s, const struct store_xfer_opts *in,
		      struct store_xfer_opts *out)
{
	struct store_xfer_opts def = STORE_XFER_OPTS_INIT;

	if (in)
		def = *in;
	else if (s->ops->xfer_defaults)
		s->ops->xfer_defaults(s, &def);
	if (def.part_size == 0)
		def.part_size = 8u << 20;
	if (def.parallel < 1)
		def.parallel = 1;
	*out = def;
}

enum store_err store_put_file(struct store *s, const char *key, int fd, uint64_t size,
			      const struct store_put_opts *opts,
			      const struct store_xfer_opts *xfer, struct store_obj *ret,
			      struct store_error *err)
{
	struct store_xfer_opts xo;
	struct xfer x;
	struct store_body b;
	enum store_err rc;
	char *upload_id = NULL;

	xfer_opts(s, xfer, &xo);
	if (size <= xo.part_size || !s->ops->mpu_create) {
		b = (struct store_body)STORE_BODY_FD(fd, 0, size);
		return s->ops->put(s, key, &b, opts, ret, err);
	}
	if (xo.part_size < XFER_MIN_PART)
		xo.part_size = XFER_MIN_PART;
	while ((size + xo.part_size - 1) / xo.part_size > PARTS_MAX)
		xo.part_size *= 2;
	rc = s->ops->mpu_create(s, key, opts, &upload_id, err);
	if (rc != STORE_OK)
		return rc;
	memset(&x, 0, sizeof(x));
	x.s = s;
	x.key = key;
	x.upload_id = upload_id;
	x.fd = fd;
	x.size = size;
	x.part_size = xo.part_size;
	x.nparts = (size_t)((size + xo.part_size - 1) / xo.part_size);
	x.parts = calloc(x.nparts, sizeof(*x.parts));
	pthread_mutex_init(&x.lock, NULL);
	if (!x.parts) {
		rc = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto abort;
	}
	xfer_run(&x, xo.parallel, put_worker);
	if (x.rc != STORE_OK) {
		rc = x.rc;
		if (err)
			*err = x.err;
		goto abort;
	}
	rc = s->ops->mpu_complete(s, key, upload_id, x.parts, x.nparts, ret, err);
	if (rc == STORE_OK)
		goto out;
abort:
	/* best effort: an orphan left here is found by mpu_list later */
	(void)s->ops->mpu_abort(s, key, upload_id, NULL);
out:
	pthread_mutex_destroy(&x.lock);
	free(x.parts);
	free(upload_id);
	return rc;
}

enum store_err store_get_file(struct store *s, const char *key, int fd,
			      const struct store_xfer_opts *xfer, struct store_obj *ret,
			      struct store_error *err)
{
	struct store_xfer_opts xo;
	struct store_obj o;
	struct xfer x;
	enum store_err rc;

	xfer_opts(s, xfer, &xo);
	memset(&o, 0, sizeof(o));
	rc = s->ops->head(s, key, &o, err);
	if (rc != STORE_OK)
		return rc;
	if (o.size <= xo.part_size || xo.parallel == 1) {
		store_obj_release(&o);
		return s->ops->get_to_fd(s, key, fd, ret, err);
	}
	memset(&x, 0, sizeof(x));
	x.s = s;
	x.key = key;
	x.fd = fd;
	x.size = o.size;
	x.part_size = xo.part_size;
	x.nparts = (size_t)((o.size + xo.part_size - 1) / xo.part_size);
	pthread_mutex_init(&x.lock, NULL);
	xfer_run(&x, xo.parallel, s->ops->get_range_to_fd ? get_fd_worker : get_worker);
	pthread_mutex_destroy(&x.lock);
	if (x.rc != STORE_OK) {
		store_obj_release(&o);
		if (err)
			*err = x.err;
		return x.rc;
	}
	{
		/*
		 * The ranges were separate requests: if the object was replaced
		 * meanwhile, the file may mix two versions. Its ETag tells.
		 */
		struct store_obj after;

		memset(&after, 0, sizeof(after));
		rc = s->ops->head(s, key, &after, err);
		if (rc == STORE_OK && (strcmp(after.etag, o.etag) != 0 || after.size != o.size))
			rc = store_set_error(err, STORE_EPRECONDITION, 0, NULL,
					     "get '%s': the object changed during the download "
					     "(ETag '%s', then '%s')",
					     key, o.etag, after.etag);
		store_obj_release(&after);
		if (rc != STORE_OK) {
			store_obj_release(&o);
			return rc;
		}
	}
	if (ret)
		*ret = o;
	else
		store_obj_release(&o);
	return STORE_OK;
}
