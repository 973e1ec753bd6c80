/*
 * logfmt — encoder and timestamp formatter for log records. See logfmt.h
 * for the rules. Everything here is pure; log.c calls it on the hot
 * path of every record, so the common case (a short value that needs no
 * quoting) is one table-driven scan and one memcpy.
 */
#include "lib/logfmt.h"

#include "lib/civil.h"
#include "lib/numfmt.h"
#include "lib/utf8.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

/* 1 for the ASCII bytes that may stand in a bare value: printable, not
 * space, '"', '=' or '\'. Bytes >= 0x80 are 0 here and decided by the
 * UTF-8 check. */
static const unsigned char bare_ascii[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1,
    [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1,
    ['0' ... '9'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['>'] = 1, ['?'] = 1,
    ['@'] = 1, ['A' ... 'Z'] = 1, ['['] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['a' ... 'z'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1,
};

/* What a byte of a key becomes: [a-z0-9_] kept, A-Z lowered, else '_'. */
static char key_char(unsigned char c)
{
    if ((unsigned)(c - 'a') < 26 || (unsigned)(c - '0') < 10 || c == '_')
        return (char)c;
    if ((unsigned)(c - 'A') < 26)
        return (char)(c + ('a' - 'A'));
    return '_';
}

/* Bytes at the start of v that are bare ASCII. */
static size_t bare_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len && bare_ascii[s[i]])
        i++;
    return i;
}

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* True when each of the 8 bytes of w is bare ASCII: 0x21..0x7e but '"',
 * '=' and '\'. Byte-wise sums of values below 0x80 never carry into the
 * next byte, so each test is exact per byte: t + (0x80 - n) has its top
 * bit set exactly when the byte is >= n, and (t ^ c) + 0x7f exactly when
 * the byte differs from c. */
static inline bool word_bare(uint64_t w)
{
    uint64_t t = w & ~HIGH;

    return !(w & HIGH) && ((t + 0x5f * ONES) & HIGH) == HIGH && !((t + ONES) & HIGH) &&
           (((t ^ ('"' * ONES)) + 0x7f * ONES) & ((t ^ ('=' * ONES)) + 0x7f * ONES) &
            ((t ^ ('\\' * ONES)) + 0x7f * ONES) & HIGH) == HIGH;
}

bool logfmt_ascii_bare(const char *v, size_t len)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0;

    uint64_t w;

    if (len < 8) {
        uint32_t a, b;
        if (len < 4) {
            for (; i < len; i++)
                if (!bare_ascii[s[i]])
                    return false;
            return len > 0;
        }
        /* 4..7 bytes: the first four and the last four, overlapping */
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        return word_bare((uint64_t)a | (uint64_t)b << 32);
    }
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        if (!word_bare(w))
            return false;
    }
    if (i == len)
        return true;
    memcpy(&w, s + len - 8, 8); /* the tail, overlapping what was checked */
    return word_bare(w);
}

bool logfmt_is_bare(const char *v, size_t len)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i;

    if (len == 0)
        return false;
    i = bare_prefix(s, len);
    while (i < len) {
        if (s[i] < 0x80) {
            if (!bare_ascii[s[i]])
                return false;
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0 || (n == 2 && utf8_is_c1(s + i)))
            return false;
        i += n;
    }
    return true;
}

void logfmt_key(struct buf *b, const char *key)
{
    logfmt_key_n(b, key, key ? strlen(key) : 0);
}

void logfmt_key_n(struct buf *b, const char *key, size_t len)
{
    char *o;

    if (len == 0) {
        buf_putc(b, '_');
        return;
    }
    buf_reserve(b, len);
    o = b->data + b->len;
    for (size_t i = 0; i < len; i++)
        o[i] = key_char((unsigned char)key[i]);
    b->len += len;
    b->data[b->len] = '\0';
}

static char *put_u00(char *o, unsigned c)
{
    *o++ = '\\';
    *o++ = 'u';
    *o++ = '0';
    *o++ = '0';
    *o++ = hexdig[(c >> 4) & 0xf];
    *o++ = hexdig[c & 0xf];
    return o;
}

void logfmt_value(struct buf *b, const char *v, size_t len)
{
    const unsigned char *s = (const unsigned char *)v;
    char *o;
    size_t i = 0;

    if (logfmt_is_bare(v, len)) {
        buf_append(b, v, len);
        return;
    }
    /* Worst case: every byte becomes \u00XX (6 bytes), plus the quotes. */
    buf_reserve(b, len * 6 + 2);
    o = b->data + b->len;
    *o++ = '"';
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            size_t start = i;
            while (i < len && s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
                i++;
            memcpy(o, s + start, i - start);
            o += i - start;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n == 0) {
                *o++ = '\\';
                *o++ = 'x';
                *o++ = hexdig[c >> 4];
                *o++ = hexdig[c & 0xf];
                i++;
            } else if (n == 2 && utf8_is_c1(s + i)) {
                o = put_u00(o, s[i + 1]);
                i += 2;
            } else {
                memcpy(o, s + i, n);
                o += n;
                i += n;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\r':
            *o++ = 'r';
            break;
        default:
            o = put_u00(o - 1, c); /* C0 controls and DEL */
            break;
        }
        i++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void logfmt_pair_n(struct buf *b, const char *key, size_t klen, const char *v, size_t vlen)
{
    char *o;

    if (klen > 0 && logfmt_ascii_bare(v, vlen)) {
        buf_reserve(b, 2 + klen + vlen);
        o = b->data + b->len;
        if (b->len > 0)
            *o++ = ' ';
        for (size_t i = 0; i < klen; i++)
            *o++ = key_char((unsigned char)key[i]);
        *o++ = '=';
        memcpy(o, v, vlen);
        o += vlen;
        *o = '\0';
        b->len = (size_t)(o - b->data);
        return;
    }
    if (b->len > 0)
        buf_putc(b, ' ');
    logfmt_key_n(b, key, klen);
    buf_putc(b, '=');
    logfmt_value(b, v, vlen);
}

void logfmt_pair(struct buf *b, const char *key, const char *value)
{
    logfmt_pair_n(b, key, key ? strlen(key) : 0, value ? value : "", value ? strlen(value) : 0);
}

/* --- timestamps ------------------------------------------------------------ */

size_t logfmt_ts(char out[LOGFMT_TS_LEN + 1], int64_t wall_ns)
{
    int64_t ms = floor_div(wall_ns, 1000000);
    int64_t secs = floor_div(ms, 1000);
    int64_t days = floor_div(secs, 86400);
    int64_t sod = secs - days * 86400;
    unsigned msec = (unsigned)(ms - secs * 1000);
    char *o = out;
    int64_t y;
    int m, d;

    civil_from_days(days, &y, &m, &d);
    /* int64 nanoseconds span 1677..2262, so the clamp is belt and braces. */
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    o = numfmt_pad(o, (unsigned)y, 4);
    *o++ = '-';
    o = numfmt_pad(o, (unsigned)m, 2);
    *o++ = '-';
    o = numfmt_pad(o, (unsigned)d, 2);
    *o++ = 'T';
    o = numfmt_pad(o, (unsigned)(sod / 3600), 2);
    *o++ = ':';
    o = numfmt_pad(o, (unsigned)(sod / 60 % 60), 2);
    *o++ = ':';
    o = numfmt_pad(o, (unsigned)(sod % 60), 2);
    *o++ = '.';
    o = numfmt_pad(o, msec, 3);
    *o++ = 'Z';
    *o = '\0';
    return LOGFMT_TS_LEN;
}
