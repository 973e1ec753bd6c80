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
 *
 * Queue-full policy: the queue is a byte ring (log_config.queue_size, 4 MiB by
 * default: some 20,000 typical records). A caller that finds it full waits
 * for room at most LOG_QUEUE_WAIT_NS (1 ms) in total, then drops its record
 * and counts it in log_dropped("queue"). So a stuck disk costs a caller at
 * most 1 ms per record and never loses a record silently.
 *
 * Size: a record is at most LOG_LINE_MAX bytes. A value longer than
 * LOG_VALUE_MAX bytes is cut (on a UTF-8 boundary) and ends in
 * "...[truncated]"; when the pairs would pass LOG_LINE_MAX, the pairs that do
 * not fit are left out and the record ends in `truncated=true`.
 *
 * Delivery: waking the writer costs its waker microseconds, so an ordinary
 * record does not: debug and info records reach the sinks within about
 * 100 ms, warnings and errors at once (as glog does). log_flush waits for
 * them; log_shutdown writes out the rest, so call it before exiting.
 *
 * Drop counters, by sink name: "file" (write failed: ENOSPC, EIO, or the file
 * could not be opened), "stderr" (write failed), "journald" (sd_journal_send
 * failed; libsystemd itself drops records silently when journald is not
 * running, so log_setup warns about that once), "syslog" (always 0:
 * syslog(3) reports no errors), "queue" (dropped before any sink saw it,
 * see above). A failing file sink warns on the other sinks (or on stderr
 * when there is none), at most once a minute, with the number of records
 * dropped: event=log_sink_error sink=file path=... op=open|write|rotate
 * error="..." dropped=N.
 *
 * The pieces: core/log.c (this API on the callers' side), core/log_record.c
 * (building a record), core/log_queue.c (the queue, log_flush, log_reopen),
 * io/log_writer.c (the writer thread, log_setup, log_shutdown, log_dropped)
 * and one io/log_<sink>.c per sink, described by io/log_sink.h.
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

#define LOG_LINE_MAX 8192               /* bytes of one record, '\n' excluded */
#define LOG_VALUE_MAX 2048              /* bytes of one value before escaping */
#define LOG_QUEUE_WAIT_NS 1000000       /* longest wait for room in the queue */
#define LOG_QUEUE_DEFAULT (4u << 20)    /* queue bytes when queue_size is 0 */

struct log_config {
    int level;              /* records below it are dropped;
                               JH_LOG_ERROR + 1 drops every record */
    bool syslog_enabled;
    const char *ident;      /* syslog ident, e.g. "jobhost" */
    int facility;           /* LOG_DAEMON, LOG_LOCAL0, ... */
    const char *file_path;  /* NULL: no file sink */
    uint64_t file_max_size; /* rotate when the next write would pass it;
                               0 = never. Regular files only (not /dev/...) */
    unsigned file_keep;     /* rotated files kept: path.1 .. path.N (path.1 the
                               newest); 0: the file is emptied in place */
    bool file_daily;        /* also rotate at local midnight */
    bool to_stderr;         /* also write to stderr */
    bool journald;          /* send to journald natively when built with it
                               (with syslog_enabled too, journald also gets each
                               record through /dev/log: enable one of them) */
    size_t queue_size;      /* queue bytes, 0 = LOG_QUEUE_DEFAULT; rounded up to
                               a power of two >= 64 KiB; read when the writer
                               thread starts (first log_setup after start or
                               log_shutdown), ignored by later calls */
};

/* The job/run a record belongs to; fields may be NULL (or "": left out). */
struct log_ctx {
    const char *job;
    const char *run_id;
    const char *plugin;
    int level; /* the job's own level; records below it are dropped, and so
                  are records below the global level: a job can be quieter
                  than the host, not louder. -1 (or JH_LOG_DEBUG): no level
                  of its own. */
};

/* Applies a configuration: opens the new sinks, then swaps them in and closes
 * the old ones. A sink that cannot be opened (unwritable directory) is left
 * out with a warning on the others; returns 0, or -errno of the first sink
 * that failed (the others are still in use). A file that could not be opened
 * is retried by the writer thread (at most once a second, when it has
 * records to write, and on log_reopen()); until then its records count as
 * "file" drops. The file sink also reopens by itself when its path no
 * longer names the open file (moved away or deleted), checked at most once
 * a second before a write. A missing last directory of the
 * path is created (0750). Before the first call records go to stderr
 * synchronously. The first call starts the writer thread. Returns when the
 * new sinks are in use. Called from the main thread only. */
int log_setup(const struct log_config *cfg);

/* Writes out the queue, stops the writer thread and closes every sink; later
 * records go to stderr synchronously until the next log_setup. Main thread. */
void log_shutdown(void);

/* Waits until every record queued before the call has been handed to the
 * sinks (written to the file). Any thread; returns at once before
 * log_setup. Tests and run-once use it; the host never needs to. */
void log_flush(void);

/* Reopens the file sink (SIGUSR1, after logrotate moved it). Any thread, but
 * not a signal handler: set a flag there and call this from the main loop.
 * The work is done by the writer thread. */
void log_reopen(void);

/* True when a record at `level` would be written (global level). */
bool log_enabled(int level);

/* The global level of the last log_setup (JH_LOG_INFO before it). */
int log_level_get(void);

/* Writes a record. `fmt` is a sequence of `key=<conversion>` pairs separated by
 * single spaces, e.g. "job=%s attempts=%d ratio=%.3f"; each formatted value is
 * escaped as logfmt requires, so values may hold anything. Conversions:
 * %s %d %i %u %x %X %o %c %f %g %e %a %p (with flags, width, precision,
 * '*', and the length modifiers hh h l ll z j t L); %% is a literal '%'. A
 * value may mix text and conversions ("size=%zuB"); a NULL %s is written as
 * "". A token without '=' is written as msg=<token>. The level is checked
 * before anything is formatted. */
void jlog(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, bound to a job and run: job, run_id and plugin come first. Dropped
 * below the global level or below ctx->level. */
void jlog_ctx(const struct log_ctx *ctx, int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Plugin records: `ap` holds key/value string pairs up to a NULL key (a NULL
 * value is written as ""). Keys are sanitised to [a-z0-9_], values escaped
 * (control characters and invalid UTF-8 included). Dropped below the global
 * level or below ctx->level. The caller still owns `ap` (va_end it). */
void jlog_kv(const struct log_ctx *ctx, int level, const char *event, va_list ap);

/* The same with the pairs in an array: kv[2i] is a key, kv[2i+1] its value
 * (NULL values are written empty). Records forwarded from worker processes. */
void jlog_pairs(const struct log_ctx *ctx, int level, const char *event, const char *const *kv,
                size_t n_pairs);

/* Records dropped so far by a sink ("file", "syslog", "stderr", "journald",
 * "queue"); 0 for any other name. Counted since the process started. */
uint64_t log_dropped(const char *sink);

/* The sink names log_dropped knows, for the metrics module: i = 0, 1, ...
 * until it returns NULL. */
const char *log_sink_name(unsigned i);

/* "debug" "info" "warn" "error" <-> JH_LOG_*; parse returns -1 when unknown
 * and also accepts "warning"; name returns "error"/"debug" past the ends. */
const char *log_level_name(int level);
int log_level_parse(const char *name);

#endif /* JH_LOG_H */
