/*
 * test_metrics — the registry and its exposition: number formatting,
 * escaping, histogram edges, OpenMetrics shape, carry-over across a reload,
 * process metrics, a many-threads-record-while-scraping test and a
 * reload storm while scraping (run them under TSan too), and
 * `promtool check metrics` on real renders. Jobs live in fake generations
 * (fake_gen.h); runs go through the real outcome pipeline.
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
#include "cu_main.h"
#include "fake_gen.h"
#include "io/metrics_render.h"
#include "lib/numfmt.h"
#include "lib/util.h"

extern char **environ;

#ifndef JOBHOST_VERSION /* as metrics.c does; the Makefile defines it */
#define JOBHOST_VERSION "0.0.0"
#endif

#define PROMTOOL "/usr/bin/promtool"
#define NS 1000000000LL

/* --- helpers ---------------------------------------------------------------- */

/* The runtime of the test that runs now. */
static struct fake_rt F;

static char *render(enum metrics_format f)
{
    struct buf b = {0};
    CU_ASSERT_EQUAL(metrics_render_all(&F.src, f, &b), 0);
    return b.data;
}

/* One job in a generation of its own. */
static struct job *acquire(const char *id, const char *plugin)
{
    return &fake_gen(&F, &id, 1, plugin)->jobs[0];
}

static void release(struct job *j)
{
    generation_unref(j->gen);
}

/* A whole run: started at `start` with `delay`, finished after `dur`. */
static void run1(struct job *j, int64_t start, int64_t delay, enum run_result r, int64_t dur)
{
    struct run run;
    fake_started(j, &run, start, delay);
    fake_finished(&run, r, dur);
}

static void set_next_run(struct job *j, int64_t wall)
{
    outcome_planned(j, wall);
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
    CU_ASSERT_STRING_EQUAL(run_result_name(RUN_DRY_RUN), "dry_run");
    CU_ASSERT_STRING_EQUAL(skip_reason_name(SKIP_MAX_INSTANCES), "max_instances");
    CU_ASSERT_STRING_EQUAL(run_result_name(RUN_RESULT_COUNT), "unknown");
    CU_ASSERT_STRING_EQUAL(metrics_content_type(METRICS_TEXT_004),
                           "text/plain; version=0.0.4; charset=utf-8");
    CU_ASSERT_STRING_EQUAL(metrics_content_type(METRICS_OPENMETRICS_100),
                           "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

/* --- exposition ----------------------------------------------------------------- */

static void test_escaping(void)
{
    fake_rt_init(&F, NULL, 0);
    struct job *a = acquire("back\\slash \"quoted\"\nnext", "p\"lug\\in");
    struct job *b = acquire("zürich-✓-日本", "exec");
    struct job *c = acquire("bad\xff\xfe utf8 \xe2\x82", "exec");
    struct job *d = acquire("tab\there {braces} = , ok", "exec");

    for (int f = 0; f < 2; f++) {
        char *t = render(f ? METRICS_OPENMETRICS_100 : METRICS_TEXT_004);
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
    release(a);
    release(b);
    release(c);
    release(d);
    fake_rt_free(&F);
}

static void test_bucket_edges(void)
{
    const double bounds[] = {0.1, 1, 10};
    fake_rt_init(&F, bounds, 3);
    struct job *j = acquire("edge", "exec");
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
    for (size_t i = 0; i < ARRAY_SIZE(obs); i++)
        run1(j, 1, obs[i], RUN_SUCCESS, obs[i]);
    char *t = render(METRICS_TEXT_004);
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
    release(j);
    fake_rt_free(&F);

    /* bounds that are not exact in binary still take their exact value */
    const double odd[] = {0.3, 0.7};
    fake_rt_init(&F, odd, 2);
    struct job *k = acquire("odd", "exec");
    run1(k, 1, 0, RUN_SUCCESS, 300000000); /* 0.3 s */
    run1(k, 1, 0, RUN_SUCCESS, 700000000); /* 0.7 s */
    t = render(METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"odd\",le=\"0.3\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_bucket{job_id=\"odd\",le=\"0.7\"}"), 2);
    free(t);
    release(k);
    fake_rt_free(&F);
}

static void test_cumulative(void)
{
    fake_rt_init(&F, NULL, 0);
    struct job *j = acquire("c", "exec");
    static const char *const les[] = {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5",
                                      "10",    "30",    "60",   "300",  "900", "1800", "3600", "+Inf"};
    uint64_t x = 7;
    int64_t sum = 0;
    const int n = 5000;

    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t d = (int64_t)((x >> 20) % (4000LL * NS)); /* 0 .. 4000 s */
        sum += d;
        run1(j, 1, 0, (enum run_result)(i % RUN_RESULT_COUNT), d);
    }
    char *t = render(METRICS_TEXT_004);
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
    for (int r = 0; r < RUN_RESULT_COUNT; r++) {
        snprintf(series, sizeof series,
                 "jobhost_job_runs_total{job_id=\"c\",plugin=\"exec\",result=\"%s\"}",
                 run_result_name((enum run_result)r));
        runs += sample(t, series);
    }
    CU_ASSERT_EQUAL(runs, n);
    CU_ASSERT_DOUBLE_EQUAL(sample(t, "jobhost_job_duration_seconds_sum{job_id=\"c\"}"),
                           (double)sum / 1e9, 1e-3);
    /* exactly 15 finite bounds + Inf, as the defaults say */
    CU_ASSERT_EQUAL(count_substr(t, "jobhost_job_duration_seconds_bucket{job_id=\"c\""), 16);
    free(t);
    release(j);
    fake_rt_free(&F);
}

static void test_gauges_and_results(void)
{
    fake_rt_init(&F, NULL, 0);
    struct job *j = acquire("g", "exec");
    struct run run;

    char *t = render(METRICS_TEXT_004);
    /* nothing happened yet: the last_* and next_run series are absent, and
     * so are the histograms */
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_last_run_timestamp_seconds{job_id=\"g\"}")));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_last_duration_seconds{job_id=\"g\"}")));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_next_run_timestamp_seconds{job_id=\"g\"}")));
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_job_duration_seconds_bucket{job_id=\"g\""));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_running{job_id=\"g\"}"), 0);
    /* runs_total for success and failure only, no skip reasons yet */
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"success\"}"), 0);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"failure\"}"), 0);
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"timeout\"}")));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"shutdown\"}")));
    free(t);

    fake_started(j, &run, 1700000000 * NS + 5, 250000000);
    set_next_run(j, 1700000100 * NS);
    outcome_skipped(j, SKIP_MAX_INSTANCES, 0, 2);
    outcome_skipped(j, SKIP_COALESCED, 0, 1);
    t = render(METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_running{job_id=\"g\"}"), 1);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_run_timestamp_seconds{job_id=\"g\"} 1700000000.000000005"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_next_run_timestamp_seconds{job_id=\"g\"} 1700000100"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_start_delay_seconds_sum{job_id=\"g\"} 0.25"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"max_instances\"}"), 2);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"coalesced\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_skipped_total{job_id=\"g\",reason=\"misfire\"}"), 0);
    free(t);

    /* ends at 1700000001.5: last_failure is the end, last_duration 1.5 s */
    run.start_wall_ns = 1700000000 * NS;
    fake_finished(&run, RUN_TIMEOUT, 1500000000);
    set_next_run(j, -1); /* no next run: the series goes */
    t = render(METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_running{job_id=\"g\"}"), 0);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_failure_timestamp_seconds{job_id=\"g\"} 1700000001.5"));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_last_success_timestamp_seconds{job_id=\"g\"}")));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_duration_seconds{job_id=\"g\"} 1.5"));
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_next_run_timestamp_seconds{job_id=\"g\"}")));
    free(t);

    /* success and dry_run: only success moves last_success; dry_run moves neither */
    run1(j, 1700000003 * NS, 0, RUN_SUCCESS, 0);
    run1(j, 1700000004 * NS, 0, RUN_DRY_RUN, 1000);
    run1(j, 1700000007 * NS, 0, RUN_CRASHED, 1000);
    t = render(METRICS_TEXT_004);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_success_timestamp_seconds{job_id=\"g\"} 1700000003"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_failure_timestamp_seconds{job_id=\"g\"} 1700000007.000001"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_duration_seconds{job_id=\"g\"} 0.000001"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"dry_run\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"crashed\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"timeout\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"g\",plugin=\"exec\",result=\"success\"}"), 1);
    free(t);

    /* the last run, as the jobs API reads it */
    struct job_last_run last;
    metrics_job_last(atomic_load(&j->state->metrics), &last);
    CU_ASSERT_TRUE(last.ran);
    CU_ASSERT_EQUAL(last.result, RUN_CRASHED);
    CU_ASSERT_EQUAL(last.start_wall_ns, 1700000007 * NS);
    metrics_job_last(NULL, &last);
    CU_ASSERT_FALSE(last.ran);
    release(j);
    fake_rt_free(&F);
}

static uint64_t fake_dropped(const char *sink)
{
    return strcmp(sink, "queue") == 0 ? 7 : strlen(sink);
}

/* The strip of last results (oldest first, at most METRICS_RECENT) and
 * the time of the last misfire, for the jobs API and the status page. */
static void test_recent_results(void)
{
    fake_rt_init(&F, NULL, 0);
    struct job *j = acquire("strip", "exec");
    enum run_result got[METRICS_RECENT];
    static const enum run_result cycle[] = {RUN_SUCCESS, RUN_FAILURE, RUN_TIMEOUT, RUN_CRASHED,
                                            RUN_CANCELLED, RUN_DRY_RUN};
    size_t n;

    CU_ASSERT_EQUAL(metrics_job_recent(atomic_load(&j->state->metrics), got), 0);
    CU_ASSERT_EQUAL(metrics_job_missed(atomic_load(&j->state->metrics)), 0);
    run1(j, 1700000000 * NS, 0, RUN_FAILURE, NS);
    run1(j, 1700000010 * NS, 0, RUN_SUCCESS, NS);
    n = metrics_job_recent(atomic_load(&j->state->metrics), got);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(got[0], RUN_FAILURE);
    CU_ASSERT_EQUAL(got[1], RUN_SUCCESS);
    for (int i = 0; i < 25; i++)
        run1(j, (1700000100 + i) * NS, 0, cycle[i % 6], NS);
    n = metrics_job_recent(atomic_load(&j->state->metrics), got);
    CU_ASSERT_EQUAL_FATAL(n, METRICS_RECENT);
    for (size_t i = 0; i < n; i++) /* the last 20 of the 25, in order */
        CU_ASSERT_EQUAL(got[i], cycle[(i + 5) % 6]);
    outcome_skipped(j, SKIP_MAX_INSTANCES, 0, 1);
    CU_ASSERT_EQUAL(metrics_job_missed(atomic_load(&j->state->metrics)), 0);
    outcome_skipped(j, SKIP_MISFIRE, 1700000200 * NS, 1);
    CU_ASSERT_TRUE(metrics_job_missed(atomic_load(&j->state->metrics)) > 0);
    /* a run since: no longer missed */
    run1(j, 1700000300 * NS, 0, RUN_SUCCESS, NS);
    CU_ASSERT_EQUAL(metrics_job_missed(atomic_load(&j->state->metrics)), 0);
    release(j);
    fake_rt_free(&F);
}

static void test_host_metrics(void)
{
    fake_rt_init(&F, NULL, 0);
    struct metrics *m = F.rt.metrics;
    char *t = render(METRICS_TEXT_004);

    /* a fresh registry: built after a successful load, no reload yet */
    CU_ASSERT_TRUE(has_line(t, "jobhost_build_info{version=\"" JOBHOST_VERSION "\",abi=\"2\"} 1"));
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
    F.src.dropped = fake_dropped;
    t = render(METRICS_TEXT_004);
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
    t = render(METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_plugins_loaded"));
    free(t);
    fake_rt_free(&F);
}

static void test_process_metrics(void)
{
    fake_rt_init(&F, NULL, 0);
    char *t = render(METRICS_TEXT_004);
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
    char *t2 = render(METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t2, "process_open_fds"), sample(t, "process_open_fds") + 8);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    free(t2);
    free(t);
    fake_rt_free(&F);
}

static void test_openmetrics_shape(void)
{
    fake_rt_init(&F, NULL, 0);
    struct job *j = acquire("om", "exec");
    run1(j, 5 * NS, 0, RUN_SUCCESS, NS);
    F.src.dropped = fake_dropped;
    char *t = render(METRICS_OPENMETRICS_100);
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
                               "failure, timeout, crashed, cancelled, dry_run, interrupted)."));
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

    t = render(METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "# EOF"));
    CU_ASSERT_PTR_NULL(strstr(t, "# UNIT"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_job_runs_total counter"));
    CU_ASSERT_TRUE(has_line(t, "# TYPE jobhost_build_info gauge"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_duration_seconds_bucket{job_id=\"om\",le=\"1\"} 1"));
    CU_ASSERT_TRUE(strstr(t, "# HELP jobhost_jobs ") < strstr(t, "# TYPE jobhost_jobs gauge"));
    CU_ASSERT_PTR_NULL(strstr(t, "job=\""));
    free(t);

    struct buf b = {0};
    CU_ASSERT_EQUAL(metrics_render_all(&F.src, (enum metrics_format)7, &b), -EINVAL);
    buf_free(&b);
    release(j);
    fake_rt_free(&F);
}

/* A job that never ran costs few bytes: its per-job series are running,
 * next_run and runs_total for success and failure; with histograms off for
 * a job, a run adds no bucket lines. */
static void test_never_run_job_is_small(void)
{
    enum { N = 1000 };
    static char ids[N][16];
    const char *idp[N];
    struct buf a = {0}, b = {0};

    fake_rt_init(&F, NULL, 0);
    metrics_render_all(&F.src, METRICS_TEXT_004, &a); /* the host's own series */
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "j%06d", i);
        idp[i] = ids[i];
    }
    struct generation *g = fake_gen(&F, idp, N, "hello");
    for (int i = 0; i < N; i++)
        set_next_run(&g->jobs[i], 1780272300 * NS);
    metrics_render_all(&F.src, METRICS_TEXT_004, &b);
    size_t per_job = (b.len - a.len) / N;
    CU_ASSERT_TRUE(per_job <= 600);
    printf("\n  %zu bytes of exposition per job that never ran", per_job);
    CU_ASSERT_EQUAL(count_substr(b.data, "{job_id=\"j000007\""), 4);
    g->manifest->jobs[1].histograms = false;
    run1(&g->jobs[0], 1, 0, RUN_SUCCESS, 1000);
    run1(&g->jobs[1], 1, 0, RUN_SUCCESS, 1000);
    char *t = render(METRICS_TEXT_004);
    CU_ASSERT_PTR_NOT_NULL(strstr(t, "jobhost_job_duration_seconds_count{job_id=\"j000000\"}"));
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_job_duration_seconds_bucket{job_id=\"j000001\""));
    CU_ASSERT_PTR_NULL(strstr(t, "jobhost_job_start_delay_seconds_bucket{job_id=\"j000001\""));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"j000001\",plugin=\"hello\",result=\"success\"}"), 1);
    free(t);
    buf_free(&a);
    buf_free(&b);
    generation_unref(g);
    fake_rt_free(&F);
}

/* The exposition comes in pieces; joined they are the whole text, and no
 * piece ends inside a line. */
static void test_pieces(void)
{
    enum { N = 3000 };
    static char ids[N][16];
    const char *idp[N];

    fake_rt_init(&F, NULL, 0);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "job%05d", i);
        idp[i] = ids[i];
    }
    struct generation *g = fake_gen(&F, idp, N, "exec");
    for (int i = 0; i < N; i += 3)
        run1(&g->jobs[i], 1, 0, RUN_SUCCESS, 1000);
    char *whole = render(METRICS_TEXT_004);
    struct metrics_render *r = metrics_render_new(&F.src, METRICS_TEXT_004);
    struct buf all = {0}, piece = {0};
    int pieces = 0, bad_ends = 0;
    for (int more = 1; more;) {
        buf_reset(&piece);
        more = metrics_render_next(r, &piece);
        pieces++;
        if (piece.len && piece.data[piece.len - 1] != '\n')
            bad_ends++;
        if (more)
            CU_ASSERT_TRUE(piece.len >= METRICS_PIECE);
        buf_append(&all, piece.data, piece.len);
    }
    metrics_render_free(r);
    CU_ASSERT_TRUE(pieces > 10);
    CU_ASSERT_EQUAL(bad_ends, 0);
    /* the process metrics move between two renders: compare up to them */
    const char *cut = strstr(whole, "# HELP process_");
    CU_ASSERT_PTR_NOT_NULL(cut);
    if (cut)
        CU_ASSERT_EQUAL(strncmp(all.data, whole, (size_t)(cut - whole)), 0);
    free(whole);
    buf_free(&all);
    buf_free(&piece);
    generation_unref(g);
    fake_rt_free(&F);
}

/* --- across reloads ------------------------------------------------------------------ */

static void test_carry_over(void)
{
    fake_rt_init(&F, NULL, 0);
    const char *ids1[] = {"keep", "drop"};
    struct generation *g1 = fake_gen(&F, ids1, 2, "exec");

    for (int i = 0; i < 3; i++)
        run1(&g1->jobs[0], 1, 0, RUN_SUCCESS, 1000);
    run1(&g1->jobs[1], 1, 0, RUN_FAILURE, 1000);

    /* reload: the new generation is built before the old one goes */
    const char *ids2[] = {"keep"};
    struct generation *g2 = fake_gen(&F, ids2, 1, "exec2");
    CU_ASSERT_PTR_EQUAL(g2->jobs[0].state, g1->jobs[0].state);
    char *t = render(METRICS_TEXT_004);
    /* both generations live: each id once, from the newest that has it */
    CU_ASSERT_EQUAL(count_substr(t, "jobhost_job_running{job_id=\"keep\"}"), 1);
    CU_ASSERT_EQUAL(count_substr(t, "jobhost_job_running{job_id=\"drop\"}"), 1);
    free(t);
    generation_unref(g1);
    run1(&g2->jobs[0], 1, 0, RUN_SUCCESS, 1000);

    t = render(METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"keep\",plugin=\"exec2\",result=\"success\"}"), 4);
    CU_ASSERT_TRUE(isnan(sample(t, "jobhost_job_runs_total{job_id=\"keep\",plugin=\"exec\",result=\"success\"}")));
    CU_ASSERT_PTR_NULL(strstr(t, "job_id=\"drop\""));
    free(t);

    /* a released id that comes back starts from zero */
    const char *ids3[] = {"drop"};
    struct generation *g3 = fake_gen(&F, ids3, 1, "exec");
    t = render(METRICS_TEXT_004);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"drop\",plugin=\"exec\",result=\"failure\"}"), 0);
    free(t);
    generation_unref(g3);
    generation_unref(g2);
    t = render(METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "job_id="));
    free(t);
    fake_rt_free(&F);
}

/* Many ids, added and half removed by a reload: each survivor appears once,
 * in the new generation's order, and nothing of the removed. */
static void test_many_jobs(void)
{
    enum { N = 1000 };
    static char ids[N][16];
    const char *all[N], *half[N / 2];

    fake_rt_init(&F, NULL, 0);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "job%04d", (i * 7919) % N);
        all[i] = ids[i];
        if (i % 2)
            half[i / 2] = ids[i];
    }
    struct generation *g1 = fake_gen(&F, all, N, "exec");
    struct generation *g2 = fake_gen(&F, half, N / 2, "exec");
    generation_unref(g1);
    char *t = render(METRICS_TEXT_004);
    const char *p = t;
    size_t count = 0, wrong = 0;
    while ((p = strstr(p, "\njobhost_job_running{job_id=\""))) {
        p += strlen("\njobhost_job_running{job_id=\"");
        if (count < N / 2 && strncmp(p, half[count], 7) != 0)
            wrong++;
        count++;
    }
    CU_ASSERT_EQUAL(count, N / 2);
    CU_ASSERT_EQUAL(wrong, 0);
    free(t);
    generation_unref(g2);
    fake_rt_free(&F);
}

/* --- concurrency ------------------------------------------------------------------ */

enum { C_JOBS = 4, C_THREADS = 8 };

struct writer {
    struct job *jobs;
    int runs;
    unsigned seed;
    uint64_t made[C_JOBS][RUN_RESULT_COUNT];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    unsigned x = w->seed;
    for (int i = 0; i < w->runs; i++) {
        x = x * 1103515245u + 12345u;
        unsigned j = (x >> 8) % C_JOBS;
        enum run_result r = (enum run_result)((x >> 16) % RUN_RESULT_COUNT);
        int64_t d = (int64_t)((x >> 4) % 5000) * 1000003;
        run1(&w->jobs[j], wall_ns(), d / 3, r, d);
        if ((x & 63) == 0)
            outcome_skipped(&w->jobs[j], SKIP_MISFIRE, 0, 1);
        w->made[j][r]++;
    }
    return NULL;
}

struct job_view {
    double count, inf, delay_count, delay_inf, prev_bucket;
    bool monotone;
};

/* Collects the per-job figures of one render and checks that each family
 * agrees with itself: buckets cumulative, _count == +Inf. Returns the
 * number of inconsistent jobs. */
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
            if (strncmp(p, "jobhost_job_duration_seconds_count{", 35) == 0)
                v[j].count = val;
            else if (strncmp(p, "jobhost_job_start_delay_seconds_count{", 38) == 0)
                v[j].delay_count = val;
            else if (strncmp(p, "jobhost_job_duration_seconds_bucket{", 36) == 0 ||
                     strncmp(p, "jobhost_job_start_delay_seconds_bucket{", 39) == 0) {
                bool delay = strncmp(p, "jobhost_job_start", 17) == 0;
                const char *first = delay ? "le=\"0.0005\"" : "le=\"0.001\"";
                const char *le = strstr(p, "le=\"");
                if (le && le < sp && strncmp(le, first, strlen(first)) == 0)
                    v[j].prev_bucket = 0; /* a family's first bucket */
                if (val < v[j].prev_bucket)
                    v[j].monotone = false;
                v[j].prev_bucket = val;
                if (le && le < sp && strncmp(le, "le=\"+Inf\"", 9) == 0)
                    *(delay ? &v[j].delay_inf : &v[j].inf) = val;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    int bad = 0;
    for (int j = 0; j < C_JOBS; j++) {
        if (v[j].count != v[j].inf || v[j].delay_count != v[j].delay_inf || !v[j].monotone)
            bad++;
    }
    return bad;
}

struct scraper {
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
        metrics_render_all(&F.src, s->scrapes % 2 ? METRICS_OPENMETRICS_100 : METRICS_TEXT_004, &b);
        s->bad += check_scrape(b.data, v);
        s->scrapes++;
    }
    buf_free(&b);
    return NULL;
}

static void test_concurrent_scrape(void)
{
    struct writer w[C_THREADS];
    pthread_t wt[C_THREADS], st;
    atomic_bool stop = false;
    struct scraper sc = {.stop = &stop};
    const char *ids[C_JOBS] = {"j0", "j1", "j2", "j3"};

    fake_rt_init(&F, NULL, 0);
    struct generation *g = fake_gen(&F, ids, C_JOBS, "exec");
    pthread_create(&st, NULL, scraper_main, &sc);
    for (int i = 0; i < C_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].jobs = g->jobs;
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
    char *t = render(METRICS_TEXT_004);
    char series[160];
    for (int j = 0; j < C_JOBS; j++) {
        uint64_t total = 0;
        for (int r = 0; r < RUN_RESULT_COUNT; r++) {
            uint64_t made = 0;
            for (int i = 0; i < C_THREADS; i++)
                made += w[i].made[j][r];
            total += made;
            snprintf(series, sizeof series,
                     "jobhost_job_runs_total{job_id=\"j%d\",plugin=\"exec\",result=\"%s\"}", j,
                     run_result_name((enum run_result)r));
            CU_ASSERT_EQUAL((uint64_t)sample(t, series), made);
        }
        snprintf(series, sizeof series, "jobhost_job_duration_seconds_count{job_id=\"j%d\"}", j);
        CU_ASSERT_EQUAL((uint64_t)sample(t, series), total);
        snprintf(series, sizeof series, "jobhost_job_running{job_id=\"j%d\"}", j);
        CU_ASSERT_EQUAL(sample(t, series), 0);
    }
    free(t);
    generation_unref(g);
    fake_rt_free(&F);
}

/* A reload storm while workers record and a scraper renders: generations
 * come and go on the main thread (this one), workers and the scraper hold
 * and drop them, and every teardown is handed to the main thread. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct generation *live; /* under live_lock */

static struct generation *take_live(void)
{
    pthread_mutex_lock(&live_lock);
    struct generation *g = live;
    generation_ref(g);
    pthread_mutex_unlock(&live_lock);
    return g;
}

static void *churn_writer(void *arg)
{
    atomic_bool *stop = arg;
    for (unsigned i = 0; !atomic_load(stop); i++) {
        struct generation *g = take_live();
        run1(&g->jobs[i % g->n_jobs], 1, 0, RUN_SUCCESS, 1);
        generation_unref(g); /* may be the last: queued to the main thread */
    }
    return NULL;
}

static void test_concurrent_reload(void)
{
    atomic_bool stop = false;
    struct scraper sc = {.stop = &stop};
    pthread_t wt[2], st;
    static char names[50][8];
    const char *ids[50];
    int64_t until;

    mainloop_init();
    fake_rt_init(&F, NULL, 0);
    for (int i = 0; i < 50; i++) {
        sfmt(names[i], sizeof names[i], "c%d", i);
        ids[i] = names[i];
    }
    live = fake_gen(&F, ids, 10, "exec");
    pthread_create(&st, NULL, scraper_main, &sc);
    for (int i = 0; i < 2; i++)
        pthread_create(&wt[i], NULL, churn_writer, &stop);
    until = mono_ns() + 300 * 1000000LL;
    for (int i = 1; mono_ns() < until; i++) {
        struct generation *g = fake_gen(&F, ids + i % 40, 10, i % 3 ? "exec" : "other");
        pthread_mutex_lock(&live_lock);
        struct generation *old = live;
        live = g;
        pthread_mutex_unlock(&live_lock);
        generation_unref(old);
        mainloop_run_pending();
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(wt[i], NULL);
    pthread_join(st, NULL);
    generation_unref(live);
    mainloop_run_pending();
    CU_ASSERT_EQUAL(sc.bad, 0);
    char *t = render(METRICS_TEXT_004);
    CU_ASSERT_PTR_NULL(strstr(t, "job_id="));
    free(t);
    CU_ASSERT_EQUAL(F.rt.states.count, 0);
    fake_rt_free(&F);
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
    fake_rt_init(&F, NULL, 0);
    struct metrics *m = F.rt.metrics;
    char (*ids)[64] = calloc(n_jobs, sizeof *ids);
    const char **idp = calloc(n_jobs, sizeof *idp);
    const struct metrics_plugin plugins[] = {{"exec", "0.1.0"}, {"hello", "1.0.0"}};

    metrics_set_plugins(m, plugins, 2);
    metrics_set_jobs(m, n_jobs);
    metrics_reload(m, true, wall_ns());
    F.src.dropped = fake_dropped;
    for (size_t i = 0; i < n_jobs; i++) {
        /* a few ids that need escaping among plain ones */
        if (i % 10 == 3)
            snprintf(ids[i], sizeof ids[i], "job \"%zu\" \\ with\nnewline ü", i);
        else
            snprintf(ids[i], sizeof ids[i], "job_%05zu", i);
        idp[i] = ids[i];
    }
    /* two generations, two plugins */
    struct generation *g1 = fake_gen(&F, idp, (n_jobs + 1) / 2, "hello");
    struct generation *g2 = fake_gen(&F, idp + (n_jobs + 1) / 2, n_jobs / 2, "exec");
    for (size_t i = 0; i < n_jobs; i++) {
        struct job *job = i < (n_jobs + 1) / 2 ? &g1->jobs[i] : &g2->jobs[i - (n_jobs + 1) / 2];
        for (size_t k = 0; k < i % 7; k++)
            run1(job, wall_ns(), (int64_t)(k * 777777), (enum run_result)(k % RUN_RESULT_COUNT),
                 (int64_t)(k * 123456789));
        if (i % 3 == 0)
            set_next_run(job, wall_ns() + 60 * NS);
        if (i % 4 == 0)
            outcome_skipped(job, SKIP_COALESCED, 0, 1);
    }
    struct buf b = {0};
    CU_ASSERT_EQUAL(metrics_render_all(&F.src, METRICS_TEXT_004, &b), 0);
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
    generation_unref(g1);
    generation_unref(g2);
    free(ids);
    free(idp);
    fake_rt_free(&F);
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


/* What the run store kept is put back at start: the last_* gauges and the
 * jobs API's last run; counters start at zero but for the runs this start
 * closed as interrupted; the next run moves everything on as usual. */
static void test_restore(void)
{
    fake_rt_init(&F, NULL, 0);
    struct job *j = acquire("r", "exec");
    struct job_last_run last = {.ran = true, .run_id = 0x1234, .result = RUN_INTERRUPTED,
                                .start_wall_ns = 1700000000 * NS, .duration_ns = 2 * NS};
    struct job_last_run back;
    char *t;

    snprintf(last.error, sizeof(last.error), "the daemon stopped during the run");
    metrics_job_restore(jobstate_metrics(&F.rt.states, j->state), &last, 1690000000 * NS,
                        1700000002 * NS, 1);
    t = render(METRICS_TEXT_004);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_run_timestamp_seconds{job_id=\"r\"} 1700000000"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_success_timestamp_seconds{job_id=\"r\"} 1690000000"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_failure_timestamp_seconds{job_id=\"r\"} 1700000002"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_duration_seconds{job_id=\"r\"} 2"));
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"r\",plugin=\"exec\",result=\"interrupted\"}"), 1);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_runs_total{job_id=\"r\",plugin=\"exec\",result=\"success\"}"), 0);
    CU_ASSERT_EQUAL(sample(t, "jobhost_job_duration_seconds_count{job_id=\"r\"}"), 0);
    free(t);
    metrics_job_last(atomic_load(&j->state->metrics), &back);
    CU_ASSERT_TRUE(back.ran);
    CU_ASSERT_EQUAL(back.run_id, 0x1234);
    CU_ASSERT_EQUAL(back.result, RUN_INTERRUPTED);
    ASSERT_STR(back.error, "the daemon stopped during the run");

    run1(j, 1700000010 * NS, 0, RUN_SUCCESS, NS);
    t = render(METRICS_TEXT_004);
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_success_timestamp_seconds{job_id=\"r\"} 1700000011"));
    CU_ASSERT_TRUE(has_line(t, "jobhost_job_last_failure_timestamp_seconds{job_id=\"r\"} 1700000002"));
    free(t);
    metrics_job_last(atomic_load(&j->state->metrics), &back);
    CU_ASSERT_EQUAL(back.result, RUN_SUCCESS);
    ASSERT_STR(back.error, "");
    release(j);
    fake_rt_free(&F);
}

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
    {"what the run store kept is restored", test_restore},
    {"host-level metrics", test_host_metrics},
    {"the strip of last results, a misfire until the next run", test_recent_results},
    {"process metrics present and numeric", test_process_metrics},
    {"OpenMetrics shape and # EOF", test_openmetrics_shape},
    {"pieces join into the whole exposition", test_pieces},
    {"a job that never ran costs <= 600 bytes; histograms can be off", test_never_run_job_is_small},
    {NULL, NULL},
};

static const struct cu_test registry_tests[] = {
    {"a reload carries counters over, a removed id leaves", test_carry_over},
    {"1000 jobs, half removed by a reload", test_many_jobs},
    {NULL, NULL},
};

static const struct cu_test concurrency_tests[] = {
    {"8 writers + scraper: every family self-consistent", test_concurrent_scrape},
    {"reload storm while recording and scraping", test_concurrent_reload},
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
