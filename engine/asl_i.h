/*
 * Private declarations of the ASL interpreter, shared by asl_machine.c
 * (compile), asl_exec.c (runtime), asl_hist.c (history events) and
 * asl_util.c (JSON printing, sizes, time). Not part of the public API.
 */
#ifndef STEPFS_ASL_I_H
#define STEPFS_ASL_I_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "engine/asl.h"
#include "engine/asl_task.h"

enum asl_stype {
	ASL_ST_PASS = 0,
	ASL_ST_TASK,
	ASL_ST_CHOICE,
	ASL_ST_WAIT,
	ASL_ST_SUCCEED,
	ASL_ST_FAIL,
	ASL_ST_PARALLEL,
	ASL_ST_MAP,
};

/* A compiled path field: absent (the default "$"), JSON null, "$", or an expression. */
enum asl_pkind { ASL_P_ABSENT = 0, ASL_P_NULL, ASL_P_ROOT, ASL_P_EXPR };

struct asl_path {
	enum asl_pkind kind;
	const char *s;  /* borrowed from the definition; set for ASL_P_EXPR and ASL_P_ROOT */
	struct jpath *c; /* compiled; set for ASL_P_EXPR */
};

/* A payload template (Parameters, ResultSelector, Assign ...), compiled at load. */
struct asl_tmpl {
	json_t *json;          /* borrowed; NULL if the field is absent */
	struct jpath_tmpl *c;  /* compiled */
};

struct jpath;
struct jpath_tmpl;
struct jpath_expr;
struct choice_rule;

/*
 * A compiled field value of a JSONata state (asl_jsonata.c): constants are
 * borrowed from the definition, "{% ... %}" strings are compiled once.
 */
enum asl_ja_kind { ASL_JA_CONST = 0, ASL_JA_EXPR, ASL_JA_OBJ, ASL_JA_ARR };

struct jsonata;

struct asl_ja {
	enum asl_ja_kind kind;
	json_t *json;          /* borrowed: the value in the definition */
	struct jsonata *expr;  /* EXPR */
	char *src;             /* EXPR: the expression's text, trimmed (owned) */
	char *field;           /* its path for causes, "Output/result" (owned; NULL in constants) */
	size_t n;              /* OBJ/ARR: children */
	const char **keys;     /* OBJ: borrowed keys */
	struct asl_ja *kids;
};

/* Why an evaluation failed: the cause (no state prefix), the field (borrowed; may be NULL). */
struct asl_ja_fail {
	const char *field;
	char cause[ASL_CAUSE_MAX];
};

struct asl_retrier {
	const char **errors; /* borrowed strings */
	size_t nerrors;
	double interval;     /* seconds */
	long max_attempts;
	double backoff;
	double max_delay;    /* seconds; 0 = none */
	bool jitter_full;
};

struct asl_catcher {
	const char **errors;
	size_t nerrors;
	int next;              /* state index */
	struct asl_path result_path;
	struct asl_tmpl assign;
	struct asl_ja *ja_output, *ja_assign; /* JSONata */
};

struct asl_graph;

struct asl_choice {
	json_t *rule;          /* borrowed rule object */
	struct choice_rule *c; /* compiled */
	int next;
	struct asl_tmpl assign;
	struct asl_ja *ja_cond, *ja_output, *ja_assign; /* JSONata */
};

/* One compiled state. All json_t pointers are borrowed from the machine's definition. */
struct asl_state {
	const char *name;
	enum asl_stype type;
	const char *type_name; /* "Pass", "Task", ... (event type prefix) */
	int next;              /* index in the graph, -1 if End or terminal */
	bool end;
	bool needs_ctx;        /* some field of the state references $$ */
	struct asl_path input_path, output_path, result_path;
	struct asl_tmpl parameters, result_selector, assign;
	json_t *result;
	struct asl_retrier *retriers;
	size_t nretriers;
	struct asl_catcher *catchers;
	size_t ncatchers;

	/* Task */
	const char *resource;
	double timeout_s, heartbeat_s;
	struct asl_path timeout_path, heartbeat_path;
	struct asl_tmpl credentials;
	int task_kind;           /* ASL_TK_* below */
	char *res_type, *res_name; /* for TaskScheduled events (owned) */
	bool callback;           /* Resource ends in .waitForTaskToken */
	char *run_resource;      /* callback: Resource without the suffix (owned), else NULL */

	/* Choice */
	struct asl_choice *choices;
	size_t nchoices;
	int default_next; /* -1 if none */

	/* Wait */
	bool has_seconds, has_timestamp;
	double seconds;
	const char *timestamp;
	struct asl_path seconds_path, timestamp_path;

	/* Fail */
	const char *error, *cause, *error_path, *cause_path;
	struct jpath_expr *error_x, *cause_x; /* compiled ErrorPath / CausePath */

	/* Parallel */
	struct asl_graph **branches;
	size_t nbranches;

	/* Map */
	struct asl_graph *processor;
	struct asl_path items_path;
	struct asl_tmpl item_selector; /* ItemSelector or the deprecated Parameters */
	long max_concurrency;
	struct asl_path max_concurrency_path;
	bool has_tol_count, has_tol_pct;
	long tol_count;
	double tol_pct;
	struct asl_path tol_count_path, tol_pct_path;
	json_t *batcher;       /* ItemBatcher or NULL */
	long max_items_per_batch;
	struct asl_path max_items_path;
	struct asl_tmpl batch_input;
	json_t *item_reader;   /* ItemReader or NULL (read through asl_s3_ops, engine/asl_s3.h) */
	bool distributed;      /* ProcessorConfig.Mode DISTRIBUTED */
	const char *label;     /* Map Label or NULL (Map Run ARNs) */
	/* ItemReader: Parameters (JSONPath) or Arguments (JSONata), ReaderConfig.MaxItems(Path) */
	struct asl_tmpl reader_params;
	struct asl_ja *ja_reader_args, *ja_reader_max_items;
	struct asl_path reader_max_items_path;
	/* ResultWriter or NULL: Parameters (JSONPath) or Arguments (JSONata) */
	json_t *result_writer;
	struct asl_tmpl writer_params;
	struct asl_ja *ja_writer_args;

	/* JSONata query language (QueryLanguage of the state, else of the machine) */
	bool jsonata;
	struct asl_ja *ja_args, *ja_output, *ja_assign, *ja_items, *ja_item_selector;
	struct asl_ja *ja_seconds, *ja_timestamp, *ja_timeout, *ja_heartbeat;
	struct asl_ja *ja_max_conc, *ja_tol_count, *ja_tol_pct, *ja_error, *ja_cause;
	struct asl_ja *ja_batch_input, *ja_max_items, *ja_max_bytes; /* ItemBatcher */
	struct asl_ja *ja_credentials;                              /* Task */
};

enum { ASL_TK_OTHER = 0, ASL_TK_LAMBDA_ARN, ASL_TK_SERVICE };

struct asl_graph {
	struct asl_state *states;
	size_t nstates;
	int start;
};

struct asl_machine {
	int refs; /* atomic: machines are shared between threads */
	json_t *def;
	char *name, *arn, *definition_dir;
	struct asl_graph *top;
	double timeout_s; /* execution TimeoutSeconds; 0 = none */
	/* every graph and state array allocated, for freeing */
	struct asl_graph **graphs;
	size_t ngraphs, agraphs;
};

/* asl_jsonata.c */
/*
 * Is @s exactly "{% ... %}"? The trimmed text inside goes to *ret_start and
 * *ret_len (each may be NULL).
 */
bool asl_ja_is_expr(const char *s, const char **ret_start, size_t *ret_len);
/*
 * Compile the field value @v (borrowed; NULL: absent, *ret = NULL) whose path
 * is @field. 0, -ENOMEM, or -1 with a message naming the field in @msg.
 */
int asl_ja_compile(json_t *v, const char *field, struct asl_ja **ret, char *msg, size_t len);
void asl_ja_free(struct asl_ja *t);
/* May some expression in @t read $states.context? (NULL: false) */
bool asl_ja_needs_context(const struct asl_ja *t);
/*
 * Evaluate @t with @bindings (variables and "states"; borrowed). 0 and a new
 * reference in *ret, or -1 with @f filled (an undefined result is a failure).
 */
int asl_ja_eval(const struct asl_ja *t, json_t *bindings, json_t **ret, struct asl_ja_fail *f);
/* AWS's name of a JSON type: object, array, string, number, boolean, null. */
const char *asl_ja_type_name(const json_t *v);
/* Fill @f with "returned an unexpected result type. Expected '@expected' ..."; returns -1. */
int asl_ja_type_fail(const struct asl_ja *t, const char *expected, json_t *v,
		     struct asl_ja_fail *f);

/* asl_util.c */
/* Exact length of the compact JSON text of @v, stopping early once above @limit. */
size_t asl_json_size(const json_t *v, size_t limit);
/* Append the compact AWS-style JSON of @v to a malloc'd string (see asl_json_dumps). */
void asl_now(struct timespec *ts);
/* Parse "Type" names. */
const char *asl_stype_name(enum asl_stype t);
/* Wrap @v as a JSON text string value (new reference, NULL on ENOMEM). */
json_t *asl_json_text(const json_t *v);
/* Shortest-round-trip %g of @d into @buf. */
void asl_fmt_real(double d, char *buf, size_t len);

#endif
