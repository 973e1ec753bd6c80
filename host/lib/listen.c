/*
 * listen — listen addresses. See listen.h.
 */
#include "lib/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const char *const host_forms =
    "(expected an IPv4 address, [IPv6] address, localhost, or nothing for every interface)";

int listen_parse(const char *text, unsigned flags, struct listen_addr *out, char *err,
                 size_t errlen)
{
    struct listen_addr a = {.family = AF_UNSPEC};
    unsigned char bin[16];
    const char *host, *port;
    size_t hn, pn;
    unsigned min = flags & LISTEN_PORT_ZERO ? 0 : 1;

    if (!text || !*text) {
        snprintf(err, errlen, "empty listen address");
        return -EINVAL;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close) {
            snprintf(err, errlen, "missing ']' in \"%s\"", text);
            return -EINVAL;
        }
        if (close[1] != ':') {
            snprintf(err, errlen, "missing port in \"%s\" (expected [ADDRESS]:PORT)", text);
            return -EINVAL;
        }
        host = text + 1;
        hn = (size_t)(close - host);
        port = close + 2;
        if (hn < sizeof(a.host)) {
            memcpy(a.host, host, hn);
            a.host[hn] = '\0';
        }
        if (hn >= sizeof(a.host) || inet_pton(AF_INET6, a.host, bin) != 1) {
            snprintf(err, errlen, "invalid IPv6 address \"%.*s\" in \"%s\"", (int)hn, host, text);
            return -EINVAL;
        }
        a.family = AF_INET6;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) {
            snprintf(err, errlen, "missing port in \"%s\" (expected HOST:PORT or :PORT)", text);
            return -EINVAL;
        }
        host = text;
        hn = (size_t)(colon - host);
        port = colon + 1;
        if (memchr(host, ':', hn)) {
            snprintf(err, errlen, "IPv6 address in \"%s\" must be in brackets: [ADDRESS]:PORT",
                     text);
            return -EINVAL;
        }
        if (hn < sizeof(a.host)) {
            memcpy(a.host, host, hn);
            a.host[hn] = '\0';
        }
        if (hn == 0 || (hn < sizeof(a.host) && strcasecmp(a.host, "localhost") == 0)) {
            a.family = AF_UNSPEC;
        } else if (hn < sizeof(a.host) && inet_pton(AF_INET, a.host, bin) == 1) {
            a.family = AF_INET;
        } else {
            snprintf(err, errlen, "invalid host \"%.*s\" in \"%s\" %s", (int)hn, host, text,
                     host_forms);
            return -EINVAL;
        }
    }
    pn = strlen(port);
    if (pn == 0 || pn > 5 || strspn(port, "0123456789") != pn) {
        snprintf(err, errlen, "invalid port \"%s\" in \"%s\" (expected %u-65535)", port, text, min);
        return -EINVAL;
    }
    memcpy(a.port, port, pn + 1);
    for (size_t i = 0; i < pn; i++)
        a.port_num = a.port_num * 10 + (unsigned)(port[i] - '0');
    if (a.port_num < min || a.port_num > 65535) {
        snprintf(err, errlen, "invalid port \"%s\" in \"%s\" (expected %u-65535)", port, text, min);
        return -EINVAL;
    }
    *out = a;
    return 0;
}
