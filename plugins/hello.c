/*
 * hello — the smallest useful plugin, and the one the tutorial walks through.
 *
 * Every run writes one `hello` record holding its parameters, which makes it a
 * heartbeat: if the records stop, the scheduler has stopped. In a dry run it
 * only says what it would have said.
 *
 * Parameters (all optional; `jobhost describe hello` prints them):
 *   greeting   string   what to say        default "hello"
 *   name       string   whom to greet      default "world"
 *
 * Manifest:
 *   - id: heartbeat
 *     plugin: hello
 *     trigger: {interval: 10s}
 *     params: {greeting: hi, name: ops}
 *
 * Record:  event=hello job=heartbeat ... src=plugin greeting=hi name=ops
 */
#include <jobhost/plugin.h>

/* What a job may give, with the defaults the host hands out when it gives
 * nothing. The host refuses any other key, at the key's place in the
 * manifest, before a run ever starts. */
static const struct jh_param_spec hello_params[] = {
    JH_PARAM("greeting", JH_TYPE_STRING, 0, "hello", "what to say"),
    JH_PARAM("name", JH_TYPE_STRING, 0, "world", "whom to greet"),
    JH_PARAMS_END,
};

/* Called on a worker thread for every run. It keeps no state between runs,
 * so overlapping runs need no lock. */
static int hello_run(jh_ctx *ctx)
{
    /* Declared parameters are never absent: the job's value or the default.
     * The strings are the host's: valid until this function returns. */
    const char *greeting = jh_param(ctx, "greeting");
    const char *name = jh_param(ctx, "name");

    /* A dry run must change nothing and say what it would do. Greeting
     * changes nothing, but the tutorial shows the pattern every job follows. */
    if (jh_dry_run(ctx)) {
        jh_log(ctx, JH_LOG_INFO, "would_greet", JH_STR("greeting", greeting), JH_STR("name", name));
        return JH_OK;
    }

    /* One record: an event name, then typed key/value pairs. The host adds
     * ts, level, job, run_id, plugin and src=plugin, and quotes values as
     * needed. */
    jh_log(ctx, JH_LOG_INFO, "hello", JH_STR("greeting", greeting), JH_STR("name", name));
    return JH_OK;
}

/* The descriptor the host looks for. No init, check or shutdown: nothing to
 * set up, and a string cannot be wrong. */
JH_PLUGIN(.name = "hello",
          .version = "1.1.0",
          .description = "logs a greeting on every run (a heartbeat)",
          .params = hello_params,
          .run = hello_run);
