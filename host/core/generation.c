/*
 * generation — building and releasing one immutable job table. See
 * generation.h.
 */
#include "core/generation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"

struct plugin *generation_find_plugin(const struct generation *g, const char *name)
{
    for (size_t i = 0; i < g->n_plugins; i++) {
        if (strcmp(g->plugins[i]->name, name) == 0)
            return g->plugins[i];
    }
    return NULL;
}

static void generation_free(struct generation *g)
{
    const struct runtime *rt = g->rt;

    for (size_t i = 0; i < g->n_jobs; i++) {
        if (g->jobs[i].metrics)
            metrics_job_release(rt->metrics, g->jobs[i].metrics);
        jobstate_release(rt->states, g->jobs[i].state);
    }
    free(g->jobs);
    /* in load order reversed, as init ran in load order */
    for (size_t i = g->n_plugins; i-- > 0;)
        plugin_unref(g->plugins[i]);
    free(g->plugins);
    manifest_free(g->manifest);
    free(g);
}

/* The live plugin to keep for `name`: same directory, same bytes. */
static struct plugin *reusable(const struct generation *prev, const struct plugin_load_opts *opts,
                               const char *name, char *err, size_t errlen, int *rc)
{
    struct plugin *old;
    char hash[65];

    *rc = 0;
    if (!prev || strcmp(prev->manifest->host.plugin_dir, opts->plugin_dir) != 0)
        return NULL;
    old = generation_find_plugin(prev, name);
    if (!old)
        return NULL;
    /* The trust checks run again here: a plugin that became writable by
     * others is refused even though its code is already loaded. */
    *rc = plugin_probe(opts, name, hash, err, errlen);
    if (*rc < 0 || strcmp(hash, old->hash) != 0)
        return NULL;
    plugin_ref(old);
    return old;
}

int generation_build(const struct runtime *rt, struct manifest *m, const struct generation *prev,
                     struct generation **out, struct errors *errs)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    struct plugin_load_opts opts = {
        .plugin_dir = m->host.plugin_dir,
        .strict_permissions = m->host.strict_permissions,
        .copy_dir = rt->plugin_copy_dir,
    };
    int rc = 0;

    atomic_init(&g->refs, 1);
    g->rt = rt;
    g->manifest = m;
    g->plugins = xcalloc(m->n_jobs + 1, sizeof(*g->plugins));
    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        struct plugin *p;
        char err[1024];

        int probe_rc;

        if (generation_find_plugin(g, spec->plugin))
            continue;
        p = reusable(prev, &opts, spec->plugin, err, sizeof(err), &probe_rc);
        if (p) {
            g->plugins[g->n_plugins++] = p;
            continue;
        }
        if (probe_rc < 0 || plugin_load(&opts, spec->plugin, &p, err, sizeof(err)) < 0) {
            /* named where it is written: the manifest or an included file */
            errors_add(errs, "%s:%d:%d: jobs[%u].plugin: %s", spec->file, spec->plugin_line,
                       spec->plugin_col, spec->index, err);
            jlog(JH_LOG_ERROR, "plugin_load_failed", "plugin=%s job=%s error=%s", spec->plugin,
                 spec->id, err);
            rc = -EINVAL;
            continue;
        }
        jlog(JH_LOG_INFO, "plugin_loaded", "plugin=%s version=%s path=%s", p->desc->name,
             p->desc->version, p->path);
        g->plugins[g->n_plugins++] = p;
    }
    if (rc < 0) {
        g->n_jobs = 0;
        generation_free(g);
        *out = NULL;
        return rc;
    }

    g->jobs = xcalloc(m->n_jobs + 1, sizeof(*g->jobs));
    g->n_jobs = m->n_jobs;
    for (size_t i = 0; i < m->n_jobs; i++) {
        struct job *j = &g->jobs[i];
        j->spec = &m->jobs[i];
        j->plugin = generation_find_plugin(g, j->spec->plugin);
        j->state = jobstate_acquire(rt->states, j->spec->id);
        j->metrics = rt->metrics ? metrics_job_acquire(rt->metrics, j->spec->id, j->spec->plugin)
                                 : NULL;
        j->gen = g;
    }
    *out = g;
    return 0;
}

struct job *generation_find_job(struct generation *g, const char *id)
{
    for (size_t i = 0; i < g->n_jobs; i++) {
        if (strcmp(g->jobs[i].spec->id, id) == 0)
            return &g->jobs[i];
    }
    return NULL;
}

void generation_ref(struct generation *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void generation_unref(struct generation *g)
{
    if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        generation_free(g);
}
