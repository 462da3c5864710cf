/*
 * mockcfg: AWS Step Functions Local mock configuration files, and a
 * struct asl_task_ops wrapper answering the Task states of one test case
 * from them. The file is validated completely at load, so lookups at run
 * time never meet a malformed entry; the validated JSON is kept as is
 * (immutable) and looked up by name. A mocked task completes from a
 * zero-delay loop timer, never inside start() (the asl_task_ops contract).
 */
#include "engine/mockcfg.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl_err.h"
#include "engine/asl_task.h"
#include "engine/buf.h"
#include "engine/loop.h"
#include "engine/jdoc.h"

struct mockcfg {
	json_t *root; /* validated; never changed */
	char *file;   /* for messages; may be NULL */
};

/* A mocked task waiting for its zero-delay timer. */
struct asl_task {
	struct asl_task *next;
	struct mockcfg_run *run;
	struct loop *loop;
	struct loop_timer *timer;
	asl_task_done_fn done;
	void *done_arg;
	json_t *result; /* Return value (a new reference), or NULL for Throw */
	const char *error, *cause; /* borrowed from the config */
};

struct mockcfg_run {
	const struct mockcfg *cfg;
	const char *machine;     /* borrowed from cfg->root */
	json_t *test_case;       /* borrowed: state name -> mocked response name */
	struct asl_task_ops inner;
	bool has_inner;
	json_t *counts;          /* "ARN\x1fSTATE" -> next invocation index */
	json_t *mocked_only;     /* Resource -> true: used only by mocked states (bind) */
	struct asl_task *pending; /* mocked tasks whose timer has not fired */
};

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/*
 * Parse an invocation key: "N" or "N-M" (decimal, N <= M, at most INT_MAX).
 * Returns 0 with the inclusive range, or -1.
 */
static int parse_key(const char *k, long *ret_lo, long *ret_hi)
{
	long v[2] = { 0, 0 };
	int i = 0;

	for (;;) {
		const char *start = k;

		for (; *k >= '0' && *k <= '9'; k++) {
			v[i] = v[i] * 10 + (*k - '0');
			if (v[i] > INT_MAX)
				return -1;
		}
		if (k == start)
			return -1;
		if (!*k)
			break;
		if (*k != '-' || i == 1)
			return -1;
		k++;
		i = 1;
	}
	if (i == 0)
		v[1] = v[0];
	if (v[1] < v[0])
		return -1;
	*ret_lo = v[0];
	*ret_hi = v[1];
	return 0;
}

/* One invocation entry: { "Return": any } or { "Throw": { "Error": s, "Cause": s } }. */
static int check_entry(json_t *e, const char *ptr, const char *file, char *errmsg,
		       size_t errlen)
{
	json_t *ret = json_object_get(e, "Return"), *thr = json_object_get(e, "Throw"), *v;
	const char *k;

	if (!json_is_object(e))
		return jdoc_fail(errmsg, errlen,
				 "'%s': %s: expected an object with \"Return\" or "
				 "\"Throw\", not %s",
				 file, ptr, type_name(e));
	if (ret && thr)
		return jdoc_fail(errmsg, errlen,
				 "'%s': %s: \"Return\" and \"Throw\" exclude each other", file,
				 ptr);
	if (!ret && !thr)
		return jdoc_fail(errmsg, errlen, "'%s': %s: needs \"Return\" or \"Throw\"", file,
				 ptr);
	json_object_foreach(e, k, v) {
		if (strcmp(k, "Return") && strcmp(k, "Throw")) {
			char esc[256];

			return jdoc_fail(errmsg, errlen,
					 "'%s': %s/%s: unknown key (expected \"Return\" "
					 "or \"Throw\")",
					 file, ptr, jdoc_ptr_key(k, esc, sizeof(esc)));
		}
	}
	if (!thr)
		return 0;
	if (!json_is_object(thr))
		return jdoc_fail(errmsg, errlen,
				 "'%s': %s/Throw: expected an object with \"Error\" "
				 "and \"Cause\", not %s",
				 file, ptr, type_name(thr));
	json_object_foreach(thr, k, v) {
		char esc[256];

		if (strcmp(k, "Error") && strcmp(k, "Cause"))
			return jdoc_fail(errmsg, errlen,
					 "'%s': %s/Throw/%s: unknown key (expected "
					 "\"Error\" and \"Cause\")",
					 file, ptr, jdoc_ptr_key(k, esc, sizeof(esc)));
		if (!json_is_string(v))
			return jdoc_fail(errmsg, errlen,
					 "'%s': %s/Throw/%s: expected a string, not %s", file, ptr,
					 k, type_name(v));
	}
	if (!json_object_get(thr, "Error") || !json_string_length(json_object_get(thr, "Error")))
		return jdoc_fail(errmsg, errlen, "'%s': %s/Throw: needs a non-empty \"Error\"",
				 file, ptr);
	return 0;
}

static int check_response(json_t *resp, const char *ptr, const char *file, char *errmsg,
			  size_t errlen)
{
	const char *k, *k2;
	json_t *v, *v2;
	char p[1024], esc[256];

	if (!json_is_object(resp))
		return jdoc_fail(errmsg, errlen,
				 "'%s': %s: expected an object of invocation "
				 "indexes (\"0\", \"1-2\", ...), not %s",
				 file, ptr, type_name(resp));
	if (!json_object_size(resp))
		return jdoc_fail(errmsg, errlen,
				 "'%s': %s: no invocation index (\"0\", \"1-2\", ...)", file, ptr);
	json_object_foreach(resp, k, v) {
		long lo, hi;
		int r;

		snprintf(p, sizeof(p), "%s/%s", ptr, jdoc_ptr_key(k, esc, sizeof(esc)));
		if (parse_key(k, &lo, &hi) < 0)
			return jdoc_fail(errmsg, errlen,
					 "'%s': %s: invalid invocation index (expected "
					 "a number like \"0\" or an inclusive range like \"1-2\")",
					 file, p);
		json_object_foreach(resp, k2, v2) {
			long lo2, hi2;

			if (k2 == k)
				break;
			(void)parse_key(k2, &lo2, &hi2);
			if (lo <= hi2 && lo2 <= hi)
				return jdoc_fail(errmsg, errlen,
						 "'%s': %s: invocation index overlaps "
						 "\"%s\"",
						 file, p, k2);
		}
		r = check_entry(v, p, file, errmsg, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_root(json_t *root, const char *file, char *errmsg, size_t errlen)
{
	json_t *sms = json_object_get(root, "StateMachines");
	json_t *resps = json_object_get(root, "MockedResponses");
	const char *k, *k2, *k3;
	json_t *v, *v2, *v3;
	char e1[256], e2[256], e3[256];
	int r;

	if (!json_is_object(root))
		return jdoc_fail(errmsg, errlen,
				 "'%s': expected an object with \"StateMachines\" and "
				 "\"MockedResponses\", not %s",
				 file, type_name(root));
	json_object_foreach(root, k, v) {
		if (strcmp(k, "StateMachines") && strcmp(k, "MockedResponses"))
			return jdoc_fail(errmsg, errlen,
					 "'%s': /%s: unknown key (expected "
					 "\"StateMachines\" and \"MockedResponses\")",
					 file, jdoc_ptr_key(k, e1, sizeof(e1)));
	}
	if (!sms)
		return jdoc_fail(errmsg, errlen, "'%s': \"StateMachines\" is missing", file);
	if (!json_is_object(sms))
		return jdoc_fail(errmsg, errlen, "'%s': /StateMachines: expected an object, not %s",
				 file, type_name(sms));
	if (resps && !json_is_object(resps))
		return jdoc_fail(errmsg, errlen,
				 "'%s': /MockedResponses: expected an object, not %s", file,
				 type_name(resps));
	json_object_foreach(resps, k, v) {
		char p[512];

		snprintf(p, sizeof(p), "/MockedResponses/%s", jdoc_ptr_key(k, e1, sizeof(e1)));
		r = check_response(v, p, file, errmsg, errlen);
		if (r < 0)
			return r;
	}
	json_object_foreach(sms, k, v) {
		json_t *tcs = json_object_get(v, "TestCases");

		jdoc_ptr_key(k, e1, sizeof(e1));
		if (!json_is_object(v))
			return jdoc_fail(errmsg, errlen,
					 "'%s': /StateMachines/%s: expected an object "
					 "with \"TestCases\", not %s",
					 file, e1, type_name(v));
		json_object_foreach(v, k2, v2) {
			if (strcmp(k2, "TestCases"))
				return jdoc_fail(errmsg, errlen,
						 "'%s': /StateMachines/%s/%s: unknown key "
						 "(expected \"TestCases\")",
						 file, e1, jdoc_ptr_key(k2, e2, sizeof(e2)));
		}
		if (!json_is_object(tcs))
			return jdoc_fail(errmsg, errlen, "'%s': /StateMachines/%s/TestCases: %s",
					 file, e1,
					 tcs ? "expected an object of test cases" : "is missing");
		json_object_foreach(tcs, k2, v2) {
			jdoc_ptr_key(k2, e2, sizeof(e2));
			if (!json_is_object(v2))
				return jdoc_fail(errmsg, errlen,
						 "'%s': /StateMachines/%s/TestCases/%s: "
						 "expected an object mapping state names to mocked "
						 "responses, not %s",
						 file, e1, e2, type_name(v2));
			json_object_foreach(v2, k3, v3) {
				jdoc_ptr_key(k3, e3, sizeof(e3));
				if (!json_is_string(v3))
					return jdoc_fail(
						errmsg, errlen,
						"'%s': /StateMachines/%s/"
						"TestCases/%s/%s: expected the name of a mocked "
						"response, not %s",
						file, e1, e2, e3, type_name(v3));
				if (!json_object_get(resps, json_string_value(v3)))
					return jdoc_fail(
						errmsg, errlen,
						"'%s': /StateMachines/%s/"
						"TestCases/%s/%s: mocked response '%s' is not "
						"defined in \"MockedResponses\"",
						file, e1, e2, e3, json_string_value(v3));
			}
		}
	}
	return 0;
}

int mockcfg_parse(json_t *root, const char *file, struct mockcfg **ret, char *errmsg,
		  size_t errlen)
{
	struct mockcfg *cfg;
	int r;

	r = check_root(root, file ? file : "mock config", errmsg, errlen);
	if (r < 0)
		return r;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	if (file) {
		cfg->file = strdup(file);
		if (!cfg->file) {
			free(cfg);
			return -ENOMEM;
		}
	}
	cfg->root = json_incref(root);
	*ret = cfg;
	return 0;
}

int mockcfg_load(const char *path, struct mockcfg **ret, char *errmsg, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int r;

	root = json_load_file(path, 0, &jerr);
	if (!root) {
		if (jerr.line < 0) /* could not read the file at all */
			return jdoc_fail(errmsg, errlen, "%s", jerr.text);
		return jdoc_fail(errmsg, errlen, "'%s': malformed JSON at line %d, column %d: %s",
				 path, jerr.line, jerr.column, jerr.text);
	}
	r = mockcfg_parse(root, path, ret, errmsg, errlen);
	json_decref(root);
	return r;
}

void mockcfg_free(struct mockcfg *cfg)
{
	if (!cfg)
		return;
	json_decref(cfg->root);
	free(cfg->file);
	free(cfg);
}

/* "A, B, C" of the keys of @o, into @out. */
static const char *key_list(json_t *o, char *out, size_t len)
{
	const char *k;
	size_t n = 0;
	json_t *v;

	out[0] = '\0';
	json_object_foreach(o, k, v) {
		int w = snprintf(out + n, len - n, "%s'%s'", n ? ", " : "", k);

		if (w < 0 || (size_t)w >= len - n) {
			if (len > 4)
				strcpy(out + len - 4, "...");
			break;
		}
		n += (size_t)w;
	}
	return out;
}

int mockcfg_run_new(const struct mockcfg *cfg, const char *state_machine,
		    const char *test_case, const struct asl_task_ops *inner,
		    struct mockcfg_run **ret, char *errmsg, size_t errlen)
{
	json_t *sms = json_object_get(cfg->root, "StateMachines"), *sm, *tcs, *tc;
	const char *file = cfg->file ? cfg->file : "mock config";
	struct mockcfg_run *r;
	char names[512];

	if (!state_machine) {
		if (json_object_size(sms) != 1)
			return jdoc_fail(errmsg, errlen,
					 "'%s' defines %zu state machines (%s): name the "
					 "one to use",
					 file, json_object_size(sms),
					 key_list(sms, names, sizeof(names)));
		state_machine = json_object_iter_key(json_object_iter(sms));
	}
	sm = json_object_get(sms, state_machine);
	if (!sm)
		return jdoc_fail(errmsg, errlen, "'%s' has no state machine '%s' (it has %s)", file,
				 state_machine,
				 json_object_size(sms) ? key_list(sms, names, sizeof(names))
						       : "none");
	tcs = json_object_get(sm, "TestCases");
	tc = json_object_get(tcs, test_case);
	if (!tc)
		return jdoc_fail(errmsg, errlen,
				 "'%s': state machine '%s' has no test case '%s' (it has "
				 "%s)",
				 file, state_machine, test_case,
				 json_object_size(tcs) ? key_list(tcs, names, sizeof(names))
						       : "none");
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = cfg;
	/* the key as stored in the (immutable) config outlives the caller's string */
	r->machine = json_object_iter_key(json_object_iter_at(sms, state_machine));
	r->test_case = tc;
	if (inner && inner->start) {
		r->inner = *inner;
		r->has_inner = true;
	}
	r->counts = json_object();
	r->mocked_only = json_object();
	if (!r->counts || !r->mocked_only) {
		mockcfg_run_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

const char *mockcfg_run_machine(const struct mockcfg_run *r)
{
	return r->machine;
}

/*
 * Walk the States of @states (and of nested Map and Parallel states): record
 * in @mocked / @unmocked the Resource of every Task state the test case does
 * / does not name, and in @seen every Task state name.
 */
static int walk_states(json_t *states, json_t *tc, json_t *mocked, json_t *unmocked, json_t *seen)
{
	const char *name;
	json_t *st;

	json_object_foreach(states, name, st) {
		const char *type = json_string_value(json_object_get(st, "Type"));
		json_t *sub, *br;
		size_t i;

		if (!type)
			continue;
		if (!strcmp(type, "Task")) {
			const char *res = json_string_value(json_object_get(st, "Resource"));

			if (json_object_set_new(seen, name, json_true()) < 0)
				return -ENOMEM;
			if (res && json_object_set_new(json_object_get(tc, name) ? mocked : unmocked,
						       res, json_true()) < 0)
				return -ENOMEM;
		} else if (!strcmp(type, "Map")) {
			sub = json_object_get(st, "ItemProcessor");
			if (!sub)
				sub = json_object_get(st, "Iterator");
			if (walk_states(json_object_get(sub, "States"), tc, mocked, unmocked,
					seen) < 0)
				return -ENOMEM;
		} else if (!strcmp(type, "Parallel")) {
			json_array_foreach(json_object_get(st, "Branches"), i, br)
				if (walk_states(json_object_get(br, "States"), tc, mocked, unmocked,
						seen) < 0)
					return -ENOMEM;
		}
	}
	return 0;
}

int mockcfg_run_bind(struct mockcfg_run *r, json_t *def, char **ret_warn)
{
	json_t *mocked = json_object(), *unmocked = json_object(), *seen = json_object(), *v;
	struct buf b = BUF_INIT;
	const char *k;
	int rc = -ENOMEM;

	if (!mocked || !unmocked || !seen)
		goto out;
	if (walk_states(json_object_get(def, "States"), r->test_case, mocked, unmocked, seen) < 0)
		goto out;
	json_object_clear(r->mocked_only);
	json_object_foreach(mocked, k, v)
		if (!json_object_get(unmocked, k) &&
		    json_object_set_new(r->mocked_only, k, json_true()) < 0)
			goto out;
	if (ret_warn) {
		json_object_foreach(r->test_case, k, v)
			if (!json_object_get(seen, k))
				buf_printf(&b, "%smock config '%s': test case entry '%s' names no Task "
					   "state of the definition", b.len ? "\n" : "",
					   r->cfg->file ? r->cfg->file : "-", k);
		*ret_warn = b.len ? buf_detach(&b, NULL) : NULL;
	}
	rc = 0;
out:
	buf_release(&b);
	json_decref(mocked);
	json_decref(unmocked);
	json_decref(seen);
	return rc;
}

/* The entry for invocation @n of mocked response @resp, or NULL. */
static json_t *find_entry(json_t *resp, long n)
{
	const char *k;
	json_t *v;

	json_object_foreach(resp, k, v) {
		long lo, hi;

		if (parse_key(k, &lo, &hi) == 0 && lo <= n && n <= hi)
			return v;
	}
	return NULL;
}

static void pending_unlink(struct mockcfg_run *r, struct asl_task *t)
{
	struct asl_task **pp;

	for (pp = &r->pending; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			return;
		}
}

static bool pending_has(const struct mockcfg_run *r, const struct asl_task *t)
{
	const struct asl_task *p;

	for (p = r->pending; p; p = p->next)
		if (p == t)
			return true;
	return false;
}

static void mock_fire(void *arg)
{
	struct asl_task *t = arg;
	asl_task_done_fn done = t->done;
	void *done_arg = t->done_arg;
	json_t *result = t->result;
	const char *error = t->error, *cause = t->cause;

	/* forget the task before done(): done() may start the next one on this runner */
	pending_unlink(t->run, t);
	free(t);
	done(done_arg, result, error, cause);
}

static int mock_start(void *arg, struct loop *loop, const struct asl_task_req *req,
		      asl_task_done_fn done, void *done_arg, struct asl_task **ret,
		      struct asl_err *err)
{
	struct mockcfg_run *r = arg;
	const char *resp_name = json_string_value(json_object_get(r->test_case, req->state_name));
	json_t *resp, *entry, *thr, *cnt;
	struct asl_task *t;
	char *key = NULL;
	long n;

	if (!resp_name) {
		if (!r->has_inner)
			return asl_err_set(err, ASL_E_TASKFAILED,
					   "no task runner is configured for '%s'", req->resource);
		return r->inner.start(r->inner.arg, loop, req, done, done_arg, ret, err);
	}
	if (asprintf(&key, "%s\x1f%s", req->execution_arn ? req->execution_arn : "",
		     req->state_name) < 0)
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	cnt = json_object_get(r->counts, key);
	n = cnt ? (long)json_integer_value(cnt) : 0;
	if (json_object_set_new(r->counts, key, json_integer(n + 1)) < 0) {
		free(key);
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	}
	free(key);
	resp = json_object_get(json_object_get(r->cfg->root, "MockedResponses"), resp_name);
	entry = find_entry(resp, n);
	if (!entry)
		return asl_err_set(err, ASL_E_RUNTIME,
				   "mock config '%s': mocked response '%s' (state '%s', test case of "
				   "state machine '%s') has no entry for invocation %ld",
				   r->cfg->file ? r->cfg->file : "-", resp_name, req->state_name,
				   r->machine, n);
	t = calloc(1, sizeof(*t));
	if (!t)
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	if (req->callback_done)
		*req->callback_done = true; /* the mocked response is the callback's */
	thr = json_object_get(entry, "Throw");
	if (thr) {
		t->error = json_string_value(json_object_get(thr, "Error"));
		t->cause = json_string_value(json_object_get(thr, "Cause"));
	} else {
		/* a copy: the engine may change what it is handed, the config is shared */
		t->result = json_deep_copy(json_object_get(entry, "Return"));
		if (!t->result) {
			free(t);
			return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
		}
	}
	t->run = r;
	t->loop = loop;
	t->done = done;
	t->done_arg = done_arg;
	t->timer = loop_timer_add(loop, 0, mock_fire, t);
	if (!t->timer) {
		json_decref(t->result);
		free(t);
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	}
	t->next = r->pending;
	r->pending = t;
	*ret = t;
	return 0;
}

static void mock_cancel(void *arg, struct asl_task *t)
{
	struct mockcfg_run *r = arg;

	if (!pending_has(r, t)) {
		if (r->has_inner && r->inner.cancel)
			r->inner.cancel(r->inner.arg, t);
		return;
	}
	pending_unlink(r, t);
	loop_timer_cancel(t->loop, t->timer);
	json_decref(t->result);
	free(t);
}

static int mock_check(void *arg, const char *resource, const char *definition_dir, char *msg,
		      size_t msglen)
{
	struct mockcfg_run *r = arg;

	if (json_object_get(r->mocked_only, resource))
		return 0; /* only mocked states use it: it never runs */
	if (!r->has_inner || !r->inner.check)
		return 0;
	return r->inner.check(r->inner.arg, resource, definition_dir, msg, msglen);
}

void mockcfg_run_ops(struct mockcfg_run *r, struct asl_task_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->start = mock_start;
	ops->cancel = mock_cancel;
	ops->check = mock_check;
	ops->arg = r;
}

void mockcfg_run_free(struct mockcfg_run *r)
{
	if (!r)
		return;
	while (r->pending) {
		struct asl_task *t = r->pending;

		r->pending = t->next;
		loop_timer_cancel(t->loop, t->timer);
		json_decref(t->result);
		free(t);
	}
	json_decref(r->counts);
	json_decref(r->mocked_only);
	free(r);
}
