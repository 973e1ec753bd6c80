/*
 * metrics — the registry behind GET /metrics: per-job counters, gauges and
 * histograms kept in C11 atomics, host-level gauges, the standard process_*
 * metrics, and the exposition in Prometheus text format 0.0.4 or
 * OpenMetrics 1.0.0.
 *
 * Who calls what:
 *   - reload / generation code (main thread): metrics_new, metrics_free,
 *     metrics_job_acquire / metrics_job_release, metrics_set_jobs,
 *     metrics_set_plugins, metrics_reload, metrics_set_log_dropped_source.
 *   - executor workers, concurrently: metrics_run_started,
 *     metrics_run_finished. Lock-free with respect to each other across jobs
 *     (no registry lock); runs of one job serialise on a tiny per-job
 *     spinlock held for a handful of stores.
 *   - scheduler / dispatcher thread: metrics_skipped, metrics_set_next_run
 *     (plain atomic read-modify-writes and stores, never wait).
 *   - HTTP thread: metrics_render. It never blocks a worker or the scheduler:
 *     it holds the registry mutex only to pin the job list, then reads each
 *     job through a sequence lock (it retries, writers never wait for it).
 *
 * Every function but metrics_new / metrics_free may be called from any
 * thread. Names, types and HELP texts of the series are fixed (dashboards and alerts depend on them);
 * the job label is `job_id`.
 */
#ifndef JH_METRICS_H
#define JH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

/* The result of a finished run: the `result` label of jobhost_job_runs_total. */
enum metrics_result {
    METRICS_SUCCESS,
    METRICS_FAILURE,
    METRICS_TIMEOUT,
    METRICS_CRASHED,
    METRICS_DRY_RUN,
    METRICS_RESULT_COUNT
};

/* Why a firing did not run: the `reason` label of jobhost_job_skipped_total. */
enum metrics_skip_reason {
    METRICS_SKIP_MAX_INSTANCES, /* max_instances runs already in progress */
    METRICS_SKIP_MISFIRE,       /* later than misfire_grace */
    METRICS_SKIP_COALESCED,     /* folded into another firing by coalesce */
    METRICS_SKIP_PAUSED,        /* the job is paused */
    METRICS_SKIP_SHUTDOWN,      /* the daemon is stopping */
    METRICS_SKIP_COUNT
};

enum metrics_format {
    METRICS_TEXT_004,        /* text/plain; version=0.0.4 */
    METRICS_OPENMETRICS_100, /* application/openmetrics-text; version=1.0.0 */
};

/* One loaded plugin, for jobhost_plugins_loaded{plugin,version}. */
struct metrics_plugin {
    const char *name;
    const char *version;
};

/* Reads how many records a log sink dropped ("file", "syslog", "stderr",
 * "queue"); log_dropped() of log.h fits. Called from the rendering thread. */
typedef uint64_t (*metrics_dropped_fn)(const char *sink);

struct metrics;
struct job_metrics;

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

/* Frees the registry and every job entry still acquired: no thread may use
 * the registry or any job_metrics of it any more. NULL is a no-op. */
void metrics_free(struct metrics *m);

/* --- per job ------------------------------------------------------------ */

/* Returns the entry of `job_id`, creating it (all counters 0) on first use,
 * and takes one reference. A reload that keeps a job id acquires the entry
 * for the new generation before the old generation releases it, so the
 * counters carry over. `plugin` becomes the `plugin` label of the job's
 * jobhost_job_runs_total series (updated when it differs from the current
 * one). Both strings are copied; NULL plugin means "". Never returns NULL
 * (out of memory aborts). Any thread; takes the registry mutex. */
struct job_metrics *metrics_job_acquire(struct metrics *m, const char *job_id, const char *plugin);

/* Drops a reference taken by metrics_job_acquire. When the last one goes,
 * the job's series leave the exposition and `jm` must not be used again (a
 * later acquire of the same id starts from zero). NULL is a no-op. Any
 * thread; takes the registry mutex. */
void metrics_job_release(struct metrics *m, struct job_metrics *jm);

/* A run begins: jobhost_job_running +1, last_run_timestamp = start_wall_ns,
 * start_delay observes delay_ns (actual start minus scheduled time; negative
 * counts as 0; a manual run passes 0). Worker thread; `jm` NULL is a no-op. */
void metrics_run_started(struct job_metrics *jm, int64_t start_wall_ns, int64_t delay_ns);

/* A run ended with `r` after duration_ns (monotonic; negative counts as 0):
 * jobhost_job_running -1, runs_total{result} +1, the duration histogram
 * observes it, last_duration = duration; last_success_timestamp (success) or
 * last_failure_timestamp (failure, timeout, crashed) = end_wall_ns. dry_run
 * counts as neither. Every started run must finish exactly once. Worker
 * thread; `jm` NULL is a no-op. */
void metrics_run_finished(struct job_metrics *jm, enum metrics_result r, int64_t duration_ns,
                          int64_t end_wall_ns);

/* A firing was skipped: jobhost_job_skipped_total{reason} +1. Any thread,
 * never waits; `jm` NULL is a no-op. */
void metrics_skipped(struct job_metrics *jm, enum metrics_skip_reason reason);

/* Sets jobhost_job_next_run_timestamp_seconds; 0 or negative removes the
 * series (no next run). Any thread, never waits; `jm` NULL is a no-op. */
void metrics_set_next_run(struct job_metrics *jm, int64_t wall_ns);

/* --- host level --------------------------------------------------------- */

/* jobhost_jobs: jobs in the active configuration. Any thread. */
void metrics_set_jobs(struct metrics *m, uint64_t n);

/* Replaces jobhost_plugins_loaded{plugin,version} with `list` (copied).
 * Any thread; takes the registry mutex. */
void metrics_set_plugins(struct metrics *m, const struct metrics_plugin *list, size_t n);

/* Records a reload attempt: jobhost_reloads_total{result} +1,
 * jobhost_config_last_reload_successful = ok, and when ok the success
 * timestamp = wall_ns. Any thread. */
void metrics_reload(struct metrics *m, bool ok, int64_t wall_ns);

/* Source of jobhost_log_records_dropped_total{sink}; read at every render for
 * the sinks "file", "syslog", "stderr" and "queue". NULL (the default) leaves
 * the family out. Set it before serving scrapes. */
void metrics_set_log_dropped_source(struct metrics *m, metrics_dropped_fn fn);

/* --- exposition --------------------------------------------------------- */

/* Appends the whole exposition in format `f` to `out` (which the caller owns
 * and may reuse). Each job is read as one consistent snapshot: within one
 * render, sum(runs_total) == duration _count for every job. Families with no
 * samples are left out; a process metric that cannot be read is left out.
 * Returns 0, or -EINVAL for an unknown format. Any thread (the HTTP thread);
 * never blocks workers or the scheduler. */
int metrics_render(struct metrics *m, enum metrics_format f, struct buf *out);

/* metrics_render with the registry as a void pointer, for callbacks. */
int metrics_render_cb(void *m, enum metrics_format f, struct buf *out);

/* The exact Content-Type of a format, e.g. "text/plain; version=0.0.4;
 * charset=utf-8". Static string. */
const char *metrics_content_type(enum metrics_format f);

/* "success" ... "dry_run"; "max_instances" ... "shutdown". Static strings;
 * NULL for out-of-range values. */
const char *metrics_result_name(enum metrics_result r);
const char *metrics_skip_reason_name(enum metrics_skip_reason reason);

#endif /* JH_METRICS_H */
