/*
 * log_queue — the byte ring between the threads that log and the writer.
 * See log_queue.h for the interface, core/log.h for the queue-full policy
 * and io/log_writer.c (DESIGN) for who wakes whom.
 *
 * A producer holds g.mu just long enough to copy its finished record into
 * the ring; the writer holds it only to take a snapshot of [tail, head) and
 * later to move tail and `written` on. Waking a sleeping thread costs its
 * waker several microseconds, more than a whole record, so a producer
 * signals the writer only when it must (writer_idle and the rules in
 * log_queue_push); the writer otherwise wakes on its own every TICK_NS
 * while records flow.
 */
#include "core/log_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "lib/util.h"

#define QUEUE_MIN (64u << 10)
#define FIELD_MAX 255                      /* raw journald fields kept per record */
#define TICK_NS (100LL * 1000000)          /* the writer's own wake-up while records flow */
#define DEEP_AFTER_NS 1000000000LL         /* no record this long: sleep until woken */

/* Any thread increments, metrics read: relaxed atomics, never reset. */
static atomic_uint_fast64_t g_queue_dropped;
static atomic_uint_fast64_t g_stderr_dropped;

/* The queue and the writer's life. Every field below mu is under mu, but
 * ring and mask: set by log_queue_offer before the writer starts, freed by
 * log_queue_free after it was joined, constant in between (producers touch
 * the ring only under mu; the writer reads its taken run [tail, head)
 * without it, since producers never write there). */
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
    struct log_sinks *pending; /* log_setup -> writer */
    uint64_t gen_asked;      /* log_setup calls */
    uint64_t gen_done;       /* of them, swapped in by the writer */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* The condition variables time out on CLOCK_MONOTONIC: made once, by the
 * first log_setup (nothing waits on them before). */
static void init_once(void)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.wake, &ca);
    pthread_cond_init(&g.space, &ca);
    pthread_cond_init(&g.done, &ca);
    pthread_condattr_destroy(&ca);
}

/* Under g.mu: tells a waiting writer to look now. */
static void wake_writer(void)
{
    g.writer_idle = false;
    pthread_cond_signal(&g.wake);
}

/* Under g.mu: queue bytes past which a producer wakes the writer. */
static uint64_t high_water(void)
{
    return (g.mask + 1) / 4;
}

/* --- writing lines ------------------------------------------------- */

int log_write_all(int fd, const char *p, size_t n, size_t *done)
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

uint64_t log_count_lines(const char *p, size_t n)
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

void log_stderr_write(const char *p, size_t len)
{
    size_t done;

    if (log_write_all(STDERR_FILENO, p, len, &done) < 0)
        atomic_fetch_add_explicit(&g_stderr_dropped, log_count_lines(p + done, len - done),
                                  memory_order_relaxed);
}

uint64_t log_stderr_dropped(void)
{
    return atomic_load_explicit(&g_stderr_dropped, memory_order_relaxed);
}

uint64_t log_queue_dropped(void)
{
    return atomic_load_explicit(&g_queue_dropped, memory_order_relaxed);
}

/* --- producers --------------------------------------------------------------- */

static size_t field_len(const char *s)
{
    return s ? strnlen(s, FIELD_MAX) : 0;
}

void log_queue_push(const struct log_record *rec, int level, const char *event,
                    const struct log_ctx *ctx)
{
    const char *job = ctx ? ctx->job : NULL;
    const char *run = ctx ? ctx->run_id : NULL;
    size_t ev_len = field_len(event), job_len = field_len(job), run_len = field_len(run);
    size_t need = log_line_size(rec->line.len, ev_len, job_len, run_len);
    int64_t deadline = 0;
    struct log_line *r;

    pthread_mutex_lock(&g.mu);
    for (;;) {
        uint64_t pos, to_end, pad;

        if (!g.running) {
            pthread_mutex_unlock(&g.mu);
            log_stderr_write(rec->line.data, rec->line.len);
            return;
        }
        pos = g.head & g.mask;
        to_end = g.mask + 1 - pos;
        pad = to_end < need ? to_end : 0;
        if (g.head + pad + need - g.tail <= g.mask + 1) {
            if (pad) {
                r = (struct log_line *)(g.ring + pos);
                r->size = (uint32_t)pad;
                r->wrap = 1;
                g.head += pad;
            }
            break;
        }
        /* Full: wait for the writer, LOG_QUEUE_WAIT_NS at most in all. */
        if (g.writer_idle)
            wake_writer();
        if (!deadline) {
            deadline = mono_ns() + LOG_QUEUE_WAIT_NS;
        } else if (mono_ns() >= deadline) {
            pthread_mutex_unlock(&g.mu);
            atomic_fetch_add_explicit(&g_queue_dropped, 1, memory_order_relaxed);
            return;
        }
        struct timespec ts = {.tv_sec = deadline / 1000000000,
                              .tv_nsec = deadline % 1000000000};
        g.space_waiters++;
        pthread_cond_timedwait(&g.space, &g.mu, &ts);
        g.space_waiters--;
    }
    log_line_write((struct log_line *)(g.ring + (g.head & g.mask)), rec, level, event, ev_len, job,
                   job_len, run, run_len);
    g.head += need;
    if (g.writer_idle &&
        (g.writer_deep || level >= JH_LOG_WARN || g.head - g.tail >= high_water()))
        wake_writer();
    pthread_mutex_unlock(&g.mu);
}

void log_flush(void)
{
    uint64_t target;

    pthread_mutex_lock(&g.mu);
    target = g.head;
    g.done_waiters++;
    if (g.written < target && g.writer_idle)
        wake_writer();
    while (g.running && g.written < target)
        pthread_cond_wait(&g.done, &g.mu);
    g.done_waiters--;
    pthread_mutex_unlock(&g.mu);
}

void log_reopen(void)
{
    pthread_mutex_lock(&g.mu);
    g.reopen = g.running;
    if (g.running && g.writer_idle)
        wake_writer();
    pthread_mutex_unlock(&g.mu);
}

/* --- log_setup and log_shutdown ------------------------------------------------ */

static uint64_t queue_bytes(size_t asked)
{
    uint64_t size = QUEUE_MIN;

    if (asked == 0)
        asked = LOG_QUEUE_DEFAULT;
    while (size < asked && size < (1ULL << 32))
        size <<= 1;
    return size;
}

uint64_t log_queue_offer(struct log_sinks *sinks, size_t queue_size, bool *start)
{
    uint64_t gen;

    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g.mu);
    gen = ++g.gen_asked;
    g.pending = sinks;
    *start = !g.running;
    if (!g.running) {
        uint64_t size = queue_bytes(queue_size);

        g.ring = xmalloc(size);
        g.mask = size - 1;
        g.head = g.tail = g.written = 0;
        g.stopping = false;
        /* Records queue from now on; the writer, started next, installs
         * `sinks` before it takes any. */
        g.running = true;
    } else if (g.writer_idle) {
        wake_writer();
    }
    pthread_mutex_unlock(&g.mu);
    return gen;
}

void log_queue_wait_installed(uint64_t gen)
{
    pthread_mutex_lock(&g.mu);
    g.done_waiters++;
    while (g.gen_done < gen)
        pthread_cond_wait(&g.done, &g.mu);
    g.done_waiters--;
    pthread_mutex_unlock(&g.mu);
}

bool log_queue_stop(void)
{
    pthread_mutex_lock(&g.mu);
    if (!g.running) {
        pthread_mutex_unlock(&g.mu);
        return false;
    }
    g.running = false;
    g.stopping = true;
    wake_writer();
    pthread_cond_broadcast(&g.space);
    pthread_mutex_unlock(&g.mu);
    return true;
}

void log_queue_free(void)
{
    pthread_mutex_lock(&g.mu);
    free(g.ring);
    g.ring = NULL;
    g.mask = 0;
    g.head = g.tail = g.written = 0;
    g.stopping = false;
    pthread_mutex_unlock(&g.mu);
}

/* --- the writer -------------------------------------------------------------- */

/* Under g.mu: something the writer must do now rather than at its tick. */
static bool writer_has_work(void)
{
    return g.pending || g.stopping || g.reopen || g.head - g.tail >= high_water() ||
           (g.done_waiters && g.written < g.head);
}

/* Under g.mu. */
static void take_locked(struct log_take *t)
{
    t->ring = g.ring;
    t->mask = g.mask;
    t->tail = g.tail;
    t->head = g.head;
    t->sinks = g.pending;
    g.pending = NULL;
    t->gen = g.gen_asked;
    t->stop = g.stopping;
    t->reopen = g.reopen;
    g.reopen = false;
}

void log_queue_take_first(struct log_take *t)
{
    pthread_mutex_lock(&g.mu);
    t->sinks = g.pending;
    g.pending = NULL;
    t->gen = g.gen_asked;
    pthread_mutex_unlock(&g.mu);
}

void log_queue_take(struct log_take *t, int64_t last_busy)
{
    pthread_mutex_lock(&g.mu);
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
    take_locked(t);
    pthread_mutex_unlock(&g.mu);
}

void log_queue_release(uint64_t end)
{
    pthread_mutex_lock(&g.mu);
    g.tail = end;
    if (g.space_waiters)
        pthread_cond_broadcast(&g.space);
    pthread_mutex_unlock(&g.mu);
}

void log_queue_written(uint64_t end)
{
    pthread_mutex_lock(&g.mu);
    g.written = end;
    if (g.done_waiters)
        pthread_cond_broadcast(&g.done);
    pthread_mutex_unlock(&g.mu);
}

void log_queue_installed(uint64_t gen)
{
    pthread_mutex_lock(&g.mu);
    g.gen_done = gen;
    pthread_cond_broadcast(&g.done);
    pthread_mutex_unlock(&g.mu);
}

bool log_queue_finished(bool stop)
{
    bool done = false;

    pthread_mutex_lock(&g.mu);
    if (stop && g.head == g.tail) {
        g.written = g.head;
        pthread_cond_broadcast(&g.done);
        done = true;
    }
    pthread_mutex_unlock(&g.mu);
    return done;
}
