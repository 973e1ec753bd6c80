/*
 * outcome_log — outcomes as log records. See outcome_log.h.
 *
 * Cost matters: this runs on every run, so each record is level-checked
 * before anything is done (a job may be quieter than the host, never
 * louder), and what passes is captured, not formatted (jlog_fields): the
 * names of the job, plugin and version are copied, numbers stay numbers,
 * the result and trigger names are pointers to static strings, and the
 * writer thread writes the line. A run's two records carry the run's own
 * start and end instants, so they read no clock.
 */
#include "core/outcome_log.h"

#include "core/generation.h"
#include "core/log.h"
#include "core/run.h"

static void run_log(const struct run *run, struct log_run *lr)
{
    const struct job *job = run->job;
    lr->job = job->spec->id;
    lr->run_id = run->id;
    lr->plugin = job->plugin->desc->name;
    lr->level = job->spec->log_level >= 0 ? job->spec->log_level : JH_LOG_DEBUG;
}

static bool wanted(const struct log_run *lr, int level)
{
    return log_enabled(level) && level >= lr->level;
}

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    const struct log_run lr = {.job = job->spec->id, .plugin = job->spec->plugin,
                               .level = job->spec->log_level};

    (void)arg;
    if (!wanted(&lr, JH_LOG_WARN))
        return;
    const struct log_field f[] = {
        {"reason", LOG_STR, {.s = skip_reason_name(skip->reason)}},
        {"scheduled", LOG_TIME, {.i = skip->scheduled_wall_ns > 0 ? skip->scheduled_wall_ns : 0}},
        {"count", LOG_UINT, {.u = skip->count}},
    };
    jlog_fields(&lr, JH_LOG_WARN, "job_skipped", 0, f, 3);
}

static void on_started(void *arg, const struct run *run)
{
    struct log_run lr;

    (void)arg;
    run_log(run, &lr);
    if (!wanted(&lr, JH_LOG_INFO))
        return;
    const struct log_field f[] = {
        {"trigger", LOG_STR, {.s = run_trigger_name(run->trigger)}},
        {"scheduled", LOG_TIME, {.i = run->scheduled_wall_ns}},
        {"plugin_version", LOG_COPY, {.s = run->job->plugin->desc->version}},
        {"dry_run", LOG_BOOL, {.i = run->dry_run}},
    };
    jlog_fields(&lr, JH_LOG_INFO, "job_started", run->start_wall_ns, f, 4);
}

static void on_record(void *arg, const struct run *run, const struct outcome_record *rec)
{
    struct log_run lr;

    (void)arg;
    run_log(run, &lr);
    if (wanted(&lr, rec->level))
        jlog_run_pairs(&lr, rec->level, rec->event, rec->kv, rec->n_pairs);
}

static void on_finished(void *arg, const struct run *run)
{
    struct log_run lr;
    const struct log_field f[] = {
        {"result", LOG_STR, {.s = run_result_name(run->result)}},
        {"duration_ms", LOG_MS, {.i = run->duration_ns}},
        {"error", LOG_COPY, {.s = run->error}},
    };
    int64_t end = run->start_wall_ns + run->duration_ns;

    (void)arg;
    run_log(run, &lr);
    if (run->result == RUN_SUCCESS || run->result == RUN_DRY_RUN ||
        run->result == RUN_CANCELLED) {
        if (wanted(&lr, JH_LOG_INFO))
            jlog_fields(&lr, JH_LOG_INFO, "job_finished", end, f, run->error[0] ? 3 : 2);
    } else if (wanted(&lr, JH_LOG_WARN)) {
        /* a stuck run is finished for the schedule, not for its plugin */
        jlog_fields(&lr, JH_LOG_WARN, run->stuck ? "job_stuck" : "job_finished", end, f, 3);
    }
}

const struct outcome_observer outcome_log = {
    .name = "log",
    .skipped = on_skipped,
    .started = on_started,
    .record = on_record,
    .finished = on_finished,
};
