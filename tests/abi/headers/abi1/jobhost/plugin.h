/*
 * jobhost plugin SDK — the only header a plugin needs.
 *
 * A plugin is a shared object that exports one descriptor, `jh_plugin_descriptor`,
 * of type `struct jh_plugin`. The host dlopen()s the object with
 * RTLD_NOW | RTLD_LOCAL, checks the descriptor's ABI version, calls the
 * optional `init` once, then calls `run` for every run of every job that names
 * the plugin, and `shutdown` once before it unloads the object.
 *
 * Everything a plugin may ask of the host goes through the `jh_ctx` it is
 * handed: the context carries a table of host functions, so a plugin links
 * against nothing of the host (build it with -Wl,--no-undefined).
 *
 * Minimal plugin (see sdk/template/plugin_template.c for a commented one):
 *
 *     #include <jobhost/plugin.h>
 *
 *     static int run(jh_ctx *ctx)
 *     {
 *         jh_log(ctx, JH_LOG_INFO, "greeted", "greeting", jh_param(ctx, "greeting"));
 *         return JH_OK;
 *     }
 *
 *     JH_PLUGIN(.name = "hello", .version = "1.0.0", .run = run);
 *
 * Build:  cc -shared -fPIC $(pkg-config --cflags jobhost) -Wl,--no-undefined -o hello.so hello.c
 *
 * Memory: host and plugin never free each other's memory. Every string the
 * host returns is borrowed and stays valid until the call it was handed to
 * (`run`, `init` or `shutdown`) returns; every string a plugin passes in is
 * copied by the host before the call returns.
 */
#ifndef JH_PLUGIN_H
#define JH_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever struct jh_plugin or struct jh_host_api changes in a way an
 * older host or plugin cannot handle. The host refuses a plugin whose
 * descriptor carries another number. */
#define JH_ABI_VERSION 1

/* The name of the symbol the host looks up in every plugin. */
#define JH_PLUGIN_SYMBOL "jh_plugin_descriptor"

/* What `run` returns. The host records the run as `success`, `failure` or,
 * when the run's deadline had passed, `timeout`. */
enum jh_result {
    JH_OK = 0,        /* the job did its work */
    JH_FAIL = 1,      /* the job failed; say why with jh_set_error() or a log record */
    JH_CANCELLED = 2, /* the job stopped early because jh_cancelled() said so */
};

/* Log levels, lowest first. A record below the job's level is dropped before
 * its values are looked at. */
enum jh_log_level {
    JH_LOG_DEBUG = 0,
    JH_LOG_INFO = 1,
    JH_LOG_WARN = 2,
    JH_LOG_ERROR = 3,
};

/* What jh_param_kind() answers. */
enum jh_param_kind {
    JH_PARAM_NONE = 0,   /* no such parameter */
    JH_PARAM_SCALAR = 1, /* a string, number or boolean, as written */
    JH_PARAM_LIST = 2,   /* a sequence of scalars */
    JH_PARAM_MAP = 3,    /* a mapping of scalar keys to scalar values */
};

/* The context of one call into the plugin. Opaque but for the function table:
 * use the jh_* wrappers below rather than calling through `api` by hand. */
typedef struct jh_ctx jh_ctx;

struct jh_host_api {
    uint32_t abi_version; /* JH_ABI_VERSION of the host */
    uint32_t size;        /* sizeof(struct jh_host_api) in the host; new
                             functions are only ever appended */

    /* Writes one structured record: `event` then key/value string pairs, the
     * list ended by a NULL key (the jh_log macro adds it). The host adds `ts`,
     * `level`, `job`, `run_id` and `plugin`, and escapes every value. Never
     * blocks on disk. Any thread of the run may call it. */
    void (*log)(jh_ctx *ctx, int level, const char *event, ...);

    /* Parameters from the job's `params:` in the manifest. In init and
     * shutdown there are none: kind is JH_PARAM_NONE, values are NULL. */
    int (*param_kind)(jh_ctx *ctx, const char *key);
    /* The scalar's text, or NULL when absent or not a scalar. */
    const char *(*param)(jh_ctx *ctx, const char *key);
    /* Number of items of a list or map parameter; 0 otherwise. */
    size_t (*param_len)(jh_ctx *ctx, const char *key);
    /* Item `i` of a list (with *name set to NULL) or map (with *name set to
     * the entry's key); NULL when out of range. `name` may be NULL. */
    const char *(*param_at)(jh_ctx *ctx, const char *key, size_t i, const char **name);

    /* Nonzero when this is a dry run: the job must not change anything,
     * only say (log) what it would do. */
    int (*dry_run)(jh_ctx *ctx);
    /* Nonzero once the run should stop: its deadline passed or the host is
     * shutting down. Cheap; poll it in loops. */
    int (*cancelled)(jh_ctx *ctx);
    /* Nanoseconds until the run's deadline; INT64_MAX when it has none. */
    int64_t (*time_left_ns)(jh_ctx *ctx);
    /* Sleeps up to `ns` nanoseconds; returns 0, or -1 early when the run is
     * cancelled. */
    int (*sleep_ns)(jh_ctx *ctx, int64_t ns);

    /* The job's id and this run's id ("" in init/shutdown). */
    const char *(*job_id)(jh_ctx *ctx);
    const char *(*run_id)(jh_ctx *ctx);

    /* A one-line reason for a failure, shown by `jobhost run-once`, in the
     * `job_finished` record and by the jobs API. The last call wins. */
    void (*set_error)(jh_ctx *ctx, const char *message);

    /* Parses a duration such as "500ms", "10s", "1h30m", "14d" the way the
     * manifest does; 0 on success, -1 when malformed. */
    int (*parse_duration)(const char *text, int64_t *ns);

    /* The number of parameters, and the key of parameter i (in manifest
     * order; NULL when out of range): lets a plugin log them all or refuse
     * a misspelled key. */
    size_t (*param_count)(jh_ctx *ctx);
    const char *(*param_key)(jh_ctx *ctx, size_t i);
};

/* The descriptor a plugin exports. Fill it with JH_PLUGIN(...). */
struct jh_plugin {
    uint32_t abi_version;    /* JH_ABI_VERSION the plugin was built against */
    uint32_t size;           /* sizeof(struct jh_plugin) at build time */
    const char *name;        /* short name, shown in logs and metrics */
    const char *version;     /* the plugin's own version, e.g. "1.2.0" */
    const char *description; /* one line, optional */

    /* Optional. Called once after loading, on the host's main thread, before
     * any run. Return 0, or nonzero to refuse loading (say why with
     * jh_set_error). Parameters are not available here. */
    int (*init)(jh_ctx *ctx);

    /* Required. Called for every run, on a worker thread. Runs of different
     * jobs, and of one job with max_instances > 1, may overlap: keep shared
     * state behind your own lock. Returns an enum jh_result. */
    int (*run)(jh_ctx *ctx);

    /* Optional. Called once before unloading, on the host's main thread,
     * after the last run has returned. */
    void (*shutdown)(jh_ctx *ctx);

    /* Zero; room to grow without changing the ABI version. */
    void *reserved[8];
};

#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(sizeof(struct jh_plugin) == 8 + 3 * 8 + 3 * 8 + 8 * 8,
               "struct jh_plugin layout is part of the ABI");
_Static_assert(offsetof(struct jh_plugin, run) == 40, "struct jh_plugin layout");
#endif

/* The context's only public member: the host's function table. */
struct jh_ctx {
    const struct jh_host_api *api;
};

/* Exports the descriptor with the ABI fields filled in. */
#define JH_PLUGIN(...)                                                            \
    __attribute__((visibility("default"))) const struct jh_plugin jh_plugin_descriptor = { \
        .abi_version = JH_ABI_VERSION,                                            \
        .size = sizeof(struct jh_plugin),                                         \
        __VA_ARGS__}

/* jh_log(ctx, JH_LOG_INFO, "event", "key1", value1, "key2", value2): values are
 * strings (NULL is written as an empty value). */
#define jh_log(ctx, level, event, ...) \
    ((ctx)->api->log((ctx), (level), (event), ##__VA_ARGS__, (const char *)NULL))

static inline int jh_param_kind(jh_ctx *ctx, const char *key)
{
    return ctx->api->param_kind(ctx, key);
}

static inline const char *jh_param(jh_ctx *ctx, const char *key)
{
    return ctx->api->param(ctx, key);
}

/* The scalar parameter, or `fallback` when it is absent. */
static inline const char *jh_param_or(jh_ctx *ctx, const char *key, const char *fallback)
{
    const char *v = ctx->api->param(ctx, key);
    return v ? v : fallback;
}

static inline size_t jh_param_len(jh_ctx *ctx, const char *key)
{
    return ctx->api->param_len(ctx, key);
}

static inline const char *jh_param_at(jh_ctx *ctx, const char *key, size_t i, const char **name)
{
    return ctx->api->param_at(ctx, key, i, name);
}

static inline int jh_dry_run(jh_ctx *ctx)
{
    return ctx->api->dry_run(ctx);
}

static inline int jh_cancelled(jh_ctx *ctx)
{
    return ctx->api->cancelled(ctx);
}

static inline int64_t jh_time_left_ns(jh_ctx *ctx)
{
    return ctx->api->time_left_ns(ctx);
}

static inline int jh_sleep_ns(jh_ctx *ctx, int64_t ns)
{
    return ctx->api->sleep_ns(ctx, ns);
}

static inline const char *jh_job_id(jh_ctx *ctx)
{
    return ctx->api->job_id(ctx);
}

static inline const char *jh_run_id(jh_ctx *ctx)
{
    return ctx->api->run_id(ctx);
}

static inline void jh_set_error(jh_ctx *ctx, const char *message)
{
    ctx->api->set_error(ctx, message);
}

static inline int jh_parse_duration(jh_ctx *ctx, const char *text, int64_t *ns)
{
    return ctx->api->parse_duration(text, ns);
}

static inline size_t jh_param_count(jh_ctx *ctx)
{
    return ctx->api->param_count(ctx);
}

static inline const char *jh_param_key(jh_ctx *ctx, size_t i)
{
    return ctx->api->param_key(ctx, i);
}

/* jh_set_error with printf formatting. */
__attribute__((format(printf, 2, 3))) static inline void jh_set_errorf(jh_ctx *ctx,
                                                                       const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->api->set_error(ctx, msg);
}

/* A boolean parameter: "true"/"yes"/"on"/"1" or "false"/"no"/"off"/"0";
 * `fallback` when absent. Returns -1 (and sets an error) when it is
 * something else. */
static inline int jh_param_bool(jh_ctx *ctx, const char *key, int fallback)
{
    static const char *const yes[] = {"true", "True", "yes", "on", "1"};
    static const char *const no[] = {"false", "False", "no", "off", "0"};
    const char *v = ctx->api->param(ctx, key);
    if (!v)
        return fallback;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    jh_set_errorf(ctx, "param %s: expected true or false, got \"%s\"", key, v);
    return -1;
}

/* A duration parameter ("30s", "1h30m") into *ns; `fallback_ns` when
 * absent. Returns 0, or -1 (and sets an error) when malformed. */
static inline int jh_param_duration(jh_ctx *ctx, const char *key, int64_t fallback_ns, int64_t *ns)
{
    const char *v = ctx->api->param(ctx, key);
    if (!v) {
        *ns = fallback_ns;
        return 0;
    }
    if (ctx->api->parse_duration(v, ns) == 0)
        return 0;
    jh_set_errorf(ctx, "param %s: invalid duration \"%s\" (e.g. 500ms, 30s, 1h30m, 14d)", key, v);
    return -1;
}

#ifdef __cplusplus
}
#endif

#endif /* JH_PLUGIN_H */
