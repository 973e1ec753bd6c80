/*
 * Unit tests for trigger.c: cron parsing (valid forms and exact error
 * messages), next-fire tables across DST changes in several zones, interval
 * and date triggers, RFC 3339 parsing and formatting.
 *
 * The expected firings were cross-checked against an independent brute-force
 * scan over UTC instants using Python's zoneinfo. They are written with the
 * zone's offset, so a wrong offset shows as plainly as a wrong time. No test
 * reads the clock or sleeps.
 */
#include <stdlib.h> /* cu_main.h calls getenv */

#include "cu_main.h"

#include "lib/trigger.h"
#include "lib/tz.h"
#include "lib/units.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_FIRINGS 6
#define NEVER "never" /* in a table row: trigger_next must answer -1 here */
#define SEC(s) ((int64_t)(s) * NS_PER_SEC)

static int64_t at(const char *text)
{
    int64_t ns = 0;

    if (rfc3339_parse(text, &ns) != 0) {
        fprintf(stderr, "\ntest bug: bad time \"%s\"\n", text);
        CU_FAIL_FATAL("bad time in test table");
    }
    return ns;
}

static const struct tz *zone(const char *name)
{
    char err[256] = "";
    const struct tz *z = tz_get(name, err, sizeof(err));

    if (!z) {
        fprintf(stderr, "\n%s\n", err);
        CU_FAIL_FATAL("time zone missing");
    }
    return z;
}

static struct trigger cron_trigger(const char *expr, const char *zone_name)
{
    struct trigger t = {.kind = TRIGGER_CRON};
    char err[256] = "";

    if (cron_parse(expr, &t.cron, err, sizeof(err)) != 0) {
        fprintf(stderr, "\n\"%s\": %s\n", expr, err);
        CU_FAIL_FATAL("valid expression refused");
    }
    t.tz = zone(zone_name);
    return t;
}

/* ---- cron_parse ---------------------------------------------------------- */

static uint64_t bits(const int *v, size_t n)
{
    uint64_t m = 0;

    for (size_t i = 0; i < n; i++)
        m |= UINT64_C(1) << v[i];
    return m;
}

static void test_parse_fields(void)
{
    struct cron_expr e;
    char err[128];
    static const int quarter[] = {0, 15, 30, 45};
    static const int hours[] = {8, 12, 16};
    static const int weekend[] = {0, 5, 6};
    static const int months[] = {1, 2, 3, 7};
    static const int odd_from_5[] = {5, 25, 45};

    CU_ASSERT_EQUAL_FATAL(cron_parse("*/15 8-18/4 * jan-Mar,JUL fri-sun", &e, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(e.seconds, 1);
    CU_ASSERT_EQUAL(e.minutes, bits(quarter, ARRAY_SIZE(quarter)));
    CU_ASSERT_EQUAL(e.hours, bits(hours, ARRAY_SIZE(hours)));
    CU_ASSERT_EQUAL(e.mdays, 0xfffffffeu);
    CU_ASSERT_EQUAL(e.months, bits(months, ARRAY_SIZE(months)));
    CU_ASSERT_EQUAL(e.wdays, bits(weekend, ARRAY_SIZE(weekend)));
    CU_ASSERT_TRUE(e.mday_star);
    CU_ASSERT_FALSE(e.wday_star);

    CU_ASSERT_EQUAL_FATAL(cron_parse("5/20 * ? * 7", &e, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(e.minutes, bits(odd_from_5, ARRAY_SIZE(odd_from_5)));
    CU_ASSERT_EQUAL(e.hours, 0xffffffu);
    CU_ASSERT_EQUAL(e.months, 0x1ffeu);
    CU_ASSERT_EQUAL(e.wdays, 1); /* 7 is Sunday */
    CU_ASSERT_TRUE(e.mday_star);
    CU_ASSERT_FALSE(e.wday_star);

    /* Six fields: the first is seconds; 0-7 covers the week. */
    CU_ASSERT_EQUAL_FATAL(cron_parse(" \t*/30  0 0 1-31 * 0-7\n", &e, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(e.seconds, (UINT64_C(1) << 0) | (UINT64_C(1) << 30));
    CU_ASSERT_EQUAL(e.minutes, 1);
    CU_ASSERT_EQUAL(e.hours, 1);
    CU_ASSERT_EQUAL(e.wdays, 0x7f);
    CU_ASSERT_FALSE(e.mday_star); /* "1-31" is written out: restricted */
    CU_ASSERT_FALSE(e.wday_star);

    CU_ASSERT_EQUAL_FATAL(cron_parse("59 23 31 12 */1", &e, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(e.minutes, UINT64_C(1) << 59);
    CU_ASSERT_EQUAL(e.hours, 1u << 23);
    CU_ASSERT_EQUAL(e.mdays, 1u << 31);
    CU_ASSERT_EQUAL(e.months, 1u << 12);
    CU_ASSERT_EQUAL(e.wdays, 0x7f);

    /* Steps as large as the field are allowed: a step of 60 leaves minute 0. */
    CU_ASSERT_EQUAL_FATAL(cron_parse("*/60 */24 */31 */12 */7", &e, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(e.minutes, 1);
    CU_ASSERT_EQUAL(e.hours, 1);
    CU_ASSERT_EQUAL(e.mdays, 2);
    CU_ASSERT_EQUAL(e.months, 2);
    CU_ASSERT_EQUAL(e.wdays, 1);
}

static bool same_expr(const struct cron_expr *a, const struct cron_expr *b)
{
    return a->seconds == b->seconds && a->minutes == b->minutes && a->hours == b->hours &&
           a->mdays == b->mdays && a->months == b->months && a->wdays == b->wdays &&
           a->mday_star == b->mday_star && a->wday_star == b->wday_star;
}

static void test_parse_macros(void)
{
    static const char *const pairs[][2] = {
        {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},  {"  @HOURLY ", "0 * * * *"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
        struct cron_expr a, b;
        char err[128] = "";

        CU_ASSERT_EQUAL(cron_parse(pairs[i][0], &a, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL(cron_parse(pairs[i][1], &b, err, sizeof(err)), 0);
        CU_ASSERT_TRUE(same_expr(&a, &b));
    }
}

struct bad_case {
    const char *expr;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    {"", "empty expression"},
    {" \t ", "empty expression"},
    {"* * *", "expected 5 or 6 fields, got 3"},
    {"0 0 1 1 * 2030 x", "expected 5 or 6 fields, got 7"},
    {"@reboot", "@reboot is not supported (use a job without a trigger and run it at start)"},
    {"@fortnightly", "unknown macro \"@fortnightly\""},
    {"@daily 5", "unexpected text after \"@daily\""},
    {"0 0 32 * *", "field 3 (day of month): value 32 out of range 1-31"},
    {"0 0 0 * *", "field 3 (day of month): value 0 out of range 1-31"},
    {"60 * * * *", "field 1 (minute): value 60 out of range 0-59"},
    {"0 24 * * *", "field 2 (hour): value 24 out of range 0-23"},
    {"0 0 * 13 *", "field 4 (month): value 13 out of range 1-12"},
    {"0 0 * * 8", "field 5 (day of week): value 8 out of range 0-7"},
    {"0 0 * * 99999999999", "field 5 (day of week): value 99999999999 out of range 0-7"},
    {"60 0 0 * * *", "field 1 (second): value 60 out of range 0-59"},
    {"0 60 0 * * *", "field 2 (minute): value 60 out of range 0-59"},
    {"0 0 0 * * 8", "field 6 (day of week): value 8 out of range 0-7"},
    {"0 */0 * * *", "field 2 (hour): step 0 is not allowed"},
    {"0 */25 * * *", "field 2 (hour): step 25 out of range 1-24"},
    {"*/x * * * *", "field 1 (minute): invalid step \"x\""},
    {"*/5/2 * * * *", "field 1 (minute): invalid step \"5/2\""},
    {"*/ * * * *", "field 1 (minute): missing step after \"/\""},
    {"0 0 * * fri2", "field 5 (day of week): unknown name \"fri2\""},
    {"0 0 * foo *", "field 4 (month): unknown name \"foo\""},
    {"0 mon * * *", "field 2 (hour): unknown name \"mon\""},
    {"0 0 * * friday", "field 5 (day of week): unknown name \"friday\""},
    {"30-10 * * * *", "field 1 (minute): range 30-10 is reversed"},
    {"0 0 * * sat-mon", "field 5 (day of week): range sat-mon is reversed"},
    {"1-2-3 * * * *", "field 1 (minute): invalid range \"1-2-3\""},
    {"5- * * * *", "field 1 (minute): invalid range \"5-\""},
    {"0 0 1 1,,2 *", "field 4 (month): empty list item"},
    {"0 0 1, * *", "field 3 (day of month): empty list item"},
    {",0 0 1 * *", "field 1 (minute): empty list item"},
    {"-5 * * * *", "field 1 (minute): negative value \"-5\" is not allowed"},
    {"0 -1-3 * * *", "field 2 (hour): negative value \"-1\" is not allowed"},
    {"5x * * * *", "field 1 (minute): invalid value \"5x\""},
    {"0 0 * * 5;", "field 5 (day of week): invalid value \"5;\""},
    {"*-5 * * * *", "field 1 (minute): invalid item \"*-5\""},
    {"/5 * * * *", "field 1 (minute): invalid item \"/5\""},
    {"? * * * *", "field 1 (minute): \"?\" is only allowed in day of month and day of week"},
    {"0 0 1 ? *", "field 4 (month): \"?\" is only allowed in day of month and day of week"},
};

static void test_parse_errors(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        struct cron_expr e;
        char err[256] = "";
        int rc = cron_parse(bad_cases[i].expr, &e, err, sizeof(err));

        CU_ASSERT_EQUAL(rc, -EINVAL);
        if (strcmp(err, bad_cases[i].message) != 0) {
            fprintf(stderr, "\n  \"%s\": got '%s'\n  want '%s'\n", bad_cases[i].expr, err,
                    bad_cases[i].message);
            CU_FAIL("wrong error message");
        }
    }
}

static void test_parse_error_buffers(void)
{
    struct cron_expr e, before;
    char small[12];

    /* NULL text and NULL err are safe; a failed parse leaves *out alone. */
    memset(&e, 0xab, sizeof(e));
    before = e;
    CU_ASSERT_EQUAL(cron_parse(NULL, &e, NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(cron_parse("0 0 32 * *", &e, NULL, 0), -EINVAL);
    CU_ASSERT_TRUE(same_expr(&e, &before));
    /* A short buffer gets a truncated, terminated message. */
    CU_ASSERT_EQUAL(cron_parse("0 0 32 * *", &e, small, sizeof(small)), -EINVAL);
    CU_ASSERT_STRING_EQUAL(small, "field 3 (da");
    /* Long user text is quoted only in part. */
    {
        char err[256];
        CU_ASSERT_EQUAL(cron_parse("0 0 * * abcdefghijklmnopqrstuvwxyzabcdefghijklmnop", &e, err,
                                   sizeof(err)),
                        -EINVAL);
        CU_ASSERT_STRING_EQUAL(err,
                               "field 5 (day of week): unknown name "
                               "\"abcdefghijklmnopqrstuvwxyzabcdef\"");
    }
}

/* ---- next-fire tables ------------------------------------------------------ */

struct cron_case {
    const char *expr;
    const char *zone;
    const char *after;
    const char *want[MAX_FIRINGS]; /* successive firings; NEVER where -1 is due */
};

static const struct cron_case cron_cases[] = {
    /* every 5 minutes */
    {"*/5 * * * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-01T00:05:00+00:00", "2025-01-01T00:10:00+00:00", "2025-01-01T00:15:00+00:00"}},
    /* the manifest's nightly job */
    {"0 3 * * *", "Europe/Berlin", "2025-06-01T12:00:00Z",
     {"2025-06-02T03:00:00+02:00", "2025-06-03T03:00:00+02:00", "2025-06-04T03:00:00+02:00"}},
    /* spring forward: 02:30 is skipped, fires once at 03:00 CEST */
    {"30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z",
     {"2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00"}},
    /* fall back: 02:30 happens twice, fires at the first (CEST) */
    {"30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z",
     {"2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00", "2025-10-28T02:30:00+01:00"}},
    /* hourly over spring forward: 02:00 folds into 03:00 */
    {"0 * * * *", "Europe/Berlin", "2025-03-29T23:30:00Z",
     {"2025-03-30T01:00:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00",
      "2025-03-30T05:00:00+02:00"}},
    /* hourly over fall back: the hour is "*", so 02:00 fires in CEST and again in CET */
    {"0 * * * *", "Europe/Berlin", "2025-10-25T22:30:00Z",
     {"2025-10-26T01:00:00+02:00", "2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00",
      "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00"}},
    /* 02:00..02:45 skipped: one firing at 03:00 */
    {"*/15 * * * *", "Europe/Berlin", "2025-03-30T00:40:00Z",
     {"2025-03-30T01:45:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T03:15:00+02:00",
      "2025-03-30T03:30:00+02:00"}},
    /* after 02:45 CEST the repeated hour fires again, in CET */
    {"*/15 * * * *", "Europe/Berlin", "2025-10-26T00:40:00Z",
     {"2025-10-26T02:45:00+02:00", "2025-10-26T02:00:00+01:00", "2025-10-26T02:15:00+01:00",
      "2025-10-26T02:30:00+01:00"}},
    /* asked inside the repeated hour (02:10 CET): every minute goes on */
    {"* * * * *", "Europe/Berlin", "2025-10-26T01:10:00Z",
     {"2025-10-26T02:11:00+01:00", "2025-10-26T02:12:00+01:00"}},
    /* 02:00 already fired in CEST; next is tomorrow */
    {"0 2 * * *", "Europe/Berlin", "2025-10-26T00:30:00Z",
     {"2025-10-27T02:00:00+01:00", "2025-10-28T02:00:00+01:00"}},
    /* US spring forward */
    {"30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z",
     {"2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00", "2025-03-11T02:30:00-04:00"}},
    /* US fall back: 01:30 EDT only */
    {"30 1 * * *", "America/New_York", "2025-11-01T12:00:00Z",
     {"2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00", "2025-11-04T01:30:00-05:00"}},
    {"0 * * * *", "America/New_York", "2025-03-09T05:30:00Z",
     {"2025-03-09T01:00:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-09T04:00:00-04:00"}},
    /* the hour is "*": 01:00 EST (the repeat) fires too */
    {"0 * * * *", "America/New_York", "2025-11-02T04:30:00Z",
     {"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00",
      "2025-11-02T03:00:00-05:00"}},
    {"*/15 * * * *", "America/New_York", "2025-11-02T05:40:00Z",
     {"2025-11-02T01:45:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T01:15:00-05:00",
      "2025-11-02T01:30:00-05:00"}},
    /* weekdays, over a weekend and a DST change */
    {"15 10 * * 1-5", "America/New_York", "2025-03-07T16:00:00Z",
     {"2025-03-10T10:15:00-04:00", "2025-03-11T10:15:00-04:00", "2025-03-12T10:15:00-04:00"}},
    /* southern spring forward */
    {"30 2 * * *", "Australia/Sydney", "2025-10-04T00:00:00Z",
     {"2025-10-05T03:00:00+11:00", "2025-10-06T02:30:00+11:00", "2025-10-07T02:30:00+11:00"}},
    /* southern fall back */
    {"30 2 * * *", "Australia/Sydney", "2025-04-05T00:00:00Z",
     {"2025-04-06T02:30:00+11:00", "2025-04-07T02:30:00+10:00", "2025-04-08T02:30:00+10:00"}},
    /* 2018: midnight itself skipped, fires at 01:00 */
    {"0 0 * * *", "America/Sao_Paulo", "2018-11-02T12:00:00Z",
     {"2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"}},
    /* 2100: past the table, the footer rule */
    {"30 2 * * *", "Europe/Berlin", "2100-03-27T00:00:00Z",
     {"2100-03-27T02:30:00+01:00", "2100-03-28T03:00:00+02:00", "2100-03-29T02:30:00+02:00"}},
    /* 2100 fall back, footer rule */
    {"0 * * * *", "America/New_York", "2100-11-07T04:30:00Z",
     {"2100-11-07T01:00:00-04:00", "2100-11-07T01:00:00-05:00", "2100-11-07T02:00:00-05:00",
      "2100-11-07T03:00:00-05:00"}},
    /* a 30-minute DST shift */
    {"30 1 * * *", "Australia/Lord_Howe", "2025-10-04T12:00:00Z",
     {"2025-10-05T01:30:00+10:30", "2025-10-06T01:30:00+11:00", "2025-10-07T01:30:00+11:00"}},
    /* a half-hour offset */
    {"0,30 * * * *", "Asia/Kolkata", "2025-01-01T00:00:00Z",
     {"2025-01-01T06:00:00+05:30", "2025-01-01T06:30:00+05:30", "2025-01-01T07:00:00+05:30"}},
    /* leap days only */
    {"0 0 29 2 *", "UTC", "2025-01-01T00:00:00Z",
     {"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"}},
    /* 2100 is no leap year: an 8-year wait */
    {"0 0 29 2 *", "UTC", "2097-03-01T00:00:00Z",
     {"2104-02-29T00:00:00+00:00"}},
    /* months with 31 days only */
    {"0 0 31 * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-31T00:00:00+00:00", "2025-03-31T00:00:00+00:00", "2025-05-31T00:00:00+00:00",
      "2025-07-31T00:00:00+00:00"}},
    /* February has neither */
    {"59 23 30,31 * *", "UTC", "2025-02-01T00:00:00Z",
     {"2025-03-30T23:59:00+00:00", "2025-03-31T23:59:00+00:00", "2025-04-30T23:59:00+00:00",
      "2025-05-30T23:59:00+00:00"}},
    /* end of February, leap and not */
    {"0 0 28-31 2 *", "UTC", "2027-01-01T00:00:00Z",
     {"2027-02-28T00:00:00+00:00", "2028-02-28T00:00:00+00:00", "2028-02-29T00:00:00+00:00",
      "2029-02-28T00:00:00+00:00"}},
    /* both day fields: the 13th OR any Friday */
    {"0 0 13 * fri", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-03T00:00:00+00:00", "2025-01-10T00:00:00+00:00", "2025-01-13T00:00:00+00:00",
      "2025-01-17T00:00:00+00:00", "2025-01-24T00:00:00+00:00", "2025-01-31T00:00:00+00:00"}},
    {"0 0 13 * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-13T00:00:00+00:00", "2025-02-13T00:00:00+00:00", "2025-03-13T00:00:00+00:00"}},
    {"0 0 * * fri", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-03T00:00:00+00:00", "2025-01-10T00:00:00+00:00", "2025-01-17T00:00:00+00:00"}},
    {"0 0 1,15 * mon", "UTC", "2025-09-01T00:00:00Z",
     {"2025-09-08T00:00:00+00:00", "2025-09-15T00:00:00+00:00", "2025-09-22T00:00:00+00:00",
      "2025-09-29T00:00:00+00:00", "2025-10-01T00:00:00+00:00"}},
    /* ? as * in day of month */
    {"0 0 ? * mon-fri", "UTC", "2025-01-03T00:00:00Z",
     {"2025-01-06T00:00:00+00:00", "2025-01-07T00:00:00+00:00", "2025-01-08T00:00:00+00:00"}},
    /* ? as * in day of week */
    {"0 0 1 * ?", "UTC", "2025-01-03T00:00:00Z",
     {"2025-02-01T00:00:00+00:00", "2025-03-01T00:00:00+00:00"}},
    /* six fields: seconds */
    {"*/10 * * * * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-01T00:00:10+00:00", "2025-01-01T00:00:20+00:00", "2025-01-01T00:00:30+00:00"}},
    {"30 */2 * * * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-01T00:00:30+00:00", "2025-01-01T00:02:30+00:00", "2025-01-01T00:04:30+00:00"}},
    {"0 30 9 * * mon-fri", "Europe/Berlin", "2025-01-03T12:00:00Z",
     {"2025-01-06T09:30:00+01:00", "2025-01-07T09:30:00+01:00", "2025-01-08T09:30:00+01:00"}},
    /* month names, any case */
    {"0 9 * jan,JUL *", "UTC", "2025-01-31T12:00:00Z",
     {"2025-07-01T09:00:00+00:00", "2025-07-02T09:00:00+00:00"}},
    {"0 9 * * MON,Wed,fri", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-01T09:00:00+00:00", "2025-01-03T09:00:00+00:00", "2025-01-06T09:00:00+00:00",
      "2025-01-08T09:00:00+00:00"}},
    {"@yearly", "UTC", "2025-06-01T00:00:00Z",
     {"2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"}},
    {"@annually", "Europe/Berlin", "2025-06-01T00:00:00Z",
     {"2026-01-01T00:00:00+01:00"}},
    {"@monthly", "UTC", "2025-01-31T00:00:00Z",
     {"2025-02-01T00:00:00+00:00", "2025-03-01T00:00:00+00:00"}},
    {"@weekly", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-05T00:00:00+00:00", "2025-01-12T00:00:00+00:00"}},
    /* midnight before and after spring forward */
    {"@daily", "Europe/Berlin", "2025-03-29T12:00:00Z",
     {"2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00"}},
    {"@midnight", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-02T00:00:00+00:00"}},
    {"@hourly", "UTC", "2025-01-01T00:30:00Z",
     {"2025-01-01T01:00:00+00:00", "2025-01-01T02:00:00+00:00"}},
    /* stepped range */
    {"0 8-18/4 * * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-01T08:00:00+00:00", "2025-01-01T12:00:00+00:00", "2025-01-01T16:00:00+00:00",
      "2025-01-02T08:00:00+00:00"}},
    /* a/n: from a to the end */
    {"5/20 * * * *", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-01T00:05:00+00:00", "2025-01-01T00:25:00+00:00", "2025-01-01T00:45:00+00:00",
      "2025-01-01T01:05:00+00:00"}},
    /* 7 is Sunday */
    {"0 0 * * 7", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-05T00:00:00+00:00", "2025-01-12T00:00:00+00:00"}},
    /* a range closed by Sunday */
    {"0 0 * * fri-sun", "UTC", "2025-01-01T00:00:00Z",
     {"2025-01-03T00:00:00+00:00", "2025-01-04T00:00:00+00:00", "2025-01-05T00:00:00+00:00",
      "2025-01-10T00:00:00+00:00"}},
    /* quarterly */
    {"0 0 1 */3 *", "UTC", "2025-02-01T00:00:00Z",
     {"2025-04-01T00:00:00+00:00", "2025-07-01T00:00:00+00:00", "2025-10-01T00:00:00+00:00"}},
    {"0 12 * * *", "Australia/Sydney", "2025-04-05T00:00:00Z",
     {"2025-04-05T12:00:00+11:00", "2025-04-06T12:00:00+10:00"}},
    /* every second across the gap */
    {"* * * * * *", "Europe/Berlin", "2025-03-30T00:59:58Z",
     {"2025-03-30T01:59:59+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T03:00:01+02:00"}},
    /* 30 April is the last: never */
    {"0 0 31 4 *", "UTC", "2025-01-01T00:00:00Z",
     {NEVER}},
    /* impossible: -1 after the 8-year search */
    {"0 0 30 2 *", "UTC", "2025-01-01T00:00:00Z",
     {NEVER}},
};

static void test_cron_tables(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(cron_cases); i++) {
        const struct cron_case *c = &cron_cases[i];
        struct trigger t = cron_trigger(c->expr, c->zone);
        int64_t after = at(c->after);

        for (int k = 0; k < MAX_FIRINGS && c->want[k]; k++) {
            int64_t got = trigger_next(&t, after, 0);
            char buf[RFC3339_BUFLEN] = "-1";
            bool never = strcmp(c->want[k], NEVER) == 0;

            if (got >= 0)
                rfc3339_format(got, t.tz, false, buf, sizeof(buf));
            if (never ? got != -1 : got != at(c->want[k]) || strcmp(buf, c->want[k]) != 0) {
                fprintf(stderr, "\n  \"%s\" in %s after %s: firing %d is %s, want %s\n",
                        c->expr, c->zone, c->after, k + 1, buf, c->want[k]);
                CU_FAIL("wrong firing");
                break;
            }
            if (never)
                break;
            CU_ASSERT(got > after);
            after = got;
        }
    }
}

/* Firings are strictly after `after`, also for instants between seconds. */
static void test_cron_strictly_after(void)
{
    struct trigger t = cron_trigger("* * * * * *", "UTC");
    struct trigger m = cron_trigger("0 3 * * *", "Europe/Berlin");
    int64_t base = at("2025-06-01T12:00:00Z");

    CU_ASSERT_EQUAL(trigger_next(&t, base, 0), base + SEC(1));
    CU_ASSERT_EQUAL(trigger_next(&t, base - 1, 0), base);
    CU_ASSERT_EQUAL(trigger_next(&t, base + 500000000, 0), base + SEC(1));
    CU_ASSERT_EQUAL(trigger_next(&m, at("2025-06-02T03:00:00+02:00") - 1, 0),
                    at("2025-06-02T03:00:00+02:00"));
    CU_ASSERT_EQUAL(trigger_next(&m, at("2025-06-02T03:00:00+02:00"), 0),
                    at("2025-06-03T03:00:00+02:00"));
    /* Before 1970: negative instants round the right way. */
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(-10) - 1, 0), SEC(-10));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(-10), 0), SEC(-9));
}

/* Over a whole DST day, asked from every minute and second between: every
 * answer lies after the question; a chain of firings of a fixed-hour
 * expression never shows the same wall-clock reading twice, and one whose
 * hour field spans hours shows a reading at most twice (the two passes of
 * a fall-back's repeated hour). */
static void sweep(const char *expr, const char *zone_name, const char *day_start)
{
    struct trigger t = cron_trigger(expr, zone_name);
    int64_t start = at(day_start), prev = -1, after;
    int64_t readings[4096];
    size_t n = 0;
    bool after_ok = true, readings_ok = true;

    for (after = start; after < start + SEC(26 * 3600); after += SEC(60) + 7 * NS_PER_SEC / 10) {
        if (trigger_next(&t, after, 0) <= after)
            after_ok = false;
    }
    for (after = start; after < start + SEC(26 * 3600) && n < ARRAY_SIZE(readings); after = prev) {
        struct civil now;
        size_t seen = 0;
        prev = trigger_next(&t, after, 0);
        CU_ASSERT_FATAL(prev > after);
        tz_to_civil(t.tz, prev / NS_PER_SEC, &now);
        readings[n] = tz_utc_from_civil(&now);
        for (size_t i = 0; i < n; i++)
            seen += readings[i] == readings[n];
        if (seen > (t.cron.hour_span ? 1u : 0u))
            readings_ok = false;
        n++;
    }
    if (!after_ok || !readings_ok)
        fprintf(stderr, "\n  \"%s\" in %s from %s\n", expr, zone_name, day_start);
    CU_ASSERT_TRUE(after_ok);
    CU_ASSERT_TRUE(readings_ok);
}

static void test_cron_dst_sweeps(void)
{
    static const char *const exprs[] = {"* * * * *", "*/15 * * * *", "0 * * * *", "30 2 * * *",
                                        "0 2 * * *", "*/7 1-3 * * *", "59 1 * * *", "0 1,2 * * *"};
    static const char *const days[][2] = {
        {"Europe/Berlin", "2025-03-29T22:00:00Z"},    {"Europe/Berlin", "2025-10-25T22:00:00Z"},
        {"America/New_York", "2025-03-09T04:00:00Z"}, {"America/New_York", "2025-11-02T03:00:00Z"},
        {"Australia/Lord_Howe", "2025-04-05T12:00:00Z"},
        {"Australia/Lord_Howe", "2025-10-04T12:00:00Z"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(exprs); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(days); j++)
            sweep(exprs[i], days[j][0], days[j][1]);
    }
}

/* The DST rule as cron users expect it: through a fall-back a job whose
 * hour is "*", a range or a step fires in both passes of the repeated hour,
 * a fixed hour fires once, at the first; times a spring-forward skips fire
 * once, at the change. */
static void test_cron_dst_rule(void)
{
    static const struct {
        const char *expr, *zone, *from;
        const char *want[5];
    } cases[] = {
        {"*/30 * * * *", "Europe/Berlin", "2025-10-26T01:45:00+02:00",
         {"2025-10-26T02:00:00+02:00", "2025-10-26T02:30:00+02:00", "2025-10-26T02:00:00+01:00",
          "2025-10-26T02:30:00+01:00", "2025-10-26T03:00:00+01:00"}},
        {"*/5 * * * *", "Europe/Berlin", "2025-10-26T02:50:00+02:00",
         {"2025-10-26T02:55:00+02:00", "2025-10-26T02:00:00+01:00", "2025-10-26T02:05:00+01:00"}},
        {"0 * * * *", "America/New_York", "2025-11-02T00:30:00-04:00",
         {"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00"}},
        {"30 1 * * *", "America/New_York", "2025-11-01T12:00:00-04:00",
         {"2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"}},
        {"0 1-2 * * *", "America/New_York", "2025-11-02T00:30:00-04:00",
         {"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00"}},
        {"*/15 * * * *", "Australia/Lord_Howe", "2025-04-06T01:20:00+11:00",
         {"2025-04-06T01:30:00+11:00", "2025-04-06T01:45:00+11:00", "2025-04-06T01:30:00+10:30",
          "2025-04-06T01:45:00+10:30", "2025-04-06T02:00:00+10:30"}},
        {"45 1 * * *", "Australia/Lord_Howe", "2025-04-05T12:00:00+11:00",
         {"2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"}},
        /* spring forward */
        {"*/30 * * * *", "Europe/Berlin", "2025-03-30T01:45:00+01:00",
         {"2025-03-30T03:00:00+02:00", "2025-03-30T03:30:00+02:00"}},
        {"30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00+01:00",
         {"2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"}},
        {"30 2 * * *", "America/New_York", "2025-03-08T12:00:00-05:00",
         {"2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"}},
        {"*/15 * * * *", "Australia/Lord_Howe", "2025-10-05T01:40:00+10:30",
         {"2025-10-05T01:45:00+10:30", "2025-10-05T02:30:00+11:00", "2025-10-05T02:45:00+11:00"}},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct trigger t = cron_trigger(cases[i].expr, cases[i].zone);
        int64_t after = at(cases[i].from);
        for (size_t k = 0; k < ARRAY_SIZE(cases[i].want) && cases[i].want[k]; k++) {
            int64_t got = trigger_next(&t, after, 0);
            if (got != at(cases[i].want[k])) {
                char text[64];
                rfc3339_format(got, t.tz, false, text, sizeof(text));
                fprintf(stderr, "\n  \"%s\" in %s, firing %zu: got %s, want %s\n",
                        cases[i].expr, cases[i].zone, k, text, cases[i].want[k]);
                CU_FAIL("DST rule");
                break;
            }
            after = got;
        }
    }
}

static void test_cron_start_end(void)
{
    struct trigger t = cron_trigger("0 3 * * *", "Europe/Berlin");
    int64_t after = at("2025-06-01T12:00:00Z");

    t.end_ns = at("2025-06-03T03:00:00+02:00");
    CU_ASSERT_EQUAL(trigger_next(&t, after, 0), at("2025-06-02T03:00:00+02:00"));
    CU_ASSERT_EQUAL(trigger_next(&t, at("2025-06-02T03:00:00+02:00"), 0),
                    at("2025-06-03T03:00:00+02:00")); /* at the end itself: still fires */
    CU_ASSERT_EQUAL(trigger_next(&t, at("2025-06-03T03:00:00+02:00"), 0), -1);
    t.end_ns = 0;
    t.start_ns = at("2025-06-10T00:00:00Z");
    CU_ASSERT_EQUAL(trigger_next(&t, after, 0), at("2025-06-10T03:00:00+02:00"));
    t.start_ns = at("2025-06-10T03:00:00+02:00"); /* a firing at the start counts */
    CU_ASSERT_EQUAL(trigger_next(&t, after, 0), at("2025-06-10T03:00:00+02:00"));
    CU_ASSERT_EQUAL(trigger_next(&t, t.start_ns, 0), at("2025-06-11T03:00:00+02:00"));
}

/* tz NULL means the host zone, whatever the environment makes it. */
static void test_cron_local_zone(void)
{
    struct trigger a = cron_trigger("*/20 3 * * *", "UTC");
    struct trigger b = a;
    int64_t after = at("2025-10-25T12:00:00Z");

    a.tz = NULL;
    b.tz = tz_local();
    for (int i = 0; i < 10; i++) {
        int64_t x = trigger_next(&a, after, 0);
        CU_ASSERT_EQUAL(x, trigger_next(&b, after, 0));
        after = x;
    }
}

/* ---- interval, date, none --------------------------------------------------- */

static void test_interval(void)
{
    struct trigger t = {.kind = TRIGGER_INTERVAL, .interval_ns = SEC(10)};

    /* Phase from the anchor: anchor + k * interval, strictly after. */
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(999), SEC(1000)), SEC(1000));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1000), SEC(1000)), SEC(1010));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1005), SEC(1000)), SEC(1010));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1010) - 1, SEC(1000)), SEC(1010));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(123456), SEC(1000)), SEC(123460));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1000), SEC(1003)), SEC(1003));
    /* start_ns wins over the anchor and is the first firing. */
    t.start_ns = SEC(2000);
    CU_ASSERT_EQUAL(trigger_next(&t, 0, SEC(1003)), SEC(2000));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1999), SEC(1003)), SEC(2000));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(2000), SEC(1003)), SEC(2010));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(2001), SEC(1003)), SEC(2010));
    /* end_ns: a firing at the end still happens, none after. */
    t.end_ns = SEC(2030);
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(2020), 0), SEC(2030));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(2030), 0), -1);
    t.end_ns = SEC(2025);
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(2020), 0), -1);
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(2015), 0), SEC(2020));
    /* Sub-second periods and a bad period. */
    t = (struct trigger){.kind = TRIGGER_INTERVAL, .interval_ns = 250 * NS_PER_MS};
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1), 0), SEC(1) + 250 * NS_PER_MS);
    t.interval_ns = 0;
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1), 0), -1);
    t.interval_ns = -SEC(1);
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(1), 0), -1);
    /* Running off the end of int64: -1, not a wrapped time. */
    t.interval_ns = SEC(3600);
    CU_ASSERT_EQUAL(trigger_next(&t, INT64_MAX - 5, 0), -1);
}

static void test_date_and_none(void)
{
    struct trigger t = {.kind = TRIGGER_DATE, .at_ns = SEC(5000)};
    struct trigger none = {.kind = TRIGGER_NONE};

    CU_ASSERT_EQUAL(trigger_next(&t, SEC(4999), 0), SEC(5000));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(5000) - 1, 0), SEC(5000));
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(5000), 0), -1);
    CU_ASSERT_EQUAL(trigger_next(&t, SEC(9000), 0), -1);
    CU_ASSERT_EQUAL(trigger_next(&none, 0, 0), -1);
    CU_ASSERT_EQUAL(trigger_next(&none, SEC(5000), SEC(1)), -1);
}

/* ---- RFC 3339 --------------------------------------------------------------- */

static void test_rfc3339_parse(void)
{
    static const struct {
        const char *text;
        int64_t ns;
    } good[] = {
        {"2026-03-29T02:30:00Z", SEC(1774751400)},
        {"2026-03-29T02:30:00+01:00", SEC(1774747800)},
        {"2026-03-29T02:30:00-05:00", SEC(1774769400)},
        {"2026-03-29t02:30:00z", SEC(1774751400)},
        {"2026-03-29 02:30:00Z", SEC(1774751400)},
        {"2026-03-29T02:30:00-00:00", SEC(1774751400)},
        {"2026-03-29T02:30:00.5Z", SEC(1774751400) + 500000000},
        {"2026-03-29T02:30:00.123456789Z", SEC(1774751400) + 123456789},
        {"2026-03-29T02:30:00.1234567899Z", SEC(1774751400) + 123456789},
        {"2028-02-29T23:59:59Z", SEC(1835481599)},
        {"2000-01-01T00:00:00+14:00", SEC(946634400)},
        {"2025-12-31T23:59:59-12:00", SEC(1767268799)},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999999999Z", -1},
        {"2262-04-11T23:47:16.854775807Z", INT64_MAX},
        {"1677-09-21T00:12:43.145224192Z", INT64_MIN},
    };
    static const char *const bad[] = {
        "",
        "2026-03-29",
        "2026-03-29T02:30Z",
        "2026-03-29T02:30:00",           /* no offset */
        "2026-02-29T00:00:00Z",          /* not a leap year */
        "2100-02-29T00:00:00Z",          /* nor is 2100 */
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-12-31T23:59:60Z",          /* leap second: Unix time has none */
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60",
        "2026-01-01T00:00:00+1:00",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00Zjunk",
        "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01X00:00:00Z",
        "2262-04-11T23:47:16.854775808Z", /* one past INT64_MAX */
        "9999-12-31T23:59:59Z",
        "1600-01-01T00:00:00Z",
    };
    int64_t ns;

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        ns = 42;
        CU_ASSERT_EQUAL(rfc3339_parse(good[i].text, &ns), 0);
        if (ns != good[i].ns) {
            fprintf(stderr, "\n  \"%s\" -> %lld\n", good[i].text, (long long)ns);
            CU_FAIL("wrong instant");
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (rfc3339_parse(bad[i], &ns) != -EINVAL) {
            fprintf(stderr, "\n  \"%s\" accepted\n", bad[i]);
            CU_FAIL("bad RFC 3339 time accepted");
        }
    }
    CU_ASSERT_EQUAL(rfc3339_parse(NULL, &ns), -EINVAL);
}

static int64_t floor_ms(int64_t ns)
{
    int64_t q = ns / NS_PER_MS;

    return (ns % NS_PER_MS < 0 ? q - 1 : q) * NS_PER_MS;
}

static void test_rfc3339_format(void)
{
    static const struct {
        int64_t ns;
        const char *zone;
        bool millis;
        const char *want;
    } cases[] = {
        {SEC(1774751400), "UTC", false, "2026-03-29T02:30:00+00:00"},
        {SEC(1774751400), "Europe/Berlin", false, "2026-03-29T04:30:00+02:00"},
        {SEC(1774746000), "Europe/Berlin", false, "2026-03-29T03:00:00+02:00"},
        {SEC(1774745999), "Europe/Berlin", false, "2026-03-29T01:59:59+01:00"},
        {SEC(1774751400), "America/New_York", false, "2026-03-28T22:30:00-04:00"},
        {SEC(1774751400) + 123999999, "Asia/Kolkata", true, "2026-03-29T08:00:00.123+05:30"},
        {SEC(1774751400), "UTC", true, "2026-03-29T02:30:00.000+00:00"},
        {-500000000, "UTC", true, "1969-12-31T23:59:59.500+00:00"},
        {0, "America/St_Johns", false, "1969-12-31T20:30:00-03:30"},
        /* Local mean time +00:53:28 is cut to +00:53 with the clock to match. */
        {SEC(-2524521600), "Europe/Berlin", false, "1890-01-01T00:53:00+00:53"},
        {SEC(4102444800), "Europe/Berlin", false, "2100-01-01T01:00:00+01:00"},
        {SEC(4118083200), "Europe/Berlin", false, "2100-07-01T02:00:00+02:00"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char buf[RFC3339_BUFLEN];
        int64_t back;

        rfc3339_format(cases[i].ns, zone(cases[i].zone), cases[i].millis, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0) {
            fprintf(stderr, "\n  got %s want %s\n", buf, cases[i].want);
            CU_FAIL("wrong RFC 3339 text");
        }
        /* Round trip: the text names the same instant (to the ms shown). */
        CU_ASSERT_EQUAL(rfc3339_parse(buf, &back), 0);
        CU_ASSERT_EQUAL(back, cases[i].millis ? floor_ms(cases[i].ns) : cases[i].ns);
    }
}

static void test_rfc3339_round_trip(void)
{
    const struct tz *zones[] = {zone("UTC"), zone("Europe/Berlin"), zone("America/New_York"),
                                zone("Australia/Lord_Howe"), zone("Asia/Kolkata")};
    char buf[RFC3339_BUFLEN];
    int64_t back;

    /* Every 37 hours 13 minutes 17.25 seconds from 1971 to 2100, in each zone. */
    for (int64_t ns = SEC(31536000); ns < SEC(4102444800);
         ns += SEC(37 * 3600 + 13 * 60 + 17) + 250 * NS_PER_MS) {
        for (size_t z = 0; z < ARRAY_SIZE(zones); z++) {
            rfc3339_format(ns, zones[z], true, buf, sizeof(buf));
            if (rfc3339_parse(buf, &back) != 0 || back != ns) {
                fprintf(stderr, "\n  %lld -> %s -> %lld\n", (long long)ns, buf, (long long)back);
                CU_FAIL_FATAL("round trip failed");
            }
        }
    }
}

static void test_rfc3339_small_buffer(void)
{
    char buf[11];

    CU_ASSERT_PTR_EQUAL(rfc3339_format(0, zone("UTC"), false, buf, sizeof(buf)), buf);
    CU_ASSERT_STRING_EQUAL(buf, "1970-01-01");
    CU_ASSERT_PTR_NULL(rfc3339_format(0, zone("UTC"), false, NULL, 0));
}

/* --- equality and hash ------------------------------------------------------ */

static struct trigger base_trigger(void)
{
    struct trigger t = {.kind = TRIGGER_CRON};
    char err[128];

    CU_ASSERT_EQUAL(cron_parse("*/5 * * * *", &t.cron, err, sizeof(err)), 0);
    t.tz = tz_get("UTC", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(t.tz);
    t.start_ns = 1000;
    t.end_ns = 2000;
    t.jitter_ns = 3;
    return t;
}

/* Changes field number `field` of t; false past the last one. */
static bool change_field(struct trigger *t, int field, const struct tz *other)
{
    switch (field) {
    case 0: t->kind = TRIGGER_INTERVAL; break;
    case 1: t->cron.seconds ^= 2; break;
    case 2: t->cron.minutes ^= 2; break;
    case 3: t->cron.hours ^= 2; break;
    case 4: t->cron.mdays ^= 2; break;
    case 5: t->cron.months ^= 2; break;
    case 6: t->cron.wdays ^= 2; break;
    case 7: t->cron.mday_star = !t->cron.mday_star; break;
    case 8: t->cron.wday_star = !t->cron.wday_star; break;
    case 9: t->tz = NULL; break;
    case 10: t->tz = other; break;
    case 11: t->interval_ns = 1; break;
    case 12: t->start_ns++; break;
    case 13: t->end_ns++; break;
    case 14: t->jitter_ns++; break;
    case 15: t->at_ns = 1; break;
    default: return false;
    }
    return true;
}

/* Each change of one field that decides when a trigger fires makes it
 * unequal, with another hash; a copy is equal, with the same hash. */
static void test_equal_and_hash(void)
{
    const struct trigger base = base_trigger();
    struct trigger t = base;
    char err[128];
    const struct tz *berlin = tz_get("Europe/Berlin", err, sizeof(err));
    struct trigger variants[16];
    size_t n = 0;

    CU_ASSERT_TRUE(trigger_equal(&base, &t));
    CU_ASSERT_EQUAL(trigger_hash(&base), trigger_hash(&t));
    CU_ASSERT_NOT_EQUAL(trigger_hash(&base), 0);

    CU_ASSERT_PTR_NOT_NULL_FATAL(berlin);
    for (int field = 0; n < ARRAY_SIZE(variants); field++) {
        t = base;
        if (!change_field(&t, field, berlin))
            break;
        variants[n++] = t;
    }
    CU_ASSERT_EQUAL(n, 16);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_FALSE(trigger_equal(&base, &variants[i]));
        CU_ASSERT_FALSE(trigger_equal(&variants[i], &base));
        CU_ASSERT_NOT_EQUAL(trigger_hash(&base), trigger_hash(&variants[i]));
        CU_ASSERT_NOT_EQUAL(trigger_hash(&variants[i]), 0);
        for (size_t j = 0; j < i; j++)
            CU_ASSERT_NOT_EQUAL(trigger_hash(&variants[i]), trigger_hash(&variants[j]));
    }

    /* the zone counts by name: the same zone looked up again is equal */
    t = base;
    t.tz = tz_get("UTC", err, sizeof(err));
    CU_ASSERT_TRUE(trigger_equal(&base, &t));
    /* two triggers in the host's zone are equal */
    struct trigger a = base, b = base;
    a.tz = b.tz = NULL;
    CU_ASSERT_TRUE(trigger_equal(&a, &b));
    CU_ASSERT_EQUAL(trigger_hash(&a), trigger_hash(&b));
    /* nothing set: TRIGGER_NONE */
    struct trigger none = {0}, none2 = {0};
    CU_ASSERT_TRUE(trigger_equal(&none, &none2));
    CU_ASSERT_NOT_EQUAL(trigger_hash(&none), 0);
}

/* The hash is stable: the same fields give the same value in every run,
 * build and host, so it may be stored. Pinned here. */
static void test_hash_stable(void)
{
    struct trigger t = {.kind = TRIGGER_INTERVAL, .interval_ns = 10 * NS_PER_SEC};
    struct trigger c = base_trigger();

    CU_ASSERT_EQUAL(trigger_hash(&t), UINT64_C(0xa0c2307a40e2c102));
    CU_ASSERT_EQUAL(trigger_hash(&c), UINT64_C(0x86a834a6c9d85a1e));
}


/* ---- trigger_count, trigger_last ------------------------------------------- */

/* Firings in (a, b] one by one, and the last of them (-1: none). */
static uint64_t brute_count(const struct trigger *t, int64_t a, int64_t b, int64_t anchor,
                            int64_t *last)
{
    uint64_t n = 0;
    *last = -1;
    for (int64_t x = trigger_next(t, a, anchor); x >= 0 && x <= b; x = trigger_next(t, x, anchor)) {
        n++;
        *last = x;
    }
    return n;
}

static void check_span(const struct trigger *t, int64_t a, int64_t b, int64_t anchor,
                       const char *what)
{
    int64_t last, got_last = trigger_last(t, a, b, anchor);
    uint64_t want = brute_count(t, a, b, anchor, &last), got = trigger_count(t, a, b, anchor);

    if (got != want || got_last != last)
        fprintf(stderr, "\n%s: (%lld, %lld]: count %llu, want %llu; last %lld, want %lld\n", what,
                (long long)a, (long long)b, (unsigned long long)got, (unsigned long long)want,
                (long long)got_last, (long long)last);
    CU_ASSERT_EQUAL(got, want);
    CU_ASSERT_EQUAL(got_last, last);
}

/* Counting by whole days agrees with listing one by one, across DST
 * changes of both kinds, odd offsets (Lord Howe's half hour) and windows
 * that start and end mid-day. */
static void test_count_matches_listing(void)
{
    static const char *const exprs[] = {"* * * * * *", "*/7 * * * * *", "* * * * *",
                                        "*/15 * 1-3 * *", "0 * * * *", "30 2 * * *",
                                        "*/10 * * * * 1-5", "0 0 29 2 *"};
    static const struct {
        const char *zone, *from, *to;
    } spans[] = {
        {"Europe/Berlin", "2025-03-28T13:14:15+01:00", "2025-04-01T09:00:00+02:00"},
        {"Europe/Berlin", "2025-10-24T23:59:59+02:00", "2025-10-28T00:00:00+01:00"},
        {"America/New_York", "2025-11-01T00:00:00-04:00", "2025-11-03T12:30:00-05:00"},
        {"Australia/Lord_Howe", "2025-04-04T12:00:00+11:00", "2025-04-08T00:00:01+10:30"},
        {"UTC", "2025-06-01T00:00:00Z", "2025-06-03T00:00:00Z"},
        {"UTC", "2025-06-01T10:00:00Z", "2025-06-01T10:00:30Z"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(exprs); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(spans); j++) {
            struct trigger t = cron_trigger(exprs[i], spans[j].zone);
            char what[128];
            sfmt(what, sizeof(what), "\"%s\" in %s", exprs[i], spans[j].zone);
            check_span(&t, at(spans[j].from), at(spans[j].to), 0, what);
            if (i > 0) /* the per-second listing is the slow part: once is enough */
                check_span(&t, at(spans[j].from) + 1, at(spans[j].to) - 1, 0, what);
        }
    }
}

static void test_count_bounds_and_kinds(void)
{
    struct trigger t = cron_trigger("* * * * * *", "Europe/Berlin");
    struct trigger iv = {.kind = TRIGGER_INTERVAL, .interval_ns = SEC(7)};
    struct trigger d = {.kind = TRIGGER_DATE, .at_ns = at("2025-06-01T12:00:00Z")};
    int64_t a = at("2025-06-01T00:00:00Z");

    /* cron start and end cut the span */
    t.start_ns = a + SEC(10) + 1;
    t.end_ns = a + SEC(20);
    CU_ASSERT_EQUAL(trigger_count(&t, a, a + SEC(100), 0), 10);
    CU_ASSERT_EQUAL(trigger_last(&t, a, a + SEC(100), 0), a + SEC(20));
    /* intervals: anchor + k * period */
    check_span(&iv, a, a + SEC(100), a, "interval");
    check_span(&iv, a - SEC(50), a + SEC(100), a, "interval before its anchor");
    CU_ASSERT_EQUAL(trigger_count(&iv, a + SEC(1), a + SEC(6), a), 0);
    CU_ASSERT_EQUAL(trigger_last(&iv, a + SEC(1), a + SEC(6), a), -1);
    iv.end_ns = a + SEC(30);
    check_span(&iv, a, a + SEC(100), a, "interval with an end");
    /* a date, inside and outside */
    CU_ASSERT_EQUAL(trigger_count(&d, a, a + SEC(86400), 0), 1);
    CU_ASSERT_EQUAL(trigger_last(&d, a, a + SEC(86400), 0), d.at_ns);
    CU_ASSERT_EQUAL(trigger_count(&d, d.at_ns, a + SEC(86400), 0), 0);
    CU_ASSERT_EQUAL(trigger_count(&t, a + SEC(5), a, 0), 0);
}

/* A year of a per-second job, across both of a year's DST changes, is
 * counted, not listed: 365 * 86400 readings, less the spring-forward hour
 * (its 3600 readings fire once, at the change, with the reading 03:00:00),
 * plus the repeated hour of the fall-back (a spanning hour fires in both
 * passes). */
static void test_count_a_year_quickly(void)
{
    struct trigger t = cron_trigger("* * * * * *", "Europe/Berlin");
    int64_t a = at("2025-01-01T00:00:00+01:00"), b = at("2026-01-01T00:00:00+01:00");

    CU_ASSERT_EQUAL(trigger_count(&t, a - 1, b - 1, 0), 365ull * 86400 - 3600 + 3600);
    CU_ASSERT_EQUAL(trigger_last(&t, a, b, 0), b);
    t = cron_trigger("0 3 * * *", "UTC");
    CU_ASSERT_EQUAL(trigger_count(&t, a, a + SEC(86400) * 3650, 0), 3650);
}

static void test_utc_offset_names_the_pass(void)
{
    struct trigger t = cron_trigger("30 2 * * *", "Europe/Berlin");
    char buf[RFC3339_BUFLEN];
    int64_t first = at("2025-10-26T02:30:00+02:00"), second = at("2025-10-26T02:30:00+01:00");

    CU_ASSERT_EQUAL(trigger_utc_offset(&t, first), 7200);
    CU_ASSERT_EQUAL(trigger_utc_offset(&t, second), 3600);
    ASSERT_STR(rfc3339_format_offset(second, 3600, false, buf, sizeof(buf)),
               "2025-10-26T02:30:00+01:00");
    ASSERT_STR(rfc3339_format_offset(first + 5 * NS_PER_MS, 7200, true, buf, sizeof(buf)),
               "2025-10-26T02:30:00.005+02:00");
    ASSERT_STR(rfc3339_format_offset(first, -(5 * 3600 + 30 * 60), false, buf, sizeof(buf)),
               "2025-10-25T19:00:00-05:30");
}

static const struct cu_test parse_tests[] = {
    {"fields", test_parse_fields},
    {"macros", test_parse_macros},
    {"errors", test_parse_errors},
    {"error buffers", test_parse_error_buffers},
    {NULL, NULL},
};

static const struct cu_test next_tests[] = {
    {"tables", test_cron_tables},
    {"strictly after", test_cron_strictly_after},
    {"DST rule: spanning hours repeat, fixed hours once", test_cron_dst_rule},
    {"DST sweeps", test_cron_dst_sweeps},
    {"start and end", test_cron_start_end},
    {"local zone", test_cron_local_zone},
    {"interval", test_interval},
    {"date and none", test_date_and_none},
    {NULL, NULL},
};

static const struct cu_test count_tests[] = {
    {"count and last agree with listing", test_count_matches_listing},
    {"bounds, intervals and dates", test_count_bounds_and_kinds},
    {"a year of seconds, counted", test_count_a_year_quickly},
    {"the UTC offset names the pass", test_utc_offset_names_the_pass},
    {NULL, NULL},
};

static const struct cu_test rfc3339_tests[] = {
    {"parse", test_rfc3339_parse},
    {"format", test_rfc3339_format},
    {"round trip", test_rfc3339_round_trip},
    {"small buffer", test_rfc3339_small_buffer},
    {NULL, NULL},
};

static const struct cu_test equal_tests[] = {
    {"every field counts", test_equal_and_hash},
    {"hash is stable", test_hash_stable},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"cron_parse", parse_tests},
    {"trigger_next", next_tests},
    {"trigger_count and trigger_last", count_tests},
    {"rfc3339", rfc3339_tests},
    {"trigger_equal and trigger_hash", equal_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
