/*
 * chain — chained jobs. See chain.h.
 *
 * Fan-in state: for each child job id with more than one parent, the set
 * of parents (bits, by their place in its `after` list) that finished as
 * asked since its last chained run. Under `lock` (a leaf); workers only.
 * It is kept by id, so a reload that keeps the child keeps what its
 * parents did; a reload that changes the child's parents starts it afresh.
 */
#include "core/chain.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/generation.h"
#include "core/run.h"
#include "core/scheduler.h"
#include "lib/idtable.h"
#include "lib/util.h"

struct fan_in {
    uint64_t parents; /* signature of the parent list the bits are places in */
    uint64_t seen;
};

struct chain {
    struct scheduler *sched;
    struct chain_shared shared; /* mark NULL: the sets are this node's */
    pthread_mutex_t lock;  /* guards `pending` and its entries */
    struct idtable pending; /* child id (owned) -> struct fan_in * */
};

bool chain_matches(enum chain_on on, enum run_result r)
{
    switch (on) {
    case CHAIN_ON_SUCCESS:
        return r == RUN_SUCCESS || r == RUN_DRY_RUN;
    case CHAIN_ON_FAILURE:
        return run_result_failed(r);
    case CHAIN_ON_ALWAYS:
        return r != RUN_CANCELLED;
    }
    return false;
}

/* The parent list as one number: the same ids in the same order give the
 * same one, across reloads. */
static uint64_t signature(const struct manifest_after *a)
{
    uint64_t h = a->n_parents;
    for (uint32_t k = 0; k < a->n_parents; k++)
        h = h * UINT64_C(0x100000001b3) ^ idtable_hash(a->parents[k].id);
    return h;
}

/* Parent `parent` of `child` finished as asked: whether every parent has
 * now, which starts the count afresh. */
static bool fan_in_complete(struct chain *c, const struct manifest_job *child, const char *parent)
{
    const struct manifest_after *a = child->after;
    uint64_t bit = 0, all = a->n_parents >= 64 ? UINT64_MAX : (UINT64_C(1) << a->n_parents) - 1;
    struct fan_in *f;
    bool done;

    for (uint32_t k = 0; k < a->n_parents; k++)
        if (strcmp(a->parents[k].id, parent) == 0)
            bit |= UINT64_C(1) << k;
    if (c->shared.mark)
        return c->shared.mark(c->shared.arg, child->id, signature(a), bit, all) == 1;
    pthread_mutex_lock(&c->lock);
    f = idtable_get(&c->pending, child->id);
    if (!f) {
        f = xcalloc(1, sizeof(*f));
        (void)idtable_put(&c->pending, xstrdup(child->id), f); /* new: cannot fail */
    }
    if (f->parents != signature(a)) {
        f->parents = signature(a);
        f->seen = 0; /* another list of parents: what the bits meant is gone */
    }
    f->seen |= bit;
    done = (f->seen & all) == all;
    if (done)
        f->seen = 0;
    pthread_mutex_unlock(&c->lock);
    return done;
}

static void on_finished(void *arg, const struct run *run)
{
    struct chain *c = arg;
    const struct generation *g = run->job->gen;
    const uint32_t *children;
    size_t n;

    children = generation_children(g, run->job, &n);
    for (size_t i = 0; i < n; i++) {
        const struct manifest_job *child = g->jobs[children[i]].spec;
        if (!chain_matches(child->after->on, run->result))
            continue;
        if (child->after->n_parents > 1 && !fan_in_complete(c, child, run->job->spec->id))
            continue;
        scheduler_chain(c->sched, child->id, run->id);
    }
}

const struct outcome_observer outcome_chain = {
    .name = "chain",
    .finished = on_finished,
};

struct chain *chain_new(struct scheduler *sched)
{
    struct chain *c = xcalloc(1, sizeof(*c));

    c->sched = sched;
    pthread_mutex_init(&c->lock, NULL);
    idtable_init(&c->pending, 8);
    return c;
}

void chain_share(struct chain *c, const struct chain_shared *shared)
{
    c->shared = *shared;
}

void chain_free(struct chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->pending.cap; i++) {
        if (c->pending.tags[i]) {
            free((char *)c->pending.slots[i].key);
            free(c->pending.slots[i].value);
        }
    }
    idtable_free(&c->pending);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
