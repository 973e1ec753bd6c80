/*
 * run — the instrumented wrapper and run ids. See run.h.
 *
 * Cost matters here: this is on the path of every run, so the clock is read
 * twice per run, nothing is formatted (the log observer formats, and only
 * records that pass the level), and the run id is one atomic operation.
 */
#include "core/run.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/crash.h"
#include "core/generation.h"
#include "core/hostapi.h"
#include "core/isolate.h"
#include "lib/units.h"

/* --- run ids ------------------------------------------------------------------ */

#define RUN_ID_COUNTER_BITS 20

/* The last id given, any thread (compare-and-swap). */
static _Atomic uint64_t last_run_id;

/* The node's bits in the counter (run_id_set_node), set before any run;
 * 0 and a 20-bit counter on a single host. */
static uint64_t node_bits, counter_mask = (1u << RUN_ID_COUNTER_BITS) - 1;

void run_id_set_node(unsigned salt)
{
    node_bits = (uint64_t)(salt & ((1u << RUN_ID_NODE_BITS) - 1))
                << (RUN_ID_COUNTER_BITS - RUN_ID_NODE_BITS);
    counter_mask = (1u << (RUN_ID_COUNTER_BITS - RUN_ID_NODE_BITS)) - 1;
}

/* An id for a run starting at wall_ns. */
static uint64_t run_id_at(int64_t wall)
{
    uint64_t floor_id =
        (uint64_t)(wall > 0 ? wall / NS_PER_MS : 0) << RUN_ID_COUNTER_BITS | node_bits;
    uint64_t prev = atomic_load_explicit(&last_run_id, memory_order_relaxed), next;

    /* The millisecond's first id, or one past the last when that is later
     * (a burst within a millisecond, or a clock that stepped back); a
     * counter that runs out moves on to the next millisecond's first. */
    do {
        if (prev < floor_id)
            next = floor_id;
        else if ((prev & counter_mask) == counter_mask)
            next = ((prev >> RUN_ID_COUNTER_BITS) + 1) << RUN_ID_COUNTER_BITS | node_bits;
        else
            next = prev + 1;
    } while (!atomic_compare_exchange_weak_explicit(&last_run_id, &prev, next,
                                                    memory_order_relaxed, memory_order_relaxed));
    return next;
}

uint64_t run_new_id(void)
{
    return run_id_at(wall_ns());
}

void run_id_format(uint64_t id, char out[RUN_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    /* by hand: this is on every run's path and snprintf is slow */
    for (int i = 0; i < 16; i++)
        out[i] = hex[(id >> (60 - 4 * i)) & 0xf];
    out[16] = '\0';
}

int run_id_parse(const char *text, uint64_t *id)
{
    uint64_t v = 0;

    for (int i = 0; i < 16; i++) {
        char c = text[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
        v = v << 4 | d;
    }
    if (text[16] != '\0')
        return -EINVAL;
    *id = v;
    return 0;
}

/* --- the wrapper ------------------------------------------------------------------ */

/* Whether the host asked the run to stop: the daemon is shutting down, a
 * reload replaced its plugin and the drain deadline passed, a newer
 * firing replaced the run (concurrency: replace), or this cluster node
 * lost the lease the run was claimed under. */
static bool host_cancelled(const struct run_ctx *rc, int64_t now_mono)
{
    int64_t drain =
        rc->drain_deadline ? atomic_load_explicit(rc->drain_deadline, memory_order_relaxed) : 0;
    return hostapi_cancelled_all() || (drain && now_mono >= drain) || hostapi_run_replaced(rc) ||
           hostapi_lease_lost(rc, now_mono);
}

/* Runs the plugin, in a worker process or on this thread; its result. */
static int call_plugin(struct job *job, struct run_ctx *rc, bool *crashed)
{
    int ret = JH_FAIL;

    if (job->spec->isolation != ISOLATION_PROCESS)
        return job->plugin->desc->run(hostapi_ctx(rc));
    switch (isolate_run(job, rc, &ret)) {
    case ISOLATE_RETURNED:
        break;
    case ISOLATE_KILLED:
        ret = JH_CANCELLED;
        break;
    case ISOLATE_CRASHED:
        *crashed = true;
        break;
    case ISOLATE_FAILED:
        ret = JH_FAIL;
        break;
    }
    return ret;
}

bool run_write_off(struct run *run, uint64_t fate)
{
    uint64_t written_off = (fate & ~(uint64_t)3) | RUN_WRITTEN_OFF;
    char d[32], late[32];
    int64_t now = mono_ns();

    if (RUN_FATE_STATE(fate) != RUN_RUNNING ||
        !atomic_compare_exchange_strong_explicit(&run->fate, &fate, written_off,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    run->result = RUN_TIMEOUT;
    run->stuck = true;
    run->duration_ns = now - run->start_mono_ns;
    snprintf(run->error, sizeof(run->error),
             "still running %s after its timeout of %s: its worker thread was written off",
             duration_format((now - run->deadline_mono_ns) / NS_PER_MS * NS_PER_MS, late,
                             sizeof(late)),
             duration_format(run->job->spec->timeout_ns, d, sizeof(d)));
    if (run->holds_instance)
        jobstate_release_instance(run->job->state); /* the schedule goes on */
    outcome_finished(run);
    return true;
}

bool run_job(struct job *job, const struct run_opts *opts, struct run *run)
{
    const struct manifest_job *spec = job->spec;
    struct run_ctx rc;
    int64_t end_mono, deadline = 0;
    bool crashed = false;
    enum run_result result;
    uint64_t fate;
    int ret;

    run->job = job;
    run->trigger = opts->trigger;
    run->dry_run = opts->dry_run;
    run->attempt = opts->attempt ? opts->attempt : 1;
    run->parent_run_id = opts->parent_run_id;
    run->holds_instance = opts->holds_instance;
    run->fencing_token = opts->fencing_token;
    run->scheduled_wall_ns = opts->scheduled_wall_ns;
    atomic_store_explicit(&run->output_bytes, 0, memory_order_relaxed);
    atomic_store_explicit(&run->output_dropped, 0, memory_order_relaxed);
    run->start_mono_ns = mono_ns();
    run->start_wall_ns = wall_from_mono(run->start_mono_ns);
    run->id = opts->run_id ? opts->run_id : run_id_at(run->start_wall_ns);
    run_id_format(run->id, run->id_text);
    run->stuck = false;
    if (spec->timeout_ns > 0)
        deadline = clock_add(run->start_mono_ns, spec->timeout_ns);
    run->deadline_mono_ns = deadline;
    /* Published last: a watch that sees RUN_RUNNING sees the fields above. */
    fate = ((atomic_load_explicit(&run->fate, memory_order_relaxed) >> 2) + 1) << 2 | RUN_RUNNING;
    atomic_store_explicit(&run->fate, fate, memory_order_release);
    hostapi_run_ctx(&rc, run, job->plugin, deadline);
    rc.drain_deadline = &job->plugin->drain_deadline_mono;
    rc.lease = opts->lease;
    rc.lease_lapses = opts->lease_lapses;

    outcome_started(run);
    crash_run_enter(run); /* a fatal signal in the plugin names this run */
    ret = call_plugin(job, &rc, &crashed);
    crash_run_leave();
    end_mono = mono_ns();

    if (opts->dry_run && !crashed)
        result = RUN_DRY_RUN; /* whatever it returned: a dry run is never a failure */
    else if (crashed)
        result = RUN_CRASHED;
    else if (deadline && end_mono > deadline)
        result = RUN_TIMEOUT; /* the plugin overran, whatever it returned */
    else if (ret == JH_OK)
        result = RUN_SUCCESS;
    else if (ret == JH_CANCELLED && host_cancelled(&rc, end_mono))
        result = RUN_CANCELLED; /* stopped because the host asked (shutdown, drain) */
    else
        result = RUN_FAILURE;
    /* The finish is ours to report unless the stuck watch took it. */
    if (!atomic_compare_exchange_strong_explicit(&run->fate, &fate,
                                                 (fate & ~(uint64_t)3) | RUN_DONE,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    run->result = result;
    if (run->result == RUN_TIMEOUT && !rc.error[0]) {
        char d[32];
        snprintf(rc.error, sizeof(rc.error), "ran past its timeout of %s",
                 duration_format(spec->timeout_ns, d, sizeof(d)));
    } else if (run->result == RUN_CANCELLED && hostapi_run_replaced(&rc)) {
        snprintf(rc.error, sizeof(rc.error), "replaced by a newer firing (concurrency: replace)");
    } else if (run->result == RUN_CANCELLED && hostapi_lease_lost(&rc, end_mono) && !rc.error[0]) {
        snprintf(rc.error, sizeof(rc.error), "%s", RUN_LEASE_LOST_TEXT);
    } else if ((run->result == RUN_FAILURE || run->result == RUN_DRY_RUN) && ret != JH_OK &&
               !rc.error[0]) {
        snprintf(rc.error, sizeof(rc.error), "plugin returned %d%s", ret,
                 ret == JH_CANCELLED ? " (cancelled)" : "");
    }
    run->duration_ns = end_mono - run->start_mono_ns;
    /* both RUN_ERROR_MAX bytes; not snprintf, which showed in every run's profile */
    _Static_assert(sizeof(run->error) == sizeof(rc.error), "error buffers differ");
    size_t elen = strnlen(rc.error, sizeof(rc.error) - 1);
    memcpy(run->error, rc.error, elen);
    run->error[elen] = '\0';

    if (run->holds_instance)
        jobstate_release_instance(job->state);
    outcome_finished(run);
    return true;
}
