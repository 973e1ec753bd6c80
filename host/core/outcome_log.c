/*
 * outcome_log — outcomes as log records. See outcome_log.h.
 *
 * Cost matters: this runs on every run, so each record is level-checked
 * before anything is formatted (a job may be quieter than the host,
 * never louder).
 */
#include "core/outcome_log.h"

#include "core/generation.h"
#include "core/log.h"
#include "core/run.h"
#include "lib/trigger.h"
#include "lib/units.h"

static void run_log_ctx(const struct run *run, struct log_ctx *lc)
{
    const struct job *job = run->job;
    lc->job = job->spec->id;
    lc->run_id = run->id_text;
    lc->plugin = job->plugin->desc_name;
    lc->level = job->spec->log_level >= 0 ? job->spec->log_level : JH_LOG_DEBUG;
}

static bool wanted(const struct log_ctx *lc, int level)
{
    return log_enabled(level) && level >= lc->level;
}

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    struct log_ctx lc = {.job = job->spec->id, .plugin = job->spec->plugin,
                         .level = job->spec->log_level};
    char scheduled[RFC3339_BUFLEN] = "";

    (void)arg;
    if (!wanted(&lc, JH_LOG_WARN))
        return;
    if (skip->scheduled_wall_ns > 0)
        rfc3339_format(skip->scheduled_wall_ns, NULL, true, scheduled, sizeof(scheduled));
    jlog_ctx(&lc, JH_LOG_WARN, "job_skipped", "reason=%s scheduled=%s count=%llu",
             skip_reason_name(skip->reason), scheduled, (unsigned long long)skip->count);
}

static void on_concurrency(void *arg, struct job *job, enum concurrency_action a,
                           int64_t scheduled_wall_ns)
{
    struct log_ctx lc = {.job = job->spec->id, .plugin = job->spec->plugin,
                         .level = job->spec->log_level};
    char scheduled[RFC3339_BUFLEN] = "";

    (void)arg;
    if (!wanted(&lc, JH_LOG_INFO))
        return;
    if (scheduled_wall_ns > 0)
        rfc3339_format(scheduled_wall_ns, NULL, true, scheduled, sizeof(scheduled));
    jlog_ctx(&lc, JH_LOG_INFO, a == CONCURRENCY_REPLACED ? "job_replaced" : "job_queued",
             "scheduled=%s concurrency=%s", scheduled, concurrency_name(job->spec->concurrency));
}

static void on_started(void *arg, const struct run *run)
{
    struct log_ctx lc;
    char scheduled[RFC3339_BUFLEN] = "";

    (void)arg;
    run_log_ctx(run, &lc);
    if (!wanted(&lc, JH_LOG_INFO))
        return;
    if (run->scheduled_wall_ns)
        rfc3339_format(run->scheduled_wall_ns, NULL, true, scheduled, sizeof(scheduled));
    if (run->parent_run_id) {
        char parent[RUN_ID_LEN];
        run_id_format(run->parent_run_id, parent);
        jlog_ctx(&lc, JH_LOG_INFO, "job_started",
                 "trigger=%s attempt=%u scheduled=%s plugin_version=%s dry_run=%s "
                 "parent_run_id=%s",
                 run_trigger_name(run->trigger), run->attempt, scheduled,
                 run->job->plugin->version, run->dry_run ? "true" : "false", parent);
        return;
    }
    jlog_ctx(&lc, JH_LOG_INFO, "job_started",
             "trigger=%s attempt=%u scheduled=%s plugin_version=%s dry_run=%s",
             run_trigger_name(run->trigger), run->attempt, scheduled, run->job->plugin->version,
             run->dry_run ? "true" : "false");
}

void outcome_log_plugin_record(const struct log_ctx *lc, const struct outcome_record *rec)
{
    const char *kv[2 * (RECORD_MAX_PAIRS + 2)];
    char num[RECORD_MAX_PAIRS][RECORD_TEXT_MAX];
    size_t n = 0;

    if (!wanted(lc, rec->level))
        return;
    kv[n++] = "src";
    kv[n++] = "plugin";
    for (size_t i = 0; i < rec->n_pairs && i < RECORD_MAX_PAIRS; i++) {
        kv[n++] = rec->pairs[i].key;
        kv[n++] = record_value_text(&rec->pairs[i], num[i]);
    }
    if (rec->truncated) {
        kv[n++] = "truncated";
        kv[n++] = "true";
    }
    jlog_pairs(lc, rec->level, rec->event, kv, n / 2);
}

static void on_record(void *arg, const struct run *run, const struct outcome_record *rec)
{
    struct log_ctx lc;

    (void)arg;
    run_log_ctx(run, &lc);
    outcome_log_plugin_record(&lc, rec);
}

static void on_finished(void *arg, const struct run *run)
{
    struct log_ctx lc;
    double ms = (double)run->duration_ns / 1e6;

    (void)arg;
    run_log_ctx(run, &lc);
    if (run->result == RUN_SUCCESS || run->result == RUN_DRY_RUN ||
        run->result == RUN_CANCELLED) {
        if (!wanted(&lc, JH_LOG_INFO))
            return;
        if (run->error[0])
            jlog_ctx(&lc, JH_LOG_INFO, "job_finished", "result=%s duration_ms=%.3f error=%s",
                     run_result_name(run->result), ms, run->error);
        else
            jlog_ctx(&lc, JH_LOG_INFO, "job_finished", "result=%s duration_ms=%.3f",
                     run_result_name(run->result), ms);
    } else if (wanted(&lc, JH_LOG_WARN)) {
        /* a stuck run is finished for the schedule, not for its plugin */
        jlog_ctx(&lc, JH_LOG_WARN, run->stuck ? "job_stuck" : "job_finished",
                 "result=%s duration_ms=%.3f error=%s", run_result_name(run->result), ms,
                 run->error);
    }
}

const struct outcome_observer outcome_log = {
    .name = "log",
    .skipped = on_skipped,
    .started = on_started,
    .record = on_record,
    .finished = on_finished,
    .concurrency = on_concurrency,
};
