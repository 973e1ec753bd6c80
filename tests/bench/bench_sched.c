/*
 * bench_sched — jobhost's side of the reference workloads in
 * ../shared/anchors/ (APScheduler and prometheus_client run the same ones).
 * Prints name=value lines, named as the anchors name theirs; never passes or
 * fails on time. tests/bench/run.sh builds it, runs it beside the anchors and
 * prints the table.
 *
 * Honesty rules, the same in every workload: the host objects are the
 * release build's (-O2), the jobs are real plugin .so files loaded through
 * generation_build() (dlopen of a private copy, as the daemon does), runs go
 * through the real scheduler thread and executor (host.workers = online
 * CPUs) and the instrumented wrapper run_job(), every fate goes through the
 * outcome pipeline with the daemon's observers registered in its order
 * (metrics, log records, job state: host/daemon.c's start()), generations
 * are published as the daemon publishes its live one, and logging is set
 * up as the daemon sets it, at level warn (per-run records off; skips
 * still log).
 *
 * Subcommands (defaults are the anchors'):
 *   oneshot [N]        N one-shot date jobs due now (100,000)
 *   oneshot_info [N]   the same with logging as the daemon's default manifest
 *                      sets it: level info, the file sink rotating at 10 MiB
 *                      keeping 5 (syslog off), in a fresh directory; also
 *                      the records written, the drops and the rotations
 *   burst [N] [S]      N interval jobs every 1 s, all due at once, S s (1,000, 10)
 *   latency [N] [S] [K] N date jobs spread over S s, K cron jobs beside (2,000, 5, 10,000)
 *   memory N           where the bytes of a registered cron job "*\/5 * * * *" go
 *                      (in-process breakdown; the daemon's own figure: bench_daemon.py)
 *   idle [N] [S]       CPU over S s idle with N cron jobs 2 h away (10,000, 10)
 *   metrics [N] [R]    /metrics for N jobs: metrics_render_all and GET over
 *                      the real HTTP server, R times each (10,000, 7)
 *   reload [N] [P] [R] reload of N jobs over P plugins, R times (1,000, 100, 7)
 *   overhead [N]       run_job() vs a bare call of the plugin's run, N runs
 *   floor [N] [S]      not jobhost: timerfd wake and thread hand-off latency
 *                      of this machine, N wakes over S s (2,000, 5)
 * Option (before the subcommand): --plugins DIR, the directory holding
 * bench_probe.so and ok.so (default build/bench/plugins). BENCH_DUMP=1 makes
 * burst print every sample (job, second, lateness ns) on stderr.
 *
 * Build: see tests/bench/run.sh (release flags, the release build's host
 * objects but main.o, the daemon's libraries).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_probe.h"
#include "core/clock.h"
#include "core/executor.h"
#include "core/generation.h"
#include "core/hostapi.h"
#include "core/jobstate.h"
#include "core/log.h"
#include "core/mainloop.h"
#include "core/manifest.h"
#include "core/metrics.h"
#include "core/outcome.h"
#include "core/outcome_log.h"
#include "core/outcome_metrics.h"
#include "core/outcome_state.h"
#include "core/plugin.h"
#include "core/reload.h"
#include "core/run.h"
#include "core/scheduler.h"
#include "io/http_server.h"
#include "io/metrics_render.h"
#include "lib/units.h"
#include "lib/util.h"

/* The directory holding bench_probe.so and ok.so, absolute. Main thread. */
static char plugin_dir[PATH_MAX];

/* ---- small helpers -------------------------------------------------------- */

static void die(const char *what)
{
    fprintf(stderr, "bench_sched: %s\n", what);
    exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, as the anchors' pct(): index round(p/100 * (n-1)). */
static int64_t pct_i64(const int64_t *sorted, size_t n, double p)
{
    double k = nearbyint(p / 100.0 * (double)(n - 1));
    if (n == 0)
        return 0;
    if (k < 0)
        k = 0;
    if (k > (double)(n - 1))
        k = (double)(n - 1);
    return sorted[(size_t)k];
}

static double median_d(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double min_d(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double max_d(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Resident set size from /proc/self/statm, after giving freed heap pages
 * back (malloc_trim), so that only live data counts. */
static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f;

    malloc_trim(0);
    f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void sleep_until_wall(int64_t wall)
{
    struct timespec ts = {.tv_sec = wall / NS_PER_SEC, .tv_nsec = wall % NS_PER_SEC};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / NS_PER_SEC, .tv_nsec = ns % NS_PER_SEC};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* RFC 3339 in UTC with nanoseconds: what a manifest's date/start takes. */
static void fmt_time(int64_t ns, char *out, size_t len)
{
    time_t s = (time_t)(ns / NS_PER_SEC);
    struct tm tm;
    size_t n;

    gmtime_r(&s, &tm);
    n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%09lldZ", (long long)(ns % NS_PER_SEC));
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- the host, wired as daemon.c wires it ----------------------------------- */

struct host {
    struct runtime rt;
    struct metrics_source src; /* what GET /metrics renders: the runtime, the log drops */
    struct executor *ex;
    struct scheduler *sched;
    unsigned workers;
};

static int submit_to_executor(void *arg, struct job *job, const struct run_opts *opts)
{
    return executor_submit(arg, job, opts);
}

static size_t submit_many_to_executor(void *arg, const struct run_request *reqs, size_t n)
{
    return executor_submit_many(arg, reqs, n);
}

/* The log file of oneshot_info, NULL elsewhere. Main thread. */
static const char *g_log_file;

/* Logging as the daemon configures it from `log: {level: warn, syslog:
 * {enabled: false}}` with stderr on (run.sh keeps stderr in a file); with
 * g_log_file, from `log: {level: info, syslog: {enabled: false}, file:
 * {path: ..., max_size: 10MiB, keep: 5}}` (the default manifest's, syslog
 * off). */
static void host_log_setup(void)
{
    struct log_config lc = {
        .level = JH_LOG_WARN,
        .syslog_enabled = false,
        .ident = "jobhost-bench",
        .to_stderr = true,
    };
    if (g_log_file) {
        lc.level = JH_LOG_INFO;
        lc.to_stderr = false;
        lc.file_path = g_log_file;
        lc.file_max_size = 10u << 20;
        lc.file_keep = 5;
    }
    log_setup(&lc);
}

/* Which observers the outcome pipeline feeds. */
enum observers {
    OBSERVE_DAEMON,  /* metrics, log records, job state: daemon.c's start() */
    OBSERVE_NO_LOG,  /* metrics and job state only: filling a registry, where
                        the records would be noise, not the thing measured */
};

/* Registry (default or given buckets), job states, the private plugin copy
 * directory and the outcome pipeline, as daemon.c's start() sets them up
 * before building the first generation. */
static void host_init(struct host *h, const double *buckets, size_t n_buckets,
                      enum observers obs)
{
    struct metrics *m;

    memset(h, 0, sizeof(*h));
    host_log_setup();
    m = metrics_new(buckets, n_buckets);
    if (!m)
        die("metrics_new failed");
    runtime_init(&h->rt, m);
    h->src.rt = &h->rt;
    h->src.dropped = log_dropped;
    outcome_reset();
    outcome_register(&outcome_metrics, &h->rt);
    if (obs == OBSERVE_DAEMON)
        outcome_register(&outcome_log, NULL);
    outcome_register(&outcome_state, NULL);
    h->workers = online_cpus();
}

/* Executor with host.workers threads and a scheduler feeding it as
 * daemon.c wires them (runs due at once go over in one batch); the
 * scheduler thread is not started yet. */
static void host_pool(struct host *h, unsigned workers)
{
    struct scheduler_opts so = {.submit = submit_to_executor,
                                .submit_many = submit_many_to_executor};

    h->workers = workers ? workers : online_cpus();
    h->ex = executor_new(&(struct executor_opts){.workers = h->workers});
    so.submit_arg = h->ex;
    h->sched = scheduler_new(&so);
}

/* Stops firing, lets queued runs finish (runs queued at the deadline are
 * skipped "shutdown"), joins everything. The generations stay (the probe's
 * samples live in a loaded plugin). */
static void host_stop(struct host *h)
{
    if (h->sched)
        scheduler_stop(h->sched);
    if (h->ex) {
        while (executor_pending(h->ex) > 0)
            sleep_ns(1000000);
        executor_stop(h->ex, mono_ns() + 5 * NS_PER_SEC, NS_PER_SEC);
        executor_free(h->ex);
        h->ex = NULL;
    }
}

/* Releases the scheduler, the given generations (NULLs skipped) and then
 * the runtime, as daemon_run does at exit: the generations' teardown
 * (plugin shutdown, dlclose) runs from the main loop's queue. Read what the
 * probe recorded before: its shutdown frees the samples. */
static void host_done(struct host *h, struct generation **gens, size_t n_gens)
{
    struct metrics *m = h->rt.metrics;

    scheduler_free(h->sched);
    h->sched = NULL;
    for (size_t i = 0; i < n_gens; i++)
        generation_unref(gens[i]);
    mainloop_run_pending();
    outcome_reset();
    runtime_free(&h->rt);
    metrics_free(m);
    log_flush();
}

/* The host: section every generated manifest starts with. */
static void manifest_head(struct buf *b, unsigned workers)
{
    buf_printf(b,
               "host:\n"
               "  plugin_dir: %s\n"
               "  workers: %u\n"
               "  http: {enabled: false}\n"
               "  log: {level: warn, syslog: {enabled: false}}\n"
               "jobs:\n",
               plugin_dir, workers);
}

static struct manifest *parse_or_die(const struct buf *text)
{
    struct manifest *m = NULL;
    struct errors errs = {0};

    if (manifest_parse("bench.yaml", "/tmp", text->data, text->len, &m, &errs) < 0) {
        fputs(errs.text.data ? errs.text.data : "", stderr);
        die("manifest refused");
    }
    errors_free(&errs);
    return m;
}

/* One line of a generated manifest: job i. */
typedef void (*job_line_fn)(struct buf *b, size_t i, const void *arg);

/* The text of one manifest of n jobs (line(i) each) after the host:
 * section: one file, as a user writes it and the daemon reads it. */
static void manifest_text(struct buf *t, size_t n, unsigned workers, job_line_fn line,
                          const void *arg)
{
    manifest_head(t, workers);
    for (size_t i = 0; i < n; i++)
        line(t, i, arg);
}

static struct generation *build_or_die(struct host *h, struct manifest *m,
                                       const struct generation *prev)
{
    struct generation *g = NULL;
    struct errors errs = {0};

    if (generation_build(&h->rt, m, prev, &g, &errs) < 0) {
        fputs(errs.text.data ? errs.text.data : "", stderr);
        die("generation refused");
    }
    errors_free(&errs);
    generation_publish(g); /* as the daemon does with the generation it makes live */
    return g;
}

/* ---- the probe plugin -------------------------------------------------------- */

struct probe {
    bench_probe_arm_fn arm;
    bench_probe_runs_fn runs;
    bench_probe_done_fn done;
    bench_probe_samples_fn samples;
};

/* Finds the accessors in the copy of bench_probe.so that `g` loaded. */
static void probe_find(struct generation *g, struct probe *p)
{
    struct plugin *pl = generation_find_plugin(g, "bench_probe");
    if (!pl)
        die("bench_probe is not loaded");
    p->arm = (bench_probe_arm_fn)dlsym(pl->handle, BENCH_PROBE_ARM);
    p->runs = (bench_probe_runs_fn)dlsym(pl->handle, BENCH_PROBE_RUNS);
    p->done = (bench_probe_done_fn)dlsym(pl->handle, BENCH_PROBE_DONE);
    p->samples = (bench_probe_samples_fn)dlsym(pl->handle, BENCH_PROBE_SAMPLES);
    if (!p->arm || !p->runs || !p->done || !p->samples)
        die("bench_probe.so lacks its accessors");
}

/* ---- reading the registry back ----------------------------------------------- */

/* Sums jobhost_job_skipped_total by reason over all jobs, from the
 * exposition GET /metrics serves (io/metrics_render.c): the numbers a user
 * would read. */
static void skipped_by_reason(const struct host *h, uint64_t out[SKIP_REASON_COUNT])
{
    static const char fam[] = "jobhost_job_skipped_total{";
    struct buf b = {0};
    const char *p;

    memset(out, 0, SKIP_REASON_COUNT * sizeof(*out));
    if (metrics_render_all(&h->src, METRICS_TEXT_004, &b) < 0)
        die("metrics_render_all failed");
    for (p = b.data; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, fam, sizeof(fam) - 1) == 0) {
            /* within this line only */
            const char *r = memmem(p, len, "reason=\"", 8);
            const char *v = memmem(p, len, "} ", 2);
            if (r && v) {
                r += 8;
                for (int k = 0; k < SKIP_REASON_COUNT; k++) {
                    const char *name = skip_reason_name((enum skip_reason)k);
                    size_t len = strlen(name);
                    if (strncmp(r, name, len) == 0 && r[len] == '"')
                        out[k] += strtoull(v + 2, NULL, 10);
                }
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    buf_free(&b);
}

static void print_skips(const struct host *h)
{
    uint64_t sk[SKIP_REASON_COUNT];
    skipped_by_reason(h, sk);
    printf("missed=%llu\n", (unsigned long long)sk[SKIP_MISFIRE]);
    printf("max_instances_skipped=%llu\n", (unsigned long long)sk[SKIP_MAX_INSTANCES]);
    printf("coalesced_skipped=%llu\n", (unsigned long long)sk[SKIP_COALESCED]);
    printf("shutdown_skipped=%llu\n", (unsigned long long)sk[SKIP_SHUTDOWN]);
}

static void print_lateness(const char *prefix, int64_t *lat, size_t n)
{
    double sum = 0;
    if (n == 0)
        return;
    qsort(lat, n, sizeof(*lat), cmp_i64);
    for (size_t i = 0; i < n; i++)
        sum += (double)lat[i];
    printf("%s_ms_p50=%.3f\n", prefix, (double)pct_i64(lat, n, 50) / 1e6);
    printf("%s_ms_p90=%.3f\n", prefix, (double)pct_i64(lat, n, 90) / 1e6);
    printf("%s_ms_p99=%.3f\n", prefix, (double)pct_i64(lat, n, 99) / 1e6);
    printf("%s_ms_max=%.3f\n", prefix, (double)lat[n - 1] / 1e6);
    printf("%s_ms_min=%.3f\n", prefix, (double)lat[0] / 1e6);
    printf("%s_ms_mean=%.3f\n", prefix, sum / (double)n / 1e6);
    printf("%s_us_p50=%.1f\n", prefix, (double)pct_i64(lat, n, 50) / 1e3);
    printf("%s_us_p99=%.1f\n", prefix, (double)pct_i64(lat, n, 99) / 1e3);
}

static void print_common(const char *workload, const struct host *h)
{
    printf("side=jobhost\nworkload=%s\n", workload);
    printf("build=release -O2, host objects of build/release\n");
    printf("workers=%u\n", h->workers);
    printf("metrics=on\nlog_level=%s\n", g_log_file ? "info" : "warn");
    if (g_log_file)
        printf("log_sinks=file rotating at 10 MiB keeping 5 (the default manifest's, syslog "
               "off)\n");
}

/* ---- oneshot: N one-shot jobs due now ------------------------------------- */

/*
 * The anchor adds N 'date' jobs whose run date is the moment of add_job()
 * (so: due), then times start() -- which registers them in the job store --
 * until the last one has run. Here: N jobs with `trigger: {date: T}`, T
 * being the time the manifest is written (due now), parsed and built into a
 * generation (add_s), then timed from scheduler_set_generation() --
 * registering them in the timer heap -- and scheduler_start() until the
 * probe counts the N-th run. A date already past at plan time is never
 * fired by jobhost (it would be a missed one-shot), so the plan is made as
 * of T - 1 ns, the instant before they fell due, exactly what a daemon that
 * had them planned would hold; the dispatcher then reads the real clock,
 * finds all N due and hands them to the executor.
 */
static void oneshot_line(struct buf *b, size_t i, const void *when)
{
    buf_printf(b, "  - {id: j%06zu, plugin: bench_probe, trigger: {date: \"%s\"}}\n", i,
               (const char *)when);
}

static int bench_oneshot(size_t n)
{
    struct host h;
    struct buf text = {0};
    char when[64];
    struct probe pr;
    int64_t due, t0, t_planned, t_started, done = 0, deadline;
    double cpu0;
    struct generation *g;

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    due = wall_ns();
    fmt_time(due, when, sizeof(when));
    manifest_text(&text, n, online_cpus(), oneshot_line, when);
    t0 = mono_ns();
    struct manifest *m = parse_or_die(&text);
    double parse_s = (double)(mono_ns() - t0) / 1e9;
    g = build_or_die(&h, m, NULL);
    double add_s = (double)(mono_ns() - t0) / 1e9;
    buf_free(&text);
    probe_find(g, &pr);
    pr.arm(0, n);
    host_pool(&h, g->manifest->host.workers);

    cpu0 = cpu_seconds();
    t0 = mono_ns();
    scheduler_set_generation(h.sched, g, due - 1);
    t_planned = mono_ns();
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start failed");
    t_started = mono_ns();
    deadline = t0 + 60 * NS_PER_SEC;
    while (!(done = pr.done()) && mono_ns() < deadline)
        sleep_ns(1000000);
    double cpu = cpu_seconds() - cpu0;
    uint64_t runs = pr.runs();
    int64_t t_logged = 0;
    if (g_log_file) {
        log_flush(); /* every record of the runs is in the file */
        t_logged = mono_ns();
    }
    host_stop(&h);

    print_common(g_log_file ? "oneshot_info" : "oneshot", &h);
    printf("plugin=bench_probe.so (ok.so's body + start counter)\n");
    printf("trigger=date (due now; planned as of due - 1 ns)\n");
    printf("jobs=%zu\n", n);
    printf("add_s=%.4f\n", add_s);
    printf("manifest_parse_s=%.4f\ngeneration_build_s=%.4f\n", parse_s, add_s - parse_s);
    printf("plan_s=%.4f\n", (double)(t_planned - t0) / 1e9);
    printf("start_call_s=%.4f\n", (double)(t_started - t0) / 1e9);
    printf("completed=%d\n", done ? 1 : 0);
    printf("runs=%llu\n", (unsigned long long)runs);
    print_skips(&h);
    if (done) {
        double all = (double)(done - t0) / 1e9;
        printf("all_run_s=%.4f\n", all);
        printf("throughput_jobs_per_s=%.0f\n", (double)n / all);
        printf("after_start_return_s=%.4f\n", (double)(done - t_started) / 1e9);
        printf("ns_per_run=%.1f\n", all * 1e9 / (double)n);
    } else {
        printf("all_run_s=timeout(>60)\n");
    }
    printf("cpu_s=%.3f\n", cpu);
    if (g_log_file && done) {
        struct log_stats st;
        log_stats(&st);
        printf("log_flushed_after_last_run_s=%.4f\n", (double)(t_logged - done) / 1e9);
        printf("log_dropped_queue=%llu\nlog_dropped_file=%llu\n",
               (unsigned long long)log_dropped("queue"), (unsigned long long)log_dropped("file"));
        printf("log_dropped_queue_while_rotating=%llu\n",
               (unsigned long long)st.dropped_rotating);
        printf("log_records=%llu\nlog_rotations=%llu\nlog_rotation_ms_max=%.3f\n",
               (unsigned long long)st.records, (unsigned long long)st.rotations,
               (double)st.rotate_ns_max / 1e6);
        if (st.records)
            printf("log_writer_ns_per_record=%.0f\n",
                   (double)st.writer_busy_ns / (double)st.records);
        printf("log_producer_waits=%llu\nlog_producer_wait_ms_total=%.3f\n",
               (unsigned long long)st.waits, (double)st.wait_ns_total / 1e6);
    }
    host_done(&h, &g, 1);
    return done ? 0 : 1;
}

/* oneshot with the default manifest's logging, in a fresh directory. */
static int bench_oneshot_info(size_t n)
{
    char dir[] = "/tmp/jobhost-bench-oneshot-XXXXXX", path[PATH_MAX];
    int rc;

    if (!mkdtemp(dir))
        die("mkdtemp failed");
    snprintf(path, sizeof(path), "%s/jobhost.log", dir);
    g_log_file = path;
    rc = bench_oneshot(n);
    log_shutdown();
    g_log_file = NULL;
    unlink(path);
    for (int i = 1; i <= 5; i++) {
        char rotated[PATH_MAX + 8];
        snprintf(rotated, sizeof(rotated), "%s.%d", path, i);
        unlink(rotated);
    }
    rmdir(dir);
    return rc;
}

/* ---- burst: N interval jobs every 1 s, all due at once ------------------- */

/*
 * As the anchor: T0 = now + 1 s leaves 1 s for setup; every job has
 * `interval: 1s, start: T0 + 0.5 s`, so it is due at T0+0.5, T0+1.5, ...,
 * T0+9.5: exactly S firings per job inside [T0, T0+S]. At T0+S the runs the
 * probe has counted are the completed ones. Lateness = a run's start
 * (CLOCK_REALTIME on entry of its body) minus its due time, the due time
 * being first_due + k s for the k that makes it latest-but-not-after the
 * start (the anchor's formula; both sides derive it the same way).
 */
static int bench_burst(size_t n, int window)
{
    struct host h;
    struct buf text = {0};
    char when[64];
    struct probe pr;
    int64_t t0w, first_due, setup_done;
    double cpu0, cpu1;
    struct generation *g;
    const struct bench_probe_sample *smp;
    size_t ns, nlat = 0;
    int64_t *lat;
    uint64_t completed;
    struct rusage ru0, ru1;
    int64_t *first, *last;

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    t0w = wall_ns() + NS_PER_SEC;
    first_due = t0w + NS_PER_SEC / 2;
    fmt_time(first_due, when, sizeof(when));
    manifest_head(&text, online_cpus());
    for (size_t i = 0; i < n; i++)
        buf_printf(&text,
                   "  - {id: i%05zu, plugin: bench_probe, trigger: {interval: 1s, start: \"%s\"}}\n",
                   i, when);
    g = build_or_die(&h, parse_or_die(&text), NULL);
    buf_free(&text);
    probe_find(g, &pr);
    pr.arm(n * (size_t)(window + 2), 0);
    host_pool(&h, g->manifest->host.workers);
    scheduler_set_generation(h.sched, g, wall_ns());
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start failed");
    setup_done = wall_ns();

    sleep_until_wall(t0w);
    cpu0 = cpu_seconds();
    getrusage(RUSAGE_SELF, &ru0);
    sleep_until_wall(t0w + (int64_t)window * NS_PER_SEC);
    cpu1 = cpu_seconds();
    getrusage(RUSAGE_SELF, &ru1);
    completed = pr.runs();
    host_stop(&h);

    ns = pr.samples(&smp);
    lat = xcalloc(ns + 1, sizeof(*lat));
    first = xcalloc((size_t)window + 1, sizeof(*first));
    last = xcalloc((size_t)window + 1, sizeof(*last));
    for (int k = 0; k <= window; k++)
        first[k] = INT64_MAX;
    for (size_t i = 0; i < ns; i++) {
        int64_t t = smp[i].wall_ns, k;
        if (t > t0w + (int64_t)window * NS_PER_SEC)
            continue; /* started after the window: not counted by the anchor either */
        k = t >= first_due ? (t - first_due) / NS_PER_SEC : 0;
        lat[nlat++] = t - (first_due + k * NS_PER_SEC);
        if (k <= window) {
            first[k] = lat[nlat - 1] < first[k] ? lat[nlat - 1] : first[k];
            last[k] = lat[nlat - 1] > last[k] ? lat[nlat - 1] : last[k];
        }
        if (getenv("BENCH_DUMP"))
            fprintf(stderr, "sample %s %lld %lld\n", smp[i].job, (long long)k,
                    (long long)lat[nlat - 1]);
    }

    print_common("burst", &h);
    printf("plugin=bench_probe.so (ok.so's body + start time record)\n");
    printf("jobs=%zu\ninterval_s=1\nwindow_s=%d\n", n, window);
    printf("job_defaults=jobhost's (misfire_grace 60s, coalesce true, max_instances 1)\n");
    printf("setup_margin_s=%.3f\n", (double)(t0w - setup_done) / 1e9);
    printf("runs_expected=%zu\n", n * (size_t)window);
    printf("runs_completed=%llu\n", (unsigned long long)completed);
    printf("completion_ratio=%.4f\n", (double)completed / (double)(n * (size_t)window));
    print_skips(&h);
    print_lateness("lateness", lat, nlat);
    printf("cpu_s=%.3f\n", cpu1 - cpu0);
    printf("cpu_pct_of_one_core=%.1f\n", 100.0 * (cpu1 - cpu0) / window);
    printf("nvcsw=%ld\nnivcsw=%ld\n", ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw);
    /* Per burst (one per second): when its first run started (the timer
     * wake-up and the dispatch before it) and when its last did; p99 above
     * is decided by the worst bursts. */
    {
        size_t nb = 0;
        for (int k = 0; k < window; k++) {
            if (first[k] != INT64_MAX) {
                first[nb] = first[k];
                last[nb++] = last[k];
            }
        }
        if (nb) {
            qsort(first, nb, sizeof(*first), cmp_i64);
            qsort(last, nb, sizeof(*last), cmp_i64);
            printf("bursts=%zu\n", nb);
            printf("burst_first_run_ms_median=%.3f\n", (double)pct_i64(first, nb, 50) / 1e6);
            printf("burst_last_run_ms_median=%.3f\n", (double)pct_i64(last, nb, 50) / 1e6);
            printf("burst_last_run_ms_best=%.3f\n", (double)last[0] / 1e6);
            printf("burst_last_run_ms_worst=%.3f\n", (double)last[nb - 1] / 1e6);
        }
    }
    free(first);
    free(last);
    free(lat);
    host_done(&h, &g, 1);
    return 0;
}

/* ---- latency: date jobs spread out, with other jobs registered ------------ */

/* "M H * * *" in UTC for now + 2 h: a daily job whose next firing is 2 h
 * away, as the idle anchor builds it. */
static void cron_in_two_hours(char *out, size_t len)
{
    time_t s = (time_t)(wall_ns() / NS_PER_SEC) + 2 * 3600;
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, len, "%d %d * * *", tm.tm_min, tm.tm_hour);
}

/*
 * As the anchor: the first job is due 1.5 s after the start, one every
 * S/N s after it; each run records CLOCK_REALTIME on entry and lateness =
 * that minus its due time (read back from the job id: d<i> is due at
 * base + i * step, exactly as written into its `date:`). Beside them, K
 * daily cron jobs (next firing 2 h away) sit in the same timer heap, so
 * the heap is a realistic size; the anchor registers only the N.
 */
struct latency_args {
    size_t n;
    int64_t base, step;
    char cron[32];
};

/* Job i < n: d<i>, due at base + i * step; the others: c<i - n>, daily. */
static void latency_line(struct buf *b, size_t i, const void *arg)
{
    const struct latency_args *la = arg;
    char when[64];

    if (i < la->n) {
        fmt_time(la->base + (int64_t)i * la->step, when, sizeof(when));
        buf_printf(b, "  - {id: d%05zu, plugin: bench_probe, trigger: {date: \"%s\"}}\n", i,
                   when);
    } else {
        buf_printf(b,
                   "  - {id: c%06zu, plugin: bench_probe, trigger: {cron: \"%s\", timezone: UTC}}\n",
                   i - la->n, la->cron);
    }
}

static int bench_latency(size_t n, double spread, size_t others)
{
    struct host h;
    struct buf text = {0};
    struct latency_args la;
    struct probe pr;
    int64_t base, step, margin, deadline;
    struct generation *g;
    const struct bench_probe_sample *smp;
    size_t ns, nlat = 0;
    int64_t *lat;

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    base = wall_ns() + 3 * NS_PER_SEC / 2;
    step = (int64_t)(spread * 1e9) / (int64_t)n;
    cron_in_two_hours(la.cron, sizeof(la.cron));
    la.n = n;
    la.base = base;
    la.step = step;
    manifest_text(&text, n + others, online_cpus(), latency_line, &la);
    g = build_or_die(&h, parse_or_die(&text), NULL);
    buf_free(&text);
    probe_find(g, &pr);
    pr.arm(n, n);
    host_pool(&h, g->manifest->host.workers);
    scheduler_set_generation(h.sched, g, wall_ns());
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start failed");
    margin = base - wall_ns();
    deadline = mono_ns() + 3 * NS_PER_SEC / 2 + (int64_t)(spread * 1e9) + 20 * NS_PER_SEC;
    while (!pr.done() && mono_ns() < deadline)
        sleep_ns(10 * 1000000);
    bool finished = pr.done() != 0;
    host_stop(&h);

    ns = pr.samples(&smp);
    lat = xcalloc(ns + 1, sizeof(*lat));
    for (size_t i = 0; i < ns; i++) {
        if (!smp[i].job || smp[i].job[0] != 'd')
            continue;
        long idx = strtol(smp[i].job + 1, NULL, 10);
        lat[nlat++] = smp[i].wall_ns - (base + (int64_t)idx * step);
    }

    print_common("latency", &h);
    printf("plugin=bench_probe.so (ok.so's body + start time record)\n");
    printf("jobs=%zu\nother_jobs_registered=%zu\n", n, others);
    printf("spread_s=%.3f\ninterval_between_jobs_ms=%.3f\n", spread, (double)step / 1e6);
    printf("setup_margin_s=%.3f\n", (double)margin / 1e9);
    printf("completed=%d\nruns=%zu\n", finished ? 1 : 0, nlat);
    print_skips(&h);
    print_lateness("lateness", lat, nlat);
    free(lat);
    host_done(&h, &g, 1);
    return finished ? 0 : 1;
}

/* ---- memory: bytes per registered cron job ------------------------------- */

/*
 * Where a registered job's bytes go, in one process per N: base RSS with
 * the host up (registry, states, executor, running scheduler thread, ok.so
 * loaded for a one-job generation kept aside, the manifest text in memory),
 * then the N jobs parsed, built into a generation (job states; no metrics
 * block yet: a job gets one at its first run or skip) and planned in the
 * scheduler's heap. Freed heap is handed back (malloc_trim) before each
 * reading, so each stage shows only what it keeps: a breakdown, read
 * against the real daemon's figure, which the scale workload
 * (tests/bench/bench_daemon.py) measures without touching its heap.
 */
static void cron_line(struct buf *b, size_t i, const void *cron)
{
    buf_printf(b, "  - {id: c%06zu, plugin: ok, trigger: {cron: \"%s\", timezone: UTC}}\n", i,
               (const char *)cron);
}

static int bench_memory(size_t n)
{
    struct host h;
    struct buf text = {0}, warm = {0};
    struct generation *g0, *g;
    struct manifest *m;
    long base, after_parse, after_build, after_plan;
    int64_t t0, now;

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    host_pool(&h, online_cpus());
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start failed");
    manifest_head(&warm, h.workers);
    buf_puts(&warm, "  - {id: warm, plugin: ok}\n");
    g0 = build_or_die(&h, parse_or_die(&warm), NULL);
    buf_free(&warm);

    /* "*\/5" fires at every 5-minute mark: keep the measurement away from one. */
    now = wall_ns() / NS_PER_SEC;
    if (300 - now % 300 < 20)
        sleep_ns((300 - now % 300 + 1) * NS_PER_SEC);

    manifest_text(&text, n, h.workers, cron_line, "*/5 * * * *");
    base = rss_bytes();
    t0 = mono_ns();
    m = parse_or_die(&text);
    after_parse = rss_bytes();
    g = build_or_die(&h, m, g0); /* ok.so is shared with g0, as a reload shares it */
    after_build = rss_bytes();
    scheduler_set_generation(h.sched, g, wall_ns());
    double add_s = (double)(mono_ns() - t0) / 1e9;
    after_plan = rss_bytes();

    printf("side=jobhost\nworkload=memory\n");
    printf("what=in-process breakdown, heap trimmed before each reading (the daemon's own "
           "figure: workload scale)\n");
    printf("trigger=cron '*/5 * * * *' (timezone UTC)\n");
    printf("scheduler_state=started, planned\nmetrics=on\n");
    printf("jobs_%zu_registered=%zu\n", n, g->n_jobs);
    printf("rss_base_bytes_%zu=%ld\n", n, base);
    printf("rss_%zu_bytes=%ld\n", n, after_plan);
    printf("bytes_per_job_%zu=%.0f\n", n, (double)(after_plan - base) / (double)n);
    printf("manifest_bytes_per_job_%zu=%.0f\n", n, (double)(after_parse - base) / (double)n);
    printf("generation_bytes_per_job_%zu=%.0f\n", n,
           (double)(after_build - after_parse) / (double)n);
    printf("plan_bytes_per_job_%zu=%.0f\n", n, (double)(after_plan - after_build) / (double)n);
    printf("add_s_%zu=%.4f\n", n, add_s);
    buf_free(&text);

    /* Of the generation's bytes: the same N ids again in a fresh job state
     * table; then what a job adds once it has run or been skipped, its
     * metrics block, for N blocks of a fresh registry (not part of the
     * figures above; each measured alone). */
    {
        struct jobstate_table st;
        struct metrics *mx = metrics_new(NULL, 0);
        struct job_metrics **blocks = xcalloc(n + 1, sizeof(*blocks));
        struct jobstate **states = xcalloc(n + 1, sizeof(*states));
        long r0, r1, r2;

        jobstate_table_init(&st, NULL);
        r0 = rss_bytes();
        for (size_t i = 0; i < n; i++)
            states[i] = jobstate_new(&st, g->jobs[i].spec->id);
        r1 = rss_bytes();
        for (size_t i = 0; i < n; i++)
            blocks[i] = metrics_job_new(mx);
        r2 = rss_bytes();
        printf("of_which_jobstate_bytes_per_job_%zu=%.0f\n", n, (double)(r1 - r0) / (double)n);
        printf("metrics_block_bytes_per_job_that_ran_%zu=%.0f\n", n,
               (double)(r2 - r1) / (double)n);
        printf("sizeof_struct_jobstate=%zu\nsizeof_struct_manifest_job=%zu\n",
               sizeof(struct jobstate), sizeof(struct manifest_job));
        printf("sizeof_struct_job=%zu\n", sizeof(struct job));
        for (size_t i = 0; i < n; i++) {
            metrics_job_free(blocks[i]);
            jobstate_release(&st, states[i]);
        }
        jobstate_table_free(&st);
        metrics_free(mx);
        free(blocks);
        free(states);
    }
    fflush(stdout);
    host_stop(&h);
    host_done(&h, (struct generation *[]){g0, g}, 2);
    return 0;
}

/* ---- idle: CPU with nothing due -------------------------------------------- */

/*
 * As the anchor: N daily cron jobs at now + 2 h (UTC), the scheduler thread
 * running (and the executor's workers and the log writer waiting), 1 s to
 * settle, then getrusage(RUSAGE_SELF) over S s of wall time.
 */
static int bench_idle(size_t n, double window)
{
    struct host h;
    struct buf text = {0};
    char cron[32];
    struct generation *g;
    struct rusage r0, r1;
    int64_t w0, next;

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    cron_in_two_hours(cron, sizeof(cron));
    manifest_text(&text, n, online_cpus(), cron_line, cron);
    g = build_or_die(&h, parse_or_die(&text), NULL);
    buf_free(&text);
    host_pool(&h, g->manifest->host.workers);
    scheduler_set_generation(h.sched, g, wall_ns());
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start failed");
    next = scheduler_next_due(h.sched) - wall_ns();

    sleep_ns(NS_PER_SEC);
    getrusage(RUSAGE_SELF, &r0);
    w0 = mono_ns();
    sleep_ns((int64_t)(window * 1e9));
    getrusage(RUSAGE_SELF, &r1);
    double wall = (double)(mono_ns() - w0) / 1e9;
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;

    print_common("idle", &h);
    printf("jobs=%zu\ncrontab=%s\n", g->n_jobs, cron);
    printf("next_fire_in_s=%.0f\n", (double)next / 1e9);
    printf("window_wall_s=%.3f\n", wall);
    printf("idle_cpu_s=%.4f\n", cpu);
    printf("idle_cpu_pct_of_one_core=%.3f\n", 100.0 * cpu / wall);
    printf("nvcsw=%ld\nnivcsw=%ld\n", r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw);
    printf("rss_bytes=%ld\n", rss_bytes());
    host_stop(&h);
    host_done(&h, &g, 1);
    return 0;
}

/* ---- metrics: the exposition of 10,000 jobs ---------------------------------- */

/* prometheus_client's default histogram buckets, so both sides render the
 * same bucket count for the duration histogram. */
static const double anchor_buckets[] = {.005, .01, .025, .05, .075, .1, .25,
                                        .5,   .75, 1,   2.5,  5,   7.5, 10};

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

/*
 * Fills the registry as prom_exposition.py fills prometheus_client, but
 * only through the path runs take: each report goes through the outcome
 * pipeline (outcome_started / outcome_finished with a struct run, as
 * run_job() makes them; outcome_skipped, outcome_planned as the
 * dispatcher does) to the metrics and job-state observers. Per job
 * randint(0,5000) successes and randint(0,50) failures with durations ~
 * expovariate(10) (the anchor's observations), started within the last
 * 300 s; randint(0,5) misfire skips (the anchor's "missed" result); next
 * run within 300 s; running 0 or 1 (a run started and not finished).
 * jobhost's histograms then count every run (the anchor observes 3 per
 * job) and its exposition carries more families than the anchor's (start
 * delay histogram, last duration / failure gauges, skips by reason, host
 * and process metrics): more work for jobhost, not less.
 */
static void metrics_fill(struct generation *g)
{
    int64_t now = wall_ns();

    for (size_t i = 0; i < g->n_jobs; i++) {
        struct job *job = &g->jobs[i];
        uint64_t ok = rnd_int(0, 5000), fail = rnd_int(0, 50), missed = rnd_int(0, 5);
        struct run run;

        for (uint64_t k = 0; k < ok + fail; k++) {
            memset(&run, 0, sizeof(run));
            run.job = job;
            run.id = run_new_id();
            run_id_format(run.id, run.id_text);
            run.trigger = RUN_SCHEDULED;
            run.start_wall_ns = now - (int64_t)(rnd_unit() * 300e9);
            run.scheduled_wall_ns = run.start_wall_ns;
            outcome_started(&run);
            run.duration_ns = (int64_t)(-log(1.0 - rnd_unit()) / 10.0 * 1e9);
            run.result = k < ok ? RUN_SUCCESS : RUN_FAILURE;
            outcome_finished(&run);
        }
        if (missed)
            outcome_skipped(job, SKIP_MISFIRE, now - 60 * NS_PER_SEC, missed);
        outcome_planned(job, now + (int64_t)(rnd_unit() * 300e9));
        if (rnd_int(0, 1)) {
            memset(&run, 0, sizeof(run));
            run.job = job;
            run.id = run_new_id();
            run_id_format(run.id, run.id_text);
            run.start_wall_ns = now - (int64_t)(rnd_unit() * 300e9);
            outcome_started(&run); /* still running when scraped */
        }
    }
}

static void count_lines(const struct buf *b, size_t *lines, size_t *samples)
{
    const char *p = b->data, *end = b->data + b->len;
    *lines = *samples = 0;
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

/* `promtool check metrics` on the exposition in `path`: rc and findings. */
static void promtool_check(const char *path)
{
    char cmd[PATH_MAX * 2 + 64], out[PATH_MAX + 8], line[1024];
    int64_t t0 = mono_ns();
    int st, findings = 0;
    FILE *f;

    snprintf(out, sizeof(out), "%s.out", path);
    snprintf(cmd, sizeof(cmd), "command -v promtool >/dev/null 2>&1 || exit 127; "
                               "promtool check metrics < '%s' > '%s' 2>&1", path, out);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 127) {
        printf("promtool_rc=not installed\n");
        return;
    }
    f = fopen(out, "r");
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!line[0])
            continue;
        if (findings < 5)
            printf("promtool_finding_%d=%s\n", findings, line);
        findings++;
    }
    if (f)
        fclose(f);
    unlink(out);
    printf("promtool_rc=%d\n", WEXITSTATUS(st));
    printf("promtool_lint_problems=%d\n", findings);
    printf("promtool_s=%.2f\n", (double)(mono_ns() - t0) / 1e9);
}

/* GET /metrics over loopback from an http_start()ed server, as a scraper
 * asks for it (gzip or not); the body's bytes, or -1. */
static ssize_t http_get_metrics(int port, bool gzip, double *ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256], chunk[65536];
    size_t total = 0, head = 0;
    int64_t t0 = mono_ns();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char tail[4] = {0};
    ssize_t r;
    int len;

    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("cannot connect to the metrics server");
    len = snprintf(req, sizeof(req),
                   "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                   gzip ? "Accept-Encoding: gzip\r\n" : "");
    if (write(fd, req, (size_t)len) != len)
        die("short write to the metrics server");
    while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
        /* the end of the head: the first CRLF CRLF, possibly across reads */
        for (ssize_t i = 0; !head && i < r; i++) {
            memmove(tail, tail + 1, 3);
            tail[3] = chunk[i];
            if (memcmp(tail, "\r\n\r\n", 4) == 0)
                head = total + (size_t)i + 1;
        }
        total += (size_t)r;
    }
    close(fd);
    *ms = (double)(mono_ns() - t0) / 1e6;
    return head ? (ssize_t)(total - head) : -1;
}

/* jobhost_plugins_loaded and jobhost_jobs for g, as daemon.c publishes them
 * after start and after every reload. */
static void publish_host_metrics(struct host *h, const struct generation *g)
{
    struct metrics_plugin *list = xcalloc(g->n_plugins + 1, sizeof(*list));

    for (size_t i = 0; i < g->n_plugins; i++) {
        list[i].name = g->plugins[i]->desc_name;
        list[i].version = g->plugins[i]->version;
    }
    metrics_set_plugins(h->rt.metrics, list, g->n_plugins);
    metrics_set_jobs(h->rt.metrics, g->n_jobs);
    free(list);
}

static void metrics_job_line(struct buf *b, size_t i, const void *arg)
{
    (void)arg;
    buf_printf(b, "  - {id: job_%05zu, plugin: ok}\n", i);
}

/*
 * The exposition of n jobs, as GET /metrics produces it: a generation of
 * n real jobs (ok.so, published as the daemon publishes its live one),
 * filled through the outcome pipeline (metrics_fill), rendered by
 * io/metrics_render.c (metrics_render_all, the function the daemon's
 * /metrics handler calls) R times into the previous render's buffer (the
 * HTTP server keeps the last response's buffer as its spare) and 3 times
 * into a fresh one; then served by the real HTTP server (http_start on
 * 127.0.0.1, libmicrohttpd) and fetched over loopback R times, plain and
 * gzip-encoded as Prometheus asks for it: render, copy and transfer.
 */
static int bench_metrics(size_t n, int reps)
{
    struct host h;
    struct buf text = {0}, b = {0};
    struct generation *g;
    double *t = xcalloc((size_t)reps + 3, sizeof(*t)), tf[3];
    double *th = xcalloc((size_t)reps + 1, sizeof(*th)), *tz = xcalloc((size_t)reps + 1, sizeof(*tz));
    ssize_t http_bytes = -1, gzip_bytes = -1;
    size_t lines, samples;
    int64_t t0;
    char path[] = "/tmp/jobhost-bench-metrics-XXXXXX";
    char err[256] = "";
    struct http_server *srv;
    struct http_config hc = {.listen = "127.0.0.1:0", .metrics_fn = metrics_render_stream};
    int fd;

    host_init(&h, anchor_buckets, ARRAY_SIZE(anchor_buckets), OBSERVE_NO_LOG);
    manifest_text(&text, n, online_cpus(), metrics_job_line, NULL);
    g = build_or_die(&h, parse_or_die(&text), NULL);
    buf_free(&text);
    publish_host_metrics(&h, g);
    t0 = mono_ns();
    metrics_fill(g);
    double fill_s = (double)(mono_ns() - t0) / 1e9;

    for (int r = 0; r < reps; r++) {
        buf_reset(&b);
        t0 = mono_ns();
        if (metrics_render_all(&h.src, METRICS_TEXT_004, &b) < 0)
            die("metrics_render_all failed");
        t[r] = (double)(mono_ns() - t0) / 1e6;
    }
    for (int r = 0; r < 3; r++) {
        struct buf fresh = {0};
        t0 = mono_ns();
        (void)metrics_render_all(&h.src, METRICS_TEXT_004, &fresh); /* checked above */
        tf[r] = (double)(mono_ns() - t0) / 1e6;
        buf_free(&fresh);
    }
    count_lines(&b, &lines, &samples);

    hc.metrics_arg = &h.src;
    srv = http_start(&hc, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "bench_sched: http_start: %s\n", err);
        die("cannot start the HTTP server");
    }
    (void)http_get_metrics(http_port(srv), false, &th[0]); /* warm: the server's spare buffer */
    for (int r = 0; r < reps; r++)
        http_bytes = http_get_metrics(http_port(srv), false, &th[r]);
    for (int r = 0; r < reps; r++)
        gzip_bytes = http_get_metrics(http_port(srv), true, &tz[r]);
    http_stop(srv);

    printf("side=jobhost\nworkload=metrics\nmetrics=on\n");
    printf("format=text 0.0.4 (io/metrics_render.c: metrics_render_all, what GET /metrics "
           "serves)\n");
    printf("filled_through=outcome pipeline (outcome_started/finished, skipped, planned)\n");
    printf("jobs=%zu\n", n);
    printf("fill_s=%.2f\n", fill_s);
    printf("gen_ms_min=%.2f\ngen_ms_max=%.2f\n", min_d(t, (size_t)reps), max_d(t, (size_t)reps));
    printf("gen_ms_median=%.2f\n", median_d(t, (size_t)reps));
    printf("fresh_buffer_gen_ms_median=%.2f\n", median_d(tf, 3));
    printf("bytes=%zu\nlines=%zu\nsamples=%zu\n", b.len, lines, samples);
    printf("ns_per_sample=%.1f\n", median_d(t, (size_t)reps) * 1e6 / (double)samples);
    printf("http_get_ms_median=%.2f\n", median_d(th, (size_t)reps));
    printf("http_get_bytes=%zd\n", http_bytes);
    printf("http_gzip_get_ms_median=%.2f\n", median_d(tz, (size_t)reps));
    printf("http_gzip_bytes=%zd\n", gzip_bytes);

    fd = mkstemp(path);
    if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
        die("cannot write the exposition");
    close(fd);
    fflush(stdout);
    promtool_check(path);
    unlink(path);
    buf_free(&b);
    free(t);
    free(th);
    free(tz);
    host_done(&h, &g, 1);
    return 0;
}

/* ---- reload: 1,000 jobs over 100 plugins ------------------------------------- */

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char chunk[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t r;

    if (in < 0)
        die("cannot open ok.so");
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0)
        die("cannot create a plugin copy");
    while ((r = read(in, chunk, sizeof(chunk))) > 0) {
        if (write(out, chunk, (size_t)r) != r)
            die("short write");
    }
    fchmod(out, mode);
    close(in);
    close(out);
}

/* A manifest as a user writes it (block style), to `path`. Job 0's param
 * carries `edit`, so each reload has a real change to apply. */
static void write_reload_manifest(const char *path, size_t n, size_t n_plugins, unsigned workers,
                                  int edit)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write the reload manifest");
    fprintf(f,
            "host:\n"
            "  plugin_dir: .\n"
            "  workers: %u\n"
            "  http: {enabled: false}\n"
            "  log:\n"
            "    level: warn\n"
            "    syslog: {enabled: false}\n"
            "jobs:\n",
            workers);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  - id: r%04zu\n    plugin: p%03zu\n", i, i % n_plugins);
        if (i % 2)
            fprintf(f, "    trigger: {interval: %zus}\n", 30 + i % 60);
        else
            fprintf(f, "    trigger: {cron: \"%zu */2 * * *\", timezone: UTC}\n", i % 60);
        fprintf(f, "    params: {tag: \"%s%d\"}\n", i == 0 ? "v" : "t", i == 0 ? edit : (int)i);
    }
    fclose(f);
}

/* What daemon.c does after a swap: re-apply the log settings, publish
 * jobhost_plugins_loaded and jobhost_jobs. */
static void on_reload_applied(void *arg, struct generation *g)
{
    struct host *h = arg;

    host_log_setup();
    publish_host_metrics(h, g);
}

static int bench_reload(size_t n, size_t n_plugins, int reps)
{
    struct host h;
    char dir[] = "/tmp/jobhost-bench-reload-XXXXXX", path[PATH_MAX], ok[PATH_MAX + 16];
    double *tr = xcalloc((size_t)reps, sizeof(double)), *tl = xcalloc((size_t)reps, sizeof(double));
    double *tb = xcalloc((size_t)reps, sizeof(double)), *tp = xcalloc((size_t)reps, sizeof(double));
    double *tu = xcalloc((size_t)reps, sizeof(double)), *tm = xcalloc((size_t)reps, sizeof(double));
    struct generation *live;
    struct manifest *m = NULL;
    struct errors errs = {0};
    struct reloader *rl;
    int64_t t0, t1, t2, t3;
    int edit = 0;

    if (!mkdtemp(dir))
        die("mkdtemp failed");
    chmod(dir, 0755);
    snprintf(ok, sizeof(ok), "%s/ok.so", plugin_dir);
    for (size_t i = 0; i < n_plugins; i++) {
        snprintf(path, sizeof(path), "%s/p%03zu.so", dir, i);
        copy_file(ok, path, 0755);
    }
    snprintf(path, sizeof(path), "%s/jobhost.yaml", dir);

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    host_pool(&h, online_cpus());
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start failed");

    /* The start: every plugin copied, dlopen()ed and initialised. */
    write_reload_manifest(path, n, n_plugins, h.workers, edit++);
    t0 = mono_ns();
    if (manifest_load(path, &m, &errs) < 0)
        die(errs.text.data);
    live = build_or_die(&h, m, NULL);
    scheduler_set_generation(h.sched, live, wall_ns());
    double cold_ms = (double)(mono_ns() - t0) / 1e6;

    /* The steps of a reload by hand, to see where the time goes. */
    for (int r = 0; r < reps; r++) {
        struct generation *g;
        write_reload_manifest(path, n, n_plugins, h.workers, edit++);
        t0 = mono_ns();
        if (manifest_load(path, &m, &errs) < 0)
            die(errs.text.data);
        t1 = mono_ns();
        g = build_or_die(&h, m, live);
        t2 = mono_ns();
        scheduler_set_generation(h.sched, g, wall_ns());
        t3 = mono_ns();
        generation_unref(live);
        live = g;
        tl[r] = (double)(t1 - t0) / 1e6;
        tb[r] = (double)(t2 - t1) / 1e6;
        tp[r] = (double)(t3 - t2) / 1e6;
        tm[r] = (double)(t3 - t0) / 1e6;
        tu[r] = (double)(mono_ns() - t3) / 1e6;
    }

    /* The real transaction (SIGHUP / POST /-/reload): reloader_reload, with
     * the daemon's after-swap work (log sinks, host gauges). */
    rl = reloader_new(path, &h.rt, h.sched, live,
                      &(struct reload_hooks){.applied = on_reload_applied, .arg = &h});
    for (int r = 0; r < reps; r++) {
        struct buf summary = {0};
        write_reload_manifest(path, n, n_plugins, h.workers, edit++);
        t0 = mono_ns();
        if (reloader_reload(rl, "bench", &summary, &errs) < 0)
            die(errs.text.data);
        tr[r] = (double)(mono_ns() - t0) / 1e6;
        buf_free(&summary);
    }

    printf("side=jobhost\nworkload=reload\nmetrics=on\n");
    printf("path=reloader_reload (manifest_load + generation_build + scheduler_set_generation "
           "+ swap)\n");
    printf("jobs=%zu\nplugins=%zu\nreps=%d\n", n, n_plugins, reps);
    printf("change=one job's params edited per reload; plugin files unchanged\n");
    printf("cold_start_ms=%.2f\n", cold_ms);
    printf("reload_ms_min=%.2f\nreload_ms_max=%.2f\n", min_d(tr, (size_t)reps),
           max_d(tr, (size_t)reps));
    printf("reload_ms_median=%.2f\n", median_d(tr, (size_t)reps));
    printf("steps_ms_median=%.2f\n", median_d(tm, (size_t)reps));
    printf("manifest_load_ms_median=%.2f\n", median_d(tl, (size_t)reps));
    printf("generation_build_ms_median=%.2f\n", median_d(tb, (size_t)reps));
    printf("scheduler_set_generation_ms_median=%.2f\n", median_d(tp, (size_t)reps));
    printf("release_old_ms_median=%.2f\n", median_d(tu, (size_t)reps));
    fflush(stdout);

    host_stop(&h);
    reloader_free(rl);
    host_done(&h, NULL, 0);
    for (size_t i = 0; i < n_plugins; i++) {
        snprintf(path, sizeof(path), "%s/p%03zu.so", dir, i);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/jobhost.yaml", dir);
    unlink(path);
    rmdir(dir);
    errors_free(&errs);
    free(tr), free(tl), free(tb), free(tp), free(tu), free(tm);
    return 0;
}

/* ---- overhead: what the instrumented wrapper adds per run ------------------- */

/*
 * One job of ok.so (no trigger), on this thread: N calls of the plugin's run
 * entry with a context prepared once (the bare call), and N run_job() calls
 * (run id, context, clocks, the outcome pipeline's started/finished through
 * the daemon's observers: metrics, log records below the level, job state),
 * alternated 5 times; ns per run, medians.
 */
static int bench_overhead(long n)
{
    struct host h;
    struct buf text = {0};
    struct generation *g;
    struct job *job;
    struct run_ctx rc;
    struct run bare_run = {0}, out;
    struct run_opts opts = {.trigger = RUN_SCHEDULED};
    double bare[5], inst[5], diff[5];

    host_init(&h, NULL, 0, OBSERVE_DAEMON);
    manifest_head(&text, online_cpus());
    buf_puts(&text, "  - {id: overhead, plugin: ok}\n");
    g = build_or_die(&h, parse_or_die(&text), NULL);
    buf_free(&text);
    job = &g->jobs[0];
    /* The bare call's context, prepared once as run_job prepares one per run. */
    bare_run.job = job;
    bare_run.id = run_new_id();
    run_id_format(bare_run.id, bare_run.id_text);
    hostapi_run_ctx(&rc, &bare_run, job->plugin, 0);

    for (int r = 0; r < 5; r++) {
        int64_t t0 = mono_ns();
        for (long i = 0; i < n; i++)
            job->plugin->desc->run(hostapi_ctx(&rc));
        bare[r] = (double)(mono_ns() - t0) / (double)n;
        opts.scheduled_wall_ns = wall_ns();
        t0 = mono_ns();
        for (long i = 0; i < n; i++)
            run_job(job, &opts, &out);
        inst[r] = (double)(mono_ns() - t0) / (double)n;
        diff[r] = inst[r] - bare[r];
    }

    printf("side=jobhost\nworkload=overhead\nmetrics=on\nlog_level=warn\n");
    printf("plugin=ok.so\nruns=%ld\n", n);
    printf("bare_ns_per_run=%.1f\n", median_d(bare, 5));
    printf("run_job_ns_per_run=%.1f\n", median_d(inst, 5));
    printf("overhead_ns_per_run=%.1f\n", median_d(diff, 5));
    host_done(&h, &g, 1);
    return 0;
}

/* ---- floor: what this machine allows ------------------------------------------ */

/*
 * Not jobhost: the two hand-offs every scheduled run needs, measured bare,
 * so the latency figures can be read against the machine. A thread sleeps
 * in epoll_wait on a timerfd (CLOCK_REALTIME, absolute, timer slack 1 ns:
 * as the dispatcher does) armed for N times 2.5 ms apart; on each expiry it
 * reads the clock (timer lateness) and signals a condition variable a
 * second thread waits on, which reads the clock too (timer + thread wake).
 */
struct floor_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t due;      /* under lock */
    uint64_t seq;     /* under lock: one per firing */
    bool stop;        /* under lock */
    int64_t *woke;    /* written by the waiter only */
    size_t n_woke;
};

static void *floor_waiter(void *arg)
{
    struct floor_state *fs = arg;
    uint64_t seen = 0;

    pthread_mutex_lock(&fs->lock);
    for (;;) {
        while (fs->seq == seen && !fs->stop)
            pthread_cond_wait(&fs->cond, &fs->lock);
        if (fs->stop)
            break;
        seen = fs->seq;
        int64_t due = fs->due;
        pthread_mutex_unlock(&fs->lock);
        fs->woke[fs->n_woke++] = wall_ns() - due;
        pthread_mutex_lock(&fs->lock);
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

static int bench_floor(size_t n, double spread)
{
    struct floor_state fs = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    int tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
    int efd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    int64_t *timer = xcalloc(n + 1, sizeof(*timer)), base, step;
    pthread_t th;

    if (tfd < 0 || efd < 0)
        die("timerfd/epoll failed");
    ev.data.fd = tfd;
    epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    fs.woke = xcalloc(n + 1, sizeof(*fs.woke));
    pthread_create(&th, NULL, floor_waiter, &fs);
    step = (int64_t)(spread * 1e9) / (int64_t)n;
    base = wall_ns() + 200 * NS_PER_MS;
    for (size_t i = 0; i < n; i++) {
        int64_t due = base + (int64_t)i * step;
        struct itimerspec its = {.it_value = {.tv_sec = due / NS_PER_SEC,
                                              .tv_nsec = due % NS_PER_SEC}};
        struct epoll_event got;
        uint64_t v;

        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        while (epoll_wait(efd, &got, 1, -1) < 1)
            ;
        timer[i] = wall_ns() - due;
        if (read(tfd, &v, sizeof(v)) < 0)
            die("timerfd read failed");
        pthread_mutex_lock(&fs.lock);
        fs.due = due;
        fs.seq++;
        pthread_cond_signal(&fs.cond);
        pthread_mutex_unlock(&fs.lock);
    }
    sleep_ns(10 * NS_PER_MS);
    pthread_mutex_lock(&fs.lock);
    fs.stop = true;
    pthread_cond_signal(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
    pthread_join(th, NULL);

    printf("side=machine (not jobhost)\nworkload=floor\n");
    printf("what=timerfd CLOCK_REALTIME abs + epoll_wait, slack 1 ns; then a condvar "
           "hand-off to a second thread\n");
    printf("wakes=%zu\nspread_s=%.3f\n", n, spread);
    print_lateness("timer_wake", timer, n);
    print_lateness("timer_plus_handoff", fs.woke, fs.n_woke);
    close(tfd);
    close(efd);
    free(timer);
    free(fs.woke);
    return 0;
}

/* ---- main ------------------------------------------------------------------------ */

static size_t arg_size(int argc, char **argv, int i, size_t def)
{
    return i < argc ? strtoul(argv[i], NULL, 10) : def;
}

static double arg_double(int argc, char **argv, int i, double def)
{
    return i < argc ? strtod(argv[i], NULL) : def;
}

static void usage(void)
{
    fputs("usage: bench_sched [--plugins DIR] oneshot [N] | oneshot_info [N] | burst [N] [S] | "
          "latency [N] [S] [K] | memory N | idle [N] [S] | metrics [N] [R] | "
          "reload [N] [P] [R] | overhead [N] | floor [N] [S]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = "build/bench/plugins";
    const char *cmd;
    int i = 1;

    if (argc > 2 && strcmp(argv[1], "--plugins") == 0) {
        dir = argv[2];
        i = 3;
    }
    if (i >= argc)
        usage();
    if (!realpath(dir, plugin_dir))
        die("the plugin directory does not exist (build it with tests/bench/run.sh)");
    setvbuf(stdout, NULL, _IOLBF, 0);
    mainloop_init(); /* this thread is the main thread: lifecycle work runs here */
    cmd = argv[i++];
    if (strcmp(cmd, "oneshot") == 0)
        return bench_oneshot(arg_size(argc, argv, i, 100000));
    if (strcmp(cmd, "oneshot_info") == 0)
        return bench_oneshot_info(arg_size(argc, argv, i, 100000));
    if (strcmp(cmd, "burst") == 0)
        return bench_burst(arg_size(argc, argv, i, 1000), (int)arg_size(argc, argv, i + 1, 10));
    if (strcmp(cmd, "latency") == 0)
        return bench_latency(arg_size(argc, argv, i, 2000), arg_double(argc, argv, i + 1, 5.0),
                             arg_size(argc, argv, i + 2, 10000));
    if (strcmp(cmd, "memory") == 0)
        return bench_memory(arg_size(argc, argv, i, 10000));
    if (strcmp(cmd, "idle") == 0)
        return bench_idle(arg_size(argc, argv, i, 10000), arg_double(argc, argv, i + 1, 10.0));
    if (strcmp(cmd, "metrics") == 0)
        return bench_metrics(arg_size(argc, argv, i, 10000), (int)arg_size(argc, argv, i + 1, 7));
    if (strcmp(cmd, "reload") == 0)
        return bench_reload(arg_size(argc, argv, i, 1000), arg_size(argc, argv, i + 1, 100),
                            (int)arg_size(argc, argv, i + 2, 7));
    if (strcmp(cmd, "floor") == 0)
        return bench_floor(arg_size(argc, argv, i, 2000), arg_double(argc, argv, i + 1, 5.0));
    if (strcmp(cmd, "overhead") == 0)
        return bench_overhead((long)arg_size(argc, argv, i, 2000000));
    usage();
    return 2;
}
