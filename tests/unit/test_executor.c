/*
 * The worker pool: fairness (no run waits while a worker is idle, a slow
 * run never holds back quick ones), stuck runs written off and their
 * workers replaced, live resizing, and shutdown naming every abandoned run.
 * Jobs live in fake generations (fake_gen.h) and run a plugin descriptor
 * defined here, through the real run wrapper and outcome pipeline.
 */
#include "core/executor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "core/clock.h"
#include "core/log.h"
#include "cu_main.h"
#include "fake_gen.h"
#include "lib/units.h"

#define MS NS_PER_MS

/* --- a plugin in the test binary -------------------------------------------------- */

/* What each run does, by job id's first letter: h = hang (ignores
 * cancellation) until `release`, q = note its start and return, anything
 * else returns at once. */
static atomic_bool release;
static atomic_int hanging; /* runs in the hang now */
static _Atomic int64_t started_at[64]; /* mono ns of each quick job's start, by index */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int test_run(jh_ctx *ctx)
{
    const char *id = jh_job_id(ctx);
    if (id[0] == 'h') {
        atomic_fetch_add(&hanging, 1);
        while (!atomic_load(&release))
            sleep_ms(5);
        atomic_fetch_sub(&hanging, 1);
    } else if (id[0] == 'q') {
        atomic_store(&started_at[atoi(id + 1)], mono_ns());
    }
    return JH_OK;
}

/* A descriptor in the test binary itself: its host calls are bound with
 * plugin_bind before the first run (main). */
static const struct jh_plugin test_desc = {
    .abi_version = JH_ABI_VERSION, .size = sizeof(struct jh_plugin),
    .imports = JH_IMPORTS_BEGIN, .imports_end = JH_IMPORTS_END, .name = "t", .version = "1",
    .run = test_run};

static struct plugin test_plugin = {.name = "t", .desc = &test_desc, .desc_name = "t",
                                    .version = "1"};

/* --- an observer that counts outcomes ----------------------------------------------- */

static atomic_int n_finished, n_stuck_reports, n_skipped;
static atomic_int n_held_at_finish; /* finishes reported while the run still held its instance */

static void on_finished(void *arg, const struct run *run)
{
    (void)arg;
    /* whoever sees a finish may start the job again at once (max_instances 1) */
    if (atomic_load(&run->job->state->instances) != 0)
        atomic_fetch_add(&n_held_at_finish, 1);
    atomic_fetch_add(&n_finished, 1);
    if (run->stuck && run->result == RUN_TIMEOUT)
        atomic_fetch_add(&n_stuck_reports, 1);
}

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    (void)arg;
    (void)job;
    atomic_fetch_add(&n_skipped, (int)skip->count);
}

static const struct outcome_observer counter = {
    .name = "counter", .finished = on_finished, .skipped = on_skipped};

static struct fake_rt F;

static struct generation *setup(const char *const *ids, size_t n)
{
    struct log_config quiet = {.level = JH_LOG_ERROR + 1};
    log_setup(&quiet);
    fake_rt_init(&F, NULL, 0);
    outcome_register(&counter, NULL);
    atomic_store(&n_finished, 0);
    atomic_store(&n_stuck_reports, 0);
    atomic_store(&n_skipped, 0);
    atomic_store(&n_held_at_finish, 0);
    atomic_store(&release, false);
    atomic_store(&hanging, 0);
    for (size_t i = 0; i < 64; i++)
        atomic_store(&started_at[i], 0);
    struct generation *g = fake_gen(&F, ids, n, "t");
    char err[256];
    CU_ASSERT_EQUAL(plugin_bind(&test_desc, err, sizeof(err)), 0);
    for (size_t i = 0; i < n; i++)
        g->jobs[i].plugin = &test_plugin;
    return g;
}

static void teardown(struct generation *g)
{
    generation_unref(g);
    fake_rt_free(&F);
    log_shutdown();
}

static void submit_all(struct executor *ex, struct generation *g)
{
    struct run_request reqs[64];
    for (size_t i = 0; i < g->n_jobs; i++)
        reqs[i] = (struct run_request){.job = &g->jobs[i],
                                       .opts = {.trigger = RUN_MANUAL}};
    generation_ref(g);
    executor_submit_many(ex, reqs, g->n_jobs);
    generation_unref(g);
}

static bool wait_int(atomic_int *v, int n, int64_t timeout_ns)
{
    int64_t until = mono_ns() + timeout_ns;
    while (atomic_load(v) < n && mono_ns() < until)
        sleep_ms(2);
    return atomic_load(v) >= n;
}

static bool wait_finished(int n, int64_t timeout_ns)
{
    int64_t until = mono_ns() + timeout_ns;
    while (atomic_load(&n_finished) < n && mono_ns() < until)
        sleep_ms(2);
    return atomic_load(&n_finished) >= n;
}

/* --- tests --------------------------------------------------------------------------- */

/* Two workers, one run that hangs and nine quick ones due together: every
 * quick one runs while the first still hangs, none is skipped. */
static void test_slow_run_does_not_hold_back_quick_ones(void)
{
    const char *ids[] = {"hang", "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"};
    struct generation *g = setup(ids, 10);
    struct executor_opts eo = {.workers = 2};
    struct executor *ex = executor_new(&eo);

    submit_all(ex, g);
    CU_ASSERT_TRUE(wait_finished(9, 10 * NS_PER_SEC));
    CU_ASSERT_EQUAL(atomic_load(&hanging), 1); /* all nine ran beside it */
    int missing = 0;
    for (int i = 0; i < 9; i++)
        missing += atomic_load(&started_at[i]) == 0;
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(atomic_load(&n_skipped), 0);
    atomic_store(&release, true);
    CU_ASSERT_TRUE(wait_finished(10, 10 * NS_PER_SEC));
    CU_ASSERT_EQUAL(executor_stop(ex, mono_ns() + NS_PER_SEC, NS_PER_SEC), 0);
    executor_free(ex);
    teardown(g);
}

/* Many quick runs through several workers: all run, in the counts made. */
static void test_burst_all_run(void)
{
    const char *ids[] = {"a", "b", "c", "d"};
    struct generation *g = setup(ids, 4);
    struct executor_opts eo = {.workers = 3};
    struct executor *ex = executor_new(&eo);
    struct run_request reqs[4];

    for (size_t i = 0; i < 4; i++) {
        g->manifest->jobs[i].max_instances = 100000;
        reqs[i] = (struct run_request){.job = &g->jobs[i], .opts = {.trigger = RUN_MANUAL}};
    }
    generation_ref(g);
    for (int round = 0; round < 2500; round++)
        executor_submit_many(ex, reqs, 4);
    generation_unref(g);
    CU_ASSERT_TRUE(wait_finished(10000, 20 * NS_PER_SEC));
    CU_ASSERT_EQUAL(atomic_load(&n_finished), 10000);
    CU_ASSERT_EQUAL(executor_stop(ex, mono_ns() + NS_PER_SEC, NS_PER_SEC), 0);
    executor_free(ex);
    teardown(g);
}

/* A run that ignores its timeout is written off at timeout + grace and its
 * worker replaced: the only other worker-free job still runs meanwhile. */
static void test_stuck_run_written_off(void)
{
    const char *ids[] = {"hang", "q0"};
    struct generation *g = setup(ids, 2);
    struct executor_opts eo = {.workers = 1, .stuck_grace_ns = 100 * MS, .max_stuck_workers = 2};
    struct executor *ex = executor_new(&eo);
    struct executor_stats st;
    struct run_opts ro = {.trigger = RUN_MANUAL};

    g->manifest->jobs[0].timeout_ns = 100 * MS;
    CU_ASSERT_EQUAL(executor_submit(ex, &g->jobs[0], &ro), 0);
    int64_t t0 = mono_ns();
    CU_ASSERT_TRUE(wait_finished(1, 3 * NS_PER_SEC));
    int64_t took = mono_ns() - t0;
    CU_ASSERT_EQUAL(atomic_load(&n_stuck_reports), 1);
    CU_ASSERT_TRUE(took >= 190 * MS); /* not before its timeout + grace */
    CU_ASSERT_EQUAL(atomic_load(&g->jobs[0].state->stuck), 1);
    CU_ASSERT_EQUAL(atomic_load(&g->jobs[0].state->instances), 0); /* it may fire again */
    CU_ASSERT_EQUAL(atomic_load(&n_held_at_finish), 0);             /* already when reported */
    executor_stats(ex, &st);
    CU_ASSERT_EQUAL(st.stuck, 1);
    CU_ASSERT_EQUAL(st.workers, 1);

    /* the replacement worker runs the next job */
    CU_ASSERT_EQUAL(executor_submit(ex, &g->jobs[1], &ro), 0);
    CU_ASSERT_TRUE(wait_finished(2, 3 * NS_PER_SEC));
    CU_ASSERT_NOT_EQUAL(atomic_load(&started_at[0]), 0);

    /* the plugin returns at last: nothing more is reported */
    atomic_store(&release, true);
    int64_t until = mono_ns() + 2 * NS_PER_SEC;
    while (atomic_load(&g->jobs[0].state->stuck) != 0 && mono_ns() < until)
        sleep_ms(5);
    CU_ASSERT_EQUAL(atomic_load(&g->jobs[0].state->stuck), 0);
    CU_ASSERT_EQUAL(atomic_load(&n_finished), 2);
    executor_stats(ex, &st);
    CU_ASSERT_EQUAL(st.stuck, 0);
    CU_ASSERT_EQUAL(executor_stop(ex, mono_ns() + NS_PER_SEC, NS_PER_SEC), 0);
    executor_free(ex);
    teardown(g);
}

/* A run's instance is given back before its finish is reported: an API
 * client that sees the job finished can run it again at once. */
static void test_finish_reported_after_instance_given_back(void)
{
    const char *ids[] = {"a", "b", "c", "d"};
    struct generation *g = setup(ids, 4);
    struct executor_opts eo = {.workers = 2, .stuck_grace_ns = 0, .max_stuck_workers = 0};
    struct executor *ex = executor_new(&eo);

    atomic_store(&release, true);
    for (int round = 0; round < 5; round++) {
        submit_all(ex, g);
        CU_ASSERT_TRUE(wait_finished(4 * (round + 1), 3 * NS_PER_SEC));
    }
    CU_ASSERT_EQUAL(atomic_load(&n_held_at_finish), 0);
    CU_ASSERT_EQUAL(executor_stop(ex, mono_ns() + NS_PER_SEC, NS_PER_SEC), 0);
    executor_free(ex);
    teardown(g);
}

/* Resizing: more workers run more hanging runs at once; fewer again after. */
static void test_resize(void)
{
    const char *ids[] = {"h1", "h2", "h3", "h4"};
    struct generation *g = setup(ids, 4);
    struct executor_opts eo = {.workers = 1};
    struct executor *ex = executor_new(&eo);
    struct executor_stats st;

    executor_resize(ex, 4);
    executor_stats(ex, &st);
    CU_ASSERT_EQUAL(st.workers, 4);
    submit_all(ex, g);
    /* four runs side by side, not one after another */
    CU_ASSERT_TRUE(wait_int(&hanging, 4, 10 * NS_PER_SEC));
    atomic_store(&release, true);
    CU_ASSERT_TRUE(wait_finished(4, 10 * NS_PER_SEC));
    executor_resize(ex, 2);
    executor_stats(ex, &st);
    CU_ASSERT_EQUAL(st.workers, 2);
    CU_ASSERT_EQUAL(executor_stop(ex, mono_ns() + NS_PER_SEC, NS_PER_SEC), 0);
    executor_free(ex);
    teardown(g);
}

/* At stop, a run that ignores cancellation is named and counted. */
static void test_stop_names_abandoned_runs(void)
{
    const char *ids[] = {"hang"};
    struct generation *g = setup(ids, 1);
    struct executor_opts eo = {.workers = 1};
    struct executor *ex = executor_new(&eo);
    struct run_opts ro = {.trigger = RUN_MANUAL};

    CU_ASSERT_EQUAL(executor_submit(ex, &g->jobs[0], &ro), 0);
    sleep_ms(50);
    CU_ASSERT_EQUAL(executor_stop(ex, mono_ns() + 50 * MS, 50 * MS), 1);
    /* let it go so that the pool can be freed and nothing leaks */
    atomic_store(&release, true);
    CU_ASSERT_TRUE(wait_finished(1, 2 * NS_PER_SEC));
    sleep_ms(20);
    executor_free(ex);
    teardown(g);
}

/* A cluster's claims, held until `claims_go`: every firing won, its token
 * its index + 1; the tokens given back are counted. */
static atomic_bool claims_go;
static atomic_int in_claims, n_returned;

static enum executor_claim claim_one(void *arg, struct job *job, struct run_opts *opts,
                                     uint64_t *token)
{
    (void)arg, (void)job, (void)opts;
    *token = 1;
    return CLAIM_WON;
}

static void claim_held(void *arg, struct job *const *jobs, struct run_opts *const *opts, size_t n,
                       enum executor_claim *results, uint64_t *tokens)
{
    (void)arg, (void)jobs, (void)opts;
    atomic_store(&in_claims, 1);
    while (!atomic_load(&claims_go))
        sleep_ms(2);
    for (size_t i = 0; i < n; i++) {
        results[i] = CLAIM_WON;
        tokens[i] = i + 1;
    }
}

static void claim_return(void *arg, struct job *job, uint64_t token)
{
    (void)arg, (void)job;
    if (token >= 1 && token <= 4)
        atomic_fetch_add(&n_returned, 1);
}

struct stopper {
    struct executor *ex;
    atomic_bool done;
};

static void *stop_main(void *arg)
{
    struct stopper *st = arg;
    executor_stop(st->ex, mono_ns() + 5 * NS_PER_SEC, NS_PER_SEC);
    atomic_store(&st->done, true);
    return NULL;
}

/* A stop that comes while a batch's claims are in flight waits for them;
 * the firings then never start, and each claim won is given back. */
static void test_stop_during_claims_gives_them_back(void)
{
    const char *ids[] = {"a0", "a1", "a2", "a3"};
    struct generation *g = setup(ids, 4);
    struct executor_opts eo = {.workers = 1, .claim = claim_one, .claim_many = claim_held,
                               .claim_return = claim_return};
    struct executor *ex = executor_new(&eo);
    struct run_request reqs[4];
    struct stopper st = {.ex = ex};
    pthread_t t;

    atomic_store(&claims_go, false);
    atomic_store(&in_claims, 0);
    atomic_store(&n_returned, 0);
    for (size_t i = 0; i < 4; i++)
        reqs[i] = (struct run_request){.job = &g->jobs[i],
                                       .opts = {.trigger = RUN_SCHEDULED,
                                                .scheduled_wall_ns = wall_ns()}};
    generation_ref(g);
    CU_ASSERT_EQUAL(executor_submit_many(ex, reqs, 4), 4);
    generation_unref(g);
    CU_ASSERT_TRUE(wait_int(&in_claims, 1, 2 * NS_PER_SEC));
    CU_ASSERT_EQUAL(pthread_create(&t, NULL, stop_main, &st), 0);
    sleep_ms(100);
    CU_ASSERT_FALSE(atomic_load(&st.done)); /* it waits for the claims */
    atomic_store(&claims_go, true);
    pthread_join(t, NULL);
    CU_ASSERT_TRUE(atomic_load(&st.done));
    sleep_ms(50); /* a run started behind the stop's back would finish by now */
    CU_ASSERT_EQUAL(atomic_load(&n_finished), 0);
    CU_ASSERT_EQUAL(atomic_load(&n_skipped), 4);
    CU_ASSERT_EQUAL(atomic_load(&n_returned), 4);
    executor_free(ex);
    teardown(g);
}

static const struct cu_test tests[] = {
    {"a slow run does not hold back quick ones", test_slow_run_does_not_hold_back_quick_ones},
    {"10,000 runs through 3 workers all run", test_burst_all_run},
    {"a stuck run is written off and its worker replaced", test_stuck_run_written_off},
    {"a finish is reported after the instance is given back",
     test_finish_reported_after_instance_given_back},
    {"the pool grows and shrinks", test_resize},
    {"stop names abandoned runs", test_stop_names_abandoned_runs},
    {"a stop during claims gives them back", test_stop_during_claims_gives_them_back},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"executor", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
