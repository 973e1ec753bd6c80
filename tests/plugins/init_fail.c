/*
 * Fixture "init_fail": init() refuses to load with "fixture init refused".
 * The loader must report that text and leave the running jobs alone; run()
 * must never be called.
 */
#include <jobhost/plugin.h>

static int init_fail_init(jh_ctx *ctx, void **state)
{
    (void)state;
    jh_set_error(ctx, "fixture init refused");
    return 1;
}

static int init_fail_run(jh_ctx *ctx)
{
    jh_set_error(ctx, "init_fail: run() called although init() failed");
    return JH_FAIL;
}

JH_PLUGIN(.name = "init_fail", .version = "1.0.0", .description = "test fixture: init fails",
          .init = init_fail_init, .run = init_fail_run);
