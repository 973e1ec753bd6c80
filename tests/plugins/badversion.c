/*
 * Fixture "badversion": a descriptor whose version is not UTF-8 ("1.0" and
 * the byte 0xff). The loader must keep it as valid UTF-8 ("1.0\uFFFD"), so
 * that the jobs API, /metrics and the log can show it.
 */
#include <jobhost/plugin.h>

static int badversion_run(jh_ctx *ctx)
{
    (void)ctx;
    return JH_OK;
}

JH_PLUGIN(.name = "badversion", .version = "1.0\xff",
          .description = "test fixture: a version that is not UTF-8", .run = badversion_run);
