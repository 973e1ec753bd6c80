/*
 * retry — the observer that carries out each job's retry policy
 * (`retry:` in the manifest): when a run ends failed, timed out or crashed
 * and its attempt is within the policy's limit, it plans the next attempt
 * in the scheduler (scheduler_retry), after the backoff delay
 * (lib/backoff.h). Cancelled runs, dry runs and interrupted runs are never
 * retried; neither are runs of `jobhost run-once`, which registers no such
 * observer. Each decision is a record: retry_planned, or retries_exhausted
 * when the last attempt failed.
 *
 * Register it after the history store, with the scheduler as argument:
 *     outcome_register(&outcome_retry, scheduler);
 * Its callback runs on the worker that reports the finish and only takes
 * the scheduler's inbox lock (a leaf).
 */
#ifndef JH_RETRY_H
#define JH_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/manifest.h"
#include "core/outcome.h"

extern const struct outcome_observer outcome_retry;

/* Whether a run that ended with `r` is retried (failure, timeout, crashed). */
static inline bool retry_result_retried(enum run_result r)
{
    return r == RUN_FAILURE || r == RUN_TIMEOUT || r == RUN_CRASHED;
}

/* The wait after failed attempt `attempt` (>= 1) of the run `run_id`
 * (which seeds the jitter). */
int64_t retry_delay(const struct manifest_retry *p, unsigned attempt, uint64_t run_id);

#endif /* JH_RETRY_H */
