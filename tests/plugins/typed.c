/*
 * Fixture "typed": one parameter of every declared type, a check callback,
 * per-load state and the run information, for the tests of parameter
 * checking (positions, types, required ones, defaults), of check(), of
 * jh_state() and jh_get_run_info(). Parameters:
 *   dir     string    required; check: must be absolute
 *   count   int       default 3; check: 1 to 100
 *   enabled bool      default true
 *   pause   duration  default 10ms
 *   limit   size      default 1MiB
 *   names   list      optional
 *   labels  map       optional
 * Every run logs one `typed` record with the values as the host hands them
 * (typed pairs), the run information and whether jh_state() is init's.
 */
#include <jobhost/plugin.h>

#include <stdint.h>

static const struct jh_param_spec typed_params[] = {
    JH_PARAM("dir", JH_TYPE_STRING, JH_REQUIRED, NULL, "an absolute directory"),
    JH_PARAM("count", JH_TYPE_INT, 0, "3", "how many, 1 to 100"),
    JH_PARAM("enabled", JH_TYPE_BOOL, 0, "true", "whether to"),
    JH_PARAM("pause", JH_TYPE_DURATION, 0, "10ms", "how long between"),
    JH_PARAM("limit", JH_TYPE_SIZE, 0, "1MiB", "how much at most"),
    JH_PARAM("names", JH_TYPE_LIST, 0, NULL, "some names"),
    JH_PARAM("labels", JH_TYPE_MAP, 0, NULL, "some labels"),
    JH_PARAMS_END,
};

/* The state init hands the host: the same pointer must come back. */
static int typed_state;

static int typed_init(jh_ctx *ctx, void **state)
{
    (void)ctx;
    *state = &typed_state;
    return 0;
}

static int typed_check(jh_ctx *ctx)
{
    const char *dir = jh_param(ctx, "dir");
    int64_t count = 0;

    if (dir && dir[0] != '/')
        jh_param_error(ctx, "dir", "must be an absolute path");
    if (jh_param_int(ctx, "count", &count) == 0 && (count < 1 || count > 100))
        jh_param_error(ctx, "count", "must be from 1 to 100");
    if (jh_state(ctx) != &typed_state)
        jh_param_error(ctx, NULL, "check did not see init's state");
    return 0;
}

static int typed_run(jh_ctx *ctx)
{
    const struct jh_run_info *info = jh_get_run_info(ctx);
    int64_t count = -1, pause = -1;
    uint64_t limit = 0;
    bool enabled = false;

    if (jh_param_int(ctx, "count", &count) < 0 || jh_param_bool(ctx, "enabled", &enabled) < 0 ||
        jh_param_duration(ctx, "pause", &pause) < 0 || jh_param_size(ctx, "limit", &limit) < 0) {
        jh_set_error(ctx, "a declared default was not handed out");
        return JH_FAIL;
    }
    jh_log(ctx, JH_LOG_INFO, "typed", JH_STR("dir", jh_param(ctx, "dir")), JH_INT("count", count),
           JH_BOOL("enabled", enabled), JH_DUR("pause", pause), JH_UINT("limit", limit),
           JH_UINT("names", jh_param_len(ctx, "names")), JH_F64("ratio", (double)count / 4),
           JH_UINT("info_size", info->size), JH_UINT("trigger_kind", info->trigger),
           JH_BOOL("scheduled_set", info->scheduled_ns != 0), JH_UINT("attempt", info->attempt),
           JH_UINT("fencing_token", info->fencing_token), JH_DUR("timeout", info->timeout_ns),
           JH_BOOL("state_ok", jh_state(ctx) == &typed_state));
    return JH_OK;
}

JH_PLUGIN(.name = "typed", .version = "1.0.0", .description = "test fixture: every parameter type",
          .params = typed_params, .init = typed_init, .run = typed_run, .check = typed_check);
