/*
 * listen — the one parser of listen addresses ("127.0.0.1:9464"), used by
 * the manifest, which refuses a bad `host.http.listen` with its position,
 * and by the HTTP server, which binds what it gets. Both thus accept exactly
 * the same forms:
 *   127.0.0.1:9464   an IPv4 address (dotted quad, as inet_pton reads it)
 *   [::1]:9464       an IPv6 address, in brackets
 *   localhost:9464   the loopback name (any case), resolved when binding
 *   :9464            every interface
 * Other host names are refused: what a daemon binds must not depend on DNS
 * at the time it starts. Pure: no name lookup, no I/O.
 */
#ifndef JH_LISTEN_H
#define JH_LISTEN_H

#include <stddef.h>

/* Longest host part kept: an IPv6 address in full (INET6_ADDRSTRLEN). */
#define LISTEN_HOST_LEN 46

struct listen_addr {
    char host[LISTEN_HOST_LEN]; /* as written, brackets removed; "" = every interface */
    char port[6];               /* the port's digits, for getaddrinfo */
    unsigned port_num;          /* the same as a number */
    int family;                 /* AF_INET, AF_INET6, or AF_UNSPEC (localhost, every interface) */
};

/* Flags of listen_parse. */
enum {
    /* Port 0 is allowed: "any free port", which the daemon reports once it
     * listens (tests use it). Without it, ports are 1-65535. */
    LISTEN_PORT_ZERO = 1,
};

/* Parses `text` into *out. Returns 0, or -EINVAL with a one-line message in
 * err (cut to errlen) that quotes the address, e.g.
 *   empty listen address
 *   missing port in "127.0.0.1" (expected HOST:PORT or :PORT)
 *   missing ']' in "[::1"
 *   missing port in "[::1]" (expected [ADDRESS]:PORT)
 *   IPv6 address in "::1:9464" must be in brackets: [ADDRESS]:PORT
 *   invalid IPv6 address "zz" in "[zz]:80"
 *   invalid host "example.com" in "example.com:80" (expected an IPv4 address,
 *     [IPv6] address, localhost, or nothing for every interface)
 *   invalid port "99999" in "127.0.0.1:99999" (expected 0-65535)
 * Text of the caller's is quoted as it is; a caller printing it on a terminal
 * escapes it. *out is untouched on error. */
int listen_parse(const char *text, unsigned flags, struct listen_addr *out, char *err,
                 size_t errlen);

#endif /* JH_LISTEN_H */
