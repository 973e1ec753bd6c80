/*
 * notify — a notification or dead-man ping on its way out: what the
 * notification observer (core/outcome_notify.c) hands to a sender, and the
 * sender's face. The sender (io/notify_curl.c: one thread, libcurl, a
 * bounded queue) POSTs each message, retries it with backoff a bounded
 * number of times, and counts the outcome; nothing it does ever waits on
 * a run, and a full queue drops (counted), never blocks.
 */
#ifndef JH_NOTIFY_H
#define JH_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/manifest.h"

enum notify_kind { NOTIFY_KIND_NOTIFY = 0, NOTIFY_KIND_PING, NOTIFY_KIND_COUNT };

/* "notify", "ping". */
const char *notify_kind_name(enum notify_kind k);

/* One POST. Every string is the message's own (notify_msg_free). */
struct notify_msg {
    enum notify_kind kind;
    char *job;        /* for records */
    char *event;      /* "failure", "start", ... for records */
    char *url;
    char *body;       /* JSON (notify) or the run's output tail (ping) */
    char *content_type;
    int64_t timeout_ns;
    /* the headers: names with a value, or with a file read at each send */
    size_t n_headers;
    char **header_names, **header_values, **header_files;
    /* the sender's */
    unsigned tries;
    int64_t due_mono_ns;
    struct notify_msg *next;
};

void notify_msg_free(struct notify_msg *m); /* NULL: no-op */

/* Where messages go. send takes ownership of msg; it must not block. */
struct notify_sink {
    void (*send)(void *arg, struct notify_msg *msg);
    void *arg;
    const char *node; /* this daemon's name in the bodies */
};

/* What the sender did, for /metrics: per kind, messages delivered (a 2xx
 * answer), given up on after their last try, and dropped (queue full or
 * stopping). */
struct notify_stats {
    uint64_t sent[NOTIFY_KIND_COUNT];
    uint64_t failed[NOTIFY_KIND_COUNT];
    uint64_t dropped[NOTIFY_KIND_COUNT];
};

#endif /* JH_NOTIFY_H */
