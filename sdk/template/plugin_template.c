/*
 * plugin_template.c — copy this file to start a jobhost plugin (ABI 2).
 *
 * Build (one line):
 *
 *     cc -shared -fPIC -fvisibility=hidden -Wall -Wextra $(pkg-config --cflags jobhost) \
 *        -Wl,-z,defs -o myjob.so myjob.c
 *
 * -Wl,-z,defs proves the plugin needs nothing from the daemon: every host
 * service is a jh_* call the host fills in when it loads the plugin.
 * -fvisibility=hidden exports nothing but the descriptor.
 *
 * Try it: copy myjob.so into the daemon's plugin_dir, add a job to the
 * manifest, then check it and run it once, for real or as a dry run:
 *
 *     jobs:
 *       - id: my-job
 *         plugin: myjob                  # loads <plugin_dir>/myjob.so
 *         trigger: {interval: 1m}
 *         params: {message: hello, count: 3, pause: 1s}
 *
 *     jobhost describe myjob -c jobhost.yaml   # the parameters it takes
 *     jobhost check -c jobhost.yaml            # is the manifest (and plugin) accepted?
 *     jobhost run-once my-job -c jobhost.yaml
 *
 * then reload the daemon (SIGHUP, or POST /-/reload) to schedule it.
 *
 * What this example does: logs `message` `count` times, `pause` apart. It
 * shows every piece a real job needs: declared parameters with defaults, a
 * check for what a type cannot say, init and shutdown with per-load state,
 * dry run, cancellation inside a loop, typed records and the result.
 * Delete what you do not need.
 *
 * The rules, in short (sdk/include/jobhost/plugin.h has them in full):
 *   - run() is called on a worker thread, once per run; runs may overlap, so
 *     state shared between runs needs your own lock or an atomic.
 *   - init(), check() and shutdown() are called on the host's main thread.
 *   - Strings the host gives you are borrowed until your function returns;
 *     copy what you keep. Strings you pass to the host are copied by it.
 *   - Never call exit(), abort() or change process-wide state (signals,
 *     environment, the working directory): the daemon and other jobs live in
 *     the same process. To run a program, use posix_spawn, not fork.
 */
#include <jobhost/plugin.h>

#include <stdatomic.h>
#include <stdlib.h>

/* 1. Parameters. The host checks every job's `params:` against this list
 *    before it accepts the job (`jobhost check`, start-up, reload): an
 *    unknown key, a wrong type or a missing required one is an error at its
 *    place in the manifest, so run() never sees them. A job that leaves a
 *    parameter out gets its default. Types: STRING, BOOL, INT, DURATION,
 *    SIZE, LIST, MAP. */
static const struct jh_param_spec myjob_params[] = {
    JH_PARAM("message", JH_TYPE_STRING, 0, "hello", "what to log"),
    JH_PARAM("count", JH_TYPE_INT, 0, "3", "how many times, 1 to 1000"),
    JH_PARAM("pause", JH_TYPE_DURATION, 0, "1s", "how long between two"),
    JH_PARAMS_END,
};

/* State for one load of the plugin: made by init, seen by every run through
 * jh_state(), given back to shutdown. Runs update it on worker threads,
 * hence atomic. */
struct myjob_state {
    atomic_ulong runs_done;
};

/* Optional. Once, after the plugin is loaded and before any check or run:
 * open connections, read files, check the system. Parameters are not
 * available here (they belong to jobs, and several jobs may use one plugin).
 * Return 0, or nonzero to refuse loading; the host then reports your
 * jh_set_error text and keeps running without this plugin. */
static int myjob_init(jh_ctx *ctx, void **state)
{
    struct myjob_state *st = calloc(1, sizeof(*st));

    if (!st) {
        jh_set_error(ctx, "out of memory");
        return 1;
    }
    *state = st;
    jh_log(ctx, JH_LOG_DEBUG, "myjob_loaded");
    return 0;
}

/* Optional. What a type cannot say, for each job that names the plugin,
 * before the job is accepted. Report each problem with jh_param_error: the
 * host shows it at that parameter's place in the manifest
 * ("jobhost.yaml:12:14: jobs[0].params.count: must be from 1 to 1000"). */
static int myjob_check(jh_ctx *ctx)
{
    int64_t count = 0;

    if (jh_param_int(ctx, "count", &count) == 0 && (count < 1 || count > 1000))
        jh_param_error(ctx, "count", "must be from 1 to 1000");
    return 0;
}

/* Optional. Once, after the last run has returned, before the plugin is
 * unloaded (on shutdown, or when a reload drops or replaces it). */
static void myjob_shutdown(jh_ctx *ctx, void *state)
{
    struct myjob_state *st = state;

    jh_log(ctx, JH_LOG_DEBUG, "myjob_unloaded", JH_UINT("runs", atomic_load(&st->runs_done)));
    free(st);
}

/* Required. One run of one job. Return JH_OK, JH_FAIL (say why with
 * jh_set_error) or JH_CANCELLED (when jh_cancelled() or jh_sleep_ns() told
 * you to stop). */
static int myjob_run(jh_ctx *ctx)
{
    struct myjob_state *st = jh_state(ctx);
    /* 2. Reading parameters: declared ones are always there (the job's
     *    value or the default) and of their type. */
    const char *message = jh_param(ctx, "message");
    int64_t count = 3, pause_ns = 0;

    (void)jh_param_int(ctx, "count", &count);         /* declared INT: always read */
    (void)jh_param_duration(ctx, "pause", &pause_ns); /* declared DURATION: always read */

    /* 3. Dry run: change nothing, say what you would do, return JH_OK. */
    if (jh_dry_run(ctx)) {
        jh_log(ctx, JH_LOG_INFO, "would_say", JH_STR("message", message), JH_INT("count", count));
        return JH_OK;
    }

    /* 4. The work. In any loop, stop when the run is cancelled (the job's
     *    timeout passed or the daemon is stopping). jh_sleep_ns returns -1
     *    early in that case, so waiting with it never delays a shutdown. */
    for (int64_t i = 1; i <= count; i++) {
        if (jh_cancelled(ctx))
            return JH_CANCELLED;

        /* 5. Logging: an event name, then typed pairs (JH_STR, JH_INT,
         *    JH_UINT, JH_F64, JH_BOOL, JH_DUR): a wrong type does not
         *    compile. The host adds ts, level, job, run_id, plugin and
         *    src=plugin, and formats the numbers. */
        jh_log(ctx, JH_LOG_INFO, "said", JH_STR("message", message), JH_INT("n", i));

        if (i < count && jh_sleep_ns(ctx, pause_ns) < 0)
            return JH_CANCELLED;
    }

    /* 6. The result. */
    atomic_fetch_add(&st->runs_done, 1);
    return JH_OK;
}

/* The descriptor: the one symbol the host looks up. JH_PLUGIN fills in the
 * ABI version, the size and the host calls used; name and version appear
 * in logs and metrics; run is required, the rest optional. (In C++ give the
 * fields in this order.) */
JH_PLUGIN(.name = "myjob",
          .version = "0.1.0",
          .description = "logs a message a few times (template)",
          .params = myjob_params,
          .init = myjob_init,
          .run = myjob_run,
          .shutdown = myjob_shutdown,
          .check = myjob_check);
