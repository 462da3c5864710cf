/*
 * XML for the S3 backend, with libxml2: parsing of ListObjectsV2, errors,
 * multipart, DeleteObjects, CopyObject and ListMultipartUploads responses, and
 * building the CompleteMultipartUpload and Delete request bodies.
 *
 * Elements are matched by local name (S3 documents carry a default namespace
 * that some servers omit). Parsing never loads external entities or DTDs
 * (XML_PARSE_NONET, no NOENT). Every function is thread-safe once
 * xmlInitParser() has run.
 */
#include "fs/s3_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

static xmlDocPtr xml_read(const char *body, size_t len)
{
	if (!body || len == 0 || len > (size_t)0x7fffffff)
		return NULL;
	return xmlReadMemory(body, (int)len, "s3.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				     XML_PARSE_NOBLANKS);
}

static int is_el(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;

	for (n = parent ? parent->children : NULL; n; n = n->next)
		if (is_el(n, name))
			return n;
	return NULL;
}

/* Text of child @name of @parent, a new string (xmlFree'd via free wrapper) or NULL. */
static char *child_text(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = child(parent, name);
	xmlChar *t;
	char *s;

	if (!n)
		return NULL;
	t = xmlNodeGetContent(n);
	if (!t)
		return strdup("");
	s = strdup((const char *)t);
	xmlFree(t);
	return s;
}

static void copy_text(xmlNodePtr parent, const char *name, char *out, size_t outlen)
{
	char *s = child_text(parent, name);

	if (s) {
		snprintf(out, outlen, "%s", s);
		free(s);
	}
}

int s3_parse_iso8601(const char *s, struct timespec *ret)
{
	struct tm tm = { 0 };
	const char *p;
	long ns = 0, scale = 100000000;

	if (!s)
		return -EINVAL;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p != 'Z' && *p != '\0' && *p != '+' && *p != '-')
		return -EINVAL;
	ret->tv_sec = timegm(&tm);
	ret->tv_nsec = ns;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *s3_url_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else if (*s == '+') {
			*o++ = ' ';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

static void strip_etag(const char *in, char *out, size_t outlen)
{
	size_t n;

	if (!in)
		return;
	while (*in == '"' || *in == ' ')
		in++;
	if (strncmp(in, "&quot;", 6) == 0)
		in += 6;
	n = strlen(in);
	while (n && (in[n - 1] == '"' || in[n - 1] == ' '))
		n--;
	snprintf(out, outlen, "%.*s", (int)n, in);
}

static const struct {
	const char *code;
	enum store_err err;
	int retry;
} s3_codes[] = {
	{ "NoSuchKey", STORE_ENOTFOUND, 0 },
	{ "NoSuchBucket", STORE_ENOBUCKET, 0 },
	{ "NoSuchUpload", STORE_ENOTFOUND, 0 },
	{ "NoSuchVersion", STORE_ENOTFOUND, 0 },
	{ "AccessDenied", STORE_EDENIED, 0 },
	{ "AllAccessDisabled", STORE_EDENIED, 0 },
	{ "AccountProblem", STORE_EDENIED, 0 },
	{ "SignatureDoesNotMatch", STORE_ESIGNATURE, 0 },
	{ "InvalidAccessKeyId", STORE_ESIGNATURE, 0 },
	{ "AuthorizationHeaderMalformed", STORE_ESIGNATURE, 0 },
	{ "InvalidToken", STORE_ECREDS, 0 },
	{ "ExpiredToken", STORE_ECREDS, 0 },
	{ "TokenRefreshRequired", STORE_ECREDS, 0 },
	{ "RequestTimeTooSkewed", STORE_ECLOCKSKEW, 0 },
	{ "PreconditionFailed", STORE_EPRECONDITION, 0 },
	{ "ConditionalRequestConflict", STORE_EPRECONDITION, 0 },
	{ "InvalidArgument", STORE_EINVAL, 0 },
	{ "InvalidRequest", STORE_EINVAL, 0 },
	{ "InvalidRange", STORE_EINVAL, 0 },
	{ "InvalidPart", STORE_EINVAL, 0 },
	{ "InvalidPartOrder", STORE_EINVAL, 0 },
	{ "InvalidDigest", STORE_EINVAL, 0 },
	{ "BadDigest", STORE_EDIGEST, 1 },
	{ "XAmzContentSHA256Mismatch", STORE_EDIGEST, 1 },
	/* our request documents are well-formed: this one was damaged on the way
	 * (RGW parses CompleteMultipartUpload before it checks Content-MD5) */
	{ "MalformedXML", STORE_EINVAL, 1 },
	{ "KeyTooLongError", STORE_EINVAL, 0 },
	{ "InvalidBucketName", STORE_EINVAL, 0 },
	{ "EntityTooSmall", STORE_EINVAL, 0 },
	{ "MetadataTooLarge", STORE_ETOOLARGE, 0 },
	{ "EntityTooLarge", STORE_ETOOLARGE, 0 },
	{ "NotImplemented", STORE_ENOTSUP, 0 },
	{ "MethodNotAllowed", STORE_ENOTSUP, 0 },
	{ "SlowDown", STORE_ESERVER, 1 },
	{ "ServiceUnavailable", STORE_ESERVER, 1 },
	{ "InternalError", STORE_ESERVER, 1 },
	{ "RequestTimeout", STORE_ETIMEOUT, 1 },
	{ "Throttling", STORE_ESERVER, 1 },
	{ "ThrottlingException", STORE_ESERVER, 1 },
	{ "ThrottledException", STORE_ESERVER, 1 },
	{ "RequestThrottled", STORE_ESERVER, 1 },
	{ "TooManyRequests", STORE_ESERVER, 1 },
	{ "RequestLimitExceeded", STORE_ESERVER, 1 },
	{ "BandwidthLimitExceeded", STORE_ESERVER, 1 },
	{ "PriorRequestNotComplete", STORE_ESERVER, 1 },
};

enum store_err s3_map_error(const char *code, long http_status)
{
	size_t i;

	for (i = 0; code && code[0] && i < sizeof(s3_codes) / sizeof(s3_codes[0]); i++)
		if (strcmp(code, s3_codes[i].code) == 0)
			return s3_codes[i].err;
	switch (http_status) {
	case 400:
		return STORE_EINVAL;
	case 401:
	case 403:
		return STORE_EDENIED;
	case 404:
		return STORE_ENOTFOUND;
	case 405:
	case 501:
		return STORE_ENOTSUP;
	case 408:
		return STORE_ETIMEOUT;
	case 409:
		return STORE_EPRECONDITION;
	case 411:
	case 413:
		return STORE_ETOOLARGE;
	case 412:
		return STORE_EPRECONDITION;
	case 416:
		return STORE_EINVAL;
	default:
		return http_status >= 500 || http_status == 429 ? STORE_ESERVER : STORE_EPROTO;
	}
}

int s3_error_retryable(const char *code, long http_status)
{
	size_t i;

	for (i = 0; code && code[0] && i < sizeof(s3_codes) / sizeof(s3_codes[0]); i++)
		if (strcmp(code, s3_codes[i].code) == 0)
			return s3_codes[i].retry || (http_status >= 500 && http_status != 501);
	return (http_status >= 500 && http_status != 501) || http_status == 429 ||
	       http_status == 408;
}

int s3xml_parse_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
		      size_t msglen)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root;
	int found = 0;

	if (!doc)
		return 0;
	root = xmlDocGetRootElement(doc);
	if (is_el(root, "Error")) {
		found = 1;
		if (codelen)
			code[0] = '\0';
		if (msglen)
			msg[0] = '\0';
		copy_text(root, "Code", code, codelen);
		copy_text(root, "Message", msg, msglen);
	}
	xmlFreeDoc(doc);
	return found;
}

static enum store_err not_doc(struct store_error *err, const char *what)
{
	return store_set_error(err, STORE_EPROTO, 0, NULL, "unparseable %s response", what);
}

/* Decoded (if @enc) copy of @s with @strip leading bytes removed; NULL on ENOMEM. */
static char *key_out(const char *s, int enc, size_t strip)
{
	char *d = enc ? s3_url_decode(s) : strdup(s);
	size_t n;

	if (!d)
		return NULL;
	n = strlen(d);
	if (strip) {
		if (strip > n)
			strip = n;
		memmove(d, d + strip, n - strip + 1);
	}
	return d;
}

enum store_err s3xml_parse_list(const char *body, size_t len, size_t strip,
				struct store_list *ret, struct store_error *err)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root, n;
	struct store_list l = { 0 };
	size_t nent = 0, npre = 0;
	enum store_err rc = STORE_OK;
	char *enc = NULL, *trunc = NULL, *s;
	int url;

	if (!doc)
		return not_doc(err, "ListObjectsV2");
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "ListBucketResult")) {
		rc = not_doc(err, "ListObjectsV2");
		goto out;
	}
	enc = child_text(root, "EncodingType");
	url = enc && strcmp(enc, "url") == 0;
	for (n = root->children; n; n = n->next) {
		if (is_el(n, "Contents"))
			nent++;
		else if (is_el(n, "CommonPrefixes"))
			npre++;
	}
	l.entries = calloc(nent ? nent : 1, sizeof(*l.entries));
	l.prefixes = calloc(npre ? npre : 1, sizeof(*l.prefixes));
	if (!l.entries || !l.prefixes)
		goto nomem;
	for (n = root->children; n; n = n->next) {
		if (is_el(n, "Contents")) {
			struct store_list_entry *e = &l.entries[l.n];

			s = child_text(n, "Key");
			if (!s) {
				rc = not_doc(err, "ListObjectsV2 (entry without Key)");
				goto fail;
			}
			e->key = key_out(s, url, strip);
			free(s);
			if (!e->key)
				goto nomem;
			l.n++;
			s = child_text(n, "Size");
			e->obj.size = s ? strtoull(s, NULL, 10) : 0;
			free(s);
			s = child_text(n, "ETag");
			strip_etag(s, e->obj.etag, sizeof(e->obj.etag));
			free(s);
			s = child_text(n, "LastModified");
			(void)s3_parse_iso8601(s, &e->obj.last_modified);
			free(s);
		} else if (is_el(n, "CommonPrefixes")) {
			s = child_text(n, "Prefix");
			if (!s)
				continue;
			l.prefixes[l.nprefixes] = key_out(s, url, strip);
			free(s);
			if (!l.prefixes[l.nprefixes])
				goto nomem;
			l.nprefixes++;
		}
	}
	trunc = child_text(root, "IsTruncated");
	if (trunc && strcmp(trunc, "true") == 0) {
		l.next_token = child_text(root, "NextContinuationToken");
		if (!l.next_token || !l.next_token[0]) {
			rc = not_doc(err, "ListObjectsV2 (truncated without NextContinuationToken)");
			goto fail;
		}
	}
	*ret = l;
	goto out;
nomem:
	rc = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory parsing a listing");
fail:
	store_list_release(&l);
out:
	free(enc);
	free(trunc);
	xmlFreeDoc(doc);
	return rc;
}

enum store_err s3xml_parse_initiate(const char *body, size_t len, char **ret_upload_id,
				    struct store_error *err)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root;
	enum store_err rc = STORE_OK;
	char *id;

	if (!doc)
		return not_doc(err, "CreateMultipartUpload");
	root = xmlDocGetRootElement(doc);
	id = is_el(root, "InitiateMultipartUploadResult") ? child_text(root, "UploadId") : NULL;
	if (!id || !id[0]) {
		free(id);
		rc = not_doc(err, "CreateMultipartUpload");
	} else {
		*ret_upload_id = id;
	}
	xmlFreeDoc(doc);
	return rc;
}

enum store_err s3xml_parse_etag_result(const char *body, size_t len, struct store_obj *ret,
				       struct store_error *err)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root;
	enum store_err rc = STORE_OK;
	char *etag = NULL, *lm = NULL;

	if (!doc)
		return not_doc(err, "upload or copy");
	root = xmlDocGetRootElement(doc);
	if (is_el(root, "Error")) {
		char code[64] = "", msg[256] = "";

		copy_text(root, "Code", code, sizeof(code));
		copy_text(root, "Message", msg, sizeof(msg));
		rc = store_set_error(err, s3_map_error(code, 200), 200, code, "%s: %s", code, msg);
		goto out;
	}
	etag = child_text(root, "ETag");
	if (!etag) {
		rc = not_doc(err, "upload or copy (no ETag)");
		goto out;
	}
	if (ret) {
		strip_etag(etag, ret->etag, sizeof(ret->etag));
		lm = child_text(root, "LastModified");
		if (lm)
			(void)s3_parse_iso8601(lm, &ret->last_modified);
	}
out:
	free(etag);
	free(lm);
	xmlFreeDoc(doc);
	return rc;
}

enum store_err s3xml_parse_delete(const char *body, size_t len, size_t strip,
				  size_t *ret_nfailed, struct store_error *err)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root, n;
	enum store_err rc = STORE_OK;
	size_t nfailed = 0;

	if (!doc)
		return not_doc(err, "DeleteObjects");
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "DeleteResult")) {
		rc = not_doc(err, "DeleteObjects");
		goto out;
	}
	for (n = root->children; n; n = n->next) {
		char code[64] = "", msg[256] = "", *key, *k;

		if (!is_el(n, "Error"))
			continue;
		if (nfailed++)
			continue;
		copy_text(n, "Code", code, sizeof(code));
		copy_text(n, "Message", msg, sizeof(msg));
		key = child_text(n, "Key");
		k = key ? key_out(key, 0, strip) : NULL;
		rc = s3_map_error(code, 0);
		if (rc == STORE_EPROTO)
			rc = STORE_ESERVER;
		rc = store_set_error(err, rc, 200, code, "cannot delete '%s': %s%s%s",
				     k ? k : "?", code, msg[0] ? ": " : "", msg);
		free(key);
		free(k);
	}
	if (ret_nfailed)
		*ret_nfailed = nfailed;
out:
	xmlFreeDoc(doc);
	return rc;
}

enum store_err s3xml_parse_uploads(const char *body, size_t len, size_t strip,
				   struct store_upload **arr, size_t *n, int *ret_truncated,
				   char **ret_next_key, char **ret_next_upload,
				   struct store_error *err)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root, u;
	enum store_err rc = STORE_OK;
	char *enc = NULL, *trunc = NULL, *s;
	int url;

	if (!doc)
		return not_doc(err, "ListMultipartUploads");
	root = xmlDocGetRootElement(doc);
	if (!is_el(root, "ListMultipartUploadsResult")) {
		rc = not_doc(err, "ListMultipartUploads");
		goto out;
	}
	enc = child_text(root, "EncodingType");
	url = enc && strcmp(enc, "url") == 0;
	for (u = root->children; u; u = u->next) {
		struct store_upload *na, *e;

		if (!is_el(u, "Upload"))
			continue;
		na = realloc(*arr, (*n + 1) * sizeof(**arr));
		if (!na) {
			rc = store_set_error(err, STORE_ENOMEM, 0, NULL, "out of memory");
			goto out;
		}
		*arr = na;
		e = &na[*n];
		memset(e, 0, sizeof(*e));
		s = child_text(u, "Key");
		e->key = s ? key_out(s, url, strip) : NULL;
		free(s);
		e->upload_id = child_text(u, "UploadId");
		s = child_text(u, "Initiated");
		(void)s3_parse_iso8601(s, &e->initiated);
		free(s);
		if (!e->key || !e->upload_id) {
			free(e->key);
			free(e->upload_id);
			continue;
		}
		(*n)++;
	}
	trunc = child_text(root, "IsTruncated");
	*ret_truncated = trunc && strcmp(trunc, "true") == 0;
	*ret_next_key = NULL;
	*ret_next_upload = NULL;
	if (*ret_truncated) {
		s = child_text(root, "NextKeyMarker");
		*ret_next_key = s && url ? s3_url_decode(s) : (s ? strdup(s) : NULL);
		free(s);
		*ret_next_upload = child_text(root, "NextUploadIdMarker");
	}
out:
	free(enc);
	free(trunc);
	xmlFreeDoc(doc);
	return rc;
}

int s3xml_escape(struct buf *out, const char *s)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			r = buf_puts(out, "&amp;");
			break;
		case '<':
			r = buf_puts(out, "&lt;");
			break;
		case '>':
			r = buf_puts(out, "&gt;");
			break;
		case '"':
			r = buf_puts(out, "&quot;");
			break;
		case '\'':
			r = buf_puts(out, "&apos;");
			break;
		default:
			if (c < 0x20)
				r = buf_printf(out, "&#x%X;", c);
			else
				r = buf_putc(out, (char)c);
		}
	}
	return r;
}

int s3xml_build_complete(struct buf *out, const struct store_part *parts, size_t n)
{
	size_t i;
	int r;

	r = buf_puts(out, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < n && r == 0; i++) {
		r = buf_printf(out, "<Part><PartNumber>%d</PartNumber><ETag>\"", parts[i].number);
		if (r == 0)
			r = s3xml_escape(out, parts[i].etag);
		if (r == 0)
			r = buf_puts(out, "\"</ETag></Part>");
	}
	if (r == 0)
		r = buf_puts(out, "</CompleteMultipartUpload>");
	return r;
}

int s3xml_build_delete(struct buf *out, const char *prefix, const char *const *keys, size_t n)
{
	size_t i;
	int r;

	r = buf_puts(out, "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
	for (i = 0; i < n && r == 0; i++) {
		r = buf_puts(out, "<Object><Key>");
		if (r == 0)
			r = s3xml_escape(out, prefix);
		if (r == 0)
			r = s3xml_escape(out, keys[i]);
		if (r == 0)
			r = buf_puts(out, "</Key></Object>");
	}
	if (r == 0)
		r = buf_puts(out, "</Delete>");
	return r;
}
