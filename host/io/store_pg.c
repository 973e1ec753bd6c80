/*
 * store_pg — the run store on PostgreSQL. See store_pg.h.
 *
 * The tables (all prefixed jh_, so a shared database can hold others):
 *   jh_meta     key/value: schema_version
 *   jh_nodes    one row per node name: its current instance, pid, version,
 *               the manifest's hash, started/heartbeat/lease_until/stopped
 *               on the database's clock
 *   jh_jobs     job id -> key, first_seen, pause state
 *   jh_plugins  plugin builds -> key
 *   jh_runs     every run and skip record, any node's (node names it);
 *               result NULL while in flight; codes of core/store.h;
 *               parent: the run a chained job's run came after (trigger
 *               after), a run of the same node, as a chain fires where
 *               its parent finished
 *   jh_output   a run's records
 *   jh_claims   one row per claimed firing (job, nominal time, UTC offset):
 *               who won it, its fencing token, its state (running, done,
 *               abandoned); written by io/cluster_pg.c
 * Times of runs are the hosts' wall clock in ns (as in the SQLite store:
 * history shows what the nodes saw); leases are the database's clock.
 *
 * Every statement is one round trip in text format with parameters. The
 * writer's handle is used by the history writer thread only (store.h);
 * each reader is one connection used by one thread at a time.
 */
#include "io/store_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/run.h"
#include "lib/util.h"

struct pg_store {
    struct store base;
    PGconn *conn;
    char node[256];
    char version[64];
    uint64_t instance;
    int64_t lease_ns;
    int pid;
    char host[256]; /* this machine's name: a dead start of the node here is seen */
    bool tool;
    char errmsg[512];
};

struct pg_reader {
    struct store_reader base;
    PGconn *conn;
};

static const struct store_ops pg_ops;

/* --- the schema ---------------------------------------------------------------- */

static const char schema_v1[] =
    "CREATE TABLE jh_nodes(name text PRIMARY KEY, instance bigint NOT NULL, host text, pid int,"
    " version text, manifest_sha256 text, started_at timestamptz NOT NULL DEFAULT now(),"
    " heartbeat_at timestamptz NOT NULL DEFAULT now(), lease_until timestamptz NOT NULL,"
    " stopped_at timestamptz, running int NOT NULL DEFAULT 0);"
    "CREATE TABLE jh_jobs(key serial PRIMARY KEY, id text NOT NULL UNIQUE,"
    " first_seen bigint NOT NULL, paused boolean NOT NULL DEFAULT false, paused_at bigint);"
    "CREATE TABLE jh_plugins(key serial PRIMARY KEY, name text NOT NULL, version text NOT NULL,"
    " sha256 text NOT NULL, UNIQUE(name, version, sha256));"
    "CREATE TABLE jh_runs(id bigint NOT NULL, job int NOT NULL, plugin int, node text NOT NULL,"
    " result smallint, cause smallint NOT NULL, reason smallint, scheduled bigint,"
    " utc_offset int, attempt int NOT NULL DEFAULT 1, started bigint, finished bigint,"
    " count bigint, error text, PRIMARY KEY(id, node));"
    "CREATE INDEX jh_runs_job ON jh_runs(job, id);"
    "CREATE INDEX jh_runs_open ON jh_runs(node) WHERE result IS NULL;"
    "CREATE TABLE jh_output(run_id bigint NOT NULL, seq int NOT NULL, ts bigint NOT NULL,"
    " level smallint NOT NULL, event text NOT NULL, pairs text NOT NULL,"
    " PRIMARY KEY(run_id, seq));"
    "CREATE TABLE jh_claims(job text NOT NULL, scheduled bigint NOT NULL, utc_offset int NOT NULL,"
    " node text NOT NULL, instance bigint NOT NULL, token bigserial NOT NULL UNIQUE,"
    " run_id bigint NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(),"
    " state text NOT NULL DEFAULT 'running', ended_at timestamptz, reaped_by text,"
    " PRIMARY KEY(job, scheduled, utc_offset));"
    "CREATE INDEX jh_claims_running ON jh_claims(node) WHERE state = 'running';"
    "CREATE INDEX jh_claims_job_running ON jh_claims(job) WHERE state = 'running';"
    "CREATE INDEX jh_claims_age ON jh_claims(claimed_at) WHERE state <> 'running';"
    /* A claim in one round trip: nothing while the node's lease has lapsed
     * (by the database's clock); with max_instances, the job's claims in
     * flight across the cluster are counted under a lock of the job's
     * (each statement of a function sees what committed before it), and a
     * full job's firing is claimed as 'skipped', so that one node records
     * the skip. token NULL: another node holds the firing. */
    "CREATE FUNCTION jh_claim(p_job text, p_scheduled bigint, p_offset int, p_node text,"
    " p_instance bigint, p_run bigint, p_max int)"
    " RETURNS TABLE(leased boolean, token bigint, full_up boolean) LANGUAGE plpgsql AS $f$"
    " DECLARE t bigint; st text := 'running'; BEGIN"
    "  IF NOT EXISTS (SELECT 1 FROM jh_nodes WHERE name = p_node AND instance = p_instance"
    "   AND lease_until > now()) THEN"
    "   RETURN QUERY SELECT false, NULL::bigint, false; RETURN;"
    "  END IF;"
    "  IF p_max > 0 THEN"
    "   PERFORM pg_advisory_xact_lock(hashtext('jh_claim ' || p_job));"
    "   IF (SELECT count(*) FROM jh_claims WHERE job = p_job AND state = 'running')"
    "    >= p_max THEN st := 'skipped'; END IF;"
    "  END IF;"
    "  INSERT INTO jh_claims(job, scheduled, utc_offset, node, instance, run_id, state)"
    "   VALUES (p_job, p_scheduled, p_offset, p_node, p_instance, p_run, st)"
    "   ON CONFLICT DO NOTHING RETURNING jh_claims.token INTO t;"
    "  RETURN QUERY SELECT true, t, st = 'skipped';"
    " END $f$;";

/* Schema 1 to 2: the parent run of a chained job's run; skip reason 6 became
 * `queued` (the concurrency policy) and a claim the store could not take is
 * 7, as in every backend (core/store.c). Schema 1 knew no queued skip, so
 * its 6 was always the unreachable store. */
static const char migrate_1_2[] = "ALTER TABLE jh_runs ADD COLUMN parent bigint;"
                                  "UPDATE jh_runs SET reason = 7 WHERE result = 7 AND reason = 6;";

/* Schema 2 to 3: `recover: true`, and the fan-in sets of chained jobs
 * (jh_fan_in: the parents, as bits of their places in the child's `after`
 * list, that finished since the child last ran, whatever node they ran
 * on; `signature` names the parent list the bits belong to). A claim remembers whether its job
 * re-runs an abandoned firing; the reaper marks such a claim
 * `recovering` (not `abandoned`), and a node's claim takes it over with a
 * new token; `recovered` counts the take-overs. A recovering firing still
 * holds one of its job's max_instances. jh_claim gains the flag; the form
 * without it stays for nodes of schema 2 during an upgrade. Written to
 * apply again over itself (a database put back to an older version). */
static const char migrate_2_3[] =
    "ALTER TABLE jh_claims ADD COLUMN IF NOT EXISTS recover boolean NOT NULL DEFAULT false;"
    "ALTER TABLE jh_claims ADD COLUMN IF NOT EXISTS recovered int NOT NULL DEFAULT 0;"
    "CREATE TABLE IF NOT EXISTS jh_fan_in(child text PRIMARY KEY, signature bigint NOT NULL,"
    " seen bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jh_claims_recovering ON jh_claims(job)"
    " WHERE state = 'recovering';"
    "CREATE INDEX IF NOT EXISTS jh_claims_job_active ON jh_claims(job)"
    " WHERE state IN ('running', 'recovering');"
    "CREATE OR REPLACE FUNCTION jh_claim(p_job text, p_scheduled bigint, p_offset int,"
    " p_node text, p_instance bigint, p_run bigint, p_max int, p_recover boolean)"
    " RETURNS TABLE(leased boolean, token bigint, full_up boolean) LANGUAGE plpgsql AS $f$"
    " DECLARE t bigint; st text := 'running'; BEGIN"
    "  IF NOT EXISTS (SELECT 1 FROM jh_nodes WHERE name = p_node AND instance = p_instance"
    "   AND lease_until > now()) THEN"
    "   RETURN QUERY SELECT false, NULL::bigint, false; RETURN;"
    "  END IF;"
    /* another node's committed claim: lost, without waiting on the job's lock */
    "  IF EXISTS (SELECT 1 FROM jh_claims c WHERE c.job = p_job AND c.scheduled = p_scheduled"
    "   AND c.utc_offset = p_offset) THEN"
    "   RETURN QUERY SELECT true, NULL::bigint, false; RETURN;"
    "  END IF;"
    "  IF p_max > 0 THEN"
    "   PERFORM pg_advisory_xact_lock(hashtext('jh_claim ' || p_job));"
    "   IF (SELECT count(*) FROM jh_claims WHERE job = p_job"
    "    AND state IN ('running', 'recovering')) >= p_max THEN st := 'skipped'; END IF;"
    "  END IF;"
    "  INSERT INTO jh_claims(job, scheduled, utc_offset, node, instance, run_id, state, recover)"
    "   VALUES (p_job, p_scheduled, p_offset, p_node, p_instance, p_run, st, p_recover)"
    "   ON CONFLICT DO NOTHING RETURNING jh_claims.token INTO t;"
    "  RETURN QUERY SELECT true, t, st = 'skipped';"
    " END $f$;"
    /* A worker's batch in one round trip: what jh_claim answers for each
     * firing, the lease checked once. The firings go in the order of the
     * locks each takes (the job's advisory lock, then the firing's key),
     * which every node follows, so that two batches never wait on each
     * other in a circle. One statement per step and firing, each planned
     * for its values (a set-wise INSERT was slower: its plan is made before
     * the table's statistics say what is in it). Row i answers firing i. */
    "CREATE OR REPLACE FUNCTION jh_claim_many(p_jobs text[], p_scheduled bigint[],"
    " p_offsets int[], p_node text, p_instance bigint, p_runs bigint[], p_max int[],"
    " p_recover boolean[])"
    " RETURNS TABLE(i int, leased boolean, token bigint, full_up boolean)"
    " LANGUAGE plpgsql AS $f$"
    " DECLARE k int; t bigint; st text; BEGIN"
    "  IF NOT EXISTS (SELECT 1 FROM jh_nodes WHERE name = p_node AND instance = p_instance"
    "   AND lease_until > now()) THEN"
    "   RETURN QUERY SELECT g, false, NULL::bigint, false FROM generate_subscripts(p_jobs, 1) g;"
    "   RETURN;"
    "  END IF;"
    "  FOR k IN SELECT g FROM generate_subscripts(p_jobs, 1) g"
    "   ORDER BY hashtext('jh_claim ' || p_jobs[g]), p_jobs[g], p_scheduled[g] LOOP"
    "   i := k; leased := true; token := NULL; full_up := false;"
    "   IF EXISTS (SELECT 1 FROM jh_claims c WHERE c.job = p_jobs[k]"
    "    AND c.scheduled = p_scheduled[k] AND c.utc_offset = p_offsets[k]) THEN"
    "    RETURN NEXT; CONTINUE;"
    "   END IF;"
    "   st := 'running';"
    "   IF p_max[k] > 0 THEN"
    "    PERFORM pg_advisory_xact_lock(hashtext('jh_claim ' || p_jobs[k]));"
    "    IF (SELECT count(*) FROM jh_claims c WHERE c.job = p_jobs[k]"
    "     AND c.state IN ('running', 'recovering')) >= p_max[k] THEN st := 'skipped'; END IF;"
    "   END IF;"
    "   t := NULL;"
    "   INSERT INTO jh_claims(job, scheduled, utc_offset, node, instance, run_id, state,"
    "    recover) VALUES (p_jobs[k], p_scheduled[k], p_offsets[k], p_node, p_instance,"
    "    p_runs[k], st, p_recover[k]) ON CONFLICT DO NOTHING RETURNING jh_claims.token INTO t;"
    "   token := t; full_up := t IS NOT NULL AND st = 'skipped';"
    "   RETURN NEXT;"
    "  END LOOP;"
    " END $f$;"
    "CREATE OR REPLACE FUNCTION jh_claim(p_job text, p_scheduled bigint, p_offset int,"
    " p_node text, p_instance bigint, p_run bigint, p_max int)"
    " RETURNS TABLE(leased boolean, token bigint, full_up boolean) LANGUAGE sql AS $f$"
    " SELECT * FROM jh_claim(p_job, p_scheduled, p_offset, p_node, p_instance, p_run, p_max,"
    " false) $f$;";

/* The advisory lock that serialises schema work between nodes starting
 * together ("jhschema"). */
#define SCHEMA_LOCK "7668686368656d61"

static int result_status(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -EIO;
}

/* One statement without parameters; its failure's words in err. */
static int exec_simple(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(c, sql);
    int rc = result_status(res);

    if (rc < 0 && err)
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static int settle_schema(PGconn *c, char *err, size_t errlen)
{
    PGresult *res = NULL;
    int rc, version = 0;

    rc = exec_simple(c, "BEGIN", err, errlen);
    if (rc == 0)
        rc = exec_simple(c, "SELECT pg_advisory_xact_lock(x'" SCHEMA_LOCK "'::bigint)", err,
                         errlen);
    if (rc == 0)
        rc = exec_simple(c,
                         "CREATE TABLE IF NOT EXISTS jh_meta(key text PRIMARY KEY,"
                         " value text NOT NULL)",
                         err, errlen);
    if (rc == 0) {
        res = PQexec(c, "SELECT value FROM jh_meta WHERE key = 'schema_version'");
        rc = result_status(res);
        if (rc < 0)
            snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        else if (PQntuples(res) == 1)
            version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    if (rc == 0 && version > STORE_PG_SCHEMA) {
        snprintf(err, errlen,
                 "the database holds schema %d, written by a newer jobhost (this one knows %d): "
                 "left as it is",
                 version, STORE_PG_SCHEMA);
        rc = -EPROTO;
    }
    if (rc == 0 && version < 1) {
        rc = exec_simple(c, schema_v1, err, errlen);
        if (rc == 0)
            rc = exec_simple(c,
                             "INSERT INTO jh_meta VALUES ('schema_version', '1')"
                             " ON CONFLICT (key) DO UPDATE SET value = '1'",
                             err, errlen);
    }
    /* later schemas migrate here, one step per version */
    if (rc == 0 && version < 2) {
        rc = exec_simple(c, migrate_1_2, err, errlen);
        if (rc == 0)
            rc = exec_simple(c,
                             "UPDATE jh_meta SET value = '2' WHERE key = 'schema_version'",
                             err, errlen);
    }
    if (rc == 0 && version < 3) {
        rc = exec_simple(c, migrate_2_3, err, errlen);
        if (rc == 0)
            rc = exec_simple(c,
                             "UPDATE jh_meta SET value = '3' WHERE key = 'schema_version'",
                             err, errlen);
    }
    if (rc == 0)
        rc = exec_simple(c, "COMMIT", err, errlen);
    if (rc < 0) {
        chomp(err);
        (void)exec_simple(c, "ROLLBACK", NULL, 0); /* nothing of it stays */
    }
    return rc;
}

int store_pg_connect(const char *conninfo, PGconn **out, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc;

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory connecting");
        return -ENOMEM;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        chomp(err);
        PQfinish(c);
        return -ECONNREFUSED;
    }
    (void)exec_simple(c, "SET client_min_messages = warning", NULL, 0); /* quiet CREATEs */
    rc = settle_schema(c, err, errlen);
    if (rc < 0) {
        PQfinish(c);
        return rc;
    }
    *out = c;
    return 0;
}

char *store_pg_conninfo(const char *dsn, const char *password)
{
    struct buf b = {0};

    buf_puts(&b, dsn);
    if (password) {
        buf_puts(&b, " password='");
        for (const char *p = password; *p; p++) {
            if (*p == '\'' || *p == '\\')
                buf_putc(&b, '\\');
            buf_putc(&b, *p);
        }
        buf_putc(&b, '\'');
    }
    buf_putc(&b, '\0');
    return b.data;
}

/* --- parameters ------------------------------------------------------------------ */

/* Up to 16 text parameters of one statement; NULL = SQL NULL. */
struct params {
    const char *v[16];
    char num[16][24];
    int n;
};

static void p_i64(struct params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* 0 as NULL */
static void p_opt(struct params *p, int64_t v)
{
    if (v)
        p_i64(p, v);
    else
        p->v[p->n++] = NULL;
}

static void p_text(struct params *p, const char *s)
{
    p->v[p->n++] = s && *s ? s : NULL;
}

static PGresult *run(PGconn *c, const char *sql, const struct params *p)
{
    return PQexecParams(c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
}

static int64_t get_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *get_text(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    const char *t = PQgetvalue(res, row, col);
    return *t ? t : NULL;
}

/* A failed result (cleared) as -errno, its words kept for the writer. */
static int fail(struct pg_store *s, PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(s->conn);
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, msg);
    chomp(s->errmsg);
    PQclear(res);
    return PQstatus(s->conn) == CONNECTION_OK ? -EIO : -ECONNRESET;
}

/* A statement whose rows are not needed. */
static int exec_p(struct pg_store *s, const char *sql, const struct params *p, const char *what)
{
    PGresult *res = run(s->conn, sql, p);
    if (result_status(res) < 0)
        return fail(s, res, what);
    PQclear(res);
    return 0;
}

/* --- open, close ------------------------------------------------------------------ */

static int register_node(struct pg_store *s, char *err, size_t errlen);
static int live_elsewhere(struct pg_store *s, char *err, size_t errlen);

static void pg_close(struct store *base)
{
    struct pg_store *s = (struct pg_store *)base;

    if (!s)
        return;
    PQfinish(s->conn);
    free(s);
}

static int pg_open(const struct store_config *cfg, struct store **out, char *err, size_t errlen)
{
    struct pg_store *s;
    int rc;

    *out = NULL;
    s = xcalloc(1, sizeof(*s));
    s->base.ops = &pg_ops;
    snprintf(s->node, sizeof(s->node), "%s", cfg->node ? cfg->node : "");
    snprintf(s->version, sizeof(s->version), "%s", cfg->version ? cfg->version : "");
    s->instance = cfg->instance;
    s->lease_ns = cfg->lease_ns > 0 ? cfg->lease_ns : 15 * (int64_t)1000000000;
    s->pid = cfg->pid;
    s->tool = cfg->tool;
    if (gethostname(s->host, sizeof(s->host) - 1) < 0)
        s->host[0] = '\0';
    rc = store_pg_connect(cfg->path, &s->conn, err, errlen);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* a name another live daemon holds stops the start here, before
     * anything is built (restore registers the node for good) */
    if (!s->tool && (rc = live_elsewhere(s, err, errlen)) < 0) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* --- restore ------------------------------------------------------------------ */

#define INTERRUPTED_ERROR                                                                      \
    "the daemon stopped while the run was in flight (killed, crashed, or the machine went "    \
    "down): whether it did its work is unknown"

/* -EBUSY (with the message) when another start holds the name and its
 * lease runs; 0 otherwise. */
static int live_elsewhere(struct pg_store *s, char *err, size_t errlen)
{
    struct params p = {0};
    PGresult *res;
    int rc = 0;

    p_text(&p, s->node);
    p_i64(&p, (int64_t)s->instance);
    res = run(s->conn,
              "SELECT pid, round(extract(epoch FROM lease_until - now())), host, instance"
              " FROM jh_nodes WHERE name = $1 AND instance <> $2 AND stopped_at IS NULL"
              " AND lease_until >= now()",
              &p);
    if (result_status(res) < 0)
        return fail(s, res, "reading the nodes");
    if (PQntuples(res) == 1) {
        int pid = (int)get_i64(res, 0, 0);
        const char *host = get_text(res, 0, 2);
        if (host && s->host[0] && strcmp(host, s->host) == 0 && pid > 0 &&
            kill(pid, 0) < 0 && errno == ESRCH) {
            /* an earlier start on this machine that died (a crash, kill -9,
             * and systemd restarting it): its lease ends now, and its runs
             * in flight are closed at restore */
            struct params q = {0};
            p_text(&q, s->node);
            p_i64(&q, get_i64(res, 0, 3)); /* copied: res goes now */
            PQclear(res);
            return exec_p(s,
                          "UPDATE jh_nodes SET lease_until = now() - interval '1 microsecond'"
                          " WHERE name = $1 AND instance = $2",
                          &q, "ending a dead start's lease");
        }
        snprintf(err, errlen,
                 "node \"%s\" is live already (pid %d on %s, its lease runs %s s more): two "
                 "live nodes cannot share one name (host.node)",
                 s->node, pid, host ? host : "?", PQgetvalue(res, 0, 1));
        rc = -EBUSY;
    }
    PQclear(res);
    return rc;
}

/* This node's row, for this instance; -EBUSY when a live daemon holds the
 * name (its lease runs and it did not stop). */
static int register_node(struct pg_store *s, char *err, size_t errlen)
{
    struct params p = {0};
    PGresult *res;
    int rc;

    p_text(&p, s->node);
    p_i64(&p, (int64_t)s->instance);
    p_i64(&p, s->pid);
    p_text(&p, s->version);
    p_i64(&p, s->lease_ns / 1000);
    p_text(&p, s->host);
    res = run(s->conn,
              "INSERT INTO jh_nodes(name, instance, pid, version, lease_until, host)"
              " VALUES ($1, $2, $3, $4, now() + $5 * interval '1 microsecond', $6)"
              " ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance,"
              " pid = EXCLUDED.pid, version = EXCLUDED.version, host = EXCLUDED.host,"
              " started_at = now(), manifest_sha256 = NULL," /* this start's comes with its lease */
              " heartbeat_at = now(), lease_until = EXCLUDED.lease_until, stopped_at = NULL"
              " WHERE jh_nodes.instance = EXCLUDED.instance OR jh_nodes.stopped_at IS NOT NULL"
              " OR jh_nodes.lease_until < now()"
              " RETURNING instance",
              &p);
    if (result_status(res) < 0) {
        rc = fail(s, res, "registering the node");
        snprintf(err, errlen, "%s", s->errmsg);
        return rc;
    }
    rc = PQntuples(res) == 1 ? 0 : -EBUSY;
    PQclear(res);
    if (rc == -EBUSY && live_elsewhere(s, err, errlen) == 0)
        snprintf(err, errlen, "node \"%s\" is live already: two live nodes cannot share one "
                 "name (host.node)", s->node);
    return rc;
}

/* One configured job: its key (registered when new) and what history says
 * of it. */
static int restore_job(struct pg_store *s, const struct store_restore *r, size_t i,
                       struct store_job_state *js)
{
    struct params p = {0};
    PGresult *res;
    int rc = -EIO;

    p_text(&p, r->job_ids[i]);
    p_i64(&p, r->now_ns);
    res = run(s->conn,
              "INSERT INTO jh_jobs(id, first_seen) VALUES ($1, $2)"
              " ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id"
              " RETURNING key, first_seen, paused, xmax = 0",
              &p);
    if (result_status(res) < 0 || PQntuples(res) != 1)
        return fail(s, res, "registering a job");
    js->key = (uint32_t)get_i64(res, 0, 0);
    js->first_seen_ns = get_i64(res, 0, 1);
    js->paused = PQgetvalue(res, 0, 2)[0] == 't';
    js->known = PQgetvalue(res, 0, 3)[0] != 't';
    PQclear(res);
    if (!js->known)
        return 0;

    p.n = 0;
    p_i64(&p, js->key);
    p_text(&p, r->job_ids[i]);
    p_i64(&p, r->dates && r->dates[i] ? r->dates[i] : -1);
    p.v[p.n++] = s->node;
    res = run(s->conn,
              "SELECT l.id, l.result, l.started, l.finished, l.error,"
              " (SELECT max(finished) FROM jh_runs WHERE job = $1 AND result = 0),"
              " (SELECT max(finished) FROM jh_runs WHERE job = $1 AND result IN (1, 2, 3, 6)),"
              " greatest((SELECT max(scheduled) FROM jh_runs WHERE job = $1 AND cause IN (0, 3)),"
              "  (SELECT max(scheduled) FROM jh_claims WHERE job = $2)),"
              " EXISTS (SELECT 1 FROM jh_runs WHERE job = $1 AND scheduled = $3"
              "  AND cause IN (0, 3)) OR EXISTS (SELECT 1 FROM jh_claims WHERE job = $2"
              "  AND scheduled = $3),"
              " l.node = $4, l.attempt, l.scheduled"
              " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT id, result, started, finished,"
              "  error, node, attempt, scheduled FROM jh_runs WHERE job = $1"
              "  AND result IS NOT NULL AND result <> 7 ORDER BY id DESC LIMIT 1) l ON true",
              &p);
    if (result_status(res) < 0 || PQntuples(res) != 1)
        return fail(s, res, "reading a job's history");
    if (!PQgetisnull(res, 0, 0)) {
        const char *e = get_text(res, 0, 4);
        js->last_id = (uint64_t)get_i64(res, 0, 0);
        js->last_result = store_result_of((int)get_i64(res, 0, 1));
        js->last_started_ns = get_i64(res, 0, 2);
        js->last_duration_ns = get_i64(res, 0, 3) - js->last_started_ns;
        js->last_error = e ? xstrdup(e) : NULL;
        /* a retry the last run left waiting is taken back by the node that
         * ran it: another node's is its own to try again */
        if (r->attempts && r->attempts[i] && PQgetvalue(res, 0, 9)[0] == 't' &&
            store_code_failed((int)get_i64(res, 0, 1))) {
            js->last_attempt = (unsigned)get_i64(res, 0, 10);
            js->last_run_scheduled_ns = get_i64(res, 0, 11);
        }
    }
    js->last_success_ns = get_i64(res, 0, 5);
    js->last_failure_ns = get_i64(res, 0, 6);
    js->last_scheduled_ns = get_i64(res, 0, 7);
    js->date_done = r->dates && r->dates[i] && PQgetvalue(res, 0, 8)[0] == 't';
    PQclear(res);
    rc = 0;
    return rc;
}

/* This node's runs left in flight by its previous start: interrupted. */
static int close_open_runs(struct pg_store *s, struct store_restore *r)
{
    struct params p = {0};
    PGresult *res;

    p_text(&p, s->node);
    p_i64(&p, r->last_seen_ns);
    p_text(&p, INTERRUPTED_ERROR);
    res = run(s->conn,
              "UPDATE jh_runs u SET result = 6, finished = greatest(u.started, $2), error = $3"
              " FROM jh_jobs j WHERE u.node = $1 AND u.result IS NULL AND j.key = u.job"
              " RETURNING u.id, u.job, u.started, j.id",
              &p);
    if (result_status(res) < 0)
        return fail(s, res, "closing interrupted runs");
    for (int i = 0; i < PQntuples(res); i++) {
        uint32_t job = (uint32_t)get_i64(res, i, 1);
        for (size_t k = 0; k < r->n_jobs; k++)
            if (r->jobs[k].key == job)
                r->jobs[k].interrupted++;
        r->n_interrupted++;
        if (r->interrupted)
            r->interrupted(r->arg, PQgetvalue(res, i, 3), (uint64_t)get_i64(res, i, 0),
                           get_i64(res, i, 2));
    }
    PQclear(res);
    return 0;
}

static int pg_restore(struct store *base, struct store_restore *r, char *err, size_t errlen)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    PGresult *res;
    int rc;

    r->jobs = xcalloc(r->n_jobs ? r->n_jobs : 1, sizeof(*r->jobs));
    r->last_seen_ns = 0;
    r->store_now_ns = 0;
    r->n_interrupted = 0;
    rc = exec_p(s, "BEGIN", NULL, "restoring");
    if (rc == 0 && !s->tool) {
        /* when this node was last alive, before this start registers it,
         * and the database's now */
        p_text(&p, s->node);
        res = run(s->conn,
                  "SELECT (SELECT (extract(epoch FROM coalesce(stopped_at, heartbeat_at))"
                  "  * 1e9)::bigint FROM jh_nodes WHERE name = $1),"
                  " (extract(epoch FROM now()) * 1e9)::bigint",
                  &p);
        if (result_status(res) < 0 || PQntuples(res) != 1) {
            rc = fail(s, res, "restoring");
        } else {
            r->last_seen_ns = get_i64(res, 0, 0);
            r->store_now_ns = get_i64(res, 0, 1);
            PQclear(res);
        }
        if (rc == 0)
            rc = register_node(s, err, errlen);
        if (rc < 0) {
            (void)exec_simple(s->conn, "ROLLBACK", NULL, 0);
            return rc;
        }
    }
    for (size_t i = 0; i < r->n_jobs && rc == 0; i++)
        rc = restore_job(s, r, i, &r->jobs[i]);
    if (rc == 0 && !r->keep_open_runs && !s->tool)
        rc = close_open_runs(s, r);
    if (rc == 0)
        rc = exec_p(s, "COMMIT", NULL, "restoring");
    if (rc < 0) {
        snprintf(err, errlen, "%s", s->errmsg);
        (void)exec_simple(s->conn, "ROLLBACK", NULL, 0);
    }
    return rc;
}

/* --- the writer's operations ------------------------------------------------------------- */

static int pg_job_key(struct store *base, const char *id, int64_t now, uint32_t *key)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    PGresult *res;

    p_text(&p, id);
    p_i64(&p, now);
    res = run(s->conn,
              "INSERT INTO jh_jobs(id, first_seen) VALUES ($1, $2)"
              " ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING key",
              &p);
    if (result_status(res) < 0 || PQntuples(res) != 1)
        return fail(s, res, "registering a job");
    *key = (uint32_t)get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

static int pg_plugin_key(struct store *base, const char *name, const char *version,
                         const char *sha256, uint32_t *key)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    PGresult *res;

    p.v[p.n++] = name;
    p.v[p.n++] = version ? version : "";
    p.v[p.n++] = sha256 ? sha256 : "";
    res = run(s->conn,
              "INSERT INTO jh_plugins(name, version, sha256) VALUES ($1, $2, $3)"
              " ON CONFLICT (name, version, sha256) DO UPDATE SET name = EXCLUDED.name"
              " RETURNING key",
              &p);
    if (result_status(res) < 0 || PQntuples(res) != 1)
        return fail(s, res, "registering a plugin");
    *key = (uint32_t)get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

static int pg_begin(struct store *base)
{
    return exec_p((struct pg_store *)base, "BEGIN", NULL, "beginning a transaction");
}

static int pg_commit(struct store *base)
{
    return exec_p((struct pg_store *)base, "COMMIT", NULL, "committing");
}

static void pg_rollback(struct store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    (void)exec_simple(s->conn, "ROLLBACK", NULL, 0); /* a dead connection rolls back itself */
}

static int pg_put_row(struct store *base, const struct store_row *row)
{
    struct pg_store *s = (struct pg_store *)base;
    int code = store_result_code(row->result);
    int cause = store_cause_code((int)row->trigger);
    struct params p = {0};
    PGresult *res;

    if (row->start_written) {
        /* a run closed meanwhile (abandoned by another node) stays closed */
        p_i64(&p, (int64_t)row->id);
        p_i64(&p, row->finished_ns);
        p_i64(&p, code);
        p_text(&p, row->error);
        p.v[p.n++] = s->node;
        res = run(s->conn,
                  "UPDATE jh_runs SET finished = $2, result = $3, error = $4"
                  " WHERE id = $1 AND node = $5 AND result IS NULL",
                  &p);
        if (result_status(res) < 0)
            return fail(s, res, "writing a run");
        bool done = strcmp(PQcmdTuples(res), "0") != 0;
        PQclear(res);
        if (done)
            return 0;
        p.n = 0; /* its start is not there (a store reopened since): the whole row */
    }
    p_i64(&p, (int64_t)row->id);
    p_i64(&p, row->job);
    p_i64(&p, cause < 0 ? 0 : cause);
    p_opt(&p, row->scheduled_ns);
    if (row->scheduled_ns)
        p_i64(&p, row->utc_offset);
    else
        p.v[p.n++] = NULL;
    p_i64(&p, row->attempt ? row->attempt : 1);
    p_opt(&p, row->started_ns);
    p_opt(&p, row->result == STORE_RESULT_RUNNING ? 0 : row->finished_ns);
    if (code >= 0)
        p_i64(&p, code);
    else
        p.v[p.n++] = NULL;
    if (row->result == STORE_RESULT_SKIPPED) {
        p_i64(&p, store_reason_code((int)row->reason));
        p_i64(&p, (int64_t)(row->count ? row->count : 1));
    } else {
        p.v[p.n++] = NULL;
        p.v[p.n++] = NULL;
    }
    p_text(&p, row->error);
    p_opt(&p, row->plugin);
    p.v[p.n++] = s->node;
    p_opt(&p, (int64_t)row->parent_run_id);
    return exec_p(s,
                  "INSERT INTO jh_runs(id, job, cause, scheduled, utc_offset, attempt, started,"
                  " finished, result, reason, count, error, plugin, node, parent)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                  " ON CONFLICT (id, node) DO NOTHING",
                  &p, "writing a run");
}

static int pg_put_record(struct store *base, const struct store_record *rec)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};

    p_i64(&p, (int64_t)rec->run_id);
    p_i64(&p, rec->seq);
    p_i64(&p, rec->ts_ns);
    p_i64(&p, rec->level);
    p.v[p.n++] = rec->event ? rec->event : "";
    p.v[p.n++] = rec->pairs ? rec->pairs : "{}";
    return exec_p(s,
                  "INSERT INTO jh_output(run_id, seq, ts, level, event, pairs)"
                  " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                  &p, "writing a run's output");
}

static int pg_set_paused(struct store *base, uint32_t job, bool paused, int64_t at)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};

    p_i64(&p, job);
    p.v[p.n++] = paused ? "true" : "false";
    p_i64(&p, at);
    return exec_p(s, "UPDATE jh_jobs SET paused = $2, paused_at = $3 WHERE key = $1", &p,
                  "writing a pause");
}

static int pg_flush(struct store *base)
{
    (void)base; /* summaries are read from the rows: nothing deferred */
    return 0;
}

static int pg_heartbeat(struct store *base, int64_t now, bool stopping)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};

    (void)now; /* leases run on the database's clock */
    if (s->tool)
        return 0;
    p_text(&p, s->node);
    p_i64(&p, (int64_t)s->instance);
    p_i64(&p, s->lease_ns / 1000);
    if (stopping)
        return exec_p(s,
                      "UPDATE jh_nodes SET stopped_at = now(), heartbeat_at = now(),"
                      " lease_until = now() WHERE name = $1 AND instance = $2 AND $3 >= 0",
                      &p, "writing the heartbeat");
    return exec_p(s,
                  "UPDATE jh_nodes SET heartbeat_at = now(),"
                  " lease_until = now() + $3 * interval '1 microsecond'"
                  " WHERE name = $1 AND instance = $2",
                  &p, "writing the heartbeat");
}

/* The rows of job `key` retention removes (or counts), at most budget. */
static int prune_job(struct pg_store *s, const struct store_retention *r, int64_t now,
                     uint32_t key, unsigned budget, bool dry_run, uint64_t *removed)
{
    static const char victims[] =
        "SELECT id FROM (SELECT id, result IN (1, 2, 3, 6) AS failed,"
        " row_number() OVER (ORDER BY id DESC) AS rn,"
        " row_number() OVER (PARTITION BY result IN (1, 2, 3, 6) ORDER BY id DESC) AS frn"
        " FROM jh_runs WHERE job = $1 AND result IS NOT NULL) t"
        " WHERE NOT ((($2 = 0 OR rn <= $2) AND id >= $3)"
        "  OR (failed AND ($2 = 0 OR frn <= $2) AND id >= $4)) LIMIT $5";
    char sql[1024];
    struct params p = {0};
    PGresult *res;

    p_i64(&p, key);
    p_i64(&p, r->max_runs);
    p_i64(&p, r->max_age_ns ? (int64_t)run_id_floor(now - r->max_age_ns) : 0);
    p_i64(&p, r->keep_failures_ns ? (int64_t)run_id_floor(now - r->keep_failures_ns) : 0);
    p_i64(&p, budget);
    if (dry_run)
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s) v", victims);
    else
        snprintf(sql, sizeof(sql),
                 "WITH d AS (DELETE FROM jh_runs WHERE id IN (%s) RETURNING id),"
                 " o AS (DELETE FROM jh_output WHERE run_id IN (SELECT id FROM d))"
                 " SELECT count(*) FROM d",
                 victims);
    res = run(s->conn, sql, &p);
    if (result_status(res) < 0 || PQntuples(res) != 1)
        return fail(s, res, "pruning");
    *removed = (uint64_t)get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

static int pg_prune(struct store *base, const struct store_retention *r, int64_t now,
                    uint32_t *cursor, unsigned budget, bool dry_run, struct store_prune_stats *st)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    PGresult *res;
    int rc = 0;

    p_i64(&p, *cursor);
    res = run(s->conn, "SELECT key FROM jh_jobs WHERE key >= $1 ORDER BY key LIMIT 64", &p);
    if (result_status(res) < 0)
        return fail(s, res, "pruning");
    int n = PQntuples(res);
    for (int i = 0; i < n && rc == 0; i++) {
        uint32_t key = (uint32_t)get_i64(res, i, 0);
        uint64_t removed = 0;
        if (budget == 0) {
            *cursor = key;
            PQclear(res);
            return 1;
        }
        rc = prune_job(s, r, now, key, budget, dry_run, &removed);
        if (rc < 0)
            break;
        st->jobs++;
        st->removed += removed;
        budget = removed >= budget ? 0 : budget - (unsigned)removed;
        *cursor = key + 1;
    }
    PQclear(res);
    if (rc < 0)
        return rc;
    if (n == 64)
        return 1;
    if (!dry_run && r->max_age_ns > 0) {
        /* settled claims older than the history kept: what a node needs of
         * them (who holds a firing) is long decided */
        struct params q = {0};
        p_i64(&q, r->max_age_ns / 1000);
        rc = exec_p(s,
                    "DELETE FROM jh_claims WHERE state <> 'running'"
                    " AND claimed_at < now() - $1 * interval '1 microsecond'",
                    &q, "pruning claims");
        if (rc < 0)
            return rc;
    }
    *cursor = 0;
    return 0;
}

static int pg_check(struct store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    /* a dropped connection is a store to open again: the writer does */
    return PQstatus(s->conn) == CONNECTION_OK ? 0 : -ESTALE;
}

static const char *pg_error(struct store *base)
{
    return ((struct pg_store *)base)->errmsg;
}

/* --- readers ------------------------------------------------------------------ */

#define ENTRY_COLUMNS                                                                          \
    "r.id, j.id, r.result, r.cause, r.reason, r.scheduled, r.utc_offset, r.attempt,"          \
    " r.started, r.finished, r.count, r.error, p.name, p.version, p.sha256, r.node, r.parent"
#define ENTRY_FROM                                                                             \
    " FROM jh_runs r JOIN jh_jobs j ON j.key = r.job LEFT JOIN jh_plugins p ON p.key = r.plugin"

static int emit_entries(PGresult *res, store_entry_fn fn, void *arg)
{
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_entry e = {
            .id = (uint64_t)get_i64(res, i, 0),
            .job_id = PQgetvalue(res, i, 1),
            .scheduled_ns = get_i64(res, i, 5),
            .utc_offset = (int32_t)get_i64(res, i, 6),
            .has_offset = !PQgetisnull(res, i, 6),
            .attempt = (unsigned)get_i64(res, i, 7),
            .started_ns = get_i64(res, i, 8),
            .finished_ns = get_i64(res, i, 9),
            .count = (uint64_t)get_i64(res, i, 10),
            .error = get_text(res, i, 11),
            .plugin = get_text(res, i, 12),
            .plugin_version = get_text(res, i, 13),
            .plugin_sha256 = get_text(res, i, 14),
            .node = get_text(res, i, 15),
            .parent_run_id = (uint64_t)get_i64(res, i, 16),
        };
        int cause = store_cause_of((int)get_i64(res, i, 3));
        e.result = PQgetisnull(res, i, 2) ? STORE_RESULT_RUNNING
                                          : store_result_of((int)get_i64(res, i, 2));
        e.trigger = cause < 0 ? RUN_SCHEDULED : (enum run_trigger)cause;
        if (e.result == STORE_RESULT_SKIPPED) {
            int reason = store_reason_of((int)get_i64(res, i, 4));
            e.reason = reason < 0 ? SKIP_MISFIRE : (enum skip_reason)reason;
        }
        if (fn(arg, &e) != 0)
            break;
    }
    return 0;
}

static int reader_result(PGresult *res)
{
    int rc = result_status(res);
    PQclear(res);
    return rc;
}

static int pg_list(struct store_reader *base, const struct store_query *q, store_entry_fn fn,
                   void *arg)
{
    struct pg_reader *r = (struct pg_reader *)base;
    struct params p = {0};
    PGresult *res;
    const char *filter = "";

    p.v[p.n++] = q->job_id;
    res = run(r->conn, "SELECT key FROM jh_jobs WHERE id = $1", &p);
    if (result_status(res) < 0)
        return reader_result(res);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return -ENOENT;
    }
    int64_t job = get_i64(res, 0, 0);
    PQclear(res);

    p.n = 0;
    p_i64(&p, job);
    p_i64(&p, q->before ? (int64_t)(q->before > INT64_MAX ? INT64_MAX : q->before) : INT64_MAX);
    p_i64(&p, q->limit ? q->limit : 50);
    if (q->result == STORE_RESULT_RUNNING) {
        filter = " AND r.result IS NULL";
    } else if (q->result != INT32_MIN) {
        filter = " AND r.result = $4";
        p_i64(&p, store_result_code(q->result));
    }
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT " ENTRY_COLUMNS ENTRY_FROM " WHERE r.job = $1 AND r.id < $2%s"
             " ORDER BY r.id DESC LIMIT $3",
             filter);
    res = run(r->conn, sql, &p);
    if (result_status(res) < 0)
        return reader_result(res);
    emit_entries(res, fn, arg);
    PQclear(res);
    return 0;
}

static int pg_get(struct store_reader *base, uint64_t id, store_entry_fn fn, void *arg)
{
    struct pg_reader *r = (struct pg_reader *)base;
    struct params p = {0};
    PGresult *res;
    bool any;

    p_i64(&p, (int64_t)id);
    res = run(r->conn, "SELECT " ENTRY_COLUMNS ENTRY_FROM " WHERE r.id = $1", &p);
    if (result_status(res) < 0)
        return reader_result(res);
    any = PQntuples(res) > 0;
    emit_entries(res, fn, arg);
    PQclear(res);
    return any ? 0 : -ENOENT;
}

static int pg_output(struct store_reader *base, uint64_t run_id, uint32_t from_seq,
                     unsigned limit, store_record_fn fn, void *arg)
{
    struct pg_reader *r = (struct pg_reader *)base;
    struct params p = {0};
    PGresult *res;

    p_i64(&p, (int64_t)run_id);
    p_i64(&p, from_seq);
    if (limit)
        p_i64(&p, limit);
    else
        p.v[p.n++] = NULL; /* LIMIT NULL: all */
    res = run(r->conn,
              "SELECT seq, ts, level, event, pairs FROM jh_output"
              " WHERE run_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
              &p);
    if (result_status(res) < 0)
        return reader_result(res);
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_record rec = {
            .run_id = run_id,
            .seq = (uint32_t)get_i64(res, i, 0),
            .ts_ns = get_i64(res, i, 1),
            .level = (int)get_i64(res, i, 2),
            .event = PQgetvalue(res, i, 3),
            .pairs = PQgetvalue(res, i, 4),
        };
        if (fn(arg, &rec) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

static int pg_nodes(struct store_reader *base, store_node_fn fn, void *arg)
{
    struct pg_reader *r = (struct pg_reader *)base;
    PGresult *res;

#define NS_OF(col) "(extract(epoch FROM " col ") * 1e9)::bigint"
    res = run(r->conn,
              "SELECT n.name, n.version, n.pid, " NS_OF("n.started_at") ", " NS_OF(
                  "n.heartbeat_at") ", " NS_OF("n.lease_until") ", " NS_OF("n.stopped_at")
              ", n.lease_until > now() AND n.stopped_at IS NULL,"
              " (SELECT count(*) FROM jh_claims c WHERE c.node = n.name"
              "  AND c.instance = n.instance AND c.state = 'running'), n.manifest_sha256"
              " FROM jh_nodes n ORDER BY n.name",
              NULL);
#undef NS_OF
    if (result_status(res) < 0)
        return reader_result(res);
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_node n = {
            .name = PQgetvalue(res, i, 0),
            .version = get_text(res, i, 1),
            .pid = (int)get_i64(res, i, 2),
            .started_ns = get_i64(res, i, 3),
            .heartbeat_ns = get_i64(res, i, 4),
            .lease_until_ns = get_i64(res, i, 5),
            .stopped_ns = get_i64(res, i, 6),
            .live = PQgetvalue(res, i, 7)[0] == 't',
            .running = (uint64_t)get_i64(res, i, 8),
            .manifest_sha256 = get_text(res, i, 9),
        };
        if (fn(arg, &n) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

static void pg_reader_close(struct store_reader *base)
{
    struct pg_reader *r = (struct pg_reader *)base;

    if (!r)
        return;
    PQfinish(r->conn);
    free(r);
}

static int pg_open_reader(const char *conninfo, struct store_reader **out, char *err,
                          size_t errlen)
{
    struct pg_reader *r;
    PGconn *c = NULL;
    int rc;

    *out = NULL;
    rc = store_pg_connect(conninfo, &c, err, errlen);
    if (rc < 0)
        return rc;
    r = xcalloc(1, sizeof(*r));
    r->base.ops = &pg_ops;
    r->conn = c;
    *out = &r->base;
    return 0;
}

static const struct store_ops pg_ops = {
    .name = "postgresql",
    .restore = pg_restore,
    .job_key = pg_job_key,
    .plugin_key = pg_plugin_key,
    .begin = pg_begin,
    .put_row = pg_put_row,
    .put_record = pg_put_record,
    .set_paused = pg_set_paused,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .flush = pg_flush,
    .heartbeat = pg_heartbeat,
    .prune = pg_prune,
    .check = pg_check,
    .claim = NULL, /* claims need the run's identity before it starts: io/cluster_pg.c */
    .error = pg_error,
    .close = pg_close,
    .list = pg_list,
    .get = pg_get,
    .output = pg_output,
    .nodes = pg_nodes,
    .reader_close = pg_reader_close,
};

const struct store_backend store_pg = {
    .name = "postgresql",
    .open = pg_open,
    .open_reader = pg_open_reader,
};
