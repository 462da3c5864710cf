/*
 * stepfs executions list|describe|history|stop|send-task-*: inspect and stop
 * executions, and answer .waitForTaskToken tasks (send-task-success,
 * send-task-failure, send-task-heartbeat, shaped like the AWS CLI's)
 * in AWS Step Functions' vocabulary, reading the journal. It works the same
 * offline and against a running daemon: the daemon writes everything to the
 * journal as it happens (SQLite WAL lets this process read meanwhile), and a
 * stop is handed to a live daemon through the journal's requests table (the
 * daemon polls it), or applied directly when no daemon holds the journal.
 *
 * --json prints what `aws stepfunctions list-executions / describe-execution /
 * get-execution-history / stop-execution` print.
 */
#include "fs/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/journal.h"

static void exec_usage(FILE *f)
{
	fprintf(f,
		"usage: stepfs executions list     [--state-machine NAME] [--status-filter STATUS]\n"
		"                                  [--max-items N] [OPTIONS]\n"
		"       stepfs executions describe ARN|NAME [OPTIONS]\n"
		"       stepfs executions history  ARN|NAME [--reverse-order] [OPTIONS]\n"
		"       stepfs executions stop     ARN|NAME [--error E] [--cause C] [OPTIONS]\n"
		"       stepfs executions prune    --older-than-days N [OPTIONS]\n"
		"       stepfs executions send-task-success   --task-token T --task-output JSON\n"
		"       stepfs executions send-task-failure   --task-token T [--error E] [--cause C]\n"
		"       stepfs executions send-task-heartbeat --task-token T\n\n"
		"OPTIONS: --journal PATH   the journal (default $STEPFS_JOURNAL)\n"
		"         --config FILE    take the journal from this configuration file\n"
		"         --json           print AWS CLI-shaped JSON instead of a table\n\n"
		"STATUS is RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED. NAME is an\n"
		"execution name (the latest execution with that name). With a daemon running,\n"
		"stop asks it to stop the execution and waits up to 10 s for it to end.\n"
		"send-task-* hand a task token callback to the running daemon; success and\n"
		"failure wait up to 10 s for the daemon to take it. Errors use AWS's names:\n"
		"InvalidToken, TaskDoesNotExist, TaskTimedOut (expired or closed), InvalidOutput.\n");
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(4) | JSON_ENSURE_ASCII);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* "2024-01-02T03:04:05.678000+00:00" -> "2024-01-02 03:04:05.678" */
static const char *short_date(const char *d, char *out, size_t len)
{
	if (!d || strlen(d) < 23) {
		snprintf(out, len, "%s", d ? d : "-");
		return out;
	}
	snprintf(out, len, "%.10s %.12s", d, d + 11);
	return out;
}

static int cmd_list(struct journal *j, const char *sm, const char *status, int max, int as_json)
{
	json_t *arr = NULL, *x;
	size_t i;
	int r;

	r = journal_exec_list(j, sm, status, max, &arr);
	if (r < 0) {
		fprintf(stderr, "stepfs executions: cannot read '%s'\n", journal_path(j));
		return 1;
	}
	if (as_json) {
		json_t *o = json_pack("{s:O}", "executions", arr);

		print_json(o);
		json_decref(o);
	} else {
		printf("%-34s %-20s %-8s %-9s %-23s %s\n", "NAME", "STATE MACHINE", "TYPE", "STATUS",
		       "START", "STOP");
		json_array_foreach(arr, i, x) {
			const char *smarn = json_string_value(json_object_get(x, "stateMachineArn"));
			const char *smname = smarn && strrchr(smarn, ':') ? strrchr(smarn, ':') + 1 : "-";
			char a[64], b[64];

			printf("%-34s %-20s %-8s %-9s %-23s %s\n",
			       json_string_value(json_object_get(x, "name")), smname,
			       json_string_value(json_object_get(x, "type")),
			       json_string_value(json_object_get(x, "status")),
			       short_date(json_string_value(json_object_get(x, "startDate")), a,
					  sizeof(a)),
			       short_date(json_string_value(json_object_get(x, "stopDate")), b,
					  sizeof(b)));
		}
	}
	json_decref(arr);
	return 0;
}

static int lookup(struct journal *j, const char *id, json_t **ret)
{
	int r = journal_exec_describe(j, id, ret);

	if (r == -ENOENT) {
		fprintf(stderr, "stepfs executions: ExecutionDoesNotExist: no execution '%s' in '%s'\n",
			id, journal_path(j));
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "stepfs executions: cannot read '%s'\n", journal_path(j));
		return -1;
	}
	return 0;
}

static int cmd_describe(struct journal *j, const char *id, int as_json)
{
	static const char *const keys[] = { "executionArn", "stateMachineArn", "name", "type",
					    "status", "startDate", "stopDate", "error", "cause",
					    "trigger", "parentExecutionArn", "input", "output" };
	json_t *d;
	size_t i;

	if (lookup(j, id, &d) < 0)
		return 1;
	if (as_json) {
		print_json(d);
	} else {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			json_t *v = json_object_get(d, keys[i]);

			if (json_is_string(v))
				printf("%-18s %s\n", keys[i], json_string_value(v));
		}
		printf("%-18s %lld\n", "chainDepth",
		       (long long)json_integer_value(json_object_get(d, "chainDepth")));
	}
	json_decref(d);
	return 0;
}

/* A short human summary of one history event's details. */
static void event_summary(json_t *ev, char *out, size_t len)
{
	const char *k;
	json_t *v;

	out[0] = '\0';
	json_object_foreach(ev, k, v) {
		const char *name, *err, *cause, *res;

		if (!json_is_object(v))
			continue;
		name = json_string_value(json_object_get(v, "name"));
		err = json_string_value(json_object_get(v, "error"));
		cause = json_string_value(json_object_get(v, "cause"));
		res = json_string_value(json_object_get(v, "resource"));
		if (name)
			snprintf(out, len, "%s", name);
		else if (err)
			snprintf(out, len, "%s: %.80s", err, cause ? cause : "");
		else if (res)
			snprintf(out, len, "%s", res);
		return;
	}
}

static int cmd_history(struct journal *j, const char *id, int reverse, int as_json)
{
	json_t *d, *hist = NULL, *ev;
	const char *arn, *type;
	size_t i, n;
	char sum[256];

	if (lookup(j, id, &d) < 0)
		return 1;
	arn = json_string_value(json_object_get(d, "executionArn"));
	type = json_string_value(json_object_get(d, "type"));
	if (journal_history(j, arn, &hist) < 0) {
		fprintf(stderr, "stepfs executions: cannot read '%s'\n", journal_path(j));
		json_decref(d);
		return 1;
	}
	if (json_array_size(hist) == 0 && type && strcmp(type, "EXPRESS") == 0)
		fprintf(stderr, "note: '%s' is an Express execution; its history is kept in memory "
				"only (as AWS does not record Express histories)\n", id);
	n = json_array_size(hist);
	if (as_json) {
		json_t *arr = json_array(), *o;

		for (i = 0; i < n; i++)
			json_array_append(arr, json_array_get(hist, reverse ? n - 1 - i : i));
		o = json_pack("{s:o}", "events", arr);
		print_json(o);
		json_decref(o);
	} else {
		printf("%-5s %-28s %-26s %s\n", "ID", "TYPE", "TIMESTAMP", "DETAILS");
		for (i = 0; i < n; i++) {
			ev = json_array_get(hist, reverse ? n - 1 - i : i);
			event_summary(ev, sum, sizeof(sum));
			printf("%-5lld %-28s %-26s %s\n",
			       (long long)json_integer_value(json_object_get(ev, "id")),
			       json_string_value(json_object_get(ev, "type")),
			       json_is_string(json_object_get(ev, "timestamp"))
				       ? json_string_value(json_object_get(ev, "timestamp"))
				       : "-",
			       sum);
		}
	}
	json_decref(hist);
	json_decref(d);
	return 0;
}

static int cmd_stop(struct journal *j, const char *id, const char *error, const char *cause,
		    int as_json)
{
	const char *arn, *status;
	json_t *d = NULL, *o;
	int tries, r, rc = 1;

	if (lookup(j, id, &d) < 0)
		return 1;
	arn = json_string_value(json_object_get(d, "executionArn"));
	status = json_string_value(json_object_get(d, "status"));
	if (strcmp(status, "RUNNING") != 0) {
		fprintf(stderr, "stepfs executions: '%s' is not running (status %s)\n", id, status);
		goto out;
	}
	if (journal_daemon_alive(journal_path(j))) {
		if (journal_request_stop(j, arn, error, cause) < 0) {
			fprintf(stderr, "stepfs executions: cannot write to '%s'\n", journal_path(j));
			goto out;
		}
		for (tries = 0; tries < 100; tries++) {
			json_decref(d);
			d = NULL;
			if (journal_exec_describe(j, arn, &d) == 0 &&
			    strcmp(json_string_value(json_object_get(d, "status")), "RUNNING") != 0)
				break;
			usleep(100000);
		}
		if (!d || strcmp(json_string_value(json_object_get(d, "status")), "RUNNING") == 0) {
			fprintf(stderr, "stepfs executions: the daemon has not stopped '%s' within "
					"10 s; the request stays queued\n", id);
			goto out;
		}
	} else {
		r = journal_exec_abort_offline(j, arn, error, cause);
		if (r < 0) {
			fprintf(stderr, "stepfs executions: cannot stop '%s': %s\n", id,
				r == -ENOENT ? "it is no longer running" : "journal error");
			goto out;
		}
		json_decref(d);
		d = NULL;
		if (journal_exec_describe(j, arn, &d) < 0)
			goto out;
	}
	o = json_pack("{s:O?}", "stopDate", json_object_get(d, "stopDate"));
	if (as_json)
		print_json(o);
	else
		printf("stopped %s (%s)\n", arn, json_string_value(json_object_get(d, "status")));
	json_decref(o);
	rc = 0;
out:
	json_decref(d);
	return rc;
}

/* A token as the engine makes them: 32 base64url characters. */
static int token_wellformed(const char *t)
{
	return strlen(t) == 32 &&
	       strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 32;
}

static int token_status(struct journal *j, const char *token, char *status, size_t len)
{
	json_t *t = NULL;
	int r = journal_token_get(j, token, &t);

	if (r == 0)
		snprintf(status, len, "%s", json_string_value(json_object_get(t, "status")));
	json_decref(t);
	return r;
}

static int cmd_send_task(struct journal *j, const char *verb, const char *token,
			 const char *output, const char *error, const char *cause, int as_json)
{
	const char *kind = strcmp(verb, "send-task-success") == 0   ? "task_success"
			   : strcmp(verb, "send-task-failure") == 0 ? "task_failure"
								    : "task_heartbeat";
	char status[32];
	json_error_t jerr;
	json_t *out;
	int r, tries;

	if (!token) {
		fprintf(stderr, "stepfs executions %s: give --task-token T\n", verb);
		return 2;
	}
	if (!strcmp(kind, "task_success")) {
		if (!output) {
			fprintf(stderr, "stepfs executions %s: give --task-output JSON\n", verb);
			return 2;
		}
		out = json_loads(output, JSON_DECODE_ANY, &jerr);
		if (!out) {
			fprintf(stderr, "stepfs executions %s: InvalidOutput: --task-output is not "
					"JSON: %s (line %d, column %d)\n", verb, jerr.text, jerr.line,
				jerr.column);
			return 1;
		}
		json_decref(out);
		if (strlen(output) > 262144) {
			fprintf(stderr, "stepfs executions %s: InvalidOutput: --task-output has %zu "
					"bytes, more than 262144\n", verb, strlen(output));
			return 1;
		}
	}
	if (!token_wellformed(token)) {
		fprintf(stderr, "stepfs executions %s: InvalidToken: '%.64s' is not a task token\n",
			verb, token);
		return 1;
	}
	r = token_status(j, token, status, sizeof(status));
	if (r == -ENOENT) {
		fprintf(stderr, "stepfs executions %s: TaskDoesNotExist: no task was given this "
				"token (journal '%s')\n", verb, journal_path(j));
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "stepfs executions %s: cannot read '%s'\n", verb, journal_path(j));
		return 1;
	}
	if (strcmp(status, "WAITING") != 0 || !journal_daemon_alive(journal_path(j))) {
		fprintf(stderr, "stepfs executions %s: TaskTimedOut: the task token has expired or "
				"its task is closed (%s)\n", verb,
			strcmp(status, "WAITING") ? status : "no daemon is running");
		return 1;
	}
	if (journal_request_task(j, kind, token, error,
				 !strcmp(kind, "task_success") ? output : cause) < 0) {
		fprintf(stderr, "stepfs executions %s: cannot write to '%s'\n", verb,
			journal_path(j));
		return 1;
	}
	for (tries = 0; strcmp(kind, "task_heartbeat") && tries < 100; tries++) {
		if (token_status(j, token, status, sizeof(status)) == 0 &&
		    strcmp(status, "WAITING") != 0)
			break;
		usleep(100000);
	}
	if (strcmp(kind, "task_heartbeat") && !strcmp(status, "WAITING")) {
		fprintf(stderr, "stepfs executions %s: the daemon has not taken the callback within "
				"10 s; the request stays queued\n", verb);
		return 1;
	}
	if (!strcmp(status, "TIMED_OUT") || !strcmp(status, "CLOSED")) {
		fprintf(stderr, "stepfs executions %s: TaskTimedOut: the task ended before the "
				"callback arrived (%s)\n", verb, status);
		return 1;
	}
	if (as_json)
		printf("{}\n");
	return 0;
}

int cmd_executions(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "journal", required_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'J' },
		{ "state-machine", required_argument, NULL, 's' },
		{ "status-filter", required_argument, NULL, 'S' },
		{ "max-items", required_argument, NULL, 'm' },
		{ "reverse-order", no_argument, NULL, 'r' },
		{ "error", required_argument, NULL, 'e' },
		{ "cause", required_argument, NULL, 'C' },
		{ "older-than-days", required_argument, NULL, 'o' },
		{ "task-token", required_argument, NULL, 't' },
		{ "task-output", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *journal = getenv("STEPFS_JOURNAL"), *cfgfile = NULL, *sm = NULL, *status = NULL;
	const char *error = NULL, *cause = NULL, *verb, *id = NULL, *token = NULL, *output = NULL;
	int as_json = 0, reverse = 0, max = 0, older = -1, c, rc = 2;
	struct config *cfg = NULL;
	struct journal *j = NULL;
	char err[1024];

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		exec_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			journal = optarg;
			break;
		case 'c':
			cfgfile = optarg;
			break;
		case 'J':
			as_json = 1;
			break;
		case 's':
			sm = optarg;
			break;
		case 'S':
			status = optarg;
			break;
		case 'm':
			max = atoi(optarg);
			break;
		case 'r':
			reverse = 1;
			break;
		case 'e':
			error = optarg;
			break;
		case 'C':
			cause = optarg;
			break;
		case 'o':
			older = atoi(optarg);
			break;
		case 't':
			token = optarg;
			break;
		case 'O':
			output = optarg;
			break;
		case 'h':
			exec_usage(stdout);
			return 0;
		default:
			exec_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "stepfs executions: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (status && strcmp(status, "RUNNING") && strcmp(status, "SUCCEEDED") &&
	    strcmp(status, "FAILED") && strcmp(status, "TIMED_OUT") && strcmp(status, "ABORTED")) {
		fprintf(stderr, "stepfs executions: --status-filter '%s' is not one of RUNNING, "
				"SUCCEEDED, FAILED, TIMED_OUT, ABORTED\n", status);
		return 2;
	}
	if (cfgfile) {
		if (config_load(cfgfile, &cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "stepfs executions: %s\n", err);
			return 1;
		}
		journal = cfg->journal;
	}
	if (!journal) {
		fprintf(stderr, "stepfs executions: no journal: give --journal PATH, --config FILE "
				"or set STEPFS_JOURNAL\n");
		goto out;
	}
	if (access(journal, F_OK) < 0) {
		fprintf(stderr, "stepfs executions: journal '%s' does not exist\n", journal);
		rc = 1;
		goto out;
	}
	if (journal_open(journal, 0, &j, err, sizeof(err)) < 0) {
		fprintf(stderr, "stepfs executions: %s\n", err);
		rc = 1;
		goto out;
	}
	if (strcmp(verb, "list") == 0) {
		rc = id ? 2 : cmd_list(j, sm, status, max, as_json);
		if (id)
			fprintf(stderr, "stepfs executions list: unexpected argument '%s'\n", id);
	} else if (strcmp(verb, "describe") == 0 || strcmp(verb, "history") == 0 ||
		   strcmp(verb, "stop") == 0) {
		if (!id) {
			fprintf(stderr, "stepfs executions %s: which execution? (ARN or name)\n", verb);
			goto out;
		}
		if (verb[0] == 'd')
			rc = cmd_describe(j, id, as_json);
		else if (verb[0] == 'h')
			rc = cmd_history(j, id, reverse, as_json);
		else
			rc = cmd_stop(j, id, error, cause, as_json);
	} else if (strncmp(verb, "send-task-", 10) == 0 &&
		   (!strcmp(verb + 10, "success") || !strcmp(verb + 10, "failure") ||
		    !strcmp(verb + 10, "heartbeat"))) {
		rc = id ? 2 : cmd_send_task(j, verb, token, output, error, cause, as_json);
		if (id)
			fprintf(stderr, "stepfs executions %s: unexpected argument '%s'\n", verb, id);
	} else if (strcmp(verb, "prune") == 0) {
		int64_t n;

		if (older < 0) {
			fprintf(stderr, "stepfs executions prune: give --older-than-days N\n");
			goto out;
		}
		n = journal_prune(j, journal_now_ms() - (int64_t)older * 86400000LL);
		if (n < 0) {
			fprintf(stderr, "stepfs executions prune: journal error\n");
			rc = 1;
		} else {
			printf("pruned %lld executions\n", (long long)n);
			rc = 0;
		}
	} else {
		fprintf(stderr, "stepfs executions: unknown verb '%s'\n", verb);
		exec_usage(stderr);
	}
out:
	journal_close(j);
	config_free(cfg);
	return rc;
}
