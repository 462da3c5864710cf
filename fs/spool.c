/*
 * The write spool: numbered data files plus JSON manifests in one directory.
 * Ids grow monotonically from the largest one found at open, so a restarted
 * daemon never reuses the name of a file that is still waiting.
 */
#include "fs/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct spool {
	char *dir;
	int dfd;
	pthread_mutex_t lock;
	uint64_t next_id; /* protected by lock */
	uint64_t used;    /* protected by lock */
	uint64_t files;   /* protected by lock */
	uint64_t max;
};

static int mkdir_p(const char *path)
{
	char *p, *s = strdup(path);
	int r = 0;

	if (!s)
		return -ENOMEM;
	for (p = strchr(s + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(s, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*p = '/';
	}
	if (r == 0 && mkdir(s, 0700) < 0 && errno != EEXIST)
		r = -errno;
	free(s);
	return r;
}

static int parse_id(const char *name, const char *suffix, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (name[0] < '0' || name[0] > '9')
		return 0;
	v = strtoull(name, &end, 10);
	if (strcmp(end, suffix) != 0)
		return 0;
	*ret = v;
	return 1;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes, int *ret_err)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	struct dirent *de;
	DIR *d;
	int r, fd;

	if (!sp) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	sp->dfd = -1;
	sp->dir = strdup(dir);
	if (!sp->dir) {
		r = -ENOMEM;
		goto fail;
	}
	r = mkdir_p(dir);
	if (r < 0)
		goto fail;
	sp->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dfd < 0) {
		r = -errno;
		goto fail;
	}
	pthread_mutex_init(&sp->lock, NULL);
	sp->max = max_bytes;
	sp->next_id = 1;
	fd = fcntl(sp->dfd, F_DUPFD_CLOEXEC, 0);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d) {
		while ((de = readdir(d))) {
			uint64_t id;

			if ((parse_id(de->d_name, ".data", &id) ||
			     parse_id(de->d_name, ".json", &id)) &&
			    id >= sp->next_id)
				sp->next_id = id + 1;
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	return sp;
fail:
	if (sp->dfd >= 0)
		close(sp->dfd);
	free(sp->dir);
	free(sp);
	*ret_err = r;
	return NULL;
}

void spool_free(struct spool *sp)
{
	if (!sp)
		return;
	close(sp->dfd);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

const char *spool_dir(const struct spool *sp)
{
	return sp->dir;
}

int spool_create(struct spool *sp, uint64_t *ret_id)
{
	char name[64];
	uint64_t id;
	int fd;

	pthread_mutex_lock(&sp->lock);
	id = sp->next_id++;
	pthread_mutex_unlock(&sp->lock);
	snprintf(name, sizeof(name), "%" PRIu64 ".data", id);
	fd = openat(sp->dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&sp->lock);
	sp->files++;
	pthread_mutex_unlock(&sp->lock);
	*ret_id = id;
	return fd;
}

int spool_reserve(struct spool *sp, int64_t delta)
{
	int r = 0;

	pthread_mutex_lock(&sp->lock);
	if (delta > 0 && sp->used + (uint64_t)delta > sp->max)
		r = -ENOSPC;
	else if (delta < 0 && (uint64_t)-delta > sp->used)
		sp->used = 0;
	else
		sp->used += (uint64_t)delta;
	pthread_mutex_unlock(&sp->lock);
	return r;
}

uint64_t spool_used(struct spool *sp)
{
	uint64_t u;

	pthread_mutex_lock(&sp->lock);
	u = sp->used;
	pthread_mutex_unlock(&sp->lock);
	return u;
}

uint64_t spool_max(struct spool *sp)
{
	return sp->max;
}

int spool_write_manifest(struct spool *sp, uint64_t id, json_t *m, int sync)
{
	char name[64], tmp[64];
	char *text = json_dumps(m, JSON_COMPACT);
	size_t len, off = 0;
	int fd, r = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	snprintf(name, sizeof(name), "%" PRIu64 ".json", id);
	snprintf(tmp, sizeof(tmp), "%" PRIu64 ".json.tmp", id);
	fd = openat(sp->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t k = write(fd, text + off, len - off);

		if (k < 0) {
			r = -errno;
			break;
		}
		off += (size_t)k;
	}
	if (r == 0 && sync && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(sp->dfd, tmp, sp->dfd, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(sp->dfd, tmp, 0);
out:
	free(text);
	return r;
}

int spool_sync(struct spool *sp, uint64_t id, int fd)
{
	char name[64];
	int mfd, r = 0;

	if (fd >= 0 && fdatasync(fd) < 0)
		r = -errno;
	snprintf(name, sizeof(name), "%" PRIu64 ".json", id);
	mfd = openat(sp->dfd, name, O_RDONLY | O_CLOEXEC);
	if (mfd >= 0) {
		if (fsync(mfd) < 0 && r == 0)
			r = -errno;
		close(mfd);
	}
	if (fsync(sp->dfd) < 0 && r == 0)
		r = -errno;
	return r;
}

void spool_drop_manifest(struct spool *sp, uint64_t id)
{
	char name[64];

	snprintf(name, sizeof(name), "%" PRIu64 ".json", id);
	(void)unlinkat(sp->dfd, name, 0);
}

/* Remove the data file and its manifest; 1 if the data file was there. */
static int remove_data(struct spool *sp, uint64_t id)
{
	char name[64];

	spool_drop_manifest(sp, id);
	snprintf(name, sizeof(name), "%" PRIu64 ".data", id);
	return unlinkat(sp->dfd, name, 0) == 0;
}

void spool_remove(struct spool *sp, uint64_t id)
{
	if (remove_data(sp, id)) {
		pthread_mutex_lock(&sp->lock);
		if (sp->files)
			sp->files--;
		pthread_mutex_unlock(&sp->lock);
	}
}

uint64_t spool_files(struct spool *sp)
{
	uint64_t n;

	pthread_mutex_lock(&sp->lock);
	n = sp->files;
	pthread_mutex_unlock(&sp->lock);
	return n;
}

int spool_scan(struct spool *sp, int (*fn)(void *arg, uint64_t id, int fd, json_t *manifest),
	       void *arg)
{
	struct dirent *de;
	DIR *d;
	int fd = fcntl(sp->dfd, F_DUPFD_CLOEXEC, 0), n = 0, r;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		char name[64];
		json_error_t jerr;
		json_t *m = NULL;
		struct stat st;
		uint64_t id;
		int dfile, mfd;

		if (!parse_id(de->d_name, ".data", &id))
			continue;
		snprintf(name, sizeof(name), "%" PRIu64 ".json", id);
		mfd = openat(sp->dfd, name, O_RDONLY | O_CLOEXEC);
		if (mfd >= 0) {
			m = json_loadfd(mfd, 0, &jerr);
			close(mfd);
		}
		if (!m) {
			/* never flushed, or a torn manifest: nothing was promised */
			(void)remove_data(sp, id);
			continue;
		}
		dfile = openat(sp->dfd, de->d_name, O_RDWR | O_CLOEXEC);
		if (dfile < 0 || fstat(dfile, &st) < 0) {
			if (dfile >= 0)
				close(dfile);
			json_decref(m);
			continue;
		}
		pthread_mutex_lock(&sp->lock);
		sp->used += (uint64_t)st.st_size;
		sp->files++;
		pthread_mutex_unlock(&sp->lock);
		if (fn(arg, id, dfile, m) >= 0)
			n++;
		json_decref(m);
	}
	closedir(d);
	return n;
}
