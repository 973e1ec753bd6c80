/*
 * fuzz_http — the pure router of host/io/http_router.h, its string helpers
 * and the listen-address helpers of http_server.h.
 *
 * Input layout: byte 0 holds switches (bit 0: the router has a bearer token;
 * bit 1: the metrics callback fails; bit 2: not ready; bit 3: the metrics
 * stream fails after one piece; the high nibble also sets the size of the
 * metrics stream's pieces), then text split like an HTTP/1 request:
 *
 *     METHOD SP PATH[?QUERY] LF (NAME ":" VALUE LF)* LF BODY
 *
 * Two routers (with and without a token) are built once with a dummy
 * metrics callback and a handful of extra routes, exact, "{id}" patterns
 * and prefix, one replacing a built-in path, some gzipped. Paths are fed
 * raw, as the server hands them over ("%2F", "%00" and all). For each
 * input http_route must give what the contract in http_router.h says, as
 * worked out here independently: 501 for an unknown method, 404 for an
 * unknown path, 405 with the exact Allow set, 401 (+ WWW-Authenticate) for
 * a non-GET/HEAD the route takes without the right "Bearer" token, or the most
 * specific route's handler (with the pattern's segment as its parameter,
 * worked out segment by segment), and nothing else. http_decode_segment is
 * checked against a decoder written here, on the path and its segments.
 * Also: response headers are well-formed (a handler cannot split the
 * response: http_response_header accepts a header exactly when it is a
 * token and a value without CR, LF or other controls); a gzipped body
 * inflates to what the handler wrote, with Vary and Content-Encoding set;
 * a streamed body (the metrics route; /status/ with ?stream) drains to
 * what the handler meant, gzipped piece by piece, and a stream's error
 * comes through gzip; a deferred answer (POST /defer, answered inside the
 * handler) is taken as the server would and gzipped like any other; HEAD
 * answers as GET; routing twice gives the same.
 * The header values and the path also go through http_negotiate_format,
 * http_accepts_gzip, listen_parse (lib/listen.h, the parser the server
 * binds with), http_listen_is_loopback and http_token_equal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <strings.h>
#include <zlib.h>

#include "fuzz_common.h"
#include "io/http_deferred.h"
#include "io/http_server.h"
#include "lib/listen.h"

#define TOKEN "s3cret-T0ken"
#define MAX_HEADERS 16
#define MAX_ARGS 8

/* What the last handler did; single-threaded, reset before each route. */
static int g_ran;             /* id of the handler that ran, -1 none */
static struct buf g_written;  /* the body it wrote, before any gzip */
static struct buf g_param;    /* the raw parameter a pattern handler got */
static bool g_metrics_fail, g_not_ready, g_stream_fail;
static size_t g_piece; /* bytes per piece of the metrics stream */

static struct http_router *g_router[2]; /* [0] no token, [1] with TOKEN */

/* ---- handlers ------------------------------------------------------------------ */

static void note(int id, struct http_response *resp)
{
    g_ran = id;
    buf_reset(&g_written);
    buf_append(&g_written, resp->body.data ? resp->body.data : "", resp->body.len);
}

static bool header_ok(const char *name, const char *value)
{
    if (!*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!isalnum(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return false;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* Adds the header a request asks for (X-Name / X-Value), checking the verdict. */
static void try_header(const struct http_request *req, struct http_response *resp)
{
    const char *name = http_request_header(req, "X-Name");
    const char *value = http_request_header(req, "X-Value");

    if (!name || !value)
        return;
    int rc = http_response_header(resp, name, value);
    FUZZ_CHECK(rc == (header_ok(name, value) ? 0 : -EINVAL),
               "http_response_header(\"%s\", \"%s\") = %d", name, value, rc);
    if (rc == 0)
        FUZZ_CHECK(http_response_get_header(resp, name) != NULL, "header \"%s\" not found", name);
}

static void h_reload(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    (void)req;
    buf_puts(&resp->body, "reloaded\n");
    note(0, resp);
}

static void h_jobs(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    (void)req;
    resp->content_type = "application/json";
    buf_puts(&resp->body, "[{\"id\":\"heartbeat\"}]\n");
    note(1, resp);
}

static void h_job(void *arg, const struct http_request *req, struct http_response *resp)
{
    const char *fmt = http_request_arg(req, "format");
    (void)arg;
    buf_printf(&resp->body, "job %s format %s\n", req->path, fmt ? fmt : "-");
    try_header(req, resp);
    note(2, resp);
}

static void h_echo_body(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    if (req->body_len)
        buf_append(&resp->body, req->body, req->body_len);
    try_header(req, resp);
    note((int)(intptr_t)arg, resp);
}

/* Answers ?status=N (default 200) with ?body=TEXT (default none). */
static void h_status(void *arg, const struct http_request *req, struct http_response *resp)
{
    const char *s = http_request_arg(req, "status"), *b = http_request_arg(req, "body");
    long v = s ? strtol(s, NULL, 10) : 200;
    (void)arg;
    resp->status = v >= 100 && v <= 599 ? (int)v : 500;
    if (b)
        buf_puts(&resp->body, b);
    note(5, resp);
    if (http_request_arg(req, "stream")) { /* the same body, 3 bytes a piece */
        struct http_stream st;
        struct buf copy = resp->body;
        resp->body = (struct buf){0};
        http_stream_from_buf(&st, &copy, 3);
        http_response_stream(resp, &st);
    }
}

static void h_put_healthy(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    (void)req;
    buf_puts(&resp->body, "put healthy\n");
    note(6, resp);
}

/* A route that may be a pattern: checks the parameter against the path it
 * came from and decodes it (the decoder is checked in check_segment). */
static void h_pattern(void *arg, const struct http_request *req, struct http_response *resp)
{
    char id[32];
    FUZZ_CHECK(!req->param || (req->param >= req->path &&
                               req->param + req->param_len <= req->path + strlen(req->path)),
               "parameter outside the path %s", req->path);
    buf_reset(&g_param);
    if (req->param)
        buf_append(&g_param, req->param, req->param_len);
    ssize_t n = http_request_param(req, id, sizeof(id));
    buf_printf(&resp->body, "%s %zd\n", (const char *)"param", n);
    note((int)(intptr_t)arg, resp);
}

/* POST /defer: deferred, and answered before the handler returns with the
 * request's body and ?status (the server's side is played in
 * route_and_check). */
static void h_defer(void *arg, const struct http_request *req, struct http_response *resp)
{
    const char *st = http_request_arg(req, "status");
    long v = st ? strtol(st, NULL, 10) : 200;
    struct buf body = {0};
    (void)arg;
    try_header(req, resp);
    struct http_deferred *d = http_defer(resp);
    if (req->body_len)
        buf_append(&body, req->body, req->body_len);
    buf_reset(&g_written);
    buf_append(&g_written, body.data ? body.data : "", body.len);
    g_ran = 14;
    FUZZ_CHECK(http_deferred_answer(d, v >= 100 && v <= 599 ? (int)v : 500, NULL, &body) == 0,
               "deferred answer refused");
}

/* The metrics stream, written here (not http_stream_from_buf): g_piece
 * bytes of its text a piece, -EIO on the second when g_stream_fail. */
struct text_stream {
    struct buf text;
    size_t off;
    int pieces;
};

static int text_next(void *state, struct buf *out)
{
    struct text_stream *ts = state;
    size_t n = ts->text.len - ts->off;

    if (g_stream_fail && ++ts->pieces == 2) /* the text is longer than a piece */
        return -EIO;
    if (n > g_piece)
        n = g_piece;
    buf_append(out, ts->text.data + ts->off, n);
    ts->off += n;
    return ts->off < ts->text.len ? 1 : 0;
}

static int g_text_frees; /* text streams freed, to check each is freed once */

static void text_free(void *state)
{
    struct text_stream *ts = state;
    buf_free(&ts->text);
    free(ts);
    g_text_frees++;
}

static int metrics_fn(void *arg, enum metrics_format f, struct http_stream *out)
{
    struct text_stream *ts;
    (void)arg;
    if (g_metrics_fail)
        return -EIO;
    ts = calloc(1, sizeof(*ts));
    buf_printf(&ts->text, "# TYPE jobhost_up gauge\njobhost_up %d\n", (int)f);
    for (int i = 0; i < 50; i++)
        buf_printf(&ts->text, "jobhost_job_runs_total{job_id=\"j%d\",result=\"success\"} %d\n",
                   i, i);
    if (f == METRICS_OPENMETRICS_100)
        buf_puts(&ts->text, "# EOF\n");
    g_ran = 100;
    buf_reset(&g_written);
    buf_append(&g_written, ts->text.data, ts->text.len);
    *out = (struct http_stream){text_next, text_free, ts};
    return 0;
}

static bool ready_fn(void *arg)
{
    (void)arg;
    return !g_not_ready;
}

static const struct http_route routes[] = {
    {"POST", "/-/reload", HTTP_MATCH_EXACT, h_reload, NULL, 0},
    {"GET", "/api/v1/jobs", HTTP_MATCH_EXACT, h_jobs, NULL, HTTP_ROUTE_GZIP},
    {"GET", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_job, NULL, 0},
    {"POST", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_echo_body, (void *)3, HTTP_ROUTE_GZIP},
    {"DELETE", "/api/v1/jobs/x", HTTP_MATCH_EXACT, h_echo_body, (void *)4, 0},
    {"GET", "/status/", HTTP_MATCH_PREFIX, h_status, NULL, HTTP_ROUTE_GZIP},
    {"PUT", "/-/healthy", HTTP_MATCH_EXACT, h_put_healthy, NULL, 0},
    {"PATCH", "/patch/", HTTP_MATCH_PREFIX, h_echo_body, (void *)7, 0},
    {"GET", "/api/v1/jobs/{id}", HTTP_MATCH_EXACT, h_pattern, (void *)8, 0},
    {"POST", "/api/v1/jobs/{id}/run", HTTP_MATCH_EXACT, h_pattern, (void *)9, HTTP_ROUTE_GZIP},
    {"POST", "/api/v1/jobs/{id}/pause", HTTP_MATCH_EXACT, h_pattern, (void *)10, 0},
    {"GET", "/api/v1/jobs/stats", HTTP_MATCH_EXACT, h_pattern, (void *)11, 0},
    {"PUT", "/p/{a}/{b}", HTTP_MATCH_EXACT, h_pattern, (void *)12, 0},
    {"GET", "/q/x{y}", HTTP_MATCH_EXACT, h_pattern, (void *)13, 0},
    {"POST", "/defer", HTTP_MATCH_EXACT, h_defer, NULL, HTTP_ROUTE_GZIP},
};

/* The whole table as the router sees it: ours, then the built-ins. */
struct ref_route {
    const char *method, *path;
    enum http_match match;
    int id; /* handler id: ours as above, 100 metrics, 101 healthy, 102 ready */
    bool gzip;
};
static const struct ref_route ref_routes[] = {
    {"POST", "/-/reload", HTTP_MATCH_EXACT, 0, false},
    {"GET", "/api/v1/jobs", HTTP_MATCH_EXACT, 1, true},
    {"GET", "/api/v1/jobs/", HTTP_MATCH_PREFIX, 2, false},
    {"POST", "/api/v1/jobs/", HTTP_MATCH_PREFIX, 3, true},
    {"DELETE", "/api/v1/jobs/x", HTTP_MATCH_EXACT, 4, false},
    {"GET", "/status/", HTTP_MATCH_PREFIX, 5, true},
    {"PUT", "/-/healthy", HTTP_MATCH_EXACT, 6, false},
    {"PATCH", "/patch/", HTTP_MATCH_PREFIX, 7, false},
    {"GET", "/api/v1/jobs/{id}", HTTP_MATCH_EXACT, 8, false},
    {"POST", "/api/v1/jobs/{id}/run", HTTP_MATCH_EXACT, 9, true},
    {"POST", "/api/v1/jobs/{id}/pause", HTTP_MATCH_EXACT, 10, false},
    {"GET", "/api/v1/jobs/stats", HTTP_MATCH_EXACT, 11, false},
    {"PUT", "/p/{a}/{b}", HTTP_MATCH_EXACT, 12, false},
    {"GET", "/q/x{y}", HTTP_MATCH_EXACT, 13, false},
    {"POST", "/defer", HTTP_MATCH_EXACT, 14, true},
    {"GET", "/metrics", HTTP_MATCH_EXACT, 100, true},
    {"GET", "/-/healthy", HTTP_MATCH_EXACT, 101, false},
    {"GET", "/-/ready", HTTP_MATCH_EXACT, 102, false},
};
#define N_REF (sizeof(ref_routes) / sizeof(ref_routes[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct http_router_config cfg = {
        .metrics_fn = metrics_fn,
        .ready_fn = ready_fn,
        .routes = routes,
        .n_routes = sizeof(routes) / sizeof(routes[0]),
    };
    (void)argc;
    (void)argv;
    g_router[0] = http_router_new(&cfg);
    cfg.token = TOKEN;
    g_router[1] = http_router_new(&cfg);
    return 0;
}

/* ---- the reference ----------------------------------------------------------------- */

/* The n-th '/'-separated segment of s (the one before the first '/' is
 * number 0) as [*seg, *seg + *len); false when s has fewer. */
static bool segment(const char *s, size_t n, const char **seg, size_t *len)
{
    for (; n > 0; n--) {
        s = strchr(s, '/');
        if (!s)
            return false;
        s++;
    }
    *seg = s;
    *len = strcspn(s, "/");
    return true;
}

static size_t count_segments(const char *s)
{
    size_t n = 1;
    for (; (s = strchr(s, '/')); s++)
        n++;
    return n;
}

static bool is_param(const char *seg, size_t len)
{
    return len >= 3 && seg[0] == '{' && seg[len - 1] == '}' && !memchr(seg + 1, '{', len - 2) &&
           !memchr(seg + 1, '}', len - 2);
}

/* How specific a match is, compared as (kind, length): a literal exact path
 * (3), a pattern (2, by its literal text), a prefix (1, by its length); kind
 * 0 when the route does not have the path. Worked out segment by segment,
 * unlike the router's text comparison. *param gets a pattern's segment. */
struct ref_score {
    int kind;
    size_t len;
};

static struct ref_score ref_score(const struct ref_route *rt, const char *path, const char **param,
                                  size_t *param_len)
{
    struct ref_score none = {0, 0};
    if (rt->match == HTTP_MATCH_PREFIX)
        return strncmp(rt->path, path, strlen(rt->path)) == 0
                   ? (struct ref_score){1, strlen(rt->path)}
                   : none;
    size_t n = count_segments(rt->path), at = SIZE_MAX;
    const char *rs, *ps;
    size_t rl, pl;
    for (size_t i = 0; i < n && at == SIZE_MAX; i++)
        if (segment(rt->path, i, &rs, &rl) && is_param(rs, rl))
            at = i;
    if (at == SIZE_MAX)
        return strcmp(rt->path, path) == 0 ? (struct ref_score){3, 0} : none;
    if (count_segments(path) != n)
        return none;
    for (size_t i = 0; i < n; i++) {
        segment(rt->path, i, &rs, &rl);
        segment(path, i, &ps, &pl);
        if (i == at) {
            if (pl == 0)
                return none;
            *param = ps;
            *param_len = pl;
            continue;
        }
        if (rl != pl || memcmp(rs, ps, rl) != 0)
            return none;
    }
    segment(rt->path, at, &rs, &rl);
    return (struct ref_score){2, strlen(rt->path) - rl};
}

static bool ref_better(struct ref_score a, struct ref_score b)
{
    return a.kind > b.kind || (a.kind == b.kind && a.len > b.len);
}

static bool ref_method_ok(const struct ref_route *rt, const char *m)
{
    return strcmp(rt->method, m) == 0 || (strcmp(m, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
}

static bool ref_known_method(const char *m)
{
    static const char *const known[] = {"GET",   "HEAD",    "POST",  "PUT",    "DELETE",
                                        "PATCH", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

static bool ref_authorized(const char *auth)
{
    const char *p, *end;

    if (!auth || strncasecmp(auth, "bearer", 6) != 0 || (auth[6] != ' ' && auth[6] != '\t'))
        return false;
    for (p = auth + 6; *p == ' ' || *p == '\t'; p++)
        ;
    for (end = p + strlen(p); end > p && (end[-1] == ' ' || end[-1] == '\t'); end--)
        ;
    return (size_t)(end - p) == strlen(TOKEN) && memcmp(p, TOKEN, strlen(TOKEN)) == 0;
}

/* ---- checking one answer ------------------------------------------------------------- */

static void check_headers(const struct http_response *resp)
{
    const char *name, *value;
    size_t n = 0, bytes = 0;

    for (size_t i = 0; (value = http_response_header_at(resp, i, &name)); i++) {
        FUZZ_CHECK(header_ok(name, value), "response header \"%s: %s\"", name, value);
        bytes += strlen(name) + strlen(value) + 2;
        n++;
    }
    FUZZ_CHECK(bytes == resp->headers.len, "headers buffer %zu bytes, %zu walked in %zu headers",
               resp->headers.len, bytes, n);
    FUZZ_CHECK(resp->content_type && !strpbrk(resp->content_type, "\r\n"), "content type");
}

static void inflate_all(const struct buf *in, struct buf *out)
{
    z_stream zs;
    char chunk[4096];
    int rc;

    memset(&zs, 0, sizeof(zs));
    FUZZ_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, "inflateInit2");
    zs.next_in = (Bytef *)in->data;
    zs.avail_in = (uInt)in->len;
    do {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        FUZZ_CHECK(rc == Z_OK || rc == Z_STREAM_END, "gzip body does not inflate: %d", rc);
        buf_append(out, chunk, sizeof(chunk) - zs.avail_out);
    } while (rc != Z_STREAM_END);
    FUZZ_CHECK(zs.avail_in == 0, "bytes after the gzip stream");
    inflateEnd(&zs);
}

static bool allow_has(const char *allow, const char *m)
{
    size_t n = strlen(m);
    for (const char *p = allow; p && *p;) {
        const char *end = strstr(p, ", ");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, m, n) == 0)
            return true;
        p = end ? end + 2 : p + len;
    }
    return false;
}

static void check_allow(const char *allow, const char *path)
{
    size_t want = 0, got = 1;
    const char *seen[N_REF + 1];

    FUZZ_CHECK(allow && *allow, "405 without Allow");
    for (size_t i = 0; i < N_REF; i++) {
        const char *param;
        size_t param_len;
        if (!ref_score(&ref_routes[i], path, &param, &param_len).kind)
            continue;
        const char *ms[2] = {ref_routes[i].method, strcmp(ref_routes[i].method, "GET") ? NULL : "HEAD"};
        for (int k = 0; k < 2 && ms[k]; k++) {
            bool dup = false;
            for (size_t j = 0; j < want; j++)
                dup = dup || strcmp(seen[j], ms[k]) == 0;
            if (dup)
                continue;
            FUZZ_CHECK(allow_has(allow, ms[k]), "Allow \"%s\" lacks %s for %s", allow, ms[k], path);
            seen[want++] = ms[k];
        }
    }
    for (const char *p = allow; (p = strstr(p, ", ")); p += 2)
        got++;
    FUZZ_CHECK(got == want, "Allow \"%s\" for %s: %zu methods, want %zu", allow, path, got, want);
}

/* Routes `req` and checks the answer against the reference. The response is
 * returned for comparisons; the caller frees it. */
static void route_and_check(int tok, const struct http_request *req, struct http_response *resp,
                            struct buf *body)
{
    const char *method = req->method, *path = req->path;
    const struct ref_route *best = NULL;
    struct ref_score best_score = {0, 0};
    const char *best_param = NULL;
    size_t best_param_len = 0;
    bool path_known = false;

    g_ran = -1;
    buf_reset(&g_param);
    int frees = g_text_frees;
    http_route(g_router[tok], req, resp);
    bool deferred = resp->deferred != NULL;
    if (deferred) { /* the server's side: already answered, so no waiting */
        FUZZ_CHECK(!http_response_get_header(resp, "Content-Encoding"), "gzip before the answer");
        FUZZ_CHECK(!http_deferred_wait(resp->deferred, NULL, NULL), "answered, yet waits");
        http_deferred_take(resp->deferred, resp);
    }
    FUZZ_CHECK(deferred == (g_ran == 14), "deferred %d, handler %d", deferred, g_ran);
    check_headers(resp);
    /* the body, whole: a stream is drained (and freed) here */
    bool streamed = resp->stream.next != NULL;
    int drained = 0;
    if (streamed) {
        FUZZ_CHECK(resp->body.len == 0, "a body beside a stream");
        drained = http_stream_drain(&resp->stream, body);
        FUZZ_CHECK(!resp->stream.next, "drained stream still set");
    } else {
        buf_append(body, resp->body.data ? resp->body.data : "", resp->body.len);
    }
    FUZZ_CHECK(g_text_frees - frees == (g_ran == 100 ? 1 : 0), "metrics stream freed %d times",
               g_text_frees - frees);

    if (!ref_known_method(method)) {
        FUZZ_CHECK(resp->status == 501 && g_ran == -1, "method \"%s\": %d, handler %d", method,
                   resp->status, g_ran);
        return;
    }
    for (size_t i = 0; i < N_REF; i++) {
        const char *param = NULL;
        size_t param_len = 0;
        struct ref_score score = ref_score(&ref_routes[i], path, &param, &param_len);
        if (!score.kind)
            continue;
        path_known = true;
        if (ref_better(score, best_score) && ref_method_ok(&ref_routes[i], method)) {
            best = &ref_routes[i];
            best_score = score;
            best_param = param;
            best_param_len = param_len;
        }
    }
    if (!path_known) {
        FUZZ_CHECK(resp->status == 404 && g_ran == -1, "%s %s: %d, want 404", method, path,
                   resp->status);
        return;
    }
    if (!best) {
        FUZZ_CHECK(resp->status == 405 && g_ran == -1, "%s %s: %d, want 405", method, path,
                   resp->status);
        check_allow(http_response_get_header(resp, "Allow"), path);
        return;
    }
    /* the token only once a route takes the method */
    if (tok && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
        !ref_authorized(http_request_header(req, "Authorization"))) {
        FUZZ_CHECK(resp->status == 401 && g_ran == -1, "%s %s without the token: %d, handler %d",
                   method, path, resp->status, g_ran);
        FUZZ_CHECK(http_response_get_header(resp, "WWW-Authenticate"), "401 without WWW-Authenticate");
        return;
    }

    /* The handler that had to run did, and its body is what was sent. */
    struct buf plain = {0};
    const char *enc = http_response_get_header(resp, "Content-Encoding");
    if (best->id >= 101) {
        const char *text = best->id == 101 ? "jobhost is Healthy.\n"
                           : g_not_ready   ? "jobhost is not ready.\n"
                                           : "jobhost is Ready.\n";
        FUZZ_CHECK(g_ran == -1 && !streamed && strcmp(body->data ? body->data : "", text) == 0,
                   "%s %s: built-in %d answered \"%s\"", method, path, best->id,
                   body->data ? body->data : "");
        FUZZ_CHECK(resp->status == (best->id == 102 && g_not_ready ? 503 : 200), "status %d",
                   resp->status);
        return;
    }
    if (best->id == 100 && g_metrics_fail) {
        FUZZ_CHECK(resp->status == 500 && g_ran == -1 && !streamed, "failing metrics: %d",
                   resp->status);
        return;
    }
    FUZZ_CHECK(drained == (best->id == 100 && g_stream_fail ? -EIO : 0), "drained: %d", drained);
    FUZZ_CHECK(streamed == (best->id == 100 || (best->id == 5 && http_request_arg(req, "stream"))),
               "%s %s: streamed %d", method, path, streamed);
    FUZZ_CHECK(g_ran == best->id, "%s %s ran handler %d, want %d", method, path, g_ran, best->id);
    if (best->id >= 8 && best->id <= 13)
        FUZZ_CHECK(g_param.len == best_param_len &&
                       (best_param_len == 0 || memcmp(g_param.data, best_param, best_param_len) == 0),
                   "%s %s: parameter \"%s\", want \"%.*s\"", method, path,
                   g_param.data ? g_param.data : "", (int)best_param_len,
                   best_param ? best_param : "");
    if (best->gzip) {
        bool want_gzip = resp->status == 200 && (streamed || g_written.len > 0) &&
                         http_accepts_gzip(http_request_header(req, "Accept-Encoding"));
        FUZZ_CHECK(http_response_get_header(resp, "Vary") != NULL, "gzip route without Vary");
        FUZZ_CHECK((enc != NULL) == want_gzip, "%s %s: Content-Encoding %s, gzip expected %d",
                   method, path, enc ? enc : "(none)", want_gzip);
    } else {
        FUZZ_CHECK(enc == NULL, "%s %s: Content-Encoding on a plain route", method, path);
    }
    if (drained < 0)
        return; /* cut off: the server aborts the connection, nothing to compare */
    if (enc) {
        FUZZ_CHECK(strcmp(enc, "gzip") == 0, "Content-Encoding %s", enc);
        inflate_all(body, &plain);
    } else {
        buf_append(&plain, body->data ? body->data : "", body->len);
    }
    FUZZ_CHECK(plain.len == g_written.len && memcmp(plain.data, g_written.data, plain.len) == 0,
               "%s %s: body (%zu bytes) is not what the handler wrote (%zu bytes)", method, path,
               plain.len, g_written.len);
    buf_free(&plain);
}

static bool same_response(const struct http_response *a, const struct buf *abody,
                          const struct http_response *b, const struct buf *bbody)
{
    return a->status == b->status && abody->len == bbody->len &&
           (abody->len == 0 || memcmp(abody->data, bbody->data, abody->len) == 0) &&
           a->headers.len == b->headers.len &&
           (a->headers.len == 0 || memcmp(a->headers.data, b->headers.data, a->headers.len) == 0) &&
           strcmp(a->content_type, b->content_type) == 0;
}

/* ---- the string helpers ----------------------------------------------------------------- */

/* Whether `what` appears in s once blanks are dropped (the header parser
 * drops blanks inside a media range or coding). */
static bool contains_ci(const char *s, const char *what)
{
    char *t = malloc(strlen(s) + 1), *o = t;
    bool found;

    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            *o++ = *s;
    *o = '\0';
    found = strcasestr(t, what) != NULL;
    free(t);
    return found;
}

/* http_decode_segment against a decoder written here, into a buffer of
 * exactly outlen bytes (ASan sees a write past it). */
static void check_segment(const char *s, size_t len, size_t outlen)
{
    char *want = malloc(len + 1), *out = malloc(outlen ? outlen : 1);
    ssize_t rc = 0;
    size_t n = 0;

    for (size_t i = 0; i < len && rc == 0; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2])) {
                rc = -EINVAL;
                break;
            }
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            c = (int)strtol(hex, NULL, 16);
            i += 2;
        }
        if (c == '/' || c == 0)
            rc = -EINVAL;
        else
            want[n++] = (char)c;
    }
    if (rc == 0 && n + 1 > outlen)
        rc = -ENAMETOOLONG;
    ssize_t got = http_decode_segment(s, len, out, outlen);
    FUZZ_CHECK(got == (rc ? rc : (ssize_t)n), "decode \"%.*s\" (%zu): %zd, want %zd", (int)len, s,
               outlen, got, rc ? rc : (ssize_t)n);
    if (got >= 0)
        FUZZ_CHECK(memcmp(out, want, n) == 0 && out[n] == '\0', "decode \"%.*s\": wrong text",
                   (int)len, s);
    free(want);
    free(out);
}

static void check_strings(const char *s, unsigned listen_flags)
{
    enum metrics_format f = http_negotiate_format(s);
    FUZZ_CHECK(f == METRICS_TEXT_004 || f == METRICS_OPENMETRICS_100, "format %d", (int)f);
    if (!contains_ci(s, "application/openmetrics-text"))
        FUZZ_CHECK(f == METRICS_TEXT_004, "OpenMetrics chosen for \"%s\"", s);
    if (http_accepts_gzip(s))
        FUZZ_CHECK(contains_ci(s, "gzip") || strchr(s, '*'), "gzip accepted for \"%s\"", s);

    struct listen_addr addr;
    char err[160];
    int rc = listen_parse(s, listen_flags, &addr, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "listen_parse = %d", rc);
    if (rc == 0) {
        size_t pn = strlen(addr.port);
        FUZZ_CHECK(memchr(addr.host, '\0', sizeof(addr.host)) != NULL, "host not terminated");
        FUZZ_CHECK(pn >= 1 && pn <= 5 && strspn(addr.port, "0123456789") == pn &&
                       strtoul(addr.port, NULL, 10) == addr.port_num && addr.port_num <= 65535 &&
                       (addr.port_num > 0 || (listen_flags & LISTEN_PORT_ZERO)),
                   "port \"%s\" from \"%s\"", addr.port, s);
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0], "no message for \"%s\"", s);
    }
    if (http_listen_is_loopback(s))
        FUZZ_CHECK(listen_parse(s, LISTEN_PORT_ZERO, &addr, err, sizeof(err)) == 0,
                   "\"%s\" is loopback but does not parse", s);
}

/* ---- the input ----------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_header headers[MAX_HEADERS], args[MAX_ARGS];
    struct http_request req = {0};
    char *text, *line, *next, *body;
    size_t n_headers = 0, n_args = 0;

    if (size < 1)
        return 0;
    int tok = data[0] & 1;
    g_metrics_fail = data[0] & 2;
    g_not_ready = data[0] & 4;
    g_stream_fail = data[0] & 8;
    size_t hostlen = (data[0] >> 4) & 7; /* small buffers for the decoders */
    unsigned listen_flags = data[0] & 0x80 ? LISTEN_PORT_ZERO : 0;
    g_piece = 1 + hostlen * 97;
    text = fuzz_cstr(data + 1, size - 1);

    /* Request line. */
    line = text;
    next = strchr(line, '\n');
    if (next)
        *next++ = '\0';
    char *sp = strchr(line, ' ');
    req.method = line;
    req.path = "";
    if (sp) {
        *sp = '\0';
        req.path = sp + 1;
    }
    char *q = strchr(req.path, '?');
    if (q) {
        *q = '\0';
        for (char *a = q + 1; a && n_args < MAX_ARGS;) {
            char *amp = strchr(a, '&');
            if (amp)
                *amp++ = '\0';
            char *eq = strchr(a, '=');
            if (eq)
                *eq++ = '\0';
            args[n_args].name = a;
            args[n_args].value = eq ? eq : "";
            n_args++;
            a = amp;
        }
    }
    /* Headers up to an empty line, then the body. */
    body = NULL;
    while (next) {
        line = next;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*line == '\0') {
            body = next;
            break;
        }
        if (n_headers == MAX_HEADERS)
            continue;
        char *colon = strchr(line, ':');
        char *value = colon ? colon + 1 : line + strlen(line);
        if (colon)
            *colon = '\0';
        while (*value == ' ' || *value == '\t')
            value++;
        headers[n_headers].name = line;
        headers[n_headers].value = value;
        n_headers++;
    }
    req.headers = headers;
    req.n_headers = n_headers;
    req.args = args;
    req.n_args = n_args;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;

    struct http_response a, b;
    struct buf abody = {0}, bbody = {0};
    route_and_check(tok, &req, &a, &abody);
    route_and_check(tok, &req, &b, &bbody);
    FUZZ_CHECK(same_response(&a, &abody, &b, &bbody), "%s %s: a second routing differs",
               req.method, req.path);
    http_response_free(&b);
    buf_free(&bbody);
    if (strcmp(req.method, "GET") == 0) {
        req.method = "HEAD";
        route_and_check(tok, &req, &b, &bbody);
        FUZZ_CHECK(same_response(&a, &abody, &b, &bbody), "HEAD %s differs from GET", req.path);
        http_response_free(&b);
        buf_free(&bbody);
        req.method = "GET";
    }
    http_response_free(&a);
    buf_free(&abody);

    check_strings(req.path, listen_flags);
    check_segment(req.path, strlen(req.path), hostlen);
    for (const char *seg = req.path; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
        check_segment(seg, strcspn(seg, "/"), hostlen * 2);
    check_strings(req.method, listen_flags);
    for (size_t i = 0; i < n_headers; i++)
        check_strings(headers[i].value, listen_flags);
    FUZZ_CHECK(http_token_equal(req.method, strlen(req.method), req.path, strlen(req.path)) ==
                   (strcmp(req.method, req.path) == 0),
               "http_token_equal(\"%s\", \"%s\")", req.method, req.path);
    if (body)
        FUZZ_CHECK(http_token_equal(body, req.body_len, TOKEN, strlen(TOKEN)) ==
                       (strcmp(body, TOKEN) == 0),
                   "http_token_equal(body, token)");

    free(text);
    return 0;
}
