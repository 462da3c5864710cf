/*
 * struct buf: a growable byte buffer, always NUL-terminated, with a hard size
 * cap set at init so that an HTTP body, a task's stdout or a listing cannot
 * grow without bound (after git's strbuf and curl's dynbuf "toobig").
 *
 * Not thread-safe; a buf belongs to one owner at a time.
 */
#ifndef STEPFS_BUF_H
#define STEPFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* NUL-terminated; never NULL after buf_init() */
	size_t len;   /* bytes used, excluding the NUL */
	size_t alloc; /* bytes allocated, 0 while data points at the shared empty string */
	size_t cap;   /* hard limit on len */
};

#define BUF_CAP_DEFAULT ((size_t)64 << 20)
#define BUF_INIT_CAP(c) { (char *)"", 0, 0, (c) }
#define BUF_INIT BUF_INIT_CAP(BUF_CAP_DEFAULT)

/* Initialise an empty buffer that may hold at most @cap bytes. */
void buf_init(struct buf *b, size_t cap);

/* Free the storage and reset to empty (the cap is kept). */
void buf_release(struct buf *b);

/* Empty the buffer, keeping its storage. */
void buf_reset(struct buf *b);

/*
 * Append bytes. Return 0, -ENOMEM, or -E2BIG if the result would exceed the
 * cap (then nothing is appended).
 */
int buf_add(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Make room for @extra more bytes without changing len. Same returns as buf_add(). */
int buf_grow(struct buf *b, size_t extra);

/*
 * Hand the storage over: returns a malloc'd NUL-terminated string that the
 * caller frees with free(), and resets @b to empty. NULL only on ENOMEM.
 */
char *buf_detach(struct buf *b, size_t *ret_len);

#endif
