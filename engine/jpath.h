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
 * Returns 0 and a new reference in *ret, or JPATH_ESYNTAX / JPATH_ENOTFOUND
 * with @err filled (States.Runtime, cause naming the path).
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
 * reference. Failures are States.Runtime (AWS reports IntrinsicFailure so).
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
 * Variable that selects nothing is States.Runtime (except under IsPresent);
 * type mismatches are simply false.
 */
int choice_eval(json_t *rule, const struct jpath_env *env, bool *ret_match, struct asl_err *err);
/* Static check of a rule (exactly one operator, operand types, nested rules have no Next). */
int choice_check(json_t *rule, char *msg, size_t msglen);

/*
 * RFC 3339 timestamps as AWS accepts them (uppercase T, Z or +hh:mm offset,
 * optional fraction). Returns 0 and the instant, or -1.
 */
int asl_timestamp_parse(const char *s, struct timespec *ret);

#endif
