/*
 * api — the daemon's own HTTP routes, beside /metrics and the health
 * checks: POST /-/reload (as Prometheus does) and the JSON jobs API under
 * /api/v1/jobs. Handlers run on the HTTP server's thread.
 */
#ifndef JH_API_H
#define JH_API_H

#include <pthread.h>
#include <stddef.h>

#include "io/http_router.h"

struct reloader;
struct executor;
struct history;
struct store_backend;
struct store_reader;

struct api {
    struct reloader *reloader; /* the live generation and reloads */
    struct executor *executor; /* manual runs */
    /* The run store: history queries and stored pauses; history NULL when
     * there is none (then the history routes answer 404 and pauses are not
     * stored). */
    struct history *history;
    const struct store_backend *store_backend;
    const char *store_path;
    /* The history routes' read handle (io/api_history.c), under its lock. */
    pthread_mutex_t reader_lock;
    struct store_reader *reader;
    /* Streams following a run's output (io/api_history.c), woken at each
     * commit of the store: under follow_lock (a leaf lock). */
    pthread_mutex_t follow_lock;
    struct api_follow *followers;
};

/* Fills `routes` (room for API_ROUTES entries) with the API's routes, whose
 * handlers get `api` as their argument; returns how many. The history
 * routes are io/api_history.h's. */
#define API_ROUTES 9
size_t api_routes(struct api *api, struct http_route *routes);

#endif /* JH_API_H */
