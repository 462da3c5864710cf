/*
 * The local-directory backend of struct store (layout in fs/localstore.h).
 *
 * Invariants: a data file only ever appears under its final name by
 * rename(2) of a complete, fsync'd temp file; its metadata record is written
 * (also by rename) just before, naming the size and mtime of that temp file,
 * so a record that does not describe the current data file is stale and
 * ignored. All paths are resolved relative to directory descriptors opened
 * once, so the mount point may move; keys are validated before any use so
 * that no key can escape the root or touch .stepfs-meta.
 */
#include "fs/localstore.h"
#include "fs/sigv4.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LS_META_DIR ".stepfs-meta"
#define LS_MIN_PART (5u << 20)
#define LS_MAX_KEY 1024
#define LS_EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e" /* ETag of an empty body */

struct localstore {
	struct store base;
	char *root;
	int rootfd; /* O_DIRECTORY of the bucket root */
	int metafd; /* .stepfs-meta/m */
	int tmpfd;  /* .stepfs-meta/tmp */
	int mpufd;  /* .stepfs-meta/mpu */
	atomic_ulong seq; /* temp-name and upload-id counter */
};

/* What a metadata record says; strings are owned by the struct. */
struct ls_rec {
	char etag[80];
	uint64_t size;
	int64_t mtime_ns;
	char content_type[128];
	json_t *meta; /* new reference or NULL */
};

static struct localstore *ls_of(struct store *s)
{
	return (struct localstore *)s;
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct timespec ns_ts(int64_t ns)
{
	struct timespec t = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	return t;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return ts_ns(t);
}

static int unhex(const char *in, unsigned char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi, lo;
		char c = in[2 * i], d = in[2 * i + 1];

		hi = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		lo = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return in[2 * n] == '\0' ? 0 : -1;
}

/* Valid key: 1..1024 bytes, relative, no empty/"."/".." component (a final
 * "/" marks a directory marker), components <= 255 bytes, not in .stepfs-meta. */
static int key_valid(const char *key)
{
	const char *p = key, *slash;
	size_t n = strlen(key), c;

	if (n == 0 || n > LS_MAX_KEY || key[0] == '/')
		return 0;
	for (;;) {
		slash = strchr(p, '/');
		c = slash ? (size_t)(slash - p) : strlen(p);
		if (!slash && c == 0)
			return 1; /* trailing slash */
		if (c == 0 || c > 255 || (c == 1 && p[0] == '.') ||
		    (c == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (p == key && c == sizeof(LS_META_DIR) - 1 && memcmp(p, LS_META_DIR, c) == 0)
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

static int is_marker(const char *key)
{
	size_t n = strlen(key);

	return n > 0 && key[n - 1] == '/';
}

static enum store_err bad_key(struct store_error *err, const char *key)
{
	return store_set_error(err, STORE_EINVAL, 0, "InvalidKey",
			       "key '%s' cannot be stored in a local directory", key);
}

static enum store_err io_err(struct store_error *err, int e, const char *what, const char *key)
{
	if (e == ENOMEM)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	if (e == ENOSPC || e == EDQUOT)
		return store_set_error(err, STORE_ETOOLARGE, 0, NULL, "%s '%s': %s", what, key,
				       strerror(e));
	if (e == EACCES || e == EPERM)
		return store_set_error(err, STORE_EDENIED, 0, "AccessDenied", "%s '%s': %s", what,
				       key, strerror(e));
	return store_set_error(err, STORE_EIO, 0, NULL, "%s '%s': %s", what, key, strerror(e));
}

/* Directory path of a marker key without its slash ("a/b/" -> "a/b"). */
static char *marker_dir(const char *key)
{
	return strndup(key, strlen(key) - 1);
}

static void rec_name(const char *key, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_Digest(key, strlen(key), md, &n, EVP_sha256(), NULL);
	sigv4_hex(md, 32, out);
}

static void rec_release(struct ls_rec *r)
{
	json_decref(r->meta);
	r->meta = NULL;
}

/* Read the record of @key; -ENOENT if none. */
static int rec_read(struct localstore *ls, const char *key, struct ls_rec *ret)
{
	char name[65];
	json_error_t jerr;
	json_t *j, *v;
	const char *s;
	int fd;

	rec_name(key, name);
	fd = openat(ls->metafd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	j = json_loadfd(fd, 0, &jerr);
	close(fd);
	if (!j)
		return -ENOENT; /* torn or foreign: treat as absent */
	memset(ret, 0, sizeof(*ret));
	s = json_string_value(json_object_get(j, "key"));
	if (!s || strcmp(s, key) != 0) {
		json_decref(j);
		return -ENOENT;
	}
	snprintf(ret->etag, sizeof(ret->etag), "%s",
		 json_string_value(json_object_get(j, "etag")) ?: "");
	snprintf(ret->content_type, sizeof(ret->content_type), "%s",
		 json_string_value(json_object_get(j, "content_type")) ?: "");
	ret->size = (uint64_t)json_integer_value(json_object_get(j, "size"));
	ret->mtime_ns = json_integer_value(json_object_get(j, "mtime_ns"));
	v = json_object_get(j, "meta");
	if (json_is_object(v))
		ret->meta = json_incref(v);
	json_decref(j);
	return 0;
}

static int fsync_dirfd(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void tmp_name(struct localstore *ls, char *out, size_t n)
{
	snprintf(out, n, "t.%ld.%lu", (long)getpid(), atomic_fetch_add(&ls->seq, 1));
}

/* Write the record for @key atomically (tmp + rename; fsync'd). */
static int rec_write(struct localstore *ls, const char *key, const char *etag, uint64_t size,
		     int64_t mtime_ns, const char *content_type, json_t *meta)
{
	char name[65], tmp[64];
	json_t *j;
	char *text = NULL;
	size_t len, off = 0;
	int fd = -1, r = 0;

	j = json_pack("{s:s, s:s, s:I, s:I, s:s}", "key", key, "etag", etag, "size",
		      (json_int_t)size, "mtime_ns", (json_int_t)mtime_ns, "content_type",
		      content_type ? content_type : "application/octet-stream");
	if (!j)
		return -ENOMEM;
	if (meta && json_object_set(j, "meta", meta) < 0) {
		r = -ENOMEM;
		goto out;
	}
	text = json_dumps(j, JSON_COMPACT);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(text);
	rec_name(key, name);
	tmp_name(ls, tmp, sizeof(tmp));
	fd = openat(ls->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t k = write(fd, text + off, len - off);

		if (k < 0) {
			r = -errno;
			goto fail;
		}
		off += (size_t)k;
	}
	if (fsync(fd) < 0 || renameat(ls->tmpfd, tmp, ls->metafd, name) < 0) {
		r = -errno;
		goto fail;
	}
	goto out;
fail:
	(void)unlinkat(ls->tmpfd, tmp, 0);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(j);
	return r;
}

static void rec_remove(struct localstore *ls, const char *key)
{
	char name[65];

	rec_name(key, name);
	(void)unlinkat(ls->metafd, name, 0);
}

/* MD5 of the whole file @fd, as hex. */
static int md5_fd(int fd, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(1 << 16);
	off_t off = 0;
	int r = 0;

	if (!ctx || !buf) {
		r = -ENOMEM;
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (;;) {
		ssize_t k = pread(fd, buf, 1 << 16, off);

		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)k);
		off += k;
	}
	EVP_DigestFinal_ex(ctx, md, &n);
	sigv4_hex(md, 16, out);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return r;
}

/*
 * Describe the object @key (a file, not a marker) from its data file and
 * record; recompute the ETag (and rewrite the record) when the record is
 * stale. @want_meta: also return the metadata.
 */
static enum store_err file_obj(struct localstore *ls, const char *key, int want_meta,
			       struct store_obj *ret, struct store_error *err)
{
	struct ls_rec rec;
	struct stat st;
	int fd, r, have;

	fd = openat(ls->rootfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey",
					       "no such key '%s'", key);
		return io_err(err, errno, "cannot open", key);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey", "no such key '%s'",
				       key);
	}
	memset(ret, 0, sizeof(*ret));
	ret->size = (uint64_t)st.st_size;
	ret->last_modified = st.st_mtim;
	have = rec_read(ls, key, &rec) == 0;
	if (have && (rec.size != (uint64_t)st.st_size || rec.mtime_ns != ts_ns(st.st_mtim))) {
		rec_release(&rec);
		have = 0;
	}
	if (have) {
		snprintf(ret->etag, sizeof(ret->etag), "%s", rec.etag);
		snprintf(ret->content_type, sizeof(ret->content_type), "%s", rec.content_type);
		if (want_meta)
			ret->meta = json_incref(rec.meta);
		rec_release(&rec);
	} else {
		char md[33];

		r = md5_fd(fd, md);
		if (r < 0) {
			close(fd);
			return io_err(err, -r, "cannot read", key);
		}
		snprintf(ret->etag, sizeof(ret->etag), "%s", md);
		snprintf(ret->content_type, sizeof(ret->content_type), "application/octet-stream");
		(void)rec_write(ls, key, md, (uint64_t)st.st_size, ts_ns(st.st_mtim), NULL, NULL);
	}
	close(fd);
	return STORE_OK;
}

/*
 * Does the directory @path (relative to the root) hold an object or a
 * directory? 1 yes, 0 no (empty, or only symlinks and the like), -1 cannot
 * be read (gone).
 */
static int dir_has_children(struct localstore *ls, const char *path)
{
	int fd = openat(ls->rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int found = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (!found && (de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_REG || de->d_type == DT_DIR)
			found = 1;
		else if (de->d_type == DT_UNKNOWN &&
			 fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			 (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			found = 1;
	}
	closedir(d);
	return found;
}

/*
 * The marker "a/b/": the directory ROOT/a/b with its record, or, without a
 * record, an empty directory (made by hand in the bucket directory: the
 * natural form of a marker without metadata; it reports the directory's mode
 * and mtime). A non-empty directory without a record is only a prefix.
 */
static enum store_err marker_obj(struct localstore *ls, const char *key, int want_meta,
				 struct store_obj *ret, struct store_error *err)
{
	struct ls_rec rec;
	struct stat st;
	char *dir = marker_dir(key);
	int r;

	if (!dir)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	r = fstatat(ls->rootfd, dir, &st, AT_SYMLINK_NOFOLLOW);
	if (r == 0 && S_ISDIR(st.st_mode) && rec_read(ls, key, &rec) < 0) {
		r = dir_has_children(ls, dir);
		free(dir);
		if (r != 0)
			return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey",
					       "no such key '%s'", key);
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->etag, sizeof(ret->etag), "%s", LS_EMPTY_MD5);
		snprintf(ret->content_type, sizeof(ret->content_type), "application/x-directory");
		ret->last_modified = st.st_mtim;
		if (want_meta) {
			char b[32];

			snprintf(b, sizeof(b), "%u", (unsigned)st.st_mode);
			ret->meta = json_pack("{s:s}", "mode", b);
		}
		return STORE_OK;
	}
	free(dir);
	if (r < 0 || !S_ISDIR(st.st_mode))
		return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey", "no such key '%s'",
				       key);
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->etag, sizeof(ret->etag), "%s", rec.etag);
	snprintf(ret->content_type, sizeof(ret->content_type), "%s", rec.content_type);
	ret->last_modified = ns_ts(rec.mtime_ns);
	if (want_meta)
		ret->meta = json_incref(rec.meta);
	rec_release(&rec);
	return STORE_OK;
}

static enum store_err ls_head(struct store *s, const char *key, struct store_obj *ret,
			      struct store_error *err)
{
	struct localstore *ls = ls_of(s);

	if (!key_valid(key))
		return bad_key(err, key);
	return is_marker(key) ? marker_obj(ls, key, 1, ret, err) : file_obj(ls, key, 1, ret, err);
}

static enum store_err ls_get_range(struct store *s, const char *key, uint64_t off, uint64_t len,
				   void *buf, size_t *ret_n, struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	struct stat st;
	size_t done = 0;
	int fd;

	if (!key_valid(key))
		return bad_key(err, key);
	if (is_marker(key))
		return store_set_error(err, STORE_EINVAL, 416, "InvalidRange",
				       "range not satisfiable for '%s'", key);
	fd = openat(ls->rootfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey", "no such key '%s'",
				       key);
	}
	/* as S3: a range starting at or after the end is not satisfiable */
	if (off >= (uint64_t)st.st_size) {
		close(fd);
		return store_set_error(err, STORE_EINVAL, 416, "InvalidRange",
				       "range %llu- not satisfiable for '%s' (size %llu)",
				       (unsigned long long)off, key,
				       (unsigned long long)st.st_size);
	}
	while (done < len) {
		ssize_t k = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (k < 0) {
			int e = errno;

			close(fd);
			return io_err(err, e, "cannot read", key);
		}
		if (k == 0)
			break;
		done += (size_t)k;
	}
	close(fd);
	*ret_n = done;
	return STORE_OK;
}

static enum store_err ls_get_to_fd(struct store *s, const char *key, int fd, struct store_obj *ret,
				   struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	struct store_obj obj;
	enum store_err e;
	char *buf = NULL;
	off_t off = 0;
	int src;

	if (!key_valid(key) || is_marker(key))
		return bad_key(err, key);
	src = openat(ls->rootfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey", "no such key '%s'",
				       key);
	e = file_obj(ls, key, 1, &obj, err);
	if (e != STORE_OK)
		goto out;
	buf = malloc(1 << 16);
	if (!buf) {
		e = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto fail;
	}
	for (;;) {
		ssize_t k = pread(src, buf, 1 << 16, off), w = 0;

		if (k < 0) {
			e = io_err(err, errno, "cannot read", key);
			goto fail;
		}
		if (k == 0)
			break;
		while (w < k) {
			ssize_t x = pwrite(fd, buf + w, (size_t)(k - w), off + w);

			if (x < 0) {
				e = io_err(err, errno, "cannot write the copy of", key);
				goto fail;
			}
			w += x;
		}
		off += k;
	}
	if (ret)
		*ret = obj;
	else
		store_obj_release(&obj);
	goto out;
fail:
	store_obj_release(&obj);
out:
	free(buf);
	close(src);
	return e;
}

/* mkdir -p of the parent directories of @key (relative to the root). */
static int make_parents(struct localstore *ls, const char *key)
{
	char path[LS_MAX_KEY + 1];
	char *p;
	struct stat st;

	snprintf(path, sizeof(path), "%s", key);
	for (p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdirat(ls->rootfd, path, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (fstatat(ls->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		*p = '/';
	}
	return 0;
}

/* Remove now-empty implicit parent directories of @key, deepest first. */
static void prune_parents(struct localstore *ls, const char *key)
{
	char path[LS_MAX_KEY + 2];
	char *p;
	size_t n;

	snprintf(path, sizeof(path), "%s", key);
	n = strlen(path);
	if (n && path[n - 1] == '/')
		path[n - 1] = '\0';
	while ((p = strrchr(path, '/'))) {
		struct ls_rec rec;

		*p = '\0';
		/* a directory with a marker stays; check the marker "path/" */
		n = strlen(path);
		path[n] = '/';
		path[n + 1] = '\0';
		if (rec_read(ls, path, &rec) == 0) {
			rec_release(&rec);
			return;
		}
		path[n] = '\0';
		if (unlinkat(ls->rootfd, path, AT_REMOVEDIR) < 0)
			return;
	}
}

/*
 * Move the complete temp file @tmp into place as @key with its record.
 * Honours if_match / if_none_match_star. @etag and @st describe the temp file.
 */
static enum store_err commit_tmp(struct localstore *ls, const char *tmp, const char *key,
				 const char *etag, const struct stat *st, const char *content_type,
				 json_t *meta, const struct store_put_opts *opts,
				 struct store_obj *ret, struct store_error *err)
{
	struct store_obj cur;
	enum store_err e;
	char *slash;
	int r, tries;

	if (opts && opts->if_match) {
		e = file_obj(ls, key, 0, &cur, NULL);
		if (e != STORE_OK || strcmp(cur.etag, opts->if_match) != 0) {
			if (e == STORE_OK)
				store_obj_release(&cur);
			e = store_set_error(err, STORE_EPRECONDITION, 412, "PreconditionFailed",
					    "'%s' does not have ETag %s", key, opts->if_match);
			goto fail;
		}
		store_obj_release(&cur);
	}
	r = rec_write(ls, key, etag, (uint64_t)st->st_size, ts_ns(st->st_mtim), content_type,
		      meta);
	if (r < 0) {
		e = io_err(err, -r, "cannot write the metadata of", key);
		goto fail;
	}
	for (tries = 0;; tries++) {
		r = make_parents(ls, key);
		if (r == -ENOTDIR || r == -EEXIST) {
			e = store_set_error(err, STORE_ENOTSUP, 0, "KeyConflict",
					    "key '%s' conflicts with an object that is a prefix "
					    "of it (a local directory cannot hold both)",
					    key);
			goto fail_rec;
		}
		if (r < 0) {
			e = io_err(err, -r, "cannot create the directories of", key);
			goto fail_rec;
		}
		if (opts && opts->if_none_match_star)
			r = renameat2(ls->tmpfd, tmp, ls->rootfd, key, RENAME_NOREPLACE);
		else
			r = renameat(ls->tmpfd, tmp, ls->rootfd, key);
		if (r == 0)
			break;
		r = errno;
		if (r == ENOENT && tries < 5)
			continue; /* a parent was pruned concurrently */
		if (r == EEXIST && opts && opts->if_none_match_star) {
			e = store_set_error(err, STORE_EEXIST, 412, "PreconditionFailed",
					    "'%s' already exists", key);
			goto fail;
		}
		if (r == EISDIR || r == ENOTEMPTY || r == EEXIST || r == ENOTDIR) {
			e = store_set_error(err, STORE_ENOTSUP, 0, "KeyConflict",
					    "key '%s' is a prefix of other keys (a local "
					    "directory cannot hold both)",
					    key);
			goto fail_rec;
		}
		e = io_err(err, r, "cannot commit", key);
		goto fail_rec;
	}
	slash = strrchr(key, '/');
	if (slash) {
		char *dir = strndup(key, (size_t)(slash - key));

		if (dir)
			(void)fsync_dirfd(ls->rootfd, dir);
		free(dir);
	} else {
		(void)fsync(ls->rootfd);
	}
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		ret->size = (uint64_t)st->st_size;
		ret->last_modified = st->st_mtim;
		snprintf(ret->etag, sizeof(ret->etag), "%s", etag);
		snprintf(ret->content_type, sizeof(ret->content_type), "%s",
			 content_type ? content_type : "application/octet-stream");
		ret->meta = json_incref(meta);
	}
	return STORE_OK;
fail_rec:
	rec_remove(ls, key);
fail:
	(void)unlinkat(ls->tmpfd, tmp, 0);
	return e;
}

/* Write a directory marker for @key with the given metadata. */
static enum store_err put_marker(struct localstore *ls, const char *key, const char *content_type,
				 json_t *meta, const struct store_put_opts *opts,
				 struct store_obj *ret, struct store_error *err)
{
	char *dir = marker_dir(key);
	struct ls_rec rec;
	struct stat st;
	int64_t now = now_ns();
	int r;

	if (!dir)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	if (opts && opts->if_none_match_star && rec_read(ls, key, &rec) == 0) {
		rec_release(&rec);
		free(dir);
		return store_set_error(err, STORE_EEXIST, 412, "PreconditionFailed",
				       "'%s' already exists", key);
	}
	r = make_parents(ls, key);
	if (r == 0 && mkdirat(ls->rootfd, dir, 0755) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && (fstatat(ls->rootfd, dir, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		       !S_ISDIR(st.st_mode)))
		r = -ENOTDIR;
	free(dir);
	if (r == -ENOTDIR)
		return store_set_error(err, STORE_ENOTSUP, 0, "KeyConflict",
				       "marker '%s' conflicts with an object of the same name",
				       key);
	if (r < 0)
		return io_err(err, -r, "cannot create", key);
	r = rec_write(ls, key, LS_EMPTY_MD5, 0, now,
		      content_type ? content_type : "application/x-directory", meta);
	if (r < 0)
		return io_err(err, -r, "cannot write the metadata of", key);
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->etag, sizeof(ret->etag), "%s", LS_EMPTY_MD5);
		ret->last_modified = ns_ts(now);
		snprintf(ret->content_type, sizeof(ret->content_type), "%s",
			 content_type ? content_type : "application/x-directory");
		ret->meta = json_incref(meta);
	}
	return STORE_OK;
}

/* Create a temp file; returns its fd and name. */
static int tmp_create(struct localstore *ls, char *name, size_t n)
{
	tmp_name(ls, name, n);
	return openat(ls->tmpfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

/* Append body bytes to @fd from @body, hashing them into @ctx. */
static int write_body(int fd, const struct store_body *body, EVP_MD_CTX *ctx)
{
	char *buf = NULL;
	uint64_t done = 0;
	int r = 0;

	if (!body->data) {
		buf = malloc(1 << 16);
		if (!buf)
			return -ENOMEM;
	}
	while (done < body->len) {
		size_t want = body->len - done > (1 << 16) ? (1 << 16) : (size_t)(body->len - done);
		const char *src;
		ssize_t k;
		size_t w = 0;

		if (body->data) {
			src = (const char *)body->data + done;
			k = (ssize_t)want;
		} else {
			k = pread(body->fd, buf, want, body->off + (off_t)done);
			if (k < 0) {
				r = -errno;
				goto out;
			}
			if (k == 0) {
				r = -EIO; /* the source file is shorter than promised */
				goto out;
			}
			src = buf;
		}
		EVP_DigestUpdate(ctx, src, (size_t)k);
		while (w < (size_t)k) {
			ssize_t x = write(fd, src + w, (size_t)k - w);

			if (x < 0) {
				r = -errno;
				goto out;
			}
			w += (size_t)x;
		}
		done += (uint64_t)k;
	}
out:
	free(buf);
	return r;
}

static enum store_err ls_put(struct store *s, const char *key, const struct store_body *body,
			     const struct store_put_opts *opts, struct store_obj *ret,
			     struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdn = 0;
	char tmp[64], etag[33];
	EVP_MD_CTX *ctx = NULL;
	struct stat st;
	enum store_err e;
	int fd = -1, r;

	if (!key_valid(key))
		return bad_key(err, key);
	if (is_marker(key)) {
		if (body->len != 0)
			return store_set_error(err, STORE_ENOTSUP, 0, "KeyConflict",
					       "'%s': a local directory cannot store a body "
					       "under a key ending in '/'",
					       key);
		return put_marker(ls, key, opts ? opts->content_type : NULL,
				  opts ? opts->meta : NULL, opts, ret, err);
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	fd = tmp_create(ls, tmp, sizeof(tmp));
	if (fd < 0) {
		e = io_err(err, errno, "cannot create a temp file for", key);
		goto out;
	}
	r = write_body(fd, body, ctx);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(ls->tmpfd, tmp, 0);
		e = io_err(err, -r, "cannot write", key);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdn);
	sigv4_hex(md, 16, etag);
	e = commit_tmp(ls, tmp, key, etag, &st, opts ? opts->content_type : NULL,
		       opts ? opts->meta : NULL, opts, ret, err);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	return e;
}

static enum store_err ls_copy(struct store *s, const char *src, const char *dst,
			      const struct store_put_opts *opts, struct store_obj *ret,
			      struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	const char *ctype;
	struct store_obj so;
	struct store_body body;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdn = 0;
	char tmp[64], etag[33];
	EVP_MD_CTX *ctx = NULL;
	json_t *meta;
	struct stat st;
	enum store_err e;
	int sfd = -1, fd = -1, r;

	if (!key_valid(src))
		return bad_key(err, src);
	if (!key_valid(dst))
		return bad_key(err, dst);
	if (is_marker(src) != is_marker(dst))
		return store_set_error(err, STORE_ENOTSUP, 0, "KeyConflict",
				       "cannot copy '%s' to '%s' in a local directory", src, dst);
	e = ls_head(s, src, &so, err);
	if (e != STORE_OK)
		return e;
	meta = opts && opts->meta ? opts->meta : so.meta;
	ctype = opts && opts->meta ? opts->content_type : so.content_type;
	if (is_marker(src)) {
		e = put_marker(ls, dst, ctype, meta, NULL, ret, err);
		goto out;
	}
	sfd = openat(ls->rootfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		e = store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchKey", "no such key '%s'",
				    src);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		e = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	fd = tmp_create(ls, tmp, sizeof(tmp));
	if (fd < 0) {
		e = io_err(err, errno, "cannot create a temp file for", dst);
		goto out;
	}
	if (fstat(sfd, &st) < 0) {
		r = -errno;
	} else {
		body = (struct store_body)STORE_BODY_FD(sfd, 0, (uint64_t)st.st_size);
		r = write_body(fd, &body, ctx);
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(ls->tmpfd, tmp, 0);
		e = io_err(err, -r, "cannot copy to", dst);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdn);
	sigv4_hex(md, 16, etag);
	e = commit_tmp(ls, tmp, dst, etag, &st, ctype, meta, NULL, ret, err);
out:
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	EVP_MD_CTX_free(ctx);
	store_obj_release(&so);
	return e;
}

static enum store_err ls_del(struct store *s, const char *key, struct store_error *err)
{
	struct localstore *ls = ls_of(s);

	if (!key_valid(key))
		return bad_key(err, key);
	if (is_marker(key)) {
		char *dir = marker_dir(key);

		if (!dir)
			return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		rec_remove(ls, key);
		(void)unlinkat(ls->rootfd, dir, AT_REMOVEDIR); /* stays if it has keys */
		free(dir);
	} else {
		struct stat st;

		if (fstatat(ls->rootfd, key, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			return STORE_OK; /* a prefix, not an object: nothing to delete */
		if (unlinkat(ls->rootfd, key, 0) < 0 && errno != ENOENT && errno != ENOTDIR)
			return io_err(err, errno, "cannot delete", key);
		rec_remove(ls, key);
	}
	prune_parents(ls, key);
	return STORE_OK;
}

static enum store_err ls_del_many(struct store *s, const char *const *keys, size_t n,
				  struct store_error *err)
{
	enum store_err first = STORE_OK, e;
	size_t i;

	for (i = 0; i < n; i++) {
		e = ls_del(s, keys[i], first == STORE_OK ? err : NULL);
		if (e != STORE_OK && first == STORE_OK)
			first = e;
	}
	return first;
}

/* ---- listing ---- */

struct lister {
	struct localstore *ls;
	const char *prefix;
	size_t plen;
	const char *delim; /* NULL or non-empty */
	size_t dlen;
	const char *marker; /* skip keys <= marker ("" for none) */
	int marker_is_prefix; /* also skip keys that start with marker */
	int max;
	int count;
	int done;
	char *last;     /* last item added (owned) */
	int last_is_cp; /* ... and whether it was a common prefix */
	struct store_list *out;
	size_t cap_e, cap_p;
	enum store_err err;
	struct store_error *errp;
};

struct child {
	char *sortkey; /* name, or name + "/" for a directory */
	int is_dir;
};

static int child_cmp(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->sortkey, ((const struct child *)b)->sortkey);
}

static int starts_with(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Add one item; returns 1 when the walk must stop. */
static int lister_add(struct lister *l, const char *key, int is_cp)
{
	if (l->count >= l->max) {
		l->done = 1; /* there is more: the caller sets the token */
		return 1;
	}
	if (is_cp) {
		if (l->out->nprefixes == l->cap_p) {
			size_t nc = l->cap_p ? 2 * l->cap_p : 16;
			char **np = realloc(l->out->prefixes, nc * sizeof(*np));

			if (!np)
				goto oom;
			l->out->prefixes = np;
			l->cap_p = nc;
		}
		l->out->prefixes[l->out->nprefixes] = strdup(key);
		if (!l->out->prefixes[l->out->nprefixes])
			goto oom;
		l->out->nprefixes++;
	} else {
		struct store_list_entry *ent;
		struct store_obj obj;
		enum store_err e;

		e = is_marker(key) ? marker_obj(l->ls, key, 0, &obj, NULL)
				   : file_obj(l->ls, key, 0, &obj, NULL);
		if (e != STORE_OK)
			return 0; /* vanished meanwhile: not listed */
		if (l->out->n == l->cap_e) {
			size_t nc = l->cap_e ? 2 * l->cap_e : 16;
			struct store_list_entry *ne = realloc(l->out->entries, nc * sizeof(*ne));

			if (!ne)
				goto oom;
			l->out->entries = ne;
			l->cap_e = nc;
		}
		ent = &l->out->entries[l->out->n];
		ent->key = strdup(key);
		if (!ent->key)
			goto oom;
		ent->obj = obj;
		l->out->n++;
	}
	free(l->last);
	l->last = strdup(key);
	if (!l->last)
		goto oom;
	l->last_is_cp = is_cp;
	l->count++;
	return 0;
oom:
	l->err = store_set_error(l->errp, STORE_ENOMEM, 0, NULL, "out of memory");
	l->done = 1;
	return 1;
}

/* A key in byte order: filter and roll up; returns 1 to stop. */
static int lister_key(struct lister *l, const char *key)
{
	const char *d;

	if (!starts_with(key, l->prefix))
		return 0;
	if (*l->marker && strcmp(key, l->marker) <= 0)
		return 0;
	if (l->marker_is_prefix && starts_with(key, l->marker))
		return 0;
	if (l->delim) {
		d = strstr(key + l->plen, l->delim);
		if (d) {
			size_t n = (size_t)(d - key) + l->dlen;
			char *cp = strndup(key, n);
			int r;

			if (!cp) {
				l->err = store_set_error(l->errp, STORE_ENOMEM, 0, NULL,
							 "out of memory");
				l->done = 1;
				return 1;
			}
			if (l->last && l->last_is_cp && strcmp(l->last, cp) == 0)
				r = 0;
			else
				r = lister_add(l, cp, 1);
			free(cp);
			return r;
		}
	}
	return lister_add(l, key, 0);
}

/*
 * Does directory @dirkey ("x/y/") hold any key (a file or a marker)? Every
 * directory that exists does: an empty one is a marker itself (marker_obj()),
 * and a non-empty one holds files or directories, and so on down.
 */
static int dir_has_keys(struct localstore *ls, const char *dirkey)
{
	struct stat st;
	char *path = marker_dir(dirkey);
	int r;

	if (!path)
		return 1;
	r = fstatat(ls->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
	free(path);
	return r;
}

/* Walk directory @dirkey ("" for the root, else "x/y/") in key order. */
static void lister_walk(struct lister *l, const char *dirkey, int depth)
{
	struct child *kids = NULL;
	size_t nk = 0, ck = 0, i;
	struct dirent *de;
	DIR *d;
	int fd, had_rec = 0;

	if (depth > 64)
		return;
	if (*dirkey) {
		char *path = marker_dir(dirkey);
		struct ls_rec rec;

		if (!path)
			goto oom;
		/* the marker itself sorts before everything under it */
		if (rec_read(l->ls, dirkey, &rec) == 0) {
			rec_release(&rec);
			had_rec = 1;
			if (lister_key(l, dirkey)) {
				free(path);
				return;
			}
		}
		fd = openat(l->ls->rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		free(path);
	} else {
		fd = openat(l->ls->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return; /* vanished: no keys */
	}
	while ((de = readdir(d))) {
		struct child c;
		int type = de->d_type;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!*dirkey && strcmp(de->d_name, LS_META_DIR) == 0)
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : 0;
		}
		if (type != DT_DIR && type != DT_REG)
			continue; /* symlinks, devices: not objects */
		c.is_dir = type == DT_DIR;
		if (asprintf(&c.sortkey, "%s%s", de->d_name, c.is_dir ? "/" : "") < 0)
			break;
		if (nk == ck) {
			size_t nc = ck ? 2 * ck : 64;
			struct child *nkids = realloc(kids, nc * sizeof(*nkids));

			if (!nkids) {
				free(c.sortkey);
				closedir(d);
				goto oom;
			}
			kids = nkids;
			ck = nc;
		}
		kids[nk++] = c;
	}
	closedir(d);
	if (*dirkey && !had_rec && nk == 0) {
		/* an empty directory without a record: a marker (see marker_obj()) */
		(void)lister_key(l, dirkey);
		return;
	}
	if (nk)
		qsort(kids, nk, sizeof(*kids), child_cmp);
	for (i = 0; i < nk && !l->done; i++) {
		char *full;

		if (asprintf(&full, "%s%s", dirkey, kids[i].sortkey) < 0)
			goto oom;
		if (!kids[i].is_dir) {
			(void)lister_key(l, full);
		} else if ((starts_with(l->prefix, full) || starts_with(full, l->prefix)) &&
			   !(*l->marker && strcmp(full, l->marker) < 0 &&
			     !starts_with(l->marker, full))) {
			const char *dpos = NULL;
			size_t flen = strlen(full);

			/* all keys below share one common prefix if the delimiter
			 * occurs (after the prefix) within this directory's key */
			if (l->delim && flen > l->plen)
				dpos = strstr(full + l->plen, l->delim);
			if (dpos && (size_t)(dpos - full) + l->dlen <= flen) {
				char *cp = strndup(full, (size_t)(dpos - full) + l->dlen);

				if (!cp) {
					free(full);
					goto oom;
				}
				if (!(l->marker_is_prefix && starts_with(cp, l->marker)) &&
				    !(*l->marker && strcmp(cp, l->marker) <= 0 &&
				      !starts_with(l->marker, cp)) &&
				    !(l->last && l->last_is_cp && strcmp(l->last, cp) == 0) &&
				    dir_has_keys(l->ls, full)) {
					/* if the marker lies inside cp, only keys after it
					 * count, and they still roll up into cp */
					(void)lister_add(l, cp, 1);
				}
				free(cp);
			} else {
				lister_walk(l, full, depth + 1);
			}
		}
		free(full);
	}
	for (i = 0; i < nk; i++)
		free(kids[i].sortkey);
	free(kids);
	return;
oom:
	for (i = 0; i < nk; i++)
		free(kids[i].sortkey);
	free(kids);
	l->err = store_set_error(l->errp, STORE_ENOMEM, 0, NULL, "out of memory");
	l->done = 1;
}

static enum store_err ls_list(struct store *s, const struct store_list_opts *opts,
			      struct store_list *ret, struct store_error *err)
{
	struct lister l;
	struct store_list out;
	const char *marker = "";
	int marker_is_prefix = 0;

	memset(&out, 0, sizeof(out));
	memset(&l, 0, sizeof(l));
	l.ls = ls_of(s);
	l.prefix = opts->prefix ? opts->prefix : "";
	l.plen = strlen(l.prefix);
	l.delim = opts->delimiter && *opts->delimiter ? opts->delimiter : NULL;
	l.dlen = l.delim ? strlen(l.delim) : 0;
	l.max = opts->max_keys > 0 ? opts->max_keys : 1000;
	if (opts->max_keys > 1000)
		l.max = 1000;
	if (opts->start_after)
		marker = opts->start_after;
	if (opts->token) {
		if ((opts->token[0] != 'K' && opts->token[0] != 'P') || !opts->token[1])
			return store_set_error(err, STORE_EINVAL, 400, "InvalidArgument",
					       "invalid continuation token");
		marker = opts->token + 1;
		marker_is_prefix = opts->token[0] == 'P';
	}
	l.marker = marker;
	l.marker_is_prefix = marker_is_prefix;
	l.out = &out;
	l.errp = err;
	lister_walk(&l, "", 0);
	if (l.err != STORE_OK) {
		free(l.last);
		store_list_release(&out);
		return l.err;
	}
	if (l.done && l.last) {
		if (asprintf(&out.next_token, "%c%s", l.last_is_cp ? 'P' : 'K', l.last) < 0) {
			free(l.last);
			store_list_release(&out);
			return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		}
	}
	free(l.last);
	*ret = out;
	return STORE_OK;
}

/* ---- multipart ---- */

static enum store_err ls_mpu_create(struct store *s, const char *key,
				    const struct store_put_opts *opts, char **ret_upload_id,
				    struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	unsigned char rnd[8];
	char id[64], rh[17];
	json_t *info;
	int fd, r;

	if (!key_valid(key) || is_marker(key))
		return bad_key(err, key);
	{
		int64_t n = now_ns();
		unsigned long q = atomic_fetch_add(&ls->seq, 1);

		memcpy(rnd, &n, sizeof(rnd));
		rnd[0] ^= (unsigned char)q;
		rnd[1] ^= (unsigned char)(q >> 8);
	}
	sigv4_hex(rnd, 8, rh);
	snprintf(id, sizeof(id), "%s%ld", rh, (long)getpid());
	if (mkdirat(ls->mpufd, id, 0700) < 0)
		return io_err(err, errno, "cannot start an upload of", key);
	info = json_pack("{s:s, s:s, s:I}", "key", key, "content_type",
			 opts && opts->content_type ? opts->content_type
						    : "application/octet-stream",
			 "initiated_ns", (json_int_t)now_ns());
	if (!info)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	if (opts && opts->meta)
		json_object_set(info, "meta", opts->meta);
	fd = openat(ls->mpufd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = -1;
	if (fd >= 0) {
		char *text = json_dumps(info, JSON_COMPACT);
		int ifd = text ? openat(fd, "info", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
			       : -1;
		size_t len = text ? strlen(text) : 0;

		r = ifd >= 0 && write(ifd, text, len) == (ssize_t)len && fsync(ifd) == 0 ? 0 : -1;
		if (ifd >= 0)
			close(ifd);
		free(text);
		close(fd);
	}
	json_decref(info);
	if (r < 0)
		return io_err(err, EIO, "cannot start an upload of", key);
	*ret_upload_id = strdup(id);
	if (!*ret_upload_id)
		return store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
	return STORE_OK;
}

static int upload_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return i > 0 && i < 40;
}

/* Open the staging dir of @upload_id and check it belongs to @key. */
static int mpu_open(struct localstore *ls, const char *key, const char *upload_id,
		    json_t **ret_info)
{
	json_error_t jerr;
	json_t *info;
	const char *k;
	int dfd, ifd;

	if (!upload_id_valid(upload_id))
		return -ENOENT;
	dfd = openat(ls->mpufd, upload_id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	ifd = openat(dfd, "info", O_RDONLY | O_CLOEXEC);
	info = ifd >= 0 ? json_loadfd(ifd, 0, &jerr) : NULL;
	if (ifd >= 0)
		close(ifd);
	k = json_string_value(json_object_get(info, "key"));
	if (!k || strcmp(k, key) != 0) {
		json_decref(info);
		close(dfd);
		return -ENOENT;
	}
	if (ret_info)
		*ret_info = info;
	else
		json_decref(info);
	return dfd;
}

static enum store_err no_upload(struct store_error *err, const char *upload_id)
{
	return store_set_error(err, STORE_ENOTFOUND, 404, "NoSuchUpload", "no such upload '%s'",
			       upload_id);
}

/* Remove every part file of @number except @keep (may be NULL). */
static void remove_part_files(int dfd, int number, const char *keep)
{
	char pfx[16];
	struct dirent *de;
	DIR *d;
	int fd = dup(dfd);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	snprintf(pfx, sizeof(pfx), "p%05d.", number);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, pfx, strlen(pfx)) == 0 &&
		    (!keep || strcmp(de->d_name, keep) != 0))
			(void)unlinkat(dfd, de->d_name, 0);
	closedir(d);
}

static enum store_err ls_mpu_put_part(struct store *s, const char *key, const char *upload_id,
				      int number, const struct store_body *body,
				      struct store_part *ret, struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdn = 0;
	char tmp[64], name[64], etag[33];
	EVP_MD_CTX *ctx = NULL;
	enum store_err e = STORE_OK;
	int dfd, fd = -1, r;

	if (number < 1 || number > 10000)
		return store_set_error(err, STORE_EINVAL, 400, "InvalidArgument",
				       "part number %d out of range 1..10000", number);
	dfd = mpu_open(ls, key, upload_id, NULL);
	if (dfd < 0)
		return no_upload(err, upload_id);
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		e = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	tmp_name(ls, tmp, sizeof(tmp));
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = io_err(err, errno, "cannot stage a part of", key);
		goto out;
	}
	r = write_body(fd, body, ctx);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		e = io_err(err, -r, "cannot stage a part of", key);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdn);
	sigv4_hex(md, 16, etag);
	snprintf(name, sizeof(name), "p%05d.%s", number, etag);
	if (renameat(dfd, tmp, dfd, name) < 0) {
		e = io_err(err, errno, "cannot stage a part of", key);
		(void)unlinkat(dfd, tmp, 0);
		goto out;
	}
	remove_part_files(dfd, number, name);
	if (ret) {
		ret->number = number;
		ret->size = body->len;
		snprintf(ret->etag, sizeof(ret->etag), "%s", etag);
	}
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	EVP_MD_CTX_free(ctx);
	return e;
}

static void rm_upload_dir(struct localstore *ls, int dfd, const char *upload_id)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(dfd);

	if (fd >= 0) {
		d = fdopendir(fd);
		if (d) {
			while ((de = readdir(d)))
				if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
					(void)unlinkat(dfd, de->d_name, 0);
			closedir(d);
		} else {
			close(fd);
		}
	}
	(void)unlinkat(ls->mpufd, upload_id, AT_REMOVEDIR);
}

static enum store_err ls_mpu_complete(struct store *s, const char *key, const char *upload_id,
				      const struct store_part *parts, size_t nparts,
				      struct store_obj *ret, struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	unsigned char md[EVP_MAX_MD_SIZE], pmd[16];
	unsigned int mdn = 0;
	char tmp[64], etag[64];
	EVP_MD_CTX *ctx = NULL, *whole = NULL;
	json_t *info = NULL;
	enum store_err e = STORE_OK;
	struct stat st;
	size_t i;
	int dfd, fd = -1, r;

	dfd = mpu_open(ls, key, upload_id, &info);
	if (dfd < 0)
		return no_upload(err, upload_id);
	if (nparts == 0) {
		e = store_set_error(err, STORE_EINVAL, 400, "MalformedXML",
				    "no parts given to complete '%s'", key);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	whole = EVP_MD_CTX_new();
	if (!ctx || !whole) {
		e = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	EVP_DigestInit_ex(whole, EVP_md5(), NULL);
	fd = tmp_create(ls, tmp, sizeof(tmp));
	if (fd < 0) {
		e = io_err(err, errno, "cannot assemble", key);
		goto out;
	}
	for (i = 0; i < nparts; i++) {
		char name[128];
		struct store_body body;
		int pfd;

		if (i > 0 && parts[i].number <= parts[i - 1].number) {
			e = store_set_error(err, STORE_EINVAL, 400, "InvalidPartOrder",
					    "parts of '%s' are not in ascending order", key);
			goto fail;
		}
		snprintf(name, sizeof(name), "p%05d.%s", parts[i].number, parts[i].etag);
		if (unhex(parts[i].etag, pmd, 16) < 0 ||
		    (pfd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) < 0) {
			e = store_set_error(err, STORE_EINVAL, 400, "InvalidPart",
					    "part %d of '%s' was not uploaded or has another ETag",
					    parts[i].number, key);
			goto fail;
		}
		if (fstat(pfd, &st) < 0 ||
		    (i + 1 < nparts && (uint64_t)st.st_size < LS_MIN_PART)) {
			close(pfd);
			e = store_set_error(err, STORE_EINVAL, 400, "EntityTooSmall",
					    "part %d of '%s' is smaller than 5 MiB",
					    parts[i].number, key);
			goto fail;
		}
		body = (struct store_body)STORE_BODY_FD(pfd, 0, (uint64_t)st.st_size);
		r = write_body(fd, &body, whole);
		close(pfd);
		if (r < 0) {
			e = io_err(err, -r, "cannot assemble", key);
			goto fail;
		}
		EVP_DigestUpdate(ctx, pmd, 16);
	}
	if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
		e = io_err(err, errno, "cannot assemble", key);
		goto fail;
	}
	EVP_DigestFinal_ex(ctx, md, &mdn);
	sigv4_hex(md, 16, etag);
	snprintf(etag + 32, sizeof(etag) - 32, "-%zu", nparts);
	e = commit_tmp(ls, tmp, key, etag, &st,
		       json_string_value(json_object_get(info, "content_type")),
		       json_object_get(info, "meta"), NULL, ret, err);
	if (e == STORE_OK)
		rm_upload_dir(ls, dfd, upload_id);
	goto out;
fail:
	(void)unlinkat(ls->tmpfd, tmp, 0);
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(whole);
	json_decref(info);
	return e;
}

static enum store_err ls_mpu_abort(struct store *s, const char *key, const char *upload_id,
				   struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	int dfd = mpu_open(ls, key, upload_id, NULL);

	if (dfd < 0)
		return no_upload(err, upload_id);
	rm_upload_dir(ls, dfd, upload_id);
	close(dfd);
	return STORE_OK;
}

static enum store_err ls_mpu_list(struct store *s, const char *prefix, struct store_upload **ret,
				  size_t *ret_n, struct store_error *err)
{
	struct localstore *ls = ls_of(s);
	struct store_upload *ups = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(ls->mpufd);

	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return io_err(err, errno, "cannot list uploads under", prefix ? prefix : "");
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		json_error_t jerr;
		json_t *info;
		const char *k;
		char path[300];
		int ifd;

		if (!upload_id_valid(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/info", de->d_name);
		ifd = openat(ls->mpufd, path, O_RDONLY | O_CLOEXEC);
		if (ifd < 0)
			continue;
		info = json_loadfd(ifd, 0, &jerr);
		close(ifd);
		k = json_string_value(json_object_get(info, "key"));
		if (k && (!prefix || starts_with(k, prefix))) {
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 8;
				struct store_upload *nu = realloc(ups, nc * sizeof(*nu));

				if (!nu) {
					json_decref(info);
					break;
				}
				ups = nu;
				cap = nc;
			}
			ups[n].key = strdup(k);
			ups[n].upload_id = strdup(de->d_name);
			ups[n].initiated = ns_ts(
				json_integer_value(json_object_get(info, "initiated_ns")));
			n++;
		}
		json_decref(info);
	}
	closedir(d);
	*ret = ups;
	*ret_n = n;
	return STORE_OK;
}

static void ls_free(struct store *s)
{
	struct localstore *ls = ls_of(s);

	if (ls->rootfd >= 0)
		close(ls->rootfd);
	if (ls->metafd >= 0)
		close(ls->metafd);
	if (ls->tmpfd >= 0)
		close(ls->tmpfd);
	if (ls->mpufd >= 0)
		close(ls->mpufd);
	free(ls->root);
	free(ls);
}

static const struct store_ops localstore_ops = {
	.name = "local",
	.head = ls_head,
	.get_range = ls_get_range,
	.get_to_fd = ls_get_to_fd,
	.put = ls_put,
	.mpu_create = ls_mpu_create,
	.mpu_put_part = ls_mpu_put_part,
	.mpu_complete = ls_mpu_complete,
	.mpu_abort = ls_mpu_abort,
	.mpu_list = ls_mpu_list,
	.copy = ls_copy,
	.del = ls_del,
	.del_many = ls_del_many,
	.list = ls_list,
	.free = ls_free,
};

static int open_sub(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

struct store *localstore_open(const char *root, struct store_error *err)
{
	struct localstore *ls = calloc(1, sizeof(*ls));
	int meta;

	if (!ls) {
		store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		return NULL;
	}
	ls->base.ops = &localstore_ops;
	ls->rootfd = ls->metafd = ls->tmpfd = ls->mpufd = -1;
	ls->root = strdup(root);
	if (!ls->root) {
		store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
		goto fail;
	}
	ls->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ls->rootfd < 0) {
		store_set_error(err, errno == ENOENT ? STORE_ENOBUCKET : STORE_EIO, 0, NULL,
				"cannot open bucket directory '%s': %s", root, strerror(errno));
		goto fail;
	}
	meta = open_sub(ls->rootfd, LS_META_DIR);
	if (meta < 0) {
		store_set_error(err, errno == EACCES ? STORE_EDENIED : STORE_EIO, 0, NULL,
				"cannot create '%s/%s': %s", root, LS_META_DIR, strerror(errno));
		goto fail;
	}
	ls->metafd = open_sub(meta, "m");
	ls->tmpfd = open_sub(meta, "tmp");
	ls->mpufd = open_sub(meta, "mpu");
	close(meta);
	if (ls->metafd < 0 || ls->tmpfd < 0 || ls->mpufd < 0) {
		store_set_error(err, STORE_EIO, 0, NULL, "cannot create '%s/%s/*': %s", root,
				LS_META_DIR, strerror(errno));
		goto fail;
	}
	return &ls->base;
fail:
	ls_free(&ls->base);
	return NULL;
}
