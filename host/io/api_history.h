/*
 * api_history — the run history routes of the jobs API:
 *
 *   GET /api/v1/jobs/ID/runs?limit=N&before=RUN_ID&result=R
 *       {"job_id": ID, "runs": [row, ...]}: runs and skip records, newest
 *       first, at most N (default 50, at most 1000); before= pages on (the
 *       rows with smaller ids); result= keeps one result (success, failure,
 *       timeout, crashed, cancelled, dry_run, interrupted, skipped, running)
 *   GET /api/v1/runs/RUN_ID
 *       one row with its "output": [record, ...]
 *   GET /api/v1/runs/RUN_ID/output[?follow=true]
 *       its records, one JSON object a line (application/x-ndjson); with
 *       follow=true the answer stays open and streams the records of a
 *       run in flight as they are committed, ending when the run has
 *       finished and its last record is out
 * Rows and records as io/history_json.h describes them. Handlers run on
 * the HTTP thread and read the store through a read-only handle of their
 * own (never the writer's), opened on first use.
 */
#ifndef JH_API_HISTORY_H
#define JH_API_HISTORY_H

#include "io/api.h"
#include "io/http_router.h"

/* The three routes above, with `api` as their argument, into `routes`
 * (room for 3); returns how many. */
#define API_HISTORY_ROUTES 3
size_t api_history_routes(struct api *api, struct http_route *routes);

/* The store committed (history_on_commit's callback, arg = the api):
 * every follower looks again. Writer thread. */
void api_history_committed(void *api);

/* The read handle, closed (the server has stopped). */
void api_history_close(struct api *api);

#endif /* JH_API_HISTORY_H */
