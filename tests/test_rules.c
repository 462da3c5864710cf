/*
 * Unit tests for engine/rules.c: S3's PUT-time validation (AWS's documented
 * examples, including the jpg/pg overlap rejection, with S3's error text),
 * S3's matching (URL-encoded key, case-sensitive, AND, event-name wildcards)
 * and EventBridge patterns (every operator, $or, fan-out).
 */
#include "engine/rules.h"

#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

#define NC "/NotificationConfiguration"

static struct rules *load(const char *nc_json, const char *eb_json, struct rules_err *err)
{
	struct rules *r = rules_new();
	json_error_t je;
	json_t *nc = json_loads(nc_json, 0, &je), *eb = NULL;
	int rc;

	if (!nc) {
		fprintf(stderr, "test JSON: %s\n", je.text);
		rules_free(r);
		return NULL;
	}
	rc = rules_add_notification(r, nc, NC, err);
	if (rc == 0 && eb_json) {
		eb = json_loads(eb_json, 0, &je);
		rc = rules_add_eventbridge(r, eb, "/EventBridgeRules", err);
	}
	json_decref(nc);
	json_decref(eb);
	if (rc < 0) {
		rules_free(r);
		return NULL;
	}
	return r;
}

struct hits {
	char ids[512];
	int n;
};

static void on_hit(void *arg, const struct rules_target *t)
{
	struct hits *h = arg;

	if (h->n)
		strcat(h->ids, ",");
	strcat(h->ids, t->id);
	strcat(h->ids, "=");
	strcat(h->ids, t->state_machine);
	h->n++;
}

static const char *match(struct rules *r, enum commit_kind kind, const char *key,
			 struct hits *h)
{
	struct commit_event ce;
	struct event *ev;

	memset(&ce, 0, sizeof(ce));
	memset(h, 0, sizeof(*h));
	ce.kind = kind;
	ce.bucket = "b";
	ce.key = key;
	ce.size = 7;
	ce.etag = "e";
	ev = event_from_commit(&ce, "0000000000000001");
	rules_match(r, ev, "us-east-1", "000000000000", on_hit, h);
	event_free(ev);
	return h->ids;
}

static int rejects(const char *nc, const char *want_ptr, const char *want_msg)
{
	struct rules_err err;
	struct rules *r;
	int ok;

	memset(&err, 0, sizeof(err));
	r = load(nc, NULL, &err);
	ok = r == NULL && strcmp(err.pointer, want_ptr) == 0 && strstr(err.msg, want_msg) != NULL;
	if (!ok)
		fprintf(stderr, "  got pointer '%s' msg '%s'\n", err.pointer, err.msg);
	rules_free(r);
	return ok;
}

static void test_primitives(void)
{
	CHECK(rules_event_covers("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
	CHECK(rules_event_covers("s3:ObjectCreated:*", "s3:ObjectCreated:CompleteMultipartUpload"));
	CHECK(!rules_event_covers("s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"));
	CHECK(!rules_event_covers("s3:ObjectCreated:Put", "s3:ObjectCreated:Copy"));
	CHECK(rules_events_intersect("s3:ObjectCreated:Put", "s3:ObjectCreated:*"));
	CHECK(!rules_events_intersect("s3:ObjectCreated:Put", "s3:ObjectRemoved:*"));
	/* "Two suffixes are considered overlapping if a given string can end with both" */
	CHECK(rules_suffix_overlap("jpg", "pg"));
	CHECK(!rules_suffix_overlap(".jpg", ".png"));
	CHECK(rules_suffix_overlap("", ".png"));
	CHECK(rules_prefix_overlap("images", "images/2020"));
	CHECK(!rules_prefix_overlap("images/", "logs/"));
	CHECK(rules_prefix_overlap("", "logs/"));
}

static void test_s3_validation(void)
{
	struct rules_err err;
	struct rules *r;

	/* AWS's doc example: ObjectCreated:* + suffix jpg vs ObjectCreated:Put + suffix pg */
	CHECK(rejects("{\"StateMachineConfigurations\":["
		      "{\"Id\":\"a\",\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectCreated:*\"],"
		      "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"suffix\",\"Value\":\"jpg\"}]}}},"
		      "{\"Id\":\"b\",\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectCreated:Put\"],"
		      "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"suffix\",\"Value\":\"pg\"}]}}}]}",
		      NC "/StateMachineConfigurations/1", RULES_E_OVERLAP));
	CHECK(strcmp(RULES_E_OVERLAP,
		     "Configuration is ambiguously defined. Cannot have overlapping suffixes in two "
		     "rules if the prefixes are overlapping for the same event type.") == 0);
	/* a rule with no filter overlaps every rule of its event type */
	CHECK(rejects("{\"StateMachineConfigurations\":["
		      "{\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectCreated:Put\"],"
		      "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"in/\"}]}}},"
		      "{\"StateMachine\":\"n\",\"Events\":[\"s3:ObjectCreated:*\"]}]}",
		      NC "/StateMachineConfigurations/1", RULES_E_OVERLAP));
	/* the doc's valid case: overlapping prefixes, non-overlapping suffixes */
	memset(&err, 0, sizeof(err));
	r = load("{\"StateMachineConfigurations\":["
		 "{\"Id\":\"jpg\",\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectCreated:*\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"images\"},"
		 "{\"Name\":\"suffix\",\"Value\":\".jpg\"}]}}},"
		 "{\"Id\":\"png\",\"StateMachine\":\"n\",\"Events\":[\"s3:ObjectCreated:*\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"Prefix\",\"Value\":\"images\"},"
		 "{\"Name\":\"Suffix\",\"Value\":\".png\"}]}}},"
		 "{\"Id\":\"del\",\"StateMachine\":\"d\",\"Events\":[\"s3:ObjectRemoved:*\"]}]}",
		 NULL, &err);
	CHECK(r != NULL);
	if (!r)
		fprintf(stderr, "  %s: %s\n", err.pointer, err.msg);
	rules_free(r);
	/* different event families may overlap */
	r = load("{\"StateMachineConfigurations\":["
		 "{\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectCreated:Put\"]},"
		 "{\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectRemoved:*\"]}]}",
		 NULL, &err);
	CHECK(r != NULL);
	CHECK_INT_EQ(r ? rules_target_count(r) : 0, 2);
	/* default Ids are assigned and stable */
	if (r)
		CHECK(strncmp(rules_target_at(r, 0)->id, "stepfs-", 7) == 0);
	rules_free(r);

	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":"
		      "[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		      "{\"Name\":\"prefix\",\"Value\":\"a\"},{\"Name\":\"prefix\",\"Value\":\"b\"}]}}}]}",
		      NC "/StateMachineConfigurations/0/Filter/Key/FilterRules/1",
		      RULES_E_TWO_PREFIX));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":"
		      "[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		      "{\"Name\":\"suffix\",\"Value\":\"a\"},{\"Name\":\"SUFFIX\",\"Value\":\"b\"}]}}}]}",
		      NC "/StateMachineConfigurations/0/Filter/Key/FilterRules/1",
		      RULES_E_TWO_SUFFIX));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":"
		      "[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		      "{\"Name\":\"regex\",\"Value\":\"a.*\"}]}}}]}",
		      NC "/StateMachineConfigurations/0/Filter/Key/FilterRules/0/Name",
		      RULES_E_FILTER_NAME));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":"
		      "[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		      "{\"Name\":\"suffix\",\"Value\":\"*.jpg\"}]}}}]}",
		      NC "/StateMachineConfigurations/0/Filter/Key/FilterRules/0/Value",
		      "wildcard"));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":"
		      "[\"s3:ObjectCreated:Put\",\"s3:*\"]}]}",
		      NC "/StateMachineConfigurations/0/Events/1", RULES_E_EVENT));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":[]}]}",
		      NC "/StateMachineConfigurations/0/Events", "non-empty"));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"Events\":[\"s3:ObjectCreated:*\"]}]}",
		      NC "/StateMachineConfigurations/0", "StateMachine"));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Evnts\":[]}]}",
		      NC "/StateMachineConfigurations/0/Evnts", "unknown member"));
	CHECK(rejects("{\"StateMachineConfigurations\":[{\"StateMachine\":\"m\",\"Events\":"
		      "[\"s3:ObjectCreated:*\"],\"EventFormat\":\"CloudTrail\"}]}",
		      NC "/StateMachineConfigurations/0/EventFormat", "EventFormat"));
	CHECK(rejects("{\"QueueConfigurations\":[{\"QueueArn\":\"arn:aws:sqs:x\",\"Events\":"
		      "[\"s3:ObjectCreated:*\"]}]}",
		      NC "/QueueConfigurations", "cannot deliver"));
	CHECK(rejects("{\"StateMachineConfigurations\":["
		      "{\"Id\":\"x\",\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectCreated:Put\"]},"
		      "{\"Id\":\"x\",\"StateMachine\":\"m\",\"Events\":[\"s3:ObjectRemoved:*\"]}]}",
		      NC "/StateMachineConfigurations/1/Id", "duplicate"));
}

static void on_lint(void *arg, const char *ptr, const char *msg)
{
	struct hits *h = arg;

	snprintf(h->ids, sizeof(h->ids), "%s: %s", ptr, msg);
	h->n++;
}

static void test_s3_matching(void)
{
	struct rules_err err;
	struct hits h;
	struct rules *r;

	r = load("{\"StateMachineConfigurations\":["
		 "{\"Id\":\"jpg\",\"StateMachine\":\"arn:aws:states:us-east-1:1:stateMachine:thumbs\","
		 "\"Events\":[\"s3:ObjectCreated:*\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"images/\"},"
		 "{\"Name\":\"suffix\",\"Value\":\".jpg\"}]}}},"
		 "{\"Id\":\"eq\",\"StateMachine\":\"part\",\"Events\":[\"s3:ObjectCreated:Put\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"t/dt%3D1/\"}]}}},"
		 "{\"Id\":\"raw\",\"StateMachine\":\"never\",\"Events\":[\"s3:ObjectCreated:Put\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"u/dt=1/\"}]}}},"
		 "{\"Id\":\"sp\",\"StateMachine\":\"space\",\"Events\":[\"s3:ObjectCreated:Copy\"],"
		 "\"Filter\":{\"Key\":{\"FilterRules\":[{\"Name\":\"prefix\",\"Value\":\"red+flower\"}]}}},"
		 "{\"Id\":\"del\",\"StateMachine\":\"gone\",\"Events\":[\"s3:ObjectRemoved:Delete\"]}]}",
		 NULL, &err);
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "  %s: %s\n", err.pointer, err.msg);
		return;
	}
	CHECK_STR_EQ(match(r, COMMIT_PUT, "images/a.jpg", &h), "jpg=thumbs");
	CHECK_STR_EQ(match(r, COMMIT_MULTIPART, "images/big.jpg", &h), "jpg=thumbs");
	CHECK_STR_EQ(match(r, COMMIT_PUT, "images/a.JPG", &h), ""); /* case-sensitive */
	CHECK_STR_EQ(match(r, COMMIT_PUT, "Images/a.jpg", &h), "");
	CHECK_STR_EQ(match(r, COMMIT_PUT, "other/a.jpg", &h), "");  /* AND */
	CHECK_STR_EQ(match(r, COMMIT_PUT, "images/a.png", &h), "");
	/* matched on the URL-encoded key, as AWS does */
	CHECK_STR_EQ(match(r, COMMIT_PUT, "t/dt=1/x.csv", &h), "eq=part");
	CHECK_STR_EQ(match(r, COMMIT_PUT, "u/dt=1/x.csv", &h), "");
	CHECK_STR_EQ(match(r, COMMIT_COPY, "red flower.jpg", &h), "sp=space");
	CHECK_STR_EQ(match(r, COMMIT_PUT, "red flower.jpg", &h), "");
	CHECK_STR_EQ(match(r, COMMIT_DELETE, "images/a.jpg", &h), "del=gone");
	/* a key shorter than prefix+suffix where they share bytes: no match */
	rules_free(r);

	r = load("{\"StateMachineConfigurations\":[{\"Id\":\"s\",\"StateMachine\":\"m\","
		 "\"Events\":[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		 "{\"Name\":\"prefix\",\"Value\":\"ab\"},{\"Name\":\"suffix\",\"Value\":\"bc\"}]}}}]}",
		 NULL, &err);
	CHECK_STR_EQ(match(r, COMMIT_PUT, "abc", &h), "s=m");
	CHECK_STR_EQ(match(r, COMMIT_PUT, "ab", &h), "");
	rules_free(r);

	/* a filter value S3 would never match gets a warning naming the fix */
	r = load("{\"StateMachineConfigurations\":[{\"Id\":\"s\",\"StateMachine\":\"m\","
		 "\"Events\":[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		 "{\"Name\":\"prefix\",\"Value\":\"logs/schemaVersion=1/\"}]}}}]}",
		 NULL, &err);
	memset(&h, 0, sizeof(h));
	rules_lint(r, on_lint, &h);
	CHECK_INT_EQ(h.n, 1);
	CHECK(strstr(h.ids, "/Filter/Key/FilterRules/0/Value: ") != NULL);
	CHECK(strstr(h.ids, "write 'logs/schemaVersion%3D1/'") != NULL);
	rules_free(r);
}

static int pat(const char *pattern, const char *event)
{
	struct rules_err err;
	json_t *p = json_loads(pattern, 0, NULL), *e = json_loads(event, 0, NULL);
	int m = -1;

	if (p && e && rules_pattern_check(p, "", &err) == 0)
		m = rules_pattern_match(p, e);
	else if (p && e)
		fprintf(stderr, "  pattern rejected: %s: %s\n", err.pointer, err.msg);
	json_decref(p);
	json_decref(e);
	return m;
}

static int pat_bad(const char *pattern, const char *want_ptr)
{
	struct rules_err err;
	json_t *p = json_loads(pattern, 0, NULL);
	int bad = p && rules_pattern_check(p, "/P", &err) < 0 && strcmp(err.pointer, want_ptr) == 0;

	if (!bad && p)
		fprintf(stderr, "  pattern %s: got '%s'\n", pattern, err.pointer);
	json_decref(p);
	return bad;
}

static void test_patterns(void)
{
	const char *ev = "{\"source\":\"aws.s3\",\"detail-type\":\"Object Created\",\"detail\":"
			 "{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"in/a+b.CSV\","
			 "\"size\":300,\"etag\":\"e\"},\"source-ip-address\":\"10.0.0.7\","
			 "\"tags\":[\"x\",\"y\"],\"n\":null}}";

	CHECK_INT_EQ(pat("{\"source\":[\"aws.s3\"],\"detail\":{\"bucket\":{\"name\":[\"b\"]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"source\":[\"aws.S3\"]}", ev), 0);
	CHECK_INT_EQ(pat("{\"source\":[\"x\",\"aws.s3\"]}", ev), 1);
	CHECK_INT_EQ(pat("{\"missing\":[\"x\"]}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"prefix\":\"in/\"}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"prefix\":{\"equals-ignore-case\":\"IN/\"}}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"suffix\":\".csv\"}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"suffix\":{\"equals-ignore-case\":\".csv\"}}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail-type\":[{\"equals-ignore-case\":\"object created\"}]}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"wildcard\":\"in/*.CSV\"}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"wildcard\":\"*/a*b*\"}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"wildcard\":\"out/*\"}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"anything-but\":\"x\"}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"anything-but\":[\"in/a+b.CSV\"]}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"anything-but\":{\"prefix\":\"in/\"}}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"anything-but\":{\"suffix\":\".txt\"}}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"anything-but\":{\"equals-ignore-case\":[\"IN/A+B.csv\"]}}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"key\":[{\"anything-but\":{\"wildcard\":\"*.CSV\"}}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"size\":[{\"numeric\":[\">\",0,\"<=\",300]}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"size\":[{\"numeric\":[\">\",300]}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"size\":[300]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"size\":[300.0]}}}", ev), 0); /* AWS: 300 != 300.0 */
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"size\":[{\"anything-but\":[1,2]}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"version-id\":[{\"exists\":false}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"etag\":[{\"exists\":true}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":{\"etag\":[{\"exists\":false}]}}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"object\":[{\"exists\":true}]}}", ev), 0); /* leaves only */
	CHECK_INT_EQ(pat("{\"detail\":{\"nope\":{\"x\":[{\"exists\":false}]}}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"n\":[null]}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"tags\":[\"y\"]}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"tags\":[\"z\"]}}", ev), 0);
	CHECK_INT_EQ(pat("{\"detail\":{\"source-ip-address\":[{\"cidr\":\"10.0.0.0/24\"}]}}", ev), 1);
	CHECK_INT_EQ(pat("{\"detail\":{\"source-ip-address\":[{\"cidr\":\"10.0.1.0/24\"}]}}", ev), 0);
	CHECK_INT_EQ(pat("{\"source\":[\"aws.s3\"],\"$or\":[{\"detail\":{\"object\":{\"size\":[{\"numeric\":[\">\",1000]}]}}},"
			 "{\"detail\":{\"object\":{\"key\":[{\"prefix\":\"in/\"}]}}}]}", ev), 1);
	CHECK_INT_EQ(pat("{\"$or\":[{\"source\":[\"a\"]},{\"source\":[\"b\"]}]}", ev), 0);

	CHECK(pat_bad("{\"source\":\"aws.s3\"}", "/P/source"));
	CHECK(pat_bad("{\"a\":[{\"prefix\":1}]}", "/P/a/0/prefix"));
	CHECK(pat_bad("{\"a\":[{\"wildcard\":\"a**b\"}]}", "/P/a/0/wildcard"));
	CHECK(pat_bad("{\"a\":[{\"numeric\":[\"!\",1]}]}", "/P/a/0/numeric"));
	CHECK(pat_bad("{\"a\":[{\"numeric\":[\">\",1e10]}]}", "/P/a/0/numeric"));
	CHECK(pat_bad("{\"a\":{\"b\":[{\"regex\":\"x\"}]}}", "/P/a/b/0/regex"));
	CHECK(pat_bad("{\"a\":[{\"exists\":\"yes\"}]}", "/P/a/0/exists"));
	CHECK(pat_bad("{\"$or\":[{\"a\":[1]}]}", "/P/$or"));
	CHECK(pat_bad("{\"a\":[{\"prefix\":\"x\",\"suffix\":\"y\"}]}", "/P/a/0"));
	CHECK(pat_bad("{\"a/b\":[[1]]}", "/P/a~1b/0"));
}

static void test_eventbridge_rules(void)
{
	struct rules_err err;
	struct hits h;
	struct rules *r;

	memset(&err, 0, sizeof(err));
	r = load("{\"StateMachineConfigurations\":[{\"Id\":\"csv\",\"StateMachine\":\"ingest\","
		 "\"Events\":[\"s3:ObjectCreated:*\"],\"Filter\":{\"Key\":{\"FilterRules\":["
		 "{\"Name\":\"suffix\",\"Value\":\".csv\"}]}}}],\"EventBridgeConfiguration\":{}}",
		 "[{\"Name\":\"all-in\",\"EventPattern\":{\"source\":[\"aws.s3\"],\"detail-type\":"
		 "[\"Object Created\"],\"detail\":{\"object\":{\"key\":[{\"prefix\":\"in/\"}]}}},"
		 "\"Targets\":[{\"Id\":\"audit\",\"StateMachine\":\"audit\"},{\"Id\":\"idx\","
		 "\"StateMachine\":\"index\"}]},"
		 "{\"Name\":\"big\",\"EventPattern\":\"{\\\"detail\\\":{\\\"object\\\":{\\\"size\\\":"
		 "[{\\\"numeric\\\":[\\\">=\\\",1000]}]}}}\",\"Targets\":[{\"StateMachine\":\"big\"}]},"
		 "{\"Name\":\"off\",\"State\":\"DISABLED\",\"EventPattern\":{\"source\":[\"aws.s3\"]},"
		 "\"Targets\":[{\"StateMachine\":\"x\"}]}]",
		 &err);
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "  %s: %s\n", err.pointer, err.msg);
		return;
	}
	CHECK_INT_EQ(rules_target_count(r), 5);
	CHECK_INT_EQ(rules_target_at(r, 1)->format, EVENT_FORMAT_EVENTBRIDGE);
	/* fan-out: the S3 rule and both EventBridge targets */
	CHECK_STR_EQ(match(r, COMMIT_PUT, "in/a.csv", &h),
		     "csv=ingest,all-in/audit=audit,all-in/idx=index");
	CHECK_STR_EQ(match(r, COMMIT_DELETE, "in/a.csv", &h), "");
	CHECK_STR_EQ(match(r, COMMIT_PUT, "out/a.txt", &h), "");
	rules_free(r);

	/* EventBridge rules without EventBridgeConfiguration would never fire on AWS */
	r = load("{\"StateMachineConfigurations\":[]}",
		 "[{\"Name\":\"r\",\"EventPattern\":{},\"Targets\":[{\"StateMachine\":\"x\"}]}]", &err);
	CHECK(r == NULL);
	CHECK_STR_EQ(err.pointer, "/EventBridgeRules");
	r = load("{\"EventBridgeConfiguration\":{}}",
		 "[{\"Name\":\"r\",\"EventPattern\":\"{nope\",\"Targets\":[{\"StateMachine\":\"x\"}]}]",
		 &err);
	CHECK(r == NULL);
	CHECK_STR_EQ(err.pointer, "/EventBridgeRules/0/EventPattern");
	r = load("{\"EventBridgeConfiguration\":{}}",
		 "[{\"Name\":\"r\",\"EventPattern\":{\"a\":[1]},\"Targets\":[{\"Id\":\"t\"}]}]", &err);
	CHECK(r == NULL);
	CHECK_STR_EQ(err.pointer, "/EventBridgeRules/0/Targets/0");
}

int main(void)
{
	test_primitives();
	test_s3_validation();
	test_s3_matching();
	test_patterns();
	test_eventbridge_rules();
	return TEST_DONE();
}
