/*
 * backoff — the delay before a retry. See backoff.h.
 */
#include "lib/backoff.h"

/* splitmix64's finaliser: a seed's bits spread over the whole word, so
 * neighbouring run ids get unrelated shares of the jitter. */
static uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

int64_t backoff_delay(const struct backoff *b, unsigned n, uint64_t seed)
{
    double d = (double)(b->delay_ns > 0 ? b->delay_ns : 0);
    int64_t cap = b->max_ns > 0 && b->max_ns < BACKOFF_MAX_NS ? b->max_ns : BACKOFF_MAX_NS;
    int64_t out;

    for (unsigned i = 1; i < n && d < (double)cap; i++)
        d *= b->factor;
    out = d >= (double)cap ? cap : (int64_t)d;
    if (b->jitter_ns > 0)
        out += (int64_t)(mix(seed) % (uint64_t)b->jitter_ns);
    return out;
}
