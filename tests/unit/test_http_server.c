/*
 * test_http_server — the real libmicrohttpd server on 127.0.0.1 (and ::1
 * when the host has it) spoken to by a plain HTTP/1.1 client written here:
 * content negotiation, gzip, Vary, 404, 405 + Allow, /-/ready, HEAD, POST
 * bodies, listen address forms, keep-alive, concurrent scrapes while
 * workers record; and the hardening: bearer token, 501 for unknown methods,
 * per-IP limit, oversize request heads, body limits, idle timeout, token and
 * PEM file readers, loopback detection, TLS with a certificate made at test
 * time by openssl and checked with curl. The router's own cases are in
 * test_http_router.c.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "cu_main.h"
#include "fake_gen.h"
#include "io/http_deferred.h"
#include "io/http_server.h"
#include "io/metrics_render.h"
#include "lib/sha256.h"
#include "lib/util.h"

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
    bool chunked; /* the body came chunked (and was put together) */
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

/* Appends what one recv gives to raw; false at EOF or on an error. */
static bool recv_more(int fd, struct buf *raw)
{
    char chunk[65536];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0)
        return false;
    buf_append(raw, chunk, (size_t)n);
    return true;
}

/* The offset just past the next CRLF at or after `off`, reading more as
 * needed; 0 when the connection ends first. */
static size_t line_end(int fd, struct buf *raw, size_t off)
{
    for (;;) {
        const char *eol = raw->len > off ? memmem(raw->data + off, raw->len - off, "\r\n", 2) : NULL;
        if (eol)
            return (size_t)(eol - raw->data) + 2;
        if (!recv_more(fd, raw))
            return 0;
    }
}

/* A chunked body (RFC 9112 7.1): `raw` holds what came after the headers.
 * True when the last chunk and the trailer section arrived. */
static bool read_chunked(int fd, struct buf *raw, struct buf *body)
{
    size_t off = 0, eol;

    for (;;) {
        if (off > (1 << 20)) { /* keep raw small on big bodies */
            memmove(raw->data, raw->data + off, raw->len - off);
            raw->len -= off;
            off = 0;
        }
        if (!(eol = line_end(fd, raw, off)))
            return false;
        char *end;
        size_t size = strtoul(raw->data + off, &end, 16);
        if (end == raw->data + off)
            return false;
        off = eol;
        if (size == 0)
            break;
        while (raw->len - off < size + 2)
            if (!recv_more(fd, raw))
                return false;
        if (memcmp(raw->data + off + size, "\r\n", 2) != 0)
            return false;
        buf_append(body, raw->data + off, size);
        off += size + 2;
    }
    for (;;) { /* trailers, up to an empty line */
        if (!(eol = line_end(fd, raw, off)))
            return false;
        bool empty = eol == off + 2;
        off = eol;
        if (empty)
            return true;
    }
}

/* Reads one response from fd: headers, then Content-Length bytes or a
 * chunked body. For HEAD (or a reply with neither) it reads to EOF instead,
 * so that a body sent where none belongs shows up in r->body. */
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
    const char *te = reply_header(r, "Transfer-Encoding");
    if (te && strcasecmp(te, "chunked") == 0 && !to_eof) {
        size_t off = (size_t)(end + 4 - raw.data);
        memmove(raw.data, raw.data + off, raw.len - off);
        raw.len -= off;
        r->chunked = true;
        bool ok = read_chunked(fd, &raw, &r->body);
        buf_free(&raw);
        return ok;
    }
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

/* POST /api/v1/jobs/{id}/run: "run ID" with the id decoded, 404 when it
 * cannot be (an encoded '/' or NUL). */
static void h_run(void *arg, const struct http_request *req, struct http_response *resp)
{
    char id[64];
    (void)arg;
    if (http_request_param(req, id, sizeof id) < 0) {
        resp->status = 404;
        buf_puts(&resp->body, "no such job\n");
        return;
    }
    buf_printf(&resp->body, "run %s\n", id);
}

static const struct http_route extra_routes[] = {
    {"POST", "/-/reload", HTTP_MATCH_EXACT, h_reload, NULL, 0},
    {"POST", "/api/v1/jobs/{id}/run", HTTP_MATCH_EXACT, h_run, NULL, 0},
    {"GET", "/api/v1/jobs", HTTP_MATCH_EXACT, h_jobs, "list", 0},
    {"GET", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_jobs, "one", 0},
    {"DELETE", "/api/v1/jobs/", HTTP_MATCH_PREFIX, h_jobs, "delete", 0},
    {"GET", "/api/v1/", HTTP_MATCH_PREFIX, h_jobs, "api", HTTP_ROUTE_GZIP},
};

struct fixture {
    struct fake_rt f;
    struct generation *g;
    struct job *jm[3];
    struct http_server *srv;
    int port;
};

static void fixture_start(struct fixture *fx, size_t max_body)
{
    char err[256] = "";
    struct http_config cfg = {
        .listen = "127.0.0.1:0",
        .max_body = max_body,
        .metrics_fn = metrics_render_stream,
        .ready_fn = is_ready,
        .routes = extra_routes,
        .n_routes = ARRAY_SIZE(extra_routes),
    };

    const char *ids[3] = {"job-0", "job-1", "job-2"};
    fake_rt_init(&fx->f, NULL, 0);
    cfg.metrics_arg = &fx->f.src;
    fx->g = fake_gen(&fx->f, ids, 3, "exec");
    for (int i = 0; i < 3; i++) {
        struct run run;
        fx->jm[i] = &fx->g->jobs[i];
        fake_started(fx->jm[i], &run, wall_ns(), 1000);
        fake_finished(&run, RUN_SUCCESS, 12345678);
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
    generation_unref(fx->g);
    fake_rt_free(&fx->f);
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
static void fake_text(enum metrics_format f, struct buf *out)
{
    for (int i = 0; i < 20000; i++)
        buf_printf(out, "fake_total{n=\"%d\"} %d\n", i, i * 7);
    if (f == METRICS_OPENMETRICS_100)
        buf_puts(out, "# EOF\n");
}

/* ... streamed in 4 KiB pieces, so a scrape is many of them. */
static int fake_metrics(void *arg, enum metrics_format f, struct http_stream *out)
{
    struct buf text = {0};
    (void)arg;
    fake_text(f, &text);
    http_stream_from_buf(out, &text, 4096);
    return 0;
}

static int failing_metrics(void *arg, enum metrics_format f, struct http_stream *out)
{
    (void)arg;
    (void)f;
    (void)out;
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
    fake_text(METRICS_TEXT_004, &expect);

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

    /* gzip of the OpenMetrics form too, a few times over */
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
    /* a streamed body: its length is not known without producing it, so
     * HEAD gives none (and closes the connection after the headers) */
    CU_ASSERT_PTR_NULL(reply_header(&r, "Content-Length"));
    CU_ASSERT_PTR_NULL(reply_header(&r, "Transfer-Encoding"));
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
    /* HEAD with gzip reports the encoding GET would use */
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
    /* handlers see the path as sent; query arguments arrive decoded */
    CU_ASSERT_TRUE_FATAL(get(fx.port, "/api/v1/jobs/night%20ly?x=%31&y", NULL, &r));
    CU_ASSERT_STRING_EQUAL(r.body.data, "{\"route\":\"one\",\"path\":\"/api/v1/jobs/night%20ly\",\"x\":\"1\"}");
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

/* The path is routed as sent: an encoded '/' does not make a new segment
 * and an encoded NUL does not cut the id short. */
static void test_raw_path(void)
{
    static const struct {
        const char *method, *path;
        int status;
        const char *body;  /* NULL: not checked */
        const char *allow; /* for a 405 */
    } cases[] = {
        {"POST", "/api/v1/jobs/tick/run", 200, "run tick\n", NULL},
        {"POST", "/api/v1/jobs/night%20ly/run", 200, "run night ly\n", NULL},
        {"POST", "/api/v1/jobs/%74ick/run", 200, "run tick\n", NULL},
        /* one segment "tick%2Frun": the {id}/run route does not have it */
        {"POST", "/api/v1/jobs/tick%2Frun", 405, NULL, "GET, HEAD, DELETE"},
        {"POST", "/api/v1/jobs/tick%2frun", 405, NULL, "GET, HEAD, DELETE"},
        {"POST", "/api/v1/jobs/a%2Fb/run", 404, "no such job\n", NULL},
        {"POST", "/api/v1/jobs/tick%00x/run", 404, "no such job\n", NULL},
        {"POST", "/api/v1/jobs/tick%zz/run", 404, "no such job\n", NULL},
        {"GET", "/api/v1/jobs/tick/run", 200, NULL, NULL}, /* the GET prefix route */
        {"GET", "/api/v1/jobs/tick%00x",
         200, "{\"route\":\"one\",\"path\":\"/api/v1/jobs/tick%00x\",\"x\":\"\"}", NULL},
        {"GET", "/-/health%79", 404, NULL, NULL}, /* no decoding before routing at all */
    };
    struct fixture fx;
    struct reply r;

    fixture_start(&fx, 0);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        CU_ASSERT_TRUE_FATAL(request(AF_INET, fx.port, cases[i].method, cases[i].path, NULL,
                                     strcmp(cases[i].method, "POST") == 0 ? "" : NULL, &r));
        CU_ASSERT_EQUAL(r.status, cases[i].status);
        if (cases[i].body)
            CU_ASSERT_STRING_EQUAL(r.body.data, cases[i].body);
        if (cases[i].allow)
            CU_ASSERT_STRING_EQUAL(reply_header(&r, "Allow"), cases[i].allow);
        if (r.status != cases[i].status)
            printf("\n  %s %s: %d %s", cases[i].method, cases[i].path, r.status, nn(r.body.data));
        reply_free(&r);
    }
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

    /* a host name other than localhost: refused before any lookup */
    cfg.listen = "no-such-host.invalid:9464";
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err, "listen no-such-host.invalid:9464: invalid host \"no-such-host.invalid\""));
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
    struct job *jm;
    atomic_bool *stop;
};

static void *record_main(void *arg)
{
    struct recorder *rc = arg;
    while (!atomic_load(rc->stop)) {
        fake_run(rc->jm, RUN_FAILURE, 1000, wall_ns());
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


static void test_listen_loopback(void)
{
    static const struct {
        const char *listen;
        bool loopback;
    } cases[] = {
        {NULL, true},                      {"127.0.0.1:9464", true},
        {"127.1.2.3:1", true},             {"127.1:80", false}, /* dotted quads only */
        {"localhost:0", true},             {"LocalHost:1", true},
        {"[::1]:9464", true},              {"[::ffff:127.0.0.1]:1", true},
        {"[0:0:0:0:0:0:0:1]:1", true},     {":9464", false},
        {"0.0.0.0:9464", false},           {"[::]:9464", false},
        {"192.168.1.10:9464", false},      {"10.0.0.1:1", false},
        {"128.0.0.1:1", false},            {"126.255.255.255:1", false},
        {"[fe80::1]:1", false},            {"[::2]:1", false},
        {"[::ffff:10.0.0.1]:1", false},    {"example.com:80", false},
        {"localhost.example.com:1", false}, {"127.0.0.1", false}, /* invalid: no port */
        {"", false},                       {"[::1]", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool got = http_listen_is_loopback(cases[i].listen);
        CU_ASSERT_EQUAL(got, cases[i].loopback);
        if (got != cases[i].loopback)
            printf("\n  loopback(%s) = %d", cases[i].listen ? cases[i].listen : "NULL", got);
    }
}

/* A scratch directory under /tmp, removed (one level deep) by rm_tmpdir. */
static void make_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/jobhost-test-http-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
}

static void rm_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) < 0)
            rmdir(path);
    }
    closedir(d);
    rmdir(dir);
}

static void write_file(const char *dir, const char *name, const char *data, size_t len, mode_t mode,
                       char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_TRUE(write(fd, data, len) == (ssize_t)len);
    CU_ASSERT_EQUAL(fchmod(fd, mode), 0); /* whatever the umask */
    close(fd);
}

static void test_read_token_file(void)
{
    static const struct {
        const char *content;
        mode_t mode;
        int rc;
        const char *token; /* on success */
        const char *err;   /* on failure: the message after "token file PATH" */
    } cases[] = {
        {"tok-123\n", 0600, 0, "tok-123", NULL},
        {"tok-123", 0400, 0, "tok-123", NULL},
        {"tok-123 \r\n\t\n\n", 0600, 0, "tok-123", NULL},
        {"tok-123\n", 0644, -EPERM, NULL, " is readable by others (chmod 600)"},
        {"tok-123\n", 0640, -EPERM, NULL, " is readable by others (chmod 600)"},
        {"tok-123\n", 0604, -EPERM, NULL, " is readable by others (chmod 600)"},
        {"tok-123\n", 0620, -EPERM, NULL, " is readable by others (chmod 600)"},
        {"", 0600, -EINVAL, NULL, " is empty"},
        {" \n\n", 0600, -EINVAL, NULL, " is empty"},
        {"tok 123\n", 0600, -EINVAL, NULL,
         ": the token holds whitespace or a control character at byte 4"},
        {"tok\n123\n", 0600, -EINVAL, NULL,
         ": the token holds whitespace or a control character at byte 4"},
        {" tok\n", 0600, -EINVAL, NULL,
         ": the token holds whitespace or a control character at byte 1"},
    };
    char dir[64], path[256], want[512], err[512];
    char *tok;

    make_tmpdir(dir, sizeof dir);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        write_file(dir, "token", cases[i].content, strlen(cases[i].content), cases[i].mode, path,
                   sizeof path);
        err[0] = '\0';
        tok = (char *)"sentinel";
        int rc = http_read_token_file(path, &tok, err, sizeof err);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (rc != cases[i].rc)
            printf("\n  token case %zu: rc %d (%s)", i, rc, err);
        if (cases[i].rc == 0) {
            CU_ASSERT_TRUE(tok && strcmp(tok, cases[i].token) == 0);
        } else {
            CU_ASSERT_PTR_NULL(tok);
            snprintf(want, sizeof want, "token file %s%s", path, cases[i].err);
            CU_ASSERT_STRING_EQUAL(err, want);
        }
        free(tok == (char *)"sentinel" ? NULL : tok);
    }

    /* too long */
    char big[5000];
    memset(big, 'a', sizeof big);
    write_file(dir, "token", big, sizeof big, 0600, path, sizeof path);
    CU_ASSERT_EQUAL(http_read_token_file(path, &tok, err, sizeof err), -EFBIG);
    snprintf(want, sizeof want, "token file %s is too long (more than 4096 bytes)", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    write_file(dir, "token", big, 4096, 0600, path, sizeof path); /* exactly the limit */
    CU_ASSERT_EQUAL(http_read_token_file(path, &tok, err, sizeof err), 0);
    CU_ASSERT_TRUE(tok && strlen(tok) == 4096);
    free(tok);

    /* missing, a directory */
    snprintf(path, sizeof path, "%s/missing", dir);
    CU_ASSERT_EQUAL(http_read_token_file(path, &tok, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "token file %s: No such file or directory", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_PTR_NULL(tok);
    snprintf(path, sizeof path, "%s/sub", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    CU_ASSERT_EQUAL(http_read_token_file(path, &tok, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "token file %s is not a regular file", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    rm_tmpdir(dir);
}

static void test_read_file(void)
{
    char dir[64], path[256], want[512], err[512];
    char *text;

    make_tmpdir(dir, sizeof dir);
    write_file(dir, "a.pem", "-----BEGIN X-----\nabc\n-----END X-----\n", 38, 0644, path,
               sizeof path);
    CU_ASSERT_EQUAL(http_read_file(path, &text, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(text, "-----BEGIN X-----\nabc\n-----END X-----\n");
    free(text);
    write_file(dir, "empty", "", 0, 0600, path, sizeof path);
    CU_ASSERT_EQUAL(http_read_file(path, &text, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(text, "");
    free(text);

    /* 1 MiB is the limit; 1 MiB + 1 is refused */
    size_t big_len = 1024 * 1024 + 1;
    char *big = xmalloc(big_len);
    memset(big, 'k', big_len);
    write_file(dir, "big", big, big_len - 1, 0600, path, sizeof path);
    CU_ASSERT_EQUAL(http_read_file(path, &text, err, sizeof err), 0);
    CU_ASSERT_TRUE(text && strlen(text) == big_len - 1);
    free(text);
    write_file(dir, "big", big, big_len, 0600, path, sizeof path);
    CU_ASSERT_EQUAL(http_read_file(path, &text, err, sizeof err), -EFBIG);
    CU_ASSERT_PTR_NULL(text);
    snprintf(want, sizeof want, "cannot read %s: larger than 1048576 bytes", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    free(big);

    snprintf(path, sizeof path, "%s/missing", dir);
    CU_ASSERT_EQUAL(http_read_file(path, &text, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "cannot read %s: No such file or directory", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    /* a directory, like a FIFO, is not read at all */
    CU_ASSERT_EQUAL(http_read_file(dir, &text, err, sizeof err), -EINVAL);
    rm_tmpdir(dir);
}

/* --- hardening: the server ------------------------------------------------------------ */

/* libmicrohttpd's messages, counted (and kept off the test output). */
struct log_capture {
    pthread_mutex_t lock;
    int n;
    int suppressed; /* "N more ... suppressed" messages */
    char last[256];
};

static void capture_log(void *arg, const char *fmt, va_list ap)
{
    struct log_capture *lc = arg;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pthread_mutex_lock(&lc->lock);
    lc->n++;
    if (strstr(msg, "suppressed"))
        lc->suppressed++;
    memcpy(lc->last, msg, sizeof msg);
    pthread_mutex_unlock(&lc->lock);
}

static struct log_capture quiet = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct http_server *start_cfg(struct http_config *cfg)
{
    char err[512] = "";
    cfg->listen = "127.0.0.1:0";
    if (!cfg->log_fn) {
        cfg->log_fn = capture_log;
        cfg->log_arg = &quiet;
    }
    if (!cfg->routes) {
        cfg->routes = extra_routes;
        cfg->n_routes = ARRAY_SIZE(extra_routes);
    }
    struct http_server *s = http_start(cfg, err, sizeof err);
    if (!s)
        printf("\n  http_start: %s", err);
    return s;
}

/* Sends `len` bytes on a new connection (quietly stopping if the server
 * closes first) and reads one reply. False when none came. */
static bool exchange(int port, const char *data, size_t len, struct reply *r)
{
    int fd = dial(AF_INET, port);
    bool ok;

    memset(r, 0, sizeof *r);
    if (fd < 0)
        return false;
    send_all(fd, data, len);
    ok = read_reply(fd, false, r);
    close(fd);
    return ok;
}

static bool exchange_str(int port, const char *data, struct reply *r)
{
    return exchange(port, data, strlen(data), r);
}

/* A fresh request for /-/healthy answers 200 (retried a little: a closed
 * connection takes the server a moment to notice). */
static bool healthy(int port)
{
    for (int i = 0; i < 100; i++) {
        struct reply r;
        bool ok = get(port, "/-/healthy", NULL, &r) && r.status == 200;
        reply_free(&r);
        if (ok)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

static void test_token_server(void)
{
    struct http_config cfg = {.max_body = 1024, .token = "s3cr3t"};
    struct http_server *s = start_cfg(&cfg);
    struct reply r;
    struct buf req = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    CU_ASSERT_TRUE(get(port, "/-/healthy", NULL, &r) && r.status == 200);
    reply_free(&r);

    CU_ASSERT_TRUE_FATAL(request(AF_INET, port, "POST", "/-/reload", NULL, "hello", &r));
    CU_ASSERT_EQUAL(r.status, 401);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "WWW-Authenticate"), "Bearer realm=\"jobhost\"");
    CU_ASSERT_STRING_EQUAL(r.body.data, "401 unauthorized: bearer token required\n");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, port, "POST", "/-/reload",
                                 "Authorization: Bearer s3cr3\r\n", "hello", &r));
    CU_ASSERT_EQUAL(r.status, 401);
    CU_ASSERT_STRING_EQUAL(r.body.data, "401 unauthorized: invalid bearer token\n");
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, port, "POST", "/-/reload",
                                 "Authorization: Bearer s3cr3t\r\n", "hello", &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body.data, "got 5 bytes: hello\n");
    reply_free(&r);

    /* the gate comes before the body: an unauthenticated big upload is a
     * 401 (its body never read); with the token it is a 413 */
    buf_puts(&req, "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 262144\r\n\r\n");
    for (int i = 0; i < 262144 / 64; i++)
        buf_puts(&req, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    CU_ASSERT_TRUE(exchange(port, req.data, req.len, &r));
    CU_ASSERT_EQUAL(r.status, 401);
    reply_free(&r);
    buf_reset(&req);
    buf_puts(&req, "POST /-/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cr3t\r\n"
                   "Content-Length: 2048\r\n\r\n");
    for (int i = 0; i < 2048 / 64; i++)
        buf_puts(&req, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    CU_ASSERT_TRUE(exchange(port, req.data, req.len, &r));
    CU_ASSERT_EQUAL(r.status, 413);
    reply_free(&r);
    buf_free(&req);

    /* other mutating methods too; reads stay open */
    CU_ASSERT_TRUE_FATAL(request(AF_INET, port, "DELETE", "/api/v1/jobs/a", NULL, NULL, &r));
    CU_ASSERT_EQUAL(r.status, 401);
    reply_free(&r);
    CU_ASSERT_TRUE_FATAL(request(AF_INET, port, "HEAD", "/metrics", NULL, NULL, &r));
    CU_ASSERT_NOT_EQUAL(r.status, 401);
    reply_free(&r);
    http_stop(s);

    /* an empty token is a configuration error */
    char err[256];
    cfg = (struct http_config){.listen = "127.0.0.1:0", .token = ""};
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "listen 127.0.0.1:0: the bearer token is empty");
}

static void test_bad_requests_server(void)
{
    static const struct {
        const char *raw;
        int status; /* 0: any 4xx/5xx, or the connection closed without a reply */
    } cases[] = {
        {"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"BREW /pot HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nteapot", 501},
        {"get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"PATCH /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n", 405},
        {"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n", 505},
        {"GARBAGE\r\n\r\n", 0},
        {"\r\n\r\n\r\n", 0},
        {"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n", 0},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 0},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0},
        {"POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0},
        {"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 0}, /* a TLS ClientHello */
        {"GET /\x01\x02\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 0},
    };
    struct http_config cfg = {.max_body = 1024};
    struct http_server *s = start_cfg(&cfg);
    struct reply r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool ok = exchange_str(port, cases[i].raw, &r);
        if (cases[i].status) {
            CU_ASSERT_TRUE(ok && r.status == cases[i].status);
        } else {
            CU_ASSERT_TRUE(!ok || (r.status >= 400 && r.status <= 599));
        }
        if (getenv("HTTP_TEST_VERBOSE") ||
            (cases[i].status && (!ok || r.status != cases[i].status)))
            printf("\n  bad request %zu: %s %d", i, ok ? "reply" : "no reply", r.status);
        reply_free(&r);
    }
    /* the binary garbage a fuzzer would send: NUL bytes in the request line */
    static const char nul[] = "GET /met\0rics HTTP/1.1\r\nHost: x\r\n\r\n";
    bool ok = exchange(port, nul, sizeof nul - 1, &r);
    CU_ASSERT_TRUE(!ok || r.status >= 400);
    reply_free(&r);
    CU_ASSERT_TRUE(healthy(port));
    http_stop(s);
}

static void test_per_ip_limit(void)
{
    struct http_config cfg = {.per_ip_limit = 2};
    struct http_server *s = start_cfg(&cfg);
    const char *req = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
    struct reply r;
    int held[2];

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    /* two keep-alive connections, each proven accepted by a reply */
    for (int i = 0; i < 2; i++) {
        held[i] = dial(AF_INET, port);
        CU_ASSERT_TRUE_FATAL(held[i] >= 0);
        CU_ASSERT_TRUE_FATAL(send_all(held[i], req, strlen(req)));
        CU_ASSERT_TRUE_FATAL(read_reply(held[i], false, &r));
        CU_ASSERT_EQUAL(r.status, 200);
        reply_free(&r);
    }
    /* the third from the same address is accepted and closed at once */
    CU_ASSERT_FALSE(exchange_str(port, req, &r));
    reply_free(&r);
    CU_ASSERT_FALSE(exchange_str(port, req, &r));
    reply_free(&r);
    /* the held ones still work */
    CU_ASSERT_TRUE(send_all(held[0], req, strlen(req)) && read_reply(held[0], false, &r) &&
                   r.status == 200);
    reply_free(&r);
    /* one closed: room for another */
    close(held[0]);
    CU_ASSERT_TRUE(healthy(port));
    close(held[1]);
    http_stop(s);
}

/* "GET /-/healthy" with `n` bytes of header value (or of path when in_url). */
static void big_head(struct buf *b, size_t n, bool in_url, int n_headers)
{
    buf_reset(b);
    buf_puts(b, "GET /-/healthy");
    if (in_url) {
        buf_puts(b, "?q=");
        for (size_t i = 0; i < n; i++)
            buf_putc(b, 'u');
    }
    buf_puts(b, " HTTP/1.1\r\nHost: x\r\n");
    if (!in_url && n) {
        buf_puts(b, "X-Big: ");
        for (size_t i = 0; i < n; i++)
            buf_putc(b, 'h');
        buf_puts(b, "\r\n");
    }
    for (int i = 0; i < n_headers; i++)
        buf_printf(b, "X-H%05d: 0123456789\r\n", i);
    buf_puts(b, "Connection: close\r\n\r\n");
}

static void test_oversize_head(void)
{
    struct http_config cfg = {0};
    struct http_server *s = start_cfg(&cfg);
    struct reply r;
    struct buf b = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    big_head(&b, 4096, false, 0); /* an ordinary big header */
    CU_ASSERT_TRUE(exchange(port, b.data, b.len, &r) && r.status == 200);
    reply_free(&r);
    big_head(&b, 64 * 1024, false, 0);
    bool ok = exchange(port, b.data, b.len, &r);
    CU_ASSERT_TRUE(!ok || r.status == 431);
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  64 KiB header: %s %d", ok ? "reply" : "no reply", r.status);
    reply_free(&r);
    big_head(&b, 64 * 1024, true, 0);
    ok = exchange(port, b.data, b.len, &r);
    CU_ASSERT_TRUE(!ok || r.status == 414 || r.status == 431);
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  64 KiB URL: %s %d", ok ? "reply" : "no reply", r.status);
    reply_free(&r);
    big_head(&b, 0, false, 3000); /* many small headers */
    ok = exchange(port, b.data, b.len, &r);
    CU_ASSERT_TRUE(!ok || r.status == 431);
    reply_free(&r);
    CU_ASSERT_TRUE(healthy(port));
    http_stop(s);

    /* a smaller budget: 12 KiB of header no longer fits in 8 KiB */
    cfg = (struct http_config){.connection_memory = 8 * 1024};
    s = start_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    port = http_port(s);
    big_head(&b, 12 * 1024, false, 0);
    ok = exchange(port, b.data, b.len, &r);
    CU_ASSERT_TRUE(!ok || r.status == 431);
    reply_free(&r);
    big_head(&b, 1024, false, 0);
    CU_ASSERT_TRUE(exchange(port, b.data, b.len, &r) && r.status == 200);
    reply_free(&r);
    http_stop(s);
    buf_free(&b);
}

static void test_body_limits(void)
{
    struct http_config cfg = {.max_body = 1024};
    struct http_server *s = start_cfg(&cfg);
    struct reply r;
    struct buf b = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);

    /* declared too large: 413 at once */
    CU_ASSERT_TRUE(exchange_str(port,
                                "POST /-/reload HTTP/1.1\r\nHost: x\r\n"
                                "Content-Length: 10000000000\r\n\r\nabc",
                                &r));
    CU_ASSERT_EQUAL(r.status, 413);
    CU_ASSERT_STRING_EQUAL(r.body.data, "413 request body too large\n");
    reply_free(&r);

    /* chunked within the limit: served */
    buf_puts(&b, "POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n");
    for (int i = 0; i < 4; i++)
        buf_puts(&b, "80\r\n" /* 128 bytes */
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
    buf_puts(&b, "0\r\n\r\n");
    CU_ASSERT_TRUE(exchange(port, b.data, b.len, &r) && r.status == 200);
    CU_ASSERT_TRUE(r.body.data && strncmp(r.body.data, "got 512 bytes: ", 15) == 0);
    reply_free(&r);

    /* chunked past the limit: never a 200; the upload is cut off */
    buf_reset(&b);
    buf_puts(&b, "POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 64; i++)
        buf_puts(&b, "80\r\n"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
    buf_puts(&b, "0\r\n\r\n");
    bool ok = exchange(port, b.data, b.len, &r);
    CU_ASSERT_TRUE(!ok || r.status == 413);
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  chunked 8 KiB: %s %d", ok ? "reply" : "no reply", r.status);
    reply_free(&r);
    buf_free(&b);
    CU_ASSERT_TRUE(healthy(port));
    http_stop(s);
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Seconds from t0 until the server closes fd (recv gives 0 or an error). */
static double seconds_to_close(int fd, const struct timespec *t0)
{
    char c[256];
    while (recv(fd, c, sizeof c, 0) > 0)
        ;
    return since(t0);
}

static void test_idle_timeout(void)
{
    struct http_config cfg = {.connection_timeout = 1};
    struct http_server *s = start_cfg(&cfg);

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int silent = dial(AF_INET, port);
    int partial = dial(AF_INET, port);
    int trickle = dial(AF_INET, port);
    CU_ASSERT_TRUE_FATAL(silent >= 0 && partial >= 0 && trickle >= 0);
    const char *half = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    CU_ASSERT_TRUE(send_all(partial, half, strlen(half)));
    CU_ASSERT_TRUE(send_all(trickle, half, strlen(half)));
    /* a byte every 0.4 s keeps a connection alive past the 1 s timeout:
     * the timeout is an idle timeout (see http_server.h), the per-IP limit is what
     * bounds such clients */
    bool alive = true;
    for (int i = 0; i < 6 && alive; i++) {
        usleep(400 * 1000);
        alive = send(trickle, "x", 1, MSG_NOSIGNAL) == 1;
    }
    CU_ASSERT_TRUE(alive);
    double a = seconds_to_close(silent, &t0), b = seconds_to_close(partial, &t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double c = seconds_to_close(trickle, &t0);
    CU_ASSERT_TRUE(a > 0.5 && a < 10);
    CU_ASSERT_TRUE(b > 0.5 && b < 10);
    CU_ASSERT_TRUE(c > 0.5 && c < 10);
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  idle close after %.2f s and %.2f s; trickle closed %.2f s after its last byte",
               a, b, c);
    close(silent);
    close(partial);
    close(trickle);
    CU_ASSERT_TRUE(healthy(port));
    http_stop(s);
}

/* A flood of refused connections is a trickle of log messages. */
static void test_log_rate_limit(void)
{
    struct log_capture lc = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct http_config cfg = {.per_ip_limit = 1, .log_fn = capture_log, .log_arg = &lc};
    struct http_server *s = start_cfg(&cfg);
    const char *req = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
    struct reply r;
    struct timespec t0, t1;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    int held = dial(AF_INET, port);
    CU_ASSERT_TRUE_FATAL(held >= 0);
    CU_ASSERT_TRUE(send_all(held, req, strlen(req)) && read_reply(held, false, &r));
    reply_free(&r);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200; i++) {
        CU_ASSERT_FALSE(exchange_str(port, req, &r));
        reply_free(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(held);
    http_stop(s);
    pthread_mutex_lock(&lc.lock);
    int n = lc.n, suppressed = lc.suppressed;
    pthread_mutex_unlock(&lc.lock);
    long seconds = (long)(t1.tv_sec - t0.tv_sec) + 1;
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  %d messages (%d suppression notes) in %ld s: %s", n, suppressed, seconds,
               lc.last);
    CU_ASSERT_TRUE(n >= 1);
    CU_ASSERT_TRUE(n <= (int)(seconds + 1) * 21 + 2);
    CU_ASSERT_TRUE(suppressed >= 1);
}

/* --- streamed bodies ---------------------------------------------------------------- */

/* GET /big: BIG_PIECES pieces of 64 KiB of text, made only when the server
 * pulls them; counts what it made and how often a stream was freed. */
#define BIG_PIECE (64 * 1024)
#define BIG_PIECES 800 /* 50 MiB */

static atomic_size_t big_made[2]; /* bytes produced: [0] plain, [1] gzipped streams */
static atomic_int big_started, big_freed;

struct big_stream {
    int piece;
    bool gzip; /* the router gzips it */
};

/* Piece k: 2,048 lines of 32 bytes, "piece 000123 line 00042 ok tick\n"
 * (digits written by hand: the server thread makes gigabytes of these in
 * the slow-client test). */
static void big_piece(int k, struct buf *out)
{
    char line[33] = "piece 000000 line 00000 ok tick\n";

    for (int d = 11, v = k; d >= 6; d--, v /= 10)
        line[d] = (char)('0' + v % 10);
    buf_reserve(out, BIG_PIECE);
    for (int n = 0; n < BIG_PIECE / 32; n++) {
        for (int d = 22, v = n; d >= 18; d--, v /= 10)
            line[d] = (char)('0' + v % 10);
        memcpy(out->data + out->len + (size_t)n * 32, line, 32);
    }
    out->len += BIG_PIECE;
    out->data[out->len] = '\0';
}

static int big_next(void *state, struct buf *out)
{
    struct big_stream *bs = state;
    big_piece(bs->piece++, out);
    atomic_fetch_add(&big_made[bs->gzip], BIG_PIECE);
    return bs->piece < BIG_PIECES ? 1 : 0;
}

static void big_free(void *state)
{
    atomic_fetch_add(&big_freed, 1);
    free(state);
}

static void h_big(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct big_stream *bs = xcalloc(1, sizeof *bs);
    struct http_stream st = {big_next, big_free, bs};
    (void)arg;
    bs->gzip = http_accepts_gzip(http_request_header(req, "Accept-Encoding"));
    atomic_fetch_add(&big_started, 1);
    resp->content_type = "text/plain";
    http_response_stream(resp, &st);
}

static const struct http_route big_routes[] = {
    {"GET", "/big", HTTP_MATCH_EXACT, h_big, NULL, HTTP_ROUTE_GZIP},
};

static void big_digest(unsigned char out[32])
{
    struct sha256 h;
    struct buf piece = {0};

    sha256_init(&h);
    for (int k = 0; k < BIG_PIECES; k++) {
        buf_reset(&piece);
        big_piece(k, &piece);
        sha256_update(&h, piece.data, piece.len);
    }
    sha256_final(&h, out);
    buf_free(&piece);
}

static void digest_of(const struct buf *b, unsigned char out[32])
{
    struct sha256 h;
    sha256_init(&h);
    sha256_update(&h, b->data, b->len);
    sha256_final(&h, out);
}

/* Waits (up to `seconds`) until `counter` reaches `want`. */
static bool wait_count(atomic_int *counter, int want, double seconds)
{
    for (int i = 0; i < (int)(seconds * 100); i++) {
        if (atomic_load(counter) >= want)
            return true;
        usleep(10 * 1000);
    }
    return atomic_load(counter) >= want;
}

/* 50 MiB in 64 KiB pieces arrives whole, plain and gzipped, chunked. */
static void test_stream_big(void)
{
    struct http_config cfg = {.routes = big_routes, .n_routes = ARRAY_SIZE(big_routes)};
    struct http_server *s = start_cfg(&cfg);
    unsigned char want[32], got[32];
    struct reply r;
    struct buf plain = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    atomic_store(&big_started, 0);
    atomic_store(&big_freed, 0);
    big_digest(want);

    CU_ASSERT_TRUE_FATAL(get(port, "/big", NULL, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_TRUE(r.chunked);
    CU_ASSERT_PTR_NULL(reply_header(&r, "Content-Encoding"));
    CU_ASSERT_EQUAL(r.body.len, (size_t)BIG_PIECES * BIG_PIECE);
    digest_of(&r.body, got);
    CU_ASSERT_EQUAL(memcmp(got, want, 32), 0);
    reply_free(&r);

    CU_ASSERT_TRUE_FATAL(get(port, "/big", "Accept-Encoding: gzip\r\n", &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(reply_header(&r, "Content-Encoding"), "gzip");
    CU_ASSERT_TRUE(r.body.len < (size_t)BIG_PIECES * BIG_PIECE / 5);
    CU_ASSERT_TRUE(gunzip(&r.body, &plain));
    CU_ASSERT_EQUAL(plain.len, (size_t)BIG_PIECES * BIG_PIECE);
    digest_of(&plain, got);
    CU_ASSERT_EQUAL(memcmp(got, want, 32), 0);
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  50 MiB streamed: %zu bytes gzipped", r.body.len);
    reply_free(&r);
    buf_free(&plain);

    /* HEAD: headers only, the stream never pulled; the connection closes
     * rather than leave a keep-alive client guessing where the body ends */
    int fd = dial(AF_INET, port);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    const char *two = "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\nGET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
    CU_ASSERT_TRUE(send_all(fd, two, strlen(two)));
    CU_ASSERT_TRUE(read_reply(fd, true, &r));
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.body.len, 0); /* read to EOF: nothing after the headers */
    reply_free(&r);
    close(fd);

    CU_ASSERT_TRUE(wait_count(&big_freed, 3, 10));
    CU_ASSERT_EQUAL(atomic_load(&big_started), 3);
    http_stop(s);
    CU_ASSERT_EQUAL(atomic_load(&big_freed), 3);
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The most the kernel lets a socket's send buffer grow to. */
static size_t tcp_wmem_max(void)
{
    long lo = 0, def = 0, max = 4 * 1024 * 1024;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (f) {
        if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) != 3)
            max = 4 * 1024 * 1024;
        fclose(f);
    }
    return (size_t)max;
}

/* A connection whose receive buffer is fixed at 32 KiB (set before
 * connect, so the kernel does not grow it): what the server made for it
 * beyond that is what the server holds, not what sits in the socket. */
static int dial_small(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 32 * 1024;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ThreadSanitizer's shadow memory is resident too: four times as much. */
#if defined(__SANITIZE_THREAD__)
#define RSS_LIMIT_KIB (4 * 64 * 1024)
#else
#define RSS_LIMIT_KIB (64 * 1024)
#endif

/* 100 clients ask for 50 MiB each and never read: the server holds what
 * the sockets hold, plus a piece each, not 100 bodies. Each stream is freed
 * once its client goes away. */
static void test_stream_slow_clients(void)
{
    enum { CLIENTS = 100 };
    struct http_config cfg = {.routes = big_routes, .n_routes = ARRAY_SIZE(big_routes),
                              .connection_limit = CLIENTS + 20, .per_ip_limit = CLIENTS + 10,
                              .connection_timeout = 60};
    struct http_server *s = start_cfg(&cfg);
    int fds[CLIENTS];
    struct reply r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    atomic_store(&big_started, 0);
    atomic_store(&big_freed, 0);
    atomic_store(&big_made[0], 0);
    atomic_store(&big_made[1], 0);
    long before = rss_kib();
    for (int i = 0; i < CLIENTS; i++) {
        const char *req = i % 2 ? "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                                : "GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
        fds[i] = dial_small(port);
        CU_ASSERT_TRUE_FATAL(fds[i] >= 0);
        CU_ASSERT_TRUE(send_all(fds[i], req, strlen(req)));
    }
    CU_ASSERT_TRUE(wait_count(&big_started, CLIENTS, 20));
    /* until the sockets are full: nothing more is made for 0.5 s */
    size_t made = 0, plain = 0;
    for (int i = 0; i < 200; i++) {
        usleep(100 * 1000);
        size_t now = atomic_load(&big_made[0]) + atomic_load(&big_made[1]);
        if (now == made && i >= 5)
            break;
        made = now;
    }
    plain = atomic_load(&big_made[0]);
    long after = rss_kib();
    /* the server still answers at once */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_TRUE(get(port, "/-/healthy", NULL, &r) && r.status == 200);
    reply_free(&r);
    double took = since(&t0);
    printf("\n  %d clients not reading 50 MiB each: made %.2f MiB per plain client, %.1f MiB per"
           " gzip client (before compression); RSS +%ld MiB; /-/healthy in %.1f ms",
           CLIENTS, (double)plain / (CLIENTS / 2) / (1 << 20),
           (double)(made - plain) / (CLIENTS / 2) / (1 << 20), (after - before) / 1024,
           took * 1e3);
    CU_ASSERT_TRUE(after - before < RSS_LIMIT_KIB);
    /* A plain client got what its socket holds (the kernel grows the
     * server's send buffer up to tcp_wmem's maximum) and a piece or two,
     * nowhere near 50 MiB. */
    CU_ASSERT_TRUE(plain / (CLIENTS / 2) < tcp_wmem_max() + 1024 * 1024);
    CU_ASSERT_EQUAL(atomic_load(&big_freed), 0);
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    CU_ASSERT_TRUE(wait_count(&big_freed, CLIENTS, 20));
    http_stop(s);
    CU_ASSERT_EQUAL(atomic_load(&big_freed), CLIENTS);
}

/* --- deferred answers --------------------------------------------------------------- */

/* An answer given by another thread after `delay_ms`. */
struct later {
    pthread_t thread;
    struct http_deferred *d;
    int delay_ms;
    int rc; /* what http_deferred_answer returned */
};

#define MAX_LATER 64
static struct later laters[MAX_LATER];
static atomic_int n_laters;

static void *later_main(void *arg)
{
    struct later *l = arg;
    struct buf body = {0};

    usleep((useconds_t)l->delay_ms * 1000);
    buf_printf(&body, "answered after %d ms\n", l->delay_ms);
    l->rc = http_deferred_answer(l->d, 200, "text/plain; charset=utf-8", &body);
    return NULL;
}

/* POST /later?ms=N: deferred, answered by a new thread after N ms (0: at
 * once, racing the server's suspend). POST /inline: deferred and answered
 * before the handler returns. POST /never: deferred, answered by nobody
 * until the test says so (parked in `never`). */
static _Atomic(struct http_deferred *) never;

static void h_later(void *arg, const struct http_request *req, struct http_response *resp)
{
    const char *ms = http_request_arg(req, "ms");
    int i = atomic_fetch_add(&n_laters, 1);
    (void)arg;

    CU_ASSERT_FATAL(i < MAX_LATER);
    (void)http_response_header(resp, "X-Deferred", "yes");
    laters[i] = (struct later){.d = http_defer(resp), .delay_ms = ms ? atoi(ms) : 1000};
    CU_ASSERT_EQUAL(pthread_create(&laters[i].thread, NULL, later_main, &laters[i]), 0);
}

static void h_inline(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct buf body = {0};
    (void)arg;
    (void)req;
    buf_puts(&body, "{\"answered\":\"inline\"}\n");
    CU_ASSERT_EQUAL(http_deferred_answer(http_defer(resp), 200, "application/json", &body), 0);
}

static void h_never(void *arg, const struct http_request *req, struct http_response *resp)
{
    (void)arg;
    (void)req;
    atomic_store(&never, http_defer(resp));
}

static int tiny_metrics(void *arg, enum metrics_format f, struct http_stream *out)
{
    struct buf text = {0};
    (void)arg;
    (void)f;
    buf_puts(&text, "# TYPE up gauge\nup 1\n");
    http_stream_from_buf(out, &text, 0);
    return 0;
}

static const struct http_route later_routes[] = {
    {"POST", "/later", HTTP_MATCH_EXACT, h_later, NULL, HTTP_ROUTE_GZIP},
    {"POST", "/inline", HTTP_MATCH_EXACT, h_inline, NULL, 0},
    {"POST", "/never", HTTP_MATCH_EXACT, h_never, NULL, 0},
};

static void join_laters(void)
{
    for (int i = 0; i < atomic_load(&n_laters); i++)
        pthread_join(laters[i].thread, NULL);
    atomic_store(&n_laters, 0);
}

/* A request sent now whose reply is read later. */
static int send_request(int port, const char *method, const char *path, const char *extra)
{
    char req[512];
    int fd = dial(AF_INET, port);
    if (fd < 0)
        return -1;
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n%s\r\n",
             method, path, extra ? extra : "");
    if (!send_all(fd, req, strlen(req))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A handler answers from another thread after 1 s; meanwhile /-/healthy
 * and /metrics answer at once. */
static void test_deferred_answer(void)
{
    struct http_config cfg = {.routes = later_routes, .n_routes = ARRAY_SIZE(later_routes),
                              .metrics_fn = tiny_metrics};
    struct http_server *s = start_cfg(&cfg);
    struct timespec t0, t1;
    struct reply r;
    double slowest = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int slow = send_request(port, "POST", "/later?ms=1000", NULL);
    CU_ASSERT_TRUE_FATAL(slow >= 0);
    /* while it waits, the rest is served at once */
    for (int i = 0; i < 10; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CU_ASSERT_TRUE(get(port, i % 2 ? "/metrics" : "/-/healthy", NULL, &r) && r.status == 200);
        reply_free(&r);
        double took = since(&t1);
        slowest = took > slowest ? took : slowest;
        usleep(50 * 1000);
    }
    CU_ASSERT_TRUE(slowest < 0.05);
    CU_ASSERT_TRUE(read_reply(slow, false, &r));
    double waited = since(&t0);
    close(slow);
    CU_ASSERT_EQUAL(r.status, 200);
    ASSERT_STR(r.body.data, "answered after 1000 ms\n");
    ASSERT_STR(reply_header(&r, "X-Deferred"), "yes"); /* set by the handler before deferring */
    ASSERT_STR(reply_header(&r, "Vary"), "Accept-Encoding");
    CU_ASSERT_TRUE(waited >= 0.95 && waited < 5);
    printf("\n  deferred answer after %.2f s; /-/healthy and /metrics meanwhile in %.1f ms at"
           " most",
           waited, slowest * 1e3);
    reply_free(&r);

    /* gzipped on the answering thread, like an immediate answer */
    slow = send_request(port, "POST", "/later?ms=100", "Accept-Encoding: gzip\r\n");
    CU_ASSERT_TRUE(read_reply(slow, false, &r));
    close(slow);
    ASSERT_STR(reply_header(&r, "Content-Encoding"), "gzip");
    struct buf plain = {0};
    CU_ASSERT_TRUE(gunzip(&r.body, &plain));
    ASSERT_STR(plain.data, "answered after 100 ms\n");
    buf_free(&plain);
    reply_free(&r);

    /* answered before the handler returns; answered at once from another
     * thread (racing the server's suspend), many times, on keep-alive */
    CU_ASSERT_TRUE(request(AF_INET, port, "POST", "/inline", NULL, "", &r) && r.status == 200);
    ASSERT_STR(r.body.data, "{\"answered\":\"inline\"}\n");
    ASSERT_STR(reply_header(&r, "Content-Type"), "application/json");
    reply_free(&r);
    int fd = dial(AF_INET, port);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    for (int i = 0; i < 40; i++) {
        const char *req = "POST /later?ms=0 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        CU_ASSERT_TRUE_FATAL(send_all(fd, req, strlen(req)));
        CU_ASSERT_TRUE_FATAL(read_reply(fd, false, &r));
        CU_ASSERT_EQUAL(r.status, 200);
        ASSERT_STR(r.body.data, "answered after 0 ms\n");
        reply_free(&r);
    }
    close(fd);
    join_laters();
    for (int i = 0; i < MAX_LATER; i++)
        CU_ASSERT_EQUAL(laters[i].rc, 0);
    http_stop(s);
}

/* A client that goes away while its answer is pending; http_stop with an
 * answer still pending: 503, no hang, and the late answer is dropped. */
static void test_deferred_gone_and_stop(void)
{
    struct http_config cfg = {.routes = later_routes, .n_routes = ARRAY_SIZE(later_routes)};
    struct http_server *s = start_cfg(&cfg);
    struct reply r;
    struct timespec t0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    /* the client leaves before the answer: nothing leaks (ASan), the
     * server notices when it writes, and goes on */
    for (int i = 0; i < 5; i++) {
        int fd = send_request(port, "POST", "/later?ms=300", NULL);
        CU_ASSERT_TRUE(fd >= 0);
        usleep(20 * 1000);
        close(fd);
    }
    join_laters();
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(laters[i].rc, 0); /* the server could not know */
    CU_ASSERT_TRUE(healthy(port));

    /* http_stop while a request waits for an answer nobody has given */
    atomic_store(&never, NULL);
    int waiting = send_request(port, "POST", "/never", NULL);
    CU_ASSERT_TRUE_FATAL(waiting >= 0);
    for (int i = 0; i < 200 && !atomic_load(&never); i++)
        usleep(10 * 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(atomic_load(&never));
    /* and one that is answered while the server stops */
    int racing = send_request(port, "POST", "/later?ms=500", NULL);
    CU_ASSERT_TRUE(wait_count(&n_laters, 1, 5));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_stop(s);
    double took = since(&t0);
    CU_ASSERT_TRUE(took < 3);
    CU_ASSERT_TRUE(read_reply(waiting, false, &r));
    CU_ASSERT_EQUAL(r.status, 503);
    ASSERT_STR(r.body.data, "503 the server is shutting down\n");
    reply_free(&r);
    close(waiting);
    CU_ASSERT_TRUE(read_reply(racing, false, &r));
    CU_ASSERT_EQUAL(r.status, 503);
    reply_free(&r);
    close(racing);
    printf("\n  http_stop with two answers pending: %.0f ms, both answered 503", took * 1e3);
    /* the late answers are dropped, and say so */
    struct buf body = {0};
    buf_puts(&body, "too late\n");
    CU_ASSERT_EQUAL(http_deferred_answer(atomic_load(&never), 200, NULL, &body), -ECANCELED);
    CU_ASSERT_PTR_NULL(body.data); /* taken all the same */
    join_laters();
    CU_ASSERT_EQUAL(laters[0].rc, -ECANCELED);
}

/* --- TLS -------------------------------------------------------------------------- */

extern char **environ;

static bool in_path(const char *tool)
{
    const char *path = getenv("PATH");
    char full[512];

    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(full, sizeof full, "%.*s/%s", (int)n, p, tool);
        if (access(full, X_OK) == 0)
            return true;
        p += n;
        if (*p == ':')
            p++;
    }
    return false;
}

/* Runs argv (from PATH) with stdout to `out` and stderr to `errf` (NULL:
 * /dev/null); returns its exit status, or -1. */
static int run(char *const argv[], const char *out, const char *errf)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st, rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errf ? errf : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One request with curl over TLS: its exit status; *status and *body (the
 * caller frees) when it got a reply. */
static int curl_tls(const char *dir, int port, bool verify, const char *method, const char *extra,
                    const char *data, int *status, char **body)
{
    char url[128], resolve[64], cacert[300], out[300], code[300], errf[300], err[512];
    char *argv[24], *text = NULL;
    int n = 0, rc;

    snprintf(url, sizeof url, "https://localhost:%d/%s", port,
             strcmp(method, "POST") == 0 ? "-/reload" : "-/healthy");
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", port);
    snprintf(cacert, sizeof cacert, "%s/cert.pem", dir);
    snprintf(out, sizeof out, "%s/body", dir);
    snprintf(code, sizeof code, "%s/code", dir);
    snprintf(errf, sizeof errf, "%s/curl.err", dir);
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--max-time";
    argv[n++] = "30";
    argv[n++] = "--resolve";
    argv[n++] = resolve;
    if (verify) {
        argv[n++] = "--cacert";
        argv[n++] = cacert;
    }
    argv[n++] = "-X";
    argv[n++] = (char *)method;
    if (extra) {
        argv[n++] = "-H";
        argv[n++] = (char *)extra;
    }
    if (data) {
        argv[n++] = "--data-binary";
        argv[n++] = (char *)data;
    }
    argv[n++] = "-o";
    argv[n++] = out;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    argv[n++] = url;
    argv[n] = NULL;
    rc = run(argv, code, errf);
    *status = 0;
    *body = NULL;
    if (http_read_file(code, &text, err, sizeof err) == 0) {
        *status = atoi(text);
        free(text);
    }
    if (rc == 0)
        http_read_file(out, body, err, sizeof err);
    else if (http_read_file(errf, &text, err, sizeof err) == 0) {
        if (getenv("HTTP_TEST_VERBOSE"))
            printf("\n  curl exit %d: %s", rc, text);
        free(text);
    }
    return rc;
}

static void test_tls(void)
{
    char dir[64], cert_path[256], key_path[256], err[512];
    char *cert = NULL, *key = NULL, *body;
    int status;

    if (!http_tls_supported()) {
        printf("\n  SKIPPED: this libmicrohttpd has no TLS support (GnuTLS)");
        return;
    }
    if (!in_path("openssl") || !in_path("curl")) {
        printf("\n  SKIPPED: the TLS test needs `openssl` and `curl` (Debian packages openssl, curl)");
        return;
    }
    make_tmpdir(dir, sizeof dir);
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
    char *gen[] = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                   "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                   "-keyout", key_path, "-out", cert_path, NULL};
    CU_ASSERT_EQUAL_FATAL(run(gen, NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(http_read_file(cert_path, &cert, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(http_read_file(key_path, &key, err, sizeof err), 0);

    struct http_config cfg = {.cert_pem = cert, .key_pem = key, .token = "tls-token"};
    struct http_server *s = start_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);

    CU_ASSERT_EQUAL(curl_tls(dir, port, true, "GET", NULL, NULL, &status, &body), 0);
    CU_ASSERT_EQUAL(status, 200);
    CU_ASSERT_TRUE(body && strcmp(body, "jobhost is Healthy.\n") == 0);
    free(body);
    CU_ASSERT_EQUAL(curl_tls(dir, port, true, "POST", NULL, "hello", &status, &body), 0);
    CU_ASSERT_EQUAL(status, 401);
    free(body);
    CU_ASSERT_EQUAL(curl_tls(dir, port, true, "POST", "Authorization: Bearer tls-token", "hello",
                             &status, &body),
                    0);
    CU_ASSERT_EQUAL(status, 200);
    CU_ASSERT_TRUE(body && strcmp(body, "got 5 bytes: hello\n") == 0);
    free(body);
    /* the certificate is really in use: unknown to curl's default CAs */
    CU_ASSERT_NOT_EQUAL(curl_tls(dir, port, false, "GET", NULL, NULL, &status, &body), 0);
    free(body);
    /* plain HTTP on the TLS port gets no HTTP answer, and harms nothing */
    struct reply r;
    bool ok = exchange_str(port, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    CU_ASSERT_FALSE(ok && r.status == 200);
    reply_free(&r);
    CU_ASSERT_EQUAL(curl_tls(dir, port, true, "GET", NULL, NULL, &status, &body), 0);
    CU_ASSERT_EQUAL(status, 200);
    free(body);
    http_stop(s);

    /* start-up errors name the problem */
    cfg = (struct http_config){.listen = "127.0.0.1:0", .cert_pem = cert};
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "listen 127.0.0.1:0: TLS: cert_pem given without key_pem");
    cfg = (struct http_config){.listen = "127.0.0.1:0", .key_pem = key};
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "listen 127.0.0.1:0: TLS: key_pem given without cert_pem");
    cfg = (struct http_config){.listen = "127.0.0.1:0", .cert_pem = "not a certificate",
                               .key_pem = key, .log_fn = capture_log, .log_arg = &quiet};
    CU_ASSERT_PTR_NULL(http_start(&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "listen 127.0.0.1:0: cannot start the HTTP server"));
    if (getenv("HTTP_TEST_VERBOSE"))
        printf("\n  bad certificate: %s", err);

    explicit_bzero(key, strlen(key));
    free(key);
    free(cert);
    rm_tmpdir(dir);
}

/* --- suites ------------------------------------------------------------------------ */

/* --- a stream that waits: pieces handed over by another thread ------------ */

/* A feed: another thread adds pieces and wakes the connection. */
struct feed {
    pthread_mutex_t lock;
    struct buf queued;             /* lock: bytes not pulled yet */
    bool ended;                    /* lock: no more pieces */
    void (*wake)(void *arg);       /* lock: the server's (bind_wake) */
    void *wake_arg;
    atomic_int nexts, binds, frees;
};

static struct feed g_feed = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int feed_next(void *state, struct buf *out)
{
    struct feed *f = state;
    int rc;

    atomic_fetch_add(&f->nexts, 1);
    pthread_mutex_lock(&f->lock);
    buf_append(out, f->queued.data ? f->queued.data : "", f->queued.len);
    buf_reset(&f->queued);
    rc = f->ended ? 0 : out->len ? 1 : HTTP_STREAM_WAIT;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static void feed_bind_wake(void *state, void (*wake)(void *arg), void *arg)
{
    struct feed *f = state;

    atomic_fetch_add(&f->binds, 1);
    pthread_mutex_lock(&f->lock);
    f->wake = wake;
    f->wake_arg = arg;
    pthread_mutex_unlock(&f->lock);
}

static void feed_free(void *state)
{
    struct feed *f = state;
    pthread_mutex_lock(&f->lock);
    f->wake = NULL;
    pthread_mutex_unlock(&f->lock);
    atomic_fetch_add(&f->frees, 1);
}

/* Adds a piece (NULL: the end) and wakes the server. */
static void feed_push(struct feed *f, const char *text)
{
    pthread_mutex_lock(&f->lock);
    if (text)
        buf_puts(&f->queued, text);
    else
        f->ended = true;
    if (f->wake)
        f->wake(f->wake_arg);
    pthread_mutex_unlock(&f->lock);
}

static void h_feed(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct http_stream st = {feed_next, feed_free, &g_feed, feed_bind_wake};
    (void)arg;
    (void)req;
    resp->content_type = "text/event-stream";
    http_response_stream(resp, &st);
}

static const struct http_route feed_routes[] = {
    {"GET", "/feed", HTTP_MATCH_EXACT, h_feed, NULL, HTTP_ROUTE_GZIP},
};

static void *feed_writer(void *arg)
{
    struct feed *f = arg;
    for (int i = 0; i < 3; i++) {
        char piece[32];
        usleep(150 * 1000);
        snprintf(piece, sizeof piece, "piece %d\n", i);
        feed_push(f, piece);
    }
    usleep(150 * 1000);
    feed_push(f, NULL);
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Pieces that come later arrive in order, the connection costs no CPU
 * while it waits (it is suspended, not polled), it is never gzipped, and
 * http_stop ends a stream that waits. */
static void test_stream_waits(void)
{
    struct http_config cfg = {.routes = feed_routes, .n_routes = ARRAY_SIZE(feed_routes)};
    struct http_server *s = start_cfg(&cfg);
    struct reply r;
    pthread_t t;
    double cpu0;
    struct timespec t0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = http_port(s);
    g_feed.ended = false;
    atomic_store(&g_feed.frees, 0);
    atomic_store(&g_feed.nexts, 0);
    cpu0 = cpu_seconds();
    pthread_create(&t, NULL, feed_writer, &g_feed);
    CU_ASSERT_TRUE(get(port, "/feed", "Accept-Encoding: gzip\r\n", &r));
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_TRUE(r.chunked);
    CU_ASSERT_PTR_NULL(reply_header(&r, "Content-Encoding"));
    CU_ASSERT_TRUE(r.body.len == 24 && memcmp(r.body.data, "piece 0\npiece 1\npiece 2\n", 24) == 0);
    /* ~600 ms of waiting: a few pulls, not a spin */
    CU_ASSERT_TRUE(atomic_load(&g_feed.nexts) < 20);
    CU_ASSERT_TRUE(cpu_seconds() - cpu0 < 0.3);
    reply_free(&r);
    CU_ASSERT_TRUE(wait_count(&g_feed.frees, 1, 5));

    /* a client still waiting when the server stops: its body is cut off,
     * the connection closed, the stream freed */
    g_feed.ended = false;
    int fd = dial(AF_INET, port);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    const char *req = "GET /feed HTTP/1.1\r\nHost: x\r\n\r\n";
    CU_ASSERT_TRUE(send_all(fd, req, strlen(req)));
    for (int i = 0; i < 200 && atomic_load(&g_feed.binds) < 2; i++)
        usleep(10 * 1000);
    usleep(100 * 1000); /* parked by now */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_stop(s);
    CU_ASSERT_TRUE(since(&t0) < 2.0);
    CU_ASSERT_EQUAL(atomic_load(&g_feed.frees), 2);
    (void)read_reply(fd, true, &r); /* headers, then the end of the connection */
    CU_ASSERT_EQUAL(r.status, 200);
    reply_free(&r);
    close(fd);
    buf_free(&g_feed.queued);
}

static const struct cu_test pure_tests[] = {
    {"listen address: loopback or not", test_listen_loopback},
    {"token file: mode, empty, whitespace, size", test_read_token_file},
    {"PEM file reader: size limit, errors", test_read_file},
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
    {"paths are routed as sent: %2F and %00 stay in their segment", test_raw_path},
    {"streamed body: 50 MiB in 64 KiB pieces, plain and gzipped; HEAD", test_stream_big},
    {"100 clients that never read: memory bounded, streams freed", test_stream_slow_clients},
    {"a stream that waits: parked, woken from another thread, cut off by http_stop",
     test_stream_waits},
    {"deferred answer from another thread after 1 s; others served meanwhile", test_deferred_answer},
    {"deferred answer: client gone, http_stop answers 503 and drops late answers",
     test_deferred_gone_and_stop},
    {"keep-alive: three scrapes on one connection", test_keep_alive},
    {"listen forms: address, :port, host name, [::1], in use", test_listen_forms},
    {"start/stop leaks no descriptor", test_no_fd_leak},
    {"concurrent scrapes while workers record", test_concurrent_clients},
    {"bearer token: 401 before the body is read, 200 with it", test_token_server},
    {"malformed requests and bad methods harm nothing", test_bad_requests_server},
    {"per-IP connection limit", test_per_ip_limit},
    {"oversize request line and headers: 414/431", test_oversize_head},
    {"body limits: declared and chunked", test_body_limits},
    {"idle connections are closed (slowloris)", test_idle_timeout},
    {"libmicrohttpd messages are rate-limited", test_log_rate_limit},
    {"TLS with a self-signed certificate (openssl + curl)", test_tls},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"http_server: addresses and files", pure_tests},
    {"http_server", server_tests},
    {NULL, NULL},
};

CU_MAIN(suites)

