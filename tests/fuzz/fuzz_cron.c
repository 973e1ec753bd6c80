/*
 * fuzz_cron — cron_parse, trigger_next for cron triggers, rfc3339_parse and
 * rfc3339_format (host/trigger.h).
 *
 * The input, as a C string, goes to cron_parse:
 *   - an error is -EINVAL with one of the messages trigger.h lists, NUL
 *     terminated in any buffer size, the same with a NULL or short buffer;
 *   - a parsed expression has bits only inside each field's range, and
 *     mday_star / wday_star are set exactly when that field is "*" or "?";
 *   - from fixed instants (around Berlin's 2026 DST changes and in 2096,
 *     eight years before the next 29 February), trigger_next is called four
 *     times in a row in UTC and in Europe/Berlin. Every result is a whole
 *     second after the previous one. In UTC each result must equal a brute
 *     force search written here (day by day, over the same eight-year
 *     window); in Berlin each result reads, on the local clock, as a time the
 *     expression allows, or is the instant of a spring-forward change, and the
 *     local readings strictly increase, but for the second pass of a
 *     fall-back's repeated hour when the hour field spans hours;
 *     -1 comes back exactly when no date can ever match (30 February).
 *   - with end_ns set, a result never lies after it.
 * The same string goes to rfc3339_parse; a parsed instant is formatted in UTC
 * and in Berlin (with and without milliseconds) and parsed back: the same
 * instant, cut to the second or millisecond.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "lib/trigger.h"
#include "lib/tz.h"
#include "lib/units.h"

#define ERRLEN 256
#define CALLS 4
#define HORIZON_YEARS 8 /* trigger.c: CRON_MAX_YEARS */

static const struct tz *berlin, *utc;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[ERRLEN];

    (void)argc;
    (void)argv;
    utc = tz_get("UTC", err, sizeof(err));
    berlin = tz_get("Europe/Berlin", err, sizeof(err));
    if (!utc || !berlin) {
        fprintf(stderr, "fuzz_cron: Europe/Berlin: %s (install tzdata)\n", err);
        abort();
    }
    return 0;
}

/* ---- the reference: cron matching and a brute-force search in UTC ---------- */

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

static bool day_matches(const struct cron_expr *e, int64_t days)
{
    int64_t y;
    int m, d;
    int wd = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    bool by_mday, by_wday;

    fuzz_civil_from_days(days, &y, &m, &d);
    if (!(e->months >> m & 1))
        return false;
    by_mday = e->mdays >> d & 1;
    by_wday = e->wdays >> wd & 1;
    if (e->wday_star)
        return by_mday;
    if (e->mday_star)
        return by_wday;
    return by_mday || by_wday; /* Vixie: both restricted, either matches */
}

static bool time_matches(const struct cron_expr *e, int64_t local_s)
{
    int64_t days = fuzz_floor_div(local_s, 86400);
    int64_t sod = local_s - days * 86400;

    return day_matches(e, days) && (e->hours >> (sod / 3600) & 1) &&
           (e->minutes >> (sod / 60 % 60) & 1) && (e->seconds >> (sod % 60) & 1);
}

/* The first matching second > after_ns, searching up to the end of the year
 * HORIZON_YEARS after the year of the first candidate; -1 when none. */
static int64_t ref_next_utc(const struct cron_expr *e, int64_t after_ns)
{
    int64_t lo = fuzz_floor_div(after_ns, NS_PER_SEC) + 1;
    int64_t day = fuzz_floor_div(lo, 86400), y;
    int64_t sod0 = lo - day * 86400;
    int m, d;

    fuzz_civil_from_days(day, &y, &m, &d);
    int64_t end_day = fuzz_days_from_civil(y + HORIZON_YEARS + 1, 1, 1);
    for (; day < end_day; day++, sod0 = 0) {
        if (!day_matches(e, day))
            continue;
        for (int h = (int)(sod0 / 3600); h < 24; h++) {
            if (!(e->hours >> h & 1))
                continue;
            for (int mi = 0; mi < 60; mi++) {
                if (!(e->minutes >> mi & 1) || h * 3600 + mi * 60 + 59 < sod0)
                    continue;
                for (int s = 0; s < 60; s++) {
                    int64_t sod = h * 3600 + mi * 60 + s;
                    if ((e->seconds >> s & 1) && sod >= sod0)
                        return (day * 86400 + sod) * NS_PER_SEC;
                }
            }
        }
    }
    return -1;
}

/* Whether some day can ever match (every other field always has a value). */
static bool satisfiable(const struct cron_expr *e)
{
    if (!e->wday_star && e->wdays)
        return true; /* some weekday falls in every allowed month */
    for (int m = 1; m <= 12; m++) {
        if (!(e->months >> m & 1))
            continue;
        for (int d = 1; d <= days_in_month(2000, m); d++) /* 2000: a leap year */
            if (e->mdays >> d & 1)
                return true;
    }
    return false;
}

/* ---- checks ---------------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_error_message(const char *text, const char *err)
{
    static const char *const prefixes[] = {
        "empty expression", "expected 5 or 6 fields, got ", "unknown macro \"",
        "@reboot is not supported", "unexpected text after \"", "field ",
    };
    bool known = false;

    FUZZ_CHECK(memchr(err, '\0', ERRLEN) != NULL, "error for \"%s\" not NUL-terminated", text);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        known = known || starts_with(err, prefixes[i]);
    FUZZ_CHECK(known, "cron_parse(\"%s\"): unexpected message \"%s\"", text, err);
    if (starts_with(err, "field ")) {
        static const char *const names[] = {"(second): ", "(minute): ", "(hour): ",
                                            "(day of month): ", "(month): ", "(day of week): "};
        const char *p = err + strlen("field ");
        bool named = false;
        FUZZ_CHECK(*p >= '1' && *p <= '6' && p[1] == ' ', "bad field number in \"%s\"", err);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            named = named || starts_with(p + 2, names[i]);
        FUZZ_CHECK(named, "bad field name in \"%s\"", err);
    }
}

/* The fields as cron_parse splits them (blanks between, white space trimmed). */
static int split_fields(const char *text, const char **fs, size_t *fl)
{
    const char *p = text, *end = text + strlen(text);
    int nf = 0;

    while (*p && strchr(" \t\n\r\v\f", *p))
        p++;
    while (end > p && strchr(" \t\n\r\v\f", end[-1]))
        end--;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *start = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        if (nf < 6) {
            fs[nf] = start;
            fl[nf] = (size_t)(p - start);
        }
        nf++;
    }
    return nf;
}

static bool is_star(const char *f, size_t n)
{
    return n == 1 && (f[0] == '*' || f[0] == '?');
}

static void check_masks(const char *text, const struct cron_expr *e)
{
    const char *fs[6];
    size_t fl[6];
    int nf;

    FUZZ_CHECK(e->seconds && e->seconds >> 60 == 0, "seconds %llx", (unsigned long long)e->seconds);
    FUZZ_CHECK(e->minutes && e->minutes >> 60 == 0, "minutes %llx", (unsigned long long)e->minutes);
    FUZZ_CHECK(e->hours && e->hours >> 24 == 0, "hours %x", e->hours);
    FUZZ_CHECK(e->mdays && !(e->mdays & 1), "mdays %x", e->mdays);
    FUZZ_CHECK(e->months && !(e->months & 1) && e->months >> 13 == 0, "months %x", e->months);
    FUZZ_CHECK(e->wdays && e->wdays >> 7 == 0, "wdays %x", e->wdays);
    if (e->mday_star)
        FUZZ_CHECK(e->mdays == 0xfffffffeu, "\"%s\": day of month * but %x", text, e->mdays);
    if (e->wday_star)
        FUZZ_CHECK(e->wdays == 0x7f, "\"%s\": day of week * but %x", text, e->wdays);

    nf = split_fields(text, fs, fl);
    if (nf == 5 || nf == 6) {
        int md = nf == 6 ? 3 : 2;
        FUZZ_CHECK(e->mday_star == is_star(fs[md], fl[md]), "\"%s\": mday_star %d", text,
                   e->mday_star);
        FUZZ_CHECK(e->wday_star == is_star(fs[md + 2], fl[md + 2]), "\"%s\": wday_star %d", text,
                   e->wday_star);
    }
}

static void check_next(const char *text, const struct cron_expr *e, const struct tz *tz,
                       int64_t start_ns)
{
    struct trigger t = {.kind = TRIGGER_CRON, .cron = *e, .tz = tz};
    bool can_match = satisfiable(e);
    int64_t prev = start_ns, prev_reading = INT64_MIN;
    int32_t prev_off = 0;
    int64_t first = -1;

    for (int i = 0; i < CALLS; i++) {
        int64_t n = trigger_next(&t, prev, 0);
        if (i == 0)
            first = n;
        FUZZ_CHECK((n == -1) == !can_match, "\"%s\" (%s) from %lld: %lld, satisfiable %d", text,
                   tz_name(tz), (long long)prev, (long long)n, can_match);
        if (n == -1)
            break;
        FUZZ_CHECK(n > prev, "\"%s\" (%s): %lld after %lld", text, tz_name(tz), (long long)n,
                   (long long)prev);
        FUZZ_CHECK(n % NS_PER_SEC == 0, "\"%s\": %lld not on a second", text, (long long)n);
        int64_t s = n / NS_PER_SEC;
        int32_t off = tz_offset_at(tz, s);
        int64_t reading = s + off;
        if (tz == utc) {
            int64_t want = ref_next_utc(e, prev);
            FUZZ_CHECK(n == want, "\"%s\" (UTC) after %lld: %lld, reference %lld", text,
                       (long long)prev, (long long)n, (long long)want);
        }
        /* The local clock shows a reading the expression allows, unless
         * this is the instant of a spring-forward (skipped readings fire then). */
        bool at_change = tz_offset_at(tz, s - 1) < off;
        FUZZ_CHECK(time_matches(e, reading) || at_change,
                   "\"%s\" (%s): %lld reads %lld locally, which does not match", text,
                   tz_name(tz), (long long)n, (long long)reading);
        /* Readings rise, but for the second pass of a fall-back's repeated
         * hour, which an expression whose hour field spans hours fires in:
         * then the reading goes back by less than the fall-back. */
        bool second_pass = e->hour_span && i > 0 && prev_off > off &&
                           prev_reading - reading < (int64_t)(prev_off - off);
        FUZZ_CHECK(reading > prev_reading || second_pass,
                   "\"%s\" (%s): reading %lld after %lld", text, tz_name(tz), (long long)reading,
                   (long long)prev_reading);
        prev_reading = reading;
        prev_off = off;
        prev = n;
    }

    /* An end bound cuts the schedule, it does not move it. */
    t.end_ns = start_ns + 86400 * NS_PER_SEC;
    int64_t bounded = trigger_next(&t, start_ns, 0);
    if (first != -1 && first <= t.end_ns)
        FUZZ_CHECK(bounded == first, "\"%s\": %lld with end, %lld without", text,
                   (long long)bounded, (long long)first);
    else
        FUZZ_CHECK(bounded == -1, "\"%s\": %lld past end %lld", text, (long long)bounded,
                   (long long)t.end_ns);
}

static void check_cron(const char *text)
{
    struct cron_expr e, e2, e3;
    char err[ERRLEN], small[8];
    int rc;

    memset(err, 0, sizeof(err));
    rc = cron_parse(text, &e, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "cron_parse(\"%s\") = %d", text, rc);
    FUZZ_CHECK(cron_parse(text, &e2, NULL, 0) == rc, "NULL err buffer changes the result");
    memset(small, 'X', sizeof(small));
    FUZZ_CHECK(cron_parse(text, &e3, small, 5) == rc, "short err buffer changes the result");
    FUZZ_CHECK(small[5] == 'X' && small[6] == 'X' && small[7] == 'X', "short buffer overrun");
    if (rc < 0) {
        FUZZ_CHECK(memchr(small, '\0', 5) != NULL, "short buffer not NUL-terminated");
        check_error_message(text, err);
        return;
    }
    FUZZ_CHECK(memcmp(&e, &e2, sizeof(e)) == 0, "cron_parse is not deterministic");
    check_masks(text, &e);

    /* 2026-03-29T00:30Z: Berlin springs forward at 01:00Z; 2026-10-25T00:30Z:
     * it falls back at 01:00Z; 2096-06-01: the next 29 February is in 2104. */
    static const int64_t starts[][3] = {{2026, 3, 29}, {2026, 10, 25}, {2096, 6, 1}};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        int64_t s = fuzz_days_from_civil(starts[i][0], (int)starts[i][1], (int)starts[i][2]) * 86400;
        if (i < 2)
            s += 1800;
        check_next(text, &e, utc, s * NS_PER_SEC);
        check_next(text, &e, berlin, s * NS_PER_SEC + 123456789);
    }
}

/* ---- RFC 3339 ---------------------------------------------------------------- */

static void check_roundtrip(const char *text, int64_t ns, const struct tz *tz, bool millis)
{
    char buf[RFC3339_BUFLEN];
    int64_t unit = millis ? NS_PER_MS : NS_PER_SEC;
    int64_t want_units = fuzz_floor_div(ns, unit), want, back = 0;
    bool representable = !__builtin_mul_overflow(want_units, unit, &want);
    int rc;

    memset(buf, 0, sizeof(buf));
    rfc3339_format(ns, tz, millis, buf, sizeof(buf));
    FUZZ_CHECK(buf[sizeof(buf) - 1] == '\0' && strlen(buf) == (millis ? 29u : 25u),
               "\"%s\" -> %lld -> \"%s\"", text, (long long)ns, buf);
    rc = rfc3339_parse(buf, &back);
    if (!representable) {
        /* Cut to the unit, the instant falls before 1677-09-21T00:12:43.145Z. */
        FUZZ_CHECK(rc == -EINVAL, "\"%s\" -> \"%s\" parsed although out of range", text, buf);
        return;
    }
    FUZZ_CHECK(rc == 0 && back == want, "\"%s\" -> %lld -> \"%s\" (%s) -> rc %d, %lld, want %lld",
               text, (long long)ns, buf, tz_name(tz), rc, (long long)back, (long long)want);
}

static void check_rfc3339(const char *text)
{
    int64_t ns = 0;
    int rc = rfc3339_parse(text, &ns);

    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rfc3339_parse(\"%s\") = %d", text, rc);
    if (rc != 0)
        return;
    check_roundtrip(text, ns, utc, false);
    check_roundtrip(text, ns, berlin, false);
    check_roundtrip(text, ns, berlin, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);

    check_cron(text);
    check_rfc3339(text);
    free(text);
    return 0;
}
