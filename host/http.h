/*
 * http — the daemon's HTTP endpoint on libmicrohttpd: GET /metrics (content
 * negotiation between the Prometheus text format 0.0.4 and OpenMetrics 1.0,
 * gzip), GET /-/healthy, GET /-/ready, plus the routes the caller adds
 * (POST /-/reload, /api/v1/jobs...).
 *
 * Two layers:
 *   - a pure router (http_router_new / http_route): method + path -> handler,
 *     404 / 405 + Allow, gzip negotiation. No socket, no threads, no globals:
 *     unit tests and fuzzers drive it with a struct http_request they build.
 *   - the server (http_start / http_stop): one libmicrohttpd daemon with one
 *     internal polling thread (epoll where available) that collects each
 *     request (headers, query arguments, a POST body up to max_body bytes),
 *     calls http_route and sends the response.
 *
 * Threads: every handler, including the metrics and ready callbacks, runs on
 * the server's polling thread, one request at a time; a handler must not
 * block for long (a slow handler delays other requests, never the
 * scheduler). http_start and http_stop are called from the main thread.
 */
#ifndef JH_HTTP_H
#define JH_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "util.h"

/* A request as handlers see it. Every pointer is borrowed for the call. */
struct http_header {
    const char *name;
    const char *value;
};

struct http_request {
    const char *method; /* "GET", "HEAD", "POST", ... (case-sensitive) */
    const char *path;   /* percent-decoded path, without the query string */
    const struct http_header *headers; /* request headers */
    size_t n_headers;
    const struct http_header *args; /* query arguments (?a=1&b=2) */
    size_t n_args;
    const char *body; /* POST/PUT body (NUL-terminated copy), or NULL */
    size_t body_len;
};

/* What a handler fills in. http_route() initialises it: status 200, content
 * type "text/plain; charset=utf-8", empty body, no extra headers. */
struct http_response {
    int status;
    const char *content_type; /* static storage (a string literal) */
    struct buf body;          /* owned by the response */
    struct buf headers;       /* extra headers; use http_response_header() */
};

typedef void (*http_handler_fn)(void *arg, const struct http_request *req,
                                struct http_response *resp);

enum http_match {
    HTTP_MATCH_EXACT,  /* path equals route.path */
    HTTP_MATCH_PREFIX, /* path starts with route.path ("/api/v1/jobs/") */
};

/* Route flags. */
#define HTTP_ROUTE_GZIP 1u /* gzip the body when the client accepts it */

struct http_route {
    const char *method; /* "GET" (then HEAD is answered too), "POST", ... */
    const char *path;
    enum http_match match;
    http_handler_fn fn;
    void *arg; /* passed to fn; must outlive the server */
    unsigned flags;
};

/* Renders the metrics exposition in format `f` into `out`; 0 or -errno.
 * metrics_render_cb of metrics.h fits (arg = struct metrics *). */
typedef int (*http_metrics_fn)(void *arg, enum metrics_format f, struct buf *out);

/* True when the daemon is ready to serve (configuration loaded, scheduler
 * running). Called on the polling thread: read an atomic, do not lock. */
typedef bool (*http_ready_fn)(void *arg);

/* Receives libmicrohttpd's error messages (printf format, no newline). */
typedef void (*http_log_fn)(void *arg, const char *fmt, va_list ap);

struct http_config {
    /* "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464" (all
     * interfaces, IPv6 and IPv4). Port 0 picks a free port (see http_port).
     * NULL means "127.0.0.1:9464". */
    const char *listen;
    unsigned connection_limit;   /* 0: 64 */
    unsigned connection_timeout; /* idle seconds before a connection is closed; 0: 30 */
    size_t max_body;             /* bytes of request body accepted; 0: 1 MiB */

    http_metrics_fn metrics_fn; /* NULL: no /metrics route */
    void *metrics_arg;
    http_ready_fn ready_fn; /* NULL: /-/ready is always 200 */
    void *ready_arg;
    http_log_fn log_fn; /* NULL: libmicrohttpd's messages go to stderr */
    void *log_arg;

    /* Extra routes, matched before the built-in ones (so they may replace
     * them). The array is copied; the strings must be string literals or
     * outlive the server. */
    const struct http_route *routes;
    size_t n_routes;
};

/* --- the router (pure) ------------------------------------------------------ */

struct http_router;

/* The built-in routes (GET /metrics when cfg->metrics_fn is set,
 * GET /-/healthy, GET /-/ready) after cfg->routes. Copies what it needs of
 * cfg; the callbacks' args are borrowed. */
struct http_router *http_router_new(const struct http_config *cfg);
void http_router_free(struct http_router *r); /* NULL: no-op */

/* Answers `req` into `resp` (which it initialises; the caller frees it with
 * http_response_free): the handler of the most specific route that has the
 * path and the method (an exact path before the longest prefix); 404 when no
 * route has the path; 405 with an Allow header when routes have the path
 * but not the method. HEAD is served by GET routes with the body GET would
 * send (the server transmits only the headers). For HTTP_ROUTE_GZIP routes,
 * "Vary: Accept-Encoding" is always set and the body is gzipped when
 * Accept-Encoding allows it (Content-Encoding: gzip).
 *
 * `spare` (may be NULL) lends memory across requests: resp->body starts
 * with spare's allocation (emptied), and a body buffer the response no
 * longer needs (the uncompressed text after gzip) is handed back into
 * *spare. A big exposition then reuses warm pages instead of faulting in
 * fresh ones on every scrape. Handlers append to resp->body; they must not
 * replace it. Runs on the caller's thread; the router is read-only. */
void http_route(const struct http_router *r, const struct http_request *req,
                struct http_response *resp, struct buf *spare);

void http_response_init(struct http_response *resp);
void http_response_free(struct http_response *resp);

/* Adds a header. Names must be tokens, values must not hold CR or LF:
 * anything else is refused with -EINVAL (so a handler cannot split the
 * response). Returns 0 or -EINVAL. */
int http_response_header(struct http_response *resp, const char *name, const char *value);

/* Value of a header added with http_response_header (case-insensitive), or
 * NULL. Iterate all with http_response_header_at(resp, i, &name) until NULL. */
const char *http_response_get_header(const struct http_response *resp, const char *name);
const char *http_response_header_at(const struct http_response *resp, size_t i, const char **name);

/* Request header (case-insensitive) or query argument (case-sensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_arg(const struct http_request *req, const char *name);

/* Which format an Accept header asks for: OpenMetrics when
 * application/openmetrics-text (version 1.0.0, 0.0.1 or none) has q > 0 and
 * at least the q of text/plain; the text format otherwise. NULL: text. Pure. */
enum metrics_format http_negotiate_format(const char *accept);

/* True when an Accept-Encoding header allows gzip (gzip, x-gzip or * with
 * q > 0, gzip not refused with q=0). Pure. */
bool http_accepts_gzip(const char *accept_encoding);

/* --- the server --------------------------------------------------------------- */

struct http_server;

/* Splits a listen address into host (empty for all interfaces; brackets
 * removed) and port. Returns 0, or -EINVAL with a message in err
 * ("missing port in \"127.0.0.1\""). Pure; for the manifest validator too. */
int http_parse_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen,
                      char *err, size_t errlen);

/* Binds cfg->listen and starts serving. Returns the server, or NULL with a
 * message in err ("listen 127.0.0.1:9464: bind: Address already in use").
 * cfg is copied (see http_router_new). Main thread. */
struct http_server *http_start(const struct http_config *cfg, char *err, size_t errlen);

/* The bound TCP port (useful with port 0). */
int http_port(const struct http_server *s);

/* Stops accepting, closes every connection, waits for the polling thread
 * and frees the server. NULL is a no-op. Main thread. */
void http_stop(struct http_server *s);

#endif /* JH_HTTP_H */
