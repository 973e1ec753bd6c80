/*
 * test_clock — where a duration meets a clock: core/clock.h's saturating
 * arithmetic, and the host calls that sleep and count down
 * (jh_sleep_ns, jh_time_left_ns, jh_cancelled in core/hostapi.c), with the
 * largest durations a plugin can give. Under `make asan` UBSan makes any
 * signed overflow here fatal.
 *
 * The calls are found by name, as a plugin finds them, and called with a
 * context of hostapi_bare_ctx: no plugin, no run. Single-threaded.
 */
#include <CUnit/CUnit.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jobhost/plugin.h>

#include "core/clock.h"
#include "core/hostapi.h"
#include "cu_main.h"
#include "lib/units.h"
#include "lib/util.h"

static void test_saturation(void)
{
    static const struct {
        int64_t a, b, sum, diff;
    } cases[] = {
        {1, 2, 3, -1},
        {INT64_MAX, 1, INT64_MAX, INT64_MAX - 1},
        {INT64_MAX - 5, INT64_MAX, INT64_MAX, -5},
        {INT64_MIN, -1, INT64_MIN, INT64_MIN + 1},
        {0, INT64_MIN, INT64_MIN, INT64_MAX},
        {-1, INT64_MAX, INT64_MAX - 1, INT64_MIN},
        {INT64_MIN, INT64_MAX, -1, INT64_MIN},
        {INT64_MAX, INT64_MIN, -1, INT64_MAX},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        CU_ASSERT_EQUAL(clock_add(cases[i].a, cases[i].b), cases[i].sum);
        CU_ASSERT_EQUAL(clock_sub(cases[i].a, cases[i].b), cases[i].diff);
    }
}

/* jh_sleep_ns(ctx, INT64_MAX), the common jh_sleep_ns(ctx,
 * jh_time_left_ns(ctx)) of a run without a deadline: it sleeps until the
 * run must stop, never returns at once (which made that loop spin). */
static void test_sleep_without_deadline(void)
{
    jh_sleep_ns_fn *sleep_ns = (jh_sleep_ns_fn *)hostapi_lookup("jh_sleep_ns");
    jh_time_left_ns_fn *left = (jh_time_left_ns_fn *)hostapi_lookup("jh_time_left_ns");
    jh_cancelled_fn *cancelled = (jh_cancelled_fn *)hostapi_lookup("jh_cancelled");
    atomic_int_fast64_t drain;
    struct run_ctx rc;
    int64_t t0, took;
    unsigned loops = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(sleep_ns);
    CU_ASSERT_PTR_NOT_NULL_FATAL(left);
    hostapi_bare_ctx(&rc, NULL, NULL, NULL, false, 0);
    CU_ASSERT_EQUAL(left(hostapi_ctx(&rc)), INT64_MAX);
    /* the run's stop comes from elsewhere: a drain deadline 150 ms ahead */
    atomic_init(&drain, 0);
    rc.drain_deadline = &drain;
    t0 = mono_ns();
    atomic_store(&drain, t0 + 150 * NS_PER_MS);
    while (!cancelled(hostapi_ctx(&rc)) && loops < 1000) {
        (void)sleep_ns(hostapi_ctx(&rc), left(hostapi_ctx(&rc)));
        loops++;
    }
    took = mono_ns() - t0;
    CU_ASSERT(loops <= 2); /* one sleep, to the deadline */
    CU_ASSERT(took >= 140 * NS_PER_MS);
    CU_ASSERT(took < 5 * NS_PER_SEC);
    if (loops > 2)
        fprintf(stderr, "\njh_sleep_ns spun: %u sleeps in %.1f ms\n", loops, (double)took / 1e6);
    CU_ASSERT_EQUAL(left(hostapi_ctx(&rc)), 0);

    /* any duration, however large, near a deadline: -1 at the deadline */
    atomic_store(&drain, 0);
    rc.deadline_mono_ns = mono_ns() + 50 * NS_PER_MS;
    t0 = mono_ns();
    CU_ASSERT_EQUAL(sleep_ns(hostapi_ctx(&rc), INT64_MAX - 1), -1);
    took = mono_ns() - t0;
    CU_ASSERT(took >= 45 * NS_PER_MS && took < 5 * NS_PER_SEC);
    /* a negative or zero duration returns at once, asleep or not */
    rc.deadline_mono_ns = 0;
    CU_ASSERT_EQUAL(sleep_ns(hostapi_ctx(&rc), 0), 0);
    CU_ASSERT_EQUAL(sleep_ns(hostapi_ctx(&rc), INT64_MIN), 0);
}

/* A deadline as far as the clock goes: no overflow, time left large. */
static void test_far_deadline(void)
{
    jh_time_left_ns_fn *left = (jh_time_left_ns_fn *)hostapi_lookup("jh_time_left_ns");
    jh_cancelled_fn *cancelled = (jh_cancelled_fn *)hostapi_lookup("jh_cancelled");
    struct run_ctx rc;

    hostapi_bare_ctx(&rc, NULL, NULL, NULL, false, clock_add(mono_ns(), INT64_MAX));
    CU_ASSERT_EQUAL(rc.deadline_mono_ns, INT64_MAX);
    CU_ASSERT(left(hostapi_ctx(&rc)) > INT64_MAX / 2);
    CU_ASSERT_FALSE(cancelled(hostapi_ctx(&rc)));
}

static const struct cu_test tests[] = {
    {"saturating arithmetic", test_saturation},
    {"sleeping without a deadline", test_sleep_without_deadline},
    {"a deadline at the end of time", test_far_deadline},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"clock", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
