/*
 * DOT output for state machines. Every state name is emitted as a quoted
 * DOT ID with '"' and '\' escaped, so any name AWS allows is safe. Nested
 * machines get their states' ids prefixed by nothing: ASL state names are
 * unique across the whole machine, nested ones included.
 */
#include "engine/graph.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"

struct graph {
	struct buf *out;
	json_t *entered; /* object: state name -> true for every entered state */
	const char *failed_state; /* where the execution failed, or NULL */
	json_t *taken;   /* object: "from\x1fto" -> true for transitions taken */
	int cluster;
	int r;
};

static void put(struct graph *g, const char *s)
{
	if (!g->r)
		g->r = buf_puts(g->out, s);
}

static void put_id(struct graph *g, const char *s)
{
	put(g, "\"");
	for (; *s && !g->r; s++) {
		if (*s == '"' || *s == '\\')
			g->r = buf_putc(g->out, '\\');
		if (*s == '\n') {
			put(g, "\\n");
			continue;
		}
		if (!g->r)
			g->r = buf_putc(g->out, *s);
	}
	put(g, "\"");
}

static bool was_taken(struct graph *g, const char *from, const char *to)
{
	struct buf k = BUF_INIT;
	bool r;

	if (!g->taken)
		return false;
	buf_printf(&k, "%s\x1f%s", from, to);
	r = json_object_get(g->taken, k.data) != NULL;
	buf_release(&k);
	return r;
}

static void edge(struct graph *g, const char *from, const char *to, const char *label,
		 bool dashed)
{
	bool taken = was_taken(g, from, to);

	put(g, "  ");
	put_id(g, from);
	put(g, " -> ");
	put_id(g, to);
	put(g, " [");
	if (label) {
		put(g, "label=");
		put_id(g, label);
		put(g, ", ");
	}
	put(g, dashed ? "style=dashed" : "style=solid");
	if (taken)
		put(g, ", penwidth=2.5, color=\"#2e7d32\"");
	put(g, "];\n");
}

static const char *shape_of(const char *type)
{
	if (!type)
		return "box";
	if (strcmp(type, "Choice") == 0)
		return "diamond";
	if (strcmp(type, "Succeed") == 0 || strcmp(type, "Fail") == 0)
		return "doublecircle";
	if (strcmp(type, "Wait") == 0)
		return "octagon";
	if (strcmp(type, "Pass") == 0)
		return "ellipse";
	return "box";
}

static void rule_label(json_t *rule, struct buf *b)
{
	const char *k;
	json_t *v;

	json_object_foreach(rule, k, v) {
		if (strcmp(k, "Next") == 0 || strcmp(k, "Variable") == 0 || strcmp(k, "Comment") == 0 ||
		    strcmp(k, "Assign") == 0 || strcmp(k, "Output") == 0)
			continue;
		if (strcmp(k, "Condition") == 0 && json_is_string(v)) {
			buf_puts(b, json_string_value(v));
			return;
		}
		if (json_is_array(v)) {
			buf_printf(b, "%s(...)", k);
			return;
		}
		{
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			json_t *var = json_object_get(rule, "Variable");

			buf_printf(b, "%s %s %s", json_is_string(var) ? json_string_value(var) : "",
				   k, s ? s : "?");
			free(s);
		}
		return;
	}
}

static void states(struct graph *g, json_t *machine, const char *entry_from);

static void state_node(struct graph *g, const char *name, json_t *st)
{
	const char *type = json_string_value(json_object_get(st, "Type"));
	bool entered = g->entered && json_object_get(g->entered, name);
	bool failed = g->failed_state && strcmp(g->failed_state, name) == 0;

	put(g, "  ");
	put_id(g, name);
	put(g, " [shape=");
	put(g, shape_of(type));
	put(g, ", label=");
	{
		struct buf l = BUF_INIT;

		buf_printf(&l, "%s\n(%s)", name, type ? type : "?");
		put_id(g, l.data);
		buf_release(&l);
	}
	if (failed)
		put(g, ", style=filled, fillcolor=\"#ef9a9a\", color=\"#c62828\"");
	else if (entered)
		put(g, ", style=filled, fillcolor=\"#a5d6a7\", color=\"#2e7d32\"");
	put(g, "];\n");
}

static void transitions(struct graph *g, const char *name, json_t *st, bool top)
{
	const char *type = json_string_value(json_object_get(st, "Type"));
	json_t *v, *c;
	size_t i;

	if (top && (json_is_true(json_object_get(st, "End")) ||
		    (type && (strcmp(type, "Succeed") == 0 || strcmp(type, "Fail") == 0))))
		edge(g, name, "__end", NULL, false);
	v = json_object_get(st, "Next");
	if (json_is_string(v))
		edge(g, name, json_string_value(v), NULL, false);
	v = json_object_get(st, "Choices");
	json_array_foreach(v, i, c) {
		json_t *next = json_object_get(c, "Next");
		struct buf l = BUF_INIT;

		if (!json_is_string(next))
			continue;
		rule_label(c, &l);
		edge(g, name, json_string_value(next), l.len ? l.data : NULL, false);
		buf_release(&l);
	}
	v = json_object_get(st, "Default");
	if (json_is_string(v))
		edge(g, name, json_string_value(v), "Default", false);
	v = json_object_get(st, "Catch");
	json_array_foreach(v, i, c) {
		json_t *next = json_object_get(c, "Next"), *errs = json_object_get(c, "ErrorEquals"), *e;
		struct buf l = BUF_INIT;
		size_t j;

		if (!json_is_string(next))
			continue;
		buf_puts(&l, "Catch ");
		json_array_foreach(errs, j, e)
			buf_printf(&l, "%s%s", j ? "," : "", json_is_string(e) ? json_string_value(e) : "?");
		edge(g, name, json_string_value(next), l.data, true);
		buf_release(&l);
	}
}

/* Nested machines: Parallel branches and Map processors as clusters. */
static void nested(struct graph *g, const char *name, json_t *st)
{
	json_t *br = json_object_get(st, "Branches"), *m;
	size_t i;

	json_array_foreach(br, i, m)
		states(g, m, name);
	m = json_object_get(st, "ItemProcessor");
	if (!m)
		m = json_object_get(st, "Iterator");
	if (json_is_object(m))
		states(g, m, name);
}

static void states(struct graph *g, json_t *machine, const char *entry_from)
{
	json_t *sts = json_object_get(machine, "States"), *st;
	const char *start = json_string_value(json_object_get(machine, "StartAt"));
	const char *name;
	char num[32];

	if (entry_from) {
		snprintf(num, sizeof(num), "%d", g->cluster++);
		put(g, " subgraph \"cluster_");
		put(g, num);
		put(g, "\" {\n  style=rounded; color=\"#90a4ae\"; label=");
		put_id(g, entry_from);
		put(g, ";\n");
	}
	json_object_foreach(sts, name, st)
		state_node(g, name, st);
	json_object_foreach(sts, name, st)
		transitions(g, name, st, entry_from == NULL);
	if (entry_from)
		put(g, " }\n");
	if (start)
		edge(g, entry_from ? entry_from : "__start", start, NULL, entry_from != NULL);
	json_object_foreach(sts, name, st)
		nested(g, name, st);
}

/* Entered states, the failed state and transitions taken, from history events. */
static void read_history(struct graph *g, json_t *history)
{
	const char *prev = "__start", *last = NULL;
	json_t *ev;
	size_t i;

	g->entered = json_object();
	g->taken = json_object();
	json_array_foreach(history, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_t *d = json_object_get(ev, "stateEnteredEventDetails");
		const char *name;

		if (!type)
			continue;
		if (d && (name = json_string_value(json_object_get(d, "name")))) {
			struct buf k = BUF_INIT;

			json_object_set_new(g->entered, name, json_true());
			buf_printf(&k, "%s\x1f%s", prev, name);
			json_object_set_new(g->taken, k.data, json_true());
			buf_release(&k);
			prev = last = name;
		}
		d = json_object_get(ev, "stateExitedEventDetails");
		if (d && (name = json_string_value(json_object_get(d, "name"))))
			prev = name;
		if (strcmp(type, "ExecutionSucceeded") == 0 && last) {
			struct buf k = BUF_INIT;

			buf_printf(&k, "%s\x1f__end", last);
			json_object_set_new(g->taken, k.data, json_true());
			buf_release(&k);
		}
		if (strcmp(type, "ExecutionFailed") == 0 || strcmp(type, "ExecutionTimedOut") == 0 ||
		    strcmp(type, "ExecutionAborted") == 0)
			g->failed_state = last;
	}
}

int graph_dot(json_t *def, json_t *history, const char *title, struct buf *out)
{
	struct graph g = { .out = out };

	if (!json_is_object(json_object_get(def, "States")))
		return -EINVAL;
	if (history)
		read_history(&g, history);
	put(&g, "digraph ");
	put_id(&g, title ? title : "StateMachine");
	put(&g, " {\n  rankdir=TB; graph [fontname=\"Helvetica\"]; node [fontname=\"Helvetica\", fontsize=11];\n"
		"  edge [fontname=\"Helvetica\", fontsize=9];\n"
		"  \"__start\" [shape=circle, label=\"Start\", style=filled, fillcolor=\"#eceff1\"];\n"
		"  \"__end\" [shape=circle, label=\"End\", style=filled, fillcolor=\"#eceff1\"];\n");
	states(&g, def, NULL);
	put(&g, "}\n");
	json_decref(g.entered);
	json_decref(g.taken);
	return g.r;
}
