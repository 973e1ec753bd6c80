/*
 * http_server — libmicrohttpd glue. See http_server.h for the contract.
 *
 * DESIGN. http_start binds the listening socket itself (so that errors name
 * the address and the failing step, and port 0 works) and hands it to one
 * libmicrohttpd daemon running one internal polling thread (epoll when
 * libmicrohttpd has it). That thread does everything: it reads requests,
 * calls on_request, which gathers the headers, query arguments and body of
 * a request into a struct http_request and calls http_route, and then
 * writes responses. The path routed is the one on_uri saw in the request
 * line, not libmicrohttpd's percent-decoded copy (see on_uri). Nothing else runs on it and it shares with the rest of
 * the daemon only what the handlers touch (the metrics registry, which
 * renders without blocking workers; the ready flag; the caller's routes).
 *
 * Hardening: the gate (unknown method -> 501, missing or wrong bearer token
 * -> 401) is part of the pure router, so unit tests and fuzzers meet it;
 * on_request also runs it (http_check_gate), with the Content-Length
 * check, as soon as the headers are in, so the body of a refused request
 * is never read. Connection limits, the idle timeout and the request-head
 * size are libmicrohttpd options; TLS is libmicrohttpd's GnuTLS support with the PEM texts the
 * caller read (the server keeps its copies until http_stop, the key wiped
 * on free).
 *
 * Deferred answers (http_deferred.h): when a handler defers, wait_answer
 * puts the request on `waiting` and suspends its connection
 * (MHD_suspend_connection: libmicrohttpd stops polling it, and its idle
 * timeout stops). The answering thread's http_deferred_answer calls the
 * wake, resume(), which resumes it; libmicrohttpd then calls on_request
 * again, which sends the answer, and on_completed takes the request off
 * `waiting`. libmicrohttpd must not be stopped with a connection still
 * suspended: http_stop first sets `stopping` and answers everything on
 * `waiting` with 503 (waking each), gives those answers a second to go
 * out, and only then stops libmicrohttpd; a request that defers after
 * `stopping` is set is answered 503 at once. Lock order: s->lock, then a
 * deferred's mutex, then libmicrohttpd's own (inside MHD_resume_connection);
 * libmicrohttpd calls on_request and on_completed without holding its
 * lock, and nothing takes s->lock under a deferred's mutex.
 *
 * libmicrohttpd's messages go to the caller's log_fn, at most
 * LOG_BURST per second: a flood of refused connections must not become a
 * flood of log records. The limiter's state is under `log_lock` (the
 * polling thread logs, and so does the main thread inside MHD_start_daemon
 * and MHD_stop_daemon).
 *
 * Bodies: a buffer is handed to libmicrohttpd without a copy and freed
 * when it is sent. A stream (the /metrics exposition, tens of MB at 10,000
 * jobs) becomes a libmicrohttpd content-reader response sent chunked: the
 * reader (pump_read) pulls the next piece only when libmicrohttpd has room
 * in the connection's write buffer, that is when the socket took the last
 * one, so a client that stops reading holds one piece, not the body. The
 * reader runs on the polling thread; its free callback on the polling
 * thread too, or on the main thread inside MHD_stop_daemon.
 */
#include "io/http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/safe_open.h"
#include "io/http_deferred.h"
#include "io/metrics_render.h"
#include "lib/listen.h"
#include "lib/sha256.h"

#define DEFAULT_LISTEN "127.0.0.1:9464"
#define DEFAULT_CONNECTION_LIMIT 64
#define DEFAULT_PER_IP_LIMIT 32
#define DEFAULT_CONNECTION_TIMEOUT 10 /* short: a silent client costs a slot */
#define DEFAULT_CONNECTION_MEMORY (32 * 1024)
#define MIN_CONNECTION_MEMORY (8 * 1024)
#define DEFAULT_MAX_BODY (1024 * 1024)
#define LISTEN_BACKLOG 511 /* a burst of connects waits here instead of retrying SYNs */
#define MAX_TOKEN_FILE 4096
#define MAX_READ_FILE (1024 * 1024)
#define LOG_BURST 20 /* libmicrohttpd messages per second, then a count */
#define STOP_GRACE_MS 1000 /* http_stop waits this long for the 503s to deferred requests */
#define STOPPING_TEXT "503 the server is shutting down\n"
#define FEED_SNDBUF (64 * 1024) /* socket send buffer of a stream that waits */

struct conn_req;

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_router *router; /* read-only while the daemon runs */
    size_t max_body;
    int port;
    http_log_fn log_fn; /* read-only; called on the polling thread */
    void *log_arg;
    char *cert_pem, *key_pem; /* our copies for libmicrohttpd; main thread */
    pthread_mutex_t log_lock;
    time_t log_window;       /* log_lock: second of the current burst */
    unsigned log_count;      /* log_lock: messages in that second */
    unsigned log_suppressed; /* log_lock: dropped since the last one logged */
    bool log_capture;        /* log_lock: http_start collects the messages */
    char log_start[512];     /* log_lock: those messages, for its error */
    pthread_mutex_t lock;     /* the deferred requests; see DESIGN */
    pthread_cond_t drained;   /* lock: signalled when `waiting` empties */
    struct conn_req *waiting; /* lock: requests waiting for a deferred answer */
    struct pump *pumps;       /* lock: streamed bodies that may wait (bind_wake) */
    bool stopping;            /* lock: http_stop began; no request starts waiting */
};

/* --- listen address ------------------------------------------------------------ */

bool http_listen_is_loopback(const char *listen)
{
    struct listen_addr addr;
    const char *host = addr.host;
    char err[160];
    struct in_addr a4;
    struct in6_addr a6;

    if (listen_parse(listen ? listen : DEFAULT_LISTEN, LISTEN_PORT_ZERO, &addr, err, sizeof err) < 0)
        return false;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    /* inet_aton: the forms getaddrinfo accepts too ("127.1", "0x7f.0.0.1") */
    if (inet_aton(host, &a4))
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

bool http_tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

/* Reads at most `max` bytes of the open file `fd` into a malloc'ed,
 * NUL-terminated buffer; -EFBIG when there is more. Secrets pass through
 * here, so the buffer grows by copy-and-wipe (a realloc could leave a stale
 * copy in freed memory) and whatever is dropped is wiped first. */
static int read_fd(int fd, size_t max, char **out, size_t *len)
{
    char chunk[4096];
    char *data = NULL;
    size_t n_data = 0, cap = 0;
    int rc = 0;

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if (n_data + (size_t)n > max) {
            rc = -EFBIG;
            break;
        }
        if (n_data + (size_t)n + 1 > cap) {
            size_t ncap = cap ? cap * 2 : sizeof chunk;
            while (ncap < n_data + (size_t)n + 1)
                ncap *= 2;
            char *nd = xmalloc(ncap);
            if (data) {
                memcpy(nd, data, n_data);
                explicit_bzero(data, n_data);
                free(data);
            }
            data = nd;
            cap = ncap;
        }
        memcpy(data + n_data, chunk, (size_t)n);
        n_data += (size_t)n;
    }
    explicit_bzero(chunk, sizeof chunk);
    if (rc < 0) {
        if (data) {
            explicit_bzero(data, n_data);
            free(data);
        }
        return rc;
    }
    if (!data)
        data = xmalloc(1);
    data[n_data] = '\0';
    *out = data;
    *len = n_data;
    return 0;
}

int http_read_token_file(const char *path, char **token, char *err, size_t errlen)
{
    char why[PATH_MAX + 300];
    struct safe_error e;
    struct stat st;
    char *text = NULL;
    size_t len = 0, got = 0;
    int fd, rc;

    *token = NULL;
    /* core/safe_open.h: not through a symbolic link, and a FIFO in its
     * place must not hang the start-up; it is refused below as not a
     * regular file */
    fd = safe_open(path, O_RDONLY, 0, 0, &st, &e);
    if (fd < 0) {
        snprintf(err, errlen, "token file %s", safe_error_text(&e, why, sizeof(why)));
        return fd;
    }
    rc = -EINVAL;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "token file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = -EPERM;
        snprintf(err, errlen, "token file %s is readable by others (chmod 600)", path);
        goto out;
    }
    rc = read_fd(fd, MAX_TOKEN_FILE, &text, &got);
    len = got;
    if (rc == -EFBIG) {
        snprintf(err, errlen, "token file %s is too long (more than %d bytes)", path,
                 MAX_TOKEN_FILE);
        goto out;
    }
    if (rc < 0) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(-rc));
        goto out;
    }
    rc = -EINVAL;
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    text[len] = '\0';
    if (len == 0) {
        snprintf(err, errlen, "token file %s is empty", path);
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c <= ' ' || c == 0x7f) {
            snprintf(err, errlen,
                     "token file %s: the token holds whitespace or a control character at "
                     "byte %zu",
                     path, i + 1);
            goto out;
        }
    }
    *token = text;
    text = NULL;
    rc = 0;
out:
    if (text) {
        explicit_bzero(text, got);
        free(text);
    }
    close(fd);
    return rc;
}

int http_read_file(const char *path, char **text, char *err, size_t errlen)
{
    char why[PATH_MAX + 300];
    struct safe_error e;
    size_t len;
    int fd, rc;

    *text = NULL;
    fd = safe_open(path, O_RDONLY, 0, SAFE_REGULAR, NULL, &e);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s", safe_error_text(&e, why, sizeof(why)));
        return fd;
    }
    rc = read_fd(fd, MAX_READ_FILE, text, &len);
    if (rc == -EFBIG)
        snprintf(err, errlen, "cannot read %s: larger than %d bytes", path, MAX_READ_FILE);
    else if (rc < 0)
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
    close(fd);
    return rc;
}

/* Binds and listens on the first address of `host` that works (IPv4 first
 * for a host name; the wildcard ":PORT" is dual-stack [::] when the system
 * has IPv6, else 0.0.0.0). Returns the socket or -1 with a message. */
static int open_listener(const char *listen_addr, int *port_out, char *err, size_t errlen)
{
    struct listen_addr addr;
    const char *host = addr.host, *port = addr.port;
    char why[160] = "no usable address";
    struct addrinfo hints, *res = NULL;
    int fd = -1, rc;

    if (listen_parse(listen_addr, LISTEN_PORT_ZERO, &addr, why, sizeof why) < 0) {
        snprintf(err, errlen, "listen %s: %s", listen_addr, why);
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_family = host[0] ? AF_UNSPEC : AF_INET6;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 && !host[0]) {
        hints.ai_family = AF_INET;
        rc = getaddrinfo(NULL, port, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s: %s", listen_addr, host[0] ? host : "*",
                 gai_strerror(rc));
        return -1;
    }
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            /* pass 0: IPv4 (what a host name like localhost usually means
             * to clients), pass 1: the rest */
            if ((pass == 0) != (ai->ai_family == AF_INET))
                continue;
            int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (s < 0) {
                snprintf(why, sizeof why, "socket: %s", strerror(errno));
                continue;
            }
            int one = 1, v6only = host[0] ? 1 : 0;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (ai->ai_family == AF_INET6)
                setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
            if (bind(s, ai->ai_addr, ai->ai_addrlen) < 0) {
                snprintf(why, sizeof why, "bind: %s", strerror(errno));
                close(s);
                continue;
            }
            if (listen(s, LISTEN_BACKLOG) < 0) {
                snprintf(why, sizeof why, "listen: %s", strerror(errno));
                close(s);
                continue;
            }
            fd = s;
        }
    }
    freeaddrinfo(res);
    if (fd < 0 && !host[0] && hints.ai_family == AF_INET6) {
        /* IPv6 configured in the resolver but unusable: plain IPv4. */
        char v4[32];
        snprintf(v4, sizeof v4, "0.0.0.0:%s", port);
        fd = open_listener(v4, port_out, err, errlen);
        if (fd >= 0)
            return fd;
    }
    if (fd < 0) {
        snprintf(err, errlen, "listen %s: %s", listen_addr, why);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *port_out = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

/* --- libmicrohttpd glue ------------------------------------------------------------ */

/* Per request, in *req_cls: made by on_uri when the request line is in,
 * freed by on_completed. Polling thread. */
struct conn_req {
    char *path;      /* the path as sent: not percent-decoded, no query */
    bool headers_in; /* on_request has seen the headers (and run the gate) */
    struct buf body; /* at most max_body bytes */
    /* A deferred answer (see wait_answer): the handle, the response as the
     * router left it (its headers go out with the answer), whether it
     * answers a HEAD, and the links of s->waiting (under s->lock). */
    struct http_deferred *deferred;
    struct http_response pending;
    bool head;
    struct conn_req *prev, *next;
    bool linked;
};

/* libmicrohttpd percent-decodes the path before on_request sees it, which
 * would let "/jobs/a%2Frun" reach "/jobs/a/run" and "%00" cut a path
 * short. The URI log callback is the one place that sees the request
 * target as sent (before the query is split off and anything is decoded),
 * and what it returns becomes the request's *req_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn_req *cr = xcalloc(1, sizeof *cr);
    (void)cls;
    (void)c;
    uri = uri ? uri : "";
    cr->path = xstrndup(uri, strcspn(uri, "?"));
    return cr;
}

struct kv_list {
    struct http_header *v;
    size_t n, cap;
};

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct kv_list *l = cls;
    (void)kind;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n].name = key ? key : "";
    l->v[l->n].value = value ? value : "";
    l->n++;
    return MHD_YES;
}

/* A streamed body as libmicrohttpd's content reader sees it: the piece
 * being sent and how much of it is out. Polling thread (and the main
 * thread in MHD_stop_daemon, for pump_free).
 *
 * A stream that may wait (bind_wake) parks its connection when it has
 * nothing (MHD_suspend_connection, from the content reader, where
 * libmicrohttpd allows it) until its wake resumes it, from any thread.
 * `wlock` orders the two: a wake that comes first is remembered and the
 * reader comes back at once instead of parking. Such pumps are on the
 * server's `pumps` list, so http_stop can wake every parked one before
 * libmicrohttpd stops (it must not stop with a connection suspended).
 * Lock order: s->lock, then a pump's wlock, then libmicrohttpd's. */
struct pump {
    struct http_stream stream;
    struct buf piece;
    size_t off;
    bool last; /* the stream gave its last piece */
    struct http_server *server;
    struct MHD_Connection *conn;
    pthread_mutex_t wlock;
    bool waits;  /* the stream may return HTTP_STREAM_WAIT (on s->pumps) */
    bool parked; /* wlock: the connection is suspended */
    bool woken;  /* wlock: a wake came while it was not parked */
    bool cut;    /* wlock: the server stops: end the body */
    struct pump *prev, *next; /* s->lock */
};

/* The stream's owner has more (any thread). */
static void pump_wake(void *arg)
{
    struct pump *p = arg;

    pthread_mutex_lock(&p->wlock);
    if (p->parked) {
        p->parked = false;
        MHD_resume_connection(p->conn);
    } else {
        p->woken = true;
    }
    pthread_mutex_unlock(&p->wlock);
}

/* Nothing now: park unless a wake came meanwhile. Polling thread. */
static ssize_t pump_wait(struct pump *p)
{
    ssize_t rc = 0;

    pthread_mutex_lock(&p->wlock);
    if (p->cut)
        rc = MHD_CONTENT_READER_END_WITH_ERROR;
    else if (p->woken)
        p->woken = false; /* 0: libmicrohttpd comes back at once */
    else {
        p->parked = true;
        MHD_suspend_connection(p->conn);
    }
    pthread_mutex_unlock(&p->wlock);
    return rc;
}

static ssize_t pump_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct pump *p = cls;
    size_t n;
    (void)pos;

    if (p->off == p->piece.len) {
        if (p->last)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_reset(&p->piece);
        p->off = 0;
        int rc = p->stream.next(p->stream.state, &p->piece);
        if (rc < 0) /* libmicrohttpd closes the connection: no chunk terminator */
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (rc == HTTP_STREAM_WAIT && p->waits && p->piece.len == 0)
            return pump_wait(p);
        if (rc == HTTP_STREAM_WAIT)
            rc = 1;
        p->last = rc == 0;
        /* One piece of work per call, even when it gave no bytes (gzip
         * holding its output back): 0 makes libmicrohttpd serve the other
         * ready connections and come back at once (the connection stays
         * in its ready list, the poll timeout is 0), so one big body never
         * keeps /-/healthy waiting for more than a round of pieces. */
        if (p->piece.len == 0)
            return p->last ? MHD_CONTENT_READER_END_OF_STREAM : 0;
    }
    n = p->piece.len - p->off;
    if (n > max)
        n = max;
    memcpy(out, p->piece.data + p->off, n);
    p->off += n;
    return (ssize_t)n;
}

/* Runs once per response, whether it was sent whole, cut off by the
 * client, or never started (HEAD, a closed connection, http_stop). */
static void pump_free(void *cls)
{
    struct pump *p = cls;
    if (p->waits) {
        struct http_server *s = p->server;
        pthread_mutex_lock(&s->lock);
        if (p->prev)
            p->prev->next = p->next;
        else
            s->pumps = p->next;
        if (p->next)
            p->next->prev = p->prev;
        pthread_mutex_unlock(&s->lock);
    }
    http_stream_free(&p->stream); /* the owner's wakes end here */
    pthread_mutex_destroy(&p->wlock);
    buf_free(&p->piece);
    free(p);
}

static void free_body(void *cls)
{
    free(cls);
}

static ssize_t no_body(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)cls;
    (void)pos;
    (void)out;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* Queues resp (whose body and stream it takes) on c; `head`: the request
 * was a HEAD. */
static enum MHD_Result send_response(struct http_server *s, struct MHD_Connection *c,
                                     struct http_response *resp, bool head)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (resp->stream.next && head) {
        /* The length is not known without producing the body, and
         * libmicrohttpd 0.9.75 ends a chunked answer to HEAD with a last
         * chunk ("0" CRLF CRLF) that a keep-alive client would read as the
         * next response. So: no length, no chunking, and the connection
         * closes after the headers, which RFC 9112 allows. */
        http_stream_free(&resp->stream);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, no_body, NULL, NULL);
        if (!r)
            return MHD_NO;
        (void)MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    } else if (resp->stream.next) {
        struct pump *p = xcalloc(1, sizeof *p);
        p->stream = resp->stream;
        resp->stream = (struct http_stream){0};
        p->server = s;
        p->conn = c;
        pthread_mutex_init(&p->wlock, NULL);
        if (p->stream.bind_wake) {
            /* A live feed: the kernel's autotuned send buffer (megabytes)
             * would hold what the stream's own bound is there to drop. */
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
            int size = FEED_SNDBUF;
            if (ci)
                (void)setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
            p->waits = true;
            pthread_mutex_lock(&s->lock);
            p->cut = s->stopping;
            p->next = s->pumps;
            if (s->pumps)
                s->pumps->prev = p;
            s->pumps = p;
            pthread_mutex_unlock(&s->lock);
            p->stream.bind_wake(p->stream.state, pump_wake, p);
        }
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_PIECE, pump_read, p,
                                              pump_free);
        if (!r) {
            pump_free(p);
            return MHD_NO;
        }
    } else if (resp->body.len > 0) {
        char *data = resp->body.data;
        size_t len = resp->body.len;
        resp->body = (struct buf){0};
        r = MHD_create_response_from_buffer_with_free_callback(len, data, free_body);
        if (!r) {
            free(data);
            return MHD_NO;
        }
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    const char *name, *value;
    for (size_t i = 0; (value = http_response_header_at(resp, i, &name)); i++)
        MHD_add_response_header(r, name, value);
    ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_simple(struct http_server *s, struct MHD_Connection *c, int status,
                                   const char *text)
{
    struct http_response resp;
    http_response_init(&resp);
    resp.status = status;
    buf_puts(&resp.body, text);
    enum MHD_Result ret = send_response(s, c, &resp, false);
    http_response_free(&resp);
    return ret;
}

/* --- deferred answers --------------------------------------------------------------- */

static void unlink_waiting(struct http_server *s, struct conn_req *cr)
{
    if (cr->prev)
        cr->prev->next = cr->next;
    else
        s->waiting = cr->next;
    if (cr->next)
        cr->next->prev = cr->prev;
    cr->prev = cr->next = NULL;
    cr->linked = false;
}

/* The deferred's wake: the answer is in. Runs on the answering thread (or
 * in http_stop), under the deferred's mutex; the connection is suspended
 * until then, so it is still there. */
static void resume(void *cls)
{
    MHD_resume_connection(cls);
}

/* The handler deferred its answer: park the connection until it comes.
 * libmicrohttpd calls on_request again once the connection is resumed,
 * which then sends the answer (see on_request). */
static enum MHD_Result wait_answer(struct http_server *s, struct MHD_Connection *c,
                                   struct conn_req *cr, struct http_response *resp, bool head)
{
    cr->deferred = resp->deferred;
    cr->pending = *resp;
    http_response_init(resp); /* the caller frees what is left: nothing */
    cr->pending.deferred = NULL;
    buf_free(&cr->pending.body); /* ignored once deferred; the answer brings its own */
    http_stream_free(&cr->pending.stream);
    cr->head = head;

    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        /* http_stop has swept the waiting list already: nobody would wake
         * this one. Answer now, as the sweep did the others. */
        pthread_mutex_unlock(&s->lock);
        http_deferred_cancel(cr->deferred, 503, STOPPING_TEXT);
        http_deferred_take(cr->deferred, &cr->pending);
        return send_response(s, c, &cr->pending, head);
    }
    cr->next = s->waiting;
    if (s->waiting)
        s->waiting->prev = cr;
    s->waiting = cr;
    cr->linked = true;
    pthread_mutex_unlock(&s->lock);

    /* Suspend first, then register the wake: an answer given in between
     * (the handler may have answered before returning) finds no wake and
     * we resume ourselves; never a resume before the suspend. */
    MHD_suspend_connection(c);
    if (!http_deferred_wait(cr->deferred, resume, c))
        MHD_resume_connection(c);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct http_server *s = cls;
    struct conn_req *cr = *req_cls;
    (void)url; /* decoded: cr->path is what is routed */
    (void)version;

    if (!cr) /* on_uri runs for every request line libmicrohttpd accepts */
        return MHD_NO;
    if (!cr->headers_in) {
        /* Headers are in; the body (if any) follows in later calls. The
         * gate and the declared length are checked now, so that a refused
         * request's body is never read (libmicrohttpd closes the connection
         * after the answer instead). */
        struct http_header auth = {
            "Authorization",
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        };
        struct http_request pre = {.method = method,
                                   .path = cr->path,
                                   .headers = &auth,
                                   .n_headers = auth.value ? 1 : 0};
        struct http_response resp;
        enum MHD_Result ret;

        cr->headers_in = true;
        http_response_init(&resp);
        if (http_check_gate(s->router, &pre, &resp)) {
            ret = send_response(s, c, &resp, false);
            http_response_free(&resp);
            return ret;
        }
        http_response_free(&resp);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->max_body)
            return send_simple(s, c, 413, "413 request body too large\n");
        return MHD_YES;
    }
    if (cr->deferred) {
        /* Resumed: the answer is in (the handler's or http_stop's 503). */
        http_deferred_take(cr->deferred, &cr->pending);
        return send_response(s, c, &cr->pending, cr->head);
    }
    if (*upload_data_size) {
        if (cr->body.len + *upload_data_size > s->max_body) {
            /* A chunked body past the limit: stop reading it. libmicrohttpd
             * 0.9 takes no response in the middle of an upload, so the
             * connection is closed (MHD_NO) rather than drained forever. */
            buf_free(&cr->body);
            *upload_data_size = 0;
            return MHD_NO;
        }
        buf_append(&cr->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct kv_list headers = {0}, args = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_kv, &headers);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_kv, &args);
    struct http_request req = {
        .method = method,
        .path = cr->path,
        .headers = headers.v,
        .n_headers = headers.n,
        .args = args.v,
        .n_args = args.n,
        .body = cr->body.data,
        .body_len = cr->body.len,
    };
    struct http_response resp;

    enum MHD_Result ret;

    http_route(s->router, &req, &resp);
    if (resp.deferred)
        ret = wait_answer(s, c, cr, &resp, strcmp(method, "HEAD") == 0);
    else
        ret = send_response(s, c, &resp, strcmp(method, "HEAD") == 0);
    http_response_free(&resp);
    free(headers.v);
    free(args.v);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct conn_req *cr = *req_cls;
    (void)c;
    (void)toe;
    if (!cr)
        return;
    if (cr->linked) {
        pthread_mutex_lock(&s->lock);
        unlink_waiting(s, cr);
        if (!s->waiting)
            pthread_cond_broadcast(&s->drained);
        pthread_mutex_unlock(&s->lock);
    }
    http_deferred_release(cr->deferred); /* the answering side may still hold its own */
    http_response_free(&cr->pending);
    free(cr->path);
    buf_free(&cr->body);
    free(cr);
    *req_cls = NULL;
}

/* One message to the caller's logger, else stderr. */
static void log_v(struct http_server *s, const char *fmt, va_list ap)
{
    if (s->log_fn) {
        s->log_fn(s->log_arg, fmt, ap);
        return;
    }
    fputs("jobhost: http: ", stderr);
    vfprintf(stderr, fmt, ap);
    size_t n = strlen(fmt);
    if (n == 0 || fmt[n - 1] != '\n')
        fputc('\n', stderr);
}

static void log_f(struct http_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_f(struct http_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(s, fmt, ap);
    va_end(ap);
}

static void log_flush_suppressed(struct http_server *s, unsigned n)
{
    if (n)
        log_f(s, "%u more libmicrohttpd messages suppressed (over %d a second)", n, LOG_BURST);
}

/* Appends one message to log_start ("; "-separated, without the final
 * newline or full stop). Under log_lock. */
static void capture(struct http_server *s, const char *fmt, va_list ap)
{
    char msg[256];
    size_t used = strlen(s->log_start), n;
    va_list cp;

    va_copy(cp, ap);
    vsnprintf(msg, sizeof msg, fmt, cp);
    va_end(cp);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
        msg[--n] = '\0';
    if (n == 0)
        return;
    snprintf(s->log_start + used, sizeof s->log_start - used, "%s%s", used ? "; " : "", msg);
}

/* libmicrohttpd's messages, at most LOG_BURST a second (a storm of refused
 * connections would otherwise be a storm of records); during http_start
 * they are also collected for its error message. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *s = cls;
    struct timespec now;
    unsigned suppressed = 0;
    bool drop;

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&s->log_lock);
    if (s->log_capture)
        capture(s, fmt, ap);
    if (now.tv_sec != s->log_window) {
        suppressed = s->log_suppressed;
        s->log_suppressed = 0;
        s->log_window = now.tv_sec;
        s->log_count = 0;
    }
    drop = ++s->log_count > LOG_BURST;
    if (drop)
        s->log_suppressed++;
    pthread_mutex_unlock(&s->log_lock);

    log_flush_suppressed(s, suppressed);
    if (!drop)
        log_v(s, fmt, ap);
}

static void server_free(struct http_server *s)
{
    http_router_free(s->router);
    free(s->cert_pem);
    if (s->key_pem) {
        explicit_bzero(s->key_pem, strlen(s->key_pem));
        free(s->key_pem);
    }
    pthread_mutex_destroy(&s->log_lock);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct http_server *http_start(const struct http_config *cfg, char *err, size_t errlen)
{
    const char *addr = cfg->listen ? cfg->listen : DEFAULT_LISTEN;
    bool tls = cfg->cert_pem || cfg->key_pem;
    struct http_server *s;
    int fd, port = 0;
    /* MHD_USE_ITC: http_quiesce needs it with an internal thread */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    size_t memory = cfg->connection_memory ? cfg->connection_memory : DEFAULT_CONNECTION_MEMORY;

    /* Refuse a bad configuration before binding anything. */
    if (cfg->token && !*cfg->token) {
        snprintf(err, errlen, "listen %s: the bearer token is empty", addr);
        return NULL;
    }
    if (tls && (!cfg->cert_pem || !cfg->key_pem)) {
        snprintf(err, errlen, "listen %s: TLS: %s given without %s", addr,
                 cfg->cert_pem ? "cert_pem" : "key_pem", cfg->cert_pem ? "key_pem" : "cert_pem");
        return NULL;
    }
    if (tls && !http_tls_supported()) {
        snprintf(err, errlen,
                 "listen %s: TLS: this libmicrohttpd was built without TLS support (GnuTLS)",
                 addr);
        return NULL;
    }
    if (cfg->use_listen_fd) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        fd = cfg->listen_fd;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else {
        fd = open_listener(addr, &port, err, errlen);
        if (fd < 0)
            return NULL;
    }

    s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->log_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    cond_init_mono(&s->drained);
    s->router = http_router_new(&(struct http_router_config){
        .token = cfg->token,
        .read_only = cfg->read_only,
        .metrics_fn = cfg->metrics_fn,
        .metrics_arg = cfg->metrics_arg,
        .ready_fn = cfg->ready_fn,
        .ready_arg = cfg->ready_arg,
        .routes = cfg->routes,
        .n_routes = cfg->n_routes,
    });
    s->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    s->port = port;
    s->log_fn = cfg->log_fn;
    s->log_arg = cfg->log_arg;
    s->log_capture = true; /* no other thread yet */
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    if (tls) {
        flags |= MHD_USE_TLS;
        s->cert_pem = xstrdup(cfg->cert_pem);
        s->key_pem = xstrdup(cfg->key_pem);
    }
    if (memory < MIN_CONNECTION_MEMORY)
        memory = MIN_CONNECTION_MEMORY;

    struct MHD_OptionItem opts[8];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    opts[n++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->connection_limit ? cfg->connection_limit : DEFAULT_CONNECTION_LIMIT, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                        cfg->per_ip_limit ? cfg->per_ip_limit
                                                          : DEFAULT_PER_IP_LIMIT,
                                        NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        cfg->connection_timeout ? cfg->connection_timeout
                                                                : DEFAULT_CONNECTION_TIMEOUT,
                                        NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)memory,
                                        NULL};
    if (tls) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    /* The logger goes first, so that start-up messages use it too. */
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    pthread_mutex_lock(&s->log_lock);
    s->log_capture = false;
    pthread_mutex_unlock(&s->log_lock);
    if (!s->daemon) {
        /* log_capture is off: nothing writes log_start any more */
        snprintf(err, errlen, "listen %s: cannot start the HTTP server%s%s", addr,
                 s->log_start[0] ? ": " : " (libmicrohttpd)", s->log_start);
        /* fd is not closed here: depending on where it failed,
         * libmicrohttpd may already have closed it, and closing a reused
         * number would hit another thread's descriptor. At worst one
         * descriptor leaks on a start-up failure. */
        server_free(s);
        return NULL;
    }
    return s;
}

int http_port(const struct http_server *s)
{
    return s->port;
}

/* Answers every waiting request 503 and gives the polling thread up to
 * STOP_GRACE_MS to send those answers. libmicrohttpd must not be stopped
 * with a connection still suspended, and after this none is: each waiting
 * one is answered (so resumed, by its wake or by wait_answer), and no new
 * one starts waiting once `stopping` is set. Main thread. */
static void answer_waiting(struct http_server *s)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += (long)STOP_GRACE_MS % 1000 * 1000000;
    deadline.tv_sec += STOP_GRACE_MS / 1000 + deadline.tv_nsec / 1000000000;
    deadline.tv_nsec %= 1000000000;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    for (struct conn_req *cr = s->waiting; cr; cr = cr->next)
        http_deferred_cancel(cr->deferred, 503, STOPPING_TEXT);
    /* Bodies that wait: cut off, and resumed so libmicrohttpd sees it */
    for (struct pump *p = s->pumps; p; p = p->next) {
        pthread_mutex_lock(&p->wlock);
        p->cut = true;
        if (p->parked) {
            p->parked = false;
            MHD_resume_connection(p->conn);
        }
        pthread_mutex_unlock(&p->wlock);
    }
    while (s->waiting && pthread_cond_timedwait(&s->drained, &s->lock, &deadline) == 0)
        ;
    pthread_mutex_unlock(&s->lock);
}

int http_quiesce(struct http_server *s)
{
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    return fd == MHD_INVALID_SOCKET ? -1 : (int)fd;
}

void http_stop(struct http_server *s)
{
    unsigned suppressed;

    if (!s)
        return;
    answer_waiting(s);
    /* Closes the listening socket and every connection, joins the thread;
     * responses still held are released (free_body, pump_free) on this
     * thread. */
    MHD_stop_daemon(s->daemon);
    pthread_mutex_lock(&s->log_lock);
    suppressed = s->log_suppressed;
    s->log_suppressed = 0;
    pthread_mutex_unlock(&s->log_lock);
    log_flush_suppressed(s, suppressed);
    server_free(s);
}
