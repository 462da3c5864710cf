/*
 * The backend-independent part of the object-store interface: error names
 * and errno mapping, the thin wrappers over the ops table, and the result
 * structs' destructors, and store_open() dispatching on the URL. Parallel
 * whole-file transfers are in fs/xfer.c.
 */
#include "fs/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/localstore.h"
#include "fs/s3.h"

static const struct {
	const char *text;
	int err;
} store_errs[] = {
	[STORE_OK] = { "success", 0 },
	[STORE_ENOTFOUND] = { "no such key", ENOENT },
	[STORE_ENOBUCKET] = { "no such bucket", ENOENT },
	[STORE_EDENIED] = { "access denied", EACCES },
	[STORE_ESIGNATURE] = { "signature or access key rejected (check the credentials)", EACCES },
	[STORE_ECLOCKSKEW] = { "request time too skewed (check the clock)", EACCES },
	[STORE_EPRECONDITION] = { "precondition failed", EAGAIN },
	[STORE_ERESOLVE] = { "cannot resolve host name", EHOSTUNREACH },
	[STORE_ECONNECT] = { "cannot connect to server", EIO },
	[STORE_ETIMEOUT] = { "request timed out", ETIMEDOUT },
	[STORE_ETLS] = { "TLS handshake or certificate failure", EIO },
	[STORE_ESERVER] = { "server error", EIO },
	[STORE_EINVAL] = { "invalid argument", EINVAL },
	[STORE_ETOOLARGE] = { "entity too large", EFBIG },
	[STORE_ENOTSUP] = { "operation not supported by this store", ENOTSUP },
	[STORE_ENOMEM] = { "out of memory", ENOMEM },
	[STORE_EIO] = { "local I/O error", EIO },
	[STORE_ECREDS] = { "no usable credentials", EACCES },
	[STORE_EPROTO] = { "unparseable server response", EPROTO },
	[STORE_ENOTEMPTY] = { "directory not empty", ENOTEMPTY },
	[STORE_EEXIST] = { "object already exists", EEXIST },
	[STORE_EDIGEST] = { "checksum mismatch: the data was corrupted on the way", EIO },
};

const char *store_strerror(enum store_err e)
{
	if ((size_t)e >= sizeof(store_errs) / sizeof(store_errs[0]) || !store_errs[e].text)
		return "unknown store error";
	return store_errs[e].text;
}

int store_err_to_errno(enum store_err e)
{
	if ((size_t)e >= sizeof(store_errs) / sizeof(store_errs[0]) || !store_errs[e].text)
		return EIO;
	return store_errs[e].err;
}

enum store_err store_set_error(struct store_error *err, enum store_err code, int http_status,
			       const char *s3_code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->http_status = http_status;
	snprintf(err->s3_code, sizeof(err->s3_code), "%s", s3_code ? s3_code : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

void store_obj_release(struct store_obj *o)
{
	if (!o)
		return;
	json_decref(o->meta);
	o->meta = NULL;
}

void store_list_release(struct store_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->entries[i].key);
		store_obj_release(&l->entries[i].obj);
	}
	free(l->entries);
	for (i = 0; i < l->nprefixes; i++)
		free(l->prefixes[i]);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

enum store_err store_head(struct store *s, const char *key, struct store_obj *ret,
			  struct store_error *err)
{
	return s->ops->head(s, key, ret, err);
}

enum store_err store_get_range(struct store *s, const char *key, uint64_t off, uint64_t len,
			       void *buf, size_t *ret_n, struct store_error *err)
{
	return s->ops->get_range(s, key, off, len, buf, ret_n, err);
}

enum store_err store_put(struct store *s, const char *key, const struct store_body *body,
			 const struct store_put_opts *opts, struct store_obj *ret,
			 struct store_error *err)
{
	return s->ops->put(s, key, body, opts, ret, err);
}

enum store_err store_copy(struct store *s, const char *src, const char *dst,
			  const struct store_put_opts *opts, struct store_obj *ret,
			  struct store_error *err)
{
	return s->ops->copy(s, src, dst, opts, ret, err);
}

enum store_err store_delete(struct store *s, const char *key, struct store_error *err)
{
	return s->ops->del(s, key, err);
}

enum store_err store_delete_many(struct store *s, const char *const *keys, size_t n,
				 struct store_error *err)
{
	return s->ops->del_many(s, keys, n, err);
}

enum store_err store_list_page(struct store *s, const struct store_list_opts *opts,
			       struct store_list *ret, struct store_error *err)
{
	return s->ops->list(s, opts, ret, err);
}

void store_free(struct store *s)
{
	if (s)
		s->ops->free(s);
}

/*
 * Dispatch on the URL: "s3://bucket[/prefix]" opens the S3 backend; anything
 * else is a local directory (its backend lives in fs/localstore.c).
 */
struct store *store_open(const char *bucket_url, json_t *options, struct store_error *err)
{
	struct store *s;
	const char *b, *slash;
	char *bucket;

	if (!bucket_url || !bucket_url[0]) {
		store_set_error(err, STORE_EINVAL, 0, NULL, "empty bucket argument");
		return NULL;
	}
	if (strncmp(bucket_url, "s3://", 5) == 0) {
		b = bucket_url + 5;
		slash = strchr(b, '/');
		bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
		if (!bucket) {
			store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
			return NULL;
		}
		s = s3_store_open(bucket, slash ? slash + 1 : NULL, options, err);
		free(bucket);
		return s;
	}
	return localstore_open(bucket_url, err);
}
