/*
 * manifest_file — the manifest's files on disk: reading one safely, and
 * expanding an `include:` pattern into the files it names. Internal to the
 * manifest reader (core/manifest.c); the only part of it that touches the
 * file system.
 *
 * The daemon reads its manifest as root, possibly from a directory others
 * can write to (a drop-in directory for teams), so a file is opened through
 * core/safe_open.h (O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK relative to checked
 * directory descriptors) and checked with fstat on that descriptor: a
 * symbolic link as the last component is refused, a FIFO or a device is
 * refused without blocking, and what was checked is what is read. With
 * MANIFEST_FILE_TRUSTED every directory on the way and the file itself must
 * be owned by root or the daemon's user and not be writable by others (as
 * sshd's StrictModes): the manifest always, included files under
 * host.strict_permissions.
 */
#ifndef JH_MANIFEST_FILE_H
#define JH_MANIFEST_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "lib/util.h"

enum {
    MANIFEST_FILE_TRUSTED = 1 << 0, /* the trust check of core/safe_open.h on every component */
    MANIFEST_FILE_ALWAYS = 1 << 1,  /* with it: one strict_permissions cannot lift (the
                                       manifest itself, which says whether it is set) */
};

/* Reads the regular file at `path` into *text (appended; NUL-terminated),
 * at most `max` + 1 bytes, so a caller can tell a file that is too large.
 * *st receives fstat of the descriptor read. Returns 0, or -errno with a
 * message in err naming no file when the file itself is at fault ("cannot
 * open: No such file or directory", "is a symbolic link (links are not
 * followed)", "not a regular file", "is writable by others (...)", "cannot
 * read: ..."), or naming the directory on the way that is ("refusing it:
 * /srv/conf, a directory above it, is writable by others (...)"). */
int manifest_file_read(const char *path, size_t max, unsigned flags, struct buf *text,
                       struct stat *st, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* True when `pattern` holds glob characters (*, ? or [). */
bool manifest_file_is_glob(const char *pattern);

/* The files `pattern` names, relative to `dir` unless absolute: for a glob,
 * its matches (hidden files only when the pattern says so), sorted by byte
 * value so the order does not depend on the locale, possibly none; for a
 * plain path, that path, whether it exists or not (reading it tells). *paths
 * is a malloc'ed array of malloc'ed strings (free with
 * manifest_file_paths_free). Returns 0, or -errno with a message in err when
 * a directory on the way cannot be read (a missing one just matches
 * nothing). */
int manifest_file_expand(const char *dir, const char *pattern, char ***paths, size_t *n, char *err,
                         size_t errlen) __attribute__((warn_unused_result));

void manifest_file_paths_free(char **paths, size_t n);

#endif /* JH_MANIFEST_FILE_H */
