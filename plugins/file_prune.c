/*
 * file_prune — deletes old files from a directory: the nightly cleanup of
 * reports, dumps and caches.
 *
 * Parameters:
 *   dir        string    absolute path of the directory; required. "/" and
 *                        relative paths are refused. If `dir` itself is a
 *                        symbolic link it is followed; nothing below it is.
 *   max_age    duration  "14d", "12h"...: files whose modification time is
 *                        older than this are deleted; required
 *   pattern    glob      fnmatch(3) pattern matched against the file's name
 *                        (not its path); default "*", which matches names
 *                        starting with a dot too
 *   recursive  bool      "true" or "false"; default "false". Subdirectories
 *                        are walked but never deleted, and symbolic links to
 *                        directories are not followed.
 *
 * Only regular files are deleted: never directories, symbolic links, sockets
 * or devices. Every lookup is relative to an open directory descriptor with
 * AT_SYMLINK_NOFOLLOW, so a link planted inside the tree cannot redirect the
 * deletion elsewhere.
 *
 * Records: `deleted` (path, age_s, bytes) for each file, `prune_error` (path,
 * error) for each file or directory that could not be handled, and one
 * `pruned` summary (deleted, bytes, kept, errors, dry_run), where `kept`
 * counts matching files that are not old enough. In a dry run nothing is
 * deleted: `would_delete` records list what would be, and the summary says
 * would_delete= instead of deleted=, so that no record of a dry run reads
 * as if files were gone.
 *
 * Result: JH_FAIL when `dir` cannot be opened or any file could not be
 * handled (the first problem is the run's error), JH_CANCELLED when the run
 * was cancelled midway (jh_cancelled() is checked before every entry).
 *
 * Threads: everything happens on the worker thread that calls run(); no
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
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC INT64_C(1000000000)

/* One run's walk. */
struct prune {
    jh_ctx *ctx;
    const char *pattern;
    int64_t max_age_ns;
    int64_t now_ns; /* wall clock at the start: ages are measured from it */
    int recursive;
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

    jh_log(p->ctx, JH_LOG_WARN, "prune_error", "path", p->path, "error", what);
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
    char age_s[24], bytes[24];

    if (age <= p->max_age_ns) {
        p->kept++;
        return;
    }
    snprintf(age_s, sizeof age_s, "%" PRId64, age / NS_PER_SEC);
    snprintf(bytes, sizeof bytes, "%" PRIu64, (uint64_t)st->st_size);
    if (p->dry_run) {
        jh_log(p->ctx, JH_LOG_INFO, "would_delete", "path", p->path, "age_s", age_s,
               "bytes", bytes);
    } else if (unlinkat(dfd, name, 0) == 0) {
        jh_log(p->ctx, JH_LOG_INFO, "deleted", "path", p->path, "age_s", age_s, "bytes", bytes);
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

/* Reads the parameters into `p` and opens the directory. Returns its
 * descriptor, or -1 after setting the run's error. */
static int prune_setup(jh_ctx *ctx, struct prune *p)
{
    const char *dir = jh_param(ctx, "dir");
    const char *max_age = jh_param(ctx, "max_age");
    const char *recursive = jh_param_or(ctx, "recursive", "false");
    struct stat st, root;
    size_t len;
    int fd;

    if (!dir)
        return fail(ctx, "missing parameter `dir` (the directory to prune)");
    if (dir[0] != '/')
        return fail(ctx, "`dir` must be an absolute path, not '%s'", dir);
    if (!max_age)
        return fail(ctx, "missing parameter `max_age` (a duration such as 14d)");
    if (jh_parse_duration(ctx, max_age, &p->max_age_ns) < 0)
        return fail(ctx, "`max_age`: '%s' is not a duration such as 14d or 12h", max_age);
    p->pattern = jh_param_or(ctx, "pattern", "*");
    if (!*p->pattern)
        return fail(ctx, "`pattern` is empty (leave it out to match every file)");
    if (strcasecmp(recursive, "true") == 0)
        p->recursive = 1;
    else if (strcasecmp(recursive, "false") == 0)
        p->recursive = 0;
    else
        return fail(ctx, "`recursive` must be true or false, not '%s'", recursive);

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
    struct timespec now;
    char deleted[24], bytes[24], kept[24], errors[24];
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

    snprintf(deleted, sizeof deleted, "%" PRIu64, p.deleted);
    snprintf(bytes, sizeof bytes, "%" PRIu64, p.bytes);
    snprintf(kept, sizeof kept, "%" PRIu64, p.kept);
    snprintf(errors, sizeof errors, "%" PRIu64, p.errors);
    jh_log(ctx, JH_LOG_INFO, "pruned", p.dry_run ? "would_delete" : "deleted", deleted, "bytes",
           bytes, "kept", kept, "errors", errors, "dry_run", p.dry_run ? "true" : "false");

    if (p.cancelled) {
        jh_set_error(ctx, "cancelled before the walk was complete");
        return JH_CANCELLED;
    }
    if (p.errors > 0) {
        fail(ctx, "%s problem%s while pruning; first: %s", errors, p.errors == 1 ? "" : "s",
             p.first_error);
        return JH_FAIL;
    }
    return JH_OK;
}

JH_PLUGIN(.name = "file_prune",
          .version = "1.0.0",
          .description = "deletes regular files older than max_age matching a pattern",
          .run = file_prune_run);
