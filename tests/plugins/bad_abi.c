/*
 * Fixture "bad_abi": a plugin as it was written and built for ABI 1, before
 * ABI 2 — varargs records, a function table in the context, no declared
 * parameters. It is built against the ABI 1 header, frozen in
 * tests/abi/headers/abi1/ (the Makefile points its include path there). The
 * loader must refuse it with a message that says how to rebuild it.
 */
#include <jobhost/plugin.h>

#if JH_ABI_VERSION != 1
#error "bad_abi.c is built against the ABI 1 header (tests/abi/headers/abi1)"
#endif

static int bad_abi_run(jh_ctx *ctx)
{
    jh_log(ctx, JH_LOG_INFO, "ok", "tag", jh_param_or(ctx, "tag", "none"));
    return JH_OK;
}

JH_PLUGIN(.name = "bad_abi", .version = "1.0.0", .description = "test fixture: an ABI 1 plugin",
          .run = bad_abi_run);
