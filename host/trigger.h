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
 * instant after the gap; a local time repeated by a fall-back fires once, at
 * its first occurrence.
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
};

struct trigger {
    enum trigger_kind kind;
    struct cron_expr cron;    /* TRIGGER_CRON */
    const struct tz *tz;      /* TRIGGER_CRON; borrowed, NULL = host local zone */
    int64_t interval_ns;      /* TRIGGER_INTERVAL: period, > 0 */
    int64_t start_ns;         /* TRIGGER_INTERVAL: first firing (0 = not set) */
    int64_t end_ns;           /* TRIGGER_INTERVAL / CRON: no firing after (0 = none) */
    int64_t jitter_ns;        /* added by the scheduler, 0..jitter_ns; not used here */
    int64_t at_ns;            /* TRIGGER_DATE: the one firing */
};

/* Parses a cron expression (or @macro). On error returns -EINVAL and writes a
 * message naming the field and reason into err, e.g.
 * "field 3 (day of month) value 32 out of range 1-31". */
int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errlen);

/* Parses an RFC 3339 time ("2026-03-29T02:30:00+01:00", "...Z", fractional
 * seconds allowed) into Unix ns. Returns 0 or -EINVAL. */
int rfc3339_parse(const char *text, int64_t *ns);

/* Formats ns as RFC 3339 with the UTC offset of `tz` (NULL = host local),
 * e.g. "2026-03-29T03:00:00+02:00"; with millis, ".123" is added. */
char *rfc3339_format(int64_t ns, const struct tz *tz, bool millis, char *buf, size_t len);

/* The first fire time strictly after `after_ns`, or -1 when the trigger will
 * never fire again (a past date, an interval past its end, TRIGGER_NONE).
 * For TRIGGER_INTERVAL without start_ns, `anchor_ns` (the time the job was
 * planned) is the phase origin: firings are anchor + k * interval. */
int64_t trigger_next(const struct trigger *t, int64_t after_ns, int64_t anchor_ns);

#endif /* JH_TRIGGER_H */
