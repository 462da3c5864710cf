/*
 * Metadata cache: a chained hash table of entries that are also on an LRU
 * list. Invalidation leaves a tombstone carrying the write counter at that
 * moment; a put whose sampled counter is older than the tombstone is stale.
 * When any entry (tombstone or not) is evicted or expires, its counter
 * raises a floor below which puts for unknown paths are refused, so dropping
 * tombstones can never let a stale result in.
 */
#include "fs/mcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mc_entry {
	struct mc_entry *hnext;        /* hash chain */
	struct mc_entry *prev, *next;  /* LRU list, most recent first */
	enum mcache_kind kind;         /* MCACHE_NONE for a tombstone */
	struct stat st;
	int64_t expires;               /* ms on the cache clock */
	uint64_t wctr;                 /* counter when last invalidated (or put) */
	char path[];
};

struct mc_dir {
	struct mc_dir *next; /* most recently used first */
	char *path;
	char **names;        /* sorted */
	size_t n, cap;
	int64_t expires;
};

#define MC_DIRS 64
#define MC_DIR_NAMES 10000

struct mcache {
	pthread_mutex_t lock;
	struct mc_dir *dirs; /* protected by lock, as is everything below */
	int ndirs;
	struct mc_entry **table; /* protected by lock, as is everything below */
	size_t nbuckets;
	size_t count;
	size_t max;
	struct mc_entry *head, *tail;
	uint64_t wctr;
	uint64_t floor;
	int64_t ttl, neg_ttl;
	int64_t (*now)(void *arg);
	void *now_arg;
};

static int64_t mono_ms(void *arg)
{
	struct timespec t;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

struct mcache *mcache_new(size_t max_entries, int64_t ttl_ms, int64_t neg_ttl_ms)
{
	struct mcache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max = max_entries ? max_entries : 1;
	c->nbuckets = 1024;
	while (c->nbuckets < c->max && c->nbuckets < (1u << 22))
		c->nbuckets <<= 1;
	c->table = calloc(c->nbuckets, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->ttl = ttl_ms;
	c->neg_ttl = neg_ttl_ms;
	c->now = mono_ms;
	c->wctr = 1;
	return c;
}

static void dir_free(struct mc_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->path);
	free(d);
}

void mcache_free(struct mcache *c)
{
	struct mc_entry *e, *n;

	if (!c)
		return;
	while (c->dirs) {
		struct mc_dir *d = c->dirs;

		c->dirs = d->next;
		dir_free(d);
	}
	for (e = c->head; e; e = n) {
		n = e->next;
		free(e);
	}
	free(c->table);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void mcache_set_clock(struct mcache *c, int64_t (*now_ms)(void *arg), void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->now = now_ms;
	c->now_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

uint64_t mcache_wctr(struct mcache *c)
{
	uint64_t w;

	pthread_mutex_lock(&c->lock);
	w = c->wctr;
	pthread_mutex_unlock(&c->lock);
	return w;
}

static struct mc_entry *find(struct mcache *c, const char *path, struct mc_entry ***ret_link)
{
	struct mc_entry **link = &c->table[hash(path) & (c->nbuckets - 1)];

	while (*link && strcmp((*link)->path, path) != 0)
		link = &(*link)->hnext;
	if (ret_link)
		*ret_link = link;
	return *link;
}

static void lru_unlink(struct mcache *c, struct mc_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct mcache *c, struct mc_entry *e)
{
	e->next = c->head;
	e->prev = NULL;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void drop(struct mcache *c, struct mc_entry *e)
{
	struct mc_entry **link;

	find(c, e->path, &link);
	*link = e->hnext;
	lru_unlink(c, e);
	if (e->wctr > c->floor)
		c->floor = e->wctr;
	c->count--;
	free(e);
}

static struct mc_entry *insert(struct mcache *c, const char *path)
{
	size_t n = strlen(path) + 1;
	struct mc_entry *e, **link;

	while (c->count >= c->max && c->tail)
		drop(c, c->tail);
	e = calloc(1, sizeof(*e) + n);
	if (!e)
		return NULL;
	memcpy(e->path, path, n);
	find(c, path, &link);
	*link = e;
	lru_front(c, e);
	c->count++;
	return e;
}

int mcache_put(struct mcache *c, const char *path, const struct stat *st, enum mcache_kind kind,
	       uint64_t wctr)
{
	struct mc_entry *e;
	int64_t now;
	int r = 0;

	if (kind == MCACHE_NONE || (kind == MCACHE_NEG && c->neg_ttl <= 0))
		return 0;
	pthread_mutex_lock(&c->lock);
	now = c->now(c->now_arg);
	e = find(c, path, NULL);
	if (e) {
		if (e->wctr > wctr)
			goto out; /* invalidated after the caller's sample */
		if (kind == MCACHE_LIST && e->kind == MCACHE_FULL && e->expires > now)
			goto out; /* never downgrade live full attributes */
		lru_unlink(c, e);
		lru_front(c, e);
	} else {
		if (wctr < c->floor)
			goto out; /* its tombstone may have been dropped */
		e = insert(c, path);
		if (!e)
			goto out;
		e->wctr = wctr;
	}
	e->kind = kind;
	if (st && kind != MCACHE_NEG)
		e->st = *st;
	else
		memset(&e->st, 0, sizeof(e->st));
	e->expires = now + (kind == MCACHE_NEG ? c->neg_ttl : c->ttl);
	r = 1;
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

enum mcache_kind mcache_get(struct mcache *c, const char *path, struct stat *ret_st)
{
	struct mc_entry *e;
	enum mcache_kind k = MCACHE_NONE;

	pthread_mutex_lock(&c->lock);
	e = find(c, path, NULL);
	if (e && e->kind != MCACHE_NONE) {
		if (e->expires <= c->now(c->now_arg)) {
			drop(c, e);
		} else {
			k = e->kind;
			if (ret_st && k != MCACHE_NEG)
				*ret_st = e->st;
			lru_unlink(c, e);
			lru_front(c, e);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return k;
}

void mcache_invalidate(struct mcache *c, const char *path)
{
	struct mc_entry *e;

	pthread_mutex_lock(&c->lock);
	c->wctr++;
	e = find(c, path, NULL);
	if (!e)
		e = insert(c, path);
	if (e) {
		e->kind = MCACHE_NONE;
		e->wctr = c->wctr;
		e->expires = 0;
	} else {
		c->floor = c->wctr; /* no memory for a tombstone: refuse all older puts */
	}
	pthread_mutex_unlock(&c->lock);
}

void mcache_invalidate_tree(struct mcache *c, const char *dir)
{
	struct mc_entry *e;
	struct mc_dir **dp;
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	pthread_mutex_lock(&c->lock);
	c->wctr++;
	for (dp = &c->dirs; *dp;) {
		struct mc_dir *d = *dp;

		if (strncmp(d->path, dir, n) == 0 &&
		    (d->path[n] == '\0' || d->path[n] == '/' || (n == 1 && dir[0] == '/'))) {
			*dp = d->next;
			dir_free(d);
			c->ndirs--;
		} else {
			dp = &d->next;
		}
	}
	for (e = c->head; e; e = e->next) {
		if (strncmp(e->path, dir, n) == 0 &&
		    (e->path[n] == '\0' || e->path[n] == '/' || (n == 1 && dir[0] == '/'))) {
			e->kind = MCACHE_NONE;
			e->wctr = c->wctr;
		}
	}
	/* paths below @dir that had no entry: refuse every older put */
	c->floor = c->wctr;
	pthread_mutex_unlock(&c->lock);
	mcache_invalidate(c, dir);
}

size_t mcache_count(struct mcache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- directory listings ---- */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Find @dir (moving it to the front); drops it if expired. Caller holds the lock. */
static struct mc_dir *dir_find(struct mcache *c, const char *dir)
{
	struct mc_dir **dp, *d;

	for (dp = &c->dirs; *dp; dp = &(*dp)->next) {
		d = *dp;
		if (strcmp(d->path, dir) != 0)
			continue;
		*dp = d->next;
		if (d->expires <= c->now(c->now_arg)) {
			dir_free(d);
			c->ndirs--;
			return NULL;
		}
		d->next = c->dirs;
		c->dirs = d;
		return d;
	}
	return NULL;
}

static void dir_drop(struct mcache *c, struct mc_dir *d)
{
	struct mc_dir **dp;

	for (dp = &c->dirs; *dp; dp = &(*dp)->next) {
		if (*dp == d) {
			*dp = d->next;
			dir_free(d);
			c->ndirs--;
			return;
		}
	}
}

void mcache_dir_put(struct mcache *c, const char *dir, char *const *names, size_t n,
		    uint64_t wctr, int negative_ttl)
{
	struct mc_dir *d, *old;
	size_t i;

	if (n > MC_DIR_NAMES)
		return;
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->path = strdup(dir);
	d->cap = n ? n : 4;
	d->names = calloc(d->cap, sizeof(*d->names));
	if (!d->path || !d->names) {
		dir_free(d);
		return;
	}
	for (i = 0; i < n; i++) {
		d->names[i] = strdup(names[i]);
		if (!d->names[i]) {
			dir_free(d);
			return;
		}
		d->n++;
	}
	qsort(d->names, d->n, sizeof(*d->names), str_cmp);
	pthread_mutex_lock(&c->lock);
	if (wctr != c->wctr) { /* something changed meanwhile: the listing may be stale */
		pthread_mutex_unlock(&c->lock);
		dir_free(d);
		return;
	}
	old = dir_find(c, dir);
	if (old)
		dir_drop(c, old);
	while (c->ndirs >= MC_DIRS) {
		struct mc_dir *last = c->dirs;

		while (last->next)
			last = last->next;
		dir_drop(c, last);
	}
	d->expires = c->now(c->now_arg) + (negative_ttl ? c->neg_ttl : c->ttl);
	d->next = c->dirs;
	c->dirs = d;
	c->ndirs++;
	pthread_mutex_unlock(&c->lock);
}

int mcache_dir_lookup(struct mcache *c, const char *dir, const char *name)
{
	struct mc_dir *d;
	int r = -1;

	pthread_mutex_lock(&c->lock);
	d = dir_find(c, dir);
	if (d)
		r = d->n && bsearch(&name, d->names, d->n, sizeof(*d->names), str_cmp) ? 1 : 0;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void mcache_dir_add(struct mcache *c, const char *dir, const char *name)
{
	struct mc_dir *d;
	size_t lo = 0, hi;

	pthread_mutex_lock(&c->lock);
	c->wctr++;
	d = dir_find(c, dir);
	if (!d)
		goto out;
	d->expires = c->now(c->now_arg) + c->neg_ttl; /* kept alive while filled here */
	hi = d->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = strcmp(d->names[mid], name);

		if (k == 0)
			goto out;
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (d->n == d->cap) {
		size_t nc = d->cap * 2;
		char **nn = nc <= MC_DIR_NAMES ? realloc(d->names, nc * sizeof(*nn)) : NULL;

		if (!nn) {
			dir_drop(c, d); /* too big (or no memory): forget the listing */
			goto out;
		}
		d->names = nn;
		d->cap = nc;
	}
	memmove(d->names + lo + 1, d->names + lo, (d->n - lo) * sizeof(*d->names));
	d->names[lo] = strdup(name);
	if (!d->names[lo]) {
		memmove(d->names + lo, d->names + lo + 1, (d->n - lo) * sizeof(*d->names));
		dir_drop(c, d);
		goto out;
	}
	d->n++;
out:
	pthread_mutex_unlock(&c->lock);
}

void mcache_dir_remove(struct mcache *c, const char *dir, const char *name)
{
	struct mc_dir *d;
	char **hit;

	pthread_mutex_lock(&c->lock);
	c->wctr++;
	d = dir_find(c, dir);
	hit = d && d->n ? bsearch(&name, d->names, d->n, sizeof(*d->names), str_cmp) : NULL;
	if (hit) {
		size_t i = (size_t)(hit - d->names);

		free(*hit);
		memmove(d->names + i, d->names + i + 1, (d->n - i - 1) * sizeof(*d->names));
		d->n--;
	}
	pthread_mutex_unlock(&c->lock);
}
