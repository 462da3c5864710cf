/*
 * asl_machine: compile a definition into an immutable struct asl_machine.
 * Every state becomes a struct asl_state with its fields looked up once,
 * `Next` names resolved to indexes, and flags the runtime uses to skip work
 * (a path that is just "$", whether anything references $$). The machine
 * keeps one reference to the definition; every borrowed json_t and string in
 * the compiled states points into it, so nothing is copied per execution.
 */
#include "engine/asl.h"
#include "engine/asl_i.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/aslcheck.h"
#include "engine/buf.h"
#include "engine/jpath.h"

struct compile {
	struct asl_machine *m;
	bool top_jsonata; /* the machine's QueryLanguage is JSONata */
	char msg[512];
};

static int cfail(struct compile *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(struct compile *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static bool refs_context(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return strstr(json_string_value(v), "$$") != NULL;
	case JSON_OBJECT:
		json_object_foreach(v, k, x) {
			/* nested graphs get their own flags */
			if (!strcmp(k, "Branches") || !strcmp(k, "ItemProcessor") ||
			    !strcmp(k, "Iterator"))
				continue;
			if (strstr(k, "$$") || refs_context(x))
				return true;
		}
		return false;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++)
			if (refs_context(json_array_get(v, i)))
				return true;
		return false;
	default:
		return false;
	}
}

static const char *sfield(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int compile_path(struct compile *c, struct asl_path *p, const char *k, const char *state)
{
	struct asl_err err;
	int r = jpath_compile(p->s, &p->c, &err);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cfail(c, "state '%s': %s: %s", state, k, err.cause);
	return 0;
}

static int path_field(struct compile *c, json_t *o, const char *k, struct asl_path *p,
		      const char *state)
{
	json_t *v = json_object_get(o, k);

	p->s = NULL;
	if (!v) {
		p->kind = ASL_P_ABSENT;
		return 0;
	}
	if (json_is_null(v)) {
		p->kind = ASL_P_NULL;
		return 0;
	}
	if (!json_is_string(v))
		return cfail(c, "state '%s': %s must be a string or null", state, k);
	p->s = json_string_value(v);
	p->kind = strcmp(p->s, "$") == 0 ? ASL_P_ROOT : ASL_P_EXPR;
	return p->kind == ASL_P_EXPR ? compile_path(c, p, k, state) : 0;
}

/* A field that holds a path string only (SecondsPath, MaxConcurrencyPath ...). */
static int spath_field(struct compile *c, json_t *o, const char *k, struct asl_path *p,
		       const char *state)
{
	json_t *v = json_object_get(o, k);

	p->s = NULL;
	p->kind = ASL_P_ABSENT;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return cfail(c, "state '%s': %s must be a string", state, k);
	p->s = json_string_value(v);
	p->kind = ASL_P_EXPR;
	return compile_path(c, p, k, state);
}

static int tmpl_field(struct compile *c, json_t *o, const char *k, struct asl_tmpl *t,
		      const char *state)
{
	struct asl_err err;
	int r;

	t->json = json_object_get(o, k);
	t->c = NULL;
	if (!t->json)
		return 0;
	r = jpath_tmpl_compile(t->json, &t->c, &err);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cfail(c, "state '%s': %s: %s", state, k, err.cause);
	return 0;
}

static int num_field(struct compile *c, json_t *o, const char *k, double *ret, bool *present,
		     const char *state)
{
	json_t *v = json_object_get(o, k);

	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return cfail(c, "state '%s': %s must be a number", state, k);
	*ret = json_number_value(v);
	return 0;
}

static int errors_list(struct compile *c, json_t *o, const char ***ret, size_t *n,
		       const char *state)
{
	json_t *a = json_object_get(o, "ErrorEquals");
	size_t i;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return cfail(c, "state '%s': ErrorEquals must be a non-empty array", state);
	*n = json_array_size(a);
	*ret = calloc(*n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (i = 0; i < *n; i++) {
		(*ret)[i] = json_string_value(json_array_get(a, i));
		if (!(*ret)[i])
			return cfail(c, "state '%s': ErrorEquals entries must be strings", state);
	}
	return 0;
}

static int compile_graph(struct compile *c, json_t *g, struct asl_graph **ret);

/* A field of a JSONata state; @path names it in causes (NULL: @k). */
static int ja_field(struct compile *c, json_t *o, const char *k, const char *path,
		    struct asl_ja **ret, const char *state)
{
	char msg[400];
	int r;

	r = asl_ja_compile(json_object_get(o, k), path ? path : k, ret, msg, sizeof(msg));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cfail(c, "state '%s': %s", state, msg);
	return 0;
}

/* A number field that a JSONata state (@jsonata) may give as an expression instead. */
static int ja_num_field(struct compile *c, bool jsonata, json_t *o, const char *k, double *ret,
			bool *present, struct asl_ja **ja, const char *state)
{
	json_t *v = json_object_get(o, k);

	if (jsonata && json_is_string(v)) {
		if (present)
			*present = true;
		return ja_field(c, o, k, NULL, ja, state);
	}
	return num_field(c, o, k, ret, present, state);
}

static bool state_needs_context(const struct asl_state *s)
{
	const struct asl_ja *const f[] = { s->ja_args, s->ja_output, s->ja_assign, s->ja_items,
					   s->ja_item_selector, s->ja_seconds, s->ja_timestamp,
					   s->ja_timeout, s->ja_heartbeat, s->ja_max_conc,
					   s->ja_tol_count, s->ja_tol_pct, s->ja_error, s->ja_cause,
					   s->ja_batch_input, s->ja_max_items, s->ja_max_bytes,
					   s->ja_credentials, s->ja_reader_args, s->ja_reader_max_items,
					   s->ja_writer_args };
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (asl_ja_needs_context(f[i]))
			return true;
	for (i = 0; i < s->nchoices; i++)
		if (asl_ja_needs_context(s->choices[i].ja_cond) ||
		    asl_ja_needs_context(s->choices[i].ja_output) ||
		    asl_ja_needs_context(s->choices[i].ja_assign))
			return true;
	for (i = 0; i < s->ncatchers; i++)
		if (asl_ja_needs_context(s->catchers[i].ja_output) ||
		    asl_ja_needs_context(s->catchers[i].ja_assign))
			return true;
	return false;
}

static int resolve(struct compile *c, json_t *index, const char *name, const char *state,
		   int *ret)
{
	json_t *v = name ? json_object_get(index, name) : NULL;

	if (!v)
		return cfail(c, "state '%s': no state named '%s'", state, name ? name : "(null)");
	*ret = (int)json_integer_value(v);
	return 0;
}

static void task_kind(struct asl_state *s)
{
	const char *r = s->resource;
	const char *p;
	size_t n = strlen(r), sl = strlen(ASL_CALLBACK_SUFFIX);

	if (n > sl && strcmp(r + n - sl, ASL_CALLBACK_SUFFIX) == 0) {
		s->callback = true;
		s->run_resource = strndup(r, n - sl);
	}
	if (!strncmp(r, "arn:aws:lambda:", 15) || !strncmp(r, "arn:aws-us-gov:lambda:", 22) ||
	    !strncmp(r, "arn:aws-cn:lambda:", 18)) {
		s->task_kind = ASL_TK_LAMBDA_ARN;
		return;
	}
	s->task_kind = ASL_TK_SERVICE;
	p = strncmp(r, "arn:", 4) == 0 ? strstr(r, ":::") : NULL;
	if (p) {
		const char *colon;

		p += 3;
		colon = strchr(p, ':');
		if (colon) {
			s->res_type = strndup(p, (size_t)(colon - p));
			s->res_name = strdup(colon + 1);
			return;
		}
	}
	p = strchr(r, ':');
	if (p && p != r) {
		s->res_type = strndup(r, (size_t)(p - r));
		p++;
		while (*p == '/' && p[1] == '/')
			p += 2;
		s->res_name = strdup(p);
	} else {
		s->res_type = strdup("local");
		s->res_name = strdup(r);
	}
}

static int compile_state(struct compile *c, json_t *index, const char *name, json_t *o,
			 struct asl_state *s)
{
	const char *type = sfield(o, "Type");
	const char *next = sfield(o, "Next");
	json_t *v;
	size_t i;
	int r;

	s->name = name;
	s->next = -1;
	s->default_next = -1;
	s->max_concurrency = 0;
	if (!json_is_object(o))
		return cfail(c, "state '%s' must be an object", name);
	if (!type)
		return cfail(c, "state '%s' has no Type", name);
	if (!strcmp(type, "Pass"))
		s->type = ASL_ST_PASS;
	else if (!strcmp(type, "Task"))
		s->type = ASL_ST_TASK;
	else if (!strcmp(type, "Choice"))
		s->type = ASL_ST_CHOICE;
	else if (!strcmp(type, "Wait"))
		s->type = ASL_ST_WAIT;
	else if (!strcmp(type, "Succeed"))
		s->type = ASL_ST_SUCCEED;
	else if (!strcmp(type, "Fail"))
		s->type = ASL_ST_FAIL;
	else if (!strcmp(type, "Parallel"))
		s->type = ASL_ST_PARALLEL;
	else if (!strcmp(type, "Map"))
		s->type = ASL_ST_MAP;
	else
		return cfail(c, "state '%s': unknown Type '%s'", name, type);
	s->type_name = asl_stype_name(s->type);
	v = json_object_get(o, "QueryLanguage");
	s->jsonata = json_is_string(v) ? !strcmp(json_string_value(v), "JSONata") : c->top_jsonata;
	s->end = json_is_true(json_object_get(o, "End"));
	if (next && resolve(c, index, next, name, &s->next) < 0)
		return -1;
	if (s->jsonata) {
		/* JSONata: no paths, templates or Result; Arguments, Output and Assign instead */
		if (((s->type == ASL_ST_TASK || s->type == ASL_ST_PARALLEL) &&
		     ja_field(c, o, "Arguments", NULL, &s->ja_args, name) < 0) ||
		    (s->type != ASL_ST_FAIL &&
		     ja_field(c, o, "Output", NULL, &s->ja_output, name) < 0) ||
		    ja_field(c, o, "Assign", NULL, &s->ja_assign, name) < 0)
			return -1;
	} else {
		s->needs_ctx = refs_context(o);
		if (path_field(c, o, "InputPath", &s->input_path, name) < 0 ||
		    path_field(c, o, "OutputPath", &s->output_path, name) < 0 ||
		    path_field(c, o, "ResultPath", &s->result_path, name) < 0)
			return -1;
		if (tmpl_field(c, o, "Parameters", &s->parameters, name) < 0 ||
		    tmpl_field(c, o, "ResultSelector", &s->result_selector, name) < 0 ||
		    tmpl_field(c, o, "Assign", &s->assign, name) < 0)
			return -1;
		s->result = json_object_get(o, "Result");
	}

	v = json_object_get(o, "Retry");
	if (json_is_array(v) && json_array_size(v)) {
		s->nretriers = json_array_size(v);
		s->retriers = calloc(s->nretriers, sizeof(*s->retriers));
		if (!s->retriers)
			return -ENOMEM;
		for (i = 0; i < s->nretriers; i++) {
			struct asl_retrier *rt = &s->retriers[i];
			json_t *ro = json_array_get(v, i);
			json_t *js;
			double d;

			r = errors_list(c, ro, &rt->errors, &rt->nerrors, name);
			if (r < 0)
				return r;
			rt->interval = 1;
			rt->max_attempts = 3;
			rt->backoff = 2.0;
			if (num_field(c, ro, "IntervalSeconds", &rt->interval, NULL, name) < 0 ||
			    num_field(c, ro, "BackoffRate", &rt->backoff, NULL, name) < 0 ||
			    num_field(c, ro, "MaxDelaySeconds", &rt->max_delay, NULL, name) < 0)
				return -1;
			d = 3;
			if (num_field(c, ro, "MaxAttempts", &d, NULL, name) < 0)
				return -1;
			rt->max_attempts = (long)d;
			js = json_object_get(ro, "JitterStrategy");
			rt->jitter_full = json_is_string(js) && !strcmp(json_string_value(js), "FULL");
		}
	}
	v = json_object_get(o, "Catch");
	if (json_is_array(v) && json_array_size(v)) {
		s->ncatchers = json_array_size(v);
		s->catchers = calloc(s->ncatchers, sizeof(*s->catchers));
		if (!s->catchers)
			return -ENOMEM;
		for (i = 0; i < s->ncatchers; i++) {
			struct asl_catcher *ct = &s->catchers[i];
			json_t *co = json_array_get(v, i);

			r = errors_list(c, co, &ct->errors, &ct->nerrors, name);
			if (r < 0)
				return r;
			if (resolve(c, index, sfield(co, "Next"), name, &ct->next) < 0)
				return -1;
			if (s->jsonata) {
				char po[64], pa[64];

				snprintf(po, sizeof(po), "Catch[%zu]/Output", i);
				snprintf(pa, sizeof(pa), "Catch[%zu]/Assign", i);
				if (ja_field(c, co, "Output", po, &ct->ja_output, name) < 0 ||
				    ja_field(c, co, "Assign", pa, &ct->ja_assign, name) < 0)
					return -1;
			} else if (path_field(c, co, "ResultPath", &ct->result_path, name) < 0 ||
				   tmpl_field(c, co, "Assign", &ct->assign, name) < 0) {
				return -1;
			}
		}
	}

	switch (s->type) {
	case ASL_ST_TASK:
		s->resource = sfield(o, "Resource");
		if (!s->resource)
			return cfail(c, "state '%s': Task has no Resource", name);
		task_kind(s);
		if ((s->task_kind != ASL_TK_LAMBDA_ARN && (!s->res_type || !s->res_name)) ||
		    (s->callback && !s->run_resource))
			return -ENOMEM;
		if (ja_num_field(c, s->jsonata, o, "TimeoutSeconds", &s->timeout_s, NULL,
				 &s->ja_timeout, name) < 0 ||
		    ja_num_field(c, s->jsonata, o, "HeartbeatSeconds", &s->heartbeat_s, NULL,
				 &s->ja_heartbeat, name) < 0)
			return -1;
		if (s->jsonata) {
			if (ja_field(c, o, "Credentials", NULL, &s->ja_credentials, name) < 0)
				return -1;
		} else if (spath_field(c, o, "TimeoutSecondsPath", &s->timeout_path, name) < 0 ||
			   spath_field(c, o, "HeartbeatSecondsPath", &s->heartbeat_path,
				       name) < 0 ||
			   tmpl_field(c, o, "Credentials", &s->credentials, name) < 0) {
			return -1;
		}
		break;
	case ASL_ST_CHOICE:
		v = json_object_get(o, "Choices");
		if (!json_is_array(v) || json_array_size(v) == 0)
			return cfail(c, "state '%s': Choices must be a non-empty array", name);
		s->nchoices = json_array_size(v);
		s->choices = calloc(s->nchoices, sizeof(*s->choices));
		if (!s->choices)
			return -ENOMEM;
		for (i = 0; i < s->nchoices; i++) {
			json_t *rule = json_array_get(v, i);
			struct asl_err err;

			s->choices[i].rule = rule;
			if (resolve(c, index, sfield(rule, "Next"), name, &s->choices[i].next) < 0)
				return -1;
			if (s->jsonata) {
				char pc[64], po[64], pa[64];
				struct asl_choice *ch = &s->choices[i];

				snprintf(pc, sizeof(pc), "Choices[%zu]/Condition", i);
				snprintf(po, sizeof(po), "Choices[%zu]/Output", i);
				snprintf(pa, sizeof(pa), "Choices[%zu]/Assign", i);
				if (!json_object_get(rule, "Condition"))
					return cfail(c, "state '%s': Choices[%zu] has no Condition",
						     name, i);
				if (ja_field(c, rule, "Condition", pc, &ch->ja_cond, name) < 0 ||
				    ja_field(c, rule, "Output", po, &ch->ja_output, name) < 0 ||
				    ja_field(c, rule, "Assign", pa, &ch->ja_assign, name) < 0)
					return -1;
				continue;
			}
			if (tmpl_field(c, rule, "Assign", &s->choices[i].assign, name) < 0)
				return -1;
			r = choice_compile(rule, &s->choices[i].c, &err);
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				return cfail(c, "state '%s': Choices[%zu]: %s", name, i, err.cause);
		}
		if (sfield(o, "Default") &&
		    resolve(c, index, sfield(o, "Default"), name, &s->default_next) < 0)
			return -1;
		break;
	case ASL_ST_WAIT:
		if (s->jsonata) {
			if (ja_num_field(c, s->jsonata, o, "Seconds", &s->seconds, &s->has_seconds,
					 &s->ja_seconds, name) < 0)
				return -1;
			s->timestamp = sfield(o, "Timestamp");
			if (s->timestamp && asl_ja_is_expr(s->timestamp, NULL, NULL)) {
				if (ja_field(c, o, "Timestamp", NULL, &s->ja_timestamp, name) < 0)
					return -1;
				s->timestamp = NULL;
			}
			s->has_timestamp = s->timestamp != NULL || s->ja_timestamp != NULL;
			if (!s->has_seconds && !s->has_timestamp)
				return cfail(c, "state '%s': Wait needs Seconds or Timestamp",
					     name);
			break;
		}
		if (num_field(c, o, "Seconds", &s->seconds, &s->has_seconds, name) < 0)
			return -1;
		s->timestamp = sfield(o, "Timestamp");
		s->has_timestamp = s->timestamp != NULL;
		if (spath_field(c, o, "SecondsPath", &s->seconds_path, name) < 0 ||
		    spath_field(c, o, "TimestampPath", &s->timestamp_path, name) < 0)
			return -1;
		if (!s->has_seconds && !s->has_timestamp && !s->seconds_path.s &&
		    !s->timestamp_path.s)
			return cfail(c, "state '%s': Wait needs Seconds, Timestamp, SecondsPath or "
				     "TimestampPath", name);
		break;
	case ASL_ST_FAIL:
		if (s->jsonata) {
			if (ja_field(c, o, "Error", NULL, &s->ja_error, name) < 0 ||
			    ja_field(c, o, "Cause", NULL, &s->ja_cause, name) < 0)
				return -1;
			break;
		}
		s->error = sfield(o, "Error");
		s->error_path = sfield(o, "ErrorPath");
		s->cause = sfield(o, "Cause");
		s->cause_path = sfield(o, "CausePath");
		if (s->error_path || s->cause_path) {
			struct asl_err err;

			r = s->error_path ? jpath_expr_compile(s->error_path, &s->error_x, &err) : 0;
			if (r == 0 && s->cause_path)
				r = jpath_expr_compile(s->cause_path, &s->cause_x, &err);
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				return cfail(c, "state '%s': %s", name, err.cause);
		}
		break;
	case ASL_ST_PARALLEL:
		v = json_object_get(o, "Branches");
		if (!json_is_array(v) || json_array_size(v) == 0)
			return cfail(c, "state '%s': Branches must be a non-empty array", name);
		s->nbranches = json_array_size(v);
		s->branches = calloc(s->nbranches, sizeof(*s->branches));
		if (!s->branches)
			return -ENOMEM;
		for (i = 0; i < s->nbranches; i++) {
			r = compile_graph(c, json_array_get(v, i), &s->branches[i]);
			if (r < 0)
				return r;
		}
		break;
	case ASL_ST_MAP: {
		json_t *p = json_object_get(o, "ItemProcessor");
		double d;
		bool has;

		if (!p)
			p = json_object_get(o, "Iterator");
		if (!p)
			return cfail(c, "state '%s': Map has no ItemProcessor", name);
		v = json_object_get(p, "ProcessorConfig");
		s->distributed = json_is_string(json_object_get(v, "Mode")) &&
				 !strcmp(sfield(v, "Mode"), "DISTRIBUTED");
		r = compile_graph(c, p, &s->processor);
		if (r < 0)
			return r;
		if (s->jsonata) {
			if (ja_field(c, o, "Items", NULL, &s->ja_items, name) < 0 ||
			    ja_field(c, o, "ItemSelector", NULL, &s->ja_item_selector, name) < 0)
				return -1;
		} else if (path_field(c, o, "ItemsPath", &s->items_path, name) < 0) {
			return -1;
		}
		if (!s->jsonata && json_object_get(o, "ItemSelector")) {
			if (tmpl_field(c, o, "ItemSelector", &s->item_selector, name) < 0)
				return -1;
		} else {
			s->item_selector = s->parameters;
		}
		s->parameters.json = NULL;
		s->parameters.c = NULL;
		d = 0;
		if (ja_num_field(c, s->jsonata, o, "MaxConcurrency", &d, NULL, &s->ja_max_conc,
				 name) < 0)
			return -1;
		s->max_concurrency = (long)d;
		if (spath_field(c, o, "MaxConcurrencyPath", &s->max_concurrency_path, name) < 0)
			return -1;
		d = 0;
		if (ja_num_field(c, s->jsonata, o, "ToleratedFailureCount", &d, &has,
				 &s->ja_tol_count, name) < 0)
			return -1;
		s->tol_count = (long)d;
		s->has_tol_count = has && !s->ja_tol_count;
		if (ja_num_field(c, s->jsonata, o, "ToleratedFailurePercentage", &s->tol_pct,
				 &s->has_tol_pct, &s->ja_tol_pct, name) < 0)
			return -1;
		if (s->ja_tol_pct)
			s->has_tol_pct = false;
		if (spath_field(c, o, "ToleratedFailureCountPath", &s->tol_count_path, name) < 0 ||
		    spath_field(c, o, "ToleratedFailurePercentagePath", &s->tol_pct_path, name) < 0)
			return -1;
		s->batcher = json_object_get(o, "ItemBatcher");
		if (s->batcher) {
			json_t *mi = json_object_get(s->batcher, "MaxItemsPerBatch");

			s->max_items_per_batch = json_is_integer(mi) ? (long)json_integer_value(mi) : 0;
			if (s->jsonata) {
				double d2 = 0;

				if (ja_num_field(c, true, s->batcher, "MaxItemsPerBatch", &d2, NULL,
						 &s->ja_max_items, name) < 0 ||
				    ja_num_field(c, true, s->batcher, "MaxInputBytesPerBatch", &d2,
						 NULL, &s->ja_max_bytes, name) < 0 ||
				    ja_field(c, s->batcher, "BatchInput", "ItemBatcher/BatchInput",
					     &s->ja_batch_input, name) < 0)
					return -1;
			} else if (spath_field(c, s->batcher, "MaxItemsPerBatchPath", &s->max_items_path,
					name) < 0 ||
			    tmpl_field(c, s->batcher, "BatchInput", &s->batch_input, name) < 0)
				return -1;
		}
		s->item_reader = json_object_get(o, "ItemReader");
		s->result_writer = json_object_get(o, "ResultWriter");
		s->label = sfield(o, "Label");
		if (s->item_reader) {
			json_t *rc = json_object_get(s->item_reader, "ReaderConfig");
			double d2 = 0;

			if (s->jsonata) {
				if (ja_field(c, s->item_reader, "Arguments", "ItemReader/Arguments",
					     &s->ja_reader_args, name) < 0 ||
				    ja_num_field(c, true, rc, "MaxItems", &d2, NULL,
						 &s->ja_reader_max_items, name) < 0)
					return -1;
			} else if (tmpl_field(c, s->item_reader, "Parameters", &s->reader_params,
					      name) < 0 ||
				   spath_field(c, rc, "MaxItemsPath", &s->reader_max_items_path,
					       name) < 0) {
				return -1;
			}
		}
		if (s->result_writer) {
			if (s->jsonata) {
				if (ja_field(c, s->result_writer, "Arguments",
					     "ResultWriter/Arguments", &s->ja_writer_args, name) < 0)
					return -1;
			} else if (tmpl_field(c, s->result_writer, "Parameters", &s->writer_params,
					      name) < 0) {
				return -1;
			}
		}
		break;
	}
	default:
		break;
	}
	if (s->jsonata)
		s->needs_ctx = state_needs_context(s);
	return 0;
}

static int add_graph(struct asl_machine *m, struct asl_graph *g)
{
	if (m->ngraphs == m->agraphs) {
		size_t n = m->agraphs ? m->agraphs * 2 : 8;
		struct asl_graph **p = realloc(m->graphs, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->graphs = p;
		m->agraphs = n;
	}
	m->graphs[m->ngraphs++] = g;
	return 0;
}

static int compile_graph(struct compile *c, json_t *g, struct asl_graph **ret)
{
	json_t *states = json_object_get(g, "States");
	const char *start = sfield(g, "StartAt");
	json_t *index = NULL, *v;
	struct asl_graph *gr;
	const char *k;
	size_t i;
	int r;

	if (!json_is_object(g) || !json_is_object(states) || json_object_size(states) == 0)
		return cfail(c, "a state machine needs a non-empty States object");
	if (!start)
		return cfail(c, "a state machine needs StartAt");
	gr = calloc(1, sizeof(*gr));
	if (!gr)
		return -ENOMEM;
	if (add_graph(c->m, gr) < 0) {
		free(gr);
		return -ENOMEM;
	}
	gr->nstates = json_object_size(states);
	gr->states = calloc(gr->nstates, sizeof(*gr->states));
	index = json_object();
	if (!gr->states || !index) {
		r = -ENOMEM;
		goto out;
	}
	i = 0;
	json_object_foreach(states, k, v) {
		if (json_object_set_new(index, k, json_integer((json_int_t)i++)) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	r = resolve(c, index, start, "StartAt", &gr->start);
	if (r < 0)
		goto out;
	i = 0;
	json_object_foreach(states, k, v) {
		r = compile_state(c, index, k, v, &gr->states[i++]);
		if (r < 0)
			goto out;
	}
	*ret = gr;
out:
	json_decref(index);
	return r;
}

static void free_graph(struct asl_graph *g)
{
	size_t i, j;

	if (!g)
		return;
	for (i = 0; g->states && i < g->nstates; i++) {
		struct asl_state *s = &g->states[i];

		for (j = 0; j < s->nretriers; j++)
			free(s->retriers[j].errors);
		free(s->retriers);
		for (j = 0; j < s->ncatchers; j++) {
			free(s->catchers[j].errors);
			jpath_free(s->catchers[j].result_path.c);
			jpath_tmpl_free(s->catchers[j].assign.c);
			asl_ja_free(s->catchers[j].ja_output);
			asl_ja_free(s->catchers[j].ja_assign);
		}
		free(s->catchers);
		for (j = 0; s->choices && j < s->nchoices; j++) {
			choice_free(s->choices[j].c);
			jpath_tmpl_free(s->choices[j].assign.c);
			asl_ja_free(s->choices[j].ja_cond);
			asl_ja_free(s->choices[j].ja_output);
			asl_ja_free(s->choices[j].ja_assign);
		}
		free(s->choices);
		jpath_free(s->input_path.c);
		jpath_free(s->output_path.c);
		jpath_free(s->result_path.c);
		jpath_free(s->items_path.c);
		jpath_free(s->timeout_path.c);
		jpath_free(s->heartbeat_path.c);
		jpath_free(s->seconds_path.c);
		jpath_free(s->timestamp_path.c);
		jpath_free(s->max_concurrency_path.c);
		jpath_free(s->tol_count_path.c);
		jpath_free(s->tol_pct_path.c);
		jpath_free(s->max_items_path.c);
		jpath_tmpl_free(s->parameters.c);
		jpath_tmpl_free(s->result_selector.c);
		jpath_tmpl_free(s->assign.c);
		jpath_tmpl_free(s->credentials.c);
		jpath_tmpl_free(s->item_selector.c);
		jpath_tmpl_free(s->batch_input.c);
		jpath_tmpl_free(s->reader_params.c);
		jpath_tmpl_free(s->writer_params.c);
		jpath_free(s->reader_max_items_path.c);
		asl_ja_free(s->ja_reader_args);
		asl_ja_free(s->ja_reader_max_items);
		asl_ja_free(s->ja_writer_args);
		jpath_expr_free(s->error_x);
		jpath_expr_free(s->cause_x);
		asl_ja_free(s->ja_args);
		asl_ja_free(s->ja_output);
		asl_ja_free(s->ja_assign);
		asl_ja_free(s->ja_items);
		asl_ja_free(s->ja_item_selector);
		asl_ja_free(s->ja_seconds);
		asl_ja_free(s->ja_timestamp);
		asl_ja_free(s->ja_timeout);
		asl_ja_free(s->ja_heartbeat);
		asl_ja_free(s->ja_max_conc);
		asl_ja_free(s->ja_tol_count);
		asl_ja_free(s->ja_tol_pct);
		asl_ja_free(s->ja_error);
		asl_ja_free(s->ja_cause);
		asl_ja_free(s->ja_batch_input);
		asl_ja_free(s->ja_credentials);
		asl_ja_free(s->ja_max_items);
		asl_ja_free(s->ja_max_bytes);
		free(s->branches);
		free(s->res_type);
		free(s->res_name);
		free(s->run_resource);
	}
	free(g->states);
	free(g);
}

static void machine_free(struct asl_machine *m)
{
	size_t i;

	for (i = 0; i < m->ngraphs; i++)
		free_graph(m->graphs[i]);
	free(m->graphs);
	json_decref(m->def);
	free(m->name);
	free(m->arn);
	free(m->definition_dir);
	free(m);
}

static char *diag_text(const struct aslcheck_result *res)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < res->n; i++)
		buf_printf(&b, "%s%s: %s: %s", i ? "\n" : "",
			   res->diags[i].pointer[0] ? res->diags[i].pointer : "/",
			   res->diags[i].code, res->diags[i].message);
	if (b.alloc == 0)
		return strdup(b.data);
	return buf_detach(&b, NULL);
}

int asl_machine_new(json_t *def, const struct asl_machine_opts *opts, struct asl_machine **ret,
		    char **ret_msg)
{
	struct asl_machine_opts dflt = ASL_MACHINE_OPTS_INIT;
	struct compile c = { 0 };
	struct asl_machine *m;
	json_t *to;
	int r;

	if (!opts)
		opts = &dflt;
	if (!json_is_object(def)) {
		if (ret_msg)
			*ret_msg = strdup("the definition must be a JSON object");
		return -1;
	}
	if (opts->validate) {
		struct aslcheck_opts co = ASLCHECK_OPTS_INIT;
		struct aslcheck_result res = ASLCHECK_RESULT_INIT;

		co.tasks = opts->tasks;
		co.definition_dir = opts->definition_dir;
		co.check_resources = opts->tasks && opts->tasks->check;
		r = aslcheck_definition(def, &co, &res);
		if (r != 0) {
			if (ret_msg)
				*ret_msg = r < 0 ? strdup("out of memory") : diag_text(&res);
			aslcheck_result_release(&res);
			return r < 0 ? r : -1;
		}
		aslcheck_result_release(&res);
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->refs = 1;
	m->def = json_incref(def);
	m->name = strdup(opts->name ? opts->name : "StateMachine");
	m->definition_dir = opts->definition_dir ? strdup(opts->definition_dir) : NULL;
	if (!m->name || asprintf(&m->arn, "arn:aws:states:local:000000000000:stateMachine:%s",
				 m->name) < 0) {
		m->arn = NULL;
		r = -ENOMEM;
		goto fail;
	}
	c.m = m;
	to = json_object_get(def, "QueryLanguage");
	c.top_jsonata = json_is_string(to) && !strcmp(json_string_value(to), "JSONata");
	to = json_object_get(def, "TimeoutSeconds");
	if (json_is_number(to))
		m->timeout_s = json_number_value(to);
	r = compile_graph(&c, def, &m->top);
	if (r < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	if (ret_msg)
		*ret_msg = strdup(c.msg[0] ? c.msg : "out of memory");
	machine_free(m);
	return r == -ENOMEM && !c.msg[0] ? -ENOMEM : -1;
}

int asl_machine_load_file(const char *path, const struct asl_machine_opts *opts,
			  struct asl_machine **ret, char **ret_msg)
{
	struct asl_machine_opts o = ASL_MACHINE_OPTS_INIT;
	char *dcopy = NULL, *bcopy = NULL, *base, *dot;
	json_error_t jerr;
	json_t *def;
	int r;

	if (opts)
		o = *opts;
	def = json_load_file(path, JSON_DECODE_ANY, &jerr);
	if (!def && ret_msg) {
		int n = jerr.line < 0 /* could not read the file at all */
				? asprintf(ret_msg, "%s", jerr.text)
				: asprintf(ret_msg, "%s:%d:%d: malformed JSON: %s", path, jerr.line,
					   jerr.column, jerr.text);

		if (n < 0)
			*ret_msg = NULL;
	}
	if (!def)
		return -1;
	dcopy = strdup(path);
	bcopy = strdup(path);
	if (!dcopy || !bcopy) {
		r = -ENOMEM;
		goto out;
	}
	if (!o.definition_dir)
		o.definition_dir = dirname(dcopy);
	if (!o.name) {
		base = basename(bcopy);
		dot = strchr(base, '.');
		if (dot && dot != base)
			*dot = '\0';
		o.name = base;
	}
	r = asl_machine_new(def, &o, ret, ret_msg);
	if (r < 0 && ret_msg && *ret_msg) {
		/* name the file on every diagnostic line */
		struct buf b = BUF_INIT;
		const char *p = *ret_msg, *nl;

		for (; p; p = nl ? nl + 1 : NULL) {
			nl = strchr(p, '\n');
			buf_printf(&b, "%s%s: %.*s", p == *ret_msg ? "" : "\n", path,
				   (int)(nl ? (size_t)(nl - p) : strlen(p)), p);
		}
		if (b.alloc) {
			free(*ret_msg);
			*ret_msg = buf_detach(&b, NULL);
		}
	}
out:
	free(dcopy);
	free(bcopy);
	json_decref(def);
	return r;
}

struct asl_machine *asl_machine_ref(struct asl_machine *m)
{
	if (m)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void asl_machine_unref(struct asl_machine *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		machine_free(m);
}

const char *asl_machine_name(const struct asl_machine *m)
{
	return m->name;
}

const char *asl_machine_arn(const struct asl_machine *m)
{
	return m->arn;
}

json_t *asl_machine_definition(const struct asl_machine *m)
{
	return m->def;
}
