/*
 * plugin_template.c — copy this file to start a jobhost plugin.
 *
 * Build (one line):
 *
 *     cc -shared -fPIC $(pkg-config --cflags jobhost) -Wl,--no-undefined -o myjob.so myjob.c
 *
 * -Wl,--no-undefined proves the plugin needs nothing from the daemon: every
 * host service comes through the `jh_ctx` handed to each call. Add
 * -fvisibility=hidden to export nothing but the descriptor.
 *
 * Try it: copy myjob.so into the daemon's plugin_dir, add a job to the
 * manifest, then run it once, for real or as a dry run:
 *
 *     jobs:
 *       - id: my-job
 *         plugin: myjob                  # loads <plugin_dir>/myjob.so
 *         trigger: {interval: 1m}
 *         params: {message: hello, count: 3, pause: 1s}
 *
 *     jobhost check -c jobhost.yaml      # is the manifest (and plugin) accepted?
 *     jobhost run-once my-job -c jobhost.yaml
 *
 * then reload the daemon (SIGHUP, or POST /-/reload) to schedule it.
 *
 * What this example does: logs `message` `count` times, `pause` apart. It
 * shows every piece a real job needs: the descriptor, init and shutdown,
 * parameters with defaults, dry run, cancellation inside a loop, logging and
 * the result. Delete what you do not need.
 *
 * The rules, in short (sdk/include/jobhost/plugin.h has them in full):
 *   - run() is called on a worker thread, once per run; runs may overlap, so
 *     state shared between runs needs your own lock or an atomic.
 *   - init() and shutdown() are called once, on the host's main thread.
 *   - Strings the host gives you are borrowed until your function returns;
 *     copy what you keep. Strings you pass to the host are copied by it.
 *   - Never call exit(), abort() or change process-wide state (signals,
 *     environment, the working directory): the daemon and other jobs live in
 *     the same process. To run a program, use posix_spawn, not fork.
 */
#include <jobhost/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* State shared by all runs. Written by run() on worker threads, hence atomic;
 * read by shutdown() on the main thread after the last run has returned. */
static atomic_ulong runs_done;

/* Optional. Once, after the plugin is loaded and before any run: open
 * connections, read files, check the system. Parameters are not available
 * here (they belong to jobs, and several jobs may use one plugin). Return 0,
 * or nonzero to refuse loading; the host then reports your jh_set_error text
 * and keeps running without this plugin. */
static int myjob_init(jh_ctx *ctx)
{
    atomic_store(&runs_done, 0);
    jh_log(ctx, JH_LOG_DEBUG, "myjob_loaded");
    return 0;
}

/* Optional. Once, after the last run has returned, before the plugin is
 * unloaded (on shutdown, or when a reload drops or replaces it). */
static void myjob_shutdown(jh_ctx *ctx)
{
    char n[24];

    snprintf(n, sizeof n, "%lu", atomic_load(&runs_done));
    jh_log(ctx, JH_LOG_DEBUG, "myjob_unloaded", "runs", n);
}

/* Required. One run of one job. Return JH_OK, JH_FAIL (say why with
 * jh_set_error) or JH_CANCELLED (when jh_cancelled() or jh_sleep_ns() told
 * you to stop). */
static int myjob_run(jh_ctx *ctx)
{
    /* 1. Parameters: the text as written in the manifest's `params:`. Give a
     *    default with jh_param_or; check everything before doing anything, so
     *    a bad manifest fails the run with a clear message. */
    const char *message = jh_param_or(ctx, "message", "hello");
    const char *count_text = jh_param_or(ctx, "count", "3");
    const char *pause_text = jh_param_or(ctx, "pause", "1s");
    int64_t pause_ns;
    char *end;
    long count = strtol(count_text, &end, 10);
    char i_text[24];

    if (*end != '\0' || end == count_text || count < 1 || count > 1000) {
        jh_set_error(ctx, "`count` must be a whole number from 1 to 1000");
        return JH_FAIL;
    }
    /* Durations ("500ms", "10s", "1h30m", "14d") are parsed the way the
     * manifest parses them. */
    if (jh_parse_duration(ctx, pause_text, &pause_ns) < 0) {
        jh_set_error(ctx, "`pause` must be a duration such as 500ms or 2s");
        return JH_FAIL;
    }

    /* 2. Dry run: change nothing, say what you would do, return JH_OK. */
    if (jh_dry_run(ctx)) {
        jh_log(ctx, JH_LOG_INFO, "would_say", "message", message, "count", count_text);
        return JH_OK;
    }

    /* 3. The work. In any loop, stop when the run is cancelled (the job's
     *    timeout passed or the daemon is stopping). jh_sleep_ns returns -1
     *    early in that case, so waiting with it never delays a shutdown. */
    for (long i = 1; i <= count; i++) {
        if (jh_cancelled(ctx))
            return JH_CANCELLED;

        /* 4. Logging: an event name, then key/value pairs, all strings. The
         *    host adds ts, level, job, run_id and plugin. Format numbers
         *    yourself. */
        snprintf(i_text, sizeof i_text, "%ld", i);
        jh_log(ctx, JH_LOG_INFO, "said", "message", message, "n", i_text);

        if (i < count && jh_sleep_ns(ctx, pause_ns) < 0)
            return JH_CANCELLED;
    }

    /* 5. The result. */
    atomic_fetch_add(&runs_done, 1);
    return JH_OK;
}

/* The descriptor: the one symbol the host looks up. JH_PLUGIN fills in the
 * ABI version and size; name and version appear in logs and metrics; run is
 * required, init and shutdown are optional. */
JH_PLUGIN(.name = "myjob",
          .version = "0.1.0",
          .description = "logs a message a few times (template)",
          .init = myjob_init,
          .run = myjob_run,
          .shutdown = myjob_shutdown);
