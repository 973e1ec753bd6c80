/*
 * The shared main() of every unit test binary: registers the suites the test
 * file lists in `suites[]`, runs them, prints CUnit's summary and one line
 * "NAME: N passed, N failed" that tests/run.sh adds up. Exit status is the
 * number of failed tests (capped), so a failing test fails `make test`.
 */
#ifndef JH_CU_MAIN_H
#define JH_CU_MAIN_H

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Helpers the test files share. */

/* For string asserts that must not crash when a lookup found nothing. */
static inline const char *nn(const char *s)
{
    return s ? s : "<NULL>";
}

#define ASSERT_STR(actual, expected) CU_ASSERT_STRING_EQUAL(nn(actual), nn(expected))

/* snprintf for paths and messages: cuts silently (the tests' buffers are
 * ample) without tripping -Wformat-truncation on every call. */
__attribute__((format(printf, 3, 4))) static inline void sfmt(char *buf, size_t len,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* The i-th line (0-based) of text into buf, "" when there is none. */
static inline const char *line_of(const char *text, size_t i, char *buf, size_t len)
{
    const char *p = text;

    buf[0] = '\0';
    if (!p)
        return buf;
    while (i-- > 0) {
        p = strchr(p, '\n');
        if (!p)
            return buf;
        p++;
    }
    size_t n = strcspn(p, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

struct cu_test {
    const char *name;
    void (*fn)(void);
};

struct cu_suite {
    const char *name;
    const struct cu_test *tests; /* ends with {NULL, NULL} */
};

/* Each test file defines: static const struct cu_suite suites[] = {..., {NULL, NULL}}; */
static int cu_run(const char *prog, const struct cu_suite *suites)
{
    unsigned failed, run;
    const char *base = strrchr(prog, '/');

    base = base ? base + 1 : prog;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 100;
    for (const struct cu_suite *s = suites; s->name; s++) {
        CU_pSuite suite = CU_add_suite(s->name, NULL, NULL);
        for (const struct cu_test *t = s->tests; t->name; t++)
            CU_add_test(suite, t->name, t->fn);
    }
    CU_basic_set_mode(getenv("CU_VERBOSE") ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
    CU_basic_run_tests();
    run = CU_get_number_of_tests_run();
    failed = CU_get_number_of_tests_failed();
    printf("\n%s: %u passed, %u failed\n", base, run - failed, failed);
    CU_cleanup_registry();
    return failed > 99 ? 99 : (int)failed;
}

#define CU_MAIN(suites)                    \
    int main(int argc, char **argv)        \
    {                                      \
        (void)argc;                        \
        return cu_run(argv[0], (suites));  \
    }

#endif /* JH_CU_MAIN_H */
