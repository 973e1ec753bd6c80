/*
 * outcome_log — the observer that writes a firing's records: job_started,
 * job_finished and job_skipped, and the records the run's plugin logs, all
 * bound to the job, the run id and the plugin (core/log.h). A plugin's
 * records carry `src=plugin`, which the host's never do. Register it
 * without an argument:
 *     outcome_register(&outcome_log, NULL);
 */
#ifndef JH_OUTCOME_LOG_H
#define JH_OUTCOME_LOG_H

#include "core/log.h"
#include "core/outcome.h"

extern const struct outcome_observer outcome_log;

/* Writes a plugin's record as a log record under `lc`: the fixed keys,
 * then `src=plugin`, then the pairs with their values as text
 * (record_value_text), then `truncated=true` when pairs were dropped. The
 * observer's record callback does this for runs; core/hostapi.c for the
 * records of init, check and shutdown, which belong to no run. Any
 * thread. */
void outcome_log_plugin_record(const struct log_ctx *lc, const struct outcome_record *rec);

#endif /* JH_OUTCOME_LOG_H */
