/*
 * manifest_file — opening and reading the manifest's files. See
 * manifest_file.h.
 */
#include "core/manifest_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int manifest_file_read(const char *path, size_t max, struct buf *text, struct stat *st, char *err,
                       size_t errlen)
{
    int fd, rc = 0;
    size_t start = text->len;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        if (errno == ELOOP)
            snprintf(err, errlen, "is a symbolic link (links are not followed)");
        else
            snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return rc;
    }
    if (fstat(fd, st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st->st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "not a regular file");
        goto out;
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
