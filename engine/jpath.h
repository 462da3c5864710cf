/*
 * JSONPath as Amazon States Language uses it, payload templates, intrinsic
 * functions and Choice rules: the expression layer of the JSONPath query
 * language. Pure functions over jansson values; no I/O, no globals, safe to
 * call from any thread on values that thread does not mutate.
 *
 * Error reporting: functions return 0 on success, -1 on failure with @err
 * filled with AWS's error name (States.Runtime for path and intrinsic
 * failures, as AWS reports them) and a cause text as close to AWS's wording as
 * known (../shared/reference/asl.md §1.4, §1.7). @err may be NULL.
 */
#ifndef STEPFS_JPATH_H
#define STEPFS_JPATH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "engine/asl_err.h"

/*
 * What a path can see. @input is `$`, @context is `$$` (may be NULL: then
 * `$$` paths fail), @var_get resolves `$name` variables (returns a borrowed
 * reference, or NULL if the variable is not set; may be NULL for "no variables").
 */
struct jpath_env {
	json_t *input;
	json_t *context;
	json_t *(*var_get)(void *arg, const char *name);
	void *var_arg;
};

/* jpath_eval() result codes (negative) */
enum {
	JPATH_ESYNTAX = -2,   /* malformed path */
	JPATH_ENOTFOUND = -3, /* a definite path selected nothing */
};

/*
 * Evaluate a JSONPath (`$...`, `$$...`, `$var...`): dot and bracket
 * notation, quoted names, wildcards, recursive descent `..`, indexes incl.
 * negative, slices, unions, and filters `[?(@.x > 1)]` (comparison, &&, ||,
 * !, existence). A definite path returns the selected value; an indefinite
 * path (wildcard, slice, union, filter, descent) returns an array of all
 * matches (possibly empty: `$[*]` on a missing array gives [] as AWS does).
 * As in Jayway JsonPath (which AWS uses): a leaf name union `$['a','b']`
 * selects an object of those keys; filters also take =~ /re/i, in, nin,
 * subsetof, anyof, noneof, size, empty; a path may end in length(), min(),
 * max(), avg(), sum(), stddev(), keys(), first() or last().
 * Returns 0 and a new reference in *ret, or JPATH_ESYNTAX / JPATH_ENOTFOUND
 * (-ENOMEM on out-of-memory, -E2BIG when a step would hold more than 4M
 * values, as $..*..*..* can on deep documents) with @err filled (States.Runtime; cause as AWS:
 * "Invalid path '$.x' : No results for path: $['x']", "... : Missing
 * property in path $['a']").
 */
int jpath_eval(const char *path, const struct jpath_env *env, json_t **ret, struct asl_err *err);

/*
 * Static checks for the validator: 0 if @path is a syntactically valid Path
 * (jpath_check) or Reference Path (jpath_check_reference: definite, no
 * `@ , : ?`, no `..`, no `*`); else -1 with a reason in @msg.
 */
int jpath_check(const char *path, char *msg, size_t msglen);
int jpath_check_reference(const char *path, char *msg, size_t msglen);

/*
 * ResultPath: place @value into a copy of @doc at Reference Path @refpath
 * ("$" replaces the document; "$.a.b" creates intermediate objects). @doc is
 * borrowed, @value is borrowed; *ret is a new reference. Fails with
 * States.ResultPathMatchFailure when the path goes through a non-object.
 */
int jpath_set(json_t *doc, const char *refpath, json_t *value, json_t **ret,
	      struct asl_err *err);

/*
 * Payload templates (Parameters, ResultSelector, ItemSelector, Assign in
 * JSONPath mode, Credentials): a deep copy of @tmpl in which every key ending
 * in ".$" is replaced by the key without the suffix and the value of its
 * Path / context path / variable path / intrinsic call. @field names the field
 * for error causes ("Parameters", "ResultSelector", ...). Cause on a missing
 * path, as AWS: "The JSONPath '$.x' specified for the field 'k.$' could not be
 * found in the input '<input as compact JSON>'". *ret is a new reference.
 */
int jpath_template(json_t *tmpl, const struct jpath_env *env, const char *field, json_t **ret,
		   struct asl_err *err);
/* Static check of a template (every ".$" value a valid path or intrinsic). 0 or -1 + @msg. */
int jpath_template_check(json_t *tmpl, char *msg, size_t msglen);

/*
 * Intrinsic functions: @expr is a call such as "States.Format('{}', $.x)".
 * All 18 States.* functions with AWS's observed behaviour. *ret is a new
 * reference. Failures are States.Runtime (AWS reports IntrinsicFailure so),
 * cause "The function '<expr as written>' had the following error: <detail>";
 * an argument path that selects nothing (an index past the end included)
 * gives the detail "The JsonPath argument for the field '$.x' could not be
 * found in the input '<compact state input>'" ($$.X is named $.X).
 * intrinsic_check() parses without evaluating (unknown function, arity where
 * fixed, syntax, escapes). intrinsic_is_call() tells a "States.X(" value from a path.
 */
int intrinsic_eval(const char *expr, const struct jpath_env *env, json_t **ret,
		   struct asl_err *err);
int intrinsic_check(const char *expr, char *msg, size_t msglen);
bool intrinsic_is_call(const char *s);

/*
 * Choice rules (JSONPath): evaluate one rule object (data-test with Variable
 * and one comparison operator incl. ...Path forms, StringMatches, Is*, or a
 * boolean And/Or/Not) against @env. *ret_match is true when it matches. A
 * Variable that selects nothing is States.Runtime (except under IsPresent),
 * cause "Invalid path '$.x': The choice state's condition path references an
 * invalid value."; type mismatches are simply false. The rule may carry Next,
 * Comment, Assign and Output (ignored here); nested rules may not have Next.
 */
int choice_eval(json_t *rule, const struct jpath_env *env, bool *ret_match, struct asl_err *err);
/* Static check of a rule (exactly one operator, operand types, nested rules have no Next). */
int choice_check(json_t *rule, char *msg, size_t msglen);

/*
 * RFC 3339 timestamps as AWS accepts them (uppercase T, Z or +hh:mm offset,
 * optional fraction). Returns 0 and the instant, or -1.
 */
int asl_timestamp_parse(const char *s, struct timespec *ret);

/*
 * ---- Compiled forms (parse once at definition load, evaluate many times) ----
 *
 * Every compiled object is immutable after compilation and may be shared by
 * threads. Each *_compile() returns 0 and a new object in *ret (free it with
 * the matching *_free(), which accepts NULL), JPATH_ESYNTAX with @err filled
 * (States.Runtime, cause naming the text and the problem), or -ENOMEM.
 *
 * Sharing: results of jpath_exec(), jpath_tmpl_exec() and intrinsic_exec() may
 * share structure (by reference count) with the values in @env. Treat every
 * jansson value the engine passes around as immutable; jpath_set() never
 * modifies @doc (it copies only the objects along the path).
 */
struct jpath;
struct jpath_tmpl;
struct intrinsic;
struct choice_rule;

int jpath_compile(const char *path, struct jpath **ret, struct asl_err *err);
/* Same contract as jpath_eval(). */
int jpath_exec(const struct jpath *p, const struct jpath_env *env, json_t **ret,
	       struct asl_err *err);
/*
 * jpath_exec() with flags: JPATH_STRICT makes an index past the end of an
 * array select nothing (JPATH_ENOTFOUND) instead of null, as AWS treats
 * intrinsic-function arguments; JPATH_BARE_CAUSE leaves out the
 * "Invalid path '...' : " prefix of the cause (Jayway's text only).
 */
enum { JPATH_STRICT = 1 << 0, JPATH_BARE_CAUSE = 1 << 1 };
int jpath_exec_flags(const struct jpath *p, const struct jpath_env *env, unsigned flags,
		     json_t **ret, struct asl_err *err);
void jpath_free(struct jpath *p);
/* The source text of @p (borrowed, lives as long as @p). */
const char *jpath_text(const struct jpath *p);
/* True if @p selects at most one value (no wildcard, slice, union, filter, `..`). */
bool jpath_is_definite(const struct jpath *p);
/* True if @p is a Reference Path (definite, only names and indexes). */
bool jpath_is_reference(const struct jpath *p);
/* jpath_set() with a compiled Reference Path (must start with `$`, not `$$` or a variable). */
int jpath_set_compiled(json_t *doc, const struct jpath *ref, json_t *value, json_t **ret,
		       struct asl_err *err);

/* Payload templates: same contract as jpath_template() / jpath_template_check(). */
int jpath_tmpl_compile(json_t *tmpl, struct jpath_tmpl **ret, struct asl_err *err);
int jpath_tmpl_exec(const struct jpath_tmpl *t, const struct jpath_env *env, const char *field,
		    json_t **ret, struct asl_err *err);
void jpath_tmpl_free(struct jpath_tmpl *t);

/*
 * A ".$" value or a Fail ErrorPath/CausePath: a path or an intrinsic call.
 * Compiles either; exec returns the value (new reference). On a missing path
 * the cause is "The JSONPath '<p>' specified for the field '<field>' could not
 * be found in the input '<compact input>'".
 */
struct jpath_expr;
int jpath_expr_compile(const char *s, struct jpath_expr **ret, struct asl_err *err);
/* Returns 0, or a negative value with @err filled (States.Runtime). */
int jpath_expr_exec(const struct jpath_expr *x, const struct jpath_env *env, const char *field,
		    json_t **ret, struct asl_err *err);
void jpath_expr_free(struct jpath_expr *x);

/* Intrinsic calls: same contract as intrinsic_eval() / intrinsic_check(). */
int intrinsic_compile(const char *expr, struct intrinsic **ret, struct asl_err *err);
int intrinsic_exec(const struct intrinsic *f, const struct jpath_env *env, json_t **ret,
		   struct asl_err *err);
void intrinsic_free(struct intrinsic *f);

/* Choice rules: same contract as choice_eval() / choice_check(). */
int choice_compile(json_t *rule, struct choice_rule **ret, struct asl_err *err);
int choice_exec(const struct choice_rule *r, const struct jpath_env *env, bool *ret_match,
		struct asl_err *err);
void choice_free(struct choice_rule *r);

/*
 * Compact JSON text of @v as AWS prints it (no spaces; reals in Java's
 * Double.toString form, e.g. 1.1, 1.0, 1.0E20; non-ASCII kept as UTF-8).
 * Returns a string the caller frees with free(), or NULL on out-of-memory.
 * @v may be any JSON value (not only objects and arrays).
 */
char *jpath_dumps(const json_t *v);

/*
 * Format a double as Java's Double.toString does (shortest digits that round
 * trip; "1.0", "0.001", "1.0E-4", "1.0E7"). @buf needs 32 bytes. Returns @buf.
 */
char *jpath_fmt_real(double d, char *buf);

#endif
