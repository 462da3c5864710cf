/*
 * asl_jsonata: the JSONata query language of ASL states. A field value of a
 * JSONata state (Arguments, Output, Assign, Items, ItemSelector, Seconds ...)
 * is compiled once, at machine load, into a tree (struct asl_ja) whose
 * "{% expression %}" strings are compiled expressions (engine/jsonata.h) and
 * whose constant parts stay borrowed from the definition. Evaluating the tree
 * builds the value; an expression that fails or returns nothing (undefined)
 * is reported with the expression's text and the field's path, in AWS's
 * words ("The JSONata expression '$x' specified for the field 'Output/result'
 * returned nothing (undefined).").
 */
#include "engine/asl_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jsonata.h"

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

bool asl_ja_is_expr(const char *s, const char **ret_start, size_t *ret_len)
{
	size_t n = strlen(s);
	const char *b, *e;

	if (n < 4 || strncmp(s, "{%", 2) != 0 || strcmp(s + n - 2, "%}") != 0)
		return false;
	b = s + 2;
	e = s + n - 2;
	while (b < e && is_space(*b))
		b++;
	while (e > b && is_space(e[-1]))
		e--;
	if (ret_start)
		*ret_start = b;
	if (ret_len)
		*ret_len = (size_t)(e - b);
	return true;
}

/* Does @v hold an expression anywhere? */
static bool has_expr(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return asl_ja_is_expr(json_string_value(v), NULL, NULL);
	case JSON_OBJECT:
		json_object_foreach(v, k, x)
			if (has_expr(x))
				return true;
		return false;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			if (has_expr(x))
				return true;
		return false;
	default:
		return false;
	}
}

static void node_release(struct asl_ja *t)
{
	size_t i;

	jsonata_free(t->expr);
	free(t->src);
	free(t->field);
	for (i = 0; t->kids && i < t->n; i++)
		node_release(&t->kids[i]);
	free(t->kids);
	free(t->keys);
}

void asl_ja_free(struct asl_ja *t)
{
	if (!t)
		return;
	node_release(t);
	free(t);
}

static int node_compile(struct asl_ja *t, json_t *v, const char *field, char *msg, size_t len)
{
	struct jsonata_err jerr;
	const char *k, *start;
	size_t i, n;
	json_t *x;
	char *sub;
	int r;

	t->json = v;
	if (!has_expr(v)) {
		t->kind = ASL_JA_CONST;
		return 0;
	}
	t->field = strdup(field);
	if (!t->field)
		return -ENOMEM;
	if (json_is_string(v)) {
		t->kind = ASL_JA_EXPR;
		asl_ja_is_expr(json_string_value(v), &start, &n);
		t->src = strndup(start, n);
		if (!t->src)
			return -ENOMEM;
		if (n == 0) {
			snprintf(msg, len, "%s: the JSONata expression is empty", field);
			return -1;
		}
		memset(&jerr, 0, sizeof(jerr));
		t->expr = jsonata_compile(t->src, JSONATA_ASL, &jerr);
		if (!t->expr) {
			if (!jerr.code[0] && !jerr.message[0])
				return -ENOMEM;
			snprintf(msg, len,
				 "%s: the JSONata expression '%s' is not valid: %s%s%s (at "
				 "character %ld)", field, t->src, jerr.code,
				 jerr.code[0] ? ": " : "", jerr.message, jerr.position);
			return -1;
		}
		return 0;
	}
	t->kind = json_is_object(v) ? ASL_JA_OBJ : ASL_JA_ARR;
	t->n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
	t->kids = calloc(t->n ? t->n : 1, sizeof(*t->kids));
	if (!t->kids)
		return -ENOMEM;
	if (t->kind == ASL_JA_OBJ) {
		t->keys = calloc(t->n ? t->n : 1, sizeof(*t->keys));
		if (!t->keys)
			return -ENOMEM;
		i = 0;
		json_object_foreach(v, k, x) {
			t->keys[i] = k;
			if (asprintf(&sub, "%s/%s", field, k) < 0)
				return -ENOMEM;
			r = node_compile(&t->kids[i++], x, sub, msg, len);
			free(sub);
			if (r < 0)
				return r;
		}
		return 0;
	}
	json_array_foreach(v, i, x) {
		if (asprintf(&sub, "%s[%zu]", field, i) < 0)
			return -ENOMEM;
		r = node_compile(&t->kids[i], x, sub, msg, len);
		free(sub);
		if (r < 0)
			return r;
	}
	return 0;
}

int asl_ja_compile(json_t *v, const char *field, struct asl_ja **ret, char *msg, size_t len)
{
	struct asl_ja *t;
	int r;

	*ret = NULL;
	if (!v)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = node_compile(t, v, field, msg, len);
	if (r == 0 && !t->field && !(t->field = strdup(field)))
		r = -ENOMEM;
	if (r < 0) {
		asl_ja_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

/* "context", or "$states" not followed by '.' (the whole object may be handed around) */
static bool src_needs_context(const char *s)
{
	const char *p;

	if (strstr(s, "context"))
		return true;
	for (p = strstr(s, "$states"); p; p = strstr(p + 7, "$states"))
		if (p[7] != '.')
			return true;
	return false;
}

bool asl_ja_needs_context(const struct asl_ja *t)
{
	size_t i;

	if (!t)
		return false;
	if (t->kind == ASL_JA_EXPR)
		return src_needs_context(t->src);
	for (i = 0; t->kids && i < t->n; i++)
		if (asl_ja_needs_context(&t->kids[i]))
			return true;
	return false;
}

static int expr_fail(const struct asl_ja *t, struct asl_ja_fail *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int expr_fail(const struct asl_ja *t, struct asl_ja_fail *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	f->field = t->field;
	n = snprintf(f->cause, sizeof(f->cause),
		     "The JSONata expression '%s' specified for the field '%s' ", t->src, t->field);
	if (n >= 0 && (size_t)n < sizeof(f->cause)) {
		va_start(ap, fmt);
		vsnprintf(f->cause + n, sizeof(f->cause) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int asl_ja_eval(const struct asl_ja *t, json_t *bindings, json_t **ret, struct asl_ja_fail *f)
{
	struct jsonata_err jerr;
	json_t *out = NULL, *v;
	size_t i;

	switch (t->kind) {
	case ASL_JA_CONST:
		*ret = json_incref(t->json);
		return 0;
	case ASL_JA_EXPR:
		memset(&jerr, 0, sizeof(jerr));
		if (jsonata_eval(t->expr, NULL, bindings, &out, &jerr) < 0) {
			if (jerr.code[0])
				return expr_fail(t, f, "threw an error during evaluation. %s: %s",
						 jerr.code, jerr.message);
			return expr_fail(t, f, "threw an error during evaluation: %s",
					 jerr.message[0] ? jerr.message : "out of memory");
		}
		if (!out)
			return expr_fail(t, f, "returned nothing (undefined).");
		*ret = out;
		return 0;
	case ASL_JA_OBJ:
		out = json_object();
		for (i = 0; out && i < t->n; i++) {
			if (asl_ja_eval(&t->kids[i], bindings, &v, f) < 0)
				goto fail;
			if (json_object_set_new(out, t->keys[i], v) < 0)
				goto nomem;
		}
		break;
	default:
		out = json_array();
		for (i = 0; out && i < t->n; i++) {
			if (asl_ja_eval(&t->kids[i], bindings, &v, f) < 0)
				goto fail;
			if (json_array_append_new(out, v) < 0)
				goto nomem;
		}
		break;
	}
	if (!out)
		goto nomem;
	*ret = out;
	return 0;
nomem:
	f->field = NULL;
	snprintf(f->cause, sizeof(f->cause), "out of memory");
fail:
	json_decref(out);
	return -1;
}

const char *asl_ja_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

int asl_ja_type_fail(const struct asl_ja *t, const char *expected, json_t *v,
		     struct asl_ja_fail *f)
{
	char *text = asl_json_dumps(v);
	int r;

	if (t->kind != ASL_JA_EXPR) {
		f->field = t->field;
		snprintf(f->cause, sizeof(f->cause),
			 "The value of the field '%s' has an unexpected type. Expected '%s', but "
			 "was '%s' for value: %s", t->field ? t->field : "?", expected,
			 asl_ja_type_name(v), text ? text : "");
		r = -1;
	} else {
		r = expr_fail(t, f,
			      "returned an unexpected result type. Expected '%s', but was '%s' for "
			      "value: %s", expected, asl_ja_type_name(v), text ? text : "");
	}
	free(text);
	return r;
}
