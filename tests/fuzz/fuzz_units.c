/*
 * fuzz_units — duration_parse, duration_format and size_parse (host/units.h).
 *
 * The input is read three ways:
 *   - as text, through duration_parse, compared with an exact reference
 *     parser written here from the contract in units.h (the same verdict; the
 *     same ns, give or take the 1 ns per group that units.c's double
 *     arithmetic for fractions may cost); a parsed duration must survive
 *     format -> parse unchanged, and its format must be canonical;
 *   - as text, through size_parse, compared with an exact reference parser
 *     written here from the contract in units.h;
 *   - its first 8 bytes as an int64: duration_format then duration_parse
 *     gives the same ns, a negative value is "-" and the positive text, and
 *     a short buffer gets a NUL-terminated prefix of the full text.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "lib/units.h"

#define FMT_LEN 64

/* duration_parse as units.h describes it, exact (128-bit) arithmetic.
 * Fraction digits past the ninth are dropped, as units.c does. Sets
 * *near_max when units.c's conservative digit check may refuse a number
 * that still fits, and *groups to the number of <number><unit> groups. */
static int duration_ref(const char *text, __int128 *ns, bool *near_max, int *groups)
{
    static const struct {
        const char *name;
        int64_t scale;
    } units[] = {
        {"ns", 1}, {"us", NS_PER_US}, {"ms", NS_PER_MS}, {"s", NS_PER_SEC},
        {"m", 60 * NS_PER_SEC}, {"h", 3600 * NS_PER_SEC}, {"d", 86400 * NS_PER_SEC},
        {"w", 7 * 86400 * NS_PER_SEC},
    };
    const char *p = text;
    __int128 total = 0;
    int64_t last = INT64_MAX;

    *near_max = false;
    *groups = 0;
    if (!*p)
        return -EINVAL;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    while (*p) {
        __int128 whole = 0;
        int64_t frac = 0, div = 1, scale = 0;
        size_t n = 0;

        if (*p < '0' || *p > '9')
            return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (whole > (INT64_MAX - 9) / 10)
                *near_max = true;
            whole = whole * 10 + (*p - '0');
            if (whole > INT64_MAX)
                return -ERANGE;
        }
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            for (; *p >= '0' && *p <= '9'; p++) {
                if (div < NS_PER_SEC) {
                    frac = frac * 10 + (*p - '0');
                    div *= 10;
                }
            }
        }
        while (p[n] >= 'a' && p[n] <= 'z')
            n++;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strlen(units[i].name) == n && memcmp(units[i].name, p, n) == 0)
                scale = units[i].scale;
        if (scale == 0 || scale >= last)
            return -EINVAL;
        last = scale;
        p += n;
        total += whole * scale + (__int128)frac * scale / div;
        if (total > INT64_MAX)
            return -ERANGE;
        (*groups)++;
    }
    *ns = total;
    return 0;
}

static void check_duration_text(const char *s)
{
    int64_t ns = -1, again = -1;
    __int128 want = 0;
    bool near_max;
    int groups;
    char f1[FMT_LEN], f2[FMT_LEN];
    int ref = duration_ref(s, &want, &near_max, &groups);
    int rc = duration_parse(s, &ns);

    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "duration_parse(\"%s\") = %d", s, rc);
    if (!(rc == -ERANGE && near_max))
        FUZZ_CHECK(rc == ref, "duration_parse(\"%s\") = %d, reference %d", s, rc, ref);
    if (rc != 0)
        return;
    /* A fraction is computed in double in units.c: one ns either way per group. */
    FUZZ_CHECK(ns - want <= groups && want - ns <= groups,
               "duration_parse(\"%s\") = %lld, reference %lld", s, (long long)ns,
               (long long)want);
    FUZZ_CHECK(ns >= 0, "duration_parse(\"%s\") gave a negative %lld", s, (long long)ns);
    duration_format(ns, f1, sizeof(f1));
    FUZZ_CHECK(strlen(f1) < sizeof(f1) - 1, "format of %lld fills the buffer", (long long)ns);
    rc = duration_parse(f1, &again);
    FUZZ_CHECK(rc == 0 && again == ns, "\"%s\" -> %lld -> \"%s\" -> rc %d, %lld", s,
               (long long)ns, f1, rc, (long long)again);
    duration_format(again, f2, sizeof(f2));
    FUZZ_CHECK(strcmp(f1, f2) == 0, "format not canonical: \"%s\" vs \"%s\"", f1, f2);
}

/* size_parse as units.h describes it, with exact overflow detection. */
static int size_ref(const char *text, uint64_t *bytes, bool *near_max)
{
    static const struct {
        const char *name;
        uint64_t scale;
    } units[] = {
        {"", 1},         {"B", 1},         {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
        {"GiB", 1ull << 30}, {"TiB", 1ull << 40}, {"kB", 1000},      {"KB", 1000},
        {"MB", 1000000},  {"GB", 1000000000}, {"TB", 1000000000000ull},
    };
    const char *p = text;
    uint64_t n = 0;
    bool overflow = false;

    *near_max = false;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, (uint64_t)(*p - '0'), &n))
            overflow = true;
        if (!overflow && n > (UINT64_MAX - 9) / 10 && p[1] >= '0' && p[1] <= '9')
            *near_max = true; /* one more digit may or may not fit */
    }
    if (overflow)
        return -ERANGE; /* before the unit is looked at, as units.c does */
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].name) != 0)
            continue;
        if (__builtin_mul_overflow(n, units[i].scale, bytes))
            return -ERANGE;
        return 0;
    }
    return -EINVAL;
}

static void check_size_text(const char *s)
{
    uint64_t got = 0, want = 0;
    bool near_max;
    int rc = size_parse(s, &got);
    int ref = size_ref(s, &want, &near_max);

    /* units.c refuses a digit string once it passes (UINT64_MAX - 9) / 10
     * before its last digit, a few values short of UINT64_MAX: harmless for
     * a byte size, so -ERANGE is accepted there. */
    if (rc == -ERANGE && near_max)
        return;
    FUZZ_CHECK(rc == ref, "size_parse(\"%s\") = %d, reference %d", s, rc, ref);
    if (rc == 0)
        FUZZ_CHECK(got == want, "size_parse(\"%s\") = %llu, reference %llu", s,
                   (unsigned long long)got, (unsigned long long)want);
}

static void check_duration_value(int64_t v, size_t short_len)
{
    char full[FMT_LEN], pos[FMT_LEN], cut[FMT_LEN];
    int64_t back = -1;
    int rc;

    duration_format(v, full, sizeof(full));
    FUZZ_CHECK(full[0] != '\0' && strlen(full) < sizeof(full) - 1, "format of %lld: \"%s\"",
               (long long)v, full);
    if (v >= 0) {
        rc = duration_parse(full, &back);
        FUZZ_CHECK(rc == 0 && back == v, "%lld -> \"%s\" -> rc %d, %lld", (long long)v, full, rc,
                   (long long)back);
    } else {
        FUZZ_CHECK(full[0] == '-', "%lld formats as \"%s\"", (long long)v, full);
        if (v != INT64_MIN) {
            duration_format(-v, pos, sizeof(pos));
            FUZZ_CHECK(strcmp(full + 1, pos) == 0, "%lld -> \"%s\" but %lld -> \"%s\"",
                       (long long)v, full, (long long)-v, pos);
        }
    }
    /* A short buffer: a NUL-terminated prefix, nothing written past len. */
    memset(cut, 'X', sizeof(cut));
    duration_format(v, cut, short_len);
    if (short_len > 0) {
        size_t n = strnlen(cut, short_len);
        FUZZ_CHECK(n < short_len, "len %zu: not NUL-terminated", short_len);
        FUZZ_CHECK(strncmp(cut, full, n) == 0, "len %zu: \"%s\" is not a prefix of \"%s\"",
                   short_len, cut, full);
    }
    for (size_t i = short_len; i < sizeof(cut); i++)
        FUZZ_CHECK(cut[i] == 'X', "len %zu: byte %zu written", short_len, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int64_t v = 0;

    check_duration_text(s);
    check_size_text(s);
    if (size >= sizeof(v)) {
        memcpy(&v, data, sizeof(v));
        check_duration_value(v, size > 8 ? data[8] % 40 : 0);
    }
    free(s);
    return 0;
}
