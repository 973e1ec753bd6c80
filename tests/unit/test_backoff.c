/*
 * test_backoff — the delay before a retry: the exponential series, its
 * cap, jitter within bounds and the same for the same seed.
 */
#include "cu_main.h"

#include "lib/backoff.h"

#define MS INT64_C(1000000)

static void test_series(void)
{
    static const struct {
        struct backoff b;
        unsigned n;
        int64_t want;
    } cases[] = {
        {{200 * MS, 1, 0, 0}, 1, 200 * MS},  /* constant */
        {{200 * MS, 1, 0, 0}, 5, 200 * MS},
        {{200 * MS, 2, 0, 0}, 1, 200 * MS},  /* doubling */
        {{200 * MS, 2, 0, 0}, 2, 400 * MS},
        {{200 * MS, 2, 0, 0}, 3, 800 * MS},
        {{200 * MS, 2, 500 * MS, 0}, 3, 500 * MS}, /* capped */
        {{10000 * MS, 1.5, 0, 0}, 3, 22500 * MS},
        {{0, 2, 0, 0}, 4, 0},
        {{1000 * MS, 100, 0, 0}, 1000, BACKOFF_MAX_NS}, /* no overflow */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CU_ASSERT_EQUAL(backoff_delay(&cases[i].b, cases[i].n, 1), cases[i].want);
}

static void test_jitter(void)
{
    struct backoff b = {.delay_ns = 100 * MS, .factor = 2, .jitter_ns = 50 * MS};
    int64_t lo = INT64_MAX, hi = 0;

    for (uint64_t seed = 1; seed < 2000; seed++) {
        int64_t d = backoff_delay(&b, 2, seed);
        CU_ASSERT(d >= 200 * MS && d < 250 * MS);
        CU_ASSERT_EQUAL(d, backoff_delay(&b, 2, seed)); /* the same run waits the same */
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CU_ASSERT(hi - lo > 40 * MS); /* spread over the range */
}

static const struct cu_test tests[] = {
    {"delay, factor and cap", test_series},
    {"jitter within bounds, fixed by the seed", test_jitter},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"backoff", tests},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    (void)argc;
    return cu_run(argv[0], suites);
}
