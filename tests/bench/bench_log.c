/*
 * bench_log — what logging costs. Prints name=value lines; never passes or
 * fails. tests/bench/run.sh builds it (release flags, the release build's
 * host objects) and runs it as the `log` workload.
 *
 * Three sink settings, each measured the same way:
 *   bare     the file sink alone, level info, no rotation: the writer's
 *            ceiling;
 *   rotating the file sink as the daemon's default manifest has it
 *            (rotating at 10 MiB keeping 5), level info, nothing else: the
 *            two-thread burst that must lose nothing at a rotation;
 *   daemon   what the daemon does with no log: section in its manifest:
 *            level info, the file sink rotating at 10 MiB keeping 5, and
 *            syslog(3) on (ident jobhost, facility daemon). syslog needs a
 *            receiver that is not the machine's: run.sh starts bench_log in
 *            a private mount namespace where /dev/log is a private
 *            rsyslogd's (tests/integration/private_syslog.sh) and passes
 *            --syslog-file, the file that rsyslogd writes. Without it the
 *            daemon setting is skipped, never sent to the machine's syslog.
 *
 * For each: throughput (records/s through the sinks from 2 producer threads,
 * from the first jlog until log_flush says the last one was handed to every
 * sink; a fresh directory, page cache, no fsync), sizes summed over the
 * current file and every rotated one (path, path.1 .. path.keep), records
 * found in them (newlines) and in the syslog receiver's file, every drop
 * counter: queue (the producer found its ring full for 1 ms; and of those,
 * how many while a rotation ran), file, syslog; the rotations and how long
 * the longest held the writer; and the writer thread's CPU per record, so
 * the cost of each sink shows. Runs that rotate write no more than their 6
 * files hold, so rotation never throws a record away and every byte is
 * counted.
 *
 * Then the cost per run on the run path: ns of the job_started +
 * job_finished pair a run writes, through the log observer itself
 * (core/outcome_log.c's started and finished, on a struct run as run_job
 * fills it), back to back; the same pair through jlog_ctx with a format
 * string (what the run path did before it captured); below the level (a
 * filtered record); and for runs spread out in time with caches cold: 200 ms
 * apart, 1.5 s apart (the writer ticking: no wake-up) and 6 s apart (the
 * writer asleep for good: job_started pays for waking it, see DESIGN in
 * io/log_writer.c).
 *
 * Usage:  bench_log [--syslog-file PATH] [records-per-thread] [runs]
 *         (2,000,000 and 100,000 by default)
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/log.h"
#include "core/outcome_log.h"
#include "core/run.h"
#include "lib/units.h"
#include "lib/util.h"

#define THREADS 2
#define DAEMON_MAX_SIZE (10u << 20) /* the manifest's default file.max_size */
#define DAEMON_KEEP 5               /* and file.keep */

/* Main thread only. */
static char dir[64];
static char path[128];

struct producer {
    int id;
    long count;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct log_ctx ctx = {.job = "heartbeat", .run_id = "0192f3a4b5c6d7e8", .plugin = "hello",
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

/* Newlines in `file`, and (when `needle` is set) lines holding it; 0 when
 * the file is absent. */
static uint64_t count_lines(const char *file, const char *needle, uint64_t *matching)
{
    FILE *f = fopen(file, "r");
    char line[LOG_LINE_MAX + 2];
    uint64_t n = 0, m = 0;

    if (f) {
        while (fgets(line, sizeof(line), f)) {
            if (strchr(line, '\n'))
                n++;
            if (needle && strstr(line, needle))
                m++;
        }
        fclose(f);
    }
    if (matching)
        *matching = m;
    return n;
}

/* What the file sink left on disk: path and its rotated files. */
struct on_disk {
    unsigned files;
    uint64_t bytes;
    uint64_t records;
};

static void disk_usage(unsigned keep, struct on_disk *d)
{
    char name[160];
    struct stat st;

    memset(d, 0, sizeof(*d));
    for (unsigned i = 0; i <= keep; i++) {
        if (i == 0)
            snprintf(name, sizeof(name), "%s", path);
        else
            snprintf(name, sizeof(name), "%s.%u", path, i);
        if (stat(name, &st) < 0)
            continue;
        d->files++;
        d->bytes += (uint64_t)st.st_size;
        d->records += count_lines(name, NULL, NULL);
    }
}

/* Waits until `file` holds `want` lines with `needle`, or its count has not
 * moved for 2 s: what the syslog receiver got. */
static uint64_t receiver_count(const char *file, const char *needle, uint64_t want)
{
    uint64_t got = 0, last = UINT64_MAX;
    int64_t still_since = mono_ns();

    for (;;) {
        (void)count_lines(file, needle, &got);
        if (got >= want)
            return got;
        if (got != last) {
            last = got;
            still_since = mono_ns();
        } else if (mono_ns() - still_since > 2 * NS_PER_SEC) {
            return got;
        }
        usleep(100 * 1000);
    }
}

struct setting {
    const char *name;     /* "bare", "daemon" */
    bool syslog;
    uint64_t max_size;
    unsigned keep;
};

static void setup(const struct setting *s)
{
    struct log_config cfg = {
        .level = LOG_INFO_LEVEL,
        .syslog_enabled = s->syslog,
        .ident = "jobhost",
        .facility = LOG_DAEMON,
        .file_path = path,
        .file_max_size = s->max_size,
        .file_keep = s->keep,
    };
    if (log_setup(&cfg) != 0) {
        fprintf(stderr, "bench_log: cannot open %s\n", path);
        exit(1);
    }
}

static void remove_files(unsigned keep)
{
    char name[160];
    unlink(path);
    for (unsigned i = 1; i <= keep; i++) {
        snprintf(name, sizeof(name), "%s.%u", path, i);
        unlink(name);
    }
}

/* Throughput of one setting; returns the bytes per record written. */
static double throughput(const struct setting *s, long per_thread, const char *syslog_file)
{
    pthread_t th[THREADS];
    struct producer pr[THREADS];
    uint64_t q0 = log_dropped("queue"), f0 = log_dropped("file"), s0 = log_dropped("syslog");
    uint64_t sys0 = 0, dq, df, ds;
    struct log_stats st0, st1;
    struct on_disk d;
    int64_t t0, t1, t2;
    double total = (double)per_thread * THREADS, secs;
    const char *p = s->name;

    remove_files(s->keep);
    if (syslog_file)
        (void)count_lines(syslog_file, "event=tick", &sys0);
    setup(s);
    log_stats(&st0);
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
    log_stats(&st1);
    log_shutdown();
    disk_usage(s->keep, &d);
    dq = log_dropped("queue") - q0;
    df = log_dropped("file") - f0;
    ds = log_dropped("syslog") - s0;
    secs = (double)(t2 - t0) / 1e9;

    printf("%s_sinks=file%s%s\n", p, s->max_size ? " (rotating)" : "",
           s->syslog ? " + syslog" : "");
    if (s->max_size)
        printf("%s_file_rotation=%llu bytes x %u kept\n", p, (unsigned long long)s->max_size,
               s->keep);
    printf("%s_threads=%d\n%s_records=%.0f\n", p, THREADS, p, total);
    printf("%s_seconds=%.3f\n", p, secs);
    printf("%s_producers_done_s=%.3f\n", p, (double)(t1 - t0) / 1e9);
    printf("%s_records_per_s=%.0f\n", p, total / secs);
    printf("%s_files=%u\n%s_file_bytes=%llu\n", p, d.files, p, (unsigned long long)d.bytes);
    printf("%s_records_in_files=%llu\n", p, (unsigned long long)d.records);
    printf("%s_mb_per_s=%.1f\n", p, (double)d.bytes / secs / 1e6);
    printf("%s_bytes_per_record=%.1f\n", p, d.records ? (double)d.bytes / (double)d.records : 0);
    printf("%s_dropped_queue=%llu\n%s_dropped_file=%llu\n", p, (unsigned long long)dq, p,
           (unsigned long long)df);
    printf("%s_dropped_queue_while_rotating=%llu\n", p,
           (unsigned long long)(st1.dropped_rotating - st0.dropped_rotating));
    printf("%s_rotations=%llu\n", p, (unsigned long long)(st1.rotations - st0.rotations));
    printf("%s_rotation_ms_max=%.3f\n", p, (double)st1.rotate_ns_max / 1e6);
    if (st1.rotations > st0.rotations)
        printf("%s_rotation_ms_mean=%.3f\n", p,
               (double)(st1.rotate_ns_total - st0.rotate_ns_total) / 1e6 /
                   (double)(st1.rotations - st0.rotations));
    printf("%s_producer_waits=%llu\n%s_producer_wait_ms_total=%.3f\n", p,
           (unsigned long long)(st1.waits - st0.waits), p,
           (double)(st1.wait_ns_total - st0.wait_ns_total) / 1e6);
    if (st1.records > st0.records)
        printf("%s_writer_ns_per_record=%.0f\n", p,
               (double)(st1.writer_busy_ns - st0.writer_busy_ns) /
                   (double)(st1.records - st0.records));
    if (s->syslog) {
        uint64_t want = (uint64_t)total - dq, got = 0;
        printf("%s_dropped_syslog=%llu\n", p, (unsigned long long)ds);
        if (syslog_file) {
            got = receiver_count(syslog_file, "event=tick", sys0 + want) - sys0;
            printf("%s_syslog_received=%llu\n", p, (unsigned long long)got);
            printf("%s_syslog_lost=%lld\n", p, (long long)want - (long long)got);
        }
    }
    /* Records that reached neither the file nor the count of drops. */
    printf("%s_records_missing_from_files=%lld\n", p,
           (long long)total - (long long)dq - (long long)df - (long long)d.records);
    fflush(stdout);
    return d.records ? (double)d.bytes / (double)d.records : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A run as run_job fills it, for the log observer. */
static char g_name[] = "file_prune", g_version[] = "1.2.0";
static struct plugin g_plugin = {.name = g_name, .desc_name = g_name, .version = g_version};
static struct manifest_job g_spec = {.id = "nightly-prune", .plugin = "file_prune",
                                     .log_level = -1};
static struct job g_job = {.spec = &g_spec, .plugin = &g_plugin};

static void fill_run(struct run *r, long i)
{
    r->job = &g_job;
    r->id = 0x0192f3a4b5c6d7e8ULL + (uint64_t)i;
    r->trigger = RUN_SCHEDULED;
    r->scheduled_wall_ns = 1764633600000000000LL + i * 1000000;
    r->start_wall_ns = r->scheduled_wall_ns + 250000;
    r->duration_ns = 123456 + i;
    r->result = RUN_SUCCESS;
    r->error[0] = '\0';
}

/* One run's records as the run path writes them: the log observer's
 * started and finished. */
static inline void observe_run(struct run *r)
{
    outcome_log.started(NULL, r);
    outcome_log.finished(NULL, r);
}

/* The same two records through jlog_ctx and a format string. */
static inline void format_run(const struct log_ctx *ctx, long i)
{
    jlog_ctx(ctx, LOG_INFO_LEVEL, "job_started",
             "trigger=%s scheduled=%s plugin_version=%s dry_run=%s", "schedule",
             "2025-12-02T01:00:00.000+00:00", "1.2.0", "false");
    jlog_ctx(ctx, LOG_INFO_LEVEL, "job_finished", "result=%s duration_ms=%.3f", "success",
             (double)i * 0.001);
}

/* ns for the two records of runs `gap_ms` apart; the median. */
static double spaced(int n, int gap_ms)
{
    static struct run run;
    double r[32];

    for (int i = 0; i < n && i < 32; i++) {
        usleep((useconds_t)gap_ms * 1000);
        fill_run(&run, i);
        int64_t t0 = mono_ns();
        observe_run(&run);
        r[i] = (double)(mono_ns() - t0);
    }
    qsort(r, (size_t)n, sizeof(double), cmp_double);
    return r[n / 2];
}

/* ns for one run's two records; the median of `rounds` rounds of `runs`
 * back to back. `how`: the observer (0) or jlog_ctx (1). A round is kept
 * small enough for the thread's ring to hold whole (a run's two captured
 * records take some 280 bytes of the 1 MiB ring), so the figure is the run
 * path's cost, not the pace of the writer behind it; log_flush between
 * rounds lets the writer catch up. */
static double per_run(long runs, int how, int rounds)
{
    struct log_ctx ctx = {.job = "nightly-prune", .run_id = "0192f3a4b5c6d7e8",
                          .plugin = "file_prune", .level = -1};
    static struct run run;
    double r[64];

    if (rounds > 64)
        rounds = 64;
    for (int k = 0; k < rounds; k++) {
        int64_t t0 = mono_ns();
        if (how == 0) {
            for (long i = 0; i < runs; i++) {
                fill_run(&run, i);
                observe_run(&run);
            }
        } else {
            for (long i = 0; i < runs; i++)
                format_run(&ctx, i);
        }
        r[k] = (double)(mono_ns() - t0) / (double)runs;
        log_flush(); /* the next round starts with empty rings */
    }
    qsort(r, (size_t)rounds, sizeof(double), cmp_double);
    return r[rounds / 2];
}

int main(int argc, char **argv)
{
    const char *syslog_file = NULL;
    long per_thread = 2000000, runs = 100000;
    int i = 1;
    const struct setting bare = {.name = "bare"};
    const struct setting rotating = {.name = "rotating", .max_size = DAEMON_MAX_SIZE,
                                     .keep = DAEMON_KEEP};
    const struct setting daemon = {.name = "daemon", .syslog = true,
                                   .max_size = DAEMON_MAX_SIZE, .keep = DAEMON_KEEP};
    double rec_bytes;
    long n;

    if (argc > 2 && strcmp(argv[1], "--syslog-file") == 0) {
        syslog_file = argv[2];
        i = 3;
    }
    if (i < argc)
        per_thread = strtol(argv[i++], NULL, 10);
    if (i < argc)
        runs = strtol(argv[i], NULL, 10);
    if (per_thread <= 0 || runs <= 0) {
        fputs("usage: bench_log [--syslog-file PATH] [records-per-thread] [runs]\n", stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(dir, sizeof(dir), "/tmp/jh_bench_log.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/jobhost.log", dir);
    printf("side=jobhost\nworkload=log\nlevel=info\n");

    /* Cost per run, bare setting: rounds the ring holds whole. */
    long rr = runs < 2000 ? runs : 2000;
    setup(&bare);
    per_run(rr, 0, 9); /* warm up */
    printf("bare_per_run_ns=%.0f\n", per_run(rr, 0, 49));
    printf("per_run_what=job_started + job_finished through the log observer "
           "(core/outcome_log.c), median of 49 rounds of %ld runs back to back (a round "
           "the thread's ring holds whole)\n", rr);
    per_run(rr, 1, 9);
    printf("bare_per_run_formatted_ns=%.0f\n", per_run(rr, 1, 49));
    printf("per_run_formatted_what=the same two records through jlog_ctx and a format "
           "string\n");
    printf("bare_per_run_200ms_apart_ns=%.0f\n", spaced(15, 200));
    printf("bare_per_run_1500ms_apart_ns=%.0f\n", spaced(5, 1500));
    printf("bare_per_run_6s_apart_ns=%.0f\n", spaced(3, 6000));
    log_shutdown();
    {
        struct log_config quiet = {.level = LOG_ERROR_LEVEL, .file_path = path};
        log_setup(&quiet);
        printf("bare_per_run_filtered_ns=%.1f\n", per_run(runs, 0, 9));
        log_shutdown();
    }

    rec_bytes = throughput(&bare, per_thread, NULL);

    /* No more than the 6 files hold, with a margin, so that nothing
     * rotates away uncounted. */
    double budget = (double)DAEMON_MAX_SIZE * (DAEMON_KEEP + 1) * 0.85;
    n = rec_bytes > 0 ? (long)(budget / rec_bytes / THREADS) : 200000;
    if (n > per_thread)
        n = per_thread;
    remove_files(bare.keep);
    throughput(&rotating, n, NULL);

    if (!syslog_file) {
        printf("daemon=skipped (syslog needs a private receiver: run it through "
               "tests/bench/run.sh as root, with unshare and rsyslogd installed)\n");
    } else {
        remove_files(rotating.keep);
        throughput(&daemon, n, syslog_file);
        /* Rounds the rings hold whole, so the figure is the producer's
         * cost while the sinks keep up. */
        setup(&daemon);
        per_run(rr, 0, 9); /* warm up */
        printf("daemon_per_run_ns=%.0f\n", per_run(rr, 0, 49));
        printf("daemon_per_run_what=the same, rounds of %ld runs\n", rr);
        log_shutdown();
    }

    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
