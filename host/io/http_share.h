/*
 * http_share — one stream read by several responses: concurrent scrapes of
 * /metrics share one rendering (and one gzip of it) instead of each
 * walking every job.
 *
 * The source is pulled by whichever reader is ahead; each piece it gives
 * is kept until every reader has taken it. A new reader may join from the
 * first byte only while the share is open: its source has not ended and
 * what it produced so far fits in the window given at creation. After that
 * pieces are dropped as soon as the slowest reader has them, and a reader
 * that falls a whole window behind the one reading (a client that does not
 * read) is cut off, its body ending in an error: a share holds at most
 * about twice its window, however many clients stall. A scrape that comes
 * later starts a share of its own: nobody is served a stale rendering.
 *
 * The share goes when its last reader does; the slot it was registered in
 * (http_share_start) is cleared then, so a registry never holds a share
 * nobody reads, nor the generations its source holds.
 *
 * Threads: a share is driven by the server's polling thread; a lock makes
 * it safe for http_stop's thread too.
 */
#ifndef JH_HTTP_SHARE_H
#define JH_HTTP_SHARE_H

#include <stddef.h>

#include "io/http_stream.h"

struct http_share;

/* Joins the share in *slot when it is open, else starts a new one over
 * the stream `make(arg, &src)` makes (called only then; a negative errno
 * from it is returned) and registers it in *slot. *out becomes the
 * caller's reader; free it as any stream. 0 or a negative errno. */
int http_share_start(struct http_share **slot, size_t window,
                     int (*make)(void *arg, struct http_stream *src), void *arg,
                     struct http_stream *out);

/* Unregisters the share in *slot (if any) before the slot's memory goes;
 * its readers go on. */
void http_share_forget(struct http_share **slot);

#endif /* JH_HTTP_SHARE_H */
