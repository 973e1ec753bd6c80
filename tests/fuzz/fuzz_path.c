/*
 * fuzz_path — the path opener of host/core/safe_open.h, against the kernel.
 *
 * At the first input the target builds a small tree in a directory of its
 * own (build/fuzz/path-sandbox-PID, removed at exit): directories (one
 * writable by others, one sticky), files, a FIFO, and links on the way
 * and at the end, relative and absolute, to "..", in a loop. The first
 * input byte picks the flags (SAFE_TRUSTED, SAFE_REGULAR), the rest is a
 * path, taken in the tree unless it is absolute. Then:
 *   - safe_path_next splits the path into its components: joined with "/",
 *     they are the path without its empty components;
 *   - safe_open never opens what the kernel would not: when it gives a
 *     descriptor, open(O_NOFOLLOW | O_NONBLOCK) of the same path gives the
 *     same file (device and inode), and a regular one when SAFE_REGULAR
 *     asks for it;
 *   - in the tree, without SAFE_TRUSTED, it opens everything the kernel
 *     opens (the tree's links are all ours to follow);
 *   - a path that names a directory (a last component "", "." or "..") is
 *     refused: safe_open opens files;
 *   - a refusal names a component and a reason, one line each.
 * Only O_RDONLY opens: nothing is created or changed anywhere, and a path
 * with a component "dev" is not opened at all (an open alone arms a
 * watchdog device).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safe_open.h"
#include "fuzz_common.h"

static char sandbox[PATH_MAX];

static void rm_sandbox(void)
{
    char cmd[PATH_MAX + 16];

    if (!sandbox[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sandbox);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_path: could not remove %s\n", sandbox);
}

static void mk(const char *rel, int kind, mode_t mode, const char *target)
{
    char p[PATH_MAX];
    int rc = 0;

    snprintf(p, sizeof(p), "%s/%s", sandbox, rel);
    if (kind == 'd')
        rc = mkdir(p, 0700) || chmod(p, mode);
    else if (kind == 'f') {
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        rc = fd < 0 || write(fd, "x\n", 2) != 2 || chmod(p, mode);
        if (fd >= 0)
            close(fd);
    } else if (kind == 'p')
        rc = mkfifo(p, mode);
    else
        rc = symlink(target, p);
    if (rc) {
        fprintf(stderr, "fuzz_path: cannot make %s: %s\n", p, strerror(errno));
        abort();
    }
}

/* The sandbox, in creation order: 'd' directory, 'f' file, 'p' FIFO, 'l'
 * link to target ("ABS": the absolute path of d/f). */
static const struct {
    const char *rel;
    int kind;
    mode_t mode;
    const char *target;
} tree[] = {
    {"d", 'd', 0755, NULL},          {"d/f", 'f', 0644, NULL},
    {"d/sub", 'd', 0755, NULL},      {"d/sub/g", 'f', 0600, NULL},
    {"d/fifo", 'p', 0644, NULL},     {"d/lnk", 'l', 0, "f"},
    {"d/dl", 'l', 0, "sub"},         {"d/up", 'l', 0, "../d"},
    {"d/loop", 'l', 0, "loop"},      {"d/abs", 'l', 0, "ABS"},
    {"ww", 'd', 0777, NULL},         {"ww/f", 'f', 0644, NULL},
    {"st", 'd', 01777, NULL},        {"st/f", 'f', 0644, NULL},
    {"st/sub", 'd', 0755, NULL},     {"st/sub/h", 'f', 0644, NULL},
    {"top", 'l', 0, "d"},            {"dotdot", 'l', 0, ".."},
    {"deep", 'l', 0, "top/dl/../../st/sub"},
};

static void build_sandbox(void)
{
    char dir[PATH_MAX], abs_target[PATH_MAX + 8];

    snprintf(dir, sizeof(dir), "build/fuzz/path-sandbox-%d", (int)getpid());
    if (mkdir(dir, 0755) < 0 || !realpath(dir, sandbox)) {
        fprintf(stderr, "fuzz_path: cannot make %s: %s\n", dir, strerror(errno));
        abort();
    }
    atexit(rm_sandbox);
    for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
        const char *target = tree[i].target;
        if (target && strcmp(target, "ABS") == 0) {
            snprintf(abs_target, sizeof(abs_target), "%s/d/f", sandbox);
            target = abs_target;
        }
        mk(tree[i].rel, tree[i].kind, tree[i].mode, target);
    }
}

/* Whether the kernel's open of fd ended in the sandbox. */
static bool in_sandbox(int fd)
{
    char link[64], real[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, real, sizeof(real) - 1);
    if (n <= 0)
        return false;
    real[n] = '\0';
    return strncmp(real, sandbox, strlen(sandbox)) == 0 &&
           (real[strlen(sandbox)] == '/' || real[strlen(sandbox)] == '\0');
}

static void check_components(const char *path)
{
    char joined[PATH_MAX * 2] = "", expect[PATH_MAX * 2] = "";
    size_t pos = 0, start, n, jl = 0, el = 0;

    while ((n = safe_path_next(path, &pos, &start)) > 0) {
        FUZZ_CHECK(start + n <= strlen(path) && memchr(path + start, '/', n) == NULL,
                   "component at %zu of %zu bytes", start, n);
        if (jl)
            joined[jl++] = '/';
        memcpy(joined + jl, path + start, n);
        jl += n;
    }
    joined[jl] = '\0';
    for (const char *c = path; *c;) {
        while (*c == '/')
            c++;
        if (!*c)
            break;
        if (el)
            expect[el++] = '/';
        while (*c && *c != '/')
            expect[el++] = *c++;
    }
    expect[el] = '\0';
    FUZZ_CHECK(strcmp(joined, expect) == 0, "components \"%s\", want \"%s\"", joined, expect);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[PATH_MAX + 512], *input;
    unsigned flags;
    struct safe_error e;
    struct stat sst, kst;
    int sfd, kfd, kerr;

    if (size < 1 || size > 300)
        return 0;
    if (!sandbox[0])
        build_sandbox();
    flags = (data[0] & 1 ? SAFE_TRUSTED : 0) | (data[0] & 2 ? SAFE_REGULAR : 0);
    input = fuzz_cstr(data + 1, size - 1);
    check_components(input);
    {
        size_t pos = 0, start, n;
        while ((n = safe_path_next(input, &pos, &start)) > 0) {
            if (n == 3 && memcmp(input + start, "dev", 3) == 0) {
                free(input);
                return 0;
            }
        }
    }
    if (input[0] == '/')
        snprintf(path, sizeof(path), "%s", input);
    else
        snprintf(path, sizeof(path), "%s/%s", sandbox, input);
    free(input);

    memset(&e, 0, sizeof(e));
    sfd = safe_open(path, O_RDONLY, 0, flags, &sst, &e);
    kfd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    kerr = errno;
    {
        const char *last = strrchr(path, '/') + 1;
        if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
            FUZZ_CHECK(sfd == -EISDIR, "%s names a directory: safe_open gave %d", path, sfd);
            if (kfd >= 0)
                close(kfd);
            return 0;
        }
    }
    if (sfd >= 0) {
        FUZZ_CHECK(kfd >= 0, "safe_open opened %s, the kernel says %s", path, strerror(kerr));
        FUZZ_CHECK(fstat(kfd, &kst) == 0 && kst.st_dev == sst.st_dev && kst.st_ino == sst.st_ino,
                   "safe_open opened another file than the kernel for %s", path);
        FUZZ_CHECK(!(flags & SAFE_REGULAR) || S_ISREG(sst.st_mode), "not regular: %s", path);
        FUZZ_CHECK((fcntl(sfd, F_GETFD) & FD_CLOEXEC) != 0, "no close-on-exec");
        close(sfd);
    } else {
        FUZZ_CHECK(sfd == e.err && e.err < 0, "returned %d, error %d", sfd, e.err);
        FUZZ_CHECK(e.what[0] && !strchr(e.what, '\n'), "reason \"%s\"", e.what);
        if (kfd >= 0 && !(flags & SAFE_TRUSTED) && in_sandbox(kfd) && strlen(path) < 512) {
            bool regular = fstat(kfd, &kst) == 0 && S_ISREG(kst.st_mode);
            FUZZ_CHECK((flags & SAFE_REGULAR) && !regular,
                       "the kernel opens %s, safe_open refused it: %s: %s", path, e.where, e.what);
        }
    }
    if (kfd >= 0)
        close(kfd);
    return 0;
}
