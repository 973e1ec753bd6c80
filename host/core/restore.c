/*
 * restore — the start-up read of the run store. See restore.h.
 */
#include "core/restore.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/generation.h"
#include "core/history.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/retry.h"
#include "core/run.h"
#include "core/store.h"
#include "lib/idtable.h"
#include "lib/trigger.h"
#include "lib/util.h"

struct restore {
    struct idtable by_id; /* job id -> struct sched_resume * (in resumes) */
    struct sched_resume *resumes;
    size_t known;
    uint64_t interrupted;
    int64_t last_seen;
};

static void log_interrupted(void *arg, const char *job_id, uint64_t run_id, int64_t started)
{
    char id[RUN_ID_LEN], when[RFC3339_BUFLEN];

    (void)arg;
    run_id_format(run_id, id);
    rfc3339_format(started, NULL, true, when, sizeof(when));
    jlog(JH_LOG_WARN, "run_interrupted", "job=%s run_id=%s started=%s result=interrupted error=%s",
         job_id, id, when, "the daemon stopped while the run was in flight");
}

/* The job's state and metrics as the store kept them. */
static void apply(struct runtime *rt, struct job *job, const struct store_job_state *st)
{
    struct job_metrics *jm;

    /* the key the writer will use, tagged with its first open (history.h) */
    atomic_store_explicit(&job->state->store_key, (uint64_t)HISTORY_FIRST_EPOCH << 32 | st->key,
                          memory_order_relaxed);
    if (!st->known)
        return;
    atomic_store_explicit(&job->state->paused, st->paused, memory_order_relaxed);
    if (!st->last_id && !st->last_success_ns && !st->last_failure_ns && !st->interrupted)
        return;
    jm = jobstate_metrics(&rt->states, job->state);
    if (jm) {
        struct job_last_run last = {.ran = st->last_id != 0,
                                    .run_id = st->last_id,
                                    .result = (enum run_result)(st->last_result >= 0
                                                                    ? st->last_result
                                                                    : RUN_FAILURE),
                                    .start_wall_ns = st->last_started_ns,
                                    .duration_ns = st->last_duration_ns};
        if (st->last_error)
            snprintf(last.error, sizeof(last.error), "%s", st->last_error);
        metrics_job_restore(jm, &last, st->last_success_ns, st->last_failure_ns, st->interrupted);
    }
}

/* A retry the last daemon left waiting: the job's last run failed within
 * its retry limit. It is due when that daemon would have run it (now, when
 * that time has passed while it was down). */
static void pending_retry(struct job *job, const struct store_job_state *st,
                          struct sched_resume *rs)
{
    const struct manifest_retry *p = job->spec->retry;
    int64_t end;

    if (!p || !st->last_attempt || st->last_result < 0 ||
        !retry_result_retried((enum run_result)st->last_result) || st->last_attempt > p->limit)
        return;
    end = st->last_started_ns + (st->last_duration_ns > 0 ? st->last_duration_ns : 0);
    rs->retry_attempt = st->last_attempt + 1;
    rs->retry_due_ns = end + retry_delay(p, st->last_attempt, st->last_id);
    rs->retry_scheduled_ns = st->last_run_scheduled_ns;
}

int restore_run(struct store *s, struct runtime *rt, struct generation *g, int64_t now_ns,
                struct restore **out, char *err, size_t errlen)
{
    struct store_restore req = {.n_jobs = g->n_jobs, .now_ns = now_ns,
                                .interrupted = log_interrupted};
    const char **ids = xcalloc(g->n_jobs + 1, sizeof(*ids));
    int64_t *dates = xcalloc(g->n_jobs + 1, sizeof(*dates));
    bool *attempts = xcalloc(g->n_jobs + 1, sizeof(*attempts));
    struct restore *r = NULL;
    int rc;

    *out = NULL;
    for (size_t i = 0; i < g->n_jobs; i++) {
        const struct trigger *t = &g->jobs[i].spec->trigger;
        ids[i] = g->jobs[i].spec->id;
        dates[i] = t->kind == TRIGGER_DATE ? t->at_ns : 0;
        attempts[i] = g->jobs[i].spec->retry != NULL;
    }
    req.job_ids = ids;
    req.dates = dates;
    req.attempts = attempts;
    rc = s->ops->restore(s, &req, err, errlen);
    if (rc < 0)
        goto out;
    r = xcalloc(1, sizeof(*r));
    idtable_init(&r->by_id, g->n_jobs);
    r->resumes = xcalloc(g->n_jobs + 1, sizeof(*r->resumes));
    r->interrupted = req.n_interrupted;
    r->last_seen = req.last_seen_ns;
    for (size_t i = 0; i < g->n_jobs; i++) {
        const struct store_job_state *st = &req.jobs[i];
        struct sched_resume *rs = &r->resumes[i];
        struct job *job = &g->jobs[i];

        apply(rt, job, st);
        if (!st->known)
            continue;
        r->known++;
        rs->date_done = st->date_done;
        rs->last_nominal_ns = st->last_scheduled_ns;
        rs->down_until_ns = req.store_now_ns;
        /* down since the later of its last sign of life and the job's last
         * recorded firing: nothing before either was missed */
        if (req.last_seen_ns > 0) {
            rs->down_since_ns = req.last_seen_ns;
            if (st->last_scheduled_ns > rs->down_since_ns)
                rs->down_since_ns = st->last_scheduled_ns;
        }
        pending_retry(job, st, rs);
        (void)idtable_put(&r->by_id, job->spec->id, rs); /* ids are unique */
    }
    *out = r;
out:
    store_restore_free(&req);
    free(ids);
    free(dates);
    free(attempts);
    return rc;
}

bool restore_resume(void *arg, const struct job *job, struct sched_resume *out)
{
    struct restore *r = arg;
    const struct sched_resume *rs = r ? idtable_get(&r->by_id, job->spec->id) : NULL;

    if (!rs)
        return false;
    *out = *rs;
    return true;
}

void restore_summary(const struct restore *r, size_t *known, uint64_t *interrupted,
                     int64_t *last_seen_ns)
{
    *known = r ? r->known : 0;
    *interrupted = r ? r->interrupted : 0;
    *last_seen_ns = r ? r->last_seen : 0;
}

void restore_free(struct restore *r)
{
    if (!r)
        return;
    idtable_free(&r->by_id);
    free(r->resumes);
    free(r);
}
