/*
 * client — libcurl for `jobhost ctl`. See client.h.
 */
#include "ctl/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_S 5

struct sink {
    struct ctl_reply *r;
    bool (*line)(void *, const char *); /* NULL: collect the body */
    void *arg;
    struct buf pending; /* a line not ended yet */
    bool stop;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;

    if (!s->line || s->r->status != 200) {
        buf_append(&s->r->body, data, len);
        return len;
    }
    buf_append(&s->pending, data, len);
    for (;;) {
        char *nl = s->pending.len ? memchr(s->pending.data, '\n', s->pending.len) : NULL;
        size_t used;
        if (!nl)
            break;
        *nl = '\0';
        used = (size_t)(nl - s->pending.data) + 1;
        if (!s->line(s->arg, s->pending.data)) {
            s->stop = true;
            return 0; /* curl stops: CURLE_WRITE_ERROR, which is ours */
        }
        memmove(s->pending.data, s->pending.data + used, s->pending.len - used);
        s->pending.len -= used;
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;

    if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
        const char *v = data + 13;
        size_t vlen;
        while (*v == ' ' || *v == '\t')
            v++;
        vlen = strcspn(v, "\r\n");
        snprintf(s->r->type, sizeof(s->r->type), "%.*s", (int)vlen, v);
    } else if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', len);
        if (sp)
            s->r->status = strtol(sp + 1, NULL, 10); /* the body callback needs it */
        s->r->type[0] = '\0';
    }
    return len;
}

static int perform(const struct ctl_client *c, const char *method, const char *path,
                   struct sink *s, char *err, size_t errlen)
{
    char url[2048], auth[4200], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    CURL *h;
    CURLcode rc;
    int ret = 0;

    h = curl_easy_init(); /* curl_global_init: ctl_main's */
    if (!h) {
        snprintf(err, errlen, "cannot set up libcurl");
        return CTL_TRANSPORT;
    }
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (c->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        headers = curl_slist_append(headers, auth);
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "jobhost-ctl/" JOBHOST_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    if (c->timeout_s)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    if (c->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, s);

    rc = curl_easy_perform(h);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s->stop)) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->r->status);
    } else {
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(rc);
        snprintf(err, errlen, "%s: %s", c->base, why);
        ret = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                      rc == CURLE_COULDNT_RESOLVE_PROXY ||
                      (rc == CURLE_OPERATION_TIMEDOUT && s->r->status == 0)
                  ? CTL_UNREACHABLE
                  : CTL_TRANSPORT;
    }
    if (s->r->body.len)
        buf_putc(&s->r->body, '\0'), s->r->body.len--; /* NUL-terminated, not counted */
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return ret;
}

int ctl_request(const struct ctl_client *c, const char *method, const char *path,
                struct ctl_reply *r, char *err, size_t errlen)
{
    struct sink s = {.r = r};

    memset(r, 0, sizeof(*r));
    return perform(c, method, path, &s, err, errlen);
}

int ctl_stream(const struct ctl_client *c, const char *path, bool (*line)(void *, const char *),
               void *arg, struct ctl_reply *r, char *err, size_t errlen)
{
    struct sink s = {.r = r, .line = line, .arg = arg};
    int rc;

    memset(r, 0, sizeof(*r));
    rc = perform(c, "GET", path, &s, err, errlen);
    if (rc == 0 && s.pending.len && !s.stop) { /* a last line without '\n' */
        buf_putc(&s.pending, '\0');
        (void)line(arg, s.pending.data); /* the end anyway */
    }
    buf_free(&s.pending);
    return rc;
}

void ctl_reply_free(struct ctl_reply *r)
{
    buf_free(&r->body);
}

bool ctl_no_route(const struct ctl_reply *r)
{
    return r->status == 404 && strncmp(r->type, "application/json", 16) != 0;
}

void ctl_escape(const char *s, struct buf *out)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~')
            buf_putc(out, (char)ch);
        else
            buf_printf(out, "%%%02X", ch);
    }
}
