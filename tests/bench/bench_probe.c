/*
 * bench_probe — the benchmark's job plugin. Its body is the one of
 * tests/plugins/ok.so (a jh_log at info, which the benchmark's warn level
 * filters out) plus a measurement as cheap as the anchors' (APScheduler's job
 * body appends time.time() to a list under a lock): one CLOCK_REALTIME read
 * on entry (vDSO, no system call), one atomic add to take a slot, two
 * stores. See bench_probe.h for the accessors the benchmark looks up.
 *
 * Build (plugin flags, as the Makefile builds plugins):
 *   cc -std=gnu11 -O2 -fPIC -fvisibility=hidden -shared -Wl,-z,defs \
 *      -Isdk/include -o build/bench/plugins/bench_probe.so tests/bench/bench_probe.c
 */
#include <jobhost/plugin.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "bench_probe.h"

#define EXPORT __attribute__((visibility("default")))

/* Written by bench_probe_arm (benchmark thread, no run in flight), read and
 * updated by runs on worker threads: the counters are atomics; each sample
 * slot is written by the one run that took it and read after the runs end. */
static struct bench_probe_sample *samples;
static size_t cap;
static uint64_t target;
static atomic_uint_fast64_t runs;
static atomic_int_fast64_t done_ns;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

EXPORT int bench_probe_arm(size_t n, uint64_t t)
{
    free(samples);
    samples = NULL;
    cap = 0;
    if (n) {
        samples = calloc(n, sizeof(*samples));
        if (!samples)
            return -1;
        cap = n;
    }
    target = t;
    atomic_store(&runs, 0);
    atomic_store(&done_ns, 0);
    return 0;
}

EXPORT uint64_t bench_probe_runs(void)
{
    return atomic_load_explicit(&runs, memory_order_acquire);
}

EXPORT int64_t bench_probe_done(void)
{
    return atomic_load_explicit(&done_ns, memory_order_acquire);
}

EXPORT size_t bench_probe_samples(const struct bench_probe_sample **out)
{
    uint64_t n = atomic_load(&runs);
    *out = samples;
    return n < cap ? (size_t)n : cap;
}

static int probe_run(jh_ctx *ctx)
{
    int64_t start = cap ? clock_ns(CLOCK_REALTIME) : 0;
    uint64_t i;

    jh_log(ctx, JH_LOG_INFO, "ok"); /* ok.so's body */
    i = atomic_fetch_add_explicit(&runs, 1, memory_order_acq_rel);
    if (i < cap) {
        samples[i].wall_ns = start;
        samples[i].job = jh_job_id(ctx);
    }
    if (i + 1 == target)
        atomic_store_explicit(&done_ns, clock_ns(CLOCK_MONOTONIC), memory_order_release);
    return JH_OK;
}

static void probe_shutdown(jh_ctx *ctx, void *state)
{
    (void)ctx;
    (void)state;
    free(samples);
    samples = NULL;
    cap = 0;
}

JH_PLUGIN(.name = "bench_probe", .version = "1.0.0",
          .description = "benchmark probe: ok.so's body plus a start-time record",
          .run = probe_run, .shutdown = probe_shutdown);
