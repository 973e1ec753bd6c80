/*
 * log — records, the queue and the sinks. See log.h for the contract and
 * logfmt.h for the encoding.
 *
 * DESIGN. Every thread that logs (main, dispatcher, workers, plugins through
 * hostapi) is a producer: it checks the level, formats the whole record into
 * its own thread-local builder (no lock held, no malloc once warm), then
 * holds g.mu just long enough to copy the record into a byte ring. One
 * writer thread, started by the first log_setup, is the only consumer: it
 * takes a run of records from the ring, copies the file and stderr lines
 * into one buffer per sink and calls syslog(3) / sd_journal_sendv per
 * record, hands the ring space back (waking producers that wait on g.space),
 * then writes each buffer with one write(2) and wakes log_flush and
 * log_setup waiters on g.done.
 *
 * Who wakes the writer: waking a sleeping thread costs its waker several
 * microseconds (a futex wake and an IPI; ~8 us on a small VM), more than a
 * whole record. So, as glog does, a producer does not wake the writer for an
 * ordinary record: while records flow the writer wakes by itself every
 * TICK_NS and takes what has come. A producer signals g.wake only when the
 * record is a warning or an error, when the queue is a quarter full, or when
 * the writer has gone to sleep for good (no record for DEEP_AFTER_NS: an
 * idle host has an idle writer, with no timer). log_flush, log_setup,
 * log_reopen and log_shutdown always wake it. So a debug/info record reaches
 * the sinks within about TICK_NS; a warning or error at once.
 *
 * The writer alone owns the sinks: rotation, reopening (log_reopen sets
 * g.reopen), the check that the file is still at its path (at most once a
 * second, before a batch is written), daily rotation and the rate-limited
 * warnings about a failing file all run on it, so none of them takes a
 * lock. log_setup (main thread) opens the new file itself, so that it can
 * return the error, passes the new sinks in g.pending and waits on g.done
 * until the writer has swapped them in and closed the old ones: records
 * queued before the swap go to the old sinks, later ones to the new, none
 * to both. Before the first log_setup and after log_shutdown there is no
 * writer: a producer writes its line to stderr itself.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "core/clock.h"
#include "lib/logfmt.h"
#include "lib/numfmt.h"
#include "lib/utf8.h"
#include "lib/util.h"

#define QUEUE_MIN (64u << 10)
#define CHUNK_BYTES (256u << 10)           /* ring bytes the writer takes per round */
#define FIELD_MAX 255                      /* raw journald fields kept per record */
#define CHECK_NS 1000000000LL              /* file still at its path? at most 1/s */
#define TICK_NS (100LL * 1000000)          /* the writer's own wake-up while records flow */
#define DEEP_AFTER_NS 1000000000LL         /* no record this long: sleep until woken */
#define WARN_NS (60LL * 1000000000LL)      /* one warning a minute per file sink */
#define TRUNC_MARK "...[truncated]"
#define TRUNC_PAIR " truncated=true"
#define REC_ALIGN 16

enum { SINK_FILE, SINK_SYSLOG, SINK_STDERR, SINK_JOURNALD, SINK_QUEUE, SINK_COUNT };

static const char *const sink_names[SINK_COUNT] = {"file", "syslog", "stderr", "journald",
                                                   "queue"};
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Any thread increments, metrics read: relaxed atomics, never reset. */
static atomic_uint_fast64_t g_dropped[SINK_COUNT];
/* Written by log_setup (main thread), read by every producer: relaxed. */
static atomic_int g_level = JH_LOG_INFO;

/* One record in the ring: this header, the line ('\n' included), then the
 * raw event, job and run_id (for journald fields), padded to REC_ALIGN. A
 * slot with `wrap` set only fills the ring up to its end. */
struct rec {
    uint32_t size;     /* slot bytes, header included, a multiple of REC_ALIGN */
    uint8_t wrap;      /* 1: padding, no record */
    uint8_t level;
    uint16_t ts_len;   /* bytes of "ts=... " that syslog and journald skip */
    uint32_t line_len; /* bytes of the line, '\n' included */
    uint8_t event_len;
    uint8_t job_len;
    uint8_t run_len;
    uint8_t unused;
};
_Static_assert(sizeof(struct rec) == REC_ALIGN, "ring slots stay aligned");

/* A file sink. Built by log_setup on the main thread; from the moment it is
 * handed over in g.pending, owned by the writer thread alone (no lock). */
struct file_sink {
    char *path;
    char *from, *to;          /* room for path.N while rotating */
    int fd;                   /* -1 while it cannot be opened */
    bool regular;             /* rotation and the moved-away check need a regular file */
    bool midline;             /* the last write stopped inside a line */
    uint64_t max_size;        /* 0: never rotate on size */
    uint64_t size;            /* bytes in the file, as far as we know */
    unsigned keep;
    bool daily;
    time_t next_midnight;     /* local midnight, when daily */
    dev_t dev;                /* of the open file, to notice a move */
    ino_t ino;
    int64_t next_check;       /* mono ns: next stat, retry, midnight or warning check */
    int64_t no_rotate_until;  /* mono ns: after a failed rotation */
    int err;                  /* errno of the last failure, 0 when healthy */
    const char *err_op;       /* "open", "write", "rotate" */
    int64_t last_warn;        /* mono ns of the last warning, 0: never */
    uint64_t unwarned;        /* records dropped since the last warning */
    struct buf out;           /* lines of the current round */
};

/* A set of sinks; what log_setup swaps. Same ownership as file_sink. */
struct sinks {
    bool syslog;
    char *ident;
    int facility;
    bool to_stderr;
    bool journald;
    struct file_sink *file; /* NULL: no file sink */
};

/* The writer thread's own state (its stack; no lock). */
struct writer {
    struct sinks *s;
    bool syslog_open;
    struct buf err_out; /* stderr lines of the current round */
    struct buf jbuf;    /* journald fields of one record */
};

/* The queue and the writer's life. Every field below mu is under mu, but
 * ring and mask: set by log_setup before it starts the writer, freed by
 * log_shutdown after joining it, constant in between (producers touch the
 * ring only under mu; the writer reads its taken run [tail, head) without
 * it, since producers never write there). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* -> writer: records, new sinks, reopen, stop */
    pthread_cond_t space;    /* writer -> producers waiting for room */
    pthread_cond_t done;     /* writer -> log_flush and log_setup */
    bool running;            /* a writer takes records */
    bool stopping;           /* log_shutdown asked the writer to finish */
    bool writer_idle;        /* the writer waits on wake and nobody has
                                signalled it yet */
    bool writer_deep;        /* ... and it waits without a timeout: any
                                record must signal */
    bool reopen;             /* log_reopen -> writer; taken with the queue
                                snapshot, so records logged after log_reopen
                                returns go to the reopened file */
    unsigned space_waiters;
    unsigned done_waiters;
    char *ring;
    uint64_t mask;           /* ring bytes - 1 (a power of two) */
    uint64_t head;           /* producers write here (a byte count, never wraps) */
    uint64_t tail;           /* the writer has taken everything before it */
    uint64_t written;        /* everything before it has reached the sinks */
    struct sinks *pending;   /* log_setup -> writer */
    uint64_t gen_asked;      /* log_setup calls */
    uint64_t gen_done;       /* of them, swapped in by the writer */
    pthread_t thread;        /* main thread only */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_builder_key; /* frees a thread's builder when it exits */

/* --- levels ---------------------------------------------------------------- */

static int clamp_level(int level)
{
    if (level < JH_LOG_DEBUG)
        return JH_LOG_DEBUG;
    if (level > JH_LOG_ERROR)
        return JH_LOG_ERROR;
    return level;
}

const char *log_level_name(int level)
{
    return level_names[clamp_level(level)];
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

static int syslog_severity(int level)
{
    static const int sev[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    return sev[clamp_level(level)];
}

uint64_t log_dropped(const char *sink)
{
    for (int i = 0; sink && i < SINK_COUNT; i++)
        if (strcmp(sink, sink_names[i]) == 0)
            return atomic_load_explicit(&g_dropped[i], memory_order_relaxed);
    return 0;
}

const char *log_sink_name(unsigned i)
{
    return i < SINK_COUNT ? sink_names[i] : NULL;
}

static void count_drops(int sink, uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(&g_dropped[sink], n, memory_order_relaxed);
}

/* --- building a record (the caller's thread) ----------------------------- */

/* A thread's scratch space; reused for every record it writes. */
struct builder {
    struct buf line; /* the record */
    struct buf val;  /* one value being formatted */
    struct buf cut;  /* a value cut to LOG_VALUE_MAX */
    size_t ts_len;
    bool full;       /* LOG_LINE_MAX reached: no more pairs */
    int64_t ts_sec;  /* the second ts holds; only the milliseconds change */
    char ts[LOGFMT_TS_LEN + 1];
};

static __thread struct builder *tls_builder;

static void builder_free(void *p)
{
    struct builder *bd = p;

    buf_free(&bd->line);
    buf_free(&bd->val);
    buf_free(&bd->cut);
    free(bd);
}

static void init_once(void)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.wake, &ca);
    pthread_cond_init(&g.space, &ca);
    pthread_cond_init(&g.done, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_key_create(&g_builder_key, builder_free) != 0)
        abort();
}

static struct builder *get_builder(void)
{
    if (!tls_builder) {
        pthread_once(&g_once, init_once);
        tls_builder = xcalloc(1, sizeof(*tls_builder));
        tls_builder->ts_sec = INT64_MIN;
        pthread_setspecific(g_builder_key, tls_builder);
    }
    return tls_builder;
}

/* Appends " key=value"; false (and `truncated=true` instead) when the pair
 * would take the line past LOG_LINE_MAX. */
static bool rec_add(struct builder *bd, const char *key, size_t klen, const char *v, size_t vlen)
{
    struct buf *b = &bd->line;
    size_t mark = b->len;

    if (bd->full)
        return false;
    if (vlen > LOG_VALUE_MAX) {
        size_t n = utf8_cut(v, vlen, LOG_VALUE_MAX);
        buf_reset(&bd->cut);
        buf_append(&bd->cut, v, n);
        buf_append(&bd->cut, TRUNC_MARK, sizeof(TRUNC_MARK) - 1);
        v = bd->cut.data;
        vlen = bd->cut.len;
    }
    logfmt_pair_n(b, key, klen, v, vlen);
    if (b->len > LOG_LINE_MAX - (sizeof(TRUNC_PAIR) - 1)) {
        b->len = mark;
        buf_append(b, TRUNC_PAIR, sizeof(TRUNC_PAIR) - 1);
        bd->full = true;
        return false;
    }
    return true;
}

/* A NULL value is written as "". */
static void rec_add_str(struct builder *bd, const char *key, const char *v)
{
    rec_add(bd, key, strlen(key), v ? v : "", v ? strnlen(v, LOG_VALUE_MAX + 1) : 0);
}

/* The builder's timestamp for now: the date and time are formatted once a
 * second, the milliseconds on every record. */
static const char *builder_ts(struct builder *bd)
{
    int64_t ns = wall_ns();
    int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);

    if (sec != bd->ts_sec) {
        logfmt_ts(bd->ts, ns);
        bd->ts_sec = sec;
    } else {
        unsigned ms = (unsigned)((ns - sec * 1000000000) / 1000000);
        bd->ts[20] = (char)('0' + ms / 100);
        bd->ts[21] = (char)('0' + ms / 10 % 10);
        bd->ts[22] = (char)('0' + ms % 10);
    }
    return bd->ts;
}

/* ts level event [job run_id plugin] */
static void rec_open(struct builder *bd, int level, const char *event, const struct log_ctx *ctx)
{
    struct buf *b = &bd->line;
    const char *name = log_level_name(level);
    size_t nlen = strlen(name);
    char *o;

    bd->full = false;
    b->len = 0;
    buf_reserve(b, 256);
    o = b->data;
    memcpy(o, "ts=", 3);
    memcpy(o + 3, builder_ts(bd), LOGFMT_TS_LEN);
    o += 3 + LOGFMT_TS_LEN;
    *o++ = ' ';
    bd->ts_len = (size_t)(o - b->data);
    memcpy(o, "level=", 6);
    memcpy(o + 6, name, nlen + 1);
    b->len = bd->ts_len + 6 + nlen;
    rec_add_str(bd, "event", event);
    if (!ctx)
        return;
    if (ctx->job && *ctx->job)
        rec_add_str(bd, "job", ctx->job);
    if (ctx->run_id && *ctx->run_id)
        rec_add_str(bd, "run_id", ctx->run_id);
    if (ctx->plugin && *ctx->plugin)
        rec_add_str(bd, "plugin", ctx->plugin);
}

static int write_all(int fd, const char *p, size_t n, size_t *done)
{
    size_t off = 0;
    int rc = 0;

    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (done)
        *done = off;
    return rc;
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t lines = 0;
    const char *end = p + n;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        lines++;
        p = nl + 1;
    }
    return lines;
}

/* No writer: the caller writes its own line to stderr. */
static void write_direct(const char *line, size_t len)
{
    size_t done;

    if (write_all(STDERR_FILENO, line, len, &done) < 0)
        count_drops(SINK_STDERR, count_lines(line + done, len - done));
}

static size_t field_len(const char *s)
{
    return s ? strnlen(s, FIELD_MAX) : 0;
}

/* Under g.mu: queue bytes past which a producer wakes the writer. */
static uint64_t high_water(void)
{
    return (g.mask + 1) / 4;
}

/* Ends the record and queues it (or writes it to stderr when there is no
 * writer). See log.h for the queue-full policy, DESIGN for the wake-ups. */
static void rec_submit(struct builder *bd, int level, const char *event, const struct log_ctx *ctx)
{
    const char *job = ctx ? ctx->job : NULL;
    const char *run = ctx ? ctx->run_id : NULL;
    size_t ev_len = field_len(event), job_len = field_len(job), run_len = field_len(run);
    size_t line_len, need;
    int64_t deadline = 0;
    struct rec *r;
    char *p;

    buf_putc(&bd->line, '\n');
    line_len = bd->line.len;
    need = (sizeof(struct rec) + line_len + ev_len + job_len + run_len + REC_ALIGN - 1) &
           ~(size_t)(REC_ALIGN - 1);

    pthread_mutex_lock(&g.mu);
    for (;;) {
        uint64_t pos, to_end, pad;

        if (!g.running) {
            pthread_mutex_unlock(&g.mu);
            write_direct(bd->line.data, line_len);
            return;
        }
        pos = g.head & g.mask;
        to_end = g.mask + 1 - pos;
        pad = to_end < need ? to_end : 0;
        if (g.head + pad + need - g.tail <= g.mask + 1) {
            if (pad) {
                r = (struct rec *)(g.ring + pos);
                r->size = (uint32_t)pad;
                r->wrap = 1;
                g.head += pad;
            }
            break;
        }
        /* Full: wait for the writer, LOG_QUEUE_WAIT_NS at most in all. */
        if (g.writer_idle) {
            g.writer_idle = false;
            pthread_cond_signal(&g.wake);
        }
        if (!deadline) {
            deadline = mono_ns() + LOG_QUEUE_WAIT_NS;
        } else if (mono_ns() >= deadline) {
            pthread_mutex_unlock(&g.mu);
            count_drops(SINK_QUEUE, 1);
            return;
        }
        struct timespec ts = {.tv_sec = deadline / 1000000000,
                              .tv_nsec = deadline % 1000000000};
        g.space_waiters++;
        pthread_cond_timedwait(&g.space, &g.mu, &ts);
        g.space_waiters--;
    }
    r = (struct rec *)(g.ring + (g.head & g.mask));
    r->size = (uint32_t)need;
    r->wrap = 0;
    r->level = (uint8_t)clamp_level(level);
    r->ts_len = (uint16_t)bd->ts_len;
    r->line_len = (uint32_t)line_len;
    r->event_len = (uint8_t)ev_len;
    r->job_len = (uint8_t)job_len;
    r->run_len = (uint8_t)run_len;
    p = (char *)(r + 1);
    memcpy(p, bd->line.data, line_len);
    p += line_len;
    if (ev_len)
        memcpy(p, event, ev_len);
    p += ev_len;
    if (job_len)
        memcpy(p, job, job_len);
    p += job_len;
    if (run_len)
        memcpy(p, run, run_len);
    g.head += need;
    if (g.writer_idle &&
        (g.writer_deep || level >= JH_LOG_WARN || g.head - g.tail >= high_water())) {
        g.writer_idle = false;
        pthread_cond_signal(&g.wake);
    }
    pthread_mutex_unlock(&g.mu);
}

/* --- the jlog format walker ------------------------------------------------- */

enum lenmod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_Z, LM_J, LM_T, LM_BIGL };

/* Appends v with a '-' when neg. */
static void put_decimal(struct buf *b, unsigned long long v, bool neg)
{
    char t[NUMFMT_MAX], *o = t;

    if (neg)
        *o++ = '-';
    o = numfmt_u64(o, v);
    buf_append(b, t, (size_t)(o - t));
}

/* "%.<prec>f" without snprintf when numfmt can; false otherwise. */
static bool put_fixed(struct buf *b, double v, int prec)
{
    char t[NUMFMT_MAX], *o = numfmt_fixed(t, v, prec);

    if (!o)
        return false;
    buf_append(b, t, (size_t)(o - t));
    return true;
}

/* Reads a width or precision: digits, or '*' from the arguments. Returns -1
 * when absent (or a negative '*' precision); clamped to 4096. */
static int read_number(const char **pp, va_list *ap, bool *negative)
{
    const char *p = *pp;
    long v = -1;

    *negative = false;
    if (*p == '*') {
        int a = va_arg(*ap, int);
        p++;
        if (a < 0) {
            *negative = true;
            v = a < -4096 ? 4096 : -(long)a;
        } else {
            v = a;
        }
    } else if (*p >= '0' && *p <= '9') {
        v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v < 4096)
                v = v * 10 + (*p - '0');
            p++;
        }
    }
    *pp = p;
    return v > 4096 ? 4096 : (int)v;
}

/* Appends v (0..4096) to spec at n; returns the new n. */
static size_t put_spec_number(char *spec, size_t n, int v)
{
    char t[8];
    size_t k = 0;

    do {
        t[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        spec[n++] = t[--k];
    return n;
}

/* Formats one conversion (*pp just past its '%') into `val`, pulling its
 * arguments from `ap`. Integers are widened to (unsigned) long long after
 * the narrowing their length modifier asks for, so one snprintf call per
 * type does. False on a conversion it does not know: the arguments after it
 * cannot be found, so the caller stops there. */
static bool fmt_conv(struct buf *val, const char **pp, va_list *ap)
{
    const char *p = *pp;
    char spec[48];
    size_t n = 0;
    bool plain = true, only_prec, neg;
    enum lenmod lm = LM_NONE;
    int width, prec = -1;
    char conv;

    spec[n++] = '%';
    while (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '0' || *p == '\'') {
        if (n < 12)
            spec[n++] = *p;
        p++;
        plain = false;
    }
    only_prec = plain;
    width = read_number(&p, ap, &neg);
    if (width >= 0) {
        plain = only_prec = false;
        if (neg)
            spec[n++] = '-';
        n = put_spec_number(spec, n, width);
    }
    if (*p == '.') {
        p++;
        prec = read_number(&p, ap, &neg);
        plain = false;
        if (neg)
            prec = -1; /* a negative '*' precision is no precision */
        else if (prec < 0)
            prec = 0; /* "%.f" */
        if (prec >= 0) {
            spec[n++] = '.';
            n = put_spec_number(spec, n, prec);
        }
    }
    switch (*p) {
    case 'h':
        lm = p[1] == 'h' ? LM_HH : LM_H;
        break;
    case 'l':
        lm = p[1] == 'l' ? LM_LL : LM_L;
        break;
    case 'z':
        lm = LM_Z;
        break;
    case 'j':
        lm = LM_J;
        break;
    case 't':
        lm = LM_T;
        break;
    case 'L':
        lm = LM_BIGL;
        break;
    default:
        break;
    }
    p += (lm == LM_HH || lm == LM_LL) ? 2 : lm != LM_NONE ? 1 : 0;
    conv = *p;
    if (!conv)
        return false;
    p++;

    switch (conv) {
    case 'd':
    case 'i': {
        long long v;
        switch (lm) {
        case LM_L:
            v = va_arg(*ap, long);
            break;
        case LM_LL:
            v = va_arg(*ap, long long);
            break;
        case LM_Z:
            v = va_arg(*ap, ssize_t);
            break;
        case LM_J:
            v = va_arg(*ap, intmax_t);
            break;
        case LM_T:
            v = va_arg(*ap, ptrdiff_t);
            break;
        case LM_HH:
            v = (signed char)va_arg(*ap, int);
            break;
        case LM_H:
            v = (short)va_arg(*ap, int);
            break;
        default:
            v = va_arg(*ap, int);
            break;
        }
        if (plain) {
            put_decimal(val, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, v < 0);
        } else {
            memcpy(spec + n, "lld", 4);
            buf_printf(val, spec, v);
        }
        break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        unsigned long long v;
        switch (lm) {
        case LM_L:
            v = va_arg(*ap, unsigned long);
            break;
        case LM_LL:
            v = va_arg(*ap, unsigned long long);
            break;
        case LM_Z:
            v = va_arg(*ap, size_t);
            break;
        case LM_J:
            v = va_arg(*ap, uintmax_t);
            break;
        case LM_T:
            v = (unsigned long long)va_arg(*ap, ptrdiff_t);
            break;
        case LM_HH:
            v = (unsigned char)va_arg(*ap, unsigned);
            break;
        case LM_H:
            v = (unsigned short)va_arg(*ap, unsigned);
            break;
        default:
            v = va_arg(*ap, unsigned);
            break;
        }
        if (plain && conv == 'u') {
            put_decimal(val, v, false);
        } else {
            spec[n] = 'l';
            spec[n + 1] = 'l';
            spec[n + 2] = conv;
            spec[n + 3] = '\0';
            buf_printf(val, spec, v);
        }
        break;
    }
    case 'c': {
        int c = va_arg(*ap, int);
        if (plain) {
            buf_putc(val, (char)c);
        } else {
            memcpy(spec + n, "c", 2);
            buf_printf(val, spec, c);
        }
        break;
    }
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (lm == LM_L) {
            buf_puts(val, "?"); /* wide strings: not in a log record */
        } else if (plain) {
            if (s)
                buf_append(val, s, strnlen(s, LOG_VALUE_MAX + 1));
        } else {
            memcpy(spec + n, "s", 2);
            buf_printf(val, spec, s ? s : "");
        }
        break;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (lm == LM_BIGL) {
            long double v = va_arg(*ap, long double);
            spec[n] = 'L';
            spec[n + 1] = conv;
            spec[n + 2] = '\0';
            buf_printf(val, spec, v);
        } else {
            double v = va_arg(*ap, double);
            if (conv == 'f' && only_prec && prec >= 0 && put_fixed(val, v, prec))
                break;
            spec[n] = conv;
            spec[n + 1] = '\0';
            buf_printf(val, spec, v);
        }
        break;
    case 'p': {
        void *v = va_arg(*ap, void *);
        memcpy(spec + n, "p", 2);
        buf_printf(val, spec, v);
        break;
    }
    case 'n':
        (void)va_arg(*ap, void *); /* writes nothing back */
        break;
    default:
        return false;
    }
    *pp = p;
    return true;
}

/* Walks "key=<value> key2=<value>": a value is text and conversions up to the
 * next space (a ' ' flag inside a conversion does not end it). */
static void add_fmt_pairs(struct builder *bd, const char *fmt, va_list *ap)
{
    const char *p = fmt;

    if (!fmt)
        return;
    while (*p) {
        const char *key, *tok;
        size_t klen;
        bool ok = true;

        while (*p == ' ')
            p++;
        if (!*p)
            break;
        tok = key = p;
        while (*p && *p != '=' && *p != ' ' && *p != '%')
            p++;
        if (*p == '=') {
            klen = (size_t)(p - key);
            p++;
        } else {
            key = "msg";
            klen = 3;
            p = tok;
        }
        buf_reset(&bd->val);
        while (*p && *p != ' ') {
            if (*p != '%') {
                const char *s = p;
                while (*p && *p != ' ' && *p != '%')
                    p++;
                buf_append(&bd->val, s, (size_t)(p - s));
            } else if (p[1] == '%') {
                buf_putc(&bd->val, '%');
                p += 2;
            } else {
                p++;
                ok = fmt_conv(&bd->val, &p, ap);
                if (!ok)
                    break;
            }
        }
        if (!rec_add(bd, key, klen, bd->val.data ? bd->val.data : "", bd->val.len) || !ok)
            return;
    }
}

/* Below the global level, or below the job's own: dropped. */
static bool ctx_enabled(const struct log_ctx *ctx, int level)
{
    return level >= atomic_load_explicit(&g_level, memory_order_relaxed) &&
           (!ctx || level >= ctx->level);
}

static void emit_fmt(const struct log_ctx *ctx, int level, const char *event, const char *fmt,
                     va_list *ap)
{
    struct builder *bd = get_builder();

    rec_open(bd, level, event, ctx);
    add_fmt_pairs(bd, fmt, ap);
    rec_submit(bd, level, event, ctx);
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
    struct builder *bd;
    va_list aq;

    if (!ctx_enabled(ctx, level))
        return;
    bd = get_builder();
    rec_open(bd, level, event, ctx);
    va_copy(aq, ap);
    for (;;) {
        const char *k = va_arg(aq, const char *);
        const char *v;
        if (!k)
            break;
        v = va_arg(aq, const char *);
        if (!rec_add(bd, k, strnlen(k, LOG_LINE_MAX), v ? v : "",
                     v ? strnlen(v, LOG_VALUE_MAX + 1) : 0))
            break;
    }
    va_end(aq);
    rec_submit(bd, level, event, ctx);
}

void jlog_pairs(const struct log_ctx *ctx, int level, const char *event, const char *const *kv,
                size_t n_pairs)
{
    struct builder *bd;

    if (!ctx_enabled(ctx, level))
        return;
    bd = get_builder();
    rec_open(bd, level, event, ctx);
    for (size_t i = 0; i < n_pairs; i++) {
        const char *k = kv[2 * i];
        const char *v = kv[2 * i + 1];
        if (!rec_add(bd, k ? k : "", k ? strnlen(k, LOG_LINE_MAX) : 0, v ? v : "",
                     v ? strnlen(v, LOG_VALUE_MAX + 1) : 0))
            break;
    }
    rec_submit(bd, level, event, ctx);
}

/* --- the file sink (writer thread, but file_open also in log_setup) ------- */

static struct file_sink *file_sink_new(const struct log_config *cfg)
{
    struct file_sink *f = xcalloc(1, sizeof(*f));
    size_t n = strlen(cfg->file_path) + 16;

    f->path = xstrdup(cfg->file_path);
    f->from = xmalloc(n);
    f->to = xmalloc(n);
    f->fd = -1;
    f->max_size = cfg->file_max_size;
    f->keep = cfg->file_keep;
    f->daily = cfg->file_daily;
    return f;
}

static void file_sink_free(struct file_sink *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    buf_free(&f->out);
    free(f->path);
    free(f->from);
    free(f->to);
    free(f);
}

/* Creates the last directory of the path when it is missing. */
static void make_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    if (!slash || slash == path)
        return;
    dir = xstrndup(path, (size_t)(slash - path));
    (void)mkdir(dir, 0750);
    free(dir);
}

/* Opens the path for appending; 0 or -errno. O_NONBLOCK only for the open
 * itself, so a FIFO without a reader fails (ENXIO) instead of hanging. */
static int file_open(struct file_sink *f)
{
    const int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    struct stat st;
    int fd = open(f->path, flags, 0640);

    if (fd < 0 && errno == ENOENT) {
        make_parent(f->path);
        fd = open(f->path, flags, 0640);
    }
    if (fd < 0)
        return -errno;
    if (fcntl(fd, F_SETFL, O_APPEND) < 0 || fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    f->fd = fd;
    f->regular = S_ISREG(st.st_mode);
    f->size = f->regular ? (uint64_t)st.st_size : 0;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->midline = false;
    return 0;
}

static void file_close(struct file_sink *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

static void writer_warn_file(struct writer *w, struct file_sink *f);

/* Counts `lost` records against the file sink and warns, at most once a
 * minute, on the other sinks. */
static void file_fail(struct writer *w, struct file_sink *f, const char *op, int err, uint64_t lost)
{
    count_drops(SINK_FILE, lost);
    f->unwarned += lost;
    f->err = err;
    f->err_op = op;
    writer_warn_file(w, f);
}

/* Writes the round's lines with one write(2) (more only on short writes). */
static void file_flush(struct writer *w, struct file_sink *f)
{
    size_t done = 0;
    int rc;

    if (f->out.len == 0)
        return;
    if (f->fd < 0) {
        file_fail(w, f, f->err_op ? f->err_op : "open", f->err, count_lines(f->out.data, f->out.len));
        buf_reset(&f->out);
        return;
    }
    if (f->midline && write_all(f->fd, "\n", 1, NULL) == 0)
        f->midline = false;
    rc = write_all(f->fd, f->out.data, f->out.len, &done);
    f->size += done;
    if (rc < 0) {
        f->midline = done > 0 && f->out.data[done - 1] != '\n';
        file_fail(w, f, "write", -rc, count_lines(f->out.data + done, f->out.len - done));
    } else if (f->err) {
        f->err = 0; /* healthy again; drops not yet warned about still will be */
    }
    buf_reset(&f->out);
}

static void file_reopen(struct writer *w, struct file_sink *f)
{
    int rc;

    file_flush(w, f);
    file_close(f);
    rc = file_open(f);
    if (rc < 0)
        file_fail(w, f, "open", -rc, 0);
    else
        f->err = 0;
}

static time_t next_local_midnight(time_t now)
{
    struct tm tm;

    localtime_r(&now, &tm);
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_mday += 1;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

/* path.(keep-1) -> path.keep ... path -> path.1, then a new path; with keep 0
 * the file is emptied in place. Regular files only: never /dev/anything. */
static void file_rotate(struct writer *w, struct file_sink *f)
{
    int rc = 0;

    file_flush(w, f);
    if (!f->regular || f->fd < 0)
        return;
    if (f->keep == 0) {
        if (ftruncate(f->fd, 0) == 0)
            f->size = 0;
        else
            rc = -errno;
        goto out;
    }
    for (unsigned i = f->keep - 1; i >= 1; i--) {
        snprintf(f->from, strlen(f->path) + 16, "%s.%u", f->path, i);
        snprintf(f->to, strlen(f->path) + 16, "%s.%u", f->path, i + 1);
        if (rename(f->from, f->to) < 0 && errno != ENOENT) {
            rc = -errno;
            goto out;
        }
    }
    snprintf(f->to, strlen(f->path) + 16, "%s.1", f->path);
    if (rename(f->path, f->to) < 0 && errno != ENOENT) {
        rc = -errno;
        goto out;
    }
    file_close(f);
    rc = file_open(f);
    if (rc < 0) {
        file_fail(w, f, "open", -rc, 0);
        rc = 0; /* already reported */
    }
out:
    if (rc < 0) {
        /* Go on appending; try again in a second, not on every record. */
        f->no_rotate_until = mono_ns() + CHECK_NS;
        file_fail(w, f, "rotate", -rc, 0);
    }
}

/* Queues one line for the file, rotating first when it would pass max_size. */
static void file_add(struct writer *w, struct file_sink *f, const char *line, size_t len)
{
    if (f->fd >= 0 && f->regular && f->max_size && f->size + f->out.len + len > f->max_size &&
        f->size + f->out.len > 0 && mono_ns() >= f->no_rotate_until)
        file_rotate(w, f);
    if (f->fd < 0) {
        count_drops(SINK_FILE, 1);
        f->unwarned++;
        return;
    }
    buf_append(&f->out, line, len);
}

/* Before a batch, at most once a second (and on log_reopen): reopen when the
 * path no longer names our file (moved away, deleted), retry a file that
 * could not be opened, pick up the size after a copytruncate, rotate at
 * midnight, repeat a warning. An idle writer checks nothing: with no record
 * to write, a moved file does not matter yet. */
static void file_periodic(struct writer *w, struct file_sink *f, bool reopen)
{
    int64_t now = mono_ns();
    struct stat st;

    if (!reopen && now < f->next_check)
        return;
    f->next_check = now + CHECK_NS;
    if (reopen || f->fd < 0) {
        file_reopen(w, f);
    } else if (f->regular) {
        if (stat(f->path, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino)
            file_reopen(w, f);
        else
            f->size = (uint64_t)st.st_size;
    }
    if (f->daily) {
        time_t t = time(NULL);
        if (f->next_midnight == 0) {
            f->next_midnight = next_local_midnight(t);
        } else if (t >= f->next_midnight) {
            if (f->size > 0)
                file_rotate(w, f);
            f->next_midnight = next_local_midnight(t);
        }
    }
    if (f->unwarned)
        writer_warn_file(w, f);
}

/* --- the writer thread ---------------------------------------------------- */

static void sinks_free(struct sinks *s)
{
    if (!s)
        return;
    file_sink_free(s->file);
    free(s->ident);
    free(s);
}

static void stderr_flush(struct writer *w)
{
    size_t done;

    if (w->err_out.len == 0)
        return;
    if (write_all(STDERR_FILENO, w->err_out.data, w->err_out.len, &done) < 0)
        count_drops(SINK_STDERR, count_lines(w->err_out.data + done, w->err_out.len - done));
    buf_reset(&w->err_out);
}

#ifdef HAVE_SYSTEMD
/* One record as journal fields; MESSAGE is the line without ts, as for
 * syslog (the journal stamps it). */
static void journal_send(struct writer *w, int level, const char *msg, size_t msg_len,
                         const char *event, size_t ev_len, const char *job, size_t job_len,
                         const char *run, size_t run_len)
{
    struct buf *b = &w->jbuf;
    size_t off[8], len[8];
    struct iovec iov[8];
    int n = 0;

#define FIELD_BEGIN() (off[n] = b->len)
#define FIELD_END() (len[n] = b->len - off[n], n++)
    buf_reset(b);
    FIELD_BEGIN();
    buf_append(b, "MESSAGE=", 8);
    buf_append(b, msg, msg_len);
    FIELD_END();
    FIELD_BEGIN();
    buf_printf(b, "PRIORITY=%d", syslog_severity(level));
    FIELD_END();
    FIELD_BEGIN();
    buf_printf(b, "SYSLOG_FACILITY=%d", w->s->facility >> 3);
    FIELD_END();
    FIELD_BEGIN();
    buf_puts(b, "SYSLOG_IDENTIFIER=");
    buf_puts(b, w->s->ident);
    FIELD_END();
    if (ev_len) {
        FIELD_BEGIN();
        buf_append(b, "JOBHOST_EVENT=", 14);
        buf_append(b, event, ev_len);
        FIELD_END();
    }
    if (job_len) {
        FIELD_BEGIN();
        buf_append(b, "JOBHOST_JOB=", 12);
        buf_append(b, job, job_len);
        FIELD_END();
    }
    if (run_len) {
        FIELD_BEGIN();
        buf_append(b, "JOBHOST_RUN_ID=", 15);
        buf_append(b, run, run_len);
        FIELD_END();
    }
#undef FIELD_BEGIN
#undef FIELD_END
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = b->data + off[i];
        iov[i].iov_len = len[i];
    }
    if (sd_journal_sendv(iov, n) < 0)
        count_drops(SINK_JOURNALD, 1);
}
#endif

/* A record the writer makes itself (about a failing file): straight to the
 * sinks other than the file, or to stderr when there is none. */
static void writer_emit_direct(struct writer *w, struct builder *bd, int level, const char *event)
{
    struct sinks *s = w->s;
    const char *line = bd->line.data;
    size_t len = bd->line.len; /* '\n' included */
    bool any = false;

    if (s && s->syslog) {
        syslog(syslog_severity(level), "%.*s", (int)(len - 1 - bd->ts_len), line + bd->ts_len);
        any = true;
    }
#ifdef HAVE_SYSTEMD
    if (s && s->journald) {
        journal_send(w, level, line + bd->ts_len, len - 1 - bd->ts_len, event, strlen(event),
                     NULL, 0, NULL, 0);
        any = true;
    }
#else
    (void)event;
#endif
    if (!any || (s && s->to_stderr)) {
        stderr_flush(w);
        write_direct(line, len);
    }
}

#ifdef HAVE_SYSTEMD
/* libsystemd's sd_journal_send drops records without a word when journald
 * is not running; say so once, when the sink is set up. */
static void writer_check_journald(struct writer *w)
{
    static const char sock[] = "/run/systemd/journal/socket";
    struct builder *bd;

    if (access(sock, W_OK) == 0)
        return;
    bd = get_builder();
    rec_open(bd, JH_LOG_WARN, "log_sink_error", NULL);
    rec_add_str(bd, "sink", "journald");
    rec_add_str(bd, "path", sock);
    rec_add_str(bd, "op", "open");
    rec_add_str(bd, "error", "journald is not running: records sent to it are lost");
    buf_putc(&bd->line, '\n');
    writer_emit_direct(w, bd, JH_LOG_WARN, "log_sink_error");
}
#endif

static void writer_warn_file(struct writer *w, struct file_sink *f)
{
    int64_t now = mono_ns();
    struct builder *bd;
    char errbuf[128], num[24];

    if (f->last_warn && now - f->last_warn < WARN_NS)
        return;
    f->last_warn = now;
    bd = get_builder();
    rec_open(bd, JH_LOG_WARN, "log_sink_error", NULL);
    rec_add_str(bd, "sink", "file");
    rec_add_str(bd, "path", f->path);
    rec_add_str(bd, "op", f->err_op ? f->err_op : "write");
    rec_add_str(bd, "error", f->err ? strerror_r(f->err, errbuf, sizeof(errbuf)) : "none");
    snprintf(num, sizeof(num), "%llu", (unsigned long long)f->unwarned);
    rec_add(bd, "dropped", 7, num, strlen(num));
    buf_putc(&bd->line, '\n');
    f->unwarned = 0;
    writer_emit_direct(w, bd, JH_LOG_WARN, "log_sink_error");
}

/* Hands one record to every sink; file and stderr lines wait in buffers
 * until writer_flush. */
static void writer_deliver(struct writer *w, const struct rec *r)
{
    struct sinks *s = w->s;
    const char *line = (const char *)(r + 1);

    if (s->file)
        file_add(w, s->file, line, r->line_len);
    if (s->to_stderr)
        buf_append(&w->err_out, line, r->line_len);
    if (s->syslog)
        syslog(syslog_severity(r->level), "%.*s", (int)(r->line_len - 1 - r->ts_len),
               line + r->ts_len);
#ifdef HAVE_SYSTEMD
    if (s->journald) {
        const char *ev = line + r->line_len;
        const char *job = ev + r->event_len;
        const char *run = job + r->job_len;
        journal_send(w, r->level, line + r->ts_len, r->line_len - 1 - r->ts_len, ev,
                     r->event_len, job, r->job_len, run, r->run_len);
    }
#endif
}

static void writer_flush(struct writer *w)
{
    if (w->s && w->s->file)
        file_flush(w, w->s->file);
    stderr_flush(w);
}

/* Takes the records in [t, h) in rounds of about CHUNK_BYTES: deliver,
 * give the space back, write the buffers, tell log_flush. */
static void writer_drain(struct writer *w, uint64_t t, uint64_t h)
{
    while (t != h) {
        uint64_t end = t;

        while (end != h && end - t < CHUNK_BYTES) {
            const struct rec *r = (const struct rec *)(g.ring + (end & g.mask));
            if (!r->wrap)
                writer_deliver(w, r);
            end += r->size;
        }
        pthread_mutex_lock(&g.mu);
        g.tail = end;
        if (g.space_waiters)
            pthread_cond_broadcast(&g.space);
        pthread_mutex_unlock(&g.mu);

        writer_flush(w);

        pthread_mutex_lock(&g.mu);
        g.written = end;
        if (g.done_waiters)
            pthread_cond_broadcast(&g.done);
        pthread_mutex_unlock(&g.mu);
        t = end;
    }
}

/* Swaps in `ns` (NULL: none) and closes the old sinks. */
static void writer_install(struct writer *w, struct sinks *ns)
{
    struct sinks *old = w->s;

    writer_flush(w);
    if (ns && ns->syslog) {
        openlog(ns->ident, LOG_PID | LOG_NDELAY, ns->facility);
        w->syslog_open = true;
    } else if (w->syslog_open) {
        closelog();
        w->syslog_open = false;
    }
    w->s = ns;
    sinks_free(old); /* after openlog: glibc keeps the ident pointer */
    if (ns && ns->file) {
        struct file_sink *f = ns->file;
        f->next_check = mono_ns() + CHECK_NS;
        if (f->daily)
            f->next_midnight = next_local_midnight(time(NULL));
        if (f->fd < 0)
            writer_warn_file(w, f); /* log_setup could not open it */
    }
#ifdef HAVE_SYSTEMD
    if (ns && ns->journald)
        writer_check_journald(w);
#endif
}

/* Under g.mu: something the writer must do now rather than at its tick. */
static bool writer_has_work(void)
{
    return g.pending || g.stopping || g.reopen || g.head - g.tail >= high_water() ||
           (g.done_waiters && g.written < g.head);
}

static void *writer_main(void *arg)
{
    struct writer w = {0};
    struct sinks *first;
    uint64_t gen;
    int64_t last_busy = mono_ns(); /* the last round that found records */

    (void)arg;
    pthread_mutex_lock(&g.mu);
    first = g.pending;
    g.pending = NULL;
    gen = g.gen_asked;
    pthread_mutex_unlock(&g.mu);
    writer_install(&w, first);
    pthread_mutex_lock(&g.mu);
    g.gen_done = gen;
    pthread_cond_broadcast(&g.done);

    for (;;) {
        struct sinks *ns;
        uint64_t t, h;
        bool stop, reopen;

        if (!writer_has_work()) {
            int64_t now = mono_ns();
            g.writer_idle = true;
            g.writer_deep = g.head == g.tail && now - last_busy >= DEEP_AFTER_NS;
            if (g.writer_deep) {
                pthread_cond_wait(&g.wake, &g.mu);
            } else {
                int64_t due = now + TICK_NS;
                struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
                pthread_cond_timedwait(&g.wake, &g.mu, &ts);
            }
            g.writer_deep = false;
        }
        g.writer_idle = false;
        t = g.tail;
        h = g.head;
        ns = g.pending;
        g.pending = NULL;
        gen = g.gen_asked;
        stop = g.stopping;
        reopen = g.reopen;
        g.reopen = false;
        pthread_mutex_unlock(&g.mu);

        /* Before the records: a moved file is noticed before they go to it. */
        if (w.s && w.s->file && (t != h || reopen))
            file_periodic(&w, w.s->file, reopen);
        if (t != h) {
            writer_drain(&w, t, h);
            last_busy = mono_ns();
        }
        if (ns) {
            writer_install(&w, ns);
            pthread_mutex_lock(&g.mu);
            g.gen_done = gen;
            pthread_cond_broadcast(&g.done);
            pthread_mutex_unlock(&g.mu);
        }

        pthread_mutex_lock(&g.mu);
        if (stop && g.head == g.tail)
            break;
    }
    g.written = g.head;
    pthread_cond_broadcast(&g.done);
    pthread_mutex_unlock(&g.mu);

    writer_install(&w, NULL);
    buf_free(&w.err_out);
    buf_free(&w.jbuf);
    return NULL;
}

/* --- setup and shutdown (main thread) ------------------------------------- */

static struct sinks *sinks_new(const struct log_config *cfg)
{
    struct sinks *s = xcalloc(1, sizeof(*s));

    s->syslog = cfg->syslog_enabled;
    s->ident = xstrdup(cfg->ident && *cfg->ident ? cfg->ident : "jobhost");
    /* 0 is LOG_KERN, which a process cannot use: take it as "not set". */
    s->facility = cfg->facility ? cfg->facility : LOG_DAEMON;
    s->to_stderr = cfg->to_stderr;
#ifdef HAVE_SYSTEMD
    s->journald = cfg->journald;
#endif
    if (cfg->file_path && *cfg->file_path)
        s->file = file_sink_new(cfg);
    return s;
}

static uint64_t queue_bytes(size_t asked)
{
    uint64_t size = QUEUE_MIN;

    if (asked == 0)
        asked = LOG_QUEUE_DEFAULT;
    while (size < asked && size < (1ULL << 32))
        size <<= 1;
    return size;
}

int log_setup(const struct log_config *cfg)
{
    struct sinks *ns = sinks_new(cfg);
    uint64_t gen;
    int rc = 0;

    pthread_once(&g_once, init_once);
    if (ns->file) {
        rc = file_open(ns->file);
        if (rc < 0) {
            ns->file->err = -rc;
            ns->file->err_op = "open";
        }
    }
    /* Not clamped: JH_LOG_ERROR + 1 silences every record. */
    atomic_store_explicit(&g_level, cfg->level, memory_order_relaxed);

    pthread_mutex_lock(&g.mu);
    gen = ++g.gen_asked;
    g.pending = ns;
    if (!g.running) {
        uint64_t size = queue_bytes(cfg->queue_size);
        sigset_t all, old;
        int err;

        g.ring = xmalloc(size);
        g.mask = size - 1;
        g.head = g.tail = g.written = 0;
        g.stopping = false;
        /* The writer takes no signals: they go to the main thread, and a
         * write to a FIFO without a reader fails with EPIPE, not SIGPIPE. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        err = pthread_create(&g.thread, NULL, writer_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err) {
            fprintf(stderr, "jobhost: cannot start the log writer thread: %s, aborting\n",
                    strerror(err));
            abort();
        }
        g.running = true;
    } else if (g.writer_idle) {
        g.writer_idle = false;
        pthread_cond_signal(&g.wake);
    }
    g.done_waiters++;
    while (g.gen_done < gen)
        pthread_cond_wait(&g.done, &g.mu);
    g.done_waiters--;
    pthread_mutex_unlock(&g.mu);
    return rc;
}

void log_shutdown(void)
{
    pthread_mutex_lock(&g.mu);
    if (!g.running) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    g.running = false;
    g.stopping = true;
    g.writer_idle = false;
    pthread_cond_signal(&g.wake);
    pthread_cond_broadcast(&g.space);
    pthread_mutex_unlock(&g.mu);

    pthread_join(g.thread, NULL);

    pthread_mutex_lock(&g.mu);
    free(g.ring);
    g.ring = NULL;
    g.mask = 0;
    g.head = g.tail = g.written = 0;
    g.stopping = false;
    pthread_mutex_unlock(&g.mu);
}

void log_flush(void)
{
    uint64_t target;

    pthread_mutex_lock(&g.mu);
    target = g.head;
    g.done_waiters++;
    if (g.written < target && g.writer_idle) {
        g.writer_idle = false;
        pthread_cond_signal(&g.wake);
    }
    while (g.running && g.written < target)
        pthread_cond_wait(&g.done, &g.mu);
    g.done_waiters--;
    pthread_mutex_unlock(&g.mu);
}

void log_reopen(void)
{
    pthread_mutex_lock(&g.mu);
    g.reopen = g.running;
    if (g.running && g.writer_idle) {
        g.writer_idle = false;
        pthread_cond_signal(&g.wake);
    }
    pthread_mutex_unlock(&g.mu);
}
