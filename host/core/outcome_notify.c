/*
 * outcome_notify — outcomes into notifications and pings. See
 * outcome_notify.h.
 */
#include "core/outcome_notify.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/generation.h"
#include "core/metrics.h"
#include "core/record.h"
#include "core/run.h"
#include "lib/idtable.h"
#include "lib/trigger.h"
#include "lib/util.h"

/* What the observer keeps of one job with receivers. */
struct job_note {
    bool seeded;      /* last_failed was read from the job's last run */
    bool last_failed; /* its last finished run failed */
    char *tail[NOTIFY_TAIL_LINES]; /* its last records, a ring */
    size_t tail_next, tail_n;
};

struct outcome_notify {
    struct notify_sink sink;
    struct runtime *rt;
    pthread_mutex_t lock;  /* a leaf: guards `jobs` and its entries */
    struct idtable jobs;   /* job id (owned) -> struct job_note * */
};

const char *notify_kind_name(enum notify_kind k)
{
    return k == NOTIFY_KIND_PING ? "ping" : k == NOTIFY_KIND_NOTIFY ? "notify" : "unknown";
}

void notify_msg_free(struct notify_msg *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_headers; i++) {
        free(m->header_names[i]);
        free(m->header_values[i]);
        free(m->header_files[i]);
    }
    free(m->header_names);
    free(m->header_values);
    free(m->header_files);
    free(m->job);
    free(m->event);
    free(m->url);
    free(m->body);
    free(m->content_type);
    free(m);
}

static bool has_receivers(const struct job *job)
{
    return job->spec->notify || job->gen->manifest->host.notify;
}

/* Under lock: the job's note, made on first use. */
static struct job_note *note_of(struct outcome_notify *n, const struct job *job)
{
    struct job_note *e = idtable_get(&n->jobs, job->spec->id);

    if (!e) {
        e = xcalloc(1, sizeof(*e));
        (void)idtable_put(&n->jobs, xstrdup(job->spec->id), e); /* new: cannot fail */
    }
    if (!e->seeded) {
        /* the last finished run, as a restart restored it */
        struct job_last_run last;
        metrics_job_last(atomic_load(&job->state->metrics), &last);
        e->last_failed = last.ran && run_result_failed(last.result);
        e->seeded = true;
    }
    return e;
}

static void tail_clear(struct job_note *e)
{
    for (size_t i = 0; i < NOTIFY_TAIL_LINES; i++) {
        free(e->tail[i]);
        e->tail[i] = NULL;
    }
    e->tail_next = e->tail_n = 0;
}

static char *time_text(int64_t ns, char buf[RFC3339_BUFLEN])
{
    return ns > 0 ? rfc3339_format(ns, NULL, true, buf, RFC3339_BUFLEN) : NULL;
}

/* One message of `kind` to `url`, owning `body`. */
static struct notify_msg *msg_new(enum notify_kind kind, const char *job, const char *event,
                                  const char *url, const char *suffix, char *body,
                                  const char *content_type, int64_t timeout_ns,
                                  const struct manifest_notify *nt)
{
    struct notify_msg *m = xcalloc(1, sizeof(*m));
    size_t ul = strlen(url), sl = strlen(suffix);

    m->kind = kind;
    m->job = xstrdup(job);
    m->event = xstrdup(event);
    /* healthchecks.io: URL/start, URL/fail (one slash between) */
    m->url = xmalloc(ul + sl + 1);
    memcpy(m->url, url, ul);
    if (sl && ul && url[ul - 1] == '/' && suffix[0] == '/')
        ul--;
    memcpy(m->url + ul, suffix, sl + 1);
    m->body = body;
    m->content_type = xstrdup(content_type);
    m->timeout_ns = timeout_ns;
    if (nt && nt->n_headers) {
        m->n_headers = nt->n_headers;
        m->header_names = xcalloc(nt->n_headers, sizeof(char *));
        m->header_values = xcalloc(nt->n_headers, sizeof(char *));
        m->header_files = xcalloc(nt->n_headers, sizeof(char *));
        for (uint32_t i = 0; i < nt->n_headers; i++) {
            m->header_names[i] = xstrdup(nt->headers[i].name);
            m->header_values[i] = nt->headers[i].value ? xstrdup(nt->headers[i].value) : NULL;
            m->header_files[i] = nt->headers[i].file ? xstrdup(nt->headers[i].file) : NULL;
        }
    }
    return m;
}

/* The JSON body of a notification. */
static char *body_json(struct outcome_notify *n, const struct job *job, enum notify_event ev,
                       const struct run *run, const struct outcome_skip *skip, json_t *output)
{
    char sch[RFC3339_BUFLEN], st[RFC3339_BUFLEN], fin[RFC3339_BUFLEN];
    json_t *o;
    char *text;

    if (run) {
        bool done = ev != NOTIFY_START;
        o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:O}",
                      "event", notify_event_name(ev), "job_id", job->spec->id, "run_id",
                      run->id_text, "trigger", run_trigger_name(run->trigger), "attempt",
                      (json_int_t)run->attempt, "scheduled",
                      time_text(run->scheduled_wall_ns, sch), "started",
                      time_text(run->start_wall_ns, st), "finished",
                      done ? time_text(run->start_wall_ns + run->duration_ns, fin) : NULL,
                      "result", done ? run_result_name(run->result) : NULL, "error",
                      done && run->error[0] ? run->error : NULL, "node", n->sink.node, "output",
                      output);
    } else {
        o = json_pack("{s:s, s:s, s:n, s:n, s:n, s:s?, s:n, s:n, s:s, s:s, s:s?, s:O}", "event",
                      notify_event_name(ev), "job_id", job->spec->id, "run_id", "trigger",
                      "attempt", "scheduled", time_text(skip->scheduled_wall_ns, sch), "started",
                      "finished", "result", "skipped", "error", skip_reason_name(skip->reason),
                      "node", n->sink.node, "output", output);
    }
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text ? text : xstrdup("{}");
}

static void send_list(struct outcome_notify *n, const struct job *job, enum notify_event ev,
                      const struct run *run, const struct outcome_skip *skip, json_t *output,
                      const struct manifest_notify_list *list)
{
    for (size_t i = 0; list && i < list->n; i++) {
        const struct manifest_notify *nt = &list->items[i];
        if (!(nt->on & 1u << ev))
            continue;
        n->sink.send(n->sink.arg,
                     msg_new(NOTIFY_KIND_NOTIFY, job->spec->id, notify_event_name(ev), nt->url, "",
                             body_json(n, job, ev, run, skip, output), "application/json",
                             nt->timeout_ns, nt));
    }
}

/* Every receiver of the job and the host that asks for ev, and its ping. */
static void dispatch(struct outcome_notify *n, const struct job *job, enum notify_event ev,
                     const struct run *run, const struct outcome_skip *skip, json_t *output)
{
    const struct manifest_notify_list *own = job->spec->notify;
    const char *ping = own ? own->ping : NULL;

    send_list(n, job, ev, run, skip, output, own);
    send_list(n, job, ev, run, skip, output, job->gen->manifest->host.notify);
    if (ping && (ev == NOTIFY_START || ev == NOTIFY_SUCCESS || ev == NOTIFY_FAILURE)) {
        struct buf body = {0};
        for (size_t i = 0; i < json_array_size(output); i++)
            buf_printf(&body, "%s\n", json_string_value(json_array_get(output, i)));
        n->sink.send(n->sink.arg,
                     msg_new(NOTIFY_KIND_PING, job->spec->id, notify_event_name(ev), ping,
                             ev == NOTIFY_START ? "/start" : ev == NOTIFY_FAILURE ? "/fail" : "",
                             body.data ? body.data : xstrdup(""), "text/plain; charset=utf-8",
                             10 * INT64_C(1000000000), NULL));
    }
}

static void on_started(void *arg, const struct run *run)
{
    struct outcome_notify *n = arg;
    json_t *none;

    if (!has_receivers(run->job) || run->dry_run)
        return;
    pthread_mutex_lock(&n->lock);
    tail_clear(note_of(n, run->job));
    pthread_mutex_unlock(&n->lock);
    none = json_array();
    dispatch(n, run->job, NOTIFY_START, run, NULL, none);
    json_decref(none);
}

static void on_record(void *arg, const struct run *run, const struct outcome_record *rec)
{
    struct outcome_notify *n = arg;
    char num[RECORD_TEXT_MAX];
    struct buf line = {0};
    struct job_note *e;

    if (!has_receivers(run->job) || run->dry_run)
        return;
    buf_puts(&line, rec->event);
    for (size_t i = 0; i < rec->n_pairs; i++)
        buf_printf(&line, " %s=%s", rec->pairs[i].key, record_value_text(&rec->pairs[i], num));
    pthread_mutex_lock(&n->lock);
    e = note_of(n, run->job);
    free(e->tail[e->tail_next]);
    e->tail[e->tail_next] = line.data; /* the ring's now */
    e->tail_next = (e->tail_next + 1) % NOTIFY_TAIL_LINES;
    if (e->tail_n < NOTIFY_TAIL_LINES)
        e->tail_n++;
    pthread_mutex_unlock(&n->lock);
}

static void on_finished(void *arg, const struct run *run)
{
    struct outcome_notify *n = arg;
    bool failed = run_result_failed(run->result), was_failed;
    json_t *output;
    struct job_note *e;

    if (!has_receivers(run->job) || run->dry_run || run->result == RUN_CANCELLED ||
        run->result == RUN_DRY_RUN)
        return;
    output = json_array();
    pthread_mutex_lock(&n->lock);
    e = note_of(n, run->job);
    was_failed = e->last_failed;
    e->last_failed = failed;
    for (size_t i = 0; i < e->tail_n; i++) {
        size_t at = (e->tail_next + NOTIFY_TAIL_LINES - e->tail_n + i) % NOTIFY_TAIL_LINES;
        json_array_append_new(output, json_string(e->tail[at]));
    }
    pthread_mutex_unlock(&n->lock);
    if (failed) {
        dispatch(n, run->job, NOTIFY_FAILURE, run, NULL, output);
    } else if (run->result == RUN_SUCCESS) {
        dispatch(n, run->job, NOTIFY_SUCCESS, run, NULL, output);
        if (was_failed)
            dispatch(n, run->job, NOTIFY_RECOVERY, run, NULL, output);
    }
    json_decref(output);
}

static void on_skipped(void *arg, struct job *job, const struct outcome_skip *skip)
{
    struct outcome_notify *n = arg;
    json_t *none;

    if (!has_receivers(job))
        return;
    none = json_array();
    dispatch(n, job, NOTIFY_SKIPPED, NULL, skip, none);
    json_decref(none);
}

const struct outcome_observer outcome_notify = {
    .name = "notify",
    .skipped = on_skipped,
    .started = on_started,
    .record = on_record,
    .finished = on_finished,
};

struct outcome_notify *outcome_notify_new(const struct notify_sink *sink, struct runtime *rt)
{
    struct outcome_notify *n = xcalloc(1, sizeof(*n));

    n->sink = *sink;
    n->rt = rt;
    pthread_mutex_init(&n->lock, NULL);
    idtable_init(&n->jobs, 8);
    return n;
}

void outcome_notify_free(struct outcome_notify *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->jobs.cap; i++) {
        if (n->jobs.tags[i]) {
            struct job_note *e = n->jobs.slots[i].value;
            tail_clear(e);
            free(e);
            free((char *)n->jobs.slots[i].key);
        }
    }
    idtable_free(&n->jobs);
    pthread_mutex_destroy(&n->lock);
    free(n);
}
