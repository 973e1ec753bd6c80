/*
 * outcome_store — the outcome pipeline's history observer: every run's
 * start, its records and its finish, and every skipped firing, handed to
 * the run store's writer (core/history.h). Registered after the job-state
 * observer, with the struct history as its argument. Each callback is a
 * few stores into the writer's queue: nothing waits on the store.
 *
 * A run's records are its output in history when the log would show them:
 * at or above the host's level and the job's own (the same records
 * job_* log lines come with), up to host.store.history.output_max bytes a
 * run.
 */
#ifndef JH_OUTCOME_STORE_H
#define JH_OUTCOME_STORE_H

#include "core/outcome.h"

extern const struct outcome_observer outcome_store;

#endif /* JH_OUTCOME_STORE_H */
