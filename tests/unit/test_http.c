/*
 * test_http — the router without a socket, and the real libmicrohttpd
 * server on 127.0.0.1 (and ::1 when the host has it) spoken to by a plain
 * HTTP/1.1 client written here: content negotiation, gzip, Vary, 404, 405 +
 * Allow, /-/ready, HEAD, POST bodies, listen address forms, keep-alive,
 * concurrent scrapes while workers record.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "cu_main.h"
#include "http.h"
#include "metrics.h"
#include "util.h"

#define PROM_ACCEPT                                                                               \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"     \
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* --- a tiny HTTP/1.1 client ---------------------------------------------------- */

/* A free TCP port on 127.0.0.1: bind port 0, read it back, close. */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int dial(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 20};
    int rc;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (family == AF_INET6) {
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

struct reply {
    int status;
    struct buf head; /* status line and headers, without the blank line */
    struct buf body;
};

static void reply_free(struct reply *r)
{
    buf_free(&r->head);
    buf_free(&r->body);
}

/* A header of the reply (case-insensitive name), or NULL. Returns a pointer
 * into a per-thread buffer. */
static const char *reply_header(const struct reply *r, const char *name)
{
    static _Thread_local char value[512];
    size_t n = strlen(name);
    for (const char *p = r->head.data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vn = (size_t)(p + len - v);
            if (vn >= sizeof value)
                vn = sizeof value - 1;
            memcpy(value, v, vn);
            value[vn] = '\0';
            return value;
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

/* Reads one response from fd: headers, then Content-Length bytes. For HEAD
 * (or a reply without Content-Length) it reads to EOF instead, so that a
 * body sent where none belongs shows up in r->body. */
static bool read_reply(int fd, bool to_eof, struct reply *r)
{
    struct buf raw = {0};
    char chunk[65536];
    char *end = NULL;

    memset(r, 0, sizeof *r);
    while (!end) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            buf_free(&raw);
            return false;
        }
        buf_append(&raw, chunk, (size_t)n);
        end = strstr(raw.data, "\r\n\r\n");
    }
    buf_append(&r->head, raw.data, (size_t)(end - raw.data));
    r->status = (int)strtol(raw.data + 9, NULL, 10);
    buf_append(&r->body, end + 4, raw.len - (size_t)(end + 4 - raw.data));
    buf_free(&raw);

    const char *cl = reply_header(r, "Content-Length");
    if (cl && !to_eof) {
        size_t want = strtoull(cl, NULL, 10);
        while (r->body.len < want) {
            ssize_t n = recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0)
                return false;
            buf_append(&r->body, chunk, (size_t)n);
        }
        return r->body.len == want;
    }
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            break;
        buf_append(&r->body, chunk, (size_t)n);
    }
    return true;
}

/* One request on a new connection; `extra` holds extra header lines, each
 * ending in \r\n. */
static bool request(int family, int port, const char *method, const char *path, const char *extra,
                    const char *body, struct reply *r)
{
    struct buf req = {0};
    int fd = dial(family, port);
    bool ok = false;

    memset(r, 0, sizeof *r);
    if (fd < 0)
        return false;
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s", method, path,
               extra ? extra : "");
    if (body)
        buf_printf(&req, "Content-Length: %zu\r\n", strlen(body));
    buf_puts(&req, "\r\n");
    if (body)
        buf_puts(&req, body);
    if (send_all(fd, req.data, req.len))
        ok = read_reply(fd, strcmp(method, "HEAD") == 0, r);
    buf_free(&req);
    close(fd);
    return ok;
}

static bool get(int port, const char *path, const char *extra, struct reply *r)
{
    return request(AF_INET, port, "GET", path, extra, NULL, r);
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

/* --- fixture: a registry, a ready flag, a few extra routes -------------------------- */

static atomic_bool ready_flag;

static bool is_ready(void *arg)
{
    (void)arg;
    return atomic_load(&ready_flag);
}

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

struct fixture {
    struct metrics *m;
    struct job_metrics *jm[3];
    struct http_server *srv;
    int port;
};

static void fixture_start(struct fixture *fx, size_t max_body)
{
    char err[256] = "";
    struct http_config cfg = {
        .listen = "127.0.0.1:0",
        .max_body = max_body,
        .metrics_fn = metrics_render_cb,
        .ready_fn = is_ready,
        .routes = extra_routes,
        .n_routes = ARRAY_SIZE(extra_routes),
    };

    fx->m = metrics_new(NULL, 0);
    cfg.metrics_arg = fx->m;
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "job-%d", i);
        fx->jm[i] = metrics_job_acquire(fx->m, id, "exec");
        metrics_run_started(fx->jm[i], wall_ns(), 1000);
        metrics_run_finished(fx->jm[i], METRICS_SUCCESS, 12345678, wall_ns());
    }
    atomic_store(&ready_flag, true);
    fx->srv = http_start(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->srv);
    fx->port = http_port(fx->srv);
    CU_ASSERT_TRUE(fx->port > 0);
}

static void fixture_stop(struct fixture *fx)
{
    http_stop(fx->srv);
    for (int i = 0; i < 3; i++)
        metrics_job_release(fx->m, fx->jm[i]);
    metrics_free(fx->m);
}

/* --- server tests ------------------------------------------------------------------ */

static void test_metrics_text(void)
{
    struct fixture fx;
    struct reply r;

    fixture_start(&fx, 0);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/metrics", "Accept: */*\r\n", &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply_header(&r, "Vary"), "Accept-Encoding"));
    CU_ASSERT_PTR_NULL(reply_header(&r, "Content-Encoding"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body.data, "\njobhost_job_runs_total{job_id=\"job-1\",plugin=\"exec\",result=\"success\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body.data, "\nprocess_open_fds "));
    CU_ASSERT_PTR_NULL(strstr(r.body.data, "# EOF"));
    reply_free(&r);

    /* no Accept header at all: text too */
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/metrics", NULL, &r));
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    reply_free(&r);
    fixture_stop(&fx);
}

static void test_metrics_openmetrics(void)
{
    struct fixture fx;
    struct reply r;

    fixture_start(&fx, 0);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/metrics", "Accept: " PROM_ACCEPT "\r\n", &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Type"),
                           "application/openmetrics-text; version=1.0.0; charset=utf-8");
    CU_ASSERT_TRUE(r.body.len > 6 && strcmp(r.body.data + r.body.len - 6, "# EOF\n") == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.body.data, "\n# TYPE jobhost_job_runs counter\n"));
    reply_free(&r);
    fixture_stop(&fx);
}

/* Deterministic content, big enough for gzip to matter. */
static int fake_metrics(void *arg, enum metrics_format f, struct buf *out)
{
    (void)arg;
    for (int i = 0; i < 20000; i++)
        buf_printf(out, "fake_total{n=\"%d\"} %d\n", i, i * 7);
    if (f == METRICS_OPENMETRICS_100)
        buf_puts(out, "# EOF\n");
    return 0;
}

static int failing_metrics(void *arg, enum metrics_format f, struct buf *out)
{
    (void)arg;
    (void)f;
    buf_puts(out, "partial");
    return -EIO;
}

static void test_metrics_gzip(void)
{
    char err[256];
    struct http_config cfg = {.listen = "127.0.0.1:0", .metrics_fn = fake_metrics};
    struct http_server *srv = http_start(&cfg, err, sizeof err);
    struct reply plain, gz;
    struct buf expect = {0}, got = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    int port = http_port(srv);
    fake_metrics(NULL, METRICS_TEXT_004, &expect);

    CU_ASSERT_TRUE_FATAL(get(port, "/metrics", "Accept-Encoding: gzip, deflate, br\r\n", &gz));
    CU_ASSERT_EQUAL(gz.status, 200);
    CU_ASSERT_STRING_EQUAL(reply_header(&gz, "Content-Encoding"), "gzip");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply_header(&gz, "Vary"), "Accept-Encoding"));
    CU_ASSERT_TRUE(gz.body.len < expect.len / 3);
    CU_ASSERT_TRUE(gunzip(&gz.body, &got));
    CU_ASSERT_EQUAL(got.len, expect.len);
    CU_ASSERT_TRUE(got.len == expect.len && memcmp(got.data, expect.data, got.len) == 0);

    /* refused or absent gzip: identity, Vary still there */
    CU_ASSERT_TRUE_FATAL(get(port, "/metrics", "Accept-Encoding: gzip;q=0, identity\r\n", &plain));
    CU_ASSERT_PTR_NULL(reply_header(&plain, "Content-Encoding"));
    CU_ASSERT_PTR_NOT_NULL(strstr(reply_header(&plain, "Vary"), "Accept-Encoding"));
    CU_ASSERT_TRUE(plain.body.len == expect.len && memcmp(plain.body.data, expect.data, expect.len) == 0);
    reply_free(&plain);

    /* gzip of the OpenMetrics form too; the spare buffer comes back and is reused */
    for (int i = 0; i < 3; i++) {
        struct reply om;
        struct buf dec = {0};
        CU_ASSERT_TRUE_FATAL(get(port, "/metrics",
                                 "Accept: application/openmetrics-text\r\nAccept-Encoding: x-gzip\r\n", &om));
        CU_ASSERT_STRING_EQUAL(reply_header(&om, "Content-Encoding"), "gzip");
        CU_ASSERT_TRUE(gunzip(&om.body, &dec));
        CU_ASSERT_TRUE(dec.len == expect.len + 6 && strcmp(dec.data + expect.len, "# EOF\n") == 0);
        buf_free(&dec);
        reply_free(&om);
    }
    reply_free(&gz);
    buf_free(&got);
    buf_free(&expect);
    http_stop(srv);

    /* a failing render is a 500, not a half exposition */
    cfg.metrics_fn = failing_metrics;
    srv = http_start(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    CU_ASSERT_TRUE_FATAL(get(http_port(srv), "/metrics", NULL, &plain));
    CU_ASSERT_EQUAL(plain.status, 500);
    CU_ASSERT_STRING_EQUAL(plain.body.data, "error rendering metrics: Input/output error\n");
    reply_free(&plain);
    http_stop(srv);
}

static void test_not_found_and_method(void)
{
    struct fixture fx;
    struct reply r;

    fixture_start(&fx, 0);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/nope", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL(r.body.data, "404 page not found\n");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/metrics/", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 404);
    reply_free(&r);

    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "POST", "/metrics", NULL, "x", &r));
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Allow"), "GET, HEAD");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "DELETE", "/-/ready", NULL, NULL, &r));
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Allow"), "GET, HEAD");
    reply_free(&r);
    /* mutating endpoints answer only POST */
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/-/reload", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Allow"), "POST");
    reply_free(&r);
    /* methods of every route that has the path */
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "PUT", "/api/v1/jobs/x", NULL, "{}", &r));
    CU_ASSERT_EQUAL(r.status, 405);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Allow"), "GET, HEAD, DELETE");
    reply_free(&r);
    fixture_stop(&fx);
}

static void test_ready_healthy(void)
{
    struct fixture fx;
    struct reply r;

    fixture_start(&fx, 0);
    atomic_store(&ready_flag, false);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/-/ready", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 503);
    CU_ASSERT_STRING_EQUAL(r.body.data, "jobhost is not ready.\n");
    reply_free(&r);
    atomic_store(&ready_flag, true);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/-/ready", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body.data, "jobhost is Ready.\n");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/-/healthy", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body.data, "jobhost is Healthy.\n");
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Type"), "text/plain; charset=utf-8");
    reply_free(&r);
    fixture_stop(&fx);
}

static void test_head(void)
{
    struct fixture fx;
    struct reply r, g;

    fixture_start(&fx, 0);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "HEAD", "/metrics", NULL, NULL, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    CU_ASSERT_TRUE(reply_header(&r, "Content-Length") && strtol(reply_header(&r, "Content-Length"), NULL, 10) > 1000);
    CU_ASSERT_EQUAL(r.body.len, 0); /* headers only */
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "HEAD", "/-/healthy", NULL, NULL, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Length"), "20");
    CU_ASSERT_EQUAL(r.body.len, 0);
    reply_free(&r);
    /* HEAD where only POST exists is a 405 */
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "HEAD", "/-/reload", NULL, NULL, &r));
    CU_ASSERT_EQUAL(r.status, 405);
    reply_free(&r);
    /* HEAD with gzip reports the gzipped length */
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "HEAD", "/metrics", "Accept-Encoding: gzip\r\n", NULL, &r));
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Encoding"), "gzip");
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/-/healthy", NULL, &g));
    reply_free(&g);
    reply_free(&r);
    fixture_stop(&fx);
}

static void test_post_and_routes(void)
{
    struct fixture fx;
    struct reply r;
    char big[2048];

    fixture_start(&fx, 1024);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "POST", "/-/reload", NULL, "hello", &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body.data, "got 5 bytes: hello\n");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "POST", "/-/reload", NULL, NULL, &r));
    CU_ASSERT_STRING_EQUAL(r.body.data, "got 0 bytes: \n");
    reply_free(&r);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "POST", "/-/reload", NULL, big, &r));
    CU_ASSERT_EQUAL(r.status, 413);
    reply_free(&r);

    CU_ASSERT_TRUE_FATAL(get(fx.port, "/api/v1/jobs", NULL, &r));
    CU_ASSERT_STRING_EQUAL(r.body.data, "{\"route\":\"list\",\"path\":\"/api/v1/jobs\",\"x\":\"\"}");
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Type"), "application/json");
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "X-Route"), "list");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/api/v1/jobs/night%20ly?x=1&y", NULL, &r));
    CU_ASSERT_STRING_EQUAL(r.body.data, "{\"route\":\"one\",\"path\":\"/api/v1/jobs/night ly\",\"x\":\"1\"}");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, "DELETE", "/api/v1/jobs/a", NULL, NULL, &r));
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "X-Route"), "delete");
    reply_free(&r);
    /* the longest prefix wins; a shorter one still serves other paths */
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/api/v1/plugins", "Accept-Encoding: gzip\r\n", &r));
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "X-Route"), "api");
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Encoding"), "gzip");
    reply_free(&r);
    fixture_stop(&fx);
}

static void test_keep_alive(void)
{
    struct fixture fx;
    struct reply r;

    fixture_start(&fx, 0);
    int fd = dial(AF_INET, fx.port);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    for (int i = 0; i < 3; i++) {
        const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
        CU_ASSERT_TRUE_FATAL(send_all(fd, req, strlen(req)));
        CU_ASSERT_TRUE_FATAL(read_reply(fd, false, &r));
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Encoding"), "gzip");
        reply_free(&r);
    }
    close(fd);
    fixture_stop(&fx);
}

static void test_listen_parse(void)
{
    static const struct {
        const char *in, *host, *port;
    } good[] = {
        {"127.0.0.1:9464", "127.0.0.1", "9464"}, {"[::1]:9464", "::1", "9464"},
        {":9464", "", "9464"},                   {"localhost:0", "localhost", "0"},
        {"[::]:80", "::", "80"},                 {"0.0.0.0:65535", "0.0.0.0", "65535"},
    };
    static const char *const bad[] = {
        "",      "127.0.0.1", "::1:9464", "[::1]9464", "[::1", "host:99999",
        "host:", "host:abc",  "host:-1",  ":",
    };
    char host[64], port[8], err[128];

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        CU_ASSERT_EQUAL(http_parse_listen(good[i].in, host, sizeof host, port, sizeof port, err, sizeof err), 0);
        CU_ASSERT_STRING_EQUAL(host, good[i].host);
        CU_ASSERT_STRING_EQUAL(port, good[i].port);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(http_parse_listen(bad[i], host, sizeof host, port, sizeof port, err, sizeof err), -EINVAL);
        CU_ASSERT_TRUE(err[0] != '\0');
    }
    http_parse_listen("127.0.0.1", host, sizeof host, port, sizeof port, err, sizeof err);
    CU_ASSERT_STRING_EQUAL(err, "missing port in \"127.0.0.1\" (expected HOST:PORT or :PORT)");
    http_parse_listen("::1:9464", host, sizeof host, port, sizeof port, err, sizeof err);
    CU_ASSERT_STRING_EQUAL(err, "IPv6 address in \"::1:9464\" must be in brackets: [ADDRESS]:PORT");
}

/* Each listen form serves where it should. */
static void test_listen_forms(void)
{
    char addr[64], err[256];
    struct reply r;
    bool v6 = have_ipv6_loopback();

    int port = free_port();
    CU_ASSERT_TRUE_FATAL(port > 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct http_config cfg = {.listen = addr};
    struct http_server *s = http_start(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(http_port(s), port);
    CU_ASSERT_TRUE(get(port, "/-/healthy", NULL, &r) && r.status == 200);
    reply_free(&r);
    if (v6) /* loopback only: not on ::1 */
        CU_ASSERT_FALSE(request(AF_INET6, port, "GET", "/-/healthy", NULL, NULL, &r));

    /* the same address again: a precise error */
    struct http_server *dup = http_start(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NULL(dup);
    char want[128];
    snprintf(want, sizeof want, "listen %s: bind: Address already in use", addr);
    CU_ASSERT_STRING_EQUAL(err, want);
    http_stop(s);

    /* ":PORT": every interface, IPv4 and (when there) IPv6 */
    snprintf(addr, sizeof addr, ":%d", free_port());
    s = http_start(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    port = http_port(s);
    CU_ASSERT_TRUE(request(AF_INET, port, "GET", "/-/healthy", NULL, NULL, &r) && r.status == 200);
    reply_free(&r);
    if (v6) {
        CU_ASSERT_TRUE(request(AF_INET6, port, "GET", "/-/healthy", NULL, NULL, &r) && r.status == 200);
        reply_free(&r);
    }
    http_stop(s);

    /* a host name, port 0 */
    cfg.listen = "localhost:0";
    s = http_start(&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_TRUE(get(http_port(s), "/-/healthy", NULL, &r) && r.status == 200);
    reply_free(&r);
    http_stop(s);

    if (v6) {
        cfg.listen = "[::1]:0";
        s = http_start(&cfg, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_TRUE(request(AF_INET6, http_port(s), "GET", "/-/healthy", NULL, NULL, &r) && r.status == 200);
        reply_free(&r);
        http_stop(s);
    } else {
        printf("\n  no IPv6 loopback here: [::1] checks skipped");
    }

    cfg.listen = "no-such-host.invalid:9464";
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "listen no-such-host.invalid:9464: no-such-host.invalid: "));
    cfg.listen = "127.0.0.1";
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "listen 127.0.0.1: missing port in \"127.0.0.1\" (expected HOST:PORT or :PORT)");
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Start/stop leaves no descriptor behind (the listening socket included). */
static void test_no_fd_leak(void)
{
    struct fixture fx;
    struct reply r;
    int before = count_fds();

    for (int i = 0; i < 3; i++) {
        fixture_start(&fx, 0);
        CU_ASSERT_TRUE(get(fx.port, "/metrics", "Accept-Encoding: gzip\r\n", &r));
        reply_free(&r);
        fixture_stop(&fx);
    }
    CU_ASSERT_EQUAL(count_fds(), before);
}

/* Scrapes from several clients while workers record: for TSan. */
struct recorder {
    struct job_metrics *jm;
    atomic_bool *stop;
};

static void *record_main(void *arg)
{
    struct recorder *rc = arg;
    while (!atomic_load(rc->stop)) {
        metrics_run_started(rc->jm, wall_ns(), 0);
        metrics_run_finished(rc->jm, METRICS_FAILURE, 1000, wall_ns());
    }
    return NULL;
}

struct client {
    int port, ok;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    for (int i = 0; i < 10; i++) {
        struct reply r;
        if (get(c->port, "/metrics", i % 2 ? "Accept-Encoding: gzip\r\n" : "Accept: " PROM_ACCEPT "\r\n", &r) &&
            r.status == 200)
            c->ok++;
        reply_free(&r);
    }
    return NULL;
}

static void test_concurrent_clients(void)
{
    struct fixture fx;
    atomic_bool stop = false;
    pthread_t rt[2], ct[4];
    struct recorder rec[2];
    struct client cl[4];

    fixture_start(&fx, 0);
    for (int i = 0; i < 2; i++) {
        rec[i] = (struct recorder){fx.jm[i], &stop};
        pthread_create(&rt[i], NULL, record_main, &rec[i]);
    }
    for (int i = 0; i < 4; i++) {
        cl[i] = (struct client){fx.port, 0};
        pthread_create(&ct[i], NULL, client_main, &cl[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(ct[i], NULL);
        CU_ASSERT_EQUAL(cl[i].ok, 10);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(rt[i], NULL);
    fixture_stop(&fx);
}

/* --- the pure router ------------------------------------------------------------------ */

static void route(const struct http_router *rt, const char *method, const char *path,
                  const char *accept_encoding, struct http_response *resp)
{
    struct http_header h[] = {{"accept-encoding", accept_encoding}};
    struct http_request req = {.method = method, .path = path, .headers = h,
                               .n_headers = accept_encoding ? 1 : 0};
    http_route(rt, &req, resp, NULL);
}

static void test_router(void)
{
    struct http_config cfg = {.metrics_fn = fake_metrics, .routes = extra_routes,
                              .n_routes = ARRAY_SIZE(extra_routes)};
    struct http_router *rt = http_router_new(&cfg);
    struct http_response resp;

    route(rt, "GET", "/nope", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 404);
    http_response_free(&resp);
    route(rt, "HEAD", "/metrics", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_TRUE(resp.body.len > 1000);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "vary"), "Accept-Encoding, Accept");
    http_response_free(&resp);
    route(rt, "POST", "/metrics", NULL, &resp);
    CU_ASSERT_EQUAL(resp.status, 405);
    CU_ASSERT_STRING_EQUAL(http_response_get_header(&resp, "Allow"), "GET, HEAD");
    http_response_free(&resp);
    route(rt, "get", "/metrics", NULL, &resp); /* methods are case-sensitive */
    CU_ASSERT_EQUAL(resp.status, 405);
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
    struct http_request empty = {0};
    http_route(rt, &empty, &resp, NULL);
    CU_ASSERT_EQUAL(resp.status, 404);
    http_response_free(&resp);

    /* a spare buffer lends its memory and gets the big one back after gzip */
    struct buf spare = {0};
    buf_reserve(&spare, 1 << 20);
    char *mem = spare.data;
    struct http_header h[] = {{"Accept-Encoding", "gzip"}};
    struct http_request req = {.method = "GET", .path = "/metrics", .headers = h, .n_headers = 1};
    http_route(rt, &req, &resp, &spare);
    CU_ASSERT_PTR_EQUAL(spare.data, mem);
    CU_ASSERT_EQUAL(spare.len, 0);
    CU_ASSERT_PTR_NOT_EQUAL(resp.body.data, mem);
    http_response_free(&resp);
    req.n_headers = 0;
    http_route(rt, &req, &resp, &spare);
    CU_ASSERT_PTR_EQUAL(resp.body.data, mem); /* uncompressed: the body is the lent memory */
    CU_ASSERT_PTR_NULL(spare.data);
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

/* --- suites ------------------------------------------------------------------------ */

static const struct cu_test router_tests[] = {
    {"router: 404, 405 + Allow, HEAD, prefixes, gzip, spare buffer", test_router},
    {"Accept / Accept-Encoding negotiation", test_negotiation},
    {"listen address parsing", test_listen_parse},
    {NULL, NULL},
};

static const struct cu_test server_tests[] = {
    {"GET /metrics: text format", test_metrics_text},
    {"GET /metrics: OpenMetrics when asked", test_metrics_openmetrics},
    {"GET /metrics: gzip, Vary, 500 on render error", test_metrics_gzip},
    {"404 and 405 + Allow", test_not_found_and_method},
    {"/-/ready 503 then 200, /-/healthy", test_ready_healthy},
    {"HEAD sends headers only", test_head},
    {"POST bodies, 413, prefix routes, query args", test_post_and_routes},
    {"keep-alive: three scrapes on one connection", test_keep_alive},
    {"listen forms: address, :port, host name, [::1], in use", test_listen_forms},
    {"start/stop leaks no descriptor", test_no_fd_leak},
    {"concurrent scrapes while workers record", test_concurrent_clients},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"http_router", router_tests},
    {"http_server", server_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
