/*
 * manifest — the YAML manifest read into a plain struct. No dlopen, no
 * threads, no globals; the same files always give the same result, which is
 * what `jobhost check`, reload and the tests rely on.
 *
 * Every error names the file, the line and column of the offending node and
 * the path of the key, e.g.
 *   config/jobhost.yaml:14:7: jobs[2].trigger.cron: field 3 (day of month): value 32 out of range 1-31
 * and parsing goes on after an error, so one pass reports every problem.
 *
 * Relative paths in the manifest (plugin_dir, log file, include patterns,
 * ...) are resolved against the manifest's own directory.
 *
 * A manifest may come in pieces: `include:` lists globs and paths (every
 * *.yaml of jobs.d, more.yaml) of more files holding `jobs:` only, read in
 * order (glob matches sorted) after the manifest's own jobs; their errors name them ("conf/jobs.d/a.yaml:3:7:
 * jobs[0]..."), counting jobs within each file. Included files include
 * nothing further. The limits (64 MiB, 2,000,000 YAML nodes, 32 levels)
 * hold per file.
 *
 * Reading is split by concern: core/yamltree.c (bytes to a node tree),
 * core/schema.c (typed getters and messages), core/manifest_file.c (files
 * and include patterns), and core/manifest.c (this model).
 */
#ifndef JH_MANIFEST_H
#define JH_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/idtable.h"
#include "lib/trigger.h"
#include "lib/util.h"

/* The longest job id (bytes, without the NUL). */
#define MANIFEST_ID_MAX 128

enum isolation {
    ISOLATION_THREAD = 0, /* runs on a worker thread of the host (default) */
    ISOLATION_PROCESS,    /* runs in a worker process */
};

/* What a firing does when it finds the job's earlier runs still going
 * (`concurrency:`). */
enum concurrency {
    CONCURRENCY_FORBID = 0, /* skipped (reason max_instances): one run at a time */
    CONCURRENCY_ALLOW,      /* up to max_instances at once, then skipped */
    CONCURRENCY_REPLACE,    /* the running ones are cancelled, the new one starts when
                               they have returned */
    CONCURRENCY_QUEUE,      /* the new one waits and starts when a run ends: at most
                               one waits, later firings are skipped (reason queued) */
};

/* "forbid", "allow", "replace", "queue". */
const char *concurrency_name(enum concurrency c);

/* One entry of a job's `params:`; values are kept as written, with where
 * they are written: the plugin's declared parameters are checked against
 * them after the plugin is loaded (core/params.c), and the messages name
 * these positions. */
struct manifest_param {
    char *key;
    char *value;    /* JH_PARAM_SCALAR */
    size_t n;       /* JH_PARAM_LIST / JH_PARAM_MAP: number of items */
    char **names;   /* JH_PARAM_MAP: the entries' keys */
    char **values;  /* JH_PARAM_LIST / JH_PARAM_MAP: the items */
    int kind;       /* enum jh_param_kind */
    int line, col;  /* the key */
    int value_line, value_col; /* the value */
};

/* The limits of a job's worker process (`isolation: process`); 0 = no limit. */
struct manifest_limits {
    uint64_t address_space; /* bytes (RLIMIT_AS) */
    int64_t cpu_ns;         /* CPU time per worker process (RLIMIT_CPU, whole seconds) */
    unsigned open_files;    /* RLIMIT_NOFILE */
};

/* A job's retry policy (`retry:`): after a failed attempt (failure,
 * timeout, crashed), attempt n+1 starts delay * backoff^(n-1) later, at most
 * max_delay, plus up to jitter; at most `limit` retries after the first. */
struct manifest_retry {
    int64_t delay_ns;     /* default 10 s */
    int64_t max_delay_ns; /* default 0 = no cap */
    int64_t jitter_ns;    /* default 0 */
    double backoff;       /* default 1 (a constant delay); >= 1 */
    unsigned limit;       /* retries after the first attempt; >= 1 */
};

/* When a chained job runs (`trigger: {after: ..., on: ...}`). */
enum chain_on {
    CHAIN_ON_SUCCESS = 0, /* its parents succeeded (a dry run counts as one) */
    CHAIN_ON_FAILURE,     /* failed: failure, timeout, crashed, interrupted */
    CHAIN_ON_ALWAYS,      /* finished, whatever the result but cancelled */
};

/* "success", "failure", "always". */
const char *chain_on_name(enum chain_on on);

/* A chained job: it runs when each of its parents has finished (with the
 * result `on` asks for) since its own last run. */
struct manifest_after {
    struct manifest_ref *parents; /* job ids with where they are written */
    uint32_t n_parents;           /* 1-64 */
    enum chain_on on;
    int line, col;                /* the `after` value */
};

/* What a notification is sent for (`notify: [{on: [...]}]`): bits of
 * 1 << enum notify_event. */
enum notify_event {
    NOTIFY_START = 0, /* a run began */
    NOTIFY_SUCCESS,   /* a run succeeded */
    NOTIFY_FAILURE,   /* failure, timeout, crashed or interrupted */
    NOTIFY_RECOVERY,  /* the first success after a failed run */
    NOTIFY_SKIPPED,   /* a firing was skipped */
    NOTIFY_EVENT_COUNT
};

/* "start", "success", "failure", "recovery", "skipped". */
const char *notify_event_name(enum notify_event e);

/* One header of a notification; its value written, or read from a file at
 * each send (`{file: PATH}`, never logged). */
struct manifest_header {
    char *name;
    char *value; /* NULL when from a file */
    char *file;  /* resolved; NULL when written */
};

/* One receiver of notifications: a POST with a JSON body. */
struct manifest_notify {
    char *url;
    struct manifest_header *headers;
    uint32_t n_headers;
    uint32_t on;        /* bits of enum notify_event; default failure and recovery */
    int64_t timeout_ns; /* per attempt; default 5 s */
};

/* A job's or the host's receivers, and a job's dead-man ping URL. */
struct manifest_notify_list {
    struct manifest_notify *items;
    size_t n;
    char *ping; /* healthchecks.io style: URL/start, URL, URL/fail; NULL = none */
};

/* Whose a job's worker process is (`user:`, `group:`; isolation: process
 * only), resolved against the user and group databases when the manifest
 * is read. */
struct manifest_creds {
    char *user_name;   /* the user's name in the user database (initgroups); NULL: none */
    uint32_t uid, gid;
    bool set_uid;      /* `user:` given: run as uid, with its groups */
    bool set_gid;      /* gid to take: `group:`, else the user's primary group */
    int line, col;     /* where `user:` (else `group:`) is written */
};

/* One job. Strings belong to the manifest and are shared between jobs where
 * they are equal (plugin names, trigger texts, parameters): never free or
 * change them. Laid out widest first: a manifest holds one per job, and a
 * host may hold a million. */
/* A job id named somewhere in the manifest, with where. */
struct manifest_ref {
    const char *id;
    int line, col;
};

struct manifest_job {
    char *id;
    char *plugin;             /* a bare name: <plugin_dir>/<plugin>.so */
    char *trigger_text;       /* the trigger as written, for display: "cron 0 3 * * * (Europe/Berlin)" */
    const char *file;         /* the file it is written in, as messages name it: the
                               * manifest's path, or an included file */
    struct manifest_param *params;
    const struct manifest_limits *limits; /* isolation: process only; NULL = none */
    const struct manifest_retry *retry;   /* NULL = failed runs are not retried */
    const struct manifest_after *after;   /* a chained job (trigger kind none); NULL = not */
    const struct manifest_notify_list *notify; /* its `notify` and `ping`; NULL = none */
    const struct manifest_creds *creds;   /* isolation: process only; NULL = the daemon's */
    struct trigger trigger;   /* kind TRIGGER_NONE when the job has no trigger; a cron
                               * trigger's zone name is tz_name(trigger.tz) */
    int64_t misfire_grace_ns; /* default 60 s; 0 = no limit */
    int64_t timeout_ns;       /* default 0 = none */
    int64_t catch_up_ns;      /* default 0 = none: firings missed while the daemon was
                               * down are recorded skipped (downtime); else those of the
                               * last catch_up_ns make up one run at start */
    uint32_t n_params;
    unsigned max_instances;   /* default 1 */
    int log_level;            /* -1 = the host's level */
    enum isolation isolation; /* default thread */
    enum concurrency concurrency; /* default forbid, or allow when max_instances > 1 */
    unsigned index;           /* its place in that file's `jobs:` list ("jobs[3]") */
    int line, col;            /* where the job's entry starts in that file */
    int plugin_line, plugin_col; /* where its `plugin:` value is, for loader errors */
    int params_line, params_col; /* where its `params:` key is (else its entry), for
                                  * parameters that are missing */
    bool enabled;             /* default true */
    bool at_start;            /* trigger.at_start: one run when the daemon starts
                               * (not at a reload), beside any other trigger */
    bool coalesce;            /* default true */
    bool recover;             /* cluster: a firing whose node died mid-run is run again
                               * (at-least-once); default false (at-most-once) */
    bool histograms;          /* its duration and start-delay histograms are exposed
                                 (host.metrics.job_histograms); default true */
};

struct manifest_host {
    char *plugin_dir;         /* resolved; default <manifest dir>/plugins */
    bool strict_permissions;  /* default true: refuse group/world-writable plugins */
    unsigned workers;         /* default: number of online CPUs */
    int64_t shutdown_timeout_ns; /* default 30 s */
    int64_t drain_timeout_ns;    /* default 60 s */
    int64_t stuck_grace_ns;      /* default 10 s: after a thread-mode run's timeout */
    unsigned max_stuck_workers;  /* default 16 */
    char *pid_file;              /* resolved; NULL = none */
    bool watch;                  /* default false */

    struct {
        bool enabled;          /* default true */
        char *listen;          /* default "127.0.0.1:9464" */
        char *token_file;      /* NULL = no token */
        char *cert_file, *key_file;
        bool allow_unauthenticated; /* default false: beyond loopback without a
                                       token, mutating endpoints answer 403 */
    } http;

    struct {
        int level;             /* default info */
        bool syslog;           /* default true */
        char *ident;           /* default "jobhost" */
        int facility;          /* default LOG_DAEMON */
        char *file_path;       /* NULL = no file sink */
        uint64_t file_max_size; /* default 10 MiB */
        unsigned file_keep;     /* default 5 */
        bool file_daily;        /* default false */
        int to_stderr;          /* -1 = when stderr is a terminal (default), 0, 1 */
        bool journald;          /* default false */
    } log;

    double *duration_buckets; /* NULL = metrics defaults */
    size_t n_duration_buckets;
    /* metrics.job_histograms: true (default), false, or a list of job ids;
     * each job's `histograms` says what it came to. */
    enum { HISTOGRAMS_ALL = 0, HISTOGRAMS_NONE, HISTOGRAMS_LISTED } job_histograms;
    struct manifest_ref *histogram_jobs; /* HISTOGRAMS_LISTED */
    size_t n_histogram_jobs;

    char *node;               /* this daemon's name in run history; NULL = the host name */
    const struct manifest_notify_list *notify; /* host.notify, for every job; NULL = none */

    struct {                  /* the run store (host.store) */
        bool enabled;         /* default true */
        enum { STORE_SQLITE = 0, STORE_POSTGRES } backend; /* default sqlite */
        char *path;           /* resolved; default <manifest dir>/jobhost.db (sqlite) */
        char *dsn;            /* postgres: the libpq connection string (required) */
        char *password_file;  /* postgres: resolved; NULL = none (libpq's own ways) */
        int64_t max_age_ns;   /* history.max_age, default 30d; 0 = no age limit */
        unsigned max_runs;    /* history.max_runs per job, default 1000; 0 = no limit */
        int64_t keep_failures_ns; /* history.keep_failures, default 90d: failed runs are
                                   * kept this long (still at most max_runs of them) */
        uint64_t output_max;  /* history.output_max, bytes of records kept per run,
                               * default 64 KiB */
    } store;

    struct {                  /* host.cluster: several nodes on one PostgreSQL */
        bool enabled;         /* the key is present */
        int64_t lease_ns;     /* lease, default 15s: a node silent for longer is dead */
    } cluster;
};

struct manifest_use;

struct manifest {
    char *path; /* as given */
    char *dir;  /* directory holding the manifest, absolute */
    struct manifest_host host;
    struct manifest_job *jobs; /* the manifest's own, then each included file's */
    size_t n_jobs;
    char **files;   /* every file read: [0] the manifest (path), then the included
                     * ones in reading order, named as messages name them */
    size_t n_files;
    /* What is valid but most likely not meant, one line each, in document
     * order: "FILE:LINE:COL: warning: jobs[2].trigger.cron: never fires
     * (...)". A cron expression no date matches, a date or an `end`
     * already past (the only part that depends on the clock), a job
     * log_level louder than the host's. A reload (manifest_reload) that
     * takes an included file's jobs over unchanged does not repeat the
     * trigger warnings of that file. */
    struct errors warnings;
    bool failed; /* only with MANIFEST_KEEP_ON_ERROR: errors were reported */
    struct arena arena; /* private: holds every string above and the small arrays
                         * (params, limits, buckets); jobs and files are malloc'ed */
    struct idtable index; /* private: job id -> its index in jobs + 1 */
    /* private: what each included file came to (its strings live there, not
     * in arena), shared with the manifest of a reload that finds the file's
     * bytes unchanged */
    struct manifest_use *uses;
    size_t n_uses;
    bool reusable; /* uses[] still say where their jobs are */
};

/* Reads and validates the manifest at `path` and the files it includes. On
 * success returns 0 and *out (free with manifest_free). On failure returns
 * -EINVAL (or -errno when the manifest itself cannot be read), leaves *out
 * NULL and appends one line per problem to `errs`. Every file is opened
 * without following a symbolic link as its last component and read only
 * when it is a regular file (a FIFO is refused, not waited on). */
int manifest_load(const char *path, struct manifest **out, struct errors *errs);

/* Flags of manifest_load_flags (whose `prev` is manifest_reload's). */
enum {
    /* On -EINVAL, still hand over what could be read (*out, with `failed`
     * set), so that `jobhost check` can go on to load the plugins of the
     * jobs that are complete and report every problem in one pass. Jobs
     * may then lack an id or a plugin: see manifest_keep_complete. */
    MANIFEST_KEEP_ON_ERROR = 1,
};
int manifest_load_flags(const char *path, const struct manifest *prev, unsigned flags,
                        struct manifest **out, struct errors *errs);

/* Puts the lines of errs in document order, as schema errors come: file
 * by file in m's reading order, then by line and column ("FILE:LINE:COL:
 * ..."); a line naming no position of m's files comes first. For the
 * errors found after the manifest's own (a plugin that cannot load), so
 * that every error of one pass reads in order. */
void manifest_sort_errors(const struct manifest *m, struct errors *errs);

/* Drops the jobs of a failed manifest that lack a valid id or plugin name,
 * and all but the first of jobs sharing an id, so that what remains can be
 * built into a generation to check its plugins. */
void manifest_keep_complete(struct manifest *m);

/* The same for a reload that replaces `prev` (which stays valid and
 * unchanged): an included file whose bytes and name are what prev read is
 * not parsed again, its jobs are copied from prev. The result is what
 * manifest_load would give. */
int manifest_reload(const char *path, const struct manifest *prev, struct manifest **out,
                    struct errors *errs);

/* The same from memory; `name` is used in messages and `dir` resolves
 * relative paths, included files among them (read from disk). For tests and
 * fuzzing. */
int manifest_parse(const char *name, const char *dir, const char *text, size_t len,
                   struct manifest **out, struct errors *errs);

void manifest_free(struct manifest *m);

/* True when two entries configure the same job: every setting, the trigger
 * (trigger_equal) and the params, but not where they are written. A new
 * field of struct manifest_job is compared here. */
bool manifest_job_equal(const struct manifest_job *a, const struct manifest_job *b);

/* SHA-256 of what decides what `job` runs and when, as nodes of a cluster
 * must agree on it: its id, plugin (and plugin_hash, the image's SHA-256
 * hex), trigger (by its values, not its text), enabled, at_start,
 * max_instances, concurrency, isolation, misfire grace, coalesce, timeout,
 * catch-up, recover, retry, after and params (in key order). Not where it is
 * written, nor what is a node's own (log level, histograms, notify, user,
 * group, limits). Stable across machines and runs. */
void manifest_job_digest(const struct manifest_job *job, const char *plugin_hash,
                         unsigned char out[32]);

/* The job with this id, or NULL. O(1). */
const struct manifest_job *manifest_find_job(const struct manifest *m, const char *id);

/* Its index in m->jobs + 1, or 0 when there is no such job. O(1). */
size_t manifest_job_index(const struct manifest *m, const char *id);

/* Drops every job but `id` (which must exist), so that only its plugin is
 * loaded: `jobhost run-once` uses it. */
void manifest_retain_job(struct manifest *m, const char *id);

#endif /* JH_MANIFEST_H */
