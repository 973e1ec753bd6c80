/*
 * retry — failed runs planned again. See retry.h.
 */
#include "core/retry.h"

#include "core/clock.h"
#include "core/generation.h"
#include "core/log.h"
#include "core/run.h"
#include "core/scheduler.h"
#include "lib/backoff.h"
#include "lib/units.h"

int64_t retry_delay(const struct manifest_retry *p, unsigned attempt, uint64_t run_id)
{
    const struct backoff b = {.delay_ns = p->delay_ns, .factor = p->backoff,
                              .max_ns = p->max_delay_ns, .jitter_ns = p->jitter_ns};
    return backoff_delay(&b, attempt, run_id);
}

static void on_finished(void *arg, const struct run *run)
{
    struct scheduler *sched = arg;
    const struct manifest_job *spec = run->job->spec;
    const struct manifest_retry *p = spec->retry;
    struct log_ctx lc = {.job = spec->id, .run_id = run->id_text, .plugin = spec->plugin,
                         .level = spec->log_level};
    int64_t delay, due;

    if (!p || run->dry_run || !retry_result_retried(run->result))
        return; /* the common case: one test and out */
    if (run->attempt > p->limit) {
        jlog_ctx(&lc, JH_LOG_WARN, "retries_exhausted", "attempt=%u limit=%u result=%s",
                 run->attempt, p->limit, run_result_name(run->result));
        return;
    }
    delay = retry_delay(p, run->attempt, run->id);
    due = wall_ns() + delay;
    jlog_ctx(&lc, JH_LOG_INFO, "retry_planned", "attempt=%u next_attempt=%u delay_ms=%.3f",
             run->attempt, run->attempt + 1, (double)delay / NS_PER_MS);
    scheduler_retry(sched, spec->id, run->attempt + 1, run->scheduled_wall_ns, due);
}

const struct outcome_observer outcome_retry = {
    .name = "retry",
    .finished = on_finished,
};
