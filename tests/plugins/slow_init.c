/*
 * Fixture "slow_init": an init that takes half a second, so a reload that
 * loads it is still running when a test sends more SIGHUPs.
 */
#include <jobhost/plugin.h>

#include <time.h>

static int slow_init(jh_ctx *ctx, void **state)
{
    struct timespec ts = {0, 500 * 1000 * 1000};
    (void)ctx;
    (void)state;
    nanosleep(&ts, NULL);
    return 0;
}

static int slow_run(jh_ctx *ctx)
{
    (void)ctx;
    return JH_OK;
}

JH_PLUGIN(.name = "slow_init", .version = "1.0.0", .description = "test fixture: slow init",
          .init = slow_init, .run = slow_run);
