/*
 * http_stream — a response body produced in pieces instead of one buffer,
 * and the two streams the HTTP layer builds itself: one that serves a
 * buffer it owns in pieces, and one that gzips another stream piece by
 * piece (zlib deflate, no whole-body copy).
 *
 * Why: a big body (the /metrics exposition of thousands of jobs is tens of
 * MB) held whole per connection lets a client that never reads pin that
 * much memory. The server pulls a stream only when the socket can take
 * more, so what a slow client costs is one piece.
 *
 * Pure: no threads, no I/O, no globals. A stream belongs to one response
 * and is driven by one thread at a time (the server's polling thread).
 */
#ifndef JH_HTTP_STREAM_H
#define JH_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

/* A body in pieces. `next` appends the next piece to `out` and returns
 * 1 when more follows, 0 when this was the last piece (what it appended
 * is still part of the body), or a negative errno on error (the server
 * then aborts the connection: the client sees a truncated body, never a
 * complete-looking wrong one). A call should do a bounded piece of work:
 * the server's one polling thread serves every connection, and calls
 * `next` once per turn of its loop. A call may append nothing and return 1
 * (the server comes back after serving the others), but a stream must
 * make progress.
 * `free` (may be NULL) releases `state`; it runs exactly once, whether
 * the body was sent whole, cut off, or never started (the client went
 * away, HEAD, the server stopped). Both run on the thread that drives
 * the response (the server's polling thread; for http_stop, the thread
 * that calls it). */
struct http_stream {
    int (*next)(void *state, struct buf *out);
    void (*free)(void *state);
    void *state;
    /* Optional, for a body that follows something as it happens (a run's
     * output): `next` may also return HTTP_STREAM_WAIT, appending nothing,
     * when there is nothing yet; the server then stops polling the
     * connection until the stream's owner calls wake(wake_arg), from any
     * thread. The server hands the wake over with bind_wake before the
     * first `next`; it may be called until `free` has returned (a wake
     * before the wait is not lost). While the server stops, `next` is
     * called once more and then the body is cut off. */
    void (*bind_wake)(void *state, void (*wake)(void *arg), void *wake_arg);
};

/* `next`: nothing now, come back after the wake (see bind_wake). */
#define HTTP_STREAM_WAIT 2

/* A stream that waits (bind_wake) is never gzipped (http_stream_gzip
 * refuses it), and the server keeps its socket's send buffer small
 * (64 KiB): what a client that stops reading holds is then the stream's
 * own bound, not the kernel's autotuned megabytes. */

/* Piece size for bodies the HTTP layer cuts itself. */
#define HTTP_STREAM_PIECE (64 * 1024)

/* Makes *out a stream of the bytes in *body, served `piece` bytes at a
 * time (0: HTTP_STREAM_PIECE). Takes the buffer: *body is emptied. */
void http_stream_from_buf(struct http_stream *out, struct buf *body, size_t piece);

/* Replaces *s by a stream of the gzip (RFC 1952) of what *s gives
 * (-EINVAL, *s unchanged, for a stream that waits),
 * deflating each piece as it comes (fastest level: a text exposition
 * shrinks ~10x at level 1 already, and the polling thread should not spend
 * long on it). The gzip stream owns the old one and frees it. The cost
 * is zlib's state (~256 KiB) plus one piece in and out. Returns 0, or
 * -ENOMEM with *s unchanged. */
int http_stream_gzip(struct http_stream *s);

/* gzip of `len` bytes at `in` appended to `out` (same level as above).
 * 0 or -ENOMEM. */
int http_gzip(const char *in, size_t len, struct buf *out);

/* Runs *s to its end, appending everything to `out`, then frees it (as
 * http_stream_free). Returns 0 or the stream's error. For tests, fuzzers
 * and small bodies; not for a stream that waits. */
int http_stream_drain(struct http_stream *s, struct buf *out);

/* Runs s->free (once) and clears *s. A cleared stream (next NULL) is a
 * no-op. */
void http_stream_free(struct http_stream *s);

#endif /* JH_HTTP_STREAM_H */
