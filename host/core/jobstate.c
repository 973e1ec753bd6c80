/*
 * jobstate — per-job-id state kept across reloads. See jobstate.h.
 *
 * The table is an array by slot number touched by the main thread only:
 * states are made while a generation is built and released while one is
 * freed, both on the main thread, never on the run path. It is not looked
 * up by id (the generations index their jobs; see generation_build): it
 * hands out slot numbers, recycled so they stay dense however many reloads
 * add and remove jobs, and lets the last states be freed at exit.
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
    atomic_init(&t->slots, 0);
}

static void state_free(struct jobstate *s)
{
    metrics_job_free(atomic_load_explicit(&s->metrics, memory_order_relaxed));
    free(s);
}

void jobstate_table_free(struct jobstate_table *t)
{
    uint32_t slots = jobstate_slots(t);
    for (uint32_t i = 0; i < slots; i++) {
        if (t->by_slot[i])
            state_free(t->by_slot[i]);
    }
    free(t->by_slot);
    free(t->free_slots);
    t->by_slot = NULL;
    t->free_slots = NULL;
    t->count = 0;
}

struct jobstate *jobstate_new(struct jobstate_table *t, const char *id)
{
    size_t len = strlen(id);
    struct jobstate *s = xcalloc(1, sizeof(*s) + len + 1);

    MAIN_THREAD_ONLY();
    memcpy((char *)(s + 1), id, len + 1);
    if (t->n_free > 0) {
        s->slot = t->free_slots[--t->n_free];
    } else {
        s->slot = (uint32_t)atomic_load_explicit(&t->slots, memory_order_relaxed);
        if (s->slot == t->cap_slots) {
            t->cap_slots = t->cap_slots ? 2 * t->cap_slots : 64;
            t->by_slot = xrealloc(t->by_slot, t->cap_slots * sizeof(*t->by_slot));
        }
        atomic_store_explicit(&t->slots, s->slot + 1, memory_order_release);
    }
    t->by_slot[s->slot] = s;
    t->count++;
    s->refs = 1;
    s->plan_nominal_ns = -1;
    atomic_init(&s->instances, 0);
    atomic_init(&s->running, 0);
    atomic_init(&s->stuck, 0);
    atomic_init(&s->paused, false);
    atomic_init(&s->next_run_wall_ns, 0);
    atomic_init(&s->metrics, NULL);
    atomic_init(&s->store_key, 0);
    return s;
}

struct jobstate *jobstate_hold(struct jobstate *s)
{
    MAIN_THREAD_ONLY();
    s->refs++;
    return s;
}

void jobstate_release(struct jobstate_table *t, struct jobstate *s)
{
    if (!s)
        return;
    MAIN_THREAD_ONLY();
    if (--s->refs > 0)
        return;
    t->by_slot[s->slot] = NULL;
    t->count--;
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
