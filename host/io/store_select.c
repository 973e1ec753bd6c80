/*
 * store_select — host.store made concrete. See store_select.h.
 */
#include "io/store_select.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/store_pg.h"
#include "io/store_sqlite.h"
#include "lib/util.h"

/* The first line of a secret file, without its newline. 0 or -errno. */
static int read_first_line(const char *path, char *out, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t n;
    int rc = 0;

    if (fd < 0)
        return -errno;
    n = read(fd, out, len - 1);
    if (n < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        return rc;
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int store_select(const struct manifest *m, struct store_location *out, char *err, size_t errlen)
{
    char password[1024] = "";
    int rc;

    memset(out, 0, sizeof(*out));
    if (m->host.store.backend == STORE_SQLITE) {
        out->backend = &store_sqlite;
        out->where = xstrdup(m->host.store.path);
        out->label = m->host.store.path;
        return 0;
    }
    out->backend = &store_pg;
    out->label = m->host.store.dsn;
    if (m->host.store.password_file) {
        rc = read_first_line(m->host.store.password_file, password, sizeof(password));
        if (rc < 0) {
            snprintf(err, errlen, "host.store.password_file: %s: %s",
                     m->host.store.password_file, strerror(-rc));
            return rc;
        }
    }
    out->where = store_pg_conninfo(m->host.store.dsn, m->host.store.password_file ? password
                                                                                  : NULL);
    explicit_bzero(password, sizeof(password));
    return 0;
}

void store_location_free(struct store_location *loc)
{
    if (loc->where) {
        explicit_bzero(loc->where, strlen(loc->where));
        free(loc->where);
    }
    memset(loc, 0, sizeof(*loc));
}
