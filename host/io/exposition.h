/*
 * exposition — the metrics registry's exposition as the body of
 * GET /metrics: the adapter between core/metrics.h (which renders) and the
 * HTTP router (which takes a stream, see http_stream.h).
 *
 * For now it renders the whole exposition into one buffer, then serves
 * that buffer in HTTP_STREAM_PIECE slices: a slow reader costs the server
 * one piece of socket-side copying, but the rendered text stays whole
 * until the response is done (tens of MB at 10,000 jobs). A renderer that
 * produces the exposition job by job would drop that copy too; only this
 * file would change.
 */
#ifndef JH_EXPOSITION_H
#define JH_EXPOSITION_H

#include "core/metrics.h"
#include "io/http_stream.h"

/* An http_metrics_fn (http_router.h): renders the registry `metrics`
 * (a struct metrics *) in format `f` and makes *out a stream of it.
 * 0, or metrics_render's -errno with *out cleared. The routing thread. */
int exposition_stream(void *metrics, enum metrics_format f, struct http_stream *out);

#endif /* JH_EXPOSITION_H */
