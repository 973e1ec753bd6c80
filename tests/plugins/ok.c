/*
 * Fixture "ok": the plugin that always succeeds. Loader and executor tests
 * use it as the healthy baseline; the optional `tag` param lets a test tell
 * its runs apart in the log (event=ok tag=...).
 */
#include <jobhost/plugin.h>

static int ok_run(jh_ctx *ctx)
{
    const char *tag = jh_param(ctx, "tag");

    if (tag)
        jh_log(ctx, JH_LOG_INFO, "ok", "tag", tag);
    else
        jh_log(ctx, JH_LOG_INFO, "ok");
    return JH_OK;
}

JH_PLUGIN(.name = "ok", .version = "1.0.0", .description = "test fixture: succeeds",
          .run = ok_run);
