/*
 * reload — the transaction that replaces the live generation: parse and
 * validate the manifest, load new or changed plugins, build the new job
 * table beside the live one, then swap it into the scheduler in one step.
 * Any error refuses the whole reload and leaves the live table, schedules,
 * running jobs and metrics as they were.
 *
 * Reloads are serialised: a SIGHUP, a POST /-/reload and a file watch may
 * ask at the same time; each waits for the one before it.
 */
#ifndef JH_RELOAD_H
#define JH_RELOAD_H

#include "core/generation.h"
#include "lib/util.h"

struct reloader;
struct scheduler;

/* Called after a swap, with the reload lock held: re-apply host settings
 * (log sinks, metrics gauges). */
typedef void (*reload_applied_fn)(void *arg, struct generation *g);

/* Takes over `initial` (one reference). rt and sched are borrowed. */
struct reloader *reloader_new(const char *manifest_path, const struct runtime *rt,
                              struct scheduler *sched, struct generation *initial,
                              reload_applied_fn applied, void *applied_arg);

/* Releases the live generation (its plugins unload once their runs end). */
void reloader_free(struct reloader *r);

/* The live generation, with a reference for the caller. Any thread. */
struct generation *reloader_live(struct reloader *r);

/* Runs one reload transaction. Returns 0 when applied, with a JSON summary
 * in `summary` ({"status":"applied","jobs":{"added":[...],"removed":[...],
 * "changed":[...],"unchanged":[...]},"plugins":{"loaded":[...],
 * "unloaded":[...],"kept":[...]},"duration_ms":N}); or -EINVAL when refused,
 * with every error in errs and {"status":"refused","errors":[...]} in
 * summary. `source` ("SIGHUP", "http", "watch") goes in the records.
 * Any thread; blocks while another reload runs. */
int reloader_reload(struct reloader *r, const char *source, struct buf *summary,
                    struct errors *errs);

#endif /* JH_RELOAD_H */
