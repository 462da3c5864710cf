/*
 * jdoc.c - JSON pointers and error text for problems in JSON documents.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/jdoc.h"

const char *jdoc_ptr_key(const char *key, char *out, size_t len)
{
	size_t o = 0;

	if (!len)
		return out;
	for (; *key && o + 3 < len; key++) {
		if (*key == '~' || *key == '/') {
			out[o++] = '~';
			out[o++] = *key == '~' ? '0' : '1';
		} else {
			out[o++] = *key;
		}
	}
	out[o] = '\0';
	return out;
}

void jdoc_ptr_join(char *out, size_t n, const char *base, const char *key)
{
	size_t len = strlen(base);

	if (len > n - 2)
		len = n - 2;
	memmove(out, base, len);
	out[len++] = '/';
	jdoc_ptr_key(key, out + len, n - len);
}

int jdoc_fail(char *errmsg, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errmsg && errlen) {
		va_start(ap, fmt);
		vsnprintf(errmsg, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
