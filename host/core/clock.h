/*
 * clock — the two clocks the host reads: CLOCK_MONOTONIC for durations and
 * deadlines, CLOCK_REALTIME for what users see (scheduled times, records).
 */
#ifndef JH_CLOCK_H
#define JH_CLOCK_H

#include <pthread.h>
#include <stdint.h>

/* t + d and a - b, saturated at INT64_MIN / INT64_MAX instead of
 * overflowing: every place a duration (from a manifest, a plugin or the
 * host) meets a clock reading goes through these, so a huge duration means
 * "as late as can be", never a time in the past. */
static inline int64_t clock_add(int64_t t, int64_t d)
{
    int64_t r;
    if (__builtin_add_overflow(t, d, &r))
        return d > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t clock_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
int64_t mono_ns(void);
int64_t wall_ns(void);

/* The wall-clock time of a monotonic reading, from a cached offset: one
 * clock read fewer on every run. The offset is re-read by
 * clock_offset_refresh(), which the dispatcher calls whenever it wakes and
 * when the wall clock steps. Any thread. */
int64_t wall_from_mono(int64_t mono);
void clock_offset_refresh(void);

/* Initialises cond so that its timed waits take CLOCK_MONOTONIC deadlines
 * (mono_ns()): a step of the wall clock neither shortens nor stretches
 * them. */
void cond_init_mono(pthread_cond_t *cond);

#endif /* JH_CLOCK_H */
