/*
 * Fixture "slow_init": an init that takes two seconds, so a reload that
 * loads it is still running while a test sends more SIGHUPs or checks that
 * the HTTP thread goes on answering.
 */
#include <jobhost/plugin.h>

#include <time.h>

static int slow_init(jh_ctx *ctx, void **state)
{
    struct timespec ts = {2, 0};
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
