/*
 * http_server — the daemon's HTTP endpoint on libmicrohttpd: binds the
 * listening socket, runs one libmicrohttpd daemon, reads each request
 * (headers, query arguments, a POST body up to max_body bytes), hands it
 * to the router (http_router.h: the routes, the gate, negotiation) and
 * sends what the router answers. Also the file readers for the token and
 * the TLS certificate, and the listen-address helpers.
 *
 * Hardening, in the order a request meets it:
 *   - connections: at most connection_limit in all and per_ip_limit from one
 *     address (more are accepted and closed at once); a connection idle for
 *     connection_timeout seconds is closed;
 *   - the request line and headers must fit in connection_memory bytes
 *     (libmicrohttpd answers 414 or 431 itself otherwise);
 *   - the router's gate: a method nobody implements is a 501; with a token,
 *     any method but GET and HEAD needs "Authorization: Bearer <token>"
 *     (401 otherwise, compared in constant time);
 *   - a body beyond max_body is a 413.
 *   The server runs the gate and checks Content-Length as soon as the
 *   headers are in, so a refused request's body is never read.
 *   Optional TLS (cert_pem + key_pem) through libmicrohttpd's GnuTLS.
 *   Limit: libmicrohttpd's timeout is an idle timeout, so a client that
 *   trickles a byte every few seconds keeps its slot; the per-IP limit is
 *   what bounds such a client. Do not expose the port to untrusted networks
 *   without a proxy in front (http_listen_is_loopback lets the daemon warn).
 *
 * Bodies may be streamed (http_stream.h): the server pulls a piece only
 * when the socket took the last one, so a client that stops reading costs
 * one piece. Answers may be deferred (http_deferred.h) and given later from
 * another thread; the connection waits meanwhile without blocking others.
 *
 * Threads: every handler, including the metrics and ready callbacks, runs on
 * the server's polling thread, one request at a time; a handler must not
 * block for long (a slow handler delays other requests, never the
 * scheduler): work that takes long is handed to another thread and the
 * answer deferred. http_start and http_stop are called from the main
 * thread.
 */
#ifndef JH_HTTP_SERVER_H
#define JH_HTTP_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "io/http_router.h"

/* Receives libmicrohttpd's error messages (printf format, no newline). */
typedef void (*http_log_fn)(void *arg, const char *fmt, va_list ap);

struct http_config {
    /* "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464" (all
     * interfaces, IPv6 and IPv4). Port 0 picks a free port (see http_port).
     * NULL means "127.0.0.1:9464". */
    const char *listen;
    /* With use_listen_fd, serve this bound, listening socket (what
     * http_quiesce handed back) instead of binding `listen`: how a reload
     * restarts the server on the same address without a moment closed. */
    bool use_listen_fd;
    int listen_fd;
    /* Refuse every method but GET and HEAD with 403: a listener reachable
     * from other hosts without a token (see http_router_config). */
    bool read_only;
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
     * them): see struct http_router_config. The array is copied; the strings
     * must be string literals or outlive the server. */
    const struct http_route *routes;
    size_t n_routes;
};

struct http_server;

/* True when `listen` (as listen_parse of lib/listen.h takes it; NULL is the default
 * 127.0.0.1:9464) binds only loopback: "localhost", 127.0.0.0/8 (any form
 * inet_aton reads), ::1 or ::ffff:127.x.y.z. False for every interface
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
 * reason, e.g. for a certificate GnuTLS cannot read). cfg is copied (the
 * routes as http_router_new copies them). Main thread. */
struct http_server *http_start(const struct http_config *cfg, char *err, size_t errlen);

/* Stops accepting connections; returns the listening socket, which stays
 * bound and queues new connections until another server takes it
 * (http_config.use_listen_fd). Requests in progress are still served until
 * http_stop, which then leaves the socket open. -1 when it cannot. Main
 * thread. */
int http_quiesce(struct http_server *s);

/* The bound TCP port (useful with port 0). */
int http_port(const struct http_server *s);

/* Stops: answers every request still waiting for a deferred answer with
 * 503 and gives those answers up to a second to be sent (a late
 * http_deferred_answer is then dropped with -ECANCELED); then stops
 * accepting, closes every connection (streams still being sent are freed),
 * waits for the polling thread and frees the server. Returns within about
 * a second whatever the handlers' workers do. NULL is a no-op. Main
 * thread. */
void http_stop(struct http_server *s);

#endif /* JH_HTTP_SERVER_H */
