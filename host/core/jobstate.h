/*
 * jobstate — what the host knows about a job id that outlives any one
 * generation: how many of its runs are queued or running, whether it is
 * paused, how its last run went. A reload that keeps a job id keeps its
 * state object, so max_instances holds across the swap and the jobs API
 * still shows the last run.
 */
#ifndef JH_JOBSTATE_H
#define JH_JOBSTATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/hostapi.h"

struct jobstate_table;

struct job_last_run {
    int64_t start_wall_ns;
    int64_t duration_ns;
    int result;          /* enum run_result, -1 = never ran */
    char run_id[RUN_ID_LEN];
    char error[256];     /* filled by jobstate_get_last */
};

struct jobstate {
    char *id;
    atomic_uint instances; /* runs queued or running: what max_instances limits */
    atomic_uint running;   /* runs executing now */
    atomic_bool paused;
    atomic_int_fast64_t next_run_wall_ns; /* 0 = none planned; written by the scheduler */
    /* The scheduler's plan, kept across reloads (under the scheduler's lock):
     * which trigger it was made for and the next nominal fire time. */
    uint64_t plan_key;
    int64_t plan_nominal_ns;
    pthread_mutex_t last_lock;            /* guards the last_* fields */
    int64_t last_start_wall_ns;
    int64_t last_duration_ns;
    int last_result;                      /* -1 = never ran */
    char last_run_id[RUN_ID_LEN];
    char *last_error;                     /* NULL when the last run set none; most don't,
                                             so no job pays 256 bytes for it */
    unsigned refs; /* under the table's lock */
};

struct jobstate_table *jobstate_table_new(void);
void jobstate_table_free(struct jobstate_table *t);

/* The state for `id`, created on first use; holds a reference. Any thread
 * (a mutex guards the table; this is only on the reload path). */
struct jobstate *jobstate_acquire(struct jobstate_table *t, const char *id);
void jobstate_release(struct jobstate_table *t, struct jobstate *s);

/* Record / read the last run under the state's lock. */
void jobstate_set_last(struct jobstate *s, int result, int64_t start_wall_ns, int64_t duration_ns,
                       const char *run_id, const char *error);
void jobstate_get_last(struct jobstate *s, struct job_last_run *out);

#endif /* JH_JOBSTATE_H */
