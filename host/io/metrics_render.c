/*
 * metrics_render — the exposition as a cursor. See metrics_render.h.
 *
 * The cursor walks a fixed list of sections: the host head, one section
 * per per-job family (each a pass over the job list of the generation
 * view), and the host tail. A piece ends after the job (or host section)
 * that takes it past METRICS_PIECE, so no job's lines are ever split.
 *
 * Speed: job ids and plugin names are escaped as they are written (the
 * manifest allows only [A-Za-z0-9._-] in them, so that is a copy), the
 * le="..." suffixes are made once per cursor, each job's lines are
 * reserved at once, and numbers are written by lib/numfmt: counts as
 * integers, durations and timestamps (integer nanoseconds) as exact
 * decimal seconds, other doubles in Go's shortest 'g' form.
 */
#include "io/metrics_render.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobhost/plugin.h>

#include "core/executor.h"
#include "core/generation.h"
#include "core/history.h"
#include "core/jobstate.h"
#include "core/notify.h"
#include "io/cluster_pg.h"
#include "io/http_stream.h"
#include "io/procstat.h"
#include "lib/numfmt.h"
#include "lib/utf8.h"

#ifndef JOBHOST_VERSION
#define JOBHOST_VERSION "0.0.0"
#endif

/* "worker": records of isolated plugins the host could not read (core/isolate.h) */
static const char *const log_sinks[] = {"file", "syslog", "stderr", "queue", "worker"};

/* --- families ----------------------------------------------------------- */

enum ftype { T_COUNTER, T_GAUGE, T_HISTOGRAM, T_INFO };

struct family {
    const char *name; /* as in the 0.0.4 text format */
    enum ftype type;
    const char *unit; /* OpenMetrics # UNIT, or NULL */
    const char *help;
};

/* In exposition order (alphabetical). */
enum fam {
    F_BUILD_INFO,
    F_CL_CLAIM_DURATION,
    F_CL_CLAIMS,
    F_CL_COMMANDS,
    F_CL_CONFIG_MISMATCH,
    F_CL_DB_ERRORS,
    F_CL_FENCED,
    F_CL_HEARTBEAT_AGE,
    F_CL_LEASE_LAPSES,
    F_CL_LEASE_RENEWALS,
    F_CL_LEASE_UP,
    F_CL_ABANDONED,
    F_CL_RECOVERED,
    F_RELOAD_SUCCESS_TS,
    F_RELOAD_OK,
    F_EXEC_BUSY,
    F_EXEC_QUEUED,
    F_EXEC_STUCK,
    F_EXEC_WORKERS,
    F_CONCURRENCY,
    F_DURATION,
    F_LAST_DURATION,
    F_LAST_FAILURE,
    F_LAST_RUN,
    F_LAST_SUCCESS,
    F_NEXT_RUN,
    F_RETRIES,
    F_RUNNING,
    F_RUNS,
    F_SKIPPED,
    F_DELAY,
    F_JOBS,
    F_LOG_DROPPED,
    F_NOTIFICATIONS,
    F_PLUGINS,
    F_RELOADS,
    F_STORE_DROPPED,
    F_STORE_ERRORS,
    F_STORE_QUEUE,
    F_STORE_ROWS,
    F_STORE_UP,
    F_STORE_WRITE,
    F_CPU,
    F_MAX_FDS,
    F_OPEN_FDS,
    F_RSS,
    F_START_TIME,
    F_VSZ,
};

static const struct family families[] = {
    [F_BUILD_INFO] = {"jobhost_build_info", T_INFO, NULL,
                      "A metric with a constant 1 value labeled by the jobhost version and the "
                      "plugin ABI version it was built with."},
    [F_CL_CLAIM_DURATION] = {"jobhost_cluster_claim_duration_seconds", T_HISTOGRAM, "seconds",
                             "Round trip of a claim to the cluster's store in seconds: one "
                             "firing, or a worker's batch of firings due together."},
    [F_CL_CLAIMS] = {"jobhost_cluster_claims_total", T_COUNTER, NULL,
                     "Claims of scheduled firings by this node, by result: won (it ran the "
                     "firing), lost (another node did), error (no claim could be made: the "
                     "firing was missed here)."},
    [F_CL_COMMANDS] = {"jobhost_cluster_commands_received_total", T_COUNTER, NULL,
                       "Pauses, resumes and reloads other nodes told this one."},
    [F_CL_CONFIG_MISMATCH] = {"jobhost_cluster_config_mismatch", T_GAUGE, NULL,
                              "Other live nodes whose jobs (what runs and when) differ from "
                              "this node's manifest."},
    [F_CL_DB_ERRORS] = {"jobhost_cluster_db_errors_total", T_COUNTER, NULL,
                        "Failed statements and connections of the cluster's claims and lease."},
    [F_CL_FENCED] = {"jobhost_cluster_fenced_total", T_COUNTER, NULL,
                     "Runs whose final write was refused: another node had declared them "
                     "abandoned."},
    [F_CL_HEARTBEAT_AGE] = {"jobhost_cluster_heartbeat_age_seconds", T_GAUGE, "seconds",
                            "Seconds since this node last renewed its lease."},
    [F_CL_LEASE_LAPSES] = {"jobhost_cluster_lease_lapses_total", T_COUNTER, NULL,
                           "Times this node went without a renewal for four fifths of its "
                           "lease and told its claimed runs to stop."},
    [F_CL_LEASE_RENEWALS] = {"jobhost_cluster_lease_renewals_total", T_COUNTER, NULL,
                             "Renewals of this node's lease by result."},
    [F_CL_LEASE_UP] = {"jobhost_cluster_lease_up", T_GAUGE, NULL,
                       "Whether this node's last lease renewal worked (1) or not (0)."},
    [F_CL_ABANDONED] = {"jobhost_cluster_runs_abandoned_total", T_COUNTER, NULL,
                        "Runs of dead nodes this node found in flight after their lease "
                        "expired and marked abandoned."},
    [F_CL_RECOVERED] = {"jobhost_cluster_runs_recovered_total", T_COUNTER, NULL,
                        "Abandoned firings of jobs with recover: true this node took over and "
                        "ran again."},
    [F_RELOAD_SUCCESS_TS] = {"jobhost_config_last_reload_success_timestamp_seconds", T_GAUGE,
                             "seconds",
                             "Unix time of the last successful configuration load or reload."},
    [F_RELOAD_OK] = {"jobhost_config_last_reload_successful", T_GAUGE, NULL,
                     "Whether the last configuration reload attempt was successful (1) or "
                     "not (0)."},
    [F_EXEC_BUSY] = {"jobhost_executor_busy_workers", T_GAUGE, NULL,
                     "Worker threads running a job now."},
    [F_EXEC_QUEUED] = {"jobhost_executor_queued_runs", T_GAUGE, NULL,
                       "Runs due and waiting for a worker."},
    [F_EXEC_STUCK] = {"jobhost_executor_stuck_workers", T_GAUGE, NULL,
                      "Worker threads written off: their run passed its timeout plus "
                      "host.stuck_grace and its plugin has not returned."},
    [F_EXEC_WORKERS] = {"jobhost_executor_workers", T_GAUGE, NULL,
                        "Worker threads in the pool (host.workers)."},
    [F_CONCURRENCY] = {"jobhost_job_concurrency_total", T_COUNTER, NULL,
                       "Firings that found the job's runs still going and were queued or "
                       "replaced them (the job's concurrency policy), by action."},
    [F_DURATION] = {"jobhost_job_duration_seconds", T_HISTOGRAM, "seconds",
                    "Duration of finished job runs in seconds."},
    [F_LAST_DURATION] = {"jobhost_job_last_duration_seconds", T_GAUGE, "seconds",
                         "Duration of the last finished run of the job in seconds."},
    [F_LAST_FAILURE] = {"jobhost_job_last_failure_timestamp_seconds", T_GAUGE, "seconds",
                        "Unix time the last failed run (failure, timeout, crashed or interrupted) "
                        "of the job finished."},
    [F_LAST_RUN] = {"jobhost_job_last_run_timestamp_seconds", T_GAUGE, "seconds",
                    "Unix time the last run of the job started."},
    [F_LAST_SUCCESS] = {"jobhost_job_last_success_timestamp_seconds", T_GAUGE, "seconds",
                        "Unix time the last successful run of the job finished."},
    [F_NEXT_RUN] = {"jobhost_job_next_run_timestamp_seconds", T_GAUGE, "seconds",
                    "Unix time of the next scheduled run of the job."},
    [F_RETRIES] = {"jobhost_job_retries_total", T_COUNTER, NULL,
                   "Retries of failed runs started (the job's retry policy)."},
    [F_RUNNING] = {"jobhost_job_running", T_GAUGE, NULL, "Runs of the job in progress."},
    [F_RUNS] = {"jobhost_job_runs_total", T_COUNTER, NULL,
                "Finished runs of the job by result (success, failure, timeout, crashed, "
                "cancelled, dry_run, interrupted)."},
    [F_SKIPPED] = {"jobhost_job_skipped_total", T_COUNTER, NULL,
                   "Firings of the job that did not run, by reason."},
    [F_DELAY] = {"jobhost_job_start_delay_seconds", T_HISTOGRAM, "seconds",
                 "Actual start minus scheduled time of job runs in seconds."},
    [F_JOBS] = {"jobhost_jobs", T_GAUGE, NULL, "Jobs in the active configuration."},
    [F_LOG_DROPPED] = {"jobhost_log_records_dropped_total", T_COUNTER, NULL,
                       "Log records dropped, by sink."},
    [F_NOTIFICATIONS] = {"jobhost_notifications_total", T_COUNTER, NULL,
                         "Notifications and dead-man pings by kind (notify, ping) and result: "
                         "sent (a 2xx answer), failed (no 2xx after every try), dropped (queue "
                         "full or stopping)."},
    [F_PLUGINS] = {"jobhost_plugins_loaded", T_GAUGE, NULL,
                   "Plugins loaded by the active configuration, labeled by name and version."},
    [F_RELOADS] = {"jobhost_reloads_total", T_COUNTER, NULL,
                   "Configuration reload attempts by result."},
    [F_STORE_DROPPED] = {"jobhost_store_dropped_total", T_COUNTER, NULL,
                         "Run history reports and rows dropped: the writer's queue was full, or "
                         "the run store failed longer than waiting rows could be kept."},
    [F_STORE_ERRORS] = {"jobhost_store_errors_total", T_COUNTER, NULL,
                        "Failed run store operations, by operation (open, write, flush, "
                        "heartbeat, prune, read)."},
    [F_STORE_QUEUE] = {"jobhost_store_queue_depth", T_GAUGE, NULL,
                       "Run history reports and rows waiting to be written to the run store."},
    [F_STORE_ROWS] = {"jobhost_store_rows_written_total", T_COUNTER, NULL,
                      "Rows (runs and skipped firings) committed to the run store."},
    [F_STORE_UP] = {"jobhost_store_up", T_GAUGE, NULL,
                    "Whether the run store is open and its last write worked (1) or not (0)."},
    [F_STORE_WRITE] = {"jobhost_store_write_duration_seconds", T_HISTOGRAM, "seconds",
                       "Duration of run store commits (a batch of rows each) in seconds."},
    [F_CPU] = {"process_cpu_seconds_total", T_COUNTER, "seconds",
               "Total user and system CPU time spent in seconds."},
    [F_MAX_FDS] = {"process_max_fds", T_GAUGE, NULL, "Maximum number of open file descriptors."},
    [F_OPEN_FDS] = {"process_open_fds", T_GAUGE, NULL, "Number of open file descriptors."},
    [F_RSS] = {"process_resident_memory_bytes", T_GAUGE, "bytes", "Resident memory size in bytes."},
    [F_START_TIME] = {"process_start_time_seconds", T_GAUGE, "seconds",
                      "Start time of the process since unix epoch in seconds."},
    [F_VSZ] = {"process_virtual_memory_bytes", T_GAUGE, "bytes", "Virtual memory size in bytes."},
};

/* The sections of an exposition, in order. */
enum section {
    S_HEAD,
    S_CONCURRENCY,
    S_DURATION,
    S_LAST_DURATION,
    S_LAST_FAILURE,
    S_LAST_RUN,
    S_LAST_SUCCESS,
    S_NEXT_RUN,
    S_RETRIES,
    S_RUNNING,
    S_RUNS,
    S_SKIPPED,
    S_DELAY,
    S_TAIL,
    S_DONE,
};

/* le="..." suffixes of one histogram in one format. */
struct hist_sfx {
    size_t n; /* finite bounds; suffix n is +Inf */
    char **sfx;
    size_t *len;
    size_t max;
};

struct metrics_render {
    const struct metrics_source *src;
    const struct metrics *m;
    bool om;
    struct generation_view view;
    enum section section;
    size_t next_job;  /* within a per-job section */
    bool header_done; /* the current section's # HELP/# TYPE lines */
    struct hist_sfx dur, delay;
    uint64_t *bk;     /* room for one job's buckets */
    struct buf label; /* the current job's label (job_label) */
    struct buf extra; /* scratch for the labels after it */
    size_t name_len[ARRAY_SIZE(families)];
};

/* --- writing helpers ------------------------------------------------------ */

/* Appends `s` escaped as a label value (or, with `help`, as HELP text):
 * backslash and newline always, double quote in label values and in
 * OpenMetrics HELP (`quote`). Both formats must be valid UTF-8, so an
 * invalid byte becomes U+FFFD rather than breaking the whole exposition. */
static void escape_into(struct buf *b, const char *s, bool quote)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (*p) {
        const unsigned char *run = p;
        size_t n;
        while (*p && *p != '\\' && *p != '\n' && !(quote && *p == '"') &&
               (n = utf8_seq(p, (size_t)(end - p))) > 0)
            p += n;
        buf_append(b, run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '\\')
            buf_append(b, "\\\\", 2);
        else if (*p == '\n')
            buf_append(b, "\\n", 2);
        else if (*p == '"')
            buf_append(b, "\\\"", 2);
        else
            buf_append(b, "\xEF\xBF\xBD", 3);
        p++;
    }
}

/* A label value into b: a copy when every byte is plain ASCII that needs
 * no escape (ids and plugin names always are: the manifest allows
 * [A-Za-z0-9._-] only), else escape_into. */
static void label_value_into(struct buf *b, const char *s)
{
    size_t n = 0;

    while (s[n] >= 0x20 && s[n] < 0x7f && s[n] != '\\' && s[n] != '"')
        n++;
    if (s[n] == '\0')
        buf_append(b, s, n);
    else
        escape_into(b, s, true);
}

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Makes room for `n` more bytes and returns where to write them. */
static inline char *wbegin(struct buf *b, size_t n)
{
    buf_reserve(b, n);
    return b->data + b->len;
}

static inline void wend(struct buf *b, char *p)
{
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

/* Family name as declared in # HELP/# TYPE/# UNIT lines of a format. */
static size_t family_decl_name(const struct family *fam, bool om, const char **name)
{
    size_t n = strlen(fam->name);
    *name = fam->name;
    if (om && fam->type == T_COUNTER && n > 6 && strcmp(fam->name + n - 6, "_total") == 0)
        n -= 6;
    if (om && fam->type == T_INFO && n > 5 && strcmp(fam->name + n - 5, "_info") == 0)
        n -= 5;
    return n;
}

static void write_header(struct buf *b, enum fam f, bool om)
{
    static const char *const type_names[] = {
        [T_COUNTER] = "counter", [T_GAUGE] = "gauge", [T_HISTOGRAM] = "histogram",
        [T_INFO] = "info"};
    const struct family *fam = &families[f];
    const char *name;
    size_t n = family_decl_name(fam, om, &name);
    /* 0.0.4 has no info type: it is a gauge there. */
    const char *type = (!om && fam->type == T_INFO) ? "gauge" : type_names[fam->type];

    if (om) {
        buf_append(b, "# TYPE ", 7);
        buf_append(b, name, n);
        buf_putc(b, ' ');
        buf_puts(b, type);
        buf_putc(b, '\n');
        if (fam->unit) {
            buf_append(b, "# UNIT ", 7);
            buf_append(b, name, n);
            buf_putc(b, ' ');
            buf_puts(b, fam->unit);
            buf_putc(b, '\n');
        }
    }
    buf_append(b, "# HELP ", 7);
    buf_append(b, name, n);
    buf_putc(b, ' ');
    escape_into(b, fam->help, om);
    buf_putc(b, '\n');
    if (!om) {
        buf_append(b, "# TYPE ", 7);
        buf_append(b, name, n);
        buf_putc(b, ' ');
        buf_puts(b, type);
        buf_putc(b, '\n');
    }
}

/* A sample without labels: name value */
static void write_plain_u64(struct buf *b, enum fam f, bool om, uint64_t v)
{
    write_header(b, f, om);
    buf_puts(b, families[f].name);
    char *p = wbegin(b, NUMFMT_MAX + 2);
    *p++ = ' ';
    p = numfmt_u64(p, v);
    *p++ = '\n';
    wend(b, p);
}

static void write_plain_double(struct buf *b, enum fam f, bool om, double v)
{
    char num[NUMFMT_MAX];
    numfmt_double(v, false, num);
    write_header(b, f, om);
    buf_puts(b, families[f].name);
    buf_putc(b, ' ');
    buf_puts(b, num);
    buf_putc(b, '\n');
}

static void write_plain_ns(struct buf *b, enum fam f, bool om, int64_t ns)
{
    write_header(b, f, om);
    buf_puts(b, families[f].name);
    char *p = wbegin(b, NUMFMT_MAX + 2);
    *p++ = ' ';
    p = numfmt_ns_seconds(p, ns);
    *p++ = '\n';
    wend(b, p);
}

/* The current job's `{job_id="ID"` (no closing brace), in r->label: made
 * once per job and section, copied into each of its lines. */
static void job_label(struct metrics_render *r, const struct job *job)
{
    buf_reset(&r->label);
    buf_append(&r->label, "{job_id=\"", 9);
    label_value_into(&r->label, job->spec->id);
    buf_putc(&r->label, '"');
}

/* --- histogram suffixes ----------------------------------------------------- */

static void sfx_init(struct hist_sfx *h, const double *bounds, size_t n, bool om)
{
    char num[NUMFMT_MAX];
    struct buf b = {0};

    h->n = n;
    h->sfx = xcalloc(n + 1, sizeof(*h->sfx));
    h->len = xcalloc(n + 1, sizeof(*h->len));
    h->max = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n)
            numfmt_double(bounds[i], om, num);
        else
            memcpy(num, "+Inf", 5);
        buf_reset(&b);
        buf_puts(&b, ",le=\"");
        buf_puts(&b, num);
        buf_puts(&b, "\"} ");
        h->len[i] = b.len;
        h->sfx[i] = xstrndup(b.data, b.len);
        if (b.len > h->max)
            h->max = b.len;
    }
    buf_free(&b);
}

static void sfx_free(struct hist_sfx *h)
{
    for (size_t i = 0; h->sfx && i <= h->n; i++)
        free(h->sfx[i]);
    free(h->sfx);
    free(h->len);
}

/* --- per-job families ------------------------------------------------------- */

static void write_histogram(struct metrics_render *r, struct buf *b, enum fam f,
                            const struct hist_sfx *h, const struct job *job)
{
    struct job_metrics *jm =
        atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    struct job_metrics_snapshot s = {0};
    const char *name = families[f].name;
    size_t nlen = r->name_len[f];
    const struct buf *lbl = &r->label;
    char *p;

    if (!jm || !job->spec->histograms)
        return; /* they appear once the job ran, unless metrics.job_histograms leaves them out */
    if (f == F_DURATION)
        s.dur_buckets = r->bk;
    else
        s.delay_buckets = r->bk;
    metrics_job_snapshot(r->m, jm, &s);
    if (!r->header_done) {
        write_header(b, f, r->om);
        r->header_done = true;
    }
    job_label(r, job);
    p = wbegin(b, (nlen + 8 + lbl->len + h->max + NUMFMT_MAX + 2) * (h->n + 3));
    for (size_t i = 0; i <= h->n; i++) {
        p = put(p, name, nlen);
        p = put(p, "_bucket", 7);
        p = put(p, lbl->data, lbl->len);
        p = put(p, h->sfx[i], h->len[i]);
        p = numfmt_u64(p, r->bk[i]);
        *p++ = '\n';
    }
    p = put(p, name, nlen);
    p = put(p, "_sum", 4);
    p = put(p, lbl->data, lbl->len);
    p = put(p, "} ", 2);
    p = numfmt_ns_seconds(p, (int64_t)(f == F_DURATION ? s.dur_sum_ns : s.delay_sum_ns));
    *p++ = '\n';
    p = put(p, name, nlen);
    p = put(p, "_count", 6);
    p = put(p, lbl->data, lbl->len);
    p = put(p, "} ", 2);
    p = numfmt_u64(p, r->bk[h->n]);
    *p++ = '\n';
    wend(b, p);
}

/* One sample of a per-job family: name{job_id="ID"<extra>} value, the
 * label being r->label (job_label). */
static void write_job_sample(struct metrics_render *r, struct buf *b, enum fam f,
                             const char *extra, size_t extra_len, bool ns, int64_t v)
{
    size_t nlen = r->name_len[f];
    char *p;

    if (!r->header_done) {
        write_header(b, f, r->om);
        r->header_done = true;
    }
    p = wbegin(b, nlen + r->label.len + extra_len + NUMFMT_MAX + 4);
    p = put(p, families[f].name, nlen);
    p = put(p, r->label.data, r->label.len);
    p = put(p, extra, extra_len);
    p = put(p, "} ", 2);
    p = ns ? numfmt_ns_seconds(p, v) : numfmt_i64(p, v);
    *p++ = '\n';
    wend(b, p);
}

/* A per-job gauge in seconds; absent while its value is unset (a duration
 * below 0, a timestamp at or below 0). */
static void write_job_gauge(struct metrics_render *r, struct buf *b, enum fam f,
                            const struct job *job)
{
    struct job_metrics *jm =
        atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    struct job_metrics_snapshot s = {0};
    int64_t v;

    if (f == F_NEXT_RUN) {
        v = atomic_load_explicit(&job->state->next_run_wall_ns, memory_order_relaxed);
    } else {
        metrics_job_snapshot(r->m, jm, &s);
        v = f == F_LAST_DURATION  ? s.last_duration_ns
            : f == F_LAST_FAILURE ? s.last_failure_ns
            : f == F_LAST_RUN     ? s.last_run_ns
                                  : s.last_success_ns;
    }
    if (f == F_LAST_DURATION ? v < 0 : v <= 0)
        return;
    job_label(r, job);
    write_job_sample(r, b, f, "", 0, true, v);
}

static void write_runs(struct metrics_render *r, struct buf *b, const struct job *job)
{
    struct job_metrics *jm =
        atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    struct job_metrics_snapshot s = {0};
    struct buf *extra = &r->extra;
    size_t at;

    metrics_job_snapshot(r->m, jm, &s);
    job_label(r, job);
    buf_reset(extra);
    buf_puts(extra, ",plugin=\"");
    label_value_into(extra, job->spec->plugin);
    buf_puts(extra, "\",result=\"");
    at = extra->len;
    for (size_t i = 0; i < RUN_RESULT_COUNT; i++) {
        /* Until a job's first run or skip, only success and failure (at 0):
         * what ratios and alerts need, at a fraction of the bytes. */
        if (!jm && i != RUN_SUCCESS && i != RUN_FAILURE)
            continue;
        extra->len = at;
        buf_puts(extra, run_result_name((enum run_result)i));
        buf_putc(extra, '"');
        write_job_sample(r, b, F_RUNS, extra->data, extra->len, false, (int64_t)s.runs[i]);
    }
}

static void write_skipped(struct metrics_render *r, struct buf *b, const struct job *job)
{
    struct job_metrics *jm =
        atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    struct job_metrics_snapshot s = {0};
    char extra[64];

    if (!jm)
        return; /* the skip reasons appear with the job's first run or skip */
    metrics_job_snapshot(r->m, jm, &s);
    job_label(r, job);
    for (size_t i = 0; i < SKIP_REASON_COUNT; i++) {
        int n = snprintf(extra, sizeof(extra), ",reason=\"%s\"",
                         skip_reason_name((enum skip_reason)i));
        write_job_sample(r, b, F_SKIPPED, extra, (size_t)n, false, (int64_t)s.skipped[i]);
    }
}

/* Only jobs with a retry policy have the series. */
static void write_retries(struct metrics_render *r, struct buf *b, const struct job *job)
{
    struct job_metrics *jm =
        atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    struct job_metrics_snapshot s = {0};

    if (!job->spec->retry)
        return;
    metrics_job_snapshot(r->m, jm, &s);
    job_label(r, job);
    write_job_sample(r, b, F_RETRIES, "", 0, false, (int64_t)s.retries);
}

/* Only jobs whose firings may wait (concurrency queue, replace). */
static void write_concurrency(struct metrics_render *r, struct buf *b, const struct job *job)
{
    struct job_metrics *jm =
        atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    struct job_metrics_snapshot s = {0};
    char extra[64];

    if (job->spec->concurrency != CONCURRENCY_QUEUE &&
        job->spec->concurrency != CONCURRENCY_REPLACE)
        return;
    metrics_job_snapshot(r->m, jm, &s);
    job_label(r, job);
    for (size_t i = 0; i < CONCURRENCY_ACTION_COUNT; i++) {
        int n = snprintf(extra, sizeof(extra), ",action=\"%s\"",
                         concurrency_action_name((enum concurrency_action)i));
        write_job_sample(r, b, F_CONCURRENCY, extra, (size_t)n, false, (int64_t)s.concurrency[i]);
    }
}

static void write_job(struct metrics_render *r, struct buf *b, const struct job *job)
{
    switch (r->section) {
    case S_DURATION:
        write_histogram(r, b, F_DURATION, &r->dur, job);
        break;
    case S_DELAY:
        write_histogram(r, b, F_DELAY, &r->delay, job);
        break;
    case S_LAST_DURATION:
        write_job_gauge(r, b, F_LAST_DURATION, job);
        break;
    case S_LAST_FAILURE:
        write_job_gauge(r, b, F_LAST_FAILURE, job);
        break;
    case S_LAST_RUN:
        write_job_gauge(r, b, F_LAST_RUN, job);
        break;
    case S_LAST_SUCCESS:
        write_job_gauge(r, b, F_LAST_SUCCESS, job);
        break;
    case S_NEXT_RUN:
        write_job_gauge(r, b, F_NEXT_RUN, job);
        break;
    case S_RETRIES:
        write_retries(r, b, job);
        break;
    case S_CONCURRENCY:
        write_concurrency(r, b, job);
        break;
    case S_RUNNING:
        job_label(r, job);
        write_job_sample(r, b, F_RUNNING, "", 0, false,
                         atomic_load_explicit(&job->state->running, memory_order_relaxed));
        break;
    case S_RUNS:
        write_runs(r, b, job);
        break;
    case S_SKIPPED:
        write_skipped(r, b, job);
        break;
    default:
        break;
    }
}

/* --- host sections ---------------------------------------------------------- */

/* Two samples of one family told apart by a label. */
static void write_pair(struct buf *b, enum fam f, const char *label, const char *a,
                       uint64_t va, const char *c, uint64_t vc)
{
    const char *name = families[f].name;
    buf_printf(b, "%s{%s=\"%s\"} %llu\n%s{%s=\"%s\"} %llu\n", name, label, a,
               (unsigned long long)va, name, label, c, (unsigned long long)vc);
}

/* The cluster node's families: after jobhost_build_info, in name order. */
static void write_cluster(struct metrics_render *r, struct buf *b)
{
    const char *hist = families[F_CL_CLAIM_DURATION].name;
    struct cluster_stats st;
    char num[NUMFMT_MAX], sum[NUMFMT_MAX];
    uint64_t cum = 0;

    r->src->cluster(r->src->cluster_arg, &st);
    write_header(b, F_CL_CLAIM_DURATION, r->om);
    for (int i = 0; i < CLUSTER_LATENCY_BUCKETS; i++) {
        numfmt_double(cluster_latency_bounds[i], r->om, num);
        cum = st.latency_buckets[i]; /* cumulative already */
        buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", hist, num, (unsigned long long)cum);
    }
    numfmt_double(st.latency_sum, false, sum);
    buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %s\n%s_count %llu\n", hist,
               (unsigned long long)st.latency_count, hist, sum, hist,
               (unsigned long long)st.latency_count);
    write_header(b, F_CL_CLAIMS, r->om);
    buf_printf(b, "%s{result=\"error\"} %llu\n", families[F_CL_CLAIMS].name,
               (unsigned long long)st.claims_error);
    write_pair(b, F_CL_CLAIMS, "result", "lost", st.claims_lost, "won", st.claims_won);
    write_plain_u64(b, F_CL_COMMANDS, r->om, st.notifications);
    write_plain_u64(b, F_CL_CONFIG_MISMATCH, r->om, st.config_mismatch);
    write_plain_u64(b, F_CL_DB_ERRORS, r->om, st.db_errors);
    write_plain_u64(b, F_CL_FENCED, r->om, st.fenced);
    write_plain_double(b, F_CL_HEARTBEAT_AGE, r->om, st.heartbeat_age_s);
    write_plain_u64(b, F_CL_LEASE_LAPSES, r->om, st.lease_lapses);
    write_header(b, F_CL_LEASE_RENEWALS, r->om);
    write_pair(b, F_CL_LEASE_RENEWALS, "result", "failure", st.renewal_failures, "success",
               st.renewals);
    write_plain_u64(b, F_CL_LEASE_UP, r->om, st.lease_ok ? 1 : 0);
    write_plain_u64(b, F_CL_ABANDONED, r->om, st.reaped);
    write_plain_u64(b, F_CL_RECOVERED, r->om, st.recovered);
}

static void write_head(struct metrics_render *r, struct buf *b)
{
    struct metrics_host_snapshot h;
    char abi[16];

    metrics_host_snapshot(r->m, &h);
    write_header(b, F_BUILD_INFO, r->om);
    buf_puts(b, families[F_BUILD_INFO].name);
    buf_puts(b, "{version=\"");
    escape_into(b, JOBHOST_VERSION, true);
    snprintf(abi, sizeof(abi), "%d", JH_ABI_VERSION);
    buf_puts(b, "\",abi=\"");
    buf_puts(b, abi);
    buf_puts(b, "\"} 1\n");
    if (r->src->cluster)
        write_cluster(r, b);
    write_plain_ns(b, F_RELOAD_SUCCESS_TS, r->om, h.last_reload_success_ns);
    write_plain_u64(b, F_RELOAD_OK, r->om, h.last_reload_ok ? 1 : 0);
    if (r->src->pool) {
        struct executor_stats es;
        r->src->pool(r->src->pool_arg, &es);
        write_plain_u64(b, F_EXEC_BUSY, r->om, es.busy);
        write_plain_u64(b, F_EXEC_QUEUED, r->om, es.queued);
        write_plain_u64(b, F_EXEC_STUCK, r->om, es.stuck);
        write_plain_u64(b, F_EXEC_WORKERS, r->om, es.workers);
    }
}

struct plugins_writer {
    struct buf *b;
    bool any;
    bool om;
};

static void write_plugin(void *arg, const struct metrics_plugin *p)
{
    struct plugins_writer *w = arg;
    if (!w->any) {
        write_header(w->b, F_PLUGINS, w->om);
        w->any = true;
    }
    buf_puts(w->b, families[F_PLUGINS].name);
    buf_puts(w->b, "{plugin=\"");
    escape_into(w->b, p->name, true);
    buf_puts(w->b, "\",version=\"");
    escape_into(w->b, p->version, true);
    buf_puts(w->b, "\"} 1\n");
}

/* The run store's writer: after jobhost_reloads_total, in name order. */
static void write_store(struct metrics_render *r, struct buf *b)
{
    const char *hist = families[F_STORE_WRITE].name;
    struct history_stats st;
    char num[NUMFMT_MAX], *p;

    r->src->store(r->src->store_arg, &st);
    write_plain_u64(b, F_STORE_DROPPED, r->om, st.dropped);
    write_header(b, F_STORE_ERRORS, r->om);
    for (int i = 0; i < HISTORY_OP_COUNT; i++) {
        buf_puts(b, families[F_STORE_ERRORS].name);
        buf_puts(b, "{op=\"");
        buf_puts(b, history_op_name((enum history_op)i));
        p = wbegin(b, NUMFMT_MAX + 4);
        p = put(p, "\"} ", 3);
        p = numfmt_u64(p, st.errors[i]);
        *p++ = '\n';
        wend(b, p);
    }
    write_plain_u64(b, F_STORE_QUEUE, r->om, st.queued);
    write_plain_u64(b, F_STORE_ROWS, r->om, st.rows);
    write_plain_u64(b, F_STORE_UP, r->om, st.up ? 1 : 0);
    write_header(b, F_STORE_WRITE, r->om);
    for (int i = 0; i <= HISTORY_LATENCY_BUCKETS; i++) {
        if (i < HISTORY_LATENCY_BUCKETS)
            numfmt_double(history_latency_bounds[i], r->om, num);
        else
            memcpy(num, "+Inf", 5);
        buf_puts(b, hist);
        buf_puts(b, "_bucket{le=\"");
        buf_puts(b, num);
        p = wbegin(b, NUMFMT_MAX + 4);
        p = put(p, "\"} ", 3);
        p = numfmt_u64(p, st.latency[i]);
        *p++ = '\n';
        wend(b, p);
    }
    buf_puts(b, hist);
    p = wbegin(b, NUMFMT_MAX + 8);
    p = put(p, "_sum ", 5);
    p = numfmt_ns_seconds(p, st.latency_sum_ns);
    *p++ = '\n';
    wend(b, p);
    buf_puts(b, hist);
    p = wbegin(b, NUMFMT_MAX + 8);
    p = put(p, "_count ", 7);
    p = numfmt_u64(p, st.latency[HISTORY_LATENCY_BUCKETS]); /* = the +Inf bucket */
    *p++ = '\n';
    wend(b, p);
}

static void write_notifications(struct metrics_render *r, struct buf *b)
{
    static const char *const results[] = {"dropped", "failed", "sent"};
    struct notify_stats st;

    r->src->notify(r->src->notify_arg, &st);
    write_header(b, F_NOTIFICATIONS, r->om);
    for (int k = 0; k < NOTIFY_KIND_COUNT; k++) {
        for (size_t i = 0; i < ARRAY_SIZE(results); i++) {
            uint64_t v = i == 0 ? st.dropped[k] : i == 1 ? st.failed[k] : st.sent[k];
            char *p;
            buf_puts(b, families[F_NOTIFICATIONS].name);
            buf_puts(b, "{kind=\"");
            buf_puts(b, notify_kind_name((enum notify_kind)k));
            buf_puts(b, "\",result=\"");
            buf_puts(b, results[i]);
            p = wbegin(b, NUMFMT_MAX + 4);
            p = put(p, "\"} ", 3);
            p = numfmt_u64(p, v);
            *p++ = '\n';
            wend(b, p);
        }
    }
}

static void write_tail(struct metrics_render *r, struct buf *b)
{
    struct metrics_host_snapshot h;
    struct plugins_writer pw = {.b = b, .om = r->om};
    struct procstat ps;
    const bool om = r->om;

    metrics_host_snapshot(r->m, &h);
    write_plain_u64(b, F_JOBS, om, h.jobs);
    if (r->src->dropped) {
        write_header(b, F_LOG_DROPPED, om);
        for (size_t i = 0; i < ARRAY_SIZE(log_sinks); i++) {
            char *p;
            buf_puts(b, families[F_LOG_DROPPED].name);
            buf_puts(b, "{sink=\"");
            buf_puts(b, log_sinks[i]);
            p = wbegin(b, NUMFMT_MAX + 4);
            p = put(p, "\"} ", 3);
            p = numfmt_u64(p, r->src->dropped(log_sinks[i]));
            *p++ = '\n';
            wend(b, p);
        }
    }
    if (r->src->notify)
        write_notifications(r, b);
    metrics_each_plugin((struct metrics *)r->m, write_plugin, &pw);
    write_header(b, F_RELOADS, om);
    {
        char *p = wbegin(b, 2 * (strlen(families[F_RELOADS].name) + 32 + NUMFMT_MAX));
        size_t n = strlen(families[F_RELOADS].name);
        p = put(p, families[F_RELOADS].name, n);
        p = put(p, "{result=\"failure\"} ", 19);
        p = numfmt_u64(p, h.reloads_failed);
        *p++ = '\n';
        p = put(p, families[F_RELOADS].name, n);
        p = put(p, "{result=\"success\"} ", 19);
        p = numfmt_u64(p, h.reloads_ok);
        *p++ = '\n';
        wend(b, p);
    }
    if (r->src->store)
        write_store(r, b);
    procstat_read(&ps);
    if (ps.have_stat)
        write_plain_double(b, F_CPU, om, ps.cpu_seconds);
    if (ps.have_max_fds) {
        if (ps.max_fds_unlimited)
            write_plain_double(b, F_MAX_FDS, om, (double)UINT64_MAX);
        else
            write_plain_u64(b, F_MAX_FDS, om, ps.max_fds);
    }
    if (ps.have_open_fds)
        write_plain_u64(b, F_OPEN_FDS, om, ps.open_fds);
    if (ps.have_stat)
        write_plain_u64(b, F_RSS, om, ps.rss_bytes);
    if (ps.have_start_time)
        write_plain_double(b, F_START_TIME, om, ps.start_time_seconds);
    if (ps.have_stat)
        write_plain_u64(b, F_VSZ, om, ps.vsize_bytes);
    if (om)
        buf_puts(b, "# EOF\n");
}

/* --- the cursor --------------------------------------------------------------- */

struct metrics_render *metrics_render_new(const struct metrics_source *src, enum metrics_format f)
{
    struct metrics_render *r;
    const double *bounds;
    size_t n, nd, nl;

    if (f != METRICS_TEXT_004 && f != METRICS_OPENMETRICS_100)
        return NULL;
    r = xcalloc(1, sizeof(*r));
    r->src = src;
    r->m = src->rt->metrics;
    r->om = f == METRICS_OPENMETRICS_100;
    nd = metrics_duration_bounds(r->m, &bounds);
    sfx_init(&r->dur, bounds, nd, r->om);
    nl = metrics_delay_bounds(r->m, &bounds);
    sfx_init(&r->delay, bounds, nl, r->om);
    n = (nd > nl ? nd : nl) + 1;
    r->bk = xcalloc(n, sizeof(*r->bk));
    for (size_t i = 0; i < ARRAY_SIZE(families); i++)
        r->name_len[i] = strlen(families[i].name);
    generation_view_take(src->rt, &r->view);
    r->section = S_HEAD;
    return r;
}

void metrics_render_free(struct metrics_render *r)
{
    if (!r)
        return;
    generation_view_free(&r->view);
    sfx_free(&r->dur);
    sfx_free(&r->delay);
    free(r->bk);
    buf_free(&r->label);
    buf_free(&r->extra);
    free(r);
}

int metrics_render_next(struct metrics_render *r, struct buf *out)
{
    size_t start = out->len;

    buf_reserve(out, METRICS_PIECE + 4096);
    while (r->section != S_DONE && out->len - start < METRICS_PIECE) {
        if (r->section == S_HEAD) {
            write_head(r, out);
        } else if (r->section == S_TAIL) {
            write_tail(r, out);
        } else if (r->next_job < r->view.n_jobs) {
            write_job(r, out, r->view.jobs[r->next_job++]);
            continue;
        }
        /* the section is complete */
        r->section++;
        r->next_job = 0;
        r->header_done = false;
    }
    if (out->data)
        out->data[out->len] = '\0';
    return r->section != S_DONE;
}

int metrics_render_all(const struct metrics_source *src, enum metrics_format f, struct buf *out)
{
    struct metrics_render *r = metrics_render_new(src, f);

    if (!r)
        return -EINVAL;
    while (metrics_render_next(r, out) > 0)
        ;
    metrics_render_free(r);
    return 0;
}

static int stream_next(void *state, struct buf *out)
{
    return metrics_render_next(state, out);
}

static void stream_free(void *state)
{
    metrics_render_free(state);
}

int metrics_render_stream(void *src, enum metrics_format f, struct http_stream *out)
{
    struct metrics_render *r = metrics_render_new(src, f);

    *out = (struct http_stream){0};
    if (!r)
        return -EINVAL;
    *out = (struct http_stream){.next = stream_next, .free = stream_free, .state = r};
    return 0;
}

