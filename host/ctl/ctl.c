/*
 * ctl — the commands of `jobhost ctl`. See ctl.h.
 *
 * Every command is one or a few requests to the daemon's API and a page
 * of text made from the JSON it answers (jansson), or that JSON itself
 * with --json. Errors name the request and what the daemon said. Runs on
 * the one thread of the command.
 */
#include "ctl/ctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/manifest.h"
#include "ctl/client.h"
#include "ctl/format.h"
#include "io/http_server.h"
#include "lib/logfmt.h"
#include "lib/units.h"

#define DEFAULT_URL "http://127.0.0.1:9464"
#define POLL_NS (200 * NS_PER_MS) /* --wait: between two looks */
#define SHOW_RUNS 5

static const char ctl_usage[] =
    "Usage: jobhost ctl [OPTIONS] COMMAND [ARG]\n"
    "\n"
    "Commands:\n"
    "  status                        version, uptime, manifest, last reload, node\n"
    "  list [-q]                     every job: next and last run, result, state\n"
    "                                (-q: only the job ids)\n"
    "  show JOB                      a job's settings, next fire times, last runs\n"
    "  run JOB [--wait] [--dry-run]  run a job now; --wait: until it ends, exit 0\n"
    "                                on success, 1 otherwise\n"
    "  pause JOB, resume JOB         stop and start firing a job\n"
    "  history JOB [--limit N]       its runs, newest first (default 20)\n"
    "  logs RUN_ID [--follow]        the records of one run; --follow: as they come\n"
    "  reload                        reload the manifest, print what changed\n"
    "\n"
    "Options:\n"
    "  --url URL          the daemon (default: -c FILE's host.http.listen,\n"
    "                     else " DEFAULT_URL ")\n"
    "  -c, --config FILE  the daemon's manifest: its address, token file and\n"
    "                     certificate\n"
    "  --token-file FILE  a file holding the bearer token (mode 0600)\n"
    "  --json             the daemon's JSON instead of text\n"
    "  --timeout DURATION with --wait: give up after it (e.g. 10m; default none)\n"
    "\n"
    "Exit status: 0 done; 1 the daemon refused or the run failed; 2 usage\n"
    "error; 3 the daemon cannot be reached. Colours only on a terminal\n"
    "(NO_COLOR turns them off).\n";

struct ctl {
    struct ctl_client client;
    const char *command, *arg;
    bool json, wait, dry_run, follow, quiet;
    unsigned limit;
    int64_t timeout_ns;
    bool colour;
    unsigned width;
    char *cacert; /* owned: from -c */
};

/* --- talking ---------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / NS_PER_SEC), .tv_nsec = (long)(ns % NS_PER_SEC)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* What the daemon said, in one line: the JSON error, else the body. */
static void print_refusal(const char *method, const char *path, const struct ctl_reply *r)
{
    json_t *doc = r->body.data ? json_loads(r->body.data, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "error"));
    struct buf text = {0};

    if (!msg && r->body.data) {
        buf_puts(&text, r->body.data);
        while (text.len && (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == '\r'))
            text.data[--text.len] = '\0';
        msg = text.data;
    }
    fprintf(stderr, "jobhost ctl: %s %s: %ld %s\n", method, path, r->status, msg ? msg : "");
    if (r->status == 401)
        fprintf(stderr, "jobhost ctl: the daemon wants its bearer token: --token-file FILE, "
                        "or -c MANIFEST when its host.http.token_file is readable\n");
    buf_free(&text);
    json_decref(doc);
}

/* One request; on success (a 2xx with a JSON body) *doc holds it and 0 is
 * returned. Otherwise the reply is kept in *r (for the caller to look at
 * a 404 or 400) unless the daemon was not reached, and an exit status is
 * returned: 3 unreachable, 1 anything else. `quiet_status`: an HTTP status
 * the caller handles itself, not printed. */
static int call(struct ctl *c, const char *method, const char *path, json_t **doc,
                struct ctl_reply *r, long quiet_status)
{
    char err[1024];
    int rc = ctl_request(&c->client, method, path, r, err, sizeof(err));
    json_error_t jerr;

    *doc = NULL;
    if (rc < 0) {
        fprintf(stderr, "jobhost ctl: %s\n", err);
        if (rc == CTL_UNREACHABLE)
            fprintf(stderr, "jobhost ctl: is the daemon running? (--url URL, or -c MANIFEST)\n");
        return rc == CTL_UNREACHABLE ? CTL_EXIT_UNREACHABLE : CTL_EXIT_FAILED;
    }
    if (r->status < 200 || r->status > 299) {
        if (r->status != quiet_status)
            print_refusal(method, path, r);
        return CTL_EXIT_FAILED;
    }
    *doc = json_loads(r->body.data ? r->body.data : "", 0, &jerr);
    if (!*doc) {
        fprintf(stderr, "jobhost ctl: %s %s: the answer is not JSON: %s\n", method, path,
                jerr.text);
        return CTL_EXIT_FAILED;
    }
    return 0;
}

static void print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    fputc('\n', stdout);
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void job_path(struct buf *b, const char *id, const char *tail)
{
    buf_reset(b);
    buf_puts(b, "/api/v1/jobs/");
    ctl_escape(id, b);
    if (tail)
        buf_puts(b, tail);
}

static const char *paint(const struct ctl *c, const char *name)
{
    return c->colour ? ctl_colour_of(name) : "";
}

static const char *reset(const struct ctl *c, const char *name)
{
    return c->colour && *ctl_colour_of(name) ? "\033[0m" : "";
}

/* --- status ------------------------------------------------------------------------------ */

static int cmd_status(struct ctl *c)
{
    struct ctl_reply r;
    json_t *doc, *reload;
    char a[CTL_TEXT_MAX], b[CTL_TEXT_MAX];
    int rc = call(c, "GET", "/api/v1/status", &doc, &r, 0);
    double up;

    if (rc)
        goto out;
    if (c->json) {
        print_json(doc);
        goto out;
    }
    up = json_number_value(json_object_get(doc, "uptime_seconds"));
    printf("jobhost %s (plugin ABI %lld) on %s, pid %lld%s\n", str(doc, "version"),
           (long long)json_integer_value(json_object_get(doc, "abi")), str(doc, "node"),
           (long long)json_integer_value(json_object_get(doc, "pid")),
           json_is_true(json_object_get(doc, "dry_run")) ? ", dry run" : "");
    printf("  uptime:       %s (since %s)\n", ctl_span((int64_t)(up * 1e9), a, sizeof(a)),
           ctl_datetime(ctl_parse_time(str(doc, "started")), b, sizeof(b)));
    {
        long long jobs = json_integer_value(json_object_get(doc, "jobs"));
        long long plugins = json_integer_value(json_object_get(doc, "plugins"));
        long long workers = json_integer_value(json_object_get(doc, "workers"));
        printf("  manifest:     %s (%lld job%s, %lld plugin%s, %lld worker%s)\n",
               str(doc, "manifest"), jobs, jobs == 1 ? "" : "s", plugins, plugins == 1 ? "" : "s",
               workers, workers == 1 ? "" : "s");
    }
    reload = json_object_get(doc, "last_reload");
    if (json_is_object(reload)) {
        const char *result = str(reload, "result");
        json_t *errors = json_object_get(reload, "errors");
        printf("  last reload:  %s (%s): %s%s%s", ctl_datetime(ctl_parse_time(str(reload, "time")),
                                                               a, sizeof(a)),
               str(reload, "source"), paint(c, result), result, reset(c, result));
        if (json_array_size(errors))
            printf(", %zu error%s", json_array_size(errors),
                   json_array_size(errors) == 1 ? "" : "s");
        printf("\n");
        for (size_t i = 0; i < json_array_size(errors); i++)
            printf("                %s\n", json_string_value(json_array_get(errors, i)));
    } else {
        printf("  last reload:  none since the start\n");
    }
    printf("  auth:         %s\n", strcmp(str(doc, "auth"), "token") == 0 ? "bearer token"
                                   : strcmp(str(doc, "auth"), "read_only") == 0
                                       ? "read-only (beyond loopback without a token)"
                                       : "none (loopback)");
    printf("  url:          %s\n", c->client.base);
out:
    json_decref(doc);
    ctl_reply_free(&r);
    return rc;
}

/* --- list -------------------------------------------------------------------------------- */

static int by_next(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t nx = ctl_parse_time(str(x, "next_run")), ny = ctl_parse_time(str(y, "next_run"));

    if (nx != ny) {
        if (!nx || !ny)
            return nx ? -1 : 1; /* none last */
        return nx < ny ? -1 : 1;
    }
    return strcmp(str(x, "id"), str(y, "id"));
}

static int cmd_list(struct ctl *c)
{
    static const char *const heads[] = {"NEXT", "LEFT", "LAST", "PASSED",
                                        "JOB",  "RESULT", "STATE"};
    struct ctl_reply r;
    struct ctl_table t;
    json_t *doc, *jobs, **sorted = NULL;
    int64_t now = now_ns();
    size_t n;
    int rc = call(c, "GET", "/api/v1/jobs", &doc, &r, 0);

    if (rc)
        goto out;
    if (c->json) {
        print_json(doc);
        goto out;
    }
    jobs = json_object_get(doc, "jobs");
    n = json_array_size(jobs);
    if (c->quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", str(json_array_get(jobs, i), "id"));
        goto out;
    }
    sorted = xcalloc(n + 1, sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(jobs, i);
    qsort(sorted, n, sizeof(*sorted), by_next);
    ctl_table_init(&t, ARRAY_SIZE(heads), heads, 4);
    for (size_t i = 0; i < n; i++) {
        json_t *j = sorted[i], *last = json_object_get(j, "last_run");
        int64_t next = ctl_parse_time(str(j, "next_run"));
        int64_t started = ctl_parse_time(str(last, "started"));
        char nx[CTL_TEXT_MAX], left[CTL_TEXT_MAX], ls[CTL_TEXT_MAX], passed[CTL_TEXT_MAX + 8];
        char span[CTL_TEXT_MAX];
        const char *result = json_is_object(last) ? str(last, "result") : NULL;
        const char *state = str(j, "state");
        const char *cells[] = {ctl_when(next, now, nx, sizeof(nx)),
                               next ? ctl_span(next - now, left, sizeof(left)) : "-",
                               ctl_when(started, now, ls, sizeof(ls)),
                               NULL,
                               str(j, "id"),
                               result,
                               state};
        const char *colours[] = {NULL, NULL, NULL, NULL, NULL, ctl_colour_of(result),
                                 ctl_colour_of(state)};
        if (started) {
            snprintf(passed, sizeof(passed), "%s ago", ctl_span(now - started, span, sizeof(span)));
            cells[3] = passed;
        }
        ctl_table_add(&t, cells, colours);
    }
    ctl_table_print(&t, stdout, c->width, c->colour);
    ctl_table_free(&t);
    printf("\n%zu job%s listed.\n", n, n == 1 ? "" : "s");
out:
    free(sorted);
    json_decref(doc);
    ctl_reply_free(&r);
    return rc;
}

/* --- show, history ------------------------------------------------------------------------ */

/* The runs of a job from the run store, as a table; false when the daemon
 * keeps none (no such route). */
static bool print_runs(struct ctl *c, json_t *runs)
{
    static const char *const heads[] = {"RUN", "STARTED", "DURATION", "RESULT", "TRIGGER",
                                        "ERROR"};
    struct ctl_table t;
    int64_t now = now_ns();

    ctl_table_init(&t, ARRAY_SIZE(heads), heads, 5);
    t.right[2] = true;
    for (size_t i = 0; i < json_array_size(runs); i++) {
        json_t *run = json_array_get(runs, i);
        json_t *dur = json_object_get(run, "duration_seconds");
        const char *result = str(run, "result");
        char started[CTL_TEXT_MAX], d[CTL_TEXT_MAX];
        const char *cells[] = {str(run, "run_id"),
                               ctl_when(ctl_parse_time(str(run, "started")), now, started,
                                        sizeof(started)),
                               json_is_number(dur)
                                   ? ctl_duration(json_number_value(dur) * 1000, d, sizeof(d))
                                   : NULL,
                               result ? result : "running",
                               str(run, "trigger"),
                               str(run, "error") ? str(run, "error") : str(run, "reason")};
        const char *colours[] = {NULL, NULL, NULL, ctl_colour_of(result ? result : "running"),
                                 NULL, NULL};
        if (result && strcmp(result, "skipped") == 0) {
            cells[1] = ctl_when(ctl_parse_time(str(run, "scheduled")), now, started,
                                sizeof(started));
        }
        ctl_table_add(&t, cells, colours);
    }
    ctl_table_print(&t, stdout, c->width, c->colour);
    ctl_table_free(&t);
    return true;
}

static void print_last_run(struct ctl *c, json_t *last)
{
    char when[CTL_TEXT_MAX], d[CTL_TEXT_MAX];
    const char *result = str(last, "result");

    if (!json_is_object(last)) {
        printf("none\n");
        return;
    }
    printf("%s  %s  %s  %s%s%s", str(last, "run_id"),
           ctl_datetime(ctl_parse_time(str(last, "started")), when, sizeof(when)),
           ctl_duration(json_number_value(json_object_get(last, "duration_ms")), d, sizeof(d)),
           paint(c, result), result, reset(c, result));
    if (str(last, "error"))
        printf("  %s", str(last, "error"));
    printf("\n");
}

static int cmd_show(struct ctl *c)
{
    struct ctl_reply r, rr;
    struct buf path = {0};
    json_t *doc = NULL, *runs_doc = NULL, *spec, *params, *next;
    char a[CTL_TEXT_MAX], b[CTL_TEXT_MAX];
    int64_t now = now_ns();
    int rc;

    memset(&rr, 0, sizeof(rr));
    job_path(&path, c->arg, "?next=5");
    rc = call(c, "GET", path.data, &doc, &r, 0);
    if (rc)
        goto out;
    job_path(&path, c->arg, "/runs?limit=5");
    (void)call(c, "GET", path.data, &runs_doc, &rr, 404); /* a daemon without a store: 404 */
    if (c->json) {
        if (runs_doc)
            json_object_set(doc, "runs", json_object_get(runs_doc, "runs"));
        print_json(doc);
        goto out;
    }
    spec = json_object_get(doc, "spec");
    printf("%s%s%s %s — %s %s\n", paint(c, str(doc, "state")), "\xe2\x97\x8f",
           reset(c, str(doc, "state")), str(doc, "id"), str(doc, "plugin"),
           str(doc, "plugin_version"));
    printf("     schedule:  %s", str(doc, "trigger"));
    if (str(doc, "timezone") && !strstr(str(doc, "trigger"), str(doc, "timezone")))
        printf(" (%s)", str(doc, "timezone"));
    printf("\n        state:  %s%s%s", paint(c, str(doc, "state")), str(doc, "state"),
           reset(c, str(doc, "state")));
    printf(" (running %lld of at most %lld%s)\n",
           (long long)json_integer_value(json_object_get(doc, "running")),
           (long long)json_integer_value(json_object_get(doc, "max_instances")),
           json_integer_value(json_object_get(doc, "stuck")) ? ", some stuck" : "");
    printf("     settings: ");
    if (json_is_number(json_object_get(spec, "timeout_seconds")))
        printf(" timeout %s,",
               ctl_span((int64_t)(json_number_value(json_object_get(spec, "timeout_seconds")) * 1e9),
                        a, sizeof(a)));
    if (json_is_number(json_object_get(spec, "misfire_grace_seconds")))
        printf(" misfire grace %s,",
               ctl_span((int64_t)(json_number_value(json_object_get(spec, "misfire_grace_seconds")) *
                                  1e9),
                        a, sizeof(a)));
    if (json_is_number(json_object_get(spec, "jitter_seconds")))
        printf(" jitter %s,",
               ctl_span((int64_t)(json_number_value(json_object_get(spec, "jitter_seconds")) * 1e9),
                        a, sizeof(a)));
    printf(" %s, isolation %s%s%s\n",
           json_is_true(json_object_get(spec, "coalesce")) ? "coalesce" : "no coalesce",
           str(spec, "isolation"), str(spec, "log_level") ? ", log level " : "",
           str(spec, "log_level") ? str(spec, "log_level") : "");
    params = json_object_get(spec, "params");
    printf("       params:  ");
    for (size_t i = 0; i < json_array_size(params); i++)
        printf("%s%s", i ? ", " : "", json_string_value(json_array_get(params, i)));
    printf("%s\n", json_array_size(params) ? " (values in the manifest)" : "none");
    printf("     manifest:  %s:%lld\n", str(spec, "file"),
           (long long)json_integer_value(json_object_get(spec, "line")));
    next = json_object_get(doc, "next_runs");
    printf("    next runs:  ");
    if (!json_array_size(next))
        printf("none\n");
    for (size_t i = 0; i < json_array_size(next); i++) {
        int64_t t = ctl_parse_time(json_string_value(json_array_get(next, i)));
        printf("%s%s (in %s)\n", i ? "                " : "", ctl_datetime(t, a, sizeof(a)),
               ctl_span(t - now, b, sizeof(b)));
    }
    if (runs_doc && json_array_size(json_object_get(runs_doc, "runs"))) {
        printf("    last runs:\n");
        print_runs(c, json_object_get(runs_doc, "runs"));
    } else {
        printf("     last run:  ");
        print_last_run(c, json_object_get(doc, "last_run"));
    }
out:
    json_decref(doc);
    json_decref(runs_doc);
    ctl_reply_free(&r);
    ctl_reply_free(&rr);
    buf_free(&path);
    return rc;
}

static int cmd_history(struct ctl *c)
{
    struct ctl_reply r;
    struct buf path = {0};
    json_t *doc = NULL;
    int rc;

    job_path(&path, c->arg, NULL);
    buf_printf(&path, "/runs?limit=%u", c->limit);
    rc = call(c, "GET", path.data, &doc, &r, 404);
    if (rc == CTL_EXIT_FAILED && ctl_no_route(&r)) {
        fprintf(stderr, "jobhost ctl: this daemon keeps no run history (GET %s: no such "
                        "route); `jobhost ctl show %s` has its last run\n",
                path.data, c->arg);
    } else if (rc == CTL_EXIT_FAILED && r.status == 404) {
        print_refusal("GET", path.data, &r);
    }
    if (rc)
        goto out;
    if (c->json)
        print_json(doc);
    else if (!json_array_size(json_object_get(doc, "runs")))
        printf("%s: no runs recorded\n", c->arg);
    else
        print_runs(c, json_object_get(doc, "runs"));
out:
    json_decref(doc);
    ctl_reply_free(&r);
    buf_free(&path);
    return rc;
}

/* --- run, pause, resume ------------------------------------------------------------------ */

/* The end of our run, from the run store when the daemon has one, else
 * from the job's last run; NULL while it runs. `*lost`: a later run of the
 * job finished first and the daemon keeps no history: our result is gone. */
static json_t *run_outcome(struct ctl *c, const char *run_id, bool *store, bool *lost)
{
    struct ctl_reply r;
    struct buf path = {0};
    json_t *doc = NULL, *out = NULL;

    *lost = false;
    if (*store) {
        buf_puts(&path, "/api/v1/runs/");
        ctl_escape(run_id, &path);
        if (call(c, "GET", path.data, &doc, &r, 404) == 0) {
            if (!json_is_null(json_object_get(doc, "result")) && json_object_get(doc, "result")) {
                out = doc;
                doc = NULL;
            }
        } else if (ctl_no_route(&r)) {
            *store = false;
        }
        ctl_reply_free(&r);
        json_decref(doc);
        doc = NULL;
        if (out || *store)
            goto done;
    }
    job_path(&path, c->arg, NULL);
    if (call(c, "GET", path.data, &doc, &r, 0) == 0) {
        json_t *last = json_object_get(doc, "last_run");
        const char *id = str(last, "run_id");
        if (id && strcmp(id, run_id) == 0) {
            out = json_incref(last);
        } else if (id && strcmp(id, run_id) > 0 &&
                   json_integer_value(json_object_get(doc, "running")) == 0) {
            *lost = true;
        }
    }
    ctl_reply_free(&r);
done:
    json_decref(doc);
    buf_free(&path);
    return out;
}

static int cmd_run(struct ctl *c)
{
    struct ctl_reply r;
    struct buf path = {0};
    json_t *doc = NULL, *outcome = NULL;
    char run_id[32], d[CTL_TEXT_MAX];
    bool store = true, lost = false;
    int64_t deadline = c->timeout_ns ? now_ns() + c->timeout_ns : 0;
    int rc;

    job_path(&path, c->arg, c->dry_run ? "/run?dry_run=true" : "/run");
    rc = call(c, "POST", path.data, &doc, &r, 0);
    if (rc)
        goto out;
    snprintf(run_id, sizeof(run_id), "%s", str(doc, "run_id") ? str(doc, "run_id") : "");
    if (!c->wait) {
        if (c->json)
            print_json(doc);
        else
            printf("%s: run %s started%s\n", c->arg, run_id, c->dry_run ? " (dry run)" : "");
        goto out;
    }
    for (;;) {
        outcome = run_outcome(c, run_id, &store, &lost);
        if (outcome || lost)
            break;
        if (deadline && now_ns() > deadline) {
            fprintf(stderr, "jobhost ctl: %s: run %s still running after --timeout\n", c->arg,
                    run_id);
            rc = CTL_EXIT_FAILED;
            goto out;
        }
        sleep_ns(POLL_NS);
    }
    if (lost) {
        fprintf(stderr, "jobhost ctl: %s: run %s finished, but a later run finished before it "
                        "was seen and this daemon keeps no history: its result is unknown\n",
                c->arg, run_id);
        rc = CTL_EXIT_FAILED;
        goto out;
    }
    {
        const char *result = str(outcome, "result");
        json_t *dur = json_object_get(outcome, "duration_ms");
        double ms = json_is_number(dur)
                        ? json_number_value(dur)
                        : json_number_value(json_object_get(outcome, "duration_seconds")) * 1000;
        if (c->json) {
            print_json(outcome);
        } else {
            printf("%s: run %s %s%s%s in %s", c->arg, run_id, paint(c, result), result,
                   reset(c, result), ctl_duration(ms, d, sizeof(d)));
            if (str(outcome, "error"))
                printf(": %s", str(outcome, "error"));
            printf("\n");
        }
        rc = result && (strcmp(result, "success") == 0 || strcmp(result, "dry_run") == 0)
                 ? 0
                 : CTL_EXIT_FAILED;
    }
out:
    json_decref(outcome);
    json_decref(doc);
    ctl_reply_free(&r);
    buf_free(&path);
    return rc;
}

static int cmd_pause(struct ctl *c, bool pause)
{
    struct ctl_reply r;
    struct buf path = {0};
    json_t *doc = NULL;
    int rc;

    job_path(&path, c->arg, pause ? "/pause" : "/resume");
    rc = call(c, "POST", path.data, &doc, &r, 0);
    if (rc == 0) {
        if (c->json)
            print_json(doc);
        else
            printf("%s: %s (state %s)\n", c->arg, pause ? "paused" : "resumed", str(doc, "state"));
    }
    json_decref(doc);
    ctl_reply_free(&r);
    buf_free(&path);
    return rc;
}

/* --- logs -------------------------------------------------------------------------------- */

struct logs {
    struct ctl *c;
    unsigned n;
};

/* One record of the run store ({"ts","level","event","pairs":{...}}) as
 * the logfmt line it was. */
static bool print_record(void *arg, const char *line)
{
    struct logs *l = arg;
    json_t *rec = json_loads(line, 0, NULL), *pairs;
    struct buf out = {0};
    const char *key;
    json_t *v;

    if (!rec) {
        if (*line)
            printf("%s\n", line);
        return true;
    }
    if (l->c->json) {
        json_dumpf(rec, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    } else {
        logfmt_pair(&out, "ts", str(rec, "ts"));
        logfmt_pair(&out, "level", str(rec, "level"));
        logfmt_pair(&out, "event", str(rec, "event"));
        pairs = json_object_get(rec, "pairs");
        json_object_foreach(pairs, key, v)
        {
            char num[64];
            const char *text = json_string_value(v);
            if (!text && json_is_number(v)) {
                snprintf(num, sizeof(num), "%g", json_number_value(v));
                text = num;
            }
            logfmt_pair(&out, key, text ? text : "");
        }
        printf("%s\n", out.data ? out.data : "");
    }
    fflush(stdout);
    buf_free(&out);
    json_decref(rec);
    l->n++;
    return true;
}

static int cmd_logs(struct ctl *c)
{
    struct ctl_reply r;
    struct buf path = {0};
    struct logs l = {.c = c};
    char err[1024];
    int rc;

    buf_puts(&path, "/api/v1/runs/");
    ctl_escape(c->arg, &path);
    buf_puts(&path, c->follow ? "/output?follow=true" : "/output");
    if (c->follow)
        c->client.timeout_s = 0;
    rc = ctl_stream(&c->client, path.data, print_record, &l, &r, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "jobhost ctl: %s\n", err);
        rc = rc == CTL_UNREACHABLE ? CTL_EXIT_UNREACHABLE : CTL_EXIT_FAILED;
    } else if (r.status != 200) {
        if (ctl_no_route(&r))
            fprintf(stderr, "jobhost ctl: this daemon keeps no run history (GET %s: no such "
                            "route)\n",
                    path.data);
        else
            print_refusal("GET", path.data, &r);
        rc = CTL_EXIT_FAILED;
    } else {
        rc = 0;
    }
    ctl_reply_free(&r);
    buf_free(&path);
    return rc;
}

/* --- reload ------------------------------------------------------------------------------ */

static void print_ids(const char *label, json_t *list, json_t *count)
{
    size_t n = json_array_size(list);
    long long total = json_is_integer(count) ? json_integer_value(count) : (long long)n;

    printf("  %-18s", label);
    if (!n)
        printf("-");
    for (size_t i = 0; i < n && i < 20; i++)
        printf("%s%s", i ? ", " : "", json_string_value(json_array_get(list, i)));
    if ((long long)(n < 20 ? n : 20) < total)
        printf(" and %lld more", total - (long long)(n < 20 ? n : 20));
    printf("\n");
}

static int cmd_reload(struct ctl *c)
{
    struct ctl_reply r;
    json_t *doc = NULL, *jobs, *counts, *plugins, *list;
    char d[CTL_TEXT_MAX];
    int rc = call(c, "POST", "/-/reload", &doc, &r, 400);

    if (rc == CTL_EXIT_FAILED && r.status == 400) {
        /* refused: every error */
        json_t *refused = r.body.data ? json_loads(r.body.data, 0, NULL) : NULL;
        list = json_object_get(refused, "errors");
        if (c->json) {
            print_json(refused);
        } else {
            printf("reload %srefused%s (%zu error%s), the running configuration is unchanged:\n",
                   paint(c, "refused"), reset(c, "refused"), json_array_size(list),
                   json_array_size(list) == 1 ? "" : "s");
            for (size_t i = 0; i < json_array_size(list); i++)
                printf("  %s\n", json_string_value(json_array_get(list, i)));
        }
        json_decref(refused);
        goto out;
    }
    if (rc)
        goto out;
    if (c->json) {
        print_json(doc);
        goto out;
    }
    jobs = json_object_get(doc, "jobs");
    counts = json_object_get(doc, "job_counts");
    plugins = json_object_get(doc, "plugins");
    printf("reload %sapplied%s in %s\n", paint(c, "applied"), reset(c, "applied"),
           ctl_duration(json_number_value(json_object_get(doc, "duration_ms")), d, sizeof(d)));
    print_ids("jobs added:", json_object_get(jobs, "added"), json_object_get(counts, "added"));
    print_ids("jobs changed:", json_object_get(jobs, "changed"),
              json_object_get(counts, "changed"));
    print_ids("jobs removed:", json_object_get(jobs, "removed"),
              json_object_get(counts, "removed"));
    printf("  %-18s%lld\n", "jobs unchanged:",
           json_is_integer(json_object_get(counts, "unchanged"))
               ? (long long)json_integer_value(json_object_get(counts, "unchanged"))
               : (long long)json_array_size(json_object_get(jobs, "unchanged")));
    print_ids("plugins loaded:", json_object_get(plugins, "loaded"), NULL);
    print_ids("plugins unloaded:", json_object_get(plugins, "unloaded"), NULL);
    list = json_object_get(doc, "warnings");
    for (size_t i = 0; i < json_array_size(list); i++)
        printf("%s\n", json_string_value(json_array_get(list, i)));
out:
    json_decref(doc);
    ctl_reply_free(&r);
    return rc;
}

/* --- options ------------------------------------------------------------------------------ */

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "jobhost ctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nUsage: jobhost ctl [--url URL] [-c FILE] [--token-file FILE] [--json] "
                    "COMMAND [ARG]; see jobhost ctl --help\n");
    return CTL_EXIT_USAGE;
}

/* Where the daemon is and how to be let in, from its manifest. A manifest
 * with errors is still read for host.http: the daemon may be running the
 * previous one, and this is when its operator wants to look. */
static int from_manifest(struct ctl *c, const char *path, bool have_url, bool have_token)
{
    struct errors errs = {0};
    struct manifest *m = NULL;
    char err[512];
    int rc = 0;

    (void)manifest_load_flags(path, NULL, MANIFEST_KEEP_ON_ERROR, &m, &errs);
    if (!m) {
        fprintf(stderr, "jobhost ctl: %s", errs.text.data ? errs.text.data : "cannot read it\n");
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if (!have_url) {
        bool tls = m->host.http.cert_file != NULL;
        if (!m->host.http.enabled) {
            fprintf(stderr, "jobhost ctl: %s: host.http.enabled is false: the daemon serves no "
                            "API\n",
                    path);
            rc = CTL_EXIT_USAGE;
            goto out;
        }
        if (ctl_url_from_listen(m->host.http.listen ? m->host.http.listen : "127.0.0.1:9464",
                                tls, c->client.base, sizeof(c->client.base), err,
                                sizeof(err)) < 0) {
            fprintf(stderr, "jobhost ctl: %s: host.http.listen: %s\n", path, err);
            rc = CTL_EXIT_USAGE;
            goto out;
        }
        if (tls)
            c->cacert = xstrdup(m->host.http.cert_file); /* its own certificate is what to trust */
    }
    if (!have_token && m->host.http.token_file) {
        /* not readable (another user's daemon): go without, a 401 will say */
        (void)http_read_token_file(m->host.http.token_file, &c->client.token, err, sizeof(err));
    }
out:
    manifest_free(m);
    errors_free(&errs);
    return rc;
}

int ctl_main(int argc, char **argv)
{
    enum { OPT_URL = 256, OPT_TOKEN, OPT_JSON, OPT_WAIT, OPT_LIMIT, OPT_FOLLOW, OPT_TIMEOUT };
    static const struct option options[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"config", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, OPT_TOKEN},
        {"json", no_argument, NULL, OPT_JSON},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"dry-run", no_argument, NULL, 'n'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"follow", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *name;
        bool arg;
    } commands[] = {
        {"status", false}, {"list", false},    {"show", true}, {"run", true},    {"pause", true},
        {"resume", true},  {"history", true},  {"logs", true}, {"reload", false},
    };
    struct ctl c = {.limit = 20, .client = {.timeout_s = 30}};
    const char *config = NULL, *url = NULL, *token_file = NULL;
    bool needs_arg = false;
    int opt, rc;

    setlocale(LC_CTYPE, ""); /* only to know whether the terminal takes UTF-8 */
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:c:nfqh", options, NULL)) != -1 || optind < argc) {
        if (opt == -1) {
            const char *word = argv[optind++];
            if (!c.command) {
                size_t i;
                for (i = 0; i < ARRAY_SIZE(commands) && strcmp(word, commands[i].name); i++)
                    ;
                if (i == ARRAY_SIZE(commands))
                    return usage_error("unknown command \"%s\"", word);
                c.command = word;
                needs_arg = commands[i].arg;
            } else if (needs_arg && !c.arg) {
                c.arg = word;
            } else {
                return usage_error("unexpected argument \"%s\"", word);
            }
            continue;
        }
        switch (opt) {
        case OPT_URL:
            url = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case OPT_TOKEN:
            token_file = optarg;
            break;
        case OPT_JSON:
            c.json = true;
            break;
        case OPT_WAIT:
            c.wait = true;
            break;
        case 'n':
            c.dry_run = true;
            break;
        case 'f':
            c.follow = true;
            break;
        case 'q':
            c.quiet = true;
            break;
        case OPT_LIMIT: {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || n == 0 || n > 1000)
                return usage_error("--limit wants a number from 1 to 1000, got \"%s\"", optarg);
            c.limit = (unsigned)n;
            break;
        }
        case OPT_TIMEOUT:
            if (duration_parse(optarg, &c.timeout_ns) < 0 || c.timeout_ns <= 0)
                return usage_error("--timeout wants a duration (30s, 10m), got \"%s\"", optarg);
            break;
        case 'h':
            fputs(ctl_usage, stdout);
            return 0;
        case ':':
            return usage_error("option %s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (!c.command)
        return usage_error("%s", "a command is needed (status, list, show, run, pause, resume, "
                                 "history, logs, reload)");
    if (needs_arg && !c.arg)
        return usage_error(strcmp(c.command, "logs") == 0 ? "%s needs a run id"
                                                          : "%s needs a job id",
                           c.command);
    if ((c.wait || c.dry_run) && strcmp(c.command, "run") != 0)
        return usage_error("--wait and --dry-run are for run, not %s", c.command);
    if (c.follow && strcmp(c.command, "logs") != 0)
        return usage_error("--follow is for logs, not %s", c.command);

    snprintf(c.client.base, sizeof(c.client.base), "%s", DEFAULT_URL);
    if (url) {
        size_t n = strlen(url);
        while (n && url[n - 1] == '/')
            n--;
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
            return usage_error("--url wants http://HOST:PORT or https://HOST:PORT, got \"%s\"",
                               url);
        snprintf(c.client.base, sizeof(c.client.base), "%.*s", (int)n, url);
    }
    if (token_file) {
        char err[512];
        if (http_read_token_file(token_file, &c.client.token, err, sizeof(err)) < 0) {
            fprintf(stderr, "jobhost ctl: --token-file: %s\n", err);
            return CTL_EXIT_USAGE;
        }
    }
    if (config && (rc = from_manifest(&c, config, url != NULL, token_file != NULL)) != 0)
        goto out;
    c.client.cacert = c.cacert;
    c.colour = !c.json && ctl_colour(stdout);
    c.width = ctl_width(stdout);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(c.command, "status") == 0)
        rc = cmd_status(&c);
    else if (strcmp(c.command, "list") == 0)
        rc = cmd_list(&c);
    else if (strcmp(c.command, "show") == 0)
        rc = cmd_show(&c);
    else if (strcmp(c.command, "run") == 0)
        rc = cmd_run(&c);
    else if (strcmp(c.command, "pause") == 0 || strcmp(c.command, "resume") == 0)
        rc = cmd_pause(&c, strcmp(c.command, "pause") == 0);
    else if (strcmp(c.command, "history") == 0)
        rc = cmd_history(&c);
    else if (strcmp(c.command, "logs") == 0)
        rc = cmd_logs(&c);
    else
        rc = cmd_reload(&c);
    curl_global_cleanup();
out:
    if (c.client.token) {
        explicit_bzero(c.client.token, strlen(c.client.token));
        free(c.client.token);
    }
    free(c.cacert);
    return rc;
}
