/*
 * run — the instrumented wrapper: every run of a job, scheduled, manual,
 * `run-once` or dry, goes through run_job(). It gives the run its id, binds
 * the log context (job, run_id, plugin), times it on the monotonic clock,
 * classifies the result and records it in the job's metrics and state.
 */
#ifndef JH_RUN_H
#define JH_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hostapi.h"

struct job;

enum run_result {
    RUN_SUCCESS = 0,
    RUN_FAILURE,
    RUN_TIMEOUT,
    RUN_CRASHED,
    RUN_DRY_RUN,
};

/* How the run came about; shown in the job_started record. */
enum run_trigger {
    RUN_SCHEDULED = 0,
    RUN_MANUAL,  /* the jobs API */
    RUN_CLI,     /* jobhost run-once */
};

struct run_opts {
    enum run_trigger trigger;
    int64_t scheduled_wall_ns; /* when it was due; 0 = now (manual) */
    bool dry_run;
    char run_id[RUN_ID_LEN];   /* assigned before queueing (manual runs answer with it);
                                  "" = assign at start */
};

/* One run to queue: what the scheduler hands the executor. */
struct run_request {
    struct job *job;
    struct run_opts opts;
};

struct run_outcome {
    enum run_result result;
    int64_t duration_ns;
    char run_id[RUN_ID_LEN];
    char error[256]; /* the plugin's jh_set_error, or the host's reason */
};

/* Runs `job` once on the calling thread and records the outcome. The caller
 * keeps a reference to the job's generation for the duration. */
void run_job(struct job *job, const struct run_opts *opts, struct run_outcome *out);

const char *run_result_name(enum run_result r);
const char *run_trigger_name(enum run_trigger t);

#endif /* JH_RUN_H */
