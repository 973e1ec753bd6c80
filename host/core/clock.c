/*
 * clock — clock reads and the cached wall-minus-monotonic offset. See clock.h.
 */
#include "core/clock.h"

#include <stdatomic.h>
#include <time.h>

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t wall_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

/* wall - mono, refreshed by the dispatcher thread; 0 = not read yet. */
static atomic_int_fast64_t wall_mono_offset;

void clock_offset_refresh(void)
{
    atomic_store_explicit(&wall_mono_offset, wall_ns() - mono_ns(), memory_order_relaxed);
}

int64_t wall_from_mono(int64_t mono)
{
    int64_t off = atomic_load_explicit(&wall_mono_offset, memory_order_relaxed);
    if (!off) {
        clock_offset_refresh();
        off = atomic_load_explicit(&wall_mono_offset, memory_order_relaxed);
    }
    return mono + off;
}

void cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}
