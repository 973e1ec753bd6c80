/*
 * file_prune — deletes old files from a directory: the nightly cleanup of
 * reports, dumps and caches.
 *
 * Parameters (`jobhost describe file_prune` prints them; the host checks
 * every job's against them before it accepts the job):
 *   dir        string    absolute path of the directory; required. "/" and
 *                        relative paths are refused (by check, at the
 *                        parameter's place in the manifest). If `dir` itself
 *                        is a symbolic link it is followed; nothing below it is.
 *   max_age    duration  "14d", "12h"...: files whose modification time is
 *                        older than this are deleted; required, more than 0
 *   pattern    string    fnmatch(3) pattern matched against the file's name
 *                        (not its path); default "*", which matches names
 *                        starting with a dot too
 *   recursive  bool      default false. Subdirectories are walked but never
 *                        deleted, and symbolic links to directories are not
 *                        followed.
 *
 * Only regular files are deleted: never directories, symbolic links, sockets
 * or devices. Every lookup is relative to an open directory descriptor with
 * AT_SYMLINK_NOFOLLOW, so a link planted inside the tree cannot redirect the
 * deletion elsewhere.
 *
 * Records: `deleted` (path, age_s, bytes) for each file, `prune_error` (path,
 * error) for each file or directory that could not be handled, and one
 * `pruned` summary (deleted, bytes, kept, errors, took), where `kept`
 * counts matching files that are not old enough. In a dry run nothing is
 * deleted: `would_delete` records list what would be, and the summary says
 * would_delete= instead of deleted=, so that no record of a dry run reads
 * as if files were gone (the host's job_started record says dry_run=true).
 *
 * Result: JH_FAIL when `dir` cannot be opened or any file could not be
 * handled (the first problem is the run's error), JH_CANCELLED when the run
 * was cancelled midway (jh_cancelled() is checked before every entry).
 *
 * Threads: everything happens on the thread that calls run() or check(); no
 * global state.
 */
#define _GNU_SOURCE
#include <jobhost/plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC INT64_C(1000000000)

static const struct jh_param_spec prune_params[] = {
    JH_PARAM("dir", JH_TYPE_STRING, JH_REQUIRED, NULL,
             "absolute path of the directory to prune (not /)"),
    JH_PARAM("max_age", JH_TYPE_DURATION, JH_REQUIRED, NULL,
             "files last modified longer ago than this are deleted"),
    JH_PARAM("pattern", JH_TYPE_STRING, 0, "*", "fnmatch(3) pattern matched against file names"),
    JH_PARAM("recursive", JH_TYPE_BOOL, 0, "false",
             "also prune subdirectories (links are never followed)"),
    JH_PARAMS_END,
};

/* One run's walk. */
struct prune {
    jh_ctx *ctx;
    const char *pattern;
    int64_t max_age_ns;
    int64_t now_ns; /* wall clock at the start: ages are measured from it */
    bool recursive;
    int dry_run;
    int cancelled;
    char path[PATH_MAX]; /* the entry being looked at, for records */
    uint64_t deleted, bytes, kept, errors;
    char first_error[PATH_MAX + 128]; /* "path: reason" */
};

__attribute__((format(printf, 2, 3))) static int fail(jh_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jh_set_error(ctx, msg);
    return -1;
}

/* Records a problem with p->path and goes on; the first becomes the run's
 * error. */
static void prune_error(struct prune *p, int err)
{
    const char *what = strerror(err);

    jh_log(p->ctx, JH_LOG_WARN, "prune_error", JH_STR("path", p->path), JH_STR("error", what));
    if (p->errors++ == 0)
        snprintf(p->first_error, sizeof p->first_error, "%s: %s", p->path, what);
}

/* Sets p->path to the directory's path (at dir_len) + "/" + name; returns the
 * new length, or 0 when it does not fit. */
static size_t path_join(struct prune *p, size_t dir_len, const char *name)
{
    int n = snprintf(p->path + dir_len, sizeof p->path - dir_len, "/%s", name);

    if (n < 0 || (size_t)n >= sizeof p->path - dir_len)
        return 0;
    return dir_len + (size_t)n;
}

/* A regular file that matched the pattern: delete it if it is old enough. */
static void prune_file(struct prune *p, int dfd, const char *name, const struct stat *st)
{
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * NS_PER_SEC + st->st_mtim.tv_nsec;
    int64_t age = p->now_ns - mtime;
    uint64_t bytes = (uint64_t)st->st_size;

    if (age <= p->max_age_ns) {
        p->kept++;
        return;
    }
    if (p->dry_run) {
        jh_log(p->ctx, JH_LOG_INFO, "would_delete", JH_STR("path", p->path),
               JH_INT("age_s", age / NS_PER_SEC), JH_UINT("bytes", bytes));
    } else if (unlinkat(dfd, name, 0) == 0) {
        jh_log(p->ctx, JH_LOG_INFO, "deleted", JH_STR("path", p->path),
               JH_INT("age_s", age / NS_PER_SEC), JH_UINT("bytes", bytes));
    } else {
        if (errno != ENOENT) /* gone already: nothing to do */
            prune_error(p, errno);
        return;
    }
    p->deleted++;
    p->bytes += (uint64_t)st->st_size;
}

/* Walks the directory open on `dfd` (taking ownership of it), whose path is
 * the first dir_len bytes of p->path. */
static void prune_dir(struct prune *p, int dfd, size_t dir_len)
{
    DIR *dir = fdopendir(dfd);

    if (!dir) {
        p->path[dir_len] = '\0';
        prune_error(p, errno);
        close(dfd);
        return;
    }
    for (;;) {
        struct dirent *de;
        struct stat st;
        size_t len;

        if (jh_cancelled(p->ctx)) {
            p->cancelled = 1;
            break;
        }
        errno = 0;
        de = readdir(dir);
        if (!de) {
            if (errno) {
                p->path[dir_len] = '\0';
                prune_error(p, errno);
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        len = path_join(p, dir_len, de->d_name);
        if (len == 0) {
            prune_error(p, ENAMETOOLONG);
            continue;
        }
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                prune_error(p, errno);
            continue;
        }
        if (S_ISDIR(st.st_mode) && p->recursive) {
            /* O_NOFOLLOW: if a link replaced the directory since fstatat,
             * the open fails instead of following it. */
            int sub = openat(dirfd(dir), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub < 0)
                prune_error(p, errno);
            else
                prune_dir(p, sub, len);
            continue;
        }
        if (S_ISREG(st.st_mode) && fnmatch(p->pattern, de->d_name, 0) == 0)
            prune_file(p, dirfd(dir), de->d_name, &st);
    }
    closedir(dir);
}

/* Whether an absolute path names the root by its text: "/", "//", "/.",
 * "/tmp/.." does not count (the run compares inodes for that). */
static int names_root(const char *dir)
{
    for (const char *c = dir; *c;) {
        size_t n;

        c += strspn(c, "/");
        n = strcspn(c, "/");
        if (n && !(n == 1 && c[0] == '.') && !(n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += n;
    }
    return 1;
}

/* What a type cannot say about the parameters, checked before the job is
 * accepted: on the main thread, while runs of other jobs may go on; it
 * reads only its own parameters. */
static int file_prune_check(jh_ctx *ctx)
{
    const char *dir = jh_param(ctx, "dir");
    const char *pattern = jh_param(ctx, "pattern");
    int64_t max_age = 1;

    if (dir && dir[0] != '/')
        jh_param_error(ctx, "dir", "must be an absolute path");
    else if (dir && names_root(dir))
        jh_param_error(ctx, "dir", "refusing to prune the root directory");
    if (jh_param_duration(ctx, "max_age", &max_age) == 0 && max_age <= 0)
        jh_param_error(ctx, "max_age", "must be longer than 0s");
    if (pattern && !*pattern)
        jh_param_error(ctx, "pattern", "is empty (leave it out to match every file)");
    return 0;
}

/* Reads the parameters into `p` and opens the directory. Returns its
 * descriptor, or -1 after setting the run's error. The host checked the
 * parameters (and file_prune_check the rules above) before the job was
 * accepted, so only what can change since is checked here. */
static int prune_setup(jh_ctx *ctx, struct prune *p)
{
    const char *dir = jh_param(ctx, "dir");
    struct stat st, root;
    size_t len;
    int fd;

    p->pattern = jh_param(ctx, "pattern");
    if (!dir || dir[0] != '/' || !p->pattern || !*p->pattern ||
        jh_param_duration(ctx, "max_age", &p->max_age_ns) < 0 ||
        jh_param_bool(ctx, "recursive", &p->recursive) < 0)
        return fail(ctx, "parameters were not checked (`jobhost check` the manifest)");

    /* p->path holds `dir` without trailing slashes; entries are appended. */
    len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len >= sizeof p->path)
        return fail(ctx, "`dir` is too long");
    memcpy(p->path, dir, len);
    p->path[len] = '\0';

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(ctx, "dir %s: %s", dir, strerror(errno));
    /* "/", "//", "/." and "/tmp/.." all name the root: compare inodes. */
    if (fstat(fd, &st) == 0 && stat("/", &root) == 0 && st.st_dev == root.st_dev &&
        st.st_ino == root.st_ino) {
        close(fd);
        return fail(ctx, "refusing to prune the root directory (dir %s)", dir);
    }
    return fd;
}

static int file_prune_run(jh_ctx *ctx)
{
    struct prune p;
    struct timespec now, done;
    int fd;

    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.dry_run = jh_dry_run(ctx);
    fd = prune_setup(ctx, &p);
    if (fd < 0)
        return JH_FAIL;
    clock_gettime(CLOCK_REALTIME, &now);
    p.now_ns = (int64_t)now.tv_sec * NS_PER_SEC + now.tv_nsec;

    prune_dir(&p, fd, strlen(p.path));

    clock_gettime(CLOCK_REALTIME, &done);
    jh_log(ctx, JH_LOG_INFO, "pruned", JH_UINT(p.dry_run ? "would_delete" : "deleted", p.deleted), JH_UINT("bytes", p.bytes),
           JH_UINT("kept", p.kept), JH_UINT("errors", p.errors), JH_DUR("took", ((int64_t)done.tv_sec * NS_PER_SEC + done.tv_nsec) - p.now_ns));

    if (p.cancelled) {
        jh_set_error(ctx, "cancelled before the walk was complete");
        return JH_CANCELLED;
    }
    if (p.errors > 0) {
        fail(ctx, "%" PRIu64 " problem%s while pruning; first: %s", p.errors,
             p.errors == 1 ? "" : "s", p.first_error);
        return JH_FAIL;
    }
    return JH_OK;
}

JH_PLUGIN(.name = "file_prune",
          .version = "1.1.0",
          .description = "deletes regular files older than max_age matching a pattern",
          .params = prune_params,
          .run = file_prune_run,
          .check = file_prune_check);
