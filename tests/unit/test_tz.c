/*
 * Unit tests for tz.c: the calendar arithmetic, offsets from TZif tables and
 * from POSIX footers (years past the tables, e.g. 2100), civil <-> UTC with
 * the DST rule (gap -> instant of the change, fold -> first occurrence),
 * POSIX TZ strings in all rule forms, hand-built TZif v1/v2 files read
 * through $TZDIR, refused names and files, the cache under threads.
 *
 * Expected offsets were taken from Python's zoneinfo over the same tzdata.
 * The first test fixes $TZ before anything asks for the host zone, which is
 * decided once per process; no test reads the clock.
 */
#include <stdlib.h> /* cu_main.h calls getenv */

#include "cu_main.h"

#include "lib/tz.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct civil c = {y, mo, d, h, mi, s, 0};

    return tz_utc_from_civil(&c);
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

static bool civil_is(const struct civil *c, int y, int mo, int d, int h, int mi, int s)
{
    return c->year == y && c->month == mo && c->mday == d && c->hour == h && c->min == mi &&
           c->sec == s;
}

/* ---- host zone (must run first) -------------------------------------------- */

static void test_local_from_env(void)
{
    const struct tz *z;

    setenv("TZ", ":Europe/Berlin", 1);
    z = tz_local();
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_STRING_EQUAL(tz_name(z), "Europe/Berlin");
    CU_ASSERT_PTR_EQUAL(z, zone("Europe/Berlin"));
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 7, 15, 12, 0, 0)), 7200);
    /* NULL means the host zone everywhere; it is decided once. */
    CU_ASSERT_EQUAL(tz_offset_at(NULL, utc(2025, 1, 15, 12, 0, 0)), 3600);
    CU_ASSERT_STRING_EQUAL(tz_name(NULL), "Europe/Berlin");
    setenv("TZ", "UTC", 1);
    CU_ASSERT_PTR_EQUAL(tz_local(), z);
    unsetenv("TZ");
}

/* ---- calendar ---------------------------------------------------------------- */

static void test_calendar_known_days(void)
{
    struct civil c;

    CU_ASSERT_EQUAL(utc(1970, 1, 1, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(utc(1969, 12, 31, 0, 0, 0), -86400);
    CU_ASSERT_EQUAL(utc(2000, 3, 1, 0, 0, 0), 951868800);
    CU_ASSERT_EQUAL(utc(1900, 3, 1, 0, 0, 0), -2203891200);
    CU_ASSERT_EQUAL(utc(2100, 3, 1, 0, 0, 0), 4107542400);
    CU_ASSERT_EQUAL(utc(1600, 3, 1, 0, 0, 0), -11670912000);
    CU_ASSERT_EQUAL(utc(1, 1, 1, 0, 0, 0), -62135596800);
    CU_ASSERT_EQUAL(utc(9999, 12, 31, 0, 0, 0), 253402214400);
    CU_ASSERT_EQUAL(utc(2038, 1, 19, 3, 14, 8), INT64_C(2147483648));

    tz_utc_to_civil(-1, &c);
    CU_ASSERT_TRUE(civil_is(&c, 1969, 12, 31, 23, 59, 59));
    CU_ASSERT_EQUAL(c.wday, 3);
    tz_utc_to_civil(0, &c);
    CU_ASSERT_EQUAL(c.wday, 4); /* Thursday */
    tz_utc_to_civil(utc(2025, 3, 29, 12, 0, 0), &c);
    CU_ASSERT_EQUAL(c.wday, 6); /* Saturday */
    tz_utc_to_civil(-62135596800, &c);
    CU_ASSERT_TRUE(civil_is(&c, 1, 1, 1, 0, 0, 0));
    CU_ASSERT_EQUAL(c.wday, 1); /* 1 January 1 (proleptic) was a Monday */

    CU_ASSERT_EQUAL(tz_days_in_month(2024, 2), 29);
    CU_ASSERT_EQUAL(tz_days_in_month(2025, 2), 28);
    CU_ASSERT_EQUAL(tz_days_in_month(2000, 2), 29);
    CU_ASSERT_EQUAL(tz_days_in_month(1900, 2), 28);
    CU_ASSERT_EQUAL(tz_days_in_month(2100, 2), 28);
    CU_ASSERT_EQUAL(tz_days_in_month(2025, 4), 30);
    CU_ASSERT_EQUAL(tz_days_in_month(2025, 12), 31);
    CU_ASSERT_EQUAL(tz_days_in_month(2025, 13), 0);
}

/* Out-of-range fields carry over, as timegm does. */
static void test_calendar_carry(void)
{
    CU_ASSERT_EQUAL(utc(2025, 1, 32, 0, 0, 0), utc(2025, 2, 1, 0, 0, 0));
    CU_ASSERT_EQUAL(utc(2025, 12, 31, 24, 0, 0), utc(2026, 1, 1, 0, 0, 0));
    CU_ASSERT_EQUAL(utc(2025, 3, 1, 0, 0, -1), utc(2025, 2, 28, 23, 59, 59));
    CU_ASSERT_EQUAL(utc(2024, 3, 0, 0, 0, 0), utc(2024, 2, 29, 0, 0, 0));
    CU_ASSERT_EQUAL(utc(2025, 13, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 0));
    CU_ASSERT_EQUAL(utc(2025, 0, 1, 0, 0, 0), utc(2024, 12, 1, 0, 0, 0));
    CU_ASSERT_EQUAL(utc(2025, 1, 1, 0, 90, 0), utc(2025, 1, 1, 1, 30, 0));
}

/* Every day from 1600 to 2400 against a plain day counter. */
static void test_calendar_every_day(void)
{
    int y = 1600, m = 1, d = 1, wday = 6; /* 1 January 1600 was a Saturday */
    int64_t t = utc(1600, 1, 1, 0, 0, 0);
    bool ok = true;

    while (y < 2400 && ok) {
        struct civil c;

        tz_utc_to_civil(t + 86399, &c);
        ok = civil_is(&c, y, m, d, 23, 59, 59) && c.wday == wday &&
             utc(y, m, d, 23, 59, 59) == t + 86399;
        if (!ok)
            fprintf(stderr, "\n  day %d-%02d-%02d wrong\n", y, m, d);
        t += 86400;
        wday = (wday + 1) % 7;
        if (++d > tz_days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    CU_ASSERT_TRUE(ok);
}

/* ---- offsets ------------------------------------------------------------------- */

static void test_offsets(void)
{
    static const struct {
        const char *zone;
        int y, mo, d, h, mi, s; /* UTC */
        int32_t off;
    } cases[] = {
        {"UTC", 2025, 6, 1, 0, 0, 0, 0},
        {"Etc/UTC", 2100, 6, 1, 0, 0, 0, 0},
        {"Europe/Berlin", 2025, 1, 15, 12, 0, 0, 3600},
        {"Europe/Berlin", 2025, 7, 15, 12, 0, 0, 7200},
        {"Europe/Berlin", 2025, 3, 30, 0, 59, 59, 3600},
        {"Europe/Berlin", 2025, 3, 30, 1, 0, 0, 7200},
        {"Europe/Berlin", 2025, 10, 26, 0, 59, 59, 7200},
        {"Europe/Berlin", 2025, 10, 26, 1, 0, 0, 3600},
        /* 2100 lies past the table: the footer CET-1CEST,M3.5.0,M10.5.0/3 */
        {"Europe/Berlin", 2100, 3, 28, 0, 59, 59, 3600},
        {"Europe/Berlin", 2100, 3, 28, 1, 0, 0, 7200},
        {"Europe/Berlin", 2100, 10, 31, 0, 59, 59, 7200},
        {"Europe/Berlin", 2100, 10, 31, 1, 0, 0, 3600},
        {"Europe/Berlin", 1890, 1, 1, 0, 0, 0, 3208}, /* local mean time */
        {"Europe/Berlin", 1945, 6, 1, 0, 0, 0, 10800}, /* double summer time */
        {"America/New_York", 2025, 3, 9, 6, 59, 59, -18000},
        {"America/New_York", 2025, 3, 9, 7, 0, 0, -14400},
        {"America/New_York", 2100, 3, 14, 6, 59, 59, -18000},
        {"America/New_York", 2100, 3, 14, 7, 0, 0, -14400},
        {"America/New_York", 2100, 11, 7, 5, 59, 59, -14400},
        {"America/New_York", 2100, 11, 7, 6, 0, 0, -18000},
        {"Australia/Sydney", 2025, 1, 1, 0, 0, 0, 39600},
        {"Australia/Sydney", 2025, 7, 1, 0, 0, 0, 36000},
        {"Australia/Sydney", 2100, 1, 1, 0, 0, 0, 39600},
        {"Australia/Sydney", 2100, 7, 1, 0, 0, 0, 36000},
        {"Australia/Lord_Howe", 2025, 1, 1, 0, 0, 0, 39600},
        {"Australia/Lord_Howe", 2025, 7, 1, 0, 0, 0, 37800},
        {"Asia/Kolkata", 2025, 1, 1, 0, 0, 0, 19800},
        {"America/Nuuk", 2100, 1, 1, 0, 0, 0, -7200}, /* v3 footer: negative rule times */
        {"America/Nuuk", 2100, 7, 1, 0, 0, 0, -3600},
        {"Asia/Riyadh", 2100, 1, 1, 0, 0, 0, 10800}, /* footer <+03>-3 */
        {"America/Sao_Paulo", 2100, 1, 1, 0, 0, 0, -10800},
        {"Pacific/Chatham", 2100, 1, 1, 0, 0, 0, 49500},
        {"Pacific/Chatham", 2100, 7, 1, 0, 0, 0, 45900},
    };
    int32_t got;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t t = utc(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi, cases[i].s);
        got = tz_offset_at(zone(cases[i].zone), t);
        if (got != cases[i].off) {
            fprintf(stderr, "\n  %s at %04d-%02d-%02dT%02d:%02d:%02dZ: %d, want %d\n",
                    cases[i].zone, cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi,
                    cases[i].s, got, cases[i].off);
            CU_FAIL("wrong offset");
        }
    }
    /* Absurd instants are clamped, not overflowed. */
    got = tz_offset_at(zone("Europe/Berlin"), INT64_MAX);
    CU_ASSERT(got == 3600 || got == 7200);
    CU_ASSERT_EQUAL(tz_offset_at(zone("Europe/Berlin"), INT64_MIN), 3208);
}

/* ---- civil <-> UTC with the DST rule ---------------------------------------------- */

static void test_to_civil(void)
{
    struct civil c;

    tz_to_civil(zone("Europe/Berlin"), utc(2025, 3, 30, 1, 0, 0), &c);
    CU_ASSERT_TRUE(civil_is(&c, 2025, 3, 30, 3, 0, 0));
    CU_ASSERT_EQUAL(c.wday, 0);
    tz_to_civil(zone("Europe/Berlin"), utc(2025, 10, 26, 1, 30, 0), &c);
    CU_ASSERT_TRUE(civil_is(&c, 2025, 10, 26, 2, 30, 0)); /* the second 02:30 */
    tz_to_civil(zone("America/New_York"), utc(2025, 1, 1, 3, 0, 0), &c);
    CU_ASSERT_TRUE(civil_is(&c, 2024, 12, 31, 22, 0, 0));
    CU_ASSERT_EQUAL(c.wday, 2);
    tz_to_civil(zone("Pacific/Chatham"), utc(2100, 1, 1, 0, 0, 0), &c);
    CU_ASSERT_TRUE(civil_is(&c, 2100, 1, 1, 13, 45, 0));
}

static void test_from_civil_rule(void)
{
    static const struct {
        const char *zone;
        struct civil local;
        int rc;
        int y, mo, d, h, mi, s; /* the UTC instant */
    } cases[] = {
        /* An ordinary time. */
        {"Europe/Berlin", {2025, 6, 1, 12, 0, 0, 0}, 0, 2025, 6, 1, 10, 0, 0},
        /* Spring forward 02:00 -> 03:00: skipped readings go to the change. */
        {"Europe/Berlin", {2025, 3, 30, 2, 0, 0, 0}, 1, 2025, 3, 30, 1, 0, 0},
        {"Europe/Berlin", {2025, 3, 30, 2, 30, 0, 0}, 1, 2025, 3, 30, 1, 0, 0},
        {"Europe/Berlin", {2025, 3, 30, 2, 59, 59, 0}, 1, 2025, 3, 30, 1, 0, 0},
        {"Europe/Berlin", {2025, 3, 30, 1, 59, 59, 0}, 0, 2025, 3, 30, 0, 59, 59},
        {"Europe/Berlin", {2025, 3, 30, 3, 0, 0, 0}, 0, 2025, 3, 30, 1, 0, 0},
        /* Fall back 03:00 -> 02:00: repeated readings take the first (CEST). */
        {"Europe/Berlin", {2025, 10, 26, 2, 0, 0, 0}, 2, 2025, 10, 26, 0, 0, 0},
        {"Europe/Berlin", {2025, 10, 26, 2, 30, 0, 0}, 2, 2025, 10, 26, 0, 30, 0},
        {"Europe/Berlin", {2025, 10, 26, 2, 59, 59, 0}, 2, 2025, 10, 26, 0, 59, 59},
        {"Europe/Berlin", {2025, 10, 26, 3, 0, 0, 0}, 0, 2025, 10, 26, 2, 0, 0},
        {"Europe/Berlin", {2025, 10, 26, 1, 59, 59, 0}, 0, 2025, 10, 25, 23, 59, 59},
        /* The footer rule in 2100. */
        {"Europe/Berlin", {2100, 3, 28, 2, 30, 0, 0}, 1, 2100, 3, 28, 1, 0, 0},
        {"Europe/Berlin", {2100, 10, 31, 2, 30, 0, 0}, 2, 2100, 10, 31, 0, 30, 0},
        {"America/New_York", {2025, 3, 9, 2, 30, 0, 0}, 1, 2025, 3, 9, 7, 0, 0},
        {"America/New_York", {2025, 11, 2, 1, 30, 0, 0}, 2, 2025, 11, 2, 5, 30, 0},
        /* A midnight change: 4 November 2018 had no 00:00 in Sao Paulo. */
        {"America/Sao_Paulo", {2018, 11, 4, 0, 0, 0, 0}, 1, 2018, 11, 4, 3, 0, 0},
        {"America/Sao_Paulo", {2019, 2, 16, 23, 30, 0, 0}, 2, 2019, 2, 17, 1, 30, 0},
        /* Half-hour DST on Lord Howe. */
        {"Australia/Lord_Howe", {2025, 10, 5, 2, 15, 0, 0}, 1, 2025, 10, 4, 15, 30, 0},
        {"Australia/Lord_Howe", {2025, 4, 6, 1, 45, 0, 0}, 2, 2025, 4, 5, 14, 45, 0},
        {"UTC", {2025, 3, 30, 2, 30, 0, 0}, 0, 2025, 3, 30, 2, 30, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t got = 0;
        int64_t want = utc(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi,
                           cases[i].s);
        int rc = tz_from_civil(zone(cases[i].zone), &cases[i].local, &got);

        if (rc != cases[i].rc || got != want) {
            fprintf(stderr, "\n  case %zu (%s): rc %d at %lld, want rc %d at %lld\n", i,
                    cases[i].zone, rc, (long long)got, cases[i].rc, (long long)want);
            CU_FAIL("wrong civil -> UTC");
        }
    }
}

/* Every 5 minutes over three years of DST changes: civil -> UTC gives back
 * the instant, or for a repeated reading its first occurrence. */
static void test_civil_round_trip(void)
{
    static const char *const zones[] = {"Europe/Berlin",      "America/New_York",
                                        "Australia/Lord_Howe", "America/Sao_Paulo",
                                        "Pacific/Chatham",    "America/St_Johns"};

    for (size_t z = 0; z < ARRAY_SIZE(zones); z++) {
        const struct tz *tz = zone(zones[z]);
        bool ok = true;

        for (int64_t t = utc(2017, 1, 1, 0, 0, 0); t < utc(2020, 1, 1, 0, 0, 0) && ok; t += 300) {
            struct civil c, again;
            int64_t back = 0;
            int rc;

            tz_to_civil(tz, t, &c);
            rc = tz_from_civil(tz, &c, &back);
            tz_to_civil(tz, back, &again);
            ok = back <= t && civil_is(&again, c.year, c.month, c.mday, c.hour, c.min, c.sec) &&
                 (back == t ? rc == 0 || rc == 2 : rc == 2);
            if (!ok)
                fprintf(stderr, "\n  %s at %lld: back %lld rc %d\n", zones[z], (long long)t,
                        (long long)back, rc);
        }
        CU_ASSERT_TRUE(ok);
    }
}

/* ---- POSIX TZ strings ------------------------------------------------------------ */

static const struct tz *posix(const char *spec)
{
    char err[256] = "";
    const struct tz *z = tz_posix(spec, err, sizeof(err));

    if (!z) {
        fprintf(stderr, "\n%s\n", err);
        CU_FAIL_FATAL("POSIX TZ string refused");
    }
    return z;
}

/* The rule and the zone agree every 20 minutes over [from, to). */
static bool same_offsets(const struct tz *a, const struct tz *b, int64_t from, int64_t to)
{
    for (int64_t t = from; t < to; t += 1200) {
        if (tz_offset_at(a, t) != tz_offset_at(b, t)) {
            fprintf(stderr, "\n  %s vs %s differ at %lld\n", tz_name(a), tz_name(b),
                    (long long)t);
            return false;
        }
    }
    return true;
}

static void test_posix_match_zones(void)
{
    int64_t from = utc(2024, 1, 1, 0, 0, 0), to = utc(2028, 1, 1, 0, 0, 0);

    CU_ASSERT_TRUE(same_offsets(posix("CET-1CEST,M3.5.0,M10.5.0/3"), zone("Europe/Berlin"), from,
                                to));
    CU_ASSERT_TRUE(same_offsets(posix("EST5EDT,M3.2.0,M11.1.0"), zone("America/New_York"), from,
                                to));
    /* DST without rules: the US rules, as glibc assumes. */
    CU_ASSERT_TRUE(same_offsets(posix("EST5EDT"), zone("America/New_York"), from, to));
    /* Southern hemisphere: DST across the new year. */
    CU_ASSERT_TRUE(same_offsets(posix("AEST-10AEDT,M10.1.0,M4.1.0/3"), zone("Australia/Sydney"),
                                from, to));
    /* Half-hour DST, minutes in offsets and times. */
    CU_ASSERT_TRUE(same_offsets(posix("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"),
                                zone("Australia/Lord_Howe"), from, to));
    /* v3: negative transition times; checked where only the footer answers. */
    CU_ASSERT_TRUE(same_offsets(posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0"), zone("America/Nuuk"),
                                utc(2099, 1, 1, 0, 0, 0), utc(2101, 1, 1, 0, 0, 0)));
}

static void test_posix_forms(void)
{
    const struct tz *z;

    z = posix("<+03>-3");
    CU_ASSERT_STRING_EQUAL(tz_name(z), "<+03>-3");
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 7, 1, 0, 0, 0)), 10800);
    CU_ASSERT_EQUAL(tz_offset_at(posix("<-03>3"), 0), -10800);
    CU_ASSERT_EQUAL(tz_offset_at(posix("UTC0"), 0), 0);
    CU_ASSERT_EQUAL(tz_offset_at(posix("IST-5:30"), 0), 19800);
    CU_ASSERT_EQUAL(tz_offset_at(posix("XXX+1:02:03"), 0), -3723);

    /* Jn counts 1..365 and never 29 February: J60 is 1 March every year.
     * DST from J60 00:00 to J305 (1 November) 00:00 DST time. */
    z = posix("AAA0BBB,J60/0,J305/0");
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2024, 2, 29, 23, 59, 59)), 0);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2024, 3, 1, 0, 0, 0)), 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 2, 28, 23, 59, 59)), 0);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 3, 1, 0, 0, 0)), 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 10, 31, 22, 59, 59)), 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 10, 31, 23, 0, 0)), 0);

    /* n counts 0..365 with 29 February: day 59 is 29 February in a leap year. */
    z = posix("AAA0BBB,59/0,304/0");
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2024, 2, 28, 23, 59, 59)), 0);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2024, 2, 29, 0, 0, 0)), 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 2, 28, 23, 59, 59)), 0);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 3, 1, 0, 0, 0)), 3600);

    /* v3: DST all year, written as a change at 25:00 on the last day. */
    z = posix("EST5EDT,0/0,J365/25");
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 1, 1, 0, 0, 0)), -14400);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 7, 1, 0, 0, 0)), -14400);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 12, 31, 23, 0, 0)), -14400);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2028, 2, 29, 12, 0, 0)), -14400);

    /* Explicit DST offset and explicit times. */
    z = posix("XST3XDT1,M3.2.0/1:30,M11.1.0/1:30");
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 1, 1, 0, 0, 0)), -10800);
    CU_ASSERT_EQUAL(tz_offset_at(z, utc(2025, 7, 1, 0, 0, 0)), -3600);

    /* Cached: the same string gives the same zone. */
    CU_ASSERT_PTR_EQUAL(posix("<+03>-3"), posix("<+03>-3"));
}

static void test_posix_errors(void)
{
    static const char *const bad[] = {
        "",
        "CET",                            /* no offset */
        "C-1",                            /* name too short */
        "<AB>-1",                         /* quoted name too short */
        "<ABC-1",                         /* unterminated */
        "CET-25",                         /* offset out of range */
        "CET-1:60",
        "CET-1CEST,M13.1.0,M10.5.0",
        "CET-1CEST,M3.6.0,M10.5.0",
        "CET-1CEST,M3.5.7,M10.5.0",
        "CET-1CEST,M3.0.0,M10.5.0",
        "CET-1CEST,M3.5.0",               /* no end */
        "CET-1CEST,M3.5.0,M10.5.0/3x",    /* trailing text */
        "CET-1CEST,J0,J365",              /* J counts from 1 */
        "CET-1CEST,366,1",
        "CET-1CEST,M3.5.0/168,M10.5.0",   /* v3 times stop at 167 h */
        "CET-1 ",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char err[128] = "", want[128];

        if (tz_posix(bad[i], err, sizeof(err)) != NULL) {
            fprintf(stderr, "\n  \"%s\" accepted\n", bad[i]);
            CU_FAIL("bad POSIX TZ string accepted");
            continue;
        }
        snprintf(want, sizeof(want), "invalid POSIX TZ string \"%s\"", bad[i]);
        CU_ASSERT_STRING_EQUAL(err, want);
    }
    CU_ASSERT_PTR_NULL(tz_posix(NULL, NULL, 0));
}

/* ---- names, files, cache ------------------------------------------------------------- */

static void test_get_names(void)
{
    static const struct {
        const char *name;
        const char *message;
    } bad[] = {
        {"", "time zone name is empty"},
        {"../etc/passwd", "invalid time zone name \"../etc/passwd\""},
        {"Europe/../../etc/passwd", "invalid time zone name \"Europe/../../etc/passwd\""},
        {"/etc/localtime", "invalid time zone name \"/etc/localtime\""},
        {"Europe/Berlin ", "invalid time zone name \"Europe/Berlin \""},
        {"Europe\\Berlin", "invalid time zone name \"Europe\\Berlin\""},
    };
    char err[256];

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        CU_ASSERT_PTR_NULL(tz_get(bad[i].name, err, sizeof(err)));
        CU_ASSERT_STRING_EQUAL(err, bad[i].message);
    }
    CU_ASSERT_PTR_NULL(tz_get(NULL, err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "time zone name is empty");
    CU_ASSERT_PTR_NULL(tz_get("Mars/Olympus_Mons", NULL, 0)); /* no err buffer: fine */
    CU_ASSERT_PTR_NULL(tz_get("Mars/Olympus_Mons", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown time zone \"Mars/Olympus_Mons\" (no file "));

    CU_ASSERT_STRING_EQUAL(tz_name(zone("Europe/Berlin")), "Europe/Berlin");
    CU_ASSERT_STRING_EQUAL(tz_name(zone("Etc/UTC")), "Etc/UTC");
    CU_ASSERT_PTR_EQUAL(zone("Europe/Berlin"), zone("Europe/Berlin"));
}

/* A TZif file built by hand, to pin the format rather than one tzdata
 * release: transitions, types, optional leap records and footer. */
struct tzif_spec {
    char version; /* '\0' (v1) or '2' */
    const int64_t *times;
    const uint8_t *types_of;
    uint32_t ntimes;
    const int32_t *offs;
    uint32_t ntypes;
    uint32_t leapcnt;
    const char *footer; /* v2: between the two newlines */
};

static void put32(struct buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    buf_append(b, p, 4);
}

static void put_block(struct buf *b, char version, const struct tzif_spec *s, bool wide)
{
    static const char zero[15];

    buf_append(b, "TZif", 4);
    buf_putc(b, version);
    buf_append(b, zero, 15);
    put32(b, 0);          /* isutcnt */
    put32(b, 0);          /* isstdcnt */
    put32(b, s->leapcnt); /* leapcnt */
    put32(b, s->ntimes);
    put32(b, s->ntypes);
    put32(b, 4); /* charcnt: "ABC\0" */
    for (uint32_t i = 0; i < s->ntimes; i++) {
        if (wide)
            put32(b, (uint32_t)((uint64_t)s->times[i] >> 32));
        put32(b, (uint32_t)s->times[i]);
    }
    for (uint32_t i = 0; i < s->ntimes; i++)
        buf_putc(b, (char)s->types_of[i]);
    for (uint32_t i = 0; i < s->ntypes; i++) {
        put32(b, (uint32_t)s->offs[i]);
        buf_putc(b, 0); /* isdst */
        buf_putc(b, 0); /* abbreviation index */
    }
    buf_append(b, "ABC", 4);
    for (uint32_t i = 0; i < s->leapcnt; i++) {
        if (wide)
            put32(b, 0);
        put32(b, 78796800);
        put32(b, 1);
    }
}

static void write_tzif(const char *dir, const char *name, const struct tzif_spec *s, size_t cut)
{
    struct buf b = {0}, path = {0};
    FILE *f;

    if (s->version == '\0') {
        put_block(&b, '\0', s, false);
    } else {
        /* A "slim" v2 file: an empty v1 block, then the real 64-bit one. */
        static const int32_t off0 = 0;
        struct tzif_spec v1 = {.offs = &off0, .ntypes = 1};

        put_block(&b, s->version, &v1, false);
        put_block(&b, s->version, s, true);
        buf_printf(&b, "\n%s\n", s->footer ? s->footer : "");
    }
    buf_printf(&path, "%s/%s", dir, name);
    f = fopen(path.data, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fwrite(b.data, 1, b.len - cut, f);
    fclose(f);
    buf_free(&path);
    buf_free(&b);
}

static void test_tzif_files(void)
{
    static const int64_t times_v1[] = {1000000000, 1100000000};
    static const uint8_t types_v1[] = {1, 0};
    static const int32_t offs_v1[] = {3600, 7200};
    static const int64_t times_v2[] = {INT64_C(-3000000000), 0};
    static const uint8_t types_v2[] = {1, 2};
    static const int32_t offs_v2[] = {1000, 7200, 18000};
    static const int32_t bad_off[] = {100000};
    static const char *const files[] = {"V1",    "V2",      "BadFooter", "Leap",
                                        "Short", "BadType", "Text"};
    const struct tzif_spec v1 = {'\0', times_v1, types_v1, 2, offs_v1, 2, 0, NULL};
    const struct tzif_spec v2 = {'2', times_v2, types_v2, 2, offs_v2, 3, 0, "<+05>-5"};
    const struct tzif_spec v2_bad_footer = {'2', times_v2, types_v2, 2, offs_v2, 3, 0, "+05"};
    const struct tzif_spec leap = {'2', times_v2, types_v2, 2, offs_v2, 3, 1, "<+05>-5"};
    const struct tzif_spec bad_type = {'\0', NULL, NULL, 0, bad_off, 1, 0, NULL};
    char dir[] = "/tmp/jh_test_tz_XXXXXX";
    const char *old = getenv("TZDIR");
    char *saved = old ? xstrdup(old) : NULL;
    char err[512], sub[64];
    const struct tz *z;
    FILE *f;

    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/Test", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0700), 0);
    write_tzif(dir, "Test/V1", &v1, 0);
    write_tzif(dir, "Test/V2", &v2, 0);
    write_tzif(dir, "Test/BadFooter", &v2_bad_footer, 0);
    write_tzif(dir, "Test/Leap", &leap, 0);
    write_tzif(dir, "Test/Short", &v1, 3);
    write_tzif(dir, "Test/BadType", &bad_type, 0);
    snprintf(err, sizeof(err), "%s/Test/Text", dir);
    f = fopen(err, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("not a zone\n", f);
    fclose(f);
    setenv("TZDIR", dir, 1);

    /* v1: 32-bit table, no footer; the last type holds after the table. */
    z = tz_get("Test/V1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(tz_offset_at(z, 999999999), 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, 1000000000), 7200);
    CU_ASSERT_EQUAL(tz_offset_at(z, 1099999999), 7200);
    CU_ASSERT_EQUAL(tz_offset_at(z, 1100000000), 3600);
    CU_ASSERT_EQUAL(tz_offset_at(z, INT64_C(4000000000)), 3600);

    /* v2: 64-bit times before 1901, type 0 before the first, footer after. */
    z = tz_get("Test/V2", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_EQUAL(tz_offset_at(z, INT64_C(-3000000001)), 1000);
    CU_ASSERT_EQUAL(tz_offset_at(z, INT64_C(-3000000000)), 7200);
    CU_ASSERT_EQUAL(tz_offset_at(z, -1), 7200);
    CU_ASSERT_EQUAL(tz_offset_at(z, 0), 18000);
    CU_ASSERT_EQUAL(tz_offset_at(z, INT64_C(4000000000)), 18000);

    CU_ASSERT_PTR_NULL(tz_get("Test/BadFooter", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a valid TZif file: bad POSIX TZ string in footer"));
    CU_ASSERT_PTR_NULL(tz_get("Test/Leap", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "leap-second (right/) zones are not supported"));
    CU_ASSERT_PTR_NULL(tz_get("Test/Short", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a valid TZif file: truncated"));
    CU_ASSERT_PTR_NULL(tz_get("Test/BadType", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a valid TZif file: bad local time type"));
    CU_ASSERT_PTR_NULL(tz_get("Test/Text", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not a valid TZif file: no TZif header"));
    CU_ASSERT_PTR_NULL(tz_get("Test", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown time zone \"Test\" ("));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is a directory)"));
    CU_ASSERT_PTR_NULL(tz_get("Test/Nope", err, sizeof(err)));
    snprintf(sub, sizeof(sub), "%s/Test/Nope)", dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown time zone \"Test/Nope\" (no file "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, sub));
    /* UTC needs no file at all. */
    z = tz_get("GMT", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    CU_ASSERT_STRING_EQUAL(tz_name(z), "GMT");
    CU_ASSERT_EQUAL(tz_offset_at(z, 1000000000), 0);

    if (saved)
        setenv("TZDIR", saved, 1);
    else
        unsetenv("TZDIR");
    free(saved);
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        snprintf(err, sizeof(err), "%s/Test/%s", dir, files[i]);
        unlink(err);
    }
    snprintf(err, sizeof(err), "%s/Test", dir);
    rmdir(err);
    rmdir(dir);
    /* Loaded zones stay valid after their files are gone. */
    CU_ASSERT_EQUAL(tz_offset_at(tz_get("Test/V1", NULL, 0), 1000000000), 7200);
}

#define THREADS 8

static const char *const thread_zones[] = {"Asia/Tokyo", "America/Chicago", "Europe/Paris",
                                           "Africa/Cairo", "Pacific/Auckland"};

static void *load_zones(void *arg)
{
    const struct tz **out = arg;

    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(thread_zones); i++)
            out[i] = tz_get(thread_zones[i], NULL, 0);
    }
    return NULL;
}

/* Many threads asking for the same new zones get one object per name. */
static void test_cache_threads(void)
{
    pthread_t th[THREADS];
    const struct tz *got[THREADS][ARRAY_SIZE(thread_zones)];

    for (int i = 0; i < THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, load_zones, got[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (size_t z = 0; z < ARRAY_SIZE(thread_zones); z++) {
        CU_ASSERT_PTR_NOT_NULL(got[0][z]);
        for (int i = 1; i < THREADS; i++)
            CU_ASSERT_PTR_EQUAL(got[i][z], got[0][z]);
    }
}

static const struct cu_test local_tests[] = {
    {"from $TZ", test_local_from_env},
    {NULL, NULL},
};

static const struct cu_test calendar_tests[] = {
    {"known days", test_calendar_known_days},
    {"carry", test_calendar_carry},
    {"every day 1600-2400", test_calendar_every_day},
    {NULL, NULL},
};

static const struct cu_test zone_tests[] = {
    {"offsets", test_offsets},
    {"to civil", test_to_civil},
    {"from civil: gap and fold", test_from_civil_rule},
    {"civil round trip", test_civil_round_trip},
    {NULL, NULL},
};

static const struct cu_test posix_tests[] = {
    {"match zones", test_posix_match_zones},
    {"forms", test_posix_forms},
    {"errors", test_posix_errors},
    {NULL, NULL},
};

static const struct cu_test file_tests[] = {
    {"names", test_get_names},
    {"TZif files", test_tzif_files},
    {"cache under threads", test_cache_threads},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"tz_local", local_tests}, /* first: the host zone is decided once */
    {"calendar", calendar_tests},
    {"zones", zone_tests},
    {"posix", posix_tests},
    {"files", file_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
