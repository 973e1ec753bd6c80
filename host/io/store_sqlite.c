/*
 * store_sqlite — the run store on one SQLite file. See store_sqlite.h and
 * core/store.h.
 *
 * The file. WAL mode with synchronous=NORMAL: a commit is a write to the
 * WAL (no fsync), so a killed daemon loses nothing committed and a power
 * loss at most the last commits, never the file; readers (the jobs API on
 * its own connection, `jobhost history` in another process) never block
 * the writer. The daemon that uses the file holds flock(LOCK_EX) on it for
 * its whole life (SQLite's own locks are fcntl locks on other byte ranges
 * and never meet it); a second daemon is refused with the first one's pid.
 * The descriptor holding the lock is closed only after SQLite's: closing
 * any descriptor of a file drops the process's fcntl locks on it.
 *
 * Schema 3 (PRAGMA user_version; application_id 'jobh'):
 *   meta(key, value)              summary_mark: the rows the summaries cover
 *   nodes(node, name, started, last_seen, stopped, pid, version)
 *   jobs(job, id, first_seen, paused, paused_at, last_run, last_result,
 *        last_started, last_duration, last_error, last_success,
 *        last_failure, last_scheduled)
 *   plugins(plugin, name, version, sha256)
 *   runs(run_id, job, cause, scheduled, utc_offset, attempt, started,
 *        finished, result, reason, count, error, plugin, node, parent)
 *        indexes (job, run_id, result), and (job, run_id) of failures
 *   open_runs(run_id)             runs written in flight (a finish removes
 *                                 them; what a start finds is interrupted)
 *   output(run_id, seq, ts, level, event, pairs)
 *   result_names, cause_names, reason_names: the codes, for sqlite3 users
 * Times are Unix nanoseconds. A row of `runs` is a run or, with result
 * `skipped`, a skip record standing for `count` firings. Codes are this
 * file's (the tables below), not the C enums', so reordering an enum never
 * changes what a file means. Schema 1 (runs named plugins by text, had no
 * output, offsets, attempts, summaries or node details) is migrated in
 * place, in one transaction; schema 2 (no `parent`, the run a chained
 * job's run came after) takes the column.
 *
 * Summaries. A job's last run, last success, last failure and latest
 * scheduled firing are what a start needs of it; reading them from `runs`
 * would cost a few index walks per job, too slow for a million jobs, and
 * writing them with every run would double the cost of a run. So each
 * commit folds its rows into an in-memory set of dirty summaries, `flush`
 * writes them (about once a second) with summary_mark = the highest row id
 * they cover, and restore replays the rows above the mark. A run that
 * finishes after its row is covered by a flush (a long run) writes its
 * job's summary in the same transaction as its finish.
 */
#include "io/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/run.h"
#include "lib/arena.h"
#include "lib/idtable.h"
#include "lib/u64map.h"
#include "lib/util.h"

#define APPLICATION_ID 0x6a6f6268 /* "jobh" */
#define BUSY_TIMEOUT_MS 2000
#define CACHE_KIB 16384
/* Checkpoints (copying the WAL back into the file) are the writer's to
 * time: when it is idle (flush), or at a commit once the WAL holds this
 * many pages (64 MiB), never in the middle of a burst at SQLite's whim. */
#define WAL_CHECKPOINT_PAGES 16384
#define WAL_KEEP_BYTES (64 << 20) /* the WAL is cut back to this after a checkpoint */

/* --- codes in the file ------------------------------------------------------ */

static bool cause_scheduled(int cause_code)
{
    return cause_code == 0 || cause_code == 3; /* schedule, catch_up */
}

/* --- the schema --------------------------------------------------------------- */

/* Causes and reasons added since schema 2 came out: the names table is for people
 * reading the file, so a store of schema 2 takes them at every open rather
 * than by a schema change (older jobhosts read the codes as "unknown"). */
#define NAMES_SINCE_V2                                                                     \
    "INSERT OR IGNORE INTO cause_names VALUES (4,'retry'),(5,'after'),(6,'at_start'),"     \
    "(7,'recover');"                                                                       \
    "INSERT OR IGNORE INTO reason_names VALUES (6,'queued'),(7,'store_unavailable');"

#define NAMES_SQL                                                                          \
    "CREATE TABLE result_names(code INTEGER PRIMARY KEY, name TEXT NOT NULL);"             \
    "INSERT INTO result_names VALUES (0,'success'),(1,'failure'),(2,'timeout'),"           \
    "(3,'crashed'),(4,'cancelled'),(5,'dry_run'),(6,'interrupted'),(7,'skipped');"         \
    "CREATE TABLE cause_names(code INTEGER PRIMARY KEY, name TEXT NOT NULL);"              \
    "INSERT INTO cause_names VALUES (0,'schedule'),(1,'manual'),(2,'cli'),(3,'catch_up');" \
    "CREATE TABLE reason_names(code INTEGER PRIMARY KEY, name TEXT NOT NULL);"             \
    "INSERT INTO reason_names VALUES (0,'max_instances'),(1,'misfire'),(2,'coalesced'),"   \
    "(3,'paused'),(4,'shutdown'),(5,'downtime');" NAMES_SINCE_V2

#define RUNS_V2_SQL(name)                                                                  \
    "CREATE TABLE " name "(run_id INTEGER PRIMARY KEY, job INTEGER NOT NULL,"              \
    " cause INTEGER NOT NULL, scheduled INTEGER, utc_offset INTEGER,"                      \
    " attempt INTEGER NOT NULL DEFAULT 1, started INTEGER, finished INTEGER,"              \
    " result INTEGER, reason INTEGER, count INTEGER, error TEXT, plugin INTEGER,"          \
    " node INTEGER);"

/* A failed run's result codes, as every query that may use runs_failed
 * writes them (not IN (...), which costs a temporary table per row). */
#define FAILED_SQL "(result BETWEEN 1 AND 3 OR result = 6)"

#define V2_AFTER_RUNS_SQL                                                                  \
    "CREATE INDEX runs_job ON runs(job, run_id, result);"                                  \
    "CREATE INDEX runs_failed ON runs(job, run_id) WHERE " FAILED_SQL ";"                  \
    "CREATE TABLE open_runs(run_id INTEGER PRIMARY KEY);"                                  \
    "CREATE TABLE output(run_id INTEGER NOT NULL, seq INTEGER NOT NULL,"                   \
    " ts INTEGER NOT NULL, level INTEGER NOT NULL, event TEXT NOT NULL,"                   \
    " pairs TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;"                      \
    "CREATE TRIGGER runs_output_gone AFTER DELETE ON runs"                                 \
    " BEGIN DELETE FROM output WHERE run_id = old.run_id; END;" NAMES_SQL

static const char schema_v2[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('summary_mark', 0);"
    "CREATE TABLE nodes(node INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " started INTEGER, last_seen INTEGER, stopped INTEGER, pid INTEGER, version TEXT);"
    "CREATE TABLE jobs(job INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " first_seen INTEGER NOT NULL, paused INTEGER NOT NULL DEFAULT 0, paused_at INTEGER,"
    " last_run INTEGER, last_result INTEGER, last_started INTEGER, last_duration INTEGER,"
    " last_error TEXT, last_success INTEGER, last_failure INTEGER, last_scheduled INTEGER);"
    "CREATE TABLE plugins(plugin INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " version TEXT NOT NULL, sha256 TEXT NOT NULL, UNIQUE (name, version, sha256));"
    RUNS_V2_SQL("runs") V2_AFTER_RUNS_SQL;

/* Schema 1 to 2: plugins by key, offsets, attempts, output, summaries. */
static const char migrate_1_2[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('summary_mark', 0);"
    "ALTER TABLE nodes ADD COLUMN started INTEGER;"
    "ALTER TABLE nodes ADD COLUMN pid INTEGER;"
    "ALTER TABLE nodes ADD COLUMN version TEXT;"
    "ALTER TABLE jobs ADD COLUMN paused_at INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_run INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_result INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_started INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_duration INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_error TEXT;"
    "ALTER TABLE jobs ADD COLUMN last_success INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_failure INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_scheduled INTEGER;"
    "CREATE TABLE plugins(plugin INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " version TEXT NOT NULL, sha256 TEXT NOT NULL, UNIQUE (name, version, sha256));"
    "INSERT INTO plugins(name, version, sha256)"
    " SELECT DISTINCT plugin, coalesce(plugin_version, ''), '' FROM runs"
    " WHERE plugin IS NOT NULL;" RUNS_V2_SQL("runs_v2")
    "INSERT INTO runs_v2(run_id, job, cause, scheduled, utc_offset, attempt, started,"
    " finished, result, reason, count, error, plugin, node)"
    " SELECT r.run_id, r.job, r.cause, r.scheduled, NULL, 1, r.started, r.finished,"
    " r.result, r.reason, r.count, r.error, p.plugin, r.node FROM runs r"
    " LEFT JOIN plugins p ON p.name = r.plugin AND p.sha256 = ''"
    " AND p.version = coalesce(r.plugin_version, '');"
    "DROP TABLE runs;"
    "ALTER TABLE runs_v2 RENAME TO runs;" V2_AFTER_RUNS_SQL
    "INSERT INTO open_runs SELECT run_id FROM runs WHERE result IS NULL;";

/* Schema 2 to 3: the parent run of a chained job's run. */
static const char migrate_2_3[] = "ALTER TABLE runs ADD COLUMN parent INTEGER;" NAMES_SINCE_V2;

static const struct {
    int from;
    const char *sql;
} migrations[] = {
    {1, migrate_1_2},
    {2, migrate_2_3},
};

/* --- handles ------------------------------------------------------------------- */

enum stmt {
    ST_INSERT_ROW,
    ST_FINISH_ROW,
    ST_INSERT_RECORD,
    ST_OPEN_RUN,
    ST_CLOSE_RUN,
    ST_SET_PAUSED,
    ST_JOB_GET,
    ST_JOB_INSERT,
    ST_PLUGIN_GET,
    ST_PLUGIN_INSERT,
    ST_HEARTBEAT,
    ST_SUMMARY,
    ST_SET_MARK,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_INSERT_ROW] = "INSERT INTO runs(run_id, job, cause, scheduled, utc_offset, attempt,"
                      " started, finished, result, reason, count, error, plugin, node, parent)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    [ST_FINISH_ROW] = "UPDATE runs SET finished = ?2, result = ?3, error = ?4 WHERE run_id = ?1",
    [ST_OPEN_RUN] = "INSERT OR IGNORE INTO open_runs(run_id) VALUES (?1)",
    [ST_CLOSE_RUN] = "DELETE FROM open_runs WHERE run_id = ?1",
    [ST_INSERT_RECORD] = "INSERT OR REPLACE INTO output(run_id, seq, ts, level, event, pairs)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SET_PAUSED] = "UPDATE jobs SET paused = ?2, paused_at = ?3 WHERE job = ?1",
    [ST_JOB_GET] = "SELECT job FROM jobs WHERE id = ?1",
    [ST_JOB_INSERT] = "INSERT INTO jobs(id, first_seen) VALUES (?1, ?2)",
    [ST_PLUGIN_GET] = "SELECT plugin FROM plugins WHERE name = ?1 AND version = ?2 AND sha256 = ?3",
    [ST_PLUGIN_INSERT] = "INSERT INTO plugins(name, version, sha256) VALUES (?1, ?2, ?3)",
    [ST_HEARTBEAT] = "UPDATE nodes SET last_seen = ?2, stopped = ?3 WHERE node = ?1",
    [ST_SUMMARY] = "UPDATE jobs SET"
                   " last_run = CASE WHEN ?2 IS NULL THEN last_run ELSE ?2 END,"
                   " last_result = CASE WHEN ?2 IS NULL THEN last_result ELSE ?3 END,"
                   " last_started = CASE WHEN ?2 IS NULL THEN last_started ELSE ?4 END,"
                   " last_duration = CASE WHEN ?2 IS NULL THEN last_duration ELSE ?5 END,"
                   " last_error = CASE WHEN ?2 IS NULL THEN last_error ELSE ?6 END,"
                   " last_success = coalesce(?7, last_success),"
                   " last_failure = coalesce(?8, last_failure),"
                   " last_scheduled = max(coalesce(last_scheduled, 0), coalesce(?9, 0))"
                   " WHERE job = ?1",
    [ST_SET_MARK] = "UPDATE meta SET value = max(value, ?1) WHERE key = 'summary_mark'",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* What changed in a job's summary, not yet written. */
struct summary {
    uint32_t job;
    bool has_last;
    uint64_t last_id;
    int last_code;
    int64_t last_started, last_duration;
    char *last_error;
    int64_t last_success, last_failure, last_scheduled; /* 0: unchanged */
};

/* A row of the open transaction, for the summaries once it commits. */
struct fold {
    uint32_t job;
    int code, cause;
    uint64_t id;
    int64_t scheduled, started, finished;
    char *error;
};

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    int lock_fd; /* flock(LOCK_EX) for the daemon's life; -1 for a tool */
    dev_t dev;
    ino_t ino;
    char *path;
    char *node_name;
    char *version;
    int pid;
    int64_t node; /* key of this node; 0 = none (a tool) */
    sqlite3_stmt *st[ST_COUNT];
    char errmsg[256];

    int wal_pages;        /* pages in the WAL after the last commit (sqlite3_wal_hook) */
    uint64_t mark;        /* summary_mark as written */
    uint64_t committed;   /* highest row id committed */
    uint64_t tx_max;      /* highest row id of the open transaction */
    struct fold *folds;   /* the open transaction's rows */
    size_t n_folds, cap_folds;
    struct u64map dirty;  /* job key -> index + 1 in sums */
    struct summary *sums;
    size_t n_sums, cap_sums;
};

struct sqlite_reader {
    struct store_reader base;
    sqlite3 *db;
    sqlite3_stmt *job_get, *list, *list_result, *list_running, *get, *output;
};

static const struct store_ops sqlite_ops;

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    ((struct sqlite_store *)arg)->wal_pages = pages;
    return SQLITE_OK;
}

/* Copies what it can of the WAL back into the file, without waiting for
 * readers. Failures are left for the next one. */
static void checkpoint(struct sqlite_store *s)
{
    int log = 0, done = 0;

    if (s->wal_pages > 0 &&
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
            SQLITE_OK &&
        done == log)
        s->wal_pages = 0;
}

/* --- helpers --------------------------------------------------------------------- */

static int errno_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EAGAIN;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        return -EILSEQ;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    default:
        return -EIO;
    }
}

/* Keeps sqlite's message for the writer's warning; returns -errno. */
static int fail(struct sqlite_store *s, int rc, const char *what)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, sqlite3_errmsg(s->db));
    return errno_of(rc) ? errno_of(rc) : -EIO;
}

static void bind_opt_i64(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no rows, resets it. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int exec(struct sqlite_store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

/* The first column of a one-row query, as int64; *found false when no row. */
static int query_i64(sqlite3 *db, const char *sql, int64_t *out, bool *found)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    *found = false;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            *found = true;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static char *dup_or_null(const unsigned char *text)
{
    return text && *text ? xstrdup((const char *)text) : NULL;
}

/* --- summaries ---------------------------------------------------------------------- */

static void summary_free_all(struct sqlite_store *s)
{
    for (size_t i = 0; i < s->n_sums; i++)
        free(s->sums[i].last_error);
    s->n_sums = 0;
    u64map_clear(&s->dirty);
}

static struct summary *summary_of(struct sqlite_store *s, uint32_t job)
{
    uint64_t i;

    if (u64map_get(&s->dirty, job, &i))
        return &s->sums[i - 1];
    if (s->n_sums == s->cap_sums) {
        s->cap_sums = s->cap_sums ? 2 * s->cap_sums : 256;
        s->sums = xrealloc(s->sums, s->cap_sums * sizeof(*s->sums));
    }
    memset(&s->sums[s->n_sums], 0, sizeof(s->sums[0]));
    s->sums[s->n_sums].job = job;
    u64map_put(&s->dirty, job, ++s->n_sums);
    return &s->sums[s->n_sums - 1];
}

/* Folds one row into its job's summary. */
static void summary_fold(struct summary *sm, const struct fold *f)
{
    if (cause_scheduled(f->cause) && f->scheduled > sm->last_scheduled)
        sm->last_scheduled = f->scheduled;
    if (f->code < 0 || f->code == STORE_CODE_SKIPPED)
        return; /* in flight, or a skip */
    sm->has_last = true;
    sm->last_id = f->id;
    sm->last_code = f->code;
    sm->last_started = f->started;
    sm->last_duration = f->finished > f->started ? f->finished - f->started : 0;
    free(sm->last_error);
    sm->last_error = f->error ? xstrdup(f->error) : NULL;
    if (f->code == 0)
        sm->last_success = f->finished;
    else if (store_code_failed(f->code))
        sm->last_failure = f->finished;
}

static int summary_write(struct sqlite_store *s, const struct summary *sm)
{
    sqlite3_stmt *st = s->st[ST_SUMMARY];

    sqlite3_bind_int64(st, 1, sm->job);
    if (sm->has_last) {
        sqlite3_bind_int64(st, 2, (int64_t)sm->last_id);
        sqlite3_bind_int(st, 3, sm->last_code);
        sqlite3_bind_int64(st, 4, sm->last_started);
        sqlite3_bind_int64(st, 5, sm->last_duration);
        bind_text(st, 6, sm->last_error);
    }
    bind_opt_i64(st, 7, sm->last_success);
    bind_opt_i64(st, 8, sm->last_failure);
    bind_opt_i64(st, 9, sm->last_scheduled);
    return step_done(st);
}

static void folds_clear(struct sqlite_store *s)
{
    for (size_t i = 0; i < s->n_folds; i++)
        free(s->folds[i].error);
    s->n_folds = 0;
}

static struct fold *fold_add(struct sqlite_store *s)
{
    if (s->n_folds == s->cap_folds) {
        s->cap_folds = s->cap_folds ? 2 * s->cap_folds : 1024;
        s->folds = xrealloc(s->folds, s->cap_folds * sizeof(*s->folds));
    }
    return &s->folds[s->n_folds++];
}

/* --- opening ----------------------------------------------------------------------------- */

static int prepare_all(struct sqlite_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                    NULL);
        if (rc != SQLITE_OK)
            return fail(s, rc, "preparing statements");
    }
    return 0;
}

/* Who holds the file: "pid 123 on node a, since ..." from the nodes table,
 * read without waiting. */
static void describe_holder(const char *path, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    snprintf(out, len, "another process");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT pid, name FROM nodes WHERE stopped IS NULL"
                           " ORDER BY last_seen DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, len, "another jobhost daemon (pid %lld, node %s)",
                 (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The directory holding path, made when missing (one level, mode 0750):
 * a fresh checkout's `state/` or a package's /var/lib/jobhost. */
static int make_parent(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s", path);
    dirname(dir);
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (errno != ENOENT || mkdir(dir, 0750) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create the directory %s: %s", dir, strerror(e));
        return -e;
    }
    return 0;
}

/* Locks the file for this daemon; 0, -EBUSY, or -errno. */
static int take_lock(struct sqlite_store *s, char *err, size_t errlen)
{
    struct stat st;
    int e;

    s->lock_fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
    if (s->lock_fd < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", s->path,
                 e == ELOOP ? "is a symbolic link (not followed)" : strerror(e));
        return -e;
    }
    if (fstat(s->lock_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", s->path);
        return -EINVAL;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char who[160];
        e = errno;
        if (e != EWOULDBLOCK) {
            snprintf(err, errlen, "%s: flock: %s", s->path, strerror(e));
            return -e;
        }
        describe_holder(s->path, who, sizeof(who));
        snprintf(err, errlen, "%s: the run store is in use by %s; one daemon per store file",
                 s->path, who);
        return -EBUSY;
    }
    return 0;
}

/* The attempt and scheduled time of run `id` (a pending retry's base). */
static int run_attempt(sqlite3 *db, uint64_t id, unsigned *attempt, int64_t *scheduled)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT attempt, scheduled FROM runs WHERE run_id = ?1", -1,
                                &st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (int64_t)id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *attempt = (unsigned)sqlite3_column_int(st, 0);
        *scheduled = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates the schema, or migrates an older one, or refuses. A tool
 * (store_config.tool) only takes the current schema. */
static int settle_schema(struct sqlite_store *s, bool tool, char *err, size_t errlen)
{
    int64_t version = 0, app = 0, tables = 0;
    bool found;
    int rc;

    rc = query_i64(s->db, "PRAGMA user_version", &version, &found);
    if (rc == SQLITE_OK)
        rc = query_i64(s->db, "PRAGMA application_id", &app, &found);
    if (rc == SQLITE_OK)
        rc = query_i64(s->db, "SELECT count(*) FROM sqlite_master", &tables, &found);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: not a jobhost run store (%s): move it away or fix "
                              "host.store.path",
                 s->path, sqlite3_errmsg(s->db));
        return errno_of(rc) == -EILSEQ ? -EILSEQ : errno_of(rc);
    }
    if (tables > 0 && app != APPLICATION_ID) {
        snprintf(err, errlen, "%s: a SQLite file of another application (application_id %lld): "
                              "not a jobhost run store",
                 s->path, (long long)app);
        return -EILSEQ;
    }
    if (version > STORE_SQLITE_SCHEMA) {
        snprintf(err, errlen, "%s: written by a newer jobhost (store schema %lld; this one knows "
                              "up to %d): refusing to touch it; run the newer jobhost, or point "
                              "host.store.path elsewhere",
                 s->path, (long long)version, STORE_SQLITE_SCHEMA);
        return -EPROTO;
    }
    if (version == STORE_SQLITE_SCHEMA)
        return tool ? 0 : exec(s, NAMES_SINCE_V2, "naming the run causes");
    if (tool) {
        /* a command beside a daemon migrates nothing under its feet */
        snprintf(err, errlen, "%s: %s", s->path,
                 version == 0 && tables == 0
                     ? "no run store there yet (the daemon creates it at its first start)"
                     : "store schema older than this jobhost's: its daemon migrates it at its "
                       "next start");
        return -ENOENT;
    }
    if ((rc = exec(s, "BEGIN IMMEDIATE", "starting the schema transaction")) < 0)
        goto failed;
    if (version == 0 && tables == 0) {
        rc = exec(s, schema_v2, "creating the schema");
        if (rc == 0)
            rc = exec(s, migrate_2_3, "creating the schema");
    } else {
        rc = -EILSEQ;
        for (size_t i = 0; i < ARRAY_SIZE(migrations); i++) {
            if (migrations[i].from != version)
                continue;
            rc = exec(s, migrations[i].sql, "migrating the schema");
            if (rc < 0)
                break;
            version++;
        }
        if (rc == -EILSEQ)
            snprintf(s->errmsg, sizeof(s->errmsg), "no migration from schema %lld",
                     (long long)version);
    }
    if (rc == 0) {
        char sql[96];
        snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 APPLICATION_ID, STORE_SQLITE_SCHEMA);
        rc = exec(s, sql, "setting the schema version");
    }
    if (rc == 0)
        rc = exec(s, "COMMIT", "committing the schema");
    if (rc == 0)
        return 0;
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* nothing of it stays */
failed:
    snprintf(err, errlen, "%s: %s", s->path, s->errmsg);
    return rc;
}

static void sqlite_close(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;

    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db); /* before the lock's descriptor: see the top of the file */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    folds_clear(s);
    free(s->folds);
    summary_free_all(s);
    free(s->sums);
    u64map_free(&s->dirty);
    free(s->path);
    free(s->node_name);
    free(s->version);
    free(s);
}

static int sqlite_open(const struct store_config *cfg, struct store **out, char *err,
                       size_t errlen)
{
    struct sqlite_store *s = xcalloc(1, sizeof(*s));
    char pragmas[256];
    int rc;

    *out = NULL;
    s->base.ops = &sqlite_ops;
    s->lock_fd = -1;
    s->path = xstrdup(cfg->path);
    s->node_name = xstrdup(cfg->node ? cfg->node : "localhost");
    s->version = xstrdup(cfg->version ? cfg->version : "");
    s->pid = cfg->pid;
    if (!cfg->tool && ((rc = make_parent(s->path, err, errlen)) < 0 ||
                       (rc = take_lock(s, err, errlen)) < 0))
        goto out;
    rc = sqlite3_open_v2(s->path, &s->db,
                         SQLITE_OPEN_READWRITE | (cfg->tool ? 0 : SQLITE_OPEN_CREATE) |
                             SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", s->path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        rc = errno_of(rc);
        goto out;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 0);
    if ((rc = settle_schema(s, cfg->tool, err, errlen)) < 0)
        goto out;
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -%d;"
             " PRAGMA secure_delete = OFF;"
             " PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d;"
             " PRAGMA temp_store = MEMORY",
             CACHE_KIB, WAL_KEEP_BYTES);
    sqlite3_wal_hook(s->db, on_wal_commit, s);
    if ((rc = exec(s, pragmas, "setting WAL mode")) < 0 || (rc = prepare_all(s)) < 0) {
        snprintf(err, errlen, "%s: %s", s->path, s->errmsg);
        goto out;
    }
    {
        int64_t mark = 0;
        bool found;
        if (query_i64(s->db, "SELECT value FROM meta WHERE key = 'summary_mark'", &mark, &found) ==
            SQLITE_OK)
            s->mark = s->committed = (uint64_t)mark;
    }
    *out = &s->base;
    s = NULL;
    rc = 0;
out:
    if (s)
        sqlite_close(&s->base);
    return rc;
}

/* --- restore ------------------------------------------------------------------------------ */

/* What restore learns of one job from the jobs table. */
struct known_job {
    uint32_t key;
    int64_t first_seen;
    bool paused;
    struct summary sum;
    uint64_t interrupted;
};

static int load_summary_rows(struct sqlite_store *s, struct idtable *by_id, struct arena *a)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT job, id, first_seen, paused, last_run, last_result,"
                                " last_started, last_duration, last_error, last_success,"
                                " last_failure, last_scheduled FROM jobs",
                                -1, &st, NULL);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct known_job *k = arena_calloc(a, 1, sizeof(*k));
        const char *id = arena_strdup(a, (const char *)sqlite3_column_text(st, 1));
        k->key = (uint32_t)sqlite3_column_int64(st, 0);
        k->first_seen = sqlite3_column_int64(st, 2);
        k->paused = sqlite3_column_int(st, 3) != 0;
        k->sum.job = k->key;
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
            k->sum.has_last = true;
            k->sum.last_id = (uint64_t)sqlite3_column_int64(st, 4);
            k->sum.last_code = sqlite3_column_int(st, 5);
            k->sum.last_started = sqlite3_column_int64(st, 6);
            k->sum.last_duration = sqlite3_column_int64(st, 7);
            k->sum.last_error = dup_or_null(sqlite3_column_text(st, 8));
        }
        k->sum.last_success = sqlite3_column_int64(st, 9);
        k->sum.last_failure = sqlite3_column_int64(st, 10);
        k->sum.last_scheduled = sqlite3_column_int64(st, 11);
        (void)idtable_put(by_id, id, k); /* ids are unique in the table */
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

#define INTERRUPTED_ERROR                                                                      \
    "the daemon stopped while the run was in flight (killed, crashed, or the machine went "    \
    "down): whether it did its work is unknown"

/* Rows above the mark into the summaries; runs in flight closed as
 * interrupted. The summaries are written back and the mark moved up. */
static int replay(struct sqlite_store *s, struct store_restore *r, struct u64map *by_key,
                  struct known_job **keyed)
{
    sqlite3_stmt *st = NULL, *close_st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT run_id, job, cause, scheduled, started, finished, result, error"
                            " FROM runs WHERE run_id > ?1 AND result IS NOT NULL ORDER BY run_id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, (int64_t)s->mark);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct fold f = {
            .id = (uint64_t)sqlite3_column_int64(st, 0),
            .job = (uint32_t)sqlite3_column_int64(st, 1),
            .cause = sqlite3_column_int(st, 2),
            .scheduled = sqlite3_column_int64(st, 3),
            .started = sqlite3_column_int64(st, 4),
            .finished = sqlite3_column_int64(st, 5),
            .code = sqlite3_column_int(st, 6),
            .error = (char *)sqlite3_column_text(st, 7),
        };
        summary_fold(summary_of(s, f.job), &f);
        if (f.id > s->committed)
            s->committed = f.id;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;

    if (r->keep_open_runs)
        return SQLITE_OK;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT r.run_id, r.job, r.cause, r.scheduled, r.started, j.id"
                            " FROM open_runs o JOIN runs r ON r.run_id = o.run_id"
                            " JOIN jobs j ON j.job = r.job"
                            " WHERE r.result IS NULL ORDER BY r.run_id",
                            -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "UPDATE runs SET result = 6, finished = ?2, error = ?3"
                                " WHERE run_id = ?1",
                                -1, &close_st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct fold f = {
            .id = (uint64_t)sqlite3_column_int64(st, 0),
            .job = (uint32_t)sqlite3_column_int64(st, 1),
            .cause = sqlite3_column_int(st, 2),
            .scheduled = sqlite3_column_int64(st, 3),
            .started = sqlite3_column_int64(st, 4),
            .code = 6,
            .error = INTERRUPTED_ERROR,
        };
        uint64_t k;
        /* It ran at most until the daemon was last seen alive. */
        f.finished = r->last_seen_ns > f.started ? r->last_seen_ns : f.started;
        sqlite3_bind_int64(close_st, 1, (int64_t)f.id);
        sqlite3_bind_int64(close_st, 2, f.finished);
        sqlite3_bind_text(close_st, 3, INTERRUPTED_ERROR, -1, SQLITE_STATIC);
        if ((rc = step_done(close_st)) != SQLITE_OK)
            break;
        sqlite3_bind_int64(s->st[ST_CLOSE_RUN], 1, (int64_t)f.id);
        if ((rc = step_done(s->st[ST_CLOSE_RUN])) != SQLITE_OK)
            break;
        summary_fold(summary_of(s, f.job), &f);
        if (u64map_get(by_key, f.job, &k))
            keyed[k]->interrupted++;
        r->n_interrupted++;
        if (r->interrupted)
            r->interrupted(r->arg, (const char *)sqlite3_column_text(st, 5), f.id, f.started);
        if (f.id > s->committed)
            s->committed = f.id;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(close_st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? SQLITE_OK : rc;
}

/* Merges the replayed summary `add` into what the jobs table held. */
static void summary_merge(struct summary *into, const struct summary *add)
{
    if (add->has_last) {
        into->has_last = true;
        into->last_id = add->last_id;
        into->last_code = add->last_code;
        into->last_started = add->last_started;
        into->last_duration = add->last_duration;
        free(into->last_error);
        into->last_error = add->last_error ? xstrdup(add->last_error) : NULL;
    }
    if (add->last_success)
        into->last_success = add->last_success;
    if (add->last_failure)
        into->last_failure = add->last_failure;
    if (add->last_scheduled > into->last_scheduled)
        into->last_scheduled = add->last_scheduled;
}

static int write_dirty_summaries(struct sqlite_store *s)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; i < s->n_sums && rc == SQLITE_OK; i++)
        rc = summary_write(s, &s->sums[i]);
    if (rc == SQLITE_OK && s->committed > s->mark) {
        sqlite3_bind_int64(s->st[ST_SET_MARK], 1, (int64_t)s->committed);
        rc = step_done(s->st[ST_SET_MARK]);
    }
    return rc;
}

static int date_recorded(sqlite3 *db, uint32_t job, int64_t at, bool *done)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT 1 FROM runs WHERE job = ?1 AND scheduled = ?2"
                                " AND cause IN (0, 3) LIMIT 1",
                                -1, &st, NULL);

    *done = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, job);
        sqlite3_bind_int64(st, 2, at);
        rc = sqlite3_step(st);
        *done = rc == SQLITE_ROW;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static int register_node(struct sqlite_store *s, int64_t now, int pid, const char *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO nodes(name) VALUES (?1)", -1, &st,
                                NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->node_name, -1, SQLITE_STATIC);
        rc = step_done(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "UPDATE nodes SET started = ?2, last_seen = ?2, stopped = NULL,"
                                " pid = ?3, version = ?4 WHERE name = ?1 RETURNING node",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, s->node_name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int(st, 3, pid);
        sqlite3_bind_text(st, 4, version ? version : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            s->node = sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_restore(struct store *base, struct store_restore *r, char *err, size_t errlen)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct idtable by_id;
    struct u64map by_key = {0};
    struct known_job **keyed = NULL;
    struct arena a = {0};
    size_t n_keyed = 0;
    int64_t seen = 0;
    bool found;
    int rc;

    idtable_init(&by_id, r->n_jobs);
    r->jobs = xcalloc(r->n_jobs ? r->n_jobs : 1, sizeof(*r->jobs));
    r->last_seen_ns = 0;
    r->n_interrupted = 0;
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = query_i64(s->db,
                       "SELECT max(max(coalesce(last_seen, 0), coalesce(stopped, 0))) FROM nodes",
                       &seen, &found);
    r->last_seen_ns = seen;
    if (rc == SQLITE_OK)
        rc = load_summary_rows(s, &by_id, &a);
    if (rc == SQLITE_OK) {
        /* the known jobs by key, for the interrupted counts */
        keyed = xcalloc(by_id.count + 1, sizeof(*keyed));
        for (size_t i = 0; i < by_id.cap; i++) {
            struct known_job *k = by_id.slots[i].value;
            if (!by_id.slots[i].key)
                continue;
            keyed[n_keyed] = k;
            u64map_put(&by_key, k->key, n_keyed++);
        }
        rc = replay(s, r, &by_key, keyed);
    }
    if (rc == SQLITE_OK)
        rc = write_dirty_summaries(s);
    if (rc == SQLITE_OK) {
        /* what the replay found, on top of what the table held */
        for (size_t i = 0; i < s->n_sums; i++) {
            uint64_t k;
            if (u64map_get(&by_key, s->sums[i].job, &k))
                summary_merge(&keyed[k]->sum, &s->sums[i]);
        }
        s->mark = s->committed;
        summary_free_all(s);
    }
    for (size_t i = 0; i < r->n_jobs && rc == SQLITE_OK; i++) {
        struct known_job *k = idtable_get(&by_id, r->job_ids[i]);
        struct store_job_state *js = &r->jobs[i];
        if (!k) {
            sqlite3_stmt *st = s->st[ST_JOB_INSERT];
            sqlite3_bind_text(st, 1, r->job_ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, r->now_ns);
            rc = step_done(st);
            js->key = (uint32_t)sqlite3_last_insert_rowid(s->db);
            js->first_seen_ns = r->now_ns;
            continue;
        }
        js->key = k->key;
        js->known = true;
        js->first_seen_ns = k->first_seen;
        js->paused = k->paused;
        if (k->sum.has_last) {
            js->last_id = k->sum.last_id;
            js->last_result = store_result_of(k->sum.last_code);
            js->last_started_ns = k->sum.last_started;
            js->last_duration_ns = k->sum.last_duration;
            js->last_error = k->sum.last_error;
            k->sum.last_error = NULL; /* now the request's */
        }
        js->last_success_ns = k->sum.last_success;
        js->last_failure_ns = k->sum.last_failure;
        js->last_scheduled_ns = k->sum.last_scheduled;
        js->interrupted = k->interrupted;
        if (r->dates && r->dates[i])
            rc = date_recorded(s->db, k->key, r->dates[i], &js->date_done);
        if (rc == SQLITE_OK && r->attempts && r->attempts[i] && js->last_id &&
            store_code_failed(k->sum.last_code))
            rc = run_attempt(s->db, js->last_id, &js->last_attempt, &js->last_run_scheduled_ns);
    }
    if (rc == SQLITE_OK)
        rc = register_node(s, r->now_ns, s->pid, s->version);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = fail(s, rc, "restoring");
        snprintf(err, errlen, "%s: %s", s->path, s->errmsg);
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* nothing of it stays */
        summary_free_all(s);
    } else {
        rc = 0;
    }
    for (size_t i = 0; i < n_keyed; i++)
        free(keyed[i]->sum.last_error);
    free(keyed);
    u64map_free(&by_key);
    idtable_free(&by_id);
    arena_free(&a);
    return rc;
}

/* --- the writer's operations ------------------------------------------------------------- */

static int sqlite_job_key(struct store *base, const char *id, int64_t now, uint32_t *key)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_JOB_GET];
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *key = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return fail(s, rc, "looking a job up");
    st = s->st[ST_JOB_INSERT];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = step_done(st)) != SQLITE_OK)
        return fail(s, rc, "registering a job");
    *key = (uint32_t)sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int sqlite_plugin_key(struct store *base, const char *name, const char *version,
                             const char *sha256, uint32_t *key)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_PLUGIN_GET];
    int rc;

    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, version ? version : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sha256 ? sha256 : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *key = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return fail(s, rc, "looking a plugin up");
    st = s->st[ST_PLUGIN_INSERT];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, version ? version : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sha256 ? sha256 : "", -1, SQLITE_STATIC);
    if ((rc = step_done(st)) != SQLITE_OK)
        return fail(s, rc, "registering a plugin");
    *key = (uint32_t)sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int sqlite_begin(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    int rc = step_done(s->st[ST_BEGIN]);

    folds_clear(s);
    s->tx_max = 0;
    return rc == SQLITE_OK ? 0 : fail(s, rc, "beginning a transaction");
}

static int sqlite_put_row(struct store *base, const struct store_row *row)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    int code = store_result_code(row->result);
    int cause = store_cause_code((int)row->trigger);
    struct fold *f;
    sqlite3_stmt *st;
    int rc;

    if (row->start_written) {
        st = s->st[ST_FINISH_ROW];
        sqlite3_bind_int64(st, 1, (int64_t)row->id);
        sqlite3_bind_int64(st, 2, row->finished_ns);
        sqlite3_bind_int(st, 3, code);
        bind_text(st, 4, row->error);
    } else {
        st = s->st[ST_INSERT_ROW];
        sqlite3_bind_int64(st, 1, (int64_t)row->id);
        sqlite3_bind_int64(st, 2, row->job);
        sqlite3_bind_int(st, 3, cause < 0 ? 0 : cause);
        bind_opt_i64(st, 4, row->scheduled_ns);
        if (row->scheduled_ns)
            sqlite3_bind_int(st, 5, row->utc_offset);
        sqlite3_bind_int(st, 6, (int)(row->attempt ? row->attempt : 1));
        bind_opt_i64(st, 7, row->started_ns);
        bind_opt_i64(st, 8, row->result == STORE_RESULT_RUNNING ? 0 : row->finished_ns);
        if (code >= 0)
            sqlite3_bind_int(st, 9, code);
        if (row->result == STORE_RESULT_SKIPPED) {
            sqlite3_bind_int(st, 10, store_reason_code((int)row->reason));
            sqlite3_bind_int64(st, 11, (int64_t)(row->count ? row->count : 1));
        }
        bind_text(st, 12, row->error);
        if (row->plugin)
            sqlite3_bind_int64(st, 13, row->plugin);
        if (s->node)
            sqlite3_bind_int64(st, 14, s->node);
        if (row->parent_run_id)
            sqlite3_bind_int64(st, 15, (int64_t)row->parent_run_id);
    }
    if ((rc = step_done(st)) != SQLITE_OK)
        return fail(s, rc, "writing a run");
    if (row->start_written && sqlite3_changes(s->db) == 0) {
        /* its start is not in this file (a store reopened since): the
         * finish is the whole row */
        struct store_row whole = *row;
        whole.start_written = false;
        return sqlite_put_row(base, &whole);
    }
    if (row->start_written) {
        /* no longer in flight */
        sqlite3_bind_int64(s->st[ST_CLOSE_RUN], 1, (int64_t)row->id);
        if ((rc = step_done(s->st[ST_CLOSE_RUN])) != SQLITE_OK)
            return fail(s, rc, "writing a run");
    } else if (!row->start_written && row->result == STORE_RESULT_RUNNING) {
        /* in flight: what a start after kill -9 closes as interrupted */
        sqlite3_bind_int64(s->st[ST_OPEN_RUN], 1, (int64_t)row->id);
        if ((rc = step_done(s->st[ST_OPEN_RUN])) != SQLITE_OK)
            return fail(s, rc, "writing a run");
    }

    f = fold_add(s);
    f->job = row->job;
    f->code = code;
    f->cause = row->start_written ? -1 : cause; /* its firing counted with its start */
    f->id = row->id;
    f->scheduled = row->scheduled_ns;
    f->started = row->started_ns;
    f->finished = row->finished_ns;
    f->error = row->error && *row->error ? xstrdup(row->error) : NULL;
    if (row->id > s->tx_max)
        s->tx_max = row->id;
    if (row->start_written && row->id <= s->mark && code >= 0) {
        /* A long run whose start a flush covers: its summary goes with its
         * finish, or a crash before the next flush would lose it. */
        struct summary *sm = summary_of(s, row->job);
        summary_fold(sm, f);
        rc = summary_write(s, sm);
        if (rc != SQLITE_OK)
            return fail(s, rc, "writing a job's summary");
        f->code = -1; /* folded already; a rollback re-marks it dirty: harmless */
        f->cause = -1;
    }
    return 0;
}

static int sqlite_put_record(struct store *base, const struct store_record *rec)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_INSERT_RECORD];
    int rc;

    sqlite3_bind_int64(st, 1, (int64_t)rec->run_id);
    sqlite3_bind_int64(st, 2, rec->seq);
    sqlite3_bind_int64(st, 3, rec->ts_ns);
    sqlite3_bind_int(st, 4, rec->level);
    sqlite3_bind_text(st, 5, rec->event ? rec->event : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rec->pairs ? rec->pairs : "{}", -1, SQLITE_STATIC);
    rc = step_done(st);
    return rc == SQLITE_OK ? 0 : fail(s, rc, "writing a run's output");
}

static int sqlite_set_paused(struct store *base, uint32_t job, bool paused, int64_t at)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_SET_PAUSED];
    int rc;

    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int(st, 2, paused ? 1 : 0);
    sqlite3_bind_int64(st, 3, at);
    rc = step_done(st);
    return rc == SQLITE_OK ? 0 : fail(s, rc, "storing a pause");
}

static int sqlite_commit(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    int rc = step_done(s->st[ST_COMMIT]);

    if (rc != SQLITE_OK)
        return fail(s, rc, "committing");
    for (size_t i = 0; i < s->n_folds; i++) {
        if (s->folds[i].code >= 0 || s->folds[i].cause >= 0)
            summary_fold(summary_of(s, s->folds[i].job), &s->folds[i]);
    }
    folds_clear(s);
    if (s->tx_max > s->committed)
        s->committed = s->tx_max;
    if (s->wal_pages >= WAL_CHECKPOINT_PAGES)
        checkpoint(s); /* a long burst: keep the WAL bounded */
    return 0;
}

static void sqlite_rollback(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;

    if (!sqlite3_get_autocommit(s->db))
        (void)step_done(s->st[ST_ROLLBACK]); /* a failed COMMIT may have rolled back already */
    folds_clear(s);
}

static int sqlite_flush(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    int rc;

    if (s->n_sums == 0 && s->committed <= s->mark) {
        checkpoint(s);
        return 0;
    }
    rc = step_done(s->st[ST_BEGIN]);
    if (rc == SQLITE_OK)
        rc = write_dirty_summaries(s);
    if (rc == SQLITE_OK)
        rc = step_done(s->st[ST_COMMIT]);
    if (rc != SQLITE_OK) {
        rc = fail(s, rc, "writing job summaries");
        if (!sqlite3_get_autocommit(s->db))
            (void)step_done(s->st[ST_ROLLBACK]);
        return rc; /* the summaries stay dirty: the next flush tries again */
    }
    s->mark = s->committed;
    summary_free_all(s);
    checkpoint(s); /* the writer is idle: the right time */
    return 0;
}

static int sqlite_heartbeat(struct store *base, int64_t now, bool stopping)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_HEARTBEAT];
    int rc;

    if (!s->node)
        return 0;
    sqlite3_bind_int64(st, 1, s->node);
    sqlite3_bind_int64(st, 2, now);
    bind_opt_i64(st, 3, stopping ? now : 0);
    rc = step_done(st);
    return rc == SQLITE_OK ? 0 : fail(s, rc, "updating the heartbeat");
}

/* --- retention ------------------------------------------------------------------------------ */

/* The id of the n-th newest row of a job (of its failed ones with
 * `failed`), or 0 when it has fewer. */
static int nth_newest(sqlite3 *db, uint32_t job, unsigned n, bool failed, uint64_t *id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                failed ? "SELECT run_id FROM runs INDEXED BY runs_failed"
                                         " WHERE job = ?1 AND " FAILED_SQL
                                         " ORDER BY run_id DESC LIMIT 1 OFFSET ?2"
                                       : "SELECT run_id FROM runs INDEXED BY runs_job"
                                         " WHERE job = ?1 ORDER BY run_id DESC LIMIT 1 OFFSET ?2",
                                -1, &st, NULL);

    *id = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, job);
        sqlite3_bind_int64(st, 2, n - 1);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *id = (uint64_t)sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* One job: removes (or counts) at most `budget` rows; *n how many. */
static int prune_job(struct sqlite_store *s, const struct store_retention *r, int64_t now,
                     uint32_t job, unsigned budget, bool dry_run, uint64_t *n)
{
    uint64_t cut = 0, keep_failed = UINT64_MAX, nth = 0;
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;

    *n = 0;
    if (r->max_age_ns > 0)
        cut = run_id_floor(now - r->max_age_ns);
    if (r->max_runs > 0) {
        rc = nth_newest(s->db, job, r->max_runs, false, &nth);
        cut = max_u64(cut, nth);
    }
    if (rc != SQLITE_OK || cut == 0)
        return rc;
    if (r->keep_failures_ns > 0) {
        keep_failed = run_id_floor(now - r->keep_failures_ns);
        if (r->max_runs > 0) {
            rc = nth_newest(s->db, job, r->max_runs, true, &nth);
            keep_failed = max_u64(keep_failed, nth);
        }
    }
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_prepare_v2(
        s->db,
        dry_run ? "SELECT count(*) FROM (SELECT run_id FROM runs WHERE job = ?1 AND run_id < ?2"
                  " AND result IS NOT NULL AND NOT (" FAILED_SQL " AND run_id >= ?3)"
                  " LIMIT ?4)"
                : "DELETE FROM runs WHERE run_id IN (SELECT run_id FROM runs WHERE job = ?1"
                  " AND run_id < ?2 AND result IS NOT NULL"
                  " AND NOT (" FAILED_SQL " AND run_id >= ?3) ORDER BY run_id LIMIT ?4)",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, job);
        sqlite3_bind_int64(st, 2, (int64_t)(cut > INT64_MAX ? INT64_MAX : cut));
        sqlite3_bind_int64(st, 3, (int64_t)(keep_failed > INT64_MAX ? INT64_MAX : keep_failed));
        sqlite3_bind_int64(st, 4, dry_run ? -1 : (int64_t)budget); /* a dry run counts all */
        rc = sqlite3_step(st);
        if (dry_run && rc == SQLITE_ROW)
            *n = (uint64_t)sqlite3_column_int64(st, 0);
        else if (!dry_run && rc == SQLITE_DONE)
            *n = (uint64_t)sqlite3_changes(s->db);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Jobs looked at per call, at most. */
#define PRUNE_JOBS 64

static int sqlite_prune(struct store *base, const struct store_retention *r, int64_t now,
                        uint32_t *cursor, unsigned budget, bool dry_run,
                        struct store_prune_stats *stats)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    unsigned left = budget ? budget : 1, rows = 0;
    bool stopped = false;
    int rc;

    rc = step_done(s->st[ST_BEGIN]);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "SELECT job FROM jobs WHERE job >= ?1 ORDER BY job LIMIT ?2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, *cursor);
        sqlite3_bind_int(st, 2, PRUNE_JOBS);
    }
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t job = (uint32_t)sqlite3_column_int64(st, 0);
        uint64_t n = 0;

        rows++;
        rc = prune_job(s, r, now, job, left, dry_run, &n);
        if (rc != SQLITE_OK)
            break;
        stats->removed += n;
        if (n >= left && !dry_run) {
            *cursor = job; /* the budget ran out in this job: it may hold more */
            stopped = true;
            rc = SQLITE_DONE;
            break;
        }
        if (!dry_run)
            left -= (unsigned)n;
        stats->jobs++;
        *cursor = job + 1;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE && !stopped && rows < PRUNE_JOBS)
        *cursor = 0; /* no job left: the pass is over */
    if (rc == SQLITE_DONE)
        rc = step_done(s->st[ST_COMMIT]);
    if (rc != SQLITE_OK) {
        rc = fail(s, rc, "applying retention");
        if (!sqlite3_get_autocommit(s->db))
            (void)step_done(s->st[ST_ROLLBACK]);
        return rc;
    }
    return *cursor ? 1 : 0;
}

static int sqlite_check(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct stat st;

    if (s->lock_fd < 0)
        return 0;
    if (fstat(s->lock_fd, &st) == 0 && st.st_nlink == 0)
        return -ESTALE;
    if (stat(s->path, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino)
        return -ESTALE;
    return 0;
}

/* --- readers ---------------------------------------------------------------------------- */

#define ENTRY_COLUMNS                                                                          \
    "SELECT r.run_id, j.id, r.result, r.cause, r.reason, r.scheduled, r.utc_offset,"          \
    " r.attempt, r.started, r.finished, r.count, r.error, p.name, p.version, p.sha256, n.name," \
    " r.parent"                                                                                 \
    " FROM runs r JOIN jobs j ON j.job = r.job LEFT JOIN plugins p ON p.plugin = r.plugin"     \
    " LEFT JOIN nodes n ON n.node = r.node "

static const char *text_or_null(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t && *t ? (const char *)t : NULL;
}

static int emit_entries(sqlite3_stmt *st, store_entry_fn fn, void *arg, bool *any)
{
    int rc;

    *any = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_entry e = {
            .id = (uint64_t)sqlite3_column_int64(st, 0),
            .job_id = (const char *)sqlite3_column_text(st, 1),
            .scheduled_ns = sqlite3_column_int64(st, 5),
            .utc_offset = sqlite3_column_int(st, 6),
            .has_offset = sqlite3_column_type(st, 6) != SQLITE_NULL,
            .attempt = (unsigned)sqlite3_column_int(st, 7),
            .started_ns = sqlite3_column_int64(st, 8),
            .finished_ns = sqlite3_column_int64(st, 9),
            .count = (uint64_t)sqlite3_column_int64(st, 10),
            .error = text_or_null(st, 11),
            .plugin = text_or_null(st, 12),
            .plugin_version = text_or_null(st, 13),
            .plugin_sha256 = text_or_null(st, 14),
            .node = text_or_null(st, 15),
            .parent_run_id = (uint64_t)sqlite3_column_int64(st, 16),
        };
        int cause = store_cause_of(sqlite3_column_int(st, 3));
        e.result = sqlite3_column_type(st, 2) == SQLITE_NULL
                       ? STORE_RESULT_RUNNING
                       : store_result_of(sqlite3_column_int(st, 2));
        e.trigger = cause < 0 ? RUN_SCHEDULED : (enum run_trigger)cause;
        if (e.result == STORE_RESULT_SKIPPED) {
            int reason = store_reason_of(sqlite3_column_int(st, 4));
            e.reason = reason < 0 ? SKIP_MISFIRE : (enum skip_reason)reason;
        }
        *any = true;
        if (fn(arg, &e) != 0)
            return SQLITE_DONE;
    }
    return rc;
}

static int reader_fail(struct sqlite_reader *r, int rc)
{
    (void)r;
    return errno_of(rc) ? errno_of(rc) : -EIO;
}

static int sqlite_list(struct store_reader *base, const struct store_query *q, store_entry_fn fn,
                       void *arg)
{
    struct sqlite_reader *r = (struct sqlite_reader *)base;
    sqlite3_stmt *st;
    int64_t job;
    bool any;
    int rc;

    sqlite3_bind_text(r->job_get, 1, q->job_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(r->job_get);
    job = rc == SQLITE_ROW ? sqlite3_column_int64(r->job_get, 0) : 0;
    sqlite3_reset(r->job_get);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return reader_fail(r, rc);
    st = q->result == INT32_MIN              ? r->list
         : q->result == STORE_RESULT_RUNNING ? r->list_running
                                             : r->list_result;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int64(st, 2, q->before ? (int64_t)(q->before > INT64_MAX ? INT64_MAX : q->before)
                                        : INT64_MAX);
    sqlite3_bind_int64(st, 3, q->limit ? q->limit : 50);
    if (st == r->list_result)
        sqlite3_bind_int(st, 4, store_result_code(q->result));
    rc = emit_entries(st, fn, arg, &any);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : reader_fail(r, rc);
}

static int sqlite_get(struct store_reader *base, uint64_t id, store_entry_fn fn, void *arg)
{
    struct sqlite_reader *r = (struct sqlite_reader *)base;
    bool any;
    int rc;

    sqlite3_bind_int64(r->get, 1, (int64_t)id);
    rc = emit_entries(r->get, fn, arg, &any);
    sqlite3_reset(r->get);
    if (rc != SQLITE_DONE)
        return reader_fail(r, rc);
    return any ? 0 : -ENOENT;
}

static int sqlite_output(struct store_reader *base, uint64_t run_id, uint32_t from_seq,
                         unsigned limit, store_record_fn fn, void *arg)
{
    struct sqlite_reader *r = (struct sqlite_reader *)base;
    sqlite3_stmt *st = r->output;
    int rc;

    sqlite3_bind_int64(st, 1, (int64_t)run_id);
    sqlite3_bind_int64(st, 2, from_seq);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_record rec = {
            .run_id = run_id,
            .seq = (uint32_t)sqlite3_column_int64(st, 0),
            .ts_ns = sqlite3_column_int64(st, 1),
            .level = sqlite3_column_int(st, 2),
            .event = (const char *)sqlite3_column_text(st, 3),
            .pairs = (const char *)sqlite3_column_text(st, 4),
        };
        if (fn(arg, &rec) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : reader_fail(r, rc);
}

static void sqlite_reader_close(struct store_reader *base)
{
    struct sqlite_reader *r = (struct sqlite_reader *)base;

    if (!r)
        return;
    sqlite3_finalize(r->job_get);
    sqlite3_finalize(r->list);
    sqlite3_finalize(r->list_result);
    sqlite3_finalize(r->list_running);
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->output);
    sqlite3_close(r->db);
    free(r);
}

static int sqlite_open_reader(const char *path, struct store_reader **out, char *err,
                              size_t errlen)
{
    struct sqlite_reader *r = xcalloc(1, sizeof(*r));
    int64_t version = 0;
    bool found;
    int rc;

    *out = NULL;
    r->base.ops = &sqlite_ops;
    if (access(path, F_OK) < 0) {
        snprintf(err, errlen, "%s: no run store there yet", path);
        free(r);
        return -ENOENT;
    }
    rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
        rc = query_i64(r->db, "PRAGMA user_version", &version, &found);
    }
    if (rc == SQLITE_OK && version != STORE_SQLITE_SCHEMA) {
        snprintf(err, errlen, "%s: store schema %lld, this jobhost reads %d%s", path,
                 (long long)version, STORE_SQLITE_SCHEMA,
                 version < STORE_SQLITE_SCHEMA ? " (the daemon migrates it at its next start)"
                                               : " (written by a newer jobhost)");
        sqlite_reader_close(&r->base);
        return version < STORE_SQLITE_SCHEMA ? -ENOENT : -EPROTO;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db, "SELECT job FROM jobs WHERE id = ?1", -1,
                                SQLITE_PREPARE_PERSISTENT, &r->job_get, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db,
                                ENTRY_COLUMNS "WHERE r.job = ?1 AND r.run_id < ?2"
                                              " ORDER BY r.run_id DESC LIMIT ?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->list, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db,
                                ENTRY_COLUMNS "WHERE r.job = ?1 AND r.run_id < ?2 AND r.result = ?4"
                                              " ORDER BY r.run_id DESC LIMIT ?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->list_result, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db,
                                ENTRY_COLUMNS "WHERE r.job = ?1 AND r.run_id < ?2"
                                              " AND r.result IS NULL ORDER BY r.run_id DESC LIMIT ?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->list_running, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db, ENTRY_COLUMNS "WHERE r.run_id = ?1", -1,
                                SQLITE_PREPARE_PERSISTENT, &r->get, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(r->db,
                                "SELECT seq, ts, level, event, pairs FROM output"
                                " WHERE run_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
                                -1, SQLITE_PREPARE_PERSISTENT, &r->output, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, r->db ? sqlite3_errmsg(r->db) : "cannot open");
        sqlite_reader_close(&r->base);
        return errno_of(rc) ? errno_of(rc) : -EIO;
    }
    *out = &r->base;
    return 0;
}

static const char *sqlite_error(struct store *base)
{
    return ((struct sqlite_store *)base)->errmsg;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .restore = sqlite_restore,
    .job_key = sqlite_job_key,
    .plugin_key = sqlite_plugin_key,
    .begin = sqlite_begin,
    .put_row = sqlite_put_row,
    .put_record = sqlite_put_record,
    .set_paused = sqlite_set_paused,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .flush = sqlite_flush,
    .heartbeat = sqlite_heartbeat,
    .prune = sqlite_prune,
    .check = sqlite_check,
    .claim = NULL,
    .error = sqlite_error,
    .close = sqlite_close,
    .list = sqlite_list,
    .get = sqlite_get,
    .output = sqlite_output,
    .reader_close = sqlite_reader_close,
};

const struct store_backend store_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .open_reader = sqlite_open_reader,
};
