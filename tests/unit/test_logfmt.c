/*
 * test_logfmt — the pure logfmt encoder, parser and timestamp formatter.
 * Every tricky value is encoded, checked to be free of control characters
 * and invalid UTF-8, parsed back and compared byte for byte; some also have
 * an exact expected encoding.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "cu_main.h"
#include "lib/logfmt.h"
#include "lib/suggest.h"
#include "logfmt_parse.h"
#include "lib/utf8.h"

struct value_case {
    const char *name;
    const char *in;
    size_t len;         /* bytes of in (it may hold NUL) */
    const char *expect; /* exact encoding, or NULL: round trip only */
};

#define V(name, in, expect) {name, in, sizeof(in) - 1, expect}

static const struct value_case value_cases[] = {
    V("plain word", "hello", "hello"),
    V("number", "1.5", "1.5"),
    V("dash and slash", "/var/log/x-y", "/var/log/x-y"),
    V("percent", "%s%d", "%s%d"),
    V("empty", "", "\"\""),
    V("space", "a b", "\"a b\""),
    V("leading space", " a", "\" a\""),
    V("only spaces", "   ", "\"   \""),
    V("quote", "say \"hi\"", "\"say \\\"hi\\\"\""),
    V("equals", "k=v", "\"k=v\""),
    V("lone equals", "=", "\"=\""),
    V("backslash", "back\\slash", "\"back\\\\slash\""),
    V("newline", "line1\nline2", "\"line1\\nline2\""),
    V("crlf", "a\r\n", "\"a\\r\\n\""),
    V("tab", "\t", "\"\\t\""),
    V("control char", "a\x01z", "\"a\\u0001z\""),
    V("escape char", "\x1b[31mred", "\"\\u001b[31mred\""),
    V("DEL", "\x7f", "\"\\u007f\""),
    V("NUL inside", "a\0b", "\"a\\u0000b\""),
    V("utf8 bare", "h\xc3\xa9llo", "h\xc3\xa9llo"),
    V("utf8 with space", "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac",
      "\"h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac\""),
    V("emoji", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),
    V("invalid byte", "\xff", "\"\\xff\""),
    V("truncated utf8", "ab\xc3", "\"ab\\xc3\""),
    V("overlong slash", "\xc0\xaf", "\"\\xc0\\xaf\""),
    V("surrogate", "\xed\xa0\x80", "\"\\xed\\xa0\\x80\""),
    V("above U+10FFFF", "\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\""),
    V("lone continuation", "a\x80z", "\"a\\x80z\""),
    V("C1 control NEL", "\xc2\x85", "\"\\u0085\""),
    V("nbsp stays", "\xc2\xa0", "\xc2\xa0"),
    V("latin1 text", "caf\xe9 ok", "\"caf\\xe9 ok\""),
    V("all escapes", "\\\"\n\t\r\x02=", "\"\\\\\\\"\\n\\t\\r\\u0002=\""),
    V("fake escape", "\\u0041", "\"\\\\u0041\""),
    V("json", "{\"a\":1}", "\"{\\\"a\\\":1}\""),
    V("shell", "rm -rf / ; echo $HOME", "\"rm -rf / ; echo $HOME\""),
    V("log injection", "ok\nts=x level=error event=fake", NULL),
};

static bool locale_set;

/* The output must hold no control character and only valid UTF-8. */
static void check_clean(const char *s, size_t len)
{
    mbstate_t st;
    size_t i = 0;

    if (!locale_set) {
        /* mbrtowc is the independent UTF-8 check. */
        CU_ASSERT_PTR_NOT_NULL_FATAL(setlocale(LC_CTYPE, "C.UTF-8"));
        locale_set = true;
    }
    memset(&st, 0, sizeof(st));
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        CU_ASSERT_FATAL(c >= 0x20 && c != 0x7f);
        if (c < 0x80) {
            i++;
            continue;
        }
        wchar_t wc;
        size_t n = mbrtowc(&wc, s + i, len - i, &st);
        CU_ASSERT_FATAL(n != (size_t)-1 && n != (size_t)-2 && n != 0);
        CU_ASSERT(wc < 0x80 || wc > 0x9f); /* no C1 control */
        i += n;
    }
}

/* Encodes `in` as the value of "k", parses the line back, compares. */
static void round_trip(const char *name, const char *in, size_t len, const char *expect)
{
    struct buf b = {0};
    struct logfmt_record rec = {0};
    char err[128] = "";
    int rc;

    buf_puts(&b, "k=");
    logfmt_value(&b, in, len);
    check_clean(b.data, b.len);
    if (expect && strcmp(b.data + 2, expect) != 0) {
        printf("\n  %s: got [%s] want [%s]\n", name, b.data + 2, expect);
        CU_FAIL("exact encoding");
    }
    CU_ASSERT_EQUAL(logfmt_is_bare(in, len), b.data[2] != '"');
    buf_puts(&b, " next=1");
    rc = logfmt_parse(b.data, b.len, &rec, err, sizeof(err));
    if (rc != 0)
        printf("\n  %s: parse error %s in [%s]\n", name, err, b.data);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(rec.n, 2);
    CU_ASSERT_STRING_EQUAL(rec.pairs[0].key, "k");
    CU_ASSERT_EQUAL(rec.pairs[0].value_len, len);
    if (rec.pairs[0].value_len == len && memcmp(rec.pairs[0].value, in, len) != 0) {
        printf("\n  %s: round trip differs\n", name);
        CU_FAIL("round trip");
    }
    CU_ASSERT_STRING_EQUAL(rec.pairs[1].key, "next");
    CU_ASSERT_STRING_EQUAL(rec.pairs[1].value, "1");
    logfmt_record_free(&rec);
    buf_free(&b);
}

static void test_value_table(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(value_cases); i++) {
        const struct value_case *c = &value_cases[i];
        round_trip(c->name, c->in, c->len, c->expect);
    }
}

/* Every single byte value, alone and between letters. */
static void test_every_byte(void)
{
    for (int c = 0; c < 256; c++) {
        char in[3] = {'a', (char)c, 'z'};
        round_trip("byte", in + 1, 1, NULL);
        round_trip("byte in word", in, 3, NULL);
    }
}

static void test_long_values(void)
{
    size_t n = 100000;
    char *s = malloc(n);

    memset(s, 'x', n);
    round_trip("long bare", s, n, NULL);
    for (size_t i = 0; i < n; i += 7)
        s[i] = (char)" \"=\\\n\xff\xc3"[i % 7];
    round_trip("long hostile", s, n, NULL);
    free(s);
}

/* Random bytes: the parser must always give back exactly what went in. */
static void test_random_values(void)
{
    unsigned seed = 12345;

    for (int round = 0; round < 2000; round++) {
        char in[64];
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof(in));
        for (size_t i = 0; i < len; i++)
            in[i] = (char)(rand_r(&seed) % 256);
        round_trip("random", in, len, NULL);
    }
}

/* logfmt_ascii_bare, eight bytes at a time, against the byte-wise rule:
 * every byte value at every place of every length up to 40. */
static void test_ascii_bare(void)
{
    unsigned char v[41];
    unsigned bad = 0;

    CU_ASSERT_FALSE(logfmt_ascii_bare("", 0));
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (unsigned c = 0; c < 256; c++) {
                bool want = c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
                memset(v, 'a', len);
                v[at] = (unsigned char)c;
                if (logfmt_ascii_bare((const char *)v, len) != want)
                    bad++;
                if (want && !logfmt_is_bare((const char *)v, len))
                    bad++;
            }
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_keys(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"job", "job"},
        {"run_id", "run_id"},
        {"Job-ID", "job_id"},
        {"UPPER_123", "upper_123"},
        {"a b=c", "a_b_c"},
        {"h\xc3\xa9llo", "h__llo"},
        {"\"quoted\"", "_quoted_"},
        {"new\nline", "new_line"},
        {"", "_"},
        {NULL, "_"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct buf b = {0};
        logfmt_key(&b, cases[i].in);
        CU_ASSERT_STRING_EQUAL(b.data, cases[i].want);
        buf_free(&b);
    }
}

static void test_pairs(void)
{
    struct buf b = {0};
    struct logfmt_record rec = {0};

    logfmt_pair(&b, "event", "job_started");
    logfmt_pair(&b, "Message", "hello world");
    logfmt_pair(&b, "none", NULL);
    logfmt_pair(&b, "", "x");
    CU_ASSERT_STRING_EQUAL(b.data, "event=job_started message=\"hello world\" none=\"\" _=x");
    CU_ASSERT_EQUAL_FATAL(logfmt_parse(b.data, b.len, &rec, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(rec.n, 4);
    CU_ASSERT_STRING_EQUAL(logfmt_get(&rec, "message"), "hello world");
    CU_ASSERT_STRING_EQUAL(logfmt_get(&rec, "none"), "");
    CU_ASSERT_PTR_NULL(logfmt_get(&rec, "missing"));
    logfmt_record_free(&rec);
    buf_free(&b);
}

static void test_parse(void)
{
    static const char line[] = "a=1 b=\"x y\" flag c=\"\\u00e9\\x41\\t\" d=\n";
    struct logfmt_record rec = {0};

    CU_ASSERT_EQUAL_FATAL(logfmt_parse(line, strlen(line), &rec, NULL, 0), 0);
    CU_ASSERT_EQUAL_FATAL(rec.n, 5);
    CU_ASSERT_STRING_EQUAL(rec.pairs[0].key, "a");
    CU_ASSERT_STRING_EQUAL(rec.pairs[0].value, "1");
    CU_ASSERT_STRING_EQUAL(rec.pairs[1].value, "x y");
    CU_ASSERT_STRING_EQUAL(rec.pairs[2].key, "flag");
    CU_ASSERT_STRING_EQUAL(rec.pairs[2].value, "");
    CU_ASSERT_STRING_EQUAL(rec.pairs[3].value, "\xc3\xa9"
                                               "A\t");
    CU_ASSERT_STRING_EQUAL(rec.pairs[4].key, "d");
    CU_ASSERT_STRING_EQUAL(rec.pairs[4].value, "");
    logfmt_record_free(&rec);
}

static void test_parse_errors(void)
{
    static const char *const bad[] = {
        "a=\"unterminated", "a=\"x\"y", "=v", "a=\"\\q\"", "a=\"\\x4\"", "a=\"\\u12\"",
        "a=b\"c", "a=\"\\", "k\"=v", "a=\"\\ud800\"",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct logfmt_record rec = {0};
        char err[128] = "";
        int rc = logfmt_parse(bad[i], strlen(bad[i]), &rec, err, sizeof(err));
        if (rc == 0)
            printf("\n  accepted: [%s]\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT(strncmp(err, "column ", 7) == 0);
        logfmt_record_free(&rec);
    }
}

static void test_utf8_cut(void)
{
    const char *jp = "\xe6\x97\xa5\xe6\x9c\xac"; /* 2 chars, 6 bytes */

    CU_ASSERT_EQUAL(utf8_cut("abcdef", 6, 3), 3);
    CU_ASSERT_EQUAL(utf8_cut("abc", 3, 10), 3);
    CU_ASSERT_EQUAL(utf8_cut("a\xc3\xa9z", 4, 2), 1);
    CU_ASSERT_EQUAL(utf8_cut("a\xc3\xa9z", 4, 3), 3);
    CU_ASSERT_EQUAL(utf8_cut(jp, 6, 4), 3);
    CU_ASSERT_EQUAL(utf8_cut(jp, 6, 3), 3);
    CU_ASSERT_EQUAL(utf8_cut(jp, 6, 2), 0);
    CU_ASSERT_EQUAL(utf8_cut("\x80\x80\x80\x80\x80", 5, 3), 3);
}

/* Text from plugins: invalid bytes become U+FFFD, one each; the copy ends
 * on a character boundary; the output is always valid. */
static void test_utf8_sanitize(void)
{
    static const struct {
        const char *in;
        size_t cap;
        const char *want;
        bool cut;
    } cases[] = {
        {"plain", 64, "plain", false},
        {"bad \xff\xfe byte", 64, "bad \xef\xbf\xbd\xef\xbf\xbd byte", false},
        {"x\xc3(y", 64, "x\xef\xbf\xbd(y", false},        /* lead byte without continuation */
        {"\xe2\x82", 64, "\xef\xbf\xbd\xef\xbf\xbd", false}, /* a sequence cut short */
        {"\xed\xa0\x80", 64, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", false}, /* surrogate */
        {"\xc0\xaf", 64, "\xef\xbf\xbd\xef\xbf\xbd", false},   /* overlong '/' */
        {"ab\xc3\xa9\xc3\xa9", 6, "ab\xc3\xa9", true},       /* 5 bytes of room: no half "é" */
        {"ab\xc3\xa9\xc3\xa9", 7, "ab\xc3\xa9\xc3\xa9", false},
        {"a\xff", 4, "a", true},                            /* no room for U+FFFD */
        {"abc", 1, "", true},
        {"", 8, "", false},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool cut = !cases[i].cut;
        size_t n = utf8_sanitize(out, cases[i].cap, cases[i].in, strlen(cases[i].in), &cut);

        CU_ASSERT_STRING_EQUAL(out, cases[i].want);
        CU_ASSERT_EQUAL(n, strlen(cases[i].want));
        CU_ASSERT_EQUAL(cut, cases[i].cut);
        CU_ASSERT_EQUAL(utf8_valid_prefix(out, n), n);
        if (strcmp(out, cases[i].want) != 0 || cut != cases[i].cut)
            fprintf(stderr, "\n  case %zu: got \"%s\"\n", i, out);
    }
}

/* "did you mean": near names only, the first of equals. */
static void test_suggest(void)
{
    static const char *const names[] = {"dir", "max_age", "pattern", "recursive"};

    CU_ASSERT_EQUAL(suggest_distance("max_agee", "max_age"), 1);
    CU_ASSERT_EQUAL(suggest_distance("", "abc"), 3);
    ASSERT_STR(suggest_nearest("max_agee", names, 4), "max_age");
    ASSERT_STR(suggest_nearest("recursve", names, 4), "recursive");
    ASSERT_STR(suggest_nearest("dri", names, 4), "dir");
    CU_ASSERT_PTR_NULL(suggest_nearest("x", names, 4)); /* one letter is no hint */
    CU_ASSERT_PTR_NULL(suggest_nearest("colour", names, 4));
    CU_ASSERT_PTR_NULL(suggest_nearest("dir", names, 0));
}

static void test_timestamps(void)
{
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1795989315123456789LL, "2026-11-29T21:55:15.123Z"},
        {951782400LL * 1000000000, "2000-02-29T00:00:00.000Z"},
        {1709164800999999999LL, "2024-02-29T00:00:00.999Z"},
        {4107542400500000000LL, "2100-03-01T00:00:00.500Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-1000000, "1969-12-31T23:59:59.999Z"},
        {-1000001, "1969-12-31T23:59:59.998Z"},
    };
    char out[LOGFMT_TS_LEN + 1];
    unsigned seed = 99;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        CU_ASSERT_EQUAL(logfmt_ts(out, cases[i].ns), LOGFMT_TS_LEN);
        CU_ASSERT_STRING_EQUAL(out, cases[i].want);
    }
    /* Against gmtime_r over 1900..2200. */
    for (int i = 0; i < 20000; i++) {
        int64_t secs = (int64_t)((((uint64_t)rand_r(&seed) << 31) ^ (uint64_t)rand_r(&seed)) %
                                 (300ULL * 366 * 86400)) -
                       70LL * 365 * 86400;
        int ms = rand_r(&seed) % 1000;
        time_t t = (time_t)secs;
        struct tm tm;
        char want[64];

        gmtime_r(&t, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
        logfmt_ts(out, secs * 1000000000 + ms * 1000000 + 999999);
        if (strcmp(out, want) != 0) {
            printf("\n  %lld: got %s want %s\n", (long long)secs, out, want);
            CU_FAIL("timestamp");
            break;
        }
    }
}

static const struct cu_test tests[] = {
    {"value table (exact + round trip)", test_value_table},
    {"every byte value", test_every_byte},
    {"very long values", test_long_values},
    {"random values round trip", test_random_values},
    {"bare ASCII, eight bytes at a time", test_ascii_bare},
    {"key sanitising", test_keys},
    {"pairs", test_pairs},
    {"parser", test_parse},
    {"parser errors", test_parse_errors},
    {"utf8 cut", test_utf8_cut},
    {"utf8 sanitize", test_utf8_sanitize},
    {"did you mean", test_suggest},
    {"RFC 3339 timestamps", test_timestamps},
    {NULL, NULL},
};

static const struct cu_suite suites[] = {
    {"logfmt", tests},
    {NULL, NULL},
};

CU_MAIN(suites)
