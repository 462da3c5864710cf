/*
 * choice: JSONPath Choice rules (data tests, And/Or/Not) compiled once into a
 * tree of operators with pre-compiled Variable and ...Path paths, plus the
 * RFC 3339 timestamp parser the Timestamp* operators and Wait use.
 *
 * Semantics (../shared/reference/asl.md §1.8 and the AWS-recorded operator
 * tables): a type mismatch is simply false; Is* with false inverts the test;
 * a Variable that selects nothing is States.Runtime except under IsPresent;
 * strings compare code point by code point (UTF-8 byte order is the same).
 */
#include "engine/jpath.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cop {
	OP_AND,
	OP_OR,
	OP_NOT,
	OP_STR_EQ,
	OP_STR_LT,
	OP_STR_GT,
	OP_STR_LE,
	OP_STR_GE,
	OP_STR_MATCHES,
	OP_NUM_EQ,
	OP_NUM_LT,
	OP_NUM_GT,
	OP_NUM_LE,
	OP_NUM_GE,
	OP_BOOL_EQ,
	OP_TS_EQ,
	OP_TS_LT,
	OP_TS_GT,
	OP_TS_LE,
	OP_TS_GE,
	OP_IS_NULL,
	OP_IS_PRESENT,
	OP_IS_NUMERIC,
	OP_IS_STRING,
	OP_IS_BOOLEAN,
	OP_IS_TIMESTAMP,
};

enum otype { OT_NONE, OT_STRING, OT_NUMBER, OT_BOOL, OT_TIMESTAMP };

static const struct opinfo {
	const char *name;
	enum cop op;
	enum otype type; /* operand type of the literal form */
	bool path;       /* the ...Path form */
} ops[] = {
	{ "StringEquals", OP_STR_EQ, OT_STRING, false },
	{ "StringEqualsPath", OP_STR_EQ, OT_STRING, true },
	{ "StringLessThan", OP_STR_LT, OT_STRING, false },
	{ "StringLessThanPath", OP_STR_LT, OT_STRING, true },
	{ "StringGreaterThan", OP_STR_GT, OT_STRING, false },
	{ "StringGreaterThanPath", OP_STR_GT, OT_STRING, true },
	{ "StringLessThanEquals", OP_STR_LE, OT_STRING, false },
	{ "StringLessThanEqualsPath", OP_STR_LE, OT_STRING, true },
	{ "StringGreaterThanEquals", OP_STR_GE, OT_STRING, false },
	{ "StringGreaterThanEqualsPath", OP_STR_GE, OT_STRING, true },
	{ "StringMatches", OP_STR_MATCHES, OT_STRING, false },
	{ "NumericEquals", OP_NUM_EQ, OT_NUMBER, false },
	{ "NumericEqualsPath", OP_NUM_EQ, OT_NUMBER, true },
	{ "NumericLessThan", OP_NUM_LT, OT_NUMBER, false },
	{ "NumericLessThanPath", OP_NUM_LT, OT_NUMBER, true },
	{ "NumericGreaterThan", OP_NUM_GT, OT_NUMBER, false },
	{ "NumericGreaterThanPath", OP_NUM_GT, OT_NUMBER, true },
	{ "NumericLessThanEquals", OP_NUM_LE, OT_NUMBER, false },
	{ "NumericLessThanEqualsPath", OP_NUM_LE, OT_NUMBER, true },
	{ "NumericGreaterThanEquals", OP_NUM_GE, OT_NUMBER, false },
	{ "NumericGreaterThanEqualsPath", OP_NUM_GE, OT_NUMBER, true },
	{ "BooleanEquals", OP_BOOL_EQ, OT_BOOL, false },
	{ "BooleanEqualsPath", OP_BOOL_EQ, OT_BOOL, true },
	{ "TimestampEquals", OP_TS_EQ, OT_TIMESTAMP, false },
	{ "TimestampEqualsPath", OP_TS_EQ, OT_TIMESTAMP, true },
	{ "TimestampLessThan", OP_TS_LT, OT_TIMESTAMP, false },
	{ "TimestampLessThanPath", OP_TS_LT, OT_TIMESTAMP, true },
	{ "TimestampGreaterThan", OP_TS_GT, OT_TIMESTAMP, false },
	{ "TimestampGreaterThanPath", OP_TS_GT, OT_TIMESTAMP, true },
	{ "TimestampLessThanEquals", OP_TS_LE, OT_TIMESTAMP, false },
	{ "TimestampLessThanEqualsPath", OP_TS_LE, OT_TIMESTAMP, true },
	{ "TimestampGreaterThanEquals", OP_TS_GE, OT_TIMESTAMP, false },
	{ "TimestampGreaterThanEqualsPath", OP_TS_GE, OT_TIMESTAMP, true },
	{ "IsNull", OP_IS_NULL, OT_BOOL, false },
	{ "IsPresent", OP_IS_PRESENT, OT_BOOL, false },
	{ "IsNumeric", OP_IS_NUMERIC, OT_BOOL, false },
	{ "IsString", OP_IS_STRING, OT_BOOL, false },
	{ "IsBoolean", OP_IS_BOOLEAN, OT_BOOL, false },
	{ "IsTimestamp", OP_IS_TIMESTAMP, OT_BOOL, false },
};

#define CHOICE_MAX_DEPTH 64

struct choice_rule {
	enum cop op;
	const char *opname;
	struct jpath *var;   /* Variable */
	struct jpath *rhs;   /* ...Path operand */
	json_t *lit;         /* literal operand */
	struct timespec ts;  /* literal timestamp, parsed once */
	bool flag;           /* Is* and BooleanEquals literal */
	struct choice_rule *kids;
	size_t nkids;
};

static void rule_release(struct choice_rule *r)
{
	size_t i;

	jpath_free(r->var);
	jpath_free(r->rhs);
	json_decref(r->lit);
	for (i = 0; i < r->nkids; i++)
		rule_release(&r->kids[i]);
	free(r->kids);
}

void choice_free(struct choice_rule *r)
{
	if (!r)
		return;
	rule_release(r);
	free(r);
}

/* ---------------------------------------------------------------- timestamps */

static bool digits(const char *s, int n, int *ret)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int asl_timestamp_parse(const char *s, struct timespec *ret)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, os = 0, dim;
	long nsec = 0;
	size_t i = 16, n;
	int64_t t;

	/*
	 * Java's ISO_OFFSET_DATE_TIME, which AWS uses ("ISO-8601 extended offset
	 * date-time"): seconds optional, 1-9 fraction digits only after seconds,
	 * then Z or +hh:mm[:ss]. Uppercase T and Z (RFC 3339 as AWS documents).
	 */
	if (!s)
		return -1;
	n = strlen(s);
	if (n < 17)
		return -1;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi))
		return -1;
	if (s[i] == ':') {
		if (n < 19 || !digits(s + 17, 2, &sec))
			return -1;
		i = 19;
		if (s[i] == '.') {
			long scale = 100000000;
			size_t start = ++i;
			while (i < n && s[i] >= '0' && s[i] <= '9') {
				if (i - start >= 9)
					return -1;
				nsec += (s[i] - '0') * scale;
				scale /= 10;
				i++;
			}
			if (i == start)
				return -1;
		}
	}
	if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59)
		return -1;
	dim = mdays[mo - 1];
	if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		dim = 29;
	if (d < 1 || d > dim)
		return -1;
	if (i < n && s[i] == 'Z') {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1;
		if (n - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2, &om) || oh > 18 || om > 59)
			return -1;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n - i < 3 || !digits(s + i + 1, 2, &os) || os > 59)
				return -1;
			i += 3;
		}
		oh *= sign;
		om *= sign;
		os *= sign;
	} else {
		return -1;
	}
	if (i != n)
		return -1;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t)oh * 3600 + (int64_t)om * 60 + os;
	if (ret) {
		ret->tv_sec = (time_t)t;
		ret->tv_nsec = nsec;
	}
	return 0;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* ---------------------------------------------------------------- compile */

static int cerr(struct asl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cerr(struct asl_err *err, const char *fmt, ...)
{
	char m[ASL_CAUSE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	asl_err_set(err, ASL_E_RUNTIME, "%s", m);
	return JPATH_ESYNTAX;
}

/* StringMatches pattern: only `*` is special; `\*` and `\\` are escapes. */
static int check_pattern(const char *p, struct asl_err *err)
{
	for (; *p; p++) {
		if (*p == '\\') {
			if (p[1] != '*' && p[1] != '\\')
				return cerr(err, "StringMatches: the pattern has an open backslash "
						 "(only \\* and \\\\ are escapes)");
			p++;
		}
	}
	return 0;
}

static int rule_build(struct choice_rule *r, json_t *rule, bool nested, int depth,
		      struct asl_err *err)
{
	const char *k;
	json_t *v, *var = NULL;
	const struct opinfo *found = NULL;
	const char *boolop = NULL;
	json_t *boolval = NULL;
	size_t i;
	int rc;

	if (depth > CHOICE_MAX_DEPTH)
		return cerr(err, "Choice rules nested deeper than %d levels", CHOICE_MAX_DEPTH);
	if (!json_is_object(rule))
		return cerr(err, "a Choice rule must be an object");
	json_object_foreach(rule, k, v) {
		if (!strcmp(k, "Variable")) {
			var = v;
			continue;
		}
		if (!strcmp(k, "Comment") || !strcmp(k, "Assign") || !strcmp(k, "Output"))
			continue;
		if (!strcmp(k, "Next")) {
			if (nested)
				return cerr(err, "a nested Choice rule may not have 'Next'");
			continue;
		}
		if (!strcmp(k, "And") || !strcmp(k, "Or") || !strcmp(k, "Not")) {
			if (boolop || found)
				return cerr(err, "a Choice rule must have exactly one operator, found "
						 "'%s' and '%s'",
					    boolop ? boolop : found->name, k);
			boolop = k;
			boolval = v;
			continue;
		}
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strcmp(k, ops[i].name))
				break;
		if (i == sizeof(ops) / sizeof(ops[0]))
			return cerr(err, "unknown field '%s' in a Choice rule", k);
		if (boolop || found)
			return cerr(err,
				    "a Choice rule must have exactly one operator, found '%s' and '%s'",
				    boolop ? boolop : found->name, k);
		found = &ops[i];
	}
	if (boolop) {
		if (var)
			return cerr(err, "'%s' rules take no 'Variable'", boolop);
		r->opname = boolop;
		if (!strcmp(boolop, "Not")) {
			r->op = OP_NOT;
			if (!json_is_object(boolval))
				return cerr(err, "'Not' must hold one Choice rule object");
			r->kids = calloc(1, sizeof(*r->kids));
			if (!r->kids)
				return -ENOMEM;
			r->nkids = 1;
			return rule_build(&r->kids[0], boolval, true, depth + 1, err);
		}
		r->op = !strcmp(boolop, "And") ? OP_AND : OP_OR;
		if (!json_is_array(boolval) || json_array_size(boolval) == 0)
			return cerr(err, "'%s' must hold a non-empty array of Choice rules", boolop);
		r->kids = calloc(json_array_size(boolval), sizeof(*r->kids));
		if (!r->kids)
			return -ENOMEM;
		for (i = 0; i < json_array_size(boolval); i++) {
			r->nkids++;
			rc = rule_build(&r->kids[i], json_array_get(boolval, i), true, depth + 1, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (!found)
		return cerr(err, "a Choice rule needs a comparison operator or And/Or/Not");
	if (!var)
		return cerr(err, "the '%s' rule has no 'Variable'", found->name);
	if (!json_is_string(var))
		return cerr(err, "'Variable' must be a string holding a path");
	r->op = found->op;
	r->opname = found->name;
	rc = jpath_compile(json_string_value(var), &r->var, err);
	if (rc < 0)
		return rc;
	v = json_object_get(rule, found->name);
	if (found->path) {
		if (!json_is_string(v))
			return cerr(err, "'%s' must be a string holding a path", found->name);
		return jpath_compile(json_string_value(v), &r->rhs, err);
	}
	switch (found->type) {
	case OT_STRING:
		if (!json_is_string(v))
			return cerr(err, "'%s' must be a string", found->name);
		if (found->op == OP_STR_MATCHES) {
			rc = check_pattern(json_string_value(v), err);
			if (rc < 0)
				return rc;
		}
		break;
	case OT_NUMBER:
		if (!json_is_number(v))
			return cerr(err, "'%s' must be a number", found->name);
		break;
	case OT_BOOL:
		if (!json_is_boolean(v))
			return cerr(err, "'%s' must be true or false", found->name);
		r->flag = json_is_true(v);
		break;
	case OT_TIMESTAMP:
		if (!json_is_string(v) || asl_timestamp_parse(json_string_value(v), &r->ts) < 0)
			return cerr(err, "'%s' must be an RFC 3339 timestamp string",
				    found->name);
		break;
	case OT_NONE:
		break;
	}
	r->lit = json_incref(v);
	return 0;
}

int choice_compile(json_t *rule, struct choice_rule **ret, struct asl_err *err)
{
	struct choice_rule *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = rule_build(r, rule, false, 0, err);
	if (rc < 0) {
		if (rc == -ENOMEM)
			asl_err_set(err, ASL_E_RUNTIME, "out of memory");
		choice_free(r);
		return rc;
	}
	*ret = r;
	return 0;
}

int choice_check(json_t *rule, char *msg, size_t msglen)
{
	struct choice_rule *r = NULL;
	struct asl_err e = { "", "" };
	int rc = choice_compile(rule, &r, &e);

	if (rc < 0) {
		if (msg && msglen)
			snprintf(msg, msglen, "%s", rc == -ENOMEM ? "out of memory" : e.cause);
		return -1;
	}
	choice_free(r);
	return 0;
}

/* ---------------------------------------------------------------- evaluation */

static bool string_matches(const char *s, const char *p)
{
	/* iterative glob with backtracking to the last '*' */
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*p == '*') {
			star = ++p;
			resume = s;
			continue;
		}
		if (*p == '\\' && (p[1] == '*' || p[1] == '\\')) {
			if (*s == p[1]) {
				s++;
				p += 2;
				continue;
			}
		} else if (*p && *p == *s) {
			s++;
			p++;
			continue;
		}
		if (!star)
			return false;
		p = star;
		s = ++resume;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static int num_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return x < y ? -1 : x > y;
	}
	double x = json_number_value(a), y = json_number_value(b);
	return x < y ? -1 : x > y;
}

static bool cmp_true(enum cop op, int c)
{
	switch (op) {
	case OP_STR_EQ:
	case OP_NUM_EQ:
	case OP_TS_EQ:
		return c == 0;
	case OP_STR_LT:
	case OP_NUM_LT:
	case OP_TS_LT:
		return c < 0;
	case OP_STR_GT:
	case OP_NUM_GT:
	case OP_TS_GT:
		return c > 0;
	case OP_STR_LE:
	case OP_NUM_LE:
	case OP_TS_LE:
		return c <= 0;
	case OP_STR_GE:
	case OP_NUM_GE:
	case OP_TS_GE:
		return c >= 0;
	default:
		return false;
	}
}

/* AWS's cause when a Variable (or ...Path operand) selects nothing. */
static int missing(const struct jpath *p, int rc, struct asl_err *err)
{
	if (rc == JPATH_ENOTFOUND)
		asl_err_set(err, ASL_E_RUNTIME,
			    "Invalid path '%s': The choice state's condition path references an "
			    "invalid value.",
			    jpath_text(p));
	return -1;
}

static int rule_exec(const struct choice_rule *r, const struct jpath_env *env, bool *ret,
		     struct asl_err *err)
{
	json_t *a = NULL, *b = NULL;
	bool m = false;
	size_t i;
	int rc = 0;

	switch (r->op) {
	case OP_AND:
	case OP_OR:
		for (i = 0; i < r->nkids; i++) {
			rc = rule_exec(&r->kids[i], env, &m, err);
			if (rc < 0)
				return rc;
			if (m != (r->op == OP_AND))
				break;
		}
		*ret = m;
		return 0;
	case OP_NOT:
		rc = rule_exec(&r->kids[0], env, &m, err);
		if (rc < 0)
			return rc;
		*ret = !m;
		return 0;
	default:
		break;
	}
	if (r->op == OP_IS_PRESENT) {
		struct asl_err quiet;
		bool present = jpath_exec(r->var, env, &a, &quiet) == 0;
		/* an indefinite path that selects nothing is not present either */
		if (present && !jpath_is_definite(r->var) && json_array_size(a) == 0)
			present = false;
		json_decref(a);
		*ret = present == r->flag;
		return 0;
	}
	rc = jpath_exec(r->var, env, &a, err);
	if (rc < 0)
		return missing(r->var, rc, err);
	if (r->rhs) {
		rc = jpath_exec(r->rhs, env, &b, err);
		if (rc < 0) {
			json_decref(a);
			return missing(r->rhs, rc, err);
		}
	} else {
		b = r->lit;
	}
	switch (r->op) {
	case OP_IS_NULL:
		m = json_is_null(a) == r->flag;
		break;
	case OP_IS_NUMERIC:
		m = json_is_number(a) == r->flag;
		break;
	case OP_IS_STRING:
		m = json_is_string(a) == r->flag;
		break;
	case OP_IS_BOOLEAN:
		m = json_is_boolean(a) == r->flag;
		break;
	case OP_IS_TIMESTAMP:
		m = (json_is_string(a) && asl_timestamp_parse(json_string_value(a), NULL) == 0) ==
		    r->flag;
		break;
	case OP_STR_MATCHES:
		m = json_is_string(a) && string_matches(json_string_value(a), json_string_value(b));
		break;
	case OP_STR_EQ:
	case OP_STR_LT:
	case OP_STR_GT:
	case OP_STR_LE:
	case OP_STR_GE:
		if (json_is_string(a) && json_is_string(b)) {
			/* byte order of UTF-8 is code point order; embedded NULs compare too */
			size_t la = json_string_length(a), lb = json_string_length(b);
			int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
			if (c == 0)
				c = la < lb ? -1 : la > lb;
			m = cmp_true(r->op, c);
		}
		break;
	case OP_NUM_EQ:
	case OP_NUM_LT:
	case OP_NUM_GT:
	case OP_NUM_LE:
	case OP_NUM_GE:
		if (json_is_number(a) && json_is_number(b))
			m = cmp_true(r->op, num_cmp(a, b));
		break;
	case OP_BOOL_EQ:
		if (json_is_boolean(a) && json_is_boolean(b))
			m = json_is_true(a) == json_is_true(b);
		break;
	case OP_TS_EQ:
	case OP_TS_LT:
	case OP_TS_GT:
	case OP_TS_LE:
	case OP_TS_GE: {
		struct timespec ta, tb;
		if (!json_is_string(a) || asl_timestamp_parse(json_string_value(a), &ta) < 0)
			break;
		if (r->rhs) {
			if (!json_is_string(b) || asl_timestamp_parse(json_string_value(b), &tb) < 0)
				break;
		} else {
			tb = r->ts;
		}
		m = cmp_true(r->op, ts_cmp(&ta, &tb));
		break;
	}
	default:
		break;
	}
	json_decref(a);
	if (r->rhs)
		json_decref(b);
	*ret = m;
	return 0;
}

int choice_exec(const struct choice_rule *r, const struct jpath_env *env, bool *ret_match,
		struct asl_err *err)
{
	bool m = false;
	int rc = rule_exec(r, env, &m, err);

	if (rc < 0)
		return -1;
	*ret_match = m;
	return 0;
}

int choice_eval(json_t *rule, const struct jpath_env *env, bool *ret_match, struct asl_err *err)
{
	struct choice_rule *r = NULL;
	int rc;

	rc = choice_compile(rule, &r, err);
	if (rc < 0)
		return -1;
	rc = choice_exec(r, env, ret_match, err);
	choice_free(r);
	return rc;
}
