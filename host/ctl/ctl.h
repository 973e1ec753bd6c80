/*
 * ctl — `jobhost ctl COMMAND`: a running daemon, from the terminal, over
 * its HTTP API (ctl/client.h), written for people (ctl/format.h) or, with
 * --json, for scripts.
 *
 *   status                       version, uptime, manifest, last reload, node
 *   list [-q]                    every job: next and last run, result, state
 *   show JOB                     its settings, next 5 fire times, last runs
 *   run JOB [--wait] [--dry-run] start a run now; --wait: until it ends
 *   pause JOB | resume JOB
 *   history JOB [--limit N]      its runs, newest first (the run store)
 *   logs RUN_ID [--follow]       the records of one run (the run store)
 *   reload                       reload the manifest, print what changed
 *
 * Where: --url URL, else -c FILE's host.http.listen (and its token file),
 * else http://127.0.0.1:9464. Exit status: 0 done; 1 the daemon said no
 * (no such job, a failed run with --wait, a refused reload, ...); 2 usage;
 * 3 the daemon cannot be reached.
 */
#ifndef JH_CTL_H
#define JH_CTL_H

#define CTL_EXIT_FAILED 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_UNREACHABLE 3

/* argv[0] is "ctl". Returns the exit status. */
int ctl_main(int argc, char **argv);

#endif /* JH_CTL_H */
