/*
 * Fixture "bad_decl": declares a parameter whose default is not of its type
 * (an int defaulting to "lots"). The loader must refuse the plugin, naming
 * the parameter, before any job can rely on that default.
 */
#include <jobhost/plugin.h>

static const struct jh_param_spec bad_decl_params[] = {
    JH_PARAM("count", JH_TYPE_INT, 0, "lots", "how many"),
    JH_PARAMS_END,
};

static int bad_decl_run(jh_ctx *ctx)
{
    (void)ctx;
    return JH_OK;
}

JH_PLUGIN(.name = "bad_decl", .version = "1.0.0", .description = "test fixture: a bad default",
          .params = bad_decl_params, .run = bad_decl_run);
