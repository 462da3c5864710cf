/*
 * The router: commit sink on the producer side, outbox reader and execution
 * starter on the engine loop thread. See router.h for the guarantees.
 *
 * Ordering and ownership. Producer threads only append to the journal and
 * post a "kick" to the loop; everything else (rules, engine, executions,
 * schedules) lives on the loop thread, so it needs no locks. The only state
 * shared with producers is the queue counter below (protected by q_lock) and
 * the statistics (atomics).
 *
 * An execution record (struct rx) is created when its row is inserted (or
 * found RUNNING at start-up), waits in the run queue for a slot, runs, and is
 * freed when the engine reports its end and the journal has its final status.
 */
#include "engine/router.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/buf.h"
#include "engine/commit.h"
#include "engine/config.h"
#include "engine/event.h"
#include "engine/journal.h"
#include "engine/log.h"
#include "engine/loop.h"
#include "engine/metrics.h"
#include "engine/rules.h"

#define ROUTER_BATCH 256
#define ROUTER_POLL_MS 200
#define ROUTER_PRUNE_MS (3600 * 1000)

struct router_sm {
	const struct config_sm *cfg;
	struct asl_machine *m;
	atomic_uint_fast64_t ended[5];   /* by enum asl_status */
	atomic_uint_fast64_t duration_ms; /* sum over the ended executions */
};

/* Executions started per rule (router_metrics()); ids borrowed from the config. */
struct rule_count {
	const char *id;
	uint64_t n;
};

struct rx {
	struct router *r;
	struct router_sm *sm;
	char *arn;
	char *name;
	json_t *input;
	enum asl_exec_type type;
	unsigned chain_depth;
	struct asl_execution *x;
	int starting;   /* inside asl_execution_start/resume */
	int ended;
	int resume;     /* try asl_execution_resume from the journal */
	char *what;     /* for the log: "rule 'ID' for 'KEY'", "schedule 'NAME'" ... */
	struct rx *next; /* run queue or running list */
	struct rx *prev;
};

struct router {
	const struct config *cfg;
	const struct asl_task_ops *tasks;
	const struct asl_s3_ops *s3;
	char *mountpoint;
	double wait_scale;
	struct journal *journal;
	struct loop *loop;
	struct asl_engine *engine;
	struct router_sm *sms;
	size_t nsms;
	pthread_t thread;
	int thread_started;

	/* loop thread only */
	struct rx *runq_head, *runq_tail;
	struct rx *running;
	unsigned nrunning;
	int64_t last_routed;
	struct loop_timer *poll_timer;
	struct sched_fire *fires;  /* one per schedule: timer arguments */
	int pump_pending;
	int64_t fail_floor;        /* an event failed to route: re-read from here (-1: none) */

	int64_t startup_max_id;    /* outbox high-water mark of earlier runs */
	/* test hook (STEPFS_TEST_CRASH=point:N): SIGKILL at the N-th pass of a point */
	char crash_point[16];
	long crash_at;
	atomic_long crash_count;

	/* shared with producers */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	unsigned queued;         /* protected by q_lock */
	atomic_int kick_pending;

	atomic_uint_fast64_t st_events, st_routed, st_started, st_finished, st_guard, st_busy;
	atomic_uint st_running;
	pthread_mutex_t rc_lock;
	struct rule_count *rcs; /* protected by rc_lock */
	size_t nrcs, rcs_cap;
};

struct sched_fire {
	struct router *r;
	size_t idx;
};

static void router_pump(struct router *r);

/*
 * Crash tests (tests/it/events_crash.sh): with STEPFS_TEST_CRASH=POINT:N the
 * daemon kills itself with SIGKILL the N-th time it passes POINT, one of
 * "commit" (object uploaded, event not yet journaled), "append" (event
 * journaled, close() not yet answered), "route" (executions recorded, not yet
 * started), "start" (an execution started), "history" (a history event of a
 * Standard execution journaled: mid-execution).
 */
static void router_crash_point(struct router *r, const char *point)
{
	if (r->crash_at <= 0 || strcmp(r->crash_point, point) != 0)
		return;
	if (atomic_fetch_add(&r->crash_count, 1) + 1 == r->crash_at) {
		log_err("test crash at '%s' #%ld (STEPFS_TEST_CRASH)", point, r->crash_at);
		raise(SIGKILL);
	}
}

/* ------------------------------------------------------------ queue bound */

static void router_queue_add(struct router *r, unsigned n)
{
	pthread_mutex_lock(&r->q_lock);
	r->queued += n;
	pthread_mutex_unlock(&r->q_lock);
}

static void router_queue_sub(struct router *r, unsigned n)
{
	pthread_mutex_lock(&r->q_lock);
	r->queued = r->queued > n ? r->queued - n : 0;
	pthread_cond_broadcast(&r->q_cond);
	pthread_mutex_unlock(&r->q_lock);
}

/* Wait for room in the bounded queue and take one slot. 0 or -EBUSY. */
static int router_queue_enter(struct router *r)
{
	unsigned cap = r->cfg->limits.queue_size;
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += r->cfg->limits.enqueue_timeout_ms / 1000;
	dl.tv_nsec += (long)(r->cfg->limits.enqueue_timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->q_lock);
	while (r->queued >= cap && rc == 0)
		rc = pthread_cond_timedwait(&r->q_cond, &r->q_lock, &dl);
	if (r->queued >= cap) {
		pthread_mutex_unlock(&r->q_lock);
		return -EBUSY;
	}
	r->queued++;
	pthread_mutex_unlock(&r->q_lock);
	return 0;
}

/* ------------------------------------------------------------- loop guard */

/* Value of @name in a NUL-separated environ block, or NULL. */
static const char *router_env_get(const char *env, size_t len, const char *name)
{
	size_t nl = strlen(name), off = 0;

	while (off < len) {
		const char *e = env + off;
		size_t el = strnlen(e, len - off);

		if (el > nl && strncmp(e, name, nl) == 0 && e[nl] == '=')
			return e + nl + 1;
		off += el + 1;
	}
	return NULL;
}

static int router_read_file(const char *path, char *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len + 1 < cap) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*ret_len = len;
	return 0;
}

static int router_ppid(int pid)
{
	char path[64], buf[512], *p;
	size_t len;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (router_read_file(path, buf, sizeof(buf), &len) < 0)
		return -1;
	/* "pid (comm) state ppid ...": comm may hold spaces and ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

int router_find_cause(int pid, char **ret_arn, unsigned *ret_depth)
{
	static const size_t cap = 256 * 1024;
	char *env = malloc(cap);
	int level, self = (int)getpid(), found = 0;

	if (!env)
		return 0;
	for (level = 0; pid > 1 && pid != self && level < 64 && !found; level++) {
		char path[64];
		const char *arn, *depth;
		size_t len;

		snprintf(path, sizeof(path), "/proc/%d/environ", pid);
		if (router_read_file(path, env, cap, &len) == 0) {
			arn = router_env_get(env, len, "STEPFS_EXECUTION_ARN");
			depth = router_env_get(env, len, "STEPFS_CHAIN_DEPTH");
			if (arn && *arn) {
				*ret_arn = strdup(arn);
				*ret_depth = depth ? (unsigned)strtoul(depth, NULL, 10) : 0;
				found = *ret_arn != NULL;
				break;
			}
		}
		pid = router_ppid(pid);
	}
	free(env);
	return found;
}

/* --------------------------------------------------------------- the sink */

static void router_kick_cb(void *arg);

static void router_kick(struct router *r)
{
	if (atomic_exchange(&r->kick_pending, 1) == 0 && loop_post(r->loop, router_kick_cb, r) < 0)
		atomic_store(&r->kick_pending, 0);
}

/*
 * The bucket name events carry: the config's "Bucket", else the name in an
 * s3://name/prefix URL, else the base name of a local directory.
 */
static const char *router_bucket(struct router *r, const char *b, char *out, size_t len)
{
	const char *p;

	if (r->cfg->bucket)
		return r->cfg->bucket;
	if (!b || !*b)
		return "bucket";
	if (strncmp(b, "s3://", 5) == 0) {
		p = strchr(b + 5, '/');
		snprintf(out, len, "%.*s", p ? (int)(p - b - 5) : (int)strlen(b + 5), b + 5);
		return out;
	}
	p = strrchr(b, '/');
	if (p && p[1])
		return p + 1;
	return b;
}

static int router_commit(void *arg, const struct commit_event *ce)
{
	struct router *r = arg;
	struct commit_event c = *ce;
	char *cause = NULL, *lp = NULL, bname[256];
	unsigned depth = 0;
	int rc;

	c.bucket = router_bucket(r, ce->bucket, bname, sizeof(bname));
	router_crash_point(r, "commit");
	/*
	 * A commit replayed by the filesystem from its spool after a restart
	 * (no writer process) of content whose event an earlier run journaled
	 * already (the daemon died after journaling, before the filesystem
	 * dropped its spool copy): the same mutation, not journaled twice.
	 */
	if (ce->writer_pid == 0 && !ce->fresh && ce->etag && ce->kind != COMMIT_DELETE && c.key) {
		struct event *last = NULL;
		int64_t id = 0;

		if (journal_last_event(r->journal, c.bucket, c.key, &id, &last) == 0 &&
		    id <= r->startup_max_id && last->kind == ce->kind && last->size == ce->size &&
		    last->etag && strcmp(last->etag, ce->etag) == 0) {
			log_notice("'%s' was journaled before the restart (event %lld); not "
				   "journaling it again", c.key, (long long)id);
			event_free(last);
			return 0;
		}
		event_free(last);
	}
	if (ce->writer_pid > 0 && router_find_cause(ce->writer_pid, &cause, &depth))
		depth++;
	if (!c.local_path && r->mountpoint && c.key &&
	    asprintf(&lp, "%s/%s", r->mountpoint, c.key) >= 0)
		c.local_path = lp;
	rc = router_queue_enter(r);
	if (rc < 0) {
		atomic_fetch_add(&r->st_busy, 1);
		log_err("event queue full (%u events and executions waiting for %u ms): the commit of "
			"'%s' fails with EBUSY; raise Limits.QueueSize or MaxRunningExecutions",
			r->cfg->limits.queue_size, r->cfg->limits.enqueue_timeout_ms,
			c.key ? c.key : "");
		goto out;
	}
	rc = journal_append(r->journal, &c, cause, depth, NULL);
	if (rc < 0) {
		router_queue_sub(r, 1);
		log_err("cannot journal the event for '%s' in '%s': %s", c.key ? c.key : "",
			journal_path(r->journal), strerror(-rc));
		goto out;
	}
	atomic_fetch_add(&r->st_events, 1);
	router_crash_point(r, "append");
	router_kick(r);
out:
	free(cause);
	free(lp);
	return rc;
}

void router_sink(struct router *r, struct commit_sink *ret)
{
	ret->commit = router_commit;
	ret->arg = r;
}

/* ------------------------------------------------------------- executions */

static struct router_sm *router_find_sm(struct router *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nsms; i++)
		if (strcmp(r->sms[i].cfg->name, name) == 0)
			return &r->sms[i];
	return NULL;
}

/* The execution ARN the engine gives @name of @sm (same scheme as asl_exec.c). */
static char *router_exec_arn(struct router_sm *sm, const char *name)
{
	const char *marn = asl_machine_arn(sm->m), *p = strstr(marn, ":stateMachine:");
	char *out;

	if (!p)
		return NULL;
	if (asprintf(&out, "%.*s:%s:%s:%s", (int)(p - marn), marn,
		     sm->cfg->type == CONFIG_EXPRESS ? "express" : "execution", sm->cfg->name,
		     name) < 0)
		return NULL;
	return out;
}

static void rx_free(struct rx *x)
{
	if (!x)
		return;
	asl_execution_free(x->x);
	json_decref(x->input);
	free(x->arn);
	free(x->name);
	free(x->what);
	free(x);
}

/* Describe what started @x, for the start and end log lines. */
static void rx_set_what(struct rx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rx_set_what(struct rx *x, const char *fmt, ...)
{
	va_list ap;

	free(x->what);
	va_start(ap, fmt);
	if (vasprintf(&x->what, fmt, ap) < 0)
		x->what = NULL;
	va_end(ap);
}

static struct rx *rx_new(struct router *r, struct router_sm *sm, const char *arn,
			 const char *name, json_t *input, unsigned depth)
{
	struct rx *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->r = r;
	x->sm = sm;
	x->arn = strdup(arn);
	x->name = strdup(name);
	x->input = json_incref(input);
	x->type = sm->cfg->type == CONFIG_EXPRESS ? ASL_EXPRESS : ASL_STANDARD;
	x->chain_depth = depth;
	if (!x->arn || !x->name) {
		rx_free(x);
		return NULL;
	}
	return x;
}

static void router_enqueue(struct router *r, struct rx *x)
{
	x->next = NULL;
	if (r->runq_tail)
		r->runq_tail->next = x;
	else
		r->runq_head = x;
	r->runq_tail = x;
}

static void rx_on_event(void *arg, struct asl_execution *ex, json_t *event)
{
	struct rx *x = arg;

	if (journal_history_add(x->r->journal, x->arn, event) < 0)
		log_err("cannot journal a history event of '%s'", x->arn);
	router_crash_point(x->r, "history");
}

static void router_pump_cb(void *arg)
{
	struct router *r = arg;

	r->pump_pending = 0;
	router_pump(r);
}

static void router_schedule_pump(struct router *r)
{
	if (r->pump_pending)
		return;
	if (loop_timer_add(r->loop, 0, router_pump_cb, r))
		r->pump_pending = 1;
}

static void rx_on_done(void *arg, struct asl_execution *ex, enum asl_status status,
		       json_t *output, const char *error, const char *cause)
{
	struct rx *x = arg;
	struct router *r = x->r;
	char *out = output ? asl_json_dumps(output) : NULL;
	struct timespec t = asl_execution_stop_time(ex);
	struct timespec t0 = asl_execution_start_time(ex);
	int64_t stop_ms = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
	int64_t start_ms = (int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000;

	if (journal_exec_finish(r->journal, x->arn, asl_status_name(status), out, error, cause,
				stop_ms ? stop_ms : journal_now_ms()) < 0)
		log_err("cannot journal the end of '%s'", x->arn);
	if (status == ASL_SUCCEEDED)
		log_notice("execution '%s' of '%s' (%s) SUCCEEDED", x->name, x->sm->cfg->name,
			   x->what ? x->what : "recovered");
	else
		log_notice("execution '%s' of '%s' (%s) %s: %s%s%.300s", x->name, x->sm->cfg->name,
			   x->what ? x->what : "recovered", asl_status_name(status),
			   error ? error : "no error name", cause ? ": " : "", cause ? cause : "");
	free(out);
	/* unlink from the running list */
	if (x->prev)
		x->prev->next = x->next;
	else if (r->running == x)
		r->running = x->next;
	if (x->next)
		x->next->prev = x->prev;
	r->nrunning--;
	atomic_fetch_sub(&r->st_running, 1);
	atomic_fetch_add(&r->st_finished, 1);
	if ((unsigned)status < 5)
		atomic_fetch_add(&x->sm->ended[status], 1);
	if (stop_ms > start_ms && start_ms > 0)
		atomic_fetch_add(&x->sm->duration_ms, (uint64_t)(stop_ms - start_ms));
	x->ended = 1;
	if (!x->starting)
		rx_free(x);
	/* x->x is freed by rx_free (after start returned, if inside it) */
	router_schedule_pump(r);
}

static int rx_start(struct router *r, struct rx *x)
{
	struct asl_exec_opts o = ASL_EXEC_OPTS_INIT;
	struct asl_err aerr;
	json_t *hist = NULL;
	int rc = -1;

	o.name = x->name;
	o.type = x->type;
	o.wait_scale = r->wait_scale;
	o.on_done = rx_on_done;
	o.on_event = x->type == ASL_STANDARD ? rx_on_event : NULL;
	o.arg = x;
	o.chain_depth = x->chain_depth;
	/* running list first: on_done may come from inside start */
	x->prev = NULL;
	x->next = r->running;
	if (r->running)
		r->running->prev = x;
	r->running = x;
	r->nrunning++;
	atomic_fetch_add(&r->st_running, 1);
	atomic_fetch_add(&r->st_started, 1);
	x->starting = 1;
	if (x->resume && journal_history(r->journal, x->arn, &hist) == 0 &&
	    json_array_size(hist) > 0) {
		rc = asl_execution_resume(r->engine, x->sm->m, hist, &o, &x->x, &aerr);
		if (rc == 0) {
			log_info("resumed '%s' from its journaled history (%zu events)", x->arn,
				 json_array_size(hist));
			if (asl_execution_status(x->x) != ASL_RUNNING && !x->ended) {
				/* it had ended; only its final status was not journaled */
				struct asl_execution *ex = x->x;

				rx_on_done(x, ex, asl_execution_status(ex), asl_execution_output(ex),
					   asl_execution_error(ex), asl_execution_cause(ex));
			}
		} else {
			log_warn("cannot resume '%s' (%s); restarting it from its first state "
				 "with its recorded input", x->arn, aerr.cause);
			x->x = NULL;
			(void)journal_history_clear(r->journal, x->arn);
		}
	}
	json_decref(hist);
	if (rc < 0)
		rc = asl_execution_start(r->engine, x->sm->m, x->input, &o, &x->x);
	x->starting = 0;
	if (rc == 0)
		log_notice("execution '%s' of '%s' started (%s)", x->name, x->sm->cfg->name,
			   x->what ? x->what : "recovered");
	router_crash_point(r, "start");
	if (rc < 0 && !x->ended) {
		/* could not start at all (out of memory): record the failure */
		if (x->prev)
			x->prev->next = x->next;
		else
			r->running = x->next;
		if (x->next)
			x->next->prev = x->prev;
		r->nrunning--;
		atomic_fetch_sub(&r->st_running, 1);
		(void)journal_exec_finish(r->journal, x->arn, "FAILED", NULL, ASL_E_RUNTIME,
					  "the engine could not start the execution", journal_now_ms());
		rx_free(x);
		return -1;
	}
	if (x->ended)
		rx_free(x);
	return 0;
}

/* Start queued executions while there are run slots. */
static void router_pump(struct router *r)
{
	while (r->runq_head && r->nrunning < r->cfg->limits.max_running) {
		struct rx *x = r->runq_head;

		r->runq_head = x->next;
		if (!r->runq_head)
			r->runq_tail = NULL;
		x->next = NULL;
		router_queue_sub(r, 1);
		rx_start(r, x);
	}
}

/* ---------------------------------------------------------------- routing */

struct route_ctx {
	struct router *r;
	const struct event *ev;
	int64_t id;
	size_t cap;                  /* rules_target_count(): no event can match more */
	size_t n;
	struct journal_exec *execs;
	char **names;
	char **arns;
	char **inputs;
	json_t **ijson;
	struct router_sm **sms;
	int *isnew;
};

static void route_ctx_free(struct route_ctx *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->names[i]);
		free(c->arns[i]);
		free(c->inputs[i]);
		json_decref(c->ijson[i]);
	}
	free(c->execs);
	free(c->names);
	free(c->arns);
	free(c->inputs);
	free(c->ijson);
	free(c->sms);
	free(c->isnew);
	free(c);
}

static struct route_ctx *route_ctx_new(size_t cap)
{
	struct route_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	cap = cap ? cap : 1;
	c->cap = cap;
	c->execs = calloc(cap, sizeof(*c->execs));
	c->names = calloc(cap, sizeof(*c->names));
	c->arns = calloc(cap, sizeof(*c->arns));
	c->inputs = calloc(cap, sizeof(*c->inputs));
	c->ijson = calloc(cap, sizeof(*c->ijson));
	c->sms = calloc(cap, sizeof(*c->sms));
	c->isnew = calloc(cap, sizeof(*c->isnew));
	if (!c->execs || !c->names || !c->arns || !c->inputs || !c->ijson || !c->sms ||
	    !c->isnew) {
		route_ctx_free(c);
		return NULL;
	}
	return c;
}

static void route_target(void *arg, const struct rules_target *t)
{
	struct route_ctx *c = arg;
	struct router *r = c->r;
	struct event_shape sh = EVENT_SHAPE_INIT;
	struct router_sm *sm = router_find_sm(r, t->state_machine);
	char name[80], trig[700];
	struct journal_exec *x;
	size_t i = c->n;

	if (!sm || i >= c->cap)
		return;
	sh.format = t->format;
	sh.region = r->cfg->region;
	sh.account = r->cfg->account;
	sh.configuration_id = t->id;
	sh.local_path = r->cfg->include_local_path;
	snprintf(trig, sizeof(trig), "%s\n%s", t->id, t->state_machine);
	journal_exec_name(trig, c->ev, name, sizeof(name));
	c->ijson[i] = event_input(c->ev, &sh);
	c->inputs[i] = c->ijson[i] ? json_dumps(c->ijson[i], JSON_COMPACT) : NULL;
	c->names[i] = strdup(name);
	c->arns[i] = router_exec_arn(sm, name);
	c->sms[i] = sm;
	c->n++;
	if (!c->inputs[i] || !c->names[i] || !c->arns[i])
		return; /* checked by the caller */
	x = &c->execs[i];
	memset(x, 0, sizeof(*x));
	x->arn = c->arns[i];
	x->name = c->names[i];
	x->state_machine = sm->cfg->name;
	x->state_machine_arn = asl_machine_arn(sm->m);
	x->type = sm->cfg->type == CONFIG_EXPRESS ? "EXPRESS" : "STANDARD";
	x->status = "RUNNING";
	x->input = c->inputs[i];
	x->start_ms = journal_now_ms();
	x->event_id = c->id;
	x->trigger = t->id;
	x->parent_arn = c->ev->cause_arn;
	x->chain_depth = c->ev->chain_depth;
}

/* One more execution started by rule @id (loop thread). */
static void router_count_rule(struct router *r, const char *id)
{
	size_t i;

	pthread_mutex_lock(&r->rc_lock);
	for (i = 0; i < r->nrcs; i++)
		if (strcmp(r->rcs[i].id, id) == 0)
			break;
	if (i == r->nrcs && r->nrcs == r->rcs_cap) {
		size_t cap = r->rcs_cap ? r->rcs_cap * 2 : 8;
		struct rule_count *n = realloc(r->rcs, cap * sizeof(*n));

		if (n) {
			r->rcs = n;
			r->rcs_cap = cap;
		}
	}
	if (i == r->nrcs && r->nrcs < r->rcs_cap) {
		r->rcs[i].id = id;
		r->rcs[i].n = 0;
		r->nrcs++;
	}
	if (i < r->nrcs)
		r->rcs[i].n++;
	pthread_mutex_unlock(&r->rc_lock);
}

static void route_event(void *arg, int64_t id, const struct event *ev)
{
	struct router *r = arg;
	struct route_ctx *c = route_ctx_new(rules_target_count(r->cfg->rules));
	size_t i;
	int n, ok = 1;

	if (id > r->last_routed)
		r->last_routed = id;
	if (!c) {
		if (r->fail_floor < 0 || id - 1 < r->fail_floor)
			r->fail_floor = id - 1; /* read it again on the next poll */
		return;
	}
	c->r = r;
	c->ev = ev;
	c->id = id;
	if (ev->chain_depth > r->cfg->limits.max_chain_depth) {
		atomic_fetch_add(&r->st_guard, 1);
		log_warn("loop guard: '%s' was written by a task of '%s' at chain depth %u, above "
			 "Limits.MaxChainDepth %u; it starts no execution",
			 ev->key, ev->cause_arn ? ev->cause_arn : "?", ev->chain_depth,
			 r->cfg->limits.max_chain_depth);
	} else {
		n = rules_match(r->cfg->rules, ev, r->cfg->region, r->cfg->account, route_target, c);
		if (n < 0)
			ok = 0;
	}
	for (i = 0; i < c->n; i++)
		if (!c->inputs[i] || !c->names[i] || !c->arns[i])
			ok = 0;
	if (ok && journal_route(r->journal, id, c->execs, c->n, c->isnew) < 0) {
		log_err("cannot record the executions of event %lld ('%s') in '%s'; will retry",
			(long long)id, ev->key, journal_path(r->journal));
		ok = 0;
	}
	if (ok) {
		atomic_fetch_add(&r->st_routed, 1);
		router_crash_point(r, "route");
		for (i = 0; i < c->n; i++) {
			struct rx *x;

			if (!c->isnew[i]) {
				log_debug("execution '%s' already recorded; not starting it again",
					  c->arns[i]);
				continue;
			}
			x = rx_new(r, c->sms[i], c->arns[i], c->names[i], c->ijson[i],
				   ev->chain_depth);
			if (x)
				rx_set_what(x, "rule '%s' for '%s'", c->execs[i].trigger, ev->key);
			if (c->execs[i].trigger)
				router_count_rule(r, c->execs[i].trigger);
			if (!x) {
				(void)journal_exec_finish(r->journal, c->arns[i], "FAILED", NULL,
							  ASL_E_RUNTIME, "out of memory",
							  journal_now_ms());
				continue;
			}
			router_queue_add(r, 1);
			router_enqueue(r, x);
		}
		router_queue_sub(r, 1);
	} else if (r->fail_floor < 0 || id - 1 < r->fail_floor) {
		r->fail_floor = id - 1; /* read it again on the next poll */
	}
	route_ctx_free(c);
}

static void router_drain(struct router *r)
{
	int n;

	do {
		n = journal_pending(r->journal, r->last_routed, ROUTER_BATCH, route_event, r);
		router_pump(r);
	} while (n == ROUTER_BATCH);
	if (r->fail_floor >= 0) {
		r->last_routed = r->fail_floor;
		r->fail_floor = -1;
	}
}

static void router_kick_cb(void *arg)
{
	struct router *r = arg;

	atomic_store(&r->kick_pending, 0);
	router_drain(r);
}

/* ------------------------------------------------------ stop requests, poll */

static struct rx *router_find_running(struct router *r, const char *arn)
{
	struct rx *x;

	for (x = r->running; x; x = x->next)
		if (strcmp(x->arn, arn) == 0)
			return x;
	return NULL;
}

static void router_on_stop(void *arg, const char *arn, const char *error, const char *cause)
{
	struct router *r = arg;
	struct rx *x = router_find_running(r, arn), *q, *prev = NULL;

	if (x) {
		log_info("stopping '%s' on request", arn);
		asl_execution_stop(x->x, error, cause);
		return;
	}
	for (q = r->runq_head; q; prev = q, q = q->next) {
		if (strcmp(q->arn, arn) != 0)
			continue;
		if (prev)
			prev->next = q->next;
		else
			r->runq_head = q->next;
		if (r->runq_tail == q)
			r->runq_tail = prev;
		router_queue_sub(r, 1);
		rx_free(q);
		break;
	}
	/* queued, or not running here at all: abort it in the journal */
	(void)journal_exec_abort_offline(r->journal, arn, error, cause);
}

/* The engine issued or closed a task token: record it for `send-task-*`. */
static void router_on_token(void *arg, const char *token, const char *arn, const char *state,
			    const char *status)
{
	struct router *r = arg;

	if (journal_token_set(r->journal, token, arn, state, status) < 0)
		log_warn("journal '%s': cannot record a task token of '%s'",
			 journal_path(r->journal), arn);
}

/* `stepfs executions send-task-success|failure|heartbeat` from another process */
static void router_on_task(void *arg, const char *kind, const char *token, const char *error,
			   const char *cause)
{
	struct router *r = arg;
	json_t *out = NULL;
	int rc;

	if (!strcmp(kind, "task_success")) {
		out = json_loads(cause ? cause : "null", JSON_DECODE_ANY, NULL);
		if (!out) {
			log_warn("task token callback: the output is not JSON; ignored");
			return;
		}
		rc = asl_engine_task_callback(r->engine, token, ASL_CB_SUCCESS, out, NULL, NULL);
	} else if (!strcmp(kind, "task_failure")) {
		rc = asl_engine_task_callback(r->engine, token, ASL_CB_FAILURE, NULL, error, cause);
	} else {
		rc = asl_engine_task_callback(r->engine, token, ASL_CB_HEARTBEAT, NULL, NULL, NULL);
	}
	json_decref(out);
	if (rc == -ENOENT)
		log_warn("%s: no task waits for that token (it ended or is unknown)", kind);
}

static void router_poll_cb(void *arg)
{
	struct router *r = arg;

	r->poll_timer = NULL;
	(void)journal_take_requests(r->journal, router_on_stop, r);
	(void)journal_take_task_requests(r->journal, router_on_task, r);
	/* a commit from another process sharing the journal (a watcher) */
	router_drain(r);
	r->poll_timer = loop_timer_add(r->loop, ROUTER_POLL_MS, router_poll_cb, r);
}

static void router_prune_cb(void *arg)
{
	struct router *r = arg;
	unsigned days = r->cfg->limits.retention_days;

	if (days) {
		int64_t n = journal_prune(r->journal, journal_now_ms() - (int64_t)days * 86400000LL);

		if (n > 0)
			log_info("pruned %lld executions older than %u days from '%s'", (long long)n,
				 days, journal_path(r->journal));
	}
	loop_timer_add(r->loop, ROUTER_PRUNE_MS, router_prune_cb, r);
}

/* -------------------------------------------------------------- schedules */

static void router_sched_arm(struct router *r, size_t i, int64_t after_ms);

static void router_sched_run(struct router *r, size_t i, int64_t when_ms)
{
	const struct config_schedule *cs = &r->cfg->schedules[i];
	struct router_sm *sm = router_find_sm(r, cs->state_machine);
	char name[128], stamp[32], *arn = NULL, *text = NULL, last[32], h[65], uuid[40];
	struct journal_exec je;
	json_t *input = NULL;
	time_t secs = (time_t)(when_ms / 1000);
	struct tm tm;
	int isnew = 0;
	struct rx *x;

	if (!sm)
		return;
	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(name, sizeof(name), "%s-%s", cs->name, stamp);
	if (cs->input) {
		input = json_incref(cs->input);
	} else {
		const char *parts[] = { "schedule", cs->name, stamp };
		char when[32], res[600];

		event_hash(parts, 3, h);
		snprintf(uuid, sizeof(uuid), "%.8s-%.4s-4%.3s-8%.3s-%.12s", h, h + 8, h + 12,
			 h + 16, h + 19);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(res, sizeof(res), "arn:aws:scheduler:%s:%s:schedule/default/%s",
			 r->cfg->region, r->cfg->account, cs->name);
		input = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:{}}", "version", "0", "id",
				  uuid, "detail-type", "Scheduled Event", "source", "aws.scheduler",
				  "account", r->cfg->account, "time", when, "region", r->cfg->region,
				  "resources", res, "detail");
	}
	arn = router_exec_arn(sm, name);
	text = input ? json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (!arn || !text)
		goto out;
	memset(&je, 0, sizeof(je));
	je.arn = arn;
	je.name = name;
	je.state_machine = sm->cfg->name;
	je.state_machine_arn = asl_machine_arn(sm->m);
	je.type = sm->cfg->type == CONFIG_EXPRESS ? "EXPRESS" : "STANDARD";
	je.status = "RUNNING";
	je.input = text;
	je.start_ms = journal_now_ms();
	je.trigger = cs->name;
	if (journal_route(r->journal, 0, &je, 1, &isnew) < 0) {
		log_err("cannot record scheduled execution '%s'", name);
		goto out;
	}
	snprintf(last, sizeof(last), "%lld", (long long)when_ms);
	{
		char key[200];

		snprintf(key, sizeof(key), "schedule/%s/last", cs->name);
		(void)journal_meta_set(r->journal, key, last);
	}
	if (!isnew)
		goto out;
	log_info("schedule '%s' (%s) starts '%s'", cs->name, cs->expression, name);
	x = rx_new(r, sm, arn, name, input, 0);
	if (x) {
		rx_set_what(x, "schedule '%s'", cs->name);
		router_queue_add(r, 1);
		router_enqueue(r, x);
		router_pump(r);
	}
out:
	json_decref(input);
	free(arn);
	free(text);
}

static void router_sched_cb(void *arg)
{
	struct sched_fire *f = arg;
	struct router *r = f->r;
	size_t i = f->idx;
	int64_t now = journal_now_ms(), due;

	/* the timer may fire a little early or late: run the latest due time */
	due = schedule_next(&r->cfg->schedules[i].sched, now - 60000);
	while (due >= 0 && due <= now + 500) {
		int64_t nx = schedule_next(&r->cfg->schedules[i].sched, due);

		if (nx < 0 || nx > now + 500)
			break;
		due = nx;
	}
	if (due >= 0 && due <= now + 500)
		router_sched_run(r, i, due);
	router_sched_arm(r, i, due >= 0 && due <= now + 500 ? due : now);
}

static void router_sched_arm(struct router *r, size_t i, int64_t after_ms)
{
	int64_t next = schedule_next(&r->cfg->schedules[i].sched, after_ms), now;
	struct sched_fire *f = &r->fires[i];

	if (next < 0)
		return;
	f->r = r;
	f->idx = i;
	now = journal_now_ms();
	if (!loop_timer_add(r->loop, next > now ? (uint64_t)(next - now) : 0, router_sched_cb, f))
		log_err("schedule '%s': out of memory; it will not fire", r->cfg->schedules[i].name);
}

static void router_sched_start(struct router *r)
{
	int64_t now = journal_now_ms();
	size_t i;

	for (i = 0; i < r->cfg->nschedules; i++) {
		const struct config_schedule *cs = &r->cfg->schedules[i];
		char key[200], val[40], *v = NULL;

		if (!cs->enabled)
			continue;
		snprintf(key, sizeof(key), "schedule/%s/last", cs->name);
		if (journal_meta_get(r->journal, key, &v) == 0) {
			int64_t last = strtoll(v, NULL, 10), t = schedule_next(&cs->sched, last);
			int64_t latest = -1, missed = 0;

			free(v);
			while (t >= 0 && t <= now && missed < 1000000) {
				latest = t;
				missed++;
				t = schedule_next(&cs->sched, t);
			}
			if (latest >= 0 && cs->missed == CONFIG_MISSED_RUN_ONCE) {
				log_info("schedule '%s': %lld run(s) missed while stopped; running "
					 "once for the latest", cs->name, (long long)missed);
				router_sched_run(r, i, latest);
			} else if (latest >= 0) {
				log_info("schedule '%s': skipping %lld run(s) missed while stopped",
					 cs->name, (long long)missed);
				snprintf(val, sizeof(val), "%lld", (long long)latest);
				(void)journal_meta_set(r->journal, key, val);
			}
		}
		router_sched_arm(r, i, now);
	}
}

/* ---------------------------------------------------------------- recovery */

static void router_on_running(void *arg, const char *arn, const char *name, const char *smname,
			      const char *type, const char *input, unsigned depth,
			      const char *trigger)
{
	struct router *r = arg;
	struct router_sm *sm = router_find_sm(r, smname);
	json_t *in;
	struct rx *x;

	if (!sm) {
		log_warn("execution '%s' was running, but state machine '%s' is no longer "
			 "configured; marking it FAILED", arn, smname);
		(void)journal_exec_finish(r->journal, arn, "FAILED", NULL, ASL_E_RUNTIME,
					  "the state machine is no longer configured",
					  journal_now_ms());
		return;
	}
	in = input ? json_loads(input, JSON_DECODE_ANY, NULL) : json_object();
	x = in ? rx_new(r, sm, arn, name, in, depth) : NULL;
	json_decref(in);
	if (!x)
		return;
	rx_set_what(x, "recovered after a restart; trigger '%s'", trigger ? trigger : "?");
	x->resume = x->type == ASL_STANDARD;
	router_queue_add(r, 1);
	router_enqueue(r, x);
}

static void router_recover_cb(void *arg)
{
	struct router *r = arg;
	int n = journal_exec_running(r->journal, router_on_running, r);

	if (n > 0)
		log_info("recovering %d execution(s) that were running", n);
	router_pump(r);
	router_drain(r);
	router_sched_start(r);
	r->poll_timer = loop_timer_add(r->loop, ROUTER_POLL_MS, router_poll_cb, r);
	router_prune_cb(r);
}

/* --------------------------------------------------------------- lifetime */

int router_new(const struct router_opts *opts, struct router **ret, char *err, size_t errlen)
{
	struct router *r = calloc(1, sizeof(*r));
	size_t i;
	int64_t pending;
	int rc;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&r->q_lock, NULL);
	pthread_cond_init(&r->q_cond, NULL);
	pthread_mutex_init(&r->rc_lock, NULL);
	r->cfg = opts->cfg;
	r->tasks = opts->tasks;
	r->s3 = opts->s3;
	r->wait_scale = opts->wait_scale;
	if (opts->mountpoint) {
		r->mountpoint = strdup(opts->mountpoint);
		if (!r->mountpoint)
			goto oom;
	}
	if (journal_open(r->cfg->journal, 0, &r->journal, err, errlen) < 0)
		goto fail;
	rc = journal_daemon_lock(r->journal);
	if (rc < 0) {
		snprintf(err, errlen, "journal '%s' is in use by another stepfs daemon%s",
			 r->cfg->journal, rc == -EBUSY ? "" : " (cannot lock it)");
		goto fail;
	}
	r->sms = calloc(r->cfg->nsms + 1, sizeof(*r->sms));
	r->fires = calloc(r->cfg->nschedules + 1, sizeof(*r->fires));
	r->fail_floor = -1;
	if (!r->sms || !r->fires)
		goto oom;
	for (i = 0; i < r->cfg->nsms; i++) {
		struct asl_machine_opts mo = ASL_MACHINE_OPTS_INIT;
		char *msg = NULL;

		mo.name = r->cfg->sms[i].name;
		mo.tasks = r->tasks;
		r->sms[i].cfg = &r->cfg->sms[i];
		if (asl_machine_load_file(r->cfg->sms[i].definition, &mo, &r->sms[i].m, &msg) < 0) {
			snprintf(err, errlen, "'%s': %s: state machine '%s': %s", r->cfg->file,
				 r->cfg->sms[i].pointer, r->cfg->sms[i].name,
				 msg ? msg : "cannot load the definition");
			free(msg);
			r->nsms = i;
			goto fail;
		}
		r->nsms = i + 1;
	}
	r->loop = loop_new();
	if (!r->loop)
		goto oom;
	{
		const char *crash = getenv("STEPFS_TEST_CRASH"), *colon;

		colon = crash ? strchr(crash, ':') : NULL;
		if (colon && (size_t)(colon - crash) < sizeof(r->crash_point)) {
			snprintf(r->crash_point, sizeof(r->crash_point), "%.*s", (int)(colon - crash),
				 crash);
			r->crash_at = strtol(colon + 1, NULL, 10);
		}
	}
	r->startup_max_id = journal_max_id(r->journal);
	pending = journal_pending_count(r->journal);
	r->queued = pending > 0 ? (unsigned)pending : 0;
	*ret = r;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	router_free(r);
	return -1;
}

struct loop *router_loop(struct router *r)
{
	return r->loop;
}

void router_set_tasks(struct router *r, const struct asl_task_ops *tasks)
{
	r->tasks = tasks;
}

static void *router_thread(void *arg)
{
	struct router *r = arg;

	loop_run(r->loop);
	return NULL;
}

int router_start(struct router *r)
{
	sigset_t all, old;
	int rc;

	r->engine = asl_engine_new(r->loop, r->tasks);
	if (!r->engine)
		return -ENOMEM;
	asl_engine_set_s3(r->engine, r->s3);
	/* tokens of a previous daemon died with it (a resumed task gets a new one) */
	(void)journal_tokens_close_all(r->journal);
	asl_engine_set_token_hook(r->engine, router_on_token, r);
	/* started here, after any fork, like the loop thread */
	if (journal_start_checkpointer(r->journal) < 0)
		log_warn("journal '%s': no checkpointer thread; SQLite checkpoints inside commits",
			 r->cfg->journal);
	loop_hold(r->loop);
	if (loop_post(r->loop, router_recover_cb, r) < 0)
		return -ENOMEM;
	/* signals stay with the main thread (libfuse's handlers) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&r->thread, NULL, router_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	r->thread_started = 1;
	return 0;
}

static void router_stop_cb(void *arg)
{
	struct router *r = arg;
	struct rx *x, *next;

	/* executions stay RUNNING in the journal: they are resumed on the next start */
	for (x = r->running; x; x = next) {
		next = x->next;
		asl_execution_free(x->x);
		x->x = NULL;
		rx_free(x);
	}
	r->running = NULL;
	for (x = r->runq_head; x; x = next) {
		next = x->next;
		rx_free(x);
	}
	r->runq_head = r->runq_tail = NULL;
	loop_stop(r->loop);
}

void router_free(struct router *r)
{
	size_t i;

	if (!r)
		return;
	if (r->thread_started) {
		if (loop_post(r->loop, router_stop_cb, r) < 0)
			loop_stop(r->loop);
		pthread_join(r->thread, NULL);
	} else {
		struct rx *x, *next;

		for (x = r->runq_head; x; x = next) {
			next = x->next;
			rx_free(x);
		}
	}
	asl_engine_free(r->engine);
	loop_free(r->loop);
	for (i = 0; i < r->nsms; i++)
		asl_machine_unref(r->sms[i].m);
	free(r->sms);
	free(r->fires);
	journal_close(r->journal);
	pthread_mutex_destroy(&r->q_lock);
	pthread_cond_destroy(&r->q_cond);
	pthread_mutex_destroy(&r->rc_lock);
	free(r->rcs);
	free(r->mountpoint);
	free(r);
}

void router_stats(struct router *r, struct router_stats *ret)
{
	ret->events = atomic_load(&r->st_events);
	ret->routed = atomic_load(&r->st_routed);
	ret->started = atomic_load(&r->st_started);
	ret->finished = atomic_load(&r->st_finished);
	ret->loop_guard = atomic_load(&r->st_guard);
	ret->busy = atomic_load(&r->st_busy);
	ret->running = atomic_load(&r->st_running);
	pthread_mutex_lock(&r->q_lock);
	ret->queued = r->queued;
	pthread_mutex_unlock(&r->q_lock);
}

int router_wait_idle(struct router *r, unsigned timeout_ms)
{
	uint64_t end = loop_now_ms() + timeout_ms;
	struct router_stats s;

	for (;;) {
		router_stats(r, &s);
		if (s.queued == 0 && s.running == 0 && journal_pending_count(r->journal) == 0)
			return 0;
		if (loop_now_ms() >= end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

void router_metrics(struct router *r, struct buf *out)
{
	static const char *const status[] = { "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT",
					      "ABORTED" };
	struct router_stats st;
	size_t i;
	int k;

	router_stats(r, &st);
	metrics_sample(out, "stepfs_events_total", "counter", "Events journaled.", (double)st.events,
		       NULL);
	metrics_sample(out, "stepfs_executions_started_total", "counter", "Executions started.",
		       (double)st.started, NULL);
	metrics_sample(out, "stepfs_executions_finished_total", "counter", "Executions ended.",
		       (double)st.finished, NULL);
	metrics_sample(out, "stepfs_executions_running", "gauge", "Executions running.",
		       (double)st.running, NULL);
	metrics_sample(out, "stepfs_queue_depth", "gauge", "Events and executions waiting.",
		       (double)st.queued, NULL);
	metrics_sample(out, "stepfs_loop_guard_total", "counter",
		       "Events not routed because of the chain-depth limit.", (double)st.loop_guard,
		       NULL);
	metrics_sample(out, "stepfs_events_busy_total", "counter",
		       "Commits refused because the queue stayed full.", (double)st.busy, NULL);
	/* one family at a time: the format wants a metric's samples together */
	for (i = 0; i < r->nsms; i++)
		for (k = ASL_SUCCEEDED; k <= ASL_ABORTED; k++)
			metrics_sample(out, "stepfs_executions_total", "counter",
				       i == 0 && k == ASL_SUCCEEDED ?
					       "Executions ended, by state machine and status." :
					       NULL,
				       (double)atomic_load(&r->sms[i].ended[k]), "state_machine",
				       r->sms[i].cfg->name, "status", status[k], NULL);
	/* a summary without quantiles: _sum and _count */
	if (r->nsms)
		buf_puts(out, "# HELP stepfs_execution_duration_seconds Run time of the ended "
			      "executions, by state machine.\n"
			      "# TYPE stepfs_execution_duration_seconds summary\n");
	for (i = 0; i < r->nsms; i++)
		metrics_sample(out, "stepfs_execution_duration_seconds_sum", "summary", NULL,
			       (double)atomic_load(&r->sms[i].duration_ms) / 1000.0, "state_machine",
			       r->sms[i].cfg->name, NULL);
	for (i = 0; i < r->nsms; i++) {
		uint64_t n = 0;

		for (k = ASL_SUCCEEDED; k <= ASL_ABORTED; k++)
			n += atomic_load(&r->sms[i].ended[k]);
		metrics_sample(out, "stepfs_execution_duration_seconds_count", "summary", NULL,
			       (double)n, "state_machine", r->sms[i].cfg->name, NULL);
	}
	pthread_mutex_lock(&r->rc_lock);
	for (i = 0; i < r->nrcs; i++)
		metrics_sample(out, "stepfs_rule_executions_total", "counter",
			       i == 0 ? "Executions started by each notification rule." : NULL,
			       (double)r->rcs[i].n, "rule", r->rcs[i].id, NULL);
	pthread_mutex_unlock(&r->rc_lock);
}
