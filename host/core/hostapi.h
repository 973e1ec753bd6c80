/*
 * hostapi — what a plugin can ask of the host: the jh_host_api table and
 * the per-call context behind a jh_ctx.
 */
#ifndef JH_HOSTAPI_H
#define JH_HOSTAPI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jobhost/plugin.h>

#include "core/log.h"
#include "core/run.h"

struct plugin;
struct manifest_job;

/* The host side of a jh_ctx: one per call into a plugin, on the caller's
 * stack. `pub` comes first so a jh_ctx * converts back. Touched only by the
 * thread making the call (and by threads the plugin starts for that call). */
struct run_ctx {
    struct jh_ctx pub;
    const struct manifest_job *job; /* NULL in init/shutdown */
    const struct run *run;          /* the run its records belong to; NULL in init/shutdown
                                       and in a worker process */
    char run_id[RUN_ID_LEN];
    struct log_ctx log;
    bool dry_run;
    int64_t deadline_mono_ns; /* 0 = none */
    /* The plugin's drain deadline (see plugin.h), or NULL. */
    const atomic_int_fast64_t *drain_deadline;
    char error[RUN_ERROR_MAX]; /* jh_set_error, "" if none; keep it last (hostapi_run_ctx) */
};

/* Prepares a context for `run` (its job, id and dry-run setting) on plugin
 * `plugin_name`: the plugin's records go to the outcome pipeline as the
 * run's. */
void hostapi_run_ctx(struct run_ctx *rc, const struct run *run, const char *plugin_name,
                     int64_t deadline_mono_ns);

/* The same for a context without a struct run: init and shutdown (job
 * NULL), and a run inside a worker process, whose records are forwarded
 * (hostapi_set_log_forward). */
void hostapi_bare_ctx(struct run_ctx *rc, const struct manifest_job *job, const char *run_id,
                      const char *plugin_name, bool dry_run, int64_t deadline_mono_ns);

/* Calls the plugin's init / shutdown with a context of their own. init
 * returns its result; why gets jh_set_error's message. Main thread. */
int hostapi_call_init(struct plugin *p, char *why, size_t whylen);
void hostapi_call_shutdown(struct plugin *p);

/* Raises cancellation for every run, now and later (graceful stop past its
 * deadline): jh_cancelled() answers true and jh_sleep_ns() returns at once. */
void hostapi_cancel_all(void);
bool hostapi_cancelled_all(void);

/* The moment a run must stop: the earlier of its own deadline and its
 * plugin's drain deadline; 0 = none. */
int64_t hostapi_effective_deadline(const struct run_ctx *rc);

/* Wakes plugins sleeping in jh_sleep_ns so they see a deadline that moved
 * (a reload replaced their plugin). */
void hostapi_wake_sleepers(void);

/* Where plugin records go instead of the outcome pipeline: a worker process
 * (isolation: process) forwards them to the host. kv[2i] and kv[2i+1] are
 * a pair (values may be NULL). Set once, before any run. */
typedef void (*hostapi_log_fn)(const struct run_ctx *rc, int level, const char *event,
                               const char *const *kv, size_t n_pairs);
void hostapi_set_log_forward(hostapi_log_fn fn);

#endif /* JH_HOSTAPI_H */
