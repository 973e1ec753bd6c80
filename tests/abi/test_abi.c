/*
 * test_abi — plugins built against other releases of the SDK header, loaded
 * by this host: the loader's half of the ABI promise. The fixtures in
 * tests/abi/fixtures/ are built against two headers that tests/abi/mkheaders.py
 * generates from sdk/include/jobhost/plugin.h on every build:
 *   - an older SDK (no jh_get_run_info): old_sdk loads and runs;
 *   - a newer SDK (jh_future_call, and an on_reload descriptor field in a
 *     reserved slot): new_sdk_old_calls, which uses neither, loads and runs;
 *     new_sdk_new_call is refused naming jh_future_call; new_sdk_new_field
 *     is refused for the slot it sets.
 * And the current header against the current host: every call it declares
 * is one the host has (a function here uses them all, and plugin_bind must
 * find every one).
 *
 * The fixtures' records are read back from stderr, where the log module
 * writes before log_setup (as test_loader does). Runs from the repository
 * root, after `make`. Single-threaded.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "core/hostapi.h"
#include "core/manifest.h"
#include "core/plugin.h"
#include "cu_main.h"
#include "lib/util.h"

#define FIXTURE_DIR "build/abi/plugins"

static const char *fixture_dir(char *buf, size_t len)
{
    char cwd[PATH_MAX];

    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    sfmt(buf, len, "%s/%s", cwd, FIXTURE_DIR);
    return buf;
}

static int load(const char *name, struct plugin **p, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct plugin_load_opts opts = {.plugin_dir = fixture_dir(dir, sizeof(dir))};

    return plugin_load(&opts, name, p, err, errlen);
}

/* Runs the plugin once as job "abi" and returns what it wrote to stderr
 * (free it). */
static char *run_captured(struct plugin *p, int *result)
{
    struct manifest_job job = {.id = "abi", .log_level = -1};
    struct run_ctx rc;
    char path[] = "/tmp/jh-abi-XXXXXX";
    struct buf b = {0};
    char data[4096];
    ssize_t n;
    int fd = mkstemp(path), saved;

    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    dup2(fd, 2);
    hostapi_bare_ctx(&rc, p, &job, "0000000000000001", false, 0);
    *result = p->desc->run(hostapi_ctx(&rc));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, data, sizeof(data))) > 0)
        buf_append(&b, data, (size_t)n);
    close(fd);
    unlink(path);
    return b.data ? b.data : xstrdup("");
}

static void test_older_sdk_loads(void)
{
    struct plugin *p = NULL;
    char err[1024];
    int result = -1;
    char *out;

    CU_ASSERT_EQUAL_FATAL(load("old_sdk", &p, err, sizeof(err)), 0);
    out = run_captured(p, &result);
    CU_ASSERT_EQUAL(result, JH_OK);
    /* a declared default and a typed value, through the current host */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "event=old_sdk job=abi run_id=0000000000000001 "
                                       "plugin=old_sdk src=plugin who=old n=1\n"));
    if (!strstr(out, "who=old"))
        fprintf(stderr, "\ncaptured: [%s]\n", out);
    free(out);
    plugin_unref(p);
}

static void test_newer_sdk_with_older_calls_loads(void)
{
    struct plugin *p = NULL;
    char err[1024];
    int result = -1;
    char *out;

    CU_ASSERT_EQUAL(load("new_sdk_old_calls", &p, err, sizeof(err)), 0);
    if (!p) {
        fprintf(stderr, "\n%s\n", err);
        return;
    }
    out = run_captured(p, &result);
    CU_ASSERT_EQUAL(result, JH_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " src=plugin info_size=40\n"));
    free(out);
    plugin_unref(p);
}

static void test_newer_call_refused(void)
{
    struct plugin *p = (struct plugin *)1;
    char err[1024], want[PATH_MAX + 512], dir[PATH_MAX];

    CU_ASSERT_EQUAL(load("new_sdk_new_call", &p, err, sizeof(err)), -ENOSYS);
    CU_ASSERT_PTR_NULL(p);
    sfmt(want, sizeof(want),
         "%s/new_sdk_new_call.so: uses a host call this host does not have: jh_future_call "
         "(built against a newer SDK: upgrade jobhost, or rebuild the plugin against this "
         "host's SDK)",
         fixture_dir(dir, sizeof(dir)));
    ASSERT_STR(err, want);
}

static void test_newer_field_refused(void)
{
    struct plugin *p = (struct plugin *)1;
    char err[1024], want[PATH_MAX + 512], dir[PATH_MAX];

    CU_ASSERT_EQUAL(load("new_sdk_new_field", &p, err, sizeof(err)), -EPROTO);
    CU_ASSERT_PTR_NULL(p);
    sfmt(want, sizeof(want),
         "%s/new_sdk_new_field.so: descriptor sets reserved field 0, which this host does not "
         "know (built against a newer SDK? upgrade jobhost)",
         fixture_dir(dir, sizeof(dir)));
    ASSERT_STR(err, want);
}

/* Every host call of the current header, used once, so that each leaves its
 * record in this binary's jh_imports section. Never called: only the
 * records matter. External, so the compiler keeps it. */
void abi_every_call(jh_ctx *ctx);
void abi_every_call(jh_ctx *ctx)
{
    int64_t i;
    uint64_t u;
    bool b;
    const char *name;

    jh_log(ctx, JH_LOG_INFO, "x");
    (void)jh_log_enabled(ctx, JH_LOG_INFO);
    jh_set_error(ctx, "x");
    jh_param_error(ctx, "x", "y");
    (void)jh_param_kind(ctx, "x");
    (void)jh_param(ctx, "x");
    (void)jh_param_int(ctx, "x", &i);
    (void)jh_param_bool(ctx, "x", &b);
    (void)jh_param_duration(ctx, "x", &i);
    (void)jh_param_size(ctx, "x", &u);
    (void)jh_param_len(ctx, "x");
    (void)jh_param_at(ctx, "x", 0, &name);
    (void)jh_param_count(ctx);
    (void)jh_param_key(ctx, 0);
    (void)jh_dry_run(ctx);
    (void)jh_cancelled(ctx);
    (void)jh_time_left_ns(ctx);
    (void)jh_sleep_ns(ctx, 0);
    (void)jh_job_id(ctx);
    (void)jh_run_id(ctx);
    (void)jh_get_run_info(ctx);
    (void)jh_state(ctx);
    (void)jh_parse_duration(ctx, "1s", &i);
}

static void test_header_matches_host(void)
{
    static const struct jh_plugin desc = {.abi_version = JH_ABI_VERSION,
                                          .size = sizeof(struct jh_plugin),
                                          .imports = JH_IMPORTS_BEGIN,
                                          .imports_end = JH_IMPORTS_END};
    size_t n = 0;
    char err[1024];

    for (const struct jh_import *it = desc.imports; it < desc.imports_end; it++)
        n += it->name != NULL;
    CU_ASSERT_EQUAL(n, 23); /* abi_every_call's calls: a new call belongs there too */
    CU_ASSERT_EQUAL(plugin_bind(&desc, err, sizeof(err)), 0);
    for (const struct jh_import *it = desc.imports; it < desc.imports_end; it++) {
        if (it->name && it->fn != hostapi_lookup(it->name)) {
            fprintf(stderr, "\n%s not bound\n", it->name);
            CU_FAIL("a host call of the header is not bound");
        }
    }
    CU_ASSERT_PTR_NULL(hostapi_lookup("jh_future_call"));
}

static const struct cu_test abi_tests[] = {
    {"a plugin built against an older SDK loads", test_older_sdk_loads},
    {"a newer SDK's plugin using older calls loads", test_newer_sdk_with_older_calls_loads},
    {"a call this host lacks is refused, named", test_newer_call_refused},
    {"a descriptor field this host lacks is refused", test_newer_field_refused},
    {"every call of the header is the host's", test_header_matches_host},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"abi", abi_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
