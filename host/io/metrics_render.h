/*
 * metrics_render — the exposition behind GET /metrics: Prometheus text
 * format 0.0.4 or OpenMetrics 1.0.0, from the metrics registry
 * (core/metrics.h), the job states of every live generation, and the
 * process metrics (procstat.h).
 *
 * The exposition is produced in pieces by a cursor, never as one buffer:
 * a scrape of 100,000 jobs costs its piece plus a list of job pointers, not
 * hundreds of megabytes, and a client that never reads pins one piece. The
 * formats forbid interleaving families, so the cursor walks the job list
 * once per family; each job's values within a family are read together
 * (a histogram's buckets, _sum and _count agree), but two families are read
 * at different moments and a run that ends in between shows in one of them
 * only (as with every Prometheus client library).
 *
 * A job's series appear from its start: runs_total (every result),
 * skipped_total (every reason), running, and next_run while a firing is
 * planned. The histograms and the last_* gauges appear once it ran (a
 * gauge while its value is unset is left out).
 *
 * Threads: a cursor belongs to one thread at a time (the HTTP thread that
 * serves the scrape); several cursors may run at once. Reading never blocks
 * a worker or the dispatcher.
 */
#ifndef JH_METRICS_RENDER_H
#define JH_METRICS_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "lib/util.h"

struct runtime;

/* Reads how many records a log sink dropped ("file", "syslog", "stderr",
 * "queue"); log_dropped() of core/log.h fits. */
typedef uint64_t (*metrics_dropped_fn)(const char *sink);

/* What the worker pool does now (executor_stats of core/executor.h fits,
 * with its executor as `arg`). */
struct executor_stats;
typedef void (*metrics_pool_fn)(void *arg, struct executor_stats *out);

/* What the run store's writer does now (history_stats of core/history.h
 * fits, with its struct history as `arg`). */
struct history_stats;
typedef void (*metrics_store_fn)(void *arg, struct history_stats *out);
struct notify_stats;
typedef void (*metrics_notify_fn)(void *arg, struct notify_stats *out);

/* A cluster node's claims and lease (io/cluster_pg.h's cluster_stats). */
struct cluster_stats;
typedef void (*metrics_cluster_fn)(void *arg, struct cluster_stats *out);

/* What the exposition reads. Borrowed; must outlive every cursor. */
struct metrics_source {
    struct runtime *rt;         /* its metrics registry and live generations */
    metrics_dropped_fn dropped; /* NULL leaves jobhost_log_records_dropped_total out */
    metrics_pool_fn pool;       /* NULL leaves the jobhost_executor_* gauges out */
    void *pool_arg;
    metrics_store_fn store;     /* NULL leaves the jobhost_store_* families out */
    void *store_arg;
    metrics_cluster_fn cluster; /* NULL leaves the jobhost_cluster_* families out */
    void *cluster_arg;
    metrics_notify_fn notify;   /* NULL leaves jobhost_notifications_total out */
    void *notify_arg;
};

/* The bytes a piece aims at: metrics_render_next appends at least this
 * much unless the exposition ends first. */
#define METRICS_PIECE (64 * 1024)

struct metrics_render;

/* A cursor at the start of a fresh exposition in format f; the live
 * generations are pinned until metrics_render_free. NULL for an unknown
 * format. */
struct metrics_render *metrics_render_new(const struct metrics_source *src,
                                          enum metrics_format f);

/* Appends the next piece to out. Returns 1 while more follows, 0 when the
 * exposition is complete (out may have received its last piece). */
int metrics_render_next(struct metrics_render *r, struct buf *out);

/* NULL is a no-op. */
void metrics_render_free(struct metrics_render *r);

/* The whole exposition appended to out: tests and tools. 0, or -EINVAL for
 * an unknown format. */
int metrics_render_all(const struct metrics_source *src, enum metrics_format f, struct buf *out);

/* The exposition as an HTTP body (http_metrics_fn of io/http_router.h):
 * a cursor the server pulls a piece at a time. `src` is a struct
 * metrics_source. 0, or -EINVAL for an unknown format. */
struct http_stream;
int metrics_render_stream(void *src, enum metrics_format f, struct http_stream *out);


#endif /* JH_METRICS_RENDER_H */
