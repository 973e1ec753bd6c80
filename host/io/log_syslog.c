/*
 * log_syslog — the syslog(3) sink: each record, without its ts (syslog
 * stamps its own), at the severity of its level, under the configured ident
 * and facility. syslog(3) reports no errors, so this sink never counts a
 * drop.
 *
 * Threads: the writer thread alone calls syslog(3) and openlog/closelog.
 */
#include "io/log_sink.h"

#include <stdlib.h>
#include <syslog.h>

#include "lib/util.h"

struct syslog_sink {
    struct log_sink base;
    char *ident; /* glibc keeps the pointer openlog was given */
    int facility;
};

/* The sink whose ident openlog holds, NULL when closed. Writer thread only. */
static const struct syslog_sink *g_opened;

static struct log_sink *syslog_sink_open(const struct log_config *cfg, int *err)
{
    struct syslog_sink *s;

    (void)err; /* openlog cannot fail */
    if (!cfg->syslog_enabled)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->base.ops = &log_syslog_sink;
    s->ident = xstrdup(log_sink_ident(cfg));
    s->facility = log_sink_facility(cfg);
    return &s->base;
}

/* openlog before the old sink is closed: the old ident stays valid until
 * glibc holds the new one. */
static void syslog_attach(struct log_sink *base)
{
    struct syslog_sink *s = (struct syslog_sink *)base;

    openlog(s->ident, LOG_PID | LOG_NDELAY, s->facility);
    g_opened = s;
}

static void syslog_write(struct log_sink *base, const struct log_line *l)
{
    (void)base;
    syslog(log_sink_severity(l->level), "%.*s", (int)(l->len - 1 - l->ts_len),
           log_line_text(l) + l->ts_len);
}

static void syslog_sink_close(struct log_sink *base)
{
    struct syslog_sink *s = (struct syslog_sink *)base;

    if (g_opened == s) { /* not replaced by a newer syslog sink */
        closelog();
        g_opened = NULL;
    }
    free(s->ident);
    free(s);
}

static uint64_t syslog_dropped(void)
{
    return 0;
}

const struct log_sink_ops log_syslog_sink = {
    .name = "syslog",
    .write_io = true,
    .open = syslog_sink_open,
    .attach = syslog_attach,
    .write = syslog_write,
    .emit = syslog_write,
    .close = syslog_sink_close,
    .dropped = syslog_dropped,
};
