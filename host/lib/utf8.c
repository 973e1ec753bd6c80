/*
 * utf8 — validation and cutting. See utf8.h.
 */
#include "lib/utf8.h"

#include <string.h>

size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

size_t utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

size_t utf8_cut(const char *str, size_t len, size_t max)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t cut = max;

    if (len <= max)
        return len;
    /* s[max] is the first byte left out. When it continues a sequence,
     * step back to that sequence's lead byte and leave it out too. */
    while (cut > 0 && max - cut < 3 && (s[cut] & 0xc0) == 0x80)
        cut--;
    if (cut < max && s[cut] >= 0xc0)
        return cut;
    return max; /* a clean boundary already, or not UTF-8 at all */
}

size_t utf8_sanitize(char *out, size_t cap, const char *str, size_t len, bool *cut)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;

    while (i < len) {
        size_t n = s[i] < 0x80 ? 1 : utf8_seq(s + i, len - i);
        const char *from = n ? (const char *)s + i : replacement;
        size_t take = n ? n : sizeof(replacement) - 1;

        if (o + take > cap - 1)
            break;
        memcpy(out + o, from, take);
        o += take;
        i += n ? n : 1;
    }
    out[o] = '\0';
    if (cut)
        *cut = i < len;
    return o;
}
