/*
 * daemon — the long-running host. See daemon.h.
 *
 * DESIGN. The main thread owns the lifecycle: it blocks the signals it
 * handles before any other thread exists (so every thread inherits the
 * mask), then waits in poll() on a signalfd and on the main loop's eventfd
 * (core/mainloop.h): SIGHUP reloads, SIGUSR1 reopens the log file,
 * SIGTERM/SIGINT stop; work handed over by other threads (reloads asked for
 * over HTTP or by the file watcher, the teardown of generations and
 * plugins) runs when the eventfd is readable. A SIGHUP that arrives while a
 * reload runs stays pending in the signalfd and is read once afterwards:
 * any number of them coalesce into exactly one follow-up reload. Other
 * threads: the dispatcher (scheduler.c), the workers (executor.c), the log
 * writer (io/log_writer.c), libmicrohttpd's thread (io/http_server.c) and the file watcher
 * (watch.c); host/README.md has the whole map.
 *
 * The wiring of the outcome pipeline is here, in the order observers see
 * each firing: metrics, log records, job state, run history.
 *
 * The run store (host.store) is opened and restored before the first
 * firing: a store another daemon holds, one written by a newer jobhost or
 * one that is not a store at all stops the start; one that merely fails
 * (full disk, unwritable directory) lets the daemon start without it, and
 * the history writer keeps trying to open it.
 */
#include "daemon.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crash.h"
#include "core/executor.h"
#include "core/generation.h"
#include "core/history.h"
#include "core/isolate.h"
#include "core/jobstate.h"
#include "core/mainloop.h"
#include "core/log.h"
#include "core/manifest.h"
#include "core/metrics.h"
#include "core/outcome_log.h"
#include "core/outcome_metrics.h"
#include "core/outcome_state.h"
#include "core/outcome_store.h"
#include "core/plugin.h"
#include "core/reload.h"
#include "core/run.h"
#include "core/restore.h"
#include "core/retry.h"
#include "core/chain.h"
#include "core/outcome_notify.h"
#include "io/notify_curl.h"
#include "core/safe_open.h"
#include "core/scheduler.h"
#include "core/store.h"
#include "io/api.h"
#include "io/api_history.h"
#include "io/events.h"
#include "io/ui.h"
#include "io/http_host.h"
#include "io/metrics_render.h"
#include "io/cluster_pg.h"
#include "io/store_select.h"
#include "io/watch.h"
#include "lib/trigger.h"
#include "lib/units.h"
#include "lib/util.h"

/* After host.shutdown_timeout, cancellation is raised and runs get this
 * much more before they are abandoned (named, and their worker processes
 * killed). */
#define SHUTDOWN_GRACE_NS (5 * NS_PER_SEC)

struct daemon {
    const struct daemon_opts *opts;
    char *pid_file; /* written at start, removed at exit; NULL = none */
    struct runtime rt;
    struct metrics_source metrics_src; /* what /metrics renders */
    struct executor *ex;
    struct scheduler *sched;
    struct chain *chain; /* the chained jobs' observer */
    struct notify_curl *notifier;       /* the sender of notifications and pings */
    struct outcome_notify *notify_obs;  /* their observer */
    struct reloader *reloader;
    struct api api;
    struct events *events; /* GET /api/v1/events */
    struct http_route routes[API_ROUTES + EVENTS_ROUTES + UI_ROUTES]; /* for every server */
    struct http_host *http;
    struct watcher *watcher;
    struct history *history; /* NULL: no run store (host.store.enabled: false, --dry-run) */
    struct restore *restore; /* what the first plan needs of the store */
    char node[256];          /* host.node, or the host name */
    /* The run store: its backend, where it is (a path, or a connection
     * string that may hold the password: never logged) and how records
     * name it. Main thread at start; read-only after. */
    struct store_location store;
    uint64_t instance;       /* this start of the node (shared stores) */
    struct cluster *cluster; /* NULL: not a cluster node (host.cluster) */
    atomic_bool ready; /* read by the HTTP thread for /-/ready */
};

static int submit_to_executor(void *arg, struct job *job, const struct run_opts *opts)
{
    return executor_submit(arg, job, opts);
}

static size_t submit_many_to_executor(void *arg, const struct run_request *reqs, size_t n)
{
    return executor_submit_many(arg, reqs, n);
}

/* jobhost_log_records_dropped_total: the log's sinks, and records from
 * worker processes the host could not read. */
static uint64_t records_dropped(const char *sink)
{
    return sink && strcmp(sink, "worker") == 0 ? isolate_dropped() : log_dropped(sink);
}

static void pool_stats(void *arg, struct executor_stats *out)
{
    executor_stats(arg, out);
}

/* Messages go to the sender, or are freed when it could not start. */
static void notify_sink_send(void *arg, struct notify_msg *msg)
{
    struct daemon *d = arg;

    if (d->notifier)
        notify_curl_send(d->notifier, msg);
    else
        notify_msg_free(msg);
}

static void store_stats(void *arg, struct history_stats *out)
{
    history_stats(arg, out);
}

/* Every generation published: the history keeps it while reports about
 * its jobs wait (the first one is held when the history is made). */
static void hold_generation(void *arg, struct generation *g)
{
    struct daemon *d = arg;
    if (d->history)
        history_hold(d->history, g);
}

static void retention_of(const struct manifest *m, struct store_retention *r)
{
    r->max_age_ns = m->host.store.max_age_ns;
    r->max_runs = m->host.store.max_runs;
    r->keep_failures_ns = m->host.store.keep_failures_ns;
}

static bool str_differ(const char *a, const char *b)
{
    return (!a) != (!b) || (a && strcmp(a, b) != 0);
}

static bool is_ready(void *arg)
{
    struct daemon *d = arg;
    return atomic_load_explicit(&d->ready, memory_order_relaxed);
}

static void http_log(void *arg, const char *fmt, va_list ap)
{
    char msg[512];
    (void)arg;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    jlog(JH_LOG_WARN, "http_error", "error=%s", msg);
}

void daemon_log_config(const struct manifest_host *h, int to_stderr, struct log_config *out)
{
    *out = (struct log_config){
        .level = h->log.level,
        .syslog_enabled = h->log.syslog,
        .ident = h->log.ident,
        .facility = h->log.facility,
        .file_path = h->log.file_path,
        .file_max_size = h->log.file_max_size,
        .file_keep = h->log.file_keep,
        .file_daily = h->log.file_daily,
        .journald = h->log.journald,
    };
    if (to_stderr < 0)
        to_stderr = h->log.to_stderr;
    out->to_stderr = to_stderr < 0 ? isatty(STDERR_FILENO) : to_stderr;
}

static void apply_log_config(const struct daemon *d, const struct manifest *m)
{
    struct log_config lc;

    daemon_log_config(&m->host, d->opts->log_stderr, &lc);
    log_setup(&lc);
}

static void publish_host_metrics(struct daemon *d, const struct generation *g)
{
    struct metrics_plugin *list = xcalloc(g->n_plugins + 1, sizeof(*list));
    for (size_t i = 0; i < g->n_plugins; i++) {
        list[i].name = g->plugins[i]->desc_name;
        list[i].version = g->plugins[i]->version;
    }
    metrics_set_plugins(d->rt.metrics, list, g->n_plugins);
    metrics_set_jobs(d->rt.metrics, g->n_jobs);
    free(list);
}

/* What the command line says over the manifest. The string is the
 * command line's, which outlives every manifest. */
static void apply_overrides(const struct daemon *d, struct manifest *m)
{
    if (d->opts->listen)
        m->host.http.listen = (char *)d->opts->listen;
}

/* What a reload cannot change while the daemon runs. */
static void needs_restart(const struct manifest *was, const struct manifest *m,
                          struct errors *errs)
{
    const struct manifest_host *a = &was->host, *b = &m->host;
    bool buckets = a->n_duration_buckets != b->n_duration_buckets ||
                   (a->n_duration_buckets &&
                    memcmp(a->duration_buckets, b->duration_buckets,
                           a->n_duration_buckets * sizeof(*a->duration_buckets)) != 0);

    if (buckets)
        errors_add(errs, "%s: host.metrics.duration_buckets: changing it needs a restart "
                   "(the histograms' buckets are fixed while the daemon runs)", m->path);
    if (a->store.enabled != b->store.enabled || str_differ(a->store.path, b->store.path) ||
        a->store.backend != b->store.backend || str_differ(a->store.dsn, b->store.dsn) ||
        str_differ(a->store.password_file, b->store.password_file))
        errors_add(errs, "%s: host.store: changing enabled, backend, path, dsn or password_file "
                   "needs a restart (the store is opened and restored at start)", m->path);
    if (a->cluster.enabled != b->cluster.enabled || a->cluster.lease_ns != b->cluster.lease_ns)
        errors_add(errs, "%s: host.cluster: changing it needs a restart", m->path);
    if (str_differ(a->node, b->node))
        errors_add(errs, "%s: host.node: changing it needs a restart", m->path);
}

/* Before a reload's swap: what can fail is done here, or the reload is
 * refused with the live configuration untouched. */
static int on_reload_prepare(void *arg, const struct generation *live, struct generation *next,
                             struct errors *errs)
{
    struct daemon *d = arg;
    size_t before = errs->count;

    apply_overrides(d, next->manifest);
    needs_restart(live->manifest, next->manifest, errs);
    if (errs->count > before)
        return -EINVAL;
    if (d->http)
        return http_host_prepare(d->http, &next->manifest->host, next->manifest->path, errs);
    return 0;
}

/* After a reload swapped in g: the host settings that change live. */
static void on_reload_applied(void *arg, struct generation *g)
{
    struct daemon *d = arg;
    const struct manifest_host *h = &g->manifest->host;

    apply_log_config(d, g->manifest);
    publish_host_metrics(d, g);
    http_host_commit(d->http);
    executor_resize(d->ex, h->workers);
    executor_set_stuck(d->ex, h->stuck_grace_ns, h->max_stuck_workers);
    if (d->cluster)
        cluster_set_digest(d->cluster, g->digest);
    if (d->history) {
        struct store_retention r;
        retention_of(g->manifest, &r);
        history_configure(d->history, &r, h->store.output_max);
    }
}

/* Every reload, applied or refused: the live feed tells the status page. */
static void on_reload_done(void *arg, int rc, const struct buf *summary)
{
    struct daemon *d = arg;
    events_reload(d->events, rc, summary);
}

static int start_http(struct daemon *d, const struct manifest *m)
{
    char err[512] = "";
    struct http_host_wiring w = {
        .metrics_fn = metrics_render_stream,
        .metrics_arg = &d->metrics_src,
        .ready_fn = is_ready,
        .ready_arg = d,
        .log_fn = http_log,
        .log_arg = d,
    };
    int rc;

    d->api.reloader = d->reloader;
    d->api.executor = d->ex;
    d->api.history = d->history;
    d->api.store_backend = d->store.backend;
    d->api.store_path = d->store.where;
    d->api.cluster = d->cluster;
    if (d->history)
        history_on_commit(d->history, api_history_committed, &d->api);
    d->api.dry_run = d->opts->dry_run;
    snprintf(d->api.node, sizeof(d->api.node), "%s", d->node);
    w.n_routes = api_routes(&d->api, d->routes);
    w.n_routes += events_routes(d->events, d->routes + w.n_routes);
    w.n_routes += ui_routes(d->routes + w.n_routes);
    w.routes = d->routes;
    rc = http_host_start(&w, &m->host, &d->http, err, sizeof(err));
    if (rc < 0) {
        jlog(JH_LOG_ERROR, "http_failed", "listen=%s error=%s", m->host.http.listen, err);
        fprintf(stderr, "jobhost: %s\n", err);
    }
    return rc;
}

static void print_errors(const char *path, const struct errors *errs)
{
    if (errs->count)
        fputs(errs->text.data, stderr);
    fprintf(stderr, "jobhost: %s: not started (%zu error%s)\n", path, errs->count,
            errs->count == 1 ? "" : "s");
}

static void signal_loop(struct daemon *d, int sfd)
{
    for (;;) {
        struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN},
                                {.fd = mainloop_fd(), .events = POLLIN}};
        struct signalfd_siginfo si;
        ssize_t n;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            jlog(JH_LOG_ERROR, "poll_failed", "error=%s", strerror(errno));
            return;
        }
        if (fds[1].revents)
            mainloop_run_pending();
        if (!fds[0].revents)
            continue;
        n = read(sfd, &si, sizeof(si));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n != sizeof(si)) {
            jlog(JH_LOG_ERROR, "signalfd_failed", "error=%s", strerror(errno));
            return;
        }
        switch (si.ssi_signo) {
        case SIGHUP: {
            struct errors errs = {0};
            struct buf summary = {0};
            reloader_reload(d->reloader, "SIGHUP", &summary, &errs);
            buf_free(&summary);
            errors_free(&errs);
            break;
        }
        case SIGUSR1:
            log_reopen();
            break;
        case SIGTERM:
        case SIGINT:
            jlog(JH_LOG_INFO, "host_stopping", "signal=%s", sigabbrev_np((int)si.ssi_signo));
            return;
        default:
            break;
        }
    }
}

/* host.pid_file: our pid, for tools that signal the daemon (logrotate,
 * `kill -HUP $(cat ...)`). Never through a symbolic link, never into a
 * file that is not ours (core/safe_open.h): the daemon may run as root and
 * the directory may be shared. */
static int pid_file_write(const char *path, struct errors *errs)
{
    char text[32], why[PATH_MAX + 300];
    struct safe_error e;
    int fd = safe_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, SAFE_REGULAR | SAFE_WRITE, NULL,
                       &e);
    int len, rc;

    if (fd < 0) {
        errors_add(errs, "host.pid_file %s", safe_error_text(&e, why, sizeof(why)));
        return fd;
    }
    len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
    rc = write(fd, text, (size_t)len) == len ? 0 : -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        errors_add(errs, "host.pid_file %s: %s", path, strerror(-rc));
    return rc;
}

/* Removes the pid file if it still holds our pid (a newer daemon may have
 * written its own). */
static void pid_file_remove(const char *path)
{
    char text[32] = "", want[32];
    struct safe_error e;
    int fd = safe_open(path, O_RDONLY, 0, SAFE_REGULAR, NULL, &e);
    ssize_t n;

    if (fd < 0)
        return;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    snprintf(want, sizeof(want), "%d\n", (int)getpid());
    if (n > 0 && strcmp(text, want) == 0)
        unlink(path);
}

/* A number for this start of the node, never 0 (and positive: it is a
 * bigint in PostgreSQL). */
static uint64_t random_instance(void)
{
    uint64_t v = 0;

    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = (uint64_t)wall_ns() ^ ((uint64_t)getpid() << 40);
    v &= INT64_MAX;
    return v ? v : 1;
}

/* host.store: which backend, and where. 0, or -errno with a message in
 * errs. */
static int locate_store(struct daemon *d, const struct manifest *m, struct errors *errs)
{
    char err[512] = "";
    int rc = store_select(m, &d->store, err, sizeof(err));

    if (rc < 0)
        errors_add(errs, "%s: %s", m->path, err);
    return rc;
}

static struct store_config store_config_of(const struct daemon *d, const struct manifest *m)
{
    struct store_config cfg = {.path = d->store.where, .label = d->store.label, .node = d->node,
                               .version = JOBHOST_VERSION, .pid = (int)getpid(),
                               .instance = d->instance, .lease_ns = m->host.cluster.lease_ns};
    return cfg;
}

/* A refusal that must stop a start (see core/store.h). */
static bool store_refusal(int rc)
{
    return rc == -EBUSY || rc == -EPROTO || rc == -EILSEQ;
}

/* Opens and locks the run store; *out NULL when it could not be opened
 * but the daemon may start without it. 0, or -errno for a refusal. */
static int open_store(struct daemon *d, const struct manifest *m, struct store **out,
                      struct errors *errs)
{
    struct store_config cfg = store_config_of(d, m);
    char err[512] = "";
    int rc = d->store.backend->open(&cfg, out, err, sizeof(err));

    if (store_refusal(rc)) {
        errors_add(errs, "%s: host.store: %s", m->path, err);
        jlog(JH_LOG_ERROR, "store_refused", "path=%s error=%s", d->store.label, err);
        return rc;
    }
    if (rc < 0) {
        *out = NULL;
        jlog(JH_LOG_WARN, "store_error", "op=open path=%s error=%s hint=%s", d->store.label,
             err, "starting without the run store; it is retried in the background");
    }
    return 0;
}

/* After the first generation is built: its jobs' state back from the
 * store, then the history writer (started later, with the other threads). */
static int start_history(struct daemon *d, struct store *store, struct generation *g,
                         struct errors *errs)
{
    const struct manifest *m = g->manifest;
    struct history_config hc = {
        .backend = d->store.backend,
        .store_cfg = store_config_of(d, m),
        .output_max = m->host.store.output_max,
    };
    char err[512] = "";
    int rc;

    retention_of(m, &hc.retention);
    if (store && (rc = restore_run(store, &d->rt, g, wall_ns(), &d->restore, err,
                                   sizeof(err))) < 0) {
        store->ops->close(store);
        if (store_refusal(rc)) {
            /* a shared store that says this node's name is live elsewhere */
            errors_add(errs, "%s: host.store: %s", m->path, err);
            jlog(JH_LOG_ERROR, "store_refused", "path=%s error=%s", d->store.label, err);
            return rc;
        }
        jlog(JH_LOG_WARN, "store_error", "op=open path=%s error=%s hint=%s", d->store.label,
             err, "starting without the run store; it is retried in the background");
        store = NULL;
    }
    if (d->restore) {
        size_t known;
        uint64_t interrupted;
        int64_t seen;
        char when[RFC3339_BUFLEN] = "";
        restore_summary(d->restore, &known, &interrupted, &seen);
        if (seen > 0)
            rfc3339_format(seen, NULL, true, when, sizeof(when));
        jlog(JH_LOG_INFO, "store_restored", "path=%s jobs_known=%zu interrupted=%llu last_seen=%s",
             d->store.label, known, (unsigned long long)interrupted, when);
    }
    d->history = history_new(&hc, store);
    history_hold(d->history, g);
    outcome_register(&outcome_store, d->history);
    d->metrics_src.store = store_stats;
    d->metrics_src.store_arg = d->history;
    return 0;
}

static void cluster_metrics(void *arg, struct cluster_stats *out)
{
    cluster_stats(arg, out);
}

/* What another node asked of all (on the cluster's lease thread). */
static void on_cluster_cmd(void *arg, enum cluster_cmd cmd, const char *job_id,
                           const char *from)
{
    struct daemon *d = arg;
    struct generation *g;
    struct job *job;

    (void)from;
    if (cmd == CLUSTER_RELOAD) {
        reloader_request(d->reloader, "cluster", NULL, NULL);
        return;
    }
    if (cmd != CLUSTER_PAUSE && cmd != CLUSTER_RESUME)
        return; /* a manual run is the asking node's */
    g = reloader_live(d->reloader);
    job = job_id ? generation_find_job(g, job_id) : NULL;
    if (job) /* the asking node stored it: the store says so at any start */
        atomic_store(&job->state->paused, cmd == CLUSTER_PAUSE);
    generation_unref(g);
}

/* The store's pauses after this node could not hear commands for a
 * while (on the cluster's lease thread): each job of the live generation
 * is paused exactly when the store says so. */
static void on_cluster_paused(void *arg, const char *const *ids, size_t n)
{
    struct daemon *d = arg;
    struct generation *g = reloader_live(d->reloader);
    bool *paused = xcalloc(g->n_jobs + 1, sizeof(*paused));

    for (size_t i = 0; i < n; i++) {
        struct job *job = generation_find_job(g, ids[i]);
        if (job)
            paused[job - g->jobs] = true;
    }
    for (size_t i = 0; i < g->n_jobs; i++) {
        struct job *job = &g->jobs[i];
        if (atomic_exchange(&job->state->paused, paused[i]) != paused[i])
            jlog(JH_LOG_INFO, "cluster_pause_synced", "job=%s paused=%s reason=%s",
                 job->spec->id, paused[i] ? "true" : "false",
                 "another node's command came while this node could not hear it");
    }
    free(paused);
    generation_unref(g);
}

/* A firing whose node died mid-run (on the cluster's lease thread): run
 * again here when this node has the job, with recover: true, not paused,
 * and an instance free now; otherwise another node or a later offer takes
 * it (it holds one of the job's instances across the cluster meanwhile). */
static bool on_cluster_recover(void *arg, const char *job_id, int64_t scheduled_wall_ns)
{
    struct daemon *d = arg;
    struct generation *g = reloader_live(d->reloader);
    struct job *job = generation_find_job(g, job_id);
    bool queued = false;

    if (job && job->spec->recover && job->spec->enabled && !atomic_load(&job->state->paused) &&
        atomic_load(&job->state->instances) < job->spec->max_instances) {
        struct run_opts o = {.trigger = RUN_RECOVER, .scheduled_wall_ns = scheduled_wall_ns};
        queued = executor_submit(d->ex, job, &o) == 0;
    }
    generation_unref(g);
    return queued;
}

/* host.cluster: claims before every scheduled firing, the lease, the
 * commands between nodes. The store's restore registered the node. */
static void start_cluster(struct daemon *d, const struct generation *g, unsigned workers)
{
    const struct manifest *m = g->manifest;
    struct cluster_config cc = {
        .conninfo = d->store.where,
        .node = d->node,
        .instance = d->instance,
        .lease_ns = m->host.cluster.lease_ns,
        .max_claims = workers + 1,
        .on_cmd = on_cluster_cmd,
        .on_cmd_arg = d,
        .on_recover = on_cluster_recover,
        .on_recover_arg = d,
        .on_paused = on_cluster_paused,
        .on_paused_arg = d,
    };

    run_id_set_node((unsigned)(d->instance % (1u << RUN_ID_NODE_BITS)));
    d->cluster = cluster_new(&cc);
    cluster_set_digest(d->cluster, g->digest); /* the first renewal writes it */
    d->metrics_src.cluster = cluster_metrics;
    d->metrics_src.cluster_arg = d->cluster;
    jlog(JH_LOG_INFO, "cluster_joined", "node=%s instance=%llu lease_ms=%lld store=%s",
         d->node, (unsigned long long)d->instance,
         (long long)(m->host.cluster.lease_ns / NS_PER_MS), d->store.label);
}

/* Builds the first generation and starts every thread; 0 or -errno. */
static int start(struct daemon *d, struct errors *errs)
{
    const struct daemon_opts *opts = d->opts;
    struct manifest *m = NULL;
    struct generation *g = NULL;
    struct store *store = NULL;
    bool with_store;
    unsigned workers;
    int rc;

    if (manifest_load(opts->manifest_path, &m, errs) < 0)
        return -EINVAL;
    apply_overrides(d, m);
    apply_log_config(d, m);
    for (const char *line = m->warnings.text.data; line && *line;) {
        const char *nl = strchr(line, '\n');
        jlog(JH_LOG_WARN, "config_warning", "during=start warning=%.*s",
             (int)(nl ? nl - line : (long)strlen(line)), line);
        line = nl ? nl + 1 : NULL;
    }
    runtime_init(&d->rt, metrics_new(m->host.duration_buckets, m->host.n_duration_buckets));
    d->rt.on_publish = hold_generation;
    d->rt.on_publish_arg = d;
    d->metrics_src.rt = &d->rt;
    d->metrics_src.dropped = records_dropped;
    if (m->host.node)
        snprintf(d->node, sizeof(d->node), "%s", m->host.node);
    else if (gethostname(d->node, sizeof(d->node) - 1) < 0 || !d->node[0])
        snprintf(d->node, sizeof(d->node), "localhost");
    d->instance = random_instance();
    with_store = m->host.store.enabled && !opts->dry_run;
    if (with_store && ((rc = locate_store(d, m, errs)) < 0 ||
                       (rc = open_store(d, m, &store, errs)) < 0)) {
        manifest_free(m);
        return rc;
    }
    /* The pipeline, in the order each observer sees a firing. */
    d->events = events_new();
    outcome_register(&outcome_metrics, &d->rt);
    outcome_register(&outcome_log, NULL);
    outcome_register(&outcome_state, NULL);
    outcome_register(&events_observer, d->events); /* after the state it reports */
    workers = m->host.workers;
    if (generation_build(&d->rt, m, NULL, &g, errs) < 0) {
        if (store)
            store->ops->close(store);
        for (const char *line = errs->text.data; line && *line;) {
            const char *nl = strchr(line, '\n');
            jlog(JH_LOG_ERROR, "config_error", "during=start error=%.*s",
                 (int)(nl ? nl - line : (long)strlen(line)), line);
            line = nl ? nl + 1 : NULL;
        }
        return -EINVAL;
    }
    generation_publish(g);
    publish_host_metrics(d, g);
    if (with_store && (rc = start_history(d, store, g, errs)) < 0)
        return rc;
    if (with_store && m->host.cluster.enabled)
        start_cluster(d, g, workers);
    {
        struct executor_opts eo = {
            .workers = workers,
            .stuck_grace_ns = g->manifest->host.stuck_grace_ns,
            .max_stuck_workers = g->manifest->host.max_stuck_workers,
            .claim = d->cluster ? cluster_claim : NULL,
            .claim_many = d->cluster ? cluster_claim_many : NULL,
            .claim_done = d->cluster ? cluster_claim_done : NULL,
            .claim_return = d->cluster ? cluster_claim_return : NULL,
            .claim_arg = d->cluster,
        };
        d->ex = executor_new(&eo);
        d->metrics_src.pool = pool_stats;
        d->metrics_src.pool_arg = d->ex;
    }
    {
        struct scheduler_opts so = {
            .submit = submit_to_executor,
            .submit_many = submit_many_to_executor,
            .submit_arg = d->ex,
            .dry_run = opts->dry_run,
            .resume = restore_resume,
            .resume_arg = d->restore,
            .deterministic = d->cluster != NULL,
        };
        d->sched = scheduler_new(&so);
    }
    /* the last observer: no worker reports before the first generation is set */
    outcome_register(&outcome_retry, d->sched);
    d->chain = chain_new(d->sched);
    if (d->cluster) { /* parents may finish on any node */
        struct chain_shared shared = {.mark = cluster_fan_in, .arg = d->cluster};
        chain_share(d->chain, &shared);
    }
    outcome_register(&outcome_chain, d->chain);
    d->notifier = notify_curl_start(); /* NULL: notifications are dropped, counted */
    {
        struct notify_sink sink = {.send = notify_sink_send, .arg = d, .node = d->node};
        d->notify_obs = outcome_notify_new(&sink, &d->rt);
    }
    outcome_register(&outcome_notify, d->notify_obs);
    d->metrics_src.notify = notify_curl_stats;
    d->metrics_src.notify_arg = d->notifier;
    {
        struct reload_hooks hooks = {.prepare = on_reload_prepare,
                                     .applied = on_reload_applied,
                                     .done = on_reload_done,
                                     .arg = d};
        d->reloader = reloader_new(opts->manifest_path, &d->rt, d->sched, g, &hooks);
    }
    /* Everything that can fail comes before the first firing. */
    if (start_http(d, g->manifest) < 0) {
        errors_add(errs, "%s: host.http: cannot serve %s (see the http_failed record)",
                   opts->manifest_path, g->manifest->host.http.listen);
        return -EADDRNOTAVAIL;
    }
    if (d->cluster && cluster_start(d->cluster) < 0) {
        errors_add(errs, "cannot start the cluster's lease thread: %s", strerror(errno));
        return -EAGAIN;
    }
    /* the writer after the API wired its commit hook, before any firing */
    if (d->history && history_start(d->history) < 0) {
        errors_add(errs, "cannot start the run store's writer thread: %s", strerror(errno));
        return -EAGAIN;
    }
    if (g->manifest->host.pid_file) {
        rc = pid_file_write(g->manifest->host.pid_file, errs);
        if (rc < 0)
            return rc;
        d->pid_file = xstrdup(g->manifest->host.pid_file);
    }
    scheduler_set_generation(d->sched, g, wall_ns());
    if (scheduler_start(d->sched) < 0) {
        errors_add(errs, "cannot start the dispatcher thread: %s", strerror(errno));
        return -EAGAIN;
    }
    if (g->manifest->host.watch)
        d->watcher = watch_start(d->reloader, opts->manifest_path);
    malloc_trim(0); /* the manifest's parse left freed heap behind: give it back */
    atomic_store(&d->ready, true);
    jlog(JH_LOG_INFO, "host_started", "version=%s pid=%d jobs=%zu plugins=%zu workers=%u dry_run=%s",
         JOBHOST_VERSION, (int)getpid(), g->n_jobs, g->n_plugins, workers,
         opts->dry_run ? "true" : "false");
    return 0;
}

int daemon_run(const struct daemon_opts *opts)
{
    struct daemon d = {.opts = opts};
    struct errors errs = {0};
    sigset_t mask;
    int sfd, status = 1;
    unsigned left = 0;
    int64_t shutdown_timeout = 30 * NS_PER_SEC;

    /* Before any thread starts: this is the main thread, and all threads
     * inherit the signal mask. A fatal signal leaves a crash record
     * (core/crash.h) -- unless a sanitizer build reports it itself. */
    mainloop_init();
    (void)crash_install(); /* false under a sanitizer, which owns those signals */
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "jobhost: signalfd: %s\n", strerror(errno));
        return 1;
    }

    d.api.started_wall_ns = wall_ns();
    d.api.started_mono_ns = mono_ns();
    if (start(&d, &errs) == 0) {
        signal_loop(&d, sfd);
        status = 0;
    } else {
        print_errors(opts->manifest_path, &errs);
    }

    /* Stop firing, then let running jobs finish up to the deadline. */
    atomic_store(&d.ready, false);
    watch_stop(d.watcher);
    if (d.reloader)
        reloader_stop(d.reloader);
    mainloop_run_pending(); /* answers reloads still queued: "shutting down" */
    if (d.sched)
        scheduler_stop(d.sched);
    if (d.reloader) {
        struct generation *g = reloader_live(d.reloader);
        shutdown_timeout = g->manifest->host.shutdown_timeout_ns;
        generation_unref(g);
    }
    if (d.ex) {
        left = executor_stop(d.ex, clock_add(mono_ns(), shutdown_timeout), SHUTDOWN_GRACE_NS);
        if (left > 0) {
            status = 1;
            isolate_kill_busy(); /* no worker process outlives the daemon */
        }
    }
    http_host_stop(d.http);
    api_history_close(&d.api); /* its read handle, now that no request runs */
    /* its connections went with the servers; abandoned runs may still
     * report to it: then it is left to the exit, as the job table is */
    if (left == 0)
        events_free(d.events);
    isolate_shutdown();
    cluster_stop(d.cluster); /* before the stop's heartbeat gives the lease up */
    history_stop(d.history); /* what is queued, then a clean stop's heartbeat */
    if (left == 0) {
        /* the last notifications get two seconds; no run reports any more */
        notify_curl_stop(d.notifier, mono_ns() + 2 * NS_PER_SEC);
        d.notifier = NULL;
    }
    if (status == 0 || d.ex)
        jlog(left ? JH_LOG_ERROR : JH_LOG_INFO, "host_stopped", "abandoned_runs=%u", left);
    /* With runs abandoned, their threads still use the job table and the
     * plugins: leave those to the process exit rather than free them. */
    if (left == 0) {
        scheduler_free(d.sched);
        executor_free(d.ex);
        chain_free(d.chain);
        outcome_notify_free(d.notify_obs);
        reloader_free(d.reloader);
        mainloop_run_pending(); /* the generations' teardown: plugins' shutdown */
        history_free(d.history);
        cluster_free(d.cluster);
        restore_free(d.restore);
        if (d.rt.metrics) {
            struct metrics *m = d.rt.metrics;
            runtime_free(&d.rt);
            metrics_free(m);
        }
    }
    store_location_free(&d.store);
    if (d.pid_file) {
        pid_file_remove(d.pid_file);
        free(d.pid_file);
    }
    log_shutdown();
    errors_free(&errs);
    close(sfd);
    if (left > 0) {
        /* Abandoned runs' threads are still in plugin code that uses the
         * job table: leave now, without the exit handlers and destructors
         * that would run beside them. */
        fflush(stdout);
        fflush(stderr);
        _exit(status);
    }
    return status;
}
