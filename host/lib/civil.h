/*
 * civil — the proleptic Gregorian calendar as arithmetic (Howard Hinnant's
 * days_from_civil / civil_from_days): the one place the host turns days
 * since 1970-01-01 into dates and back. Time zones (tz), cron search
 * (trigger) and log timestamps (logfmt) all count on it. Pure.
 */
#ifndef JH_CIVIL_H
#define JH_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* a / b rounded towards minus infinity (b > 0). */
static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline bool civil_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in `month` (1..12) of `year`; 0 for another month. */
int civil_days_in_month(int64_t year, int month);

/* Days since 1970-01-01 of y-m-d (m 1..12); d may exceed the month's length
 * and carries over. */
int64_t days_from_civil(int64_t y, int m, int64_t d);

/* The date of day `z` since 1970-01-01. */
void civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* 0 = Sunday. */
int civil_weekday(int64_t z);

#endif /* JH_CIVIL_H */
