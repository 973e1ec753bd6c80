/*
 * chain — the observer that runs chained jobs (`trigger: {after: A, on:
 * success}`): when a run of A finishes with the result its children ask
 * for, each child whose parents have all done so since the child's last
 * run is handed to the scheduler (scheduler_chain) and runs as trigger
 * `after`, with A's run id as its parent. A child with one parent runs
 * after each of its parent's runs that matches; with several (fan-in) it
 * waits for all of them, then starts afresh. Cancelled runs never count.
 *
 * In a cluster the fan-in sets live in the shared store (chain_share),
 * so parents that finished on different nodes complete one set, and the
 * node whose parent completed it runs the child.
 *
 * Register it after the retry policy, with the scheduler as argument:
 *     outcome_register(&outcome_chain, chain_new(scheduler));
 * Its callback runs on the worker that reports the finish; it takes its
 * own leaf lock only for fan-in and the scheduler's inbox lock. A finish
 * of a job nobody runs after costs one test.
 */
#ifndef JH_CHAIN_H
#define JH_CHAIN_H

#include <stdbool.h>

#include "core/manifest.h"
#include "core/outcome.h"

struct chain;
struct scheduler;

extern const struct outcome_observer outcome_chain;

struct chain *chain_new(struct scheduler *sched);

/* Where a fan-in's progress is kept when the parents may finish on
 * several nodes (a cluster): `mark` adds `bit` (the parent's place) to
 * child's set under `signature` (its parent list; another signature
 * starts the set afresh) and answers 1 when the set now holds every bit
 * of `all`, which empties it, so that one node alone sees it complete; 0
 * when not, -1 when the shared store cannot be reached (the child does
 * not run). On the reporting worker. Without it, the set is this node's. */
struct chain_shared {
    int (*mark)(void *arg, const char *child, uint64_t signature, uint64_t bit, uint64_t all);
    void *arg;
};
/* Before the first run is reported. */
void chain_share(struct chain *c, const struct chain_shared *shared);
void chain_free(struct chain *c); /* NULL: no-op; with no reporting thread left */

/* Whether a parent's run that ended with `r` counts for `on`. */
bool chain_matches(enum chain_on on, enum run_result r);

#endif /* JH_CHAIN_H */
