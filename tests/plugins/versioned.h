/*
 * The body of the "versioned" fixture, shared by versioned_v1.c and
 * versioned_v2.c, which define VERSIONED_VERSION and include it: two builds
 * of one plugin that differ only in their version.
 */
#include <jobhost/plugin.h>

#ifndef VERSIONED_VERSION
#error "define VERSIONED_VERSION before including versioned.h"
#endif

static int versioned_run(jh_ctx *ctx)
{
    const char *sleep_text = jh_param(ctx, "sleep");
    int64_t ns;

    jh_log(ctx, JH_LOG_INFO, "versioned", "version", VERSIONED_VERSION);
    if (!sleep_text)
        return JH_OK;
    if (jh_parse_duration(ctx, sleep_text, &ns) < 0) {
        jh_set_error(ctx, "`sleep` is not a duration");
        return JH_FAIL;
    }
    return jh_sleep_ns(ctx, ns) < 0 ? JH_CANCELLED : JH_OK;
}

JH_PLUGIN(.name = "versioned", .version = VERSIONED_VERSION,
          .description = "test fixture: version " VERSIONED_VERSION, .run = versioned_run);
