/*
 * log — the logging API of core/log.h: levels, and jlog / jlog_ctx /
 * jlog_fields / jlog_kv / jlog_pairs, which every thread calls. A call
 * checks the level first; jlog and jlog_ctx then build the line in the
 * thread's own builder (log_record.c), the others capture their fields
 * (log_capture.c); either goes into the thread's ring (log_queue.c), from
 * which the writer thread (io/log_writer.c) hands it to the sinks. log_setup, log_shutdown and the
 * drop counters are the writer's side, in io/log_writer.c; log_flush and
 * log_reopen are the queue's.
 */
#include "core/log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log_capture.h"
#include "core/log_queue.h"
#include "core/log_record.h"
#include "lib/util.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Written by log_setup (main thread), read by every producer: relaxed. */
static atomic_int g_level = JH_LOG_INFO;

/* --- levels ---------------------------------------------------------------- */

const char *log_level_name(int level)
{
    return level_names[log_level_clamp(level)];
}

int log_level_parse(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    if (strcmp(name, "warning") == 0)
        return JH_LOG_WARN;
    return -1;
}

bool log_enabled(int level)
{
    return level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

int log_level_get(void)
{
    return atomic_load_explicit(&g_level, memory_order_relaxed);
}

void log_level_set(int level)
{
    atomic_store_explicit(&g_level, level, memory_order_relaxed);
}

/* A raw journald field: at most LOG_FIELD_MAX bytes of it. */
static size_t field_len(const char *s)
{
    return s ? strnlen(s, LOG_FIELD_MAX) : 0;
}

/* Below the global level, or below the job's own: dropped. */
static bool ctx_enabled(const struct log_ctx *ctx, int level)
{
    return level >= atomic_load_explicit(&g_level, memory_order_relaxed) &&
           (!ctx || level >= ctx->level);
}

/* --- records ----------------------------------------------------------------- */

/* Queues the line just built in `r` (log_record_end done) as a LINE entry,
 * with the raw event, job and run_id for journald. */
static void submit(struct log_record *r, int level, const char *event, const struct log_ctx *ctx)
{
    const char *job = ctx ? ctx->job : NULL;
    const char *run = ctx ? ctx->run_id : NULL;
    size_t el = field_len(event), jl = field_len(job), rl = field_len(run);
    size_t size = log_entry_round(sizeof(struct log_entry) +
                                  log_line_size(r->line.len, el, jl, rl));
    struct log_entry *e = log_queue_reserve(size);

    if (!e)
        return; /* dropped and counted */
    e->size = (uint32_t)size;
    e->kind = LOG_ENTRY_LINE;
    e->level = (uint8_t)log_level_clamp(level);
    e->n = 0;
    e->ts = r->ts_ns;
    log_line_store((struct log_line_head *)(e + 1), r, level, event, el, job, jl, run, rl);
    log_queue_commit(e);
}

/* Inline in jlog and jlog_ctx: one call less a record. */
static inline void emit_fmt(const struct log_ctx *ctx, int level, const char *event,
                            const char *fmt, va_list *ap)
{
    struct log_record *r = log_record_get();

    log_record_open(r, level, event, ctx);
    log_record_add_fmt(r, fmt, ap);
    log_record_end(r);
    submit(r, level, event, ctx);
}

void jlog(int level, const char *event, const char *fmt, ...)
{
    va_list ap;

    if (level < atomic_load_explicit(&g_level, memory_order_relaxed))
        return;
    va_start(ap, fmt);
    emit_fmt(NULL, level, event, fmt, &ap);
    va_end(ap);
}

void jlog_ctx(const struct log_ctx *ctx, int level, const char *event, const char *fmt, ...)
{
    va_list ap;

    if (!ctx_enabled(ctx, level))
        return;
    va_start(ap, fmt);
    emit_fmt(ctx, level, event, fmt, &ap);
    va_end(ap);
}

void jlog_fields(const struct log_run *run, int level, const char *event, int64_t ts_ns,
                 const struct log_field *f, size_t n)
{
    if (level < atomic_load_explicit(&g_level, memory_order_relaxed) ||
        (run && level < run->level))
        return;
    log_capture_fields(run, level, event, ts_ns, f, n);
}

/* Pairs gathered from a va_list: on the stack for ordinary records. */
#define KV_STACK 32

void jlog_kv(const struct log_ctx *ctx, int level, const char *event, va_list ap)
{
    const char *stack_kv[2 * KV_STACK], **kv = stack_kv;
    size_t n = 0, cap = KV_STACK;
    va_list aq;

    if (!ctx_enabled(ctx, level))
        return;
    va_copy(aq, ap);
    for (const char *k; (k = va_arg(aq, const char *));) {
        if (n == cap) {
            cap *= 2;
            if (kv == stack_kv) {
                kv = xmalloc(2 * cap * sizeof(*kv));
                memcpy(kv, stack_kv, sizeof(stack_kv));
            } else {
                kv = xrealloc(kv, 2 * cap * sizeof(*kv));
            }
        }
        kv[2 * n] = k;
        kv[2 * n + 1] = va_arg(aq, const char *);
        n++;
    }
    va_end(aq);
    log_capture_pairs(ctx, 0, level, event, kv, n);
    if (kv != stack_kv)
        free(kv);
}

void jlog_pairs(const struct log_ctx *ctx, int level, const char *event, const char *const *kv,
                size_t n_pairs)
{
    if (!ctx_enabled(ctx, level))
        return;
    log_capture_pairs(ctx, 0, level, event, kv, n_pairs);
}

void jlog_record(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                 const struct log_field *f, size_t n)
{
    if (!ctx_enabled(ctx, level))
        return;
    log_capture_typed(ctx, run_id, level, event, f, n);
}
