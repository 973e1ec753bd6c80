/*
 * manifest — the model: what the keys of a manifest mean (host:, jobs:,
 * triggers, params, defaults, include:) and the checks across jobs
 * (duplicate ids). See manifest.h.
 *
 * Each file is read in one pass over its YAML events (core/yamltree.c):
 * the items of `jobs:` are streamed, each job read against the schema
 * (core/schema.c) as soon as its entry is complete and its nodes dropped at
 * once, so the node tree of a 100,000-job file is never held whole. The
 * rest of the file (host:, include:) is small and read from the tree after.
 * Included files follow, each the same way but read apart, on as many
 * threads as there are CPUs (struct part), then joined in order: their
 * jobs appended, their strings and messages adopted, their ids checked
 * against every job before them.
 *
 * What stays is compact: every string and small array of a file sits in
 * one arena (the manifest's, or its chunk's for an included file;
 * manifest_free gives them back at once), strings that many jobs of a file
 * repeat (plugin names, trigger texts, parameters) are kept once, and the
 * jobs are one array. Duplicate ids are found with one hash table, in a
 * time linear in the number of jobs. A reload shares the chunk of every
 * included file whose bytes did not change (manifest_reload), so it parses
 * only what changed.
 */
#include "core/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/manifest_file.h"
#include "core/schema.h"
#include "core/yamltree.h"
#include "lib/idtable.h"
#include "lib/listen.h"
#include "lib/sha256.h"
#include "lib/tz.h"
#include "lib/units.h"

#define JOB_ID_MAX MANIFEST_ID_MAX

/* The ranges of the manifest's durations and times (README, "Ranges"): a
 * value outside is refused where it is written, so no clock arithmetic
 * meets an absurd one. */
#define DAY_NS (86400 * NS_PER_SEC)
#define INTERVAL_MIN_NS NS_PER_MS           /* the shortest interval: 1ms */
#define INTERVAL_MAX_NS (3650 * DAY_NS)     /* 10 years */
#define JOB_DURATION_MAX_NS (366 * DAY_NS)  /* timeout, misfire_grace, jitter, limits.cpu */
#define HOST_DURATION_MAX_NS DAY_NS         /* shutdown_timeout, drain_timeout, stuck_grace */
#define STORE_DURATION_MAX_NS (3650 * DAY_NS) /* store.max_age, store.keep_failures */
#define TIME_MIN_NS INT64_C(0)              /* 1970-01-01T00:00:00Z */
#define TIME_MAX_NS (INT64_C(7258118400) * NS_PER_SEC) /* 2200-01-01T00:00:00Z */
#define ADDRESS_SPACE_MIN (32u << 20)       /* a worker itself takes ~26 MiB of address space */
#define MAX_READERS 8 /* threads reading included files at once */

/* An `include:` entry of the manifest, kept once its tree is gone. */
struct include {
    char *pattern;
    int line, col;
    char path[32]; /* "include" or "include[3]" */
};

struct position {
    int line, col; /* 0: none */
};

/* The state of one load: the manifest being built and what finding
 * duplicates and sharing strings needs on the way. An included file is
 * read with a build of its own (struct part), which collects its jobs and
 * strings apart until they are joined to the manifest. */
struct build {
    struct schema s;
    struct manifest *m;
    struct arena nodes;      /* the current file's YAML nodes */
    size_t cap_jobs;         /* room in m->jobs */
    size_t cap_files;        /* room in m->files */
    const char *file;        /* the current file, as messages name it (in m->arena) */
    struct idtable shared;   /* string -> its one copy in m->arena */
    struct buf scratch;      /* the trigger text being put together */
    int64_t now_ns;          /* the wall clock at the start: what "past" means */
    struct include *includes;
    size_t n_includes;
    struct {                 /* files read so far, to refuse one read twice */
        dev_t dev;
        ino_t ino;
        size_t include; /* the include entry that named it; SIZE_MAX: the manifest */
    } *seen;
    size_t n_seen;
    const struct manifest *prev; /* the manifest a reload replaces, or NULL */
    struct idtable creds;    /* "user\ngroup" as written -> its struct manifest_creds */
    bool apart;              /* a part's build: ids are checked when joined */
    struct position *id_at;  /* then: where each job's id is written */
};

/* The one copy of s in the manifest: strings many jobs repeat cost once. */
static char *shared(struct build *b, const char *s)
{
    char *copy = idtable_get(&b->shared, s);

    if (copy)
        return copy;
    copy = arena_strdup(&b->m->arena, s);
    (void)idtable_put(&b->shared, copy, copy); /* absent: just looked up */
    return copy;
}

/* ---- host ------------------------------------------------------------------ */

static bool valid_name(const char *s, bool allow_dot);

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"cron", LOG_CRON},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static void parse_level(struct schema *s, const struct ynode *n, const char *path, int *level)
{
    int v;

    if (!schema_expect(s, n, YSCALAR, path))
        return;
    v = log_level_parse(n->text);
    if (v < 0)
        schema_error(s, n->line, n->col, path,
                     "unknown level \"%s\" (expected debug, info, warn or error)", n->text);
    else
        *level = v;
}

static void parse_syslog(struct schema *s, const struct ynode *n, const char *path,
                         struct manifest_host *h)
{
    static const char *const keys[] = {"enabled", "ident", "facility", NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "enabled"))) {
        schema_child_path(sub, sizeof(sub), path, "enabled");
        schema_bool(s, v, sub, &h->log.syslog);
    }
    if ((v = schema_get(n, "ident"))) {
        schema_child_path(sub, sizeof(sub), path, "ident");
        if (schema_string(s, v, sub, &h->log.ident) && h->log.ident[0] == '\0')
            schema_error(s, v->line, v->col, sub, "must not be empty");
    }
    if ((v = schema_get(n, "facility"))) {
        bool found = false;
        schema_child_path(sub, sizeof(sub), path, "facility");
        if (!schema_expect(s, v, YSCALAR, sub))
            return;
        for (size_t i = 0; i < ARRAY_SIZE(facilities); i++) {
            if (strcmp(facilities[i].name, v->text) == 0) {
                h->log.facility = facilities[i].value;
                found = true;
            }
        }
        if (!found)
            schema_error(s, v->line, v->col, sub,
                         "unknown facility \"%s\" (expected daemon, user, cron or local0-local7)",
                         v->text);
    }
}

static void parse_log_file(struct schema *s, const struct ynode *n, const char *path,
                           struct manifest_host *h)
{
    static const char *const keys[] = {"path", "max_size", "keep", "daily", NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (schema_is_null(n))
        return; /* file: ~ turns the file sink off */
    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "path"))) {
        schema_child_path(sub, sizeof(sub), path, "path");
        schema_path(s, v, sub, &h->log.file_path);
    } else {
        schema_error(s, n->line, n->col, path, "missing key \"path\"");
    }
    if ((v = schema_get(n, "max_size"))) {
        schema_child_path(sub, sizeof(sub), path, "max_size");
        schema_size(s, v, sub, &h->log.file_max_size);
    }
    if ((v = schema_get(n, "keep"))) {
        schema_child_path(sub, sizeof(sub), path, "keep");
        schema_uint(s, v, sub, 0, 1000, &h->log.file_keep);
    }
    if ((v = schema_get(n, "daily"))) {
        schema_child_path(sub, sizeof(sub), path, "daily");
        schema_bool(s, v, sub, &h->log.file_daily);
    }
}

static void parse_log(struct schema *s, const struct ynode *n, const char *path,
                      struct manifest_host *h)
{
    static const char *const keys[] = {"level", "syslog", "file", "stderr", "journald", NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "level"))) {
        schema_child_path(sub, sizeof(sub), path, "level");
        parse_level(s, v, sub, &h->log.level);
    }
    if ((v = schema_get(n, "syslog"))) {
        schema_child_path(sub, sizeof(sub), path, "syslog");
        parse_syslog(s, v, sub, h);
    }
    if ((v = schema_get(n, "file"))) {
        schema_child_path(sub, sizeof(sub), path, "file");
        parse_log_file(s, v, sub, h);
    }
    if ((v = schema_get(n, "stderr"))) {
        schema_child_path(sub, sizeof(sub), path, "stderr");
        if (v->kind == YSCALAR && strcmp(v->text, "auto") == 0) {
            h->log.to_stderr = -1;
        } else {
            bool on = false;
            if (schema_bool(s, v, sub, &on))
                h->log.to_stderr = on;
        }
    }
    if ((v = schema_get(n, "journald"))) {
        schema_child_path(sub, sizeof(sub), path, "journald");
        schema_bool(s, v, sub, &h->log.journald);
    }
}

static void parse_http(struct schema *s, const struct ynode *n, const char *path,
                       struct manifest_host *h)
{
    static const char *const keys[] = {"enabled",  "listen",   "token_file",
                                       "cert_file", "key_file", "allow_unauthenticated",
                                       NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "enabled"))) {
        schema_child_path(sub, sizeof(sub), path, "enabled");
        schema_bool(s, v, sub, &h->http.enabled);
    }
    if ((v = schema_get(n, "listen"))) {
        schema_child_path(sub, sizeof(sub), path, "listen");
        if (schema_string(s, v, sub, &h->http.listen)) {
            struct listen_addr addr;
            char why[256];
            /* the same parser the server binds with: port 0 is "any free port" */
            if (listen_parse(h->http.listen, LISTEN_PORT_ZERO, &addr, why, sizeof(why)) < 0)
                schema_error(s, v->line, v->col, sub, "%s", why);
        }
    }
    if ((v = schema_get(n, "token_file"))) {
        schema_child_path(sub, sizeof(sub), path, "token_file");
        schema_path(s, v, sub, &h->http.token_file);
    }
    if ((v = schema_get(n, "cert_file"))) {
        schema_child_path(sub, sizeof(sub), path, "cert_file");
        schema_path(s, v, sub, &h->http.cert_file);
    }
    if ((v = schema_get(n, "key_file"))) {
        schema_child_path(sub, sizeof(sub), path, "key_file");
        schema_path(s, v, sub, &h->http.key_file);
    }
    if ((v = schema_get(n, "allow_unauthenticated"))) {
        schema_child_path(sub, sizeof(sub), path, "allow_unauthenticated");
        schema_bool(s, v, sub, &h->http.allow_unauthenticated);
    }
    if (!h->http.cert_file != !h->http.key_file)
        schema_error(s, n->line, n->col, path, "cert_file and key_file go together");
}

/* true | false | [ids]: which jobs expose their histograms. The ids are
 * checked against the jobs once all are read (manifest_finish_histograms). */
static void parse_job_histograms(struct schema *s, const struct ynode *v, const char *path,
                                 struct manifest_host *h)
{
    char sub[SCHEMA_PATH_MAX], item[SCHEMA_PATH_MAX];
    size_t i = 0;

    schema_child_path(sub, sizeof(sub), path, "job_histograms");
    if (v->kind == YSCALAR) {
        bool all = true;
        if (schema_bool(s, v, sub, &all))
            h->job_histograms = all ? HISTOGRAMS_ALL : HISTOGRAMS_NONE;
        return;
    }
    if (!schema_expect(s, v, YSEQ, sub))
        return;
    h->job_histograms = HISTOGRAMS_LISTED;
    h->histogram_jobs = arena_calloc(s->strings, v->count + 1, sizeof(*h->histogram_jobs));
    for (const struct ynode *in = v->first; in; in = in->next, i++) {
        schema_index_path(item, sizeof(item), sub, i);
        if (schema_expect(s, in, YSCALAR, item))
            h->histogram_jobs[h->n_histogram_jobs++] = (struct manifest_ref){
                .id = arena_strdup(s->strings, in->text), .line = in->line, .col = in->col};
    }
}

static void parse_metrics(struct schema *s, const struct ynode *n, const char *path,
                          struct manifest_host *h)
{
    static const char *const keys[] = {"duration_buckets", "job_histograms", NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX], item[SCHEMA_PATH_MAX];
    size_t i = 0;

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "job_histograms")))
        parse_job_histograms(s, v, path, h);
    if (!(v = schema_get(n, "duration_buckets")))
        return;
    schema_child_path(sub, sizeof(sub), path, "duration_buckets");
    if (!schema_expect(s, v, YSEQ, sub))
        return;
    if (v->count == 0 || v->count > 64) {
        schema_error(s, v->line, v->col, sub, "expected 1 to 64 bucket bounds, got %zu", v->count);
        return;
    }
    h->duration_buckets = arena_calloc(s->strings, v->count, sizeof(double));
    h->n_duration_buckets = v->count;
    for (const struct ynode *bn = v->first; bn; bn = bn->next, i++) {
        char *end;
        double d;
        schema_index_path(item, sizeof(item), sub, i);
        if (!schema_expect(s, bn, YSCALAR, item))
            continue;
        d = strtod(bn->text, &end);
        if (!bn->text[0] || *end || !isfinite(d) || d <= 0) {
            schema_error(s, bn->line, bn->col, item,
                         "expected a positive number of seconds, got \"%s\"", bn->text);
            continue;
        }
        if (i > 0 && d <= h->duration_buckets[i - 1])
            schema_error(s, bn->line, bn->col, item, "bucket bounds must increase (%s after %g)",
                         bn->text, h->duration_buckets[i - 1]);
        h->duration_buckets[i] = d;
    }
}

static void parse_history(struct schema *s, const struct ynode *n, const char *path,
                          struct manifest_host *h)
{
    static const char *const keys[] = {"max_age", "max_runs", "keep_failures", "output_max",
                                       NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "max_age"))) {
        schema_child_path(sub, sizeof(sub), path, "max_age");
        schema_duration(s, v, sub, 0, STORE_DURATION_MAX_NS, &h->store.max_age_ns);
    }
    if ((v = schema_get(n, "max_runs"))) {
        schema_child_path(sub, sizeof(sub), path, "max_runs");
        schema_uint(s, v, sub, 0, 100000000, &h->store.max_runs);
    }
    if ((v = schema_get(n, "keep_failures"))) {
        schema_child_path(sub, sizeof(sub), path, "keep_failures");
        schema_duration(s, v, sub, 0, STORE_DURATION_MAX_NS, &h->store.keep_failures_ns);
    }
    if ((v = schema_get(n, "output_max"))) {
        schema_child_path(sub, sizeof(sub), path, "output_max");
        if (schema_size(s, v, sub, &h->store.output_max) && h->store.output_max > (16u << 20))
            schema_error(s, v->line, v->col, sub, "at most 16MiB per run");
    }
}

static void parse_store(struct schema *s, const struct ynode *n, const char *path,
                        struct manifest_host *h)
{
    static const char *const keys[] = {"enabled", "backend", "path", "dsn", "password_file",
                                       "history", NULL};
    const struct ynode *v, *path_node = NULL;
    char sub[SCHEMA_PATH_MAX];
    char *backend = NULL;

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if ((v = schema_get(n, "enabled"))) {
        schema_child_path(sub, sizeof(sub), path, "enabled");
        schema_bool(s, v, sub, &h->store.enabled);
    }
    if ((v = schema_get(n, "backend"))) {
        schema_child_path(sub, sizeof(sub), path, "backend");
        if (schema_string(s, v, sub, &backend)) {
            if (strcmp(backend, "sqlite") == 0)
                h->store.backend = STORE_SQLITE;
            else if (strcmp(backend, "postgres") == 0 || strcmp(backend, "postgresql") == 0)
                h->store.backend = STORE_POSTGRES;
            else
                schema_error(s, v->line, v->col, sub,
                             "\"%s\" is not a store backend (sqlite or postgres)", backend);
        }
    }
    if ((path_node = schema_get(n, "path"))) {
        schema_child_path(sub, sizeof(sub), path, "path");
        schema_path(s, path_node, sub, &h->store.path);
    }
    if ((v = schema_get(n, "dsn"))) {
        schema_child_path(sub, sizeof(sub), path, "dsn");
        if (schema_string(s, v, sub, &h->store.dsn) && strstr(h->store.dsn, "password"))
            schema_error(s, v->line, v->col, sub,
                         "holds a password: give it in password_file (a manifest is "
                         "readable by whoever can read the configuration)");
    }
    if ((v = schema_get(n, "password_file"))) {
        schema_child_path(sub, sizeof(sub), path, "password_file");
        schema_path(s, v, sub, &h->store.password_file);
    }
    if (h->store.backend == STORE_POSTGRES) {
        if (!h->store.dsn)
            schema_error(s, n->line, n->col, path,
                         "backend postgres needs dsn (a libpq connection string, "
                         "\"host=db.example dbname=jobhost user=jobhost\")");
        if (path_node) {
            schema_child_path(sub, sizeof(sub), path, "path");
            schema_error(s, path_node->line, path_node->col, sub,
                         "is the SQLite file: the postgres backend takes dsn");
        }
    } else {
        if ((v = schema_get(n, "dsn"))) {
            schema_child_path(sub, sizeof(sub), path, "dsn");
            schema_error(s, v->line, v->col, sub, "needs backend: postgres");
        }
        if ((v = schema_get(n, "password_file"))) {
            schema_child_path(sub, sizeof(sub), path, "password_file");
            schema_error(s, v->line, v->col, sub, "needs backend: postgres");
        }
    }
    if ((v = schema_get(n, "history"))) {
        schema_child_path(sub, sizeof(sub), path, "history");
        parse_history(s, v, sub, h);
    }
}

static void parse_cluster(struct schema *s, const struct ynode *n, const char *path,
                          struct manifest_host *h)
{
    static const char *const keys[] = {"lease", NULL};
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    h->cluster.enabled = true;
    if ((v = schema_get(n, "lease"))) {
        schema_child_path(sub, sizeof(sub), path, "lease");
        schema_duration(s, v, sub, NS_PER_SEC, 600 * NS_PER_SEC, &h->cluster.lease_ns);
    }
}

static void parse_node(struct schema *s, const struct ynode *n, struct manifest_host *h)
{
    if (!schema_string(s, n, "host.node", &h->node))
        return;
    if (h->node[0] == '\0' || strlen(h->node) > 64 || !valid_name(h->node, true))
        schema_error(s, n->line, n->col, "host.node",
                     "\"%s\" is not a node name (letters, digits, '.', '_' and '-', starting "
                     "with a letter or digit, at most 64)",
                     h->node);
}

const char *notify_event_name(enum notify_event e)
{
    static const char *const names[NOTIFY_EVENT_COUNT] = {
        [NOTIFY_START] = "start",       [NOTIFY_SUCCESS] = "success",
        [NOTIFY_FAILURE] = "failure",   [NOTIFY_RECOVERY] = "recovery",
        [NOTIFY_SKIPPED] = "skipped"};
    return (unsigned)e < NOTIFY_EVENT_COUNT ? names[e] : "unknown";
}

/* An http:// or https:// URL. */
static bool parse_url(struct schema *s, const struct ynode *v, const char *path, char **out)
{
    if (!schema_string(s, v, path, out))
        return false;
    if (strncmp(*out, "http://", 7) != 0 && strncmp(*out, "https://", 8) != 0) {
        schema_error(s, v->line, v->col, path, "expected an http:// or https:// URL");
        return false;
    }
    return true;
}

static void parse_headers(struct schema *s, const struct ynode *n, const char *path,
                          struct manifest_notify *nt)
{
    char sub[SCHEMA_PATH_MAX], fsub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, NULL);
    nt->headers = arena_calloc(s->strings, n->count / 2 + 1, sizeof(*nt->headers));
    for (const struct ynode *k = n->first; k && k->next; k = k->next->next) {
        const struct ynode *v = k->next;
        struct manifest_header *h = &nt->headers[nt->n_headers];
        schema_child_path(sub, sizeof(sub), path, k->text);
        if (!k->text[0] || strpbrk(k->text, ": \t\r\n")) {
            schema_error(s, k->line, k->col, sub, "not a header name");
            continue;
        }
        h->name = arena_strdup(s->strings, k->text);
        if (v->kind == YMAP) {
            static const char *const keys[] = {"file", NULL};
            const struct ynode *f = schema_get(v, "file");
            schema_check_keys(s, v, sub, keys);
            schema_child_path(fsub, sizeof(fsub), sub, "file");
            if (!f)
                schema_error(s, v->line, v->col, sub, "expected a value or {file: PATH}");
            else if (schema_path(s, f, fsub, &h->file))
                nt->n_headers++;
        } else if (schema_string(s, v, sub, &h->value)) {
            if (strpbrk(h->value, "\r\n"))
                schema_error(s, v->line, v->col, sub, "a header value is one line");
            else
                nt->n_headers++;
        }
    }
}

static void parse_notify_on(struct schema *s, const struct ynode *n, const char *path,
                            uint32_t *on)
{
    char item[SCHEMA_PATH_MAX];
    size_t i = 0;

    if (!schema_expect(s, n, YSEQ, path))
        return;
    *on = 0;
    for (const struct ynode *e = n->first; e; e = e->next, i++) {
        int found = -1;
        schema_index_path(item, sizeof(item), path, i);
        if (!schema_expect(s, e, YSCALAR, item))
            continue;
        for (int k = 0; k < NOTIFY_EVENT_COUNT; k++)
            if (strcmp(e->text, notify_event_name((enum notify_event)k)) == 0)
                found = k;
        if (found < 0)
            schema_error(s, e->line, e->col, item,
                         "unknown event \"%s\" (expected start, success, failure, recovery or "
                         "skipped)",
                         e->text);
        else
            *on |= 1u << found;
    }
}

/* `notify: [{url, on, timeout, headers}, ...]` into list (host or job). */
static void parse_notify(struct schema *s, const struct ynode *n, const char *path,
                         struct manifest_notify_list *list)
{
    static const char *const keys[] = {"url", "on", "timeout", "headers", NULL};
    char item[SCHEMA_PATH_MAX], sub[SCHEMA_PATH_MAX];
    size_t i = 0;

    if (!schema_expect(s, n, YSEQ, path))
        return;
    list->items = arena_calloc(s->strings, n->count + 1, sizeof(*list->items));
    for (const struct ynode *e = n->first; e; e = e->next, i++) {
        struct manifest_notify *nt = &list->items[list->n];
        const struct ynode *v;
        schema_index_path(item, sizeof(item), path, i);
        if (!schema_expect(s, e, YMAP, item))
            continue;
        schema_check_keys(s, e, item, keys);
        nt->on = 1u << NOTIFY_FAILURE | 1u << NOTIFY_RECOVERY;
        nt->timeout_ns = 5 * NS_PER_SEC;
        schema_child_path(sub, sizeof(sub), item, "url");
        if (!(v = schema_get(e, "url"))) {
            schema_error(s, e->line, e->col, item, "missing `url`");
            continue;
        }
        if (!parse_url(s, v, sub, &nt->url))
            continue;
        if ((v = schema_get(e, "on"))) {
            schema_child_path(sub, sizeof(sub), item, "on");
            parse_notify_on(s, v, sub, &nt->on);
        }
        if ((v = schema_get(e, "timeout"))) {
            schema_child_path(sub, sizeof(sub), item, "timeout");
            schema_duration(s, v, sub, NS_PER_MS, 300 * NS_PER_SEC, &nt->timeout_ns);
        }
        if ((v = schema_get(e, "headers"))) {
            schema_child_path(sub, sizeof(sub), item, "headers");
            parse_headers(s, v, sub, nt);
        }
        list->n++;
    }
}

static void parse_host(struct schema *s, const struct ynode *n, struct manifest_host *h)
{
    static const char *const keys[] = {"plugin_dir", "strict_permissions", "workers",
                                       "shutdown_timeout", "drain_timeout", "stuck_grace",
                                       "max_stuck_workers", "pid_file", "watch", "http", "log",
                                       "metrics", "node", "store", "cluster", "notify", NULL};
    const struct ynode *v;

    if (!schema_expect(s, n, YMAP, "host"))
        return;
    schema_check_keys(s, n, "host", keys);
    if ((v = schema_get(n, "plugin_dir")))
        schema_path(s, v, "host.plugin_dir", &h->plugin_dir);
    if ((v = schema_get(n, "strict_permissions")))
        schema_bool(s, v, "host.strict_permissions", &h->strict_permissions);
    if ((v = schema_get(n, "workers")))
        schema_uint(s, v, "host.workers", 1, 1024, &h->workers);
    if ((v = schema_get(n, "shutdown_timeout")))
        schema_duration(s, v, "host.shutdown_timeout", 0, HOST_DURATION_MAX_NS,
                        &h->shutdown_timeout_ns);
    if ((v = schema_get(n, "drain_timeout")))
        schema_duration(s, v, "host.drain_timeout", 0, HOST_DURATION_MAX_NS,
                        &h->drain_timeout_ns);
    if ((v = schema_get(n, "stuck_grace")))
        schema_duration(s, v, "host.stuck_grace", 0, HOST_DURATION_MAX_NS, &h->stuck_grace_ns);
    if ((v = schema_get(n, "max_stuck_workers")))
        schema_uint(s, v, "host.max_stuck_workers", 0, 1024, &h->max_stuck_workers);
    if ((v = schema_get(n, "pid_file")))
        schema_path(s, v, "host.pid_file", &h->pid_file);
    if ((v = schema_get(n, "watch")))
        schema_bool(s, v, "host.watch", &h->watch);
    if ((v = schema_get(n, "http")))
        parse_http(s, v, "host.http", h);
    if ((v = schema_get(n, "log")))
        parse_log(s, v, "host.log", h);
    if ((v = schema_get(n, "metrics")))
        parse_metrics(s, v, "host.metrics", h);
    if ((v = schema_get(n, "node")))
        parse_node(s, v, h);
    if ((v = schema_get(n, "store")))
        parse_store(s, v, "host.store", h);
    if ((v = schema_get(n, "cluster"))) {
        parse_cluster(s, v, "host.cluster", h);
        /* a SQLite file is one machine's: several nodes on it would each
         * think every firing theirs */
        if (h->cluster.enabled && (!h->store.enabled || h->store.backend != STORE_POSTGRES))
            schema_error(s, v->line, v->col, "host.cluster",
                         "a cluster needs host.store.backend: postgres (a SQLite store is "
                         "never shared between nodes)");
    }
    if ((v = schema_get(n, "notify"))) {
        struct manifest_notify_list *list = arena_calloc(s->strings, 1, sizeof(*list));
        parse_notify(s, v, "host.notify", list);
        h->notify = list;
    }
}

static void host_defaults(struct arena *a, struct manifest_host *h, const char *dir)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t dl = strlen(dir);
    char *plugins = arena_alloc(a, dl + sizeof("/plugins"));

    memcpy(plugins, dir, dl);
    memcpy(plugins + dl, "/plugins", sizeof("/plugins"));
    h->plugin_dir = plugins;
    h->strict_permissions = true;
    h->workers = cpus > 0 ? (unsigned)cpus : 1;
    h->shutdown_timeout_ns = 30 * NS_PER_SEC;
    h->drain_timeout_ns = 60 * NS_PER_SEC;
    h->stuck_grace_ns = 10 * NS_PER_SEC;
    h->max_stuck_workers = 16;
    h->http.enabled = true;
    h->http.listen = arena_strdup(a, "127.0.0.1:9464");
    h->log.level = JH_LOG_INFO;
    h->log.syslog = true;
    h->log.ident = arena_strdup(a, "jobhost");
    h->log.facility = LOG_DAEMON;
    h->log.file_max_size = 10u << 20;
    h->log.file_keep = 5;
    h->log.to_stderr = -1;
    h->store.enabled = true;
    h->store.path = arena_alloc(a, dl + sizeof("/jobhost.db"));
    memcpy(h->store.path, dir, dl);
    memcpy(h->store.path + dl, "/jobhost.db", sizeof("/jobhost.db"));
    h->store.max_age_ns = 30 * 86400 * NS_PER_SEC;
    h->store.max_runs = 1000;
    h->store.keep_failures_ns = 90 * 86400 * NS_PER_SEC;
    h->store.output_max = 64u << 10;
    h->cluster.lease_ns = 15 * NS_PER_SEC;
}

/* ---- jobs ------------------------------------------------------------------ */

static bool valid_name(const char *s, bool allow_dot)
{
    if (!isalnum((unsigned char)s[0]))
        return false;
    for (const char *c = s; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && !(allow_dot && *c == '.'))
            return false;
    }
    return true;
}

static char *param_text(struct build *b, const struct ynode *v)
{
    return shared(b, schema_is_null(v) ? "" : v->text);
}

/* One list or map parameter: its items, which must be scalars. */
static void parse_param_items(struct build *b, const struct ynode *v, const char *path,
                              struct manifest_param *prm)
{
    struct schema *s = &b->s;
    struct arena *a = &b->m->arena;
    char item[SCHEMA_PATH_MAX];
    const struct ynode *c = v->first;

    prm->kind = v->kind == YSEQ ? JH_PARAM_LIST : JH_PARAM_MAP;
    prm->n = v->kind == YSEQ ? v->count : v->count / 2;
    prm->values = arena_calloc(a, prm->n + 1, sizeof(char *));
    if (v->kind == YMAP)
        prm->names = arena_calloc(a, prm->n + 1, sizeof(char *));
    for (size_t j = 0; j < prm->n; j++) {
        const struct ynode *name = v->kind == YMAP ? c : NULL;
        const struct ynode *val = v->kind == YMAP ? c->next : c;
        c = val->next;
        if (name) {
            schema_child_path(item, sizeof(item), path, name->kind == YSCALAR ? name->text : "?");
            if (!schema_expect(s, name, YSCALAR, item))
                continue;
            prm->names[j] = shared(b, name->text);
        } else {
            schema_index_path(item, sizeof(item), path, j);
        }
        if (val->kind != YSCALAR) {
            schema_error(s, val->line, val->col, item,
                         "parameters hold scalars, lists of scalars or maps of scalars; got %s "
                         "here",
                         schema_kind_name(val));
            continue;
        }
        prm->values[j] = param_text(b, val);
    }
    if (v->kind == YMAP)
        schema_check_keys(s, v, path, NULL);
}

static void parse_params(struct build *b, const struct ynode *n, const char *path,
                         struct manifest_job *job)
{
    struct schema *s = &b->s;
    char sub[SCHEMA_PATH_MAX];

    if (schema_is_null(n))
        return;
    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, NULL);
    job->params = arena_calloc(&b->m->arena, n->count / 2 + 1, sizeof(*job->params));
    for (const struct ynode *k = n->first; k && k->next; k = k->next->next) {
        const struct ynode *v = k->next;
        struct manifest_param *prm;
        if (k->kind != YSCALAR)
            continue; /* reported by schema_check_keys */
        schema_child_path(sub, sizeof(sub), path, k->text);
        prm = &job->params[job->n_params++];
        prm->key = shared(b, k->text);
        prm->line = k->line;
        prm->col = k->col;
        prm->value_line = v->line;
        prm->value_col = v->col;
        if (v->kind == YSCALAR) {
            prm->kind = JH_PARAM_SCALAR;
            prm->value = param_text(b, v);
        } else {
            parse_param_items(b, v, sub, prm);
        }
    }
}

/* A time of a trigger (start, end, date), RFC 3339, within the range. */
static bool parse_time(struct schema *s, const struct ynode *v, const char *path, const char *eg,
                       int64_t *out)
{
    int64_t t;

    if (!schema_expect(s, v, YSCALAR, path))
        return false;
    /* years past 2262 do not fit in nanoseconds: out of range too */
    bool late = strlen(v->text) > 4 && isdigit((unsigned char)v->text[0]) &&
                isdigit((unsigned char)v->text[1]) && v->text[0] >= '2' &&
                (v->text[0] > '2' || v->text[1] >= '2') && isdigit((unsigned char)v->text[2]) &&
                isdigit((unsigned char)v->text[3]) && v->text[4] == '-';
    if (rfc3339_parse(v->text, &t) < 0 && !late) {
        schema_error(s, v->line, v->col, path, "invalid time \"%s\" (expected RFC 3339%s)",
                     v->text, eg);
        return false;
    }
    if (late || t < TIME_MIN_NS || t >= TIME_MAX_NS) {
        schema_error(s, v->line, v->col, path,
                     "%s is out of range (from 1970-01-01T00:00:00Z to 2200-01-01T00:00:00Z)",
                     v->text);
        return false;
    }
    *out = t;
    return true;
}

/* The start and end of an interval or cron trigger. */
static void parse_bounds(struct schema *s, const struct ynode *n, const char *path, bool date,
                         struct trigger *t)
{
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if ((v = schema_get(n, "start"))) {
        schema_child_path(sub, sizeof(sub), path, "start");
        if (date)
            schema_error(s, v->line, v->col, sub, "a date trigger takes no start");
        else
            (void)parse_time(s, v, sub, "", &t->start_ns); /* reported there */
    }
    if ((v = schema_get(n, "end"))) {
        schema_child_path(sub, sizeof(sub), path, "end");
        if (date)
            schema_error(s, v->line, v->col, sub, "a date trigger takes no end");
        else if (parse_time(s, v, sub, "", &t->end_ns) && t->start_ns && t->end_ns &&
                 t->end_ns <= t->start_ns)
            schema_error(s, v->line, v->col, sub, "end must come after start");
    }
}

const char *chain_on_name(enum chain_on on)
{
    static const char *const names[] = {[CHAIN_ON_SUCCESS] = "success",
                                        [CHAIN_ON_FAILURE] = "failure",
                                        [CHAIN_ON_ALWAYS] = "always"};
    return (unsigned)on < sizeof(names) / sizeof(names[0]) ? names[on] : "unknown";
}

#define AFTER_MAX_PARENTS 64

/* `trigger: {after: JOB | [JOB, ...], on: success | failure | always}`.
 * The ids are checked once every job is known (resolve_chains). */
static void parse_after(struct build *b, const struct ynode *n, const struct ynode *after,
                        const char *path, struct manifest_job *job)
{
    static const char *const keys[] = {"after", "on", NULL};
    struct schema *s = &b->s;
    struct buf *text = &b->scratch;
    struct manifest_after *a;
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX], item[SCHEMA_PATH_MAX];
    size_t i = 0;

    schema_check_keys(s, n, path, keys);
    schema_child_path(sub, sizeof(sub), path, "after");
    a = arena_calloc(&b->m->arena, 1, sizeof(*a));
    a->line = after->line;
    a->col = after->col;
    if (after->kind == YSCALAR) {
        a->parents = arena_calloc(&b->m->arena, 1, sizeof(*a->parents));
        a->parents[0] = (struct manifest_ref){arena_strdup(&b->m->arena, after->text),
                                              after->line, after->col};
        a->n_parents = 1;
    } else if (schema_expect(s, after, YSEQ, sub)) {
        if (after->count == 0 || after->count > AFTER_MAX_PARENTS) {
            schema_error(s, after->line, after->col, sub, "expected 1 to %d job ids, got %zu",
                         AFTER_MAX_PARENTS, after->count);
            return;
        }
        a->parents = arena_calloc(&b->m->arena, after->count, sizeof(*a->parents));
        for (const struct ynode *p = after->first; p; p = p->next, i++) {
            schema_index_path(item, sizeof(item), sub, i);
            if (!schema_expect(s, p, YSCALAR, item))
                continue;
            a->parents[a->n_parents++] =
                (struct manifest_ref){arena_strdup(&b->m->arena, p->text), p->line, p->col};
        }
    } else {
        return;
    }
    if ((v = schema_get(n, "on"))) {
        bool known = false;
        schema_child_path(sub, sizeof(sub), path, "on");
        if (schema_expect(s, v, YSCALAR, sub)) {
            for (int on = CHAIN_ON_SUCCESS; on <= CHAIN_ON_ALWAYS; on++) {
                if (strcmp(v->text, chain_on_name((enum chain_on)on)) == 0) {
                    a->on = (enum chain_on)on;
                    known = true;
                }
            }
            if (!known)
                schema_error(s, v->line, v->col, sub,
                             "unknown condition \"%s\" (expected success, failure or always)",
                             v->text);
        }
    }
    buf_reset(text);
    buf_puts(text, "after ");
    for (uint32_t k = 0; k < a->n_parents; k++)
        buf_printf(text, "%s%s", k ? ", " : "", a->parents[k].id);
    buf_printf(text, " (%s)", chain_on_name(a->on));
    job->trigger_text = shared(b, text->data);
    job->after = a;
}

/* True when some month the expression allows has one of its days of the
 * month (29 February counts: leap years come). Only a day-of-month field
 * restricted with a day-of-week field left open can miss every month:
 * when both are restricted a day matches either (Vixie cron), and every
 * week has each weekday. */
static bool cron_can_fire(const struct cron_expr *c)
{
    static const uint8_t days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (c->mday_star || !c->wday_star)
        return true;
    for (int month = 1; month <= 12; month++) {
        uint32_t in_month = (uint32_t)(((uint64_t)1 << (days[month] + 1)) - 2); /* bits 1..N */
        if ((c->months & (1u << month)) && (c->mdays & in_month))
            return true;
    }
    return false;
}

/* A trigger that parsed but will never fire: a warning at its value (`at`
 * is the cron, interval or date node). */
static void warn_never_fires(struct build *b, const struct ynode *n, const char *path,
                             const struct trigger *t, const struct ynode *at, size_t errors_before)
{
    char sub[SCHEMA_PATH_MAX], when[RFC3339_BUFLEN];
    const struct ynode *end = schema_get(n, "end");

    if (b->s.n_errors + b->s.dropped != errors_before || !at)
        return; /* an error said enough: the trigger may be half read */
    if (t->kind == TRIGGER_CRON && !cron_can_fire(&t->cron)) {
        schema_child_path(sub, sizeof(sub), path, "cron");
        schema_warning(&b->s, at->line, at->col, sub,
                       "never fires: no month it allows has the day of the month it names "
                       "(\"%s\")",
                       at->text ? at->text : "");
    } else if (t->kind == TRIGGER_DATE && t->at_ns <= b->now_ns) {
        schema_child_path(sub, sizeof(sub), path, "date");
        schema_warning(&b->s, at->line, at->col, sub,
                       "%s is in the past (now %s): the job never fires", at->text,
                       rfc3339_format(b->now_ns, NULL, false, when, sizeof(when)));
    } else if ((t->kind == TRIGGER_CRON || t->kind == TRIGGER_INTERVAL) && t->end_ns &&
               t->end_ns <= b->now_ns && end) {
        schema_child_path(sub, sizeof(sub), path, "end");
        schema_warning(&b->s, end->line, end->col, sub,
                       "%s is in the past (now %s): the job never fires again", end->text,
                       rfc3339_format(b->now_ns, NULL, false, when, sizeof(when)));
    }
}

static void parse_trigger(struct build *b, const struct ynode *n, const char *path,
                          struct manifest_job *job)
{
    static const char *const keys[] = {"cron", "interval", "date", "timezone", "start", "end",
                                       "jitter", "at_start", NULL};
    struct schema *s = &b->s;
    struct buf *text = &b->scratch;
    const struct ynode *cron, *interval, *date, *at_start, *v;
    struct trigger *t = &job->trigger;
    char sub[SCHEMA_PATH_MAX];
    size_t errors_before = s->n_errors + s->dropped;
    int kinds = 0;

    if (schema_is_null(n))
        return;
    if (!schema_expect(s, n, YMAP, path))
        return;
    if ((v = schema_get(n, "after"))) {
        parse_after(b, n, v, path, job);
        return;
    }
    schema_check_keys(s, n, path, keys);
    if ((at_start = schema_get(n, "at_start"))) {
        schema_child_path(sub, sizeof(sub), path, "at_start");
        (void)schema_bool(s, at_start, sub, &job->at_start);
    }
    kinds += (cron = schema_get(n, "cron")) != NULL;
    kinds += (interval = schema_get(n, "interval")) != NULL;
    kinds += (date = schema_get(n, "date")) != NULL;
    if (kinds == 0 && at_start) {
        job->trigger_text = shared(b, job->at_start ? "at start" : "");
        return; /* only at start (and by hand) */
    }
    if (kinds != 1) {
        schema_error(s, n->line, n->col, path,
                     kinds ? "give only one of cron, interval, date or after"
                           : "needs one of cron, interval, date, after or at_start (leave "
                             "`trigger` out for a job run only by hand)");
        return;
    }
    buf_reset(text);
    if (cron) {
        char err[256];
        schema_child_path(sub, sizeof(sub), path, "cron");
        t->kind = TRIGGER_CRON;
        if (schema_expect(s, cron, YSCALAR, sub)) {
            if (cron_parse(cron->text, &t->cron, err, sizeof(err)) < 0)
                schema_error(s, cron->line, cron->col, sub, "%s", err);
            buf_printf(text, "cron %s", cron->text);
        }
        if ((v = schema_get(n, "timezone"))) {
            schema_child_path(sub, sizeof(sub), path, "timezone");
            if (schema_expect(s, v, YSCALAR, sub)) {
                t->tz = tz_get(v->text, err, sizeof(err));
                if (!t->tz)
                    schema_error(s, v->line, v->col, sub, "%s", err);
                buf_printf(text, " (%s)", v->text);
            }
        }
    } else if ((v = schema_get(n, "timezone"))) {
        schema_child_path(sub, sizeof(sub), path, "timezone");
        schema_error(s, v->line, v->col, sub, "only a cron trigger takes a timezone");
    }
    if (interval) {
        schema_child_path(sub, sizeof(sub), path, "interval");
        t->kind = TRIGGER_INTERVAL;
        if (schema_duration(s, interval, sub, INTERVAL_MIN_NS, INTERVAL_MAX_NS, &t->interval_ns))
            buf_printf(text, "every %s", interval->text);
    }
    if (date) {
        schema_child_path(sub, sizeof(sub), path, "date");
        t->kind = TRIGGER_DATE;
        if (date->kind == YSCALAR)
            buf_printf(text, "at %s", date->text);
        (void)parse_time(s, date, sub, ", e.g. 2026-05-01T09:00:00+02:00", &t->at_ns);
    }
    parse_bounds(s, n, path, date != NULL, t);
    if ((v = schema_get(n, "jitter"))) {
        schema_child_path(sub, sizeof(sub), path, "jitter");
        schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &t->jitter_ns);
    }
    if (job->at_start)
        buf_printf(text, ", and at start");
    job->trigger_text = shared(b, text->data ? text->data : "");
    warn_never_fires(b, n, path, t, cron ? cron : interval ? interval : date, errors_before);
}

static void parse_limits(struct build *b, const struct ynode *n, const char *path,
                         struct manifest_job *job)
{
    static const char *const keys[] = {"address_space", "cpu", "open_files", NULL};
    struct schema *s = &b->s;
    struct manifest_limits *l;
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    if (job->isolation != ISOLATION_PROCESS) {
        schema_error(s, n->line, n->col, path,
                     "limits apply to worker processes: set `isolation: process` before them");
        return;
    }
    l = arena_calloc(&b->m->arena, 1, sizeof(*l));
    job->limits = l;
    if ((v = schema_get(n, "address_space"))) {
        schema_child_path(sub, sizeof(sub), path, "address_space");
        if (schema_size(s, v, sub, &l->address_space) && l->address_space < ADDRESS_SPACE_MIN)
            schema_error(s, v->line, v->col, sub,
                         "at least 32MiB (a worker process itself takes about 26 MiB)");
    }
    if ((v = schema_get(n, "cpu"))) {
        schema_child_path(sub, sizeof(sub), path, "cpu");
        schema_duration(s, v, sub, NS_PER_SEC, JOB_DURATION_MAX_NS, &l->cpu_ns); /* whole s */
    }
    if ((v = schema_get(n, "open_files"))) {
        schema_child_path(sub, sizeof(sub), path, "open_files");
        schema_uint(s, v, sub, 16, 1u << 20, &l->open_files);
    }
}

/* A number >= 1 (retry.backoff). */
static bool parse_factor(struct schema *s, const struct ynode *v, const char *path, double *out)
{
    char *end;
    double d;

    if (!schema_expect(s, v, YSCALAR, path))
        return false;
    d = strtod(v->text, &end);
    if (!v->text[0] || *end || !isfinite(d) || d < 1 || d > 100) {
        schema_error(s, v->line, v->col, path, "expected a number from 1 to 100, got \"%s\"",
                     v->text);
        return false;
    }
    *out = d;
    return true;
}

static void parse_retry(struct build *b, const struct ynode *n, const char *path,
                        struct manifest_job *job)
{
    static const char *const keys[] = {"limit", "delay", "backoff", "max_delay", "jitter", NULL};
    struct schema *s = &b->s;
    struct manifest_retry *r;
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    r = arena_calloc(&b->m->arena, 1, sizeof(*r));
    r->delay_ns = 10 * NS_PER_SEC;
    r->backoff = 1;
    if (!(v = schema_get(n, "limit"))) {
        schema_error(s, n->line, n->col, path, "missing `limit` (the number of retries)");
        return;
    }
    schema_child_path(sub, sizeof(sub), path, "limit");
    (void)schema_uint(s, v, sub, 1, 1000, &r->limit); /* a problem is reported there */
    if ((v = schema_get(n, "delay"))) {
        schema_child_path(sub, sizeof(sub), path, "delay");
        schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &r->delay_ns);
    }
    if ((v = schema_get(n, "backoff"))) {
        schema_child_path(sub, sizeof(sub), path, "backoff");
        (void)parse_factor(s, v, sub, &r->backoff); /* a problem is reported there */
    }
    if ((v = schema_get(n, "max_delay"))) {
        schema_child_path(sub, sizeof(sub), path, "max_delay");
        if (schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &r->max_delay_ns) &&
            r->max_delay_ns > 0 &&
            r->max_delay_ns < r->delay_ns)
            schema_error(s, v->line, v->col, sub, "shorter than retry.delay");
    }
    if ((v = schema_get(n, "jitter"))) {
        schema_child_path(sub, sizeof(sub), path, "jitter");
        schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &r->jitter_ns);
    }
    job->retry = r;
}

/* A user or group as written: a name, or a number. */
static bool numeric_id(const char *s, uint32_t *out)
{
    int64_t v;

    if (!isdigit((unsigned char)s[0]) || int_parse(s, &v) < 0 || v < 0 || v >= UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* The user database's entry for `text` (a name or a uid): 0 and its name
 * (NULL for a uid without one), uid and primary gid; -ENOENT when none. */
static int find_user(const char *text, struct arena *a, char **name, uint32_t *uid, uint32_t *gid,
                     bool *has_gid)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    uint32_t n;
    bool numeric = numeric_id(text, &n);

    if (numeric)
        (void)getpwuid_r(n, &pw, buf, sizeof(buf), &found);
    else
        (void)getpwnam_r(text, &pw, buf, sizeof(buf), &found);
    if (!found && !numeric)
        return -ENOENT;
    *uid = found ? (uint32_t)found->pw_uid : n;
    *name = found ? arena_strdup(a, found->pw_name) : NULL;
    *has_gid = found != NULL;
    *gid = found ? (uint32_t)found->pw_gid : 0;
    return 0;
}

static int find_group(const char *text, uint32_t *gid)
{
    struct group gr, *found = NULL;
    char buf[4096];

    if (numeric_id(text, gid))
        return 0;
    (void)getgrnam_r(text, &gr, buf, sizeof(buf), &found);
    if (!found)
        return -ENOENT;
    *gid = (uint32_t)found->gr_gid;
    return 0;
}

/* `user:` and `group:`: whom a job's worker process runs as. Resolved once
 * per distinct pair in a file. */
static void parse_creds(struct build *b, const struct ynode *n, const char *path,
                        struct manifest_job *job)
{
    struct schema *s = &b->s;
    const struct ynode *u = schema_get(n, "user"), *g = schema_get(n, "group");
    const struct ynode *first = u ? u : g;
    struct manifest_creds *c;
    char usub[SCHEMA_PATH_MAX], gsub[SCHEMA_PATH_MAX], key[512];
    bool has_gid = false;

    if (!first)
        return;
    schema_child_path(usub, sizeof(usub), path, "user");
    schema_child_path(gsub, sizeof(gsub), path, "group");
    if (job->isolation != ISOLATION_PROCESS) {
        schema_error(s, first->line, first->col, u ? usub : gsub,
                     "a job runs as another user in a worker process only: set `isolation: "
                     "process` (in thread mode it runs inside the daemon, as the daemon)");
        return;
    }
    if ((u && !schema_expect(s, u, YSCALAR, usub)) || (g && !schema_expect(s, g, YSCALAR, gsub)))
        return;
    if (u && !u->text[0]) {
        schema_error(s, u->line, u->col, usub, "must not be empty");
        return;
    }
    if (g && !g->text[0]) {
        schema_error(s, g->line, g->col, gsub, "must not be empty");
        return;
    }
    snprintf(key, sizeof(key), "%s\n%s", u ? u->text : "", g ? g->text : "");
    c = idtable_get(&b->creds, key);
    if (c) {
        job->creds = c;
        return;
    }
    c = arena_calloc(&b->m->arena, 1, sizeof(*c));
    c->line = first->line;
    c->col = first->col;
    if (u) {
        if (find_user(u->text, &b->m->arena, &c->user_name, &c->uid, &c->gid, &has_gid) < 0) {
            schema_error(s, u->line, u->col, usub, "no such user \"%s\"", u->text);
            return;
        }
        c->set_uid = true;
        c->set_gid = has_gid;
    }
    if (g) {
        if (find_group(g->text, &c->gid) < 0) {
            schema_error(s, g->line, g->col, gsub, "no such group \"%s\"", g->text);
            return;
        }
        c->set_gid = true;
    }
    if (c->set_uid && !c->set_gid) {
        schema_error(s, u->line, u->col, usub,
                     "uid %s has no entry in the user database: give its `group:` too", u->text);
        return;
    }
    (void)idtable_put(&b->creds, arena_strdup(&b->m->arena, key), c); /* absent: looked up */
    job->creds = c;
}

/* Records the id of m->jobs[index], written at line:col, or reports the
 * job that already has it. A file read apart only notes where its ids are:
 * they are checked once the files are joined. */
static void check_duplicate(struct build *b, size_t index, int line, int col)
{
    const struct manifest_job *job = &b->m->jobs[index], *first;
    char path[48];

    if (b->apart) {
        b->id_at[index] = (struct position){line, col};
        return;
    }
    if (idtable_put(&b->m->index, job->id, (void *)(uintptr_t)(index + 1)) == 0)
        return;
    first = &b->m->jobs[(uintptr_t)idtable_get(&b->m->index, job->id) - 1];
    snprintf(path, sizeof(path), "jobs[%u].id", job->index);
    if (first->file == job->file)
        schema_error(&b->s, line, col, path, "duplicate job id \"%s\" (also jobs[%u], line %d)",
                     job->id, first->index, first->line);
    else
        schema_error(&b->s, line, col, path,
                     "duplicate job id \"%s\" (also jobs[%u] at %s:%d:%d)", job->id, first->index,
                     first->file, first->line, first->col);
}

static void parse_id(struct build *b, const struct ynode *n, const char *path,
                     struct manifest_job *job)
{
    struct schema *s = &b->s;
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    schema_child_path(sub, sizeof(sub), path, "id");
    if (!(v = schema_get(n, "id"))) {
        schema_error(s, n->line, n->col, path, "missing key \"id\"");
    } else if (schema_string(s, v, sub, &job->id)) {
        if (job->id[0] == '\0')
            schema_error(s, v->line, v->col, sub, "must not be empty");
        else if (strlen(job->id) > JOB_ID_MAX || !valid_name(job->id, true))
            schema_error(s, v->line, v->col, sub,
                         "\"%s\" is not a valid id (letters, digits, '.', '_' and '-', starting "
                         "with a letter or digit, at most %d)",
                         job->id, JOB_ID_MAX);
        else
            check_duplicate(b, (size_t)(job - b->m->jobs), v->line, v->col);
    }
}

static void parse_plugin(struct build *b, const struct ynode *n, const char *path,
                         struct manifest_job *job)
{
    struct schema *s = &b->s;
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    schema_child_path(sub, sizeof(sub), path, "plugin");
    if (!(v = schema_get(n, "plugin"))) {
        schema_error(s, n->line, n->col, path, "missing key \"plugin\"");
        return;
    }
    if (!schema_expect(s, v, YSCALAR, sub))
        return;
    job->plugin = shared(b, v->text);
    job->plugin_line = v->line;
    job->plugin_col = v->col;
    if (job->plugin[0] == '\0')
        schema_error(s, v->line, v->col, sub, "must not be empty");
    else if (!valid_name(job->plugin, false))
        schema_error(s, v->line, v->col, sub,
                     "\"%s\" is not a plugin name (letters, digits, '_' and '-'; it names "
                     "<plugin_dir>/NAME.so)",
                     job->plugin);
}

static void parse_isolation(struct schema *s, const struct ynode *v, const char *path,
                            struct manifest_job *job)
{
    if (!schema_expect(s, v, YSCALAR, path))
        return;
    if (strcmp(v->text, "thread") == 0)
        job->isolation = ISOLATION_THREAD;
    else if (strcmp(v->text, "process") == 0)
        job->isolation = ISOLATION_PROCESS;
    else
        schema_error(s, v->line, v->col, path,
                     "unknown isolation \"%s\" (expected thread or process)", v->text);
}

const char *concurrency_name(enum concurrency c)
{
    static const char *const names[] = {[CONCURRENCY_FORBID] = "forbid",
                                        [CONCURRENCY_ALLOW] = "allow",
                                        [CONCURRENCY_REPLACE] = "replace",
                                        [CONCURRENCY_QUEUE] = "queue"};
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

/* `concurrency:`, checked against max_instances (read before it). */
static void parse_concurrency(struct schema *s, const struct ynode *n, const struct ynode *v,
                              const char *path, struct manifest_job *job)
{
    bool set = false;

    if (!v) {
        /* as before the key existed: max_instances alone said how many */
        job->concurrency = job->max_instances > 1 ? CONCURRENCY_ALLOW : CONCURRENCY_FORBID;
        return;
    }
    if (!schema_expect(s, v, YSCALAR, path))
        return;
    for (int c = CONCURRENCY_FORBID; c <= CONCURRENCY_QUEUE; c++) {
        if (strcmp(v->text, concurrency_name((enum concurrency)c)) == 0) {
            job->concurrency = (enum concurrency)c;
            set = true;
        }
    }
    if (!set) {
        schema_error(s, v->line, v->col, path,
                     "unknown concurrency \"%s\" (expected forbid, allow, replace or queue)",
                     v->text);
        return;
    }
    if (job->concurrency == CONCURRENCY_FORBID && job->max_instances > 1) {
        const struct ynode *mi = schema_get(n, "max_instances");
        schema_error(s, mi ? mi->line : v->line, mi ? mi->col : v->col, path,
                     "forbid runs one at a time: max_instances %u needs `concurrency: allow`",
                     job->max_instances);
    }
}

static void parse_job(struct build *b, const struct ynode *n, const char *path,
                      struct manifest_job *job)
{
    static const char *const keys[] = {"id", "plugin", "trigger", "params", "enabled",
                                       "max_instances", "misfire_grace", "coalesce", "timeout",
                                       "isolation", "limits", "user", "group", "log_level",
                                       "catch_up", "retry", "concurrency", "notify", "ping",
                                       "recover", NULL};
    struct schema *s = &b->s;
    const struct ynode *v;
    char sub[SCHEMA_PATH_MAX];

    job->enabled = true;
    job->max_instances = 1;
    job->misfire_grace_ns = 60 * NS_PER_SEC;
    job->coalesce = true;
    job->log_level = -1;
    job->line = job->params_line = n->line;
    job->col = job->params_col = n->col;
    job->trigger_text = shared(b, "manual");
    if (!schema_expect(s, n, YMAP, path))
        return;
    schema_check_keys(s, n, path, keys);
    parse_id(b, n, path, job);
    parse_plugin(b, n, path, job);
    if ((v = schema_get(n, "trigger"))) {
        schema_child_path(sub, sizeof(sub), path, "trigger");
        parse_trigger(b, v, sub, job);
    }
    if ((v = schema_get(n, "params"))) {
        /* missing parameters are reported at the `params:` key */
        for (const struct ynode *k = n->first; k && k->next; k = k->next->next) {
            if (k->next == v) {
                job->params_line = k->line;
                job->params_col = k->col;
            }
        }
        schema_child_path(sub, sizeof(sub), path, "params");
        parse_params(b, v, sub, job);
    }
    if ((v = schema_get(n, "enabled"))) {
        schema_child_path(sub, sizeof(sub), path, "enabled");
        schema_bool(s, v, sub, &job->enabled);
    }
    if ((v = schema_get(n, "max_instances"))) {
        schema_child_path(sub, sizeof(sub), path, "max_instances");
        schema_uint(s, v, sub, 1, 10000, &job->max_instances);
    }
    if ((v = schema_get(n, "misfire_grace"))) {
        schema_child_path(sub, sizeof(sub), path, "misfire_grace");
        schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &job->misfire_grace_ns);
    }
    if ((v = schema_get(n, "coalesce"))) {
        schema_child_path(sub, sizeof(sub), path, "coalesce");
        schema_bool(s, v, sub, &job->coalesce);
    }
    if ((v = schema_get(n, "recover"))) {
        schema_child_path(sub, sizeof(sub), path, "recover");
        schema_bool(s, v, sub, &job->recover);
    }
    if ((v = schema_get(n, "timeout"))) {
        schema_child_path(sub, sizeof(sub), path, "timeout");
        schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &job->timeout_ns);
    }
    if ((v = schema_get(n, "isolation"))) {
        schema_child_path(sub, sizeof(sub), path, "isolation");
        parse_isolation(s, v, sub, job);
    }
    if ((v = schema_get(n, "limits"))) {
        schema_child_path(sub, sizeof(sub), path, "limits");
        parse_limits(b, v, sub, job);
    }
    parse_creds(b, n, path, job);
    if ((v = schema_get(n, "log_level"))) {
        schema_child_path(sub, sizeof(sub), path, "log_level");
        parse_level(s, v, sub, &job->log_level);
    }
    if ((v = schema_get(n, "catch_up"))) {
        schema_child_path(sub, sizeof(sub), path, "catch_up");
        schema_duration(s, v, sub, 0, JOB_DURATION_MAX_NS, &job->catch_up_ns);
    }
    if ((v = schema_get(n, "retry"))) {
        schema_child_path(sub, sizeof(sub), path, "retry");
        parse_retry(b, v, sub, job);
    }
    schema_child_path(sub, sizeof(sub), path, "concurrency");
    parse_concurrency(s, n, schema_get(n, "concurrency"), sub, job);
    if (schema_get(n, "notify") || schema_get(n, "ping")) {
        struct manifest_notify_list *list = arena_calloc(s->strings, 1, sizeof(*list));
        if ((v = schema_get(n, "notify"))) {
            schema_child_path(sub, sizeof(sub), path, "notify");
            parse_notify(s, v, sub, list);
        }
        if ((v = schema_get(n, "ping"))) {
            schema_child_path(sub, sizeof(sub), path, "ping");
            (void)parse_url(s, v, sub, &list->ping); /* a problem is reported there */
        }
        job->notify = list;
    }
}

/* The stream hook: one complete entry of a file's `jobs:`. */
static void on_job(void *arg, const struct ynode *item, size_t index)
{
    struct build *b = arg;
    struct manifest *m = b->m;
    struct manifest_job *job;
    char path[48];

    if (m->n_jobs == b->cap_jobs) {
        b->cap_jobs = b->cap_jobs ? 2 * b->cap_jobs : 64;
        m->jobs = xrealloc(m->jobs, b->cap_jobs * sizeof(*m->jobs));
        if (b->apart)
            b->id_at = xrealloc(b->id_at, b->cap_jobs * sizeof(*b->id_at));
    }
    if (b->apart)
        b->id_at[m->n_jobs] = (struct position){0, 0}; /* no valid id (yet) */
    job = &m->jobs[m->n_jobs++];
    memset(job, 0, sizeof(*job));
    job->file = b->file;
    job->index = (unsigned)index;
    snprintf(path, sizeof(path), "jobs[%zu]", index);
    parse_job(b, item, path, job);
}

/* ---- files ----------------------------------------------------------------- */

static void add_file(struct build *b, const char *name)
{
    struct manifest *m = b->m;

    if (m->n_files == b->cap_files) {
        b->cap_files = b->cap_files ? 2 * b->cap_files : 4;
        m->files = xrealloc(m->files, b->cap_files * sizeof(*m->files));
    }
    m->files[m->n_files] = arena_strdup(&m->arena, name);
    b->file = m->files[m->n_files];
    b->s.file = b->file;
    b->s.file_seq = (unsigned)m->n_files;
    m->n_files++;
}

/* A `jobs:` that was not streamed: null, or not a list. */
static void check_jobs_value(struct schema *s, const struct ynode *root)
{
    const struct ynode *v = schema_get(root, "jobs");

    if (v && !v->streamed && !schema_is_null(v))
        (void)schema_expect(s, v, YSEQ, "jobs"); /* only to report what it is */
}

static void keep_include(struct build *b, const struct ynode *n, const char *path)
{
    struct include *inc;

    if (!schema_expect(&b->s, n, YSCALAR, path))
        return;
    if (n->text[0] == '\0') {
        schema_error(&b->s, n->line, n->col, path, "must not be empty");
        return;
    }
    b->includes = xrealloc(b->includes, (b->n_includes + 1) * sizeof(*b->includes));
    inc = &b->includes[b->n_includes++];
    inc->pattern = xstrdup(n->text);
    inc->line = n->line;
    inc->col = n->col;
    snprintf(inc->path, sizeof(inc->path), "%s", path);
}

/* `include:` of the manifest: a pattern or a list of them. */
static void parse_include(struct build *b, const struct ynode *n)
{
    char path[32];
    size_t i = 0;

    if (schema_is_null(n))
        return;
    if (n->kind == YSCALAR) {
        keep_include(b, n, "include");
        return;
    }
    if (!schema_expect(&b->s, n, YSEQ, "include"))
        return;
    for (const struct ynode *c = n->first; c; c = c->next, i++) {
        schema_index_path(path, sizeof(path), "include", i);
        keep_include(b, c, path);
    }
}

/* The manifest's own text. */
static void read_manifest(struct build *b, const char *text, size_t len)
{
    static const char *const top_keys[] = {"host", "jobs", "include", NULL};
    static const char empty[] = "manifest is empty (expected a mapping with `host` and `jobs`)";
    const struct yamltree_stream stream = {.key = "jobs", .fn = on_job, .arg = b};
    struct schema *s = &b->s;
    const struct ynode *root, *v;

    root = yamltree_parse(s, &b->nodes, text, len, &stream);
    if (!root || schema_is_null(root)) {
        if (!s->failed)
            schema_error(s, root ? root->line : 1, root ? root->col : 1, NULL, empty);
        return;
    }
    if (!schema_expect(s, root, YMAP, NULL))
        return;
    schema_check_keys(s, root, "", top_keys);
    if ((v = schema_get(root, "host")) && !schema_is_null(v))
        parse_host(s, v, &b->m->host);
    check_jobs_value(s, root);
    if ((v = schema_get(root, "include")))
        parse_include(b, v);
}

/* An included file's text: `jobs:` and nothing else. */
static void read_included(struct build *b, const char *text, size_t len)
{
    const struct yamltree_stream stream = {.key = "jobs", .fn = on_job, .arg = b};
    struct schema *s = &b->s;
    const struct ynode *root;

    root = yamltree_parse(s, &b->nodes, text, len, &stream);
    if (!root || schema_is_null(root))
        return; /* empty, or reported: an empty drop-in is fine */
    if (!schema_expect(s, root, YMAP, NULL))
        return;
    schema_check_keys(s, root, "", NULL); /* plain keys, each once */
    for (const struct ynode *k = root->first; k && k->next; k = k->next->next) {
        if (k->kind != YSCALAR || strcmp(k->text, "jobs") == 0)
            continue;
        if (strcmp(k->text, "host") == 0)
            schema_error(s, k->line, k->col, "host",
                         "an included file holds only `jobs`; host settings belong in %s",
                         b->m->path);
        else if (strcmp(k->text, "include") == 0)
            schema_error(s, k->line, k->col, "include",
                         "an included file cannot include others; list every file in the "
                         "include of %s",
                         b->m->path);
        else
            schema_error(s, k->line, k->col, k->text,
                         "unknown key (an included file holds only `jobs`)");
    }
    check_jobs_value(s, root);
}

/* Whether the file behind st was read already; when not, remembers it. */
static bool seen_before(struct build *b, const struct stat *st, size_t include, size_t *by)
{
    for (size_t i = 0; i < b->n_seen; i++) {
        if (b->seen[i].dev == st->st_dev && b->seen[i].ino == st->st_ino) {
            *by = b->seen[i].include;
            return true;
        }
    }
    b->seen = xrealloc(b->seen, (b->n_seen + 1) * sizeof(*b->seen));
    b->seen[b->n_seen].dev = st->st_dev;
    b->seen[b->n_seen].ino = st->st_ino;
    b->seen[b->n_seen].include = include;
    b->n_seen++;
    return false;
}

/* How messages name a file the include entry found: relative patterns
 * under the directory of the manifest's path as given ("conf/jobs.d/a.yaml"
 * for conf/jobhost.yaml), absolute ones as they are. */
static void display_name(struct build *b, const char *pattern, const char *found, struct buf *out)
{
    const char *slash = strrchr(b->m->path, '/');
    size_t dl = strlen(b->m->dir);

    buf_reset(out);
    if (pattern[0] == '/' || strncmp(found, b->m->dir, dl) != 0) {
        buf_puts(out, found);
        return;
    }
    found += dl;
    while (*found == '/')
        found++;
    if (slash)
        buf_append(out, b->m->path, (size_t)(slash - b->m->path) + 1);
    buf_puts(out, found);
}

/* What an included file came to, kept while any manifest uses it: the
 * strings its jobs point to and where its ids are written. A reload that
 * finds a file's bytes unchanged copies its jobs from the manifest before
 * and shares this, instead of reading them again. */
struct manifest_chunk {
    atomic_uint refs;
    const char *name;         /* in arena; the jobs' `file` */
    unsigned char digest[32]; /* SHA-256 of the file's bytes */
    size_t n_jobs;
    struct position *id_at;   /* [n_jobs]: where each id is written (line 0: none) */
    struct arena arena;
};

/* A chunk as one manifest uses it: its jobs are jobs[first, first + n_jobs). */
struct manifest_use {
    struct manifest_chunk *chunk;
    size_t first;
};

static void chunk_unref(struct manifest_chunk *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(c->id_at);
    arena_free(&c->arena);
    free(c);
}

/* One included file, read into a build of its own so that files are read
 * in parallel; joined to the manifest afterwards, in order. */
struct part {
    size_t include;       /* the include entry that found it */
    char *found;          /* its path */
    const char *name;     /* as messages name it (one of m->files) */
    unsigned seq;         /* its place in reading order */
    struct manifest m;    /* its jobs, and its strings in m.arena */
    struct build b;
    struct stat st;
    int rc;               /* of reading the file */
    char err[1024];
    unsigned char digest[32];
    const struct manifest_use *same; /* the manifest before read the same bytes */
};

struct parts {
    struct part *v;
    size_t n;
    atomic_size_t next;          /* the next part a reader takes */
    const struct manifest *prev; /* the manifest a reload replaces, or NULL */
    struct idtable prev_by_name; /* file name -> its struct manifest_use in prev */
};

/* The file's bytes as `prev` read them under the same name, if so. */
static const struct manifest_use *same_as_before(const struct parts *parts, const char *name,
                                                 const unsigned char digest[32])
{
    const struct manifest_use *u;

    if (!parts->prev)
        return NULL;
    u = idtable_get(&parts->prev_by_name, name);
    return u && memcmp(u->chunk->digest, digest, 32) == 0 ? u : NULL;
}

/* Reads and checks one file on its own: whatever thread runs it touches
 * only the part (the manifest's path and folder are read-only here). */
static void read_part(const struct build *whole, const struct parts *parts, struct part *p)
{
    struct build *b = &p->b;
    struct buf text = {0};
    struct sha256 h;

    p->rc = manifest_file_read(p->found, YAMLTREE_MAX_BYTES,
                               whole->m->host.strict_permissions ? MANIFEST_FILE_TRUSTED : 0,
                               &text, &p->st, p->err, sizeof(p->err));
    if (p->rc == 0) {
        sha256_init(&h);
        sha256_update(&h, text.data, text.len);
        sha256_final(&h, p->digest);
        p->same = same_as_before(parts, p->name, p->digest);
    }
    if (p->rc == 0 && !p->same) {
        p->m.path = whole->m->path;
        p->m.dir = whole->m->dir;
        b->m = &p->m;
        b->apart = true;
        b->file = arena_strdup(&p->m.arena, p->name); /* kept with the chunk */
        b->s.file = p->name;
        b->s.file_seq = p->seq;
        b->s.dir = whole->m->dir;
        b->s.strings = &p->m.arena;
        idtable_init(&b->shared, 64);
        idtable_init(&b->creds, 0);
        read_included(b, text.data, text.len);
        arena_free(&b->nodes);
        idtable_free(&b->shared);
        idtable_free(&b->creds);
        buf_free(&b->scratch);
    }
    buf_free(&text);
}

struct reader_arg {
    const struct build *whole;
    struct parts *parts;
};

static void *part_reader(void *arg)
{
    struct reader_arg *r = arg;
    size_t i;

    while ((i = atomic_fetch_add(&r->parts->next, 1)) < r->parts->n)
        read_part(r->whole, r->parts, &r->parts->v[i]);
    return NULL;
}

/* Reads every part, on up to one thread per CPU (the calling one too). */
static void read_parts(const struct build *whole, struct parts *parts)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t extra = parts->n > 1 ? parts->n - 1 : 0;
    struct reader_arg arg = {whole, parts};
    pthread_t threads[MAX_READERS - 1];
    size_t started = 0;

    if (cpus < 1)
        cpus = 1;
    if (extra > (size_t)cpus - 1)
        extra = (size_t)cpus - 1;
    if (extra > MAX_READERS - 1)
        extra = MAX_READERS - 1;
    atomic_init(&parts->next, 0);
    while (started < extra && pthread_create(&threads[started], NULL, part_reader, &arg) == 0)
        started++; /* fewer threads only means slower */
    part_reader(&arg);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
}

static void free_part(struct part *p)
{
    schema_discard(&p->b.s); /* what was not joined */
    arena_free(&p->m.arena);
    free(p->m.jobs);
    free(p->b.id_at);
    free(p->b.includes);
    free(p->b.seen);
    free(p->found);
}

static void keep_part(struct build *b, struct part *p);
static void reuse_part(struct build *b, struct part *p);

/* Adds a part's jobs, strings and messages to the manifest, checking its
 * ids against every job before it. */
static void join_part(struct build *b, struct part *p)
{
    const struct include *inc = &b->includes[p->include];
    struct manifest *m = b->m;
    size_t by;

    /* problems with the file as a whole are told where the manifest names it */
    b->s.file = m->path;
    b->s.file_seq = 0;
    if (p->rc < 0) {
        schema_error(&b->s, inc->line, inc->col, inc->path, "%s: %s", p->name, p->err);
        return;
    }
    if (seen_before(b, &p->st, p->include, &by)) {
        if (by == SIZE_MAX)
            schema_error(&b->s, inc->line, inc->col, inc->path, "%s: is the manifest itself",
                         p->name);
        else
            schema_error(&b->s, inc->line, inc->col, inc->path, "%s: already included by %s",
                         p->name, b->includes[by].path);
        return;
    }
    if (p->same)
        reuse_part(b, p);
    else
        keep_part(b, p);
}

/* Room for n more jobs in m->jobs. */
static void reserve_jobs(struct build *b, size_t n)
{
    if (b->m->n_jobs + n > b->cap_jobs) {
        b->cap_jobs = b->m->n_jobs + n;
        b->m->jobs = xrealloc(b->m->jobs, b->cap_jobs * sizeof(*b->m->jobs));
    }
}

static void add_use(struct build *b, struct manifest_chunk *c, size_t first)
{
    struct manifest *m = b->m;

    m->uses = xrealloc(m->uses, (m->n_uses + 1) * sizeof(*m->uses));
    m->uses[m->n_uses++] = (struct manifest_use){c, first};
}

/* Each id of the chunk's jobs, now at m->jobs[first...], against the jobs
 * before them. */
static void check_chunk_ids(struct build *b, const struct manifest_chunk *c, unsigned seq,
                            size_t first)
{
    b->s.file = c->name;
    b->s.file_seq = seq;
    for (size_t i = 0; i < c->n_jobs; i++) {
        if (c->id_at[i].line)
            check_duplicate(b, first + i, c->id_at[i].line, c->id_at[i].col);
    }
}

/* A file read just now: its jobs are copied in, its strings and messages
 * kept in a new chunk. */
static void keep_part(struct build *b, struct part *p)
{
    struct manifest_chunk *c = xcalloc(1, sizeof(*c));
    struct manifest *m = b->m;
    size_t first = m->n_jobs;

    atomic_init(&c->refs, 1);
    c->name = p->b.file;
    memcpy(c->digest, p->digest, sizeof(c->digest));
    c->n_jobs = p->m.n_jobs;
    c->id_at = p->b.id_at;
    p->b.id_at = NULL;
    arena_adopt(&c->arena, &p->m.arena);
    add_use(b, c, first);
    schema_adopt(&b->s, &p->b.s);
    reserve_jobs(b, c->n_jobs);
    if (c->n_jobs)
        memcpy(m->jobs + first, p->m.jobs, c->n_jobs * sizeof(*m->jobs));
    m->n_jobs += c->n_jobs;
    check_chunk_ids(b, c, p->seq, first);
}

/* A file with the bytes the manifest before read: its jobs are copied
 * from there, its chunk shared (their strings live in it). */
static void reuse_part(struct build *b, struct part *p)
{
    struct manifest_chunk *c = p->same->chunk;
    struct manifest *m = b->m;
    size_t first = m->n_jobs;

    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    add_use(b, c, first);
    reserve_jobs(b, c->n_jobs);
    if (c->n_jobs)
        memcpy(m->jobs + first, b->prev->jobs + p->same->first, c->n_jobs * sizeof(*m->jobs));
    m->n_jobs += c->n_jobs;
    check_chunk_ids(b, c, p->seq, first);
}

/* The files the include entries find, in order; each is named in m->files. */
static void find_parts(struct build *b, struct parts *parts)
{
    struct buf name = {0};
    size_t cap = 0;

    for (size_t k = 0; k < b->n_includes; k++) {
        const struct include *inc = &b->includes[k];
        char **found;
        size_t n;
        char err[512];

        if (manifest_file_expand(b->m->dir, inc->pattern, &found, &n, err, sizeof(err)) < 0) {
            b->s.file = b->m->path;
            b->s.file_seq = 0;
            schema_error(&b->s, inc->line, inc->col, inc->path, "%s", err);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            struct part *p;
            if (parts->n == cap) {
                cap = cap ? 2 * cap : 8;
                parts->v = xrealloc(parts->v, cap * sizeof(*parts->v));
            }
            p = &parts->v[parts->n++];
            memset(p, 0, sizeof(*p));
            p->include = k;
            p->found = xstrdup(found[i]);
            display_name(b, inc->pattern, found[i], &name);
            add_file(b, name.data);
            p->name = b->file;
            p->seq = b->s.file_seq;
        }
        manifest_file_paths_free(found, n);
    }
    buf_free(&name);
}

static void read_includes(struct build *b)
{
    struct parts parts = {0};

    find_parts(b, &parts);
    if (b->prev && b->prev->reusable) {
        parts.prev = b->prev;
        idtable_init(&parts.prev_by_name, b->prev->n_uses);
        for (size_t i = 0; i < b->prev->n_uses; i++)
            (void)idtable_put(&parts.prev_by_name, b->prev->uses[i].chunk->name,
                              &b->prev->uses[i]); /* a name is included once */
    }
    read_parts(b, &parts);
    for (size_t i = 0; i < parts.n; i++) {
        join_part(b, &parts.v[i]);
        free_part(&parts.v[i]);
    }
    idtable_free(&parts.prev_by_name);
    free(parts.v);
}

/* ---- the whole ------------------------------------------------------------- */

/* Each job's `histograms`, once every job is known; a listed id that names
 * no job is an error at its place in the main manifest. */
static void resolve_histograms(struct build *b)
{
    const struct manifest_host *h = &b->m->host;

    for (size_t i = 0; i < b->m->n_jobs; i++)
        b->m->jobs[i].histograms = h->job_histograms == HISTOGRAMS_ALL;
    if (h->job_histograms != HISTOGRAMS_LISTED)
        return;
    b->s.file = b->m->path;
    b->s.file_seq = 0;
    for (size_t i = 0; i < h->n_histogram_jobs; i++) {
        const struct manifest_ref *r = &h->histogram_jobs[i];
        uintptr_t at = (uintptr_t)idtable_get(&b->m->index, r->id);
        char path[SCHEMA_PATH_MAX];
        snprintf(path, sizeof(path), "host.metrics.job_histograms[%zu]", i);
        if (!at)
            schema_error(&b->s, r->line, r->col, path, "no job with id \"%s\"", r->id);
        else
            b->m->jobs[at - 1].histograms = true;
    }
}

/* The place of `file` in reading order, for sorting its messages. */
static unsigned file_seq_of(const struct manifest *m, const char *file)
{
    for (size_t i = 0; i < m->n_files; i++)
        if (m->files[i] == file || strcmp(m->files[i], file) == 0)
            return (unsigned)i;
    return 0;
}

/* Points the schema's messages at job j's file. */
static void at_job_file(struct build *b, const struct manifest_job *j)
{
    b->s.file = j->file;
    b->s.file_seq = file_seq_of(b->m, j->file);
}

/* The chained jobs' parents, once every job is known: each must name
 * another job, and no chain may lead back to where it started. */
static void resolve_chains(struct build *b)
{
    struct manifest *m = b->m;
    unsigned char *color; /* 0 unseen, 1 on the path, 2 done */
    size_t *stack, *next_parent;
    char path[SCHEMA_PATH_MAX], sub[SCHEMA_PATH_MAX];
    bool any = false;

    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *j = &m->jobs[i];
        if (!j->after)
            continue;
        any = true;
        for (uint32_t k = 0; k < j->after->n_parents; k++) {
            const struct manifest_ref *r = &j->after->parents[k];
            snprintf(path, sizeof(path), "jobs[%u].trigger.after", j->index);
            if (j->after->n_parents > 1 || r->line != j->after->line || r->col != j->after->col)
                schema_index_path(sub, sizeof(sub), path, k);
            else
                snprintf(sub, sizeof(sub), "%s", path);
            if (!idtable_get(&m->index, r->id)) {
                at_job_file(b, j);
                schema_error(&b->s, r->line, r->col, sub, "no job with id \"%s\"", r->id);
            } else if (strcmp(r->id, j->id) == 0) {
                at_job_file(b, j);
                schema_error(&b->s, r->line, r->col, sub, "a job cannot run after itself");
            }
        }
    }
    if (!any || b->s.failed)
        return;
    /* a depth-first walk along the parents, without recursion */
    color = xcalloc(m->n_jobs, 1);
    stack = xcalloc(m->n_jobs, sizeof(*stack));
    next_parent = xcalloc(m->n_jobs, sizeof(*next_parent));
    for (size_t root = 0; root < m->n_jobs; root++) {
        size_t depth = 0;
        if (color[root] || !m->jobs[root].after)
            continue;
        stack[depth++] = root;
        color[root] = 1;
        while (depth) {
            size_t at = stack[depth - 1];
            const struct manifest_after *a = m->jobs[at].after;
            if (!a || next_parent[at] == a->n_parents) {
                color[at] = 2;
                depth--;
                continue;
            }
            size_t p = (uintptr_t)idtable_get(&m->index, a->parents[next_parent[at]++].id) - 1;
            if (color[p] == 1) {
                /* the cycle: from p along the path back to p */
                struct buf cyc = {0};
                const struct manifest_job *j = &m->jobs[p];
                size_t from = depth;
                while (from > 0 && stack[from - 1] != p)
                    from--;
                for (size_t k = from - 1; k < depth; k++)
                    buf_printf(&cyc, "%s -> ", m->jobs[stack[k]].id);
                buf_puts(&cyc, j->id);
                at_job_file(b, j);
                snprintf(path, sizeof(path), "jobs[%u].trigger.after", j->index);
                schema_error(&b->s, j->after->line, j->after->col, path,
                             "a cycle of chained jobs: %s (each runs after the next)", cyc.data);
                buf_free(&cyc);
                goto out;
            }
            if (color[p] == 0) {
                color[p] = 1;
                stack[depth++] = p;
            }
        }
    }
out:
    free(color);
    free(stack);
    free(next_parent);
}

/* Warnings about a job are said in the file that holds it. */
static void point_at_job_file(struct build *b, const struct manifest_job *j)
{
    b->s.file = j->file;
    b->s.file_seq = 0;
    for (size_t f = 0; f < b->m->n_files; f++) {
        if (b->m->files[f] == j->file)
            b->s.file_seq = (unsigned)f;
    }
}

/* What a job asks that the host settings make moot: said once every job
 * and the host are read (`host:` may come after `jobs:`), at the job's
 * entry. A job's log_level can make it quieter than the host, not
 * louder: the host's level filters first. `recover` re-runs a firing a
 * dead cluster node left; without a cluster there is no other node. */
static void warn_moot_job_keys(struct build *b)
{
    struct manifest *m = b->m;
    int host_level = m->host.log.level;

    for (size_t i = 0; i < m->n_jobs; i++) {
        const struct manifest_job *j = &m->jobs[i];
        char path[48];
        if (!j->file)
            continue;
        if (j->log_level >= 0 && j->log_level < host_level) {
            point_at_job_file(b, j);
            snprintf(path, sizeof(path), "jobs[%u].log_level", j->index);
            schema_warning(&b->s, j->line, j->col, path,
                           "%s is louder than host.log.level (%s): this job's records below %s "
                           "are still dropped",
                           log_level_name(j->log_level), log_level_name(host_level),
                           log_level_name(host_level));
        }
        if (j->recover && !m->host.cluster.enabled) {
            point_at_job_file(b, j);
            snprintf(path, sizeof(path), "jobs[%u].recover", j->index);
            schema_warning(&b->s, j->line, j->col, path,
                           "has effect only in a cluster (host.cluster): it re-runs a firing "
                           "whose node died mid-run");
        }
    }
}

static int build_manifest(const char *name, const char *dir, const char *text, size_t len,
                          const struct stat *main_st, const struct manifest *prev,
                          unsigned flags, struct manifest **out, struct errors *errs)
{
    struct build b = {0};
    struct manifest *m = xcalloc(1, sizeof(*m));
    size_t by;
    int rc = -EINVAL;

    *out = NULL;
    b.m = m;
    b.now_ns = wall_ns();
    b.prev = prev;
    m->reusable = true;
    b.s.strings = &m->arena;
    m->path = arena_strdup(&m->arena, name);
    m->dir = arena_strdup(&m->arena, dir);
    b.s.dir = m->dir;
    host_defaults(&m->arena, &m->host, m->dir);
    idtable_init(&m->index, 64);
    idtable_init(&b.shared, 64);
    idtable_init(&b.creds, 0);
    if (main_st)
        (void)seen_before(&b, main_st, SIZE_MAX, &by); /* first: never seen */

    add_file(&b, name);
    read_manifest(&b, text, len);
    arena_free(&b.nodes);
    read_includes(&b);
    resolve_histograms(&b);
    resolve_chains(&b);
    warn_moot_job_keys(&b);

    /* what stays: the jobs array at its size */
    m->jobs = xrealloc(m->jobs, (m->n_jobs ? m->n_jobs : 1) * sizeof(*m->jobs));
    schema_flush(&b.s, errs, name);
    schema_flush_warnings(&b.s, &m->warnings);
    if (!b.s.failed)
        rc = 0;
    m->failed = b.s.failed;

    idtable_free(&b.shared);
    idtable_free(&b.creds);
    buf_free(&b.scratch);
    for (size_t i = 0; i < b.n_includes; i++)
        free(b.includes[i].pattern);
    free(b.includes);
    free(b.seen);
    if (rc == 0 || (flags & MANIFEST_KEEP_ON_ERROR))
        *out = m;
    else
        manifest_free(m);
    return rc;
}

static int load(const char *path, const struct manifest *prev, unsigned flags,
                struct manifest **out, struct errors *errs);

int manifest_parse(const char *name, const char *dir, const char *text, size_t len,
                   struct manifest **out, struct errors *errs)
{
    return build_manifest(name, dir, text, len, NULL, NULL, 0, out, errs);
}

int manifest_load(const char *path, struct manifest **out, struct errors *errs)
{
    return load(path, NULL, 0, out, errs);
}

int manifest_load_flags(const char *path, const struct manifest *prev, unsigned flags,
                        struct manifest **out, struct errors *errs)
{
    return load(path, prev, flags, out, errs);
}

/* One line of a list of errors and where it points. */
struct positioned {
    const char *text;
    size_t len, file, seq;
    long line, col;
};

static int positioned_cmp(const void *a, const void *b)
{
    const struct positioned *x = a, *y = b;

    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void manifest_sort_errors(const struct manifest *m, struct errors *errs)
{
    struct positioned *lines;
    struct buf sorted = {0};
    size_t n = 0;

    if (errs->count < 2)
        return;
    lines = xcalloc(errs->count + 1, sizeof(*lines));
    for (const char *p = errs->text.data; p && *p && n < errs->count + 1;) {
        const char *nl = strchr(p, '\n');
        struct positioned *l = &lines[n];
        size_t best = 0;

        l->text = p;
        l->len = nl ? (size_t)(nl - p) : strlen(p);
        l->seq = n;
        for (size_t f = 0; f < m->n_files; f++) {
            size_t flen = strlen(m->files[f]);
            if (flen > best && strncmp(p, m->files[f], flen) == 0 && p[flen] == ':') {
                char *end;
                best = flen;
                l->file = f;
                l->line = strtol(p + flen + 1, &end, 10);
                l->col = *end == ':' ? strtol(end + 1, NULL, 10) : 0;
            }
        }
        n++;
        p = nl ? nl + 1 : NULL;
    }
    qsort(lines, n, sizeof(*lines), positioned_cmp);
    for (size_t i = 0; i < n; i++) {
        buf_append(&sorted, lines[i].text, lines[i].len);
        buf_putc(&sorted, '\n');
    }
    buf_free(&errs->text);
    errs->text = sorted;
    free(lines);
}

int manifest_reload(const char *path, const struct manifest *prev, struct manifest **out,
                    struct errors *errs)
{
    return load(path, prev, 0, out, errs);
}

static int load(const char *path, const struct manifest *prev, unsigned flags,
                struct manifest **out, struct errors *errs)
{
    struct buf text = {0};
    char dirbuf[PATH_MAX], err[1024];
    struct stat st;
    char *slash;
    int rc;

    *out = NULL;
    /* The manifest decides everything, strict_permissions included: it is
     * held to the trust check whatever it says. */
    rc = manifest_file_read(path, YAMLTREE_MAX_BYTES, MANIFEST_FILE_TRUSTED | MANIFEST_FILE_ALWAYS,
                            &text, &st, err, sizeof(err));
    if (rc < 0) {
        errors_add(errs, "%s: %s", path, err);
        goto out;
    }
    /* The directory relative paths are resolved against: the manifest's own,
     * made absolute so a later chdir cannot change what it means. */
    if (!realpath(path, dirbuf)) {
        rc = -errno;
        errors_add(errs, "%s: %s", path, strerror(errno));
        goto out;
    }
    slash = strrchr(dirbuf, '/');
    if (slash == dirbuf)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    rc = build_manifest(path, dirbuf, text.data, text.len, &st, prev, flags, out, errs);
out:
    buf_free(&text);
    return rc;
}

void manifest_retain_job(struct manifest *m, const char *id)
{
    size_t kept = 0;

    /* the strings stay in the arena until manifest_free */
    for (size_t i = 0; i < m->n_jobs && kept == 0; i++) {
        if (m->jobs[i].id && strcmp(m->jobs[i].id, id) == 0)
            m->jobs[kept++] = m->jobs[i];
    }
    m->n_jobs = kept;
    m->reusable = false; /* the chunks' jobs are no longer where m->uses says */
    idtable_free(&m->index);
    idtable_init(&m->index, 1);
    if (kept)
        (void)idtable_put(&m->index, m->jobs[0].id, (void *)(uintptr_t)1);
}

void manifest_keep_complete(struct manifest *m)
{
    size_t kept = 0;

    /* the index is rebuilt for what stays: it is also what finds a job
     * by its id (generation_find_job) */
    idtable_free(&m->index);
    idtable_init(&m->index, m->n_jobs);
    for (size_t i = 0; i < m->n_jobs; i++) {
        struct manifest_job *j = &m->jobs[i];
        if (!j->id || !j->id[0] || !j->plugin || !valid_name(j->plugin, false) ||
            idtable_get(&m->index, j->id))
            continue;
        m->jobs[kept++] = *j;
        (void)idtable_put(&m->index, j->id, (void *)(uintptr_t)kept); /* absent: looked up */
    }
    m->n_jobs = kept;
    m->reusable = false; /* the chunks' jobs are no longer where m->uses says */
}

void manifest_free(struct manifest *m)
{
    if (!m)
        return;
    errors_free(&m->warnings);
    arena_free(&m->arena);
    idtable_free(&m->index);
    for (size_t i = 0; i < m->n_uses; i++)
        chunk_unref(m->uses[i].chunk);
    free(m->uses);
    free(m->jobs);
    free(m->files);
    free(m);
}

const struct manifest_job *manifest_find_job(const struct manifest *m, const char *id)
{
    uintptr_t at = (uintptr_t)idtable_get(&m->index, id);
    return at ? &m->jobs[at - 1] : NULL;
}

size_t manifest_job_index(const struct manifest *m, const char *id)
{
    return (size_t)(uintptr_t)idtable_get(&m->index, id);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool params_equal(const struct manifest_job *a, const struct manifest_job *b)
{
    if (a->n_params != b->n_params)
        return false;
    for (size_t i = 0; i < a->n_params; i++) {
        const struct manifest_param *p = &a->params[i], *q = &b->params[i];
        if (!str_eq(p->key, q->key) || p->kind != q->kind || !str_eq(p->value, q->value) ||
            p->n != q->n)
            return false;
        for (size_t k = 0; k < p->n; k++) {
            if (!str_eq(p->values[k], q->values[k]) ||
                (p->names && !str_eq(p->names[k], q->names[k])))
                return false;
        }
    }
    return true;
}

static bool limits_equal(const struct manifest_limits *a, const struct manifest_limits *b)
{
    if (!a || !b)
        return a == b;
    return a->address_space == b->address_space && a->cpu_ns == b->cpu_ns &&
           a->open_files == b->open_files;
}

static bool notify_equal(const struct manifest_notify_list *a,
                         const struct manifest_notify_list *b)
{
    if (!a || !b)
        return a == b;
    if (a->n != b->n || !str_eq(a->ping, b->ping))
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct manifest_notify *x = &a->items[i], *y = &b->items[i];
        if (!str_eq(x->url, y->url) || x->on != y->on || x->timeout_ns != y->timeout_ns ||
            x->n_headers != y->n_headers)
            return false;
        for (uint32_t k = 0; k < x->n_headers; k++)
            if (!str_eq(x->headers[k].name, y->headers[k].name) ||
                !str_eq(x->headers[k].value, y->headers[k].value) ||
                !str_eq(x->headers[k].file, y->headers[k].file))
                return false;
    }
    return true;
}

static bool after_equal(const struct manifest_after *a, const struct manifest_after *b)
{
    if (!a || !b)
        return a == b;
    if (a->n_parents != b->n_parents || a->on != b->on)
        return false;
    for (uint32_t i = 0; i < a->n_parents; i++)
        if (strcmp(a->parents[i].id, b->parents[i].id) != 0)
            return false;
    return true;
}

static bool retry_equal(const struct manifest_retry *a, const struct manifest_retry *b)
{
    if (!a || !b)
        return a == b;
    return a->limit == b->limit && a->delay_ns == b->delay_ns && a->backoff == b->backoff &&
           a->max_delay_ns == b->max_delay_ns && a->jitter_ns == b->jitter_ns;
}

static bool creds_equal(const struct manifest_creds *a, const struct manifest_creds *b)
{
    if (!a || !b)
        return a == b;
    return a->set_uid == b->set_uid && a->set_gid == b->set_gid && a->uid == b->uid &&
           a->gid == b->gid && str_eq(a->user_name, b->user_name);
}

/* The two functions below list the fields of struct manifest_job: equal
 * compares every setting (a reload keeps a job whose entry is equal),
 * digest hashes those that decide what runs and when (nodes of a cluster
 * compare it). A new field goes into equal, and into digest unless it is
 * a node's own view; the assertion is the reminder. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct manifest_job) == 248,
               "struct manifest_job changed: compare the new field in manifest_job_equal() "
               "and hash it in manifest_job_digest() if it decides what runs or when");

bool manifest_job_equal(const struct manifest_job *a, const struct manifest_job *b)
{
    return str_eq(a->id, b->id) && str_eq(a->plugin, b->plugin) &&
           trigger_equal(&a->trigger, &b->trigger) && a->enabled == b->enabled &&
           a->max_instances == b->max_instances && a->misfire_grace_ns == b->misfire_grace_ns &&
           a->coalesce == b->coalesce && a->timeout_ns == b->timeout_ns &&
           a->catch_up_ns == b->catch_up_ns && a->recover == b->recover &&
           a->isolation == b->isolation && a->log_level == b->log_level &&
           a->concurrency == b->concurrency &&
           a->histograms == b->histograms && limits_equal(a->limits, b->limits) &&
           retry_equal(a->retry, b->retry) && after_equal(a->after, b->after) &&
           notify_equal(a->notify, b->notify) &&
           creds_equal(a->creds, b->creds) &&
           params_equal(a, b);
}

/* --- the digest -------------------------------------------------------------------- */

/* The bytes hashed: numbers little-endian whatever the host's order,
 * strings with their length first (NULL apart from ""), so that the
 * stream says one thing only and the digest may be compared between
 * machines. Gathered in a block before each hash update, and kept short
 * (most jobs fit two SHA-256 blocks): a cluster of a million jobs hashes
 * them all at every reload. */
struct digest_out {
    struct sha256 s;
    size_t n;
    unsigned char b[256];
};

static void digest_put(struct digest_out *d, const void *p, size_t len)
{
    if (d->n + len > sizeof(d->b)) {
        sha256_update(&d->s, d->b, d->n);
        d->n = 0;
    }
    if (len > sizeof(d->b)) {
        sha256_update(&d->s, p, len);
        return;
    }
    memcpy(d->b + d->n, p, len);
    d->n += len;
}

static void digest_uint(struct digest_out *d, uint64_t v, int bytes)
{
    unsigned char b[8];

    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    digest_put(d, b, (size_t)bytes);
}

static void digest_u32(struct digest_out *d, uint32_t v)
{
    digest_uint(d, v, 4);
}

static void digest_i64(struct digest_out *d, int64_t v)
{
    digest_uint(d, (uint64_t)v, 8);
}

static void digest_str(struct digest_out *d, const char *v)
{
    size_t len = v ? strlen(v) : 0;

    digest_u32(d, v ? (uint32_t)len : UINT32_MAX); /* manifest strings are far shorter */
    digest_put(d, v ? v : "", len);
}

/* The plugin's SHA-256 from its hex, as 32 bytes. */
static void digest_hex(struct digest_out *d, const char *hex)
{
    unsigned char raw[32] = {0};
    size_t i;

    for (i = 0; hex && i < 64 && isxdigit((unsigned char)hex[i]); i++) {
        int c = tolower((unsigned char)hex[i]);
        raw[i / 2] |= (unsigned char)((c <= '9' ? c - '0' : c - 'a' + 10) << (i % 2 ? 0 : 4));
    }
    digest_u32(d, (uint32_t)i); /* 64; what stopped short says so */
    digest_put(d, raw, sizeof(raw));
}

static int param_key_cmp(const void *a, const void *b)
{
    const struct manifest_param *p = *(const struct manifest_param *const *)a;
    const struct manifest_param *q = *(const struct manifest_param *const *)b;
    return strcmp(p->key, q->key);
}

/* By key: `params: {a: 1, b: 2}` and `{b: 2, a: 1}` are one job. */
static void digest_params(struct digest_out *d, const struct manifest_job *job)
{
    const struct manifest_param *few[16], **order = few;

    if (job->n_params > sizeof(few) / sizeof(few[0]))
        order = xmalloc(job->n_params * sizeof(*order));
    for (uint32_t i = 0; i < job->n_params; i++)
        order[i] = &job->params[i];
    qsort(order, job->n_params, sizeof(*order), param_key_cmp);
    digest_u32(d, job->n_params);
    for (uint32_t i = 0; i < job->n_params; i++) {
        const struct manifest_param *p = order[i];
        digest_str(d, p->key);
        digest_u32(d, (uint32_t)p->kind);
        digest_str(d, p->value);
        digest_u32(d, (uint32_t)p->n);
        for (size_t k = 0; k < p->n; k++) {
            digest_str(d, p->names ? p->names[k] : NULL);
            digest_str(d, p->values[k]);
        }
    }
    if (order != few)
        free(order);
}

/* Left out as a node's own view: log_level and histograms (what it
 * records), notify and ping (who hears of a run: their URLs and header
 * files may be each machine's own), and user, group and limits (how this
 * machine confines the worker: a user's uid is the machine's). */
void manifest_job_digest(const struct manifest_job *job, const char *plugin_hash,
                         unsigned char out[32])
{
    const struct manifest_retry *r = job->retry;
    const struct manifest_after *a = job->after;
    struct digest_out d;

    sha256_init(&d.s);
    d.n = 0;
    digest_str(&d, job->id);
    digest_str(&d, job->plugin);
    digest_hex(&d, plugin_hash);
    digest_i64(&d, (int64_t)trigger_hash(&job->trigger)); /* its values: 200ms and 0.2s agree */
    digest_u32(&d, (uint32_t)job->enabled | (uint32_t)job->coalesce << 1 |
                       (uint32_t)job->at_start << 2 | (uint32_t)job->recover << 3 |
                       (uint32_t)job->concurrency << 8 |
                       (uint32_t)job->isolation << 16);
    digest_u32(&d, job->max_instances);
    digest_i64(&d, job->misfire_grace_ns);
    digest_i64(&d, job->timeout_ns);
    digest_i64(&d, job->catch_up_ns);
    digest_u32(&d, r ? r->limit : 0);
    if (r) {
        uint64_t backoff;
        memcpy(&backoff, &r->backoff, sizeof(backoff));
        digest_i64(&d, r->delay_ns);
        digest_i64(&d, r->max_delay_ns);
        digest_i64(&d, r->jitter_ns);
        digest_i64(&d, (int64_t)backoff);
    }
    digest_u32(&d, a ? a->n_parents : 0);
    for (uint32_t i = 0; a && i < a->n_parents; i++)
        digest_str(&d, a->parents[i].id);
    digest_u32(&d, a ? (uint32_t)a->on : 0);
    digest_params(&d, job);
    sha256_update(&d.s, d.b, d.n);
    sha256_final(&d.s, out);
}
