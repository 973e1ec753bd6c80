/*
 * executor — the worker pool. See executor.h.
 *
 * DESIGN. Submitters (the dispatcher thread, the HTTP thread for manual
 * runs) append tasks to one FIFO under `lock` and signal `work`. Workers
 * take up to a batch of tasks per lock round (fewer lock round-trips when
 * many runs are due at once), run each through run_job() with no lock held,
 * then count them done. executor_stop() flips `stopping`, waits on `idle`
 * for the running count to reach zero, raising cancellation at the deadline.
 */
#include "core/executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
};

struct executor {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a task was queued, or stopping */
    pthread_cond_t idle; /* running dropped to zero */
    struct task *head, *tail; /* under lock */
    struct task *free_tasks;  /* under lock: recycled task nodes */
    size_t queued;            /* under lock */
    size_t running;           /* under lock */
    bool stopping;            /* under lock */
    unsigned n_workers;
    pthread_t *workers;
};

static void finish_task(struct job *job)
{
    executor_release_instance(job);
    generation_unref(job->gen);
}

static void execute(struct task *t)
{
    const struct manifest_job *spec = t->job->spec;
    struct run run;

    if (t->opts.trigger == RUN_SCHEDULED && spec->misfire_grace_ns > 0 &&
        wall_ns() > t->opts.scheduled_wall_ns + spec->misfire_grace_ns) {
        outcome_skipped(t->job, SKIP_MISFIRE, t->opts.scheduled_wall_ns, 1);
        return;
    }
    run_job(t->job, &t->opts, &run);
}

static void *worker_main(void *arg)
{
    struct executor *ex = arg;
    struct task *batch[WORKER_BATCH];

    pthread_mutex_lock(&ex->lock);
    for (;;) {
        size_t n = 0;
        while (!ex->head && !ex->stopping)
            pthread_cond_wait(&ex->work, &ex->lock);
        if (!ex->head && ex->stopping)
            break;
        /* Take a fair share: never leave other idle workers without work. */
        size_t share = ex->queued / ex->n_workers + 1;
        while (ex->head && n < WORKER_BATCH && n < share) {
            batch[n++] = ex->head;
            ex->head = ex->head->next;
            ex->queued--;
        }
        if (!ex->head)
            ex->tail = NULL;
        ex->running += n;
        pthread_mutex_unlock(&ex->lock);

        for (size_t i = 0; i < n; i++) {
            execute(batch[i]);
            finish_task(batch[i]->job);
        }

        pthread_mutex_lock(&ex->lock);
        for (size_t i = 0; i < n; i++) {
            batch[i]->next = ex->free_tasks;
            ex->free_tasks = batch[i];
        }
        ex->running -= n;
        if (ex->running == 0 && !ex->head)
            pthread_cond_broadcast(&ex->idle);
    }
    pthread_mutex_unlock(&ex->lock);
    return NULL;
}

struct executor *executor_new(unsigned workers)
{
    struct executor *ex = xcalloc(1, sizeof(*ex));
    pthread_condattr_t attr;

    pthread_mutex_init(&ex->lock, NULL);
    pthread_cond_init(&ex->work, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ex->idle, &attr);
    pthread_condattr_destroy(&attr);
    ex->n_workers = workers ? workers : 1;
    ex->workers = xcalloc(ex->n_workers, sizeof(*ex->workers));
    for (unsigned i = 0; i < ex->n_workers; i++) {
        int rc = pthread_create(&ex->workers[i], NULL, worker_main, ex);
        if (rc != 0) {
            fprintf(stderr, "jobhost: cannot start worker thread: %s\n", strerror(rc));
            abort();
        }
    }
    return ex;
}

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
    atomic_fetch_sub_explicit(&job->state->instances, 1, memory_order_relaxed);
}

size_t executor_submit_many(struct executor *ex, const struct run_request *reqs, size_t n)
{
    struct task *head = NULL, **tail = &head, *last = NULL;
    size_t queued = 0;

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
        if (!executor_claim_instance(job)) {
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
        t->next = NULL;
        *tail = t;
        tail = &t->next;
        last = t;
        queued++;
    }
    pthread_mutex_lock(&ex->lock);
    while (spare) { /* unused nodes go back */
        struct task *next = spare->next;
        spare->next = ex->free_tasks;
        ex->free_tasks = spare;
        spare = next;
    }
    if (queued && ex->stopping) {
        /* stop began meanwhile: these never run */
        pthread_mutex_unlock(&ex->lock);
        while (head) {
            struct task *next = head->next;
            outcome_skipped(head->job, SKIP_SHUTDOWN, head->opts.scheduled_wall_ns, 1);
            finish_task(head->job);
            free(head);
            head = next;
        }
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
    return queued;
}

int executor_submit(struct executor *ex, struct job *job, const struct run_opts *opts)
{
    struct run_request req = {.job = job, .opts = *opts};
    bool stopping;

    if (executor_submit_many(ex, &req, 1) == 1)
        return 0;
    /* Not queued, and already recorded as skipped: say which way. */
    pthread_mutex_lock(&ex->lock);
    stopping = ex->stopping;
    pthread_mutex_unlock(&ex->lock);
    return stopping ? -ESHUTDOWN : -EBUSY;
}

static void wait_idle_until(struct executor *ex, int64_t deadline)
{
    struct timespec ts = {.tv_sec = deadline / NS_PER_SEC, .tv_nsec = deadline % NS_PER_SEC};
    while (ex->running > 0 && mono_ns() < deadline)
        pthread_cond_timedwait(&ex->idle, &ex->lock, &ts);
}

unsigned executor_stop(struct executor *ex, int64_t deadline_mono_ns, int64_t grace_ns)
{
    struct task *dropped;
    unsigned left;

    pthread_mutex_lock(&ex->lock);
    ex->stopping = true;
    dropped = ex->head;
    ex->head = ex->tail = NULL;
    ex->queued = 0;
    pthread_cond_broadcast(&ex->work);
    pthread_mutex_unlock(&ex->lock);

    while (dropped) {
        struct task *next = dropped->next;
        outcome_skipped(dropped->job, SKIP_SHUTDOWN, dropped->opts.scheduled_wall_ns, 1);
        finish_task(dropped->job);
        free(dropped);
        dropped = next;
    }

    pthread_mutex_lock(&ex->lock);
    wait_idle_until(ex, deadline_mono_ns);
    if (ex->running > 0) {
        pthread_mutex_unlock(&ex->lock);
        jlog(JH_LOG_WARN, "shutdown_cancelling", "running=%zu", ex->running);
        hostapi_cancel_all();
        pthread_mutex_lock(&ex->lock);
        wait_idle_until(ex, mono_ns() + grace_ns);
    }
    left = (unsigned)ex->running;
    pthread_mutex_unlock(&ex->lock);
    return left;
}

void executor_free(struct executor *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->lock);
    ex->stopping = true;
    pthread_cond_broadcast(&ex->work);
    bool busy = ex->running > 0;
    pthread_mutex_unlock(&ex->lock);
    if (busy) {
        /* A plugin ignored cancellation: its thread cannot be joined, and
         * its memory must stay valid; leave the pool to the process exit. */
        return;
    }
    for (unsigned i = 0; i < ex->n_workers; i++)
        pthread_join(ex->workers[i], NULL);
    while (ex->free_tasks) {
        struct task *next = ex->free_tasks->next;
        free(ex->free_tasks);
        ex->free_tasks = next;
    }
    free(ex->workers);
    pthread_cond_destroy(&ex->work);
    pthread_cond_destroy(&ex->idle);
    pthread_mutex_destroy(&ex->lock);
    free(ex);
}

size_t executor_pending(struct executor *ex)
{
    size_t n;
    pthread_mutex_lock(&ex->lock);
    n = ex->queued + ex->running;
    pthread_mutex_unlock(&ex->lock);
    return n;
}
