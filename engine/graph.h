/*
 * Graphviz DOT rendering of a state machine, optionally coloured with the
 * path one execution took: the picture of the Step Functions console.
 *
 * Nodes are states (shape by type), edges are Next, Default, Choice rules
 * and Catch routes (dashed, labelled with the errors); Parallel branches
 * and Map item processors are clusters. With a history (the "events" array
 * of get-execution-history), entered states are green, the state where the
 * execution failed is red, and the edges taken are bold.
 */
#ifndef STEPFS_GRAPH_H
#define STEPFS_GRAPH_H

#include <jansson.h>

struct buf;

/*
 * Append the DOT text for definition @def (borrowed) to @out. @history
 * (borrowed) may be NULL. Returns 0, -EINVAL if @def has no States object,
 * or -ENOMEM / -E2BIG from the buffer.
 */
int graph_dot(json_t *def, json_t *history, const char *title, struct buf *out);

#endif
