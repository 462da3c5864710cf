/* Unit tests for engine/schedule.c: rate/cron/at parsing, errors and next fire times (UTC). */
#include "engine/schedule.h"

#include <string.h>
#include <time.h>

#include "tests/harness.h"

static int64_t ts(const char *iso)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	return (int64_t)timegm(&tm) * 1000;
}

static char out[64];

static const char *next(const char *expr, const char *after)
{
	struct schedule s;
	char err[200];
	int64_t n;
	time_t t;
	struct tm tm;

	if (schedule_parse(expr, &s, err, sizeof(err)) < 0) {
		snprintf(out, sizeof(out), "error: %.50s", err);
		return out;
	}
	n = schedule_next(&s, ts(after));
	if (n < 0)
		return "never";
	t = (time_t)(n / 1000);
	gmtime_r(&t, &tm);
	strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
	return out;
}

static int bad(const char *expr, const char *want)
{
	struct schedule s;
	char err[200] = "";
	int ok = schedule_parse(expr, &s, err, sizeof(err)) < 0 && strstr(err, want) != NULL;

	if (!ok)
		fprintf(stderr, "  '%s': got '%s'\n", expr, err);
	return ok;
}

int main(void)
{
	CHECK_STR_EQ(next("rate(5 minutes)", "2026-01-01T10:02:30"), "2026-01-01T10:05:00");
	CHECK_STR_EQ(next("rate(5 minutes)", "2026-01-01T10:05:00"), "2026-01-01T10:10:00");
	CHECK_STR_EQ(next("rate(1 hour)", "2026-01-01T10:59:59"), "2026-01-01T11:00:00");
	CHECK_STR_EQ(next("rate(1 day)", "2026-01-01T10:00:00"), "2026-01-02T00:00:00");
	/* AWS's documented examples */
	CHECK_STR_EQ(next("cron(0 10 * * ? *)", "2026-01-01T10:00:00"), "2026-01-02T10:00:00");
	CHECK_STR_EQ(next("cron(15 12 * * ? *)", "2026-01-01T00:00:00"), "2026-01-01T12:15:00");
	CHECK_STR_EQ(next("cron(0 18 ? * MON-FRI *)", "2026-01-02T18:00:00"), /* a Friday */
		     "2026-01-05T18:00:00");
	CHECK_STR_EQ(next("cron(0 8 1 * ? *)", "2026-01-01T08:00:00"), "2026-02-01T08:00:00");
	CHECK_STR_EQ(next("cron(0/15 * * * ? *)", "2026-01-01T10:16:00"), "2026-01-01T10:30:00");
	CHECK_STR_EQ(next("cron(0/10 * ? * MON-FRI *)", "2026-01-03T12:00:00"), /* Saturday */
		     "2026-01-05T00:00:00");
	CHECK_STR_EQ(next("cron(0/5 8-17 ? * MON-FRI *)", "2026-01-05T17:55:00"),
		     "2026-01-06T08:00:00");
	CHECK_STR_EQ(next("cron(0 9 ? * 2#1 *)", "2026-01-01T00:00:00"), /* first Monday */
		     "2026-01-05T09:00:00");
	CHECK_STR_EQ(next("cron(0 0 L * ? *)", "2026-02-01T00:00:00"), "2026-02-28T00:00:00");
	CHECK_STR_EQ(next("cron(0 0 L 2 ? 2028)", "2026-01-01T00:00:00"), "2028-02-29T00:00:00");
	CHECK_STR_EQ(next("cron(0 0 ? * 6L *)", "2026-01-01T00:00:00"), /* last Friday */
		     "2026-01-30T00:00:00");
	CHECK_STR_EQ(next("cron(30 1 29 FEB ? *)", "2026-01-01T00:00:00"), "2028-02-29T01:30:00");
	CHECK_STR_EQ(next("cron(0 0 1 1 ? 2020)", "2026-01-01T00:00:00"), "never");
	CHECK_STR_EQ(next("cron(5,35 14 * JAN,JUL ? *)", "2026-01-31T14:35:00"),
		     "2026-07-01T14:05:00");
	CHECK_STR_EQ(next("at(2026-03-01T12:00:00)", "2026-01-01T00:00:00"), "2026-03-01T12:00:00");
	CHECK_STR_EQ(next("at(2026-03-01T12:00:00)", "2026-03-01T12:00:00"), "never");

	CHECK(bad("rate(1 minutes)", "singular"));
	CHECK(bad("rate(5 minute)", "plural"));
	CHECK(bad("rate(0 minutes)", "positive"));
	CHECK(bad("rate(5 weeks)", "unit 'weeks'"));
	CHECK(bad("cron(0 10 * * *)", "6 fields"));
	CHECK(bad("cron(0 10 * * * *)", "exactly one of"));
	CHECK(bad("cron(0 10 ? * ? *)", "exactly one of"));
	CHECK(bad("cron(60 10 * * ? *)", "field 1 (minutes)"));
	CHECK(bad("cron(0 10 * FOO ? *)", "field 4 (month): 'FOO'"));
	CHECK(bad("cron(0 10 ? * MON-FOO *)", "field 5 (day-of-week)"));
	CHECK(bad("cron(0 10 15W * ? *)", "not supported"));
	CHECK(bad("cron(0 10 * * ? 2030,)", "trailing"));
	CHECK(bad("at(2026-03-01 12:00)", "at() takes"));
	CHECK(bad("every 5 minutes", "is not rate"));
	return TEST_DONE();
}
