/*
 * Fixture "sleep": a slow job. Sleeps `duration` (default 1s) with
 * jh_sleep_ns and returns JH_CANCELLED if the host interrupts it, for
 * max_instances, timeouts, graceful stop and cancellation tests.
 */
#include <jobhost/plugin.h>

static const struct jh_param_spec sleep_params[] = {
    JH_PARAM("duration", JH_TYPE_DURATION, 0, "1s", "how long to sleep"),
    JH_PARAMS_END,
};

static int sleep_run(jh_ctx *ctx)
{
    int64_t ns;

    if (jh_param_duration(ctx, "duration", &ns) < 0) {
        jh_set_error(ctx, "`duration` is not a duration");
        return JH_FAIL;
    }
    if (jh_sleep_ns(ctx, ns) < 0)
        return JH_CANCELLED;
    return JH_OK;
}

JH_PLUGIN(.name = "sleep", .version = "1.0.0", .description = "test fixture: sleeps",
          .params = sleep_params, .run = sleep_run);
