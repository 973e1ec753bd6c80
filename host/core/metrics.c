/*
 * metrics — the registry. See metrics.h for the contract.
 *
 * DESIGN. A job's block is written by the workers that run it and read by
 * the exposition and the jobs API. A run's start and finish each update
 * several values that a reader must see together (runs_total by result, a
 * histogram's buckets and _sum, the last run), so each block carries a
 * sequence lock: a writer takes the block's own spinlock (only runs of the
 * same job ever contend for it; it is held for a dozen stores, no system
 * call, no allocation), makes `seq` odd, stores the values, makes `seq`
 * even. The values are C11 atomics (release stores, acquire loads; no
 * standalone fences, which TSan does not model), so the scheme is data-race
 * free in C11 terms and under TSan; on x86 every one of them is a plain
 * mov and the only locked instruction on the run path is the spinlock
 * exchange. A reader copies between two reads of `seq` and retries when it
 * moved; after many retries it takes the spinlock once, so it always makes
 * progress. Skips are plain atomic adds outside the sequence lock: nothing
 * needs to agree with them.
 *
 * The host-level values are atomics too, but the plugin list, which is
 * replaced whole on reload, sits behind `plugins_lock`.
 */
#include "core/metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "lib/numfmt.h"
#include "lib/util.h"

#define CACHE_LINE 64
/* Seqlock reads retried this often before the reader takes the job's lock. */
#define READ_RETRIES 64

static const double default_duration_buckets[] = {
    .001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600,
};
static const double delay_buckets[] = {
    .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10, 60,
};

/* Bucket layout of one histogram; immutable after metrics_new. */
struct hist_def {
    size_t n;          /* finite upper bounds; bucket n is +Inf */
    double *bounds;    /* seconds */
    int64_t *bound_ns; /* bucket i holds ns <= bound_ns[i] */
};

/* The last results of a job, newest in the low bits, 3 bits each, 7 for
 * none: METRICS_RECENT of them in one word. */
#define RECENT_BITS 3
#define RECENT_NONE 7u
#define RECENT_MASK ((UINT64_C(1) << (RECENT_BITS * METRICS_RECENT)) - 1)
_Static_assert(RUN_RESULT_COUNT <= (int)RECENT_NONE, "a result must fit in RECENT_BITS");
_Static_assert(RECENT_BITS * METRICS_RECENT <= 64, "the strip must fit in a word");

struct job_metrics {
    /* Written by skips and retries, outside the sequence lock. */
    _Atomic uint64_t skipped[SKIP_REASON_COUNT];
    _Atomic uint64_t retries;
    _Atomic uint64_t concurrency[CONCURRENCY_ACTION_COUNT];
    _Atomic int64_t last_missed_ns; /* the last misfire skip, wall clock; 0: never, or a
                                       run started since */

    /* Worker side: written under `wlock`, published through `seq`. On its
     * own cache line so that runs do not bounce the skip counters' line. */
    _Alignas(CACHE_LINE) atomic_uint wlock;
    atomic_uint seq;
    _Atomic uint64_t runs[RUN_RESULT_COUNT];
    _Atomic uint64_t dur_sum_ns;
    _Atomic uint64_t delay_sum_ns;
    _Atomic int64_t last_duration_ns; /* -1: no run finished yet */
    _Atomic int64_t last_run_ns;      /* 0: never */
    _Atomic int64_t last_success_ns;
    _Atomic int64_t last_failure_ns;
    /* The last finished run, for the jobs API. */
    _Atomic uint64_t last_id; /* 0: none */
    _Atomic int last_result;
    _Atomic int64_t last_start_ns;
    _Atomic uint64_t recent; /* the last results, see RECENT_BITS */
    /* Its error text: replaced under wlock, read under wlock (the API is
     * rare); NULL when the run set none, so a succeeding job pays nothing. */
    char *last_error;
    /* Non-cumulative counts: dur.n + 1 duration buckets, then delay.n + 1;
     * allocated with the block. */
    size_t n_buckets;
    _Atomic uint64_t buckets[];
};

struct metrics {
    /* Immutable after metrics_new. */
    struct hist_def dur, delay;

    /* Any thread. */
    _Atomic uint64_t jobs_gauge;
    _Atomic uint64_t reloads[2]; /* [0] failure, [1] success */
    atomic_bool last_reload_ok;
    _Atomic int64_t last_reload_success_ns;

    pthread_mutex_t plugins_lock; /* guards plugins */
    struct metrics_plugin *plugins; /* owned strings */
    size_t n_plugins;
};

/* --- small helpers -------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Single-writer updates: the spinlock orders writers, so a load and a
 * release store do (no locked read-modify-write on the run path). */
static inline void set_i64(_Atomic int64_t *p, int64_t v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

static inline void add_u64(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
                          memory_order_release);
}

/* --- buckets ---------------------------------------------------------------- */

int metrics_check_buckets(const double *bounds, size_t n, char *err, size_t errlen)
{
    char a[NUMFMT_MAX], b[NUMFMT_MAX];

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
    if (n > 0 && isinf(bounds[n - 1]))
        n--;
    h->n = n;
    h->bounds = xcalloc(n ? n : 1, sizeof *h->bounds);
    h->bound_ns = xcalloc(n ? n : 1, sizeof *h->bound_ns);
    for (size_t i = 0; i < n; i++) {
        h->bounds[i] = bounds[i];
        h->bound_ns[i] = bound_to_ns(bounds[i]);
    }
}

static void hist_free(struct hist_def *h)
{
    free(h->bounds);
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

size_t metrics_duration_bounds(const struct metrics *m, const double **bounds)
{
    *bounds = m->dur.bounds;
    return m->dur.n;
}

size_t metrics_delay_bounds(const struct metrics *m, const double **bounds)
{
    *bounds = m->delay.bounds;
    return m->delay.n;
}

/* --- lifecycle ------------------------------------------------------------------ */

struct metrics *metrics_new(const double *duration_buckets, size_t n)
{
    char err[128];
    struct metrics *m;

    if (!duration_buckets || n == 0) {
        duration_buckets = default_duration_buckets;
        n = ARRAY_SIZE(default_duration_buckets);
    }
    if (metrics_check_buckets(duration_buckets, n, err, sizeof err) < 0)
        return NULL;

    m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->plugins_lock, NULL);
    hist_init(&m->dur, duration_buckets, n);
    hist_init(&m->delay, delay_buckets, ARRAY_SIZE(delay_buckets));
    atomic_init(&m->jobs_gauge, 0);
    atomic_init(&m->reloads[0], 0);
    atomic_init(&m->reloads[1], 0);
    atomic_init(&m->last_reload_ok, true);
    atomic_init(&m->last_reload_success_ns, wall_ns());
    return m;
}

static void free_plugins(struct metrics_plugin *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)list[i].name);
        free((char *)list[i].version);
    }
    free(list);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    free_plugins(m->plugins, m->n_plugins);
    hist_free(&m->dur);
    hist_free(&m->delay);
    pthread_mutex_destroy(&m->plugins_lock);
    free(m);
}

/* --- job blocks ------------------------------------------------------------------ */

struct job_metrics *metrics_job_new(struct metrics *m)
{
    size_t nbk = m->dur.n + 1 + m->delay.n + 1;
    size_t size = sizeof(struct job_metrics) + nbk * sizeof(_Atomic uint64_t);
    struct job_metrics *jm;

    size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    jm = aligned_alloc(CACHE_LINE, size);
    if (!jm) {
        fprintf(stderr, "jobhost: out of memory allocating %zu bytes, aborting\n", size);
        abort();
    }
    memset(jm, 0, size);
    for (size_t i = 0; i < SKIP_REASON_COUNT; i++)
        atomic_init(&jm->skipped[i], 0);
    atomic_init(&jm->wlock, 0);
    atomic_init(&jm->seq, 0);
    for (size_t i = 0; i < RUN_RESULT_COUNT; i++)
        atomic_init(&jm->runs[i], 0);
    atomic_init(&jm->dur_sum_ns, 0);
    atomic_init(&jm->delay_sum_ns, 0);
    atomic_init(&jm->last_duration_ns, -1);
    atomic_init(&jm->last_run_ns, 0);
    atomic_init(&jm->last_success_ns, 0);
    atomic_init(&jm->last_failure_ns, 0);
    atomic_init(&jm->last_id, 0);
    atomic_init(&jm->last_result, 0);
    atomic_init(&jm->last_start_ns, 0);
    atomic_init(&jm->recent, RECENT_MASK); /* every slot RECENT_NONE */
    atomic_init(&jm->last_missed_ns, 0);
    jm->n_buckets = nbk;
    for (size_t i = 0; i < nbk; i++)
        atomic_init(&jm->buckets[i], 0);
    return jm;
}

void metrics_job_free(struct job_metrics *jm)
{
    if (!jm)
        return;
    free(jm->last_error);
    free(jm);
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

void metrics_run_started(const struct metrics *m, struct job_metrics *jm, int64_t start_wall_ns,
                         int64_t delay_ns)
{
    if (delay_ns < 0)
        delay_ns = 0;
    size_t bi = m->dur.n + 1 + hist_index(&m->delay, delay_ns);

    write_begin(jm);
    set_i64(&jm->last_run_ns, start_wall_ns);
    add_u64(&jm->buckets[bi], 1);
    add_u64(&jm->delay_sum_ns, (uint64_t)delay_ns);
    write_end(jm);
    /* a run since: the job is no longer "missed" (read first: most runs
     * follow no misfire, and the line stays clean) */
    if (atomic_load_explicit(&jm->last_missed_ns, memory_order_relaxed))
        atomic_store_explicit(&jm->last_missed_ns, 0, memory_order_relaxed);
}

void metrics_run_finished(const struct metrics *m, struct job_metrics *jm, const struct run *run)
{
    enum run_result r = run->result;
    int64_t duration_ns = run->duration_ns < 0 ? 0 : run->duration_ns;
    int64_t end_wall_ns = clock_add(run->start_wall_ns, duration_ns);
    size_t bi = hist_index(&m->dur, duration_ns);
    char *error = NULL, *old;

    if ((unsigned)r >= RUN_RESULT_COUNT)
        return;
    /* A failing job allocates its message on each run; a succeeding one,
     * the common case, allocates nothing. */
    if (run->error[0])
        error = xstrndup(run->error, strnlen(run->error, RUN_ERROR_MAX - 1));

    write_begin(jm);
    add_u64(&jm->runs[r], 1);
    add_u64(&jm->buckets[bi], 1);
    add_u64(&jm->dur_sum_ns, (uint64_t)duration_ns);
    set_i64(&jm->last_duration_ns, duration_ns);
    if (r == RUN_SUCCESS)
        set_i64(&jm->last_success_ns, end_wall_ns);
    else if (run_result_failed(r))
        set_i64(&jm->last_failure_ns, end_wall_ns);
    atomic_store_explicit(&jm->last_id, run->id, memory_order_release);
    atomic_store_explicit(&jm->last_result, (int)r, memory_order_release);
    set_i64(&jm->last_start_ns, run->start_wall_ns);
    atomic_store_explicit(&jm->recent,
                          ((atomic_load_explicit(&jm->recent, memory_order_relaxed) << RECENT_BITS) |
                           (uint64_t)r) &
                              RECENT_MASK,
                          memory_order_relaxed);
    old = jm->last_error;
    jm->last_error = error;
    write_end(jm);
    free(old);
}

void metrics_retried(struct job_metrics *jm)
{
    atomic_fetch_add_explicit(&jm->retries, 1, memory_order_relaxed);
}

void metrics_concurrency(struct job_metrics *jm, enum concurrency_action a)
{
    if ((unsigned)a < CONCURRENCY_ACTION_COUNT)
        atomic_fetch_add_explicit(&jm->concurrency[a], 1, memory_order_relaxed);
}

void metrics_skipped(struct job_metrics *jm, enum skip_reason reason, uint64_t count)
{
    if ((unsigned)reason >= SKIP_REASON_COUNT)
        return;
    atomic_fetch_add_explicit(&jm->skipped[reason], count, memory_order_relaxed);
    if (reason == SKIP_MISFIRE)
        atomic_store_explicit(&jm->last_missed_ns, wall_ns(), memory_order_relaxed);
}

size_t metrics_job_recent(struct job_metrics *jm, enum run_result out[METRICS_RECENT])
{
    uint64_t bits;
    size_t n = 0;

    if (!jm)
        return 0;
    bits = atomic_load_explicit(&jm->recent, memory_order_relaxed);
    while (n < METRICS_RECENT && ((bits >> (RECENT_BITS * n)) & RECENT_NONE) != RECENT_NONE)
        n++;
    for (size_t i = 0; i < n; i++) /* oldest first */
        out[i] = (enum run_result)((bits >> (RECENT_BITS * (n - 1 - i))) & RECENT_NONE);
    return n;
}

int64_t metrics_job_missed(struct job_metrics *jm)
{
    return jm ? atomic_load_explicit(&jm->last_missed_ns, memory_order_relaxed) : 0;
}

/* --- readers ------------------------------------------------------------------------------- */

/* Acquire loads: the re-read of `seq` after them cannot move before them.
 * Buckets are stored per interval and read cumulative. */
static void snap_copy(const struct metrics *m, struct job_metrics *jm,
                      struct job_metrics_snapshot *s)
{
    const memory_order r = memory_order_acquire;
    for (size_t i = 0; i < RUN_RESULT_COUNT; i++)
        s->runs[i] = atomic_load_explicit(&jm->runs[i], r);
    s->dur_sum_ns = atomic_load_explicit(&jm->dur_sum_ns, r);
    s->delay_sum_ns = atomic_load_explicit(&jm->delay_sum_ns, r);
    s->last_duration_ns = atomic_load_explicit(&jm->last_duration_ns, r);
    s->last_run_ns = atomic_load_explicit(&jm->last_run_ns, r);
    s->last_success_ns = atomic_load_explicit(&jm->last_success_ns, r);
    s->last_failure_ns = atomic_load_explicit(&jm->last_failure_ns, r);
    if (s->dur_buckets) {
        uint64_t sum = 0;
        for (size_t i = 0; i <= m->dur.n; i++)
            s->dur_buckets[i] = sum += atomic_load_explicit(&jm->buckets[i], r);
    }
    if (s->delay_buckets) {
        uint64_t sum = 0;
        const _Atomic uint64_t *d = jm->buckets + m->dur.n + 1;
        for (size_t i = 0; i <= m->delay.n; i++)
            s->delay_buckets[i] = sum += atomic_load_explicit(&d[i], r);
    }
}

void metrics_job_snapshot(const struct metrics *m, struct job_metrics *jm,
                          struct job_metrics_snapshot *s)
{
    if (!jm) {
        uint64_t *db = s->dur_buckets, *lb = s->delay_buckets;
        memset(s, 0, sizeof(*s));
        s->last_duration_ns = -1;
        if ((s->dur_buckets = db))
            memset(db, 0, (m->dur.n + 1) * sizeof(*db));
        if ((s->delay_buckets = lb))
            memset(lb, 0, (m->delay.n + 1) * sizeof(*lb));
        return;
    }
    for (size_t i = 0; i < SKIP_REASON_COUNT; i++)
        s->skipped[i] = atomic_load_explicit(&jm->skipped[i], memory_order_relaxed);
    s->retries = atomic_load_explicit(&jm->retries, memory_order_relaxed);
    for (size_t i = 0; i < CONCURRENCY_ACTION_COUNT; i++)
        s->concurrency[i] = atomic_load_explicit(&jm->concurrency[i], memory_order_relaxed);
    for (unsigned tries = 0; tries < READ_RETRIES; tries++) {
        unsigned s1 = atomic_load_explicit(&jm->seq, memory_order_acquire);
        if (s1 & 1) {
            cpu_relax();
            continue;
        }
        snap_copy(m, jm, s);
        if (atomic_load_explicit(&jm->seq, memory_order_relaxed) == s1)
            return;
    }
    /* Writers kept the job busy: take their lock once, which they hold only
     * for a few stores. */
    job_lock(jm);
    snap_copy(m, jm, s);
    job_unlock(jm);
}

void metrics_job_last(struct job_metrics *jm, struct job_last_run *out)
{
    memset(out, 0, sizeof(*out));
    if (!jm)
        return;
    job_lock(jm);
    out->run_id = atomic_load_explicit(&jm->last_id, memory_order_relaxed);
    out->ran = out->run_id != 0;
    out->result = (enum run_result)atomic_load_explicit(&jm->last_result, memory_order_relaxed);
    out->start_wall_ns = atomic_load_explicit(&jm->last_start_ns, memory_order_relaxed);
    out->duration_ns = atomic_load_explicit(&jm->last_duration_ns, memory_order_relaxed);
    if (jm->last_error)
        snprintf(out->error, sizeof(out->error), "%s", jm->last_error);
    job_unlock(jm);
}

void metrics_job_restore(struct job_metrics *jm, const struct job_last_run *last,
                         int64_t last_success_ns, int64_t last_failure_ns, uint64_t interrupted)
{
    char *error = last->ran && last->error[0]
                      ? xstrndup(last->error, strnlen(last->error, RUN_ERROR_MAX - 1))
                      : NULL;
    char *old;

    write_begin(jm);
    if (last->ran) {
        set_i64(&jm->last_run_ns, last->start_wall_ns);
        set_i64(&jm->last_duration_ns, last->duration_ns < 0 ? 0 : last->duration_ns);
        atomic_store_explicit(&jm->last_id, last->run_id, memory_order_release);
        atomic_store_explicit(&jm->last_result, (int)last->result, memory_order_release);
        set_i64(&jm->last_start_ns, last->start_wall_ns);
    }
    if (last_success_ns > 0)
        set_i64(&jm->last_success_ns, last_success_ns);
    if (last_failure_ns > 0)
        set_i64(&jm->last_failure_ns, last_failure_ns);
    add_u64(&jm->runs[RUN_INTERRUPTED], interrupted);
    old = jm->last_error;
    jm->last_error = error;
    write_end(jm);
    free(old);
}

/* --- host level -------------------------------------------------------------------------- */

void metrics_set_jobs(struct metrics *m, uint64_t n)
{
    atomic_store_explicit(&m->jobs_gauge, n, memory_order_relaxed);
}

void metrics_set_plugins(struct metrics *m, const struct metrics_plugin *list, size_t n)
{
    struct metrics_plugin *copy = n ? xcalloc(n, sizeof *copy) : NULL, *old;
    size_t n_old;

    for (size_t i = 0; i < n; i++) {
        copy[i].name = xstrdup(list[i].name ? list[i].name : "");
        copy[i].version = xstrdup(list[i].version ? list[i].version : "");
    }
    pthread_mutex_lock(&m->plugins_lock);
    old = m->plugins;
    n_old = m->n_plugins;
    m->plugins = copy;
    m->n_plugins = n;
    pthread_mutex_unlock(&m->plugins_lock);
    free_plugins(old, n_old);
}

void metrics_each_plugin(struct metrics *m, void (*fn)(void *arg, const struct metrics_plugin *p),
                         void *arg)
{
    pthread_mutex_lock(&m->plugins_lock);
    for (size_t i = 0; i < m->n_plugins; i++)
        fn(arg, &m->plugins[i]);
    pthread_mutex_unlock(&m->plugins_lock);
}

void metrics_reload(struct metrics *m, bool ok, int64_t wall_ns)
{
    atomic_fetch_add_explicit(&m->reloads[ok ? 1 : 0], 1, memory_order_relaxed);
    if (ok)
        atomic_store_explicit(&m->last_reload_success_ns, wall_ns, memory_order_relaxed);
    atomic_store_explicit(&m->last_reload_ok, ok, memory_order_relaxed);
}

void metrics_host_snapshot(const struct metrics *m, struct metrics_host_snapshot *s)
{
    s->jobs = atomic_load_explicit(&m->jobs_gauge, memory_order_relaxed);
    s->reloads_failed = atomic_load_explicit(&m->reloads[0], memory_order_relaxed);
    s->reloads_ok = atomic_load_explicit(&m->reloads[1], memory_order_relaxed);
    s->last_reload_ok = atomic_load_explicit(&m->last_reload_ok, memory_order_relaxed);
    s->last_reload_success_ns =
        atomic_load_explicit(&m->last_reload_success_ns, memory_order_relaxed);
}

const char *metrics_content_type(enum metrics_format f)
{
    if (f == METRICS_OPENMETRICS_100)
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    return "text/plain; version=0.0.4; charset=utf-8";
}
