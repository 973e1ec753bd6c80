/*
 * store — the run store's interface: what jobhost keeps across restarts
 * (every run with its output, every skipped firing with its reason, each
 * job's last runs and pause state, when this node was last alive), behind
 * a table of operations a backend fills. io/store_sqlite.c is the embedded
 * one (one SQLite file, WAL, the default); a PostgreSQL backend for a
 * cluster fills the same table, and there `claim` makes each firing run
 * once whatever the number of nodes (a unique key on the firing identity:
 * job, nominal time, UTC offset), with run history in the same tables.
 *
 * The host never talks SQL: the history writer (core/history.c) owns the
 * store's write side on its own thread, the start-up restore (core/restore.c)
 * reads it before any firing, and readers (the jobs API, `jobhost history`)
 * open their own read-only handles.
 *
 * Firing identity. A scheduled firing is (job id, nominal time as UTC ns,
 * UTC offset of the trigger's zone at that time): the offset tells the two
 * passes of a fall-back's repeated hour apart (02:30+02:00 and 02:30+01:00
 * are two firings of a spanning-hour cron job). A firing recorded as run or
 * skipped is never run again: restore reports the latest nominal time
 * recorded per job, and whether a date job's one firing was recorded.
 *
 * Threads and order: `open` and `restore` on the main thread before the
 * writer starts; then every operation on `struct store` from the writer
 * thread only, until it stops; `close` on the main thread after. A reader
 * is used by one thread at a time; any number may be open, also by other
 * processes while a daemon writes.
 *
 * Errors: 0 on success, a negative errno on failure with a message in the
 * caller's buffer where there is one. Refusals that must stop a start:
 * -EBUSY (another daemon holds the store), -EPROTO (written by a newer
 * jobhost: the schema is newer than this one knows; the file is left as
 * it is), -EILSEQ (not a jobhost store, or corrupt). Others (-ENOSPC, -EIO,
 * -EROFS, -EACCES...) are failures the writer retries until they go away.
 */
#ifndef JH_STORE_H
#define JH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outcome.h"

struct store;        /* a backend's write handle: one per daemon */
struct store_reader; /* a backend's read handle: one per reading thread */

/* How a store is opened. Strings are borrowed for the call. */
struct store_config {
    const char *path;    /* the SQLite file; for PostgreSQL the connection string */
    const char *label;   /* how records name the store (never a password);
                          * NULL = path */
    const char *node;    /* this daemon's name in history (host.node) */
    const char *version; /* this jobhost's version, kept with the node */
    int pid;             /* this daemon's pid, shown to a second one refused */
    uint64_t instance;   /* shared backends: this start of the node (never 0) */
    int64_t lease_ns;    /* shared backends: how long the node counts as alive
                          * without a heartbeat (host.cluster.lease) */
    bool tool;           /* a command beside a running daemon (`jobhost history
                          * prune`): no lock taken (the backend serialises its
                          * writes with the daemon's), no node recorded */
};

/* What a row's result can be beyond enum run_result. */
#define STORE_RESULT_RUNNING (-1) /* a run in flight */
#define STORE_RESULT_SKIPPED (-2) /* a skipped firing (or `count` of them) */

/* One row, as the writer hands it over: a run (started, or started and
 * finished, or a finish of a run already written) or a skip record. Keys
 * are the backend's (see job_key and plugin_key). */
struct store_row {
    uint64_t id;          /* the run id; a skip record's id is made like one */
    uint32_t job;         /* job key */
    uint32_t plugin;      /* plugin key; 0 for a skip */
    int result;           /* enum run_result, STORE_RESULT_RUNNING or _SKIPPED */
    enum run_trigger trigger;
    enum skip_reason reason; /* skips */
    int32_t utc_offset;   /* of `scheduled` (trigger_utc_offset) */
    unsigned attempt;     /* 1 for a first attempt */
    uint64_t parent_run_id; /* trigger after: the parent's run; 0 = none */
    int64_t scheduled_ns; /* 0 = none (manual, cli) */
    int64_t started_ns;   /* runs */
    int64_t finished_ns;  /* runs, once finished */
    bool start_written;   /* a finish whose start an earlier put_row wrote */
    uint64_t count;       /* skips: the firings this record stands for (>= 1) */
    const char *error;    /* NULL or "" = none */
};

/* One record a run's plugin logged: the run's output. */
struct store_record {
    uint64_t run_id;
    uint32_t seq;       /* 0, 1, ... within the run */
    int64_t ts_ns;
    int level;          /* JH_LOG_* */
    const char *event;
    const char *pairs;  /* a JSON object of the record's key/value pairs */
};

/* What a start learns of one job (restore). */
struct store_job_state {
    uint32_t key;           /* its key (registered now when new) */
    bool known;             /* false: the store never saw the job before this start
                             * (the rest is zero but first_seen) */
    int64_t first_seen_ns;  /* when a daemon first ran with the job configured */
    bool paused;
    bool date_done;         /* asked for a date: that firing is recorded */
    /* The last finished run (interrupted ones included); run_id 0 = none. */
    uint64_t last_id;
    int last_result;        /* enum run_result */
    int64_t last_started_ns, last_duration_ns;
    char *last_error;       /* NULL = none; owned by the restore request */
    int64_t last_success_ns, last_failure_ns; /* ends; 0 = never */
    int64_t last_scheduled_ns; /* latest nominal time of a recorded scheduled firing */
    /* Asked for (store_restore.attempts) and the last run failed: its
     * attempt and scheduled time (0 = none), for a retry it left waiting. */
    unsigned last_attempt;
    int64_t last_run_scheduled_ns;
    uint64_t interrupted;   /* its runs this start closed as interrupted */
};

/* A run found in flight at start, closed as interrupted. Borrowed. */
typedef void (*store_interrupted_fn)(void *arg, const char *job_id, uint64_t run_id,
                                     int64_t started_ns);

/* What the start-up asks of the store and learns from it. */
struct store_restore {
    /* in: the configured jobs; dates[i] is job i's date trigger (0: none) */
    const char *const *job_ids;
    const int64_t *dates;
    const bool *attempts;  /* attempts[i]: job i retries, read its last failed run's
                            * attempt (NULL: none does) */
    size_t n_jobs;
    int64_t now_ns;
    bool keep_open_runs; /* a reopen by the daemon that wrote them: runs in flight
                          * are its own, not interrupted */
    store_interrupted_fn interrupted; /* may be NULL */
    void *arg;
    /* out */
    int64_t last_seen_ns;  /* when a daemon last used the store: its clean stop, or
                            * its last heartbeat if it died; 0 = never used */
    int64_t store_now_ns;  /* a shared store's clock as it read (0: this host's
                            * clock is the only one): firings after it are not
                            * due yet for the other nodes, however far ahead
                            * this host's clock runs */
    struct store_job_state *jobs; /* n_jobs entries, in job_ids' order */
    uint64_t n_interrupted;
};

/* The numbers backends keep for results, causes and skip reasons: one
 * table, so every backend's rows mean the same. Unknown values give -1. */
#define STORE_CODE_SKIPPED 7 /* a skip row's result */
int store_result_code(int result); /* enum run_result or STORE_RESULT_SKIPPED */
int store_result_of(int code);
int store_cause_code(int trigger);
int store_cause_of(int code);
int store_reason_code(int reason);
int store_reason_of(int code);
/* failure, timeout, crashed, interrupted */
static inline bool store_code_failed(int code)
{
    return code == 1 || code == 2 || code == 3 || code == 6;
}

/* Frees what restore allocated into r (the states and their errors). */
void store_restore_free(struct store_restore *r);

/* Retention (host.store.history), applied per job. A row is kept while it
 * is among the job's newest max_runs rows and younger than max_age; a
 * failed run (failure, timeout, crashed, interrupted) also while it is
 * among the job's newest max_runs failed runs and younger than
 * keep_failures. 0 disables a bound. Runs in flight are always kept. */
struct store_retention {
    int64_t max_age_ns;
    unsigned max_runs;
    int64_t keep_failures_ns;
};

struct store_prune_stats {
    uint64_t jobs;    /* jobs looked at */
    uint64_t removed; /* rows removed (or, in a dry run, that would be) */
};

/* What a reader sees of a row. Strings are valid until the callback
 * returns. */
struct store_entry {
    uint64_t id;
    const char *job_id;
    int result;            /* enum run_result, STORE_RESULT_RUNNING or _SKIPPED */
    enum run_trigger trigger;
    enum skip_reason reason;
    int64_t scheduled_ns;  /* 0 = none */
    int32_t utc_offset;
    bool has_offset;       /* false: `scheduled` is shown in the host's zone */
    unsigned attempt;
    uint64_t parent_run_id;          /* trigger after; 0 = none */
    int64_t started_ns, finished_ns; /* 0 = none */
    uint64_t count;
    const char *error;     /* NULL = none */
    const char *plugin, *plugin_version, *plugin_sha256; /* NULL for skips */
    const char *node;      /* NULL = unknown */
};

/* A node of a cluster, as a reader sees it (shared backends). Strings are
 * valid until the callback returns. */
struct store_node {
    const char *name, *version;
    const char *manifest_sha256; /* its jobs' digest (core/generation.h); NULL: not yet */
    int pid;
    int64_t started_ns, heartbeat_ns, lease_until_ns; /* the database's clock */
    int64_t stopped_ns;  /* 0 = not stopped cleanly */
    bool live;           /* its lease runs and it did not stop */
    uint64_t running;    /* claimed runs in flight */
};

typedef int (*store_entry_fn)(void *arg, const struct store_entry *e);
typedef int (*store_node_fn)(void *arg, const struct store_node *n);
typedef int (*store_record_fn)(void *arg, const struct store_record *r);

/* A page of a job's history, newest first. */
struct store_query {
    const char *job_id;
    uint64_t before;  /* only ids below it; 0 = from the newest */
    unsigned limit;
    int result;       /* only rows with this result (enum run_result or
                       * STORE_RESULT_SKIPPED); INT32_MIN = every row */
};

struct store_ops {
    const char *name; /* "sqlite", "postgresql" */

    /* -- start-up, main thread, before the writer runs ------------------- */

    /* Reads each configured job's state, closes the runs found in flight
     * as interrupted, registers the jobs it did not know (with a key),
     * records this node's start. See struct store_restore. */
    int (*restore)(struct store *s, struct store_restore *r, char *err, size_t errlen);

    /* -- the writer thread --------------------------------------------- */

    /* The key of job `id` (registered when new). 0 or -errno. */
    int (*job_key)(struct store *s, const char *id, int64_t now_ns, uint32_t *key);
    /* The key of a plugin build (registered when new). */
    int (*plugin_key)(struct store *s, const char *name, const char *version,
                      const char *sha256, uint32_t *key);

    /* One transaction: begin, any number of puts, commit (or rollback:
     * then none of them happened). */
    int (*begin)(struct store *s);
    /* Inserts a row, or for a run already written completes it (result,
     * finished, error). */
    int (*put_row)(struct store *s, const struct store_row *row);
    int (*put_record)(struct store *s, const struct store_record *rec);
    int (*set_paused)(struct store *s, uint32_t job, bool paused, int64_t at_ns);
    int (*commit)(struct store *s);
    void (*rollback)(struct store *s);

    /* Writes what the backend defers for speed (the SQLite one: each
     * job's summary of last runs, derived from the rows). The writer calls
     * it about every second while rows come, and before close. Its own
     * transaction. */
    int (*flush)(struct store *s);

    /* This node is alive at now_ns; with `stopping`, it stops cleanly
     * (what restore reports as last_seen). Its own transaction. */
    int (*heartbeat)(struct store *s, int64_t now_ns, bool stopping);

    /* Retention over the jobs from *cursor (a key; 0 = the first) on,
     * removing at most `budget` rows, then *cursor is where to go on.
     * Returns 1 while jobs remain, 0 when the pass is over (cursor back to
     * 0), -errno. With dry_run nothing is removed, only counted. */
    int (*prune)(struct store *s, const struct store_retention *r, int64_t now_ns,
                 uint32_t *cursor, unsigned budget, bool dry_run, struct store_prune_stats *st);

    /* 0 while the store is still the one opened; -ESTALE when its file
     * was removed or replaced (the writer then reopens it). */
    int (*check)(struct store *s);

    /* Cluster backends: claims the firing (job, nominal time, offset) for
     * this node; 1 when this node won it (run it), 0 when another did.
     * NULL in single-node backends (every firing is this node's). */
    int (*claim)(struct store *s, uint32_t job, int64_t scheduled_ns, int32_t utc_offset);

    /* The message of the last failure (sqlite's words, say), for the
     * writer's warning. */
    const char *(*error)(struct store *s);

    /* Main thread, after the writer stopped. NULL is a no-op. */
    void (*close)(struct store *s);

    /* -- readers, any thread (one at a time per reader) ---------------- */

    /* A job's history, newest first, through fn (which may stop the walk
     * by returning non-zero). -ENOENT when the store never saw the job. */
    int (*list)(struct store_reader *r, const struct store_query *q, store_entry_fn fn,
                void *arg);
    /* One row by id; -ENOENT when there is none. */
    int (*get)(struct store_reader *r, uint64_t id, store_entry_fn fn, void *arg);
    /* A run's records with seq >= from_seq, at most limit (0: all). */
    int (*output)(struct store_reader *r, uint64_t run_id, uint32_t from_seq, unsigned limit,
                  store_record_fn fn, void *arg);
    /* Every node that ever used a shared store, by name; NULL in
     * backends of one node. */
    int (*nodes)(struct store_reader *r, store_node_fn fn, void *arg);
    void (*reader_close)(struct store_reader *r);
};

/* Every handle starts with its backend's operations. */
struct store {
    const struct store_ops *ops;
};

struct store_reader {
    const struct store_ops *ops;
};

/* A backend: how its handles are made. */
struct store_backend {
    const char *name;
    /* Opens (creating and migrating when needed) and locks the store for
     * this daemon. */
    int (*open)(const struct store_config *cfg, struct store **out, char *err, size_t errlen);
    /* A read-only handle; takes no lock and never writes. -ENOENT when
     * there is no store yet. */
    int (*open_reader)(const char *path, struct store_reader **out, char *err, size_t errlen);
};

#endif /* JH_STORE_H */
