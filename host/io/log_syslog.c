/*
 * log_syslog — the syslog(3) sink: each record, without its ts (syslog
 * stamps its own), at the severity of its level, under the configured ident
 * and facility.
 *
 * syslog(3) reports no errors: with no syslog daemon listening on /dev/log
 * (a container, a minimal host) glibc drops every record without a word.
 * So the sink looks for itself: it connects to /dev/log when it starts,
 * and when nobody is there it says so once (not again at each reload) on
 * the other sinks
 * (event=log_sink_error sink=syslog), counts each record it cannot hand
 * over as a drop (jobhost_log_records_dropped_total{sink="syslog"}), and
 * looks again every few seconds; when a daemon appears it says so
 * (event=log_sink_recovered) and delivers again. A daemon that goes away
 * between two looks is not noticed: syslog(3) gives no sign of it.
 *
 * Threads: the writer thread alone calls syslog(3), openlog/closelog and
 * the probe; g_dropped is read by any thread.
 */
#include "io/log_sink.h"

#include <errno.h>
#include <paths.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "core/clock.h"
#include "lib/numfmt.h"
#include "lib/units.h"
#include "lib/util.h"

#define PROBE_NS (5 * NS_PER_SEC) /* between looks while nobody listens */

/* Records lost since the process started. Any thread. */
static atomic_uint_fast64_t g_dropped;

struct syslog_sink {
    struct log_sink base;
    char *ident; /* glibc keeps the pointer openlog was given */
    int facility;
    bool absent;        /* nobody listens on /dev/log */
    int64_t last_probe; /* mono ns */
    uint64_t unwarned;  /* drops since the warning */
};

/* The sink whose ident openlog holds, NULL when closed. Writer thread only. */
static const struct syslog_sink *g_opened;
/* The absence has been said and not taken back: a reload's new sink does
 * not say it again. Writer thread only. */
static bool g_absence_said;

/* 0 when a syslog daemon takes messages on /dev/log, as glibc would reach
 * it (a datagram socket, else a stream one), or -errno. */
static int probe(void)
{
    static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int rc = -ENOENT;

    memcpy(sa.sun_path, _PATH_LOG, sizeof(_PATH_LOG));
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
        close(fd);
        if (rc == 0 || rc == -ENOENT)
            break;
    }
    return rc;
}

static struct log_sink *syslog_sink_open(const struct log_config *cfg, int *err)
{
    struct syslog_sink *s;

    (void)err; /* openlog cannot fail; a missing daemon is found at start */
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

static void say(const struct syslog_sink *s, int level, const char *event, int err,
                uint64_t dropped)
{
    struct log_record *r = log_record_get();
    char errbuf[128], num[NUMFMT_MAX];

    log_record_open(r, level, event, NULL);
    log_record_add_str(r, "sink", "syslog");
    log_record_add_str(r, "path", _PATH_LOG);
    if (err) {
        log_record_add_str(r, "error", strerror_r(err, errbuf, sizeof(errbuf)));
        log_record_add_str(r, "effect", "records are counted as dropped until a syslog daemon "
                                        "listens");
    } else {
        (void)log_record_add(r, "dropped", 7, num, (size_t)(numfmt_u64(num, dropped) - num));
    }
    log_record_end(r);
    log_writer_emit_others(&s->base, r, level, event);
}

static void syslog_start(struct log_sink *base)
{
    struct syslog_sink *s = (struct syslog_sink *)base;
    int rc = probe();

    s->last_probe = mono_ns();
    if (rc < 0) {
        s->absent = true;
        if (!g_absence_said)
            say(s, JH_LOG_WARN, "log_sink_error", -rc, 0);
        g_absence_said = true;
    }
}

static void syslog_tick(struct log_sink *base, bool reopen)
{
    struct syslog_sink *s = (struct syslog_sink *)base;
    int64_t now;

    if (!s->absent)
        return;
    now = mono_ns();
    if (!reopen && now - s->last_probe < PROBE_NS)
        return;
    s->last_probe = now;
    if (probe() < 0)
        return;
    s->absent = false;
    g_absence_said = false;
    say(s, JH_LOG_INFO, "log_sink_recovered", 0, s->unwarned);
    s->unwarned = 0;
}

static void syslog_write(struct log_sink *base, const struct log_line *l)
{
    struct syslog_sink *s = (struct syslog_sink *)base;

    if (s->absent) {
        s->unwarned++;
        atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
        return;
    }
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
    return atomic_load_explicit(&g_dropped, memory_order_relaxed);
}

const struct log_sink_ops log_syslog_sink = {
    .name = "syslog",
    .write_io = true,
    .open = syslog_sink_open,
    .attach = syslog_attach,
    .start = syslog_start,
    .tick = syslog_tick,
    .write = syslog_write,
    .emit = syslog_write,
    .close = syslog_sink_close,
    .dropped = syslog_dropped,
};
