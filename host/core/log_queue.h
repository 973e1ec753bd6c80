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

#include "core/log.h"
#include "core/log_record.h"

/* The set of sinks log_setup hands to the writer (io/log_writer.c); the
 * queue only passes it on. */
struct log_sinks;

/* One queued record as the sinks see it. Points into the queue: valid
 * until the writer gives the space back (log_queue_release). */
struct log_line {
    const char *text; /* the record, '\n' included */
    size_t len;
    size_t ts_len;    /* bytes of "ts=... " at the start: syslog and journald
                         stamp records themselves and skip them */
    int level;        /* JH_LOG_DEBUG .. JH_LOG_ERROR */
    const char *event, *job, *run_id; /* raw (unescaped) for journald's fields, */
    size_t event_len, job_len, run_len; /* not NUL-terminated; 0: none */
};

/* What the writer takes under the lock in one go. */
struct log_take {
    uint64_t tail, head;       /* records in [tail, head) are the writer's */
    struct log_sinks *sinks;   /* a new set from log_setup, or NULL */
    uint64_t gen;              /* log_setup calls made when it was taken */
    bool stop;                 /* log_shutdown: write out the rest, then end */
    bool reopen;               /* log_reopen was called */
};

/* JH_LOG_DEBUG .. JH_LOG_ERROR: a level as records and sinks use it. */
static inline int log_level_clamp(int level)
{
    if (level < JH_LOG_DEBUG)
        return JH_LOG_DEBUG;
    if (level > JH_LOG_ERROR)
        return JH_LOG_ERROR;
    return level;
}

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

/* Reads the slot at `pos` (in a take's range): fills *line and returns
 * true when it holds a record (false: padding at the end of the ring);
 * *next is where the next slot starts. */
bool log_queue_read(uint64_t pos, struct log_line *line, uint64_t *next);

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
