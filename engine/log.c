/*
 * Line-at-a-time logging to stderr. The level and format are set by main()
 * before any thread starts and only read afterwards.
 */
#include "engine/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* written by main() before threads start */
static int log_level = LOG_NOTICE;
static int log_journal;

void log_set_level(int prio)
{
	log_level = prio;
}

int log_get_level(void)
{
	return log_level;
}

void log_set_journal(int on)
{
	log_journal = on;
}

/*
 * Append @s to @line (capacity @cap, @n used) with control characters
 * escaped (\n, \r, \t, \xHH), so a user string such as an object key with a
 * newline cannot start a forged log line (or a journald "<N>" prefix). Bytes
 * >= 0x80 pass through, so UTF-8 keys stay readable. Stops one byte short of
 * @cap, leaving room for the final newline; returns the new length.
 */
static size_t log_escape(char *line, size_t cap, size_t n, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c != 0x7f) {
			if (n + 1 >= cap)
				break;
			line[n++] = (char)c;
			continue;
		}
		if (n + 4 >= cap)
			break;
		line[n++] = '\\';
		if (c == '\n') {
			line[n++] = 'n';
		} else if (c == '\r') {
			line[n++] = 'r';
		} else if (c == '\t') {
			line[n++] = 't';
		} else {
			line[n++] = 'x';
			line[n++] = hex[c >> 4];
			line[n++] = hex[c & 15];
		}
	}
	return n;
}

static void log_vmsg(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char msg[4096], line[4096];
	size_t n = 0;
	int k;

	if (log_journal)
		n = (size_t)snprintf(line, sizeof(line), "<%d>", prio);
	else
		n = (size_t)snprintf(line, sizeof(line), "stepfs: ");
	k = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (k < 0)
		msg[0] = '\0';
	n = log_escape(line, sizeof(line), n, msg);
	if (suffix) {
		n = log_escape(line, sizeof(line), n, ": ");
		n = log_escape(line, sizeof(line), n, suffix);
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, NULL, fmt, ap);
	va_end(ap);
}

int log_errno(int r, const char *fmt, ...)
{
	char eb[128];
	va_list ap;

	if (LOG_ERR <= log_level) {
		va_start(ap, fmt);
		log_vmsg(LOG_ERR, strerror_r(r < 0 ? -r : r, eb, sizeof(eb)), fmt, ap);
		va_end(ap);
	}
	return r;
}
