/*
 * Event shapes: struct event <-> journal JSON, and struct event -> the S3
 * `Records` message (eventVersion 2.1) or the EventBridge S3 event. Member
 * order follows AWS's documented examples (jansson keeps insertion order), so
 * a dump with JSON_COMPACT is comparable byte for byte with AWS's messages.
 *
 * Invariant: every field that is not part of the commit is a pure function of
 * (bucket, key, sequencer), so the same event always yields the same input.
 */
#include "engine/event.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/buf.h"

static const char *const event_names[] = {
	[COMMIT_PUT] = "ObjectCreated:Put",
	[COMMIT_MULTIPART] = "ObjectCreated:CompleteMultipartUpload",
	[COMMIT_COPY] = "ObjectCreated:Copy",
	[COMMIT_DELETE] = "ObjectRemoved:Delete",
};

static const char *const event_config_names[] = {
	[COMMIT_PUT] = "s3:ObjectCreated:Put",
	[COMMIT_MULTIPART] = "s3:ObjectCreated:CompleteMultipartUpload",
	[COMMIT_COPY] = "s3:ObjectCreated:Copy",
	[COMMIT_DELETE] = "s3:ObjectRemoved:Delete",
};

/* The API whose success raised the event: EventBridge's detail.reason. */
static const char *const event_reasons[] = {
	[COMMIT_PUT] = "PutObject",
	[COMMIT_MULTIPART] = "CompleteMultipartUpload",
	[COMMIT_COPY] = "CopyObject",
	[COMMIT_DELETE] = "DeleteObject",
};

static int event_kind_valid(int kind)
{
	return kind >= COMMIT_PUT && kind <= COMMIT_DELETE;
}

const char *event_name(enum commit_kind kind)
{
	return event_kind_valid(kind) ? event_names[kind] : "ObjectCreated:Put";
}

const char *event_config_name(enum commit_kind kind)
{
	return event_kind_valid(kind) ? event_config_names[kind] : "s3:ObjectCreated:Put";
}

int event_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned int cp, n, i;

	while (p && *p) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			cp = *p & 0x07;
		} else {
			return 0;
		}
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

int event_key_encode(const char *key, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	int r = 0;

	for (p = (const unsigned char *)key; *p && r == 0; p++) {
		unsigned char c = *p;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			r = buf_putc(out, (char)c);
		} else if (c == ' ') {
			r = buf_putc(out, '+');
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			r = buf_add(out, e, 3);
		}
	}
	return r;
}

static int event_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int event_key_decode(const char *enc, struct buf *out)
{
	const char *p;
	int r = 0;

	for (p = enc; *p && r == 0; p++) {
		if (*p == '+') {
			r = buf_putc(out, ' ');
		} else if (*p == '%') {
			int hi = event_hexval(p[1]), lo = hi < 0 ? -1 : event_hexval(p[2]);

			if (hi < 0 || lo < 0)
				return -EINVAL;
			r = buf_putc(out, (char)(hi << 4 | lo));
			p += 2;
		} else {
			r = buf_putc(out, *p);
		}
	}
	return r;
}

void event_sequencer_format(uint64_t seq, char out[EVENT_SEQ_LEN + 1])
{
	snprintf(out, EVENT_SEQ_LEN + 1, "%016llX", (unsigned long long)seq);
}

int event_sequencer_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb, i;

	for (i = 0; i < n; i++) {
		int ca = i < la ? event_hexval(a[i]) : 0;
		int cb = i < lb ? event_hexval(b[i]) : 0;

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return 0;
}

void event_hash(const char *const *parts, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	memset(md, 0, sizeof(md));
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		for (i = 0; i < n; i++)
			EVP_DigestUpdate(ctx, parts[i] ? parts[i] : "", strlen(parts[i] ? parts[i] : "") + 1);
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static char *event_strdup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

void event_free(struct event *ev)
{
	if (!ev)
		return;
	free(ev->bucket);
	free(ev->key);
	free(ev->etag);
	free(ev->version_id);
	free(ev->local_path);
	free(ev->src_key);
	free(ev->cause_arn);
	free(ev);
}

struct event *event_from_commit(const struct commit_event *ce, const char *sequencer)
{
	struct event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->kind = event_kind_valid(ce->kind) ? ce->kind : COMMIT_PUT;
	ev->bucket = strdup(ce->bucket ? ce->bucket : "");
	ev->key = strdup(ce->key ? ce->key : "");
	ev->size = ce->kind == COMMIT_DELETE ? 0 : ce->size;
	ev->etag = ce->kind == COMMIT_DELETE ? NULL : event_strdup0(ce->etag ? ce->etag : "");
	ev->version_id = event_strdup0(ce->version_id);
	ev->time_ms = (int64_t)ce->time.tv_sec * 1000 + ce->time.tv_nsec / 1000000;
	snprintf(ev->sequencer, sizeof(ev->sequencer), "%s", sequencer ? sequencer : "");
	ev->local_path = event_strdup0(ce->local_path);
	ev->src_key = event_strdup0(ce->src_key);
	if (!ev->bucket || !ev->key || (ce->kind != COMMIT_DELETE && !ev->etag) ||
	    (ce->version_id && !ev->version_id) || (ce->local_path && !ev->local_path) ||
	    (ce->src_key && !ev->src_key)) {
		event_free(ev);
		return NULL;
	}
	return ev;
}

/* json_object_set_new() that also fails on a NULL value (out of memory). */
static int event_set(json_t *o, const char *k, json_t *v)
{
	if (!v)
		return -1;
	return json_object_set_new(o, k, v);
}

json_t *event_to_json(const struct event *ev)
{
	json_t *j = json_object();
	int r = 0;

	if (!j)
		return NULL;
	r |= event_set(j, "eventName", json_string(event_name(ev->kind)));
	r |= event_set(j, "bucket", json_string(ev->bucket));
	r |= event_set(j, "key", json_string(ev->key));
	r |= event_set(j, "size", json_integer((json_int_t)ev->size));
	if (ev->etag)
		r |= event_set(j, "etag", json_string(ev->etag));
	if (ev->version_id)
		r |= event_set(j, "versionId", json_string(ev->version_id));
	r |= event_set(j, "timeMs", json_integer(ev->time_ms));
	r |= event_set(j, "sequencer", json_string(ev->sequencer));
	if (ev->local_path)
		r |= event_set(j, "localPath", json_string(ev->local_path));
	if (ev->src_key)
		r |= event_set(j, "srcKey", json_string(ev->src_key));
	if (ev->cause_arn)
		r |= event_set(j, "causeExecutionArn", json_string(ev->cause_arn));
	if (ev->chain_depth)
		r |= event_set(j, "chainDepth", json_integer(ev->chain_depth));
	if (r) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int event_get_str(const json_t *j, const char *k, int required, char **ret, char *err,
			 size_t errlen)
{
	json_t *v = json_object_get(j, k);

	if (!v) {
		if (required) {
			snprintf(err, errlen, "missing member '%s'", k);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "member '%s' is not a string", k);
		return -1;
	}
	*ret = strdup(json_string_value(v));
	if (!*ret) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

struct event *event_from_json(const json_t *j, char *err, size_t errlen)
{
	struct event *ev;
	const char *name, *seq;
	json_t *v;
	int k;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "event is not a JSON object");
		return NULL;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	name = json_string_value(json_object_get(j, "eventName"));
	for (k = COMMIT_PUT; name && k <= COMMIT_DELETE; k++)
		if (strcmp(name, event_names[k]) == 0)
			break;
	if (!name || k > COMMIT_DELETE) {
		snprintf(err, errlen, "unknown eventName '%s'", name ? name : "(missing)");
		goto fail;
	}
	ev->kind = (enum commit_kind)k;
	if (event_get_str(j, "bucket", 1, &ev->bucket, err, errlen) < 0 ||
	    event_get_str(j, "key", 1, &ev->key, err, errlen) < 0 ||
	    event_get_str(j, "etag", 0, &ev->etag, err, errlen) < 0 ||
	    event_get_str(j, "versionId", 0, &ev->version_id, err, errlen) < 0 ||
	    event_get_str(j, "localPath", 0, &ev->local_path, err, errlen) < 0 ||
	    event_get_str(j, "srcKey", 0, &ev->src_key, err, errlen) < 0 ||
	    event_get_str(j, "causeExecutionArn", 0, &ev->cause_arn, err, errlen) < 0)
		goto fail;
	v = json_object_get(j, "size");
	if (v && !json_is_integer(v)) {
		snprintf(err, errlen, "member 'size' is not an integer");
		goto fail;
	}
	ev->size = (uint64_t)json_integer_value(v);
	ev->time_ms = json_integer_value(json_object_get(j, "timeMs"));
	ev->chain_depth = (unsigned)json_integer_value(json_object_get(j, "chainDepth"));
	seq = json_string_value(json_object_get(j, "sequencer"));
	if (!seq || strlen(seq) > EVENT_SEQ_LEN) {
		snprintf(err, errlen, "missing or bad member 'sequencer'");
		goto fail;
	}
	snprintf(ev->sequencer, sizeof(ev->sequencer), "%s", seq);
	if (ev->kind != COMMIT_DELETE && !ev->etag) {
		ev->etag = strdup("");
		if (!ev->etag)
			goto fail;
	}
	return ev;
fail:
	event_free(ev);
	return NULL;
}

/* ISO-8601 UTC; with_ms selects the S3 form (.mmmZ) over EventBridge's (Z). */
static void event_time_str(int64_t ms, int with_ms, char out[80])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	if (with_ms)
		snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	else
		snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A hash of (what, bucket, key, sequencer): the source of every derived id. */
static void event_derived(const struct event *ev, const char *what, char out[65])
{
	const char *parts[] = { what, ev->bucket, ev->key, ev->sequencer };

	event_hash(parts, 4, out);
}

static json_t *event_stepfs_member(const struct event *ev)
{
	return json_pack("{s:s}", "localPath", ev->local_path);
}

static json_t *event_s3_record(const struct event *ev, const struct event_shape *sh,
			       const char *region, const char *account)
{
	struct buf key = BUF_INIT;
	char when[80], h[65], rid[17], id2[64], arn[1100];
	json_t *rec = NULL, *obj = NULL, *s3 = NULL;
	unsigned char raw[32];
	size_t i;
	int r = 0;

	if (event_key_encode(ev->key, &key) < 0)
		goto out;
	event_time_str(ev->time_ms, 1, when);
	event_derived(ev, "x-amz-request-id", h);
	for (i = 0; i < 16; i++)
		rid[i] = (char)(h[i] >= 'a' ? h[i] - 'a' + 'A' : h[i]);
	rid[16] = '\0';
	event_derived(ev, "x-amz-id-2", h);
	for (i = 0; i < 32; i++)
		raw[i] = (unsigned char)(event_hexval(h[2 * i]) << 4 | event_hexval(h[2 * i + 1]));
	EVP_EncodeBlock((unsigned char *)id2, raw, 32);
	snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", ev->bucket);

	obj = json_object();
	if (!obj)
		goto out;
	r |= event_set(obj, "key", json_string(key.data));
	if (ev->kind != COMMIT_DELETE) {
		r |= event_set(obj, "size", json_integer((json_int_t)ev->size));
		r |= event_set(obj, "eTag", json_string(ev->etag ? ev->etag : ""));
	}
	if (ev->version_id)
		r |= event_set(obj, "versionId", json_string(ev->version_id));
	r |= event_set(obj, "sequencer", json_string(ev->sequencer));
	if (r)
		goto out;
	s3 = json_pack("{s:s,s:s,s:{s:s,s:{s:s},s:s},s:O}", "s3SchemaVersion", "1.0",
		       "configurationId", sh->configuration_id ? sh->configuration_id : "",
		       "bucket", "name", ev->bucket, "ownerIdentity", "principalId", account,
		       "arn", arn, "object", obj);
	if (!s3)
		goto out;
	rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s},s:{s:s},s:{s:s,s:s},s:O}",
			"eventVersion", "2.1", "eventSource", "aws:s3", "awsRegion", region,
			"eventTime", when, "eventName", event_name(ev->kind),
			"userIdentity", "principalId", account,
			"requestParameters", "sourceIPAddress", "127.0.0.1",
			"responseElements", "x-amz-request-id", rid, "x-amz-id-2", id2,
			"s3", s3);
	if (rec && sh->local_path && ev->local_path &&
	    event_set(rec, "stepfs", event_stepfs_member(ev)) < 0) {
		json_decref(rec);
		rec = NULL;
	}
out:
	json_decref(obj);
	json_decref(s3);
	buf_release(&key);
	return rec;
}

static json_t *event_eb(const struct event *ev, const char *region, const char *account,
			int local_path)
{
	struct buf key = BUF_INIT;
	char when[80], h[65], uuid[37], rid[17], arn[1100];
	json_t *e = NULL, *obj = NULL, *detail = NULL;
	size_t i;
	int r = 0;

	if (event_key_encode(ev->key, &key) < 0)
		goto out;
	event_time_str(ev->time_ms, 0, when);
	event_derived(ev, "eventbridge-id", h);
	/* a version 4 UUID whose random bits come from the hash */
	snprintf(uuid, sizeof(uuid), "%.8s-%.4s-4%.3s-%c%.3s-%.12s", h, h + 8, h + 12,
		 "89ab"[event_hexval(h[15]) & 3], h + 16, h + 19);
	event_derived(ev, "x-amz-request-id", h);
	for (i = 0; i < 16; i++)
		rid[i] = (char)(h[i] >= 'a' ? h[i] - 'a' + 'A' : h[i]);
	rid[16] = '\0';
	snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", ev->bucket);

	obj = json_object();
	if (!obj)
		goto out;
	r |= event_set(obj, "key", json_string(key.data));
	if (ev->kind != COMMIT_DELETE) {
		r |= event_set(obj, "size", json_integer((json_int_t)ev->size));
		r |= event_set(obj, "etag", json_string(ev->etag ? ev->etag : ""));
	}
	if (ev->version_id)
		r |= event_set(obj, "version-id", json_string(ev->version_id));
	r |= event_set(obj, "sequencer", json_string(ev->sequencer));
	if (r)
		goto out;
	detail = json_pack("{s:s,s:{s:s},s:O,s:s,s:s,s:s,s:s}", "version", "0", "bucket", "name",
			   ev->bucket, "object", obj, "request-id", rid, "requester", account,
			   "source-ip-address", "127.0.0.1", "reason", event_reasons[ev->kind]);
	if (!detail)
		goto out;
	if (ev->kind == COMMIT_DELETE)
		r |= event_set(detail, "deletion-type",
			       json_string(ev->version_id ? "Delete Marker Created"
							  : "Permanently Deleted"));
	if (local_path && ev->local_path)
		r |= event_set(detail, "stepfs", event_stepfs_member(ev));
	if (r)
		goto out;
	e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:O}", "version", "0", "id", uuid,
		      "detail-type", ev->kind == COMMIT_DELETE ? "Object Deleted" : "Object Created",
		      "source", "aws.s3", "account", account, "time", when, "region", region,
		      "resources", arn, "detail", detail);
out:
	json_decref(obj);
	json_decref(detail);
	buf_release(&key);
	return e;
}

json_t *event_eventbridge(const struct event *ev, const char *region, const char *account)
{
	return event_eb(ev, region ? region : "us-east-1", account ? account : "000000000000", 0);
}

json_t *event_input(const struct event *ev, const struct event_shape *sh)
{
	const char *region = sh->region ? sh->region : "us-east-1";
	const char *account = sh->account ? sh->account : "000000000000";
	json_t *rec;

	if (sh->format == EVENT_FORMAT_EVENTBRIDGE)
		return event_eb(ev, region, account, sh->local_path);
	rec = event_s3_record(ev, sh, region, account);
	if (!rec)
		return NULL;
	return json_pack("{s:[o]}", "Records", rec);
}
