/*
 * manifest_file — the manifest's files on disk: reading one safely, and
 * expanding an `include:` pattern into the files it names. Internal to the
 * manifest reader (core/manifest.c); the only part of it that touches the
 * file system.
 *
 * The daemon reads its manifest as root, possibly from a directory others
 * can write to (a drop-in directory for teams), so a file is opened with
 * O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK and checked with fstat on that
 * descriptor: a symbolic link as the last component is refused, a FIFO or a
 * device is refused without blocking, and what was checked is what is read.
 */
#ifndef JH_MANIFEST_FILE_H
#define JH_MANIFEST_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "lib/util.h"

/* Reads the regular file at `path` into *text (appended; NUL-terminated),
 * at most `max` + 1 bytes, so a caller can tell a file that is too large.
 * *st receives fstat of the descriptor read. Returns 0, or -errno with a
 * message in err naming no file ("cannot open: No such file or directory",
 * "is a symbolic link (links are not followed)", "not a regular file",
 * "cannot read: ..."). */
int manifest_file_read(const char *path, size_t max, struct buf *text, struct stat *st, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

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
