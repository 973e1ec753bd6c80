/*
 * metrics — registry and exposition. See metrics.h for the contract.
 *
 * DESIGN. The registry is a set of per-job entries (struct job_metrics)
 * found by id through a small chained hash table, plus a few host-level
 * atomics. Three kinds of thread touch it:
 *
 *   Workers record runs. A run's started/finished pair updates several values
 *   that a scrape must see together (runs_total by result, the histogram
 *   buckets, _sum, running, the last_* gauges). Each job therefore carries a
 *   sequence lock: a writer takes the job's own spinlock (only runs of the
 *   same job ever contend for it; it is held for a dozen stores, no system
 *   call, no allocation), makes `seq` odd, stores the values, makes `seq`
 *   even. The values are C11 atomics (release stores, acquire loads; no
 *   standalone fences, which TSan does not model), so the scheme is
 *   data-race free in C11 terms and under TSan; on x86 every one of those
 *   is a plain mov and the only locked instruction on the run path is the
 *   spinlock exchange. There is no registry-wide lock on the run path.
 *
 *   The scheduler records skips and next-run times: single counters or
 *   gauges that need no consistency with the rest, so they are plain atomic
 *   read-modify-writes outside the sequence lock, and the scheduler never
 *   waits on anything here.
 *
 *   A scrape (HTTP thread) takes the registry mutex only to pin the job list
 *   (a reference per job) and copy the plugin list, then reads each job's
 *   snapshot without any lock: read seq, copy, re-read seq, retry if it moved
 *   (after many retries it takes the job's spinlock once, so it always makes
 *   progress). All snapshots are taken first, then the families are written
 *   one after another (the formats forbid interleaving families), so within
 *   one exposition every job's series agree: sum(runs_total) == _count.
 *
 * Reload: metrics_job_acquire/release count users under the registry mutex;
 * the last release unlinks the entry, and the memory goes when the last pin
 * of a render in flight is dropped (`refs`). The `plugin` label of a kept
 * job may change on reload: it lives in an immutable struct job_labels
 * published through an atomic pointer; replaced ones are kept on a list
 * until the entry is freed, so a render that loaded the old pointer can
 * still read it.
 *
 * Exposition speed: label strings are escaped once per job (and the le="..."
 * suffixes once per registry), each family reserves room for a whole job
 * before writing, and numbers are written by hand: counts as integers,
 * durations and timestamps (integer nanoseconds) as exact decimal seconds
 * ("0.1", "1732912345.123456789"), other doubles in Go's shortest 'g' form.
 */
#include "core/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "core/clock.h"
#include "lib/numfmt.h"
#include "lib/units.h"
#include "lib/utf8.h"

#ifndef JOBHOST_VERSION
#define JOBHOST_VERSION "0.0.0"
#endif

#define CACHE_LINE 64
/* Room for one number written by put_u64/put_i64/put_ns. */
#define NUM_MAX 24
/* Seqlock reads retried this often before the reader takes the job's lock. */
#define READ_RETRIES 64
/* Output reservations from this size on ask for transparent huge pages. */
#define HUGE_HINT_MIN (4u << 20)
#define HUGE_PAGE (2u << 20)

static const double default_duration_buckets[] = {
    .001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600,
};
static const double delay_buckets[] = {
    .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10, 60,
};

static const char *const result_names[METRICS_RESULT_COUNT] = {
    [METRICS_SUCCESS] = "success", [METRICS_FAILURE] = "failure",
    [METRICS_TIMEOUT] = "timeout", [METRICS_CRASHED] = "crashed",
    [METRICS_DRY_RUN] = "dry_run",
};

static const char *const skip_names[METRICS_SKIP_COUNT] = {
    [METRICS_SKIP_MAX_INSTANCES] = "max_instances", [METRICS_SKIP_MISFIRE] = "misfire",
    [METRICS_SKIP_COALESCED] = "coalesced",         [METRICS_SKIP_PAUSED] = "paused",
    [METRICS_SKIP_SHUTDOWN] = "shutdown",
};

static const char *const log_sinks[] = {"file", "syslog", "stderr", "queue"};

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
    F_RELOAD_SUCCESS_TS,
    F_RELOAD_OK,
    F_DURATION,
    F_LAST_DURATION,
    F_LAST_FAILURE,
    F_LAST_RUN,
    F_LAST_SUCCESS,
    F_NEXT_RUN,
    F_RUNNING,
    F_RUNS,
    F_SKIPPED,
    F_DELAY,
    F_JOBS,
    F_LOG_DROPPED,
    F_PLUGINS,
    F_RELOADS,
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
    [F_RELOAD_SUCCESS_TS] = {"jobhost_config_last_reload_success_timestamp_seconds", T_GAUGE,
                             "seconds",
                             "Unix time of the last successful configuration load or reload."},
    [F_RELOAD_OK] = {"jobhost_config_last_reload_successful", T_GAUGE, NULL,
                     "Whether the last configuration reload attempt was successful (1) or "
                     "not (0)."},
    [F_DURATION] = {"jobhost_job_duration_seconds", T_HISTOGRAM, "seconds",
                    "Duration of finished job runs in seconds."},
    [F_LAST_DURATION] = {"jobhost_job_last_duration_seconds", T_GAUGE, "seconds",
                         "Duration of the last finished run of the job in seconds."},
    [F_LAST_FAILURE] = {"jobhost_job_last_failure_timestamp_seconds", T_GAUGE, "seconds",
                        "Unix time the last failed run (failure, timeout or crashed) of the job "
                        "finished."},
    [F_LAST_RUN] = {"jobhost_job_last_run_timestamp_seconds", T_GAUGE, "seconds",
                    "Unix time the last run of the job started."},
    [F_LAST_SUCCESS] = {"jobhost_job_last_success_timestamp_seconds", T_GAUGE, "seconds",
                        "Unix time the last successful run of the job finished."},
    [F_NEXT_RUN] = {"jobhost_job_next_run_timestamp_seconds", T_GAUGE, "seconds",
                    "Unix time of the next scheduled run of the job."},
    [F_RUNNING] = {"jobhost_job_running", T_GAUGE, NULL, "Runs of the job in progress."},
    [F_RUNS] = {"jobhost_job_runs_total", T_COUNTER, NULL,
                "Finished runs of the job by result (success, failure, timeout, crashed, "
                "dry_run)."},
    [F_SKIPPED] = {"jobhost_job_skipped_total", T_COUNTER, NULL,
                   "Firings of the job that did not run, by reason."},
    [F_DELAY] = {"jobhost_job_start_delay_seconds", T_HISTOGRAM, "seconds",
                 "Actual start minus scheduled time of job runs in seconds."},
    [F_JOBS] = {"jobhost_jobs", T_GAUGE, NULL, "Jobs in the active configuration."},
    [F_LOG_DROPPED] = {"jobhost_log_records_dropped_total", T_COUNTER, NULL,
                       "Log records dropped, by sink."},
    [F_PLUGINS] = {"jobhost_plugins_loaded", T_GAUGE, NULL,
                   "Plugins loaded by the active configuration, labeled by name and version."},
    [F_RELOADS] = {"jobhost_reloads_total", T_COUNTER, NULL,
                   "Configuration reload attempts by result."},
    [F_CPU] = {"process_cpu_seconds_total", T_COUNTER, "seconds",
               "Total user and system CPU time spent in seconds."},
    [F_MAX_FDS] = {"process_max_fds", T_GAUGE, NULL, "Maximum number of open file descriptors."},
    [F_OPEN_FDS] = {"process_open_fds", T_GAUGE, NULL, "Number of open file descriptors."},
    [F_RSS] = {"process_resident_memory_bytes", T_GAUGE, "bytes", "Resident memory size in bytes."},
    [F_START_TIME] = {"process_start_time_seconds", T_GAUGE, "seconds",
                      "Start time of the process since unix epoch in seconds."},
    [F_VSZ] = {"process_virtual_memory_bytes", T_GAUGE, "bytes", "Virtual memory size in bytes."},
};

/* --- registry ------------------------------------------------------------ */

/* Bucket layout of one histogram; immutable after metrics_new. */
struct hist_def {
    size_t n;          /* finite upper bounds; bucket n is +Inf */
    int64_t *bound_ns; /* bucket i holds ns <= bound_ns[i] */
    char **sfx[2];     /* per format: ",le=\"0.005\"} " for i in 0..n */
    size_t *sfx_len[2];
    size_t sfx_max;
};

/* The plugin-dependent labels of a job. Immutable once published. */
struct job_labels {
    char *plugin;
    char *runs_lbl; /* ,plugin="<escaped>",result=" */
    size_t runs_lbl_len;
    struct job_labels *older; /* replaced ones, freed with the entry */
};

struct job_metrics {
    /* Set at creation, then read-only (any thread). */
    struct metrics *m;
    char *id;
    char *lbl; /* {job_id="<escaped>"  (no closing brace) */
    size_t lbl_len;

    /* Registry mutex. */
    struct job_metrics *hash_next;
    unsigned users;            /* acquire/release balance */
    struct job_labels *labels_all; /* every labels object ever published */

    /* Swapped under the registry mutex, read by renders without it. */
    _Atomic(struct job_labels *) labels;
    /* 1 while in the registry + 1 per render that pinned the entry. */
    atomic_uint refs;

    /* Scheduler side: outside the sequence lock. */
    _Atomic int64_t next_run_ns;
    _Atomic uint64_t skipped[METRICS_SKIP_COUNT];

    /* Worker side: written under `wlock`, published through `seq`. On its own
     * cache line so that workers do not bounce the scheduler's line. */
    _Alignas(CACHE_LINE) atomic_uint wlock;
    atomic_uint seq;
    _Atomic int64_t running;
    _Atomic uint64_t runs[METRICS_RESULT_COUNT];
    _Atomic uint64_t dur_sum_ns;
    _Atomic uint64_t delay_sum_ns;
    _Atomic int64_t last_duration_ns; /* -1: no run finished yet */
    _Atomic int64_t last_run_ns;      /* 0: never */
    _Atomic int64_t last_success_ns;
    _Atomic int64_t last_failure_ns;
    /* Non-cumulative counts: dur.n + 1 duration buckets, then delay.n + 1.
     * Allocated by the first run (under wlock), so the many jobs that have
     * not run yet cost no bucket memory; NULL reads as all zeros. Published
     * with release, read with acquire. */
    _Atomic(_Atomic uint64_t *) buckets;
};

struct metrics {
    /* Immutable after metrics_new. */
    struct hist_def dur, delay;
    char *build_lbl; /* {version="...",abi="..."} */
    size_t build_lbl_len;
    long clk_tck;
    long page_size;
    bool have_start_time;
    double start_time_s;

    /* Guards everything up to the atomics. Never taken on the run path. */
    pthread_mutex_t lock;
    struct job_metrics **jobs; /* sorted by id when `sorted` */
    size_t n_jobs, cap_jobs;
    bool sorted;
    struct job_metrics **table; /* hash buckets, power of two */
    size_t table_size;
    struct metrics_plugin *plugins; /* owned strings */
    size_t n_plugins;

    /* Any thread. */
    _Atomic uint64_t jobs_gauge;
    _Atomic uint64_t reloads[2]; /* [0] failure, [1] success */
    atomic_bool last_reload_ok;
    _Atomic int64_t last_reload_success_ns;
    _Atomic(metrics_dropped_fn) dropped_fn;
    _Atomic size_t last_render_len; /* to size the next render's buffer */
};

/* --- small helpers -------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *alloc_aligned(size_t size)
{
    size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    void *p = aligned_alloc(CACHE_LINE, size);
    if (!p) {
        fprintf(stderr, "jobhost: out of memory allocating %zu bytes, aborting\n", size);
        abort();
    }
    return p;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Stores of the sequence-locked values. Only the job's lock holder writes
 * them, so an increment is a load and a store, not a locked
 * read-modify-write. The store is a release so that the odd `seq` written
 * before it is visible to any reader that sees the new value (see
 * snap_read); on x86 that is still a plain mov. */
static inline void set_u64(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

static inline void set_i64(_Atomic int64_t *p, int64_t v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

static inline void add_u64(_Atomic uint64_t *p, uint64_t v)
{
    set_u64(p, atomic_load_explicit(p, memory_order_relaxed) + v);
}

static inline void add_i64(_Atomic int64_t *p, int64_t v)
{
    set_i64(p, atomic_load_explicit(p, memory_order_relaxed) + v);
}

/* --- escaping -------------------------------------------------------------- */

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

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* --- buckets ---------------------------------------------------------------- */

int metrics_check_buckets(const double *bounds, size_t n, char *err, size_t errlen)
{
    char a[32], b[32];

    if (n > 0 && isinf(bounds[n - 1]) && bounds[n - 1] > 0)
        n--; /* an explicit trailing +Inf is implied anyway */
    if (n == 0) {
        snprintf(err, errlen, "at least one finite bucket bound is required");
        return -EINVAL;
    }
    if (n > METRICS_MAX_BUCKETS) {
        snprintf(err, errlen, "%zu buckets, at most %d are allowed", n, METRICS_MAX_BUCKETS);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i])) {
            numfmt_double(bounds[i], false, a);
            snprintf(err, errlen, "bucket %zu (%s) is not a finite number", i, a);
            return -EINVAL;
        }
        if (bounds[i] < 0) {
            numfmt_double(bounds[i], false, a);
            snprintf(err, errlen, "bucket %zu (%s) is negative", i, a);
            return -EINVAL;
        }
        if (i > 0 && !(bounds[i] > bounds[i - 1])) {
            numfmt_double(bounds[i], false, a);
            numfmt_double(bounds[i - 1], false, b);
            snprintf(err, errlen, "bucket %zu (%s) is not greater than bucket %zu (%s)", i, a,
                     i - 1, b);
            return -EINVAL;
        }
    }
    return 0;
}

/* The largest whole number of nanoseconds k with k / 1e9 <= b, so that the
 * integer comparison ns <= bound_ns agrees with comparing seconds as doubles:
 * an observation of exactly 0.1 s lands in le="0.1". */
static int64_t bound_to_ns(double b)
{
    double x = floor(b * 1e9);
    if (x >= 9.2e18)
        return INT64_MAX;
    int64_t k = (int64_t)x;
    while (k < INT64_MAX && (double)(k + 1) / 1e9 <= b)
        k++;
    while (k >= 0 && (double)k / 1e9 > b)
        k--;
    return k;
}

static void hist_init(struct hist_def *h, const double *bounds, size_t n)
{
    char num[40];
    struct buf b = {0};

    if (n > 0 && isinf(bounds[n - 1]))
        n--;
    h->n = n;
    h->bound_ns = xcalloc(n ? n : 1, sizeof *h->bound_ns);
    for (size_t i = 0; i < n; i++)
        h->bound_ns[i] = bound_to_ns(bounds[i]);
    for (int f = 0; f < 2; f++) {
        h->sfx[f] = xcalloc(n + 1, sizeof *h->sfx[f]);
        h->sfx_len[f] = xcalloc(n + 1, sizeof *h->sfx_len[f]);
        for (size_t i = 0; i <= n; i++) {
            if (i < n)
                numfmt_double(bounds[i], f == 1, num);
            else
                memcpy(num, "+Inf", 5);
            buf_reset(&b);
            buf_printf(&b, ",le=\"%s\"} ", num);
            h->sfx_len[f][i] = b.len;
            h->sfx[f][i] = xstrndup(b.data, b.len);
            if (b.len > h->sfx_max)
                h->sfx_max = b.len;
        }
    }
    buf_free(&b);
}

static void hist_free(struct hist_def *h)
{
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; h->sfx[f] && i <= h->n; i++)
            free(h->sfx[f][i]);
        free(h->sfx[f]);
        free(h->sfx_len[f]);
    }
    free(h->bound_ns);
}

/* Bucket of an observation: the first i with ns <= bound_ns[i], else n. */
static inline size_t hist_index(const struct hist_def *h, int64_t ns)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ns <= h->bound_ns[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* --- process metrics --------------------------------------------------------- */

static ssize_t read_small_file(const char *path, char *dst, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, dst + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    dst[len] = '\0';
    return (ssize_t)len;
}

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize), 24 (rss) of
 * /proc/self/stat. Returns false when the file cannot be parsed. */
struct proc_stat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
};

static bool read_proc_stat(struct proc_stat *ps)
{
    char text[1024];
    if (read_small_file("/proc/self/stat", text, sizeof text) <= 0)
        return false;
    char *s = strrchr(text, ')'); /* comm may hold spaces and parentheses */
    if (!s)
        return false;
    s++;
    /* s now points at " state ppid ...", i.e. before field 3. */
    for (int field = 3; field <= 24; field++) {
        while (*s == ' ')
            s++;
        if (!*s)
            return false;
        char *end;
        if (field == 3) {
            end = s;
            while (*end && *end != ' ')
                end++;
        } else {
            errno = 0;
            unsigned long long v = strtoull(s, &end, 10);
            if (end == s || errno)
                return false;
            switch (field) {
            case 14: ps->utime = v; break;
            case 15: ps->stime = v; break;
            case 22: ps->starttime = v; break;
            case 23: ps->vsize = v; break;
            case 24: ps->rss = (long long)v; break;
            default: break;
            }
        }
        s = end;
    }
    return true;
}

static bool read_btime(unsigned long long *btime)
{
    char text[8192];
    if (read_small_file("/proc/stat", text, sizeof text) <= 0)
        return false;
    char *s = strstr(text, "\nbtime ");
    if (!s)
        return false;
    char *end;
    errno = 0;
    *btime = strtoull(s + 7, &end, 10);
    return end != s + 7 && !errno;
}

static long count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

/* --- lifecycle ------------------------------------------------------------------ */

struct metrics *metrics_new(const double *duration_buckets, size_t n)
{
    char err[128];
    struct metrics *m;
    struct buf b = {0};

    if (!duration_buckets || n == 0) {
        duration_buckets = default_duration_buckets;
        n = ARRAY_SIZE(default_duration_buckets);
    }
    if (metrics_check_buckets(duration_buckets, n, err, sizeof err) < 0)
        return NULL;

    m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    hist_init(&m->dur, duration_buckets, n);
    hist_init(&m->delay, delay_buckets, ARRAY_SIZE(delay_buckets));
    m->table_size = 64;
    m->table = xcalloc(m->table_size, sizeof *m->table);
    m->sorted = true;

    buf_puts(&b, "{version=\"");
    escape_into(&b, JOBHOST_VERSION, true);
    buf_printf(&b, "\",abi=\"%d\"} ", JH_ABI_VERSION);
    m->build_lbl_len = b.len;
    m->build_lbl = b.data;

    m->clk_tck = sysconf(_SC_CLK_TCK);
    m->page_size = sysconf(_SC_PAGESIZE);
    struct proc_stat ps;
    unsigned long long btime;
    if (m->clk_tck > 0 && read_proc_stat(&ps) && read_btime(&btime)) {
        m->have_start_time = true;
        m->start_time_s = (double)btime + (double)ps.starttime / (double)m->clk_tck;
    }

    atomic_init(&m->jobs_gauge, 0);
    atomic_init(&m->reloads[0], 0);
    atomic_init(&m->reloads[1], 0);
    atomic_init(&m->last_reload_ok, true);
    atomic_init(&m->last_reload_success_ns, wall_ns());
    atomic_init(&m->dropped_fn, NULL);
    atomic_init(&m->last_render_len, 0);
    return m;
}

static void job_free(struct job_metrics *jm)
{
    struct job_labels *l = jm->labels_all;
    while (l) {
        struct job_labels *next = l->older;
        free(l->plugin);
        free(l->runs_lbl);
        free(l);
        l = next;
    }
    free((void *)atomic_load_explicit(&jm->buckets, memory_order_relaxed));
    free(jm->id);
    free(jm->lbl);
    free(jm);
}

static void job_unref(struct job_metrics *jm)
{
    if (atomic_fetch_sub_explicit(&jm->refs, 1, memory_order_acq_rel) == 1)
        job_free(jm);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_jobs; i++)
        job_free(m->jobs[i]);
    free(m->jobs);
    free(m->table);
    for (size_t i = 0; i < m->n_plugins; i++) {
        free((char *)m->plugins[i].name);
        free((char *)m->plugins[i].version);
    }
    free(m->plugins);
    hist_free(&m->dur);
    hist_free(&m->delay);
    free(m->build_lbl);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* --- job entries ------------------------------------------------------------------- */

static struct job_labels *labels_new(const char *plugin)
{
    struct job_labels *l = xcalloc(1, sizeof *l);
    struct buf b = {0};

    l->plugin = xstrdup(plugin);
    buf_puts(&b, ",plugin=\"");
    escape_into(&b, plugin, true);
    buf_puts(&b, "\",result=\"");
    l->runs_lbl_len = b.len;
    l->runs_lbl = b.data;
    return l;
}

static void table_grow(struct metrics *m)
{
    size_t size = m->table_size * 2;
    struct job_metrics **t = xcalloc(size, sizeof *t);
    for (size_t i = 0; i < m->table_size; i++) {
        struct job_metrics *jm = m->table[i];
        while (jm) {
            struct job_metrics *next = jm->hash_next;
            size_t h = hash_str(jm->id) & (size - 1);
            jm->hash_next = t[h];
            t[h] = jm;
            jm = next;
        }
    }
    free(m->table);
    m->table = t;
    m->table_size = size;
}

static struct job_metrics *job_new(struct metrics *m, const char *job_id, const char *plugin)
{
    size_t size = sizeof(struct job_metrics);
    struct job_metrics *jm = alloc_aligned(size);
    struct buf b = {0};

    memset(jm, 0, size);
    jm->m = m;
    jm->id = xstrdup(job_id);
    buf_puts(&b, "{job_id=\"");
    escape_into(&b, job_id, true);
    buf_putc(&b, '"');
    jm->lbl_len = b.len;
    jm->lbl = b.data;
    jm->labels_all = labels_new(plugin);
    atomic_init(&jm->labels, jm->labels_all);
    atomic_init(&jm->refs, 1);
    atomic_init(&jm->next_run_ns, 0);
    for (size_t i = 0; i < METRICS_SKIP_COUNT; i++)
        atomic_init(&jm->skipped[i], 0);
    atomic_init(&jm->wlock, 0);
    atomic_init(&jm->seq, 0);
    atomic_init(&jm->running, 0);
    for (size_t i = 0; i < METRICS_RESULT_COUNT; i++)
        atomic_init(&jm->runs[i], 0);
    atomic_init(&jm->dur_sum_ns, 0);
    atomic_init(&jm->delay_sum_ns, 0);
    atomic_init(&jm->last_duration_ns, -1);
    atomic_init(&jm->last_run_ns, 0);
    atomic_init(&jm->last_success_ns, 0);
    atomic_init(&jm->last_failure_ns, 0);
    atomic_init(&jm->buckets, NULL);
    return jm;
}

struct job_metrics *metrics_job_acquire(struct metrics *m, const char *job_id, const char *plugin)
{
    struct job_metrics *jm;

    if (!plugin)
        plugin = "";
    pthread_mutex_lock(&m->lock);
    size_t h = hash_str(job_id) & (m->table_size - 1);
    for (jm = m->table[h]; jm; jm = jm->hash_next)
        if (strcmp(jm->id, job_id) == 0)
            break;
    if (jm) {
        struct job_labels *cur = atomic_load_explicit(&jm->labels, memory_order_relaxed);
        if (strcmp(cur->plugin, plugin) != 0) {
            struct job_labels *l = labels_new(plugin);
            l->older = jm->labels_all;
            jm->labels_all = l;
            atomic_store_explicit(&jm->labels, l, memory_order_release);
        }
    } else {
        jm = job_new(m, job_id, plugin);
        jm->hash_next = m->table[h];
        m->table[h] = jm;
        if (m->n_jobs == m->cap_jobs) {
            m->cap_jobs = m->cap_jobs ? m->cap_jobs * 2 : 64;
            m->jobs = xrealloc(m->jobs, m->cap_jobs * sizeof *m->jobs);
        }
        if (m->n_jobs > 0 && strcmp(m->jobs[m->n_jobs - 1]->id, job_id) > 0)
            m->sorted = false;
        m->jobs[m->n_jobs++] = jm;
        if (m->n_jobs > m->table_size)
            table_grow(m);
    }
    jm->users++;
    pthread_mutex_unlock(&m->lock);
    return jm;
}

static int cmp_job(const void *a, const void *b)
{
    const struct job_metrics *x = *(struct job_metrics *const *)a;
    const struct job_metrics *y = *(struct job_metrics *const *)b;
    return strcmp(x->id, y->id);
}

/* Registry mutex held. */
static void jobs_sort(struct metrics *m)
{
    if (!m->sorted) {
        qsort(m->jobs, m->n_jobs, sizeof *m->jobs, cmp_job);
        m->sorted = true;
    }
}

void metrics_job_release(struct metrics *m, struct job_metrics *jm)
{
    if (!jm)
        return;
    pthread_mutex_lock(&m->lock);
    if (--jm->users > 0) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    size_t h = hash_str(jm->id) & (m->table_size - 1);
    for (struct job_metrics **pp = &m->table[h]; *pp; pp = &(*pp)->hash_next) {
        if (*pp == jm) {
            *pp = jm->hash_next;
            break;
        }
    }
    size_t i = 0;
    if (m->sorted) {
        size_t lo = 0, hi = m->n_jobs;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(m->jobs[mid]->id, jm->id) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
    } else {
        while (i < m->n_jobs && m->jobs[i] != jm)
            i++;
    }
    if (i < m->n_jobs && m->jobs[i] == jm) {
        memmove(&m->jobs[i], &m->jobs[i + 1], (m->n_jobs - i - 1) * sizeof *m->jobs);
        m->n_jobs--;
    }
    pthread_mutex_unlock(&m->lock);
    job_unref(jm); /* freed now, or by the render that still pins it */
}

/* --- run path ------------------------------------------------------------------------- */

/* The job's writer lock: a test-and-test-and-set spinlock. Holders keep it
 * for a few stores; one preempted while holding it is waited for with
 * sched_yield rather than by burning the CPU it needs. */
static inline void job_lock(struct job_metrics *jm)
{
    while (atomic_exchange_explicit(&jm->wlock, 1, memory_order_acquire)) {
        unsigned spins = 0;
        while (atomic_load_explicit(&jm->wlock, memory_order_relaxed)) {
            if (++spins < 128) {
                cpu_relax();
            } else {
                sched_yield();
                spins = 0;
            }
        }
    }
}

static inline void job_unlock(struct job_metrics *jm)
{
    atomic_store_explicit(&jm->wlock, 0, memory_order_release);
}

static inline void write_begin(struct job_metrics *jm)
{
    job_lock(jm);
    /* Odd: a write is in progress. The value stores that follow are
     * releases, so no reader can see one of them without also seeing this. */
    unsigned s = atomic_load_explicit(&jm->seq, memory_order_relaxed);
    atomic_store_explicit(&jm->seq, s + 1, memory_order_relaxed);
}

static inline void write_end(struct job_metrics *jm)
{
    unsigned s = atomic_load_explicit(&jm->seq, memory_order_relaxed);
    atomic_store_explicit(&jm->seq, s + 1, memory_order_release);
    job_unlock(jm);
}

/* The job's bucket array, allocated on first use. Called under wlock, so
 * only one writer can get here at a time for this job. */
static _Atomic uint64_t *job_buckets(struct job_metrics *jm)
{
    _Atomic uint64_t *b = atomic_load_explicit(&jm->buckets, memory_order_relaxed);
    if (!b) {
        size_t nbk = jm->m->dur.n + 1 + jm->m->delay.n + 1;
        b = xcalloc(nbk, sizeof(*b));
        for (size_t i = 0; i < nbk; i++)
            atomic_init(&b[i], 0);
        atomic_store_explicit(&jm->buckets, b, memory_order_release);
    }
    return b;
}

void metrics_run_started(struct job_metrics *jm, int64_t start_wall_ns, int64_t delay_ns)
{
    if (!jm)
        return;
    if (delay_ns < 0)
        delay_ns = 0;
    const struct metrics *m = jm->m;
    size_t bi = m->dur.n + 1 + hist_index(&m->delay, delay_ns);

    write_begin(jm);
    add_i64(&jm->running, 1);
    set_i64(&jm->last_run_ns, start_wall_ns);
    add_u64(&job_buckets(jm)[bi], 1);
    add_u64(&jm->delay_sum_ns, (uint64_t)delay_ns);
    write_end(jm);
}

void metrics_run_finished(struct job_metrics *jm, enum metrics_result r, int64_t duration_ns,
                          int64_t end_wall_ns)
{
    if (!jm || (unsigned)r >= METRICS_RESULT_COUNT)
        return;
    if (duration_ns < 0)
        duration_ns = 0;
    size_t bi = hist_index(&jm->m->dur, duration_ns);

    write_begin(jm);
    add_i64(&jm->running, -1);
    add_u64(&jm->runs[r], 1);
    add_u64(&job_buckets(jm)[bi], 1);
    add_u64(&jm->dur_sum_ns, (uint64_t)duration_ns);
    set_i64(&jm->last_duration_ns, duration_ns);
    if (r == METRICS_SUCCESS)
        set_i64(&jm->last_success_ns, end_wall_ns);
    else if (r != METRICS_DRY_RUN)
        set_i64(&jm->last_failure_ns, end_wall_ns);
    write_end(jm);
}

void metrics_skipped(struct job_metrics *jm, enum metrics_skip_reason reason)
{
    if (!jm || (unsigned)reason >= METRICS_SKIP_COUNT)
        return;
    atomic_fetch_add_explicit(&jm->skipped[reason], 1, memory_order_relaxed);
}

void metrics_set_next_run(struct job_metrics *jm, int64_t wall_ns)
{
    if (!jm)
        return;
    atomic_store_explicit(&jm->next_run_ns, wall_ns > 0 ? wall_ns : 0, memory_order_relaxed);
}

/* --- host level -------------------------------------------------------------------------- */

void metrics_set_jobs(struct metrics *m, uint64_t n)
{
    atomic_store_explicit(&m->jobs_gauge, n, memory_order_relaxed);
}

void metrics_set_plugins(struct metrics *m, const struct metrics_plugin *list, size_t n)
{
    struct metrics_plugin *copy = n ? xcalloc(n, sizeof *copy) : NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i].name = xstrdup(list[i].name ? list[i].name : "");
        copy[i].version = xstrdup(list[i].version ? list[i].version : "");
    }
    pthread_mutex_lock(&m->lock);
    struct metrics_plugin *old = m->plugins;
    size_t n_old = m->n_plugins;
    m->plugins = copy;
    m->n_plugins = n;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n_old; i++) {
        free((char *)old[i].name);
        free((char *)old[i].version);
    }
    free(old);
}

void metrics_reload(struct metrics *m, bool ok, int64_t wall_ns)
{
    atomic_fetch_add_explicit(&m->reloads[ok ? 1 : 0], 1, memory_order_relaxed);
    if (ok)
        atomic_store_explicit(&m->last_reload_success_ns, wall_ns, memory_order_relaxed);
    atomic_store_explicit(&m->last_reload_ok, ok, memory_order_relaxed);
}

void metrics_set_log_dropped_source(struct metrics *m, metrics_dropped_fn fn)
{
    atomic_store_explicit(&m->dropped_fn, fn, memory_order_release);
}

const char *metrics_result_name(enum metrics_result r)
{
    return (unsigned)r < METRICS_RESULT_COUNT ? result_names[r] : NULL;
}

const char *metrics_skip_reason_name(enum metrics_skip_reason reason)
{
    return (unsigned)reason < METRICS_SKIP_COUNT ? skip_names[reason] : NULL;
}

const char *metrics_content_type(enum metrics_format f)
{
    if (f == METRICS_OPENMETRICS_100)
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    return "text/plain; version=0.0.4; charset=utf-8";
}

/* --- snapshot ----------------------------------------------------------------------------- */

struct snap {
    const struct job_metrics *jm;
    const struct job_labels *labels;
    int64_t running, last_duration, last_run, last_success, last_failure, next_run;
    uint64_t runs[METRICS_RESULT_COUNT];
    uint64_t skipped[METRICS_SKIP_COUNT];
    uint64_t dur_sum, delay_sum;
    uint64_t *bk; /* cumulative: dur.n + 1, then delay.n + 1 */
};

/* Acquire loads: the re-read of `seq` after them cannot move before them. */
static void snap_copy(struct job_metrics *jm, struct snap *s, size_t nbk)
{
    const memory_order r = memory_order_acquire;
    s->running = atomic_load_explicit(&jm->running, r);
    for (size_t i = 0; i < METRICS_RESULT_COUNT; i++)
        s->runs[i] = atomic_load_explicit(&jm->runs[i], r);
    s->dur_sum = atomic_load_explicit(&jm->dur_sum_ns, r);
    s->delay_sum = atomic_load_explicit(&jm->delay_sum_ns, r);
    s->last_duration = atomic_load_explicit(&jm->last_duration_ns, r);
    s->last_run = atomic_load_explicit(&jm->last_run_ns, r);
    s->last_success = atomic_load_explicit(&jm->last_success_ns, r);
    s->last_failure = atomic_load_explicit(&jm->last_failure_ns, r);
    _Atomic uint64_t *b = atomic_load_explicit(&jm->buckets, r);
    for (size_t i = 0; i < nbk; i++)
        s->bk[i] = b ? atomic_load_explicit(&b[i], r) : 0;
}

/* One consistent reading of a job's worker-side values (see DESIGN). */
static void snap_read(struct job_metrics *jm, struct snap *s, size_t nbk)
{
    for (unsigned tries = 0; tries < READ_RETRIES; tries++) {
        unsigned s1 = atomic_load_explicit(&jm->seq, memory_order_acquire);
        if (s1 & 1) {
            cpu_relax();
            continue;
        }
        snap_copy(jm, s, nbk);
        if (atomic_load_explicit(&jm->seq, memory_order_relaxed) == s1)
            return;
    }
    /* Writers kept the job busy: take their lock once, which they hold only
     * for a few stores. */
    job_lock(jm);
    snap_copy(jm, s, nbk);
    job_unlock(jm);
}

/* --- writing --------------------------------------------------------------------------------- */

/* Reserves room for a whole exposition up front. A fresh buffer of tens of
 * MB would otherwise take one page fault per 4 KiB on first touch (about
 * half of a cold 10,000-job render); transparent huge pages cut that to one
 * per 2 MiB. Only a hint: without THP (or with it off) nothing changes. */
static void reserve_output(struct buf *b, size_t need)
{
    char *old = b->data;
    size_t old_cap = b->cap;

    buf_reserve(b, need);
#ifdef MADV_HUGEPAGE
    if (need >= HUGE_HINT_MIN && (b->data != old || b->cap != old_cap)) {
        const uintptr_t mask = ~(uintptr_t)(HUGE_PAGE - 1);
        uintptr_t lo = ((uintptr_t)(b->data + b->len) + HUGE_PAGE - 1) & mask;
        uintptr_t hi = (uintptr_t)(b->data + b->cap) & mask;
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
#else
    (void)old;
    (void)old_cap;
#endif
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
    char *p = wbegin(b, NUM_MAX + 2);
    *p++ = ' ';
    p = numfmt_u64(p, v);
    *p++ = '\n';
    wend(b, p);
}

static void write_plain_double(struct buf *b, enum fam f, bool om, double v)
{
    char num[32];
    numfmt_double(v, false, num);
    write_header(b, f, om);
    buf_printf(b, "%s %s\n", families[f].name, num);
}

static void write_plain_ns(struct buf *b, enum fam f, bool om, int64_t ns)
{
    write_header(b, f, om);
    buf_puts(b, families[f].name);
    char *p = wbegin(b, NUM_MAX + 2);
    *p++ = ' ';
    p = numfmt_ns_seconds(p, ns);
    *p++ = '\n';
    wend(b, p);
}

static void write_histogram(struct buf *b, enum fam f, bool om, const struct hist_def *h,
                            const struct snap *snaps, size_t n, size_t bk_off, bool delay)
{
    const char *name = families[f].name;
    size_t nlen = strlen(name);
    char nb[96], ns[96], nc[96];
    size_t lb = (size_t)snprintf(nb, sizeof nb, "%s_bucket", name);
    size_t ls = (size_t)snprintf(ns, sizeof ns, "%s_sum", name);
    size_t lc = (size_t)snprintf(nc, sizeof nc, "%s_count", name);
    int fi = om ? 1 : 0;

    if (n == 0)
        return;
    write_header(b, f, om);
    for (size_t j = 0; j < n; j++) {
        const struct snap *s = &snaps[j];
        const struct job_metrics *jm = s->jm;
        size_t line = nlen + 8 + jm->lbl_len + h->sfx_max + NUM_MAX + 2;
        char *p = wbegin(b, line * (h->n + 3));
        const uint64_t *bk = s->bk + bk_off;

        for (size_t i = 0; i <= h->n; i++) {
            p = put(p, nb, lb);
            p = put(p, jm->lbl, jm->lbl_len);
            p = put(p, h->sfx[fi][i], h->sfx_len[fi][i]);
            p = numfmt_u64(p, bk[i]);
            *p++ = '\n';
        }
        p = put(p, ns, ls);
        p = put(p, jm->lbl, jm->lbl_len);
        p = put(p, "} ", 2);
        p = numfmt_ns_seconds(p, (int64_t)(delay ? s->delay_sum : s->dur_sum));
        *p++ = '\n';
        p = put(p, nc, lc);
        p = put(p, jm->lbl, jm->lbl_len);
        p = put(p, "} ", 2);
        p = numfmt_u64(p, bk[h->n]);
        *p++ = '\n';
        wend(b, p);
    }
}

enum gauge_field { G_LAST_DURATION, G_LAST_FAILURE, G_LAST_RUN, G_LAST_SUCCESS, G_NEXT_RUN };

static int64_t gauge_value(const struct snap *s, enum gauge_field g)
{
    switch (g) {
    case G_LAST_DURATION: return s->last_duration;
    case G_LAST_FAILURE: return s->last_failure;
    case G_LAST_RUN: return s->last_run;
    case G_LAST_SUCCESS: return s->last_success;
    case G_NEXT_RUN: return s->next_run;
    }
    return -1;
}

/* A per-job gauge in seconds; absent while its value is unset (a duration
 * below 0, a timestamp at or below 0). */
static void write_job_gauge_ns(struct buf *b, enum fam f, bool om, const struct snap *snaps,
                               size_t n, enum gauge_field g)
{
    const char *name = families[f].name;
    size_t nlen = strlen(name);
    bool any = false;

    for (size_t j = 0; j < n; j++) {
        int64_t v = gauge_value(&snaps[j], g);
        if (g == G_LAST_DURATION ? v < 0 : v <= 0)
            continue;
        if (!any) {
            write_header(b, f, om);
            any = true;
        }
        const struct job_metrics *jm = snaps[j].jm;
        char *p = wbegin(b, nlen + jm->lbl_len + NUM_MAX + 4);
        p = put(p, name, nlen);
        p = put(p, jm->lbl, jm->lbl_len);
        p = put(p, "} ", 2);
        p = numfmt_ns_seconds(p, v);
        *p++ = '\n';
        wend(b, p);
    }
}

static void write_running(struct buf *b, bool om, const struct snap *snaps, size_t n)
{
    const char *name = families[F_RUNNING].name;
    size_t nlen = strlen(name);

    if (n == 0)
        return;
    write_header(b, F_RUNNING, om);
    for (size_t j = 0; j < n; j++) {
        const struct job_metrics *jm = snaps[j].jm;
        char *p = wbegin(b, nlen + jm->lbl_len + NUM_MAX + 4);
        p = put(p, name, nlen);
        p = put(p, jm->lbl, jm->lbl_len);
        p = put(p, "} ", 2);
        p = numfmt_i64(p, snaps[j].running);
        *p++ = '\n';
        wend(b, p);
    }
}

static void write_runs(struct buf *b, bool om, const struct snap *snaps, size_t n)
{
    const char *name = families[F_RUNS].name;
    size_t nlen = strlen(name);
    char sfx[METRICS_RESULT_COUNT][24];
    size_t sfx_len[METRICS_RESULT_COUNT], sfx_max = 0;

    if (n == 0)
        return;
    for (size_t r = 0; r < METRICS_RESULT_COUNT; r++) {
        sfx_len[r] = (size_t)snprintf(sfx[r], sizeof sfx[r], "%s\"} ", result_names[r]);
        if (sfx_len[r] > sfx_max)
            sfx_max = sfx_len[r];
    }
    write_header(b, F_RUNS, om);
    for (size_t j = 0; j < n; j++) {
        const struct job_metrics *jm = snaps[j].jm;
        const struct job_labels *l = snaps[j].labels;
        size_t line = nlen + jm->lbl_len + l->runs_lbl_len + sfx_max + NUM_MAX + 2;
        char *p = wbegin(b, line * METRICS_RESULT_COUNT);
        for (size_t r = 0; r < METRICS_RESULT_COUNT; r++) {
            p = put(p, name, nlen);
            p = put(p, jm->lbl, jm->lbl_len);
            p = put(p, l->runs_lbl, l->runs_lbl_len);
            p = put(p, sfx[r], sfx_len[r]);
            p = numfmt_u64(p, snaps[j].runs[r]);
            *p++ = '\n';
        }
        wend(b, p);
    }
}

static void write_skipped(struct buf *b, bool om, const struct snap *snaps, size_t n)
{
    const char *name = families[F_SKIPPED].name;
    size_t nlen = strlen(name);
    char sfx[METRICS_SKIP_COUNT][40];
    size_t sfx_len[METRICS_SKIP_COUNT], sfx_max = 0;

    if (n == 0)
        return;
    for (size_t r = 0; r < METRICS_SKIP_COUNT; r++) {
        sfx_len[r] = (size_t)snprintf(sfx[r], sizeof sfx[r], ",reason=\"%s\"} ", skip_names[r]);
        if (sfx_len[r] > sfx_max)
            sfx_max = sfx_len[r];
    }
    write_header(b, F_SKIPPED, om);
    for (size_t j = 0; j < n; j++) {
        const struct job_metrics *jm = snaps[j].jm;
        size_t line = nlen + jm->lbl_len + sfx_max + NUM_MAX + 2;
        char *p = wbegin(b, line * METRICS_SKIP_COUNT);
        for (size_t r = 0; r < METRICS_SKIP_COUNT; r++) {
            p = put(p, name, nlen);
            p = put(p, jm->lbl, jm->lbl_len);
            p = put(p, sfx[r], sfx_len[r]);
            p = numfmt_u64(p, snaps[j].skipped[r]);
            *p++ = '\n';
        }
        wend(b, p);
    }
}

static void write_process(struct metrics *m, struct buf *b, bool om)
{
    struct proc_stat ps;
    bool have_stat = read_proc_stat(&ps);
    struct rlimit rl;

    if (have_stat && m->clk_tck > 0)
        write_plain_double(b, F_CPU, om, (double)(ps.utime + ps.stime) / (double)m->clk_tck);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            write_plain_double(b, F_MAX_FDS, om, (double)UINT64_MAX);
        else
            write_plain_u64(b, F_MAX_FDS, om, (uint64_t)rl.rlim_cur);
    }
    long fds = count_open_fds();
    if (fds >= 0)
        write_plain_u64(b, F_OPEN_FDS, om, (uint64_t)fds);
    if (have_stat && m->page_size > 0 && ps.rss >= 0)
        write_plain_u64(b, F_RSS, om, (uint64_t)ps.rss * (uint64_t)m->page_size);
    if (m->have_start_time)
        write_plain_double(b, F_START_TIME, om, m->start_time_s);
    if (have_stat)
        write_plain_u64(b, F_VSZ, om, ps.vsize);
}

int metrics_render(struct metrics *m, enum metrics_format f, struct buf *out)
{
    if (f != METRICS_TEXT_004 && f != METRICS_OPENMETRICS_100)
        return -EINVAL;
    const bool om = f == METRICS_OPENMETRICS_100;
    const size_t nbk = m->dur.n + 1 + m->delay.n + 1;
    struct buf plugins = {0};
    struct job_metrics **pins;
    size_t n;

    /* 1. Pin the job list and format the plugin list, under the mutex. */
    pthread_mutex_lock(&m->lock);
    jobs_sort(m);
    n = m->n_jobs;
    pins = xmalloc((n ? n : 1) * sizeof *pins);
    for (size_t j = 0; j < n; j++) {
        pins[j] = m->jobs[j];
        atomic_fetch_add_explicit(&pins[j]->refs, 1, memory_order_relaxed);
    }
    for (size_t i = 0; i < m->n_plugins; i++) {
        buf_puts(&plugins, families[F_PLUGINS].name);
        buf_puts(&plugins, "{plugin=\"");
        escape_into(&plugins, m->plugins[i].name, true);
        buf_puts(&plugins, "\",version=\"");
        escape_into(&plugins, m->plugins[i].version, true);
        buf_puts(&plugins, "\"} 1\n");
    }
    pthread_mutex_unlock(&m->lock);

    /* 2. Snapshot every job, without locks. */
    struct snap *snaps = xmalloc((n ? n : 1) * sizeof *snaps);
    uint64_t *bks = xmalloc((n ? n : 1) * nbk * sizeof *bks);
    for (size_t j = 0; j < n; j++) {
        struct job_metrics *jm = pins[j];
        struct snap *s = &snaps[j];
        s->jm = jm;
        s->labels = atomic_load_explicit(&jm->labels, memory_order_acquire);
        s->bk = bks + j * nbk;
        snap_read(jm, s, nbk);
        s->next_run = atomic_load_explicit(&jm->next_run_ns, memory_order_relaxed);
        for (size_t r = 0; r < METRICS_SKIP_COUNT; r++)
            s->skipped[r] = atomic_load_explicit(&jm->skipped[r], memory_order_relaxed);
        /* Internal buckets are per-interval; the formats want them cumulative. */
        for (size_t i = 1; i <= m->dur.n; i++)
            s->bk[i] += s->bk[i - 1];
        uint64_t *d = s->bk + m->dur.n + 1;
        for (size_t i = 1; i <= m->delay.n; i++)
            d[i] += d[i - 1];
    }

    /* 3. The families, in order. Sized from the last render (or ~3.6 kB per
     * job with the default buckets), plus slack. */
    size_t last = atomic_load_explicit(&m->last_render_len, memory_order_relaxed);
    size_t start_len = out->len;
    reserve_output(out, (last ? last + last / 16 : n * 3600) + 65536);
    write_header(out, F_BUILD_INFO, om);
    buf_puts(out, families[F_BUILD_INFO].name);
    buf_append(out, m->build_lbl, m->build_lbl_len);
    buf_append(out, "1\n", 2);
    write_plain_ns(out, F_RELOAD_SUCCESS_TS, om,
                   atomic_load_explicit(&m->last_reload_success_ns, memory_order_relaxed));
    write_plain_u64(out, F_RELOAD_OK, om,
                    atomic_load_explicit(&m->last_reload_ok, memory_order_relaxed) ? 1 : 0);
    write_histogram(out, F_DURATION, om, &m->dur, snaps, n, 0, false);
    write_job_gauge_ns(out, F_LAST_DURATION, om, snaps, n, G_LAST_DURATION);
    write_job_gauge_ns(out, F_LAST_FAILURE, om, snaps, n, G_LAST_FAILURE);
    write_job_gauge_ns(out, F_LAST_RUN, om, snaps, n, G_LAST_RUN);
    write_job_gauge_ns(out, F_LAST_SUCCESS, om, snaps, n, G_LAST_SUCCESS);
    write_job_gauge_ns(out, F_NEXT_RUN, om, snaps, n, G_NEXT_RUN);
    write_running(out, om, snaps, n);
    write_runs(out, om, snaps, n);
    write_skipped(out, om, snaps, n);
    write_histogram(out, F_DELAY, om, &m->delay, snaps, n, m->dur.n + 1, true);
    write_plain_u64(out, F_JOBS, om, atomic_load_explicit(&m->jobs_gauge, memory_order_relaxed));

    metrics_dropped_fn dropped = atomic_load_explicit(&m->dropped_fn, memory_order_acquire);
    if (dropped) {
        write_header(out, F_LOG_DROPPED, om);
        for (size_t i = 0; i < ARRAY_SIZE(log_sinks); i++)
            buf_printf(out, "%s{sink=\"%s\"} %llu\n", families[F_LOG_DROPPED].name, log_sinks[i],
                       (unsigned long long)dropped(log_sinks[i]));
    }
    if (plugins.len) {
        write_header(out, F_PLUGINS, om);
        buf_append(out, plugins.data, plugins.len);
    }
    write_header(out, F_RELOADS, om);
    buf_printf(out, "%s{result=\"failure\"} %llu\n%s{result=\"success\"} %llu\n",
               families[F_RELOADS].name,
               (unsigned long long)atomic_load_explicit(&m->reloads[0], memory_order_relaxed),
               families[F_RELOADS].name,
               (unsigned long long)atomic_load_explicit(&m->reloads[1], memory_order_relaxed));
    write_process(m, out, om);
    if (om)
        buf_puts(out, "# EOF\n");
    out->data[out->len] = '\0';
    atomic_store_explicit(&m->last_render_len, out->len - start_len, memory_order_relaxed);

    /* 4. Unpin; an entry released meanwhile is freed here. */
    for (size_t j = 0; j < n; j++)
        job_unref(pins[j]);
    free(pins);
    free(snaps);
    free(bks);
    buf_free(&plugins);
    return 0;
}

int metrics_render_cb(void *m, enum metrics_format f, struct buf *out)
{
    return metrics_render(m, f, out);
}
