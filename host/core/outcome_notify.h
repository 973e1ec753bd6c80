/*
 * outcome_notify — the observer that turns outcomes into notifications
 * (host.notify and each job's `notify`) and dead-man pings (each job's
 * `ping`, in the healthchecks.io protocol: URL/start when a run starts,
 * URL on success, URL/fail on failure, with the run's last records as the
 * body). Events: start, success, failure (failure, timeout, crashed,
 * interrupted), recovery (the first success after a failed run; the
 * failure before a restart counts, from the restored last run) and
 * skipped. Cancelled and dry runs send nothing.
 *
 * It keeps, per job that has receivers, whether its last run failed and
 * its last records (the tail a message carries), under a leaf lock of its
 * own; building a message is a few allocations on the worker that reports
 * the run, the sending is the sender's thread's (core/notify.h).
 *
 * Register it last, with outcome_notify_new's result as argument.
 */
#ifndef JH_OUTCOME_NOTIFY_H
#define JH_OUTCOME_NOTIFY_H

#include "core/notify.h"
#include "core/outcome.h"

struct runtime;
struct outcome_notify;

extern const struct outcome_observer outcome_notify;

/* `sink` is copied; `rt` gives the restored last runs. */
struct outcome_notify *outcome_notify_new(const struct notify_sink *sink, struct runtime *rt);
void outcome_notify_free(struct outcome_notify *n); /* NULL: no-op */

/* The lines of output a message carries at most. */
#define NOTIFY_TAIL_LINES 10

#endif /* JH_OUTCOME_NOTIFY_H */
