/*
 * test_store — the run store: the SQLite backend (io/store_sqlite.c) on
 * real files in a temporary directory (schema, lock, refusals, migration
 * from schema 1, restore with interrupted runs and the summary replay,
 * readers, retention) and the history writer (core/history.c) end to end
 * (a run's start and finish merged into one row, output capped with its
 * marker, skips, pauses, a full queue dropping and counting), with jobs of
 * fake generations (fake_gen.h) on a fake plugin.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/history.h"
#include "core/record.h"
#include "core/run.h"
#include "core/store.h"
#include "cu_main.h"
#include "fake_gen.h"
#include "io/store_sqlite.h"
#include "lib/units.h"

#define SEC NS_PER_SEC

static char dir[64];
static char path[128];

static void fresh_dir(void)
{
    sfmt(dir, sizeof(dir), "/tmp/jh-store-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    sfmt(path, sizeof(path), "%s/state/jobhost.db", dir);
}

static void remove_dir(void)
{
    char cmd[160];
    sfmt(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static struct store *open_ok(const char *node)
{
    struct store_config cfg = {.path = path, .node = node, .version = "test", .pid = 4242};
    struct store *s = NULL;
    char err[512] = "";
    int rc = store_sqlite.open(&cfg, &s, err, sizeof(err));

    if (rc < 0)
        fprintf(stderr, "\nopen: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return s;
}

static int open_err(char *err, size_t len)
{
    struct store_config cfg = {.path = path, .node = "b", .version = "test", .pid = 1};
    struct store *s = NULL;
    int rc = store_sqlite.open(&cfg, &s, err, len);

    if (s)
        s->ops->close(s);
    return rc;
}

/* Restores `n` jobs named in ids (dates may be NULL). */
static void restore(struct store *s, struct store_restore *r, const char *const *ids, size_t n,
                    const int64_t *dates, int64_t now)
{
    char err[512] = "";
    memset(r, 0, sizeof(*r));
    r->job_ids = ids;
    r->dates = dates;
    r->n_jobs = n;
    r->now_ns = now;
    CU_ASSERT_EQUAL_FATAL(s->ops->restore(s, r, err, sizeof(err)), 0);
}

static int64_t sql_i64(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    CU_ASSERT_EQUAL(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fprintf(stderr, "\nsql: %s\n", msg);
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* --- rows through the backend ------------------------------------------------ */

static void put(struct store *s, const struct store_row *rows, size_t n)
{
    CU_ASSERT_EQUAL_FATAL(s->ops->begin(s), 0);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(s->ops->put_row(s, &rows[i]), 0);
    CU_ASSERT_EQUAL_FATAL(s->ops->commit(s), 0);
}

static struct store_row run_row(uint64_t id, uint32_t job, int result, int64_t start, int64_t dur)
{
    return (struct store_row){.id = id, .job = job, .result = result, .trigger = RUN_SCHEDULED,
                              .scheduled_ns = start, .started_ns = start,
                              .finished_ns = result == STORE_RESULT_RUNNING ? 0 : start + dur,
                              .attempt = 1,
                              .error = result == RUN_FAILURE ? "it broke" : NULL};
}

struct collect {
    struct store_entry e[16];
    char error[16][64];
    size_t n;
};

static int collect(void *arg, const struct store_entry *e)
{
    struct collect *c = arg;
    if (c->n < 16) {
        c->e[c->n] = *e;
        snprintf(c->error[c->n], sizeof(c->error[0]), "%s", e->error ? e->error : "");
        c->e[c->n].error = NULL;
        c->e[c->n].job_id = NULL;
        c->e[c->n].plugin = c->e[c->n].plugin_version = c->e[c->n].plugin_sha256 = NULL;
        c->e[c->n].node = NULL;
    }
    c->n++;
    return 0;
}

static struct store_reader *reader_ok(void)
{
    struct store_reader *r = NULL;
    char err[512] = "";
    int rc = store_sqlite.open_reader(path, &r, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "\nreader: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return r;
}

static void test_schema_lock_and_refusals(void)
{
    char err[512];
    struct store *s;
    struct stat st;
    int fd;

    fresh_dir();
    s = open_ok("a");
    CU_ASSERT_EQUAL(sql_i64("PRAGMA user_version"), STORE_SQLITE_SCHEMA);
    CU_ASSERT_EQUAL(sql_i64("PRAGMA application_id"), 0x6a6f6268);
    {
        struct store_restore r;
        const char *ids[] = {"x"};
        restore(s, &r, ids, 1, NULL, wall_ns());
        store_restore_free(&r);
    }
    /* a second daemon on the same file is refused, and told who has it */
    CU_ASSERT_EQUAL(open_err(err, sizeof(err)), -EBUSY);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use by another jobhost daemon (pid 4242, node a)"));
    s->ops->close(s);

    /* a file of a newer jobhost: refused, left as it was */
    sql_exec("PRAGMA user_version = 99");
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    {
        off_t size = st.st_size;
        time_t mtime = st.st_mtime;
        CU_ASSERT_EQUAL(open_err(err, sizeof(err)), -EPROTO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "written by a newer jobhost (store schema 99"));
        CU_ASSERT_EQUAL(stat(path, &st), 0);
        CU_ASSERT_EQUAL(st.st_size, size);
        CU_ASSERT_EQUAL(st.st_mtime, mtime);
        CU_ASSERT_EQUAL(sql_i64("PRAGMA user_version"), 99);
    }
    unlink(path);
    /* not a database at all */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    for (int i = 0; i < 512; i++)
        CU_ASSERT_EQUAL(write(fd, "garbage!", 8), 8);
    close(fd);
    CU_ASSERT_EQUAL(open_err(err, sizeof(err)), -EILSEQ);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a jobhost run store"));
    unlink(path);
    /* someone else's SQLite file */
    sql_exec("CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    CU_ASSERT_EQUAL(open_err(err, sizeof(err)), -EILSEQ);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "another application"));
    CU_ASSERT_EQUAL(sql_i64("SELECT x FROM t"), 1);
    remove_dir();
}

/* Rows, summaries and the replay: a crash (no flush) loses nothing a
 * commit had, and a run left in flight comes back interrupted. */
static void test_restore_and_interrupted(void)
{
    const char *ids[] = {"a", "b", "new"};
    int64_t t = 1790000000 * SEC, dates[] = {0, t + 50 * SEC, 0};
    struct store_restore r;
    struct store *s;
    uint32_t a, b;

    fresh_dir();
    s = open_ok("n1");
    restore(s, &r, ids, 2, NULL, t);
    CU_ASSERT_FALSE(r.jobs[0].known);
    CU_ASSERT_EQUAL(r.last_seen_ns, 0);
    a = r.jobs[0].key;
    b = r.jobs[1].key;
    CU_ASSERT_TRUE(a != 0 && b != 0 && a != b);
    store_restore_free(&r);
    {
        struct store_row rows[] = {
            run_row(run_id_floor(t) + 1, a, RUN_SUCCESS, t, SEC),
            run_row(run_id_floor(t + 10 * SEC), a, RUN_FAILURE, t + 10 * SEC, 2 * SEC),
            run_row(run_id_floor(t + 20 * SEC), a, STORE_RESULT_RUNNING, t + 20 * SEC, 0),
            run_row(run_id_floor(t + 50 * SEC), b, RUN_SUCCESS, t + 50 * SEC, SEC),
        };
        put(s, rows, 2);
        CU_ASSERT_EQUAL(s->ops->flush(s), 0); /* the first two are in the summary */
        put(s, rows + 2, 2);                  /* these only in runs: replayed */
        CU_ASSERT_EQUAL(s->ops->heartbeat(s, t + 60 * SEC, false), 0);
    }
    s->ops->close(s); /* as after kill -9: no flush, no clean stop */

    s = open_ok("n1");
    restore(s, &r, ids, 3, dates, t + 100 * SEC);
    CU_ASSERT_EQUAL(r.last_seen_ns, t + 60 * SEC);
    CU_ASSERT_EQUAL(r.n_interrupted, 1);
    CU_ASSERT_TRUE(r.jobs[0].known);
    CU_ASSERT_EQUAL(r.jobs[0].key, a);
    CU_ASSERT_EQUAL(r.jobs[0].interrupted, 1);
    /* the last finished run is the interrupted one, its end the last heartbeat */
    CU_ASSERT_EQUAL(r.jobs[0].last_result, RUN_INTERRUPTED);
    CU_ASSERT_EQUAL(r.jobs[0].last_started_ns, t + 20 * SEC);
    CU_ASSERT_EQUAL(r.jobs[0].last_duration_ns, 40 * SEC);
    CU_ASSERT_PTR_NOT_NULL(r.jobs[0].last_error);
    CU_ASSERT_EQUAL(r.jobs[0].last_success_ns, t + SEC);
    CU_ASSERT_EQUAL(r.jobs[0].last_failure_ns, t + 60 * SEC);
    CU_ASSERT_EQUAL(r.jobs[0].last_scheduled_ns, t + 20 * SEC);
    CU_ASSERT_EQUAL(r.jobs[1].last_success_ns, t + 51 * SEC);
    CU_ASSERT_TRUE(r.jobs[1].date_done);
    CU_ASSERT_FALSE(r.jobs[2].known);
    store_restore_free(&r);
    CU_ASSERT_EQUAL(sql_i64("SELECT count(*) FROM runs WHERE result IS NULL"), 0);
    CU_ASSERT_EQUAL(sql_i64("SELECT count(*) FROM runs WHERE result = 6"), 1);
    /* a clean stop is the next start's last_seen */
    CU_ASSERT_EQUAL(s->ops->heartbeat(s, t + 200 * SEC, true), 0);
    s->ops->close(s);
    s = open_ok("n1");
    restore(s, &r, ids, 1, NULL, t + 300 * SEC);
    CU_ASSERT_EQUAL(r.last_seen_ns, t + 200 * SEC);
    CU_ASSERT_EQUAL(r.n_interrupted, 0);
    CU_ASSERT_EQUAL(r.jobs[0].last_result, RUN_INTERRUPTED);
    store_restore_free(&r);
    s->ops->close(s);
    remove_dir();
}

/* A run that finishes after a flush covered its start (a long run):
 * its summary goes with its finish. */
static void test_long_run_summary(void)
{
    const char *ids[] = {"long"};
    int64_t t = 1790000000 * SEC;
    struct store_restore r;
    struct store *s;
    struct store_row row;

    fresh_dir();
    s = open_ok("n1");
    restore(s, &r, ids, 1, NULL, t);
    row = run_row(run_id_floor(t), r.jobs[0].key, STORE_RESULT_RUNNING, t, 0);
    store_restore_free(&r);
    put(s, &row, 1);
    CU_ASSERT_EQUAL(s->ops->flush(s), 0);
    row.result = RUN_SUCCESS;
    row.finished_ns = t + 3600 * SEC;
    row.start_written = true;
    put(s, &row, 1);
    s->ops->close(s); /* no flush */
    s = open_ok("n1");
    restore(s, &r, ids, 1, NULL, t + 7200 * SEC);
    CU_ASSERT_EQUAL(r.n_interrupted, 0);
    CU_ASSERT_EQUAL(r.jobs[0].last_result, RUN_SUCCESS);
    CU_ASSERT_EQUAL(r.jobs[0].last_success_ns, t + 3600 * SEC);
    store_restore_free(&r);
    s->ops->close(s);
    remove_dir();
}

static void test_readers(void)
{
    const char *ids[] = {"r"};
    int64_t t = 1790000000 * SEC;
    struct store_restore res;
    struct store_reader *rd;
    struct store *s;
    struct collect c = {0};
    struct store_query q = {.job_id = "r", .limit = 3, .result = INT32_MIN};
    struct store_record rec = {.seq = 0, .ts_ns = t, .level = JH_LOG_INFO, .event = "hello",
                               .pairs = "{\"k\":\"v\"}"};
    uint32_t job;
    uint64_t ids_made[6];

    fresh_dir();
    s = open_ok("n1");
    restore(s, &res, ids, 1, NULL, t);
    job = res.jobs[0].key;
    store_restore_free(&res);
    CU_ASSERT_EQUAL(s->ops->begin(s), 0);
    for (int i = 0; i < 6; i++) {
        struct store_row row = run_row(run_id_floor(t + i * SEC), job,
                                       i == 2 ? RUN_FAILURE : RUN_SUCCESS, t + i * SEC, SEC / 2);
        if (i == 5) {
            row.result = STORE_RESULT_SKIPPED;
            row.reason = SKIP_DOWNTIME;
            row.count = 7;
            row.started_ns = row.finished_ns = 0;
            row.utc_offset = 3600;
        }
        ids_made[i] = row.id;
        CU_ASSERT_EQUAL(s->ops->put_row(s, &row), 0);
    }
    rec.run_id = ids_made[1];
    CU_ASSERT_EQUAL(s->ops->put_record(s, &rec), 0);
    CU_ASSERT_EQUAL(s->ops->commit(s), 0);

    rd = reader_ok();
    CU_ASSERT_EQUAL(rd->ops->list(rd, &q, collect, &c), 0);
    CU_ASSERT_EQUAL_FATAL(c.n, 3); /* newest first */
    CU_ASSERT_EQUAL(c.e[0].id, ids_made[5]);
    CU_ASSERT_EQUAL(c.e[0].result, STORE_RESULT_SKIPPED);
    CU_ASSERT_EQUAL(c.e[0].reason, SKIP_DOWNTIME);
    CU_ASSERT_EQUAL(c.e[0].count, 7);
    CU_ASSERT_TRUE(c.e[0].has_offset);
    CU_ASSERT_EQUAL(c.e[0].utc_offset, 3600);
    CU_ASSERT_EQUAL(c.e[2].id, ids_made[3]);
    /* the next page, then a filter */
    q.before = c.e[2].id;
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(rd->ops->list(rd, &q, collect, &c), 0);
    CU_ASSERT_EQUAL(c.n, 3);
    CU_ASSERT_EQUAL(c.e[0].id, ids_made[2]);
    CU_ASSERT_EQUAL(c.e[0].result, RUN_FAILURE);
    ASSERT_STR(c.error[0], "it broke");
    q.before = 0;
    q.result = RUN_FAILURE;
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(rd->ops->list(rd, &q, collect, &c), 0);
    CU_ASSERT_EQUAL(c.n, 1);
    q.job_id = "nobody";
    CU_ASSERT_EQUAL(rd->ops->list(rd, &q, collect, &c), -ENOENT);
    /* one row, and its output */
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(rd->ops->get(rd, ids_made[1], collect, &c), 0);
    CU_ASSERT_EQUAL(c.n, 1);
    CU_ASSERT_EQUAL(rd->ops->get(rd, 12345, collect, &c), -ENOENT);
    rd->ops->reader_close(rd);
    s->ops->close(s);
    remove_dir();
}

static uint64_t rows_of(const char *job)
{
    char sql[128];
    sfmt(sql, sizeof(sql), "SELECT count(*) FROM runs r JOIN jobs j ON j.job = r.job WHERE j.id = '%s'",
         job);
    return (uint64_t)sql_i64(sql);
}

static void prune_all(struct store *s, const struct store_retention *ret, int64_t now, bool dry,
                      struct store_prune_stats *st)
{
    uint32_t cursor = 0;
    int rc;
    memset(st, 0, sizeof(*st));
    do
        rc = s->ops->prune(s, ret, now, &cursor, 3, dry, st); /* small budget: many calls */
    while (rc > 0);
    CU_ASSERT_EQUAL(rc, 0);
}

/* Newest max_runs within max_age kept; failures longer; runs in flight
 * always; a dry run removes nothing. */
static void test_retention(void)
{
    const char *ids[] = {"p", "q"};
    int64_t t = 1790000000 * SEC, day = 86400 * SEC;
    struct store_retention ret = {.max_age_ns = 30 * day, .max_runs = 5,
                                  .keep_failures_ns = 90 * day};
    struct store_prune_stats st;
    struct store_restore res;
    struct store *s;
    uint32_t p, q;

    fresh_dir();
    s = open_ok("n1");
    restore(s, &res, ids, 2, NULL, t);
    p = res.jobs[0].key;
    q = res.jobs[1].key;
    store_restore_free(&res);
    CU_ASSERT_EQUAL(s->ops->begin(s), 0);
    /* p: 20 runs a day apart, every 4th a failure, the oldest in flight */
    for (int i = 0; i < 20; i++) {
        int64_t at = t - (int64_t)(60 - i) * day;
        int result = i == 0 ? STORE_RESULT_RUNNING : i % 4 == 0 ? RUN_FAILURE : RUN_SUCCESS;
        struct store_row row = run_row(run_id_floor(at), p, result, at, SEC);
        CU_ASSERT_EQUAL(s->ops->put_row(s, &row), 0);
    }
    /* q: 3 recent runs, within every limit */
    for (int i = 0; i < 3; i++) {
        struct store_row row = run_row(run_id_floor(t - i * SEC) + 1, q, RUN_SUCCESS, t - i * SEC,
                                       SEC);
        CU_ASSERT_EQUAL(s->ops->put_row(s, &row), 0);
    }
    CU_ASSERT_EQUAL(s->ops->commit(s), 0);

    prune_all(s, &ret, t, true, &st);
    CU_ASSERT_EQUAL(rows_of("p"), 20);
    {
        uint64_t would = st.removed;
        prune_all(s, &ret, t, false, &st);
        CU_ASSERT_EQUAL(st.removed, would);
    }
    /* all of p's are older than 30 days: kept are the failures younger
     * than 90 days, among its newest 5 failures (i = 4, 8, 12, 16: all
     * four), and the run in flight */
    CU_ASSERT_EQUAL(rows_of("p"), 5);
    CU_ASSERT_EQUAL(sql_i64("SELECT count(*) FROM runs WHERE result IS NULL"), 1);
    CU_ASSERT_EQUAL(rows_of("q"), 3);
    /* shrunk limits act on what is there */
    ret.max_runs = 2;
    ret.keep_failures_ns = 0;
    prune_all(s, &ret, t, false, &st);
    CU_ASSERT_EQUAL(rows_of("q"), 2);
    CU_ASSERT_EQUAL(rows_of("p"), 1); /* the one in flight */
    s->ops->close(s);
    remove_dir();
}

/* A file of schema 1 (tests/fixtures/store_v1.sql) is migrated in place
 * at open: its rows read back, its summaries built by the replay. */
static void test_migration_from_schema_1(void)
{
    const char *ids[] = {"legacy", "paused-one"};
    char cmd[512], text[64];
    struct store_restore r;
    struct store_reader *rd;
    struct store *s;
    struct collect c = {0};
    struct store_query q = {.job_id = "legacy", .limit = 10, .result = INT32_MIN};

    fresh_dir();
    sfmt(cmd, sizeof(cmd), "mkdir -p %s/state && sqlite3 %s < tests/fixtures/store_v1.sql >/dev/null", dir,
         path);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    CU_ASSERT_EQUAL(sql_i64("PRAGMA user_version"), 1);
    s = open_ok("old-node");
    CU_ASSERT_EQUAL(sql_i64("PRAGMA user_version"), STORE_SQLITE_SCHEMA);
    restore(s, &r, ids, 2, NULL, 1793500000 * SEC);
    CU_ASSERT_EQUAL(r.last_seen_ns, 1793491800 * SEC);
    CU_ASSERT_TRUE(r.jobs[0].known);
    CU_ASSERT_EQUAL(r.jobs[0].last_result, RUN_SUCCESS);
    CU_ASSERT_EQUAL(r.jobs[0].last_success_ns, 1793491380500000000);
    CU_ASSERT_EQUAL(r.jobs[0].last_failure_ns, 1793491322 * SEC);
    CU_ASSERT_EQUAL(r.jobs[0].last_scheduled_ns, 1793491440 * SEC);
    CU_ASSERT_TRUE(r.jobs[1].paused);
    store_restore_free(&r);
    rd = reader_ok();
    CU_ASSERT_EQUAL(rd->ops->list(rd, &q, collect, &c), 0);
    CU_ASSERT_EQUAL(c.n, 4);
    CU_ASSERT_EQUAL(c.e[0].result, STORE_RESULT_SKIPPED);
    CU_ASSERT_EQUAL(c.e[0].reason, SKIP_MAX_INSTANCES);
    CU_ASSERT_EQUAL(c.e[1].attempt, 1);
    CU_ASSERT_FALSE(c.e[1].has_offset);
    ASSERT_STR(c.error[2], "disk full");
    rd->ops->reader_close(rd);
    sfmt(text, sizeof(text), "%lld",
         (long long)sql_i64("SELECT count(*) FROM plugins WHERE name = 'ok'"));
    ASSERT_STR(text, "2"); /* versions 1.0.0 and 0.9.0 */
    s->ops->close(s);
    remove_dir();
}

/* --- the history writer ---------------------------------------------------------- */

static struct jh_plugin fake_desc = {.name = "fake", .version = "2.0.0"};
/* as the loader fills it: the descriptor's strings copied beside it */
static struct plugin fake_plugin = {.name = "fake", .desc = &fake_desc,
                                    .desc_name = "fake", .version = "2.0.0",
                                    .hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};

static struct fake_rt F;

static struct history *history_on(struct store *s, uint64_t output_max, unsigned slots)
{
    struct history_config hc = {
        .backend = &store_sqlite,
        .store_cfg = {.path = path, .node = "n1", .version = "test", .pid = 1},
        .output_max = output_max,
        .queue_slots = slots,
        .retention = {.max_runs = 1000},
    };
    return history_new(&hc, s);
}

static void one_run(struct history *h, struct job *job, enum run_result result,
                    const char *error, unsigned records)
{
    struct run run;
    fake_started(job, &run, wall_ns(), 0);
    run.scheduled_wall_ns = run.start_wall_ns;
    run.attempt = 1;
    history_started(h, &run);
    for (unsigned i = 0; i < records; i++) {
        char n[16];
        struct record_pair pairs[] = {
            {.key = "line", .type = RECORD_STR, .v.s = n},
            {.key = "no", .type = RECORD_INT, .v.i = (int64_t)i},
        };
        struct outcome_record rec = {.level = JH_LOG_INFO, .event = "output", .pairs = pairs,
                                     .n_pairs = 2};
        snprintf(n, sizeof(n), "%u", i);
        history_record(h, &run, &rec);
    }
    run.result = result;
    run.duration_ns = 1000;
    if (error)
        snprintf(run.error, sizeof(run.error), "%s", error);
    history_finished(h, &run);
}

static int count_records(void *arg, const struct store_record *r)
{
    size_t *n = arg;
    (*n)++;
    if (strcmp(r->event, "output_truncated") == 0)
        *n += 1000;
    return 0;
}

static void test_writer_end_to_end(void)
{
    const char *ids[] = {"w"};
    struct store_restore res;
    struct history_stats st;
    struct history *h;
    struct generation *g;
    struct store *s;
    struct store_reader *rd;
    struct collect c = {0};
    struct store_query q = {.job_id = "w", .limit = 16, .result = INT32_MIN};
    struct outcome_skip skip = {.reason = SKIP_DOWNTIME, .scheduled_wall_ns = 1790000000 * SEC,
                                .count = 42};
    size_t n_records = 0;

    fresh_dir();
    fake_rt_init(&F, NULL, 0);
    g = fake_gen(&F, ids, 1, "fake");
    g->jobs[0].plugin = &fake_plugin;
    s = open_ok("n1");
    restore(s, &res, ids, 0, NULL, wall_ns());
    store_restore_free(&res);
    h = history_on(s, 200, 0);
    history_hold(h, g);
    CU_ASSERT_EQUAL_FATAL(history_start(h), 0);
    one_run(h, &g->jobs[0], RUN_SUCCESS, NULL, 2);
    one_run(h, &g->jobs[0], RUN_FAILURE, "no luck", 50); /* past output_max: a marker */
    history_skipped(h, &g->jobs[0], &skip);
    CU_ASSERT_EQUAL(history_set_paused(h, "w", true, wall_ns(), 5 * SEC), 0);
    history_stop(h);
    history_stats(h, &st);
    CU_ASSERT_EQUAL(st.rows, 3);
    CU_ASSERT_EQUAL(st.runs_finished, 2);
    CU_ASSERT_EQUAL(st.dropped, 0);
    CU_ASSERT_TRUE(st.up);
    CU_ASSERT_TRUE(st.latency_count >= 1);
    history_free(h);

    CU_ASSERT_EQUAL(sql_i64("SELECT paused FROM jobs WHERE id = 'w'"), 1);
    CU_ASSERT_EQUAL(sql_i64("SELECT count(*) FROM plugins WHERE sha256 LIKE '0123%'"), 1);
    rd = reader_ok();
    CU_ASSERT_EQUAL(rd->ops->list(rd, &q, collect, &c), 0);
    CU_ASSERT_EQUAL_FATAL(c.n, 3);
    CU_ASSERT_EQUAL(c.e[0].result, STORE_RESULT_SKIPPED);
    CU_ASSERT_EQUAL(c.e[0].count, 42);
    CU_ASSERT_EQUAL(c.e[1].result, RUN_FAILURE);
    ASSERT_STR(c.error[1], "no luck");
    CU_ASSERT_EQUAL(c.e[2].result, RUN_SUCCESS);
    CU_ASSERT_EQUAL(rd->ops->output(rd, c.e[2].id, 0, 0, count_records, &n_records), 0);
    CU_ASSERT_EQUAL(n_records, 2);
    n_records = 0;
    CU_ASSERT_EQUAL(rd->ops->output(rd, c.e[1].id, 0, 0, count_records, &n_records), 0);
    /* records of 25-26 bytes: 7 fit in 200, then the marker (counted 1001) */
    CU_ASSERT_EQUAL(n_records, 7 + 1001);
    rd->ops->reader_close(rd);
    generation_unref(g);
    fake_rt_free(&F);
    remove_dir();
}

/* A queue with nobody taking from it fills, then drops and counts; a
 * report never waits. */
static void test_full_queue_drops(void)
{
    const char *ids[] = {"d"};
    struct history_stats st;
    struct history *h;
    struct generation *g;

    fresh_dir();
    fake_rt_init(&F, NULL, 0);
    g = fake_gen(&F, ids, 1, "fake");
    g->jobs[0].plugin = &fake_plugin;
    h = history_on(NULL, 1000, 64); /* the store down, the writer not started */
    for (int i = 0; i < 100; i++)
        one_run(h, &g->jobs[0], RUN_SUCCESS, i % 2 ? "e" : NULL, 0);
    history_stats(h, &st);
    CU_ASSERT_EQUAL(st.dropped, 200 - 64);
    CU_ASSERT_EQUAL(st.queued, 64);
    CU_ASSERT_FALSE(st.up);
    history_free(h);
    generation_unref(g);
    fake_rt_free(&F);
    remove_dir();
}

/* Every result, cause and skip reason has its own number, and the number
 * reads back as the value: a value added to an enum and not to the table
 * would be stored as another's. */
static void test_codes_cover_every_value(void)
{
    int seen[64] = {0};

    for (int v = 0; v < RUN_TRIGGER_COUNT; v++) {
        int code = store_cause_code(v);
        CU_ASSERT(code >= 0 && code < 64);
        if (code < 0 || code >= 64)
            continue;
        CU_ASSERT_EQUAL(seen[code]++, 0);
        CU_ASSERT_EQUAL(store_cause_of(code), v);
    }
    memset(seen, 0, sizeof(seen));
    for (int v = 0; v < SKIP_REASON_COUNT; v++) {
        int code = store_reason_code(v);
        CU_ASSERT(code >= 0 && code < 64);
        if (code < 0 || code >= 64)
            continue;
        CU_ASSERT_EQUAL(seen[code]++, 0);
        CU_ASSERT_EQUAL(store_reason_of(code), v);
    }
    for (int v = 0; v < RUN_RESULT_COUNT; v++)
        CU_ASSERT_EQUAL(store_result_of(store_result_code(v)), v);
    CU_ASSERT_EQUAL(store_result_of(store_result_code(STORE_RESULT_SKIPPED)),
                    STORE_RESULT_SKIPPED);
    CU_ASSERT_EQUAL(store_cause_code(RUN_TRIGGER_COUNT), -1);
    CU_ASSERT_EQUAL(store_reason_of(99), -1);
}

static const struct cu_test backend_tests[] = {
    {"codes: every result, cause and skip reason", test_codes_cover_every_value},
    {"schema, lock, newer and foreign files refused", test_schema_lock_and_refusals},
    {"restore: summaries, replay, interrupted runs", test_restore_and_interrupted},
    {"a long run's summary goes with its finish", test_long_run_summary},
    {"readers: pages, filters, one row", test_readers},
    {"retention", test_retention},
    {"migration from schema 1", test_migration_from_schema_1},
    {NULL, NULL},
};

static const struct cu_test writer_tests[] = {
    {"runs, output, skips and pauses end to end", test_writer_end_to_end},
    {"a full queue drops and counts", test_full_queue_drops},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"store_sqlite", backend_tests},
    {"history", writer_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
