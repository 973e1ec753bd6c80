/*
 * log_queue — the bounded queue between the threads that log and the one
 * writer thread, and what io/log_writer.c (log_setup, log_shutdown and the
 * thread itself) needs from the producer side. Not for other modules: they
 * use core/log.h.
 *
 * Producers (core/log.c) push finished records; the writer takes runs of
 * them, hands them to the sinks, then gives the space back. The wake-up
 * protocol between the two (who signals whom, when the writer sleeps) is
 * described in the DESIGN paragraph of io/log_writer.c and kept here, under
 * the queue's one lock.
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

/* A record as the queue holds it and the sinks see it: this header, then
 * the line ('\n' included), then the raw (unescaped) event, job and run_id
 * for journald's fields, the whole padded to LOG_LINE_ALIGN bytes. In the
 * ring a header with `wrap` set is no record: padding up to the ring's end.
 * A producer writes it under the queue's lock; the writer reads it without,
 * once taken, until it gives the space back (log_queue_release). */
struct log_line {
    uint32_t size;     /* bytes of header and record, padded */
    uint8_t wrap;      /* 1: padding, no record */
    uint8_t level;     /* JH_LOG_DEBUG .. JH_LOG_ERROR */
    uint16_t ts_len;   /* bytes of "ts=... " at the start: syslog and
                          journald stamp records themselves and skip them */
    uint32_t len;      /* bytes of the line, '\n' included */
    uint8_t event_len; /* 0: none */
    uint8_t job_len;
    uint8_t run_len;
    uint8_t pad;       /* the header stays LOG_LINE_ALIGN bytes */
};

#define LOG_LINE_ALIGN 16
_Static_assert(sizeof(struct log_line) == LOG_LINE_ALIGN, "records stay aligned");

static inline const char *log_line_text(const struct log_line *l)
{
    return (const char *)(l + 1);
}

static inline const char *log_line_event(const struct log_line *l)
{
    return log_line_text(l) + l->len;
}

static inline const char *log_line_job(const struct log_line *l)
{
    return log_line_event(l) + l->event_len;
}

static inline const char *log_line_run_id(const struct log_line *l)
{
    return log_line_job(l) + l->job_len;
}

/* Bytes a record takes: header, line and fields, padded. */
static inline size_t log_line_size(size_t len, size_t event_len, size_t job_len, size_t run_len)
{
    return (sizeof(struct log_line) + len + event_len + job_len + run_len + LOG_LINE_ALIGN - 1) &
           ~(size_t)(LOG_LINE_ALIGN - 1);
}

/* Writes record `r` (log_record_end done) of `level` with its fields at
 * `l`, which has log_line_size(...) bytes of room. Field lengths fit a
 * byte: the queue keeps at most 255 bytes of each. Inline: a producer
 * writes every record with it, and with the lengths bounded the compiler
 * copies the short fields without calling memcpy. */
static inline void log_line_write(struct log_line *l, const struct log_record *r, int level,
                                  const char *event, size_t event_len, const char *job,
                                  size_t job_len, const char *run_id, size_t run_len)
{
    char *p = (char *)(l + 1);

    l->size = (uint32_t)log_line_size(r->line.len, event_len, job_len, run_len);
    l->wrap = 0;
    l->level = (uint8_t)log_level_clamp(level);
    l->ts_len = (uint16_t)r->ts_len;
    l->len = (uint32_t)r->line.len;
    l->event_len = (uint8_t)event_len;
    l->job_len = (uint8_t)job_len;
    l->run_len = (uint8_t)run_len;
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

/* What the writer takes under the lock in one go. */
struct log_take {
    const char *ring;          /* the ring and its mask: constant while a */
    uint64_t mask;             /* writer runs */
    uint64_t tail, head;       /* records in [tail, head) are the writer's */
    struct log_sinks *sinks;   /* a new set from log_setup, or NULL */
    uint64_t gen;              /* log_setup calls made when it was taken */
    bool stop;                 /* log_shutdown: write out the rest, then end */
    bool reopen;               /* log_reopen was called */
};

/* --- producers (any thread) ------------------------------------------------ */

/* Queues a finished record (log_record_end done) of `level`, with the raw
 * event, job and run_id for journald; without a writer, writes it to
 * stderr at once. See core/log.h for the queue-full policy. */
void log_queue_push(const struct log_record *r, int level, const char *event,
                    const struct log_ctx *ctx);

/* write(2) until the `n` bytes are written (EINTR retried) or a write
 * fails: 0 or -errno; *done (may be NULL) gets the bytes written. */
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
 * log_queue_wait_installed. When no writer runs, first makes the ring
 * (queue_size bytes, see struct log_config) and sets *start: the caller
 * then starts the writer thread, which takes `sinks` first. */
uint64_t log_queue_offer(struct log_sinks *sinks, size_t queue_size, bool *start);

/* Waits until the writer uses the sinks of generation `gen`. */
void log_queue_wait_installed(uint64_t gen);

/* Asks the writer to write out the queue and end; false when none ran.
 * Records logged from now on go to stderr directly. */
bool log_queue_stop(void);

/* After the writer has been joined: frees the ring. */
void log_queue_free(void);

/* --- the writer thread ------------------------------------------------------ */

/* Waits for something to do, as DESIGN in io/log_writer.c says: at most a
 * tick while records flow, without a timeout once none has come for a
 * while since `last_busy` (mono ns of the last round that found records),
 * and at once for a warning, a queue a quarter full, new sinks, a
 * reopen, a flush or a stop. Then fills `t`. */
void log_queue_take(struct log_take *t, int64_t last_busy);

/* The first take of a new writer: the sinks log_setup offered; no wait. */
void log_queue_take_first(struct log_take *t);

/* The record at `pos` (in the range of take `t`), NULL for padding; *next
 * is where the next one starts. Inline: the writer reads every record
 * with it. */
static inline const struct log_line *log_queue_read(const struct log_take *t, uint64_t pos,
                                                    uint64_t *next)
{
    const struct log_line *l = (const struct log_line *)(t->ring + (pos & t->mask));

    *next = pos + l->size;
    return l->wrap ? NULL : l;
}

/* Gives the ring up to `end` back to the producers (waking those that wait
 * for room). */
void log_queue_release(uint64_t end);

/* Everything before `end` has reached the sinks: wakes log_flush. */
void log_queue_written(uint64_t end);

/* The sinks of generation `gen` are in use: wakes log_setup. */
void log_queue_installed(uint64_t gen);

/* After a stop, when the queue is empty: marks everything written, wakes
 * the waiters and returns true; false while records remain or without a
 * stop. */
bool log_queue_finished(bool stop);

#endif /* JH_LOG_QUEUE_H */
