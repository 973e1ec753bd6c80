/*
 * tz — IANA time zones read from the system's TZif files
 * (/usr/share/zoneinfo/NAME, or $TZDIR), including the POSIX TZ footer that
 * governs times past the last listed transition. Unlike localtime_r with
 * setenv("TZ"), any number of zones can be used at once from any thread.
 *
 * Civil <-> Unix conversion is done here (days-from-civil arithmetic on the
 * proleptic Gregorian calendar), never through localtime_r/mktime, so nothing
 * depends on the process's TZ or on libc's global state.
 *
 * Every function taking a `const struct tz *` treats NULL as tz_local().
 * Instants are clamped to about +-35 million years so no arithmetic overflows.
 */
#ifndef JH_TZ_H
#define JH_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* The zone named `name` ("Europe/Berlin", "UTC"), read from $TZDIR/NAME (or
 * /usr/share/zoneinfo/NAME). Refuses empty names, absolute paths and names
 * holding "..". TZif versions 1 to 4 are read (the 64-bit part of v2+);
 * leap-second ("right/") files are refused. "UTC", "Etc/UTC", "GMT" and
 * "Etc/GMT" work even without tzdata installed.
 * Zones are loaded once and kept for the life of the process (the first load
 * of a name wins, even if $TZDIR changes later); the result is immutable and
 * may be used from any thread. NULL with a message in err when unknown or
 * unreadable. Thread-safe. */
const struct tz *tz_get(const char *name, char *err, size_t errlen);

/* A zone made from a POSIX TZ string alone ("CET-1CEST,M3.5.0,M10.5.0/3",
 * "<+03>-3", "EST5EDT" without rules means the US rules M3.2.0,M11.1.0).
 * Cached like tz_get. NULL with a message in err when malformed. */
const struct tz *tz_posix(const char *spec, char *err, size_t errlen);

/* The host's zone, decided once on the first call: $TZ when set (":Name",
 * "Name", an absolute path, or a POSIX TZ string; empty means UTC), else
 * /etc/localtime, else UTC. Never NULL. Thread-safe. */
const struct tz *tz_local(void);

/* The zone's name as given ("Europe/Berlin"). For tz_local(): the $TZ value
 * (without its ':'), or for /etc/localtime the name below "zoneinfo/" its
 * symlink points to, or "localtime" when it is no such symlink. */
const char *tz_name(const struct tz *tz);

/* UTC offset in seconds at the instant `unix_s` (e.g. +7200 in CEST). */
int32_t tz_offset_at(const struct tz *tz, int64_t unix_s);

/* Civil (local) time fields, like struct tm but without its global state. */
struct civil {
    int year, month, mday; /* month 1..12, mday 1..31 */
    int hour, min, sec;
    int wday; /* 0 = Sunday */
};

/* UTC instant -> local civil time in tz (wday filled in). */
void tz_to_civil(const struct tz *tz, int64_t unix_s, struct civil *out);

/* Local civil time -> UTC instant. wday is ignored; mday, hour, min and sec
 * may lie outside their ranges and carry over (mday 32 of January is
 * 1 February), month must be 1..12.
 * The result is the first instant at which the zone's clock reads `c` or
 * later, which gives the DST rule:
 *   - a time in a spring-forward gap maps to the instant of the change, the
 *     first instant after the gap (02:30 on a Berlin spring-forward day ->
 *     03:00 CEST = 01:00Z); returns 1;
 *   - a time repeated by a fall-back maps to its first occurrence (02:30 on a
 *     Berlin fall-back day -> 02:30 CEST = 00:30Z); returns 2;
 *   - otherwise returns 0. */
int tz_from_civil(const struct tz *tz, const struct civil *c, int64_t *unix_s);

/* The zone-free arithmetic under the above, for callers that work in civil
 * time themselves: civil time read as UTC <-> seconds since the epoch. */
int64_t tz_utc_from_civil(const struct civil *c);
void tz_utc_to_civil(int64_t unix_s, struct civil *out);

/* Days in `month` (1..12) of `year` in the Gregorian calendar. */
int tz_days_in_month(int year, int month);

#endif /* JH_TZ_H */
