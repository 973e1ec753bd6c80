/*
 * bench_store — the run store's figures, printed as name=value lines (as
 * bench_sched prints its own); never passes or fails on time.
 *
 *   throughput N on|off   N one-shot date jobs due now (the oneshot
 *                         workload), with the run store on (the daemon's
 *                         observers plus the history writer on a fresh
 *                         SQLite file) or off: time until the last run,
 *                         and with the store until the last run is
 *                         committed; runs committed, reports dropped.
 *   handoff N             what a run's start and finish cost the thread
 *                         that reports them: N history_started +
 *                         history_finished pairs, in bursts the writer
 *                         (running, committing to a file) keeps up with;
 *                         and run_job of ok.so with and without the store
 *                         observer, the difference per run.
 *   history N J PATH      a store of N runs over J jobs written at PATH
 *                         through the backend, then job j0's newest page
 *                         (limit 50) and a page deep in it, read through
 *                         a reader; file bytes per run.
 * Option (first): --plugins DIR (bench_probe.so and ok.so; default
 * build/bench/plugins).
 *
 * Honesty: the release build's host objects, real plugins loaded through
 * generation_build, the real scheduler thread and executor (workers =
 * CPUs), the outcome pipeline with the daemon's observers, log level warn,
 * the SQLite backend on a real file (WAL, synchronous=NORMAL).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_probe.h"
#include "core/clock.h"
#include "core/executor.h"
#include "core/generation.h"
#include "core/history.h"
#include "core/log.h"
#include "core/mainloop.h"
#include "core/manifest.h"
#include "core/metrics.h"
#include "core/outcome_log.h"
#include "core/outcome_metrics.h"
#include "core/outcome_state.h"
#include "core/outcome_store.h"
#include "core/plugin.h"
#include "core/restore.h"
#include "core/run.h"
#include "core/scheduler.h"
#include "core/store.h"
#include "io/store_sqlite.h"
#include "lib/units.h"
#include "lib/util.h"

static char plugin_dir[PATH_MAX];

static void die(const char *what)
{
    fprintf(stderr, "bench_store: %s\n", what);
    exit(1);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / NS_PER_SEC, .tv_nsec = ns % NS_PER_SEC};
    nanosleep(&ts, NULL);
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;
    qsort(v, n, sizeof(*v), cmp_d);
    i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int submit_one(void *arg, struct job *job, const struct run_opts *opts)
{
    return executor_submit(arg, job, opts);
}

static size_t submit_many(void *arg, const struct run_request *reqs, size_t n)
{
    return executor_submit_many(arg, reqs, n);
}

/* The host as daemon.c wires it, the store optional. */
struct host {
    struct runtime rt;
    char dir[64], path[128];
    struct store *store;
    struct restore *restore;
    struct history *history;
    struct executor *ex;
    struct scheduler *sched;
};

static void host_init(struct host *h)
{
    struct log_config lc = {.level = JH_LOG_WARN, .ident = "jobhost-bench", .to_stderr = true};

    memset(h, 0, sizeof(*h));
    log_setup(&lc);
    runtime_init(&h->rt, metrics_new(NULL, 0));
    outcome_reset();
    outcome_register(&outcome_metrics, &h->rt);
    outcome_register(&outcome_log, NULL);
    outcome_register(&outcome_state, NULL);
}

static struct generation *build(struct host *h, const struct buf *jobs)
{
    struct buf text = {0};
    struct errors errs = {0};
    struct manifest *m = NULL;
    struct generation *g = NULL;

    buf_printf(&text,
               "host:\n  plugin_dir: %s\n  workers: %u\n  http: {enabled: false}\n"
               "  log: {level: warn, syslog: {enabled: false}}\njobs:\n%s",
               plugin_dir, online_cpus(), jobs->data ? jobs->data : "");
    if (manifest_parse("bench.yaml", "/tmp", text.data, text.len, &m, &errs) < 0 ||
        generation_build(&h->rt, m, NULL, &g, &errs) < 0) {
        fputs(errs.text.data ? errs.text.data : "", stderr);
        die("manifest or generation refused");
    }
    generation_publish(g);
    buf_free(&text);
    errors_free(&errs);
    return g;
}

/* The store on a fresh file, restored for g (registering its jobs, as a
 * start does before its first firing), and the writer running. */
static void host_store(struct host *h, struct generation *g)
{
    struct store_config cfg = {.node = "bench", .version = "bench", .pid = (int)getpid()};
    struct history_config hc = {.backend = &store_sqlite, .output_max = 65536,
                                .retention = {.max_runs = 0}};
    char err[512] = "";

    snprintf(h->dir, sizeof(h->dir), "/tmp/jobhost-bench-store-XXXXXX");
    if (!mkdtemp(h->dir))
        die("mkdtemp");
    snprintf(h->path, sizeof(h->path), "%s/jobhost.db", h->dir);
    cfg.path = h->path;
    if (store_sqlite.open(&cfg, &h->store, err, sizeof(err)) < 0 ||
        restore_run(h->store, &h->rt, g, wall_ns(), &h->restore, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        die("store");
    }
    hc.store_cfg = cfg;
    h->history = history_new(&hc, h->store);
    history_hold(h->history, g);
    outcome_register(&outcome_store, h->history);
    if (history_start(h->history) < 0)
        die("history_start");
}

static void host_pool(struct host *h)
{
    struct scheduler_opts so = {.submit = submit_one, .submit_many = submit_many};

    h->ex = executor_new(&(struct executor_opts){.workers = online_cpus()});
    so.submit_arg = h->ex;
    h->sched = scheduler_new(&so);
}

static long file_bytes(const char *path)
{
    char p[160];
    struct stat st;
    long total = 0;

    if (stat(path, &st) == 0)
        total += st.st_size;
    snprintf(p, sizeof(p), "%s-wal", path);
    if (stat(p, &st) == 0)
        total += st.st_size;
    return total;
}

static void host_done(struct host *h, struct generation *g)
{
    char cmd[128];

    if (h->sched)
        scheduler_stop(h->sched);
    if (h->ex) {
        executor_stop(h->ex, mono_ns() + 5 * NS_PER_SEC, NS_PER_SEC);
        executor_free(h->ex);
    }
    history_stop(h->history);
    scheduler_free(h->sched);
    generation_unref(g);
    mainloop_run_pending();
    history_free(h->history);
    restore_free(h->restore);
    outcome_reset();
    {
        struct metrics *m = h->rt.metrics;
        runtime_free(&h->rt);
        metrics_free(m);
    }
    log_flush();
    if (h->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_store: could not remove %s\n", h->dir);
    }
}

/* ---- throughput ------------------------------------------------------------------- */

static int bench_throughput(size_t n, bool store)
{
    struct host h;
    struct buf jobs = {0};
    struct generation *g;
    struct plugin *pl;
    bench_probe_arm_fn arm;
    bench_probe_done_fn done_fn;
    bench_probe_runs_fn runs_fn;
    struct history_stats st = {0};
    char when[64];
    int64_t due, t0, done = 0, committed = 0, deadline;
    time_t secs;
    struct tm tm;

    host_init(&h);
    due = wall_ns();
    secs = (time_t)(due / NS_PER_SEC);
    gmtime_r(&secs, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%09lldZ",
             (long long)(due % NS_PER_SEC));
    for (size_t i = 0; i < n; i++)
        buf_printf(&jobs, "  - {id: j%06zu, plugin: bench_probe, trigger: {date: \"%s\"}}\n", i,
                   when);
    g = build(&h, &jobs);
    buf_free(&jobs);
    pl = generation_find_plugin(g, "bench_probe");
    if (!pl)
        die("bench_probe is not loaded");
    arm = (bench_probe_arm_fn)dlsym(pl->handle, BENCH_PROBE_ARM);
    done_fn = (bench_probe_done_fn)dlsym(pl->handle, BENCH_PROBE_DONE);
    runs_fn = (bench_probe_runs_fn)dlsym(pl->handle, BENCH_PROBE_RUNS);
    if (!arm || !done_fn || !runs_fn)
        die("bench_probe.so lacks its accessors");
    arm(0, n);
    if (store)
        host_store(&h, g);
    host_pool(&h);

    t0 = mono_ns();
    scheduler_set_generation(h.sched, g, due - 1); /* planned the instant before they fell due */
    if (scheduler_start(h.sched) < 0)
        die("scheduler_start");
    deadline = t0 + 120 * NS_PER_SEC;
    while (!(done = done_fn()) && mono_ns() < deadline)
        sleep_ns(200000);
    if (store) {
        while (mono_ns() < deadline) {
            history_stats(h.history, &st);
            if (st.runs_finished + st.dropped >= n) {
                committed = mono_ns();
                break;
            }
            sleep_ns(200000);
        }
        history_stats(h.history, &st);
    }
    /* keys prefixed: run.sh joins the "on" and "off" runs into one file */
    const char *k = store ? "on" : "off";
    printf("side=jobhost\nworkload=store\njobs=%zu\n", n);
    printf("%s_runs=%llu\n", k, (unsigned long long)runs_fn());
    if (done)
        printf("%s_all_run_s=%.4f\n", k, (double)(done - t0) / 1e9);
    if (store) {
        printf("on_runs_committed=%llu\non_rows_committed=%llu\non_dropped=%llu\n"
               "on_commits=%llu\n",
               (unsigned long long)st.runs_finished, (unsigned long long)st.rows,
               (unsigned long long)st.dropped, (unsigned long long)st.latency_count);
        if (committed) {
            printf("on_last_commit_s=%.4f\n", (double)(committed - t0) / 1e9);
            printf("on_throughput_jobs_per_s=%.0f\n",
                   (double)n / ((double)(committed - t0) / 1e9));
        }
        printf("on_db_bytes=%ld\n", file_bytes(h.path));
    } else if (done) {
        printf("off_throughput_jobs_per_s=%.0f\n", (double)n / ((double)(done - t0) / 1e9));
    }
    host_done(&h, g);
    return done && (!store || committed) ? 0 : 1;
}

/* ---- hand-off ------------------------------------------------------------------------ */

static double run_job_ns(struct job *job, long n)
{
    struct run_opts opts = {.trigger = RUN_SCHEDULED};
    struct run out = {0};
    int64_t t0;

    opts.scheduled_wall_ns = wall_ns();
    t0 = mono_ns();
    for (long i = 0; i < n; i++)
        run_job(job, &opts, &out);
    return (double)(mono_ns() - t0) / (double)n;
}

static void wait_drained(struct history *h)
{
    struct history_stats st;
    do {
        sleep_ns(1000000);
        history_stats(h, &st);
    } while (st.queued > 0);
}

static int bench_handoff(long n)
{
    struct host h;
    struct buf jobs = {0};
    struct generation *g;
    struct job *job;
    struct history_stats st;
    double bare[5], with[5], pair[5];
    const long burst = 20000;

    host_init(&h);
    buf_puts(&jobs, "  - {id: handoff, plugin: ok}\n");
    g = build(&h, &jobs);
    buf_free(&jobs);
    job = &g->jobs[0];
    for (int r = 0; r < 5; r++)
        bare[r] = run_job_ns(job, n); /* metrics, log, state: no store yet */
    host_store(&h, g);
    for (int r = 0; r < 5; r++) {
        double sum = 0;
        /* a run's start and finish handed over, bursts the ring holds */
        for (long done = 0; done < n; done += burst) {
            struct run run = {0};
            int64_t t0;
            run.job = job;
            run.start_wall_ns = wall_ns();
            t0 = mono_ns();
            for (long i = 0; i < burst; i++) {
                run.id = (uint64_t)(r * n + done + i + 1);
                history_started(h.history, &run);
                history_finished(h.history, &run);
            }
            sum += (double)(mono_ns() - t0);
            wait_drained(h.history);
        }
        pair[r] = sum / (double)((n + burst - 1) / burst * burst);
        with[r] = 0;
        {
            double s = 0;
            for (long done = 0; done < n; done += burst) {
                s += run_job_ns(job, burst) * (double)burst;
                wait_drained(h.history);
            }
            with[r] = s / (double)((n + burst - 1) / burst * burst);
        }
    }
    history_stats(h.history, &st);
    qsort(bare, 5, sizeof(double), cmp_d);
    qsort(with, 5, sizeof(double), cmp_d);
    qsort(pair, 5, sizeof(double), cmp_d);
    printf("side=jobhost\nworkload=store_handoff\nruns=%ld\n", n);
    printf("handoff_ns_per_run=%.1f\n", pair[2]);
    printf("handoff_ns_per_run_min=%.1f\n", pair[0]);
    printf("run_job_ns_without_store=%.1f\n", bare[2]);
    printf("run_job_ns_with_store=%.1f\n", with[2]);
    printf("observer_added_ns_per_run=%.1f\n", with[2] - bare[2]);
    printf("dropped=%llu\n", (unsigned long long)st.dropped);
    host_done(&h, g);
    return 0;
}

/* ---- a big history -------------------------------------------------------------------- */

static int count_entry(void *arg, const struct store_entry *e)
{
    uint64_t *last = arg;
    *last = e->id;
    return 0;
}

static int bench_history(uint64_t n, unsigned n_jobs, const char *path)
{
    struct store_config cfg = {.path = path, .node = "bench", .version = "bench",
                               .pid = (int)getpid()};
    struct store_restore r = {0};
    const char **ids = xcalloc(n_jobs, sizeof(*ids));
    struct store *s = NULL;
    struct store_reader *rd = NULL;
    char err[512] = "";
    int64_t t = wall_ns() - (int64_t)n * NS_PER_MS, t0;
    uint32_t *keys = xcalloc(n_jobs, sizeof(*keys));
    double first[200], deep[200];
    uint64_t deep_before = 0, last = 0;

    unlink(path);
    for (unsigned j = 0; j < n_jobs; j++) {
        char *id = xmalloc(16);
        snprintf(id, 16, "j%u", j);
        ids[j] = id;
    }
    if (store_sqlite.open(&cfg, &s, err, sizeof(err)) < 0)
        die(err);
    r.job_ids = ids;
    r.n_jobs = n_jobs;
    r.now_ns = wall_ns();
    if (s->ops->restore(s, &r, err, sizeof(err)) < 0)
        die(err);
    for (unsigned j = 0; j < n_jobs; j++)
        keys[j] = r.jobs[j].key;
    store_restore_free(&r);
    t0 = mono_ns();
    for (uint64_t i = 0; i < n;) {
        if (s->ops->begin(s) < 0)
            die("begin");
        for (uint64_t k = 0; k < 100000 && i < n; k++, i++) {
            /* a run each millisecond, the jobs in turn, every 20th a failure */
            int64_t at = t + (int64_t)i * NS_PER_MS;
            struct store_row row = {.id = run_id_floor(at) + (i & 0xff), .job = keys[i % n_jobs],
                                    .result = i % 20 ? RUN_SUCCESS : RUN_FAILURE,
                                    .trigger = RUN_SCHEDULED, .scheduled_ns = at,
                                    .started_ns = at, .finished_ns = at + 250000, .attempt = 1,
                                    .error = i % 20 ? NULL : "exit status 1"};
            if (s->ops->put_row(s, &row) < 0)
                die(s->ops->error(s));
            if (i == n / 2)
                deep_before = row.id;
        }
        if (s->ops->commit(s) < 0)
            die(s->ops->error(s));
    }
    if (s->ops->flush(s) < 0 || s->ops->heartbeat(s, wall_ns(), true) < 0)
        die(s->ops->error(s));
    printf("side=jobhost\nworkload=store_history\nruns=%llu\njobs=%u\n", (unsigned long long)n,
           n_jobs);
    printf("build_s=%.1f\nbuild_rows_per_s=%.0f\n", (double)(mono_ns() - t0) / 1e9,
           (double)n / ((double)(mono_ns() - t0) / 1e9));
    s->ops->close(s);
    printf("db_bytes=%ld\nbytes_per_run=%.1f\n", file_bytes(path),
           (double)file_bytes(path) / (double)n);
    if (store_sqlite.open_reader(path, &rd, err, sizeof(err)) < 0)
        die(err);
    for (int i = 0; i < 200; i++) {
        struct store_query q = {.job_id = "j0", .limit = 50, .result = INT32_MIN};
        t0 = mono_ns();
        if (rd->ops->list(rd, &q, count_entry, &last) < 0)
            die("list");
        first[i] = (double)(mono_ns() - t0) / 1e6;
        q.before = deep_before;
        t0 = mono_ns();
        if (rd->ops->list(rd, &q, count_entry, &last) < 0)
            die("list");
        deep[i] = (double)(mono_ns() - t0) / 1e6;
    }
    printf("newest_page_ms_p50=%.3f\nnewest_page_ms_p99=%.3f\n", pct(first, 200, 50),
           pct(first, 200, 99));
    printf("deep_page_ms_p50=%.3f\ndeep_page_ms_p99=%.3f\n", pct(deep, 200, 50),
           pct(deep, 200, 99));
    rd->ops->reader_close(rd);
    for (unsigned j = 0; j < n_jobs; j++)
        free((char *)ids[j]);
    free(ids);
    free(keys);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    const char *dir = "build/bench/plugins";

    mainloop_init();
    if (argc > 2 && strcmp(argv[1], "--plugins") == 0) {
        dir = argv[2];
        i = 3;
    }
    if (!realpath(dir, plugin_dir))
        die("--plugins: no such directory");
    if (i >= argc)
        goto usage;
    if (strcmp(argv[i], "throughput") == 0 && i + 2 < argc)
        return bench_throughput((size_t)strtoul(argv[i + 1], NULL, 10),
                                strcmp(argv[i + 2], "on") == 0);
    if (strcmp(argv[i], "handoff") == 0)
        return bench_handoff(i + 1 < argc ? strtol(argv[i + 1], NULL, 10) : 200000);
    if (strcmp(argv[i], "history") == 0 && i + 3 < argc)
        return bench_history(strtoull(argv[i + 1], NULL, 10),
                             (unsigned)strtoul(argv[i + 2], NULL, 10), argv[i + 3]);
usage:
    fputs("usage: bench_store [--plugins DIR] throughput N on|off | handoff [N] | "
          "history N JOBS PATH\n",
          stderr);
    return 2;
}
