/* Unit tests for engine/graph.c: structure, escaping, execution colouring. */
#include "engine/graph.h"

#include <errno.h>
#include <string.h>

#include "engine/buf.h"
#include "tests/harness.h"

int main(void)
{
	const char *def_text =
		"{\"StartAt\":\"A \\\"quoted\\\"\",\"States\":{"
		"\"A \\\"quoted\\\"\":{\"Type\":\"Task\",\"Resource\":\"x\",\"Next\":\"C\","
		"\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"F\"}]},"
		"\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.n\",\"NumericEquals\":1,"
		"\"Next\":\"P\"}],\"Default\":\"S\"},"
		"\"P\":{\"Type\":\"Parallel\",\"Branches\":[{\"StartAt\":\"B1\",\"States\":{\"B1\":"
		"{\"Type\":\"Pass\",\"End\":true}}}],\"Next\":\"S\"},"
		"\"F\":{\"Type\":\"Fail\"},\"S\":{\"Type\":\"Succeed\"}}}";
	const char *hist_text =
		"[{\"type\":\"ExecutionStarted\"},"
		"{\"type\":\"TaskStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"A \\\"quoted\\\"\"}},"
		"{\"type\":\"TaskStateExited\",\"stateExitedEventDetails\":{\"name\":\"A \\\"quoted\\\"\"}},"
		"{\"type\":\"FailStateEntered\",\"stateEnteredEventDetails\":{\"name\":\"F\"}},"
		"{\"type\":\"ExecutionFailed\"}]";
	json_t *def = json_loads(def_text, 0, NULL), *hist = json_loads(hist_text, 0, NULL);
	json_t *bad = json_loads("{\"StartAt\":\"x\"}", 0, NULL);
	struct buf out = BUF_INIT;

	CHECK(def && hist && bad);
	CHECK_INT_EQ(graph_dot(def, NULL, "m", &out), 0);
	CHECK(strstr(out.data, "digraph \"m\"") != NULL);
	CHECK(strstr(out.data, "\"A \\\"quoted\\\"\" -> \"C\"") != NULL);
	CHECK(strstr(out.data, "\"C\" -> \"S\" [label=\"Default\"") != NULL);
	CHECK(strstr(out.data, "label=\"Catch States.ALL\", style=dashed") != NULL);
	CHECK(strstr(out.data, "label=\"$.n NumericEquals 1\"") != NULL);
	CHECK(strstr(out.data, "subgraph \"cluster_0\"") != NULL);
	CHECK(strstr(out.data, "\"F\" -> \"__end\"") != NULL);
	/* no history: nothing is marked failed */
	CHECK(strstr(out.data, "#ef9a9a") == NULL);
	buf_reset(&out);

	CHECK_INT_EQ(graph_dot(def, hist, "m", &out), 0);
	/* the failed state is red, the entered task green, the catch edge taken */
	CHECK(strstr(out.data, "\"F\" [shape=doublecircle, label=\"F\\n(Fail)\", style=filled, "
				"fillcolor=\"#ef9a9a\"") != NULL);
	CHECK(strstr(out.data, "fillcolor=\"#a5d6a7\"") != NULL);
	CHECK(strstr(out.data, "\"A \\\"quoted\\\"\" -> \"F\" [label=\"Catch States.ALL\", "
				"style=dashed, penwidth=2.5") != NULL);
	buf_reset(&out);

	CHECK_INT_EQ(graph_dot(bad, NULL, "m", &out), -EINVAL);
	buf_release(&out);
	json_decref(def);
	json_decref(hist);
	json_decref(bad);
	return TEST_DONE();
}
