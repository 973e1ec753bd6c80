/*
 * http_deferred — an answer given later, from any thread.
 *
 * A handler that cannot answer at once (POST /-/reload hands the reload
 * to the main thread, which may spend seconds in plugin init) calls
 * http_defer(resp) and returns; the HTTP thread goes on serving other
 * requests (/-/healthy, /metrics) meanwhile. Whoever does the work calls
 * http_deferred_answer() exactly once, from any thread, and the server
 * sends that answer on the request's connection.
 *
 *     static void handle_reload(void *arg, const struct http_request *req,
 *                               struct http_response *resp)
 *     {
 *         struct http_deferred *d = http_defer(resp);
 *         queue_to_main_thread(arg, d);           // HTTP thread: returns now
 *     }
 *     ...                                         // later, on the main thread:
 *     http_deferred_answer(d, 200, "application/json", &summary);
 *
 * Guarantees:
 *   - the answer is sent even when it comes before the handler has
 *     returned, and an answer for a client that went away meanwhile is
 *     dropped without a leak (libmicrohttpd does not watch a waiting
 *     connection: the disconnect is noticed when the answer is written);
 *   - a waiting request holds its connection slot (the connection and
 *     per-IP limits count it) but is never closed by the idle timeout;
 *   - http_stop answers every request still waiting with 503 ("the server
 *     is shutting down"), waits up to a second for those answers to go
 *     out, then closes; a later http_deferred_answer() is dropped and
 *     returns -ECANCELED, so the thread doing the work needs no knowledge
 *     of the server's life. The handle stays valid until it is answered.
 *
 * A gzip route's deferred answer is gzipped like an immediate one (on the
 * answering thread: http_defer keeps resp->gzip, the router's verdict).
 * Headers the handler added to resp, before or after http_defer, are sent
 * with the answer.
 *
 * Threads: http_defer on the thread running the handler; the rest is
 * thread-safe (one mutex per handle; http_deferred_answer may call into
 * libmicrohttpd to wake the connection, under that mutex).
 */
#ifndef JH_HTTP_DEFERRED_H
#define JH_HTTP_DEFERRED_H

#include <stdbool.h>

#include "io/http_router.h"
#include "lib/util.h"

/* Inside a handler: the answer to this request comes later. resp's status,
 * content type and body are then ignored (its headers are kept). Returns
 * the handle to answer with; never NULL. Call it at most once per
 * response. */
struct http_deferred *http_defer(struct http_response *resp);

/* The answer: `status`, `content_type` (static storage, e.g. a string
 * literal; NULL: text/plain) and the body, which it takes (*body is
 * emptied; NULL: no body). Exactly once per http_defer, from any thread;
 * d must not be used afterwards. Returns 0, or -ECANCELED when the request
 * had already been answered by the server (503 while stopping) and this
 * answer was dropped. */
int http_deferred_answer(struct http_deferred *d, int status, const char *content_type,
                         struct buf *body);

/* --- for the server --------------------------------------------------------- */

/* The server, after suspending the connection: true when the answer has
 * not come yet; then `wake(cls)` is called exactly once when it does
 * (on the answering thread, under the handle's mutex: it may only resume
 * the connection). False when the answer is already there (wake is never
 * called: the caller resumes itself). */
bool http_deferred_wait(struct http_deferred *d, void (*wake)(void *cls), void *cls);

/* The server giving up (stopping): answers `status` with `text` unless the
 * handler's answer came first; wakes as above. */
void http_deferred_cancel(struct http_deferred *d, int status, const char *text);

/* The server, once woken: moves the answer into *resp (status, content
 * type, body; the answer's headers are appended to resp's). */
void http_deferred_take(struct http_deferred *d, struct http_response *resp);

/* Drops the server's (or a response's) reference. NULL is a no-op. */
void http_deferred_release(struct http_deferred *d);

#endif /* JH_HTTP_DEFERRED_H */
