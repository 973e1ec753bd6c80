/*
 * executor — the worker pool. See executor.h.
 *
 * DESIGN. Submitters (the dispatcher, the HTTP thread for manual runs)
 * append tasks to one FIFO under `lock` and signal `work`. A worker that
 * wakes takes a share of the queue into its own batch (up to WORKER_BATCH
 * slots, fewer when other workers are idle) in one lock round and then
 * starts the tasks one by one, each claimed with an atomic exchange of its
 * slot. A worker that finds the FIFO empty looks, still under `lock`, for a
 * task not yet started in another worker's batch and claims that: a task
 * queued behind a slow run waits only while every worker is busy. Batch
 * slots are refilled only under `lock`, by their owner.
 *
 * The watch thread sleeps on `watch` until the earliest stuck deadline
 * (a thread-mode run's timeout plus stuck_grace) of the runs in progress,
 * and writes off the runs past it (run_write_off). Each worker publishes
 * its run's stuck moment in `cur_stuck_at` and signals the watch (under
 * `lock`: only runs with a timeout do); the watch reads it under `lock`
 * and acts only through run_write_off's compare-and-swap on the run's fate,
 * so a run that returns at that moment is reported once, by whoever wins.
 * A written-off worker leaves the pool when its plugin returns; a new
 * worker takes its place at once (up to max_stuck_workers). Nothing wakes
 * the watch while no run has a timeout.
 *
 * Per run, a worker takes no lock: the counts a run changes are atomics,
 * finished task nodes are handed back at the next lock round, and only the
 * last run to finish takes `lock` to wake executor_stop.
 *
 * Concurrency policies queue and replace: a firing that finds its job at
 * max_instances does not go to the FIFO but waits in `waiting` (at most
 * one per job; more are skipped, reason queued), without an instance; for
 * replace the job's runs in progress are told to stop first. A run of such
 * a job that ends takes `lock` and moves its job's waiting firing to the
 * FIFO if it can claim the instance now; a firing that starts waiting
 * tries the same claim under `lock`, so one of the two always sees the
 * other. Jobs of the other policies never take `lock` for this.
 *
 * Lock order: `lock` is taken under the scheduler's lock (the dispatcher
 * submits while holding it) and takes nothing else but leaf locks.
 */
#include "core/executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "core/clock.h"
#include "core/generation.h"
#include "core/hostapi.h"
#include "core/log.h"
#include "core/outcome.h"
#include "lib/units.h"
#include "lib/util.h"

#define WORKER_BATCH 16

struct task {
    struct job *job;
    struct run_opts opts;
    struct task *next;
    /* A cluster's firing that found its job's instances taken here: it
     * holds none and never runs, but is claimed all the same, so that the
     * skip is recorded once in the cluster, by the node whose claim lands
     * (a node running the job finds it full here, the others in the
     * store). */
    bool skip_local;
    /* Its cluster claim, made with its batch's (claim_many); valid when
     * `claimed_ahead`. */
    bool claimed_ahead;
    enum executor_claim claim;
    uint64_t token;
};

struct worker {
    struct executor *ex;
    pthread_t thread;
    /* Tasks taken from the FIFO, claimed by atomic exchange (by the owner,
     * or by an idle worker under `lock`); refilled only by the owner under
     * `lock`. */
    _Atomic(struct task *) batch[WORKER_BATCH];
    size_t n_batch; /* under lock */
    /* The run in progress (see DESIGN): its fate word and the moment it is
     * stuck (0 = never). Written by the owner, read by the watch. */
    struct run run;
    _Atomic int64_t cur_stuck_at;
    atomic_bool busy;        /* in a run */
    atomic_bool written_off; /* set by the watch under lock: it leaves after its run */
    bool retiring;    /* under lock: the pool shrank; it leaves after its batch */
    struct worker *next; /* under lock */
};

struct executor {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a task was queued, or stopping */
    pthread_cond_t idle;  /* running dropped to zero */
    pthread_cond_t watch; /* a run's stuck deadline is earlier than the watch knew */
    struct task *head, *tail; /* under lock */
    struct task *free_tasks;  /* under lock: recycled task nodes */
    size_t queued;            /* under lock: tasks in the FIFO */
    atomic_size_t batched;    /* tasks in batches, not started */
    atomic_size_t running;    /* tasks claimed, not finished (stuck included) */
    atomic_uint n_busy;       /* workers in a run */
    unsigned target;          /* under lock: the pool's size */
    unsigned n_workers;       /* under lock: workers not written off or retiring */
    unsigned n_idle;          /* under lock: workers waiting for work */
    unsigned n_stuck;         /* under lock: written-off workers still in a plugin */
    unsigned n_threads;       /* under lock: worker threads alive */
    bool stopping;            /* under lock */
    _Atomic int64_t stuck_grace_ns; /* read per run, set by executor_set_stuck */
    unsigned max_stuck;             /* under lock */
    pthread_t watch_thread;
    bool watch_running;
    struct worker *workers;   /* under lock: every worker thread alive */
    executor_claim_fn claim;  /* fixed at executor_new; see executor.h */
    executor_claim_many_fn claim_many;
    executor_claim_done_fn claim_done;
    executor_claim_return_fn claim_return;
    void *claim_arg;
    struct task *waiting;     /* under lock: firings waiting for their job's run to
                                 end (concurrency queue, replace); one per job */
};

static void *worker_main(void *arg);

/* --- instances --------------------------------------------------------------- */

bool executor_claim_instance(struct job *job)
{
    /* Claim a slot first and give it back if over the limit: no lock, and
     * two racing submitters cannot both take the last slot. */
    unsigned prev = atomic_fetch_add_explicit(&job->state->instances, 1, memory_order_relaxed);
    if (prev < job->spec->max_instances)
        return true;
    atomic_fetch_sub_explicit(&job->state->instances, 1, memory_order_relaxed);
    return false;
}

void executor_release_instance(struct job *job)
{
    jobstate_release_instance(job->state);
}

/* --- workers ----------------------------------------------------------------- */

/* Under lock. */
static void spawn_worker(struct executor *ex)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    int rc;

    w->ex = ex;
    for (size_t i = 0; i < WORKER_BATCH; i++)
        atomic_init(&w->batch[i], NULL);
    atomic_init(&w->cur_stuck_at, 0);
    atomic_init(&w->busy, false);
    atomic_init(&w->written_off, false);
    atomic_init(&w->run.fate, 0);
    w->next = ex->workers;
    ex->workers = w;
    ex->n_workers++;
    ex->n_threads++;
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        fprintf(stderr, "jobhost: cannot start worker thread: %s\n", strerror(rc));
        abort();
    }
    /* Threads leave by themselves (written off, retired) or at free. */
    pthread_detach(w->thread);
}

/* Under lock: unlinks w, which is leaving. */
static void unlink_worker(struct executor *ex, struct worker *w)
{
    for (struct worker **pp = &ex->workers; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    ex->n_threads--;
    pthread_cond_broadcast(&ex->idle);
}

/* Whether firings of the job wait instead of being skipped. */
static bool job_waits(const struct job *job)
{
    return job->spec->concurrency == CONCURRENCY_QUEUE ||
           job->spec->concurrency == CONCURRENCY_REPLACE;
}

/* Under lock: appends t to the FIFO and wakes a worker. */
static void enqueue(struct executor *ex, struct task *t)
{
    t->next = NULL;
    if (ex->tail)
        ex->tail->next = t;
    else
        ex->head = t;
    ex->tail = t;
    ex->queued++;
    pthread_cond_signal(&ex->work);
}

/* Under lock: the job state's waiting firing moves to the FIFO when it can
 * claim an instance now. */
static void promote_waiting(struct executor *ex, const struct jobstate *st)
{
    for (struct task **pp = &ex->waiting; *pp; pp = &(*pp)->next) {
        struct task *t = *pp;
        if (t->job->state != st)
            continue;
        if (executor_claim_instance(t->job)) {
            *pp = t->next;
            enqueue(ex, t);
        }
        return;
    }
}

static void finish_task(struct job *job, bool release_instance)
{
    if (release_instance)
        executor_release_instance(job);
    generation_unref(job->gen);
}

/* Reports every task of `list` skipped (reason shutdown) and frees them,
 * giving back their instances when they hold one and the cluster claims
 * their batch made. Without the lock. */
static void skip_for_shutdown(struct executor *ex, struct task *list, bool hold_instances)
{
    while (list) {
        struct task *next = list->next;
        if (list->claimed_ahead && (list->claim == CLAIM_WON || list->claim == CLAIM_FULL) &&
            ex->claim_return)
            ex->claim_return(ex->claim_arg, list->job, list->token);
        outcome_skipped(list->job, SKIP_SHUTDOWN, list->opts.scheduled_wall_ns, 1);
        finish_task(list->job, hold_instances && !list->skip_local);
        free(list);
        list = next;
    }
}

/* One task fewer in `running`; the last wakes executor_stop. */
static void running_end(struct executor *ex)
{
    if (atomic_fetch_sub_explicit(&ex->running, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&ex->lock);
        pthread_cond_broadcast(&ex->idle);
        pthread_mutex_unlock(&ex->lock);
    }
}

/* Whether t's firing is claimed in the cluster before it runs: scheduled,
 * catch-up and recover runs (manual ones are the asking node's). */
static bool needs_claim(const struct executor *ex, const struct task *t)
{
    return ex->claim && !t->opts.dry_run &&
           (t->opts.trigger == RUN_SCHEDULED || t->opts.trigger == RUN_CATCH_UP ||
            t->opts.trigger == RUN_RECOVER);
}

/* Claims the firings of w's batch (its first n slots) in one round trip.
 * The tasks are taken out of the slots meanwhile, so that no idle worker
 * starts one whose claim is being made; those already taken over are
 * left out. Counted in `running` meanwhile, so that executor_stop waits
 * for the claims; if it began, the tasks never go back but are skipped,
 * their claims given back. */
static void claim_batch(struct executor *ex, struct worker *w, size_t n)
{
    struct task *held[WORKER_BATCH], *dropped = NULL;
    struct job *jobs[WORKER_BATCH];
    struct run_opts *opts[WORKER_BATCH];
    enum executor_claim results[WORKER_BATCH];
    uint64_t tokens[WORKER_BATCH];
    size_t k = 0;
    bool stopping;

    atomic_fetch_add_explicit(&ex->running, 1, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        struct task *t = atomic_exchange_explicit(&w->batch[i], NULL, memory_order_acq_rel);
        held[i] = t;
        if (t && needs_claim(ex, t) && t->opts.trigger != RUN_RECOVER) {
            jobs[k] = t->job;
            opts[k++] = &t->opts;
        }
    }
    if (k > 1) {
        ex->claim_many(ex->claim_arg, jobs, opts, k, results, tokens);
        k = 0;
        for (size_t i = 0; i < n; i++) {
            struct task *t = held[i];
            if (t && needs_claim(ex, t) && t->opts.trigger != RUN_RECOVER) {
                t->claimed_ahead = true;
                t->claim = results[k];
                t->token = tokens[k++];
            }
        }
    }
    pthread_mutex_lock(&ex->lock);
    stopping = ex->stopping;
    for (size_t i = 0; i < n; i++) {
        if (!held[i])
            continue;
        if (!stopping) {
            atomic_store_explicit(&w->batch[i], held[i], memory_order_release);
            continue;
        }
        atomic_fetch_sub_explicit(&ex->batched, 1, memory_order_relaxed);
        held[i]->next = dropped;
        dropped = held[i];
    }
    pthread_mutex_unlock(&ex->lock);
    skip_for_shutdown(ex, dropped, true);
    running_end(ex);
}

/* Runs one claimed task on w's thread. Returns false when its run was
 * written off (the instance was given back by the watch). */
static bool execute(struct worker *w, struct task *t)
{
    const struct manifest_job *spec = t->job->spec;
    struct executor *ex = w->ex;
    uint64_t token = 0;
    bool ours, claimed = false;

    if (t->skip_local) {
        enum executor_claim r = t->claimed_ahead
                                    ? t->claim
                                    : ex->claim(ex->claim_arg, t->job, &t->opts, &token);
        if (t->claimed_ahead)
            token = t->token;
        if (r == CLAIM_WON && ex->claim_done)
            ex->claim_done(ex->claim_arg, t->job, NULL, token); /* a manual run holds it */
        if (r != CLAIM_LOST)
            outcome_skipped(t->job, SKIP_MAX_INSTANCES, t->opts.scheduled_wall_ns, 1);
        return true;
    }
    /* a cluster's claim first: made while the task waits for its moment,
     * its round trip does not delay the start */
    if (needs_claim(ex, t)) {
        enum executor_claim r = t->claimed_ahead ? t->claim
                                                 : ex->claim(ex->claim_arg, t->job, &t->opts,
                                                             &token);
        if (t->claimed_ahead)
            token = t->token;
        switch (r) {
        case CLAIM_WON:
            claimed = true;
            t->opts.fencing_token = token;
            break;
        case CLAIM_LOST: /* another node runs it: its history says so */
            executor_release_instance(t->job);
            return true;
        case CLAIM_FULL:
            executor_release_instance(t->job);
            outcome_skipped(t->job, SKIP_MAX_INSTANCES, t->opts.scheduled_wall_ns, 1);
            return true;
        case CLAIM_UNAVAILABLE:
            executor_release_instance(t->job);
            if (t->opts.trigger != RUN_RECOVER) /* that firing stays recovering */
                outcome_skipped(t->job, SKIP_STORE_UNAVAILABLE, t->opts.scheduled_wall_ns, 1);
            return true;
        }
    }
    if (t->opts.not_before_mono_ns) {
        /* queued ahead of its time: this thread's own timer starts it */
        struct timespec ts = {.tv_sec = t->opts.not_before_mono_ns / NS_PER_SEC,
                              .tv_nsec = t->opts.not_before_mono_ns % NS_PER_SEC};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    if (t->opts.trigger == RUN_SCHEDULED && spec->misfire_grace_ns > 0 &&
        wall_ns() > clock_add(t->opts.scheduled_wall_ns, spec->misfire_grace_ns)) {
        executor_release_instance(t->job);
        outcome_skipped(t->job, SKIP_MISFIRE, t->opts.scheduled_wall_ns, 1);
        if (claimed && ex->claim_done)
            ex->claim_done(ex->claim_arg, t->job, NULL, token); /* ours to record, done */
        return true;
    }
    int64_t grace = atomic_load_explicit(&ex->stuck_grace_ns, memory_order_relaxed);
    if (spec->timeout_ns > 0 && spec->isolation == ISOLATION_THREAD && grace > 0) {
        /* the stuck moment is known before the run starts: tell the watch
         * first, so it is never late (run_job publishes the fate itself) */
        int64_t at = clock_add(clock_add(mono_ns(), spec->timeout_ns), grace);
        pthread_mutex_lock(&ex->lock);
        atomic_store_explicit(&w->cur_stuck_at, at, memory_order_relaxed);
        pthread_cond_signal(&ex->watch);
        pthread_mutex_unlock(&ex->lock);
    }
    t->opts.holds_instance = true; /* run_job gives it back before reporting the finish */
    ours = run_job(t->job, &t->opts, &w->run);
    atomic_store_explicit(&w->cur_stuck_at, 0, memory_order_relaxed);
    if (claimed && ex->claim_done)
        ex->claim_done(ex->claim_arg, t->job, &w->run, token);
    return ours;
}

/* Under lock: a task not yet started in another worker's batch, claimed. */
static struct task *steal(struct executor *ex, struct worker *self)
{
    for (struct worker *w = ex->workers; w; w = w->next) {
        if (w == self)
            continue;
        for (size_t i = 0; i < w->n_batch; i++) {
            struct task *t = atomic_exchange_explicit(&w->batch[i], NULL, memory_order_acq_rel);
            if (t) {
                atomic_fetch_sub_explicit(&ex->batched, 1, memory_order_relaxed);
                return t;
            }
        }
    }
    return NULL;
}

/* Under lock: fills w's batch from the FIFO with a fair share. */
static size_t take_batch(struct executor *ex, struct worker *w)
{
    /* Leave work for the workers that are idle or will wake for it. */
    size_t share = ex->queued / (ex->n_idle + 1);
    size_t n = 0;

    if (share < 1)
        share = 1;
    while (ex->head && n < WORKER_BATCH && n < share) {
        struct task *t = ex->head;
        ex->head = t->next;
        ex->queued--;
        atomic_store_explicit(&w->batch[n++], t, memory_order_relaxed);
    }
    if (!ex->head)
        ex->tail = NULL;
    w->n_batch = n;
    atomic_fetch_add_explicit(&ex->batched, n, memory_order_relaxed);
    /* Idle workers may take over what this one has not started. */
    if (n > 1 && ex->n_idle > 0)
        pthread_cond_signal(&ex->work);
    return n;
}

/* Under lock: takes t's node back. */
static void recycle(struct executor *ex, struct task *t)
{
    t->next = ex->free_tasks;
    ex->free_tasks = t;
}

/* Runs t (claimed by w, counted in `running`) without the lock; its node
 * joins *done. Returns false when its run was written off. */
static bool run_one(struct executor *ex, struct worker *w, struct task *t, struct task **done)
{
    bool ours;

    atomic_store_explicit(&w->busy, true, memory_order_relaxed);
    atomic_fetch_add_explicit(&ex->n_busy, 1, memory_order_relaxed);
    ours = execute(w, t); /* gives the instance back, whatever became of the run */
    if (job_waits(t->job)) {
        pthread_mutex_lock(&ex->lock);
        promote_waiting(ex, t->job->state);
        pthread_mutex_unlock(&ex->lock);
    }
    finish_task(t->job, false);
    atomic_fetch_sub_explicit(&ex->n_busy, 1, memory_order_relaxed);
    atomic_store_explicit(&w->busy, false, memory_order_relaxed);
    if (!ours) {
        /* the plugin of a written-off run returned at last */
        atomic_fetch_sub_explicit(&t->job->state->stuck, 1, memory_order_relaxed);
        pthread_mutex_lock(&ex->lock);
        ex->n_stuck--;
        pthread_mutex_unlock(&ex->lock);
    }
    t->next = *done;
    *done = t;
    running_end(ex);
    return ours;
}

/* Under lock: puts the tasks of w's batch not yet started back at the
 * queue's front (w was written off and leaves). */
static void requeue_batch(struct executor *ex, struct worker *w)
{
    for (size_t k = w->n_batch; k-- > 0;) {
        struct task *t = atomic_exchange_explicit(&w->batch[k], NULL, memory_order_acq_rel);
        if (!t)
            continue;
        atomic_fetch_sub_explicit(&ex->batched, 1, memory_order_relaxed);
        t->next = ex->head;
        ex->head = t;
        if (!ex->tail)
            ex->tail = t;
        ex->queued++;
        pthread_cond_signal(&ex->work);
    }
    w->n_batch = 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct executor *ex = w->ex;
    struct task *done = NULL, *t;

    /* Runs queued ahead of their time start on this thread's timer: wake
     * within microseconds of it, not the default 50 us slack. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    pthread_mutex_lock(&ex->lock);
    for (;;) {
        while (done) {
            struct task *next = done->next;
            recycle(ex, done);
            done = next;
        }
        if (atomic_load_explicit(&w->written_off, memory_order_relaxed) || w->retiring)
            break;
        if (ex->head) {
            size_t n = take_batch(ex, w);
            bool ours = true;
            pthread_mutex_unlock(&ex->lock);
            if (ex->claim_many && n > 1)
                claim_batch(ex, w, n);
            for (size_t i = 0; i < n && ours; i++) {
                /* counted before it is taken: executor_stop, which drains
                 * the batches, then sees either the slot or the count */
                atomic_fetch_add_explicit(&ex->running, 1, memory_order_relaxed);
                t = atomic_exchange_explicit(&w->batch[i], NULL, memory_order_acq_rel);
                if (!t) {
                    running_end(ex); /* an idle worker took it over, or the stop */
                    continue;
                }
                atomic_fetch_sub_explicit(&ex->batched, 1, memory_order_relaxed);
                ours = run_one(ex, w, t, &done);
            }
            pthread_mutex_lock(&ex->lock);
            if (ours)
                w->n_batch = 0;
            else
                requeue_batch(ex, w);
            continue;
        }
        if ((t = steal(ex, w))) {
            atomic_fetch_add_explicit(&ex->running, 1, memory_order_relaxed);
            pthread_mutex_unlock(&ex->lock);
            (void)run_one(ex, w, t, &done); /* written off: the loop ends */
            pthread_mutex_lock(&ex->lock);
            continue;
        }
        if (ex->stopping)
            break;
        ex->n_idle++;
        pthread_cond_wait(&ex->work, &ex->lock);
        ex->n_idle--;
    }
    if (!atomic_load_explicit(&w->written_off, memory_order_relaxed) && !w->retiring)
        ex->n_workers--; /* stopping */
    unlink_worker(ex, w);
    pthread_mutex_unlock(&ex->lock);
    free(w);
    return NULL;
}

/* --- the stuck watch ----------------------------------------------------------- */

/* Under lock: writes off w's run if it is past its stuck moment; returns the
 * next stuck moment of w's run otherwise (INT64_MAX: none). */
static int64_t check_worker(struct executor *ex, struct worker *w, int64_t now)
{
    int64_t at = atomic_load_explicit(&w->cur_stuck_at, memory_order_relaxed);
    uint64_t fate = atomic_load_explicit(&w->run.fate, memory_order_acquire);
    struct job *job;

    if (!atomic_load_explicit(&w->busy, memory_order_relaxed) ||
        atomic_load_explicit(&w->written_off, memory_order_relaxed) || at == 0)
        return INT64_MAX;
    if (now < at)
        return at; /* the run may not have published its fate yet: look then */
    if (RUN_FATE_STATE(fate) != RUN_RUNNING)
        return now + 10 * NS_PER_MS; /* between its end and cur_stuck_at's reset */
    job = w->run.job;
    if (!run_write_off(&w->run, fate))
        return INT64_MAX; /* it returned meanwhile */
    atomic_fetch_add_explicit(&job->state->stuck, 1, memory_order_relaxed);
    atomic_store_explicit(&w->written_off, true, memory_order_relaxed);
    ex->n_workers--;
    ex->n_stuck++;
    if (ex->n_stuck <= ex->max_stuck && !ex->stopping) {
        spawn_worker(ex);
    } else {
        jlog(JH_LOG_ERROR, "worker_not_replaced", "job=%s run_id=%s stuck_workers=%u max=%u",
             job->spec->id, w->run.id_text, ex->n_stuck, ex->max_stuck);
    }
    return INT64_MAX;
}

static void *watch_main(void *arg)
{
    struct executor *ex = arg;

    pthread_mutex_lock(&ex->lock);
    for (;;) {
        int64_t now = mono_ns(), next = INT64_MAX;

        for (struct worker *w = ex->workers; w; w = w->next) {
            int64_t at = check_worker(ex, w, now);
            if (at < next)
                next = at;
        }
        if (ex->stopping && atomic_load(&ex->running) == 0)
            break;
        if (next == INT64_MAX) {
            pthread_cond_wait(&ex->watch, &ex->lock);
        } else {
            struct timespec ts = {.tv_sec = next / NS_PER_SEC, .tv_nsec = next % NS_PER_SEC};
            pthread_cond_timedwait(&ex->watch, &ex->lock, &ts);
        }
    }
    pthread_mutex_unlock(&ex->lock);
    return NULL;
}

/* --- the pool ---------------------------------------------------------------------- */

struct executor *executor_new(const struct executor_opts *opts)
{
    struct executor *ex = xcalloc(1, sizeof(*ex));
    int rc;

    pthread_mutex_init(&ex->lock, NULL);
    pthread_cond_init(&ex->work, NULL);
    cond_init_mono(&ex->idle);
    cond_init_mono(&ex->watch);
    atomic_init(&ex->batched, 0);
    atomic_init(&ex->running, 0);
    atomic_init(&ex->n_busy, 0);
    atomic_init(&ex->stuck_grace_ns, opts->stuck_grace_ns);
    ex->max_stuck = opts->max_stuck_workers;
    ex->target = opts->workers ? opts->workers : 1;
    ex->claim = opts->claim;
    ex->claim_many = opts->claim_many;
    ex->claim_done = opts->claim_done;
    ex->claim_return = opts->claim_return;
    ex->claim_arg = opts->claim_arg;
    pthread_mutex_lock(&ex->lock);
    for (unsigned i = 0; i < ex->target; i++)
        spawn_worker(ex);
    pthread_mutex_unlock(&ex->lock);
    rc = pthread_create(&ex->watch_thread, NULL, watch_main, ex);
    if (rc != 0) {
        fprintf(stderr, "jobhost: cannot start the stuck-run watch: %s\n", strerror(rc));
        abort();
    }
    ex->watch_running = true;
    return ex;
}

void executor_set_stuck(struct executor *ex, int64_t stuck_grace_ns, unsigned max_stuck_workers)
{
    atomic_store_explicit(&ex->stuck_grace_ns, stuck_grace_ns, memory_order_relaxed);
    pthread_mutex_lock(&ex->lock);
    ex->max_stuck = max_stuck_workers;
    pthread_mutex_unlock(&ex->lock);
}

void executor_resize(struct executor *ex, unsigned workers)
{
    if (workers == 0)
        workers = 1;
    pthread_mutex_lock(&ex->lock);
    ex->target = workers;
    while (ex->n_workers < ex->target && !ex->stopping)
        spawn_worker(ex);
    for (struct worker *w = ex->workers; w && ex->n_workers > ex->target; w = w->next) {
        if (!atomic_load(&w->written_off) && !w->retiring) {
            w->retiring = true;
            ex->n_workers--;
        }
    }
    pthread_cond_broadcast(&ex->work); /* idle retirees leave now */
    pthread_mutex_unlock(&ex->lock);
}

/* A decision about a waiting firing, reported once the lock is released. */
struct wait_report {
    struct job *job;
    int64_t scheduled;
    int what; /* a concurrency_action, or -1: skipped (queued) */
};

/* Firings of queue and replace jobs that found them at max_instances, now
 * under lock: each waits (replace: after telling the runs in progress to
 * stop), unless one already waits for the job. Fills reports[] (each
 * holding a generation reference) and returns how many; *accepted counts
 * those that wait. */
static size_t start_waiting(struct executor *ex, struct task *list, struct wait_report *reports,
                            size_t *accepted)
{
    size_t n = 0;

    while (list) {
        struct task *t = list, *w;
        list = t->next;
        for (w = ex->waiting; w && w->job->state != t->job->state; w = w->next)
            ;
        reports[n].job = t->job;
        reports[n].scheduled = t->opts.scheduled_wall_ns;
        if (w) {
            reports[n++].what = -1; /* the task's reference goes with the report */
            recycle(ex, t);
            continue;
        }
        if (t->job->spec->concurrency == CONCURRENCY_REPLACE) {
            /* the runs that have an id now are older than the new one (a
             * manual run has its id already: those before it) */
            atomic_store_explicit(&t->job->state->replaced_below,
                                  t->opts.run_id ? t->opts.run_id : run_new_id(),
                                  memory_order_relaxed);
            hostapi_wake_sleepers();
            reports[n++].what = CONCURRENCY_REPLACED;
        } else {
            reports[n++].what = CONCURRENCY_QUEUED;
        }
        generation_ref(t->job->gen); /* for the report; the task keeps its own */
        ++*accepted;
        t->next = ex->waiting;
        ex->waiting = t;
        promote_waiting(ex, t->job->state); /* its run may have ended meanwhile */
    }
    return n;
}

static void report_waiting(const struct wait_report *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (reports[i].what < 0)
            outcome_skipped(reports[i].job, SKIP_QUEUED, reports[i].scheduled, 1);
        else
            outcome_concurrency(reports[i].job, (enum concurrency_action)reports[i].what,
                                reports[i].scheduled);
        generation_unref(reports[i].job->gen);
    }
}

size_t executor_submit_many(struct executor *ex, const struct run_request *reqs, size_t n)
{
    struct task *head = NULL, **tail = &head, *last = NULL, *waits = NULL;
    struct wait_report *reports = NULL;
    size_t queued = 0, n_waits = 0, n_reports = 0, n_accepted = 0;

    if (n == 0)
        return 0;
    /* Claims and task nodes first, outside the queue lock. */
    pthread_mutex_lock(&ex->lock);
    bool stopping = ex->stopping;
    struct task *spare = ex->free_tasks;
    ex->free_tasks = NULL;
    pthread_mutex_unlock(&ex->lock);
    for (size_t i = 0; i < n; i++) {
        struct job *job = reqs[i].job;
        struct task *t;

        if (stopping) {
            outcome_skipped(job, SKIP_SHUTDOWN, reqs[i].opts.scheduled_wall_ns, 1);
            continue;
        }
        bool claimed = executor_claim_instance(job);
        bool skip_local = !claimed && !job_waits(job) && ex->claim && !reqs[i].opts.dry_run &&
                          (reqs[i].opts.trigger == RUN_SCHEDULED ||
                           reqs[i].opts.trigger == RUN_CATCH_UP);
        if (!claimed && !job_waits(job) && !skip_local) {
            outcome_skipped(job, SKIP_MAX_INSTANCES, reqs[i].opts.scheduled_wall_ns, 1);
            continue;
        }
        generation_ref(job->gen);
        t = spare;
        if (t)
            spare = t->next;
        else
            t = xmalloc(sizeof(*t));
        t->job = job;
        t->opts = reqs[i].opts;
        t->claimed_ahead = false;
        t->skip_local = skip_local;
        if (!claimed && !skip_local) {
            t->next = waits;
            waits = t;
            n_waits++;
            continue;
        }
        t->next = NULL;
        *tail = t;
        tail = &t->next;
        last = t;
        queued++;
    }
    pthread_mutex_lock(&ex->lock);
    while (spare) { /* unused nodes go back */
        struct task *next = spare->next;
        recycle(ex, spare);
        spare = next;
    }
    if (waits && !ex->stopping) {
        reports = xmalloc(n_waits * sizeof(*reports));
        n_reports = start_waiting(ex, waits, reports, &n_accepted);
        waits = NULL;
    }
    if (waits) {
        /* stop began meanwhile: these never wait */
        pthread_mutex_unlock(&ex->lock);
        skip_for_shutdown(ex, waits, false);
        pthread_mutex_lock(&ex->lock);
    }
    if (queued && ex->stopping) {
        /* stop began meanwhile: these never run */
        pthread_mutex_unlock(&ex->lock);
        report_waiting(reports, n_reports);
        free(reports);
        skip_for_shutdown(ex, head, true);
        return 0;
    }
    if (queued) {
        if (ex->tail)
            ex->tail->next = head;
        else
            ex->head = head;
        ex->tail = last;
        ex->queued += queued;
        if (queued == 1)
            pthread_cond_signal(&ex->work);
        else
            pthread_cond_broadcast(&ex->work);
    }
    pthread_mutex_unlock(&ex->lock);
    report_waiting(reports, n_reports);
    free(reports);
    return queued + n_accepted;
}

int executor_submit(struct executor *ex, struct job *job, const struct run_opts *opts)
{
    struct run_request req = {.job = job, .opts = *opts};
    bool stopping;

    if (executor_submit_many(ex, &req, 1) == 1)
        return 0;
    /* Not queued, and already reported skipped: say which way. */
    pthread_mutex_lock(&ex->lock);
    stopping = ex->stopping;
    pthread_mutex_unlock(&ex->lock);
    return stopping ? -ESHUTDOWN : -EBUSY;
}

/* Under lock: waits until nothing runs but written-off runs, or `deadline`. */
static void wait_idle_until(struct executor *ex, int64_t deadline)
{
    struct timespec ts = {.tv_sec = deadline / NS_PER_SEC, .tv_nsec = deadline % NS_PER_SEC};
    while (atomic_load(&ex->running) > ex->n_stuck && mono_ns() < deadline)
        pthread_cond_timedwait(&ex->idle, &ex->lock, &ts);
}

/* Under lock: claims every task not yet started in a batch onto *list. */
static void drain_batches(struct executor *ex, struct task **list)
{
    for (struct worker *w = ex->workers; w; w = w->next) {
        for (size_t i = 0; i < w->n_batch; i++) {
            struct task *t = atomic_exchange_explicit(&w->batch[i], NULL, memory_order_acq_rel);
            if (t) {
                atomic_fetch_sub_explicit(&ex->batched, 1, memory_order_relaxed);
                t->next = *list;
                *list = t;
            }
        }
    }
}

unsigned executor_stop(struct executor *ex, int64_t deadline_mono_ns, int64_t grace_ns)
{
    struct task *dropped, *waiting_dropped = NULL;
    unsigned left = 0;

    pthread_mutex_lock(&ex->lock);
    ex->stopping = true;
    dropped = ex->head;
    ex->head = ex->tail = NULL;
    ex->queued = 0;
    while (ex->waiting) { /* waiting firings hold no instance */
        struct task *t = ex->waiting;
        ex->waiting = t->next;
        t->next = waiting_dropped;
        waiting_dropped = t;
    }
    drain_batches(ex, &dropped); /* nothing starts from now on */
    pthread_cond_broadcast(&ex->work);
    pthread_mutex_unlock(&ex->lock);

    skip_for_shutdown(ex, dropped, true);
    skip_for_shutdown(ex, waiting_dropped, false); /* waiting firings hold no instance */

    pthread_mutex_lock(&ex->lock);
    wait_idle_until(ex, deadline_mono_ns);
    if (atomic_load(&ex->running) > ex->n_stuck) {
        size_t running = atomic_load(&ex->running) - ex->n_stuck;
        pthread_mutex_unlock(&ex->lock);
        jlog(JH_LOG_WARN, "shutdown_cancelling", "running=%zu", running);
        hostapi_cancel_all();
        pthread_mutex_lock(&ex->lock);
        wait_idle_until(ex, clock_add(mono_ns(), grace_ns));
    }
    /* Name every run still in a plugin: they are abandoned to the exit. */
    for (struct worker *w = ex->workers; w; w = w->next) {
        uint64_t fate = atomic_load_explicit(&w->run.fate, memory_order_acquire);
        if (!atomic_load(&w->busy) || RUN_FATE_STATE(fate) == RUN_DONE)
            continue;
        left++;
        jlog(JH_LOG_ERROR, "run_abandoned", "job=%s run_id=%s plugin=%s stuck=%s",
             w->run.job->spec->id, w->run.id_text, w->run.job->spec->plugin,
             atomic_load(&w->written_off) ? "true" : "false");
    }
    /* Queued runs can no longer be taken: wake the watch to see it end. */
    pthread_cond_broadcast(&ex->watch);
    pthread_mutex_unlock(&ex->lock);
    return left;
}

void executor_free(struct executor *ex)
{
    bool busy;

    if (!ex)
        return;
    pthread_mutex_lock(&ex->lock);
    ex->stopping = true;
    pthread_cond_broadcast(&ex->work);
    pthread_cond_broadcast(&ex->watch);
    busy = atomic_load(&ex->running) > 0;
    pthread_mutex_unlock(&ex->lock);
    if (busy) {
        /* A plugin ignored cancellation: its thread cannot be waited for,
         * and its memory must stay valid; leave the pool to the exit. */
        return;
    }
    if (ex->watch_running)
        pthread_join(ex->watch_thread, NULL);
    /* The workers are detached: wait for them to unlink themselves. */
    pthread_mutex_lock(&ex->lock);
    while (ex->n_threads > 0)
        pthread_cond_wait(&ex->idle, &ex->lock);
    pthread_mutex_unlock(&ex->lock);
    while (ex->free_tasks) {
        struct task *next = ex->free_tasks->next;
        free(ex->free_tasks);
        ex->free_tasks = next;
    }
    pthread_cond_destroy(&ex->work);
    pthread_cond_destroy(&ex->idle);
    pthread_cond_destroy(&ex->watch);
    pthread_mutex_destroy(&ex->lock);
    free(ex);
}

void executor_stats(struct executor *ex, struct executor_stats *out)
{
    pthread_mutex_lock(&ex->lock);
    out->queued = ex->queued + atomic_load_explicit(&ex->batched, memory_order_relaxed);
    out->busy = atomic_load_explicit(&ex->n_busy, memory_order_relaxed) - ex->n_stuck;
    out->workers = ex->n_workers;
    out->stuck = ex->n_stuck;
    pthread_mutex_unlock(&ex->lock);
}

size_t executor_pending(struct executor *ex)
{
    size_t n;
    pthread_mutex_lock(&ex->lock);
    n = ex->queued + atomic_load_explicit(&ex->batched, memory_order_relaxed) +
        atomic_load_explicit(&ex->running, memory_order_relaxed);
    pthread_mutex_unlock(&ex->lock);
    return n;
}
