/*
 * cluster_pg — several nodes on one schedule, through the PostgreSQL run
 * store (io/store_pg.c holds the schema). Every node plans the same
 * firings (the scheduler's deterministic plans); before a scheduled firing
 * runs, the node that would run it inserts its identity (job id, nominal
 * time, UTC offset) into jh_claims, whose primary key lets one insert
 * succeed: that node runs it, the others count a lost claim. The insert
 * succeeds only while the node's own lease runs (by the database's clock,
 * checked in the same statement), so a node cut off from the database for
 * longer than its lease claims nothing: firings are missed there, never
 * doubled. Each claim carries a fencing token (a sequence); the run's
 * final write (claim_done) must match it, and fails for a claim another
 * node declared abandoned.
 *
 * The lease thread renews this node's lease every lease/3, and after each
 * renewal that succeeded (never while its own lease is in doubt) reaps:
 * claims still running whose node's lease expired (or which belong to an
 * earlier start of a node) become `abandoned`, and their runs interrupted
 * in history; those of jobs with `recover: true` become `recovering`
 * instead, and every node offers them to its executor (on_recover): the
 * run's claim (trigger RUN_RECOVER) takes the firing over with a new
 * token, so one node runs it again, and a node that dies running it
 * leaves it recovering again (at-least-once).
 *
 * A node that cannot renew stops its own claimed runs before any other
 * node can reap them: each claimed run holds the cluster's lease_watch
 * (core/run.h), which ends a fifth of a lease before the lease the last
 * renewal took (timed from before that renewal was sent, so the
 * database's end is later still). The same thread LISTENs on the "jobhost"
 * channel and hands what other nodes NOTIFY (run-now, pause, resume,
 * reload) to the callbacks, which run on that thread.
 *
 * Each renewal also writes this node's manifest digest (the live
 * generation's, core/generation.h) into its jh_nodes row and reads the
 * other live nodes' in the same round trip: the nodes whose digest differs
 * are counted (jobhost_cluster_config_mismatch) and named in a warn record
 * each time that changes. Nodes that plan different jobs cannot keep the
 * promise of one run per firing: a job one node has and another lacks, or
 * fires at other times, runs as that node's manifest says.
 *
 * Threads: claim, claim_many and claim_done on workers (a pool of
 * connections, one per concurrent claim, taken under `pool_lock`, a leaf
 * lock); claim_done only queues the final write, which the done thread
 * makes for everything queued in one round trip; everything else on the
 * lease thread; new/start/stop/free on the main thread.
 */
#ifndef JH_CLUSTER_PG_H
#define JH_CLUSTER_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/executor.h"

struct cluster;
struct job;
struct run;

/* What another node asked of every node. On the lease thread. */
enum cluster_cmd { CLUSTER_RUN_NOW = 0, CLUSTER_PAUSE, CLUSTER_RESUME, CLUSTER_RELOAD };
typedef void (*cluster_cmd_fn)(void *arg, enum cluster_cmd cmd, const char *job_id,
                               const char *from_node);

/* A firing whose node died mid-run, of a job this node may run again
 * (recover: true): true when it was queued (its claim then takes it
 * over). On the lease thread. */
typedef bool (*cluster_recover_fn)(void *arg, const char *job_id, int64_t scheduled_wall_ns);

/* The jobs paused in the store (ids[0..n)), read each time the node
 * listens for commands again after losing the connection: what others
 * paused or resumed meanwhile, it did not hear. On the lease thread. */
typedef void (*cluster_paused_fn)(void *arg, const char *const *ids, size_t n);

struct cluster_config {
    const char *conninfo; /* copied */
    const char *node;     /* copied */
    uint64_t instance;    /* this start, as registered by the store's restore */
    int64_t lease_ns;
    unsigned max_claims;  /* connections for concurrent claims (the workers) */
    cluster_cmd_fn on_cmd; /* NULL: commands are ignored */
    void *on_cmd_arg;
    cluster_recover_fn on_recover; /* NULL: no firing is run again here */
    void *on_recover_arg;
    cluster_paused_fn on_paused; /* NULL: pauses are heard only as commands */
    void *on_paused_arg;
};

#define CLUSTER_LATENCY_BUCKETS 12
extern const double cluster_latency_bounds[CLUSTER_LATENCY_BUCKETS];

struct cluster_stats {
    uint64_t claims_won, claims_lost, claims_error;
    uint64_t fenced;            /* final writes refused: the claim was abandoned */
    uint64_t renewals, renewal_failures;
    uint64_t reaped;            /* other nodes' runs this node marked abandoned */
    uint64_t recovered;         /* abandoned firings this node took over (recover) */
    uint64_t lease_lapses;      /* times this node's lease lapsed: its runs were stopped */
    uint64_t db_errors;         /* any statement that failed */
    uint64_t notifications;     /* commands received from other nodes */
    bool lease_ok;              /* the last renewal succeeded */
    unsigned config_mismatch;   /* other live nodes whose manifest digest differs */
    double heartbeat_age_s;     /* since the last renewal that succeeded */
    /* claim round trips, seconds */
    uint64_t latency_buckets[CLUSTER_LATENCY_BUCKETS];
    uint64_t latency_count;
    double latency_sum;
};

struct cluster *cluster_new(const struct cluster_config *cfg);
/* Starts the lease thread; 0 or -errno. */
int cluster_start(struct cluster *c);
/* Stops the lease thread. */
void cluster_stop(struct cluster *c);
/* NULL is a no-op. */
void cluster_free(struct cluster *c);

/* executor_claim_fn and executor_claim_done_fn; arg is the cluster. */
enum executor_claim cluster_claim(void *arg, struct job *job, struct run_opts *opts,
                                  uint64_t *token);
/* chain_shared's mark (core/chain.h): a fan-in set in jh_fan_in. */
int cluster_fan_in(void *arg, const char *child, uint64_t signature, uint64_t bit, uint64_t all);

void cluster_claim_many(void *arg, struct job *const *jobs, struct run_opts *const *opts,
                        size_t n, enum executor_claim *results, uint64_t *tokens);
void cluster_claim_done(void *arg, struct job *job, const struct run *run, uint64_t token);
/* executor_claim_return_fn: the claim row goes (a recover job's becomes
 * recovering), so that another node may claim the firing. */
void cluster_claim_return(void *arg, struct job *job, uint64_t token);

/* This node's manifest digest (64 hex characters, generation.h), written
 * with each renewal; a new one is written at once. Any thread. */
void cluster_set_digest(struct cluster *c, const char *digest);

/* Tells every other node (NOTIFY); job_id NULL for reload. Any thread; it
 * may block for a round trip. 0 or -errno. */
int cluster_notify(struct cluster *c, enum cluster_cmd cmd, const char *job_id);

/* Any thread. */
void cluster_stats(struct cluster *c, struct cluster_stats *out);

#endif /* JH_CLUSTER_PG_H */
