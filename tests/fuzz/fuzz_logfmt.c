/*
 * fuzz_logfmt — the logfmt encoder (host/lib/logfmt.h) and the tests' parser
 * (tests/common/logfmt_parse.h).
 *
 * The input is split into a key (its first byte says how long, 0-31 bytes)
 * and a value (the rest; any bytes, NUL included). Checks:
 *   - logfmt_pair_n writes exactly what a reference encoder, written here from
 *     the rules in logfmt.h, writes: the key sanitised, the value bare or
 *     quoted with \\ \" \n \t \r, \u00XX for control characters (C0, DEL, C1)
 *     and \xXX for bytes that are not valid UTF-8; alone and after another pair;
 *   - the line holds no control character, no newline and only valid UTF-8;
 *   - logfmt_parse reads it back: the sanitised key and the value byte for
 *     byte (invalid UTF-8 included: its \xXX escapes decode to the bytes);
 *   - logfmt_pair (C strings) and logfmt_value agree with logfmt_pair_n;
 *     logfmt_is_bare agrees with the output;
 *   - utf8_cut never cuts a valid UTF-8 sequence and cuts at most 3
 *     bytes short;
 *   - the whole input as a line: logfmt_parse never fails badly, and the
 *     pairs it reads, encoded again, parse back to the same values;
 *   - logfmt_ts of the input's first 8 bytes as ns: 24 characters that
 *     rfc3339_parse reads back as the same millisecond.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz_common.h"
#include "lib/logfmt.h"
#include "logfmt_parse.h"
#include "lib/utf8.h"
#include "lib/trigger.h"
#include "lib/units.h"

/* ---- the reference encoder ---------------------------------------------------- */

static bool ref_bare(const unsigned char *v, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len;) {
        if (v[i] < 0x80) {
            if (v[i] <= 0x20 || v[i] == 0x7f || v[i] == '"' || v[i] == '=' || v[i] == '\\')
                return false;
            i++;
            continue;
        }
        size_t n = fuzz_utf8_char(v + i, len - i);
        if (n == 0 || (n == 2 && v[i] == 0xc2 && v[i + 1] < 0xa0))
            return false;
        i += n;
    }
    return true;
}

static void ref_value(struct buf *b, const unsigned char *v, size_t len)
{
    if (ref_bare(v, len)) {
        buf_append(b, v, len);
        return;
    }
    buf_putc(b, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = v[i];
        if (c >= 0x80) {
            size_t n = fuzz_utf8_char(v + i, len - i);
            if (n == 0) {
                buf_printf(b, "\\x%02x", c);
                i++;
            } else if (n == 2 && c == 0xc2 && v[i + 1] < 0xa0) {
                buf_printf(b, "\\u%04x", v[i + 1]); /* C1 control */
                i += 2;
            } else {
                buf_append(b, v + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case '"':
            buf_puts(b, "\\\"");
            break;
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                buf_printf(b, "\\u%04x", c);
            else
                buf_putc(b, (char)c);
        }
        i++;
    }
    buf_putc(b, '"');
}

static void ref_key(struct buf *b, const unsigned char *k, size_t len)
{
    if (len == 0)
        buf_putc(b, '_');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = k[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            c = '_';
        buf_putc(b, (char)c);
    }
}

/* ---- checks ---------------------------------------------------------------- */

static void check_clean_line(const struct buf *line)
{
    const unsigned char *s = (const unsigned char *)line->data;

    FUZZ_CHECK(strlen(line->data) == line->len, "NUL inside the line \"%s\"", line->data);
    for (size_t i = 0; i < line->len; i++)
        FUZZ_CHECK(s[i] >= 0x20 && s[i] != 0x7f, "control byte 0x%02x at %zu in \"%s\"", s[i], i,
                   line->data);
    FUZZ_CHECK(fuzz_utf8_valid(s, line->len), "invalid UTF-8 in \"%s\"", line->data);
    for (size_t i = 0; i + 1 < line->len; i++)
        FUZZ_CHECK(!(s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] < 0xa0),
                   "C1 control at %zu in \"%s\"", i, line->data);
}

static void check_pair(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       bool after_other)
{
    struct buf got = {0}, want = {0}, skey = {0};
    struct logfmt_record rec = {0};
    char err[128];
    const char *k = (const char *)key, *v = (const char *)val;
    size_t first = 0;

    if (after_other) {
        buf_puts(&got, "ts=1");
        buf_puts(&want, "ts=1 ");
        first = 1;
    }
    logfmt_pair_n(&got, k, klen, v, vlen);
    ref_key(&want, key, klen);
    buf_putc(&want, '=');
    ref_value(&want, val, vlen);
    FUZZ_CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
               "encoded \"%s\", reference \"%s\"", got.data, want.data);
    FUZZ_CHECK(got.data[got.len] == '\0', "line not NUL-terminated");
    check_clean_line(&got);

    int rc = logfmt_parse(got.data, got.len, &rec, err, sizeof(err));
    FUZZ_CHECK(rc == 0, "cannot parse its own \"%s\": %s", got.data, err);
    FUZZ_CHECK(rec.n == first + 1, "\"%s\": %zu pairs", got.data, rec.n);
    ref_key(&skey, key, klen);
    FUZZ_CHECK(strcmp(rec.pairs[first].key, skey.data) == 0, "key \"%s\", want \"%s\"",
               rec.pairs[first].key, skey.data);
    FUZZ_CHECK(rec.pairs[first].value_len == vlen &&
                   (vlen == 0 || memcmp(rec.pairs[first].value, val, vlen) == 0),
               "value of \"%s\" does not round-trip (%zu bytes back, %zu in)", got.data,
               rec.pairs[first].value_len, vlen);
    FUZZ_CHECK(rec.pairs[first].value[vlen] == '\0', "value not NUL-terminated");
    logfmt_record_free(&rec);
    FUZZ_CHECK(rec.n == 0 && rec.pairs == NULL, "logfmt_record_free leaves pairs");

    /* logfmt_value alone, and logfmt_is_bare, say the same. */
    struct buf value = {0};
    logfmt_value(&value, v, vlen);
    FUZZ_CHECK(value.len <= got.len && memcmp(value.data, got.data + got.len - value.len,
                                              value.len) == 0,
               "logfmt_value \"%s\" is not the end of \"%s\"", value.data, got.data);
    FUZZ_CHECK(logfmt_is_bare(v, vlen) == (value.data[0] != '"'),
               "logfmt_is_bare disagrees with \"%s\"", value.data);

    buf_free(&value);
    buf_free(&skey);
    buf_free(&got);
    buf_free(&want);
}

/* logfmt_pair on C strings is logfmt_pair_n on their lengths. */
static void check_cstring_pair(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    char *k = fuzz_cstr(key, klen), *v = fuzz_cstr(val, vlen);
    struct buf a = {0}, b = {0}, c = {0};

    logfmt_pair(&a, k, v);
    logfmt_pair_n(&b, k, strlen(k), v, strlen(v));
    FUZZ_CHECK(strcmp(a.data, b.data) == 0, "logfmt_pair \"%s\", logfmt_pair_n \"%s\"", a.data,
               b.data);
    logfmt_pair(&c, NULL, NULL);
    FUZZ_CHECK(strcmp(c.data, "_=\"\"") == 0, "logfmt_pair(NULL, NULL) = \"%s\"", c.data);
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
    free(k);
    free(v);
}

static void check_cut(const uint8_t *v, size_t len, size_t max)
{
    size_t cut = utf8_cut((const char *)v, len, max);

    if (len <= max) {
        FUZZ_CHECK(cut == len, "cut(%zu, %zu) = %zu", len, max, cut);
        return;
    }
    FUZZ_CHECK(cut <= max && cut + 3 >= max, "cut(%zu, %zu) = %zu", len, max, cut);
    if (fuzz_utf8_valid(v, len))
        FUZZ_CHECK(fuzz_utf8_valid(v, cut), "cut(%zu, %zu) = %zu splits a sequence", len, max, cut);
}

/* Any line: parse, encode what was read, parse again: the same values. */
static void check_any_line(const uint8_t *data, size_t size)
{
    struct logfmt_record rec = {0}, again = {0};
    struct buf line = {0};
    char err[128];

    memset(err, 0, sizeof(err));
    int rc = logfmt_parse((const char *)data, size, &rec, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "logfmt_parse = %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(strncmp(err, "column ", 7) == 0, "error \"%s\"", err);
        logfmt_record_free(&rec);
        return;
    }
    for (size_t i = 0; i < rec.n; i++)
        logfmt_pair_n(&line, rec.pairs[i].key, strlen(rec.pairs[i].key), rec.pairs[i].value,
                      rec.pairs[i].value_len);
    rc = logfmt_parse(line.data ? line.data : "", line.len, &again, err, sizeof(err));
    FUZZ_CHECK(rc == 0 && again.n == rec.n, "re-encoded \"%s\" does not parse: %s", line.data, err);
    for (size_t i = 0; i < rec.n; i++)
        FUZZ_CHECK(again.pairs[i].value_len == rec.pairs[i].value_len &&
                       memcmp(again.pairs[i].value, rec.pairs[i].value, rec.pairs[i].value_len) == 0,
                   "pair %zu changed value through \"%s\"", i, line.data);
    logfmt_record_free(&rec);
    logfmt_record_free(&again);
    buf_free(&line);
}

static void check_ts(int64_t ns)
{
    char out[LOGFMT_TS_LEN + 1];
    int64_t back = 0, want;
    bool representable = !__builtin_mul_overflow(fuzz_floor_div(ns, NS_PER_MS), NS_PER_MS, &want);

    memset(out, 'X', sizeof(out));
    FUZZ_CHECK(logfmt_ts(out, ns) == LOGFMT_TS_LEN, "logfmt_ts length");
    FUZZ_CHECK(out[LOGFMT_TS_LEN] == '\0' && strlen(out) == LOGFMT_TS_LEN, "\"%s\"", out);
    FUZZ_CHECK(out[4] == '-' && out[7] == '-' && out[10] == 'T' && out[13] == ':' &&
                   out[16] == ':' && out[19] == '.' && out[23] == 'Z',
               "%lld -> \"%s\"", (long long)ns, out);
    if (representable) { /* not before 1677-09-21T00:12:43.145Z once cut */
        int rc = rfc3339_parse(out, &back);
        FUZZ_CHECK(rc == 0 && back == want, "%lld -> \"%s\" -> rc %d, %lld", (long long)ns, out,
                   rc, (long long)back);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t klen = data[0] % 32;
    if (klen > size - 1)
        klen = size - 1;
    const uint8_t *key = data + 1, *val = data + 1 + klen;
    size_t vlen = size - 1 - klen;

    check_pair(key, klen, val, vlen, false);
    check_pair(key, klen, val, vlen, true);
    check_cstring_pair(key, klen, val, vlen);
    check_cut(val, vlen, data[0] / 4u);
    check_any_line(data, size);
    if (size >= 8) {
        int64_t ns;
        memcpy(&ns, data, sizeof(ns));
        check_ts(ns);
    }
    return 0;
}
