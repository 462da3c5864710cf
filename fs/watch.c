/*
 * Drop-folder watcher on libinotifytools (see watch.h for the contract).
 *
 * Everything below runs on the watcher thread, the only thread that touches
 * libinotifytools (its state is global and not thread-safe). The library's
 * inotify descriptor is found through /proc/self/fd right after init, marked
 * close-on-exec (it is created without it) and polled directly, so pending
 * checks get millisecond timers; events are then drained with
 * inotifytools_next_events(0, 1), which, unlike next_event(0), does not block.
 *
 * Pending checks live in a hash table (path -> entry) threaded on a list in
 * due-time order, so the head is always the next one due. Almost every
 * (re)schedule is due at now + quiet, the latest so far, so the sorted insert
 * (from the tail) is O(1); only entries backing off after a refused event
 * (see pool_collect) are due later and are stepped over.
 *
 * Commit pool. The watcher thread decides (lease, fingerprint) and hands the
 * open file to one of a few commit threads, which hash it and call the sink
 * (an upload, then a durable journal append). Several appends in flight at
 * once share one fsync (the journal's group commit), and uploads overlap;
 * this is what lets a burst run faster than one fsync per file. Results come
 * back over an eventfd to the watcher thread, which alone touches SQLite and
 * marks a file reported only after the sink said its event is durable. One
 * path is never in flight twice (a due check of a path in flight is pushed
 * back), so one file's events stay in order and are never doubled; a delete
 * waits for its path's put to finish first.
 */
#include "fs/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/commit.h"
#include "engine/log.h"
#include "engine/loop.h"

#define WATCH_MASK                                                                     \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |       \
	 IN_DELETE_SELF | IN_MOVE_SELF)

struct pending {
	char *path;     /* relative to the root, no leading '/' */
	uint64_t due;   /* loop_now_ms() deadline */
	bool from_scan; /* found by a scan rather than an event (for the recovered counter) */
	unsigned tries; /* events refused by the sink so far (backoff) */
	bool startup;   /* found by the start-up scan, and no event since */
	struct pending *hnext;        /* hash chain */
	struct pending *prev, *next;  /* due-order list */
};

struct fprint {
	int64_t dev, ino, size, mtime_ns;
};

/* One file handed to the commit pool. path and fp are immutable while queued. */
struct job {
	char *path;
	int fd;              /* open read-only; closed by the commit thread */
	struct fprint fp;
	bool from_scan;
	bool startup;        /* found by the start-up scan: maybe reported by a run that died */
	unsigned tries;      /* refusals before this attempt */
	int rc;              /* sink result, set by the commit thread */
	char etag[33];
	struct job *next;    /* todo or done list, protected by pool_lock */
};

#define WATCH_MAX_THREADS 64

struct watch {
	char *root;       /* absolute path, no trailing '/' */
	char *bucket;
	unsigned quiet_ms;
	int report_deletes;
	const struct commit_sink *sink;
	regex_t ignore;
	bool have_regex;
	sqlite3 *db;
	sqlite3_stmt *q_get, *q_put, *q_del;

	pthread_t thread;
	bool running;
	atomic_bool stop;
	int ifd; /* libinotifytools' descriptor, borrowed */

	struct pending **tab; /* hash table, watcher thread only */
	size_t ntab, npending;
	struct pending *head, *tail;
	char pending_move_dir[PATH_MAX + 8]; /* last IN_MOVED_FROM of a directory, for rename pairing */
	uint32_t pending_move_cookie;

	/* commit pool */
	unsigned nthreads;
	pthread_t threads[WATCH_MAX_THREADS];
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct job *todo_head, *todo_tail; /* protected by pool_lock */
	struct job *done;                  /* protected by pool_lock */
	bool pool_stop;                    /* protected by pool_lock */
	int efd;                           /* eventfd: jobs done */
	struct job **fly;                  /* watcher thread only: jobs not yet collected */
	unsigned nfly, maxfly;

	/* stats: written by the watcher thread, read by anyone */
	atomic_uint_fast64_t st[9];
	atomic_bool idle;
	bool rescan_due; /* an overflow was seen: rescan once the queue is drained */
	bool in_startup_scan; /* watcher thread only */
};

enum { ST_EVENTS, ST_REPORTED, ST_DUPS, ST_RESCANS, ST_OVERFLOWS, ST_RECOVERED, ST_DEFERRED,
       ST_SINKERR, ST_DIRS };

static void stat_add(struct watch *w, int i, uint64_t n)
{
	atomic_fetch_add(&w->st[i], n);
}

/* ---- pending table ---- */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct pending **pending_slot(struct watch *w, const char *path)
{
	struct pending **pp = &w->tab[hash_str(path) & (w->ntab - 1)];

	while (*pp && strcmp((*pp)->path, path) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void list_unlink(struct watch *w, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		w->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		w->tail = p->prev;
	p->prev = p->next = NULL;
}

/* Insert @p in due order, after every entry due no later. */
static void list_insert(struct watch *w, struct pending *p)
{
	struct pending *after = w->tail;

	while (after && after->due > p->due)
		after = after->prev;
	p->prev = after;
	p->next = after ? after->next : w->head;
	if (p->next)
		p->next->prev = p;
	else
		w->tail = p;
	if (after)
		after->next = p;
	else
		w->head = p;
}

static int pending_grow(struct watch *w)
{
	size_t n = w->ntab * 2, i;
	struct pending **t = calloc(n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (i = 0; i < w->ntab; i++) {
		struct pending *p = w->tab[i], *next;

		for (; p; p = next) {
			size_t h = hash_str(p->path) & (n - 1);

			next = p->hnext;
			p->hnext = t[h];
			t[h] = p;
		}
	}
	free(w->tab);
	w->tab = t;
	w->ntab = n;
	return 0;
}

/* Schedule (or push back) a check of @path after @delay_ms; @tries > 0 records refusals. */
static void pending_schedule_in(struct watch *w, const char *path, bool from_scan,
				unsigned delay_ms, unsigned tries)
{
	struct pending **pp, *p;

	if (w->npending >= w->ntab && pending_grow(w) < 0)
		log_warn("watch: out of memory growing the pending table");
	pp = pending_slot(w, path);
	p = *pp;
	if (p && from_scan)
		return; /* already pending: a scan adds nothing and must not delay it */
	if (p) {
		list_unlink(w, p);
		p->from_scan = p->from_scan && from_scan;
		p->startup = p->startup && from_scan;
	} else {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->path = strdup(path))) {
			free(p);
			log_err("watch: out of memory; '%s' will be found by the next rescan", path);
			return;
		}
		p->from_scan = from_scan;
		p->startup = from_scan && w->in_startup_scan;
		*pp = p;
		w->npending++;
	}
	if (tries)
		p->tries = tries;
	p->due = loop_now_ms() + delay_ms;
	list_insert(w, p);
}

/* Schedule (or push back) a check of @path after the quiet period. */
static void pending_schedule(struct watch *w, const char *path, bool from_scan)
{
	pending_schedule_in(w, path, from_scan, w->quiet_ms, 0);
}

/* Put back a check that could not be done yet, keeping where it came from. */
static void requeue(struct watch *w, const char *path, bool from_scan, unsigned delay_ms,
		    unsigned tries, bool startup)
{
	struct pending *p;
	bool was = w->in_startup_scan;

	w->in_startup_scan = startup;
	pending_schedule_in(w, path, from_scan, delay_ms, tries);
	w->in_startup_scan = was;
	p = *pending_slot(w, path);
	if (p && !startup)
		p->startup = false;
}

/* Remove @path's entry; returns its path string (caller frees) or NULL if none. */
static char *pending_take(struct watch *w, const char *path, bool *ret_from_scan,
			  unsigned *ret_tries, bool *ret_startup)
{
	struct pending **pp = pending_slot(w, path), *p = *pp;
	char *s;

	if (!p)
		return NULL;
	*pp = p->hnext;
	list_unlink(w, p);
	w->npending--;
	s = p->path;
	if (ret_from_scan)
		*ret_from_scan = p->from_scan;
	if (ret_tries)
		*ret_tries = p->tries;
	if (ret_startup)
		*ret_startup = p->startup;
	free(p);
	return s;
}

static void pending_drop(struct watch *w, const char *path)
{
	free(pending_take(w, path, NULL, NULL, NULL));
}

/* ---- fingerprints ---- */

static int db_open(struct watch *w, const char *file, char *errbuf, size_t errlen)
{
	const char *schema =
		"PRAGMA journal_mode=WAL;"
		/*
		 * The marks only prevent a second report. They share the WAL of
		 * the journal (when state_db is the journal), so the next event
		 * appended with synchronous=FULL makes them durable too; a mark
		 * lost to a power cut means one duplicate report, never a loss.
		 */
		"PRAGMA synchronous=NORMAL;"
		"CREATE TABLE IF NOT EXISTS watch_files ("
		" root TEXT NOT NULL, path TEXT NOT NULL, dev INTEGER, ino INTEGER,"
		" size INTEGER, mtime_ns INTEGER, etag TEXT, reported_at INTEGER,"
		" PRIMARY KEY (root, path));";
	char *msg = NULL;

	if (sqlite3_open_v2(file ? file : ":memory:", &w->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(w->db, 5000);
	if (sqlite3_exec(w->db, schema, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(w->db,
			       "SELECT dev, ino, size, mtime_ns FROM watch_files"
			       " WHERE root = ?1 AND path = ?2", -1, &w->q_get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db,
			       "INSERT OR REPLACE INTO watch_files VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
			       " strftime('%s','now'))", -1, &w->q_put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, "DELETE FROM watch_files WHERE root = ?1 AND path = ?2",
			       -1, &w->q_del, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(errbuf, errlen, "cannot open watch state '%s': %s", file ? file : ":memory:",
		 msg ? msg : (w->db ? sqlite3_errmsg(w->db) : "out of memory"));
	sqlite3_free(msg);
	return -1;
}

/* 1 if @path was reported with this fingerprint, 0 if not, 2 if it was reported at all. */
static int db_lookup(struct watch *w, const char *path, const struct fprint *fp)
{
	int r = 0;

	sqlite3_bind_text(w->q_get, 1, w->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(w->q_get, 2, path, -1, SQLITE_STATIC);
	if (sqlite3_step(w->q_get) == SQLITE_ROW) {
		r = 2;
		if (fp && sqlite3_column_int64(w->q_get, 0) == fp->dev &&
		    sqlite3_column_int64(w->q_get, 1) == fp->ino &&
		    sqlite3_column_int64(w->q_get, 2) == fp->size &&
		    sqlite3_column_int64(w->q_get, 3) == fp->mtime_ns)
			r = 1;
	}
	sqlite3_reset(w->q_get);
	return r;
}

static int db_store(struct watch *w, const char *path, const struct fprint *fp, const char *etag)
{
	int r;

	sqlite3_bind_text(w->q_put, 1, w->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(w->q_put, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(w->q_put, 3, fp->dev);
	sqlite3_bind_int64(w->q_put, 4, fp->ino);
	sqlite3_bind_int64(w->q_put, 5, fp->size);
	sqlite3_bind_int64(w->q_put, 6, fp->mtime_ns);
	sqlite3_bind_text(w->q_put, 7, etag, -1, SQLITE_STATIC);
	r = sqlite3_step(w->q_put) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_reset(w->q_put);
	return r;
}

static void db_forget(struct watch *w, const char *path)
{
	sqlite3_bind_text(w->q_del, 1, w->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(w->q_del, 2, path, -1, SQLITE_STATIC);
	(void)sqlite3_step(w->q_del);
	sqlite3_reset(w->q_del);
}

/* ---- checking a candidate ---- */

static bool ignored(struct watch *w, const char *rel)
{
	const char *base = strrchr(rel, '/');

	return regexec(&w->ignore, base ? base + 1 : rel, 0, NULL, 0) == 0;
}

/* MD5 of the file's content as lower-case hex (the ETag S3 gives a single PUT). */
static int md5_fd(int fd, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int mdlen = 0, i;
	ssize_t n;
	int r = -EIO;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			goto out;
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	for (i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

enum check_result { CHECK_DONE, CHECK_RETRY, CHECK_QUEUED };

/* ---- the commit pool ---- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

static bool in_flight(struct watch *w, const char *rel)
{
	unsigned i;

	for (i = 0; i < w->nfly; i++)
		if (strcmp(w->fly[i]->path, rel) == 0)
			return true;
	return false;
}

/* Commit thread: hash the file and hand its event to the sink. */
static void *commit_thread(void *arg)
{
	struct watch *w = arg;
	uint64_t one = 1;

	for (;;) {
		struct commit_event ev = { 0 };
		char path[PATH_MAX];
		struct job *j;
		int r;

		pthread_mutex_lock(&w->pool_lock);
		while (!w->todo_head && !w->pool_stop)
			pthread_cond_wait(&w->pool_cond, &w->pool_lock);
		j = w->todo_head;
		if (!j) {
			pthread_mutex_unlock(&w->pool_lock);
			break;
		}
		w->todo_head = j->next;
		if (!w->todo_head)
			w->todo_tail = NULL;
		pthread_mutex_unlock(&w->pool_lock);

		snprintf(path, sizeof(path), "%s/%s", w->root, j->path);
		r = md5_fd(j->fd, j->etag);
		close(j->fd);
		j->fd = -1;
		if (r < 0) {
			log_warn("watch: cannot read '%s': %s", path, strerror(-r));
			j->rc = 1; /* nothing to report, nothing to retry */
		} else {
			ev.kind = COMMIT_PUT;
			ev.key = j->path;
			ev.bucket = w->bucket;
			ev.size = (uint64_t)j->fp.size;
			ev.etag = j->etag;
			clock_gettime(CLOCK_REALTIME, &ev.time);
			ev.local_path = path;
			/*
			 * Seen happening (or found later in this run): new even if
			 * an earlier run journaled the same content. Found by the
			 * start-up scan: maybe the event of a run that died before
			 * recording the file, which the router recognises (same
			 * key, size and ETag) and does not repeat.
			 */
			ev.fresh = !j->startup;
			j->rc = w->sink->commit(w->sink->arg, &ev);
		}
		pthread_mutex_lock(&w->pool_lock);
		j->next = w->done;
		w->done = j;
		pthread_mutex_unlock(&w->pool_lock);
		(void)!write(w->efd, &one, sizeof(one));
	}
	return NULL;
}

static void pool_submit(struct watch *w, struct job *j)
{
	w->fly[w->nfly++] = j;
	j->next = NULL;
	pthread_mutex_lock(&w->pool_lock);
	if (w->todo_tail)
		w->todo_tail->next = j;
	else
		w->todo_head = j;
	w->todo_tail = j;
	pthread_cond_signal(&w->pool_cond);
	pthread_mutex_unlock(&w->pool_lock);
}

/*
 * Take the results of finished jobs (waiting up to @timeout_ms for one if
 * none is there): mark reported files in the table, in one transaction per
 * call, and put refused ones back into the pending list.
 */
static void pool_collect(struct watch *w, int timeout_ms)
{
	struct pollfd pfd = { .fd = w->efd, .events = POLLIN };
	struct job *done, *next;
	uint64_t n;
	bool txn = false;
	unsigned i;

	if (timeout_ms && poll(&pfd, 1, timeout_ms) <= 0)
		return;
	(void)!read(w->efd, &n, sizeof(n));
	pthread_mutex_lock(&w->pool_lock);
	done = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->pool_lock);
	for (; done; done = next) {
		next = done->next;
		for (i = 0; i < w->nfly; i++)
			if (w->fly[i] == done) {
				w->fly[i] = w->fly[--w->nfly];
				break;
			}
		if (done->rc == -EILSEQ) {
			/* a name no event can carry (not UTF-8): retrying cannot help */
			stat_add(w, ST_SINKERR, 1);
			log_err("watch: '%s' is not valid UTF-8, so it raises no event; rename it",
				done->path);
		} else if (done->rc < 0) {
			/* back off: 0.2 s, 0.4 s, ... up to 10 s between attempts */
			unsigned tries = done->tries + 1;
			unsigned delay = tries > 6 ? 10000 : 100u << tries;

			stat_add(w, ST_SINKERR, 1);
			log_warn("watch: event for '%s' not accepted (%s); retrying in %u ms",
				 done->path, strerror(-done->rc), w->quiet_ms + delay);
			requeue(w, done->path, done->from_scan, w->quiet_ms + delay, tries,
				done->startup);
		} else if (done->rc == 0) {
			if (!txn)
				txn = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
				      SQLITE_OK;
			if (db_store(w, done->path, &done->fp, done->etag) < 0)
				log_err("watch: cannot record '%s' as reported: %s", done->path,
					sqlite3_errmsg(w->db));
			stat_add(w, ST_REPORTED, 1);
			if (done->from_scan)
				stat_add(w, ST_RECOVERED, 1);
		}
		job_free(done);
	}
	if (txn && sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		log_err("watch: cannot record reported files: %s", sqlite3_errmsg(w->db));
		(void)sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* Wait until @rel (or, with NULL, every job) is no longer in flight. */
static void pool_drain(struct watch *w, const char *rel)
{
	while (rel ? in_flight(w, rel) : w->nfly > 0)
		pool_collect(w, 100);
}

static int pool_start(struct watch *w)
{
	unsigned i;
	int r;

	for (i = 0; i < w->nthreads; i++) {
		r = pthread_create(&w->threads[i], NULL, commit_thread, w);
		if (r) {
			log_warn("watch: cannot start commit thread %u: %s", i + 1, strerror(r));
			break;
		}
	}
	w->nthreads = i;
	return i ? 0 : -EAGAIN;
}

static void pool_stop(struct watch *w)
{
	unsigned i;

	pthread_mutex_lock(&w->pool_lock);
	w->pool_stop = true;
	pthread_cond_broadcast(&w->pool_cond);
	pthread_mutex_unlock(&w->pool_lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->pool_stop = false;
}

/*
 * Decide whether @rel is complete and new; if so, queue it for the commit
 * pool (CHECK_QUEUED). CHECK_RETRY puts it back into the pending list (still
 * open for writing, or already in flight).
 */
static enum check_result check_file(struct watch *w, const char *rel, bool from_scan,
				    unsigned tries, bool startup)
{
	char path[PATH_MAX];
	struct fprint fp;
	struct stat st;
	struct job *j;
	int fd;

	if (in_flight(w, rel))
		return CHECK_RETRY;
	if (snprintf(path, sizeof(path), "%s/%s", w->root, rel) >= (int)sizeof(path))
		return CHECK_DONE;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return CHECK_DONE; /* gone (or a symlink): nothing to report */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto done;
	/*
	 * A read lease is refused (EAGAIN) while any descriptor has the file open
	 * for writing: the writer is not finished. EACCES/EPERM (not our file and
	 * no CAP_LEASE) falls back to the quiet period alone.
	 */
	if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0) {
		if (errno == EAGAIN || errno == EBUSY) {
			close(fd);
			stat_add(w, ST_DEFERRED, 1);
			return CHECK_RETRY;
		}
	} else {
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
	}
	fp.dev = (int64_t)st.st_dev;
	fp.ino = (int64_t)st.st_ino;
	fp.size = (int64_t)st.st_size;
	fp.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (db_lookup(w, rel, &fp) == 1) {
		stat_add(w, ST_DUPS, 1);
		goto done;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(rel))) {
		free(j);
		close(fd);
		return CHECK_RETRY;
	}
	j->fd = fd;
	j->fp = fp;
	j->from_scan = from_scan;
	j->tries = tries;
	j->startup = startup;
	pool_submit(w, j);
	return CHECK_QUEUED;
done:
	close(fd);
	return CHECK_DONE;
}

static void report_delete(struct watch *w, const char *rel)
{
	char path[PATH_MAX];
	struct commit_event ev = { 0 };

	pending_drop(w, rel);
	/* a put of the same path still in flight goes first */
	pool_drain(w, rel);
	if (!w->report_deletes || db_lookup(w, rel, NULL) == 0)
		return;
	if (snprintf(path, sizeof(path), "%s/%s", w->root, rel) >= (int)sizeof(path))
		return;
	ev.kind = COMMIT_DELETE;
	ev.key = rel;
	ev.bucket = w->bucket;
	clock_gettime(CLOCK_REALTIME, &ev.time);
	ev.local_path = path;
	if (w->sink->commit(w->sink->arg, &ev) < 0) {
		stat_add(w, ST_SINKERR, 1);
		log_warn("watch: delete event for '%s' not accepted", rel);
		return;
	}
	db_forget(w, rel);
	stat_add(w, ST_REPORTED, 1);
}

/* ---- watches and scans ---- */

/* Watch @rel ("" for the root) and everything below it, then scan: watch first, then look. */
static void add_tree(struct watch *w, const char *rel)
{
	char path[PATH_MAX], child[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s%s%s/", w->root, *rel ? "/" : "", rel);
	if (inotifytools_wd_from_filename(path) < 0) {
		if (!inotifytools_watch_file(path, WATCH_MASK | IN_ONLYDIR)) {
			int e = inotifytools_error();

			if (e != ENOENT && e != ENOTDIR)
				log_err("watch: cannot watch '%s': %s%s", path, strerror(e),
					e == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
			return;
		}
		stat_add(w, ST_DIRS, 1);
	}
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		bool isdir;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
		    (int)sizeof(child))
			continue;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			char full[PATH_MAX];

			isdir = snprintf(full, sizeof(full), "%s/%s", w->root, child) <
					(int)sizeof(full) &&
				lstat(full, &st) == 0 && S_ISDIR(st.st_mode);
		}
		if (isdir)
			add_tree(w, child);
		else if ((de->d_type == DT_REG || de->d_type == DT_UNKNOWN) && !ignored(w, child))
			pending_schedule(w, child, true);
	}
	closedir(d);
}

static void rescan(struct watch *w, const char *why)
{
	stat_add(w, ST_RESCANS, 1);
	log_info("watch: rescanning '%s' (%s)", w->root, why);
	add_tree(w, "");
}

/* Relative path of an event's file, or NULL if it is outside the root. */
static const char *event_rel(struct watch *w, struct inotify_event *ev, char *buf, size_t len)
{
	const char *dir = inotifytools_filename_from_wd(ev->wd);
	size_t rootlen = strlen(w->root);

	if (!dir || strncmp(dir, w->root, rootlen) != 0 || (dir[rootlen] && dir[rootlen] != '/'))
		return NULL;
	dir += rootlen;
	if (*dir == '/')
		dir++;
	if (snprintf(buf, len, "%s%s", dir, ev->len ? ev->name : "") >= (int)len)
		return NULL;
	/* directories' names end in '/': drop it for the relative form */
	len = strlen(buf);
	if (len && buf[len - 1] == '/')
		buf[len - 1] = '\0';
	return buf;
}

static void handle_event(struct watch *w, struct inotify_event *ev)
{
	char rel[PATH_MAX];
	bool isdir = ev->mask & IN_ISDIR;

	stat_add(w, ST_EVENTS, 1);
	if (ev->mask & IN_Q_OVERFLOW) {
		stat_add(w, ST_OVERFLOWS, 1);
		if (!w->rescan_due)
			log_warn("watch: inotify queue overflowed under '%s'; rescanning", w->root);
		w->rescan_due = true;
		return;
	}
	if (ev->mask & IN_IGNORED) {
		/* the watched directory went away: drop the library's stale entry */
		const char *dir = inotifytools_filename_from_wd(ev->wd);
		bool was_root = dir && strncmp(dir, w->root, strlen(w->root)) == 0 &&
				(dir[strlen(w->root)] == '/' && !dir[strlen(w->root) + 1]);

		inotifytools_remove_watch_by_wd(ev->wd);
		atomic_fetch_sub(&w->st[ST_DIRS], 1);
		if (was_root)
			log_err("watch: watched directory '%s' was removed", w->root);
		return;
	}
	if (!event_rel(w, ev, rel, sizeof(rel)) || !*rel)
		return;
	if (isdir) {
		if (ev->mask & IN_MOVED_FROM) {
			if (snprintf(w->pending_move_dir, sizeof(w->pending_move_dir), "%s/%s/",
				     w->root, rel) >= (int)sizeof(w->pending_move_dir))
				return;
			w->pending_move_cookie = ev->cookie;
		} else if (ev->mask & IN_MOVED_TO) {
			if (w->pending_move_cookie && ev->cookie == w->pending_move_cookie) {
				char to[PATH_MAX + 8];

				if (snprintf(to, sizeof(to), "%s/%s/", w->root, rel) < (int)sizeof(to))
					inotifytools_replace_filename(w->pending_move_dir, to);
				w->pending_move_cookie = 0;
			}
			add_tree(w, rel); /* a directory moved in: watch and scan it */
		} else if (ev->mask & IN_CREATE) {
			add_tree(w, rel);
		}
		return;
	}
	if (ignored(w, rel))
		return;
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE))
		pending_schedule(w, rel, false);
	else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
		report_delete(w, rel);
}

/* Find the descriptor libinotifytools just created (it offers no accessor). */
static int find_new_inotify_fd(const unsigned char *before, size_t n)
{
	char link[64], target[64];
	struct dirent *de;
	int found = -1;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		ssize_t k;

		if (de->d_name[0] == '.' || ((size_t)fd < n && before[fd]))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		k = readlink(link, target, sizeof(target) - 1);
		if (k > 0) {
			target[k] = '\0';
			if (strcmp(target, "anon_inode:inotify") == 0 && fd != dirfd(d))
				found = fd;
		}
	}
	closedir(d);
	return found;
}

static int inotify_setup(struct watch *w)
{
	unsigned char before[4096] = { 0 };
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	if (d) {
		while ((de = readdir(d))) {
			int fd = atoi(de->d_name);

			if (de->d_name[0] != '.' && fd != dirfd(d) && fd >= 0 &&
			    fd < (int)sizeof(before))
				before[fd] = 1;
		}
		closedir(d);
	}
	if (!inotifytools_initialize())
		return -inotifytools_error();
	w->ifd = find_new_inotify_fd(before, sizeof(before));
	if (w->ifd < 0)
		return -EBADF;
	/* libinotifytools 3.22 uses inotify_init() without IN_CLOEXEC */
	(void)fcntl(w->ifd, F_SETFD, FD_CLOEXEC);
	return 0;
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	int r;

	r = inotify_setup(w);
	if (r < 0) {
		log_errno(r, "watch: cannot initialise inotify");
		return NULL;
	}
	r = pool_start(w);
	if (r < 0) {
		log_errno(r, "watch: cannot start the commit threads");
		inotifytools_cleanup();
		return NULL;
	}
	w->in_startup_scan = true;
	rescan(w, "start-up");
	w->in_startup_scan = false;
	while (!atomic_load(&w->stop)) {
		struct pollfd pfd[2] = { { .fd = w->ifd, .events = POLLIN },
					 { .fd = w->efd, .events = POLLIN } };
		uint64_t now = loop_now_ms();
		int timeout = 500;
		size_t budget;
		struct inotify_event *ev;

		/* with every commit thread busy, only their results can free a slot */
		if (w->head && w->nfly < w->maxfly)
			timeout = w->head->due <= now ? 0 : (int)(w->head->due - now);
		if (timeout > 500)
			timeout = 500;
		atomic_store(&w->idle, !w->head && !w->nfly);
		if (poll(pfd, 2, timeout) > 0) {
			atomic_store(&w->idle, false);
			if (pfd[1].revents)
				pool_collect(w, 0);
			if (pfd[0].revents) {
				while ((ev = inotifytools_next_events(0, 1)))
					handle_event(w, ev);
				/* one rescan for any number of overflows in this batch */
				if (w->rescan_due) {
					w->rescan_due = false;
					rescan(w, "queue overflow");
				}
			}
		}
		now = loop_now_ms();
		/* each entry at most once per pass: one pushed back may be due again */
		budget = w->npending;
		while (budget-- && w->head && w->head->due <= now && w->nfly < w->maxfly &&
		       !atomic_load(&w->stop)) {
			bool from_scan = false, startup = false;
			unsigned tries = 0;
			char *path = pending_take(w, w->head->path, &from_scan, &tries, &startup);

			if (check_file(w, path, from_scan, tries, startup) == CHECK_RETRY)
				requeue(w, path, from_scan, w->quiet_ms ? w->quiet_ms : 5, tries,
					startup);
			free(path);
		}
	}
	/* what was handed to the sink is finished and recorded; the rest is found again */
	pool_drain(w, NULL);
	pool_stop(w);
	inotifytools_cleanup();
	return NULL;
}

struct watch *watch_new(const struct watch_opts *opts, char *errbuf, size_t errlen)
{
	struct watch *w;
	char real[PATH_MAX];
	struct stat st;
	const char *base;
	int r;

	if (!opts->dir || !realpath(opts->dir, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(errbuf, errlen, "cannot watch '%s': %s", opts->dir ? opts->dir : "(none)",
			 opts->dir ? (errno ? strerror(errno) : "not a directory") : "no directory");
		return NULL;
	}
	if (!opts->sink) {
		snprintf(errbuf, errlen, "watch '%s': no event sink", real);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	w->ifd = -1;
	pthread_mutex_init(&w->pool_lock, NULL);
	pthread_cond_init(&w->pool_cond, NULL);
	w->nthreads = opts->commit_threads ? opts->commit_threads : WATCH_COMMIT_THREADS_DEFAULT;
	if (w->nthreads > WATCH_MAX_THREADS)
		w->nthreads = WATCH_MAX_THREADS;
	w->maxfly = 4 * w->nthreads;
	w->fly = calloc(w->maxfly, sizeof(*w->fly));
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->ntab = 1024;
	w->tab = calloc(w->ntab, sizeof(*w->tab));
	w->root = strdup(real);
	base = strrchr(real, '/');
	w->bucket = strdup(opts->bucket ? opts->bucket : (base && base[1] ? base + 1 : "root"));
	if (w->efd < 0) {
		snprintf(errbuf, errlen, "cannot create an eventfd: %s", strerror(errno));
		goto fail;
	}
	if (!w->fly || !w->tab || !w->root || !w->bucket) {
		snprintf(errbuf, errlen, "out of memory");
		goto fail;
	}
	w->quiet_ms = opts->quiet_ms;
	w->report_deletes = opts->report_deletes;
	w->sink = opts->sink;
	r = regcomp(&w->ignore, opts->ignore_regex ? opts->ignore_regex : WATCH_IGNORE_DEFAULT,
		    REG_EXTENDED | REG_NOSUB);
	if (r) {
		char m[256];

		regerror(r, &w->ignore, m, sizeof(m));
		snprintf(errbuf, errlen, "bad ignore pattern '%s': %s", opts->ignore_regex, m);
		goto fail;
	}
	w->have_regex = true;
	if (db_open(w, opts->state_db, errbuf, errlen) < 0)
		goto fail;
	return w;
fail:
	watch_free(w);
	return NULL;
}

int watch_start(struct watch *w)
{
	sigset_t all, old;
	int r;

	if (w->running)
		return -EALREADY;
	atomic_store(&w->stop, false);
	/* signals go to the main thread, not to the watcher */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&w->thread, NULL, watch_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	w->running = true;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w || !w->running)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	w->running = false;
	while (w->head)
		pending_drop(w, w->head->path);
	atomic_store(&w->st[ST_DIRS], 0);
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	watch_stop(w);
	sqlite3_finalize(w->q_get);
	sqlite3_finalize(w->q_put);
	sqlite3_finalize(w->q_del);
	sqlite3_close(w->db);
	if (w->have_regex)
		regfree(&w->ignore);
	if (w->efd >= 0)
		close(w->efd);
	pthread_mutex_destroy(&w->pool_lock);
	pthread_cond_destroy(&w->pool_cond);
	free(w->fly);
	free(w->tab);
	free(w->root);
	free(w->bucket);
	free(w);
}

void watch_get_stats(struct watch *w, struct watch_stats *ret)
{
	ret->inotify_events = atomic_load(&w->st[ST_EVENTS]);
	ret->reported = atomic_load(&w->st[ST_REPORTED]);
	ret->duplicates = atomic_load(&w->st[ST_DUPS]);
	ret->rescans = atomic_load(&w->st[ST_RESCANS]);
	ret->overflows = atomic_load(&w->st[ST_OVERFLOWS]);
	ret->recovered = atomic_load(&w->st[ST_RECOVERED]);
	ret->deferred = atomic_load(&w->st[ST_DEFERRED]);
	ret->sink_errors = atomic_load(&w->st[ST_SINKERR]);
	ret->directories = atomic_load(&w->st[ST_DIRS]);
}

int watch_wait_idle(struct watch *w, unsigned timeout_ms)
{
	uint64_t end = loop_now_ms() + timeout_ms;

	while (loop_now_ms() < end) {
		if (atomic_load(&w->idle))
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}
