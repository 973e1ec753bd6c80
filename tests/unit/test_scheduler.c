/*
 * Scheduler decisions with an injected clock: no dispatcher thread, no
 * sleeping. Each test builds a real generation (manifest + the ok.so fixture)
 * and drives scheduler_advance() with chosen times; submissions go to a
 * recorder instead of the executor, and skips are read back from /metrics.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/executor.h"
#include "core/generation.h"
#include "core/jobstate.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/metrics.h"
#include "core/scheduler.h"
#include "cu_main.h"
#include "fake_gen.h"
#include "lib/trigger.h"
#include "lib/units.h"

#define SEC NS_PER_SEC

struct fired {
    char job[64];
    int64_t scheduled;
    bool dry_run;
    enum run_trigger trigger;
};

struct recorder {
    struct fired items[256];
    size_t n;
    bool hold_instances; /* runs never finish: instances stay claimed */
};

static int record(void *arg, struct job *job, const struct run_opts *opts)
{
    struct recorder *r = arg;
    if (!executor_claim_instance(job)) {
        outcome_skipped(job, SKIP_MAX_INSTANCES, opts->scheduled_wall_ns, 1);
        return -1;
    }
    if (!r->hold_instances)
        executor_release_instance(job);
    if (r->n < 256) {
        snprintf(r->items[r->n].job, sizeof(r->items[r->n].job), "%s", job->spec->id);
        r->items[r->n].scheduled = opts->scheduled_wall_ns;
        r->items[r->n].dry_run = opts->dry_run;
        r->items[r->n].trigger = opts->trigger;
        r->n++;
    }
    return 0;
}

struct fixture {
    struct fake_rt f;
    struct generation *gen;
    struct scheduler *sched;
    struct recorder rec;
};

static char plugin_dir[4096];

/* Builds a generation from jobs given as YAML lines (under `jobs:`). */
static struct generation *build(struct fixture *f, const char *jobs_yaml)
{
    struct buf text = {0};
    struct errors errs = {0};
    struct manifest *m = NULL;
    struct generation *g = NULL;

    buf_printf(&text, "host:\n  plugin_dir: %s\n  http: {enabled: false}\njobs:\n%s", plugin_dir,
               jobs_yaml);
    if (manifest_parse("t.yaml", "/tmp", text.data, text.len, &m, &errs) < 0) {
        fprintf(stderr, "%s", errs.text.data);
        CU_FAIL_FATAL("manifest refused");
    }
    if (generation_build(&f->f.rt, m, NULL, &g, &errs) < 0) {
        fprintf(stderr, "%s", errs.text.data);
        CU_FAIL_FATAL("generation refused");
    }
    generation_publish(g);
    buf_free(&text);
    errors_free(&errs);
    return g;
}

static void setup(struct fixture *f, const char *jobs_yaml, bool dry_run, int64_t now)
{
    memset(f, 0, sizeof(*f));
    fake_rt_init(&f->f, NULL, 0);
    f->gen = build(f, jobs_yaml);
    struct scheduler_opts so = {.submit = record, .submit_arg = &f->rec, .dry_run = dry_run};
    f->sched = scheduler_new(&so);
    scheduler_set_generation(f->sched, f->gen, now);
}

static void teardown(struct fixture *f)
{
    scheduler_free(f->sched);
    generation_unref(f->gen);
    fake_rt_free(&f->f);
}

/* The value of one sample in the exposition, or -1 when absent. */
static double sample(struct fixture *f, const char *series)
{
    struct buf out = {0};
    double v = -1;
    metrics_render_all(&f->f.src, METRICS_TEXT_004, &out);
    const char *p = strstr(out.data, series);
    if (p && p[strlen(series)] == ' ')
        v = strtod(p + strlen(series) + 1, NULL);
    buf_free(&out);
    return v;
}

/* 2026-06-01T00:00:00Z: a Monday, far from any DST change. */
static const int64_t T0 = INT64_C(1780272000) * SEC;

static const char interval_job[] = "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n";

static void test_interval_fires_on_time(void)
{
    struct fixture f;
    setup(&f, interval_job, false, T0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 10 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 10 * SEC - 1), 0);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 10 * SEC), 1);
    CU_ASSERT_STRING_EQUAL(f.rec.items[0].job, "tick");
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 10 * SEC);
    CU_ASSERT_FALSE(f.rec.items[0].dry_run);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 20 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 20 * SEC + 5), 1);
    CU_ASSERT_EQUAL(f.rec.items[1].scheduled, T0 + 20 * SEC);
    teardown(&f);
}

static void test_coalesce_collapses_overdue(void)
{
    struct fixture f;
    setup(&f, interval_job, false, T0);
    /* 65 s later: firings at 10..60 are due; one run, at the latest (60). */
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 65 * SEC), 1);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 60 * SEC);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"tick\",reason=\"coalesced\"}"), 5);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 70 * SEC);
    teardown(&f);
}

static void test_no_coalesce_skips_past_grace(void)
{
    struct fixture f;
    setup(&f,
          "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n"
          "    coalesce: false\n    misfire_grace: 30s\n    max_instances: 3\n",
          false, T0);
    /* At 65 s: 10, 20, 30 are more than 30 s late (skipped as misfire);
     * 40, 50, 60 are within the grace and each run (max_instances has room
     * for the three). */
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 65 * SEC), 3);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 40 * SEC);
    CU_ASSERT_EQUAL(f.rec.items[1].scheduled, T0 + 50 * SEC);
    CU_ASSERT_EQUAL(f.rec.items[2].scheduled, T0 + 60 * SEC);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"tick\",reason=\"misfire\"}"), 3);
    teardown(&f);
}

/* A backlog without coalesce is decided at once: as many runs as
 * max_instances has room for, the other firings skipped as one record, in a
 * time that does not grow with the backlog; a job beside it is not held up. */
static void test_no_coalesce_backlog_in_bulk(void)
{
    struct fixture f;
    setup(&f,
          "  - id: fast\n    plugin: ok\n    trigger: {interval: 1ms}\n    coalesce: false\n"
          "  - id: slow\n    plugin: ok\n    trigger: {interval: 100ms}\n",
          false, T0);
    f.rec.hold_instances = true; /* runs stay queued: their instances stay taken */
    /* 10 s later: 10,000 firings of fast are due, 100 of slow (coalesced) */
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 10 * SEC), 2);
    CU_ASSERT_EQUAL(f.rec.n, 2);
    CU_ASSERT_STRING_EQUAL(f.rec.items[0].job, "fast");
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + NS_PER_MS); /* the earliest */
    CU_ASSERT_STRING_EQUAL(f.rec.items[1].job, "slow");
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"fast\",reason=\"max_instances\"}"),
                    9999);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 10 * SEC + NS_PER_MS);
    /* with room for more, the earliest firings each get a run */
    teardown(&f);
    setup(&f,
          "  - id: fast\n    plugin: ok\n    trigger: {interval: 1ms}\n    coalesce: false\n"
          "    max_instances: 5\n",
          false, T0);
    f.rec.hold_instances = true;
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 20 * NS_PER_MS), 5);
    for (size_t i = 0; i < 5 && i < f.rec.n; i++)
        CU_ASSERT_EQUAL(f.rec.items[i].scheduled, T0 + (int64_t)(i + 1) * NS_PER_MS);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"fast\",reason=\"max_instances\"}"),
                    15);
    teardown(&f);
}

static void test_long_gap_is_bounded(void)
{
    struct fixture f;
    setup(&f, "  - id: minutely\n    plugin: ok\n    trigger: {cron: \"* * * * *\"}\n", false, T0);
    /* A year-long jump forward: one run, not half a million. */
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 365LL * 86400 * SEC + 30 * SEC), 1);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 365LL * 86400 * SEC);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 365LL * 86400 * SEC + 60 * SEC);
    CU_ASSERT(sample(&f, "jobhost_job_skipped_total{job_id=\"minutely\",reason=\"coalesced\"}") >= 1024);
    teardown(&f);
}

static void test_max_instances_skips(void)
{
    struct fixture f;
    setup(&f, interval_job, false, T0);
    f.rec.hold_instances = true; /* the first run never finishes */
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 10 * SEC), 1);
    scheduler_advance(f.sched, T0 + 20 * SEC);
    scheduler_advance(f.sched, T0 + 30 * SEC);
    CU_ASSERT_EQUAL(f.rec.n, 1);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"tick\",reason=\"max_instances\"}"), 2);
    teardown(&f);
}

static void test_max_instances_two(void)
{
    struct fixture f;
    setup(&f, "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n    max_instances: 2\n",
          false, T0);
    f.rec.hold_instances = true;
    scheduler_advance(f.sched, T0 + 10 * SEC);
    scheduler_advance(f.sched, T0 + 20 * SEC);
    scheduler_advance(f.sched, T0 + 30 * SEC);
    CU_ASSERT_EQUAL(f.rec.n, 2);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"tick\",reason=\"max_instances\"}"), 1);
    teardown(&f);
}

static void test_paused_job_skips(void)
{
    struct fixture f;
    setup(&f, interval_job, false, T0);
    atomic_store(&f.gen->jobs[0].state->paused, true);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 10 * SEC), 0);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"tick\",reason=\"paused\"}"), 1);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 20 * SEC);
    atomic_store(&f.gen->jobs[0].state->paused, false);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 20 * SEC), 1);
    teardown(&f);
}

static void test_disabled_and_manual_not_planned(void)
{
    struct fixture f;
    setup(&f,
          "  - id: off\n    plugin: ok\n    trigger: {interval: 1s}\n    enabled: false\n"
          "  - id: by-hand\n    plugin: ok\n",
          false, T0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), -1);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 3600 * SEC), 0);
    teardown(&f);
}

static void test_dry_run_flag(void)
{
    struct fixture f;
    setup(&f, interval_job, true, T0);
    scheduler_advance(f.sched, T0 + 10 * SEC);
    CU_ASSERT_EQUAL(f.rec.n, 1);
    CU_ASSERT_TRUE(f.rec.items[0].dry_run);
    teardown(&f);
}

static void test_date_fires_once(void)
{
    struct fixture f;
    setup(&f, "  - id: once\n    plugin: ok\n    trigger: {date: \"2026-06-01T00:05:00Z\"}\n", false,
          T0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 300 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 300 * SEC), 1);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), -1);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 900 * SEC), 0);
    teardown(&f);
}

static void test_past_date(void)
{
    struct fixture f;
    /* 30 s late (within the 60 s default grace): runs at once, once */
    setup(&f, "  - id: late\n    plugin: ok\n    trigger: {date: \"2026-05-31T23:59:30Z\"}\n"
              "  - id: missed\n    plugin: ok\n    trigger: {date: \"2026-05-31T23:00:00Z\"}\n",
          false, T0);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0), 1);
    CU_ASSERT_STRING_EQUAL(f.rec.items[0].job, "late");
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 - 30 * SEC);
    /* an hour late: never run, but counted */
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"missed\",reason=\"misfire\"}"), 1);
    /* a reload of the same jobs neither runs nor counts them again */
    struct generation *g2 = build(&f,
                                  "  - id: late\n    plugin: ok\n    trigger: {date: \"2026-05-31T23:59:30Z\"}\n"
                                  "  - id: missed\n    plugin: ok\n    trigger: {date: \"2026-05-31T23:00:00Z\"}\n");
    scheduler_set_generation(f.sched, g2, T0 + 10 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 20 * SEC), 0);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"missed\",reason=\"misfire\"}"), 1);
    generation_unref(g2);
    teardown(&f);
}

static void test_cron_in_timezone(void)
{
    struct fixture f;
    setup(&f,
          "  - id: berlin\n    plugin: ok\n"
          "    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n",
          false, T0);
    /* 03:00 CEST on 2026-06-01 is 01:00 UTC. */
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 3600 * SEC);
    teardown(&f);
}

static void test_clock_step_moves_intervals_only(void)
{
    struct fixture f;
    setup(&f,
          "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n"
          "  - id: berlin\n    plugin: ok\n    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n",
          false, T0);
    /* The wall clock jumps 1 h forward: the interval keeps its period in
     * elapsed time (next at T0+1h+10s); the cron job stays at 01:00 UTC and
     * is now due. */
    scheduler_clock_stepped(f.sched, 3600 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 3600 * SEC + 1), 1);
    CU_ASSERT_STRING_EQUAL(f.rec.items[0].job, "berlin");
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 3610 * SEC);
    teardown(&f);
}

static void test_clock_back_never_repeats(void)
{
    struct fixture f;
    setup(&f,
          "  - id: berlin\n    plugin: ok\n    trigger: {cron: \"0 3 * * *\", timezone: Europe/Berlin}\n",
          false, T0);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 3600 * SEC), 1);
    /* The clock steps back 30 minutes, past the firing: 03:00 must not run
     * again when the clock reaches it a second time. */
    scheduler_clock_stepped(f.sched, -1800 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 3600 * SEC), 0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + (3600 + 86400) * SEC);
    teardown(&f);
}

static void test_reload_keeps_plan(void)
{
    struct fixture f;
    setup(&f,
          "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n"
          "  - id: slow\n    plugin: ok\n    trigger: {interval: 1h}\n",
          false, T0);
    scheduler_advance(f.sched, T0 + 10 * SEC);
    /* Reload 5 s later: tick is unchanged and keeps T0+20; slow changed its
     * trigger and is re-planned from the reload time. */
    struct generation *g2 = build(&f,
                                  "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n"
                                  "  - id: slow\n    plugin: ok\n    trigger: {interval: 30s}\n");
    scheduler_set_generation(f.sched, g2, T0 + 15 * SEC);
    CU_ASSERT_EQUAL(g2->jobs[0].state, f.gen->jobs[0].state);
    CU_ASSERT_EQUAL(atomic_load(&g2->jobs[0].state->next_run_wall_ns), T0 + 20 * SEC);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 20 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 20 * SEC), 1);
    CU_ASSERT_EQUAL(f.rec.n, 2); /* no doubled, no missed firing */
    /* re-planned one period after the reload, not on the start-up phase */
    CU_ASSERT_EQUAL(atomic_load(&g2->jobs[1].state->next_run_wall_ns), T0 + 45 * SEC);
    generation_unref(g2);
    teardown(&f);
}

/* An interval job added by a reload first fires one period after it. */
static void test_added_interval_fires_one_period_later(void)
{
    struct fixture f;
    setup(&f, "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n", false, T0);
    struct generation *g2 = build(&f,
                                  "  - id: tick\n    plugin: ok\n    trigger: {interval: 10s}\n"
                                  "  - id: new\n    plugin: ok\n    trigger: {interval: 3s}\n");
    scheduler_set_generation(f.sched, g2, T0 + 2500 * NS_PER_MS);
    CU_ASSERT_EQUAL(atomic_load(&g2->jobs[1].state->next_run_wall_ns), T0 + 5500 * NS_PER_MS);
    CU_ASSERT_EQUAL(atomic_load(&g2->jobs[0].state->next_run_wall_ns), T0 + 10 * SEC);
    generation_unref(g2);
    teardown(&f);
}

static void test_jitter_within_bounds(void)
{
    struct fixture f;
    setup(&f, "  - id: j\n    plugin: ok\n    trigger: {interval: 10s, jitter: 2s}\n", false, T0);
    for (int i = 1; i <= 20; i++) {
        int64_t due = scheduler_next_due(f.sched);
        CU_ASSERT(due >= T0 + i * 10 * SEC && due < T0 + i * 10 * SEC + 2 * SEC);
        scheduler_advance(f.sched, due);
        /* the run keeps its nominal time */
        CU_ASSERT_EQUAL(f.rec.items[f.rec.n - 1].scheduled, T0 + i * 10 * SEC);
    }
    teardown(&f);
}


/* --- the first plan after a restart (what the run store knew) ------------ */

/* What the store "knew": the same for every job of the test. */
static struct sched_resume resume_given;

static bool fixed_resume(void *arg, const struct job *job, struct sched_resume *out)
{
    (void)arg;
    (void)job;
    *out = resume_given;
    return true;
}

static void setup_resumed(struct fixture *f, const char *jobs_yaml, int64_t now,
                          struct sched_resume rs)
{
    memset(f, 0, sizeof(*f));
    fake_rt_init(&f->f, NULL, 0);
    f->gen = build(f, jobs_yaml);
    resume_given = rs;
    struct scheduler_opts so = {.submit = record, .submit_arg = &f->rec, .resume = fixed_resume};
    f->sched = scheduler_new(&so);
    scheduler_set_generation(f->sched, f->gen, now);
}

static const char every_second[] =
    "  - id: s\n    plugin: ok\n    trigger: {cron: \"* * * * * *\", timezone: UTC}\n";

/* Down from T0 to T0 + 5.5 s: firings T0+1 .. T0+5 were missed. */
static void test_resume_downtime(void)
{
    struct fixture f;
    setup_resumed(&f, every_second, T0 + 5 * SEC + SEC / 2,
                  (struct sched_resume){.down_since_ns = T0, .last_nominal_ns = T0});
    CU_ASSERT_EQUAL(f.rec.n, 0);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"downtime\"}"), 5);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 6 * SEC);
    teardown(&f);
}

static void test_resume_catch_up(void)
{
    struct fixture f;
    /* within catch_up: one run, at the latest missed firing */
    setup_resumed(&f, "  - id: s\n    plugin: ok\n    trigger: {cron: \"* * * * * *\", timezone: UTC}\n"
                      "    catch_up: 1m\n",
                  T0 + 5 * SEC + SEC / 2, (struct sched_resume){.down_since_ns = T0});
    CU_ASSERT_EQUAL_FATAL(f.rec.n, 1);
    CU_ASSERT_EQUAL(f.rec.items[0].trigger, RUN_CATCH_UP);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 5 * SEC);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"coalesced\"}"), 4);
    CU_ASSERT(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"downtime\"}") <= 0);
    teardown(&f);
    /* down longer than catch_up: the older ones are downtime */
    setup_resumed(&f, "  - id: s\n    plugin: ok\n    trigger: {cron: \"* * * * * *\", timezone: UTC}\n"
                      "    catch_up: 2s\n",
                  T0 + 10 * SEC, (struct sched_resume){.down_since_ns = T0});
    CU_ASSERT_EQUAL_FATAL(f.rec.n, 1);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 10 * SEC);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"coalesced\"}"), 1);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"downtime\"}"), 8);
    teardown(&f);
}

/* A year down, a per-second job: counted, not listed. */
static void test_resume_a_year_down(void)
{
    struct fixture f;
    int64_t t0 = mono_ns();
    setup_resumed(&f, every_second, T0 + 365LL * 86400 * SEC,
                  (struct sched_resume){.down_since_ns = T0});
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"downtime\"}"),
                    365.0 * 86400);
    CU_ASSERT(mono_ns() - t0 < 5 * SEC);
    teardown(&f);
}

static void test_resume_dates(void)
{
    struct fixture f;
    static const char date_job[] =
        "  - id: once\n    plugin: ok\n    trigger: {date: \"2026-06-01T00:00:10Z\"}\n";
    /* recorded: never again, even within its grace */
    setup_resumed(&f, date_job, T0 + 20 * SEC,
                  (struct sched_resume){.down_since_ns = T0, .date_done = true});
    CU_ASSERT_EQUAL(f.rec.n, 0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), -1);
    /* nothing happened to it: no series, or 0 */
    CU_ASSERT(sample(&f, "jobhost_job_skipped_total{job_id=\"once\",reason=\"misfire\"}") <= 0);
    teardown(&f);
    /* due while down, not recorded: downtime, not run */
    setup_resumed(&f, date_job, T0 + 20 * SEC, (struct sched_resume){.down_since_ns = T0});
    CU_ASSERT_EQUAL(f.rec.n, 0);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"once\",reason=\"downtime\"}"), 1);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), -1);
    teardown(&f);
    /* with catch_up: run at start */
    setup_resumed(&f, "  - id: once\n    plugin: ok\n    trigger: {date: \"2026-06-01T00:00:10Z\"}\n"
                      "    catch_up: 1h\n",
                  T0 + 20 * SEC, (struct sched_resume){.down_since_ns = T0});
    CU_ASSERT_EQUAL_FATAL(f.rec.n, 1);
    CU_ASSERT_EQUAL(f.rec.items[0].trigger, RUN_CATCH_UP);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 + 10 * SEC);
    teardown(&f);
    /* still ahead: planned as usual */
    setup_resumed(&f, date_job, T0 + 5 * SEC, (struct sched_resume){.down_since_ns = T0});
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 10 * SEC);
    teardown(&f);
}

static void test_resume_interval_keeps_phase(void)
{
    struct fixture f;
    /* last fired at T0 - 3 s, every 10 s; down from T0 to T0 + 20 s:
     * T0 + 7 and T0 + 17 were missed, the next is T0 + 27 */
    setup_resumed(&f, interval_job, T0 + 20 * SEC,
                  (struct sched_resume){.down_since_ns = T0, .last_nominal_ns = T0 - 3 * SEC});
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"tick\",reason=\"downtime\"}"), 2);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 27 * SEC);
    teardown(&f);
}

static void test_resume_paused(void)
{
    struct fixture f;
    memset(&f, 0, sizeof(f));
    fake_rt_init(&f.f, NULL, 0);
    f.gen = build(&f, "  - id: s\n    plugin: ok\n    trigger: {cron: \"* * * * * *\", timezone: UTC}\n"
                      "    catch_up: 1m\n");
    atomic_store(&f.gen->jobs[0].state->paused, true); /* as the restore put it back */
    resume_given = (struct sched_resume){.down_since_ns = T0};
    struct scheduler_opts so = {.submit = record, .submit_arg = &f.rec, .resume = fixed_resume};
    f.sched = scheduler_new(&so);
    scheduler_set_generation(f.sched, f.gen, T0 + 3 * SEC);
    CU_ASSERT_EQUAL(f.rec.n, 0);
    CU_ASSERT_EQUAL(sample(&f, "jobhost_job_skipped_total{job_id=\"s\",reason=\"paused\"}"), 3);
    teardown(&f);
}

static const char retry_job[] = "  - id: flaky\n    plugin: ok\n    trigger: {interval: 1h}\n"
                                "    retry: {limit: 2, delay: 5s}\n";

/* A retry asked for by a worker runs at its time, as trigger retry. */
static void test_retry_runs_at_its_time(void)
{
    struct fixture f;
    setup(&f, retry_job, false, T0);
    scheduler_retry(f.sched, "flaky", 2, T0, T0 + 5 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 4 * SEC), 0);
    CU_ASSERT_EQUAL(atomic_load(&f.gen->jobs[0].state->retry_attempt), 2);
    CU_ASSERT_EQUAL(atomic_load(&f.gen->jobs[0].state->retry_due_wall_ns), T0 + 5 * SEC);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 5 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 5 * SEC), 1);
    CU_ASSERT_EQUAL(f.rec.n, 1);
    CU_ASSERT_EQUAL(f.rec.items[0].trigger, RUN_RETRY);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0);
    CU_ASSERT_EQUAL(atomic_load(&f.gen->jobs[0].state->retry_attempt), 0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 3600 * SEC); /* the plan goes on */
    teardown(&f);
}

/* A reload keeps a waiting retry of a job it keeps; one that removes the
 * job (or its policy) drops it. Unknown jobs never get one. */
static void test_retry_across_reloads(void)
{
    struct fixture f;
    setup(&f, retry_job, false, T0);
    scheduler_retry(f.sched, "nosuch", 2, T0, T0 + SEC);
    scheduler_retry(f.sched, "flaky", 2, T0, T0 + 5 * SEC);
    scheduler_advance(f.sched, T0);
    struct generation *g2 = build(&f, "  - id: other\n    plugin: ok\n" "  - id: flaky\n    plugin: ok\n"
                                      "    trigger: {interval: 1h}\n    retry: {limit: 2, delay: 5s}\n");
    scheduler_set_generation(f.sched, g2, T0 + SEC);
    CU_ASSERT_EQUAL(atomic_load(&g2->jobs[1].state->retry_attempt), 2);
    struct generation *g3 = build(&f, "  - id: flaky\n    plugin: ok\n    trigger: {interval: 1h}\n");
    scheduler_set_generation(f.sched, g3, T0 + 2 * SEC);
    CU_ASSERT_EQUAL(atomic_load(&g3->jobs[0].state->retry_attempt), 0);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 10 * SEC), 0);
    CU_ASSERT_EQUAL(f.rec.n, 0);
    generation_unref(g2);
    generation_unref(g3);
    teardown(&f);
}

/* After a restart, the retry the store shows waiting comes back. */
static void test_resume_retry(void)
{
    struct fixture f;
    memset(&f, 0, sizeof(f));
    fake_rt_init(&f.f, NULL, 0);
    f.gen = build(&f, retry_job);
    resume_given = (struct sched_resume){.retry_attempt = 3, .retry_due_ns = T0 + 2 * SEC,
                                         .retry_scheduled_ns = T0 - 60 * SEC};
    struct scheduler_opts so = {.submit = record, .submit_arg = &f.rec, .resume = fixed_resume};
    f.sched = scheduler_new(&so);
    scheduler_set_generation(f.sched, f.gen, T0);
    CU_ASSERT_EQUAL(scheduler_next_due(f.sched), T0 + 2 * SEC);
    CU_ASSERT_EQUAL(scheduler_advance(f.sched, T0 + 2 * SEC), 1);
    CU_ASSERT_EQUAL(f.rec.items[0].trigger, RUN_RETRY);
    CU_ASSERT_EQUAL(f.rec.items[0].scheduled, T0 - 60 * SEC);
    teardown(&f);
}

static const struct cu_test tests[] = {
    {"interval fires on time", test_interval_fires_on_time},
    {"coalesce collapses overdue firings", test_coalesce_collapses_overdue},
    {"without coalesce, firings past the grace are skipped", test_no_coalesce_skips_past_grace},
    {"without coalesce, a backlog is decided in bulk", test_no_coalesce_backlog_in_bulk},
    {"a year-long gap is bounded", test_long_gap_is_bounded},
    {"max_instances 1 skips while a run is live", test_max_instances_skips},
    {"max_instances 2", test_max_instances_two},
    {"paused job skips", test_paused_job_skips},
    {"disabled and manual jobs are not planned", test_disabled_and_manual_not_planned},
    {"dry-run host", test_dry_run_flag},
    {"date trigger fires once", test_date_fires_once},
    {"a past date runs within the grace, else is counted", test_past_date},
    {"cron in a time zone", test_cron_in_timezone},
    {"clock step moves intervals only", test_clock_step_moves_intervals_only},
    {"clock step back never repeats a firing", test_clock_back_never_repeats},
    {"reload keeps an unchanged job's plan", test_reload_keeps_plan},
    {"an interval job added by a reload fires one period later",
     test_added_interval_fires_one_period_later},
    {"jitter stays within bounds", test_jitter_within_bounds},
    {"after a restart: missed firings are downtime", test_resume_downtime},
    {"after a restart: catch_up makes one run", test_resume_catch_up},
    {"after a restart: a year down is counted, not listed", test_resume_a_year_down},
    {"after a restart: dates recorded, missed, caught up", test_resume_dates},
    {"after a restart: an interval keeps its phase", test_resume_interval_keeps_phase},
    {"after a restart: a paused job's misses are paused", test_resume_paused},
    {"a retry runs at its time", test_retry_runs_at_its_time},
    {"a waiting retry across reloads", test_retry_across_reloads},
    {"after a restart: a waiting retry comes back", test_resume_retry},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"scheduler", tests},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    (void)argc;
    char cwd[3000];
    if (!getcwd(cwd, sizeof(cwd)))
        return 1;
    snprintf(plugin_dir, sizeof(plugin_dir), "%s/tests/plugins", cwd);
    /* skips log a warning each; keep the output readable */
    struct log_config lc = {.level = JH_LOG_ERROR, .to_stderr = true};
    log_setup(&lc);
    int rc = cu_run(argv[0], suites);
    log_shutdown();
    return rc;
}
