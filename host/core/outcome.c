/*
 * outcome — the observer list and the reports. See outcome.h.
 *
 * The list is written by outcome_register on the main thread before any
 * reporting thread starts, then only read, so reports take no lock: a
 * report is a loop over at most OUTCOME_MAX_OBSERVERS function pointers.
 */
#include "core/outcome.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/mainloop.h"
#include "lib/util.h"

struct slot {
    const struct outcome_observer *obs;
    void *arg;
};

/* Main thread before the reporting threads start (see outcome.h); read-only
 * afterwards. */
static struct slot observers[OUTCOME_MAX_OBSERVERS];
static size_t n_observers;

const char *run_result_name(enum run_result r)
{
    static const char *const names[RUN_RESULT_COUNT] = {
        [RUN_SUCCESS] = "success", [RUN_FAILURE] = "failure", [RUN_TIMEOUT] = "timeout",
        [RUN_CRASHED] = "crashed", [RUN_CANCELLED] = "cancelled", [RUN_DRY_RUN] = "dry_run",
        [RUN_INTERRUPTED] = "interrupted",
    };
    return (unsigned)r < RUN_RESULT_COUNT ? names[r] : "unknown";
}

const char *skip_reason_name(enum skip_reason r)
{
    static const char *const names[SKIP_REASON_COUNT] = {
        [SKIP_MAX_INSTANCES] = "max_instances", [SKIP_MISFIRE] = "misfire",
        [SKIP_COALESCED] = "coalesced",         [SKIP_PAUSED] = "paused",
        [SKIP_SHUTDOWN] = "shutdown",           [SKIP_DOWNTIME] = "downtime",
        [SKIP_QUEUED] = "queued",
        [SKIP_STORE_UNAVAILABLE] = "store_unavailable",
    };
    return (unsigned)r < SKIP_REASON_COUNT ? names[r] : "unknown";
}

const char *run_trigger_name(enum run_trigger t)
{
    static const char *const names[RUN_TRIGGER_COUNT] = {
        [RUN_SCHEDULED] = "schedule", [RUN_MANUAL] = "manual", [RUN_CLI] = "cli",
        [RUN_CATCH_UP] = "catch_up", [RUN_RETRY] = "retry",
        [RUN_AFTER] = "after", [RUN_AT_START] = "at_start",
        [RUN_RECOVER] = "recover",
    };
    return (unsigned)t < RUN_TRIGGER_COUNT ? names[t] : "unknown";
}

const char *concurrency_action_name(enum concurrency_action a)
{
    static const char *const names[CONCURRENCY_ACTION_COUNT] = {
        [CONCURRENCY_QUEUED] = "queued", [CONCURRENCY_REPLACED] = "replaced"};
    return (unsigned)a < CONCURRENCY_ACTION_COUNT ? names[a] : "unknown";
}

void outcome_register(const struct outcome_observer *obs, void *arg)
{
    MAIN_THREAD_ONLY();
    if (n_observers == OUTCOME_MAX_OBSERVERS) {
        fprintf(stderr, "jobhost: more than %d outcome observers\n", OUTCOME_MAX_OBSERVERS);
        abort();
    }
    observers[n_observers].obs = obs;
    observers[n_observers].arg = arg;
    n_observers++;
}

void outcome_reset(void)
{
    MAIN_THREAD_ONLY();
    n_observers = 0;
}

void outcome_planned(struct job *job, int64_t next_wall_ns)
{
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i].obs->planned)
            observers[i].obs->planned(observers[i].arg, job, next_wall_ns);
}

void outcome_skipped(struct job *job, enum skip_reason why, int64_t scheduled_wall_ns,
                     uint64_t count)
{
    const struct outcome_skip skip = {.reason = why, .scheduled_wall_ns = scheduled_wall_ns,
                                      .count = count ? count : 1};
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i].obs->skipped)
            observers[i].obs->skipped(observers[i].arg, job, &skip);
}

void outcome_started(const struct run *run)
{
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i].obs->started)
            observers[i].obs->started(observers[i].arg, run);
}

void outcome_record(const struct run *run, const struct outcome_record *rec)
{
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i].obs->record)
            observers[i].obs->record(observers[i].arg, run, rec);
}

void outcome_finished(const struct run *run)
{
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i].obs->finished)
            observers[i].obs->finished(observers[i].arg, run);
}

void outcome_concurrency(struct job *job, enum concurrency_action a, int64_t scheduled_wall_ns)
{
    for (size_t i = 0; i < n_observers; i++)
        if (observers[i].obs->concurrency)
            observers[i].obs->concurrency(observers[i].arg, job, a, scheduled_wall_ns);
}
