/*
 * bench_metrics — what the metrics registry costs.
 *
 *   1. Exposition: a registry of N jobs (default 10,000) filled like the
 *      anchor ../shared/anchors/prom_exposition.py fills prometheus_client
 *      (runs by result, a duration histogram with prometheus_client's default
 *      buckets, last-run / last-success / next-run / running gauges), rendered
 *      REPS times in each format; prints median/min/max ms, bytes, samples.
 *      jobhost always renders its full series set, which is a superset of the
 *      anchor's (5 results instead of 3, skip reasons, a start-delay
 *      histogram, last-duration / last-failure gauges): the figure is for
 *      more work than the anchor does. Also the gzip (level 1) time of the
 *      text exposition, as a Prometheus scrape asks for it.
 *   2. Instrumentation overhead: ns per metrics_run_started +
 *      metrics_run_finished pair, i.e. instrumented call minus bare call of
 *      the same no-op entry point; single thread, then T threads on distinct
 *      jobs and on one shared job.
 *   3. With --anchor PATH, runs the Python anchor (same N) in the same
 *      invocation and prints the ratio.
 *
 * Build (from the repository root):
 *   gcc -std=gnu11 -O2 -g -pthread -D_GNU_SOURCE -Isdk/include -Ihost \
 *       tests/bench/bench_metrics.c host/metrics.c host/util.c -lz -lm \
 *       -o build/bench_metrics
 * Run:
 *   build/bench_metrics [--jobs N] [--reps N] [--runs N] [--threads N] \
 *       [--anchor ../shared/anchors/prom_exposition.py] [--keep FILE]
 * Output: name=value lines. Never fails on time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "metrics.h"
#include "util.h"

static const double anchor_buckets[] = {.005, .01, .025, .05, .075, .1, .25,
                                        .5,   .75, 1,    2.5,  5,    7.5, 10};

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 2685821657736338717ULL;
}

static uint64_t rnd_int(uint64_t lo, uint64_t hi)
{
    return lo + rnd() % (hi - lo + 1);
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fill(struct metrics *m, struct job_metrics **jms, size_t n_jobs)
{
    int64_t now = wall_ns();
    char id[32];

    for (size_t i = 0; i < n_jobs; i++) {
        snprintf(id, sizeof id, "job_%05zu", i);
        struct job_metrics *jm = metrics_job_acquire(m, id, "exec");
        jms[i] = jm;
        uint64_t ok = rnd_int(0, 5000), fail = rnd_int(0, 50), missed = rnd_int(0, 5);
        for (uint64_t k = 0; k < ok + fail; k++) {
            /* an exponential-ish duration around 0.1 s, as the anchor */
            int64_t d = (int64_t)(rnd_unit() * rnd_unit() * 3e8);
            metrics_run_started(jm, now - (int64_t)(rnd_unit() * 300e9), (int64_t)rnd_int(0, 3000000));
            metrics_run_finished(jm, k < ok ? METRICS_SUCCESS : METRICS_FAILURE, d,
                                 now - (int64_t)(rnd_unit() * 600e9));
        }
        for (uint64_t k = 0; k < missed; k++)
            metrics_skipped(jm, METRICS_SKIP_MISFIRE);
        metrics_set_next_run(jm, now + (int64_t)(rnd_unit() * 300e9));
        if (rnd_int(0, 1))
            metrics_run_started(jm, now, 0);
    }
    metrics_set_jobs(m, n_jobs);
}

static void count_lines(const struct buf *b, size_t *lines, size_t *samples)
{
    *lines = *samples = 0;
    const char *p = b->data, *end = b->data + b->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        (*lines)++;
        if (*p != '#')
            (*samples)++;
        p = nl + 1;
    }
}

static double gzip_ms(const struct buf *in, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, in->len);
    unsigned char *out = xmalloc(cap);
    int64_t t0 = mono_ns();
    zs.next_in = (unsigned char *)in->data;
    zs.avail_in = (uInt)in->len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    double ms = (double)(mono_ns() - t0) / 1e6;
    *out_len = zs.total_out;
    deflateEnd(&zs);
    free(out);
    return ms;
}

static void bench_render(struct metrics *m, enum metrics_format f, const char *label, int reps,
                         const char *keep, bool reuse, double *median_out)
{
    double *t = xcalloc((size_t)reps, sizeof *t);
    struct buf b = {0};

    for (int r = 0; r < reps; r++) {
        if (reuse)
            buf_reset(&b); /* the HTTP server's reused render buffer */
        else
            buf_free(&b); /* a fresh buffer each time: first-touch page faults */
        int64_t t0 = mono_ns();
        metrics_render(m, f, &b);
        t[r] = (double)(mono_ns() - t0) / 1e6;
    }
    size_t lines, samples;
    count_lines(&b, &lines, &samples);
    double mn = t[0], mx = t[0];
    for (int r = 0; r < reps; r++) {
        mn = t[r] < mn ? t[r] : mn;
        mx = t[r] > mx ? t[r] : mx;
    }
    double med = median(t, (size_t)reps);
    *median_out = med;
    printf("%s_render_ms_median=%.2f\n%s_render_ms_min=%.2f\n%s_render_ms_max=%.2f\n", label, med,
           label, mn, label, mx);
    printf("%s_bytes=%zu\n%s_lines=%zu\n%s_samples=%zu\n", label, b.len, label, lines, label,
           samples);
    printf("%s_ns_per_sample=%.1f\n", label, med * 1e6 / (double)samples);
    printf("%s_mb_per_s=%.0f\n", label, (double)b.len / 1e6 / (med / 1e3));
    if (f == METRICS_TEXT_004) {
        size_t zlen;
        double zms = gzip_ms(&b, &zlen);
        printf("%s_gzip1_ms=%.1f\n%s_gzip1_bytes=%zu\n", label, zms, label, zlen);
        if (keep) {
            FILE *fp = fopen(keep, "w");
            if (fp) {
                fwrite(b.data, 1, b.len, fp);
                fclose(fp);
            }
        }
    }
    fflush(stdout);
    buf_free(&b);
    free(t);
}

/* The "job": a no-op entry point the compiler cannot remove. */
__attribute__((noinline)) static int entry(void *arg)
{
    __asm__ volatile("" ::"r"(arg) : "memory");
    return 0;
}

struct worker {
    struct job_metrics *jm;
    long runs;
    double ns_per_pair;
    pthread_barrier_t *start;
};

static void *run_pairs(void *arg)
{
    struct worker *w = arg;
    if (w->start)
        pthread_barrier_wait(w->start);
    int64_t t0 = mono_ns();
    for (long i = 0; i < w->runs; i++) {
        int64_t d = (i & 1023) * 1000003;
        metrics_run_started(w->jm, t0, d);
        entry(w);
        metrics_run_finished(w->jm, METRICS_SUCCESS, d, t0);
    }
    w->ns_per_pair = (double)(mono_ns() - t0) / (double)w->runs;
    return NULL;
}

static double bare_loop(long runs)
{
    int64_t t0 = mono_ns();
    for (long i = 0; i < runs; i++)
        entry(&runs);
    return (double)(mono_ns() - t0) / (double)runs;
}

static double clocked_loop(struct job_metrics *jm, long runs)
{
    /* What the executor's wrapper does around a run: two monotonic and two
     * wall-clock reads plus the two metrics calls. */
    int64_t t0 = mono_ns();
    for (long i = 0; i < runs; i++) {
        int64_t s = mono_ns(), sw = wall_ns();
        metrics_run_started(jm, sw, 0);
        entry(jm);
        int64_t e = mono_ns();
        metrics_run_finished(jm, METRICS_SUCCESS, e - s, wall_ns());
    }
    return (double)(mono_ns() - t0) / (double)runs;
}

static void bench_threads(struct metrics *m, int threads, long runs, bool shared)
{
    pthread_t tid[64];
    struct worker w[64];
    pthread_barrier_t start;
    struct job_metrics *one = metrics_job_acquire(m, "bench_shared", "exec");
    char id[32];

    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        snprintf(id, sizeof id, "bench_t%d", i);
        w[i].jm = shared ? one : metrics_job_acquire(m, id, "exec");
        w[i].runs = runs;
        w[i].start = &start;
        pthread_create(&tid[i], NULL, run_pairs, &w[i]);
    }
    double worst = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        worst = w[i].ns_per_pair > worst ? w[i].ns_per_pair : worst;
        if (!shared)
            metrics_job_release(m, w[i].jm);
    }
    metrics_job_release(m, one);
    pthread_barrier_destroy(&start);
    printf("overhead_%dthreads_%s_ns_per_run=%.1f\n", threads, shared ? "one_job" : "own_jobs",
           worst);
}

static void run_anchor(const char *path, size_t jobs, double ours_ms)
{
    char cmd[1024];
    char line[512];

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --jobs %zu --reps 3 2>&1", path, jobs);
    FILE *p = popen(cmd, "r");
    if (!p) {
        printf("anchor_error=%s\n", strerror(errno));
        return;
    }
    double theirs = -1;
    while (fgets(line, sizeof line, p)) {
        printf("anchor_%s", line);
        if (strncmp(line, "nocreated_gen_ms_median=", 24) == 0)
            theirs = strtod(line + 24, NULL);
    }
    int rc = pclose(p);
    printf("anchor_rc=%d\n", rc);
    if (theirs > 0)
        printf("ratio_anchor_nocreated_over_jobhost_text=%.1f\n", theirs / ours_ms);
}

int main(int argc, char **argv)
{
    size_t jobs = 10000;
    int reps = 9, threads = 2;
    long runs = 20000000;
    const char *anchor = NULL, *keep = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
            jobs = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--anchor") == 0 && i + 1 < argc)
            anchor = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--jobs N] [--reps N] [--runs N] [--threads N] [--anchor PATH] "
                    "[--keep FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    if (threads < 1 || threads > 64)
        threads = 2;

    struct metrics *m = metrics_new(anchor_buckets, ARRAY_SIZE(anchor_buckets));
    struct job_metrics **jms = xcalloc(jobs ? jobs : 1, sizeof *jms);
    int64_t t0 = mono_ns();
    fill(m, jms, jobs);
    printf("jobs=%zu\nfill_s=%.2f\n", jobs, (double)(mono_ns() - t0) / 1e9);

    double text_ms, om_ms, fresh_ms;
    bench_render(m, METRICS_TEXT_004, "text", reps, keep, true, &text_ms);
    bench_render(m, METRICS_OPENMETRICS_100, "openmetrics", reps, NULL, true, &om_ms);
    bench_render(m, METRICS_TEXT_004, "text_freshbuf", reps, NULL, false, &fresh_ms);

    double bare = bare_loop(runs);
    struct worker w = {.jm = metrics_job_acquire(m, "bench_single", "exec"), .runs = runs};
    run_pairs(&w);
    printf("bare_call_ns=%.2f\ninstrumented_call_ns=%.2f\noverhead_ns_per_run=%.2f\n", bare,
           w.ns_per_pair, w.ns_per_pair - bare);
    printf("wrapper_with_clock_reads_ns_per_run=%.2f\n", clocked_loop(w.jm, runs / 4) - bare);
    metrics_job_release(m, w.jm);
    bench_threads(m, threads, runs / 4, false);
    bench_threads(m, threads, runs / 4, true);
    fflush(stdout);

    if (anchor)
        run_anchor(anchor, jobs, text_ms);

    for (size_t i = 0; i < jobs; i++)
        metrics_job_release(m, jms[i]);
    free(jms);
    metrics_free(m);
    return 0;
}
