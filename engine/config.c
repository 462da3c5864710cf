/*
 * Configuration file loading: strict JSON validation with messages naming
 * the file and the JSON pointer, defaults, path resolution. The rule sections
 * are handed to engine/rules.c, which checks them as S3 and EventBridge do.
 */
#include "engine/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/log.h"
#include "engine/rules.h"
#include "engine/jdoc.h"

static int config_fail(char *err, size_t errlen, const char *file, const char *ptr,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int config_fail(char *err, size_t errlen, const char *file, const char *ptr,
		       const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "'%s': %s: %s", file, *ptr ? ptr : "(top level)", msg);
	return -1;
}

void config_free(struct config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nsms; i++) {
		free(c->sms[i].name);
		free(c->sms[i].definition);
		free(c->sms[i].pointer);
	}
	free(c->sms);
	for (i = 0; i < c->nschedules; i++) {
		free(c->schedules[i].name);
		free(c->schedules[i].expression);
		free(c->schedules[i].state_machine);
		json_decref(c->schedules[i].input);
		free(c->schedules[i].pointer);
	}
	free(c->schedules);
	rules_free(c->rules);
	json_decref(c->root);
	free(c->file);
	free(c->dir);
	free(c->bucket);
	free(c->region);
	free(c->account);
	free(c->journal);
	free(c);
}

const struct config_sm *config_sm_find(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nsms; i++)
		if (strcmp(c->sms[i].name, name) == 0)
			return &c->sms[i];
	return NULL;
}

/* @p relative to @dir, as a new string (NULL on ENOMEM). */
static char *config_resolve(const char *dir, const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static int config_str(const json_t *o, const char *k, const char *base, char **ret,
		      const char *file, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, k);
	char p[512];

	if (!v)
		return 0;
	jdoc_ptr_join(p, sizeof(p), base, k);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return config_fail(err, errlen, file, p, "expected a non-empty string");
	free(*ret);
	*ret = strdup(json_string_value(v));
	if (!*ret)
		return config_fail(err, errlen, file, p, "out of memory");
	return 0;
}

static int config_uint(const json_t *o, const char *k, const char *base, unsigned *ret,
		       unsigned lo, unsigned hi, const char *file, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, k);
	char p[512];

	if (!v)
		return 0;
	jdoc_ptr_join(p, sizeof(p), base, k);
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return config_fail(err, errlen, file, p, "expected a whole number from %u to %u", lo,
				   hi);
	*ret = (unsigned)json_integer_value(v);
	return 0;
}

static int config_only(const json_t *o, const char *base, const char *const *allowed,
		       const char *file, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	char p[512];
	size_t i;

	json_object_foreach((json_t *)o, k, v) {
		for (i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (!allowed[i]) {
			jdoc_ptr_join(p, sizeof(p), base, k);
			return config_fail(err, errlen, file, p, "unknown member '%s'", k);
		}
	}
	return 0;
}

static int config_name_ok(const char *s)
{
	const char *p;

	if (!*s || strlen(s) > 80)
		return 0;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}

static int config_parse_sms(struct config *c, const json_t *sms, char *err, size_t errlen)
{
	static const char *const allowed[] = { "Definition", "Type", "Comment", NULL };
	const char *name;
	json_t *sm;
	char p[512], q[512];

	if (!json_is_object(sms))
		return config_fail(err, errlen, c->file, "/StateMachines",
				   "expected an object of name -> {\"Definition\", \"Type\"}");
	c->sms = calloc(json_object_size(sms) + 1, sizeof(*c->sms));
	if (!c->sms)
		return config_fail(err, errlen, c->file, "/StateMachines", "out of memory");
	json_object_foreach((json_t *)sms, name, sm) {
		struct config_sm *s = &c->sms[c->nsms];
		const char *def, *type;

		jdoc_ptr_join(p, sizeof(p), "/StateMachines", name);
		if (!config_name_ok(name))
			return config_fail(err, errlen, c->file, p,
					   "state machine names are 1-80 characters of A-Z a-z "
					   "0-9 - _ .");
		if (!json_is_object(sm))
			return config_fail(err, errlen, c->file, p,
					   "expected {\"Definition\": file, \"Type\": "
					   "\"STANDARD\"|\"EXPRESS\"}");
		if (config_only(sm, p, allowed, c->file, err, errlen) < 0)
			return -1;
		s->name = strdup(name);
		s->pointer = strdup(p);
		c->nsms++;
		if (!s->name || !s->pointer)
			return config_fail(err, errlen, c->file, p, "out of memory");
		def = json_string_value(json_object_get(sm, "Definition"));
		jdoc_ptr_join(q, sizeof(q), p, "Definition");
		if (!def || !*def)
			return config_fail(err, errlen, c->file, json_object_get(sm, "Definition") ? q : p,
					   "'Definition' must name the state machine's ASL file");
		s->definition = config_resolve(c->dir, def);
		if (!s->definition)
			return config_fail(err, errlen, c->file, q, "out of memory");
		if (access(s->definition, R_OK) < 0)
			return config_fail(err, errlen, c->file, q, "cannot read '%s': %s",
					   s->definition, strerror(errno));
		type = json_string_value(json_object_get(sm, "Type"));
		jdoc_ptr_join(q, sizeof(q), p, "Type");
		if (json_object_get(sm, "Type") && (!type || (strcmp(type, "STANDARD") &&
							      strcmp(type, "EXPRESS"))))
			return config_fail(err, errlen, c->file, q,
					   "Type must be \"STANDARD\" or \"EXPRESS\"");
		s->type = type && strcmp(type, "EXPRESS") == 0 ? CONFIG_EXPRESS : CONFIG_STANDARD;
	}
	return 0;
}

static int config_parse_schedules(struct config *c, const json_t *arr, char *err, size_t errlen)
{
	static const char *const allowed[] = { "Name", "ScheduleExpression", "StateMachine",
					       "Input", "State", "MissedRuns", "Description",
					       "ScheduleExpressionTimezone", NULL };
	json_t *s;
	size_t i, k;
	char p[512], q[512], serr[256];

	if (!json_is_array(arr))
		return config_fail(err, errlen, c->file, "/Schedules", "expected an array");
	c->schedules = calloc(json_array_size(arr) + 1, sizeof(*c->schedules));
	if (!c->schedules)
		return config_fail(err, errlen, c->file, "/Schedules", "out of memory");
	json_array_foreach(arr, i, s) {
		struct config_schedule *cs = &c->schedules[c->nschedules];
		const char *name, *expr, *sm, *state, *missed, *tz;
		json_t *in;

		snprintf(p, sizeof(p), "/Schedules/%zu", i);
		if (!json_is_object(s))
			return config_fail(err, errlen, c->file, p, "expected an object");
		if (config_only(s, p, allowed, c->file, err, errlen) < 0)
			return -1;
		c->nschedules++;
		cs->pointer = strdup(p);
		name = json_string_value(json_object_get(s, "Name"));
		if (!name || !config_name_ok(name) || strlen(name) > 64)
			return config_fail(err, errlen, c->file, p,
					   "'Name' must be 1-64 characters of A-Z a-z 0-9 - _ .");
		for (k = 0; k + 1 < c->nschedules; k++)
			if (strcmp(c->schedules[k].name, name) == 0)
				return config_fail(err, errlen, c->file, p,
						   "duplicate schedule name '%s'", name);
		expr = json_string_value(json_object_get(s, "ScheduleExpression"));
		jdoc_ptr_join(q, sizeof(q), p, "ScheduleExpression");
		if (!expr)
			return config_fail(err, errlen, c->file, p,
					   "missing 'ScheduleExpression' (rate(...), cron(...) or "
					   "at(...))");
		if (schedule_parse(expr, &cs->sched, serr, sizeof(serr)) < 0)
			return config_fail(err, errlen, c->file, q, "%s", serr);
		tz = json_string_value(json_object_get(s, "ScheduleExpressionTimezone"));
		if (json_object_get(s, "ScheduleExpressionTimezone") &&
		    (!tz || (strcmp(tz, "UTC") && strcmp(tz, "Etc/UTC")))) {
			jdoc_ptr_join(q, sizeof(q), p, "ScheduleExpressionTimezone");
			return config_fail(err, errlen, c->file, q,
					   "only UTC is supported");
		}
		sm = json_string_value(json_object_get(s, "StateMachine"));
		jdoc_ptr_join(q, sizeof(q), p, "StateMachine");
		if (!sm)
			return config_fail(err, errlen, c->file, p, "missing 'StateMachine'");
		if (!config_sm_find(c, sm))
			return config_fail(err, errlen, c->file, q,
					   "no state machine '%s' in /StateMachines", sm);
		state = json_string_value(json_object_get(s, "State"));
		jdoc_ptr_join(q, sizeof(q), p, "State");
		if (json_object_get(s, "State") &&
		    (!state || (strcmp(state, "ENABLED") && strcmp(state, "DISABLED"))))
			return config_fail(err, errlen, c->file, q,
					   "State must be \"ENABLED\" or \"DISABLED\"");
		missed = json_string_value(json_object_get(s, "MissedRuns"));
		jdoc_ptr_join(q, sizeof(q), p, "MissedRuns");
		if (json_object_get(s, "MissedRuns") &&
		    (!missed || (strcmp(missed, "RUN_ONCE") && strcmp(missed, "SKIP"))))
			return config_fail(err, errlen, c->file, q,
					   "MissedRuns must be \"RUN_ONCE\" or \"SKIP\"");
		in = json_object_get(s, "Input");
		if (json_is_string(in)) {
			/* AWS targets take Input as a JSON string; accept both */
			json_error_t je;

			cs->input = json_loads(json_string_value(in), JSON_DECODE_ANY, &je);
			if (!cs->input) {
				jdoc_ptr_join(q, sizeof(q), p, "Input");
				return config_fail(err, errlen, c->file, q,
						   "Input is a string but not JSON: %s", je.text);
			}
		} else if (in) {
			cs->input = json_incref(in);
		}
		cs->name = strdup(name);
		cs->expression = strdup(expr);
		cs->state_machine = strdup(sm);
		cs->enabled = !state || strcmp(state, "ENABLED") == 0;
		cs->missed = missed && strcmp(missed, "SKIP") == 0 ? CONFIG_MISSED_SKIP
								  : CONFIG_MISSED_RUN_ONCE;
		if (!cs->name || !cs->expression || !cs->state_machine || !cs->pointer)
			return config_fail(err, errlen, c->file, p, "out of memory");
	}
	return 0;
}

static void config_warn(void *arg, const char *ptr, const char *msg)
{
	const struct config *c = arg;

	log_warn("'%s': %s: %s", c->file, ptr, msg);
}

int config_parse(json_t *root, const char *file, const char *dir, struct config **ret,
		 char *err, size_t errlen)
{
	static const char *const allowed[] = {
		"Comment", "$schema", "Bucket", "Region", "Account", "Journal",
		"IncludeLocalPath", "StateMachines", "NotificationConfiguration",
		"EventBridgeRules", "Schedules", "Limits", "functions", "tasks",
		"Source", /* what to mount or watch: read by `stepfs serve` (fs/cmd_serve.c) */
		"Buckets", /* more bucket names for Map ItemReader/ResultWriter (fs/bucketmap.h) */
		NULL
	};
	static const char *const lim_allowed[] = { "QueueSize", "EnqueueTimeoutMs",
						   "MaxChainDepth", "MaxRunningExecutions",
						   "RetentionDays", "ItemReaderMaxMiB", NULL };
	struct config *c;
	struct rules_err rerr;
	json_t *v, *lim;
	size_t i;
	char *journal = NULL;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->file = strdup(file);
	c->dir = strdup(dir && *dir ? dir : ".");
	c->root = json_incref(root);
	c->include_local_path = 1;
	c->limits.queue_size = 1000;
	c->limits.enqueue_timeout_ms = 10000;
	c->limits.max_chain_depth = 8;
	c->limits.max_running = 256;
	c->limits.retention_days = 90;
	c->limits.item_reader_max_mib = 16;
	c->rules = rules_new();
	if (!c->file || !c->dir || !c->rules) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!json_is_object(root)) {
		config_fail(err, errlen, file, "", "the configuration must be a JSON object");
		goto fail;
	}
	if (config_only(root, "", allowed, file, err, errlen) < 0 ||
	    config_str(root, "Bucket", "", &c->bucket, file, err, errlen) < 0 ||
	    config_str(root, "Region", "", &c->region, file, err, errlen) < 0 ||
	    config_str(root, "Account", "", &c->account, file, err, errlen) < 0 ||
	    config_str(root, "Journal", "", &journal, file, err, errlen) < 0)
		goto fail;
	if (!c->region)
		c->region = strdup("us-east-1");
	if (!c->account)
		c->account = strdup("000000000000");
	if (journal) {
		c->journal = config_resolve(c->dir, journal);
	} else {
		const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
		size_t n = strlen(base);

		if (n > 5 && strcmp(base + n - 5, ".json") == 0)
			n -= 5;
		if (asprintf(&c->journal, "%s/%.*s.journal.db", c->dir, (int)n, base) < 0)
			c->journal = NULL;
	}
	free(journal);
	if (!c->region || !c->account || !c->journal) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	v = json_object_get(root, "Buckets");
	if (v) {
		const char *bk;
		json_t *bv;

		if (!json_is_object(v)) {
			config_fail(err, errlen, file, "/Buckets",
				    "expected an object of bucket name -> bucket URL");
			goto fail;
		}
		json_object_foreach(v, bk, bv) {
			if (!json_is_string(bv) || !json_string_length(bv) || !*bk) {
				config_fail(err, errlen, file, "/Buckets",
					    "'%s': expected a bucket URL (s3://name[/prefix] or a "
					    "directory)", bk);
				goto fail;
			}
		}
	}
	v = json_object_get(root, "IncludeLocalPath");
	if (v && !json_is_boolean(v)) {
		config_fail(err, errlen, file, "/IncludeLocalPath", "expected true or false");
		goto fail;
	}
	if (v)
		c->include_local_path = json_is_true(v);

	v = json_object_get(root, "StateMachines");
	if (!v) {
		config_fail(err, errlen, file, "",
			    "missing 'StateMachines' (name -> {\"Definition\", \"Type\"})");
		goto fail;
	}
	if (config_parse_sms(c, v, err, errlen) < 0)
		goto fail;

	v = json_object_get(root, "NotificationConfiguration");
	if (v && rules_add_notification(c->rules, v, "/NotificationConfiguration", &rerr) < 0) {
		config_fail(err, errlen, file, rerr.pointer, "%s", rerr.msg);
		goto fail;
	}
	v = json_object_get(root, "EventBridgeRules");
	if (v && rules_add_eventbridge(c->rules, v, "/EventBridgeRules", &rerr) < 0) {
		config_fail(err, errlen, file, rerr.pointer, "%s", rerr.msg);
		goto fail;
	}
	for (i = 0; i < rules_target_count(c->rules); i++) {
		const struct rules_target *t = rules_target_at(c->rules, i);

		if (!config_sm_find(c, t->state_machine)) {
			config_fail(err, errlen, file, t->pointer,
				    "no state machine '%s' in /StateMachines", t->state_machine);
			goto fail;
		}
	}
	v = json_object_get(root, "Schedules");
	if (v && config_parse_schedules(c, v, err, errlen) < 0)
		goto fail;

	lim = json_object_get(root, "Limits");
	if (lim) {
		if (!json_is_object(lim)) {
			config_fail(err, errlen, file, "/Limits", "expected an object");
			goto fail;
		}
		if (config_only(lim, "/Limits", lim_allowed, file, err, errlen) < 0 ||
		    config_uint(lim, "QueueSize", "/Limits", &c->limits.queue_size, 1, 1000000,
				file, err, errlen) < 0 ||
		    config_uint(lim, "EnqueueTimeoutMs", "/Limits", &c->limits.enqueue_timeout_ms,
				0, 600000, file, err, errlen) < 0 ||
		    config_uint(lim, "MaxChainDepth", "/Limits", &c->limits.max_chain_depth, 0,
				1000, file, err, errlen) < 0 ||
		    config_uint(lim, "MaxRunningExecutions", "/Limits", &c->limits.max_running, 1,
				100000, file, err, errlen) < 0 ||
		    config_uint(lim, "RetentionDays", "/Limits", &c->limits.retention_days, 0,
				36500, file, err, errlen) < 0 ||
		    config_uint(lim, "ItemReaderMaxMiB", "/Limits", &c->limits.item_reader_max_mib,
				1, 4096, file, err, errlen) < 0)
			goto fail;
	}
	rules_lint(c->rules, config_warn, c);
	*ret = c;
	return 0;
fail:
	config_free(c);
	return -1;
}

int config_load(const char *path, struct config **ret, char *err, size_t errlen)
{
	char dir[PATH_MAX], *slash;
	json_error_t je;
	json_t *root;
	int r;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		if (je.line <= 0)
			snprintf(err, errlen, "'%s': %s", path, je.text);
		else
			snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return -1;
	}
	if (path[0] == '/') {
		snprintf(dir, sizeof(dir), "%s", path);
	} else if (getcwd(dir, sizeof(dir))) {
		size_t n = strlen(dir);

		snprintf(dir + n, sizeof(dir) - n, "/%s", path);
	} else {
		snprintf(dir, sizeof(dir), "%s", path);
	}
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	r = config_parse(root, path, dir, ret, err, errlen);
	json_decref(root);
	return r;
}
