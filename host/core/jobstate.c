/*
 * jobstate — per-job-id state kept across reloads. See jobstate.h.
 *
 * The table is an idtable (lib/idtable.h) touched by the main thread only:
 * states are acquired while a generation is built and released while one
 * is freed, both on the main thread, never on the run path. Slot numbers
 * are recycled, so they stay dense however many reloads add and remove
 * jobs.
 */
#include "core/jobstate.h"

#include <stdlib.h>
#include <string.h>

#include "core/mainloop.h"
#include "core/metrics.h"
#include "lib/util.h"

void jobstate_table_init(struct jobstate_table *t, struct metrics *metrics)
{
    memset(t, 0, sizeof(*t));
    t->metrics = metrics;
    idtable_init(&t->by_id, 0);
    atomic_init(&t->slots, 0);
}

static void state_free(struct jobstate *s)
{
    metrics_job_free(atomic_load_explicit(&s->metrics, memory_order_relaxed));
    free(s);
}

void jobstate_table_free(struct jobstate_table *t)
{
    for (size_t i = 0; i < t->by_id.cap; i++) {
        if (t->by_id.slots[i].key)
            state_free(t->by_id.slots[i].value);
    }
    idtable_free(&t->by_id);
    free(t->free_slots);
    t->free_slots = NULL;
}

struct jobstate *jobstate_acquire(struct jobstate_table *t, const char *id)
{
    struct jobstate *s = idtable_get(&t->by_id, id);
    size_t len;

    MAIN_THREAD_ONLY();
    if (s) {
        s->refs++;
        return s;
    }
    len = strlen(id);
    s = xcalloc(1, sizeof(*s) + len + 1);
    memcpy((char *)(s + 1), id, len + 1);
    if (t->n_free > 0) {
        s->slot = t->free_slots[--t->n_free];
    } else {
        s->slot = (uint32_t)atomic_load_explicit(&t->slots, memory_order_relaxed);
        atomic_store_explicit(&t->slots, s->slot + 1, memory_order_release);
    }
    s->refs = 1;
    s->plan_nominal_ns = -1;
    atomic_init(&s->instances, 0);
    atomic_init(&s->running, 0);
    atomic_init(&s->stuck, 0);
    atomic_init(&s->paused, false);
    atomic_init(&s->next_run_wall_ns, 0);
    atomic_init(&s->metrics, NULL);
    atomic_init(&s->store_key, 0);
    (void)idtable_put(&t->by_id, jobstate_id(s), s); /* new: cannot exist */
    return s;
}

void jobstate_release(struct jobstate_table *t, struct jobstate *s)
{
    if (!s)
        return;
    MAIN_THREAD_ONLY();
    if (--s->refs > 0)
        return;
    idtable_del(&t->by_id, jobstate_id(s));
    if (t->n_free == t->cap_free) {
        t->cap_free = t->cap_free ? 2 * t->cap_free : 64;
        t->free_slots = xrealloc(t->free_slots, t->cap_free * sizeof(*t->free_slots));
    }
    t->free_slots[t->n_free++] = s->slot;
    state_free(s);
}

struct job_metrics *jobstate_metrics(struct jobstate_table *t, struct jobstate *s)
{
    struct job_metrics *jm = atomic_load_explicit(&s->metrics, memory_order_acquire);
    struct job_metrics *expected = NULL;

    if (jm || !t->metrics)
        return jm;
    jm = metrics_job_new(t->metrics);
    if (atomic_compare_exchange_strong_explicit(&s->metrics, &expected, jm, memory_order_acq_rel,
                                                memory_order_acquire))
        return jm;
    metrics_job_free(jm); /* another thread made it first */
    return expected;
}
