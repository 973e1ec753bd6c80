/*
 * Fixture "identity": says who runs it and from what it was loaded, in one
 * record `identity`: uid, euid, gid, egid, groups (the supplementary ones,
 * comma-separated), HOME, the process's name (jobhost or jobhost-worker)
 * and loaded_from, the file the dynamic linker mapped this code from
 * (dladdr): a /proc/self/fd/N image, never the plugin's own path.
 */
#define _GNU_SOURCE /* dladdr */
#include <jobhost/plugin.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int identity_run(jh_ctx *ctx)
{
    gid_t groups[64];
    char list[64 * 12] = "", name[17] = "";
    int n = getgroups(64, groups);
    size_t len = 0;
    Dl_info info;
    const char *from = "?";

    for (int i = 0; i < n && len + 12 < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%u", i ? "," : "",
                                (unsigned)groups[i]);
    if (dladdr((void *)identity_run, &info) && info.dli_fname)
        from = info.dli_fname;
    prctl(PR_GET_NAME, name, 0, 0, 0);
    jh_log(ctx, JH_LOG_INFO, "identity", JH_UINT("uid", getuid()), JH_UINT("euid", geteuid()),
           JH_UINT("gid", getgid()), JH_UINT("egid", getegid()), JH_STR("groups", list),
           JH_STR("home", getenv("HOME") ? getenv("HOME") : ""), JH_STR("process", name),
           JH_STR("loaded_from", from));
    return JH_OK;
}

JH_PLUGIN(.name = "identity", .version = "1.0.0",
          .description = "test fixture: who runs it, loaded from what", .run = identity_run);
