/*
 * Fixture "versioned", version 2.0.0 (versioned_v1.c and versioned_v2.c
 * differ only in the version). Reload tests swap one .so for the other under
 * the same name and check which one ran: every run logs
 * `versioned version=2.0.0`, then sleeps the `sleep` param if given, so a
 * run of the old version can still be going while the new one is loaded.
 */
#include <jobhost/plugin.h>

#define VERSIONED_VERSION "2.0.0"

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
          .description = "test fixture: version 2.0.0", .run = versioned_run);
