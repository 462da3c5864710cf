/*
 * Schedule expressions: parsing into bit sets and computing the next fire
 * time. cron's next time is found by walking forward field by field (a wrong
 * month skips to the next month, a wrong day to the next day, ...), so it
 * costs at most a few thousand steps even for sparse expressions.
 */
#include "engine/schedule.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SCHED_YEAR0 1970
#define SCHED_NYEARS 256

static int sched_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int sched_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const char *const sched_months[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					    "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const sched_days[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

static const char *const sched_field_names[] = { "minutes", "hours", "day-of-month", "month",
						 "day-of-week", "year" };
static const int sched_lo[] = { 0, 0, 1, 1, 1, SCHED_YEAR0 };
static const int sched_hi[] = { 59, 23, 31, 12, 7, SCHED_YEAR0 + SCHED_NYEARS - 1 };

/* A number or (for month/day-of-week) a name. -1 if neither. */
static int sched_value(const char *s, size_t n, int field)
{
	char tmp[16];
	char *end;
	long v;
	int i;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (field == 3 || field == 4) {
		for (i = 0; i < (field == 3 ? 12 : 7); i++)
			if (strcasecmp(tmp, field == 3 ? sched_months[i] : sched_days[i]) == 0)
				return i + 1;
	}
	if (!isdigit((unsigned char)tmp[0]))
		return -1;
	v = strtol(tmp, &end, 10);
	if (*end || v < sched_lo[field] || v > sched_hi[field])
		return -1;
	return (int)v;
}

static void sched_set(struct schedule *s, int field, int v)
{
	switch (field) {
	case 0:
		s->minutes |= 1ULL << v;
		break;
	case 1:
		s->hours |= 1U << v;
		break;
	case 2:
		s->days |= 1U << v;
		break;
	case 3:
		s->months |= (uint16_t)(1U << v);
		break;
	case 4:
		s->weekdays |= (uint8_t)(1U << v);
		break;
	default:
		v -= SCHED_YEAR0;
		s->years[v / 64] |= 1ULL << (v % 64);
		break;
	}
}

static int sched_field(struct schedule *s, int field, const char *f, char *err, size_t errlen)
{
	const char *item = f, *name = sched_field_names[field];

	if (strcmp(f, "?") == 0) {
		if (field != 2 && field != 4)
			return sched_fail(err, errlen, "cron field %d (%s): '?' is only allowed in "
					  "day-of-month or day-of-week", field + 1, name);
		if (field == 2)
			s->dom_any = 1;
		else
			s->dow_any = 1;
		return 0;
	}
	if (field == 2 && strcmp(f, "L") == 0) {
		s->dom_last = 1;
		return 0;
	}
	if (strchr(f, 'W') && field == 2)
		return sched_fail(err, errlen, "cron field 3 (day-of-month): 'W' (nearest "
				  "weekday) is not supported");
	if (field == 4 && (strchr(f, '#') || (strlen(f) >= 2 && f[strlen(f) - 1] == 'L'))) {
		const char *hash = strchr(f, '#');
		int v = sched_value(f, hash ? (size_t)(hash - f) : strlen(f) - 1, 4);

		if (v < 0)
			return sched_fail(err, errlen, "cron field 5 (day-of-week): '%s' is not a "
					  "day followed by #n or L", f);
		if (hash) {
			char *end;
			long k = strtol(hash + 1, &end, 10);

			if (*end || k < 1 || k > 5)
				return sched_fail(err, errlen, "cron field 5 (day-of-week): '%s': "
						  "#n needs n from 1 to 5", f);
			s->dow_nth = (int)k;
		} else {
			s->dow_last = 1;
		}
		sched_set(s, 4, v);
		return 0;
	}
	while (*item) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		const char *slash = memchr(item, '/', len), *dash;
		size_t rlen = slash ? (size_t)(slash - item) : len;
		int lo, hi, step = 1, v;

		if (len == 0)
			return sched_fail(err, errlen, "cron field %d (%s): empty list item in '%s'",
					  field + 1, name, f);
		if (slash) {
			char tmp[16], *end;
			size_t sl = len - rlen - 1;

			if (sl == 0 || sl >= sizeof(tmp))
				return sched_fail(err, errlen, "cron field %d (%s): bad step in '%s'",
						  field + 1, name, f);
			memcpy(tmp, slash + 1, sl);
			tmp[sl] = '\0';
			step = (int)strtol(tmp, &end, 10);
			if (*end || step < 1)
				return sched_fail(err, errlen, "cron field %d (%s): bad step in '%s'",
						  field + 1, name, f);
		}
		dash = memchr(item, '-', rlen);
		if (rlen == 1 && item[0] == '*') {
			lo = sched_lo[field];
			hi = sched_hi[field];
		} else if (dash) {
			lo = sched_value(item, (size_t)(dash - item), field);
			hi = sched_value(dash + 1, rlen - (size_t)(dash - item) - 1, field);
			if (lo < 0 || hi < 0 || hi < lo)
				return sched_fail(err, errlen, "cron field %d (%s): bad range '%.*s' "
						  "(allowed %d-%d)", field + 1, name, (int)rlen,
						  item, sched_lo[field], sched_hi[field]);
		} else {
			lo = sched_value(item, rlen, field);
			if (lo < 0)
				return sched_fail(err, errlen, "cron field %d (%s): '%.*s' is not a "
						  "value (allowed %d-%d%s)", field + 1, name,
						  (int)rlen, item, sched_lo[field], sched_hi[field],
						  field == 3 ? " or JAN-DEC" :
						  field == 4 ? " or SUN-SAT" : "");
			hi = slash ? sched_hi[field] : lo;
		}
		for (v = lo; v <= hi; v += step)
			sched_set(s, field, v);
		item += len + (comma ? 1 : 0);
		if (comma && !*item)
			return sched_fail(err, errlen, "cron field %d (%s): trailing ',' in '%s'",
					  field + 1, name, f);
	}
	return 0;
}

static int sched_parse_cron(const char *body, struct schedule *s, char *err, size_t errlen)
{
	char buf[256], *fields[7], *save = NULL, *tok;
	int n = 0, i;

	if (strlen(body) >= sizeof(buf))
		return sched_fail(err, errlen, "cron expression too long");
	snprintf(buf, sizeof(buf), "%s", body);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == 7)
			break;
		fields[n++] = tok;
	}
	if (n != 6)
		return sched_fail(err, errlen, "cron() takes 6 fields (minutes hours "
				  "day-of-month month day-of-week year), got %d", n);
	for (i = 0; i < 6; i++)
		if (sched_field(s, i, fields[i], err, errlen) < 0)
			return -1;
	if (s->dom_any == s->dow_any)
		return sched_fail(err, errlen, "cron: exactly one of day-of-month and day-of-week "
				  "must be '?'");
	return 0;
}

int schedule_parse(const char *expr, struct schedule *ret, char *err, size_t errlen)
{
	struct schedule s;
	size_t n = strlen(expr);
	char body[256];

	memset(&s, 0, sizeof(s));
	if (n < 6 || expr[n - 1] != ')' || n - 1 >= sizeof(body))
		return sched_fail(err, errlen, "'%s' is not rate(...), cron(...) or at(...)", expr);
	if (strncmp(expr, "rate(", 5) == 0) {
		char unit[32], extra;
		long v;

		snprintf(body, sizeof(body), "%.*s", (int)(n - 6), expr + 5);
		if (sscanf(body, "%ld %31s %c", &v, unit, &extra) != 2 || v < 1)
			return sched_fail(err, errlen, "rate() takes a positive whole number and a "
					  "unit: '%s'", expr);
		s.kind = SCHEDULE_RATE;
		if (strcmp(unit, "minute") == 0 || strcmp(unit, "minutes") == 0)
			s.rate_ms = v * 60000LL;
		else if (strcmp(unit, "hour") == 0 || strcmp(unit, "hours") == 0)
			s.rate_ms = v * 3600000LL;
		else if (strcmp(unit, "day") == 0 || strcmp(unit, "days") == 0)
			s.rate_ms = v * 86400000LL;
		else
			return sched_fail(err, errlen, "rate(): unit '%s' is not minute(s), hour(s) "
					  "or day(s)", unit);
		if ((v == 1) != (unit[strlen(unit) - 1] != 's'))
			return sched_fail(err, errlen, "rate(): use the singular unit for 1 and the "
					  "plural otherwise ('%s')", expr);
	} else if (strncmp(expr, "cron(", 5) == 0) {
		snprintf(body, sizeof(body), "%.*s", (int)(n - 6), expr + 5);
		s.kind = SCHEDULE_CRON;
		if (sched_parse_cron(body, &s, err, errlen) < 0)
			return -1;
	} else if (strncmp(expr, "at(", 3) == 0) {
		struct tm tm;
		char *end;

		snprintf(body, sizeof(body), "%.*s", (int)(n - 4), expr + 3);
		memset(&tm, 0, sizeof(tm));
		end = strptime(body, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!end || *end)
			return sched_fail(err, errlen, "at() takes yyyy-mm-ddThh:mm:ss: '%s'", expr);
		s.kind = SCHEDULE_AT;
		s.at_ms = (int64_t)timegm(&tm) * 1000;
	} else {
		return sched_fail(err, errlen, "'%s' is not rate(...), cron(...) or at(...)", expr);
	}
	*ret = s;
	return 0;
}

static int sched_days_in_month(int year, int mon /* 1-12 */)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 ? 28 + leap : d[mon - 1];
}

static int sched_day_ok(const struct schedule *s, const struct tm *tm)
{
	int mday = tm->tm_mday, wday = tm->tm_wday + 1; /* SUN=1 */
	int dim = sched_days_in_month(tm->tm_year + 1900, tm->tm_mon + 1);

	if (s->dow_any) {
		if (s->dom_last)
			return mday == dim;
		return (s->days >> mday) & 1;
	}
	if (!((s->weekdays >> wday) & 1))
		return 0;
	if (s->dow_last)
		return mday + 7 > dim;
	if (s->dow_nth)
		return (mday - 1) / 7 + 1 == s->dow_nth;
	return 1;
}

int64_t schedule_next(const struct schedule *s, int64_t after_ms)
{
	struct tm tm;
	time_t t;
	int steps;

	if (s->kind == SCHEDULE_AT)
		return s->at_ms > after_ms ? s->at_ms : -1;
	if (s->kind == SCHEDULE_RATE) {
		if (after_ms < 0)
			return 0;
		return (after_ms / s->rate_ms + 1) * s->rate_ms;
	}
	/* cron: start at the next whole minute after @after_ms */
	t = (time_t)(after_ms >= 0 ? after_ms / 1000 : 0);
	t = t - t % 60 + 60;
	gmtime_r(&t, &tm);
	for (steps = 0; steps < 200000; steps++) {
		int year = tm.tm_year + 1900, yi = year - SCHED_YEAR0;

		if (yi < 0 || yi >= SCHED_NYEARS)
			return -1;
		if (!((s->years[yi / 64] >> (yi % 64)) & 1)) {
			tm.tm_year++;
			tm.tm_mon = 0;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!((s->months >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!sched_day_ok(s, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!((s->hours >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((s->minutes >> tm.tm_min) & 1)) {
			tm.tm_min++;
		} else {
			return (int64_t)timegm(&tm) * 1000;
		}
		/* normalise (timegm fixes overflowing fields and sets tm_wday) */
		t = timegm(&tm);
		gmtime_r(&t, &tm);
	}
	return -1;
}
