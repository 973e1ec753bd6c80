/*
 * hostapi — fills the function table plugins are handed (as redis fills its
 * RedisModule_* pointers), so a plugin links against nothing of the host.
 *
 * Threads: every function here runs on the thread that called into the
 * plugin, or on a thread the plugin started for that call. The only shared
 * state is the cancel-all flag and the condition variable that wakes
 * sleeping plugins when it is raised.
 */
#include "core/hostapi.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/manifest.h"
#include "core/outcome.h"
#include "core/plugin.h"
#include "lib/units.h"
#include "lib/util.h"

/* Raised once at shutdown; read by every run (relaxed is enough: a late
 * read only delays cancellation by one poll). */
static atomic_bool cancel_all;
/* Wakes jh_sleep_ns callers when cancel_all is raised. */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond;
static pthread_once_t sleep_once = PTHREAD_ONCE_INIT;

static void sleep_cond_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sleep_cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* Set once by a worker process before any run; read by every run. */
static hostapi_log_fn log_forward;

void hostapi_set_log_forward(hostapi_log_fn fn)
{
    log_forward = fn;
}

static struct run_ctx *rc_of(jh_ctx *ctx)
{
    return (struct run_ctx *)ctx;
}

/* Pairs gathered from a jh_log call: on the stack for ordinary records. */
#define KV_STACK 64

static void api_log(jh_ctx *ctx, int level, const char *event, ...)
{
    struct run_ctx *rc = rc_of(ctx);
    const char *stack_kv[2 * KV_STACK], **kv = stack_kv;
    size_t n = 0, cap = KV_STACK;
    va_list ap;

    if (level < rc->log.level)
        return;
    if (!log_forward && !rc->run && !log_enabled(level))
        return;
    va_start(ap, event);
    for (const char *key; (key = va_arg(ap, const char *));) {
        if (n == cap) {
            cap *= 2;
            if (kv == stack_kv) {
                kv = xmalloc(2 * cap * sizeof(*kv));
                memcpy(kv, stack_kv, sizeof(stack_kv));
            } else {
                kv = xrealloc(kv, 2 * cap * sizeof(*kv));
            }
        }
        kv[2 * n] = key;
        kv[2 * n + 1] = va_arg(ap, const char *);
        n++;
    }
    va_end(ap);
    if (!event)
        event = "plugin";
    if (log_forward) {
        log_forward(rc, level, event, kv, n);
    } else if (rc->run) {
        struct outcome_record rec = {.level = level, .event = event, .kv = kv, .n_pairs = n};
        outcome_record(rc->run, &rec);
    } else {
        jlog_pairs(&rc->log, level, event, kv, n); /* init and shutdown */
    }
    if (kv != stack_kv)
        free(kv);
}

static const struct manifest_param *find_param(jh_ctx *ctx, const char *key)
{
    const struct manifest_job *job = rc_of(ctx)->job;
    if (!job || !key)
        return NULL;
    for (size_t i = 0; i < job->n_params; i++) {
        if (strcmp(job->params[i].key, key) == 0)
            return &job->params[i];
    }
    return NULL;
}

static int api_param_kind(jh_ctx *ctx, const char *key)
{
    const struct manifest_param *p = find_param(ctx, key);
    return p ? p->kind : JH_PARAM_NONE;
}

static const char *api_param(jh_ctx *ctx, const char *key)
{
    const struct manifest_param *p = find_param(ctx, key);
    return p && p->kind == JH_PARAM_SCALAR ? p->value : NULL;
}

static size_t api_param_len(jh_ctx *ctx, const char *key)
{
    const struct manifest_param *p = find_param(ctx, key);
    return p && p->kind != JH_PARAM_SCALAR ? p->n : 0;
}

static const char *api_param_at(jh_ctx *ctx, const char *key, size_t i, const char **name)
{
    const struct manifest_param *p = find_param(ctx, key);
    if (name)
        *name = NULL;
    if (!p || p->kind == JH_PARAM_SCALAR || i >= p->n)
        return NULL;
    if (name && p->names)
        *name = p->names[i];
    return p->values[i];
}

static int api_dry_run(jh_ctx *ctx)
{
    return rc_of(ctx)->dry_run;
}

int64_t hostapi_effective_deadline(const struct run_ctx *rc)
{
    int64_t d = rc->deadline_mono_ns;
    int64_t drain = rc->drain_deadline ? atomic_load_explicit(rc->drain_deadline, memory_order_relaxed) : 0;
    if (drain && (!d || drain < d))
        d = drain;
    return d;
}

static int api_cancelled(jh_ctx *ctx)
{
    int64_t deadline = hostapi_effective_deadline(rc_of(ctx));
    if (atomic_load_explicit(&cancel_all, memory_order_relaxed))
        return 1;
    return deadline && mono_ns() >= deadline;
}

static int64_t api_time_left_ns(jh_ctx *ctx)
{
    int64_t deadline = hostapi_effective_deadline(rc_of(ctx));
    if (!deadline)
        return INT64_MAX;
    int64_t left = deadline - mono_ns();
    return left > 0 ? left : 0;
}

static int api_sleep_ns(jh_ctx *ctx, int64_t ns)
{
    int64_t deadline;
    int64_t until = mono_ns() + (ns > 0 ? ns : 0);
    int rc = 0;

    pthread_once(&sleep_once, sleep_cond_init);
    pthread_mutex_lock(&sleep_lock);
    for (;;) {
        deadline = hostapi_effective_deadline(rc_of(ctx)); /* a reload may move it */
        if (atomic_load(&cancel_all) || (deadline && mono_ns() >= deadline)) {
            rc = -1;
            break;
        }
        int64_t now = mono_ns();
        if (now >= until)
            break;
        int64_t wake = deadline && deadline < until ? deadline : until;
        struct timespec ts = {.tv_sec = wake / NS_PER_SEC, .tv_nsec = wake % NS_PER_SEC};
        pthread_cond_timedwait(&sleep_cond, &sleep_lock, &ts);
    }
    pthread_mutex_unlock(&sleep_lock);
    return rc;
}

static const char *api_job_id(jh_ctx *ctx)
{
    const struct manifest_job *job = rc_of(ctx)->job;
    return job ? job->id : "";
}

static const char *api_run_id(jh_ctx *ctx)
{
    return rc_of(ctx)->run_id;
}

static void api_set_error(jh_ctx *ctx, const char *message)
{
    struct run_ctx *rc = rc_of(ctx);
    snprintf(rc->error, sizeof(rc->error), "%s", message ? message : "");
    /* one line: the message ends up in logfmt records and CLI output */
    for (char *c = rc->error; *c; c++) {
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    }
}

static int api_parse_duration(const char *text, int64_t *ns)
{
    return duration_parse(text, ns) == 0 ? 0 : -1;
}

static size_t api_param_count(jh_ctx *ctx)
{
    const struct manifest_job *job = rc_of(ctx)->job;
    return job ? job->n_params : 0;
}

static const char *api_param_key(jh_ctx *ctx, size_t i)
{
    const struct manifest_job *job = rc_of(ctx)->job;
    return job && i < job->n_params ? job->params[i].key : NULL;
}

static const struct jh_host_api host_api = {
    .abi_version = JH_ABI_VERSION,
    .size = sizeof(struct jh_host_api),
    .log = api_log,
    .param_kind = api_param_kind,
    .param = api_param,
    .param_len = api_param_len,
    .param_at = api_param_at,
    .dry_run = api_dry_run,
    .cancelled = api_cancelled,
    .time_left_ns = api_time_left_ns,
    .sleep_ns = api_sleep_ns,
    .job_id = api_job_id,
    .run_id = api_run_id,
    .set_error = api_set_error,
    .parse_duration = api_parse_duration,
    .param_count = api_param_count,
    .param_key = api_param_key,
};

void hostapi_bare_ctx(struct run_ctx *rc, const struct manifest_job *job, const char *run_id,
                      const char *plugin_name, bool dry_run, int64_t deadline_mono_ns)
{
    /* every field but the error text, which only needs its terminator: this
     * is on the path of every run */
    memset(rc, 0, offsetof(struct run_ctx, error));
    rc->error[0] = '\0';
    rc->pub.api = &host_api;
    rc->job = job;
    rc->dry_run = dry_run;
    rc->deadline_mono_ns = deadline_mono_ns;
    if (run_id) {
        size_t n = strnlen(run_id, RUN_ID_LEN - 1);
        memcpy(rc->run_id, run_id, n);
        rc->run_id[n] = '\0';
    }
    rc->log.job = job ? job->id : NULL;
    rc->log.run_id = job ? rc->run_id : NULL;
    rc->log.plugin = plugin_name;
    rc->log.level = job && job->log_level >= 0 ? job->log_level : JH_LOG_DEBUG;
}

void hostapi_run_ctx(struct run_ctx *rc, const struct run *run, const char *plugin_name,
                     int64_t deadline_mono_ns)
{
    hostapi_bare_ctx(rc, run->job->spec, run->id_text, plugin_name, run->dry_run,
                     deadline_mono_ns);
    rc->run = run;
}

int hostapi_call_init(struct plugin *p, char *why, size_t whylen)
{
    struct run_ctx rc;
    int result;

    hostapi_bare_ctx(&rc, NULL, NULL, p->name, false, 0);
    result = p->desc->init(&rc.pub);
    snprintf(why, whylen, "%s", rc.error);
    return result;
}

void hostapi_call_shutdown(struct plugin *p)
{
    struct run_ctx rc;
    hostapi_bare_ctx(&rc, NULL, NULL, p->name, false, 0);
    p->desc->shutdown(&rc.pub);
}

bool hostapi_cancelled_all(void)
{
    return atomic_load_explicit(&cancel_all, memory_order_relaxed);
}

void hostapi_wake_sleepers(void)
{
    pthread_once(&sleep_once, sleep_cond_init);
    pthread_mutex_lock(&sleep_lock);
    pthread_cond_broadcast(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
}

void hostapi_cancel_all(void)
{
    pthread_once(&sleep_once, sleep_cond_init);
    pthread_mutex_lock(&sleep_lock);
    atomic_store(&cancel_all, true);
    pthread_cond_broadcast(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
}
