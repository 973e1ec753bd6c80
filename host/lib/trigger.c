/*
 * trigger — cron, interval and date triggers: parsing and "next fire time".
 * See trigger.h for the contract.
 *
 * A cron expression becomes one bit mask per field. The next firing is found
 * in the trigger's local civil time, field by field: the first allowed month,
 * then the first allowed day in it (day-of-month and day-of-week masks
 * combined by the Vixie rule), hour, minute, second, carrying into the next
 * larger field whenever a field runs out. That takes a handful of steps even
 * when years must be skipped, instead of one step per second.
 *
 * The civil time found is turned into an instant by tz_from_civil, which maps
 * every clock reading to the first instant at which the zone's clock reads it
 * or later. That mapping never goes backwards as the reading grows, which is
 * what lets the search run purely in civil time: the firings after an instant
 * T are exactly the matching readings above the highest reading the clock
 * had shown by T (see wall_high_water). Readings inside a spring-forward gap
 * all land on the instant of the change; readings repeated by a fall-back
 * land on their first occurrence, and the repeated hour, lying below the high
 * water mark, never fires again.
 *
 * Pure: no globals, no locks (tz_local may take its own once), no clock reads.
 */
#include "lib/trigger.h"

#include "lib/civil.h"
#include "lib/numfmt.h"
#include "lib/tz.h"
#include "lib/units.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Feb 29 comes back at least every 8 years (2096 -> 2104); any expression
 * that can match at all does so within that window. */
#define CRON_MAX_YEARS 8
/* Longest piece of user text quoted in an error message. */
#define QUOTE_MAX 32

enum cron_field { F_SEC, F_MIN, F_HOUR, F_MDAY, F_MONTH, F_WDAY };

struct field_info {
    const char *name;
    int lo, hi; /* accepted values */
    int span;   /* distinct values; "*" covers lo .. lo + span - 1 */
    const char *const *names; /* for lo, lo + 1, ...; NULL when the field has none */
    int nnames;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct field_info field_info[] = {
    [F_SEC] = {"second", 0, 59, 60, NULL, 0},
    [F_MIN] = {"minute", 0, 59, 60, NULL, 0},
    [F_HOUR] = {"hour", 0, 23, 24, NULL, 0},
    [F_MDAY] = {"day of month", 1, 31, 31, NULL, 0},
    [F_MONTH] = {"month", 1, 12, 12, month_names, 12},
    [F_WDAY] = {"day of week", 0, 7, 7, wday_names, 7}, /* 7 is Sunday again */
};

static const struct {
    const char *name;
    const char *expr;
} cron_macros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* One field being parsed, for error messages. */
struct field_ctx {
    enum cron_field kind;
    const struct field_info *info;
    int pos; /* 1-based, as the user wrote the fields */
    char *err;
    size_t errlen;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_space(char c)
{
    return is_blank(c) || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int quote_len(size_t n)
{
    return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

__attribute__((format(printf, 3, 4))) static int set_error(char *err, size_t errlen,
                                                          const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Writes "field N (name): " and the message. Returns -EINVAL. */
__attribute__((format(printf, 2, 3))) static int field_error(const struct field_ctx *fc,
                                                            const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!fc->err || fc->errlen == 0)
        return -EINVAL;
    n = snprintf(fc->err, fc->errlen, "field %d (%s): ", fc->pos, fc->info->name);
    if (n >= 0 && (size_t)n < fc->errlen) {
        va_start(ap, fmt);
        vsnprintf(fc->err + n, fc->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- cron parsing ------------------------------------------------------ */

/* A number, or a name in fields that have names. */
static int parse_value(const struct field_ctx *fc, const char *s, size_t n, int *out)
{
    const struct field_info *f = fc->info;
    size_t i;
    int v = 0;

    if (n > 0 && is_digit(s[0])) {
        for (i = 0; i < n && is_digit(s[i]); i++) {
            if (v <= 9999) /* large enough to be out of range, small enough not to overflow */
                v = v * 10 + (s[i] - '0');
        }
        if (i < n)
            return field_error(fc, "invalid value \"%.*s\"", quote_len(n), s);
        if (v < f->lo || v > f->hi)
            return field_error(fc, "value %.*s out of range %d-%d", quote_len(n), s, f->lo, f->hi);
        *out = v;
        return 0;
    }
    if (n > 0 && is_alpha(s[0])) {
        for (i = 0; n == 3 && i < (size_t)f->nnames; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->lo + (int)i;
                return 0;
            }
        }
        return field_error(fc, "unknown name \"%.*s\"", quote_len(n), s);
    }
    return field_error(fc, "invalid value \"%.*s\"", quote_len(n), s);
}

/* The part after "/": a step of 1 .. span. */
static int parse_step(const struct field_ctx *fc, const char *s, size_t n, int *step)
{
    size_t i;
    int v = 0;

    if (n == 0)
        return field_error(fc, "missing step after \"/\"");
    for (i = 0; i < n && is_digit(s[i]); i++) {
        if (v <= 9999)
            v = v * 10 + (s[i] - '0');
    }
    if (i < n)
        return field_error(fc, "invalid step \"%.*s\"", quote_len(n), s);
    if (v == 0)
        return field_error(fc, "step 0 is not allowed");
    if (v > fc->info->span)
        return field_error(fc, "step %.*s out of range 1-%d", quote_len(n), s, fc->info->span);
    *step = v;
    return 0;
}

/* One list item: "*", "?", "v", "a-b", each optionally followed by "/step". */
static int parse_item(const struct field_ctx *fc, const char *s, size_t n, uint64_t *bits)
{
    const struct field_info *f = fc->info;
    const char *slash = memchr(s, '/', n);
    size_t blen = slash ? (size_t)(slash - s) : n;
    int a, b, step = 1, rc;

    if (n == 0)
        return field_error(fc, "empty list item");
    if (slash) {
        rc = parse_step(fc, slash + 1, n - blen - 1, &step);
        if (rc < 0)
            return rc;
    }
    if (blen == 1 && (s[0] == '*' || s[0] == '?')) {
        if (s[0] == '?' && fc->kind != F_MDAY && fc->kind != F_WDAY)
            return field_error(fc, "\"?\" is only allowed in day of month and day of week");
        a = f->lo;
        b = f->lo + f->span - 1;
    } else if (blen == 0 || s[0] == '*' || s[0] == '?') {
        return field_error(fc, "invalid item \"%.*s\"", quote_len(n), s);
    } else if (s[0] == '-') {
        size_t d = 1;

        while (d < blen && is_digit(s[d]))
            d++;
        if (d == 1)
            return field_error(fc, "invalid item \"%.*s\"", quote_len(n), s);
        return field_error(fc, "negative value \"%.*s\" is not allowed", quote_len(d), s);
    } else {
        const char *dash = memchr(s, '-', blen);
        size_t alen = dash ? (size_t)(dash - s) : blen;

        rc = parse_value(fc, s, alen, &a);
        if (rc < 0)
            return rc;
        if (dash) {
            const char *e = dash + 1;
            size_t elen = blen - alen - 1;

            if (elen == 0 || memchr(e, '-', elen))
                return field_error(fc, "invalid range \"%.*s\"", quote_len(blen), s);
            rc = parse_value(fc, e, elen, &b);
            if (rc < 0)
                return rc;
            if (fc->kind == F_WDAY && b == 0 && a > 0)
                b = 7; /* "fri-sun": Sunday closes the week */
            if (a > b)
                return field_error(fc, "range %.*s is reversed", quote_len(blen), s);
        } else {
            /* "a/n" runs from a to the end of the field; "a" alone is just a. */
            b = slash ? f->lo + f->span - 1 : a;
            if (b < a)
                b = a; /* "7/2" in day of week: just Sunday */
        }
    }
    for (int v = a; v <= b; v += step)
        *bits |= UINT64_C(1) << (fc->kind == F_WDAY && v == 7 ? 0 : v);
    return 0;
}

/* A comma-separated list of items. */
static int parse_field(const struct field_ctx *fc, const char *s, size_t n, uint64_t *bits,
                       bool *star)
{
    size_t start = 0;
    int rc;

    *bits = 0;
    *star = n == 1 && (s[0] == '*' || s[0] == '?');
    for (;;) {
        const char *comma = memchr(s + start, ',', n - start);
        size_t end = comma ? (size_t)(comma - s) : n;

        rc = parse_item(fc, s + start, end - start, bits);
        if (rc < 0)
            return rc;
        if (!comma)
            return 0;
        start = end + 1;
    }
}

static int parse_macro(const char *s, size_t n, struct cron_expr *out, char *err, size_t errlen)
{
    size_t wlen = 0;

    while (wlen < n && !is_blank(s[wlen]))
        wlen++;
    if (wlen == strlen("@reboot") && strncasecmp(s, "@reboot", wlen) == 0)
        return set_error(err, errlen,
                         "@reboot is not supported (use a job without a trigger and run it at "
                         "start)");
    for (size_t i = 0; i < sizeof(cron_macros) / sizeof(cron_macros[0]); i++) {
        if (strlen(cron_macros[i].name) != wlen || strncasecmp(s, cron_macros[i].name, wlen) != 0)
            continue;
        if (wlen < n)
            return set_error(err, errlen, "unexpected text after \"%.*s\"", quote_len(wlen), s);
        return cron_parse(cron_macros[i].expr, out, err, errlen);
    }
    return set_error(err, errlen, "unknown macro \"%.*s\"", quote_len(wlen), s);
}

int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errlen)
{
    const char *p = text ? text : "", *end;
    const char *fs[6];
    size_t fl[6];
    struct cron_expr e = {0};
    int nf = 0, rc;

    while (is_space(*p))
        p++;
    end = p + strlen(p);
    while (end > p && is_space(end[-1]))
        end--;
    if (p == end)
        return set_error(err, errlen, "empty expression");
    if (*p == '@')
        return parse_macro(p, (size_t)(end - p), out, err, errlen);
    while (p < end) {
        const char *start;

        while (p < end && is_blank(*p))
            p++;
        start = p;
        while (p < end && !is_blank(*p))
            p++;
        if (nf < 6) {
            fs[nf] = start;
            fl[nf] = (size_t)(p - start);
        }
        nf++;
    }
    if (nf != 5 && nf != 6)
        return set_error(err, errlen, "expected 5 or 6 fields, got %d", nf);
    e.seconds = 1; /* five fields: second 0 */
    for (int i = 0; i < nf; i++) {
        struct field_ctx fc;
        uint64_t bits;
        bool star;

        fc.kind = (enum cron_field)((nf == 6 ? F_SEC : F_MIN) + i);
        fc.info = &field_info[fc.kind];
        fc.pos = i + 1;
        fc.err = err;
        fc.errlen = errlen;
        rc = parse_field(&fc, fs[i], fl[i], &bits, &star);
        if (rc < 0)
            return rc;
        switch (fc.kind) {
        case F_SEC:
            e.seconds = bits;
            break;
        case F_MIN:
            e.minutes = bits;
            break;
        case F_HOUR:
            e.hours = (uint32_t)bits;
            e.hour_span = memchr(fs[i], '*', fl[i]) || memchr(fs[i], '-', fl[i]) ||
                          memchr(fs[i], '/', fl[i]);
            break;
        case F_MDAY:
            e.mdays = (uint32_t)bits;
            e.mday_star = star;
            break;
        case F_MONTH:
            e.months = (uint16_t)bits;
            break;
        case F_WDAY:
            e.wdays = (uint8_t)bits;
            e.wday_star = star;
            break;
        }
    }
    *out = e;
    return 0;
}

/* ---- cron search ------------------------------------------------------- */

/* The smallest set bit of mask at or above `from`, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from < 0)
        from = 0;
    if (from > 63)
        return -1;
    mask &= ~UINT64_C(0) << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/* The days of year-month the expression allows, bit d for day d. */
static uint32_t day_mask(const struct cron_expr *e, int year, int month)
{
    int dim = civil_days_in_month(year, month);
    uint32_t in_month = (uint32_t)(((UINT64_C(1) << (dim + 1)) - 1) & ~UINT64_C(1));
    uint32_t by_mday = e->mdays & in_month, by_wday = 0;
    struct civil first = {.year = year, .month = month, .mday = 1};
    int64_t days;
    int wd;

    if (e->wday_star)
        return by_mday; /* "*" in day of week: day of month alone decides */
    days = floor_div(tz_utc_from_civil(&first), 86400);
    wd = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    for (int d = 1; d <= dim; d++) {
        if (e->wdays & (1u << wd))
            by_wday |= 1u << d;
        wd = wd == 6 ? 0 : wd + 1;
    }
    /* Vixie: both restricted -> either may match; day of month "*" -> the
     * weekday alone decides. */
    return e->mday_star ? by_wday : by_mday | by_wday;
}

static void clear_time(struct civil *c)
{
    c->hour = 0;
    c->min = 0;
    c->sec = 0;
}

/* Moves c to the first civil time at or after c that the expression allows.
 * c's fields may have overflowed by one (sec 60, hour 24, ...) on entry.
 * Returns 0, or -1 when nothing matches up to the end of max_year. */
static int cron_search(const struct cron_expr *e, struct civil *c, int max_year)
{
    for (;;) {
        int m, d, h, mi, s;

        if (c->year > max_year)
            return -1;
        m = next_bit(e->months, c->month);
        if (m < 0) {
            c->year++;
            c->month = 1;
            c->mday = 1;
            clear_time(c);
            continue;
        }
        if (m != c->month) {
            c->month = m;
            c->mday = 1;
            clear_time(c);
        }
        d = next_bit(day_mask(e, c->year, c->month), c->mday);
        if (d < 0) {
            c->month++;
            c->mday = 1;
            clear_time(c);
            continue;
        }
        if (d != c->mday) {
            c->mday = d;
            clear_time(c);
        }
        h = next_bit(e->hours, c->hour);
        if (h < 0) {
            c->mday++;
            clear_time(c);
            continue;
        }
        if (h != c->hour) {
            c->hour = h;
            c->min = 0;
            c->sec = 0;
        }
        mi = next_bit(e->minutes, c->min);
        if (mi < 0) {
            c->hour++;
            c->min = 0;
            c->sec = 0;
            continue;
        }
        if (mi != c->min) {
            c->min = mi;
            c->sec = 0;
        }
        s = next_bit(e->seconds, c->sec);
        if (s < 0) {
            c->min++;
            c->sec = 0;
            continue;
        }
        c->sec = s;
        return 0;
    }
}

/* The highest clock reading (local seconds) the zone showed at or before t:
 * max over u <= t of u + offset(u). It is above t + offset(t) only within a
 * day after a fall-back, while the clock repeats readings it already showed;
 * then the last second before the change gives it. */
static int64_t wall_high_water(const struct tz *tz, int64_t t)
{
    int32_t now = tz_offset_at(tz, t), before = tz_offset_at(tz, t - 86400);
    int64_t best = t + now, lo = t - 86400, hi = t;

    if (before <= now)
        return best;
    while (hi - lo > 1) { /* lo keeps the old offset, hi the new one */
        int64_t mid = lo + (hi - lo) / 2;
        if (tz_offset_at(tz, mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return lo + before > best ? lo + before : best;
}

/* The first fall-back in (from, to]: its instant, and the offsets before
 * and after it; -1 when there is none. Zones change at most a few times a
 * year, so a day's step finds each (a second change within a day does not
 * occur in the tz database). */
static int64_t next_fall_back(const struct tz *tz, int64_t from, int64_t to, int32_t *before,
                              int32_t *after)
{
    for (int64_t t = from; t < to;) {
        int64_t t2 = to - t > 86400 ? t + 86400 : to;
        int32_t a = tz_offset_at(tz, t), b = tz_offset_at(tz, t2);
        if (b < a) {
            int64_t lo = t, hi = t2; /* lo has offset a, hi offset b */
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (tz_offset_at(tz, mid) == a)
                    lo = mid;
                else
                    hi = mid;
            }
            *before = a;
            *after = b;
            return hi;
        }
        t = t2;
    }
    return -1;
}

/* For a job whose hour field spans hours, the first match in [lo, limit)
 * among the clock readings a fall-back shows a second time (cron, cronie
 * and systemd keep such jobs firing through the repeated hour); -1 when
 * there is none. lo may be inside that second pass, or before it. */
static int64_t repeated_match(const struct trigger *t, const struct tz *tz, int64_t lo,
                              int64_t limit)
{
    int64_t high = wall_high_water(tz, lo - 1), reading = lo + tz_offset_at(tz, lo);
    int64_t first, last, s; /* readings of the second pass, inclusive */
    int32_t offset;
    struct civil c;

    if (reading <= high) {
        /* inside it: from the reading now to the highest shown before */
        first = reading;
        last = high;
        offset = tz_offset_at(tz, lo);
    } else {
        int32_t before, after;
        int64_t change = next_fall_back(tz, lo, limit, &before, &after);
        if (change < 0)
            return -1;
        first = change + after;
        last = change + before - 1;
        offset = after;
    }
    tz_utc_to_civil(first, &c);
    if (cron_search(&t->cron, &c, c.year + 1) < 0)
        return -1;
    s = tz_utc_from_civil(&c);
    if (s > last)
        return -1;
    s -= offset;
    return s >= lo && s < limit ? s : -1;
}

static int64_t cron_next(const struct trigger *t, int64_t after_ns)
{
    const struct tz *tz = t->tz ? t->tz : tz_local();
    int64_t lo = floor_div(after_ns, NS_PER_SEC) + 1; /* first whole second > after_ns */
    int64_t s;
    struct civil c;

    if (t->start_ns != 0 && t->start_ns > after_ns) {
        int64_t first = -floor_div(-t->start_ns, NS_PER_SEC); /* ceil: no firing before start */
        if (first > lo)
            lo = first;
    }
    tz_utc_to_civil(wall_high_water(tz, lo - 1) + 1, &c);
    /* The loop runs once: readings above the high water mark map to instants
     * >= lo. It stays as a guard so no firing can ever be <= after_ns. */
    for (;;) {
        if (cron_search(&t->cron, &c, c.year + CRON_MAX_YEARS) < 0)
            return -1;
        tz_from_civil(tz, &c, &s);
        if (s >= lo)
            break;
        c.sec++;
    }
    if (t->cron.hour_span) {
        int64_t again = repeated_match(t, tz, lo, s > lo ? s : lo + 1);
        if (again >= 0)
            s = again;
    }
    if (s > INT64_MAX / NS_PER_SEC)
        return -1;
    s *= NS_PER_SEC;
    if (t->end_ns && s > t->end_ns)
        return -1;
    return s;
}

static int64_t interval_next(const struct trigger *t, int64_t after_ns, int64_t anchor_ns)
{
    int64_t origin = t->start_ns ? t->start_ns : anchor_ns;
    int64_t next, diff, k, off;

    if (t->interval_ns <= 0)
        return -1;
    if (after_ns < origin) {
        next = origin;
    } else {
        if (__builtin_sub_overflow(after_ns, origin, &diff))
            return -1;
        k = diff / t->interval_ns + 1;
        if (__builtin_mul_overflow(k, t->interval_ns, &off) ||
            __builtin_add_overflow(origin, off, &next))
            return -1;
    }
    if (t->end_ns && next > t->end_ns)
        return -1;
    return next;
}

int64_t trigger_next(const struct trigger *t, int64_t after_ns, int64_t anchor_ns)
{
    switch (t->kind) {
    case TRIGGER_CRON:
        return cron_next(t, after_ns);
    case TRIGGER_INTERVAL:
        return interval_next(t, after_ns, anchor_ns);
    case TRIGGER_DATE:
        return t->at_ns > after_ns ? t->at_ns : -1;
    default:
        return -1;
    }
}

/* ---- the firings of a span ----------------------------------------------- */

/* Firings listed one by one before whole days are counted at once. */
#define COUNT_ENUMERATED 4096

int64_t trigger_last(const struct trigger *t, int64_t after_ns, int64_t upto_ns, int64_t anchor_ns)
{
    int64_t first = trigger_next(t, after_ns, anchor_ns), lo, hi;

    if (first < 0 || first > upto_ns)
        return -1;
    if (t->kind == TRIGGER_INTERVAL) {
        int64_t top = t->end_ns && t->end_ns < upto_ns ? t->end_ns : upto_ns;
        return first + (top - first) / t->interval_ns * t->interval_ns;
    }
    /* The first firing after x never decreases as x grows: find the
     * largest x < upto_ns whose next firing is still <= upto_ns. */
    lo = first;
    hi = upto_ns;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2, next = trigger_next(t, mid, anchor_ns);
        if (next >= 0 && next <= upto_ns)
            lo = mid;
        else
            hi = mid;
    }
    {
        int64_t next = trigger_next(t, lo, anchor_ns);
        return next >= 0 && next <= upto_ns ? next : lo;
    }
}

/* The instant local day `c` (its date fields) begins in tz. */
static int64_t day_start(const struct tz *tz, const struct civil *c)
{
    struct civil d = {.year = c->year, .month = c->month, .mday = c->mday};
    int64_t s;
    tz_from_civil(tz, &d, &s);
    return s;
}

/* Firings of the expression in one whole local day without an offset
 * change. */
static uint64_t day_firings(const struct cron_expr *e, const struct civil *c)
{
    if (!(day_mask(e, c->year, c->month) & (1u << c->mday)))
        return 0;
    return (uint64_t)__builtin_popcount(e->hours) * (uint64_t)__builtin_popcountll(e->minutes) *
           (uint64_t)__builtin_popcountll(e->seconds);
}

static uint64_t cron_count(const struct trigger *t, int64_t after_ns, int64_t upto_ns)
{
    const struct tz *tz = t->tz ? t->tz : tz_local();
    uint64_t n = 0;
    int64_t cur = after_ns, next;

    for (;;) {
        struct civil c;
        int64_t end; /* seconds: the start of the day after cur's */

        for (unsigned i = 0; i < COUNT_ENUMERATED; i++) {
            next = trigger_next(t, cur, 0);
            if (next < 0 || next > upto_ns)
                return n;
            n++;
            cur = next;
        }
        /* Many: finish cur's local day one by one... */
        tz_to_civil(tz, floor_div(cur, NS_PER_SEC), &c);
        c.mday++;
        end = day_start(tz, &c);
        for (;;) {
            next = trigger_next(t, cur, 0);
            if (next < 0 || next > upto_ns)
                return n;
            if (next >= end * NS_PER_SEC)
                break;
            n++;
            cur = next;
        }
        /* ...then count whole days while they are plain and inside. */
        for (;;) {
            int64_t begin = end, stop;
            tz_to_civil(tz, begin, &c); /* the day starting at `begin` */
            c.mday++;
            stop = day_start(tz, &c);
            tz_to_civil(tz, begin, &c);
            if ((stop - 1) * NS_PER_SEC > upto_ns || stop - begin != 86400 ||
                tz_offset_at(tz, begin) != tz_offset_at(tz, stop - 1))
                break; /* the last day, or one with a change: one by one */
            n += day_firings(&t->cron, &c);
            cur = (stop - 1) * NS_PER_SEC; /* its last second: counted */
            end = stop;
        }
    }
}

uint64_t trigger_count(const struct trigger *t, int64_t after_ns, int64_t upto_ns,
                       int64_t anchor_ns)
{
    int64_t first, last;

    if (upto_ns <= after_ns)
        return 0;
    switch (t->kind) {
    case TRIGGER_DATE:
        return t->at_ns > after_ns && t->at_ns <= upto_ns ? 1 : 0;
    case TRIGGER_INTERVAL:
        first = trigger_next(t, after_ns, anchor_ns);
        if (first < 0 || first > upto_ns)
            return 0;
        last = trigger_last(t, after_ns, upto_ns, anchor_ns);
        return (uint64_t)((last - first) / t->interval_ns) + 1;
    case TRIGGER_CRON:
        /* the bounds of the trigger, once, so whole days need no check */
        if (t->start_ns && t->start_ns - 1 > after_ns)
            after_ns = t->start_ns - 1;
        if (t->end_ns && t->end_ns < upto_ns)
            upto_ns = t->end_ns;
        return upto_ns > after_ns ? cron_count(t, after_ns, upto_ns) : 0;
    default:
        return 0;
    }
}

int32_t trigger_utc_offset(const struct trigger *t, int64_t ns)
{
    const struct tz *tz = t->kind == TRIGGER_CRON ? t->tz : NULL;
    return tz_offset_at(tz, floor_div(ns, NS_PER_SEC));
}

/* ---- RFC 3339 ---------------------------------------------------------- */

/* Exactly n digits. NULL when they are not there. */
static const char *take_digits(const char *p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return NULL;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return p + n;
}

static const char *take_char(const char *p, char c)
{
    return p && *p == c ? p + 1 : NULL;
}

int rfc3339_parse(const char *text, int64_t *ns)
{
    const char *p = text;
    struct civil c = {0};
    int64_t frac = 0, scale = NS_PER_SEC / 10, secs, v;
    int sign = 0, oh = 0, om = 0;

    if (!p)
        return -EINVAL;
    p = take_digits(p, 4, &c.year);
    p = take_char(p, '-');
    p = p ? take_digits(p, 2, &c.month) : NULL;
    p = take_char(p, '-');
    p = p ? take_digits(p, 2, &c.mday) : NULL;
    if (!p || (*p != 'T' && *p != 't' && *p != ' '))
        return -EINVAL;
    p = take_digits(p + 1, 2, &c.hour);
    p = take_char(p, ':');
    p = p ? take_digits(p, 2, &c.min) : NULL;
    p = take_char(p, ':');
    p = p ? take_digits(p, 2, &c.sec) : NULL;
    if (!p)
        return -EINVAL;
    if (*p == '.') {
        if (!is_digit(*++p))
            return -EINVAL;
        for (; is_digit(*p); p++) {
            frac += (*p - '0') * scale;
            scale /= 10; /* 0 after the ninth digit: the rest is dropped */
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p = take_digits(p + 1, 2, &oh);
        p = take_char(p, ':');
        p = p ? take_digits(p, 2, &om) : NULL;
        if (!p || oh > 23 || om > 59)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    if (c.month < 1 || c.month > 12 || c.mday < 1 || c.mday > civil_days_in_month(c.year, c.month) ||
        c.hour > 23 || c.min > 59 || c.sec > 59)
        return -EINVAL;
    secs = tz_utc_from_civil(&c) - sign * (oh * 3600 + om * 60);
    if (secs < 0 && frac > 0) {
        /* Borrow a second so the product stays in range down to INT64_MIN. */
        secs++;
        frac -= NS_PER_SEC;
    }
    if (__builtin_mul_overflow(secs, NS_PER_SEC, &v) || __builtin_add_overflow(v, frac, &v))
        return -EINVAL;
    *ns = v;
    return 0;
}

static char *format_offset(int64_t ns, int32_t off, bool millis, char *buf, size_t len)
{
    int64_t secs = floor_div(ns, NS_PER_SEC);
    int64_t sub = ns % NS_PER_SEC; /* not ns - secs * NS_PER_SEC: that overflows near INT64_MIN */
    int32_t aoff;
    struct civil c;
    char frac[8] = "";

    if (sub < 0)
        sub += NS_PER_SEC;

    if (!buf || len == 0)
        return buf;
    off -= off % 60; /* RFC 3339 offsets have no seconds; see trigger.h */
    aoff = off < 0 ? -off : off;
    tz_utc_to_civil(secs + off, &c);
    if (c.year >= 0 && c.year <= 9999 && aoff < 100 * 3600 && len >= RFC3339_BUFLEN) {
        /* Every log record's `scheduled` comes here: by hand, the same
         * text as the snprintf below, which showed in the writer's profile. */
        char *o = buf;
        o = numfmt_pad(o, (unsigned)c.year, 4);
        *o++ = '-';
        o = numfmt_pad(o, (unsigned)c.month, 2);
        *o++ = '-';
        o = numfmt_pad(o, (unsigned)c.mday, 2);
        *o++ = 'T';
        o = numfmt_pad(o, (unsigned)c.hour, 2);
        *o++ = ':';
        o = numfmt_pad(o, (unsigned)c.min, 2);
        *o++ = ':';
        o = numfmt_pad(o, (unsigned)c.sec, 2);
        if (millis) {
            *o++ = '.';
            o = numfmt_pad(o, (unsigned)(sub / NS_PER_MS), 3);
        }
        *o++ = off < 0 ? '-' : '+';
        o = numfmt_pad(o, (unsigned)(aoff / 3600 % 100), 2);
        *o++ = ':';
        o = numfmt_pad(o, (unsigned)(aoff / 60 % 60), 2);
        *o = '\0';
        return buf;
    }
    if (millis)
        snprintf(frac, sizeof(frac), ".%03d", (int)(sub / NS_PER_MS));
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%s%c%02d:%02d", c.year, c.month, c.mday,
             c.hour, c.min, c.sec, frac, off < 0 ? '-' : '+', aoff / 3600, aoff / 60 % 60);
    return buf;
}

char *rfc3339_format(int64_t ns, const struct tz *tz, bool millis, char *buf, size_t len)
{
    return format_offset(ns, tz_offset_at(tz, floor_div(ns, NS_PER_SEC)), millis, buf, len);
}

char *rfc3339_format_offset(int64_t ns, int32_t offset_s, bool millis, char *buf, size_t len)
{
    return format_offset(ns, offset_s, millis, buf, len);
}

/* ---- equality and hash ---------------------------------------------------- */

/* Every field of struct trigger that decides when it fires, as numbers, in
 * one place: trigger_equal and trigger_hash both read this list, so a new
 * field is one line here (the assertion below is the reminder). The zone is
 * returned apart, by name. */
#define TRIGGER_FIELDS_MAX 16

_Static_assert(sizeof(void *) != 8 || sizeof(struct trigger) == 88,
               "struct trigger changed: add the new field to trigger_fields()");

static size_t trigger_fields(const struct trigger *t, uint64_t v[TRIGGER_FIELDS_MAX],
                             const char **zone)
{
    size_t n = 0;

    v[n++] = (uint64_t)t->kind;
    v[n++] = t->cron.seconds;
    v[n++] = t->cron.minutes;
    v[n++] = t->cron.hours;
    v[n++] = t->cron.mdays;
    v[n++] = t->cron.months;
    v[n++] = t->cron.wdays;
    v[n++] = (uint64_t)t->cron.hour_span << 2 | (uint64_t)t->cron.mday_star << 1 |
             (uint64_t)t->cron.wday_star;
    v[n++] = (uint64_t)t->interval_ns;
    v[n++] = (uint64_t)t->start_ns;
    v[n++] = (uint64_t)t->end_ns;
    v[n++] = (uint64_t)t->jitter_ns;
    v[n++] = (uint64_t)t->at_ns;
    *zone = t->tz ? tz_name(t->tz) : NULL;
    return n;
}

bool trigger_equal(const struct trigger *a, const struct trigger *b)
{
    uint64_t va[TRIGGER_FIELDS_MAX], vb[TRIGGER_FIELDS_MAX];
    const char *za, *zb;
    size_t n = trigger_fields(a, va, &za);

    trigger_fields(b, vb, &zb);
    if (memcmp(va, vb, n * sizeof(va[0])) != 0)
        return false;
    if (!za || !zb)
        return za == zb;
    return a->tz == b->tz || strcmp(za, zb) == 0;
}

/* FNV-1a, a byte at a time, numbers little-endian whatever the host's order. */
static uint64_t fnv_byte(uint64_t h, unsigned char c)
{
    return (h ^ c) * UINT64_C(1099511628211);
}

uint64_t trigger_hash(const struct trigger *t)
{
    uint64_t v[TRIGGER_FIELDS_MAX], h = UINT64_C(14695981039346656037);
    const char *zone;
    size_t n = trigger_fields(t, v, &zone);

    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 64; b += 8)
            h = fnv_byte(h, (unsigned char)(v[i] >> b));
    }
    /* a marker first, so no zone and the zone "" differ */
    h = fnv_byte(h, zone ? 1 : 0);
    for (const char *c = zone; c && *c; c++)
        h = fnv_byte(h, (unsigned char)*c);
    return h ? h : 1;
}
