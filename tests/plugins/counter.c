/*
 * Fixture "counter": counts its init, run and shutdown calls, to show that
 * init and shutdown run once per load however many runs there are, and that
 * overlapping runs are all counted. Every run logs
 * `counted runs=N inits=N shutdowns=N`; shutdown logs the same as `counter_shutdown`.
 */
#include <jobhost/plugin.h>

#include <stdatomic.h>
#include <stdio.h>

/* Per load of the .so; written by init/shutdown (main thread) and run
 * (worker threads), hence atomic. */
static atomic_uint inits, runs, shutdowns;

static void counter_log(jh_ctx *ctx, const char *event, unsigned n_runs)
{
    char r[16], i[16], s[16];

    snprintf(r, sizeof r, "%u", n_runs);
    snprintf(i, sizeof i, "%u", atomic_load(&inits));
    snprintf(s, sizeof s, "%u", atomic_load(&shutdowns));
    jh_log(ctx, JH_LOG_INFO, event, "runs", r, "inits", i, "shutdowns", s);
}

static int counter_init(jh_ctx *ctx)
{
    (void)ctx;
    atomic_fetch_add(&inits, 1);
    return 0;
}

static int counter_run(jh_ctx *ctx)
{
    counter_log(ctx, "counted", atomic_fetch_add(&runs, 1) + 1);
    return JH_OK;
}

static void counter_shutdown(jh_ctx *ctx)
{
    atomic_fetch_add(&shutdowns, 1);
    counter_log(ctx, "counter_shutdown", atomic_load(&runs));
}

JH_PLUGIN(.name = "counter", .version = "1.0.0", .description = "test fixture: counts calls",
          .init = counter_init, .run = counter_run, .shutdown = counter_shutdown);
