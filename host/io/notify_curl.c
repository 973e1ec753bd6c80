/*
 * notify_curl — notifications and pings sent with libcurl.
 *
 * DESIGN. Producers (workers reporting runs, the dispatcher reporting
 * skips) append to `queue` under `lock` and signal `cond`; the queue holds
 * at most NOTIFY_QUEUE_MAX messages, beyond which a message is dropped and
 * counted, so a dead receiver never holds a run up nor grows memory. The
 * sender thread (`jobhost-notify`) takes the next message due (retries
 * first, then the oldest), POSTs it
 * with its own timeout on one reused curl handle, and on a failure (no
 * answer, or not 2xx) puts it back due after a backoff (500 ms, 1 s, 2 s,
 * ...) until NOTIFY_TRIES tries are spent; then it counts it failed and
 * logs a `notify_failed` record naming the job, the event and the
 * receiver's scheme and host (never the rest of the URL, which may hold a
 * token, nor a header value). Header values from a file are read at each
 * send. `lock` is a leaf lock; no curl call happens under it.
 */
#include "io/notify_curl.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "lib/backoff.h"
#include "lib/units.h"
#include "lib/util.h"

#define NOTIFY_QUEUE_MAX 1024
#define NOTIFY_TRIES 4                  /* the first and three retries */
#define NOTIFY_BACKOFF_NS (500 * NS_PER_MS)
#define HEADER_FILE_MAX 4096            /* bytes of a header value read from a file */

struct notify_curl {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* a message queued, or stopping (CLOCK_MONOTONIC) */
    struct notify_msg *queue; /* under lock; unordered: the thread picks the earliest due */
    size_t n_queued;          /* under lock */
    bool stopping;            /* under lock */
    int64_t stop_deadline;    /* under lock: after it, what is left is dropped */
    _Atomic uint64_t sent[NOTIFY_KIND_COUNT], failed[NOTIFY_KIND_COUNT],
        dropped[NOTIFY_KIND_COUNT];
};

/* "https://host:port" of a URL: what records may show of it. */
static void url_origin(const char *url, char *out, size_t len)
{
    const char *p = strstr(url, "://");
    size_t n = p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strlen(url);
    const char *at;

    /* no user:password@ either */
    if (p && (at = memchr(p + 3, '@', n - (size_t)(p + 3 - url))))
        snprintf(out, len, "%.*s%.*s", (int)(p + 3 - url), url, (int)(url + n - at - 1), at + 1);
    else
        snprintf(out, len, "%.*s", (int)n, url);
}

static void drop(struct notify_curl *nc, struct notify_msg *m, const char *why)
{
    char origin[256];

    atomic_fetch_add_explicit(&nc->dropped[m->kind], 1, memory_order_relaxed);
    url_origin(m->url, origin, sizeof(origin));
    jlog(JH_LOG_WARN, "notify_dropped", "job=%s kind=%s on=%s target=%s reason=%s", m->job,
         notify_kind_name(m->kind), m->event, origin, why);
    notify_msg_free(m);
}

void notify_curl_send(void *arg, struct notify_msg *m)
{
    struct notify_curl *nc = arg;
    const char *why = NULL;

    m->due_mono_ns = mono_ns(); /* in line by time: a retry due earlier goes first */
    pthread_mutex_lock(&nc->lock);
    if (nc->stopping)
        why = "stopping";
    else if (nc->n_queued >= NOTIFY_QUEUE_MAX)
        why = "queue_full";
    if (!why) {
        m->next = nc->queue;
        nc->queue = m;
        nc->n_queued++;
        pthread_cond_signal(&nc->cond);
    }
    pthread_mutex_unlock(&nc->lock);
    if (why)
        drop(nc, m, why);
}

/* A header value from a file: its first line, at most HEADER_FILE_MAX
 * bytes; NULL when unreadable. */
static char *read_header_file(const char *path)
{
    char *buf = xmalloc(HEADER_FILE_MAX + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    ssize_t n = fd >= 0 ? read(fd, buf, HEADER_FILE_MAX) : -1;

    if (fd >= 0)
        close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

/* One try. 0 when the receiver answered 2xx; else -1 with what happened. */
static int post(CURL *h, const struct notify_msg *m, char *what, size_t whatlen)
{
    struct curl_slist *headers = NULL;
    char line[HEADER_FILE_MAX + 256];
    long status = 0;
    CURLcode rc;
    int out = -1;

    snprintf(line, sizeof(line), "Content-Type: %s", m->content_type);
    headers = curl_slist_append(headers, line);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < m->n_headers; i++) {
        char *v = m->header_files[i] ? read_header_file(m->header_files[i]) : NULL;
        if (m->header_files[i] && !v) {
            snprintf(what, whatlen, "cannot read the file of header %s", m->header_names[i]);
            curl_slist_free_all(headers);
            return -1;
        }
        snprintf(line, sizeof(line), "%s: %s", m->header_names[i], v ? v : m->header_values[i]);
        headers = curl_slist_append(headers, line);
        if (v) {
            explicit_bzero(v, strlen(v));
            free(v);
        }
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, m->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(m->body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(m->timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(m->timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "jobhost/" JOBHOST_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(what, whatlen, "%s", curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
            out = 0;
        else
            snprintf(what, whatlen, "HTTP %ld", status);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return out;
}

/* Under lock: unlinks and returns the next message to try, or NULL; *wait
 * is when the first one is due when none is now. Of those due, retries go
 * first (so that a receiver that stopped answering has its messages given
 * up on, and counted, rather than pushed back by new ones), then the
 * oldest. Stopping, every message is due. */
static struct notify_msg *take_due(struct notify_curl *nc, int64_t now, int64_t *wait)
{
    struct notify_msg **best = NULL, *m;

    *wait = -1;
    for (struct notify_msg **pp = &nc->queue; *pp; pp = &(*pp)->next) {
        m = *pp;
        if (m->due_mono_ns > now && !nc->stopping) {
            if (*wait < 0 || m->due_mono_ns < *wait)
                *wait = m->due_mono_ns;
            continue;
        }
        if (!best || m->tries > (*best)->tries ||
            (m->tries == (*best)->tries && m->due_mono_ns < (*best)->due_mono_ns))
            best = pp;
    }
    if (!best)
        return NULL;
    m = *best;
    *best = m->next;
    nc->n_queued--;
    return m;
}

static void *sender_main(void *arg)
{
    struct notify_curl *nc = arg;
    CURL *h = curl_easy_init();

    prctl(PR_SET_NAME, "jobhost-notify", 0, 0, 0);
    pthread_mutex_lock(&nc->lock);
    for (;;) {
        int64_t now = mono_ns(), wait;
        struct notify_msg *m = take_due(nc, now, &wait);
        char what[CURL_ERROR_SIZE + 64] = "", origin[256];
        bool stopping;

        if (!m) {
            if (nc->stopping)
                break;
            if (wait < 0) {
                pthread_cond_wait(&nc->cond, &nc->lock);
            } else {
                struct timespec ts = {.tv_sec = wait / NS_PER_SEC, .tv_nsec = wait % NS_PER_SEC};
                pthread_cond_timedwait(&nc->cond, &nc->lock, &ts);
            }
            continue;
        }
        stopping = nc->stopping;
        if (stopping && now > nc->stop_deadline) {
            pthread_mutex_unlock(&nc->lock);
            drop(nc, m, "stopping");
            pthread_mutex_lock(&nc->lock);
            continue;
        }
        pthread_mutex_unlock(&nc->lock);
        m->tries++;
        if (h && post(h, m, what, sizeof(what)) == 0) {
            atomic_fetch_add_explicit(&nc->sent[m->kind], 1, memory_order_relaxed);
            notify_msg_free(m);
        } else if (h && m->tries < NOTIFY_TRIES && !stopping) {
            const struct backoff b = {.delay_ns = NOTIFY_BACKOFF_NS, .factor = 2};
            m->due_mono_ns = mono_ns() + backoff_delay(&b, m->tries, 0);
            pthread_mutex_lock(&nc->lock);
            m->next = nc->queue; /* back in line, due later; it never counts as dropped */
            nc->queue = m;
            nc->n_queued++;
            pthread_mutex_unlock(&nc->lock);
        } else {
            atomic_fetch_add_explicit(&nc->failed[m->kind], 1, memory_order_relaxed);
            url_origin(m->url, origin, sizeof(origin));
            jlog(JH_LOG_WARN, "notify_failed", "job=%s kind=%s on=%s target=%s tries=%u error=%s",
                 m->job, notify_kind_name(m->kind), m->event, origin, m->tries,
                 h ? what : "no curl handle");
            notify_msg_free(m);
        }
        pthread_mutex_lock(&nc->lock);
    }
    pthread_mutex_unlock(&nc->lock);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

struct notify_curl *notify_curl_start(void)
{
    struct notify_curl *nc = xcalloc(1, sizeof(*nc));
    int rc;

    /* once, on the main thread, before the sender uses curl */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        jlog(JH_LOG_ERROR, "notify_failed", "error=%s", "libcurl did not initialise");
        free(nc);
        return NULL;
    }
    pthread_mutex_init(&nc->lock, NULL);
    cond_init_mono(&nc->cond);
    rc = pthread_create(&nc->thread, NULL, sender_main, nc);
    if (rc != 0) {
        jlog(JH_LOG_ERROR, "notify_failed", "error=%s", strerror(rc));
        pthread_cond_destroy(&nc->cond);
        pthread_mutex_destroy(&nc->lock);
        curl_global_cleanup();
        free(nc);
        return NULL;
    }
    return nc;
}

void notify_curl_stop(struct notify_curl *nc, int64_t deadline_mono_ns)
{
    if (!nc)
        return;
    pthread_mutex_lock(&nc->lock);
    nc->stopping = true;
    nc->stop_deadline = deadline_mono_ns;
    pthread_cond_signal(&nc->cond);
    pthread_mutex_unlock(&nc->lock);
    pthread_join(nc->thread, NULL);
    while (nc->queue) { /* nothing is left but what the thread never saw */
        struct notify_msg *m = nc->queue;
        nc->queue = m->next;
        drop(nc, m, "stopping");
    }
    pthread_cond_destroy(&nc->cond);
    pthread_mutex_destroy(&nc->lock);
    curl_global_cleanup();
    free(nc);
}

void notify_curl_stats(void *arg, struct notify_stats *out)
{
    struct notify_curl *nc = arg;

    for (int k = 0; k < NOTIFY_KIND_COUNT; k++) {
        out->sent[k] = nc ? atomic_load_explicit(&nc->sent[k], memory_order_relaxed) : 0;
        out->failed[k] = nc ? atomic_load_explicit(&nc->failed[k], memory_order_relaxed) : 0;
        out->dropped[k] = nc ? atomic_load_explicit(&nc->dropped[k], memory_order_relaxed) : 0;
    }
}
