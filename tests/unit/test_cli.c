/*
 * test_cli — the jobhost command line, run as a real process: `check` (with
 * every job's params held to its plugin's declarations), `run-once`,
 * `describe`, `next`, `--help`, `--version` and usage errors, and the corpus
 * of bad manifests in tests/manifests/bad/ (each file's first line says the
 * error `jobhost check` must print first).
 *
 * The binary is $JOBHOST when set (the sanitizer runs point it at their own
 * build), else host/jobhost; the test runs from the repository root. Each
 * command is started with posix_spawn, its stdout and stderr read through
 * pipes, and killed if it runs past a timeout, so a hang fails the test
 * instead of blocking the suite.
 *
 * Manifests are written to a fresh directory under /tmp; they name an
 * absolute plugin_dir (tests/plugins or plugins of this checkout), turn HTTP
 * and syslog off, so no free port and no syslog daemon are needed.
 *
 * Single-threaded.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cu_main.h"

/* What the loader says of tests/plugins/bad_abi.so, an ABI 1 plugin. */
#define BAD_ABI_WHY                                                                              \
    "ABI version mismatch: plugin was built for ABI 1, this host speaks ABI 2: rebuild it "      \
    "against this jobhost's SDK (README: \"Moving a plugin to ABI 2\"), e.g. cc -shared -fPIC " \
    "-fvisibility=hidden -Wall -Wextra $(pkg-config --cflags jobhost) -Wl,-z,defs -o "           \
    "bad_abi.so bad_abi.c"
#include "lib/util.h"

extern char **environ;

#ifndef TIMEOUT_S
#define TIMEOUT_S 60 /* seconds a command may take; sanitizer builds are slow */
#endif
#define CORPUS_DIR "tests/manifests/bad"

/* --- running the binary -------------------------------------------------- */

struct result {
    int status;   /* exit code; 128 + signal when killed; -1 on timeout */
    char *out;    /* stdout, NUL-terminated */
    char *err;    /* stderr */
};

static const char *jobhost(void)
{
    const char *p = getenv("JOBHOST");
    return p && *p ? p : "host/jobhost";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs jobhost with args (NULL-terminated, without argv[0]). */
static void run(struct result *r, const char *const *args)
{
    const char *argv[32];
    int outp[2], errp[2];
    posix_spawn_file_actions_t fa;
    struct buf out = {0}, err = {0};
    pid_t pid;
    size_t n = 0;
    int status = 0;
    bool timed_out = false;

    argv[n++] = jobhost();
    for (const char *const *a = args; *a && n < ARRAY_SIZE(argv) - 1; a++)
        argv[n++] = *a;
    argv[n] = NULL;

    CU_ASSERT_FATAL(pipe2(outp, O_CLOEXEC) == 0 && pipe2(errp, O_CLOEXEC) == 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(outp[1]);
    close(errp[1]);
    if (rc != 0) {
        fprintf(stderr, "\ncannot start %s: %s\n", argv[0], strerror(rc));
        close(outp[0]);
        close(errp[0]);
        r->status = -2;
        r->out = xstrdup("");
        r->err = xstrdup("");
        CU_FAIL("posix_spawn failed");
        return;
    }

    int64_t deadline = now_ms() + TIMEOUT_S * 1000;
    struct pollfd pfd[2] = {{.fd = outp[0], .events = POLLIN}, {.fd = errp[0], .events = POLLIN}};
    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pfd, 2, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            char data[4096];
            ssize_t got;
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            got = read(pfd[i].fd, data, sizeof(data));
            if (got > 0) {
                buf_append(i == 0 ? &out : &err, data, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        r->status = -1;
    else if (WIFEXITED(status))
        r->status = WEXITSTATUS(status);
    else
        r->status = 128 + WTERMSIG(status);
    r->out = out.data ? out.data : xstrdup("");
    r->err = err.data ? err.data : xstrdup("");
    if (timed_out) {
        fprintf(stderr, "\n%s timed out after %d s\n", argv[0], TIMEOUT_S);
        CU_FAIL("command timed out");
    }
}

#define RUN(r, ...) run((r), (const char *const[]){__VA_ARGS__, NULL})

static void result_free(struct result *r)
{
    free(r->out);
    free(r->err);
}

/* Prints a command's output when an expectation failed, to make the failure
 * readable. */
static void dump(const char *what, const struct result *r)
{
    fprintf(stderr, "\n--- %s: status %d\n--- stdout:\n%s--- stderr:\n%s---\n", what, r->status,
            r->out, r->err);
}

/* Is `line` one of the lines of text? */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

/* --- temporary manifests --------------------------------------------------- */

static char tmpdir[64];
static char fixture_dir[PATH_MAX]; /* <cwd>/tests/plugins */
static char shipped_dir[PATH_MAX]; /* <cwd>/plugins */

static void setup(void)
{
    char cwd[PATH_MAX];

    if (tmpdir[0])
        return;
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    sfmt(fixture_dir, sizeof(fixture_dir), "%s/tests/plugins", cwd);
    sfmt(shipped_dir, sizeof(shipped_dir), "%s/plugins", cwd);
    sfmt(tmpdir, sizeof(tmpdir), "/tmp/jh-cli-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Writes <tmpdir>/<name> with the standard host section (5 lines: the jobs
 * start on line 6) for plugin_dir, then `jobs`. Returns the path in path. */
static void manifest(char *path, size_t len, const char *name, const char *plugin_dir,
                     const char *jobs)
{
    struct buf b = {0};

    setup();
    sfmt(path, len, "%s/%s", tmpdir, name);
    buf_printf(&b,
               "host:\n"
               "  plugin_dir: %s\n"
               "  http: {enabled: false}\n"
               "  log: {syslog: {enabled: false}}\n"
               "jobs:\n"
               "%s",
               plugin_dir, jobs);
    write_file(path, b.data);
    buf_free(&b);
}

/* --- check ------------------------------------------------------------------ */

/* config/jobhost.yaml is the user's to edit (the tutorial adds a job,
 * a second instance moves the port): whatever it holds, it checks clean. */
static void test_check_ok(void)
{
    static const char want[] = "config/jobhost.yaml: ok (";
    struct result r;

    RUN(&r, "check", "-c", "config/jobhost.yaml");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(strncmp(r.out, want, strlen(want)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, " plugin"));
    if (r.status != 0 || strncmp(r.out, want, strlen(want)) != 0)
        dump("check config/jobhost.yaml", &r);
    result_free(&r);
}

/* A manifest error and a plugin that cannot load are reported by one
 * check, in document order; warnings come after them and do not fail. */
static void test_check_one_pass(void)
{
    char path[PATH_MAX], want[PATH_MAX + 256], line[1024];
    struct result r;

    manifest(path, sizeof(path), "pass.yaml", fixture_dir,
             "  - id: missing\n    plugin: no_such_plugin\n"
             "  - id: bad\n    plugin: ok\n    trigger: {cron: \"61 * * * *\"}\n"
             "  - id: never\n    plugin: ok\n    trigger: {cron: \"0 0 31 2 *\"}\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(want, sizeof(want), "%s:7:13: jobs[0].plugin: ", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 0, line, sizeof(line)), want, strlen(want)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "no such plugin file"));
    sfmt(want, sizeof(want), "%s:10:21: jobs[1].trigger.cron: field 1 (minute)", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 1, line, sizeof(line)), want, strlen(want)), 0);
    sfmt(want, sizeof(want), "%s:13:21: warning: jobs[2].trigger.cron: never fires", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 2, line, sizeof(line)), want, strlen(want)), 0);
    sfmt(want, sizeof(want), "%s: 2 errors, 1 warning", path);
    CU_ASSERT(has_line(r.err, want));
    if (!has_line(r.err, want))
        dump("check with a manifest error and a missing plugin", &r);
    result_free(&r);
}

/* Valid, but not what anyone means: warned about, exit 0. */
static void test_check_warnings(void)
{
    char path[PATH_MAX], want[PATH_MAX + 256], line[1024];
    struct result r;

    manifest(path, sizeof(path), "warn.yaml", fixture_dir,
             "  - id: feb31\n    plugin: ok\n    trigger: {cron: \"0 0 31 2 *\"}\n"
             "  - id: leap\n    plugin: ok\n    trigger: {cron: \"0 0 29 2 *\"}\n"
             "  - id: past\n    plugin: ok\n    trigger: {date: \"2001-02-03T04:05:06Z\"}\n"
             "  - id: ended\n    plugin: ok\n    trigger: {interval: 1h, end: \"2002-01-01T00:00:00Z\"}\n"
             "  - id: loud\n    plugin: ok\n    log_level: debug\n"
             "  - id: quiet\n    plugin: ok\n    log_level: warn\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    sfmt(want, sizeof(want), "%s: ok (6 jobs, 1 plugin, 4 warnings)\n", path);
    ASSERT_STR(r.out, want);
    sfmt(want, sizeof(want), "%s:8:21: warning: jobs[0].trigger.cron: never fires", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 0, line, sizeof(line)), want, strlen(want)), 0);
    sfmt(want, sizeof(want),
         "%s:14:21: warning: jobs[2].trigger.date: 2001-02-03T04:05:06Z is in the past", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 1, line, sizeof(line)), want, strlen(want)), 0);
    sfmt(want, sizeof(want),
         "%s:17:34: warning: jobs[3].trigger.end: 2002-01-01T00:00:00Z is in the past", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 2, line, sizeof(line)), want, strlen(want)), 0);
    sfmt(want, sizeof(want),
         "%s:18:5: warning: jobs[4].log_level: debug is louder than host.log.level (info)", path);
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 3, line, sizeof(line)), want, strlen(want)), 0);
    CU_ASSERT_PTR_NULL(strstr(r.err, "leap"));
    CU_ASSERT_PTR_NULL(strstr(r.err, "jobs[1]"));
    CU_ASSERT_PTR_NULL(strstr(r.err, "jobs[5]"));
    if (r.status != 0)
        dump("check with warnings", &r);
    result_free(&r);
}

static void test_check_bad(void)
{
    static const struct {
        const char *what;
        bool fixtures; /* plugin_dir: tests/plugins, else plugins */
        const char *jobs;
        const char *line; /* after "<path>:"; %1$s is the plugin dir */
        bool first;       /* it must be stderr's first line */
    } cases[] = {
        {"bad cron", true, "  - id: a\n    plugin: ok\n    trigger: {cron: \"0 3 * 13 *\"}\n",
         "8:21: jobs[0].trigger.cron: field 4 (month): value 13 out of range 1-12", true},
        {"unknown key", true, "  - id: a\n    plugin: ok\n    tigger: {interval: 1s}\n",
         "8:5: jobs[0].tigger: unknown key (did you mean \"trigger\"?)", true},
        {"missing plugin file", true, "  - id: a\n    plugin: nosuch\n",
         "7:13: jobs[0].plugin: %s/nosuch.so: no such plugin file (is the plugin built and in "
         "plugin_dir?)",
         false},
        {"bad ABI", true, "  - id: a\n    plugin: bad_abi\n",
         "7:13: jobs[0].plugin: %s/bad_abi.so: " BAD_ABI_WHY,
         false},
        {"missing descriptor", true, "  - id: a\n    plugin: ok\n  - id: b\n    plugin: no_symbol\n",
         "9:13: jobs[1].plugin: %s/no_symbol.so: missing descriptor symbol jh_plugin_descriptor "
         "(export one with JH_PLUGIN(...) from <jobhost/plugin.h>)",
         false},
        {"init failed", true, "  - id: a\n    plugin: init_fail\n",
         "7:13: jobs[0].plugin: %s/init_fail.so: init failed: fixture init refused", false},
        {"plugin outside plugin_dir", false, "  - id: a\n    plugin: ../tests/plugins/ok\n",
         "7:13: jobs[0].plugin: \"../tests/plugins/ok\" is not a plugin name (letters, digits, '_' "
         "and '-'; it names <plugin_dir>/NAME.so)",
         true},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char path[PATH_MAX], want[2048], fmt[1024], summary[PATH_MAX + 32], first[2048];
        const char *dir = NULL;
        struct result r;

        manifest(path, sizeof(path), "bad.yaml", cases[i].fixtures ? fixture_dir : shipped_dir,
                 cases[i].jobs);
        dir = cases[i].fixtures ? fixture_dir : shipped_dir;
        sfmt(fmt, sizeof(fmt), "%%s:%s", cases[i].line);
        sfmt(want, sizeof(want), fmt, path, dir);
        sfmt(summary, sizeof(summary), "%s: 1 error", path);
        RUN(&r, "check", "-c", path);
        CU_ASSERT_EQUAL(r.status, 1);
        ASSERT_STR(r.out, "");
        bool ok = cases[i].first ? strcmp(line_of(r.err, 0, first, sizeof(first)), want) == 0
                                 : has_line(r.err, want);
        CU_ASSERT(ok);
        CU_ASSERT(has_line(r.err, summary));
        if (!ok || r.status != 1) {
            fprintf(stderr, "\n[%s] want: %s", cases[i].what, want);
            dump(cases[i].what, &r);
        }
        result_free(&r);
    }
}

/* Every problem of one manifest is printed, and counted. */
static void test_check_many(void)
{
    char path[PATH_MAX], want[2048];
    struct result r;

    manifest(path, sizeof(path), "many.yaml", fixture_dir,
             "  - id: a\n    plugin: bad_abi\n  - id: b\n    plugin: no_run\n  - id: c\n    plugin: ok\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(want, sizeof(want), "%s:7:13: jobs[0].plugin: %s/bad_abi.so: " BAD_ABI_WHY,
         path, fixture_dir);
    CU_ASSERT(has_line(r.err, want));
    sfmt(want, sizeof(want), "%s:9:13: jobs[1].plugin: %s/no_run.so: descriptor has no run entry point",
         path, fixture_dir);
    CU_ASSERT(has_line(r.err, want));
    sfmt(want, sizeof(want), "%s: 2 errors", path);
    CU_ASSERT(has_line(r.err, want));
    result_free(&r);

    /* a plugin that cannot be loaded is tried once and told once, at its
     * first job, however many jobs name it */
    manifest(path, sizeof(path), "many.yaml", fixture_dir,
             "  - id: a\n    plugin: no_run\n  - id: b\n    plugin: ok\n"
             "  - id: c\n    plugin: no_run\n  - id: d\n    plugin: no_run\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(want, sizeof(want),
         "%s:7:13: jobs[0].plugin: %s/no_run.so: descriptor has no run entry point (and 2 more "
         "jobs use it)",
         path, fixture_dir);
    CU_ASSERT(has_line(r.err, want));
    sfmt(want, sizeof(want), "%s: 1 error", path);
    CU_ASSERT(has_line(r.err, want));
    result_free(&r);

    /* manifest errors: three at once, in document order */
    manifest(path, sizeof(path), "many.yaml", fixture_dir,
             "  - id: a\n    plugin: ok\n    timeout: 5\n  - id: a\n    plugin: ok\n    enabled: nope\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    char line[2048];
    sfmt(want, sizeof(want), "%s:8:14: jobs[0].timeout: duration \"5\" needs a unit (ms, s, m, h, d), "
                             "e.g. \"5s\"", path);
    ASSERT_STR(line_of(r.err, 0, line, sizeof(line)), want);
    sfmt(want, sizeof(want), "%s:9:9: jobs[1].id: duplicate job id \"a\" (also jobs[0], line 6)", path);
    ASSERT_STR(line_of(r.err, 1, line, sizeof(line)), want);
    sfmt(want, sizeof(want), "%s:11:14: jobs[1].enabled: expected true or false, got \"nope\"", path);
    ASSERT_STR(line_of(r.err, 2, line, sizeof(line)), want);
    sfmt(want, sizeof(want), "%s: 3 errors", path);
    ASSERT_STR(line_of(r.err, 3, line, sizeof(line)), want);
    result_free(&r);
}

static void test_check_missing_file(void)
{
    struct result r;
    char path[PATH_MAX], want[PATH_MAX + 64], line[1024];

    setup();
    sfmt(path, sizeof(path), "%s/none.yaml", tmpdir);
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    ASSERT_STR(line_of(r.err, 0, line, sizeof(line)), want);
    result_free(&r);
}

/* StrictModes end to end, and the documented way to relax it. */
static void test_check_permissions(void)
{
    char pdir[PATH_MAX], src[PATH_MAX + 16], dst[PATH_MAX + 16], path[PATH_MAX], want[4096];
    char jobs[256];
    struct result r;
    FILE *in, *out;
    char data[8192];
    size_t n;

    setup();
    sfmt(pdir, sizeof(pdir), "%s/plugins", tmpdir);
    CU_ASSERT_EQUAL_FATAL(mkdir(pdir, 0755), 0);
    sfmt(src, sizeof(src), "%s/ok.so", fixture_dir);
    sfmt(dst, sizeof(dst), "%s/ok.so", pdir);
    in = fopen(src, "rb");
    out = fopen(dst, "wb");
    CU_ASSERT_FATAL(in && out);
    while ((n = fread(data, 1, sizeof(data), in)) > 0)
        fwrite(data, 1, n, out);
    fclose(in);
    fclose(out);
    CU_ASSERT_EQUAL(chmod(dst, 0755), 0);
    CU_ASSERT_EQUAL(chmod(pdir, 0777), 0);

    manifest(path, sizeof(path), "perm.yaml", pdir, "  - id: a\n    plugin: ok\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(want, sizeof(want),
         "%s:7:13: jobs[0].plugin: %s: refusing to load: its directory is writable by others (mode "
         "0777; chmod go-w, or set host.strict_permissions: false)",
         path, dst);
    CU_ASSERT(has_line(r.err, want));
    if (!has_line(r.err, want))
        dump("check with a 0777 plugin dir", &r);
    result_free(&r);

    /* host.strict_permissions: false lets it load */
    sfmt(jobs, sizeof(jobs), "  - id: a\n    plugin: ok\n");
    {
        struct buf b = {0};
        buf_printf(&b,
                   "host:\n  plugin_dir: %s\n  strict_permissions: false\n  http: {enabled: false}\n"
                   "jobs:\n%s",
                   pdir, jobs);
        write_file(path, b.data);
        buf_free(&b);
    }
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status != 0)
        dump("check with strict_permissions: false", &r);
    result_free(&r);

    CU_ASSERT_EQUAL(chmod(pdir, 0755), 0);
    unlink(dst);
    rmdir(pdir);
    unlink(path);
}

/* --- run-once ------------------------------------------------------------------ */

/* Checks stdout is one line "job=ID run_id=<16 hex> result=RESULT duration_ms=N[ error=...]". */
static bool result_line_ok(const char *out, const char *id, const char *result)
{
    char head[256];
    const char *p = out;
    size_t hlen;

    sfmt(head, sizeof(head), "job=%s run_id=", id);
    hlen = strlen(head);
    if (strncmp(p, head, hlen) != 0)
        return false;
    p += hlen;
    for (int i = 0; i < 16; i++, p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    sfmt(head, sizeof(head), " result=%s duration_ms=", result);
    hlen = strlen(head);
    if (strncmp(p, head, hlen) != 0)
        return false;
    p += hlen;
    char *end;
    double ms = strtod(p, &end);
    if (end == p || ms < 0)
        return false;
    /* one line, ending in a newline */
    return strchr(end, '\n') && strchr(end, '\n')[1] == '\0';
}

static void test_run_once_ok(void)
{
    char path[PATH_MAX];
    struct result r;

    manifest(path, sizeof(path), "run.yaml", fixture_dir,
             "  - id: good\n    plugin: ok\n  - id: bad\n    plugin: fail\n"
             "  - id: broken\n    plugin: bad_abi\n");
    RUN(&r, "run-once", "good", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(result_line_ok(r.out, "good", "success"));
    if (r.status != 0 || !result_line_ok(r.out, "good", "success"))
        dump("run-once good", &r);
    result_free(&r);

    RUN(&r, "run-once", "bad", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT(result_line_ok(r.out, "bad", "failure"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, " error=\"fixture failure\"\n"));
    if (r.status != 1 || !strstr(r.out, "result=failure"))
        dump("run-once bad", &r);
    result_free(&r);

    /* the job whose plugin is broken cannot run; the others could */
    RUN(&r, "run-once", "broken", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    ASSERT_STR(r.out, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "ABI version mismatch"));
    result_free(&r);
}

static void test_run_once_unknown_job(void)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct result r;

    manifest(path, sizeof(path), "run.yaml", fixture_dir, "  - id: good\n    plugin: ok\n");
    /* a job the manifest lacks is a usage error, as a missing one is */
    RUN(&r, "run-once", "nope", "-c", path);
    CU_ASSERT_EQUAL(r.status, 2);
    ASSERT_STR(r.out, "");
    sfmt(want, sizeof(want), "%s: no job with id \"nope\" (jobs: good)", path);
    CU_ASSERT(has_line(r.err, want));
    if (!has_line(r.err, want))
        dump("run-once nope", &r);
    result_free(&r);

    /* a manifest that does not parse: its error, exit 1 */
    manifest(path, sizeof(path), "run.yaml", fixture_dir, "  - id: good\n    plugin: ok\n    colour: red\n");
    RUN(&r, "run-once", "good", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    /* (the list of keys that follows grows with the schema: compare the head) */
    sfmt(want, sizeof(want), "%s:8:5: jobs[0].colour: unknown key (expected one of: id, plugin, ",
         path);
    char first[2048];
    CU_ASSERT_EQUAL(strncmp(line_of(r.err, 0, first, sizeof(first)), want, strlen(want)), 0);
    if (strncmp(first, want, strlen(want)) != 0)
        dump("run-once on a bad manifest", &r);
    result_free(&r);
}

/* A run started by hand writes its records where the daemon's go (the
 * manifest's file here), and to stderr. */
static void test_run_once_logs_to_sinks(void)
{
    char path[PATH_MAX], log_path[PATH_MAX], text[8192];
    struct result r;
    struct buf b = {0};
    FILE *f;
    size_t n;

    setup();
    sfmt(path, sizeof(path), "%s/sinks.yaml", tmpdir);
    sfmt(log_path, sizeof(log_path), "%s/jobhost.log", tmpdir);
    buf_printf(&b,
               "host:\n"
               "  plugin_dir: %s\n"
               "  http: {enabled: false}\n"
               "  log: {syslog: {enabled: false}, file: {path: %s}}\n"
               "jobs:\n"
               "  - id: good\n    plugin: ok\n",
               fixture_dir, log_path);
    write_file(path, b.data);
    buf_free(&b);

    RUN(&r, "run-once", "good", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "event=job_finished job=good"));
    f = fopen(log_path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "event=job_started job=good"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "event=job_finished job=good"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "trigger=cli"));
    if (r.status != 0 || !strstr(text, "event=job_finished job=good"))
        dump("run-once with a file sink", &r);
    result_free(&r);
    unlink(log_path);
    unlink(path);
}

/* exec in dry-run changes nothing; without it the command runs. */
static void test_run_once_dry_run(void)
{
    char path[PATH_MAX], marker[PATH_MAX], jobs[PATH_MAX + 256];
    struct result r;
    struct stat st;

    setup();
    sfmt(marker, sizeof(marker), "%s/created", tmpdir);
    sfmt(jobs, sizeof(jobs), "  - id: touch\n    plugin: exec\n    params:\n      command: \"touch %s\"\n",
         marker);
    manifest(path, sizeof(path), "exec.yaml", shipped_dir, jobs);

    RUN(&r, "run-once", "touch", "-c", path, "--dry-run");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(result_line_ok(r.out, "touch", "dry_run"));
    CU_ASSERT_NOT_EQUAL(stat(marker, &st), 0);
    if (r.status != 0 || !result_line_ok(r.out, "touch", "dry_run"))
        dump("run-once --dry-run", &r);
    result_free(&r);

    RUN(&r, "run-once", "touch", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(result_line_ok(r.out, "touch", "success"));
    CU_ASSERT_EQUAL(stat(marker, &st), 0);
    result_free(&r);
    unlink(marker);
}

/* --- declared parameters ----------------------------------------------------- */

/* Every job's params against its plugin's declarations, as `check` (and
 * start-up, and reload) sees them: misspelled, mistyped and missing ones,
 * and the plugins' own checks, each at its exact place. */
static void test_check_params(void)
{
    static const char jobs[] =
        "  - id: prune\n"                         /* 6 */
        "    plugin: file_prune\n"
        "    params:\n"                           /* 8 */
        "      dir: /var/tmp/reports\n"
        "      max_agee: 14d\n"                    /* 10 */
        "      recursive: maybe\n"
        "  - id: cmd\n"                           /* 12 */
        "    plugin: exec\n"
        "    params:\n"
        "      command: [ls, -l]\n"                /* 15 */
        "      timeout: soon\n"
        "  - id: hi\n"
        "    plugin: hello\n"
        "    params: {greting: hey}\n"             /* 19 */
        "  - id: bare\n"                          /* 20 */
        "    plugin: file_prune\n"
        "  - id: rel\n"
        "    plugin: file_prune\n"
        "    params: {dir: tmp/reports, max_age: 0s}\n" /* 24 */
        "  - id: none\n"
        "    plugin: exec\n"
        "    params: {cwd: /tmp}\n"                /* 27 */
        "  - id: fine\n"
        "    plugin: exec\n"
        "    params: {argv: [ls], env: {LANG: C}, timeout: 5s}\n";
    static const char *const want[] = {
        "8:5: jobs[0].params: missing required parameter \"max_age\" (duration: files last "
        "modified longer ago than this are deleted)",
        "10:7: jobs[0].params.max_agee: unknown parameter (did you mean \"max_age\"?)",
        "11:18: jobs[0].params.recursive: expected true or false, got \"maybe\"",
        "15:16: jobs[1].params.command: expected a string, got a list",
        "16:16: jobs[1].params.timeout: invalid duration \"soon\" (expected e.g. 500ms, 10s, 5m, "
        "1h30m, 14d)",
        "19:14: jobs[2].params.greting: unknown parameter (did you mean \"greeting\"?)",
        "20:5: jobs[3].params: missing required parameter \"dir\" (string: absolute path of the "
        "directory to prune (not /))",
        "20:5: jobs[3].params: missing required parameter \"max_age\" (duration: files last "
        "modified longer ago than this are deleted)",
        "24:19: jobs[4].params.dir: must be an absolute path",
        "24:41: jobs[4].params.max_age: must be longer than 0s",
        "27:5: jobs[5].params: missing parameter: `command` (a shell command line) or `argv` (a "
        "list: program and arguments)",
    };
    char path[PATH_MAX], line[PATH_MAX + 256], got[2048], total[PATH_MAX + 32];
    struct result r;

    manifest(path, sizeof(path), "params.yaml", shipped_dir, jobs);
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        sfmt(line, sizeof(line), "%s:%s", path, want[i]);
        ASSERT_STR(line_of(r.err, i, got, sizeof(got)), line);
    }
    sfmt(total, sizeof(total), "%s: %zu errors", path, ARRAY_SIZE(want));
    CU_ASSERT(has_line(r.err, total));
    if (!has_line(r.err, total))
        dump("check params.yaml", &r);
    result_free(&r);
}

/* Each declared type, wrong; and the fixture's check on values of the
 * right type. */
static void test_check_param_types(void)
{
    static const char jobs[] =
        "  - id: t\n"
        "    plugin: typed\n"
        "    params:\n"
        "      dir: /srv\n"            /* 9 */
        "      count: many\n"
        "      enabled: maybe\n"
        "      pause: 5\n"
        "      limit: huge\n"
        "      names: x\n"
        "      labels: [a]\n"          /* 15 */
        "  - id: u\n"
        "    plugin: typed\n"
        "    params: {dir: srv, count: 500, enabled: yes, pause: 1m, limit: 2GiB}\n";
    static const char *const want[] = {
        "10:14: jobs[0].params.count: expected a whole number, got \"many\"",
        "11:16: jobs[0].params.enabled: expected true or false, got \"maybe\"",
        "12:14: jobs[0].params.pause: duration \"5\" needs a unit (ms, s, m, h, d), e.g. \"5s\"",
        "13:14: jobs[0].params.limit: invalid size \"huge\" (expected e.g. 512KiB, 10MiB, 1GiB)",
        "14:14: jobs[0].params.names: expected a list, got a scalar",
        "15:15: jobs[0].params.labels: expected a map, got a list",
        "18:19: jobs[1].params.dir: must be an absolute path",
        "18:31: jobs[1].params.count: must be from 1 to 100",
    };
    char path[PATH_MAX], line[PATH_MAX + 256], got[2048];
    struct result r;

    manifest(path, sizeof(path), "params.yaml", fixture_dir, jobs);
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        sfmt(line, sizeof(line), "%s:%s", path, want[i]);
        ASSERT_STR(line_of(r.err, i, got, sizeof(got)), line);
        if (strcmp(got, line) != 0)
            dump("check typed", &r);
    }
    result_free(&r);

    /* the plugin takes none: any parameter is unknown; a C++ plugin checks too */
    manifest(path, sizeof(path), "params.yaml", fixture_dir,
             "  - id: f\n    plugin: fail\n    params: {x: 1}\n"
             "  - id: c\n    plugin: cxx_ok\n    params: {times: 20}\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(line, sizeof(line), "%s:8:14: jobs[0].params.x: unknown parameter (plugin fail takes none)",
         path);
    ASSERT_STR(line_of(r.err, 0, got, sizeof(got)), line);
    sfmt(line, sizeof(line), "%s:11:21: jobs[1].params.times: must be from 1 to 10", path);
    ASSERT_STR(line_of(r.err, 1, got, sizeof(got)), line);
    result_free(&r);
}

/* A job that leaves parameters out runs with the declared defaults; the run
 * sees the run information, the state init made, typed values. */
static void test_run_once_defaults(void)
{
    char path[PATH_MAX];
    struct result r;

    manifest(path, sizeof(path), "params.yaml", fixture_dir,
             "  - id: t\n    plugin: typed\n    timeout: 5s\n    params: {dir: /srv}\n"
             "  - id: c\n    plugin: cxx_ok\n");
    RUN(&r, "run-once", "t", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(result_line_ok(r.out, "t", "success"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, " event=typed job=t run_id="));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, " plugin=typed src=plugin dir=/srv count=3 enabled=true "
                                         "pause=0.01s limit=1048576 names=0 ratio=0.75 "
                                         "info_size=40 trigger_kind=3 scheduled_set=false "
                                         "attempt=1 fencing_token=0 timeout=5s state_ok=true\n"));
    if (!strstr(r.err, "state_ok=true"))
        dump("run-once typed", &r);
    result_free(&r);

    RUN(&r, "run-once", "c", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, " src=plugin greeting=hello state=\"from C++\" i=0 "
                                         "cxx=true half=0.5\n"));
    if (r.status != 0 || !strstr(r.err, "half=0.5"))
        dump("run-once cxx_ok", &r);
    result_free(&r);
}

/* `describe` prints what a plugin declares, as text and as JSON. */
static void test_describe(void)
{
    char path[PATH_MAX], got[2048];
    struct result r;

    manifest(path, sizeof(path), "params.yaml", shipped_dir, "");
    RUN(&r, "describe", "file_prune", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    ASSERT_STR(line_of(r.out, 0, got, sizeof(got)),
               "file_prune 1.1.0: deletes regular files older than max_age matching a pattern");
    CU_ASSERT(has_line(r.out, "  dir        string    required          absolute path of the "
                              "directory to prune (not /)"));
    CU_ASSERT(has_line(r.out, "  pattern    string    default \"*\"       fnmatch(3) pattern "
                              "matched against file names"));
    CU_ASSERT(has_line(r.out, "  recursive  bool      default false     also prune "
                              "subdirectories (links are never followed)"));
    if (r.status != 0 || !has_line(r.out, "parameters:"))
        dump("describe file_prune", &r);
    result_free(&r);

    RUN(&r, "describe", "hello", "-c", path, "--json");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"name\": \"hello\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"abi\": 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"name\": \"greeting\",\n      \"type\": \"string\",\n"
                                         "      \"required\": false,\n      \"default\": \"hello\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"host_calls\": ["));
    result_free(&r);

    RUN(&r, "describe", "nosuch", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "nosuch.so: no such plugin file"));
    result_free(&r);

    RUN(&r, "describe", "-c", path);
    CU_ASSERT_EQUAL(r.status, 2);
    result_free(&r);
}

/* --- next, help, version, usage ------------------------------------------------ */

static void test_next(void)
{
    struct result r;

    RUN(&r, "next", "0 3 * * *", "--count", "3", "--from", "2026-03-27T00:00:00+01:00",
        "--timezone", "Europe/Berlin");
    CU_ASSERT_EQUAL(r.status, 0);
    ASSERT_STR(r.out, "2026-03-27T03:00:00+01:00\n2026-03-28T03:00:00+01:00\n2026-03-29T03:00:00+02:00\n");
    result_free(&r);

    RUN(&r, "next", "0 3 32 * *");
    CU_ASSERT_EQUAL(r.status, 1);
    ASSERT_STR(r.err, "jobhost: \"0 3 32 * *\": field 3 (day of month): value 32 out of range 1-31\n");
    result_free(&r);

    RUN(&r, "next", "@daily", "--timezone", "Mars/Phobos");
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_EQUAL(strncmp(r.err, "jobhost: --timezone: unknown time zone \"Mars/Phobos\"", 51), 0);
    result_free(&r);

    RUN(&r, "next", "@daily", "--from", "yesterday");
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_EQUAL(strncmp(r.err, "jobhost: --from: invalid time \"yesterday\"", 41), 0);
    result_free(&r);

    RUN(&r, "next", "@daily", "--count", "0");
    CU_ASSERT_EQUAL(r.status, 2);
    result_free(&r);
}

static void test_help_version(void)
{
    struct result r;

    RUN(&r, "--version");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(strncmp(r.out, "jobhost ", 8), 0);
    result_free(&r);

    RUN(&r, "--help");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Usage:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "check -c FILE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "run-once JOB -c FILE"));
    ASSERT_STR(r.err, "");
    result_free(&r);
}

static void test_usage_errors(void)
{
    static const struct {
        const char *args[5];
        const char *first; /* stderr's first line */
    } cases[] = {
        {{"--bogus"}, "jobhost: unknown option \"--bogus\""},
        {{"run-once", "-c", "config/jobhost.yaml"}, "jobhost: run-once needs an argument"},
        {{"next"}, "jobhost: next needs an argument"},
        {{"check", "-c"}, "jobhost: option -c needs a value"},
        {{"check", "extra", "-c", "config/jobhost.yaml"}, "jobhost: unexpected argument \"extra\""},
        {{"frobnicate"}, "jobhost: unexpected argument \"frobnicate\""},
        {{"run-once", "a", "b"}, "jobhost: unexpected argument \"b\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct result r;
        char line[1024];

        run(&r, cases[i].args);
        CU_ASSERT_EQUAL(r.status, 2);
        ASSERT_STR(r.out, "");
        ASSERT_STR(line_of(r.err, 0, line, sizeof(line)), cases[i].first);
        CU_ASSERT_EQUAL(strncmp(line_of(r.err, 1, line, sizeof(line)), "Usage: jobhost", 14), 0);
        if (r.status != 2)
            dump(cases[i].args[0], &r);
        result_free(&r);
    }
}

/* --- the corpus of bad manifests ------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_corpus(void)
{
    DIR *d = opendir(CORPUS_DIR);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, failed = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
            names = xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    CU_ASSERT(n >= 25);

    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], head[1024], want[PATH_MAX + 1024], first[2048];
        FILE *f;
        struct result r;

        sfmt(path, sizeof(path), "%s/%s", CORPUS_DIR, names[i]);
        f = fopen(path, "rb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        if (!fgets(head, sizeof(head), f))
            head[0] = '\0';
        fclose(f);
        head[strcspn(head, "\n")] = '\0';
        if (strncmp(head, "# expect: ", 10) != 0) {
            fprintf(stderr, "\n%s: first line is not \"# expect: ...\"\n", path);
            CU_FAIL("corpus file without # expect:");
            continue;
        }
        sfmt(want, sizeof(want), "%s:%s", path, head + 10);
        RUN(&r, "check", "-c", path);
        /* The corpus has no plugin directory: check reports that for the
         * jobs it could load too (same pass), and those lines are not the
         * ones a file is about. */
        size_t k = 0;
        while (line_of(r.err, k, first, sizeof(first))[0] &&
               (strstr(first, ": plugin directory ") || strstr(first, "no such plugin file")))
            k++;
        bool ok = r.status == 1 && strcmp(first, want) == 0;
        CU_ASSERT(ok);
        if (!ok) {
            failed++;
            fprintf(stderr, "\n[%s] status %d\n  want: %s\n  got:  %s\n", names[i], r.status, want,
                    first);
        }
        result_free(&r);
    }
    if (failed)
        fprintf(stderr, "%zu of %zu corpus files failed\n", failed, n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Removes what the tests left in tmpdir (they clean up most as they go). */
/* A manifest in pieces: a plugin error in an included file names that
 * file and the job's index there; run-once finds an included job. */
static void test_check_included(void)
{
    char path[PATH_MAX], dir[PATH_MAX], piece[PATH_MAX], want[2048];
    struct result r;

    manifest(path, sizeof(path), "inc.yaml", fixture_dir,
             "  - id: own\n    plugin: ok\ninclude: [inc.d/*.yaml]\n");
    sfmt(dir, sizeof(dir), "%s/inc.d", tmpdir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    sfmt(piece, sizeof(piece), "%s/a.yaml", dir);
    write_file(piece, "jobs:\n  - id: fine\n    plugin: ok\n  - id: broken\n    plugin: bad_abi\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 1);
    sfmt(want, sizeof(want), "%s:5:13: jobs[1].plugin: %s/bad_abi.so: " BAD_ABI_WHY,
         piece, fixture_dir);
    CU_ASSERT(has_line(r.err, want));
    if (!has_line(r.err, want))
        dump("included plugin error", &r);
    result_free(&r);

    write_file(piece, "jobs:\n  - id: fine\n    plugin: ok\n");
    RUN(&r, "check", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    result_free(&r);
    RUN(&r, "run-once", "fine", "-c", path);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(result_line_ok(r.out, "fine", "success"));
    result_free(&r);
    unlink(piece);
    rmdir(dir);
}

static void test_cleanup(void)
{
    static const char *const left[] = {"bad.yaml",  "many.yaml", "run.yaml",  "exec.yaml",
                                       "created",   "perm.yaml", "inc.yaml",  "pass.yaml",
                                       "warn.yaml", "params.yaml"};
    char path[PATH_MAX];

    if (!tmpdir[0])
        return;
    for (size_t i = 0; i < ARRAY_SIZE(left); i++) {
        sfmt(path, sizeof(path), "%s/%s", tmpdir, left[i]);
        unlink(path);
    }
    CU_ASSERT_EQUAL(rmdir(tmpdir), 0);
    tmpdir[0] = '\0';
}

static const struct cu_test cli_tests[] = {
    {"check config/jobhost.yaml", test_check_ok},
    {"check: manifest and plugin errors in one pass", test_check_one_pass},
    {"check: warnings", test_check_warnings},
    {"check bad manifests", test_check_bad},
    {"check reports every error", test_check_many},
    {"check a missing file", test_check_missing_file},
    {"check plugin permissions", test_check_permissions},
    {"check and run-once with included files", test_check_included},
    {"run-once ok and fail", test_run_once_ok},
    {"run-once unknown job", test_run_once_unknown_job},
    {"run-once --dry-run", test_run_once_dry_run},
    {"run-once writes to the manifest's sinks", test_run_once_logs_to_sinks},
    {"check declared parameters", test_check_params},
    {"check each parameter type", test_check_param_types},
    {"run-once with declared defaults", test_run_once_defaults},
    {"describe", test_describe},
    {"next", test_next},
    {"--help and --version", test_help_version},
    {"usage errors", test_usage_errors},
    {"corpus tests/manifests/bad", test_corpus},
    {"cleanup", test_cleanup},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"cli", cli_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
