/*
 * isolate — runs of `isolation: process` jobs, in worker processes.
 *
 * A worker is the host binary itself exec'd in worker mode (never a bare
 * fork of the threaded host): `jobhost __worker`, talking over a
 * SOCK_SEQPACKET socketpair on fd 3. It loads one job's plugin once and runs
 * it on request, forwarding the plugin's log records to the host. A
 * SIGSEGV, abort or exit() in the plugin kills only the worker: the run is
 * recorded as crashed, with the signal or status, and the next run gets a
 * fresh worker. A run past its timeout gets SIGTERM, then SIGKILL after a
 * grace, and is recorded as timeout.
 *
 * Idle workers are kept per job (and per plugin content) for reuse and
 * stopped after a minute unused, or at isolate_shutdown().
 */
#ifndef JH_ISOLATE_H
#define JH_ISOLATE_H

#include <stdbool.h>
#include <sys/types.h>

struct job;
struct run_ctx;

/* How a run in a worker ended, beyond the plugin's own result. */
enum isolate_outcome {
    ISOLATE_RETURNED = 0, /* the plugin returned; *ret holds its result */
    ISOLATE_CRASHED,      /* the worker died; rc->error says how */
    ISOLATE_KILLED,       /* past its deadline: stopped with SIGTERM/SIGKILL */
    ISOLATE_FAILED,       /* the worker could not start or load the plugin */
};

/* Runs one run of `job` in a worker, with the context `rc` prepared by the
 * instrumented wrapper. Blocks the calling (worker) thread until it ends.
 * Any thread. */
enum isolate_outcome isolate_run(struct job *job, struct run_ctx *rc, int *ret);

/* Stops every idle worker. Main thread, at shutdown. */
void isolate_shutdown(void);

/* Kills every worker still in a run (SIGKILL to its process group): the
 * daemon stops and has given up waiting for them. Any thread. */
void isolate_kill_busy(void);

/* The worker process's main: serves requests on fd until told to exit or
 * `parent` (the daemon; 0 = unknown) dies. Returns the process exit status. */
int isolate_worker_main(int fd, pid_t parent);

#endif /* JH_ISOLATE_H */
