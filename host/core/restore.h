/*
 * restore — what a start takes back from the run store, before the first
 * firing: each job's pause state and last runs (into its job state and
 * metrics block, so the jobs API and the last_* gauges carry on where the
 * last daemon left them), the runs found in flight (closed as interrupted,
 * each one a `run_interrupted` record), and what the scheduler's first
 * plan needs to account for the firings missed while the daemon was down
 * (struct sched_resume, through restore_resume).
 *
 * Main thread, at start, before the history writer and the scheduler run.
 */
#ifndef JH_RESTORE_H
#define JH_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/scheduler.h"

struct generation;
struct runtime;
struct store;
struct restore;

/* Restores the jobs of g from s at now_ns. On success *out holds the
 * scheduler's view until restore_free. 0, or -errno with a message in err
 * (then nothing was restored: the job states are as they were). */
int restore_run(struct store *s, struct runtime *rt, struct generation *g, int64_t now_ns,
                struct restore **out, char *err, size_t errlen);

/* A sched_resume_fn over a restore (arg). */
bool restore_resume(void *arg, const struct job *job, struct sched_resume *out);

/* How much the restore found: jobs the store knew, runs it closed as
 * interrupted, and when a daemon last used the store (0: never). */
void restore_summary(const struct restore *r, size_t *known, uint64_t *interrupted,
                     int64_t *last_seen_ns);

void restore_free(struct restore *r); /* NULL: no-op */

#endif /* JH_RESTORE_H */
