/*
 * Static checker for ASL definitions (see engine/aslcheck.h). Walks the
 * definition once, appending one diagnostic per problem; it never stops at
 * the first problem and never evaluates anything.
 *
 * Structure: check_machine() checks one machine (the top level, a Parallel
 * branch, a Map processor): its own fields, each state (check_state(), which
 * recurses into nested machines), then the transitions of that machine alone,
 * so a Next can never resolve into or out of a nested machine. State names
 * are collected across the whole definition, since AWS wants them unique
 * everywhere. The current JSON pointer lives in one growable buffer that is
 * extended and cut back as the walk goes down and up.
 */
#include "engine/aslcheck.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/asl.h"
#include "engine/asl_task.h"
#include "engine/buf.h"
#include "engine/jpath.h"
#include "engine/jsonata.h"

/* nested machines (Parallel branches, Map processors) deeper than this are refused */
#define MAX_NESTING 64
#define MAX_NAME_CHARS 80
#define MAX_LABEL_CHARS 40
#define MAX_SECONDS 99999999LL

enum ql {
	QL_JSONPATH = 1 << 0,
	QL_JSONATA = 1 << 1,
	QL_BOTH = QL_JSONPATH | QL_JSONATA,
};

enum st {
	ST_TASK = 1 << 0,
	ST_PARALLEL = 1 << 1,
	ST_MAP = 1 << 2,
	ST_PASS = 1 << 3,
	ST_WAIT = 1 << 4,
	ST_CHOICE = 1 << 5,
	ST_SUCCEED = 1 << 6,
	ST_FAIL = 1 << 7,
	ST_ALL = 0xff,
	ST_FLOW = ST_TASK | ST_PARALLEL | ST_MAP | ST_PASS | ST_WAIT, /* Next or End */
	ST_WORK = ST_TASK | ST_PARALLEL | ST_MAP,                    /* Retry, Catch, results */
};

static const struct {
	const char *name;
	unsigned type;
} state_types[] = {
	{ "Task", ST_TASK }, { "Parallel", ST_PARALLEL }, { "Map", ST_MAP },
	{ "Pass", ST_PASS }, { "Wait", ST_WAIT },         { "Choice", ST_CHOICE },
	{ "Succeed", ST_SUCCEED }, { "Fail", ST_FAIL },
};

/* Which fields each state type takes, in which query language (asl.md §1.2, §1.3). */
static const struct field {
	const char *name;
	unsigned types;
	unsigned ql;
} state_fields[] = {
	{ "Type", ST_ALL, QL_BOTH },
	{ "Comment", ST_ALL, QL_BOTH },
	{ "QueryLanguage", ST_ALL, QL_BOTH },
	{ "InputPath", ST_ALL & ~ST_FAIL, QL_JSONPATH },
	{ "OutputPath", ST_ALL & ~ST_FAIL, QL_JSONPATH },
	{ "Output", ST_ALL & ~ST_FAIL, QL_JSONATA },
	{ "Assign", ST_ALL & ~(ST_SUCCEED | ST_FAIL), QL_BOTH },
	{ "Next", ST_FLOW, QL_BOTH },
	{ "End", ST_FLOW, QL_BOTH },
	{ "ResultPath", ST_WORK | ST_PASS, QL_JSONPATH },
	{ "Parameters", ST_WORK | ST_PASS, QL_JSONPATH },
	{ "Arguments", ST_TASK | ST_PARALLEL, QL_JSONATA },
	{ "ResultSelector", ST_WORK, QL_JSONPATH },
	{ "Retry", ST_WORK, QL_BOTH },
	{ "Catch", ST_WORK, QL_BOTH },
	{ "Result", ST_PASS, QL_JSONPATH },
	{ "Resource", ST_TASK, QL_BOTH },
	{ "TimeoutSeconds", ST_TASK, QL_BOTH },
	{ "TimeoutSecondsPath", ST_TASK, QL_JSONPATH },
	{ "HeartbeatSeconds", ST_TASK, QL_BOTH },
	{ "HeartbeatSecondsPath", ST_TASK, QL_JSONPATH },
	{ "Credentials", ST_TASK, QL_BOTH },
	{ "Choices", ST_CHOICE, QL_BOTH },
	{ "Default", ST_CHOICE, QL_BOTH },
	{ "Seconds", ST_WAIT, QL_BOTH },
	{ "SecondsPath", ST_WAIT, QL_JSONPATH },
	{ "Timestamp", ST_WAIT, QL_BOTH },
	{ "TimestampPath", ST_WAIT, QL_JSONPATH },
	{ "Error", ST_FAIL, QL_BOTH },
	{ "ErrorPath", ST_FAIL, QL_JSONPATH },
	{ "Cause", ST_FAIL, QL_BOTH },
	{ "CausePath", ST_FAIL, QL_JSONPATH },
	{ "Branches", ST_PARALLEL, QL_BOTH },
	{ "ItemProcessor", ST_MAP, QL_BOTH },
	{ "Iterator", ST_MAP, QL_BOTH },
	{ "ItemsPath", ST_MAP, QL_JSONPATH },
	{ "Items", ST_MAP, QL_JSONATA },
	{ "ItemSelector", ST_MAP, QL_BOTH },
	{ "ItemBatcher", ST_MAP, QL_BOTH },
	{ "ItemReader", ST_MAP, QL_BOTH },
	{ "ResultWriter", ST_MAP, QL_BOTH },
	{ "MaxConcurrency", ST_MAP, QL_BOTH },
	{ "MaxConcurrencyPath", ST_MAP, QL_JSONPATH },
	{ "ToleratedFailurePercentage", ST_MAP, QL_BOTH },
	{ "ToleratedFailurePercentagePath", ST_MAP, QL_JSONPATH },
	{ "ToleratedFailureCount", ST_MAP, QL_BOTH },
	{ "ToleratedFailureCountPath", ST_MAP, QL_JSONPATH },
	{ "Label", ST_MAP, QL_BOTH },
};

/* Error names the interpreter itself raises (asl.md §1.9); other "States." names are reserved. */
static const char *const states_errors[] = {
	"States.ALL",
	"States.HeartbeatTimeout",
	"States.Timeout",
	"States.TaskFailed",
	"States.Permissions",
	"States.ResultPathMatchFailure",
	"States.ParameterPathFailure",
	"States.QueryEvaluationError",
	"States.BranchFailed",
	"States.NoChoiceMatched",
	"States.IntrinsicFailure",
	"States.ExceedToleratedFailureThreshold",
	"States.ItemReaderFailed",
	"States.ResultWriterFailed",
	"States.Runtime",
	"States.DataLimitExceeded",
	"States.Http.Socket",
};

/* a transition found in a machine, resolved once all its states are known */
struct edge {
	size_t from;        /* index of the source state in its machine */
	const char *target; /* borrowed from the definition */
	char *pointer;      /* where the transition is written */
};

struct machine {
	json_t *states;    /* borrowed */
	json_t *index;     /* name -> integer index in this machine */
	struct edge *edges;
	size_t nedges;
	size_t cur;        /* index of the state being checked */
	bool has_terminal;
};

struct ck {
	struct aslcheck_result *res;
	const struct aslcheck_opts *opts;
	struct buf ptr;   /* JSON pointer of the value being checked */
	json_t *names;    /* every state name seen -> pointer of its first definition */
	json_t *all;      /* every state name anywhere in the definition (pre-collected) */
	unsigned top_ql;  /* the machine's QueryLanguage: the default of every state */
	int depth;
	int nerr;
	bool oom;
};

/* ---- diagnostics and the pointer ---- */

static void add_diag(struct ck *c, const char *pointer, const char *code, const char *msg)
{
	struct aslcheck_diag *d;

	c->nerr++;
	d = realloc(c->res->diags, (c->res->n + 1) * sizeof(*d));
	if (!d) {
		c->oom = true;
		return;
	}
	c->res->diags = d;
	d = &c->res->diags[c->res->n];
	d->pointer = strdup(pointer);
	d->code = strdup(code);
	d->message = strdup(msg);
	if (!d->pointer || !d->code || !d->message) {
		free(d->pointer);
		free(d->code);
		free(d->message);
		c->oom = true;
		return;
	}
	c->res->n++;
	c->res->nerrors++;
}

/* append one pointer segment, escaped as RFC 6901 wants; returns the length to cut back to */
static size_t ptr_push(struct ck *c, const char *seg)
{
	size_t old = c->ptr.len;
	const char *p;

	if (buf_putc(&c->ptr, '/') < 0)
		c->oom = true;
	for (p = seg; *p; p++) {
		int r;

		if (*p == '~')
			r = buf_puts(&c->ptr, "~0");
		else if (*p == '/')
			r = buf_puts(&c->ptr, "~1");
		else
			r = buf_putc(&c->ptr, *p);
		if (r < 0)
			c->oom = true;
	}
	return old;
}

static size_t ptr_push_index(struct ck *c, size_t i)
{
	char num[32];

	snprintf(num, sizeof(num), "%zu", i);
	return ptr_push(c, num);
}

static void ptr_pop(struct ck *c, size_t len)
{
	if (len <= c->ptr.len) {
		c->ptr.len = len;
		c->ptr.data[len] = '\0';
	}
}

/* a diagnostic at the current pointer, or at its child @field when non-NULL */
__attribute__((format(printf, 4, 5))) static void diag(struct ck *c, const char *field,
						       const char *code, const char *fmt, ...)
{
	struct buf m = BUF_INIT;
	size_t mark = c->ptr.len;
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&m, fmt, ap) < 0)
		c->oom = true;
	va_end(ap);
	if (field)
		ptr_push(c, field);
	add_diag(c, c->ptr.data, code, m.data);
	ptr_pop(c, mark);
	buf_release(&m);
}

/* ---- small value helpers ---- */

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

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
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "null";
	}
}

/* "{% ... %}" exactly, with something inside */
static bool is_jsonata_expr(const char *s)
{
	size_t n = strlen(s);
	size_t i;

	if (n < 4 || strncmp(s, "{%", 2) != 0 || strcmp(s + n - 2, "%}") != 0)
		return false;
	for (i = 2; i < n - 2; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return true;
	return false;
}

/*
 * A whole "{% ... %}" string must compile as JSONata (Step Functions'
 * dialect); the engine compiles it the same way at load. @field: the field
 * under the current pointer, or NULL for the pointer itself.
 */
static void check_expr_syntax(struct ck *c, const char *field, const char *s)
{
	size_t n = strlen(s), b = 2, e = n - 2;
	struct jsonata_err err;
	struct jsonata *j;
	char *src;

	if (!is_jsonata_expr(s))
		return;
	while (b < e && strchr(" \t\r\n", s[b]))
		b++;
	while (e > b && strchr(" \t\r\n", s[e - 1]))
		e--;
	src = strndup(s + b, e - b);
	if (!src)
		return;
	memset(&err, 0, sizeof(err));
	j = jsonata_compile(src, JSONATA_ASL, &err);
	if (!j && (err.code[0] || err.message[0]))
		diag(c, field, ASLCHECK_SCHEMA,
		     "the JSONata expression '%s' is not valid: %s%s%s (at character %ld)", src,
		     err.code, err.code[0] ? ": " : "", err.message, err.position);
	jsonata_free(j);
	free(src);
}

/*
 * A JSONata-mode value: any string that starts with "{%" must be a whole
 * expression that compiles. Recurses through arrays and objects, keeping
 * the pointer.
 */
static void check_jsonata_value(struct ck *c, json_t *v)
{
	const char *key;
	json_t *item;
	size_t i, mark;

	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strncmp(s, "{%", 2) == 0 && !is_jsonata_expr(s))
			diag(c, NULL, ASLCHECK_SCHEMA,
			     "a JSONata expression must be written as '{%% expression %%}' and "
			     "not be empty: '%s'", s);
		else if (is_jsonata_expr(s) && strstr(s + 2, "{%"))
			diag(c, NULL, ASLCHECK_SCHEMA,
			     "JSONata expressions cannot be nested: '%s'", s);
		else
			check_expr_syntax(c, NULL, s);
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			mark = ptr_push_index(c, i);
			check_jsonata_value(c, item);
			ptr_pop(c, mark);
		}
		return;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, key, item) {
			mark = ptr_push(c, key);
			check_jsonata_value(c, item);
			ptr_pop(c, mark);
		}
	}
}

/* a Path field (InputPath, OutputPath...): null allowed where @nullable */
static void check_path_field(struct ck *c, json_t *obj, const char *field, bool reference,
			     bool nullable)
{
	json_t *v = json_object_get(obj, field);
	char msg[256];

	if (!v)
		return;
	if (json_is_null(v) && nullable)
		return;
	if (!json_is_string(v)) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be a string%s, not %s", field,
		     nullable ? " or null" : "", type_name(v));
		return;
	}
	msg[0] = '\0';
	if ((reference ? jpath_check_reference : jpath_check)(json_string_value(v), msg,
							      sizeof(msg)) < 0)
		diag(c, field, ASLCHECK_PATH, "the value of '%s' is not a valid %s: '%s'%s%s",
		     field, reference ? "reference path" : "JSONPath", json_string_value(v),
		     msg[0] ? ": " : "", msg);
}

/* ResultPath: a reference path into the state input; not the context, not a variable */
static void check_result_path(struct ck *c, json_t *obj)
{
	json_t *v = json_object_get(obj, "ResultPath");
	const char *s;

	if (!v || !json_is_string(v)) {
		check_path_field(c, obj, "ResultPath", true, true);
		return;
	}
	s = json_string_value(v);
	if (strncmp(s, "$$", 2) == 0)
		diag(c, "ResultPath", ASLCHECK_PATH,
		     "'ResultPath' cannot refer to the context object: '%s'", s);
	else if (s[0] == '$' && s[1] != '\0' && s[1] != '.' && s[1] != '[')
		diag(c, "ResultPath", ASLCHECK_PATH,
		     "'ResultPath' cannot refer to a variable: '%s'", s);
	else
		check_path_field(c, obj, "ResultPath", true, true);
}

/*
 * Find where in the template @t a problem jpath_template_check() reported
 * lies: the first ".$" entry that fails on its own, searched depth-first
 * (the pointer follows the walk). Returns true and the pointer left at that
 * entry with its message in @msg; false if no single entry fails (e.g. a key
 * given twice as "k" and "k.$"), with the pointer unchanged.
 */
static bool locate_template_error(struct ck *c, json_t *t, char *msg, size_t msglen)
{
	const char *key;
	json_t *v, *one;
	size_t i, mark, len;
	bool found = false;

	if (json_is_array(t)) {
		json_array_foreach(t, i, v) {
			mark = ptr_push_index(c, i);
			if (locate_template_error(c, v, msg, msglen))
				return true;
			ptr_pop(c, mark);
		}
		return false;
	}
	if (!json_is_object(t))
		return false;
	json_object_foreach(t, key, v) {
		mark = ptr_push(c, key);
		len = strlen(key);
		if (len >= 2 && strcmp(key + len - 2, ".$") == 0) {
			one = json_object();
			if (!one || json_object_set(one, key, v) < 0)
				c->oom = true;
			else
				found = jpath_template_check(one, msg, msglen) < 0;
			json_decref(one);
		} else {
			found = locate_template_error(c, v, msg, msglen);
		}
		if (found)
			return true;
		ptr_pop(c, mark);
	}
	return false;
}

/* jpath_template_check() on @t (the value of @field), reported at the failing entry */
static void template_diag(struct ck *c, json_t *t, const char *field)
{
	char msg[256], where[256];
	size_t mark = ptr_push(c, field);

	msg[0] = '\0';
	if (jpath_template_check(t, msg, sizeof(msg)) == 0) {
		ptr_pop(c, mark);
		return;
	}
	snprintf(where, sizeof(where), "%s", msg);
	if (locate_template_error(c, t, msg, sizeof(msg)))
		diag(c, NULL, ASLCHECK_PATH, "invalid payload template in '%s': %s", field,
		     msg[0] ? msg : "bad path or intrinsic function");
	else
		diag(c, NULL, ASLCHECK_PATH, "invalid payload template in '%s': %s", field,
		     where[0] ? where : "bad path or intrinsic function");
	ptr_pop(c, mark);
}

/* a payload template (Parameters, ResultSelector, ItemSelector...) in JSONPath mode */
static void check_template_field(struct ck *c, json_t *obj, const char *field, bool any_type)
{
	json_t *v = json_object_get(obj, field);

	if (!v)
		return;
	if (!json_is_object(v) && !any_type) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be an object, not %s", field,
		     type_name(v));
		return;
	}
	template_diag(c, v, field);
}

/*
 * An integer field that may instead be a JSONata expression (@ql JSONata).
 * Returns true and *ret when it holds a literal integer within range.
 */
static bool check_int_field(struct ck *c, json_t *obj, const char *field, long long min,
			    long long max, unsigned ql, long long *ret)
{
	json_t *v = json_object_get(obj, field);
	long long n;

	if (!v)
		return false;
	if (json_is_string(v) && ql == QL_JSONATA) {
		if (!is_jsonata_expr(json_string_value(v)))
			diag(c, field, ASLCHECK_SCHEMA,
			     "'%s' must be an integer or a JSONata expression '{%% ... %%}'", field);
		check_expr_syntax(c, field, json_string_value(v));
		return false;
	}
	if (!json_is_integer(v)) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be an integer, not %s", field,
		     type_name(v));
		return false;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be between %lld and %lld, not %lld",
		     field, min, max, n);
		return false;
	}
	if (ret)
		*ret = n;
	return true;
}

static void check_number_field(struct ck *c, json_t *obj, const char *field, double min,
			       double max, unsigned ql)
{
	json_t *v = json_object_get(obj, field);
	double d;

	if (!v)
		return;
	if (json_is_string(v) && ql == QL_JSONATA) {
		if (!is_jsonata_expr(json_string_value(v)))
			diag(c, field, ASLCHECK_SCHEMA,
			     "'%s' must be a number or a JSONata expression '{%% ... %%}'", field);
		check_expr_syntax(c, field, json_string_value(v));
		return;
	}
	if (!json_is_number(v)) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be a number, not %s", field,
		     type_name(v));
		return;
	}
	d = json_number_value(v);
	if (!(d >= min && d <= max))
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be between %g and %g, not %g", field,
		     min, max, d);
}

static void check_string_field(struct ck *c, json_t *obj, const char *field, bool nonempty)
{
	json_t *v = json_object_get(obj, field);

	if (!v)
		return;
	if (!json_is_string(v))
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be a string, not %s", field,
		     type_name(v));
	else if (nonempty && json_string_length(v) == 0)
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must not be empty", field);
}

static void check_enum_field(struct ck *c, json_t *obj, const char *field,
			     const char *const *values, size_t n)
{
	json_t *v = json_object_get(obj, field);
	struct buf list = BUF_INIT;
	size_t i;

	if (!v)
		return;
	if (json_is_string(v))
		for (i = 0; i < n; i++)
			if (strcmp(json_string_value(v), values[i]) == 0)
				return;
	for (i = 0; i < n; i++)
		if (buf_printf(&list, "%s%s", i ? ", " : "", values[i]) < 0)
			c->oom = true;
	diag(c, field, ASLCHECK_SCHEMA, "'%s' must be one of %s", field, list.data);
	buf_release(&list);
}

/* two fields of which at most one may be present */
static void check_exclusive(struct ck *c, json_t *obj, const char *a, const char *b)
{
	if (json_object_get(obj, a) && json_object_get(obj, b))
		diag(c, b, ASLCHECK_SCHEMA, "'%s' and '%s' are mutually exclusive", a, b);
}

/* fields of a sub-object (Retrier, Catcher, ItemReader...) that are not in @allowed */
static void check_known_fields(struct ck *c, json_t *obj, const char *what,
			       const char *const *allowed, size_t n)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		for (i = 0; i < n; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i == n)
			diag(c, key, ASLCHECK_SCHEMA, "field '%s' is not supported in %s", key,
			     what);
	}
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- variables ---- */

static bool is_ident_start(unsigned char ch)
{
	return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch >= 0x80;
}

static bool is_ident_char(unsigned char ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

/* Assign: variable names, then the values in the state's query language */
static void check_assign(struct ck *c, json_t *obj, unsigned ql)
{
	json_t *assign = json_object_get(obj, "Assign");
	const char *key;
	json_t *v;
	size_t mark;

	if (!assign)
		return;
	if (!json_is_object(assign)) {
		diag(c, "Assign", ASLCHECK_SCHEMA, "'Assign' must be an object, not %s",
		     type_name(assign));
		return;
	}
	mark = ptr_push(c, "Assign");
	json_object_foreach(assign, key, v) {
		size_t len = strlen(key), i;
		bool ok;

		if (ql == QL_JSONPATH && len >= 2 && strcmp(key + len - 2, ".$") == 0)
			len -= 2;
		ok = len > 0 && is_ident_start((unsigned char)key[0]);
		for (i = 1; ok && i < len; i++)
			ok = is_ident_char((unsigned char)key[i]);
		if (!ok)
			diag(c, key, ASLCHECK_SCHEMA,
			     "invalid variable name '%.*s': names start with a letter or '_' and "
			     "hold only letters, digits and '_'", (int)len, key);
		else if (utf8_chars(key) - (strlen(key) - len) > MAX_NAME_CHARS)
			diag(c, key, ASLCHECK_SCHEMA,
			     "variable name '%.*s' is longer than %d characters", (int)len, key,
			     MAX_NAME_CHARS);
		else if (ql == QL_JSONATA && len == 6 && strncmp(key, "states", 6) == 0)
			diag(c, key, ASLCHECK_SCHEMA,
			     "the variable name 'states' is reserved for $states");
		if (ql == QL_JSONATA) {
			size_t m = ptr_push(c, key);

			check_jsonata_value(c, v);
			ptr_pop(c, m);
		}
	}
	ptr_pop(c, mark);
	if (ql == QL_JSONPATH)
		template_diag(c, assign, "Assign");
}

/* ---- errors, Retry, Catch ---- */

static void check_error_name(struct ck *c, const char *name, const char *field)
{
	size_t i;

	if (strncmp(name, "States.", 7) != 0)
		return;
	for (i = 0; i < COUNT(states_errors); i++)
		if (strcmp(name, states_errors[i]) == 0)
			return;
	diag(c, field, ASLCHECK_SCHEMA,
	     "'%s' is not a predefined error name; names starting with 'States.' are reserved",
	     name);
}

/* ErrorEquals of a Retrier or Catcher; returns true if it holds States.ALL */
static bool check_error_equals(struct ck *c, json_t *obj)
{
	json_t *ee = json_object_get(obj, "ErrorEquals");
	json_t *v;
	size_t i, mark;
	bool all = false;

	if (!ee) {
		diag(c, NULL, ASLCHECK_SCHEMA, "missing required field 'ErrorEquals'");
		return false;
	}
	if (!json_is_array(ee) || json_array_size(ee) == 0) {
		diag(c, "ErrorEquals", ASLCHECK_SCHEMA,
		     "'ErrorEquals' must be a non-empty array of error names");
		return false;
	}
	mark = ptr_push(c, "ErrorEquals");
	json_array_foreach(ee, i, v) {
		char idx[32];

		snprintf(idx, sizeof(idx), "%zu", i);
		if (!json_is_string(v) || json_string_length(v) == 0) {
			diag(c, idx, ASLCHECK_SCHEMA, "an error name must be a non-empty string");
			continue;
		}
		check_error_name(c, json_string_value(v), idx);
		if (strcmp(json_string_value(v), ASL_E_ALL) == 0) {
			all = true;
			if (json_array_size(ee) != 1)
				diag(c, idx, ASLCHECK_SCHEMA,
				     "'States.ALL' must appear alone in 'ErrorEquals'");
		}
	}
	ptr_pop(c, mark);
	return all;
}

static void check_retry(struct ck *c, json_t *state)
{
	static const char *const fields[] = { "ErrorEquals", "IntervalSeconds", "MaxAttempts",
					      "BackoffRate", "MaxDelaySeconds", "JitterStrategy",
					      "Comment" };
	static const char *const jitter[] = { "FULL", "NONE" };
	json_t *retry = json_object_get(state, "Retry");
	json_t *r;
	size_t i, mark, m;

	if (!retry)
		return;
	if (!json_is_array(retry)) {
		diag(c, "Retry", ASLCHECK_SCHEMA, "'Retry' must be an array of retriers");
		return;
	}
	mark = ptr_push(c, "Retry");
	json_array_foreach(retry, i, r) {
		m = ptr_push_index(c, i);
		if (!json_is_object(r)) {
			diag(c, NULL, ASLCHECK_SCHEMA, "a retrier must be an object, not %s",
			     type_name(r));
			ptr_pop(c, m);
			continue;
		}
		check_known_fields(c, r, "a retrier", fields, COUNT(fields));
		if (check_error_equals(c, r) && i + 1 != json_array_size(retry))
			diag(c, "ErrorEquals", ASLCHECK_SCHEMA,
			     "a retrier with 'States.ALL' must be the last retrier");
		check_int_field(c, r, "IntervalSeconds", 1, MAX_SECONDS, QL_JSONPATH, NULL);
		check_int_field(c, r, "MaxAttempts", 0, MAX_SECONDS, QL_JSONPATH, NULL);
		check_number_field(c, r, "BackoffRate", 1.0, 1e9, QL_JSONPATH);
		check_int_field(c, r, "MaxDelaySeconds", 1, 31622400, QL_JSONPATH, NULL);
		check_enum_field(c, r, "JitterStrategy", jitter, COUNT(jitter));
		check_string_field(c, r, "Comment", false);
		ptr_pop(c, m);
	}
	ptr_pop(c, mark);
}

static void add_edge(struct ck *c, struct machine *m, const char *field, json_t *target);

static void check_catch(struct ck *c, struct machine *mach, json_t *state, unsigned ql)
{
	static const char *const fields_jp[] = { "ErrorEquals", "Next", "ResultPath", "Assign",
						 "Comment" };
	static const char *const fields_ja[] = { "ErrorEquals", "Next", "Output", "Assign",
						 "Comment" };
	json_t *catch = json_object_get(state, "Catch");
	json_t *k;
	size_t i, mark, m;

	if (!catch)
		return;
	if (!json_is_array(catch)) {
		diag(c, "Catch", ASLCHECK_SCHEMA, "'Catch' must be an array of catchers");
		return;
	}
	mark = ptr_push(c, "Catch");
	json_array_foreach(catch, i, k) {
		m = ptr_push_index(c, i);
		if (!json_is_object(k)) {
			diag(c, NULL, ASLCHECK_SCHEMA, "a catcher must be an object, not %s",
			     type_name(k));
			ptr_pop(c, m);
			continue;
		}
		if (ql == QL_JSONPATH)
			check_known_fields(c, k, "a catcher (JSONPath)", fields_jp,
					   COUNT(fields_jp));
		else
			check_known_fields(c, k, "a catcher (JSONata)", fields_ja,
					   COUNT(fields_ja));
		if (check_error_equals(c, k) && i + 1 != json_array_size(catch))
			diag(c, "ErrorEquals", ASLCHECK_SCHEMA,
			     "a catcher with 'States.ALL' must be the last catcher");
		if (!json_object_get(k, "Next"))
			diag(c, NULL, ASLCHECK_SCHEMA, "missing required field 'Next'");
		else
			add_edge(c, mach, "Next", json_object_get(k, "Next"));
		if (ql == QL_JSONPATH)
			check_result_path(c, k);
		else if (json_object_get(k, "Output")) {
			size_t o = ptr_push(c, "Output");

			check_jsonata_value(c, json_object_get(k, "Output"));
			ptr_pop(c, o);
		}
		check_assign(c, k, ql);
		check_string_field(c, k, "Comment", false);
		ptr_pop(c, m);
	}
	ptr_pop(c, mark);
}

/* ---- transitions ---- */

/* record a transition of the current state to @target (written at child @field) */
static void add_edge(struct ck *c, struct machine *m, const char *field, json_t *target)
{
	struct edge *e;
	size_t mark;

	if (!json_is_string(target) || json_string_length(target) == 0) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be a non-empty state name", field);
		return;
	}
	e = realloc(m->edges, (m->nedges + 1) * sizeof(*e));
	if (!e) {
		c->oom = true;
		return;
	}
	m->edges = e;
	mark = ptr_push(c, field);
	e[m->nedges].pointer = strdup(c->ptr.data);
	ptr_pop(c, mark);
	if (!e[m->nedges].pointer) {
		c->oom = true;
		return;
	}
	e[m->nedges].from = m->cur;
	e[m->nedges].target = json_string_value(target);
	m->nedges++;
}

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/* every transition resolves inside its machine; every state is reachable from StartAt */
static void check_transitions(struct ck *c, struct machine *m, const char *start)
{
	size_t n = json_object_size(m->states);
	size_t *first = NULL, *queue = NULL;
	bool *seen = NULL;
	size_t i, head = 0, tail = 0;
	const char *name;
	json_t *v, *st;

	for (i = 0; i < m->nedges; i++) {
		struct buf msg = BUF_INIT;
		int r;

		if (json_object_get(m->index, m->edges[i].target))
			continue;
		if (json_object_get(c->all, m->edges[i].target))
			r = buf_printf(&msg,
				       "'Next' target '%s' is a state of another (nested or "
				       "enclosing) state machine: transitions cannot jump into or "
				       "out of a Parallel branch or Map processor",
				       m->edges[i].target);
		else
			r = buf_printf(&msg, "missing 'Next' target: no state is named '%s'",
				       m->edges[i].target);
		if (r < 0)
			c->oom = true;
		add_diag(c, m->edges[i].pointer, ASLCHECK_MISSING_TARGET, msg.data);
		buf_release(&msg);
	}
	if (!start || !json_object_get(m->index, start) || n == 0)
		return;

	/* breadth-first from StartAt over the edges grouped by source */
	if (m->nedges)
		qsort(m->edges, m->nedges, sizeof(*m->edges), edge_cmp);
	first = calloc(n + 1, sizeof(*first));
	queue = calloc(n, sizeof(*queue));
	seen = calloc(n, sizeof(*seen));
	if (!first || !queue || !seen) {
		c->oom = true;
		goto out;
	}
	for (i = 0; i < m->nedges; i++)
		first[m->edges[i].from + 1]++;
	for (i = 0; i < n; i++)
		first[i + 1] += first[i];
	i = (size_t)json_integer_value(json_object_get(m->index, start));
	seen[i] = true;
	queue[tail++] = i;
	while (head < tail) {
		size_t s = queue[head++], e;

		for (e = first[s]; e < first[s + 1]; e++) {
			json_t *t = json_object_get(m->index, m->edges[e].target);
			size_t ti;

			if (!t)
				continue;
			ti = (size_t)json_integer_value(t);
			if (!seen[ti]) {
				seen[ti] = true;
				queue[tail++] = ti;
			}
		}
	}
	json_object_foreach(m->states, name, st) {
		size_t mark;

		v = json_object_get(m->index, name);
		if (!v || seen[json_integer_value(v)])
			continue;
		mark = ptr_push(c, name);
		diag(c, NULL, ASLCHECK_UNREACHABLE, "state '%s' is not reachable", name);
		ptr_pop(c, mark);
	}
out:
	free(first);
	free(queue);
	free(seen);
}

/* ---- states ---- */

static void check_machine(struct ck *c, json_t *machine, const char *kind);

static void check_choice(struct ck *c, struct machine *m, json_t *state, unsigned ql)
{
	static const char *const fields_ja[] = { "Condition", "Next", "Assign", "Output",
						 "Comment" };
	json_t *choices = json_object_get(state, "Choices");
	json_t *rule;
	size_t i, mark, rm;
	char msg[256];

	if (json_object_get(state, "Default"))
		add_edge(c, m, "Default", json_object_get(state, "Default"));
	if (!choices) {
		diag(c, NULL, ASLCHECK_SCHEMA, "a Choice state needs a 'Choices' array");
		return;
	}
	if (!json_is_array(choices) || json_array_size(choices) == 0) {
		diag(c, "Choices", ASLCHECK_SCHEMA, "'Choices' must be a non-empty array of rules");
		return;
	}
	mark = ptr_push(c, "Choices");
	json_array_foreach(choices, i, rule) {
		rm = ptr_push_index(c, i);
		if (!json_is_object(rule)) {
			diag(c, NULL, ASLCHECK_SCHEMA, "a choice rule must be an object, not %s",
			     type_name(rule));
			ptr_pop(c, rm);
			continue;
		}
		if (!json_object_get(rule, "Next"))
			diag(c, NULL, ASLCHECK_SCHEMA, "a choice rule needs a 'Next' field");
		else
			add_edge(c, m, "Next", json_object_get(rule, "Next"));
		check_assign(c, rule, ql);
		if (ql == QL_JSONATA) {
			json_t *cond = json_object_get(rule, "Condition");

			check_known_fields(c, rule, "a JSONata choice rule", fields_ja,
					   COUNT(fields_ja));
			if (!cond)
				diag(c, NULL, ASLCHECK_SCHEMA,
				     "a JSONata choice rule needs a 'Condition'");
			else if (!json_is_boolean(cond) &&
				 !(json_is_string(cond) && is_jsonata_expr(json_string_value(cond))))
				diag(c, "Condition", ASLCHECK_SCHEMA,
				     "'Condition' must be a boolean or a JSONata expression "
				     "'{%% ... %%}'");
			else if (json_is_string(cond))
				check_expr_syntax(c, "Condition", json_string_value(cond));
			if (json_object_get(rule, "Output")) {
				size_t o = ptr_push(c, "Output");

				check_jsonata_value(c, json_object_get(rule, "Output"));
				ptr_pop(c, o);
			}
		} else {
			json_t *copy;

			if (json_object_get(rule, "Output"))
				diag(c, "Output", ASLCHECK_SCHEMA,
				     "field 'Output' is not supported in JSONPath choice rules");
			if (json_object_get(rule, "Condition"))
				diag(c, "Condition", ASLCHECK_SCHEMA,
				     "field 'Condition' is only supported in JSONata choice rules");
			/* Assign belongs to the top-level rule, not to its condition */
			copy = json_copy(rule);
			if (!copy) {
				c->oom = true;
			} else {
				json_object_del(copy, "Assign");
				json_object_del(copy, "Output");
				json_object_del(copy, "Condition");
				msg[0] = '\0';
				if (choice_check(copy, msg, sizeof(msg)) < 0)
					diag(c, NULL, ASLCHECK_SCHEMA, "invalid choice rule: %s",
					     msg[0] ? msg : "malformed rule");
				json_decref(copy);
			}
		}
		ptr_pop(c, rm);
	}
	ptr_pop(c, mark);
}

static void check_wait(struct ck *c, json_t *state, unsigned ql)
{
	static const char *const which[] = { "Seconds", "SecondsPath", "Timestamp",
					     "TimestampPath" };
	json_t *ts;
	size_t i, n = 0;

	for (i = 0; i < COUNT(which); i++)
		if (json_object_get(state, which[i]))
			n++;
	if (n != 1)
		diag(c, NULL, ASLCHECK_SCHEMA,
		     "a Wait state needs exactly one of 'Seconds', 'SecondsPath', 'Timestamp' "
		     "and 'TimestampPath' (found %zu)", n);
	check_int_field(c, state, "Seconds", 0, MAX_SECONDS, ql, NULL);
	check_path_field(c, state, "SecondsPath", true, false);
	check_path_field(c, state, "TimestampPath", true, false);
	ts = json_object_get(state, "Timestamp");
	if (ts) {
		struct timespec t;

		if (json_is_string(ts) && ql == QL_JSONATA && is_jsonata_expr(json_string_value(ts))) {
			check_expr_syntax(c, "Timestamp", json_string_value(ts));
			return;
		}
		if (!json_is_string(ts))
			diag(c, "Timestamp", ASLCHECK_SCHEMA, "'Timestamp' must be a string, not %s",
			     type_name(ts));
		else if (asl_timestamp_parse(json_string_value(ts), &t) < 0)
			diag(c, "Timestamp", ASLCHECK_SCHEMA,
			     "'Timestamp' is not an RFC 3339 date-time such as "
			     "'2016-03-14T01:59:00Z': '%s'", json_string_value(ts));
	}
}

/* Fail ErrorPath / CausePath: a reference path or an intrinsic function */
static void check_path_or_intrinsic(struct ck *c, json_t *state, const char *field)
{
	json_t *v = json_object_get(state, field);
	char msg[256];

	if (!v)
		return;
	if (!json_is_string(v)) {
		diag(c, field, ASLCHECK_SCHEMA, "'%s' must be a string, not %s", field,
		     type_name(v));
		return;
	}
	if (!intrinsic_is_call(json_string_value(v))) {
		check_path_field(c, state, field, true, false);
		return;
	}
	msg[0] = '\0';
	if (intrinsic_check(json_string_value(v), msg, sizeof(msg)) < 0)
		diag(c, field, ASLCHECK_INTRINSIC, "invalid intrinsic function in '%s': %s", field,
		     msg[0] ? msg : json_string_value(v));
}

static void check_fail(struct ck *c, json_t *state, unsigned ql)
{
	static const char *const pairs[][2] = { { "Error", "ErrorPath" }, { "Cause", "CausePath" } };
	size_t i;

	for (i = 0; i < COUNT(pairs); i++) {
		json_t *v = json_object_get(state, pairs[i][0]);

		check_exclusive(c, state, pairs[i][0], pairs[i][1]);
		check_path_or_intrinsic(c, state, pairs[i][1]);
		if (!v)
			continue;
		if (!json_is_string(v))
			diag(c, pairs[i][0], ASLCHECK_SCHEMA, "'%s' must be a string, not %s",
			     pairs[i][0], type_name(v));
		else if (ql == QL_JSONATA && strncmp(json_string_value(v), "{%", 2) == 0)
			check_jsonata_value(c, v);
		else if (i == 0)
			check_error_name(c, json_string_value(v), "Error");
	}
}

static void check_task(struct ck *c, json_t *state, unsigned ql)
{
	json_t *res = json_object_get(state, "Resource");
	json_t *cred = json_object_get(state, "Credentials");
	long long timeout = 0, heartbeat = 0;
	bool have_t, have_h;

	if (!res) {
		diag(c, NULL, ASLCHECK_SCHEMA, "a Task state needs a 'Resource'");
	} else if (!json_is_string(res) || json_string_length(res) == 0) {
		diag(c, "Resource", ASLCHECK_SCHEMA, "'Resource' must be a non-empty string URI");
	} else if (c->opts && c->opts->check_resources && c->opts->tasks &&
		   c->opts->tasks->check) {
		char msg[512], *run = strdup(json_string_value(res));
		size_t n = run ? strlen(run) : 0, sl = strlen(ASL_CALLBACK_SUFFIX);

		msg[0] = '\0';
		if (n > sl && strcmp(run + n - sl, ASL_CALLBACK_SUFFIX) == 0)
			run[n - sl] = '\0'; /* the program of a callback task */
		if (!run)
			diag(c, "Resource", ASLCHECK_RESOURCE, "out of memory");
		else if (c->opts->tasks->check(c->opts->tasks->arg, run, c->opts->definition_dir,
					       msg, sizeof(msg)) < 0)
			diag(c, "Resource", ASLCHECK_RESOURCE, "resource '%s' cannot be run: %s",
			     json_string_value(res), msg[0] ? msg : "unknown resource");
		free(run);
	}
	check_exclusive(c, state, "TimeoutSeconds", "TimeoutSecondsPath");
	check_exclusive(c, state, "HeartbeatSeconds", "HeartbeatSecondsPath");
	have_t = check_int_field(c, state, "TimeoutSeconds", 1, MAX_SECONDS, ql, &timeout);
	have_h = check_int_field(c, state, "HeartbeatSeconds", 1, MAX_SECONDS, ql, &heartbeat);
	if (have_t && have_h && heartbeat >= timeout)
		diag(c, "HeartbeatSeconds", ASLCHECK_SCHEMA,
		     "'HeartbeatSeconds' (%lld) must be smaller than 'TimeoutSeconds' (%lld)",
		     heartbeat, timeout);
	check_path_field(c, state, "TimeoutSecondsPath", true, false);
	check_path_field(c, state, "HeartbeatSecondsPath", true, false);
	if (cred) {
		if (!json_is_object(cred))
			diag(c, "Credentials", ASLCHECK_SCHEMA,
			     "'Credentials' must be an object, not %s", type_name(cred));
		else if (ql == QL_JSONPATH)
			check_template_field(c, state, "Credentials", false);
		else {
			size_t mark = ptr_push(c, "Credentials");

			check_jsonata_value(c, cred);
			ptr_pop(c, mark);
		}
	}
}

static void check_parallel(struct ck *c, json_t *state)
{
	json_t *br = json_object_get(state, "Branches");
	json_t *b;
	size_t i, mark, m;

	if (!br) {
		diag(c, NULL, ASLCHECK_SCHEMA, "a Parallel state needs a 'Branches' array");
		return;
	}
	if (!json_is_array(br) || json_array_size(br) == 0) {
		diag(c, "Branches", ASLCHECK_SCHEMA, "'Branches' must be a non-empty array");
		return;
	}
	mark = ptr_push(c, "Branches");
	json_array_foreach(br, i, b) {
		m = ptr_push_index(c, i);
		check_machine(c, b, "a Parallel branch");
		ptr_pop(c, m);
	}
	ptr_pop(c, mark);
}

/* ItemReader, ResultWriter, ItemBatcher: the fields of a distributed Map */
static void check_map_io(struct ck *c, json_t *state, unsigned ql)
{
	static const char *const reader_f[] = { "Resource", "Parameters", "Arguments",
						"ReaderConfig" };
	static const char *const rconf_f[] = { "InputType", "CSVHeaderLocation", "CSVHeaders",
					       "CSVDelimiter", "MaxItems", "MaxItemsPath",
					       "ManifestType" };
	static const char *const input_types[] = { "CSV", "JSON", "JSONL", "MANIFEST", "PARQUET" };
	static const char *const header_loc[] = { "FIRST_ROW", "GIVEN" };
	static const char *const delims[] = { "COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB" };
	static const char *const writer_f[] = { "Resource", "Parameters", "Arguments",
						"WriterConfig" };
	static const char *const wconf_f[] = { "OutputType", "Transformation" };
	static const char *const out_types[] = { "JSON", "JSONL" };
	static const char *const transf[] = { "NONE", "FLATTEN", "COMPACT" };
	static const char *const batch_f[] = { "MaxItemsPerBatch", "MaxItemsPerBatchPath",
					       "MaxInputBytesPerBatch",
					       "MaxInputBytesPerBatchPath", "BatchInput" };
	const char *const blocks[] = { "ItemReader", "ResultWriter" };
	json_t *v, *conf;
	size_t i, mark, m;

	for (i = 0; i < COUNT(blocks); i++) {
		v = json_object_get(state, blocks[i]);
		if (!v)
			continue;
		if (!json_is_object(v)) {
			diag(c, blocks[i], ASLCHECK_SCHEMA, "'%s' must be an object", blocks[i]);
			continue;
		}
		mark = ptr_push(c, blocks[i]);
		if (i == 0)
			check_known_fields(c, v, "'ItemReader'", reader_f, COUNT(reader_f));
		else
			check_known_fields(c, v, "'ResultWriter'", writer_f, COUNT(writer_f));
		if (!json_object_get(v, "Resource") && (i == 0 || json_object_get(v, "Parameters") ||
							json_object_get(v, "Arguments")))
			diag(c, NULL, ASLCHECK_SCHEMA, "'%s' needs a 'Resource'", blocks[i]);
		check_string_field(c, v, "Resource", true);
		if (ql == QL_JSONPATH) {
			if (json_object_get(v, "Arguments"))
				diag(c, "Arguments", ASLCHECK_SCHEMA,
				     "field 'Arguments' is only supported in JSONata states");
			check_template_field(c, v, "Parameters", false);
		} else {
			if (json_object_get(v, "Parameters"))
				diag(c, "Parameters", ASLCHECK_SCHEMA,
				     "field 'Parameters' is not supported in JSONata states; use "
				     "'Arguments'");
			if (json_object_get(v, "Arguments")) {
				m = ptr_push(c, "Arguments");
				check_jsonata_value(c, json_object_get(v, "Arguments"));
				ptr_pop(c, m);
			}
		}
		conf = json_object_get(v, i == 0 ? "ReaderConfig" : "WriterConfig");
		if (conf && !json_is_object(conf)) {
			diag(c, i == 0 ? "ReaderConfig" : "WriterConfig", ASLCHECK_SCHEMA,
			     "'%s' must be an object", i == 0 ? "ReaderConfig" : "WriterConfig");
		} else if (conf && i == 0) {
			json_t *hdrs = json_object_get(conf, "CSVHeaders");

			m = ptr_push(c, "ReaderConfig");
			check_known_fields(c, conf, "'ReaderConfig'", rconf_f, COUNT(rconf_f));
			check_enum_field(c, conf, "InputType", input_types, COUNT(input_types));
			check_enum_field(c, conf, "CSVHeaderLocation", header_loc,
					 COUNT(header_loc));
			check_enum_field(c, conf, "CSVDelimiter", delims, COUNT(delims));
			check_exclusive(c, conf, "MaxItems", "MaxItemsPath");
			check_int_field(c, conf, "MaxItems", 0, 100000000, ql, NULL);
			if (ql == QL_JSONATA && json_object_get(conf, "MaxItemsPath"))
				diag(c, "MaxItemsPath", ASLCHECK_SCHEMA,
				     "field 'MaxItemsPath' is not supported in JSONata states");
			check_path_field(c, conf, "MaxItemsPath", true, false);
			if (hdrs) {
				json_t *h;
				size_t k;
				bool ok = json_is_array(hdrs);

				json_array_foreach(hdrs, k, h)
					ok = ok && json_is_string(h);
				if (!ok)
					diag(c, "CSVHeaders", ASLCHECK_SCHEMA,
					     "'CSVHeaders' must be an array of strings");
			}
			ptr_pop(c, m);
		} else if (conf) {
			m = ptr_push(c, "WriterConfig");
			check_known_fields(c, conf, "'WriterConfig'", wconf_f, COUNT(wconf_f));
			check_enum_field(c, conf, "OutputType", out_types, COUNT(out_types));
			check_enum_field(c, conf, "Transformation", transf, COUNT(transf));
			ptr_pop(c, m);
		}
		ptr_pop(c, mark);
	}

	v = json_object_get(state, "ItemBatcher");
	if (!v)
		return;
	if (!json_is_object(v)) {
		diag(c, "ItemBatcher", ASLCHECK_SCHEMA, "'ItemBatcher' must be an object");
		return;
	}
	mark = ptr_push(c, "ItemBatcher");
	check_known_fields(c, v, "'ItemBatcher'", batch_f, COUNT(batch_f));
	if (!json_object_get(v, "MaxItemsPerBatch") && !json_object_get(v, "MaxItemsPerBatchPath") &&
	    !json_object_get(v, "MaxInputBytesPerBatch") &&
	    !json_object_get(v, "MaxInputBytesPerBatchPath"))
		diag(c, NULL, ASLCHECK_SCHEMA,
		     "'ItemBatcher' needs 'MaxItemsPerBatch' or 'MaxInputBytesPerBatch' (or "
		     "their Path forms)");
	check_exclusive(c, v, "MaxItemsPerBatch", "MaxItemsPerBatchPath");
	check_exclusive(c, v, "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath");
	check_int_field(c, v, "MaxItemsPerBatch", 1, 100000000, ql, NULL);
	check_int_field(c, v, "MaxInputBytesPerBatch", 1, 262144, ql, NULL);
	check_path_field(c, v, "MaxItemsPerBatchPath", true, false);
	check_path_field(c, v, "MaxInputBytesPerBatchPath", true, false);
	if (json_object_get(v, "BatchInput")) {
		if (ql == QL_JSONPATH) {
			check_template_field(c, v, "BatchInput", false);
		} else {
			m = ptr_push(c, "BatchInput");
			check_jsonata_value(c, json_object_get(v, "BatchInput"));
			ptr_pop(c, m);
		}
	}
	ptr_pop(c, mark);
}

static bool label_ok(const char *s)
{
	const unsigned char *p;

	if (!*s || utf8_chars(s) > MAX_LABEL_CHARS)
		return false;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || strchr("<>{}[]?*\"#%\\^|~`$&,;:/", *p))
			return false;
	return true;
}

static void check_map(struct ck *c, json_t *state, unsigned ql)
{
	static const char *const pc_f[] = { "Mode", "ExecutionType" };
	static const char *const modes[] = { "INLINE", "DISTRIBUTED" };
	static const char *const exec_types[] = { "STANDARD", "EXPRESS" };
	json_t *proc = json_object_get(state, "ItemProcessor");
	json_t *iter = json_object_get(state, "Iterator");
	json_t *items = json_object_get(state, "Items");
	json_t *label = json_object_get(state, "Label");
	size_t mark;

	if (proc && iter)
		diag(c, "Iterator", ASLCHECK_SCHEMA,
		     "'ItemProcessor' and 'Iterator' are mutually exclusive");
	else if (!proc && !iter)
		diag(c, NULL, ASLCHECK_SCHEMA, "a Map state needs an 'ItemProcessor'");
	if (proc) {
		json_t *pc = json_object_get(proc, "ProcessorConfig");

		mark = ptr_push(c, "ItemProcessor");
		if (pc && !json_is_object(pc)) {
			diag(c, "ProcessorConfig", ASLCHECK_SCHEMA,
			     "'ProcessorConfig' must be an object");
		} else if (pc) {
			size_t m = ptr_push(c, "ProcessorConfig");
			json_t *mode = json_object_get(pc, "Mode");

			check_known_fields(c, pc, "'ProcessorConfig'", pc_f, COUNT(pc_f));
			check_enum_field(c, pc, "Mode", modes, COUNT(modes));
			check_enum_field(c, pc, "ExecutionType", exec_types, COUNT(exec_types));
			if (json_is_string(mode) &&
			    strcmp(json_string_value(mode), "DISTRIBUTED") == 0 &&
			    !json_object_get(pc, "ExecutionType"))
				diag(c, NULL, ASLCHECK_SCHEMA,
				     "a DISTRIBUTED processor needs an 'ExecutionType'");
			ptr_pop(c, m);
		}
		ptr_pop(c, mark);
		mark = ptr_push(c, "ItemProcessor");
		check_machine(c, proc, "'ItemProcessor'");
		ptr_pop(c, mark);
	}
	if (iter) {
		mark = ptr_push(c, "Iterator");
		check_machine(c, iter, "'Iterator'");
		ptr_pop(c, mark);
	}
	check_exclusive(c, state, "ItemSelector", "Parameters");
	if (ql == QL_JSONPATH) {
		check_path_field(c, state, "ItemsPath", true, false);
		check_template_field(c, state, "ItemSelector", false);
	} else if (json_object_get(state, "ItemSelector")) {
		mark = ptr_push(c, "ItemSelector");
		check_jsonata_value(c, json_object_get(state, "ItemSelector"));
		ptr_pop(c, mark);
	}
	if (items) {
		if (json_is_array(items)) {
			mark = ptr_push(c, "Items");
			check_jsonata_value(c, items);
			ptr_pop(c, mark);
		} else if (!json_is_string(items) || !is_jsonata_expr(json_string_value(items))) {
			diag(c, "Items", ASLCHECK_SCHEMA,
			     "'Items' must be an array or a JSONata expression '{%% ... %%}'");
		} else {
			check_expr_syntax(c, "Items", json_string_value(items));
		}
	}
	check_exclusive(c, state, "MaxConcurrency", "MaxConcurrencyPath");
	check_exclusive(c, state, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath");
	check_exclusive(c, state, "ToleratedFailureCount", "ToleratedFailureCountPath");
	check_int_field(c, state, "MaxConcurrency", 0, MAX_SECONDS, ql, NULL);
	check_number_field(c, state, "ToleratedFailurePercentage", 0, 100, ql);
	check_int_field(c, state, "ToleratedFailureCount", 0, MAX_SECONDS, ql, NULL);
	check_path_field(c, state, "MaxConcurrencyPath", true, false);
	check_path_field(c, state, "ToleratedFailurePercentagePath", true, false);
	check_path_field(c, state, "ToleratedFailureCountPath", true, false);
	if (label && (!json_is_string(label) || !label_ok(json_string_value(label))))
		diag(c, "Label", ASLCHECK_LABEL,
		     "'Label' must be a string of 1 to %d characters without whitespace or any "
		     "of <>{}[]?*\"#%%\\^|~`$&,;:/", MAX_LABEL_CHARS);
	check_map_io(c, state, ql);
}

static unsigned parse_ql(struct ck *c, json_t *obj, unsigned dflt)
{
	json_t *v = json_object_get(obj, "QueryLanguage");

	if (!v)
		return dflt;
	if (json_is_string(v) && strcmp(json_string_value(v), "JSONPath") == 0)
		return QL_JSONPATH;
	if (json_is_string(v) && strcmp(json_string_value(v), "JSONata") == 0)
		return QL_JSONATA;
	diag(c, "QueryLanguage", ASLCHECK_SCHEMA,
	     "'QueryLanguage' must be \"JSONPath\" or \"JSONata\"");
	return dflt;
}

/* @name's fields, per type; the caller has pushed the pointer of the state */
static void check_state(struct ck *c, struct machine *m, json_t *state)
{
	json_t *type = json_object_get(state, "Type");
	json_t *next, *end;
	const char *key;
	json_t *v;
	unsigned st = 0, ql;
	size_t i;

	if (!json_is_object(state)) {
		diag(c, NULL, ASLCHECK_SCHEMA, "a state must be an object, not %s",
		     type_name(state));
		return;
	}
	if (!type) {
		diag(c, NULL, ASLCHECK_SCHEMA, "missing required field 'Type'");
		return;
	}
	for (i = 0; json_is_string(type) && i < COUNT(state_types); i++)
		if (strcmp(json_string_value(type), state_types[i].name) == 0)
			st = state_types[i].type;
	if (!st) {
		diag(c, "Type", ASLCHECK_SCHEMA,
		     "unknown state type %s%s%s: expected one of Task, Parallel, Map, Pass, "
		     "Wait, Choice, Succeed, Fail", json_is_string(type) ? "'" : "",
		     json_is_string(type) ? json_string_value(type) : type_name(type),
		     json_is_string(type) ? "'" : "");
		return;
	}
	ql = parse_ql(c, state, c->top_ql);
	if (ql == QL_JSONPATH && c->top_ql == QL_JSONATA)
		diag(c, "QueryLanguage", ASLCHECK_SCHEMA,
		     "a JSONPath state cannot be used in a state machine whose QueryLanguage is "
		     "JSONata");

	json_object_foreach(state, key, v) {
		const struct field *f = NULL;

		for (i = 0; i < COUNT(state_fields); i++)
			if (strcmp(key, state_fields[i].name) == 0)
				f = &state_fields[i];
		if (!f)
			diag(c, key, ASLCHECK_SCHEMA, "field '%s' is not supported in ASL states",
			     key);
		else if (!(f->types & st))
			diag(c, key, ASLCHECK_SCHEMA, "field '%s' is not supported in %s states",
			     key, json_string_value(type));
		else if (!(f->ql & ql))
			diag(c, key, ASLCHECK_SCHEMA,
			     "field '%s' is not supported when QueryLanguage is %s%s", key,
			     ql == QL_JSONATA ? "JSONata" : "JSONPath",
			     ql == QL_JSONATA ? " (use Arguments, Output and expressions)" :
						" (it is a JSONata field)");
	}

	check_string_field(c, state, "Comment", false);

	/* transitions */
	next = json_object_get(state, "Next");
	end = json_object_get(state, "End");
	if (end && !json_is_boolean(end))
		diag(c, "End", ASLCHECK_SCHEMA, "'End' must be a boolean, not %s", type_name(end));
	if (st & ST_FLOW) {
		if (next && json_is_true(end))
			diag(c, "End", ASLCHECK_SCHEMA,
			     "a state cannot have both 'Next' and 'End': true");
		else if (!next && !json_is_true(end))
			diag(c, NULL, ASLCHECK_SCHEMA,
			     "a %s state needs either 'Next' or 'End': true",
			     json_string_value(type));
		if (next)
			add_edge(c, m, "Next", next);
		if (json_is_true(end))
			m->has_terminal = true;
	} else if (st & (ST_SUCCEED | ST_FAIL)) {
		m->has_terminal = true;
	}

	/* the input/output pipeline */
	if (ql == QL_JSONPATH) {
		check_path_field(c, state, "InputPath", false, true);
		check_path_field(c, state, "OutputPath", false, true);
		if (st & (ST_WORK | ST_PASS))
			check_result_path(c, state);
		if (st & (ST_WORK | ST_PASS))
			check_template_field(c, state, "Parameters", false);
		if (st & ST_WORK)
			check_template_field(c, state, "ResultSelector", false);
	} else {
		static const char *const exprs[] = { "Output", "Arguments" };

		for (i = 0; i < COUNT(exprs); i++) {
			v = json_object_get(state, exprs[i]);
			if (v) {
				size_t mark = ptr_push(c, exprs[i]);

				check_jsonata_value(c, v);
				ptr_pop(c, mark);
			}
		}
		v = json_object_get(state, "Arguments");
		if (v && !json_is_object(v) &&
		    !(json_is_string(v) && is_jsonata_expr(json_string_value(v))))
			diag(c, "Arguments", ASLCHECK_SCHEMA,
			     "'Arguments' must be an object or a JSONata expression '{%% ... %%}'");
	}
	if (!(st & (ST_SUCCEED | ST_FAIL)))
		check_assign(c, state, ql);
	if (st & ST_WORK) {
		check_retry(c, state);
		check_catch(c, m, state, ql);
	}

	switch (st) {
	case ST_TASK:
		check_task(c, state, ql);
		break;
	case ST_PARALLEL:
		check_parallel(c, state);
		break;
	case ST_MAP:
		check_map(c, state, ql);
		break;
	case ST_CHOICE:
		check_choice(c, m, state, ql);
		break;
	case ST_WAIT:
		check_wait(c, state, ql);
		break;
	case ST_FAIL:
		check_fail(c, state, ql);
		break;
	default:
		break;
	}
}

/* a whole machine (@kind names it for messages); the caller pushed its pointer */
static void check_machine(struct ck *c, json_t *machine, const char *kind)
{
	static const char *const top_f[] = { "StartAt", "States", "Comment", "Version",
					     "TimeoutSeconds", "QueryLanguage" };
	static const char *const branch_f[] = { "StartAt", "States", "Comment" };
	static const char *const proc_f[] = { "StartAt", "States", "Comment", "ProcessorConfig" };
	struct machine m = { 0 };
	json_t *start, *st;
	const char *name, *start_name = NULL;
	size_t i, mark;

	if (!json_is_object(machine)) {
		diag(c, NULL, ASLCHECK_SCHEMA, "%s must be an object, not %s", kind,
		     type_name(machine));
		return;
	}
	if (c->depth >= MAX_NESTING) {
		diag(c, NULL, ASLCHECK_NESTED,
		     "state machines are nested more than %d levels deep", MAX_NESTING);
		return;
	}
	c->depth++;
	if (c->depth == 1) {
		check_known_fields(c, machine, "the top level of a state machine", top_f,
				   COUNT(top_f));
		check_string_field(c, machine, "Version", false);
		check_int_field(c, machine, "TimeoutSeconds", 1, MAX_SECONDS, QL_JSONPATH, NULL);
	} else if (strcmp(kind, "a Parallel branch") == 0) {
		check_known_fields(c, machine, kind, branch_f, COUNT(branch_f));
	} else {
		check_known_fields(c, machine, kind, proc_f, COUNT(proc_f));
	}
	check_string_field(c, machine, "Comment", false);

	start = json_object_get(machine, "StartAt");
	m.states = json_object_get(machine, "States");
	if (!start)
		diag(c, NULL, ASLCHECK_SCHEMA, "missing required field 'StartAt'");
	else if (!json_is_string(start) || json_string_length(start) == 0)
		diag(c, "StartAt", ASLCHECK_SCHEMA, "'StartAt' must be a non-empty string");
	else
		start_name = json_string_value(start);
	if (!m.states) {
		diag(c, NULL, ASLCHECK_SCHEMA, "missing required field 'States'");
		goto out;
	}
	if (!json_is_object(m.states) || json_object_size(m.states) == 0) {
		diag(c, "States", ASLCHECK_SCHEMA, "'States' must be a non-empty object");
		goto out;
	}
	m.index = json_object();
	if (!m.index) {
		c->oom = true;
		goto out;
	}
	i = 0;
	json_object_foreach(m.states, name, st) {
		if (json_object_set_new(m.index, name, json_integer((json_int_t)i++)) < 0)
			c->oom = true;
	}
	if (start_name && !json_object_get(m.states, start_name))
		diag(c, "StartAt", ASLCHECK_MISSING_TARGET,
		     "'StartAt' names state '%s', which does not exist in %s", start_name,
		     c->depth == 1 ? "the state machine" : kind);

	mark = ptr_push(c, "States");
	i = 0;
	json_object_foreach(m.states, name, st) {
		size_t sm = ptr_push(c, name);
		json_t *first = json_object_get(c->names, name);

		m.cur = i++;
		if (name[0] == '\0')
			diag(c, NULL, ASLCHECK_STATE_NAME, "a state name cannot be empty");
		else if (utf8_chars(name) > MAX_NAME_CHARS)
			diag(c, NULL, ASLCHECK_STATE_NAME,
			     "state name '%s' is longer than %d characters", name, MAX_NAME_CHARS);
		if (first)
			diag(c, NULL, ASLCHECK_DUPLICATE,
			     "duplicate state name '%s' (also defined at %s): names must be "
			     "unique across the whole state machine, nested ones included", name,
			     json_string_value(first));
		else if (json_object_set_new(c->names, name, json_string(c->ptr.data)) < 0)
			c->oom = true;
		check_state(c, &m, st);
		ptr_pop(c, sm);
	}
	check_transitions(c, &m, start_name);
	ptr_pop(c, mark);
	if (!m.has_terminal)
		diag(c, "States", ASLCHECK_NO_TERMINAL,
		     "%s has no terminal state (a Succeed or Fail state, or one with "
		     "\"End\": true)", c->depth == 1 ? "the state machine" : kind);
out:
	for (i = 0; i < m.nedges; i++)
		free(m.edges[i].pointer);
	free(m.edges);
	json_decref(m.index);
	c->depth--;
}

/* gather every state name of @machine and its nested machines into c->all */
static void collect_names(struct ck *c, json_t *machine, int depth)
{
	json_t *states = json_object_get(machine, "States");
	const char *name;
	json_t *st, *b;
	size_t i;

	if (depth > MAX_NESTING || !json_is_object(states))
		return;
	json_object_foreach(states, name, st) {
		if (json_object_set_new(c->all, name, json_true()) < 0)
			c->oom = true;
		json_array_foreach(json_object_get(st, "Branches"), i, b)
			collect_names(c, b, depth + 1);
		collect_names(c, json_object_get(st, "ItemProcessor"), depth + 1);
		collect_names(c, json_object_get(st, "Iterator"), depth + 1);
	}
}

static int check_run(json_t *def, const struct aslcheck_opts *opts, struct aslcheck_result *ret,
		     bool single_state)
{
	struct ck c = { 0 };
	int r;

	c.res = ret;
	c.opts = opts;
	buf_init(&c.ptr, BUF_CAP_DEFAULT);
	c.names = json_object();
	c.all = json_object();
	c.top_ql = QL_JSONPATH;
	if (!c.names || !c.all) {
		r = -ENOMEM;
		goto out;
	}
	if (!json_is_object(def)) {
		diag(&c, NULL, ASLCHECK_SCHEMA, "the definition must be a JSON object, not %s",
		     def ? type_name(def) : "nothing");
	} else if (single_state) {
		struct machine m = { 0 };
		size_t i;

		c.depth = 1;
		check_state(&c, &m, def);
		for (i = 0; i < m.nedges; i++)
			free(m.edges[i].pointer);
		free(m.edges);
	} else {
		c.top_ql = parse_ql(&c, def, QL_JSONPATH);
		collect_names(&c, def, 0);
		check_machine(&c, def, "the state machine");
	}
	r = c.oom ? -ENOMEM : c.nerr;
out:
	json_decref(c.names);
	json_decref(c.all);
	buf_release(&c.ptr);
	return r;
}

int aslcheck_definition(json_t *def, const struct aslcheck_opts *opts,
			struct aslcheck_result *ret)
{
	return check_run(def, opts, ret, false);
}

int aslcheck_state(json_t *state, const struct aslcheck_opts *opts,
		   struct aslcheck_result *ret)
{
	return check_run(state, opts, ret, true);
}

void aslcheck_result_release(struct aslcheck_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->diags[i].pointer);
		free(r->diags[i].code);
		free(r->diags[i].message);
	}
	free(r->diags);
	r->diags = NULL;
	r->n = 0;
	r->nerrors = 0;
}
