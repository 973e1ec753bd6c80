/*
 * bench_probe.h — what the benchmark program sees of the probe plugin
 * (tests/bench/bench_probe.c). Shared by the plugin and bench_sched.c only;
 * the host knows nothing of it.
 *
 * The probe is a real jobhost plugin, loaded like any other (dlopen through
 * generation_build). Its run entry does what tests/plugins/ok.so does (one
 * jh_log at info, filtered out at the benchmark's warn level) plus the
 * measurement: it reads CLOCK_REALTIME on entry, takes a slot with one
 * atomic add and stores {start time, job id} there. The benchmark finds the
 * accessors below with dlsym() on the plugin's handle.
 */
#ifndef JH_BENCH_PROBE_H
#define JH_BENCH_PROBE_H

#include <stddef.h>
#include <stdint.h>

/* One recorded run: when its body started, and which job it was (the
 * host's borrowed id string, valid while the run's generation lives). */
struct bench_probe_sample {
    int64_t wall_ns; /* CLOCK_REALTIME at entry of the run */
    const char *job; /* jh_job_id() */
};

/* Resets the counters and makes room for `cap` samples (0: count only,
 * and then no clock is read on entry). The run that takes slot `target` - 1
 * (the target-th run to start; 0: never) stores CLOCK_MONOTONIC as the last
 * thing its body does. Returns 0, or -1 without memory. Call it while no run
 * is in flight. */
typedef int (*bench_probe_arm_fn)(size_t cap, uint64_t target);

/* Runs counted so far (started, including those past `cap`). */
typedef uint64_t (*bench_probe_runs_fn)(void);

/* CLOCK_MONOTONIC ns stored by the target-th run; 0 if not yet. */
typedef int64_t (*bench_probe_done_fn)(void);

/* The sample array and how many slots are filled (min(runs, cap)). Read it
 * only once the runs are over (after executor_stop). */
typedef size_t (*bench_probe_samples_fn)(const struct bench_probe_sample **out);

#define BENCH_PROBE_ARM "bench_probe_arm"
#define BENCH_PROBE_RUNS "bench_probe_runs"
#define BENCH_PROBE_DONE "bench_probe_done"
#define BENCH_PROBE_SAMPLES "bench_probe_samples"

#endif /* JH_BENCH_PROBE_H */
