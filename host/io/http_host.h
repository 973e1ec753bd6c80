/*
 * http_host — the daemon's HTTP endpoint as the manifest's host.http
 * configures it: the settings read (the token, certificate and key files
 * are re-read at every reload, so rotating a token needs no restart), the
 * server started at start-up, and restarted by a reload that changes them:
 *   - a new address is bound before the old listener closes; a bind that
 *     fails refuses the reload and keeps the old one;
 *   - the same address with a new token or certificate moves the listening
 *     socket to a new server, so it is never closed in between;
 *   - beyond loopback without a token, mutating endpoints answer 403
 *     unless http.allow_unauthenticated is set.
 * The reload's own request is answered by the server it came in on, which
 * is stopped on the main loop's next turn.
 *
 * Threads: the main thread only (the servers' own thread serves requests).
 */
#ifndef JH_HTTP_HOST_H
#define JH_HTTP_HOST_H

#include <stdarg.h>
#include <stdbool.h>

#include "core/manifest.h"
#include "io/http_server.h"
#include "lib/util.h"

/* What the endpoint serves, the same for every server it starts; borrowed. */
struct http_host_wiring {
    const struct http_route *routes; /* the API's */
    size_t n_routes;
    http_metrics_fn metrics_fn;
    void *metrics_arg;
    http_ready_fn ready_fn;
    void *ready_arg;
    http_log_fn log_fn;
    void *log_arg;
};

struct http_host;

/* Starts the endpoint `h` describes (none when http.enabled is false).
 * 0, or -errno with the reason in err ("listen 127.0.0.1:9464: bind:
 * Address already in use"). */
int http_host_start(const struct http_host_wiring *w, const struct manifest_host *h,
                    struct http_host **out, char *err, size_t errlen);

/* The reload's prepare step (reload.h): reads `h`'s settings and readies a
 * new server when they differ from those in force. 0 (nothing to do, or
 * ready), or -errno with one line per problem in errs, prefixed with
 * `manifest` (and the old server goes on unchanged). */
int http_host_prepare(struct http_host *hh, const struct manifest_host *h, const char *manifest,
                      struct errors *errs);

/* The reload is applied: the readied server takes over. */
void http_host_commit(struct http_host *hh);

/* The port served (0: none). */
int http_host_port(const struct http_host *hh);

/* Stops every server and frees. NULL is a no-op. */
void http_host_stop(struct http_host *hh);

#endif /* JH_HTTP_HOST_H */
