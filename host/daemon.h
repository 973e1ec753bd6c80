/*
 * daemon — the long-running host: wires the manifest, generation, executor,
 * scheduler, log sinks, metrics and HTTP server together and runs the signal
 * loop until a graceful stop.
 */
#ifndef JH_DAEMON_H
#define JH_DAEMON_H

#include <stdbool.h>

struct daemon_opts {
    const char *manifest_path;
    bool dry_run;      /* plan and log every firing; plugins see dry-run */
    int log_stderr;    /* -1 = as the manifest says, 0/1 = forced */
    /* Replaces host.http.listen at start and at every reload (--listen,
     * JOBHOST_LISTEN): a second instance of a manifest, or a test, on a
     * port of its own. NULL = as the manifest says. */
    const char *listen;
};

struct log_config;
struct manifest_host;

/* The log sinks host.log asks for, into *out (strings borrowed from h):
 * what the daemon sets up, and what `run-once` writes to beside stderr.
 * `to_stderr`: -1 = as host.log.stderr says, 0/1 = forced. */
void daemon_log_config(const struct manifest_host *h, int to_stderr, struct log_config *out);

/* Runs the daemon in the foreground. Returns the process exit status: 0
 * after a graceful stop with every run finished, 1 when it could not start
 * or runs had to be abandoned. */
int daemon_run(const struct daemon_opts *opts);

#endif /* JH_DAEMON_H */
