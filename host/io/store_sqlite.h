/*
 * store_sqlite — the embedded run store: one SQLite file in WAL mode
 * (readers never wait for the writer, nor it for them), locked with
 * flock(2) by the daemon that uses it, its schema versioned (PRAGMA
 * user_version) and migrated forward at open. See core/store.h for the
 * operations and io/store_sqlite.c for the schema.
 */
#ifndef JH_STORE_SQLITE_H
#define JH_STORE_SQLITE_H

#include "core/store.h"

/* The schema this build writes; files of an older one are migrated, files
 * of a newer one refused. */
#define STORE_SQLITE_SCHEMA 3

extern const struct store_backend store_sqlite;

#endif /* JH_STORE_SQLITE_H */
