/*
 * hello — the smallest useful plugin, and the one the tutorial walks through.
 *
 * Every run writes one `hello` record holding its parameters, which makes it a
 * heartbeat: if the records stop, the scheduler has stopped. In a dry run it
 * only says what it would have said.
 *
 * Parameters (all optional):
 *   greeting   what to say                       default "hello"
 *   name       whom to greet                     default "world"
 *
 * Manifest:
 *   - id: heartbeat
 *     plugin: hello
 *     trigger: {interval: 10s}
 *     params: {greeting: hi, name: ops}
 *
 * Record:  event=hello greeting=hi name=ops
 */
#include <jobhost/plugin.h>

/* Called on a worker thread for every run. It keeps no state between runs,
 * so overlapping runs need no lock. */
static int hello_run(jh_ctx *ctx)
{
    /* Parameters are strings, as written in the manifest; jh_param_or gives
     * the default when the key is absent. The strings are the host's: they
     * stay valid until this function returns and must not be freed. */
    const char *greeting = jh_param_or(ctx, "greeting", "hello");
    const char *name = jh_param_or(ctx, "name", "world");

    /* A dry run must change nothing and say what it would do. Greeting
     * changes nothing, but the tutorial shows the pattern every job follows. */
    if (jh_dry_run(ctx)) {
        jh_log(ctx, JH_LOG_INFO, "would_greet", "greeting", greeting, "name", name);
        return JH_OK;
    }

    /* One record: an event name, then key/value pairs. The host adds ts,
     * level, job, run_id and plugin, and quotes values as needed. */
    jh_log(ctx, JH_LOG_INFO, "hello", "greeting", greeting, "name", name);
    return JH_OK;
}

/* The descriptor the host looks for. No init or shutdown: nothing to set up. */
JH_PLUGIN(.name = "hello",
          .version = "1.0.0",
          .description = "logs a greeting on every run (a heartbeat)",
          .run = hello_run);
