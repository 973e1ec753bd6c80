/*
 * log_stderr — the stderr sink (`--log-stderr`, to_stderr): whole records,
 * ts included, one write(2) per round of the writer. A failed write counts
 * its lines as "stderr" drops, in the same counter as the records a
 * process without a writer writes to stderr itself (core/log_queue.c).
 *
 * Threads: the writer thread alone.
 */
#include "io/log_sink.h"

#include <stdlib.h>

#include "lib/util.h"

struct stderr_sink {
    struct log_sink base;
    struct buf out; /* lines of the current round */
};

static struct log_sink *stderr_sink_open(const struct log_config *cfg, int *err)
{
    struct stderr_sink *s;

    (void)err; /* nothing to open */
    if (!cfg->to_stderr)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->base.ops = &log_stderr_sink;
    return &s->base;
}

static void stderr_write(struct log_sink *base, const struct log_line *l)
{
    struct stderr_sink *s = (struct stderr_sink *)base;

    buf_append(&s->out, log_line_text(l), l->len);
}

static void stderr_flush(struct log_sink *base)
{
    struct stderr_sink *s = (struct stderr_sink *)base;

    if (s->out.len == 0)
        return;
    log_stderr_write(s->out.data, s->out.len);
    buf_reset(&s->out);
}

/* After the lines already kept, so that stderr stays in order. */
static void stderr_emit(struct log_sink *base, const struct log_line *l)
{
    stderr_flush(base);
    log_stderr_write(log_line_text(l), l->len);
}

static void stderr_sink_close(struct log_sink *base)
{
    struct stderr_sink *s = (struct stderr_sink *)base;

    buf_free(&s->out);
    free(s);
}

const struct log_sink_ops log_stderr_sink = {
    .name = "stderr",
    .open = stderr_sink_open,
    .write = stderr_write,
    .emit = stderr_emit,
    .flush = stderr_flush,
    .close = stderr_sink_close,
    .dropped = log_stderr_dropped,
};
