/*
 * numfmt — numbers as text, without printf: the run path and the metrics
 * exposition write millions of numbers, and snprintf showed in every
 * profile. One formatter for the whole host, so a duration in a log record
 * and the same duration in /metrics read alike. Pure.
 *
 * The char * writers append at p (no NUL) and return the end; the caller
 * provides room: NUMFMT_MAX bytes for any one number.
 */
#ifndef JH_NUMFMT_H
#define JH_NUMFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NUMFMT_MAX 40

/* Decimal integers. */
char *numfmt_u64(char *p, uint64_t v);
char *numfmt_i64(char *p, int64_t v);

/* v (< 10^n) in exactly n digits, zero-padded: timestamps. Inline: every
 * log record writes its milliseconds with it, and with n a constant the
 * loop unrolls into a few multiplications. */
static inline char *numfmt_pad(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

/* Integer nanoseconds as exact decimal seconds: 0, 0.1, 3600, 1e-9 as
 * 0.000000001, 1732912345.123456789. Every such string reads back as the
 * double nearest to the true value, which is all a double can hold. */
char *numfmt_ns_seconds(char *p, int64_t ns);

/* "%.<prec>f" for |v| * 10^prec < 2^31 and prec <= 9 (a duration, a
 * ratio): the same text snprintf writes. NULL (nothing written) outside that
 * range or when v * 10^prec is too close to a tie to decide without
 * snprintf: the caller then falls back on it. */
char *numfmt_fixed(char *p, double v, int prec);

/* Writes `v` as Go's strconv.FormatFloat(v, 'g', -1, 64) does (shortest
 * decimal that reads back as the same double; exponent form below 1e-4 and
 * from 1e+06: 0.1, 1, 3600, 1e+06, 1e-05, 1.5e+300), and "+Inf", "-Inf",
 * "NaN". With `canonical` (OpenMetrics le/quantile values) an integral
 * result gets ".0" appended: 1.0, 3600.0, 1e+06 stays. `out` must hold
 * NUMFMT_MAX bytes; returns the length written (NUL-terminated). */
size_t numfmt_double(double v, bool canonical, char *out);

#endif /* JH_NUMFMT_H */
