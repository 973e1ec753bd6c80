/*
 * executor — the worker pool that runs jobs through the instrumented
 * wrapper (run.h).
 *
 * Fairness: no run waits while a worker is idle, and runs start in the
 * order they were queued (the dispatcher queues them in order of their
 * scheduled time). A worker may take several queued runs at once (fewer
 * lock rounds when many are due together), but the runs it has not started
 * yet stay visible to the others: an idle worker takes them over, so a slow
 * run never holds back the quick ones queued behind it.
 *
 * A submitted run holds a reference to its job's generation and counts as
 * one of the job's instances (max_instances) from submission until it
 * returns. A run that starts later than its scheduled time plus the job's
 * misfire_grace is skipped (reason "misfire") instead of run. Every skip is
 * reported to the outcome pipeline (outcome.h), never recorded here.
 *
 * Stuck runs: a thread-mode run still running `stuck_grace` after its
 * timeout is written off at that moment: reported finished as `timeout`
 * (the job_stuck record), its instance given back, and its worker thread
 * left to the plugin and replaced by a new one, up to `max_stuck_workers`
 * such threads at a time. When the plugin finally returns, the thread
 * exits and nothing more is reported.
 */
#ifndef JH_EXECUTOR_H
#define JH_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/run.h"

struct executor;
struct job;

/* A cluster's claim of a scheduled firing (scheduled, catch-up and
 * recover runs; manual ones are the asking node's). Called on the worker thread that
 * would run it, just before it starts (it may block on the network): may
 * set opts->run_id (the id the claim records). A firing queued ahead of
 * its time is claimed before it waits for it. Returns CLAIM_WON (run it;
 * *token is handed to claim_done after the run), CLAIM_LOST (another node
 * runs it: nothing is reported), CLAIM_FULL (the job has max_instances
 * runs in flight across the cluster: this node reports the skip) or
 * CLAIM_UNAVAILABLE (the claim could not be made: reported skipped,
 * store_unavailable, never run; a recover run is not reported, its
 * firing is offered again). */
enum executor_claim { CLAIM_WON = 0, CLAIM_LOST, CLAIM_FULL, CLAIM_UNAVAILABLE };
typedef enum executor_claim (*executor_claim_fn)(void *arg, struct job *job,
                                                 struct run_opts *opts, uint64_t *token);
/* The claims of several firings at once, one round trip for a worker's
 * batch (never recover runs): results[i] and tokens[i] as claim would
 * answer for jobs[i], opts[i]. */
typedef void (*executor_claim_many_fn)(void *arg, struct job *const *jobs,
                                       struct run_opts *const *opts, size_t n,
                                       enum executor_claim *results, uint64_t *tokens);
/* After a claimed run returned (its finish reported), same thread; run
 * NULL when the claimed firing was skipped instead (misfire). */
typedef void (*executor_claim_done_fn)(void *arg, struct job *job, const struct run *run,
                                       uint64_t token);

/* A claim won for a firing that will not run after all (the node stops
 * before its moment): given back, so that a node whose turn is still to
 * come can claim it (a recover job's firing is offered again at once). */
typedef void (*executor_claim_return_fn)(void *arg, struct job *job, uint64_t token);

struct executor_opts {
    unsigned workers;           /* threads; 0 = 1 */
    int64_t stuck_grace_ns;     /* after a run's timeout; 0 = never write a run off */
    unsigned max_stuck_workers; /* written-off threads replaced at most at once */
    executor_claim_fn claim;    /* NULL: every firing is this node's */
    executor_claim_many_fn claim_many; /* NULL: claims one by one */
    executor_claim_done_fn claim_done;
    executor_claim_return_fn claim_return;
    void *claim_arg;
};

/* Takes one of the job's max_instances slots; false when all are taken.
 * executor_submit does this itself; exposed for the scheduler's tests. */
bool executor_claim_instance(struct job *job);
void executor_release_instance(struct job *job);

/* Starts the workers and the stuck-run watch. */
struct executor *executor_new(const struct executor_opts *opts);

/* Grows or shrinks the pool to `workers` threads (a reload changed
 * host.workers): new threads start at once, surplus ones end after the run
 * they are in. Any thread. */
void executor_resize(struct executor *ex, unsigned workers);

/* A reload changed host.stuck_grace or host.max_stuck_workers: from the
 * next run on. Any thread. */
void executor_set_stuck(struct executor *ex, int64_t stuck_grace_ns, unsigned max_stuck_workers);

/* Queues one run of `job`, unless the job already has max_instances runs
 * queued or running (then the firing is reported skipped and -EBUSY
 * returned). A job with `concurrency: queue` or `replace` lets the firing
 * wait instead (replace: the runs in progress are told to stop), one at a
 * time: it starts when a run of the job ends; a firing that finds one
 * waiting is skipped (reason queued). Takes a generation reference for the
 * run. Any thread. */
int executor_submit(struct executor *ex, struct job *job, const struct run_opts *opts);

/* Queues several runs with one lock round and one wake-up: what the
 * dispatcher does when many firings are due at once. Each run is checked
 * against max_instances as executor_submit does. The caller holds a
 * reference to the runs' generation for the duration of the call. Returns
 * the number queued (firings left waiting by concurrency queue or replace
 * included). */
size_t executor_submit_many(struct executor *ex, const struct run_request *reqs, size_t n);

/* Graceful stop: no new runs are taken; queued runs not yet started are
 * skipped (reason "shutdown"); running ones get until `deadline_mono_ns` to
 * return, then cancellation is raised and they get `grace_ns` more. Each
 * run still running then (written-off ones included) is named in a
 * run_abandoned record. Returns how many (0 = clean). */
unsigned executor_stop(struct executor *ex, int64_t deadline_mono_ns, int64_t grace_ns);

/* Joins the workers (after executor_stop) and frees. */
void executor_free(struct executor *ex);

/* What the pool does now, for /metrics. Any thread. */
struct executor_stats {
    uint64_t queued;  /* runs waiting for a worker */
    uint64_t busy;    /* workers in a run */
    uint64_t workers; /* workers in the pool */
    uint64_t stuck;   /* written-off threads still in a plugin */
};
void executor_stats(struct executor *ex, struct executor_stats *out);

/* Runs queued + running now. */
size_t executor_pending(struct executor *ex);

#endif /* JH_EXECUTOR_H */
