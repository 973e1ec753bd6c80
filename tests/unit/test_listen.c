/*
 * test_listen — the listen-address parser (host/lib/listen.c) that the
 * manifest and the HTTP server share: every accepted form with what it
 * yields, every refused one with its exact message, port 0 with and without
 * LISTEN_PORT_ZERO, and inputs longer than any buffer.
 *
 * Single-threaded; no globals but the tables.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cu_main.h"
#include "lib/listen.h"
#include "lib/util.h"

#define HOST_FORMS                                                                                 \
    "(expected an IPv4 address, [IPv6] address, localhost, or nothing for every interface)"

static void test_accepted(void)
{
    static const struct {
        const char *text, *host, *port;
        unsigned port_num;
        int family;
    } cases[] = {
        {"127.0.0.1:9464", "127.0.0.1", "9464", 9464, AF_INET},
        {"[::1]:9464", "::1", "9464", 9464, AF_INET6},
        {"localhost:9464", "localhost", "9464", 9464, AF_UNSPEC},
        {"LocalHost:1", "LocalHost", "1", 1, AF_UNSPEC},
        {":9464", "", "9464", 9464, AF_UNSPEC},
        {"0.0.0.0:65535", "0.0.0.0", "65535", 65535, AF_INET},
        {"[::]:80", "::", "80", 80, AF_INET6},
        {"[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", "1", 1, AF_INET6},
        {"[0:0:0:0:0:0:0:1]:08080", "0:0:0:0:0:0:0:1", "08080", 8080, AF_INET6},
        {"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:1",
         "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "1", 1, AF_INET6},
        {"localhost:0", "localhost", "0", 0, AF_UNSPEC},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct listen_addr a;
        char err[256] = "";
        int rc = listen_parse(cases[i].text, LISTEN_PORT_ZERO, &a, err, sizeof(err));
        bool ok = rc == 0 && strcmp(a.host, cases[i].host) == 0 &&
                  strcmp(a.port, cases[i].port) == 0 && a.port_num == cases[i].port_num &&
                  a.family == cases[i].family;
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\nlisten_parse(\"%s\") = %d host=%s port=%s/%u family=%d err=%s\n",
                    cases[i].text, rc, a.host, a.port, a.port_num, a.family, err);
    }
}

static void test_refused(void)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "empty listen address"},
        {"127.0.0.1", "missing port in \"127.0.0.1\" (expected HOST:PORT or :PORT)"},
        {"[::1", "missing ']' in \"[::1\""},
        {"[::1]", "missing port in \"[::1]\" (expected [ADDRESS]:PORT)"},
        {"[::1]9464", "missing port in \"[::1]9464\" (expected [ADDRESS]:PORT)"},
        {"::1:9464", "IPv6 address in \"::1:9464\" must be in brackets: [ADDRESS]:PORT"},
        {"[zz]:80", "invalid IPv6 address \"zz\" in \"[zz]:80\""},
        {"[127.0.0.1]:80", "invalid IPv6 address \"127.0.0.1\" in \"[127.0.0.1]:80\""},
        {"[fe80::1%lo]:80", "invalid IPv6 address \"fe80::1%lo\" in \"[fe80::1%lo]:80\""},
        {"[]:80", "invalid IPv6 address \"\" in \"[]:80\""},
        {"example.com:80", "invalid host \"example.com\" in \"example.com:80\" " HOST_FORMS},
        {"localhost.:80", "invalid host \"localhost.\" in \"localhost.:80\" " HOST_FORMS},
        {"127.1:80", "invalid host \"127.1\" in \"127.1:80\" " HOST_FORMS},
        {"256.0.0.1:80", "invalid host \"256.0.0.1\" in \"256.0.0.1:80\" " HOST_FORMS},
        {"127.0.0.1:", "invalid port \"\" in \"127.0.0.1:\" (expected 0-65535)"},
        {":", "invalid port \"\" in \":\" (expected 0-65535)"},
        {"127.0.0.1:70000", "invalid port \"70000\" in \"127.0.0.1:70000\" (expected 0-65535)"},
        {"127.0.0.1:65536", "invalid port \"65536\" in \"127.0.0.1:65536\" (expected 0-65535)"},
        {"127.0.0.1:-1", "invalid port \"-1\" in \"127.0.0.1:-1\" (expected 0-65535)"},
        {"127.0.0.1:+80", "invalid port \"+80\" in \"127.0.0.1:+80\" (expected 0-65535)"},
        {"127.0.0.1: 80", "invalid port \" 80\" in \"127.0.0.1: 80\" (expected 0-65535)"},
        {"127.0.0.1:80x", "invalid port \"80x\" in \"127.0.0.1:80x\" (expected 0-65535)"},
        {"127.0.0.1:999999", "invalid port \"999999\" in \"127.0.0.1:999999\" (expected 0-65535)"},
        {"[::1]:", "invalid port \"\" in \"[::1]:\" (expected 0-65535)"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct listen_addr a = {.port_num = 4242};
        char err[512] = "";
        int rc = listen_parse(cases[i].text, LISTEN_PORT_ZERO, &a, err, sizeof(err));
        bool ok = rc == -EINVAL && strcmp(err, cases[i].why) == 0 && a.port_num == 4242;
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\nlisten_parse(\"%s\") = %d\n  want: %s\n  got:  %s\n",
                    cases[i].text, rc, cases[i].why, err);
    }
    struct listen_addr a;
    char err[64];
    CU_ASSERT_EQUAL(listen_parse(NULL, 0, &a, err, sizeof(err)), -EINVAL);
    ASSERT_STR(err, "empty listen address");
}

/* Port 0 ("any free port") only when the caller says so. */
static void test_port_zero(void)
{
    struct listen_addr a;
    char err[256];

    CU_ASSERT_EQUAL(listen_parse(":0", LISTEN_PORT_ZERO, &a, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(a.port_num, 0);
    CU_ASSERT_EQUAL(listen_parse(":0", 0, &a, err, sizeof(err)), -EINVAL);
    ASSERT_STR(err, "invalid port \"0\" in \":0\" (expected 1-65535)");
    CU_ASSERT_EQUAL(listen_parse("[::1]:00", 0, &a, err, sizeof(err)), -EINVAL);
    ASSERT_STR(err, "invalid port \"00\" in \"[::1]:00\" (expected 1-65535)");
    CU_ASSERT_EQUAL(listen_parse("127.0.0.1:1", 0, &a, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(a.port_num, 1);
}

/* Hosts longer than any address are refused, never copied past the end;
 * a short message buffer is cut, still terminated. */
static void test_long_input(void)
{
    struct buf b = {0};
    struct listen_addr a;
    char err[512], small[8];

    buf_putc(&b, '[');
    for (int i = 0; i < 200; i++)
        buf_puts(&b, "1:");
    buf_puts(&b, "]:80");
    CU_ASSERT_EQUAL(listen_parse(b.data, 0, &a, err, sizeof(err)), -EINVAL);
    CU_ASSERT_EQUAL(strncmp(err, "invalid IPv6 address \"1:1:", 26), 0);
    buf_reset(&b);
    for (int i = 0; i < 200; i++)
        buf_puts(&b, "1.");
    buf_puts(&b, ":80");
    CU_ASSERT_EQUAL(listen_parse(b.data, 0, &a, err, sizeof(err)), -EINVAL);
    CU_ASSERT_EQUAL(strncmp(err, "invalid host \"1.1.", 18), 0);
    memset(small, 'x', sizeof(small));
    CU_ASSERT_EQUAL(listen_parse(b.data, 0, &a, small, sizeof(small)), -EINVAL);
    CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1);
    buf_free(&b);
}

static const struct cu_test listen_tests[] = {
    {"accepted forms", test_accepted},
    {"refused forms and their messages", test_refused},
    {"port 0", test_port_zero},
    {"long input", test_long_input},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"listen", listen_tests},
    {NULL, NULL},
};

CU_MAIN(suites)
