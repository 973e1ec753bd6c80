/*
 * outcome_store — outcomes into run history. See outcome_store.h.
 */
#include "core/outcome_store.h"

#include "core/generation.h"
#include "core/history.h"
#include "core/log.h"
#include "core/run.h"

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    history_skipped(arg, job, skip);
}

static void on_started(void *arg, const struct run *run)
{
    history_started(arg, run);
}

static void on_record(void *arg, const struct run *run, const struct outcome_record *rec)
{
    int level = run->job->spec->log_level;

    /* what the log shows of the run is what its history keeps */
    if (log_enabled(rec->level) && rec->level >= level)
        history_record(arg, run, rec);
}

static void on_finished(void *arg, const struct run *run)
{
    history_finished(arg, run);
}

const struct outcome_observer outcome_store = {
    .name = "store",
    .skipped = on_skipped,
    .started = on_started,
    .record = on_record,
    .finished = on_finished,
};
