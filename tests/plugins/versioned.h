/*
 * The body of the "versioned" fixture, shared by versioned_v1.c and
 * versioned_v2.c, which define VERSIONED_VERSION and include it: two builds
 * of one plugin that differ only in their version.
 */
#include <jobhost/plugin.h>

#ifndef VERSIONED_VERSION
#error "define VERSIONED_VERSION before including versioned.h"
#endif

static const struct jh_param_spec versioned_params[] = {
    JH_PARAM("sleep", JH_TYPE_DURATION, 0, NULL, "sleep this long after logging"),
    JH_PARAMS_END,
};

static int versioned_run(jh_ctx *ctx)
{
    int64_t ns = 0;

    jh_log(ctx, JH_LOG_INFO, "versioned", JH_STR("version", VERSIONED_VERSION));
    if (jh_param_duration(ctx, "sleep", &ns) < 0)
        return JH_OK;
    return jh_sleep_ns(ctx, ns) < 0 ? JH_CANCELLED : JH_OK;
}

JH_PLUGIN(.name = "versioned", .version = VERSIONED_VERSION,
          .description = "test fixture: version " VERSIONED_VERSION, .params = versioned_params,
          .run = versioned_run);
