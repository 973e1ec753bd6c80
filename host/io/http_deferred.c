/*
 * http_deferred — a one-shot meeting point between a handler's worker and
 * the HTTP server. See http_deferred.h.
 *
 * A handle has two references from birth: the answering side's (dropped by
 * http_deferred_answer) and the response's (moved to the server, dropped
 * when the request is over). Whichever drops last frees it, so neither side
 * needs to know whether the other is still there. Everything in the handle
 * is under its mutex. The wake callback runs under that mutex too: that is
 * what lets http_stop, which takes the mutex after marking each handle
 * answered, know that no other thread is still about to resume a
 * connection it is going to close.
 */
#include "io/http_deferred.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "io/http_stream.h"

struct http_deferred {
    pthread_mutex_t lock;
    int refs;              /* lock */
    bool answered;         /* lock: the handler's answer (or the server's 503) is in */
    bool gzip;             /* gzip the answer's body (resp->gzip at http_defer); fixed */
    struct http_response answer; /* lock: valid once answered */
    void (*wake)(void *cls);     /* lock: the server waits (see http_deferred_wait) */
    void *wake_cls;
};

static void destroy(struct http_deferred *d)
{
    http_response_free(&d->answer);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void http_deferred_release(struct http_deferred *d)
{
    bool last;

    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    last = --d->refs == 0;
    pthread_mutex_unlock(&d->lock);
    if (last)
        destroy(d);
}

struct http_deferred *http_defer(struct http_response *resp)
{
    struct http_deferred *d = xcalloc(1, sizeof *d);

    pthread_mutex_init(&d->lock, NULL);
    d->refs = 2;
    d->gzip = resp->gzip;
    http_response_init(&d->answer);
    http_deferred_release(resp->deferred); /* a second call replaces the first */
    resp->deferred = d;
    return d;
}

/* Marks the answer in and wakes the server if it waits. Under the lock. */
static void arrive_locked(struct http_deferred *d)
{
    d->answered = true;
    if (d->wake) {
        d->wake(d->wake_cls);
        d->wake = NULL;
    }
}

int http_deferred_answer(struct http_deferred *d, int status, const char *content_type,
                         struct buf *body)
{
    struct buf text = {0};
    bool gzipped = false, last;
    int rc = -ECANCELED;

    if (body) {
        text = *body;
        *body = (struct buf){0};
    }
    /* As the router does for an immediate answer: a 200 with a body. Done
     * before taking the lock (d->gzip never changes), so the server thread
     * never waits for zlib. A failure sends it plain: correct, only bigger. */
    if (d->gzip && status == 200 && text.len > 0) {
        struct buf z = {0};
        if (http_gzip(text.data, text.len, &z) == 0) {
            buf_free(&text);
            text = z;
            gzipped = true;
        } else {
            buf_free(&z);
        }
    }
    pthread_mutex_lock(&d->lock);
    if (!d->answered) {
        d->answer.status = status;
        d->answer.content_type = content_type ? content_type : "text/plain; charset=utf-8";
        d->answer.body = text;
        text = (struct buf){0};
        if (gzipped)
            (void)http_response_header(&d->answer, "Content-Encoding", "gzip"); /* valid */
        arrive_locked(d);
        rc = 0;
    }
    last = --d->refs == 0;
    pthread_mutex_unlock(&d->lock);
    buf_free(&text); /* dropped: the server answered first */
    if (last)
        destroy(d);
    return rc;
}

bool http_deferred_wait(struct http_deferred *d, void (*wake)(void *cls), void *cls)
{
    bool waits;

    pthread_mutex_lock(&d->lock);
    waits = !d->answered;
    if (waits) {
        d->wake = wake;
        d->wake_cls = cls;
    }
    pthread_mutex_unlock(&d->lock);
    return waits;
}

void http_deferred_cancel(struct http_deferred *d, int status, const char *text)
{
    pthread_mutex_lock(&d->lock);
    if (!d->answered) {
        d->answer.status = status;
        d->answer.content_type = "text/plain; charset=utf-8";
        buf_puts(&d->answer.body, text); /* a short error text: not gzipped */
        arrive_locked(d);
    }
    pthread_mutex_unlock(&d->lock);
}

void http_deferred_take(struct http_deferred *d, struct http_response *resp)
{
    const char *name, *value;

    pthread_mutex_lock(&d->lock);
    resp->status = d->answer.status;
    resp->content_type = d->answer.content_type;
    buf_free(&resp->body);
    resp->body = d->answer.body;
    d->answer.body = (struct buf){0};
    for (size_t i = 0; (value = http_response_header_at(&d->answer, i, &name)); i++)
        (void)http_response_header(resp, name, value); /* checked when first added */
    pthread_mutex_unlock(&d->lock);
}
