/*
 * Records that must not compile, in C++ (tests/abi/test_compile.sh, g++
 * and clang++, -std=c++17 -pedantic -Wall -Wextra -Werror): the same rules
 * as refused.c, held by templates instead of _Generic. With no case it
 * must compile.
 */
#include <jobhost/plugin.h>

namespace {

int refused_run(jh_ctx *ctx)
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
#elif defined(CASE_f64_from_int)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_F64("ratio", count / 4));
#elif defined(CASE_bool_from_int)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_BOOL("ok", 1));
#elif defined(CASE_dur_from_double)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_DUR("took", ratio));
#elif defined(CASE_untyped_pair)
    jh_log(ctx, JH_LOG_INFO, "bad", "path", path);
#elif defined(CASE_odd_pair)
    jh_log(ctx, JH_LOG_INFO, "bad", JH_STR("path", path), "count");
#endif
    return JH_OK;
}

} // namespace

JH_PLUGIN(.name = "refused", .version = "1.0.0", .run = refused_run);
