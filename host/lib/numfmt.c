/*
 * numfmt — numbers as text. See numfmt.h.
 */
#include "lib/numfmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/units.h"

static const char digits2[] = "00010203040506070809"
                              "10111213141516171819"
                              "20212223242526272829"
                              "30313233343536373839"
                              "40414243444546474849"
                              "50515253545556575859"
                              "60616263646566676869"
                              "70717273747576777879"
                              "80818283848586878889"
                              "90919293949596979899";

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

char *numfmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *end = tmp + sizeof tmp, *q = end;

    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        q -= 2;
        memcpy(q, digits2 + i, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, digits2 + v * 2, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return put(p, q, (size_t)(end - q));
}

char *numfmt_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return numfmt_u64(p, -(uint64_t)v);
    }
    return numfmt_u64(p, (uint64_t)v);
}

char *numfmt_ns_seconds(char *p, int64_t ns)
{
    uint64_t u;
    if (ns < 0) {
        *p++ = '-';
        u = -(uint64_t)ns;
    } else {
        u = (uint64_t)ns;
    }
    p = numfmt_u64(p, u / NS_PER_SEC);
    uint32_t frac = (uint32_t)(u % NS_PER_SEC);
    if (frac) {
        char f[10];
        f[0] = '.';
        for (int i = 8; i >= 0; i -= 2) {
            unsigned two = frac % 100;
            frac /= 100;
            if (i == 0) {
                f[1] = (char)('0' + two);
                break;
            }
            memcpy(f + i, digits2 + two * 2, 2);
        }
        size_t n = 10;
        while (f[n - 1] == '0')
            n--;
        p = put(p, f, n);
    }
    return p;
}

size_t numfmt_double(double v, bool canonical, char *out)
{
    const char *lit = NULL;
    char tmp[40], digs[24];
    int nd = 0, exp, prec;
    char *p = out;

    if (isnan(v))
        lit = "NaN";
    else if (isinf(v))
        lit = v > 0 ? "+Inf" : "-Inf";
    else if (v == 0)
        lit = signbit(v) ? (canonical ? "-0.0" : "-0") : (canonical ? "0.0" : "0");
    if (lit) {
        size_t n = strlen(lit);
        memcpy(out, lit, n + 1);
        return n;
    }

    /* Shortest digits that read back as v. For a normal double, if 15
     * significant digits round-trip then the shortest form is those digits
     * without trailing zeros; otherwise 16 or 17 are needed. A subnormal has
     * fewer significant bits, so it is searched from one digit up. */
    prec = fabs(v) < DBL_MIN ? 1 : 15;
    for (; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    if (prec == 17)
        snprintf(tmp, sizeof tmp, "%.16e", v);

    const char *s = tmp;
    if (*s == '-') {
        *p++ = '-';
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            digs[nd++] = *s;
    exp = (int)strtol(s + 1, NULL, 10);
    while (nd > 1 && digs[nd - 1] == '0')
        nd--;

    if (exp < -4 || exp >= 6) {
        /* d[.ddd]e±XX, at least two exponent digits, as Go writes it */
        *p++ = digs[0];
        if (nd > 1) {
            *p++ = '.';
            p = put(p, digs + 1, (size_t)nd - 1);
        }
        *p++ = 'e';
        *p++ = exp < 0 ? '-' : '+';
        unsigned ae = (unsigned)(exp < 0 ? -exp : exp);
        if (ae < 10)
            *p++ = '0';
        p = numfmt_u64(p, ae);
    } else if (exp >= 0) {
        for (int i = 0; i <= exp; i++)
            *p++ = i < nd ? digs[i] : '0';
        if (nd > exp + 1) {
            *p++ = '.';
            p = put(p, digs + exp + 1, (size_t)(nd - exp - 1));
        } else if (canonical) {
            p = put(p, ".0", 2);
        }
    } else {
        p = put(p, "0.", 2);
        for (int i = 0; i < -exp - 1; i++)
            *p++ = '0';
        p = put(p, digs, (size_t)nd);
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* The product v * 10^prec has one rounding error, below 2^-22; when its
 * fraction is that close to a tie, snprintf must decide, so the output is
 * always snprintf's. */
char *numfmt_fixed(char *p, double v, int prec)
{
    static const double p10d[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    static const uint64_t p10[] = {1,         10,         100,         1000,
                                   10000,     100000,     1000000,     10000000,
                                   100000000, 1000000000};
    bool negative = signbit(v);
    double a = (negative ? -v : v), frac;
    uint64_t ip, r;

    if (prec < 0 || prec > 9)
        return NULL;
    a *= p10d[prec];
    if (!(a < 2147483648.0)) /* also NaN and infinities */
        return NULL;
    ip = (uint64_t)a;
    frac = a - (double)ip;
    if (frac > 0.5 - 1e-6 && frac < 0.5 + 1e-6)
        return NULL;
    r = ip + (frac > 0.5);
    if (negative)
        *p++ = '-';
    p = numfmt_u64(p, r / p10[prec]);
    if (prec > 0) {
        uint64_t f = r % p10[prec];
        *p = '.';
        for (int i = prec; i >= 1; i--) {
            p[i] = (char)('0' + f % 10);
            f /= 10;
        }
        p += prec + 1;
    }
    return p;
}
