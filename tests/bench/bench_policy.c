/*
 * bench_policy — what the job policies' observers (retry, chain, notify)
 * add to a run: each is called for a run's start and finish, as the
 * outcome pipeline calls it, on jobs without the policy (every job that
 * did not ask pays this), with a retry policy and a run that succeeded,
 * and a child after the job. Prints ns per run; figures, never pass/fail.
 *
 *   bench_policy PLUGIN_DIR [RUNS]
 *
 * Built from the release objects as tests/bench/run.sh builds the others:
 *   cc -std=gnu11 -O2 -pthread -D_GNU_SOURCE -Isdk/include -Ihost \
 *      -o build/bench/bench_policy tests/bench/bench_policy.c \
 *      build/release/host/{lib,core,io}/*.o ... (the daemon's libraries)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chain.h"
#include "core/clock.h"
#include "core/generation.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/outcome_notify.h"
#include "core/retry.h"
#include "core/run.h"
#include "core/scheduler.h"

static void drop_msg(void *arg, struct notify_msg *m)
{
    (void)arg;
    notify_msg_free(m);
}

static int submit_none(void *arg, struct job *job, const struct run_opts *opts)
{
    (void)arg;
    (void)job;
    (void)opts;
    return 0;
}

static double per_run(const struct outcome_observer *obs, void *arg, struct run *run, long n)
{
    int64_t t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        if (obs->started)
            obs->started(arg, run);
        if (obs->finished)
            obs->finished(arg, run);
    }
    return (double)(mono_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/plugins";
    long n = argc > 2 ? atol(argv[2]) : 2000000;
    struct buf text = {0};
    struct errors errs = {0};
    struct manifest *m = NULL;
    struct generation *g = NULL;
    struct runtime rt;
    struct log_config lc = {.level = JH_LOG_ERROR};

    log_setup(&lc);
    buf_printf(&text,
               "host: {plugin_dir: %s, http: {enabled: false}, store: {enabled: false}}\n"
               "jobs:\n"
               "  - {id: plain, plugin: ok}\n"
               "  - {id: retried, plugin: ok, retry: {limit: 2}}\n"
               "  - {id: parent, plugin: ok}\n"
               "  - {id: child, plugin: ok, trigger: {after: parent, on: failure}}\n",
               dir);
    runtime_init(&rt, NULL, NULL);
    if (manifest_parse("bench.yaml", "/tmp", text.data, text.len, &m, &errs) < 0 ||
        generation_build(&rt, m, NULL, &g, &errs) < 0) {
        fprintf(stderr, "%s", errs.text.data ? errs.text.data : "build failed\n");
        return 1;
    }
    struct scheduler_opts so = {.submit = submit_none};
    struct scheduler *s = scheduler_new(&so);
    struct chain *c = chain_new(s);
    struct notify_sink sink = {.send = drop_msg};
    struct outcome_notify *nt = outcome_notify_new(&sink, &rt);
    const char *names[] = {"plain", "retried", "parent"};

    printf("runs=%ld (start + finish each)\n", n);
    for (size_t i = 0; i < 3; i++) {
        struct run run = {0};
        run.job = &g->jobs[i];
        run.result = RUN_SUCCESS;
        run.attempt = 1;
        run.id = run_new_id();
        run_id_format(run.id, run.id_text);
        printf("job=%s retry_ns_per_run=%.2f chain_ns_per_run=%.2f notify_ns_per_run=%.2f\n",
               names[i], per_run(&outcome_retry, s, &run, n), per_run(&outcome_chain, c, &run, n),
               per_run(&outcome_notify, nt, &run, n));
    }
    outcome_notify_free(nt);
    chain_free(c);
    scheduler_free(s);
    generation_unref(g);
    log_shutdown();
    buf_free(&text);
    errors_free(&errs);
    return 0;
}
