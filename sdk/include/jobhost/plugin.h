/*
 * jobhost plugin SDK, ABI 2 — the only header a plugin needs. C11 (also with
 * -pedantic) and C++17.
 *
 * A plugin is a shared object that exports one descriptor, `jh_plugin_descriptor`,
 * of type `struct jh_plugin`, made with JH_PLUGIN(...). The host dlopen()s the
 * object with RTLD_NOW | RTLD_LOCAL, checks the descriptor, resolves the host
 * calls the plugin uses, calls the optional `init` once, `check` for every
 * job's parameters, `run` for every run of every job that names the plugin,
 * and `shutdown` once before it unloads the object.
 *
 * Minimal plugin (sdk/template/plugin_template.c is a commented one):
 *
 *     #include <jobhost/plugin.h>
 *
 *     static const struct jh_param_spec params[] = {
 *         JH_PARAM("greeting", JH_TYPE_STRING, 0, "hello", "what to say"),
 *         JH_PARAMS_END,
 *     };
 *
 *     static int run(jh_ctx *ctx)
 *     {
 *         jh_log(ctx, JH_LOG_INFO, "greeted", JH_STR("greeting", jh_param(ctx, "greeting")));
 *         return JH_OK;
 *     }
 *
 *     JH_PLUGIN(.name = "hello", .version = "1.0.0", .params = params, .run = run);
 *
 * Build:  cc -shared -fPIC -fvisibility=hidden -Wall -Wextra $(pkg-config --cflags jobhost) \
 *            -Wl,-z,defs -o hello.so hello.c
 *
 * HOST CALLS. Every jh_* function below is a host call: a plugin links
 * against nothing of the host (-Wl,-z,defs proves it). Each call the plugin
 * uses leaves a small record, {name, function pointer}, in the plugin's
 * "jh_imports" section; JH_PLUGIN points the descriptor at that section, and
 * the host, when it loads the plugin, looks every name up (as redis modules
 * look their API up by name) and fills the pointer in before `init`. A call
 * the plugin never uses leaves no record (a call in code the compiler keeps
 * counts as used, whether or not it is ever reached). So:
 *   - a plugin built against an older header loads on a newer host: the
 *     names it uses are still there;
 *   - a plugin built against a newer header loads on an older host as long
 *     as it uses only calls that host has;
 *   - a plugin that uses a call the host lacks is refused at load, with a
 *     message that names the call. Nothing ever jumps into a table slot
 *     that is not there.
 * A call's name and signature never change; a changed call gets a new name.
 *
 * THREADS. Each callback below says which thread calls it. The host calls
 * may be made from the thread the callback runs on, or from a thread the
 * plugin starts during the callback and joins before returning: the jh_ctx
 * is valid only until the callback returns.
 *
 * MEMORY. Host and plugin never free each other's memory. Every string the
 * host returns is borrowed and stays valid until the callback it was handed
 * to returns; every string a plugin passes in is copied (or used) before the
 * call returns.
 *
 * TEXT. Every string a plugin hands the host (descriptor strings, record
 * keys and values, error messages) is made valid UTF-8 where it enters the
 * host: a byte that starts no valid UTF-8 sequence becomes U+FFFD, and a
 * string that is too long is cut on a character boundary.
 */
#ifndef JH_PLUGIN_H
#define JH_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifdef __cplusplus
#define JH__STATIC_ASSERT(cond, msg) static_assert(cond, msg)
extern "C" {
#else
#define JH__STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* The layout of struct jh_plugin and the meaning of its fields. The host
 * refuses a plugin whose descriptor carries another number, saying how to
 * rebuild it. Host calls are not covered by it: they are found by name. */
#define JH_ABI_VERSION 2

/* The name of the symbol the host looks up in every plugin. */
#define JH_PLUGIN_SYMBOL "jh_plugin_descriptor"

/* What `run` returns. The host records the run as `success`, `failure` or,
 * when the run's deadline had passed, `timeout`. */
enum jh_result {
    JH_OK = 0,        /* the job did its work */
    JH_FAIL = 1,      /* the job failed; say why with jh_set_error() or a log record */
    JH_CANCELLED = 2, /* the job stopped early because jh_cancelled() said so */
};

/* Log levels, lowest first. */
enum jh_log_level {
    JH_LOG_DEBUG = 0,
    JH_LOG_INFO = 1,
    JH_LOG_WARN = 2,
    JH_LOG_ERROR = 3,
};

/* What a job's parameter is, as jh_param_kind() answers. */
enum jh_param_kind {
    JH_PARAM_NONE = 0,   /* not given, and no default */
    JH_PARAM_SCALAR = 1, /* a string, number or boolean, as written (or the default) */
    JH_PARAM_LIST = 2,   /* a sequence of scalars */
    JH_PARAM_MAP = 3,    /* a mapping of scalar keys to scalar values */
};

/* The type a plugin declares for a parameter. The host checks every job's
 * `params:` against the declarations before the job is accepted (`jobhost
 * check`, start-up, reload), so `run` only ever sees values of the declared
 * types. */
enum jh_type {
    JH_TYPE_STRING = 1,   /* any scalar, as text */
    JH_TYPE_BOOL = 2,     /* true/false, yes/no, on/off */
    JH_TYPE_INT = 3,      /* a whole number, 64-bit signed */
    JH_TYPE_DURATION = 4, /* "500ms", "10s", "1h30m", "14d", as the manifest's durations */
    JH_TYPE_SIZE = 5,     /* "512", "64KiB", "10MiB", "1GB", as the manifest's sizes */
    JH_TYPE_LIST = 6,     /* a list of scalars */
    JH_TYPE_MAP = 7,      /* a map of scalar keys to scalar values */
};

/* jh_param_spec.flags */
#define JH_REQUIRED 1u /* a job must give it */

/* One declared parameter. Fill with JH_PARAM(...); the list ends with
 * JH_PARAMS_END. The host refuses, at load, a name that is not [A-Za-z0-9_-]
 * (1 to 63 bytes) or appears twice, an unknown type or flag, a required
 * parameter with a default, a default for a list or map, a default that is
 * not of its type, and non-zero reserved fields. */
struct jh_param_spec {
    const char *name;
    uint32_t type;             /* enum jh_type */
    uint32_t flags;            /* JH_REQUIRED, or 0 */
    const char *default_value; /* text as a manifest would give it ("14d", "true"), or NULL;
                                  what jh_param() and friends see when a job leaves it out */
    const char *description;   /* one line, shown by `jobhost describe` */
    void *reserved[2];         /* zero */
};

#define JH_PARAM(name, type, flags, default_value, description)                                   \
    {(name), (type), (flags), (default_value), (description), {NULL, NULL}}
#define JH_PARAMS_END                                                                              \
    {NULL, 0, 0, NULL, NULL, {NULL, NULL}}

/* The context of one call into the plugin. Opaque. */
typedef struct jh_ctx jh_ctx;

/* One host call the plugin uses: its name, and the function the host fills
 * in at load. Made by the jh_* wrappers below, in the "jh_imports" section;
 * never written by hand except by a plugin written in another language. */
struct jh_import {
    const char *name;
    void (*fn)(void);
};

/* The descriptor a plugin exports. Fill it with JH_PLUGIN(...). In C++ the
 * fields must be given in this order (C++ designated initializers). */
struct jh_plugin {
    uint32_t abi_version;          /* JH_ABI_VERSION the plugin was built against */
    uint32_t size;                 /* sizeof(struct jh_plugin) at build time */
    struct jh_import *imports;     /* the host calls used: filled by JH_PLUGIN */
    struct jh_import *imports_end;
    const char *name;              /* short name, shown in logs and metrics */
    const char *version;           /* the plugin's own version, e.g. "1.2.0" */
    const char *description;       /* one line, optional */
    const struct jh_param_spec *params; /* ends with JH_PARAMS_END; NULL: takes none */

    /* Optional. Called once per load, before any check or run, on the main
     * thread of the process that loads the plugin (the daemon, `jobhost
     * check`/`run-once`/`describe`, or the worker process of an
     * `isolation: process` job); nothing else of this load runs meanwhile.
     * No job: parameters are not available. May set *state: every check,
     * run and shutdown of this load sees it (jh_state()). Return 0, or
     * nonzero to refuse loading (say why with jh_set_error). */
    int (*init)(jh_ctx *ctx, void **state);

    /* Required. Called for every run, on a worker thread of the daemon (the
     * main thread in `jobhost run-once` and in a worker process). Runs of
     * different jobs, and of one job with max_instances > 1, may overlap,
     * and so may a `check` of a reload: keep shared state behind your own
     * lock. Returns an enum jh_result. */
    int (*run)(jh_ctx *ctx);

    /* Optional. Called once before unloading, on the main thread, after the
     * last check and run of this load have returned, with the state init
     * set (NULL when none). */
    void (*shutdown)(jh_ctx *ctx, void *state);

    /* Optional. Checks one job's parameters beyond their declared types
     * ("dir must be absolute"), once every parameter is known to have its
     * declared type: on the main thread, for every job naming the plugin,
     * whenever a manifest is checked (`jobhost check`, start-up, every
     * reload; in the daemon also for `isolation: process` jobs). Runs of
     * the same load may be in flight meanwhile. Sees the job's parameters
     * (and their defaults), jh_job_id and jh_state; not dry-run, not run
     * information. Report each problem with jh_param_error(ctx, key, why),
     * shown at that parameter's place in the manifest. The job is refused
     * when any is reported, or when check returns nonzero (then say why
     * with jh_set_error: shown at the job's `params:`). */
    int (*check)(jh_ctx *ctx);

    void *reserved[8]; /* zero: the host refuses a descriptor that sets any */
};

#if UINTPTR_MAX == 0xffffffffffffffffu
JH__STATIC_ASSERT(sizeof(struct jh_plugin) == 8 + 2 * 8 + 4 * 8 + 4 * 8 + 8 * 8,
                  "struct jh_plugin layout is part of the ABI");
JH__STATIC_ASSERT(offsetof(struct jh_plugin, run) == 64, "struct jh_plugin layout");
JH__STATIC_ASSERT(sizeof(struct jh_param_spec) == 48, "struct jh_param_spec layout");
#endif

/* How a run came about (jh_get_run_info). */
enum jh_trigger {
    JH_TRIGGER_NONE = 0,     /* not a run: init, check, shutdown */
    JH_TRIGGER_SCHEDULE = 1, /* its trigger fired */
    JH_TRIGGER_MANUAL = 2,   /* the jobs API */
    JH_TRIGGER_CLI = 3,      /* jobhost run-once */
};

/* What the host knows about this run. The struct grows at its end; `size`
 * is the host's sizeof, so a field exists when JH_RUN_INFO_HAS says so. */
struct jh_run_info {
    uint32_t size;
    uint32_t trigger;       /* enum jh_trigger */
    int64_t scheduled_ns;   /* when it was due, ns since the epoch (UTC); 0: not scheduled */
    int64_t timeout_ns;     /* the job's `timeout:`; 0: none */
    uint32_t attempt;       /* 1 for the first attempt of a firing */
    uint32_t reserved;
    uint64_t fencing_token; /* increases with every claim of a firing in a cluster; 0 alone */
};

#define JH_RUN_INFO_HAS(info, field)                                                               \
    ((info)->size >= offsetof(struct jh_run_info, field) + sizeof((info)->field))

/* One key/value pair of a record, typed. Made with JH_STR(), JH_INT(), ... */
enum jh_kv_type {
    JH_KV_STR = 1,
    JH_KV_INT = 2,  /* int64_t */
    JH_KV_UINT = 3, /* uint64_t */
    JH_KV_F64 = 4,  /* double */
    JH_KV_BOOL = 5,
    JH_KV_DUR = 6,  /* int64_t nanoseconds */
};

struct jh_kv {
    const char *key;
    uint32_t type;     /* enum jh_kv_type */
    uint32_t reserved; /* zero */
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double f;
        int b;
        int64_t ns;
    } v;
};

/* ---- host calls ---------------------------------------------------------------- */

/* The record a call leaves in the plugin (see HOST CALLS above). */
#define JH__IMPORT(call)                                                                           \
    static struct jh_import jh__imp __attribute__((used, section("jh_imports"))) = {#call, NULL}

/* The section's bounds, which the linker provides for a section named like
 * a C identifier (GNU ld, gold and lld all do; both are 0 when the plugin
 * uses no host call). For a descriptor written out by hand. */
extern struct jh_import __start_jh_imports[] __attribute__((weak, visibility("hidden")));
extern struct jh_import __stop_jh_imports[] __attribute__((weak, visibility("hidden")));
#define JH_IMPORTS_BEGIN __start_jh_imports
#define JH_IMPORTS_END __stop_jh_imports

/* Writes one record: `event`, then the pairs kv[0..n). The host adds ts,
 * level, event, job, run_id, plugin and src=plugin, formats numbers, and
 * escapes values. Keys are lowered to [a-z0-9_] (other bytes become '_',
 * at most 64 bytes); a key the host uses itself (ts level event job run_id
 * plugin src result trigger scheduled dry_run duration_ms plugin_version
 * truncated) gets a "plugin_" prefix. At most 64 pairs; string values are
 * cut at 2048 bytes. Dropped when `level` is below the job's or the host's
 * level. Never blocks on disk. Use the jh_log() macro rather than this. */
typedef void jh_log_fn(jh_ctx *ctx, int level, const char *event, const struct jh_kv *const *kv,
                       size_t n);
static inline void jh_log_kv(jh_ctx *ctx, int level, const char *event,
                             const struct jh_kv *const *kv, size_t n)
{
    JH__IMPORT(jh_log);
    ((jh_log_fn *)jh__imp.fn)(ctx, level, event, kv, n);
}

/* Nonzero when a record at `level` would be written: lets a plugin skip
 * building an expensive one. */
typedef int jh_log_enabled_fn(jh_ctx *ctx, int level);
static inline int jh_log_enabled(jh_ctx *ctx, int level)
{
    JH__IMPORT(jh_log_enabled);
    return ((jh_log_enabled_fn *)jh__imp.fn)(ctx, level);
}

/* A one-line reason for a failure, shown by `jobhost run-once`, in the
 * `job_finished` record and by the jobs API; in init, the reason loading
 * was refused; in check, a problem with the job as a whole. The last call
 * wins; cut at 255 bytes; line breaks become spaces. */
typedef void jh_set_error_fn(jh_ctx *ctx, const char *message);
static inline void jh_set_error(jh_ctx *ctx, const char *message)
{
    JH__IMPORT(jh_set_error);
    ((jh_set_error_fn *)jh__imp.fn)(ctx, message);
}

/* In check: a problem with parameter `key`, reported at its place in the
 * manifest ("FILE:LINE:COL: jobs[2].params.dir: must be absolute"); may be
 * called for several. Elsewhere the same as jh_set_error("key: message"). */
typedef void jh_param_error_fn(jh_ctx *ctx, const char *key, const char *message);
static inline void jh_param_error(jh_ctx *ctx, const char *key, const char *message)
{
    JH__IMPORT(jh_param_error);
    ((jh_param_error_fn *)jh__imp.fn)(ctx, key, message);
}

/* Parameters: the job's `params:`, or a parameter's declared default when
 * the job leaves it out. None in init and shutdown. */

/* What parameter `key` is: an enum jh_param_kind. */
typedef int jh_param_kind_fn(jh_ctx *ctx, const char *key);
static inline int jh_param_kind(jh_ctx *ctx, const char *key)
{
    JH__IMPORT(jh_param_kind);
    return ((jh_param_kind_fn *)jh__imp.fn)(ctx, key);
}

/* A scalar parameter's text as written (or its default); NULL when absent
 * with no default, or not a scalar. */
typedef const char *jh_param_fn(jh_ctx *ctx, const char *key);
static inline const char *jh_param(jh_ctx *ctx, const char *key)
{
    JH__IMPORT(jh_param);
    return ((jh_param_fn *)jh__imp.fn)(ctx, key);
}

/* Typed parameters (or their defaults) into *out. Return 0, or -1 leaving
 * *out as it was when the parameter is absent with no default or does not
 * read as that type (which the host's checks rule out for a parameter
 * declared with that type). So `int64_t n = 10; jh_param_int(ctx, "n", &n);`
 * keeps 10 when there is nothing to read. */
typedef int jh_param_int_fn(jh_ctx *ctx, const char *key, int64_t *out);
static inline int jh_param_int(jh_ctx *ctx, const char *key, int64_t *out)
{
    JH__IMPORT(jh_param_int);
    return ((jh_param_int_fn *)jh__imp.fn)(ctx, key, out);
}

typedef int jh_param_bool_fn(jh_ctx *ctx, const char *key, bool *out);
static inline int jh_param_bool(jh_ctx *ctx, const char *key, bool *out)
{
    JH__IMPORT(jh_param_bool);
    return ((jh_param_bool_fn *)jh__imp.fn)(ctx, key, out);
}

/* Nanoseconds. */
typedef int jh_param_duration_fn(jh_ctx *ctx, const char *key, int64_t *ns);
static inline int jh_param_duration(jh_ctx *ctx, const char *key, int64_t *ns)
{
    JH__IMPORT(jh_param_duration);
    return ((jh_param_duration_fn *)jh__imp.fn)(ctx, key, ns);
}

/* Bytes. */
typedef int jh_param_size_fn(jh_ctx *ctx, const char *key, uint64_t *bytes);
static inline int jh_param_size(jh_ctx *ctx, const char *key, uint64_t *bytes)
{
    JH__IMPORT(jh_param_size);
    return ((jh_param_size_fn *)jh__imp.fn)(ctx, key, bytes);
}

/* Number of items of a list or map parameter; 0 otherwise. */
typedef size_t jh_param_len_fn(jh_ctx *ctx, const char *key);
static inline size_t jh_param_len(jh_ctx *ctx, const char *key)
{
    JH__IMPORT(jh_param_len);
    return ((jh_param_len_fn *)jh__imp.fn)(ctx, key);
}

/* Item `i` of a list (with *name set to NULL) or map (with *name set to the
 * entry's key); NULL when out of range. `name` may be NULL. */
typedef const char *jh_param_at_fn(jh_ctx *ctx, const char *key, size_t i, const char **name);
static inline const char *jh_param_at(jh_ctx *ctx, const char *key, size_t i, const char **name)
{
    JH__IMPORT(jh_param_at);
    return ((jh_param_at_fn *)jh__imp.fn)(ctx, key, i, name);
}

/* The number of parameters the job gives, and the key of parameter i (in
 * manifest order; NULL when out of range). Defaults are not listed. */
typedef size_t jh_param_count_fn(jh_ctx *ctx);
static inline size_t jh_param_count(jh_ctx *ctx)
{
    JH__IMPORT(jh_param_count);
    return ((jh_param_count_fn *)jh__imp.fn)(ctx);
}

typedef const char *jh_param_key_fn(jh_ctx *ctx, size_t i);
static inline const char *jh_param_key(jh_ctx *ctx, size_t i)
{
    JH__IMPORT(jh_param_key);
    return ((jh_param_key_fn *)jh__imp.fn)(ctx, i);
}

/* Nonzero when this is a dry run: the job must not change anything, only
 * say (log) what it would do. */
typedef int jh_dry_run_fn(jh_ctx *ctx);
static inline int jh_dry_run(jh_ctx *ctx)
{
    JH__IMPORT(jh_dry_run);
    return ((jh_dry_run_fn *)jh__imp.fn)(ctx);
}

/* Nonzero once the run should stop: its deadline passed or the host is
 * shutting down. Cheap; poll it in loops. */
typedef int jh_cancelled_fn(jh_ctx *ctx);
static inline int jh_cancelled(jh_ctx *ctx)
{
    JH__IMPORT(jh_cancelled);
    return ((jh_cancelled_fn *)jh__imp.fn)(ctx);
}

/* Nanoseconds until the run's deadline; INT64_MAX when it has none. */
typedef int64_t jh_time_left_ns_fn(jh_ctx *ctx);
static inline int64_t jh_time_left_ns(jh_ctx *ctx)
{
    JH__IMPORT(jh_time_left_ns);
    return ((jh_time_left_ns_fn *)jh__imp.fn)(ctx);
}

/* Sleeps up to `ns` nanoseconds; returns 0, or -1 early when the run is
 * cancelled. */
typedef int jh_sleep_ns_fn(jh_ctx *ctx, int64_t ns);
static inline int jh_sleep_ns(jh_ctx *ctx, int64_t ns)
{
    JH__IMPORT(jh_sleep_ns);
    return ((jh_sleep_ns_fn *)jh__imp.fn)(ctx, ns);
}

/* The job's id ("" in init and shutdown) and this run's id ("" outside a
 * run). */
typedef const char *jh_job_id_fn(jh_ctx *ctx);
static inline const char *jh_job_id(jh_ctx *ctx)
{
    JH__IMPORT(jh_job_id);
    return ((jh_job_id_fn *)jh__imp.fn)(ctx);
}

typedef const char *jh_run_id_fn(jh_ctx *ctx);
static inline const char *jh_run_id(jh_ctx *ctx)
{
    JH__IMPORT(jh_run_id);
    return ((jh_run_id_fn *)jh__imp.fn)(ctx);
}

/* What the host knows about this run; never NULL (outside a run, trigger
 * is JH_TRIGGER_NONE and the rest 0). Borrowed until the callback returns. */
typedef const struct jh_run_info *jh_get_run_info_fn(jh_ctx *ctx);
static inline const struct jh_run_info *jh_get_run_info(jh_ctx *ctx)
{
    JH__IMPORT(jh_get_run_info);
    return ((jh_get_run_info_fn *)jh__imp.fn)(ctx);
}

/* The state init set for this load (NULL when none). */
typedef void *jh_state_fn(jh_ctx *ctx);
static inline void *jh_state(jh_ctx *ctx)
{
    JH__IMPORT(jh_state);
    return ((jh_state_fn *)jh__imp.fn)(ctx);
}

/* Parses a duration such as "500ms", "10s", "1h30m", "14d" the way the
 * manifest does; 0 on success, -1 when malformed. */
typedef int jh_parse_duration_fn(jh_ctx *ctx, const char *text, int64_t *ns);
static inline int jh_parse_duration(jh_ctx *ctx, const char *text, int64_t *ns)
{
    JH__IMPORT(jh_parse_duration);
    return ((jh_parse_duration_fn *)jh__imp.fn)(ctx, text, ns);
}

/* jh_set_error with printf formatting. */
__attribute__((format(printf, 2, 3))) static inline void jh_set_errorf(jh_ctx *ctx,
                                                                       const char *fmt, ...)
{
    char msg[512]; /* more than the host keeps: it cuts on a character boundary */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    jh_set_error(ctx, msg);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ---- records: jh_log and its pairs ------------------------------------------------
 *
 *     jh_log(ctx, JH_LOG_INFO, "copied", JH_STR("path", p), JH_INT("count", n),
 *            JH_F64("ratio", r), JH_BOOL("ok", b), JH_DUR("took", ns));
 *
 * Each pair's value is checked against its type at compile time: JH_STR
 * takes a char pointer, JH_INT and JH_UINT any integer, JH_F64 a float or
 * double, JH_BOOL a bool (or, in C, an int: a comparison), JH_DUR integer
 * nanoseconds. Anything else, and anything but a pair after the event,
 * does not compile. A NULL string is written as "". Numbers are formatted
 * by the host: integers in decimal, doubles in the shortest form that
 * reads back the same, durations in seconds ("took=0.25s").
 */
#ifndef __cplusplus

#define JH__ANY_INT(v, to)                                                                         \
    _Generic((v),                                                                                  \
        char: (to)(v), signed char: (to)(v), unsigned char: (to)(v), short: (to)(v),               \
        unsigned short: (to)(v), int: (to)(v), unsigned: (to)(v), long: (to)(v),                   \
        unsigned long: (to)(v), long long: (to)(v), unsigned long long: (to)(v))
#define JH__PAIR(key, type, member, value)                                                         \
    (&(const struct jh_kv){(key), (type), 0, {.member = (value)}})

#define JH_STR(key, value)                                                                         \
    JH__PAIR(key, JH_KV_STR, s, _Generic((value), char *: (value), const char *: (value)))
#define JH_INT(key, value) JH__PAIR(key, JH_KV_INT, i, JH__ANY_INT(value, int64_t))
#define JH_UINT(key, value) JH__PAIR(key, JH_KV_UINT, u, JH__ANY_INT(value, uint64_t))
#define JH_F64(key, value)                                                                         \
    JH__PAIR(key, JH_KV_F64, f,                                                                    \
             _Generic((value), float: (double)(value), double: (value), long double: (double)(value)))
#define JH_BOOL(key, value)                                                                        \
    JH__PAIR(key, JH_KV_BOOL, b, _Generic((value), _Bool: (int)(value), int: (value) != 0))
#define JH_DUR(key, value) JH__PAIR(key, JH_KV_DUR, ns, JH__ANY_INT(value, int64_t))

/* jh_log(ctx, level, "event", pairs...): the pairs become an array of
 * pointers (ended by one NULL the count leaves out), so an argument that is
 * not a pair is a type error. */
#define jh_log(ctx, level, ...)                                                                    \
    jh_log_kv((ctx), (level), JH__LOG_EVENT(__VA_ARGS__, 0),                                       \
              JH__LOG_PAIRS(__VA_ARGS__, (const struct jh_kv *)NULL))
#define JH__LOG_EVENT(event, ...) (event)
#define JH__LOG_PAIRS(event, ...)                                                                  \
    (const struct jh_kv *const[]){__VA_ARGS__},                                                    \
        sizeof((const struct jh_kv *const[]){__VA_ARGS__}) / sizeof(const struct jh_kv *) - 1

#else /* C++ */

#include <type_traits>

template <typename T> inline jh_kv jh__pair(const char *key, uint32_t type, T value)
{
    jh_kv kv{};
    kv.key = key;
    kv.type = type;
    if constexpr (std::is_floating_point<T>::value)
        kv.v.f = static_cast<double>(value);
    else if constexpr (std::is_same<T, bool>::value)
        kv.v.b = value ? 1 : 0;
    else if constexpr (std::is_pointer<T>::value)
        kv.v.s = value;
    else if constexpr (std::is_signed<T>::value)
        kv.v.i = static_cast<int64_t>(value);
    else
        kv.v.u = static_cast<uint64_t>(value);
    return kv;
}

inline jh_kv jh__str(const char *key, const char *value)
{
    return jh__pair(key, JH_KV_STR, value);
}

template <typename T> inline jh_kv jh__int(const char *key, uint32_t type, T value)
{
    static_assert(std::is_integral<T>::value && !std::is_same<T, bool>::value,
                  "JH_INT, JH_UINT and JH_DUR take an integer");
    if (type == JH_KV_UINT)
        return jh__pair(key, type, static_cast<uint64_t>(value));
    return jh__pair(key, type, static_cast<int64_t>(value));
}

template <typename T> inline jh_kv jh__f64(const char *key, T value)
{
    static_assert(std::is_floating_point<T>::value, "JH_F64 takes a float or a double");
    return jh__pair(key, JH_KV_F64, static_cast<double>(value));
}

template <typename T> inline jh_kv jh__bool(const char *key, T value)
{
    static_assert(std::is_same<T, bool>::value, "JH_BOOL takes a bool");
    return jh__pair(key, JH_KV_BOOL, value);
}

#define JH_STR(key, value) jh__str((key), (value))
#define JH_INT(key, value) jh__int((key), JH_KV_INT, (value))
#define JH_UINT(key, value) jh__int((key), JH_KV_UINT, (value))
#define JH_F64(key, value) jh__f64((key), (value))
#define JH_BOOL(key, value) jh__bool((key), (value))
#define JH_DUR(key, value) jh__int((key), JH_KV_DUR, (value))

template <typename... Pairs>
inline void jh_log(jh_ctx *ctx, int level, const char *event, const Pairs &...pairs)
{
    static_assert((std::is_same<Pairs, jh_kv>::value && ...),
                  "jh_log takes pairs after the event: JH_STR(k, v), JH_INT(k, v), ...");
    const jh_kv *kv[] = {&pairs..., nullptr};
    jh_log_kv(ctx, level, event, kv, sizeof...(pairs));
}

#endif /* __cplusplus */

/* ---- the descriptor ------------------------------------------------------------------ */

/* Exports the descriptor with the ABI fields filled in:
 *
 *     JH_PLUGIN(.name = "x", .version = "1.0.0", .params = params, .run = run);
 *
 * C++17 takes the designated initializers as the C++20 form (the warnings
 * about them are silenced here); give the fields in declaration order. */
#if defined(__cplusplus) && __cplusplus < 202002L && defined(__clang__)
#define JH__DESIGNATED_BEGIN                                                                       \
    _Pragma("clang diagnostic push") _Pragma("clang diagnostic ignored \"-Wc++20-designator\"")    \
        _Pragma("clang diagnostic ignored \"-Wmissing-field-initializers\"")
#define JH__DESIGNATED_END _Pragma("clang diagnostic pop")
#elif defined(__cplusplus) && __cplusplus < 202002L && __GNUC__ >= 11
#define JH__DESIGNATED_BEGIN                                                                       \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wpedantic\"")                \
        _Pragma("GCC diagnostic ignored \"-Wc++20-extensions\"")                                   \
            _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")
#define JH__DESIGNATED_END _Pragma("GCC diagnostic pop")
#elif defined(__cplusplus)
#define JH__DESIGNATED_BEGIN                                                                       \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wpedantic\"")                \
        _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")
#define JH__DESIGNATED_END _Pragma("GCC diagnostic pop")
#else
#define JH__DESIGNATED_BEGIN
#define JH__DESIGNATED_END
#endif

#ifdef __cplusplus
extern "C" {
#endif
__attribute__((visibility("default"))) extern const struct jh_plugin jh_plugin_descriptor;
#ifdef __cplusplus
}
#endif

/* The last line re-declares the descriptor so that the `;` after
 * JH_PLUGIN(...) ends a declaration. */
#define JH_PLUGIN(...)                                                                             \
    JH__DESIGNATED_BEGIN                                                                           \
    const struct jh_plugin jh_plugin_descriptor = {.abi_version = JH_ABI_VERSION,                  \
                                                   .size = sizeof(struct jh_plugin),               \
                                                   .imports = JH_IMPORTS_BEGIN,                    \
                                                   .imports_end = JH_IMPORTS_END,                  \
                                                   __VA_ARGS__};                                   \
    JH__DESIGNATED_END                                                                             \
    extern const struct jh_plugin jh_plugin_descriptor

#endif /* JH_PLUGIN_H */
