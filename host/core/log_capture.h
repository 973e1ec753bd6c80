/*
 * log_capture — a record captured, not formatted: what the run path queues
 * (jlog_fields, jlog_pairs and jlog_kv of core/log.h). The producer copies
 * the fields into its ring as they are -- numbers as numbers, pointers to
 * names that outlive the record, copies of everything else -- and the
 * writer thread formats the line with the same builder as jlog
 * (core/log_record.c), so a captured record reads byte for byte as the same
 * record formatted at once: the fixed keys, the escaping, the UTF-8
 * sanitising, LOG_VALUE_MAX and LOG_LINE_MAX with `truncated=true`.
 *
 * An entry (struct log_entry of core/log_queue.h, kind LOG_ENTRY_FIELDS or
 * LOG_ENTRY_PAIRS) holds a struct log_cap, then for FIELDS one struct
 * log_slot and one type byte per field, then the text: job, plugin and
 * run_id (when given as text), the event when copied, then the copied
 * values; for PAIRS the text is followed by the pairs, each as a head
 * (16-bit key and value lengths, the value's enum log_value), the key's
 * bytes and the value's (a string's bytes, or a number's 8).
 */
#ifndef JH_LOG_CAPTURE_H
#define JH_LOG_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "core/log_queue.h"
#include "core/log_record.h"

/* What a captured record belongs to, and where its text starts. */
struct log_cap {
    const char *event; /* a name that outlives the record; NULL: copied */
    uint64_t run_id;   /* shown as 16 hex digits; 0 with run_len 0: none */
    uint16_t job_len;  /* bytes of text: job, plugin, run_id, event, in this order */
    uint16_t plugin_len;
    uint16_t run_len;
    uint16_t event_len;
    uint32_t n_pairs; /* PAIRS: pairs kept */
    uint32_t text;    /* offset of the text from the start of the entry */
};

/* One field of a FIELDS entry: the key, a name that outlives the record,
 * and the value (LOG_COPY: offset and length in the text). */
struct log_slot {
    const char *key;
    union {
        int64_t i;
        uint64_t u;
        const char *s;
        struct {
            uint32_t off, len;
        } copy;
    } v;
};

/* Captures a record of `level` (already checked against the levels) into
 * the calling thread's ring. See jlog_fields in core/log.h. */
void log_capture_fields(const struct log_run *run, int level, const char *event, int64_t ts_ns,
                        const struct log_field *f, size_t n);

/* The same for key/value strings, everything copied (jlog_pairs,
 * jlog_kv). Pairs that could not fit in LOG_LINE_MAX are not copied: the
 * record would leave them out anyway. `ctx` may be NULL; `run_id`, when
 * not 0, stands for ctx->run_id. */
void log_capture_pairs(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                       const char *const *kv, size_t n_pairs);

/* The same for typed pairs, keys and strings copied (jlog_record). */
void log_capture_typed(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                       const struct log_field *f, size_t n);

/* The line of captured entry `e`, formatted with builder `r` (the
 * writer's, reused from record to record); `out` gets its view, valid
 * until `r` builds the next record and while `e` is in its ring. Any
 * thread; allocates only while `r` grows. */
void log_capture_format(const struct log_entry *e, struct log_record *r, struct log_line *out);

/* Frees what log_capture_format keeps in `r` (its builder is freed). */
void log_capture_forget(struct log_record *r);

/* Makes what log_capture_format keeps in `r` now, so that later calls
 * allocate nothing while `r` and `out` are large enough (a crash report). */
void log_capture_prepare(struct log_record *r);

/* The line of any entry into `out`: a LINE entry's own, a captured one
 * formatted as above. */
static inline void log_entry_line(const struct log_entry *e, struct log_record *r,
                                  struct log_line *out)
{
    if (e->kind == LOG_ENTRY_LINE)
        log_line_stored(out, (const struct log_line_head *)(e + 1));
    else
        log_capture_format(e, r, out);
}

#endif /* JH_LOG_CAPTURE_H */
