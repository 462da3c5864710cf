/*
 * asl_exec: the ASL execution runtime. An execution is a tree of
 * activities: the top-level state graph is the root activity; a running Map
 * or Parallel state owns a frame whose children are activities (iterations,
 * branches) on the same loop. An activity runs states back to back
 * (act_drive) until one has to wait (a Task running, a Wait or Retry timer, a
 * frame with children still running); the completion callback then drives it
 * on. Nothing blocks and nothing uses threads.
 *
 * Invariants:
 * - JSON values flowing between states are shared by reference and never
 *   mutated in place (jpath_set copies along the path it changes), so the
 *   execution input, Pass Results and Map items are never copied.
 * - act->running is true while act_drive() is on the stack for that
 *   activity; a completion that happens synchronously (a frame whose children
 *   all finish at once, a Wait of 0) hands its step result back through
 *   act->sync_rc instead of recursing.
 * - After on_done (execution end), the engine never touches the execution:
 *   every driver returns straight after the call that may end it.
 * - Event ids: every activity keeps the id of its last event (cursor) as
 *   previousEventId for the next one, following AWS's recorded histories
 *   (first state entered has previousEventId 0, MapIteration{Succeeded,Failed}
 *   and {Map,Parallel}StateSucceeded do not move the cursor).
 */
#include "engine/asl.h"
#include "engine/asl_i.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "engine/asl_s3.h"
#include "engine/buf.h"
#include "engine/jpath.h"
#include "engine/jsonata.h"
#include "engine/loop.h"
#include "engine/mapio.h"

/* step results: enter the next state, suspended, activity ended, re-run the current state */
enum { R_NEXT = 1, R_WAIT, R_END, R_ATTEMPT, R_NONE = 0 };

struct frame;

struct act {
	struct asl_execution *x;
	const struct asl_graph *g;
	struct act *scope_parent; /* enclosing activity, for variables */
	struct frame *frame;      /* the Map/Parallel frame this is a child of; NULL for the root */
	size_t index;             /* iteration or branch index */
	int cur;                  /* current state */
	json_t *input;            /* raw input of the current state */
	json_t *eff;              /* effective input (after InputPath/Parameters) while waiting */
	json_t *vars;             /* own variable scope (object) or NULL */
	unsigned cursor;          /* previousEventId for the next event */
	unsigned entered_id;      /* id of the current state's Entered event */
	unsigned entered_prev;    /* its previousEventId */
	struct timespec entered;  /* when the current state was entered */
	long retry_counts[8];     /* attempts per retrier for this visit */
	long *retry_more;         /* when a state has more than 8 retriers */
	int retry_total;          /* $$.State.RetryCount */
	struct loop_timer *timer; /* Wait, Retry delay or task timeout: one at a time */
	struct asl_task *task;
	char *token;              /* .waitForTaskToken: this attempt's token (owned) or NULL */
	bool token_listed;        /* in the engine's list (callbacks can find it) */
	bool token_waiting;       /* the token's task started: callbacks are accepted */
	struct act *tok_next;     /* engine's list of acts holding a token */
	struct loop_timer *hb_timer; /* callback HeartbeatSeconds */
	double hb_s, to_s;        /* callback HeartbeatSeconds, TimeoutSeconds */
	struct frame *child;      /* running Map/Parallel frame */
	json_t *wait_out;         /* output of a Wait state while waiting */
	json_t *wait_assigned;    /* its assignment */
	bool running;
	bool quiet;               /* events go to a child execution's history (not kept) */
	bool resumed_visit;       /* the current visit was re-entered by asl_execution_resume */
	bool in_task_start;       /* inside tasks.start(): a done() now is deferred */
	bool early_done;          /* done() came inside start(): delivered from a timer */
	json_t *early_out;
	char *early_error, *early_cause;
	int sync_rc;
	const char *fail_event;   /* emitted by state_error when it does not retry */
	/* outcome once ended */
	bool failed;
	json_t *output;
	struct asl_err err;
	bool err_has_cause, err_has_error;
};

struct frame {
	struct act *owner;
	const struct asl_state *s;
	json_t *eff;       /* effective input of the Map/Parallel state */
	json_t *items;     /* Map: the items (array) */
	json_t *batch_input;
	size_t n;          /* iterations or branches */
	size_t launched, finished, nfailed, running;
	size_t batch_size;
	size_t *bounds;    /* ItemBatcher: batch i is items [bounds[i], bounds[i+1]) */
	long max_conc;     /* 0 = unbounded */
	bool has_tol_count, has_tol_pct;
	long tol_count;
	double tol_pct;
	json_t *results;   /* array of n */
	struct act **kids; /* running children by index */
	bool in_pump, ended, failing;
	bool distributed; /* DISTRIBUTED mode: iterations are child executions (Map Run) */
	struct asl_err err;
	bool err_has_error, err_has_cause;
	/* Map Run (DISTRIBUTED): ARN, ItemReader and ResultWriter */
	struct asl_engine *eng;
	char *run_arn;
	char run_uuid[40];
	struct asl_s3_call *io;  /* object store call in flight */
	bool run_failed_details; /* MapRunFailed carries {error, cause} (reader/writer failures) */
	int reader_kind;         /* READ_* below */
	size_t reader_max;       /* MaxItems; 0 = all */
	bool writing, written;
	json_t *w_inputs;        /* ResultWriter: per iteration its input, start and stop */
	json_t *w_start, *w_stop;
	unsigned char *w_failed;
	json_t *w_queue;         /* [{Key, Body}] still to put */
	char *w_bucket, *w_manifest;
};

enum { READ_CSV = 0, READ_JSON, READ_JSONL, READ_LIST };

struct asl_engine {
	struct loop *loop;
	struct asl_task_ops tasks;
	bool has_tasks;
	struct asl_s3_ops s3;
	bool has_s3;
	struct asl_execution *list; /* running and ended executions not yet freed */
	uint64_t rng;               /* execution names */
	struct act *tokens;         /* acts holding a task token */
	asl_token_fn token_fn;
	void *token_arg;
};

struct asl_execution {
	struct asl_engine *e;
	struct asl_machine *m;
	struct asl_execution *prev, *next;
	char *name, *arn;          /* generated lazily (exec_ids) for the fast path */
	char *role_arn_owned;
	const char *role_arn;
	uint64_t id_bits[4];       /* random bits of the generated name and Express ARN */
	json_t *input;
	struct timespec start, stop;
	char start_str[40];        /* formatted lazily (exec_start_str) */
	struct asl_exec_opts opts;
	enum asl_status status;
	json_t *output;
	char *error, *cause;
	unsigned nevents;
	bool want_events;
	bool capped;
	json_t *history;
	struct act *root;
	struct loop_timer *timeout_timer;
	json_t *ctx_exec, *ctx_machine;
	void (*sync_hook)(void *arg); /* asl_execution_run_sync(): called after on_done */
	void *sync_arg;
};

/* ------------------------------------------------------------- utilities */

static void act_free(struct act *a);
static void act_cancel(struct act *a);
static void act_drive(struct act *a, int rc);
static int exec_state(struct act *a);
static int exec_attempt(struct act *a);
static void frame_free(struct frame *f);
static void frame_pump(struct frame *f);
static void exec_finish(struct asl_execution *x, enum asl_status st, json_t *output,
			const char *error, const char *cause);

/* Seconds to a timer delay in ms; negative or NaN is 0, huge values saturate (~3000 years). */
static uint64_t secs_to_ms(double secs)
{
	if (!(secs > 0))
		return 0;
	if (secs > 1e11)
		secs = 1e11;
	return (uint64_t)(secs * 1000.0 + 0.5);
}

static const struct asl_state *cur_state(const struct act *a)
{
	return &a->g->states[a->cur];
}

/* ------------------------------------------------------------ task tokens */

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A new token for @a (24 random bytes, base64url): 0, or -1 (no randomness, ENOMEM). */
static int token_new(struct act *a)
{
	unsigned char raw[24];
	size_t got = 0, i, o = 0;
	char *t;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	t = malloc(sizeof(raw) / 3 * 4 + 1);
	if (!t)
		return -1;
	for (i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		t[o++] = b64url[v >> 18 & 63];
		t[o++] = b64url[v >> 12 & 63];
		t[o++] = b64url[v >> 6 & 63];
		t[o++] = b64url[v & 63];
	}
	t[o] = '\0';
	a->token = t;
	a->token_listed = true;
	a->token_waiting = false;
	a->tok_next = a->x->e->tokens;
	a->x->e->tokens = a;
	return 0;
}

/*
 * Close @a's token (if any), telling the host @status if it was waiting. The
 * text stays for $$.Task.Token in ResultSelector etc. until token_free().
 */
static void token_drop(struct act *a, const char *status)
{
	struct asl_engine *e;
	struct act **pp;

	if (!a->hb_timer && !a->token_listed)
		return;
	e = a->x->e;
	if (a->hb_timer) {
		loop_timer_cancel(e->loop, a->hb_timer);
		a->hb_timer = NULL;
	}
	if (!a->token_listed)
		return;
	for (pp = &e->tokens; *pp; pp = &(*pp)->tok_next) {
		if (*pp == a) {
			*pp = a->tok_next;
			break;
		}
	}
	if (a->token_waiting && e->token_fn)
		e->token_fn(e->token_arg, a->token, a->x->arn ? a->x->arn : "", cur_state(a)->name,
			    status);
	a->tok_next = NULL;
	a->token_listed = false;
	a->token_waiting = false;
}

static void token_free(struct act *a, const char *status)
{
	token_drop(a, status);
	free(a->token);
	a->token = NULL;
}

/* Fill @e with States.Runtime and AWS's "An error occurred while executing the state" cause. */
static int rt_err(struct act *a, struct asl_err *e, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int rt_err(struct act *a, struct asl_err *e, const char *error, const char *fmt, ...)
{
	char detail[ASL_CAUSE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return asl_err_set(e, error,
			   "An error occurred while executing the state '%s' (entered at the event "
			   "id #%u). %s",
			   cur_state(a)->name, a->entered_id, detail);
}

/* Re-wrap an error reported by the expression layer with the state prefix. */
static int wrap_err(struct act *a, struct asl_err *e)
{
	char detail[ASL_CAUSE_MAX], error[ASL_ERROR_MAX];

	snprintf(detail, sizeof(detail), "%s", e->cause);
	snprintf(error, sizeof(error), "%s", e->error[0] ? e->error : ASL_E_RUNTIME);
	return rt_err(a, e, error, "%s", detail);
}

static json_t *var_get(void *arg, const char *name)
{
	struct act *a = arg;
	json_t *v;

	for (; a; a = a->scope_parent) {
		if (a->vars) {
			v = json_object_get(a->vars, name);
			if (v)
				return v;
		}
	}
	return NULL;
}

static void fmt_uuid(const uint64_t *bits, char *buf, size_t len)
{
	unsigned char b[16];

	memcpy(b, bits, 16);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(buf, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

/*
 * Name and ARN are built on first use: an Express execution that nobody
 * asks about never formats them. Logically const (a cache).
 */
static void exec_ids(const struct asl_execution *cx)
{
	struct asl_execution *x = (struct asl_execution *)cx;
	char uuid[40], uuid2[40];
	int r;

	if (x->arn)
		return;
	if (!x->name) {
		fmt_uuid(x->id_bits, uuid, sizeof(uuid));
		x->name = strdup(uuid);
		if (!x->name)
			return;
	}
	if (x->opts.type == ASL_EXPRESS) {
		fmt_uuid(x->id_bits + 2, uuid2, sizeof(uuid2));
		r = asprintf(&x->arn, "arn:aws:states:local:000000000000:express:%s:%s:%s",
			     x->m->name, x->name, uuid2);
	} else {
		r = asprintf(&x->arn, "arn:aws:states:local:000000000000:execution:%s:%s",
			     x->m->name, x->name);
	}
	if (r < 0)
		x->arn = NULL;
}

static const char *exec_start_str(struct asl_execution *x)
{
	if (!x->start_str[0])
		asl_time_format(&x->start, x->start_str, sizeof(x->start_str));
	return x->start_str;
}

static json_t *ctx_exec(struct asl_execution *x)
{
	json_t *o;

	if (x->ctx_exec)
		return x->ctx_exec;
	exec_ids(x);
	if (!x->arn)
		return NULL;
	exec_start_str(x);
	if (x->opts.type == ASL_EXPRESS)
		o = json_pack("{s:s,s:O,s:s,s:s,s:s}", "Id", x->arn, "Input", x->input, "Name",
			      x->name, "RoleArn", x->role_arn, "StartTime", x->start_str);
	else
		o = json_pack("{s:s,s:O,s:s,s:s,s:s,s:i}", "Id", x->arn, "Input", x->input,
			      "StartTime", x->start_str, "Name", x->name, "RoleArn", x->role_arn,
			      "RedriveCount", 0);
	x->ctx_exec = o;
	return o;
}

static json_t *ctx_machine(struct asl_execution *x)
{
	if (!x->ctx_machine)
		x->ctx_machine = json_pack("{s:s,s:s}", "Id", x->m->arn, "Name", x->m->name);
	return x->ctx_machine;
}

/* The context object $$ for the current state (new reference; NULL on ENOMEM). */
static json_t *ctx_build(struct act *a, json_t *map_index, json_t *map_value)
{
	const struct asl_state *s = cur_state(a);
	char when[40];
	json_t *st, *c;

	asl_time_format(&a->entered, when, sizeof(when));
	st = json_pack("{s:s,s:s}", "Name", s->name, "EnteredTime", when);
	if (st && (s->type == ASL_ST_TASK || s->type == ASL_ST_MAP || s->type == ASL_ST_PARALLEL))
		json_object_set_new(st, "RetryCount", json_integer(a->retry_total));
	c = json_pack("{s:O,s:O,s:o}", "Execution", ctx_exec(a->x), "StateMachine",
		      ctx_machine(a->x), "State", st);
	if (c && s->type == ASL_ST_TASK && s->callback) {
		if (!a->token && token_new(a) < 0) {
			json_decref(c);
			return NULL;
		}
		json_object_set_new(c, "Task", json_pack("{s:s}", "Token", a->token));
	}
	if (c && map_index)
		json_object_set_new(c, "Map",
				    json_pack("{s:{s:O,s:O}}", "Item", "Index", map_index, "Value",
					      map_value));
	return c;
}

static void env_init(struct act *a, struct jpath_env *env, json_t *input, json_t *ctx)
{
	env->input = input;
	env->context = ctx;
	env->var_get = var_get;
	env->var_arg = a;
}

/* Evaluate a path field. ABSENT/ROOT give @in itself; NULL gives {}. */
static int eval_path(struct act *a, const struct asl_path *p, json_t *in, json_t **ret,
		     struct asl_err *err)
{
	struct jpath_env env;
	json_t *ctx = NULL;
	int r;

	switch (p->kind) {
	case ASL_P_ABSENT:
	case ASL_P_ROOT:
		*ret = json_incref(in);
		return 0;
	case ASL_P_NULL:
		*ret = json_object();
		return *ret ? 0 : asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	default:
		break;
	}
	if (cur_state(a)->needs_ctx)
		ctx = ctx_build(a, NULL, NULL);
	env_init(a, &env, in, ctx);
	r = jpath_exec(p->c, &env, ret, err);
	json_decref(ctx);
	if (r < 0) {
		return wrap_err(a, err);
	}
	return 0;
}

static int eval_template(struct act *a, const struct asl_tmpl *tmpl, json_t *in,
			 const char *field, json_t **ret, struct asl_err *err)
{
	struct jpath_env env;
	json_t *ctx = NULL;
	int r;

	if (cur_state(a)->needs_ctx)
		ctx = ctx_build(a, NULL, NULL);
	env_init(a, &env, in, ctx);
	r = jpath_tmpl_exec(tmpl->c, &env, field, ret, err);
	json_decref(ctx);
	if (r < 0)
		return wrap_err(a, err);
	return 0;
}

/*
 * Evaluate an Assign block against @dollar (values at state entry); returns
 * the object of assigned values in *ret (new reference) to be applied at exit.
 */
static int eval_assign(struct act *a, const struct asl_tmpl *assign, json_t *dollar, json_t **ret,
		       struct asl_err *err)
{
	if (!assign->c) {
		*ret = NULL;
		return 0;
	}
	return eval_template(a, assign, dollar, "Assign", ret, err);
}

static int apply_assign(struct act *a, json_t *assigned)
{
	const char *k;
	json_t *v;

	if (!assigned)
		return 0;
	if (!a->vars) {
		a->vars = json_object();
		if (!a->vars)
			return -ENOMEM;
	}
	json_object_foreach(assigned, k, v) {
		if (json_object_set(a->vars, k, v) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool over_limit(struct asl_execution *x, json_t *v)
{
	size_t lim = x->opts.payload_limit;

	return lim && asl_json_size(v, lim) > lim;
}

/* ---------------------------------------------------------------- history */

/*
 * Append an event. @details (stolen) goes under @dkey. @advance: move the
 * activity's cursor to the new id. Returns the new id.
 */
static unsigned emit(struct act *a, const char *type, const char *dkey, json_t *details,
		     bool advance)
{
	struct asl_execution *x = a->x;
	unsigned id, prev = a->cursor;
	char ts[40];
	struct timespec now;
	json_t *ev;

	if (x->capped || a->quiet) {
		json_decref(details);
		return a->cursor;
	}
	id = ++x->nevents;
	if (x->opts.history_cap && id >= x->opts.history_cap &&
	    strncmp(type, "Execution", 9) != 0) {
		/* the cap-th event must be the failure itself */
		x->capped = true;
		x->nevents--;
		json_decref(details);
		return a->cursor;
	}
	if (advance)
		a->cursor = id;
	if (!x->want_events) {
		json_decref(details);
		return id;
	}
	asl_now(&now);
	asl_time_format(&now, ts, sizeof(ts));
	ev = json_pack("{s:s,s:s,s:I,s:I}", "timestamp", ts, "type", type, "id", (json_int_t)id,
		       "previousEventId", (json_int_t)prev);
	if (!ev) {
		json_decref(details);
		return id;
	}
	if (dkey && details)
		json_object_set_new(ev, dkey, details);
	else
		json_decref(details);
	if (x->history)
		json_array_append(x->history, ev);
	if (x->opts.on_event)
		x->opts.on_event(x->opts.arg, x, ev);
	json_decref(ev);
	return id;
}

static json_t *io_details(const char *key, json_t *v)
{
	char dkey[32];
	json_t *d = json_object();

	if (!d)
		return NULL;
	json_object_set_new(d, key, asl_json_text(v));
	snprintf(dkey, sizeof(dkey), "%sDetails", key);
	json_object_set_new(d, dkey, json_pack("{s:b}", "truncated", 0));
	return d;
}

static void emit_entered(struct act *a)
{
	const struct asl_state *s = cur_state(a);
	char type[48];
	json_t *d = NULL;

	if (!a->x->want_events) {
		a->entered_id = emit(a, "State", NULL, NULL, true);
		return;
	}
	snprintf(type, sizeof(type), "%sStateEntered", s->type_name);
	{
		d = io_details("input", a->input);
		if (d)
			json_object_set_new(d, "name", json_string(s->name));
	}
	a->entered_prev = a->cursor;
	a->entered_id = emit(a, type, "stateEnteredEventDetails", d, true);
}

static void emit_exited(struct act *a, json_t *output, json_t *assigned)
{
	const struct asl_state *s = cur_state(a);
	char type[48];
	json_t *d = NULL;

	if (!a->x->want_events) {
		emit(a, "State", NULL, NULL, true);
		return;
	}
	snprintf(type, sizeof(type), "%sStateExited", s->type_name);
	{
		d = json_object();
		if (d) {
			const char *k;
			json_t *v, *av;

			json_object_set_new(d, "name", json_string(s->name));
			json_object_set_new(d, "output", asl_json_text(output));
			json_object_set_new(d, "outputDetails", json_pack("{s:b}", "truncated", 0));
			if (assigned && json_object_size(assigned)) {
				av = json_object();
				json_object_foreach(assigned, k, v)
					json_object_set_new(av, k, asl_json_text(v));
				json_object_set_new(d, "assignedVariables", av);
				json_object_set_new(d, "assignedVariablesDetails",
						    json_pack("{s:b}", "truncated", 0));
			}
		}
	}
	emit(a, type, "stateExitedEventDetails", d, true);
}

static json_t *err_details(const char *error, const char *cause)
{
	json_t *d = json_object();

	if (!d)
		return NULL;
	if (error)
		json_object_set_new(d, "error", json_string(error));
	if (cause)
		json_object_set_new(d, "cause", json_string(cause));
	return d;
}

/* ---------------------------------------------------------------- JSONata */

static void add_vars(json_t *b, struct act *a)
{
	if (!a)
		return;
	add_vars(b, a->scope_parent);
	if (a->vars)
		json_object_update(b, a->vars);
}

/*
 * The bindings of a JSONata evaluation in the current state of @a: every
 * variable in scope, and "states" with @input, @result and @error_output
 * (each may be NULL) and the context object when the state reads it (with
 * Map.Item from @map_index/@map_value if set). New reference; NULL on ENOMEM.
 */
static json_t *ja_bindings(struct act *a, json_t *input, json_t *result, json_t *error_output,
			   json_t *map_index, json_t *map_value)
{
	json_t *b = json_object(), *st = json_object();

	if (!b || !st) {
		json_decref(b);
		json_decref(st);
		return NULL;
	}
	add_vars(b, a);
	if (input)
		json_object_set(st, "input", input);
	if (result)
		json_object_set(st, "result", result);
	if (error_output)
		json_object_set(st, "errorOutput", error_output);
	if (cur_state(a)->needs_ctx)
		json_object_set_new(st, "context", ctx_build(a, map_index, map_value));
	json_object_set_new(b, "states", st);
	return b;
}

/*
 * A JSONata evaluation failed: States.QueryEvaluationError with AWS's
 * cause, and the EvaluationFailed event AWS records (pointing, as AWS's
 * does, at the event before the state's Entered when it is the state's first).
 */
static int ja_err(struct act *a, struct asl_err *err, const char *field, const char *cause)
{
	json_t *d = NULL;

	rt_err(a, err, ASL_E_QUERYEVAL, "%s", cause);
	if (a->x->want_events) {
		d = json_pack("{s:s,s:s,s:s}", "cause", err->cause, "error", err->error, "state",
			      cur_state(a)->name);
		if (d && field)
			json_object_set_new(d, "location", json_string(field));
	}
	if (a->cursor == a->entered_id)
		a->cursor = a->entered_prev;
	emit(a, "EvaluationFailed", "evaluationFailedEventDetails", d, true);
	return -1;
}

static int ja_value(struct act *a, const struct asl_ja *t, json_t *b, json_t **ret,
		    struct asl_err *err)
{
	struct asl_ja_fail f;

	if (asl_ja_eval(t, b, ret, &f) < 0)
		return ja_err(a, err, f.field, f.cause);
	return 0;
}

/* A number field given as an expression (@integer: whole numbers only). */
static int ja_number(struct act *a, const struct asl_ja *t, json_t *b, bool integer,
		     double *ret, struct asl_err *err)
{
	struct asl_ja_fail f;
	json_t *v;

	if (ja_value(a, t, b, &v, err) < 0)
		return -1;
	if (!json_is_number(v) ||
	    (integer && floor(json_number_value(v)) != json_number_value(v))) {
		asl_ja_type_fail(t, integer ? "integer" : "number", v, &f);
		json_decref(v);
		return ja_err(a, err, f.field, f.cause);
	}
	*ret = json_number_value(v);
	json_decref(v);
	return 0;
}

/*
 * Assign, then Output, both with the values at state entry (@b). Without
 * Output the output is @dflt. Returns 0 with new references in *ret_out
 * and *ret_assigned (NULL without Assign), or -1 with @err.
 */
static int ja_out_assign(struct act *a, const struct asl_ja *output, const struct asl_ja *assign,
			 json_t *b, json_t *dflt, json_t **ret_out, json_t **ret_assigned,
			 struct asl_err *err)
{
	struct asl_ja_fail f;
	json_t *assigned = NULL;

	if (assign) {
		if (ja_value(a, assign, b, &assigned, err) < 0)
			return -1;
		if (!json_is_object(assigned)) {
			asl_ja_type_fail(assign, "object", assigned, &f);
			json_decref(assigned);
			return ja_err(a, err, f.field, f.cause);
		}
	}
	if (output) {
		if (ja_value(a, output, b, ret_out, err) < 0) {
			json_decref(assigned);
			return -1;
		}
	} else {
		*ret_out = json_incref(dflt);
	}
	*ret_assigned = assigned;
	return 0;
}

/* ----------------------------------------------------------- transitions */

/* Retry counts of the current visit. */
static long *retry_slot(struct act *a, size_t i)
{
	return i < 8 ? &a->retry_counts[i] : &a->retry_more[i - 8];
}

static uint64_t rng_next(struct asl_engine *e);

static int reset_visit(struct act *a)
{
	const struct asl_state *s = cur_state(a);

	memset(a->retry_counts, 0, sizeof(a->retry_counts));
	free(a->retry_more);
	a->retry_more = NULL;
	if (s->nretriers > 8) {
		a->retry_more = calloc(s->nretriers - 8, sizeof(long));
		if (!a->retry_more)
			return -ENOMEM;
	}
	a->retry_total = 0;
	return 0;
}

static int act_fail(struct act *a, const char *error, const char *cause);

/* The history cap was reached: the execution fails, nothing may catch it. */
static int fail_capped(struct act *a)
{
	char cause[128];

	snprintf(cause, sizeof(cause),
		 "The execution reached the maximum number of history events (%u).",
		 a->x->opts.history_cap);
	return act_fail(a, ASL_E_RUNTIME, cause);
}

/* End the activity with an error; returns R_END. */
static int act_fail(struct act *a, const char *error, const char *cause)
{
	a->failed = true;
	a->err_has_error = error != NULL;
	a->err_has_cause = cause != NULL;
	snprintf(a->err.error, sizeof(a->err.error), "%s", error ? error : "");
	snprintf(a->err.cause, sizeof(a->err.cause), "%s", cause ? cause : "");
	return R_END;
}

/*
 * Leave the current state with @output (stolen) to @next (or end the
 * activity if the state ends it), applying @assigned (stolen) and emitting
 * the Exited event.
 */
static int leave(struct act *a, json_t *output, json_t *assigned, int next, bool end)
{
	const struct asl_state *s = cur_state(a);
	struct asl_err err;

	if (a->x->capped) {
		json_decref(output);
		json_decref(assigned);
		return fail_capped(a);
	}
	if (over_limit(a->x, output)) {
		json_decref(output);
		json_decref(assigned);
		rt_err(a, &err, ASL_E_DATALIMIT,
		       "The state/task '%s' returned a result with a size exceeding the maximum "
		       "number of bytes service limit.",
		       s->name);
		return act_fail(a, err.error, err.cause);
	}
	if (apply_assign(a, assigned) < 0) {
		json_decref(output);
		json_decref(assigned);
		return act_fail(a, ASL_E_RUNTIME, "out of memory");
	}
	emit_exited(a, output, assigned);
	json_decref(assigned);
	json_decref(a->input);
	a->input = NULL;
	if (end || next < 0) {
		a->output = output;
		return R_END;
	}
	a->input = output;
	a->cur = next;
	return R_NEXT;
}

static bool err_matches(const char *name, const char *err, bool catchable_all)
{
	if (!strcmp(name, err))
		return true;
	if (!strcmp(name, ASL_E_ALL))
		return catchable_all;
	if (!strcmp(name, ASL_E_TASKFAILED))
		return catchable_all && strcmp(err, ASL_E_TIMEOUT) != 0 &&
		       strcmp(err, ASL_E_HEARTBEAT) != 0 && strncmp(err, "States.", 7) != 0;
	return false;
}

static bool list_matches(const char **list, size_t n, const char *err, bool catchable_all)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (err_matches(list[i], err, catchable_all))
			return true;
	return false;
}

static void retry_timer_fn(void *arg);

/*
 * The current state failed with @err (@has_error/@has_cause false for a
 * Fail state without them). @terminal: States.Runtime-like errors that no
 * retrier or catcher may handle. Returns R_WAIT (retrying), R_NEXT (caught)
 * or R_END (the activity failed).
 */
static int state_error(struct act *a, const struct asl_err *err, bool terminal)
{
	const struct asl_state *s = cur_state(a);
	const char *fail_event = a->fail_event;
	bool all_ok = !terminal;
	size_t i;

	a->fail_event = NULL;
	if (a->x->capped)
		return fail_capped(a);
	if (!terminal && !strcmp(err->error, ASL_E_RUNTIME))
		all_ok = false;
	for (i = 0; i < s->nretriers && !terminal && strcmp(err->error, ASL_E_RUNTIME); i++) {
		const struct asl_retrier *rt = &s->retriers[i];
		long *cnt;
		double delay;

		if (!list_matches(rt->errors, rt->nerrors, err->error, all_ok))
			continue;
		cnt = retry_slot(a, i);
		if (*cnt >= rt->max_attempts)
			break;
		delay = rt->interval * pow(rt->backoff, (double)*cnt);
		if (!isfinite(delay) || delay > 99999999.0)
			delay = 99999999.0; /* IntervalSeconds' maximum; the backoff overflows */
		if (rt->max_delay > 0 && delay > rt->max_delay)
			delay = rt->max_delay;
		if (rt->jitter_full)
			delay = delay * ((double)(rng_next(a->x->e) >> 11) / (double)(1ULL << 53));
		(*cnt)++;
		a->retry_total++;
		fail_event = NULL;
		delay *= a->x->opts.wait_scale;
		if (delay <= 0)
			return R_ATTEMPT; /* the driver loops: no recursion per attempt */
		a->timer = loop_timer_add(a->x->e->loop, secs_to_ms(delay),
					  retry_timer_fn, a);
		if (!a->timer)
			return act_fail(a, ASL_E_RUNTIME, "out of memory");
		return R_WAIT;
	}
	if (fail_event)
		emit(a, fail_event, NULL, NULL, true);
	for (i = 0; i < s->ncatchers && !terminal && strcmp(err->error, ASL_E_RUNTIME); i++) {
		const struct asl_catcher *ct = &s->catchers[i];
		json_t *eo, *out = NULL, *assigned = NULL;
		struct asl_err e2;

		if (!list_matches(ct->errors, ct->nerrors, err->error, all_ok))
			continue;
		eo = json_object();
		json_object_set_new(eo, "Error", json_string(err->error));
		if (err->cause[0])
			json_object_set_new(eo, "Cause", json_string(err->cause));
		if (s->jsonata) {
			json_t *b = ja_bindings(a, a->input, NULL, eo, NULL, NULL);
			int r = b ? ja_out_assign(a, ct->ja_output, ct->ja_assign, b, eo, &out,
						  &assigned, &e2)
				  : asl_err_set(&e2, ASL_E_RUNTIME, "out of memory");

			json_decref(b);
			json_decref(eo);
			if (r < 0)
				return act_fail(a, e2.error, e2.cause);
			return leave(a, out, assigned, ct->next, false);
		}
		if (eval_assign(a, &ct->assign, eo, &assigned, &e2) < 0) {
			json_decref(eo);
			return act_fail(a, e2.error, e2.cause);
		}
		if (ct->result_path.kind == ASL_P_NULL) {
			out = json_incref(a->input);
		} else if (ct->result_path.kind == ASL_P_EXPR) {
			if (jpath_set_compiled(a->input, ct->result_path.c, eo, &out, &e2) < 0) {
				json_decref(eo);
				json_decref(assigned);
				wrap_err(a, &e2);
				return act_fail(a, e2.error, e2.cause);
			}
		} else {
			out = json_incref(eo);
		}
		json_decref(eo);
		return leave(a, out, assigned, ct->next, false);
	}
	return act_fail(a, err->error, err->cause[0] ? err->cause : NULL);
}

/* A Fail-state style error that may lack error/cause: no retry/catch applies. */

/*
 * The current Task/Map/Parallel/Pass state produced @result (stolen):
 * ResultSelector, Assign, ResultPath, OutputPath, then leave.
 */
static int ja_result(struct act *a, json_t *result)
{
	const struct asl_state *s = cur_state(a);
	json_t *b, *out = NULL, *assigned = NULL;
	struct asl_err err;
	int r;

	b = ja_bindings(a, a->input, result, NULL, NULL, NULL);
	r = b ? ja_out_assign(a, s->ja_output, s->ja_assign, b, result, &out, &assigned, &err)
	      : asl_err_set(&err, ASL_E_RUNTIME, "out of memory");
	json_decref(b);
	json_decref(result);
	if (r < 0)
		return state_error(a, &err, false);
	return leave(a, out, assigned, s->next, s->end);
}

static int state_result(struct act *a, json_t *result)
{
	const struct asl_state *s = cur_state(a);
	json_t *sel = NULL, *assigned = NULL, *placed = NULL, *out = NULL;
	struct asl_err err;

	if (s->jsonata)
		return ja_result(a, result);
	if (s->result_selector.c) {
		if (eval_template(a, &s->result_selector, result, "ResultSelector", &sel, &err) < 0)
			goto fail;
		json_decref(result);
		result = sel;
	}
	if (eval_assign(a, &s->assign, result, &assigned, &err) < 0)
		goto fail;
	switch (s->result_path.kind) {
	case ASL_P_NULL:
		placed = json_incref(a->input);
		break;
	case ASL_P_EXPR:
		if (jpath_set_compiled(a->input, s->result_path.c, result, &placed, &err) < 0) {
			wrap_err(a, &err);
			goto fail;
		}
		break;
	default:
		placed = json_incref(result);
		break;
	}
	json_decref(result);
	result = NULL;
	if (eval_path(a, &s->output_path, placed, &out, &err) < 0)
		goto fail;
	json_decref(placed);
	return leave(a, out, assigned, s->next, s->end);
fail:
	json_decref(result);
	json_decref(assigned);
	json_decref(placed);
	return state_error(a, &err, false);
}

/* ------------------------------------------------------------------- Task */

static const char *task_res_label(const struct asl_state *s)
{
	return s->task_kind == ASL_TK_LAMBDA_ARN ? s->resource : s->res_type;
}

static json_t *task_details(const struct asl_state *s, json_t *d)
{
	if (s->task_kind != ASL_TK_LAMBDA_ARN && d) {
		json_object_set_new(d, "resource", json_string(s->res_name));
		json_object_set_new(d, "resourceType", json_string(s->res_type));
	}
	return d;
}

static void task_done(void *arg, json_t *output, const char *error, const char *cause);
static void task_timer_fn(void *arg);
static void task_early_fn(void *arg);
static void task_hb_fn(void *arg);

static int resolve_seconds(struct act *a, json_t *in, const struct asl_path *path, double *ret,
			   const char *field, struct asl_err *err)
{
	struct jpath_env env;
	json_t *v = NULL;

	env_init(a, &env, in, NULL);
	if (jpath_exec(path->c, &env, &v, err) < 0 || !json_is_integer(v) ||
	    json_integer_value(v) <= 0) {
		json_decref(v);
		return rt_err(a, err, ASL_E_RUNTIME,
			      "The %s field refers to an invalid value: %s", field, path->s);
	}
	*ret = (double)json_integer_value(v);
	json_decref(v);
	return 0;
}

static int task_start(struct act *a, json_t *eff)
{
	const struct asl_state *s = cur_state(a);
	struct asl_execution *x = a->x;
	struct asl_task_req req = { 0 };
	json_t *creds = NULL, *d = NULL;
	struct asl_err err = { { 0 }, { 0 } };
	double timeout = s->timeout_s, heartbeat = s->heartbeat_s;
	bool lambda = s->task_kind == ASL_TK_LAMBDA_ARN, callback_done = false;
	int r;

	if (s->ja_timeout || s->ja_heartbeat || s->ja_credentials) {
		json_t *b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL);

		r = !b ? asl_err_set(&err, ASL_E_RUNTIME, "out of memory") : 0;
		if (r == 0 && s->ja_timeout)
			r = ja_number(a, s->ja_timeout, b, true, &timeout, &err);
		if (r == 0 && s->ja_heartbeat)
			r = ja_number(a, s->ja_heartbeat, b, true, &heartbeat, &err);
		if (r == 0 && s->ja_credentials)
			r = ja_value(a, s->ja_credentials, b, &creds, &err);
		json_decref(b);
		if (r < 0)
			goto fail_rt;
	}
	if (s->timeout_path.c && resolve_seconds(a, a->input, &s->timeout_path, &timeout,
						 "TimeoutSecondsPath", &err) < 0)
		goto fail_rt;
	if (s->heartbeat_path.c && resolve_seconds(a, a->input, &s->heartbeat_path, &heartbeat,
						   "HeartbeatSecondsPath", &err) < 0)
		goto fail_rt;
	if (s->credentials.c &&
	    eval_template(a, &s->credentials, eff, "Credentials", &creds, &err) < 0)
		goto fail_rt;
	if (x->want_events) {
		if (lambda) {
			d = io_details("input", eff);
			json_object_set_new(d, "resource", json_string(s->resource));
		} else {
			d = json_object();
			json_object_set_new(d, "resourceType", json_string(s->res_type));
			json_object_set_new(d, "resource", json_string(s->res_name));
			json_object_set_new(d, "region", json_string("local"));
			json_object_set_new(d, "parameters", asl_json_text(eff));
		}
		if (timeout > 0)
			json_object_set_new(d, "timeoutInSeconds", json_integer((json_int_t)timeout));
		if (heartbeat > 0)
			json_object_set_new(d, "heartbeatInSeconds",
					    json_integer((json_int_t)heartbeat));
	}
	emit(a, lambda ? "LambdaFunctionScheduled" : "TaskScheduled",
	     lambda ? "lambdaFunctionScheduledEventDetails" : "taskScheduledEventDetails", d, true);
	if (s->callback && !a->token && token_new(a) < 0) {
		asl_err_set(&err, ASL_E_RUNTIME, "cannot make a task token: %s", strerror(errno));
		goto fail_rt;
	}
	req.resource = s->callback ? s->run_resource : s->resource;
	req.task_token = s->callback ? a->token : NULL;
	req.callback_done = s->callback ? &callback_done : NULL;
	req.input = eff;
	req.state_name = s->name;
	req.state_machine = x->m->name;
	exec_ids(x);
	req.execution_arn = x->arn ? x->arn : "";
	req.execution_name = x->name ? x->name : "";
	req.definition_dir = x->m->definition_dir;
	req.retry_count = a->retry_total;
	req.timeout_s = timeout;
	/* a callback's heartbeats come from SendTaskHeartbeat, not from the program */
	req.heartbeat_s = s->callback ? 0 : heartbeat;
	req.credentials = creds;
	req.chain_depth = x->opts.chain_depth;
	if (!x->e->has_tasks) {
		r = asl_err_set(&err, ASL_E_TASKFAILED, "no task runner is configured for '%s'",
				s->resource);
	} else {
		a->in_task_start = true;
		r = x->e->tasks.start(x->e->tasks.arg, x->e->loop, &req, task_done, a, &a->task,
				      &err);
		a->in_task_start = false;
	}
	json_decref(creds);
	if (r < 0) {
		d = x->want_events ? err_details(err.error, err.cause) : NULL;
		emit(a, lambda ? "LambdaFunctionStartFailed" : "TaskStartFailed",
		     lambda ? "lambdaFunctionStartFailedEventDetails" : "taskStartFailedEventDetails",
		     task_details(s, d), true);
		return state_error(a, &err, false);
	}
	d = lambda ? NULL : json_object();
	emit(a, lambda ? "LambdaFunctionStarted" : "TaskStarted",
	     lambda ? NULL : "taskStartedEventDetails", task_details(s, d), true);
	if (a->early_done) {
		/* a task runner broke the contract and finished inside start() */
		a->task = NULL;
		a->timer = loop_timer_add(x->e->loop, 0, task_early_fn, a);
	} else if (timeout > 0) {
		a->timer = loop_timer_add(x->e->loop, secs_to_ms(timeout), task_timer_fn, a);
	}
	if (s->callback && callback_done) {
		token_drop(a, "CLOSED"); /* never announced: the runner answers itself */
	} else if (s->callback) {
		a->token_waiting = true;
		a->hb_s = heartbeat;
		a->to_s = timeout;
		if (heartbeat > 0)
			a->hb_timer = loop_timer_add(x->e->loop, secs_to_ms(heartbeat),
						     task_hb_fn, a);
		if (x->e->token_fn)
			x->e->token_fn(x->e->token_arg, a->token, x->arn ? x->arn : "", s->name,
				       "WAITING");
	}
	return R_WAIT;
fail_rt:
	json_decref(creds);
	return state_error(a, &err, false);
}

static int task_finished(struct act *a, json_t *output, const char *error, const char *cause)
{
	const struct asl_state *s = cur_state(a);
	bool lambda = s->task_kind == ASL_TK_LAMBDA_ARN;
	struct asl_err err;
	json_t *d = NULL;

	if (a->hb_timer || a->token_listed)
		token_drop(a, !error ? "SUCCEEDED"
			      : !strcmp(error, ASL_E_TIMEOUT) || !strcmp(error, ASL_E_HEARTBEAT)
			      ? "TIMED_OUT" : "FAILED");
	if (!error && over_limit(a->x, output)) {
		json_decref(output);
		output = NULL;
		asl_err_set(&err, ASL_E_DATALIMIT,
			    "The state/task '%s' returned a result with a size exceeding the maximum "
			    "number of bytes service limit.",
			    task_res_label(s));
		error = err.error;
		cause = err.cause;
	}
	if (error) {
		bool timeout = !strcmp(error, ASL_E_TIMEOUT) || !strcmp(error, ASL_E_HEARTBEAT);

		if (timeout)
			cause = NULL; /* AWS reports task timeouts without a cause */
		asl_err_set(&err, error, "%s", cause ? cause : "");
		if (a->x->want_events)
			d = err_details(error, cause);
		if (timeout)
			emit(a, lambda ? "LambdaFunctionTimedOut" : "TaskTimedOut",
			     lambda ? "lambdaFunctionTimedOutEventDetails" : "taskTimedOutEventDetails",
			     task_details(s, d), true);
		else
			emit(a, lambda ? "LambdaFunctionFailed" : "TaskFailed",
			     lambda ? "lambdaFunctionFailedEventDetails" : "taskFailedEventDetails",
			     task_details(s, d), true);
		return state_error(a, &err, false);
	}
	if (!output)
		output = json_null();
	if (a->x->want_events)
		d = io_details("output", output);
	emit(a, lambda ? "LambdaFunctionSucceeded" : "TaskSucceeded",
	     lambda ? "lambdaFunctionSucceededEventDetails" : "taskSucceededEventDetails",
	     task_details(s, d), true);
	return state_result(a, output);
}

static void act_async(struct act *a, int rc)
{
	if (rc == R_WAIT)
		return; /* whoever suspended will call back (or already set sync_rc) */
	if (a->running)
		a->sync_rc = rc;
	else
		act_drive(a, rc);
}

/*
 * The program of a callback task succeeded (@output stolen): record
 * TaskSubmitted and keep waiting for the token.
 */
static void task_submitted(struct act *a, json_t *output)
{
	const struct asl_state *s = cur_state(a);
	json_t *d = NULL;

	if (a->x->want_events)
		d = task_details(s, io_details("output", output ? output : json_null()));
	json_decref(output);
	emit(a, "TaskSubmitted", "taskSubmittedEventDetails", d, true);
}

static void task_done(void *arg, json_t *output, const char *error, const char *cause)
{
	struct act *a = arg;

	if (a->in_task_start) {
		a->early_done = true;
		a->early_out = output;
		a->early_error = error ? strdup(error) : NULL;
		a->early_cause = cause ? strdup(cause) : NULL;
		if (error && !a->early_error)
			a->early_error = strdup(ASL_E_RUNTIME);
		return;
	}
	a->task = NULL;
	if (!error && a->token_waiting) {
		task_submitted(a, output);
		return;
	}
	if (a->timer) {
		loop_timer_cancel(a->x->e->loop, a->timer);
		a->timer = NULL;
	}
	act_async(a, task_finished(a, output, error, cause));
}

static void task_early_fn(void *arg)
{
	struct act *a = arg;
	json_t *out = a->early_out;
	char *error = a->early_error, *cause = a->early_cause;

	a->timer = NULL;
	a->early_done = false;
	a->early_out = NULL;
	a->early_error = a->early_cause = NULL;
	if (!error && a->token_waiting) {
		task_submitted(a, out);
		if (a->to_s > 0)
			a->timer = loop_timer_add(a->x->e->loop, secs_to_ms(a->to_s),
						  task_timer_fn, a);
		return;
	}
	act_async(a, task_finished(a, out, error, cause));
	free(error);
	free(cause);
}

/* Stop what runs for @a's Task state: its timeout timer and its program. */
static void act_stop_task(struct act *a)
{
	struct asl_engine *e = a->x->e;

	if (a->timer) {
		loop_timer_cancel(e->loop, a->timer);
		a->timer = NULL;
	}
	if (a->task) {
		e->tasks.cancel(e->tasks.arg, a->task);
		a->task = NULL;
	}
}

static void task_timer_fn(void *arg)
{
	struct act *a = arg;

	a->timer = NULL;
	act_stop_task(a);
	act_async(a, task_finished(a, NULL, ASL_E_TIMEOUT, NULL));
}

static void task_hb_fn(void *arg)
{
	struct act *a = arg;

	a->hb_timer = NULL;
	act_stop_task(a);
	act_async(a, task_finished(a, NULL, ASL_E_HEARTBEAT, NULL));
}

int asl_engine_task_callback(struct asl_engine *e, const char *token, enum asl_callback kind,
			     json_t *output, const char *error, const char *cause)
{
	struct act *a;
	json_t *out;

	for (a = e->tokens; a; a = a->tok_next)
		if (a->token_waiting && strcmp(a->token, token) == 0)
			break;
	if (!a)
		return -ENOENT;
	if (kind == ASL_CB_HEARTBEAT) {
		if (a->hb_timer) {
			loop_timer_cancel(e->loop, a->hb_timer);
			a->hb_timer = loop_timer_add(e->loop, secs_to_ms(a->hb_s), task_hb_fn, a);
		}
		return 0;
	}
	act_stop_task(a); /* the callback may come before the program ended: not needed now */
	if (kind == ASL_CB_SUCCESS) {
		out = json_deep_copy(output ? output : json_null());
		act_async(a, task_finished(a, out, out ? NULL : ASL_E_RUNTIME,
					   out ? NULL : "out of memory"));
	} else {
		act_async(a, task_finished(a, NULL, error ? error : "", cause));
	}
	return 0;
}

void asl_engine_set_token_hook(struct asl_engine *e, asl_token_fn fn, void *arg)
{
	e->token_fn = fn;
	e->token_arg = fn ? arg : NULL;
}

static void retry_timer_fn(void *arg)
{
	struct act *a = arg;

	a->timer = NULL;
	act_async(a, exec_attempt(a));
}

/* ------------------------------------------------------------------- Wait */

static void wait_timer_fn(void *arg)
{
	struct act *a = arg;
	const struct asl_state *s;
	json_t *out = a->wait_out, *assigned = a->wait_assigned;

	a->timer = NULL;
	a->wait_out = NULL;
	a->wait_assigned = NULL;
	s = cur_state(a);
	act_async(a, leave(a, out, assigned, s->next, s->end));
}

static void value_text(json_t *v, char *buf, size_t len)
{
	char *t;

	if (json_is_string(v)) {
		snprintf(buf, len, "%s", json_string_value(v));
		return;
	}
	t = asl_json_dumps(v);
	snprintf(buf, len, "%s", t ? t : "");
	free(t);
}

/* Leave a Wait state with @out and @assigned (stolen) after @delay seconds. */
static int wait_leave(struct act *a, double delay, bool absolute, json_t *out, json_t *assigned)
{
	const struct asl_state *s = cur_state(a);
	struct timespec now;

	if (a->resumed_visit && !absolute) {
		/* resumed: the wait started when the state was first entered */
		asl_now(&now);
		delay -= (double)(now.tv_sec - a->entered.tv_sec) +
			 (double)(now.tv_nsec - a->entered.tv_nsec) / 1e9;
	}
	delay *= a->x->opts.wait_scale;
	if (delay <= 0)
		return leave(a, out, assigned, s->next, s->end);
	a->wait_out = out;
	a->wait_assigned = assigned;
	a->timer = loop_timer_add(a->x->e->loop, secs_to_ms(delay), wait_timer_fn, a);
	if (!a->timer)
		return act_fail(a, ASL_E_RUNTIME, "out of memory");
	return R_WAIT;
}

static int exec_wait(struct act *a, json_t *eff)
{
	const struct asl_state *s = cur_state(a);
	struct asl_err err = { { 0 }, { 0 } };
	json_t *out = NULL, *assigned = NULL, *v = NULL;
	struct jpath_env env;
	struct timespec ts, now;
	double delay = 0;
	char vt[256];

	if (s->has_seconds) {
		delay = s->seconds;
	} else if (s->has_timestamp || s->timestamp_path.c) {
		const char *t = s->timestamp;

		if (s->timestamp_path.c) {
			env_init(a, &env, eff, NULL);
			if (jpath_exec(s->timestamp_path.c, &env, &v, &err) < 0) {
				rt_err(a, &err, ASL_E_RUNTIME,
				       "The TimestampPath parameter does not reference an input "
				       "value: %s", s->timestamp_path.s);
				goto fail;
			}
			t = json_string_value(v);
		}
		if (!t || asl_timestamp_parse(t, &ts) < 0) {
			value_text(v, vt, sizeof(vt));
			rt_err(a, &err, ASL_E_RUNTIME,
			       "The TimestampPath parameter does not reference a valid ISO-8601 "
			       "extended offset date-time format string: %s == %s",
			       s->timestamp_path.s ? s->timestamp_path.s : "Timestamp",
			       t ? t : vt);
			goto fail;
		}
		asl_now(&now);
		delay = (double)(ts.tv_sec - now.tv_sec) + (double)(ts.tv_nsec - now.tv_nsec) / 1e9;
	} else if (s->seconds_path.c) {
		env_init(a, &env, eff, NULL);
		if (jpath_exec(s->seconds_path.c, &env, &v, &err) < 0) {
			rt_err(a, &err, ASL_E_RUNTIME,
			       "The SecondsPath parameter does not reference an input value: %s",
			       s->seconds_path.s);
			goto fail;
		}
		value_text(v, vt, sizeof(vt));
		if (!json_is_integer(v)) {
			rt_err(a, &err, ASL_E_RUNTIME,
			       "The SecondsPath parameter cannot be parsed as a long value: %s == %s",
			       s->seconds_path.s, vt);
			goto fail;
		}
		if (json_integer_value(v) < 0) {
			rt_err(a, &err, ASL_E_RUNTIME,
			       "The SecondsPath parameter references a negative value: %s == %s",
			       s->seconds_path.s, vt);
			goto fail;
		}
		delay = (double)json_integer_value(v);
	}
	json_decref(v);
	v = NULL;
	if (eval_assign(a, &s->assign, eff, &assigned, &err) < 0)
		goto fail;
	if (eval_path(a, &s->output_path, eff, &out, &err) < 0)
		goto fail;
	return wait_leave(a, delay, s->has_timestamp || s->timestamp_path.c, out, assigned);
fail:
	json_decref(v);
	json_decref(out);
	json_decref(assigned);
	return state_error(a, &err, false);
}

/* ----------------------------------------------------------------- Choice */

static int exec_choice(struct act *a, json_t *eff)
{
	const struct asl_state *s = cur_state(a);
	struct asl_err err;
	struct jpath_env env;
	json_t *ctx = NULL, *out = NULL, *assigned = NULL;
	const struct asl_tmpl *assign = &s->assign;
	int next = s->default_next;
	size_t i;

	if (s->needs_ctx)
		ctx = ctx_build(a, NULL, NULL);
	env_init(a, &env, eff, ctx);
	for (i = 0; i < s->nchoices; i++) {
		bool match = false;

		if (choice_exec(s->choices[i].c, &env, &match, &err) < 0) {
			json_decref(ctx);
			wrap_err(a, &err);
			return state_error(a, &err, false);
		}
		if (match) {
			next = s->choices[i].next;
			assign = &s->choices[i].assign;
			break;
		}
	}
	json_decref(ctx);
	if (next < 0) {
		rt_err(a, &err, ASL_E_RUNTIME, "No Choice Rules matched and no Default was specified");
		return state_error(a, &err, false);
	}
	if (eval_assign(a, assign, eff, &assigned, &err) < 0)
		return state_error(a, &err, false);
	if (eval_path(a, &s->output_path, eff, &out, &err) < 0) {
		json_decref(assigned);
		return state_error(a, &err, false);
	}
	return leave(a, out, assigned, next, false);
}

/* ------------------------------------------------------------------- Fail */

static int fail_field(struct act *a, const char *lit, const struct jpath_expr *path,
		      const char *field, char *buf, size_t len, bool *present, struct asl_err *err)
{
	struct jpath_env env;
	json_t *v = NULL;
	json_t *ctx = NULL;
	int r;

	*present = false;
	if (lit) {
		snprintf(buf, len, "%s", lit);
		*present = true;
		return 0;
	}
	if (!path)
		return 0;
	if (cur_state(a)->needs_ctx)
		ctx = ctx_build(a, NULL, NULL);
	env_init(a, &env, a->input, ctx);
	r = jpath_expr_exec(path, &env, field, &v, err);
	json_decref(ctx);
	if (r < 0)
		return wrap_err(a, err);
	value_text(v, buf, len);
	json_decref(v);
	*present = true;
	return 0;
}

static int exec_fail(struct act *a)
{
	const struct asl_state *s = cur_state(a);
	char error[ASL_ERROR_MAX], cause[ASL_CAUSE_MAX];
	bool has_error, has_cause;
	struct asl_err err;

	if (fail_field(a, s->error, s->error_x, "ErrorPath", error, sizeof(error), &has_error,
		       &err) < 0 ||
	    fail_field(a, s->cause, s->cause_x, "CausePath", cause, sizeof(cause), &has_cause,
		       &err) < 0)
		return act_fail(a, err.error, err.cause);
	return act_fail(a, has_error ? error : NULL, has_cause ? cause : NULL);
}

/* ------------------------------------------------------- JSONata states */

static int ja_wait(struct act *a, json_t *b)
{
	const struct asl_state *s = cur_state(a);
	struct asl_err err;
	struct asl_ja_fail f;
	json_t *out = NULL, *assigned = NULL, *v = NULL;
	struct timespec ts, now;
	const char *t = s->timestamp;
	double delay = s->seconds;

	if (s->ja_seconds && ja_number(a, s->ja_seconds, b, true, &delay, &err) < 0)
		goto fail;
	if (s->ja_timestamp) {
		if (ja_value(a, s->ja_timestamp, b, &v, &err) < 0)
			goto fail;
		if (!json_is_string(v)) {
			asl_ja_type_fail(s->ja_timestamp, "string", v, &f);
			ja_err(a, &err, f.field, f.cause);
			goto fail;
		}
		t = json_string_value(v);
	}
	if (t) {
		if (asl_timestamp_parse(t, &ts) < 0) {
			rt_err(a, &err, ASL_E_RUNTIME,
			       "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
			       "date-time format string: %s", t);
			goto fail;
		}
		asl_now(&now);
		delay = (double)(ts.tv_sec - now.tv_sec) + (double)(ts.tv_nsec - now.tv_nsec) / 1e9;
	}
	json_decref(v);
	v = NULL;
	if (ja_out_assign(a, s->ja_output, s->ja_assign, b, a->input, &out, &assigned, &err) < 0)
		goto fail;
	return wait_leave(a, delay, t != NULL, out, assigned);
fail:
	json_decref(v);
	return state_error(a, &err, false);
}

static int ja_choice(struct act *a, json_t *b)
{
	const struct asl_state *s = cur_state(a);
	const struct asl_ja *output = s->ja_output, *assign = s->ja_assign;
	json_t *out = NULL, *assigned = NULL, *v;
	int next = s->default_next;
	struct asl_ja_fail f;
	struct asl_err err;
	size_t i;

	for (i = 0; i < s->nchoices; i++) {
		const struct asl_choice *ch = &s->choices[i];
		bool match;

		if (ja_value(a, ch->ja_cond, b, &v, &err) < 0)
			return state_error(a, &err, false);
		if (!json_is_boolean(v)) {
			asl_ja_type_fail(ch->ja_cond, "boolean", v, &f);
			json_decref(v);
			ja_err(a, &err, f.field, f.cause);
			return state_error(a, &err, false);
		}
		match = json_is_true(v);
		json_decref(v);
		if (match) {
			next = ch->next;
			/* the state's own Assign and Output are for the Default only */
			assign = ch->ja_assign;
			output = ch->ja_output;
			break;
		}
	}
	if (next < 0) {
		rt_err(a, &err, ASL_E_RUNTIME, "No Choice Rules matched and no Default was specified");
		return state_error(a, &err, false);
	}
	if (ja_out_assign(a, output, assign, b, a->input, &out, &assigned, &err) < 0)
		return state_error(a, &err, false);
	return leave(a, out, assigned, next, false);
}

/* Error or Cause of a JSONata Fail state: a string, literal or computed. */
static int ja_fail_field(struct act *a, const struct asl_ja *t, json_t *b, char *buf, size_t len,
			 bool *present, struct asl_err *err)
{
	struct asl_ja_fail f;
	json_t *v;

	*present = false;
	if (!t)
		return 0;
	if (ja_value(a, t, b, &v, err) < 0)
		return -1;
	if (!json_is_string(v)) {
		asl_ja_type_fail(t, "string", v, &f);
		json_decref(v);
		return ja_err(a, err, f.field, f.cause);
	}
	snprintf(buf, len, "%s", json_string_value(v));
	json_decref(v);
	*present = true;
	return 0;
}

static int ja_fail(struct act *a, json_t *b)
{
	const struct asl_state *s = cur_state(a);
	char error[ASL_ERROR_MAX], cause[ASL_CAUSE_MAX];
	bool has_error, has_cause;
	struct asl_err err;

	if (ja_fail_field(a, s->ja_error, b, error, sizeof(error), &has_error, &err) < 0 ||
	    ja_fail_field(a, s->ja_cause, b, cause, sizeof(cause), &has_cause, &err) < 0)
		return act_fail(a, err.error, err.cause);
	return act_fail(a, has_error ? error : NULL, has_cause ? cause : NULL);
}

static int frame_start(struct act *a, json_t *eff);

/* One attempt of the current state in JSONata mode. */
static int ja_attempt(struct act *a)
{
	const struct asl_state *s = cur_state(a);
	json_t *b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL), *eff = NULL, *out, *assigned;
	struct asl_err err;
	int rc;

	if (!b)
		return act_fail(a, ASL_E_RUNTIME, "out of memory");
	switch (s->type) {
	case ASL_ST_FAIL:
		rc = ja_fail(a, b);
		break;
	case ASL_ST_CHOICE:
		rc = ja_choice(a, b);
		break;
	case ASL_ST_WAIT:
		rc = ja_wait(a, b);
		break;
	case ASL_ST_PASS:
	case ASL_ST_SUCCEED:
		if (ja_out_assign(a, s->ja_output, s->type == ASL_ST_PASS ? s->ja_assign : NULL, b,
				  a->input, &out, &assigned, &err) < 0)
			rc = state_error(a, &err, false);
		else
			rc = leave(a, out, assigned, s->type == ASL_ST_PASS ? s->next : -1,
				   s->type == ASL_ST_PASS ? s->end : true);
		break;
	default: /* Task, Parallel, Map */
		if (s->ja_args) {
			if (ja_value(a, s->ja_args, b, &eff, &err) < 0) {
				rc = state_error(a, &err, false);
				break;
			}
		} else {
			eff = json_incref(a->input);
		}
		json_decref(b);
		b = NULL;
		rc = s->type == ASL_ST_TASK ? task_start(a, eff) : frame_start(a, eff);
		json_decref(eff);
		break;
	}
	json_decref(b);
	return rc;
}

/* ---------------------------------------------------------- Map / Parallel */

static struct act *act_new(struct asl_execution *x, const struct asl_graph *g, json_t *input,
			   struct act *scope_parent, struct frame *f, size_t index)
{
	struct act *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->x = x;
	a->g = g;
	a->scope_parent = scope_parent;
	a->frame = f;
	a->index = index;
	a->cur = g->start;
	a->input = json_incref(input);
	return a;
}

static void frame_child_done(struct act *kid);
static int writer_start(struct frame *f);

static void frame_end(struct frame *f)
{
	struct act *a = f->owner;
	const struct asl_state *s = f->s;
	bool map = s->type == ASL_ST_MAP;
	int rc;

	if (!f->failing && f->distributed && s->result_writer && !f->written) {
		if (f->writing || writer_start(f) == 0)
			return; /* writer_done() calls again */
	}
	f->ended = true;
	a->child = NULL;
	if (f->failing) {
		struct asl_err err = f->err;
		bool has_error = f->err_has_error, has_cause = f->err_has_cause;

		if (f->distributed) {
			json_t *d = NULL;

			if (f->run_failed_details && a->x->want_events)
				d = json_pack("{s:s,s:s}", "cause", err.cause, "error", err.error);
			emit(a, "MapRunFailed", d ? "mapRunFailedEventDetails" : NULL, d, true);
		}
		a->fail_event = map ? "MapStateFailed" : "ParallelStateFailed";
		if (!has_error)
			err.error[0] = '\0';
		frame_free(f);
		if (!has_error && !has_cause) {
			rc = act_fail(a, NULL, NULL);
		} else {
			rc = state_error(a, &err, false);
			if (rc == R_END) {
				/* keep "no error"/"no cause" of a Fail state without them */
				a->err_has_error = has_error;
				a->err_has_cause = has_cause;
			}
		}
		act_async(a, rc);
		return;
	} else {
		json_t *res = json_incref(f->results);

		if (f->distributed)
			emit(a, "MapRunSucceeded", NULL, NULL, true);
		if (map)
			emit(a, "MapStateSucceeded", NULL, NULL, false);
		else
			a->x->nevents += a->x->capped ? 0 : 1; /* AWS skips ParallelStateSucceeded's id */
		frame_free(f);
		act_async(a, state_result(a, res));
	}
}

static void emit_iter(struct frame *f, const char *type, size_t i, bool advance)
{
	struct act *o = f->owner;
	char dkey[64];
	json_t *d = NULL;

	if (f->distributed)
		return;
	if (o->x->want_events) {
		snprintf(dkey, sizeof(dkey), "m%sEventDetails", type + 1);
		d = json_pack("{s:I,s:s}", "index", (json_int_t)i, "name", f->s->name);
	}
	emit(o, type, d ? dkey : NULL, d, advance);
}

static void frame_abort_kids(struct frame *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		struct act *k = f->kids[i];

		if (!k)
			continue;
		f->kids[i] = NULL;
		if (f->s->type == ASL_ST_MAP)
			emit_iter(f, "MapIterationAborted", k->index, false);
		act_cancel(k);
		act_free(k);
		f->running--;
	}
}

static int frame_launch(struct frame *f, size_t i)
{
	struct act *o = f->owner;
	const struct asl_state *s = f->s;
	const struct asl_graph *g = s->type == ASL_ST_MAP ? s->processor : s->branches[i];
	json_t *in = NULL;
	struct act *k;
	struct asl_err err;

	if (s->type == ASL_ST_MAP) {
		size_t lo, hi, j;
		json_t *batch = NULL;

		if (f->bounds) {
			batch = json_array();
			lo = f->bounds[i];
			hi = f->bounds[i + 1];
		} else {
			lo = i;
			hi = i + 1;
		}
		for (j = lo; j < hi; j++) {
			json_t *item = json_array_get(f->items, j), *sel;

			if (s->ja_item_selector) {
				json_t *idx = json_integer((json_int_t)j);
				json_t *b = ja_bindings(o, o->input, NULL, NULL, idx, item);
				int r = b ? ja_value(o, s->ja_item_selector, b, &sel, &err)
					  : asl_err_set(&err, ASL_E_RUNTIME, "out of memory");

				json_decref(b);
				json_decref(idx);
				if (r < 0) {
					json_decref(batch);
					goto fail;
				}
			} else if (s->item_selector.c) {
				struct jpath_env env;
				json_t *ctx = NULL, *idx = json_integer((json_int_t)j);

				if (s->needs_ctx)
					ctx = ctx_build(o, idx, item);
				env_init(o, &env, f->eff, ctx);
				if (jpath_tmpl_exec(s->item_selector.c, &env, "ItemSelector", &sel,
						    &err) < 0) {
					json_decref(ctx);
					json_decref(idx);
					json_decref(batch);
					wrap_err(o, &err);
					goto fail;
				}
				json_decref(ctx);
				json_decref(idx);
			} else {
				sel = json_incref(item);
			}
			if (batch)
				json_array_append_new(batch, sel);
			else
				in = sel;
		}
		if (batch) {
			in = json_object();
			if (f->batch_input)
				json_object_set(in, "BatchInput", f->batch_input);
			json_object_set_new(in, "Items", batch);
		}
		emit_iter(f, "MapIterationStarted", i, true);
		if (f->w_inputs) {
			struct timespec now;
			char ts[40];

			asl_now(&now);
			asl_time_format(&now, ts, sizeof(ts));
			json_array_set(f->w_inputs, i, in);
			json_array_set_new(f->w_start, i, json_string(ts));
		}
	} else {
		in = json_incref(f->eff);
	}
	k = act_new(o->x, g, in, o, f, i);
	json_decref(in);
	if (!k) {
		asl_err_set(&err, ASL_E_RUNTIME, "out of memory");
		goto fail;
	}
	k->cursor = o->cursor;
	k->quiet = o->quiet || f->distributed;
	f->kids[i] = k;
	f->running++;
	act_drive(k, R_NEXT);
	return 0;
fail:
	f->failing = true;
	f->err = err;
	f->err_has_error = f->err_has_cause = true;
	return -1;
}

static void frame_pump(struct frame *f)
{
	struct asl_execution *x = f->owner->x;

	if (f->in_pump)
		return;
	f->in_pump = true;
	while (!f->failing && f->launched < f->n &&
	       (f->max_conc <= 0 || f->running < (size_t)f->max_conc)) {
		if (x->capped) {
			f->failing = true;
			asl_err_set(&f->err, ASL_E_RUNTIME,
				    "The execution reached the maximum number of history events "
				    "(%u).", x->opts.history_cap);
			f->err_has_error = f->err_has_cause = true;
			break;
		}
		frame_launch(f, f->launched++);
	}
	f->in_pump = false;
	if (f->failing)
		frame_abort_kids(f);
	if (f->running == 0 && (f->failing || f->finished == f->n))
		frame_end(f);
}

static bool tolerated(struct frame *f)
{
	if (!f->has_tol_count && !f->has_tol_pct)
		return false;
	if (f->has_tol_count && (long)f->nfailed <= f->tol_count)
		return true;
	if (f->has_tol_pct && f->n && (double)f->nfailed * 100.0 / (double)f->n <= f->tol_pct)
		return true;
	return false;
}

/* A child activity ended (its outcome is in @kid). */
static void frame_child_done(struct act *kid)
{
	struct frame *f = kid->frame;
	struct act *o = f->owner;
	bool map = f->s->type == ASL_ST_MAP;
	size_t i = kid->index;

	f->kids[i] = NULL;
	f->running--;
	f->finished++;
	o->cursor = kid->cursor;
	if (f->w_inputs) {
		struct timespec now;
		char ts[40];

		asl_now(&now);
		asl_time_format(&now, ts, sizeof(ts));
		json_array_set_new(f->w_stop, i, json_string(ts));
		f->w_failed[i] = kid->failed;
	}
	if (!kid->failed) {
		json_array_set(f->results, i, kid->output ? kid->output : json_null());
		if (map)
			emit_iter(f, "MapIterationSucceeded", i, false);
	} else {
		if (map)
			emit_iter(f, "MapIterationFailed", i, false);
		f->nfailed++;
		if (map && tolerated(f)) {
			json_array_set_new(f->results, i,
					   json_pack("{s:s,s:s}", "Error", kid->err.error, "Cause",
						     kid->err.cause));
		} else if (!f->failing) {
			f->failing = true;
			if (map && (f->has_tol_count || f->has_tol_pct)) {
				asl_err_set(&f->err, ASL_E_TOLERATED,
					    "The specified tolerated failure threshold was exceeded");
				f->err_has_error = f->err_has_cause = true;
			} else {
				f->err = kid->err;
				f->err_has_error = kid->err_has_error;
				f->err_has_cause = kid->err_has_cause;
			}
		}
	}
	act_free(kid);
	frame_pump(f);
}

static int parse_int_value(json_t *v, long *ret)
{
	char *end;

	if (json_is_integer(v)) {
		*ret = (long)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v)) {
		*ret = (long)json_real_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_length(v)) {
		*ret = strtol(json_string_value(v), &end, 10);
		if (*end == '\0')
			return 0;
	}
	return -1;
}

static int parse_float_value(json_t *v, double *ret)
{
	char *end;

	if (json_is_number(v)) {
		*ret = json_number_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_length(v)) {
		*ret = strtod(json_string_value(v), &end);
		if (*end == '\0')
			return 0;
	}
	return -1;
}

static int path_number(struct act *a, json_t *in, const struct asl_path *p, const char *field,
		       bool integer, long *ri, double *rd, struct asl_err *err)
{
	struct jpath_env env;
	json_t *v = NULL;
	char vt[256];
	int r;

	env_init(a, &env, in, NULL);
	if (jpath_exec(p->c, &env, &v, err) < 0)
		return rt_err(a, err, ASL_E_RUNTIME,
			      "The %s field refers to value \"null\" which is not a valid %s: %s",
			      field, integer ? "integer" : "float", p->s);
	r = integer ? parse_int_value(v, ri) : parse_float_value(v, rd);
	if (r < 0) {
		value_text(v, vt, sizeof(vt));
		json_decref(v);
		return rt_err(a, err, ASL_E_RUNTIME,
			      "The %s field refers to value \"%s\" which is not a valid %s: %s", field,
			      vt, integer ? "integer" : "float", p->s);
	}
	json_decref(v);
	return 0;
}

/*
 * Cut the items into batches of at most MaxItemsPerBatch items and (if set)
 * MaxInputBytesPerBatch bytes of {"BatchInput":...,"Items":[...]}.
 */
static int make_batches(struct frame *f, const struct asl_state *s, struct act *a,
			double ja_bytes, struct asl_err *err)
{
	json_t *mb = json_object_get(s->batcher, "MaxInputBytesPerBatch");
	const char *mbp = json_string_value(json_object_get(s->batcher,
							    "MaxInputBytesPerBatchPath"));
	size_t nitems = f->n, i, nb = 0, cnt = 0, bytes = 0, base, maxb = 0;
	long lb = 0;

	if (json_is_integer(mb))
		maxb = (size_t)json_integer_value(mb);
	if (ja_bytes > 0)
		maxb = (size_t)ja_bytes;
	if (mbp) {
		struct asl_path p = { ASL_P_EXPR, mbp, NULL };
		struct asl_err e2;

		if (jpath_compile(mbp, &p.c, &e2) < 0)
			return rt_err(a, err, ASL_E_RUNTIME, "%s", e2.cause);
		if (path_number(a, a->input, &p, "MaxInputBytesPerBatchPath", true, &lb, NULL,
				err) < 0) {
			jpath_free(p.c);
			return -1;
		}
		jpath_free(p.c);
		maxb = lb > 0 ? (size_t)lb : 0;
	}
	f->bounds = calloc(nitems + 2, sizeof(*f->bounds));
	if (!f->bounds)
		return rt_err(a, err, ASL_E_RUNTIME, "out of memory");
	base = 12 + (f->batch_input ? 14 + asl_json_size(f->batch_input, 0) : 0);
	for (i = 0; i < nitems; i++) {
		size_t sz = asl_json_size(json_array_get(f->items, i), 0) + 1;

		if (cnt && (cnt == f->batch_size || (maxb && base + bytes + sz > maxb))) {
			f->bounds[++nb] = i;
			cnt = 0;
			bytes = 0;
		}
		cnt++;
		bytes += sz;
	}
	if (cnt)
		f->bounds[++nb] = nitems;
	f->n = nb;
	return 0;
}

/* Map in JSONata: the items are Items (evaluated) or the state input; an array. */
static int ja_map_items(struct act *a, struct frame *f, json_t *eff, struct asl_err *err)
{
	const struct asl_state *s = cur_state(a);
	struct asl_ja_fail jf;
	json_t *b;
	char *t;
	int r;

	a->fail_event = "MapStateFailed"; /* after EvaluationFailed, as AWS records it */
	if (!s->ja_items) {
		f->items = json_incref(eff);
		if (json_is_array(f->items)) {
			a->fail_event = NULL;
			return 0;
		}
		t = asl_json_dumps(f->items);
		snprintf(jf.cause, sizeof(jf.cause), "Map state input must be an array but was: %s",
			 t ? t : "");
		free(t);
		return ja_err(a, err, NULL, jf.cause);
	}
	b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL);
	r = b ? ja_value(a, s->ja_items, b, &f->items, err)
	      : asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	json_decref(b);
	if (r < 0)
		return -1;
	if (!json_is_array(f->items)) {
		asl_ja_type_fail(s->ja_items, "array", f->items, &jf);
		return ja_err(a, err, jf.field, jf.cause);
	}
	a->fail_event = NULL;
	return 0;
}

/* Map in JSONata: MaxConcurrency and the tolerated failures given as expressions. */
static int ja_map_limits(struct act *a, struct frame *f, struct asl_err *err)
{
	const struct asl_state *s = cur_state(a);
	json_t *b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL);
	double d;
	int r = b ? 0 : asl_err_set(err, ASL_E_RUNTIME, "out of memory");

	if (r == 0 && s->ja_max_conc && (r = ja_number(a, s->ja_max_conc, b, true, &d, err)) == 0)
		f->max_conc = (long)d;
	if (r == 0 && s->ja_tol_count &&
	    (r = ja_number(a, s->ja_tol_count, b, true, &d, err)) == 0) {
		f->tol_count = (long)d;
		f->has_tol_count = true;
	}
	if (r == 0 && s->ja_tol_pct && (r = ja_number(a, s->ja_tol_pct, b, false, &d, err)) == 0) {
		f->tol_pct = d;
		f->has_tol_pct = true;
	}
	json_decref(b);
	if (r < 0)
		a->fail_event = "MapStateFailed";
	return r;
}

/* Map in JSONata: the ItemBatcher fields given as expressions. */
static int ja_batcher(struct act *a, struct frame *f, long *max_items, double *max_bytes,
		      struct asl_err *err)
{
	const struct asl_state *s = cur_state(a);
	json_t *b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL);
	double d;
	int r = b ? 0 : asl_err_set(err, ASL_E_RUNTIME, "out of memory");

	if (r == 0 && s->ja_max_items && (r = ja_number(a, s->ja_max_items, b, true, &d, err)) == 0)
		*max_items = (long)d;
	if (r == 0 && s->ja_max_bytes)
		r = ja_number(a, s->ja_max_bytes, b, true, max_bytes, err);
	if (r == 0 && s->ja_batch_input)
		r = ja_value(a, s->ja_batch_input, b, &f->batch_input, err);
	json_decref(b);
	return r;
}

/*
 * The items are known (f->items, f->n): cut them into batches (ItemBatcher)
 * and allocate the results. 0, or -1 with @err.
 */
static int frame_prepare(struct act *a, struct frame *f, json_t *eff, struct asl_err *err)
{
	const struct asl_state *s = f->s;
	size_t i;

	if (s->type == ASL_ST_MAP && s->batcher) {
		long n = s->max_items_per_batch;
		double ja_bytes = 0;

		if (s->max_items_path.c &&
		    path_number(a, a->input, &s->max_items_path, "MaxItemsPerBatchPath", true, &n,
				NULL, err) < 0)
			return -1;
		if ((s->ja_max_items || s->ja_max_bytes || s->ja_batch_input) &&
		    ja_batcher(a, f, &n, &ja_bytes, err) < 0)
			return -1;
		if (n <= 0)
			n = (long)(f->n ? f->n : 1);
		f->batch_size = (size_t)n;
		if (s->batch_input.c &&
		    eval_template(a, &s->batch_input, eff, "BatchInput", &f->batch_input, err) < 0)
			return -1;
		if (make_batches(f, s, a, ja_bytes, err) < 0)
			return -1;
	}
	f->results = json_array();
	f->kids = calloc(f->n ? f->n : 1, sizeof(*f->kids));
	if (!f->results || !f->kids)
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	for (i = 0; i < f->n; i++)
		json_array_append_new(f->results, json_null());
	if (f->distributed && s->result_writer) {
		f->w_inputs = json_array();
		f->w_start = json_array();
		f->w_stop = json_array();
		f->w_failed = calloc(f->n ? f->n : 1, 1);
		if (!f->w_inputs || !f->w_start || !f->w_stop || !f->w_failed)
			return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
		for (i = 0; i < f->n; i++) {
			json_array_append_new(f->w_inputs, json_null());
			json_array_append_new(f->w_start, json_null());
			json_array_append_new(f->w_stop, json_null());
		}
	}
	return 0;
}

/* A reader or writer failure: the Map Run fails with @error and the cause in @f->err. */
static void run_fail(struct frame *f, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void run_fail(struct frame *f, const char *error, const char *fmt, ...)
{
	char cause[ASL_CAUSE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	asl_err_set(&f->err, error, "%s", cause);
	f->failing = true;
	f->err_has_error = f->err_has_cause = true;
	f->run_failed_details = true;
}

/* A string member of the reader's/writer's Parameters, or NULL. */
static const char *param_str(json_t *p, const char *k)
{
	return json_string_value(json_object_get(p, k));
}

/*
 * The Arguments (JSONata @ja, against the state input) or Parameters
 * (JSONPath template @tmpl, against @eff) of an ItemReader or ResultWriter:
 * *ret, NULL if the state gives neither. Returns 0, or -1 with *err.
 */
static int io_args(struct act *a, const struct asl_ja *ja, const struct asl_tmpl *tmpl,
		   json_t *eff, json_t **ret, struct asl_err *err)
{
	*ret = NULL;
	if (ja) {
		json_t *b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL);
		int r = b ? ja_value(a, ja, b, ret, err)
			  : asl_err_set(err, ASL_E_RUNTIME, "out of memory");

		json_decref(b);
		return r < 0 ? -1 : 0;
	}
	return tmpl->c && eval_template(a, tmpl, eff, "Parameters", ret, err) < 0 ? -1 : 0;
}

/* String @key of @what's evaluated arguments @p, or NULL after failing @f with @error. */
static const char *io_arg_str(struct frame *f, const char *error, const char *what, json_t *p,
			      const char *key)
{
	const char *v = param_str(p, key);

	if (!v)
		run_fail(f, error, "%s %s has no string %s", what,
			 f->s->jsonata ? "Arguments" : "Parameters", key);
	return v;
}

static void reader_done(void *arg, const struct asl_s3_result *res, const char *cause)
{
	struct frame *f = arg;
	struct act *a = f->owner;
	json_t *rc = json_object_get(f->s->item_reader, "ReaderConfig");
	struct asl_err err;
	char why[ASL_CAUSE_MAX];
	int r = 0;

	f->io = NULL;
	if (!res) {
		run_fail(f, ASL_E_ITEMREADER, "%s", cause ? cause : "the object could not be read");
		frame_end(f);
		return;
	}
	why[0] = '\0';
	switch (f->reader_kind) {
	case READ_LIST:
		f->items = json_incref(res->items);
		if (f->reader_max)
			while (json_array_size(f->items) > f->reader_max)
				json_array_remove(f->items, json_array_size(f->items) - 1);
		break;
	case READ_JSON:
		r = mapio_parse_json(res->data, res->len, f->reader_max, &f->items, why, sizeof(why));
		break;
	case READ_JSONL:
		r = mapio_parse_jsonl(res->data, res->len, f->reader_max, &f->items, why,
				      sizeof(why));
		break;
	default: {
		struct mapio_csv_opts o = MAPIO_CSV_OPTS_INIT;
		const char *loc = json_string_value(json_object_get(rc, "CSVHeaderLocation"));
		const char *dl = json_string_value(json_object_get(rc, "CSVDelimiter"));

		if (loc && !strcmp(loc, "GIVEN"))
			o.headers = json_object_get(rc, "CSVHeaders");
		if (dl)
			o.delimiter = mapio_csv_delimiter(dl);
		r = mapio_parse_csv(res->data, res->len, &o, f->reader_max, &f->items, why,
				    sizeof(why));
		break;
	}
	}
	if (r < 0) {
		run_fail(f, ASL_E_ITEMREADER, "%s", r == -ENOMEM ? "out of memory" : why);
		frame_end(f);
		return;
	}
	f->n = json_array_size(f->items);
	if (frame_prepare(a, f, f->eff, &err) < 0) {
		f->failing = true;
		f->err = err;
		f->err_has_error = f->err_has_cause = true;
		frame_end(f);
		return;
	}
	frame_pump(f);
}

/*
 * Start the ItemReader of the Map state @f (after MapRunStarted): its
 * Parameters/Arguments name the bucket and key (or prefix), ReaderConfig
 * the format and MaxItems(Path). A failure fails the Map Run (frame_end).
 */
static void reader_start(struct act *a, struct frame *f, json_t *eff)
{
	const struct asl_state *s = f->s;
	json_t *ir = s->item_reader, *rc = json_object_get(ir, "ReaderConfig"), *p = NULL;
	const char *res = json_string_value(json_object_get(ir, "Resource"));
	const char *type = json_string_value(json_object_get(rc, "InputType"));
	struct asl_s3_req req = { 0 };
	struct asl_err err;
	long max = 0;
	char msg[512];
	int r;

	/* MaxItems / MaxItemsPath (JSONata: MaxItems may be an expression) */
	if (s->ja_reader_max_items) {
		json_t *b = ja_bindings(a, a->input, NULL, NULL, NULL, NULL);
		double d = 0;

		r = b ? ja_number(a, s->ja_reader_max_items, b, true, &d, &err)
		      : asl_err_set(&err, ASL_E_RUNTIME, "out of memory");
		json_decref(b);
		if (r < 0)
			goto fail_err;
		max = (long)d;
	} else if (s->reader_max_items_path.c) {
		if (path_number(a, a->input, &s->reader_max_items_path, "MaxItemsPath", true, &max,
				NULL, &err) < 0)
			goto fail_err;
	} else if (json_is_integer(json_object_get(rc, "MaxItems"))) {
		max = (long)json_integer_value(json_object_get(rc, "MaxItems"));
	}
	if (max < 0) {
		run_fail(f, ASL_E_ITEMREADER, "field MaxItems must be positive");
		goto fail;
	}
	f->reader_max = max > 100000000 ? 0 : (size_t)max;
	/* where */
	if (io_args(a, s->ja_reader_args, &s->reader_params, eff, &p, &err) < 0)
		goto fail_err;
	req.bucket = io_arg_str(f, ASL_E_ITEMREADER, "ItemReader", p, "Bucket");
	if (!req.bucket)
		goto fail;
	if (res && !strcmp(res, "arn:aws:states:::s3:listObjectsV2")) {
		f->reader_kind = READ_LIST;
		req.kind = ASL_S3_LIST;
		req.prefix = param_str(p, "Prefix");
		req.max_items = f->reader_max;
	} else if (res && !strcmp(res, "arn:aws:states:::s3:getObject")) {
		req.kind = ASL_S3_GET;
		req.key = io_arg_str(f, ASL_E_ITEMREADER, "ItemReader", p, "Key");
		if (!req.key)
			goto fail;
		if (type && !strcmp(type, "CSV")) {
			f->reader_kind = READ_CSV;
		} else if (type && !strcmp(type, "JSON")) {
			f->reader_kind = READ_JSON;
		} else if (type && !strcmp(type, "JSONL")) {
			f->reader_kind = READ_JSONL;
		} else {
			run_fail(f, ASL_E_ITEMREADER,
				 "ReaderConfig InputType '%s' is not supported here (CSV, JSON, "
				 "JSONL)", type ? type : "(none)");
			goto fail;
		}
		if (f->reader_kind == READ_CSV) {
			const char *dl = json_string_value(json_object_get(rc, "CSVDelimiter"));

			if (dl && !mapio_csv_delimiter(dl)) {
				run_fail(f, ASL_E_ITEMREADER,
					 "ReaderConfig CSVDelimiter '%s' is not one of COMMA, PIPE, "
					 "SEMICOLON, SPACE, TAB", dl);
				goto fail;
			}
		}
	} else {
		run_fail(f, ASL_E_ITEMREADER, "ItemReader Resource '%s' is not supported "
			 "(arn:aws:states:::s3:getObject, arn:aws:states:::s3:listObjectsV2)",
			 res ? res : "(none)");
		goto fail;
	}
	if (!f->eng->has_s3) {
		run_fail(f, ASL_E_ITEMREADER, "no object store is configured for bucket '%s'",
			 req.bucket);
		goto fail;
	}
	msg[0] = '\0';
	if (f->eng->s3.start(f->eng->s3.arg, f->eng->loop, &req, reader_done, f, &f->io, msg,
			     sizeof(msg)) < 0) {
		run_fail(f, ASL_E_ITEMREADER, "%s", msg[0] ? msg : "cannot start the read");
		goto fail;
	}
	json_decref(p);
	return;
fail_err:
	f->err = err;
	f->failing = true;
	f->err_has_error = f->err_has_cause = true;
fail:
	json_decref(p);
	frame_end(f);
}

/* ResultWriter: put the next queued file, or finish. */
static void writer_next(struct frame *f);

static void writer_done(void *arg, const struct asl_s3_result *res, const char *cause)
{
	struct frame *f = arg;

	f->io = NULL;
	if (!res) {
		run_fail(f, ASL_E_RESULTWRITER, "%s", cause ? cause : "the results could not be written");
		f->writing = false;
		f->written = true;
		frame_end(f);
		return;
	}
	json_array_remove(f->w_queue, 0);
	writer_next(f);
}

static void writer_next(struct frame *f)
{
	json_t *next = json_array_get(f->w_queue, 0);
	struct asl_s3_req req = { 0 };
	char msg[512];

	if (!next) {
		json_decref(f->results);
		f->results = json_pack("{s:s,s:{s:s,s:s}}", "MapRunArn", f->run_arn,
				       "ResultWriterDetails", "Bucket", f->w_bucket, "Key",
				       f->w_manifest);
		f->writing = false;
		f->written = true;
		if (!f->results)
			run_fail(f, ASL_E_RUNTIME, "out of memory");
		frame_end(f);
		return;
	}
	req.kind = ASL_S3_PUT;
	req.bucket = f->w_bucket;
	req.key = json_string_value(json_object_get(next, "Key"));
	req.body = json_string_value(json_object_get(next, "Body"));
	req.len = json_string_length(json_object_get(next, "Body"));
	msg[0] = '\0';
	if (f->eng->s3.start(f->eng->s3.arg, f->eng->loop, &req, writer_done, f, &f->io, msg,
			     sizeof(msg)) < 0) {
		run_fail(f, ASL_E_RESULTWRITER, "%s", msg[0] ? msg : "cannot start the write");
		f->writing = false;
		f->written = true;
		frame_end(f);
	}
}

/* One exported child execution, as AWS's SUCCEEDED_n.json / FAILED_n.json hold them. */
static json_t *writer_record(struct frame *f, size_t i)
{
	struct act *a = f->owner;
	const char *label = f->s->label ? f->s->label : f->s->name;
	uint64_t bits[2];
	char uuid[40], *earn = NULL, *smarn = NULL;
	json_t *r, *res = json_array_get(f->results, i);
	char *in = asl_json_dumps(json_array_get(f->w_inputs, i)), *out = NULL;

	bits[0] = rng_next(f->eng);
	bits[1] = rng_next(f->eng);
	fmt_uuid(bits, uuid, sizeof(uuid));
	if (asprintf(&earn, "arn:aws:states:local:000000000000:execution:%s/%s:%s", a->x->m->name,
		     label, uuid) < 0)
		earn = NULL;
	if (asprintf(&smarn, "arn:aws:states:local:000000000000:stateMachine:%s/%s",
		     a->x->m->name, label) < 0)
		smarn = NULL;
	r = json_pack("{s:s?,s:s?,s:{s:b},s:s,s:i,s:s,s:s?,s:s,s:O,s:O}", "ExecutionArn", earn,
		      "Input", in, "InputDetails", "Included", 1, "Name", uuid, "RedriveCount", 0,
		      "RedriveStatus", "NOT_REDRIVABLE", "StateMachineArn", smarn, "Status",
		      f->w_failed[i] ? "FAILED" : "SUCCEEDED", "StartDate",
		      json_array_get(f->w_start, i), "StopDate", json_array_get(f->w_stop, i));
	if (r && f->w_failed[i]) {
		json_object_set(r, "Error", json_object_get(res, "Error"));
		json_object_set(r, "Cause", json_object_get(res, "Cause"));
	} else if (r) {
		out = asl_json_dumps(res);
		json_object_set_new(r, "Output", json_string(out ? out : "null"));
		json_object_set_new(r, "OutputDetails", json_pack("{s:b}", "Included", 1));
	}
	free(in);
	free(out);
	free(earn);
	free(smarn);
	return r;
}

enum { WT_NONE = 0, WT_COMPACT, WT_FLATTEN };

/*
 * WriterConfig.Transformation: NONE (the child execution records), COMPACT
 * (their outputs), FLATTEN (outputs, arrays spliced in); a failed execution
 * stays a record whatever the setting, as AWS documents. The default is
 * NONE when results are exported (Resource given), else COMPACT.
 */
static int writer_transformation(const struct asl_state *s)
{
	json_t *wc = json_object_get(s->result_writer, "WriterConfig");
	const char *t = json_string_value(json_object_get(wc, "Transformation"));

	if (t && !strcmp(t, "COMPACT"))
		return WT_COMPACT;
	if (t && !strcmp(t, "FLATTEN"))
		return WT_FLATTEN;
	if (t && !strcmp(t, "NONE"))
		return WT_NONE;
	return json_object_get(s->result_writer, "Resource") ? WT_NONE : WT_COMPACT;
}

/* Append the entry of iteration @i to @out as @how says. */
static void writer_append(struct frame *f, int how, size_t i, json_t *out)
{
	json_t *res = json_array_get(f->results, i), *v;
	size_t j;

	if (how == WT_NONE || f->w_failed[i]) {
		json_array_append_new(out, writer_record(f, i));
	} else if (how == WT_FLATTEN && json_is_array(res)) {
		json_array_foreach(res, j, v)
			json_array_append(out, v);
	} else {
		json_array_append(out, res);
	}
}

/* The body of a results file: a JSON array, or JSON Lines (OutputType JSONL). */
static char *writer_body(const struct asl_state *s, json_t *items)
{
	json_t *wc = json_object_get(s->result_writer, "WriterConfig"), *v;
	const char *ot = json_string_value(json_object_get(wc, "OutputType"));
	struct buf b;
	size_t i;

	if (!ot || strcmp(ot, "JSONL"))
		return asl_json_dumps(items);
	buf_init(&b, BUF_CAP_DEFAULT * 64);
	json_array_foreach(items, i, v) {
		char *t = asl_json_dumps(v);

		if (!t || buf_puts(&b, t) < 0 || buf_putc(&b, '\n') < 0) {
			free(t);
			buf_release(&b);
			return NULL;
		}
		free(t);
	}
	return buf_detach(&b, NULL);
}

/*
 * ResultWriter (s3:putObject): the Map Run's child executions go to
 * <Prefix>/<run uuid>/SUCCEEDED_0.json and FAILED_0.json (JSON arrays, only
 * when there are such executions), then manifest.json lists them; the Map's
 * output becomes {MapRunArn, ResultWriterDetails: {Bucket, Key}}. 0 when the
 * writes started, -1 when it failed at once (f->failing set).
 */
static int writer_start(struct frame *f)
{
	struct act *a = f->owner;
	const struct asl_state *s = f->s;
	const char *res = json_string_value(json_object_get(s->result_writer, "Resource"));
	json_t *p = NULL, *files[2] = { NULL, NULL }, *manifest = NULL;
	const char *names[2] = { "SUCCEEDED", "FAILED" };
	const char *bucket, *prefix;
	struct asl_err err;
	char *base = NULL;
	size_t i, plen;
	int k;

	f->writing = true;
	if (!res && json_object_get(s->result_writer, "WriterConfig")) {
		/* WriterConfig alone: the output is formatted, nothing is exported */
		json_t *out = json_array();
		int how = writer_transformation(s);

		for (i = 0; out && i < f->n; i++)
			writer_append(f, how, i, out);
		if (!out) {
			run_fail(f, ASL_E_RUNTIME, "out of memory");
			goto fail;
		}
		json_decref(f->results);
		f->results = out;
		f->writing = false;
		f->written = true;
		return -1; /* nothing to wait for: frame_end() goes on */
	}
	if (io_args(a, s->ja_writer_args, &s->writer_params, f->eff, &p, &err) < 0) {
		f->err = err;
		f->failing = true;
		f->err_has_error = f->err_has_cause = true;
		goto fail;
	}
	if (!res || strcmp(res, "arn:aws:states:::s3:putObject")) {
		run_fail(f, ASL_E_RESULTWRITER,
			 "ResultWriter Resource '%s' is not supported (arn:aws:states:::s3:putObject)",
			 res ? res : "(none)");
		goto fail;
	}
	bucket = io_arg_str(f, ASL_E_RESULTWRITER, "ResultWriter", p, "Bucket");
	prefix = param_str(p, "Prefix");
	if (!bucket)
		goto fail;
	if (!f->eng->has_s3) {
		run_fail(f, ASL_E_RESULTWRITER, "no object store is configured for bucket '%s'",
			 bucket);
		goto fail;
	}
	plen = prefix ? strlen(prefix) : 0;
	while (plen && prefix[plen - 1] == '/')
		plen--;
	if (asprintf(&base, "%.*s%s%s/", (int)plen, prefix ? prefix : "", plen ? "/" : "",
		     f->run_uuid) < 0) {
		base = NULL;
		run_fail(f, ASL_E_RUNTIME, "out of memory");
		goto fail;
	}
	f->w_bucket = strdup(bucket);
	f->w_queue = json_array();
	manifest = json_pack("{s:s,s:s,s:{s:[],s:[],s:[]}}", "DestinationBucket", bucket,
			     "MapRunArn", f->run_arn, "ResultFiles", "FAILED", "PENDING",
			     "SUCCEEDED");
	files[0] = json_array();
	files[1] = json_array();
	if (!f->w_bucket || !f->w_queue || !manifest || !files[0] || !files[1] ||
	    asprintf(&f->w_manifest, "%smanifest.json", base) < 0) {
		f->w_manifest = NULL;
		run_fail(f, ASL_E_RUNTIME, "out of memory");
		goto fail;
	}
	for (i = 0; i < f->n; i++)
		writer_append(f, writer_transformation(s), i, files[f->w_failed[i] ? 1 : 0]);
	for (k = 0; k < 2; k++) {
		char *key = NULL, *body;

		if (!json_array_size(files[k]))
			continue;
		body = writer_body(s, files[k]);
		if (!body || asprintf(&key, "%s%s_0.json", base, names[k]) < 0) {
			free(body);
			run_fail(f, ASL_E_RUNTIME, "out of memory");
			goto fail;
		}
		json_array_append_new(json_object_get(json_object_get(manifest, "ResultFiles"),
						      names[k]),
				      json_pack("{s:s,s:I}", "Key", key, "Size",
						(json_int_t)strlen(body)));
		json_array_append_new(f->w_queue, json_pack("{s:s,s:s}", "Key", key, "Body", body));
		free(key);
		free(body);
	}
	{
		char *body = asl_json_dumps(manifest);

		if (!body) {
			run_fail(f, ASL_E_RUNTIME, "out of memory");
			goto fail;
		}
		json_array_append_new(f->w_queue,
				      json_pack("{s:s,s:s}", "Key", f->w_manifest, "Body", body));
		free(body);
	}
	json_decref(files[0]);
	json_decref(files[1]);
	json_decref(manifest);
	json_decref(p);
	free(base);
	writer_next(f);
	return 0;
fail:
	f->writing = false;
	f->written = true;
	json_decref(files[0]);
	json_decref(files[1]);
	json_decref(manifest);
	json_decref(p);
	free(base);
	return -1;
}

static int frame_start(struct act *a, json_t *eff)
{
	const struct asl_state *s = cur_state(a);
	bool map = s->type == ASL_ST_MAP;
	bool reader = map && s->item_reader;
	struct asl_err err;
	struct frame *f;

	f = calloc(1, sizeof(*f));
	if (!f)
		return act_fail(a, ASL_E_RUNTIME, "out of memory");
	f->owner = a;
	f->s = s;
	f->eng = a->x->e;
	f->eff = json_incref(eff);
	if (map) {
		if (reader) {
			/* the items come from the object store, after MapRunStarted */
		} else if (s->jsonata) {
			if (ja_map_items(a, f, eff, &err) < 0)
				goto fail_rt;
		} else if (eval_path(a, &s->items_path, eff, &f->items, &err) < 0) {
			goto fail_rt;
		}
		if (!reader && !json_is_array(f->items)) {
			char *t = asl_json_dumps(f->items);

			rt_err(a, &err, ASL_E_RUNTIME, "Map state input must be an array but was: %s",
			       t ? t : "");
			free(t);
			goto fail_rt;
		}
		f->n = reader ? 0 : json_array_size(f->items);
		f->distributed = s->distributed || reader;
		f->max_conc = s->max_concurrency;
		f->has_tol_count = s->has_tol_count;
		f->tol_count = s->tol_count;
		f->has_tol_pct = s->has_tol_pct;
		f->tol_pct = s->tol_pct;
	} else {
		f->n = s->nbranches;
	}
	if (map && s->max_concurrency_path.c &&
	    path_number(a, a->input, &s->max_concurrency_path, "MaxConcurrencyPath", true,
			&f->max_conc, NULL, &err) < 0)
		goto fail_rt;
	if (map && (s->ja_max_conc || s->ja_tol_count || s->ja_tol_pct) &&
	    ja_map_limits(a, f, &err) < 0)
		goto fail_rt;
	if (a->x->want_events && map)
		emit(a, "MapStateStarted", "mapStateStartedEventDetails",
		     json_pack("{s:I}", "length", (json_int_t)f->n), true);
	else
		emit(a, map ? "MapStateStarted" : "ParallelStateStarted", NULL, NULL, true);
	if (map) {
		if (s->tol_count_path.c) {
			if (path_number(a, a->input, &s->tol_count_path, "ToleratedFailureCountPath",
					true, &f->tol_count, NULL, &err) < 0)
				goto fail_rt;
			f->has_tol_count = true;
		}
		if (f->has_tol_count && f->tol_count < 0) {
			rt_err(a, &err, ASL_E_RUNTIME, "ToleratedFailureCount cannot be negative.");
			goto fail_rt;
		}
		if (s->tol_pct_path.c) {
			if (path_number(a, a->input, &s->tol_pct_path,
					"ToleratedFailurePercentagePath", false, NULL, &f->tol_pct,
					&err) < 0)
				goto fail_rt;
			f->has_tol_pct = true;
		}
		if (f->has_tol_pct && (f->tol_pct < 0 || f->tol_pct > 100)) {
			rt_err(a, &err, ASL_E_RUNTIME,
			       "ToleratedFailurePercentage must be between 0 and 100.");
			goto fail_rt;
		}
		if (f->max_conc < 0) {
			rt_err(a, &err, ASL_E_RUNTIME, "MaxConcurrency cannot be negative.");
			goto fail_rt;
		}
	}
	if (!reader && frame_prepare(a, f, eff, &err) < 0)
		goto fail_rt;
	if (f->distributed) {
		const char *label = s->label ? s->label : s->name;
		uint64_t bits[2];
		json_t *d = NULL;

		bits[0] = rng_next(a->x->e);
		bits[1] = rng_next(a->x->e);
		fmt_uuid(bits, f->run_uuid, sizeof(f->run_uuid));
		if (asprintf(&f->run_arn, "arn:aws:states:local:000000000000:mapRun:%s/%s:%s",
			     a->x->m->name, label, f->run_uuid) < 0)
			f->run_arn = NULL;
		if (a->x->want_events && f->run_arn)
			d = json_pack("{s:s}", "mapRunArn", f->run_arn);
		emit(a, "MapRunStarted", d ? "mapRunStartedEventDetails" : NULL, d, true);
	}
	a->child = f;
	if (reader)
		reader_start(a, f, eff);
	else
		frame_pump(f);
	return R_WAIT;
fail_rt:
	frame_free(f);
	return state_error(a, &err, false);
}

static void frame_free(struct frame *f)
{
	if (!f)
		return;
	if (f->io && f->eng && f->eng->has_s3)
		f->eng->s3.cancel(f->eng->s3.arg, f->io);
	json_decref(f->eff);
	json_decref(f->items);
	json_decref(f->batch_input);
	json_decref(f->results);
	json_decref(f->w_inputs);
	json_decref(f->w_start);
	json_decref(f->w_stop);
	json_decref(f->w_queue);
	free(f->w_failed);
	free(f->w_bucket);
	free(f->w_manifest);
	free(f->run_arn);
	free(f->kids);
	free(f->bounds);
	free(f);
}

/* ------------------------------------------------------------ the driver */

/* One attempt of the current state (re-run on Retry without a new Entered event). */
static int exec_attempt(struct act *a)
{
	const struct asl_state *s = cur_state(a);
	json_t *eff = NULL, *p = NULL, *result, *assigned = NULL, *out = NULL;
	struct asl_err err;
	int rc;

	token_free(a, "CLOSED"); /* a token is valid for one attempt */
	if (s->jsonata)
		return ja_attempt(a);
	if (s->type == ASL_ST_FAIL)
		return exec_fail(a);
	if (eval_path(a, &s->input_path, a->input, &eff, &err) < 0)
		return state_error(a, &err, false);
	if (s->parameters.c) {
		if (eval_template(a, &s->parameters, eff, "Parameters", &p, &err) < 0) {
			json_decref(eff);
			return state_error(a, &err, false);
		}
		json_decref(eff);
		eff = p;
	}
	switch (s->type) {
	case ASL_ST_PASS:
		result = s->result ? json_incref(s->result) : json_incref(eff);
		json_decref(eff);
		if (!s->result_selector.c && s->result_path.kind != ASL_P_EXPR &&
		    s->output_path.kind != ASL_P_EXPR && !s->assign.c) {
			/* fast path: no pipeline after the result */
			if (s->result_path.kind == ASL_P_NULL) {
				json_decref(result);
				result = json_incref(a->input);
			}
			if (s->output_path.kind == ASL_P_NULL) {
				json_decref(result);
				result = json_object();
			}
			return leave(a, result, NULL, s->next, s->end);
		}
		return state_result(a, result);
	case ASL_ST_SUCCEED:
		if (eval_path(a, &s->output_path, eff, &out, &err) < 0) {
			json_decref(eff);
			return state_error(a, &err, false);
		}
		json_decref(eff);
		return leave(a, out, NULL, -1, true);
	case ASL_ST_CHOICE:
		rc = exec_choice(a, eff);
		json_decref(eff);
		return rc;
	case ASL_ST_WAIT:
		rc = exec_wait(a, eff);
		json_decref(eff);
		return rc;
	case ASL_ST_TASK:
		rc = task_start(a, eff);
		json_decref(eff);
		return rc;
	case ASL_ST_PARALLEL:
	case ASL_ST_MAP:
		rc = frame_start(a, eff);
		json_decref(eff);
		return rc;
	default:
		break;
	}
	json_decref(eff);
	json_decref(assigned);
	return act_fail(a, ASL_E_RUNTIME, "unknown state type");
}

static int exec_state(struct act *a)
{
	struct asl_execution *x = a->x;

	if (x->capped)
		return fail_capped(a);
	if (reset_visit(a) < 0)
		return act_fail(a, ASL_E_RUNTIME, "out of memory");
	a->resumed_visit = false;
	if (cur_state(a)->needs_ctx || x->want_events)
		asl_now(&a->entered);
	if (a->cursor == 0 && x->nevents == 1 && !a->frame)
		a->cursor = 0; /* the first state entered points at 0, as AWS does */
	emit_entered(a);
	if (x->capped)
		return exec_state(a);
	return exec_attempt(a);
}

static void act_end(struct act *a)
{
	struct asl_execution *x = a->x;

	if (a->frame) {
		frame_child_done(a);
		return;
	}
	/* the root activity */
	if (a->failed)
		exec_finish(x, ASL_FAILED, NULL, a->err_has_error ? a->err.error : NULL,
			    a->err_has_cause ? a->err.cause : NULL);
	else
		exec_finish(x, ASL_SUCCEEDED, a->output, NULL, NULL);
}

static void act_drive(struct act *a, int rc)
{
	a->running = true;
	for (;;) {
		if (rc == R_NEXT) {
			rc = exec_state(a);
			continue;
		}
		if (rc == R_ATTEMPT) {
			rc = exec_attempt(a);
			continue;
		}
		if (rc == R_WAIT && a->sync_rc != R_NONE) {
			rc = a->sync_rc;
			a->sync_rc = R_NONE;
			continue;
		}
		break;
	}
	a->running = false;
	if (rc == R_END)
		act_end(a); /* may free @a and the execution: return at once */
}

static void act_cancel(struct act *a)
{
	act_stop_task(a);
	token_drop(a, "CLOSED");
	if (a->child) {
		struct frame *f = a->child;
		size_t i;

		for (i = 0; i < f->n; i++) {
			if (f->kids[i]) {
				act_cancel(f->kids[i]);
				act_free(f->kids[i]);
				f->kids[i] = NULL;
			}
		}
		frame_free(f);
		a->child = NULL;
	}
}

static void act_free(struct act *a)
{
	if (!a)
		return;
	json_decref(a->input);
	json_decref(a->eff);
	json_decref(a->vars);
	json_decref(a->output);
	json_decref(a->wait_out);
	json_decref(a->wait_assigned);
	json_decref(a->early_out);
	token_free(a, "CLOSED");
	free(a->early_error);
	free(a->early_cause);
	free(a->retry_more);
	free(a);
}

/* ------------------------------------------------------------- executions */

static void exec_finish(struct asl_execution *x, enum asl_status st, json_t *output,
			const char *error, const char *cause)
{
	struct act *root = x->root;
	void (*hook)(void *arg);
	void *hook_arg;
	json_t *d = NULL;

	if (x->timeout_timer) {
		loop_timer_cancel(x->e->loop, x->timeout_timer);
		x->timeout_timer = NULL;
	}
	x->status = st;
	if (st == ASL_SUCCEEDED && over_limit(x, output)) {
		st = x->status = ASL_FAILED;
		output = NULL;
		error = ASL_E_DATALIMIT;
		cause = "The state/task 'Execution' returned a result with a size exceeding the "
			"maximum number of bytes service limit.";
	}
	if (x->capped && st == ASL_FAILED)
		x->capped = false; /* the failure is the cap-th event */
	x->output = output ? json_incref(output) : NULL;
	x->error = error ? strdup(error) : NULL;
	x->cause = cause ? strdup(cause) : NULL;
	asl_now(&x->stop);
	switch (st) {
	case ASL_SUCCEEDED:
		if (x->want_events)
			d = io_details("output", output);
		emit(root, "ExecutionSucceeded", "executionSucceededEventDetails", d, true);
		break;
	case ASL_FAILED:
		if (x->want_events)
			d = err_details(error, cause);
		emit(root, "ExecutionFailed", "executionFailedEventDetails", d, true);
		break;
	case ASL_TIMED_OUT:
		if (x->want_events)
			d = err_details(error, cause);
		emit(root, "ExecutionTimedOut", "executionTimedOutEventDetails", d, true);
		break;
	case ASL_ABORTED:
		if (x->want_events)
			d = err_details(error, cause);
		root->cursor = 0;
		emit(root, "ExecutionAborted", "executionAbortedEventDetails", d, true);
		break;
	default:
		break;
	}
	x->root = NULL;
	act_cancel(root);
	act_free(root);
	hook = x->sync_hook;
	hook_arg = x->sync_arg;
	if (x->opts.on_done)
		x->opts.on_done(x->opts.arg, x, x->status, x->output, x->error, x->cause);
	if (hook)
		hook(hook_arg);
}

static void timeout_fn(void *arg)
{
	struct asl_execution *x = arg;

	x->timeout_timer = NULL;
	if (x->status == ASL_RUNNING && x->root)
		exec_finish(x, ASL_TIMED_OUT, NULL, ASL_E_TIMEOUT, NULL);
}

struct asl_engine *asl_engine_new(struct loop *loop, const struct asl_task_ops *tasks)
{
	struct asl_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->loop = loop;
	{
		struct timespec ts;
		FILE *f = fopen("/dev/urandom", "re");

		if (!f || fread(&e->rng, sizeof(e->rng), 1, f) != 1) {
			clock_gettime(CLOCK_REALTIME, &ts);
			e->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
		}
		if (f)
			fclose(f);
		e->rng |= 1;
	}
	if (tasks && tasks->start) {
		e->tasks = *tasks;
		e->has_tasks = true;
	}
	return e;
}

void asl_engine_set_s3(struct asl_engine *e, const struct asl_s3_ops *ops)
{
	e->has_s3 = ops && ops->start;
	if (e->has_s3)
		e->s3 = *ops;
}

struct loop *asl_engine_loop(struct asl_engine *e)
{
	return e->loop;
}

static void exec_unlink(struct asl_execution *x)
{
	if (!x->e)
		return;
	if (x->prev)
		x->prev->next = x->next;
	else
		x->e->list = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	x->e = NULL;
}

void asl_engine_free(struct asl_engine *e)
{
	if (!e)
		return;
	while (e->list) {
		struct asl_execution *x = e->list;

		if (x->root) {
			act_cancel(x->root);
			act_free(x->root);
			x->root = NULL;
		}
		if (x->timeout_timer) {
			loop_timer_cancel(e->loop, x->timeout_timer);
			x->timeout_timer = NULL;
		}
		exec_unlink(x);
	}
	free(e);
}

static uint64_t rng_next(struct asl_engine *e)
{
	/* xorshift64*: names only need to be unique, not secret */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 2685821657736338717ULL;
}

static struct asl_execution *exec_new(struct asl_engine *e, struct asl_machine *m,
				      json_t *input, const struct asl_exec_opts *opts)
{
	struct asl_exec_opts dflt = ASL_EXEC_OPTS_INIT;
	struct asl_execution *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->opts = opts ? *opts : dflt;
	x->opts.name = NULL;
	x->opts.role_arn = NULL;
	if (x->opts.wait_scale < 0)
		x->opts.wait_scale = 0;
	x->e = e;
	x->m = asl_machine_ref(m);
	if (opts && opts->name) {
		x->name = strdup(opts->name);
		if (!x->name)
			goto fail;
	} else {
		x->id_bits[0] = rng_next(e);
		x->id_bits[1] = rng_next(e);
	}
	x->id_bits[2] = rng_next(e);
	x->id_bits[3] = rng_next(e);
	if (opts && opts->role_arn) {
		x->role_arn = x->role_arn_owned = strdup(opts->role_arn);
		if (!x->role_arn)
			goto fail;
	} else {
		x->role_arn = "arn:aws:iam::000000000000:role/stepfs";
	}
	x->input = input ? json_incref(input) : json_object();
	x->want_events = x->opts.record_history || x->opts.on_event;
	if (x->opts.record_history)
		x->history = json_array();
	if (!x->input || (x->opts.record_history && !x->history))
		goto fail;
	asl_now(&x->start);
	x->next = e->list;
	if (e->list)
		e->list->prev = x;
	e->list = x;
	return x;
fail:
	x->e = NULL;
	asl_execution_free(x);
	return NULL;
}

int asl_execution_start(struct asl_engine *e, struct asl_machine *m, json_t *input,
			const struct asl_exec_opts *opts, struct asl_execution **ret)
{
	struct asl_execution *x;
	json_t *d = NULL;
	size_t lim = opts ? opts->payload_limit : ASL_PAYLOAD_LIMIT;

	if (input && lim && asl_json_size(input, lim) > lim)
		return -E2BIG;
	x = exec_new(e, m, input, opts);
	if (!x)
		return -ENOMEM;
	x->root = act_new(x, m->top, x->input, NULL, NULL, 0);
	if (!x->root) {
		asl_execution_free(x);
		return -ENOMEM;
	}
	*ret = x;
	if (x->want_events) {
		d = io_details("input", x->input);
		if (d)
			json_object_set_new(d, "roleArn", json_string(x->role_arn));
	}
	emit(x->root, "ExecutionStarted", "executionStartedEventDetails", d, false);
	if (m->timeout_s > 0)
		x->timeout_timer = loop_timer_add(e->loop, secs_to_ms(m->timeout_s),
						  timeout_fn, x);
	act_drive(x->root, R_NEXT);
	return 0;
}

void asl_execution_stop(struct asl_execution *x, const char *error, const char *cause)
{
	if (!x || x->status != ASL_RUNNING || !x->root)
		return;
	exec_finish(x, ASL_ABORTED, NULL, error, cause);
}

void asl_execution_free(struct asl_execution *x)
{
	if (!x)
		return;
	if (x->root) {
		act_cancel(x->root);
		act_free(x->root);
	}
	if (x->timeout_timer && x->e)
		loop_timer_cancel(x->e->loop, x->timeout_timer);
	exec_unlink(x);
	asl_machine_unref(x->m);
	json_decref(x->input);
	json_decref(x->output);
	json_decref(x->history);
	json_decref(x->ctx_exec);
	json_decref(x->ctx_machine);
	free(x->name);
	free(x->arn);
	free(x->role_arn_owned);
	free(x->error);
	free(x->cause);
	free(x);
}

enum asl_status asl_execution_status(const struct asl_execution *x)
{
	return x->status;
}

json_t *asl_execution_output(const struct asl_execution *x)
{
	return x->status == ASL_SUCCEEDED ? x->output : NULL;
}

const char *asl_execution_error(const struct asl_execution *x)
{
	return x->error;
}

const char *asl_execution_cause(const struct asl_execution *x)
{
	return x->cause;
}

const char *asl_execution_name(const struct asl_execution *x)
{
	exec_ids(x);
	return x->name ? x->name : "";
}

const char *asl_execution_arn(const struct asl_execution *x)
{
	exec_ids(x);
	return x->arn ? x->arn : "";
}

json_t *asl_execution_input(const struct asl_execution *x)
{
	return x->input;
}

struct asl_machine *asl_execution_machine(const struct asl_execution *x)
{
	return x->m;
}

struct timespec asl_execution_start_time(const struct asl_execution *x)
{
	return x->start;
}

struct timespec asl_execution_stop_time(const struct asl_execution *x)
{
	return x->stop;
}

unsigned asl_execution_event_count(const struct asl_execution *x)
{
	return x->nevents;
}

json_t *asl_execution_history(const struct asl_execution *x)
{
	/* a shallow copy: the caller may change the array, never the shared events */
	return x->history ? json_copy(x->history) : NULL;
}

struct sync_ctx {
	struct loop *loop;
	bool done;
};

static void sync_hook(void *arg)
{
	struct sync_ctx *c = arg;

	c->done = true;
	loop_stop(c->loop);
}

int asl_execution_run_sync(struct asl_engine *e, struct asl_machine *m, json_t *input,
			   const struct asl_exec_opts *opts, struct asl_execution **ret)
{
	struct sync_ctx c = { e->loop, false };
	struct asl_execution *x;
	int r;

	r = asl_execution_start(e, m, input, opts, &x);
	if (r < 0)
		return r;
	if (x->status == ASL_RUNNING) {
		x->sync_hook = sync_hook;
		x->sync_arg = &c;
		while (!c.done) {
			loop_run(e->loop);
			if (!c.done && x->status == ASL_RUNNING) {
				/* nothing left to wait for: a task runner lost its done() */
				exec_finish(x, ASL_FAILED, NULL, ASL_E_RUNTIME,
					    "the execution stalled with nothing left to wait for");
			}
		}
		x->sync_hook = NULL;
	}
	*ret = x;
	return 0;
}

/* ------------------------------------------------------------------ resume */

/* An event's detail value: the engine journals JSON text; accept parsed JSON too. */
static json_t *detail_json(json_t *ev, const char *dkey, const char *key)
{
	json_t *v = json_object_get(json_object_get(ev, dkey), key);

	if (json_is_string(v))
		return json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
	return v ? json_incref(v) : NULL;
}

static int top_state(const struct asl_machine *m, const char *name)
{
	size_t i;

	for (i = 0; name && i < m->top->nstates; i++)
		if (!strcmp(m->top->states[i].name, name))
			return (int)i;
	return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static bool is_failure_event(const char *type)
{
	return strncmp(type, "MapIteration", 12) != 0 &&
	       (ends_with(type, "Failed") || ends_with(type, "TimedOut"));
}

/* Apply the assignedVariables of an Exited event to @vars. */
static int apply_assigned(json_t *vars, json_t *ev)
{
	json_t *av = json_object_get(json_object_get(ev, "stateExitedEventDetails"),
				     "assignedVariables");
	const char *k;
	json_t *v;

	json_object_foreach(av, k, v) {
		json_t *val = json_is_string(v) ? json_loads(json_string_value(v), JSON_DECODE_ANY,
							     NULL) : json_incref(v);

		if (!val || json_object_set_new(vars, k, val) < 0)
			return -1;
	}
	return 0;
}

int asl_execution_resume(struct asl_engine *e, struct asl_machine *m, json_t *events,
			 const struct asl_exec_opts *opts, struct asl_execution **ret,
			 struct asl_err *err)
{
	size_t n = json_array_size(events), i;
	json_t *first = json_array_get(events, 0), *last = json_array_get(events, n ? n - 1 : 0);
	json_t *input = NULL, *vars = NULL, *vars_before = NULL, *state_input = NULL;
	json_t *exit_output = NULL;
	const char *ltype, *ts;
	struct asl_execution *x = NULL;
	struct timespec entered = { 0, 0 };
	json_int_t last_id = 0;
	int cur = -1, rc;
	bool open = false, failed_in_visit = false;
	unsigned entered_id = 0, entered_prev = 0;
	struct act *a;

	if (!json_is_array(events) || !n ||
	    strcmp(json_string_value(json_object_get(first, "type")) ?: "", "ExecutionStarted")) {
		asl_err_set(err, ASL_E_RUNTIME, "the history does not start with ExecutionStarted");
		return -EINVAL;
	}
	if (opts && opts->type == ASL_EXPRESS) {
		asl_err_set(err, ASL_E_RUNTIME, "Express executions cannot be resumed");
		return -EINVAL;
	}
	last_id = json_integer_value(json_object_get(first, "id"));
	input = detail_json(first, "executionStartedEventDetails", "input");
	vars = json_object();
	if (!input || !vars) {
		asl_err_set(err, ASL_E_RUNTIME, "the ExecutionStarted event has no readable input");
		rc = -EINVAL;
		goto out;
	}
	/* walk the top-level state events (names are unique across the machine) */
	for (i = 1; i < n; i++) {
		json_t *ev = json_array_get(events, i);
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_int_t id = json_integer_value(json_object_get(ev, "id"));
		const char *name;
		int si;

		if (id > last_id)
			last_id = id;
		if (!type)
			continue;
		if (ends_with(type, "StateEntered")) {
			name = json_string_value(json_object_get(
				json_object_get(ev, "stateEnteredEventDetails"), "name"));
			si = top_state(m, name);
			if (si < 0)
				continue;
			json_decref(state_input);
			state_input = detail_json(ev, "stateEnteredEventDetails", "input");
			json_decref(vars_before);
			vars_before = json_copy(vars);
			cur = si;
			open = true;
			failed_in_visit = false;
			entered_id = (unsigned)id;
			entered_prev = (unsigned)json_integer_value(json_object_get(ev,
										    "previousEventId"));
			ts = json_string_value(json_object_get(ev, "timestamp"));
			if (!ts || asl_timestamp_parse(ts, &entered) < 0)
				asl_now(&entered);
		} else if (ends_with(type, "StateExited")) {
			name = json_string_value(json_object_get(
				json_object_get(ev, "stateExitedEventDetails"), "name"));
			if (top_state(m, name) != cur || cur < 0)
				continue;
			open = false;
			json_decref(exit_output);
			exit_output = detail_json(ev, "stateExitedEventDetails", "output");
			if (apply_assigned(vars, ev) < 0) {
				asl_err_set(err, ASL_E_RUNTIME, "unreadable assignedVariables");
				rc = -EINVAL;
				goto out;
			}
		} else if (open && is_failure_event(type)) {
			failed_in_visit = true;
		}
	}
	if (cur >= 0 && !open && !exit_output) {
		asl_err_set(err, ASL_E_RUNTIME, "the last state's Exited event has no output");
		rc = -EINVAL;
		goto out;
	}
	rc = -ENOMEM;
	x = exec_new(e, m, input, opts);
	if (!x)
		goto out;
	if (x->opts.record_history) {
		json_decref(x->history);
		x->history = json_copy(events);
		if (!x->history)
			goto out;
	}
	ts = json_string_value(json_object_get(first, "timestamp"));
	if (ts)
		(void)asl_timestamp_parse(ts, &x->start);
	x->nevents = (unsigned)last_id;
	ltype = json_string_value(json_object_get(last, "type")) ?: "";
	if (!strncmp(ltype, "Execution", 9) && strcmp(ltype, "ExecutionStarted")) {
		/* it had ended: report it ended, no callbacks */
		const char *dk = NULL;

		if (!strcmp(ltype, "ExecutionSucceeded")) {
			x->status = ASL_SUCCEEDED;
			x->output = detail_json(last, "executionSucceededEventDetails", "output");
		} else {
			x->status = !strcmp(ltype, "ExecutionFailed")     ? ASL_FAILED
				    : !strcmp(ltype, "ExecutionTimedOut") ? ASL_TIMED_OUT
									  : ASL_ABORTED;
			dk = x->status == ASL_FAILED	    ? "executionFailedEventDetails"
			     : x->status == ASL_TIMED_OUT ? "executionTimedOutEventDetails"
							  : "executionAbortedEventDetails";
			ts = json_string_value(json_object_get(json_object_get(last, dk), "error"));
			x->error = ts ? strdup(ts) : NULL;
			ts = json_string_value(json_object_get(json_object_get(last, dk), "cause"));
			x->cause = ts ? strdup(ts) : NULL;
		}
		ts = json_string_value(json_object_get(last, "timestamp"));
		if (!ts || asl_timestamp_parse(ts, &x->stop) < 0)
			asl_now(&x->stop);
		*ret = x;
		x = NULL;
		rc = 0;
		goto out;
	}
	a = act_new(x, m->top, input, NULL, NULL, 0);
	if (!a)
		goto out;
	x->root = a;
	a->cursor = (unsigned)last_id;
	if (cur < 0) {
		/* nothing entered yet: start from StartAt (first Entered points at 0) */
		a->cursor = 0;
		rc = R_NEXT;
	} else if (open || failed_in_visit || m->top->states[cur].type == ASL_ST_CHOICE) {
		/*
		 * Re-run the state from its entry: its input and the variables
		 * before it. A Choice is re-evaluated (its target is not in the
		 * history); a state that failed and was caught is re-run.
		 */
		json_decref(a->input);
		a->input = json_incref(state_input);
		a->vars = json_incref(vars_before);
		a->cur = cur;
		a->entered_id = entered_id;
		a->entered_prev = entered_prev;
		a->entered = entered;
		if (!a->input || !a->vars || reset_visit(a) < 0)
			goto out;
		a->resumed_visit = true;
		rc = R_ATTEMPT;
	} else {
		const struct asl_state *s = &m->top->states[cur];

		a->vars = json_incref(vars);
		json_decref(a->input);
		a->input = NULL;
		if (s->end || s->next < 0 || s->type == ASL_ST_SUCCEED) {
			a->output = json_incref(exit_output);
			rc = R_END;
		} else {
			a->input = json_incref(exit_output);
			a->cur = s->next;
			rc = R_NEXT;
		}
	}
	if (m->timeout_s > 0) {
		struct timespec now;
		double left;

		asl_now(&now);
		left = m->timeout_s - (double)(now.tv_sec - x->start.tv_sec) -
		       (double)(now.tv_nsec - x->start.tv_nsec) / 1e9;
		x->timeout_timer = loop_timer_add(e->loop, secs_to_ms(left),
						  timeout_fn, x);
	}
	*ret = x;
	x = NULL;
	act_drive(a, rc);
	rc = 0;
out:
	if (x)
		asl_execution_free(x);
	if (rc == -ENOMEM)
		asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	json_decref(input);
	json_decref(vars);
	json_decref(vars_before);
	json_decref(state_input);
	json_decref(exit_output);
	return rc;
}
