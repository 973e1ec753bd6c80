/*
 * tz — IANA time zones read from the system's TZif files
 * (/usr/share/zoneinfo/NAME, or $TZDIR), including the POSIX TZ footer that
 * governs times past the last listed transition. Unlike localtime_r with
 * setenv("TZ"), any number of zones can be used at once from any thread.
 */
#ifndef JH_TZ_H
#define JH_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* The zone named `name` ("Europe/Berlin", "UTC"). Zones are loaded once and
 * kept for the life of the process; the result is immutable and may be used
 * from any thread. NULL with a message in err when unknown or unreadable. */
const struct tz *tz_get(const char *name, char *err, size_t errlen);

/* The host's zone: $TZ when set, else /etc/localtime, else UTC. */
const struct tz *tz_local(void);

/* The zone's name as given ("Europe/Berlin"; "localtime" for tz_local()). */
const char *tz_name(const struct tz *tz);

/* UTC offset in seconds at the instant `unix_s` (e.g. +7200 in CEST). */
int32_t tz_offset_at(const struct tz *tz, int64_t unix_s);

/* Civil (local) time fields, like struct tm but without its global state. */
struct civil {
    int year, month, mday; /* month 1..12, mday 1..31 */
    int hour, min, sec;
    int wday; /* 0 = Sunday */
};

/* UTC instant -> local civil time in tz. */
void tz_to_civil(const struct tz *tz, int64_t unix_s, struct civil *out);

/* Local civil time -> UTC instant. A time in a spring-forward gap maps to the
 * first instant after the gap (returns 1); a time repeated by a fall-back maps
 * to its first occurrence (returns 2); otherwise returns 0. */
int tz_from_civil(const struct tz *tz, const struct civil *c, int64_t *unix_s);

#endif /* JH_TZ_H */
