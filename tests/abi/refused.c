/*
 * Records that must not compile. tests/abi/test_compile.sh builds this
 * plugin once per case, -DCASE_<name>, with gcc and clang (-std=c11
 * -pedantic -Wall -Wextra -Werror), and expects every compiler to refuse
 * every case; built with no case at all it must compile, which shows that
 * each refusal comes from its case alone.
 */
#include <jobhost/plugin.h>

static int refused_run(jh_ctx *ctx)
{
    const char *path = "/tmp";
    int64_t count = 3;
    double ratio = 0.5;

    jh_log(ctx, JH_LOG_INFO, "fine", JH_STR("path", path), JH_INT("count", count),
           JH_F64("ratio", ratio), JH_BOOL("ok", count > 2), JH_DUR("took", count));
#if defined(CASE_int_from_string)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_INT("count", "three"));
#elif defined(CASE_str_from_int)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_STR("path", 42));
#elif defined(CASE_f64_from_int) /* count / 4 would be an integer division */
    jh_log(ctx, JH_LOG_INFO, "bad", JH_F64("ratio", count / 4));
#elif defined(CASE_bool_from_string)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_BOOL("ok", "yes"));
#elif defined(CASE_dur_from_double)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_DUR("took", ratio));
#elif defined(CASE_untyped_pair) /* an ABI 1 record */
    jh_log(ctx, JH_LOG_INFO, "bad", "path", path);
#elif defined(CASE_odd_pair)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_STR("path", path), "count");
#elif defined(CASE_missing_value)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_STR("path"));
#elif defined(CASE_key_not_a_string)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_STR(7, path));
#endif
    return JH_OK;
}

JH_PLUGIN(.name = "refused", .version = "1.0.0", .run = refused_run);
