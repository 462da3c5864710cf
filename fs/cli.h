/*
 * The stepfs subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand name) and returns the process exit status.
 * Implemented one per file (fs/cmd_<name>.c); fs/main.c dispatches.
 */
#ifndef STEPFS_CLI_H
#define STEPFS_CLI_H

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary; /* one line for `stepfs help` */
};

int cmd_help(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_executions(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_mount(int argc, char **argv);

#endif
