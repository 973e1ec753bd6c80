/*
 * outcome_state — outcomes into the job state. See outcome_state.h.
 */
#include "core/outcome_state.h"

#include <stdatomic.h>

#include "core/generation.h"
#include "core/run.h"

static void on_planned(void *arg, struct job *job, int64_t next_wall_ns)
{
    (void)arg;
    atomic_store_explicit(&job->state->next_run_wall_ns, next_wall_ns > 0 ? next_wall_ns : 0,
                          memory_order_relaxed);
}

static void on_started(void *arg, const struct run *run)
{
    (void)arg;
    atomic_fetch_add_explicit(&run->job->state->running, 1, memory_order_relaxed);
}

static void on_finished(void *arg, const struct run *run)
{
    (void)arg;
    atomic_fetch_sub_explicit(&run->job->state->running, 1, memory_order_relaxed);
}

const struct outcome_observer outcome_state = {
    .name = "state",
    .planned = on_planned,
    .started = on_started,
    .finished = on_finished,
};
