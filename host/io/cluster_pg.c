/*
 * cluster_pg — claims, leases and commands between nodes. See cluster_pg.h.
 *
 * DESIGN. Workers claim a firing on a connection of the pool: they take a
 * free one under `pool_lock` (waiting on `pool_free` while all are in
 * use), make the one round trip without the lock, and give it back. A
 * connection that failed is closed and reopened by the next claim that
 * takes its slot, but not sooner than RECONNECT_NS after the last failed
 * attempt: a node cut off from the database answers "unavailable" at once
 * instead of making every worker wait for a connect timeout.
 *
 * The lease thread owns one connection of its own: it renews the lease,
 * reaps, and LISTENs; it sleeps in poll(2) on that connection's socket
 * and an eventfd that cluster_stop writes, until the next renewal is due,
 * or until cluster_set_digest writes `wake_fd` (a new manifest: renewed
 * at once, so the other nodes see it without waiting a third of a lease).
 *
 * Counters are atomics; the latency histogram and the lease state are
 * under `stats_lock` (a leaf lock).
 */
#include "io/cluster_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/log.h"
#include "core/run.h"
#include "io/store_pg.h"
#include "lib/trigger.h"
#include "lib/units.h"
#include "lib/util.h"

#define RECONNECT_NS (1 * NS_PER_SEC)
#define CHANNEL "jobhost"
/* Claimed runs stop this share of a lease before the lease the last
 * renewal took ends (core/run.h lease_watch): time for a plugin to see
 * jh_cancelled() and for a worker process to be stopped before another
 * node may reap the claim. */
#define LEASE_STOP_SHARE 5
/* Recovering firings offered to the executor lately, not offered again
 * within a lease (another node may hold them, or this one queued them). */
#define OFFERS_MAX 256

const double cluster_latency_bounds[CLUSTER_LATENCY_BUCKETS] = {
    .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1,
};

/* A claimed run's final write, waiting for the done thread. */
struct done {
    uint64_t token;
    char *job;                /* for the record if it is fenced off */
    char run_id[RUN_ID_LEN];  /* "-": a firing skipped after its claim */
};

struct slot {
    PGconn *conn;  /* NULL: to (re)connect */
    bool busy;     /* under pool_lock */
};

struct cluster {
    char *conninfo;
    char *node;
    uint64_t instance;
    int64_t lease_ns;
    cluster_cmd_fn on_cmd;
    void *on_cmd_arg;
    cluster_recover_fn on_recover;
    void *on_recover_arg;
    cluster_paused_fn on_paused;
    void *on_paused_arg;
    bool listened; /* lease thread: a LISTEN succeeded before */
    /* The cluster's reload count (jh_meta reload_seq) this node has acted
     * on: a reload sent while it could not hear is made when it listens
     * again. */
    _Atomic int64_t reload_seen;

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free;
    struct slot *slots; /* n_slots, under pool_lock (busy); conn: its taker's */
    unsigned n_slots;
    _Atomic int64_t last_connect_fail; /* mono ns; 0 = none */

    /* lease thread */
    pthread_t thread;
    bool running;
    int stop_fd;
    int wake_fd;                  /* cluster_set_digest: renew now */
    PGconn *lease_conn;           /* the lease thread's */
    int64_t last_lease_fail;      /* lease thread */
    bool lapse_said;              /* lease thread: this lapse was logged */
    /* What claimed runs see of the lease: written by the lease thread,
     * read by every run's jh_cancelled() and by claims. */
    struct lease_watch watch;
    struct offer {
        char *job;
        int64_t scheduled, at_mono;
    } offers[OFFERS_MAX];         /* lease thread; job NULL = free */
    /* What the last mismatch record said (lease thread): "" none */
    char said_digest[65];
    struct buf said_differing;

    /* Final writes of claimed runs, made by the done thread in batches
     * (one round trip for what gathered while the last one was made): a
     * worker goes on to its next run at once. Kept and retried while the
     * database is away, so a live node's finished run does not hold its
     * job's max_instances for longer. Under `done_lock`. */
    pthread_t done_thread;
    pthread_mutex_t done_lock;
    pthread_cond_t done_wake;
    struct done *pending;
    size_t n_pending, cap_pending;
    bool done_stop;

    atomic_uint_fast64_t won, lost, errors, fenced, renewals, renewal_failures, reaped,
        recovered, lapses, db_errors, notifications;
    pthread_mutex_t stats_lock;
    bool lease_ok;                /* under stats_lock */
    char digest[65];              /* this node's manifest, under stats_lock; "" unset */
    unsigned config_mismatch;     /* under stats_lock */
    int64_t last_renewal_mono;    /* under stats_lock; 0 = never */
    uint64_t lat_buckets[CLUSTER_LATENCY_BUCKETS];
    uint64_t lat_count;
    double lat_sum;
};

/* --- connections ------------------------------------------------------------------ */

static PGconn *connect_one(struct cluster *c, const char *what)
{
    char err[512] = "", sql[96];
    PGconn *conn = NULL;

    if (store_pg_connect(c->conninfo, &conn, err, sizeof(err)) < 0) {
        atomic_fetch_add(&c->db_errors, 1);
        jlog(JH_LOG_WARN, "cluster_db_error", "node=%s op=connect for=%s error=%s", c->node,
             what, err);
        return NULL;
    }
    /* no statement may outlast half a lease: a claim that hangs is a
     * claim lost to the cut, not one that lands late */
    snprintf(sql, sizeof(sql), "SET statement_timeout = %" PRId64,
             c->lease_ns / 2 / NS_PER_MS > 0 ? c->lease_ns / 2 / NS_PER_MS : 1);
    PQclear(PQexec(conn, sql));
    return conn;
}

/* A slot with a live connection, or NULL (unavailable now). */
static struct slot *pool_take(struct cluster *c)
{
    struct slot *s = NULL;

    pthread_mutex_lock(&c->pool_lock);
    for (;;) {
        for (unsigned i = 0; i < c->n_slots && !s; i++)
            if (!c->slots[i].busy && c->slots[i].conn)
                s = &c->slots[i];
        for (unsigned i = 0; i < c->n_slots && !s; i++)
            if (!c->slots[i].busy)
                s = &c->slots[i];
        if (s)
            break;
        pthread_cond_wait(&c->pool_free, &c->pool_lock);
    }
    s->busy = true;
    pthread_mutex_unlock(&c->pool_lock);
    if (!s->conn) {
        int64_t failed = atomic_load(&c->last_connect_fail);
        if (!failed || mono_ns() - failed >= RECONNECT_NS) {
            s->conn = connect_one(c, "claims");
            if (!s->conn)
                atomic_store(&c->last_connect_fail, mono_ns());
        }
        if (!s->conn) {
            pthread_mutex_lock(&c->pool_lock);
            s->busy = false;
            pthread_cond_signal(&c->pool_free);
            pthread_mutex_unlock(&c->pool_lock);
            return NULL;
        }
        atomic_store(&c->last_connect_fail, 0);
    }
    return s;
}

/* Gives the slot back; `broken` closes its connection. */
static void pool_give(struct cluster *c, struct slot *s, bool broken)
{
    if (broken || PQstatus(s->conn) != CONNECTION_OK) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    pthread_mutex_lock(&c->pool_lock);
    s->busy = false;
    pthread_cond_signal(&c->pool_free);
    pthread_mutex_unlock(&c->pool_lock);
}

static bool ok(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static void db_error(struct cluster *c, const char *op, PGresult *res, PGconn *conn)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    atomic_fetch_add(&c->db_errors, 1);
    jlog(JH_LOG_WARN, "cluster_db_error", "node=%s op=%s error=%s", c->node, op, msg);
}

/* --- claims ------------------------------------------------------------------ */

static void observe_latency(struct cluster *c, int64_t ns)
{
    double s = (double)ns / 1e9;

    pthread_mutex_lock(&c->stats_lock);
    for (size_t i = 0; i < CLUSTER_LATENCY_BUCKETS; i++)
        if (s <= cluster_latency_bounds[i])
            c->lat_buckets[i]++;
    c->lat_count++;
    c->lat_sum += s;
    pthread_mutex_unlock(&c->stats_lock);
}

/* The claim's statement, one round trip: a scheduled firing's key
 * (jh_claim, io/store_pg.c: the lease, max_instances across the cluster,
 * the key), or the take-over of a recovering firing, which succeeds for
 * one node only and while its lease runs. Rows: leased, token, full_up. */
static PGresult *claim_exec(struct cluster *c, PGconn *conn, const struct job *job,
                            const struct run_opts *opts)
{
    char sched[24], off[16], inst[24], rid[24], max[16];
    const char *v[8] = {job->spec->id, sched, off, c->node, inst, rid, max,
                        job->spec->recover ? "t" : "f"};

    snprintf(sched, sizeof(sched), "%" PRId64, opts->scheduled_wall_ns);
    snprintf(off, sizeof(off), "%" PRId32,
             trigger_utc_offset(&job->spec->trigger, opts->scheduled_wall_ns));
    snprintf(inst, sizeof(inst), "%" PRIu64, c->instance);
    snprintf(rid, sizeof(rid), "%" PRId64, (int64_t)opts->run_id);
    snprintf(max, sizeof(max), "%u", job->spec->max_instances);
    if (opts->trigger != RUN_RECOVER)
        return PQexecParams(conn,
                            "SELECT leased, token, full_up FROM jh_claim($1, $2, $3, $4, $5,"
                            " $6, $7, $8)",
                            8, NULL, v, NULL, NULL, 0);
    return PQexecParams(
        conn,
        "WITH me AS (SELECT EXISTS (SELECT 1 FROM jh_nodes WHERE name = $4 AND instance = $5"
        "  AND lease_until > now()) AS leased),"
        " taken AS (UPDATE jh_claims c SET state = 'running', node = $4, instance = $5,"
        "  run_id = $6, token = nextval(pg_get_serial_sequence('jh_claims', 'token')),"
        "  claimed_at = now(), ended_at = NULL, recovered = c.recovered + 1"
        "  FROM me WHERE me.leased AND c.job = $1 AND c.scheduled = $2 AND c.utc_offset = $3"
        "  AND c.state = 'recovering' RETURNING c.token)"
        " SELECT me.leased, (SELECT token FROM taken), false FROM me",
        6, NULL, v, NULL, NULL, 0);
}

enum executor_claim cluster_claim(void *arg, struct job *job, struct run_opts *opts,
                                  uint64_t *token)
{
    struct cluster *c = arg;
    enum executor_claim rc = CLAIM_UNAVAILABLE;
    uint64_t lapses = atomic_load(&c->watch.lapses);
    int64_t t0 = mono_ns();
    struct slot *s;
    PGresult *res;

    if (!lease_holds(&c->watch, lapses, t0)) {
        atomic_fetch_add(&c->errors, 1); /* its run would be stopped at once */
        return CLAIM_UNAVAILABLE;
    }
    if (!opts->run_id)
        opts->run_id = run_new_id(); /* the claim names the run */
    s = pool_take(c);
    if (!s) {
        atomic_fetch_add(&c->errors, 1);
        return CLAIM_UNAVAILABLE;
    }
    res = claim_exec(c, s->conn, job, opts);
    if (!ok(res) || PQntuples(res) != 1) {
        db_error(c, "claim", res, s->conn);
        PQclear(res);
        pool_give(c, s, true);
        atomic_fetch_add(&c->errors, 1);
        return CLAIM_UNAVAILABLE;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        atomic_fetch_add(&c->errors, 1);
        jlog(JH_LOG_WARN, "claim_refused", "node=%s job=%s error=%s", c->node, job->spec->id,
             "this node's lease has lapsed: it claims nothing until a renewal succeeds");
        rc = CLAIM_UNAVAILABLE;
    } else if (PQgetisnull(res, 0, 1)) {
        atomic_fetch_add(&c->lost, 1);
        rc = CLAIM_LOST;
    } else if (PQgetvalue(res, 0, 2)[0] == 't') {
        atomic_fetch_add(&c->won, 1);
        rc = CLAIM_FULL; /* ours to record as skipped */
    } else {
        *token = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
        atomic_fetch_add(&c->won, 1);
        if (opts->trigger == RUN_RECOVER) {
            char id_text[RUN_ID_LEN];
            run_id_format(opts->run_id, id_text);
            atomic_fetch_add(&c->recovered, 1);
            jlog(JH_LOG_WARN, "run_recovering", "job=%s run_id=%s node=%s token=%" PRIu64,
                 job->spec->id, id_text, c->node, *token);
        }
        /* the run stops when the lease it was claimed under lapses */
        opts->lease = &c->watch;
        opts->lease_lapses = lapses;
        rc = CLAIM_WON;
    }
    PQclear(res);
    pool_give(c, s, false);
    observe_latency(c, mono_ns() - t0);
    return rc;
}

/* Appends v to the array literal in b, quoted ("{"a","b"}" is built by
 * the caller's braces and commas). */
static void array_put(struct buf *b, const char *v)
{
    buf_putc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

void cluster_claim_many(void *arg, struct job *const *jobs, struct run_opts *const *opts,
                        size_t n, enum executor_claim *results, uint64_t *tokens)
{
    struct cluster *c = arg;
    struct buf a[6] = {{0}}; /* jobs, scheduled, offsets, runs, max, recover */
    uint64_t lapses = atomic_load(&c->watch.lapses);
    char num[32], inst[24];
    const char *v[8];
    int64_t t0 = mono_ns();
    struct slot *s;
    PGresult *res = NULL;

    for (size_t i = 0; i < n; i++) {
        results[i] = CLAIM_UNAVAILABLE;
        tokens[i] = 0;
    }
    if (!lease_holds(&c->watch, lapses, t0)) {
        atomic_fetch_add(&c->errors, n); /* their runs would be stopped at once */
        return;
    }
    for (size_t k = 0; k < 6; k++)
        buf_putc(&a[k], '{');
    for (size_t i = 0; i < n; i++) {
        const struct manifest_job *spec = jobs[i]->spec;
        if (!opts[i]->run_id)
            opts[i]->run_id = run_new_id(); /* the claim names the run */
        if (i)
            for (size_t k = 0; k < 6; k++)
                buf_putc(&a[k], ',');
        array_put(&a[0], spec->id);
        snprintf(num, sizeof(num), "%" PRId64, opts[i]->scheduled_wall_ns);
        buf_puts(&a[1], num);
        snprintf(num, sizeof(num), "%" PRId32,
                 trigger_utc_offset(&spec->trigger, opts[i]->scheduled_wall_ns));
        buf_puts(&a[2], num);
        snprintf(num, sizeof(num), "%" PRId64, (int64_t)opts[i]->run_id);
        buf_puts(&a[3], num);
        snprintf(num, sizeof(num), "%u", spec->max_instances);
        buf_puts(&a[4], num);
        buf_puts(&a[5], spec->recover ? "t" : "f");
    }
    for (size_t k = 0; k < 6; k++) {
        buf_putc(&a[k], '}');
        buf_putc(&a[k], '\0');
    }
    snprintf(inst, sizeof(inst), "%" PRIu64, c->instance);
    v[0] = a[0].data;
    v[1] = a[1].data;
    v[2] = a[2].data;
    v[3] = c->node;
    v[4] = inst;
    v[5] = a[3].data;
    v[6] = a[4].data;
    v[7] = a[5].data;
    s = pool_take(c);
    if (s) {
        res = PQexecParams(s->conn,
                           "SELECT i, leased, token, full_up FROM jh_claim_many($1, $2, $3, $4,"
                           " $5, $6, $7, $8)",
                           8, NULL, v, NULL, NULL, 0);
        if (!ok(res) || PQntuples(res) != (int)n) {
            db_error(c, "claim", res, s->conn);
            PQclear(res);
            res = NULL;
        }
        pool_give(c, s, res == NULL);
    }
    for (size_t k = 0; k < 6; k++)
        free(a[k].data);
    if (!res) {
        atomic_fetch_add(&c->errors, n);
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long i = strtol(PQgetvalue(res, r, 0), NULL, 10) - 1; /* arrays count from 1 */
        if (i < 0 || (size_t)i >= n)
            continue;
        if (PQgetvalue(res, r, 1)[0] != 't') {
            atomic_fetch_add(&c->errors, 1);
        } else if (PQgetisnull(res, r, 2)) {
            atomic_fetch_add(&c->lost, 1);
            results[i] = CLAIM_LOST;
        } else {
            atomic_fetch_add(&c->won, 1);
            results[i] = PQgetvalue(res, r, 3)[0] == 't' ? CLAIM_FULL : CLAIM_WON;
            tokens[i] = strtoull(PQgetvalue(res, r, 2), NULL, 10);
            opts[i]->lease = &c->watch;
            opts[i]->lease_lapses = lapses;
        }
    }
    if (PQntuples(res) > 0 && PQgetvalue(res, 0, 1)[0] != 't')
        jlog(JH_LOG_WARN, "claim_refused", "node=%s jobs=%zu error=%s", c->node, n,
             "this node's lease has lapsed: it claims nothing until a renewal succeeds");
    PQclear(res);
    observe_latency(c, mono_ns() - t0);
}

void cluster_claim_done(void *arg, struct job *job, const struct run *run, uint64_t token)
{
    struct cluster *c = arg;
    struct done d = {.token = token, .job = xstrdup(job->spec->id)};

    snprintf(d.run_id, sizeof(d.run_id), "%s", run ? run->id_text : "-");
    pthread_mutex_lock(&c->done_lock);
    if (c->n_pending == c->cap_pending) {
        c->cap_pending = c->cap_pending ? 2 * c->cap_pending : 64;
        c->pending = xrealloc(c->pending, c->cap_pending * sizeof(*c->pending));
    }
    c->pending[c->n_pending++] = d;
    pthread_cond_signal(&c->done_wake);
    pthread_mutex_unlock(&c->done_lock);
}

void cluster_claim_return(void *arg, struct job *job, uint64_t token)
{
    struct cluster *c = arg;
    char inst[24], num[24];
    const char *v[2] = {num, inst};
    struct slot *s = pool_take(c);
    PGresult *res;

    if (!s)
        return; /* still ours: its lease runs out and it is reaped */
    snprintf(num, sizeof(num), "%" PRIu64, token);
    snprintf(inst, sizeof(inst), "%" PRIu64, c->instance);
    /* A recover job's firing is reaped at once, so that the first node
     * to see it runs it; any other is free for a node yet to reach it. */
    res = PQexecParams(s->conn,
                       "WITH back AS (UPDATE jh_claims SET state = 'recovering', ended_at = now(),"
                       "  reaped_by = node WHERE token = $1 AND instance = $2"
                       "  AND state = 'running' AND recover RETURNING token)"
                       " DELETE FROM jh_claims WHERE token = $1 AND instance = $2"
                       "  AND (state = 'skipped' OR (state = 'running' AND NOT recover))",
                       2, NULL, v, NULL, NULL, 0);
    if (!ok(res)) {
        db_error(c, "claim_return", res, s->conn);
        pool_give(c, s, true);
    } else {
        pool_give(c, s, false);
        jlog(JH_LOG_INFO, "claim_returned", "job=%s node=%s token=%s", job->spec->id, c->node,
             num);
    }
    PQclear(res);
}

/* The final writes of list[0..n) in one statement: each claim this run
 * won, still this node's (the fencing token), becomes done; those another
 * node declared abandoned meanwhile are said. 0, or -1 without the
 * database (nothing was written). */
static int write_done(struct cluster *c, struct done *list, size_t n)
{
    char inst[24], num[24];
    struct buf tokens = {0};
    const char *v[2];
    struct slot *s = pool_take(c);
    PGresult *res;

    if (!s)
        return -1;
    buf_putc(&tokens, '{');
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%s%" PRIu64, i ? "," : "", list[i].token);
        buf_puts(&tokens, num);
    }
    buf_puts(&tokens, "}");
    buf_putc(&tokens, '\0');
    snprintf(inst, sizeof(inst), "%" PRIu64, c->instance);
    v[0] = tokens.data;
    v[1] = inst;
    res = PQexecParams(s->conn,
                       "UPDATE jh_claims SET state = 'done', ended_at = now()"
                       " WHERE token = ANY($1::bigint[]) AND instance = $2 AND state = 'running'"
                       " RETURNING token",
                       2, NULL, v, NULL, NULL, 0);
    free(tokens.data);
    if (!ok(res)) {
        db_error(c, "claim_done", res, s->conn);
        PQclear(res);
        pool_give(c, s, true);
        return -1;
    }
    pool_give(c, s, false);
    if ((size_t)PQntuples(res) < n) {
        for (size_t i = 0; i < n; i++) {
            bool written = false;
            for (int r = 0; r < PQntuples(res) && !written; r++)
                written = strtoull(PQgetvalue(res, r, 0), NULL, 10) == list[i].token;
            if (written)
                continue;
            atomic_fetch_add(&c->fenced, 1);
            jlog(JH_LOG_WARN, "claim_fenced",
                 "node=%s job=%s run_id=%s token=%" PRIu64 " error=%s", c->node, list[i].job,
                 list[i].run_id, list[i].token,
                 "another node declared this run abandoned while it ran (this node's lease "
                 "lapsed): its result stands only in this node's history");
        }
    }
    PQclear(res);
    return 0;
}

static void *done_main(void *arg)
{
    struct cluster *c = arg;

    prctl(PR_SET_NAME, "jobhost-claims", 0, 0, 0);
    pthread_mutex_lock(&c->done_lock);
    for (;;) {
        while (!c->n_pending && !c->done_stop)
            pthread_cond_wait(&c->done_wake, &c->done_lock);
        if (!c->n_pending)
            break;
        struct done *list = c->pending;
        size_t n = c->n_pending;
        c->pending = NULL;
        c->n_pending = c->cap_pending = 0;
        pthread_mutex_unlock(&c->done_lock);
        int rc = write_done(c, list, n);
        pthread_mutex_lock(&c->done_lock);
        if (rc < 0 && !c->done_stop) {
            /* the database is away: these first when it is back */
            list = xrealloc(list, (n + c->n_pending) * sizeof(*list));
            if (c->n_pending)
                memcpy(list + n, c->pending, c->n_pending * sizeof(*list));
            n += c->n_pending;
            free(c->pending);
            c->pending = list;
            c->n_pending = c->cap_pending = n;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += RECONNECT_NS / NS_PER_SEC;
            pthread_cond_timedwait(&c->done_wake, &c->done_lock, &ts);
            continue;
        }
        /* written, or stopping without the database: their claims are
         * reaped as abandoned once the lease given up at stop is over */
        for (size_t i = 0; i < n; i++)
            free(list[i].job);
        free(list);
        if (rc < 0)
            break;
    }
    pthread_mutex_unlock(&c->done_lock);
    return NULL;
}

int cluster_fan_in(void *arg, const char *child, uint64_t signature, uint64_t bit, uint64_t all)
{
    struct cluster *c = arg;
    char sig[24], b[24], a[24];
    const char *v[4] = {child, sig, b, a};
    struct slot *s;
    PGresult *res;
    int rc;

    if (!bit)
        return 0;
    snprintf(sig, sizeof(sig), "%" PRId64, (int64_t)signature);
    snprintf(b, sizeof(b), "%" PRId64, (int64_t)bit);
    snprintf(a, sizeof(a), "%" PRId64, (int64_t)all);
    s = pool_take(c);
    if (!s) {
        jlog(JH_LOG_WARN, "chain_not_run", "job=%s error=%s", child,
             "a parent finished but the cluster's store is out of reach: the fan-in cannot "
             "be counted, so this run after it does not happen");
        return -1;
    }
    /* one row, locked by the upsert: the parent that completes the set
     * empties it in the same statement, so no other node sees it full */
    res = PQexecParams(
        s->conn,
        "WITH v AS (SELECT $2::bigint AS sig, $3::bigint AS bit)"
        " INSERT INTO jh_fan_in AS f(child, signature, seen) SELECT $1, sig, bit FROM v"
        " ON CONFLICT (child) DO UPDATE SET signature = EXCLUDED.signature, seen ="
        "  CASE WHEN (CASE WHEN f.signature = EXCLUDED.signature THEN f.seen | EXCLUDED.seen"
        "   ELSE EXCLUDED.seen END) & $4::bigint = $4::bigint THEN 0"
        "  ELSE CASE WHEN f.signature = EXCLUDED.signature THEN f.seen | EXCLUDED.seen"
        "   ELSE EXCLUDED.seen END END"
        " RETURNING seen = 0",
        4, NULL, v, NULL, NULL, 0);
    if (!ok(res) || PQntuples(res) != 1) {
        db_error(c, "fan_in", res, s->conn);
        PQclear(res);
        pool_give(c, s, true);
        jlog(JH_LOG_WARN, "chain_not_run", "job=%s error=%s", child,
             "a parent finished but its fan-in could not be counted in the cluster's store: "
             "this run after it does not happen");
        return -1;
    }
    rc = PQgetvalue(res, 0, 0)[0] == 't' ? 1 : 0;
    PQclear(res);
    pool_give(c, s, false);
    return rc;
}

/* The reload count this node has acted on goes up to `seq`; true when
 * it moved. Any thread. */
static bool raise_reload_seen(struct cluster *c, int64_t seq)
{
    int64_t seen = atomic_load(&c->reload_seen);

    while (seq > seen)
        if (atomic_compare_exchange_weak(&c->reload_seen, &seen, seq))
            return true;
    return false;
}

int cluster_notify(struct cluster *c, enum cluster_cmd cmd, const char *job_id)
{
    static const char *const names[] = {"run", "pause", "resume", "reload"};
    char payload[512];
    const char *v[1] = {payload};
    struct slot *s;
    PGresult *res;
    int rc = 0;

    /* a reload is counted in the store as well, for the nodes that do
     * not hear it now; the count stands where a job id would */
    snprintf(payload, sizeof(payload), "%s %s %" PRIu64 " %s", names[cmd], c->node, c->instance,
             cmd == CLUSTER_RELOAD ? "" : job_id ? job_id : "-");
    s = pool_take(c);
    if (!s)
        return -ECONNREFUSED;
    if (cmd == CLUSTER_RELOAD) {
        res = PQexecParams(s->conn,
                           "WITH s AS (INSERT INTO jh_meta VALUES ('reload_seq', '1')"
                           " ON CONFLICT (key) DO UPDATE SET"
                           " value = (jh_meta.value::bigint + 1)::text RETURNING value)"
                           " SELECT pg_notify('" CHANNEL "', $1 || value), value FROM s",
                           1, NULL, v, NULL, NULL, 0);
        if (ok(res) && PQntuples(res) == 1)
            (void)raise_reload_seen(c, strtoll(PQgetvalue(res, 0, 1), NULL, 10));
    } else {
        res = PQexecParams(s->conn, "SELECT pg_notify('" CHANNEL "', $1)", 1, NULL, v, NULL,
                           NULL, 0);
    }
    if (!ok(res)) {
        db_error(c, "notify", res, s->conn);
        rc = -EIO;
    }
    PQclear(res);
    pool_give(c, s, rc < 0);
    return rc;
}

/* --- the lease thread ------------------------------------------------------------------ */

static void set_lease(struct cluster *c, bool good)
{
    pthread_mutex_lock(&c->stats_lock);
    c->lease_ok = good;
    if (good)
        c->last_renewal_mono = mono_ns();
    pthread_mutex_unlock(&c->stats_lock);
}

/* One statement on the lease connection: its result, or NULL when it
 * failed (logged and counted). */
static PGresult *lease_exec(struct cluster *c, const char *op, const char *sql, int n,
                            const char *const *v)
{
    PGresult *res = PQexecParams(c->lease_conn, sql, n, NULL, v, NULL, NULL, 0);

    if (ok(res))
        return res;
    db_error(c, op, res, c->lease_conn);
    PQclear(res);
    return NULL;
}

/* After a LISTEN: the cluster's reload count. At the first one it is
 * where this node starts from; after a lost connection, a count that
 * moved meanwhile is a reload this node did not hear, made now. */
static void sync_reload(struct cluster *c, bool again)
{
    PGresult *res = lease_exec(c, "reload_seq",
                               "SELECT value FROM jh_meta WHERE key = 'reload_seq'", 0, NULL);
    int64_t seq;

    if (!res)
        return;
    seq = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    if (raise_reload_seen(c, seq) && again && c->on_cmd) {
        jlog(JH_LOG_INFO, "cluster_reload_synced", "node=%s reason=%s", c->node,
             "another node's reload came while this node could not hear it");
        c->on_cmd(c->on_cmd_arg, CLUSTER_RELOAD, NULL, "store");
    }
}

/* After a LISTEN that follows a lost connection: the pauses as the
 * store has them now (read after subscribing, so none falls between). */
static void sync_paused(struct cluster *c)
{
    PGresult *res = lease_exec(c, "paused", "SELECT id FROM jh_jobs WHERE paused", 0, NULL);
    const char **ids;
    int n;

    if (!res)
        return;
    n = PQntuples(res);
    ids = xcalloc((size_t)n + 1, sizeof(*ids));
    for (int i = 0; i < n; i++)
        ids[i] = PQgetvalue(res, i, 0);
    c->on_paused(c->on_paused_arg, ids, (size_t)n);
    free(ids);
    PQclear(res);
}

static bool lease_connect(struct cluster *c)
{
    PGresult *res;

    if (c->lease_conn && PQstatus(c->lease_conn) == CONNECTION_OK)
        return true;
    PQfinish(c->lease_conn);
    c->lease_conn = NULL;
    if (c->last_lease_fail && mono_ns() - c->last_lease_fail < RECONNECT_NS)
        return false;
    c->lease_conn = connect_one(c, "lease");
    if (!c->lease_conn) {
        c->last_lease_fail = mono_ns();
        return false;
    }
    res = lease_exec(c, "listen", "LISTEN " CHANNEL, 0, NULL);
    if (!res) {
        PQfinish(c->lease_conn);
        c->lease_conn = NULL;
        c->last_lease_fail = mono_ns();
        return false;
    }
    PQclear(res);
    c->last_lease_fail = 0;
    sync_reload(c, c->listened);
    if (c->listened && c->on_paused)
        sync_paused(c);
    c->listened = true;
    return true;
}

/* A renewal sent at `sent` (monotonic) succeeded: claimed runs may go on
 * until a fifth of a lease before it ends. A renewal sent after the last
 * one's end closes a lapse: runs claimed before it stop all the same (the
 * database's lease may have ended meanwhile and their claims been reaped). */
static void lease_renewed(struct cluster *c, int64_t sent)
{
    if (sent >= atomic_load(&c->watch.until_mono))
        atomic_fetch_add(&c->watch.lapses, 1);
    atomic_store(&c->watch.until_mono, sent + c->lease_ns - c->lease_ns / LEASE_STOP_SHARE);
}


#define SHORT_DIGEST 12 /* hex characters of a digest in records */

/* After a renewal: the other live nodes' digests (rows of `res` whose
 * first column is false: name, digest or NULL, by name) against ours. The
 * gauge follows every renewal; a record is written when what it would say
 * changes (the differing nodes, their digests or ours), not each time. */
static void compare_digests(struct cluster *c, PGresult *res, const char *mine)
{
    struct buf differing = {0};
    const char *said = c->said_differing.len ? c->said_differing.data : "";
    unsigned n = 0;

    for (int i = 0; mine[0] && i < PQntuples(res); i++) {
        const char *theirs = PQgetvalue(res, i, 2);
        if (PQgetvalue(res, i, 0)[0] == 't' || PQgetisnull(res, i, 2) ||
            strcmp(theirs, mine) == 0)
            continue; /* ours, not written yet (a node starting), or the same */
        buf_printf(&differing, "%s%s:%.*s", n ? " " : "", PQgetvalue(res, i, 1), SHORT_DIGEST,
                   theirs);
        n++;
    }
    pthread_mutex_lock(&c->stats_lock);
    c->config_mismatch = n;
    pthread_mutex_unlock(&c->stats_lock);
    if (n == 0 && said[0]) {
        jlog(JH_LOG_INFO, "cluster_config_agrees", "node=%s manifest=%.*s", c->node,
             SHORT_DIGEST, mine);
    } else if (n > 0 && (strcmp(c->said_digest, mine) != 0 ||
                         strcmp(said, differing.data) != 0)) {
        jlog(JH_LOG_WARN, "cluster_config_mismatch",
             "node=%s manifest=%.*s differing=%s error=%s", c->node, SHORT_DIGEST, mine,
             differing.data,
             "live nodes plan different jobs or times (host.node and the other host settings "
             "do not count): a firing only one plans runs there, not once across the cluster");
    }
    snprintf(c->said_digest, sizeof(c->said_digest), "%s", n ? mine : "");
    buf_free(&c->said_differing);
    c->said_differing = differing; /* ownership passed on */
}

/* 1 renewed, 0 the name now belongs to another start, -1 no database.
 * The same round trip writes this node's manifest digest and reads the
 * other live nodes' (compare_digests). */
static int renew(struct cluster *c)
{
    char inst[24], lease[24], mine[65];
    const char *v[4] = {c->node, inst, lease, NULL};
    PGresult *res;
    int rc = 0;

    pthread_mutex_lock(&c->stats_lock);
    memcpy(mine, c->digest, sizeof(mine));
    pthread_mutex_unlock(&c->stats_lock);
    snprintf(inst, sizeof(inst), "%" PRIu64, c->instance);
    snprintf(lease, sizeof(lease), "%" PRId64, c->lease_ns / 1000);
    v[3] = mine[0] ? mine : NULL;
    res = lease_exec(c, "renew",
                     "WITH me AS (UPDATE jh_nodes SET heartbeat_at = now(),"
                     "  lease_until = now() + $3 * interval '1 microsecond',"
                     "  manifest_sha256 = coalesce($4, manifest_sha256)"
                     "  WHERE name = $1 AND instance = $2 AND stopped_at IS NULL"
                     "  RETURNING name)"
                     " SELECT true, name, NULL FROM me"
                     " UNION ALL SELECT false, n.name, n.manifest_sha256 FROM jh_nodes n"
                     "  WHERE n.name <> $1 AND n.lease_until > now() AND n.stopped_at IS NULL"
                     " ORDER BY 1 DESC, 2",
                     4, v);
    if (!res)
        return -1;
    if (PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't') {
        rc = 1;
        compare_digests(c, res, mine);
    }
    PQclear(res);
    return rc;
}

/* Whether the recovering firing (job, scheduled) is offered to the
 * executor now: not when it was offered within the last lease. */
static bool offer_due(struct cluster *c, const char *job, int64_t scheduled, int64_t now)
{
    struct offer *free_slot = NULL, *oldest = &c->offers[0];

    for (size_t i = 0; i < OFFERS_MAX; i++) {
        struct offer *o = &c->offers[i];
        if (o->job && now - o->at_mono >= c->lease_ns) {
            free(o->job);
            o->job = NULL;
        }
        if (!o->job) {
            if (!free_slot)
                free_slot = o;
            continue;
        }
        if (o->scheduled == scheduled && strcmp(o->job, job) == 0)
            return false;
        if (o->at_mono < oldest->at_mono)
            oldest = o;
    }
    if (!free_slot) {
        free(oldest->job);
        free_slot = oldest;
    }
    free_slot->job = xstrdup(job);
    free_slot->scheduled = scheduled;
    free_slot->at_mono = now;
    return true;
}

/* Other nodes' claims whose lease expired: abandoned, their runs
 * interrupted in history; those of jobs with recover: true become
 * recovering. Only while this node's own lease runs (the statement
 * checks it), so a node that was cut off reaps nothing until its renewal
 * is back. The same round trip lists the firings recovering (these and
 * any left by a node that died before taking one over), which are
 * offered to the executor: its claim takes one over, or finds another
 * node was first. */
static void reap(struct cluster *c)
{
    char inst[24], now[24];
    const char *v[3] = {c->node, inst, now};
    PGresult *res;

    snprintf(inst, sizeof(inst), "%" PRIu64, c->instance);
    snprintf(now, sizeof(now), "%" PRId64, wall_ns());
    res = lease_exec(
        c, "reap",
        "WITH me AS (SELECT 1 FROM jh_nodes WHERE name = $1 AND instance = $2"
        "  AND lease_until > now()),"
        " dead AS (UPDATE jh_claims c SET"
        "  state = CASE WHEN c.recover THEN 'recovering' ELSE 'abandoned' END,"
        "  ended_at = now(), reaped_by = $1 FROM jh_nodes n"
        "  WHERE c.state = 'running' AND n.name = c.node"
        "  AND (n.instance <> c.instance OR n.lease_until < now()) AND EXISTS (SELECT 1 FROM me)"
        "  RETURNING c.job, c.scheduled, c.utc_offset, c.node, c.run_id, c.claimed_at,"
        "   c.recover),"
        " runs AS (INSERT INTO jh_runs(id, job, cause, scheduled, utc_offset, started, finished,"
        "  result, error, node)"
        "  SELECT d.run_id, j.key, 0, d.scheduled, d.utc_offset,"
        "   (extract(epoch FROM d.claimed_at) * 1e9)::bigint, $3, 6,"
        "   'abandoned: node ' || d.node || ' stopped renewing its lease while the run was in"
        " flight (found by ' || $1 || '); whether it did its work is unknown'"
        "   || CASE WHEN d.recover THEN '; the firing runs again (recover: true)' ELSE '' END,"
        "   d.node"
        "  FROM dead d JOIN jh_jobs j ON j.id = d.job"
        "  ON CONFLICT (id, node) DO UPDATE SET result = 6, finished = EXCLUDED.finished,"
        "   error = EXCLUDED.error WHERE jh_runs.result IS NULL)"
        " SELECT job, node, run_id, recover, scheduled, true FROM dead"
        " UNION ALL (SELECT job, node, run_id, true, scheduled, false FROM jh_claims"
        "  WHERE state = 'recovering' AND EXISTS (SELECT 1 FROM me) ORDER BY claimed_at"
        "  LIMIT 64)",
        3, v);
    if (!res)
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *job = PQgetvalue(res, i, 0);
        bool recover = PQgetvalue(res, i, 3)[0] == 't';
        int64_t scheduled = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        if (PQgetvalue(res, i, 5)[0] == 't') {
            char id_text[RUN_ID_LEN];
            run_id_format((uint64_t)strtoll(PQgetvalue(res, i, 2), NULL, 10), id_text);
            atomic_fetch_add(&c->reaped, 1);
            jlog(JH_LOG_WARN, "run_abandoned", "job=%s run_id=%s node=%s found_by=%s recover=%s",
                 job, id_text, PQgetvalue(res, i, 1), c->node, recover ? "true" : "false");
        }
        if (recover && c->on_recover && offer_due(c, job, scheduled, mono_ns()))
            (void)c->on_recover(c->on_recover_arg, job, scheduled);
    }
    PQclear(res);
}

/* "CMD NODE INSTANCE JOB" from another node, to the callback. */
static void dispatch(struct cluster *c, const char *payload)
{
    static const char *const names[] = {"run", "pause", "resume", "reload"};
    char cmd[16] = "", node[256] = "", job[512] = "";
    unsigned long long inst = 0;

    if (sscanf(payload, "%15s %255s %llu %511s", cmd, node, &inst, job) != 4)
        return;
    if (inst == c->instance)
        return; /* our own */
    for (int i = 0; i < 4; i++) {
        if (strcmp(cmd, names[i]) != 0)
            continue;
        /* a reload carries the cluster's reload count ("-" from older
         * nodes) where the others carry a job id */
        const char *job_id = i == CLUSTER_RELOAD || strcmp(job, "-") == 0 ? NULL : job;
        if (i == CLUSTER_RELOAD)
            (void)raise_reload_seen(c, strtoll(job, NULL, 10));
        atomic_fetch_add(&c->notifications, 1);
        jlog(JH_LOG_INFO, "cluster_command", "node=%s from=%s command=%s job=%s", c->node, node,
             cmd, job_id ? job_id : "-");
        if (c->on_cmd)
            c->on_cmd(c->on_cmd_arg, (enum cluster_cmd)i, job_id, node);
    }
}

/* What arrived, also while a statement of ours read the socket (libpq
 * queues notifications it meets then). */
static void drain_notifies(struct cluster *c)
{
    PGnotify *n;

    if (!c->lease_conn || !PQconsumeInput(c->lease_conn))
        return;
    while ((n = PQnotifies(c->lease_conn))) {
        dispatch(c, n->extra);
        PQfreemem(n);
    }
}

static void *lease_main(void *arg)
{
    struct cluster *c = arg;
    int64_t period = c->lease_ns / 3, next = 0;
    bool was_ok = true;

    prctl(PR_SET_NAME, "jobhost-lease", 0, 0, 0);
    for (;;) {
        int64_t now = mono_ns();
        if (now >= next) {
            int r = lease_connect(c) ? renew(c) : -1;
            next = now + period;
            if (r == 1) {
                lease_renewed(c, now);
                c->lapse_said = false;
                atomic_fetch_add(&c->renewals, 1);
                set_lease(c, true);
                if (!was_ok)
                    jlog(JH_LOG_INFO, "cluster_lease_back", "node=%s", c->node);
                was_ok = true;
                reap(c);
                drain_notifies(c);
            } else {
                atomic_fetch_add(&c->renewal_failures, 1);
                set_lease(c, false);
                if (was_ok)
                    jlog(JH_LOG_WARN, "cluster_lease_failed", "node=%s error=%s", c->node,
                         r == 0 ? "the node's name was taken by another start (its lease "
                                  "had lapsed)"
                                : "the database cannot be reached: this node claims nothing "
                                  "once its lease lapses");
                was_ok = false;
                if (r < 0 && c->lease_conn && PQstatus(c->lease_conn) != CONNECTION_OK) {
                    PQfinish(c->lease_conn);
                    c->lease_conn = NULL;
                }
                next = now + (period < NS_PER_SEC ? period : NS_PER_SEC);
            }
        }
        now = mono_ns();
        int64_t until = atomic_load(&c->watch.until_mono);
        if (!c->lapse_said && now >= until) {
            /* the runs see it themselves (lease_holds); this says it once */
            c->lapse_said = true;
            atomic_fetch_add(&c->lapses, 1);
            jlog(JH_LOG_ERROR, "cluster_lease_lapsed", "node=%s error=%s", c->node,
                 "no renewal for four fifths of a lease: this node's claimed runs are told to "
                 "stop (worker processes are terminated) before another node may take their "
                 "firings over");
        } else if (!c->lapse_said && until < next) {
            next = until; /* wake to say it on time */
        }
        struct pollfd fds[3] = {{.fd = c->stop_fd, .events = POLLIN},
                                {.fd = c->lease_conn ? PQsocket(c->lease_conn) : -1,
                                 .events = POLLIN},
                                {.fd = c->wake_fd, .events = POLLIN}};
        int64_t wait = next - mono_ns();
        int timeout = wait > 0 ? (int)(wait / NS_PER_MS) + 1 : 0;
        if (poll(fds, 3, timeout) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (fds[2].revents) {
            uint64_t n;
            if (read(c->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                jlog(JH_LOG_WARN, "cluster_wake", "node=%s error=%s", c->node, strerror(errno));
            next = mono_ns(); /* a new digest: renew now */
        }
        if (fds[1].fd >= 0 && fds[1].revents)
            drain_notifies(c);
    }
    return NULL;
}

/* --- life ------------------------------------------------------------------ */

struct cluster *cluster_new(const struct cluster_config *cfg)
{
    struct cluster *c = xcalloc(1, sizeof(*c));

    c->conninfo = xstrdup(cfg->conninfo);
    c->node = xstrdup(cfg->node);
    c->instance = cfg->instance;
    c->lease_ns = cfg->lease_ns;
    c->on_cmd = cfg->on_cmd;
    c->on_cmd_arg = cfg->on_cmd_arg;
    c->on_recover = cfg->on_recover;
    c->on_recover_arg = cfg->on_recover_arg;
    c->on_paused = cfg->on_paused;
    c->on_paused_arg = cfg->on_paused_arg;
    c->n_slots = (cfg->max_claims ? cfg->max_claims : 1) + 1; /* and the done thread's */
    c->slots = xcalloc(c->n_slots, sizeof(*c->slots));
    c->stop_fd = -1;
    c->wake_fd = -1;
    c->lease_ok = true; /* the store's restore registered the node a moment ago */
    c->last_renewal_mono = mono_ns();
    atomic_init(&c->watch.lapses, 0);
    atomic_init(&c->reload_seen, 0);
    atomic_init(&c->watch.until_mono, c->last_renewal_mono + c->lease_ns -
                                          c->lease_ns / LEASE_STOP_SHARE);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_cond_init(&c->pool_free, NULL);
    pthread_mutex_init(&c->done_lock, NULL);
    cond_init_mono(&c->done_wake);
    pthread_mutex_init(&c->stats_lock, NULL);
    return c;
}

/* The done thread makes what is pending (one try when the database is
 * away) and ends. */
static void cluster_stop_done(struct cluster *c)
{
    pthread_mutex_lock(&c->done_lock);
    c->done_stop = true;
    pthread_cond_signal(&c->done_wake);
    pthread_mutex_unlock(&c->done_lock);
    pthread_join(c->done_thread, NULL);
}

int cluster_start(struct cluster *c)
{
    int rc;

    c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->stop_fd < 0)
        return -errno;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake_fd < 0)
        return -errno;
    /* listening before the daemon says it is ready, so that a command
     * another node sends right after is not missed (the thread retries
     * when the database is not there now) */
    (void)lease_connect(c);
    rc = pthread_create(&c->done_thread, NULL, done_main, c);
    if (rc != 0)
        return -rc;
    rc = pthread_create(&c->thread, NULL, lease_main, c);
    if (rc != 0) {
        cluster_stop_done(c);
        return -rc;
    }
    c->running = true;
    return 0;
}

void cluster_stop(struct cluster *c)
{
    uint64_t one = 1;

    if (!c || !c->running)
        return;
    cluster_stop_done(c); /* the runs' final writes while the lease still runs */
    if (write(c->stop_fd, &one, sizeof(one)) < 0)
        jlog(JH_LOG_WARN, "cluster_stop", "error=%s", strerror(errno));
    pthread_join(c->thread, NULL);
    c->running = false;
}

void cluster_free(struct cluster *c)
{
    if (!c)
        return;
    cluster_stop(c);
    PQfinish(c->lease_conn);
    for (unsigned i = 0; i < c->n_slots; i++)
        PQfinish(c->slots[i].conn);
    free(c->slots);
    for (size_t i = 0; i < c->n_pending; i++)
        free(c->pending[i].job);
    free(c->pending);
    for (size_t i = 0; i < OFFERS_MAX; i++)
        free(c->offers[i].job);
    if (c->stop_fd >= 0)
        close(c->stop_fd);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    buf_free(&c->said_differing);
    pthread_mutex_destroy(&c->pool_lock);
    pthread_cond_destroy(&c->pool_free);
    pthread_mutex_destroy(&c->stats_lock);
    pthread_mutex_destroy(&c->done_lock);
    pthread_cond_destroy(&c->done_wake);
    explicit_bzero(c->conninfo, strlen(c->conninfo));
    free(c->conninfo);
    free(c->node);
    free(c);
}

void cluster_stats(struct cluster *c, struct cluster_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->claims_won = atomic_load(&c->won);
    out->claims_lost = atomic_load(&c->lost);
    out->claims_error = atomic_load(&c->errors);
    out->fenced = atomic_load(&c->fenced);
    out->renewals = atomic_load(&c->renewals);
    out->renewal_failures = atomic_load(&c->renewal_failures);
    out->reaped = atomic_load(&c->reaped);
    out->recovered = atomic_load(&c->recovered);
    out->lease_lapses = atomic_load(&c->lapses);
    out->db_errors = atomic_load(&c->db_errors);
    out->notifications = atomic_load(&c->notifications);
    pthread_mutex_lock(&c->stats_lock);
    out->lease_ok = c->lease_ok;
    out->config_mismatch = c->config_mismatch;
    out->heartbeat_age_s =
        c->last_renewal_mono ? (double)(mono_ns() - c->last_renewal_mono) / 1e9 : -1;
    memcpy(out->latency_buckets, c->lat_buckets, sizeof(out->latency_buckets));
    out->latency_count = c->lat_count;
    out->latency_sum = c->lat_sum;
    pthread_mutex_unlock(&c->stats_lock);
}

void cluster_set_digest(struct cluster *c, const char *digest)
{
    uint64_t one = 1;
    bool changed;

    pthread_mutex_lock(&c->stats_lock);
    changed = strcmp(c->digest, digest) != 0;
    snprintf(c->digest, sizeof(c->digest), "%s", digest);
    pthread_mutex_unlock(&c->stats_lock);
    /* before cluster_start the first renewal writes it anyway */
    if (changed && c->wake_fd >= 0 && write(c->wake_fd, &one, sizeof(one)) < 0)
        jlog(JH_LOG_WARN, "cluster_wake", "node=%s error=%s", c->node, strerror(errno));
}
