/*
 * clock — the two clocks the host reads: CLOCK_MONOTONIC for durations and
 * deadlines, CLOCK_REALTIME for what users see (scheduled times, records).
 */
#ifndef JH_CLOCK_H
#define JH_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
int64_t mono_ns(void);
int64_t wall_ns(void);

/* The wall-clock time of a monotonic reading, from a cached offset: one
 * clock read fewer on every run. The offset is re-read by
 * clock_offset_refresh(), which the dispatcher calls whenever it wakes and
 * when the wall clock steps. Any thread. */
int64_t wall_from_mono(int64_t mono);
void clock_offset_refresh(void);

#endif /* JH_CLOCK_H */
