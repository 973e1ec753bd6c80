/*
 * log — structured records. Every record is one line of logfmt key=value
 * pairs: ts level event [job run_id plugin] then the caller's pairs. Records
 * fan out to the configured sinks (syslog, a rotating file, stderr, journald)
 * through in-memory queues drained by one writer thread, so a caller never
 * waits on a disk, a syslog daemon or journald.
 *
 * Threads: every function but log_setup/log_shutdown may be called from any
 * thread. log_setup replaces the sinks (on start and on reload); it never adds
 * a second copy of a sink.
 *
 * Capture, don't format: the run path's records (jlog_fields, and the
 * plugins' jlog_pairs / jlog_kv) are queued as fields -- numbers as
 * numbers, names that outlive the record as pointers, everything else
 * copied -- and formatted by the writer thread, byte for byte as jlog would
 * have written them. jlog and jlog_ctx format at once (their arguments do
 * not outlive the call); they are for the host's rare records.
 *
 * Queue-full policy: each thread that logs has a ring of its own
 * (log_config.queue_size, 1 MiB by default: some 5,000 to 10,000 records).
 * A caller that finds its ring full waits for room. Once the writer has
 * been inside one sink call for LOG_SINK_STUCK_NS (10 ms) and is asleep
 * there in the kernel -- a stuck disk, a syslog daemon that does not read
 * -- a caller that has waited LOG_QUEUE_WAIT_NS (1 ms) drops its record
 * and counts it in log_dropped("queue"); while the writer is only behind
 * (formatting what others logged, or runnable but preempted on a busy
 * machine), the caller waits for it, LOG_QUEUE_BUSY_WAIT_NS (20 ms) at
 * most. So a stuck sink costs a
 * caller at most 1 ms per record, a burst is slowed down to what the
 * writer can take rather than thinned, and no record is lost silently.
 * The writer gives ring space back before a file rotates, so rotation
 * alone never fills a ring.
 *
 * Size: a record is at most LOG_LINE_MAX bytes. A value longer than
 * LOG_VALUE_MAX bytes is cut (on a UTF-8 boundary) and ends in
 * "...[truncated]"; when the pairs would pass LOG_LINE_MAX, the pairs that do
 * not fit are left out and the record ends in `truncated=true`.
 *
 * Delivery: waking a sleeping thread costs its waker microseconds, so a
 * producer never wakes the writer for a record: while records flow the
 * writer looks every LOG_TICK_NS (10 ms), warnings and errors included;
 * in a quiet spell it looks less and less often (an eighth of the spell,
 * at most LOG_TICK_MAX_NS, 250 ms), so a sparse host wakes it ~40 times
 * between two records rather than 500. A
 * producer wakes it only when its ring is a quarter full, or when the
 * writer has gone to sleep for good (no record for LOG_DEEP_AFTER_NS:
 * then the first record pays the wake-up). log_flush waits for them;
 * log_shutdown writes out the rest, so call it before exiting.
 *
 * Drop counters, by sink name: "file" (write failed: ENOSPC, EIO, or the file
 * could not be opened), "stderr" (write failed), "journald" (sd_journal_send
 * failed; libsystemd itself drops records silently when journald is not
 * running, so log_setup warns about that once), "syslog" (always 0:
 * syslog(3) reports no errors), "queue" (dropped before any sink saw it,
 * see above; log_stats also says how many of those fell during a
 * rotation). A failing file sink warns on the other sinks (or on stderr
 * when there is none), at most once a minute, with the number of records
 * dropped: event=log_sink_error sink=file path=... op=open|write|rotate
 * error="..." dropped=N.
 *
 * The pieces: core/log.c (this API on the callers' side), core/log_record.c
 * (building a line), core/log_capture.c (capturing a record, and its
 * formatting on the writer), core/log_queue.c (the rings, log_flush,
 * log_reopen), io/log_writer.c (the writer thread, log_setup, log_shutdown,
 * log_dropped) and one io/log_<sink>.c per sink, described by
 * io/log_sink.h.
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
#define LOG_QUEUE_WAIT_NS 1000000       /* longest wait for room on a stuck sink */
#define LOG_QUEUE_BUSY_WAIT_NS 20000000 /* ... and on a writer that is behind */
#define LOG_SINK_STUCK_NS 10000000      /* one sink call this long: stuck */
#define LOG_QUEUE_DEFAULT (1u << 20)    /* ring bytes of a thread when queue_size is 0 */
#define LOG_TICK_NS 10000000            /* the writer looks this often while records flow */
#define LOG_TICK_MAX_NS 250000000       /* ... and at most this seldom in a quiet spell */
#define LOG_DEEP_AFTER_NS 5000000000LL  /* no record for this long: it sleeps until woken */

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
    size_t queue_size;      /* bytes of each thread's ring, 0 = LOG_QUEUE_DEFAULT;
                               rounded up to a power of two >= 128 KiB; read
                               when the writer thread starts (first log_setup
                               after start or log_shutdown), ignored by later
                               calls */
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

/* What a captured record (jlog_fields) belongs to. The strings are copied:
 * the record keeps nothing of the caller's. */
struct log_run {
    const char *job;    /* NULL or "": left out */
    uint64_t run_id;    /* shown as 16 hex digits; 0: left out */
    const char *plugin; /* NULL or "": left out */
    int level;          /* as log_ctx.level */
};

/* How a captured field's value is kept and written. */
enum log_value {
    LOG_STR,  /* .s, a name that outlives the record (a static string):
                 kept as a pointer; NULL is written "" */
    LOG_COPY, /* .s, any string: copied (up to LOG_VALUE_MAX + 1 bytes) */
    LOG_INT,  /* .i as a decimal ("%lld") */
    LOG_UINT, /* .u as a decimal ("%llu") */
    LOG_MS,   /* .i nanoseconds, written as milliseconds with three
                 decimals ("%.3f" of ns / 1e6): a duration */
    LOG_TIME, /* .i wall ns as RFC 3339 in the host's zone with
                 milliseconds; 0 is written "" */
    LOG_BOOL, /* .i: "true" or "false" */
    LOG_F64,  /* .f, the shortest text that reads back the same (0.1,
                 1e+06, NaN, +Inf): a plugin's JH_F64 */
    LOG_DUR,  /* .i nanoseconds as seconds with an "s" (0.25s): a
                 plugin's JH_DUR */
};

/* One field of a captured record: `key` is a name that outlives the record
 * (a static string of [a-z0-9_]). */
struct log_field {
    const char *key;
    enum log_value type;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double f;
    } v;
};

#define LOG_FIELDS_MAX 8 /* fields of one jlog_fields record */

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

/* A record captured as fields (see the top of this file): ts is `ts_ns`
 * (wall ns; 0: now), then level, event, job, run_id, plugin and the
 * fields in order, at most LOG_FIELDS_MAX. `event` is a name that outlives
 * the record. Dropped below the global level or below run->level; the
 * caller checks the level before it fills the fields (log_enabled).
 * Written exactly as jlog_ctx would write the same values with the
 * conversions the types name. */
void jlog_fields(const struct log_run *run, int level, const char *event, int64_t ts_ns,
                 const struct log_field *f, size_t n);

/* Plugin records: `ap` holds key/value string pairs up to a NULL key (a NULL
 * value is written as ""). Keys are sanitised to [a-z0-9_], values escaped
 * (control characters and invalid UTF-8 included). Dropped below the global
 * level or below ctx->level. The caller still owns `ap` (va_end it). */
void jlog_kv(const struct log_ctx *ctx, int level, const char *event, va_list ap);

/* The same with the pairs in an array: kv[2i] is a key, kv[2i+1] its value
 * (NULL values are written empty). Both capture: every string is copied. */
void jlog_pairs(const struct log_ctx *ctx, int level, const char *event, const char *const *kv,
                size_t n_pairs);

/* A record of typed pairs whose keys and strings are all copied: a
 * plugin's (core/outcome_log.c). f[i].key need not outlive the call;
 * strings are LOG_COPY, numbers LOG_INT, LOG_UINT, LOG_F64, LOG_BOOL or
 * LOG_DUR. job, run_id (as text, or as `run_id` when not 0) and plugin come
 * from `ctx` (may be NULL); ts is now. Dropped below the global level or
 * below ctx->level. Pairs past what LOG_LINE_MAX can hold are not copied
 * (the line would leave them out). */
void jlog_record(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                 const struct log_field *f, size_t n);

/* What the writer has seen, for benchmarks and the curious. Any thread;
 * counted since the process started. */
struct log_stats {
    uint64_t records;          /* handed to the sinks */
    uint64_t writer_busy_ns;   /* CPU time of the writer thread */
    uint64_t rotations;        /* file rotations (by size or at midnight) */
    uint64_t rotate_ns_total;  /* time the writer spent rotating: flush,
                                  renames, reopen (the deletion of the oldest
                                  file, done later in steps, not counted) */
    uint64_t rotate_ns_max;
    uint64_t dropped_rotating; /* "queue" drops while a rotation ran */
    uint64_t waits;            /* a producer found its ring full and waited */
    uint64_t wait_ns_total;    /* for so long in all (dropped or not) */
};
void log_stats(struct log_stats *out);

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
