/*
 * log_record — builds one record in the calling thread's builder. See
 * log_record.h; the escaping is lib/logfmt.h's.
 *
 * The format walker writes the common conversions (%s, %d, %u, %c and
 * %.Nf) without snprintf, through lib/numfmt.h: they are nearly all the
 * run path writes. Any other conversion goes to snprintf on its own.
 */
#include "core/log_record.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/clock.h"
#include "core/log_capture.h"
#include "lib/numfmt.h"
#include "lib/utf8.h"

#define TRUNC_MARK "...[truncated]"
#define TRUNC_PAIR " truncated=true"

/* --- the builder ------------------------------------------------------------- */

/* Each thread's own builder: set on its first record, freed by
 * g_builder_key's destructor when the thread exits. */
__thread struct log_record *log_record_tls;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_builder_key; /* made once, by the first thread to log */

static void builder_free(void *p)
{
    struct log_record *r = p;

    buf_free(&r->line);
    buf_free(&r->val);
    buf_free(&r->cut);
    log_capture_forget(r);
    free(r);
}

static void init_once(void)
{
    if (pthread_key_create(&g_builder_key, builder_free) != 0)
        abort();
}

struct log_record *log_record_new(void)
{
    struct log_record *r = xcalloc(1, sizeof(*r));

    r->ts_sec = INT64_MIN;
    return r;
}

struct log_record *log_record_first(void)
{
    struct log_record *r = log_record_new();

    pthread_once(&g_once, init_once);
    pthread_setspecific(g_builder_key, r);
    log_record_tls = r;
    return r;
}

bool log_record_add(struct log_record *r, const char *key, size_t klen, const char *v,
                    size_t vlen)
{
    struct buf *b = &r->line;
    size_t mark = b->len;

    if (r->full)
        return false;
    if (vlen > LOG_VALUE_MAX) {
        size_t n = utf8_cut(v, vlen, LOG_VALUE_MAX);
        buf_reset(&r->cut);
        buf_append(&r->cut, v, n);
        buf_append(&r->cut, TRUNC_MARK, sizeof(TRUNC_MARK) - 1);
        v = r->cut.data;
        vlen = r->cut.len;
    }
    logfmt_pair_n(b, key, klen, v, vlen);
    if (b->len > LOG_LINE_MAX - (sizeof(TRUNC_PAIR) - 1)) {
        b->len = mark;
        buf_append(b, TRUNC_PAIR, sizeof(TRUNC_PAIR) - 1);
        r->full = true;
        return false;
    }
    return true;
}

_Static_assert(sizeof(TRUNC_PAIR) - 1 == LOG_TRUNC_PAIR_LEN, "the mark's length");

void log_record_truncate(struct log_record *r)
{
    buf_append(&r->line, TRUNC_PAIR, sizeof(TRUNC_PAIR) - 1);
    r->full = true;
}

bool log_record_add_encoded(struct log_record *r, const char *text, size_t n)
{
    struct buf *b = &r->line;

    /* log_record_add's test, made before the copy instead of after */
    if (!log_record_room(r, n))
        return false;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

void log_record_add_str(struct log_record *r, const char *key, const char *v)
{
    (void)log_record_add(r, key, strlen(key), v ? v : "", v ? strnlen(v, LOG_VALUE_MAX + 1) : 0);
}

/* The builder's timestamp for `ns`: the date and time are formatted once
 * a second, the milliseconds on every record. */
static const char *builder_ts(struct log_record *r, int64_t ns)
{
    int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);

    if (sec != r->ts_sec) {
        logfmt_ts(r->ts, ns);
        r->ts_sec = sec;
    } else { /* "...:SS.mmmZ": the three digits after the '.' */
        (void)numfmt_pad(r->ts + 20, (unsigned)((ns - sec * 1000000000) / 1000000), 3);
    }
    return r->ts;
}

void log_record_start(struct log_record *r, int level, int64_t ts_ns)
{
    struct buf *b = &r->line;
    const char *name = log_level_name(level);
    size_t nlen = strlen(name);
    char *o;

    r->full = false;
    r->ts_ns = ts_ns;
    b->len = 0;
    /* A whole line and the largest pair that may still be tried on it:
     * the appends of a record then never reallocate. */
    if (b->cap < LOG_LINE_MAX + 256)
        buf_reserve(b, LOG_LINE_MAX + 256);
    o = b->data;
    memcpy(o, "ts=", 3);
    memcpy(o + 3, builder_ts(r, ts_ns), LOGFMT_TS_LEN);
    o += 3 + LOGFMT_TS_LEN;
    *o++ = ' ';
    r->ts_len = (size_t)(o - b->data);
    memcpy(o, "level=", 6);
    memcpy(o + 6, name, nlen + 1);
    b->len = r->ts_len + 6 + nlen;
}

void log_record_open(struct log_record *r, int level, const char *event,
                     const struct log_ctx *ctx)
{
    log_record_start(r, level, wall_ns());
    log_record_add_str(r, "event", event);
    if (!ctx)
        return;
    if (ctx->job && *ctx->job)
        log_record_add_str(r, "job", ctx->job);
    if (ctx->run_id && *ctx->run_id)
        log_record_add_str(r, "run_id", ctx->run_id);
    if (ctx->plugin && *ctx->plugin)
        log_record_add_str(r, "plugin", ctx->plugin);
}

/* --- the jlog format walker -------------------------------------------------- */

enum lenmod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_Z, LM_J, LM_T, LM_BIGL };

/* Appends v with a '-' when neg. */
static void put_decimal(struct buf *b, unsigned long long v, bool neg)
{
    char t[NUMFMT_MAX], *o = t;

    if (neg)
        *o++ = '-';
    o = numfmt_u64(o, v);
    buf_append(b, t, (size_t)(o - t));
}

/* "%.<prec>f" without snprintf when numfmt can; false otherwise. */
static bool put_fixed(struct buf *b, double v, int prec)
{
    char t[NUMFMT_MAX], *o = numfmt_fixed(t, v, prec);

    if (!o)
        return false;
    buf_append(b, t, (size_t)(o - t));
    return true;
}

/* Reads a width or precision: digits, or '*' from the arguments. Returns -1
 * when absent (or a negative '*' precision); clamped to 4096. */
static int read_number(const char **pp, va_list *ap, bool *negative)
{
    const char *p = *pp;
    long v = -1;

    *negative = false;
    if (*p == '*') {
        int a = va_arg(*ap, int);
        p++;
        if (a < 0) {
            *negative = true;
            v = a < -4096 ? 4096 : -(long)a;
        } else {
            v = a;
        }
    } else if (*p >= '0' && *p <= '9') {
        v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v < 4096)
                v = v * 10 + (*p - '0');
            p++;
        }
    }
    *pp = p;
    return v > 4096 ? 4096 : (int)v;
}

/* Appends v (0..4096) to spec at n; returns the new n. */
static size_t put_spec_number(char *spec, size_t n, int v)
{
    return (size_t)(numfmt_u64(spec + n, (uint64_t)v) - spec);
}

/* Appends ".<prec>" to spec at n; returns the new n. */
static size_t put_spec_prec(char *spec, size_t n, int prec)
{
    spec[n++] = '.';
    return put_spec_number(spec, n, prec);
}

/* Formats one conversion (*pp just past its '%') into `val`, pulling its
 * arguments from `ap`. Integers are widened to (unsigned) long long after
 * the narrowing their length modifier asks for, so one snprintf call per
 * type does. False on a conversion it does not know: the arguments after it
 * cannot be found, so the caller stops there. */
static bool fmt_conv(struct buf *val, const char **pp, va_list *ap)
{
    const char *p = *pp;
    char spec[48];
    size_t n = 0;
    bool plain = true, only_prec, neg, fixed_fast;
    enum lenmod lm = LM_NONE;
    int width, prec = -1;
    char conv;

    spec[n++] = '%';
    while (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '0' || *p == '\'') {
        if (n < 12)
            spec[n++] = *p;
        p++;
        plain = false;
    }
    only_prec = plain;
    width = read_number(&p, ap, &neg);
    if (width >= 0) {
        plain = only_prec = false;
        if (neg)
            spec[n++] = '-';
        n = put_spec_number(spec, n, width);
    }
    if (*p == '.') {
        p++;
        prec = read_number(&p, ap, &neg);
        plain = false;
        if (neg)
            prec = -1; /* a negative '*' precision is no precision */
        else if (prec < 0)
            prec = 0; /* "%.f" */
    }
    switch (*p) {
    case 'h':
        lm = p[1] == 'h' ? LM_HH : LM_H;
        break;
    case 'l':
        lm = p[1] == 'l' ? LM_LL : LM_L;
        break;
    case 'z':
        lm = LM_Z;
        break;
    case 'j':
        lm = LM_J;
        break;
    case 't':
        lm = LM_T;
        break;
    case 'L':
        lm = LM_BIGL;
        break;
    default:
        break;
    }
    p += (lm == LM_HH || lm == LM_LL) ? 2 : lm != LM_NONE ? 1 : 0;
    conv = *p;
    if (!conv)
        return false;
    p++;
    /* "%.<prec>f", the durations of the run path: numfmt writes it, most
     * often without the spec snprintf would need. */
    fixed_fast = conv == 'f' && lm != LM_BIGL && only_prec && prec >= 0;
    if (prec >= 0 && !fixed_fast)
        n = put_spec_prec(spec, n, prec);

    switch (conv) {
    case 'd':
    case 'i': {
        long long v;
        switch (lm) {
        case LM_L:
            v = va_arg(*ap, long);
            break;
        case LM_LL:
            v = va_arg(*ap, long long);
            break;
        case LM_Z:
            v = va_arg(*ap, ssize_t);
            break;
        case LM_J:
            v = va_arg(*ap, intmax_t);
            break;
        case LM_T:
            v = va_arg(*ap, ptrdiff_t);
            break;
        case LM_HH:
            v = (signed char)va_arg(*ap, int);
            break;
        case LM_H:
            v = (short)va_arg(*ap, int);
            break;
        default:
            v = va_arg(*ap, int);
            break;
        }
        if (plain) {
            put_decimal(val, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, v < 0);
        } else {
            memcpy(spec + n, "lld", 4);
            buf_printf(val, spec, v);
        }
        break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        unsigned long long v;
        switch (lm) {
        case LM_L:
            v = va_arg(*ap, unsigned long);
            break;
        case LM_LL:
            v = va_arg(*ap, unsigned long long);
            break;
        case LM_Z:
            v = va_arg(*ap, size_t);
            break;
        case LM_J:
            v = va_arg(*ap, uintmax_t);
            break;
        case LM_T:
            v = (unsigned long long)va_arg(*ap, ptrdiff_t);
            break;
        case LM_HH:
            v = (unsigned char)va_arg(*ap, unsigned);
            break;
        case LM_H:
            v = (unsigned short)va_arg(*ap, unsigned);
            break;
        default:
            v = va_arg(*ap, unsigned);
            break;
        }
        if (plain && conv == 'u') {
            put_decimal(val, v, false);
        } else {
            spec[n] = 'l';
            spec[n + 1] = 'l';
            spec[n + 2] = conv;
            spec[n + 3] = '\0';
            buf_printf(val, spec, v);
        }
        break;
    }
    case 'c': {
        int c = va_arg(*ap, int);
        if (plain) {
            buf_putc(val, (char)c);
        } else {
            memcpy(spec + n, "c", 2);
            buf_printf(val, spec, c);
        }
        break;
    }
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (lm == LM_L) {
            buf_puts(val, "?"); /* wide strings: not in a log record */
        } else if (plain) {
            if (s)
                buf_append(val, s, strnlen(s, LOG_VALUE_MAX + 1));
        } else {
            memcpy(spec + n, "s", 2);
            buf_printf(val, spec, s ? s : "");
        }
        break;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (lm == LM_BIGL) {
            long double v = va_arg(*ap, long double);
            spec[n] = 'L';
            spec[n + 1] = conv;
            spec[n + 2] = '\0';
            buf_printf(val, spec, v);
        } else {
            double v = va_arg(*ap, double);
            if (fixed_fast) {
                if (put_fixed(val, v, prec))
                    break;
                n = put_spec_prec(spec, n, prec); /* numfmt cannot: snprintf after all */
            }
            spec[n] = conv;
            spec[n + 1] = '\0';
            buf_printf(val, spec, v);
        }
        break;
    case 'p': {
        void *v = va_arg(*ap, void *);
        memcpy(spec + n, "p", 2);
        buf_printf(val, spec, v);
        break;
    }
    case 'n':
        (void)va_arg(*ap, void *); /* writes nothing back */
        break;
    default:
        return false;
    }
    *pp = p;
    return true;
}

/* Walks "key=<value> key2=<value>": a value is text and conversions up to the
 * next space (a ' ' flag inside a conversion does not end it). */
void log_record_add_fmt(struct log_record *r, const char *fmt, va_list *ap)
{
    const char *p = fmt;

    if (!fmt)
        return;
    while (*p) {
        const char *key, *tok;
        size_t klen;
        bool ok = true;

        while (*p == ' ')
            p++;
        if (!*p)
            break;
        tok = key = p;
        while (*p && *p != '=' && *p != ' ' && *p != '%')
            p++;
        if (*p == '=') {
            klen = (size_t)(p - key);
            p++;
        } else {
            key = "msg";
            klen = 3;
            p = tok;
        }
        buf_reset(&r->val);
        while (*p && *p != ' ') {
            if (*p != '%') {
                const char *s = p;
                while (*p && *p != ' ' && *p != '%')
                    p++;
                buf_append(&r->val, s, (size_t)(p - s));
            } else if (p[1] == '%') {
                buf_putc(&r->val, '%');
                p += 2;
            } else {
                p++;
                ok = fmt_conv(&r->val, &p, ap);
                if (!ok)
                    break;
            }
        }
        if (!log_record_add(r, key, klen, r->val.data ? r->val.data : "", r->val.len) || !ok)
            return;
    }
}
