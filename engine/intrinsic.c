/*
 * intrinsic: the 18 States.* intrinsic functions of JSONPath mode, compiled
 * once into a call tree (function, literal / path / nested-call arguments)
 * and evaluated against a struct jpath_env.
 *
 * Behaviour follows what AWS does, not the letter of the spec where the two
 * differ (../shared/reference/asl.md §1.7): MathAdd rounds non-integers half
 * up, StringSplit tokenises on any delimiter character and drops empty
 * tokens, Format prints objects Java-style, StringToJson("") is null, and
 * JsonMerge accepts only deep=false. Every failure is States.Runtime.
 */
#include "engine/jpath.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "engine/buf.h"

#define INTRINSIC_MAX_DEPTH 10
#define INTRINSIC_MAX_STRLEN 10000
#define INTRINSIC_MAX_RANGE 1000
/* Results bigger than this are refused (the payload limit is 256 KiB anyway). */
#define INTRINSIC_MAX_OUTPUT ((size_t)16 << 20)

enum arg_kind { ARG_LIT, ARG_PATH, ARG_CALL };

struct iarg {
	enum arg_kind kind;
	json_t *lit;
	char *raw; /* string literal as written (escapes kept), for Format */
	struct jpath *path;
	struct intrinsic *call;
};

enum fn {
	FN_FORMAT,
	FN_STRINGTOJSON,
	FN_JSONTOSTRING,
	FN_ARRAY,
	FN_ARRAYPARTITION,
	FN_ARRAYCONTAINS,
	FN_ARRAYRANGE,
	FN_ARRAYGETITEM,
	FN_ARRAYLENGTH,
	FN_ARRAYUNIQUE,
	FN_BASE64ENCODE,
	FN_BASE64DECODE,
	FN_HASH,
	FN_JSONMERGE,
	FN_MATHRANDOM,
	FN_MATHADD,
	FN_STRINGSPLIT,
	FN_UUID,
};

static const struct fninfo {
	const char *name;
	int min, max; /* argument count; max -1 = any */
} fns[] = {
	[FN_FORMAT] = { "States.Format", 1, -1 },
	[FN_STRINGTOJSON] = { "States.StringToJson", 1, 1 },
	[FN_JSONTOSTRING] = { "States.JsonToString", 1, 1 },
	[FN_ARRAY] = { "States.Array", 0, -1 },
	[FN_ARRAYPARTITION] = { "States.ArrayPartition", 2, 2 },
	[FN_ARRAYCONTAINS] = { "States.ArrayContains", 2, 2 },
	[FN_ARRAYRANGE] = { "States.ArrayRange", 3, 3 },
	[FN_ARRAYGETITEM] = { "States.ArrayGetItem", 2, 2 },
	[FN_ARRAYLENGTH] = { "States.ArrayLength", 1, 1 },
	[FN_ARRAYUNIQUE] = { "States.ArrayUnique", 1, 1 },
	[FN_BASE64ENCODE] = { "States.Base64Encode", 1, 1 },
	[FN_BASE64DECODE] = { "States.Base64Decode", 1, 1 },
	[FN_HASH] = { "States.Hash", 2, 2 },
	[FN_JSONMERGE] = { "States.JsonMerge", 3, 3 },
	[FN_MATHRANDOM] = { "States.MathRandom", 2, 3 },
	[FN_MATHADD] = { "States.MathAdd", 2, 2 },
	[FN_STRINGSPLIT] = { "States.StringSplit", 2, 2 },
	[FN_UUID] = { "States.UUID", 0, 0 },
};

struct intrinsic {
	enum fn fn;
	struct iarg *args;
	size_t nargs;
	char *text;
};

/* ---------------------------------------------------------------- parser */

struct iparser {
	const char *s;
	size_t pos, len;
	char msg[300];
};

static int ierr(struct iparser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ierr(struct iparser *p, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	n = strlen(p->msg);
	snprintf(p->msg + n, sizeof(p->msg) - n, " at position %zu", p->pos);
	return JPATH_ESYNTAX;
}

static void iarg_release(struct iarg *a)
{
	json_decref(a->lit);
	free(a->raw);
	jpath_free(a->path);
	intrinsic_free(a->call);
}

void intrinsic_free(struct intrinsic *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nargs; i++)
		iarg_release(&f->args[i]);
	free(f->args);
	free(f->text);
	free(f);
}

static void iskip_ws(struct iparser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_';
}

bool intrinsic_is_call(const char *s)
{
	size_t i = 0;

	if (!s)
		return false;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	if (strncmp(s + i, "States.", 7))
		return false;
	i += 7;
	while (is_name_char(s[i]))
		i++;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	return s[i] == '(';
}

/* Decode a string literal at p->pos (opening quote). */
static int parse_string(struct iparser *p, struct iarg *a)
{
	struct buf b = BUF_INIT_CAP(1 << 20);
	size_t start;
	int r = 0;

	p->pos++;
	start = p->pos;
	for (;;) {
		char c;
		if (p->pos >= p->len) {
			r = ierr(p, "unterminated string literal");
			goto out;
		}
		c = p->s[p->pos];
		if (c == '\'')
			break;
		if (c == '\\') {
			char n = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';
			if (n != '\'' && n != '{' && n != '}' && n != '\\') {
				r = ierr(p, "invalid escape: a backslash must be followed by ', {, } "
					    "or \\");
				goto out;
			}
			c = n;
			p->pos++;
		}
		r = buf_putc(&b, c);
		if (r < 0) {
			r = r == -E2BIG ? ierr(p, "string literal too long") : r;
			goto out;
		}
		p->pos++;
	}
	a->raw = strndup(p->s + start, p->pos - start);
	p->pos++;
	if (!a->raw) {
		r = -ENOMEM;
		goto out;
	}
	a->kind = ARG_LIT;
	a->lit = json_stringn(b.data, b.len);
	if (!a->lit)
		r = ierr(p, "string literal is not valid UTF-8");
out:
	buf_release(&b);
	return r;
}

static int parse_number(struct iparser *p, struct iarg *a)
{
	size_t start = p->pos;
	bool real = false;
	char tmp[64], *end;

	if (p->s[p->pos] == '-')
		p->pos++;
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c >= '0' && c <= '9') {
		} else if (c == '.' || c == 'e' || c == 'E' ||
			   ((c == '+' || c == '-') &&
			    (p->s[p->pos - 1] == 'e' || p->s[p->pos - 1] == 'E'))) {
			real = true;
		} else {
			break;
		}
		p->pos++;
	}
	if (p->pos - start >= sizeof(tmp))
		return ierr(p, "number too long");
	memcpy(tmp, p->s + start, p->pos - start);
	tmp[p->pos - start] = '\0';
	a->kind = ARG_LIT;
	errno = 0;
	if (!real) {
		long long v = strtoll(tmp, &end, 10);
		if (*end || end == tmp || errno)
			return ierr(p, "invalid number '%s'", tmp);
		a->lit = json_integer(v);
	} else {
		double d = strtod(tmp, &end);
		if (*end || end == tmp || !isfinite(d))
			return ierr(p, "invalid number '%s'", tmp);
		a->lit = json_real(d);
	}
	return a->lit ? 0 : -ENOMEM;
}

/* A path argument runs to the ',' or ')' that is outside brackets and quotes. */
static int parse_path_arg(struct iparser *p, struct iarg *a)
{
	size_t start = p->pos, end;
	int depth = 0, r;
	char q = 0, *text;
	struct asl_err e = { "", "" };

	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (q) {
			if (c == '\\' && p->pos + 1 < p->len)
				p->pos++;
			else if (c == q)
				q = 0;
		} else if (c == '\'' || c == '"') {
			if (depth > 0)
				q = c;
		} else if (c == '[' || c == '(') {
			depth++;
		} else if (c == ']' || (c == ')' && depth > 0)) {
			depth--;
		} else if (depth == 0 && (c == ',' || c == ')')) {
			break;
		}
		p->pos++;
	}
	end = p->pos;
	while (end > start && (p->s[end - 1] == ' ' || p->s[end - 1] == '\t'))
		end--;
	text = strndup(p->s + start, end - start);
	if (!text)
		return -ENOMEM;
	a->kind = ARG_PATH;
	r = jpath_compile(text, &a->path, &e);
	if (r == JPATH_ESYNTAX) {
		size_t save = p->pos;
		p->pos = start;
		r = ierr(p, "invalid path '%s' (%s)", text, e.cause);
		p->pos = save;
	}
	free(text);
	return r;
}

static int parse_call(struct iparser *p, int depth, struct intrinsic **ret);

static int parse_arg(struct iparser *p, int depth, struct iarg *a)
{
	char c;

	iskip_ws(p);
	if (p->pos >= p->len)
		return ierr(p, "missing argument");
	c = p->s[p->pos];
	if (c == '\'')
		return parse_string(p, a);
	if (c == '$')
		return parse_path_arg(p, a);
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(p, a);
	if (!strncmp(p->s + p->pos, "States.", 7)) {
		a->kind = ARG_CALL;
		return parse_call(p, depth + 1, &a->call);
	}
	if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "true", 4) &&
	    !is_name_char(p->s[p->pos + 4])) {
		p->pos += 4;
		a->kind = ARG_LIT;
		a->lit = json_true();
		return 0;
	}
	if (p->len - p->pos >= 5 && !strncmp(p->s + p->pos, "false", 5) &&
	    !is_name_char(p->s[p->pos + 5])) {
		p->pos += 5;
		a->kind = ARG_LIT;
		a->lit = json_false();
		return 0;
	}
	if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "null", 4) &&
	    !is_name_char(p->s[p->pos + 4])) {
		p->pos += 4;
		a->kind = ARG_LIT;
		a->lit = json_null();
		return 0;
	}
	return ierr(p, "unexpected character '%c' in the arguments", c);
}

static int parse_call(struct iparser *p, int depth, struct intrinsic **ret)
{
	struct intrinsic *f;
	size_t start, cap = 0, i;
	int r;

	if (depth > INTRINSIC_MAX_DEPTH)
		return ierr(p, "intrinsic functions nested deeper than %d levels",
			    INTRINSIC_MAX_DEPTH);
	iskip_ws(p);
	start = p->pos;
	while (p->pos < p->len && is_name_char(p->s[p->pos]))
		p->pos++;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (strlen(fns[i].name) == p->pos - start &&
		    !strncmp(fns[i].name, p->s + start, p->pos - start))
			break;
	if (i == sizeof(fns) / sizeof(fns[0])) {
		size_t save = p->pos;
		p->pos = start;
		r = ierr(p, "unknown intrinsic function '%.*s'", (int)(save - start), p->s + start);
		goto fail;
	}
	f->fn = (enum fn)i;
	iskip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '(') {
		r = ierr(p, "expected '(' after %s", fns[f->fn].name);
		goto fail;
	}
	p->pos++;
	iskip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ')') {
		p->pos++;
	} else {
		for (;;) {
			if (f->nargs == cap) {
				size_t nc = cap ? cap * 2 : 4;
				struct iarg *na = realloc(f->args, nc * sizeof(*na));
				if (!na) {
					r = -ENOMEM;
					goto fail;
				}
				f->args = na;
				cap = nc;
			}
			memset(&f->args[f->nargs], 0, sizeof(f->args[0]));
			f->nargs++;
			r = parse_arg(p, depth, &f->args[f->nargs - 1]);
			if (r < 0)
				goto fail;
			iskip_ws(p);
			if (p->pos < p->len && p->s[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->s[p->pos] == ')') {
				p->pos++;
				break;
			}
			r = ierr(p, "expected ',' or ')' in the arguments of %s", fns[f->fn].name);
			goto fail;
		}
	}
	if ((int)f->nargs < fns[f->fn].min ||
	    (fns[f->fn].max >= 0 && (int)f->nargs > fns[f->fn].max)) {
		if (fns[f->fn].min == fns[f->fn].max)
			r = ierr(p, "%s takes %d argument%s, got %zu", fns[f->fn].name,
				 fns[f->fn].min, fns[f->fn].min == 1 ? "" : "s", f->nargs);
		else if (fns[f->fn].max < 0)
			r = ierr(p, "%s takes at least %d argument%s, got %zu", fns[f->fn].name,
				 fns[f->fn].min, fns[f->fn].min == 1 ? "" : "s", f->nargs);
		else
			r = ierr(p, "%s takes %d to %d arguments, got %zu", fns[f->fn].name,
				 fns[f->fn].min, fns[f->fn].max, f->nargs);
		goto fail;
	}
	/* checks that need no data */
	if (f->fn == FN_FORMAT && f->args[0].kind == ARG_LIT && !json_is_string(f->args[0].lit)) {
		r = ierr(p, "the first argument of States.Format must be a string");
		goto fail;
	}
	if (f->fn == FN_JSONMERGE && f->args[2].kind == ARG_LIT &&
	    !json_is_false(f->args[2].lit)) {
		r = ierr(p, "States.JsonMerge supports only shallow merging: the third argument "
			    "must be false");
		goto fail;
	}
	*ret = f;
	return 0;
fail:
	intrinsic_free(f);
	return r;
}

static int compile_msg(const char *expr, struct intrinsic **ret, char *msg, size_t msglen)
{
	struct iparser p;
	struct intrinsic *f = NULL;
	int r;

	memset(&p, 0, sizeof(p));
	p.s = expr;
	p.len = strlen(expr);
	if (!intrinsic_is_call(expr)) {
		r = ierr(&p, "not an intrinsic function call");
		goto out;
	}
	r = parse_call(&p, 1, &f);
	if (r == 0) {
		iskip_ws(&p);
		if (p.pos != p.len) {
			r = ierr(&p, "unexpected text after the call");
			intrinsic_free(f);
			f = NULL;
		}
	}
	if (r == 0) {
		f->text = strdup(expr);
		if (!f->text) {
			intrinsic_free(f);
			r = -ENOMEM;
		}
	}
out:
	if (r < 0) {
		if (msg && msglen)
			snprintf(msg, msglen, "%s", r == -ENOMEM ? "out of memory" : p.msg);
		return r;
	}
	*ret = f;
	return 0;
}

int intrinsic_compile(const char *expr, struct intrinsic **ret, struct asl_err *err)
{
	char msg[400];
	int r;

	r = compile_msg(expr ? expr : "", ret, msg, sizeof(msg));
	if (r < 0)
		asl_err_set(err, ASL_E_RUNTIME, "The intrinsic function '%s' is invalid: %s",
			    expr ? expr : "", msg);
	return r;
}

int intrinsic_check(const char *expr, char *msg, size_t msglen)
{
	struct intrinsic *f = NULL;
	int r = compile_msg(expr ? expr : "", &f, msg, msglen);

	intrinsic_free(f);
	return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- helpers */

static int ferr(struct asl_err *err, const struct intrinsic *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ferr(struct asl_err *err, const struct intrinsic *f, const char *fmt, ...)
{
	char detail[ASL_CAUSE_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* intrinsic_exec() wraps this in "The function '...' had the following error: " */
	return asl_err_set(err, ASL_E_RUNTIME, "%s", detail);
}

/* Short printable form of a value for causes (truncated). */
static void show(const json_t *v, char *out, size_t outlen)
{
	char *d = jpath_dumps(v);

	if (!d) {
		snprintf(out, outlen, "?");
		return;
	}
	if (strlen(d) >= outlen && outlen > 4)
		snprintf(out, outlen, "%.*s...", (int)(outlen - 4), d);
	else
		snprintf(out, outlen, "%s", d);
	free(d);
}

static int type_err(struct asl_err *err, const struct intrinsic *f, size_t i, const char *want,
		    const json_t *v)
{
	char s[200];

	show(v, s, sizeof(s));
	return ferr(err, f, "argument %zu must be %s, but was %s", i + 1, want, s);
}

/* An integral number: integers, or reals with no fraction. */
static bool get_int(const json_t *v, long long *ret)
{
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == floor(d) && fabs(d) < 9.0e15) {
			*ret = (long long)d;
			return true;
		}
	}
	return false;
}

/* Java Math.round: floor(x + 0.5). */
static bool get_rounded(const json_t *v, long long *ret)
{
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = floor(json_real_value(v) + 0.5);
		if (!isfinite(d) || fabs(d) > 9.0e18)
			return false;
		*ret = (long long)d;
		return true;
	}
	return false;
}

/* Java's String.valueOf / Map.toString of a JSON value, as States.Format prints it. */
static int java_str(struct buf *b, const json_t *v, int depth)
{
	char num[40];
	size_t i;
	int r = 0;

	if (depth > 1000)
		return -E2BIG;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return buf_add(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return buf_puts(b, jpath_fmt_real(json_real_value(v), num));
	case JSON_TRUE:
		return buf_puts(b, "true");
	case JSON_FALSE:
		return buf_puts(b, "false");
	case JSON_NULL:
		return buf_puts(b, "null");
	case JSON_ARRAY:
		r = buf_putc(b, '[');
		for (i = 0; i < json_array_size(v) && r >= 0; i++) {
			if (i)
				r = buf_puts(b, ", ");
			if (r >= 0)
				r = java_str(b, json_array_get(v, i), depth + 1);
		}
		return r < 0 ? r : buf_putc(b, ']');
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		bool first = true;
		r = buf_putc(b, '{');
		json_object_foreach((json_t *)v, k, m) {
			if (r >= 0 && !first)
				r = buf_puts(b, ", ");
			first = false;
			if (r >= 0)
				r = buf_puts(b, k);
			if (r >= 0)
				r = buf_putc(b, '=');
			if (r >= 0)
				r = java_str(b, m, depth + 1);
			if (r < 0)
				break;
		}
		return r < 0 ? r : buf_putc(b, '}');
	}
	}
	return 0;
}

/* Number of UTF-8 code points (AWS counts characters). */
static size_t utf8_len(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

static size_t utf8_next(const char *s, size_t n, size_t i)
{
	i++;
	while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
		i++;
	return i;
}

/* ---------------------------------------------------------------- functions */

static int fn_format(const struct intrinsic *f, json_t **av, json_t **ret, struct asl_err *err)
{
	struct buf b = BUF_INIT_CAP(INTRINSIC_MAX_OUTPUT);
	const char *t;
	bool raw = f->args[0].kind == ARG_LIT;
	size_t i, n, used = 0, holes = 0;
	int r = 0;

	if (!json_is_string(av[0]))
		return type_err(err, f, 0, "a string", av[0]);
	t = raw ? f->args[0].raw : json_string_value(av[0]);
	n = raw ? strlen(t) : json_string_length(av[0]);
	/* count the placeholders first: AWS requires an exact match */
	for (i = 0; i < n; i++) {
		if (raw && t[i] == '\\' && i + 1 < n) {
			i++;
			continue;
		}
		if (t[i] == '{' && i + 1 < n && t[i + 1] == '}') {
			holes++;
			i++;
		}
	}
	if (holes != f->nargs - 1)
		return ferr(err, f, "the template has %zu placeholder%s but %zu argument%s given",
			    holes, holes == 1 ? "" : "s", f->nargs - 1,
			    f->nargs - 1 == 1 ? " was" : "s were");
	for (i = 0; i < n && r >= 0; i++) {
		if (raw && t[i] == '\\' && i + 1 < n) {
			r = buf_putc(&b, t[++i]);
		} else if (t[i] == '{' && i + 1 < n && t[i + 1] == '}') {
			r = java_str(&b, av[1 + used++], 0);
			i++;
		} else {
			r = buf_putc(&b, t[i]);
		}
	}
	if (r < 0) {
		buf_release(&b);
		return r == -E2BIG ? ferr(err, f, "the result is too large") : r;
	}
	*ret = json_stringn(b.data, b.len);
	buf_release(&b);
	return *ret ? 0 : ferr(err, f, "the result is not valid UTF-8");
}

static int fn_stringtojson(const struct intrinsic *f, json_t **av, json_t **ret,
			   struct asl_err *err)
{
	const char *s;
	size_t n, i;
	json_error_t je;

	if (!json_is_string(av[0]))
		return type_err(err, f, 0, "a string", av[0]);
	s = json_string_value(av[0]);
	n = json_string_length(av[0]);
	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			break;
	if (i == n) {
		*ret = json_null();
		return 0;
	}
	*ret = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!*ret) {
		char sh[200];
		show(av[0], sh, sizeof(sh));
		return ferr(err, f, "the argument %s is not valid JSON: %s", sh, je.text);
	}
	return 0;
}

static int fn_jsontostring(const struct intrinsic *f, json_t **av, json_t **ret,
			   struct asl_err *err)
{
	char *d = jpath_dumps(av[0]);

	if (!d)
		return -ENOMEM;
	*ret = json_string(d);
	free(d);
	return *ret ? 0 : -ENOMEM;
}

static int fn_array(const struct intrinsic *f, json_t **av, json_t **ret, struct asl_err *err)
{
	json_t *a = json_array();
	size_t i;

	if (!a)
		return -ENOMEM;
	for (i = 0; i < f->nargs; i++)
		if (json_array_append(a, av[i]) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	*ret = a;
	return 0;
}

static int fn_arraypartition(const struct intrinsic *f, json_t **av, json_t **ret,
			     struct asl_err *err)
{
	long long n;
	size_t i, len;
	json_t *out, *chunk = NULL;

	if (!json_is_array(av[0]))
		return type_err(err, f, 0, "an array", av[0]);
	if (!get_int(av[1], &n) || n <= 0)
		return type_err(err, f, 1, "a positive integer", av[1]);
	out = json_array();
	if (!out)
		return -ENOMEM;
	len = json_array_size(av[0]);
	for (i = 0; i < len; i++) {
		if (i % (size_t)n == 0) {
			chunk = json_array();
			if (json_array_append_new(out, chunk) < 0)
				goto nomem;
		}
		if (json_array_append(chunk, json_array_get(av[0], i)) < 0)
			goto nomem;
	}
	*ret = out;
	return 0;
nomem:
	json_decref(out);
	return -ENOMEM;
}

static bool deep_equal(const json_t *a, const json_t *b)
{
	return json_equal((json_t *)a, (json_t *)b);
}

static int fn_arraycontains(const struct intrinsic *f, json_t **av, json_t **ret,
			    struct asl_err *err)
{
	size_t i;
	bool found = false;

	if (!json_is_array(av[0]))
		return type_err(err, f, 0, "an array", av[0]);
	for (i = 0; i < json_array_size(av[0]) && !found; i++)
		found = deep_equal(json_array_get(av[0], i), av[1]);
	*ret = json_boolean(found);
	return 0;
}

static int fn_arrayrange(const struct intrinsic *f, json_t **av, json_t **ret,
			 struct asl_err *err)
{
	long long a, b, st, v, count, i;
	json_t *out;

	if (!get_int(av[0], &a))
		return type_err(err, f, 0, "an integer", av[0]);
	if (!get_int(av[1], &b))
		return type_err(err, f, 1, "an integer", av[1]);
	if (!get_int(av[2], &st) || st == 0)
		return type_err(err, f, 2, "a non-zero integer", av[2]);
	if ((st > 0 && b < a) || (st < 0 && b > a))
		count = 0;
	else if (__builtin_sub_overflow(b, a, &count) || count == LLONG_MIN)
		count = LLONG_MAX;
	else
		count = count / st + 1;
	if (count > INTRINSIC_MAX_RANGE)
		return ferr(err, f, "the range would have more than %d elements",
			    INTRINSIC_MAX_RANGE);
	out = json_array();
	if (!out)
		return -ENOMEM;
	/* every element lies between a and b, so a + i * st cannot overflow */
	for (i = 0; i < count; i++) {
		v = a + i * st;
		if (json_array_append_new(out, json_integer(v)) < 0) {
			json_decref(out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

static int fn_arraygetitem(const struct intrinsic *f, json_t **av, json_t **ret,
			   struct asl_err *err)
{
	long long i;

	if (!json_is_array(av[0]))
		return type_err(err, f, 0, "an array", av[0]);
	if (!get_int(av[1], &i) || i < 0)
		return type_err(err, f, 1, "a non-negative integer", av[1]);
	if ((size_t)i >= json_array_size(av[0]))
		return ferr(err, f, "index %lld is out of bounds for an array of %zu element%s", i,
			    json_array_size(av[0]), json_array_size(av[0]) == 1 ? "" : "s");
	*ret = json_incref(json_array_get(av[0], (size_t)i));
	return 0;
}

static int fn_arraylength(const struct intrinsic *f, json_t **av, json_t **ret,
			  struct asl_err *err)
{
	if (!json_is_array(av[0]))
		return type_err(err, f, 0, "an array", av[0]);
	*ret = json_integer((json_int_t)json_array_size(av[0]));
	return *ret ? 0 : -ENOMEM;
}

static int fn_arrayunique(const struct intrinsic *f, json_t **av, json_t **ret,
			  struct asl_err *err)
{
	json_t *out;
	size_t i, j;

	if (!json_is_array(av[0]))
		return type_err(err, f, 0, "an array", av[0]);
	out = json_array();
	if (!out)
		return -ENOMEM;
	for (i = 0; i < json_array_size(av[0]); i++) {
		json_t *v = json_array_get(av[0], i);
		bool dup = false;
		for (j = 0; j < json_array_size(out) && !dup; j++)
			dup = deep_equal(json_array_get(out, j), v);
		if (!dup && json_array_append(out, v) < 0) {
			json_decref(out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

static int fn_base64encode(const struct intrinsic *f, json_t **av, json_t **ret,
			   struct asl_err *err)
{
	const char *s;
	size_t n;
	unsigned char *o;
	int len;

	if (!json_is_string(av[0]))
		return type_err(err, f, 0, "a string", av[0]);
	s = json_string_value(av[0]);
	n = json_string_length(av[0]);
	if (utf8_len(s, n) > INTRINSIC_MAX_STRLEN)
		return ferr(err, f, "the input string is longer than %d characters",
			    INTRINSIC_MAX_STRLEN);
	o = malloc(4 * ((n + 2) / 3) + 1);
	if (!o)
		return -ENOMEM;
	len = EVP_EncodeBlock(o, (const unsigned char *)s, (int)n);
	*ret = json_stringn((const char *)o, (size_t)len);
	free(o);
	return *ret ? 0 : -ENOMEM;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int fn_base64decode(const struct intrinsic *f, json_t **av, json_t **ret,
			   struct asl_err *err)
{
	const unsigned char *s;
	size_t n, i, o = 0, pad = 0;
	unsigned char *out;
	unsigned int acc = 0;
	int bits = 0;

	if (!json_is_string(av[0]))
		return type_err(err, f, 0, "a string", av[0]);
	s = (const unsigned char *)json_string_value(av[0]);
	n = json_string_length(av[0]);
	if (n > INTRINSIC_MAX_STRLEN)
		return ferr(err, f, "the input string is longer than %d characters",
			    INTRINSIC_MAX_STRLEN);
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		int v;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		v = b64val(s[i]);
		if (v < 0 || pad) {
			free(out);
			return ferr(err, f, "the input is not valid Base64");
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || (n - pad) % 4 == 1 || (pad && n % 4)) {
		free(out);
		return ferr(err, f, "the input is not valid Base64");
	}
	*ret = json_stringn((const char *)out, o);
	free(out);
	if (!*ret)
		return ferr(err, f, "the decoded data is not valid UTF-8 text");
	return 0;
}

static int fn_hash(const struct intrinsic *f, json_t **av, json_t **ret, struct asl_err *err)
{
	static const struct {
		const char *aws, *ossl;
	} algs[] = {
		{ "MD5", "MD5" },	  { "SHA-1", "SHA1" },	   { "SHA-256", "SHA256" },
		{ "SHA-384", "SHA384" }, { "SHA-512", "SHA512" },
	};
	const EVP_MD *md = NULL;
	unsigned char dig[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int dlen = 0, i;
	char *data = NULL;
	const char *p;
	size_t n;
	int r = 0;

	if (!json_is_string(av[1]))
		return type_err(err, f, 1, "a string naming the algorithm", av[1]);
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(json_string_value(av[1]), algs[i].aws))
			md = EVP_get_digestbyname(algs[i].ossl);
	if (!md)
		return ferr(err, f, "unsupported algorithm '%s'; use one of MD5, SHA-1, SHA-256, "
				    "SHA-384, SHA-512",
			    json_string_value(av[1]));
	if (json_is_null(av[0]))
		return type_err(err, f, 0, "a value other than null", av[0]);
	if (json_is_string(av[0])) {
		p = json_string_value(av[0]);
		n = json_string_length(av[0]);
	} else {
		data = jpath_dumps(av[0]);
		if (!data)
			return -ENOMEM;
		p = data;
		n = strlen(data);
	}
	if (utf8_len(p, n) > INTRINSIC_MAX_STRLEN) {
		r = ferr(err, f, "the input data is longer than %d characters",
			 INTRINSIC_MAX_STRLEN);
		goto out;
	}
	if (!EVP_Digest(p, n, dig, &dlen, md, NULL)) {
		r = ferr(err, f, "digest computation failed");
		goto out;
	}
	for (i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", dig[i]);
	hex[2 * dlen] = '\0';
	*ret = json_string(hex);
	if (!*ret)
		r = -ENOMEM;
out:
	free(data);
	return r;
}

static int fn_jsonmerge(const struct intrinsic *f, json_t **av, json_t **ret,
			struct asl_err *err)
{
	json_t *out;

	if (!json_is_object(av[0]))
		return type_err(err, f, 0, "an object", av[0]);
	if (!json_is_object(av[1]))
		return type_err(err, f, 1, "an object", av[1]);
	if (!json_is_boolean(av[2]))
		return type_err(err, f, 2, "a boolean", av[2]);
	if (json_is_true(av[2]))
		return ferr(err, f, "Step Functions only supports the shallow merging mode: the "
				    "third argument must be false");
	out = json_copy(av[0]);
	if (!out || json_object_update(out, av[1]) < 0) {
		json_decref(out);
		return -ENOMEM;
	}
	*ret = out;
	return 0;
}

/* java.util.Random, so a seeded MathRandom is reproducible. */
struct jrand {
	uint64_t seed;
};

static void jrand_init(struct jrand *j, long long seed)
{
	j->seed = ((uint64_t)seed ^ 0x5DEECE66DULL) & ((1ULL << 48) - 1);
}

static int32_t jrand_next(struct jrand *j, int bits)
{
	j->seed = (j->seed * 0x5DEECE66DULL + 0xBULL) & ((1ULL << 48) - 1);
	return (int32_t)(j->seed >> (48 - bits));
}

static int32_t jrand_int(struct jrand *j, int32_t bound)
{
	int32_t r = jrand_next(j, 31), m = bound - 1, u;

	if ((bound & m) == 0)
		return (int32_t)(((int64_t)bound * (int64_t)r) >> 31);
	/* Java detects the biased tail by int overflow; do the same in 64 bits */
	for (u = r; (int64_t)u - (r = u % bound) + m > INT32_MAX; u = jrand_next(j, 31))
		;
	return r;
}

static int fn_mathrandom(const struct intrinsic *f, json_t **av, json_t **ret,
			 struct asl_err *err)
{
	long long a, b, seed, range, v;

	if (!get_rounded(av[0], &a) || a < INT32_MIN || a > INT32_MAX)
		return type_err(err, f, 0, "an integer", av[0]);
	if (!get_rounded(av[1], &b) || b < INT32_MIN || b > INT32_MAX)
		return type_err(err, f, 1, "an integer", av[1]);
	if (b < a)
		return ferr(err, f, "the end %lld is smaller than the start %lld", b, a);
	range = b - a + 1; /* both ends inclusive */
	if (f->nargs == 3) {
		struct jrand j;
		if (!get_rounded(av[2], &seed))
			return type_err(err, f, 2, "an integer", av[2]);
		jrand_init(&j, seed);
		if (range > INT32_MAX) {
			v = a + (long long)(((uint64_t)(uint32_t)jrand_next(&j, 32) << 31 |
					     (uint32_t)jrand_next(&j, 31)) %
					    (uint64_t)range);
		} else {
			v = a + jrand_int(&j, (int32_t)range);
		}
	} else {
		uint64_t rnd;
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return ferr(err, f, "no randomness available");
		v = a + (long long)(rnd % (uint64_t)range);
	}
	*ret = json_integer(v);
	return *ret ? 0 : -ENOMEM;
}

static int fn_mathadd(const struct intrinsic *f, json_t **av, json_t **ret, struct asl_err *err)
{
	long long a, b, s;

	if (!get_rounded(av[0], &a))
		return type_err(err, f, 0, "a number", av[0]);
	if (!get_rounded(av[1], &b))
		return type_err(err, f, 1, "a number", av[1]);
	if (__builtin_add_overflow(a, b, &s))
		return ferr(err, f, "the sum overflows");
	*ret = json_integer(s);
	return *ret ? 0 : -ENOMEM;
}

static bool is_delim(const char *d, size_t dn, const char *c, size_t cn)
{
	size_t i, next;

	for (i = 0; i < dn; i = next) {
		next = utf8_next(d, dn, i);
		if (next - i == cn && !memcmp(d + i, c, cn))
			return true;
	}
	return false;
}

static int fn_stringsplit(const struct intrinsic *f, json_t **av, json_t **ret,
			  struct asl_err *err)
{
	const char *s, *d;
	size_t n, dn, i, next, tok = 0;
	json_t *out;

	if (!json_is_string(av[0]))
		return type_err(err, f, 0, "a string", av[0]);
	if (!json_is_string(av[1]))
		return type_err(err, f, 1, "a string", av[1]);
	s = json_string_value(av[0]);
	n = json_string_length(av[0]);
	d = json_string_value(av[1]);
	dn = json_string_length(av[1]);
	out = json_array();
	if (!out)
		return -ENOMEM;
	for (i = 0; i <= n; i = next) {
		next = i < n ? utf8_next(s, n, i) : n + 1;
		if (i == n || is_delim(d, dn, s + i, next - i)) {
			if (i > tok && json_array_append_new(out, json_stringn(s + tok, i - tok)) < 0) {
				json_decref(out);
				return -ENOMEM;
			}
			tok = next;
		}
	}
	*ret = out;
	return 0;
}

static int fn_uuid(const struct intrinsic *f, json_t **av, json_t **ret, struct asl_err *err)
{
	unsigned char u[16];
	char s[37];

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		return ferr(err, f, "no randomness available");
	u[6] = (u[6] & 0x0F) | 0x40;
	u[8] = (u[8] & 0x3F) | 0x80;
	snprintf(s, sizeof(s),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	*ret = json_string(s);
	return *ret ? 0 : -ENOMEM;
}

typedef int (*fn_impl)(const struct intrinsic *, json_t **, json_t **, struct asl_err *);

static const fn_impl impls[] = {
	[FN_FORMAT] = fn_format,
	[FN_STRINGTOJSON] = fn_stringtojson,
	[FN_JSONTOSTRING] = fn_jsontostring,
	[FN_ARRAY] = fn_array,
	[FN_ARRAYPARTITION] = fn_arraypartition,
	[FN_ARRAYCONTAINS] = fn_arraycontains,
	[FN_ARRAYRANGE] = fn_arrayrange,
	[FN_ARRAYGETITEM] = fn_arraygetitem,
	[FN_ARRAYLENGTH] = fn_arraylength,
	[FN_ARRAYUNIQUE] = fn_arrayunique,
	[FN_BASE64ENCODE] = fn_base64encode,
	[FN_BASE64DECODE] = fn_base64decode,
	[FN_HASH] = fn_hash,
	[FN_JSONMERGE] = fn_jsonmerge,
	[FN_MATHRANDOM] = fn_mathrandom,
	[FN_MATHADD] = fn_mathadd,
	[FN_STRINGSPLIT] = fn_stringsplit,
	[FN_UUID] = fn_uuid,
};

/* ---------------------------------------------------------------- evaluation */

#define ARGS_INLINE 8

/*
 * A path argument that selects nothing: AWS's detail names the argument (a
 * context path rewritten to `$.`) and the state input, not the context.
 */
static int missing_arg(const struct iarg *a, const struct jpath_env *env, struct asl_err *err)
{
	const char *text = jpath_text(a->path);
	json_t *in = env && env->input ? env->input : json_null();
	char *d;

	if (strncmp(err->cause, "No results for path", 19) &&
	    strncmp(err->cause, "Missing property in path", 24) &&
	    strncmp(err->cause, "variable '", 10) && strncmp(err->cause, "the context", 11))
		return -1; /* Jayway's own text, as AWS lets it through */
	d = jpath_dumps(in);
	asl_err_set(err, ASL_E_RUNTIME,
		    "The JsonPath argument for the field '%s%s' could not be found in the input "
		    "'%s'",
		    strncmp(text, "$$", 2) ? "" : "$", strncmp(text, "$$", 2) ? text : text + 2,
		    d ? d : "");
	free(d);
	return -1;
}

static int exec_call(const struct intrinsic *f, const struct jpath_env *env, json_t **ret,
		     struct asl_err *err)
{
	json_t *inl[ARGS_INLINE], **av = inl;
	size_t i, done = 0;
	int r = 0;

	if (f->nargs > ARGS_INLINE) {
		av = calloc(f->nargs, sizeof(*av));
		if (!av)
			return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	}
	for (i = 0; i < f->nargs; i++, done++) {
		const struct iarg *a = &f->args[i];
		if (a->kind == ARG_LIT) {
			av[i] = json_incref(a->lit);
		} else if (a->kind == ARG_PATH) {
			r = jpath_exec_flags(a->path, env, JPATH_STRICT | JPATH_BARE_CAUSE, &av[i],
					     err);
			if (r == JPATH_ENOTFOUND)
				r = missing_arg(a, env, err);
			if (r < 0)
				goto out;
		} else {
			r = exec_call(a->call, env, &av[i], err);
			if (r < 0)
				goto out;
		}
	}
	r = impls[f->fn](f, av, ret, err);
	if (r == -ENOMEM)
		asl_err_set(err, ASL_E_RUNTIME, "out of memory");
out:
	for (i = 0; i < done; i++)
		json_decref(av[i]);
	if (av != inl)
		free(av);
	return r < 0 ? -1 : 0;
}

int intrinsic_exec(const struct intrinsic *f, const struct jpath_env *env, json_t **ret,
		   struct asl_err *err)
{
	struct asl_err e; /* not zero-filled: this is the hot path */

	e.cause[0] = '\0';
	if (exec_call(f, env, ret, &e) == 0)
		return 0;
	if (!strcmp(e.cause, "out of memory"))
		return asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	return asl_err_set(err, ASL_E_RUNTIME, "The function '%s' had the following error: %s",
			   f->text, e.cause);
}

int intrinsic_eval(const char *expr, const struct jpath_env *env, json_t **ret,
		   struct asl_err *err)
{
	struct intrinsic *f = NULL;
	int r;

	r = intrinsic_compile(expr, &f, err);
	if (r < 0)
		return -1;
	r = intrinsic_exec(f, env, ret, err);
	intrinsic_free(f);
	return r;
}
