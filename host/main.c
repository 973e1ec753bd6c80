/*
 * main — the command line: argv parsing and dispatch to the daemon, the
 * manifest checker, a one-off run, a plugin's description, and the trigger
 * calculator. Nothing else lives here.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jobhost/plugin.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/isolate.h"
#include "core/jobstate.h"
#include "core/mainloop.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/metrics.h"
#include "core/outcome_log.h"
#include "core/outcome_metrics.h"
#include "core/outcome_state.h"
#include "core/params.h"
#include "core/plugin.h"
#include "core/run.h"
#include "core/store.h"
#include "ctl/ctl.h"
#include "daemon.h"
#include "io/history_json.h"
#include "io/http_server.h"
#include "io/store_sqlite.h"
#include "lib/listen.h"
#include "lib/trigger.h"
#include "lib/tz.h"
#include "lib/units.h"
#include "lib/util.h"

#ifndef JOBHOST_VERSION
#define JOBHOST_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2

static const char usage_text[] =
    "Usage:\n"
    "  jobhost [-c FILE] [--dry-run] [--log-stderr] [--listen ADDR]\n"
    "                                                 run the daemon in the foreground\n"
    "  jobhost check -c FILE                          validate a manifest and load its plugins\n"
    "  jobhost run-once JOB -c FILE [--dry-run]       run one job now, print its result\n"
    "  jobhost describe PLUGIN -c FILE [--json]       print a plugin's parameters (from\n"
    "                                                 <plugin_dir>/PLUGIN.so)\n"
    "  jobhost ctl COMMAND [ARG]                      talk to a running daemon: status, list,\n"
    "                                                 show, run, pause, resume, history, logs,\n"
    "                                                 reload (jobhost ctl --help)\n"
    "  jobhost next EXPR [--count N] [--from TIME] [--timezone TZ]\n"
    "                                                 print the next fire times of a cron\n"
    "                                                 expression (or @daily, ...)\n"
    "  jobhost history JOB -c FILE [--limit N] [--before RUN_ID] [--json]\n"
    "                                                 a job's runs and skipped firings from\n"
    "                                                 the run store, newest first\n"
    "  jobhost history prune -c FILE [--dry-run]      apply host.store.history's retention\n"
    "  jobhost --help | --version\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   the manifest (default /etc/jobhost/jobhost.yaml)\n"
    "  -n, --dry-run       plugins see dry-run set and change nothing (prune: count only)\n"
    "      --json          describe, history: as JSON\n"
    "      --log-stderr    also write log records to stderr\n"
    "      --listen ADDR   serve HTTP on ADDR (127.0.0.1:9500, [::1]:9500, :9500) instead\n"
    "                      of host.http.listen; also JOBHOST_LISTEN\n"
    "\n"
    "Signals: SIGHUP reloads, SIGTERM/SIGINT stop gracefully, SIGUSR1 reopens log files.\n"
    "Exit status: 0 success, 1 failure (invalid manifest, failed run), 2 usage error\n"
    "(jobhost ctl: 3 when the daemon cannot be reached).\n";

static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "jobhost: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nUsage: jobhost [check|run-once JOB|describe PLUGIN|next EXPR|history JOB] "
                    "[-c FILE] "
                    "[--dry-run]; see jobhost --help\n");
}

struct cli {
    const char *command; /* NULL = run the daemon */
    const char *arg;     /* JOB for run-once, EXPR for next */
    const char *config;
    bool dry_run;
    bool json;
    int log_stderr;
    unsigned count;
    const char *from;
    const char *timezone;
    unsigned limit;     /* history */
    const char *before; /* history */
    const char *listen;
};

/* The token and TLS files are read at start; check them now, not at the
 * next restart. */
static void check_http_files(const struct manifest *m, struct errors *errs)
{
    const char *files[] = {m->host.http.token_file, m->host.http.cert_file, m->host.http.key_file};
    char err[512];

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *text = NULL;
        int rc;
        if (!files[i])
            continue;
        rc = i == 0 ? http_read_token_file(files[i], &text, err, sizeof(err))
                    : http_read_file(files[i], &text, err, sizeof(err));
        if (rc < 0)
            errors_add(errs, "%s: host.http: %s", m->path, err);
        if (text) {
            explicit_bzero(text, strlen(text));
            free(text);
        }
    }
    if (m->host.http.cert_file && !http_tls_supported())
        errors_add(errs, "%s: host.http.cert_file: this libmicrohttpd has no TLS support", m->path);
}

/* Prints every problem of the manifest and its plugins in one pass (a
 * plugin that cannot load is reported beside the manifest's own errors,
 * not after they are fixed), then the warnings; 0 when there is no error. */
static int cmd_check(const struct cli *cli)
{
    struct errors errs = {0}, warnings = {0};
    struct manifest *m = NULL;
    struct generation *g = NULL;
    struct runtime rt;
    /* check speaks only through its own output: no log records */
    struct log_config quiet = {.level = JH_LOG_ERROR + 1};
    char **files = NULL;
    size_t n_jobs = 0, n_files = 0;
    bool failed;
    int status = 1, rc;

    runtime_init(&rt, NULL);
    log_setup(&quiet);
    (void)manifest_load_flags(cli->config, NULL, MANIFEST_KEEP_ON_ERROR, &m, &errs);
    if (!m)
        goto out; /* the file itself could not be read */
    n_jobs = m->n_jobs;
    failed = m->failed;
    warnings = m->warnings;
    m->warnings = (struct errors){0};
    n_files = m->n_files;
    files = xcalloc(n_files + 1, sizeof(*files));
    for (size_t i = 0; i < n_files; i++)
        files[i] = xstrdup(m->files[i]);
    check_http_files(m, &errs);
    if (failed)
        manifest_keep_complete(m); /* what is left can still load its plugins */
    rc = generation_build(&rt, m, NULL, &g, &errs);
    m = NULL; /* the generation's, even when the build failed */
    if (rc < 0 || failed || errs.count)
        goto out;
    printf("%s: ok (%zu job%s, %zu plugin%s", cli->config, n_jobs, n_jobs == 1 ? "" : "s",
           g->n_plugins, g->n_plugins == 1 ? "" : "s");
    if (warnings.count)
        printf(", %zu warning%s", warnings.count, warnings.count == 1 ? "" : "s");
    printf(")\n");
    status = 0;
out:
    if (errs.count) {
        /* the manifest is gone with a failed build: its file names are enough */
        struct manifest names = {.files = files, .n_files = n_files};
        manifest_sort_errors(&names, &errs);
        fputs(errs.text.data, stderr);
    }
    if (warnings.count)
        fputs(warnings.text.data, stderr);
    if (status != 0) {
        fprintf(stderr, "%s: %zu error%s", cli->config, errs.count, errs.count == 1 ? "" : "s");
        if (warnings.count)
            fprintf(stderr, ", %zu warning%s", warnings.count, warnings.count == 1 ? "" : "s");
        fputc('\n', stderr);
    }
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    generation_unref(g);
    mainloop_run_pending();
    runtime_free(&rt);
    errors_free(&errs);
    errors_free(&warnings);
    log_shutdown();
    return status;
}

/* Runs one job through the same instrumented path the scheduler uses. Its
 * records go to the manifest's sinks as the daemon's do (a run started by
 * hand during an incident belongs in the log being tailed), and to stderr.
 * A job the manifest does not have is a usage error (2), as a missing
 * argument is. */
static int cmd_run_once(const struct cli *cli)
{
    struct errors errs = {0};
    struct manifest *m = NULL;
    struct generation *g = NULL;
    struct metrics *metrics = NULL;
    struct runtime rt;
    struct log_config lc;
    struct run run = {0};
    struct run_opts ro = {.trigger = RUN_CLI, .dry_run = cli->dry_run};
    struct job *job;
    int status = 1, rc;

    runtime_init(&rt, NULL);
    if (manifest_load(cli->config, &m, &errs) < 0)
        goto out;
    if (!manifest_find_job(m, cli->arg)) {
        struct buf ids = {0};
        for (size_t i = 0; i < m->n_jobs && i < 20; i++)
            buf_printf(&ids, "%s%s", i ? ", " : "", m->jobs[i].id);
        errors_add(&errs, "%s: no job with id \"%s\" (jobs: %s%s)", cli->config, cli->arg,
                   ids.len ? ids.data : "none", m->n_jobs > 20 ? ", ..." : "");
        buf_free(&ids);
        status = EXIT_USAGE;
        goto out;
    }
    daemon_log_config(&m->host, 1, &lc);
    log_setup(&lc);
    metrics = metrics_new(m->host.duration_buckets, m->host.n_duration_buckets);
    rt.metrics = metrics;
    rt.states.metrics = metrics;
    outcome_register(&outcome_metrics, &rt);
    outcome_register(&outcome_log, NULL);
    outcome_register(&outcome_state, NULL);
    /* Only the job asked for is loaded: a broken plugin of another job
     * must not stop a user from trying this one. */
    manifest_retain_job(m, cli->arg);
    rc = generation_build(&rt, m, NULL, &g, &errs);
    m = NULL; /* the generation's, even when the build failed */
    if (rc < 0)
        goto out;
    job = generation_find_job(g, cli->arg);
    run_job(job, &ro, &run);
    log_flush(); /* the run's records first, then its result */
    printf("job=%s run_id=%s result=%s duration_ms=%.3f", job->spec->id, run.id_text,
           run_result_name(run.result), (double)run.duration_ns / 1e6);
    if (run.error[0])
        printf(" error=\"%s\"", run.error);
    printf("\n");
    status = run.result == RUN_SUCCESS || run.result == RUN_DRY_RUN ? 0 : 1;
out:
    if (errs.count)
        fputs(errs.text.data, stderr);
    manifest_free(m);
    generation_unref(g);
    mainloop_run_pending();
    outcome_reset();
    log_shutdown();
    runtime_free(&rt);
    metrics_free(metrics);
    errors_free(&errs);
    return status;
}

/* The host calls a loaded plugin uses, each once, in table order. */
static void plugin_calls(const struct plugin *p, const char **out, size_t cap, size_t *n)
{
    *n = 0;
    for (const struct jh_import *it = p->desc->imports; it && it < p->desc->imports_end; it++) {
        bool seen = false;
        if (!it->name)
            continue;
        for (size_t k = 0; k < *n && !seen; k++)
            seen = strcmp(out[k], it->name) == 0;
        if (!seen && *n < cap)
            out[(*n)++] = it->name;
    }
}

static void describe_text(const struct plugin *p, const char *const *calls, size_t n_calls)
{
    size_t w = 4;

    printf("%s %s%s%s\n", p->desc_name, p->version, p->description[0] ? ": " : "",
           p->description);
    printf("  file: %s (plugin ABI %u)\n", p->path, p->desc->abi_version);
    printf("  host calls:");
    for (size_t i = 0; i < n_calls; i++)
        printf(" %s", calls[i]);
    printf("%s\n", n_calls ? "" : " none");
    if (p->desc->check)
        printf("  checks its parameters beyond their types\n");
    if (!p->n_params) {
        printf("\nparameters: none\n");
        return;
    }
    for (size_t i = 0; i < p->n_params; i++)
        if (strlen(p->params[i].name) > w)
            w = strlen(p->params[i].name);
    printf("\nparameters:\n");
    for (size_t i = 0; i < p->n_params; i++) {
        const struct plugin_param *pp = &p->params[i];
        char def[PARAMS_TEXT_MAX + 16];

        if (pp->required)
            snprintf(def, sizeof(def), "required");
        else if (pp->default_value && pp->type == JH_TYPE_STRING)
            snprintf(def, sizeof(def), "default \"%s\"", pp->default_value);
        else if (pp->default_value)
            snprintf(def, sizeof(def), "default %s", pp->default_value);
        else
            snprintf(def, sizeof(def), "optional");
        printf("  %-*s  %-8s  %-16s  %s\n", (int)w, pp->name, params_type_name(pp->type), def,
               pp->description);
    }
}

static void describe_json(const struct plugin *p, const char *const *calls, size_t n_calls)
{
    json_t *params = json_array(), *list = json_array();
    json_t *doc;
    char *text;

    for (size_t i = 0; i < n_calls; i++)
        json_array_append_new(list, json_string(calls[i]));
    for (size_t i = 0; i < p->n_params; i++) {
        const struct plugin_param *pp = &p->params[i];
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:s?, s:s}", "name", pp->name,
                                                "type", params_type_name(pp->type), "required",
                                                pp->required, "default", pp->default_value,
                                                "description", pp->description));
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:o, s:o}", "name", p->desc_name, "version",
                    p->version, "description", p->description, "path", p->path, "abi",
                    (int)p->desc->abi_version, "check", p->desc->check != NULL, "host_calls",
                    list, "params", params);
    text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(doc);
}

/* Loads one plugin from the manifest's plugin_dir (its init runs, as at
 * start-up) and prints what it declares: what a manifest may give it. */
static int cmd_describe(const struct cli *cli)
{
    struct errors errs = {0};
    struct manifest *m = NULL;
    struct plugin *p = NULL;
    struct log_config quiet = {.level = JH_LOG_ERROR + 1};
    const char *calls[64];
    size_t n_calls;
    char err[1024];
    int status = 1;

    log_setup(&quiet);
    if (manifest_load(cli->config, &m, &errs) < 0)
        goto out;
    struct plugin_load_opts opts = {.plugin_dir = m->host.plugin_dir,
                                    .strict_permissions = m->host.strict_permissions};
    if (plugin_load(&opts, cli->arg, &p, err, sizeof(err)) < 0) {
        errors_add(&errs, "%s", err);
        goto out;
    }
    plugin_calls(p, calls, ARRAY_SIZE(calls), &n_calls);
    if (cli->json)
        describe_json(p, calls, n_calls);
    else
        describe_text(p, calls, n_calls);
    status = 0;
out:
    if (errs.count)
        fputs(errs.text.data, stderr);
    plugin_unref(p); /* its shutdown runs */
    manifest_free(m);
    errors_free(&errs);
    log_shutdown();
    return status;
}

/* The manifest's run store, or a message and NULL. */
static struct manifest *store_manifest(const struct cli *cli)
{
    struct errors errs = {0};
    struct manifest *m = NULL;

    if (manifest_load(cli->config, &m, &errs) < 0) {
        fputs(errs.text.data ? errs.text.data : "", stderr);
        errors_free(&errs);
        return NULL;
    }
    errors_free(&errs);
    if (!m->host.store.enabled) {
        fprintf(stderr, "jobhost: %s: host.store.enabled is false: no run history\n", cli->config);
        manifest_free(m);
        return NULL;
    }
    return m;
}

struct history_print {
    bool json;
    json_t *rows;
    size_t n;
};

static void print_header(void)
{
    printf("%-16s  %-8s  %-25s  %-25s  %-10s  %-11s  %s\n", "RUN_ID", "TRIGGER", "SCHEDULED",
           "STARTED", "DURATION", "RESULT", "DETAIL");
}

static int print_entry(void *arg, const struct store_entry *e)
{
    struct history_print *p = arg;
    char id[RUN_ID_LEN], sched[RFC3339_BUFLEN] = "-", start[RFC3339_BUFLEN] = "-", dur[32] = "-";

    if (p->json) {
        json_array_append_new(p->rows, history_entry_json(e));
        p->n++;
        return 0;
    }
    if (p->n++ == 0)
        print_header();
    run_id_format(e->id, id);
    if (e->scheduled_ns > 0) {
        if (e->has_offset)
            rfc3339_format_offset(e->scheduled_ns, e->utc_offset, false, sched, sizeof(sched));
        else
            rfc3339_format(e->scheduled_ns, NULL, false, sched, sizeof(sched));
    }
    if (e->started_ns > 0)
        rfc3339_format(e->started_ns, NULL, false, start, sizeof(start));
    if (e->result >= 0) {
        double secs = (double)(e->finished_ns - e->started_ns) / 1e9;
        if (secs < 1)
            snprintf(dur, sizeof(dur), "%.3fms", secs * 1e3);
        else
            snprintf(dur, sizeof(dur), "%.3fs", secs);
    }
    printf("%-16s  %-8s  %-25s  %-25s  %-10s  ", id, run_trigger_name(e->trigger), sched, start,
           dur);
    if (e->result == STORE_RESULT_SKIPPED)
        printf("%-11s  %s x%llu\n", history_result_name(e->result), skip_reason_name(e->reason),
               (unsigned long long)e->count);
    else if (e->error)
        printf("%-11s  %s\n", history_result_name(e->result), e->error);
    else
        printf("%s\n", history_result_name(e->result));
    return 0;
}

/* A job's history, read from the store offline (a running daemon's
 * writes do not get in the way: WAL). */
static int cmd_history(const struct cli *cli)
{
    struct manifest *m = store_manifest(cli);
    struct store_query q = {.job_id = cli->arg, .limit = cli->limit, .result = INT32_MIN};
    struct history_print p = {.json = cli->json, .rows = json_array()};
    struct store_reader *r = NULL;
    char err[512] = "";
    int rc, status = 1;

    if (!m)
        goto out;
    if (cli->before && run_id_parse(cli->before, &q.before) < 0) {
        fprintf(stderr, "jobhost: --before: not a run id (16 hex digits): \"%s\"\n", cli->before);
        goto out;
    }
    rc = store_sqlite.open_reader(m->host.store.path, &r, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "jobhost: %s\n", err);
        goto out;
    }
    rc = r->ops->list(r, &q, print_entry, &p);
    if (rc == -ENOENT && !manifest_find_job(m, cli->arg)) {
        fprintf(stderr, "jobhost: no job \"%s\" in %s nor in its run store\n", cli->arg,
                cli->config);
        goto out;
    }
    if (rc < 0 && rc != -ENOENT) {
        fprintf(stderr, "jobhost: %s: reading the run store: %s\n", m->host.store.path,
                strerror(-rc));
        goto out;
    }
    if (cli->json) {
        json_t *doc = json_pack("{s:s, s:O}", "job_id", cli->arg, "runs", p.rows);
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(doc);
    } else if (p.n == 0) {
        printf("(no runs recorded)\n");
    }
    status = 0;
out:
    json_decref(p.rows);
    if (r)
        r->ops->reader_close(r);
    manifest_free(m);
    return status;
}

/* Retention by hand, over every job of the store. */
static int cmd_history_prune(const struct cli *cli)
{
    struct manifest *m = store_manifest(cli);
    struct store_config cfg = {.tool = true};
    struct store_retention ret;
    struct store_prune_stats st = {0};
    struct store *s = NULL;
    char err[512] = "";
    uint32_t cursor = 0;
    int rc, status = 1;

    if (!m)
        return 1;
    cfg.path = m->host.store.path;
    ret.max_age_ns = m->host.store.max_age_ns;
    ret.max_runs = m->host.store.max_runs;
    ret.keep_failures_ns = m->host.store.keep_failures_ns;
    rc = store_sqlite.open(&cfg, &s, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "jobhost: %s\n", err);
        goto out;
    }
    do {
        rc = s->ops->prune(s, &ret, wall_ns(), &cursor, 10000, cli->dry_run, &st);
    } while (rc > 0);
    if (rc < 0) {
        fprintf(stderr, "jobhost: %s: %s\n", m->host.store.path, s->ops->error(s));
        goto out;
    }
    printf("%s: %s %llu row%s over %llu job%s\n", m->host.store.path,
           cli->dry_run ? "would remove" : "removed", (unsigned long long)st.removed,
           st.removed == 1 ? "" : "s", (unsigned long long)st.jobs, st.jobs == 1 ? "" : "s");
    status = 0;
out:
    if (s)
        s->ops->close(s);
    manifest_free(m);
    return status;
}

/* Prints the next fire times of a cron expression, like
 * `systemd-analyze calendar --iterations`. */
static int cmd_next(const struct cli *cli)
{
    struct trigger t = {.kind = TRIGGER_CRON};
    char err[256], when[64];
    int64_t from = wall_ns();

    if (cron_parse(cli->arg, &t.cron, err, sizeof(err)) < 0) {
        fprintf(stderr, "jobhost: \"%s\": %s\n", cli->arg, err);
        return 1;
    }
    if (cli->timezone) {
        t.tz = tz_get(cli->timezone, err, sizeof(err));
        if (!t.tz) {
            fprintf(stderr, "jobhost: --timezone: %s\n", err);
            return 1;
        }
    }
    if (cli->from && rfc3339_parse(cli->from, &from) < 0) {
        fprintf(stderr, "jobhost: --from: invalid time \"%s\" (expected RFC 3339, e.g. "
                        "2026-03-29T00:00:00+01:00)\n",
                cli->from);
        return 1;
    }
    for (unsigned i = 0; i < cli->count; i++) {
        int64_t next = trigger_next(&t, from, from);
        if (next < 0) {
            if (i == 0)
                printf("(never)\n");
            break;
        }
        printf("%s\n", rfc3339_format(next, t.tz ? t.tz : tz_local(), false, when, sizeof(when)));
        from = next;
    }
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_LOG_STDERR = 256, OPT_COUNT, OPT_FROM, OPT_TIMEZONE, OPT_LISTEN, OPT_JSON,
           OPT_LIMIT, OPT_BEFORE };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"log-stderr", no_argument, NULL, OPT_LOG_STDERR},
        {"count", required_argument, NULL, OPT_COUNT},
        {"from", required_argument, NULL, OPT_FROM},
        {"timezone", required_argument, NULL, OPT_TIMEZONE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"before", required_argument, NULL, OPT_BEFORE},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli = {.config = "/etc/jobhost/jobhost.yaml", .log_stderr = -1, .count = 5,
                      .limit = 20};
    int c;

    /* A worker process for `isolation: process` jobs, started by the host
     * itself with its end of a socketpair on fd 3. Not for users. */
    if (argc >= 2 && strcmp(argv[1], "__worker") == 0)
        return isolate_worker_main(3, argc >= 3 ? (pid_t)strtol(argv[2], NULL, 10) : 0);
    /* The client of a running daemon: options of its own. */
    if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
        return ctl_main(argc - 1, argv + 1);
    mainloop_init();

    opterr = 0;
    /* '+' stops at the first non-option (the command); options may also
     * follow the command, so parse in two rounds. */
    while ((c = getopt_long(argc, argv, "+:c:nhV", options, NULL)) != -1 || optind < argc) {
        if (c == -1) {
            const char *word = argv[optind++];
            if (!cli.command && (strcmp(word, "check") == 0 || strcmp(word, "run-once") == 0 ||
                                 strcmp(word, "describe") == 0 || strcmp(word, "next") == 0 ||
                                 strcmp(word, "history") == 0)) {
                cli.command = word;
            } else if (cli.command && !cli.arg && strcmp(cli.command, "check") != 0) {
                cli.arg = word;
            } else {
                usage_error("unexpected argument \"%s\"", word);
                return EXIT_USAGE;
            }
            continue;
        }
        switch (c) {
        case 'c':
            cli.config = optarg;
            break;
        case 'n':
            cli.dry_run = true;
            break;
        case OPT_LOG_STDERR:
            cli.log_stderr = 1;
            break;
        case OPT_COUNT: {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || n == 0 || n > 100000) {
                usage_error("--count wants a number from 1 to 100000, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            cli.count = (unsigned)n;
            break;
        }
        case OPT_FROM:
            cli.from = optarg;
            break;
        case OPT_TIMEZONE:
            cli.timezone = optarg;
            break;
        case OPT_LIMIT: {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || n == 0 || n > 100000) {
                usage_error("--limit wants a number from 1 to 100000, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            cli.limit = (unsigned)n;
            break;
        }
        case OPT_BEFORE:
            cli.before = optarg;
            break;
        case OPT_LISTEN:
            cli.listen = optarg;
            break;
        case OPT_JSON:
            cli.json = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("jobhost %s (plugin ABI %d)\n", JOBHOST_VERSION, JH_ABI_VERSION);
            return 0;
        case ':':
            usage_error("option %s needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            usage_error("unknown option \"%s\"", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (cli.command && strcmp(cli.command, "check") != 0 && !cli.arg) {
        usage_error("%s needs an argument", cli.command);
        return EXIT_USAGE;
    }
    if (!cli.command) {
        struct daemon_opts d = {
            .manifest_path = cli.config, .dry_run = cli.dry_run, .log_stderr = cli.log_stderr};
        const char *listen = cli.listen ? cli.listen : getenv("JOBHOST_LISTEN");
        if (listen && *listen) {
            struct listen_addr la;
            char err[256];
            if (listen_parse(listen, LISTEN_PORT_ZERO, &la, err, sizeof(err)) < 0) {
                usage_error(cli.listen ? "--listen: %s" : "JOBHOST_LISTEN: %s", err);
                return EXIT_USAGE;
            }
            d.listen = listen;
        }
        return daemon_run(&d);
    }
    if (strcmp(cli.command, "check") == 0)
        return cmd_check(&cli);
    if (strcmp(cli.command, "run-once") == 0)
        return cmd_run_once(&cli);
    if (strcmp(cli.command, "history") == 0)
        return strcmp(cli.arg, "prune") == 0 ? cmd_history_prune(&cli) : cmd_history(&cli);
    if (strcmp(cli.command, "describe") == 0)
        return cmd_describe(&cli);
    return cmd_next(&cli);
}
