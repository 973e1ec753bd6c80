/*
 * events — the daemon's live feed, GET /api/v1/events: Server-Sent Events
 * for the status page, and for anything else that would rather listen
 * than poll. What feeds it: an outcome observer (events_observer,
 * registered after the others, so a reader who hears of a run finds the
 * counters and the job state already updated) and the reload hook
 * (events_reload). Each connection receives, as `event: NAME` and one
 * line of JSON `data:`:
 *
 *   hello     {"version","time"}: first, once connected; a client fetches
 *             /api/v1/jobs after it, so that nothing falls between the two
 *   started   {"job","run_id","trigger","dry_run","time","running","next_run"}
 *   finished  {"job","run_id","result","duration_ms","error","started","time",
 *              "running","next_run","state"}
 *   skipped   {"job","reason","count","scheduled","next_run","state"}
 *   reload    the reload's summary ({"status":"applied",...} or
 *             {"status":"refused","errors":[...]})
 *   resync    {"dropped":N}: events were lost (the client read too slowly,
 *             or a burst outran the feed); fetch /api/v1/jobs again
 *
 * and a `: keepalive` comment every 15 s, which also lets the server find
 * connections whose client has gone.
 *
 * Never blocking a run: with nobody connected an outcome costs one atomic
 * load. Otherwise the reporting thread copies a small fixed record into a
 * bounded ring under a leaf lock and signals; one thread of the module's
 * own turns records into JSON and hands them to each connection's queue,
 * which is bounded too: a queue that would overflow is emptied and its
 * client told to resync, and a full ring is counted and every client told
 * the same. The connections are streams that wait (http_stream.h): the
 * server does not poll them; the feed's thread wakes one when its queue
 * has something.
 */
#ifndef JH_EVENTS_H
#define JH_EVENTS_H

#include <stddef.h>

#include "core/outcome.h"
#include "io/http_router.h"
#include "lib/util.h"

struct events;

/* A feed, its thread started. Main thread. */
struct events *events_new(void);

/* Stops the thread and frees the feed. Every HTTP server serving its route
 * must be stopped first (their connections hold it). NULL is a no-op.
 * Main thread. */
void events_free(struct events *ev);

/* The observer; register it with the feed as its argument, after the
 * metrics, log and state observers. */
extern const struct outcome_observer events_observer;

/* A reload is over: rc and summary as reloader_reload gives them. Main
 * thread (the reload hook). */
void events_reload(struct events *ev, int rc, const struct buf *summary);

/* The feed's route (GET /api/v1/events) into `routes`; returns how many. */
#define EVENTS_ROUTES 1
size_t events_routes(struct events *ev, struct http_route *routes);

#endif /* JH_EVENTS_H */
