/*
 * A fake of the generation's neighbours for tests of what reads job states
 * (the metrics registry and its exposition, the HTTP server's /metrics):
 * a runtime with a real registry and job-state table, and published
 * generations whose jobs are test-owned manifest entries with no plugin
 * loaded. Runs are reported through the real outcome pipeline with the
 * real metrics and state observers, so a test sees what the daemon would.
 *
 *     struct fake_rt f;
 *     fake_rt_init(&f, NULL, 0);
 *     struct generation *g = fake_gen(&f, (const char *[]){"a", "b"}, 2, "exec");
 *     fake_run(&f, &g->jobs[0], RUN_SUCCESS, 1000, wall_ns());
 *     char *text = fake_render(&f, METRICS_TEXT_004);
 *     ...
 *     generation_unref(g);
 *     fake_rt_free(&f);
 */
#ifndef JH_TEST_FAKE_GEN_H
#define JH_TEST_FAKE_GEN_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/generation.h"
#include "core/mainloop.h"
#include "core/metrics.h"
#include "core/outcome.h"
#include "core/outcome_metrics.h"
#include "core/outcome_state.h"
#include "core/run.h"
#include "io/metrics_render.h"
#include "lib/util.h"

struct fake_rt {
    struct runtime rt;
    struct metrics_source src;
};

static inline void fake_rt_init(struct fake_rt *f, const double *buckets, size_t n)
{
    runtime_init(&f->rt, metrics_new(buckets, n));
    f->src = (struct metrics_source){.rt = &f->rt};
    outcome_reset();
    outcome_register(&outcome_metrics, &f->rt);
    outcome_register(&outcome_state, NULL);
}

static inline void fake_rt_free(struct fake_rt *f)
{
    struct metrics *m = f->rt.metrics;
    mainloop_run_pending();
    outcome_reset();
    runtime_free(&f->rt);
    metrics_free(m);
}

/* A published generation of n jobs on `plugin`, ids copied into a bare
 * manifest (any bytes: the manifest reader would refuse some of them, the
 * exposition must still escape them). */
static inline struct generation *fake_gen(struct fake_rt *f, const char *const *ids, size_t n,
                                          const char *plugin)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    struct manifest *m = xcalloc(1, sizeof(*m));

    /* A manifest that manifest_free can take: its strings in its arena. */
    m->jobs = xcalloc(n + 1, sizeof(*m->jobs));
    m->n_jobs = n;
    atomic_init(&g->refs, 1);
    g->seq = ++f->rt.next_seq;
    g->rt = &f->rt;
    g->manifest = m;
    idtable_init(&m->index, n);
    idtable_init(&g->plugin_index, 0);
    g->jobs = xcalloc(n + 1, sizeof(*g->jobs));
    g->n_jobs = n;
    for (size_t i = 0; i < n; i++) {
        struct manifest_job *spec = &m->jobs[i];
        spec->id = arena_strdup(&m->arena, ids[i]);
        spec->plugin = arena_strdup(&m->arena, plugin);
        spec->enabled = true;
        spec->max_instances = 1;
        spec->log_level = -1;
        spec->histograms = true;
        g->jobs[i].spec = spec;
        g->jobs[i].state = runtime_take_state(&f->rt, NULL, ids[i]);
        g->jobs[i].gen = g;
        (void)idtable_put(&m->index, spec->id, (void *)(uintptr_t)(i + 1));
    }
    generation_publish(g);
    return g;
}

/* One run of `job` through the outcome pipeline: started at
 * end_wall - duration with the given start delay, finished with `result`. */
static inline void fake_started(struct job *job, struct run *run, int64_t start_wall,
                                int64_t delay)
{
    memset(run, 0, sizeof(*run));
    run->job = job;
    run->id = run_new_id();
    run_id_format(run->id, run->id_text);
    run->start_wall_ns = start_wall;
    run->scheduled_wall_ns = delay ? start_wall - delay : 0;
    outcome_started(run);
}

static inline void fake_finished(struct run *run, enum run_result result, int64_t duration)
{
    run->result = result;
    run->duration_ns = duration;
    outcome_finished(run);
}

static inline void fake_run(struct job *job, enum run_result result, int64_t duration,
                            int64_t end_wall)
{
    struct run run;
    fake_started(job, &run, end_wall - duration, 0);
    fake_finished(&run, result, duration);
}

static inline char *fake_render(struct fake_rt *f, enum metrics_format fmt)
{
    struct buf b = {0};
    metrics_render_all(&f->src, fmt, &b);
    return b.data;
}

#endif /* JH_TEST_FAKE_GEN_H */
