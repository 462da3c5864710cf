/*
 * Unit tests for fs/s3.c without a network: option validation and its
 * messages, credentials required at open, path-style vs virtual-host
 * addressing and key encoding (seen through presigned URLs, which are built
 * exactly like request URLs), and store_open()'s URL dispatch.
 * Requests against a real server are tested by tests/it/s3_*.sh.
 */
#include "fs/s3.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tests/harness.h"

static struct store *open_with(const char *url, const char *json, struct store_error *e)
{
	json_error_t jerr;
	json_t *o = json ? json_loads(json, 0, &jerr) : NULL;
	struct store *s;

	memset(e, 0, sizeof(*e));
	s = store_open(url, o, e);
	json_decref(o);
	return s;
}

static void expect_einval(const char *url, const char *json, const char *needle)
{
	struct store_error e;
	struct store *s = open_with(url, json, &e);

	CHECK(s == NULL);
	CHECK_INT_EQ(e.code, STORE_EINVAL);
	CHECK(strstr(e.message, needle) != NULL);
	if (!strstr(e.message, needle))
		fprintf(stderr, "  message was: %s\n", e.message);
	store_free(s);
}

/* Presigned URL up to the '?' */
static char *url_of(const char *bucket_url, const char *json, const char *key)
{
	struct store_error e;
	struct store *s = open_with(bucket_url, json, &e);
	char *u, *q;

	if (!s) {
		fprintf(stderr, "open failed: %s\n", e.message);
		return NULL;
	}
	u = s3_presign_get(s, key, 60, &e);
	store_free(s);
	q = u ? strchr(u, '?') : NULL;
	if (q)
		*q = '\0';
	return u;
}

static void check_url(const char *bucket_url, const char *json, const char *key, const char *want)
{
	char *u = url_of(bucket_url, json, key);

	CHECK_STR_EQ(u, want);
	free(u);
}

int main(void)
{
	struct store_error e;
	struct store *s;
	char *u;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	setenv("AWS_ACCESS_KEY_ID", "AKUNIT", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKUNIT", 1);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_CA_BUNDLE");
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);

	/* option validation */
	expect_einval("s3://bucket", "{\"endpiont\": \"x\"}", "unknown S3 option 'endpiont'");
	expect_einval("s3://bucket", "{\"endpoint\": 5}", "option 'endpoint' must be a string");
	expect_einval("s3://bucket", "{\"endpoint\": \"ftp://h\"}", "must start with http");
	expect_einval("s3://bucket", "{\"endpoint\": \"http://u:p@h\"}", "no user info");
	expect_einval("s3://bucket", "{\"part_size\": 1024}", "'part_size' must be an integer");
	expect_einval("s3://bucket", "{\"parallel\": \"4\"}", "'parallel' must be an integer");
	expect_einval("s3://bucket", "{\"retries\": -1}", "'retries'");
	expect_einval("s3://bucket", "{\"path_style\": \"yes\"}", "'path_style' must be true or false");
	expect_einval("s3://bucket", "{\"payload_signing\": \"maybe\"}", "payload_signing");
	expect_einval("s3://bucket", "{\"checksum\": \"sha1\"}", "checksum");
	expect_einval("s3://bucket", "{\"ca_bundle\": \"/nonexistent/ca.pem\"}",
		      "ca_bundle '/nonexistent/ca.pem'");
	expect_einval("s3://b", NULL, "bad bucket name 'b'");
	expect_einval("s3://bad bucket", NULL, "bad bucket name");
	expect_einval("s3://bucket", "[1]", "must be a JSON object");

	/* credentials are required at open */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	s = open_with("s3://bucket", NULL, &e);
	CHECK(s == NULL);
	CHECK_INT_EQ(e.code, STORE_ECREDS);
	CHECK(strstr(e.message, "no credentials") != NULL);
	setenv("AWS_SECRET_ACCESS_KEY", "SKUNIT", 1);
	s = open_with("s3://bucket", "{\"access_key\": \"A\", \"secret_key\": \"S\"}", &e);
	CHECK(s != NULL);
	CHECK_STR_EQ(s3_access_key(s), "A");
	CHECK_STR_EQ(s3_creds_source(s), "options");
	store_free(s);

	/* defaults: AWS endpoint for the region, virtual-host style */
	s = open_with("s3://my-bucket", NULL, &e);
	CHECK(s != NULL);
	CHECK_STR_EQ(s3_region(s), "us-east-1");
	CHECK_STR_EQ(s3_endpoint(s), "https://s3.us-east-1.amazonaws.com");
	CHECK_STR_EQ(s3_creds_source(s), "environment");
	store_free(s);
	check_url("s3://my-bucket", "{\"region\": \"eu-west-3\"}", "k",
		  "https://my-bucket.s3.eu-west-3.amazonaws.com/k");
	setenv("AWS_REGION", "ap-south-1", 1);
	check_url("s3://my-bucket", NULL, "k", "https://my-bucket.s3.ap-south-1.amazonaws.com/k");
	unsetenv("AWS_REGION");

	/* path style: IP, localhost, non-DNS bucket names, or asked for */
	check_url("s3://my-bucket", "{\"endpoint\": \"http://127.0.0.1:9000/\"}", "a/b",
		  "http://127.0.0.1:9000/my-bucket/a/b");
	check_url("s3://my-bucket", "{\"endpoint\": \"http://localhost:9000\"}", "k",
		  "http://localhost:9000/my-bucket/k");
	check_url("s3://my.dotted.bucket", "{\"endpoint\": \"https://s3.example.com\"}", "k",
		  "https://s3.example.com/my.dotted.bucket/k");
	check_url("s3://my-bucket", "{\"endpoint\": \"https://s3.example.com\"}", "k",
		  "https://my-bucket.s3.example.com/k");
	check_url("s3://my-bucket", "{\"endpoint\": \"https://s3.example.com\", \"path_style\": true}",
		  "k", "https://s3.example.com/my-bucket/k");
	check_url("s3://my-bucket", "{\"endpoint\": \"http://localhost:9000\", \"path_style\": false}",
		  "k", "http://my-bucket.localhost:9000/k");
	setenv("AWS_ENDPOINT_URL", "http://10.1.2.3:7480", 1);
	check_url("s3://my-bucket", NULL, "k", "http://10.1.2.3:7480/my-bucket/k");
	unsetenv("AWS_ENDPOINT_URL");

	/* key encoding per segment, prefixes */
	check_url("s3://my-bucket/pre/fix", "{\"endpoint\": \"http://127.0.0.1:9000\"}",
		  "a b+c%d/\xc3\xa9\n~.-_/../x//y",
		  "http://127.0.0.1:9000/my-bucket/pre/fix/a%20b%2Bc%25d/%C3%A9%0A~.-_/../x//y");
	check_url("s3://my-bucket/pre/", "{\"endpoint\": \"http://127.0.0.1:9000\"}", "k",
		  "http://127.0.0.1:9000/my-bucket/pre/k");

	/* presigned query carries the X-Amz-* parameters, never the secret */
	s = open_with("s3://my-bucket", "{\"endpoint\": \"http://127.0.0.1:9000\"}", &e);
	u = s ? s3_presign_get(s, "k", 300, &e) : NULL;
	CHECK(u && strstr(u, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKUNIT%2F"));
	CHECK(u && strstr(u, "X-Amz-Expires=300"));
	CHECK(u && strstr(u, "X-Amz-Signature="));
	CHECK(u && !strstr(u, "SKUNIT"));
	free(u);
	CHECK(s && s3_presign_get(s, "k", 0, &e) == NULL);
	CHECK(s && s3_presign_get(s, "", 10, &e) == NULL);
	CHECK_INT_EQ(e.code, STORE_EINVAL);
	store_free(s);

	/* store_open dispatch */
	s = open_with("", NULL, &e);
	CHECK(s == NULL);
	CHECK_INT_EQ(e.code, STORE_EINVAL);
	store_free(NULL);

	curl_global_cleanup();
	return TEST_DONE();
}
