/*
 * daemon — the long-running host. See daemon.h.
 *
 * DESIGN. The main thread owns the lifecycle: it blocks the signals it
 * handles before any other thread exists (so every thread inherits the
 * mask), then waits on a signalfd: SIGHUP reloads, SIGUSR1 reopens the log
 * file, SIGTERM/SIGINT stop. Other threads: the dispatcher (scheduler.c),
 * the workers (executor.c), the log writer (log.c) and libmicrohttpd's
 * thread (http.c). A reload may also come from the HTTP thread; `reload_lock`
 * serialises reloads, and `live_lock` guards the pointer to the live
 * generation that HTTP handlers read.
 */
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "executor.h"
#include "generation.h"
#include "jobstate.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "scheduler.h"
#include "units.h"
#include "util.h"

struct daemon {
    const struct daemon_opts *opts;
    struct runtime rt;
    struct executor *ex;
    struct scheduler *sched;
    pthread_mutex_t reload_lock; /* one reload at a time */
    pthread_mutex_t live_lock;   /* guards live */
    struct generation *live;     /* one reference */
};

static int submit_to_executor(void *arg, struct job *job, const struct run_opts *opts)
{
    return executor_submit(arg, job, opts);
}

static void apply_log_config(const struct daemon *d, const struct manifest *m)
{
    const struct manifest_host *h = &m->host;
    struct log_config lc = {
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
    int to_stderr = d->opts->log_stderr >= 0 ? d->opts->log_stderr : h->log.to_stderr;
    lc.to_stderr = to_stderr < 0 ? isatty(STDERR_FILENO) : to_stderr;
    log_setup(&lc);
}

static void publish_host_metrics(struct daemon *d, const struct generation *g)
{
    struct metrics_plugin *list = xcalloc(g->n_plugins + 1, sizeof(*list));
    for (size_t i = 0; i < g->n_plugins; i++) {
        list[i].name = g->plugins[i]->desc->name;
        list[i].version = g->plugins[i]->desc->version;
    }
    metrics_set_plugins(d->rt.metrics, list, g->n_plugins);
    metrics_set_jobs(d->rt.metrics, g->n_jobs);
    free(list);
}

static void log_errors(const char *event, const struct errors *errs)
{
    const char *line = errs->text.data;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        jlog(JH_LOG_ERROR, "config_error", "during=%s error=%.*s", event, (int)len, line);
        line = nl ? nl + 1 : NULL;
    }
}

/* Builds the new generation beside the live one and swaps it in, or leaves
 * everything as it was. Returns 0 or -EINVAL with the reasons in errs. */
static int daemon_reload(struct daemon *d, struct errors *errs)
{
    struct manifest *m = NULL;
    struct generation *g = NULL, *old;
    int64_t t0 = mono_ns();
    int rc;

    pthread_mutex_lock(&d->reload_lock);
    rc = manifest_load(d->opts->manifest_path, &m, errs);
    if (rc == 0)
        rc = generation_build(&d->rt, m, &g, errs);
    if (rc < 0) {
        log_errors("reload", errs);
        jlog(JH_LOG_ERROR, "reload_refused", "errors=%zu manifest=%s", errs->count,
             d->opts->manifest_path);
        metrics_reload(d->rt.metrics, false, wall_ns());
        goto out;
    }
    apply_log_config(d, g->manifest);
    scheduler_set_generation(d->sched, g, wall_ns());
    pthread_mutex_lock(&d->live_lock);
    old = d->live;
    d->live = g;
    pthread_mutex_unlock(&d->live_lock);
    publish_host_metrics(d, g);
    metrics_reload(d->rt.metrics, true, wall_ns());
    jlog(JH_LOG_INFO, "reload_applied", "jobs=%zu plugins=%zu duration_ms=%.3f", g->n_jobs,
         g->n_plugins, (double)(mono_ns() - t0) / 1e6);
    generation_unref(old);
out:
    pthread_mutex_unlock(&d->reload_lock);
    return rc;
}

static int signal_loop(struct daemon *d, int sfd)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof(si))
            return -EIO;
        switch (si.ssi_signo) {
        case SIGHUP: {
            struct errors errs = {0};
            jlog(JH_LOG_INFO, "reload_requested", "source=SIGHUP");
            daemon_reload(d, &errs);
            errors_free(&errs);
            break;
        }
        case SIGUSR1:
            log_reopen();
            break;
        case SIGTERM:
        case SIGINT:
            jlog(JH_LOG_INFO, "host_stopping", "signal=%s", strsignal((int)si.ssi_signo));
            return 0;
        default:
            break;
        }
    }
}

int daemon_run(const struct daemon_opts *opts)
{
    struct daemon d = {.opts = opts};
    struct errors errs = {0};
    struct manifest *m = NULL;
    struct generation *g = NULL;
    sigset_t mask;
    int sfd = -1, status = 1;
    unsigned left;
    int64_t shutdown_timeout;

    /* Before any thread starts, so all inherit the mask. */
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
    pthread_mutex_init(&d.reload_lock, NULL);
    pthread_mutex_init(&d.live_lock, NULL);

    if (manifest_load(opts->manifest_path, &m, &errs) < 0) {
        fputs(errs.text.data, stderr);
        fprintf(stderr, "jobhost: %s: not started (%zu error%s)\n", opts->manifest_path,
                errs.count, errs.count == 1 ? "" : "s");
        goto out;
    }
    apply_log_config(&d, m);
    d.rt.states = jobstate_table_new();
    d.rt.metrics = metrics_new(m->host.duration_buckets, m->host.n_duration_buckets);
    metrics_set_log_dropped_source(d.rt.metrics, log_dropped);
    shutdown_timeout = m->host.shutdown_timeout_ns;
    {
        unsigned workers = m->host.workers;
        if (generation_build(&d.rt, m, &g, &errs) < 0) {
            log_errors("start", &errs);
            if (!log_enabled(JH_LOG_ERROR) || !isatty(STDERR_FILENO))
                fputs(errs.text.data, stderr);
            fprintf(stderr, "jobhost: %s: not started (%zu error%s)\n", opts->manifest_path,
                    errs.count, errs.count == 1 ? "" : "s");
            goto out;
        }
        d.ex = executor_new(workers);
    }
    d.live = g;
    publish_host_metrics(&d, g);
    {
        struct scheduler_opts so = {
            .submit = submit_to_executor, .submit_arg = d.ex, .dry_run = opts->dry_run};
        d.sched = scheduler_new(&so);
    }
    scheduler_set_generation(d.sched, g, wall_ns());
    if (scheduler_start(d.sched) < 0) {
        jlog(JH_LOG_ERROR, "host_start_failed", "error=%s", "cannot start the dispatcher");
        goto out;
    }
    jlog(JH_LOG_INFO, "host_started", "version=%s pid=%d jobs=%zu plugins=%zu workers=%u dry_run=%s",
         JOBHOST_VERSION, (int)getpid(), g->n_jobs, g->n_plugins, g->manifest->host.workers,
         opts->dry_run ? "true" : "false");

    signal_loop(&d, sfd);

    scheduler_stop(d.sched);
    left = executor_stop(d.ex, mono_ns() + shutdown_timeout, 5 * NS_PER_SEC);
    if (left == 0) {
        status = 0;
        jlog(JH_LOG_INFO, "host_stopped", "abandoned_runs=%u", left);
    } else {
        jlog(JH_LOG_ERROR, "host_stopped", "abandoned_runs=%u", left);
    }
out:
    if (d.sched)
        scheduler_free(d.sched);
    if (d.ex && status == 0)
        executor_free(d.ex);
    if (d.live && status == 0)
        generation_unref(d.live);
    if (status == 0) {
        metrics_free(d.rt.metrics);
        jobstate_table_free(d.rt.states);
    }
    log_shutdown();
    errors_free(&errs);
    if (sfd >= 0)
        close(sfd);
    return status;
}
