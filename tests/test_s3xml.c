/*
 * Unit tests for fs/s3xml.c: parsing of S3 response documents as AWS and
 * Ceph RGW send them (ListObjectsV2 with url encoding, errors, multipart,
 * DeleteObjects, CopyObject, ListMultipartUploads), the request bodies we
 * build, and the error-code mapping.
 */
#include "fs/s3_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "tests/harness.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static void test_error(void)
{
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
			  "<Message>The specified key does not exist.</Message><Key>a</Key></Error>";
	char code[64] = "x", msg[128] = "y";

	CHECK_INT_EQ(s3xml_parse_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)), 1);
	CHECK_STR_EQ(code, "NoSuchKey");
	CHECK_STR_EQ(msg, "The specified key does not exist.");
	strcpy(code, "keep");
	CHECK_INT_EQ(s3xml_parse_error("<a/>", 4, code, sizeof(code), msg, sizeof(msg)), 0);
	CHECK_STR_EQ(code, "keep");
	CHECK_INT_EQ(s3xml_parse_error("not xml", 7, code, sizeof(code), msg, sizeof(msg)), 0);
	CHECK_INT_EQ(s3xml_parse_error("", 0, code, sizeof(code), msg, sizeof(msg)), 0);
	/* truncated copy into a small buffer */
	CHECK_INT_EQ(s3xml_parse_error(doc, strlen(doc), code, 4, msg, sizeof(msg)), 1);
	CHECK_STR_EQ(code, "NoS");
}

static void test_map(void)
{
	CHECK_INT_EQ(s3_map_error("NoSuchKey", 404), STORE_ENOTFOUND);
	CHECK_INT_EQ(s3_map_error("NoSuchBucket", 404), STORE_ENOBUCKET);
	CHECK_INT_EQ(s3_map_error("SignatureDoesNotMatch", 403), STORE_ESIGNATURE);
	CHECK_INT_EQ(s3_map_error("InvalidAccessKeyId", 403), STORE_ESIGNATURE);
	CHECK_INT_EQ(s3_map_error("AccessDenied", 403), STORE_EDENIED);
	CHECK_INT_EQ(s3_map_error("RequestTimeTooSkewed", 403), STORE_ECLOCKSKEW);
	CHECK_INT_EQ(s3_map_error("PreconditionFailed", 412), STORE_EPRECONDITION);
	CHECK_INT_EQ(s3_map_error("SlowDown", 503), STORE_ESERVER);
	CHECK_INT_EQ(s3_map_error("EntityTooLarge", 400), STORE_ETOOLARGE);
	CHECK_INT_EQ(s3_map_error("NotImplemented", 501), STORE_ENOTSUP);
	CHECK_INT_EQ(s3_map_error("", 404), STORE_ENOTFOUND);
	CHECK_INT_EQ(s3_map_error("", 403), STORE_EDENIED);
	CHECK_INT_EQ(s3_map_error("", 500), STORE_ESERVER);
	CHECK_INT_EQ(s3_map_error(NULL, 429), STORE_ESERVER);
	CHECK_INT_EQ(s3_map_error("WeirdNewCode", 418), STORE_EPROTO);
	CHECK_INT_EQ(s3_error_retryable("SlowDown", 503), 1);
	CHECK_INT_EQ(s3_error_retryable("RequestTimeout", 400), 1);
	CHECK_INT_EQ(s3_error_retryable("ThrottlingException", 400), 1);
	CHECK_INT_EQ(s3_error_retryable("", 502), 1);
	CHECK_INT_EQ(s3_error_retryable("", 429), 1);
	CHECK_INT_EQ(s3_error_retryable("AccessDenied", 403), 0);
	CHECK_INT_EQ(s3_error_retryable("NoSuchKey", 404), 0);
	CHECK_INT_EQ(s3_error_retryable("SignatureDoesNotMatch", 403), 0);
	CHECK_INT_EQ(s3_error_retryable("NotImplemented", 501), 0);
	CHECK_INT_EQ(s3_error_retryable("", 501), 0);
	CHECK_INT_EQ(s3_error_retryable("InternalError", 500), 1);
	/* a body corrupted on the way: its own error, sent again */
	CHECK_INT_EQ(s3_map_error("BadDigest", 400), STORE_EDIGEST);
	CHECK_INT_EQ(s3_map_error("XAmzContentSHA256Mismatch", 400), STORE_EDIGEST);
	CHECK_INT_EQ(s3_error_retryable("BadDigest", 400), 1);
	CHECK_INT_EQ(s3_error_retryable("XAmzContentSHA256Mismatch", 400), 1);
	CHECK_INT_EQ(s3_error_retryable("InvalidDigest", 400), 0);
	CHECK_INT_EQ(s3_error_retryable("MalformedXML", 400), 1);
	CHECK_INT_EQ(store_err_to_errno(STORE_EDIGEST), EIO);
}

static void test_list(void)
{
	/* AWS style: encoding-type=url with '+' for spaces, a prefix to strip */
	const char *doc =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult " NS ">"
		"<Name>b</Name><Prefix>pre%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys>"
		"<Delimiter>%2F</Delimiter><EncodingType>url</EncodingType>"
		"<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>pre%2Fa+b%2Bc%25d%0A%C3%A9</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
		"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>pre%2Fz</Key><ETag>\"abc-2\"</ETag><Size>0</Size></Contents>"
		"<CommonPrefixes><Prefix>pre%2Fdir%20x%2F</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	struct store_list l;
	struct store_error e;

	memset(&l, 0, sizeof(l));
	CHECK_INT_EQ(s3xml_parse_list(doc, strlen(doc), 4, &l, &e), STORE_OK);
	CHECK_INT_EQ(l.n, 2);
	if (l.n == 2) {
		CHECK_STR_EQ(l.entries[0].key, "a b+c%d\n\xc3\xa9");
		CHECK_STR_EQ(l.entries[0].obj.etag, "fba9dede5f27731c9771645a39863328");
		CHECK_INT_EQ(l.entries[0].obj.size, 434234);
		CHECK_INT_EQ(l.entries[0].obj.last_modified.tv_sec, 1255369830);
		CHECK_STR_EQ(l.entries[1].key, "z");
		CHECK_STR_EQ(l.entries[1].obj.etag, "abc-2");
	}
	CHECK_INT_EQ(l.nprefixes, 1);
	if (l.nprefixes == 1)
		CHECK_STR_EQ(l.prefixes[0], "dir x/");
	CHECK_STR_EQ(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	store_list_release(&l);
	CHECK(l.entries == NULL && l.n == 0);

	/* no EncodingType: keys are raw, '+' and '%' stay; last page */
	doc = "<ListBucketResult><IsTruncated>false</IsTruncated>"
	      "<Contents><Key>a+b%41</Key><Size>1</Size><ETag>\"e\"</ETag></Contents></ListBucketResult>";
	memset(&l, 0, sizeof(l));
	CHECK_INT_EQ(s3xml_parse_list(doc, strlen(doc), 0, &l, &e), STORE_OK);
	CHECK_INT_EQ(l.n, 1);
	if (l.n == 1)
		CHECK_STR_EQ(l.entries[0].key, "a+b%41");
	CHECK(l.next_token == NULL);
	store_list_release(&l);

	/* truncated without a token, wrong root, garbage */
	doc = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
	CHECK_INT_EQ(s3xml_parse_list(doc, strlen(doc), 0, &l, &e), STORE_EPROTO);
	doc = "<Error><Code>NoSuchBucket</Code></Error>";
	CHECK_INT_EQ(s3xml_parse_list(doc, strlen(doc), 0, &l, &e), STORE_EPROTO);
	CHECK_INT_EQ(s3xml_parse_list("<<<", 3, 0, &l, &e), STORE_EPROTO);
	/* an external entity is not fetched nor expanded */
	doc = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
	      "<ListBucketResult><Contents><Key>&e;</Key></Contents></ListBucketResult>";
	memset(&l, 0, sizeof(l));
	if (s3xml_parse_list(doc, strlen(doc), 0, &l, &e) == STORE_OK && l.n == 1)
		CHECK(strstr(l.entries[0].key, "root:") == NULL);
	store_list_release(&l);
}

static void test_multipart(void)
{
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult " NS
			  "><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc</UploadId></InitiateMultipartUploadResult>";
	struct store_error e;
	struct store_obj o;
	char *id = NULL;

	CHECK_INT_EQ(s3xml_parse_initiate(doc, strlen(doc), &id, &e), STORE_OK);
	CHECK_STR_EQ(id, "2~abc");
	free(id);
	doc = "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>";
	CHECK_INT_EQ(s3xml_parse_initiate(doc, strlen(doc), &id, &e), STORE_EPROTO);

	doc = "<CompleteMultipartUploadResult " NS "><Location>x</Location><Bucket>b</Bucket><Key>k</Key>"
	      "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(s3xml_parse_etag_result(doc, strlen(doc), &o, &e), STORE_OK);
	CHECK_STR_EQ(o.etag, "3858f62230ac3c915f300c664312c11f-9");
	/* an error inside a 200 response */
	doc = "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>";
	memset(&e, 0, sizeof(e));
	CHECK_INT_EQ(s3xml_parse_etag_result(doc, strlen(doc), &o, &e), STORE_ESERVER);
	CHECK_STR_EQ(e.s3_code, "InternalError");
	doc = "<CopyObjectResult><LastModified>2009-10-28T22:32:00.5Z</LastModified>"
	      "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>";
	memset(&o, 0, sizeof(o));
	CHECK_INT_EQ(s3xml_parse_etag_result(doc, strlen(doc), &o, &e), STORE_OK);
	CHECK_STR_EQ(o.etag, "9b2cf535f27731c974343645a3985328");
	CHECK_INT_EQ(o.last_modified.tv_sec, 1256769120);
	CHECK_INT_EQ(o.last_modified.tv_nsec, 500000000);

	{
		const char *up =
			"<ListMultipartUploadsResult " NS "><Bucket>b</Bucket><EncodingType>url</EncodingType>"
			"<NextKeyMarker>p%2Fk%202</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>"
			"<IsTruncated>true</IsTruncated>"
			"<Upload><Key>p%2Fk%201</Key><UploadId>id1</UploadId><Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>"
			"<Upload><Key>p%2Fk%202</Key><UploadId>id2</UploadId></Upload>"
			"</ListMultipartUploadsResult>";
		struct store_upload *arr = NULL;
		size_t n = 0, i;
		int trunc = 0;
		char *nk = NULL, *nu = NULL;

		CHECK_INT_EQ(s3xml_parse_uploads(up, strlen(up), 2, &arr, &n, &trunc, &nk, &nu, &e),
			     STORE_OK);
		CHECK_INT_EQ(n, 2);
		CHECK_INT_EQ(trunc, 1);
		CHECK_STR_EQ(nk, "p/k 2");
		CHECK_STR_EQ(nu, "id2");
		if (n == 2) {
			CHECK_STR_EQ(arr[0].key, "k 1");
			CHECK_STR_EQ(arr[0].upload_id, "id1");
			CHECK_INT_EQ(arr[0].initiated.tv_sec, 1289422113);
		}
		for (i = 0; i < n; i++) {
			free(arr[i].key);
			free(arr[i].upload_id);
		}
		free(arr);
		free(nk);
		free(nu);
	}
}

static void test_delete(void)
{
	const char *ok = "<DeleteResult " NS "></DeleteResult>";
	const char *bad = "<DeleteResult><Deleted><Key>p/a</Key></Deleted>"
			  "<Error><Key>p/b&amp;c</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
			  "<Error><Key>p/d</Key><Code>InternalError</Code><Message>x</Message></Error></DeleteResult>";
	struct store_error e;
	size_t nf = 99;

	CHECK_INT_EQ(s3xml_parse_delete(ok, strlen(ok), 2, &nf, &e), STORE_OK);
	CHECK_INT_EQ(nf, 0);
	memset(&e, 0, sizeof(e));
	CHECK_INT_EQ(s3xml_parse_delete(bad, strlen(bad), 2, &nf, &e), STORE_EDENIED);
	CHECK_INT_EQ(nf, 2);
	CHECK(strstr(e.message, "'b&c'") != NULL);
	CHECK_STR_EQ(e.s3_code, "AccessDenied");
}

static void test_build(void)
{
	struct buf b = BUF_INIT;
	struct store_part parts[2] = { { 1, "aa", 5 }, { 2, "b<b", 1 } };
	const char *keys[] = { "x&y", "new\nline" };

	CHECK_INT_EQ(s3xml_build_complete(&b, parts, 2), 0);
	CHECK(strstr(b.data, "<Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag></Part>") != NULL);
	CHECK(strstr(b.data, "<ETag>\"b&lt;b\"</ETag>") != NULL);
	buf_release(&b);
	buf_init(&b, 1 << 20);
	CHECK_INT_EQ(s3xml_build_delete(&b, "pre/", keys, 2), 0);
	CHECK(strstr(b.data, "<Quiet>true</Quiet>") != NULL);
	CHECK(strstr(b.data, "<Key>pre/x&amp;y</Key>") != NULL);
	CHECK(strstr(b.data, "<Key>pre/new&#xA;line</Key>") != NULL);
	/* and it parses back to the same keys */
	{
		xmlDocPtr d = xmlReadMemory(b.data, (int)b.len, "t.xml", NULL, XML_PARSE_NONET);

		CHECK(d != NULL);
		if (d) {
			xmlNodePtr root = xmlDocGetRootElement(d), obj;
			int n = 0;

			for (obj = root->children; obj; obj = obj->next) {
				xmlChar *t;

				if (strcmp((const char *)obj->name, "Object") != 0)
					continue;
				t = xmlNodeGetContent(obj->children);
				CHECK_STR_EQ((const char *)t, n == 0 ? "pre/x&y" : "pre/new\nline");
				xmlFree(t);
				n++;
			}
			CHECK_INT_EQ(n, 2);
			xmlFreeDoc(d);
		}
	}
	buf_release(&b);
}

static void test_misc(void)
{
	struct timespec ts;
	char *d;

	CHECK_INT_EQ(s3_parse_iso8601("2015-08-30T12:36:00Z", &ts), 0);
	CHECK_INT_EQ(ts.tv_sec, 1440938160);
	CHECK_INT_EQ(s3_parse_iso8601("garbage", &ts), -22);
	d = s3_url_decode("a%2Fb+c%zz%4");
	CHECK_STR_EQ(d, "a/b c%zz%4");
	free(d);
}

int main(void)
{
	xmlInitParser();
	test_error();
	test_map();
	test_list();
	test_multipart();
	test_delete();
	test_build();
	test_misc();
	xmlCleanupParser();
	return TEST_DONE();
}
