/*
 * Unit tests for engine/event.c: AWS's key encoding (the documented examples),
 * sequencer order, and the S3 / EventBridge shapes byte for byte. The
 * expected documents were written from AWS's examples, with the derived ids
 * (request id, x-amz-id-2, EventBridge id) computed independently with
 * Python's hashlib from the rule in engine/event.h.
 */
#include "engine/event.h"

#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "tests/harness.h"

static void check_enc(const char *raw, const char *want)
{
	struct buf b = BUF_INIT, d = BUF_INIT;

	CHECK_INT_EQ(event_key_encode(raw, &b), 0);
	CHECK_STR_EQ(b.data, want);
	CHECK_INT_EQ(event_key_decode(b.data, &d), 0);
	CHECK_STR_EQ(d.data, raw);
	buf_release(&b);
	buf_release(&d);
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return s;
}

static void test_encoding(void)
{
	struct buf b = BUF_INIT;

	/* AWS's documented and observed examples (reference/events.md §1.4) */
	check_enc("red flower.jpg", "red+flower.jpg");
	check_enc("this im + age blah.txt", "this+im+%2B+age+blah.txt");
	check_enc("something/dt=2018-05-04/_SUCCESS", "something/dt%3D2018-05-04/_SUCCESS");
	check_enc("test/10:47:07.20151213-1450022300.log.bz2",
		  "test/10%3A47%3A07.20151213-1450022300.log.bz2");
	check_enc("HappyFace.jpg", "HappyFace.jpg");
	check_enc("a~b_c-d.e", "a~b_c-d.e");
	check_enc("100%", "100%25");
	check_enc("caf\xc3\xa9.txt", "caf%C3%A9.txt");
	check_enc("line\nbreak;$(rm -rf)", "line%0Abreak%3B%24%28rm+-rf%29");
	check_enc("(1) copy*.txt", "%281%29+copy%2A.txt");
	CHECK_INT_EQ(event_key_decode("bad%4", &b), -22);
	buf_release(&b);
	CHECK_INT_EQ(event_key_decode("bad%zz", &b), -22);
	buf_release(&b);
}

static void test_sequencer(void)
{
	char s[EVENT_SEQ_LEN + 1];

	event_sequencer_format(0x55AED6DCD90281E5ULL, s);
	CHECK_STR_EQ(s, "55AED6DCD90281E5");
	event_sequencer_format(1, s);
	CHECK_STR_EQ(s, "0000000000000001");
	/* AWS: right-pad the shorter with zeros, then compare */
	CHECK(event_sequencer_cmp("0055AED6DCD90281E5", "0055AED6DCD90281E5") == 0);
	CHECK(event_sequencer_cmp("0055AED6DCD9028", "0055AED6DCD90281E5") < 0);
	CHECK(event_sequencer_cmp("0055AED6DCD903", "0055AED6DCD90281E5") > 0);
	CHECK(event_sequencer_cmp("0055AED6DCD9", "0055AED6DCD90000") == 0);
	CHECK(event_sequencer_cmp("00ff", "00FF") == 0);
	CHECK(event_sequencer_cmp("0000000000000009", "000000000000000A") < 0);
}

static struct event *mk(enum commit_kind kind, const char *key, int64_t secs)
{
	struct commit_event ce;

	memset(&ce, 0, sizeof(ce));
	ce.kind = kind;
	ce.bucket = "mybucket";
	ce.key = key;
	ce.size = kind == COMMIT_DELETE ? 0 : 1024;
	ce.etag = "d41d8cd98f00b204e9800998ecf8427e";
	ce.time.tv_sec = secs;
	ce.local_path = "/mnt/b/images/red flower.jpg";
	return event_from_commit(&ce, "0055AED6DCD90281");
}

static void test_s3_shape(void)
{
	struct event_shape sh = EVENT_SHAPE_INIT;
	struct event *ev = mk(COMMIT_PUT, "images/red flower.jpg", 0);
	char *s;

	sh.region = "us-west-2";
	sh.account = "111122223333";
	sh.configuration_id = "testConfigRule";
	sh.local_path = 0;
	s = dump(event_input(ev, &sh));
	CHECK_STR_EQ(s,
		     "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
		     "\"awsRegion\":\"us-west-2\",\"eventTime\":\"1970-01-01T00:00:00.000Z\","
		     "\"eventName\":\"ObjectCreated:Put\",\"userIdentity\":{\"principalId\":"
		     "\"111122223333\"},\"requestParameters\":{\"sourceIPAddress\":\"127.0.0.1\"},"
		     "\"responseElements\":{\"x-amz-request-id\":\"08F03598DBA2FD2F\","
		     "\"x-amz-id-2\":\"j2855Aqk1k6tPwosmvAbfHEIyn0dTbzfpp/SHQM2Z9M=\"},"
		     "\"s3\":{\"s3SchemaVersion\":\"1.0\",\"configurationId\":\"testConfigRule\","
		     "\"bucket\":{\"name\":\"mybucket\",\"ownerIdentity\":{\"principalId\":"
		     "\"111122223333\"},\"arn\":\"arn:aws:s3:::mybucket\"},\"object\":{\"key\":"
		     "\"images/red+flower.jpg\",\"size\":1024,\"eTag\":"
		     "\"d41d8cd98f00b204e9800998ecf8427e\",\"sequencer\":\"0055AED6DCD90281\"}}}]}");
	free(s);

	/* the local path is one extra member at the end of the record */
	sh.local_path = 1;
	s = dump(event_input(ev, &sh));
	CHECK(s && strstr(s, "\"sequencer\":\"0055AED6DCD90281\"}},\"stepfs\":{\"localPath\":"
			     "\"/mnt/b/images/red flower.jpg\"}}]}") != NULL);
	free(s);
	event_free(ev);

	/* deletes carry neither size nor eTag (as AWS's ObjectRemoved records) */
	ev = mk(COMMIT_DELETE, "x=1/a b", 0);
	sh.local_path = 0;
	s = dump(event_input(ev, &sh));
	CHECK(s && strstr(s, "\"eventName\":\"ObjectRemoved:Delete\"") != NULL);
	CHECK(s && strstr(s, "\"object\":{\"key\":\"x%3D1/a+b\",\"sequencer\":"
			     "\"0055AED6DCD90281\"}") != NULL);
	free(s);
	event_free(ev);
}

static void test_eventbridge_shape(void)
{
	struct event_shape sh = EVENT_SHAPE_INIT;
	struct commit_event ce;
	struct event *ev;
	char *s;

	memset(&ce, 0, sizeof(ce));
	ce.kind = COMMIT_PUT;
	ce.bucket = "mybucket";
	ce.key = "images/red flower.jpg";
	ce.size = 5;
	ce.etag = "b1946ac92492d2347c6235b4d2611184";
	ce.version_id = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e";
	ce.time.tv_sec = 1636675200;
	ce.time.tv_nsec = 123456789;
	ev = event_from_commit(&ce, "0055AED6DCD90281");
	sh.format = EVENT_FORMAT_EVENTBRIDGE;
	sh.region = "ca-central-1";
	sh.account = "111122223333";
	s = dump(event_input(ev, &sh));
	CHECK_STR_EQ(s,
		     "{\"version\":\"0\",\"id\":\"835ed8eb-ed52-41c6-8681-f879c0e425a7\","
		     "\"detail-type\":\"Object Created\",\"source\":\"aws.s3\",\"account\":"
		     "\"111122223333\",\"time\":\"2021-11-12T00:00:00Z\",\"region\":"
		     "\"ca-central-1\",\"resources\":[\"arn:aws:s3:::mybucket\"],\"detail\":{"
		     "\"version\":\"0\",\"bucket\":{\"name\":\"mybucket\"},\"object\":{\"key\":"
		     "\"images/red+flower.jpg\",\"size\":5,\"etag\":"
		     "\"b1946ac92492d2347c6235b4d2611184\",\"version-id\":"
		     "\"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e\",\"sequencer\":\"0055AED6DCD90281\"},"
		     "\"request-id\":\"08F03598DBA2FD2F\",\"requester\":\"111122223333\","
		     "\"source-ip-address\":\"127.0.0.1\",\"reason\":\"PutObject\"}}");
	free(s);
	/* S3 shape of the same event keeps milliseconds and versionId */
	sh.format = EVENT_FORMAT_S3;
	s = dump(event_input(ev, &sh));
	CHECK(s && strstr(s, "\"eventTime\":\"2021-11-12T00:00:00.123Z\"") != NULL);
	CHECK(s && strstr(s, "\"versionId\":\"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e\"") != NULL);
	free(s);
	event_free(ev);

	ev = mk(COMMIT_DELETE, "gone.txt", 0);
	sh.format = EVENT_FORMAT_EVENTBRIDGE;
	sh.local_path = 1;
	s = dump(event_input(ev, &sh));
	CHECK(s && strstr(s, "\"detail-type\":\"Object Deleted\"") != NULL);
	CHECK(s && strstr(s, "\"reason\":\"DeleteObject\",\"deletion-type\":"
			     "\"Permanently Deleted\",\"stepfs\":{\"localPath\":") != NULL);
	free(s);
	event_free(ev);

	ev = mk(COMMIT_COPY, "renamed.txt", 0);
	s = dump(event_input(ev, &sh));
	CHECK(s && strstr(s, "\"reason\":\"CopyObject\"") != NULL);
	free(s);
	event_free(ev);
	ev = mk(COMMIT_MULTIPART, "big.bin", 0);
	sh.format = EVENT_FORMAT_S3;
	s = dump(event_input(ev, &sh));
	CHECK(s && strstr(s, "\"eventName\":\"ObjectCreated:CompleteMultipartUpload\"") != NULL);
	free(s);
	event_free(ev);
}

static void test_roundtrip(void)
{
	struct event *ev = mk(COMMIT_COPY, "dir/with space+plus", 1700000000), *back;
	struct event_shape sh = EVENT_SHAPE_INIT;
	char err[128] = "", *a, *b;
	json_t *j;

	ev->cause_arn = strdup("arn:aws:states:us-east-1:000000000000:execution:sm:n");
	ev->chain_depth = 2;
	ev->src_key = strdup("old name");
	j = event_to_json(ev);
	back = event_from_json(j, err, sizeof(err));
	CHECK(back != NULL);
	if (back) {
		CHECK_STR_EQ(back->key, ev->key);
		CHECK_STR_EQ(back->sequencer, ev->sequencer);
		CHECK_STR_EQ(back->cause_arn, ev->cause_arn);
		CHECK_STR_EQ(back->src_key, "old name");
		CHECK_INT_EQ(back->chain_depth, 2);
		CHECK_INT_EQ(back->time_ms, ev->time_ms);
		CHECK_INT_EQ(back->kind, COMMIT_COPY);
		/* a replayed event gives byte-identical input */
		a = dump(event_input(ev, &sh));
		b = dump(event_input(back, &sh));
		CHECK_STR_EQ(a, b);
		free(a);
		free(b);
	}
	json_decref(j);
	event_free(back);
	event_free(ev);

	j = json_pack("{s:s}", "eventName", "ObjectCreated:Nope");
	CHECK(event_from_json(j, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "unknown eventName") != NULL);
	json_decref(j);
	j = json_pack("{s:s,s:s,s:s}", "eventName", "ObjectCreated:Put", "bucket", "b", "key", "k");
	CHECK(event_from_json(j, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "sequencer") != NULL);
	json_decref(j);
	event_free(NULL);
}

int main(void)
{
	test_encoding();
	test_sequencer();
	test_s3_shape();
	test_eventbridge_shape();
	test_roundtrip();
	return TEST_DONE();
}
