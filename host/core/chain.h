/*
 * chain — the observer that runs chained jobs (`trigger: {after: A, on:
 * success}`): when a run of A finishes with the result its children ask
 * for, each child whose parents have all done so since the child's last
 * run is handed to the scheduler (scheduler_chain) and runs as trigger
 * `after`, with A's run id as its parent. A child with one parent runs
 * after each of its parent's runs that matches; with several (fan-in) it
 * waits for all of them, then starts afresh. Cancelled runs never count.
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
void chain_free(struct chain *c); /* NULL: no-op; with no reporting thread left */

/* Whether a parent's run that ended with `r` counts for `on`. */
bool chain_matches(enum chain_on on, enum run_result r);

#endif /* JH_CHAIN_H */
