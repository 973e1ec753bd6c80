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

static const int result_codes[RUN_RESULT_COUNT] = {
    [RUN_SUCCESS] = 0, [RUN_FAILURE] = 1, [RUN_TIMEOUT] = 2,     [RUN_CRASHED] = 3,
    [RUN_CANCELLED] = 4, [RUN_DRY_RUN] = 5, [RUN_INTERRUPTED] = 6,
};
static const int cause_codes[RUN_TRIGGER_COUNT] = {
    [RUN_SCHEDULED] = 0, [RUN_MANUAL] = 1, [RUN_CLI] = 2, [RUN_CATCH_UP] = 3,
    [RUN_RETRY] = 4,     [RUN_AFTER] = 5,  [RUN_AT_START] = 6,
    [RUN_RECOVER] = 7,
};
static const int reason_codes[SKIP_REASON_COUNT] = {
    [SKIP_MAX_INSTANCES] = 0, [SKIP_MISFIRE] = 1,  [SKIP_COALESCED] = 2,
    [SKIP_PAUSED] = 3,        [SKIP_SHUTDOWN] = 4, [SKIP_DOWNTIME] = 5,
    [SKIP_QUEUED] = 6,        [SKIP_STORE_UNAVAILABLE] = 7,
};

static int code_of(const int *codes, int n, int v)
{
    return v >= 0 && v < n ? codes[v] : -1;
}

static int value_of(const int *codes, int n, int code)
{
    for (int i = 0; i < n; i++)
        if (codes[i] == code)
            return i;
    return -1;
}

int store_result_code(int result)
{
    if (result == STORE_RESULT_SKIPPED)
        return STORE_CODE_SKIPPED;
    return code_of(result_codes, RUN_RESULT_COUNT, result);
}

int store_result_of(int code)
{
    if (code == STORE_CODE_SKIPPED)
        return STORE_RESULT_SKIPPED;
    return value_of(result_codes, RUN_RESULT_COUNT, code);
}

int store_cause_code(int trigger)
{
    return code_of(cause_codes, RUN_TRIGGER_COUNT, trigger);
}

int store_cause_of(int code)
{
    return value_of(cause_codes, RUN_TRIGGER_COUNT, code);
}

int store_reason_code(int reason)
{
    return code_of(reason_codes, SKIP_REASON_COUNT, reason);
}

int store_reason_of(int code)
{
    return value_of(reason_codes, SKIP_REASON_COUNT, code);
}
