/*
 * jobstate — the one object per job id that outlives generations: whether
 * the job is paused, how many of its runs are queued or running, its plan,
 * and (in its metrics block) everything its runs have measured: counters,
 * histograms, the last run. A reload that keeps a job id keeps its state,
 * so max_instances, pause, the last run and every counter carry over; a job
 * id that leaves the manifest takes its state (and its series in /metrics)
 * with it once the last generation naming it is gone.
 *
 * Lifetime: each generation holding the job takes one reference. Creation
 * and release happen on the main thread only (generations are built and
 * freed there), so the table needs no lock; other threads reach a state
 * through their job's pointer, which the generation keeps valid. There is
 * one state per id among the live generations: a build takes the state a
 * live generation already has for the id (generation_build), and makes a
 * new one only when none has.
 *
 * Threads, per field: see the comments below.
 */
#ifndef JH_JOBSTATE_H
#define JH_JOBSTATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct job_metrics;
struct metrics;

/* Every job id of the configuration has one, so it is kept small (the id
 * follows it in the same allocation: jobstate_id). */
struct jobstate {
    uint32_t slot; /* dense number among live states, set at creation: see jobstate_slots() */
    unsigned refs; /* generations holding it; main thread */

    atomic_uint instances; /* runs queued or running: what max_instances limits */
    atomic_uint running;   /* runs executing now */
    atomic_uint stuck;     /* runs written off as stuck whose plugin has not returned */
    atomic_bool paused;
    atomic_int_fast64_t next_run_wall_ns; /* 0 = none planned; set by the planned outcome */

    /* A retry waiting in the scheduler (core/retry.c plans it): when it is
     * due and its attempt; 0 = none. Written by the scheduler under its
     * lock, read by the jobs API without one. */
    atomic_int_fast64_t retry_due_wall_ns;
    atomic_uint retry_attempt;

    /* concurrency: replace. Runs of the job with an id below it were
     * replaced by a newer firing and are cancelled (jh_cancelled, result
     * cancelled); 0 = none. Set by the executor, read by the runs. */
    _Atomic uint64_t replaced_below;

    /* The scheduler's next nominal fire time, kept across reloads that
     * keep the job's trigger (under the scheduler's lock); -1 = none. */
    int64_t plan_nominal_ns;

    /* What runs measured; created by the first run or skip (see
     * jobstate_metrics), so a job that never ran costs nothing here. */
    _Atomic(struct job_metrics *) metrics;

    /* The job's key in the run store, cached by the history writer (its
     * thread only, after the start-up restore): the store's open count in
     * the high 32 bits, the key in the low; 0 = not known. */
    _Atomic uint64_t store_key;
};

static inline const char *jobstate_id(const struct jobstate *s)
{
    return (const char *)(s + 1);
}

struct jobstate_table {
    struct metrics *metrics; /* the registry the metrics blocks belong to; may be NULL */
    struct jobstate **by_slot; /* every live state at its slot, else NULL; main thread */
    size_t cap_slots;
    size_t count;            /* live states; main thread */
    uint32_t *free_slots;    /* slot numbers given back, reused first; main thread */
    size_t n_free, cap_free;
    atomic_uint_fast32_t slots; /* slot numbers ever handed out: every slot < this */
};

/* `metrics` may be NULL (jobhost check): states then keep no metrics. */
void jobstate_table_init(struct jobstate_table *t, struct metrics *metrics);

/* Frees every state still in the table (at exit, when no thread uses them). */
void jobstate_table_free(struct jobstate_table *t);

/* A new state for `id`, holding one reference for the caller: for an id no
 * live generation has. Main thread. */
struct jobstate *jobstate_new(struct jobstate_table *t, const char *id);

/* Another reference to a state the caller reached through a live job.
 * Main thread. */
struct jobstate *jobstate_hold(struct jobstate *s);

/* Drops a reference; the last frees the state and its metrics. Main
 * thread. */
void jobstate_release(struct jobstate_table *t, struct jobstate *s);

/* The state's metrics block, created on first use (any thread; two racing
 * creators agree on one). NULL when the table has no registry. */
struct job_metrics *jobstate_metrics(struct jobstate_table *t, struct jobstate *s);

/* Gives back one of the instances (runs queued or running) a submitter
 * claimed. Any thread. */
static inline void jobstate_release_instance(struct jobstate *s)
{
    atomic_fetch_sub_explicit(&s->instances, 1, memory_order_relaxed);
}

/* Upper bound (exclusive) of the slot numbers of live states: a reader can
 * size a bitmap with it. Any thread. */
static inline uint32_t jobstate_slots(const struct jobstate_table *t)
{
    return (uint32_t)atomic_load_explicit(&t->slots, memory_order_acquire);
}

#endif /* JH_JOBSTATE_H */
