/*
 * Logging: one line per message to stderr (default) or syslog-style with a
 * journald "<N>" priority prefix (log_set_journal). Priorities are syslog's.
 * Library-like modules log at debug level at most and return errors; the
 * caller logs once. Never log credentials, signatures or presigned URLs.
 *
 * Thread-safe: each message is written with a single write(2).
 */
#ifndef STEPFS_LOG_H
#define STEPFS_LOG_H

#include <syslog.h>

/* Global log state, written only by main() before threads start. */
void log_set_level(int prio);
int log_get_level(void);
/* Prefix each line with "<N>" so journald reads the priority (SyslogLevelPrefix=). */
void log_set_journal(int on);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(prio, ...)                                \
	do {                                             \
		if ((prio) <= log_get_level())           \
			log_msg((prio), __VA_ARGS__);    \
	} while (0)
#define log_err(...) log_at(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

/* Log at LOG_ERR with ": strerror(-r)" appended and return @r (a -errno). */
int log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
