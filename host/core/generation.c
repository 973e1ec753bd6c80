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
#include "core/mainloop.h"
#include "core/params.h"

void runtime_init(struct runtime *rt, struct metrics *metrics, const char *plugin_copy_dir)
{
    memset(rt, 0, sizeof(*rt));
    rt->metrics = metrics;
    rt->plugin_copy_dir = plugin_copy_dir;
    jobstate_table_init(&rt->states, metrics);
    pthread_mutex_init(&rt->gens_lock, NULL);
}

void runtime_free(struct runtime *rt)
{
    jobstate_table_free(&rt->states);
    pthread_mutex_destroy(&rt->gens_lock);
}

struct plugin *generation_find_plugin(const struct generation *g, const char *name)
{
    return idtable_get(&g->plugin_index, name);
}

struct job *generation_find_job(const struct generation *g, const char *id)
{
    size_t at = manifest_job_index(g->manifest, id); /* jobs[] follows manifest order */
    return at ? &g->jobs[at - 1] : NULL;
}

struct jobstate *runtime_take_state(struct runtime *rt, const struct generation *prev,
                                    const char *id)
{
    const struct job *was = prev ? generation_find_job(prev, id) : NULL;

    MAIN_THREAD_ONLY();
    /* An older generation still finishing a run may hold an id that `prev`
     * dropped. The list changes on the main thread only, so no lock here. */
    for (const struct generation *g = rt->newest; !was && g; g = g->older) {
        if (g != prev)
            was = generation_find_job(g, id);
    }
    return was ? jobstate_hold(was->state) : jobstate_new(&rt->states, id);
}

/* Main thread: job states and plugins are released here only. */
static void generation_free(void *arg)
{
    struct generation *g = arg;
    struct runtime *rt = g->rt;

    MAIN_THREAD_ONLY();
    if (g->published) {
        pthread_mutex_lock(&rt->gens_lock);
        if (g->newer)
            g->newer->older = g->older;
        else
            rt->newest = g->older;
        if (g->older)
            g->older->newer = g->newer;
        pthread_mutex_unlock(&rt->gens_lock);
    }
    for (size_t i = 0; i < g->n_jobs; i++)
        jobstate_release(&rt->states, g->jobs[i].state);
    free(g->jobs);
    free(g->chain_first);
    free(g->chain_children);
    /* in load order reversed, as init ran in load order */
    for (size_t i = g->n_plugins; i-- > 0;)
        plugin_unref(g->plugins[i]);
    free(g->plugins);
    idtable_free(&g->plugin_index);
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

static void add_plugin(struct generation *g, struct plugin *p)
{
    g->plugins[g->n_plugins++] = p;
    (void)idtable_put(&g->plugin_index, p->name, p); /* checked absent by the caller */
}

/* A plugin that could not be loaded, reported once at its first job. */
struct failed_plugin {
    const struct manifest_job *first;
    char *error;
    size_t others; /* jobs after the first that name it */
};

static void index_chains(struct generation *g);

int generation_build(struct runtime *rt, struct manifest *m, const struct generation *prev,
                     struct generation **out, struct errors *errs)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    struct plugin_load_opts opts = {
        .plugin_dir = m->host.plugin_dir,
        .strict_permissions = m->host.strict_permissions,
        .copy_dir = rt->plugin_copy_dir,
    };
    int rc = 0, params_rc = 0;
    struct failed_plugin *failed = NULL; /* in the order of their first job */
    size_t n_failed = 0;
    struct idtable failed_index;         /* name -> its index in failed + 1 */

    MAIN_THREAD_ONLY();
    atomic_init(&g->refs, 1);
    g->seq = ++rt->next_seq;
    g->rt = rt;
    g->manifest = m;
    g->plugins = xcalloc(m->n_jobs + 1, sizeof(*g->plugins));
    idtable_init(&g->plugin_index, 0);
    idtable_init(&failed_index, 0);
    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        struct failed_plugin *f;
        struct plugin *p;
        char err[1024];
        int probe_rc;
        uintptr_t at;

        if (generation_find_plugin(g, spec->plugin))
            continue;
        if ((at = (uintptr_t)idtable_get(&failed_index, spec->plugin))) {
            failed[at - 1].others++; /* tried once, refused once, however many jobs */
            continue;
        }
        p = reusable(prev, &opts, spec->plugin, err, sizeof(err), &probe_rc);
        if (p) {
            add_plugin(g, p);
            continue;
        }
        if (probe_rc < 0 || plugin_load(&opts, spec->plugin, &p, err, sizeof(err)) < 0) {
            /* not logged here: the caller logs each error of errs once
             * (config_error), with the position of its first job */
            failed = xrealloc(failed, (n_failed + 1) * sizeof(*failed));
            f = &failed[n_failed++];
            f->first = spec;
            f->error = xstrdup(err);
            f->others = 0;
            (void)idtable_put(&failed_index, spec->plugin, (void *)(uintptr_t)n_failed);
            rc = -EINVAL;
            continue;
        }
        jlog(JH_LOG_INFO, "plugin_loaded", "plugin=%s version=%s path=%s", p->desc_name,
             p->version, p->path);
        add_plugin(g, p);
    }
    for (size_t i = 0; i < n_failed; i++) {
        const struct failed_plugin *f = &failed[i];
        char more[64] = "";
        if (f->others)
            snprintf(more, sizeof(more), " (and %zu more job%s use it)", f->others,
                     f->others == 1 ? "" : "s");
        /* named where it is first written: the manifest or an included file */
        errors_add(errs, "%s:%d:%d: jobs[%u].plugin: %s%s", f->first->file, f->first->plugin_line,
                   f->first->plugin_col, f->first->index, f->error, more);
        free(f->error);
    }
    free(failed);
    idtable_free(&failed_index);
    /* Every job's params against its plugin's declarations (and the
     * plugin's own check), now that the plugins are loaded. */
    for (size_t i = 0; rc == 0 && i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        size_t before = errs->count;

        if (params_check_job(generation_find_plugin(g, spec->plugin), spec, errs) > 0) {
            jlog(JH_LOG_ERROR, "job_params_refused", "job=%s plugin=%s problems=%zu", spec->id,
                 spec->plugin, errs->count - before);
            params_rc = -EINVAL;
        }
    }
    if (rc == 0)
        rc = params_rc;
    if (rc < 0) {
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
        j->state = runtime_take_state(rt, prev, j->spec->id);
        j->gen = g;
    }
    index_chains(g);
    *out = g;
    return 0;
}

/* The children of every parent job, as generation_children reads them
 * (the manifest checked that every parent exists). */
static void index_chains(struct generation *g)
{
    const struct manifest *m = g->manifest;
    size_t edges = 0;
    uint32_t *fill;

    for (size_t i = 0; i < g->n_jobs; i++)
        if (g->jobs[i].spec->after)
            edges += g->jobs[i].spec->after->n_parents;
    if (!edges)
        return;
    g->chain_first = xcalloc(g->n_jobs + 1, sizeof(*g->chain_first));
    g->chain_children = xcalloc(edges, sizeof(*g->chain_children));
    for (size_t i = 0; i < g->n_jobs; i++) {
        const struct manifest_after *a = g->jobs[i].spec->after;
        for (uint32_t k = 0; a && k < a->n_parents; k++)
            g->chain_first[manifest_job_index(m, a->parents[k].id)]++; /* index + 1 */
    }
    for (size_t i = 1; i <= g->n_jobs; i++)
        g->chain_first[i] += g->chain_first[i - 1];
    /* chain_first[i + 1] now ends parent i's range: fill backwards from it */
    fill = xcalloc(g->n_jobs + 1, sizeof(*fill));
    memcpy(fill, g->chain_first, (g->n_jobs + 1) * sizeof(*fill));
    for (size_t i = g->n_jobs; i-- > 0;) {
        const struct manifest_after *a = g->jobs[i].spec->after;
        for (uint32_t k = 0; a && k < a->n_parents; k++) {
            size_t p = manifest_job_index(m, a->parents[k].id) - 1;
            g->chain_children[--fill[p + 1]] = (uint32_t)i;
        }
    }
    free(fill);
}

void generation_probe_plugins(const struct manifest *m, struct errors *errs)
{
    struct plugin_load_opts opts = {
        .plugin_dir = m->host.plugin_dir,
        .strict_permissions = m->host.strict_permissions,
    };
    struct idtable seen;

    idtable_init(&seen, 0);
    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        char hash[65], err[1024];

        if (!spec->plugin || !plugin_name_valid(spec->plugin) || idtable_get(&seen, spec->plugin))
            continue;
        (void)idtable_put(&seen, spec->plugin, (void *)spec); /* absent: just looked up */
        if (plugin_probe(&opts, spec->plugin, hash, err, sizeof(err)) < 0)
            errors_add(errs, "%s:%d:%d: jobs[%u].plugin: %s", spec->file, spec->plugin_line,
                       spec->plugin_col, spec->index, err);
    }
    idtable_free(&seen);
}

void generation_publish(struct generation *g)
{
    struct runtime *rt = g->rt;

    MAIN_THREAD_ONLY();
    pthread_mutex_lock(&rt->gens_lock);
    g->older = rt->newest;
    if (rt->newest)
        rt->newest->newer = g;
    rt->newest = g;
    g->published = true;
    pthread_mutex_unlock(&rt->gens_lock);
    if (rt->on_publish)
        rt->on_publish(rt->on_publish_arg, g);
}

void generation_ref(struct generation *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void generation_unref(struct generation *g)
{
    if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        mainloop_defer(generation_free, g);
}

/* A reference unless the last one is already gone (its teardown queued to
 * the main thread while the generation is still listed). */
static bool ref_if_alive(struct generation *g)
{
    int n = atomic_load_explicit(&g->refs, memory_order_relaxed);
    while (n > 0) {
        if (atomic_compare_exchange_weak_explicit(&g->refs, &n, n + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

void generation_view_take(struct runtime *rt, struct generation_view *v)
{
    uint32_t slots;
    size_t total = 0, cap_gens = 4;
    unsigned char *seen;

    memset(v, 0, sizeof(*v));
    v->gens = xcalloc(cap_gens, sizeof(*v->gens));
    pthread_mutex_lock(&rt->gens_lock);
    /* Read under the lock: every state of a listed generation has a slot
     * below it, and holding the generations keeps their states (and so
     * their slots) from being given back. */
    slots = jobstate_slots(&rt->states);
    for (struct generation *g = rt->newest; g; g = g->older) {
        if (!ref_if_alive(g))
            continue;
        if (v->n_gens == cap_gens) {
            cap_gens *= 2;
            v->gens = xrealloc(v->gens, cap_gens * sizeof(*v->gens));
        }
        v->gens[v->n_gens++] = g;
        total += g->n_jobs;
    }
    pthread_mutex_unlock(&rt->gens_lock);

    v->jobs = xmalloc((total ? total : 1) * sizeof(*v->jobs));
    seen = xcalloc((size_t)slots / 8 + 1, 1);
    for (size_t i = 0; i < v->n_gens; i++) {
        struct generation *g = v->gens[i];
        for (size_t j = 0; j < g->n_jobs; j++) {
            uint32_t slot = g->jobs[j].state->slot;
            if (seen[slot / 8] & (1u << (slot % 8)))
                continue;
            seen[slot / 8] |= (unsigned char)(1u << (slot % 8));
            v->jobs[v->n_jobs++] = &g->jobs[j];
        }
    }
    free(seen);
}

void generation_view_free(struct generation_view *v)
{
    for (size_t i = 0; i < v->n_gens; i++)
        generation_unref(v->gens[i]);
    free(v->gens);
    free(v->jobs);
    memset(v, 0, sizeof(*v));
}
