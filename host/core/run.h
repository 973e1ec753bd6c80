/*
 * run — one run of a job, and the instrumented wrapper every run goes
 * through: scheduled, manual, `run-once` and dry runs alike call run_job().
 * It gives the run its id, prepares the plugin's context, times the run on
 * the monotonic clock, classifies the result and reports start and finish
 * to the outcome pipeline (outcome.h), which feeds metrics, records and
 * state. The wrapper itself records nothing.
 *
 * Run ids are made here: 64-bit, the millisecond of their making in the
 * high 44 bits and a counter in the low 20, so they are unique across
 * restarts of the host (as long as the clock does not go back past ids
 * already given) and sort by start time. Shown as 16 hex digits.
 */
#ifndef JH_RUN_H
#define JH_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/outcome.h"

struct job;

#define RUN_ID_LEN 17    /* 16 hex digits and NUL */
#define RUN_ERROR_MAX 256 /* bytes of a run's error text, NUL included */

/* A cluster node's lease as its claimed runs see it (io/cluster_pg.c
 * writes it): the monotonic moment the last renewal holds until, and how
 * many times it lapsed. A run claimed when `lapses` was N must stop once
 * the moment passes or the count moves past N: by then another node may
 * declare it abandoned and, with `recover: true`, run the firing again. */
struct lease_watch {
    _Atomic int64_t until_mono;
    _Atomic uint64_t lapses;
};

/* Why a run stopped when its lease lapsed. */
#define RUN_LEASE_LOST_TEXT                                                                    \
    "stopped: this node could not renew its cluster lease, so another node may take the "      \
    "firing over"

/* Whether the lease a run was claimed under (lapses then: `at_claim`)
 * still holds at now_mono; true for a run not claimed (w NULL). */
static inline bool lease_holds(const struct lease_watch *w, uint64_t at_claim, int64_t now_mono)
{
    return !w || (atomic_load_explicit(&w->lapses, memory_order_relaxed) == at_claim &&
                  now_mono < atomic_load_explicit(&w->until_mono, memory_order_relaxed));
}

/* What a caller asks for. */
struct run_opts {
    enum run_trigger trigger;
    int64_t scheduled_wall_ns; /* when it was due; 0 = now (manual) */
    bool dry_run;
    unsigned attempt;          /* 1 for a first attempt (0 counts as 1); retries count up */
    uint64_t run_id;           /* given before queueing (a manual run answers with it);
                                  0 = assigned at start */
    int64_t not_before_mono_ns; /* queued ahead of its time: the worker waits until
                                   then itself (CLOCK_MONOTONIC); 0 = at once */
    uint64_t fencing_token;     /* a cluster's claim of the firing (plugins see it in
                                   jh_run_info); 0 = not claimed */
    const struct lease_watch *lease; /* the claim's lease (set by the claim); NULL = none */
    uint64_t lease_lapses;           /* its lapses when the firing was claimed */
    uint64_t parent_run_id;     /* trigger after: the run of the parent that completed
                                   the chain; 0 = none */
    bool holds_instance;        /* the run holds one of its job's instances (the
                                   executor claimed it): given back just before its
                                   finish is reported, so whoever sees the finish may
                                   start the job again at once */
};

/* One run to queue: what the scheduler hands the executor. */
struct run_request {
    struct job *job;
    struct run_opts opts;
};

/* A run as the outcome pipeline sees it. Filled by run_job on the thread
 * that runs it; observers borrow it for the duration of their callback. */
struct run {
    struct job *job;
    uint64_t id;
    char id_text[RUN_ID_LEN];
    enum run_trigger trigger;
    bool dry_run;
    unsigned attempt;          /* >= 1 */
    uint64_t parent_run_id;    /* trigger after: the parent's run; 0 = none */
    int64_t scheduled_wall_ns; /* 0 = none (a manual run) */
    int64_t start_wall_ns;
    int64_t start_mono_ns;
    int64_t deadline_mono_ns;  /* the run's timeout; 0 = none */
    /* Valid once finished: */
    int64_t duration_ns;
    enum run_result result;
    bool stuck;                /* finished by run_write_off, still running */
    bool holds_instance;       /* from run_opts */
    uint64_t fencing_token;    /* from run_opts */
    char error[RUN_ERROR_MAX]; /* the plugin's jh_set_error, or the host's reason; "" */
    /* The run's output as the history writer takes it (host.store.history.
     * output_max): bytes taken and records left out. Written by the history
     * observer on the threads of the run, reset by run_job. */
    _Atomic uint32_t output_bytes;
    _Atomic uint32_t output_dropped;
    /* Who reports the finish: a counter of the runs this struct has held
     * (so a stale look cannot act on a later run) and a state, RUN_RUNNING
     * until run_job or run_write_off claims it. */
    _Atomic uint64_t fate;
};

#define RUN_FATE_STATE(f) ((f)&3u)
enum { RUN_IDLE = 0, RUN_RUNNING = 1, RUN_DONE = 2, RUN_WRITTEN_OFF = 3 };

/* Runs `job` once on the calling thread; *run holds the outcome afterwards.
 * `run` must be zeroed before its first use and may be reused for the next
 * run (its fate counter continues). The caller keeps a reference to the
 * job's generation for the duration. Returns false when the run was written
 * off meanwhile (run_write_off reported its finish, nothing more is). */
bool run_job(struct job *job, const struct run_opts *opts, struct run *run);

/* Reports the run whose fate read `fate` (RUN_RUNNING) finished as a
 * timeout now, though its plugin has not returned: the executor's stuck
 * watch. False when the run finished (or moved on) first. Any thread. */
bool run_write_off(struct run *run, uint64_t fate);

/* Nodes of a cluster give ids to runs at the same milliseconds: each puts
 * a number of its own (random per start) in the top RUN_ID_NODE_BITS of
 * the counter, which keeps the rest. Main thread, before any run. */
#define RUN_ID_NODE_BITS 10
void run_id_set_node(unsigned salt);

/* A fresh run id (never 0). Any thread. */
uint64_t run_new_id(void);

/* 16 lowercase hex digits and NUL. */
void run_id_format(uint64_t id, char out[RUN_ID_LEN]);

/* Reads 16 hex digits; 0, or -EINVAL. */
int run_id_parse(const char *text, uint64_t *id);

/* The smallest id a run starting at wall_ns can get: ids below it are
 * older. What retention compares ids with instead of reading times. */
static inline uint64_t run_id_floor(int64_t wall_ns)
{
    return wall_ns > 0 ? (uint64_t)(wall_ns / 1000000) << 20 : 0;
}

/* The wall time (ms precision) an id was made at. */
static inline int64_t run_id_time(uint64_t id)
{
    return (int64_t)(id >> 20) * 1000000;
}

#endif /* JH_RUN_H */
