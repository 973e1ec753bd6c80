/*
 * generation — building and releasing one immutable job table. See
 * generation.h.
 */
#include "core/generation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/isolate.h"
#include "core/log.h"
#include "core/mainloop.h"
#include "core/params.h"
#include "lib/sha256.h"

void runtime_init(struct runtime *rt, struct metrics *metrics)
{
    memset(rt, 0, sizeof(*rt));
    rt->metrics = metrics;
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

/* The live plugin to keep for `name`: same directory, same bytes, loaded
 * the same way (mapped here or not). */
static struct plugin *reusable(const struct generation *prev, const struct plugin_load_opts *opts,
                               const char *name, bool mapped, char *err, size_t errlen, int *rc)
{
    struct plugin *old;
    char hash[65];

    *rc = 0;
    if (!prev || strcmp(prev->manifest->host.plugin_dir, opts->plugin_dir) != 0)
        return NULL;
    old = generation_find_plugin(prev, name);
    if (!old || (old->desc != NULL) != mapped)
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

/* A worker that loaded a plugin for the jobs with one kind of worker
 * (isolate_same_worker): kept while their checks need it. */
struct probe_slot {
    const struct manifest_job *first;
    struct isolate_probe *pr; /* NULL: none needed, or it failed */
    bool failed;
};

static void index_chains(struct generation *g);
static void digest_jobs(struct generation *g);

/* How the generation being built uses one plugin. */
struct use {
    const struct manifest_job *first; /* the first job naming it */
    struct plugin *p;                 /* NULL when it could not be loaded */
    bool mapped;                      /* a thread-mode job names it: mapped here */
    bool fresh;                       /* loaded for this generation, not kept from prev */
    size_t others;                    /* jobs after the first that name it */
    struct probe_slot *slots;         /* isolation: process, not mapped */
    size_t n_slots;
};

static void use_error(struct errors *errs, const struct manifest_job *spec, const char *err)
{
    /* named where it is written: the manifest or an included file */
    errors_add(errs, "%s:%d:%d: jobs[%u].plugin: %s", spec->file, spec->plugin_line,
               spec->plugin_col, spec->index, err);
    /* not logged here: the caller logs each error of errs once
     * (config_error), with the position of its first job */
}

/* Loads u's plugin: kept from prev, or opened (and mapped when a
 * thread-mode job names it). 0 or -EINVAL with the error added. */
static int use_load(struct generation *g, const struct generation *prev,
                    const struct plugin_load_opts *opts, struct use *u, struct errors *errs)
{
    const struct manifest_job *spec = u->first;
    char err[1024];
    int rc;

    u->p = reusable(prev, opts, spec->plugin, u->mapped, err, sizeof(err), &rc);
    if (u->p) {
        add_plugin(g, u->p);
        return 0;
    }
    if (rc == 0)
        rc = plugin_open(opts, spec->plugin, &u->p, err, sizeof(err));
    if (rc == 0 && u->mapped) {
        rc = plugin_map(u->p, err, sizeof(err));
        if (rc < 0) {
            plugin_unref(u->p);
            u->p = NULL;
        }
    }
    if (rc < 0) {
        /* tried once, told once at the first job, however many name it */
        if (u->others) {
            size_t len = strlen(err);
            snprintf(err + len, sizeof(err) - len, " (and %zu more job%s use it)", u->others,
                     u->others == 1 ? "" : "s");
        }
        use_error(errs, spec, err);
        return -EINVAL;
    }
    u->fresh = true;
    add_plugin(g, u->p);
    if (u->mapped)
        jlog(JH_LOG_INFO, "plugin_loaded", "plugin=%s version=%s path=%s", u->p->desc_name,
             u->p->version, u->p->path);
    return 0;
}

/* The probe slot of spec's kind of worker in u, made (and its worker
 * started when the plugin needs one) on first use. NULL when it failed. */
static struct probe_slot *use_slot(struct use *u, const struct manifest_job *spec,
                                   struct errors *errs)
{
    struct probe_slot *sl;
    enum isolate_stage stage;
    char err[1024];

    for (size_t i = 0; i < u->n_slots; i++)
        if (isolate_same_worker(u->slots[i].first, spec))
            return u->slots[i].failed ? NULL : &u->slots[i];
    u->slots = xrealloc(u->slots, (u->n_slots + 1) * sizeof(*u->slots));
    sl = &u->slots[u->n_slots++];
    memset(sl, 0, sizeof(*sl));
    sl->first = spec;
    /* A plugin new to this generation is loaded once per kind of worker,
     * as its runs will load it (its init must agree to those credentials
     * and limits); a kept one when its check callback must run, or for a
     * kind of worker of its own (credentials, limits) that may be new. */
    if (!u->fresh && !u->p->has_check && !spec->creds && !spec->limits)
        return sl;
    if (isolate_probe_start(u->p, spec, &sl->pr, &stage, err, sizeof(err)) < 0) {
        sl->failed = true;
        if (stage == ISOLATE_STAGE_CREDS && spec->creds)
            errors_add(errs, "%s:%d:%d: jobs[%u].%s: %s", spec->file, spec->creds->line,
                       spec->creds->col, spec->index, spec->creds->set_uid ? "user" : "group",
                       err);
        else
            use_error(errs, spec, err);
        return NULL;
    }
    if (u->fresh && !u->mapped && sl == &u->slots[0])
        jlog(JH_LOG_INFO, "plugin_loaded", "plugin=%s version=%s path=%s isolation=process",
             u->p->desc_name, u->p->version, u->p->path);
    if (!u->p->has_check) {
        isolate_probe_end(sl->pr); /* it loaded: that was all it was for */
        sl->pr = NULL;
    }
    return sl;
}

static int check_in_probe(void *arg, const struct plugin *p, const struct manifest_job *job,
                          void (*report)(void *, const char *, const char *), void *report_arg,
                          char *why, size_t whylen)
{
    char how[RUN_ERROR_MAX];
    int rc;

    (void)p;
    rc = isolate_probe_check(arg, job, report, report_arg, how, sizeof(how));
    if (rc < 0)
        snprintf(why, whylen, "its check could not run: %s", how);
    else
        snprintf(why, whylen, "%s", how);
    return rc;
}

static void uses_free(struct use *uses, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < uses[i].n_slots; k++)
            isolate_probe_end(uses[i].slots[k].pr);
        free(uses[i].slots);
    }
    free(uses);
}

int generation_build(struct runtime *rt, struct manifest *m, const struct generation *prev,
                     struct generation **out, struct errors *errs)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    struct plugin_load_opts opts = {
        .plugin_dir = m->host.plugin_dir,
        .strict_permissions = m->host.strict_permissions,
    };
    struct idtable use_index; /* plugin name -> its index in uses + 1 */
    struct use *uses = NULL;
    size_t n_uses = 0, cap_uses = 0;
    int rc = 0, params_rc = 0;

    MAIN_THREAD_ONLY();
    atomic_init(&g->refs, 1);
    g->seq = ++rt->next_seq;
    g->rt = rt;
    g->manifest = m;
    g->plugins = xcalloc(m->n_jobs + 1, sizeof(*g->plugins));
    idtable_init(&g->plugin_index, 0);
    idtable_init(&use_index, 0);
    /* Which plugins are named, and whether a thread-mode job names each. */
    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        uintptr_t at = (uintptr_t)idtable_get(&use_index, spec->plugin);

        if (!at) {
            if (n_uses == cap_uses) {
                cap_uses = cap_uses ? 2 * cap_uses : 8;
                uses = xrealloc(uses, cap_uses * sizeof(*uses));
            }
            memset(&uses[n_uses], 0, sizeof(*uses));
            uses[n_uses].first = spec;
            at = ++n_uses;
            (void)idtable_put(&use_index, spec->plugin, (void *)at); /* absent: just looked */
        } else {
            uses[at - 1].others++;
        }
        if (spec->isolation != ISOLATION_PROCESS)
            uses[at - 1].mapped = true;
    }
    for (size_t i = 0; i < n_uses; i++)
        if (use_load(g, prev, &opts, &uses[i], errs) < 0)
            rc = -EINVAL;
    /* isolation: process jobs: a worker of each kind they need loads their
     * plugin, as their runs will (and, for a plugin not mapped here, says
     * what it declares). */
    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        struct use *u = &uses[(uintptr_t)idtable_get(&use_index, spec->plugin) - 1];

        if (u->p && spec->isolation == ISOLATION_PROCESS && !use_slot(u, spec, errs))
            rc = -EINVAL;
    }
    /* Every job's params against its plugin's declarations, and the
     * plugin's own check where the job runs: in this process, or in a
     * worker like its own. */
    for (size_t i = 0; rc == 0 && i < m->n_jobs; i++) {
        const struct manifest_job *spec = &m->jobs[i];
        struct use *u = &uses[(uintptr_t)idtable_get(&use_index, spec->plugin) - 1];
        struct probe_slot *sl =
            spec->isolation == ISOLATION_PROCESS ? use_slot(u, spec, errs) : NULL;
        size_t before = errs->count;

        if (params_check_job(u->p, spec, sl ? check_in_probe : NULL, sl ? sl->pr : NULL, errs) >
            0) {
            jlog(JH_LOG_ERROR, "job_params_refused", "job=%s plugin=%s problems=%zu", spec->id,
                 spec->plugin, errs->count - before);
            params_rc = -EINVAL;
        }
    }
    uses_free(uses, n_uses);
    idtable_free(&use_index);
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
    if (m->host.cluster.enabled)
        digest_jobs(g);
    *out = g;
    return 0;
}

/* The jobs' digests summed as 256-bit numbers: the order of the jobs in
 * the files (and across included files) does not count, and each id is
 * there once, so the sum stands for the set. One hash per job: about a
 * microsecond each, so only for a cluster, which compares it. */
static void digest_jobs(struct generation *g)
{
    static const char tag[] = "jobhost jobs v1"; /* the byte format of manifest_job_digest */
    uint64_t sum[4] = {0};
    unsigned char d[32], len[8];
    struct sha256 s;

    for (size_t i = 0; i < g->n_jobs; i++) {
        unsigned carry = 0;
        manifest_job_digest(g->jobs[i].spec, g->jobs[i].plugin->hash, d);
        for (int w = 0; w < 4; w++) {
            uint64_t v = 0, t;
            for (int b = 0; b < 8; b++)
                v |= (uint64_t)d[8 * w + b] << (8 * b);
            t = sum[w] + v;
            unsigned c = t < v;
            sum[w] = t + carry;
            carry = c | (sum[w] < t);
        }
    }
    sha256_init(&s);
    sha256_update(&s, tag, sizeof(tag) - 1);
    for (int b = 0; b < 8; b++)
        len[b] = (unsigned char)((uint64_t)g->n_jobs >> (8 * b));
    sha256_update(&s, len, sizeof(len));
    for (int w = 0; w < 4; w++) {
        for (int b = 0; b < 8; b++)
            d[8 * w + b] = (unsigned char)(sum[w] >> (8 * b));
    }
    sha256_update(&s, d, sizeof(d));
    sha256_final(&s, d);
    sha256_hex(d, g->digest);
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
