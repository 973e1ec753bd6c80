/*
 * outcome_state — the observer that keeps each job's live state
 * (core/jobstate.h) in step with its firings: the next planned run and the
 * number of runs executing. Register it without an argument:
 *     outcome_register(&outcome_state, NULL);
 */
#ifndef JH_OUTCOME_STATE_H
#define JH_OUTCOME_STATE_H

#include "core/outcome.h"

extern const struct outcome_observer outcome_state;

#endif /* JH_OUTCOME_STATE_H */
