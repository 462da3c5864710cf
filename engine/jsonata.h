/*
 * jsonata.h - JSONata expressions, as Amazon States Language uses them.
 *
 * A definition written with "QueryLanguage": "JSONata" carries expressions
 * in strings of the form "{% expression %}". This module compiles the text
 * between the delimiters once and evaluates it against jansson values.
 *
 * The language is JSONata 2.0 (the version Step Functions implements),
 * checked against the project's copy of the JSONata test suite
 * (../shared/conformance/jsonata). With JSONATA_ASL the Step Functions
 * dialect is selected: $partition, $range, $hash, $random, $uuid and $parse
 * are added and $eval is refused.
 *
 * Values: numbers are doubles inside; a result that is an integral double
 * in the int64 range comes back as a json integer, so 3 prints as 3, not
 * 3.0. "Undefined" (no value, e.g. a missing field) is a NULL result, not
 * json null.
 *
 * Limits (error U1001, never a crash): 500 nested user-function calls,
 * 1.5 MB of C stack, 5 s, about 2 million values created (some 200 MB),
 * values nested 1000 deep.
 *
 * Ownership: jsonata_compile returns an expression the caller frees with
 * jsonata_free; it holds no reference to @src. jsonata_eval borrows @input
 * and @bindings and stores a new reference (or NULL) in *out. A compiled
 * expression is immutable and may be evaluated from several threads at once.
 */
#ifndef STEPFS_JSONATA_H
#define STEPFS_JSONATA_H

#include <jansson.h>
#include <stddef.h>

enum {
	JSONATA_ASL = 1u << 0,	/* Step Functions' functions; no $eval */
};

/*
 * An error: the JSONata error code (e.g. "S0201", "T2001", "D3030"; empty
 * for errors of our own such as exhausted limits), the character offset
 * in the expression where it was found (-1 when unknown) and a message
 * meant for people.
 */
struct jsonata_err {
	char code[8];
	long position;
	char message[256];
};

struct jsonata;

/* Compile @src. NULL on a syntax error, described in @err. */
struct jsonata *jsonata_compile(const char *src, unsigned flags, struct jsonata_err *err);

void jsonata_free(struct jsonata *expr);

/*
 * Evaluate @expr with @input as the context value ("$"; NULL: undefined)
 * and @bindings (an object of variable name -> value, names without the
 * '$'; NULL: none). Returns 0 and the result in *out (new reference, NULL
 * for undefined) or -1 with the error in @err. Evaluation is bounded in
 * recursion depth and time; exceeding either is an error, never a crash.
 */
int jsonata_eval(const struct jsonata *expr, json_t *input, json_t *bindings, json_t **out,
		 struct jsonata_err *err);

#endif
