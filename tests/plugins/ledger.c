/*
 * Fixture "ledger": appends one line per run to the file `path`: the
 * job's `tag`, the firing's nominal time (ns), the fencing token, the
 * process id. One write(2) with O_APPEND, so the runs of several daemons
 * on one machine land whole in one file: what the cluster tests count to
 * prove every firing ran exactly once. Sleeps `hold` (default 0) before
 * returning, for runs that are in flight when a node dies.
 */
#include <jobhost/plugin.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

static const struct jh_param_spec ledger_params[] = {
    JH_PARAM("path", JH_TYPE_STRING, JH_REQUIRED, NULL, "the file to append to"),
    JH_PARAM("tag", JH_TYPE_STRING, 0, "-", "what the line names the job by"),
    JH_PARAM("hold", JH_TYPE_DURATION, 0, "0s", "how long the run lasts"),
    JH_PARAMS_END,
};

static int ledger_run(jh_ctx *ctx)
{
    const struct jh_run_info *info = jh_get_run_info(ctx);
    const char *path = jh_param(ctx, "path"), *tag = jh_param(ctx, "tag");
    int64_t hold = 0;
    char line[512];
    int fd, n;

    (void)jh_param_duration(ctx, "hold", &hold); /* declared with a default */
    n = snprintf(line, sizeof(line), "%s %" PRId64 " %" PRIu64 " %d\n", tag ? tag : "-",
                 info->scheduled_ns, JH_RUN_INFO_HAS(info, fencing_token) ? info->fencing_token : 0,
                 (int)getpid());
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n) {
        jh_set_error(ctx, "cannot append to the ledger");
        if (fd >= 0)
            close(fd);
        return JH_FAIL;
    }
    close(fd);
    if (hold > 0 && jh_sleep_ns(ctx, hold) < 0)
        return JH_CANCELLED;
    return JH_OK;
}

JH_PLUGIN(.name = "ledger", .version = "1.0.0",
          .description = "test fixture: appends each run's firing to a file",
          .params = ledger_params, .run = ledger_run);
