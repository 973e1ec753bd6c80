/*
 * log_writer — the log writer thread, and log_setup / log_shutdown /
 * log_dropped of core/log.h: the side of the log module that owns the
 * sinks (log_sink.h) and does their I/O, so that no thread that logs ever
 * waits on a disk.
 *
 * DESIGN. Every thread that logs (main, dispatcher, workers, plugins through
 * hostapi) is a producer with a ring of its own (core/log_queue.c): it
 * checks the level, then either captures the record as fields
 * (core/log_capture.c: the run path's records and every plugin record) or
 * builds the whole line in its thread-local builder (jlog, jlog_ctx:
 * core/log_record.c), writes the entry at its ring's head and publishes it
 * with one release store: no lock, nothing shared with the other
 * producers. One writer thread, started by the first log_setup, is the
 * only consumer: it takes what every ring holds, in time order, formats
 * each captured record (logfmt, journald's fields and the syslog line all
 * come from that one formatting), hands each record to every sink (the
 * file and stderr sinks keep their lines in one buffer each; syslog(3)
 * and sd_journal_sendv go out per record), gives the ring space back
 * (waking producers that wait for room), then flushes the sinks (one
 * write(2) each; a file rotation happens there, after the space is back)
 * and wakes log_flush and log_setup waiters.
 *
 * Who wakes the writer: waking a sleeping thread costs its waker several
 * microseconds (a futex wake and an IPI; ~8 us on a small VM), more than a
 * whole run's records, so a producer never does it for a record. While
 * records flow the writer wakes by itself every LOG_TICK_NS (10 ms) and
 * takes what has come, warnings and errors included; as a quiet spell
 * lengthens it looks less often (an eighth of the spell, at most 250 ms:
 * LOG_TICK_MAX_NS), so the ticks of a sparse host cost ~40 wake-ups
 * between records rather than 500. A producer signals it
 * only when its ring is a quarter full (the writer does not sleep at all
 * while a ring is an eighth full), or when the writer has gone to sleep for
 * good (no record for LOG_DEEP_AFTER_NS, 5 s: an idle host has an idle
 * writer, with no timer; the first record after such a silence pays for
 * the wake-up). log_flush, log_setup, log_reopen and log_shutdown always
 * wake it. So a record reaches the sinks within about 10 ms while records
 * flow, and within an eighth of the silence before it (250 ms at most)
 * after a quiet spell. The rules are
 * kept in core/log_queue.c, beside the state they read.
 *
 * The writer alone owns the sinks: rotation, reopening (log_reopen), the
 * check that the file is still at its path (at most once a second, before a
 * batch is written), daily rotation and the rate-limited warnings about a
 * failing file all run on it, so none of them takes a lock. log_setup (main
 * thread) opens the new sinks itself, so that it can return the error,
 * passes them to the writer through the queue and waits until the writer has
 * swapped them in and closed the old ones: records queued before the swap
 * go to the old sinks, later ones to the new, none to both. Before the first
 * log_setup and after log_shutdown there is no writer: a producer writes its
 * line to stderr itself.
 */
#include "io/log_sink.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "core/clock.h"
#include "core/log_capture.h"
#include "lib/util.h"

#define CHUNK_BYTES (256u << 10) /* bytes of lines the sinks get between flushes */
/* The writer's stack: its frames are small (a line is formatted into the
 * sink's buffer, not on the stack), and the default 8 MiB would count
 * against limits.address_space in every isolation worker. */
#define WRITER_STACK (512u << 10)
#define RELEASE_BYTES (32u << 10) /* ... and between two gives of ring space back */
#define RELEASE_NS 100000         /* ... or this long, whichever comes first: a
                                     producer waiting for room (LOG_QUEUE_WAIT_NS)
                                     never waits for a whole chunk of syslog(3) */

/* Every kind of sink, in the order each record reaches them (the file
 * first: a warning its rotation raises reaches the other sinks before the
 * record that caused it) and log_sink_name lists them. */
static const struct log_sink_ops *const kinds[] = {
    &log_file_sink,
    &log_syslog_sink,
    &log_stderr_sink,
    &log_journald_sink,
};

#define KINDS ARRAY_SIZE(kinds)

/* What log_setup builds and the writer swaps in: the sinks cfg asks for,
 * in the order of kinds[]. */
struct log_sinks {
    struct log_sink *sink[KINDS];
    size_t n;
};

/* The set in use. Writer thread only (log_writer_emit runs there too). */
static struct log_sinks *g_in_use;
/* The writer thread, while one runs. Main thread only (log_setup,
 * log_shutdown). */
static pthread_t g_thread;

/* --- delivery (writer thread) ----------------------------------------------- */

void log_writer_emit(const struct log_record *r, int level, const char *event)
{
    size_t ev_len = strnlen(event, LOG_FIELD_MAX);
    struct log_line l;
    bool any = false;

    log_line_view(&l, r, level, event, ev_len, NULL, 0, NULL, 0);
    for (size_t i = 0; g_in_use && i < g_in_use->n; i++) {
        struct log_sink *s = g_in_use->sink[i];
        if (s->ops->emit) {
            s->ops->emit(s, &l);
            any = true;
        }
    }
    if (!any)
        log_stderr_write(log_line_text(&l), l.len);
}

void log_writer_emit_others(const struct log_sink *from, const struct log_record *r, int level,
                            const char *event)
{
    size_t ev_len = strnlen(event, LOG_FIELD_MAX);
    struct log_line l;
    bool any = false;

    log_line_view(&l, r, level, event, ev_len, NULL, 0, NULL, 0);
    for (size_t i = 0; g_in_use && i < g_in_use->n; i++) {
        struct log_sink *s = g_in_use->sink[i];
        if (s == from)
            continue;
        if (s->ops->emit) {
            s->ops->emit(s, &l);
        } else {
            s->ops->write(s, &l);
            if (s->ops->flush)
                s->ops->flush(s);
        }
        any = true;
    }
    if (!any)
        log_stderr_write(log_line_text(&l), l.len);
}

static void sinks_flush(struct log_sinks *set)
{
    log_queue_sink_enter();
    for (size_t i = 0; set && i < set->n; i++)
        if (set->sink[i]->ops->flush)
            set->sink[i]->ops->flush(set->sink[i]);
    log_queue_sink_leave();
}

/* A sink of the set does I/O in `write`. */
static bool sinks_write_io(const struct log_sinks *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (set->sink[i]->ops->write_io)
            return true;
    return false;
}

/* A sink has work of its own to finish (the deletion of a rotated file):
 * the writer keeps ticking for it. */
static bool sinks_pending(const struct log_sinks *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (set->sink[i]->ops->pending && set->sink[i]->ops->pending(set->sink[i]))
            return true;
    return false;
}

static void sinks_tick(struct log_sinks *set, bool reopen)
{
    log_queue_sink_enter();
    for (size_t i = 0; set && i < set->n; i++)
        if (set->sink[i]->ops->tick)
            set->sink[i]->ops->tick(set->sink[i], reopen);
    log_queue_sink_leave();
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Hands entry `e` to every sink of `set`; returns the line's bytes. With
 * `io`, the sinks' writes count as time in a sink. */
static size_t deliver(struct log_sinks *set, const struct log_entry *e, bool io)
{
    struct log_line l;

    log_entry_line(e, log_record_get(), &l);
    if (io)
        log_queue_sink_enter();
    for (size_t i = 0; set && i < set->n; i++)
        set->sink[i]->ops->write(set->sink[i], &l);
    if (io)
        log_queue_sink_leave();
    return l.len;
}

/* Takes the records of `tk` in rounds of about CHUNK_BYTES of lines:
 * deliver, give the ring space back, flush the sinks. The space goes back
 * more often than that: the sinks hold copies of what they were given. */
static void drain(struct log_take *tk)
{
    struct log_sinks *set = g_in_use; /* only install() changes it, never meanwhile */
    const struct log_entry *e;
    uint64_t records = 0;
    size_t bytes = 0, unreleased = 0;
    int64_t released = mono_ns();
    uint64_t cpu0 = thread_cpu_ns();
    bool io = sinks_write_io(set);

    while ((e = log_queue_next(tk))) {
        size_t n = deliver(set, e, io);
        bytes += n;
        unreleased += n;
        records++;
        if (bytes >= CHUNK_BYTES) {
            log_queue_release(tk);
            sinks_flush(set);
            bytes = unreleased = 0;
            released = mono_ns();
        } else if ((records & 15) == 0 &&
                   (unreleased >= RELEASE_BYTES || mono_ns() - released >= RELEASE_NS)) {
            log_queue_release(tk);
            unreleased = 0;
            released = mono_ns();
        }
    }
    log_queue_release(tk);
    sinks_flush(set);
    log_queue_count(records, thread_cpu_ns() - cpu0);
}

/* The records producers published as the writer ended (see
 * log_queue_finished): delivered and flushed, no release needed. */
static void last_round(struct log_take *tk)
{
    const struct log_entry *e;

    while ((e = log_queue_next(tk)))
        (void)deliver(g_in_use, e, false);
    sinks_flush(g_in_use);
}

/* Swaps in `ns` (NULL: none) and closes the old sinks. */
static void install(struct log_sinks *ns)
{
    struct log_sinks *old = g_in_use;

    sinks_flush(old);
    for (size_t i = 0; ns && i < ns->n; i++)
        if (ns->sink[i]->ops->attach)
            ns->sink[i]->ops->attach(ns->sink[i]);
    g_in_use = ns;
    for (size_t i = 0; old && i < old->n; i++)
        old->sink[i]->ops->close(old->sink[i]);
    free(old);
    for (size_t i = 0; ns && i < ns->n; i++)
        if (ns->sink[i]->ops->start)
            ns->sink[i]->ops->start(ns->sink[i]);
}

static void *writer_main(void *arg)
{
    struct log_take t = {0};
    int64_t last_busy = mono_ns(); /* the last round that found records */

    (void)arg;
    pthread_setname_np(pthread_self(), "jh-log"); /* as top -H and perf show it */
    log_queue_writer_started();
    log_queue_take_first(&t);
    install(t.sinks);
    log_queue_installed(t.gen);
    for (;;) {
        log_queue_take(&t, last_busy);
        /* Before the records: a moved file is noticed before they go to it. */
        if (t.n || t.reopen || sinks_pending(g_in_use))
            sinks_tick(g_in_use, t.reopen);
        if (t.n) {
            drain(&t);
            last_busy = mono_ns();
        } else if (sinks_pending(g_in_use)) {
            last_busy = mono_ns(); /* tick until the sinks are done */
        }
        if (t.sinks) {
            install(t.sinks);
            log_queue_installed(t.gen);
        }
        log_queue_written(&t);
        if (log_queue_finished(t.stop, last_round))
            break;
    }
    install(NULL);
    log_take_free(&t);
    return NULL;
}

/* --- setup and shutdown (main thread) ----------------------------------------- */

/* Opens every sink `cfg` asks for; *rc gets the -errno of the first that
 * failed (it is still in the set: the writer retries it). */
static struct log_sinks *sinks_open(const struct log_config *cfg, int *rc)
{
    struct log_sinks *set = xcalloc(1, sizeof(*set));

    for (size_t i = 0; i < KINDS; i++) {
        int err = 0;
        struct log_sink *s = kinds[i]->open(cfg, &err);
        if (err < 0 && *rc == 0)
            *rc = err;
        if (s)
            set->sink[set->n++] = s;
    }
    return set;
}

int log_setup(const struct log_config *cfg)
{
    int rc = 0;
    struct log_sinks *ns = sinks_open(cfg, &rc);
    bool start;
    uint64_t gen;

    /* Not clamped: JH_LOG_ERROR + 1 silences every record. */
    log_level_set(cfg->level);
    gen = log_queue_offer(ns, cfg->queue_size, &start);
    if (start) {
        sigset_t all, old;
        pthread_attr_t attr;
        int err;

        /* The writer takes no signals: they go to the main thread, and a
         * write to a FIFO without a reader fails with EPIPE, not SIGPIPE. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&attr);
        err = pthread_attr_setstacksize(&attr, WRITER_STACK);
        if (!err)
            err = pthread_create(&g_thread, &attr, writer_main, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err) {
            fprintf(stderr, "jobhost: cannot start the log writer thread: %s, aborting\n",
                    strerror(err));
            abort();
        }
    }
    log_queue_wait_installed(gen);
    return rc;
}

void log_shutdown(void)
{
    if (!log_queue_stop())
        return;
    pthread_join(g_thread, NULL);
}

/* --- drop counters (any thread) ------------------------------------------------ */

uint64_t log_dropped(const char *sink)
{
    if (!sink)
        return 0;
    for (size_t i = 0; i < KINDS; i++)
        if (strcmp(sink, kinds[i]->name) == 0)
            return kinds[i]->dropped();
    if (strcmp(sink, "queue") == 0)
        return log_queue_dropped();
    return 0;
}

const char *log_sink_name(unsigned i)
{
    if (i < KINDS)
        return kinds[i]->name;
    return i == KINDS ? "queue" : NULL;
}
