/*
 * Fixture "cxx_ok": a plugin written in C++17 against the same header: the
 * descriptor macro, typed records (templates in C++), declared parameters,
 * a check, and state made with new and given back with delete. Built with
 * g++ -std=c++17 -pedantic -Wall -Wextra -Werror; loaded and run by the
 * tests like any C plugin.
 */
#include <jobhost/plugin.h>

#include <string>

namespace {

struct state {
    std::string greeting;
    unsigned runs = 0;
};

const jh_param_spec params[] = {
    JH_PARAM("greeting", JH_TYPE_STRING, 0, "hello", "what to say"),
    JH_PARAM("times", JH_TYPE_INT, 0, "1", "how many records, 1 to 10"),
    JH_PARAMS_END,
};

int cxx_init(jh_ctx *ctx, void **out)
{
    (void)ctx;
    *out = new state{"from C++", 0};
    return 0;
}

int cxx_check(jh_ctx *ctx)
{
    int64_t times = 1;
    if (jh_param_int(ctx, "times", &times) == 0 && (times < 1 || times > 10))
        jh_param_error(ctx, "times", "must be from 1 to 10");
    return 0;
}

int cxx_run(jh_ctx *ctx)
{
    auto *st = static_cast<state *>(jh_state(ctx));
    int64_t times = 1;

    (void)jh_param_int(ctx, "times", &times); /* declared with a default: always there */
    for (int64_t i = 0; i < times; i++)
        jh_log(ctx, JH_LOG_INFO, "cxx", JH_STR("greeting", jh_param(ctx, "greeting")),
               JH_STR("state", st->greeting.c_str()), JH_INT("i", i), JH_BOOL("cxx", true),
               JH_F64("half", 0.5));
    st->runs++;
    return JH_OK;
}

void cxx_shutdown(jh_ctx *ctx, void *s)
{
    (void)ctx;
    delete static_cast<state *>(s);
}

} // namespace

JH_PLUGIN(.name = "cxx_ok", .version = "1.0.0", .description = "test fixture: written in C++",
          .params = params, .init = cxx_init, .run = cxx_run, .shutdown = cxx_shutdown,
          .check = cxx_check);
