/*
 * taskrun configuration: the "functions" and "tasks" sections of a stepfs
 * configuration file, parsed into an immutable struct taskrun_config. Every
 * error names the JSON pointer of the offending value; unknown keys are
 * errors (a typo must not silently drop a limit or a user).
 */
#include "engine/taskrun.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/taskrun_i.h"
#include "engine/jdoc.h"

int taskrun_strv_push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

void taskrun_strv_free(char **v)
{
	char **p;

	for (p = v; p && *p; p++)
		free(*p);
	free(v);
}

/*
 * @p relative to @dir (NULL: the current directory), made absolute: programs
 * run after a chdir() to their working directory, so a relative path would
 * resolve against the wrong directory. Caller frees; NULL on ENOMEM.
 */
char *taskrun_abs_path(const char *dir, const char *p)
{
	char cwd[4096];
	char *r;

	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (p[0] == '/')
		return strdup(p);
	if (dir && *dir && dir[0] != '/') {
		char *d = taskrun_abs_path(NULL, dir);

		if (!d)
			return NULL;
		r = taskrun_abs_path(d, p);
		free(d);
		return r;
	}
	if (!dir || !*dir) {
		if (!getcwd(cwd, sizeof(cwd)))
			return strdup(p); /* cannot do better */
		dir = cwd;
	}
	if (asprintf(&r, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
		     strcmp(p, ".") == 0 ? "" : p) < 0)
		return NULL;
	return r;
}

static char *path_join(const char *dir, const char *p)
{
	return taskrun_abs_path(dir, p);
}

/* a program: a bare name stays bare (looked up in PATH when it runs) */
static char *exec_path(const char *base_dir, const char *p)
{
	return strchr(p, '/') ? path_join(base_dir, p) : strdup(p);
}

static void fnent_release(struct fnent *f)
{
	free(f->name);
	free(f->exec);
	taskrun_strv_free(f->args);
	taskrun_strv_free(f->env);
	free(f->cwd);
}

void taskrun_config_free(struct taskrun_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nfns; i++)
		fnent_release(&cfg->fns[i]);
	free(cfg->fns);
	taskrun_strv_free(cfg->env);
	taskrun_strv_free(cfg->pass);
	free(cfg->path);
	free(cfg->cwd);
	free(cfg->user);
	free(cfg->home);
	free(cfg->region);
	free(cfg->account);
	free(cfg);
}

static const char *const default_pass[] = { "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
					    "TMPDIR", "HOME", "USER", "LOGNAME", NULL };

struct taskrun_config *taskrun_config_new(void)
{
	struct taskrun_config *cfg = calloc(1, sizeof(*cfg));
	size_t i;

	if (!cfg)
		return NULL;
	cfg->max_concurrency = 64;
	cfg->kill_grace_s = 2;
	cfg->exit_grace_s = 1;
	cfg->payload_limit = TASKRUN_PAYLOAD_LIMIT;
	cfg->stderr_tail = 2048;
	cfg->path = strdup("/usr/local/bin:/usr/bin:/bin");
	cfg->region = strdup("us-east-1");
	cfg->account = strdup("000000000000");
	if (!cfg->path || !cfg->region || !cfg->account)
		goto fail;
	for (i = 0; default_pass[i]; i++)
		if (taskrun_strv_push(&cfg->pass, &cfg->npass, strdup(default_pass[i])) < 0)
			goto fail;
	return cfg;
fail:
	taskrun_config_free(cfg);
	return NULL;
}

static bool env_name_ok(const char *k)
{
	const char *p;

	if (!*k || (*k >= '0' && *k <= '9'))
		return false;
	for (p = k; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* {"NAME": "value", ...} -> "NAME=value" strings appended to @v */
static int parse_env(json_t *obj, const char *ptr, char ***v, size_t *n, char *errmsg,
		     size_t errlen)
{
	const char *k;
	json_t *val;
	char kb[256];

	if (!json_is_object(obj))
		return jdoc_fail(errmsg, errlen, "%s: expected an object of NAME: \"value\"", ptr);
	json_object_foreach(obj, k, val) {
		char *s;

		if (!env_name_ok(k))
			return jdoc_fail(errmsg, errlen, "%s/%s: invalid variable name", ptr,
					 jdoc_ptr_key(k, kb, sizeof(kb)));
		if (!json_is_string(val))
			return jdoc_fail(errmsg, errlen, "%s/%s: expected a string", ptr,
					 jdoc_ptr_key(k, kb, sizeof(kb)));
		if (strncmp(k, "STEPFS_", 7) == 0)
			return jdoc_fail(errmsg, errlen,
					 "%s/%s: STEPFS_* variables are set by the runner", ptr,
					 jdoc_ptr_key(k, kb, sizeof(kb)));
		if (asprintf(&s, "%s=%s", k, json_string_value(val)) < 0)
			return -ENOMEM;
		if (taskrun_strv_push(v, n, s) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_string(json_t *v, const char *ptr, char **ret, char *errmsg, size_t errlen)
{
	char *s;

	if (!json_is_string(v) || !*json_string_value(v))
		return jdoc_fail(errmsg, errlen, "%s: expected a non-empty string", ptr);
	s = strdup(json_string_value(v));
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 0;
}

static int parse_uint(json_t *v, const char *ptr, long long min, long long max, long long *ret,
		      char *errmsg, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return jdoc_fail(errmsg, errlen, "%s: expected an integer from %lld to %lld", ptr,
				 min, max);
	*ret = json_integer_value(v);
	return 0;
}

static int parse_seconds(json_t *v, const char *ptr, double *ret, char *errmsg, size_t errlen)
{
	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 31536000)
		return jdoc_fail(errmsg, errlen, "%s: expected a number of seconds (0 to 31536000)",
				 ptr);
	*ret = json_number_value(v);
	return 0;
}

/* A byte count: an integer, or a string like "512M", "1G", "64k", "unlimited" (-1). */
static int parse_size(json_t *v, const char *ptr, long long *ret, char *errmsg, size_t errlen)
{
	const char *s;
	char *end;
	long long n, mul = 1;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		goto bad;
	s = json_string_value(v);
	if (strcmp(s, "unlimited") == 0) {
		*ret = -1;
		return 0;
	}
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || n < 0)
		goto bad;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1LL << 10;
		end++;
		break;
	case 'm': case 'M':
		mul = 1LL << 20;
		end++;
		break;
	case 'g': case 'G':
		mul = 1LL << 30;
		end++;
		break;
	default:
		goto bad;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	if (*end || n > LLONG_MAX / mul)
		goto bad;
	*ret = n * mul;
	return 0;
bad:
	return jdoc_fail(errmsg, errlen,
			 "%s: expected a size like 512M, 1G, 64K, a byte count or \"unlimited\"",
			 ptr);
}

static const struct {
	const char *name;
	int resource;
	bool bytes;
} limit_names[] = {
	{ "cpu", RLIMIT_CPU, false },     { "as", RLIMIT_AS, true },
	{ "nofile", RLIMIT_NOFILE, false }, { "nproc", RLIMIT_NPROC, false },
	{ "fsize", RLIMIT_FSIZE, true },  { "core", RLIMIT_CORE, true },
};

static int parse_limits(struct taskrun_config *cfg, json_t *obj, char *errmsg, size_t errlen)
{
	const char *k;
	json_t *val;
	char ptr[128];
	size_t i;
	int r;

	if (!json_is_object(obj))
		return jdoc_fail(
			errmsg, errlen,
			"/tasks/limits: expected an object like {\"cpu\": 60, \"as\": \"1G\"}");
	json_object_foreach(obj, k, val) {
		long long n;

		for (i = 0; i < sizeof(limit_names) / sizeof(limit_names[0]); i++)
			if (strcmp(k, limit_names[i].name) == 0)
				break;
		snprintf(ptr, sizeof(ptr), "/tasks/limits/%.60s", k);
		if (i == sizeof(limit_names) / sizeof(limit_names[0]))
			return jdoc_fail(
				errmsg, errlen,
				"%s: unknown limit (expected cpu, as, nofile, nproc, fsize, core)",
				ptr);
		r = parse_size(val, ptr, &n, errmsg, errlen);
		if (r < 0)
			return r;
		if (cfg->nrlimits >= SPAWN_MAX_RLIMITS)
			return jdoc_fail(errmsg, errlen, "%s: too many limits", ptr);
		cfg->rlimits[cfg->nrlimits].resource = limit_names[i].resource;
		cfg->rlimits[cfg->nrlimits].lim.rlim_cur = n < 0 ? RLIM_INFINITY : (rlim_t)n;
		cfg->rlimits[cfg->nrlimits].lim.rlim_max = n < 0 ? RLIM_INFINITY : (rlim_t)n;
		cfg->nrlimits++;
	}
	return 0;
}

static int parse_user(struct taskrun_config *cfg, json_t *user, json_t *group, char *errmsg,
		      size_t errlen)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[16384];
	int ng = SPAWN_MAX_GROUPS;

	if (json_is_integer(user)) {
		if (getpwuid_r((uid_t)json_integer_value(user), &pw, buf, sizeof(buf), &pwp) != 0 ||
		    !pwp)
			return jdoc_fail(errmsg, errlen, "/tasks/user: no user with uid %lld",
					 (long long)json_integer_value(user));
	} else if (json_is_string(user)) {
		if (getpwnam_r(json_string_value(user), &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
			return jdoc_fail(errmsg, errlen, "/tasks/user: no user '%s'",
					 json_string_value(user));
	} else {
		return jdoc_fail(errmsg, errlen, "/tasks/user: expected a user name or uid");
	}
	cfg->set_ids = true;
	cfg->uid = pwp->pw_uid;
	cfg->gid = pwp->pw_gid;
	free(cfg->user);
	free(cfg->home);
	cfg->user = strdup(pwp->pw_name);
	cfg->home = strdup(pwp->pw_dir);
	if (!cfg->user || !cfg->home)
		return -ENOMEM;
	if (getgrouplist(pwp->pw_name, pwp->pw_gid, cfg->groups, &ng) < 0)
		return jdoc_fail(errmsg, errlen, "/tasks/user: '%s' is in more than %d groups",
				 pwp->pw_name, SPAWN_MAX_GROUPS);
	cfg->ngroups = ng;
	if (!group)
		return 0;
	if (json_is_integer(group)) {
		cfg->gid = (gid_t)json_integer_value(group);
	} else if (json_is_string(group)) {
		char gbuf[16384];

		if (getgrnam_r(json_string_value(group), &gr, gbuf, sizeof(gbuf), &grp) != 0 ||
		    !grp)
			return jdoc_fail(errmsg, errlen, "/tasks/group: no group '%s'",
					 json_string_value(group));
		cfg->gid = grp->gr_gid;
	} else {
		return jdoc_fail(errmsg, errlen, "/tasks/group: expected a group name or gid");
	}
	/* an explicit group replaces the supplementary list too: least privilege */
	cfg->groups[0] = cfg->gid;
	cfg->ngroups = 1;
	return 0;
}

static int parse_tasks(struct taskrun_config *cfg, json_t *t, const char *base_dir, char *errmsg,
		       size_t errlen)
{
	const char *k;
	json_t *v;
	long long n;
	int r = 0;

	if (!json_is_object(t))
		return jdoc_fail(errmsg, errlen, "/tasks: expected an object");
	if (json_object_get(t, "group") && !json_object_get(t, "user"))
		return jdoc_fail(errmsg, errlen, "/tasks/group: needs \"user\" as well");
	json_object_foreach(t, k, v) {
		if (strcmp(k, "env") == 0) {
			r = parse_env(v, "/tasks/env", &cfg->env, &cfg->nenv, errmsg, errlen);
		} else if (strcmp(k, "pass_env") == 0) {
			size_t i;
			json_t *e;

			if (!json_is_array(v))
				return jdoc_fail(
					errmsg, errlen,
					"/tasks/pass_env: expected an array of variable names");
			taskrun_strv_free(cfg->pass);
			cfg->pass = NULL;
			cfg->npass = 0;
			json_array_foreach(v, i, e) {
				if (!json_is_string(e) || !env_name_ok(json_string_value(e)))
					return jdoc_fail(
						errmsg, errlen,
						"/tasks/pass_env/%zu: expected a variable name", i);
				r = taskrun_strv_push(&cfg->pass, &cfg->npass,
						      strdup(json_string_value(e)));
				if (r < 0)
					return r;
			}
		} else if (strcmp(k, "path") == 0) {
			r = parse_string(v, "/tasks/path", &cfg->path, errmsg, errlen);
		} else if (strcmp(k, "cwd") == 0) {
			r = parse_string(v, "/tasks/cwd", &cfg->cwd, errmsg, errlen);
			if (r >= 0) {
				char *p = path_join(base_dir, cfg->cwd);

				if (!p)
					return -ENOMEM;
				free(cfg->cwd);
				cfg->cwd = p;
			}
		} else if (strcmp(k, "user") == 0) {
			r = parse_user(cfg, v, json_object_get(t, "group"), errmsg, errlen);
		} else if (strcmp(k, "group") == 0) {
			/* handled with "user" */
		} else if (strcmp(k, "limits") == 0) {
			r = parse_limits(cfg, v, errmsg, errlen);
		} else if (strcmp(k, "nice") == 0) {
			r = parse_uint(v, "/tasks/nice", -20, 19, &n, errmsg, errlen);
			cfg->set_nice = true;
			cfg->nice = (int)n;
		} else if (strcmp(k, "max_concurrency") == 0) {
			r = parse_uint(v, "/tasks/max_concurrency", 1, 100000, &n, errmsg, errlen);
			cfg->max_concurrency = (unsigned)n;
		} else if (strcmp(k, "max_concurrency_per_state_machine") == 0) {
			r = parse_uint(v, "/tasks/max_concurrency_per_state_machine", 0, 100000, &n,
				       errmsg, errlen);
			cfg->max_per_machine = (unsigned)n;
		} else if (strcmp(k, "kill_grace") == 0) {
			r = parse_seconds(v, "/tasks/kill_grace", &cfg->kill_grace_s, errmsg, errlen);
		} else if (strcmp(k, "exit_grace") == 0) {
			r = parse_seconds(v, "/tasks/exit_grace", &cfg->exit_grace_s, errmsg, errlen);
		} else if (strcmp(k, "payload_limit") == 0) {
			r = parse_size(v, "/tasks/payload_limit", &n, errmsg, errlen);
			if (r >= 0 && (n < 2 || n > (1LL << 30)))
				return jdoc_fail(errmsg, errlen,
						 "/tasks/payload_limit: expected 2 bytes to 1G");
			cfg->payload_limit = (size_t)n;
		} else if (strcmp(k, "stderr_tail") == 0) {
			r = parse_size(v, "/tasks/stderr_tail", &n, errmsg, errlen);
			if (r >= 0 && (n < 0 || n > 65536))
				return jdoc_fail(errmsg, errlen,
						 "/tasks/stderr_tail: expected 0 to 64K bytes");
			cfg->stderr_tail = (size_t)n;
		} else if (strcmp(k, "region") == 0) {
			r = parse_string(v, "/tasks/region", &cfg->region, errmsg, errlen);
		} else if (strcmp(k, "account") == 0) {
			r = parse_string(v, "/tasks/account", &cfg->account, errmsg, errlen);
		} else {
			return jdoc_fail(
				errmsg, errlen,
				"/tasks/%.80s: unknown key (expected env, pass_env, path, cwd, "
				"user, group, limits, nice, max_concurrency, "
				"max_concurrency_per_state_machine, kill_grace, exit_grace, "
				"payload_limit, stderr_tail, region, account)",
				k);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* "NAME", "NAME:QUAL" or an ARN ending in function:NAME[:QUAL] -> "NAME[:QUAL]" */
const char *taskrun_fn_key_name(const char *key)
{
	const char *p = strstr(key, ":function:");

	if (strncmp(key, "arn:", 4) == 0 && p)
		return p + 10;
	return key;
}

static bool fn_name_ok(const char *n)
{
	const char *p;

	if (!*n)
		return false;
	for (p = n; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == ':' ||
		      *p == '.' || *p == '$'))
			return false;
	return true;
}

static int parse_function(struct taskrun_config *cfg, const char *key, json_t *v,
			  const char *base_dir, char *errmsg, size_t errlen)
{
	struct fnent *f, *nf;
	char kb[256], ptr[300];
	const char *k;
	json_t *e;
	long long n;
	size_t i;
	int r = 0;

	snprintf(ptr, sizeof(ptr), "/functions/%s", jdoc_ptr_key(key, kb, sizeof(kb)));
	if (!fn_name_ok(taskrun_fn_key_name(key)))
		return jdoc_fail(
			errmsg, errlen,
			"%s: invalid function name (letters, digits, - _ . and an optional "
			":qualifier, or a Lambda ARN)",
			ptr);
	for (i = 0; i < cfg->nfns; i++)
		if (strcmp(cfg->fns[i].name, taskrun_fn_key_name(key)) == 0)
			return jdoc_fail(errmsg, errlen, "%s: function '%s' is defined twice", ptr,
					 taskrun_fn_key_name(key));
	nf = realloc(cfg->fns, (cfg->nfns + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	cfg->fns = nf;
	f = &cfg->fns[cfg->nfns++];
	memset(f, 0, sizeof(*f));
	f->name = strdup(taskrun_fn_key_name(key));
	if (!f->name)
		return -ENOMEM;
	if (json_is_string(v)) {
		/* shorthand: "NAME": "./prog" */
		f->exec = exec_path(base_dir, json_string_value(v));
		return f->exec ? 0 : -ENOMEM;
	}
	if (!json_is_object(v))
		return jdoc_fail(errmsg, errlen,
				 "%s: expected {\"exec\": \"path\", ...} or a path string", ptr);
	json_object_foreach(v, k, e) {
		char sub[400];

		snprintf(sub, sizeof(sub), "%s/%.60s", ptr, k);
		if (strcmp(k, "exec") == 0) {
			if (!json_is_string(e) || !*json_string_value(e))
				return jdoc_fail(errmsg, errlen, "%s: expected a program path",
						 sub);
			/* a bare name is looked up in PATH when it runs */
			f->exec = exec_path(base_dir, json_string_value(e));
			if (!f->exec)
				return -ENOMEM;
		} else if (strcmp(k, "args") == 0) {
			json_t *a;

			if (!json_is_array(e))
				return jdoc_fail(errmsg, errlen, "%s: expected an array of strings",
						 sub);
			json_array_foreach(e, i, a) {
				if (!json_is_string(a))
					return jdoc_fail(errmsg, errlen,
							 "%s/%zu: expected a string", sub, i);
				r = taskrun_strv_push(&f->args, &f->nargs,
						      strdup(json_string_value(a)));
				if (r < 0)
					return r;
			}
		} else if (strcmp(k, "workers") == 0) {
			r = parse_uint(e, sub, 0, 256, &n, errmsg, errlen);
			f->workers = (unsigned)n;
		} else if (strcmp(k, "timeout") == 0) {
			r = parse_seconds(e, sub, &f->timeout_s, errmsg, errlen);
		} else if (strcmp(k, "env") == 0) {
			r = parse_env(e, sub, &f->env, &f->nenv, errmsg, errlen);
		} else if (strcmp(k, "cwd") == 0) {
			if (!json_is_string(e) || !*json_string_value(e))
				return jdoc_fail(errmsg, errlen, "%s: expected a directory", sub);
			f->cwd = path_join(base_dir, json_string_value(e));
			if (!f->cwd)
				return -ENOMEM;
		} else {
			return jdoc_fail(
				errmsg, errlen,
				"%s: unknown key (expected exec, args, workers, timeout, env, "
				"cwd)",
				sub);
		}
		if (r < 0)
			return r;
	}
	if (!f->exec)
		return jdoc_fail(errmsg, errlen, "%s: missing \"exec\" (the program to run)", ptr);
	return 0;
}

int taskrun_config_parse(json_t *root, const char *base_dir, struct taskrun_config **ret,
			 char *errmsg, size_t errlen)
{
	struct taskrun_config *cfg;
	json_t *fns, *tasks, *v;
	const char *k;
	int r = 0;

	if (!json_is_object(root))
		return jdoc_fail(errmsg, errlen, "/: expected a JSON object");
	cfg = taskrun_config_new();
	if (!cfg)
		return -ENOMEM;
	tasks = json_object_get(root, "tasks");
	if (tasks) {
		r = parse_tasks(cfg, tasks, base_dir, errmsg, errlen);
		if (r < 0)
			goto fail;
	}
	fns = json_object_get(root, "functions");
	if (fns) {
		if (!json_is_object(fns)) {
			r = jdoc_fail(errmsg, errlen,
				      "/functions: expected an object of NAME: {\"exec\": ...}");
			goto fail;
		}
		json_object_foreach(fns, k, v) {
			r = parse_function(cfg, k, v, base_dir, errmsg, errlen);
			if (r < 0)
				goto fail;
		}
	}
	*ret = cfg;
	return 0;
fail:
	if (r == -ENOMEM)
		jdoc_fail(errmsg, errlen, "out of memory");
	taskrun_config_free(cfg);
	return r;
}

int taskrun_config_load(const char *path, struct taskrun_config **ret, char *errmsg,
			size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	char *dir, *slash, msg[512];
	int r;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && jerr.line < 1)
		return jdoc_fail(errmsg, errlen, "'%s': %s", path, jerr.text);
	if (!root)
		return jdoc_fail(errmsg, errlen, "'%s': line %d column %d: %s", path, jerr.line,
				 jerr.column, jerr.text);
	dir = strdup(path);
	if (!dir) {
		json_decref(root);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	r = taskrun_config_parse(root, slash ? dir : NULL, ret, msg, sizeof(msg));
	if (r < 0)
		jdoc_fail(errmsg, errlen, "'%s': %s", path, msg);
	free(dir);
	json_decref(root);
	return r;
}

const struct fnent *taskrun_config_find(const struct taskrun_config *cfg, const char *name,
					const char *qual)
{
	size_t i, nl = strlen(name);

	if (qual && *qual)
		for (i = 0; i < cfg->nfns; i++)
			if (strncmp(cfg->fns[i].name, name, nl) == 0 &&
			    cfg->fns[i].name[nl] == ':' && strcmp(cfg->fns[i].name + nl + 1, qual) == 0)
				return &cfg->fns[i];
	for (i = 0; i < cfg->nfns; i++)
		if (strcmp(cfg->fns[i].name, name) == 0)
			return &cfg->fns[i];
	return NULL;
}
