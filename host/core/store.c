/*
 * store — what the interface's users share. See store.h.
 */
#include "core/store.h"

#include <stdlib.h>

void store_restore_free(struct store_restore *r)
{
    if (!r->jobs)
        return;
    for (size_t i = 0; i < r->n_jobs; i++)
        free(r->jobs[i].last_error);
    free(r->jobs);
    r->jobs = NULL;
}
