/*
 * outcome — the one path every firing's fate takes. The scheduler, the
 * executor and the run wrapper report here what happened to a firing; they
 * call no metrics, log or state code themselves. The outcome module hands
 * each report to the registered observers, always in registration order,
 * which the daemon fixes as:
 *
 *     metrics -> log records -> job state -> (history store, retries,
 *     notifications, cluster claims: each one more observer)
 *
 * so that, for instance, the job state an API reader sees never runs ahead
 * of the counters in /metrics. Adding an observer is one new file that
 * fills a struct outcome_observer, plus one outcome_register() line in the
 * daemon's wiring (host/daemon.c).
 *
 * The events, and who reports them:
 *   planned   the next firing of a job was decided (scheduler, under its
 *             lock: observers must not block);
 *   skipped   firings that will not run, with the reason (scheduler,
 *             executor; any thread; `count` firings at once, for bulk
 *             skips);
 *   started   a run begins (run wrapper, on the thread that runs it);
 *   record    the run's plugin logged a record (any thread of the run);
 *   finished  a run ended, with its result (run wrapper);
 *   concurrency  a firing found the job's runs still going and its
 *             concurrency policy queued it or replaced them (executor).
 * Every started run finishes exactly once. Manual, CLI, scheduled and dry
 * runs all come this way.
 *
 * Observers are registered before any thread that reports starts and are
 * fixed afterwards, so reporting takes no lock. A callback runs on the
 * reporting thread: it must be quick and must not block (hand slow work to
 * a thread of its own, as the log writer and the history store do).
 *
 * This header also owns the vocabulary of outcomes: the enums below are the
 * only ones for these concepts, and their names are what records, metrics
 * labels and the API show.
 */
#ifndef JH_OUTCOME_H
#define JH_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/record.h"

struct job;
struct run;

/* How a run ended: the `result` of job_finished, of jobhost_job_runs_total
 * and of the jobs API. */
enum run_result {
    RUN_SUCCESS = 0,
    RUN_FAILURE,
    RUN_TIMEOUT,
    RUN_CRASHED,
    RUN_CANCELLED, /* stopped early because the host asked: shutdown or drain */
    RUN_DRY_RUN,   /* any dry run: never counted as a failure */
    RUN_INTERRUPTED, /* in flight when the daemon died (kill -9, a crash, power loss):
                        found and closed by the run store at the next start. Not the
                        plugin's failure, but counted with failures (last_failure),
                        as crashes are: nobody knows whether it did its work */
    RUN_RESULT_COUNT
};

/* Why a firing did not run: the `reason` of job_skipped and of
 * jobhost_job_skipped_total. */
enum skip_reason {
    SKIP_MAX_INSTANCES = 0, /* max_instances runs already queued or running */
    SKIP_MISFIRE,           /* later than misfire_grace */
    SKIP_COALESCED,         /* folded into another firing by coalesce */
    SKIP_PAUSED,            /* the job is paused */
    SKIP_SHUTDOWN,          /* the daemon is stopping */
    SKIP_DOWNTIME,          /* due while the daemon was down (found at start from the
                               run store; without catch_up, or older than it) */
    SKIP_QUEUED,            /* concurrency queue or replace: a firing already waits */
    SKIP_STORE_UNAVAILABLE, /* a cluster node could not reach the store to claim the
                               firing: missed here, never run twice */
    SKIP_REASON_COUNT
};

/* How a run came about: the `trigger` of job_started and of the API. */
enum run_trigger {
    RUN_SCHEDULED = 0, /* its trigger fired */
    RUN_MANUAL,        /* the jobs API */
    RUN_CLI,           /* jobhost run-once */
    RUN_CATCH_UP,      /* at start, for firings missed while the daemon was down
                          (the job's catch_up) */
    RUN_RETRY,         /* a failed run tried again (the job's retry policy):
                          attempt 2, 3, ... */
    RUN_AFTER,         /* a chained job: its parents finished (trigger after) */
    RUN_AT_START,      /* the daemon started (trigger at_start) */
    RUN_RECOVER,       /* a cluster's firing whose node died mid-run, run again
                          (the job's recover: true) */
    RUN_TRIGGER_COUNT
};

/* What a firing that found its job's runs still going did instead of being
 * skipped (the job's concurrency policy): the `action` of
 * jobhost_job_concurrency_total and the job_queued / job_replaced records. */
enum concurrency_action {
    CONCURRENCY_QUEUED = 0, /* it waits for a run to end (queue) */
    CONCURRENCY_REPLACED,   /* the running ones were cancelled for it (replace) */
    CONCURRENCY_ACTION_COUNT
};

/* "success" ..., "max_instances" ..., "schedule" ...: static strings;
 * "unknown" out of range. */
const char *run_result_name(enum run_result r);
const char *skip_reason_name(enum skip_reason r);
const char *run_trigger_name(enum run_trigger t);
const char *concurrency_action_name(enum concurrency_action a);

/* A failed run, as alerts count it: failure, timeout, crashed, interrupted. */
static inline bool run_result_failed(enum run_result r)
{
    return r == RUN_FAILURE || r == RUN_TIMEOUT || r == RUN_CRASHED || r == RUN_INTERRUPTED;
}

/* A record the run's plugin logged, as it is past the SDK boundary: typed
 * pairs that follow the rules of core/record.h (keys never the host's own,
 * text valid UTF-8), so an observer may keep numbers as numbers. Borrowed
 * for the call: an observer that keeps anything copies it. */
struct outcome_record {
    int level;                       /* JH_LOG_* */
    const char *event;               /* valid UTF-8, at most RECORD_EVENT_MAX bytes */
    const struct record_pair *pairs; /* n_pairs of them, at most RECORD_MAX_PAIRS */
    size_t n_pairs;
    bool truncated;                  /* the plugin gave more pairs than that */
};

/* Firings of one job that will not run. */
struct outcome_skip {
    enum skip_reason reason;
    int64_t scheduled_wall_ns; /* the (first) firing's time; 0 = none */
    uint64_t count;            /* firings skipped at once (>= 1) */
};

/* An observer: any callback may be NULL. `arg` is the pointer given to
 * outcome_register. The struct run and the job are borrowed for the call. */
struct outcome_observer {
    const char *name;
    void (*planned)(void *arg, struct job *job, int64_t next_wall_ns); /* -1 = none */
    void (*skipped)(void *arg, struct job *job, const struct outcome_skip *skip);
    void (*started)(void *arg, const struct run *run);
    void (*record)(void *arg, const struct run *run, const struct outcome_record *rec);
    void (*finished)(void *arg, const struct run *run);
    /* a firing scheduled at scheduled_wall_ns (0: none) was queued, or
     * replaced the runs in progress (executor, under its lock: no blocking) */
    void (*concurrency)(void *arg, struct job *job, enum concurrency_action a,
                        int64_t scheduled_wall_ns);
};

/* Adds an observer behind those registered before. Main thread, before any
 * thread that reports starts. At most OUTCOME_MAX_OBSERVERS. */
#define OUTCOME_MAX_OBSERVERS 16
void outcome_register(const struct outcome_observer *obs, void *arg);

/* Removes every observer (the end of a one-shot command, tests). Main
 * thread, with no reporting thread left. */
void outcome_reset(void);

/* The reports. Any thread, as described above. */
void outcome_planned(struct job *job, int64_t next_wall_ns);
void outcome_skipped(struct job *job, enum skip_reason why, int64_t scheduled_wall_ns,
                     uint64_t count);
void outcome_started(const struct run *run);
void outcome_record(const struct run *run, const struct outcome_record *rec);
void outcome_finished(const struct run *run);
void outcome_concurrency(struct job *job, enum concurrency_action a, int64_t scheduled_wall_ns);

#endif /* JH_OUTCOME_H */
