/*
 * run — the instrumented wrapper. See run.h.
 *
 * Cost matters here: this is on the path of every run, so the records are
 * level-checked before anything is formatted, the clock is read twice per
 * run, and the metrics calls are lock-free.
 */
#include "core/run.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/isolate.h"
#include "core/log.h"
#include "core/metrics.h"
#include "lib/trigger.h"
#include "lib/units.h"
#include "lib/util.h"

const char *run_result_name(enum run_result r)
{
    static const char *const names[] = {"success", "failure", "timeout", "crashed", "dry_run"};
    return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "unknown";
}

const char *run_trigger_name(enum run_trigger t)
{
    static const char *const names[] = {"schedule", "manual", "cli"};
    return (unsigned)t < ARRAY_SIZE(names) ? names[t] : "unknown";
}

static enum metrics_result to_metrics_result(enum run_result r)
{
    switch (r) {
    case RUN_SUCCESS:
        return METRICS_SUCCESS;
    case RUN_FAILURE:
        return METRICS_FAILURE;
    case RUN_TIMEOUT:
        return METRICS_TIMEOUT;
    case RUN_CRASHED:
        return METRICS_CRASHED;
    default:
        return METRICS_DRY_RUN;
    }
}

void run_job(struct job *job, const struct run_opts *opts, struct run_outcome *out)
{
    const struct manifest_job *spec = job->spec;
    struct run_ctx rc;
    int64_t start_mono, start_wall, end_mono, deadline = 0;
    int ret = JH_FAIL;
    bool crashed = false;
    enum run_result result;

    start_mono = mono_ns();
    start_wall = wall_from_mono(start_mono);
    if (spec->timeout_ns > 0)
        deadline = start_mono + spec->timeout_ns;
    hostapi_run_ctx(&rc, spec, job->plugin->desc->name, opts->dry_run, deadline);
    if (opts->run_id[0])
        memcpy(rc.run_id, opts->run_id, sizeof(rc.run_id));
    rc.drain_deadline = &job->plugin->drain_deadline_mono;

    atomic_fetch_add_explicit(&job->state->running, 1, memory_order_relaxed);
    if (job->metrics)
        metrics_run_started(job->metrics, start_wall,
                            opts->scheduled_wall_ns ? start_wall - opts->scheduled_wall_ns : 0);
    if (log_enabled(JH_LOG_INFO) && rc.log.level <= JH_LOG_INFO) {
        char scheduled[RFC3339_BUFLEN] = "";
        if (opts->scheduled_wall_ns)
            rfc3339_format(opts->scheduled_wall_ns, NULL, true, scheduled, sizeof(scheduled));
        jlog_ctx(&rc.log, JH_LOG_INFO, "job_started",
                 "trigger=%s scheduled=%s plugin_version=%s dry_run=%s",
                 run_trigger_name(opts->trigger), scheduled, job->plugin->desc->version,
                 opts->dry_run ? "true" : "false");
    }

    if (spec->isolation == ISOLATION_PROCESS) {
        switch (isolate_run(job, &rc, &ret)) {
        case ISOLATE_RETURNED:
            break;
        case ISOLATE_KILLED:
            ret = JH_CANCELLED;
            break;
        case ISOLATE_CRASHED:
            crashed = true;
            break;
        case ISOLATE_FAILED:
            ret = JH_FAIL;
            break;
        }
    } else {
        ret = job->plugin->desc->run(&rc.pub);
    }

    end_mono = mono_ns();
    if (crashed)
        result = RUN_CRASHED;
    else if (deadline && end_mono > deadline)
        result = RUN_TIMEOUT; /* the plugin overran, whatever it returned */
    else if (ret == JH_OK)
        result = opts->dry_run ? RUN_DRY_RUN : RUN_SUCCESS;
    else
        result = RUN_FAILURE;
    if (result == RUN_TIMEOUT && !rc.error[0]) {
        char d[32];
        snprintf(rc.error, sizeof(rc.error), "ran past its timeout of %s",
                 duration_format(spec->timeout_ns, d, sizeof(d)));
    } else if (result == RUN_FAILURE && !rc.error[0]) {
        snprintf(rc.error, sizeof(rc.error), "plugin returned %d%s", ret,
                 ret == JH_CANCELLED ? " (cancelled)" : "");
    }

    out->result = result;
    out->duration_ns = end_mono - start_mono;
    memcpy(out->run_id, rc.run_id, sizeof(out->run_id));
    /* both 256 bytes; not snprintf, which showed up in every run's profile */
    _Static_assert(sizeof(out->error) == sizeof(rc.error), "error buffers differ");
    size_t elen = strnlen(rc.error, sizeof(rc.error) - 1);
    memcpy(out->error, rc.error, elen);
    out->error[elen] = '\0';

    if (job->metrics)
        metrics_run_finished(job->metrics, to_metrics_result(result), out->duration_ns,
                             start_wall + out->duration_ns);
    jobstate_set_last(job->state, (int)result, start_wall, out->duration_ns, rc.run_id, rc.error);
    atomic_fetch_sub_explicit(&job->state->running, 1, memory_order_relaxed);

    if (result == RUN_SUCCESS || result == RUN_DRY_RUN) {
        if (log_enabled(JH_LOG_INFO) && rc.log.level <= JH_LOG_INFO)
            jlog_ctx(&rc.log, JH_LOG_INFO, "job_finished", "result=%s duration_ms=%.3f",
                     run_result_name(result), (double)out->duration_ns / 1e6);
    } else {
        jlog_ctx(&rc.log, JH_LOG_WARN, "job_finished", "result=%s duration_ms=%.3f error=%s",
                 run_result_name(result), (double)out->duration_ns / 1e6, rc.error);
    }
}
