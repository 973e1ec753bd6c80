/*
 * test_ctl — the text of `jobhost ctl` (host/ctl/format.c): spans and
 * durations, local times, URLs from listen addresses, colour names, and
 * tables that fit a width by cutting their one flexible column. The
 * commands themselves run against the real daemon in
 * tests/integration/test_ctl.py.
 *
 * Single-threaded; TZ is set to UTC at the start for the time cases.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/client.h"
#include "ctl/format.h"
#include "cu_main.h"
#include "lib/units.h"

static void test_span(void)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {999 * NS_PER_MS, "0s"},
        {59 * NS_PER_SEC, "59s"},
        {60 * NS_PER_SEC, "1m"},
        {61 * NS_PER_SEC, "1m1s"},
        {3600 * NS_PER_SEC, "1h"},
        {(3600 + 59 * 60 + 30) * NS_PER_SEC, "1h59m"},
        {(3 * 86400 + 4 * 3600 + 5) * NS_PER_SEC, "3d4h"},
        {(86400 + 30) * NS_PER_SEC, "1d"},
        {(15 * 86400) * NS_PER_SEC, "2w1d"},
        {-90 * NS_PER_SEC, "1m30s"},
    };
    char buf[CTL_TEXT_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        ASSERT_STR(ctl_span(cases[i].ns, buf, sizeof(buf)), cases[i].want);
}

static void test_duration(void)
{
    char buf[CTL_TEXT_MAX];

    ASSERT_STR(ctl_duration(0.0841, buf, sizeof(buf)), "0.08ms");
    ASSERT_STR(ctl_duration(12.4, buf, sizeof(buf)), "12ms");
    ASSERT_STR(ctl_duration(1500, buf, sizeof(buf)), "1.5s");
    ASSERT_STR(ctl_duration(123000, buf, sizeof(buf)), "2m3s");
    ASSERT_STR(ctl_duration(-1, buf, sizeof(buf)), "0.00ms");
}

static void test_times(void)
{
    char buf[CTL_TEXT_MAX];
    int64_t now, t;

    CU_ASSERT_EQUAL(ctl_parse_time("2026-12-02T04:08:52.500+01:00"),
                    (int64_t)1796180932 * NS_PER_SEC + 500 * NS_PER_MS);
    CU_ASSERT_EQUAL(ctl_parse_time(NULL), 0);
    CU_ASSERT_EQUAL(ctl_parse_time("yesterday"), 0);
    now = ctl_parse_time("2026-12-02T10:00:00Z");
    t = ctl_parse_time("2026-12-24T18:30:00Z");
    ASSERT_STR(ctl_when(t, now, buf, sizeof(buf)), "12-24 18:30");
    t = ctl_parse_time("2027-01-05T00:00:00Z");
    ASSERT_STR(ctl_when(t, now, buf, sizeof(buf)), "2027-01-05");
    ASSERT_STR(ctl_when(0, now, buf, sizeof(buf)), "-");
    ASSERT_STR(ctl_datetime(now, buf, sizeof(buf)), "2026-12-02 10:00:00 +00:00");
    ASSERT_STR(ctl_datetime(0, buf, sizeof(buf)), "-");
}

static void test_url_from_listen(void)
{
    static const struct {
        const char *listen;
        bool tls;
        const char *want;
    } cases[] = {
        {"127.0.0.1:9464", false, "http://127.0.0.1:9464"},
        {":9464", false, "http://127.0.0.1:9464"},
        {"0.0.0.0:80", false, "http://127.0.0.1:80"},
        {"[::]:9464", false, "http://[::1]:9464"},
        {"[::1]:9500", true, "https://[::1]:9500"},
        {"localhost:9464", false, "http://localhost:9464"},
        {"192.168.1.5:1", false, "http://192.168.1.5:1"},
    };
    char url[256], err[256];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        CU_ASSERT_EQUAL(ctl_url_from_listen(cases[i].listen, cases[i].tls, url, sizeof(url), err,
                                            sizeof(err)),
                        0);
        ASSERT_STR(url, cases[i].want);
    }
    CU_ASSERT_EQUAL(ctl_url_from_listen("example.com:80", false, url, sizeof(url), err,
                                        sizeof(err)),
                    -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid host"));
}

static void test_colours_and_escape(void)
{
    struct buf b = {0};

    CU_ASSERT_STRING_EQUAL(ctl_colour_of("success"), "\033[32m");
    CU_ASSERT_STRING_EQUAL(ctl_colour_of("failing"), "\033[31m");
    CU_ASSERT_STRING_EQUAL(ctl_colour_of("paused"), "\033[33m");
    CU_ASSERT_STRING_EQUAL(ctl_colour_of("whatever"), "");
    CU_ASSERT_STRING_EQUAL(ctl_colour_of(NULL), "");
    ctl_escape("a/b c%.d_e-f~", &b);
    ASSERT_STR(b.data, "a%2Fb%20c%25.d_e-f~");
    buf_free(&b);
}

/* The table as text, with `width` and no colour. */
static char *table_text(const struct ctl_table *t, unsigned width)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ctl_table_print(t, f, width, false);
    fclose(f);
    return text;
}

static void test_table(void)
{
    static const char *const heads[] = {"NEXT", "JOB", "STATE"};
    struct ctl_table t;
    char *text, line[256];

    ctl_table_init(&t, 3, heads, 1);
    ctl_table_add(&t, (const char *const[]){"12-02 04:20", "heartbeat", "ok"}, NULL);
    ctl_table_add(&t, (const char *const[]){NULL, "a-much-longer-job-id-than-that", "failing"},
                  NULL);
    text = table_text(&t, 0); /* no limit: nothing cut */
    ASSERT_STR(line_of(text, 0, line, sizeof(line)), "NEXT         JOB                             STATE");
    ASSERT_STR(line_of(text, 1, line, sizeof(line)), "12-02 04:20  heartbeat                       ok");
    ASSERT_STR(line_of(text, 2, line, sizeof(line)), "-            a-much-longer-job-id-than-that  failing");
    free(text);
    text = table_text(&t, 40); /* the job column gives way */
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT(ctl_text_width(line_of(text, i, line, sizeof(line))) <= 40);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "a-much-longer"));
    CU_ASSERT_PTR_NULL(strstr(text, "than-that"));
    free(text);
    ctl_table_free(&t);
    CU_ASSERT_EQUAL(ctl_text_width("r\xc3\xa9sum\xc3\xa9"), 6);
}

static const struct cu_test ctl_tests[] = {
    {"spans: two largest units", test_span},
    {"run durations", test_duration},
    {"times: parse, table form, full form", test_times},
    {"URL from host.http.listen", test_url_from_listen},
    {"colours of results and states; path escaping", test_colours_and_escape},
    {"tables fit a width by cutting the flexible column", test_table},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"ctl", ctl_tests},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    (void)argc;
    setenv("TZ", "UTC", 1);
    tzset();
    return cu_run(argv[0], suites);
}
