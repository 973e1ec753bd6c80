/*
 * logfmt_parse — the test-side reader of logfmt lines. See logfmt_parse.h.
 */
#include "logfmt_parse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

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
