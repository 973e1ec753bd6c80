/*
 * log_queue — the per-thread rings between the threads that log and the
 * writer. See log_queue.h for the interface, core/log.h for the queue-full
 * policy and io/log_writer.c (DESIGN) for who wakes whom.
 *
 * A ring has one producer (its thread) and one consumer (the writer, or,
 * with no writer, whoever holds g.mu). The producer writes an entry at its
 * private head, then publishes it with a release store of `head`; the
 * writer reads entries up to the head it loaded (acquire) and gives space
 * back with a release store of `tail`, which the producer reads only when
 * its cached copy says the ring is short of room. Producers share nothing
 * on the path of a record but the read of g.state.
 *
 * Sleeping: the writer advertises in g.state whether it is busy, asleep
 * for a tick (it will look by itself within LOG_TICK_NS, or, in a quiet
 * spell, an eighth of the spell up to LOG_TICK_MAX_NS) or asleep for good
 * (WS_DEEP). A producer publishes its head with a seq_cst store and then
 * reads g.state with a seq_cst load; the writer stores WS_DEEP with a
 * seq_cst store and then takes its last look at the heads with seq_cst
 * loads. Sequential consistency forbids both sides missing the other: the
 * producer sees WS_DEEP and wakes it, or the writer sees the entry and
 * does not sleep. (On x86 the store is one xchg, the price of a fence.)
 * The same pair tells a producer that the writer ended meanwhile
 * (WS_STOPPED), in which case it writes what it left in its ring to stderr
 * itself. Room works alike: a producer short of room sets `waiting` and
 * re-reads `tail`, the writer stores `tail` and reads `waiting`.
 *
 * Rings live as long as their thread: registered under g.mu at the
 * thread's first record, orphaned when it exits (or when a later
 * log_setup asks for another size), freed by the writer once empty.
 */
#include "core/log_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log_capture.h"
#include "lib/util.h"

#define QUEUE_MIN (128u << 10)
#define MAX_RINGS_DUMPED 256 /* rings a crash report looks at */

_Static_assert(QUEUE_MIN >= 2 * LOG_ENTRY_MAX, "a ring holds two of the largest entries");

/* The writer's state, as producers read it. */
enum {
    WS_STOPPED = 0, /* no writer: records go to stderr at once */
    WS_BUSY,        /* it is taking records, or about to look */
    WS_TICK,        /* asleep; it looks again within LOG_TICK_NS */
    WS_DEEP,        /* asleep until woken */
};

struct log_ring {
    /* The producer's own, on its own cache line with `head`. */
    _Atomic uint64_t head;     /* published: everything before it is readable */
    uint64_t head_local;       /* written so far (published or being written) */
    uint64_t tail_seen;        /* the tail as last read: at least this much is free */
    uint64_t reserved;         /* where the entry being written starts */
    /* The writer's (the consumer's). */
    _Alignas(64) _Atomic uint64_t tail; /* everything before it is free again */
    _Atomic bool waiting;      /* a producer waits for room (g.space) */
    /* Constant while the ring is registered, or under g.mu. */
    _Alignas(64) char *buf;
    uint64_t size, mask;
    _Atomic bool retired;      /* a log_setup wants rings of another size */
    bool orphan;               /* under g.mu: its thread let go of it */
    struct log_ring *next;     /* under g.mu: the list of rings */
};

/* Any thread increments, metrics read: relaxed atomics, never reset. */
static atomic_uint_fast64_t g_queue_dropped;
static atomic_uint_fast64_t g_stderr_dropped;
static atomic_uint_fast64_t g_dropped_rotating;
static atomic_uint_fast64_t g_waits, g_wait_ns;

/* Written by the file sink on the writer, read by crash reports and stats. */
static _Atomic int g_crash_fd = -1;
static _Atomic(const char *) g_crash_pending;
static _Atomic size_t g_crash_pending_len;
static _Atomic unsigned g_rotating; /* odd while a rotation runs */

/* Every field is under mu but `state` (atomic, see DESIGN above) and the
 * rings' own fields (see struct log_ring). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* -> writer: records, new sinks, reopen, flush, stop */
    pthread_cond_t space;    /* writer -> producers waiting for room */
    pthread_cond_t done;     /* writer -> log_flush and log_setup */
    _Atomic int state;       /* WS_*: written under mu, read by producers */
    bool woken;              /* someone signalled `wake` since the writer slept */
    bool stopping;           /* log_shutdown asked the writer to finish */
    bool reopen;             /* log_reopen -> writer; taken with the rings, so
                                records logged after log_reopen returns go to
                                the reopened file */
    unsigned done_waiters;
    uint64_t ring_size;      /* of rings made from now on */
    struct log_ring *rings;  /* every registered ring */
    uint64_t flush_asked;    /* log_flush calls */
    uint64_t flush_done;     /* of them, answered */
    struct log_sinks *pending; /* log_setup -> writer */
    uint64_t gen_asked;      /* log_setup calls */
    uint64_t gen_done;       /* of them, swapped in by the writer */
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .ring_size = LOG_QUEUE_DEFAULT};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_ring_key; /* its destructor orphans a thread's ring */

/* The calling thread's ring, NULL until its first queued record. */
static __thread struct log_ring *t_ring;
/* Scratch space for the records of a thread while no writer runs, and
 * whether the entry being written is there. */
static __thread struct log_entry *t_scratch;
static __thread bool t_sync;

static void ring_release_thread(void *p);

/* The condition variables time out on CLOCK_MONOTONIC: made once, by the
 * first log_setup (nothing waits on them before). */
static void init_once(void)
{
    cond_init_mono(&g.wake);
    cond_init_mono(&g.space);
    cond_init_mono(&g.done);
    if (pthread_key_create(&g_ring_key, ring_release_thread) != 0)
        abort();
}

static struct timespec abs_ts(int64_t ns)
{
    return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

/* Under g.mu: tells a sleeping writer to look now. */
static void wake_writer_locked(void)
{
    int s = atomic_load_explicit(&g.state, memory_order_relaxed);

    if (s == WS_TICK || s == WS_DEEP) {
        atomic_store_explicit(&g.state, WS_BUSY, memory_order_relaxed);
        g.woken = true;
        pthread_cond_signal(&g.wake);
    }
}

static void wake_writer(void)
{
    pthread_mutex_lock(&g.mu);
    wake_writer_locked();
    pthread_mutex_unlock(&g.mu);
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

/* Writes entry `e` to stderr now: the records of a thread without a
 * writer. Formats a captured one with the thread's builder. */
static void write_now(const struct log_entry *e)
{
    struct log_line l;

    log_entry_line(e, log_record_get(), &l);
    log_stderr_write(log_line_text(&l), l.len);
}

/* --- the rings ------------------------------------------------------------------ */

static uint64_t ring_bytes(size_t asked)
{
    uint64_t size = QUEUE_MIN;

    if (asked == 0)
        asked = LOG_QUEUE_DEFAULT;
    while (size < asked && size < (1ULL << 32))
        size <<= 1;
    return size;
}

/* The ring and its bytes in one mapping, so that freeing it gives the
 * memory back to the system at once. */
static struct log_ring *ring_new(uint64_t size)
{
    size_t head = (sizeof(struct log_ring) + 4095) & ~(size_t)4095;
    char *m = mmap(NULL, head + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct log_ring *r;

    if (m == MAP_FAILED) {
        fprintf(stderr, "jobhost: out of memory for a log ring of %llu bytes, aborting\n",
                (unsigned long long)size);
        abort();
    }
    r = (struct log_ring *)m; /* mmap gives zeroed memory */
    r->buf = m + head;
    r->size = size;
    r->mask = size - 1;
    return r;
}

static void ring_free(struct log_ring *r)
{
    size_t head = (sizeof(struct log_ring) + 4095) & ~(size_t)4095;

    munmap(r, head + r->size);
}

/* Under g.mu: takes r off the list and frees it. */
static void ring_unlink_locked(struct log_ring *r)
{
    for (struct log_ring **pp = &g.rings; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            ring_free(r);
            return;
        }
    }
}

/* seq_cst: the writer's last look before it sleeps for good or ends. */
static bool ring_empty(struct log_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_seq_cst) ==
           atomic_load_explicit(&r->tail, memory_order_relaxed);
}

/* Under g.mu, with no writer: writes what r holds to stderr and empties it
 * (a producer that published just as the writer ended). */
static void ring_strand_locked(struct log_ring *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);

    while (t != h) {
        const struct log_entry *e = (const struct log_entry *)(r->buf + (t & r->mask));
        if (e->kind != LOG_ENTRY_PAD)
            write_now(e);
        t += e->size;
    }
    atomic_store_explicit(&r->tail, t, memory_order_release);
}

/* The thread is leaving: its ring is orphaned, and freed by whoever
 * consumes it once it is empty. */
static void ring_release_thread(void *p)
{
    struct log_ring *r = p;

    pthread_mutex_lock(&g.mu);
    r->orphan = true;
    if (atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED) {
        ring_strand_locked(r);
        ring_unlink_locked(r);
    }
    pthread_mutex_unlock(&g.mu);
    if (t_ring == r)
        t_ring = NULL;
}

/* The calling thread's first ring, or a new one after a log_setup asked for
 * another size. */
static struct log_ring *ring_for_thread(void)
{
    struct log_ring *old = t_ring, *r;

    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g.mu);
    r = ring_new(g.ring_size);
    r->next = g.rings;
    g.rings = r;
    if (old)
        old->orphan = true;
    pthread_mutex_unlock(&g.mu);
    t_ring = r;
    pthread_setspecific(g_ring_key, r);
    return r;
}

/* --- producers --------------------------------------------------------------- */

/* mono ns since the writer entered a sink's I/O, 0 when in none: written by
 * the writer, read by producers waiting for room. */
static _Atomic int64_t g_sink_since;

/* The writer thread's id, for a look at its scheduler state; 0: none. */
static _Atomic pid_t g_writer_tid;

void log_queue_writer_started(void)
{
    atomic_store_explicit(&g_writer_tid, gettid(), memory_order_relaxed);
}

/* True when the writer is asleep in the kernel (waiting on a disk, a
 * socket, a FIFO: state D or S), false when it is running or only waiting
 * for a CPU (R), or when that cannot be told. A producer asks only after
 * the writer has been in one sink call for LOG_SINK_STUCK_NS: a writer
 * preempted in a write(2) on a busy machine is behind, not stuck. */
static bool writer_blocked(void)
{
    char path[64], st[256], *p;
    pid_t tid = atomic_load_explicit(&g_writer_tid, memory_order_relaxed);
    ssize_t n;
    int fd;

    if (!tid)
        return true;
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    n = read(fd, st, sizeof(st) - 1);
    close(fd);
    if (n <= 0)
        return true;
    st[n] = '\0';
    p = strrchr(st, ')'); /* "tid (name) S ...": the name may hold anything */
    return !p || p[1] != ' ' || p[2] != 'R';
}

void log_queue_sink_enter(void)
{
    atomic_store_explicit(&g_sink_since, mono_ns(), memory_order_relaxed);
}

void log_queue_sink_leave(void)
{
    atomic_store_explicit(&g_sink_since, 0, memory_order_relaxed);
}

/* The ring is short of `need` bytes: wait for the writer to give space
 * back, as core/log.h's queue-full policy says. False when it did not, or
 * when the writer ended meanwhile (*stopped). */
static bool wait_for_room(struct log_ring *r, uint64_t need, bool *stopped)
{
    int64_t start = mono_ns(), last = start + LOG_QUEUE_BUSY_WAIT_NS, looked = 0;
    unsigned rot = atomic_load_explicit(&g_rotating, memory_order_relaxed);
    bool ok = false;

    pthread_mutex_lock(&g.mu);
    wake_writer_locked();
    for (;;) {
        int64_t now, since, until;

        /* seq_cst store, then load: pairs with log_queue_release's */
        atomic_store_explicit(&r->waiting, true, memory_order_seq_cst);
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_seq_cst);
        if (r->head_local + need - r->tail_seen <= r->size) {
            ok = true;
            break;
        }
        if (atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED) {
            *stopped = true;
            break;
        }
        now = mono_ns();
        since = atomic_load_explicit(&g_sink_since, memory_order_relaxed);
        if (now >= last)
            break; /* a writer behind for 20 ms: overloaded */
        /* a stuck sink and 1 ms of our wait (looked at once a millisecond) */
        if (since && now - since >= LOG_SINK_STUCK_NS && now - start >= LOG_QUEUE_WAIT_NS &&
            now - looked >= LOG_QUEUE_WAIT_NS) {
            looked = now;
            if (writer_blocked())
                break;
        }
        until = now + LOG_QUEUE_WAIT_NS / 4; /* look at the sink again soon */
        struct timespec ts = abs_ts(until < last ? until : last);
        pthread_cond_timedwait(&g.space, &g.mu, &ts);
    }
    atomic_store_explicit(&r->waiting, false, memory_order_relaxed);
    pthread_mutex_unlock(&g.mu);
    atomic_fetch_add_explicit(&g_waits, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_wait_ns, (uint64_t)(mono_ns() - start), memory_order_relaxed);
    if (!ok && !*stopped) {
        atomic_fetch_add_explicit(&g_queue_dropped, 1, memory_order_relaxed);
        if ((rot & 1) || rot != atomic_load_explicit(&g_rotating, memory_order_relaxed))
            atomic_fetch_add_explicit(&g_dropped_rotating, 1, memory_order_relaxed);
    }
    return ok;
}

static struct log_entry *scratch(void)
{
    if (!t_scratch)
        t_scratch = xmalloc(LOG_ENTRY_MAX);
    t_sync = true;
    return t_scratch;
}

struct log_entry *log_queue_reserve(size_t size)
{
    struct log_ring *r = t_ring;
    uint64_t head, to_end, pad;
    bool stopped = false;

    if (atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED)
        return scratch();
    if (!r || atomic_load_explicit(&r->retired, memory_order_relaxed))
        r = ring_for_thread();
    t_sync = false;
    head = r->head_local;
    to_end = r->size - (head & r->mask);
    pad = to_end < size ? to_end : 0; /* an entry never wraps */
    if (head + pad + size - r->tail_seen > r->size) {
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head + pad + size - r->tail_seen > r->size && !wait_for_room(r, pad + size, &stopped))
            return stopped ? scratch() : NULL;
    }
    if (pad) {
        struct log_entry *p = (struct log_entry *)(r->buf + (head & r->mask));
        p->size = (uint32_t)pad;
        p->kind = LOG_ENTRY_PAD;
        head += pad;
    }
    r->reserved = head;
    return (struct log_entry *)(r->buf + (head & r->mask));
}

/* After a publish, when the writer is not plainly busy: wake it, or, when
 * it has ended, write out what this ring holds. */
static void after_publish(struct log_ring *r, int state)
{
    if (state == WS_STOPPED) {
        pthread_mutex_lock(&g.mu);
        if (atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED)
            ring_strand_locked(r);
        pthread_mutex_unlock(&g.mu);
        return;
    }
    if (state == WS_TICK) {
        /* a quarter full: it should not wait for its tick */
        if (r->head_local - r->tail_seen < r->size / 4)
            return;
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->head_local - r->tail_seen < r->size / 4)
            return;
    }
    wake_writer();
}

void log_queue_commit(struct log_entry *e)
{
    struct log_ring *r = t_ring;
    int s;

    if (t_sync) {
        write_now(e);
        t_sync = false;
        return;
    }
    r->head_local = r->reserved + e->size;
    /* A seq_cst store, then a seq_cst load (see DESIGN): pairs with the
     * writer's store of WS_DEEP or WS_STOPPED and its look at the heads. */
    atomic_store_explicit(&r->head, r->head_local, memory_order_seq_cst);
    s = atomic_load_explicit(&g.state, memory_order_seq_cst);
    if (s != WS_BUSY && (s != WS_TICK || r->head_local - r->tail_seen >= r->size / 4))
        after_publish(r, s);
}

/* Under g.mu: a ring holds something. */
static bool any_ring_busy_locked(void)
{
    for (struct log_ring *r = g.rings; r; r = r->next)
        if (!ring_empty(r))
            return true;
    return false;
}

/* Under g.mu: a ring is an eighth full: the writer should not sleep. */
static bool any_ring_filling_locked(void)
{
    for (struct log_ring *r = g.rings; r; r = r->next)
        if (atomic_load_explicit(&r->head, memory_order_relaxed) -
                atomic_load_explicit(&r->tail, memory_order_relaxed) >=
            r->size / 8)
            return true;
    return false;
}

void log_flush(void)
{
    uint64_t ticket;

    pthread_mutex_lock(&g.mu);
    if (atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    ticket = ++g.flush_asked;
    g.done_waiters++;
    wake_writer_locked();
    while (atomic_load_explicit(&g.state, memory_order_relaxed) != WS_STOPPED &&
           g.flush_done < ticket)
        pthread_cond_wait(&g.done, &g.mu);
    g.done_waiters--;
    pthread_mutex_unlock(&g.mu);
}

void log_reopen(void)
{
    pthread_mutex_lock(&g.mu);
    if (atomic_load_explicit(&g.state, memory_order_relaxed) != WS_STOPPED) {
        g.reopen = true;
        wake_writer_locked();
    }
    pthread_mutex_unlock(&g.mu);
}

/* --- log_setup and log_shutdown ------------------------------------------------ */

uint64_t log_queue_offer(struct log_sinks *sinks, size_t queue_size, bool *start)
{
    uint64_t gen;

    pthread_once(&g_once, init_once);
    pthread_mutex_lock(&g.mu);
    gen = ++g.gen_asked;
    g.pending = sinks;
    *start = atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED;
    if (*start) {
        g.ring_size = ring_bytes(queue_size);
        for (struct log_ring *r = g.rings; r; r = r->next)
            if (r->size != g.ring_size)
                atomic_store_explicit(&r->retired, true, memory_order_relaxed);
        g.stopping = false;
        g.woken = false;
        /* Records queue from now on; the writer, started next, installs
         * `sinks` before it takes any. */
        atomic_store_explicit(&g.state, WS_BUSY, memory_order_seq_cst);
    } else {
        wake_writer_locked();
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
    if (atomic_load_explicit(&g.state, memory_order_relaxed) == WS_STOPPED || g.stopping) {
        pthread_mutex_unlock(&g.mu);
        return false;
    }
    g.stopping = true;
    g.woken = true;
    atomic_store_explicit(&g.state, WS_BUSY, memory_order_relaxed);
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.mu);
    return true;
}

/* --- the writer -------------------------------------------------------------- */

/* Under g.mu: something the writer must do now rather than at its tick. */
static bool writer_has_work(void)
{
    return g.pending || g.stopping || g.reopen || g.woken ||
           (g.done_waiters && g.flush_done < g.flush_asked);
}

/* Skips padding at src's position; false when src has nothing left. */
static bool source_settle(struct log_source *s)
{
    while (s->pos != s->end) {
        const struct log_entry *e =
            (const struct log_entry *)(s->ring->buf + (s->pos & s->ring->mask));
        if (e->kind != LOG_ENTRY_PAD) {
            s->ts = e->ts;
            return true;
        }
        s->pos += e->size;
    }
    return false;
}

/* Under g.mu: frees orphans that are empty, and lists the rings that hold
 * entries in t. */
static void snapshot_locked(struct log_take *t)
{
    struct log_ring **pp = &g.rings;

    t->n = 0;
    while (*pp) {
        struct log_ring *r = *pp;
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_seq_cst);

        if (head == tail) {
            if (r->orphan) {
                *pp = r->next;
                ring_free(r);
                continue;
            }
        } else {
            if (t->n == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 16;
                t->src = xrealloc(t->src, t->cap * sizeof(*t->src));
            }
            t->src[t->n] = (struct log_source){.ring = r, .pos = tail, .end = head};
            (void)source_settle(&t->src[t->n]); /* padding alone is given back at release */
            t->n++;
        }
        pp = &r->next;
    }
}

/* Under g.mu. */
static void take_locked(struct log_take *t)
{
    t->sinks = g.pending;
    g.pending = NULL;
    t->gen = g.gen_asked;
    t->flush = g.flush_asked;
    t->stop = g.stopping;
    t->reopen = g.reopen;
    g.reopen = false;
    snapshot_locked(t);
}

void log_queue_take_first(struct log_take *t)
{
    pthread_mutex_lock(&g.mu);
    t->sinks = g.pending;
    g.pending = NULL;
    t->gen = g.gen_asked;
    t->n = 0;
    pthread_mutex_unlock(&g.mu);
}

void log_queue_take(struct log_take *t, int64_t last_busy)
{
    pthread_mutex_lock(&g.mu);
    if (!writer_has_work()) {
        int64_t now = mono_ns();
        int64_t quiet = now - last_busy;
        bool deep = quiet >= LOG_DEEP_AFTER_NS;
        /* the longer the silence, the less often a look finds anything */
        int64_t tick = quiet / 8 < LOG_TICK_NS       ? LOG_TICK_NS
                       : quiet / 8 > LOG_TICK_MAX_NS ? LOG_TICK_MAX_NS
                                                     : quiet / 8;

        /* seq_cst store, then seq_cst loads of the heads: see DESIGN */
        atomic_store_explicit(&g.state, deep ? WS_DEEP : WS_TICK, memory_order_seq_cst);
        if (deep ? !any_ring_busy_locked() : !any_ring_filling_locked()) {
            if (deep) {
                while (!g.woken)
                    pthread_cond_wait(&g.wake, &g.mu);
            } else {
                struct timespec ts = abs_ts(now + tick);
                if (!g.woken)
                    pthread_cond_timedwait(&g.wake, &g.mu, &ts);
            }
        }
    }
    g.woken = false;
    atomic_store_explicit(&g.state, WS_BUSY, memory_order_relaxed);
    take_locked(t);
    pthread_mutex_unlock(&g.mu);
}

const struct log_entry *log_queue_next(struct log_take *t)
{
    struct log_source *best = NULL;
    const struct log_entry *e;

    for (size_t i = 0; i < t->n; i++) {
        struct log_source *s = &t->src[i];
        if (s->pos != s->end && (!best || s->ts < best->ts))
            best = s;
    }
    if (!best)
        return NULL;
    e = (const struct log_entry *)(best->ring->buf + (best->pos & best->ring->mask));
    best->pos += e->size;
    (void)source_settle(best); /* the next one's ts, or empty */
    return e;
}

void log_queue_release(struct log_take *t)
{
    bool waiters = false;

    for (size_t i = 0; i < t->n; i++) {
        struct log_source *s = &t->src[i];
        if (atomic_load_explicit(&s->ring->tail, memory_order_relaxed) == s->pos)
            continue;
        /* seq_cst store, then load: pairs with wait_for_room's */
        atomic_store_explicit(&s->ring->tail, s->pos, memory_order_seq_cst);
        waiters |= atomic_load_explicit(&s->ring->waiting, memory_order_seq_cst);
    }
    if (waiters) {
        pthread_mutex_lock(&g.mu);
        pthread_cond_broadcast(&g.space);
        pthread_mutex_unlock(&g.mu);
    }
}

void log_queue_written(const struct log_take *t)
{
    pthread_mutex_lock(&g.mu);
    if (g.flush_done < t->flush) {
        g.flush_done = t->flush;
        if (g.done_waiters)
            pthread_cond_broadcast(&g.done);
    }
    pthread_mutex_unlock(&g.mu);
}

void log_queue_installed(uint64_t gen)
{
    pthread_mutex_lock(&g.mu);
    g.gen_done = gen;
    pthread_cond_broadcast(&g.done);
    pthread_mutex_unlock(&g.mu);
}

bool log_queue_finished(bool stop, void (*last)(struct log_take *t))
{
    struct log_take t = {0};

    if (!stop)
        return false;
    pthread_mutex_lock(&g.mu);
    if (any_ring_busy_locked()) {
        pthread_mutex_unlock(&g.mu);
        return false;
    }
    /* From here a producer that publishes sees WS_STOPPED (and writes its
     * own record out), or published before that store: then it is found
     * below. */
    atomic_store_explicit(&g.state, WS_STOPPED, memory_order_seq_cst);
    snapshot_locked(&t);
    if (t.n) {
        last(&t);
        for (size_t i = 0; i < t.n; i++)
            atomic_store_explicit(&t.src[i].ring->tail, t.src[i].pos, memory_order_release);
    }
    for (struct log_ring *r = g.rings, *next; r; r = next) {
        next = r->next;
        if (r->orphan && ring_empty(r))
            ring_unlink_locked(r);
    }
    g.stopping = false;
    g.flush_done = g.flush_asked;
    pthread_cond_broadcast(&g.done);
    pthread_cond_broadcast(&g.space);
    pthread_mutex_unlock(&g.mu);
    log_take_free(&t);
    return true;
}

void log_take_free(struct log_take *t)
{
    free(t->src);
    t->src = NULL;
    t->n = t->cap = 0;
}

/* --- stats ------------------------------------------------------------------------ */

static atomic_uint_fast64_t g_records, g_busy_ns, g_rotations, g_rotate_ns, g_rotate_max;

void log_queue_count(uint64_t records, uint64_t busy_ns)
{
    atomic_fetch_add_explicit(&g_records, records, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_busy_ns, busy_ns, memory_order_relaxed);
}

void log_queue_rotating(bool on)
{
    atomic_fetch_add_explicit(&g_rotating, 1, memory_order_relaxed);
    (void)on; /* odd while on: calls come in pairs */
}

void log_queue_rotated(uint64_t ns)
{
    atomic_fetch_add_explicit(&g_rotations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_rotate_ns, ns, memory_order_relaxed);
    if (ns > atomic_load_explicit(&g_rotate_max, memory_order_relaxed))
        atomic_store_explicit(&g_rotate_max, ns, memory_order_relaxed);
}

void log_stats(struct log_stats *out)
{
    out->records = atomic_load_explicit(&g_records, memory_order_relaxed);
    out->writer_busy_ns = atomic_load_explicit(&g_busy_ns, memory_order_relaxed);
    out->rotations = atomic_load_explicit(&g_rotations, memory_order_relaxed);
    out->rotate_ns_total = atomic_load_explicit(&g_rotate_ns, memory_order_relaxed);
    out->rotate_ns_max = atomic_load_explicit(&g_rotate_max, memory_order_relaxed);
    out->dropped_rotating = atomic_load_explicit(&g_dropped_rotating, memory_order_relaxed);
    out->waits = atomic_load_explicit(&g_waits, memory_order_relaxed);
    out->wait_ns_total = atomic_load_explicit(&g_wait_ns, memory_order_relaxed);
}

/* --- crash reports ---------------------------------------------------------------- */

void log_queue_set_crash_fd(int fd)
{
    atomic_store_explicit(&g_crash_fd, fd, memory_order_release);
}

int log_queue_crash_fd(void)
{
    return atomic_load_explicit(&g_crash_fd, memory_order_acquire);
}

void log_queue_set_crash_pending(const char *p, size_t len)
{
    atomic_store_explicit(&g_crash_pending_len, len, memory_order_relaxed);
    atomic_store_explicit(&g_crash_pending, p, memory_order_release);
}

/* The crash report's own builder and buffer, reserved so that formatting
 * a record allocates nothing. */
static struct log_record *g_crash_builder;

void log_queue_crash_prepare(void)
{
    struct log_record *r;

    if (g_crash_builder)
        return;
    r = log_record_new();
    buf_reserve(&r->line, 4 * LOG_LINE_MAX);
    buf_reserve(&r->val, 8 * LOG_VALUE_MAX + 64);
    buf_reserve(&r->cut, 2 * LOG_VALUE_MAX);
    log_capture_prepare(r);
    g_crash_builder = r;
}

void log_queue_crash_dump(int fd)
{
    struct log_source src[MAX_RINGS_DUMPED];
    struct log_take t = {.src = src, .cap = MAX_RINGS_DUMPED};
    const char *pending = atomic_load_explicit(&g_crash_pending, memory_order_acquire);
    const struct log_entry *e;

    if (fd < 0)
        return;
    if (pending &&
        log_write_all(fd, pending, atomic_load_explicit(&g_crash_pending_len, memory_order_relaxed),
                      NULL) < 0)
        return; /* the descriptor is gone: nothing else to try */
    for (struct log_ring *r = g.rings; r && t.n < MAX_RINGS_DUMPED; r = r->next) {
        struct log_source *s = &src[t.n];
        s->ring = r;
        s->pos = atomic_load_explicit(&r->tail, memory_order_acquire);
        s->end = atomic_load_explicit(&r->head, memory_order_acquire);
        if (s->end - s->pos <= r->size && source_settle(s))
            t.n++;
    }
    while ((e = log_queue_next(&t))) {
        struct log_line l;
        if (e->kind != LOG_ENTRY_LINE && !g_crash_builder)
            continue; /* formatting would allocate */
        log_entry_line(e, g_crash_builder, &l);
        if (log_write_all(fd, log_line_text(&l), l.len, NULL) < 0)
            return; /* as far as possible */
    }
}
