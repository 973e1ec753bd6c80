/*
 * test_loader — plugin_load() (host/plugin.c) against the real fixture .so
 * files in tests/plugins/ and the shipped ones in plugins/, built by `make`.
 * Runs from the repository root.
 *
 * Every failure must be one line naming the file and the cause; the tests
 * compare the whole line. Permission tests copy ok.so into a fresh
 * directory under /tmp and change its mode or owner (the tests run as root
 * under `make test`; the ownership cases are skipped otherwise).
 *
 * Whether a .so is still mapped is asked of the dynamic linker with
 * dlopen(RTLD_NOLOAD). The counter fixture's shutdown is observed through
 * the host API: before log_setup() the log module writes records to stderr
 * synchronously, so a test points fd 2 at a file for a moment and reads the
 * records back.
 *
 * Single-threaded.
 */
#include <CUnit/CUnit.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jobhost/plugin.h>

#include "core/hostapi.h"
#include "core/params.h"
#include "core/plugin.h"
#include "cu_main.h"
#include "lib/util.h"

#define TRUST_HINT "(mode %04o; chmod go-w, or set host.strict_permissions: false)"

/* --- helpers -------------------------------------------------------------- */

/* The absolute path of tests/plugins (or plugins). */
static const char *abs_dir(const char *rel, char *buf, size_t len)
{
    char cwd[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    sfmt(buf, len, "%s/%s", cwd, rel);
    return buf;
}

/* Is the plugin of the file at path (<dir>/<name>.so) mapped in this
 * process? The loader maps the sealed image it made of the file, which
 * /proc/self/maps shows as /memfd:jobhost:<name>; the file itself must
 * never be mapped. */
static bool is_loaded(const char *path)
{
    const char *base = strrchr(path, '/');
    char want[300], line[PATH_MAX + 256];
    bool found = false;
    size_t n;
    FILE *f;

    base = base ? base + 1 : path;
    n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0)
        n -= 3;
    sfmt(want, sizeof(want), "/memfd:jobhost:%.*s ", (int)n, base);
    f = fopen("/proc/self/maps", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    while (fgets(line, sizeof(line), f)) {
        found = found || strstr(line, want) != NULL;
        if (strstr(line, path))
            CU_FAIL("the plugin's file itself is mapped");
    }
    fclose(f);
    return found;
}

static void copy_file(const char *src, const char *dst, mode_t mode)
{
    char data[65536];
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ssize_t n;

    CU_ASSERT_FATAL(in >= 0 && out >= 0);
    while ((n = read(in, data, sizeof(data))) > 0)
        CU_ASSERT_EQUAL_FATAL(write(out, data, (size_t)n), n);
    close(in);
    close(out);
    CU_ASSERT_EQUAL_FATAL(chmod(dst, mode), 0);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    CU_ASSERT_EQUAL_FATAL(chmod(path, mode), 0);
}

/* A fresh 0755 directory under /tmp holding a copy of tests/plugins/ok.so
 * (mode 0755) as ok.so. */
static void make_plugin_dir(char *dir, size_t len)
{
    char src[PATH_MAX], dst[PATH_MAX + 16];

    sfmt(dir, len, "/tmp/jh-loader-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    CU_ASSERT_EQUAL_FATAL(chmod(dir, 0755), 0);
    abs_dir("tests/plugins/ok.so", src, sizeof(src));
    sfmt(dst, sizeof(dst), "%s/ok.so", dir);
    copy_file(src, dst, 0755);
}

static void remove_plugin_dir(const char *dir, const char *const *names)
{
    char path[PATH_MAX];
    for (const char *const *n = names; *n; n++) {
        sfmt(path, sizeof(path), "%s/%s", dir, *n);
        if (remove(path) < 0 && errno != ENOENT)
            fprintf(stderr, "\ncannot remove %s: %s\n", path, strerror(errno));
    }
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* Loads name from dir; returns rc, leaves the message in err. Unloads what
 * loaded. */
static int try_load(const char *dir, bool strict, const char *name, char *err, size_t errlen)
{
    struct plugin_load_opts opts = {.plugin_dir = dir, .strict_permissions = strict};
    struct plugin *p = (struct plugin *)1;
    int rc = plugin_load(&opts, name, &p, err, errlen);

    if (rc == 0) {
        CU_ASSERT_PTR_NOT_NULL(p);
        CU_ASSERT_STRING_EQUAL(err, "");
        plugin_unref(p);
    } else {
        CU_ASSERT_PTR_NULL(p);
        /* one line */
        CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    }
    return rc;
}

/* Points fd 2 at a file while records are written; returns what was written
 * (free it). */
struct capture {
    int saved;
    char path[64];
};

static void capture_start(struct capture *c)
{
    int fd;

    sfmt(c->path, sizeof(c->path), "/tmp/jh-loader-log-XXXXXX");
    fd = mkstemp(c->path);
    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    c->saved = dup(2);
    CU_ASSERT_FATAL(c->saved >= 0);
    dup2(fd, 2);
    close(fd);
}

static char *capture_stop(struct capture *c)
{
    struct buf b = {0};
    char data[4096];
    ssize_t n;
    int fd;

    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    fd = open(c->path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    while ((n = read(fd, data, sizeof(data))) > 0)
        buf_append(&b, data, (size_t)n);
    close(fd);
    unlink(c->path);
    return b.data ? b.data : xstrdup("");
}

static size_t count_substr(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* --- tests ----------------------------------------------------------------- */

static void test_load_ok(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[1024];
    struct plugin_load_opts opts = {.plugin_dir = abs_dir("tests/plugins", dir, sizeof(dir)),
                                    .strict_permissions = true};
    struct plugin *p = NULL;

    sfmt(path, sizeof(path), "%s/ok.so", dir);
    CU_ASSERT_FALSE(is_loaded(path));
    CU_ASSERT_EQUAL_FATAL(plugin_load(&opts, "ok", &p, err, sizeof(err)), 0);
    ASSERT_STR(err, "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ASSERT_STR(p->name, "ok");
    ASSERT_STR(p->path, path);
    CU_ASSERT_PTR_NOT_NULL(p->handle);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->desc);
    ASSERT_STR(p->desc_name, "ok");
    ASSERT_STR(p->version, "1.0.0");
    CU_ASSERT_EQUAL(p->n_params, 1);
    ASSERT_STR(p->n_params ? p->params[0].name : NULL, "tag");
    CU_ASSERT_EQUAL(p->desc->abi_version, JH_ABI_VERSION);
    CU_ASSERT_PTR_NOT_NULL(p->desc->run);
    CU_ASSERT_EQUAL(p->refs, 1);
    CU_ASSERT_TRUE(is_loaded(path));
    plugin_unref(p);
    CU_ASSERT_FALSE(is_loaded(path));
    plugin_unref(NULL); /* a no-op */

    /* a relative plugin_dir works the same */
    CU_ASSERT_EQUAL(try_load("tests/plugins", true, "fail", err, sizeof(err)), 0);
}

static void test_load_shipped(void)
{
    static const char *const names[] = {"hello", "exec", "file_prune"};
    char dir[PATH_MAX], err[1024];
    struct plugin_load_opts opts = {.plugin_dir = abs_dir("plugins", dir, sizeof(dir)),
                                    .strict_permissions = true};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        struct plugin *p = NULL;
        int rc = plugin_load(&opts, names[i], &p, err, sizeof(err));
        CU_ASSERT_EQUAL(rc, 0);
        if (rc) {
            fprintf(stderr, "\n%s\n", err);
            continue;
        }
        ASSERT_STR(p->desc_name, names[i]);
        CU_ASSERT_PTR_NOT_NULL(p->version);
        CU_ASSERT(p->n_params > 0);
        plugin_unref(p);
    }
}

/* The fixture .so files that load but are not acceptable plugins. */
static void test_fixture_failures(void)
{
    char dir[PATH_MAX];
    static const struct {
        const char *name;
        int rc;
        const char *why; /* after "<path>: " */
    } cases[] = {
        {"nosuch", -ENOENT, "no such plugin file (is the plugin built and in plugin_dir?)"},
        {"no_symbol", -ENOENT,
         "missing descriptor symbol jh_plugin_descriptor (export one with JH_PLUGIN(...) from "
         "<jobhost/plugin.h>)"},
        {"bad_abi", -EPROTO,
         "ABI version mismatch: plugin was built for ABI 1, this host speaks ABI 2: rebuild it "
         "against this jobhost's SDK (README: \"Moving a plugin to ABI 2\"), e.g. cc -shared "
         "-fPIC -fvisibility=hidden -Wall -Wextra $(pkg-config --cflags jobhost) -Wl,-z,defs -o "
         "bad_abi.so bad_abi.c"},
        {"no_run", -EINVAL, "descriptor has no run entry point"},
        {"reserved", -EPROTO,
         "descriptor sets reserved field 2, which this host does not know (built against a "
         "newer SDK? upgrade jobhost)"},
        {"bad_decl", -EINVAL,
         "parameter \"count\": its default does not fit its type: expected a whole number, got "
         "\"lots\""},
        {"init_fail", -ECANCELED, "init failed: fixture init refused"},
    };

    abs_dir("tests/plugins", dir, sizeof(dir));
    CU_ASSERT_EQUAL(JH_ABI_VERSION, 2); /* the numbers in the bad_abi message */
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[1024], want[2048], path[PATH_MAX + 64];
        int rc;

        sfmt(path, sizeof(path), "%s/%s.so", dir, cases[i].name);
        sfmt(want, sizeof(want), "%s: %s", path, cases[i].why);
        rc = try_load(dir, true, cases[i].name, err, sizeof(err));
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        ASSERT_STR(err, want);
        if (rc != cases[i].rc || strcmp(err, want) != 0)
            fprintf(stderr, "\n%s: rc %d (want %d)\n  got:  %s\n  want: %s\n", cases[i].name, rc,
                    cases[i].rc, err, want);
        /* a refused plugin does not stay mapped */
        CU_ASSERT_FALSE(is_loaded(path));
    }
}

/* Files that are not shared objects, directories, and a missing directory. */
static void test_not_loadable(void)
{
    char dir[64], path[PATH_MAX], err[1024], want[2048];
    static const char *const files[] = {"ok.so", "junk.so", "empty.so", "sub.so", NULL};

    make_plugin_dir(dir, sizeof(dir));
    sfmt(path, sizeof(path), "%s/junk.so", dir);
    write_text(path, "this is not an ELF file\n", 0644);
    CU_ASSERT_EQUAL(try_load(dir, true, "junk", err, sizeof(err)), -ENOEXEC);
    sfmt(want, sizeof(want), "%s: not a loadable object: ", path);
    CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
    /* checked before dlopen, which could crash on a damaged file */
    CU_ASSERT_STRING_EQUAL(err + strlen(want), "not an ELF file");
    if (strncmp(err, want, strlen(want)) != 0)
        fprintf(stderr, "\ngot: %s\n", err);

    sfmt(path, sizeof(path), "%s/empty.so", dir);
    write_text(path, "", 0644);
    CU_ASSERT_EQUAL(try_load(dir, true, "empty", err, sizeof(err)), -ENOEXEC);
    sfmt(want, sizeof(want), "%s: not a loadable object: ", path);
    CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);

    sfmt(path, sizeof(path), "%s/sub.so", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
    CU_ASSERT_EQUAL(try_load(dir, true, "sub", err, sizeof(err)), -EINVAL);
    sfmt(want, sizeof(want), "%s: not a regular file", path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(rmdir(path), 0);

    sfmt(path, sizeof(path), "%s/none", dir);
    CU_ASSERT_EQUAL(try_load(path, true, "ok", err, sizeof(err)), -ENOENT);
    sfmt(want, sizeof(want), "%s/ok.so: plugin directory %s: No such file or directory", path,
             path);
    ASSERT_STR(err, want);

    /* the copy itself is fine */
    CU_ASSERT_EQUAL(try_load(dir, true, "ok", err, sizeof(err)), 0);
    remove_plugin_dir(dir, files);
}

static void test_invalid_names(void)
{
    static const char *const bad[] = {"", "../x", "a/b", ".hidden", "-x", "x.so", "a b",
                                      "..", "/etc/passwd", "a\tb"};
    static const char *const good[] = {"ok", "a-b_c", "A1", "_x", "9"};
    char err[1024], want[1024], dir[PATH_MAX];
    char name[200];

    abs_dir("tests/plugins", dir, sizeof(dir));
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char shown[64];
        size_t k;
        /* control characters are shown as '?': the message stays one line */
        for (k = 0; bad[i][k] && k < sizeof(shown) - 1; k++)
            shown[k] = (unsigned char)bad[i][k] < 0x20 ? '?' : bad[i][k];
        shown[k] = '\0';
        CU_ASSERT_FALSE(plugin_name_valid(bad[i]));
        CU_ASSERT_EQUAL(try_load(dir, true, bad[i], err, sizeof(err)), -EINVAL);
        sfmt(want, sizeof(want),
                 "plugin \"%s\": not a plugin name (letters, digits, '_' and '-' only; it must not "
                 "leave plugin_dir)",
                 shown);
        ASSERT_STR(err, want);
    }
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        CU_ASSERT_TRUE(plugin_name_valid(good[i]));
    CU_ASSERT_FALSE(plugin_name_valid(NULL));
    memset(name, 'a', sizeof(name));
    name[128] = '\0';
    CU_ASSERT_TRUE(plugin_name_valid(name));
    name[128] = 'a';
    name[129] = '\0';
    CU_ASSERT_FALSE(plugin_name_valid(name));
}

/* plugin.h promises one line in err for every failure, so a name holding a
 * newline must not break the message in two (the manifest never passes such
 * a name, but plugin_load is a public entry point). */
static void test_invalid_name_one_line(void)
{
    char err[1024];

    CU_ASSERT_FALSE(plugin_name_valid("ok\nx"));
    CU_ASSERT_EQUAL(try_load("tests/plugins", true, "ok\nx", err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a plugin name"));
}

/* sshd-style StrictModes on the file and on its directory. */
static void test_strict_permissions(void)
{
    static const char *const files[] = {"ok.so", NULL};
    static const struct {
        mode_t file, dir;
        const char *what; /* "the file" / "its directory" */
        const char *by;   /* "others" / "its group"; NULL: loads */
    } cases[] = {
        {0755, 0755, NULL, NULL},
        {0644, 0700, NULL, NULL},
        {0666, 0755, "the file", "others"},
        {0602, 0755, "the file", "others"},
        {0620, 0755, "the file", "its group"},
        {0775, 0755, "the file", "its group"},
        {0755, 0777, "its directory", "others"},
        {0755, 01777, "its directory", "others"},
        {0755, 0770, "its directory", "its group"},
    };
    char dir[64], path[PATH_MAX], err[1024], want[2048];

    make_plugin_dir(dir, sizeof(dir));
    sfmt(path, sizeof(path), "%s/ok.so", dir);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int rc;

        CU_ASSERT_EQUAL_FATAL(chmod(path, cases[i].file), 0);
        CU_ASSERT_EQUAL_FATAL(chmod(dir, cases[i].dir), 0);
        rc = try_load(dir, true, "ok", err, sizeof(err));
        if (!cases[i].by) {
            CU_ASSERT_EQUAL(rc, 0);
        } else {
            char hint[128];
            sfmt(hint, sizeof(hint), TRUST_HINT,
                     (unsigned)(strcmp(cases[i].what, "the file") == 0 ? cases[i].file
                                                                       : cases[i].dir));
            sfmt(want, sizeof(want), "%s: refusing to load: %s is writable by %s %s", path,
                     cases[i].what, cases[i].by, hint);
            CU_ASSERT_EQUAL(rc, -EPERM);
            ASSERT_STR(err, want);
            if (strcmp(err, want) != 0)
                fprintf(stderr, "\ncase %zu\n  got:  %s\n  want: %s\n", i, err, want);
        }
        /* relaxed, everything loads */
        CU_ASSERT_EQUAL(try_load(dir, false, "ok", err, sizeof(err)), 0);
    }
    CU_ASSERT_EQUAL(chmod(dir, 0755), 0);
    remove_plugin_dir(dir, files);
}

/* Files or directories owned by someone else than root or us. */
static void test_ownership(void)
{
    static const char *const files[] = {"ok.so", NULL};
    char dir[64], path[PATH_MAX], err[1024], want[2048];

    if (geteuid() != 0) {
        fprintf(stderr, "\n(ownership tests need root; skipped)\n");
        return;
    }
    make_plugin_dir(dir, sizeof(dir));
    sfmt(path, sizeof(path), "%s/ok.so", dir);

    CU_ASSERT_EQUAL_FATAL(chown(path, 65534, 65534), 0);
    CU_ASSERT_EQUAL(try_load(dir, true, "ok", err, sizeof(err)), -EPERM);
    sfmt(want, sizeof(want),
             "%s: refusing to load: the file is owned by uid 65534, not root or the daemon's user "
             "(set host.strict_permissions: false to allow)",
             path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(try_load(dir, false, "ok", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(chown(path, 0, 0), 0);

    CU_ASSERT_EQUAL_FATAL(chown(dir, 65534, 65534), 0);
    CU_ASSERT_EQUAL(try_load(dir, true, "ok", err, sizeof(err)), -EPERM);
    sfmt(want, sizeof(want),
             "%s: refusing to load: its directory is owned by uid 65534, not root or the daemon's "
             "user (set host.strict_permissions: false to allow)",
             path);
    ASSERT_STR(err, want);
    CU_ASSERT_EQUAL(try_load(dir, false, "ok", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(chown(dir, 0, 0), 0);
    remove_plugin_dir(dir, files);
}

/* plugin_ref/plugin_unref: shutdown runs once, after the last reference,
 * and only then is the object unmapped. */
static void test_refcount(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[1024];
    struct plugin_load_opts opts = {.plugin_dir = abs_dir("tests/plugins", dir, sizeof(dir)),
                                    .strict_permissions = true};
    struct plugin *p = NULL;
    struct capture cap;
    struct run_ctx rc;
    char *out;

    sfmt(path, sizeof(path), "%s/counter.so", dir);
    CU_ASSERT_EQUAL_FATAL(plugin_load(&opts, "counter", &p, err, sizeof(err)), 0);
    plugin_ref(p);
    plugin_ref(p);
    CU_ASSERT_EQUAL(p->refs, 3);

    capture_start(&cap);
    hostapi_bare_ctx(&rc, p, NULL, NULL, false, 0);
    CU_ASSERT_EQUAL(p->desc->run(hostapi_ctx(&rc)), JH_OK);
    plugin_unref(p);
    plugin_unref(p);
    out = capture_stop(&cap);
    /* init ran once; the run saw it; no shutdown yet */
    CU_ASSERT_EQUAL(count_substr(out, "event=counted"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "runs=1 inits=1 shutdowns=0"));
    CU_ASSERT_EQUAL(count_substr(out, "event=counter_shutdown"), 0);
    if (count_substr(out, "event=counted") != 1)
        fprintf(stderr, "\ncaptured: [%s]\n", out);
    free(out);
    CU_ASSERT_EQUAL(p->refs, 1);
    CU_ASSERT_TRUE(is_loaded(path));

    capture_start(&cap);
    plugin_unref(p); /* the last one */
    out = capture_stop(&cap);
    CU_ASSERT_EQUAL(count_substr(out, "event=counter_shutdown"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "runs=1 inits=1 shutdowns=1 state=same"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugin=counter"));
    if (count_substr(out, "event=counter_shutdown") != 1)
        fprintf(stderr, "\ncaptured: [%s]\n", out);
    free(out);
    CU_ASSERT_FALSE(is_loaded(path));

    /* a fresh load starts from zero again: the statics went with the object */
    CU_ASSERT_EQUAL_FATAL(plugin_load(&opts, "counter", &p, err, sizeof(err)), 0);
    capture_start(&cap);
    hostapi_bare_ctx(&rc, p, NULL, NULL, false, 0);
    p->desc->run(hostapi_ctx(&rc));
    plugin_unref(p);
    out = capture_stop(&cap);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "runs=1 inits=1 shutdowns=0"));
    CU_ASSERT_EQUAL(count_substr(out, "event=counter_shutdown"), 1);
    free(out);
    CU_ASSERT_FALSE(is_loaded(path));
}

/* A failed init gets no shutdown, and the object is unmapped. */
static void test_init_fail_no_shutdown(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[1024];
    struct capture cap;
    char *out;

    abs_dir("tests/plugins", dir, sizeof(dir));
    sfmt(path, sizeof(path), "%s/init_fail.so", dir);
    capture_start(&cap);
    CU_ASSERT_EQUAL(try_load(dir, true, "init_fail", err, sizeof(err)), -ECANCELED);
    out = capture_stop(&cap);
    CU_ASSERT_PTR_NULL(strstr(out, "run() called"));
    free(out);
    CU_ASSERT_FALSE(is_loaded(path));
}

static const struct cu_test load_tests[] = {
    {"ok loads", test_load_ok},
    {"shipped plugins load", test_load_shipped},
    {"fixture failures", test_fixture_failures},
    {"not loadable objects", test_not_loadable},
    {"invalid names", test_invalid_names},
    {"invalid name message is one line", test_invalid_name_one_line},
    {"strict permissions", test_strict_permissions},
    {"ownership", test_ownership},
    {"reference counting", test_refcount},
    {"init failure unloads", test_init_fail_no_shutdown},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"loader", load_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
