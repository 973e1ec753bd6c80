/*
 * api — reload endpoint and jobs API. See api.h.
 *
 * JSON is built with jansson, never by hand, so job ids and error messages
 * are escaped correctly whatever they hold. Every handler takes its own
 * reference to the live generation for the time it reads it, so a reload
 * in the middle of a request changes nothing under its feet.
 */
#include "io/api.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <jobhost/plugin.h>
#include "core/clock.h"
#include "core/executor.h"
#include "core/generation.h"
#include "core/history.h"
#include "core/jobstate.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/reload.h"
#include "io/http_deferred.h"
#include "core/run.h"
#include "io/api_history.h"
#include "io/cluster_pg.h"
#include "io/http_server.h"
#include "io/json_values.h"
#include "lib/trigger.h"
#include "lib/tz.h"
#include "lib/units.h"
#include "lib/util.h"

#ifndef JOBHOST_VERSION
#define JOBHOST_VERSION "0.0.0"
#endif

#define JOBS_PREFIX "/api/v1/jobs/"
/* How long a pause waits for the run store before it is answered anyway. */
#define PAUSE_STORE_WAIT_NS (500 * NS_PER_MS)

static void reply(struct http_response *resp, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    resp->status = status;
    resp->content_type = "application/json";
    if (text) {
        buf_puts(&resp->body, text);
        buf_putc(&resp->body, '\n');
        free(text);
    }
    json_decref(doc);
}

static void reply_error(struct http_response *resp, int status, const char *message)
{
    reply(resp, status, json_pack("{s:s}", "error", message));
}

/* The job's retry policy, null when it has none. */
static json_t *retry_json(const struct manifest_retry *p)
{
    if (!p)
        return json_null();
    return json_pack("{s:i, s:f, s:f, s:f, s:f}", "limit", (json_int_t)p->limit,
                     "delay_seconds", (double)p->delay_ns / 1e9, "backoff", p->backoff,
                     "max_delay_seconds", (double)p->max_delay_ns / 1e9, "jitter_seconds",
                     (double)p->jitter_ns / 1e9);
}

/* What a chained job runs after, null when it is not one. */
static json_t *after_json(const struct manifest_after *a)
{
    json_t *jobs;

    if (!a)
        return json_null();
    jobs = json_array();
    for (uint32_t i = 0; i < a->n_parents; i++)
        json_array_append_new(jobs, json_string(a->parents[i].id));
    return json_pack("{s:o, s:s}", "jobs", jobs, "on", chain_on_name(a->on));
}

/* A receiver's URL as the API shows it: scheme and host only, since the
 * path of a webhook or a ping URL is often its secret. */
static json_t *url_shown(const char *url)
{
    const char *host = strstr(url, "://");
    size_t len = host ? (size_t)(host + 3 - url) + strcspn(host + 3, "/?#") : strcspn(url, "/?#");
    struct buf b = {0};
    json_t *out;

    buf_printf(&b, "%.*s/...", (int)len, url);
    out = json_string(b.data);
    buf_free(&b);
    return out;
}

/* The job's own receivers (host.notify's are the daemon's), each with the
 * events it is sent; an empty list when none. */
static json_t *notify_json(const struct manifest_notify_list *l)
{
    json_t *list = json_array();

    for (size_t i = 0; l && i < l->n; i++) {
        const struct manifest_notify *n = &l->items[i];
        json_t *on = json_array();
        for (int e = 0; e < NOTIFY_EVENT_COUNT; e++)
            if (n->on & (1u << e))
                json_array_append_new(on, json_string(notify_event_name((enum notify_event)e)));
        json_array_append_new(list, json_pack("{s:o, s:o, s:f}", "url", url_shown(n->url), "on",
                                              on, "timeout_seconds",
                                              (double)n->timeout_ns / 1e9));
    }
    return list;
}

/* The retry waiting in the scheduler, null when none. */
static json_t *pending_retry_json(const struct jobstate *st)
{
    unsigned attempt = atomic_load(&st->retry_attempt);
    int64_t due = atomic_load(&st->retry_due_wall_ns);

    if (!attempt || due <= 0)
        return json_null();
    return json_pack("{s:i, s:o}", "attempt", (json_int_t)attempt, "due", json_time_or_null(due));
}

const char *api_job_state(const struct job *job)
{
    struct job_metrics *jm = atomic_load_explicit(&job->state->metrics, memory_order_acquire);
    enum run_result recent[METRICS_RECENT];
    size_t n;

    if (!job->spec->enabled)
        return "disabled";
    if (atomic_load_explicit(&job->state->paused, memory_order_relaxed))
        return "paused";
    if (atomic_load_explicit(&job->state->running, memory_order_relaxed))
        return "running";
    if (metrics_job_missed(jm))
        return "missed";
    n = metrics_job_recent(jm, recent);
    if (n && run_result_failed(recent[n - 1]))
        return "failing";
    return "ok";
}

/* The zone a cron trigger is read in: its own, or the host's. */
static json_t *timezone_json(const struct trigger *t)
{
    if (t->kind != TRIGGER_CRON)
        return json_null();
    return json_string(tz_name(t->tz ? t->tz : tz_local()));
}

static json_t *recent_json(const struct job *job)
{
    enum run_result recent[METRICS_RECENT];
    size_t n = metrics_job_recent(atomic_load(&job->state->metrics), recent);
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(run_result_name(recent[i])));
    return list;
}

static json_t *job_json(const struct job *job)
{
    const struct manifest_job *spec = job->spec;
    struct job_last_run last;
    json_t *last_json = json_null(), *doc;
    char run_id[RUN_ID_LEN];

    metrics_job_last(atomic_load(&job->state->metrics), &last);
    if (last.ran) {
        run_id_format(last.run_id, run_id);
        last_json = json_pack("{s:s, s:s, s:o, s:f, s:s?}", "run_id", run_id, "result",
                              run_result_name(last.result), "started",
                              json_time_or_null(last.start_wall_ns), "duration_ms",
                              (double)last.duration_ns / 1e6, "error",
                              last.error[0] ? last.error : NULL);
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:i, s:i, s:o, s:o}", "id", spec->id,
                    "plugin", spec->plugin, "plugin_version", job->plugin->version,
                    "trigger", spec->trigger_text, "enabled", spec->enabled, "paused",
                    atomic_load(&job->state->paused), "running",
                    (json_int_t)atomic_load(&job->state->running), "stuck",
                    (json_int_t)atomic_load(&job->state->stuck), "max_instances",
                    (json_int_t)spec->max_instances, "next_run",
                    json_time_or_null(atomic_load(&job->state->next_run_wall_ns)), "last_run",
                    last_json);
    json_object_set_new(doc, "concurrency", json_string(concurrency_name(spec->concurrency)));
    json_object_set_new(doc, "after", after_json(spec->after));
    json_object_set_new(doc, "retry", retry_json(spec->retry));
    json_object_set_new(doc, "at_start", json_boolean(spec->at_start));
    json_object_set_new(doc, "recover", json_boolean(spec->recover));
    json_object_set_new(doc, "notify", notify_json(spec->notify));
    json_object_set_new(doc, "ping",
                        spec->notify && spec->notify->ping ? url_shown(spec->notify->ping)
                                                           : json_null());
    json_object_set_new(doc, "pending_retry", pending_retry_json(job->state));
    json_object_set_new(doc, "timezone", timezone_json(&spec->trigger));
    json_object_set_new(doc, "state", json_string(api_job_state(job)));
    json_object_set_new(doc, "recent", recent_json(job));
    json_object_set_new(doc, "missed",
                        json_time_or_null(metrics_job_missed(atomic_load(&job->state->metrics))));
    return doc;
}

static json_t *seconds_or_null(int64_t ns)
{
    return ns > 0 ? json_real((double)ns / 1e9) : json_null();
}

/* What the manifest says of the job beyond the list's fields. Parameter
 * values are left out: GET is open to anyone who reaches the port, and a
 * parameter may hold a secret (exec's env); the manifest has them. */
static json_t *spec_json(const struct manifest_job *spec)
{
    static const char *const isolation[] = {"thread", "process"};
    json_t *params = json_array();

    for (uint32_t i = 0; i < spec->n_params; i++)
        json_array_append_new(params, json_string(spec->params[i].key));
    return json_pack("{s:s, s:s?, s:i, s:i, s:o, s:o, s:o, s:b, s:s, s:s?, s:o}", "trigger_kind",
                     spec->trigger.kind == TRIGGER_CRON       ? "cron"
                     : spec->trigger.kind == TRIGGER_INTERVAL ? "interval"
                     : spec->trigger.kind == TRIGGER_DATE     ? "date"
                                                              : "manual",
                     "file", spec->file, "line", (json_int_t)spec->line, "max_instances",
                     (json_int_t)spec->max_instances, "timeout_seconds",
                     seconds_or_null(spec->timeout_ns), "misfire_grace_seconds",
                     seconds_or_null(spec->misfire_grace_ns), "jitter_seconds",
                     seconds_or_null(spec->trigger.jitter_ns), "coalesce", spec->coalesce,
                     "isolation", isolation[spec->isolation == ISOLATION_PROCESS],
                     "log_level", spec->log_level >= 0 ? log_level_name(spec->log_level) : NULL,
                     "params", params);
}

/* The next `n` fire times: the planned one (jitter included), then the
 * trigger's own times after it (jitter not included). */
static json_t *next_runs_json(const struct job *job, unsigned n)
{
    json_t *list = json_array();
    int64_t t = atomic_load(&job->state->next_run_wall_ns);
    int64_t anchor = t;

    if (!job->spec->enabled)
        return list;
    for (unsigned i = 0; i < n && t > 0; i++) {
        json_array_append_new(list, json_time_or_null(t));
        t = trigger_next(&job->spec->trigger, t, anchor);
    }
    return list;
}

/* Runs on the main thread when the reload asked for by handle_reload is
 * done: the answer goes out on the request's connection. */
static void reload_answer(void *arg, int rc, const struct buf *summary)
{
    struct http_deferred *d = arg;
    struct buf body = {0};

    if (rc == -ESHUTDOWN) {
        buf_puts(&body, "{\"error\":\"shutting down\"}\n");
        (void)http_deferred_answer(d, 503, "application/json", &body); /* -ECANCELED: gone */
    } else {
        if (summary->len)
            buf_append(&body, summary->data, summary->len);
        (void)http_deferred_answer(d, rc == 0 ? 200 : 400, "application/json", &body);
    }
    buf_free(&body);
}

/* The reload runs on the main thread (plugin init may take seconds); this
 * thread goes on answering /-/healthy and /metrics meanwhile. */
static void handle_reload(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct api *api = arg;
    (void)req;

    if (api->cluster && cluster_notify(api->cluster, CLUSTER_RELOAD, NULL) < 0)
        jlog(JH_LOG_WARN, "cluster_notify_failed", "command=reload error=%s",
             "the other nodes were not told: reload them by hand");
    reloader_request(api->reloader, "http", reload_answer, http_defer(resp));
}

static void handle_list(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct api *api = arg;
    struct generation *g = reloader_live(api->reloader);
    json_t *jobs = json_array();
    (void)req;

    for (size_t i = 0; i < g->n_jobs; i++)
        json_array_append_new(jobs, job_json(&g->jobs[i]));
    generation_unref(g);
    reply(resp, 200, json_pack("{s:o}", "jobs", jobs));
}

/* "/api/v1/jobs/{id}" or "/api/v1/jobs/{id}/ACTION": the id, decoded (an id
 * holding "%2F" or "%00" is nobody's), and the action. */
static bool split_path(const struct http_request *req, char *id, size_t idlen,
                       const char **action)
{
    const char *rest = req->param + req->param_len;

    if (http_request_param(req, id, idlen) <= 0)
        return false;
    *action = *rest == '/' ? rest + 1 : "";
    return true;
}

static void handle_job_get(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct api *api = arg;
    char id[256];
    const char *action, *next = http_request_arg(req, "next");
    struct generation *g;
    struct job *job;
    unsigned n_next = 5;

    if (!split_path(req, id, sizeof(id), &action) || action[0]) {
        reply_error(resp, 404, "no such resource");
        return;
    }
    if (next) {
        char *end;
        unsigned long v = strtoul(next, &end, 10);
        if (!*next || *end || v > 100) {
            reply_error(resp, 400, "next: a whole number from 0 to 100");
            return;
        }
        n_next = (unsigned)v;
    }
    g = reloader_live(api->reloader);
    job = generation_find_job(g, id);
    if (job) {
        json_t *doc = job_json(job);
        json_object_set_new(doc, "next_runs", next_runs_json(job, n_next));
        json_object_set_new(doc, "spec", spec_json(job->spec));
        reply(resp, 200, doc);
    } else {
        reply_error(resp, 404, "no such job");
    }
    generation_unref(g);
}

/* The manifest's path, absolute (its directory is), as a JSON string. */
static json_t *manifest_path_json(const struct manifest *m)
{
    const char *base = strrchr(m->path, '/');
    struct buf b = {0};
    json_t *j;

    if (m->path[0] == '/')
        return json_string(m->path);
    buf_printf(&b, "%s%s%s", m->dir, strcmp(m->dir, "/") == 0 ? "" : "/", base ? base + 1 : m->path);
    j = json_string(b.data);
    buf_free(&b);
    return j ? j : json_string(m->path);
}

/* GET /api/v1/status: the daemon itself, for `jobhost ctl status` and the
 * status page. */
static void handle_status(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct api *api = arg;
    struct generation *g = reloader_live(api->reloader);
    const struct manifest_host *h = &g->manifest->host;
    struct reload_last last;
    json_t *doc, *reload = json_null(), *manifest_json;
    bool token = h->http.token_file != NULL;
    bool read_only = !token && !h->http.allow_unauthenticated &&
                     !http_listen_is_loopback(h->http.listen);
    (void)req;

    reloader_last(api->reloader, &last);
    if (last.wall_ns) {
        reload = last.summary ? json_loads(last.summary, 0, NULL) : NULL;
        if (!json_is_object(reload)) {
            json_decref(reload);
            reload = json_object();
        }
        json_object_set_new(reload, "time", json_time_or_null(last.wall_ns));
        json_object_set_new(reload, "source", json_string(last.source));
        json_object_set_new(reload, "result", json_string(last.ok ? "applied" : "refused"));
    }
    free(last.summary);
    manifest_json = manifest_path_json(g->manifest);
    doc = json_pack("{s:s, s:i, s:i, s:s, s:o, s:f, s:o, s:i, s:i, s:i, s:b, s:o, s:s}",
                    "version", JOBHOST_VERSION, "abi", (json_int_t)JH_ABI_VERSION, "pid",
                    (json_int_t)getpid(), "node", api->node, "started",
                    json_time_or_null(api->started_wall_ns), "uptime_seconds",
                    (double)(mono_ns() - api->started_mono_ns) / 1e9, "manifest",
                    manifest_json, "jobs", (json_int_t)g->n_jobs, "plugins",
                    (json_int_t)g->n_plugins, "workers", (json_int_t)h->workers, "dry_run",
                    api->dry_run, "last_reload", reload, "auth",
                    read_only ? "read_only" : token ? "token" : "none");
    generation_unref(g);
    reply(resp, 200, doc);
}

static void handle_job_post(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct api *api = arg;
    char id[256];
    const char *action;
    struct generation *g;
    struct job *job;

    if (!split_path(req, id, sizeof(id), &action) ||
        (strcmp(action, "run") != 0 && strcmp(action, "pause") != 0 &&
         strcmp(action, "resume") != 0)) {
        reply_error(resp, 404, "no such action (run, pause, resume)");
        return;
    }
    g = reloader_live(api->reloader);
    job = generation_find_job(g, id);
    if (!job) {
        reply_error(resp, 404, "no such job");
    } else if (strcmp(action, "run") == 0) {
        const char *dry = http_request_arg(req, "dry_run");
        struct run_opts ro = {.trigger = RUN_MANUAL, .dry_run = dry && strcmp(dry, "true") == 0,
                              .run_id = run_new_id()};
        char run_id[RUN_ID_LEN];
        int rc = executor_submit(api->executor, job, &ro);
        run_id_format(ro.run_id, run_id);
        if (rc == 0)
            reply(resp, 202, json_pack("{s:s, s:s}", "job", id, "run_id", run_id));
        else if (rc == -EBUSY)
            reply(resp, 409, json_pack("{s:s, s:i}", "error", "max_instances reached",
                                       "max_instances", (json_int_t)job->spec->max_instances));
        else
            reply_error(resp, 503, "shutting down");
    } else {
        bool paused = strcmp(action, "pause") == 0;
        atomic_store(&job->state->paused, paused);
        /* stored before the answer, so a restart right after keeps it */
        if (api->history &&
            history_set_paused(api->history, id, paused, wall_ns(), PAUSE_STORE_WAIT_NS) < 0)
            jlog(JH_LOG_WARN, "pause_not_stored", "job=%s paused=%s error=%s", id,
                 paused ? "true" : "false",
                 "the run store did not take it in time: it stays queued and is written once "
                 "the store works");
        if (api->cluster &&
            cluster_notify(api->cluster, paused ? CLUSTER_PAUSE : CLUSTER_RESUME, id) < 0)
            jlog(JH_LOG_WARN, "cluster_notify_failed", "command=%s job=%s error=%s",
                 paused ? "pause" : "resume", id,
                 "the other nodes were not told now: they read it from the store at their "
                 "next start");
        reply(resp, 200, job_json(job));
    }
    generation_unref(g);
}

size_t api_routes(struct api *api, struct http_route *routes)
{
    const struct http_route list[] = {
        {"POST", "/-/reload", HTTP_MATCH_EXACT, handle_reload, api, 0},
        {"GET", "/api/v1/jobs", HTTP_MATCH_EXACT, handle_list, api, HTTP_ROUTE_GZIP},
        {"GET", JOBS_PREFIX "{id}", HTTP_MATCH_EXACT, handle_job_get, api, 0},
        {"POST", JOBS_PREFIX "{id}/run", HTTP_MATCH_EXACT, handle_job_post, api, 0},
        {"POST", JOBS_PREFIX "{id}/pause", HTTP_MATCH_EXACT, handle_job_post, api, 0},
        {"POST", JOBS_PREFIX "{id}/resume", HTTP_MATCH_EXACT, handle_job_post, api, 0},
        {"GET", "/api/v1/status", HTTP_MATCH_EXACT, handle_status, api, 0},
    };
    size_t n = sizeof(list) / sizeof(list[0]);
    _Static_assert(sizeof(list) / sizeof(list[0]) + API_HISTORY_ROUTES == API_ROUTES,
                   "API_ROUTES counts the routes of both files");

    pthread_mutex_init(&api->reader_lock, NULL);
    pthread_mutex_init(&api->follow_lock, NULL);
    memcpy(routes, list, n * sizeof(*routes));
    return n + api_history_routes(api, routes + n);
}
