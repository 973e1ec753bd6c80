/*
 * notify_curl — the sender of notifications and pings (core/notify.h):
 * one thread, libcurl, a bounded queue. See notify_curl.c.
 */
#ifndef JH_NOTIFY_CURL_H
#define JH_NOTIFY_CURL_H

#include "core/notify.h"

struct notify_curl;

/* Starts the sender thread; NULL when it cannot start (logged). Main
 * thread. */
struct notify_curl *notify_curl_start(void);

/* A notify_sink's send: queues msg (taking it), or drops it when the
 * queue is full or the sender stopped. Any thread, never blocks. */
void notify_curl_send(void *arg, struct notify_msg *msg);

/* Stops the thread: what is queued gets until `deadline_mono_ns` (one try
 * each, no more retries), the rest is dropped. Then frees. NULL: no-op.
 * Main thread, after every reporting thread stopped. */
void notify_curl_stop(struct notify_curl *nc, int64_t deadline_mono_ns);

/* What it did so far. Any thread. */
void notify_curl_stats(void *arg, struct notify_stats *out);

#endif /* JH_NOTIFY_CURL_H */
