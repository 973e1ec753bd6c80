/*
 * scheduler — decides when each job fires. One dispatcher thread keeps the
 * next fire time of every job in a binary heap and sleeps until the earliest
 * one; due firings are handed to the executor.
 *
 * Rules (documented in README "Scheduling"):
 * - coalesce: true — overdue firings of a job (the host was busy, the clock
 *   jumped forward, the machine slept) collapse into one run, scheduled at
 *   the latest overdue time; the others count as skipped "coalesced".
 * - coalesce: false — each overdue firing is submitted on its own, but those
 *   already past misfire_grace are skipped ("misfire") in bulk, never run.
 * - a paused job's firings are skipped ("paused"); a disabled job is not
 *   planned at all.
 * - a date already past when the job is planned runs at once if within
 *   misfire_grace, else is recorded as skipped ("misfire").
 * - interval triggers keep their period in elapsed time: a wall-clock step
 *   moves their plan with it. Cron and date triggers follow the wall clock;
 *   after a step back no scheduled time runs twice.
 *
 * The core (plan, advance) takes the time as an argument so tests can drive
 * it with a fake clock and no thread.
 */
#ifndef JH_SCHEDULER_H
#define JH_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/run.h"

struct scheduler;
struct generation;
struct job;

/* Where due runs go: executor_submit in the daemon, a recorder in tests. */
typedef int (*sched_submit_fn)(void *arg, struct job *job, const struct run_opts *opts);
/* The same for all the runs due at once (executor_submit_many); preferred
 * when set. Called without the scheduler's lock, with a reference to the
 * runs' generation held. */
typedef size_t (*sched_submit_many_fn)(void *arg, const struct run_request *reqs, size_t n);

/* What the run store knew of a job when the daemon started: what its first
 * plan needs to account for the firings missed while the daemon was down
 * (core/restore.c fills it). */
struct sched_resume {
    int64_t down_since_ns;   /* firings after this, up to now, were missed while the
                              * daemon was down (0: unknown, e.g. a job new to the
                              * store: planned as without a store) */
    int64_t last_nominal_ns; /* the latest recorded scheduled firing: an interval
                              * keeps its phase from it (0 = none) */
    int64_t down_until_ns;   /* a cluster: the database's clock at start; the
                              * downtime ends there when this host's clock is ahead
                              * (the firings after it are the other nodes' to
                              * claim, not missed); 0 = now */
    bool date_done;          /* a date trigger's one firing is recorded */
    /* A retry the last daemon had planned (its run store shows a failed
     * last attempt within the job's retry limit): attempt 0 = none. */
    unsigned retry_attempt;
    int64_t retry_due_ns;
    int64_t retry_scheduled_ns; /* the failed firing's scheduled time (0 = none) */
};

/* Fills *out for a job of the first generation; false when nothing is
 * known. Called under the scheduler's lock: no blocking. */
typedef bool (*sched_resume_fn)(void *arg, const struct job *job, struct sched_resume *out);

struct scheduler_opts {
    sched_submit_fn submit;
    sched_submit_many_fn submit_many;
    void *submit_arg;
    bool dry_run; /* every run is a dry run */
    sched_resume_fn resume; /* NULL: no run store */
    void *resume_arg;
    /* A cluster: every node must plan the same firings. Intervals without
     * `start` are anchored to the Unix epoch (not to when the node planned
     * them) and keep that phase when the clock steps; jitter is derived
     * from the firing's identity (job id, nominal time), not drawn. */
    bool deterministic;
};

struct scheduler *scheduler_new(const struct scheduler_opts *opts);
void scheduler_free(struct scheduler *s);

/* Makes `g` the live generation (taking a reference) and plans its jobs at
 * `now_wall_ns`: a job whose trigger is unchanged since the last plan keeps
 * its next fire time; others are planned afresh. Releases the previous
 * generation. Any thread.
 *
 * The first generation's jobs are planned with what the run store knew
 * (opts.resume), by the catch-up rules (README "Restarts"): a date whose
 * firing is recorded is never planned again; the firings that fell while
 * the daemon was down (after the later of its last sign of life and the
 * job's last recorded firing) are, for a job with catch_up, the ones of
 * its last catch_up made up by one run now (trigger catch_up, scheduled at
 * the latest of them; the others of that span skipped "coalesced"), and
 * otherwise skipped "downtime", counted in bulk, never listed one by one
 * (a paused job's are skipped "paused"); an interval keeps its phase. */
void scheduler_set_generation(struct scheduler *s, struct generation *g, int64_t now_wall_ns);

/* Plans attempt `attempt` (>= 2) of job `job_id` at `due_wall_ns`, a retry
 * of the failed firing scheduled at `scheduled_wall_ns` (0: none, a manual
 * run). Any thread: it takes only a leaf lock and wakes the dispatcher,
 * which takes the retry in at its next turn (scheduler_advance in tests).
 * A job the live generation no longer has, or no longer retries, drops it
 * with a `retry_dropped` record; so does a reload that removes the job
 * while the retry waits. A job keeps at most one waiting retry: a later
 * one replaces it. The retry runs as trigger `retry`, through the
 * executor's max_instances check like any firing. */
void scheduler_retry(struct scheduler *s, const char *job_id, unsigned attempt,
                     int64_t scheduled_wall_ns, int64_t due_wall_ns);

/* Runs chained job `job_id` now (trigger after), its parent's run being
 * `parent_run_id`. Any thread, as scheduler_retry: the dispatcher submits
 * it at its next turn; a job the live generation no longer has is
 * forgotten, a paused one's run is skipped (reason paused). */
void scheduler_chain(struct scheduler *s, const char *job_id, uint64_t parent_run_id);

/* Fires everything due at `now_wall_ns`; returns the number of runs
 * submitted. The dispatcher calls it; tests call it directly. */
size_t scheduler_advance(struct scheduler *s, int64_t now_wall_ns);

/* The wall clock moved by `delta_ns` (positive = forward) outside the normal
 * flow of time: interval plans move with it; cron and date plans stay. */
void scheduler_clock_stepped(struct scheduler *s, int64_t delta_ns);

/* Earliest planned fire time, or -1 when nothing is planned. */
int64_t scheduler_next_due(struct scheduler *s);

/* Starts / stops the dispatcher thread. stop: no firing after it returns. */
int scheduler_start(struct scheduler *s);
void scheduler_stop(struct scheduler *s);

#endif /* JH_SCHEDULER_H */
