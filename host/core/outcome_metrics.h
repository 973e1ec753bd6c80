/*
 * outcome_metrics — the observer that turns outcomes into the metrics of
 * each job (core/metrics.h). Register it with the runtime as its argument:
 *     outcome_register(&outcome_metrics, &runtime);
 */
#ifndef JH_OUTCOME_METRICS_H
#define JH_OUTCOME_METRICS_H

#include "core/outcome.h"

extern const struct outcome_observer outcome_metrics;

#endif /* JH_OUTCOME_METRICS_H */
