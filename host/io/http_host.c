/*
 * http_host — host.http applied, at start and at reload. See http_host.h.
 *
 * The settings in force (`cur`) are kept whole, secrets included, so a
 * reload can tell what changed and, should a restart on the same socket
 * fail, bring the old server back on it. Secrets are wiped when freed.
 */
#include "io/http_host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mainloop.h"

/* What one server is started with. */
struct settings {
    bool enabled;
    char *listen;
    char *token, *cert, *key; /* the files' contents; NULL = none */
    bool read_only;
};

struct http_host {
    struct http_host_wiring w;
    struct settings cur;
    struct http_server *server; /* NULL when disabled */
    /* Readied by prepare, taken by commit. */
    bool pending;
    struct settings next;
    struct http_server *next_server;
};

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void settings_free(struct settings *s)
{
    free(s->listen);
    free_secret(s->token);
    free(s->cert);
    free_secret(s->key);
    memset(s, 0, sizeof(*s));
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool settings_equal(const struct settings *a, const struct settings *b)
{
    return a->enabled == b->enabled && str_eq(a->listen, b->listen) && str_eq(a->token, b->token) &&
           str_eq(a->cert, b->cert) && str_eq(a->key, b->key) && a->read_only == b->read_only;
}

/* Reads host.http, the files it names included. 0 or -errno with err. */
static int settings_read(const struct manifest_host *h, struct settings *out, char *err,
                         size_t errlen)
{
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->enabled = h->http.enabled;
    if (!out->enabled)
        return 0;
    out->listen = xstrdup(h->http.listen);
    if ((h->http.token_file &&
         (rc = http_read_token_file(h->http.token_file, &out->token, err, errlen)) < 0) ||
        (h->http.cert_file && (rc = http_read_file(h->http.cert_file, &out->cert, err, errlen)) < 0) ||
        (h->http.key_file && (rc = http_read_file(h->http.key_file, &out->key, err, errlen)) < 0)) {
        settings_free(out);
        return rc;
    }
    if (out->cert && !http_tls_supported()) {
        snprintf(err, errlen, "cert_file: this libmicrohttpd has no TLS support");
        settings_free(out);
        return -ENOTSUP;
    }
    out->read_only = !out->token && !h->http.allow_unauthenticated &&
                     !http_listen_is_loopback(out->listen);
    return 0;
}

/* A server for `s`: on `fd` when >= 0, else bound to s->listen. */
static struct http_server *server_for(const struct http_host *hh, const struct settings *s,
                                      const char *listen, int fd, char *err, size_t errlen)
{
    struct http_config hc = {
        .listen = listen,
        .use_listen_fd = fd >= 0,
        .listen_fd = fd,
        .read_only = s->read_only,
        .token = s->token,
        .cert_pem = s->cert,
        .key_pem = s->key,
        .metrics_fn = hh->w.metrics_fn,
        .metrics_arg = hh->w.metrics_arg,
        .ready_fn = hh->w.ready_fn,
        .ready_arg = hh->w.ready_arg,
        .log_fn = hh->w.log_fn,
        .log_arg = hh->w.log_arg,
        .routes = hh->w.routes,
        .n_routes = hh->w.n_routes,
    };
    return http_start(&hc, err, errlen);
}

static void announce(const struct http_host *hh)
{
    const struct settings *s = &hh->cur;

    if (!hh->server)
        return;
    jlog(JH_LOG_INFO, "http_listening", "listen=%s port=%d tls=%s token=%s", s->listen,
         http_port(hh->server), s->cert ? "on" : "off",
         s->token ? "required for POST" : s->read_only ? "none (read-only)" : "none");
    if (!http_listen_is_loopback(s->listen))
        jlog(JH_LOG_WARN, "http_not_loopback", "listen=%s token=%s tls=%s mutating=%s hint=%s",
             s->listen, s->token ? "yes" : "no", s->cert ? "yes" : "no",
             s->read_only ? "refused" : "allowed",
             "reachable from other hosts: set http.token_file (and TLS) or listen on 127.0.0.1");
}

int http_host_start(const struct http_host_wiring *w, const struct manifest_host *h,
                    struct http_host **out, char *err, size_t errlen)
{
    struct http_host *hh = xcalloc(1, sizeof(*hh));
    int rc;

    hh->w = *w;
    *out = NULL;
    rc = settings_read(h, &hh->cur, err, errlen);
    if (rc == 0 && hh->cur.enabled) {
        hh->server = server_for(hh, &hh->cur, hh->cur.listen, -1, err, errlen);
        if (!hh->server)
            rc = -EADDRNOTAVAIL;
    }
    if (rc < 0) {
        http_host_stop(hh);
        return rc;
    }
    announce(hh);
    *out = hh;
    return 0;
}

int http_host_prepare(struct http_host *hh, const struct manifest_host *h, const char *manifest,
                      struct errors *errs)
{
    struct settings next;
    char err[512] = "";
    int rc;

    MAIN_THREAD_ONLY();
    rc = settings_read(h, &next, err, sizeof(err));
    if (rc < 0) {
        errors_add(errs, "%s: host.http: %s", manifest, err);
        return rc;
    }
    if (settings_equal(&next, &hh->cur)) {
        settings_free(&next);
        return 0;
    }
    hh->next_server = NULL;
    if (next.enabled && hh->server && str_eq(next.listen, hh->cur.listen)) {
        /* Same address: try the new settings on a scratch listener first
         * (a certificate GnuTLS refuses fails here, with the old server
         * untouched), then move the socket over. */
        struct http_server *probe = server_for(hh, &next, "127.0.0.1:0", -1, err, sizeof(err));
        int fd = probe ? http_quiesce(hh->server) : -1;
        http_stop(probe);
        if (fd >= 0) {
            hh->next_server = server_for(hh, &next, next.listen, fd, err, sizeof(err));
            if (!hh->next_server) {
                /* bring the old one back on the same socket */
                struct http_server *back =
                    server_for(hh, &hh->cur, hh->cur.listen, fd, NULL, 0);
                http_stop(hh->server);
                hh->server = back;
            }
        } else if (probe) {
            snprintf(err, sizeof(err), "listen %s: cannot hand the socket over", next.listen);
        }
    } else if (next.enabled) {
        /* A new address is bound before the old one closes. */
        hh->next_server = server_for(hh, &next, next.listen, -1, err, sizeof(err));
    }
    if (next.enabled && !hh->next_server) {
        errors_add(errs, "%s: host.http: %s", manifest, err);
        settings_free(&next);
        return -EADDRNOTAVAIL;
    }
    hh->next = next;
    hh->pending = true;
    return 0;
}

static void stop_retired(void *arg)
{
    http_stop(arg);
}

void http_host_commit(struct http_host *hh)
{
    MAIN_THREAD_ONLY();
    if (!hh || !hh->pending)
        return;
    /* The old server answers the reload's own request first. */
    if (hh->server)
        mainloop_queue(stop_retired, hh->server);
    hh->server = hh->next_server;
    settings_free(&hh->cur);
    hh->cur = hh->next;
    memset(&hh->next, 0, sizeof(hh->next));
    hh->next_server = NULL;
    hh->pending = false;
    announce(hh);
}

int http_host_port(const struct http_host *hh)
{
    return hh && hh->server ? http_port(hh->server) : 0;
}

void http_host_stop(struct http_host *hh)
{
    if (!hh)
        return;
    http_stop(hh->next_server);
    http_stop(hh->server);
    settings_free(&hh->next);
    settings_free(&hh->cur);
    free(hh);
}
