/*
 * Fixture "ok": the plugin that always succeeds. Loader and executor tests
 * use it as the healthy baseline; the optional `tag` param lets a test tell
 * its runs apart in the log (event=ok tag=...).
 */
#include <jobhost/plugin.h>

static const struct jh_param_spec ok_params[] = {
    JH_PARAM("tag", JH_TYPE_STRING, 0, NULL, "written into every record"),
    JH_PARAMS_END,
};

static int ok_run(jh_ctx *ctx)
{
    const char *tag = jh_param(ctx, "tag");

    if (tag)
        jh_log(ctx, JH_LOG_INFO, "ok", JH_STR("tag", tag));
    else
        jh_log(ctx, JH_LOG_INFO, "ok");
    return JH_OK;
}

JH_PLUGIN(.name = "ok", .version = "1.0.0", .description = "test fixture: succeeds",
          .params = ok_params, .run = ok_run);
