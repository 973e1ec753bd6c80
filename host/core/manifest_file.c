/*
 * manifest_file — opening, reading and globbing the manifest's files. See
 * manifest_file.h.
 */
#include "core/manifest_file.h"

#include <errno.h>
#include "core/safe_open.h"
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int manifest_file_read(const char *path, size_t max, unsigned flags, struct buf *text,
                       struct stat *st, char *err, size_t errlen)
{
    unsigned sflags = SAFE_REGULAR;
    struct safe_error e;
    int fd, rc = 0;
    size_t start = text->len;

    if (flags & MANIFEST_FILE_TRUSTED)
        sflags |= SAFE_TRUSTED | ((flags & MANIFEST_FILE_ALWAYS) ? SAFE_NO_OPT_OUT : 0);
    fd = safe_open(path, O_RDONLY, 0, sflags, st, &e);
    if (fd < 0) {
        if (e.is_dir && (e.err == -EPERM || e.err == -ELOOP))
            snprintf(err, errlen, "refusing it: %s, a directory on the way, %s", e.where, e.what);
        else if (e.is_dir)
            snprintf(err, errlen, "cannot open: %s: %s", e.where, e.what);
        else if (e.err == -ELOOP || e.err == -EINVAL || e.err == -EPERM)
            snprintf(err, errlen, "%s", e.what);
        else
            snprintf(err, errlen, "cannot open: %s", e.what);
        return e.err;
    }
    /* one read of the announced size, most of the time */
    buf_reserve(text, (size_t)st->st_size < max ? (size_t)st->st_size + 1 : max + 1);
    for (;;) {
        if (text->cap - text->len < 2)
            buf_reserve(text, 65536);
        ssize_t n = read(fd, text->data + text->len, text->cap - text->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        text->len += (size_t)n;
        text->data[text->len] = '\0';
        if (text->len - start > max)
            break;
    }
    buf_reserve(text, 0);
    text->data[text->len] = '\0'; /* an empty file still gives a string */
out:
    close(fd);
    return rc;
}

bool manifest_file_is_glob(const char *pattern)
{
    return strpbrk(pattern, "*?[") != NULL;
}

/* glob(3)'s error callback takes no argument of ours: the first directory
 * it could not read is kept here until manifest_file_expand returns.
 * Thread-local, so two threads reading manifests (a reload, a check) never
 * see each other's. */
static _Thread_local struct {
    int err;
    char path[256];
} glob_failure;

static int glob_error(const char *path, int err)
{
    /* a directory that is not there (yet) matches nothing */
    if (err == ENOENT || err == ENOTDIR || glob_failure.err)
        return 0;
    glob_failure.err = err;
    snprintf(glob_failure.path, sizeof(glob_failure.path), "%s", path);
    return 0;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir + "/" + pattern, with dir's own glob characters escaped when the
 * result is a glob (a directory may well be called "[prod]"). */
static char *join(const char *dir, const char *pattern, bool escape)
{
    struct buf b = {0};

    if (pattern[0] != '/') {
        for (const char *c = dir; *c; c++) {
            if (escape && strchr("*?[\\", *c))
                buf_putc(&b, '\\');
            buf_putc(&b, *c);
        }
        if (!b.len || b.data[b.len - 1] != '/')
            buf_putc(&b, '/');
    }
    buf_puts(&b, pattern);
    return b.data;
}

int manifest_file_expand(const char *dir, const char *pattern, char ***paths, size_t *n, char *err,
                         size_t errlen)
{
    glob_t g;
    char *full;
    int rc;

    *paths = NULL;
    *n = 0;
    if (!manifest_file_is_glob(pattern)) {
        *paths = xcalloc(1, sizeof(**paths));
        (*paths)[0] = join(dir, pattern, false);
        *n = 1;
        return 0;
    }
    full = join(dir, pattern, true);
    glob_failure.err = 0;
    rc = glob(full, GLOB_NOSORT, glob_error, &g);
    free(full);
    if (glob_failure.err) {
        snprintf(err, errlen, "cannot read directory %s: %s", glob_failure.path,
                 strerror(glob_failure.err));
        if (rc == 0)
            globfree(&g);
        return -glob_failure.err;
    }
    if (rc == GLOB_NOMATCH)
        return 0;
    if (rc != 0) {
        snprintf(err, errlen, "cannot expand: %s", rc == GLOB_NOSPACE ? "out of memory" : "failed");
        return rc == GLOB_NOSPACE ? -ENOMEM : -EIO;
    }
    *paths = xcalloc(g.gl_pathc + 1, sizeof(**paths));
    for (size_t i = 0; i < g.gl_pathc; i++)
        (*paths)[i] = xstrdup(g.gl_pathv[i]);
    *n = g.gl_pathc;
    globfree(&g);
    qsort(*paths, *n, sizeof(**paths), path_cmp);
    return 0;
}

void manifest_file_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}
