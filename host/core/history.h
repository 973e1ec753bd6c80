/*
 * history — the run store's writer: takes every run, record and skip the
 * outcome pipeline reports (through core/outcome_store.c), hands them to
 * one writer thread that commits them to the store (core/store.h) in
 * batches, and keeps the store's housekeeping going: the node's heartbeat,
 * the deferred summaries, retention, noticing a store file that was
 * removed or replaced.
 *
 * Never in the way of a run: a report is a few stores into a slot of a
 * bounded lock-free queue (no lock, no allocation for a run's start and
 * finish, no system call while the writer is awake); when the queue is
 * full the report is dropped and counted (jobhost_store_dropped_total),
 * never waited for. A store that fails (disk full, file removed, corrupt,
 * read-only) is warned about at most once a minute, counted by operation
 * (jobhost_store_errors_total{op}) and retried until it works again; the
 * rows waiting meanwhile are kept up to a bound, then dropped and counted.
 *
 * Lifetimes: reports point at their job (a struct job of some generation).
 * The writer holds a reference to every generation published while it
 * runs (history_hold) and lets one go only once nobody else holds it and
 * every report made before that has been taken from the queue, so a report
 * never outlives its job.
 *
 * Threads: history_new, history_start, history_hold, history_stop and
 * history_free on the main thread; the reports on any thread; everything
 * else as its comment says.
 */
#ifndef JH_HISTORY_H
#define JH_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outcome.h"
#include "core/store.h"

struct generation;
struct history;
struct job;
struct run;

/* Keys cached in job states and plugins carry the count of the store's
 * opens in their high half; a key the start-up restore gives belongs to
 * the first. */
#define HISTORY_FIRST_EPOCH 1u

struct history_config {
    const struct store_backend *backend; /* reopens the store when it must */
    struct store_config store_cfg;       /* copied */
    struct store_retention retention;
    uint64_t output_max;   /* bytes of records kept per run */
    unsigned queue_slots;  /* reports the queue holds; 0: 65536 (rounded up to a power of 2) */
    size_t pending_max;    /* rows and records waiting for the store; 0: 262144 */
};

/* Takes over `store` (opened, restored). NULL store: the history starts
 * with the store down and opens it itself (a start that could not write
 * it). Main thread. */
struct history *history_new(const struct history_config *cfg, struct store *store);

/* Starts the writer thread; 0 or -errno. */
int history_start(struct history *h);

/* A generation was published: the writer keeps it alive while reports
 * about its jobs may wait in the queue. Main thread, before any run of g
 * can report (generation_publish's hook). */
void history_hold(struct history *h, struct generation *g);

/* A reload changed host.store.history: applies from now on (a retention
 * pass starts over, so shrunk limits act on old rows too). Main thread. */
void history_configure(struct history *h, const struct store_retention *r, uint64_t output_max);

/* Stores a job's pause state, waiting at most wait_ns for it to be
 * committed. 0 when it was, -ETIMEDOUT (it stays queued and is written
 * when the store can take it). Any thread. */
int history_set_paused(struct history *h, const char *job_id, bool paused, int64_t at_ns,
                       int64_t wait_ns);

/* Writes out everything queued, a last heartbeat marking a clean stop,
 * and stops the thread; then lets every held generation go. Main thread,
 * once nothing reports any more (the executor and scheduler stopped). */
void history_stop(struct history *h);

/* Closes the store. NULL is a no-op. Main thread, after history_stop. */
void history_free(struct history *h);

/* The reports (core/outcome_store.c). Any thread; never block. */
void history_started(struct history *h, const struct run *run);
void history_record(struct history *h, const struct run *run, const struct outcome_record *rec);
void history_finished(struct history *h, const struct run *run);
void history_skipped(struct history *h, struct job *job, const struct outcome_skip *skip);

/* What the writer does, for /metrics. Any thread. */
enum history_op {
    HISTORY_OP_OPEN,      /* opening or reopening the store */
    HISTORY_OP_WRITE,     /* committing runs, records, pauses */
    HISTORY_OP_FLUSH,     /* writing summaries */
    HISTORY_OP_HEARTBEAT, /* the node's heartbeat */
    HISTORY_OP_PRUNE,     /* retention */
    HISTORY_OP_READ,      /* reads by the jobs API (history_count_read_error) */
    HISTORY_OP_COUNT
};
const char *history_op_name(enum history_op op);

/* Upper bounds (seconds) of the commit latency histogram. */
#define HISTORY_LATENCY_BUCKETS 12
extern const double history_latency_bounds[HISTORY_LATENCY_BUCKETS];

struct history_stats {
    bool up;                 /* the store is open and its last write worked */
    uint64_t queued;         /* reports and rows waiting to be written */
    uint64_t dropped;        /* reports and rows dropped: queue full, store down too long */
    uint64_t errors[HISTORY_OP_COUNT];
    uint64_t rows;           /* rows committed (runs, skip records) */
    uint64_t runs_finished;  /* finished runs committed */
    uint64_t records;        /* output records committed */
    uint64_t latency[HISTORY_LATENCY_BUCKETS + 1]; /* commits per bucket, cumulative, +Inf last */
    uint64_t latency_count;
    int64_t latency_sum_ns;
};
void history_stats(struct history *h, struct history_stats *out);

/* Called on the writer thread after each commit and each heartbeat
 * (readers following a run come back to the store: see io/api_history.c).
 * Set before history_start; must not block. Main thread. */
void history_on_commit(struct history *h, void (*fn)(void *arg), void *arg);

/* A read of the store failed (the jobs API): counted as op="read". Any
 * thread. */
void history_count_read_error(struct history *h);

#endif /* JH_HISTORY_H */
