/*
 * generation — one immutable {manifest, plugins, jobs}: what a reload
 * builds beside the live one and swaps in whole (nginx's cycle).
 *
 * Two lifetimes exist in the host, and only two: a generation (this file)
 * per configuration, and a job state (jobstate.h) per job id, which every
 * generation naming the id shares. Plugins belong to the generations that
 * use them.
 *
 * Every run holds a reference to the generation it was started from, so
 * the manifest entry, the plugin code and the job it uses stay valid until
 * it returns, whatever reloads happen meanwhile. The last reference may be
 * dropped on any thread; the teardown (job states released, plugins'
 * shutdown and dlclose) is then queued to the main thread (mainloop.h),
 * never run on a worker, the dispatcher or the HTTP thread.
 */
#ifndef JH_GENERATION_H
#define JH_GENERATION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jobstate.h"
#include "core/manifest.h"
#include "core/plugin.h"
#include "lib/idtable.h"
#include "lib/util.h"

struct metrics;

struct generation;

/* What outlives generations: the job states (with their metrics) and the
 * list of generations still alive. One per process (the daemon's, or a
 * one-shot command's). */
struct runtime {
    struct metrics *metrics;      /* may be NULL (e.g. `jobhost check`) */
    struct jobstate_table states; /* main thread (see jobstate.h) */
    uint64_t next_seq;            /* generation numbers; main thread */
    /* Published generations not yet freed, newest first: what the metrics
     * exposition walks. `gens_lock` guards the list links. */
    pthread_mutex_t gens_lock;
    struct generation *newest;
    /* Told of each generation as it is published, before any of its jobs
     * can run (the run history keeps it alive while reports about its
     * jobs wait: core/history.h). NULL: nobody. Main thread. */
    void (*on_publish)(void *arg, struct generation *g);
    void *on_publish_arg;
};

struct job {
    const struct manifest_job *spec; /* inside gen->manifest */
    struct plugin *plugin;           /* one of gen->plugins */
    struct jobstate *state;          /* shared with other generations by id */
    struct generation *gen;
};

struct generation {
    atomic_int refs;
    uint64_t seq; /* increasing: a later build has a larger number */
    struct runtime *rt;
    struct manifest *manifest;
    struct plugin **plugins;
    size_t n_plugins;
    struct job *jobs; /* in manifest order: jobs[i].spec == &manifest->jobs[i] */
    size_t n_jobs;
    struct idtable plugin_index; /* name -> struct plugin * */
    /* Chained jobs (trigger after): the children of jobs[i] are
     * chain_children[chain_first[i] .. chain_first[i + 1]), indices into
     * jobs. NULL when no job of the generation is chained. */
    uint32_t *chain_first;
    uint32_t *chain_children;
    /* SHA-256 (hex) of what decides what runs and when across the jobs,
     * whatever their order (manifest_job_digest): what the nodes of a
     * cluster compare. "" when host.cluster is off (it is not computed). */
    char digest[65];
    /* The runtime's list of published generations (gens_lock). */
    struct generation *older, *newer;
    bool published;
};

/* Sets up `rt` (metrics may be NULL). */
void runtime_init(struct runtime *rt, struct metrics *metrics);

/* Frees the job states; every generation must be gone. Main thread. */
void runtime_free(struct runtime *rt);

/* Builds a generation from `m`, taking ownership of it: loads every plugin
 * the jobs name (each once), checks every job's params against its
 * plugin's declared parameters and the plugin's check callback
 * (core/params.h), and acquires each job's state. A plugin that a
 * thread-mode job names is mapped in this process (its init runs here); one
 * that only `isolation: process` jobs name is not: a worker process with
 * their credentials and limits loads it (its constructors and init run
 * there), reports its declarations and runs its check callback
 * (core/isolate.h), so a plugin that crashes while loading is a load error,
 * not a dead host. A plugin whose file has the same content as in `prev`
 * (the live generation, or NULL), used the same way, is shared with it, not
 * loaded again, and its init does not run again (its check does). On any
 * plugin or parameter error returns -EINVAL with one line per problem in
 * errs (manifest position first) and nothing loaded stays loaded. Linear in
 * the number of jobs. Main thread. */
int generation_build(struct runtime *rt, struct manifest *m, const struct generation *prev,
                     struct generation **out, struct errors *errs);

/* For a manifest that failed (so that no generation will be built from
 * it): checks each plugin its jobs name as plugin_load would, short of
 * loading it (the file, its permissions; no plugin code runs), adding one
 * line per problem to errs as generation_build words it. Main thread. */
void generation_probe_plugins(const struct manifest *m, struct errors *errs);

/* Adds g to the runtime's list of published generations (what the metrics
 * exposition shows) and tells rt->on_publish: the reload does it when g
 * becomes live, before the scheduler sees it. Main thread. */
void generation_publish(struct generation *g);

/* The plugin named `name` in g, or NULL. O(1). */
struct plugin *generation_find_plugin(const struct generation *g, const char *name);

/* The job with this id, or NULL. O(1). */
struct job *generation_find_job(const struct generation *g, const char *id);

/* The chained jobs that run after `job` (of g): *n of them, or NULL. */
static inline const uint32_t *generation_children(const struct generation *g,
                                                  const struct job *job, size_t *n)
{
    size_t i = (size_t)(job - g->jobs);

    if (!g->chain_first) {
        *n = 0;
        return NULL;
    }
    *n = g->chain_first[i + 1] - g->chain_first[i];
    return g->chain_children + g->chain_first[i];
}

/* A reference to the state for `id`: the one `prev` (may be NULL) or another
 * published generation has, else a new one, so that an id has one state.
 * Main thread. */
struct jobstate *runtime_take_state(struct runtime *rt, const struct generation *prev,
                                    const char *id);

/* References. Any thread; the last unref queues the teardown to the main
 * thread (at once when it is the main thread). NULL is a no-op. */
void generation_ref(struct generation *g);
void generation_unref(struct generation *g);

/* Every job of every published generation still alive, each job id once,
 * taken from the newest generation that has it. The generations are held
 * until generation_view_free, so the jobs (and their states) stay valid. */
struct generation_view {
    struct generation **gens;
    size_t n_gens;
    struct job **jobs;
    size_t n_jobs;
};
void generation_view_take(struct runtime *rt, struct generation_view *v);
void generation_view_free(struct generation_view *v);

#endif /* JH_GENERATION_H */
