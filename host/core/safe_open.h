/*
 * safe_open — opening files as root without being led elsewhere.
 *
 * The daemon usually runs as root and opens files in directories other
 * people may write to: the manifest and its drop-in files, the plugins, the
 * token and certificate files, the pid file, the log file and its rotated
 * names. Every one of those opens goes through here, the same way:
 *
 *   - a directory is reached one component at a time from "/", each with
 *     openat(O_PATH | O_DIRECTORY | O_NOFOLLOW) relative to the descriptor
 *     of the one before, and each is checked with fstat on the descriptor
 *     reached: what was checked is what the next step uses;
 *   - a symbolic link on the way (not the last component) is followed only
 *     when its owner may be trusted with where it points: in a sticky
 *     directory that others may write to (/tmp), only a link owned by the
 *     directory's owner or by us (the rule of fs.protected_symlinks, kept
 *     whatever the sysctl says); with SAFE_TRUSTED, only one owned by root
 *     or by us;
 *   - the last component is opened with openat(dirfd, name, O_NOFOLLOW |
 *     O_CLOEXEC | O_NONBLOCK | O_NOCTTY): a symbolic link there is refused,
 *     never followed; a FIFO or a device does not block the open; its type
 *     (and for a file we write, its links and owner) is checked with fstat
 *     on the descriptor returned;
 *   - SAFE_TRUSTED (host.strict_permissions, as sshd's StrictModes): every
 *     directory on the way and the file itself must be owned by root or by
 *     the daemon's user and not be writable by group or others. A directory
 *     on the way may be writable by others when it is sticky (/tmp): nobody
 *     else can rename or remove what is ours in it. The directory holding
 *     the file may not.
 *
 * Paths may be relative: they are taken from the current directory, whose
 * own components are checked as well. Nothing here keeps state; every
 * function may be called from any thread.
 */
#ifndef JH_SAFE_OPEN_H
#define JH_SAFE_OPEN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Flags of safe_dir_open and safe_open. */
enum {
    SAFE_TRUSTED = 1 << 0, /* the trust check above, on every component */
    SAFE_REGULAR = 1 << 1, /* the file must be a regular file */
    SAFE_WRITE = 1 << 2,   /* a file we write into: a regular one must be ours (or root's)
                              and have no other hard link; O_TRUNC then truncates it only
                              once that is checked */
    SAFE_MKDIR = 1 << 3,   /* create the last directory (mode 0750) when it is missing */
    SAFE_NO_OPT_OUT = 1 << 4, /* with SAFE_TRUSTED: messages do not offer
                                 host.strict_permissions: false (the manifest itself) */
};

#define SAFE_MAX_LINKS 40 /* symbolic links followed on the way, as the kernel's limit */

/* Why an open was refused: the component at fault (a directory on the way,
 * a link, or the file) and the problem, e.g. where "/srv/jobs" and what "is
 * writable by others (mode 0777; chmod go-w, or set host.strict_permissions:
 * false)". `err` is the negative errno the call returned: -ELOOP for a
 * symbolic link that is not followed, -EPERM for a trust problem, -EMLINK
 * for a file with other hard links, -EINVAL for a file of the wrong type. */
struct safe_error {
    int err;
    bool is_dir; /* `where` is a directory (or a link) on the way, not the file */
    bool final;  /* `where` is what was asked for: the directory of safe_dir_open (or
                    its last component), the file of safe_openat */
    char where[PATH_MAX];
    char what[256];
};

/* Opens the directory `path` as above. Returns an O_PATH descriptor (for
 * the *at calls) or a negative errno with *e filled in. */
int safe_dir_open(const char *path, unsigned flags, struct safe_error *e)
    __attribute__((warn_unused_result));

/* Opens `name` (one component: no '/', not "." or "..") in the directory
 * dirfd, which shows as `dir` in messages, with `oflags` (O_RDONLY,
 * O_WRONLY | O_APPEND | O_CREAT, ...; O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
 * O_NOCTTY are added, and O_NONBLOCK is taken off again once the file is
 * open) and `mode` for a file it creates. *st (may be NULL) receives fstat
 * of the descriptor. Returns the descriptor or a negative errno with *e. */
int safe_openat(int dirfd, const char *dir, const char *name, int oflags, mode_t mode,
                unsigned flags, struct stat *st, struct safe_error *e)
    __attribute__((warn_unused_result));

/* safe_dir_open of the directory part of `path`, then safe_openat of its
 * last component. */
int safe_open(const char *path, int oflags, mode_t mode, unsigned flags, struct stat *st,
              struct safe_error *e) __attribute__((warn_unused_result));

/* rename(2) for two names in the same directory, reached as safe_dir_open
 * does: refuses (ELOOP) when either name is a symbolic link, so a link
 * planted at a rotated name is reported, not silently replaced. Returns 0,
 * or -1 with errno set (as rename does; ENOENT when `from` is missing), and
 * then *refused (may be NULL) names the one that was refused, or NULL. */
int safe_rename(const char *from, const char *to, const char **refused);

/* "where: what" of a refusal, into out. */
const char *safe_error_text(const struct safe_error *e, char *out, size_t len);

/* strerror, with the refusals above said plainly ("is a symbolic link (not
 * followed)", "has other hard links (refused)"). */
const char *safe_strerror(int err, char *buf, size_t len);

/* The next component of a path: skips slashes at *pos, then returns the
 * length of the component starting there (0 at the end) and moves *pos
 * past it. Pure; exported for the fuzzer. */
size_t safe_path_next(const char *path, size_t *pos, size_t *start);

#endif /* JH_SAFE_OPEN_H */
