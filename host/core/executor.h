/*
 * executor — a fixed pool of worker threads that run jobs through the
 * instrumented wrapper (run.h).
 *
 * A submitted run holds a reference to its job's generation and counts as
 * one of the job's instances (max_instances) from submission until it
 * returns. A run that starts later than its scheduled time plus the job's
 * misfire_grace is skipped (reason "misfire") instead of run. Every skip is
 * reported to the outcome pipeline (outcome.h), never recorded here.
 */
#ifndef JH_EXECUTOR_H
#define JH_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/run.h"

struct executor;
struct job;

/* Takes one of the job's max_instances slots; false when all are taken.
 * executor_submit does this itself; exposed for the scheduler's tests. */
bool executor_claim_instance(struct job *job);
void executor_release_instance(struct job *job);

/* Starts `workers` threads. */
struct executor *executor_new(unsigned workers);

/* Queues one run of `job`, unless the job already has max_instances runs
 * queued or running (then the firing is reported skipped and -EBUSY
 * returned). Takes a generation reference for the run. Any thread. */
int executor_submit(struct executor *ex, struct job *job, const struct run_opts *opts);

/* Queues several runs with one lock round and one wake-up: what the
 * dispatcher does when many firings are due at once. Each run is checked
 * against max_instances as executor_submit does. The caller holds a
 * reference to the runs' generation for the duration of the call. Returns
 * the number queued. */
size_t executor_submit_many(struct executor *ex, const struct run_request *reqs, size_t n);

/* Graceful stop: no new runs are taken; queued runs not yet started are
 * skipped (reason "shutdown"); running ones get until `deadline_mono_ns` to
 * return, then cancellation is raised and they get `grace_ns` more.
 * Returns the number of runs still running when it gave up (0 = clean). */
unsigned executor_stop(struct executor *ex, int64_t deadline_mono_ns, int64_t grace_ns);

/* Joins the workers (after executor_stop) and frees. */
void executor_free(struct executor *ex);

/* Runs queued + running now. */
size_t executor_pending(struct executor *ex);

#endif /* JH_EXECUTOR_H */
