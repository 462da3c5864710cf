/*
 * The FUSE operations: a bucket as a directory tree.
 *
 * Objects are files ("a/b"), "dir/" markers and key prefixes are
 * directories, symlinks are objects whose body is the target. Mode, owner
 * and times live in x-amz-meta-mode/uid/gid/mtime as s3fs writes them
 * (decimal strings, the mode with its file-type bits, times in seconds).
 *
 * Nodes. Every path that is open, or has data not yet in the bucket, has a
 * struct node in fs->nodes, shared by all its handles. A node that is written
 * gets a spool file holding the whole new content; the first write to an
 * existing object downloads it (O_TRUNC and new files start empty). Reads of a
 * node without a spool file go to the bucket through the handle's read-ahead
 * buffer; reads of a spooled node read the spool file.
 *
 * Commits. flush() of a handle that dirtied its node, fsync(), truncate(2)
 * by path and the background retrier call node_commit(): one PUT (or a
 * multipart upload with parallel parts) of the spool file, then exactly one
 * commit event. While a commit or a download runs, node->busy is set and
 * writers wait on node->cond, so the uploaded bytes are the bytes that were
 * written before the flush. dup()'d and fork()'d descriptors share one
 * handle; only its first flush after a write commits, an open+close without
 * writes commits nothing. A failed commit returns EIO to close(); the node
 * stays pending (with a manifest in the spool, fsync'd) and the retrier
 * commits it with exponential back-off; a restarted daemon finds the
 * manifest and does the same.
 *
 * Locking: fs->lock (the node table, node->key, node->refs) is taken before
 * node->lock (everything else in a node); h->lock (a handle's read-ahead
 * buffer) is a leaf. No lock is held across store calls except h->lock,
 * which only serialises reads of one open file.
 */
#include "fs/stepfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>
#include <jansson.h>

#include "engine/commit.h"
#include "engine/event.h"
#include "engine/log.h"
#include "fs/mcache.h"
#include "fs/spool.h"
#include "fs/store.h"
#include "fs/parts.h"
#include "fs/wdig.h"

#define NODE_BUCKETS 4096
#define MIN_PART (5u << 20)

struct node {
	struct node *hnext;   /* fs->nodes chain; protected by fs->lock */
	char *key;            /* protected by fs->lock and lock (both to change) */
	int refs;             /* handles + pending + temporary; protected by fs->lock */
	int in_table;         /* protected by fs->lock */

	pthread_mutex_t lock;
	pthread_cond_t cond;  /* busy changed */
	/* below: protected by lock */
	int opens;
	int busy;             /* a commit or a download is running */
	int fd;               /* spool file with the whole content, or -1 */
	uint64_t spool_id;
	uint64_t size;        /* content size while fd >= 0 */
	int dirty;            /* content or metadata not yet in the bucket */
	uint64_t wgen;        /* bumped by every mutation */
	int unlinked;         /* deleted: never commit */
	int exists;           /* the object is in the bucket */
	int pending;          /* a commit failed; holds a ref; retried */
	int manifest;         /* the spool has a manifest for it */
	struct stream *st;    /* multipart upload started while writing, or NULL */
	struct wdig *wd;      /* digests computed while written, or NULL */
	uint64_t meta_gen;    /* bumped by chmod/chown/utimens on the node */
	int retries;
	int64_t retry_at;     /* monotonic ms */
	int have_meta;        /* the fields below are known */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime, ctime;
	char content_type[128];
	json_t *extra;        /* other x-amz-meta-* to preserve; may be NULL */
	pid_t writer;
};

/*
 * A multipart upload that runs while the file is still written: a part is
 * uploaded (from the spool file, on its own thread) once the writer has
 * moved past its end. A write into a part bumps its generation; a part whose
 * generation changed during its upload is uploaded again at commit, as are
 * parts never uploaded. The commit waits for parts in flight, uploads the
 * rest in parallel and completes. Protected by the node's lock.
 */
struct pslot {
	int state;       /* 0 not uploaded, 1 uploading, 2 uploaded */
	uint64_t gen;    /* bumped by every change to the part's bytes */
	struct store_part p;
};

struct stream {
	char *key;        /* the key the upload was created for */
	char *upload_id;  /* NULL until created */
	int creating;
	int failed;       /* no more streaming; the commit uploads everything */
	int inflight;
	uint64_t meta_gen; /* node meta_gen when the upload was created */
	struct timespec mtime; /* x-amz-meta-mtime given to the upload */
	struct pslot *slot;
	int nslots;
};

/* Wait until no part of @st is in flight, then detach it from @n. Takes n->lock. */
static void stream_detach(struct node *n, struct stream *st)
{
	pthread_mutex_lock(&n->lock);
	while (st->inflight)
		pthread_cond_wait(&n->cond, &n->lock);
	if (n->st == st)
		n->st = NULL;
	pthread_mutex_unlock(&n->lock);
}

static void stream_free(struct stream *st)
{
	if (!st)
		return;
	free(st->key);
	free(st->upload_id);
	free(st->slot);
	free(st);
}

struct dirlist;
struct raslot;

struct handle {
	struct node *n;       /* NULL for a directory handle */
	char *dirpath;        /* directory handles: the path (ops get NULL paths) */
	struct dirlist *dl;   /* directory handles: the listing readdir serves */
	int flags;
	int writable;
	int dirtied;          /* this handle changed the node since its last commit */
	int wrote;            /* ... by writing bytes or truncating, not only creating */
	pthread_mutex_t lock; /* read-ahead state below */
	uint64_t size;        /* object size at open (clean reads) */
	struct raslot *ra;    /* read-ahead chunks (see read_clean()) */
	int nslots;
	uint64_t ra_end;      /* end of the furthest chunk requested */
	uint64_t next_off;    /* where the last read ended */
	uint64_t window;      /* bytes kept requested ahead; 0: random reads */
	pthread_cond_t nx_cond; /* a chunk fetch finished */
};

struct stepfs {
	struct stepfs_opts o;
	struct parts plan;     /* multipart layout of the uploads (o.part_size, o.part_max) */
	unsigned digests;     /* STORE_DIGEST_* the store uses if given (struct wdig) */
	struct store *store;
	const struct commit_sink *sink;
	struct mcache *mc;
	struct spool *spool;
	struct timespec started;
	atomic_uint_fast64_t read_mem; /* read-ahead bytes allocated */
	/* counters for stepfs_get_stats() */
	atomic_uint_fast64_t n_commits[4]; /* by enum commit_kind */
	atomic_uint_fast64_t n_bytes_up;
	atomic_uint_fast64_t n_bytes_down;
	atomic_uint_fast64_t n_upload_failures;
	atomic_uint_fast64_t n_retries;

	pthread_mutex_t lock;
	struct node *nodes[NODE_BUCKETS]; /* protected by lock */
	int stop;                         /* protected by lock */
	pthread_cond_t wake;              /* retrier: work or stop */
	pthread_t retrier;
	int retrier_started;
};

/* ---- small helpers ---- */

static struct stepfs *get_fs(void)
{
	return fuse_get_context()->private_data;
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct timespec now_rt(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static size_t khash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h & (NODE_BUCKETS - 1);
}

/* "/a/b" -> "a/b"; checks the lengths S3 and the kernel allow. */
static int path_key(const char *path, char *out, size_t outsz)
{
	const char *p = path, *c;
	size_t n;

	while (*p == '/')
		p++;
	n = strlen(p);
	if (n + 2 > outsz || n > 1024 - 1)
		return -ENAMETOOLONG;
	for (c = p; *c;) {
		const char *s = strchr(c, '/');
		size_t len = s ? (size_t)(s - c) : strlen(c);

		if (len > 255)
			return -ENAMETOOLONG;
		c += len + (s ? 1 : 0);
	}
	memcpy(out, p, n + 1);
	return 0;
}

/*
 * path_key() for a name being created: S3 keys are UTF-8, and neither an
 * event nor the local store's metadata (JSON) can carry another key, so a
 * name in a legacy 8-bit encoding is refused up front (-EILSEQ, as ZFS's
 * utf8only does) instead of failing at close() and being retried for ever.
 */
static int new_path_key(const char *path, char *out, size_t outsz)
{
	int r = path_key(path, out, outsz);

	if (r == 0 && !event_utf8_valid(out))
		r = -EILSEQ;
	return r;
}

/* Run @fn on a new thread with the termination signals blocked (STYLE §7). */
static int spawn_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t set, old;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

/* ---- s3fs metadata ---- */

static int parse_u(json_t *meta, const char *name, unsigned long *ret)
{
	const char *s = json_string_value(json_object_get(meta, name));
	char *end;
	unsigned long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || (*end && *end != '.'))
		return 0;
	*ret = v;
	return 1;
}

/* "sec" or "sec.fraction" (rclone writes fractions) */
static int parse_time(json_t *meta, const char *name, struct timespec *ret)
{
	const char *s = json_string_value(json_object_get(meta, name));
	char *end;
	long long sec;
	long ns = 0, scale = 100000000;

	if (!s || !*s)
		return 0;
	errno = 0;
	sec = strtoll(s, &end, 10);
	if (errno)
		return 0;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9'; end++) {
			ns += (*end - '0') * scale;
			scale /= 10;
		}
	}
	if (*end)
		return 0;
	ret->tv_sec = (time_t)sec;
	ret->tv_nsec = ns;
	return 1;
}

static mode_t default_mode(struct stepfs *fs, int is_dir)
{
	return is_dir ? (S_IFDIR | (0777 & ~fs->o.umask)) : (S_IFREG | (0666 & ~fs->o.umask));
}

/*
 * Metadata for a file the server holds none for (new, or created by another
 * tool without it): the mount's default mode, owned by the calling process
 * (the mount's uid/gid outside a request); times are the caller's to set.
 */
static void node_default_meta(struct stepfs *fs, struct node *n)
{
	struct fuse_context *c = fuse_get_context();

	n->mode = default_mode(fs, 0);
	n->uid = c ? c->uid : fs->o.uid;
	n->gid = c ? c->gid : fs->o.gid;
	snprintf(n->content_type, sizeof(n->content_type), "application/octet-stream");
	n->have_meta = 1;
}

/* Attributes from what HEAD (or a listing, meta == NULL) says. */
static void obj_stat(struct stepfs *fs, const struct store_obj *o, int is_dir, struct stat *st)
{
	unsigned long v;

	memset(st, 0, sizeof(*st));
	if (!is_dir && strcmp(o->content_type, "application/x-directory") == 0)
		is_dir = 1;
	st->st_mode = default_mode(fs, is_dir);
	if (parse_u(o->meta, "mode", &v)) {
		mode_t m = (mode_t)v;

		if (!(m & S_IFMT))
			m |= is_dir ? S_IFDIR : S_IFREG;
		if (is_dir && !S_ISDIR(m))
			m = (m & 07777) | S_IFDIR;
		st->st_mode = m;
	}
	st->st_uid = parse_u(o->meta, "uid", &v) ? (uid_t)v : fs->o.uid;
	st->st_gid = parse_u(o->meta, "gid", &v) ? (gid_t)v : fs->o.gid;
	if (!parse_time(o->meta, "mtime", &st->st_mtim) &&
	    !parse_time(o->meta, "goog-reserved-file-mtime", &st->st_mtim))
		st->st_mtim = o->last_modified;
	if (!parse_time(o->meta, "ctime", &st->st_ctim))
		st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_size = S_ISDIR(st->st_mode) ? 4096 : (off_t)o->size;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
}

static void root_stat(struct stepfs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = default_mode(fs, 1);
	st->st_uid = fs->o.uid;
	st->st_gid = fs->o.gid;
	st->st_nlink = 2;
	st->st_size = 4096;
	st->st_blksize = 4096;
	st->st_mtim = st->st_ctim = st->st_atim = fs->started;
}

/* Set node metadata from an object (HEAD or GET result). Caller holds n->lock. */
static void node_meta_from_obj(struct stepfs *fs, struct node *n, const struct store_obj *o)
{
	struct stat st;
	const char *k;
	json_t *v;

	obj_stat(fs, o, 0, &st);
	n->mode = st.st_mode;
	n->uid = st.st_uid;
	n->gid = st.st_gid;
	n->mtime = st.st_mtim;
	n->ctime = st.st_ctim;
	snprintf(n->content_type, sizeof(n->content_type), "%s",
		 o->content_type[0] ? o->content_type : "application/octet-stream");
	json_decref(n->extra);
	n->extra = NULL;
	if (o->meta) {
		n->extra = json_object();
		json_object_foreach(o->meta, k, v) {
			if (strcmp(k, "mode") && strcmp(k, "uid") && strcmp(k, "gid") &&
			    strcmp(k, "mtime") && strcmp(k, "ctime"))
				json_object_set(n->extra, k, v);
		}
	}
	n->have_meta = 1;
}

/*
 * Store the owner, mode and times in @m as s3fs does (x-amz-meta-mode in
 * decimal with the file-type bits, uid, gid, mtime and ctime in decimal
 * seconds): the one place that writes this encoding.
 */
static void meta_set_stat(json_t *m, mode_t mode, uid_t uid, gid_t gid, time_t mtime,
			  time_t ctime)
{
	char b[32];

	snprintf(b, sizeof(b), "%u", (unsigned)mode);
	json_object_set_new(m, "mode", json_string(b));
	snprintf(b, sizeof(b), "%u", (unsigned)uid);
	json_object_set_new(m, "uid", json_string(b));
	snprintf(b, sizeof(b), "%u", (unsigned)gid);
	json_object_set_new(m, "gid", json_string(b));
	snprintf(b, sizeof(b), "%lld", (long long)mtime);
	json_object_set_new(m, "mtime", json_string(b));
	snprintf(b, sizeof(b), "%lld", (long long)ctime);
	json_object_set_new(m, "ctime", json_string(b));
}

/* The x-amz-meta-* object for a commit (new reference). Caller holds n->lock. */
static json_t *node_meta_json(const struct node *n)
{
	json_t *m = n->extra ? json_deep_copy(n->extra) : json_object();

	if (!m)
		return NULL;
	meta_set_stat(m, n->mode, n->uid, n->gid, n->mtime.tv_sec, n->ctime.tv_sec);
	return m;
}

/* Caller holds n->lock. */
static void node_stat(struct stepfs *fs, const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = n->have_meta ? n->mode : default_mode(fs, 0);
	st->st_uid = n->have_meta ? n->uid : fs->o.uid;
	st->st_gid = n->have_meta ? n->gid : fs->o.gid;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
	st->st_atim = n->mtime;
	st->st_nlink = 1;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
}

/* ---- events ---- */

static pid_t ctx_pid(void)
{
	struct fuse_context *c = fuse_get_context();

	return c ? c->pid : 0;
}

static int emit(struct stepfs *fs, enum commit_kind kind, const char *key, uint64_t size,
		const char *etag, const char *src_key, pid_t pid)
{
	struct commit_event ev;
	char local[PATH_MAX];

	/* every caller has just committed the object: count it here */
	if ((unsigned)kind < 4)
		atomic_fetch_add(&fs->n_commits[kind], 1);
	if (!fs->sink || !fs->sink->commit)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.key = key;
	ev.bucket = fs->o.bucket;
	ev.size = size;
	ev.etag = etag && *etag ? etag : NULL;
	ev.time = now_rt();
	snprintf(local, sizeof(local), "%s/%s", fs->o.mountpoint ? fs->o.mountpoint : "", key);
	ev.local_path = local;
	ev.writer_pid = pid;
	ev.src_key = src_key;
	return fs->sink->commit(fs->sink->arg, &ev);
}

/* ---- node table ---- */

static struct node *node_find_locked(struct stepfs *fs, const char *key)
{
	struct node *n;

	for (n = fs->nodes[khash(key)]; n; n = n->hnext)
		if (strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

static void table_add_locked(struct stepfs *fs, struct node *n)
{
	size_t b = khash(n->key);

	n->hnext = fs->nodes[b];
	fs->nodes[b] = n;
	n->in_table = 1;
}

static void table_del_locked(struct stepfs *fs, struct node *n)
{
	struct node **p;

	if (!n->in_table)
		return;
	for (p = &fs->nodes[khash(n->key)]; *p; p = &(*p)->hnext) {
		if (*p == n) {
			*p = n->hnext;
			break;
		}
	}
	n->hnext = NULL;
	n->in_table = 0;
}

static struct node *node_alloc(const char *key)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->key = strdup(key);
	if (!n->key) {
		free(n);
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->fd = -1;
	return n;
}

/* Find (or with @create, make) the node of @key; returns it with a reference. */
static struct node *node_get(struct stepfs *fs, const char *key, int create)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	n = node_find_locked(fs, key);
	if (!n && create) {
		n = node_alloc(key);
		if (n)
			table_add_locked(fs, n);
	}
	if (n)
		n->refs++;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

static void node_ref(struct stepfs *fs, struct node *n)
{
	pthread_mutex_lock(&fs->lock);
	n->refs++;
	pthread_mutex_unlock(&fs->lock);
}

static void node_put(struct stepfs *fs, struct node *n)
{
	int last;

	pthread_mutex_lock(&fs->lock);
	last = --n->refs == 0;
	if (last)
		table_del_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
	if (!last)
		return;
	if (n->st && n->st->upload_id) /* deleted or renamed while written */
		(void)fs->store->ops->mpu_abort(fs->store, n->st->key, n->st->upload_id, NULL);
	stream_free(n->st);
	wdig_free(n->wd);
	if (n->fd >= 0) {
		close(n->fd);
		spool_remove(fs->spool, n->spool_id);
		spool_reserve(fs->spool, -(int64_t)n->size);
	}
	json_decref(n->extra);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	free(n->key);
	free(n);
}

/* Wait until no commit or download runs, then claim it. Caller holds n->lock. */
static void node_claim(struct node *n)
{
	while (n->busy)
		pthread_cond_wait(&n->cond, &n->lock);
	n->busy = 1;
}

static void node_unclaim(struct node *n)
{
	n->busy = 0;
	pthread_cond_broadcast(&n->cond);
}

/* Copy the key under the lock. */
static char *node_key(struct stepfs *fs, struct node *n)
{
	char *k;

	pthread_mutex_lock(&fs->lock);
	k = strdup(n->key);
	pthread_mutex_unlock(&fs->lock);
	return k;
}

/* ---- remote lookups ---- */

/*
 * Attributes of @key ("" is the root) from the cache or the bucket:
 * HEAD key, else a one-key listing of "key/" (marker or implicit directory).
 */
/* "/a/b" -> parent "/a" and name "b" ("/b" -> "/" and "b"). */
static void split_path(const char *path, char *dir, size_t dsz, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n == 0)
		snprintf(dir, dsz, "/");
	else
		snprintf(dir, dsz, "%.*s", (int)n, path);
	*ret_name = slash ? slash + 1 : path;
}

/* Keep the cached listing of @path's directory current after a local change. */
static void dir_note(struct stepfs *fs, const char *path, int added)
{
	char dir[1100];
	const char *name;

	split_path(path, dir, sizeof(dir), &name);
	if (added)
		mcache_dir_add(fs->mc, dir, name);
	else
		mcache_dir_remove(fs->mc, dir, name);
}

/*
 * Attributes of @key ("" is the root) from the cache or the bucket: HEAD
 * key, else a one-key listing of "key/" (marker or implicit directory).
 * In a directory this mount created and is filling, a cached listing answers
 * "no such name" without a request (see mcache_dir_put()).
 */
static int lookup_remote(struct stepfs *fs, const char *key, struct stat *st)
{
	char path[1100], dkey[1100], dir[1100];
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_list l;
	struct store_obj o;
	struct store_error err;
	enum mcache_kind k;
	enum store_err e;
	const char *name;
	uint64_t w;
	int listed;

	if (!*key) {
		root_stat(fs, st);
		return 0;
	}
	snprintf(path, sizeof(path), "/%s", key);
	k = mcache_get(fs->mc, path, st);
	if (k == MCACHE_FULL || (k == MCACHE_LIST && !fs->o.exact_attrs))
		return 0;
	if (k == MCACHE_NEG)
		return -ENOENT;
	split_path(path, dir, sizeof(dir), &name);
	w = mcache_wctr(fs->mc);
	listed = mcache_dir_lookup(fs->mc, dir, name);
	if (listed == 0) {
		mcache_put(fs->mc, path, NULL, MCACHE_NEG, w);
		return -ENOENT;
	}
	e = store_head(fs->store, key, &o, &err);
	if (e == STORE_OK) {
		obj_stat(fs, &o, 0, st);
		store_obj_release(&o);
		mcache_put(fs->mc, path, st, MCACHE_FULL, w);
		return 0;
	}
	if (e != STORE_ENOTFOUND) {
		log_debug("cannot look up '%s': %s", key, err.message);
		return -store_err_to_errno(e);
	}
	snprintf(dkey, sizeof(dkey), "%s/", key);
	if (listed == 1) {
		/* a directory: its marker, or implicit */
		e = store_head(fs->store, dkey, &o, &err);
		if (e == STORE_OK) {
			obj_stat(fs, &o, 1, st);
			store_obj_release(&o);
		} else if (e == STORE_ENOTFOUND) {
			root_stat(fs, st);
		} else {
			return -store_err_to_errno(e);
		}
		mcache_put(fs->mc, path, st, MCACHE_FULL, w);
		return 0;
	}
	lo.prefix = dkey;
	lo.max_keys = 1;
	e = store_list_page(fs->store, &lo, &l, &err);
	if (e != STORE_OK) {
		log_debug("cannot list '%s': %s", dkey, err.message);
		return -store_err_to_errno(e);
	}
	if (l.n == 0 && l.nprefixes == 0) {
		store_list_release(&l);
		mcache_put(fs->mc, path, NULL, MCACHE_NEG, w);
		return -ENOENT;
	}
	if (l.n > 0 && strcmp(l.entries[0].key, dkey) == 0 &&
	    store_head(fs->store, dkey, &o, NULL) == STORE_OK) {
		obj_stat(fs, &o, 1, st);
		store_obj_release(&o);
	} else {
		root_stat(fs, st); /* implicit directory: mount defaults */
	}
	store_list_release(&l);
	mcache_put(fs->mc, path, st, MCACHE_FULL, w);
	return 0;
}

/* Attributes of @key: a local node with data first, then the bucket. */
static int lookup(struct stepfs *fs, const char *key, struct stat *st)
{
	struct node *n = *key ? node_get(fs, key, 0) : NULL;
	int r = 1;

	if (n) {
		pthread_mutex_lock(&n->lock);
		if (n->fd >= 0 || n->dirty) {
			node_stat(fs, n, st);
			r = 0;
		}
		pthread_mutex_unlock(&n->lock);
		node_put(fs, n);
		if (r == 0)
			return 0;
	}
	return lookup_remote(fs, key, st);
}

/* Metadata of an existing object into the node (HEAD). Caller holds n->lock and the claim. */
static int node_load_meta(struct stepfs *fs, struct node *n, const char *key)
{
	struct store_obj o;
	enum store_err e;

	pthread_mutex_unlock(&n->lock);
	e = store_head(fs->store, key, &o, NULL);
	pthread_mutex_lock(&n->lock);
	if (e == STORE_OK) {
		struct timespec mt = n->mtime, ct = n->ctime;

		node_meta_from_obj(fs, n, &o);
		if (n->dirty) { /* changed here since: keep the times of that change */
			n->mtime = mt;
			n->ctime = ct;
		}
		n->exists = 1;
		store_obj_release(&o);
		return 0;
	}
	if (e == STORE_ENOTFOUND)
		return -ENOENT;
	return -store_err_to_errno(e);
}

/* Give the node a spool file with the object's whole content. Caller holds n->lock. */
static int node_load(struct stepfs *fs, struct node *n, int empty)
{
	struct store_obj o;
	struct store_error err;
	enum store_err e = STORE_OK;
	uint64_t id;
	char *key;
	struct stat st;
	int fd, r;

	if (n->fd >= 0)
		return 0;
	fd = spool_create(fs->spool, &id);
	if (fd < 0)
		return log_errno(fd, "cannot create a spool file in '%s'", spool_dir(fs->spool));
	if (empty) {
		n->fd = fd;
		n->spool_id = id;
		n->size = 0;
		wdig_reset(&n->wd, fs->digests);
		return 0;
	}
	wdig_drop(&n->wd);
	node_claim(n);
	pthread_mutex_unlock(&n->lock);
	key = node_key(fs, n);
	memset(&o, 0, sizeof(o));
	memset(&err, 0, sizeof(err));
	st.st_size = 0;
	r = 0;
	if (!key)
		e = STORE_ENOMEM;
	else
		e = fs->store->ops->get_to_fd(fs->store, key, fd, &o, &err);
	if (e == STORE_ENOTFOUND) {
		e = STORE_OK; /* gone meanwhile (or never committed): start empty */
		if (ftruncate(fd, 0) < 0)
			r = -errno;
	} else if (e == STORE_OK) {
		if (fstat(fd, &st) < 0)
			r = -errno;
		else
			atomic_fetch_add(&fs->n_bytes_down, (uint64_t)st.st_size);
		if (r == 0 && spool_reserve(fs->spool, st.st_size) < 0)
			r = -ENOSPC;
		if (r == 0 && !o.meta) {
			store_obj_release(&o);
			(void)store_head(fs->store, key, &o, NULL); /* the metadata */
		}
	} else {
		log_err("cannot fetch '%s' for writing: %s", key ? key : "",
			err.message[0] ? err.message : store_strerror(e));
		r = -store_err_to_errno(e);
	}
	pthread_mutex_lock(&n->lock);
	node_unclaim(n);
	if (r < 0) {
		close(fd);
		spool_remove(fs->spool, id);
		store_obj_release(&o);
		free(key);
		return r;
	}
	if (o.etag[0]) {
		if (!n->have_meta)
			node_meta_from_obj(fs, n, &o);
		n->exists = 1;
	}
	store_obj_release(&o);
	free(key);
	n->fd = fd;
	n->spool_id = id;
	n->size = (uint64_t)st.st_size;
	return 0;
}

/* ---- upload ---- */

struct mpu_job {
	struct stepfs *fs;
	const char *key, *upload_id;
	int fd;
	uint64_t size;
	struct parts pl;                  /* where the parts start */
	struct store_part *parts;
	const struct store_digests *pdig; /* per part of fs->plan, or NULL */
	int nparts;
	pthread_mutex_t lock;
	int next;           /* next part index to take; protected by lock */
	enum store_err err; /* first error; protected by lock */
	struct store_error detail;
};

static void *mpu_worker(void *arg)
{
	struct mpu_job *j = arg;

	for (;;) {
		struct store_error err;
		struct store_body b;
		enum store_err e;
		uint64_t off, len;
		int i;

		pthread_mutex_lock(&j->lock);
		while (j->err == STORE_OK && j->next < j->nparts && j->parts[j->next].number)
			j->next++; /* uploaded while the file was written */
		i = j->err == STORE_OK && j->next < j->nparts ? j->next++ : -1;
		pthread_mutex_unlock(&j->lock);
		if (i < 0)
			return NULL;
		off = parts_off(&j->pl, (uint64_t)i);
		len = parts_size(&j->pl, (uint64_t)i, j->size);
		b = (struct store_body)STORE_BODY_FD(j->fd, (off_t)off, len);
		if (j->pdig && j->pdig[i].have)
			b.dig = &j->pdig[i];
		e = j->fs->store->ops->mpu_put_part(j->fs->store, j->key, j->upload_id, i + 1, &b,
						    &j->parts[i], &err);
		if (e != STORE_OK) {
			pthread_mutex_lock(&j->lock);
			if (j->err == STORE_OK) {
				j->err = e;
				j->detail = err;
			}
			pthread_mutex_unlock(&j->lock);
		}
	}
}

/* Run the parts of @j not yet taken with up to fs->o.parallel threads. */
static void mpu_run(struct stepfs *fs, struct mpu_job *j)
{
	pthread_t th[32];
	int nth, i, started = 0;

	j->next = 0;
	nth = fs->o.parallel < 1 ? 1 : fs->o.parallel > 32 ? 32 : fs->o.parallel;
	if (nth > j->nparts)
		nth = j->nparts;
	for (i = 1; i < nth; i++)
		if (spawn_thread(&th[started], mpu_worker, j) == 0)
			started++;
	mpu_worker(j);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/*
 * Multipart upload of [0, size) of fd with up to fs->o.parallel parts in
 * flight, parts laid out by fs->plan. With @st (an upload started while
 * writing, still attached to @n), parts it already holds are not
 * sent again, and parts still being uploaded by their own threads are not
 * waited for first: the other parts go out meanwhile, then their results are
 * taken (or, if they failed or changed, they are sent again). @pdig (may be
 * NULL) has the digests of the parts of fs->plan where known. The
 * upload is aborted on failure. Called with n->lock not held.
 */
static enum store_err upload_multipart(struct stepfs *fs, struct node *n, const char *key, int fd,
				       uint64_t size, const struct store_put_opts *po,
				       struct stream *st, const struct store_digests *pdig,
				       struct store_obj *ret, struct store_error *err)
{
	struct mpu_job j;
	int i, again = 0, same;
	char *uid = NULL;
	enum store_err e;

	memset(&j, 0, sizeof(j));
	if (st) {
		uid = st->upload_id;
		st->upload_id = NULL;
	} else {
		e = fs->store->ops->mpu_create(fs->store, key, po, &uid, err);
		if (e != STORE_OK)
			return e;
	}
	j.fs = fs;
	j.key = key;
	j.upload_id = uid;
	j.fd = fd;
	j.size = size;
	j.pl = fs->plan;
	if (parts_count(&j.pl, size) > PARTS_MAX) { /* past S3's limit: parts of one size */
		uint64_t P = (size + PARTS_MAX - 1) / PARTS_MAX;

		P = (P + (1 << 20) - 1) & ~(uint64_t)((1 << 20) - 1);
		parts_init(&j.pl, P, P);
	}
	same = parts_same(&j.pl, &fs->plan);
	j.nparts = (int)parts_count(&j.pl, size);
	j.pdig = same ? pdig : NULL;
	j.parts = calloc((size_t)j.nparts, sizeof(*j.parts));
	if (!j.parts) {
		e = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto abort;
	}
	pthread_mutex_lock(&n->lock);
	for (i = 0; st && i < j.nparts && i < st->nslots; i++) {
		uint64_t end = parts_off(&j.pl, (uint64_t)i + 1);

		if (st->slot[i].state == 1) /* in flight: not sent twice at once; see below */
			j.parts[i].number = -1;
		else if (st->slot[i].state == 2 && end <= size && same)
			j.parts[i] = st->slot[i].p; /* a full part uploaded and unchanged since */
	}
	pthread_mutex_unlock(&n->lock);
	pthread_mutex_init(&j.lock, NULL);
	mpu_run(fs, &j);
	if (st && j.err == STORE_OK) {
		/* the parts that were in flight: kept, or sent again */
		pthread_mutex_lock(&n->lock);
		while (st->inflight)
			pthread_cond_wait(&n->cond, &n->lock);
		for (i = 0; i < j.nparts; i++) {
			if (j.parts[i].number != -1)
				continue;
			if (i < st->nslots && st->slot[i].state == 2 &&
			    parts_off(&j.pl, (uint64_t)i + 1) <= size && same) {
				j.parts[i] = st->slot[i].p;
			} else {
				memset(&j.parts[i], 0, sizeof(j.parts[i]));
				again = 1;
			}
		}
		pthread_mutex_unlock(&n->lock);
		if (again)
			mpu_run(fs, &j);
	}
	pthread_mutex_destroy(&j.lock);
	e = j.err;
	if (e != STORE_OK) {
		if (err)
			*err = j.detail;
		goto abort;
	}
	e = fs->store->ops->mpu_complete(fs->store, key, uid, j.parts, (size_t)j.nparts, ret, err);
	if (e != STORE_OK)
		goto abort;
	free(j.parts);
	free(uid);
	return STORE_OK;
abort:
	(void)fs->store->ops->mpu_abort(fs->store, key, uid, NULL);
	free(j.parts);
	free(uid);
	return e;
}

static json_t *manifest_json(struct node *n, const char *key, json_t *meta)
{
	return json_pack("{s:s, s:s, s:O?, s:I}", "key", key, "content_type", n->content_type,
			 "meta", n->have_meta ? meta : NULL, "size", (json_int_t)n->size);
}

/*
 * Commit the node's content to the bucket if it is dirty; exactly one event
 * per successful commit. Returns 0 or -errno (-EIO for a failed upload).
 */
static int node_commit(struct stepfs *fs, struct node *n)
{
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_error err;
	struct store_obj o;
	struct stat sb;
	enum store_err e;
	json_t *meta = NULL;
	char *key = NULL;
	uint64_t gen, size;
	int fd, r = 0, add_ref = 0, drop_ref = 0, want_manifest, meta_changed = 0, multi;
	struct stream *st = NULL;
	struct store_digests dg, *pdig = NULL;
	int have_dg = 0;
	pid_t writer;

	pthread_mutex_lock(&n->lock);
	while (n->busy)
		pthread_cond_wait(&n->cond, &n->lock);
	if (!n->dirty || n->unlinked) {
		pthread_mutex_unlock(&n->lock);
		return 0;
	}
	node_claim(n);
	pthread_mutex_unlock(&n->lock);
	key = node_key(fs, n); /* stable while claimed: rekey_node claims too */
	pthread_mutex_lock(&n->lock);
	if (!key) {
		node_unclaim(n);
		pthread_mutex_unlock(&n->lock);
		return -ENOMEM;
	}
	if (!n->have_meta) {
		r = node_load_meta(fs, n, key);
		if (r == -ENOENT) {
			node_default_meta(fs, n);
			n->mtime = n->ctime = now_rt();
			r = 0;
		}
		if (r < 0)
			goto fail_locked;
	}
	if (n->fd < 0) {
		r = node_load(fs, n, 1); /* dirty without content: an empty new file */
		if (r < 0)
			goto fail_locked;
	}
	while (n->st && n->st->creating)
		pthread_cond_wait(&n->cond, &n->lock);
	/* the commit owns the stream now; it stays attached until the parts in
	 * flight are done (their threads store their results in it) */
	st = n->st;
	meta_changed = st && st->meta_gen != n->meta_gen;
	if (st && st->upload_id && !meta_changed)
		n->mtime = st->mtime; /* what the upload stores (x-amz-meta-mtime) */
	gen = n->wgen;
	writer = n->writer;
	fd = n->fd;
	size = n->size;
	meta = node_meta_json(n);
	/* a large upload gets its manifest first, so a daemon killed during it
	 * finds the file at restart; a small one only after a failure (below),
	 * unless events are on: then a daemon killed between the upload and the
	 * journal write must find the file at restart to raise its event
	 * (tests/it/events_crash.sh, point "commit") */
	want_manifest = !n->manifest && (size > fs->o.part_size || fs->sink);
	if (want_manifest && meta) {
		json_t *m = manifest_json(n, key, meta);

		if (m && spool_write_manifest(fs->spool, n->spool_id, m, 0) == 0)
			n->manifest = 1;
		json_decref(m);
	}
	po.meta = meta;
	po.content_type = n->content_type;
	/* digests computed while the file was written (fs/wdig.h) */
	if (size <= fs->o.part_size) {
		have_dg = wdig_part(n->wd, &fs->plan, 0, size, &dg);
	} else if (n->wd && wdig_pos(n->wd) == size) {
		uint64_t np = parts_count(&fs->plan, size), i;

		pdig = np <= PARTS_MAX ? calloc(np, sizeof(*pdig)) : NULL;
		for (i = 0; pdig && i < np; i++)
			if (!wdig_part(n->wd, &fs->plan, (int)i, parts_size(&fs->plan, i, size),
				       &pdig[i]))
				pdig[i].have = 0;
	}
	pthread_mutex_unlock(&n->lock);

	memset(&err, 0, sizeof(err));
	memset(&o, 0, sizeof(o));
	multi = size > fs->o.part_size && size > MIN_PART;
	if (st && !(multi && st->upload_id && !st->failed && strcmp(st->key, key) == 0 &&
		    parts_count(&fs->plan, size) <= PARTS_MAX)) {
		stream_detach(n, st);
		if (st->upload_id) /* renamed, shrunk or failed: start over */
			(void)fs->store->ops->mpu_abort(fs->store, st->key, st->upload_id, NULL);
		stream_free(st);
		st = NULL;
	}
	if (!meta) {
		e = store_set_error(&err, STORE_ENOMEM, 0, NULL, "out of memory");
	} else if (multi) {
		e = upload_multipart(fs, n, key, fd, size, &po, st, pdig, &o, &err);
		if (e == STORE_OK && st && meta_changed) {
			/* chmod/chown/utimens while it was written: set the metadata */
			store_obj_release(&o);
			e = store_copy(fs->store, key, key, &po, &o, &err);
		}
	} else {
		struct store_body body = STORE_BODY_FD(fd, 0, size);

		if (have_dg)
			body.dig = &dg;
		e = store_put(fs->store, key, &body, &po, &o, &err);
	}
	if (st)
		stream_detach(n, st);
	stream_free(st);
	free(pdig);
	if (e == STORE_OK)
		atomic_fetch_add(&fs->n_bytes_up, size);
	else
		atomic_fetch_add(&fs->n_upload_failures, 1);
	if (e == STORE_OK) {
		r = emit(fs, multi ? COMMIT_MULTIPART : COMMIT_PUT, key, size, o.etag, NULL,
			 writer);
		if (r == -EILSEQ)
			/* no event can carry the key: retrying cannot help, the object is safe */
			log_err("committed '%s', but its name is not valid UTF-8, so it raises no "
				"event", key);
		else if (r < 0)
			log_errno(r, "committed '%s' but cannot record its event", key);
	}

	pthread_mutex_lock(&n->lock);
	node_unclaim(n);
	if (e == STORE_OK && (r == 0 || r == -EILSEQ)) {
		if (n->wgen == gen)
			n->dirty = 0;
		n->exists = 1;
		n->retries = 0;
		if (n->pending) {
			n->pending = 0;
			drop_ref = 1;
			log_notice("committed '%s' after %s", key, "a retry");
		}
		if (n->manifest && !n->dirty) {
			spool_drop_manifest(fs->spool, n->spool_id);
			n->manifest = 0;
		}
		node_stat(fs, n, &sb);
		pthread_mutex_unlock(&n->lock);
		{
			char path[1100];
			uint64_t w;

			snprintf(path, sizeof(path), "/%s", key);
			mcache_invalidate(fs->mc, path);
			w = mcache_wctr(fs->mc);
			mcache_put(fs->mc, path, &sb, MCACHE_FULL, w);
		}
		goto out;
	}
	if (e == STORE_EDIGEST)
		wdig_drop(&n->wd); /* the retries hash the spool file again */
	if (e != STORE_OK)
		log_err("cannot upload '%s' (%llu bytes): %s; the data stays in the spool '%s' "
			"and is retried",
			key, (unsigned long long)size, err.message[0] ? err.message : store_strerror(e),
			spool_dir(fs->spool));
	r = -EIO;
	goto fail_keep;
fail_locked:
	node_unclaim(n);
	log_err("cannot upload '%s': %s; the data stays in the spool and is retried", key,
		strerror(-r));
	r = -EIO;
fail_keep:
	if (!n->pending && !n->unlinked) {
		n->pending = 1;
		add_ref = 1;
	}
	n->retry_at = mono_ms() + (1000LL << (n->retries < 6 ? n->retries : 6));
	if (n->retry_at - mono_ms() > fs->o.retry_max_ms)
		n->retry_at = mono_ms() + fs->o.retry_max_ms;
	n->retries++;
	if (n->fd >= 0) {
		if (!n->manifest) {
			json_t *m = manifest_json(n, key, meta);

			if (m && spool_write_manifest(fs->spool, n->spool_id, m, 1) == 0)
				n->manifest = 1;
			json_decref(m);
		}
		(void)spool_sync(fs->spool, n->spool_id, n->fd);
	}
	pthread_mutex_unlock(&n->lock);
out:
	if (add_ref) {
		node_ref(fs, n);
		pthread_mutex_lock(&fs->lock);
		pthread_cond_signal(&fs->wake);
		pthread_mutex_unlock(&fs->lock);
	}
	if (drop_ref)
		node_put(fs, n);
	store_obj_release(&o);
	json_decref(meta);
	free(key);
	return r;
}

/* ---- the retrier ---- */

static void *retrier(void *arg)
{
	struct stepfs *fs = arg;

	pthread_mutex_lock(&fs->lock);
	while (!fs->stop) {
		struct node *todo[64];
		int ntodo = 0, i;
		size_t b;
		struct timespec dl;

		for (b = 0; b < NODE_BUCKETS && ntodo < 64; b++) {
			struct node *n;

			for (n = fs->nodes[b]; n && ntodo < 64; n = n->hnext) {
				int due;

				pthread_mutex_lock(&n->lock);
				due = n->pending && n->opens == 0 && !n->busy &&
				      n->retry_at <= mono_ms();
				pthread_mutex_unlock(&n->lock);
				if (due) {
					n->refs++;
					todo[ntodo++] = n;
				}
			}
		}
		pthread_mutex_unlock(&fs->lock);
		for (i = 0; i < ntodo; i++) {
			atomic_fetch_add(&fs->n_retries, 1);
			(void)node_commit(fs, todo[i]);
			node_put(fs, todo[i]);
		}
		pthread_mutex_lock(&fs->lock);
		if (fs->stop)
			break;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += 500 * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fs->wake, &fs->lock, &dl);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* A spooled file found at start-up: pending, retried by the retrier. */
static int rescan_one(void *arg, uint64_t id, int fd, json_t *m)
{
	struct stepfs *fs = arg;
	const char *key = json_string_value(json_object_get(m, "key"));
	const char *ct = json_string_value(json_object_get(m, "content_type"));
	struct store_obj o;
	struct node *n;
	struct stat st;

	if (!key || fstat(fd, &st) < 0) {
		close(fd);
		spool_remove(fs->spool, id);
		return -EINVAL;
	}
	n = node_get(fs, key, 1);
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	pthread_mutex_lock(&n->lock);
	if (n->fd >= 0) { /* two spooled versions of one key: the newer id wins */
		if (n->spool_id > id) {
			pthread_mutex_unlock(&n->lock);
			node_put(fs, n);
			close(fd);
			spool_remove(fs->spool, id);
			spool_reserve(fs->spool, -(int64_t)st.st_size);
			return 0;
		}
		close(n->fd);
		spool_remove(fs->spool, n->spool_id);
		spool_reserve(fs->spool, -(int64_t)n->size);
	}
	wdig_drop(&n->wd);
	memset(&o, 0, sizeof(o));
	o.meta = json_object_get(m, "meta");
	snprintf(o.content_type, sizeof(o.content_type), "%s", ct ? ct : "");
	o.last_modified = st.st_mtim;
	if (json_is_object(o.meta))
		node_meta_from_obj(fs, n, &o);
	n->fd = fd;
	n->spool_id = id;
	n->size = (uint64_t)st.st_size;
	n->dirty = 1;
	n->manifest = 1;
	n->exists = 1;
	if (!n->pending) {
		n->pending = 1; /* keeps the reference taken by node_get */
	} else {
		pthread_mutex_unlock(&n->lock);
		node_put(fs, n);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	log_notice("found '%s' (%llu bytes) in the spool from an earlier run; committing it",
		   key, (unsigned long long)st.st_size);
	return 0;
}

/* ---- read path ---- */

struct range_job {
	struct stepfs *fs;
	const char *key;
	uint64_t off, len;
	char *buf;
	enum store_err e;
	size_t got;
};

static void *range_worker(void *arg)
{
	struct range_job *j = arg;

	j->e = store_get_range(j->fs->store, j->key, j->off, j->len, j->buf, &j->got, NULL);
	if (j->e == STORE_OK)
		atomic_fetch_add(&j->fs->n_bytes_down, j->got);
	return NULL;
}

/* Fetch [off, off+len) into buf with parallel ranged GETs of >= 1 MiB each. */
static int fetch(struct stepfs *fs, const char *key, uint64_t off, uint64_t len, char *buf)
{
	struct range_job jobs[32];
	pthread_t th[32];
	int started[32] = { 0 };
	uint64_t chunk;
	int n, i, r = 0;

	log_debug("fetch '%s' %llu+%llu", key, (unsigned long long)off, (unsigned long long)len);
	n = fs->o.parallel < 1 ? 1 : fs->o.parallel > 32 ? 32 : fs->o.parallel;
	chunk = (len + (uint64_t)n - 1) / (uint64_t)n;
	if (chunk < (1u << 20))
		chunk = 1u << 20;
	n = (int)((len + chunk - 1) / chunk);
	for (i = 0; i < n; i++) {
		jobs[i].fs = fs;
		jobs[i].key = key;
		jobs[i].off = off + (uint64_t)i * chunk;
		jobs[i].len = i == n - 1 ? len - (uint64_t)i * chunk : chunk;
		jobs[i].buf = buf + (uint64_t)i * chunk;
		jobs[i].e = STORE_OK;
		jobs[i].got = 0;
		if (i > 0 && spawn_thread(&th[i], range_worker, &jobs[i]) == 0)
			started[i] = 1;
	}
	for (i = 0; i < n; i++)
		if (i == 0 || !started[i])
			range_worker(&jobs[i]);
	for (i = 1; i < n; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	for (i = 0; i < n; i++) {
		if (jobs[i].e != STORE_OK) {
			r = -store_err_to_errno(jobs[i].e);
			break;
		}
		if (jobs[i].got != jobs[i].len) {
			r = -EIO; /* the object changed under us */
			break;
		}
	}
	return r;
}

/*
 * Read-ahead of a handle: chunks of the object in slots, each fetched by
 * one ranged GET on a thread of its own. A sequential reader keeps
 * h->window bytes requested ahead of it (1 MiB doubling to readahead_max
 * each time it enters a new chunk) in chunks of window / parallel (at least
 * 1 MiB), so up to `parallel` GETs run at once and a new one starts as soon
 * as the reader leaves a chunk: the connection never waits for the slowest
 * range of a window. A slot is reused once the reader is past it.
 */
enum { RA_EMPTY = 0, RA_FETCHING, RA_READY, RA_FAILED };

struct raslot {
	char *buf;
	size_t cap;    /* bytes allocated, counted in fs->read_mem */
	uint64_t off;  /* the chunk: [off, off + len) of the object */
	size_t len;
	int state;     /* RA_*; buf, off and len stay put while RA_FETCHING */
	int err;       /* RA_FAILED: -errno */
};

struct chunk_job {
	struct stepfs *fs;
	struct handle *h;
	struct raslot *s;
	char *key;
};

static void *chunk_worker(void *arg)
{
	struct chunk_job *j = arg;
	struct raslot *s = j->s;
	size_t got = 0;
	enum store_err e;

	e = store_get_range(j->fs->store, j->key, s->off, s->len, s->buf, &got, NULL);
	if (e == STORE_OK)
		atomic_fetch_add(&j->fs->n_bytes_down, got);
	pthread_mutex_lock(&j->h->lock);
	s->state = e == STORE_OK && got == s->len ? RA_READY : RA_FAILED;
	/* a short chunk: the object changed under us */
	s->err = e != STORE_OK ? -store_err_to_errno(e) : -EIO;
	pthread_cond_broadcast(&j->h->nx_cond);
	pthread_mutex_unlock(&j->h->lock);
	free(j->key);
	free(j);
	return NULL;
}

static void ra_release(struct stepfs *fs, struct handle *h)
{
	int i, busy;

	if (!h->ra)
		return;
	pthread_mutex_lock(&h->lock);
	do { /* the fetch threads write into the slots */
		busy = 0;
		for (i = 0; i < h->nslots; i++)
			busy |= h->ra[i].state == RA_FETCHING;
		if (busy)
			pthread_cond_wait(&h->nx_cond, &h->lock);
	} while (busy);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < h->nslots; i++) {
		free(h->ra[i].buf);
		atomic_fetch_sub(&fs->read_mem, h->ra[i].cap);
	}
	free(h->ra);
	h->ra = NULL;
	h->nslots = 0;
}

/*
 * Start fetching [off, off + len) into a free slot: empty, or wholly before
 * @pos (consumed) by more than 1 MiB. Returns 0, or -1 if no slot is free, the read-ahead
 * budget is spent or no thread can start. Caller holds h->lock.
 */
static int ra_start(struct stepfs *fs, struct handle *h, const char *key, uint64_t off,
		    size_t len, uint64_t pos)
{
	struct raslot *s = NULL;
	struct chunk_job *j;
	pthread_t t;
	int i;

	for (i = 0; i < h->nslots; i++) {
		struct raslot *x = &h->ra[i];

		/* kept for 1 MiB after its end: the kernel's reads come out of order */
		if (x->state == RA_FETCHING ||
		    (x->state != RA_EMPTY && x->off + x->len + (1u << 20) > pos))
			continue;
		if (!s || x->cap >= len) /* prefer a buffer that is large enough */
			s = x;
		if (x->cap >= len)
			break;
	}
	if (!s)
		return -1;
	if (s->cap < len) {
		uint64_t extra = len - s->cap;
		char *nb;

		if (atomic_fetch_add(&fs->read_mem, extra) + extra > fs->o.read_mem) {
			atomic_fetch_sub(&fs->read_mem, extra);
			return -1; /* over the read-ahead budget */
		}
		nb = realloc(s->buf, len);
		if (!nb) {
			atomic_fetch_sub(&fs->read_mem, extra);
			return -1;
		}
		s->buf = nb;
		s->cap = len;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->fs = fs;
	j->h = h;
	j->s = s;
	j->key = strdup(key);
	s->off = off;
	s->len = len;
	s->state = RA_FETCHING;
	if (!j->key || spawn_thread(&t, chunk_worker, j) != 0) {
		free(j->key);
		free(j);
		s->state = RA_EMPTY;
		return -1;
	}
	pthread_detach(t);
	return 0;
}

/* Keep h->window bytes requested ahead of @pos. Caller holds h->lock. */
static void ra_refill(struct stepfs *fs, struct handle *h, const char *key, uint64_t pos)
{
	uint64_t chunk;

	if (!h->window)
		return;
	if (h->ra_end < pos)
		h->ra_end = pos;
	chunk = h->window / (uint64_t)(fs->o.parallel < 1 ? 1 : fs->o.parallel);
	if (chunk < (1u << 20))
		chunk = 1u << 20;
	while (h->ra_end < h->size && h->ra_end < pos + h->window) {
		uint64_t c = chunk;

		if (c > h->size - h->ra_end)
			c = h->size - h->ra_end;
		if (ra_start(fs, h, key, h->ra_end, (size_t)c, pos) < 0)
			break;
		h->ra_end += c;
	}
}

/* The slot holding @pos (fetched, being fetched or failed), or NULL. Caller holds h->lock. */
static struct raslot *ra_find(struct handle *h, uint64_t pos)
{
	int i;

	for (i = 0; i < h->nslots; i++) {
		struct raslot *x = &h->ra[i];

		if (x->state != RA_EMPTY && pos >= x->off && pos < x->off + x->len)
			return x;
	}
	return NULL;
}

/*
 * Is @pos close to where the sequential reader of @h is: within its window
 * (+4 MiB) of where its reads end? The kernel's read-ahead sends several
 * reads at once, and they may arrive and end out of order.
 */
static int near_reader(const struct handle *h, uint64_t pos)
{
	uint64_t d = h->window + (4u << 20);

	return h->window && (pos > h->next_off ? pos - h->next_off : h->next_off - pos) <= d;
}

/*
 * A read of an object without local data: served from the read-ahead
 * slots. Sequential reads (the kernel's read-ahead sends several, possibly
 * out of order) keep chunks requested ahead; random reads fetch only what
 * is asked; small objects are fetched whole.
 */
static int read_clean(struct stepfs *fs, struct handle *h, const char *key, char *buf,
		      size_t size, uint64_t off)
{
	size_t done = 0;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (off >= h->size) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	if (size > h->size - off)
		size = (size_t)(h->size - off);
	if (!h->ra) {
		int n = (fs->o.parallel < 1 ? 1 : fs->o.parallel) + 2;

		h->ra = calloc((size_t)n, sizeof(*h->ra));
		if (!h->ra) {
			pthread_mutex_unlock(&h->lock);
			return -ENOMEM;
		}
		h->nslots = n;
	}
	while (done < size) {
		uint64_t pos = off + done;
		struct raslot *s = ra_find(h, pos);
		int seq;

		if (s && s->state == RA_FETCHING) {
			pthread_cond_wait(&h->nx_cond, &h->lock);
			continue;
		}
		if (s && s->state == RA_FAILED) {
			r = s->err;
			s->state = RA_EMPTY; /* a later read tries again */
			break;
		}
		if (s) {
			size_t k = (size_t)(s->off + s->len - pos);

			if (k > size - done)
				k = size - done;
			if (pos == s->off && h->window && h->window < fs->o.readahead_max)
				h->window = h->window * 2 > fs->o.readahead_max ? fs->o.readahead_max
										: h->window * 2;
			memcpy(buf + done, s->buf + (pos - s->off), k);
			done += k;
			continue;
		}
		/* a miss */
		seq = pos == h->next_off || (h->window && pos >= h->ra_end &&
					     pos <= h->ra_end + (1u << 20)) ||
		      near_reader(h, pos);
		if (h->size <= fs->o.small_file && h->ra_end == 0) {
			h->window = 0;
			h->ra_end = h->size;
			if (ra_start(fs, h, key, 0, (size_t)h->size, pos) == 0)
				continue;
		} else if (seq && pos >= h->ra_end) {
			if (!h->window)
				h->window = 1u << 20;
			h->ra_end = pos;
			ra_refill(fs, h, key, pos);
			if (ra_find(h, pos))
				continue;
		} else if (!seq) {
			h->window = 0; /* random: only what is asked */
		}
		/* fetch only what is asked, straight into the caller's buffer */
		pthread_mutex_unlock(&h->lock);
		r = fetch(fs, key, pos, size - done, buf + done);
		pthread_mutex_lock(&h->lock);
		if (r < 0)
			break;
		done = size;
	}
	if (r == 0) {
		/* a read that ends out of order does not move the reader back */
		if (off + size > h->next_off || !near_reader(h, off))
			h->next_off = off + size;
		ra_refill(fs, h, key, off + size);
	}
	pthread_mutex_unlock(&h->lock);
	return r < 0 ? r : (int)size;
}

/* ---- FUSE operations ---- */

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct stepfs *fs = get_fs();

	cfg->nullpath_ok = 1;
	cfg->hard_remove = 1;
	cfg->use_ino = 0;
	cfg->entry_timeout = cfg->attr_timeout = (double)fs->o.attr_ttl_ms / 1000.0;
	cfg->negative_timeout = 0;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * Write data is spliced from /dev/fuse into the spool file. libfuse
	 * splices only when its pipe holds a whole request (max_write plus a
	 * 4 KiB header) and a pipe may not grow past /proc/sys/fs/pipe-max-size
	 * (1 MiB by default): with max_write = 1 MiB every write was read into
	 * memory and written out again. 1 MiB - 4 KiB keeps it within that
	 * (256 MiB sequential write through the mount on RGW: ~185 -> ~215 MiB/s
	 * unsigned, ~155 -> ~190 MiB/s with SHA-256, medians of 6 here).
	 */
	conn->max_write = (1u << 20) - 4096;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	conn->max_readahead = 1u << 20;
	/*
	 * Every readdir is a readdirplus: the attributes come with the
	 * listing, so ls -l's stat() of each entry costs no request. With
	 * the kernel's "auto" mode only the first getdents() of a directory
	 * is one, and each further entry costs a LOOKUP round trip.
	 */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	if (spawn_thread(&fs->retrier, retrier, fs) == 0)
		fs->retrier_started = 1;
	else
		log_err("cannot start the upload retry thread");
	return fs;
}

static void op_destroy(void *private_data)
{
	struct stepfs *fs = private_data;
	size_t b, pending = 0;

	pthread_mutex_lock(&fs->lock);
	fs->stop = 1;
	pthread_cond_broadcast(&fs->wake);
	for (b = 0; b < NODE_BUCKETS; b++) {
		struct node *n;

		for (n = fs->nodes[b]; n; n = n->hnext)
			pending += n->pending;
	}
	pthread_mutex_unlock(&fs->lock);
	if (fs->retrier_started)
		pthread_join(fs->retrier, NULL);
	fs->retrier_started = 0;
	if (pending)
		log_warn("%zu file(s) not yet committed stay in the spool '%s' for the next mount",
			 pending, spool_dir(fs->spool));
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	char key[1100];
	int r;

	if (fi && fi->fh && !((struct handle *)(uintptr_t)fi->fh)->n && !path)
		path = ((struct handle *)(uintptr_t)fi->fh)->dirpath;
	if (fi && fi->fh && ((struct handle *)(uintptr_t)fi->fh)->n) {
		struct handle *h = (struct handle *)(uintptr_t)fi->fh;
		struct node *n = h->n;

		pthread_mutex_lock(&n->lock);
		if (n->fd >= 0 || n->dirty) {
			node_stat(fs, n, st);
			pthread_mutex_unlock(&n->lock);
			return 0;
		}
		pthread_mutex_unlock(&n->lock);
		if (!path) {
			char *k = node_key(fs, n);

			if (!k)
				return -ENOMEM;
			r = lookup(fs, k, st);
			free(k);
			return r;
		}
	}
	if (!path)
		return -ENOENT;
	r = path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	return lookup(fs, key, st);
}

static int new_handle(struct stepfs *fs, struct node *n, struct fuse_file_info *fi,
		      struct handle **ret)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->n = n;
	h->flags = fi->flags;
	h->writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->nx_cond, NULL);
	h->next_off = 0;
	fi->fh = (uint64_t)(uintptr_t)h;
	*ret = h;
	return 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct fuse_context *c = fuse_get_context();
	struct handle *h = NULL;
	struct node *n;
	char key[1100];
	int r;

	if (fs->o.ro)
		return -EROFS;
	r = new_path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	if ((mode & S_IFMT) && !S_ISREG(mode))
		return -EPERM;
	n = node_get(fs, key, 1);
	if (!n)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	node_claim(n);
	node_unclaim(n);
	if (n->fd < 0) {
		r = node_load(fs, n, 1);
	} else {
		if (ftruncate(n->fd, 0) < 0)
			r = -errno;
		else
			spool_reserve(fs->spool, -(int64_t)n->size);
		n->size = 0;
		if (r == 0)
			wdig_reset(&n->wd, fs->digests);
		else
			wdig_drop(&n->wd);
	}
	if (r == 0) {
		n->mode = S_IFREG | (mode & 07777);
		n->uid = c->uid;
		n->gid = c->gid;
		n->mtime = n->ctime = now_rt();
		snprintf(n->content_type, sizeof(n->content_type), "application/octet-stream");
		json_decref(n->extra);
		n->extra = NULL;
		n->have_meta = 1;
		n->dirty = 1;
		n->unlinked = 0;
		n->wgen++;
		n->writer = c->pid;
		n->opens++;
	}
	pthread_mutex_unlock(&n->lock);
	if (r == 0)
		r = new_handle(fs, n, fi, &h);
	if (r < 0) {
		node_put(fs, n);
		return r;
	}
	h->dirtied = 1;
	mcache_invalidate(fs->mc, path);
	dir_note(fs, path, 1);
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct handle *h = NULL;
	struct node *n;
	struct stat st;
	char key[1100];
	int r, writable = (fi->flags & O_ACCMODE) != O_RDONLY, spooled;

	if (writable && fs->o.ro)
		return -EROFS;
	r = path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	n = node_get(fs, key, 1);
	if (!n)
		return -ENOMEM;
	pthread_mutex_lock(&n->lock);
	spooled = n->fd >= 0 || n->dirty;
	if (writable && (fi->flags & O_TRUNC)) {
		while (n->busy)
			pthread_cond_wait(&n->cond, &n->lock);
		if (!n->have_meta && !spooled) {
			node_claim(n);
			r = node_load_meta(fs, n, key);
			node_unclaim(n);
			if (r == -ENOENT)
				r = 0; /* committed with defaults */
		}
		if (r == 0) {
			if (n->fd < 0) {
				r = node_load(fs, n, 1);
			} else if (ftruncate(n->fd, 0) < 0) {
				r = -errno;
				wdig_drop(&n->wd);
			} else {
				spool_reserve(fs->spool, -(int64_t)n->size);
				n->size = 0;
				wdig_reset(&n->wd, fs->digests);
			}
		}
		if (r == 0) {
			n->dirty = 1;
			n->wgen++;
			n->mtime = n->ctime = now_rt();
			n->writer = fuse_get_context()->pid;
		}
	}
	if (r == 0)
		n->opens++;
	pthread_mutex_unlock(&n->lock);
	if (r == 0)
		r = new_handle(fs, n, fi, &h);
	if (r < 0) {
		node_put(fs, n);
		return r;
	}
	if (writable && (fi->flags & O_TRUNC)) {
		h->dirtied = 1;
		mcache_invalidate(fs->mc, path);
	}
	if (!spooled && !(writable && (fi->flags & O_TRUNC))) {
		/* the object's size bounds clean reads */
		r = lookup_remote(fs, key, &st);
		if (r == 0 && S_ISDIR(st.st_mode))
			r = -EISDIR;
		if (r < 0) {
			pthread_mutex_lock(&n->lock);
			n->opens--;
			pthread_mutex_unlock(&n->lock);
			pthread_mutex_destroy(&h->lock);
			pthread_cond_destroy(&h->nx_cond);
			free(h);
			fi->fh = 0;
			node_put(fs, n);
			return r;
		}
		h->size = (uint64_t)st.st_size;
	}
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct node *n = h->n;
	char *key;
	int r;

	pthread_mutex_lock(&n->lock);
	while (n->busy && n->fd < 0)
		pthread_cond_wait(&n->cond, &n->lock); /* a download for writing runs */
	if (n->fd >= 0) {
		ssize_t k = 0;
		size_t done = 0;

		if ((uint64_t)off < n->size) {
			if (size > n->size - (uint64_t)off)
				size = (size_t)(n->size - (uint64_t)off);
			while (done < size) {
				k = pread(n->fd, buf + done, size - done, off + (off_t)done);
				if (k <= 0)
					break;
				done += (size_t)k;
			}
		}
		pthread_mutex_unlock(&n->lock);
		return k < 0 ? -errno : (int)done;
	}
	pthread_mutex_unlock(&n->lock);
	key = node_key(fs, n);
	if (!key)
		return -ENOMEM;
	r = read_clean(fs, h, key, buf, size, (uint64_t)off);
	free(key);
	return r;
}

/* Bump the generation of the parts overlapping [off, end). Caller holds n->lock. */
static void stream_touch(struct stepfs *fs, struct node *n, uint64_t off, uint64_t end)
{
	uint64_t i;

	if (!n->st || end <= off)
		return;
	for (i = parts_index(&fs->plan, off);
	     i < (uint64_t)n->st->nslots && parts_off(&fs->plan, i) < end; i++) {
		n->st->slot[i].gen++;
		if (n->st->slot[i].state == 2)
			n->st->slot[i].state = 0; /* uploaded, now changed: again at commit */
	}
}

/*
 * Parts the writer has moved past (their end <= @end) that are not uploaded:
 * mark up to fs->o.parallel of them in flight and return their indices.
 * Caller holds n->lock.
 */
static int stream_pick(struct stepfs *fs, struct node *n, uint64_t end, int *jobs, int max)
{
	uint64_t full = parts_index(&fs->plan, end); /* parts wholly before end */
	struct stream *st = n->st;
	int nj = 0, i;

	if (!fs->o.stream || n->unlinked || full == 0 || full > PARTS_MAX)
		return 0;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return 0;
		n->st = st;
	}
	if (st->failed)
		return 0;
	if ((uint64_t)st->nslots < full) {
		int nn = (int)full + 16;
		struct pslot *ns = realloc(st->slot, (size_t)nn * sizeof(*ns));

		if (!ns)
			return 0;
		memset(ns + st->nslots, 0, (size_t)(nn - st->nslots) * sizeof(*ns));
		st->slot = ns;
		st->nslots = nn;
	}
	for (i = 0; (uint64_t)i < full && nj < max && st->inflight < fs->o.parallel; i++) {
		if (st->slot[i].state != 0)
			continue;
		st->slot[i].state = 1;
		st->inflight++;
		jobs[nj++] = i;
	}
	return nj;
}

struct part_job {
	struct stepfs *fs;
	struct node *n;
	char *key, *upload_id;
	int index;
};

static void *part_worker(void *arg)
{
	struct part_job *j = arg;
	struct stepfs *fs = j->fs;
	struct node *n = j->n;
	struct store_part part;
	struct store_digests dg;
	struct store_body b;
	enum store_err e;
	uint64_t gen;
	int fd, have_dg;

	pthread_mutex_lock(&n->lock);
	gen = n->st ? n->st->slot[j->index].gen : 0;
	fd = n->fd;
	have_dg = wdig_part(n->wd, &fs->plan, j->index, parts_len(&fs->plan, (uint64_t)j->index),
			    &dg);
	pthread_mutex_unlock(&n->lock);
	b = (struct store_body)STORE_BODY_FD(fd, (off_t)parts_off(&fs->plan, (uint64_t)j->index),
					     parts_len(&fs->plan, (uint64_t)j->index));
	if (have_dg)
		b.dig = &dg;
	memset(&part, 0, sizeof(part));
	e = fs->store->ops->mpu_put_part(fs->store, j->key, j->upload_id, j->index + 1, &b, &part,
					 NULL);
	pthread_mutex_lock(&n->lock);
	if (n->st) {
		struct pslot *sl = &n->st->slot[j->index];

		sl->state = e == STORE_OK && sl->gen == gen ? 2 : 0;
		log_debug("'%s': part %d uploaded while writing (%s)", j->key, j->index + 1,
			  sl->state == 2 ? "kept" : e == STORE_OK ? "changed since" : "failed");
		if (sl->state == 2)
			sl->p = part;
		n->st->inflight--;
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	node_put(fs, n);
	free(j->key);
	free(j->upload_id);
	free(j);
	return NULL;
}

/* Start the uploads of the parts stream_pick() chose (creating the upload first). */
static void stream_start(struct stepfs *fs, struct node *n, const int *jobs, int nj)
{
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct stream *st;
	char *key = node_key(fs, n), *uid = NULL, ct[128];
	json_t *meta = NULL;
	struct timespec mt = { 0, 0 };
	uint64_t mgen = 0;
	int i, create = 0, ok;

	pthread_mutex_lock(&n->lock);
	st = n->st;
	while (st && st->creating)
		pthread_cond_wait(&n->cond, &n->lock);
	if (key && st && !st->upload_id && !st->failed) {
		st->creating = create = 1;
		if (!n->have_meta) {
			node_default_meta(fs, n);
			n->ctime = n->mtime;
		}
		meta = node_meta_json(n);
		mt = n->mtime;
		mgen = n->meta_gen;
		snprintf(ct, sizeof(ct), "%s", n->content_type);
	}
	pthread_mutex_unlock(&n->lock);
	if (create) {
		enum store_err e = STORE_ENOMEM;

		po.meta = meta;
		po.content_type = ct;
		if (meta)
			e = fs->store->ops->mpu_create(fs->store, key, &po, &uid, NULL);
		pthread_mutex_lock(&n->lock);
		st->creating = 0;
		if (e == STORE_OK) {
			st->upload_id = uid;
			st->key = strdup(key);
			st->meta_gen = mgen;
			st->mtime = mt;
			uid = NULL;
		}
		if (e != STORE_OK || !st->key)
			st->failed = 1;
		pthread_cond_broadcast(&n->cond);
		pthread_mutex_unlock(&n->lock);
		json_decref(meta);
		free(uid);
	}
	pthread_mutex_lock(&n->lock);
	ok = key && n->st == st && st && st->upload_id && !st->failed && strcmp(st->key, key) == 0;
	for (i = 0; i < nj; i++) {
		struct part_job *j = ok ? calloc(1, sizeof(*j)) : NULL;
		pthread_t t;

		if (j) {
			j->fs = fs;
			j->n = n;
			j->index = jobs[i];
			j->key = strdup(key);
			j->upload_id = strdup(st->upload_id);
		}
		if (j && j->key && j->upload_id) {
			pthread_mutex_unlock(&n->lock);
			node_ref(fs, n);
			if (spawn_thread(&t, part_worker, j) == 0) {
				pthread_detach(t);
				pthread_mutex_lock(&n->lock);
				continue;
			}
			node_put(fs, n);
			pthread_mutex_lock(&n->lock);
		}
		if (j) {
			free(j->key);
			free(j->upload_id);
			free(j);
		}
		if (n->st == st && st) { /* not started: back to "not uploaded" */
			st->slot[jobs[i]].state = 0;
			st->inflight--;
		}
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	free(key);
}

/*
 * Hash @len bytes just written at @off into the node's running digests:
 * from @buf if the data was in memory, else (spliced into the spool file)
 * read back from the spool file, which the page cache still holds. Caller
 * holds n->lock.
 */
static void wdig_written(struct stepfs *fs, struct node *n, const char *buf, uint64_t off,
			 size_t len)
{
	char tmp[64 << 10];
	size_t done = 0;

	if (!n->wd || wdig_pos(n->wd) != off) {
		wdig_drop(&n->wd);
		return;
	}
	if (buf) {
		wdig_update(&n->wd, &fs->plan, off, buf, len);
		return;
	}
	while (n->wd && done < len) {
		size_t want = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		ssize_t k = pread(n->fd, tmp, want, (off_t)(off + done));

		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			wdig_drop(&n->wd);
			return;
		}
		wdig_update(&n->wd, &fs->plan, off + done, tmp, (size_t)k);
		done += (size_t)k;
	}
}

/* A write from memory (@buf) or from libfuse's buffer vector (@bv, spliced). */
static int write_common(const char *buf, struct fuse_bufvec *bv, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct node *n = h->n;
	const char *mem = buf;
	size_t done = 0;
	uint64_t end;
	int r = 0, jobs[32], nj = 0;

	/* fuse_buf_copy() moves bv's position: note where memory data is first */
	if (bv && bv->count == 1 && bv->idx == 0 && bv->off == 0 &&
	    !(bv->buf[0].flags & FUSE_BUF_IS_FD) && bv->buf[0].size >= size)
		mem = bv->buf[0].mem;

	pthread_mutex_lock(&n->lock);
	while (n->busy)
		pthread_cond_wait(&n->cond, &n->lock);
	if (n->fd < 0) {
		r = node_load(fs, n, 0);
		if (r < 0)
			goto out;
	}
	if (h->flags & O_APPEND)
		off = (off_t)n->size;
	end = (uint64_t)off + size;
	if (end > n->size) {
		r = spool_reserve(fs->spool, (int64_t)(end - n->size));
		if (r < 0) {
			log_warn("spool '%s' is full (%llu bytes): write refused", spool_dir(fs->spool),
				 (unsigned long long)spool_max(fs->spool));
			goto out;
		}
	}
	if (bv) {
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
		ssize_t k;

		dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		dst.buf[0].fd = n->fd;
		dst.buf[0].pos = off;
		k = fuse_buf_copy(&dst, bv, 0);
		if (k < 0)
			r = (int)k;
		else if ((size_t)k < size)
			r = -EIO;
		else
			done = size;
	}
	while (!bv && done < size) {
		ssize_t k = pwrite(n->fd, buf + done, size - done, off + (off_t)done);

		if (k < 0) {
			r = -errno;
			break;
		}
		done += (size_t)k;
	}
	if (end > n->size) {
		if (r < 0) /* give back what was not written */
			spool_reserve(fs->spool, -(int64_t)(end - n->size));
		else
			n->size = end;
	}
	if (done > 0 || r == 0) {
		n->dirty = 1;
		n->wgen++;
		n->mtime = n->ctime = now_rt();
		n->writer = fuse_get_context()->pid;
		h->dirtied = h->wrote = 1;
		if (done > 0)
			wdig_written(fs, n, mem, (uint64_t)off, done);
		stream_touch(fs, n, (uint64_t)off, (uint64_t)off + done);
		nj = stream_pick(fs, n, (uint64_t)off + done, jobs, 32);
	}
out:
	pthread_mutex_unlock(&n->lock);
	if (nj > 0)
		stream_start(fs, n, jobs, nj);
	return r < 0 ? r : (int)done;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	return write_common(buf, NULL, size, off, fi);
}

static int op_write_buf(const char *path, struct fuse_bufvec *bv, off_t off,
			struct fuse_file_info *fi)
{
	return write_common(NULL, bv, fuse_buf_size(bv), off, fi);
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int r;

	/*
	 * Only a flush after bytes were written (or ftruncate) commits. A handle
	 * that only created or O_TRUNC'd the file commits at release: shells
	 * open, dup2() and close the original descriptor before writing, and
	 * that first flush must not commit an empty object.
	 */
	if (!h->dirtied || !h->wrote)
		return 0;
	r = node_commit(fs, h->n);
	if (r == 0)
		h->dirtied = h->wrote = 0;
	return r;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int r = node_commit(fs, h->n);

	if (r == 0)
		h->dirtied = h->wrote = 0;
	return r;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct node *n = h->n;
	int commit;

	pthread_mutex_lock(&n->lock);
	n->opens--;
	commit = n->dirty && !n->unlinked && !n->pending && n->opens == 0;
	pthread_mutex_unlock(&n->lock);
	/* the last close of a file that was only created or truncated (or is
	 * still dirty for another reason): commit now; close() has returned, so
	 * a failure only shows in the log and the retries */
	if (commit)
		(void)node_commit(fs, n);
	ra_release(fs, h);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->nx_cond);
	free(h);
	node_put(fs, n);
	return 0;
}

/* Truncate the node's content to @size. */
static int node_truncate(struct stepfs *fs, struct node *n, uint64_t size)
{
	int r = 0;

	pthread_mutex_lock(&n->lock);
	while (n->busy)
		pthread_cond_wait(&n->cond, &n->lock);
	if (n->fd < 0)
		r = node_load(fs, n, size == 0);
	if (r == 0 && size > n->size)
		r = spool_reserve(fs->spool, (int64_t)(size - n->size));
	if (r == 0 && ftruncate(n->fd, (off_t)size) < 0) {
		r = -errno;
		if (size > n->size)
			spool_reserve(fs->spool, -(int64_t)(size - n->size));
	}
	if (r == 0) {
		if (size < n->size)
			spool_reserve(fs->spool, -(int64_t)(n->size - size));
		stream_touch(fs, n, size < n->size ? size : n->size, UINT64_MAX);
		if (size == 0)
			wdig_reset(&n->wd, fs->digests);
		else if (size != n->size)
			wdig_drop(&n->wd);
		n->size = size;
		n->dirty = 1;
		n->wgen++;
		n->mtime = n->ctime = now_rt();
		n->writer = fuse_get_context()->pid;
	}
	pthread_mutex_unlock(&n->lock);
	return r;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct stepfs *fs = get_fs();
	struct node *n;
	struct stat st;
	char key[1100];
	int r;

	if (fs->o.ro)
		return -EROFS;
	if (size < 0)
		return -EINVAL;
	if (fi && fi->fh) {
		struct handle *h = (struct handle *)(uintptr_t)fi->fh;

		r = node_truncate(fs, h->n, (uint64_t)size);
		if (r == 0)
			h->dirtied = h->wrote = 1;
		return r;
	}
	r = path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	r = lookup(fs, key, &st);
	if (r < 0)
		return r;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* truncate(2) by path: commit now, with the object's real content */
	n = node_get(fs, key, 1);
	if (!n)
		return -ENOMEM;
	r = node_truncate(fs, n, (uint64_t)size);
	if (r == 0)
		r = node_commit(fs, n);
	mcache_invalidate(fs->mc, path);
	node_put(fs, n);
	return r;
}

/* Apply @fn to node metadata and/or the object's metadata. */
enum meta_what { META_MODE, META_OWNER, META_TIMES };

struct meta_change {
	enum meta_what what;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	int set_mtime;
};

static void apply_change(const struct meta_change *c, mode_t *mode, uid_t *uid, gid_t *gid,
			 struct timespec *mtime, struct timespec *ctime)
{
	switch (c->what) {
	case META_MODE:
		*mode = (*mode & S_IFMT) | (c->mode & 07777);
		break;
	case META_OWNER:
		if (c->uid != (uid_t)-1)
			*uid = c->uid;
		if (c->gid != (gid_t)-1)
			*gid = c->gid;
		break;
	case META_TIMES:
		if (c->set_mtime)
			*mtime = c->mtime;
		break;
	}
	*ctime = now_rt();
}

static int set_meta(const char *path, struct fuse_file_info *fi, const struct meta_change *c)
{
	struct stepfs *fs = get_fs();
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_obj o, res;
	struct store_error err;
	struct node *n = NULL;
	struct stat st;
	enum store_err e;
	char key[1100], okey[1110];
	struct store_body empty = STORE_BODY_MEM("", 0);
	json_t *meta = NULL;
	int r, is_dir, marker = 0, done = 0;

	if (fs->o.ro)
		return -EROFS;
	if (fi && fi->fh && !((struct handle *)(uintptr_t)fi->fh)->n && !path)
		path = ((struct handle *)(uintptr_t)fi->fh)->dirpath;
	if (fi && fi->fh && ((struct handle *)(uintptr_t)fi->fh)->n) {
		n = ((struct handle *)(uintptr_t)fi->fh)->n;
		node_ref(fs, n);
		{
			char *k = node_key(fs, n);

			if (!k) {
				node_put(fs, n);
				return -ENOMEM;
			}
			snprintf(key, sizeof(key), "%s", k);
			free(k);
		}
	} else {
		if (!path)
			return -ENOENT;
		r = path_key(path, key, sizeof(key));
		if (r < 0)
			return r;
		if (!*key)
			return -EPERM; /* the mount root has no object */
		n = node_get(fs, key, 0);
	}
	if (n) {
		pthread_mutex_lock(&n->lock);
		while (n->busy)
			pthread_cond_wait(&n->cond, &n->lock);
		if (!n->have_meta && n->dirty) {
			/* e.g. truncated without loading: fetch the metadata to change */
			int lr;

			node_claim(n);
			lr = node_load_meta(fs, n, key);
			node_unclaim(n);
			if (lr == -ENOENT) {
				node_default_meta(fs, n);
				n->ctime = n->mtime;
			} else if (lr < 0) {
				pthread_mutex_unlock(&n->lock);
				node_put(fs, n);
				return lr;
			}
		}
		if (n->have_meta) {
			apply_change(c, &n->mode, &n->uid, &n->gid, &n->mtime, &n->ctime);
			n->meta_gen++;
			/* uncommitted data: the metadata goes with the next commit */
			done = n->dirty;
		}
		pthread_mutex_unlock(&n->lock);
		node_put(fs, n);
		if (done) {
			snprintf(okey, sizeof(okey), "/%s", key);
			mcache_invalidate(fs->mc, okey);
			return 0;
		}
	}
	r = lookup_remote(fs, key, &st);
	if (r < 0)
		return r;
	is_dir = S_ISDIR(st.st_mode);
	snprintf(okey, sizeof(okey), is_dir ? "%s/" : "%s", key);
	e = store_head(fs->store, okey, &o, &err);
	if (e == STORE_OK) {
		marker = 1;
	} else if (e == STORE_ENOTFOUND && is_dir) {
		memset(&o, 0, sizeof(o)); /* implicit directory: create its marker */
		snprintf(o.content_type, sizeof(o.content_type), "application/x-directory");
	} else {
		return -store_err_to_errno(e);
	}
	obj_stat(fs, &o, is_dir, &st);
	if (!marker) {
		st.st_mode = default_mode(fs, 1);
		st.st_uid = fs->o.uid;
		st.st_gid = fs->o.gid;
		st.st_mtim = now_rt();
	}
	apply_change(c, &st.st_mode, &st.st_uid, &st.st_gid, &st.st_mtim, &st.st_ctim);
	meta = o.meta ? json_deep_copy(o.meta) : json_object();
	if (!meta) {
		store_obj_release(&o);
		return -ENOMEM;
	}
	meta_set_stat(meta, st.st_mode, st.st_uid, st.st_gid, st.st_mtim.tv_sec,
		      st.st_ctim.tv_sec);
	po.meta = meta;
	po.content_type = o.content_type[0] ? o.content_type : NULL;
	memset(&res, 0, sizeof(res));
	if (marker)
		e = store_copy(fs->store, okey, okey, &po, &res, &err);
	else
		e = store_put(fs->store, okey, &empty, &po, &res, &err);
	if (e == STORE_OK)
		r = emit(fs, marker ? COMMIT_COPY : COMMIT_PUT, okey, o.size, res.etag,
			 marker ? okey : NULL, ctx_pid());
	else
		r = log_errno(-store_err_to_errno(e), "cannot update the metadata of '%s'", okey);
	store_obj_release(&res);
	store_obj_release(&o);
	json_decref(meta);
	snprintf(okey, sizeof(okey), "/%s", key);
	mcache_invalidate(fs->mc, okey);
	return r;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct meta_change c = { .what = META_MODE, .mode = mode };

	return set_meta(path, fi, &c);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct meta_change c = { .what = META_OWNER, .uid = uid, .gid = gid };

	return set_meta(path, fi, &c);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct meta_change c = { .what = META_TIMES };

	if (!tv || tv[1].tv_nsec == UTIME_NOW) {
		c.mtime = now_rt();
		c.set_mtime = 1;
	} else if (tv[1].tv_nsec != UTIME_OMIT) {
		c.mtime = tv[1];
		c.set_mtime = 1;
	}
	if (!c.set_mtime)
		return 0; /* only atime, which is not stored */
	return set_meta(path, fi, &c);
}

static int op_mkdir(const char *path, mode_t mode)
{
	struct stepfs *fs = get_fs();
	struct fuse_context *c = fuse_get_context();
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_error err;
	struct store_obj o;
	enum store_err e;
	char key[1100];
	time_t now;
	json_t *meta;
	int r;

	if (fs->o.ro)
		return -EROFS;
	r = new_path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	strcat(key, "/");
	meta = json_object();
	if (!meta)
		return -ENOMEM;
	now = now_rt().tv_sec;
	meta_set_stat(meta, S_IFDIR | (mode & 07777), c->uid, c->gid, now, now);
	po.meta = meta;
	po.content_type = "application/x-directory";
	memset(&o, 0, sizeof(o));
	{
		struct store_body empty = STORE_BODY_MEM("", 0);

		e = store_put(fs->store, key, &empty, &po, &o, &err);
	}
	if (e == STORE_OK)
		r = emit(fs, COMMIT_PUT, key, 0, o.etag, NULL, ctx_pid());
	else
		r = log_errno(-store_err_to_errno(e), "cannot create directory '%s': %s", key,
			      err.message);
	store_obj_release(&o);
	json_decref(meta);
	mcache_invalidate(fs->mc, path);
	if (e == STORE_OK) {
		dir_note(fs, path, 1);
		/* new and empty: names not created here do not exist (for a while) */
		mcache_dir_put(fs->mc, path, NULL, 0, mcache_wctr(fs->mc), 1);
	}
	return r;
}

/* Any node (open or spooled file) strictly below "dkey" (ending in '/')? */
static int local_children(struct stepfs *fs, const char *dkey)
{
	size_t b, n = strlen(dkey);
	int found = 0;

	pthread_mutex_lock(&fs->lock);
	for (b = 0; b < NODE_BUCKETS && !found; b++) {
		struct node *x;

		for (x = fs->nodes[b]; x && !found; x = x->hnext)
			if (strncmp(x->key, dkey, n) == 0 && x->key[n])
				found = x->fd >= 0 || x->opens > 0 || x->pending;
	}
	pthread_mutex_unlock(&fs->lock);
	return found;
}

static int op_rmdir(const char *path)
{
	struct stepfs *fs = get_fs();
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_list l;
	struct store_error err;
	enum store_err e;
	char key[1100];
	int r, marker = 0;
	size_t i;

	if (fs->o.ro)
		return -EROFS;
	r = path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	if (!*key)
		return -EBUSY;
	strcat(key, "/");
	if (local_children(fs, key))
		return -ENOTEMPTY;
	lo.prefix = key;
	lo.max_keys = 2;
	e = store_list_page(fs->store, &lo, &l, &err);
	if (e != STORE_OK)
		return -store_err_to_errno(e);
	for (i = 0; i < l.n; i++) {
		if (strcmp(l.entries[i].key, key) == 0)
			marker = 1;
		else
			r = -ENOTEMPTY;
	}
	if (l.nprefixes)
		r = -ENOTEMPTY;
	store_list_release(&l);
	if (r < 0)
		return r;
	if (marker) {
		e = store_delete(fs->store, key, &err);
		if (e != STORE_OK)
			return log_errno(-store_err_to_errno(e), "cannot remove directory '%s'", key);
		r = emit(fs, COMMIT_DELETE, key, 0, NULL, NULL, ctx_pid());
	}
	mcache_invalidate_tree(fs->mc, path);
	dir_note(fs, path, 0);
	return r;
}

/* Detach a node from its path (deleted or replaced): it never commits again. */
static void node_detach(struct stepfs *fs, struct node *n, int keep_for_readers)
{
	int drop = 0;

	pthread_mutex_lock(&fs->lock);
	table_del_locked(fs, n);
	pthread_mutex_unlock(&fs->lock);
	pthread_mutex_lock(&n->lock);
	while (n->busy)
		pthread_cond_wait(&n->cond, &n->lock);
	if (keep_for_readers && n->opens > 0 && n->fd < 0)
		(void)node_load(fs, n, 0); /* open-unlink-read keeps working */
	n->unlinked = 1;
	n->dirty = 0;
	if (n->manifest) {
		spool_drop_manifest(fs->spool, n->spool_id);
		n->manifest = 0;
	}
	if (n->pending) {
		n->pending = 0;
		drop = 1;
	}
	pthread_mutex_unlock(&n->lock);
	if (drop)
		node_put(fs, n);
}

static int op_unlink(const char *path)
{
	struct stepfs *fs = get_fs();
	struct store_error err;
	struct node *n;
	struct stat st;
	enum store_err e;
	char key[1100];
	int r, remote = 1;

	if (fs->o.ro)
		return -EROFS;
	r = path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	n = node_get(fs, key, 0);
	if (n) {
		pthread_mutex_lock(&n->lock);
		remote = n->exists;
		pthread_mutex_unlock(&n->lock);
		node_detach(fs, n, 1);
		node_put(fs, n);
	}
	if (!n || !remote) {
		/* is it in the bucket? (a new file only in the spool is not) */
		r = lookup_remote(fs, key, &st);
		remote = r == 0;
		if (r < 0 && r != -ENOENT)
			return r;
		if (!remote && !n)
			return -ENOENT;
	}
	r = 0;
	if (remote) {
		e = store_delete(fs->store, key, &err);
		if (e != STORE_OK)
			r = log_errno(-store_err_to_errno(e), "cannot delete '%s'", key);
		else
			r = emit(fs, COMMIT_DELETE, key, 0, NULL, NULL, ctx_pid());
	}
	mcache_invalidate(fs->mc, path);
	if (r == 0)
		dir_note(fs, path, 0);
	return r;
}

static int op_symlink(const char *target, const char *path)
{
	struct stepfs *fs = get_fs();
	struct fuse_context *c = fuse_get_context();
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_error err;
	struct store_obj o;
	enum store_err e;
	char key[1100];
	time_t now;
	json_t *meta;
	int r;

	if (fs->o.ro)
		return -EROFS;
	r = new_path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	meta = json_object();
	if (!meta)
		return -ENOMEM;
	now = now_rt().tv_sec;
	meta_set_stat(meta, S_IFLNK | 0777, c->uid, c->gid, now, now);
	po.meta = meta;
	memset(&o, 0, sizeof(o));
	{
		struct store_body body = STORE_BODY_MEM(target, strlen(target));

		e = store_put(fs->store, key, &body, &po, &o, &err);
	}
	if (e == STORE_OK)
		r = emit(fs, COMMIT_PUT, key, strlen(target), o.etag, NULL, ctx_pid());
	else
		r = log_errno(-store_err_to_errno(e), "cannot create symlink '%s'", key);
	store_obj_release(&o);
	json_decref(meta);
	mcache_invalidate(fs->mc, path);
	if (e == STORE_OK)
		dir_note(fs, path, 1);
	return r;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	struct stepfs *fs = get_fs();
	struct stat st;
	char key[1100];
	size_t got = 0, want;
	enum store_err e;
	int r;

	r = path_key(path, key, sizeof(key));
	if (r < 0)
		return r;
	r = lookup(fs, key, &st);
	if (r < 0)
		return r;
	if (!S_ISLNK(st.st_mode))
		return -EINVAL;
	if (size == 0)
		return -EINVAL;
	want = (size_t)st.st_size < size - 1 ? (size_t)st.st_size : size - 1;
	if (want > 0) {
		e = store_get_range(fs->store, key, 0, want, buf, &got, NULL);
		if (e != STORE_OK)
			return -store_err_to_errno(e);
		atomic_fetch_add(&fs->n_bytes_down, got);
	}
	buf[got] = '\0';
	return 0;
}

/* Server-side copy of one key, then delete of the source; one event each. */
static int move_key(struct stepfs *fs, const char *from, const char *to)
{
	struct store_error err;
	struct store_obj o;
	enum store_err e;
	int r;

	memset(&o, 0, sizeof(o));
	e = store_copy(fs->store, from, to, NULL, &o, &err);
	if (e != STORE_OK)
		return log_errno(-store_err_to_errno(e), "cannot copy '%s' to '%s': %s", from, to,
				 err.message);
	r = emit(fs, COMMIT_COPY, to, o.size, o.etag, from, ctx_pid());
	store_obj_release(&o);
	if (r < 0)
		return r;
	e = store_delete(fs->store, from, &err);
	if (e != STORE_OK)
		return log_errno(-store_err_to_errno(e), "copied '%s' to '%s' but cannot delete it",
				 from, to);
	return emit(fs, COMMIT_DELETE, from, 0, NULL, NULL, ctx_pid());
}

/*
 * Rename the node of @from (if any) to @to; returns 1 if its data is
 * uncommitted, 0 if not, -ENOMEM if the node could not be renamed.
 */
static int rekey_node(struct stepfs *fs, const char *from, const char *to, int *ret_remote)
{
	struct node *n = node_get(fs, from, 0), *old;
	char *nk;
	int dirty = 0;

	*ret_remote = 1;
	if (!n)
		return 0;
	nk = strdup(to);
	if (!nk) {
		node_put(fs, n);
		return -ENOMEM;
	}
	old = node_get(fs, to, 0);
	if (old && old != n) {
		node_detach(fs, old, 1);
		node_put(fs, old);
	} else if (old) {
		node_put(fs, old);
	}
	pthread_mutex_lock(&n->lock);
	node_claim(n);
	dirty = n->dirty;
	*ret_remote = n->exists;
	pthread_mutex_unlock(&n->lock);
	if (nk) {
		pthread_mutex_lock(&fs->lock);
		pthread_mutex_lock(&n->lock);
		if (n->in_table) {
			table_del_locked(fs, n);
			free(n->key);
			n->key = nk;
			nk = NULL;
			table_add_locked(fs, n);
		}
		if (dirty)
			n->exists = 0;
		pthread_mutex_unlock(&n->lock);
		pthread_mutex_unlock(&fs->lock);
	}
	free(nk);
	pthread_mutex_lock(&n->lock);
	node_unclaim(n);
	pthread_mutex_unlock(&n->lock);
	if (dirty && n->manifest) {
		/* the manifest must name the new key */
		pthread_mutex_lock(&n->lock);
		{
			json_t *meta = node_meta_json(n), *m = meta ? manifest_json(n, to, meta)
									: NULL;

			if (m)
				(void)spool_write_manifest(fs->spool, n->spool_id, m, 1);
			json_decref(m);
			json_decref(meta);
		}
		pthread_mutex_unlock(&n->lock);
	}
	node_put(fs, n);
	return dirty;
}

static int rename_file(struct stepfs *fs, const char *from, const char *to)
{
	struct store_error err;
	enum store_err e;
	int remote, r;

	r = rekey_node(fs, from, to, &remote);
	if (r < 0)
		return r;
	if (r) {
		r = 0;
		/* uncommitted: the next commit writes @to; drop the old object */
		if (remote) {
			e = store_delete(fs->store, from, &err);
			if (e != STORE_OK)
				return -store_err_to_errno(e);
			r = emit(fs, COMMIT_DELETE, from, 0, NULL, NULL, ctx_pid());
		}
		return r;
	}
	return move_key(fs, from, to);
}

static int rename_dir(struct stepfs *fs, const char *from, const char *to)
{
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_error err;
	char fdir[1110], tdir[1110];
	size_t flen, i, b;
	int r = 0;

	snprintf(fdir, sizeof(fdir), "%s/", from);
	snprintf(tdir, sizeof(tdir), "%s/", to);
	flen = strlen(fdir);
	/* open and spooled files below move first (their commits use the new keys) */
	for (;;) {
		char *k = NULL;
		int moved = 0;

		pthread_mutex_lock(&fs->lock);
		for (b = 0; b < NODE_BUCKETS && !k; b++) {
			struct node *x;

			for (x = fs->nodes[b]; x && !k; x = x->hnext)
				if (strncmp(x->key, fdir, flen) == 0)
					k = strdup(x->key);
		}
		pthread_mutex_unlock(&fs->lock);
		if (!k)
			break;
		{
			char nk[2200];
			int remote;

			snprintf(nk, sizeof(nk), "%s%s", tdir, k + flen);
			moved = rekey_node(fs, k, nk, &remote);
		}
		free(k);
		if (moved < 0)
			return moved; /* the node kept its key: looking again would spin */
	}
	/* then every key in the bucket, page by page (not atomic) */
	for (;;) {
		struct store_list l;
		enum store_err e;

		lo.prefix = fdir;
		e = store_list_page(fs->store, &lo, &l, &err); /* moved keys are gone: relist */
		if (e != STORE_OK) {
			r = -store_err_to_errno(e);
			break;
		}
		for (i = 0; i < l.n && r == 0; i++) {
			char nk[2200];

			snprintf(nk, sizeof(nk), "%s%s", tdir, l.entries[i].key + flen);
			r = move_key(fs, l.entries[i].key, nk);
		}
		i = l.n;
		store_list_release(&l);
		if (r < 0 || i == 0)
			break;
	}
	return r;
}

static int dir_empty(struct stepfs *fs, const char *key)
{
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_list l;
	char dkey[1110];
	size_t i;
	int r = 1;

	snprintf(dkey, sizeof(dkey), "%s/", key);
	if (local_children(fs, dkey))
		return 0;
	lo.prefix = dkey;
	lo.max_keys = 2;
	if (store_list_page(fs->store, &lo, &l, NULL) != STORE_OK)
		return -EIO;
	for (i = 0; i < l.n; i++)
		if (strcmp(l.entries[i].key, dkey) != 0)
			r = 0;
	if (l.nprefixes)
		r = 0;
	store_list_release(&l);
	return r;
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct stepfs *fs = get_fs();
	struct stat sf, st;
	char fk[1100], tk[1100];
	int r, to_exists;

	if (fs->o.ro)
		return -EROFS;
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE cannot be done on S3 */
	r = path_key(from, fk, sizeof(fk));
	if (r == 0)
		r = new_path_key(to, tk, sizeof(tk));
	if (r < 0)
		return r;
	if (!*fk || !*tk)
		return -EBUSY;
	r = lookup(fs, fk, &sf);
	if (r < 0)
		return r;
	r = lookup(fs, tk, &st);
	if (r < 0 && r != -ENOENT)
		return r;
	to_exists = r == 0;
	if (to_exists) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (S_ISDIR(st.st_mode) && !S_ISDIR(sf.st_mode))
			return -EISDIR;
		if (!S_ISDIR(st.st_mode) && S_ISDIR(sf.st_mode))
			return -ENOTDIR;
	}
	if (S_ISDIR(sf.st_mode)) {
		size_t fl = strlen(fk);

		if (strncmp(tk, fk, fl) == 0 && tk[fl] == '/')
			return -EINVAL; /* into itself */
		if (to_exists) {
			r = dir_empty(fs, tk);
			if (r < 0)
				return r;
			if (!r)
				return -ENOTEMPTY;
			r = op_rmdir(to);
			if (r < 0)
				return r;
		}
		r = rename_dir(fs, fk, tk);
		mcache_invalidate_tree(fs->mc, from);
		mcache_invalidate_tree(fs->mc, to);
		if (r == 0) {
			dir_note(fs, from, 0);
			dir_note(fs, to, 1);
		}
		return r;
	}
	r = rename_file(fs, fk, tk);
	mcache_invalidate(fs->mc, from);
	mcache_invalidate(fs->mc, to);
	if (r == 0) {
		dir_note(fs, from, 0);
		dir_note(fs, to, 1);
	}
	return r;
}

static int op_link(const char *from, const char *to)
{
	return -EPERM; /* objects have no hard links */
}

static int op_mknod(const char *path, mode_t mode, dev_t dev)
{
	return -EPERM; /* only regular files, directories and symlinks are stored */
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	/* a bucket has no size limit: report a large, constant free space, as
	 * every S3 file system does, so that tools do not refuse to write */
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)1 << 38; /* 1 PiB */
	sv->f_bfree = sv->f_blocks;
	sv->f_bavail = sv->f_blocks;
	sv->f_files = (fsfilcnt_t)1 << 32;
	sv->f_ffree = sv->f_files;
	sv->f_favail = sv->f_files;
	sv->f_namemax = 255;
	return 0;
}

/*
 * A directory handle's listing: the entries of every ListObjectsV2 page, in
 * listing order, then the local files not yet committed. readdir serves it
 * by offset ("." is 1, ".." 2, entry i is i + 3), so that libfuse 3.14
 * sends each entry to the kernel with its attributes (readdirplus); with
 * offset 0 for everything it buffers the whole directory and sends no
 * attributes, and `ls -l` then costs a LOOKUP round trip per entry. The
 * readdir at offset 0 lists the first page; the other pages are listed by a
 * thread of the handle while the kernel consumes the earlier ones.
 * (libfuse looks an entry up before it knows the entry fits the reply, so
 * the one that does not fit keeps a lookup count in libfuse's node table the
 * kernel never forgets: a node per readdir reply, per name, not per call.)
 */
struct dlent {
	char *name;
	struct stat st;
	int plus; /* attributes the kernel may cache (readdirplus) */
};

struct dirlist {
	struct stepfs *fs;
	char dkey[1110];  /* "" or "a/b/" */
	char dpath[1110]; /* "" or "/a/b" */
	size_t dlen;
	/* the lister's own (the first page's readdir, then the thread) */
	char *token;      /* next page; NULL after the last */
	char **names;     /* names so far, for a file and a prefix of one name */
	size_t nnames, cap_names;
	pthread_t thread;
	int thread_started;
	/* shared with readdir */
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct dlent *e;
	size_t n, cap;
	int done;         /* every page listed */
	int err;          /* -errno: a page failed */
	int stop;         /* the handle is released */
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dirlist_free(struct dirlist *dl)
{
	size_t i;

	if (!dl)
		return;
	if (dl->thread_started) {
		pthread_mutex_lock(&dl->lock);
		dl->stop = 1;
		pthread_mutex_unlock(&dl->lock);
		pthread_join(dl->thread, NULL);
	}
	for (i = 0; i < dl->n; i++)
		free(dl->e[i].name);
	free(dl->e);
	for (i = 0; i < dl->nnames; i++)
		free(dl->names[i]);
	free(dl->names);
	free(dl->token);
	pthread_mutex_destroy(&dl->lock);
	pthread_cond_destroy(&dl->more);
	free(dl);
}

/* Append one entry to @v (not yet visible to readdir). Returns 0 or -ENOMEM. */
static int dlent_push(struct dlent **v, size_t *n, size_t *cap, const char *name,
		      const struct stat *st, int plus)
{
	struct dlent *x;

	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 256;

		x = realloc(*v, nc * sizeof(*x));
		if (!x)
			return -ENOMEM;
		*v = x;
		*cap = nc;
	}
	x = &(*v)[*n];
	x->name = strdup(name);
	if (!x->name)
		return -ENOMEM;
	x->st = *st;
	x->plus = plus;
	(*n)++;
	return 0;
}

/*
 * One listed name: cached exact attributes if any, else @lst (from the
 * listing; remembered as such for lookups of files).
 */
static int dirlist_add(struct dirlist *dl, struct dlent **v, size_t *n, size_t *cap,
		       const char *name, const struct stat *lst, int is_dir)
{
	struct stepfs *fs = dl->fs;
	char path[2300];
	struct stat st;
	int plus;

	snprintf(path, sizeof(path), "%s/%s", dl->dpath, name);
	if (mcache_get(fs->mc, path, &st) == MCACHE_FULL) {
		plus = 1;
	} else {
		st = *lst;
		if (!is_dir)
			mcache_put(fs->mc, path, &st, MCACHE_LIST, mcache_wctr(fs->mc));
		plus = !fs->o.exact_attrs;
	}
	if (dl->nnames == dl->cap_names) {
		size_t nc = dl->cap_names ? 2 * dl->cap_names : 256;
		char **nn = realloc(dl->names, nc * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		dl->names = nn;
		dl->cap_names = nc;
	}
	dl->names[dl->nnames] = strdup(name);
	if (!dl->names[dl->nnames])
		return -ENOMEM;
	dl->nnames++;
	return dlent_push(v, n, cap, name, &st, plus);
}

/*
 * exact_attrs: HEAD the listed files of one page whose exact metadata is not
 * cached, DIRLIST_HEADS at a time, so that readdir hands the kernel exact
 * attributes and `ls -l` waits for these instead of one LOOKUP and HEAD
 * after the other. A file whose HEAD fails is left to the kernel's lookup.
 */
#define DIRLIST_HEADS 16

struct dirlist_heads {
	struct dirlist *dl;
	struct dlent *v;
	size_t n;
	atomic_size_t next;
};

static void *dirlist_head_worker(void *arg)
{
	struct dirlist_heads *hj = arg;
	struct stepfs *fs = hj->dl->fs;
	size_t i;

	while ((i = atomic_fetch_add(&hj->next, 1)) < hj->n) {
		struct dlent *x = &hj->v[i];
		char key[2300], path[2300];
		struct store_obj o;
		uint64_t w;

		if (x->plus || !S_ISREG(x->st.st_mode))
			continue;
		snprintf(key, sizeof(key), "%s%s", hj->dl->dkey, x->name);
		snprintf(path, sizeof(path), "%s/%s", hj->dl->dpath, x->name);
		w = mcache_wctr(fs->mc);
		if (store_head(fs->store, key, &o, NULL) != STORE_OK)
			continue;
		obj_stat(fs, &o, 0, &x->st);
		store_obj_release(&o);
		mcache_put(fs->mc, path, &x->st, MCACHE_FULL, w);
		x->plus = 1;
	}
	return NULL;
}

static void dirlist_heads(struct dirlist *dl, struct dlent *v, size_t n)
{
	struct dirlist_heads hj = { dl, v, n, 0 };
	pthread_t t[DIRLIST_HEADS];
	int started[DIRLIST_HEADS] = { 0 };
	size_t i, want = 0;
	int k;

	for (i = 0; i < n; i++)
		want += !v[i].plus && S_ISREG(v[i].st.st_mode);
	for (k = 1; k < DIRLIST_HEADS && (size_t)k < want; k++)
		started[k] = spawn_thread(&t[k], dirlist_head_worker, &hj) == 0;
	dirlist_head_worker(&hj);
	for (k = 1; k < DIRLIST_HEADS; k++)
		if (started[k])
			pthread_join(t[k], NULL);
}

/* The files of this directory created here and not yet committed. */
static int dirlist_add_local(struct dirlist *dl, struct dlent **v, size_t *n, size_t *cap)
{
	struct stepfs *fs = dl->fs;
	struct stat st;
	size_t b;
	int r = 0;

	if (dl->nnames > 1)
		qsort(dl->names, dl->nnames, sizeof(*dl->names), name_cmp);
	pthread_mutex_lock(&fs->lock);
	for (b = 0; b < NODE_BUCKETS && r == 0; b++) {
		struct node *x;

		for (x = fs->nodes[b]; x && r == 0; x = x->hnext) {
			const char *name = x->key + dl->dlen;
			const char *nptr = name;

			if (strncmp(x->key, dl->dkey, dl->dlen) != 0 || !*name || strchr(name, '/'))
				continue;
			if (dl->nnames &&
			    bsearch(&nptr, dl->names, dl->nnames, sizeof(*dl->names), name_cmp))
				continue;
			pthread_mutex_lock(&x->lock);
			if (x->fd >= 0 || x->dirty) {
				node_stat(fs, x, &st);
				r = dlent_push(v, n, cap, name, &st, 0);
			}
			pthread_mutex_unlock(&x->lock);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return r;
}

/*
 * List the next page (the first if none was listed) and publish its
 * entries; after the last page, the local files too. Returns 0 or -errno
 * (also recorded in dl->err).
 */
static int dirlist_page(struct dirlist *dl, int first)
{
	struct stepfs *fs = dl->fs;
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_list l;
	struct store_error err;
	struct dlent *v = NULL;
	size_t n = 0, cap = 0, i, nsorted;
	struct stat st;
	enum store_err e;
	int r = 0;

	lo.prefix = dl->dkey;
	lo.delimiter = "/";
	lo.token = first ? NULL : dl->token;
	e = store_list_page(fs->store, &lo, &l, &err);
	if (e != STORE_OK) {
		log_debug("cannot list '%s': %s", dl->dkey, err.message);
		r = -store_err_to_errno(e);
		goto publish;
	}
	for (i = 0; i < l.n && r == 0; i++) {
		const char *name = l.entries[i].key + dl->dlen;

		if (!*name || strchr(name, '/'))
			continue; /* the directory's own marker */
		obj_stat(fs, &l.entries[i].obj, 0, &st);
		r = dirlist_add(dl, &v, &n, &cap, name, &st, 0);
	}
	if (dl->nnames > 1)
		qsort(dl->names, dl->nnames, sizeof(*dl->names), name_cmp);
	nsorted = dl->nnames;
	for (i = 0; i < l.nprefixes && r == 0; i++) {
		char name[1100];
		size_t pl = strlen(l.prefixes[i]);
		char *nptr = name;

		if (pl <= dl->dlen + 1)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(pl - dl->dlen - 1),
			 l.prefixes[i] + dl->dlen);
		if (nsorted && bsearch(&nptr, dl->names, nsorted, sizeof(*dl->names), name_cmp))
			continue; /* a file and a prefix with one name: the file is shown */
		root_stat(fs, &st);
		r = dirlist_add(dl, &v, &n, &cap, name, &st, 1);
	}
	free(dl->token);
	dl->token = NULL;
	if (r == 0 && l.next_token) {
		dl->token = strdup(l.next_token);
		if (!dl->token)
			r = -ENOMEM;
	}
	store_list_release(&l);
	if (r == 0 && fs->o.exact_attrs)
		dirlist_heads(dl, v, n);
	if (r == 0 && !dl->token)
		r = dirlist_add_local(dl, &v, &n, &cap);
publish:
	pthread_mutex_lock(&dl->lock);
	if (r == 0 && n && dl->n + n > dl->cap) {
		size_t nc = dl->cap ? dl->cap : 256;
		struct dlent *x;

		while (nc < dl->n + n)
			nc *= 2;
		x = realloc(dl->e, nc * sizeof(*x));
		if (x) {
			dl->e = x;
			dl->cap = nc;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0) {
		if (n)
			memcpy(dl->e + dl->n, v, n * sizeof(*v));
		dl->n += n;
		n = 0;
		if (!dl->token)
			dl->done = 1;
	} else {
		dl->err = r;
	}
	pthread_cond_broadcast(&dl->more);
	pthread_mutex_unlock(&dl->lock);
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return r;
}

static void *dirlist_worker(void *arg)
{
	struct dirlist *dl = arg;

	for (;;) {
		int stop;

		pthread_mutex_lock(&dl->lock);
		stop = dl->stop || dl->done || dl->err;
		pthread_mutex_unlock(&dl->lock);
		if (stop || dirlist_page(dl, 0) < 0)
			break;
	}
	return NULL;
}

/* A new listing of @path's directory with its first page. */
static int dirlist_start(struct stepfs *fs, const char *path, struct dirlist **ret)
{
	struct dirlist *dl = calloc(1, sizeof(*dl));
	char key[1100];
	int r;

	if (!dl)
		return -ENOMEM;
	r = path_key(path, key, sizeof(key));
	if (r < 0) {
		free(dl);
		return r;
	}
	dl->fs = fs;
	snprintf(dl->dkey, sizeof(dl->dkey), "%s%s", key, *key ? "/" : "");
	snprintf(dl->dpath, sizeof(dl->dpath), "%s", strcmp(path, "/") == 0 ? "" : path);
	dl->dlen = strlen(dl->dkey);
	pthread_mutex_init(&dl->lock, NULL);
	pthread_cond_init(&dl->more, NULL);
	r = dirlist_page(dl, 1);
	if (r < 0) {
		dirlist_free(dl);
		return r;
	}
	if (dl->token) {
		if (spawn_thread(&dl->thread, dirlist_worker, dl) == 0)
			dl->thread_started = 1;
		else
			dirlist_worker(dl); /* no thread: list the rest here */
	}
	*ret = dl;
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct stepfs *fs = get_fs();
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	struct dirlist *dl;
	int plus = (flags & FUSE_READDIR_PLUS) != 0;
	size_t i;
	int r, filled = 0;

	if (!h)
		return -EBADF;
	if (off == 0 || !h->dl) { /* (re)start: rewinddir() sees changes */
		dirlist_free(h->dl);
		h->dl = NULL;
		r = dirlist_start(fs, h->dirpath, &h->dl);
		if (r < 0)
			return r;
	}
	dl = h->dl;
	if (off < 1 && filler(buf, ".", NULL, 1, 0))
		return 0;
	if (off < 2 && filler(buf, "..", NULL, 2, 0))
		return 0;
	for (i = off > 2 ? (size_t)off - 2 : 0;; i++) {
		struct dlent x;

		pthread_mutex_lock(&dl->lock);
		while (i >= dl->n && !dl->done && !dl->err)
			pthread_cond_wait(&dl->more, &dl->lock);
		if (i >= dl->n) {
			r = dl->err;
			pthread_mutex_unlock(&dl->lock);
			return filled ? 0 : r;
		}
		x = dl->e[i]; /* the name stays until dirlist_free() */
		pthread_mutex_unlock(&dl->lock);
		if (filler(buf, x.name, &x.st, (off_t)i + 3,
			   plus && x.plus ? FUSE_FILL_DIR_PLUS : 0))
			return 0;
		filled = 1;
	}
}

static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->dirpath = strdup(path);
	if (!h->dirpath) {
		free(h);
		return -ENOMEM;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (h) {
		dirlist_free(h->dl);
		free(h->dirpath);
		free(h);
	}
	return 0;
}

static int op_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	return 0; /* directory changes are committed when they are made */
}

static const struct fuse_operations stepfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.write_buf = op_write_buf,
	.statfs = op_statfs,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.fsyncdir = op_fsyncdir,
	.opendir = op_opendir,
	.releasedir = op_releasedir,
	.create = op_create,
	.utimens = op_utimens,
};

const struct fuse_operations *stepfs_fuse_ops(void)
{
	return &stepfs_ops;
}

struct stepfs *stepfs_new(const struct stepfs_opts *opts, struct store *store,
			  const struct commit_sink *sink, int *ret_err)
{
	struct stepfs *fs = calloc(1, sizeof(*fs));
	size_t b;
	int r;

	if (!fs) {
		store_free(store);
		*ret_err = -ENOMEM;
		return NULL;
	}
	fs->o = *opts;
	if (fs->o.part_size < MIN_PART)
		fs->o.part_size = MIN_PART;
	if (fs->o.part_max < fs->o.part_size)
		fs->o.part_max = fs->o.part_size;
	parts_init(&fs->plan, fs->o.part_size, fs->o.part_max);
	fs->store = store;
	fs->sink = sink;
	if (store->ops->xfer_defaults) {
		struct store_xfer_opts xo = STORE_XFER_OPTS_INIT;

		store->ops->xfer_defaults(store, &xo);
		fs->digests = xo.digests;
	}
	clock_gettime(CLOCK_REALTIME, &fs->started);
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->wake, NULL);
	atomic_init(&fs->read_mem, 0);
	for (b = 0; b < 4; b++)
		atomic_init(&fs->n_commits[b], 0);
	atomic_init(&fs->n_bytes_up, 0);
	atomic_init(&fs->n_bytes_down, 0);
	atomic_init(&fs->n_upload_failures, 0);
	atomic_init(&fs->n_retries, 0);
	fs->mc = mcache_new(opts->cache_entries, opts->attr_ttl_ms, opts->neg_ttl_ms);
	if (!fs->mc) {
		r = -ENOMEM;
		goto fail;
	}
	fs->spool = spool_open(opts->spool_dir, opts->spool_max, &r);
	if (!fs->spool) {
		log_errno(r, "cannot open the spool directory '%s'", opts->spool_dir);
		goto fail;
	}
	r = spool_scan(fs->spool, rescan_one, fs);
	if (r < 0)
		log_errno(r, "cannot scan the spool '%s'", opts->spool_dir);
	return fs;
fail:
	stepfs_free(fs);
	*ret_err = r;
	return NULL;
}

void stepfs_free(struct stepfs *fs)
{
	size_t b;

	if (!fs)
		return;
	if (fs->retrier_started)
		op_destroy(fs);
	for (b = 0; b < NODE_BUCKETS; b++) {
		struct node *n = fs->nodes[b], *next;

		for (; n; n = next) {
			next = n->hnext;
			if (n->fd >= 0)
				close(n->fd); /* the spool files stay for the next mount */
			wdig_free(n->wd);
			json_decref(n->extra);
			pthread_mutex_destroy(&n->lock);
			pthread_cond_destroy(&n->cond);
			free(n->key);
			free(n);
		}
	}
	mcache_free(fs->mc);
	spool_free(fs->spool);
	store_free(fs->store);
	pthread_mutex_destroy(&fs->lock);
	pthread_cond_destroy(&fs->wake);
	free(fs);
}

void stepfs_get_stats(struct stepfs *fs, struct stepfs_stats *ret)
{
	ret->puts = atomic_load(&fs->n_commits[COMMIT_PUT]);
	ret->multiparts = atomic_load(&fs->n_commits[COMMIT_MULTIPART]);
	ret->copies = atomic_load(&fs->n_commits[COMMIT_COPY]);
	ret->deletes = atomic_load(&fs->n_commits[COMMIT_DELETE]);
	ret->bytes_uploaded = atomic_load(&fs->n_bytes_up);
	ret->bytes_downloaded = atomic_load(&fs->n_bytes_down);
	ret->upload_failures = atomic_load(&fs->n_upload_failures);
	ret->retries = atomic_load(&fs->n_retries);
	ret->spool_bytes = spool_used(fs->spool);
	ret->spool_files = spool_files(fs->spool);
}
