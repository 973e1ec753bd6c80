/*
 * bench_log — what logging costs. Prints figures; never passes or fails.
 *
 *  1. throughput: records/s through the file sink from 2 producer threads,
 *     from the first jlog until log_flush says the last one is in the file
 *     (a file in a fresh /tmp directory, page cache, no fsync);
 *  2. per run: ns for the job_started + job_finished pair a run writes, as
 *     the executor calls them (jlog_ctx), with the file sink on;
 *  3. the same pair below the level (what a filtered record costs);
 *  4. the pair for runs spread out in time, caches cold: 200 ms apart (the
 *     writer is ticking: no wake-up) and 1.5 s apart (the writer sleeps
 *     for good, so job_started pays for waking it: see DESIGN in
 *     io/log_writer.c).
 *
 * Build:  tests/bench/run.sh builds it (BENCH_ONLY=log) with the release
 *         objects of build/release/host but main.o, into build/bench/bench_log.
 * Usage:  build/bench/bench_log [records-per-thread] [runs]
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "lib/util.h"

static char dir[64];
static char path[128];

struct producer {
    int id;
    long count;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct log_ctx ctx = {.job = "heartbeat", .run_id = "01JD3M7K2Q", .plugin = "hello",
                          .level = LOG_INFO_LEVEL};

    for (long i = 0; i < p->count; i++)
        jlog_ctx(&ctx, LOG_INFO_LEVEL, "tick", "thread=%d seq=%ld", p->id, i);
    return NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void setup(void)
{
    struct log_config cfg = {
        .level = LOG_INFO_LEVEL,
        .ident = "jobhost-bench",
        .file_path = path,
        .file_max_size = 0,
    };
    unlink(path);
    if (log_setup(&cfg) != 0) {
        fprintf(stderr, "bench_log: cannot open %s\n", path);
        exit(1);
    }
}

static void bench_throughput(long per_thread)
{
    enum { THREADS = 2 };
    pthread_t th[THREADS];
    struct producer pr[THREADS];
    uint64_t q0 = log_dropped("queue"), f0 = log_dropped("file");
    struct stat st;
    int64_t t0, t1, t2;

    setup();
    t0 = mono_ns();
    for (int i = 0; i < THREADS; i++) {
        pr[i] = (struct producer){i, per_thread};
        pthread_create(&th[i], NULL, produce, &pr[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    t1 = mono_ns();
    log_flush();
    t2 = mono_ns();
    log_shutdown();
    stat(path, &st);

    double total = (double)per_thread * THREADS;
    double secs = (t2 - t0) / 1e9;
    printf("file sink, %d threads: %.0f records in %.3f s = %.2f M records/s "
           "(%.1f MB/s, %.0f B/record; producers done after %.3f s; dropped queue=%llu "
           "file=%llu)\n",
           THREADS, total, secs, total / secs / 1e6, (double)st.st_size / secs / 1e6,
           (double)st.st_size / total, (t1 - t0) / 1e9,
           (unsigned long long)(log_dropped("queue") - q0),
           (unsigned long long)(log_dropped("file") - f0));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns for the two records of runs `gap_ms` apart; the median. */
static double spaced(int n, int gap_ms)
{
    struct log_ctx ctx = {.job = "heartbeat", .run_id = "01JD3M7K2Q8XN3", .plugin = "hello",
                          .level = LOG_INFO_LEVEL};
    double r[32];

    for (int i = 0; i < n && i < 32; i++) {
        usleep((useconds_t)gap_ms * 1000);
        int64_t t0 = mono_ns();
        jlog_ctx(&ctx, LOG_INFO_LEVEL, "job_started", "trigger=%s scheduled_ts=%lld", "interval",
                 (long long)i);
        jlog_ctx(&ctx, LOG_INFO_LEVEL, "job_finished", "result=%s duration_ms=%.3f", "success",
                 0.123);
        r[i] = (double)(mono_ns() - t0);
    }
    qsort(r, (size_t)n, sizeof(double), cmp_double);
    return r[n / 2];
}

/* ns for one run's two records; the median of `rounds` rounds. */
static double per_run(long runs, int level, int rounds)
{
    struct log_ctx ctx = {.job = "nightly-prune", .run_id = "01JD3M7K2Q8XN3", .plugin = "file_prune",
                          .level = level};
    double r[16];

    for (int k = 0; k < rounds && k < 16; k++) {
        int64_t t0 = mono_ns();
        for (long i = 0; i < runs; i++) {
            jlog_ctx(&ctx, LOG_INFO_LEVEL, "job_started", "trigger=%s scheduled_ts=%lld",
                     "interval", (long long)i);
            jlog_ctx(&ctx, LOG_INFO_LEVEL, "job_finished", "result=%s duration_ms=%.3f", "success",
                     (double)i * 0.001);
        }
        r[k] = (double)(mono_ns() - t0) / (double)runs;
        log_flush(); /* the next round starts with an empty queue */
    }
    qsort(r, (size_t)rounds, sizeof(double), cmp_double);
    return r[rounds / 2];
}

int main(int argc, char **argv)
{
    long per_thread = argc > 1 ? strtol(argv[1], NULL, 10) : 2000000;
    long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;

    snprintf(dir, sizeof(dir), "/tmp/jh_bench_log.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/bench.log", dir);

    setup();
    per_run(runs, LOG_INFO_LEVEL, 3); /* warm up */
    printf("per run (job_started + job_finished, jlog_ctx, file sink on): %.0f ns "
           "(median of 9 rounds of %ld runs back to back)\n",
           per_run(runs, LOG_INFO_LEVEL, 9), runs);
    printf("per run, both records below the job's level: %.1f ns\n",
           per_run(runs * 10, LOG_ERROR_LEVEL, 9));
    printf("per run, runs 200 ms apart (cold caches, writer ticking): %.0f ns (median of 15)\n",
           spaced(15, 200));
    printf("per run, runs 1.5 s apart (writer asleep: job_started wakes it): %.0f ns "
           "(median of 5)\n",
           spaced(5, 1500));
    log_shutdown();

    bench_throughput(per_thread);

    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
