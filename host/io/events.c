/*
 * events — the live feed of GET /api/v1/events. See events.h.
 *
 * DESIGN. Three kinds of threads meet here:
 *   - reporters (workers, the dispatcher, the executor: the outcome
 *     callbacks) copy a fixed-size record into `ring` under `lock`, a leaf
 *     lock held for a memcpy, and signal `wake`; when the ring is full the
 *     record is counted in `lost` instead. With no client connected
 *     (`clients` == 0) they do nothing at all.
 *   - the feed's thread ("jobhost-events") waits on `wake` (at most 15 s,
 *     the keepalive), takes the records out, makes each one an SSE event
 *     with jansson, and appends the text to every connection's queue under
 *     `clients_lock`, waking the connections that wait. A queue past
 *     QUEUE_MAX is emptied and its connection marked to resync; `lost`
 *     marks them all. The main thread's events_reload appends the same
 *     way.
 *   - the HTTP polling thread pulls each connection (conn_next, which
 *     answers HTTP_STREAM_WAIT when there is nothing: the server parks
 *     the connection until the wake it handed over with conn_bind_wake),
 *     and frees it when the connection goes (conn_free), all under
 *     `clients_lock`.
 * Lock order: clients_lock, then the HTTP server's pump lock (a wake
 * resumes the connection under clients_lock), then libmicrohttpd's.
 * `lock` is a leaf: nothing is taken under it, and it is never held with
 * clients_lock.
 */
#include "io/events.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/log.h"
#include "io/json_values.h"
#include "core/manifest.h"
#include "core/run.h"
#include "io/api.h"
#include "lib/trigger.h"
#include "lib/units.h"

#ifndef JOBHOST_VERSION
#define JOBHOST_VERSION "0.0.0"
#endif

#define RING_SLOTS 1024                     /* records between two turns of the thread */
#define QUEUE_MAX (256 * 1024)              /* bytes waiting for one slow client */
#define KEEPALIVE_NS (15 * NS_PER_SEC)      /* a comment on idle connections */
#define TAKE_MAX 64                         /* records formatted per turn */

enum ev_kind { EV_STARTED, EV_FINISHED, EV_SKIPPED };

/* What a reporter copies: everything the event says, nothing borrowed
 * (the job may be gone by the time the thread formats it). */
struct ev_item {
    uint8_t kind;     /* enum ev_kind */
    uint8_t code;     /* run_trigger (started), run_result (finished), skip_reason */
    bool dry_run;
    unsigned running; /* runs of the job executing after this */
    uint64_t run_id;
    uint64_t count;   /* skipped firings */
    int64_t time_ns;  /* start, end, or the skipped firing's time */
    int64_t started_ns;
    int64_t duration_ns;
    int64_t next_run_ns;
    const char *state; /* a static name (api_job_state) */
    char job[MANIFEST_ID_MAX + 1];
    char error[RUN_ERROR_MAX];
};

struct conn {
    struct events *ev;
    struct conn *prev, *next; /* clients_lock */
    struct buf out;           /* clients_lock: text not pulled yet */
    uint64_t dropped;         /* clients_lock: events dropped since the last resync */
    bool resync;              /* clients_lock: say resync before anything else */
    void (*wake)(void *cls);  /* clients_lock: the server's (bind_wake) */
    void *wake_cls;
};

struct events {
    /* reporters and the feed's thread */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ev_item *ring; /* RING_SLOTS records; lock */
    size_t head, tail;    /* lock: next to write, next to take (counters) */
    uint64_t lost;        /* lock: records that found the ring full */
    bool stop;            /* lock */
    pthread_t thread;     /* main thread */

    /* connections */
    pthread_mutex_t clients_lock;
    struct conn *conns; /* clients_lock */
    atomic_uint clients; /* how many; read by reporters without a lock */
};

/* --- reporters --------------------------------------------------------------------------- */

static void report(struct events *ev, const struct ev_item *it)
{
    pthread_mutex_lock(&ev->lock);
    if (ev->head - ev->tail < RING_SLOTS) {
        ev->ring[ev->head % RING_SLOTS] = *it;
        ev->head++;
    } else {
        ev->lost++;
    }
    pthread_cond_signal(&ev->wake);
    pthread_mutex_unlock(&ev->lock);
}

static bool listening(const struct events *ev)
{
    return atomic_load_explicit(&ev->clients, memory_order_relaxed) != 0;
}

static void fill_job(struct ev_item *it, const struct job *job)
{
    snprintf(it->job, sizeof(it->job), "%s", job->spec->id);
    it->running = atomic_load_explicit(&job->state->running, memory_order_relaxed);
    it->next_run_ns = atomic_load_explicit(&job->state->next_run_wall_ns, memory_order_relaxed);
    it->state = api_job_state(job);
}

static void on_started(void *arg, const struct run *run)
{
    struct events *ev = arg;
    struct ev_item it;

    if (!listening(ev))
        return;
    memset(&it, 0, offsetof(struct ev_item, job));
    it.kind = EV_STARTED;
    it.code = (uint8_t)run->trigger;
    it.dry_run = run->dry_run;
    it.run_id = run->id;
    it.time_ns = run->start_wall_ns;
    fill_job(&it, run->job);
    it.error[0] = '\0';
    report(ev, &it);
}

static void on_finished(void *arg, const struct run *run)
{
    struct events *ev = arg;
    struct ev_item it;

    if (!listening(ev))
        return;
    memset(&it, 0, offsetof(struct ev_item, job));
    it.kind = EV_FINISHED;
    it.code = (uint8_t)run->result;
    it.dry_run = run->dry_run;
    it.run_id = run->id;
    it.started_ns = run->start_wall_ns;
    it.duration_ns = run->duration_ns;
    it.time_ns = run->start_wall_ns + (run->duration_ns > 0 ? run->duration_ns : 0);
    fill_job(&it, run->job);
    snprintf(it.error, sizeof(it.error), "%s", run->error);
    report(ev, &it);
}

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    struct events *ev = arg;
    struct ev_item it;

    if (!listening(ev))
        return;
    memset(&it, 0, offsetof(struct ev_item, job));
    it.kind = EV_SKIPPED;
    it.code = (uint8_t)skip->reason;
    it.count = skip->count;
    it.time_ns = skip->scheduled_wall_ns;
    fill_job(&it, job);
    it.error[0] = '\0';
    report(ev, &it);
}

const struct outcome_observer events_observer = {
    .name = "events",
    .started = on_started,
    .skipped = on_skipped,
    .finished = on_finished,
};

/* --- formatting (the feed's thread) ------------------------------------------------------- */

/* "event: NAME\ndata: JSON\n\n" */
static void sse(struct buf *out, const char *name, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));

    if (text) {
        buf_printf(out, "event: %s\ndata: %s\n\n", name, text);
        free(text);
    }
    json_decref(doc);
}

static void format_item(const struct ev_item *it, struct buf *out)
{
    char run_id[RUN_ID_LEN];
    json_t *doc = json_object();

    json_object_set_new(doc, "job", json_string(it->job));
    if (it->kind != EV_SKIPPED) {
        run_id_format(it->run_id, run_id);
        json_object_set_new(doc, "run_id", json_string(run_id));
    }
    switch (it->kind) {
    case EV_STARTED:
        json_object_set_new(doc, "trigger", json_string(run_trigger_name(it->code)));
        json_object_set_new(doc, "dry_run", json_boolean(it->dry_run));
        json_object_set_new(doc, "time", json_time_or_null(it->time_ns));
        break;
    case EV_FINISHED:
        json_object_set_new(doc, "result", json_string(run_result_name(it->code)));
        json_object_set_new(doc, "duration_ms", json_real((double)it->duration_ns / 1e6));
        json_object_set_new(doc, "error", json_text_or_null(it->error));
        json_object_set_new(doc, "started", json_time_or_null(it->started_ns));
        json_object_set_new(doc, "time", json_time_or_null(it->time_ns));
        break;
    default:
        json_object_set_new(doc, "reason", json_string(skip_reason_name(it->code)));
        json_object_set_new(doc, "count", json_integer((json_int_t)it->count));
        json_object_set_new(doc, "scheduled", json_time_or_null(it->time_ns));
        break;
    }
    json_object_set_new(doc, "running", json_integer(it->running));
    json_object_set_new(doc, "next_run", json_time_or_null(it->next_run_ns));
    json_object_set_new(doc, "state", json_string(it->state ? it->state : "ok"));
    sse(out, it->kind == EV_STARTED ? "started" : it->kind == EV_FINISHED ? "finished" : "skipped",
        doc);
}

/* --- delivery (clients_lock) --------------------------------------------------------------- */

static void wake_locked(struct conn *c)
{
    if (c->wake)
        c->wake(c->wake_cls);
}

/* Appends `text` to every connection (`lost` > 0: tells each to resync
 * instead of what it missed). Under clients_lock. */
static void deliver_locked(struct events *ev, const char *text, size_t len, uint64_t lost)
{
    for (struct conn *c = ev->conns; c; c = c->next) {
        if (lost || c->out.len + len > QUEUE_MAX) {
            c->dropped += lost ? lost : 1;
            c->resync = true;
            buf_reset(&c->out); /* what it has not read is stale once it resyncs */
        } else if (!c->resync) {
            buf_append(&c->out, text, len);
        }
        wake_locked(c);
    }
}

static void deliver(struct events *ev, const char *text, size_t len, uint64_t lost)
{
    pthread_mutex_lock(&ev->clients_lock);
    deliver_locked(ev, text, len, lost);
    pthread_mutex_unlock(&ev->clients_lock);
}

static void *feed_main(void *arg)
{
    struct events *ev = arg;
    struct ev_item *batch = xcalloc(TAKE_MAX, sizeof(*batch));
    struct buf text = {0};
    int64_t next_keepalive = mono_ns() + KEEPALIVE_NS;

    pthread_setname_np(pthread_self(), "jobhost-events");
    for (;;) {
        size_t n = 0;
        uint64_t lost;
        bool keepalive;

        pthread_mutex_lock(&ev->lock);
        while (!ev->stop && ev->head == ev->tail && !ev->lost && mono_ns() < next_keepalive) {
            struct timespec until = {.tv_sec = (time_t)(next_keepalive / NS_PER_SEC),
                                     .tv_nsec = (long)(next_keepalive % NS_PER_SEC)};
            /* a timeout or a spurious wake: the loop looks again */
            (void)pthread_cond_timedwait(&ev->wake, &ev->lock, &until);
        }
        if (ev->stop) {
            pthread_mutex_unlock(&ev->lock);
            break;
        }
        while (n < TAKE_MAX && ev->tail != ev->head)
            batch[n++] = ev->ring[ev->tail++ % RING_SLOTS];
        lost = ev->lost;
        ev->lost = 0;
        pthread_mutex_unlock(&ev->lock);

        keepalive = mono_ns() >= next_keepalive;
        buf_reset(&text);
        for (size_t i = 0; i < n; i++)
            format_item(&batch[i], &text);
        if (keepalive) {
            buf_puts(&text, ": keepalive\n\n");
            next_keepalive = mono_ns() + KEEPALIVE_NS;
        }
        if (text.len || lost)
            deliver(ev, text.data ? text.data : "", text.len, lost);
    }
    buf_free(&text);
    free(batch);
    return NULL;
}

void events_reload(struct events *ev, int rc, const struct buf *summary)
{
    struct buf text = {0};
    size_t len = summary->len;

    if (!ev || !listening(ev))
        return;
    while (len && summary->data[len - 1] == '\n')
        len--;
    if (len)
        buf_printf(&text, "event: reload\ndata: %.*s\n\n", (int)len, summary->data);
    else
        buf_printf(&text, "event: reload\ndata: {\"status\":\"%s\"}\n\n",
                   rc == 0 ? "applied" : "refused");
    deliver(ev, text.data, text.len, 0);
    buf_free(&text);
}

/* --- connections (the HTTP polling thread) ------------------------------------------------- */

static int conn_next(void *state, struct buf *out)
{
    struct conn *c = state;
    struct events *ev = c->ev;
    int rc;

    pthread_mutex_lock(&ev->clients_lock);
    if (c->resync) {
        buf_printf(out, "event: resync\ndata: {\"dropped\":%llu}\n\n",
                   (unsigned long long)c->dropped);
        c->resync = false;
        c->dropped = 0;
    }
    if (c->out.len) {
        /* a piece at a time: what the server holds for a client that does
         * not read stays one piece, the rest counts against QUEUE_MAX (an
         * event cut in two is fine: the stream is read as a whole) */
        size_t n = c->out.len < HTTP_STREAM_PIECE ? c->out.len : HTTP_STREAM_PIECE;
        buf_append(out, c->out.data, n);
        memmove(c->out.data, c->out.data + n, c->out.len - n);
        c->out.len -= n;
    }
    rc = out->len ? 1 : HTTP_STREAM_WAIT;
    pthread_mutex_unlock(&ev->clients_lock);
    return rc;
}

/* The server's wake, handed over before the first pull; called whenever
 * the connection's queue gets something (a wake while the connection is
 * not parked is remembered by the server). Under clients_lock. */
static void conn_bind_wake(void *state, void (*wake)(void *arg), void *arg)
{
    struct conn *c = state;
    struct events *ev = c->ev;

    pthread_mutex_lock(&ev->clients_lock);
    c->wake = wake;
    c->wake_cls = arg;
    pthread_mutex_unlock(&ev->clients_lock);
}

static void conn_free(void *state)
{
    struct conn *c = state;
    struct events *ev = c->ev;

    pthread_mutex_lock(&ev->clients_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        ev->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_fetch_sub_explicit(&ev->clients, 1, memory_order_relaxed);
    pthread_mutex_unlock(&ev->clients_lock);
    buf_free(&c->out);
    free(c);
}

static void handle_events(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct events *ev = arg;
    struct conn *c = xcalloc(1, sizeof(*c));
    char when[RFC3339_BUFLEN];
    struct http_stream st = {conn_next, conn_free, c, conn_bind_wake};
    (void)req;

    c->ev = ev;
    /* the reconnection delay a browser's EventSource keeps, then hello */
    buf_printf(&c->out, "retry: 2000\n\nevent: hello\ndata: {\"version\":\"%s\",\"time\":\"%s\"}\n\n",
               JOBHOST_VERSION, rfc3339_format(wall_ns(), NULL, true, when, sizeof(when)));
    pthread_mutex_lock(&ev->clients_lock);
    c->next = ev->conns;
    if (ev->conns)
        ev->conns->prev = c;
    ev->conns = c;
    atomic_fetch_add_explicit(&ev->clients, 1, memory_order_relaxed);
    pthread_mutex_unlock(&ev->clients_lock);

    resp->content_type = "text/event-stream; charset=utf-8";
    (void)http_response_header(resp, "Cache-Control", "no-cache"); /* valid headers */
    (void)http_response_header(resp, "X-Accel-Buffering", "no");
    http_response_stream(resp, &st);
}

size_t events_routes(struct events *ev, struct http_route *routes)
{
    routes[0] = (struct http_route){"GET", "/api/v1/events", HTTP_MATCH_EXACT, handle_events, ev,
                                    0};
    return EVENTS_ROUTES;
}

/* --- life ------------------------------------------------------------------------------------ */

struct events *events_new(void)
{
    struct events *ev = xcalloc(1, sizeof(*ev));
    int rc;

    ev->ring = xcalloc(RING_SLOTS, sizeof(*ev->ring));
    pthread_mutex_init(&ev->lock, NULL);
    pthread_mutex_init(&ev->clients_lock, NULL);
    cond_init_mono(&ev->wake);
    atomic_init(&ev->clients, 0);
    rc = pthread_create(&ev->thread, NULL, feed_main, ev);
    if (rc != 0) {
        fprintf(stderr, "jobhost: cannot start the events thread: %s\n", strerror(rc));
        abort(); /* as out of memory: a host without threads cannot run jobs either */
    }
    return ev;
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->stop = true;
    pthread_cond_signal(&ev->wake);
    pthread_mutex_unlock(&ev->lock);
    pthread_join(ev->thread, NULL);
    pthread_mutex_lock(&ev->clients_lock);
    bool left = ev->conns != NULL;
    pthread_mutex_unlock(&ev->clients_lock);
    if (left)
        return; /* a server still holds connections: leave the feed to the exit */
    pthread_mutex_destroy(&ev->lock);
    pthread_mutex_destroy(&ev->clients_lock);
    pthread_cond_destroy(&ev->wake);
    free(ev->ring);
    free(ev);
}
