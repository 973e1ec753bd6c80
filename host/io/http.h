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
 * Hardening, in the order a request meets it:
 *   - connections: at most connection_limit in all and per_ip_limit from one
 *     address (more are accepted and closed at once); a connection idle for
 *     connection_timeout seconds is closed;
 *   - the request line and headers must fit in connection_memory bytes
 *     (libmicrohttpd answers 414 or 431 itself otherwise);
 *   - in the router: a method nobody implements is a 501; with a token, any
 *     method but GET and HEAD needs "Authorization: Bearer <token>" (401
 *     otherwise, compared in constant time);
 *   - a body beyond max_body is a 413.
 *   The server checks the method, the token and Content-Length as soon as
 *   the headers are in, so a refused request's body is never read.
 *   Optional TLS (cert_pem + key_pem) through libmicrohttpd's GnuTLS.
 *   Limit: libmicrohttpd's timeout is an idle timeout, so a client that
 *   trickles a byte every few seconds keeps its slot; the per-IP limit is
 *   what bounds such a client. Do not expose the port to untrusted networks
 *   without a proxy in front (http_listen_is_loopback lets the daemon warn).
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

#include "core/metrics.h"
#include "lib/util.h"

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
    unsigned connection_limit;   /* open connections in all; 0: 64 */
    unsigned per_ip_limit;       /* open connections from one IP address; 0: 32 */
    unsigned connection_timeout; /* idle seconds before a connection is closed; 0: 10 */
    size_t connection_memory;    /* bytes per connection for the request line and
                                  * headers (and I/O buffers); a request head that
                                  * does not fit gets 414/431; 0: 32 KiB, min 8 KiB */
    size_t max_body;             /* bytes of request body accepted (413 beyond); 0: 1 MiB */

    /* Bearer token (the text itself, no trailing newline: see
     * http_read_token_file). When set, every request whose method is not GET
     * or HEAD must carry "Authorization: Bearer <token>", else 401. NULL: no
     * token. An empty string refuses every such request (and http_start
     * refuses it). The router keeps only a digest of it; borrowed. */
    const char *token;

    /* TLS: PEM certificate (chain) and private key, the files' contents (see
     * http_read_file). Both or neither; NULL: plain HTTP. Copied by
     * http_start; needs a libmicrohttpd built with GnuTLS (http_tls_supported). */
    const char *cert_pem;
    const char *key_pem;

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
 * http_response_free). First the gate: 501 for a method that is not one of
 * GET HEAD POST PUT DELETE PATCH OPTIONS TRACE CONNECT; then, when the
 * router has a token and the method is not GET or HEAD, 401 with
 * "WWW-Authenticate: Bearer realm=\"jobhost\"" unless the request carries
 * "Authorization: Bearer <token>" (scheme case-insensitive). Then the
 * handler of the most specific route that has the path and the method (an
 * exact path before the longest prefix); 404 when no route has the path;
 * 405 with an Allow header when routes have the path but not the method.
 * HEAD is served by GET routes with the body GET would send (the server
 * transmits only the headers). For HTTP_ROUTE_GZIP routes,
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

/* True when a and b (a_len and b_len bytes) are the same bytes. Takes the
 * same time whatever the contents and wherever they first differ, and does
 * not stop early on different lengths: both are hashed (SHA-256) and the
 * digests compared without a branch, so the time depends only on the two
 * lengths. For secrets: the bearer token. Pure. */
bool http_token_equal(const char *a, size_t a_len, const char *b, size_t b_len);

/* True when an Accept-Encoding header allows gzip (gzip, x-gzip or * with
 * q > 0, gzip not refused with q=0). Pure. */
bool http_accepts_gzip(const char *accept_encoding);

/* --- the server --------------------------------------------------------------- */

struct http_server;

/* True when `listen` (as lib/listen.h reads it; NULL is the default
 * 127.0.0.1:9464) binds only loopback: "localhost", 127.0.0.0/8, ::1 or
 * ::ffff:127.x.y.z. False for every interface
 * (":PORT", 0.0.0.0, ::), any other address or host name, and an invalid
 * address. Pure (no name lookup): the daemon logs a warning when false. */
bool http_listen_is_loopback(const char *listen);

/* True when libmicrohttpd was built with TLS (GnuTLS). */
bool http_tls_supported(void);

/* Reads the bearer token in `path` into *token (malloc'ed, NUL-terminated,
 * trailing whitespace stripped; the caller frees it, ideally after
 * explicit_bzero). Refuses, with a message in err naming the file:
 *   - a file it cannot open or read, or that is not a regular file (-errno,
 *     -EINVAL);
 *   - a file group or others may access (mode & 077): -EPERM,
 *     "token file PATH is readable by others (chmod 600)";
 *   - a token over 4096 bytes: -EFBIG;
 *   - an empty token, or one holding whitespace or control characters
 *     inside (it could not be sent in a header): -EINVAL.
 * On failure *token is NULL. Any thread. */
int http_read_token_file(const char *path, char **token, char *err, size_t errlen);

/* Reads the whole file `path` (at most 1 MiB: the PEM certificate and key
 * for cert_pem / key_pem) into *text, malloc'ed and NUL-terminated; the
 * caller frees it. 0, or -errno / -EFBIG with "cannot read PATH: reason" in
 * err and *text NULL. Any thread. */
int http_read_file(const char *path, char **text, char *err, size_t errlen);

/* Binds cfg->listen and starts serving. Returns the server, or NULL with a
 * message in err ("listen 127.0.0.1:9464: bind: Address already in use",
 * "listen 127.0.0.1:9464: TLS: cert_pem given without key_pem", "listen ...:
 * TLS: libmicrohttpd was built without TLS support", or libmicrohttpd's own
 * reason, e.g. for a certificate GnuTLS cannot read). cfg is copied (see
 * http_router_new). Main thread. */
struct http_server *http_start(const struct http_config *cfg, char *err, size_t errlen);

/* The bound TCP port (useful with port 0). */
int http_port(const struct http_server *s);

/* Stops accepting, closes every connection, waits for the polling thread
 * and frees the server. NULL is a no-op. Main thread. */
void http_stop(struct http_server *s);

#endif /* JH_HTTP_H */
