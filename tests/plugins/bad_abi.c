/*
 * Fixture "bad_abi": a descriptor built for an ABI this host does not speak
 * (JH_ABI_VERSION + 41). The loader must refuse it with a clear message.
 * Written out by hand because JH_PLUGIN always fills in the right version.
 */
#include <jobhost/plugin.h>

static int bad_abi_run(jh_ctx *ctx)
{
    (void)ctx;
    return JH_OK;
}

__attribute__((visibility("default"))) const struct jh_plugin jh_plugin_descriptor = {
    .abi_version = JH_ABI_VERSION + 41,
    .size = sizeof(struct jh_plugin),
    .name = "bad_abi",
    .version = "1.0.0",
    .description = "test fixture: wrong ABI version",
    .run = bad_abi_run,
};
