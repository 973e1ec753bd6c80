/*
 * metrics — the registry behind GET /metrics: what each job's runs measured
 * (counters, histograms, the last run), kept in C11 atomics, and the
 * host-level values (reloads, the live configuration's size and plugins).
 * The exposition (text format, OpenMetrics) is io/metrics_render.c, which
 * reads the registry through the snapshot functions below; the outcome
 * pipeline feeds it through core/outcome_metrics.c.
 *
 * A job's metrics block (struct job_metrics) is owned by its job state
 * (jobstate.h), which creates it on the job's first run or skip and frees
 * it with itself: one lifetime, no registry of its own.
 *
 * Who calls what:
 *   - workers, concurrently: metrics_run_started, metrics_run_finished.
 *     Runs of one job serialise on a tiny per-job spinlock held for a
 *     handful of stores; runs of different jobs never meet.
 *   - the dispatcher, workers: metrics_skipped (atomic adds, never wait).
 *   - readers (the exposition, the jobs API): metrics_job_snapshot,
 *     metrics_job_last, metrics_host_snapshot. They never block a writer:
 *     they read through a sequence lock and retry.
 *   - the main thread: metrics_new, metrics_free, metrics_set_jobs,
 *     metrics_set_plugins, metrics_reload.
 * Names, types and HELP texts of the series are fixed (dashboards and
 * alerts depend on them); they live in io/metrics_render.c.
 */
#ifndef JH_METRICS_H
#define JH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outcome.h"
#include "core/run.h"

struct metrics;
struct job_metrics;

/* The two exposition formats (io/metrics_render.c writes them). */
enum metrics_format {
    METRICS_TEXT_004,        /* text/plain; version=0.0.4 */
    METRICS_OPENMETRICS_100, /* application/openmetrics-text; version=1.0.0 */
};

/* The exact Content-Type of a format, e.g. "text/plain; version=0.0.4;
 * charset=utf-8". Static string. */
const char *metrics_content_type(enum metrics_format f);

/* One loaded plugin, for jobhost_plugins_loaded{plugin,version}. */
struct metrics_plugin {
    const char *name;
    const char *version;
};

/* Upper bound on configurable histogram buckets. */
#define METRICS_MAX_BUCKETS 64

/* Checks a bucket list as metrics_new() would accept it: 1 to
 * METRICS_MAX_BUCKETS finite, non-negative, strictly increasing upper bounds
 * in seconds (one trailing +Inf is allowed and ignored). Returns 0, or
 * -EINVAL with a message such as "bucket 3 (0.5) is not greater than bucket 2
 * (1)" in err. Pure; for the manifest validator. */
int metrics_check_buckets(const double *bounds, size_t n, char *err, size_t errlen);

/* Creates a registry. `duration_buckets` (seconds, see metrics_check_buckets)
 * are the upper bounds of jobhost_job_duration_seconds; NULL or n == 0 picks
 * the defaults .001 .005 .01 .05 .1 .5 1 5 10 30 60 300 900 1800 3600. The
 * bounds are copied. jobhost_job_start_delay_seconds has fixed bounds
 * (.0005 .001 .005 .01 .05 .1 .5 1 5 10 60). The buckets of a registry never
 * change: a reload that changes host.metrics.duration_buckets takes effect at
 * the next start.
 *
 * The registry is created after the configuration loaded, so it starts with
 * jobhost_config_last_reload_successful 1 and the success timestamp set to
 * now. Returns NULL when the bucket list is invalid. Main thread. */
struct metrics *metrics_new(const double *duration_buckets, size_t n);

/* Frees the registry; every job_metrics of it must be freed first. NULL is a
 * no-op. */
void metrics_free(struct metrics *m);

/* Bucket bounds (seconds, increasing, without +Inf) of the two histograms. */
size_t metrics_duration_bounds(const struct metrics *m, const double **bounds);
size_t metrics_delay_bounds(const struct metrics *m, const double **bounds);

/* --- per job ------------------------------------------------------------ */

/* A job's block, all zero (no run yet). Any thread. The block does not
 * point back to its registry (8 bytes a job): the writers below take it. */
struct job_metrics *metrics_job_new(struct metrics *m);
void metrics_job_free(struct job_metrics *jm); /* NULL: no-op */

/* A run begins: the start delay histogram observes delay_ns (actual start
 * minus scheduled time; negative counts as 0; a run its schedule did not
 * fire (manual, cli, catch-up) passes 0) and
 * last_run_timestamp = start_wall_ns. Worker thread. */
void metrics_run_started(const struct metrics *m, struct job_metrics *jm, int64_t start_wall_ns,
                         int64_t delay_ns);

/* A run ended: runs_total{result} +1, the duration histogram observes
 * duration_ns (negative counts as 0), last_duration = duration;
 * last_success_timestamp (success) or last_failure_timestamp (failure,
 * timeout, crashed, interrupted) = the run's end. The run's id, result, start, duration
 * and error become the job's last run (metrics_job_last). Every started run
 * finishes exactly once. Worker thread. */
void metrics_run_finished(const struct metrics *m, struct job_metrics *jm, const struct run *run);

/* A retry of a failed run started: jobhost_job_retries_total +1. Worker
 * thread, never waits. */
void metrics_retried(struct job_metrics *jm);

/* A firing was queued or replaced the runs in progress (the job's
 * concurrency policy): jobhost_job_concurrency_total{action} +1. Any
 * thread, never waits. */
void metrics_concurrency(struct job_metrics *jm, enum concurrency_action a);

/* `count` firings were skipped for `reason`. Any thread, never waits. */
void metrics_skipped(struct job_metrics *jm, enum skip_reason reason, uint64_t count);

/* One consistent reading of a job's values. The bucket arrays are the
 * caller's, sized by metrics_*_bounds() + 1 (the last is +Inf) and filled
 * cumulative, or NULL when not wanted. `jm` NULL reads as a job that never
 * ran. Any thread. */
struct job_metrics_snapshot {
    uint64_t runs[RUN_RESULT_COUNT];
    uint64_t skipped[SKIP_REASON_COUNT];
    uint64_t retries;
    uint64_t concurrency[CONCURRENCY_ACTION_COUNT];
    uint64_t dur_sum_ns, delay_sum_ns;
    int64_t last_run_ns;      /* start of the last run; 0 = never */
    int64_t last_success_ns;  /* end of the last success; 0 = never */
    int64_t last_failure_ns;  /* end of the last failed run; 0 = never */
    int64_t last_duration_ns; /* -1 = no run finished */
    uint64_t *dur_buckets;
    uint64_t *delay_buckets;
};
void metrics_job_snapshot(const struct metrics *m, struct job_metrics *jm,
                          struct job_metrics_snapshot *s);

/* The job's last finished run, for the jobs API. */
struct job_last_run {
    bool ran;                 /* false: none finished yet (the rest is zero) */
    uint64_t run_id;
    enum run_result result;
    int64_t start_wall_ns;
    int64_t duration_ns;
    char error[RUN_ERROR_MAX]; /* "" when none */
};
void metrics_job_last(struct job_metrics *jm, struct job_last_run *out);

/* What the run store kept of a job across a restart, put back at start
 * (before the job's first run or skip of this process): the last finished
 * run (`last`, as metrics_job_last reads it; last_run_timestamp is its
 * start), the end of the last success and of the last failed run (0 =
 * none). Counters and histograms are not restored: they restart at zero,
 * as Prometheus expects of a new process; only `interrupted`, the runs this
 * start found in flight and closed, is added to runs_total{interrupted}.
 * The error text is copied. Main thread. */
void metrics_job_restore(struct job_metrics *jm, const struct job_last_run *last,
                         int64_t last_success_ns, int64_t last_failure_ns, uint64_t interrupted);
/* The job's last results, oldest first, at most METRICS_RECENT of them
 * (what the status page draws as a strip); returns how many. `jm` NULL:
 * none. Any thread, never waits. */
#define METRICS_RECENT 20
size_t metrics_job_recent(struct job_metrics *jm, enum run_result out[METRICS_RECENT]);

/* When a firing of the job was last skipped as misfired (later than its
 * misfire_grace), unless a run of it has started since: wall clock ns, 0
 * = none. What makes a job "missed" on the status page. Any thread, never
 * waits. */
int64_t metrics_job_missed(struct job_metrics *jm);

/* --- host level --------------------------------------------------------- */

/* jobhost_jobs: jobs in the active configuration. Any thread. */
void metrics_set_jobs(struct metrics *m, uint64_t n);

/* Replaces jobhost_plugins_loaded{plugin,version} with `list` (copied).
 * Main thread. */
void metrics_set_plugins(struct metrics *m, const struct metrics_plugin *list, size_t n);

/* Records a reload attempt: jobhost_reloads_total{result} +1,
 * jobhost_config_last_reload_successful = ok, and when ok the success
 * timestamp = wall_ns. Main thread. */
void metrics_reload(struct metrics *m, bool ok, int64_t wall_ns);

struct metrics_host_snapshot {
    uint64_t jobs;
    uint64_t reloads_failed, reloads_ok;
    bool last_reload_ok;
    int64_t last_reload_success_ns;
};
void metrics_host_snapshot(const struct metrics *m, struct metrics_host_snapshot *s);

/* Calls fn for each loaded plugin of the last metrics_set_plugins, under the
 * registry's lock (keep fn short). Any thread. */
void metrics_each_plugin(struct metrics *m, void (*fn)(void *arg, const struct metrics_plugin *p),
                         void *arg);

#endif /* JH_METRICS_H */
