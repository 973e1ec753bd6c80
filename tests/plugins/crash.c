/*
 * Fixture "crash": a plugin that takes the process down, to test what the
 * host does about a job that misbehaves. `how` selects the way:
 *   segv (default)  a write through a NULL pointer -> SIGSEGV
 *   abort           abort() -> SIGABRT
 *   exit            exit(3)
 *   hang            sleeps forever, ignoring cancellation and SIGTERM (only
 *                   SIGKILL ends it)
 */
#include <jobhost/plugin.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct jh_param_spec crash_params[] = {
    JH_PARAM("how", JH_TYPE_STRING, 0, "segv", "segv, abort, exit or hang"),
    JH_PARAMS_END,
};

static int crash_run(jh_ctx *ctx)
{
    const char *how = jh_param(ctx, "how");
    /* Both volatile: the pointer, so the compiler cannot see it is NULL and
     * turn the store into a trap instruction (SIGILL); the target, so the
     * store is not dropped as dead. */
    volatile int *volatile null = NULL;

    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "exit") == 0)
        exit(3);
    if (strcmp(how, "hang") == 0) {
        signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    *null = 1;
    return JH_FAIL;
}

JH_PLUGIN(.name = "crash", .version = "1.0.0", .description = "test fixture: crashes",
          .params = crash_params, .run = crash_run);
