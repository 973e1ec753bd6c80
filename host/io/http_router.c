/*
 * http_router — the pure half of the HTTP layer: requests and responses,
 * negotiation, the gate, the route table. See http_router.h.
 *
 * The router keeps a SHA-256 digest of the bearer token, not the token,
 * and compares digests without a data-dependent branch (the gate). The
 * route table is copied at http_router_new and read-only afterwards, so
 * any number of threads may route at once.
 */
#include "io/http_router.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/http_deferred.h"
#include "io/http_share.h"
#include "lib/sha256.h"

#define REALM "Bearer realm=\"jobhost\""

struct route {
    char *method;
    char *path;
    size_t path_len;
    /* A pattern ("/api/v1/jobs/{id}/run"): the parameter segment is
     * path[pre_len .. path_len - post_len), the text around it literal.
     * pattern is false for a literal exact path and for a prefix. */
    bool pattern;
    size_t pre_len, post_len;
    enum http_match match;
    http_handler_fn fn;
    void *arg;
    unsigned flags;
};

struct http_router {
    struct route *routes; /* immutable after http_router_new */
    size_t n;
    bool read_only;                 /* only GET and HEAD */
    bool has_token;                 /* cfg->token was set */
    unsigned char token_digest[32]; /* SHA-256 of the token */
    size_t token_len;
    http_metrics_fn metrics_fn;
    void *metrics_arg;
    /* The rendering scrapes may join, by format and gzip (http_share.h). */
    struct http_share *metrics_shares[2][2];
    http_ready_fn ready_fn;
    void *ready_arg;
};

/* --- responses ------------------------------------------------------------ */

void http_response_init(struct http_response *resp)
{
    resp->status = 200;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = (struct buf){0};
    resp->headers = (struct buf){0};
    resp->stream = (struct http_stream){0};
    resp->deferred = NULL;
    resp->gzip = false;
}

void http_response_free(struct http_response *resp)
{
    buf_free(&resp->body);
    buf_free(&resp->headers);
    http_stream_free(&resp->stream);
    http_deferred_release(resp->deferred);
    resp->deferred = NULL;
}

void http_response_stream(struct http_response *resp, struct http_stream *s)
{
    http_stream_free(&resp->stream);
    buf_free(&resp->body);
    resp->stream = *s;
    *s = (struct http_stream){0};
}

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_response_header(struct http_response *resp, const char *name, const char *value)
{
    if (!*name)
        return -EINVAL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!is_tchar(*p))
            return -EINVAL;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p == '\r' || *p == '\n' || (*p < 0x20 && *p != '\t') || *p == 0x7f)
            return -EINVAL;
    /* Stored as "name\0value\0" pairs. */
    buf_append(&resp->headers, name, strlen(name) + 1);
    buf_append(&resp->headers, value, strlen(value) + 1);
    return 0;
}

const char *http_response_header_at(const struct http_response *resp, size_t i, const char **name)
{
    const char *p = resp->headers.data, *end;

    if (!p) /* no header yet (and NULL + 0 is undefined) */
        return NULL;
    end = p + resp->headers.len;
    while (p < end) {
        const char *n = p;
        const char *v = n + strlen(n) + 1;
        if (i-- == 0) {
            *name = n;
            return v;
        }
        p = v + strlen(v) + 1;
    }
    return NULL;
}

const char *http_response_get_header(const struct http_response *resp, const char *name)
{
    const char *n, *v;
    for (size_t i = 0; (v = http_response_header_at(resp, i, &n)); i++)
        if (strcasecmp(n, name) == 0)
            return v;
    return NULL;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *http_request_arg(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_args; i++)
        if (req->args[i].name && strcmp(req->args[i].name, name) == 0)
            return req->args[i].value;
    return NULL;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

ssize_t http_decode_segment(const char *s, size_t len, char *out, size_t outlen)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h = i + 2 < len ? hex_digit((unsigned char)s[i + 1]) : -1;
            int l = h >= 0 ? hex_digit((unsigned char)s[i + 2]) : -1;
            if (l < 0)
                return -EINVAL;
            c = h * 16 + l;
            i += 2;
        }
        if (c == '/' || c == '\0')
            return -EINVAL;
        if (n + 1 < outlen)
            out[n] = (char)c;
        n++; /* counted on, so that a bad byte later still wins over the length */
    }
    if (n + 1 > outlen)
        return -ENAMETOOLONG;
    out[n] = '\0';
    return (ssize_t)n;
}

ssize_t http_request_param(const struct http_request *req, char *out, size_t outlen)
{
    if (!req->param)
        return -ENOENT;
    return http_decode_segment(req->param, req->param_len, out, outlen);
}

static void set_error(struct http_response *resp, int status, const char *text)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    http_stream_free(&resp->stream);
    buf_reset(&resp->body);
    buf_puts(&resp->body, text);
}

/* --- negotiation ------------------------------------------------------------ */

/* Iterates the elements of a comma-separated header value: for each one,
 * the leading token (media range or coding, trimmed, lower-cased into
 * `token`), its q (default 1) and its version parameter if any. */
struct hdr_elem {
    char token[96];
    char version[32];
    double q;
};

static const char *next_elem(const char *p, struct hdr_elem *e)
{
    size_t n;

    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (!*p)
        return NULL;
    e->q = 1;
    e->version[0] = '\0';
    n = 0;
    while (*p && *p != ',' && *p != ';') {
        if (*p != ' ' && *p != '\t' && n + 1 < sizeof e->token)
            e->token[n++] = (char)tolower((unsigned char)*p);
        p++;
    }
    e->token[n] = '\0';
    while (*p == ';') {
        char key[16], val[32];
        size_t kn = 0, vn = 0;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        while (*p && *p != '=' && *p != ';' && *p != ',') {
            if (*p != ' ' && *p != '\t' && kn + 1 < sizeof key)
                key[kn++] = (char)tolower((unsigned char)*p);
            p++;
        }
        key[kn] = '\0';
        if (*p == '=') {
            p++;
            while (*p && *p != ';' && *p != ',') {
                if (*p != ' ' && *p != '\t' && *p != '"' && vn + 1 < sizeof val)
                    val[vn++] = *p;
                p++;
            }
        }
        val[vn] = '\0';
        if (strcmp(key, "q") == 0) {
            char *end;
            double q = strtod(val, &end);
            e->q = (end == val || q < 0) ? 0 : (q > 1 ? 1 : q);
        } else if (strcmp(key, "version") == 0) {
            memcpy(e->version, val, vn + 1);
        }
    }
    return p;
}

enum metrics_format http_negotiate_format(const char *accept)
{
    struct hdr_elem e;
    double q_om = 0, q_text = 0;

    if (!accept)
        return METRICS_TEXT_004;
    for (const char *p = accept; (p = next_elem(p, &e));) {
        if (strcmp(e.token, "application/openmetrics-text") == 0) {
            if (!e.version[0] || strcmp(e.version, "1.0.0") == 0 ||
                strcmp(e.version, "0.0.1") == 0)
                q_om = e.q > q_om ? e.q : q_om;
        } else if (strcmp(e.token, "text/plain") == 0 || strcmp(e.token, "text/*") == 0 ||
                   strcmp(e.token, "*/*") == 0) {
            q_text = e.q > q_text ? e.q : q_text;
        }
    }
    return q_om > 0 && q_om >= q_text ? METRICS_OPENMETRICS_100 : METRICS_TEXT_004;
}

bool http_accepts_gzip(const char *accept_encoding)
{
    struct hdr_elem e;
    double q_gzip = -1, q_any = -1;

    if (!accept_encoding)
        return false;
    for (const char *p = accept_encoding; (p = next_elem(p, &e));) {
        if (strcmp(e.token, "gzip") == 0 || strcmp(e.token, "x-gzip") == 0)
            q_gzip = e.q > q_gzip ? e.q : q_gzip;
        else if (strcmp(e.token, "*") == 0)
            q_any = e.q > q_any ? e.q : q_any;
    }
    return q_gzip >= 0 ? q_gzip > 0 : q_any > 0;
}

/* --- built-in handlers ------------------------------------------------------- */

/* Bytes of a rendering kept for scrapes that come while it runs: a whole
 * gzipped exposition of a million jobs fits (Prometheus asks for gzip); of
 * a plain one, its start. */
#define METRICS_SHARE_WINDOW_GZIP (64u << 20)
#define METRICS_SHARE_WINDOW_PLAIN (16u << 20)

struct metrics_source {
    const struct http_router *r;
    enum metrics_format f;
    bool gzip;
};

static int make_rendering(void *arg, struct http_stream *out)
{
    const struct metrics_source *src = arg;
    int rc = src->r->metrics_fn(src->r->metrics_arg, src->f, out);

    if (rc < 0) {
        http_stream_free(out); /* in case it made one before failing */
        return rc;
    }
    if (!out->next)
        http_stream_from_buf(out, &(struct buf){0}, 0);
    if (src->gzip && http_stream_gzip(out) < 0) {
        http_stream_free(out);
        return -ENOMEM;
    }
    return 0;
}

static void h_metrics(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct http_router *r = arg;
    enum metrics_format f = http_negotiate_format(http_request_header(req, "Accept"));
    struct metrics_source src = {r, f, resp->gzip};
    struct http_stream body;

    /* Concurrent scrapes share one rendering, gzipped once. */
    int rc = http_share_start(&r->metrics_shares[f == METRICS_OPENMETRICS_100][resp->gzip],
                              resp->gzip ? METRICS_SHARE_WINDOW_GZIP : METRICS_SHARE_WINDOW_PLAIN,
                              make_rendering, &src, &body);
    if (rc < 0) {
        set_error(resp, 500, "");
        buf_printf(&resp->body, "error rendering metrics: %s\n", strerror(-rc));
        return;
    }
    http_response_stream(resp, &body);
    if (resp->gzip) {
        (void)http_response_header(resp, "Content-Encoding", "gzip"); /* a valid header */
        resp->gzip = false; /* compressed already */
    }
    resp->content_type = metrics_content_type(f);
    /* The representation depends on both headers. */
    http_response_header(resp, "Vary", "Accept-Encoding, Accept");
}

static void h_healthy(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    (void)req;
    buf_puts(&resp->body, "jobhost is Healthy.\n");
}

static void h_ready(void *arg, const struct http_request *req, struct http_response *resp)
{
    const struct http_router *r = arg;
    (void)req;
    if (r->ready_fn && !r->ready_fn(r->ready_arg)) {
        resp->status = 503;
        buf_puts(&resp->body, "jobhost is not ready.\n");
        return;
    }
    buf_puts(&resp->body, "jobhost is Ready.\n");
}

/* --- the gate: methods and the bearer token -------------------------------- */

static void digest(const char *p, size_t len, unsigned char out[32])
{
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, p, len);
    sha256_final(&h, out);
}

/* The comparison proper: every byte of both digests, OR-ed differences, no
 * branch on the data; different lengths count as a difference the same way. */
static bool digests_equal(const unsigned char a[32], size_t a_len, const unsigned char b[32],
                          size_t b_len)
{
    size_t diff = a_len ^ b_len;
    unsigned acc = 0;

    for (size_t i = 0; i < 32; i++)
        acc |= (unsigned)(a[i] ^ b[i]);
    /* (diff | -diff) has its top bit set exactly when diff != 0 */
    acc |= (unsigned)((diff | (0 - diff)) >> (sizeof diff * CHAR_BIT - 1));
    return acc == 0;
}

bool http_token_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    unsigned char da[32], db[32];

    digest(a, a_len, da);
    digest(b, b_len, db);
    return digests_equal(da, a_len, db, b_len);
}

/* The methods of RFC 9110 and PATCH: others get 501 Not Implemented. */
static bool method_known(const char *m)
{
    static const char *const known[] = {"GET",   "HEAD",    "POST",  "PUT",    "DELETE",
                                        "PATCH", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

/* The credentials of "Bearer <token>" (scheme case-insensitive, blanks
 * around the token ignored), or NULL when `auth` is anything else. */
static const char *bearer_credentials(const char *auth, size_t *len)
{
    const char *p, *end;

    if (!auth || strncasecmp(auth, "Bearer", 6) != 0 || (auth[6] != ' ' && auth[6] != '\t'))
        return NULL;
    p = auth + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == p)
        return NULL;
    *len = (size_t)(end - p);
    return p;
}

/* The token and read-only part of the gate, for a request whose route
 * takes its method: true when it answered (403, 401). */
static bool check_auth(const struct http_router *r, const struct http_request *req,
                       struct http_response *resp)
{
    const char *method = req->method ? req->method : "";
    const char *cred;
    size_t len = 0;

    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return false;
    if (r->read_only) {
        set_error(resp, 403,
                  "403 forbidden: this listener is reachable from other hosts and has no token, "
                  "so only GET and HEAD are served (set host.http.token_file, or "
                  "host.http.allow_unauthenticated: true)\n");
        return true;
    }
    if (!r->has_token)
        return false;
    cred = bearer_credentials(http_request_header(req, "Authorization"), &len);
    if (cred) {
        unsigned char d[32];
        digest(cred, len, d);
        if (digests_equal(d, len, r->token_digest, r->token_len) && r->token_len > 0)
            return false;
    }
    set_error(resp, 401,
              cred ? "401 unauthorized: invalid bearer token\n"
                   : "401 unauthorized: bearer token required\n");
    http_response_header(resp, "WWW-Authenticate", REALM);
    return true;
}

/* --- router ------------------------------------------------------------------ */

/* Finds the parameter of an exact route: the first segment that is exactly
 * "{name}" (a brace anywhere else is literal). */
static void find_pattern(struct route *d)
{
    for (const char *p = strchr(d->path, '/'); p; p = strchr(p + 1, '/')) {
        const char *seg = p + 1, *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n >= 3 && seg[0] == '{' && seg[n - 1] == '}' && !memchr(seg + 1, '{', n - 2) &&
            !memchr(seg + 1, '}', n - 2)) {
            d->pattern = true;
            d->pre_len = (size_t)(seg - d->path);
            d->post_len = d->path_len - d->pre_len - n;
            return;
        }
    }
}

static void route_add(struct http_router *r, const struct http_route *src, void *arg)
{
    struct route *d = &r->routes[r->n++];
    d->method = xstrdup(src->method);
    d->path = xstrdup(src->path);
    d->path_len = strlen(src->path);
    d->match = src->match;
    d->fn = src->fn;
    d->arg = arg;
    d->flags = src->flags;
    if (d->match == HTTP_MATCH_EXACT)
        find_pattern(d);
}

struct http_router *http_router_new(const struct http_router_config *cfg)
{
    struct http_router *r = xcalloc(1, sizeof *r);
    size_t n_user = cfg->routes ? cfg->n_routes : 0;

    r->routes = xcalloc(n_user + 3, sizeof *r->routes);
    r->metrics_fn = cfg->metrics_fn;
    r->metrics_arg = cfg->metrics_arg;
    r->ready_fn = cfg->ready_fn;
    r->ready_arg = cfg->ready_arg;
    r->read_only = cfg->read_only;
    if (cfg->token) {
        r->has_token = true;
        r->token_len = strlen(cfg->token);
        digest(cfg->token, r->token_len, r->token_digest);
    }
    for (size_t i = 0; i < n_user; i++)
        route_add(r, &cfg->routes[i], cfg->routes[i].arg);
    if (cfg->metrics_fn)
        route_add(r,
                  &(struct http_route){"GET", "/metrics", HTTP_MATCH_EXACT, h_metrics, NULL,
                                       HTTP_ROUTE_GZIP},
                  r);
    route_add(r, &(struct http_route){"GET", "/-/healthy", HTTP_MATCH_EXACT, h_healthy, NULL, 0},
              r);
    route_add(r, &(struct http_route){"GET", "/-/ready", HTTP_MATCH_EXACT, h_ready, NULL, 0}, r);
    return r;
}

void http_router_free(struct http_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 2; j++)
            http_share_forget(&r->metrics_shares[i][j]);
    }
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].method);
        free(r->routes[i].path);
    }
    free(r->routes);
    free(r);
}

/* How specifically `rt` matches `path` (of `len` bytes): a literal exact
 * path beats any pattern, a pattern with more literal text beats one with
 * less, any pattern beats any prefix, a longer prefix a shorter one; 0 when
 * it does not match. For a pattern, *param and *param_len get the segment. */
static size_t route_score(const struct route *rt, const char *path, size_t len,
                          const char **param, size_t *param_len)
{
    if (rt->match == HTTP_MATCH_PREFIX)
        return len >= rt->path_len && memcmp(rt->path, path, rt->path_len) == 0
                   ? rt->path_len + 1
                   : 0;
    if (!rt->pattern)
        return len == rt->path_len && memcmp(rt->path, path, len) == 0 ? SIZE_MAX : 0;
    size_t lit = rt->pre_len + rt->post_len;
    if (len <= lit || memcmp(rt->path, path, rt->pre_len) != 0 ||
        memcmp(rt->path + rt->path_len - rt->post_len, path + len - rt->post_len,
               rt->post_len) != 0 ||
        memchr(path + rt->pre_len, '/', len - lit))
        return 0;
    *param = path + rt->pre_len;
    *param_len = len - lit;
    /* above every prefix score (a prefix is no longer than the path) */
    return SIZE_MAX / 2 + lit;
}

static bool method_ok(const struct route *rt, const char *method)
{
    return strcmp(rt->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

/* Appends `m` to a ", "-separated list unless it is there already. */
static void allow_add(struct buf *allow, const char *m)
{
    size_t n = strlen(m);
    for (const char *p = allow->data; p && *p;) {
        const char *end = strstr(p, ", ");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, m, n) == 0)
            return;
        p = end ? end + 2 : p + len;
    }
    if (allow->len)
        buf_append(allow, ", ", 2);
    buf_append(allow, m, n);
}

/* gzip for a gzip route whose client accepts it: a 200's stream piece by
 * piece, or its buffer when it is not empty. Left as it is (correct, only
 * bigger) when zlib has no memory. */
static void compress(struct http_response *resp)
{
    if (resp->status != 200)
        return;
    if (resp->stream.next) {
        if (http_stream_gzip(&resp->stream) < 0)
            return;
    } else {
        struct buf z = {0};
        if (resp->body.len == 0)
            return;
        if (http_gzip(resp->body.data, resp->body.len, &z) < 0) {
            buf_free(&z);
            return;
        }
        buf_free(&resp->body);
        resp->body = z;
    }
    (void)http_response_header(resp, "Content-Encoding", "gzip"); /* a valid header */
}

/* The route for req (the most specific one with the path and the method),
 * with routed->param set; or NULL with the answer in resp: 404 when no
 * route has the path, 405 with Allow when none of those takes the method. */
static const struct route *lookup(const struct http_router *r, const struct http_request *req,
                                  struct http_request *routed, struct http_response *resp)
{
    const struct route *best = NULL;
    size_t best_score = 0;
    bool path_known = false;
    const char *path = req->path ? req->path : "";
    const char *method = req->method ? req->method : "";
    size_t path_len = strlen(path);

    routed->param = NULL;
    routed->param_len = 0;
    for (size_t i = 0; i < r->n; i++) {
        const char *param = NULL;
        size_t param_len = 0;
        size_t score = route_score(&r->routes[i], path, path_len, &param, &param_len);
        if (!score)
            continue;
        path_known = true;
        if (score > best_score && method_ok(&r->routes[i], method)) {
            best = &r->routes[i];
            best_score = score;
            routed->param = param;
            routed->param_len = param_len;
        }
    }
    if (!path_known) {
        set_error(resp, 404, "404 page not found\n");
        return NULL;
    }
    if (!best) {
        struct buf allow = {0};
        for (size_t i = 0; i < r->n; i++) {
            const char *param;
            size_t param_len;
            if (!route_score(&r->routes[i], path, path_len, &param, &param_len))
                continue;
            allow_add(&allow, r->routes[i].method);
            if (strcmp(r->routes[i].method, "GET") == 0)
                allow_add(&allow, "HEAD");
        }
        set_error(resp, 405, "405 method not allowed\n");
        http_response_header(resp, "Allow", allow.data);
        buf_free(&allow);
    }
    return best;
}

/* 501, then 404 / 405, then 403 / 401: which methods a path takes is no
 * secret (a GET learns as much), so a wrong method is a 405 with Allow
 * whether or not the request carries the token. */
static const struct route *gate(const struct http_router *r, const struct http_request *req,
                                struct http_request *routed, struct http_response *resp)
{
    const struct route *best;

    if (!method_known(req->method ? req->method : "")) {
        set_error(resp, 501, "501 method not implemented\n");
        return NULL;
    }
    best = lookup(r, req, routed, resp);
    if (best && check_auth(r, req, resp))
        return NULL;
    return best;
}

bool http_check_gate(const struct http_router *r, const struct http_request *req,
                     struct http_response *resp)
{
    struct http_request routed = *req;
    return gate(r, req, &routed, resp) == NULL;
}

void http_route(const struct http_router *r, const struct http_request *req,
                struct http_response *resp)
{
    const struct route *best;
    struct http_request routed = *req; /* what the handler sees: param set */

    http_response_init(resp);
    best = gate(r, req, &routed, resp);
    if (!best)
        return;
    resp->gzip = (best->flags & HTTP_ROUTE_GZIP) &&
                 http_accepts_gzip(http_request_header(req, "Accept-Encoding"));
    best->fn(best->arg, &routed, resp);

    if (best->flags & HTTP_ROUTE_GZIP) {
        if (!http_response_get_header(resp, "Vary"))
            (void)http_response_header(resp, "Vary", "Accept-Encoding"); /* valid */
        if (resp->gzip && !resp->deferred) /* a deferred answer: when it comes */
            compress(resp);
    }
}
