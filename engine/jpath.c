/*
 * jpath: JSONPath as Amazon States Language uses it (AWS evaluates with
 * Jayway JsonPath, whose error texts we reproduce), ResultPath placement,
 * payload templates and the shared JSON printer.
 *
 * A path is compiled once into a root (`$`, `$$`, `$var` or `@` inside a
 * filter) and a vector of segments; evaluation never re-parses. Definite
 * paths (names and single indexes only) take a direct walk that borrows
 * values; indefinite ones collect borrowed pointers into a node list and
 * build the result array at the end. Compiled objects are immutable.
 */
#include "engine/jpath.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

/* A path nested in filters in filters... stops here (the fuzzer finds this). */
#define JP_MAX_DEPTH 32
/* A path step that would hold more values than this fails (e.g. $..*..*..*). */
#define JP_MAX_NODES ((size_t)1 << 22)
/* Recursive descent over documents nested deeper than this stops descending. */
#define JP_MAX_DOC_DEPTH 4096

enum seg_kind {
	SEG_NAME,    /* .a ['a'] */
	SEG_INDEX,   /* [3] [-1] */
	SEG_WILD,    /* .* [*] */
	SEG_SLICE,   /* [a:b:c] */
	SEG_NAMES,   /* ['a','b'] */
	SEG_INDEXES, /* [0,2] */
	SEG_FILTER,  /* [?(...)] */
};

enum root_kind { ROOT_INPUT, ROOT_CONTEXT, ROOT_VAR, ROOT_CURRENT };

/* Jayway's path functions, allowed as the last step: $.items.length() */
enum jfunc { JF_NONE, JF_LENGTH, JF_MIN, JF_MAX, JF_AVG, JF_SUM, JF_STDDEV, JF_KEYS, JF_FIRST, JF_LAST };

static const char *const jfunc_names[] = {
	[JF_NONE] = "",	 [JF_LENGTH] = "length", [JF_MIN] = "min",	[JF_MAX] = "max",
	[JF_AVG] = "avg", [JF_SUM] = "sum",	  [JF_STDDEV] = "stddev", [JF_KEYS] = "keys",
	[JF_FIRST] = "first", [JF_LAST] = "last",
};

struct fexpr;

struct seg {
	enum seg_kind kind;
	bool descent; /* preceded by `..` */
	char *name;
	long index;
	long start, end, step;
	bool has_start, has_end;
	char **names;
	long *idx;
	size_t n;
	struct fexpr *filter;
	size_t norm_end; /* length of the normalized path up to and including this segment */
};

struct jpath {
	enum root_kind root;
	char *var;
	struct seg *segs;
	size_t nsegs;
	bool definite;      /* selects one value (incl. through a function) */
	bool base_definite; /* the path without its function is definite */
	bool reference;
	enum jfunc func;
	size_t root_len; /* length of the root in norm */
	char *text; /* source text */
	char *norm; /* Jayway's normalized form: $['a'][0] */
};

enum fop {
	FOP_EQ,
	FOP_NE,
	FOP_LT,
	FOP_LE,
	FOP_GT,
	FOP_GE,
	FOP_REGEX,
	FOP_IN,
	FOP_NIN,
	FOP_SUBSETOF,
	FOP_ANYOF,
	FOP_NONEOF,
	FOP_SIZE,
	FOP_EMPTY,
};
enum fkind { FX_OR, FX_AND, FX_NOT, FX_CMP, FX_EXISTS, FX_LIT };

struct foperand {
	struct jpath *path; /* or NULL: literal */
	json_t *lit;
};

struct fexpr {
	enum fkind kind;
	struct fexpr *l, *r;
	enum fop op;
	struct foperand a, b;
	regex_t *re; /* FOP_REGEX: POSIX ERE, anchored (Java's matches()) */
};

/* ---------------------------------------------------------------- parser */

struct parser {
	const char *s;
	size_t pos, len;
	bool embedded; /* a path inside a filter: stop at operators and blanks */
	int depth;
	char msg[256];
	struct buf norm;
};

static void fexpr_free(struct fexpr *x);
static int parse_path(struct parser *p, struct jpath **ret);

static void seg_release(struct seg *s)
{
	size_t i;

	free(s->name);
	for (i = 0; s->names && i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->idx);
	fexpr_free(s->filter);
}

void jpath_free(struct jpath *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nsegs; i++)
		seg_release(&p->segs[i]);
	free(p->segs);
	free(p->var);
	free(p->text);
	free(p->norm);
	free(p);
}

static void fexpr_free(struct fexpr *x)
{
	if (!x)
		return;
	fexpr_free(x->l);
	fexpr_free(x->r);
	jpath_free(x->a.path);
	jpath_free(x->b.path);
	json_decref(x->a.lit);
	json_decref(x->b.lit);
	if (x->re) {
		regfree(x->re);
		free(x->re);
	}
	free(x);
}

static int perr(struct parser *p, const char *what)
{
	snprintf(p->msg, sizeof(p->msg), "%s at position %zu", what, p->pos);
	return JPATH_ESYNTAX;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static bool is_ident_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

/* A character that ends a dot-notation name. */
static bool ends_name(const struct parser *p, int c)
{
	if (c == '.' || c == '[' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' ||
	    c == ')')
		return true;
	if (p->embedded && (c == ')' || c == '=' || c == '!' || c == '<' || c == '>' ||
			    c == '&' || c == '|' || c == ',' || c == ']'))
		return true;
	return false;
}

static int norm_quoted(struct buf *b, const char *name)
{
	int r = buf_puts(b, "['");

	if (r < 0)
		return r;
	r = buf_puts(b, name);
	if (r < 0)
		return r;
	return buf_puts(b, "']");
}

static struct seg *add_seg(struct jpath *jp, size_t *cap)
{
	struct seg *s;

	if (jp->nsegs == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		s = realloc(jp->segs, nc * sizeof(*s));
		if (!s)
			return NULL;
		jp->segs = s;
		*cap = nc;
	}
	s = &jp->segs[jp->nsegs++];
	memset(s, 0, sizeof(*s));
	return s;
}

/* Parse a quoted name at p->pos (opening quote); *ret is malloc'd. */
static int parse_quoted(struct parser *p, char **ret)
{
	char q = p->s[p->pos++];
	struct buf b = BUF_INIT;
	int r;

	for (;;) {
		int c = peek(p);
		if (c < 0) {
			buf_release(&b);
			return perr(p, "unterminated quoted name");
		}
		p->pos++;
		if (c == q)
			break;
		/* only an escaped delimiter is an escape: AWS reads $['Test\""Name"']
		 * as the key Test\""Name" (backslash kept) */
		if (c == '\\' && peek(p) == q) {
			c = q;
			p->pos++;
		}
		r = buf_putc(&b, (char)c);
		if (r < 0) {
			buf_release(&b);
			return r;
		}
	}
	*ret = buf_detach(&b, NULL);
	return *ret ? 0 : -ENOMEM;
}

static int parse_long(struct parser *p, long *ret)
{
	bool neg = false;
	long v = 0;
	size_t start;

	skip_ws(p);
	if (peek(p) == '-') {
		neg = true;
		p->pos++;
	}
	start = p->pos;
	while (peek(p) >= '0' && peek(p) <= '9') {
		if (v > (LONG_MAX - 9) / 10)
			return perr(p, "index too large");
		v = v * 10 + (p->s[p->pos] - '0');
		p->pos++;
	}
	if (p->pos == start)
		return perr(p, "expected an integer");
	*ret = neg ? -v : v;
	skip_ws(p);
	return 0;
}

static int parse_fexpr(struct parser *p, struct fexpr **ret);

static int parse_bracket(struct parser *p, struct seg *s)
{
	struct buf *nb = &p->norm;
	int c, r;

	p->pos++; /* [ */
	skip_ws(p);
	c = peek(p);
	if (c == '*') {
		p->pos++;
		skip_ws(p);
		s->kind = SEG_WILD;
		r = buf_puts(nb, "[*]");
		if (r < 0)
			return r;
	} else if (c == '\'' || c == '"') {
		size_t cap = 0;
		for (;;) {
			char *name;
			r = parse_quoted(p, &name);
			if (r < 0)
				return r;
			if (s->n == cap) {
				size_t nc = cap ? cap * 2 : 2;
				char **nn = realloc(s->names, nc * sizeof(*nn));
				if (!nn) {
					free(name);
					return -ENOMEM;
				}
				s->names = nn;
				cap = nc;
			}
			s->names[s->n++] = name;
			skip_ws(p);
			if (peek(p) != ',')
				break;
			p->pos++;
			skip_ws(p);
			c = peek(p);
			if (c != '\'' && c != '"')
				return perr(p, "expected a quoted name");
		}
		if (s->n == 1) {
			s->kind = SEG_NAME;
			s->name = s->names[0];
			free(s->names);
			s->names = NULL;
			s->n = 0;
			r = norm_quoted(nb, s->name);
		} else {
			size_t i;
			s->kind = SEG_NAMES;
			r = buf_putc(nb, '[');
			for (i = 0; r >= 0 && i < s->n; i++)
				r = buf_printf(nb, "%s'%s'", i ? "," : "", s->names[i]);
			if (r >= 0)
				r = buf_putc(nb, ']');
		}
		if (r < 0)
			return r;
	} else if (c == '?') {
		p->pos++;
		skip_ws(p);
		if (peek(p) != '(')
			return perr(p, "expected '(' after '?'");
		p->pos++;
		if (++p->depth > JP_MAX_DEPTH)
			return perr(p, "filter nested too deeply");
		r = parse_fexpr(p, &s->filter);
		p->depth--;
		if (r < 0)
			return r;
		skip_ws(p);
		if (peek(p) != ')')
			return perr(p, "expected ')' closing the filter");
		p->pos++;
		skip_ws(p);
		s->kind = SEG_FILTER;
		r = buf_puts(nb, "[?]");
		if (r < 0)
			return r;
	} else if (c == '-' || c == ':' || (c >= '0' && c <= '9')) {
		long v = 0;
		bool have = false;
		if (c != ':') {
			r = parse_long(p, &v);
			if (r < 0)
				return r;
			have = true;
		}
		if (peek(p) == ':') {
			s->kind = SEG_SLICE;
			s->has_start = have;
			s->start = v;
			s->step = 1;
			p->pos++;
			skip_ws(p);
			c = peek(p);
			if (c == '-' || (c >= '0' && c <= '9')) {
				r = parse_long(p, &s->end);
				if (r < 0)
					return r;
				s->has_end = true;
			}
			if (peek(p) == ':') {
				p->pos++;
				skip_ws(p);
				c = peek(p);
				if (c == '-' || (c >= '0' && c <= '9')) {
					r = parse_long(p, &s->step);
					if (r < 0)
						return r;
					if (s->step == 0)
						return perr(p, "slice step cannot be zero");
				}
			}
			r = buf_putc(nb, '[');
			if (r >= 0 && s->has_start)
				r = buf_printf(nb, "%ld", s->start);
			if (r >= 0)
				r = buf_putc(nb, ':');
			if (r >= 0 && s->has_end)
				r = buf_printf(nb, "%ld", s->end);
			if (r >= 0 && s->step != 1)
				r = buf_printf(nb, ":%ld", s->step);
			if (r >= 0)
				r = buf_putc(nb, ']');
			if (r < 0)
				return r;
		} else if (peek(p) == ',') {
			size_t cap = 4, i;
			s->kind = SEG_INDEXES;
			s->idx = malloc(cap * sizeof(*s->idx));
			if (!s->idx)
				return -ENOMEM;
			s->idx[s->n++] = v;
			while (peek(p) == ',') {
				p->pos++;
				if (s->n == cap) {
					long *ni = realloc(s->idx, cap * 2 * sizeof(*ni));
					if (!ni)
						return -ENOMEM;
					s->idx = ni;
					cap *= 2;
				}
				r = parse_long(p, &s->idx[s->n]);
				if (r < 0)
					return r;
				s->n++;
			}
			r = buf_putc(nb, '[');
			for (i = 0; r >= 0 && i < s->n; i++)
				r = buf_printf(nb, "%s%ld", i ? "," : "", s->idx[i]);
			if (r >= 0)
				r = buf_putc(nb, ']');
			if (r < 0)
				return r;
		} else {
			s->kind = SEG_INDEX;
			s->index = v;
			r = buf_printf(nb, "[%ld]", v);
			if (r < 0)
				return r;
		}
	} else {
		return perr(p, "unexpected character in brackets");
	}
	if (peek(p) != ']')
		return perr(p, "expected ']'");
	p->pos++;
	return 0;
}

/* Parse a dot-notation name (after '.' or '..'); may be '*'. */
static int parse_dotname(struct parser *p, struct seg *s)
{
	size_t start = p->pos;
	int r;

	if (peek(p) == '*') {
		p->pos++;
		s->kind = SEG_WILD;
		return buf_puts(&p->norm, "[*]");
	}
	while (p->pos < p->len && !ends_name(p, (unsigned char)p->s[p->pos]))
		p->pos++;
	if (p->pos == start)
		return perr(p, "expected a name after '.'");
	s->kind = SEG_NAME;
	s->name = strndup(p->s + start, p->pos - start);
	if (!s->name)
		return -ENOMEM;
	r = norm_quoted(&p->norm, s->name);
	return r < 0 ? r : 0;
}

/* `.name(` just parsed into @s: a function call ending the path; drops @s. */
static int parse_function(struct parser *p, struct jpath *jp, struct seg *s)
{
	size_t i;
	int r;

	for (i = 1; i < sizeof(jfunc_names) / sizeof(jfunc_names[0]); i++)
		if (!strcmp(s->name, jfunc_names[i]))
			break;
	if (i == sizeof(jfunc_names) / sizeof(jfunc_names[0]))
		return perr(p, "unknown function");
	p->pos++;
	skip_ws(p);
	if (peek(p) != ')')
		return perr(p, "path functions take no arguments");
	p->pos++;
	jp->func = (enum jfunc)i;
	/* the name was appended to norm as ['name']: replace it by .name() */
	p->norm.len -= strlen(s->name) + 4;
	p->norm.data[p->norm.len] = '\0';
	r = buf_printf(&p->norm, ".%s()", s->name);
	seg_release(s);
	jp->nsegs--;
	return r < 0 ? r : 0;
}

static int parse_path(struct parser *p, struct jpath **ret)
{
	struct jpath *jp;
	size_t cap = 0, start = p->pos;
	struct buf saved = p->norm;
	int r;

	jp = calloc(1, sizeof(*jp));
	if (!jp)
		return -ENOMEM;
	buf_init(&p->norm, 1 << 20);
	jp->definite = true;
	jp->reference = true;
	if (peek(p) == '@') {
		p->pos++;
		jp->root = ROOT_CURRENT;
		r = buf_putc(&p->norm, '@');
	} else if (peek(p) == '$') {
		p->pos++;
		if (peek(p) == '$') {
			p->pos++;
			jp->root = ROOT_CONTEXT;
			r = buf_puts(&p->norm, "$$");
		} else if (is_ident_char(peek(p))) {
			size_t vs = p->pos;
			while (is_ident_char(peek(p)))
				p->pos++;
			jp->root = ROOT_VAR;
			jp->var = strndup(p->s + vs, p->pos - vs);
			if (!jp->var) {
				r = -ENOMEM;
				goto fail;
			}
			r = buf_printf(&p->norm, "$%s", jp->var);
		} else {
			jp->root = ROOT_INPUT;
			r = buf_putc(&p->norm, '$');
		}
	} else {
		r = perr(p, "a path must start with '$'");
		goto fail;
	}
	if (r < 0)
		goto fail;
	jp->root_len = p->norm.len;

	for (;;) {
		int c = peek(p);
		struct seg *s;
		if (c != '.' && c != '[')
			break;
		s = add_seg(jp, &cap);
		if (!s) {
			r = -ENOMEM;
			goto fail;
		}
		if (c == '.') {
			p->pos++;
			if (peek(p) == '.') {
				p->pos++;
				s->descent = true;
				r = buf_puts(&p->norm, "..");
				if (r < 0)
					goto fail;
				if (peek(p) == '[')
					r = parse_bracket(p, s);
				else
					r = parse_dotname(p, s);
			} else if (peek(p) == '[') {
				/* Jayway reads "$.['a']" as "$['a']" */
				r = parse_bracket(p, s);
			} else {
				r = parse_dotname(p, s);
				if (r >= 0 && s->kind == SEG_NAME && peek(p) == '(') {
					r = parse_function(p, jp, s);
					if (r < 0)
						goto fail;
					break;
				}
			}
		} else {
			r = parse_bracket(p, s);
		}
		if (r < 0)
			goto fail;
		s->norm_end = p->norm.len;
	}
	{
		size_t i;
		for (i = 0; i < jp->nsegs; i++) {
			struct seg *s = &jp->segs[i];
			bool leaf = i + 1 == jp->nsegs;
			if (s->descent || (s->kind != SEG_NAME && s->kind != SEG_INDEX &&
					   !(s->kind == SEG_NAMES && leaf && !jp->func)))
				jp->definite = false;
			if (s->descent || (s->kind != SEG_NAME && s->kind != SEG_INDEX))
				jp->reference = false;
		}
		jp->base_definite = jp->definite;
		if (jp->func) {
			jp->definite = true;
			jp->reference = false;
		}
	}
	jp->text = strndup(p->s + start, p->pos - start);
	jp->norm = buf_detach(&p->norm, NULL);
	if (!jp->text || !jp->norm) {
		r = -ENOMEM;
		goto fail;
	}
	p->norm = saved;
	*ret = jp;
	return 0;
fail:
	buf_release(&p->norm);
	p->norm = saved;
	jpath_free(jp);
	return r;
}

/* ---- filter expressions */

/* A JSON array literal in a filter; single-quoted strings are allowed. */
static int parse_array_literal(struct parser *p, struct foperand *o)
{
	struct buf b = BUF_INIT_CAP(1 << 20);
	json_error_t je;
	int depth = 0, r = 0;

	while (p->pos < p->len) {
		char c = p->s[p->pos++];
		if (c == '\'') {
			r = buf_putc(&b, '"');
			while (r >= 0 && p->pos < p->len && p->s[p->pos] != '\'') {
				c = p->s[p->pos++];
				if (c == '\\' && p->pos < p->len && p->s[p->pos] == '\'')
					c = p->s[p->pos++];
				else if (c == '\\' && p->pos < p->len)
					r = buf_putc(&b, c), c = p->s[p->pos++];
				else if (c == '"')
					r = buf_putc(&b, '\\');
				if (r >= 0)
					r = buf_putc(&b, c);
			}
			if (p->pos >= p->len) {
				buf_release(&b);
				return perr(p, "unterminated string in an array literal");
			}
			p->pos++;
			c = '"';
		} else if (c == '"') {
			r = buf_putc(&b, c);
			while (r >= 0 && p->pos < p->len && p->s[p->pos] != '"') {
				c = p->s[p->pos++];
				r = buf_putc(&b, c);
				if (r >= 0 && c == '\\' && p->pos < p->len)
					r = buf_putc(&b, p->s[p->pos++]);
			}
			if (p->pos >= p->len) {
				buf_release(&b);
				return perr(p, "unterminated string in an array literal");
			}
			p->pos++;
			c = '"';
		} else if (c == '[') {
			depth++;
		} else if (c == ']') {
			depth--;
		}
		if (r >= 0)
			r = buf_putc(&b, c);
		if (r < 0 || depth == 0)
			break;
	}
	if (r < 0 || depth != 0) {
		buf_release(&b);
		return r < 0 && r != -E2BIG ? r : perr(p, "unterminated array literal");
	}
	o->lit = json_loadb(b.data, b.len, 0, &je);
	buf_release(&b);
	if (!json_is_array(o->lit))
		return perr(p, "invalid array literal");
	return 0;
}

/*
 * How many nodes glibc's regcomp() will build for the ERE @re, roughly: it
 * copies the operand of `+` once and of `{m,n}` up to max(m,n) times, so
 * stacked or nested repetitions grow exponentially (a fuzzed `t+++...+` or
 * `((a{99}){99}){99}` takes gigabytes). Returns a saturating estimate.
 */
#define REGEX_MAX_NODES 20000

static size_t regex_cost(const char *re)
{
	size_t stack[64], depth = 0, total = 0, last = 0;
	const char *q = re;

	while (*q) {
		size_t atom = 1, rep = 1;

		if (*q == '(') {
			if (depth == sizeof(stack) / sizeof(stack[0]))
				return SIZE_MAX;
			stack[depth++] = total;
			total = 0;
			q++;
			last = 0;
			continue;
		}
		if (*q == ')') {
			if (depth == 0)
				return SIZE_MAX;
			atom = total + 1;
			total = stack[--depth];
			q++;
		} else if (*q == '*' || *q == '?' || *q == '+' || *q == '{') {
			/* a quantifier on the previous atom */
			if (*q == '+') {
				rep = 2;
				q++;
			} else if (*q == '{') {
				unsigned long m, n;
				char *end;

				m = strtoul(q + 1, &end, 10);
				n = m;
				if (*end == ',')
					n = end[1] == '}' ? m + 1 : strtoul(end + 1, &end, 10);
				q = strchr(q, '}');
				if (!q || n > REGEX_MAX_NODES || m > REGEX_MAX_NODES)
					return SIZE_MAX;
				q++;
				rep = (m > n ? m : n) + 1;
			} else {
				q++;
			}
			if (last > REGEX_MAX_NODES || rep * last > REGEX_MAX_NODES)
				return SIZE_MAX;
			total += last * (rep - 1);
			last *= rep;
			if (total > REGEX_MAX_NODES)
				return SIZE_MAX;
			continue;
		} else if (*q == '[') {
			/* a bracket expression is one node; ']' first is literal */
			q++;
			if (*q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (*q)
				q++;
		} else if (*q == '\\' && q[1]) {
			q += 2;
		} else {
			q++;
		}
		total += atom;
		last = atom;
		if (total > REGEX_MAX_NODES)
			return SIZE_MAX;
	}
	return total;
}

/*
 * glibc's regcomp() and regexec() can take exponential time on stacked
 * quantifiers (a+++*), deep nesting of quantified groups and back-references;
 * paths come from definitions and must not hang the engine, so refuse those.
 */
static bool regex_is_tame(const char *re)
{
	int quant = 0, depth = 0;
	bool after_quant = false;
	size_t i, n = strlen(re);

	if (n > 512)
		return false;
	for (i = 0; i < n; i++) {
		char c = re[i];
		if (c == '\\') {
			if (i + 1 < n && re[i + 1] >= '1' && re[i + 1] <= '9')
				return false;
			i++;
			after_quant = false;
			continue;
		}
		if (c == '[') {
			/* a bracket expression: skip to its end */
			i++;
			if (i < n && re[i] == '^')
				i++;
			if (i < n && re[i] == ']')
				i++;
			while (i < n && re[i] != ']')
				i++;
			after_quant = false;
			continue;
		}
		if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (after_quant || ++quant > 32)
				return false;
			if (c == '{')
				while (i < n && re[i] != '}')
					i++;
			after_quant = true;
			continue;
		}
		if (c == '(' && ++depth > 8)
			return false;
		if (c == ')')
			depth--;
		after_quant = false;
	}
	return true;
}

/* Parse `/pattern/flags` after =~ into x->re (anchored: Java's matches()). */
static int parse_regex(struct parser *p, struct fexpr *x)
{
	struct buf b = BUF_INIT_CAP(1 << 16);
	int cflags = REG_EXTENDED | REG_NOSUB, r;

	skip_ws(p);
	if (peek(p) != '/')
		return perr(p, "expected /regex/ after =~");
	p->pos++;
	r = buf_puts(&b, "^(");
	while (r >= 0 && p->pos < p->len && p->s[p->pos] != '/') {
		char c = p->s[p->pos++];
		if (c == '\\' && p->pos < p->len) {
			char n = p->s[p->pos++];
			if (n == 'd')
				r = buf_puts(&b, "[0-9]");
			else if (n == 'D')
				r = buf_puts(&b, "[^0-9]");
			else if (n == '/')
				r = buf_putc(&b, '/');
			else
				r = buf_printf(&b, "\\%c", n);
			continue;
		}
		r = buf_putc(&b, c);
	}
	if (r >= 0)
		r = buf_puts(&b, ")$");
	if (r < 0 || p->pos >= p->len) {
		buf_release(&b);
		return r < 0 && r != -E2BIG ? r : perr(p, "unterminated regular expression");
	}
	p->pos++;
	while (peek(p) >= 'a' && peek(p) <= 'z') {
		if (peek(p) == 'i')
			cflags |= REG_ICASE;
		p->pos++;
	}
	if (regex_cost(b.data) > REGEX_MAX_NODES) {
		buf_release(&b);
		return perr(p, "regular expression too complex (nested or stacked repetitions)");
	}
	if (!regex_is_tame(b.data)) {
		buf_release(&b);
		return perr(p, "regular expression too complex (stacked quantifiers, deep "
			       "nesting or back-references)");
	}
	x->re = malloc(sizeof(*x->re));
	if (!x->re) {
		buf_release(&b);
		return -ENOMEM;
	}
	if (regcomp(x->re, b.data, cflags) != 0) {
		free(x->re);
		x->re = NULL;
		buf_release(&b);
		return perr(p, "invalid regular expression");
	}
	buf_release(&b);
	return 0;
}

static int parse_operand(struct parser *p, struct foperand *o)
{
	int c, r;

	skip_ws(p);
	c = peek(p);
	if (c == '@' || c == '$') {
		bool emb = p->embedded;
		p->embedded = true;
		r = parse_path(p, &o->path);
		p->embedded = emb;
		return r;
	}
	if (c == '[')
		return parse_array_literal(p, o);
	if (c == '\'' || c == '"') {
		char *s;
		r = parse_quoted(p, &s);
		if (r < 0)
			return r;
		o->lit = json_string(s);
		free(s);
		return o->lit ? 0 : perr(p, "string literal is not valid UTF-8");
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		size_t start = p->pos;
		bool real = false;
		char tmp[64];
		if (c == '-')
			p->pos++;
		while (p->pos < p->len) {
			c = p->s[p->pos];
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
		if (p->pos - start >= sizeof(tmp) || p->pos - start == 0)
			return perr(p, "bad number");
		memcpy(tmp, p->s + start, p->pos - start);
		tmp[p->pos - start] = '\0';
		if (real) {
			char *end;
			double d = strtod(tmp, &end);
			if (*end || !isfinite(d))
				return perr(p, "bad number");
			o->lit = json_real(d);
		} else {
			char *end;
			errno = 0;
			long long v = strtoll(tmp, &end, 10);
			if (*end || errno)
				return perr(p, "bad number");
			o->lit = json_integer(v);
		}
		return o->lit ? 0 : -ENOMEM;
	}
	if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "true", 4)) {
		p->pos += 4;
		o->lit = json_true();
		return 0;
	}
	if (p->len - p->pos >= 5 && !strncmp(p->s + p->pos, "false", 5)) {
		p->pos += 5;
		o->lit = json_false();
		return 0;
	}
	if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "null", 4)) {
		p->pos += 4;
		o->lit = json_null();
		return 0;
	}
	return perr(p, "expected a path or a literal in the filter");
}

static int parse_fprimary(struct parser *p, struct fexpr **ret)
{
	struct fexpr *x;
	int r;

	skip_ws(p);
	if (++p->depth > JP_MAX_DEPTH)
		return perr(p, "filter nested too deeply");
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	if (peek(p) == '!') {
		p->pos++;
		x->kind = FX_NOT;
		r = parse_fprimary(p, &x->l);
		goto out;
	}
	if (peek(p) == '(') {
		p->pos++;
		free(x);
		x = NULL;
		r = parse_fexpr(p, &x);
		if (r < 0)
			goto out;
		skip_ws(p);
		if (peek(p) != ')') {
			r = perr(p, "expected ')'");
			goto out;
		}
		p->pos++;
		goto out;
	}
	r = parse_operand(p, &x->a);
	if (r < 0)
		goto out;
	skip_ws(p);
	{
		static const struct {
			const char *word;
			enum fop op;
		} words[] = {
			{ "in", FOP_IN },	  { "nin", FOP_NIN },	    { "subsetof", FOP_SUBSETOF },
			{ "anyof", FOP_ANYOF }, { "noneof", FOP_NONEOF }, { "size", FOP_SIZE },
			{ "empty", FOP_EMPTY },
		};
		const char *o = p->s + p->pos;
		size_t left = p->len - p->pos, w;
		int op = -1, n = 0;
		for (w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
			size_t wl = strlen(words[w].word);
			if (left > wl && !strncmp(o, words[w].word, wl) &&
			    !is_ident_char((unsigned char)o[wl])) {
				op = (int)words[w].op;
				n = (int)wl;
			}
		}
		if (op >= 0)
			;
		else if (left >= 2 && !strncmp(o, "=~", 2))
			op = FOP_REGEX, n = 2;
		else if (left >= 2 && !strncmp(o, "==", 2))
			op = FOP_EQ, n = 2;
		else if (left >= 2 && !strncmp(o, "!=", 2))
			op = FOP_NE, n = 2;
		else if (left >= 2 && !strncmp(o, "<=", 2))
			op = FOP_LE, n = 2;
		else if (left >= 2 && !strncmp(o, ">=", 2))
			op = FOP_GE, n = 2;
		else if (left >= 1 && *o == '<')
			op = FOP_LT, n = 1;
		else if (left >= 1 && *o == '>')
			op = FOP_GT, n = 1;
		else if (left >= 1 && *o == '=')
			op = FOP_EQ, n = 1;
		if (op < 0) {
			if (!x->a.path) {
				r = perr(p, "a literal alone is not a filter");
				goto out;
			}
			x->kind = FX_EXISTS;
			r = 0;
			goto out;
		}
		p->pos += n;
		x->kind = FX_CMP;
		x->op = op;
		if (op == FOP_REGEX)
			r = parse_regex(p, x);
		else
			r = parse_operand(p, &x->b);
	}
out:
	p->depth--;
	if (r < 0) {
		fexpr_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

/*
 * A left-associative chain "sub OP sub OP ...": && (FX_AND) binds tighter
 * than || (FX_OR), so parse_fexpr chains parse_fand, which chains primaries.
 */
static int parse_fchain(struct parser *p, const char *op, enum fkind kind,
			int (*sub)(struct parser *p, struct fexpr **ret), struct fexpr **ret)
{
	struct fexpr *l = NULL, *x;
	int r;

	r = sub(p, &l);
	if (r < 0)
		return r;
	for (;;) {
		skip_ws(p);
		if (p->len - p->pos < 2 || strncmp(p->s + p->pos, op, 2))
			break;
		p->pos += 2;
		x = calloc(1, sizeof(*x));
		if (!x) {
			fexpr_free(l);
			return -ENOMEM;
		}
		x->kind = kind;
		x->l = l;
		l = x;
		r = sub(p, &x->r);
		if (r < 0) {
			fexpr_free(l);
			return r;
		}
	}
	*ret = l;
	return 0;
}

static int parse_fand(struct parser *p, struct fexpr **ret)
{
	return parse_fchain(p, "&&", FX_AND, parse_fprimary, ret);
}

static int parse_fexpr(struct parser *p, struct fexpr **ret)
{
	return parse_fchain(p, "||", FX_OR, parse_fand, ret);
}

static int compile_msg(const char *path, struct jpath **ret, char *msg, size_t msglen)
{
	struct parser p;
	struct jpath *jp = NULL;
	int r;

	memset(&p, 0, sizeof(p));
	p.s = path;
	p.len = strlen(path);
	p.msg[0] = '\0';
	buf_init(&p.norm, 1 << 20);
	if (p.len > 0 && path[0] != '$') {
		r = perr(&p, "a path must start with '$'");
		goto out;
	}
	r = parse_path(&p, &jp);
	if (r == 0 && p.pos != p.len) {
		r = perr(&p, "unexpected character");
		jpath_free(jp);
		jp = NULL;
	}
	if (r == -E2BIG)
		r = perr(&p, "path too long");
out:
	buf_release(&p.norm);
	if (r < 0) {
		if (msg && msglen)
			snprintf(msg, msglen, "%s", r == -ENOMEM ? "out of memory" : p.msg);
		return r;
	}
	*ret = jp;
	return 0;
}

int jpath_compile(const char *path, struct jpath **ret, struct asl_err *err)
{
	char msg[300];
	int r;

	if (!path)
		return asl_err_set(err, ASL_E_RUNTIME, "missing path"), JPATH_ESYNTAX;
	r = compile_msg(path, ret, msg, sizeof(msg));
	if (r == JPATH_ESYNTAX)
		asl_err_set(err, ASL_E_RUNTIME, "Invalid path '%s': %s", path, msg);
	else if (r < 0)
		asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	return r;
}

const char *jpath_text(const struct jpath *p)
{
	return p->text;
}

bool jpath_is_definite(const struct jpath *p)
{
	return p->definite;
}

bool jpath_is_reference(const struct jpath *p)
{
	return p->reference;
}

int jpath_check(const char *path, char *msg, size_t msglen)
{
	struct jpath *jp = NULL;
	int r = compile_msg(path, &jp, msg, msglen);

	jpath_free(jp);
	return r < 0 ? -1 : 0;
}

int jpath_check_reference(const char *path, char *msg, size_t msglen)
{
	struct jpath *jp = NULL;
	int r = compile_msg(path, &jp, msg, msglen);

	if (r < 0)
		return -1;
	r = 0;
	if (!jp->reference) {
		snprintf(msg, msglen, "a reference path must be definite and may not use '..', "
				      "'*', unions, slices or filters");
		r = -1;
	}
	jpath_free(jp);
	return r;
}

/* ---------------------------------------------------------------- evaluation */

struct nodelist {
	json_t **v;
	size_t n, cap;
};

static int nl_push(struct nodelist *l, json_t *v)
{
	if (l->n >= JP_MAX_NODES)
		return -E2BIG;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		json_t **nv = realloc(l->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = v;
	return 0;
}

/*
 * AWS evaluates paths with Jayway JsonPath over Jackson trees
 * (JacksonJsonNodeJsonProvider), which unwraps scalars to Java values (JSON
 * null to a Java null); Jayway's error texts name those Java classes.
 */
#define JAYWAY_PROVIDER "com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider"

static const char *java_class(const json_t *v)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return "java.lang.String";
	case JSON_INTEGER:
		return json_integer_value(v) >= INT32_MIN && json_integer_value(v) <= INT32_MAX
			       ? "java.lang.Integer"
			       : "java.lang.Long";
	case JSON_REAL:
		return "java.lang.Double";
	case JSON_TRUE:
	case JSON_FALSE:
		return "java.lang.Boolean";
	case JSON_ARRAY:
		return "com.fasterxml.jackson.databind.node.ArrayNode";
	case JSON_OBJECT:
		return "com.fasterxml.jackson.databind.node.ObjectNode";
	default:
		return "null";
	}
}

/* Java's toString() of the unwrapped value: strings bare, containers as JSON. */
static char *java_str(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return jpath_dumps(v);
}

/* The value a path starts from; @detail (may be NULL) says why there is none. */
static int root_value(const struct jpath *p, const struct jpath_env *env, json_t *current,
		      json_t **ret, char *detail, size_t dlen)
{
	json_t *v = NULL;

	switch (p->root) {
	case ROOT_INPUT:
		v = env ? env->input : NULL;
		if (!v)
			v = json_null();
		break;
	case ROOT_CURRENT:
		v = current;
		break;
	case ROOT_CONTEXT:
		v = env ? env->context : NULL;
		if (!v) {
			if (detail)
				snprintf(detail, dlen, "the context object is not available");
			return JPATH_ENOTFOUND;
		}
		break;
	case ROOT_VAR:
		v = env && env->var_get ? env->var_get(env->var_arg, p->var) : NULL;
		if (!v) {
			if (detail)
				snprintf(detail, dlen, "variable '%s' is not defined", p->var);
			return JPATH_ENOTFOUND;
		}
		break;
	}
	*ret = v;
	return 0;
}

/*
 * Walk a definite path from @v; *ret is borrowed unless *ret_built. On
 * failure, Jayway's message goes to @detail (if not NULL). As with Jackson,
 * an index past the end yields null (a Java null: the next step fails on it),
 * except under @strict, where it selects nothing (intrinsic arguments).
 */
static int walk_definite(const struct jpath *p, json_t *v, bool strict, json_t **ret,
			 bool *ret_built, char *detail, size_t dlen)
{
	bool jnull = false; /* v stands for the Java null an index past the end gives */
	size_t i;

	*ret_built = false;
	for (i = 0; i < p->nsegs; i++) {
		const struct seg *s = &p->segs[i];
		size_t prev = i ? p->segs[i - 1].norm_end : p->root_len;
		bool leaf = i + 1 == p->nsegs;
		json_t *next;

		if (s->kind == SEG_NAME || s->kind == SEG_NAMES) {
			if (!json_is_object(v)) {
				if (detail)
					snprintf(detail, dlen,
						 "Expected to find an object with property %.*s in path "
						 "%.*s but found '%s'. This is not a json object according "
						 "to the JsonProvider: '" JAYWAY_PROVIDER "'.",
						 (int)(s->norm_end - prev), p->norm + prev, (int)prev,
						 p->norm, java_class(v));
				return JPATH_ENOTFOUND;
			}
			if (s->kind == SEG_NAMES) {
				/* a leaf multi-property selects an object of those keys */
				json_t *o = json_object();
				size_t k;
				if (!o)
					return -ENOMEM;
				for (k = 0; k < s->n; k++) {
					json_t *m = json_object_get(v, s->names[k]);
					if (m && json_object_set(o, s->names[k], m) < 0) {
						json_decref(o);
						return -ENOMEM;
					}
				}
				*ret = o;
				*ret_built = true;
				return 0;
			}
			next = json_object_get(v, s->name);
			if (!next) {
				if (detail) {
					if (leaf)
						snprintf(detail, dlen, "No results for path: %s", p->norm);
					else
						snprintf(detail, dlen, "Missing property in path %.*s",
							 (int)s->norm_end, p->norm);
				}
				return JPATH_ENOTFOUND;
			}
		} else {
			long idx = s->index, n;
			if (jnull || json_is_null(v)) {
				if (detail)
					snprintf(detail, dlen, "The path %.*s is null", (int)prev,
						 p->norm);
				return JPATH_ENOTFOUND;
			}
			if (!json_is_array(v)) {
				if (detail) {
					char *d = java_str(v);
					snprintf(detail, dlen,
						 "Filter: [%ld] can only be applied to arrays. Current "
						 "context is: %s",
						 s->index, d ? d : "?");
					free(d);
				}
				return JPATH_ENOTFOUND;
			}
			n = (long)json_array_size(v);
			if (idx < 0)
				idx += n;
			next = idx >= 0 && idx < n ? json_array_get(v, (size_t)idx) : NULL;
			if (!next) {
				if (strict) {
					if (detail)
						snprintf(detail, dlen, "No results for path: %s", p->norm);
					return JPATH_ENOTFOUND;
				}
				jnull = true;
				next = json_null();
			}
		}
		v = next;
	}
	*ret = v;
	return 0;
}

static int eval_list(const struct jpath *p, const struct jpath_env *env, json_t *root,
		     struct nodelist *out, int depth);
static bool fexpr_match(const struct fexpr *x, const struct jpath_env *env, json_t *cur,
			int depth);

static int apply_seg(const struct seg *s, bool leaf, const struct jpath_env *env, json_t *v,
		     struct nodelist *out, int depth)
{
	int r = 0;
	size_t i;

	switch (s->kind) {
	case SEG_NAME: {
		json_t *m = json_is_object(v) ? json_object_get(v, s->name) : NULL;
		if (m)
			r = nl_push(out, m);
		break;
	}
	case SEG_NAMES:
		if (!json_is_object(v))
			break;
		if (leaf) {
			/* Jayway merges a leaf multi-property into one object per node */
			json_t *o = json_object(), *m;
			if (!o)
				return -ENOMEM;
			for (i = 0; i < s->n; i++) {
				m = json_object_get(v, s->names[i]);
				if (m && json_object_set(o, s->names[i], m) < 0) {
					json_decref(o);
					return -ENOMEM;
				}
			}
			/* a new reference in the list: nl_release() drops it */
			r = nl_push(out, o);
			if (r < 0)
				json_decref(o);
			break;
		}
		for (i = 0; i < s->n && r >= 0; i++) {
			json_t *m = json_object_get(v, s->names[i]);
			if (m)
				r = nl_push(out, m);
		}
		break;
	case SEG_INDEX:
		/* as with Jackson, an index past the end selects null */
		if (json_is_array(v)) {
			long n = (long)json_array_size(v), idx = s->index;
			if (idx < 0)
				idx += n;
			r = nl_push(out, idx >= 0 && idx < n ? json_array_get(v, (size_t)idx)
							    : json_null());
		}
		break;
	case SEG_INDEXES:
		if (json_is_array(v)) {
			long n = (long)json_array_size(v);
			for (i = 0; i < s->n && r >= 0; i++) {
				long idx = s->idx[i];
				if (idx < 0)
					idx += n;
				r = nl_push(out, idx >= 0 && idx < n ? json_array_get(v, (size_t)idx)
								    : json_null());
			}
		}
		break;
	case SEG_WILD:
		if (json_is_array(v)) {
			for (i = 0; i < json_array_size(v) && r >= 0; i++)
				r = nl_push(out, json_array_get(v, i));
		} else if (json_is_object(v)) {
			const char *k;
			json_t *m;
			json_object_foreach(v, k, m) {
				r = nl_push(out, m);
				if (r < 0)
					break;
			}
		}
		break;
	case SEG_SLICE:
		if (json_is_array(v)) {
			/* Python slice semantics; no overflow whatever the bounds */
			long n = (long)json_array_size(v), a, b, st = s->step, k;
			if (st > 0) {
				a = s->has_start ? s->start : 0;
				b = s->has_end ? s->end : n;
				if (a < 0)
					a = a < -n ? 0 : a + n;
				if (b < 0)
					b = b < -n ? 0 : b + n;
				if (a > n)
					a = n;
				if (b > n)
					b = n;
				for (k = a; k < b && r >= 0; k = st > b - k ? b : k + st)
					r = nl_push(out, json_array_get(v, (size_t)k));
			} else {
				a = s->has_start ? s->start : n - 1;
				b = s->has_end ? s->end : -1;
				if (a < 0)
					a = a < -n ? -1 : a + n;
				if (a >= n)
					a = n - 1;
				if (s->has_end && b < 0)
					b = b < -n ? -1 : b + n;
				if (b >= n)
					b = n - 1;
				for (k = a; k > b && r >= 0; k = k - b < -st ? b : k + st)
					r = nl_push(out, json_array_get(v, (size_t)k));
			}
		}
		break;
	case SEG_FILTER:
		if (json_is_array(v)) {
			for (i = 0; i < json_array_size(v) && r >= 0; i++) {
				json_t *m = json_array_get(v, i);
				if (fexpr_match(s->filter, env, m, depth))
					r = nl_push(out, m);
			}
		} else if (json_is_object(v)) {
			if (fexpr_match(s->filter, env, v, depth))
				r = nl_push(out, v);
		}
		break;
	}
	return r;
}

/* Collect @v and all its descendants, pre-order. */
static int collect_descent(json_t *v, struct nodelist *out, int depth)
{
	int r = nl_push(out, v);
	size_t i;

	if (r < 0 || depth > JP_MAX_DOC_DEPTH)
		return r;
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v) && r >= 0; i++)
			r = collect_descent(json_array_get(v, i), out, depth + 1);
	} else if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m) {
			r = collect_descent(m, out, depth + 1);
			if (r < 0)
				break;
		}
	}
	return r;
}

/*
 * Evaluate any path into @out (borrowed pointers), except that a leaf
 * SEG_NAMES pushes new objects: the caller releases @out with nl_release().
 */
static int eval_list(const struct jpath *p, const struct jpath_env *env, json_t *root,
		     struct nodelist *out, int depth)
{
	struct nodelist cur = { 0 }, next = { 0 }, tmp = { 0 };
	size_t i, j;
	int r = 0;

	if (depth > JP_MAX_DEPTH)
		return 0;
	r = nl_push(&cur, root);
	for (i = 0; i < p->nsegs && r >= 0; i++) {
		const struct seg *s = &p->segs[i];
		bool leaf = i + 1 == p->nsegs;
		next.n = 0;
		for (j = 0; j < cur.n && r >= 0; j++) {
			if (s->descent) {
				size_t k;
				tmp.n = 0;
				r = collect_descent(cur.v[j], &tmp, 0);
				for (k = 0; k < tmp.n && r >= 0; k++)
					r = apply_seg(s, leaf, env, tmp.v[k], &next, depth);
			} else {
				r = apply_seg(s, leaf, env, cur.v[j], &next, depth);
			}
		}
		{
			struct nodelist sw = cur;
			cur = next;
			next = sw;
		}
	}
	if (r >= 0) {
		for (j = 0; j < cur.n && r >= 0; j++)
			r = nl_push(out, cur.v[j]);
	}
	free(cur.v);
	free(next.v);
	free(tmp.v);
	return r;
}

static bool leaf_builds(const struct jpath *p)
{
	return p->nsegs && p->segs[p->nsegs - 1].kind == SEG_NAMES;
}

static void nl_release(const struct jpath *p, struct nodelist *l)
{
	size_t i;

	if (leaf_builds(p))
		for (i = 0; i < l->n; i++)
			json_decref(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static bool is_number(const json_t *v);
static int apply_func(const struct jpath *p, json_t *v, json_t **ret, char *detail, size_t dlen);

/*
 * Evaluate @p (root resolved against @env, or @cur for `@`): *ret is a new
 * reference. A definite path that selects nothing fails with JPATH_ENOTFOUND,
 * with @err filled when not NULL.
 */
static int eval_value(const struct jpath *p, const struct jpath_env *env, json_t *cur,
		      int depth, unsigned flags, json_t **ret, struct asl_err *err)
{
	json_t *root, *v = NULL, *f;
	struct nodelist l = { 0 };
	char detail[ASL_CAUSE_MAX / 2];
	char *dt = err ? detail : NULL;
	size_t i;
	bool built;
	int r;

	r = root_value(p, env, cur, &root, dt, sizeof(detail));
	if (r < 0)
		goto fail;
	if (p->base_definite) {
		r = walk_definite(p, root, flags & JPATH_STRICT, &v, &built, dt, sizeof(detail));
		if (r < 0)
			goto fail;
		if (!built)
			json_incref(v);
	} else {
		r = eval_list(p, env, root, &l, depth);
		if (r >= 0) {
			v = json_array();
			for (i = 0; v && i < l.n; i++)
				if (json_array_append(v, l.v[i]) < 0) {
					json_decref(v);
					v = NULL;
				}
			if (!v)
				r = -ENOMEM;
		}
		nl_release(p, &l);
		if (r < 0)
			goto fail;
	}
	if (p->func) {
		r = apply_func(p, v, &f, dt, sizeof(detail));
		json_decref(v);
		if (r < 0)
			goto fail;
		v = f;
	}
	*ret = v;
	return 0;
fail:
	if (r == -ENOMEM)
		asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	else if (r == -E2BIG)
		asl_err_set(err, ASL_E_RUNTIME, "Invalid path '%s' : the path selects more than %zu values",
			    p->text, JP_MAX_NODES);
	else if (flags & JPATH_BARE_CAUSE)
		asl_err_set(err, ASL_E_RUNTIME, "%s", detail);
	else
		asl_err_set(err, ASL_E_RUNTIME, "Invalid path '%s' : %s", p->text, detail);
	return r;
}

/*
 * Value of a filter operand: *ret is a new reference, or NULL when the path
 * selects nothing (undefined).
 */
static int operand_value(const struct foperand *o, const struct jpath_env *env, json_t *cur,
			 int depth, json_t **ret)
{
	int r;

	*ret = NULL;
	if (!o->path) {
		*ret = json_incref(o->lit);
		return 0;
	}
	r = eval_value(o->path, env, cur, depth + 1, JPATH_STRICT, ret, NULL);
	if (r < 0)
		*ret = NULL;
	return r == -ENOMEM ? r : 0;
}

static bool is_number(const json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
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

static bool values_equal(const json_t *a, const json_t *b)
{
	if (is_number(a) && is_number(b))
		return num_cmp(a, b) == 0;
	return json_equal((json_t *)a, (json_t *)b);
}

static bool in_array(const json_t *v, const json_t *arr)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++)
		if (values_equal(v, json_array_get(arr, i)))
			return true;
	return false;
}

/* in, nin, subsetof, anyof, noneof, size, empty (Jayway's filter operators) */
static bool match_word_op(enum fop op, const json_t *a, const json_t *b)
{
	size_t i, hits = 0;

	switch (op) {
	case FOP_IN:
		return a && json_is_array(b) && in_array(a, b);
	case FOP_NIN:
		return !(a && json_is_array(b) && in_array(a, b));
	case FOP_SIZE:
		if (!a || !json_is_integer(b))
			return false;
		if (json_is_array(a))
			return (json_int_t)json_array_size(a) == json_integer_value(b);
		if (json_is_string(a))
			return (json_int_t)json_string_length(a) == json_integer_value(b);
		return false;
	case FOP_EMPTY:
		if (!a || !json_is_boolean(b))
			return false;
		if (json_is_array(a))
			return (json_array_size(a) == 0) == json_is_true(b);
		if (json_is_string(a))
			return (json_string_length(a) == 0) == json_is_true(b);
		return false;
	default:
		break;
	}
	if (!json_is_array(a) || !json_is_array(b))
		return false;
	for (i = 0; i < json_array_size(a); i++)
		if (in_array(json_array_get(a, i), b))
			hits++;
	if (op == FOP_SUBSETOF)
		return hits == json_array_size(a);
	if (op == FOP_ANYOF)
		return hits > 0;
	return hits == 0; /* FOP_NONEOF */
}

static bool fexpr_match(const struct fexpr *x, const struct jpath_env *env, json_t *cur,
			int depth)
{
	json_t *a = NULL, *b = NULL;
	bool m = false;

	if (depth > JP_MAX_DEPTH)
		return false;
	switch (x->kind) {
	case FX_OR:
		return fexpr_match(x->l, env, cur, depth + 1) || fexpr_match(x->r, env, cur, depth + 1);
	case FX_AND:
		return fexpr_match(x->l, env, cur, depth + 1) && fexpr_match(x->r, env, cur, depth + 1);
	case FX_NOT:
		return !fexpr_match(x->l, env, cur, depth + 1);
	case FX_LIT:
		return json_is_true(x->a.lit);
	case FX_EXISTS:
		if (operand_value(&x->a, env, cur, depth, &a) < 0)
			return false;
		m = a != NULL;
		if (m && !x->a.path->definite)
			m = json_array_size(a) > 0;
		json_decref(a);
		return m;
	case FX_CMP:
		break;
	}
	if (operand_value(&x->a, env, cur, depth, &a) < 0)
		goto out;
	if (x->op == FOP_REGEX) {
		m = json_is_string(a) && regexec(x->re, json_string_value(a), 0, NULL, 0) == 0;
		goto out;
	}
	if (operand_value(&x->b, env, cur, depth, &b) < 0)
		goto out;
	if (x->op >= FOP_IN) {
		m = match_word_op(x->op, a, b);
		goto out;
	}
	if (x->op == FOP_NE) {
		m = !(a && b && values_equal(a, b));
		goto out;
	}
	if (!a || !b)
		goto out;
	if (x->op == FOP_EQ) {
		m = values_equal(a, b);
		goto out;
	}
	{
		int c;
		if (is_number(a) && is_number(b))
			c = num_cmp(a, b);
		else if (json_is_string(a) && json_is_string(b))
			c = strcmp(json_string_value(a), json_string_value(b));
		else
			goto out;
		switch (x->op) {
		case FOP_LT:
			m = c < 0;
			break;
		case FOP_LE:
			m = c <= 0;
			break;
		case FOP_GT:
			m = c > 0;
			break;
		case FOP_GE:
			m = c >= 0;
			break;
		default:
			break;
		}
	}
out:
	json_decref(a);
	json_decref(b);
	return m;
}

int jpath_exec_flags(const struct jpath *p, const struct jpath_env *env, unsigned flags,
		     json_t **ret, struct asl_err *err)
{
	if (p->root == ROOT_CURRENT)
		return asl_err_set(err, ASL_E_RUNTIME, "Invalid path '%s'", p->text), JPATH_ESYNTAX;
	return eval_value(p, env, NULL, 0, flags, ret, err);
}

int jpath_exec(const struct jpath *p, const struct jpath_env *env, json_t **ret,
	       struct asl_err *err)
{
	return jpath_exec_flags(p, env, 0, ret, err);
}

/* Jayway's aggregate and accessor functions over the selected value. */
static int apply_func(const struct jpath *p, json_t *v, json_t **ret, char *detail, size_t dlen)
{
	const char *fname = jfunc_names[p->func];
	double acc = 0, sq = 0, mn = 0, mx = 0;
	size_t i, n = 0;

	switch (p->func) {
	case JF_LENGTH:
		if (json_is_array(v))
			*ret = json_integer((json_int_t)json_array_size(v));
		else if (json_is_object(v))
			*ret = json_integer((json_int_t)json_object_size(v));
		else if (json_is_string(v))
			*ret = json_integer((json_int_t)json_string_length(v));
		else
			break;
		return *ret ? 0 : -ENOMEM;
	case JF_KEYS: {
		const char *k;
		json_t *m, *a;
		if (!json_is_object(v))
			break;
		a = json_array();
		json_object_foreach(v, k, m)
			if (!a || json_array_append_new(a, json_string(k)) < 0) {
				json_decref(a);
				return -ENOMEM;
			}
		*ret = a;
		return a ? 0 : -ENOMEM;
	}
	case JF_FIRST:
	case JF_LAST:
		if (!json_is_array(v) || json_array_size(v) == 0)
			break;
		*ret = json_incref(json_array_get(v, p->func == JF_FIRST ? 0 : json_array_size(v) - 1));
		return 0;
	default:
		if (!json_is_array(v))
			break;
		for (i = 0; i < json_array_size(v); i++) {
			json_t *m = json_array_get(v, i);
			double d;
			if (!is_number(m))
				continue;
			d = json_number_value(m);
			if (n == 0 || d < mn)
				mn = d;
			if (n == 0 || d > mx)
				mx = d;
			acc += d;
			sq += d * d;
			n++;
		}
		if (n == 0) {
			if (detail)
				snprintf(detail, dlen, "Aggregation function attempted to calculate "
						       "value using empty array");
			return JPATH_ENOTFOUND;
		}
		switch (p->func) {
		case JF_MIN:
			*ret = json_real(mn);
			break;
		case JF_MAX:
			*ret = json_real(mx);
			break;
		case JF_SUM:
			*ret = json_real(acc);
			break;
		case JF_AVG:
			*ret = json_real(acc / (double)n);
			break;
		default: {
			double mean = acc / (double)n, var = sq / (double)n - mean * mean;
			*ret = json_real(var > 0 ? sqrt(var) : 0);
			break;
		}
		}
		return *ret ? 0 : -ENOMEM;
	}
	if (detail) {
		char *d = jpath_dumps(v);
		snprintf(detail, dlen, "Function %s() cannot be applied to %s", fname,
			 d ? d : "this value");
		free(d);
	}
	return JPATH_ENOTFOUND;
}

int jpath_eval(const char *path, const struct jpath_env *env, json_t **ret, struct asl_err *err)
{
	struct jpath *p = NULL;
	int r;

	r = jpath_compile(path, &p, err);
	if (r < 0)
		return r;
	r = jpath_exec(p, env, ret, err);
	jpath_free(p);
	return r;
}

/* ---------------------------------------------------------------- ResultPath */

static int set_rec(const struct jpath *ref, size_t i, json_t *cur, json_t *value, json_t **ret,
		   struct asl_err *err)
{
	const struct seg *s;
	json_t *copy, *child, *nchild = NULL;
	int r;

	if (i == ref->nsegs) {
		*ret = json_incref(value);
		return 0;
	}
	s = &ref->segs[i];
	if (s->kind == SEG_NAME) {
		if (!cur) {
			copy = json_object();
		} else if (json_is_object(cur)) {
			copy = json_copy(cur);
		} else {
			char *d = jpath_dumps(cur);
			asl_err_set(err, ASL_E_RESULTPATH,
				    "Unable to apply ResultPath '%s' to input: %.*s is not an object "
				    "but %s",
				    ref->text, (int)(i ? ref->segs[i - 1].norm_end : 1), ref->norm,
				    d ? d : "?");
			free(d);
			return -1;
		}
		if (!copy)
			return -ENOMEM;
		child = cur ? json_object_get(cur, s->name) : NULL;
		r = set_rec(ref, i + 1, child, value, &nchild, err);
		if (r < 0) {
			json_decref(copy);
			return r;
		}
		if (json_object_set_new(copy, s->name, nchild) < 0) {
			json_decref(copy);
			return -ENOMEM;
		}
		*ret = copy;
		return 0;
	}
	/* SEG_INDEX: only an existing element of an existing array can be replaced */
	{
		long n = json_is_array(cur) ? (long)json_array_size(cur) : 0, idx = s->index;
		if (idx < 0)
			idx += n;
		if (!json_is_array(cur) || idx < 0 || idx >= n) {
			char *d = cur ? jpath_dumps(cur) : NULL;
			asl_err_set(err, ASL_E_RESULTPATH,
				    "Unable to apply ResultPath '%s' to input: %.*s is not an array "
				    "with an element %ld (found %s)",
				    ref->text, (int)(i ? ref->segs[i - 1].norm_end : 1), ref->norm,
				    s->index, d ? d : "nothing");
			free(d);
			return -1;
		}
		copy = json_copy(cur);
		if (!copy)
			return -ENOMEM;
		r = set_rec(ref, i + 1, json_array_get(cur, (size_t)idx), value, &nchild, err);
		if (r < 0) {
			json_decref(copy);
			return r;
		}
		if (json_array_set_new(copy, (size_t)idx, nchild) < 0) {
			json_decref(copy);
			return -ENOMEM;
		}
		*ret = copy;
		return 0;
	}
}

int jpath_set_compiled(json_t *doc, const struct jpath *ref, json_t *value, json_t **ret,
		       struct asl_err *err)
{
	int r;

	if (!ref->reference || ref->root != ROOT_INPUT)
		return asl_err_set(err, ASL_E_RESULTPATH,
				   "Invalid ResultPath '%s': expected a reference path starting with '$'",
				   ref->text);
	r = set_rec(ref, 0, doc, value, ret, err);
	if (r == -ENOMEM)
		asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	return r < 0 ? -1 : 0;
}

int jpath_set(json_t *doc, const char *refpath, json_t *value, json_t **ret, struct asl_err *err)
{
	struct jpath *p = NULL;
	char msg[300];
	int r;

	r = compile_msg(refpath ? refpath : "", &p, msg, sizeof(msg));
	if (r < 0)
		return asl_err_set(err, ASL_E_RESULTPATH, "Invalid ResultPath '%s': %s",
				   refpath ? refpath : "", msg);
	r = jpath_set_compiled(doc, p, value, ret, err);
	jpath_free(p);
	return r;
}

/* ---------------------------------------------------------------- printing */

char *jpath_fmt_real(double d, char *buf)
{
	char tmp[40], digits[24];
	int prec, exp10, nd, i;
	char *e, *o;
	bool neg;

	if (isnan(d))
		return strcpy(buf, "NaN");
	if (isinf(d))
		return strcpy(buf, d < 0 ? "-Infinity" : "Infinity");
	if (d == 0)
		return strcpy(buf, signbit(d) ? "-0.0" : "0.0");
	/* shortest %e that round-trips */
	for (prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof(tmp), "%.*e", 16, d);
	neg = tmp[0] == '-';
	o = tmp + neg;
	nd = 0;
	for (; *o && *o != 'e'; o++)
		if (*o >= '0' && *o <= '9')
			digits[nd++] = *o;
	digits[nd] = '\0';
	exp10 = atoi(o + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
	e = buf;
	if (neg)
		*e++ = '-';
	if (exp10 >= -3 && exp10 < 7) {
		if (exp10 < 0) {
			*e++ = '0';
			*e++ = '.';
			for (i = -1; i > exp10; i--)
				*e++ = '0';
			for (i = 0; i < nd; i++)
				*e++ = digits[i];
		} else {
			for (i = 0; i <= exp10; i++)
				*e++ = i < nd ? digits[i] : '0';
			*e++ = '.';
			if (nd > exp10 + 1)
				for (i = exp10 + 1; i < nd; i++)
					*e++ = digits[i];
			else
				*e++ = '0';
		}
		*e = '\0';
	} else {
		*e++ = digits[0];
		*e++ = '.';
		if (nd > 1)
			for (i = 1; i < nd; i++)
				*e++ = digits[i];
		else
			*e++ = '0';
		sprintf(e, "E%d", exp10);
	}
	return buf;
}

static int dump_string(struct buf *b, const char *s, size_t len)
{
	size_t i, run = 0;
	int r = buf_putc(b, '"');

	for (i = 0; i < len && r >= 0; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[8];
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c < 0x20) {
			snprintf(u, sizeof(u), "\\u%04X", c); /* Jackson: uppercase hex */
			esc = u;
		}
		if (!esc)
			continue;
		r = buf_add(b, s + run, i - run);
		if (r >= 0)
			r = buf_puts(b, esc);
		run = i + 1;
	}
	if (r >= 0)
		r = buf_add(b, s + run, len - run);
	if (r >= 0)
		r = buf_putc(b, '"');
	return r;
}

static int dump_rec(struct buf *b, const json_t *v, int depth)
{
	char num[40];
	size_t i;
	int r = 0;

	if (depth > 10000)
		return -E2BIG;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		bool first = true;
		r = buf_putc(b, '{');
		json_object_foreach((json_t *)v, k, m) {
			if (r >= 0 && !first)
				r = buf_putc(b, ',');
			first = false;
			if (r >= 0)
				r = dump_string(b, k, strlen(k));
			if (r >= 0)
				r = buf_putc(b, ':');
			if (r >= 0)
				r = dump_rec(b, m, depth + 1);
			if (r < 0)
				break;
		}
		if (r >= 0)
			r = buf_putc(b, '}');
		return r;
	}
	case JSON_ARRAY:
		r = buf_putc(b, '[');
		for (i = 0; i < json_array_size(v) && r >= 0; i++) {
			if (i)
				r = buf_putc(b, ',');
			if (r >= 0)
				r = dump_rec(b, json_array_get(v, i), depth + 1);
		}
		if (r >= 0)
			r = buf_putc(b, ']');
		return r;
	case JSON_STRING:
		return dump_string(b, json_string_value(v), json_string_length(v));
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
	}
	return 0;
}

char *jpath_dumps(const json_t *v)
{
	struct buf b = BUF_INIT;

	if (dump_rec(&b, v, 0) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* ---------------------------------------------------------------- templates */

struct jpath_expr {
	struct jpath *path;     /* or */
	struct intrinsic *call;
	char *text;
};

void jpath_expr_free(struct jpath_expr *x)
{
	if (!x)
		return;
	jpath_free(x->path);
	intrinsic_free(x->call);
	free(x->text);
	free(x);
}

int jpath_expr_compile(const char *s, struct jpath_expr **ret, struct asl_err *err)
{
	struct jpath_expr *x;
	int r;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->text = strdup(s);
	if (!x->text) {
		free(x);
		return -ENOMEM;
	}
	if (intrinsic_is_call(s))
		r = intrinsic_compile(s, &x->call, err);
	else
		r = jpath_compile(s, &x->path, err);
	if (r < 0) {
		jpath_expr_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

int jpath_expr_exec(const struct jpath_expr *x, const struct jpath_env *env, const char *field,
		    json_t **ret, struct asl_err *err)
{
	int r;

	if (x->call)
		return intrinsic_exec(x->call, env, ret, err);
	r = jpath_exec(x->path, env, ret, err);
	if (r == JPATH_ENOTFOUND && err) {
		json_t *in = env && env->input ? env->input : json_null();
		char *d = NULL;
		if (x->path->root == ROOT_CONTEXT)
			in = env->context;
		else if (x->path->root == ROOT_VAR)
			in = NULL;
		d = in ? jpath_dumps(in) : NULL;
		if (x->path->root == ROOT_VAR)
			asl_err_set(err, ASL_E_RUNTIME,
				    "The JSONPath '%s' specified for the field '%s' could not be found "
				    "in the variables",
				    x->text, field ? field : "");
		else
			asl_err_set(err, ASL_E_RUNTIME,
				    "The JSONPath '%s' specified for the field '%s' could not be found "
				    "in the input '%s'",
				    x->text, field ? field : "", d ? d : "");
		free(d);
	}
	return r;
}

enum tkind { T_LIT, T_OBJ, T_ARR, T_EXPR };

struct tnode {
	enum tkind kind;
	json_t *lit;      /* T_LIT: deep copied on each exec */
	char *key;        /* output key (".$" stripped) */
	char *field;      /* source key, for causes */
	struct jpath_expr *expr;
	struct tnode *kids;
	size_t nkids;
};

struct jpath_tmpl {
	struct tnode root;
};

static void tnode_release(struct tnode *t)
{
	size_t i;

	json_decref(t->lit);
	free(t->key);
	free(t->field);
	jpath_expr_free(t->expr);
	for (i = 0; i < t->nkids; i++)
		tnode_release(&t->kids[i]);
	free(t->kids);
}

void jpath_tmpl_free(struct jpath_tmpl *t)
{
	if (!t)
		return;
	tnode_release(&t->root);
	free(t);
}

static bool has_dynamic(json_t *v, int depth)
{
	const char *k;
	json_t *m;
	size_t i;

	if (depth > 1000)
		return false;
	if (json_is_object(v)) {
		json_object_foreach(v, k, m) {
			size_t n = strlen(k);
			if (n >= 2 && !strcmp(k + n - 2, ".$"))
				return true;
			if (has_dynamic(m, depth + 1))
				return true;
		}
	} else if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			if (has_dynamic(json_array_get(v, i), depth + 1))
				return true;
	}
	return false;
}

static int tnode_build(struct tnode *t, json_t *v, int depth, struct asl_err *err)
{
	size_t i, n;
	int r;

	if (depth > 1000)
		return asl_err_set(err, ASL_E_RUNTIME, "template nested too deeply"), JPATH_ESYNTAX;
	if (!has_dynamic(v, 0)) {
		t->kind = T_LIT;
		t->lit = json_incref(v);
		return 0;
	}
	if (json_is_array(v)) {
		t->kind = T_ARR;
		n = json_array_size(v);
		t->kids = calloc(n ? n : 1, sizeof(*t->kids));
		if (!t->kids)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			r = tnode_build(&t->kids[i], json_array_get(v, i), depth + 1, err);
			t->nkids++;
			if (r < 0)
				return r;
		}
		return 0;
	}
	/* object */
	{
		const char *k;
		json_t *m;
		t->kind = T_OBJ;
		n = json_object_size(v);
		t->kids = calloc(n ? n : 1, sizeof(*t->kids));
		if (!t->kids)
			return -ENOMEM;
		json_object_foreach(v, k, m) {
			struct tnode *c = &t->kids[t->nkids++];
			size_t kl = strlen(k);
			bool dyn = kl >= 2 && !strcmp(k + kl - 2, ".$");
			c->field = strdup(k);
			c->key = dyn ? strndup(k, kl - 2) : strdup(k);
			if (!c->field || !c->key)
				return -ENOMEM;
			if (dyn) {
				if (!json_is_string(m))
					return asl_err_set(err, ASL_E_RUNTIME,
							   "The value of the field '%s' must be a "
							   "JSONPath or an intrinsic function call",
							   k),
					       JPATH_ESYNTAX;
				c->kind = T_EXPR;
				r = jpath_expr_compile(json_string_value(m), &c->expr, err);
			} else {
				r = tnode_build(c, m, depth + 1, err);
			}
			if (r < 0)
				return r;
		}
		/* no duplicate keys after stripping ".$" */
		for (i = 0; i < t->nkids; i++) {
			size_t j;
			for (j = i + 1; j < t->nkids; j++)
				if (!strcmp(t->kids[i].key, t->kids[j].key))
					return asl_err_set(err, ASL_E_RUNTIME,
							   "The field '%s' is given twice ('%s' and '%s')",
							   t->kids[i].key, t->kids[i].field,
							   t->kids[j].field),
					       JPATH_ESYNTAX;
		}
	}
	return 0;
}

int jpath_tmpl_compile(json_t *tmpl, struct jpath_tmpl **ret, struct asl_err *err)
{
	struct jpath_tmpl *t;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = tnode_build(&t->root, tmpl, 0, err);
	if (r < 0) {
		if (r == -ENOMEM)
			asl_err_set(err, ASL_E_RUNTIME, "out of memory");
		jpath_tmpl_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

static int tnode_exec(const struct tnode *t, const struct jpath_env *env, json_t **ret,
		      struct asl_err *err)
{
	json_t *out, *v = NULL;
	size_t i;
	int r;

	switch (t->kind) {
	case T_LIT:
		*ret = json_deep_copy(t->lit);
		return *ret ? 0 : -ENOMEM;
	case T_EXPR:
		return jpath_expr_exec(t->expr, env, t->field, ret, err);
	case T_ARR:
		out = json_array();
		if (!out)
			return -ENOMEM;
		for (i = 0; i < t->nkids; i++) {
			r = tnode_exec(&t->kids[i], env, &v, err);
			if (r < 0)
				goto fail;
			if (json_array_append_new(out, v) < 0) {
				r = -ENOMEM;
				goto fail;
			}
		}
		*ret = out;
		return 0;
	case T_OBJ:
		out = json_object();
		if (!out)
			return -ENOMEM;
		for (i = 0; i < t->nkids; i++) {
			r = tnode_exec(&t->kids[i], env, &v, err);
			if (r < 0)
				goto fail;
			if (json_object_set_new(out, t->kids[i].key, v) < 0) {
				r = -ENOMEM;
				goto fail;
			}
		}
		*ret = out;
		return 0;
	}
	return -EINVAL;
fail:
	json_decref(out);
	return r;
}

int jpath_tmpl_exec(const struct jpath_tmpl *t, const struct jpath_env *env, const char *field,
		    json_t **ret, struct asl_err *err)
{
	int r = tnode_exec(&t->root, env, ret, err);

	if (r == -ENOMEM)
		asl_err_set(err, ASL_E_RUNTIME, "out of memory");
	return r < 0 ? -1 : 0;
}

int jpath_template(json_t *tmpl, const struct jpath_env *env, const char *field, json_t **ret,
		   struct asl_err *err)
{
	struct jpath_tmpl *t = NULL;
	int r;

	r = jpath_tmpl_compile(tmpl, &t, err);
	if (r < 0)
		return -1;
	r = jpath_tmpl_exec(t, env, field, ret, err);
	jpath_tmpl_free(t);
	return r;
}

int jpath_template_check(json_t *tmpl, char *msg, size_t msglen)
{
	struct jpath_tmpl *t = NULL;
	struct asl_err e = { "", "" };
	int r;

	r = jpath_tmpl_compile(tmpl, &t, &e);
	if (r < 0) {
		if (msg && msglen)
			snprintf(msg, msglen, "%s", r == -ENOMEM ? "out of memory" : e.cause);
		return -1;
	}
	jpath_tmpl_free(t);
	return 0;
}
