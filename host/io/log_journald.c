/*
 * log_journald — the native journald sink (built with libsystemd): each
 * record as journal fields. MESSAGE is the line without ts (the journal
 * stamps it), PRIORITY and SYSLOG_FACILITY/SYSLOG_IDENTIFIER as syslog
 * would give them, and JOBHOST_EVENT, JOBHOST_JOB, JOBHOST_RUN_ID raw, so
 * that `journalctl JOBHOST_JOB=backup` finds a job's records. A failed
 * sd_journal_sendv counts a "journald" drop. Without libsystemd the sink
 * is never opened and its counter stays 0.
 *
 * Threads: the writer thread alone.
 */
#include "io/log_sink.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "lib/numfmt.h"
#include "lib/util.h"

/* Any thread increments (the writer, in practice), metrics read: relaxed,
 * never reset. */
static atomic_uint_fast64_t g_dropped;

static uint64_t journald_dropped(void)
{
    return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}

#ifdef HAVE_SYSTEMD
struct journald_sink {
    struct log_sink base;
    char *ident;
    int facility;
    struct buf fields; /* the fields of one record */
};

static struct log_sink *journald_sink_open(const struct log_config *cfg, int *err)
{
    struct journald_sink *s;

    (void)err; /* nothing to open: sd_journal_sendv connects by itself */
    if (!cfg->journald)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->base.ops = &log_journald_sink;
    s->ident = xstrdup(log_sink_ident(cfg));
    s->facility = log_sink_facility(cfg);
    return &s->base;
}

/* libsystemd's sd_journal_send drops records without a word when journald
 * is not running; say so once, when the sink is set up. */
static void journald_start(struct log_sink *base)
{
    static const char sock[] = "/run/systemd/journal/socket";
    struct log_record *r;

    (void)base;
    if (access(sock, W_OK) == 0)
        return;
    r = log_record_get();
    log_record_open(r, JH_LOG_WARN, "log_sink_error", NULL);
    log_record_add_str(r, "sink", "journald");
    log_record_add_str(r, "path", sock);
    log_record_add_str(r, "op", "open");
    log_record_add_str(r, "error", "journald is not running: records sent to it are lost");
    log_record_end(r);
    log_writer_emit(r, JH_LOG_WARN, "log_sink_error");
}

/* Appends "NAME=value" to b, with its place in iov[*n]'s offsets. */
static void field(struct buf *b, size_t *off, size_t *len, int *n, const char *name,
                  const char *v, size_t vlen)
{
    off[*n] = b->len;
    buf_puts(b, name);
    buf_append(b, v, vlen);
    len[*n] = b->len - off[*n];
    (*n)++;
}

static void journald_write(struct log_sink *base, const struct log_line *l)
{
    struct journald_sink *s = (struct journald_sink *)base;
    struct buf *b = &s->fields;
    size_t off[8], len[8];
    struct iovec iov[8];
    char num[NUMFMT_MAX];
    int n = 0;

    buf_reset(b);
    field(b, off, len, &n, "MESSAGE=", log_line_text(l) + l->ts_len, l->len - 1 - l->ts_len);
    field(b, off, len, &n, "PRIORITY=", num,
          (size_t)(numfmt_i64(num, log_sink_severity(l->level)) - num));
    field(b, off, len, &n, "SYSLOG_FACILITY=", num,
          (size_t)(numfmt_i64(num, s->facility >> 3) - num));
    field(b, off, len, &n, "SYSLOG_IDENTIFIER=", s->ident, strlen(s->ident));
    if (l->event_len)
        field(b, off, len, &n, "JOBHOST_EVENT=", log_line_event(l), l->event_len);
    if (l->job_len)
        field(b, off, len, &n, "JOBHOST_JOB=", log_line_job(l), l->job_len);
    if (l->run_len)
        field(b, off, len, &n, "JOBHOST_RUN_ID=", log_line_run_id(l), l->run_len);
    /* The buffer may have moved while it grew: point into it only now. */
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = b->data + off[i];
        iov[i].iov_len = len[i];
    }
    if (sd_journal_sendv(iov, n) < 0)
        atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
}

static void journald_sink_close(struct log_sink *base)
{
    struct journald_sink *s = (struct journald_sink *)base;

    buf_free(&s->fields);
    free(s->ident);
    free(s);
}
#else
static struct log_sink *journald_sink_open(const struct log_config *cfg, int *err)
{
    (void)cfg; /* built without libsystemd: cfg->journald is ignored */
    (void)err;
    return NULL;
}
#endif

const struct log_sink_ops log_journald_sink = {
    .name = "journald",
    .write_io = true,
    .open = journald_sink_open,
#ifdef HAVE_SYSTEMD
    .start = journald_start,
    .write = journald_write,
    .emit = journald_write,
    .close = journald_sink_close,
#endif
    .dropped = journald_dropped,
};
