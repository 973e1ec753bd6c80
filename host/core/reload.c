/*
 * reload — the reload transaction. See reload.h.
 *
 * Threads: reloader_reload may be called from the main thread (SIGHUP) and
 * the HTTP thread (POST /-/reload); `reload_lock` serialises them, so only
 * one generation is ever being built. `live_lock` guards only the pointer
 * swap, so readers (the jobs API) never wait for a reload in progress.
 */
#include "core/reload.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hostapi.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/scheduler.h"
#include "lib/units.h"

struct reloader {
    char *manifest_path;
    const struct runtime *rt;
    struct scheduler *sched;
    reload_applied_fn applied;
    void *applied_arg;
    pthread_mutex_t reload_lock; /* one reload at a time */
    pthread_mutex_t live_lock;   /* guards live */
    struct generation *live;     /* one reference */
};

struct reloader *reloader_new(const char *manifest_path, const struct runtime *rt,
                              struct scheduler *sched, struct generation *initial,
                              reload_applied_fn applied, void *applied_arg)
{
    struct reloader *r = xcalloc(1, sizeof(*r));
    r->manifest_path = xstrdup(manifest_path);
    r->rt = rt;
    r->sched = sched;
    r->live = initial;
    r->applied = applied;
    r->applied_arg = applied_arg;
    pthread_mutex_init(&r->reload_lock, NULL);
    pthread_mutex_init(&r->live_lock, NULL);
    return r;
}

void reloader_free(struct reloader *r)
{
    if (!r)
        return;
    generation_unref(r->live);
    pthread_mutex_destroy(&r->reload_lock);
    pthread_mutex_destroy(&r->live_lock);
    free(r->manifest_path);
    free(r);
}

struct generation *reloader_live(struct reloader *r)
{
    struct generation *g;
    pthread_mutex_lock(&r->live_lock);
    g = r->live;
    generation_ref(g);
    pthread_mutex_unlock(&r->live_lock);
    return g;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool params_equal(const struct manifest_job *a, const struct manifest_job *b)
{
    if (a->n_params != b->n_params)
        return false;
    for (size_t i = 0; i < a->n_params; i++) {
        const struct manifest_param *p = &a->params[i], *q = &b->params[i];
        if (!str_eq(p->key, q->key) || p->kind != q->kind || !str_eq(p->value, q->value) ||
            p->n != q->n)
            return false;
        for (size_t k = 0; k < p->n; k++) {
            if (!str_eq(p->values[k], q->values[k]) ||
                (p->names && !str_eq(p->names[k], q->names[k])))
                return false;
        }
    }
    return true;
}

/* Same job, as far as a user can tell: same settings and same plugin code. */
static bool job_unchanged(const struct job *a, const struct job *b)
{
    const struct manifest_job *x = a->spec, *y = b->spec;
    return str_eq(x->plugin, y->plugin) && strcmp(a->plugin->hash, b->plugin->hash) == 0 &&
           str_eq(x->trigger_text, y->trigger_text) && x->trigger.start_ns == y->trigger.start_ns &&
           x->trigger.end_ns == y->trigger.end_ns && x->trigger.jitter_ns == y->trigger.jitter_ns &&
           x->enabled == y->enabled && x->max_instances == y->max_instances &&
           x->misfire_grace_ns == y->misfire_grace_ns && x->coalesce == y->coalesce &&
           x->timeout_ns == y->timeout_ns && x->isolation == y->isolation &&
           x->log_level == y->log_level && params_equal(x, y);
}

static json_t *summarise(const struct generation *old, struct generation *g, double ms)
{
    json_t *added = json_array(), *removed = json_array(), *changed = json_array();
    json_t *unchanged = json_array(), *loaded = json_array(), *unloaded = json_array();
    json_t *kept = json_array();

    for (size_t i = 0; i < g->n_jobs; i++) {
        struct job *j = &g->jobs[i];
        struct job *was = generation_find_job((struct generation *)old, j->spec->id);
        json_array_append_new(!was ? added : job_unchanged(was, j) ? unchanged : changed,
                              json_string(j->spec->id));
    }
    for (size_t i = 0; i < old->n_jobs; i++) {
        if (!generation_find_job(g, old->jobs[i].spec->id))
            json_array_append_new(removed, json_string(old->jobs[i].spec->id));
    }
    for (size_t i = 0; i < g->n_plugins; i++) {
        struct plugin *p = g->plugins[i];
        bool same = generation_find_plugin(old, p->name) == p;
        json_array_append_new(same ? kept : loaded, json_string(p->name));
    }
    for (size_t i = 0; i < old->n_plugins; i++) {
        struct plugin *p = old->plugins[i];
        if (generation_find_plugin(g, p->name) != p)
            json_array_append_new(unloaded, json_string(p->name));
    }
    return json_pack("{s:s, s:{s:o, s:o, s:o, s:o}, s:{s:o, s:o, s:o}, s:f}", "status", "applied",
                     "jobs", "added", added, "removed", removed, "changed", changed, "unchanged",
                     unchanged, "plugins", "loaded", loaded, "unloaded", unloaded, "kept", kept,
                     "duration_ms", ms);
}

static void put_json(struct buf *out, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    buf_reset(out);
    if (text) {
        buf_puts(out, text);
        buf_putc(out, '\n');
        free(text);
    }
    json_decref(doc);
}

static void refused(struct buf *summary, const struct errors *errs)
{
    json_t *list = json_array();
    const char *line = errs->text.data;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        json_array_append_new(list, json_stringn(line, len));
        jlog(JH_LOG_ERROR, "config_error", "during=reload error=%.*s", (int)len, line);
        line = nl ? nl + 1 : NULL;
    }
    put_json(summary, json_pack("{s:s, s:o}", "status", "refused", "errors", list));
}

/* Plugins of `old` that `g` does not keep: their runs in flight may finish,
 * but only within host.drain_timeout; then they see cancellation. */
static void retire_plugins(const struct generation *old, const struct generation *g)
{
    int64_t deadline = mono_ns() + g->manifest->host.drain_timeout_ns;
    bool any = false;

    for (size_t i = 0; i < old->n_plugins; i++) {
        struct plugin *p = old->plugins[i];
        if (generation_find_plugin(g, p->name) != p) {
            atomic_store(&p->drain_deadline_mono, deadline);
            any = true;
        }
    }
    if (any)
        hostapi_wake_sleepers();
}

int reloader_reload(struct reloader *r, const char *source, struct buf *summary,
                    struct errors *errs)
{
    struct manifest *m = NULL;
    struct generation *g = NULL, *old;
    int64_t t0 = mono_ns();
    double ms;
    int rc;

    pthread_mutex_lock(&r->reload_lock);
    jlog(JH_LOG_INFO, "reload_started", "source=%s manifest=%s", source, r->manifest_path);
    rc = manifest_load(r->manifest_path, &m, errs);
    if (rc == 0)
        rc = generation_build(r->rt, m, r->live, &g, errs);
    if (rc < 0) {
        rc = -EINVAL;
        refused(summary, errs);
        jlog(JH_LOG_ERROR, "reload_refused", "source=%s errors=%zu manifest=%s", source,
             errs->count, r->manifest_path);
        if (r->rt->metrics)
            metrics_reload(r->rt->metrics, false, wall_ns());
        goto out;
    }
    /* The one step: from here on the new table is the live one. */
    scheduler_set_generation(r->sched, g, wall_ns());
    pthread_mutex_lock(&r->live_lock);
    old = r->live;
    r->live = g;
    pthread_mutex_unlock(&r->live_lock);
    retire_plugins(old, g);
    if (r->applied)
        r->applied(r->applied_arg, g);
    if (r->rt->metrics)
        metrics_reload(r->rt->metrics, true, wall_ns());
    ms = (double)(mono_ns() - t0) / 1e6;
    put_json(summary, summarise(old, g, ms));
    jlog(JH_LOG_INFO, "reload_applied", "source=%s jobs=%zu plugins=%zu duration_ms=%.3f summary=%.*s",
         source, g->n_jobs, g->n_plugins, ms, (int)(summary->len ? summary->len - 1 : 0),
         summary->data ? summary->data : "");
    /* Runs in flight keep their own references: the old generation, and
     * plugins only it used, go when the last of them returns. */
    generation_unref(old);
out:
    pthread_mutex_unlock(&r->reload_lock);
    return rc;
}
