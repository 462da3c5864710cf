/*
 * Unit tests for fs/creds.c: the AWS CLI credential chain with temporary
 * credentials/config files and environment variables, credential_process
 * (real processes: printf, false, a missing program) and the shlex-style
 * command splitting.
 */
#include "fs/creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"

static char dir[] = "/tmp/stepfs-creds-XXXXXX";
static char cred_path[256], conf_path[256];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void clear_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_SECURITY_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_DEFAULT_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
	setenv("AWS_CONFIG_FILE", conf_path, 1);
}

static void test_split(void)
{
	char **av;
	int err = 0;

	av = creds_split_command("  /bin/tool --a 'x y' \"q \\\"z\\\" \\$HOME\" c\\ d e'f'g # h ",
				 &err);
	CHECK(av != NULL);
	if (av) {
		CHECK_STR_EQ(av[0], "/bin/tool");
		CHECK_STR_EQ(av[1], "--a");
		CHECK_STR_EQ(av[2], "x y");
		CHECK_STR_EQ(av[3], "q \"z\" $HOME");
		CHECK_STR_EQ(av[4], "c d");
		CHECK_STR_EQ(av[5], "efg");
		CHECK_STR_EQ(av[6], "#"); /* shlex.split does not treat # as a comment */
		CHECK_STR_EQ(av[7], "h");
		CHECK(av[8] == NULL);
		creds_argv_free(av);
	}
	CHECK(creds_split_command("a 'unterminated", &err) == NULL);
	CHECK_INT_EQ(err, -EINVAL);
	CHECK(creds_split_command("   ", &err) == NULL);
	av = creds_split_command("'' x", &err);
	CHECK(av != NULL);
	if (av) {
		CHECK_STR_EQ(av[0], "");
		CHECK_STR_EQ(av[1], "x");
		creds_argv_free(av);
	}
}

static void test_chain(void)
{
	struct creds_opts o = CREDS_OPTS_INIT;
	struct creds c;
	char msg[512];

	clear_env();
	/* nothing anywhere */
	write_file(cred_path, "");
	write_file(conf_path, "");
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -ENOENT);
	CHECK(strstr(msg, "no credentials") != NULL);

	/* credentials file, default profile; comments and nested values ignored */
	write_file(cred_path, "# comment\n[default]\naws_access_key_id = AKDEF\n"
			      "aws_secret_access_key=SKDEF \n; other\n[work]\n"
			      "aws_access_key_id=AKWORK\naws_secret_access_key=SKWORK\n"
			      "aws_session_token=TOKWORK\n");
	write_file(conf_path, "[default]\nregion = eu-west-3\ns3 =\n  addressing_style = path\n"
			      "[profile cfg]\naws_access_key_id=AKCFG\naws_secret_access_key=SKCFG\n"
			      "region=ap-south-1\n");
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.access_key, "AKDEF");
	CHECK_STR_EQ(c.secret_key, "SKDEF");
	CHECK(c.session_token == NULL);
	CHECK(strstr(c.source, "credentials file") != NULL);
	creds_release(&c);

	/* AWS_PROFILE picks a section; the token comes along */
	setenv("AWS_PROFILE", "work", 1);
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.access_key, "AKWORK");
	CHECK_STR_EQ(c.session_token, "TOKWORK");
	creds_release(&c);

	/* environment wins over files when no profile is named in the options */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.access_key, "AKENV");
	CHECK_STR_EQ(c.session_token, "TOKENV");
	CHECK_STR_EQ(c.source, "environment");
	creds_release(&c);

	/* ... but an explicit profile option skips the environment (aws --profile) */
	o.profile = "cfg";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.access_key, "AKCFG");
	CHECK(strstr(c.source, "config file") != NULL);
	creds_release(&c);

	/* explicit keys beat everything */
	o.access_key = "AKOPT";
	o.secret_key = "SKOPT";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.access_key, "AKOPT");
	creds_release(&c);

	/* config values */
	{
		char *r;

		unsetenv("AWS_PROFILE");
		r = creds_config_get(NULL, "region");
		CHECK_STR_EQ(r, "eu-west-3");
		free(r);
		r = creds_config_get("cfg", "region");
		CHECK_STR_EQ(r, "ap-south-1");
		free(r);
		r = creds_config_get(NULL, "addressing_style"); /* nested: not a top-level key */
		CHECK(r == NULL);
		free(r);
	}

	/* missing profile */
	clear_env();
	o = (struct creds_opts)CREDS_OPTS_INIT;
	o.profile = "nope";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -ENOENT);
	CHECK(strstr(msg, "'nope'") != NULL);
}

static void test_process(void)
{
	struct creds_opts o = CREDS_OPTS_INIT;
	struct creds c;
	char msg[512] = "";
	time_t now = time(NULL);

	clear_env();
	write_file(cred_path, "");
	/* printf prints the JSON given as one quoted argument: no shell involved */
	write_file(conf_path,
		   "[profile proc]\ncredential_process = printf '%s' '{\"Version\": 1, "
		   "\"AccessKeyId\": \"AKPROC\", \"SecretAccessKey\": \"SK PROC\", "
		   "\"SessionToken\": \"TOKPROC\", \"Expiration\": \"2030-01-02T03:04:05Z\"}'\n"
		   "[profile proc2]\ncredential_process = printf \"%s\" '{\"Version\": 1, "
		   "\"AccessKeyId\": \"AK2\", \"SecretAccessKey\": \"SK2\", "
		   "\"Expiration\": \"2030-01-02T05:04:05+02:00\"}'\n"
		   "[profile fails]\ncredential_process = false\n"
		   "[profile missing]\ncredential_process = /nonexistent/stepfs-creds-helper --x\n"
		   "[profile badjson]\ncredential_process = printf '{\"Version\": 2}'\n"
		   "[profile nokeys]\ncredential_process = printf '{\"Version\": 1}'\n"
		   "[profile quote]\ncredential_process = printf 'unterminated\n"
		   "[profile leak]\ncredential_process = printf '{\"Version\": 1, "
		   "\"AccessKeyId\": \"AKLEAK\", \"SecretAccessKey\": wJalrLEAKSECRET}'\n");
	o.profile = "proc";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.access_key, "AKPROC");
	CHECK_STR_EQ(c.secret_key, "SK PROC");
	CHECK_STR_EQ(c.session_token, "TOKPROC");
	CHECK_INT_EQ(c.expiration, 1893553445);
	CHECK(strstr(c.source, "credential_process") != NULL);
	CHECK_INT_EQ(creds_expiring(&c, now, 600), 0);
	CHECK_INT_EQ(creds_expiring(&c, 1893553445 - 300, 600), 1);
	creds_release(&c);

	o.profile = "proc2";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), 0);
	CHECK_INT_EQ(c.expiration, 1893553445);
	CHECK(c.session_token == NULL);
	creds_release(&c);

	o.profile = "fails";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -EIO);
	CHECK(strstr(msg, "exited with status 1") != NULL);
	o.profile = "missing";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -EIO);
	CHECK(strstr(msg, "cannot run '/nonexistent/stepfs-creds-helper'") != NULL);
	o.profile = "badjson";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "Version") != NULL);
	o.profile = "nokeys";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "AccessKeyId") != NULL);
	o.profile = "quote";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "unterminated") != NULL);
	/* a malformed output is reported by position, never by quoting it */
	o.profile = "leak";
	CHECK_INT_EQ(creds_load(&o, &c, msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "not valid JSON (line 1, column") != NULL);
	CHECK(strstr(msg, "LEAKSECRET") == NULL);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cred_path, sizeof(cred_path), "%s/credentials", dir);
	snprintf(conf_path, sizeof(conf_path), "%s/config", dir);
	test_split();
	test_chain();
	test_process();
	unlink(cred_path);
	unlink(conf_path);
	rmdir(dir);
	return TEST_DONE();
}
