/*
 * test_safe_open — core/safe_open.c against a real tree under /tmp: links
 * on the way and at the end, FIFOs, hard links, files and directories that
 * others may write to or own, sticky directories, relative paths, the
 * rename of a rotation. Every refusal names the component at fault.
 *
 * The tree (made by setup, removed by teardown):
 *   T/ok/f            0644            T/ww/f         T/ww: 0777
 *   T/ww/sub/f                        T/st/sub/f     T/st: 01777
 *   T/st/f                            T/ok/lnk -> f
 *   T/dlink -> ok (ours)              T/st/ulink -> ../ok (uid 65534's)
 *   T/loop1 -> loop2 -> loop1         T/ok/fifo (a FIFO)
 *   T/ok/hard, a second name of T/ok/twice
 * Ownership cases need root (make test runs as root); they are skipped
 * otherwise. Single-threaded.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safe_open.h"
#include "cu_main.h"
#include "lib/util.h"

static char T[64];

static void path_of(char *out, size_t len, const char *rel)
{
    sfmt(out, len, "%s/%s", T, rel);
}

/* 0, or -1 (errno set). Usable outside a test (setup). */
static int make_file(const char *rel, mode_t mode)
{
    char p[PATH_MAX];
    int fd;

    path_of(p, sizeof(p), rel);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write(fd, "data\n", 5) != 5) {
        close(fd);
        return -1;
    }
    close(fd);
    return chmod(p, mode);
}

static int make_dir(const char *rel, mode_t mode)
{
    char p[PATH_MAX];

    path_of(p, sizeof(p), rel);
    return mkdir(p, 0700) < 0 ? -1 : chmod(p, mode);
}

static int make_link(const char *target, const char *rel)
{
    char p[PATH_MAX];

    path_of(p, sizeof(p), rel);
    return symlink(target, p);
}

static int setup(void)
{
    char p[PATH_MAX], q[PATH_MAX];

    sfmt(T, sizeof(T), "/tmp/jh-safe-XXXXXX");
    if (!mkdtemp(T) || chmod(T, 0755) < 0)
        return -1;
    if (make_dir("ok", 0755) || make_file("ok/f", 0644) || make_dir("ww", 0777) ||
        make_file("ww/f", 0644) || make_dir("ww/sub", 0755) || make_file("ww/sub/f", 0644) ||
        make_dir("st", 01777) || make_file("st/f", 0644) || make_dir("st/sub", 0755) ||
        make_file("st/sub/f", 0644) || make_link("f", "ok/lnk") || make_link("ok", "dlink") ||
        make_link("../ok", "st/ulink") || make_link("loop2", "loop1") ||
        make_link("loop1", "loop2"))
        return -1;
    path_of(p, sizeof(p), "ok/fifo");
    if (mkfifo(p, 0644) < 0 || make_file("ok/twice", 0644) < 0)
        return -1;
    path_of(p, sizeof(p), "ok/twice");
    path_of(q, sizeof(q), "ok/hard");
    if (link(p, q) < 0)
        return -1;
    if (geteuid() == 0) {
        path_of(p, sizeof(p), "st/ulink");
        if (lchown(p, 65534, 65534) < 0)
            return -1;
    }
    return 0;
}

static int teardown(void)
{
    char cmd[128];

    sfmt(cmd, sizeof(cmd), "rm -rf '%s'", T);
    return system(cmd) == 0 ? 0 : -1;
}

/* The cases of safe_open: what is asked, and what comes of it. */
static void test_open_cases(void)
{
    static const struct {
        const char *rel;
        unsigned flags;
        int rc;            /* 0: opens */
        const char *where; /* the component named, relative to T ("" = T itself) */
        bool is_dir, final;
        const char *what;  /* the start of the message */
        bool root_only;
    } cases[] = {
        {"ok/f", SAFE_REGULAR | SAFE_TRUSTED, 0},
        {"dlink/f", SAFE_REGULAR | SAFE_TRUSTED, 0}, /* our own link on the way */
        {"st/sub/f", SAFE_REGULAR | SAFE_TRUSTED, 0}, /* a sticky directory on the way */
        {"ww/f", SAFE_REGULAR, 0},                    /* no trust asked */
        {"ww/f", SAFE_REGULAR | SAFE_TRUSTED, -EPERM, "ww", true, true,
         "is writable by others (mode 0777; chmod go-w, or set host.strict_permissions: false)"},
        {"ww/sub/f", SAFE_REGULAR | SAFE_TRUSTED, -EPERM, "ww", true, false,
         "is writable by others (mode 0777"},
        {"st/f", SAFE_REGULAR | SAFE_TRUSTED, -EPERM, "st", true, true,
         "is writable by others (mode 1777"},
        {"ok/lnk", SAFE_REGULAR, -ELOOP, "ok/lnk", false, true,
         "is a symbolic link (links are not followed)"},
        {"ok/fifo", SAFE_REGULAR, -EINVAL, "ok/fifo", false, true, "not a regular file"},
        {"ok/missing", SAFE_REGULAR, -ENOENT, "ok/missing", false, true, "No such file"},
        {"none/f", SAFE_REGULAR, -ENOENT, "none", true, true, "No such file"},
        {"ok/f/x", SAFE_REGULAR, -ENOTDIR, "ok/f", true, true, "not a directory"},
        {"loop1/f", SAFE_REGULAR, -ELOOP, NULL, true, false, "too many symbolic links"},
        {"ok/twice", SAFE_WRITE, -EMLINK, "ok/twice", false, true, "has 2 hard links"},
        {"st/ulink/f", SAFE_REGULAR, -ELOOP, "st/ulink", true, false,
         "is a symbolic link owned by uid 65534 in a directory others may write to", true},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char p[PATH_MAX], where[PATH_MAX];
        struct safe_error e;
        struct stat st;
        int fd;

        if (cases[i].root_only && geteuid() != 0)
            continue;
        path_of(p, sizeof(p), cases[i].rel);
        memset(&e, 0, sizeof(e));
        fd = safe_open(p, O_RDONLY, 0, cases[i].flags, &st, &e);
        if (cases[i].rc == 0) {
            CU_ASSERT(fd >= 0);
            if (fd < 0)
                fprintf(stderr, "\ncase %zu (%s): %s: %s\n", i, cases[i].rel, e.where, e.what);
            else
                CU_ASSERT_TRUE(S_ISREG(st.st_mode) && (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0 &&
                               (fcntl(fd, F_GETFD) & FD_CLOEXEC));
            if (fd >= 0)
                close(fd);
            continue;
        }
        CU_ASSERT_EQUAL(fd, cases[i].rc);
        CU_ASSERT_EQUAL(e.err, cases[i].rc);
        CU_ASSERT_EQUAL(e.is_dir, cases[i].is_dir);
        CU_ASSERT_EQUAL(e.final, cases[i].final);
        if (cases[i].where) {
            path_of(where, sizeof(where), cases[i].where);
            ASSERT_STR(e.where, where);
        }
        CU_ASSERT_EQUAL(strncmp(e.what, cases[i].what, strlen(cases[i].what)), 0);
        if (fd != cases[i].rc || strncmp(e.what, cases[i].what, strlen(cases[i].what)) != 0 ||
            e.final != cases[i].final)
            fprintf(stderr, "\ncase %zu (%s): rc %d final %d: %s: %s\n", i, cases[i].rel, fd,
                    e.final, e.where, e.what);
        if (fd >= 0)
            close(fd);
    }
}

/* Ownership: a file or directory of another user is refused under trust; a
 * file we write into must be ours. */
static void test_ownership(void)
{
    char p[PATH_MAX];
    struct safe_error e;
    int fd;

    if (geteuid() != 0) {
        fprintf(stderr, "\n(ownership tests need root; skipped)\n");
        return;
    }
    CU_ASSERT_EQUAL_FATAL(make_file("ok/theirs", 0644), 0);
    path_of(p, sizeof(p), "ok/theirs");
    CU_ASSERT_EQUAL_FATAL(chown(p, 65534, 65534), 0);
    CU_ASSERT_EQUAL(safe_open(p, O_RDONLY, 0, SAFE_TRUSTED, NULL, &e), -EPERM);
    CU_ASSERT_EQUAL(strncmp(e.what, "is owned by uid 65534, not root or the daemon's user (set "
                                    "host.strict_permissions: false to allow)",
                            60),
                    0);
    CU_ASSERT_EQUAL(safe_open(p, O_RDONLY, 0, SAFE_TRUSTED | SAFE_NO_OPT_OUT, NULL, &e), -EPERM);
    ASSERT_STR(e.what, "is owned by uid 65534, not root or the daemon's user");
    /* written into: refused whatever the trust setting, and not truncated */
    CU_ASSERT_EQUAL(safe_open(p, O_WRONLY | O_TRUNC, 0, SAFE_WRITE, NULL, &e), -EPERM);
    fd = safe_open(p, O_RDONLY, 0, 0, NULL, &e);
    CU_ASSERT(fd >= 0 && lseek(fd, 0, SEEK_END) == 5);
    if (fd >= 0)
        close(fd);
    CU_ASSERT_EQUAL(unlink(p), 0);
}

/* O_TRUNC truncates only a file that passed the checks: a second hard link
 * of another file is left whole. */
static void test_truncate_after_checks(void)
{
    char p[PATH_MAX];
    struct safe_error e;
    struct stat st;
    int fd;

    path_of(p, sizeof(p), "ok/hard");
    CU_ASSERT_EQUAL(safe_open(p, O_WRONLY | O_TRUNC, 0, SAFE_WRITE, NULL, &e), -EMLINK);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 5);
    CU_ASSERT_EQUAL_FATAL(make_file("ok/mine", 0644), 0);
    path_of(p, sizeof(p), "ok/mine");
    fd = safe_open(p, O_WRONLY | O_TRUNC, 0, SAFE_WRITE | SAFE_REGULAR, &st, &e);
    CU_ASSERT(fd >= 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
    if (fd >= 0)
        close(fd);
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
    CU_ASSERT_EQUAL(unlink(p), 0);
}

/* A FIFO does not hang the open, for reading or writing. */
static void test_fifo_does_not_block(void)
{
    char p[PATH_MAX];
    struct safe_error e;

    path_of(p, sizeof(p), "ok/fifo");
    alarm(5); /* a hang fails the test binary instead of the suite */
    CU_ASSERT_EQUAL(safe_open(p, O_RDONLY, 0, SAFE_REGULAR, NULL, &e), -EINVAL);
    /* a writer without a reader: ENXIO, at once */
    CU_ASSERT_EQUAL(safe_open(p, O_WRONLY | O_APPEND, 0, SAFE_WRITE, NULL, &e), -ENXIO);
    alarm(0);
}

/* A relative path starts at the current directory, whose components are
 * checked too; SAFE_MKDIR makes a missing last directory. */
static void test_relative_and_mkdir(void)
{
    char cwd[PATH_MAX], p[PATH_MAX];
    struct safe_error e;
    struct stat st;
    int fd;

    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    CU_ASSERT_EQUAL_FATAL(chdir(T), 0);
    fd = safe_open("ok/f", O_RDONLY, 0, SAFE_TRUSTED | SAFE_REGULAR, NULL, &e);
    CU_ASSERT(fd >= 0);
    if (fd >= 0)
        close(fd);
    fd = safe_open("./ok/../ok/f", O_RDONLY, 0, SAFE_REGULAR, NULL, &e);
    CU_ASSERT(fd >= 0);
    if (fd >= 0)
        close(fd);
    CU_ASSERT_EQUAL(chdir("ww"), 0);
    CU_ASSERT_EQUAL(safe_open("f", O_RDONLY, 0, SAFE_TRUSTED, NULL, &e), -EPERM);
    path_of(p, sizeof(p), "ww");
    ASSERT_STR(e.where, p);
    CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);

    path_of(p, sizeof(p), "made/log");
    fd = safe_open(p, O_WRONLY | O_APPEND | O_CREAT, 0640, SAFE_WRITE | SAFE_MKDIR, &st, &e);
    CU_ASSERT(fd >= 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
    if (fd >= 0)
        close(fd);
    path_of(p, sizeof(p), "made");
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0750);
}

/* safe_dir_open: the directory itself is what is checked last. */
static void test_dir_open(void)
{
    char p[PATH_MAX];
    struct safe_error e;
    int fd;

    path_of(p, sizeof(p), "ok");
    fd = safe_dir_open(p, SAFE_TRUSTED, &e);
    CU_ASSERT(fd >= 0);
    if (fd >= 0) {
        int f = safe_openat(fd, p, "f", O_RDONLY, 0, SAFE_REGULAR, NULL, &e);
        CU_ASSERT(f >= 0);
        if (f >= 0)
            close(f);
        CU_ASSERT_EQUAL(safe_openat(fd, p, "../ok/f", O_RDONLY, 0, 0, NULL, &e), -EINVAL);
        CU_ASSERT_EQUAL(safe_openat(fd, p, "..", O_RDONLY, 0, 0, NULL, &e), -EINVAL);
        close(fd);
    }
    path_of(p, sizeof(p), "st");
    CU_ASSERT_EQUAL(safe_dir_open(p, SAFE_TRUSTED, &e), -EPERM);
    CU_ASSERT_TRUE(e.final);
    fd = safe_dir_open(p, 0, &e); /* no trust asked */
    CU_ASSERT(fd >= 0);
    if (fd >= 0)
        close(fd);
}

/* A rotation's rename refuses a link at either name and says which. */
static void test_rename(void)
{
    char a[PATH_MAX], b[PATH_MAX], l[PATH_MAX];
    const char *refused = (const char *)1;
    struct stat st;

    CU_ASSERT_EQUAL_FATAL(make_file("ok/log", 0644), 0);
    path_of(a, sizeof(a), "ok/log");
    path_of(b, sizeof(b), "ok/log.1");
    CU_ASSERT_EQUAL(safe_rename(a, b, &refused), 0);
    CU_ASSERT_PTR_NULL(refused);
    CU_ASSERT_EQUAL(stat(b, &st), 0);
    /* the old name is gone: ENOENT, as rename says it */
    CU_ASSERT_EQUAL(safe_rename(a, b, &refused), -1);
    CU_ASSERT_EQUAL(errno, ENOENT);
    /* a link at the target */
    path_of(l, sizeof(l), "ok/log.2");
    CU_ASSERT_EQUAL(symlink("f", l), 0);
    CU_ASSERT_EQUAL(safe_rename(b, l, &refused), -1);
    CU_ASSERT_EQUAL(errno, ELOOP);
    CU_ASSERT_PTR_EQUAL(refused, l);
    CU_ASSERT_EQUAL(lstat(l, &st), 0);
    CU_ASSERT_TRUE(S_ISLNK(st.st_mode));
    /* a link at the source */
    CU_ASSERT_EQUAL(safe_rename(l, a, &refused), -1);
    CU_ASSERT_EQUAL(errno, ELOOP);
    CU_ASSERT_PTR_EQUAL(refused, l);
    CU_ASSERT_EQUAL(unlink(l), 0);
    CU_ASSERT_EQUAL(unlink(b), 0);
}

/* Components: slashes skipped, lengths right. */
static void test_path_next(void)
{
    static const struct {
        const char *path;
        const char *parts[5];
    } cases[] = {
        {"", {NULL}},
        {"/", {NULL}},
        {"a", {"a", NULL}},
        {"//a//bc/", {"a", "bc", NULL}},
        {"/x/./../y", {"x", ".", "..", "y", NULL}},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t pos = 0, start, n, k = 0;
        while ((n = safe_path_next(cases[i].path, &pos, &start)) > 0) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(cases[i].parts[k]);
            CU_ASSERT_EQUAL(n, strlen(cases[i].parts[k]));
            CU_ASSERT_EQUAL(strncmp(cases[i].path + start, cases[i].parts[k], n), 0);
            k++;
        }
        CU_ASSERT_PTR_NULL(cases[i].parts[k]);
    }
}

static void test_strerror(void)
{
    char buf[128];

    ASSERT_STR(safe_strerror(-ELOOP, buf, sizeof(buf)), "is a symbolic link (not followed)");
    ASSERT_STR(safe_strerror(EMLINK, buf, sizeof(buf)), "has other hard links (refused)");
    ASSERT_STR(safe_strerror(ENOENT, buf, sizeof(buf)), strerror(ENOENT));
}

static const struct cu_test tests[] = {
    {"open cases", test_open_cases},
    {"ownership", test_ownership},
    {"truncate after checks", test_truncate_after_checks},
    {"FIFO does not block", test_fifo_does_not_block},
    {"relative paths and mkdir", test_relative_and_mkdir},
    {"directory open", test_dir_open},
    {"rename of a rotation", test_rename},
    {"path components", test_path_next},
    {"messages", test_strerror},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"safe_open", tests},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    int failed;

    (void)argc;
    if (setup() < 0) {
        fprintf(stderr, "test_safe_open: cannot build the tree under /tmp: %s\n", strerror(errno));
        printf("test_safe_open: 0 passed, 1 failed\n");
        return 1;
    }
    failed = cu_run(argv[0], suites);
    if (teardown() < 0)
        failed = failed ? failed : 1;
    return failed;
}
