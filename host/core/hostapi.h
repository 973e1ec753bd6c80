/*
 * hostapi — what a plugin can ask of the host: the host calls of
 * <jobhost/plugin.h>, found by name (hostapi_lookup), and the per-call
 * context behind a jh_ctx.
 *
 * This is the SDK boundary: every string a plugin hands in is made valid
 * UTF-8 and cut on a character boundary here, and record keys are held to
 * the rules of core/record.h, once, before anything else of the host sees
 * them. Thread and process isolation go through the same code, so a plugin's
 * text reads the same either way.
 */
#ifndef JH_HOSTAPI_H
#define JH_HOSTAPI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jobhost/plugin.h>

#include "core/log.h"
#include "core/outcome.h"
#include "core/run.h"

struct plugin;
struct manifest_job;

/* Where jh_param_error reports during a check (core/params.c). */
typedef void (*hostapi_param_error_fn)(void *arg, const char *key, const char *message);

/* The host side of a jh_ctx: one per call into a plugin, on the caller's
 * stack; the plugin's jh_ctx * is its address (hostapi_ctx). Touched only by
 * the thread making the call (and by threads the plugin starts for that
 * call). */
struct run_ctx {
    const struct manifest_job *job; /* NULL in init/shutdown */
    const struct plugin *plugin;    /* its declared parameters (defaults); NULL in tests */
    const struct run *run;          /* the run its records belong to; NULL outside a run
                                       and in a worker process */
    void *state;                    /* what the plugin's init set */
    struct log_ctx log;
    bool dry_run;
    int64_t deadline_mono_ns; /* 0 = none */
    /* The plugin's drain deadline (see plugin.h), or NULL. */
    const atomic_int_fast64_t *drain_deadline;
    /* The job's replaced_below (jobstate.h) and this run's id, or NULL. */
    const _Atomic uint64_t *replaced_below;
    uint64_t run_num;
    /* A cluster's claim: its lease (run.h) and lapses then; NULL = none. */
    const struct lease_watch *lease;
    uint64_t lease_lapses;
    struct jh_run_info info;
    hostapi_param_error_fn param_error; /* set during a check only */
    void *param_error_arg;
    char run_id[RUN_ID_LEN];
    char error[RUN_ERROR_MAX]; /* jh_set_error, "" if none; keep it last (hostapi_bare_ctx) */
};

/* What the plugin is handed, and back. */
static inline jh_ctx *hostapi_ctx(struct run_ctx *rc)
{
    return (jh_ctx *)rc;
}

/* The host call named `name` ("jh_log"), or NULL when this host has none. */
void (*hostapi_lookup(const char *name))(void);

/* Prepares a context for `run` of plugin p (its job, id, dry-run setting,
 * run information and p's state): the plugin's records go to the outcome
 * pipeline as the run's. */
void hostapi_run_ctx(struct run_ctx *rc, const struct run *run, const struct plugin *p,
                     int64_t deadline_mono_ns);

/* The same for a context without a struct run: init and shutdown (job
 * NULL), and a run inside a worker process, whose records are forwarded
 * (hostapi_set_log_forward) and whose caller fills rc->info. p may be NULL
 * (tests): no defaults, no state, no plugin in records. */
void hostapi_bare_ctx(struct run_ctx *rc, const struct plugin *p, const struct manifest_job *job,
                      const char *run_id, bool dry_run, int64_t deadline_mono_ns);

/* Calls the plugin's init / check / shutdown with a context of their own,
 * on the main thread (asserted). init stores the state it sets in p->state
 * and returns its result; check reports through `report` and returns its
 * result; `why` gets jh_set_error's message. */
int hostapi_call_init(struct plugin *p, char *why, size_t whylen);
int hostapi_call_check(const struct plugin *p, const struct manifest_job *job,
                       hostapi_param_error_fn report, void *arg, char *why, size_t whylen);
void hostapi_call_shutdown(struct plugin *p);

/* Text from a plugin as the host keeps it: valid UTF-8 (utf8_sanitize),
 * at most cap - 1 bytes, cut on a character boundary, on one line (control
 * characters become spaces). NULL is taken as "". Returns the length. */
size_t hostapi_text_line(char *out, size_t cap, const char *s);

/* Sets a run's error text from a string that may come from a plugin, a
 * worker process or the system: as hostapi_text_line, into rc->error. */
void hostapi_set_error_text(struct run_ctx *rc, const char *message);

/* Raises cancellation for every run, now and later (graceful stop past its
 * deadline): jh_cancelled() answers true and jh_sleep_ns() returns at once. */
void hostapi_cancel_all(void);
bool hostapi_cancelled_all(void);

/* The run of rc was replaced by a newer firing (concurrency: replace). */
static inline bool hostapi_run_replaced(const struct run_ctx *rc)
{
    return rc->replaced_below &&
           rc->run_num < atomic_load_explicit(rc->replaced_below, memory_order_relaxed);
}

/* The run of rc was claimed by this cluster node under a lease that has
 * lapsed since (the node could not renew it). */
static inline bool hostapi_lease_lost(const struct run_ctx *rc, int64_t now_mono)
{
    return !lease_holds(rc->lease, rc->lease_lapses, now_mono);
}

/* The moment a run must stop: the earlier of its own deadline and its
 * plugin's drain deadline; 0 = none. */
int64_t hostapi_effective_deadline(const struct run_ctx *rc);

/* The moment a run waiting in the host must look again: its effective
 * deadline, or the end of its lease when sooner (a renewal moves that);
 * 0 = none. The lease is not a deadline the plugin is told of
 * (jh_time_left_ns): it moves on with every renewal. */
int64_t hostapi_wake_at(const struct run_ctx *rc);

/* Wakes plugins sleeping in jh_sleep_ns so they see a deadline that moved
 * (a reload replaced their plugin). */
void hostapi_wake_sleepers(void);

/* Where plugin records go instead of the outcome pipeline: a worker process
 * (isolation: process) forwards them to the host. The record is past the
 * boundary (core/record.h) and borrowed for the call. Set once, before any
 * run. */
typedef void (*hostapi_log_fn)(const struct run_ctx *rc, const struct outcome_record *rec);
void hostapi_set_log_forward(hostapi_log_fn fn);

/* enum run_trigger as the SDK's enum jh_trigger. */
uint32_t hostapi_trigger(enum run_trigger t);

#endif /* JH_HOSTAPI_H */
