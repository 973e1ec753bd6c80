/*
 * outcome_log — outcomes as log records. See outcome_log.h.
 *
 * Cost matters: this runs on every run, so each record is level-checked
 * before anything is done (a job may be quieter than the host, never
 * louder), and what passes is captured, not formatted (jlog_fields): the
 * names of the job, plugin and version are copied, numbers stay numbers,
 * the result and trigger names are pointers to static strings, and the
 * writer thread writes the line. A run's two records carry the run's own
 * start and end instants, so they read no clock. A plugin's records carry
 * `src=plugin`, which the host's never do.
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
    lr->plugin = job->plugin->desc_name;
    lr->level = job->spec->log_level >= 0 ? job->spec->log_level : JH_LOG_DEBUG;
}

/* Passes the global level and the job's own (`job_level`). */
static bool wanted(int job_level, int level)
{
    return log_enabled(level) && level >= job_level;
}

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    const struct log_run lr = {.job = job->spec->id, .plugin = job->spec->plugin,
                               .level = job->spec->log_level};

    (void)arg;
    if (!wanted(lr.level, JH_LOG_WARN))
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
    if (!wanted(lr.level, JH_LOG_INFO))
        return;
    char parent[RUN_ID_LEN] = "";
    if (run->parent_run_id)
        run_id_format(run->parent_run_id, parent);
    const struct log_field f[] = {
        {"trigger", LOG_STR, {.s = run_trigger_name(run->trigger)}},
        {"attempt", LOG_UINT, {.u = run->attempt}},
        {"scheduled", LOG_TIME, {.i = run->scheduled_wall_ns}},
        {"plugin_version", LOG_COPY, {.s = run->job->plugin->version}},
        {"dry_run", LOG_BOOL, {.i = run->dry_run}},
        {"parent_run_id", LOG_COPY, {.s = parent}}, /* trigger after only */
    };
    jlog_fields(&lr, JH_LOG_INFO, "job_started", run->start_wall_ns, f, parent[0] ? 6 : 5);
}

/* A firing queued, or replacing the runs in progress (concurrency). */
static void on_concurrency(void *arg, struct job *job, enum concurrency_action a,
                           int64_t scheduled_wall_ns)
{
    const struct log_run lr = {.job = job->spec->id, .plugin = job->spec->plugin,
                               .level = job->spec->log_level};

    (void)arg;
    if (!wanted(lr.level, JH_LOG_INFO))
        return;
    const struct log_field f[] = {
        {"scheduled", LOG_TIME, {.i = scheduled_wall_ns > 0 ? scheduled_wall_ns : 0}},
        {"concurrency", LOG_STR, {.s = concurrency_name(job->spec->concurrency)}},
    };
    jlog_fields(&lr, JH_LOG_INFO, a == CONCURRENCY_REPLACED ? "job_replaced" : "job_queued", 0,
                f, 2);
}

/* A plugin's record under `lc` (run_id, when not 0, standing for its text):
 * src=plugin, the typed pairs copied as they are (numbers stay numbers
 * until the writer writes them as record_value_text does), then
 * truncated=true when the plugin gave too many. */
static void plugin_record(const struct log_ctx *lc, uint64_t run_id,
                          const struct outcome_record *rec)
{
    struct log_field f[RECORD_MAX_PAIRS + 2];
    size_t n = 0;

    if (!wanted(lc->level, rec->level))
        return;
    f[n++] = (struct log_field){"src", LOG_STR, {.s = "plugin"}};
    for (size_t i = 0; i < rec->n_pairs && i < RECORD_MAX_PAIRS; i++) {
        const struct record_pair *p = &rec->pairs[i];
        struct log_field *o = &f[n++];
        o->key = p->key;
        switch (p->type) {
        case RECORD_INT:
            o->type = LOG_INT;
            o->v.i = p->v.i;
            break;
        case RECORD_UINT:
            o->type = LOG_UINT;
            o->v.u = p->v.u;
            break;
        case RECORD_F64:
            o->type = LOG_F64;
            o->v.f = p->v.f;
            break;
        case RECORD_BOOL:
            o->type = LOG_BOOL;
            o->v.i = p->v.b;
            break;
        case RECORD_DUR:
            o->type = LOG_DUR;
            o->v.i = p->v.ns;
            break;
        default:
            o->type = LOG_COPY;
            o->v.s = p->type == RECORD_STR ? p->v.s : "";
            break;
        }
    }
    if (rec->truncated)
        f[n++] = (struct log_field){"truncated", LOG_STR, {.s = "true"}};
    jlog_record(lc, run_id, rec->level, rec->event, f, n);
}

void outcome_log_plugin_record(const struct log_ctx *lc, const struct outcome_record *rec)
{
    plugin_record(lc, 0, rec);
}

static void on_record(void *arg, const struct run *run, const struct outcome_record *rec)
{
    struct log_run lr;
    struct log_ctx lc;

    (void)arg;
    run_log(run, &lr);
    lc = (struct log_ctx){.job = lr.job, .plugin = lr.plugin, .level = lr.level};
    plugin_record(&lc, lr.run_id, rec);
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
        if (wanted(lr.level, JH_LOG_INFO))
            jlog_fields(&lr, JH_LOG_INFO, "job_finished", end, f, run->error[0] ? 3 : 2);
    } else if (wanted(lr.level, JH_LOG_WARN)) {
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
    .concurrency = on_concurrency,
};
