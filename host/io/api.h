/*
 * api — the daemon's own HTTP routes, beside /metrics and the health
 * checks: POST /-/reload (as Prometheus does), the JSON jobs API under
 * /api/v1/jobs and the daemon's status, /api/v1/status. Handlers run on
 * the HTTP server's thread.
 */
#ifndef JH_API_H
#define JH_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/http_router.h"

struct reloader;
struct executor;
struct history;
struct store_backend;
struct cluster;
struct store_reader;

struct job;

/* Set by the daemon before the routes serve; read-only afterwards. */
struct api {
    struct reloader *reloader; /* the live generation and reloads */
    struct executor *executor; /* manual runs */
    /* The run store: history queries and stored pauses; history NULL when
     * there is none (then the history routes answer 404 and pauses are not
     * stored). */
    struct history *history;
    const struct store_backend *store_backend;
    const char *store_path; /* borrowed from the daemon's store location (not the
                               manifest, which goes at a reload), freed after the
                               routes stop; it cannot change without a restart */
    /* The history routes' read handle (io/api_history.c), under its lock. */
    pthread_mutex_t reader_lock;
    struct store_reader *reader;
    /* Streams following a run's output (io/api_history.c), woken at each
     * commit of the store: under follow_lock (a leaf lock). */
    pthread_mutex_t follow_lock;
    struct api_follow *followers;
    int64_t started_wall_ns;   /* when the daemon started (GET /api/v1/status) */
    int64_t started_mono_ns;
    bool dry_run;              /* the daemon runs with --dry-run */
    char node[256];            /* the host's name */
    /* A cluster node (NULL otherwise): pauses, resumes and reloads asked
     * here are told to every other node. */
    struct cluster *cluster;
};

/* Fills `routes` (room for API_ROUTES entries) with the API's routes, whose
 * handlers get `api` as their argument; returns how many:
 *   POST /-/reload
 *   GET  /api/v1/jobs, /api/v1/jobs/{id} (?next=N fire times, default 5)
 *   POST /api/v1/jobs/{id}/run (?dry_run=true), .../pause, .../resume
 *   GET  /api/v1/status
 * and the history routes of io/api_history.h. */
#define API_ROUTES 11 /* 7 here, 4 of io/api_history.h */
size_t api_routes(struct api *api, struct http_route *routes);

/* A job's state as the API and the status page name it, the first that
 * holds: "disabled" (enabled: false), "paused", "running", "missed" (a
 * firing was skipped as too late and no run started since), "failing"
 * (its last run failed, timed out or crashed), "ok". A static string.
 * Any thread; reads atomics only (the outcome observers call it). */
const char *api_job_state(const struct job *job);

#endif /* JH_API_H */
