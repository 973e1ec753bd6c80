/*
 * Fixture "fail": every run fails with the error "fixture failure", for the
 * failure counters, the job_finished record and `run-once` exit codes.
 */
#include <jobhost/plugin.h>

static int fail_run(jh_ctx *ctx)
{
    jh_set_error(ctx, "fixture failure");
    return JH_FAIL;
}

JH_PLUGIN(.name = "fail", .version = "1.0.0", .description = "test fixture: fails",
          .run = fail_run);
