/*
 * struct schedule: EventBridge Scheduler schedule expressions, in UTC.
 *
 *   rate(value unit)   unit minute|minutes|hour|hours|day|days; singular only
 *                      for 1, as AWS requires. Fires at multiples of the period
 *                      counted from the Unix epoch (so restarts do not shift it;
 *                      AWS counts from the schedule's creation instead).
 *   cron(min hour day-of-month month day-of-week year)
 *                      AWS's six fields: `*`, `,`, `-`, `/`, month names
 *                      JAN-DEC, day names SUN-SAT (1-7, SUN=1), `?` in exactly
 *                      one of day-of-month/day-of-week, `L` (last day of month;
 *                      `nL` last weekday n of the month), `n#k` (k-th weekday n).
 *                      `W` is rejected (not supported).
 *   at(yyyy-mm-ddThh:mm:ss)  one time.
 *
 * Only UTC is supported (no ScheduleExpressionTimezone). A parsed schedule is
 * a plain value; all functions are pure and thread-safe.
 */
#ifndef STEPFS_SCHEDULE_H
#define STEPFS_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

enum schedule_kind { SCHEDULE_RATE = 0, SCHEDULE_CRON, SCHEDULE_AT };

struct schedule {
	enum schedule_kind kind;
	int64_t rate_ms;      /* RATE */
	int64_t at_ms;        /* AT */
	/* CRON: bit n set = value n allowed */
	uint64_t minutes;     /* 0-59 */
	uint32_t hours;       /* 0-23 */
	uint32_t days;        /* 1-31 */
	uint16_t months;      /* 1-12 */
	uint8_t weekdays;     /* 1-7, SUN=1 */
	uint64_t years[4];    /* 1970-2225 as bits 0-255 */
	int dom_any;          /* day-of-month is '?' */
	int dow_any;          /* day-of-week is '?' */
	int dom_last;         /* day-of-month 'L' */
	int dow_last;         /* day-of-week 'nL': last weekday n (weekdays has n) */
	int dow_nth;          /* day-of-week 'n#k': k (1-5), weekdays has n */
};

/*
 * Parse @expr. Returns 0, or -1 with a message in @err naming the field and
 * the problem (e.g. "cron field 5 (day-of-week): 'FOO' is not a value").
 */
int schedule_parse(const char *expr, struct schedule *ret, char *err, size_t errlen);

/*
 * The first fire time strictly after @after_ms (Unix epoch ms), or -1 if the
 * schedule never fires again (a past at(), a cron whose years are over).
 */
int64_t schedule_next(const struct schedule *s, int64_t after_ms);

#endif
