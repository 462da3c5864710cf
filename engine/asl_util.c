/*
 * asl_util: helpers of the ASL interpreter that deal with JSON text and time:
 * the compact serialiser that prints numbers the way AWS does (integers as
 * integers, reals in their shortest round-trip form instead of jansson's
 * %.17g), the exact payload size used for the 256 KiB limit, and ISO-8601
 * timestamps.
 */
#include "engine/asl.h"
#include "engine/asl_i.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/jpath.h"

void asl_fmt_real(double d, char *buf, size_t len)
{
	char tmp[40];

	/* Java's Double.toString, as AWS prints numbers */
	snprintf(buf, len, "%s", isfinite(d) ? jpath_fmt_real(d, tmp) : "null");
}

static size_t str_size(const char *s, size_t n)
{
	size_t i, r = 2;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
		    c == '\t')
			r += 2;
		else if (c < 0x20)
			r += 6;
		else
			r += 1;
	}
	return r;
}

static int str_put(struct buf *b, const char *s, size_t n)
{
	size_t i, start = 0;
	int r = buf_putc(b, '"');

	for (i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char tmp[8];

		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(tmp, sizeof(tmp), "\\u%04x", c);
				esc = tmp;
			}
		}
		if (esc) {
			r = buf_add(b, s + start, i - start);
			if (r == 0)
				r = buf_puts(b, esc);
			start = i + 1;
		}
	}
	if (r == 0)
		r = buf_add(b, s + start, n - start);
	if (r == 0)
		r = buf_putc(b, '"');
	return r;
}

size_t asl_json_size(const json_t *v, size_t limit)
{
	char tmp[40];
	size_t r = 0, i, n;
	const char *k;
	json_t *x;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		r = 2;
		n = 0;
		json_object_foreach((json_t *)v, k, x) {
			r += (n++ ? 1 : 0) + str_size(k, strlen(k)) + 1 + asl_json_size(x, limit);
			if (limit && r > limit)
				return r;
		}
		return r;
	case JSON_ARRAY:
		r = 2;
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			r += (i ? 1 : 0) + asl_json_size(json_array_get(v, i), limit);
			if (limit && r > limit)
				return r;
		}
		return r;
	case JSON_STRING:
		return str_size(json_string_value(v), json_string_length(v));
	case JSON_INTEGER: {
		json_int_t iv = json_integer_value(v);
		unsigned long long u;

		if (iv < 0) {
			r = 1;
			u = (unsigned long long)(-(iv + 1)) + 1;
		} else {
			u = (unsigned long long)iv;
		}
		for (r++; u >= 10; u /= 10)
			r++;
		return r;
	}
	case JSON_REAL:
		asl_fmt_real(json_real_value(v), tmp, sizeof(tmp));
		return strlen(tmp);
	case JSON_TRUE:
		return 4;
	case JSON_FALSE:
		return 5;
	default:
		return 4;
	}
}

static int dump(struct buf *b, const json_t *v)
{
	char tmp[40];
	const char *k;
	json_t *x;
	size_t i, n;
	int r = 0;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		r = buf_putc(b, '{');
		n = 0;
		json_object_foreach((json_t *)v, k, x) {
			if (r == 0 && n++)
				r = buf_putc(b, ',');
			if (r == 0)
				r = str_put(b, k, strlen(k));
			if (r == 0)
				r = buf_putc(b, ':');
			if (r == 0)
				r = dump(b, x);
			if (r)
				return r;
		}
		return buf_putc(b, '}');
	case JSON_ARRAY:
		r = buf_putc(b, '[');
		n = json_array_size(v);
		for (i = 0; i < n && r == 0; i++) {
			if (i)
				r = buf_putc(b, ',');
			if (r == 0)
				r = dump(b, json_array_get(v, i));
		}
		return r ? r : buf_putc(b, ']');
	case JSON_STRING:
		return str_put(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		asl_fmt_real(json_real_value(v), tmp, sizeof(tmp));
		return buf_puts(b, tmp);
	case JSON_TRUE:
		return buf_puts(b, "true");
	case JSON_FALSE:
		return buf_puts(b, "false");
	default:
		return buf_puts(b, "null");
	}
}

char *asl_json_dumps(const json_t *v)
{
	struct buf b = BUF_INIT;

	if (!v)
		return strdup("null");
	if (dump(&b, v) < 0) {
		buf_release(&b);
		return NULL;
	}
	if (b.alloc == 0)
		return strdup(b.data);
	return buf_detach(&b, NULL);
}

json_t *asl_json_text(const json_t *v)
{
	char *s = asl_json_dumps(v);
	json_t *r;

	if (!s)
		return NULL;
	r = json_string(s);
	free(s);
	return r;
}

void asl_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

void asl_time_format(const struct timespec *t, char *buf, size_t len)
{
	struct tm tm;
	time_t s = t->tv_sec;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)(t->tv_nsec / 1000000));
}

const char *asl_stype_name(enum asl_stype t)
{
	static const char *const names[] = { "Pass", "Task",     "Choice", "Wait",
					     "Succeed", "Fail", "Parallel", "Map" };

	return names[t];
}

const char *asl_status_name(enum asl_status s)
{
	switch (s) {
	case ASL_RUNNING: return "RUNNING";
	case ASL_SUCCEEDED: return "SUCCEEDED";
	case ASL_FAILED: return "FAILED";
	case ASL_TIMED_OUT: return "TIMED_OUT";
	case ASL_ABORTED: return "ABORTED";
	}
	return "UNKNOWN";
}
