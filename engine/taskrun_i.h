/*
 * taskrun internals shared by taskrun.c and taskrun_config.c (not part of
 * the public API; like libfuse's lib/fuse_i.h).
 */
#ifndef STEPFS_TASKRUN_I_H
#define STEPFS_TASKRUN_I_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine/spawn.h"

/* One entry of the functions table. */
struct fnent {
	char *name;       /* NAME or NAME:QUALIFIER */
	char *exec;       /* absolute path, or a bare name looked up in PATH */
	char **args;      /* extra arguments (NULL-terminated, may be NULL) */
	size_t nargs;
	unsigned workers; /* 0: one process per task */
	double timeout_s; /* used when the state sets none; 0: none */
	char **env;       /* "NAME=value" (NULL-terminated, may be NULL) */
	size_t nenv;
	char *cwd;        /* NULL: the runner's default */
};

struct taskrun_config {
	struct fnent *fns;
	size_t nfns;
	char **env;  /* configured "NAME=value" */
	size_t nenv;
	char **pass; /* names passed through from the daemon's environment */
	size_t npass;
	char *path;  /* PATH given to programs */
	char *cwd;   /* NULL: the definition's directory (or the runner's cwd) */
	bool set_ids;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[SPAWN_MAX_GROUPS];
	char *user, *home; /* of the run-as user */
	int nrlimits;
	struct spawn_rlimit rlimits[SPAWN_MAX_RLIMITS];
	bool set_nice;
	int nice;
	unsigned max_concurrency;
	unsigned max_per_machine; /* 0: only the global cap */
	double kill_grace_s;      /* SIGTERM -> SIGKILL */
	double exit_grace_s;      /* main pid exited -> stop reading its pipes */
	size_t payload_limit;
	size_t stderr_tail;
	char *region, *account;   /* for ARNs in messages */
};

/* @p relative to @dir (NULL: cwd), absolute; "./" prefixes dropped. Caller frees. */
char *taskrun_abs_path(const char *dir, const char *p);
/* Append @s (owned; freed on failure) to a NULL-terminated vector. 0 or -ENOMEM. */
int taskrun_strv_push(char ***v, size_t *n, char *s);
void taskrun_strv_free(char **v);
/* "arn:...:function:NAME[:Q]" -> "NAME[:Q]"; anything else unchanged. Borrowed. */
const char *taskrun_fn_key_name(const char *key);
/* Functions-table lookup: "NAME:QUAL" first when @qual is set, then "NAME". */
const struct fnent *taskrun_config_find(const struct taskrun_config *cfg, const char *name,
					const char *qual);

#endif
