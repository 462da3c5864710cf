/*
 * The journal: SQLite in WAL mode behind one mutex per process.
 *
 * Group commit. journal_append() callers queue their commit and wait; the
 * first waiter that finds no leader becomes the leader, writes every queued
 * event in one transaction with synchronous=FULL (one fsync for the batch),
 * then wakes the others. So N FUSE threads closing files at once pay about one
 * fsync, not N, and no caller returns before its own event is durable.
 *
 * Sequencers are max(last + 1, wall-clock ns) as 16 hex digits, assigned by
 * the leader inside the transaction and persisted in meta, so they grow
 * across restarts and are unique in the journal.
 */
#include "engine/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "engine/commit.h"
#include "engine/log.h"

struct journal_req {
	const struct commit_event *ce;
	const char *cause_arn;
	unsigned chain_depth;
	int64_t id;
	int rc;
	int done;
	struct journal_req *next;
};

struct journal {
	sqlite3 *db;            /* protected by db_lock */
	sqlite3 *ckpt;          /* the checkpointer thread's own connection */
	pthread_t ckpt_thread;
	int ckpt_running;
	int ckpt_stop;          /* protected by ckpt_lock */
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	pthread_mutex_t db_lock;
	char *path;
	int lock_fd;            /* daemon lock, -1 if not held */
	uint64_t last_seq;      /* protected by db_lock */
	/* group commit */
	pthread_mutex_t q_lock; /* taken before db_lock, never the other way round */
	pthread_cond_t q_cond;
	struct journal_req *q_head, *q_tail; /* protected by q_lock */
	int leader;                          /* protected by q_lock */
};

static const char journal_schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);"
	"CREATE TABLE IF NOT EXISTS outbox("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" sequencer TEXT NOT NULL,"
	" bucket TEXT NOT NULL, key TEXT NOT NULL, event_name TEXT NOT NULL,"
	" event TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" routed INTEGER NOT NULL DEFAULT 0,"
	" routed_ms INTEGER);"
	"CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE routed = 0;"
	"CREATE INDEX IF NOT EXISTS outbox_key ON outbox(bucket, key, id);"
	"CREATE TABLE IF NOT EXISTS executions("
	" arn TEXT PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" state_machine TEXT NOT NULL,"
	" state_machine_arn TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" input TEXT, output TEXT, error TEXT, cause TEXT,"
	" start_ms INTEGER NOT NULL, stop_ms INTEGER,"
	" event_id INTEGER, trigger TEXT, parent_arn TEXT,"
	" chain_depth INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(state_machine, name));"
	"CREATE INDEX IF NOT EXISTS executions_status ON executions(status);"
	"CREATE INDEX IF NOT EXISTS executions_start ON executions(start_ms);"
	"CREATE TABLE IF NOT EXISTS history("
	" arn TEXT NOT NULL, id INTEGER NOT NULL, event TEXT NOT NULL,"
	" PRIMARY KEY(arn, id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS requests("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, arn TEXT NOT NULL,"
	" error TEXT, cause TEXT, created_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tokens("
	" token TEXT PRIMARY KEY, arn TEXT NOT NULL, state TEXT NOT NULL,"
	" status TEXT NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;";

int64_t journal_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *journal_path(const struct journal *j)
{
	return j->path;
}

static int journal_exec_sql(struct journal *j, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_debug("journal '%s': %s: %s", j->path, sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

static sqlite3_stmt *journal_prep(struct journal *j, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_debug("journal '%s': prepare '%s': %s", j->path, sql, sqlite3_errmsg(j->db));
		return NULL;
	}
	return st;
}

static void journal_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/*
 * Run one statement that returns no rows, under the lock: @types names the
 * parameters in order, 's' a string (NULL binds SQL NULL), 'i' an int64_t.
 * 0 when it ran to the end, -EIO otherwise (logged at debug level).
 */
static int journal_run(struct journal *j, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int r = -EIO, i;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, sql);
	if (st) {
		va_start(ap, types);
		for (i = 0; types[i]; i++) {
			if (types[i] == 's')
				journal_bind_text(st, i + 1, va_arg(ap, const char *));
			else
				sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		}
		va_end(ap);
		if (sqlite3_step(st) == SQLITE_DONE)
			r = 0;
		else
			log_debug("journal '%s': '%s': %s", j->path, sql, sqlite3_errmsg(j->db));
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	return r;
}

static const char *journal_col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int journal_meta_get_locked(struct journal *j, const char *key, char **ret)
{
	sqlite3_stmt *st = journal_prep(j, "SELECT v FROM meta WHERE k = ?");
	int r, rc;

	if (!st)
		return -EIO;
	journal_bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = journal_col(st, 0);

		*ret = strdup(v ? v : "");
		r = *ret ? 0 : -ENOMEM;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	sqlite3_finalize(st);
	return r;
}

static int journal_meta_set_locked(struct journal *j, const char *key, const char *value)
{
	sqlite3_stmt *st = journal_prep(j, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)");
	int r;

	if (!st)
		return -EIO;
	journal_bind_text(st, 1, key);
	journal_bind_text(st, 2, value);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int journal_open(const char *path, unsigned flags, struct journal **ret, char *err,
		 size_t errlen)
{
	struct journal *j;
	char *seq = NULL;
	int oflags, r;

	j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	j->path = strdup(path);
	j->lock_fd = -1;
	pthread_mutex_init(&j->db_lock, NULL);
	pthread_mutex_init(&j->q_lock, NULL);
	pthread_mutex_init(&j->ckpt_lock, NULL);
	pthread_cond_init(&j->ckpt_cond, NULL);
	pthread_cond_init(&j->q_cond, NULL);
	if (!j->path) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	oflags = SQLITE_OPEN_NOMUTEX;
	oflags |= (flags & JOURNAL_READONLY) ? SQLITE_OPEN_READONLY
					     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &j->db, oflags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open journal '%s': %s", path,
			 j->db ? sqlite3_errmsg(j->db) : "out of memory");
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(j->db, 5000);
	if (flags & JOURNAL_READONLY) {
		/* a read-only opener still needs the schema to exist */
		sqlite3_stmt *st = journal_prep(j, "SELECT 1 FROM outbox LIMIT 1");

		if (!st) {
			snprintf(err, errlen, "'%s' is not a stepfs journal (%s)", path,
				 sqlite3_errmsg(j->db));
			r = -EINVAL;
			goto fail;
		}
		sqlite3_finalize(st);
		*ret = j;
		return 0;
	}
	if (journal_exec_sql(j, "PRAGMA journal_mode=WAL") < 0 ||
	    journal_exec_sql(j, "PRAGMA synchronous=NORMAL") < 0 ||
	    journal_exec_sql(j, "PRAGMA foreign_keys=OFF") < 0 ||
	    journal_exec_sql(j, journal_schema) < 0) {
		snprintf(err, errlen, "cannot initialise journal '%s': %s", path,
			 sqlite3_errmsg(j->db));
		r = -EIO;
		goto fail;
	}
	if (journal_meta_get_locked(j, "last_sequencer", &seq) == 0) {
		j->last_seq = strtoull(seq, NULL, 16);
		free(seq);
	}
	*ret = j;
	return 0;
fail:
	journal_close(j);
	return r;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->ckpt_running) {
		pthread_mutex_lock(&j->ckpt_lock);
		j->ckpt_stop = 1;
		pthread_cond_signal(&j->ckpt_cond);
		pthread_mutex_unlock(&j->ckpt_lock);
		pthread_join(j->ckpt_thread, NULL);
	}
	if (j->db)
		sqlite3_close(j->db);
	if (j->ckpt)
		sqlite3_close(j->ckpt);
	pthread_mutex_destroy(&j->ckpt_lock);
	pthread_cond_destroy(&j->ckpt_cond);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	pthread_mutex_destroy(&j->db_lock);
	pthread_mutex_destroy(&j->q_lock);
	pthread_cond_destroy(&j->q_cond);
	free(j->path);
	free(j);
}

/* Write one queued event inside the leader's transaction. */
static int journal_insert_event(struct journal *j, sqlite3_stmt *ins, struct journal_req *q,
				uint64_t now_ns)
{
	char seq[EVENT_SEQ_LEN + 1], *text = NULL;
	struct event *ev = NULL;
	json_t *js = NULL;
	int r = -EIO;

	j->last_seq = now_ns > j->last_seq ? now_ns : j->last_seq + 1;
	event_sequencer_format(j->last_seq, seq);
	ev = event_from_commit(q->ce, seq);
	if (!ev)
		return -ENOMEM;
	if (q->cause_arn) {
		ev->cause_arn = strdup(q->cause_arn);
		if (!ev->cause_arn) {
			r = -ENOMEM;
			goto out;
		}
	}
	ev->chain_depth = q->chain_depth;
	js = event_to_json(ev);
	text = js ? json_dumps(js, JSON_COMPACT) : NULL;
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	sqlite3_reset(ins);
	sqlite3_bind_text(ins, 1, seq, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ins, 2, ev->bucket, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ins, 3, ev->key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ins, 4, event_name(ev->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 5, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(ins, 6, ev->time_ms ? ev->time_ms : journal_now_ms());
	if (sqlite3_step(ins) != SQLITE_DONE) {
		log_debug("journal '%s': append: %s", j->path, sqlite3_errmsg(j->db));
		goto out;
	}
	q->id = sqlite3_last_insert_rowid(j->db);
	r = 0;
out:
	free(text);
	json_decref(js);
	event_free(ev);
	return r;
}

/* The leader: write @batch in one FULL-synchronous transaction. */
static void journal_commit_batch(struct journal *j, struct journal_req *batch)
{
	struct journal_req *q;
	sqlite3_stmt *ins = NULL;
	struct timespec ts;
	uint64_t now_ns;
	char seq[EVENT_SEQ_LEN + 1];
	uint64_t seq0;
	int r = 0;

	pthread_mutex_lock(&j->db_lock);
	seq0 = j->last_seq;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (journal_exec_sql(j, "PRAGMA synchronous=FULL") < 0 ||
	    journal_exec_sql(j, "BEGIN IMMEDIATE") < 0) {
		r = -EIO;
		goto done;
	}
	ins = journal_prep(j, "INSERT INTO outbox(sequencer, bucket, key, event_name, event, "
			      "created_ms) VALUES(?, ?, ?, ?, ?, ?)");
	if (!ins)
		r = -EIO;
	for (q = batch; q && r == 0; q = q->next) {
		q->rc = journal_insert_event(j, ins, q, now_ns);
		if (q->rc < 0)
			r = q->rc;
	}
	sqlite3_finalize(ins);
	if (r == 0) {
		event_sequencer_format(j->last_seq, seq);
		r = journal_meta_set_locked(j, "last_sequencer", seq);
	}
	if (r == 0 && journal_exec_sql(j, "COMMIT") < 0)
		r = -EIO;
	if (r < 0) {
		(void)journal_exec_sql(j, "ROLLBACK");
		j->last_seq = seq0;
	}
done:
	(void)journal_exec_sql(j, "PRAGMA synchronous=NORMAL");
	pthread_mutex_unlock(&j->db_lock);
	for (q = batch; q; q = q->next)
		if (r < 0)
			q->rc = r;
}

int journal_append(struct journal *j, const struct commit_event *ce, const char *cause_arn,
		   unsigned chain_depth, int64_t *ret_id)
{
	struct journal_req me = { ce, cause_arn, chain_depth, 0, 0, 0, NULL };

	/*
	 * The event is stored as JSON, which cannot hold such a key: refuse it
	 * here, before it joins a group commit, where its failure would roll
	 * back (and fail) the other writers' events of the same batch.
	 */
	if (!event_utf8_valid(ce->key) || !event_utf8_valid(ce->bucket) ||
	    !event_utf8_valid(ce->etag) || !event_utf8_valid(ce->version_id) ||
	    !event_utf8_valid(ce->local_path) || !event_utf8_valid(ce->src_key) ||
	    !event_utf8_valid(cause_arn))
		return -EILSEQ;
	pthread_mutex_lock(&j->q_lock);
	if (j->q_tail)
		j->q_tail->next = &me;
	else
		j->q_head = &me;
	j->q_tail = &me;
	while (!me.done) {
		if (!j->leader) {
			struct journal_req *batch = j->q_head, *q, *next;

			j->leader = 1;
			j->q_head = j->q_tail = NULL;
			pthread_mutex_unlock(&j->q_lock);
			journal_commit_batch(j, batch);
			pthread_mutex_lock(&j->q_lock);
			for (q = batch; q; q = next) {
				next = q->next; /* q may return and vanish once done is set */
				q->done = 1;
			}
			j->leader = 0;
			pthread_cond_broadcast(&j->q_cond);
		} else {
			pthread_cond_wait(&j->q_cond, &j->q_lock);
		}
	}
	pthread_mutex_unlock(&j->q_lock);
	if (me.rc == 0 && ret_id)
		*ret_id = me.id;
	return me.rc;
}

int journal_pending(struct journal *j, int64_t after_id, int max,
		    void (*fn)(void *arg, int64_t id, const struct event *ev), void *arg)
{
	struct row {
		int64_t id;
		struct event *ev;
	} *rows = NULL;
	int64_t bad[64];
	size_t nbad = 0, nrows = 0, i;
	sqlite3_stmt *st;
	int n = 0, rc;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT id, event FROM outbox WHERE routed = 0 AND id > ? "
			     "ORDER BY id LIMIT ?");
	if (!st) {
		pthread_mutex_unlock(&j->db_lock);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, after_id);
	sqlite3_bind_int(st, 2, max > 0 ? max : 1000);
	/*
	 * Parse everything first and call back after releasing the lock, since
	 * @fn may call back into the journal.
	 */

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *text = journal_col(st, 1);
		json_t *js = text ? json_loads(text, 0, NULL) : NULL;
		char err[200] = "not JSON";
		struct event *ev = js ? event_from_json(js, err, sizeof(err)) : NULL;
		struct row *nr;

		json_decref(js);
		if (!ev) {
			log_err("journal '%s': outbox row %lld is unreadable (%s); skipping it",
				j->path, (long long)id, err);
			if (nbad < sizeof(bad) / sizeof(bad[0]))
				bad[nbad++] = id;
			continue;
		}
		nr = realloc(rows, (nrows + 1) * sizeof(*rows));
		if (!nr) {
			event_free(ev);
			break;
		}
		rows = nr;
		rows[nrows].id = id;
		rows[nrows].ev = ev;
		nrows++;
	}
	sqlite3_finalize(st);
	for (i = 0; i < nbad; i++) {
		st = journal_prep(j, "UPDATE outbox SET routed = 2, routed_ms = ? WHERE id = ?");
		if (st) {
			sqlite3_bind_int64(st, 1, journal_now_ms());
			sqlite3_bind_int64(st, 2, bad[i]);
			(void)sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	pthread_mutex_unlock(&j->db_lock);
	for (i = 0; i < nrows; i++) {
		fn(arg, rows[i].id, rows[i].ev);
		event_free(rows[i].ev);
		n++;
	}
	free(rows);
	return n;
}

int journal_last_event(struct journal *j, const char *bucket, const char *key, int64_t *ret_id,
		       struct event **ret_ev)
{
	sqlite3_stmt *st;
	struct event *ev = NULL;
	int64_t id = 0;
	int r = -EIO, rc;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT id, event FROM outbox WHERE bucket = ? AND key = ? "
			     "ORDER BY id DESC LIMIT 1");
	if (st) {
		journal_bind_text(st, 1, bucket);
		journal_bind_text(st, 2, key);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			json_t *js = json_loads(journal_col(st, 1), 0, NULL);
			char err[200];

			id = sqlite3_column_int64(st, 0);
			ev = js ? event_from_json(js, err, sizeof(err)) : NULL;
			json_decref(js);
			r = ev ? 0 : -EIO;
		} else {
			r = rc == SQLITE_DONE ? -ENOENT : -EIO;
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	if (r == 0) {
		*ret_id = id;
		*ret_ev = ev;
	}
	return r;
}

int64_t journal_max_id(struct journal *j)
{
	sqlite3_stmt *st;
	int64_t n = -EIO;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT coalesce(max(id), 0) FROM outbox");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	return n;
}

int64_t journal_pending_count(struct journal *j)
{
	sqlite3_stmt *st;
	int64_t n = -EIO;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT count(*) FROM outbox WHERE routed = 0");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	return n;
}

void journal_exec_name(const char *trigger, const struct event *ev, char *out, size_t len)
{
	const char *parts[] = { trigger, ev->bucket, ev->key, ev->sequencer };
	char h[65];

	event_hash(parts, 4, h);
	snprintf(out, len, "%s-%.16s", ev->sequencer, h);
}

int journal_route(struct journal *j, int64_t event_id, const struct journal_exec *execs,
		  size_t n, int *ret_new)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&j->db_lock);
	if (journal_exec_sql(j, "BEGIN IMMEDIATE") < 0) {
		pthread_mutex_unlock(&j->db_lock);
		return -EIO;
	}
	st = journal_prep(j, "INSERT OR IGNORE INTO executions(arn, name, state_machine, "
			     "state_machine_arn, type, status, input, start_ms, event_id, trigger, "
			     "parent_arn, chain_depth) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
	if (!st)
		r = -EIO;
	for (i = 0; i < n && r == 0; i++) {
		const struct journal_exec *x = &execs[i];

		sqlite3_reset(st);
		journal_bind_text(st, 1, x->arn);
		journal_bind_text(st, 2, x->name);
		journal_bind_text(st, 3, x->state_machine);
		journal_bind_text(st, 4, x->state_machine_arn);
		journal_bind_text(st, 5, x->type);
		journal_bind_text(st, 6, x->status ? x->status : "RUNNING");
		journal_bind_text(st, 7, x->input);
		sqlite3_bind_int64(st, 8, x->start_ms);
		sqlite3_bind_int64(st, 9, x->event_id);
		journal_bind_text(st, 10, x->trigger);
		journal_bind_text(st, 11, x->parent_arn);
		sqlite3_bind_int(st, 12, (int)x->chain_depth);
		if (sqlite3_step(st) != SQLITE_DONE) {
			log_debug("journal '%s': route: %s", j->path, sqlite3_errmsg(j->db));
			r = -EIO;
			break;
		}
		if (ret_new)
			ret_new[i] = sqlite3_changes(j->db) > 0;
	}
	sqlite3_finalize(st);
	if (r == 0 && event_id > 0) {
		st = journal_prep(j, "UPDATE outbox SET routed = 1, routed_ms = ? WHERE id = ?");
		if (!st) {
			r = -EIO;
		} else {
			sqlite3_bind_int64(st, 1, journal_now_ms());
			sqlite3_bind_int64(st, 2, event_id);
			if (sqlite3_step(st) != SQLITE_DONE)
				r = -EIO;
			sqlite3_finalize(st);
		}
	}
	if (r == 0 && journal_exec_sql(j, "COMMIT") < 0)
		r = -EIO;
	if (r < 0)
		(void)journal_exec_sql(j, "ROLLBACK");
	pthread_mutex_unlock(&j->db_lock);
	return r;
}

int journal_exec_finish(struct journal *j, const char *arn, const char *status,
			const char *output, const char *error, const char *cause,
			int64_t stop_ms)
{
	return journal_run(j, "UPDATE executions SET status = ?, output = ?, error = ?, "
			      "cause = ?, stop_ms = ? WHERE arn = ?",
			   "ssssis", status, output, error, cause, (int64_t)stop_ms, arn);
}

/* AWS CLI's date form: 2024-01-02T03:04:05.678000+00:00 */
static json_t *journal_date(int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char s[80];

	gmtime_r(&secs, &tm);
	snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03d000+00:00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(s);
}

#define JOURNAL_EXEC_COLS                                                                  \
	"arn, name, state_machine, state_machine_arn, type, status, input, output, error, " \
	"cause, start_ms, stop_ms, trigger, parent_arn, chain_depth, event_id"

static void journal_set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static json_t *journal_row_json(sqlite3_stmt *st, int full)
{
	json_t *o = json_object();
	const char *status = journal_col(st, 5);

	if (!o)
		return NULL;
	journal_set_str(o, "executionArn", journal_col(st, 0));
	journal_set_str(o, "stateMachineArn", journal_col(st, 3));
	journal_set_str(o, "name", journal_col(st, 1));
	journal_set_str(o, "status", status);
	json_object_set_new(o, "startDate", journal_date(sqlite3_column_int64(st, 10)));
	if (sqlite3_column_type(st, 11) != SQLITE_NULL && sqlite3_column_int64(st, 11) > 0)
		json_object_set_new(o, "stopDate", journal_date(sqlite3_column_int64(st, 11)));
	if (full) {
		journal_set_str(o, "input", journal_col(st, 6));
		json_object_set_new(o, "inputDetails", json_pack("{s:b}", "included", 1));
		if (journal_col(st, 7)) {
			journal_set_str(o, "output", journal_col(st, 7));
			json_object_set_new(o, "outputDetails", json_pack("{s:b}", "included", 1));
		}
		journal_set_str(o, "error", journal_col(st, 8));
		journal_set_str(o, "cause", journal_col(st, 9));
		journal_set_str(o, "trigger", journal_col(st, 12));
		journal_set_str(o, "parentExecutionArn", journal_col(st, 13));
		json_object_set_new(o, "chainDepth", json_integer(sqlite3_column_int(st, 14)));
		if (sqlite3_column_int64(st, 15) > 0)
			json_object_set_new(o, "eventId", json_integer(sqlite3_column_int64(st, 15)));
	}
	journal_set_str(o, "type", journal_col(st, 4));
	return o;
}

int journal_exec_describe(struct journal *j, const char *arn_or_name, json_t **ret)
{
	int by_arn = strncmp(arn_or_name, "arn:", 4) == 0;
	sqlite3_stmt *st;
	int r = -EIO, rc;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, by_arn ? "SELECT " JOURNAL_EXEC_COLS " FROM executions WHERE arn = ?"
				    : "SELECT " JOURNAL_EXEC_COLS " FROM executions WHERE name = ? "
				      "ORDER BY start_ms DESC LIMIT 1");
	if (st) {
		journal_bind_text(st, 1, arn_or_name);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*ret = journal_row_json(st, 1);
			r = *ret ? 0 : -ENOMEM;
		} else {
			r = rc == SQLITE_DONE ? -ENOENT : -EIO;
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	return r;
}

int journal_exec_list(struct journal *j, const char *state_machine, const char *status,
		      int max, json_t **ret)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int r = 0, rc;

	if (!arr)
		return -ENOMEM;
	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT " JOURNAL_EXEC_COLS " FROM executions "
			     "WHERE (?1 IS NULL OR state_machine = ?1) AND (?2 IS NULL OR status = ?2) "
			     "ORDER BY start_ms DESC, rowid DESC LIMIT ?3");
	if (!st) {
		r = -EIO;
		goto out;
	}
	journal_bind_text(st, 1, state_machine);
	journal_bind_text(st, 2, status);
	sqlite3_bind_int(st, 3, max > 0 ? max : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, journal_row_json(st, 0));
	if (rc != SQLITE_DONE)
		r = -EIO;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*ret = arr;
	return 0;
}

int journal_exec_running(struct journal *j,
			 void (*fn)(void *arg, const char *arn, const char *name,
				    const char *state_machine, const char *type,
				    const char *input, unsigned chain_depth, const char *trigger),
			 void *arg)
{
	sqlite3_stmt *st;
	json_t *rows = json_array();
	json_t *row;
	size_t i;
	int rc, n = 0;

	if (!rows)
		return -ENOMEM;
	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT arn, name, state_machine, type, input, chain_depth, trigger "
			     "FROM executions WHERE status = 'RUNNING' ORDER BY start_ms, rowid");
	if (!st) {
		pthread_mutex_unlock(&j->db_lock);
		json_decref(rows);
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(rows, json_pack("[s,s,s,s,s?,i,s?]", journal_col(st, 0),
						      journal_col(st, 1), journal_col(st, 2),
						      journal_col(st, 3), journal_col(st, 4),
						      sqlite3_column_int(st, 5),
						      journal_col(st, 6)));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	json_array_foreach(rows, i, row) {
		if (!json_is_array(row))
			continue;
		fn(arg, json_string_value(json_array_get(row, 0)),
		   json_string_value(json_array_get(row, 1)),
		   json_string_value(json_array_get(row, 2)),
		   json_string_value(json_array_get(row, 3)),
		   json_string_value(json_array_get(row, 4)),
		   (unsigned)json_integer_value(json_array_get(row, 5)),
		   json_string_value(json_array_get(row, 6)));
		n++;
	}
	json_decref(rows);
	return rc == SQLITE_DONE ? n : -EIO;
}

int journal_history_add(struct journal *j, const char *arn, const json_t *event)
{
	char *text = json_dumps(event, JSON_COMPACT);
	int r;

	if (!text)
		return -ENOMEM;
	r = journal_run(j, "INSERT OR IGNORE INTO history(arn, id, event) VALUES(?, ?, ?)", "sis",
			arn, (int64_t)json_integer_value(json_object_get(event, "id")), text);
	free(text);
	return r;
}

int journal_history_clear(struct journal *j, const char *arn)
{
	return journal_run(j, "DELETE FROM history WHERE arn = ?", "s", arn);
}

int journal_history(struct journal *j, const char *arn, json_t **ret)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();
	int rc;

	if (!arr)
		return -ENOMEM;
	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT event FROM history WHERE arn = ? ORDER BY id");
	if (!st) {
		pthread_mutex_unlock(&j->db_lock);
		json_decref(arr);
		return -EIO;
	}
	journal_bind_text(st, 1, arn);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *e = json_loads(journal_col(st, 0), 0, NULL);

		if (e)
			json_array_append_new(arr, e);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return -EIO;
	}
	*ret = arr;
	return 0;
}

/* Queue a request for the daemon: @kind, its subject (ARN or task token), error, cause. */
static int journal_request(struct journal *j, const char *kind, const char *subject,
			   const char *error, const char *cause)
{
	return journal_run(j, "INSERT INTO requests(kind, arn, error, cause, created_ms) "
			      "VALUES(?, ?, ?, ?, ?)",
			   "ssssi", kind, subject, error, cause, (int64_t)journal_now_ms());
}

int journal_request_stop(struct journal *j, const char *arn, const char *error,
			 const char *cause)
{
	return journal_request(j, "stop", arn, error, cause);
}

/*
 * Take (read and delete, in one critical section) the queued requests whose
 * kind is in @kinds (an SQL list of literals, e.g. "('stop')"), oldest first:
 * *ret is an array of [kind, subject, error|null, cause|null].
 */
static int journal_take(struct journal *j, const char *kinds, json_t **ret)
{
	sqlite3_stmt *st;
	json_t *rows = json_array();
	int64_t maxid = 0;
	char sql[256];

	if (!rows)
		return -ENOMEM;
	pthread_mutex_lock(&j->db_lock);
	snprintf(sql, sizeof(sql),
		 "SELECT id, kind, arn, error, cause FROM requests WHERE kind IN %s ORDER BY id",
		 kinds);
	st = journal_prep(j, sql);
	if (!st) {
		pthread_mutex_unlock(&j->db_lock);
		json_decref(rows);
		return -EIO;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		maxid = sqlite3_column_int64(st, 0);
		json_array_append_new(rows, json_pack("[s,s,s?,s?]", journal_col(st, 1),
						      journal_col(st, 2), journal_col(st, 3),
						      journal_col(st, 4)));
	}
	sqlite3_finalize(st);
	if (maxid > 0) {
		snprintf(sql, sizeof(sql), "DELETE FROM requests WHERE kind IN %s AND id <= ?",
			 kinds);
		st = journal_prep(j, sql);
		if (st) {
			sqlite3_bind_int64(st, 1, maxid);
			(void)sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	pthread_mutex_unlock(&j->db_lock);
	*ret = rows;
	return 0;
}

static const char *row_str(json_t *row, size_t i)
{
	return json_string_value(json_array_get(row, i));
}

int journal_take_requests(struct journal *j,
			  void (*fn)(void *arg, const char *arn, const char *error,
				     const char *cause),
			  void *arg)
{
	json_t *rows, *row;
	size_t i;
	int rc = journal_take(j, "('stop')", &rows);

	if (rc < 0)
		return rc;
	json_array_foreach(rows, i, row)
		if (json_is_array(row))
			fn(arg, row_str(row, 1), row_str(row, 2), row_str(row, 3));
	i = json_array_size(rows);
	json_decref(rows);
	return (int)i;
}

int journal_request_task(struct journal *j, const char *kind, const char *token,
			 const char *error, const char *cause)
{
	return journal_request(j, kind, token, error, cause);
}

int journal_take_task_requests(struct journal *j,
			       void (*fn)(void *arg, const char *kind, const char *token,
					  const char *error, const char *cause),
			       void *arg)
{
	json_t *rows, *row;
	size_t i;
	int rc = journal_take(j, "('task_success', 'task_failure', 'task_heartbeat')", &rows);

	if (rc < 0)
		return rc;
	json_array_foreach(rows, i, row)
		if (json_is_array(row))
			fn(arg, row_str(row, 0), row_str(row, 1), row_str(row, 2),
			   row_str(row, 3));
	i = json_array_size(rows);
	json_decref(rows);
	return (int)i;
}

int journal_token_set(struct journal *j, const char *token, const char *arn, const char *state,
		      const char *status)
{
	return journal_run(j, "INSERT INTO tokens(token, arn, state, status, updated_ms) "
			      "VALUES(?, ?, ?, ?, ?) ON CONFLICT(token) DO UPDATE SET "
			      "status = excluded.status, updated_ms = excluded.updated_ms",
			   "ssssi", token, arn, state, status, (int64_t)journal_now_ms());
}

int journal_token_get(struct journal *j, const char *token, json_t **ret)
{
	sqlite3_stmt *st;
	int r = -EIO;

	pthread_mutex_lock(&j->db_lock);
	st = journal_prep(j, "SELECT arn, state, status FROM tokens WHERE token = ?");
	if (st) {
		journal_bind_text(st, 1, token);
		switch (sqlite3_step(st)) {
		case SQLITE_ROW:
			*ret = json_pack("{s:s,s:s,s:s}", "arn", journal_col(st, 0), "state",
					 journal_col(st, 1), "status", journal_col(st, 2));
			r = *ret ? 0 : -ENOMEM;
			break;
		case SQLITE_DONE:
			r = -ENOENT;
			break;
		default:
			break;
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&j->db_lock);
	return r;
}

int journal_tokens_close_all(struct journal *j)
{
	return journal_run(j, "UPDATE tokens SET status = 'CLOSED', updated_ms = ? "
			      "WHERE status = 'WAITING'",
			   "i", (int64_t)journal_now_ms());
}

int journal_meta_get(struct journal *j, const char *key, char **ret)
{
	int r;

	pthread_mutex_lock(&j->db_lock);
	r = journal_meta_get_locked(j, key, ret);
	pthread_mutex_unlock(&j->db_lock);
	return r;
}

int journal_meta_set(struct journal *j, const char *key, const char *value)
{
	int r;

	pthread_mutex_lock(&j->db_lock);
	r = journal_meta_set_locked(j, key, value);
	pthread_mutex_unlock(&j->db_lock);
	return r;
}

int64_t journal_prune(struct journal *j, int64_t before_ms)
{
	static const char *const sql[] = {
		"DELETE FROM history WHERE arn IN (SELECT arn FROM executions WHERE "
		"status != 'RUNNING' AND stop_ms IS NOT NULL AND stop_ms < ?1)",
		"DELETE FROM executions WHERE status != 'RUNNING' AND stop_ms IS NOT NULL AND "
		"stop_ms < ?1",
		"DELETE FROM outbox WHERE routed != 0 AND created_ms < ?1",
		"DELETE FROM tokens WHERE status != 'WAITING' AND updated_ms < ?1",
	};
	int64_t n = 0;
	size_t i;
	int r = 0;

	pthread_mutex_lock(&j->db_lock);
	if (journal_exec_sql(j, "BEGIN IMMEDIATE") < 0) {
		pthread_mutex_unlock(&j->db_lock);
		return -EIO;
	}
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && r == 0; i++) {
		sqlite3_stmt *st = journal_prep(j, sql[i]);

		if (!st) {
			r = -EIO;
			break;
		}
		sqlite3_bind_int64(st, 1, before_ms);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = -EIO;
		else if (i == 1)
			n = sqlite3_changes(j->db);
		sqlite3_finalize(st);
	}
	if (r == 0 && journal_exec_sql(j, "COMMIT") < 0)
		r = -EIO;
	if (r < 0)
		(void)journal_exec_sql(j, "ROLLBACK");
	pthread_mutex_unlock(&j->db_lock);
	return r < 0 ? r : n;
}

static int journal_lock_open(const char *path)
{
	char lp[4200];

	snprintf(lp, sizeof(lp), "%s-daemon.lock", path);
	return open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
}

int journal_daemon_lock(struct journal *j)
{
	int fd;

	if (j->lock_fd >= 0)
		return 0;
	fd = journal_lock_open(j->path);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	j->lock_fd = fd;
	return 0;
}

int journal_daemon_alive(const char *path)
{
	char lp[4200];
	int fd, alive = 0;

	snprintf(lp, sizeof(lp), "%s-daemon.lock", path);
	fd = open(lp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		alive = errno == EWOULDBLOCK;
	close(fd);
	return alive;
}

int journal_exec_abort_offline(struct journal *j, const char *arn, const char *error,
			       const char *cause)
{
	sqlite3_stmt *st;
	int64_t last = 0, now = journal_now_ms();
	char when[80];
	time_t secs = (time_t)(now / 1000);
	struct tm tm;
	json_t *ev;
	char *text = NULL;
	int r = -EIO, rc;

	gmtime_r(&secs, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000));
	pthread_mutex_lock(&j->db_lock);
	if (journal_exec_sql(j, "BEGIN IMMEDIATE") < 0)
		goto out_unlock;
	st = journal_prep(j, "SELECT status FROM executions WHERE arn = ?");
	if (!st)
		goto rollback;
	journal_bind_text(st, 1, arn);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || strcmp(journal_col(st, 0), "RUNNING") != 0) {
		sqlite3_finalize(st);
		r = rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : -EIO;
		goto rollback;
	}
	sqlite3_finalize(st);
	st = journal_prep(j, "SELECT coalesce(max(id), 0) FROM history WHERE arn = ?");
	if (!st)
		goto rollback;
	journal_bind_text(st, 1, arn);
	if (sqlite3_step(st) == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ev = json_pack("{s:s,s:s,s:I,s:I,s:{s:s?,s:s?}}", "timestamp", when, "type",
		       "ExecutionAborted", "id", (json_int_t)(last + 1), "previousEventId",
		       (json_int_t)last, "executionAbortedEventDetails", "error", error, "cause",
		       cause);
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text)
		goto rollback;
	st = journal_prep(j, "INSERT OR IGNORE INTO history(arn, id, event) VALUES(?, ?, ?)");
	if (!st)
		goto rollback;
	journal_bind_text(st, 1, arn);
	sqlite3_bind_int64(st, 2, last + 1);
	journal_bind_text(st, 3, text);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto rollback;
	st = journal_prep(j, "UPDATE executions SET status = 'ABORTED', error = ?, cause = ?, "
			     "stop_ms = ? WHERE arn = ?");
	if (!st)
		goto rollback;
	journal_bind_text(st, 1, error);
	journal_bind_text(st, 2, cause);
	sqlite3_bind_int64(st, 3, now);
	journal_bind_text(st, 4, arn);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || journal_exec_sql(j, "COMMIT") < 0)
		goto rollback;
	r = 0;
	goto out_unlock;
rollback:
	(void)journal_exec_sql(j, "ROLLBACK");
out_unlock:
	pthread_mutex_unlock(&j->db_lock);
	free(text);
	return r;
}

static void *journal_checkpointer(void *arg)
{
	struct journal *j = arg;
	struct timespec dl;
	int logn, done;

	pthread_mutex_lock(&j->ckpt_lock);
	while (!j->ckpt_stop) {
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 1;
		pthread_cond_timedwait(&j->ckpt_cond, &j->ckpt_lock, &dl);
		if (j->ckpt_stop)
			break;
		if (sqlite3_wal_checkpoint_v2(j->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, &logn,
					      &done) != SQLITE_OK)
			log_debug("journal '%s': checkpoint: %s", j->path, sqlite3_errmsg(j->ckpt));
	}
	pthread_mutex_unlock(&j->ckpt_lock);
	return NULL;
}

int journal_start_checkpointer(struct journal *j)
{
	sigset_t all, old;
	int r;

	if (j->ckpt_running)
		return 0;
	if (sqlite3_open_v2(j->path, &j->ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		sqlite3_close(j->ckpt);
		j->ckpt = NULL;
		return -EIO;
	}
	sqlite3_busy_timeout(j->ckpt, 5000);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&j->ckpt_thread, NULL, journal_checkpointer, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	j->ckpt_running = 1;
	pthread_mutex_lock(&j->db_lock);
	r = journal_exec_sql(j, "PRAGMA wal_autocheckpoint=0");
	pthread_mutex_unlock(&j->db_lock);
	return r;
}
