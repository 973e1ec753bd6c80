/*
 * ui — the status page's routes. See ui.h.
 *
 * Each file is answered with its ETag (made at build time from its
 * contents): a browser that has it asks with If-None-Match and gets a 304,
 * and "Cache-Control: no-cache" makes it ask every time, so a new binary's
 * page is seen at the next load. Text files are gzipped for a client that
 * takes it (the router does it: HTTP_ROUTE_GZIP).
 */
#include "io/ui.h"

#include <string.h>

#include "io/ui_assets.h"

#define UI_PREFIX "/ui/"

/* What the page may load: itself, from here. */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'";

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const struct ui_asset *find(const char *name)
{
    for (const struct ui_asset *a = ui_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static void serve(const struct ui_asset *a, const struct http_request *req,
                  struct http_response *resp)
{
    const char *inm = http_request_header(req, "If-None-Match");

    /* valid headers, all of them: tokens and values without CR or LF */
    (void)http_response_header(resp, "ETag", a->etag);
    (void)http_response_header(resp, "Cache-Control", "no-cache");
    (void)http_response_header(resp, "X-Content-Type-Options", "nosniff");
    (void)http_response_header(resp, "Referrer-Policy", "no-referrer");
    if (strcmp(a->name, "index.html") == 0) {
        (void)http_response_header(resp, "Content-Security-Policy", csp);
        (void)http_response_header(resp, "X-Frame-Options", "DENY");
    }
    resp->content_type = content_type(a->name);
    if (inm && strstr(inm, a->etag)) {
        resp->status = 304;
        return;
    }
    buf_append(&resp->body, a->data, a->len);
}

static void handle_page(void *arg, const struct http_request *req, struct http_response *resp)
{
    const struct ui_asset *a = find("index.html");
    (void)arg;

    if (!a) {
        resp->status = 404;
        buf_puts(&resp->body, "404 this build has no status page\n");
        return;
    }
    serve(a, req, resp);
}

static void handle_asset(void *arg, const struct http_request *req, struct http_response *resp)
{
    const char *name = req->path + strlen(UI_PREFIX);
    const struct ui_asset *a = strchr(name, '/') ? NULL : find(name);
    (void)arg;

    if (!a || strcmp(a->name, "index.html") == 0) {
        resp->status = 404;
        buf_puts(&resp->body, "404 page not found\n");
        return;
    }
    serve(a, req, resp);
}

size_t ui_routes(struct http_route *routes)
{
    routes[0] = (struct http_route){"GET", "/", HTTP_MATCH_EXACT, handle_page, NULL,
                                    HTTP_ROUTE_GZIP};
    routes[1] = (struct http_route){"GET", UI_PREFIX, HTTP_MATCH_PREFIX, handle_asset, NULL,
                                    HTTP_ROUTE_GZIP};
    return UI_ROUTES;
}
