/*
 * client — how `jobhost ctl` talks to a running daemon: one HTTP request
 * at a time over libcurl, with the bearer token when there is one, the
 * answer as a status, a content type and a body (or, for a stream, line
 * by line to a callback). No threads.
 */
#ifndef JH_CTL_CLIENT_H
#define JH_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

struct ctl_client {
    char base[512];       /* "http://127.0.0.1:9464", no trailing '/' */
    char *token;          /* bearer token, or NULL */
    const char *cacert;   /* CA file for https (the daemon's own certificate), or NULL */
    long timeout_s;       /* whole request, 0: none (streams) */
};

struct ctl_reply {
    long status;          /* HTTP status; 0 when no answer came */
    char type[128];       /* Content-Type, "" when none */
    struct buf body;      /* owned; NUL-terminated when not empty */
};

/* What went wrong below HTTP. */
enum {
    CTL_UNREACHABLE = -1, /* no connection: refused, no route, name unknown, timed out */
    CTL_TRANSPORT = -2,   /* the connection broke, TLS failed, ... */
};

/* Sends METHOD base+path (path starts with '/'; the caller escapes it).
 * 0 with the reply filled (whatever its status), or CTL_UNREACHABLE /
 * CTL_TRANSPORT with the reason in err. The reply is the caller's to
 * free with ctl_reply_free. */
int ctl_request(const struct ctl_client *c, const char *method, const char *path,
                struct ctl_reply *r, char *err, size_t errlen);

/* GET base+path, handing each complete line of the body (without its
 * '\n') to `line` as it arrives, until the body ends or `line` returns
 * false. The status and type are in *r; a body that is not 200 is
 * collected in r->body instead. Same return values. */
int ctl_stream(const struct ctl_client *c, const char *path, bool (*line)(void *, const char *),
               void *arg, struct ctl_reply *r, char *err, size_t errlen);

void ctl_reply_free(struct ctl_reply *r);

/* True when a 404 came from the daemon's router (no such route: an older
 * daemon, or one without a run store) rather than from the API (no such
 * job: a JSON body). */
bool ctl_no_route(const struct ctl_reply *r);

/* Percent-escapes a path segment (a job id or run id is safe already; this
 * keeps a hostile argument from becoming another path). */
void ctl_escape(const char *s, struct buf *out);

#endif /* JH_CTL_CLIENT_H */
