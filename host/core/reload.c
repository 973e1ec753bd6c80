/*
 * reload — the reload transaction. See reload.h.
 *
 * Threads: reloads run on the main thread (requests from other threads are
 * deferred there, mainloop.h), so only one generation is ever being built.
 * `live_lock` guards only the pointer swap and readers' references to it,
 * so readers (the jobs API) never wait for a reload in progress.
 *
 * Cost: the comparison with the live generation looks every id up in the
 * generations' idtables, so a reload is linear in the number of jobs.
 */
#include "core/reload.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hostapi.h"
#include "core/log.h"
#include "core/mainloop.h"
#include "core/metrics.h"
#include "core/scheduler.h"
#include "lib/units.h"

/* Ids each list of a reload's summary names at most; job_counts has the
 * totals (a reload of a million jobs answers in kilobytes, not megabytes). */
#define SUMMARY_IDS 1000

struct reloader {
    char *manifest_path;
    struct runtime *rt;
    struct scheduler *sched;
    struct reload_hooks hooks;
    pthread_mutex_t live_lock; /* guards live and last */
    struct generation *live;   /* one reference */
    struct reload_last last;   /* the last reload's outcome; summary owned */
    bool stopping;             /* main thread */
};

struct reloader *reloader_new(const char *manifest_path, struct runtime *rt,
                              struct scheduler *sched, struct generation *initial,
                              const struct reload_hooks *hooks)
{
    struct reloader *r = xcalloc(1, sizeof(*r));
    r->manifest_path = xstrdup(manifest_path);
    r->rt = rt;
    r->sched = sched;
    r->live = initial;
    if (hooks)
        r->hooks = *hooks;
    pthread_mutex_init(&r->live_lock, NULL);
    return r;
}

void reloader_free(struct reloader *r)
{
    if (!r)
        return;
    generation_unref(r->live);
    free(r->last.summary);
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

/* Same job, as far as a user can tell: same settings and same plugin code. */
static bool job_unchanged(const struct job *a, const struct job *b)
{
    return strcmp(a->plugin->hash, b->plugin->hash) == 0 && manifest_job_equal(a->spec, b->spec);
}

/* A list of ids that names at most SUMMARY_IDS of them, and how many. */
struct id_list {
    json_t *ids;
    size_t count;
};

static void list_add(struct id_list *l, const char *id)
{
    if (l->count++ < SUMMARY_IDS)
        json_array_append_new(l->ids, json_string(id));
}

static json_t *summarise(const struct generation *old, struct generation *g)
{
    struct id_list added = {json_array()}, removed = {json_array()}, changed = {json_array()};
    struct id_list unchanged = {json_array()};
    json_t *loaded = json_array(), *unloaded = json_array(), *kept = json_array();

    for (size_t i = 0; i < g->n_jobs; i++) {
        struct job *j = &g->jobs[i];
        struct job *was = generation_find_job(old, j->spec->id);
        list_add(!was ? &added : job_unchanged(was, j) ? &unchanged : &changed, j->spec->id);
    }
    for (size_t i = 0; i < old->n_jobs; i++) {
        if (!generation_find_job(g, old->jobs[i].spec->id))
            list_add(&removed, old->jobs[i].spec->id);
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
    return json_pack("{s:s, s:{s:o, s:o, s:o, s:o}, s:{s:I, s:I, s:I, s:I}, s:{s:o, s:o, s:o}}",
                     "status", "applied", "jobs", "added", added.ids, "removed", removed.ids,
                     "changed", changed.ids, "unchanged", unchanged.ids, "job_counts", "added",
                     (json_int_t)added.count, "removed", (json_int_t)removed.count, "changed",
                     (json_int_t)changed.count, "unchanged", (json_int_t)unchanged.count,
                     "plugins", "loaded", loaded, "unloaded", unloaded, "kept", kept);
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

/* "a,b,c" of a JSON array of strings, into out (cut at what a record
 * value holds anyway). */
static void join_names(json_t *list, struct buf *out)
{
    size_t i;
    json_t *v;

    buf_reset(out);
    json_array_foreach(list, i, v)
    {
        if (out->len > 2048)
            break;
        buf_printf(out, "%s%s", i ? "," : "", json_string_value(v));
    }
    if (!out->data)
        buf_puts(out, "");
}

/* reload_applied, with what changed as fields of its own: counts, and the
 * ids that were added, changed or removed (the unchanged ones only
 * counted), so a log reader greps `added=` instead of unescaping JSON. */
static void log_applied(const char *source, const struct generation *g, json_t *doc, double ms)
{
    json_t *jobs = json_object_get(doc, "jobs"), *plugins = json_object_get(doc, "plugins");
    json_t *counts = json_object_get(doc, "job_counts"); /* the lists stop at SUMMARY_IDS */
    struct buf added = {0}, changed = {0}, removed = {0}, loaded = {0}, unloaded = {0};

    join_names(json_object_get(jobs, "added"), &added);
    join_names(json_object_get(jobs, "changed"), &changed);
    join_names(json_object_get(jobs, "removed"), &removed);
    join_names(json_object_get(plugins, "loaded"), &loaded);
    join_names(json_object_get(plugins, "unloaded"), &unloaded);
    jlog(JH_LOG_INFO, "reload_applied",
         "source=%s jobs=%zu plugins=%zu jobs_added=%zu jobs_changed=%zu jobs_removed=%zu "
         "jobs_unchanged=%zu plugins_loaded=%zu plugins_unloaded=%zu plugins_kept=%zu "
         "added=%s changed=%s removed=%s loaded=%s unloaded=%s duration_ms=%.3f",
         source, g->n_jobs, g->n_plugins,
         (size_t)json_integer_value(json_object_get(counts, "added")),
         (size_t)json_integer_value(json_object_get(counts, "changed")),
         (size_t)json_integer_value(json_object_get(counts, "removed")),
         (size_t)json_integer_value(json_object_get(counts, "unchanged")),
         json_array_size(json_object_get(plugins, "loaded")),
         json_array_size(json_object_get(plugins, "unloaded")),
         json_array_size(json_object_get(plugins, "kept")), added.data, changed.data,
         removed.data, loaded.data, unloaded.data, ms);
    buf_free(&added);
    buf_free(&changed);
    buf_free(&removed);
    buf_free(&loaded);
    buf_free(&unloaded);
}

/* The manifest's warnings as a JSON list, each one logged (once). */
static json_t *warnings_json(const struct errors *w)
{
    json_t *list = json_array();
    for (const char *line = w->text.data; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        json_array_append_new(list, json_stringn(line, len));
        jlog(JH_LOG_WARN, "config_warning", "during=reload warning=%.*s", (int)len, line);
        line = nl ? nl + 1 : NULL;
    }
    return list;
}

/* Plugins of `old` that `g` does not keep: their runs in flight may finish,
 * but only within host.drain_timeout; then they see cancellation. */
static void retire_plugins(const struct generation *old, const struct generation *g)
{
    int64_t deadline = clock_add(mono_ns(), g->manifest->host.drain_timeout_ns);
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

/* The last reload becomes what reloader_last tells, and the daemon hears
 * of it (the live events). */
static void finish(struct reloader *r, const char *source, int rc, const struct buf *summary)
{
    char *copy = xstrndup(summary->data ? summary->data : "", summary->len);

    pthread_mutex_lock(&r->live_lock);
    free(r->last.summary);
    r->last.summary = copy;
    r->last.wall_ns = wall_ns();
    r->last.ok = rc == 0;
    snprintf(r->last.source, sizeof(r->last.source), "%s", source);
    pthread_mutex_unlock(&r->live_lock);
    if (r->hooks.done)
        r->hooks.done(r->hooks.arg, rc, summary);
}

void reloader_last(struct reloader *r, struct reload_last *out)
{
    pthread_mutex_lock(&r->live_lock);
    *out = r->last;
    out->summary = r->last.summary ? xstrdup(r->last.summary) : NULL;
    pthread_mutex_unlock(&r->live_lock);
}

int reloader_reload(struct reloader *r, const char *source, struct buf *summary,
                    struct errors *errs)
{
    struct manifest *m = NULL;
    struct generation *g = NULL, *old;
    int64_t t0 = mono_ns();
    json_t *doc;
    double ms;
    int rc;

    MAIN_THREAD_ONLY();
    jlog(JH_LOG_INFO, "reload_started", "source=%s manifest=%s", source, r->manifest_path);
    rc = manifest_load_flags(r->manifest_path, r->live ? r->live->manifest : NULL,
                             MANIFEST_KEEP_ON_ERROR, &m, errs);
    if (rc < 0 && m) {
        /* refused already: say what else is wrong, short of running
         * plugin code (a missing or unsafe plugin file), in order */
        manifest_keep_complete(m);
        generation_probe_plugins(m, errs);
        manifest_sort_errors(m, errs);
        manifest_free(m);
        m = NULL;
    }
    if (rc == 0)
        rc = generation_build(r->rt, m, r->live, &g, errs);
    if (rc == 0 && r->hooks.prepare && (rc = r->hooks.prepare(r->hooks.arg, r->live, g, errs)) < 0) {
        generation_unref(g); /* its plugins unload; the live ones stay */
        g = NULL;
    }
    if (rc < 0) {
        refused(summary, errs);
        jlog(JH_LOG_ERROR, "reload_refused", "source=%s errors=%zu manifest=%s", source,
             errs->count, r->manifest_path);
        if (r->rt->metrics)
            metrics_reload(r->rt->metrics, false, wall_ns());
        finish(r, source, -EINVAL, summary);
        return -EINVAL;
    }
    /* The one step: from here on the new table is the live one. */
    generation_publish(g);
    scheduler_set_generation(r->sched, g, wall_ns());
    pthread_mutex_lock(&r->live_lock);
    old = r->live;
    r->live = g;
    pthread_mutex_unlock(&r->live_lock);
    retire_plugins(old, g);
    if (r->hooks.applied)
        r->hooks.applied(r->hooks.arg, g);
    if (r->rt->metrics)
        metrics_reload(r->rt->metrics, true, wall_ns());
    doc = summarise(old, g);
    /* Runs in flight keep their own references: the old generation, and
     * plugins only it used, go when the last of them returns (now, when
     * none is in flight: that is part of the reload's time). */
    generation_unref(old);
    ms = (double)(mono_ns() - t0) / 1e6;
    json_object_set_new(doc, "duration_ms", json_real(ms));
    json_object_set_new(doc, "warnings", warnings_json(&g->manifest->warnings));
    log_applied(source, g, doc, ms);
    put_json(summary, doc);
    /* Parsing and building leave megabytes of freed heap at scale: give
     * them back rather than keep the peak of every reload resident. */
    malloc_trim(0);
    finish(r, source, 0, summary);
    return 0;
}

struct request {
    struct reloader *r;
    const char *source;
    reload_done_fn done;
    void *arg;
};

static void run_request(void *arg)
{
    struct request *req = arg;
    struct errors errs = {0};
    struct buf summary = {0};
    int rc = -ESHUTDOWN;

    if (!req->r->stopping)
        rc = reloader_reload(req->r, req->source, &summary, &errs);

    if (req->done)
        req->done(req->arg, rc, &summary);
    buf_free(&summary);
    errors_free(&errs);
    free(req);
}

void reloader_stop(struct reloader *r)
{
    MAIN_THREAD_ONLY();
    r->stopping = true;
}

void reloader_request(struct reloader *r, const char *source, reload_done_fn done, void *arg)
{
    struct request *req = xmalloc(sizeof(*req));

    req->r = r;
    req->source = source;
    req->done = done;
    req->arg = arg;
    mainloop_defer(run_request, req);
}
