/*
 * log_queue — the rings between the threads that log and the one writer
 * thread, and what io/log_writer.c (log_setup, log_shutdown and the thread
 * itself) needs from the producer side. Not for other modules: they use
 * core/log.h.
 *
 * Every thread that logs has a ring of its own (one producer, one
 * consumer: no lock, no shared counter between producers). A producer
 * reserves room for an entry at its ring's head, writes it and publishes
 * it with one release store; the writer takes what every ring holds, in
 * time order, hands each record to the sinks, then gives the space back.
 * An entry is a record already formatted (a line, from jlog and jlog_ctx)
 * or captured as fields (core/log_capture.h) that the writer formats. The
 * wake-up protocol between the two (who signals whom, when the writer
 * sleeps) is described in the DESIGN paragraph of io/log_writer.c and kept
 * in core/log_queue.c.
 */
#ifndef JH_LOG_QUEUE_H
#define JH_LOG_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "core/log_record.h"

/* The set of sinks log_setup hands to the writer (io/log_writer.c); the
 * queue only passes it on. */
struct log_sinks;

/* JH_LOG_DEBUG .. JH_LOG_ERROR: a level as records and sinks use it. */
static inline int log_level_clamp(int level)
{
    if (level < JH_LOG_DEBUG)
        return JH_LOG_DEBUG;
    if (level > JH_LOG_ERROR)
        return JH_LOG_ERROR;
    return level;
}

/* --- a formatted record, as the sinks see it ------------------------------- */

/* A record's line ('\n' included) and the raw (unescaped) event, job and
 * run_id for journald's fields: a view of bytes that live in a ring entry
 * or a builder, valid for the sink call it is handed to. */
struct log_line {
    const char *text;
    const char *event, *job, *run_id;
    uint32_t len;      /* bytes of the line, '\n' included */
    uint16_t ts_len;   /* bytes of "ts=... " at the start: syslog and
                          journald stamp records themselves and skip them */
    uint8_t level;     /* JH_LOG_DEBUG .. JH_LOG_ERROR */
    uint8_t event_len; /* 0: none */
    uint8_t job_len;
    uint8_t run_len;
};

#define LOG_FIELD_MAX 255 /* raw journald fields kept per record */

static inline const char *log_line_text(const struct log_line *l)
{
    return l->text;
}

static inline const char *log_line_event(const struct log_line *l)
{
    return l->event;
}

static inline const char *log_line_job(const struct log_line *l)
{
    return l->job;
}

static inline const char *log_line_run_id(const struct log_line *l)
{
    return l->run_id;
}

/* The view of record `r` (log_record_end done) of `level` with its raw
 * fields (each cut to LOG_FIELD_MAX by the caller). */
static inline void log_line_view(struct log_line *l, const struct log_record *r, int level,
                                 const char *event, size_t event_len, const char *job,
                                 size_t job_len, const char *run_id, size_t run_len)
{
    l->text = r->line.data;
    l->len = (uint32_t)r->line.len;
    l->ts_len = (uint16_t)r->ts_len;
    l->level = (uint8_t)log_level_clamp(level);
    l->event = event;
    l->event_len = (uint8_t)event_len;
    l->job = job;
    l->job_len = (uint8_t)job_len;
    l->run_id = run_id;
    l->run_len = (uint8_t)run_len;
}

/* A formatted record as a LOG_ENTRY_LINE holds it: this header, then the
 * line, then the raw event, job and run_id. */
struct log_line_head {
    uint32_t len;
    uint16_t ts_len;
    uint8_t level;
    uint8_t event_len, job_len, run_len;
    uint8_t pad[6];
};

_Static_assert(sizeof(struct log_line_head) == 16, "entries stay aligned");

/* Bytes a stored line takes: header, line and fields (not padded). */
static inline size_t log_line_size(size_t len, size_t event_len, size_t job_len, size_t run_len)
{
    return sizeof(struct log_line_head) + len + event_len + job_len + run_len;
}

/* Stores record `r` (log_record_end done) of `level` with its fields at
 * `h`, which has log_line_size(...) bytes of room. Field lengths fit a
 * byte (LOG_FIELD_MAX). Inline: a producer stores every jlog record with
 * it, and with the lengths bounded the compiler copies the short fields
 * without calling memcpy. */
static inline void log_line_store(struct log_line_head *h, const struct log_record *r, int level,
                                  const char *event, size_t event_len, const char *job,
                                  size_t job_len, const char *run_id, size_t run_len)
{
    char *p = (char *)(h + 1);

    h->len = (uint32_t)r->line.len;
    h->ts_len = (uint16_t)r->ts_len;
    h->level = (uint8_t)log_level_clamp(level);
    h->event_len = (uint8_t)event_len;
    h->job_len = (uint8_t)job_len;
    h->run_len = (uint8_t)run_len;
    memcpy(p, r->line.data, r->line.len);
    p += r->line.len;
    if (event_len)
        memcpy(p, event, event_len);
    p += event_len;
    if (job_len)
        memcpy(p, job, job_len);
    p += job_len;
    if (run_len)
        memcpy(p, run_id, run_len);
}

/* The view of a stored line. */
static inline void log_line_stored(struct log_line *l, const struct log_line_head *h)
{
    l->text = (const char *)(h + 1);
    l->len = h->len;
    l->ts_len = h->ts_len;
    l->level = h->level;
    l->event = l->text + h->len;
    l->event_len = h->event_len;
    l->job = l->event + h->event_len;
    l->job_len = h->job_len;
    l->run_id = l->job + h->job_len;
    l->run_len = h->run_len;
}

/* --- an entry in a ring ------------------------------------------------------- */

enum log_entry_kind {
    LOG_ENTRY_PAD = 0, /* no record: the rest of the ring up to its end */
    LOG_ENTRY_LINE,    /* a struct log_line_head follows */
    LOG_ENTRY_FIELDS,  /* a captured record (core/log_capture.h) */
    LOG_ENTRY_PAIRS,   /* a captured record of key/value strings */
};

#define LOG_ENTRY_ALIGN 8
#define LOG_ENTRY_MAX (64u << 10) /* the largest entry; a ring holds two */

/* The head of every entry. A producer writes it, and what follows, before
 * it publishes the entry; the writer reads it without a lock until it gives
 * the space back. */
struct log_entry {
    uint32_t size; /* bytes of the entry, this header included, a multiple
                      of LOG_ENTRY_ALIGN */
    uint8_t kind;  /* enum log_entry_kind */
    uint8_t level; /* JH_LOG_DEBUG .. JH_LOG_ERROR */
    uint16_t n;    /* kind-specific: fields of a LOG_ENTRY_FIELDS */
    int64_t ts;    /* wall ns the record carries: the writer merges the
                      rings in this order */
};

_Static_assert(sizeof(struct log_entry) == 16, "entries stay aligned");

static inline size_t log_entry_round(size_t n)
{
    return (n + LOG_ENTRY_ALIGN - 1) & ~(size_t)(LOG_ENTRY_ALIGN - 1);
}

/* --- producers (any thread) ------------------------------------------------ */

/* Room for an entry of `size` bytes (<= LOG_ENTRY_MAX) in the calling
 * thread's ring, to fill in and hand to log_queue_commit; NULL when the
 * ring stayed full (the record is dropped and
 * counted, see core/log.h). Without a writer (before log_setup, after
 * log_shutdown) it is scratch space of the thread's, and commit writes the
 * record to stderr at once. Never blocks but for that wait. */
struct log_entry *log_queue_reserve(size_t size);

/* Publishes the entry log_queue_reserve returned (its size field may be
 * smaller than the room asked for). */
void log_queue_commit(struct log_entry *e);

/* write(2) until the `n` bytes are written (EINTR retried) or a write
 * fails: 0 or -errno; *done (may be NULL) gets the bytes written.
 * Async-signal-safe. */
int log_write_all(int fd, const char *p, size_t n, size_t *done)
    __attribute__((warn_unused_result));

/* Lines ending in '\n' in p[0..n): how many records a failed write lost. */
uint64_t log_count_lines(const char *p, size_t n);

/* Writes `len` bytes to stderr now (the records of a process without a
 * writer, and of the stderr sink); what could not be written counts as
 * "stderr" drops, one per line. */
void log_stderr_write(const char *p, size_t len);

/* Records dropped by log_stderr_write and by a full queue, since start. */
uint64_t log_stderr_dropped(void);
uint64_t log_queue_dropped(void);

/* --- log_setup and log_shutdown (main thread) ------------------------------ */

/* Sets the global level (not clamped: JH_LOG_ERROR + 1 silences all). */
void log_level_set(int level);

/* Hands `sinks` to the writer and returns the generation to wait for with
 * log_queue_wait_installed. When no writer runs, first sets the size of
 * each thread's ring (queue_size bytes, see struct log_config) and sets
 * *start: the caller then starts the writer thread, which takes `sinks`
 * first. */
uint64_t log_queue_offer(struct log_sinks *sinks, size_t queue_size, bool *start);

/* Waits until the writer uses the sinks of generation `gen`. */
void log_queue_wait_installed(uint64_t gen);

/* Asks the writer to write out the queue and end; false when none ran.
 * Records logged from now on go to stderr directly once it has ended. */
bool log_queue_stop(void);

/* --- the writer thread ------------------------------------------------------ */

/* One ring's part of a take: entries in [pos, end). */
struct log_source {
    struct log_ring *ring;
    uint64_t pos, end;
    int64_t ts; /* of the entry at pos */
};

/* What the writer takes in one go: the entries every ring held when it
 * looked, and the requests that came with them. */
struct log_take {
    struct log_source *src; /* the rings with entries; writer-owned array */
    size_t n, cap;
    struct log_sinks *sinks; /* a new set from log_setup, or NULL */
    uint64_t gen;            /* log_setup calls made when it was taken */
    uint64_t flush;          /* log_flush calls made when it was taken */
    bool stop;               /* log_shutdown: write out the rest, then end */
    bool reopen;             /* log_reopen was called */
};

/* Waits for something to do, as DESIGN in io/log_writer.c says: at most a
 * tick while records flow, without a timeout once none has come for a
 * while since `last_busy` (mono ns of the last round that found records),
 * and at once for a ring a quarter full, new sinks, a reopen, a flush or a
 * stop. Then fills `t`. */
void log_queue_take(struct log_take *t, int64_t last_busy);

/* The first take of a new writer: the sinks log_setup offered; no wait. */
void log_queue_take_first(struct log_take *t);

/* The next entry of take `t`, oldest first across the rings (padding
 * skipped); NULL when the take is done. The entry stays valid until
 * log_queue_release. */
const struct log_entry *log_queue_next(struct log_take *t);

/* Gives the space of every entry log_queue_next returned back to the
 * producers (waking those that wait for room). */
void log_queue_release(struct log_take *t);

/* Everything of take `t` has reached the sinks: wakes log_flush. */
void log_queue_written(const struct log_take *t);

/* The sinks of generation `gen` are in use: wakes log_setup. */
void log_queue_installed(uint64_t gen);

/* After a stop, when every ring is empty: marks the writer gone (records
 * logged from now on go to stderr), calls `last` on what producers queued
 * meanwhile (a take of its own: log_queue_next, no release needed), wakes
 * the waiters and returns true; false while records remain or without a
 * stop. */
bool log_queue_finished(bool stop, void (*last)(struct log_take *t));

/* Frees the take's array. */
void log_take_free(struct log_take *t);

/* The writer brackets a sink's I/O (a flush, a syslog(3) call, a check of
 * the file) with these: a producer that waits for room while the writer
 * has been in one for LOG_SINK_STUCK_NS drops its record (core/log.h). */
void log_queue_sink_enter(void);
void log_queue_sink_leave(void);

/* The writer thread calls it first: producers may look at its state. */
void log_queue_writer_started(void);

/* For log_stats: the writer counts `records` more handed to the sinks and
 * `busy_ns` more of its CPU time; the file sink brackets a rotation with
 * log_queue_rotating(true) and (false), then reports its duration. */
void log_queue_count(uint64_t records, uint64_t busy_ns);
void log_queue_rotating(bool on);
void log_queue_rotated(uint64_t ns);

/* --- crash reports (core/crash.c) -------------------------------------------- */

/* The file sink's descriptor, -1 when none: the file sink publishes it
 * (writer), a crash report reads it (any thread, async-signal-safe). */
void log_queue_set_crash_fd(int fd);
int log_queue_crash_fd(void);

/* The file sink's lines handed to it but not yet written, published by the
 * writer while it writes them (p NULL: none): a crash report writes them
 * before the rings. */
void log_queue_set_crash_pending(const char *p, size_t len);

/* Prepares what log_queue_crash_dump needs, so that it allocates nothing
 * (the calling thread's builder, reserved). Main thread, at start-up. */
void log_queue_crash_prepare(void);

/* Writes to `fd` every record the rings hold that the writer has not
 * taken, without taking a lock (the crash report, from a fatal signal
 * handler): as far as possible, since another thread may be in the middle
 * of one. */
void log_queue_crash_dump(int fd);

#endif /* JH_LOG_QUEUE_H */
