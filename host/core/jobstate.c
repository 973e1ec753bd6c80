/*
 * jobstate — per-job-id state kept across reloads. See jobstate.h.
 *
 * A chained hash table keyed by job id, under one mutex. Lookups happen only
 * while a generation is built or torn down, never on the run path: a run
 * reaches its state through the job's pointer.
 */
#include "core/jobstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct entry {
    struct jobstate state;
    struct entry *next;
};

struct jobstate_table {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t n_buckets, count;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

struct jobstate_table *jobstate_table_new(void)
{
    struct jobstate_table *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->n_buckets = 64;
    t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
    return t;
}

static void entry_free(struct entry *e)
{
    free(e->state.last_error);
    pthread_mutex_destroy(&e->state.last_lock);
    free(e->state.id);
    free(e);
}

void jobstate_table_free(struct jobstate_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct entry *e = t->buckets[i];
        while (e) {
            struct entry *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    free(t->buckets);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static void grow(struct jobstate_table *t)
{
    size_t n = t->n_buckets * 2;
    struct entry **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct entry *e = t->buckets[i];
        while (e) {
            struct entry *next = e->next;
            size_t k = hash_id(e->state.id) & (n - 1);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

struct jobstate *jobstate_acquire(struct jobstate_table *t, const char *id)
{
    struct entry *e;
    size_t k;

    pthread_mutex_lock(&t->lock);
    k = hash_id(id) & (t->n_buckets - 1);
    for (e = t->buckets[k]; e; e = e->next) {
        if (strcmp(e->state.id, id) == 0)
            break;
    }
    if (!e) {
        if (t->count >= t->n_buckets) {
            grow(t);
            k = hash_id(id) & (t->n_buckets - 1);
        }
        e = xcalloc(1, sizeof(*e));
        e->state.id = xstrdup(id);
        e->state.last_result = -1;
        pthread_mutex_init(&e->state.last_lock, NULL);
        e->next = t->buckets[k];
        t->buckets[k] = e;
        t->count++;
    }
    e->state.refs++;
    pthread_mutex_unlock(&t->lock);
    return &e->state;
}

void jobstate_release(struct jobstate_table *t, struct jobstate *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&t->lock);
    if (--s->refs == 0) {
        size_t k = hash_id(s->id) & (t->n_buckets - 1);
        for (struct entry **pp = &t->buckets[k]; *pp; pp = &(*pp)->next) {
            if (&(*pp)->state == s) {
                struct entry *e = *pp;
                *pp = e->next;
                entry_free(e);
                t->count--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void jobstate_set_last(struct jobstate *s, int result, int64_t start_wall_ns, int64_t duration_ns,
                       const char *run_id, const char *error)
{
    char *old = NULL, *copy = NULL;

    /* A failing job allocates its message on each run; a succeeding one,
     * the common case, allocates nothing. */
    if (error[0])
        copy = xstrndup(error, strnlen(error, sizeof(((struct job_last_run *)0)->error) - 1));
    pthread_mutex_lock(&s->last_lock);
    s->last_result = result;
    s->last_start_wall_ns = start_wall_ns;
    s->last_duration_ns = duration_ns;
    memcpy(s->last_run_id, run_id, sizeof(s->last_run_id));
    old = s->last_error;
    s->last_error = copy;
    pthread_mutex_unlock(&s->last_lock);
    free(old);
}

void jobstate_get_last(struct jobstate *s, struct job_last_run *out)
{
    pthread_mutex_lock(&s->last_lock);
    out->start_wall_ns = s->last_start_wall_ns;
    out->duration_ns = s->last_duration_ns;
    out->result = s->last_result;
    memcpy(out->run_id, s->last_run_id, sizeof(out->run_id));
    snprintf(out->error, sizeof(out->error), "%s", s->last_error ? s->last_error : "");
    pthread_mutex_unlock(&s->last_lock);
}
