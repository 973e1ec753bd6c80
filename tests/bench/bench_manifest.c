/*
 * bench_manifest — what reading a manifest costs, in time and in memory kept
 * per job. Prints figures; never passes or fails.
 *
 * For each size, a manifest of N cron jobs (`*\/5 * * * *`, 7-character ids,
 * plugin hello, no params) is written to a fresh directory under /tmp, as one
 * file or as a main file that includes 20 files of jobs.d/. Each is read
 * with manifest_load (the path the daemon, `jobhost check` and a reload
 * take) and the figures are:
 *   - load ms: the best of the rounds (one round for 1M jobs), reading the
 *     files included;
 *   - jobs/s: N over that time;
 *   - bytes/job: what the heap holds once the manifest is loaded, over N
 *     (mallinfo2's in-use bytes, arena plus mmap'ed blocks, before and after);
 *   - free ms: manifest_free, and whether the heap went back to where it was.
 *
 * Build:  make all, then tests/bench/run.sh builds it beside bench_sched (the
 *         release host objects but main.o, the daemon's libraries).
 * Usage:  build/bench/bench_manifest [N...]   (default 1000 10000 100000 1000000)
 */
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/manifest.h"
#include "lib/util.h"

#define FILES 20

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void write_text(const char *path, const struct buf *b)
{
    FILE *f = fopen(path, "w");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        fprintf(stderr, "bench_manifest: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void put_jobs(struct buf *b, size_t from, size_t to)
{
    buf_puts(b, "jobs:\n");
    for (size_t i = from; i < to; i++)
        buf_printf(b,
                   "  - id: j%06zu\n"
                   "    plugin: hello\n"
                   "    trigger: {cron: \"*/5 * * * *\"}\n",
                   i);
}

/* Writes the manifest of n jobs under dir (in `files` pieces when > 1) and
 * returns the main file's path in path. */
static void write_manifest(const char *dir, size_t n, int files, char *path, size_t len)
{
    struct buf b = {0};
    char sub[256], piece[300];

    snprintf(path, len, "%s/jobhost.yaml", dir);
    buf_puts(&b, "host:\n  workers: 2\n  http: {enabled: false}\n");
    if (files <= 1) {
        put_jobs(&b, 0, n);
        write_text(path, &b);
        buf_free(&b);
        return;
    }
    buf_puts(&b, "include: [jobs.d/*.yaml]\n");
    write_text(path, &b);
    snprintf(sub, sizeof(sub), "%s/jobs.d", dir);
    if (mkdir(sub, 0755) < 0) {
        fprintf(stderr, "bench_manifest: mkdir %s: %s\n", sub, strerror(errno));
        exit(1);
    }
    for (int f = 0; f < files; f++) {
        buf_reset(&b);
        put_jobs(&b, n * (size_t)f / (size_t)files, n * (size_t)(f + 1) / (size_t)files);
        snprintf(piece, sizeof(piece), "%s/%02d.yaml", sub, f);
        write_text(piece, &b);
    }
    buf_free(&b);
}

static void run(size_t n, int files)
{
    char dir[] = "/tmp/jh-bench-manifest-XXXXXX", path[128];
    int rounds = n >= 1000000 ? 1 : n >= 100000 ? 3 : 10;
    double best = 1e300, free_ms = 0;
    size_t kept = 0;
    long leaked = 0;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    write_manifest(dir, n, files, path, sizeof(path));
    for (int r = 0; r < rounds; r++) {
        struct errors errs = {0};
        struct manifest *m = NULL;
        size_t before, after;
        double t0, t1, t2;

        malloc_trim(0);
        before = heap_in_use();
        t0 = now_ms();
        int rc = manifest_load(path, &m, &errs);
        t1 = now_ms();
        if (rc < 0 || !m || m->n_jobs != n) {
            const char *e = errs.text.data ? errs.text.data : "(no message)\n";
            printf("%8zu jobs %2d file%s  refused: %.*s\n", n, files, files > 1 ? "s" : " ",
                   (int)strcspn(e, "\n"), e);
            errors_free(&errs);
            manifest_free(m);
            goto out;
        }
        after = heap_in_use();
        manifest_free(m);
        t2 = now_ms();
        errors_free(&errs);
        if (t1 - t0 < best) {
            best = t1 - t0;
            kept = after - before;
            free_ms = t2 - t1;
        }
        leaked = (long)heap_in_use() - (long)before;
    }
    printf("%8zu jobs %2d file%s  load %9.1f ms  %9.0f jobs/s  %6.1f bytes/job  free %7.1f ms"
           "  heap after free %+ld bytes\n",
           n, files, files > 1 ? "s" : " ", best, (double)n / (best / 1e3), (double)kept / (double)n,
           free_ms, leaked);
out:
    fflush(stdout);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {1000, 10000, 100000, 1000000};

    printf("manifest_load: N cron jobs (*/5 * * * *, 7-character ids, plugin hello, no params)\n");
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            size_t n = strtoul(argv[i], NULL, 10);
            run(n, 1);
            if (n >= 100000)
                run(n, FILES);
        }
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        run(sizes[i], 1);
        if (sizes[i] >= 100000)
            run(sizes[i], FILES);
    }
    return 0;
}
