/*
 * bucketmap: bucket names -> stores, as the engine's asl_s3_ops. Each call
 * is a detached thread that runs the blocking store calls and posts the
 * result back to the loop; the loop callback delivers it unless the engine
 * cancelled the call meanwhile. See bucketmap.h.
 */
#include "fs/bucketmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl_s3.h"
#include "engine/config.h"
#include "engine/log.h"
#include "engine/loop.h"
#include "fs/store.h"

struct bucket {
	char *name;
	struct store *s;
	bool own;
};

struct bucketmap {
	struct bucket *b;
	size_t n;
	uint64_t max_get;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	unsigned inflight;
	bool closing; /* bucketmap_close(): no more posts to the loop, no new calls */
};

struct asl_s3_call {
	struct bucketmap *m;
	struct store *s;
	struct loop *loop;
	enum asl_s3_kind kind;
	char *bucket, *key, *prefix;
	char *body;
	size_t len;
	uint64_t max_get;
	size_t max_items;
	asl_s3_done_fn done;
	void *done_arg;
	bool cancelled; /* loop thread only */
	int refs;       /* under m->mu: the worker's (or its post's) and the engine's */
	/* outcome */
	bool ok;
	char *data;
	size_t dlen;
	json_t *items;
	char cause[1024];
};

struct bucketmap *bucketmap_new(uint64_t max_get_bytes)
{
	struct bucketmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max_get = max_get_bytes ? max_get_bytes : BUCKETMAP_MAX_GET_DEFAULT;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->idle, NULL);
	return m;
}

void bucketmap_close(struct bucketmap *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->closing = true;
	pthread_mutex_unlock(&m->mu);
}

void bucketmap_free(struct bucketmap *m)
{
	size_t i;

	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->closing = true;
	while (m->inflight)
		pthread_cond_wait(&m->idle, &m->mu);
	pthread_mutex_unlock(&m->mu);
	for (i = 0; i < m->n; i++) {
		if (m->b[i].own)
			store_free(m->b[i].s);
		free(m->b[i].name);
	}
	free(m->b);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->idle);
	free(m);
}

static struct bucket *find(struct bucketmap *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!strcmp(m->b[i].name, name))
			return &m->b[i];
	return NULL;
}

int bucketmap_add(struct bucketmap *m, const char *name, struct store *s, bool own)
{
	struct bucket *nb;

	if (find(m, name))
		return -EEXIST;
	nb = realloc(m->b, (m->n + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	m->b = nb;
	nb[m->n].name = strdup(name);
	if (!nb[m->n].name)
		return -ENOMEM;
	nb[m->n].s = s;
	nb[m->n].own = own;
	m->n++;
	return 0;
}

static int add_config_dir(struct bucketmap *m, json_t *buckets, json_t *store_opts,
			  const char *dir, char *err, size_t errlen);

int bucketmap_add_config(struct bucketmap *m, json_t *buckets, json_t *store_opts,
			 const char *dir, char *err, size_t errlen)
{
	return add_config_dir(m, buckets, store_opts, dir, err, errlen);
}

int bucketmap_for_config(const char *own_url, json_t *store_opts, const struct config *cfg,
			 struct bucketmap **ret, char *err, size_t errlen)
{
	struct bucketmap *m =
		bucketmap_new(cfg ? (uint64_t)cfg->limits.item_reader_max_mib << 20 : 0);
	char name[256];
	const char *nm;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (own_url) {
		struct store_error se = { 0 };
		struct store *s;

		nm = cfg && cfg->bucket ? cfg->bucket
					: bucketmap_default_name(own_url, name, sizeof(name));
		if (nm) {
			s = store_open(own_url, store_opts, &se);
			if (!s) {
				snprintf(err, errlen, "bucket '%s': %s", own_url,
					 se.message[0] ? se.message : store_strerror(se.code));
				goto fail;
			}
			if (bucketmap_add(m, nm, s, true) < 0) {
				store_free(s);
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		}
	}
	if (cfg && add_config_dir(m, json_object_get(cfg->root, "Buckets"), store_opts, cfg->dir,
				  err, errlen) < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	bucketmap_free(m);
	return -1;
}

static int add_config_dir(struct bucketmap *m, json_t *buckets, json_t *store_opts,
			  const char *dir, char *err, size_t errlen)
{
	const char *name;
	json_t *v;

	if (!buckets)
		return 0;
	if (!json_is_object(buckets)) {
		snprintf(err, errlen, "Buckets: must be an object of bucket name -> bucket URL");
		return -1;
	}
	json_object_foreach(buckets, name, v) {
		struct store_error se = { 0 };
		struct store *s;
		int r;

		if (!json_is_string(v) || !json_string_length(v)) {
			snprintf(err, errlen,
				 "Buckets/%s: must be a bucket URL (s3://name[/prefix] or a "
				 "directory)", name);
			return -1;
		}
		if (find(m, name)) {
			snprintf(err, errlen, "Buckets/%s: the name is already served (the mount's "
				 "own bucket)", name);
			return -1;
		}
		{
			const char *url = json_string_value(v);
			char *full = NULL;

			if (dir && strncmp(url, "s3://", 5) && url[0] != '/' &&
			    asprintf(&full, "%s/%s", dir, url) < 0)
				full = NULL;
			s = store_open(full ? full : url, store_opts, &se);
			free(full);
		}
		if (!s) {
			snprintf(err, errlen, "Buckets/%s: cannot open '%s': %s", name,
				 json_string_value(v), se.message[0] ? se.message
								     : store_strerror(se.code));
			return -1;
		}
		r = bucketmap_add(m, name, s, true);
		if (r < 0) {
			store_free(s);
			snprintf(err, errlen, "Buckets/%s: %s", name, strerror(-r));
			return -1;
		}
	}
	return 0;
}

const char *bucketmap_default_name(const char *url, char *buf, size_t len)
{
	const char *p, *e;

	if (!url)
		return NULL;
	if (!strncmp(url, "s3://", 5)) {
		p = url + 5;
		e = strchr(p, '/');
		if (!e)
			e = p + strlen(p);
	} else {
		e = url + strlen(url);
		while (e > url && e[-1] == '/')
			e--;
		p = e;
		while (p > url && p[-1] != '/')
			p--;
	}
	if (e == p || (size_t)(e - p) >= len || (e - p == 1 && *p == '.') ||
	    (e - p == 2 && !strncmp(p, "..", 2)))
		return NULL;
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = '\0';
	return buf;
}

static void call_free(struct asl_s3_call *c)
{
	free(c->bucket);
	free(c->key);
	free(c->prefix);
	free(c->body);
	free(c->data);
	json_decref(c->items);
	free(c);
}

static void call_unref(struct asl_s3_call *c)
{
	struct bucketmap *m = c->m;
	int left;

	pthread_mutex_lock(&m->mu);
	left = --c->refs;
	pthread_mutex_unlock(&m->mu);
	if (!left)
		call_free(c);
}

/* On the loop thread: deliver unless cancelled (then the engine's ref is gone already). */
static void call_finish(void *arg)
{
	struct asl_s3_call *c = arg;
	struct asl_s3_result res = { c->data, c->dlen, c->items };

	loop_unhold(c->loop);
	if (!c->cancelled) {
		c->cancelled = true; /* delivered: the engine holds no handle any more */
		c->done(c->done_arg, c->ok ? &res : NULL, c->cause);
		call_unref(c);
	}
	call_unref(c);
}

static void store_cause(struct asl_s3_call *c, const char *what, enum store_err e,
			const struct store_error *se)
{
	snprintf(c->cause, sizeof(c->cause), "bucket '%.200s' %.300s: %s%s%.400s", c->bucket, what,
		 store_strerror(e), se->message[0] ? ": " : "", se->message);
}

static void do_get(struct asl_s3_call *c)
{
	struct store_error se = { 0 };
	struct store_obj o = { 0 };
	char what[600];
	enum store_err e;
	size_t n = 0;

	snprintf(what, sizeof(what), "key '%s'", c->key);
	e = store_head(c->s, c->key, &o, &se);
	store_obj_release(&o);
	if (e != STORE_OK) {
		store_cause(c, what, e, &se);
		return;
	}
	if (o.size > c->max_get) {
		snprintf(c->cause, sizeof(c->cause),
			 "bucket '%s' key '%s': the object is %llu bytes, more than the "
			 "ItemReader limit of %llu bytes", c->bucket, c->key,
			 (unsigned long long)o.size, (unsigned long long)c->max_get);
		return;
	}
	c->data = malloc((size_t)o.size + 1);
	if (!c->data) {
		snprintf(c->cause, sizeof(c->cause), "bucket '%s' key '%s': out of memory",
			 c->bucket, c->key);
		return;
	}
	if (o.size) {
		e = store_get_range(c->s, c->key, 0, o.size, c->data, &n, &se);
		if (e != STORE_OK) {
			store_cause(c, what, e, &se);
			return;
		}
	}
	c->data[n] = '\0';
	c->dlen = n;
	c->ok = true;
}

static void do_list(struct asl_s3_call *c)
{
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_error se = { 0 };
	char *token = NULL;
	enum store_err e;
	size_t i;

	c->items = json_array();
	if (!c->items) {
		snprintf(c->cause, sizeof(c->cause), "out of memory");
		return;
	}
	lo.prefix = c->prefix;
	for (;;) {
		struct store_list l = { 0 };

		lo.token = token;
		e = store_list_page(c->s, &lo, &l, &se);
		if (e != STORE_OK) {
			store_cause(c, "listing", e, &se);
			free(token);
			return;
		}
		for (i = 0; i < l.n; i++) {
			struct store_list_entry *le = &l.entries[i];
			char etag[96];

			if ((c->max_items && json_array_size(c->items) >= c->max_items))
				break;
			if (json_array_size(c->items) >= BUCKETMAP_MAX_LIST_KEYS) {
				snprintf(c->cause, sizeof(c->cause),
					 "bucket '%s' listing: more than %d keys (the ItemReader "
					 "limit here; set MaxItems)", c->bucket,
					 BUCKETMAP_MAX_LIST_KEYS);
				store_list_release(&l);
				free(token);
				return;
			}
			snprintf(etag, sizeof(etag), "\"%s\"", le->obj.etag);
			json_array_append_new(
				c->items,
				json_pack("{s:s,s:s,s:I,s:I,s:s}", "Etag", etag, "Key", le->key,
					  "LastModified", (json_int_t)le->obj.last_modified.tv_sec,
					  "Size", (json_int_t)le->obj.size, "StorageClass",
					  "STANDARD"));
		}
		free(token);
		token = l.next_token ? strdup(l.next_token) : NULL;
		store_list_release(&l);
		if (!token || (c->max_items && json_array_size(c->items) >= c->max_items))
			break;
	}
	free(token);
	c->ok = true;
}

static void do_put(struct asl_s3_call *c)
{
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_error se = { 0 };
	struct store_obj o = { 0 };
	char what[600];
	enum store_err e;

	po.content_type = "application/json";
	e = store_put(c->s, c->key, &STORE_BODY_MEM(c->body, c->len), &po, &o, &se);
	store_obj_release(&o);
	if (e != STORE_OK) {
		snprintf(what, sizeof(what), "key '%s'", c->key);
		store_cause(c, what, e, &se);
		return;
	}
	c->ok = true;
}

static void *call_thread(void *arg)
{
	struct asl_s3_call *c = arg;
	struct bucketmap *m = c->m;

	switch (c->kind) {
	case ASL_S3_GET:
		do_get(c);
		break;
	case ASL_S3_LIST:
		do_list(c);
		break;
	default:
		do_put(c);
		break;
	}
	/* post under the lock: once closed, the loop may be gone */
	pthread_mutex_lock(&m->mu);
	if (m->closing || loop_post(c->loop, call_finish, c) < 0) {
		if (!m->closing)
			log_err("bucketmap: cannot hand a result back to the engine (out of memory)");
		if (--c->refs == 0) {
			pthread_mutex_unlock(&m->mu);
			call_free(c);
			pthread_mutex_lock(&m->mu);
		}
	}
	/* c may be gone now */
	if (--m->inflight == 0)
		pthread_cond_broadcast(&m->idle);
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

static int ops_start(void *arg, struct loop *loop, const struct asl_s3_req *req,
		     asl_s3_done_fn done, void *done_arg, struct asl_s3_call **ret, char *msg,
		     size_t msglen)
{
	struct bucketmap *m = arg;
	struct bucket *b = find(m, req->bucket);
	struct asl_s3_call *c;
	pthread_attr_t at;
	pthread_t th;
	bool closing;
	int r;

	pthread_mutex_lock(&m->mu);
	closing = m->closing;
	pthread_mutex_unlock(&m->mu);
	if (closing) {
		snprintf(msg, msglen, "bucket '%s': shutting down", req->bucket);
		return -1;
	}
	if (!b) {
		size_t i, o;

		o = (size_t)snprintf(msg, msglen,
				     "bucket '%s' is not available here: no store is configured under "
				     "that name (", req->bucket);
		for (i = 0; i < m->n && o < msglen; i++)
			o += (size_t)snprintf(msg + o, msglen - o, "%s'%s'", i ? ", " : "",
					      m->b[i].name);
		if (o < msglen)
			snprintf(msg + o, msglen - o, "%s)", m->n ? "" : "none; see \"Buckets\"");
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->m = m;
	c->refs = 2;
	c->s = b->s;
	c->loop = loop;
	c->kind = req->kind;
	c->max_get = req->max_bytes && req->max_bytes < m->max_get ? req->max_bytes : m->max_get;
	c->max_items = req->max_items;
	c->done = done;
	c->done_arg = done_arg;
	c->bucket = strdup(req->bucket);
	c->key = req->key ? strdup(req->key) : NULL;
	c->prefix = req->prefix ? strdup(req->prefix) : NULL;
	if (req->kind == ASL_S3_PUT) {
		c->body = malloc(req->len ? req->len : 1);
		if (c->body)
			memcpy(c->body, req->body, req->len);
		c->len = req->len;
	}
	if (!c->bucket || (req->key && !c->key) || (req->prefix && !c->prefix) ||
	    (req->kind == ASL_S3_PUT && !c->body))
		goto nomem;
	pthread_mutex_lock(&m->mu);
	m->inflight++;
	pthread_mutex_unlock(&m->mu);
	/* the loop must keep running until the result is posted back */
	loop_hold(loop);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&th, &at, call_thread, c);
	pthread_attr_destroy(&at);
	if (r) {
		pthread_mutex_lock(&m->mu);
		m->inflight--;
		pthread_mutex_unlock(&m->mu);
		loop_unhold(loop);
		call_free(c);
		snprintf(msg, msglen, "bucket '%s': cannot start a thread: %s", req->bucket,
			 strerror(r));
		return -1;
	}
	*ret = c;
	return 0;
nomem:
	if (c)
		call_free(c);
	snprintf(msg, msglen, "out of memory");
	return -1;
}

static void ops_cancel(void *arg, struct asl_s3_call *c)
{
	c->cancelled = true;
	call_unref(c);
}

void bucketmap_ops(struct bucketmap *m, struct asl_s3_ops *ret)
{
	ret->start = ops_start;
	ret->cancel = ops_cancel;
	ret->arg = m;
}
