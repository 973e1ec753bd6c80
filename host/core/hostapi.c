/*
 * hostapi — the host calls plugins find by name (hostapi_lookup; the loader
 * fills each call a plugin uses in at load, as redis modules fill their
 * RedisModule_* pointers), so a plugin links against nothing of the host;
 * and the SDK boundary every string from a plugin crosses. See hostapi.h.
 *
 * Threads: every function here runs on the thread that called into the
 * plugin, or on a thread the plugin started for that call. The only shared
 * state is the cancel-all flag and the condition variable that wakes
 * sleeping plugins when it is raised.
 */
#include "core/hostapi.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/manifest.h"
#include "core/mainloop.h"
#include "core/outcome.h"
#include "core/outcome_log.h"
#include "core/params.h"
#include "core/plugin.h"
#include "core/record.h"
#include "lib/units.h"
#include "lib/utf8.h"
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
    cond_init_mono(&sleep_cond);
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

/* Every host call is declared with its SDK type, so the compiler holds each
 * to the signature plugins call it with. */
static jh_log_fn api_log;
static jh_log_enabled_fn api_log_enabled;
static jh_set_error_fn api_set_error;
static jh_param_error_fn api_param_error;
static jh_param_kind_fn api_param_kind;
static jh_param_fn api_param;
static jh_param_int_fn api_param_int;
static jh_param_bool_fn api_param_bool;
static jh_param_duration_fn api_param_duration;
static jh_param_size_fn api_param_size;
static jh_param_len_fn api_param_len;
static jh_param_at_fn api_param_at;
static jh_param_count_fn api_param_count;
static jh_param_key_fn api_param_key;
static jh_dry_run_fn api_dry_run;
static jh_cancelled_fn api_cancelled;
static jh_time_left_ns_fn api_time_left_ns;
static jh_sleep_ns_fn api_sleep_ns;
static jh_job_id_fn api_job_id;
static jh_run_id_fn api_run_id;
static jh_get_run_info_fn api_run_info;
static jh_state_fn api_state;
static jh_parse_duration_fn api_parse_duration;

/* ---- text at the boundary ------------------------------------------------------- */

size_t hostapi_text_line(char *out, size_t cap, const char *s)
{
    const char *in = s ? s : "";
    size_t n = utf8_sanitize(out, cap, in, strnlen(in, cap), NULL);

    /* one line: the text ends up in messages, logfmt records and CLI output */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f)
            out[i] = ' ';
    }
    return n;
}

void hostapi_set_error_text(struct run_ctx *rc, const char *message)
{
    hostapi_text_line(rc->error, sizeof(rc->error), message);
}

/* True when s needs no copy to be used as a value of at most max bytes. */
static bool text_ok(const char *s, size_t max, size_t *len)
{
    *len = strnlen(s, max + 1);
    return *len <= max && utf8_valid_prefix(s, *len) == *len;
}

/* A string value that needed a copy: valid UTF-8 in out (max + 1 bytes),
 * ending in RECORD_TRUNC_MARK when it had to be cut. */
static void value_copy(char *out, size_t max, const char *s)
{
    const size_t mark = sizeof(RECORD_TRUNC_MARK) - 1;
    size_t len = strnlen(s, max + 1), n;
    bool cut;

    n = utf8_sanitize(out, max + 1, s, len, &cut);
    if (!cut)
        return;
    n = utf8_sanitize(out, max + 1 - mark, s, len, NULL);
    memcpy(out + n, RECORD_TRUNC_MARK, mark + 1);
}

/* ---- records ---------------------------------------------------------------------- */

/* What a pair needs besides its own memory. */
enum { PAIR_SKIP = 1, PAIR_KEY_COPY = 2, PAIR_VALUE_COPY = 4 };

static void api_log(jh_ctx *ctx, int level, const char *event, const struct jh_kv *const *kv,
                    size_t n)
{
    struct run_ctx *rc = rc_of(ctx);
    struct record_pair pairs[RECORD_MAX_PAIRS];
    unsigned char how[RECORD_MAX_PAIRS];
    char event_buf[RECORD_EVENT_MAX + 1];
    size_t take = kv && n < RECORD_MAX_PAIRS ? n : kv ? RECORD_MAX_PAIRS : 0;
    size_t need = 0, m = 0, len;
    char *scratch = NULL, *sp;
    struct outcome_record rec;

    if (level < rc->log.level)
        return;
    if (!log_forward && !rc->run && !log_enabled(level))
        return;
    level = level < JH_LOG_DEBUG ? JH_LOG_DEBUG : level > JH_LOG_ERROR ? JH_LOG_ERROR : level;

    /* The common case costs a scan of each string: only keys that break the
     * rules and text that is not valid UTF-8, or too long, is copied. */
    for (size_t i = 0; i < take; i++) {
        const struct jh_kv *p = kv[i];

        how[i] = 0;
        if (!p || p->type < JH_KV_STR || p->type > JH_KV_DUR) {
            how[i] = PAIR_SKIP; /* a type this host does not know */
            continue;
        }
        if (!p->key || !record_key_ok(p->key, strnlen(p->key, RECORD_KEY_MAX + 1))) {
            how[i] |= PAIR_KEY_COPY;
            need += RECORD_KEY_BUF;
        }
        if (p->type == JH_KV_STR && p->v.s && !text_ok(p->v.s, RECORD_VALUE_MAX, &len)) {
            how[i] |= PAIR_VALUE_COPY;
            need += RECORD_VALUE_MAX + 1;
        }
    }
    sp = scratch = need ? xmalloc(need) : NULL;
    for (size_t i = 0; i < take; i++) {
        const struct jh_kv *p = kv[i];
        struct record_pair *q = &pairs[m];

        if (how[i] & PAIR_SKIP)
            continue;
        m++;
        q->key = p->key;
        if (how[i] & PAIR_KEY_COPY) {
            record_key(sp, p->key);
            q->key = sp;
            sp += RECORD_KEY_BUF;
        }
        switch (p->type) {
        case JH_KV_STR:
            q->type = RECORD_STR;
            q->v.s = p->v.s ? p->v.s : "";
            if (how[i] & PAIR_VALUE_COPY) {
                value_copy(sp, RECORD_VALUE_MAX, p->v.s);
                q->v.s = sp;
                sp += RECORD_VALUE_MAX + 1;
            }
            break;
        case JH_KV_INT:
            q->type = RECORD_INT;
            q->v.i = p->v.i;
            break;
        case JH_KV_UINT:
            q->type = RECORD_UINT;
            q->v.u = p->v.u;
            break;
        case JH_KV_F64:
            q->type = RECORD_F64;
            q->v.f = p->v.f;
            break;
        case JH_KV_BOOL:
            q->type = RECORD_BOOL;
            q->v.b = p->v.b != 0;
            break;
        default:
            q->type = RECORD_DUR;
            q->v.ns = p->v.ns;
            break;
        }
    }
    if (!event || !*event) {
        event = "plugin";
    } else if (!text_ok(event, RECORD_EVENT_MAX, &len)) {
        utf8_sanitize(event_buf, sizeof(event_buf), event, len, NULL);
        event = event_buf;
    }
    rec = (struct outcome_record){.level = level, .event = event, .pairs = pairs, .n_pairs = m,
                                  .truncated = kv && n > RECORD_MAX_PAIRS};
    if (log_forward)
        log_forward(rc, &rec);
    else if (rc->run)
        outcome_record(rc->run, &rec);
    else
        outcome_log_plugin_record(&rc->log, &rec); /* init, check and shutdown */
    free(scratch);
}

static int api_log_enabled(jh_ctx *ctx, int level)
{
    struct run_ctx *rc = rc_of(ctx);

    return level >= rc->log.level && (log_forward || log_enabled(level));
}

static void api_set_error(jh_ctx *ctx, const char *message)
{
    hostapi_set_error_text(rc_of(ctx), message);
}

static void api_param_error(jh_ctx *ctx, const char *key, const char *message)
{
    struct run_ctx *rc = rc_of(ctx);
    char k[RECORD_KEY_BUF], msg[RUN_ERROR_MAX];

    hostapi_text_line(k, sizeof(k), key);
    hostapi_text_line(msg, sizeof(msg), message);
    if (rc->param_error) {
        rc->param_error(rc->param_error_arg, k, msg);
    } else {
        struct buf b = {0};
        buf_printf(&b, "%s: %s", k, msg);
        hostapi_set_error_text(rc, b.data);
        buf_free(&b);
    }
}

/* ---- parameters --------------------------------------------------------------------- */

static const struct manifest_param *job_param(const struct run_ctx *rc, const char *key)
{
    const struct manifest_job *job = rc->job;
    if (!job || !key)
        return NULL;
    for (size_t i = 0; i < job->n_params; i++) {
        if (strcmp(job->params[i].key, key) == 0)
            return &job->params[i];
    }
    return NULL;
}

/* The declared default of a parameter the job leaves out, or NULL. */
static const char *default_of(const struct run_ctx *rc, const char *key)
{
    const struct plugin_param *decl = rc->job ? params_find(rc->plugin, key) : NULL;
    return decl ? decl->default_value : NULL;
}

static int api_param_kind(jh_ctx *ctx, const char *key)
{
    const struct manifest_param *p = job_param(rc_of(ctx), key);
    if (p)
        return p->kind;
    return default_of(rc_of(ctx), key) ? JH_PARAM_SCALAR : JH_PARAM_NONE;
}

static const char *api_param(jh_ctx *ctx, const char *key)
{
    const struct manifest_param *p = job_param(rc_of(ctx), key);
    if (p)
        return p->kind == JH_PARAM_SCALAR ? p->value : NULL;
    return default_of(rc_of(ctx), key);
}

static int api_param_int(jh_ctx *ctx, const char *key, int64_t *out)
{
    const char *text = api_param(ctx, key);
    int64_t v;

    if (!text || int_parse(text, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

static int api_param_bool(jh_ctx *ctx, const char *key, bool *out)
{
    const char *text = api_param(ctx, key);
    bool v;

    if (!text || bool_parse(text, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

static int api_param_duration(jh_ctx *ctx, const char *key, int64_t *ns)
{
    const char *text = api_param(ctx, key);
    int64_t v;

    if (!text || duration_parse(text, &v) < 0)
        return -1;
    *ns = v;
    return 0;
}

static int api_param_size(jh_ctx *ctx, const char *key, uint64_t *bytes)
{
    const char *text = api_param(ctx, key);
    uint64_t v;

    if (!text || size_parse(text, &v) < 0)
        return -1;
    *bytes = v;
    return 0;
}

static size_t api_param_len(jh_ctx *ctx, const char *key)
{
    const struct manifest_param *p = job_param(rc_of(ctx), key);
    return p && p->kind != JH_PARAM_SCALAR ? p->n : 0;
}

static const char *api_param_at(jh_ctx *ctx, const char *key, size_t i, const char **name)
{
    const struct manifest_param *p = job_param(rc_of(ctx), key);
    if (name)
        *name = NULL;
    if (!p || p->kind == JH_PARAM_SCALAR || i >= p->n)
        return NULL;
    if (name && p->names)
        *name = p->names[i];
    return p->values[i];
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

/* ---- the run -------------------------------------------------------------------------- */

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

int64_t hostapi_wake_at(const struct run_ctx *rc)
{
    int64_t d = hostapi_effective_deadline(rc);
    if (rc->lease) {
        int64_t until = atomic_load_explicit(&rc->lease->until_mono, memory_order_relaxed);
        if (!d || until < d)
            d = until;
    }
    return d;
}

static int api_cancelled(jh_ctx *ctx)
{
    int64_t deadline = hostapi_effective_deadline(rc_of(ctx)), now = mono_ns();
    if (atomic_load_explicit(&cancel_all, memory_order_relaxed) || hostapi_run_replaced(rc_of(ctx)) ||
        hostapi_lease_lost(rc_of(ctx), now))
        return 1;
    return deadline && now >= deadline;
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
    const struct run_ctx *rc = rc_of(ctx);
    int64_t until = clock_add(mono_ns(), ns > 0 ? ns : 0); /* INT64_MAX: until cancelled */
    int ret = 0;

    pthread_once(&sleep_once, sleep_cond_init);
    pthread_mutex_lock(&sleep_lock);
    for (;;) {
        int64_t deadline = hostapi_effective_deadline(rc); /* a reload may move it */
        int64_t wake = hostapi_wake_at(rc), now = mono_ns(); /* and a renewal that */
        if (atomic_load(&cancel_all) || hostapi_run_replaced(rc) || hostapi_lease_lost(rc, now) ||
            (deadline && now >= deadline)) {
            ret = -1;
            break;
        }
        if (now >= until)
            break;
        if (!wake || wake > until)
            wake = until;
        struct timespec ts = {.tv_sec = wake / NS_PER_SEC, .tv_nsec = wake % NS_PER_SEC};
        pthread_cond_timedwait(&sleep_cond, &sleep_lock, &ts);
    }
    pthread_mutex_unlock(&sleep_lock);
    return ret;
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

static const struct jh_run_info *api_run_info(jh_ctx *ctx)
{
    return &rc_of(ctx)->info;
}

static void *api_state(jh_ctx *ctx)
{
    return rc_of(ctx)->state;
}

static int api_parse_duration(jh_ctx *ctx, const char *text, int64_t *ns)
{
    (void)ctx;
    return text && duration_parse(text, ns) == 0 ? 0 : -1;
}

/* ---- lookup by name ----------------------------------------------------------------- */

#define CALL(name, fn) {name, (void (*)(void))fn}

/* Every host call, by the name its SDK wrapper records. Names are never
 * reused for another signature. */
static const struct {
    const char *name;
    void (*fn)(void);
} host_calls[] = {
    CALL("jh_cancelled", api_cancelled),
    CALL("jh_dry_run", api_dry_run),
    CALL("jh_get_run_info", api_run_info),
    CALL("jh_job_id", api_job_id),
    CALL("jh_log", api_log),
    CALL("jh_log_enabled", api_log_enabled),
    CALL("jh_param", api_param),
    CALL("jh_param_at", api_param_at),
    CALL("jh_param_bool", api_param_bool),
    CALL("jh_param_count", api_param_count),
    CALL("jh_param_duration", api_param_duration),
    CALL("jh_param_error", api_param_error),
    CALL("jh_param_int", api_param_int),
    CALL("jh_param_key", api_param_key),
    CALL("jh_param_kind", api_param_kind),
    CALL("jh_param_len", api_param_len),
    CALL("jh_param_size", api_param_size),
    CALL("jh_parse_duration", api_parse_duration),
    CALL("jh_run_id", api_run_id),
    CALL("jh_set_error", api_set_error),
    CALL("jh_sleep_ns", api_sleep_ns),
    CALL("jh_state", api_state),
    CALL("jh_time_left_ns", api_time_left_ns),
};

void (*hostapi_lookup(const char *name))(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(host_calls); i++)
        if (strcmp(host_calls[i].name, name) == 0)
            return host_calls[i].fn;
    return NULL;
}

/* ---- contexts ----------------------------------------------------------------------- */

uint32_t hostapi_trigger(enum run_trigger t)
{
    switch (t) {
    case RUN_SCHEDULED:
        return JH_TRIGGER_SCHEDULE;
    case RUN_MANUAL:
        return JH_TRIGGER_MANUAL;
    case RUN_CLI:
        return JH_TRIGGER_CLI;
    default:
        return JH_TRIGGER_NONE;
    }
}

void hostapi_bare_ctx(struct run_ctx *rc, const struct plugin *p, const struct manifest_job *job,
                      const char *run_id, bool dry_run, int64_t deadline_mono_ns)
{
    /* every field but the error text, which only needs its terminator: this
     * is on the path of every run */
    memset(rc, 0, offsetof(struct run_ctx, error));
    rc->error[0] = '\0';
    rc->job = job;
    rc->plugin = p;
    rc->state = p ? p->state : NULL;
    rc->dry_run = dry_run;
    rc->deadline_mono_ns = deadline_mono_ns;
    rc->info.size = sizeof(rc->info);
    if (run_id) {
        size_t n = strnlen(run_id, RUN_ID_LEN - 1);
        memcpy(rc->run_id, run_id, n);
        rc->run_id[n] = '\0';
    }
    rc->log.job = job ? job->id : NULL;
    rc->log.run_id = job ? rc->run_id : NULL;
    rc->log.plugin = p ? p->desc_name : NULL;
    rc->log.level = job && job->log_level >= 0 ? job->log_level : JH_LOG_DEBUG;
}

void hostapi_run_ctx(struct run_ctx *rc, const struct run *run, const struct plugin *p,
                     int64_t deadline_mono_ns)
{
    hostapi_bare_ctx(rc, p, run->job->spec, run->id_text, run->dry_run, deadline_mono_ns);
    rc->run = run;
    rc->info.trigger = hostapi_trigger(run->trigger);
    rc->info.scheduled_ns = run->scheduled_wall_ns;
    rc->info.timeout_ns = run->job->spec->timeout_ns;
    rc->info.attempt = run->attempt;
    rc->info.fencing_token = run->fencing_token;
    rc->replaced_below = &run->job->state->replaced_below;
    rc->run_num = run->id;
}

int hostapi_call_init(struct plugin *p, char *why, size_t whylen)
{
    struct run_ctx rc;
    void *state = NULL;
    int result;

    MAIN_THREAD_ONLY(); /* as plugin.h promises the plugin */
    hostapi_bare_ctx(&rc, p, NULL, NULL, false, 0);
    result = p->desc->init(hostapi_ctx(&rc), &state);
    p->state = state;
    hostapi_text_line(why, whylen, rc.error);
    return result;
}

int hostapi_call_check(const struct plugin *p, const struct manifest_job *job,
                       hostapi_param_error_fn report, void *arg, char *why, size_t whylen)
{
    struct run_ctx rc;
    int result;

    MAIN_THREAD_ONLY();
    hostapi_bare_ctx(&rc, p, job, NULL, false, 0);
    rc.param_error = report;
    rc.param_error_arg = arg;
    result = p->desc->check(hostapi_ctx(&rc));
    hostapi_text_line(why, whylen, rc.error);
    return result;
}

void hostapi_call_shutdown(struct plugin *p)
{
    struct run_ctx rc;

    MAIN_THREAD_ONLY();
    hostapi_bare_ctx(&rc, p, NULL, NULL, false, 0);
    p->desc->shutdown(hostapi_ctx(&rc), p->state);
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
