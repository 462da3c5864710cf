/*
 * creds: find AWS credentials the way the AWS CLI does.
 *
 * Order (botocore's chain, minus the cloud-only providers):
 *  1. explicit keys in the options (access_key/secret_key[/session_token]);
 *  2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN (AWS_SECURITY_TOKEN as a fallback) — skipped when a
 *     profile was named explicitly in the options, as `aws --profile` does;
 *  3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *     ~/.aws/credentials), section [PROFILE];
 *  4. credential_process from the profile (credentials file or config file);
 *  5. static keys in the config file (AWS_CONFIG_FILE, default
 *     ~/.aws/config), section [profile PROFILE] or [default].
 * PROFILE is the option, else AWS_PROFILE (AWS_DEFAULT_PROFILE), else "default".
 *
 * credential_process is split into argv like the AWS CLI (POSIX shlex rules:
 * whitespace separates, '...' is literal, "..." allows \" \\ \$ \`, a
 * backslash outside quotes escapes the next character) and spawned with
 * posix_spawnp(), never through a shell, with no inherited descriptors but
 * stdin/stderr. Its stdout must be the JSON document
 * {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}.
 *
 * Thread-safety: creds_load() reads the environment and files; call it from
 * one thread at a time or guard it (the S3 client does, under its lock).
 * Messages never contain secret keys or tokens.
 */
#ifndef STEPFS_CREDS_H
#define STEPFS_CREDS_H

#include <stddef.h>
#include <time.h>

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL if none */
	time_t expiration;   /* 0: does not expire */
	char source[600];    /* e.g. "environment", "credentials file profile 'x'" */
};

struct creds_opts {
	const char *profile;    /* NULL: AWS_PROFILE or "default" */
	const char *access_key; /* explicit keys, used when both are set */
	const char *secret_key;
	const char *session_token;
};
#define CREDS_OPTS_INIT { NULL, NULL, NULL, NULL }

/*
 * Load credentials into @ret (initialised by this call; release with
 * creds_release()). Returns 0, -ENOENT (none found anywhere), -EINVAL (a
 * malformed file or credential_process output), -EIO (credential_process
 * could not run or failed), -ENOMEM. On failure @errbuf says what and where.
 */
int creds_load(const struct creds_opts *o, struct creds *ret, char *errbuf, size_t errlen);
void creds_release(struct creds *c);

/* 1 if @c expires within @margin seconds of @now. */
int creds_expiring(const struct creds *c, time_t now, time_t margin);

/*
 * A value of the profile in the config file (e.g. "region"), a new string the
 * caller frees, or NULL if unset.
 */
char *creds_config_get(const char *profile, const char *key);

/*
 * Split a command line into argv per the AWS CLI (POSIX shlex). Returns a
 * NULL-terminated array to free with creds_argv_free(), or NULL with *ret_err
 * set (-EINVAL: unterminated quote or empty command, -ENOMEM).
 */
char **creds_split_command(const char *cmd, int *ret_err);
void creds_argv_free(char **argv);

#endif
