/*
 * log_sink — what a log sink is to the writer thread (io/log_writer.c): a
 * small table of operations. A sink kind is one file (log_file.c,
 * log_syslog.c, log_stderr.c, log_journald.c) that exports its table, and
 * one line in the writer's list of kinds; log_dropped() knows it by name.
 *
 * Life of an instance: log_setup calls `open` on the main thread for every
 * kind; from the moment the set is handed to the writer the instance
 * belongs to the writer thread alone, and every other operation runs
 * there, without a lock. When a set replaces another, the writer flushes
 * the old one, calls `attach` on each new sink, then `close` on each old
 * one, then `start` on each new one.
 */
#ifndef JH_LOG_SINK_H
#define JH_LOG_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "core/log.h"
#include "core/log_queue.h"
#include "core/log_record.h"

struct log_sink_ops;

/* The start of every sink instance; each kind's own struct embeds it first. */
struct log_sink {
    const struct log_sink_ops *ops;
};

struct log_sink_ops {
    const char *name; /* as log_dropped() knows it: "file", "syslog", ... */
    bool write_io;    /* `write` does I/O itself (syslog(3), journald): the
                         writer counts that time as time in a sink */

    /* Main thread (log_setup): a new instance for `cfg`, or NULL when cfg
     * does not ask for this kind. A sink asked for but not usable yet is
     * still returned (the writer retries and reports it) with *err set to
     * -errno; *err is left alone otherwise. */
    struct log_sink *(*open)(const struct log_config *cfg, int *err);

    /* Writer: the set is being swapped in, the old one not yet closed. Take
     * process-wide state here (openlog); write nothing. May be NULL. */
    void (*attach)(struct log_sink *s);

    /* Writer: the whole set is in use; report a problem found at open on
     * the other sinks (log_writer_emit). May be NULL. */
    void (*start)(struct log_sink *s);

    /* Writer: before a run of records, and on log_reopen (`reopen`):
     * periodic duties (is the file still at its path?). May be NULL. */
    void (*tick)(struct log_sink *s, bool reopen);

    /* Writer: one record; may be kept until `flush`. Required, as `close`
     * is, of a kind that ever returns an instance. */
    void (*write)(struct log_sink *s, const struct log_line *l);

    /* Writer: a record the writer makes itself (a failing sink), written
     * at once. NULL: this kind never takes them (the file). */
    void (*emit)(struct log_sink *s, const struct log_line *l);

    /* Writer: the end of a run of records, after their ring space was
     * given back: write out what `write` kept (and rotate, for the file).
     * May be NULL. */
    void (*flush)(struct log_sink *s);

    /* Writer: the sink has deferred work (the file deleting a rotated file
     * a step at a time, in `tick`): the writer keeps ticking until it is
     * done, records or not. May be NULL. */
    bool (*pending)(struct log_sink *s);

    /* Writer: its set has been replaced; release everything, free `s`. */
    void (*close)(struct log_sink *s);

    /* Any thread: records this kind has lost since the process started. */
    uint64_t (*dropped)(void);
};

/* The kinds, in the order the writer delivers to them. */
extern const struct log_sink_ops log_file_sink;
extern const struct log_sink_ops log_syslog_sink;
extern const struct log_sink_ops log_stderr_sink;
extern const struct log_sink_ops log_journald_sink;

/* Writer: hands a record the writer thread made itself (`r` ended with
 * log_record_end) to every sink of the set in use that takes such records
 * (`emit`); to stderr when none does, so that it is never lost. */
void log_writer_emit(const struct log_record *r, int level, const char *event);

/* Writer: the same from sink `from` about itself, to every other sink of
 * the set, the file among them (a syslog that cannot be reached is said in
 * the file being tailed); to stderr when there is no other. */
void log_writer_emit_others(const struct log_sink *from, const struct log_record *r, int level,
                            const char *event);

/* The syslog ident and facility of `cfg` as syslog and journald use them:
 * "jobhost" when unset, LOG_DAEMON for 0 (LOG_KERN, which a process cannot
 * use, taken as "not set"). */
static inline const char *log_sink_ident(const struct log_config *cfg)
{
    return cfg->ident && *cfg->ident ? cfg->ident : "jobhost";
}

static inline int log_sink_facility(const struct log_config *cfg)
{
    return cfg->facility ? cfg->facility : LOG_DAEMON;
}

/* The syslog(3) severity of a level. */
static inline int log_sink_severity(int level)
{
    static const int sev[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    return sev[log_level_clamp(level)];
}

#endif /* JH_LOG_SINK_H */
