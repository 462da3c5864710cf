/*
 * jdoc.h - naming places in JSON documents for error messages.
 *
 * Configuration files, mock files and notification rules all report a
 * problem with the JSON pointer (RFC 6901) of the value at fault. These
 * helpers build such pointers and format the message. No allocation: every
 * function writes into the caller's buffer and truncates to fit.
 */
#ifndef STEPFS_JDOC_H
#define STEPFS_JDOC_H

#include <stddef.h>

/* @key escaped as one pointer token (~ -> ~0, / -> ~1) into @out; returns @out. */
const char *jdoc_ptr_key(const char *key, char *out, size_t len);

/* @base + "/" + the escaped @key into @out (@n > 2). */
void jdoc_ptr_join(char *out, size_t n, const char *base, const char *key);

/* printf into @errmsg (may be NULL) and return -EINVAL. */
int jdoc_fail(char *errmsg, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
