/*
 * history_json — run history as JSON: one row of a job's history (a run,
 * or a skip record) and one record of a run's output, as the jobs API
 * answers them and `jobhost history --json` prints them. The field names
 * are fixed (tools read them):
 *
 *   run_id, job_id, trigger, scheduled, started, finished,
 *   duration_seconds, result ("skipped" for a skip record, null while the
 *   run is in flight), reason (skips), count (skips: firings it stands
 *   for), error, attempt, node, plugin {name, version, sha256}
 *   record: ts, level, event, pairs {key: value, ...}
 *
 * Times are RFC 3339 with their offset (a firing's scheduled time with the
 * offset of its trigger's zone, which tells the passes of a fall-back's
 * repeated hour apart; others in the host's zone), milliseconds included;
 * absent values are null. Built with jansson.
 */
#ifndef JH_HISTORY_JSON_H
#define JH_HISTORY_JSON_H

#include <jansson.h>

#include "core/store.h"

/* A new reference. */
json_t *history_entry_json(const struct store_entry *e);
json_t *history_record_json(const struct store_record *r);

/* A result filter's name ("failure", "skipped", "running") as
 * store_query.result; -EINVAL when it names none. */
int history_result_parse(const char *name, int *out);

/* "success" ... "skipped", "running". */
const char *history_result_name(int result);

#endif /* JH_HISTORY_JSON_H */
