/*
 * Fixture "badtext": hands the host text that would break JSON and logs
 * were it passed on as it is, as `how` says:
 *   invalid_error  jh_set_error with bytes that are not UTF-8
 *   long_error     a valid message of 302 bytes whose 255th byte is in the
 *                  middle of an "é", so a cut at 255 bytes splits it
 *   records        a record whose key and value are not UTF-8, and whose
 *                  pairs use the host's own keys (job, result)
 * The host must make every string valid UTF-8 (U+FFFD for a bad byte), cut
 * on character boundaries, and rename the keys (plugin_job, plugin_result).
 */
#include <jobhost/plugin.h>

#include <string.h>

static const struct jh_param_spec badtext_params[] = {
    JH_PARAM("how", JH_TYPE_STRING, JH_REQUIRED, NULL, "invalid_error, long_error or records"),
    JH_PARAMS_END,
};

static int badtext_run(jh_ctx *ctx)
{
    const char *how = jh_param(ctx, "how");

    if (strcmp(how, "invalid_error") == 0) {
        jh_set_error(ctx, "bad \xff\xfe byte");
        return JH_FAIL;
    }
    if (strcmp(how, "long_error") == 0) {
        char msg[400] = "ab";
        for (int i = 0; i < 150; i++)
            memcpy(msg + 2 + 2 * i, "\xc3\xa9", 3);
        jh_set_error(ctx, msg);
        return JH_FAIL;
    }
    jh_log(ctx, JH_LOG_INFO, "badtext", JH_STR("v\xffl", "x\xc3(y"), JH_STR("job", "forged"),
           JH_STR("result", "failure"));
    return JH_OK;
}

JH_PLUGIN(.name = "badtext", .version = "1.0.0", .description = "test fixture: text that is not UTF-8",
          .params = badtext_params, .run = badtext_run);
