/*
 * test_metrics — the registry and its exposition: number formatting,
 * escaping, histogram edges, OpenMetrics shape, carry-over across a reload,
 * process metrics, a many-threads-record-while-scraping test (run it under
 * TSan too), and `promtool check metrics` on real renders.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "lib/numfmt.h"
#include "cu_main.h"
#include "lib/util.h"

extern char **environ;

#ifndef JOBHOST_VERSION /* as metrics.c does; the Makefile defines it */
#define JOBHOST_VERSION "0.0.0"
#endif

#define PROMTOOL "/usr/bin/promtool"
#define NS 1000000000LL

/* --- helpers ---------------------------------------------------------------- */

static char *render(struct metrics *m, enum metrics_format f)
{
    struct buf b = {0};
    CU_ASSERT_EQUAL(metrics_render(m, f, &b), 0);
    return b.data;
}

/* The value of the sample line that starts with `series` + ' ' exactly, or
 * NAN when there is no such line. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NAN;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

static size_t count_substr(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* --- formatting -------------------------------------------------------------- */

static void test_format_double(void)
{
    static const struct {
        double v;
        const char *text;      /* Go strconv.FormatFloat(v, 'g', -1, 64) */
        const char *canonical; /* OpenMetrics le/quantile */
    } cases[] = {
        {0.1, "0.1", "0.1"},
        {1, "1", "1.0"},
        {1e-3, "0.001", "0.001"},
        {0.002, "0.002", "0.002"},
        {0.005, "0.005", "0.005"},
        {0.01, "0.01", "0.01"},
        {0.9, "0.9", "0.9"},
        {0.95, "0.95", "0.95"},
        {0.99, "0.99", "0.99"},
        {0.999, "0.999", "0.999"},
        {1.7, "1.7", "1.7"},
        {10, "10", "10.0"},
        {3600, "3600", "3600.0"},
        {100000, "100000", "100000.0"},
        {1e6, "1e+06", "1e+06"},
        {1e10, "1e+10", "1e+10"},
        {1e21, "1e+21", "1e+21"},
        {1e23, "1e+23", "1e+23"},
        {1.1e23, "1.1e+23", "1.1e+23"},
        {1e-4, "0.0001", "0.0001"},
        {1e-5, "1e-05", "1e-05"},
        {1e-9, "1e-09", "1e-09"},
        {1e-10, "1e-10", "1e-10"},
        {2.5e-7, "2.5e-07", "2.5e-07"},
        {5e-324, "5e-324", "5e-324"}, /* the smallest subnormal */
        {2.2250738585072014e-308, "2.2250738585072014e-308", "2.2250738585072014e-308"},
        {DBL_MAX, "1.7976931348623157e+308", "1.7976931348623157e+308"},
        {0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"},
        {1.0 / 3, "0.3333333333333333", "0.3333333333333333"},
        {123456789, "1.23456789e+08", "1.23456789e+08"},
        {123456, "123456", "123456.0"},
        {1732912345.5, "1.7329123455e+09", "1.7329123455e+09"},
        {-2.5, "-2.5", "-2.5"},
        {-1, "-1", "-1.0"},
        {0, "0", "0.0"},
        {INFINITY, "+Inf", "+Inf"},
        {-INFINITY, "-Inf", "-Inf"},
        {NAN, "NaN", "NaN"},
    };
    char out[32];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t n = numfmt_double(cases[i].v, false, out);
        CU_ASSERT_STRING_EQUAL(out, cases[i].text);
        CU_ASSERT_EQUAL(n, strlen(cases[i].text));
        if (strcmp(out, cases[i].text) != 0)
            printf("\n  format %.17g: got %s, want %s", cases[i].v, out, cases[i].text);
        numfmt_double(cases[i].v, true, out);
        CU_ASSERT_STRING_EQUAL(out, cases[i].canonical);
        if (isfinite(cases[i].v))
            CU_ASSERT_EQUAL(strtod(out, NULL), cases[i].v); /* round-trips */
    }
}

/* Random doubles read back exactly and never take more than 17 digits. */
static void test_format_double_roundtrip(void)
{
    char out[32];
    uint64_t x = 88172645463325252ULL;

    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        size_t n = numfmt_double(v, false, out);
        CU_ASSERT_TRUE(n < 32);
        if (strtod(out, NULL) != v) {
            CU_FAIL("round trip");
            printf("\n  %a -> %s", v, out);
            break;
        }
    }
}

static void test_check_buckets(void)
{
    char err[128];
    const double ok[] = {0.5, 1, 2};
    const double ok_inf[] = {0, 1, INFINITY};
    const double unsorted[] = {1, 0.5};
    const double dup[] = {1, 1};
    const double neg[] = {-1, 1};
    const double nan[] = {NAN};

    CU_ASSERT_EQUAL(metrics_check_buckets(ok, 3, err, sizeof err), 0);
    CU_ASSERT_EQUAL(metrics_check_buckets(ok_inf, 3, err, sizeof err), 0);
    CU_ASSERT_EQUAL(metrics_check_buckets(unsorted, 2, err, sizeof err), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "bucket 1 (0.5) is not greater than bucket 0 (1)");
    CU_ASSERT_EQUAL(metrics_check_buckets(dup, 2, err, sizeof err), -EINVAL);
    CU_ASSERT_EQUAL(metrics_check_buckets(neg, 2, err, sizeof err), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "bucket 0 (-1) is negative");
    CU_ASSERT_EQUAL(metrics_check_buckets(nan, 1, err, sizeof err), -EINVAL);
    CU_ASSERT_EQUAL(metrics_check_buckets(ok, 0, err, sizeof err), -EINVAL);
    CU_ASSERT_PTR_NULL(metrics_new(unsorted, 2));
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(metrics_result_name(METRICS_DRY_RUN), "dry_run");
    CU_ASSERT_STRING_EQUAL(metrics_skip_reason_name(METRICS_SKIP_MAX_INSTANCES), "max_instances");
    CU_ASSERT_PTR_NULL(metrics_result_name(METRICS_RESULT_COUNT));
    CU_ASSERT_STRING_EQUAL(metrics_content_type(METRICS_TEXT_004),
                           "text/plain; version=0.0.4; charset=utf-8");
    CU_ASSERT_STRING_EQUAL(metrics_content_type(METRICS_OPENMETRICS_100),
                           "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

/* --- exposition ----------------------------------------------------------------- */

static void test_escaping(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics *a = metrics_job_acquire(m, "back\\slash \"quoted\"\nnext", "p\"lug\\in");
    struct job_metrics *b = metrics_job_acquire(m, "zürich-✓-日本", "exec");
    struct job_metrics *c = metrics_job_acquire(m, "bad\xff\xfe utf8 \xe2\x82", "exec");
    struct job_metrics *d = metrics_job_acquire(m, "tab\there {braces} = , ok", "exec");

    for (int f = 0; f < 2; f++) {
        char *t = render(m, f ? METRICS_OPENMETRICS_100 : METRICS_TEXT_004);
        CU_ASSERT_TRUE(has_line(t, "jobhost_job_running{job_id=\"back\\\\slash \\\"quoted\\\"\\nnext\"} 0"));
        CU_ASSERT_TRUE(has_line(t, "jobhost_job_runs_total{job_id=\"back\\\\slash \\\"quoted\\\"\\nnext\","
                                   "plugin=\"p\\\"lug\\\\in\",result=\"success\"} 0"));
        CU_ASSERT_TRUE(has_line(t, "jobhost_job_running{job_id=\"zürich-✓-日本\"} 0"));
        /* invalid UTF-8 becomes U+FFFD, one per bad byte */
        CU_ASSERT_TRUE(has_line(t, "jobhost_job_running{job_id=\"bad\xEF\xBF\xBD\xEF\xBF\xBD utf8 "
                                   "\xEF\xBF\xBD\xEF\xBF\xBD\"} 0"));
        /* a tab and other punctuation are not escaped */
        CU_ASSERT_TRUE(has_line(t, "jobhost_job_running{job_id=\"tab\there {braces} = , ok\"} 0"));
        free(t);
    }
    metrics_job_release(m, a);
    metrics_job_release(m, b);
    metrics_job_release(m, c);
    metrics_job_release(m, d);
    metrics_free(m);
}

static void test_bucket_edges(void)
{
    const double bounds[] = {0.1, 1, 10};
    struct metrics *m = metrics_new(bounds, 3);
    struct job_metrics *j = metrics_job_acquire(m, "edge", "exec");
    const int64_t obs[] = {
        0,                /* 0 -> le 0.1 */
        -5,               /* negative clamps to 0 -> le 0.1 */
        100000000,        /* exactly 0.1 s -> le 0.1 (inclusive) */
        100000001,        /* just above -> le 1 */
        NS,               /* exactly 1 s -> le 1 */
        10 * NS,          /* exactly 10 s -> le 10 */
        10 * NS + 1,      /* just above the last bound -> +Inf only */
        INT64_MAX / 2,    /* huge -> +Inf */
    };
    for (size_t i = 0; i < ARRAY_SIZE(obs); i++) {
        metrics_run_started(j, 1, obs[i]);
        metrics_run_finished(j, METRICS_SUCCESS, obs[i], 2);
    }
    char *t = render(m, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"edge\",le=\"0.1\"}"), 3);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"edge\",le=\"1\"}"), 5);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"edge\",le=\"10\"}"), 6);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"edge\",le=\"+Inf\"}"), 8);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_count{job_id=\"edge\"}"), 8);
    /* the sum is exact: integer nanoseconds written as decimal seconds */
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_sum{job_id=\"edge\"} 4611686039.627387905"));
    /* the start-delay histogram saw the same values, its first bound is 0.0005 */
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_start_delay_seconds_bucket{job_id=\"edge\",le=\"0.0005\"}"), 2);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_start_delay_seconds_bucket{job_id=\"edge\",le=\"0.1\"}"), 3);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_start_delay_seconds_bucket{job_id=\"edge\",le=\"60\"}"), 7);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_start_delay_seconds_count{job_id=\"edge\"}"), 8);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_duration_seconds{job_id=\"edge\"} 4611686018.427387903"));
    free(t);

    /* bounds that are not exact in binary still take their exact value */
    const double odd[] = {0.3, 0.7};
    struct metrics *m2 = metrics_new(odd, 2);
    struct job_metrics *k = metrics_job_acquire(m2, "odd", "exec");
    metrics_run_started(k, 1, 0);
    metrics_run_finished(k, METRICS_SUCCESS, 300000000, 2); /* 0.3 s */
    metrics_run_started(k, 1, 0);
    metrics_run_finished(k, METRICS_SUCCESS, 700000000, 2); /* 0.7 s */
    t = render(m2, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"odd\",le=\"0.3\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"odd\",le=\"0.7\"}"), 2);
    free(t);
    metrics_job_release(m2, k);
    metrics_free(m2);
    metrics_job_release(m, j);
    metrics_free(m);
}

static void test_cumulative(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics *j = metrics_job_acquire(m, "c", "exec");
    static const char *const les[] = {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5",
                                      "10",    "30",    "60",   "300",  "900", "1800", "3600", "+Inf"};
    uint64_t x = 7;
    int64_t sum = 0;
    const int n = 5000;

    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t d = (int64_t)((x >> 20) % (4000LL * NS)); /* 0 .. 4000 s */
        sum += d;
        metrics_run_started(j, 1, 0);
        metrics_run_finished(j, (enum metrics_result)(i % METRICS_RESULT_COUNT), d, 2);
    }
    char *t = render(m, METRICS_TEXT_004);
    char series[128];
    double prev = 0;
    for (size_t i = 0; i < ARRAY_SIZE(les); i++) {
        snprintf(series, sizeof series, "jobhost_job_duration_seconds_bucket{job_id=\"c\",le=\"%s\"}",
                 les[i]);
        double v = sample(t, series);
        CU_ASSERT_FALSE(isnan(v));
        CU_ASSERT_TRUE(v >= prev);
        prev = v;
    }
    CU_ASSERT_EQUAL(prev, n);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_count{job_id=\"c\"}"), n);
    double runs = 0;
    for (int r = 0; r < METRICS_RESULT_COUNT; r++) {
        snprintf(series, sizeof series,
                 "jobhost_job_runs_total{job_id=\"c\",plugin=\"exec\",result=\"%s\"}",
                 metrics_result_name((enum metrics_result)r));
        runs += sample(t, series);
    }
    CU_ASSERT_EQUAL(runs, n);
    CU_ASSERT_DOUBLE_EQUAL(sample(t, "jobhost_job_duration_seconds_sum{job_id=\"c\"}"),
                           (double)sum / 1e9, 1e-3);
    /* exactly 15 finite bounds + Inf, as the defaults say */
    CU_ASSERT_EQUAL(count_substr(t, "jobhost_job_duration_seconds_bucket{job_id=\"c\""), 16);
    free(t);
    metrics_job_release(m, j);
    metrics_free(m);
}

static void test_gauges_and_results(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics *j = metrics_job_acquire(m, "g", "exec");

    char *t = render(m, METRICS_TEXT_004);
    /* nothing happened yet: the last_* and next_run series are absent */
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_last_run_timestamp_seconds{job_id=\"g\"}")));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_last_duration_seconds{job_id=\"g\"}")));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_next_run_timestamp_seconds{job_id=\"g\"}")));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_running{job_id=\"g\"}"), 0);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"shutdown\"}"), 0);
    free(t);

    metrics_run_started(j, 1700000000 * NS + 5, 250000000);
    metrics_set_next_run(j, 1700000100 * NS);
    metrics_skipped(j, METRICS_SKIP_MAX_INSTANCES);
    metrics_skipped(j, METRICS_SKIP_MAX_INSTANCES);
    metrics_skipped(j, METRICS_SKIP_COALESCED);
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_running{job_id=\"g\"}"), 1);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_run_timestamp_seconds{job_id=\"g\"} 1700000000.000000005"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_next_run_timestamp_seconds{job_id=\"g\"} 1700000100"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_start_delay_seconds_sum{job_id=\"g\"} 0.25"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"max_instances\"}"), 2);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"coalesced\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"misfire\"}"), 0);
    free(t);

    metrics_run_finished(j, METRICS_TIMEOUT, 1500000000, 1700000001 * NS);
    metrics_set_next_run(j, 0); /* no next run: the series goes */
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_running{job_id=\"g\"}"), 0);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_failure_timestamp_seconds{job_id=\"g\"} 1700000001"));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_last_success_timestamp_seconds{job_id=\"g\"}")));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_duration_seconds{job_id=\"g\"} 1.5"));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_next_run_timestamp_seconds{job_id=\"g\"}")));
    free(t);

    /* success and dry_run: only success moves last_success; dry_run moves neither */
    metrics_run_started(j, 1700000002 * NS, 0);
    metrics_run_finished(j, METRICS_SUCCESS, 0, 1700000003 * NS);
    metrics_run_started(j, 1700000004 * NS, 0);
    metrics_run_finished(j, METRICS_DRY_RUN, 1000, 1700000005 * NS);
    metrics_run_started(j, 1700000006 * NS, 0);
    metrics_run_finished(j, METRICS_CRASHED, 1000, 1700000007 * NS);
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_success_timestamp_seconds{job_id=\"g\"} 1700000003"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_failure_timestamp_seconds{job_id=\"g\"} 1700000007"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_duration_seconds{job_id=\"g\"} 0.000001"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"dry_run\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"crashed\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"timeout\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"success\"}"), 1);
    free(t);

    /* NULL entries are accepted everywhere on the run path */
    metrics_run_started(NULL, 1, 1);
    metrics_run_finished(NULL, METRICS_SUCCESS, 1, 1);
    metrics_skipped(NULL, METRICS_SKIP_PAUSED);
    metrics_set_next_run(NULL, 1);
    metrics_job_release(m, NULL);
    metrics_job_release(m, j);
    metrics_free(m);
}

static uint64_t fake_dropped(const char *sink)
{
    return strcmp(sink, "queue") == 0 ? 7 : strlen(sink);
}

static void test_host_metrics(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    char *t = render(m, METRICS_TEXT_004);

    /* a fresh registry: built after a successful load, no reload yet */
    CU_ASSERT_TRUE(has_line(t, "jobhost_build_info{version=\"" JOBHOST_VERSION "\",abi=\"1\"} 1"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_config_last_reload_successful"), 1);
    CU_ASSERT_TRUE(sample(t, "jobhost_config_last_reload_success_timestamp_seconds") > 1e9);
    CU_ASSERT_EQUAL(sample(t, "jobhost_reloads_total{result=\"success\"}"), 0);
    CU_ASSERT_EQUAL(sample(t, "jobhost_reloads_total{result=\"failure\"}"), 0);
    CU_ASSERT_EQUAL(sample(t, "jobhost_jobs"), 0);
    /* empty families are left out */
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_plugins_loaded"));
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_log_records_dropped_total"));
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_job_runs_total"));
    free(t);

    const struct metrics_plugin plugins[] = {{"hello", "1.0.0"}, {"we\"ird", "2\\x"}};
    metrics_set_plugins(m, plugins, 2);
    metrics_set_jobs(m, 42);
    metrics_reload(m, true, 1700000000 * NS);
    metrics_reload(m, false, 1700000100 * NS);
    metrics_set_log_dropped_source(m, fake_dropped);
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_TRUE(has_line(t, "jobhost_plugins_loaded{plugin=\"hello\",version=\"1.0.0\"} 1"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_plugins_loaded{plugin=\"we\\\"ird\",version=\"2\\\\x\"} 1"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_jobs"), 42);
    CU_ASSERT_EQUAL(sample(t, "jobhost_config_last_reload_successful"), 0);
    CU_ASSERT_TRUE(has_line(t, "jobhost_config_last_reload_success_timestamp_seconds 1700000000"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_reloads_total{result=\"success\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_reloads_total{result=\"failure\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_log_records_dropped_total{sink=\"file\"}"), 4);
    CU_ASSERT_EQUAL(sample(t, "jobhost_log_records_dropped_total{sink=\"syslog\"}"), 6);
    CU_ASSERT_EQUAL(sample(t, "jobhost_log_records_dropped_total{sink=\"stderr\"}"), 6);
    CU_ASSERT_EQUAL(sample(t, "jobhost_log_records_dropped_total{sink=\"queue\"}"), 7);
    free(t);

    metrics_set_plugins(m, NULL, 0);
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_plugins_loaded"));
    free(t);
    metrics_free(m);
}

static void test_process_metrics(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    char *t = render(m, METRICS_TEXT_004);
    static const char *const names[] = {
        "process_cpu_seconds_total", "process_max_fds", "process_open_fds",
        "process_resident_memory_bytes", "process_start_time_seconds",
        "process_virtual_memory_bytes",
    };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        double v = sample(t, names[i]);
        CU_ASSERT_FALSE(isnan(v));
        CU_ASSERT_TRUE(v >= 0);
        if (isnan(v))
            printf("\n  %s missing", names[i]);
    }
    CU_ASSERT_TRUE(sample(t, "process_open_fds") >= 3);
    CU_ASSERT_TRUE(sample(t, "process_max_fds") >= sample(t, "process_open_fds"));
    CU_ASSERT_TRUE(sample(t, "process_resident_memory_bytes") > 1e5);
    CU_ASSERT_TRUE(sample(t, "process_virtual_memory_bytes") >=
                   sample(t, "process_resident_memory_bytes"));
    double start = sample(t, "process_start_time_seconds");
    double now = (double)wall_ns() / 1e9;
    CU_ASSERT_TRUE(start <= now + 1 && start > now - 3600);
    CU_ASSERT_PTR_NULL(strstr(t, "NaN"));

    /* the counted descriptors follow what the process opens */
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    char *t2 = render(m, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t2, "process_open_fds"), sample(t, "process_open_fds") + 8);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    free(t2);
    free(t);
    metrics_free(m);
}

static void test_openmetrics_shape(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics *j = metrics_job_acquire(m, "om", "exec");
    metrics_run_started(j, 5 * NS, 0);
    metrics_run_finished(j, METRICS_SUCCESS, NS, 6 * NS);
    metrics_set_log_dropped_source(m, fake_dropped);
    char *t = render(m, METRICS_OPENMETRICS_100);
    size_t len = strlen(t);

    CU_ASSERT_TRUE(len > 6 && strcmp(t + len - 6, "# EOF\n") == 0);
    CU_ASSERT_EQUAL(count_substr(t, "# EOF"), 1);
    /* counters: family without _total, samples with it */
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_job_runs counter"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_job_skipped counter"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_reloads counter"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_log_records_dropped counter"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE process_cpu_seconds counter"));
    CU_ASSERT_TRUE(has_line(t, "# UNIT process_cpu_seconds seconds"));
    CU_ASSERT_TRUE(has_line(t, "# HELP jobhost_job_runs Finished runs of the job by result (success, "
                               "failure, timeout, crashed, dry_run)."));
    CU_ASSERT_PTR_NULL(strstr(t, "_total counter"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_runs_total{job_id=\"om\",plugin=\"exec\",result=\"success\"} 1"));
    /* info and histogram types, units, canonical le values */
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_build info"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "\njobhost_build_info{version="));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_job_duration_seconds histogram"));
    CU_ASSERT_TRUE(has_line(t, "# UNIT jobhost_job_duration_seconds seconds"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_bucket{job_id=\"om\",le=\"1.0\"} 1"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_bucket{job_id=\"om\",le=\"0.5\"} 0"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_bucket{job_id=\"om\",le=\"3600.0\"} 1"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_bucket{job_id=\"om\",le=\"+Inf\"} 1"));
    CU_ASSERT_TRUE(has_line(t, "# UNIT process_resident_memory_bytes bytes"));
    /* TYPE comes before HELP in OpenMetrics, HELP before TYPE in 0.0.4 */
    CU_ASSERT_TRUE(strstr(t, "# TYPE jobhost_jobs gauge") < strstr(t, "# HELP jobhost_jobs "));
    /* no blank lines, every line ends with \n */
    CU_ASSERT_PTR_NULL(strstr(t, "\n\n"));
    free(t);

    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "# EOF"));
    CU_ASSERT_PTR_NULL(strstr(t, "# UNIT"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_job_runs_total counter"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_build_info gauge"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_bucket{job_id=\"om\",le=\"1\"} 1"));
    CU_ASSERT_TRUE(strstr(t, "# HELP jobhost_jobs ") < strstr(t, "# TYPE jobhost_jobs gauge"));
    CU_ASSERT_PTR_NULL(strstr(t, "job=\""));
    free(t);

    struct buf b = {0};
    CU_ASSERT_EQUAL(metrics_render(m, (enum metrics_format)7, &b), -EINVAL);
    buf_free(&b);
    metrics_job_release(m, j);
    metrics_free(m);
}

static void test_carry_over(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics *old = metrics_job_acquire(m, "keep", "exec");
    struct job_metrics *gone = metrics_job_acquire(m, "drop", "exec");

    for (int i = 0; i < 3; i++) {
        metrics_run_started(old, 1, 0);
        metrics_run_finished(old, METRICS_SUCCESS, 1000, 2);
    }
    metrics_run_started(gone, 1, 0);
    metrics_run_finished(gone, METRICS_FAILURE, 1000, 2);

    /* reload: the new generation acquires before the old one releases */
    struct job_metrics *now = metrics_job_acquire(m, "keep", "exec2");
    CU_ASSERT_PTR_EQUAL(now, old);
    metrics_job_release(m, old);
    metrics_job_release(m, gone);
    metrics_run_started(now, 1, 0);
    metrics_run_finished(now, METRICS_SUCCESS, 1000, 2);

    char *t = render(m, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"keep\",plugin=\"exec2\",result=\"success\"}"), 4);
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_runs_total{job_id=\"keep\",plugin=\"exec\",result=\"success\"}")));
    CU_ASSERT_PTR_NULL(strstr(t, "job_id=\"drop\""));
    free(t);

    /* a released id that comes back starts from zero */
    gone = metrics_job_acquire(m, "drop", "exec");
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"drop\",plugin=\"exec\",result=\"failure\"}"), 0);
    free(t);
    metrics_job_release(m, gone);
    metrics_job_release(m, now);
    t = render(m, METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "job_id="));
    free(t);
    metrics_free(m);
}

/* Many ids, out of order, added and removed: the table grows, the output is
 * sorted by id, removal keeps it sorted. */
static void test_many_jobs_sorted(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    enum { N = 1000 };
    struct job_metrics *jm[N];
    char id[32];

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "job%04d", (i * 7919) % N);
        jm[i] = metrics_job_acquire(m, id, "exec");
    }
    for (int i = 0; i < N; i += 2)
        metrics_job_release(m, jm[i]);
    char *t = render(m, METRICS_TEXT_004);
    const char *p = t, *prev = NULL;
    size_t count = 0;
    while ((p = strstr(p, "\njobhost_job_running{job_id=\""))) {
        p += strlen("\njobhost_job_running{job_id=\"");
        if (prev)
            CU_ASSERT_TRUE(strncmp(prev, p, 7) < 0);
        prev = p;
        count++;
    }
    CU_ASSERT_EQUAL(count, N / 2);
    free(t);
    for (int i = 1; i < N; i += 2)
        metrics_job_release(m, jm[i]);
    metrics_free(m);
}

/* --- concurrency ------------------------------------------------------------------ */

enum { C_JOBS = 4, C_THREADS = 8 };

struct writer {
    struct job_metrics **jobs;
    int runs;
    unsigned seed;
    uint64_t made[C_JOBS][METRICS_RESULT_COUNT];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    unsigned x = w->seed;
    for (int i = 0; i < w->runs; i++) {
        x = x * 1103515245u + 12345u;
        unsigned j = (x >> 8) % C_JOBS;
        enum metrics_result r = (enum metrics_result)((x >> 16) % METRICS_RESULT_COUNT);
        int64_t d = (int64_t)((x >> 4) % 5000) * 1000003;
        metrics_run_started(w->jobs[j], wall_ns(), d / 3);
        metrics_run_finished(w->jobs[j], r, d, wall_ns());
        if ((x & 63) == 0)
            metrics_skipped(w->jobs[j], METRICS_SKIP_MISFIRE);
        w->made[j][r]++;
    }
    return NULL;
}

struct job_view {
    double runs, count, inf, delay_count, running, prev_bucket;
    bool monotone;
};

/* Collects the per-job figures of one render and checks each job agrees
 * with itself. Returns the number of inconsistent jobs. */
static int check_scrape(const char *t, struct job_view v[C_JOBS])
{
    memset(v, 0, sizeof(struct job_view) * C_JOBS);
    for (int j = 0; j < C_JOBS; j++)
        v[j].monotone = true;
    for (const char *p = t; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *jid = strstr(p, "{job_id=\"j");
        if (*p != '#' && jid && (!nl || jid < nl)) {
            int j = jid[10] - '0';
            const char *sp = nl ? nl : p + strlen(p);
            while (sp > p && sp[-1] != ' ')
                sp--;
            double val = strtod(sp, NULL);
            if (strncmp(p, "jobhost_job_runs_total{", 23) == 0)
                v[j].runs += val;
            else if (strncmp(p, "jobhost_job_duration_seconds_count{", 35) == 0)
                v[j].count = val;
            else if (strncmp(p, "jobhost_job_duration_seconds_bucket{", 36) == 0) {
                if (val < v[j].prev_bucket)
                    v[j].monotone = false;
                v[j].prev_bucket = val;
                if (strstr(p, "le=\"+Inf\"") && strstr(p, "le=\"+Inf\"") < sp)
                    v[j].inf = val;
            } else if (strncmp(p, "jobhost_job_start_delay_seconds_count{", 38) == 0)
                v[j].delay_count = val;
            else if (strncmp(p, "jobhost_job_running{", 20) == 0)
                v[j].running = val;
            else if (strncmp(p, "jobhost_job_start_delay_seconds_bucket{", 39) == 0)
                v[j].prev_bucket = 0; /* duration buckets ended */
        }
        p = nl ? nl + 1 : NULL;
    }
    int bad = 0;
    for (int j = 0; j < C_JOBS; j++) {
        /* a run is counted in runs_total, _count and +Inf at the same time,
         * and in the delay histogram from its start until it finishes */
        if (v[j].runs != v[j].count || v[j].count != v[j].inf || !v[j].monotone ||
            v[j].delay_count != v[j].runs + v[j].running)
            bad++;
    }
    return bad;
}

struct scraper {
    struct metrics *m;
    atomic_bool *stop;
    int scrapes, bad;
};

static void *scraper_main(void *arg)
{
    struct scraper *s = arg;
    struct buf b = {0};
    struct job_view v[C_JOBS];
    while (!atomic_load(s->stop) || s->scrapes < 5) {
        buf_reset(&b);
        metrics_render(s->m, s->scrapes % 2 ? METRICS_OPENMETRICS_100 : METRICS_TEXT_004, &b);
        s->bad += check_scrape(b.data, v);
        s->scrapes++;
    }
    buf_free(&b);
    return NULL;
}

static void test_concurrent_scrape(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics *jobs[C_JOBS];
    struct writer w[C_THREADS];
    pthread_t wt[C_THREADS], st;
    atomic_bool stop = false;
    struct scraper sc = {.m = m, .stop = &stop};
    char id[16];

    for (int j = 0; j < C_JOBS; j++) {
        snprintf(id, sizeof id, "j%d", j);
        jobs[j] = metrics_job_acquire(m, id, "exec");
    }
    pthread_create(&st, NULL, scraper_main, &sc);
    for (int i = 0; i < C_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].jobs = jobs;
        w[i].runs = 20000;
        w[i].seed = 1234u + (unsigned)i * 77u;
        pthread_create(&wt[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < C_THREADS; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&stop, true);
    pthread_join(st, NULL);

    CU_ASSERT_EQUAL(sc.bad, 0);
    CU_ASSERT_TRUE(sc.scrapes >= 5);
    if (sc.bad)
        printf("\n  %d inconsistent jobs over %d scrapes", sc.bad, sc.scrapes);

    /* the final totals are exactly the runs made */
    char *t = render(m, METRICS_TEXT_004);
    char series[160];
    for (int j = 0; j < C_JOBS; j++) {
        uint64_t total = 0;
        for (int r = 0; r < METRICS_RESULT_COUNT; r++) {
            uint64_t made = 0;
            for (int i = 0; i < C_THREADS; i++)
                made += w[i].made[j][r];
            total += made;
            snprintf(series, sizeof series,
                     "jobhost_job_runs_total{job_id=\"j%d\",plugin=\"exec\",result=\"%s\"}", j,
                     metrics_result_name((enum metrics_result)r));
            CU_ASSERT_EQUAL((uint64_t)sample(t, series), made);
        }
        snprintf(series, sizeof series, "jobhost_job_duration_seconds_count{job_id=\"j%d\"}", j);
        CU_ASSERT_EQUAL((uint64_t)sample(t, series), total);
        snprintf(series, sizeof series, "jobhost_job_running{job_id=\"j%d\"}", j);
        CU_ASSERT_EQUAL(sample(t, series), 0);
    }
    free(t);
    for (int j = 0; j < C_JOBS; j++)
        metrics_job_release(m, jobs[j]);
    metrics_free(m);
}

/* A reload storm while workers record and a scraper renders: entries are
 * acquired and released concurrently with both. */
struct churn {
    struct metrics *m;
    atomic_bool *stop;
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    char id[16];
    for (int i = 0; !atomic_load(c->stop); i++) {
        snprintf(id, sizeof id, "c%d", i % 50);
        struct job_metrics *a = metrics_job_acquire(c->m, id, i % 3 ? "exec" : "other");
        metrics_run_started(a, 1, 0);
        metrics_run_finished(a, METRICS_SUCCESS, 1, 2);
        metrics_job_release(c->m, a);
    }
    return NULL;
}

static void test_concurrent_reload(void)
{
    struct metrics *m = metrics_new(NULL, 0);
    atomic_bool stop = false;
    struct churn c = {m, &stop};
    struct scraper sc = {.m = m, .stop = &stop};
    pthread_t ct[2], st;

    pthread_create(&st, NULL, scraper_main, &sc);
    for (int i = 0; i < 2; i++)
        pthread_create(&ct[i], NULL, churn_main, &c);
    usleep(300000);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(ct[i], NULL);
    pthread_join(st, NULL);
    CU_ASSERT_EQUAL(sc.bad, 0);
    char *t = render(m, METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "job_id="));
    free(t);
    metrics_free(m);
}

/* --- promtool ------------------------------------------------------------------------ */

/* Runs `promtool check metrics < text`; returns its exit status (-1 when it
 * could not run) and its combined output in *out (malloc'd). */
static int promtool_check(const char *text, size_t len, char **out)
{
    char in_path[] = "/tmp/jh_metrics_XXXXXX", out_path[] = "/tmp/jh_promtool_XXXXXX";
    int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path), status = -1;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    char *argv[] = {"promtool", "check", "metrics", NULL};

    *out = NULL;
    if (in_fd < 0 || out_fd < 0)
        goto out;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(in_fd, text + off, len - off);
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    int rc = posix_spawn(&pid, PROMTOOL, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        goto out;
    if (waitpid(pid, &status, 0) < 0)
        goto out;
    status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    struct stat st;
    fstat(out_fd, &st);
    *out = calloc(1, (size_t)st.st_size + 1);
    if (*out && st.st_size > 0 && pread(out_fd, *out, (size_t)st.st_size, 0) < 0)
        (*out)[0] = '\0';
out:
    if (in_fd >= 0) {
        close(in_fd);
        unlink(in_path);
    }
    if (out_fd >= 0) {
        close(out_fd);
        unlink(out_path);
    }
    return status;
}

static void promtool_registry(size_t n_jobs)
{
    if (access(PROMTOOL, X_OK) != 0) {
        printf("\n  %s not installed (Debian package prometheus): check skipped", PROMTOOL);
        CU_PASS("promtool not installed; skipped");
        return;
    }
    struct metrics *m = metrics_new(NULL, 0);
    struct job_metrics **jm = calloc(n_jobs, sizeof *jm);
    char id[64];
    const struct metrics_plugin plugins[] = {{"exec", "0.1.0"}, {"hello", "1.0.0"}};

    metrics_set_plugins(m, plugins, 2);
    metrics_set_jobs(m, n_jobs);
    metrics_reload(m, true, wall_ns());
    metrics_set_log_dropped_source(m, fake_dropped);
    for (size_t i = 0; i < n_jobs; i++) {
        /* a few ids that need escaping among plain ones */
        if (i % 10 == 3)
            snprintf(id, sizeof id, "job \"%zu\" \\ with\nnewline ü", i);
        else
            snprintf(id, sizeof id, "job_%05zu", i);
        jm[i] = metrics_job_acquire(m, id, i % 2 ? "exec" : "hello");
        for (size_t k = 0; k < i % 7; k++) {
            metrics_run_started(jm[i], wall_ns(), (int64_t)(k * 777777));
            metrics_run_finished(jm[i], (enum metrics_result)(k % METRICS_RESULT_COUNT),
                                 (int64_t)(k * 123456789), wall_ns());
        }
        if (i % 3 == 0)
            metrics_set_next_run(jm[i], wall_ns() + 60 * NS);
        if (i % 4 == 0)
            metrics_skipped(jm[i], METRICS_SKIP_COALESCED);
    }
    struct buf b = {0};
    CU_ASSERT_EQUAL(metrics_render(m, METRICS_TEXT_004, &b), 0);
    char *out = NULL;
    int status = promtool_check(b.data, b.len, &out);
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_PTR_NOT_NULL(out);
    if (out) {
        CU_ASSERT_STRING_EQUAL(out, "");
        if (out[0])
            printf("\n  promtool (%zu jobs) said:\n%s", n_jobs, out);
    }
    free(out);
    buf_free(&b);
    for (size_t i = 0; i < n_jobs; i++)
        metrics_job_release(m, jm[i]);
    free(jm);
    metrics_free(m);
}

static void test_promtool_small(void)
{
    promtool_registry(3);
}

static void test_promtool_100(void)
{
    promtool_registry(100);
}

/* --- suites ------------------------------------------------------------------------------ */

static const struct cu_test format_tests[] = {
    {"format_double table (Go 'g' and OpenMetrics canonical)", test_format_double},
    {"format_double round-trips random doubles", test_format_double_roundtrip},
    {"bucket lists are validated", test_check_buckets},
    {"result / reason names and content types", test_names},
    {NULL, NULL},
};

static const struct cu_test exposition_tests[] = {
    {"job ids and plugins that need escaping", test_escaping},
    {"histogram bucket edges (le inclusive, 0, huge, +Inf)", test_bucket_edges},
    {"cumulative buckets, _count == +Inf == runs", test_cumulative},
    {"gauges, results and skip reasons", test_gauges_and_results},
    {"host-level metrics", test_host_metrics},
    {"process metrics present and numeric", test_process_metrics},
    {"OpenMetrics shape and # EOF", test_openmetrics_shape},
    {NULL, NULL},
};

static const struct cu_test registry_tests[] = {
    {"acquire/release carries counters over a reload", test_carry_over},
    {"1000 jobs: hash growth, sorted output, removal", test_many_jobs_sorted},
    {NULL, NULL},
};

static const struct cu_test concurrency_tests[] = {
    {"8 writers + scraper: every scrape self-consistent", test_concurrent_scrape},
    {"acquire/release churn while scraping", test_concurrent_reload},
    {NULL, NULL},
};

static const struct cu_test promtool_tests[] = {
    {"promtool check metrics: 3 jobs", test_promtool_small},
    {"promtool check metrics: 100 jobs", test_promtool_100},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"metrics_format", format_tests},
    {"metrics_exposition", exposition_tests},
    {"metrics_registry", registry_tests},
    {"metrics_concurrency", concurrency_tests},
    {"metrics_promtool", promtool_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
