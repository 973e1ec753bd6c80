/*
 * Run ids: 64-bit, increasing (so they sort by start time), unique across
 * threads and across restarts (they start from the clock), 16 hex digits
 * that read back.
 */
#include "core/run.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "cu_main.h"
#include "lib/units.h"

static void test_ids_increase_and_carry_the_time(void)
{
    int64_t before = wall_ns() / NS_PER_MS;
    uint64_t prev = 0;

    for (int i = 0; i < 100000; i++) {
        uint64_t id = run_new_id();
        CU_ASSERT_TRUE(id > prev);
        if (id <= prev)
            break;
        prev = id;
    }
    int64_t ms = (int64_t)(prev >> 20), after = wall_ns() / NS_PER_MS;
    /* the millisecond of the id is the clock's, or runs ahead of it by the
     * ids handed out within one millisecond (2^20 each) */
    CU_ASSERT_TRUE(ms >= before && ms <= after + 1);
}

static void test_format_and_parse(void)
{
    char text[RUN_ID_LEN];
    uint64_t back = 0;

    run_id_format(UINT64_C(0x1a23461d32600007), text);
    CU_ASSERT_STRING_EQUAL(text, "1a23461d32600007");
    CU_ASSERT_EQUAL(run_id_parse(text, &back), 0);
    CU_ASSERT_EQUAL(back, UINT64_C(0x1a23461d32600007));
    CU_ASSERT_EQUAL(run_id_parse("1A23461D32600007", &back), 0);
    CU_ASSERT_EQUAL(run_id_parse("1a23461d3260000", &back), -EINVAL);
    CU_ASSERT_EQUAL(run_id_parse("1a23461d326000077", &back), -EINVAL);
    CU_ASSERT_EQUAL(run_id_parse("1a23461d3260000g", &back), -EINVAL);
    /* as text, later ids sort after earlier ones */
    char a[RUN_ID_LEN], b[RUN_ID_LEN];
    run_id_format(run_new_id(), a);
    run_id_format(run_new_id(), b);
    CU_ASSERT_TRUE(strcmp(a, b) < 0);
}

enum { THREADS = 4, PER = 50000 };
static uint64_t made[THREADS][PER];

static void *make_ids(void *arg)
{
    uint64_t *out = arg;
    for (int i = 0; i < PER; i++)
        out[i] = run_new_id();
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_unique_across_threads(void)
{
    pthread_t t[THREADS];
    uint64_t *all = malloc(sizeof(made));
    int dup = 0;

    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, make_ids, made[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    memcpy(all, made, sizeof(made));
    qsort(all, THREADS * PER, sizeof(*all), cmp_u64);
    for (size_t i = 1; i < THREADS * PER; i++)
        dup += all[i] == all[i - 1];
    CU_ASSERT_EQUAL(dup, 0);
    free(all);
}

static const struct cu_test tests[] = {
    {"ids increase and carry the millisecond", test_ids_increase_and_carry_the_time},
    {"16 hex digits that read back and sort", test_format_and_parse},
    {"unique across 4 threads", test_unique_across_threads},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"run ids", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
