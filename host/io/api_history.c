/*
 * api_history — run history routes. See api_history.h.
 */
#include "io/api_history.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/generation.h"
#include "core/history.h"
#include "core/reload.h"
#include "core/run.h"
#include "core/store.h"
#include "io/history_json.h"
#include "lib/trigger.h"
#include "lib/util.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000

static void reply(struct http_response *resp, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    resp->status = status;
    resp->content_type = "application/json";
    if (text) {
        buf_puts(&resp->body, text);
        buf_putc(&resp->body, '\n');
        free(text);
    }
    json_decref(doc);
}

static void reply_error(struct http_response *resp, int status, const char *message)
{
    reply(resp, status, json_pack("{s:s}", "error", message));
}

/* The read handle, opened on first use; NULL (and the answer given) when
 * there is none. Under api->reader_lock. */
static struct store_reader *reader(struct api *api, struct http_response *resp)
{
    char err[512] = "";
    int rc;

    if (!api->history) {
        reply_error(resp, 404, "no run store (host.store.enabled is false, or a dry run)");
        return NULL;
    }
    if (api->reader)
        return api->reader;
    rc = api->store_backend->open_reader(api->store_path, &api->reader, err, sizeof(err));
    if (rc < 0) {
        history_count_read_error(api->history);
        reply_error(resp, 503, err);
        return NULL;
    }
    return api->reader;
}

/* A read failed: the handle may be stale (a store file replaced): drop it. */
static void read_failed(struct api *api, struct http_response *resp, int rc)
{
    history_count_read_error(api->history);
    if (api->reader) {
        api->reader->ops->reader_close(api->reader);
        api->reader = NULL;
    }
    reply_error(resp, 503, rc == -EAGAIN ? "run store busy" : "run store read failed");
}

static int add_entry(void *arg, const struct store_entry *e)
{
    json_array_append_new(arg, history_entry_json(e));
    return 0;
}

static bool parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!text || !*text || *text == '-' || *text == '+')
        return false;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (*end || errno || v > max)
        return false;
    *out = v;
    return true;
}

/* GET /api/v1/jobs/{id}/runs: for a job configured now, or one the store
 * still knows. */
static void handle_job_runs(void *arg, const struct http_request *req,
                            struct http_response *resp)
{
    struct api *api = arg;
    char id[256];
    struct generation *g;
    bool configured;
    const char *limit = http_request_arg(req, "limit"), *before = http_request_arg(req, "before");
    const char *result = http_request_arg(req, "result");
    struct store_query q = {.limit = LIMIT_DEFAULT, .result = INT32_MIN};
    struct store_reader *r;
    unsigned long n;
    json_t *runs;
    int rc;

    if (http_request_param(req, id, sizeof(id)) <= 0) {
        reply_error(resp, 404, "no such job");
        return;
    }
    q.job_id = id;
    g = reloader_live(api->reloader);
    configured = generation_find_job(g, id) != NULL;
    generation_unref(g);
    if (limit) {
        if (!parse_uint(limit, LIMIT_MAX, &n) || n == 0) {
            reply_error(resp, 400, "limit: a whole number from 1 to 1000");
            return;
        }
        q.limit = (unsigned)n;
    }
    if (before && run_id_parse(before, &q.before) < 0) {
        reply_error(resp, 400, "before: a run id (16 hex digits)");
        return;
    }
    if (result && history_result_parse(result, &q.result) < 0) {
        reply_error(resp, 400, "result: one of success, failure, timeout, crashed, cancelled, "
                               "dry_run, interrupted, skipped, running");
        return;
    }
    pthread_mutex_lock(&api->reader_lock);
    if (!(r = reader(api, resp)))
        goto out;
    runs = json_array();
    rc = r->ops->list(r, &q, add_entry, runs);
    if (rc == -ENOENT && !configured) {
        json_decref(runs);
        reply_error(resp, 404, "no such job");
    } else if (rc < 0 && rc != -ENOENT) {
        json_decref(runs);
        read_failed(api, resp, rc);
    } else {
        reply(resp, 200, json_pack("{s:s, s:o}", "job_id", id, "runs", runs));
    }
out:
    pthread_mutex_unlock(&api->reader_lock);
}

struct one {
    json_t *row;
};

static int take_entry(void *arg, const struct store_entry *e)
{
    struct one *o = arg;
    o->row = history_entry_json(e);
    return 1;
}

static int add_record(void *arg, const struct store_record *rec)
{
    json_array_append_new(arg, history_record_json(rec));
    return 0;
}

static int line_record(void *arg, const struct store_record *rec)
{
    json_t *j = history_record_json(rec);
    char *text = json_dumps(j, JSON_COMPACT);

    if (text) {
        buf_puts(arg, text);
        buf_putc(arg, '\n');
        free(text);
    }
    json_decref(j);
    return 0;
}

/* --- follow=true: a run's output as it comes ---------------------------------- */

/* Records sent per piece at most, so one follower never holds the HTTP
 * thread long. */
#define FOLLOW_PIECE 256

/* One follower. Its stream runs on the HTTP thread; the wake comes from
 * the store's writer (api_history_committed) under api->follow_lock. */
struct api_follow {
    struct api *api;
    uint64_t run_id;
    uint32_t seq;  /* the next record to send */
    void (*wake)(void *arg); /* follow_lock */
    void *wake_arg;
    struct api_follow *prev, *next; /* follow_lock */
};

struct follow_piece {
    struct buf *out;
    uint32_t *seq;
    unsigned n;
};

static int follow_record(void *arg, const struct store_record *rec)
{
    struct follow_piece *p = arg;
    line_record(p->out, rec);
    *p->seq = rec->seq + 1;
    p->n++;
    return 0;
}

static int find_running(void *arg, const struct store_entry *e)
{
    *(bool *)arg = e->result == STORE_RESULT_RUNNING;
    return 1;
}

static int follow_next(void *state, struct buf *out)
{
    struct api_follow *f = state;
    struct api *api = f->api;
    struct follow_piece piece = {.out = out, .seq = &f->seq};
    bool running = false;
    struct store_reader *r;
    int rc = -EIO;

    pthread_mutex_lock(&api->reader_lock);
    r = api->reader;
    if (!r)
        goto out;
    /* finished or not, asked before the records: a record committed after
     * the run's end cannot be missed */
    if (r->ops->get(r, f->run_id, find_running, &running) < 0 ||
        r->ops->output(r, f->run_id, f->seq, FOLLOW_PIECE, follow_record, &piece) < 0)
        goto out;
    if (piece.n == FOLLOW_PIECE)
        rc = 1; /* more may be there already */
    else if (running)
        rc = piece.n ? 1 : HTTP_STREAM_WAIT;
    else
        rc = 0; /* finished, and its last record is out */
out:
    pthread_mutex_unlock(&api->reader_lock);
    if (rc == -EIO)
        history_count_read_error(api->history);
    return rc;
}

static void follow_bind(void *state, void (*wake)(void *arg), void *wake_arg)
{
    struct api_follow *f = state;
    struct api *api = f->api;

    pthread_mutex_lock(&api->follow_lock);
    f->wake = wake;
    f->wake_arg = wake_arg;
    f->next = api->followers;
    if (api->followers)
        api->followers->prev = f;
    api->followers = f;
    pthread_mutex_unlock(&api->follow_lock);
}

static void follow_free(void *state)
{
    struct api_follow *f = state;
    struct api *api = f->api;

    pthread_mutex_lock(&api->follow_lock);
    if (f->wake) {
        if (f->prev)
            f->prev->next = f->next;
        else
            api->followers = f->next;
        if (f->next)
            f->next->prev = f->prev;
    }
    pthread_mutex_unlock(&api->follow_lock);
    free(f);
}

void api_history_committed(void *arg)
{
    struct api *api = arg;

    pthread_mutex_lock(&api->follow_lock);
    for (struct api_follow *f = api->followers; f; f = f->next)
        f->wake(f->wake_arg);
    pthread_mutex_unlock(&api->follow_lock);
}

/* GET /api/v1/runs/{id} (with its output) and /api/v1/runs/{id}/output
 * (NDJSON). */
static void answer_run(struct api *api, const struct http_request *req,
                       struct http_response *resp, bool output_only)
{
    const char *follow = http_request_arg(req, "follow");
    char text[RUN_ID_LEN + 1];
    struct store_reader *r;
    struct one one = {0};
    uint64_t id;
    int rc;

    if (http_request_param(req, text, sizeof(text)) != RUN_ID_LEN - 1 ||
        run_id_parse(text, &id) < 0) {
        reply_error(resp, 404, "no such run");
        return;
    }
    pthread_mutex_lock(&api->reader_lock);
    if (!(r = reader(api, resp)))
        goto out;
    rc = r->ops->get(r, id, take_entry, &one);
    if (rc == -ENOENT) {
        reply_error(resp, 404, "no such run");
        goto out;
    }
    if (rc < 0) {
        read_failed(api, resp, rc);
        goto out;
    }
    if (output_only && follow && strcmp(follow, "true") == 0) {
        struct api_follow *f = xcalloc(1, sizeof(*f));
        struct http_stream st = {.next = follow_next, .free = follow_free,
                                 .bind_wake = follow_bind, .state = f};
        json_decref(one.row);
        f->api = api;
        f->run_id = id;
        resp->status = 200;
        resp->content_type = "application/x-ndjson";
        http_response_stream(resp, &st);
    } else if (output_only) {
        json_decref(one.row);
        rc = r->ops->output(r, id, 0, 0, line_record, &resp->body);
        if (rc < 0) {
            buf_reset(&resp->body);
            read_failed(api, resp, rc);
            goto out;
        }
        resp->status = 200;
        resp->content_type = "application/x-ndjson";
    } else {
        json_t *output = json_array();
        rc = r->ops->output(r, id, 0, 0, add_record, output);
        if (rc < 0) {
            json_decref(output);
            json_decref(one.row);
            read_failed(api, resp, rc);
            goto out;
        }
        json_object_set_new(one.row, "output", output);
        reply(resp, 200, one.row);
    }
out:
    pthread_mutex_unlock(&api->reader_lock);
}

static void handle_run(void *arg, const struct http_request *req, struct http_response *resp)
{
    answer_run(arg, req, resp, false);
}

static void handle_run_output(void *arg, const struct http_request *req,
                              struct http_response *resp)
{
    answer_run(arg, req, resp, true);
}

static int add_node(void *arg, const struct store_node *n)
{
    char started[RFC3339_BUFLEN], beat[RFC3339_BUFLEN], lease[RFC3339_BUFLEN],
        stopped[RFC3339_BUFLEN] = "";

    rfc3339_format(n->started_ns, NULL, true, started, sizeof(started));
    rfc3339_format(n->heartbeat_ns, NULL, true, beat, sizeof(beat));
    rfc3339_format(n->lease_until_ns, NULL, true, lease, sizeof(lease));
    if (n->stopped_ns)
        rfc3339_format(n->stopped_ns, NULL, true, stopped, sizeof(stopped));
    json_array_append_new(
        arg, json_pack("{s:s, s:s?, s:i, s:b, s:s, s:s, s:s, s:s?, s:I, s:s?}", "node",
                       n->name, "version", n->version, "pid", n->pid, "live", n->live,
                       "started", started, "last_heartbeat", beat, "lease_until", lease,
                       "stopped", n->stopped_ns ? stopped : NULL, "running",
                       (json_int_t)n->running, "manifest_sha256", n->manifest_sha256));
    return 0;
}

/* GET /api/v1/nodes: the nodes of a cluster, from the shared store. */
static void handle_nodes(void *arg, const struct http_request *req, struct http_response *resp)
{
    struct api *api = arg;
    struct store_reader *r;
    json_t *nodes;
    int rc;

    (void)req;
    pthread_mutex_lock(&api->reader_lock);
    if (!(r = reader(api, resp)))
        goto out;
    if (!r->ops->nodes) {
        reply_error(resp, 404, "not a cluster: this store is one node's (host.cluster)");
        goto out;
    }
    nodes = json_array();
    rc = r->ops->nodes(r, add_node, nodes);
    if (rc < 0) {
        json_decref(nodes);
        read_failed(api, resp, rc);
        goto out;
    }
    reply(resp, 200, json_pack("{s:o}", "nodes", nodes));
out:
    pthread_mutex_unlock(&api->reader_lock);
}

size_t api_history_routes(struct api *api, struct http_route *routes)
{
    const struct http_route list[API_HISTORY_ROUTES] = {
        {"GET", "/api/v1/jobs/{id}/runs", HTTP_MATCH_EXACT, handle_job_runs, api,
         HTTP_ROUTE_GZIP},
        {"GET", "/api/v1/runs/{id}", HTTP_MATCH_EXACT, handle_run, api, HTTP_ROUTE_GZIP},
        /* not gzipped: a follower's records go out as they come */
        {"GET", "/api/v1/runs/{id}/output", HTTP_MATCH_EXACT, handle_run_output, api, 0},
        {"GET", "/api/v1/nodes", HTTP_MATCH_EXACT, handle_nodes, api, 0},
    };
    memcpy(routes, list, sizeof(list));
    return API_HISTORY_ROUTES;
}

void api_history_close(struct api *api)
{
    pthread_mutex_lock(&api->reader_lock);
    if (api->reader)
        api->reader->ops->reader_close(api->reader);
    api->reader = NULL;
    pthread_mutex_unlock(&api->reader_lock);
}
