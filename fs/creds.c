/*
 * The AWS CLI credential chain: options, environment, shared credentials
 * file, credential_process, config file. Files are re-read on every load, so
 * a refresh (expiring credential_process credentials) sees edits. Nothing
 * here keeps state between calls; secrets live only in the struct creds the
 * caller owns, and are wiped when it is released.
 */
#include "fs/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "engine/buf.h"

extern char **environ;

#define CREDS_PROCESS_TIMEOUT_MS 60000
#define CREDS_PROCESS_MAX_OUT (1 << 20)

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void creds_release(struct creds *c)
{
	if (!c)
		return;
	free(c->access_key);
	free_secret(c->secret_key);
	free_secret(c->session_token);
	memset(c, 0, sizeof(*c));
}

int creds_expiring(const struct creds *c, time_t now, time_t margin)
{
	return c->expiration != 0 && now + margin >= c->expiration;
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

static const char *profile_name(const struct creds_opts *o)
{
	const char *p = o && o->profile && o->profile[0] ? o->profile : NULL;

	if (!p)
		p = env_nonempty("AWS_PROFILE");
	if (!p)
		p = env_nonempty("AWS_DEFAULT_PROFILE");
	return p ? p : "default";
}

/* ~/.aws/NAME unless @envvar is set; caller frees. */
static char *aws_file(const char *envvar, const char *name)
{
	const char *v = env_nonempty(envvar), *home;
	char *path = NULL;

	if (v)
		return v[0] == '~' && v[1] == '/' && getenv("HOME")
			       ? (asprintf(&path, "%s%s", getenv("HOME"), v + 1) < 0 ? NULL : path)
			       : strdup(v);
	home = getenv("HOME");
	if (!home || !home[0]) {
		struct passwd pw, *res = NULL;
		char tmp[4096];

		if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) != 0 || !res)
			return NULL;
		return asprintf(&path, "%s/.aws/%s", res->pw_dir, name) < 0 ? NULL : path;
	}
	return asprintf(&path, "%s/.aws/%s", home, name) < 0 ? NULL : path;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * Value of @key in section @profile of INI file @path; @config selects the
 * config-file naming ([profile NAME], [default]). Returns a new string, NULL
 * if absent (or the file is missing).
 */
static char *ini_get(const char *path, int config, const char *profile, const char *key)
{
	FILE *f;
	char *line = NULL, *val = NULL;
	size_t cap = 0;
	int in = 0;

	if (!path)
		return NULL;
	f = fopen(path, "re");
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *s, *eq;

		if (line[0] == ' ' || line[0] == '\t') /* nested sub-section values */
			continue;
		s = trim(line);
		if (!s[0] || s[0] == '#' || s[0] == ';')
			continue;
		if (s[0] == '[') {
			char *end = strchr(s, ']'), *name;

			if (!end)
				continue;
			*end = '\0';
			name = trim(s + 1);
			if (config) {
				if (strncmp(name, "profile", 7) == 0 &&
				    (name[7] == ' ' || name[7] == '\t'))
					in = strcmp(trim(name + 8), profile) == 0;
				else
					in = strcmp(profile, "default") == 0 &&
					     strcmp(name, "default") == 0;
			} else {
				in = strcmp(name, profile) == 0;
			}
			continue;
		}
		if (!in)
			continue;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(trim(s), key) == 0) {
			free(val);
			val = strdup(trim(eq + 1));
		}
	}
	free(line);
	fclose(f);
	return val;
}

char *creds_config_get(const char *profile, const char *key)
{
	char *path = aws_file("AWS_CONFIG_FILE", "config"), *v;
	struct creds_opts o = CREDS_OPTS_INIT;

	o.profile = profile;
	v = ini_get(path, 1, profile_name(&o), key);
	free(path);
	return v;
}

void creds_argv_free(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char **creds_split_command(const char *cmd, int *ret_err)
{
	size_t n = 0, i;
	char **argv = NULL, **na;
	struct buf word = BUF_INIT_CAP(1 << 20);
	int in_word = 0, err = 0;
	const char *p = cmd;

	for (;;) {
		char c = *p;

		if (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word) {
				na = realloc(argv, (n + 2) * sizeof(*argv));
				if (!na)
					goto nomem;
				argv = na;
				argv[n] = buf_detach(&word, NULL);
				if (!argv[n])
					goto nomem;
				argv[++n] = NULL;
				in_word = 0;
			}
			if (c == '\0')
				break;
			p++;
			continue;
		}
		in_word = 1;
		if (c == '\'') {
			const char *e = strchr(p + 1, '\'');

			if (!e)
				goto inval;
			if (buf_add(&word, p + 1, (size_t)(e - p - 1)) < 0)
				goto nomem;
			p = e + 1;
		} else if (c == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' ||
						   p[1] == '`' || p[1] == '\n'))
					p++;
				if (buf_putc(&word, *p) < 0)
					goto nomem;
			}
			if (*p != '"')
				goto inval;
			p++;
		} else if (c == '\\') {
			if (!p[1])
				goto inval;
			if (buf_putc(&word, p[1]) < 0)
				goto nomem;
			p += 2;
		} else {
			if (buf_putc(&word, c) < 0)
				goto nomem;
			p++;
		}
	}
	if (n == 0)
		goto inval;
	buf_release(&word);
	return argv;
inval:
	err = -EINVAL;
	goto fail;
nomem:
	err = -ENOMEM;
fail:
	for (i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	buf_release(&word);
	if (ret_err)
		*ret_err = err;
	return NULL;
}

/* ISO 8601 with 'Z' or a ±HH:MM offset, optional fraction. */
static int parse_expiration(const char *s, time_t *ret)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	long off = 0;
	time_t t;

	if (!p)
		return -EINVAL;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;

		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EINVAL;
		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else if (*p) {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	*ret = t - off;
	return 0;
}

/* Run the command, collect stdout (bounded), wait. */
static int run_process(const char *cmd, struct buf *out, char *errbuf, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t empty, all;
	char **argv;
	int fds[2] = { -1, -1 }, r, status, err = 0, fa_ok = 0, attr_ok = 0;
	pid_t pid = -1;
	struct timespec t0, now;

	argv = creds_split_command(cmd, &err);
	if (!argv) {
		seterr(errbuf, errlen, "credential_process '%s': %s", cmd,
		       err == -EINVAL ? "empty command or unterminated quote" : "out of memory");
		return err;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	r = -posix_spawn_file_actions_init(&fa);
	if (r < 0)
		goto out;
	fa_ok = 1;
	r = -posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	if (r == 0)
		r = -posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (r == 0)
		r = -posix_spawnattr_init(&attr);
	if (r < 0)
		goto out;
	attr_ok = 1;
	sigemptyset(&empty);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &empty);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	fflush(NULL);
	r = -posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	if (r < 0) {
		seterr(errbuf, errlen, "credential_process: cannot run '%s': %s", argv[0],
		       strerror(-r));
		r = -EIO;
		pid = -1;
		goto out;
	}
	close(fds[1]);
	fds[1] = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		char tmp[4096];
		ssize_t n;
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = CREDS_PROCESS_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000 +
						   (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			seterr(errbuf, errlen, "credential_process '%s' timed out after %d s",
			       argv[0], CREDS_PROCESS_TIMEOUT_MS / 1000);
			r = -EIO;
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		n = read(fds[0], tmp, sizeof(tmp));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (buf_add(out, tmp, (size_t)n) < 0) {
			kill(pid, SIGKILL);
			seterr(errbuf, errlen, "credential_process '%s': output too large",
			       argv[0]);
			r = -EINVAL;
			break;
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	pid = -1;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		if (WIFSIGNALED(status))
			seterr(errbuf, errlen, "credential_process '%s' killed by signal %d",
			       argv[0], WTERMSIG(status));
		else
			seterr(errbuf, errlen, "credential_process '%s' exited with status %d",
			       argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		r = -EIO;
	}
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	creds_argv_free(argv);
	return r;
}

static int from_process(const char *cmd, const char *where, struct creds *c, char *errbuf,
			size_t errlen)
{
	struct buf out = BUF_INIT_CAP(CREDS_PROCESS_MAX_OUT);
	json_error_t jerr;
	json_t *doc = NULL, *v;
	const char *ak, *sk, *tok, *exp;
	int r;

	r = run_process(cmd, &out, errbuf, errlen);
	if (r < 0)
		goto out;
	doc = json_loadb(out.data, out.len, 0, &jerr);
	r = -EINVAL;
	if (!json_is_object(doc)) {
		/* jansson's text quotes the token near the error: it may be a secret */
		if (doc)
			seterr(errbuf, errlen,
			       "credential_process (%s): output is not a JSON object", where);
		else
			seterr(errbuf, errlen,
			       "credential_process (%s): output is not valid JSON (line %d, "
			       "column %d)", where, jerr.line, jerr.column);
		goto out;
	}
	v = json_object_get(doc, "Version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		seterr(errbuf, errlen, "credential_process (%s): unsupported Version (want 1)",
		       where);
		goto out;
	}
	ak = json_string_value(json_object_get(doc, "AccessKeyId"));
	sk = json_string_value(json_object_get(doc, "SecretAccessKey"));
	tok = json_string_value(json_object_get(doc, "SessionToken"));
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (!ak || !ak[0] || !sk || !sk[0]) {
		seterr(errbuf, errlen,
		       "credential_process (%s): output lacks AccessKeyId or SecretAccessKey",
		       where);
		goto out;
	}
	if (exp && parse_expiration(exp, &c->expiration) < 0) {
		seterr(errbuf, errlen, "credential_process (%s): bad Expiration '%s'", where, exp);
		goto out;
	}
	c->access_key = strdup(ak);
	c->secret_key = strdup(sk);
	c->session_token = tok && tok[0] ? strdup(tok) : NULL;
	r = -ENOMEM;
	if (!c->access_key || !c->secret_key || (tok && tok[0] && !c->session_token))
		goto out;
	snprintf(c->source, sizeof(c->source), "credential_process (%s)", where);
	r = 0;
out:
	if (out.len)
		OPENSSL_cleanse(out.data, out.len);
	buf_release(&out);
	json_decref(doc);
	return r;
}

static int set_keys(struct creds *c, const char *ak, const char *sk, const char *tok,
		    const char *source)
{
	c->access_key = strdup(ak);
	c->secret_key = strdup(sk);
	c->session_token = tok && tok[0] ? strdup(tok) : NULL;
	snprintf(c->source, sizeof(c->source), "%s", source);
	if (!c->access_key || !c->secret_key || (tok && tok[0] && !c->session_token))
		return -ENOMEM;
	return 0;
}

int creds_load(const struct creds_opts *o, struct creds *ret, char *errbuf, size_t errlen)
{
	struct creds c;
	const char *profile = profile_name(o);
	char *cfile = NULL, *config = NULL, *ak = NULL, *sk = NULL, *tok = NULL, *proc = NULL;
	char where[512];
	int r;

	memset(&c, 0, sizeof(c));
	if (o && o->access_key && o->access_key[0] && o->secret_key && o->secret_key[0]) {
		r = set_keys(&c, o->access_key, o->secret_key, o->session_token, "options");
		goto out;
	}
	if (!(o && o->profile && o->profile[0]) && env_nonempty("AWS_ACCESS_KEY_ID") &&
	    env_nonempty("AWS_SECRET_ACCESS_KEY")) {
		const char *t = env_nonempty("AWS_SESSION_TOKEN");

		if (!t)
			t = env_nonempty("AWS_SECURITY_TOKEN");
		r = set_keys(&c, getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), t,
			     "environment");
		goto out;
	}
	cfile = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	config = aws_file("AWS_CONFIG_FILE", "config");

	ak = ini_get(cfile, 0, profile, "aws_access_key_id");
	sk = ini_get(cfile, 0, profile, "aws_secret_access_key");
	if (ak && ak[0] && sk && sk[0]) {
		tok = ini_get(cfile, 0, profile, "aws_session_token");
		if (!tok)
			tok = ini_get(cfile, 0, profile, "aws_security_token");
		snprintf(where, sizeof(where), "credentials file '%s', profile '%s'", cfile,
			 profile);
		r = set_keys(&c, ak, sk, tok, where);
		goto out;
	}

	proc = ini_get(cfile, 0, profile, "credential_process");
	if (proc)
		snprintf(where, sizeof(where), "profile '%s' in '%s'", profile, cfile);
	else {
		proc = ini_get(config, 1, profile, "credential_process");
		snprintf(where, sizeof(where), "profile '%s' in '%s'", profile,
			 config ? config : "?");
	}
	if (proc && proc[0]) {
		r = from_process(proc, where, &c, errbuf, errlen);
		goto out;
	}

	free(ak);
	free_secret(sk);
	ak = ini_get(config, 1, profile, "aws_access_key_id");
	sk = ini_get(config, 1, profile, "aws_secret_access_key");
	if (ak && ak[0] && sk && sk[0]) {
		tok = ini_get(config, 1, profile, "aws_session_token");
		snprintf(where, sizeof(where), "config file '%s', profile '%s'", config, profile);
		r = set_keys(&c, ak, sk, tok, where);
		goto out;
	}
	seterr(errbuf, errlen,
	       "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile "
	       "'%s' to '%s' or '%s'",
	       profile, cfile ? cfile : "~/.aws/credentials", config ? config : "~/.aws/config");
	r = -ENOENT;
out:
	if (r == 0)
		*ret = c;
	else
		creds_release(&c);
	free(cfile);
	free(config);
	free(ak);
	free_secret(sk);
	free_secret(tok);
	free(proc);
	return r;
}
