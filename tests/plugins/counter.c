/*
 * Fixture "counter": counts its init, run and shutdown calls, to show that
 * init and shutdown run once per load however many runs there are, that
 * overlapping runs are all counted, and that the state init sets is what
 * every run sees and what shutdown receives. Every run logs
 * `counted runs=N inits=N shutdowns=N`; shutdown logs the same as
 * `counter_shutdown`, with `state=same` when it was handed init's state.
 */
#include <jobhost/plugin.h>

#include <stdatomic.h>
#include <stdlib.h>

/* Per load: the state init makes. Runs update it on worker threads, hence
 * atomic. */
struct counter_state {
    atomic_uint runs;
};

/* Per load of the .so (the statics go with the object): written by init
 * and shutdown (main thread), read by runs. */
static atomic_uint inits, shutdowns;
static struct counter_state *made;

static void counter_log(jh_ctx *ctx, const char *event, unsigned n_runs, const char *state)
{
    jh_log(ctx, JH_LOG_INFO, event, JH_UINT("runs", n_runs), JH_UINT("inits", atomic_load(&inits)),
           JH_UINT("shutdowns", atomic_load(&shutdowns)), JH_STR("state", state));
}

static int counter_init(jh_ctx *ctx, void **state)
{
    (void)ctx;
    made = calloc(1, sizeof(*made));
    if (!made) {
        jh_set_error(ctx, "out of memory");
        return 1;
    }
    atomic_fetch_add(&inits, 1);
    *state = made;
    return 0;
}

static int counter_run(jh_ctx *ctx)
{
    struct counter_state *st = jh_state(ctx);

    if (!st) {
        jh_set_error(ctx, "no state");
        return JH_FAIL;
    }
    counter_log(ctx, "counted", atomic_fetch_add(&st->runs, 1) + 1,
                st == made ? "same" : "other");
    return JH_OK;
}

static void counter_shutdown(jh_ctx *ctx, void *state)
{
    struct counter_state *st = state;

    atomic_fetch_add(&shutdowns, 1);
    counter_log(ctx, "counter_shutdown", st ? atomic_load(&st->runs) : 0,
                st && st == made && jh_state(ctx) == st ? "same" : "other");
    free(st);
    made = NULL;
}

JH_PLUGIN(.name = "counter", .version = "1.0.0", .description = "test fixture: counts calls",
          .init = counter_init, .run = counter_run, .shutdown = counter_shutdown);
