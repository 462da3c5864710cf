/*
 * stepfs check BUCKET: verify that the endpoint answers, the credentials are
 * accepted and the bucket can be written, read, listed and cleaned, with a
 * probe object (put, head, get, list, delete), and say exactly what is wrong
 * when it cannot: DNS, connection refused, timeout, TLS, clock skew,
 * signature, unknown access key, access denied, no such bucket.
 *
 * Credentials are never printed; the access key id is (it is not a secret
 * and it is what the operator has to compare).
 */
#include "fs/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/s3.h"
#include "fs/store.h"

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: stepfs check s3://BUCKET[/PREFIX] [--endpoint URL] [--region REGION]\n"
		"           [--profile NAME] [--path-style | --virtual-host] [--ca-bundle FILE]\n"
		"           [-o OPTIONS_JSON]\n\n"
		"Write, read, list and delete a small probe object to verify the endpoint,\n"
		"the credentials and the permissions, and explain any failure. Credentials\n"
		"come from the AWS CLI chain (environment, ~/.aws files, credential_process).\n"
		"-o takes the S3 options as JSON (see fs/s3.h), e.g. '{\"retries\": 1}'.\n"
		"Exit status: 0 all good, 1 a check failed, 2 usage.\n");
}

/* One line explaining what to do about @e. */
static const char *hint(const struct store_error *e)
{
	switch (e->code) {
	case STORE_ERESOLVE:
		return "DNS: the endpoint's host name does not resolve; check --endpoint";
	case STORE_ECONNECT:
		return "connection: nothing accepts connections at the endpoint (server down, wrong "
		       "port or scheme?)";
	case STORE_ETIMEOUT:
		return "timeout: the endpoint does not answer in time (firewall, wrong port?)";
	case STORE_ETLS:
		return "TLS: the handshake or certificate check failed; for a private CA use "
		       "--ca-bundle FILE, for a plain-HTTP server use an http:// endpoint";
	case STORE_ECLOCKSKEW:
		return "clock skew: the local clock differs from the server's by more than 15 "
		       "minutes; synchronise it (timedatectl set-ntp true)";
	case STORE_ESIGNATURE:
		if (strcmp(e->s3_code, "InvalidAccessKeyId") == 0)
			return "signature: the server does not know this access key id";
		return "signature: the server rejected the signature; the secret key is wrong for "
		       "this access key id (or the region is wrong)";
	case STORE_EDENIED:
		return "permissions: the credentials are valid but not allowed to do this";
	case STORE_ENOBUCKET:
		return "bucket: no such bucket at this endpoint";
	case STORE_ECREDS:
		return "credentials: none found, or credential_process failed";
	case STORE_ESERVER:
		return "server: the server failed (5xx or throttling) even after retries";
	default:
		return "";
	}
}

static int report(const char *step, enum store_err rc, const struct store_error *e)
{
	const char *h;

	if (rc == STORE_OK) {
		printf("  %-12s ok\n", step);
		return 0;
	}
	printf("  %-12s FAILED: %s\n", step, e->message[0] ? e->message : store_strerror(rc));
	h = hint(e);
	if (h[0])
		printf("  %-12s => %s\n", "", h);
	return 1;
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "region", required_argument, NULL, 'r' },
		{ "profile", required_argument, NULL, 'p' },
		{ "path-style", no_argument, NULL, 'P' },
		{ "virtual-host", no_argument, NULL, 'V' },
		{ "ca-bundle", required_argument, NULL, 'c' },
		{ "options", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_put_opts po = STORE_PUT_OPTS_INIT;
	struct store_list_opts lo = STORE_LIST_OPTS_INIT;
	struct store_error e;
	struct store_obj o;
	struct store_list l;
	struct store_body body;
	struct store *s = NULL;
	json_t *opts = NULL, *meta = NULL;
	json_error_t jerr;
	char key[256], payload[320], got[320], host[64] = "host";
	enum store_err rc;
	size_t n = 0, i;
	int c, failed = 0, status = 1, found;

	optind = 1;
	opts = json_object();
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': {
			json_t *more = json_loads(optarg, 0, &jerr);

			if (!json_is_object(more)) {
				fprintf(stderr, "stepfs check: -o: not a JSON object: %s\n",
					more ? "wrong type" : jerr.text);
				json_decref(more);
				json_decref(opts);
				return 2;
			}
			json_object_update(opts, more);
			json_decref(more);
			break;
		}
		case 'e':
			json_object_set_new(opts, "endpoint", json_string(optarg));
			break;
		case 'r':
			json_object_set_new(opts, "region", json_string(optarg));
			break;
		case 'p':
			json_object_set_new(opts, "profile", json_string(optarg));
			break;
		case 'P':
			json_object_set_new(opts, "path_style", json_true());
			break;
		case 'V':
			json_object_set_new(opts, "path_style", json_false());
			break;
		case 'c':
			json_object_set_new(opts, "ca_bundle", json_string(optarg));
			break;
		case 'h':
			check_usage(stdout);
			json_decref(opts);
			return 0;
		default:
			check_usage(stderr);
			json_decref(opts);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		check_usage(stderr);
		json_decref(opts);
		return 2;
	}
	if (strncmp(argv[optind], "s3://", 5) != 0) {
		fprintf(stderr, "stepfs check: '%s' is not an s3://BUCKET URL\n", argv[optind]);
		json_decref(opts);
		return 2;
	}
	/* fail fast by default: a check should answer in seconds */
	if (!json_object_get(opts, "retries"))
		json_object_set_new(opts, "retries", json_integer(2));
	if (!json_object_get(opts, "connect_timeout_ms"))
		json_object_set_new(opts, "connect_timeout_ms", json_integer(5000));
	if (!json_object_get(opts, "stall_timeout_ms"))
		json_object_set_new(opts, "stall_timeout_ms", json_integer(15000));

	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	memset(&l, 0, sizeof(l));
	printf("checking %s\n", argv[optind]);
	s = store_open(argv[optind], opts, &e);
	if (!s) {
		report("setup", e.code, &e);
		goto out;
	}
	printf("  %-12s %s (region %s)\n", "endpoint", s3_endpoint(s), s3_region(s));
	printf("  %-12s access key id '%s' from %s\n", "credentials", s3_access_key(s),
	       s3_creds_source(s));

	(void)gethostname(host, sizeof(host) - 1);
	snprintf(key, sizeof(key), ".stepfs-check/%s-%ld-%ld", host, (long)getpid(),
		 (long)time(NULL));
	snprintf(payload, sizeof(payload), "stepfs check probe %s\n", key);
	body = (struct store_body)STORE_BODY_MEM(payload, strlen(payload));
	meta = json_pack("{s:s}", "stepfs-check", "1");
	po.meta = meta;
	po.content_type = "text/plain";

	rc = store_put(s, key, &body, &po, &o, &e);
	if (report("put", rc, &e)) {
		/* can it at least read? tells "read-only" from "nothing works" */
		if (rc == STORE_EDENIED) {
			memset(&e, 0, sizeof(e));
			lo.prefix = ".stepfs-check/";
			lo.max_keys = 1;
			rc = store_list_page(s, &lo, &l, &e);
			report("list", rc, &e);
			if (rc == STORE_OK)
				printf("  %-12s => the credentials can list but not write\n", "");
		}
		goto out;
	}
	store_obj_release(&o);

	memset(&e, 0, sizeof(e));
	rc = store_head(s, key, &o, &e);
	if (rc == STORE_OK && o.size != strlen(payload))
		rc = store_set_error(&e, STORE_EPROTO, 0, NULL,
				     "head '%s': size %llu, expected %zu", key,
				     (unsigned long long)o.size, strlen(payload));
	if (rc == STORE_OK && !json_equal(json_object_get(o.meta, "stepfs-check"),
					  json_object_get(meta, "stepfs-check")))
		rc = store_set_error(&e, STORE_EPROTO, 0, NULL,
				     "head '%s': metadata x-amz-meta-stepfs-check did not come back",
				     key);
	failed |= report("head", rc, &e);
	store_obj_release(&o);

	memset(&e, 0, sizeof(e));
	memset(got, 0, sizeof(got));
	rc = store_get_range(s, key, 0, sizeof(got) - 1, got, &n, &e);
	if (rc == STORE_OK && (n != strlen(payload) || memcmp(got, payload, n) != 0))
		rc = store_set_error(&e, STORE_EPROTO, 0, NULL,
				     "get '%s': the content read back differs from what was written",
				     key);
	failed |= report("get", rc, &e);

	memset(&e, 0, sizeof(e));
	lo.prefix = key;
	rc = store_list_page(s, &lo, &l, &e);
	found = 0;
	for (i = 0; rc == STORE_OK && i < l.n; i++)
		found |= strcmp(l.entries[i].key, key) == 0;
	if (rc == STORE_OK && !found)
		rc = store_set_error(&e, STORE_EPROTO, 0, NULL,
				     "list: the probe object '%s' is not in the listing", key);
	failed |= report("list", rc, &e);
	store_list_release(&l);

	memset(&e, 0, sizeof(e));
	rc = store_delete(s, key, &e);
	failed |= report("delete", rc, &e);
	if (rc == STORE_OK) {
		memset(&e, 0, sizeof(e));
		rc = store_head(s, key, NULL, &e);
		if (rc == STORE_OK)
			failed |= report("deleted?", STORE_EPROTO,
					 &(struct store_error){ .code = STORE_EPROTO,
								.message = "the probe object is still "
									   "there after delete" });
	}
	{
		/* information only: orphans cost storage until aborted */
		struct store_upload *u = NULL;
		size_t nu = 0, j;
		time_t oldest = 0;
		char when[32] = "";

		memset(&e, 0, sizeof(e));
		rc = s->ops->mpu_list(s, "", &u, &nu, &e);
		for (j = 0; j < nu; j++) {
			if (!oldest || (u[j].initiated.tv_sec && u[j].initiated.tv_sec < oldest))
				oldest = u[j].initiated.tv_sec;
			free(u[j].key);
			free(u[j].upload_id);
		}
		free(u);
		if (oldest) {
			struct tm tm;

			gmtime_r(&oldest, &tm);
			strftime(when, sizeof(when), ", oldest from %Y-%m-%d %H:%M UTC", &tm);
		}
		if (rc == STORE_OK)
			printf("  %-12s %zu unfinished multipart upload%s%s\n", "uploads", nu,
			       nu == 1 ? "" : "s", when);
		else
			printf("  %-12s cannot list unfinished multipart uploads: %s\n", "uploads",
			       e.message);
	}
	if (!failed) {
		printf("all checks passed\n");
		status = 0;
	}
out:
	if (status)
		printf("check failed\n");
	store_obj_release(&o);
	store_free(s);
	json_decref(meta);
	json_decref(opts);
	return status;
}
