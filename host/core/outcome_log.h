/*
 * outcome_log — the observer that writes a firing's records: job_started,
 * job_finished and job_skipped, and the records the run's plugin logs, all
 * bound to the job, the run id and the plugin (core/log.h). Register it
 * without an argument:
 *     outcome_register(&outcome_log, NULL);
 */
#ifndef JH_OUTCOME_LOG_H
#define JH_OUTCOME_LOG_H

#include "core/outcome.h"

extern const struct outcome_observer outcome_log;

#endif /* JH_OUTCOME_LOG_H */
