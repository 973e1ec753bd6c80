/*
 * test_http_router — the pure router without a socket: 404, 405 + Allow,
 * HEAD, exact and prefix routes, gzip and Vary, Accept and Accept-Encoding
 * negotiation, the gate (501 for unknown methods, the bearer token:
 * accepted, refused, missing; 401 + WWW-Authenticate), the constant-time
 * token comparison, response headers that cannot split a response; and
 * the bodies: streams served in pieces, gzip piece by piece, a stream's
 * free that runs exactly once, a failing stream; deferred answers as the
 * router and the server's side of the handle see them (no thread here:
 * test_http_server.c answers from other threads).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/metrics.h"
#include "cu_main.h"
#include "io/http_deferred.h"
#include "io/http_router.h"
#include "lib/util.h"

#define PROM_ACCEPT                                                                               \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"     \
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* --- routes and a fake exposition ---------------------------------------------------- */

static void h_reload(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    buf_printf(&resp->body, "got %zu bytes: %.*s\n", req->body_len, (int)req->body_len,
               req->body ? req->body : "");
}

static void h_jobs(void *arg, const struct http_request *req, struct http_response *resp)
{
    const char *x = http_request_arg(req, "x");
    resp->content_type = "application/json";
    buf_printf(&resp->body, "{\"route\":\"%s\",\"path\":\"%s\",\"x\":\"%s\"}", (const char *)arg,
               req->path, x ? x : "");
    http_response_header(resp, "X-Route", arg);
}

static const struct http_route extra_routes[] = {
    {"POST", "/-/reload", HTTP_MATCH_EXACT, h_reload, NULL, 0},
    {"GET", "/api/v1/jobs", HTTP_MATCH_EXACT, h_jobs, "list", 0},
    {"GET", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_jobs, "one", 0},
    {"DELETE", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_jobs, "delete", 0},
    {"GET", "/api/v1/", HTTP_MATCH_PREFIX, h_jobs, "api", HTTP_ROUTE_GZIP},
};

/* A fake exposition: deterministic, big enough for gzip to matter, made
 * 1,000 lines a piece by a stream that counts how often it is freed. */
#define FAKE_LINES 20000

static void fake_text(enum metrics_format f, struct buf *out)
{
    for (int i = 0; i < FAKE_LINES; i++)
        buf_printf(out, "fake_total{n=\"%d\"} %d\n", i, i * 7);
    if (f == METRICS_OPENMETRICS_100)
        buf_puts(out, "# EOF\n");
}

struct fake_stream {
    enum metrics_format f;
    int line;
    int fail_at; /* fail when this line comes up (-1: never) */
};

static int fake_frees;

static int fake_next(void *state, struct buf *out)
{
    struct fake_stream *fs = state;
    for (int n = 0; n < 1000 && fs->line < FAKE_LINES; n++, fs->line++) {
        if (fs->line == fs->fail_at)
            return -EIO;
        buf_printf(out, "fake_total{n=\"%d\"} %d\n", fs->line, fs->line * 7);
    }
    if (fs->line < FAKE_LINES)
        return 1;
    if (fs->f == METRICS_OPENMETRICS_100)
        buf_puts(out, "# EOF\n");
    return 0;
}

static void fake_free(void *state)
{
    fake_frees++;
    free(state);
}

static void fake_stream(struct http_stream *out, enum metrics_format f, int fail_at)
{
    struct fake_stream *fs = xcalloc(1, sizeof *fs);
    fs->f = f;
    fs->fail_at = fail_at;
    *out = (struct http_stream){fake_next, fake_free, fs};
}

static int fake_metrics(void *arg, enum metrics_format f, struct http_stream *out)
{
    (void)arg;
    fake_stream(out, f, -1);
    return 0;
}

static bool gunzip(const struct buf *in, struct buf *out)
{
    z_stream zs;
    unsigned char chunk[65536];
    int rc;

    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return false;
    zs.next_in = (unsigned char *)in->data;
    zs.avail_in = (uInt)in->len;
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        buf_append(out, chunk, sizeof chunk - zs.avail_out);
    } while (rc == Z_OK);
    inflateEnd(&zs);
    return rc == Z_STREAM_END && zs.avail_in == 0;
}

/* The whole body of a response, stream or buffer (the stream is drained:
 * its free runs). */
static int body_of(struct http_response *resp, struct buf *out)
{
    if (resp->stream.next)
        return http_stream_drain(&resp->stream, out);
    buf_append(out, resp->body.data ? resp->body.data : "", resp->body.len);
    return 0;
}

/* --- routing ------------------------------------------------------------------------ */

static void route(const struct http_router *rt, const char *method, const char *path,
                  const char *accept_encoding, struct http_response *resp)
{
    struct http_header h[] = {{"accept-encoding", accept_encoding}};
    struct http_request req = {.method = method, .path = path, .headers = h,
                               .n_headers = accept_encoding ? 1 : 0};
    http_route(rt, &req, resp);
}

static void test_router(void)
{
    struct http_router_config cfg = {.metrics_fn = fake_metrics, .routes = extra_routes,
                              .n_routes = ARRAY_SIZE(extra_routes)};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    route(rt, "GET", "/nope", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 404);
    http_response_free(&resp);
    route(rt, "HEAD", "/metrics", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_PTR_NOT_NULL(resp.stream.next); /* as GET; the server does not pull it */
    CU_ASSERT_EQUAL(resp.body.len, 0);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "vary"), "Accept-Encoding, Accept");
    http_response_free(&resp);
    route(rt, "POST", "/metrics", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 405);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "Allow"), "GET, HEAD");
    http_response_free(&resp);
    route(rt, "get", "/metrics", NULL, &resp); /* methods are case-sensitive: unknown */
    CU_ASSERT_EQUAL(resp.status, 501);
    http_response_free(&resp);
    route(rt, "GET", "/metrics", "gzip", &resp);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "Content-Encoding"), "gzip");
    http_response_free(&resp);
    route(rt, "GET", "/-/healthy", "gzip", &resp); /* not a gzip route */
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "Content-Encoding"));
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "Vary"));
    http_response_free(&resp);
    route(rt, "GET", "/api/v1/jobs/", NULL, &resp);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "X-Route"), "one");
    http_response_free(&resp);
    route(rt, "GET", "/api/v1/job", NULL, &resp);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "X-Route"), "api");
    http_response_free(&resp);
    route(rt, "GET", "", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 404);
    http_response_free(&resp);
    struct http_request empty = {0}; /* no method at all: not implemented */
    http_route(rt, &empty, &resp);
    CU_ASSERT_EQUAL(resp.status, 501);
    http_response_free(&resp);
    /* a buffer body on a gzip route: gzipped whole */
    route(rt, "GET", "/api/v1/x", "gzip", &resp);
    CU_ASSERT_PTR_NULL(resp.stream.next);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "Content-Encoding"), "gzip");
    struct buf plain = {0};
    CU_ASSERT_TRUE(gunzip(&resp.body, &plain));
    CU_ASSERT_STRING_EQUAL(plain.data, "{\"route\":\"api\",\"path\":\"/api/v1/x\",\"x\":\"\"}");
    buf_free(&plain);
    http_response_free(&resp);
    http_router_free(rt);

    /* header values cannot split a response */
    http_response_init(&resp);
    CU_ASSERT_EQUAL(http_response_header(&resp, "X-A", "ok value\twith tab"), 0);
    CU_ASSERT_EQUAL(http_response_header(&resp, "X-B", "evil\r\nSet-Cookie: x"), -EINVAL);
    CU_ASSERT_EQUAL(http_response_header(&resp, "Bad Name", "v"), -EINVAL);
    CU_ASSERT_EQUAL(http_response_header(&resp, "", "v"), -EINVAL);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "x-a"), "ok value\twith tab");
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "X-B"));
    http_response_free(&resp);
    http_router_free(NULL);
}

/* Echoes which route ran and the decoded parameter (or the error). */
static void h_param(void *arg, const struct http_request *req, struct http_response *resp)
{
    char id[16];
    ssize_t n = http_request_param(req, id, sizeof id);

    if (n >= 0)
        buf_printf(&resp->body, "%s %s", (const char *)arg, id);
    else
        buf_printf(&resp->body, "%s error %zd", (const char *)arg, n);
    if (req->param)
        CU_ASSERT_TRUE(req->param >= req->path && req->param < req->path + strlen(req->path));
}

static const struct http_route pattern_routes[] = {
    {"GET", "/api/v1/jobs/{id}", HTTP_MATCH_EXACT, h_param, "job", 0},
    {"POST", "/api/v1/jobs/{id}/run", HTTP_MATCH_EXACT, h_param, "run", 0},
    {"POST", "/api/v1/jobs/{id}/pause", HTTP_MATCH_EXACT, h_param, "pause", 0},
    {"GET", "/api/v1/jobs/stats", HTTP_MATCH_EXACT, h_param, "stats", 0},
    {"GET", "/files/", HTTP_MATCH_PREFIX, h_param, "files", 0},
    {"GET", "/files/{name}", HTTP_MATCH_EXACT, h_param, "file", 0},
    {"GET", "/odd/{x", HTTP_MATCH_EXACT, h_param, "odd", 0},      /* no parameter: literal */
    {"GET", "/odd/a{x}", HTTP_MATCH_EXACT, h_param, "odd2", 0},   /* not a whole segment */
    {"GET", "/two/{a}/{b}", HTTP_MATCH_EXACT, h_param, "two", 0}, /* the second is literal */
};

static void test_router_patterns(void)
{
    static const struct {
        const char *method, *path;
        int status;
        const char *body;  /* for a 200 */
        const char *allow; /* for a 405 */
    } cases[] = {
        {"GET", "/api/v1/jobs/tick", 200, "job tick", NULL},
        {"HEAD", "/api/v1/jobs/tick", 200, "job tick", NULL},
        {"GET", "/api/v1/jobs/night%20ly", 200, "job night ly", NULL},
        {"POST", "/api/v1/jobs/tick/run", 200, "run tick", NULL},
        {"POST", "/api/v1/jobs/tick/pause", 200, "pause tick", NULL},
        /* a wrong method on a known path: 405 with the methods it has */
        {"GET", "/api/v1/jobs/tick/run", 405, NULL, "POST"},
        {"POST", "/api/v1/jobs/tick", 405, NULL, "GET, HEAD"},
        {"DELETE", "/api/v1/jobs/tick/pause", 405, NULL, "POST"},
        /* raw paths: an encoded '/' stays inside its segment, NUL too */
        {"POST", "/api/v1/jobs/tick%2Frun", 405, NULL, "GET, HEAD"},
        {"GET", "/api/v1/jobs/tick%2Frun", 200, "job error -22", NULL},
        {"GET", "/api/v1/jobs/tick%00x", 200, "job error -22", NULL},
        {"GET", "/api/v1/jobs/tick%4", 200, "job error -22", NULL},
        {"GET", "/api/v1/jobs/0123456789abcdef", 200, "job error -36", NULL},
        /* not one non-empty segment: no route */
        {"GET", "/api/v1/jobs/", 404, NULL, NULL},
        {"GET", "/api/v1/jobs/a/b", 404, NULL, NULL},
        {"POST", "/api/v1/jobs//run", 404, NULL, NULL},
        {"POST", "/api/v1/jobs/a/b/run", 404, NULL, NULL},
        {"POST", "/api/v1/jobs/tick/run/", 404, NULL, NULL},
        /* a literal path beats a pattern, a pattern beats a prefix */
        {"GET", "/api/v1/jobs/stats", 200, "stats error -2", NULL},
        {"GET", "/files/a", 200, "file a", NULL},
        {"GET", "/files/a/b", 200, "files error -2", NULL},
        {"GET", "/files/", 200, "files error -2", NULL},
        /* braces that are not a whole segment are literal */
        {"GET", "/odd/{x", 200, "odd error -2", NULL},
        {"GET", "/odd/y", 404, NULL, NULL},
        {"GET", "/odd/a{x}", 200, "odd2 error -2", NULL},
        {"GET", "/odd/ay", 404, NULL, NULL},
        {"GET", "/two/1/{b}", 200, "two 1", NULL},
        {"GET", "/two/1/2", 404, NULL, NULL},
    };
    struct http_router_config cfg = {.routes = pattern_routes,
                                     .n_routes = ARRAY_SIZE(pattern_routes)};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        route(rt, cases[i].method, cases[i].path, NULL, &resp);
        CU_ASSERT_EQUAL(resp.status, cases[i].status);
        if (cases[i].body)
            ASSERT_STR(resp.body.data, cases[i].body);
        if (cases[i].allow)
            ASSERT_STR(http_response_get_header(&resp, "Allow"), cases[i].allow);
        if (resp.status != cases[i].status || (cases[i].body && strcmp(nn(resp.body.data), cases[i].body)))
            printf("\n  %s %s: %d %s", cases[i].method, cases[i].path, resp.status,
                   nn(resp.body.data));
        http_response_free(&resp);
    }
    http_router_free(rt);
}

static void test_decode_segment(void)
{
    static const struct {
        const char *in;
        size_t outlen;
        ssize_t rc;
        const char *out;
    } cases[] = {
        {"tick", 16, 4, "tick"},
        {"", 16, 0, ""},
        {"night%20ly", 16, 8, "night ly"},
        {"%41%62%7e%7E", 16, 4, "Ab~~"},
        {"a+b", 16, 3, "a+b"}, /* a path is not a form */
        {"%e2%82%ac", 16, 3, "\xe2\x82\xac"},
        {"%ff", 16, 1, "\xff"},
        {"a%2Fb", 16, -EINVAL, NULL},
        {"a%2fb", 16, -EINVAL, NULL},
        {"a/b", 16, -EINVAL, NULL},
        {"a%00b", 16, -EINVAL, NULL},
        {"%", 16, -EINVAL, NULL},
        {"%4", 16, -EINVAL, NULL},
        {"%4g", 16, -EINVAL, NULL},
        {"%g4", 16, -EINVAL, NULL},
        {"abc%", 16, -EINVAL, NULL},
        {"abcd", 5, 4, "abcd"},
        {"abcd", 4, -ENAMETOOLONG, NULL},
        {"%61bcd", 4, -ENAMETOOLONG, NULL},
        {"abcd", 0, -ENAMETOOLONG, NULL},
        {"abcdefgh%2F", 4, -EINVAL, NULL}, /* a bad byte wins over the length */
    };
    char out[16];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        memset(out, 'X', sizeof out);
        ssize_t rc = http_decode_segment(cases[i].in, strlen(cases[i].in), out, cases[i].outlen);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (rc != cases[i].rc)
            printf("\n  decode \"%s\" (%zu): %zd", cases[i].in, cases[i].outlen, rc);
        if (cases[i].out && rc >= 0)
            CU_ASSERT_STRING_EQUAL(out, cases[i].out);
        if (cases[i].outlen < sizeof out)
            CU_ASSERT_EQUAL(out[cases[i].outlen], 'X'); /* never past outlen */
    }
    /* the length is what counts, not a NUL */
    CU_ASSERT_EQUAL(http_decode_segment("ab\0c", 4, out, sizeof out), -EINVAL);
    CU_ASSERT_EQUAL(http_decode_segment("abcdef", 3, out, sizeof out), 3);
    CU_ASSERT_STRING_EQUAL(out, "abc");
    struct http_request none = {.method = "GET", .path = "/"};
    CU_ASSERT_EQUAL(http_request_param(&none, out, sizeof out), -ENOENT);
}

/* GET /metrics is a stream: plain, gzipped piece by piece, OpenMetrics;
 * every stream freed exactly once, drained or not. */
static void test_router_streams(void)
{
    struct http_router_config cfg = {.metrics_fn = fake_metrics};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;
    struct buf want = {0}, got = {0}, gz = {0};

    fake_frees = 0;
    fake_text(METRICS_TEXT_004, &want);
    route(rt, "GET", "/metrics", NULL, &resp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp.stream.next);
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "Content-Encoding"));
    CU_ASSERT_STRING_EQUAL(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
    CU_ASSERT_EQUAL(body_of(&resp, &got), 0);
    CU_ASSERT_TRUE(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    CU_ASSERT_EQUAL(fake_frees, 1);
    http_response_free(&resp); /* drained: nothing left to free */
    CU_ASSERT_EQUAL(fake_frees, 1);

    /* gzip: one gzip member for the whole body, deflated as pieces come */
    route(rt, "GET", "/metrics", "gzip", &resp);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "Content-Encoding"), "gzip");
    CU_ASSERT_EQUAL(body_of(&resp, &gz), 0);
    buf_reset(&got);
    CU_ASSERT_TRUE(gunzip(&gz, &got));
    CU_ASSERT_TRUE(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    CU_ASSERT_TRUE(gz.len < want.len / 3);
    CU_ASSERT_EQUAL(fake_frees, 2);
    http_response_free(&resp);

    /* never pulled (HEAD, a client gone): freed with the response */
    route(rt, "HEAD", "/metrics", "gzip", &resp);
    CU_ASSERT_EQUAL(fake_frees, 2);
    http_response_free(&resp);
    CU_ASSERT_EQUAL(fake_frees, 3);

    /* OpenMetrics, gzipped */
    struct http_header h[] = {{"Accept", PROM_ACCEPT}, {"Accept-Encoding", "x-gzip"}};
    struct http_request req = {.method = "GET", .path = "/metrics", .headers = h, .n_headers = 2};
    http_route(rt, &req, &resp);
    CU_ASSERT_STRING_EQUAL(resp.content_type,
                           "application/openmetrics-text; version=1.0.0; charset=utf-8");
    buf_reset(&gz);
    buf_reset(&got);
    CU_ASSERT_EQUAL(body_of(&resp, &gz), 0);
    CU_ASSERT_TRUE(gunzip(&gz, &got));
    CU_ASSERT_TRUE(got.len == want.len + 6 && strcmp(got.data + want.len, "# EOF\n") == 0);
    http_response_free(&resp);
    CU_ASSERT_EQUAL(fake_frees, 4);
    http_router_free(rt);

    /* a stream that fails half-way: the error comes through gzip too */
    struct http_stream st;
    fake_stream(&st, METRICS_TEXT_004, 5500);
    buf_reset(&got);
    CU_ASSERT_EQUAL(http_stream_drain(&st, &got), -EIO);
    CU_ASSERT_EQUAL(got.len > 0 && got.len < want.len, true);
    fake_stream(&st, METRICS_TEXT_004, 5500);
    CU_ASSERT_EQUAL_FATAL(http_stream_gzip(&st), 0);
    buf_reset(&gz);
    CU_ASSERT_EQUAL(http_stream_drain(&st, &gz), -EIO);
    CU_ASSERT_PTR_NULL(st.next);
    CU_ASSERT_EQUAL(fake_frees, 6);
    http_stream_free(&st); /* a cleared stream: no-op */
    CU_ASSERT_EQUAL(fake_frees, 6);

    /* a buffer served in pieces of the size asked for, then gzipped */
    struct buf b = {0};
    buf_append(&b, want.data, want.len);
    http_stream_from_buf(&st, &b, 1000);
    CU_ASSERT_PTR_NULL(b.data); /* taken */
    struct buf piece = {0};
    int rc, pieces = 0;
    buf_reset(&got);
    do {
        buf_reset(&piece);
        rc = st.next(st.state, &piece);
        CU_ASSERT_TRUE(piece.len <= 1000);
        buf_append(&got, piece.data, piece.len);
        pieces++;
    } while (rc == 1);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL((size_t)pieces, (want.len + 999) / 1000);
    CU_ASSERT_TRUE(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    http_stream_free(&st);
    buf_free(&piece);
    b = (struct buf){0};
    http_stream_from_buf(&st, &b, 0); /* empty */
    CU_ASSERT_EQUAL(http_stream_gzip(&st), 0);
    buf_reset(&gz);
    buf_reset(&got);
    CU_ASSERT_EQUAL(http_stream_drain(&st, &gz), 0);
    CU_ASSERT_TRUE(gunzip(&gz, &got));
    CU_ASSERT_EQUAL(got.len, 0);

    /* a handler's stream replaces its buffer body */
    http_response_init(&resp);
    buf_puts(&resp.body, "dropped");
    fake_stream(&st, METRICS_TEXT_004, -1);
    http_response_stream(&resp, &st);
    CU_ASSERT_PTR_NULL(st.next);
    CU_ASSERT_EQUAL(resp.body.len, 0);
    http_response_free(&resp);
    CU_ASSERT_EQUAL(fake_frees, 7);

    buf_free(&want);
    buf_free(&got);
    buf_free(&gz);
}

static int failing_metrics(void *arg, enum metrics_format f, struct http_stream *out)
{
    (void)arg;
    fake_stream(out, f, -1); /* made, then an error: the router frees it */
    return -EIO;
}

static void test_router_metrics_error(void)
{
    struct http_router_config cfg = {.metrics_fn = failing_metrics};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    fake_frees = 0;
    route(rt, "GET", "/metrics", "gzip", &resp);
    CU_ASSERT_EQUAL(resp.status, 500);
    CU_ASSERT_PTR_NULL(resp.stream.next);
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "Content-Encoding"));
    CU_ASSERT_STRING_EQUAL(resp.body.data, "error rendering metrics: Input/output error\n");
    CU_ASSERT_EQUAL(fake_frees, 1);
    http_response_free(&resp);
    http_router_free(rt);
}

/* A handler that defers; the test answers through `parked`. */
static struct http_deferred *parked;

static void h_defer(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    (void)req;
    buf_puts(&resp->body, "ignored: the answer brings its body");
    (void)http_response_header(resp, "X-Before", "1");
    parked = http_defer(resp);
    (void)http_response_header(resp, "X-After", "2");
}

static int wakes;

static void count_wake(void *cls)
{
    CU_ASSERT_PTR_EQUAL(cls, &wakes);
    wakes++;
}

static const struct http_route defer_routes[] = {
    {"POST", "/defer", HTTP_MATCH_EXACT, h_defer, NULL, HTTP_ROUTE_GZIP},
};

static void test_router_deferred(void)
{
    struct http_router_config cfg = {.routes = defer_routes, .n_routes = 1};
    struct http_router *rt = http_router_new(&cfg);
    struct http_header gz[] = {{"Accept-Encoding", "gzip"}};
    struct http_request req = {.method = "POST", .path = "/defer", .headers = gz, .n_headers = 1};
    struct http_response resp;
    struct buf body = {0}, plain = {0};

    /* answered while the server waits: woken once; the answer is gzipped
     * (a gzip route, a client that accepts it) and keeps the handler's
     * headers, set before and after http_defer */
    http_route(rt, &req, &resp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp.deferred);
    CU_ASSERT_PTR_EQUAL(resp.deferred, parked);
    CU_ASSERT_TRUE(resp.gzip);
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "Content-Encoding")); /* not yet */
    ASSERT_STR(http_response_get_header(&resp, "Vary"), "Accept-Encoding");
    wakes = 0;
    CU_ASSERT_TRUE(http_deferred_wait(resp.deferred, count_wake, &wakes));
    CU_ASSERT_EQUAL(wakes, 0);
    buf_puts(&body, "reloaded: 3 jobs\n");
    CU_ASSERT_EQUAL(http_deferred_answer(parked, 200, "application/json", &body), 0);
    CU_ASSERT_PTR_NULL(body.data);
    CU_ASSERT_EQUAL(wakes, 1);
    http_deferred_cancel(resp.deferred, 503, "late\n"); /* the answer came first: no-op */
    CU_ASSERT_EQUAL(wakes, 1);
    http_deferred_take(resp.deferred, &resp);
    CU_ASSERT_EQUAL(resp.status, 200);
    ASSERT_STR(resp.content_type, "application/json");
    ASSERT_STR(http_response_get_header(&resp, "Content-Encoding"), "gzip");
    ASSERT_STR(http_response_get_header(&resp, "X-Before"), "1");
    ASSERT_STR(http_response_get_header(&resp, "X-After"), "2");
    CU_ASSERT_TRUE(gunzip(&resp.body, &plain));
    ASSERT_STR(plain.data, "reloaded: 3 jobs\n");
    http_response_free(&resp); /* the last reference: all freed (ASan) */

    /* answered before the server looks: no wait, no wake; a 400 is sent
     * plain; no Accept-Encoding: plain */
    req.n_headers = 0;
    http_route(rt, &req, &resp);
    CU_ASSERT_FALSE(resp.gzip);
    buf_puts(&body, "bad manifest\n");
    CU_ASSERT_EQUAL(http_deferred_answer(parked, 400, NULL, &body), 0);
    wakes = 0;
    CU_ASSERT_FALSE(http_deferred_wait(resp.deferred, count_wake, &wakes));
    http_deferred_take(resp.deferred, &resp);
    CU_ASSERT_EQUAL(wakes, 0);
    CU_ASSERT_EQUAL(resp.status, 400);
    ASSERT_STR(resp.content_type, "text/plain; charset=utf-8");
    ASSERT_STR(resp.body.data, "bad manifest\n");
    http_response_free(&resp);

    /* the server gives up first (stopping): 503, woken once, the answer
     * dropped with -ECANCELED */
    req.n_headers = 1;
    http_route(rt, &req, &resp);
    wakes = 0;
    CU_ASSERT_TRUE(http_deferred_wait(resp.deferred, count_wake, &wakes));
    http_deferred_cancel(resp.deferred, 503, "503 stopping\n");
    CU_ASSERT_EQUAL(wakes, 1);
    http_deferred_take(resp.deferred, &resp);
    CU_ASSERT_EQUAL(resp.status, 503);
    ASSERT_STR(resp.body.data, "503 stopping\n");
    CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "Content-Encoding"));
    http_response_free(&resp);
    buf_puts(&body, "too late\n");
    CU_ASSERT_EQUAL(http_deferred_answer(parked, 200, NULL, &body), -ECANCELED);
    CU_ASSERT_PTR_NULL(body.data);

    /* the response goes first (a client gone, a router test): the answer
     * still frees everything */
    http_route(rt, &req, &resp);
    http_response_free(&resp);
    CU_ASSERT_EQUAL(http_deferred_answer(parked, 200, NULL, NULL), 0);
    http_router_free(rt);
    buf_free(&plain);
}

static void test_negotiation(void)
{
    static const struct {
        const char *accept;
        enum metrics_format f;
    } fmt[] = {
        {NULL, METRICS_TEXT_004},
        {"", METRICS_TEXT_004},
        {"*/*", METRICS_TEXT_004},
        {"text/plain", METRICS_TEXT_004},
        {"application/openmetrics-text", METRICS_OPENMETRICS_100},
        {"Application/OpenMetrics-Text; version=1.0.0", METRICS_OPENMETRICS_100},
        {"application/openmetrics-text;version=\"0.0.1\"", METRICS_OPENMETRICS_100},
        {"application/openmetrics-text;version=2.0.0", METRICS_TEXT_004},
        {"application/openmetrics-text;q=0", METRICS_TEXT_004},
        {"application/openmetrics-text;q=0.2, text/plain;q=0.5", METRICS_TEXT_004},
        {"text/plain;q=0.5, application/openmetrics-text;q=0.9", METRICS_OPENMETRICS_100},
        {PROM_ACCEPT, METRICS_OPENMETRICS_100},
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
         METRICS_TEXT_004},
        {"application/json", METRICS_TEXT_004},
    };
    static const struct {
        const char *ae;
        bool gzip;
    } enc[] = {
        {NULL, false},        {"", false},          {"gzip", true},
        {"GZIP", true},       {"x-gzip", true},     {"deflate, gzip;q=0.5", true},
        {"gzip;q=0", false},  {"gzip; q=0.000", false}, {"*", true},
        {"*;q=0", false},     {"identity", false},  {"br, *;q=0.1", true},
        {"*, gzip;q=0", false}, {"gzipfoo", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(fmt); i++)
        CU_ASSERT_EQUAL(http_negotiate_format(fmt[i].accept), fmt[i].f);
    for (size_t i = 0; i < ARRAY_SIZE(enc); i++) {
        CU_ASSERT_EQUAL(http_accepts_gzip(enc[i].ae), enc[i].gzip);
        if (http_accepts_gzip(enc[i].ae) != enc[i].gzip)
            printf("\n  Accept-Encoding %s", enc[i].ae ? enc[i].ae : "(null)");
    }
}

/* --- the gate -------------------------------------------------------------------- */

static void test_token_equal(void)
{
    static const struct {
        const char *a;
        size_t an;
        const char *b;
        size_t bn;
        bool eq;
    } cases[] = {
        {"abc", 3, "abc", 3, true},   {"", 0, "", 0, true},        {"abc", 3, "abd", 3, false},
        {"abc", 3, "xbc", 3, false},  {"abc", 3, "ab", 2, false},  {"ab", 2, "abc", 3, false},
        {"abc", 3, "", 0, false},     {"", 0, "a", 1, false},      {"a\0b", 3, "a\0c", 3, false},
        {"a\0b", 3, "a\0b", 3, true}, {"a\0b", 3, "a", 1, false},  {"A", 1, "a", 1, false},
    };
    char x[1000], y[1000];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool eq = http_token_equal(cases[i].a, cases[i].an, cases[i].b, cases[i].bn);
        CU_ASSERT_EQUAL(eq, cases[i].eq);
        if (eq != cases[i].eq)
            printf("\n  token_equal case %zu: got %d", i, eq);
    }
    memset(x, 'x', sizeof x);
    memcpy(y, x, sizeof y);
    CU_ASSERT_TRUE(http_token_equal(x, sizeof x, y, sizeof y));
    for (size_t at = 0; at < sizeof y; at += 333) { /* first, middle and last bytes */
        y[at] = 'y';
        CU_ASSERT_FALSE(http_token_equal(x, sizeof x, y, sizeof y));
        y[at] = 'x';
    }
    y[sizeof y - 1] = 'y';
    CU_ASSERT_FALSE(http_token_equal(x, sizeof x, y, sizeof y));
    CU_ASSERT_FALSE(http_token_equal(x, sizeof x, x, sizeof x - 1));
}

static const struct http_route token_routes[] = {
    {"POST", "/-/reload", HTTP_MATCH_EXACT, h_reload, NULL, 0},
    {"DELETE", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_jobs, "delete", 0},
};

static void route_auth(const struct http_router *rt, const char *method, const char *path,
                       const char *auth, struct http_response *resp)
{
    struct http_header h[] = {{"Accept", "*/*"}, {"authorization", auth}};
    struct http_request req = {.method = method, .path = path, .headers = h,
                               .n_headers = auth ? 2 : 1};
    http_route(rt, &req, resp);
}

static void test_router_token(void)
{
#define TOKEN "s3cr3t-token"
    static const struct {
        const char *method, *path, *auth;
        int status;
    } cases[] = {
        {"GET", "/metrics", NULL, 200},
        {"HEAD", "/metrics", NULL, 200},
        {"GET", "/-/healthy", "Bearer wrong", 200}, /* reads ignore the header */
        {"POST", "/-/reload", NULL, 401},
        {"POST", "/-/reload", "Bearer " TOKEN, 200},
        {"POST", "/-/reload", "bearer " TOKEN, 200},
        {"POST", "/-/reload", "BEARER \t " TOKEN "  ", 200},
        {"POST", "/-/reload", "Bearer s3cr3t-toke", 401},
        {"POST", "/-/reload", "Bearer " TOKEN "2", 401},
        {"POST", "/-/reload", "Bearer S3cr3t-token", 401},
        {"POST", "/-/reload", "Bearer " TOKEN " x", 401},
        {"POST", "/-/reload", "Bearer ", 401},
        {"POST", "/-/reload", "Bearer", 401},
        {"POST", "/-/reload", "Bearer" TOKEN, 401},
        {"POST", "/-/reload", "Basic czNjcjN0LXRva2Vu", 401},
        {"POST", "/-/reload", TOKEN, 401},
        {"POST", "/-/reload", "", 401},
        {"DELETE", "/api/v1/jobs/x", NULL, 401},
        {"DELETE", "/api/v1/jobs/x", "Bearer " TOKEN, 200},
        /* routing comes before the token: a GET learns as much */
        {"POST", "/nope", NULL, 404},
        {"POST", "/nope", "Bearer " TOKEN, 404},
        {"POST", "/metrics", "Bearer " TOKEN, 405},
        {"PUT", "/metrics", NULL, 405},
        {"OPTIONS", "/metrics", NULL, 405},
        {"PATCH", "/metrics", "Bearer " TOKEN, 405},
        {"GET", "/-/reload", NULL, 405},
        {"PUT", "/-/reload", "Bearer wrong", 405},
        {"BREW", "/-/reload", "Bearer " TOKEN, 501},
        {"BREW", "/-/reload", NULL, 501},
    };
    struct http_router_config cfg = {.metrics_fn = fake_metrics, .routes = token_routes,
                              .n_routes = ARRAY_SIZE(token_routes), .token = TOKEN};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        route_auth(rt, cases[i].method, cases[i].path, cases[i].auth, &resp);
        CU_ASSERT_EQUAL(resp.status, cases[i].status);
        if (resp.status != cases[i].status)
            printf("\n  %s %s [%s]: %d", cases[i].method, cases[i].path,
                   cases[i].auth ? cases[i].auth : "-", resp.status);
        if (cases[i].status == 401) {
            const char *h = http_response_get_header(&resp, "WWW-Authenticate");
            CU_ASSERT_TRUE(h && strcmp(h, "Bearer realm=\"jobhost\"") == 0);
            CU_ASSERT_STRING_EQUAL(resp.content_type, "text/plain; charset=utf-8");
            CU_ASSERT_STRING_EQUAL(resp.body.data,
                                   cases[i].auth && strncasecmp(cases[i].auth, "Bearer ", 7) == 0 &&
                                           cases[i].auth[7]
                                       ? "401 unauthorized: invalid bearer token\n"
                                       : "401 unauthorized: bearer token required\n");
        } else {
            CU_ASSERT_PTR_NULL(http_response_get_header(&resp, "WWW-Authenticate"));
        }
        http_response_free(&resp);
    }
    route_auth(rt, "BREW", "/", NULL, &resp);
    CU_ASSERT_STRING_EQUAL(resp.body.data, "501 method not implemented\n");
    http_response_free(&resp);
    http_router_free(rt);

    /* an empty token (a misconfiguration) refuses every mutating request */
    cfg.token = "";
    rt = http_router_new(&cfg);
    route_auth(rt, "POST", "/-/reload", "Bearer ", &resp);
    CU_ASSERT_EQUAL(resp.status, 401);
    http_response_free(&resp);
    route_auth(rt, "POST", "/-/reload", "Bearer x", &resp);
    CU_ASSERT_EQUAL(resp.status, 401);
    http_response_free(&resp);
    route_auth(rt, "GET", "/-/healthy", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 200);
    http_response_free(&resp);
    http_router_free(rt);

    /* no token: mutating requests pass the gate */
    cfg.token = NULL;
    rt = http_router_new(&cfg);
    route_auth(rt, "POST", "/-/reload", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 200);
    http_response_free(&resp);
    route_auth(rt, "POST", "/-/reload", "Bearer whatever", &resp);
    CU_ASSERT_EQUAL(resp.status, 200);
    http_response_free(&resp);
    http_router_free(rt);
#undef TOKEN
}

static void test_router_methods(void)
{
    static const struct {
        const char *method, *path;
        int status;
    } cases[] = {
        {"BREW", "/metrics", 501},   {"BREW", "/nope", 501},     {"get", "/metrics", 501},
        {"", "/metrics", 501},       {"GET ", "/metrics", 501},  {"PROPFIND", "/", 501},
        {"PATCH", "/metrics", 405},  {"OPTIONS", "/metrics", 405}, {"TRACE", "/-/ready", 405},
        {"CONNECT", "localhost:80", 404}, {"PUT", "/nope", 404}, {"DELETE", "/-/reload", 405},
        {"POST", "/-/reload", 200},
    };
    struct http_router_config cfg = {.metrics_fn = fake_metrics, .routes = token_routes,
                              .n_routes = ARRAY_SIZE(token_routes)};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        route(rt, cases[i].method, cases[i].path, NULL, &resp);
        CU_ASSERT_EQUAL(resp.status, cases[i].status);
        if (resp.status != cases[i].status)
            printf("\n  [%s] %s: %d", cases[i].method, cases[i].path, resp.status);
        http_response_free(&resp);
    }
    http_router_free(rt);
}

/* --- suites ------------------------------------------------------------------------ */

/* A read-only listener (beyond loopback, no token) refuses mutating
 * requests with 403, but a wrong method is still a 405 with Allow. */
static void test_router_read_only(void)
{
    static const struct {
        const char *method, *path;
        int status;
        const char *allow;
    } cases[] = {
        {"GET", "/metrics", 200, NULL},
        {"POST", "/metrics", 405, "GET, HEAD"},
        {"POST", "/-/reload", 403, NULL},
        {"GET", "/-/reload", 405, "POST"},
        {"HEAD", "/-/reload", 405, "POST"},
        {"DELETE", "/-/healthy", 405, "GET, HEAD"},
        {"POST", "/nope", 404, NULL},
    };
    struct http_router_config cfg = {.metrics_fn = fake_metrics, .routes = token_routes,
                                     .n_routes = ARRAY_SIZE(token_routes), .read_only = true};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *allow;
        route_auth(rt, cases[i].method, cases[i].path, NULL, &resp);
        CU_ASSERT_EQUAL(resp.status, cases[i].status);
        allow = http_response_get_header(&resp, "Allow");
        if (cases[i].allow) {
            CU_ASSERT_TRUE(allow && strcmp(allow, cases[i].allow) == 0);
        } else {
            CU_ASSERT_PTR_NULL(allow);
        }
        if (resp.status != cases[i].status)
            printf("\n  %s %s: %d", cases[i].method, cases[i].path, resp.status);
        http_response_free(&resp);
    }
    http_router_free(rt);
}

static const struct cu_test router_tests[] = {
    {"router: 404, 405 + Allow, HEAD, prefixes, gzip", test_router},
    {"streamed bodies: pieces, gzip per piece, free exactly once, errors", test_router_streams},
    {"GET /metrics: a failing exposition is a 500", test_router_metrics_error},
    {"deferred answers: gzip, headers, wake once, cancel, either side last", test_router_deferred},
    {"router: {id} patterns, raw paths, 405 + Allow per action", test_router_patterns},
    {"path segment decoding: %XX, refused '/' and NUL, sizes", test_decode_segment},
    {"Accept / Accept-Encoding negotiation", test_negotiation},
    {"constant-time token comparison", test_token_equal},
    {"router: bearer token accepted, refused, missing; 401 + WWW-Authenticate", test_router_token},
    {"router: 501 for unknown methods, 405 for known ones", test_router_methods},
    {"router: read-only listener: 403, but 405 + Allow first", test_router_read_only},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"http_router", router_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
