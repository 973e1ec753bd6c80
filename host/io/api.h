/*
 * api — the daemon's own HTTP routes, beside /metrics and the health
 * checks: POST /-/reload (as Prometheus does) and the JSON jobs API under
 * /api/v1/jobs. Handlers run on the HTTP server's thread.
 */
#ifndef JH_API_H
#define JH_API_H

#include <stddef.h>

#include "io/http_router.h"

struct reloader;
struct executor;

struct api {
    struct reloader *reloader; /* the live generation and reloads */
    struct executor *executor; /* manual runs */
};

/* Fills `routes` (room for API_ROUTES entries) with the API's routes, whose
 * handlers get `api` as their argument; returns how many. */
#define API_ROUTES 6
size_t api_routes(struct api *api, struct http_route *routes);

#endif /* JH_API_H */
