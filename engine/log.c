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

static void log_vmsg(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = 0;
	int k;

	if (log_journal)
		n = (size_t)snprintf(line, sizeof(line), "<%d>", prio);
	else
		n = (size_t)snprintf(line, sizeof(line), "stepfs: ");
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (k > 0)
		n = n + (size_t)k < sizeof(line) ? n + (size_t)k : sizeof(line) - 1;
	if (suffix && n < sizeof(line) - 1) {
		k = snprintf(line + n, sizeof(line) - n, ": %s", suffix);
		if (k > 0)
			n = n + (size_t)k < sizeof(line) ? n + (size_t)k : sizeof(line) - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
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
