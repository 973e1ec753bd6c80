/*
 * log — structured records. Every record is one line of logfmt key=value
 * pairs: ts level event [job run_id plugin] then the caller's pairs. Records
 * fan out to the configured sinks (syslog, a rotating file, stderr, journald)
 * through a bounded queue drained by one writer thread, so a caller never
 * waits on a disk.
 *
 * Threads: every function but log_setup/log_shutdown may be called from any
 * thread. log_setup replaces the sinks (on start and on reload); it never adds
 * a second copy of a sink.
 */
#ifndef JH_LOG_H
#define JH_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jobhost/plugin.h> /* JH_LOG_DEBUG .. JH_LOG_ERROR */

#define LOG_DEBUG_LEVEL JH_LOG_DEBUG
#define LOG_INFO_LEVEL JH_LOG_INFO
#define LOG_WARN_LEVEL JH_LOG_WARN
#define LOG_ERROR_LEVEL JH_LOG_ERROR

struct log_config {
    int level;              /* records below it are dropped */
    bool syslog_enabled;
    const char *ident;      /* syslog ident, e.g. "jobhost" */
    int facility;           /* LOG_DAEMON, LOG_LOCAL0, ... */
    const char *file_path;  /* NULL: no file sink */
    uint64_t file_max_size; /* rotate when the file would exceed it; 0 = never */
    unsigned file_keep;     /* rotated files kept: path.1 .. path.N */
    bool file_daily;        /* also rotate at local midnight */
    bool to_stderr;         /* also write to stderr */
    bool journald;          /* send to journald natively when built with it */
};

/* The job/run a record belongs to; fields may be NULL. */
struct log_ctx {
    const char *job;
    const char *run_id;
    const char *plugin;
    int level; /* the job's own level; records below it are dropped */
};

/* Applies a configuration: opens the new sinks, then swaps them in and closes
 * the old ones. A sink that cannot be opened (unwritable directory) is left
 * out with a warning on the others; returns 0, or -errno of the first sink
 * that failed (the others are still in use). Before the first call records go
 * to stderr. Called from the main thread only. */
int log_setup(const struct log_config *cfg);

/* Flushes the queue, stops the writer thread and closes every sink. */
void log_shutdown(void);

/* Reopens the file sink (SIGUSR1, after logrotate moved it). Any thread;
 * the work is done by the writer thread. */
void log_reopen(void);

/* True when a record at `level` would be written (global level). */
bool log_enabled(int level);

/* Writes a record. `fmt` is a sequence of `key=<conversion>` pairs separated by
 * single spaces, e.g. "job=%s attempts=%d ratio=%.3f"; each formatted value is
 * escaped as logfmt requires, so values may hold anything. Conversions:
 * %s %d %i %u %x %c %f %g %e (with flags, width, precision and the length
 * modifiers l ll z j). The level is checked before anything is formatted. */
void jlog(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, bound to a job and run: job, run_id and plugin come first. */
void jlog_ctx(const struct log_ctx *ctx, int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Plugin records: `ap` holds key/value string pairs up to a NULL key. Keys
 * are sanitised to [a-z0-9_], values escaped (control characters and invalid
 * UTF-8 included). */
void jlog_kv(const struct log_ctx *ctx, int level, const char *event, va_list ap);

/* Records dropped so far by a sink ("file", "syslog", "stderr", "queue"). */
uint64_t log_dropped(const char *sink);

/* "debug" "info" "warn" "error" <-> JH_LOG_*; parse returns -1 when unknown. */
const char *log_level_name(int level);
int log_level_parse(const char *name);

#endif /* JH_LOG_H */
