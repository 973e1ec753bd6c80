/*
 * isolate — runs of `isolation: process` jobs, in worker processes.
 *
 * A worker is the host binary itself exec'd in worker mode (never a bare
 * fork of the threaded host): `jobhost __worker`, talking over a
 * SOCK_SEQPACKET socketpair on fd 3 (messages: core/isolate_proto.h). It
 * receives the plugin's sealed image (core/plugin.h) with its first message
 * and never opens a plugin by name; it takes the job's credentials (`user:`,
 * `group:`) and limits, then maps the image (the plugin's ELF constructors
 * and init run there, never in the host) and runs it on request, forwarding
 * the plugin's log records to the host. A SIGSEGV, abort or exit() in the
 * plugin, in its constructors or its init kills only the worker: a run is
 * recorded as crashed, with the signal or status, and the next run gets a
 * fresh worker; a load is refused with the same words. A run past its
 * timeout gets SIGTERM, then SIGKILL after a grace, and is recorded as
 * timeout.
 *
 * A plugin that only `isolation: process` jobs name is never mapped in the
 * host: what the host needs of it (its names and declared parameters) a
 * worker reports when it has loaded it, and its check callback runs in a
 * worker too (isolate_probe_*).
 *
 * Idle workers are kept per job (and per plugin content, credentials and
 * limits) for reuse and stopped after a minute unused, or at
 * isolate_shutdown().
 */
#ifndef JH_ISOLATE_H
#define JH_ISOLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/hostapi.h"

struct job;
struct run_ctx;
struct plugin;
struct manifest_job;

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

/* A worker that loaded a plugin for checking, not for runs. */
struct isolate_probe;

/* Where a probe failed: taking the job's credentials, or loading. */
enum isolate_stage { ISOLATE_STAGE_LOAD = 0, ISOLATE_STAGE_CREDS };

/* Starts a worker with the credentials and limits of `spec` (an
 * `isolation: process` job naming p), as its runs' workers will be, and
 * has it load p's image: its constructors and init run there. When p has
 * no descriptor information yet (not mapped here), the worker's report
 * sets it (plugin_set_info). Returns 0 and *out, or a negative errno with
 * one line in err naming the plugin's file and the cause (init failed,
 * "worker killed by signal 11 (SEGV) while loading the plugin", ...) and
 * *stage. Main thread; blocks up to 30 s for a worker that does not
 * answer. */
int isolate_probe_start(struct plugin *p, const struct manifest_job *spec,
                        struct isolate_probe **out, enum isolate_stage *stage, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* Runs the plugin's check callback for `job` in the probe's worker (job
 * must have the probe's credentials and limits): jh_param_error reports
 * go to report(arg, key, message), as hostapi_call_check's do. Returns the
 * callback's result, with its jh_set_error text in why; or a negative
 * errno with why saying how the worker failed. Main thread. */
int isolate_probe_check(struct isolate_probe *pr, const struct manifest_job *job,
                        hostapi_param_error_fn report, void *arg, char *why, size_t whylen);

/* Stops the probe's worker (the plugin's shutdown runs there). NULL is a
 * no-op. Main thread. */
void isolate_probe_end(struct isolate_probe *pr);

/* True when jobs a and b would get the same kind of worker (credentials
 * and limits): one probe serves both. */
bool isolate_same_worker(const struct manifest_job *a, const struct manifest_job *b);

/* Messages and records from workers that could not be used (malformed, or
 * over the size limit) since the process started: the "worker" sink of
 * jobhost_log_records_dropped_total. Any thread. */
uint64_t isolate_dropped(void);

/* The worker process's main: serves requests on fd until told to exit or
 * `parent` (the daemon; 0 = unknown) dies. Returns the process exit status. */
int isolate_worker_main(int fd, pid_t parent);

#endif /* JH_ISOLATE_H */
