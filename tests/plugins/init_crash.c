/*
 * Fixture "init_crash": init() writes through a NULL pointer. With
 * `isolation: process` the worker that loads it dies, and the load is
 * refused with the signal; the host goes on.
 */
#include <jobhost/plugin.h>

#include <stddef.h>

static int init_crash_init(jh_ctx *ctx, void **state)
{
    volatile int *volatile null = NULL;

    (void)ctx;
    (void)state;
    *null = 1;
    return 0;
}

static int init_crash_run(jh_ctx *ctx)
{
    jh_set_error(ctx, "init_crash: run() called although init() crashes");
    return JH_FAIL;
}

JH_PLUGIN(.name = "init_crash", .version = "1.0.0", .description = "test fixture: init crashes",
          .init = init_crash_init, .run = init_crash_run);
