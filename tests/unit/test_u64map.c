/*
 * test_u64map — the number-keyed hash table: against a plain array model
 * under random puts, gets and deletes (deletion by backward shift is where
 * such tables go wrong), growth and clearing.
 */
#include <stdlib.h>

#include "cu_main.h"

#include "lib/u64map.h"

#define KEYS 5000

static uint64_t rng = 88172645463325252u;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_model(void)
{
    static uint64_t model[KEYS]; /* 0 = absent, else value + 1 */
    struct u64map m;
    size_t count = 0;

    u64map_init(&m);
    for (int step = 0; step < 200000; step++) {
        uint64_t k = rnd() % KEYS, v;
        /* keys spread like run ids: a time prefix, a small counter */
        uint64_t key = (UINT64_C(0x18c0000) << 20) + k * 3 + 1;
        switch (rnd() % 3) {
        case 0:
            if (!model[k])
                count++;
            model[k] = (uint64_t)step + 1;
            u64map_put(&m, key, (uint64_t)step);
            break;
        case 1:
            CU_ASSERT_EQUAL(u64map_del(&m, key, &v), model[k] != 0);
            if (model[k]) {
                CU_ASSERT_EQUAL(v, model[k] - 1);
                model[k] = 0;
                count--;
            }
            break;
        default:
            CU_ASSERT_EQUAL(u64map_get(&m, key, &v), model[k] != 0);
            if (model[k])
                CU_ASSERT_EQUAL(v, model[k] - 1);
        }
        CU_ASSERT_EQUAL(m.count, count);
    }
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t v;
        CU_ASSERT_EQUAL(u64map_get(&m, (UINT64_C(0x18c0000) << 20) + k * 3 + 1, &v),
                        model[k] != 0);
    }
    u64map_free(&m);
}

static void test_zero_and_clear(void)
{
    struct u64map m = {0};
    uint64_t v = 7;

    CU_ASSERT_FALSE(u64map_get(&m, 1, &v));
    CU_ASSERT_FALSE(u64map_del(&m, 1, NULL));
    u64map_put(&m, 0, 5); /* key 0 is never stored */
    CU_ASSERT_EQUAL(m.count, 0);
    for (uint64_t k = 1; k <= 100; k++)
        u64map_put(&m, k, k * 10);
    CU_ASSERT_EQUAL(m.count, 100);
    u64map_put(&m, 50, 1);
    CU_ASSERT_EQUAL(m.count, 100);
    CU_ASSERT_TRUE(u64map_get(&m, 50, &v));
    CU_ASSERT_EQUAL(v, 1);
    u64map_clear(&m);
    CU_ASSERT_EQUAL(m.count, 0);
    CU_ASSERT_FALSE(u64map_get(&m, 50, &v));
    u64map_put(&m, 9, 9);
    CU_ASSERT_TRUE(u64map_get(&m, 9, &v));
    u64map_free(&m);
}

static const struct cu_test tests[] = {
    {"random operations against a model", test_model},
    {"key 0, replace, clear", test_zero_and_clear},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"u64map", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
