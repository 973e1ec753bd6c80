/*
 * outcome_metrics — outcomes into per-job metrics. See outcome_metrics.h.
 *
 * A job's metrics block is made by its first run or skip
 * (jobstate_metrics), so the many jobs that never ran cost nothing.
 */
#include "core/outcome_metrics.h"

#include "core/generation.h"
#include "core/metrics.h"
#include "core/run.h"

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    struct runtime *rt = arg;
    struct job_metrics *jm = jobstate_metrics(&rt->states, job->state);

    if (jm)
        metrics_skipped(jm, skip->reason, skip->count);
}

static void on_started(void *arg, const struct run *run)
{
    struct runtime *rt = arg;
    struct job_metrics *jm = jobstate_metrics(&rt->states, run->job->state);
    /* Only its schedule makes a run late: a catch-up run's scheduled time
     * is a firing missed while the daemon was down, by design long past. */
    int64_t delay = run->trigger == RUN_SCHEDULED && run->scheduled_wall_ns
                        ? run->start_wall_ns - run->scheduled_wall_ns
                        : 0;

    if (!jm)
        return;
    metrics_run_started(rt->metrics, jm, run->start_wall_ns, delay);
    if (run->trigger == RUN_RETRY)
        metrics_retried(jm);
}

static void on_finished(void *arg, const struct run *run)
{
    struct runtime *rt = arg;
    struct job_metrics *jm = jobstate_metrics(&rt->states, run->job->state);

    if (jm)
        metrics_run_finished(rt->metrics, jm, run);
}

static void on_concurrency(void *arg, struct job *job, enum concurrency_action a,
                           int64_t scheduled_wall_ns)
{
    struct runtime *rt = arg;
    struct job_metrics *jm = jobstate_metrics(&rt->states, job->state);

    (void)scheduled_wall_ns;
    if (jm)
        metrics_concurrency(jm, a);
}

const struct outcome_observer outcome_metrics = {
    .concurrency = on_concurrency,
    .name = "metrics",
    .skipped = on_skipped,
    .started = on_started,
    .finished = on_finished,
};
