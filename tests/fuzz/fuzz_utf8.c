/*
 * fuzz_utf8 — utf8_seq, utf8_valid_prefix, utf8_cut and utf8_sanitize
 * (host/lib/utf8.h): how text from plugins enters the host, made valid
 * UTF-8 once at the SDK boundary.
 *
 * The first input byte picks the output room (cap), the rest is the text.
 * A reference decoder (fuzz_common.h) from the Unicode definition (a scalar
 * value decoded arithmetically, then overlongs, surrogates and values
 * above U+10FFFF refused: no byte-range table, so the host's table is not
 * checked against itself) splits the text into units: a valid character,
 * or a byte that starts none (to become U+FFFD). Then:
 *   - utf8_seq at each unit's start is the character's length, or 0;
 *   - utf8_valid_prefix stops at the first bad unit;
 *   - utf8_sanitize writes exactly the units that fit in cap - 1 bytes,
 *     whole, bad bytes as EF BF BD, NUL-terminated, says `cut` exactly
 *     when some text was left out, and its output is valid UTF-8;
 *   - for valid text, utf8_cut(max) is the last character boundary <= max.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "lib/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char repl[] = {0xef, 0xbf, 0xbd};
    const unsigned char *s;
    unsigned char *want, *out;
    size_t len, cap, i = 0, o = 0, first_bad, got;
    bool cut, all_valid;

    if (size < 1)
        return 0;
    cap = data[0] < 0xf0 ? (size_t)data[0] % 64 + 1 : 3 * size + 1; /* tight, or roomy */
    s = data + 1;
    len = size - 1;
    want = malloc(cap);
    out = malloc(cap);
    if (!want || !out)
        abort();
    first_bad = len;
    while (i < len) {
        size_t n = fuzz_utf8_char(s + i, len - i);
        size_t seq = utf8_seq(s + i, len - i);

        FUZZ_CHECK(seq == n, "utf8_seq at %zu: %zu, the reference says %zu", i, seq, n);
        if (!n && first_bad == len)
            first_bad = i;
        size_t take = n ? n : 3;
        if (o + take > cap - 1)
            break;
        memcpy(want + o, n ? s + i : repl, take);
        o += take;
        i += n ? n : 1;
    }
    want[o] = '\0';
    /* what the loop above did not reach still decides the valid prefix */
    for (size_t k = i; k < len && first_bad == len;) {
        size_t n = fuzz_utf8_char(s + k, len - k);
        if (!n)
            first_bad = k;
        k += n ? n : 1;
    }
    got = utf8_sanitize((char *)out, cap, (const char *)s, len, &cut);
    FUZZ_CHECK(got == o, "utf8_sanitize wrote %zu bytes, the reference %zu (cap %zu)", got, o, cap);
    FUZZ_CHECK(memcmp(out, want, o + 1) == 0, "utf8_sanitize output differs (cap %zu)", cap);
    FUZZ_CHECK(cut == (i < len), "cut %d but %zu of %zu bytes taken", cut, i, len);
    FUZZ_CHECK(fuzz_utf8_valid(out, got), "utf8_sanitize output is not UTF-8");
    FUZZ_CHECK(utf8_valid_prefix((const char *)s, len) == first_bad,
               "utf8_valid_prefix %zu, the reference %zu", utf8_valid_prefix((const char *)s, len),
               first_bad);
    all_valid = first_bad == len;
    if (all_valid && !cut)
        FUZZ_CHECK(got == len && memcmp(out, s, len) == 0, "valid text that fits is not kept");
    if (all_valid) {
        for (size_t max = 0; max <= len + 1; max += 1 + max / 8) {
            size_t c = utf8_cut((const char *)s, len, max), best = 0;
            for (size_t k = 0; k < len && k + fuzz_utf8_char(s + k, len - k) <= max;)
                k += fuzz_utf8_char(s + k, len - k), best = k;
            if (len <= max)
                best = len;
            FUZZ_CHECK(c == best, "utf8_cut(%zu) = %zu, the last boundary is %zu", max, c, best);
        }
    }
    free(want);
    free(out);
    return 0;
}
