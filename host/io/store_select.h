/*
 * store_select — host.store made concrete: which backend, where its data
 * is (a file, or a libpq connection string holding the password_file's
 * password), and how records may name it (never with the password). The
 * daemon and the `jobhost history` commands share it.
 */
#ifndef JH_STORE_SELECT_H
#define JH_STORE_SELECT_H

#include <stddef.h>

#include "core/manifest.h"
#include "core/store.h"

struct store_location {
    const struct store_backend *backend;
    char *where;       /* store_config.path: owned; may hold a secret */
    const char *label; /* borrowed from the manifest: safe to log */
};

/* 0, or -errno (the password file cannot be read) with a message. */
int store_select(const struct manifest *m, struct store_location *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Wipes and frees what store_select made; a zeroed one is a no-op. */
void store_location_free(struct store_location *loc);

#endif /* JH_STORE_SELECT_H */
