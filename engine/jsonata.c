/*
 * jsonata.c - a JSONata 2.0 compiler and evaluator over jansson values.
 *
 * Compilation: a lexer and a Pratt parser (JSONata's binding powers) build
 * a raw tree, which a second pass turns into the evaluable form: chains of
 * '.' become path nodes with steps, predicates become stages of a step,
 * '#' and '@' mark tuple steps, tail calls in lambda bodies become thunks.
 * The compiled tree is immutable, so one expression serves many threads.
 *
 * Evaluation: values are jansson references carried with flags (struct
 * val) that JSONata keeps on its arrays: sequence, keep-singleton,
 * array-constructor, outer-wrapper, tuple-stream. The flags travel with the
 * value through the evaluator and are dropped when a value is stored in a
 * JSON container, as a plain array is all JSON can hold. Functions (lambdas,
 * built-ins, partial applications, regexes) live in the evaluation's arena
 * and appear inside JSON as a marker object naming their index. Variable
 * frames, closures and the arena live until jsonata_eval returns; every
 * json_t the evaluator holds is a counted reference released there.
 *
 * Limits: user-function nesting, evaluator nesting (C stack) and wall time
 * are capped; exceeding one is error U1001, never a crash.
 */
#include "engine/jsonata.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "engine/buf.h"

#define MAX_USER_DEPTH 500	/* nested user-function calls */
#define MAX_EVAL_DEPTH 20000	/* nested evaluator calls */
#ifndef MAX_STACK_BYTES
#define MAX_STACK_BYTES (3u << 19)	/* 1.5 MB: safe on 2 MB thread stacks */
#endif
#define MAX_EVAL_MS 5000
#define MAX_VALUES ((size_t)2 << 20)	/* values one evaluation may create (some 100 MB) */
#define MAX_ARENA ((size_t)64 << 20)	/* bytes of frames, closures and scratch */
#define MAX_RANGE 10000000
#define MAX_NEST 1000		/* nesting of arrays and objects the recursive helpers follow */
#define MAX_STRING (64u << 20)

/* ------------------------------------------------------------------ arena */

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
	size_t total;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c = a->head;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!c || c->used + n > c->size) {
		size_t sz = n > 16000 ? n : 16000;

		if (a->total + sz > MAX_ARENA)
			return NULL;
		a->total += sz;
		c = malloc(sizeof(*c) + sz);
		if (!c)
			return NULL;
		c->size = sz;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void arena_release(struct arena *a)
{
	struct chunk *c = a->head, *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
	a->head = NULL;
	a->total = 0;
}

/* ------------------------------------------------------------------ tree */

enum ntype {
	N_STRING, N_NUMBER, N_VALUE, N_NAME, N_VAR, N_REGEX, N_WILDCARD, N_DESCENDANT,
	N_PARENT, N_PATH, N_BINARY, N_NEG, N_ARRAY, N_OBJECT, N_BLOCK, N_CONDITION,
	N_BIND, N_CALL, N_PARTIAL, N_LAMBDA, N_APPLY, N_TRANSFORM, N_SORT, N_PLACEHOLDER,
	N_FILTER, N_INDEX,
	/* raw-only forms, gone after processing */
	N_R_DOT, N_R_PRED, N_R_GROUP, N_R_SORT, N_R_FOCUS, N_R_INDEX,
};

enum op {
	OP_NONE, OP_PLUS, OP_MINUS, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT,
	OP_GE, OP_AND, OP_OR, OP_IN, OP_CONCAT, OP_RANGE, OP_ELVIS, OP_COALESCE,
};

struct sigparam {
	char types[12];	/* argument symbols accepted: b n s l a o f, m = missing */
	char type;	/* the parameter's letter, '(' for a choice */
	char sub;	/* array/function subtype, 0 if none */
	char quant;	/* 0, '?', '+' */
	bool context;	/* '-': use the context value when missing */
};

/* a '%' and how many steps up it still has to go */
struct slot {
	char label[16];
	int level;
};

struct sig {
	int n;
	struct sigparam p[12];
};

struct node {
	enum ntype type;
	enum op op;
	long pos;
	char *str;		/* name, variable, string value, operator text */
	double num;
	json_t *lit;		/* literal value (string/number/value) */
	struct node *lhs, *rhs, *third;
	struct node **items;	/* steps, items, expressions, arguments, pair halves, terms */
	int nitems;
	struct node **stages;	/* N_FILTER / N_INDEX per step */
	int nstages;
	struct node **pred;	/* predicates of a non-step expression */
	int npred;
	struct node *group;	/* N_OBJECT of a group-by */
	char **params;
	int nparams;
	struct sig *sig;
	pcre2_code *re;
	char *focus;		/* @$name */
	char *index;		/* #$name */
	bool keep_array, consarray, keep_singleton, tuple, thunk, descending;
	struct slot *slot;	/* N_PARENT: the variable its value is bound to */
	struct slot *ancestor;	/* a step that binds a parent's value */
	struct slot **seeking;	/* parents still looking for their step */
	int nseeking;
};

struct jsonata {
	struct arena arena;
	struct node *root;
	unsigned flags;
	void **owned;	/* literals (json_t) and regexes (pcre2_code), freed with us */
	bool *owned_json;
	int nowned, capowned;
};

/* ------------------------------------------------------------------ errors */

struct cerr {
	struct jsonata_err *err;
	jmp_buf jb;
};

static void set_err(struct jsonata_err *e, const char *code, long pos, const char *fmt, va_list ap)
{
	if (!e)
		return;
	snprintf(e->code, sizeof(e->code), "%s", code);
	e->position = pos;
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

/* ------------------------------------------------------------------ lexer */

enum tt { T_END, T_OP, T_STR, T_NUM, T_NAME, T_VAR, T_REGEX, T_VALUE };

struct token {
	enum tt type;
	char op[4];
	char *s;	/* name/var/string (arena) */
	size_t slen;
	double num;
	int value;	/* 0 false, 1 true, 2 null */
	long pos;	/* offset just past the token, as JSONata reports */
	long start;
	char *flags;	/* regex flags */
};

struct parser {
	struct jsonata *j;
	const char *src;
	size_t len, i;
	struct token tok;
	struct token prev;
	struct cerr *ce;
	int depth;
	int nlabels;
};

static void perr(struct parser *p, const char *code, long pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

static void perr(struct parser *p, const char *code, long pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_err(p->ce->err, code, pos, fmt, ap);
	va_end(ap);
	longjmp(p->ce->jb, 1);
}

static void *palloc(struct parser *p, size_t n)
{
	void *r = arena_alloc(&p->j->arena, n);

	if (!r)
		perr(p, "", -1, "out of memory");
	return r;
}

/* Remember a literal or a compiled regex for jsonata_free; frees it on failure. */
static void keep_ptr(struct parser *p, void *ptr, bool is_json)
{
	struct jsonata *j = p->j;

	if (j->nowned == j->capowned) {
		int cap = j->capowned ? j->capowned * 2 : 16;
		void **o = realloc(j->owned, sizeof(*o) * (size_t)cap);
		bool *oj = o ? realloc(j->owned_json, sizeof(*oj) * (size_t)cap) : NULL;

		if (o)
			j->owned = o;
		if (!o || !oj) {
			if (is_json)
				json_decref(ptr);
			else
				pcre2_code_free(ptr);
			perr(p, "", -1, "out of memory");
		}
		j->owned_json = oj;
		j->capowned = cap;
	}
	j->owned[j->nowned] = ptr;
	j->owned_json[j->nowned++] = is_json;
}

static const char *const ops3[] = { "...", NULL };
static const char *const ops2[] = { "..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??", NULL };
static const char ops1[] = ".[]{}(),@#;:?+-*/%|=<>^&!~";

static bool is_opchar(char c)
{
	return c && strchr(ops1, c) != NULL;
}

static void utf8_put(struct buf *b, uint32_t cp);

/* Is a '/' here the start of a regex? Only where an operand is expected. */
static bool regex_allowed(struct parser *p)
{
	struct token *t = &p->prev;

	if (t->type == T_END && t->start < 0)
		return true;
	if (t->type == T_NUM || t->type == T_STR || t->type == T_NAME || t->type == T_VAR ||
	    t->type == T_REGEX || t->type == T_VALUE)
		return false;
	if (t->type == T_OP && (!strcmp(t->op, ")") || !strcmp(t->op, "]") || !strcmp(t->op, "}")))
		return false;
	return true;
}

static void lex(struct parser *p)
{
	const char *s = p->src;
	struct token *t = &p->tok;

	p->prev = *t;
again:
	while (p->i < p->len && isspace((unsigned char)s[p->i]))
		p->i++;
	if (p->i + 1 < p->len && s[p->i] == '/' && s[p->i + 1] == '*') {
		const char *e = strstr(s + p->i + 2, "*/");

		if (!e)
			perr(p, "S0106", (long)p->i, "Comment has no closing tag");
		p->i = (size_t)(e - s) + 2;
		goto again;
	}
	memset(t, 0, sizeof(*t));
	t->start = (long)p->i;
	if (p->i >= p->len) {
		t->type = T_END;
		t->pos = (long)p->i;
		return;
	}
	char c = s[p->i];

	if (c == '/' && regex_allowed(p)) {
		size_t st = ++p->i;
		int depth = 0;

		while (p->i < p->len) {
			char d = s[p->i];

			if (d == '\\') {
				p->i += 2;
				continue;
			}
			if (d == '[')
				depth++;
			else if (d == ']' && depth)
				depth--;
			else if (d == '/' && !depth)
				break;
			p->i++;
		}
		if (p->i >= p->len)
			perr(p, "S0302", (long)p->i, "No terminating / in regular expression");
		if (p->i == st)
			perr(p, "S0301", (long)p->i, "Empty regular expressions are not allowed");
		t->type = T_REGEX;
		t->s = arena_strndup(&p->j->arena, s + st, p->i - st);
		p->i++;
		st = p->i;
		while (p->i < p->len && (s[p->i] == 'i' || s[p->i] == 'm'))
			p->i++;
		t->flags = arena_strndup(&p->j->arena, s + st, p->i - st);
		t->pos = (long)p->i;
		return;
	}
	for (int k = 0; ops2[k]; k++) {
		if (!strncmp(s + p->i, ops2[k], 2)) {
			t->type = T_OP;
			memcpy(t->op, ops2[k], 2);
			p->i += 2;
			t->pos = (long)p->i;
			return;
		}
	}
	(void)ops3;
	if (c == '!' || c == '~')
		perr(p, "S0204", (long)p->i + 1, "Unknown operator: \"%c\"", c);
	if (is_opchar(c)) {
		t->type = T_OP;
		t->op[0] = c;
		p->i++;
		t->pos = (long)p->i;
		return;
	}
	if (c == '"' || c == '\'') {
		struct buf b;

		buf_init(&b, MAX_STRING);
		p->i++;
		while (p->i < p->len && s[p->i] != c) {
			char d = s[p->i];

			if (d == '\\') {
				p->i++;
				if (p->i >= p->len)
					break;
				d = s[p->i];
				switch (d) {
				case '"': case '\\': case '/': case '\'':
					buf_putc(&b, d);
					break;
				case 'b': buf_putc(&b, '\b'); break;
				case 'f': buf_putc(&b, '\f'); break;
				case 'n': buf_putc(&b, '\n'); break;
				case 'r': buf_putc(&b, '\r'); break;
				case 't': buf_putc(&b, '\t'); break;
				case 'u': {
					unsigned cp = 0;
					int k;

					for (k = 1; k <= 4 && p->i + k < p->len && isxdigit((unsigned char)s[p->i + k]); k++)
						cp = cp * 16 + (unsigned)(isdigit((unsigned char)s[p->i + k]) ? s[p->i + k] - '0' : (tolower((unsigned char)s[p->i + k]) - 'a' + 10));
					if (k != 5) {
						buf_release(&b);
						perr(p, "S0104", (long)p->i, "The escape sequence \\u must be followed by 4 hex digits");
					}
					p->i += 4;
					if (cp >= 0xD800 && cp < 0xDC00 && p->i + 6 < p->len && s[p->i + 1] == '\\' && s[p->i + 2] == 'u') {
						unsigned lo = (unsigned)strtoul(((char[5]){ s[p->i + 3], s[p->i + 4], s[p->i + 5], s[p->i + 6], 0 }), NULL, 16);

						if (lo >= 0xDC00 && lo < 0xE000) {
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							p->i += 6;
						}
					}
					utf8_put(&b, cp);
					break;
				}
				default:
					buf_release(&b);
					perr(p, "S0103", (long)p->i, "Unsupported escape sequence: \\%c", d);
				}
				p->i++;
				continue;
			}
			buf_putc(&b, d);
			p->i++;
		}
		if (p->i >= p->len) {
			buf_release(&b);
			perr(p, "S0101", (long)p->i, "String literal must be terminated by a matching quote");
		}
		p->i++;
		t->type = T_STR;
		t->slen = b.len;
		t->s = arena_strndup(&p->j->arena, b.data, b.len);
		buf_release(&b);
		t->pos = (long)p->i;
		return;
	}
	if (isdigit((unsigned char)c)) {
		size_t st = p->i;

		while (p->i < p->len && isdigit((unsigned char)s[p->i]))
			p->i++;
		if (p->i + 1 < p->len && s[p->i] == '.' && isdigit((unsigned char)s[p->i + 1])) {
			p->i++;
			while (p->i < p->len && isdigit((unsigned char)s[p->i]))
				p->i++;
		}
		if (p->i < p->len && (s[p->i] == 'e' || s[p->i] == 'E')) {
			size_t k = p->i + 1;

			if (k < p->len && (s[k] == '+' || s[k] == '-'))
				k++;
			if (k < p->len && isdigit((unsigned char)s[k])) {
				p->i = k;
				while (p->i < p->len && isdigit((unsigned char)s[p->i]))
					p->i++;
			}
		}
		char tmp[400];
		size_t n = p->i - st < sizeof(tmp) - 1 ? p->i - st : sizeof(tmp) - 1;

		memcpy(tmp, s + st, n);
		tmp[n] = 0;
		t->num = strtod(tmp, NULL);
		if (!isfinite(t->num))
			perr(p, "S0102", (long)st, "Number out of range: %s", tmp);
		t->type = T_NUM;
		t->pos = (long)p->i;
		return;
	}
	if (c == '`') {
		const char *e = memchr(s + p->i + 1, '`', p->len - p->i - 1);

		if (!e)
			perr(p, "S0105", (long)p->i, "Quoted property name must be terminated with a backquote (`)");
		t->type = T_NAME;
		t->s = arena_strndup(&p->j->arena, s + p->i + 1, (size_t)(e - s) - p->i - 1);
		p->i = (size_t)(e - s) + 1;
		t->pos = (long)p->i;
		return;
	}
	/* a name or variable: up to whitespace or an operator character */
	size_t st = p->i;
	bool var = c == '$';

	if (var)
		p->i++;
	while (p->i < p->len && !isspace((unsigned char)s[p->i]) && !is_opchar(s[p->i]) &&
	       s[p->i] != '"' && s[p->i] != '\'' && s[p->i] != '`')
		p->i++;
	if (var && p->i == st + 1 && p->i < p->len && s[p->i] == '$')
		p->i++;
	t->pos = (long)p->i;
	if (var) {
		t->type = T_VAR;
		t->s = arena_strndup(&p->j->arena, s + st + 1, p->i - st - 1);
		return;
	}
	t->s = arena_strndup(&p->j->arena, s + st, p->i - st);
	if (!strcmp(t->s, "true") || !strcmp(t->s, "false") || !strcmp(t->s, "null")) {
		t->type = T_VALUE;
		t->value = t->s[0] == 't' ? 1 : t->s[0] == 'f' ? 0 : 2;
		return;
	}
	if (!strcmp(t->s, "and") || !strcmp(t->s, "or") || !strcmp(t->s, "in")) {
		t->type = T_OP;
		snprintf(t->op, sizeof(t->op), "%s", t->s);
		return;
	}
	t->type = T_NAME;
}

/* ------------------------------------------------------------------ parser */

static int lbp_of(const struct token *t)
{
	static const struct { const char *op; int bp; } tbl[] = {
		{ ".", 75 }, { "[", 80 }, { "]", 0 }, { "{", 70 }, { "}", 0 }, { "(", 80 },
		{ ")", 0 }, { ",", 0 }, { "@", 80 }, { "#", 80 }, { ";", 0 }, { ":", 0 },
		{ "?", 20 }, { "+", 50 }, { "-", 50 }, { "*", 60 }, { "/", 60 }, { "%", 60 },
		{ "|", 0 }, { "=", 40 }, { "<", 40 }, { ">", 40 }, { "^", 40 }, { "**", 0 },
		{ "..", 0 }, { ":=", 10 }, { "!=", 40 }, { "<=", 40 }, { ">=", 40 },
		{ "~>", 40 }, { "?:", 40 }, { "??", 40 }, { "and", 30 }, { "or", 25 },
		{ "in", 40 }, { "&", 50 }, { "!", 0 }, { "~", 0 },
	};

	if (t->type != T_OP)
		return 0;
	for (size_t k = 0; k < sizeof(tbl) / sizeof(tbl[0]); k++)
		if (!strcmp(tbl[k].op, t->op))
			return tbl[k].bp;
	return 0;
}

static bool is_op(const struct token *t, const char *op)
{
	return t->type == T_OP && !strcmp(t->op, op);
}

static struct node *mk(struct parser *p, enum ntype type, long pos)
{
	struct node *n = palloc(p, sizeof(*n));

	n->type = type;
	n->pos = pos;
	return n;
}

/* append to a node list; capacities are powers of two (at least 4), so growth is amortised */
static void push_item(struct parser *p, struct node ***items, int *n, struct node *x)
{
	if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
		int cap = *n < 4 ? 4 : *n * 2;
		struct node **a = palloc(p, sizeof(*a) * (size_t)cap);

		if (*n)
			memcpy(a, *items, sizeof(*a) * (size_t)*n);
		*items = a;
	}
	(*items)[*n] = x;
	(*n)++;
}

static const char *tok_text(const struct token *t, char *tmp, size_t len)
{
	switch (t->type) {
	case T_END: return "(end)";
	case T_OP: return t->op;
	case T_NUM: snprintf(tmp, len, "%g", t->num); return tmp;
	case T_VALUE: return t->value == 1 ? "true" : t->value == 0 ? "false" : "null";
	case T_VAR: snprintf(tmp, len, "$%s", t->s); return tmp;
	default: return t->s ? t->s : "";
	}
}

static void advance(struct parser *p, const char *op)
{
	char tmp[64];

	if (op && !is_op(&p->tok, op)) {
		if (p->tok.type == T_END)
			perr(p, "S0203", p->tok.pos, "Expected \"%s\" before end of expression", op);
		perr(p, "S0202", p->tok.pos, "Expected \"%s\", got \"%s\"", op, tok_text(&p->tok, tmp, sizeof(tmp)));
	}
	lex(p);
}

static struct node *expression(struct parser *p, int rbp);
static void parse_sig(struct parser *p, struct sig *sig, const char *text, long pos);

static struct node *nud(struct parser *p)
{
	struct token t = p->tok;
	struct node *n;
	char tmp[64];

	lex(p);
	switch (t.type) {
	case T_END:
		perr(p, "S0207", t.pos, "Unexpected end of expression");
	case T_STR:
		n = mk(p, N_STRING, t.pos);
		n->str = t.s;
		n->lit = json_stringn(t.s, t.slen);
		goto lit;
	case T_NUM:
		n = mk(p, N_NUMBER, t.pos);
		n->num = t.num;
		n->lit = t.num == floor(t.num) && fabs(t.num) < 9e15 ? json_integer((json_int_t)t.num) : json_real(t.num);
		goto lit;
	case T_VALUE:
		n = mk(p, N_VALUE, t.pos);
		n->lit = t.value == 1 ? json_true() : t.value == 0 ? json_false() : json_null();
		n->num = t.value;
	lit:
		if (!n->lit)
			perr(p, "", -1, "out of memory");
		keep_ptr(p, n->lit, true);
		return n;
	case T_NAME:
		n = mk(p, N_NAME, t.pos);
		n->str = t.s;
		return n;
	case T_VAR:
		n = mk(p, N_VAR, t.pos);
		n->str = t.s;
		return n;
	case T_REGEX: {
		int ec;
		PCRE2_SIZE eo;
		uint32_t opt = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF;

		if (strchr(t.flags, 'i'))
			opt |= PCRE2_CASELESS;
		if (strchr(t.flags, 'm'))
			opt |= PCRE2_MULTILINE;
		n = mk(p, N_REGEX, t.pos);
		n->str = t.s;
		n->re = pcre2_compile((PCRE2_SPTR)t.s, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, NULL);
		if (!n->re)
			perr(p, "S0303", t.pos, "The regular expression is not valid");
		keep_ptr(p, n->re, false);
		return n;
	}
	case T_OP:
		break;
	}
	/* prefix operators */
	if (!strcmp(t.op, "-")) {
		n = mk(p, N_NEG, t.pos);
		n->lhs = expression(p, 70);
		return n;
	}
	if (!strcmp(t.op, "*")) {
		n = mk(p, N_WILDCARD, t.pos);
		return n;
	}
	if (!strcmp(t.op, "**")) {
		n = mk(p, N_DESCENDANT, t.pos);
		return n;
	}
	if (!strcmp(t.op, "%")) {
		n = mk(p, N_PARENT, t.pos);
		return n;
	}
	if (!strcmp(t.op, "?")) {
		n = mk(p, N_PLACEHOLDER, t.pos);
		return n;
	}
	if (!strcmp(t.op, "and") || !strcmp(t.op, "or") || !strcmp(t.op, "in")) {
		n = mk(p, N_NAME, t.pos);
		n->str = arena_strndup(&p->j->arena, t.op, strlen(t.op));
		return n;
	}
	if (!strcmp(t.op, "(")) {
		n = mk(p, N_BLOCK, t.pos);
		while (!is_op(&p->tok, ")")) {
			push_item(p, &n->items, &n->nitems, expression(p, 0));
			if (!is_op(&p->tok, ";"))
				break;
			advance(p, ";");
		}
		advance(p, ")");
		return n;
	}
	if (!strcmp(t.op, "[")) {
		n = mk(p, N_ARRAY, t.pos);
		if (!is_op(&p->tok, "]")) {
			for (;;) {
				struct node *item = expression(p, 0);

				if (is_op(&p->tok, "..")) {
					struct node *r = mk(p, N_BINARY, p->tok.pos);

					advance(p, "..");
					r->op = OP_RANGE;
					r->str = arena_strndup(&p->j->arena, "..", 2);
					r->lhs = item;
					r->rhs = expression(p, 0);
					item = r;
				}
				push_item(p, &n->items, &n->nitems, item);
				if (!is_op(&p->tok, ","))
					break;
				advance(p, ",");
			}
		}
		advance(p, "]");
		return n;
	}
	if (!strcmp(t.op, "{")) {
		n = mk(p, N_OBJECT, t.pos);
		if (!is_op(&p->tok, "}")) {
			for (;;) {
				struct node *k = expression(p, 0);

				advance(p, ":");
				struct node *v = expression(p, 0);

				push_item(p, &n->items, &n->nitems, k);
				push_item(p, &n->items, &n->nitems, v);
				if (!is_op(&p->tok, ","))
					break;
				advance(p, ",");
			}
		}
		advance(p, "}");
		return n;
	}
	if (!strcmp(t.op, "|")) {
		n = mk(p, N_TRANSFORM, t.pos);
		n->lhs = expression(p, 0);
		advance(p, "|");
		n->rhs = expression(p, 0);
		if (is_op(&p->tok, ",")) {
			advance(p, ",");
			n->third = expression(p, 0);
		}
		advance(p, "|");
		return n;
	}
	perr(p, "S0211", t.pos, "The symbol %s cannot be used as a unary operator", tok_text(&t, tmp, sizeof(tmp)));
}

static enum op binop(const char *s)
{
	static const struct { const char *s; enum op op; } tbl[] = {
		{ "+", OP_PLUS }, { "-", OP_MINUS }, { "*", OP_MUL }, { "/", OP_DIV },
		{ "%", OP_MOD }, { "=", OP_EQ }, { "!=", OP_NE }, { "<", OP_LT }, { "<=", OP_LE },
		{ ">", OP_GT }, { ">=", OP_GE }, { "and", OP_AND }, { "or", OP_OR }, { "in", OP_IN },
		{ "&", OP_CONCAT }, { "?:", OP_ELVIS }, { "??", OP_COALESCE },
	};

	for (size_t k = 0; k < sizeof(tbl) / sizeof(tbl[0]); k++)
		if (!strcmp(tbl[k].s, s))
			return tbl[k].op;
	return OP_NONE;
}

static struct node *led(struct parser *p, struct node *left)
{
	struct token t = p->tok;
	struct node *n;
	int bp = lbp_of(&t);
	char tmp[64];

	lex(p);
	if (!strcmp(t.op, ".")) {
		n = mk(p, N_R_DOT, t.pos);
		n->lhs = left;
		n->rhs = expression(p, bp);
		return n;
	}
	if (!strcmp(t.op, "(")) {
		/* function call, or a lambda definition */
		if (left->type == N_NAME && (!strcmp(left->str, "function") || !strcmp(left->str, "\xce\xbb"))) {
			n = mk(p, N_LAMBDA, t.pos);
			while (!is_op(&p->tok, ")")) {
				if (p->tok.type != T_VAR)
					perr(p, "S0208", p->tok.pos, "Parameter %s of function definition must be a variable name (start with $)", tok_text(&p->tok, tmp, sizeof(tmp)));
				char **a = palloc(p, sizeof(*a) * (size_t)(n->nparams + 1));

				if (n->nparams)
					memcpy(a, n->params, sizeof(*a) * (size_t)n->nparams);
				a[n->nparams++] = p->tok.s;
				n->params = a;
				lex(p);
				if (!is_op(&p->tok, ","))
					break;
				advance(p, ",");
			}
			advance(p, ")");
			if (is_op(&p->tok, "<")) {
				/* the signature: raw text up to the matching '>' */
				size_t st = p->i, k = st;
				int depth = 1;

				while (k < p->len && depth) {
					if (p->src[k] == '<')
						depth++;
					else if (p->src[k] == '>')
						depth--;
					k++;
				}
				if (depth)
					perr(p, "S0401", (long)st, "Type parameters can only be applied to functions and arrays");
				char *text = arena_strndup(&p->j->arena, p->src + st, k - st - 1);

				n->sig = palloc(p, sizeof(*n->sig));
				parse_sig(p, n->sig, text, (long)st);
				p->i = k;
				lex(p);
			}
			advance(p, "{");
			n->lhs = expression(p, 0);
			advance(p, "}");
			return n;
		}
		n = mk(p, N_CALL, t.pos);
		n->lhs = left;
		while (!is_op(&p->tok, ")")) {
			struct node *a;

			if (is_op(&p->tok, "?")) {
				a = mk(p, N_PLACEHOLDER, p->tok.pos);
				lex(p);
				n->type = N_PARTIAL;
			} else {
				a = expression(p, 0);
			}
			push_item(p, &n->items, &n->nitems, a);
			if (!is_op(&p->tok, ","))
				break;
			advance(p, ",");
		}
		advance(p, ")");
		return n;
	}
	if (!strcmp(t.op, "[")) {
		if (is_op(&p->tok, "]")) {
			struct node *s = left;

			while (s && s->type == N_R_PRED)
				s = s->lhs;
			s->keep_array = true;
			advance(p, "]");
			return left;
		}
		n = mk(p, N_R_PRED, t.pos);
		n->lhs = left;
		n->rhs = expression(p, 0);
		advance(p, "]");
		return n;
	}
	if (!strcmp(t.op, "{")) {
		n = mk(p, N_R_GROUP, t.pos);
		n->lhs = left;
		n->rhs = mk(p, N_OBJECT, t.pos);
		if (!is_op(&p->tok, "}")) {
			for (;;) {
				struct node *k = expression(p, 0);

				advance(p, ":");
				struct node *v = expression(p, 0);

				push_item(p, &n->rhs->items, &n->rhs->nitems, k);
				push_item(p, &n->rhs->items, &n->rhs->nitems, v);
				if (!is_op(&p->tok, ","))
					break;
				advance(p, ",");
			}
		}
		advance(p, "}");
		return n;
	}
	if (!strcmp(t.op, "^")) {
		n = mk(p, N_R_SORT, t.pos);
		n->lhs = left;
		advance(p, "(");
		for (;;) {
			struct node *term = mk(p, N_SORT, p->tok.pos);

			if (is_op(&p->tok, "<")) {
				lex(p);
			} else if (is_op(&p->tok, ">")) {
				term->descending = true;
				lex(p);
			}
			term->lhs = expression(p, 0);
			push_item(p, &n->items, &n->nitems, term);
			if (!is_op(&p->tok, ","))
				break;
			advance(p, ",");
		}
		advance(p, ")");
		return n;
	}
	if (!strcmp(t.op, "@") || !strcmp(t.op, "#")) {
		if (p->tok.type != T_VAR)
			perr(p, "S0214", p->tok.pos, "The right side of %s must be a variable name (start with $)", t.op);
		n = mk(p, t.op[0] == '@' ? N_R_FOCUS : N_R_INDEX, t.pos);
		n->lhs = left;
		n->str = p->tok.s;
		lex(p);
		return n;
	}
	if (!strcmp(t.op, "?")) {
		n = mk(p, N_CONDITION, t.pos);
		n->lhs = left;
		n->rhs = expression(p, 0);
		if (is_op(&p->tok, ":")) {
			advance(p, ":");
			n->third = expression(p, 0);
		}
		return n;
	}
	if (!strcmp(t.op, ":=")) {
		if (left->type != N_VAR)
			perr(p, "S0212", left->pos, "The left side of := must be a variable name (start with $)");
		n = mk(p, N_BIND, t.pos);
		n->lhs = left;
		n->rhs = expression(p, bp - 1);
		return n;
	}
	if (!strcmp(t.op, "~>")) {
		n = mk(p, N_APPLY, t.pos);
		n->lhs = left;
		n->rhs = expression(p, bp);
		return n;
	}
	enum op op = binop(t.op);

	if (op == OP_NONE)
		perr(p, "S0201", t.pos, "Syntax error: \"%s\"", t.op);
	n = mk(p, N_BINARY, t.pos);
	n->op = op;
	n->str = arena_strndup(&p->j->arena, t.op, strlen(t.op));
	n->lhs = left;
	n->rhs = expression(p, bp);
	return n;
}

static struct node *expression(struct parser *p, int rbp)
{
	struct node *left;

	if (++p->depth > 1000)
		perr(p, "S0207", p->tok.pos, "Expression nested too deeply");
	left = nud(p);
	for (;;) {
		int bp = lbp_of(&p->tok);

		if (rbp >= bp)
			break;
		left = led(p, left);
	}
	p->depth--;
	return left;
}

/*
 * Signature text, e.g. "s-nn?:s" or "a<n>f<n:n>?": each parameter gets the
 * class of argument symbols it accepts (m = missing), as JSONata's regex.
 * Returns 0, or -1 with *ret_off at the offending character.
 */
static int sig_parse(struct sig *sig, const char *text, long *ret_off)
{
	const char *s = text;

	memset(sig, 0, sizeof(*sig));
	while (*s && *s != ':') {
		struct sigparam *pp;

		if (*s == '?' || *s == '+' || *s == '-') {
			if (!sig->n)
				goto bad;
			pp = &sig->p[sig->n - 1];
			if (*s == '-')
				pp->context = true;
			else
				pp->quant = *s;
			s++;
			continue;
		}
		if (*s == '<') {
			int depth = 1;

			if (!sig->n)
				goto bad;
			pp = &sig->p[sig->n - 1];
			if (pp->type != 'a' && pp->type != 'f')
				goto bad;
			pp->sub = s[1];
			s++;
			while (*s && depth) {
				if (*s == '<')
					depth++;
				else if (*s == '>')
					depth--;
				s++;
			}
			continue;
		}
		if (sig->n >= 12)
			goto bad;
		pp = &sig->p[sig->n++];
		if (*s == '(') {
			const char *e = strchr(s, ')');

			if (!e || (size_t)(e - s) >= sizeof(pp->types) - 1)
				goto bad;
			if (memchr(s, '<', (size_t)(e - s))) {
				*ret_off = s - text;
				return -2;
			}
			memcpy(pp->types, s + 1, (size_t)(e - s - 1));
			strcat(pp->types, "m");
			pp->type = '(';
			s = e + 1;
			continue;
		}
		pp->type = *s;
		switch (*s) {
		case 'a': case 'x': strcpy(pp->types, "asnblfom"); break;
		case 'j': strcpy(pp->types, "asnblom"); break;
		case 'f': strcpy(pp->types, "f"); break;
		case 'b': case 'n': case 's': case 'l': case 'o':
			pp->types[0] = *s;
			pp->types[1] = 'm';
			break;
		default:
			goto bad;
		}
		s++;
	}
	return 0;
bad:
	*ret_off = s - text;
	return -1;
}

static void parse_sig(struct parser *p, struct sig *sig, const char *text, long pos)
{
	long off = 0;

	int r = sig_parse(sig, text, &off);

	if (r == -2)
		perr(p, "S0402", pos + off, "Choice groups containing parameterized types are not supported");
	if (r < 0)
		perr(p, "S0401", pos + off, "Type parameters can only be applied to functions and arrays");
}

/* ------------------------------------------------------------------ tree processing */

static struct node *process(struct parser *p, struct node *n);

static struct node *as_path(struct parser *p, struct node *n)
{
	struct node *path;

	if (n->type == N_PATH)
		return n;
	path = mk(p, N_PATH, n->pos);
	push_item(p, &path->items, &path->nitems, n);
	return path;
}

static struct node *tail_call(struct node *n)
{
	if (n->type == N_CALL && !n->npred) {
		n->thunk = true;
	} else if (n->type == N_CONDITION) {
		tail_call(n->rhs);
		if (n->third)
			tail_call(n->third);
	} else if (n->type == N_BLOCK && n->nitems) {
		tail_call(n->items[n->nitems - 1]);
	}
	return n;
}

static void finish_path(struct parser *p, struct node *path)
{
	for (int k = 0; k < path->nitems; k++) {
		struct node *s = path->items[k];

		if (s->type == N_NUMBER || s->type == N_VALUE)
			perr(p, "S0213", s->pos, "The literal value %s cannot be used as a step within a path expression",
			     s->type == N_NUMBER ? "number" : "true/false/null");
		if (s->type == N_STRING)
			s->type = N_NAME;
		if (s->keep_array)
			path->keep_singleton = true;
	}
	if (path->items[0]->type == N_ARRAY)
		path->items[0]->consarray = true;
	if (path->items[path->nitems - 1]->type == N_ARRAY)
		path->items[path->nitems - 1]->consarray = true;
}

static struct node *process_inner(struct parser *p, struct node *n);

static void add_slot(struct parser *p, struct node *n, struct slot *sl)
{
	struct slot **a = palloc(p, sizeof(*a) * (size_t)(n->nseeking + 1));

	if (n->nseeking)
		memcpy(a, n->seeking, sizeof(*a) * (size_t)n->nseeking);
	a[n->nseeking++] = sl;
	n->seeking = a;
}

/* pushAncestry: @value's unresolved parents become @result's */
static void push_ancestry(struct parser *p, struct node *result, struct node *value)
{
	if (!value)
		return;
	for (int i = 0; i < value->nseeking; i++)
		add_slot(p, result, value->seeking[i]);
	if (value->type == N_PARENT)
		add_slot(p, result, value->slot);
}

/* seekParent: walk back through @n for the step whose input a parent names */
static struct slot *seek_parent(struct parser *p, struct node *n, struct slot *sl)
{
	switch (n->type) {
	case N_NAME:
	case N_WILDCARD:
		sl->level--;
		if (sl->level == 0) {
			if (n->ancestor)
				memcpy(sl->label, n->ancestor->label, sizeof(sl->label));
			n->ancestor = sl;
			n->tuple = true;
		}
		break;
	case N_PARENT:
		sl->level++;
		break;
	case N_BLOCK:
		if (n->nitems) {
			n->tuple = true;
			sl = seek_parent(p, n->items[n->nitems - 1], sl);
		}
		break;
	case N_PATH: {
		int idx = n->nitems - 1;

		n->tuple = true;
		sl = seek_parent(p, n->items[idx--], sl);
		while (sl->level > 0 && idx >= 0)
			sl = seek_parent(p, n->items[idx--], sl);
		break;
	}
	default:
		perr(p, "S0217", n->pos, "The object representing the 'parent' cannot be derived from this expression");
	}
	return sl;
}

/* resolveAncestry: the parents the last step of @path looks for, among its earlier steps */
static void resolve_ancestry(struct parser *p, struct node *path)
{
	struct node *last = path->items[path->nitems - 1];
	int nslots = last->nseeking + (last->type == N_PARENT);
	struct slot **slots = palloc(p, sizeof(*slots) * (size_t)(nslots + 1));

	for (int i = 0; i < last->nseeking; i++)
		slots[i] = last->seeking[i];
	if (last->type == N_PARENT)
		slots[last->nseeking] = last->slot;
	for (int is = 0; is < nslots; is++) {
		struct slot *sl = slots[is];
		int idx = path->nitems - 2;

		while (sl->level > 0) {
			if (idx < 0) {
				add_slot(p, path, sl);
				break;
			}
			struct node *step = path->items[idx--];

			while (idx >= 0 && step->focus && path->items[idx]->focus)
				step = path->items[idx--];
			sl = seek_parent(p, step, sl);
		}
	}
}

/* a '[]' written after any step form marks the path it ends up in (or the expression) */
static struct node *process(struct parser *p, struct node *n)
{
	bool keep = n && n->keep_array;
	struct node *r;

	if (++p->depth > 2000)
		perr(p, "S0207", n ? n->pos : -1, "Expression nested too deeply");
	r = process_inner(p, n);
	p->depth--;

	if (keep && r) {
		if (r->type == N_PATH)
			r->keep_singleton = true;
		else
			r->keep_array = true;
	}
	return r;
}

static struct node *process_inner(struct parser *p, struct node *n)
{
	struct node *r, *step;

	if (!n)
		return NULL;
	switch (n->type) {
	case N_R_DOT: {
		struct node *l = process(p, n->lhs), *rest;

		r = as_path(p, l);
		if (l->type == N_PARENT)
			add_slot(p, r, l->slot);
		rest = process(p, n->rhs);
		if (rest->type == N_PATH) {
			for (int k = 0; k < rest->nitems; k++)
				push_item(p, &r->items, &r->nitems, rest->items[k]);
		} else {
			if (rest->npred) {
				for (int k = 0; k < rest->npred; k++)
					push_item(p, &rest->stages, &rest->nstages, rest->pred[k]);
				rest->pred = NULL;
				rest->npred = 0;
			}
			push_item(p, &r->items, &r->nitems, rest);
		}
		finish_path(p, r);
		if (n->keep_array)
			r->keep_singleton = true;
		resolve_ancestry(p, r);
		return r;
	}
	case N_R_PRED: {
		r = process(p, n->lhs);
		step = r;
		bool stages = false;

		if (r->type == N_PATH) {
			step = r->items[r->nitems - 1];
			stages = true;
		}
		if (step->group)
			perr(p, "S0209", n->pos, "A predicate cannot follow a grouping expression in a step");
		struct node *f = mk(p, N_FILTER, n->pos);

		f->lhs = process(p, n->rhs);
		if (f->lhs->nseeking) {
			for (int k = 0; k < f->lhs->nseeking; k++) {
				if (f->lhs->seeking[k]->level == 1)
					seek_parent(p, step, f->lhs->seeking[k]);
				else
					f->lhs->seeking[k]->level--;
			}
			push_ancestry(p, step, f->lhs);
		}
		if (stages)
			push_item(p, &step->stages, &step->nstages, f);
		else
			push_item(p, &step->pred, &step->npred, f);
		if (n->keep_array)
			step->keep_array = true, r->keep_singleton |= r->type == N_PATH;
		return r;
	}
	case N_R_GROUP:
		r = process(p, n->lhs);
		if (r->group)
			perr(p, "S0210", n->pos, "Each step can only have one grouping expression");
		r->group = process(p, n->rhs);
		r->group->pos = n->pos;
		return r;
	case N_R_SORT: {
		r = as_path(p, process(p, n->lhs));
		step = mk(p, N_SORT, n->pos);
		for (int k = 0; k < n->nitems; k++) {
			struct node *term = n->items[k];

			term->lhs = process(p, term->lhs);
			push_ancestry(p, step, term->lhs);
			push_item(p, &step->items, &step->nitems, term);
		}
		push_item(p, &r->items, &r->nitems, step);
		finish_path(p, r);
		resolve_ancestry(p, r);
		return r;
	}
	case N_R_FOCUS:
		r = process(p, n->lhs);
		step = r->type == N_PATH ? r->items[r->nitems - 1] : r;
		if (step->nstages || step->npred)
			perr(p, "S0215", n->pos, "A context variable binding must precede any predicates on a step");
		if (step->type == N_SORT)
			perr(p, "S0216", n->pos, "A context variable binding must precede the 'order-by' clause on a step");
		if (n->keep_array)
			step->keep_array = true;
		step->focus = n->str;
		step->tuple = true;
		return r;
	case N_R_INDEX:
		r = process(p, n->lhs);
		if (r->type != N_PATH) {
			r = as_path(p, r);
			step = r->items[0];
			if (step->npred) {
				step->stages = step->pred;
				step->nstages = step->npred;
				step->pred = NULL;
				step->npred = 0;
			}
		} else {
			step = r->items[r->nitems - 1];
		}
		if (!step->nstages) {
			step->index = n->str;
		} else {
			struct node *ix = mk(p, N_INDEX, n->pos);

			ix->str = n->str;
			push_item(p, &step->stages, &step->nstages, ix);
		}
		step->tuple = true;
		return r;
	case N_NAME:
	case N_WILDCARD:
	case N_DESCENDANT:
		r = as_path(p, n);
		if (n->keep_array)
			r->keep_singleton = true;
		return r;
	case N_PARENT:
		n->slot = palloc(p, sizeof(*n->slot));
		snprintf(n->slot->label, sizeof(n->slot->label), "!%d", p->nlabels++);
		n->slot->level = 1;
		return n;
	case N_BINARY:
		n->lhs = process(p, n->lhs);
		n->rhs = process(p, n->rhs);
		push_ancestry(p, n, n->lhs);
		push_ancestry(p, n, n->rhs);
		return n;
	case N_NEG:
		n->lhs = process(p, n->lhs);
		push_ancestry(p, n, n->lhs);
		if (n->lhs->type == N_NUMBER) {
			n->lhs->num = -n->lhs->num;
			if (json_is_integer(n->lhs->lit))
				json_integer_set(n->lhs->lit, -json_integer_value(n->lhs->lit));
			else
				json_real_set(n->lhs->lit, n->lhs->num);
			return n->lhs;
		}
		return n;
	case N_ARRAY:
	case N_BLOCK:
	case N_CALL:
	case N_PARTIAL:
		for (int k = 0; k < n->nitems; k++) {
			n->items[k] = process(p, n->items[k]);
			push_ancestry(p, n, n->items[k]);
		}
		if (n->type == N_CALL || n->type == N_PARTIAL)
			n->lhs = process(p, n->lhs);
		return n;
	case N_OBJECT:
		for (int k = 0; k < n->nitems; k++) {
			n->items[k] = process(p, n->items[k]);
			push_ancestry(p, n, n->items[k]);
		}
		return n;
	case N_CONDITION:
		n->lhs = process(p, n->lhs);
		n->rhs = process(p, n->rhs);
		n->third = process(p, n->third);
		push_ancestry(p, n, n->lhs);
		push_ancestry(p, n, n->rhs);
		push_ancestry(p, n, n->third);
		return n;
	case N_BIND:
	case N_APPLY:
		n->lhs = process(p, n->lhs);
		n->rhs = process(p, n->rhs);
		if (n->type == N_BIND)
			push_ancestry(p, n, n->rhs);
		if (n->type == N_APPLY)
			n->keep_array |= n->lhs->keep_array || n->rhs->keep_array;
		return n;
	case N_LAMBDA:
		n->lhs = tail_call(process(p, n->lhs));
		return n;
	case N_TRANSFORM:
		n->lhs = process(p, n->lhs);
		n->rhs = process(p, n->rhs);
		n->third = process(p, n->third);
		return n;
	default:
		return n;
	}
}

/* ------------------------------------------------------------------ values */

enum { F_SEQ = 1, F_KEEP = 2, F_CONS = 4, F_OUTER = 8, F_TUPLE = 16 };

struct val {
	json_t *j;	/* NULL: undefined; a reference owned by the context or the input */
	unsigned f;
};

static const struct val UNDEF = { NULL, 0 };

#define FN_KEY "\x01jsonata-function"

enum fkind { FK_LAMBDA, FK_BUILTIN, FK_PARTIAL, FK_REGEX, FK_CHAIN, FK_THUNK, FK_TRANSFORM };

struct frame;
struct ctx;

struct fn {
	enum fkind kind;
	json_t *marker;
	struct node *node;	/* lambda, thunk call, transform, regex */
	struct frame *env;
	struct val input;
	int builtin;
	struct val target;	/* partial: the function; chain: first */
	struct val second;	/* chain: second */
	struct val *args;	/* partial: arguments, .j == NULL && .f == 1 for a hole */
	int nargs;
};

struct frame {
	struct frame *parent;
	int n, cap;
	const char **names;
	struct val *vals;
};

struct defer {
	void (*fn)(void *);
	void *arg;
};

struct ctx {
	const struct jsonata *expr;
	struct arena arena;
	struct jsonata_err *err;
	jmp_buf jb;
	json_t **owned;
	size_t nowned, capowned;
	struct fn **fns;
	int nfns, capfns;
	json_t **builtin_marker;
	struct sig **builtin_sig;
	struct defer *defers;
	int ndefers, capdefers;
	int depth, user_depth;
	size_t units;		/* values created, against MAX_VALUES */
	unsigned long ticks, next_tick;	/* work done; the clock is read every 1024 */
	char *stack_base;
	struct timespec start;
	long time_ms;
	uint64_t rng[4];
	bool rng_seeded;
	struct frame *root_env;
	struct fn tail;		/* the pending tail call, while tail_marker travels up to apply() */
	json_t *tail_marker;
	int64_t now_ms;
	bool now_set;
};

static void throw(struct ctx *c, const char *code, long pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

static void throw(struct ctx *c, const char *code, long pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_err(c->err, code, pos, fmt, ap);
	va_end(ap);
	longjmp(c->jb, 1);
}

static void oom(struct ctx *c) __attribute__((noreturn));
static void oom(struct ctx *c)
{
	throw(c, "", -1, "out of memory");
}

static void *calloc_c(struct ctx *c, size_t n)
{
	void *p = arena_alloc(&c->arena, n);

	if (!p) {
		if (c->arena.total + n + 16000 > MAX_ARENA)
			throw(c, "U1001", -1, "Evaluation used too much memory");
		oom(c);
	}
	return p;
}

static char *cstrdup(struct ctx *c, const char *s)
{
	size_t n = strlen(s);
	char *p = calloc_c(c, n + 1);

	memcpy(p, s, n);
	return p;
}

/* The context takes one reference to @v, released when the evaluation ends. */
static json_t *own(struct ctx *c, json_t *v)
{
	if (!v)
		oom(c);
	/* weigh what it costs: objects carry a hash table, strings their bytes */
	c->units += json_is_object(v) ? 4 : json_is_string(v) ? 1 + json_string_length(v) / 32 : 1;
	if (c->units > MAX_VALUES) {
		json_decref(v);
		throw(c, "U1001", -1, "Evaluation used too much memory");
	}
	if (c->nowned == c->capowned) {
		size_t cap = c->capowned ? c->capowned * 2 : 256;
		json_t **o;

		o = realloc(c->owned, sizeof(*o) * cap);
		if (!o) {
			json_decref(v);
			oom(c);
		}
		c->owned = o;
		c->capowned = cap;
	}
	c->owned[c->nowned++] = v;
	return v;
}

static void defer(struct ctx *c, void (*f)(void *), void *arg)
{
	if (c->ndefers == c->capdefers) {
		int cap = c->capdefers ? c->capdefers * 2 : 8;
		struct defer *d = realloc(c->defers, sizeof(*d) * (size_t)cap);

		if (!d) {
			f(arg);
			oom(c);
		}
		c->defers = d;
		c->capdefers = cap;
	}
	c->defers[c->ndefers].fn = f;
	c->defers[c->ndefers++].arg = arg;
}

static struct val V(json_t *j)
{
	struct val v = { j, 0 };

	return v;
}

static json_t *mknum(struct ctx *c, double d)
{
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return own(c, json_integer((json_int_t)d));
	return own(c, json_real(d));
}

static struct val num(struct ctx *c, double d)
{
	return V(mknum(c, d));
}

/* a count argument as a long, without undefined conversions of huge values */
static long to_long(double d)
{
	if (!(d > -1e15))
		return (long)-1e15;
	if (d > 1e15)
		return (long)1e15;
	return (long)floor(d);
}

static struct val str(struct ctx *c, const char *s)
{
	return V(own(c, json_string(s)));
}

static struct val strn(struct ctx *c, const char *s, size_t n)
{
	return V(own(c, json_stringn(s, n)));
}

static struct val boolean_v(bool b)
{
	return V(b ? json_true() : json_false());
}

static struct val seq_new(struct ctx *c)
{
	struct val v = { own(c, json_array()), F_SEQ };

	return v;
}

static void push(struct ctx *c, struct val seq, json_t *item)
{
	if ((json_array_size(seq.j) & 7) == 7 && ++c->units > MAX_VALUES)
		throw(c, "U1001", -1, "Evaluation used too much memory");
	if (json_array_append(seq.j, item) < 0)
		oom(c);
}

/* createSequence(v): a sequence holding v (empty for undefined) */
static struct val seq_of(struct ctx *c, struct val v)
{
	struct val s = seq_new(c);

	if (v.j)
		push(c, s, v.j);
	return s;
}

static bool is_arr(struct val v)
{
	return json_is_array(v.j);
}

static size_t alen(struct val v)
{
	return json_array_size(v.j);
}

static struct val aget(struct val v, size_t i)
{
	return V(json_array_get(v.j, i));
}

static struct fn *fn_of(const struct ctx *c, json_t *j)
{
	json_t *x;
	json_int_t i;

	if (!json_is_object(j) || json_object_size(j) != 1)
		return NULL;
	x = json_object_get(j, FN_KEY);
	if (!json_is_integer(x))
		return NULL;
	i = json_integer_value(x);
	if (i < 0 || i >= c->nfns || c->fns[i]->marker != j)
		return NULL;
	return c->fns[i];
}

static bool is_fn(const struct ctx *c, struct val v)
{
	return fn_of(c, v.j) != NULL;
}

static struct fn *fn_new(struct ctx *c, enum fkind kind)
{
	struct fn *f = calloc_c(c, sizeof(*f));

	if (c->nfns == c->capfns) {
		int cap = c->capfns ? c->capfns * 2 : 32;
		struct fn **a = realloc(c->fns, sizeof(*a) * (size_t)cap);

		if (!a)
			oom(c);
		c->fns = a;
		c->capfns = cap;
	}
	f->kind = kind;
	f->marker = own(c, json_pack("{s:I}", FN_KEY, (json_int_t)c->nfns));
	c->fns[c->nfns++] = f;
	return f;
}

static bool is_num(json_t *j)
{
	return json_is_number(j);
}

static double numv(json_t *j)
{
	return json_number_value(j);
}

/* ------------------------------------------------------------------ strings and numbers */

static void utf8_put(struct buf *b, uint32_t cp)
{
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		buf_putc(b, (char)(0xC0 | (cp >> 6)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_putc(b, (char)(0xE0 | (cp >> 12)));
		buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		buf_putc(b, (char)(0xF0 | (cp >> 18)));
		buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* Decode one UTF-8 code point at s[*i] (input is valid UTF-8: jansson checked it). */
static uint32_t utf8_get(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s + *i;
	uint32_t cp;
	int n;

	if (u[0] < 0x80) {
		cp = u[0];
		n = 1;
	} else if ((u[0] & 0xE0) == 0xC0) {
		cp = u[0] & 0x1F;
		n = 2;
	} else if ((u[0] & 0xF0) == 0xE0) {
		cp = u[0] & 0x0F;
		n = 3;
	} else {
		cp = u[0] & 0x07;
		n = 4;
	}
	if (*i + (size_t)n > len)
		n = (int)(len - *i);
	for (int k = 1; k < n; k++)
		cp = (cp << 6) | (u[k] & 0x3F);
	*i += (size_t)n;
	return cp;
}

/* Code points of a UTF-8 string: count, and byte offset of code point k. */
static size_t u8_count(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static size_t u8_offset(const char *s, size_t len, size_t k)
{
	size_t i = 0;

	while (i < len && k) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		k--;
	}
	return i;
}

/*
 * JavaScript's Number.prototype.toString for finite d: the shortest digits
 * that read back as d, in fixed notation for exponents -7 < e < 21.
 */
static void js_num(char *out, size_t len, double d)
{
	char tmp[40], digits[24];
	int nd = 0, e10;

	if (d == 0) {
		snprintf(out, len, "0");
		return;
	}
	if (!isfinite(d)) {
		snprintf(out, len, "%s", isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	const char *q = tmp;
	bool neg = false;

	if (*q == '-') {
		neg = true;
		q++;
	}
	for (; *q && *q != 'e'; q++)
		if (isdigit((unsigned char)*q))
			digits[nd++] = *q;
	e10 = atoi(q + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = 0;
	int n = e10 + 1;	/* value = 0.digits * 10^n */
	struct buf b;

	buf_init(&b, 1024);
	if (neg)
		buf_putc(&b, '-');
	if (nd <= n && n <= 21) {
		buf_add(&b, digits, (size_t)nd);
		for (int k = nd; k < n; k++)
			buf_putc(&b, '0');
	} else if (0 < n && n <= 21) {
		buf_add(&b, digits, (size_t)n);
		buf_putc(&b, '.');
		buf_add(&b, digits + n, (size_t)(nd - n));
	} else if (-6 < n && n <= 0) {
		buf_add(&b, "0.", 2);
		for (int k = 0; k < -n; k++)
			buf_putc(&b, '0');
		buf_add(&b, digits, (size_t)nd);
	} else {
		buf_putc(&b, digits[0]);
		if (nd > 1) {
			buf_putc(&b, '.');
			buf_add(&b, digits + 1, (size_t)(nd - 1));
		}
		buf_printf(&b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
	}
	snprintf(out, len, "%s", b.data);
	buf_release(&b);
}

/* $string's number form: rounded to 15 significant digits first. */
static void js_num15(char *out, size_t len, double d)
{
	char tmp[40];

	if (d == floor(d) && fabs(d) < 1e17) {
		js_num(out, len, d);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.14e", d);
	js_num(out, len, strtod(tmp, NULL));
}

static void json_str_escape(struct buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		switch (ch) {
		case '"': buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		default:
			if (ch < 0x20)
				buf_printf(b, "\\u%04x", ch);
			else
				buf_putc(b, (char)ch);
		}
	}
	buf_putc(b, '"');
}

/* JSON.stringify with JSONata's replacer: numbers to 15 digits, functions as "". */
static void stringify(struct ctx *c, struct buf *b, json_t *j, int indent, int level)
{
	char tmp[40];
	size_t i;

	if (level > MAX_NEST)
		throw(c, "U1001", -1, "Value nested too deeply");
	if (fn_of(c, j)) {
		buf_add(b, "\"\"", 2);
		return;
	}
	switch (json_typeof(j)) {
	case JSON_NULL: buf_add(b, "null", 4); break;
	case JSON_TRUE: buf_add(b, "true", 4); break;
	case JSON_FALSE: buf_add(b, "false", 5); break;
	case JSON_INTEGER:
	case JSON_REAL:
		js_num15(tmp, sizeof(tmp), numv(j));
		buf_add(b, tmp, strlen(tmp));
		break;
	case JSON_STRING:
		json_str_escape(b, json_string_value(j), json_string_length(j));
		break;
	case JSON_ARRAY:
		buf_putc(b, '[');
		for (i = 0; i < json_array_size(j); i++) {
			if (i)
				buf_putc(b, ',');
			if (indent)
				buf_printf(b, "\n%*s", indent * (level + 1), "");
			stringify(c, b, json_array_get(j, i), indent, level + 1);
		}
		if (indent && i)
			buf_printf(b, "\n%*s", indent * level, "");
		buf_putc(b, ']');
		break;
	case JSON_OBJECT: {
		const char *k;
		json_t *v;
		bool first = true;

		buf_putc(b, '{');
		json_object_foreach(j, k, v) {
			if (!first)
				buf_putc(b, ',');
			first = false;
			if (indent)
				buf_printf(b, "\n%*s", indent * (level + 1), "");
			json_str_escape(b, k, strlen(k));
			buf_putc(b, ':');
			if (indent)
				buf_putc(b, ' ');
			stringify(c, b, v, indent, level + 1);
		}
		if (indent && !first)
			buf_printf(b, "\n%*s", indent * level, "");
		buf_putc(b, '}');
		break;
	}
	}
}

static void buf_free_cb(void *p)
{
	buf_release(p);
	free(p);
}

static struct buf *cbuf(struct ctx *c)
{
	struct buf *b = malloc(sizeof(*b));

	if (!b)
		oom(c);
	buf_init(b, MAX_STRING);
	defer(c, buf_free_cb, b);
	return b;
}

static struct val buf_val(struct ctx *c, struct buf *b)
{
	if (b->len >= MAX_STRING - 1)
		throw(c, "D1004", -1, "String too long");
	return strn(c, b->data, b->len);
}

/* $string(v): undefined stays undefined */
static struct val to_string(struct ctx *c, struct val v, bool pretty)
{
	struct buf *b;

	if (!v.j)
		return UNDEF;
	if (json_is_string(v.j))
		return v;
	if (is_fn(c, v))
		return str(c, "");
	if (is_num(v.j) && !isfinite(numv(v.j)))
		throw(c, "D3001", -1, "Attempting to invoke string function on Infinity or NaN");
	if ((v.f & F_OUTER) && alen(v) == 1)
		v = aget(v, 0);
	b = cbuf(c);
	stringify(c, b, v.j, pretty ? 2 : 0, 0);
	return buf_val(c, b);
}

static bool deep_equal_d(json_t *a, json_t *b, int depth);

static bool deep_equal(json_t *a, json_t *b)
{
	return deep_equal_d(a, b, 0);
}

/* values nested deeper than MAX_NEST compare unequal rather than exhaust the stack */
static bool deep_equal_d(json_t *a, json_t *b, int depth)
{
	if (depth > MAX_NEST)
		return false;
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (is_num(a) && is_num(b))
		return numv(a) == numv(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!deep_equal_d(json_array_get(a, i), json_array_get(b, i), depth + 1))
				return false;
		return true;
	case JSON_OBJECT: {
		const char *k;
		json_t *v;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach(a, k, v)
			if (!deep_equal_d(v, json_object_get(b, k), depth + 1))
				return false;
		return true;
	}
	default:
		return true;
	}
}

/* fn.boolean: JSONata truthiness; undefined -> false here */
static bool truthy_d(const struct ctx *c, json_t *j, int depth);

static bool truthy(const struct ctx *c, json_t *j)
{
	return truthy_d(c, j, 0);
}

static bool truthy_d(const struct ctx *c, json_t *j, int depth)
{
	if (!j || depth > MAX_NEST)
		return false;
	switch (json_typeof(j)) {
	case JSON_ARRAY:
		if (json_array_size(j) == 1)
			return truthy_d(c, json_array_get(j, 0), depth + 1);
		for (size_t i = 0; i < json_array_size(j); i++)
			if (truthy_d(c, json_array_get(j, i), depth + 1))
				return true;
		return false;
	case JSON_STRING: return json_string_length(j) > 0;
	case JSON_INTEGER:
	case JSON_REAL: return numv(j) != 0;
	case JSON_OBJECT: return !fn_of(c, j) && json_object_size(j) > 0;
	case JSON_TRUE: return true;
	default: return false;
	}
}

/* fn.append */
static struct val append(struct ctx *c, struct val a, struct val b)
{
	struct val r;

	if (!a.j)
		return b;
	if (!b.j)
		return a;
	r = seq_new(c);
	if (is_arr(a)) {
		for (size_t i = 0; i < alen(a); i++)
			push(c, r, json_array_get(a.j, i));
		r.f = a.f & ~(unsigned)F_CONS;
		if (!(a.f & F_SEQ))
			r.f = 0;
	} else {
		push(c, r, a.j);
	}
	if (is_arr(b)) {
		for (size_t i = 0; i < alen(b); i++)
			push(c, r, json_array_get(b.j, i));
	} else {
		push(c, r, b.j);
	}
	return r;
}

static const char *type_sym(const struct ctx *c, json_t *j)
{
	if (!j)
		return "m";
	switch (json_typeof(j)) {
	case JSON_STRING: return "s";
	case JSON_INTEGER:
	case JSON_REAL: return "n";
	case JSON_TRUE:
	case JSON_FALSE: return "b";
	case JSON_NULL: return "l";
	case JSON_ARRAY: return "a";
	default: return fn_of(c, j) ? "f" : "o";
	}
}

/* ------------------------------------------------------------------ environment */

static struct frame *frame_new(struct ctx *c, struct frame *parent)
{
	struct frame *f = calloc_c(c, sizeof(*f));

	f->parent = parent;
	return f;
}

static void bind(struct ctx *c, struct frame *f, const char *name, struct val v)
{
	for (int i = 0; i < f->n; i++) {
		if (!strcmp(f->names[i], name)) {
			f->vals[i] = v;
			return;
		}
	}
	if (f->n == f->cap) {
		int cap = f->cap ? f->cap * 2 : 4;
		const char **names = calloc_c(c, sizeof(*names) * (size_t)cap);
		struct val *vals = calloc_c(c, sizeof(*vals) * (size_t)cap);

		if (f->n) {
			memcpy(names, f->names, sizeof(*names) * (size_t)f->n);
			memcpy(vals, f->vals, sizeof(*vals) * (size_t)f->n);
		}
		f->names = names;
		f->vals = vals;
		f->cap = cap;
	}
	f->names[f->n] = name;
	f->vals[f->n++] = v;
}

static int builtin_find(const char *name, unsigned flags);
static struct val builtin_val(struct ctx *c, int idx);

static bool lookup_var(struct ctx *c, struct frame *f, const char *name, struct val *ret)
{
	int b;

	for (; f; f = f->parent) {
		for (int i = f->n - 1; i >= 0; i--) {
			if (!strcmp(f->names[i], name)) {
				*ret = f->vals[i];
				return true;
			}
		}
	}
	b = builtin_find(name, c->expr->flags);
	if (b >= 0) {
		*ret = builtin_val(c, b);
		return true;
	}
	return false;
}

static struct frame *frame_from_tuple(struct ctx *c, struct frame *env, json_t *tuple)
{
	struct frame *f = frame_new(c, env);
	const char *k;
	json_t *v;

	json_object_foreach(tuple, k, v) {
		if (strcmp(k, "@"))
			bind(c, f, cstrdup(c, k), V(v));
	}
	return f;
}

/* ------------------------------------------------------------------ evaluator */

static struct val eval(struct ctx *c, struct node *n, struct val in, struct frame *env);
static struct val apply(struct ctx *c, struct val proc, struct val *args, int nargs, struct val in,
			struct frame *env, long pos, const char *name);

static void check_limits(struct ctx *c, long pos)
{
	char probe;

	if (c->depth > MAX_EVAL_DEPTH || (size_t)(c->stack_base - &probe) > MAX_STACK_BYTES)
		throw(c, "U1001", pos, "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.");
	if (++c->ticks >= c->next_tick) {
		c->next_tick = c->ticks + 1024;
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - c->start.tv_sec) * 1000 + (now.tv_nsec - c->start.tv_nsec) / 1000000;

		if (ms > c->time_ms)
			throw(c, "U1001", pos, "Expression evaluation timeout: Check for infinite loop");
	}
}

static struct val lookup_field_d(struct ctx *c, json_t *in, const char *key, int depth);

static struct val lookup_field(struct ctx *c, json_t *in, const char *key)
{
	return lookup_field_d(c, in, key, 0);
}

static struct val lookup_field_d(struct ctx *c, json_t *in, const char *key, int depth)
{
	if (json_is_array(in)) {
		struct val r = seq_new(c);

		if (depth > MAX_NEST)
			throw(c, "U1001", -1, "Value nested too deeply");
		for (size_t i = 0; i < json_array_size(in); i++) {
			struct val x = lookup_field_d(c, json_array_get(in, i), key, depth + 1);

			if (!x.j)
				continue;
			if (json_is_array(x.j)) {
				for (size_t k = 0; k < json_array_size(x.j); k++)
					push(c, r, json_array_get(x.j, k));
			} else {
				push(c, r, x.j);
			}
		}
		return r;
	}
	if (json_is_object(in) && !fn_of(c, in))
		return V(json_object_get(in, key));
	return UNDEF;
}

static void flatten_d(struct ctx *c, struct val r, json_t *v, int depth)
{
	if (depth > MAX_NEST)
		throw(c, "U1001", -1, "Value nested too deeply");
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			flatten_d(c, r, json_array_get(v, i), depth + 1);
	} else {
		push(c, r, v);
	}
}

static void flatten_into(struct ctx *c, struct val r, json_t *v)
{
	flatten_d(c, r, v, 0);
}

static struct val eval_wildcard(struct ctx *c, struct val in)
{
	struct val r = seq_new(c);
	const char *k;
	json_t *v;

	if ((in.f & F_OUTER) && alen(in) > 0)
		in = aget(in, 0);
	if (json_is_object(in.j) && !fn_of(c, in.j)) {
		json_object_foreach(in.j, k, v)
			flatten_into(c, r, v);
	} else if (json_is_array(in.j)) {
		for (size_t i = 0; i < json_array_size(in.j); i++)
			flatten_into(c, r, json_array_get(in.j, i));
	}
	return r;
}

static void descend(struct ctx *c, json_t *in, struct val r, int depth)
{
	const char *k;
	json_t *v;

	if (depth > MAX_NEST)
		throw(c, "U1001", -1, "Value nested too deeply");
	if (!json_is_array(in))
		push(c, r, in);
	if (json_is_array(in)) {
		for (size_t i = 0; i < json_array_size(in); i++)
			descend(c, json_array_get(in, i), r, depth + 1);
	} else if (json_is_object(in) && !fn_of(c, in)) {
		json_object_foreach(in, k, v)
			descend(c, v, r, depth + 1);
	}
}

static struct val eval_descendants(struct ctx *c, struct val in)
{
	struct val r;

	if (!in.j)
		return UNDEF;
	r = seq_new(c);
	descend(c, in.j, r, 0);
	if (alen(r) == 1)
		return aget(r, 0);
	return r;
}

static bool all_numbers(json_t *a)
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (!is_num(json_array_get(a, i)))
			return false;
	return true;
}

static struct val eval_filter(struct ctx *c, struct node *pred, struct val in, struct frame *env)
{
	struct val r = seq_new(c);
	struct val arr = is_arr(in) ? in : seq_of(c, in);
	size_t n = alen(arr);

	if (in.f & F_TUPLE)
		r.f |= F_TUPLE;
	if (pred->type == N_NUMBER) {
		double idx = floor(pred->num);

		if (idx < 0)
			idx += (double)n;
		if (idx >= 0 && idx < (double)n) {
			json_t *item = json_array_get(arr.j, (size_t)idx);

			if (json_is_array(item))
				return V(item);
			push(c, r, item);
		}
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(arr.j, i);
		struct val ctxv = V(item);
		struct frame *e = env;
		struct val res;

		if (in.f & F_TUPLE) {
			ctxv = V(json_object_get(item, "@"));
			e = frame_from_tuple(c, env, item);
		}
		res = eval(c, pred, ctxv, e);
		if (is_num(res.j)) {
			double k = floor(numv(res.j));

			if (k < 0)
				k += (double)n;
			if (k == (double)i)
				push(c, r, item);
		} else if (is_arr(res) && alen(res) && all_numbers(res.j)) {
			for (size_t m = 0; m < alen(res); m++) {
				double k = floor(numv(json_array_get(res.j, m)));

				if (k < 0)
					k += (double)n;
				if (k == (double)i)
					push(c, r, item);
			}
		} else if (truthy(c, res.j)) {
			push(c, r, item);
		}
	}
	return r;
}

static struct val eval_sort(struct ctx *c, struct node *n, struct val in, struct frame *env);
static struct val eval_group(struct ctx *c, struct node *obj, struct val in, struct frame *env);

static struct val eval_stages(struct ctx *c, struct node *step, struct val in, struct frame *env)
{
	struct val r = in;

	for (int s = 0; s < step->nstages; s++) {
		struct node *st = step->stages[s];

		if (st->type == N_FILTER) {
			r = eval_filter(c, st->lhs, r, env);
		} else if (is_arr(r)) {
			/* index binding on a tuple stream: tuples are ours, fresh */
			for (size_t i = 0; i < alen(r); i++)
				json_object_set_new(json_array_get(r.j, i), st->str, json_integer((json_int_t)i));
		}
	}
	return r;
}

/* @single: @in is the one item of the input sequence (kept with its flags, maybe undefined) */
static struct val eval_step(struct ctx *c, struct node *step, struct val in, struct frame *env, bool last,
			    bool single)
{
	struct val *res, r;
	size_t n = single ? 1 : alen(in), nres = 0;

	if (step->type == N_SORT) {
		r = eval_sort(c, step, single ? seq_of(c, in) : in, env);
		if (step->nstages)
			r = eval_stages(c, step, r, env);
		return r;
	}
	res = calloc_c(c, sizeof(*res) * (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		struct val x = eval(c, step, single ? in : aget(in, i), env);

		for (int s = 0; s < step->nstages; s++)
			if (step->stages[s]->type == N_FILTER)
				x = eval_filter(c, step->stages[s]->lhs, x, env);
		if (x.j)
			res[nres++] = x;
	}
	if (last && nres == 1 && is_arr(res[0]) && !(res[0].f & F_SEQ))
		return res[0];
	r = seq_new(c);
	for (size_t i = 0; i < nres; i++) {
		if (!is_arr(res[i]) || (res[i].f & F_CONS)) {
			push(c, r, res[i].j);
		} else {
			for (size_t k = 0; k < alen(res[i]); k++)
				push(c, r, json_array_get(res[i].j, k));
		}
	}
	return r;
}

static json_t *tuple_copy(struct ctx *c, json_t *t)
{
	return own(c, json_copy(t));
}

static struct val eval_tuple_step(struct ctx *c, struct node *step, struct val in, struct val tuples,
				  struct frame *env, bool single)
{
	struct val r;

	if (step->type == N_SORT) {
		if (tuples.j) {
			r = eval_sort(c, step, tuples, env);
		} else {
			struct val sorted = eval_sort(c, step, single ? seq_of(c, in) : in, env);

			r = seq_new(c);
			r.f |= F_TUPLE;
			for (size_t i = 0; i < alen(sorted); i++) {
				json_t *t = own(c, json_object());

				json_object_set(t, "@", json_array_get(sorted.j, i));
				if (step->index)
					json_object_set_new(t, step->index, json_integer((json_int_t)i));
				push(c, r, t);
			}
		}
		if (step->nstages)
			r = eval_stages(c, step, r, env);
		return r;
	}
	r = seq_new(c);
	r.f |= F_TUPLE;
	if (!tuples.j) {
		tuples = seq_new(c);
		for (size_t i = 0; i < (single ? 1 : alen(in)); i++) {
			json_t *t = own(c, json_object());

			if (single ? in.j != NULL : true)
				json_object_set(t, "@", single ? in.j : json_array_get(in.j, i));
			push(c, tuples, t);
		}
	} else {
		single = false;
	}
	for (size_t e = 0; e < alen(tuples); e++) {
		json_t *tup = json_array_get(tuples.j, e);
		struct frame *senv = frame_from_tuple(c, env, tup);
		/* the first step sees the context value itself, flags and all */
		struct val res = eval(c, step, single ? in : V(json_object_get(tup, "@")), senv);

		if (!res.j)
			continue;
		if (!is_arr(res))
			res = seq_of(c, res);
		for (size_t b = 0; b < alen(res); b++) {
			json_t *t = tuple_copy(c, tup);

			if (res.f & F_TUPLE) {
				json_object_update(t, json_array_get(res.j, b));
			} else {
				if (step->focus) {
					json_object_set(t, step->focus, json_array_get(res.j, b));
				} else {
					json_object_set(t, "@", json_array_get(res.j, b));
				}
				if (step->index)
					json_object_set_new(t, step->index, json_integer((json_int_t)b));
				if (step->ancestor) {
					json_t *at = single ? in.j : json_object_get(tup, "@");

					if (at)
						json_object_set(t, step->ancestor->label, at);
				}
			}
			push(c, r, t);
		}
	}
	if (step->nstages)
		r = eval_stages(c, step, r, env);
	return r;
}

static struct val eval_path(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val inseq, res = UNDEF, tuples = UNDEF;
	bool tuple = false, single = false;

	if (is_arr(in) && n->items[0]->type != N_VAR) {
		inseq = in;
	} else if (!n->items[0]->consarray) {
		inseq = in;	/* createSequence(in): the first step runs on it once */
		single = true;
	} else {
		inseq = seq_of(c, in);
	}
	for (int k = 0; k < n->nitems; k++) {
		struct node *step = n->items[k];

		if (step->tuple)
			tuple = true;
		if (k == 0 && step->consarray)
			res = eval(c, step, inseq, env);
		else if (tuple)
			tuples = eval_tuple_step(c, step, inseq, tuples, env, single && k == 0);
		else
			res = eval_step(c, step, inseq, env, k == n->nitems - 1, single && k == 0);
		if (!tuple && (!res.j || (is_arr(res) && alen(res) == 0)))
			break;
		if (!step->focus)
			inseq = res;
	}
	if (tuple && n->tuple) {
		res = tuples;	/* the tuples carry ancestors for an enclosing path */
	} else if (tuple) {
		res = seq_new(c);
		for (size_t i = 0; i < alen(tuples); i++) {
			json_t *x = json_object_get(json_array_get(tuples.j, i), "@");

			if (x)
				push(c, res, x);
		}
	}
	if (n->keep_singleton && is_arr(res)) {
		if ((res.f & F_CONS) && !(res.f & F_SEQ))
			res = seq_of(c, res);
		res.f |= F_KEEP;
	}
	if (n->group)
		res = eval_group(c, n->group, tuple ? tuples : res, env);
	return res;
}

static double need_num(struct ctx *c, struct node *n, struct val v, const char *code, const char *side)
{
	if (!is_num(v.j))
		throw(c, code, n->pos, "The %s side of the \"%s\" operator must evaluate to a number", side, n->str);
	return numv(v.j);
}

static bool comparable(json_t *j)
{
	return !j || json_is_string(j) || is_num(j);
}

static struct val eval_binary(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val l = eval(c, n->lhs, in, env), r;
	double a, b, x;

	switch (n->op) {
	case OP_AND:
		if (!truthy(c, l.j))
			return boolean_v(false);
		return boolean_v(truthy(c, eval(c, n->rhs, in, env).j));
	case OP_OR:
		if (truthy(c, l.j))
			return boolean_v(true);
		return boolean_v(truthy(c, eval(c, n->rhs, in, env).j));
	case OP_ELVIS:
		if (truthy(c, l.j))
			return l;
		return eval(c, n->rhs, in, env);
	case OP_COALESCE:
		if (l.j)
			return l;
		return eval(c, n->rhs, in, env);
	default:
		break;
	}
	r = eval(c, n->rhs, in, env);
	switch (n->op) {
	case OP_PLUS: case OP_MINUS: case OP_MUL: case OP_DIV: case OP_MOD:
		if (l.j)
			need_num(c, n, l, "T2001", "left");
		if (r.j)
			need_num(c, n, r, "T2002", "right");
		if (!l.j || !r.j)
			return UNDEF;
		a = numv(l.j);
		b = numv(r.j);
		switch (n->op) {
		case OP_PLUS: x = a + b; break;
		case OP_MINUS: x = a - b; break;
		case OP_MUL: x = a * b; break;
		case OP_DIV: x = a / b; break;
		default: x = fmod(a, b); break;
		}
		if (!isfinite(x))
			throw(c, "D1001", n->pos, "Number out of range");
		return num(c, x);
	case OP_EQ:
	case OP_NE:
		if (!l.j || !r.j)
			return boolean_v(false);
		return boolean_v(deep_equal(l.j, r.j) == (n->op == OP_EQ));
	case OP_LT: case OP_LE: case OP_GT: case OP_GE: {
		int cmp;

		if (!comparable(l.j) || !comparable(r.j))
			throw(c, "T2010", n->pos, "The expressions either side of operator \"%s\" must evaluate to numeric or string values", n->str);
		if (!l.j || !r.j)
			return UNDEF;
		if (is_num(l.j) != is_num(r.j))
			throw(c, "T2009", n->pos, "The values either side of operator \"%s\" must be of the same data type", n->str);
		if (is_num(l.j)) {
			a = numv(l.j);
			b = numv(r.j);
			cmp = a < b ? -1 : a > b ? 1 : 0;
		} else {
			cmp = strcmp(json_string_value(l.j), json_string_value(r.j));
		}
		switch (n->op) {
		case OP_LT: return boolean_v(cmp < 0);
		case OP_LE: return boolean_v(cmp <= 0);
		case OP_GT: return boolean_v(cmp > 0);
		default: return boolean_v(cmp >= 0);
		}
	}
	case OP_CONCAT: {
		struct val ls = to_string(c, l, false), rs = to_string(c, r, false);
		struct buf *bb = cbuf(c);

		if (ls.j)
			buf_add(bb, json_string_value(ls.j), json_string_length(ls.j));
		if (rs.j)
			buf_add(bb, json_string_value(rs.j), json_string_length(rs.j));
		return buf_val(c, bb);
	}
	case OP_IN:
		if (!l.j || !r.j)
			return boolean_v(false);
		if (!is_arr(r))
			return boolean_v(deep_equal(l.j, r.j) && !json_is_array(l.j) && !json_is_object(l.j));
		for (size_t i = 0; i < alen(r); i++) {
			json_t *e = json_array_get(r.j, i);

			if (deep_equal(e, l.j) && !json_is_array(e) && !json_is_object(e))
				return boolean_v(true);
		}
		return boolean_v(false);
	case OP_RANGE: {
		struct val out;

		if (l.j && (!is_num(l.j) || numv(l.j) != floor(numv(l.j))))
			throw(c, "T2003", n->pos, "The left side of the range operator (..) must evaluate to an integer");
		if (r.j && (!is_num(r.j) || numv(r.j) != floor(numv(r.j))))
			throw(c, "T2004", n->pos, "The right side of the range operator (..) must evaluate to an integer");
		if (!l.j || !r.j)
			return UNDEF;
		a = numv(l.j);
		b = numv(r.j);
		if (a > b)
			return UNDEF;
		if (b - a >= MAX_RANGE)
			throw(c, "D2014", n->pos, "The size of the sequence allocated by the range operator (..) must not exceed 1e7");
		c->units += (size_t)(b - a + 1);
		if (c->units > MAX_VALUES)
			throw(c, "U1001", n->pos, "Evaluation used too much memory");
		out = seq_new(c);
		for (size_t i = 0, cnt = (size_t)(b - a) + 1; i < cnt; i++) {
			double k = a + (double)i;

			if (json_array_append_new(out.j, fabs(k) < 9007199254740992.0 ? json_integer((json_int_t)k) : json_real(k)) < 0)
				oom(c);
		}
		return out;
	}
	default:
		throw(c, "S0201", n->pos, "Syntax error");
	}
}

static struct val eval_array(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val r = { own(c, json_array()), 0 };

	for (int i = 0; i < n->nitems; i++) {
		struct node *item = n->items[i];
		struct val v = eval(c, item, in, env);

		if (!v.j)
			continue;
		if (item->type == N_ARRAY) {
			push(c, r, v.j);
		} else if (is_arr(v)) {
			for (size_t k = 0; k < alen(v); k++)
				push(c, r, json_array_get(v.j, k));
		} else {
			push(c, r, v.j);
		}
	}
	if (n->consarray)
		r.f |= F_CONS;
	return r;
}

/* reduceTupleStream: merge the bindings of a group of tuples */
static json_t *reduce_tuples(struct ctx *c, struct val data)
{
	json_t *r;

	if (!is_arr(data))
		return data.j;
	r = tuple_copy(c, json_array_get(data.j, 0));
	for (size_t i = 1; i < alen(data); i++) {
		const char *k;
		json_t *v;

		json_object_foreach(json_array_get(data.j, i), k, v) {
			struct val m = append(c, V(json_object_get(r, k)), V(v));

			json_object_set(r, k, m.j);
		}
	}
	return r;
}

struct group_entry {
	struct val data;
	int pair;
};

static struct val eval_group(struct ctx *c, struct node *obj, struct val in, struct frame *env)
{
	bool reduce = (in.f & F_TUPLE) != 0;
	struct val arr = is_arr(in) ? in : seq_of(c, in);
	json_t *index = own(c, json_object());
	struct group_entry *ents;
	size_t nent = 0, n = alen(arr);
	json_t *result = own(c, json_object());
	const char *k;
	json_t *iv;

	ents = calloc_c(c, sizeof(*ents) * ((n ? n : 1) * (size_t)(obj->nitems / 2) + 1));
	for (size_t i = 0; i < (n ? n : 1); i++) {
		json_t *item = n ? json_array_get(arr.j, i) : NULL;
		struct frame *e = reduce ? frame_from_tuple(c, env, item) : env;

		for (int p = 0; p < obj->nitems; p += 2) {
			struct val key = eval(c, obj->items[p], V(reduce ? json_object_get(item, "@") : item), e);
			json_t *slot;

			if (!key.j)
				continue;
			if (!json_is_string(key.j))
				throw(c, "T1003", obj->pos, "Key in object structure must evaluate to a string; got: %s", type_sym(c, key.j));
			slot = json_object_get(index, json_string_value(key.j));
			if (slot) {
				struct group_entry *g = &ents[json_integer_value(slot)];

				if (g->pair != p)
					throw(c, "D1009", obj->pos, "Multiple key definitions evaluate to same key: \"%s\"", json_string_value(key.j));
				g->data = append(c, g->data, V(item));
			} else {
				ents[nent].data = V(item);
				ents[nent].pair = p;
				json_object_set_new(index, json_string_value(key.j), json_integer((json_int_t)nent));
				nent++;
			}
		}
	}
	json_object_foreach(index, k, iv) {
		struct group_entry *g = &ents[json_integer_value(iv)];
		struct val ctxv = g->data;
		struct frame *e = env;
		struct val v;

		if (reduce) {
			json_t *t = reduce_tuples(c, g->data);

			ctxv = V(json_object_get(t, "@"));
			e = frame_from_tuple(c, env, t);
		}
		v = eval(c, obj->items[g->pair + 1], ctxv, e);
		if (v.j)
			json_object_set(result, k, v.j);
	}
	return V(result);
}

struct sort_ctx {
	struct ctx *c;
	struct node *n;
	struct val **keys;	/* keys[item][term] */
};

static int sort_cmp(struct sort_ctx *s, size_t a, size_t b)
{
	for (int t = 0; t < s->n->nitems; t++) {
		json_t *x = s->keys[a][t].j, *y = s->keys[b][t].j;
		int comp;

		if (!x) {
			if (!y)
				continue;
			return 1;
		}
		if (!y)
			return -1;
		if (!comparable(x) || !comparable(y))
			throw(s->c, "T2008", s->n->pos, "The expressions within an order-by clause must evaluate to numeric or string values");
		if (is_num(x) != is_num(y))
			throw(s->c, "T2007", s->n->pos, "Type mismatch within order-by clause. All values must be of the same type");
		if (is_num(x))
			comp = numv(x) < numv(y) ? -1 : numv(x) > numv(y) ? 1 : 0;
		else
			comp = strcmp(json_string_value(x), json_string_value(y));
		if (!comp)
			continue;
		comp = comp < 0 ? -1 : 1;
		if (s->n->items[t]->descending)
			comp = -comp;
		return comp;
	}
	return 0;
}

/* stable merge sort of idx[0..n) with a comparator that may throw */
static void msort(size_t *idx, size_t *tmp, size_t n, int (*cmp)(void *, size_t, size_t), void *arg)
{
	size_t m = n / 2, i = 0, j = m, k = 0;

	if (n < 2)
		return;
	msort(idx, tmp, m, cmp, arg);
	msort(idx + m, tmp, n - m, cmp, arg);
	while (i < m && j < n) {
		if (cmp(arg, idx[j], idx[i]) < 0)
			tmp[k++] = idx[j++];
		else
			tmp[k++] = idx[i++];
	}
	while (i < m)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(*idx));
}

static int sort_cmp_cb(void *arg, size_t a, size_t b)
{
	return sort_cmp(arg, a, b);
}

static struct val eval_sort(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val arr = is_arr(in) ? in : seq_of(c, in), r;
	size_t cnt = alen(arr), *idx, *tmp;
	struct sort_ctx s = { c, n, NULL };
	bool tup = (in.f & F_TUPLE) != 0;

	s.keys = calloc_c(c, sizeof(*s.keys) * (cnt + 1));
	idx = calloc_c(c, sizeof(*idx) * (cnt + 1));
	tmp = calloc_c(c, sizeof(*tmp) * (cnt + 1));
	for (size_t i = 0; i < cnt; i++) {
		json_t *item = json_array_get(arr.j, i);
		struct frame *e = env;
		struct val ctxv = V(item);

		if (tup) {
			ctxv = V(json_object_get(item, "@"));
			e = frame_from_tuple(c, env, item);
		}
		s.keys[i] = calloc_c(c, sizeof(struct val) * (size_t)(n->nitems + 1));
		for (int t = 0; t < n->nitems; t++)
			s.keys[i][t] = eval(c, n->items[t]->lhs, ctxv, e);
		idx[i] = i;
	}
	msort(idx, tmp, cnt, sort_cmp_cb, &s);
	r = seq_new(c);
	if (tup)
		r.f |= F_TUPLE;
	for (size_t i = 0; i < cnt; i++)
		push(c, r, json_array_get(arr.j, idx[i]));
	return r;
}

static const char *call_name(struct node *n)
{
	struct node *p = n->lhs;

	if (p->type == N_PATH && p->nitems)
		return p->items[0]->str ? p->items[0]->str : "";
	return p->str ? p->str : "";
}

static struct val eval_call(struct ctx *c, struct node *n, struct val in, struct frame *env, struct val *applyto)
{
	struct val proc = eval(c, n->lhs, in, env), *args, dummy;
	int nargs = 0;

	if (!proc.j && n->lhs->type == N_PATH && n->lhs->items[0]->type == N_NAME &&
	    lookup_var(c, env, n->lhs->items[0]->str, &dummy))
		throw(c, "T1005", n->pos, "Attempted to invoke a non-function. Did you mean '$%s'?", n->lhs->items[0]->str);
	if (!proc.j && n->lhs->type == N_VAR && !strcmp(n->lhs->str, "eval") && (c->expr->flags & JSONATA_ASL))
		throw(c, "T1006", n->pos, "Attempted to invoke a non-function: $eval is not available in Step Functions");
	args = calloc_c(c, sizeof(*args) * (size_t)(n->nitems + 2));
	if (applyto)
		args[nargs++] = *applyto;
	for (int i = 0; i < n->nitems; i++)
		args[nargs++] = eval(c, n->items[i], in, env);
	return apply(c, proc, args, nargs, in, env, n->pos, call_name(n));
}

static struct val eval_partial(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val proc, dummy;
	struct fn *f, *target;

	struct val *args = calloc_c(c, sizeof(*args) * (size_t)(n->nitems + 1));

	for (int i = 0; i < n->nitems; i++) {
		if (n->items[i]->type == N_PLACEHOLDER)
			args[i].f = 1;
		else
			args[i] = eval(c, n->items[i], in, env);
	}
	proc = eval(c, n->lhs, in, env);
	if (!proc.j && n->lhs->type == N_PATH && n->lhs->items[0]->type == N_NAME &&
	    lookup_var(c, env, n->lhs->items[0]->str, &dummy))
		throw(c, "T1007", n->pos, "Attempted to partially apply a non-function. Did you mean '$%s'?", n->lhs->items[0]->str);
	target = fn_of(c, proc.j);
	if (!target)
		throw(c, "T1008", n->pos, "Attempted to partially apply a non-function");
	f = fn_new(c, FK_PARTIAL);
	f->target = proc;
	f->args = args;
	f->nargs = n->nitems;
	return V(f->marker);
}

static struct val eval_lambda(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct fn *f = fn_new(c, FK_LAMBDA);

	f->node = n;
	f->env = env;
	f->input = in;
	return V(f->marker);
}

static struct val eval_apply(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val l = eval(c, n->lhs, in, env), fnv;

	if (n->rhs->type == N_CALL)
		return eval_call(c, n->rhs, in, env, &l);
	fnv = eval(c, n->rhs, in, env);
	if (!is_fn(c, fnv))
		throw(c, "T2006", n->pos, "The right side of the function application operator ~> must be a function");
	if (is_fn(c, l)) {
		struct fn *f = fn_new(c, FK_CHAIN);

		f->target = l;
		f->second = fnv;
		return V(f->marker);
	}
	return apply(c, fnv, &l, 1, in, env, n->pos, "");
}

static struct val eval_var(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val r;

	if (!n->str[0]) {
		if ((in.f & F_OUTER) && alen(in))
			return aget(in, 0);
		return in;
	}
	if (lookup_var(c, env, n->str, &r))
		return r;
	return UNDEF;
}

static struct val eval(struct ctx *c, struct node *n, struct val in, struct frame *env)
{
	struct val r = UNDEF;

	c->depth++;
	check_limits(c, n->pos);
	switch (n->type) {
	case N_PATH: r = eval_path(c, n, in, env); break;
	case N_BINARY: r = eval_binary(c, n, in, env); break;
	case N_NEG:
		r = eval(c, n->lhs, in, env);
		if (r.j) {
			if (!is_num(r.j))
				throw(c, "D1002", n->pos, "Cannot negate a non-numeric value");
			r = num(c, -numv(r.j));
		}
		break;
	case N_ARRAY: r = eval_array(c, n, in, env); break;
	case N_OBJECT: r = eval_group(c, n, in, env); break;
	case N_NAME: r = lookup_field(c, in.j, n->str); break;
	case N_STRING:
	case N_NUMBER:
	case N_VALUE: r = V(n->lit); break;
	case N_WILDCARD: r = eval_wildcard(c, in); break;
	case N_DESCENDANT: r = eval_descendants(c, in); break;
	case N_CONDITION:
		if (truthy(c, eval(c, n->lhs, in, env).j))
			r = eval(c, n->rhs, in, env);
		else if (n->third)
			r = eval(c, n->third, in, env);
		break;
	case N_BLOCK: {
		struct frame *f = frame_new(c, env);

		for (int i = 0; i < n->nitems; i++)
			r = eval(c, n->items[i], in, f);
		break;
	}
	case N_BIND:
		r = eval(c, n->rhs, in, env);
		bind(c, env, n->lhs->str, r);
		break;
	case N_REGEX: {
		struct fn *f = fn_new(c, FK_REGEX);

		f->node = n;
		r = V(f->marker);
		break;
	}
	case N_CALL:
		if (n->thunk && !n->group) {
			/* a tail call: apply() makes it once this body has returned */
			c->tail.node = n;
			c->tail.env = env;
			c->tail.input = in;
			r = V(c->tail_marker);
		} else {
			r = eval_call(c, n, in, env, NULL);
		}
		break;
	case N_VAR: r = eval_var(c, n, in, env); break;
	case N_PARENT:
		if (!lookup_var(c, env, n->slot->label, &r))
			r = UNDEF;
		break;
	case N_LAMBDA: r = eval_lambda(c, n, in, env); break;
	case N_PARTIAL: r = eval_partial(c, n, in, env); break;
	case N_APPLY: r = eval_apply(c, n, in, env); break;
	case N_TRANSFORM: {
		struct fn *f = fn_new(c, FK_TRANSFORM);

		f->node = n;
		f->env = env;
		r = V(f->marker);
		break;
	}
	case N_PLACEHOLDER:
		throw(c, "S0201", n->pos, "Syntax error: \"?\"");
	default:
		throw(c, "S0201", n->pos, "Unsupported expression");
	}
	for (int i = 0; i < n->npred; i++)
		r = eval_filter(c, n->pred[i]->lhs, r, env);
	if (n->type != N_PATH && n->group)
		r = eval_group(c, n->group, r, env);
	if (r.j && (r.f & F_SEQ) && !(r.f & F_TUPLE)) {
		if (n->keep_array)
			r.f |= F_KEEP;
		if (alen(r) == 0)
			r = UNDEF;
		else if (alen(r) == 1 && !(r.f & F_KEEP))
			r = aget(r, 0);
	}
	c->depth--;
	return r;
}

/* ------------------------------------------------------------------ function application */

typedef struct val (*builtin_fn)(struct ctx *c, struct val *a, int n, struct val in, const char *name);

struct builtin {
	const char *name;
	const char *sig;
	builtin_fn fn;
	unsigned flags;	/* 1: ASL only, 2: not in ASL */
};

static const struct builtin builtins[];
static const int nbuiltins;

static bool sym_in(const struct sigparam *p, char sym)
{
	return strchr(p->types, sym) != NULL;
}

/* Regex-like match of the argument symbols against the parameters, greedy with backtracking. */
static bool sig_match(const struct sig *s, int pi, int upto, const char *syms, int si, int *spans, int *ret_end)
{
	int len = (int)strlen(syms);

	if (pi == upto) {
		if (upto == s->n && si != len)
			return false;
		*ret_end = si;
		return true;
	}
	const struct sigparam *p = &s->p[pi];

	if (p->quant == '+') {
		int k = 0;

		while (si + k < len && sym_in(p, syms[si + k]))
			k++;
		for (; k >= 1; k--) {
			spans[pi] = k;
			if (sig_match(s, pi + 1, upto, syms, si + k, spans, ret_end))
				return true;
		}
		return false;
	}
	if (p->quant == '?' || p->context) {
		if (si < len && sym_in(p, syms[si])) {
			spans[pi] = 1;
			if (sig_match(s, pi + 1, upto, syms, si + 1, spans, ret_end))
				return true;
		}
		spans[pi] = 0;
		return sig_match(s, pi + 1, upto, syms, si, spans, ret_end);
	}
	if (si < len && sym_in(p, syms[si])) {
		spans[pi] = 1;
		return sig_match(s, pi + 1, upto, syms, si + 1, spans, ret_end);
	}
	return false;
}

static int validate(struct ctx *c, const struct sig *s, struct val *args, int nargs, struct val in,
		    const char *name, long pos, struct val *out)
{
	char syms[64];
	int spans[16], end, ai = 0, no = 0;

	if (nargs > 60)
		throw(c, "T0410", pos, "Too many arguments to function %s", name);
	for (int i = 0; i < nargs; i++)
		syms[i] = type_sym(c, args[i].j)[0];
	syms[nargs] = 0;
	if (!sig_match(s, 0, s->n, syms, 0, spans, &end)) {
		int good = 0;

		for (int k = 1; k <= s->n; k++) {
			if (!sig_match(s, 0, k, syms, 0, spans, &end))
				break;
			good = end;
		}
		throw(c, "T0410", pos, "Argument %d of function %s does not match function signature", good + 1, name);
	}
	for (int pi = 0; pi < s->n; pi++) {
		const struct sigparam *p = &s->p[pi];

		if (spans[pi] == 0) {
			if (p->context) {
				if (!sym_in(p, type_sym(c, in.j)[0]) || (!in.j && strchr(p->types, 'm') == NULL))
					throw(c, "T0411", pos, "Context value is not a compatible type with argument %d of function %s", ai + 1, name);
				out[no++] = in;
			} else {
				out[no++] = ai < nargs ? args[ai] : UNDEF;
				ai++;
			}
			continue;
		}
		for (int k = 0; k < spans[pi]; k++, ai++) {
			struct val a = args[ai];

			if (p->type == 'a') {
				if (a.j && p->sub) {
					bool ok = true;

					if (!is_arr(a)) {
						ok = type_sym(c, a.j)[0] == p->sub;
					} else if (alen(a)) {
						const char *t0 = type_sym(c, json_array_get(a.j, 0));

						ok = t0[0] == p->sub;
						for (size_t m = 1; ok && m < alen(a); m++)
							ok = type_sym(c, json_array_get(a.j, m))[0] == t0[0];
					}
					if (!ok)
						throw(c, "T0412", pos, "Argument %d of function %s must be an array of %c", ai + 1, name, p->sub);
				}
				if (a.j && !is_arr(a))
					a = seq_of(c, a), a.f = 0;
			}
			out[no++] = a;
		}
	}
	return no;
}

static const struct sig *builtin_sig(struct ctx *c, int b)
{
	long off;

	if (!c->builtin_sig[b]) {
		struct sig *s = calloc_c(c, sizeof(*s));

		if (sig_parse(s, builtins[b].sig, &off) < 0)
			throw(c, "S0401", -1, "bad built-in signature for %s", builtins[b].name);
		c->builtin_sig[b] = s;
	}
	return c->builtin_sig[b];
}

static int fn_arity(struct ctx *c, struct val f)
{
	struct fn *x = fn_of(c, f.j);
	int n = 0;

	if (!x)
		return 0;
	switch (x->kind) {
	case FK_LAMBDA:
		return x->node->nparams;
	case FK_BUILTIN: {
		const struct sig *s = builtin_sig(c, x->builtin);

		for (int i = 0; i < s->n; i++)
			n += s->p[i].quant != '?';
		return n;
	}
	case FK_PARTIAL:
		for (int i = 0; i < x->nargs; i++)
			n += x->args[i].f == 1 && !x->args[i].j;
		return n;
	default:
		return 1;
	}
}

static struct val apply_inner(struct ctx *c, struct val proc, struct val *args, int nargs, struct val in,
			      struct frame *env, long pos, const char *name);
static struct val do_transform(struct ctx *c, struct fn *f, struct val obj, long pos);
static struct val regex_match_obj(struct ctx *c, struct fn *f, struct val s, long pos);

static struct val apply(struct ctx *c, struct val proc, struct val *args, int nargs, struct val in,
			struct frame *env, long pos, const char *name)
{
	struct val r = apply_inner(c, proc, args, nargs, in, env, pos, name);

	/* trampoline: a body that ended in a tail call left it in c->tail */
	while (r.j && r.j == c->tail_marker) {
		struct fn t = c->tail;
		struct node *call = t.node;
		struct val next = eval(c, call->lhs, t.input, t.env);
		struct val *a = calloc_c(c, sizeof(*a) * (size_t)(call->nitems + 1));

		for (int i = 0; i < call->nitems; i++)
			a[i] = eval(c, call->items[i], t.input, t.env);
		r = apply_inner(c, next, a, call->nitems, t.input, t.env, call->pos, call_name(call));
	}
	return r;
}

static struct val apply_inner(struct ctx *c, struct val proc, struct val *args, int nargs, struct val in,
			      struct frame *env, long pos, const char *name)
{
	struct fn *f = fn_of(c, proc.j);
	struct val *va, r;
	int nv;

	if (!f)
		throw(c, "T1006", pos, "Attempted to invoke a non-function");
	switch (f->kind) {
	case FK_LAMBDA: {
		struct node *l = f->node;
		struct frame *fr = frame_new(c, f->env);

		if (l->sig) {
			va = calloc_c(c, sizeof(*va) * (size_t)(l->sig->n + nargs + 1));
			nv = validate(c, l->sig, args, nargs, in, name, pos, va);
			args = va;
			nargs = nv;
		}
		for (int i = 0; i < l->nparams; i++)
			bind(c, fr, l->params[i], i < nargs ? args[i] : UNDEF);
		if (++c->user_depth > MAX_USER_DEPTH)
			throw(c, "U1001", pos, "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.");
		r = eval(c, l->lhs, f->input, fr);
		c->user_depth--;
		return r;
	}
	case FK_BUILTIN: {
		const struct sig *s = builtin_sig(c, f->builtin);

		va = calloc_c(c, sizeof(*va) * (size_t)(s->n + nargs + 1));
		nv = validate(c, s, args, nargs, in, name[0] ? name : builtins[f->builtin].name, pos, va);
		return builtins[f->builtin].fn(c, va, nv, in, builtins[f->builtin].name);
	}
	case FK_PARTIAL: {
		int k = 0;

		va = calloc_c(c, sizeof(*va) * (size_t)(f->nargs + 1));
		for (int i = 0; i < f->nargs; i++) {
			if (f->args[i].f == 1 && !f->args[i].j)
				va[i] = k < nargs ? args[k++] : UNDEF;
			else
				va[i] = f->args[i];
		}
		return apply(c, f->target, va, f->nargs, in, env, pos, name);
	}
	case FK_CHAIN: {
		struct val x = apply(c, f->target, args, nargs, in, env, pos, name);

		return apply(c, f->second, &x, 1, in, env, pos, name);
	}
	case FK_REGEX:
		return regex_match_obj(c, f, nargs ? args[0] : UNDEF, pos);
	case FK_TRANSFORM:
		if (nargs > 1 || (nargs == 1 && args[0].j && !json_is_object(args[0].j) && !is_arr(args[0])))
			throw(c, "T0410", pos, "Argument 1 of function transform does not match function signature");
		return do_transform(c, f, nargs ? args[0] : UNDEF, pos);
	case FK_THUNK:
		return proc;
	}
	return UNDEF;
}

/* call a function value from a built-in, with up to three arguments limited by its arity */
static struct val call_hof(struct ctx *c, struct val f, struct val *args, int nargs, struct val in, const char *name)
{
	int ar = fn_arity(c, f);

	if (ar < 1)
		ar = 1;
	if (ar < nargs)
		nargs = ar;
	return apply(c, f, args, nargs, in, c->root_env, -1, name);
}

/* Is @j nested deeper than MAX_NEST? (the recursion stops there) */
static bool too_deep(json_t *j, int depth)
{
	const char *k;
	json_t *v;

	if (depth > MAX_NEST)
		return true;
	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++)
			if (json_is_array(json_array_get(j, i)) || json_is_object(json_array_get(j, i)))
				if (too_deep(json_array_get(j, i), depth + 1))
					return true;
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			if ((json_is_array(v) || json_is_object(v)) && too_deep(v, depth + 1))
				return true;
	}
	return false;
}

static json_t *deep_copy_clean(struct ctx *c, json_t *j)
{
	if (too_deep(j, 0))
		throw(c, "U1001", -1, "Value nested too deeply");
	return own(c, json_deep_copy(j));
}

/* collect the objects a transform pattern matched (they live in the copy) */
static struct val do_transform(struct ctx *c, struct fn *f, struct val obj, long pos)
{
	struct node *n = f->node;
	struct val result, matches;

	if (!obj.j)
		return UNDEF;
	result = V(deep_copy_clean(c, obj.j));
	matches = eval(c, n->lhs, result, f->env);
	if (!matches.j)
		return result;
	if (!is_arr(matches))
		matches = seq_of(c, matches);
	for (size_t i = 0; i < alen(matches); i++) {
		json_t *m = json_array_get(matches.j, i);
		struct val upd = eval(c, n->rhs, V(m), f->env);

		if (upd.j) {
			if (!json_is_object(upd.j) || is_fn(c, upd))
				throw(c, "T2011", n->rhs->pos, "The insert/update clause of the transform expression must evaluate to an object");
			if (json_is_object(m))
				json_object_update(m, upd.j);
		}
		if (n->third) {
			struct val del = eval(c, n->third, V(m), f->env);

			if (!del.j)
				continue;
			if (!is_arr(del))
				del = seq_of(c, del);
			for (size_t k = 0; k < alen(del); k++)
				if (!json_is_string(json_array_get(del.j, k)))
					throw(c, "T2012", n->third->pos, "The delete clause of the transform expression must evaluate to a string or array of strings");
			for (size_t k = 0; k < alen(del); k++)
				if (json_is_object(m))
					json_object_del(m, json_string_value(json_array_get(del.j, k)));
		}
	}
	return result;
}

/* ------------------------------------------------------------------ regex */

struct rmatch {
	size_t start, end;	/* bytes */
	json_t *groups;		/* array of strings, "" for a group that did not take part */
};

static void md_free_cb(void *p)
{
	pcre2_match_data_free(p);
}

/* First match at or after byte @from; false if none. */
static bool re_exec(struct ctx *c, const pcre2_code *re, const char *s, size_t len, size_t from, struct rmatch *m)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc;

	if (!md)
		oom(c);
	rc = pcre2_match(re, (PCRE2_SPTR)s, len, from, 0, md, NULL);
	if (rc < 0) {
		pcre2_match_data_free(md);
		if (rc == PCRE2_ERROR_NOMATCH)
			return false;
		throw(c, "D1004", -1, "Regular expression failed (error %d)", rc);
	}
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	uint32_t n = pcre2_get_ovector_count(md);

	m->start = ov[0];
	m->end = ov[1];
	m->groups = json_array();
	for (uint32_t i = 1; m->groups && i < n; i++) {
		if (ov[2 * i] == PCRE2_UNSET)
			json_array_append_new(m->groups, json_string(""));
		else
			json_array_append_new(m->groups, json_stringn(s + ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
	}
	pcre2_match_data_free(md);
	own(c, m->groups);
	(void)md_free_cb;
	return true;
}

static json_t *groups_json(struct ctx *c, const char *s, struct rmatch *m)
{
	return m->groups;
}

static struct val call_hof(struct ctx *c, struct val f, struct val *args, int nargs, struct val in, const char *name);

/* next match of a custom matcher function (an object {match, start, end, groups, next}) */
static bool custom_match(struct ctx *c, struct val *state, struct val fnv, const char *s, size_t len, struct rmatch *m)
{
	struct val r, sv_ = strn(c, s, len);
	json_t *mt;
	double st;

	if (!state->j) {
		r = call_hof(c, fnv, &sv_, 1, UNDEF, "match");
	} else {
		json_t *next = json_object_get(state->j, "next");

		if (!next || !fn_of(c, next))
			return false;
		r = apply(c, V(next), NULL, 0, UNDEF, c->root_env, -1, "next");
	}
	if (!r.j)
		return false;
	mt = json_object_get(r.j, "match");
	if (!json_is_object(r.j) || !json_is_string(mt) || !is_num(json_object_get(r.j, "start")) ||
	    !is_num(json_object_get(r.j, "end")))
		throw(c, "T1010", -1, "The matcher function argument passed to function %s does not return the correct object structure", "split");
	*state = r;
	st = numv(json_object_get(r.j, "start"));
	if (st < 0)
		return false;
	m->start = u8_offset(s, len, (size_t)st);
	m->end = m->start + json_string_length(mt);
	if (m->end > len)
		m->end = len;
	m->groups = json_object_get(r.j, "groups");
	if (!json_is_array(m->groups))
		m->groups = own(c, json_array());
	return true;
}

/* all matches (up to @limit, -1 none), as JSONata's regex closure iterates them */
static int re_all(struct ctx *c, const pcre2_code *re, struct val fnv, const char *s, size_t len, long limit,
		  struct rmatch **ret)
{
	int n = 0, cap = 8;
	struct rmatch *ms = calloc_c(c, sizeof(*ms) * (size_t)cap);
	size_t from = 0;
	struct val state = UNDEF;

	while ((limit < 0 || n < limit) && from <= len) {
		struct rmatch m;

		if (!re) {
			if (!custom_match(c, &state, fnv, s, len, &m))
				break;
			if (n == cap) {
				struct rmatch *x = calloc_c(c, sizeof(*x) * (size_t)cap * 2);

				memcpy(x, ms, sizeof(*x) * (size_t)cap);
				ms = x;
				cap *= 2;
			}
			ms[n++] = m;
			continue;
		}
		if (!re_exec(c, re, s, len, from, &m))
			break;
		if (m.end == m.start) {
			if (n > 0 || from > 0)
				throw(c, "D1004", -1, "Regular expression matches zero length string");
			throw(c, "D1004", -1, "Regular expression matches zero length string");
		}
		if (n == cap) {
			struct rmatch *x = calloc_c(c, sizeof(*x) * (size_t)cap * 2);

			memcpy(x, ms, sizeof(*x) * (size_t)cap);
			ms = x;
			cap *= 2;
		}
		ms[n++] = m;
		from = m.end;
		if (from >= len)
			break;
	}
	*ret = ms;
	return n;
}

static struct val regex_match_obj(struct ctx *c, struct fn *f, struct val s, long pos)
{
	struct rmatch m;
	const char *str;
	size_t len;

	if (!json_is_string(s.j))
		return UNDEF;
	str = json_string_value(s.j);
	len = json_string_length(s.j);
	if (!re_exec(c, f->node->re, str, len, 0, &m))
		return UNDEF;
	json_t *o = own(c, json_object());

	json_object_set_new(o, "match", json_stringn(str + m.start, m.end - m.start));
	json_object_set_new(o, "start", json_integer((json_int_t)u8_count(str, m.start)));
	json_object_set_new(o, "end", json_integer((json_int_t)u8_count(str, m.end)));
	json_object_set(o, "groups", groups_json(c, str, &m));
	return V(o);
}

/* ------------------------------------------------------------------ built-in functions */

#define ARG(i) ((i) < n ? a[i] : UNDEF)

static struct val f_sum(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double s = 0;

	if (!a[0].j)
		return UNDEF;
	for (size_t i = 0; i < alen(a[0]); i++)
		s += numv(json_array_get(a[0].j, i));
	return num(c, s);
}

static struct val f_count(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return num(c, a[0].j ? (double)alen(a[0]) : 0);
}

static struct val minmax(struct ctx *c, struct val *a, int which)
{
	double r = 0;

	if (!a[0].j || !alen(a[0]))
		return UNDEF;
	for (size_t i = 0; i < alen(a[0]); i++) {
		double x = numv(json_array_get(a[0].j, i));

		if (i == 0 || (which > 0 ? x > r : x < r))
			r = x;
	}
	return num(c, r);
}

static struct val f_max(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return minmax(c, a, 1);
}

static struct val f_min(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return minmax(c, a, -1);
}

static struct val f_average(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double s = 0;

	if (!a[0].j || !alen(a[0]))
		return UNDEF;
	for (size_t i = 0; i < alen(a[0]); i++)
		s += numv(json_array_get(a[0].j, i));
	return num(c, s / (double)alen(a[0]));
}

static struct val f_string(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return to_string(c, a[0], ARG(1).j && json_is_true(a[1].j));
}

static const char *sv(struct val v)
{
	return json_string_value(v.j);
}

static size_t sl(struct val v)
{
	return json_string_length(v.j);
}

/* JS Array.prototype.slice index rules over code points */
static struct val cp_slice(struct ctx *c, struct val s, double start, double end)
{
	size_t cnt = u8_count(sv(s), sl(s));
	double len = (double)cnt;

	start = trunc(start);
	end = trunc(end);
	if (start < 0)
		start = fmax(len + start, 0);
	if (end < 0)
		end = fmax(len + end, 0);
	start = fmin(start, len);
	end = fmin(end, len);
	if (end <= start)
		return str(c, "");
	size_t b0 = u8_offset(sv(s), sl(s), (size_t)start), b1 = u8_offset(sv(s), sl(s), (size_t)end);

	return strn(c, sv(s) + b0, b1 - b0);
}

static struct val f_substring(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double start, len, cnt;

	if (!a[0].j)
		return UNDEF;
	cnt = (double)u8_count(sv(a[0]), sl(a[0]));
	start = numv(a[1].j);
	if (cnt + start < 0)
		start = 0;
	if (ARG(2).j) {
		len = numv(a[2].j);
		if (len <= 0)
			return str(c, "");
		double end = start >= 0 ? start + len : cnt + start + len;

		return cp_slice(c, a[0], start, end);
	}
	return cp_slice(c, a[0], start, cnt);
}

static const char *memfind(const char *h, size_t hl, const char *nd, size_t nl)
{
	if (!nl)
		return h;
	return memmem(h, hl, nd, nl);
}

static struct val f_substring_before(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const char *p;

	if (!a[0].j)
		return UNDEF;
	p = memfind(sv(a[0]), sl(a[0]), sv(a[1]), sl(a[1]));
	if (!p)
		return a[0];
	return strn(c, sv(a[0]), (size_t)(p - sv(a[0])));
}

static struct val f_substring_after(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const char *p;

	if (!a[0].j)
		return UNDEF;
	p = memfind(sv(a[0]), sl(a[0]), sv(a[1]), sl(a[1]));
	if (!p)
		return a[0];
	p += sl(a[1]);
	return strn(c, p, sl(a[0]) - (size_t)(p - sv(a[0])));
}

static struct val casefold(struct ctx *c, struct val s, bool up)
{
	struct buf *b;

	if (!s.j)
		return UNDEF;
	b = cbuf(c);
	buf_add(b, sv(s), sl(s));
	for (size_t i = 0; i < b->len; i++)
		b->data[i] = (char)(up ? toupper((unsigned char)b->data[i]) : tolower((unsigned char)b->data[i]));
	return buf_val(c, b);
}

static struct val f_lowercase(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return casefold(c, a[0], false);
}

static struct val f_uppercase(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return casefold(c, a[0], true);
}

static struct val f_length(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	return num(c, (double)u8_count(sv(a[0]), sl(a[0])));
}

static struct val f_trim(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct buf *b;
	const char *s;
	size_t len;

	if (!a[0].j)
		return UNDEF;
	s = sv(a[0]);
	len = sl(a[0]);
	b = cbuf(c);
	for (size_t i = 0; i < len;) {
		if (strchr(" \t\n\r", s[i]) && s[i]) {
			while (i < len && s[i] && strchr(" \t\n\r", s[i]))
				i++;
			buf_putc(b, ' ');
		} else {
			buf_putc(b, s[i++]);
		}
	}
	size_t st = 0, e = b->len;

	if (e && b->data[0] == ' ')
		st = 1;
	if (e > st && b->data[e - 1] == ' ')
		e--;
	return strn(c, b->data + st, e - st);
}

static struct val f_pad(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double w, padn;
	struct val ch;
	struct buf *b, *pad;

	if (!a[0].j)
		return UNDEF;
	w = numv(a[1].j);
	ch = ARG(2).j && sl(a[2]) ? a[2] : str(c, " ");
	padn = fabs(trunc(w)) - (double)u8_count(sv(a[0]), sl(a[0]));
	if (padn <= 0 || !sl(ch))
		return a[0];
	if (padn > MAX_STRING / 8)
		throw(c, "D1004", -1, "String too long");
	pad = cbuf(c);
	size_t cpn = u8_count(sv(ch), sl(ch)), need = (size_t)padn;

	while (u8_count(pad->data, pad->len) + cpn <= need)
		buf_add(pad, sv(ch), sl(ch));
	if (u8_count(pad->data, pad->len) < need) {
		size_t rest = need - u8_count(pad->data, pad->len);

		buf_add(pad, sv(ch), u8_offset(sv(ch), sl(ch), rest));
	}
	b = cbuf(c);
	if (w > 0) {
		buf_add(b, sv(a[0]), sl(a[0]));
		buf_add(b, pad->data, pad->len);
	} else {
		buf_add(b, pad->data, pad->len);
		buf_add(b, sv(a[0]), sl(a[0]));
	}
	return buf_val(c, b);
}

static const pcre2_code *regex_of(struct ctx *c, struct val v)
{
	struct fn *f = fn_of(c, v.j);

	if (f && f->kind == FK_REGEX)
		return f->node->re;
	return NULL;
}

static struct val f_contains(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const pcre2_code *re;
	struct rmatch m;

	if (!a[0].j || !a[1].j)
		return UNDEF;
	if (json_is_string(a[1].j))
		return boolean_v(memfind(sv(a[0]), sl(a[0]), sv(a[1]), sl(a[1])) != NULL);
	re = regex_of(c, a[1]);
	if (!re) {
		struct val st = UNDEF;

		return boolean_v(custom_match(c, &st, a[1], sv(a[0]), sl(a[0]), &m));
	}
	return boolean_v(re_exec(c, re, sv(a[0]), sl(a[0]), 0, &m));
}

static struct val f_split(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r;
	long limit = -1;
	const char *s;
	size_t len;

	if (!a[0].j)
		return UNDEF;
	if (ARG(2).j) {
		if (numv(a[2].j) < 0)
			throw(c, "D3020", -1, "Third argument of split function must evaluate to a positive number");
		limit = to_long(numv(a[2].j));
	}
	s = sv(a[0]);
	len = sl(a[0]);
	r = seq_new(c);
	r.f = 0;
	if (json_is_string(a[1].j)) {
		const char *sep = sv(a[1]);
		size_t seplen = sl(a[1]), pos = 0;

		if (!seplen) {
			for (size_t i = 0; i < len && (limit < 0 || (long)alen(r) < limit);) {
				size_t st = i;

				utf8_get(s, len, &i);
				push(c, r, own(c, json_stringn(s + st, i - st)));
			}
			return r;
		}
		while (limit < 0 || (long)alen(r) < limit) {
			const char *p = memfind(s + pos, len - pos, sep, seplen);

			if (!p) {
				push(c, r, own(c, json_stringn(s + pos, len - pos)));
				break;
			}
			push(c, r, own(c, json_stringn(s + pos, (size_t)(p - s) - pos)));
			pos = (size_t)(p - s) + seplen;
		}
		return r;
	}
	const pcre2_code *re = regex_of(c, a[1]);
	struct rmatch *ms;
	int nm = re_all(c, re, a[1], s, len, -1, &ms);
	size_t pos = 0;

	for (int i = 0; i < nm && (limit < 0 || (long)alen(r) < limit); i++) {
		push(c, r, own(c, json_stringn(s + pos, ms[i].start - pos)));
		pos = ms[i].end;
	}
	if (limit < 0 || (long)alen(r) < limit)
		push(c, r, own(c, json_stringn(s + pos, len - pos)));
	return r;
}

static struct val f_join(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct buf *b;

	if (!a[0].j)
		return UNDEF;
	b = cbuf(c);
	for (size_t i = 0; i < alen(a[0]); i++) {
		if (i && ARG(1).j)
			buf_add(b, sv(a[1]), sl(a[1]));
		json_t *x = json_array_get(a[0].j, i);

		buf_add(b, json_string_value(x), json_string_length(x));
	}
	return buf_val(c, b);
}

static struct val f_match(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r;
	long limit = -1;
	struct rmatch *ms;
	int nm;

	if (!a[0].j)
		return UNDEF;
	if (ARG(2).j) {
		if (numv(a[2].j) < 0)
			throw(c, "D3040", -1, "Third argument of match function must evaluate to a positive number");
		limit = to_long(numv(a[2].j));
	}
	const pcre2_code *re = regex_of(c, a[1]);

	r = seq_new(c);
	if (limit == 0)
		return r;
	nm = re_all(c, re, a[1], sv(a[0]), sl(a[0]), limit, &ms);
	for (int i = 0; i < nm; i++) {
		json_t *o = own(c, json_object());

		json_object_set_new(o, "match", json_stringn(sv(a[0]) + ms[i].start, ms[i].end - ms[i].start));
		json_object_set_new(o, "index", json_integer((json_int_t)u8_count(sv(a[0]), ms[i].start)));
		json_object_set(o, "groups", groups_json(c, sv(a[0]), &ms[i]));
		push(c, r, o);
	}
	return r;
}

static void subst_dollars(struct buf *b, const char *rep, size_t rl, const char *s, struct rmatch *m)
{
	size_t i = 0;
	int ng = (int)json_array_size(m->groups);

	while (i < rl) {
		if (rep[i] != '$') {
			buf_putc(b, rep[i++]);
			continue;
		}
		i++;
		if (i < rl && rep[i] == '$') {
			buf_putc(b, '$');
			i++;
		} else if (i < rl && rep[i] == '0') {
			buf_add(b, s + m->start, m->end - m->start);
			i++;
		} else if (i < rl && isdigit((unsigned char)rep[i])) {
			int maxd = ng == 0 ? 1 : (int)floor(log10((double)ng)) + 1;
			int idx = 0, nd = 0;

			while (nd < maxd && i + (size_t)nd < rl && isdigit((unsigned char)rep[i + (size_t)nd]))
				idx = idx * 10 + (rep[i + (size_t)nd++] - '0');
			if (maxd > 1 && idx > ng) {
				idx /= 10;
				nd--;
			}
			if (ng > 0 && idx >= 1 && idx <= ng) {
				json_t *g = json_array_get(m->groups, (size_t)idx - 1);

				buf_add(b, json_string_value(g), json_string_length(g));
			}
			i += (size_t)nd;
		} else {
			buf_putc(b, '$');
		}
	}
}

static struct val f_replace(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	long limit = -1;
	struct buf *b;
	const char *s;
	size_t len;

	if (!a[0].j)
		return UNDEF;
	if (json_is_string(a[1].j) && !sl(a[1]))
		throw(c, "D3010", -1, "Second argument of replace function cannot be an empty string");
	if (ARG(3).j) {
		if (numv(a[3].j) < 0)
			throw(c, "D3011", -1, "Fourth argument of replace function must evaluate to a positive number");
		limit = to_long(numv(a[3].j));
	}
	s = sv(a[0]);
	len = sl(a[0]);
	b = cbuf(c);
	if (json_is_string(a[1].j)) {
		size_t pos = 0;
		long cnt = 0;

		if (!json_is_string(a[2].j))
			throw(c, "T0410", -1, "Argument 3 of function replace does not match function signature");
		while (limit < 0 || cnt < limit) {
			const char *p = memfind(s + pos, len - pos, sv(a[1]), sl(a[1]));

			if (!p)
				break;
			buf_add(b, s + pos, (size_t)(p - s) - pos);
			buf_add(b, sv(a[2]), sl(a[2]));
			pos = (size_t)(p - s) + sl(a[1]);
			cnt++;
		}
		buf_add(b, s + pos, len - pos);
		return buf_val(c, b);
	}
	const pcre2_code *re = regex_of(c, a[1]);
	struct rmatch *ms;
	int nm;
	size_t pos = 0;

	if (limit == 0)
		return a[0];
	nm = re_all(c, re, a[1], s, len, limit, &ms);
	for (int i = 0; i < nm; i++) {
		buf_add(b, s + pos, ms[i].start - pos);
		if (json_is_string(a[2].j)) {
			subst_dollars(b, sv(a[2]), sl(a[2]), s, &ms[i]);
		} else {
			json_t *o = own(c, json_object());
			struct val arg, r;

			json_object_set_new(o, "match", json_stringn(s + ms[i].start, ms[i].end - ms[i].start));
			json_object_set_new(o, "index", json_integer((json_int_t)u8_count(s, ms[i].start)));
			json_object_set(o, "groups", groups_json(c, s, &ms[i]));
			arg = V(o);
			r = call_hof(c, a[2], &arg, 1, in, name);
			if (!json_is_string(r.j))
				throw(c, "D3012", -1, "Attempted to replace a matched string with a non-string value");
			buf_add(b, sv(r), sl(r));
		}
		pos = ms[i].end;
	}
	buf_add(b, s + pos, len - pos);
	return buf_val(c, b);
}

static struct val f_number(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const char *s;
	char *end;
	double d;

	if (!a[0].j)
		return UNDEF;
	if (is_num(a[0].j))
		return a[0];
	if (json_is_boolean(a[0].j))
		return num(c, json_is_true(a[0].j) ? 1 : 0);
	if (!json_is_string(a[0].j))
		throw(c, "D3030", -1, "Unable to cast value to a number");
	s = sv(a[0]);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' || s[1] == 'b' || s[1] == 'B') && s[2]) {
		int base = (s[1] | 32) == 'x' ? 16 : (s[1] | 32) == 'o' ? 8 : 2;

		errno = 0;
		unsigned long long v = strtoull(s + 2, &end, base);

		if (*end || errno)
			throw(c, "D3030", -1, "Unable to cast value to a number: \"%s\"", s);
		return num(c, (double)v);
	}
	/* JSON number syntax only: -?digits(.digits)?(e[+-]?digits)? */
	const char *q = s;

	if (*q == '-')
		q++;
	if (!isdigit((unsigned char)*q))
		throw(c, "D3030", -1, "Unable to cast value to a number: \"%s\"", s);
	while (isdigit((unsigned char)*q))
		q++;
	if (*q == '.') {
		q++;
		if (!isdigit((unsigned char)*q))
			throw(c, "D3030", -1, "Unable to cast value to a number: \"%s\"", s);
		while (isdigit((unsigned char)*q))
			q++;
	}
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '+' || *q == '-')
			q++;
		if (!isdigit((unsigned char)*q))
			throw(c, "D3030", -1, "Unable to cast value to a number: \"%s\"", s);
		while (isdigit((unsigned char)*q))
			q++;
	}
	if (*q)
		throw(c, "D3030", -1, "Unable to cast value to a number: \"%s\"", s);
	d = strtod(s, NULL);
	if (!isfinite(d))
		throw(c, "D3030", -1, "Unable to cast value to a number: \"%s\"", s);
	return num(c, d);
}

static struct val f_floor(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return a[0].j ? num(c, floor(numv(a[0].j))) : UNDEF;
}

static struct val f_ceil(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return a[0].j ? num(c, ceil(numv(a[0].j))) : UNDEF;
}

static struct val f_abs(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return a[0].j ? num(c, fabs(numv(a[0].j))) : UNDEF;
}

static struct val f_sqrt(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	if (numv(a[0].j) < 0)
		throw(c, "D3060", -1, "The sqrt function cannot be applied to a negative number");
	return num(c, sqrt(numv(a[0].j)));
}

static struct val f_power(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double r;

	if (!a[0].j)
		return UNDEF;
	r = pow(numv(a[0].j), numv(a[1].j));
	if (!isfinite(r))
		throw(c, "D3061", -1, "The power function has resulted in a value that cannot be represented as a JSON number");
	return num(c, r);
}

/* shift the decimal point of x by k places through its decimal text, as JSONata does */
static double dec_shift(double x, int k)
{
	char tmp[64], *e;
	int ex = 0;

	js_num(tmp, sizeof(tmp), x);
	e = strchr(tmp, 'e');
	if (e) {
		ex = atoi(e + 1);
		*e = 0;
	}
	snprintf(tmp + strlen(tmp), sizeof(tmp) - strlen(tmp), "e%d", ex + k);
	return strtod(tmp, NULL);
}

static double round_half_even(double x, int prec)
{
	double r, diff;

	if (prec) {
		double shifted = dec_shift(x, prec);

		if (!isfinite(shifted) || fabs(shifted) >= 9007199254740992.0)
			return x;	/* nothing to round at that precision */
		x = shifted;
	}
	r = floor(x + 0.5);
	diff = r - x;
	if (fabs(diff) == 0.5 && fabs(fmod(r, 2)) == 1)
		r -= 1;
	if (prec)
		r = dec_shift(r, -prec);
	if (r == 0)
		r = 0;
	return r;
}

static struct val f_round(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	return num(c, round_half_even(numv(a[0].j), ARG(1).j ? (int)fmax(-400, fmin(400, numv(a[1].j))) : 0));
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static double rng_next(struct ctx *c)
{
	uint64_t *s = c->rng, r, t;

	if (!c->rng_seeded) {
		if (getrandom(s, sizeof(c->rng), 0) != (ssize_t)sizeof(c->rng))
			s[0] = (uint64_t)time(NULL) | 1;
		c->rng_seeded = true;
	}
	r = rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return (double)(r >> 11) * 0x1.0p-53;
}

static struct val f_random(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (n && a[0].j) {
		/* seeded (Step Functions): the same seed gives the same number */
		double seed = numv(a[0].j);
		uint64_t x;

		memcpy(&x, &seed, sizeof(x));

		for (int i = 0; i < 4; i++) {
			uint64_t z = (x += 0x9E3779B97F4A7C15ull);

			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
			z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
			c->rng[i] = z ^ (z >> 31);
		}
		c->rng_seeded = true;
	}
	return num(c, rng_next(c));
}

static struct val f_boolean(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	return boolean_v(truthy(c, a[0].j));
}

static struct val f_not(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	return boolean_v(!truthy(c, a[0].j));
}

static struct val f_exists(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return boolean_v(a[0].j != NULL);
}

static struct val f_append(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = append(c, a[0], a[1]);

	if (is_arr(r) && (r.j == a[0].j || r.j == a[1].j))
		return V(r.j);
	r.f &= ~(unsigned)F_SEQ;
	return r;
}

static struct val f_keys(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = seq_new(c);
	json_t *seen = own(c, json_object());
	const char *k;
	json_t *v;

	if (is_arr(a[0])) {
		for (size_t i = 0; i < alen(a[0]); i++) {
			json_t *o = json_array_get(a[0].j, i);

			if (!json_is_object(o) || fn_of(c, o))
				continue;
			json_object_foreach(o, k, v) {
				if (!json_object_get(seen, k)) {
					json_object_set(seen, k, json_true());
					push(c, r, own(c, json_string(k)));
				}
			}
		}
	} else if (json_is_object(a[0].j) && !is_fn(c, a[0])) {
		json_object_foreach(a[0].j, k, v)
			push(c, r, own(c, json_string(k)));
	}
	return r;
}

static struct val f_lookup(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return lookup_field(c, a[0].j, sv(a[1]));
}

static struct val f_spread(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r;
	const char *k;
	json_t *v;

	if (is_arr(a[0])) {
		r = seq_new(c);
		for (size_t i = 0; i < alen(a[0]); i++) {
			struct val x;

			if (json_is_array(json_array_get(a[0].j, i)) && too_deep(json_array_get(a[0].j, i), 0))
				throw(c, "U1001", -1, "Value nested too deeply");
			x = f_spread(c, (struct val[]){ aget(a[0], i) }, 1, in, name);

			r = append(c, r, x);
		}
		return r;
	}
	if (json_is_object(a[0].j) && !is_fn(c, a[0])) {
		r = seq_new(c);
		json_object_foreach(a[0].j, k, v) {
			json_t *o = own(c, json_object());

			json_object_set(o, k, v);
			push(c, r, o);
		}
		return r;
	}
	return a[0];
}

static struct val f_merge(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	json_t *r;

	if (!a[0].j)
		return UNDEF;
	r = own(c, json_object());
	for (size_t i = 0; i < alen(a[0]); i++)
		json_object_update(r, json_array_get(a[0].j, i));
	return V(r);
}

static struct val f_each(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = seq_new(c);
	const char *k;
	json_t *v;

	if (!a[0].j)
		return UNDEF;
	json_object_foreach(a[0].j, k, v) {
		struct val args[3] = { V(v), str(c, k), a[0] };
		struct val x = call_hof(c, a[1], args, 3, in, name);

		if (x.j)
			push(c, r, x.j);
	}
	return r;
}

static struct val f_sift(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	json_t *r;
	const char *k;
	json_t *v;

	if (!a[0].j)
		return UNDEF;
	r = own(c, json_object());
	json_object_foreach(a[0].j, k, v) {
		struct val args[3] = { V(v), str(c, k), a[0] };

		if (truthy(c, call_hof(c, a[1], args, 3, in, name).j))
			json_object_set(r, k, v);
	}
	if (!json_object_size(r))
		return UNDEF;
	return V(r);
}

static struct val f_error(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	throw(c, "D3137", -1, "%s", n && a[0].j ? sv(a[0]) : "$error() function evaluated");
}

static struct val f_assert(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!json_is_true(a[0].j))
		throw(c, "D3141", -1, "%s", ARG(1).j ? sv(a[1]) : "$assert() statement failed");
	return UNDEF;
}

static struct val f_type(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	json_t *j = a[0].j;

	if (!j)
		return UNDEF;
	switch (json_typeof(j)) {
	case JSON_NULL: return str(c, "null");
	case JSON_INTEGER:
	case JSON_REAL: return str(c, "number");
	case JSON_STRING: return str(c, "string");
	case JSON_TRUE:
	case JSON_FALSE: return str(c, "boolean");
	case JSON_ARRAY: return str(c, "array");
	default: return str(c, fn_of(c, j) ? "function" : "object");
	}
}

static struct val f_reverse(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r;

	if (!a[0].j)
		return UNDEF;
	if (alen(a[0]) <= 1)
		return a[0];
	r = V(own(c, json_array()));
	for (size_t i = alen(a[0]); i-- > 0;)
		push(c, r, json_array_get(a[0].j, i));
	return r;
}

struct hof_sort {
	struct ctx *c;
	struct val arr, fn, in;
	const char *name;
};

static int hof_sort_cmp(void *arg, size_t x, size_t y)
{
	struct hof_sort *s = arg;
	struct val args[2] = { aget(s->arr, y), aget(s->arr, x) };

	/* fn(a, b) true means a goes after b; msort asks "is idx[j] before idx[i]" */
	if (s->fn.j)
		return truthy(s->c, call_hof(s->c, s->fn, args, 2, s->in, s->name).j) ? -1 : 0;
	json_t *a = json_array_get(s->arr.j, y), *b = json_array_get(s->arr.j, x);

	if (is_num(a))
		return numv(a) > numv(b) ? -1 : 0;
	return strcmp(json_string_value(a), json_string_value(b)) > 0 ? -1 : 0;
}

static struct val f_sort(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	size_t cnt, *idx, *tmp;
	struct hof_sort s = { c, a[0], ARG(1), in, name };
	struct val r;

	if (!a[0].j)
		return UNDEF;
	cnt = alen(a[0]);
	if (cnt <= 1)
		return a[0];
	if (!s.fn.j) {
		bool nums = all_numbers(a[0].j), strs = true;

		for (size_t i = 0; i < cnt; i++)
			strs = strs && json_is_string(json_array_get(a[0].j, i));
		if (!nums && !strs)
			throw(c, "D3070", -1, "The single argument form of the sort function can only be applied to an array of strings or an array of numbers");
	}
	idx = calloc_c(c, sizeof(*idx) * cnt);
	tmp = calloc_c(c, sizeof(*tmp) * cnt);
	for (size_t i = 0; i < cnt; i++)
		idx[i] = i;
	/* msort: cmp(j, i) < 0 moves j first; hof_sort_cmp(x=j... ) */
	msort(idx, tmp, cnt, hof_sort_cmp, &s);
	r = V(own(c, json_array()));
	for (size_t i = 0; i < cnt; i++)
		push(c, r, json_array_get(a[0].j, idx[i]));
	return r;
}

static struct val f_shuffle(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r;
	size_t cnt;

	if (!a[0].j)
		return UNDEF;
	cnt = alen(a[0]);
	r = V(own(c, json_array()));
	for (size_t i = 0; i < cnt; i++)
		push(c, r, json_array_get(a[0].j, i));
	for (size_t i = cnt; i > 1; i--) {
		size_t k = (size_t)(rng_next(c) * (double)i);
		json_t *x = json_incref(json_array_get(r.j, i - 1));

		json_array_set(r.j, i - 1, json_array_get(r.j, k));
		json_array_set_new(r.j, k, x);
	}
	return r;
}

static struct val f_distinct(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r;

	if (!a[0].j)
		return UNDEF;
	if (!is_arr(a[0]) || alen(a[0]) <= 1)
		return a[0];
	r = seq_new(c);
	/* scalars are found through a set keyed by type and text; arrays and objects by comparison */
	json_t *seen = own(c, json_object()), *nested = own(c, json_array());
	struct buf *kb = cbuf(c);

	for (size_t i = 0; i < alen(a[0]); i++) {
		json_t *x = json_array_get(a[0].j, i);
		bool dup = false;

		if (json_is_array(x) || json_is_object(x)) {
			c->ticks += json_array_size(nested) / 64;	/* quadratic: let the clock see it */
			check_limits(c, -1);
			for (size_t k = 0; k < json_array_size(nested) && !dup; k++)
				dup = deep_equal(json_array_get(nested, k), x);
			if (!dup && json_array_append(nested, x) < 0)
				oom(c);
		} else {
			char tmp[40];

			buf_reset(kb);
			if (json_is_string(x)) {
				buf_putc(kb, 's');
				buf_add(kb, json_string_value(x), json_string_length(x));
			} else if (is_num(x)) {
				js_num(tmp, sizeof(tmp), numv(x));
				buf_printf(kb, "n%s", tmp);
			} else {
				buf_printf(kb, "v%d", (int)json_typeof(x));
			}
			if (memchr(kb->data, 0, kb->len)) {
				/* a NUL inside a string cannot be a key: compare with the others */
				for (size_t k = 0; k < alen(r) && !dup; k++)
					dup = deep_equal(json_array_get(r.j, k), x);
			} else {
				dup = json_object_get(seen, kb->data) != NULL;
				json_object_set(seen, kb->data, json_true());
			}
		}
		if (!dup)
			push(c, r, x);
	}
	return r;
}

static struct val f_zip(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = V(own(c, json_array()));
	size_t len = (size_t)-1;

	for (int i = 0; i < n; i++) {
		if (!a[i].j)
			return r;
		if (alen(a[i]) < len)
			len = alen(a[i]);
	}
	if (!n)
		return r;
	for (size_t k = 0; k < len; k++) {
		json_t *t = own(c, json_array());

		for (int i = 0; i < n; i++)
			json_array_append(t, json_array_get(a[i].j, k));
		push(c, r, t);
	}
	return r;
}

static struct val f_map(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = seq_new(c);

	if (!a[0].j)
		return UNDEF;
	for (size_t i = 0; i < alen(a[0]); i++) {
		struct val args[3] = { aget(a[0], i), num(c, (double)i), a[0] };
		struct val x = call_hof(c, a[1], args, 3, in, name);

		if (x.j)
			push(c, r, x.j);
	}
	return r;
}

static struct val f_filter(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = seq_new(c);

	if (!a[0].j)
		return UNDEF;
	for (size_t i = 0; i < alen(a[0]); i++) {
		struct val args[3] = { aget(a[0], i), num(c, (double)i), a[0] };

		if (truthy(c, call_hof(c, a[1], args, 3, in, name).j))
			push(c, r, json_array_get(a[0].j, i));
	}
	return r;
}

static struct val f_single(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = UNDEF;
	bool found = false;

	if (!a[0].j)
		return UNDEF;
	for (size_t i = 0; i < alen(a[0]); i++) {
		struct val args[3] = { aget(a[0], i), num(c, (double)i), a[0] };
		bool ok = true;

		if (ARG(1).j)
			ok = truthy(c, call_hof(c, a[1], args, 3, in, name).j);
		if (ok) {
			if (found)
				throw(c, "D3138", -1, "The $single() function expected exactly 1 matching result.  Instead it matched more.");
			found = true;
			r = aget(a[0], i);
		}
	}
	if (!found)
		throw(c, "D3139", -1, "The $single() function expected exactly 1 matching result.  Instead it matched 0.");
	return r;
}

static struct val f_reduce(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val acc;
	size_t i = 0;

	if (!a[0].j)
		return UNDEF;
	if (fn_arity(c, a[1]) < 2)
		throw(c, "D3050", -1, "The second argument of reduce function must be a function with at least two arguments");
	if (ARG(2).j) {
		acc = a[2];
	} else {
		if (!alen(a[0]))
			return UNDEF;
		acc = aget(a[0], 0);
		i = 1;
	}
	for (; i < alen(a[0]); i++) {
		struct val args[4] = { acc, aget(a[0], i), num(c, (double)i), a[0] };
		int ar = fn_arity(c, a[1]);

		acc = apply(c, a[1], args, ar < 4 ? (ar < 2 ? 2 : ar) : 4, in, c->root_env, -1, name);
	}
	return acc;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static struct val f_base64encode(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const unsigned char *s;
	size_t len;
	struct buf *b;

	if (!a[0].j)
		return UNDEF;
	s = (const unsigned char *)sv(a[0]);
	len = sl(a[0]);
	b = cbuf(c);
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);

		buf_putc(b, b64[(v >> 18) & 63]);
		buf_putc(b, b64[(v >> 12) & 63]);
		buf_putc(b, i + 1 < len ? b64[(v >> 6) & 63] : '=');
		buf_putc(b, i + 2 < len ? b64[v & 63] : '=');
	}
	return buf_val(c, b);
}

static struct val f_base64decode(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const char *s;
	size_t len;
	struct buf *b;
	unsigned v = 0;
	int bits = 0;

	if (!a[0].j)
		return UNDEF;
	s = sv(a[0]);
	len = sl(a[0]);
	b = cbuf(c);
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(b64, s[i]);

		if (s[i] == '=' || !s[i] || !p)
			continue;
		v = (v << 6) | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(b, (char)((v >> bits) & 0xFF));
		}
	}
	json_t *r = json_stringn(b->data, b->len);

	if (!r)
		throw(c, "D3137", -1, "base64 text does not decode to UTF-8 text");
	return V(own(c, r));
}

static struct val url_encode(struct ctx *c, struct val s, const char *keep)
{
	struct buf *b;

	if (!s.j)
		return UNDEF;
	b = cbuf(c);
	for (size_t i = 0; i < sl(s); i++) {
		unsigned char ch = (unsigned char)sv(s)[i];

		if (isalnum(ch) || (ch && strchr(keep, ch)))
			buf_putc(b, (char)ch);
		else
			buf_printf(b, "%%%02X", ch);
	}
	return buf_val(c, b);
}

static struct val f_encode_url_component(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return url_encode(c, a[0], "-_.!~*'()");
}

static struct val f_encode_url(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return url_encode(c, a[0], "-_.!~*'();/?:@&=+$,#");
}

static int hexv(char ch)
{
	if (isdigit((unsigned char)ch))
		return ch - '0';
	if (isxdigit((unsigned char)ch))
		return (tolower((unsigned char)ch) - 'a') + 10;
	return -1;
}

static struct val url_decode(struct ctx *c, struct val s, const char *reserved)
{
	struct buf *b;
	const char *p;
	size_t len;

	if (!s.j)
		return UNDEF;
	p = sv(s);
	len = sl(s);
	b = cbuf(c);
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '%') {
			buf_putc(b, p[i]);
			continue;
		}
		if (i + 2 >= len || hexv(p[i + 1]) < 0 || hexv(p[i + 2]) < 0)
			throw(c, "D3140", -1, "Malformed URL passed to decode function");
		char ch = (char)(hexv(p[i + 1]) * 16 + hexv(p[i + 2]));

		if ((unsigned char)ch < 0x80 && ch && strchr(reserved, ch))
			buf_add(b, p + i, 3);
		else
			buf_putc(b, ch);
		i += 2;
	}
	json_t *r = json_stringn(b->data, b->len);

	if (!r)
		throw(c, "D3140", -1, "Malformed URL passed to decode function");
	return V(own(c, r));
}

static struct val f_decode_url_component(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return url_decode(c, a[0], "");
}

static struct val f_decode_url(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return url_decode(c, a[0], ";/?:@&=+$,#");
}

static int eval_top(const struct jsonata *expr, json_t *input, json_t *bindings, json_t **out,
		    struct jsonata_err *err, const struct ctx *parent);

static struct val f_eval(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct jsonata_err e;
	struct jsonata *x;
	json_t *out = NULL;

	if (!a[0].j)
		return UNDEF;
	x = jsonata_compile(sv(a[0]), c->expr->flags, &e);
	if (!x)
		throw(c, "D3120", -1, "Syntax error in expression passed to function eval: %s", e.message);
	if (eval_top(x, ARG(1).j ? a[1].j : in.j, NULL, &out, &e, c) < 0) {
		jsonata_free(x);
		if (!strcmp(e.code, "U1001") || !e.code[0])
			throw(c, e.code, -1, "%s", e.message);
		throw(c, "D3121", -1, "Dynamic error evaluating the expression passed to function eval: %s", e.message);
	}
	jsonata_free(x);
	if (!out)
		return UNDEF;
	return V(own(c, out));
}

static struct val f_clone(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	return V(deep_copy_clean(c, a[0].j));
}

/* ------------------------------------------------------------------ date/time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t now_ms(struct ctx *c)
{
	if (!c->now_set) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		c->now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		c->now_set = true;
	}
	return c->now_ms;
}

static struct val f_millis(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return num(c, (double)now_ms(c));
}

static bool parse_datetime(struct ctx *c, const char *s, size_t len, struct val picture, int64_t *ret);

/* ISO 8601: YYYY[-MM[-DD[THH:MM[:SS[.sss]][Z|+HH:MM|+HHMM]]]] */
static bool parse_iso(const char *s, int64_t *ret)
{
	int64_t y = 0;
	unsigned mo = 1, d = 1;
	int h = 0, mi = 0, sec = 0, sign = 1;
	double frac = 0;
	int tz = 0;
	const char *p = s;

	if (*p == '-' || *p == '+')
		sign = *p++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || !isdigit((unsigned char)p[3]))
		return false;
	while (isdigit((unsigned char)*p))
		y = y * 10 + (*p++ - '0');
	y *= sign;
	if (*p == '-') {
		if (sscanf(p, "-%2u", &mo) != 1)
			return false;
		p += 3;
		if (*p == '-') {
			if (sscanf(p, "-%2u", &d) != 1)
				return false;
			p += 3;
		}
	}
	if (*p == 'T') {
		p++;
		if (sscanf(p, "%2d:%2d", &h, &mi) != 2)
			return false;
		p += 5;
		if (*p == ':') {
			if (sscanf(p, ":%2d", &sec) != 1)
				return false;
			p += 3;
			if (*p == '.') {
				double scale = 0.1;

				p++;
				while (isdigit((unsigned char)*p)) {
					frac += (*p++ - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sg = *p == '-' ? -1 : 1, th = 0, tm = 0;

			p++;
			if (sscanf(p, "%2d", &th) != 1)
				return false;
			p += 2;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p)) {
				tm = (p[0] - '0') * 10 + (p[1] - '0');
				p += 2;
			}
			tz = sg * (th * 60 + tm);
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
		return false;
	*ret = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - tz * 60) * 1000 +
	       (int64_t)llround(frac * 1000);
	return true;
}

static struct val f_to_millis(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	int64_t ms;

	if (!a[0].j)
		return UNDEF;
	if (ARG(1).j)
		return parse_datetime(c, sv(a[0]), sl(a[0]), a[1], &ms) ? num(c, (double)ms) : UNDEF;
	if (!parse_iso(sv(a[0]), &ms))
		throw(c, "D3110", -1, "The timestamp '%s' cannot be parsed", sv(a[0]));
	return num(c, (double)ms);
}

static struct val f_format_base(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double v, radix = 10;
	char tmp[80];
	int k = 0;
	bool neg;

	if (!a[0].j)
		return UNDEF;
	v = round_half_even(numv(a[0].j), 0);
	if (ARG(1).j)
		radix = trunc(numv(a[1].j));
	if (radix < 2 || radix > 36)
		throw(c, "D3100", -1, "The radix of the formatBase function must be between 2 and 36");
	neg = v < 0;
	v = fabs(v);
	do {
		int dgt = (int)fmod(v, radix);

		tmp[k++] = (char)(dgt < 10 ? '0' + dgt : 'a' + dgt - 10);
		v = floor(v / radix);
	} while (v > 0 && k < 70);
	if (neg)
		tmp[k++] = '-';
	for (int i = 0; i < k / 2; i++) {
		char t = tmp[i];

		tmp[i] = tmp[k - 1 - i];
		tmp[k - 1 - i] = t;
	}
	return strn(c, tmp, (size_t)k);
}

/* ------------------------------------------------------------------ Step Functions additions */

static struct val f_partition(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct val r = V(own(c, json_array()));
	double size = numv(a[1].j);
	json_t *chunk = NULL;

	if (!a[0].j)
		return UNDEF;
	if (size < 1 || size != floor(size))
		throw(c, "D3137", -1, "$partition: the chunk size must be a positive integer");
	if (size > (double)alen(a[0]))
		size = (double)(alen(a[0]) ? alen(a[0]) : 1);
	for (size_t i = 0; i < alen(a[0]); i++) {
		if (i % (size_t)size == 0) {
			chunk = own(c, json_array());
			push(c, r, chunk);
		}
		json_array_append(chunk, json_array_get(a[0].j, i));
	}
	return r;
}

static struct val f_range(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	double st = numv(a[0].j), en = numv(a[1].j), step = ARG(2).j ? numv(a[2].j) : 1;
	struct val r = V(own(c, json_array()));

	if (step == 0)
		throw(c, "D3137", -1, "$range: the step must not be zero");
	if (fabs((en - st) / step) > 1000)
		throw(c, "D3137", -1, "$range: the result would have more than 1000 items");
	for (double x = st; step > 0 ? x <= en : x >= en; x += step)
		push(c, r, mknum(c, x));
	return r;
}

static struct val f_hash(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	const char *alg = ARG(1).j ? sv(a[1]) : "SHA-256";
	const EVP_MD *md = NULL;
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	struct val s = a[0];

	if (!s.j)
		return UNDEF;
	if (!json_is_string(s.j))
		s = to_string(c, s, false);
	if (!strcmp(alg, "MD5"))
		md = EVP_md5();
	else if (!strcmp(alg, "SHA-1"))
		md = EVP_sha1();
	else if (!strcmp(alg, "SHA-256"))
		md = EVP_sha256();
	else if (!strcmp(alg, "SHA-384"))
		md = EVP_sha384();
	else if (!strcmp(alg, "SHA-512"))
		md = EVP_sha512();
	if (!md)
		throw(c, "D3137", -1, "$hash: unsupported algorithm '%s' (MD5, SHA-1, SHA-256, SHA-384, SHA-512)", alg);
	if (!EVP_Digest(sv(s), sl(s), out, &len, md, NULL))
		throw(c, "D3137", -1, "$hash: digest failed");
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	return strn(c, hex, 2 * len);
}

static struct val f_uuid(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	unsigned char u[16];
	char tmp[40];

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		for (int i = 0; i < 16; i++)
			u[i] = (unsigned char)(rng_next(c) * 256);
	u[6] = (u[6] & 0x0F) | 0x40;
	u[8] = (u[8] & 0x3F) | 0x80;
	snprintf(tmp, sizeof(tmp), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	return str(c, tmp);
}

static struct val f_parse(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	json_error_t je;
	json_t *r;

	if (!a[0].j)
		return UNDEF;
	r = json_loadb(sv(a[0]), sl(a[0]), JSON_DECODE_ANY, &je);
	if (!r)
		throw(c, "D3137", -1, "$parse: the string is not valid JSON: %s", je.text);
	return V(own(c, r));
}

static struct val f_format_number(struct ctx *c, struct val *a, int n, struct val in, const char *name);
static struct val f_from_millis(struct ctx *c, struct val *a, int n, struct val in, const char *name);
static struct val f_now(struct ctx *c, struct val *a, int n, struct val in, const char *name);
static struct val f_format_integer(struct ctx *c, struct val *a, int n, struct val in, const char *name);
static struct val f_parse_integer(struct ctx *c, struct val *a, int n, struct val in, const char *name);

static const struct builtin builtins[] = {
	{ "sum", "a<n>:n", f_sum, 0 },
	{ "count", "a:n", f_count, 0 },
	{ "max", "a<n>:n", f_max, 0 },
	{ "min", "a<n>:n", f_min, 0 },
	{ "average", "a<n>:n", f_average, 0 },
	{ "string", "x-b?:s", f_string, 0 },
	{ "substring", "s-nn?:s", f_substring, 0 },
	{ "substringBefore", "s-s:s", f_substring_before, 0 },
	{ "substringAfter", "s-s:s", f_substring_after, 0 },
	{ "lowercase", "s-:s", f_lowercase, 0 },
	{ "uppercase", "s-:s", f_uppercase, 0 },
	{ "length", "s-:n", f_length, 0 },
	{ "trim", "s-:s", f_trim, 0 },
	{ "pad", "s-ns?:s", f_pad, 0 },
	{ "match", "s-f<s:o>n?:a<o>", f_match, 0 },
	{ "contains", "s-(sf):b", f_contains, 0 },
	{ "replace", "s-(sf)(sf)n?:s", f_replace, 0 },
	{ "split", "s-(sf)n?:a<s>", f_split, 0 },
	{ "join", "a<s>s?:s", f_join, 0 },
	{ "formatNumber", "n-so?:s", f_format_number, 0 },
	{ "formatBase", "n-n?:s", f_format_base, 0 },
	{ "formatInteger", "n-s:s", f_format_integer, 0 },
	{ "parseInteger", "s-s:n", f_parse_integer, 0 },
	{ "number", "(nsb)-:n", f_number, 0 },
	{ "floor", "n-:n", f_floor, 0 },
	{ "ceil", "n-:n", f_ceil, 0 },
	{ "round", "n-n?:n", f_round, 0 },
	{ "abs", "n-:n", f_abs, 0 },
	{ "sqrt", "n-:n", f_sqrt, 0 },
	{ "power", "n-n:n", f_power, 0 },
	{ "random", ":n", f_random, 2 },
	{ "random", "n?:n", f_random, 1 },
	{ "boolean", "x-:b", f_boolean, 0 },
	{ "not", "x-:b", f_not, 0 },
	{ "map", "af", f_map, 0 },
	{ "zip", "a+", f_zip, 0 },
	{ "filter", "af", f_filter, 0 },
	{ "single", "af?", f_single, 0 },
	{ "reduce", "afj?:j", f_reduce, 0 },
	{ "sift", "o-f?:o", f_sift, 0 },
	{ "keys", "x-:a<s>", f_keys, 0 },
	{ "lookup", "x-s:x", f_lookup, 0 },
	{ "append", "xx:a", f_append, 0 },
	{ "exists", "x:b", f_exists, 0 },
	{ "spread", "x-:a<o>", f_spread, 0 },
	{ "merge", "a<o>:o", f_merge, 0 },
	{ "reverse", "a:a", f_reverse, 0 },
	{ "each", "o-f:a", f_each, 0 },
	{ "error", "s?:x", f_error, 0 },
	{ "assert", "bs?:x", f_assert, 0 },
	{ "type", "x:s", f_type, 0 },
	{ "sort", "af?:a", f_sort, 0 },
	{ "shuffle", "a:a", f_shuffle, 0 },
	{ "distinct", "x:x", f_distinct, 0 },
	{ "base64encode", "s-:s", f_base64encode, 0 },
	{ "base64decode", "s-:s", f_base64decode, 0 },
	{ "encodeUrlComponent", "s-:s", f_encode_url_component, 0 },
	{ "encodeUrl", "s-:s", f_encode_url, 0 },
	{ "decodeUrlComponent", "s-:s", f_decode_url_component, 0 },
	{ "decodeUrl", "s-:s", f_decode_url, 0 },
	{ "eval", "sx?:x", f_eval, 2 },
	{ "toMillis", "s-s?:n", f_to_millis, 0 },
	{ "fromMillis", "n-s?s?:s", f_from_millis, 0 },
	{ "clone", "(oa)-:o", f_clone, 0 },
	{ "now", "s?s?:s", f_now, 0 },
	{ "millis", ":n", f_millis, 0 },
	{ "partition", "an:a", f_partition, 1 },
	{ "range", "nnn?:a", f_range, 1 },
	{ "hash", "x-s?:s", f_hash, 1 },
	{ "uuid", ":s", f_uuid, 1 },
	{ "parse", "s-:j", f_parse, 1 },
};

static const int nbuiltins = (int)(sizeof(builtins) / sizeof(builtins[0]));

static int builtin_find(const char *name, unsigned flags)
{
	bool asl = flags & JSONATA_ASL;

	for (int i = 0; i < nbuiltins; i++) {
		if (strcmp(builtins[i].name, name))
			continue;
		if ((builtins[i].flags & 1) && !asl)
			continue;
		if ((builtins[i].flags & 2) && asl)
			continue;
		return i;
	}
	return -1;
}

static struct val builtin_val(struct ctx *c, int idx)
{
	if (!c->builtin_marker[idx]) {
		struct fn *f = fn_new(c, FK_BUILTIN);

		f->builtin = idx;
		c->builtin_marker[idx] = f->marker;
	}
	return V(c->builtin_marker[idx]);
}

/* ------------------------------------------------------------------ public API */

struct jsonata *jsonata_compile(const char *src, unsigned flags, struct jsonata_err *err)
{
	struct jsonata *volatile j = calloc(1, sizeof(*j));
	struct parser *volatile p = NULL;
	struct cerr ce;

	if (!j) {
		if (err) {
			snprintf(err->code, sizeof(err->code), "%s", "");
			err->position = -1;
			snprintf(err->message, sizeof(err->message), "out of memory");
		}
		return NULL;
	}
	j->flags = flags;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto oom;
	ce.err = err;
	p->j = j;
	p->src = src;
	p->len = strlen(src);
	p->ce = &ce;
	p->tok.start = -1;
	if (setjmp(ce.jb)) {
		free(p);
		jsonata_free(j);
		return NULL;
	}
	p->prev.type = T_END;
	p->prev.start = -1;
	lex(p);
	p->prev.start = 0;
	{
		struct node *raw = expression(p, 0);

		if (p->tok.type != T_END) {
			char tmp[64];

			perr(p, "S0201", p->tok.pos, "Syntax error: \"%s\"", tok_text(&p->tok, tmp, sizeof(tmp)));
		}
		j->root = process(p, raw);
		if (j->root->type == N_PARENT || j->root->nseeking)
			perr(p, "S0217", j->root->pos, "The object representing the 'parent' cannot be derived from this expression");
	}
	free(p);
	return j;
oom:
	free(p);
	jsonata_free(j);
	if (err) {
		snprintf(err->code, sizeof(err->code), "%s", "");
		err->position = -1;
		snprintf(err->message, sizeof(err->message), "out of memory");
	}
	return NULL;
}

void jsonata_free(struct jsonata *expr)
{
	if (!expr)
		return;
	for (int i = 0; i < expr->nowned; i++) {
		if (expr->owned_json[i])
			json_decref(expr->owned[i]);
		else
			pcre2_code_free(expr->owned[i]);
	}
	free(expr->owned);
	free(expr->owned_json);
	arena_release(&expr->arena);
	free(expr);
}

static bool has_fn(const struct ctx *c, json_t *j)
{
	const char *k;
	json_t *v;

	if (fn_of(c, j))
		return true;
	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++)
			if (has_fn(c, json_array_get(j, i)))
				return true;
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			if (has_fn(c, v))
				return true;
	}
	return false;
}

/* A copy without functions (dropped from objects, null in arrays), as JSON.stringify does. */
static json_t *strip_fns(const struct ctx *c, json_t *j)
{
	const char *k;
	json_t *v, *r;

	if (json_is_array(j)) {
		r = json_array();
		for (size_t i = 0; r && i < json_array_size(j); i++) {
			json_t *x = json_array_get(j, i);

			json_array_append_new(r, fn_of(c, x) ? json_null() : strip_fns(c, x));
		}
		return r;
	}
	if (json_is_object(j)) {
		r = json_object();
		json_object_foreach(j, k, v)
			if (r && !fn_of(c, v))
				json_object_set_new(r, k, strip_fns(c, v));
		return r;
	}
	return json_incref(j);
}

/* @parent: the evaluation calling $eval, whose stack, depth and clock this one continues */
static int eval_top(const struct jsonata *expr, json_t *input, json_t *bindings, json_t **out,
		    struct jsonata_err *err, const struct ctx *parent)
{
	struct ctx *c = calloc(1, sizeof(*c));
	volatile int rc = -1;
	json_t *volatile result = NULL;
	char base;

	if (!c) {
		if (err) {
			snprintf(err->code, sizeof(err->code), "%s", "");
			err->position = -1;
			snprintf(err->message, sizeof(err->message), "out of memory");
		}
		return -1;
	}
	c->expr = expr;
	c->err = err;
	c->stack_base = &base;
	c->time_ms = MAX_EVAL_MS;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	if (parent) {
		c->stack_base = parent->stack_base;
		c->depth = parent->depth;
		c->user_depth = parent->user_depth;
		c->start = parent->start;
	}
	c->builtin_marker = calloc((size_t)nbuiltins, sizeof(*c->builtin_marker));
	c->builtin_sig = calloc((size_t)nbuiltins, sizeof(*c->builtin_sig));
	if (!c->builtin_marker || !c->builtin_sig) {
		if (err) {
			snprintf(err->code, sizeof(err->code), "%s", "");
			err->position = -1;
			snprintf(err->message, sizeof(err->message), "out of memory");
		}
		goto out;
	}
	if (setjmp(c->jb) == 0) {
		struct val in = V(input), r;
		struct frame *env = frame_new(c, NULL);
		const char *k;
		json_t *v;

		c->root_env = env;
		c->tail_marker = own(c, json_object());
		if (json_is_array(input)) {
			in = seq_of(c, in);
			in.f |= F_OUTER;
		}
		bind(c, env, "$", in);
		if (json_is_object(bindings)) {
			json_object_foreach(bindings, k, v)
				bind(c, env, cstrdup(c, k), V(v));
		}
		r = eval(c, expr->root, in, env);
		if (r.j && too_deep(r.j, 0))
			throw(c, "U1001", -1, "The result is nested too deeply");
		if (fn_of(c, r.j))
			result = NULL;
		else if (r.j && has_fn(c, r.j))
			result = strip_fns(c, r.j);
		else
			result = json_incref(r.j);
		rc = 0;
	}
out:
	for (int i = 0; i < c->ndefers; i++)
		c->defers[i].fn(c->defers[i].arg);
	free(c->defers);
	for (size_t i = 0; i < c->nowned; i++)
		json_decref(c->owned[i]);
	free(c->owned);
	free(c->fns);
	free(c->builtin_marker);
	free(c->builtin_sig);
	arena_release(&c->arena);
	free(c);
	if (rc == 0)
		*out = result;
	return rc;
}

int jsonata_eval(const struct jsonata *expr, json_t *input, json_t *bindings, json_t **out,
		 struct jsonata_err *err)
{
	return eval_top(expr, input, bindings, out, err, NULL);
}

/* ------------------------------------------------------------------ number pictures */

/* code point strings for the picture machinery */
struct ustr {
	uint32_t *c;
	size_t n;
};

static struct ustr u_from(struct ctx *c, const char *s, size_t len)
{
	struct ustr u;
	size_t i = 0;

	u.c = calloc_c(c, sizeof(uint32_t) * (len + 1));
	u.n = 0;
	while (i < len)
		u.c[u.n++] = utf8_get(s, len, &i);
	return u;
}

static struct ustr u_sub(struct ustr u, size_t from, size_t to)
{
	struct ustr r;

	if (to > u.n)
		to = u.n;
	if (from > to)
		from = to;
	r.c = u.c + from;
	r.n = to - from;
	return r;
}

static long u_index(struct ustr u, uint32_t ch, size_t from)
{
	for (size_t i = from; i < u.n; i++)
		if (u.c[i] == ch)
			return (long)i;
	return -1;
}

static long u_last(struct ustr u, uint32_t ch)
{
	for (size_t i = u.n; i-- > 0;)
		if (u.c[i] == ch)
			return (long)i;
	return -1;
}

static void u_put(struct buf *b, struct ustr u)
{
	for (size_t i = 0; i < u.n; i++)
		utf8_put(b, u.c[i]);
}

enum { P_DEC, P_GRP, P_EXP, P_MINUS, P_PCT, P_PERMILLE, P_ZERO, P_DIGIT, P_PATSEP, P_N };

struct fmt_props {
	uint32_t ch[P_N];
	const char *text[P_N];	/* the full strings (minus-sign etc. may be longer) */
};

struct pic {
	struct ustr prefix, suffix, active, mantissa, exponent, integer, fraction, sub;
	bool has_exp;
	int igrp[64], nigrp, fgrp[64], nfgrp, regular, min_int, scaling, min_frac, max_frac, min_exp;
};

static bool is_digit_fam(const struct fmt_props *p, uint32_t ch)
{
	return ch >= p->ch[P_ZERO] && ch < p->ch[P_ZERO] + 10;
}

static bool is_active(const struct fmt_props *p, uint32_t ch)
{
	return is_digit_fam(p, ch) || ch == p->ch[P_DEC] || ch == p->ch[P_EXP] || ch == p->ch[P_GRP] ||
	       ch == p->ch[P_DIGIT] || ch == p->ch[P_PATSEP];
}

static void pic_split(const struct fmt_props *p, struct ustr sub, struct pic *x)
{
	size_t i, pre = sub.n, suf = 0;
	long ep, dp;

	memset(x, 0, sizeof(*x));
	x->sub = sub;
	for (i = 0; i < sub.n; i++) {
		if (is_active(p, sub.c[i]) && sub.c[i] != p->ch[P_EXP]) {
			pre = i;
			break;
		}
	}
	for (i = sub.n; i-- > 0;) {
		if (is_active(p, sub.c[i]) && sub.c[i] != p->ch[P_EXP]) {
			suf = sub.n - i - 1;
			break;
		}
	}
	if (pre == sub.n)
		suf = 0;
	x->prefix = u_sub(sub, 0, pre);
	x->suffix = u_sub(sub, sub.n - suf, sub.n);
	x->active = u_sub(sub, pre, sub.n - suf);
	ep = u_index(sub, p->ch[P_EXP], pre);
	if (ep == -1 || (size_t)ep > sub.n - suf) {
		x->mantissa = x->active;
		x->has_exp = false;
	} else {
		x->mantissa = u_sub(x->active, 0, (size_t)ep - pre);
		x->exponent = u_sub(x->active, (size_t)ep - pre + 1, x->active.n);
		x->has_exp = true;
	}
	dp = u_index(x->mantissa, p->ch[P_DEC], 0);
	if (dp == -1) {
		x->integer = x->mantissa;
		x->fraction = x->suffix;
	} else {
		x->integer = u_sub(x->mantissa, 0, (size_t)dp);
		x->fraction = u_sub(x->mantissa, (size_t)dp + 1, x->mantissa.n);
	}
}

static const char *pic_validate(const struct fmt_props *p, struct pic *x)
{
	struct ustr s = x->sub;
	const char *err = NULL;
	long dp = u_index(s, p->ch[P_DEC], 0);
	bool valid = false;

	if (dp != u_last(s, p->ch[P_DEC]))
		err = "D3081";
	if (u_index(s, p->ch[P_PCT], 0) != u_last(s, p->ch[P_PCT]))
		err = "D3082";
	if (u_index(s, p->ch[P_PERMILLE], 0) != u_last(s, p->ch[P_PERMILLE]))
		err = "D3083";
	if (u_index(s, p->ch[P_PCT], 0) != -1 && u_index(s, p->ch[P_PERMILLE], 0) != -1)
		err = "D3084";
	for (size_t i = 0; i < x->mantissa.n; i++)
		if (is_digit_fam(p, x->mantissa.c[i]) || x->mantissa.c[i] == p->ch[P_DIGIT])
			valid = true;
	if (!valid)
		err = "D3085";
	for (size_t i = 0; i < x->active.n; i++)
		if (!is_active(p, x->active.c[i]))
			err = "D3086";
	if (dp != -1) {
		if ((dp > 0 && s.c[dp - 1] == p->ch[P_GRP]) || ((size_t)dp + 1 < s.n && s.c[dp + 1] == p->ch[P_GRP]))
			err = "D3087";
	} else if (x->integer.n && x->integer.c[x->integer.n - 1] == p->ch[P_GRP]) {
		err = "D3088";
	}
	for (size_t i = 0; i + 1 < s.n; i++)
		if (s.c[i] == p->ch[P_GRP] && s.c[i + 1] == p->ch[P_GRP])
			err = "D3089";
	long od = u_index(x->integer, p->ch[P_DIGIT], 0);

	if (od != -1)
		for (long i = 0; i < od; i++)
			if (is_digit_fam(p, x->integer.c[i]))
				err = "D3090";
	od = u_last(x->fraction, p->ch[P_DIGIT]);
	if (od != -1)
		for (size_t i = (size_t)od; i < x->fraction.n; i++)
			if (is_digit_fam(p, x->fraction.c[i]))
				err = "D3091";
	if (x->has_exp && x->exponent.n > 0 && (u_index(s, p->ch[P_PCT], 0) != -1 || u_index(s, p->ch[P_PERMILLE], 0) != -1))
		err = "D3092";
	if (x->has_exp) {
		bool bad = x->exponent.n == 0;

		for (size_t i = 0; i < x->exponent.n; i++)
			if (!is_digit_fam(p, x->exponent.c[i]))
				bad = true;
		if (bad)
			err = "D3093";
	}
	return err;
}

static int gcd_i(int a, int b)
{
	return b == 0 ? a : gcd_i(b, a % b);
}

static void pic_grouping(const struct fmt_props *p, struct pic *x, struct ustr part, bool to_left, int *pos, int *npos)
{
	long g = u_index(part, p->ch[P_GRP], 0);

	*npos = 0;
	while (g != -1 && *npos < 64) {
		int cnt = 0;
		size_t from = to_left ? 0 : (size_t)g, to = to_left ? (size_t)g : part.n;

		for (size_t i = from; i < to; i++)
			if (is_digit_fam(p, part.c[i]) || part.c[i] == p->ch[P_DIGIT])
				cnt++;
		pos[(*npos)++] = cnt;
		/* JSONata looks for the next separator in the integer part, even for the fraction */
		g = u_index(x->integer, p->ch[P_GRP], (size_t)g + 1);
	}
}

static void pic_analyse(const struct fmt_props *p, struct pic *x)
{
	pic_grouping(p, x, x->integer, false, x->igrp, &x->nigrp);
	x->regular = 0;
	if (x->nigrp) {
		int f = x->igrp[0];

		for (int i = 1; i < x->nigrp; i++)
			f = gcd_i(f, x->igrp[i]);
		x->regular = f;
		for (int k = 1; k <= x->nigrp && f; k++) {
			bool found = false;

			for (int i = 0; i < x->nigrp; i++)
				found |= x->igrp[i] == k * f;
			if (!found)
				x->regular = 0;
		}
	}
	pic_grouping(p, x, x->fraction, true, x->fgrp, &x->nfgrp);
	x->min_int = 0;
	for (size_t i = 0; i < x->integer.n; i++)
		x->min_int += is_digit_fam(p, x->integer.c[i]);
	x->scaling = x->min_int;
	x->min_frac = x->max_frac = 0;
	for (size_t i = 0; i < x->fraction.n; i++) {
		x->min_frac += is_digit_fam(p, x->fraction.c[i]);
		x->max_frac += is_digit_fam(p, x->fraction.c[i]) || x->fraction.c[i] == p->ch[P_DIGIT];
	}
	if (x->min_int == 0 && x->max_frac == 0) {
		if (x->has_exp)
			x->min_frac = x->max_frac = 1;
		else
			x->min_int = 1;
	}
	if (x->has_exp && x->min_int == 0 && u_index(x->integer, p->ch[P_DIGIT], 0) != -1)
		x->min_int = 1;
	if (x->min_int == 0 && x->min_frac == 0)
		x->min_frac = 1;
	x->min_exp = 0;
	if (x->has_exp)
		for (size_t i = 0; i < x->exponent.n; i++)
			x->min_exp += is_digit_fam(p, x->exponent.c[i]);
}

/* insert @ch at code point @at of the array (capacity is the caller's) */
static void u_insert(uint32_t *v, size_t *n, size_t at, uint32_t ch)
{
	memmove(v + at + 1, v + at, (*n - at) * sizeof(*v));
	v[at] = ch;
	(*n)++;
}

static struct val f_format_number(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	static const char *const keys[P_N] = { "decimal-separator", "grouping-separator", "exponent-separator",
		"minus-sign", "percent", "per-mille", "zero-digit", "digit", "pattern-separator" };
	static const char *const defs[P_N] = { ".", ",", "e", "-", "%", "\xe2\x80\xb0", "0", "#", ";" };
	struct fmt_props p;
	struct ustr pict, subs[3];
	int nsub = 0;
	struct pic pics[2], *x;
	double value, adj, mant;
	int exponent = 0;
	bool has_exponent = false;
	char tmp[512];

	if (!a[0].j)
		return UNDEF;
	for (int i = 0; i < P_N; i++) {
		json_t *o = ARG(2).j ? json_object_get(a[2].j, keys[i]) : NULL;
		const char *t = json_is_string(o) && json_string_length(o) ? json_string_value(o) : defs[i];
		size_t k = 0;

		p.text[i] = t;
		p.ch[i] = utf8_get(t, strlen(t), &k);
	}
	pict = u_from(c, sv(a[1]), sl(a[1]));
	{
		size_t st = 0;

		for (size_t i = 0; i <= pict.n; i++) {
			if (i == pict.n || pict.c[i] == p.ch[P_PATSEP]) {
				if (nsub == 2)
					throw(c, "D3080", -1, "The format-number picture string must not contain more than one instance of the pattern-separator character");
				subs[nsub++] = u_sub(pict, st, i);
				st = i + 1;
			}
		}
	}
	for (int i = 0; i < nsub; i++) {
		const char *e;

		pic_split(&p, subs[i], &pics[i]);
		e = pic_validate(&p, &pics[i]);
		if (e)
			throw(c, e, -1, "Invalid picture string for $formatNumber (%s)", e);
		pic_analyse(&p, &pics[i]);
		if (pics[i].max_frac > 100 || pics[i].min_int > 300 || pics[i].min_exp > 20)
			throw(c, "D3080", -1, "The picture string asks for more digits than a number has");
	}
	value = numv(a[0].j);
	x = &pics[0];
	struct ustr minus_prefix = { NULL, 0 };

	if (value < 0) {
		if (nsub == 2) {
			x = &pics[1];
		} else {
			/* the negative picture is the positive one with the minus sign before its prefix */
			struct ustr ms = u_from(c, p.text[P_MINUS], strlen(p.text[P_MINUS]));

			minus_prefix = ms;
		}
	}
	if (u_index(x->sub, p.ch[P_PCT], 0) != -1)
		adj = value * 100;
	else if (u_index(x->sub, p.ch[P_PERMILLE], 0) != -1)
		adj = value * 1000;
	else
		adj = value;
	if (x->min_exp == 0) {
		mant = adj;
	} else {
		double maxm = pow(10, x->scaling), minm = pow(10, x->scaling - 1);

		mant = adj;
		has_exponent = true;
		if (mant != 0) {
			while (fabs(mant) < minm) {
				mant *= 10;
				exponent--;
			}
			while (fabs(mant) > maxm) {
				mant /= 10;
				exponent++;
			}
		}
	}
	mant = round_half_even(mant, x->max_frac);
	snprintf(tmp, sizeof(tmp), "%.*f", x->max_frac, fabs(mant));
	/* digits in the zero-digit family, '.' as the decimal separator */
	size_t cap = 2 * (strlen(tmp) + (size_t)x->min_int + (size_t)x->min_frac) + 16;
	uint32_t *v = calloc_c(c, sizeof(uint32_t) * cap);
	size_t vn = 0;
	bool had_dot = false;

	for (char *q = tmp; *q; q++) {
		if (*q >= '0' && *q <= '9') {
			v[vn++] = p.ch[P_ZERO] + (uint32_t)(*q - '0');
		} else if (*q == '.') {
			v[vn++] = p.ch[P_DEC];
			had_dot = true;
		}
	}
	if (!had_dot)
		v[vn++] = p.ch[P_DEC];
	{
		size_t st = 0;

		while (st < vn && v[st] == p.ch[P_ZERO])
			st++;
		memmove(v, v + st, (vn - st) * sizeof(*v));
		vn -= st;
		while (vn && v[vn - 1] == p.ch[P_ZERO])
			vn--;
	}
	long dpos = -1;

	for (size_t i = 0; i < vn; i++)
		if (v[i] == p.ch[P_DEC]) {
			dpos = (long)i;
			break;
		}
	int padl = x->min_int - (int)dpos, padr = x->min_frac - (int)((long)vn - dpos - 1);

	for (int i = 0; i < padl; i++)
		u_insert(v, &vn, 0, p.ch[P_ZERO]);
	for (int i = 0; i < padr; i++)
		v[vn++] = p.ch[P_ZERO];
	dpos += padl > 0 ? padl : 0;
	if (x->regular > 0) {
		int groups = (int)((dpos - 1) / x->regular);

		for (int g = 1; g <= groups; g++) {
			if (vn + 2 >= cap)
				break;
			u_insert(v, &vn, (size_t)(dpos - g * x->regular), p.ch[P_GRP]);
		}
	} else {
		for (int i = 0; i < x->nigrp; i++) {
			long at = dpos - x->igrp[i];

			if (at < 0 || vn + 2 >= cap)
				continue;
			u_insert(v, &vn, (size_t)at, p.ch[P_GRP]);
			dpos++;
		}
	}
	for (size_t i = 0; i < vn; i++)
		if (v[i] == p.ch[P_DEC]) {
			dpos = (long)i;
			break;
		}
	for (int i = 0; i < x->nfgrp; i++) {
		size_t at = (size_t)(x->fgrp[i] + dpos + 1);

		if (at <= vn && vn + 2 < cap)
			u_insert(v, &vn, at, p.ch[P_GRP]);
	}
	for (size_t i = 0; i < vn; i++)
		if (v[i] == p.ch[P_DEC]) {
			dpos = (long)i;
			break;
		}
	if (x->max_frac == 0 || dpos == (long)vn - 1)
		vn--;
	struct buf *b = cbuf(c);
	struct ustr vs = { v, vn };

	u_put(b, minus_prefix);
	u_put(b, x->prefix);
	u_put(b, vs);
	if (has_exponent) {
		char et[32];
		int k, len;

		len = snprintf(et, sizeof(et), "%d", abs(exponent));
		buf_puts(b, p.text[P_EXP]);
		if (exponent < 0)
			buf_puts(b, p.text[P_MINUS]);
		for (k = len; k < x->min_exp; k++)
			utf8_put(b, p.ch[P_ZERO]);
		for (k = 0; k < len; k++)
			utf8_put(b, p.ch[P_ZERO] + (uint32_t)(et[k] - '0'));
	}
	u_put(b, x->suffix);
	return buf_val(c, b);
}

/* ------------------------------------------------------------------ integer pictures */

enum ifmt { IF_DECIMAL, IF_LETTERS, IF_ROMAN, IF_WORDS, IF_SEQUENCE };
enum icase { IC_LOWER, IC_UPPER, IC_TITLE };

struct ipic {
	enum ifmt type;
	enum icase cs;
	bool ordinal;
	uint32_t zero;
	int mandatory, optional;
	int regular;		/* regular grouping interval, 0 if irregular */
	uint32_t regular_ch;
	int nsep;
	int sep_pos[32];
	uint32_t sep_ch[32];
};

static const uint32_t digit_zeros[] = { 0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6,
	0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0,
	0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50,
	0xABF0, 0xFF10 };

static bool ipic_parse(struct ipic *f, const char *pic, size_t len, const char **ret_err)
{
	const char *semi = NULL;
	size_t plen = len;

	memset(f, 0, sizeof(*f));
	f->zero = '0';
	for (size_t i = len; i-- > 0;)
		if (pic[i] == ';') {
			semi = pic + i;
			break;
		}
	if (semi) {
		plen = (size_t)(semi - pic);
		if (semi[1] == 'o')
			f->ordinal = true;
	}
	if (plen == 1 && (pic[0] == 'A' || pic[0] == 'a')) {
		f->type = IF_LETTERS;
		f->cs = pic[0] == 'A' ? IC_UPPER : IC_LOWER;
		return true;
	}
	if (plen == 1 && (pic[0] == 'I' || pic[0] == 'i')) {
		f->type = IF_ROMAN;
		f->cs = pic[0] == 'I' ? IC_UPPER : IC_LOWER;
		return true;
	}
	if ((plen == 1 && (pic[0] == 'W' || pic[0] == 'w')) || (plen == 2 && !strncmp(pic, "Ww", 2))) {
		f->type = IF_WORDS;
		f->cs = plen == 2 ? IC_TITLE : pic[0] == 'W' ? IC_UPPER : IC_LOWER;
		return true;
	}
	/* a decimal digit pattern, read from the right */
	uint32_t cps[256];
	size_t n = 0, i = 0;
	int pos = 0;
	bool have_zero = false;

	while (i < plen && n < 256)
		cps[n++] = utf8_get(pic, plen, &i);
	for (size_t k = n; k-- > 0;) {
		uint32_t cp = cps[k];
		bool digit = false;

		for (size_t g = 0; g < sizeof(digit_zeros) / sizeof(digit_zeros[0]); g++) {
			if (cp >= digit_zeros[g] && cp <= digit_zeros[g] + 9) {
				digit = true;
				f->mandatory++;
				pos++;
				if (!have_zero) {
					f->zero = digit_zeros[g];
					have_zero = true;
				} else if (f->zero != digit_zeros[g]) {
					*ret_err = "D3131";
					return false;
				}
				break;
			}
		}
		if (digit)
			continue;
		if (cp == '#') {
			pos++;
			f->optional++;
		} else if (f->nsep < 32) {
			f->sep_pos[f->nsep] = pos;
			f->sep_ch[f->nsep++] = cp;
		}
	}
	if (f->mandatory == 0) {
		f->type = IF_SEQUENCE;
		return true;
	}
	f->type = IF_DECIMAL;
	if (f->nsep) {
		int g = f->sep_pos[0];
		bool same = true;

		for (int k = 1; k < f->nsep; k++) {
			same = same && f->sep_ch[k] == f->sep_ch[0];
			g = gcd_i(g, f->sep_pos[k]);
		}
		for (int k = 1; same && g && k <= f->nsep; k++) {
			bool found = false;

			for (int m = 0; m < f->nsep; m++)
				found |= f->sep_pos[m] == k * g;
			if (!found)
				same = false;
		}
		if (same && g > 0) {
			f->regular = g;
			f->regular_ch = f->sep_ch[0];
		}
	}
	return true;
}

static const char *const few_words[] = { "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven",
	"Eight", "Nine", "Ten", "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen",
	"Eighteen", "Nineteen" };
static const char *const ordinal_words[] = { "Zeroth", "First", "Second", "Third", "Fourth", "Fifth", "Sixth",
	"Seventh", "Eighth", "Ninth", "Tenth", "Eleventh", "Twelfth", "Thirteenth", "Fourteenth", "Fifteenth",
	"Sixteenth", "Seventeenth", "Eighteenth", "Nineteenth" };
static const char *const decade_words[] = { "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty",
	"Ninety", "Hundred" };
static const char *const magnitude_words[] = { "Thousand", "Million", "Billion", "Trillion" };

static void words_of(struct buf *b, double num, bool prev, bool ord)
{
	if (num <= 19) {
		if (prev)
			buf_puts(b, " and ");
		buf_puts(b, ord ? ordinal_words[(int)num] : few_words[(int)num]);
	} else if (num < 100) {
		int tens = (int)(num / 10), rem = (int)fmod(num, 10);

		if (prev)
			buf_puts(b, " and ");
		buf_puts(b, decade_words[tens - 2]);
		if (rem > 0) {
			buf_putc(b, '-');
			words_of(b, rem, false, ord);
		} else if (ord) {
			b->len--;
			b->data[b->len] = 0;
			buf_puts(b, "ieth");
		}
	} else if (num < 1000) {
		int hundreds = (int)(num / 100);
		double rem = fmod(num, 100);

		if (prev)
			buf_puts(b, ", ");
		buf_puts(b, few_words[hundreds]);
		buf_puts(b, " Hundred");
		if (rem > 0)
			words_of(b, rem, true, ord);
		else if (ord)
			buf_puts(b, "th");
	} else {
		int mag = (int)floor(log10(num) / 3);

		if (mag > 4)
			mag = 4;
		double factor = pow(10, mag * 3), mant = floor(num / factor), rem = num - mant * factor;

		if (prev)
			buf_puts(b, ", ");
		words_of(b, mant, false, false);
		buf_putc(b, ' ');
		buf_puts(b, magnitude_words[mag - 1]);
		if (rem > 0)
			words_of(b, rem, true, ord);
		else if (ord)
			buf_puts(b, "th");
	}
}

static void roman_of(struct buf *b, double v)
{
	static const struct { int v; const char *s; } r[] = { { 1000, "m" }, { 900, "cm" }, { 500, "d" },
		{ 400, "cd" }, { 100, "c" }, { 90, "xc" }, { 50, "l" }, { 40, "xl" }, { 10, "x" }, { 9, "ix" },
		{ 5, "v" }, { 4, "iv" }, { 1, "i" } };

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		while (v >= r[i].v && b->len < 100000) {
			buf_puts(b, r[i].s);
			v -= r[i].v;
		}
}

static void format_int(struct ctx *c, struct buf *out, double value, const struct ipic *f)
{
	bool neg = value < 0;
	struct buf *b = cbuf(c);

	value = fabs(value);
	switch (f->type) {
	case IF_LETTERS: {
		char tmp[64];
		int k = 64;

		while (value > 0 && k > 0) {
			tmp[--k] = (char)((f->cs == IC_UPPER ? 'A' : 'a') + (int)fmod(value - 1, 26));
			value = floor((value - 1) / 26);
		}
		buf_add(b, tmp + k, (size_t)(64 - k));
		break;
	}
	case IF_ROMAN:
		roman_of(b, value);
		if (f->cs == IC_UPPER)
			for (size_t i = 0; i < b->len; i++)
				b->data[i] = (char)toupper((unsigned char)b->data[i]);
		break;
	case IF_WORDS:
		words_of(b, value, false, f->ordinal);
		for (size_t i = 0; i < b->len; i++) {
			if (f->cs == IC_UPPER)
				b->data[i] = (char)toupper((unsigned char)b->data[i]);
			else if (f->cs == IC_LOWER)
				b->data[i] = (char)tolower((unsigned char)b->data[i]);
		}
		break;
	case IF_DECIMAL: {
		char digits[400];
		int nd = snprintf(digits, sizeof(digits), "%.0f", value);
		uint32_t v[800];
		size_t vn = 0;

		for (int k = nd; k < f->mandatory && vn < 300; k++)
			v[vn++] = f->zero;
		for (int k = 0; k < nd && vn < 600; k++)
			v[vn++] = f->zero + (uint32_t)(digits[k] - '0');
		if (f->regular) {
			int groups = (int)((vn - 1) / (size_t)f->regular);

			for (int g = groups; g > 0 && vn < 790; g--)
				u_insert(v, &vn, vn - (size_t)(g * f->regular), f->regular_ch);
		} else {
			for (int k = f->nsep - 1; k >= 0 && vn < 790; k--) {
				long at = (long)vn - f->sep_pos[k];

				if (at >= 0)
					u_insert(v, &vn, (size_t)at, f->sep_ch[k]);
			}
		}
		struct ustr us = { v, vn };

		u_put(b, us);
		if (f->ordinal) {
			char last = digits[nd - 1], prev = nd > 1 ? digits[nd - 2] : 0;
			const char *suf = "th";

			if (prev != '1') {
				if (last == '1')
					suf = "st";
				else if (last == '2')
					suf = "nd";
				else if (last == '3')
					suf = "rd";
			}
			buf_puts(b, suf);
		}
		break;
	}
	case IF_SEQUENCE:
		throw(c, "D3130", -1, "Formatting or parsing an integer as a sequence starting with this character is not supported by this implementation");
	}
	if (neg)
		buf_putc(out, '-');
	buf_add(out, b->data, b->len);
}

static struct val f_format_integer(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct ipic f;
	const char *e = NULL;
	struct buf *b;

	if (!a[0].j)
		return UNDEF;
	if (!ipic_parse(&f, sv(a[1]), sl(a[1]), &e))
		throw(c, e, -1, "Invalid picture for $formatInteger");
	b = cbuf(c);
	format_int(c, b, floor(numv(a[0].j)), &f);
	return buf_val(c, b);
}

/* the value of one number word, -1 if it is none */
static double word_value(const char *w)
{
	for (int k = 0; k < 20; k++)
		if (!strcasecmp(w, few_words[k]) || !strcasecmp(w, ordinal_words[k]))
			return k;
	for (int k = 0; k < 8; k++) {
		char ieth[32];

		snprintf(ieth, sizeof(ieth), "%.*sieth", (int)strlen(decade_words[k]) - 1, decade_words[k]);
		if (!strcasecmp(w, decade_words[k]) || !strcasecmp(w, ieth))
			return (k + 2) * 10;
	}
	if (!strcasecmp(w, "hundred") || !strcasecmp(w, "hundredth"))
		return 100;
	for (int k = 0; k < 4; k++) {
		char th[32];

		snprintf(th, sizeof(th), "%sth", magnitude_words[k]);
		if (!strcasecmp(w, magnitude_words[k]) || !strcasecmp(w, th))
			return pow(10, 3 * (k + 1));
	}
	return -1;
}

/* words -> number (JSONata's segment method), for $parseInteger and 'w' date pictures */
static bool words_value(const char *s, size_t len, size_t *used, double *ret)
{
	double segs[64];
	int nseg = 1;
	size_t i = 0, last_good = 0;
	bool any = false;

	segs[0] = 0;
	while (i < len) {
		size_t st = i;
		char w[32];
		size_t wl = 0;
		double v;

		while (i < len && isalpha((unsigned char)s[i]) && wl < sizeof(w) - 1)
			w[wl++] = s[i++];
		w[wl] = 0;
		if (!wl)
			break;
		if (!strcasecmp(w, "and") && any) {
			while (i < len && s[i] == ' ')
				i++;
			continue;
		}
		v = word_value(w);
		if (v < 0) {
			i = st;
			break;
		}
		any = true;
		if (v < 100) {
			double top = segs[--nseg];

			if (top >= 1000 && nseg < 62) {
				segs[nseg++] = top;
				top = 0;
			}
			segs[nseg++] = top + v;
		} else {
			segs[nseg - 1] *= v;
		}
		last_good = i;
		while (i < len && (s[i] == ' ' || s[i] == '-' || s[i] == ','))
			i++;
	}
	if (!any)
		return false;
	*used = last_good;
	*ret = 0;
	for (int k = 0; k < nseg; k++)
		*ret += segs[k];
	return true;
}

static bool roman_value(const char *s, size_t len, size_t *used, double *ret)
{
	double total = 0;
	size_t i = 0;
	int prev = 0;

	while (i < len) {
		int v;

		switch (tolower((unsigned char)s[i])) {
		case 'i': v = 1; break;
		case 'v': v = 5; break;
		case 'x': v = 10; break;
		case 'l': v = 50; break;
		case 'c': v = 100; break;
		case 'd': v = 500; break;
		case 'm': v = 1000; break;
		default: v = 0; break;
		}
		if (!v)
			break;
		total += v;
		if (prev && prev < v)
			total -= 2 * prev;
		prev = v;
		i++;
	}
	*used = i;
	*ret = total;
	return true;
}

/* read an integer at s as picture @f presents it; @maxw digits at most (0: any) */
static bool int_value(const struct ipic *f, const char *s, size_t len, int maxw, size_t *used, double *ret)
{
	size_t i = 0;
	double v = 0;

	switch (f->type) {
	case IF_WORDS:
		return words_value(s, len, used, ret);
	case IF_ROMAN:
		return roman_value(s, len, used, ret);
	case IF_LETTERS:
		while (i < len && isalpha((unsigned char)s[i])) {
			v = v * 26 + (tolower((unsigned char)s[i]) - 'a' + 1);
			i++;
		}
		if (!i)
			return false;
		*used = i;
		*ret = v;
		return true;
	default: {
		int nd = 0;

		while (i < len) {
			size_t k = i;
			uint32_t cp = utf8_get(s, len, &k);

			if (cp >= f->zero && cp <= f->zero + 9) {
				if (maxw && nd >= maxw)
					break;
				v = v * 10 + (cp - f->zero);
				nd++;
				i = k;
				continue;
			}
			bool sep = false;

			for (int m = 0; m < f->nsep; m++)
				sep |= cp == f->sep_ch[m];
			if (f->regular && cp == f->regular_ch)
				sep = true;
			if (!sep || !nd)
				break;
			i = k;
		}
		if (!nd)
			return false;
		if (f->ordinal && i + 1 < len && isalpha((unsigned char)s[i]) && isalpha((unsigned char)s[i + 1]))
			i += 2;
		*used = i;
		*ret = v;
		return true;
	}
	}
}

static struct val f_parse_integer(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	struct ipic f;
	const char *e = NULL;
	size_t used = 0;
	double v;
	const char *s;

	if (!a[0].j)
		return UNDEF;
	if (!ipic_parse(&f, sv(a[1]), sl(a[1]), &e))
		throw(c, e, -1, "Invalid picture for $parseInteger");
	if (f.type == IF_SEQUENCE)
		throw(c, "D3130", -1, "Formatting or parsing an integer as a sequence starting with this character is not supported by this implementation");
	s = sv(a[0]);
	bool neg = *s == '-';

	if (neg)
		s++;
	if (!int_value(&f, s, strlen(s), 0, &used, &v))
		return UNDEF;
	return num(c, neg ? -v : v);
}

/* ------------------------------------------------------------------ date/time pictures */

enum { TC_NONE, TC_LOWER, TC_UPPER, TC_TITLE };

struct dmarker {
	bool literal;
	const char *lit;	/* literal text (arena), for literals */
	size_t litlen;
	char comp;
	int names;		/* TC_* when presented as a name */
	struct ipic ip;
	bool has_ip;
	int wmin, wmax;		/* -1: unspecified */
	int n;			/* year/month/day width, -1 none */
	char pres2;
	char pres1[64];
};

struct dpic {
	struct dmarker *m;
	int n;
};

static const char *default_pres(char comp)
{
	switch (comp) {
	case 'Y': case 'M': case 'D': case 'd': case 'W': case 'X': case 'x': case 'w': case 'H': case 'h':
	case 'f':
		return "1";
	case 'F': case 'P': case 'C': case 'E':
		return "n";
	case 'm': case 's':
		return "01";
	case 'Z': case 'z':
		return "01:01";
	default:
		return NULL;
	}
}

static void dpic_parse(struct ctx *c, const char *pic, size_t len, struct dpic *d)
{
	size_t start = 0, pos = 0;

	d->m = calloc_c(c, sizeof(*d->m) * (len + 2));
	d->n = 0;
#define ADD_LIT(from, to)                                                                    \
	do {                                                                                 \
		if ((to) > (from)) {                                                         \
			struct buf *lb_ = cbuf(c);                                           \
			for (size_t q_ = (from); q_ < (to); q_++) {                          \
				buf_putc(lb_, pic[q_]);                                      \
				if (pic[q_] == ']' && q_ + 1 < (to) && pic[q_ + 1] == ']')   \
					q_++;                                                \
			}                                                                    \
			d->m[d->n].literal = true;                                           \
			d->m[d->n].lit = cstrdup(c, lb_->data);                              \
			d->m[d->n++].litlen = lb_->len;                                      \
		}                                                                            \
	} while (0)
	while (pos < len) {
		if (pic[pos] != '[') {
			pos++;
			continue;
		}
		if (pos + 1 < len && pic[pos + 1] == '[') {
			ADD_LIT(start, pos);
			d->m[d->n].literal = true;
			d->m[d->n].lit = "[";
			d->m[d->n++].litlen = 1;
			pos += 2;
			start = pos;
			continue;
		}
		ADD_LIT(start, pos);
		const char *close = memchr(pic + pos, ']', len - pos);

		if (!close)
			throw(c, "D3135", -1, "No matching closing bracket ']' in date/time picture string");
		char mk[64];
		size_t ml = 0;

		for (const char *q = pic + pos + 1; q < close; q++)
			if (!isspace((unsigned char)*q) && ml < sizeof(mk) - 1)
				mk[ml++] = *q;
		mk[ml] = 0;
		struct dmarker *m = &d->m[d->n++];
		char *comma = strrchr(mk, ',');
		char pres[64];

		m->comp = mk[0];
		m->wmin = m->wmax = -1;
		m->n = -1;
		if (comma) {
			char *dash = strchr(comma + 1, '-');

			if (dash) {
				*dash = 0;
				m->wmax = strcmp(dash + 1, "*") && dash[1] ? atoi(dash + 1) : -1;
			}
			m->wmin = strcmp(comma + 1, "*") && comma[1] ? atoi(comma + 1) : -1;
			*comma = 0;
		}
		snprintf(pres, sizeof(pres), "%s", mk[0] ? mk + 1 : "");
		size_t pl = strlen(pres);

		if (pl > 1 && strchr("atco", pres[pl - 1])) {
			m->pres2 = pres[pl - 1];
			pres[pl - 1] = 0;
		} else if (pl == 0) {
			const char *dp = default_pres(m->comp);

			if (!dp)
				throw(c, "D3132", -1, "Unknown component specifier %c in date/time picture string", m->comp);
			snprintf(pres, sizeof(pres), "%s", dp);
		}
		if (!default_pres(m->comp))
			throw(c, "D3132", -1, "Unknown component specifier %c in date/time picture string", m->comp);
		snprintf(m->pres1, sizeof(m->pres1), "%s", pres);
		if (pres[0] == 'n') {
			m->names = TC_LOWER;
		} else if (pres[0] == 'N') {
			m->names = pres[1] == 'n' ? TC_TITLE : TC_UPPER;
		} else if (strchr("YMDdFWwXxHhmsf", m->comp)) {
			char ipicture[80];
			const char *e = NULL;

			snprintf(ipicture, sizeof(ipicture), "%s%s%c", pres, m->pres2 ? ";" : "", m->pres2);
			if (!ipic_parse(&m->ip, ipicture, strlen(ipicture), &e))
				throw(c, e, -1, "Invalid date/time picture");
			m->has_ip = true;
			if (m->wmin > 0 && m->ip.mandatory < m->wmin)
				m->ip.mandatory = m->wmin;
			if (strchr("YMD", m->comp)) {
				if (m->wmax > 0) {
					m->n = m->wmax;
					m->ip.mandatory = m->n;
				} else if (m->ip.mandatory + m->ip.optional >= 2) {
					m->n = m->ip.mandatory + m->ip.optional;
				}
			}
		}
		if (m->comp == 'Z' || m->comp == 'z') {
			const char *e = NULL;

			if (!ipic_parse(&m->ip, pres, strlen(pres), &e))
				throw(c, e, -1, "Invalid date/time picture");
			m->has_ip = true;
		}
		pos = (size_t)(close - pic) + 1;
		start = pos;
	}
	ADD_LIT(start, pos);
#undef ADD_LIT
}

static const char *const month_names[] = { "January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December" };
static const char *const day_names[] = { "", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday", "Sunday" };

static int64_t floordiv(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Monday of the week holding the 4th of month m (0-based) of year y, in days since the epoch */
static int64_t first_week_start(int64_t y, int m)
{
	while (m < 0) {
		m += 12;
		y--;
	}
	while (m > 11) {
		m -= 12;
		y++;
	}
	int64_t d4 = days_from_civil(y, (unsigned)m + 1, 4);
	int64_t dow = ((d4 % 7) + 7 + 3) % 7; /* 0 = Monday (1970-01-01 was a Thursday) */

	return d4 - dow;
}

static double date_part(char comp, int64_t ms, int *ret_month)
{
	int64_t days = floordiv(ms, 86400000), rem = ms - days * 86400000, y;
	unsigned mo, d;
	int dow = (int)(((days % 7) + 7 + 3) % 7) + 1; /* 1 Monday .. 7 Sunday */

	civil_from_days(days, &y, &mo, &d);
	switch (comp) {
	case 'Y': return (double)y;
	case 'M': return mo;
	case 'D': return d;
	case 'd': return (double)(days - days_from_civil(y, 1, 1) + 1);
	case 'F': return dow;
	case 'W':
	case 'X': {
		int64_t yy = y, st = first_week_start(y, 0);

		if (days < st) {
			yy = y - 1;
			st = first_week_start(yy, 0);
		} else if (days >= first_week_start(y + 1, 0)) {
			yy = y + 1;
			st = first_week_start(yy, 0);
		}
		return comp == 'W' ? (double)((days - st) / 7 + 1) : (double)yy;
	}
	case 'w':
	case 'x': {
		int m0 = (int)mo - 1;
		int64_t st = first_week_start(y, m0);

		if (days < st) {
			m0--;
			st = first_week_start(y, m0);
		} else if (days >= first_week_start(y, m0 + 1)) {
			m0++;
			st = first_week_start(y, m0);
		}
		if (ret_month)
			*ret_month = ((m0 % 12) + 12) % 12;
		return comp == 'w' ? (double)((days - st) / 7 + 1) : (double)(((m0 % 12) + 12) % 12 + 1);
	}
	case 'H': return (double)(rem / 3600000);
	case 'h': {
		int h = (int)(rem / 3600000) % 12;

		return h == 0 ? 12 : h;
	}
	case 'P': return rem / 3600000 >= 12;
	case 'm': return (double)(rem / 60000 % 60);
	case 's': return (double)(rem / 1000 % 60);
	case 'f': return (double)(rem % 1000);
	default: return 0;
	}
}

static void put_name(struct buf *b, const char *name, int tc, int wmax)
{
	size_t len = strlen(name);

	if (wmax > 0 && (size_t)wmax < len)
		len = (size_t)wmax;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (tc == TC_UPPER)
			ch = (char)toupper((unsigned char)ch);
		else if (tc == TC_LOWER)
			ch = (char)tolower((unsigned char)ch);
		buf_putc(b, ch);
	}
}

static int tz_offset_minutes(struct ctx *c, struct val tz)
{
	const char *s;
	long v;

	if (!tz.j)
		return 0;
	s = sv(tz);
	v = strtol(s, NULL, 10);
	return (int)((v / 100) * 60 + (v % 100));
}

static struct val format_datetime(struct ctx *c, int64_t ms, struct val picture, struct val tz)
{
	struct dpic d;
	struct buf *b = cbuf(c);
	int off = tz_offset_minutes(c, tz), offh = off / 60, offm = off % 60;
	int64_t t = ms + (int64_t)off * 60000;
	char tmp[64];

	if (!picture.j) {
		/* ISO 8601 with the offset, or Z */
		int64_t days = floordiv(t, 86400000), rem = t - days * 86400000, y;
		unsigned mo, dd;

		civil_from_days(days, &y, &mo, &dd);
		buf_printf(b, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03d", y, mo, dd, (int)(rem / 3600000),
			   (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
		if (off == 0)
			buf_putc(b, 'Z');
		else
			buf_printf(b, "%c%02d:%02d", off < 0 ? '-' : '+', abs(offh), abs(offm));
		return buf_val(c, b);
	}
	dpic_parse(c, sv(picture), sl(picture), &d);
	for (int i = 0; i < d.n; i++) {
		struct dmarker *m = &d.m[i];

		if (m->literal) {
			buf_add(b, m->lit, m->litlen);
			continue;
		}
		if (strchr("YMDdFWwXxHhms", m->comp)) {
			int xm = 0;
			double v = date_part(m->comp, t, &xm);

			if (m->comp == 'Y' && m->n != -1)
				v = fmod(v, pow(10, m->n));
			if (m->names) {
				if (m->comp == 'M' || m->comp == 'x')
					put_name(b, month_names[(int)v - 1], m->names, m->wmax);
				else if (m->comp == 'F')
					put_name(b, day_names[(int)v], m->names, m->wmax);
				else
					throw(c, "D3133", -1, "The 'name' modifier can only be applied to months and days in the date/time picture string, not %c", m->comp);
				continue;
			}
			format_int(c, b, v, &m->ip);
		} else if (m->comp == 'f') {
			format_int(c, b, date_part('f', t, NULL), &m->ip);
		} else if (m->comp == 'Z' || m->comp == 'z') {
			int hm = offh * 100 + offm;
			struct buf *zb = cbuf(c);

			if (m->ip.regular) {
				format_int(c, zb, hm, &m->ip);
			} else if (m->ip.mandatory == 1 || m->ip.mandatory == 2) {
				format_int(c, zb, offh, &m->ip);
				if (offm != 0)
					buf_printf(zb, ":%02d", abs(offm));
			} else if (m->ip.mandatory == 3 || m->ip.mandatory == 4) {
				format_int(c, zb, hm, &m->ip);
			} else {
				throw(c, "D3134", -1, "The timezone integer format specifier cannot have more than four digits");
			}
			if (m->comp == 'z')
				buf_puts(b, "GMT");
			if (hm >= 0)
				buf_putc(b, '+');
			if (hm == 0 && m->pres2 == 't') {
				b->len -= m->comp == 'z' ? 4 : 1;
				b->data[b->len] = 0;
				buf_putc(b, 'Z');
			} else {
				buf_add(b, zb->data, zb->len);
			}
		} else if (m->comp == 'P') {
			const char *ap = date_part('P', t, NULL) ? "pm" : "am";

			put_name(b, ap, m->names == TC_UPPER ? TC_UPPER : TC_LOWER, -1);
		} else if (m->comp == 'C' || m->comp == 'E') {
			buf_puts(b, "ISO");
		}
	}
	(void)tmp;
	return buf_val(c, b);
}

static struct val f_from_millis(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	if (!a[0].j)
		return UNDEF;
	if (!(fabs(numv(a[0].j)) <= 8.64e15))
		throw(c, "D3110", -1, "The value %g is out of the range of timestamps", numv(a[0].j));
	return format_datetime(c, (int64_t)floor(numv(a[0].j)), ARG(1), ARG(2));
}

static struct val f_now(struct ctx *c, struct val *a, int n, struct val in, const char *name)
{
	return format_datetime(c, now_ms(c), ARG(0), ARG(1));
}

/* $toMillis with a picture: the components the picture names, read in order */
static bool parse_datetime(struct ctx *c, const char *s, size_t len, struct val picture, int64_t *ret)
{
	struct dpic d;
	size_t i = 0;
	double comp[128];
	bool have[128] = { false };
	int tz = 0;

	dpic_parse(c, sv(picture), sl(picture), &d);
	for (int k = 0; k < d.n; k++) {
		struct dmarker *m = &d.m[k];
		size_t used = 0;
		double v = 0;

		if (m->literal) {
			if (i + m->litlen > len || memcmp(s + i, m->lit, m->litlen))
				return false;
			i += m->litlen;
			continue;
		}
		if (m->comp == 'P') {
			if (i + 2 > len)
				return false;
			if (!strncasecmp(s + i, "am", 2))
				v = 0;
			else if (!strncasecmp(s + i, "pm", 2))
				v = 1;
			else
				return false;
			i += 2;
		} else if (m->names && (m->comp == 'M' || m->comp == 'x' || m->comp == 'F')) {
			const char *const *names = m->comp == 'F' ? day_names + 1 : month_names;
			int cnt = m->comp == 'F' ? 7 : 12, found = -1;
			size_t best = 0;

			for (int q = 0; q < cnt; q++) {
				size_t nl = strlen(names[q]);

				if (m->wmax > 0 && (size_t)m->wmax < nl)
					nl = (size_t)m->wmax;
				if (i + nl <= len && !strncasecmp(s + i, names[q], nl) && nl > best) {
					best = nl;
					found = q;
				}
			}
			if (found < 0)
				return false;
			i += best;
			v = found + 1;
		} else if (m->names) {
			throw(c, "D3133", -1, "The 'name' modifier can only be applied to months and days in the date/time picture string, not %c", m->comp);
		} else if (m->comp == 'P') {
			if (i + 2 > len)
				return false;
			if (!strncasecmp(s + i, "am", 2))
				v = 0;
			else if (!strncasecmp(s + i, "pm", 2))
				v = 1;
			else
				return false;
			i += 2;
		} else if (m->comp == 'Z' || m->comp == 'z') {
			int sign = 1, h = 0, mi = 0;

			if (m->comp == 'z' && i + 3 <= len && !strncmp(s + i, "GMT", 3))
				i += 3;
			if (i < len && s[i] == 'Z') {
				i++;
				tz = 0;
				have[(unsigned char)'Z'] = true;
				continue;
			}
			if (i >= len || (s[i] != '+' && s[i] != '-'))
				return false;
			sign = s[i++] == '-' ? -1 : 1;
			size_t st = i;

			while (i < len && isdigit((unsigned char)s[i]))
				i++;
			if (i - st == 4) {
				h = (s[st] - '0') * 10 + (s[st + 1] - '0');
				mi = (s[st + 2] - '0') * 10 + (s[st + 3] - '0');
			} else if (i - st >= 1 && i - st <= 2) {
				h = atoi(s + st);
				if (i < len && s[i] == ':') {
					i++;
					mi = atoi(s + i);
					while (i < len && isdigit((unsigned char)s[i]))
						i++;
				}
			} else {
				return false;
			}
			tz = sign * (h * 60 + mi);
			have[(unsigned char)'Z'] = true;
			continue;
		} else if (m->has_ip) {
			int maxw = 0;

			if (m->ip.type == IF_DECIMAL) {
				/* a fixed width when the next thing is not a literal separator */
				bool next_lit = k + 1 < d.n && d.m[k + 1].literal;

				if (m->wmax > 0)
					maxw = m->wmax;
				else if (!next_lit && k + 1 < d.n)
					maxw = m->ip.mandatory + m->ip.optional;
			}
			if (m->comp == 'f' && m->ip.type == IF_DECIMAL) {
				size_t st = i;
				double frac = 0, scale = 100;

				while (i < len && isdigit((unsigned char)s[i])) {
					frac += (s[i] - '0') * scale;
					scale /= 10;
					i++;
				}
				if (i == st)
					return false;
				v = floor(frac);
			} else {
				if (!int_value(&m->ip, s + i, len - i, maxw, &used, &v))
					return false;
				i += used;
			}
		} else {
			return false;
		}
		if (!(fabs(v) < 1e9))
			return false;
		comp[(unsigned char)m->comp] = v;
		have[(unsigned char)m->comp] = true;
	}
	if (i != len)
		return false;
	{
		bool anycomp = false;

		for (int k = 0; k < 128; k++)
			anycomp |= have[k];
		if (!anycomp)
			return false;
	}
	/* which components go together (as JSONata checks) */
	bool Y = have['Y'], M = have['M'], D = have['D'], dd = have['d'], H = have['H'] || have['h'];
	bool mi = have['m'], se = have['s'], f = have['f'];

	if (have['X'] || have['W'] || have['w'] || have['x'] || (D && !M && !dd) || (M && !Y && D && false) ||
	    (Y && D && !M) || (mi && !H) || (se && !mi) || (f && !se) || (!M && D) || (have['F'] && !D && !dd && !M))
		throw(c, "D3136", -1, "The date/time picture string is missing specifiers required to parse the timestamp");
	int64_t y, days;

	if (!Y && !M && !D && !dd) {
		/* a time of day only: today's date */
		unsigned mo_, d_;
		int64_t now_days = floordiv(now_ms(c), 86400000);

		civil_from_days(now_days, &y, &mo_, &d_);
		days = now_days;
	} else {
		y = Y ? (int64_t)comp['Y'] : 1970;
		if (dd)
			days = days_from_civil(y, 1, 1) + (int64_t)comp['d'] - 1;
		else
			days = days_from_civil(y, M ? (unsigned)comp['M'] : 1, D ? (unsigned)comp['D'] : 1);
	}
	double hour = have['H'] ? comp['H'] : 0;

	if (have['h']) {
		hour = fmod(comp['h'], 12);
		if (have['P'] && comp['P'] == 1)
			hour += 12;
	}
	*ret = days * 86400000 + (int64_t)hour * 3600000 + (int64_t)(mi ? comp['m'] : 0) * 60000 +
	       (int64_t)(se ? comp['s'] : 0) * 1000 + (int64_t)(f ? comp['f'] : 0) - (int64_t)tz * 60000;
	return true;
}
