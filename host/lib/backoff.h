/*
 * backoff — the delay before a retry: `delay` times `factor` to the power
 * of the retries made before, at most `max`, plus a share of `jitter`
 * chosen by a seed (a run id), so that the same failed run always waits
 * the same time and runs failing together spread out. Pure: no clock, no
 * globals; what the retry policy (core/retry.c) and the restore of a
 * pending retry (core/restore.c) both compute.
 */
#ifndef JH_BACKOFF_H
#define JH_BACKOFF_H

#include <stdint.h>

/* The longest delay computed: a year (no overflow, whatever the factor). */
#define BACKOFF_MAX_NS (INT64_C(365) * 86400 * 1000000000)

struct backoff {
    int64_t delay_ns;  /* before the first retry; >= 0 */
    double factor;     /* >= 1 */
    int64_t max_ns;    /* 0 = no cap (but BACKOFF_MAX_NS) */
    int64_t jitter_ns; /* 0 = none */
};

/* The wait before retry number `n` (1 = the first retry, after attempt 1
 * failed): delay * factor^(n-1), capped, plus seed's share of [0, jitter). */
int64_t backoff_delay(const struct backoff *b, unsigned n, uint64_t seed);

#endif /* JH_BACKOFF_H */
