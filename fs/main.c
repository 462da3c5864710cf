/*
 * stepfs: one binary, many subcommands. main() sets up process-wide state
 * (logging, library init) before any thread starts, then dispatches.
 * Invoked as mount.stepfs / mount.fuse.stepfs it behaves as `stepfs mount`
 * with mount(8)'s helper arguments.
 */
#include "fs/cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"

#ifndef STEPFS_VERSION
#define STEPFS_VERSION "0.1.0"
#endif

static const struct cli_cmd commands[] = {
	{ "help", cmd_help, "show this help, or the help of one command" },
	{ "run", cmd_run, "run one execution of a state machine and print its output" },
	{ "executions", cmd_executions, "list, describe, show the history of, or stop executions" },
	{ "watch", cmd_watch, "watch a drop folder and start workflows on files that land in it" },
	{ "serve", cmd_serve, "mount or watch what a configuration file's \"Source\" describes (systemd)" },
	{ "graph", cmd_graph, "draw a state machine (and an execution's path) as DOT or SVG" },
	{ "check", cmd_check, "verify endpoint, credentials and permissions for a bucket" },
	{ "validate", cmd_validate, "check ASL definitions statically (file, JSON pointer, reason)" },
	{ "mount", cmd_mount, "mount a bucket (s3://name[/prefix] or a directory) with FUSE" },
};

int cmd_help(int argc, char **argv)
{
	size_t i;

	if (argc > 1 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
			if (strcmp(commands[i].name, argv[1]) == 0 && commands[i].fn != cmd_help) {
				char *av[] = { argv[1], (char *)"--help", NULL };

				return commands[i].fn(2, av);
			}
		}
		fprintf(stderr, "stepfs: unknown command '%s'\n", argv[1]);
		return 2;
	}
	printf("usage: stepfs COMMAND [ARGS...]\n\n"
	       "Mount a bucket with FUSE, raise S3-style events when files are written,\n"
	       "and run Amazon States Language workflows on them.\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].summary);
	printf("\n`stepfs COMMAND --help` shows the options of one command.\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	const char *env;
	size_t i;

	self = self ? self + 1 : argv[0];
	env = getenv("STEPFS_LOG_LEVEL");
	if (env)
		log_set_level(atoi(env));
	if (getenv("JOURNAL_STREAM"))
		log_set_journal(1);
	/* library init before any thread (curl:docs/libcurl/libcurl-thread.md) */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	json_object_seed(0);
	signal(SIGPIPE, SIG_IGN);

	if (strncmp(self, "mount.", 6) == 0) {
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(commands[i].name, "mount") == 0) {
				argv[0] = (char *)"mount";
				return commands[i].fn(argc, argv);
			}
		fprintf(stderr, "stepfs: this build has no mount support\n");
		return 1;
	}
	if (argc < 2) {
		cmd_help(1, argv);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv);
	if (strcmp(argv[1], "--version") == 0) {
		printf("stepfs %s\n", STEPFS_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, argv[1]) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "stepfs: unknown command '%s'; see 'stepfs help'\n", argv[1]);
	return 2;
}
