/*
 * history_json — run history rows and records as JSON. See history_json.h.
 */
#include "io/history_json.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/run.h"
#include "io/json_values.h"
#include "lib/trigger.h"

const char *history_result_name(int result)
{
    if (result == STORE_RESULT_SKIPPED)
        return "skipped";
    if (result == STORE_RESULT_RUNNING)
        return "running";
    return run_result_name((enum run_result)result);
}

int history_result_parse(const char *name, int *out)
{
    if (strcmp(name, "skipped") == 0) {
        *out = STORE_RESULT_SKIPPED;
        return 0;
    }
    if (strcmp(name, "running") == 0) {
        *out = STORE_RESULT_RUNNING;
        return 0;
    }
    for (int r = 0; r < RUN_RESULT_COUNT; r++) {
        if (strcmp(name, run_result_name((enum run_result)r)) == 0) {
            *out = r;
            return 0;
        }
    }
    return -EINVAL;
}

json_t *history_entry_json(const struct store_entry *e)
{
    char id[RUN_ID_LEN], when[RFC3339_BUFLEN];
    bool skip = e->result == STORE_RESULT_SKIPPED;
    bool done = e->result >= 0;
    json_t *o = json_object(), *scheduled = json_null(), *plugin = json_null();

    run_id_format(e->id, id);
    if (e->scheduled_ns > 0)
        scheduled = json_string(
            e->has_offset ? rfc3339_format_offset(e->scheduled_ns, e->utc_offset, true, when,
                                                  sizeof(when))
                          : rfc3339_format(e->scheduled_ns, NULL, true, when, sizeof(when)));
    if (e->plugin)
        plugin = json_pack("{s:o, s:o, s:o}", "name", json_text_or_null(e->plugin), "version",
                           json_text_or_null(e->plugin_version), "sha256",
                           json_text_or_null(e->plugin_sha256));
    json_object_set_new(o, "run_id", json_string(id));
    json_object_set_new(o, "job_id", json_text_or_null(e->job_id));
    json_object_set_new(o, "trigger", json_string(run_trigger_name(e->trigger)));
    json_object_set_new(o, "scheduled", scheduled);
    json_object_set_new(o, "started", skip ? json_null() : json_time_or_null(e->started_ns));
    json_object_set_new(o, "finished", done ? json_time_or_null(e->finished_ns) : json_null());
    json_object_set_new(o, "duration_seconds",
                        done && e->finished_ns >= e->started_ns
                            ? json_real((double)(e->finished_ns - e->started_ns) / 1e9)
                            : json_null());
    json_object_set_new(o, "result",
                        e->result == STORE_RESULT_RUNNING ? json_null()
                                                          : json_string(history_result_name(e->result)));
    json_object_set_new(o, "reason", skip ? json_string(skip_reason_name(e->reason)) : json_null());
    json_object_set_new(o, "count", skip ? json_integer((json_int_t)e->count) : json_null());
    json_object_set_new(o, "error", json_text_or_null(e->error));
    json_object_set_new(o, "attempt", skip ? json_null() : json_integer((json_int_t)e->attempt));
    if (e->parent_run_id) {
        char parent[RUN_ID_LEN];
        run_id_format(e->parent_run_id, parent);
        json_object_set_new(o, "parent_run_id", json_string(parent));
    } else {
        json_object_set_new(o, "parent_run_id", json_null());
    }
    json_object_set_new(o, "node", json_text_or_null(e->node));
    json_object_set_new(o, "plugin", plugin);
    return o;
}

json_t *history_record_json(const struct store_record *r)
{
    char when[RFC3339_BUFLEN];
    json_t *pairs = r->pairs ? json_loads(r->pairs, JSON_DECODE_ANY, NULL) : NULL;

    if (!json_is_object(pairs)) {
        json_decref(pairs);
        pairs = json_object();
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "ts",
                     rfc3339_format(r->ts_ns, NULL, true, when, sizeof(when)), "level",
                     log_level_name(r->level), "event", json_text_or_null(r->event), "pairs", pairs);
}
