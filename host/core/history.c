/*
 * history — the run store's writer. See history.h.
 *
 * DESIGN. Producers (workers reporting a run's start, records and finish;
 * the dispatcher and executor reporting skips) claim a slot of a bounded
 * ring with one compare-and-swap on `tail` (Vyukov's bounded queue: each
 * slot carries a sequence number saying whose turn it is), fill it and
 * publish it with a release store. A run's start and finish need no
 * allocation (a finish with an error copies the text); a record is
 * copied into one malloc'ed blob. A full ring drops the report and counts
 * it. Nothing here takes a lock on the run path.
 *
 * The writer thread owns everything else: it drains the ring into its
 * pending rows (a finish that meets its start still pending completes it:
 * the quick runs of a burst cost one insert each), resolves each job's and
 * plugin's store key (cached in the job state and the plugin, tagged with
 * the store's open count so a reopened file is never given stale keys),
 * and commits the pending rows in transactions of up to TX_ROWS, draining
 * the ring again between transactions so a burst never fills it while
 * SQLite works.
 *
 * Waking: while the writer is busy, or has been in the last IDLE_NS, it
 * polls the ring every POLL_NS and producers never make a system call.
 * After that it sleeps on `cond` until its next timer and sets `sleeping`;
 * a producer that finds it set wakes it (one futex call for the first
 * report after a quiet spell). The flag and `tail` are both seq_cst, so
 * either the writer sees the producer's claimed slot before it sleeps or
 * the producer sees the flag.
 *
 * Timers on the writer: heartbeat and a check that the file is still the
 * one opened every HEARTBEAT_NS, summaries flushed every FLUSH_NS after a
 * commit, a retention step (PRUNE_BUDGET rows) whenever nothing waits, a
 * new retention pass every PRUNE_PERIOD_NS. A failing store is retried
 * with a back-off from 1 s to RETRY_MAX_NS.
 *
 * Locks: `lock` guards the control list (pauses, held generations,
 * configuration, stop) and pairs with `cond`; it is a leaf lock, and
 * producers never take it (but to wake a sleeping writer).
 */
#include "core/history.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/log.h"
#include "core/record.h"
#include "core/run.h"
#include "lib/trigger.h"
#include "lib/u64map.h"
#include "lib/units.h"
#include "lib/utf8.h"
#include "lib/util.h"

#define POLL_NS (10 * NS_PER_MS)
#define IDLE_NS (2 * NS_PER_SEC)
#define HEARTBEAT_NS (5 * NS_PER_SEC)
#define FLUSH_NS (1 * NS_PER_SEC)
#define WARN_EVERY_NS (60 * NS_PER_SEC)
#define RETRY_MAX_NS (5 * NS_PER_SEC)
#define PRUNE_PERIOD_NS (10 * 60 * NS_PER_SEC)
#define PRUNE_BUDGET 500
#define TX_ROWS 4096
#define DRAIN_EVERY 256 /* rows put between two drains of the ring (a power of 2) */
#define FLUSH_BACKLOG 262144 /* summaries waiting: flushed even while rows keep coming */
#define DEFAULT_SLOTS 65536
#define DEFAULT_PENDING 262144

const double history_latency_bounds[HISTORY_LATENCY_BUCKETS] = {
    .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
};

const char *history_op_name(enum history_op op)
{
    static const char *const names[HISTORY_OP_COUNT] = {
        [HISTORY_OP_OPEN] = "open",           [HISTORY_OP_WRITE] = "write",
        [HISTORY_OP_FLUSH] = "flush",         [HISTORY_OP_HEARTBEAT] = "heartbeat",
        [HISTORY_OP_PRUNE] = "prune",         [HISTORY_OP_READ] = "read",
    };
    return (unsigned)op < HISTORY_OP_COUNT ? names[op] : "unknown";
}

/* --- reports ------------------------------------------------------------------- */

enum ev_kind { EV_STARTED = 1, EV_FINISHED, EV_RECORD, EV_SKIPPED };

/* One slot of the ring: 64 bytes. Written by the producer that claimed it,
 * then read by the writer, ordered by `seq`. */
struct event {
    _Atomic uint32_t seq;
    uint8_t kind;
    uint8_t trigger;  /* runs */
    uint8_t result;   /* finished */
    uint8_t reason;   /* skips; records: the level */
    uint16_t attempt; /* runs */
    uint16_t unused;
    uint32_t dropped; /* finished: records left out */
    struct job *job;
    uint64_t id;      /* runs and records: the run id; skips: the count */
    int64_t scheduled;
    int64_t start;    /* runs: start; records: the time of the record */
    union {
        int64_t duration; /* finished */
        uint64_t parent;  /* started: the parent's run (trigger after); 0 = none */
    };
    void *extra;      /* finished: the error text (or NULL); records: struct blob */
};
_Static_assert(sizeof(void *) != 8 || sizeof(struct event) == 64, "a report is a cache line");

/* A record as a producer copies it: the event name (NUL-terminated), then
 * n pairs, each its type (one byte), its key (NUL-terminated) and its
 * value: a string NUL-terminated, anything else its 8 bytes. */
struct blob {
    uint32_t n_pairs;
    char text[];
};

/* --- what waits for the store ----------------------------------------------------- */

/* A row to write. Keys are resolved when the row is taken from the ring;
 * a row whose keys could not be (the store was down) keeps the names. */
struct prow {
    uint64_t id;
    uint32_t job_key, plugin_key;
    bool in_tx;      /* put in the open transaction: a finish arriving now is a row of
                      * its own */
    char *names;     /* unresolved: "job\0plugin\0version\0sha256\0", or NULL */
    struct store_row row;
    char *error;
};

/* A record to write. */
struct prec {
    struct store_record rec;
    char *event;
    char *pairs;
};

/* A run started and not finished, by id: the writer's pending row number
 * + 1 while its start waits (0: written), and its records' next seq. */
#define INFLIGHT(row, seq) ((uint64_t)(seq) << 40 | (uint64_t)(row))
#define INFLIGHT_ROW(v) ((v) & ((UINT64_C(1) << 40) - 1))
#define INFLIGHT_SEQ(v) ((uint32_t)((v) >> 40))

/* Control requests, under `lock`. */
enum ctl_kind { CTL_PAUSE, CTL_HOLD, CTL_CONFIGURE };

struct ctl {
    enum ctl_kind kind;
    struct ctl *next;
    /* CTL_PAUSE: the caller may stop waiting; the last of the two frees */
    int refs;
    bool done;
    int rc;
    char *job_id;
    bool paused;
    int64_t at;
    /* CTL_HOLD */
    struct generation *gen;
    /* CTL_CONFIGURE */
    struct store_retention retention;
    uint64_t output_max;
};

/* A generation the writer keeps alive. */
struct held {
    struct generation *gen;
    bool releasing;   /* nobody else holds it: let go once the head passes `until` */
    uint32_t until;
};

struct history {
    /* The ring: producers touch tail and the slots; the writer head. */
    struct event *slots;
    uint32_t mask;
    _Alignas(64) _Atomic uint32_t tail;
    _Alignas(64) _Atomic uint32_t head; /* written by the writer thread only */
    atomic_bool sleeping;
    _Atomic uint64_t output_max; /* read by producers */

    /* Counters: any thread writes with atomics, readers read them. */
    _Alignas(64) _Atomic uint64_t dropped;
    _Atomic uint64_t errors[HISTORY_OP_COUNT];
    _Atomic uint64_t rows_written, runs_written, records_written;
    _Atomic uint64_t latency[HISTORY_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_count;
    _Atomic int64_t latency_sum_ns;
    _Atomic uint64_t pending_count; /* rows + records waiting in the writer */
    atomic_bool up;

    pthread_mutex_t lock; /* the control list and the waits below */
    pthread_cond_t cond;  /* the writer waits on it */
    pthread_cond_t done;  /* pause requests wait on it */
    struct ctl *ctl_head, **ctl_tail;
    bool stop;
    pthread_t thread;
    bool running;

    /* The writer thread's own state from here on. */
    const struct store_backend *backend;
    struct store_config cfg;
    char *cfg_path, *cfg_label, *cfg_node, *cfg_version;
    struct store *store;   /* NULL while down */
    uint32_t epoch;        /* opens so far: the high half of cached keys */
    struct store_retention retention;
    size_t pending_max;

    struct prow *rows;     /* pending rows: numbers base .. base + n_rows - 1 */
    size_t order[TX_ROWS]; /* a transaction's rows in the order they are put */
    size_t n_rows, cap_rows;
    uint64_t base;
    struct prec *recs;
    size_t n_recs, cap_recs;
    struct u64map inflight;
    struct ctl **pauses;   /* pause requests waiting to be written */
    size_t n_pauses, cap_pauses;
    struct held *held;
    size_t n_held, cap_held;

    int64_t last_activity, next_heartbeat, next_flush, next_retry, retry_ns;
    int64_t next_prune_pass, last_warn;
    bool dirty;            /* committed since the last flush */
    uint64_t commits_since_flush;
    bool pruning;
    uint32_t prune_cursor;
    uint64_t warned_drops;
    void (*on_commit)(void *arg); /* set before the thread starts */
    void *on_commit_arg;
};

/* --- the ring ---------------------------------------------------------------------- */

/* A slot to fill, or NULL when the ring is full (then counted). */
static struct event *claim(struct history *h, uint32_t *pos_out)
{
    uint32_t pos = atomic_load_explicit(&h->tail, memory_order_relaxed);

    for (;;) {
        struct event *e = &h->slots[pos & h->mask];
        uint32_t seq = atomic_load_explicit(&e->seq, memory_order_acquire);
        int32_t diff = (int32_t)(seq - pos);
        if (diff == 0) {
            /* seq_cst: see DESIGN (the writer reads tail before it sleeps) */
            if (atomic_compare_exchange_weak_explicit(&h->tail, &pos, pos + 1,
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                *pos_out = pos;
                return e;
            }
        } else if (diff < 0) {
            atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
            return NULL;
        } else {
            pos = atomic_load_explicit(&h->tail, memory_order_relaxed);
        }
    }
}

static void wake(struct history *h)
{
    pthread_mutex_lock(&h->lock);
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void publish(struct history *h, struct event *e, uint32_t pos)
{
    atomic_store_explicit(&e->seq, pos + 1, memory_order_release);
    if (atomic_load_explicit(&h->sleeping, memory_order_seq_cst) &&
        atomic_exchange_explicit(&h->sleeping, false, memory_order_seq_cst))
        wake(h);
}

static uint32_t head_of(struct history *h)
{
    return atomic_load_explicit(&h->head, memory_order_relaxed);
}

/* The next published slot, or NULL. Writer thread. */
static struct event *peek(struct history *h)
{
    uint32_t head = head_of(h);
    struct event *e = &h->slots[head & h->mask];
    uint32_t seq = atomic_load_explicit(&e->seq, memory_order_acquire);
    return seq == head + 1 ? e : NULL;
}

static void consume(struct history *h, struct event *e)
{
    uint32_t head = head_of(h);
    atomic_store_explicit(&e->seq, head + h->mask + 1, memory_order_release);
    atomic_store_explicit(&h->head, head + 1, memory_order_relaxed);
}

void history_started(struct history *h, const struct run *run)
{
    uint32_t pos;
    struct event *e = claim(h, &pos);

    if (!e)
        return;
    e->kind = EV_STARTED;
    e->trigger = (uint8_t)run->trigger;
    e->attempt = (uint16_t)(run->attempt > UINT16_MAX ? UINT16_MAX : run->attempt);
    e->job = run->job;
    e->id = run->id;
    e->scheduled = run->scheduled_wall_ns;
    e->start = run->start_wall_ns;
    e->parent = run->parent_run_id;
    e->extra = NULL;
    publish(h, e, pos);
}

void history_finished(struct history *h, const struct run *run)
{
    uint32_t pos;
    struct event *e = claim(h, &pos);

    if (!e)
        return;
    e->kind = EV_FINISHED;
    e->trigger = (uint8_t)run->trigger;
    e->result = (uint8_t)run->result;
    e->attempt = (uint16_t)(run->attempt > UINT16_MAX ? UINT16_MAX : run->attempt);
    e->dropped = atomic_load_explicit(&run->output_dropped, memory_order_relaxed);
    e->job = run->job;
    e->id = run->id;
    e->scheduled = run->scheduled_wall_ns;
    e->start = run->start_wall_ns;
    e->duration = run->duration_ns;
    /* the common case, a run without an error, allocates nothing */
    e->extra = run->error[0] ? xstrndup(run->error, strnlen(run->error, RUN_ERROR_MAX - 1))
                             : NULL;
    publish(h, e, pos);
}

static size_t pair_bytes(const struct record_pair *p)
{
    return 1 + strlen(p->key) + 1 + (p->type == RECORD_STR ? strlen(p->v.s) + 1 : 8);
}

void history_record(struct history *h, const struct run *run, const struct outcome_record *rec)
{
    size_t len = strlen(rec->event) + 1, off;
    uint64_t max = atomic_load_explicit(&h->output_max, memory_order_relaxed);
    struct blob *b;
    struct event *e;
    uint32_t pos, before;

    for (size_t i = 0; i < rec->n_pairs; i++)
        len += pair_bytes(&rec->pairs[i]);
    /* what the output of a run may take (its record is ~ this size as JSON) */
    before = atomic_fetch_add_explicit((_Atomic uint32_t *)&run->output_bytes,
                                       (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len),
                                       memory_order_relaxed);
    if ((uint64_t)before + len > max) {
        atomic_fetch_add_explicit((_Atomic uint32_t *)&run->output_dropped, 1,
                                  memory_order_relaxed);
        return;
    }
    b = xmalloc(sizeof(*b) + len);
    b->n_pairs = (uint32_t)rec->n_pairs;
    off = strlen(rec->event) + 1;
    memcpy(b->text, rec->event, off);
    for (size_t i = 0; i < rec->n_pairs; i++) {
        const struct record_pair *p = &rec->pairs[i];
        size_t k = strlen(p->key) + 1;
        b->text[off++] = (char)p->type;
        memcpy(b->text + off, p->key, k);
        off += k;
        if (p->type == RECORD_STR) {
            size_t n = strlen(p->v.s) + 1;
            memcpy(b->text + off, p->v.s, n);
            off += n;
        } else {
            memcpy(b->text + off, &p->v, 8); /* the union's 8 bytes, whatever the type */
            off += 8;
        }
    }
    e = claim(h, &pos);
    if (!e) {
        free(b);
        return;
    }
    e->kind = EV_RECORD;
    e->reason = (uint8_t)rec->level;
    e->job = run->job;
    e->id = run->id;
    e->start = wall_ns();
    e->extra = b;
    publish(h, e, pos);
}

void history_skipped(struct history *h, struct job *job, const struct outcome_skip *skip)
{
    uint32_t pos;
    struct event *e = claim(h, &pos);

    if (!e)
        return;
    e->kind = EV_SKIPPED;
    e->reason = (uint8_t)skip->reason;
    e->trigger = RUN_SCHEDULED;
    e->job = job;
    e->id = skip->count;
    e->scheduled = skip->scheduled_wall_ns;
    e->start = wall_ns();
    e->extra = NULL;
    publish(h, e, pos);
}

/* --- errors ------------------------------------------------------------------------- */

static void count_error(struct history *h, enum history_op op, int rc, const char *what)
{
    int64_t now = mono_ns();

    atomic_fetch_add_explicit(&h->errors[op], 1, memory_order_relaxed);
    atomic_store_explicit(&h->up, false, memory_order_relaxed);
    if (h->last_warn && now - h->last_warn < WARN_EVERY_NS)
        return;
    h->last_warn = now;
    jlog(JH_LOG_WARN, "store_error", "op=%s path=%s error=%s queued=%llu dropped=%llu",
         history_op_name(op), h->cfg_label, what && *what ? what : strerror(-rc),
         (unsigned long long)atomic_load(&h->pending_count),
         (unsigned long long)atomic_load(&h->dropped));
}

static void schedule_retry(struct history *h, int64_t now)
{
    h->retry_ns = h->retry_ns ? h->retry_ns * 2 : NS_PER_SEC;
    if (h->retry_ns > RETRY_MAX_NS)
        h->retry_ns = RETRY_MAX_NS;
    h->next_retry = now + h->retry_ns;
}

static void recovered(struct history *h)
{
    if (h->retry_ns) {
        jlog(JH_LOG_WARN, "store_recovered", "path=%s queued=%llu dropped=%llu", h->cfg_label,
             (unsigned long long)atomic_load(&h->pending_count),
             (unsigned long long)atomic_load(&h->dropped));
        h->last_warn = 0;
    }
    h->retry_ns = 0;
    h->next_retry = 0;
    atomic_store_explicit(&h->up, true, memory_order_relaxed);
}

/* --- keys ------------------------------------------------------------------------------ */

static uint64_t tag(const struct history *h, uint32_t key)
{
    return (uint64_t)h->epoch << 32 | key;
}

static uint32_t cached(const struct history *h, _Atomic uint64_t *slot)
{
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    return v >> 32 == h->epoch ? (uint32_t)v : 0;
}

static int job_key(struct history *h, struct job *job, uint32_t *key)
{
    int rc;

    if ((*key = cached(h, &job->state->store_key)))
        return 0;
    if (!h->store)
        return -ENOTCONN;
    rc = h->store->ops->job_key(h->store, job->spec->id, wall_ns(), key);
    if (rc == 0)
        atomic_store_explicit(&job->state->store_key, tag(h, *key), memory_order_relaxed);
    return rc;
}

static int plugin_key(struct history *h, struct job *job, uint32_t *key)
{
    const struct plugin *p = job->plugin;
    int rc;

    if ((*key = cached(h, &job->plugin->store_key)))
        return 0;
    if (!h->store)
        return -ENOTCONN;
    rc = h->store->ops->plugin_key(h->store, p->desc_name, p->version, p->hash, key);
    if (rc == 0)
        atomic_store_explicit(&job->plugin->store_key, tag(h, *key), memory_order_relaxed);
    return rc;
}

/* --- pending rows --------------------------------------------------------------------- */

static struct prow *row_add(struct history *h)
{
    struct prow *r;

    if (h->n_rows == h->cap_rows) {
        h->cap_rows = h->cap_rows ? 2 * h->cap_rows : 1024;
        h->rows = xrealloc(h->rows, h->cap_rows * sizeof(*h->rows));
    }
    r = &h->rows[h->n_rows++];
    memset(r, 0, sizeof(*r));
    atomic_fetch_add_explicit(&h->pending_count, 1, memory_order_relaxed);
    return r;
}

static struct prow *row_by_number(struct history *h, uint64_t number)
{
    return number >= h->base && number - h->base < h->n_rows ? &h->rows[number - h->base] : NULL;
}

static bool pending_full(struct history *h)
{
    if (h->n_rows + h->n_recs < h->pending_max)
        return false;
    atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
    return true;
}

/* The names a row needs when its keys cannot be had now. */
static char *names_of(struct job *job, bool with_plugin)
{
    struct buf b = {0};
    const struct plugin *p = job->plugin;

    buf_append(&b, job->spec->id, strlen(job->spec->id) + 1);
    if (with_plugin) {
        buf_append(&b, p->desc_name, strlen(p->desc_name) + 1);
        buf_append(&b, p->version, strlen(p->version) + 1);
        buf_append(&b, p->hash, strlen(p->hash) + 1);
    }
    return b.data;
}

static void resolve(struct history *h, struct prow *r, struct job *job, bool with_plugin)
{
    if (job_key(h, job, &r->job_key) < 0 ||
        (with_plugin && plugin_key(h, job, &r->plugin_key) < 0)) {
        r->job_key = r->plugin_key = 0;
        r->names = names_of(job, with_plugin);
    }
}

static void fill_run(struct prow *r, const struct event *e)
{
    r->id = e->id;
    r->row.id = e->id;
    r->row.trigger = (enum run_trigger)e->trigger;
    r->row.attempt = e->attempt ? e->attempt : 1;
    r->row.parent_run_id = e->kind == EV_STARTED ? e->parent : 0;
    r->row.scheduled_ns = e->scheduled;
    r->row.utc_offset = e->scheduled ? trigger_utc_offset(&e->job->spec->trigger, e->scheduled)
                                     : 0;
    r->row.started_ns = e->start;
}

static void finish_row(struct prow *r, const struct event *e)
{
    r->row.result = e->result;
    r->row.finished_ns = e->start + (e->duration > 0 ? e->duration : 0);
    free(r->error);
    r->error = e->extra;
}

static void add_marker(struct history *h, uint64_t run_id, uint32_t seq, int64_t ts,
                       uint32_t dropped)
{
    struct prec *p;
    char text[128];

    if (h->n_recs == h->cap_recs) {
        h->cap_recs = h->cap_recs ? 2 * h->cap_recs : 256;
        h->recs = xrealloc(h->recs, h->cap_recs * sizeof(*h->recs));
    }
    p = &h->recs[h->n_recs++];
    memset(p, 0, sizeof(*p));
    snprintf(text, sizeof(text), "{\"dropped_records\":\"%u\",\"output_max\":\"%llu\"}", dropped,
             (unsigned long long)atomic_load(&h->output_max));
    p->event = xstrdup("output_truncated");
    p->pairs = xstrdup(text);
    p->rec = (struct store_record){.run_id = run_id, .seq = seq, .ts_ns = ts,
                                   .level = JH_LOG_WARN};
    atomic_fetch_add_explicit(&h->pending_count, 1, memory_order_relaxed);
}

/* A copy of s with every byte that is not valid UTF-8 replaced by U+FFFD:
 * JSON holds only UTF-8, and a plugin may log anything. */
static json_t *json_text(const char *s)
{
    size_t len = strlen(s), valid = utf8_valid_prefix(s, len);
    struct buf b = {0};
    json_t *j;

    if (valid == len)
        return json_stringn_nocheck(s, len);
    while (len) {
        size_t n = utf8_seq((const unsigned char *)s, len);
        if (n == 0) {
            buf_append(&b, "\xEF\xBF\xBD", 3);
            n = 1;
        } else {
            buf_append(&b, s, n);
        }
        s += n;
        len -= n;
    }
    j = json_stringn_nocheck(b.data ? b.data : "", b.len);
    buf_free(&b);
    return j;
}

/* One pair's value as JSON: numbers stay numbers, booleans booleans; a
 * duration is written as the log writes it ("0.25s"), and a double JSON
 * cannot hold (NaN, infinities) as its text. */
static json_t *pair_json(struct record_pair *p)
{
    char text[RECORD_TEXT_MAX];

    switch (p->type) {
    case RECORD_STR:
        return json_text(p->v.s);
    case RECORD_INT:
        return json_integer((json_int_t)p->v.i);
    case RECORD_UINT:
        return p->v.u <= INT64_MAX ? json_integer((json_int_t)p->v.u)
                                   : json_string(record_value_text(p, text));
    case RECORD_F64:
        return isfinite(p->v.f) ? json_real(p->v.f) : json_string(record_value_text(p, text));
    case RECORD_BOOL:
        return json_boolean(p->v.b);
    default:
        return json_string(record_value_text(p, text));
    }
}

static void take_record(struct history *h, struct event *e, uint32_t seq)
{
    struct blob *b = e->extra;
    const char *p = b->text;
    json_t *pairs = json_object();
    struct prec *r;

    p += strlen(p) + 1;
    for (uint32_t i = 0; i < b->n_pairs; i++) {
        struct record_pair pair = {.type = (enum record_type)(unsigned char)*p++};
        pair.key = p;
        p += strlen(p) + 1;
        if (pair.type == RECORD_STR) {
            pair.v.s = p;
            p += strlen(p) + 1;
        } else {
            memcpy(&pair.v, p, 8);
            p += 8;
        }
        /* keys follow core/record.h's rules: valid object keys as they are */
        json_object_set_new_nocheck(pairs, pair.key, pair_json(&pair));
    }
    if (h->n_recs == h->cap_recs) {
        h->cap_recs = h->cap_recs ? 2 * h->cap_recs : 256;
        h->recs = xrealloc(h->recs, h->cap_recs * sizeof(*h->recs));
    }
    r = &h->recs[h->n_recs++];
    memset(r, 0, sizeof(*r));
    {
        json_t *ev = json_text(b->text);
        r->event = xstrdup(json_string_value(ev));
        json_decref(ev);
    }
    r->pairs = json_dumps(pairs, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!r->pairs)
        r->pairs = xstrdup("{}");
    json_decref(pairs);
    r->rec = (struct store_record){.run_id = e->id, .seq = seq, .ts_ns = e->start,
                                   .level = e->reason};
    atomic_fetch_add_explicit(&h->pending_count, 1, memory_order_relaxed);
    free(b);
}

/* One report from the ring into the pending rows. */
static void take(struct history *h, struct event *e)
{
    uint64_t v = 0;
    bool known = u64map_get(&h->inflight, e->id, &v);
    struct prow *r;

    switch (e->kind) {
    case EV_STARTED:
        if (pending_full(h))
            break;
        r = row_add(h);
        fill_run(r, e);
        r->row.result = STORE_RESULT_RUNNING;
        resolve(h, r, e->job, true);
        u64map_put(&h->inflight, e->id, INFLIGHT(h->base + h->n_rows, 0));
        break;
    case EV_RECORD:
        if (pending_full(h)) {
            free(e->extra);
            break;
        }
        take_record(h, e, INFLIGHT_SEQ(v));
        /* a record of a run whose start was dropped still gets its number */
        u64map_put(&h->inflight, e->id, INFLIGHT(known ? INFLIGHT_ROW(v) : 0, INFLIGHT_SEQ(v) + 1));
        break;
    case EV_FINISHED:
        r = known && INFLIGHT_ROW(v) ? row_by_number(h, INFLIGHT_ROW(v) - 1) : NULL;
        if (r && r->in_tx)
            r = NULL; /* its start is being written: the finish follows it */
        if (!r) {
            /* its start is written (or was dropped): the finish is a row of
             * its own, complete, so it stands even without the start */
            if (pending_full(h)) {
                free(e->extra);
                break;
            }
            r = row_add(h);
            fill_run(r, e);
            r->row.start_written = known;
            resolve(h, r, e->job, true);
        }
        finish_row(r, e);
        if (e->dropped)
            add_marker(h, e->id, INFLIGHT_SEQ(v), r->row.finished_ns, e->dropped);
        u64map_del(&h->inflight, e->id, NULL);
        break;
    case EV_SKIPPED:
        if (pending_full(h))
            break;
        r = row_add(h);
        r->id = run_new_id();
        r->row.id = r->id;
        r->row.result = STORE_RESULT_SKIPPED;
        r->row.trigger = RUN_SCHEDULED;
        r->row.reason = (enum skip_reason)e->reason;
        r->row.count = e->id;
        r->row.scheduled_ns = e->scheduled;
        r->row.utc_offset =
            e->scheduled ? trigger_utc_offset(&e->job->spec->trigger, e->scheduled) : 0;
        resolve(h, r, e->job, false);
        break;
    default:
        break;
    }
}

/* Takes what the ring holds; returns how many reports. */
static size_t drain(struct history *h)
{
    size_t n = 0;
    struct event *e;

    while ((e = peek(h))) {
        take(h, e);
        consume(h, e);
        n++;
    }
    return n;
}

/* --- writing --------------------------------------------------------------------------- */

static void observe_latency(struct history *h, int64_t ns)
{
    size_t i = 0;

    while (i < HISTORY_LATENCY_BUCKETS && (double)ns / 1e9 > history_latency_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->latency[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->latency_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->latency_sum_ns, ns, memory_order_relaxed);
}

/* A row whose keys were not known when it was taken. */
static int resolve_late(struct history *h, struct prow *r)
{
    const char *job = r->names, *plugin, *version, *sha;
    int rc = h->store->ops->job_key(h->store, job, wall_ns(), &r->job_key);

    if (rc == 0 && r->row.result != STORE_RESULT_SKIPPED) {
        plugin = job + strlen(job) + 1;
        version = plugin + strlen(plugin) + 1;
        sha = version + strlen(version) + 1;
        rc = h->store->ops->plugin_key(h->store, plugin, version, sha, &r->plugin_key);
    }
    if (rc == 0) {
        free(r->names);
        r->names = NULL;
    }
    return rc;
}

static void rows_release(struct history *h, size_t n_rows, size_t n_recs)
{
    for (size_t i = 0; i < n_rows; i++) {
        free(h->rows[i].error);
        free(h->rows[i].names);
    }
    if (h->n_rows > n_rows)
        memmove(h->rows, h->rows + n_rows, (h->n_rows - n_rows) * sizeof(*h->rows));
    h->n_rows -= n_rows;
    h->base += n_rows;
    for (size_t i = 0; i < n_recs; i++) {
        free(h->recs[i].event);
        free(h->recs[i].pairs);
    }
    if (h->n_recs > n_recs)
        memmove(h->recs, h->recs + n_recs, (h->n_recs - n_recs) * sizeof(*h->recs));
    h->n_recs -= n_recs;
    atomic_fetch_sub_explicit(&h->pending_count, n_rows + n_recs, memory_order_relaxed);
}

/* Rows in job order: a transaction's index entries then land side by
 * side in the store's per-job index instead of all over it. The same
 * job's rows keep their order. */
static int by_job(const void *a, const void *b, void *arg)
{
    const struct prow *rows = arg;
    const struct prow *x = &rows[*(const size_t *)a], *y = &rows[*(const size_t *)b];

    if (x->job_key != y->job_key)
        return x->job_key < y->job_key ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* One transaction of up to TX_ROWS rows and records, and the pauses
 * waiting. 0, or the failure (then nothing of it happened). */
static int write_some(struct history *h)
{
    const struct store_ops *ops = h->store->ops;
    size_t n_rows = h->n_rows < TX_ROWS ? h->n_rows : TX_ROWS;
    size_t n_recs = h->n_recs < TX_ROWS ? h->n_recs : TX_ROWS;
    uint64_t finished = 0;
    int64_t t0 = mono_ns();
    int rc = ops->begin(h->store);

    for (size_t i = 0; i < n_rows && rc == 0; i++) {
        h->order[i] = i;
        if (h->rows[i].names)
            rc = resolve_late(h, &h->rows[i]);
    }
    if (rc == 0)
        qsort_r(h->order, n_rows, sizeof(*h->order), by_job, h->rows);
    for (size_t k = 0; k < n_rows && rc == 0; k++) {
        struct prow *r;
        if ((k & (DRAIN_EVERY - 1)) == DRAIN_EVERY - 1)
            drain(h); /* the ring keeps flowing while SQLite works (rows may move) */
        r = &h->rows[h->order[k]];
        r->in_tx = true; /* a finish arriving from now on is a row of its own */
        r->row.job = r->job_key;
        r->row.plugin = r->plugin_key;
        r->row.error = r->error;
        rc = ops->put_row(h->store, &r->row);
        if (r->row.result >= 0)
            finished++;
    }
    for (size_t i = 0; i < n_recs && rc == 0; i++) {
        h->recs[i].rec.event = h->recs[i].event;
        h->recs[i].rec.pairs = h->recs[i].pairs;
        rc = ops->put_record(h->store, &h->recs[i].rec);
    }
    for (size_t i = 0; i < h->n_pauses && rc == 0; i++) {
        struct ctl *c = h->pauses[i];
        uint32_t key;
        rc = ops->job_key(h->store, c->job_id, wall_ns(), &key);
        if (rc == 0)
            rc = ops->set_paused(h->store, key, c->paused, c->at);
    }
    if (rc == 0)
        rc = ops->commit(h->store);
    if (rc < 0) {
        ops->rollback(h->store);
        for (size_t i = 0; i < n_rows; i++)
            h->rows[i].in_tx = false;
        return rc;
    }
    observe_latency(h, mono_ns() - t0);
    /* rows whose start was pending now have it written */
    for (size_t i = 0; i < n_rows; i++) {
        uint64_t v;
        if (h->rows[i].row.result == STORE_RESULT_RUNNING &&
            u64map_get(&h->inflight, h->rows[i].id, &v) && INFLIGHT_ROW(v))
            u64map_put(&h->inflight, h->rows[i].id, INFLIGHT(0, INFLIGHT_SEQ(v)));
    }
    atomic_fetch_add_explicit(&h->rows_written, n_rows, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->runs_written, finished, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->records_written, n_recs, memory_order_relaxed);
    rows_release(h, n_rows, n_recs);
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_pauses; i++) {
        struct ctl *c = h->pauses[i];
        c->done = true;
        c->rc = 0;
        if (--c->refs == 0) {
            free(c->job_id);
            free(c);
        }
    }
    h->n_pauses = 0;
    pthread_cond_broadcast(&h->done);
    pthread_mutex_unlock(&h->lock);
    h->dirty = true;
    h->commits_since_flush++;
    return 0;
}

/* --- the store's life ------------------------------------------------------------------ */

static void store_down(struct history *h)
{
    if (h->store) {
        h->store->ops->close(h->store);
        h->store = NULL;
    }
    /* runs whose start was written into the old file: their finishes are
     * complete rows, written as such */
}

static void try_open(struct history *h, int64_t now)
{
    char err[512] = "";
    struct store_restore r = {.now_ns = wall_ns(), .keep_open_runs = true};
    int rc;

    if (h->store || now < h->next_retry)
        return;
    rc = h->backend->open(&h->cfg, &h->store, err, sizeof(err));
    if (rc == 0)
        rc = h->store->ops->restore(h->store, &r, err, sizeof(err));
    store_restore_free(&r);
    if (rc < 0) {
        store_down(h);
        count_error(h, HISTORY_OP_OPEN, rc, err);
        schedule_retry(h, now);
        return;
    }
    h->epoch++;
    h->next_heartbeat = now + HEARTBEAT_NS;
    jlog(JH_LOG_INFO, "store_opened", "path=%s", h->cfg_label);
    recovered(h);
}

static void heartbeat(struct history *h, int64_t now, bool stopping)
{
    int rc;

    h->next_heartbeat = now + HEARTBEAT_NS;
    if (!h->store)
        return;
    rc = h->store->ops->check(h->store);
    if (rc == -ESTALE) {
        jlog(JH_LOG_WARN, "store_replaced", "path=%s error=%s", h->cfg_label,
             "the store was lost (its file removed or replaced, or its connection dropped): "
             "opening it again");
        store_down(h);
        h->next_retry = 0;
        try_open(h, now);
        if (!h->store)
            return;
    }
    rc = h->store->ops->heartbeat(h->store, wall_ns(), stopping);
    if (rc < 0)
        count_error(h, HISTORY_OP_HEARTBEAT, rc, h->store->ops->error(h->store));
    if (h->on_commit)
        h->on_commit(h->on_commit_arg); /* followers look again, at least this often */
}

static void flush(struct history *h, int64_t now)
{
    int rc;

    h->next_flush = now + FLUSH_NS;
    if (!h->store || !h->dirty)
        return;
    rc = h->store->ops->flush(h->store);
    if (rc < 0) {
        count_error(h, HISTORY_OP_FLUSH, rc, h->store->ops->error(h->store));
        return;
    }
    h->dirty = false;
    h->commits_since_flush = 0;
}

static void prune_step(struct history *h, int64_t now)
{
    struct store_prune_stats st = {0};
    int rc;

    if (!h->store)
        return;
    if (!h->pruning) {
        if (now < h->next_prune_pass)
            return;
        h->pruning = true;
        h->prune_cursor = 0;
    }
    rc = h->store->ops->prune(h->store, &h->retention, wall_ns(), &h->prune_cursor,
                              PRUNE_BUDGET, false, &st);
    if (rc < 0) {
        count_error(h, HISTORY_OP_PRUNE, rc, h->store->ops->error(h->store));
        h->pruning = false;
        h->next_prune_pass = now + RETRY_MAX_NS;
        return;
    }
    if (rc == 0) {
        h->pruning = false;
        h->next_prune_pass = now + PRUNE_PERIOD_NS;
    }
}

/* --- control ----------------------------------------------------------------------------- */

static void ctl_push(struct history *h, struct ctl *c)
{
    pthread_mutex_lock(&h->lock);
    c->next = NULL;
    *h->ctl_tail = c;
    h->ctl_tail = &c->next;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void take_controls(struct history *h)
{
    struct ctl *list;

    pthread_mutex_lock(&h->lock);
    list = h->ctl_head;
    h->ctl_head = NULL;
    h->ctl_tail = &h->ctl_head;
    pthread_mutex_unlock(&h->lock);
    while (list) {
        struct ctl *c = list;
        list = c->next;
        switch (c->kind) {
        case CTL_PAUSE:
            if (h->n_pauses == h->cap_pauses) {
                h->cap_pauses = h->cap_pauses ? 2 * h->cap_pauses : 8;
                h->pauses = xrealloc(h->pauses, h->cap_pauses * sizeof(*h->pauses));
            }
            h->pauses[h->n_pauses++] = c;
            continue; /* freed once written */
        case CTL_HOLD:
            if (h->n_held == h->cap_held) {
                h->cap_held = h->cap_held ? 2 * h->cap_held : 8;
                h->held = xrealloc(h->held, h->cap_held * sizeof(*h->held));
            }
            h->held[h->n_held++] = (struct held){.gen = c->gen};
            break;
        case CTL_CONFIGURE:
            h->retention = c->retention;
            atomic_store_explicit(&h->output_max, c->output_max, memory_order_relaxed);
            h->pruning = false;
            h->next_prune_pass = 0; /* a new pass, now */
            break;
        }
        free(c);
    }
}

/* Lets go of the generations nobody else holds, once the reports about
 * their jobs are all taken (see history.h). */
static void release_generations(struct history *h)
{
    for (size_t i = 0; i < h->n_held;) {
        struct held *g = &h->held[i];
        if (!g->releasing && atomic_load_explicit(&g->gen->refs, memory_order_acquire) == 1) {
            g->releasing = true;
            g->until = atomic_load_explicit(&h->tail, memory_order_acquire);
        }
        if (g->releasing && (int32_t)(head_of(h) - g->until) >= 0) {
            generation_unref(g->gen);
            h->held[i] = h->held[--h->n_held];
            continue;
        }
        i++;
    }
}

/* --- the thread ----------------------------------------------------------------------------- */

static bool has_work(struct history *h)
{
    return h->n_rows || h->n_recs || h->n_pauses;
}

/* Waits for reports, a control or the next timer (see DESIGN). */
static void wait_for_work(struct history *h, int64_t now)
{
    int64_t until = h->next_heartbeat;
    bool deep = now - h->last_activity >= IDLE_NS;
    struct timespec ts;

    if (h->dirty && h->next_flush < until)
        until = h->next_flush;
    if (has_work(h) && h->next_retry && h->next_retry < until)
        until = h->next_retry;
    if (!h->store && h->next_retry && h->next_retry < until)
        until = h->next_retry;
    if (!deep && now + POLL_NS < until)
        until = now + POLL_NS;
    if ((h->pruning && h->store && !has_work(h)) || until <= now)
        return; /* retention goes on while nothing else waits */
    ts.tv_sec = until / NS_PER_SEC;
    ts.tv_nsec = until % NS_PER_SEC;
    pthread_mutex_lock(&h->lock);
    if (deep) {
        /* producers wake us from now on: seq_cst, against their claim */
        atomic_store_explicit(&h->sleeping, true, memory_order_seq_cst);
        if (atomic_load_explicit(&h->tail, memory_order_seq_cst) != head_of(h)) {
            atomic_store_explicit(&h->sleeping, false, memory_order_seq_cst);
            pthread_mutex_unlock(&h->lock);
            return;
        }
    }
    while (!h->stop && !h->ctl_head) {
        if (deep && !atomic_load_explicit(&h->sleeping, memory_order_seq_cst))
            break; /* a producer woke us */
        if (pthread_cond_timedwait(&h->cond, &h->lock, &ts) == ETIMEDOUT)
            break;
    }
    atomic_store_explicit(&h->sleeping, false, memory_order_seq_cst);
    pthread_mutex_unlock(&h->lock);
}

static void *writer_main(void *arg)
{
    struct history *h = arg;
    bool stopping;

    prctl(PR_SET_NAME, "jobhost-store", 0, 0, 0);
    for (;;) {
        int64_t now = mono_ns();

        if (drain(h))
            h->last_activity = now;
        take_controls(h);
        pthread_mutex_lock(&h->lock);
        stopping = h->stop;
        pthread_mutex_unlock(&h->lock);
        if (!h->store)
            try_open(h, now);
        while (h->store && has_work(h) && (!h->next_retry || now >= h->next_retry)) {
            int rc = write_some(h);
            if (rc < 0) {
                count_error(h, HISTORY_OP_WRITE, rc, h->store->ops->error(h->store));
                schedule_retry(h, now);
                if (rc == -EILSEQ || rc == -EIO || rc == -ESTALE)
                    store_down(h); /* opened again at the next try */
                break;
            }
            recovered(h);
            if (h->on_commit)
                h->on_commit(h->on_commit_arg);
            h->last_activity = now = mono_ns();
            drain(h); /* what came in meanwhile, before the ring fills */
        }
        release_generations(h);
        now = mono_ns();
        /* summaries are derived data: written when nothing waits, so a
         * burst's last commit is not held up by them */
        if (h->dirty && now >= h->next_flush &&
            (!has_work(h) || h->commits_since_flush * TX_ROWS >= FLUSH_BACKLOG))
            flush(h, now);
        if (now >= h->next_heartbeat)
            heartbeat(h, now, false);
        if (stopping) {
            bool empty = atomic_load(&h->tail) == head_of(h) && !h->ctl_head;
            if (empty && (!has_work(h) || !h->store || now < h->next_retry))
                break; /* written out, or the store fails: what is left is lost */
            continue;
        }
        if (!has_work(h))
            prune_step(h, now);
        wait_for_work(h, mono_ns());
    }
    h->dirty = true;
    flush(h, mono_ns());
    heartbeat(h, mono_ns(), true);
    if (has_work(h))
        jlog(JH_LOG_ERROR, "store_lost", "path=%s rows=%zu records=%zu error=%s", h->cfg_label,
             h->n_rows, h->n_recs, "the store could not take them before the daemon stopped");
    return NULL;
}

/* --- the face ------------------------------------------------------------------------------ */

struct history *history_new(const struct history_config *cfg, struct store *store)
{
    struct history *h = xcalloc(1, sizeof(*h));
    unsigned slots = cfg->queue_slots ? cfg->queue_slots : DEFAULT_SLOTS;
    uint32_t n = 64;

    while (n < slots && n < (UINT32_C(1) << 30))
        n *= 2;
    h->slots = xcalloc(n, sizeof(*h->slots));
    h->mask = n - 1;
    for (uint32_t i = 0; i < n; i++)
        atomic_init(&h->slots[i].seq, i);
    atomic_init(&h->tail, 0);
    atomic_init(&h->sleeping, false);
    atomic_init(&h->output_max, cfg->output_max);
    atomic_init(&h->up, store != NULL);
    pthread_mutex_init(&h->lock, NULL);
    cond_init_mono(&h->cond);
    cond_init_mono(&h->done);
    h->ctl_tail = &h->ctl_head;
    h->backend = cfg->backend;
    h->cfg = cfg->store_cfg;
    h->cfg_path = xstrdup(cfg->store_cfg.path);
    h->cfg_label = xstrdup(cfg->store_cfg.label ? cfg->store_cfg.label : cfg->store_cfg.path);
    h->cfg_node = cfg->store_cfg.node ? xstrdup(cfg->store_cfg.node) : NULL;
    h->cfg_version = cfg->store_cfg.version ? xstrdup(cfg->store_cfg.version) : NULL;
    h->cfg.path = h->cfg_path;
    h->cfg.node = h->cfg_node;
    h->cfg.version = h->cfg_version;
    h->store = store;
    h->epoch = HISTORY_FIRST_EPOCH;
    h->retention = cfg->retention;
    h->pending_max = cfg->pending_max ? cfg->pending_max : DEFAULT_PENDING;
    if (!store)
        h->next_retry = mono_ns() + NS_PER_SEC;
    return h;
}

int history_start(struct history *h)
{
    int rc;

    h->next_heartbeat = mono_ns() + HEARTBEAT_NS;
    h->last_activity = mono_ns();
    rc = pthread_create(&h->thread, NULL, writer_main, h);
    if (rc != 0)
        return -rc;
    h->running = true;
    return 0;
}

void history_hold(struct history *h, struct generation *g)
{
    struct ctl *c = xcalloc(1, sizeof(*c));

    generation_ref(g); /* now: a run of g may report before the writer looks */
    c->kind = CTL_HOLD;
    c->gen = g;
    if (!h->running) {
        /* before the thread starts: straight into its list */
        c->next = NULL;
        *h->ctl_tail = c;
        h->ctl_tail = &c->next;
        return;
    }
    ctl_push(h, c);
}

void history_configure(struct history *h, const struct store_retention *r, uint64_t output_max)
{
    struct ctl *c = xcalloc(1, sizeof(*c));

    c->kind = CTL_CONFIGURE;
    c->retention = *r;
    c->output_max = output_max;
    ctl_push(h, c);
}

int history_set_paused(struct history *h, const char *job_id, bool paused, int64_t at_ns,
                       int64_t wait_ns)
{
    struct ctl *c = xcalloc(1, sizeof(*c));
    struct timespec ts;
    int64_t until = mono_ns() + wait_ns;
    int rc;

    c->kind = CTL_PAUSE;
    c->refs = 2;
    c->job_id = xstrdup(job_id);
    c->paused = paused;
    c->at = at_ns;
    ctl_push(h, c);
    ts.tv_sec = until / NS_PER_SEC;
    ts.tv_nsec = until % NS_PER_SEC;
    pthread_mutex_lock(&h->lock);
    while (!c->done)
        if (pthread_cond_timedwait(&h->done, &h->lock, &ts) == ETIMEDOUT)
            break;
    rc = c->done ? c->rc : -ETIMEDOUT;
    if (--c->refs == 0) {
        free(c->job_id);
        free(c);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void history_stop(struct history *h)
{
    if (!h)
        return;
    if (h->running) {
        pthread_mutex_lock(&h->lock);
        h->stop = true;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->thread, NULL);
        h->running = false;
    }
    take_controls(h); /* holds that came late */
    for (size_t i = 0; i < h->n_held; i++)
        generation_unref(h->held[i].gen);
    h->n_held = 0;
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->n_pauses; i++) {
        struct ctl *c = h->pauses[i];
        c->done = true;
        c->rc = -EIO;
        if (--c->refs == 0) {
            free(c->job_id);
            free(c);
        }
    }
    h->n_pauses = 0;
    pthread_cond_broadcast(&h->done);
    pthread_mutex_unlock(&h->lock);
}

void history_free(struct history *h)
{
    if (!h)
        return;
    history_stop(h);
    store_down(h);
    /* reports never taken (the writer stopped with the store down) */
    for (struct event *e; (e = peek(h));) {
        free(e->extra);
        consume(h, e);
    }
    rows_release(h, h->n_rows, h->n_recs);
    free(h->rows);
    free(h->recs);
    free(h->pauses);
    free(h->held);
    u64map_free(&h->inflight);
    free(h->slots);
    free(h->cfg_path);
    free(h->cfg_label);
    free(h->cfg_node);
    free(h->cfg_version);
    pthread_cond_destroy(&h->cond);
    pthread_cond_destroy(&h->done);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void history_stats(struct history *h, struct history_stats *out)
{
    uint64_t sum = 0;
    uint32_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);

    memset(out, 0, sizeof(*out));
    out->up = atomic_load_explicit(&h->up, memory_order_relaxed);
    /* head is the writer's; a stale read only makes the depth a little off */
    out->queued = atomic_load_explicit(&h->pending_count, memory_order_relaxed);
    out->queued += (uint32_t)(tail - head_of(h));
    out->dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    for (int i = 0; i < HISTORY_OP_COUNT; i++)
        out->errors[i] = atomic_load_explicit(&h->errors[i], memory_order_relaxed);
    out->rows = atomic_load_explicit(&h->rows_written, memory_order_relaxed);
    out->runs_finished = atomic_load_explicit(&h->runs_written, memory_order_relaxed);
    out->records = atomic_load_explicit(&h->records_written, memory_order_relaxed);
    for (int i = 0; i <= HISTORY_LATENCY_BUCKETS; i++)
        out->latency[i] = sum += atomic_load_explicit(&h->latency[i], memory_order_relaxed);
    out->latency_count = atomic_load_explicit(&h->latency_count, memory_order_relaxed);
    out->latency_sum_ns = atomic_load_explicit(&h->latency_sum_ns, memory_order_relaxed);
}

void history_on_commit(struct history *h, void (*fn)(void *arg), void *arg)
{
    h->on_commit = fn;
    h->on_commit_arg = arg;
}

void history_count_read_error(struct history *h)
{
    atomic_fetch_add_explicit(&h->errors[HISTORY_OP_READ], 1, memory_order_relaxed);
}
