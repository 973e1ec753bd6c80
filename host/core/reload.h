/*
 * reload — the transaction that replaces the live generation: parse and
 * validate the manifest, load new or changed plugins, build the new job
 * table beside the live one, then swap it into the scheduler in one step.
 * Any error refuses the whole reload and leaves the live table, schedules,
 * running jobs and metrics as they were.
 *
 * Reloads run on the main thread only, so they never overlap and plugin
 * init runs where the lifecycle belongs. A SIGHUP is read by the main
 * thread itself; POST /-/reload (the HTTP thread) and the file watcher hand
 * theirs over with reloader_request and are answered when it is done, so
 * the HTTP thread keeps serving meanwhile.
 */
#ifndef JH_RELOAD_H
#define JH_RELOAD_H

#include "core/generation.h"
#include "lib/util.h"

struct reloader;
struct scheduler;

/* How the daemon takes part in a reload, on the main thread:
 *   prepare  the new generation is built, the live one still runs: get
 *            ready the host settings that can fail (bind a new listener,
 *            read token and TLS files) or refuse with one line per problem
 *            in errs ("... needs a restart"); returns 0 or -errno. Nothing
 *            after it can fail: a prepared reload is applied.
 *   applied  the new generation is live: switch to what prepare made ready
 *            and re-apply the rest (log sinks, metrics gauges).
 * Either may be NULL. */
struct reload_hooks {
    int (*prepare)(void *arg, const struct generation *live, struct generation *next,
                   struct errors *errs);
    void (*applied)(void *arg, struct generation *g);
    /* Every reload, applied or refused, once it is over: rc and the
     * summary as reloader_reload returns them (borrowed). */
    void (*done)(void *arg, int rc, const struct buf *summary);
    void *arg;
};

/* The outcome of the last reload, for the status of the daemon. */
struct reload_last {
    int64_t wall_ns;  /* when it ended; 0 = no reload since the start */
    bool ok;          /* applied */
    char source[16];  /* "SIGHUP", "http", "watch" */
    char *summary;    /* the JSON summary (malloc'ed copy: the caller frees it);
                         NULL when there was none */
};

/* Copies the last reload's outcome into *out. Any thread. */
void reloader_last(struct reloader *r, struct reload_last *out);

/* Takes over `initial` (one reference). rt, sched and hooks are borrowed. */
struct reloader *reloader_new(const char *manifest_path, struct runtime *rt,
                              struct scheduler *sched, struct generation *initial,
                              const struct reload_hooks *hooks);

/* Releases the live generation (its plugins unload once their runs end). */
void reloader_free(struct reloader *r);

/* The live generation, with a reference for the caller. Any thread. */
struct generation *reloader_live(struct reloader *r);

/* Runs one reload transaction. Returns 0 when applied, with a JSON summary
 * in `summary` ({"status":"applied","jobs":{"added":[...],"removed":[...],
 * "changed":[...],"unchanged":[...]},"plugins":{"loaded":[...],
 * "unloaded":[...],"kept":[...]},"duration_ms":N}, N covering the whole
 * transaction, the old generation's release included); or -EINVAL when
 * refused, with every error in errs and {"status":"refused","errors":[...]}
 * in summary. `source` ("SIGHUP", "http", "watch") goes in the records.
 * Linear in the number of jobs. Main thread. */
int reloader_reload(struct reloader *r, const char *source, struct buf *summary,
                    struct errors *errs);

/* The result of a reload asked for with reloader_request: rc as
 * reloader_reload returns it and its summary (borrowed for the call). */
typedef void (*reload_done_fn)(void *arg, int rc, const struct buf *summary);

/* From now on requests are answered -ESHUTDOWN without reloading (the
 * daemon is stopping); run mainloop_run_pending() after it so that those
 * already queued are answered. Main thread. */
void reloader_stop(struct reloader *r);

/* Asks the main thread for a reload; `done` (may be NULL) then runs on the
 * main thread with its result. `source` must be a string literal. Any
 * thread; returns at once. */
void reloader_request(struct reloader *r, const char *source, reload_done_fn done, void *arg);

#endif /* JH_RELOAD_H */
