/*
 * log_writer — the log writer thread, and log_setup / log_shutdown /
 * log_dropped of core/log.h: the side of the log module that owns the
 * sinks (log_sink.h) and does their I/O, so that no thread that logs ever
 * waits on a disk.
 *
 * DESIGN. Every thread that logs (main, dispatcher, workers, plugins through
 * hostapi) is a producer: it checks the level, builds the whole record in
 * its own thread-local builder (core/log_record.c: no lock held, no malloc
 * once warm), then holds the queue's lock just long enough to copy the
 * record into a byte ring (core/log_queue.c). One writer thread, started by
 * the first log_setup, is the only consumer: it takes a run of records from
 * the ring, hands each to every sink (the file and stderr sinks keep their
 * lines in one buffer each; syslog(3) and sd_journal_sendv go out per
 * record), gives the ring space back (waking producers that wait for room),
 * then flushes the sinks (one write(2) each) and wakes log_flush and
 * log_setup waiters.
 *
 * Who wakes the writer: waking a sleeping thread costs its waker several
 * microseconds (a futex wake and an IPI; ~8 us on a small VM), more than a
 * whole record. So, as glog does, a producer does not wake the writer for an
 * ordinary record: while records flow the writer wakes by itself every
 * 100 ms and takes what has come. A producer signals it only when the
 * record is a warning or an error, when the queue is a quarter full, or when
 * the writer has gone to sleep for good (no record for a second: an idle
 * host has an idle writer, with no timer). log_flush, log_setup,
 * log_reopen and log_shutdown always wake it. So a debug/info record reaches
 * the sinks within about 100 ms; a warning or error at once. The rules are
 * kept in core/log_queue.c, beside the lock they run under.
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

#include "core/clock.h"
#include "lib/util.h"

#define CHUNK_BYTES (256u << 10) /* ring bytes the writer takes per round */

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
    size_t ev_len = strlen(event);
    struct log_line *l = xmalloc(log_line_size(r->line.len, ev_len, 0, 0));
    bool any = false;

    log_line_write(l, r, level, event, ev_len, NULL, 0, NULL, 0);
    for (size_t i = 0; g_in_use && i < g_in_use->n; i++) {
        struct log_sink *s = g_in_use->sink[i];
        if (s->ops->emit) {
            s->ops->emit(s, l);
            any = true;
        }
    }
    if (!any)
        log_stderr_write(log_line_text(l), l->len);
    free(l);
}

void log_writer_emit_others(const struct log_sink *from, const struct log_record *r, int level,
                            const char *event)
{
    size_t ev_len = strlen(event);
    struct log_line *l = xmalloc(log_line_size(r->line.len, ev_len, 0, 0));
    bool any = false;

    log_line_write(l, r, level, event, ev_len, NULL, 0, NULL, 0);
    for (size_t i = 0; g_in_use && i < g_in_use->n; i++) {
        struct log_sink *s = g_in_use->sink[i];
        if (s == from)
            continue;
        if (s->ops->emit) {
            s->ops->emit(s, l);
        } else {
            s->ops->write(s, l);
            if (s->ops->flush)
                s->ops->flush(s);
        }
        any = true;
    }
    if (!any)
        log_stderr_write(log_line_text(l), l->len);
    free(l);
}

static void sinks_flush(struct log_sinks *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (set->sink[i]->ops->flush)
            set->sink[i]->ops->flush(set->sink[i]);
}

/* Takes the records of `tk` in rounds of about CHUNK_BYTES: deliver,
 * give the space back, flush the sinks, tell log_flush. */
static void drain(const struct log_take *tk)
{
    struct log_sinks *set = g_in_use; /* only install() changes it, never meanwhile */
    uint64_t t = tk->tail, h = tk->head;

    while (t != h) {
        uint64_t end = t;

        while (end != h && end - t < CHUNK_BYTES) {
            const struct log_line *l = log_queue_read(tk, end, &end);
            for (size_t i = 0; l && i < set->n; i++)
                set->sink[i]->ops->write(set->sink[i], l);
        }
        log_queue_release(end);
        sinks_flush(set);
        log_queue_written(end);
        t = end;
    }
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
    struct log_take t;
    int64_t last_busy = mono_ns(); /* the last round that found records */

    (void)arg;
    log_queue_take_first(&t);
    install(t.sinks);
    log_queue_installed(t.gen);
    for (;;) {
        log_queue_take(&t, last_busy);
        /* Before the records: a moved file is noticed before they go to it. */
        if (g_in_use && (t.tail != t.head || t.reopen))
            for (size_t i = 0; i < g_in_use->n; i++)
                if (g_in_use->sink[i]->ops->tick)
                    g_in_use->sink[i]->ops->tick(g_in_use->sink[i], t.reopen);
        if (t.tail != t.head) {
            drain(&t);
            last_busy = mono_ns();
        }
        if (t.sinks) {
            install(t.sinks);
            log_queue_installed(t.gen);
        }
        if (log_queue_finished(t.stop))
            break;
    }
    install(NULL);
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
        int err;

        /* The writer takes no signals: they go to the main thread, and a
         * write to a FIFO without a reader fails with EPIPE, not SIGPIPE. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        err = pthread_create(&g_thread, NULL, writer_main, NULL);
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
    log_queue_free();
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
