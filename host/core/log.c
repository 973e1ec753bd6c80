/*
 * log — the logging API of core/log.h: levels, and jlog / jlog_ctx /
 * jlog_kv / jlog_pairs, which every thread calls. A call checks the level
 * first, builds its record in the thread's own builder (log_record.c) and
 * pushes it onto the queue (log_queue.c), from which the writer thread
 * (io/log_writer.c) hands it to the sinks. log_setup, log_shutdown and the
 * drop counters are the writer's side, in io/log_writer.c; log_flush and
 * log_reopen are the queue's.
 */
#include "core/log.h"

#include <stdatomic.h>
#include <string.h>

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

/* Below the global level, or below the job's own: dropped. */
static bool ctx_enabled(const struct log_ctx *ctx, int level)
{
    return level >= atomic_load_explicit(&g_level, memory_order_relaxed) &&
           (!ctx || level >= ctx->level);
}

/* --- records ----------------------------------------------------------------- */

static void submit(struct log_record *r, int level, const char *event, const struct log_ctx *ctx)
{
    log_record_end(r);
    log_queue_push(r, level, event, ctx);
}

/* Inline in jlog and jlog_ctx, the run path's calls: one call less a record. */
static inline void emit_fmt(const struct log_ctx *ctx, int level, const char *event,
                            const char *fmt, va_list *ap)
{
    struct log_record *r = log_record_get();

    log_record_open(r, level, event, ctx);
    log_record_add_fmt(r, fmt, ap);
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

void jlog_kv(const struct log_ctx *ctx, int level, const char *event, va_list ap)
{
    struct log_record *r;
    va_list aq;

    if (!ctx_enabled(ctx, level))
        return;
    r = log_record_get();
    log_record_open(r, level, event, ctx);
    va_copy(aq, ap);
    for (;;) {
        const char *k = va_arg(aq, const char *);
        const char *v;
        if (!k)
            break;
        v = va_arg(aq, const char *);
        if (!log_record_add(r, k, strnlen(k, LOG_LINE_MAX), v ? v : "",
                            v ? strnlen(v, LOG_VALUE_MAX + 1) : 0))
            break;
    }
    va_end(aq);
    submit(r, level, event, ctx);
}

void jlog_pairs(const struct log_ctx *ctx, int level, const char *event, const char *const *kv,
                size_t n_pairs)
{
    struct log_record *r;

    if (!ctx_enabled(ctx, level))
        return;
    r = log_record_get();
    log_record_open(r, level, event, ctx);
    for (size_t i = 0; i < n_pairs; i++) {
        const char *k = kv[2 * i];
        const char *v = kv[2 * i + 1];
        if (!log_record_add(r, k ? k : "", k ? strnlen(k, LOG_LINE_MAX) : 0, v ? v : "",
                            v ? strnlen(v, LOG_VALUE_MAX + 1) : 0))
            break;
    }
    submit(r, level, event, ctx);
}
