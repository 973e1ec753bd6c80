/*
 * idtable: the id -> pointer table every id lookup of the host goes
 * through. Checked against a plain array model under random inserts and
 * deletes, so probe runs that wrap around the end and back-shifted deletes
 * are exercised.
 */
#include "cu_main.h"
#include "lib/idtable.h"

#include <errno.h>
#include <stdbool.h>

#define N_IDS 5000

static char ids[N_IDS][16];

static void test_put_get_del(void)
{
    struct idtable t;
    idtable_init(&t, 0);
    CU_ASSERT_PTR_NULL(idtable_get(&t, "nope"));
    CU_ASSERT_EQUAL(idtable_put(&t, "a", ids[0]), 0);
    CU_ASSERT_EQUAL(idtable_put(&t, "a", ids[1]), -EEXIST);
    CU_ASSERT_PTR_EQUAL(idtable_get(&t, "a"), ids[0]);
    CU_ASSERT_PTR_EQUAL(idtable_del(&t, "a"), ids[0]);
    CU_ASSERT_PTR_NULL(idtable_del(&t, "a"));
    CU_ASSERT_EQUAL(t.count, 0);
    idtable_free(&t);
}

static void test_against_model(void)
{
    static bool in[N_IDS];
    struct idtable t;
    unsigned x = 12345;
    size_t count = 0;

    for (int i = 0; i < N_IDS; i++)
        sfmt(ids[i], sizeof ids[i], "job-%d", i);
    idtable_init(&t, 8); /* grows many times */
    for (int round = 0; round < 200000; round++) {
        x = x * 1103515245u + 12345u;
        int i = (int)((x >> 8) % N_IDS);
        if ((x >> 4) & 1) {
            int rc = idtable_put(&t, ids[i], ids[i]);
            CU_ASSERT_EQUAL(rc, in[i] ? -EEXIST : 0);
            if (!in[i])
                count++;
            in[i] = true;
        } else {
            void *v = idtable_del(&t, ids[i]);
            CU_ASSERT_PTR_EQUAL(v, in[i] ? ids[i] : NULL);
            if (in[i])
                count--;
            in[i] = false;
        }
    }
    CU_ASSERT_EQUAL(t.count, count);
    int wrong = 0;
    for (int i = 0; i < N_IDS; i++)
        wrong += idtable_get(&t, ids[i]) != (in[i] ? ids[i] : NULL);
    CU_ASSERT_EQUAL(wrong, 0);
    idtable_free(&t);
}

static const struct cu_test tests[] = {
    {"put, get, del", test_put_get_del},
    {"random inserts and deletes against a model", test_against_model},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"idtable", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
