/*
 * http_router — method + path -> handler, and everything about an HTTP
 * answer that needs no socket: the gate (501 for unknown methods, 401
 * without the bearer token, compared in constant time), 404 / 405 + Allow,
 * Accept negotiation for /metrics (Prometheus text format 0.0.4 or
 * OpenMetrics 1.0), gzip negotiation, and the built-in routes GET /metrics,
 * GET /-/healthy and GET /-/ready beside the caller's.
 *
 * Pure: no sockets, no threads, no globals (only a deferred answer's handle
 * holds a mutex, for the thread that gives it). Unit tests and the fuzzer
 * drive it with a struct http_request they build; the server
 * (http_server.h) feeds it what libmicrohttpd reads and sends what it
 * answers.
 *
 * Paths are routed as sent: the router and the handlers see the path of
 * the request line without its query string and without percent-decoding,
 * so "/api/v1/jobs/a%2Frun" has one segment after "jobs", never the two of
 * "/api/v1/jobs/a/run", and "%00" cannot cut a path short. A handler that
 * needs a segment's text decodes it (http_request_param,
 * http_decode_segment, which refuse a '/' or NUL). Query arguments arrive
 * decoded.
 *
 * A route matches a path exactly ("/-/reload"), by pattern with one
 * parameter segment ("/api/v1/jobs/{id}/run": "{id}" stands for one
 * non-empty segment, handed to the handler raw in req->param), or by prefix
 * ("/static/"). The most specific route that has the path and the method
 * wins: an exact path, then a pattern (the one with more literal text),
 * then the longest prefix. A path no route has is a 404; a path that some
 * routes have, but not with this method, a 405 whose Allow header lists
 * their methods. So an API that declares each of its routes exactly gets
 * its 404s and 405s from the router.
 *
 * A body is a buffer (resp->body) or a stream produced in pieces
 * (resp->stream, see http_stream.h), which the server pulls only as fast
 * as the client reads. A handler may also leave the answer for later, to
 * be given from another thread (http_defer, see http_deferred.h).
 */
#ifndef JH_HTTP_ROUTER_H
#define JH_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/metrics.h"
#include "io/http_stream.h"
#include "lib/util.h"

struct http_deferred;

/* A request as handlers see it. Every pointer is borrowed for the call. */
struct http_header {
    const char *name;
    const char *value;
};

struct http_request {
    const char *method; /* "GET", "HEAD", "POST", ... (case-sensitive) */
    const char *path;   /* as sent (not percent-decoded), without the query string */
    const struct http_header *headers; /* request headers */
    size_t n_headers;
    const struct http_header *args; /* query arguments (?a=1&b=2), decoded */
    size_t n_args;
    const char *body; /* POST/PUT body (NUL-terminated copy), or NULL */
    size_t body_len;
    /* Set by the router for a pattern route: the "{name}" segment of
     * `path`, raw and not NUL-terminated (see http_request_param). NULL
     * for other routes. */
    const char *param;
    size_t param_len;
};

/* What a handler fills in. http_route() initialises it: status 200, content
 * type "text/plain; charset=utf-8", empty body, no stream, no extra
 * headers. The body is `body`, or the stream when stream.next is set (see
 * http_response_stream; `body` then stays empty). */
struct http_response {
    int status;
    const char *content_type;  /* static storage (a string literal) */
    struct buf body;           /* owned by the response */
    struct buf headers;        /* extra headers; use http_response_header() */
    struct http_stream stream; /* owned by the response */
    /* Set by http_defer: the answer comes later (a reference, owned; the
     * server takes it over). */
    struct http_deferred *deferred;
    /* Set by the router before the handler runs: the route gzips and the
     * client accepts gzip. A deferred answer keeps it (http_defer). */
    bool gzip;
};

typedef void (*http_handler_fn)(void *arg, const struct http_request *req,
                                struct http_response *resp);

enum http_match {
    HTTP_MATCH_EXACT,  /* path equals route.path, where one segment that is
                        * exactly "{name}" stands for any non-empty segment */
    HTTP_MATCH_PREFIX, /* path starts with route.path ("/static/") */
};

/* Route flags. */
#define HTTP_ROUTE_GZIP 1u /* gzip the body when the client accepts it */

struct http_route {
    const char *method; /* "GET" (then HEAD is answered too), "POST", ... */
    const char *path;   /* "/-/reload", "/api/v1/jobs/{id}/run", "/static/" */
    enum http_match match;
    http_handler_fn fn;
    void *arg; /* passed to fn; must outlive the router */
    unsigned flags;
};

/* Hands the metrics exposition in format `f` to *out as a stream (see
 * http_stream.h; leaving *out cleared is an empty body). 0, or -errno when
 * there is nothing to send (GET /metrics then answers 500 with the
 * reason). Called on the thread that routes the request; the stream then
 * runs on the server's polling thread. metrics_render_stream of
 * io/metrics_render.h fits (arg = struct metrics_source *). */
typedef int (*http_metrics_fn)(void *arg, enum metrics_format f, struct http_stream *out);

/* True when the daemon is ready to serve (configuration loaded, scheduler
 * running). Called on the routing thread: read an atomic, do not lock. */
typedef bool (*http_ready_fn)(void *arg);

struct http_router_config {
    /* Bearer token (the text itself). When set, every request whose method
     * is not GET or HEAD must carry "Authorization: Bearer <token>", else
     * 401. NULL: no token. An empty string refuses every such request. The
     * router keeps only a digest of it; borrowed. */
    const char *token;
    /* Every method but GET and HEAD answers 403 (before the token check):
     * the daemon sets it when it listens beyond loopback without a token
     * and http.allow_unauthenticated is not set. */
    bool read_only;
    http_metrics_fn metrics_fn; /* NULL: no /metrics route */
    void *metrics_arg;
    http_ready_fn ready_fn; /* NULL: /-/ready is always 200 */
    void *ready_arg;
    /* Extra routes, before the built-in ones (at equal specificity the
     * first wins, so they may replace them). The array is copied; the
     * strings must be string literals or outlive the router. */
    const struct http_route *routes;
    size_t n_routes;
};

struct http_router;

/* The built-in routes (GET /metrics when cfg->metrics_fn is set,
 * GET /-/healthy, GET /-/ready) after cfg->routes. Copies what it needs of
 * cfg; the callbacks' args are borrowed. */
struct http_router *http_router_new(const struct http_router_config *cfg);
void http_router_free(struct http_router *r); /* NULL: no-op */

/* Answers `req` into `resp` (which it initialises; the caller frees it with
 * http_response_free). First the gate: 501 for a method that is not one of
 * GET HEAD POST PUT DELETE PATCH OPTIONS TRACE CONNECT; then routing as
 * described at the top: 404, or 405 + Allow (whether or not the request
 * carries a token: which methods a path takes is no secret); then, for a
 * route taking the method when it is not GET or HEAD, 403 on a read-only
 * router, or, when the router has a token, 401 with
 * "WWW-Authenticate: Bearer realm=\"jobhost\"" unless the request carries
 * "Authorization: Bearer <token>" (scheme case-insensitive). Then the
 * handler (with req->param set for a pattern). HEAD is served by GET routes with the
 * body GET would send (the server transmits only the headers and never
 * pulls a stream). For HTTP_ROUTE_GZIP routes "Vary: Accept-Encoding" is
 * always set and, when Accept-Encoding allows gzip, a 200's body is
 * gzipped (Content-Encoding: gzip): a buffer when it is not empty, a
 * stream piece by piece as it is pulled, a deferred answer when it is
 * given. Runs on the caller's thread; the router is read-only. */
void http_route(const struct http_router *r, const struct http_request *req,
                struct http_response *resp);

/* Only the gate of http_route (501, 404 / 405, 403 / 401), for a server
 * that checks a request as soon as its headers are in, before reading its
 * body. True when it answered `resp` (which the caller initialised). */
bool http_check_gate(const struct http_router *r, const struct http_request *req,
                     struct http_response *resp);

void http_response_init(struct http_response *resp);
/* Frees the body, the headers, the stream (its free runs) and drops the
 * deferred reference. */
void http_response_free(struct http_response *resp);

/* Makes the stream *s the body (taken: *s is cleared); a buffer body or an
 * earlier stream is freed. */
void http_response_stream(struct http_response *resp, struct http_stream *s);

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

/* Percent-decodes one path segment: the `len` bytes at `s` into `out`,
 * NUL-terminated. Refuses with -EINVAL a '%' not followed by two hex
 * digits and anything that is or decodes to '/' or NUL, so that a segment
 * can never become two segments or a shorter string; else -ENAMETOOLONG
 * when the text and its NUL do not fit in outlen (out then holds a
 * prefix, not terminated). Returns the decoded length.
 * '+' is a plus sign (form decoding is for query strings). Pure. */
ssize_t http_decode_segment(const char *s, size_t len, char *out, size_t outlen);

/* http_decode_segment of req->param (the pattern's segment); -ENOENT when
 * the route has no parameter. */
ssize_t http_request_param(const struct http_request *req, char *out, size_t outlen);

/* Which format an Accept header asks for: OpenMetrics when
 * application/openmetrics-text (version 1.0.0, 0.0.1 or none) has q > 0 and
 * at least the q of text/plain; the text format otherwise. NULL: text. Pure. */
enum metrics_format http_negotiate_format(const char *accept);

/* True when a and b (a_len and b_len bytes) are the same bytes. Takes the
 * same time whatever the contents and wherever they first differ, and does
 * not stop early on different lengths: both are hashed (SHA-256) and the
 * digests compared without a branch, so the time depends only on the two
 * lengths. For secrets: the bearer token. Pure. */
bool http_token_equal(const char *a, size_t a_len, const char *b, size_t b_len);

/* True when an Accept-Encoding header allows gzip (gzip, x-gzip or * with
 * q > 0, gzip not refused with q=0). Pure. */
bool http_accepts_gzip(const char *accept_encoding);

#endif /* JH_HTTP_ROUTER_H */
