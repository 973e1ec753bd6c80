/*
 * log_record — building one record: the fixed keys (ts level event [job
 * run_id plugin]), the caller's pairs escaped by lib/logfmt.h, values cut at
 * LOG_VALUE_MAX and the record at LOG_LINE_MAX (see core/log.h), and the
 * walker that turns jlog's printf-like "key=%d" format into pairs.
 *
 * A record is built in the calling thread's own builder, with no lock held
 * and, once the builder is warm, no malloc. The API (core/log.c) builds
 * jlog's records on the producers; the writer thread builds the captured
 * ones (core/log_capture.c) and the few it writes itself (a failing sink)
 * the same way, so both read alike byte for byte.
 */
#ifndef JH_LOG_RECORD_H
#define JH_LOG_RECORD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "lib/logfmt.h"
#include "lib/util.h"

/* A thread's scratch space, reused for every record it writes. Owned by its
 * thread; freed when the thread exits. */
struct log_record {
    struct buf line; /* the record */
    struct buf val;  /* one value being formatted */
    struct buf cut;  /* a value cut to LOG_VALUE_MAX */
    size_t ts_len;   /* bytes of "ts=... " at the start of line */
    bool full;       /* LOG_LINE_MAX reached: no more pairs */
    int64_t ts_ns;   /* the wall time of the record being built */
    int64_t ts_sec;  /* the second ts holds; only the milliseconds change */
    char ts[LOGFMT_TS_LEN + 1];
    void *fragments; /* what core/log_capture.c keeps between records; NULL
                        until this builder formats a captured one */
};

/* The calling thread's builder, NULL until its first record. Each thread
 * reads and sets only its own; use log_record_get. */
extern __thread struct log_record *log_record_tls;

/* Makes the calling thread's builder (its first record). */
struct log_record *log_record_first(void);

/* A builder of no thread's: the crash report's, made in advance. Never
 * freed. */
struct log_record *log_record_new(void);

/* The calling thread's builder (made on first use). Never NULL. Inline:
 * every record asks for it. */
static inline struct log_record *log_record_get(void)
{
    return log_record_tls ? log_record_tls : log_record_first();
}

/* Starts a record made at wall time `ts_ns`: "ts=... level=..."; the
 * caller adds event and the rest. */
void log_record_start(struct log_record *r, int level, int64_t ts_ns);

/* Starts a record made now: ts level event, then job, run_id and plugin
 * from `ctx` (may be NULL; NULL or "" fields are left out). */
void log_record_open(struct log_record *r, int level, const char *event,
                     const struct log_ctx *ctx);

/* Appends " key=value", the value cut to LOG_VALUE_MAX. False when the
 * record is full: the pair (and every later one) is left out and the
 * record ends in `truncated=true`. */
bool log_record_add(struct log_record *r, const char *key, size_t klen, const char *v,
                    size_t vlen);

#define LOG_TRUNC_PAIR_LEN 15 /* " truncated=true" */

/* Makes the record ends in `truncated=true`, as log_record_add does when a
 * pair does not fit. */
void log_record_truncate(struct log_record *r);

/* Room for `n` more bytes that are exactly what log_record_add would
 * append for a pair (" key=value" encoded by the caller): true, with the
 * bytes reserved at line.data + line.len for the caller to write and count;
 * false when the pair would not fit, the record then marked truncated as
 * log_record_add marks it. Inline: the writer asks for every field. */
static inline bool log_record_room(struct log_record *r, size_t n)
{
    if (r->full)
        return false;
    if (r->line.len + n > LOG_LINE_MAX - LOG_TRUNC_PAIR_LEN) {
        log_record_truncate(r);
        return false;
    }
    if (r->line.len + n + 1 > r->line.cap)
        buf_reserve(&r->line, n);
    return true;
}

/* log_record_room, then the `n` bytes of `text`. */
bool log_record_add_encoded(struct log_record *r, const char *text, size_t n);

/* The same for C strings; a NULL value is written as "". */
void log_record_add_str(struct log_record *r, const char *key, const char *v);

/* Appends the pairs of a jlog format (see jlog in core/log.h), taking the
 * arguments from `ap`. */
void log_record_add_fmt(struct log_record *r, const char *fmt, va_list *ap);

/* Ends the line with its '\n'; the record is then ready for a sink. */
static inline void log_record_end(struct log_record *r)
{
    buf_putc(&r->line, '\n');
}

#endif /* JH_LOG_RECORD_H */
