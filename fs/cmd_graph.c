/*
 * stepfs graph: draw a state machine (and the path one execution took) as
 * Graphviz DOT, or as SVG through dot(1) when it is installed. dot is run
 * with posix_spawnp and an argv of constants: no shell, no user data in argv.
 */
#include "fs/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/graph.h"
#include "engine/journal.h"

extern char **environ;

static void graph_usage(FILE *f)
{
	fprintf(f, "usage: stepfs graph DEFINITION [--execution NAME|ARN [--journal PATH]]\n"
		   "                    [--history FILE] [-o OUT.dot|OUT.svg] [--svg]\n\n"
		   "Print the state machine as Graphviz DOT. With --history (the JSON of\n"
		   "`stepfs executions history NAME --json` or `aws stepfunctions\n"
		   "get-execution-history`), the states the execution entered are green, the\n"
		   "state where it failed is red, and the transitions taken are bold.\n"
		   "--execution reads that history from the journal (--journal, or\n"
		   "$STEPFS_JOURNAL), as `stepfs executions history` does.\n"
		   "--svg (or -o FILE.svg) renders SVG with dot(1) (package graphviz).\n");
}

/* Run dot -Tsvg with @dot on stdin and @outfd as stdout. */
static int render_svg(const struct buf *dot, int outfd)
{
	char *argv[] = { (char *)"dot", (char *)"-Tsvg", NULL };
	posix_spawn_file_actions_t fa;
	int p[2], status = -1, r; /* -1: not an exit status, if waitpid() fails */
	pid_t pid;
	size_t off = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	r = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	if (r) {
		close(p[1]);
		return -r;
	}
	while (off < dot->len) {
		ssize_t n = write(p[1], dot->data + off, dot->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The history of execution @id (name or ARN) from @journal, as *ret (new reference). */
static int read_execution(const char *journal, const char *id, json_t **ret)
{
	struct journal *j = NULL;
	json_t *d = NULL;
	char err[512];
	int r = -1;

	if (!journal) {
		fprintf(stderr, "stepfs graph: --execution needs --journal PATH (or $STEPFS_JOURNAL)\n");
		return -1;
	}
	if (journal_open(journal, JOURNAL_READONLY, &j, err, sizeof(err)) < 0) {
		fprintf(stderr, "stepfs graph: %s\n", err);
		return -1;
	}
	if (journal_exec_describe(j, id, &d) < 0) {
		fprintf(stderr, "stepfs graph: no execution '%s' in '%s'\n", id, journal);
		goto out;
	}
	json_decref(*ret);
	*ret = NULL;
	if (journal_history(j, json_string_value(json_object_get(d, "executionArn")), ret) < 0 ||
	    !*ret) {
		fprintf(stderr, "stepfs graph: cannot read the history of '%s' from '%s'\n", id,
			journal);
		goto out;
	}
	r = 0;
out:
	json_decref(d);
	journal_close(j);
	return r;
}

int cmd_graph(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "history", required_argument, NULL, 'H' },
		{ "execution", required_argument, NULL, 'x' },
		{ "journal", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "svg", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hist_file = NULL, *out_file = NULL, *name, *exec_id = NULL;
	const char *journal = getenv("STEPFS_JOURNAL");
	json_t *def = NULL, *hist = NULL, *events;
	struct buf dot = BUF_INIT;
	json_error_t je;
	int c, svg = 0, fd = 1, rc = 2, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "H:x:j:o:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'H': hist_file = optarg; break;
		case 'x': exec_id = optarg; break;
		case 'j': journal = optarg; break;
		case 'o': out_file = optarg; break;
		case 's': svg = 1; break;
		case 'h': graph_usage(stdout); return 0;
		default: graph_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		graph_usage(stderr);
		return 2;
	}
	def = json_load_file(argv[optind], JSON_DECODE_ANY, &je);
	if (!def) {
		fprintf(stderr, "stepfs graph: %s:%d:%d: %s\n", argv[optind], je.line, je.column, je.text);
		goto out;
	}
	if (hist_file) {
		hist = json_load_file(hist_file, JSON_DECODE_ANY, &je);
		if (!hist) {
			fprintf(stderr, "stepfs graph: %s:%d:%d: %s\n", hist_file, je.line, je.column,
				je.text);
			goto out;
		}
	}
	if (exec_id && read_execution(journal, exec_id, &hist) < 0)
		goto out;
	/* accept both a bare events array and {"events": [...]} */
	events = json_is_object(hist) ? json_object_get(hist, "events") : hist;
	name = strrchr(argv[optind], '/');
	name = name ? name + 1 : argv[optind];
	r = graph_dot(def, events, name, &dot);
	if (r == -EINVAL) {
		fprintf(stderr, "stepfs graph: %s: not a state machine (no \"States\" object)\n",
			argv[optind]);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "stepfs graph: %s\n", strerror(-r));
		goto out;
	}
	if (out_file) {
		size_t n = strlen(out_file);

		if (n > 4 && strcmp(out_file + n - 4, ".svg") == 0)
			svg = 1;
		fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "stepfs graph: cannot write '%s': %s\n", out_file, strerror(errno));
			goto out;
		}
	}
	rc = 1;
	if (svg) {
		r = render_svg(&dot, fd);
		if (r < 0) {
			fprintf(stderr, "stepfs graph: cannot render SVG with dot(1): %s%s\n", strerror(-r),
				r == -ENOENT ? " (install the graphviz package)" : "");
			goto out;
		}
	} else if (write(fd, dot.data, dot.len) != (ssize_t)dot.len) {
		fprintf(stderr, "stepfs graph: write failed: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd > 1)
		close(fd);
	buf_release(&dot);
	json_decref(def);
	json_decref(hist);
	return rc;
}
