/*
 * Fixture "ctor_crash": its ELF constructor takes down (SIGSEGV) whatever
 * process maps it, before any of the SDK is involved. With `isolation:
 * process` that is a worker, never the host: the load is refused with the
 * signal, at start-up, at reload and by `jobhost check`.
 */
#include <jobhost/plugin.h>

#include <stddef.h>

__attribute__((constructor)) static void ctor_crash(void)
{
    /* volatile both ways: not turned into a trap, not dropped (see crash.c) */
    volatile int *volatile null = NULL;
    *null = 1;
}

static int ctor_crash_run(jh_ctx *ctx)
{
    jh_set_error(ctx, "ctor_crash: run() called although its constructor crashes");
    return JH_FAIL;
}

JH_PLUGIN(.name = "ctor_crash", .version = "1.0.0",
          .description = "test fixture: its constructor crashes", .run = ctor_crash_run);
