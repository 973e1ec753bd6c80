/*
 * trigger — when a job fires. Parses cron expressions, intervals and one-shot
 * dates, and answers "the first fire time strictly after T". Pure: no locks,
 * no globals, no clock reads; times are Unix nanoseconds (UTC wall clock).
 *
 * Cron follows Vixie cron: five fields (minute hour day-of-month month
 * day-of-week) or six with a leading seconds field; names (jan..dec,
 * sun..sat), lists, ranges, steps, "*" and "*\/n"; day 7 is Sunday too;
 * @yearly @annually @monthly @weekly @daily @midnight @hourly. When both
 * day-of-month and day-of-week are restricted, a day matches if either does.
 *
 * Time zones: each cron trigger is evaluated in its own IANA zone (read from
 * the system's TZif files, see tz.h) or the host's local zone.
 * DST rule: a local time skipped by a spring-forward fires once, at the first
 * instant after the gap (the instant of the change: "30 2 * * *" on Berlin's
 * spring-forward day fires at 03:00 CEST). Through a fall-back, an
 * expression whose hour field is "*", a range or a step (cron_expr.hour_span)
 * fires in both passes of the repeated hour, as Vixie cron and cronie do; one
 * with fixed hours fires once, at the first pass.
 */
#ifndef JH_TRIGGER_H
#define JH_TRIGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

enum trigger_kind {
    TRIGGER_NONE = 0, /* runs only when triggered by hand */
    TRIGGER_CRON,
    TRIGGER_INTERVAL,
    TRIGGER_DATE,
};

/* A parsed cron expression: one bit per allowed value. */
struct cron_expr {
    uint64_t seconds; /* bits 0..59 */
    uint64_t minutes; /* bits 0..59 */
    uint32_t hours;   /* bits 0..23 */
    uint32_t mdays;   /* bits 1..31 */
    uint16_t months;  /* bits 1..12 */
    uint8_t wdays;    /* bits 0..6, Sunday = 0 */
    bool mday_star;   /* day-of-month field was "*" (or "?") */
    bool wday_star;   /* day-of-week field was "*" (or "?") */
    bool hour_span;   /* hour field was "*", a range or a step: it fires through both
                         passes of a fall-back's repeated hour (a fixed hour, once) */
};

struct trigger {
    enum trigger_kind kind;
    struct cron_expr cron;    /* TRIGGER_CRON */
    const struct tz *tz;      /* TRIGGER_CRON; borrowed, NULL = host local zone */
    int64_t interval_ns;      /* TRIGGER_INTERVAL: period, > 0 */
    int64_t start_ns;         /* TRIGGER_INTERVAL: first firing; CRON: no firing
                               * before (0 = not set) */
    int64_t end_ns;           /* TRIGGER_INTERVAL / CRON: no firing after (0 = none) */
    int64_t jitter_ns;        /* added by the scheduler, 0..jitter_ns; not used here */
    int64_t at_ns;            /* TRIGGER_DATE: the one firing */
};

/* Parses a cron expression (or @macro) into *out (untouched on error).
 * Fields are separated by spaces or tabs; leading and trailing white space is
 * ignored. "?" means "*" in the two day fields. A day-of-month or
 * day-of-week field counts as restricted unless it is exactly "*" or "?".
 * In day of week, a range ending in 0 or "sun" ends on Sunday ("fri-sun").
 * A step may not exceed the field's span ("*\/60" is fine for minutes,
 * "*\/61" is not).
 *
 * On error returns -EINVAL and writes one message into err (when err is not
 * NULL), naming the field by its position as written (1-based) and its name
 * (second, minute, hour, day of month, month, day of week):
 *   "empty expression"
 *   "expected 5 or 6 fields, got 3"
 *   "unknown macro \"@foo\""
 *   "@reboot is not supported (use a job without a trigger and run it at start)"
 *   "unexpected text after \"@daily\""
 *   "field 3 (day of month): value 32 out of range 1-31"
 *   "field 1 (minute): negative value \"-5\" is not allowed"
 *   "field 5 (day of week): unknown name \"fri2\""
 *   "field 1 (minute): invalid value \"5x\""
 *   "field 1 (minute): range 30-10 is reversed"
 *   "field 1 (minute): invalid range \"1-2-3\""
 *   "field 2 (hour): step 0 is not allowed"
 *   "field 2 (hour): step 25 out of range 1-24"
 *   "field 2 (hour): invalid step \"x\""
 *   "field 2 (hour): missing step after \"/\""
 *   "field 4 (month): empty list item"
 *   "field 1 (minute): invalid item \"*-5\""
 *   "field 2 (hour): \"?\" is only allowed in day of month and day of week"
 * Quoted parts are the user's text as written (cut at 32 characters). */
int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errlen);

/* Parses an RFC 3339 time ("2026-03-29T02:30:00+01:00", "...Z", fractional
 * seconds allowed) into Unix ns. "t", "z" and a space instead of "T" are
 * accepted; digits after the ninth fractional one are dropped. Every field is
 * range-checked (29 February only in leap years); second 60 is refused, as
 * Unix time has no leap seconds. Returns 0, or -EINVAL for malformed text
 * and for instants outside the int64 nanosecond range (1677..2262). */
int rfc3339_parse(const char *text, int64_t *ns);

/* Enough for any rfc3339_format result, NUL included. */
#define RFC3339_BUFLEN 40

/* Formats ns as RFC 3339 with the UTC offset of `tz` (NULL = host local),
 * e.g. "2026-03-29T03:00:00+02:00"; with millis, ".123" is added (truncated,
 * not rounded). The offset is always numeric, "+00:00" in UTC too, so every
 * string has the same shape. An offset with seconds (old local mean time) is
 * cut to whole minutes and the clock fields follow it, so the text still
 * names the exact instant. Returns buf; RFC3339_BUFLEN bytes always suffice. */
char *rfc3339_format(int64_t ns, const struct tz *tz, bool millis, char *buf, size_t len);

/* The same with a given UTC offset (seconds east, cut to whole minutes):
 * how a time is shown with the offset it was recorded with, e.g. a firing's
 * nominal time in its trigger's zone (trigger_utc_offset). */
char *rfc3339_format_offset(int64_t ns, int32_t offset_s, bool millis, char *buf, size_t len);

/* The first fire time strictly after `after_ns`, or -1 when the trigger will
 * never fire again (a past date, an interval past its end, TRIGGER_NONE).
 * For TRIGGER_INTERVAL without start_ns, `anchor_ns` (the time the job was
 * planned) is the phase origin: firings are anchor + k * interval.
 * For TRIGGER_CRON, firings are on whole seconds; the search looks at most 8
 * years ahead, so an expression that can never match ("0 0 30 2 *") gives -1.
 * Through DST changes each local reading the expression names fires once:
 * readings skipped by a spring-forward fire at the instant of the change;
 * readings repeated by a fall-back fire only at their first occurrence (so an
 * hourly job does not run again in the repeated hour). See tz_from_civil. */
int64_t trigger_next(const struct trigger *t, int64_t after_ns, int64_t anchor_ns);

/* The latest firing in (after_ns, upto_ns], or -1 when there is none. Cost
 * is bounded whatever the number of firings in between: arithmetic for
 * intervals, a bisection over trigger_next (some 60 calls) for cron. */
int64_t trigger_last(const struct trigger *t, int64_t after_ns, int64_t upto_ns, int64_t anchor_ns);

/* How many firings fall in (after_ns, upto_ns], exactly as trigger_next
 * would list them one by one (DST rules included), without listing them
 * when there are many: intervals by arithmetic; cron by whole local days
 * (days with no UTC offset change count as the product of their allowed
 * hours, minutes and seconds) and one by one only within the first and
 * last day and days with a change. A year of a per-second job is counted
 * in milliseconds. */
uint64_t trigger_count(const struct trigger *t, int64_t after_ns, int64_t upto_ns,
                       int64_t anchor_ns);

/* The UTC offset (seconds east) that names the firing at `ns` in local
 * time: the cron trigger's zone (or the host's); the host's zone for
 * interval and date triggers, whose times are absolute. With the instant
 * it tells which pass of a fall-back's repeated hour a firing was. */
int32_t trigger_utc_offset(const struct trigger *t, int64_t ns);

/* True when a and b fire at the same times: same kind, cron fields, zone
 * (by name; NULL, the host's zone, is a zone of its own), interval, date,
 * start, end and jitter. What reload uses to tell a changed schedule from an
 * unchanged one. */
bool trigger_equal(const struct trigger *a, const struct trigger *b);

/* A 64-bit hash of the same fields, never 0, such that equal triggers hash
 * alike. Stable: it depends on the field values and the zone's name only
 * (not on addresses, the byte order or the run), so it may be stored. */
uint64_t trigger_hash(const struct trigger *t);

#endif /* JH_TRIGGER_H */
