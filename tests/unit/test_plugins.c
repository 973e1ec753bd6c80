/*
 * test_plugins — the shipped plugins (plugins/NAME.so) and the fixture plugins
 * (tests/plugins/NAME.so), loaded with dlopen(RTLD_NOW | RTLD_LOCAL) as the host
 * loads them, and called through their descriptor against a fake host: the
 * host calls of <jobhost/plugin.h> implemented here and bound by name into
 * the plugin's import records (as the loader does), with parameters from a
 * small table and the plugin's declared defaults, typed log records captured
 * as text in an array, jh_param_error reports captured for check(), and
 * dry-run and cancel flags a test sets. Nothing of host/ is used, so a
 * plugin's behaviour is tested apart from the loader and executor; what the
 * host checks before a run (declared types, required parameters) is tested
 * in test_cli against the real host.
 *
 * Run from the repository root (the .so paths are relative to it), after
 * building them (`make all`, or each plugins/NAME.so and tests/plugins/NAME.so).
 *
 * Threads: the fake's log may be called from any thread (the counter test
 * runs a plugin on several); records are appended under fake.lock. Cancel is
 * an atomic so a helper thread can set it while a run is going on.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "cu_main.h"

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)
#define DAY_S (24 * 3600)

#define MAX_RECORDS 8192
#define MAX_PAIRS 24
#define MAX_REPORTS 16

/* --- the fake host ------------------------------------------------------ */

/* One parameter, as the manifest's `params:` would give it. `items` ends
 * with NULL; for a map it alternates key, value. */
struct fake_param {
    const char *key;
    int kind;
    const char *value;
    const char *const *items;
};

#define P_SCALAR(k, v) {.key = (k), .kind = JH_PARAM_SCALAR, .value = (v)}
#define P_LIST(k, ...) \
    {.key = (k), .kind = JH_PARAM_LIST, .items = (const char *const[]){__VA_ARGS__, NULL}}
#define P_MAP(k, ...) \
    {.key = (k), .kind = JH_PARAM_MAP, .items = (const char *const[]){__VA_ARGS__, NULL}}
#define P_END {.key = NULL}

struct record {
    int level;
    char *event;
    size_t n;
    char *key[MAX_PAIRS];
    char *val[MAX_PAIRS];
    uint32_t type[MAX_PAIRS]; /* enum jh_kv_type */
};

/* A jh_param_error of a check. */
struct report {
    char key[64];
    char message[256];
};

struct fake {
    const struct fake_param *params; /* ends with P_END; may be NULL */
    const struct jh_param_spec *decl; /* the plugin's declarations, for defaults */
    void *state;                      /* what init set */
    struct jh_run_info info;
    int dry_run;
    atomic_int cancel;
    char error[1024];
    struct report reports[MAX_REPORTS]; /* jh_param_error calls */
    size_t n_reports;
    pthread_mutex_t lock; /* guards rec, nrec */
    struct record *rec;
    size_t nrec;
};

/* The fake is the context: a plugin only ever passes the pointer back. */
static jh_ctx *ctx_of(struct fake *f)
{
    return (jh_ctx *)f;
}

static struct fake *fake_of(jh_ctx *ctx)
{
    return (struct fake *)ctx;
}

static char *dup_or_empty(const char *s)
{
    char *d = strdup(s ? s : "");

    if (!d)
        abort();
    return d;
}

/* A typed value as text: what the assertions compare. */
static char *kv_text(const struct jh_kv *kv)
{
    char buf[64];

    switch (kv->type) {
    case JH_KV_STR:
        return dup_or_empty(kv->v.s);
    case JH_KV_INT:
        snprintf(buf, sizeof buf, "%" PRId64, kv->v.i);
        break;
    case JH_KV_UINT:
        snprintf(buf, sizeof buf, "%" PRIu64, kv->v.u);
        break;
    case JH_KV_F64:
        snprintf(buf, sizeof buf, "%g", kv->v.f);
        break;
    case JH_KV_BOOL:
        snprintf(buf, sizeof buf, "%s", kv->v.b ? "true" : "false");
        break;
    case JH_KV_DUR:
        snprintf(buf, sizeof buf, "%" PRId64 "ns", kv->v.ns);
        break;
    default:
        snprintf(buf, sizeof buf, "?");
        break;
    }
    return dup_or_empty(buf);
}

static void fake_log(jh_ctx *ctx, int level, const char *event, const struct jh_kv *const *kv,
                     size_t n)
{
    struct fake *f = fake_of(ctx);
    struct record r;

    memset(&r, 0, sizeof r);
    r.level = level;
    r.event = dup_or_empty(event);
    for (size_t i = 0; i < n; i++) {
        if (r.n < MAX_PAIRS && kv[i]) {
            r.key[r.n] = dup_or_empty(kv[i]->key);
            r.val[r.n] = kv_text(kv[i]);
            r.type[r.n] = kv[i]->type;
            r.n++;
        }
    }

    pthread_mutex_lock(&f->lock);
    if (f->nrec < MAX_RECORDS) {
        f->rec[f->nrec++] = r;
        r.event = NULL;
        r.n = 0;
    }
    pthread_mutex_unlock(&f->lock);
    free(r.event);
    for (size_t i = 0; i < r.n; i++) {
        free(r.key[i]);
        free(r.val[i]);
    }
}

static int fake_log_enabled(jh_ctx *ctx, int level)
{
    (void)ctx;
    (void)level;
    return 1;
}

static const struct fake_param *fake_find(jh_ctx *ctx, const char *key)
{
    const struct fake_param *p = fake_of(ctx)->params;

    for (; p && p->key; p++)
        if (strcmp(p->key, key) == 0)
            return p;
    return NULL;
}

/* The declared default of `key`, as the host hands it out. */
static const char *fake_default(jh_ctx *ctx, const char *key)
{
    const struct jh_param_spec *d = fake_of(ctx)->decl;

    for (; d && d->name; d++)
        if (strcmp(d->name, key) == 0)
            return d->default_value;
    return NULL;
}

static size_t items_count(const struct fake_param *p)
{
    size_t n = 0;

    while (p->items[n])
        n++;
    return p->kind == JH_PARAM_MAP ? n / 2 : n;
}

static int fake_param_kind(jh_ctx *ctx, const char *key)
{
    const struct fake_param *p = fake_find(ctx, key);

    if (p)
        return p->kind;
    return fake_default(ctx, key) ? JH_PARAM_SCALAR : JH_PARAM_NONE;
}

static const char *fake_param(jh_ctx *ctx, const char *key)
{
    const struct fake_param *p = fake_find(ctx, key);

    if (p)
        return p->kind == JH_PARAM_SCALAR ? p->value : NULL;
    return fake_default(ctx, key);
}

/* Enough of the manifest's duration syntax for the tests: one or more
 * <digits><unit> groups (ns us ms s m h d w), or a bare "0". */
static int parse_duration(const char *text, int64_t *ns)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {
        {"ns", 1}, {"us", 1000}, {"ms", NS_PER_MS}, {"s", NS_PER_SEC}, {"m", 60 * NS_PER_SEC},
        {"h", 3600 * NS_PER_SEC}, {"d", DAY_S * NS_PER_SEC}, {"w", 7 * DAY_S * NS_PER_SEC},
    };
    int64_t total = 0;
    const char *p = text;

    if (!text || !*text)
        return -1;
    if (strcmp(text, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        int64_t n = 0;
        size_t best = 0, best_len = 0;

        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            n = n * 10 + (*p++ - '0');
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t len = strlen(units[i].unit);

            if (strncmp(p, units[i].unit, len) == 0 && len > best_len) {
                best = i;
                best_len = len;
            }
        }
        if (best_len == 0)
            return -1;
        total += n * units[best].ns;
        p += best_len;
    }
    *ns = total;
    return 0;
}

static int fake_param_int(jh_ctx *ctx, const char *key, int64_t *out)
{
    const char *text = fake_param(ctx, key);
    char *end;
    long long v;

    if (!text || !*text)
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static int fake_param_bool(jh_ctx *ctx, const char *key, bool *out)
{
    const char *text = fake_param(ctx, key);

    if (!text)
        return -1;
    if (strcmp(text, "true") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "on") == 0)
        *out = true;
    else if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0 || strcmp(text, "off") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int fake_param_duration(jh_ctx *ctx, const char *key, int64_t *ns)
{
    const char *text = fake_param(ctx, key);

    return text ? parse_duration(text, ns) : -1;
}

/* Plain bytes and KiB/MiB only: enough for the fixtures. */
static int fake_param_size(jh_ctx *ctx, const char *key, uint64_t *bytes)
{
    const char *text = fake_param(ctx, key);
    char *end;
    unsigned long long v;

    if (!text || !*text)
        return -1;
    v = strtoull(text, &end, 10);
    if (strcmp(end, "KiB") == 0)
        v <<= 10;
    else if (strcmp(end, "MiB") == 0)
        v <<= 20;
    else if (*end)
        return -1;
    *bytes = v;
    return 0;
}

static size_t fake_param_len(jh_ctx *ctx, const char *key)
{
    const struct fake_param *p = fake_find(ctx, key);

    return p && p->kind != JH_PARAM_SCALAR ? items_count(p) : 0;
}

static const char *fake_param_at(jh_ctx *ctx, const char *key, size_t i, const char **name)
{
    const struct fake_param *p = fake_find(ctx, key);

    if (name)
        *name = NULL;
    if (!p || p->kind == JH_PARAM_SCALAR || i >= items_count(p))
        return NULL;
    if (p->kind == JH_PARAM_LIST)
        return p->items[i];
    if (name)
        *name = p->items[2 * i];
    return p->items[2 * i + 1];
}

static size_t fake_param_count(jh_ctx *ctx)
{
    size_t n = 0;

    for (const struct fake_param *p = fake_of(ctx)->params; p && p->key; p++)
        n++;
    return n;
}

static const char *fake_param_key(jh_ctx *ctx, size_t i)
{
    return i < fake_param_count(ctx) ? fake_of(ctx)->params[i].key : NULL;
}

static int fake_dry_run(jh_ctx *ctx)
{
    return fake_of(ctx)->dry_run;
}

static int fake_cancelled(jh_ctx *ctx)
{
    return atomic_load(&fake_of(ctx)->cancel);
}

static int64_t fake_time_left_ns(jh_ctx *ctx)
{
    (void)ctx;
    return INT64_MAX;
}

static int fake_sleep_ns(jh_ctx *ctx, int64_t ns)
{
    const int64_t slice = 5 * NS_PER_MS;

    while (ns > 0) {
        int64_t step = ns < slice ? ns : slice;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step};

        if (fake_cancelled(ctx))
            return -1;
        nanosleep(&ts, NULL);
        ns -= step;
    }
    return fake_cancelled(ctx) ? -1 : 0;
}

static const char *fake_job_id(jh_ctx *ctx)
{
    (void)ctx;
    return "test-job";
}

static const char *fake_run_id(jh_ctx *ctx)
{
    (void)ctx;
    return "test-run";
}

static const struct jh_run_info *fake_run_info(jh_ctx *ctx)
{
    return &fake_of(ctx)->info;
}

static void *fake_state(jh_ctx *ctx)
{
    return fake_of(ctx)->state;
}

static void fake_set_error(jh_ctx *ctx, const char *message)
{
    struct fake *f = fake_of(ctx);

    snprintf(f->error, sizeof f->error, "%s", message ? message : "");
}

static void fake_param_error(jh_ctx *ctx, const char *key, const char *message)
{
    struct fake *f = fake_of(ctx);

    if (f->n_reports < MAX_REPORTS) {
        struct report *r = &f->reports[f->n_reports++];
        snprintf(r->key, sizeof r->key, "%s", key ? key : "");
        snprintf(r->message, sizeof r->message, "%s", message ? message : "");
    }
}

static int fake_parse_duration(jh_ctx *ctx, const char *text, int64_t *ns)
{
    (void)ctx;
    return parse_duration(text, ns);
}

#define CALL(name, fn) {name, (void (*)(void))fn}

/* The fake's host calls, by the names the SDK's wrappers record. */
static const struct {
    const char *name;
    void (*fn)(void);
} fake_calls[] = {
    CALL("jh_log", fake_log),
    CALL("jh_log_enabled", fake_log_enabled),
    CALL("jh_set_error", fake_set_error),
    CALL("jh_param_error", fake_param_error),
    CALL("jh_param_kind", fake_param_kind),
    CALL("jh_param", fake_param),
    CALL("jh_param_int", fake_param_int),
    CALL("jh_param_bool", fake_param_bool),
    CALL("jh_param_duration", fake_param_duration),
    CALL("jh_param_size", fake_param_size),
    CALL("jh_param_len", fake_param_len),
    CALL("jh_param_at", fake_param_at),
    CALL("jh_param_count", fake_param_count),
    CALL("jh_param_key", fake_param_key),
    CALL("jh_dry_run", fake_dry_run),
    CALL("jh_cancelled", fake_cancelled),
    CALL("jh_time_left_ns", fake_time_left_ns),
    CALL("jh_sleep_ns", fake_sleep_ns),
    CALL("jh_job_id", fake_job_id),
    CALL("jh_run_id", fake_run_id),
    CALL("jh_get_run_info", fake_run_info),
    CALL("jh_state", fake_state),
    CALL("jh_parse_duration", fake_parse_duration),
};

/* Fills the plugin's import records by name, as the loader does. Returns
 * the number of names the fake does not know (reported). */
static int fake_bind(const struct jh_plugin *desc)
{
    int missing = 0;

    for (struct jh_import *it = desc->imports; it && it < desc->imports_end; it++) {
        size_t i = 0;

        if (!it->name)
            continue;
        while (i < sizeof fake_calls / sizeof fake_calls[0] &&
               strcmp(fake_calls[i].name, it->name) != 0)
            i++;
        if (i == sizeof fake_calls / sizeof fake_calls[0]) {
            fprintf(stderr, "\n  the fake host has no %s\n", it->name);
            missing++;
            continue;
        }
        it->fn = fake_calls[i].fn;
    }
    return missing;
}

static struct fake *fake_new(const struct fake_param *params)
{
    struct fake *f = calloc(1, sizeof *f);

    if (!f)
        abort();
    f->rec = calloc(MAX_RECORDS, sizeof *f->rec);
    if (!f->rec)
        abort();
    f->params = params;
    f->info.size = sizeof f->info;
    f->info.trigger = JH_TRIGGER_CLI;
    f->info.attempt = 1;
    atomic_init(&f->cancel, 0);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

static void fake_free(struct fake *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nrec; i++) {
        free(f->rec[i].event);
        for (size_t k = 0; k < f->rec[i].n; k++) {
            free(f->rec[i].key[k]);
            free(f->rec[i].val[k]);
        }
    }
    free(f->rec);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* The nth record (from 0) with this event, or NULL. */
static const struct record *rec_find(const struct fake *f, const char *event, size_t nth)
{
    for (size_t i = 0; i < f->nrec; i++)
        if (strcmp(f->rec[i].event, event) == 0 && nth-- == 0)
            return &f->rec[i];
    return NULL;
}

static size_t rec_count(const struct fake *f, const char *event)
{
    size_t n = 0;

    for (size_t i = 0; i < f->nrec; i++)
        n += strcmp(f->rec[i].event, event) == 0;
    return n;
}

/* The value of `key` in the record, or NULL. */
static const char *rec_get(const struct record *r, const char *key)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->key[i], key) == 0)
            return r->val[i];
    return NULL;
}

/* The type of `key` in the record (enum jh_kv_type), or 0. */
static uint32_t rec_type(const struct record *r, const char *key)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->key[i], key) == 0)
            return r->type[i];
    return 0;
}

/* The nth `output` line (from 0) of one stream, or NULL. */
static const char *output_line(const struct fake *f, const char *stream, size_t nth)
{
    for (size_t i = 0; i < f->nrec; i++) {
        const struct record *r = &f->rec[i];

        if (strcmp(r->event, "output") == 0 && strcmp(nn(rec_get(r, "stream")), stream) == 0 &&
            nth-- == 0)
            return rec_get(r, "line");
    }
    return NULL;
}

/* The report a check made about `key`, or NULL. */
static const char *report_on(const struct fake *f, const char *key)
{
    for (size_t i = 0; i < f->n_reports; i++)
        if (strcmp(f->reports[i].key, key) == 0)
            return f->reports[i].message;
    return NULL;
}

/* --- loading and running plugins ---------------------------------------- */

struct plugin {
    void *dl;
    const struct jh_plugin *desc;
};

/* Loads the .so as the host does and binds its host calls to the fake;
 * returns 0, or -1 (reported) on failure. A descriptor of another ABI is
 * left unbound. */
static int plugin_load(struct plugin *p, const char *path)
{
    p->desc = NULL;
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        fprintf(stderr, "\n  dlopen %s: %s (run from the repository root after make)\n", path,
                dlerror());
        return -1;
    }
    p->desc = dlsym(p->dl, JH_PLUGIN_SYMBOL);
    if (p->desc && p->desc->abi_version == JH_ABI_VERSION && fake_bind(p->desc) != 0)
        return -1;
    return 0;
}

static void plugin_unload(struct plugin *p)
{
    if (p->dl)
        dlclose(p->dl);
    p->dl = NULL;
    p->desc = NULL;
}

/* Calls the plugin's check against `f`; returns what it returned (0 when
 * it has none). */
static int plugin_check(const char *path, struct fake *f)
{
    struct plugin p;
    int rc = -1;

    if (plugin_load(&p, path) < 0 || !p.desc) {
        CU_FAIL("cannot load plugin");
        return -1;
    }
    f->decl = p.desc->params;
    rc = p.desc->check ? p.desc->check(ctx_of(f)) : 0;
    plugin_unload(&p);
    return rc;
}

/* Loads the plugin, checks its descriptor, and calls init, run and shutdown
 * once each against `f`. Returns what run returned, or -1. */
static int plugin_run(const char *path, struct fake *f)
{
    struct plugin p;
    int rc = -1;

    if (plugin_load(&p, path) < 0) {
        CU_FAIL("cannot load plugin");
        return -1;
    }
    CU_ASSERT_PTR_NOT_NULL(p.desc);
    if (!p.desc)
        goto out;
    CU_ASSERT_EQUAL(p.desc->abi_version, JH_ABI_VERSION);
    CU_ASSERT_PTR_NOT_NULL(p.desc->run);
    f->decl = p.desc->params;
    if (p.desc->init && p.desc->init(ctx_of(f), &f->state) != 0) {
        CU_FAIL("init refused");
        goto out;
    }
    rc = p.desc->run(ctx_of(f));
    if (p.desc->shutdown)
        p.desc->shutdown(ctx_of(f), f->state);
out:
    plugin_unload(&p);
    return rc;
}

/* Runs the plugin with `params` and hands back the fake for assertions. */
static struct fake *run_with(const char *path, const struct fake_param *params, int dry_run,
                             int *rc)
{
    struct fake *f = fake_new(params);

    f->dry_run = dry_run;
    *rc = plugin_run(path, f);
    return f;
}

/* Runs the plugin's check with `params`; the fake holds its reports. */
static struct fake *check_with(const char *path, const struct fake_param *params, int *rc)
{
    struct fake *f = fake_new(params);

    *rc = plugin_check(path, f);
    return f;
}

static int64_t mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Sets the fake's cancel flag after a delay, from another thread. */
struct canceller {
    pthread_t thread;
    struct fake *fake;
    int64_t after_ns;
};

static void *canceller_main(void *arg)
{
    struct canceller *c = arg;
    struct timespec ts = {.tv_sec = (time_t)(c->after_ns / NS_PER_SEC),
                          .tv_nsec = (long)(c->after_ns % NS_PER_SEC)};

    nanosleep(&ts, NULL);
    atomic_store(&c->fake->cancel, 1);
    return NULL;
}

static void canceller_start(struct canceller *c, struct fake *f, int64_t after_ns)
{
    c->fake = f;
    c->after_ns = after_ns;
    pthread_create(&c->thread, NULL, canceller_main, c);
}

/* --- temporary directories ---------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/jh_test_plugins.XXXXXX");
    if (!mkdtemp(buf))
        abort();
}

/* Creates `dir/name` holding `text`, last modified `age_s` seconds ago. */
static void make_file(const char *dir, const char *name, const char *text, long age_s)
{
    char path[PATH_MAX];
    struct timespec times[2];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= age_s;
    times[1] = times[0];
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, path, times, 0), 0);
}

static int exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;

    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* --- shipped plugins: descriptors ---------------------------------------- */

static void test_descriptors(void)
{
    static const char *const names[] = {"hello", "exec", "file_prune"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64];
        struct plugin p;

        snprintf(path, sizeof path, "plugins/%s.so", names[i]);
        if (plugin_load(&p, path) < 0) {
            CU_FAIL("cannot load a shipped plugin");
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL(p.desc);
        if (p.desc) {
            CU_ASSERT_EQUAL(p.desc->abi_version, JH_ABI_VERSION);
            CU_ASSERT_EQUAL(p.desc->size, sizeof(struct jh_plugin));
            ASSERT_STR(p.desc->name, names[i]);
            CU_ASSERT_PTR_NOT_NULL(p.desc->version);
            CU_ASSERT_PTR_NOT_NULL(p.desc->description);
            CU_ASSERT_PTR_NOT_NULL(p.desc->run);
            CU_ASSERT_PTR_NOT_NULL(p.desc->params); /* every shipped plugin declares its own */
            CU_ASSERT_PTR_NOT_NULL(p.desc->imports);
            CU_ASSERT(p.desc->imports_end > p.desc->imports);
            for (size_t k = 0; k < 8; k++)
                CU_ASSERT_PTR_NULL(p.desc->reserved[k]);
        }
        plugin_unload(&p);
    }
}

/* --- hello ---------------------------------------------------------------- */

static void test_hello_default(void)
{
    int rc;
    struct fake *f = run_with("plugins/hello.so", NULL, 0, &rc);
    const struct record *r = rec_find(f, "hello", 0);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(f->nrec, 1);
    CU_ASSERT_PTR_NOT_NULL(r);
    ASSERT_STR(rec_get(r, "greeting"), "hello");
    ASSERT_STR(rec_get(r, "name"), "world");
    fake_free(f);
}

static void test_hello_params(void)
{
    const struct fake_param params[] = {
        P_SCALAR("greeting", "hi there"), P_SCALAR("name", "ops"), P_END};
    int rc;
    struct fake *f = run_with("plugins/hello.so", params, 0, &rc);
    const struct record *r = rec_find(f, "hello", 0);

    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(rec_get(r, "greeting"), "hi there");
    ASSERT_STR(rec_get(r, "name"), "ops");
    CU_ASSERT_EQUAL(r ? r->level : -1, JH_LOG_INFO);
    fake_free(f);
}

static void test_hello_dry_run(void)
{
    const struct fake_param params[] = {P_SCALAR("greeting", "hi"), P_END};
    int rc;
    struct fake *f = run_with("plugins/hello.so", params, 1, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(rec_count(f, "hello"), 0);
    ASSERT_STR(rec_get(rec_find(f, "would_greet", 0), "greeting"), "hi");
    fake_free(f);
}

/* --- exec ------------------------------------------------------------------ */

static void test_exec_command_streams(void)
{
    const struct fake_param params[] = {
        P_SCALAR("command", "echo hi; echo err >&2; exit 3"), P_END};
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_FAIL);
    ASSERT_STR(f->error, "exit status 3");
    CU_ASSERT_EQUAL(rec_count(f, "output"), 2);
    ASSERT_STR(output_line(f, "stdout", 0), "hi");
    ASSERT_STR(output_line(f, "stderr", 0), "err");
    CU_ASSERT_PTR_NULL(output_line(f, "stdout", 1));
    ASSERT_STR(rec_get(rec_find(f, "exited", 0), "status"), "3");
    CU_ASSERT_EQUAL(rec_type(rec_find(f, "exited", 0), "status"), JH_KV_INT); /* a number */
    fake_free(f);
}

static void test_exec_success_partial_line(void)
{
    const struct fake_param params[] = {P_SCALAR("command", "printf 'a\\n\\nb'"), P_END};
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(rec_count(f, "output"), 3);
    ASSERT_STR(output_line(f, "stdout", 0), "a");
    ASSERT_STR(output_line(f, "stdout", 1), ""); /* an empty line is output too */
    ASSERT_STR(output_line(f, "stdout", 2), "b"); /* no newline at the end */
    ASSERT_STR(rec_get(rec_find(f, "exited", 0), "status"), "0");
    fake_free(f);
}

static void test_exec_long_lines(void)
{
    const struct fake_param params[] = {
        P_SCALAR("command", "head -c 10000 /dev/zero | tr '\\0' x; echo; "
                            "head -c 4096 /dev/zero | tr '\\0' y; echo"),
        P_END};
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);
    const char *l0 = output_line(f, "stdout", 0);
    const char *l2 = output_line(f, "stdout", 2);
    const char *l3 = output_line(f, "stdout", 3);

    CU_ASSERT_EQUAL(rc, JH_OK);
    /* 10000 x: split at 4 KiB. 4096 y then a newline: one line, no empty one. */
    CU_ASSERT_EQUAL(rec_count(f, "output"), 4);
    CU_ASSERT_EQUAL(l0 ? strlen(l0) : 0, 4096);
    CU_ASSERT_EQUAL(l2 ? strlen(l2) : 0, 10000 - 2 * 4096);
    CU_ASSERT_EQUAL(l3 ? strlen(l3) : 0, 4096);
    CU_ASSERT(l3 && l3[0] == 'y' && l3[4095] == 'y');
    fake_free(f);
}

static void test_exec_argv_env(void)
{
    const struct fake_param params[] = {
        P_LIST("argv", "printenv", "JH_TEST_VAR", "HOME"),
        P_MAP("env", "JH_TEST_VAR", "a b=c 'd'", "HOME", "/nonexistent-home"),
        P_END};
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), "a b=c 'd'");
    ASSERT_STR(output_line(f, "stdout", 1), "/nonexistent-home");
    CU_ASSERT_EQUAL(rec_count(f, "output"), 2); /* HOME replaced, not added twice */
    fake_free(f);
}

static void test_exec_argv_no_shell(void)
{
    const struct fake_param params[] = {
        P_LIST("argv", "printf", "%s|\\n", "a b", "$HOME;", "*"), P_END};
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), "a b|");
    ASSERT_STR(output_line(f, "stdout", 1), "$HOME;|");
    ASSERT_STR(output_line(f, "stdout", 2), "*|");
    fake_free(f);
}

static void test_exec_cwd(void)
{
    char dir[64], real[PATH_MAX];
    struct fake_param params[] = {P_LIST("argv", "pwd", "-P"), P_SCALAR("cwd", dir), P_END};
    int rc;
    struct fake *f;

    make_tmpdir(dir, sizeof dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(dir, real));
    f = run_with("plugins/exec.so", params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), real);
    fake_free(f);
    rm_rf(dir);
}

static void test_exec_path_from_env(void)
{
    char dir[64], script[PATH_MAX];
    struct fake_param params[] = {
        P_LIST("argv", "jh-test-tool"), P_MAP("env", "PATH", dir), P_END};
    int rc;
    struct fake *f;
    FILE *fp;

    /* A program only the child's PATH (from `env`) can find. */
    make_tmpdir(dir, sizeof dir);
    snprintf(script, sizeof script, "%s/jh-test-tool", dir);
    fp = fopen(script, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("#!/bin/sh\necho found\n", fp);
    fclose(fp);
    chmod(script, 0755);
    f = run_with("plugins/exec.so", params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), "found");
    fake_free(f);
    rm_rf(dir);
}

/* Rules a type cannot express: exec's check reports each at the parameter
 * it is about (the host shows it at that parameter's place in the
 * manifest). Wrong types and unknown keys never get this far: the host
 * refuses them first (test_cli). */
static void test_exec_check(void)
{
    const struct fake_param fine[] = {P_SCALAR("command", "true"), P_END};
    const struct fake_param both[] = {
        P_SCALAR("command", "true"), P_LIST("argv", "true"), P_END};
    const struct fake_param empty_command[] = {P_SCALAR("command", ""), P_END};
    const struct fake_param empty_argv[] = {
        {.key = "argv", .kind = JH_PARAM_LIST, .items = (const char *const[]){NULL}}, P_END};
    const struct fake_param empty_program[] = {P_LIST("argv", "", "x"), P_END};
    const struct fake_param bad_env[] = {
        P_SCALAR("command", "true"), P_MAP("env", "1BAD", "x"), P_END};
    const struct fake_param bad_env2[] = {
        P_SCALAR("command", "true"), P_MAP("env", "A=B", "x"), P_END};
    const struct fake_param rel_cwd[] = {
        P_SCALAR("command", "true"), P_SCALAR("cwd", "tmp"), P_END};
    const struct fake_param zero_timeout[] = {
        P_SCALAR("command", "true"), P_SCALAR("timeout", "0"), P_END};
    const struct {
        const struct fake_param *params;
        const char *key, *word; /* NULL key: nothing reported */
    } cases[] = {
        {fine, NULL, NULL},
        {both, "argv", "not both"},
        {empty_command, "command", "empty"},
        {empty_argv, "argv", "empty"},
        {empty_program, "argv", "program name"},
        {bad_env, "env", "'1BAD'"},
        {bad_env2, "env", "'A=B'"},
        {rel_cwd, "cwd", "absolute"},
        {zero_timeout, "timeout", "longer than 0s"},
    };
    const struct fake_param neither[] = {P_SCALAR("cwd", "/tmp"), P_END};
    struct fake *f;
    int rc;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = check_with("plugins/exec.so", cases[i].params, &rc);
        CU_ASSERT_EQUAL(rc, 0);
        if (!cases[i].key) {
            CU_ASSERT_EQUAL(f->n_reports, 0);
        } else if (!strstr(nn(report_on(f, cases[i].key)), cases[i].word)) {
            fprintf(stderr, "\n  case %zu: report on %s \"%s\" lacks \"%s\"\n", i,
                    cases[i].key, nn(report_on(f, cases[i].key)), cases[i].word);
            CU_FAIL("check report");
        }
        fake_free(f);
    }
    /* neither: the job as a whole is refused */
    f = check_with("plugins/exec.so", neither, &rc);
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(f->error, "`command`"));
    CU_ASSERT_PTR_NOT_NULL(strstr(f->error, "`argv`"));
    fake_free(f);
}

/* What only a run can find out fails the run before anything starts. */
static void test_exec_bad_at_run(void)
{
    const struct fake_param missing_cwd[] = {
        P_SCALAR("command", "true"), P_SCALAR("cwd", "/nonexistent/jh"), P_END};
    const struct fake_param not_found[] = {P_LIST("argv", "jh-no-such-program"), P_END};
    const struct {
        const struct fake_param *params;
        const char *words[2];
    } cases[] = {
        {missing_cwd, {"/nonexistent/jh", "No such file"}},
        {not_found, {"jh-no-such-program", "not found"}},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        struct fake *f = run_with("plugins/exec.so", cases[i].params, 0, &rc);

        CU_ASSERT_EQUAL(rc, JH_FAIL);
        for (size_t w = 0; w < 2; w++) {
            if (!strstr(f->error, cases[i].words[w])) {
                fprintf(stderr, "\n  case %zu: error \"%s\" lacks \"%s\"\n", i, f->error,
                        cases[i].words[w]);
                CU_FAIL("error message");
            }
        }
        CU_ASSERT_EQUAL(rec_count(f, "output"), 0);
        CU_ASSERT_EQUAL(rec_count(f, "exited"), 0);
        fake_free(f);
    }
}

static void test_exec_dry_run(void)
{
    char dir[64], cmd[128], target[128];
    struct fake_param params[] = {P_SCALAR("command", cmd), P_END};
    struct fake_param argv_params[] = {P_LIST("argv", "touch", target), P_END};
    int rc;
    struct fake *f;
    char expect[256];

    make_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "touch %s/created", dir);
    f = run_with("plugins/exec.so", params, 1, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_FALSE(exists(dir, "created"));
    ASSERT_STR(rec_get(rec_find(f, "would_run", 0), "command"), cmd);
    CU_ASSERT_EQUAL(rec_count(f, "exited"), 0);
    fake_free(f);

    /* argv is shown as a shell would need it typed. */
    snprintf(target, sizeof target, "%s/it's here", dir);
    f = run_with("plugins/exec.so", argv_params, 1, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_FALSE(exists(dir, "it's here"));
    snprintf(expect, sizeof expect, "touch '%s/it'\\''s here'", dir);
    ASSERT_STR(rec_get(rec_find(f, "would_run", 0), "argv"), expect);
    fake_free(f);
    rm_rf(dir);
}

static void test_exec_timeout(void)
{
    const struct fake_param params[] = {
        P_SCALAR("command", "sleep 10"), P_SCALAR("timeout", "300ms"), P_END};
    int64_t start = mono_now(), took;
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    took = mono_now() - start;
    CU_ASSERT_EQUAL(rc, JH_FAIL);
    ASSERT_STR(f->error, "timed out after 300ms");
    CU_ASSERT(took >= 300 * NS_PER_MS);
    CU_ASSERT(took < 4 * NS_PER_SEC); /* SIGTERM did it, well before sleep 10 ends */
    ASSERT_STR(rec_get(rec_find(f, "stopping", 0), "reason"), "timeout");
    ASSERT_STR(rec_get(rec_find(f, "exited", 0), "signal"), "15");
    fake_free(f);
}

/* A command that ignores SIGTERM is killed after the 5 s grace. */
static void test_exec_timeout_kill(void)
{
    const struct fake_param params[] = {
        P_SCALAR("command", "trap '' TERM; sleep 30; echo survived"),
        P_SCALAR("timeout", "200ms"), P_END};
    int64_t start = mono_now(), took;
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);
    const struct record *second = rec_find(f, "stopping", 1);

    took = mono_now() - start;
    CU_ASSERT_EQUAL(rc, JH_FAIL);
    ASSERT_STR(f->error, "timed out after 200ms");
    CU_ASSERT(took >= 5 * NS_PER_SEC);
    CU_ASSERT(took < 15 * NS_PER_SEC);
    ASSERT_STR(rec_get(second, "signal"), "SIGKILL");
    ASSERT_STR(rec_get(rec_find(f, "exited", 0), "signal"), "9");
    CU_ASSERT_EQUAL(rec_count(f, "output"), 0);
    fake_free(f);
}

/* Whether process `pid` is gone (or a zombie nobody reaped yet). */
static int process_gone(pid_t pid)
{
    char path[64], stat[256];
    FILE *fp;
    char *close_paren;
    int gone = 1;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    fp = fopen(path, "r");
    if (!fp)
        return 1;
    if (fgets(stat, sizeof stat, fp)) {
        close_paren = strrchr(stat, ')');
        gone = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
    }
    fclose(fp);
    return gone;
}

/* Stopping reaches what the command started in the background too: the
 * whole process group is signalled. */
static void test_exec_timeout_group(void)
{
    char dir[64], cmd[256], path[PATH_MAX];
    struct fake_param params[] = {P_SCALAR("command", cmd), P_SCALAR("timeout", "300ms"), P_END};
    long pid = 0;
    int rc;
    struct fake *f;
    FILE *fp;

    make_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s/pid; wait", dir);
    f = run_with("plugins/exec.so", params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_FAIL);
    ASSERT_STR(f->error, "timed out after 300ms");
    snprintf(path, sizeof path, "%s/pid", dir);
    fp = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL(fp);
    if (fp) {
        CU_ASSERT_EQUAL(fscanf(fp, "%ld", &pid), 1);
        fclose(fp);
    }
    if (pid > 0) {
        for (int i = 0; i < 100 && !process_gone((pid_t)pid); i++)
            usleep(10000);
        CU_ASSERT_TRUE(process_gone((pid_t)pid));
        if (!process_gone((pid_t)pid))
            kill((pid_t)pid, SIGKILL);
    }
    fake_free(f);
    rm_rf(dir);
}

/* A background process that keeps the pipes open does not hold the run up:
 * it ends when the command exits. */
static void test_exec_background_not_waited(void)
{
    const struct fake_param params[] = {P_SCALAR("command", "sleep 3 & echo done"), P_END};
    int64_t start = mono_now();
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT(mono_now() - start < 2 * NS_PER_SEC);
    ASSERT_STR(output_line(f, "stdout", 0), "done");
    fake_free(f);
}

static void test_exec_cancel(void)
{
    const struct fake_param params[] = {P_SCALAR("command", "sleep 10"), P_END};
    struct fake *f = fake_new(params);
    struct canceller c;
    int64_t start = mono_now(), took;
    int rc;

    canceller_start(&c, f, 200 * NS_PER_MS);
    rc = plugin_run("plugins/exec.so", f);
    took = mono_now() - start;
    pthread_join(c.thread, NULL);
    CU_ASSERT_EQUAL(rc, JH_CANCELLED);
    CU_ASSERT(took < 4 * NS_PER_SEC);
    ASSERT_STR(rec_get(rec_find(f, "stopping", 0), "reason"), "cancelled");
    fake_free(f);
}

/* The host blocks signals in its threads and ignores SIGPIPE; the child must
 * start with neither. */
static void test_exec_signals_reset(void)
{
    const struct fake_param pipe_params[] = {P_SCALAR("command", "yes | head -n 1"), P_END};
    const struct fake_param term_params[] = {
        P_SCALAR("command", "kill -TERM $$; sleep 5; echo still here"), P_END};
    const struct fake_param status_params[] = {
        P_LIST("argv", "grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"), P_END};
    sigset_t block, old;
    struct sigaction ign, old_pipe;
    int rc;
    struct fake *f;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);

    f = run_with("plugins/exec.so", pipe_params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), "y");
    CU_ASSERT_PTR_NULL(output_line(f, "stderr", 0)); /* no "yes: Broken pipe" */
    fake_free(f);

    /* Seen by a program that is not a shell (shells reset some of it). */
    f = run_with("plugins/exec.so", status_params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), "SigBlk:\t0000000000000000");
    /* glibc's posix_spawn leaves its two internal signals (32, 33) ignored;
     * a glibc program resets them itself. No other signal may be. */
    CU_ASSERT_EQUAL(strtoull(nn(output_line(f, "stdout", 1)) + 7, NULL, 16) & ~0x180000000ull, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(nn(output_line(f, "stdout", 1)), "SigIgn:"));
    fake_free(f);

    f = run_with("plugins/exec.so", term_params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_FAIL);
    ASSERT_STR(f->error, "killed by signal 15 (Terminated)");
    CU_ASSERT_EQUAL(rec_count(f, "output"), 0);
    fake_free(f);

    sigaction(SIGPIPE, &old_pipe, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The child sees only 0, 1 and 2 (ls adds 3, its own listing of the
 * directory), even an fd the host leaked without O_CLOEXEC; and the run
 * leaves no descriptor open in the host. */
static void test_exec_no_fd_leak(void)
{
    const struct fake_param params[] = {P_LIST("argv", "ls", "/proc/self/fd"), P_END};
    int leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
    size_t before = count_fds();
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(rec_count(f, "output"), 4);
    ASSERT_STR(output_line(f, "stdout", 0), "0");
    ASSERT_STR(output_line(f, "stdout", 1), "1");
    ASSERT_STR(output_line(f, "stdout", 2), "2");
    ASSERT_STR(output_line(f, "stdout", 3), "3");
    CU_ASSERT_EQUAL(count_fds(), before);
    fake_free(f);
    close(leaked);
}

static void test_exec_stdin_devnull(void)
{
    const struct fake_param params[] = {P_SCALAR("command", "wc -c"), P_END};
    int rc;
    struct fake *f = run_with("plugins/exec.so", params, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(output_line(f, "stdout", 0), "0");
    fake_free(f);
}

/* --- file_prune -------------------------------------------------------------- */

/* dir: old.log new.log old.txt .old.log sub/old.log link.log -> old.txt,
 * outside -> (a directory elsewhere holding old.log). */
static void prune_tree(char *dir, size_t len, char *outside, size_t out_len)
{
    char path[PATH_MAX];

    make_tmpdir(dir, len);
    make_tmpdir(outside, out_len);
    make_file(dir, "old.log", "12345", 10 * DAY_S);
    make_file(dir, "new.log", "1", 60);
    make_file(dir, "old.txt", "1", 10 * DAY_S);
    make_file(dir, ".old.log", "1", 10 * DAY_S);
    snprintf(path, sizeof path, "%s/sub", dir);
    mkdir(path, 0755);
    make_file(dir, "sub/old.log", "1", 10 * DAY_S);
    make_file(outside, "old.log", "1", 10 * DAY_S);
    snprintf(path, sizeof path, "%s/outside", dir);
    CU_ASSERT_EQUAL(symlink(outside, path), 0);
    snprintf(path, sizeof path, "%s/link.log", dir);
    CU_ASSERT_EQUAL(symlink("old.txt", path), 0);
}

static void test_prune_old_matching(void)
{
    char dir[64], outside[64], path[PATH_MAX];
    struct fake_param params[] = {P_SCALAR("dir", dir), P_SCALAR("max_age", "1d"),
                                  P_SCALAR("pattern", "*.log"), P_END};
    const struct record *r;
    int rc;
    struct fake *f;

    prune_tree(dir, sizeof dir, outside, sizeof outside);
    f = run_with("plugins/file_prune.so", params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_FALSE(exists(dir, "old.log"));
    CU_ASSERT_FALSE(exists(dir, ".old.log")); /* "*" matches a leading dot */
    CU_ASSERT_TRUE(exists(dir, "new.log"));
    CU_ASSERT_TRUE(exists(dir, "old.txt"));
    CU_ASSERT_TRUE(exists(dir, "sub/old.log")); /* not recursive */
    CU_ASSERT_TRUE(exists(dir, "link.log"));    /* a symlink, not a regular file */
    CU_ASSERT_TRUE(exists(outside, "old.log"));
    CU_ASSERT_EQUAL(rec_count(f, "deleted"), 2);
    snprintf(path, sizeof path, "%s/old.log", dir);
    for (size_t i = 0; i < 2; i++) {
        r = rec_find(f, "deleted", i);
        if (strcmp(nn(rec_get(r, "path")), path) != 0)
            continue;
        ASSERT_STR(rec_get(r, "bytes"), "5");
        CU_ASSERT_EQUAL(rec_type(r, "bytes"), JH_KV_UINT);
        CU_ASSERT(atol(nn(rec_get(r, "age_s"))) >= 10L * DAY_S);
    }
    r = rec_find(f, "pruned", 0);
    ASSERT_STR(rec_get(r, "deleted"), "2");
    ASSERT_STR(rec_get(r, "bytes"), "6");
    ASSERT_STR(rec_get(r, "kept"), "1");
    ASSERT_STR(rec_get(r, "errors"), "0");
    CU_ASSERT_EQUAL(rec_type(r, "took"), JH_KV_DUR);
    CU_ASSERT_PTR_NULL(rec_get(r, "dry_run")); /* the host's key: the plugin leaves it alone */
    fake_free(f);
    rm_rf(dir);
    rm_rf(outside);
}

static void test_prune_recursive(void)
{
    char dir[64], outside[64], slashed[80];
    struct fake_param params[] = {P_SCALAR("dir", slashed), P_SCALAR("max_age", "2d"),
                                  P_SCALAR("recursive", "true"), P_END};
    int rc;
    struct fake *f;

    prune_tree(dir, sizeof dir, outside, sizeof outside);
    snprintf(slashed, sizeof slashed, "%s/", dir);
    f = run_with("plugins/file_prune.so", params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_FALSE(exists(dir, "old.log"));
    CU_ASSERT_FALSE(exists(dir, "old.txt"));
    CU_ASSERT_FALSE(exists(dir, "sub/old.log"));
    CU_ASSERT_TRUE(exists(dir, "sub"));         /* directories stay */
    CU_ASSERT_TRUE(exists(dir, "new.log"));
    CU_ASSERT_TRUE(exists(dir, "link.log"));    /* a dangling link now, still not touched */
    CU_ASSERT_TRUE(exists(outside, "old.log")); /* the link to it was not followed */
    ASSERT_STR(rec_get(rec_find(f, "pruned", 0), "deleted"), "4");
    fake_free(f);
    rm_rf(dir);
    rm_rf(outside);
}

static void test_prune_dry_run(void)
{
    char dir[64], outside[64];
    struct fake_param params[] = {P_SCALAR("dir", dir), P_SCALAR("max_age", "1d"),
                                  P_SCALAR("recursive", "true"), P_END};
    int rc;
    struct fake *f;

    prune_tree(dir, sizeof dir, outside, sizeof outside);
    f = run_with("plugins/file_prune.so", params, 1, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_TRUE(exists(dir, "old.log"));
    CU_ASSERT_TRUE(exists(dir, "old.txt"));
    CU_ASSERT_TRUE(exists(dir, "sub/old.log"));
    CU_ASSERT_EQUAL(rec_count(f, "deleted"), 0);
    CU_ASSERT_EQUAL(rec_count(f, "would_delete"), 4);
    /* the summary of a dry run says what would go, never what went */
    ASSERT_STR(rec_get(rec_find(f, "pruned", 0), "would_delete"), "4");
    CU_ASSERT_PTR_NULL(rec_get(rec_find(f, "pruned", 0), "deleted"));
    fake_free(f);
    rm_rf(dir);
    rm_rf(outside);
}

static void test_prune_cancelled(void)
{
    char dir[64], outside[64];
    struct fake_param params[] = {P_SCALAR("dir", dir), P_SCALAR("max_age", "1d"), P_END};
    struct fake *f = fake_new(params);
    int rc;

    prune_tree(dir, sizeof dir, outside, sizeof outside);
    atomic_store(&f->cancel, 1);
    rc = plugin_run("plugins/file_prune.so", f);
    CU_ASSERT_EQUAL(rc, JH_CANCELLED);
    CU_ASSERT_TRUE(exists(dir, "old.log"));
    fake_free(f);
    rm_rf(dir);
    rm_rf(outside);
}

/* Rules a type cannot express, reported by check at the parameter. */
static void test_prune_check(void)
{
    const struct fake_param fine[] = {P_SCALAR("dir", "/tmp"), P_SCALAR("max_age", "1d"), P_END};
    const struct fake_param relative[] = {
        P_SCALAR("dir", "tmp/reports"), P_SCALAR("max_age", "1d"), P_END};
    const struct fake_param root[] = {P_SCALAR("dir", "/"), P_SCALAR("max_age", "1d"), P_END};
    const struct fake_param root_dots[] = {
        P_SCALAR("dir", "//./"), P_SCALAR("max_age", "1d"), P_END};
    const struct fake_param zero_age[] = {P_SCALAR("dir", "/tmp"), P_SCALAR("max_age", "0"), P_END};
    const struct fake_param empty_pattern[] = {
        P_SCALAR("dir", "/tmp"), P_SCALAR("max_age", "1d"), P_SCALAR("pattern", ""), P_END};
    const struct {
        const struct fake_param *params;
        const char *key, *word;
    } cases[] = {
        {fine, NULL, NULL},
        {relative, "dir", "absolute"},
        {root, "dir", "root"},
        {root_dots, "dir", "root"},
        {zero_age, "max_age", "longer than 0s"},
        {empty_pattern, "pattern", "empty"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        struct fake *f = check_with("plugins/file_prune.so", cases[i].params, &rc);

        CU_ASSERT_EQUAL(rc, 0);
        if (!cases[i].key) {
            CU_ASSERT_EQUAL(f->n_reports, 0);
        } else if (!strstr(nn(report_on(f, cases[i].key)), cases[i].word)) {
            fprintf(stderr, "\n  case %zu: report on %s \"%s\" lacks \"%s\"\n", i,
                    cases[i].key, nn(report_on(f, cases[i].key)), cases[i].word);
            CU_FAIL("check report");
        }
        fake_free(f);
    }
}

/* What only the run can see: the root reached through "..", a directory
 * that is not there. */
static void test_prune_bad_at_run(void)
{
    const struct fake_param root2[] = {
        P_SCALAR("dir", "/tmp/.."), P_SCALAR("max_age", "1d"), P_END};
    const struct fake_param missing[] = {
        P_SCALAR("dir", "/nonexistent/jh-reports"), P_SCALAR("max_age", "1d"), P_END};
    const struct {
        const struct fake_param *params;
        const char *word;
    } cases[] = {
        {root2, "root"},
        {missing, "No such file"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        struct fake *f = run_with("plugins/file_prune.so", cases[i].params, 0, &rc);

        CU_ASSERT_EQUAL(rc, JH_FAIL);
        if (!strstr(f->error, cases[i].word)) {
            fprintf(stderr, "\n  case %zu: error \"%s\" lacks \"%s\"\n", i, f->error,
                    cases[i].word);
            CU_FAIL("error message");
        }
        CU_ASSERT_EQUAL(rec_count(f, "pruned"), 0);
        fake_free(f);
    }
}

/* --- fixtures ------------------------------------------------------------- */

static void test_fixture_ok(void)
{
    const struct fake_param params[] = {P_SCALAR("tag", "t1"), P_END};
    struct plugin p;
    int rc;
    struct fake *f;

    CU_ASSERT_EQUAL_FATAL(plugin_load(&p, "tests/plugins/ok.so"), 0);
    ASSERT_STR(p.desc->name, "ok");
    ASSERT_STR(p.desc->version, "1.0.0");
    plugin_unload(&p);

    f = run_with("tests/plugins/ok.so", params, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(f->nrec, 1);
    ASSERT_STR(rec_get(rec_find(f, "ok", 0), "tag"), "t1");
    fake_free(f);

    f = run_with("tests/plugins/ok.so", NULL, 0, &rc);
    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(f->nrec, 1);
    CU_ASSERT_PTR_NULL(rec_get(rec_find(f, "ok", 0), "tag"));
    fake_free(f);
}

static void test_fixture_fail(void)
{
    int rc;
    struct fake *f = run_with("tests/plugins/fail.so", NULL, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_FAIL);
    ASSERT_STR(f->error, "fixture failure");
    fake_free(f);
}

static void test_fixture_sleep(void)
{
    const struct fake_param short_sleep[] = {P_SCALAR("duration", "50ms"), P_END};
    const struct fake_param long_sleep[] = {P_SCALAR("duration", "10s"), P_END};
    struct canceller c;
    int64_t start = mono_now();
    int rc;
    struct fake *f = run_with("tests/plugins/sleep.so", short_sleep, 0, &rc);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT(mono_now() - start >= 50 * NS_PER_MS);
    fake_free(f);

    f = fake_new(long_sleep);
    start = mono_now();
    canceller_start(&c, f, 100 * NS_PER_MS);
    rc = plugin_run("tests/plugins/sleep.so", f);
    pthread_join(c.thread, NULL);
    CU_ASSERT_EQUAL(rc, JH_CANCELLED);
    CU_ASSERT(mono_now() - start < 5 * NS_PER_SEC);
    fake_free(f);
}

/* Runs crash.so with `how` in a child process; returns its wait status. */
static int crash_status(const char *how)
{
    struct fake_param params[] = {P_SCALAR("how", how), P_END};
    pid_t pid;
    int status = -1;

    fflush(NULL);
    pid = fork(); /* the test is single-threaded here; the host would not do this */
    if (pid == 0) {
        struct fake *f = fake_new(params);
        struct plugin p;
        struct sigaction dfl;

        /* Under AddressSanitizer, let SIGSEGV kill the child plainly. */
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGSEGV, &dfl, NULL);
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(101);
        if (plugin_load(&p, "tests/plugins/crash.so") < 0 || !p.desc)
            _exit(100);
        f->decl = p.desc->params;
        p.desc->run(ctx_of(f));
        _exit(0);
    }
    CU_ASSERT_FATAL(pid > 0);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

static void test_fixture_crash(void)
{
    int st = crash_status("segv");

    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    st = crash_status("abort");
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = crash_status("exit");
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 3);
}

static void test_fixture_bad_abi(void)
{
    struct plugin p;

    /* an ABI 1 plugin: the one field every ABI shares says so */
    CU_ASSERT_EQUAL_FATAL(plugin_load(&p, "tests/plugins/bad_abi.so"), 0);
    CU_ASSERT_PTR_NOT_NULL(p.desc);
    if (p.desc)
        CU_ASSERT_EQUAL(p.desc->abi_version, 1);
    plugin_unload(&p);
}

static void test_fixture_no_symbol(void)
{
    struct plugin p;

    CU_ASSERT_EQUAL_FATAL(plugin_load(&p, "tests/plugins/no_symbol.so"), 0);
    CU_ASSERT_PTR_NULL(p.desc);
    CU_ASSERT_PTR_NOT_NULL(dlsym(p.dl, "no_symbol_entry"));
    plugin_unload(&p);
}

static void test_fixture_init_fail(void)
{
    struct plugin p;
    struct fake *f = fake_new(NULL);

    CU_ASSERT_EQUAL_FATAL(plugin_load(&p, "tests/plugins/init_fail.so"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p.desc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p.desc->init);
    CU_ASSERT_NOT_EQUAL(p.desc->init(ctx_of(f), &f->state), 0);
    ASSERT_STR(f->error, "fixture init refused");
    plugin_unload(&p);
    fake_free(f);
}

static void test_fixture_no_run(void)
{
    struct plugin p;

    CU_ASSERT_EQUAL_FATAL(plugin_load(&p, "tests/plugins/no_run.so"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p.desc);
    CU_ASSERT_EQUAL(p.desc->abi_version, JH_ABI_VERSION);
    ASSERT_STR(p.desc->name, "no_run");
    CU_ASSERT_PTR_NULL(p.desc->run);
    plugin_unload(&p);
}

static void test_fixture_versioned(void)
{
    const struct fake_param params[] = {P_SCALAR("sleep", "20ms"), P_END};
    static const char *const files[] = {"tests/plugins/versioned_v1.so",
                                        "tests/plugins/versioned_v2.so"};
    static const char *const versions[] = {"1.0.0", "2.0.0"};
    struct plugin p[2];

    /* Both loaded at once, as during a reload that replaces one by the other. */
    CU_ASSERT_EQUAL_FATAL(plugin_load(&p[0], files[0]), 0);
    CU_ASSERT_EQUAL_FATAL(plugin_load(&p[1], files[1]), 0);
    for (int i = 0; i < 2; i++) {
        struct fake *f = fake_new(params);

        CU_ASSERT_PTR_NOT_NULL_FATAL(p[i].desc);
        ASSERT_STR(p[i].desc->name, "versioned");
        ASSERT_STR(p[i].desc->version, versions[i]);
        f->decl = p[i].desc->params;
        CU_ASSERT_EQUAL(p[i].desc->run(ctx_of(f)), JH_OK);
        ASSERT_STR(rec_get(rec_find(f, "versioned", 0), "version"), versions[i]);
        fake_free(f);
    }
    plugin_unload(&p[0]);
    plugin_unload(&p[1]);
}

struct counter_worker {
    pthread_t thread;
    const struct jh_plugin *desc;
    struct fake *fake;
};

static void *counter_worker_main(void *arg)
{
    struct counter_worker *w = arg;

    for (int i = 0; i < 25; i++)
        w->desc->run(ctx_of(w->fake));
    return NULL;
}

static void test_fixture_counter(void)
{
    struct plugin p;
    struct fake *f = fake_new(NULL);
    struct counter_worker w[4];
    const struct record *r;

    CU_ASSERT_EQUAL_FATAL(plugin_load(&p, "tests/plugins/counter.so"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p.desc);
    CU_ASSERT_EQUAL(p.desc->init(ctx_of(f), &f->state), 0);
    CU_ASSERT_PTR_NOT_NULL(f->state);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(p.desc->run(ctx_of(f)), JH_OK);
    ASSERT_STR(rec_get(rec_find(f, "counted", 0), "runs"), "1");
    ASSERT_STR(rec_get(rec_find(f, "counted", 2), "runs"), "3");
    ASSERT_STR(rec_get(rec_find(f, "counted", 2), "inits"), "1");
    ASSERT_STR(rec_get(rec_find(f, "counted", 2), "state"), "same");

    /* Overlapping runs on four threads: none is lost. */
    for (int i = 0; i < 4; i++) {
        w[i].desc = p.desc;
        w[i].fake = f;
        pthread_create(&w[i].thread, NULL, counter_worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(w[i].thread, NULL);

    p.desc->shutdown(ctx_of(f), f->state); /* shutdown frees the state */
    r = rec_find(f, "counter_shutdown", 0);
    ASSERT_STR(rec_get(r, "runs"), "103");
    ASSERT_STR(rec_get(r, "inits"), "1");
    ASSERT_STR(rec_get(r, "shutdowns"), "1");
    ASSERT_STR(rec_get(r, "state"), "same");
    plugin_unload(&p);
    fake_free(f);
}

/* Declared defaults are what a job that leaves a parameter out gets; the
 * values arrive typed. */
static void test_fixture_typed(void)
{
    const struct fake_param params[] = {P_SCALAR("dir", "/srv"), P_LIST("names", "a", "b"), P_END};
    int rc;
    struct fake *f = run_with("tests/plugins/typed.so", params, 0, &rc);
    const struct record *r = rec_find(f, "typed", 0);

    CU_ASSERT_EQUAL(rc, JH_OK);
    ASSERT_STR(rec_get(r, "dir"), "/srv");
    ASSERT_STR(rec_get(r, "count"), "3");
    CU_ASSERT_EQUAL(rec_type(r, "count"), JH_KV_INT);
    ASSERT_STR(rec_get(r, "enabled"), "true");
    CU_ASSERT_EQUAL(rec_type(r, "enabled"), JH_KV_BOOL);
    ASSERT_STR(rec_get(r, "pause"), "10000000ns");
    ASSERT_STR(rec_get(r, "limit"), "1048576");
    ASSERT_STR(rec_get(r, "names"), "2");
    ASSERT_STR(rec_get(r, "ratio"), "0.75");
    CU_ASSERT_EQUAL(rec_type(r, "ratio"), JH_KV_F64);
    ASSERT_STR(rec_get(r, "state_ok"), "true");
    ASSERT_STR(rec_get(r, "attempt"), "1");
    fake_free(f);
}

/* A plugin written in C++ against the same header: loaded, bound and run
 * like any other; its state made with new reaches its runs. */
static void test_fixture_cxx(void)
{
    const struct fake_param params[] = {P_SCALAR("times", "2"), P_END};
    const struct fake_param too_many[] = {P_SCALAR("times", "11"), P_END};
    int rc;
    struct fake *f = run_with("tests/plugins/cxx_ok.so", params, 0, &rc);
    const struct record *r = rec_find(f, "cxx", 1);

    CU_ASSERT_EQUAL(rc, JH_OK);
    CU_ASSERT_EQUAL(rec_count(f, "cxx"), 2);
    ASSERT_STR(rec_get(r, "greeting"), "hello");
    ASSERT_STR(rec_get(r, "state"), "from C++");
    ASSERT_STR(rec_get(r, "i"), "1");
    ASSERT_STR(rec_get(r, "cxx"), "true");
    ASSERT_STR(rec_get(r, "half"), "0.5");
    fake_free(f);

    f = check_with("tests/plugins/cxx_ok.so", too_many, &rc);
    ASSERT_STR(report_on(f, "times"), "must be from 1 to 10");
    fake_free(f);
}

/* --- the suites -------------------------------------------------------------- */

static const struct cu_test shipped_tests[] = {
    {"descriptors", test_descriptors},
    {"hello_default", test_hello_default},
    {"hello_params", test_hello_params},
    {"hello_dry_run", test_hello_dry_run},
    {NULL, NULL},
};

static const struct cu_test exec_tests[] = {
    {"command_streams", test_exec_command_streams},
    {"success_partial_line", test_exec_success_partial_line},
    {"long_lines", test_exec_long_lines},
    {"argv_env", test_exec_argv_env},
    {"argv_no_shell", test_exec_argv_no_shell},
    {"cwd", test_exec_cwd},
    {"path_from_env", test_exec_path_from_env},
    {"check", test_exec_check},
    {"bad_at_run", test_exec_bad_at_run},
    {"dry_run", test_exec_dry_run},
    {"timeout", test_exec_timeout},
    {"timeout_kill", test_exec_timeout_kill},
    {"timeout_group", test_exec_timeout_group},
    {"background_not_waited", test_exec_background_not_waited},
    {"cancel", test_exec_cancel},
    {"signals_reset", test_exec_signals_reset},
    {"no_fd_leak", test_exec_no_fd_leak},
    {"stdin_devnull", test_exec_stdin_devnull},
    {NULL, NULL},
};

static const struct cu_test prune_tests[] = {
    {"old_matching", test_prune_old_matching},
    {"recursive", test_prune_recursive},
    {"dry_run", test_prune_dry_run},
    {"cancelled", test_prune_cancelled},
    {"check", test_prune_check},
    {"bad_at_run", test_prune_bad_at_run},
    {NULL, NULL},
};

static const struct cu_test fixture_tests[] = {
    {"ok", test_fixture_ok},
    {"fail", test_fixture_fail},
    {"sleep", test_fixture_sleep},
    {"crash", test_fixture_crash},
    {"bad_abi", test_fixture_bad_abi},
    {"no_symbol", test_fixture_no_symbol},
    {"init_fail", test_fixture_init_fail},
    {"no_run", test_fixture_no_run},
    {"versioned", test_fixture_versioned},
    {"counter", test_fixture_counter},
    {"typed", test_fixture_typed},
    {"c++", test_fixture_cxx},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"plugins_hello", shipped_tests},
    {"plugins_exec", exec_tests},
    {"plugins_file_prune", prune_tests},
    {"plugins_fixtures", fixture_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
