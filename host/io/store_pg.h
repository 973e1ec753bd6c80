/*
 * store_pg — the run store on PostgreSQL (libpq): run history, output,
 * job keys and pause state in jh_* tables that every node of a cluster
 * shares, plus the node and claim tables that io/cluster_pg.c works on.
 * The daemon creates and migrates the schema (jh_meta holds its version),
 * serialised between nodes starting together by an advisory lock. See
 * core/store.h for the operations.
 *
 * Nodes. restore registers this node (host.node) with its instance (a
 * number new at each start) and a lease on the database's clock; a node
 * of that name whose lease still runs and which did not stop is another
 * live daemon, and the start is refused (-EBUSY). The writer's heartbeat
 * renews the lease; a clean stop gives it up.
 */
#ifndef JH_STORE_PG_H
#define JH_STORE_PG_H

#include <libpq-fe.h>

#include "core/store.h"

/* The schema this build writes; an older one is migrated, a newer one
 * refused. */
#define STORE_PG_SCHEMA 3

extern const struct store_backend store_pg;

/* A connection to conninfo (a libpq connection string), with the schema
 * created or migrated. 0, -EPROTO (a newer schema), -ECONNREFUSED (no
 * connection), -EIO; a message in err. *out is the caller's (PQfinish). */
int store_pg_connect(const char *conninfo, PGconn **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* conninfo with password (may be NULL) appended as libpq quotes it: what
 * the daemon hands backends as store_config.path. Owned by the caller. */
char *store_pg_conninfo(const char *dsn, const char *password);

#endif /* JH_STORE_PG_H */
