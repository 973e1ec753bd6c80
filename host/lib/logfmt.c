/*
 * logfmt — encoder, parser and timestamp formatter for log records. See
 * logfmt.h for the rules. Everything here is pure; log.c calls it on the hot
 * path of every record, so the common case (a short value that needs no
 * quoting) is one table-driven scan and one memcpy.
 */
#include "lib/logfmt.h"

#include "lib/civil.h"
#include "lib/numfmt.h"
#include "lib/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

    if (vlen > 0 && klen > 0 && bare_prefix((const unsigned char *)v, vlen) == vlen) {
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

/* --- parsing --------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(struct buf *b, unsigned cp)
{
    char t[4];
    size_t n;

    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xc0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else {
        t[0] = (char)(0xe0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    }
    buf_append(b, t, n);
}

static void add_pair(struct logfmt_record *rec, const char *key, size_t klen, struct buf *val)
{
    struct logfmt_pair *p;

    rec->pairs = xrealloc(rec->pairs, (rec->n + 1) * sizeof(*rec->pairs));
    p = &rec->pairs[rec->n++];
    p->key = xstrndup(key, klen);
    p->value_len = val->len;
    p->value = xmalloc(val->len + 1);
    if (val->len)
        memcpy(p->value, val->data, val->len);
    p->value[val->len] = '\0';
}

static int parse_error(char *err, size_t errlen, size_t col, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "column %zu: %s", col + 1, what);
    return -EINVAL;
}

int logfmt_parse(const char *line, size_t len, struct logfmt_record *rec, char *err,
                 size_t errlen)
{
    struct buf val = {0};
    size_t i = 0;
    int rc = -EINVAL;

    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    while (i < len) {
        size_t kstart, klen;

        while (i < len && line[i] == ' ')
            i++;
        if (i >= len)
            break;
        kstart = i;
        while (i < len && line[i] != '=' && line[i] != ' ' && line[i] != '"')
            i++;
        klen = i - kstart;
        if (klen == 0) {
            rc = parse_error(err, errlen, i, "expected a key");
            goto out;
        }
        buf_reset(&val);
        if (i >= len || line[i] == ' ') { /* bare key */
            add_pair(rec, line + kstart, klen, &val);
            continue;
        }
        if (line[i] == '"') {
            rc = parse_error(err, errlen, i, "'\"' in a key");
            goto out;
        }
        i++; /* '=' */
        if (i < len && line[i] == '"') {
            size_t qstart = i++;
            bool closed = false;
            while (i < len) {
                char c = line[i];
                if (c == '"') {
                    closed = true;
                    i++;
                    break;
                }
                if (c != '\\') {
                    size_t s = i;
                    while (i < len && line[i] != '"' && line[i] != '\\')
                        i++;
                    buf_append(&val, line + s, i - s);
                    continue;
                }
                if (i + 1 >= len) {
                    rc = parse_error(err, errlen, i, "'\\' at the end of the line");
                    goto out;
                }
                c = line[i + 1];
                switch (c) {
                case '\\':
                case '"':
                    buf_putc(&val, c);
                    i += 2;
                    break;
                case 'n':
                    buf_putc(&val, '\n');
                    i += 2;
                    break;
                case 't':
                    buf_putc(&val, '\t');
                    i += 2;
                    break;
                case 'r':
                    buf_putc(&val, '\r');
                    i += 2;
                    break;
                case 'x': {
                    int h = i + 3 < len ? hexval(line[i + 2]) : -1;
                    int l = i + 3 < len ? hexval(line[i + 3]) : -1;
                    if (h < 0 || l < 0) {
                        rc = parse_error(err, errlen, i, "bad \\x escape");
                        goto out;
                    }
                    buf_putc(&val, (char)(h * 16 + l));
                    i += 4;
                    break;
                }
                case 'u': {
                    unsigned cp = 0;
                    if (i + 5 >= len) {
                        rc = parse_error(err, errlen, i, "bad \\u escape");
                        goto out;
                    }
                    for (size_t k = 2; k < 6; k++) {
                        int h = hexval(line[i + k]);
                        if (h < 0) {
                            rc = parse_error(err, errlen, i, "bad \\u escape");
                            goto out;
                        }
                        cp = cp * 16 + (unsigned)h;
                    }
                    if (cp >= 0xd800 && cp <= 0xdfff) {
                        rc = parse_error(err, errlen, i, "surrogate in \\u escape");
                        goto out;
                    }
                    put_utf8(&val, cp);
                    i += 6;
                    break;
                }
                default:
                    rc = parse_error(err, errlen, i, "unknown escape");
                    goto out;
                }
            }
            if (!closed) {
                rc = parse_error(err, errlen, qstart, "unterminated quoted value");
                goto out;
            }
            if (i < len && line[i] != ' ') {
                rc = parse_error(err, errlen, i, "expected a space after a quoted value");
                goto out;
            }
        } else {
            size_t s = i;
            while (i < len && line[i] != ' ') {
                if (line[i] == '"') {
                    rc = parse_error(err, errlen, i, "'\"' in a bare value");
                    goto out;
                }
                i++;
            }
            buf_append(&val, line + s, i - s);
        }
        add_pair(rec, line + kstart, klen, &val);
    }
    rc = 0;
out:
    buf_free(&val);
    return rc;
}

void logfmt_record_free(struct logfmt_record *rec)
{
    if (!rec)
        return;
    for (size_t i = 0; i < rec->n; i++) {
        free(rec->pairs[i].key);
        free(rec->pairs[i].value);
    }
    free(rec->pairs);
    rec->pairs = NULL;
    rec->n = 0;
}

const char *logfmt_get(const struct logfmt_record *rec, const char *key)
{
    for (size_t i = 0; i < rec->n; i++)
        if (strcmp(rec->pairs[i].key, key) == 0)
            return rec->pairs[i].value;
    return NULL;
}
