/*
 * generation — one immutable {manifest, plugins, jobs}: what a reload
 * builds beside the live one and swaps in whole (nginx's cycle).
 *
 * Every run holds a reference to the generation it was started from, so
 * the manifest entry, the plugin code and the job it uses stay valid until
 * it returns, whatever reloads happen meanwhile. The last reference frees
 * the generation and drops its plugin references (which may unload them).
 */
#ifndef JH_GENERATION_H
#define JH_GENERATION_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/jobstate.h"
#include "core/manifest.h"
#include "core/plugin.h"
#include "lib/util.h"

struct metrics;
struct job_metrics;

/* What outlives generations: the per-job-id state and metrics. */
struct runtime {
    struct metrics *metrics;        /* may be NULL (e.g. `jobhost check`) */
    struct jobstate_table *states;
    const char *plugin_copy_dir;    /* see plugin_load_opts; NULL = load in place */
};

struct generation;

struct job {
    const struct manifest_job *spec; /* inside gen->manifest */
    struct plugin *plugin;           /* one of gen->plugins */
    struct jobstate *state;          /* shared with other generations by id */
    struct job_metrics *metrics;     /* likewise; NULL without a registry */
    struct generation *gen;
};

struct generation {
    atomic_int refs;
    const struct runtime *rt;
    struct manifest *manifest;
    struct plugin **plugins;
    size_t n_plugins;
    struct job *jobs;
    size_t n_jobs;
};

/* Builds a generation from `m`, taking ownership of it: loads every plugin
 * the jobs name (each once, running its init) and acquires each job's state
 * and metrics. A plugin whose file has the same content as in `prev` (the
 * live generation, or NULL) is shared with it, not loaded again, and its
 * init does not run again. On any plugin error returns -EINVAL with one
 * line per problem in errs (manifest position first) and nothing loaded
 * stays loaded. Main thread (plugin init runs here). */
int generation_build(const struct runtime *rt, struct manifest *m, const struct generation *prev,
                     struct generation **out, struct errors *errs);

/* The plugin named `name` in g, or NULL. */
struct plugin *generation_find_plugin(const struct generation *g, const char *name);

/* The job with this id, or NULL. */
struct job *generation_find_job(struct generation *g, const char *id);

void generation_ref(struct generation *g);
void generation_unref(struct generation *g);

#endif /* JH_GENERATION_H */
