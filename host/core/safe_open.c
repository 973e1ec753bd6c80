/*
 * safe_open — the walk from "/" to a file, one checked descriptor at a
 * time. See safe_open.h.
 */
#include "core/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How a trust refusal can be lifted, in its message. */
static const char *hint(unsigned flags)
{
    return flags & SAFE_NO_OPT_OUT ? "" : ", or set host.strict_permissions: false";
}

static void fail(struct safe_error *e, int err, bool is_dir, const char *where, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

static void fail(struct safe_error *e, int err, bool is_dir, const char *where, const char *fmt,
                 ...)
{
    va_list ap;

    e->err = err;
    e->is_dir = is_dir;
    e->final = !is_dir;
    snprintf(e->where, sizeof(e->where), "%s", where);
    va_start(ap, fmt);
    vsnprintf(e->what, sizeof(e->what), fmt, ap);
    va_end(ap);
}

size_t safe_path_next(const char *path, size_t *pos, size_t *start)
{
    size_t i = *pos, n = 0;

    while (path[i] == '/')
        i++;
    *start = i;
    while (path[i + n] && path[i + n] != '/')
        n++;
    *pos = i + n;
    return n;
}

static bool trusted_owner(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* The trust check of one directory or file (safe_open.h). `sticky_ok`: a
 * directory on the way, which may be writable by others when sticky. */
static int check_trust(const struct stat *st, const char *where, bool is_dir, bool sticky_ok,
                       unsigned flags, struct safe_error *e)
{
    if (!trusted_owner(st->st_uid)) {
        if (flags & SAFE_NO_OPT_OUT)
            fail(e, -EPERM, is_dir, where, "is owned by uid %u, not root or the daemon's user",
                 (unsigned)st->st_uid);
        else
            fail(e, -EPERM, is_dir, where,
                 "is owned by uid %u, not root or the daemon's user (set "
                 "host.strict_permissions: false to allow)",
                 (unsigned)st->st_uid);
        return -EPERM;
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st->st_mode & S_ISVTX))) {
        fail(e, -EPERM, is_dir, where, "is writable by %s (mode %04o; chmod go-w%s)",
             (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777),
             hint(flags));
        return -EPERM;
    }
    return 0;
}

/* Whether the symbolic link (lst) found in the directory (dst) may be
 * followed. */
static int check_link(const struct stat *lst, const struct stat *dst, const char *where,
                      unsigned flags, struct safe_error *e)
{
    if ((flags & SAFE_TRUSTED) && !trusted_owner(lst->st_uid)) {
        fail(e, -ELOOP, true, where,
             "is a symbolic link owned by uid %u, not root or the daemon's user (not "
             "followed%s)",
             (unsigned)lst->st_uid, hint(flags));
        return -ELOOP;
    }
    if ((dst->st_mode & S_ISVTX) && (dst->st_mode & S_IWOTH) && lst->st_uid != dst->st_uid &&
        lst->st_uid != geteuid()) {
        fail(e, -ELOOP, true, where,
             "is a symbolic link owned by uid %u in a directory others may write to (not "
             "followed)",
             (unsigned)lst->st_uid);
        return -ELOOP;
    }
    return 0;
}

/* `shown` + "/" + component, as messages name it. */
static void shown_push(char *shown, size_t cap, const char *c, size_t n)
{
    size_t len = strlen(shown);

    if (len > 1 && len + 1 < cap)
        shown[len++] = '/';
    if (len + n >= cap)
        n = cap - len - 1;
    memcpy(shown + len, c, n);
    shown[len + n] = '\0';
}

static void shown_pop(char *shown)
{
    char *slash = strrchr(shown, '/');

    if (slash && slash != shown)
        *slash = '\0';
    else
        shown[1] = '\0';
}

static int open_root(const char *shown_root, unsigned flags, struct stat *st, struct safe_error *e)
{
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, st) < 0) {
        int rc = -errno;
        fail(e, rc, true, shown_root, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    if ((flags & SAFE_TRUSTED) && check_trust(st, "/", true, true, flags, e) < 0) {
        close(fd);
        return -EPERM;
    }
    return fd;
}

int safe_dir_open(const char *path, unsigned flags, struct safe_error *e)
{
    /* What is left to walk: the path, with each link's target put in front
     * of the rest as it is met. */
    char todo[2 * PATH_MAX], shown[PATH_MAX], cwd[PATH_MAX];
    size_t pos = 0, start, n;
    unsigned links = 0;
    struct stat st;
    int fd, rc;

    if (!path || !*path) {
        fail(e, -ENOENT, true, "", "empty path");
        return -ENOENT;
    }
    if (path[0] != '/') {
        if (!getcwd(cwd, sizeof(cwd))) {
            rc = -errno;
            fail(e, rc, true, path, "cannot find the current directory: %s", strerror(errno));
            return rc;
        }
        if ((size_t)snprintf(todo, sizeof(todo), "%s/%s", cwd, path) >= sizeof(todo))
            goto too_long;
    } else if ((size_t)snprintf(todo, sizeof(todo), "%s", path) >= sizeof(todo)) {
        goto too_long;
    }
    shown[0] = '/';
    shown[1] = '\0';
    fd = open_root(shown, flags, &st, e);
    if (fd < 0)
        return fd;
    while ((n = safe_path_next(todo, &pos, &start)) > 0) {
        const char *c = todo + start;
        struct stat nst;
        bool last;
        int nfd;

        if (n == 1 && c[0] == '.')
            continue;
        {
            size_t peek = pos, s2;
            last = safe_path_next(todo, &peek, &s2) == 0;
        }
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            nfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            shown_pop(shown);
        } else {
            char name[NAME_MAX + 1];
            if (n > NAME_MAX) {
                shown_push(shown, sizeof(shown), c, n);
                fail(e, -ENAMETOOLONG, true, shown, "name too long");
                close(fd);
                return -ENAMETOOLONG;
            }
            memcpy(name, c, n);
            name[n] = '\0';
            shown_push(shown, sizeof(shown), c, n);
            nfd = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (nfd < 0 && errno == ENOENT && last && (flags & SAFE_MKDIR)) {
                if (mkdirat(fd, name, 0750) < 0 && errno != EEXIST) {
                    rc = -errno;
                    fail(e, rc, true, shown, "cannot create: %s", strerror(errno));
                    close(fd);
                    return rc;
                }
                nfd = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            }
        }
        if (nfd < 0 || fstat(nfd, &nst) < 0) {
            rc = -errno;
            fail(e, rc, true, shown, "%s", strerror(errno));
            e->final = last;
            if (nfd >= 0)
                close(nfd);
            close(fd);
            return rc;
        }
        if (S_ISLNK(nst.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl;

            rc = ++links > SAFE_MAX_LINKS ? -ELOOP : check_link(&nst, &st, shown, flags, e);
            if (rc == -ELOOP && links > SAFE_MAX_LINKS)
                fail(e, -ELOOP, true, shown, "too many symbolic links on the way");
            tl = rc < 0 ? -1 : readlinkat(nfd, "", target, sizeof(target));
            close(nfd);
            if (rc == 0 && (tl <= 0 || (size_t)tl >= sizeof(target))) {
                rc = tl < 0 ? -errno : -ENAMETOOLONG;
                fail(e, rc, true, shown, "cannot read the link: %s", strerror(-rc));
            }
            if (rc < 0) {
                close(fd);
                return rc;
            }
            /* the target, then what was left after the link */
            if ((size_t)tl + 1 + strlen(todo + pos) >= sizeof(todo)) {
                close(fd);
                goto too_long;
            }
            {
                size_t rest = strlen(todo + pos);
                memmove(todo + tl + 1, todo + pos, rest + 1);
                memcpy(todo, target, (size_t)tl);
                todo[tl] = '/';
                pos = 0;
            }
            shown_pop(shown); /* the link's directory is where a relative target starts */
            if (target[0] == '/') {
                close(fd);
                shown[1] = '\0';
                fd = open_root(shown, flags, &st, e);
                if (fd < 0)
                    return fd;
            }
            continue;
        }
        if (!S_ISDIR(nst.st_mode)) {
            fail(e, -ENOTDIR, true, shown, "not a directory");
            e->final = last;
            close(nfd);
            close(fd);
            return -ENOTDIR;
        }
        close(fd);
        fd = nfd;
        st = nst;
        if ((flags & SAFE_TRUSTED) && check_trust(&st, shown, true, true, flags, e) < 0) {
            e->final = last;
            close(fd);
            return -EPERM;
        }
    }
    /* the directory that holds the file: sticky or not, nobody else writes */
    if ((flags & SAFE_TRUSTED) && check_trust(&st, shown, true, false, flags, e) < 0) {
        e->final = true;
        close(fd);
        return -EPERM;
    }
    return fd;
too_long:
    fail(e, -ENAMETOOLONG, true, path, "path too long");
    return -ENAMETOOLONG;
}

int safe_openat(int dirfd, const char *dir, const char *name, int oflags, mode_t mode,
                unsigned flags, struct stat *st_out, struct safe_error *e)
{
    char where[PATH_MAX];
    bool trunc = (oflags & O_TRUNC) != 0;
    struct stat st;
    int fd, rc;

    if (strcmp(dir, "/") == 0)
        snprintf(where, sizeof(where), "/%s", name);
    else
        snprintf(where, sizeof(where), "%s/%s", dir, name);
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        fail(e, -EINVAL, false, where, "not a file name");
        return -EINVAL;
    }
    /* truncated only once it is known to be ours */
    oflags &= ~(O_TRUNC | O_NONBLOCK);
    fd = openat(dirfd, name, oflags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode);
    if (fd < 0) {
        rc = -errno;
        if (errno == ELOOP)
            fail(e, rc, false, where, "is a symbolic link (links are not followed)");
        else
            fail(e, rc, false, where, "%s", strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        fail(e, rc, false, where, "cannot stat: %s", strerror(errno));
        goto refuse;
    }
    rc = -EINVAL;
    if ((flags & SAFE_REGULAR) && !S_ISREG(st.st_mode)) {
        fail(e, rc, false, where, "not a regular file");
        goto refuse;
    }
    if ((flags & SAFE_TRUSTED) && check_trust(&st, where, false, false, flags, e) < 0) {
        rc = -EPERM;
        goto refuse;
    }
    if ((flags & SAFE_WRITE) && S_ISREG(st.st_mode)) {
        if (!trusted_owner(st.st_uid)) {
            rc = -EPERM;
            fail(e, rc, false, where, "is owned by uid %u, not root or the daemon's user (refused)",
                 (unsigned)st.st_uid);
            goto refuse;
        }
        if (st.st_nlink > 1) {
            rc = -EMLINK;
            fail(e, rc, false, where, "has %lu hard links, so is also another file (refused)",
                 (unsigned long)st.st_nlink);
            goto refuse;
        }
    }
    /* The open did not wait for a FIFO's other end; what follows may. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
        (trunc && S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)) {
        rc = -errno;
        fail(e, rc, false, where, "%s", strerror(errno));
        goto refuse;
    }
    if (trunc && S_ISREG(st.st_mode))
        st.st_size = 0;
    if (st_out)
        *st_out = st;
    return fd;
refuse:
    close(fd);
    return rc;
}

/* Splits path into its directory ("." for none) and last component. */
static int split(const char *path, char *dir, size_t dlen, const char **base, struct safe_error *e)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (!slash) {
        snprintf(dir, dlen, ".");
        *base = path;
    } else {
        n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= dlen) {
            fail(e, -ENAMETOOLONG, false, path, "path too long");
            return -ENAMETOOLONG;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
        *base = slash + 1;
    }
    if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
        fail(e, -EISDIR, false, path, "names a directory, not a file");
        return -EISDIR;
    }
    return 0;
}

int safe_open(const char *path, int oflags, mode_t mode, unsigned flags, struct stat *st,
              struct safe_error *e)
{
    char dir[PATH_MAX];
    const char *base;
    int dfd, fd;

    fd = split(path, dir, sizeof(dir), &base, e);
    if (fd < 0)
        return fd;
    dfd = safe_dir_open(dir, flags & (SAFE_TRUSTED | SAFE_MKDIR | SAFE_NO_OPT_OUT), e);
    if (dfd < 0)
        return dfd;
    fd = safe_openat(dfd, dir, base, oflags, mode, flags, st, e);
    close(dfd);
    return fd;
}

int safe_rename(const char *from, const char *to, const char **refused)
{
    char dir[PATH_MAX], dir2[PATH_MAX];
    const char *base, *base2;
    struct safe_error e;
    struct stat st;
    int dfd, rc = -1, saved;

    if (refused)
        *refused = NULL;
    if (split(from, dir, sizeof(dir), &base, &e) < 0 || split(to, dir2, sizeof(dir2), &base2, &e) < 0 ||
        strcmp(dir, dir2) != 0) {
        errno = EXDEV; /* not in one directory: not what this is for */
        return -1;
    }
    dfd = safe_dir_open(dir, 0, &e);
    if (dfd < 0) {
        errno = -dfd;
        return -1;
    }
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        saved = errno;
        goto out;
    }
    if (S_ISLNK(st.st_mode)) {
        saved = ELOOP;
        if (refused)
            *refused = from;
        goto out;
    }
    if (fstatat(dfd, base2, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        saved = ELOOP;
        if (refused)
            *refused = to;
        goto out;
    }
    rc = renameat(dfd, base, dfd, base2);
    saved = errno;
out:
    close(dfd);
    errno = saved;
    return rc;
}

const char *safe_error_text(const struct safe_error *e, char *out, size_t len)
{
    snprintf(out, len, "%s: %s", e->where, e->what);
    return out;
}

const char *safe_strerror(int err, char *buf, size_t len)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case ELOOP:
        snprintf(buf, len, "is a symbolic link (not followed)");
        break;
    case EMLINK:
        snprintf(buf, len, "has other hard links (refused)");
        break;
    default:
        snprintf(buf, len, "%s", strerror(err));
        break;
    }
    return buf;
}
