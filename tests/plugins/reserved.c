/*
 * Fixture "reserved": a descriptor that sets one of its reserved slots, as
 * a plugin built against a future SDK that gave the slot a meaning would.
 * The loader must refuse it rather than ignore what the plugin asks for.
 * Written out by hand: JH_PLUGIN leaves the slots zero.
 */
#include <jobhost/plugin.h>

static int reserved_run(jh_ctx *ctx)
{
    (void)ctx;
    return JH_OK;
}

static int marker;

__attribute__((visibility("default"))) const struct jh_plugin jh_plugin_descriptor = {
    .abi_version = JH_ABI_VERSION,
    .size = sizeof(struct jh_plugin),
    .imports = JH_IMPORTS_BEGIN,
    .imports_end = JH_IMPORTS_END,
    .name = "reserved",
    .version = "1.0.0",
    .run = reserved_run,
    .reserved = {[2] = &marker},
};
