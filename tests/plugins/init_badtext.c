/*
 * Fixture "init_badtext": init() refuses to load with a message that is not
 * UTF-8. A reload refused for it must still answer a JSON list of errors
 * that says why (the bad byte as U+FFFD), in thread and process isolation.
 */
#include <jobhost/plugin.h>

static int init_badtext_init(jh_ctx *ctx, void **state)
{
    (void)state;
    jh_set_error(ctx, "refused \xff\xfe here");
    return 1;
}

static int init_badtext_run(jh_ctx *ctx)
{
    (void)ctx;
    return JH_FAIL;
}

JH_PLUGIN(.name = "init_badtext", .version = "1.0.0",
          .description = "test fixture: init refuses with bytes that are not UTF-8",
          .init = init_badtext_init, .run = init_badtext_run);
