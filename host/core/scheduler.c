/*
 * scheduler — the timer heap and the dispatcher thread. See scheduler.h.
 *
 * DESIGN. One dispatcher thread sleeps in epoll_wait on three fds: a
 * CLOCK_MONOTONIC timerfd armed for the earliest entry of the heap (its wall
 * time turned into a monotonic deadline), an eventfd other threads write to
 * when they change the plan (reload) or ask it to stop, and a CLOCK_REALTIME
 * timerfd set far in the future with TFD_TIMER_CANCEL_ON_SET, which never
 * fires but is cancelled (ECANCELED) the moment the wall clock is stepped:
 * the dispatcher then calls scheduler_clock_stepped() and plans again.
 * There is no periodic tick: with nothing due the thread does not wake. `lock` guards the heap, the live generation and
 * the per-job plan fields; submissions to the executor happen with it held
 * (the executor only takes its own short lock).
 *
 * Retries (scheduler_retry) come from workers, which must not take `lock`
 * (no observer takes it: see host/README.md): they land in an inbox under
 * a leaf lock of its own and the eventfd wakes the dispatcher, which moves
 * them, under `lock`, into a short list of waiting retries sorted by due
 * time, beside the heap of plans. Few jobs have a retry waiting at once,
 * so the plans' heap keeps its small entries.
 */
#include "core/scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/executor.h"
#include "core/generation.h"
#include "core/log.h"
#include "core/outcome.h"
#include "lib/trigger.h"
#include "lib/units.h"
#include "lib/util.h"

/* Runs handed to the executor at once when many are due together: large
 * enough to save lock rounds, small enough that the first run starts early. */
#define SUBMIT_CHUNK 256

/* The dispatcher wakes this long before a firing and queues it to start at
 * its time: the worker that takes it sleeps to the instant on its own timer,
 * so a firing's start costs one thread's wake-up, not the dispatcher's and
 * then a hand-off's (a hand-off to a sleeping thread took up to ~1 ms at
 * the 99th percentile on a 2-vCPU VM). Nothing wakes earlier for it. */
#define WAKE_AHEAD_NS (2 * NS_PER_MS)

/* Firings counted one by one before the count of a long gap is estimated. */
#define MAX_ENUMERATED_MISSES 1024

struct entry {
    int64_t due; /* when to fire: the plan's nominal time (job->state) + jitter */
    struct job *job;
};

/* A retry waiting for its time. */
struct retry_entry {
    int64_t due;
    int64_t scheduled; /* of the failed firing; 0 = none */
    struct job *job;   /* of the scheduler's generation */
    unsigned attempt;
};

/* A retry, or a chained run, asked for by a worker, not yet taken in. */
struct retry_request {
    char *id;
    int64_t scheduled, due;
    unsigned attempt;       /* 0: a chained run */
    uint64_t parent_run_id; /* a chained run's parent */
};

struct scheduler {
    struct scheduler_opts opts;
    pthread_mutex_t lock;
    struct generation *gen; /* under lock; one reference */
    struct entry *heap;     /* under lock; min-heap on due */
    size_t n, cap;
    uint64_t rng;           /* under lock; jitter */
    struct run_request *batch; /* under lock: runs due in this advance */
    size_t n_batch, cap_batch;
    int timer_fd, step_fd, wake_fd, epoll_fd;
    int64_t wall_minus_mono; /* under lock: the dispatcher's last reading, to turn due
                                times into worker deadlines */
    pthread_t thread;
    bool running;
    bool stop;              /* under lock */
    struct retry_entry *retries; /* under lock; sorted by due, at most one per job */
    size_t n_retries, cap_retries;
    pthread_mutex_t inbox_lock;  /* a leaf lock: guards the inbox only */
    struct retry_request *inbox;
    size_t n_inbox, cap_inbox;
};

/* ---- heap ------------------------------------------------------------------ */

static void heap_swap(struct entry *a, struct entry *b)
{
    struct entry t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(struct scheduler *s, struct entry e)
{
    size_t i;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->heap = xrealloc(s->heap, s->cap * sizeof(*s->heap));
    }
    i = s->n++;
    s->heap[i] = e;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent].due <= s->heap[i].due)
            break;
        heap_swap(&s->heap[parent], &s->heap[i]);
        i = parent;
    }
}

static void heap_sift_down(struct scheduler *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n && s->heap[l].due < s->heap[m].due)
            m = l;
        if (r < s->n && s->heap[r].due < s->heap[m].due)
            m = r;
        if (m == i)
            return;
        heap_swap(&s->heap[m], &s->heap[i]);
        i = m;
    }
}

static struct entry heap_pop(struct scheduler *s)
{
    struct entry top = s->heap[0];
    s->heap[0] = s->heap[--s->n];
    heap_sift_down(s, 0);
    return top;
}

static void heap_build(struct scheduler *s)
{
    for (size_t i = s->n / 2; i-- > 0;)
        heap_sift_down(s, i);
}

static void wake_dispatcher(struct scheduler *s);
static void submit_opts(struct scheduler *s, struct job *job, const struct run_opts *ro);

/* ---- waiting retries ------------------------------------------------------- */

static void retry_show(struct job *job, unsigned attempt, int64_t due)
{
    atomic_store_explicit(&job->state->retry_attempt, attempt, memory_order_relaxed);
    atomic_store_explicit(&job->state->retry_due_wall_ns, due, memory_order_relaxed);
}

static void retry_dropped(struct job *job, const char *id, unsigned attempt, const char *why)
{
    if (job)
        retry_show(job, 0, 0);
    jlog(JH_LOG_WARN, "retry_dropped", "job=%s attempt=%u reason=%s", id, attempt, why);
}

/* Removes waiting retry i. Under lock. */
static struct retry_entry retry_remove(struct scheduler *s, size_t i)
{
    struct retry_entry e = s->retries[i];
    memmove(&s->retries[i], &s->retries[i + 1], (s->n_retries - i - 1) * sizeof(e));
    s->n_retries--;
    return e;
}

/* Makes e the job's waiting retry, in due order, replacing any other. */
static void retry_put(struct scheduler *s, struct retry_entry e)
{
    size_t i;

    for (i = 0; i < s->n_retries; i++) {
        if (s->retries[i].job->state == e.job->state) {
            (void)retry_remove(s, i); /* the later failure's retry wins */
            break;
        }
    }
    if (s->n_retries == s->cap_retries) {
        s->cap_retries = s->cap_retries ? 2 * s->cap_retries : 16;
        s->retries = xrealloc(s->retries, s->cap_retries * sizeof(*s->retries));
    }
    for (i = s->n_retries; i > 0 && s->retries[i - 1].due > e.due; i--)
        s->retries[i] = s->retries[i - 1];
    s->retries[i] = e;
    s->n_retries++;
    retry_show(e.job, e.attempt, e.due);
}

/* Can `job` take a retry? Its reason why not, else NULL. */
static const char *retry_refused(const struct job *job)
{
    if (!job)
        return "the job left the configuration";
    if (!job->spec->retry)
        return "the job no longer retries";
    if (!job->spec->enabled)
        return "the job is disabled";
    return NULL;
}

/* A chained run of `job` (NULL: gone with a reload), now. Under lock. */
static void chain_run(struct scheduler *s, struct job *job, uint64_t parent_run_id)
{
    struct run_opts ro = {.trigger = RUN_AFTER, .dry_run = s->opts.dry_run, .attempt = 1,
                          .parent_run_id = parent_run_id};

    if (!job || !job->spec->enabled || !job->spec->after)
        return;
    if (atomic_load_explicit(&job->state->paused, memory_order_relaxed)) {
        outcome_skipped(job, SKIP_PAUSED, 0, 1);
        return;
    }
    submit_opts(s, job, &ro);
}

/* Takes in the retries and chained runs the workers asked for. Under
 * lock. */
static void take_inbox(struct scheduler *s)
{
    struct retry_request *in;
    size_t n;

    pthread_mutex_lock(&s->inbox_lock);
    in = s->inbox;
    n = s->n_inbox;
    s->inbox = NULL;
    s->n_inbox = s->cap_inbox = 0;
    pthread_mutex_unlock(&s->inbox_lock);
    for (size_t i = 0; i < n; i++) {
        struct job *job = s->gen ? generation_find_job(s->gen, in[i].id) : NULL;
        const char *why = retry_refused(job);

        if (!in[i].attempt) {
            chain_run(s, job, in[i].parent_run_id);
            free(in[i].id);
            continue;
        }
        if (why)
            retry_dropped(job, in[i].id, in[i].attempt, why);
        else
            retry_put(s, (struct retry_entry){.due = in[i].due, .scheduled = in[i].scheduled,
                                              .job = job, .attempt = in[i].attempt});
        free(in[i].id);
    }
    free(in);
}

/* The waiting retries move to the jobs of `g`, the new generation; those
 * whose job it no longer retries are dropped. Under lock. */
static void carry_retries(struct scheduler *s, struct generation *g)
{
    size_t kept = 0;

    for (size_t i = 0; i < s->n_retries; i++) {
        struct retry_entry e = s->retries[i];
        struct job *job = generation_find_job(g, e.job->spec->id);
        const char *why = retry_refused(job);

        if (why) {
            retry_dropped(e.job, e.job->spec->id, e.attempt, why);
            continue;
        }
        e.job = job;
        s->retries[kept++] = e;
    }
    s->n_retries = kept;
}

static void inbox_put(struct scheduler *s, struct retry_request rq);

void scheduler_retry(struct scheduler *s, const char *job_id, unsigned attempt,
                     int64_t scheduled_wall_ns, int64_t due_wall_ns)
{
    inbox_put(s, (struct retry_request){.id = xstrdup(job_id), .scheduled = scheduled_wall_ns,
                                        .due = due_wall_ns, .attempt = attempt > 1 ? attempt : 2});
}

void scheduler_chain(struct scheduler *s, const char *job_id, uint64_t parent_run_id)
{
    inbox_put(s, (struct retry_request){.id = xstrdup(job_id), .parent_run_id = parent_run_id});
}

static void inbox_put(struct scheduler *s, struct retry_request rq)
{

    pthread_mutex_lock(&s->inbox_lock);
    if (s->n_inbox == s->cap_inbox) {
        s->cap_inbox = s->cap_inbox ? 2 * s->cap_inbox : 8;
        s->inbox = xrealloc(s->inbox, s->cap_inbox * sizeof(*s->inbox));
    }
    s->inbox[s->n_inbox++] = rq;
    pthread_mutex_unlock(&s->inbox_lock);
    wake_dispatcher(s);
}

/* ---- planning ---------------------------------------------------------------- */

/* A job keeps its plan across a reload when it fires the same way. */
static bool same_plan(const struct manifest_job *a, const struct manifest_job *b)
{
    return a->enabled && b->enabled && trigger_equal(&a->trigger, &b->trigger);
}

/* Where an interval without `start` planned now counts its phase from. */
static int64_t fresh_anchor(const struct scheduler *s, int64_t now)
{
    return s->opts.deterministic ? 0 : now;
}

/* The same number on every node for one firing: FNV-1a of the job id,
 * then the nominal time mixed in (splitmix64's finaliser). */
static uint64_t firing_hash(const char *id, int64_t nominal)
{
    uint64_t h = 1469598103934665603ull;

    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= (uint64_t)nominal;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static int64_t jitter(struct scheduler *s, const struct job *job, int64_t nominal)
{
    const struct trigger *t = &job->spec->trigger;

    if (t->jitter_ns <= 0)
        return 0;
    if (s->opts.deterministic)
        return (int64_t)(firing_hash(job->spec->id, nominal) % (uint64_t)t->jitter_ns);
    /* xorshift64: good enough to spread firings, and needs no lock of its own */
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (int64_t)(s->rng % (uint64_t)t->jitter_ns);
}

static void set_next(struct scheduler *s, struct job *job, int64_t nominal)
{
    job->state->plan_nominal_ns = nominal;
    if (nominal < 0) {
        outcome_planned(job, -1);
        return;
    }
    struct entry e = {.due = clock_add(nominal, jitter(s, job, nominal)), .job = job};
    outcome_planned(job, e.due);
    heap_push(s, e);
}

static void wake_dispatcher(struct scheduler *s)
{
    uint64_t one = 1;
    if (s->wake_fd >= 0 && write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        jlog(JH_LOG_ERROR, "scheduler_wake_failed", "error=%s", strerror(errno));
}

/* A date job planned after its time (the host was down, or the job was
 * just added): it runs at once if still within misfire_grace, else the
 * firing is recorded as missed, never dropped silently. */
static int64_t past_date(struct job *job, int64_t now)
{
    int64_t at = job->spec->trigger.at_ns;
    int64_t grace = job->spec->misfire_grace_ns;

    if (grace == 0 || now - at <= grace)
        return at;
    outcome_skipped(job, SKIP_MISFIRE, at, 1);
    return -1;
}

/* The latest firing of t that is <= now, starting from the firing `from`
 * (<= now), and in *between how many firings it passed over: those in
 * [from, latest). Bounded: past MAX_ENUMERATED_MISSES the count is a lower
 * bound. */
static int64_t latest_due(const struct trigger *t, int64_t from, int64_t now, int64_t anchor,
                          uint64_t *between)
{
    int64_t latest = from;
    *between = 0;
    if (t->kind == TRIGGER_INTERVAL) {
        int64_t k = (now - from) / t->interval_ns;
        *between = k > 0 ? (uint64_t)k : 0;
        latest = from + k * t->interval_ns;
        if (t->end_ns && latest > t->end_ns) {
            int64_t kk = (t->end_ns - from) / t->interval_ns;
            latest = from + kk * t->interval_ns;
            *between = (uint64_t)kk;
        }
        return latest;
    }
    for (;;) {
        int64_t next = trigger_next(t, latest, anchor);
        if (next < 0 || next > now)
            return latest;
        latest = next;
        if (++*between >= MAX_ENUMERATED_MISSES) {
            /* A long gap (suspend, big clock step): jump close to now and
             * walk the last stretch. */
            int64_t back = 60 * NS_PER_SEC;
            while (back < 400LL * 86400 * NS_PER_SEC) {
                int64_t cand = trigger_next(t, now - back, anchor);
                if (cand >= 0 && cand <= now && cand > latest) {
                    latest = cand;
                    break;
                }
                back *= 8;
            }
            while ((next = trigger_next(t, latest, anchor)) >= 0 && next <= now)
                latest = next;
            return latest;
        }
    }
}

/* Queues a run of the firing `nominal`, due at `due` (its jitter added).
 * Ahead of `now` (the dispatcher woke early, see WAKE_AHEAD_NS) the worker
 * that takes it waits until `due` itself: the run's start costs one
 * wake-up, the worker's own timer, instead of two. */
static void submit_as(struct scheduler *s, struct job *job, int64_t nominal, int64_t due,
                      int64_t now, enum run_trigger trigger, unsigned attempt)
{
    struct run_opts ro = {.trigger = trigger, .scheduled_wall_ns = nominal,
                          .dry_run = s->opts.dry_run, .attempt = attempt,
                          .not_before_mono_ns = due > now ? due - s->wall_minus_mono : 0};
    submit_opts(s, job, &ro);
}

/* Queues a run as `ro` says, now or with the batch. Under lock. */
static void submit_opts(struct scheduler *s, struct job *job, const struct run_opts *ro_in)
{
    struct run_opts ro = *ro_in;
    if (!s->opts.submit_many) {
        s->opts.submit(s->opts.submit_arg, job, &ro);
        return;
    }
    /* queued after the lock is released, all at once */
    if (s->n_batch == s->cap_batch) {
        s->cap_batch = s->cap_batch ? 2 * s->cap_batch : 64;
        s->batch = xrealloc(s->batch, s->cap_batch * sizeof(*s->batch));
    }
    s->batch[s->n_batch].job = job;
    s->batch[s->n_batch].opts = ro;
    s->n_batch++;
    if (s->n_batch == SUBMIT_CHUNK) {
        /* Let the workers start on these while the rest are planned. The
         * executor never takes the scheduler's lock, so holding it is fine. */
        s->opts.submit_many(s->opts.submit_arg, s->batch, s->n_batch);
        s->n_batch = 0;
    }
}

static void submit(struct scheduler *s, struct job *job, int64_t nominal, int64_t due,
                   int64_t now)
{
    submit_as(s, job, nominal, due, now, RUN_SCHEDULED, 1);
}

/* Under lock: takes the batch of runs due, with a reference to their
 * generation, for flush_batch after the lock is released. */
static struct run_request *take_batch(struct scheduler *s, size_t *n, struct generation **g)
{
    struct run_request *batch = s->batch;

    *n = s->n_batch;
    *g = NULL;
    if (!*n)
        return NULL;
    /* Keep its generation alive until it is queued: a reload may swap
     * generations once the lock is gone. */
    *g = s->gen;
    generation_ref(*g);
    s->batch = NULL;
    s->n_batch = s->cap_batch = 0;
    return batch;
}

static void flush_batch(struct scheduler *s, struct run_request *batch, size_t n,
                        struct generation *g)
{
    if (!n)
        return;
    s->opts.submit_many(s->opts.submit_arg, batch, n);
    free(batch);
    generation_unref(g);
}

/* The first plan of a job the run store knew (see scheduler.h): records
 * what was missed while the daemon was down, submits the catch-up run,
 * and returns the next nominal time (-1: none). Under lock. */
static int64_t resume_job(struct scheduler *s, struct job *job, const struct sched_resume *rs,
                          int64_t now)
{
    const struct manifest_job *spec = job->spec;
    const struct trigger *t = &spec->trigger;
    int64_t since = rs->down_since_ns, anchor = rs->last_nominal_ns ? rs->last_nominal_ns : now;
    int64_t until = now; /* the downtime's end */
    uint64_t missed;

    if (s->opts.deterministic)
        anchor = 0; /* the epoch's phase, whatever a node recorded */
    /* A cluster node whose clock is ahead of the database's: the firings
     * between the two were not missed, they are not due yet for the other
     * nodes, who claim them (this node plans from its own now). Recorded
     * as downtime they would be skips of firings that then run. */
    if (s->opts.deterministic && rs->down_until_ns > 0 && rs->down_until_ns < now)
        until = rs->down_until_ns;

    if (t->kind == TRIGGER_DATE) {
        if (rs->date_done)
            return -1; /* it ran, or was skipped: never again */
        if (t->at_ns <= since)
            return past_date(job, now); /* due while the daemon ran, not recorded */
    }
    if (t->kind == TRIGGER_INTERVAL && !t->start_ns && !rs->last_nominal_ns &&
        !s->opts.deterministic)
        return trigger_next(t, now, now); /* no phase to count firings by */
    missed = since < until ? trigger_count(t, since, until, anchor) : 0;
    if (missed > 0) {
        int64_t first = trigger_next(t, since, anchor);
        int64_t from = spec->catch_up_ns > 0 && until - spec->catch_up_ns > since
                           ? until - spec->catch_up_ns
                           : since;
        uint64_t recent = spec->catch_up_ns > 0 ? trigger_count(t, from, until, anchor) : 0;

        if (atomic_load_explicit(&job->state->paused, memory_order_relaxed)) {
            outcome_skipped(job, SKIP_PAUSED, first, missed);
        } else if (recent > 0) {
            int64_t latest = trigger_last(t, from, until, anchor);
            if (missed > recent)
                outcome_skipped(job, SKIP_DOWNTIME, first, missed - recent);
            if (recent > 1)
                outcome_skipped(job, SKIP_COALESCED, trigger_next(t, from, anchor), recent - 1);
            submit_as(s, job, latest, now, now, RUN_CATCH_UP, 1); /* now */
        } else {
            outcome_skipped(job, SKIP_DOWNTIME, first, missed);
        }
    }
    return trigger_next(t, now, anchor);
}

void scheduler_set_generation(struct scheduler *s, struct generation *g, int64_t now)
{
    struct generation *old, *bg;
    struct run_request *batch;
    size_t n;

    generation_ref(g);
    pthread_mutex_lock(&s->lock);
    old = s->gen;
    take_inbox(s); /* against the generation they were asked under */
    s->gen = g;
    s->n = 0;
    carry_retries(s, g);
    for (size_t i = 0; i < g->n_jobs; i++) {
        struct job *job = &g->jobs[i];
        const struct manifest_job *spec = job->spec;
        struct job *was = old ? generation_find_job(old, spec->id) : NULL;
        struct sched_resume rs = {0};
        bool resumed = !old && s->opts.resume && s->opts.resume(s->opts.resume_arg, job, &rs);
        int64_t nominal;

        if (resumed && rs.retry_attempt >= 2 && !retry_refused(job))
            retry_put(s, (struct retry_entry){.due = rs.retry_due_ns,
                                              .scheduled = rs.retry_scheduled_ns, .job = job,
                                              .attempt = rs.retry_attempt});
        /* at the daemon's start only: a reload plans, it does not start */
        if (!old && spec->at_start && spec->enabled &&
            !atomic_load_explicit(&job->state->paused, memory_order_relaxed))
            submit_as(s, job, 0, now, now, RUN_AT_START, 1);
        if (!spec->enabled || spec->trigger.kind == TRIGGER_NONE) {
            set_next(s, job, -1);
            continue;
        }
        if (was && same_plan(was->spec, spec))
            nominal = job->state->plan_nominal_ns; /* unchanged: keep its plan (-1: done) */
        else if (resumed && (rs.down_since_ns > 0 || rs.date_done))
            nominal = resume_job(s, job, &rs, now);
        else if (spec->trigger.kind == TRIGGER_DATE && spec->trigger.at_ns <= now)
            nominal = past_date(job, now);
        else
            nominal = trigger_next(&spec->trigger, now, fresh_anchor(s, now));
        set_next(s, job, nominal);
    }
    batch = take_batch(s, &n, &bg); /* catch-up runs */
    pthread_mutex_unlock(&s->lock);
    flush_batch(s, batch, n, bg);
    wake_dispatcher(s);
    if (old)
        generation_unref(old);
}

/* The slots of max_instances not taken by a queued or running run. */
static unsigned free_instances(const struct job *job)
{
    unsigned used = atomic_load_explicit(&job->state->instances, memory_order_relaxed);
    return used < job->spec->max_instances ? job->spec->max_instances - used : 0;
}

/* coalesce: false and a backlog (the host was busy, the machine slept, the
 * clock jumped): every firing due by `at` is decided at once, in a time
 * that does not grow with the backlog. The earliest get a run each, as
 * many as max_instances has room for; the others could not run anyway
 * (max_instances) and are skipped as one record, not one each. Returns the
 * runs submitted; *next gets the firing after the last one decided. */
static size_t fire_backlog(struct scheduler *s, struct entry e, int64_t at, int64_t now,
                           int64_t *next)
{
    struct job *job = e.job;
    const struct trigger *t = &job->spec->trigger;
    int64_t nominal = job->state->plan_nominal_ns, f = nominal;
    uint64_t between = 0, due, n;
    int64_t latest = latest_due(t, nominal, at, nominal, &between);

    due = between + 1; /* [nominal, latest) and latest itself */
    n = free_instances(job);
    if (n > due)
        n = due;
    for (uint64_t i = 0; i < n && f >= 0; i++) {
        submit(s, job, f, f == nominal ? e.due : f, now);
        f = trigger_next(t, f, nominal);
    }
    if (due > n)
        outcome_skipped(job, SKIP_MAX_INSTANCES, f, due - n);
    *next = trigger_next(t, latest, nominal);
    return (size_t)n;
}

/* One due entry: decide what runs, then plan the job's next firing. */
static size_t fire(struct scheduler *s, struct entry e, int64_t now)
{
    /* What the decisions see: a firing taken early is judged at its time. */
    int64_t at = e.due > now ? e.due : now;
    struct job *job = e.job;
    const struct manifest_job *spec = job->spec;
    const struct trigger *t = &spec->trigger;
    size_t submitted = 0;
    int64_t nominal = job->state->plan_nominal_ns, next;
    uint64_t between = 0;

    if (atomic_load_explicit(&job->state->paused, memory_order_relaxed)) {
        int64_t latest = latest_due(t, nominal, at, nominal, &between);
        outcome_skipped(job, SKIP_PAUSED, nominal, between + 1);
        set_next(s, job, trigger_next(t, latest, nominal));
        return 0;
    }
    if (spec->coalesce) {
        int64_t latest = latest_due(t, nominal, at, nominal, &between);
        if (between > 0)
            outcome_skipped(job, SKIP_COALESCED, nominal, between);
        submit(s, job, latest, latest == nominal ? e.due : latest, now);
        submitted = 1;
        next = trigger_next(t, latest, nominal);
    } else {
        int64_t grace = spec->misfire_grace_ns;
        if (grace > 0 && at - nominal > grace) {
            /* Everything older than the grace would be skipped anyway: skip
             * it in bulk instead of queueing each. */
            int64_t cutoff = clock_sub(at, grace);
            int64_t last_missed = latest_due(t, nominal, cutoff, nominal, &between);
            outcome_skipped(job, SKIP_MISFIRE, nominal, between + 1);
            next = trigger_next(t, last_missed, nominal);
        } else if (e.due <= now) {
            submitted = fire_backlog(s, e, at, now, &next);
        } else {
            submit(s, job, nominal, e.due, now);
            submitted = 1;
            next = trigger_next(t, nominal, nominal);
        }
    }
    set_next(s, job, next);
    return submitted;
}

/* One due retry: it runs unless the job is paused. */
static size_t fire_retry(struct scheduler *s, struct retry_entry e, int64_t now)
{
    retry_show(e.job, 0, 0);
    if (atomic_load_explicit(&e.job->state->paused, memory_order_relaxed)) {
        outcome_skipped(e.job, SKIP_PAUSED, e.scheduled, 1);
        return 0;
    }
    submit_as(s, e.job, e.scheduled, e.due, now, RUN_RETRY, e.attempt);
    return 1;
}

/* The earliest due time of the plans and the retries; -1 = none. Under
 * lock. */
static int64_t earliest(const struct scheduler *s)
{
    int64_t plan = s->n ? s->heap[0].due : -1;
    int64_t retry = s->n_retries ? s->retries[0].due : -1;

    if (plan < 0 || (retry >= 0 && retry < plan))
        return retry;
    return plan;
}

/* Fires everything due by now + ahead (the ones not due yet are queued to
 * start at their time). */
static size_t advance(struct scheduler *s, int64_t now, int64_t ahead)
{
    size_t submitted = 0, n;
    struct generation *g;
    struct run_request *batch;
    int64_t due;

    pthread_mutex_lock(&s->lock);
    take_inbox(s);
    while ((due = earliest(s)) >= 0 && due <= now + ahead && !s->stop) {
        if (s->n_retries && s->retries[0].due == due)
            submitted += fire_retry(s, retry_remove(s, 0), now);
        else
            submitted += fire(s, heap_pop(s), now);
    }
    batch = take_batch(s, &n, &g);
    pthread_mutex_unlock(&s->lock);
    flush_batch(s, batch, n, g);
    return submitted;
}

size_t scheduler_advance(struct scheduler *s, int64_t now)
{
    return advance(s, now, 0);
}

void scheduler_clock_stepped(struct scheduler *s, int64_t delta_ns)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = &s->heap[i];
        const struct trigger *t = &e->job->spec->trigger;
        if (t->kind != TRIGGER_INTERVAL || t->start_ns || s->opts.deterministic)
            continue; /* absolute times (a cluster's intervals are) stay */
        e->due = clock_add(e->due, delta_ns);
        e->job->state->plan_nominal_ns = clock_add(e->job->state->plan_nominal_ns, delta_ns);
        outcome_planned(e->job, e->due);
    }
    heap_build(s);
    /* a retry's delay is elapsed time, as an interval's */
    for (size_t i = 0; i < s->n_retries; i++) {
        s->retries[i].due += delta_ns;
        retry_show(s->retries[i].job, s->retries[i].attempt, s->retries[i].due);
    }
    pthread_mutex_unlock(&s->lock);
    jlog(JH_LOG_WARN, "clock_stepped", "delta_ms=%.3f", (double)delta_ns / 1e6);
}

int64_t scheduler_next_due(struct scheduler *s)
{
    int64_t due;
    pthread_mutex_lock(&s->lock);
    due = earliest(s);
    pthread_mutex_unlock(&s->lock);
    return due;
}

/* ---- the dispatcher thread ------------------------------------------------ */

/* Sleeps on the monotonic clock until the wall time `due` (-1: no timer). */
static void arm_timer(struct scheduler *s, int64_t due, int64_t wall_minus_mono)
{
    struct itimerspec its = {0};
    if (due >= 0) {
        int64_t at = due - wall_minus_mono;
        if (at <= 0)
            at = 1; /* 0 would disarm: an overdue entry fires at once */
        its.it_value.tv_sec = at / NS_PER_SEC;
        its.it_value.tv_nsec = at % NS_PER_SEC;
    }
    timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Arms the wall-clock step detector (again, after it was cancelled). */
static void arm_step_detector(struct scheduler *s)
{
    struct itimerspec its = {.it_value = {.tv_sec = INT64_C(7258118400)}}; /* year 2200 */
    timerfd_settime(s->step_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

static void *dispatcher_main(void *arg)
{
    struct scheduler *s = arg;
    int64_t offset = wall_ns() - mono_ns(); /* wall - mono; changes only on a step */

    /* Wake within microseconds of the timer, not the default 50 us slack. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    arm_step_detector(s);
    for (;;) {
        struct epoll_event evs[3];
        int64_t due;
        int n;
        bool stop;

        pthread_mutex_lock(&s->lock);
        stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        clock_offset_refresh();
        /* Slow drift (NTP slewing) is followed here; only steps count. */
        offset = wall_ns() - mono_ns();
        pthread_mutex_lock(&s->lock);
        s->wall_minus_mono = offset;
        pthread_mutex_unlock(&s->lock);
        advance(s, offset + mono_ns(), WAKE_AHEAD_NS);
        due = scheduler_next_due(s);
        arm_timer(s, due >= 0 ? due - WAKE_AHEAD_NS : -1, offset);

        n = epoll_wait(s->epoll_fd, evs, 3, -1);
        for (int i = 0; i < n; i++) {
            uint64_t v;
            int fd = evs[i].data.fd;
            if (read(fd, &v, sizeof(v)) < 0 && fd == s->step_fd && errno == ECANCELED) {
                int64_t now_offset = wall_ns() - mono_ns();
                scheduler_clock_stepped(s, now_offset - offset);
                offset = now_offset;
                arm_step_detector(s);
            }
        }
    }
    return NULL;
}

struct scheduler *scheduler_new(const struct scheduler_opts *opts)
{
    struct scheduler *s = xcalloc(1, sizeof(*s));
    s->opts = *opts;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->inbox_lock, NULL);
    s->rng = (uint64_t)wall_ns() | 1;
    s->timer_fd = s->step_fd = s->wake_fd = s->epoll_fd = -1;
    return s;
}

int scheduler_start(struct scheduler *s)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int rc;

    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    s->step_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->timer_fd < 0 || s->step_fd < 0 || s->wake_fd < 0 || s->epoll_fd < 0)
        return -errno;
    ev.data.fd = s->timer_fd;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->timer_fd, &ev);
    ev.data.fd = s->step_fd;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->step_fd, &ev);
    ev.data.fd = s->wake_fd;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &ev);
    rc = pthread_create(&s->thread, NULL, dispatcher_main, s);
    if (rc != 0)
        return -rc;
    s->running = true;
    return 0;
}

void scheduler_stop(struct scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_mutex_unlock(&s->lock);
    if (!s->running)
        return;
    wake_dispatcher(s);
    pthread_join(s->thread, NULL);
    s->running = false;
}

void scheduler_free(struct scheduler *s)
{
    if (!s)
        return;
    scheduler_stop(s);
    if (s->timer_fd >= 0)
        close(s->timer_fd);
    if (s->step_fd >= 0)
        close(s->step_fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    if (s->gen)
        generation_unref(s->gen);
    free(s->heap);
    free(s->batch);
    for (size_t i = 0; i < s->n_inbox; i++)
        free(s->inbox[i].id);
    free(s->inbox);
    free(s->retries);
    pthread_mutex_destroy(&s->inbox_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
