/*
 * log_capture — capturing a record as fields on the producer, formatting it
 * on the writer. See log_capture.h for the layout of an entry.
 *
 * The producer's work is a few length reads and copies into its own ring:
 * nothing is escaped, no number is turned into text, no format string is
 * read. The writer's formatting goes through log_record_add, the very
 * function jlog's pairs go through, with each value turned into the text
 * jlog's conversion would have written ("%s", "%lld", "%llu", "%.3f"), so
 * that the two paths cannot drift apart.
 */
#include "core/log_capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "lib/numfmt.h"
#include "lib/trigger.h"

#define COPY_MAX (LOG_VALUE_MAX + 1) /* enough to decide a value's cut */

static size_t copy_len(const char *s)
{
    return s ? strnlen(s, COPY_MAX) : 0;
}

static char *put(char *o, const char *s, size_t n)
{
    if (n)
        memcpy(o, s, n);
    return o + n;
}

/* Fills the struct log_cap of entry `e` and writes its names at `o`. */
static char *put_names(struct log_entry *e, struct log_cap *c, char *o, const char *job,
                       size_t jl, const char *plugin, size_t pl, const char *run, size_t rl,
                       const char *event, size_t el)
{
    c->job_len = (uint16_t)jl;
    c->plugin_len = (uint16_t)pl;
    c->run_len = (uint16_t)rl;
    c->event_len = (uint16_t)el;
    c->text = (uint32_t)(o - (char *)e);
    o = put(o, job, jl);
    o = put(o, plugin, pl);
    o = put(o, run, rl);
    return put(o, event, el);
}

void log_capture_fields(const struct log_run *run, int level, const char *event, int64_t ts_ns,
                        const struct log_field *f, size_t n)
{
    size_t len[LOG_FIELDS_MAX];
    size_t jl = 0, pl = 0, copied = 0, head, size;
    struct log_entry *e;
    struct log_cap *c;
    struct log_slot *slot;
    uint8_t *type;
    char *o, *text;

    if (n > LOG_FIELDS_MAX)
        n = LOG_FIELDS_MAX;
    if (run) {
        jl = copy_len(run->job);
        pl = copy_len(run->plugin);
    }
    for (size_t i = 0; i < n; i++) {
        len[i] = f[i].type == LOG_COPY ? copy_len(f[i].v.s) : 0;
        copied += len[i];
    }
    head = sizeof(*e) + sizeof(*c) + n * sizeof(*slot) + log_entry_round(n);
    size = log_entry_round(head + jl + pl + copied);
    e = log_queue_reserve(size);
    if (!e)
        return; /* dropped and counted */
    e->size = (uint32_t)size;
    e->kind = LOG_ENTRY_FIELDS;
    e->level = (uint8_t)log_level_clamp(level);
    e->n = (uint16_t)n;
    e->ts = ts_ns ? ts_ns : wall_ns();
    c = (struct log_cap *)(e + 1);
    c->event = event ? event : "";
    c->run_id = run ? run->run_id : 0;
    c->n_pairs = 0;
    slot = (struct log_slot *)(c + 1);
    type = (uint8_t *)(slot + n);
    o = put_names(e, c, (char *)e + head, run ? run->job : NULL, jl, run ? run->plugin : NULL,
                  pl, NULL, 0, NULL, 0);
    text = (char *)e + c->text;
    for (size_t i = 0; i < n; i++) {
        slot[i].key = f[i].key;
        type[i] = (uint8_t)f[i].type;
        if (f[i].type == LOG_COPY) {
            slot[i].v.copy.off = (uint32_t)(o - text);
            slot[i].v.copy.len = (uint32_t)len[i];
            o = put(o, f[i].v.s, len[i]);
        } else {
            memcpy(&slot[i].v, &f[i].v, 8); /* whichever member it is */
        }
    }
    log_queue_commit(e);
}

/* The least a pair adds to a line ("␠key=value", an empty key written "_",
 * an empty value '""', a long one cut to LOG_VALUE_MAX): once these pass
 * LOG_LINE_MAX, no later pair can be written. */
static size_t pair_least(size_t klen, size_t vlen)
{
    return 2 + (klen ? klen : 1) + (vlen ? (vlen < LOG_VALUE_MAX ? vlen : LOG_VALUE_MAX) : 2);
}

#define PAIR_HEAD 5 /* key and value lengths (16 bits each), the value's type */

/* One pair to copy: its key, its value's type, bytes and length. */
struct pair_src {
    const char *k, *v;
    size_t klen, vlen;
    uint8_t type;
};

static void pair_of_kv(const char *const *kv, size_t i, struct pair_src *p)
{
    p->k = kv[2 * i];
    p->v = kv[2 * i + 1];
    p->klen = p->k ? strnlen(p->k, LOG_LINE_MAX) : 0;
    p->vlen = copy_len(p->v);
    p->type = LOG_COPY;
}

static void pair_of_field(const struct log_field *f, size_t i, struct pair_src *p)
{
    p->k = f[i].key;
    p->klen = p->k ? strnlen(p->k, LOG_LINE_MAX) : 0;
    p->type = (uint8_t)f[i].type;
    if (f[i].type == LOG_COPY || f[i].type == LOG_STR) {
        p->type = LOG_COPY; /* the record keeps nothing of the caller's */
        p->v = f[i].v.s;
        p->vlen = copy_len(p->v);
    } else {
        p->v = (const char *)&f[i].v;
        p->vlen = 8;
    }
}

/* The PAIRS entry of pairs src(0..n), each as `get` gives it. */
static void capture_pairs(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                          const void *src, size_t n,
                          void (*get)(const void *src, size_t i, struct pair_src *p))
{
    size_t jl = 0, pl = 0, rl = 0, el = copy_len(event), head, size, least = 0, kept, bytes = 0;
    struct pair_src p;
    struct log_entry *e;
    struct log_cap *c;
    char *o;

    if (ctx) {
        jl = copy_len(ctx->job);
        pl = copy_len(ctx->plugin);
        rl = run_id ? 0 : copy_len(ctx->run_id);
    }
    for (kept = 0; kept < n && least <= LOG_LINE_MAX; kept++) {
        get(src, kept, &p);
        least += pair_least(p.klen, p.type == LOG_COPY ? p.vlen : 1);
        bytes += PAIR_HEAD + p.klen + p.vlen;
    }
    head = sizeof(*e) + sizeof(*c);
    size = log_entry_round(head + jl + pl + rl + el + bytes);
    e = log_queue_reserve(size);
    if (!e)
        return; /* dropped and counted */
    e->size = (uint32_t)size;
    e->kind = LOG_ENTRY_PAIRS;
    e->level = (uint8_t)log_level_clamp(level);
    e->n = 0;
    e->ts = wall_ns();
    c = (struct log_cap *)(e + 1);
    c->event = NULL;
    c->run_id = run_id;
    c->n_pairs = (uint32_t)kept;
    o = put_names(e, c, (char *)e + head, ctx ? ctx->job : NULL, jl, ctx ? ctx->plugin : NULL,
                  pl, ctx ? ctx->run_id : NULL, rl, event, el);
    for (size_t i = 0; i < kept; i++) {
        uint16_t klen, vlen;
        get(src, i, &p);
        klen = (uint16_t)p.klen;
        vlen = (uint16_t)p.vlen;
        memcpy(o, &klen, 2);
        memcpy(o + 2, &vlen, 2);
        o[4] = (char)p.type;
        o = put(o + PAIR_HEAD, p.k, klen);
        o = put(o, p.v, vlen);
    }
    log_queue_commit(e);
}

static void get_kv(const void *src, size_t i, struct pair_src *p)
{
    pair_of_kv(src, i, p);
}

static void get_field(const void *src, size_t i, struct pair_src *p)
{
    pair_of_field(src, i, p);
}

void log_capture_pairs(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                       const char *const *kv, size_t n_pairs)
{
    capture_pairs(ctx, run_id, level, event, kv, n_pairs, get_kv);
}

void log_capture_typed(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                       const struct log_field *f, size_t n)
{
    capture_pairs(ctx, run_id, level, event, f, n, get_field);
}

/* --- formatting (the writer) -------------------------------------------------- */

/*
 * The writer formats every captured record, so it keeps what repeats and
 * skips what cannot matter: static names (keys, events, LOG_STR values:
 * string literals by jlog_fields' contract, so their address names their
 * text for the whole process) are encoded once into " key=value"
 * fragments; numbers, times and run ids are bare by construction, so they
 * go down after their " key=" without a scan; a name that is plain ASCII
 * (nearly every job id, plugin name and version) is copied after one
 * eight-bytes-at-a-time check. Whatever goes in this way is exactly what
 * log_record_add would append, and meets the same LOG_LINE_MAX test
 * (log_record_room); anything else -- a value to quote or cut, a pair near
 * the end of the line -- goes through log_record_add itself.
 */

#define FRAG_BITS 7
#define FRAG_SLOTS (1u << FRAG_BITS) /* direct-mapped, by address */
#define FRAG_MAX 120   /* bytes of a fragment kept */
#define DIGITS_MAX 40  /* a number, a time or a run id */

struct frag {
    const char *key, *val; /* val NULL: the fragment is " key=" alone */
    uint32_t len;          /* 0: the pair is not kept (too long) */
    uint32_t vlen;         /* bytes of val (up to COPY_MAX) */
    char text[FRAG_MAX];
};

struct fmt_cache {
    struct frag frag[FRAG_SLOTS];
    struct frag event, job, plugin, run; /* " event=", " job=", ... */
    struct buf tmp;
    int64_t time_sec; /* the second time_text holds, INT64_MIN: none */
    char time_text[RFC3339_BUFLEN];
    char hex[16]; /* the run id of the record last formatted */
};

static const char k_event[] = "event", k_job[] = "job", k_plugin[] = "plugin",
                  k_run[] = "run_id";

/* Encodes static `key` (with static `val`, or alone as " key=") into f. */
static void frag_make(struct fmt_cache *c, struct frag *f, const char *key, const char *val)
{
    size_t vlen = val ? copy_len(val) : 0;

    f->key = key;
    f->val = val;
    f->len = 0;
    f->vlen = (uint32_t)vlen;
    if (vlen > LOG_VALUE_MAX)
        return; /* cut with a mark: left to log_record_add */
    buf_reset(&c->tmp);
    buf_putc(&c->tmp, '.'); /* logfmt_pair_n puts the space only after something */
    if (val) {
        logfmt_pair_n(&c->tmp, key, strlen(key), val, vlen);
    } else {
        buf_putc(&c->tmp, ' ');
        logfmt_key_n(&c->tmp, key, strlen(key));
        buf_putc(&c->tmp, '=');
    }
    if (c->tmp.len - 1 <= FRAG_MAX) {
        memcpy(f->text, c->tmp.data + 1, c->tmp.len - 1);
        f->len = (uint32_t)(c->tmp.len - 1);
    }
}

/* Each builder that formats captured records has its own (the writer's; a
 * producer's without a writer; the crash report's). */
static struct fmt_cache *cache_get(struct log_record *r)
{
    struct fmt_cache *c = r->fragments;

    if (!c) {
        c = xcalloc(1, sizeof(*c));
        c->time_sec = INT64_MIN;
        buf_reserve(&c->tmp, 2 * FRAG_MAX);
        frag_make(c, &c->event, k_event, NULL);
        frag_make(c, &c->job, k_job, NULL);
        frag_make(c, &c->plugin, k_plugin, NULL);
        frag_make(c, &c->run, k_run, NULL);
        r->fragments = c;
    }
    return c;
}

void log_capture_prepare(struct log_record *r)
{
    (void)cache_get(r);
}

void log_capture_forget(struct log_record *r)
{
    struct fmt_cache *c = r->fragments;

    if (c) {
        buf_free(&c->tmp);
        free(c);
        r->fragments = NULL;
    }
}

/* The fragment of static `key` (and static value `val`, or none). */
static const struct frag *frag_of(struct fmt_cache *c, const char *key, const char *val)
{
    /* Fibonacci hashing: the top bits of the product mix both addresses */
    uint64_t h = ((uint64_t)(uintptr_t)key ^ (uint64_t)(uintptr_t)val << 1) * 0x9e3779b97f4a7c15u;
    struct frag *f = &c->frag[h >> (64 - FRAG_BITS)];

    if (f->key != key || f->val != val)
        frag_make(c, f, key, val);
    return f;
}

/* Short copies without a call: most names and fragments are a few bytes.
 * Loads and stores overlap, never pass s + n or d + n. */
static inline void copy_short(char *d, const char *s, size_t n)
{
    uint64_t a, b, c, e;
    uint32_t x, y;

    if (n >= 8) {
        if (n > 32) {
            memcpy(d, s, n);
            return;
        }
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        if (n > 16) {
            memcpy(&c, s + 8, 8);
            memcpy(&e, s + n - 16, 8);
            memcpy(d + 8, &c, 8);
            memcpy(d + n - 16, &e, 8);
        }
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else if (n) {
        d[0] = s[0];
        d[n - 1] = s[n - 1];
        if (n == 3)
            d[1] = s[1];
    }
}

/* Puts fragment `f` then `n` bytes of `v` down, log_record_room granted. */
static inline void put2(struct log_record *r, const struct frag *f, const char *v, size_t n)
{
    char *o = r->line.data + r->line.len;

    copy_short(o, f->text, f->len);
    copy_short(o + f->len, v, n);
    r->line.len += f->len + n;
}

/* Appends fragment f (static key and value), as log_record_add would. */
static bool add_frag(struct log_record *r, const struct frag *f)
{
    if (f->len)
        return log_record_add_encoded(r, f->text, f->len);
    return log_record_add(r, f->key, strlen(f->key), f->val, f->vlen);
}

static bool add_static(struct fmt_cache *c, struct log_record *r, const char *key,
                       const char *val)
{
    return add_frag(r, frag_of(c, key, val));
}

/* Appends `key` (its fragment kf) with value v[0..n): copied when it is
 * plain ASCII, else through log_record_add. */
static bool add_value(struct log_record *r, const struct frag *kf, const char *key,
                      const char *v, size_t n)
{
    if (kf->len && n <= LOG_VALUE_MAX && logfmt_ascii_bare(v, n)) {
        if (!log_record_room(r, kf->len + n))
            return false;
        put2(r, kf, v, n);
        return true;
    }
    return log_record_add(r, key, strlen(key), v, n);
}

/* The same for a value of 1..DIGITS_MAX bare bytes: no scan. */
static bool add_bare(struct log_record *r, const struct frag *kf, const char *key,
                     const char *v, size_t n)
{
    if (!kf->len || n == 0)
        return log_record_add(r, key, strlen(key), v, n);
    if (!log_record_room(r, kf->len + n))
        return false;
    put2(r, kf, v, n);
    return true;
}

/* RFC 3339 with milliseconds in the host's zone, as rfc3339_format writes
 * it; the text of the second is kept. Returns its length. */
static size_t time_text(struct fmt_cache *c, int64_t ns, char *out)
{
    int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
    size_t len;

    if (sec != c->time_sec) {
        rfc3339_format(ns, NULL, true, c->time_text, sizeof(c->time_text));
        len = strlen(c->time_text);
        /* "YYYY-MM-DDTHH:MM:SS.mmm+hh:mm": the shape the fast path keeps */
        c->time_sec = len == 29 && c->time_text[19] == '.' ? sec : INT64_MIN;
        memcpy(out, c->time_text, len);
        return len;
    }
    memcpy(out, c->time_text, 29);
    (void)numfmt_pad(out + 20, (unsigned)((ns - sec * 1000000000) / 1000000), 3);
    return 29;
}

/* 8 lowercase hex digits of the 32 bits of x, most significant first: the
 * nibbles are spread one a byte, turned into digits all at once (no byte
 * sum passes 0x7f, so none carries into the next) and put in text order. */
static void hex8(uint64_t x, char out[8])
{
    uint64_t ge10;

    x = ((x & 0xffff0000u) << 16) | (x & 0xffffu);
    x = ((x & 0x0000ff000000ff00u) << 8) | (x & 0x000000ff000000ffu);
    x = ((x & 0x00f000f000f000f0u) << 4) | (x & 0x000f000f000f000fu);
    ge10 = ((x + 0x0606060606060606u) >> 4) & 0x0101010101010101u; /* 1 where >= 10 */
    x += 0x3030303030303030u + ge10 * ('a' - '0' - 10);
    x = __builtin_bswap64(x);
    memcpy(out, &x, 8);
}

/* 16 lowercase hex digits, as run_id_format writes them. */
static void run_hex(uint64_t id, char out[16])
{
    hex8(id >> 32, out);
    hex8(id & 0xffffffffu, out + 8);
}

/* The text of a number of a typed pair, as record_value_text writes it
 * (core/record.h); its length. */
static size_t number_text(uint8_t type, const char *v, char tmp[DIGITS_MAX])
{
    union {
        int64_t i;
        uint64_t u;
        double f;
    } n;

    memcpy(&n, v, 8);
    switch (type) {
    case LOG_INT:
        return (size_t)(numfmt_i64(tmp, n.i) - tmp);
    case LOG_UINT:
        return (size_t)(numfmt_u64(tmp, n.u) - tmp);
    case LOG_F64:
        return numfmt_double(n.f, false, tmp);
    case LOG_DUR: {
        char *end = numfmt_ns_seconds(tmp, n.i);
        *end++ = 's';
        return (size_t)(end - tmp);
    }
    case LOG_BOOL:
        memcpy(tmp, n.i ? "true" : "false", 5);
        return n.i ? 4 : 5;
    default:
        return 0;
    }
}

/* Appends field `s` of `type` as jlog's conversion would have written it. */
static bool add_field(struct fmt_cache *c, struct log_record *r, const struct log_slot *s,
                      uint8_t type, const char *text)
{
    char tmp[DIGITS_MAX];
    size_t len;

    switch (type) {
    case LOG_STR:
        return add_static(c, r, s->key, s->v.s ? s->v.s : "");
    case LOG_BOOL:
        return add_static(c, r, s->key, s->v.i ? "true" : "false");
    case LOG_COPY:
        return add_value(r, frag_of(c, s->key, NULL), s->key, text + s->v.copy.off,
                         s->v.copy.len);
    case LOG_INT:
        len = (size_t)(numfmt_i64(tmp, s->v.i) - tmp);
        break;
    case LOG_UINT:
        len = (size_t)(numfmt_u64(tmp, s->v.u) - tmp);
        break;
    case LOG_MS: {
        double ms = (double)s->v.i / 1e6;
        char *end = numfmt_fixed(tmp, ms, 3);
        /* as jlog's "%.3f": numfmt when it can, snprintf when it cannot (a
         * duration of int64 ns fits the buffer either way) */
        len = end ? (size_t)(end - tmp) : (size_t)snprintf(tmp, sizeof(tmp), "%.3f", ms);
        if (len >= sizeof(tmp))
            len = sizeof(tmp) - 1;
        break;
    }
    case LOG_TIME:
        if (!s->v.i)
            return log_record_add(r, s->key, strlen(s->key), "", 0);
        len = time_text(c, s->v.i, tmp);
        break;
    case LOG_F64:
    case LOG_DUR:
        len = number_text(type, (const char *)&s->v, tmp);
        break;
    default:
        return log_record_add(r, s->key, strlen(s->key), "", 0);
    }
    return add_bare(r, frag_of(c, s->key, NULL), s->key, tmp, len);
}

/* True when k[0..n) is already a key as logfmt writes it: [a-z0-9_]. */
static bool key_plain(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (!((unsigned)(c - 'a') < 26 || (unsigned)(c - '0') < 10 || c == '_'))
            return false;
    }
    return n > 0;
}

/* Appends a copied key with value v[0..n): " key=value" put down as it is
 * when both are plain (a plugin's keys follow the key rules already, most
 * values are plain ASCII), else through log_record_add. */
static bool add_plain(struct log_record *r, const char *k, size_t klen, const char *v, size_t n)
{
    char *o;

    if (klen > 64 || n > LOG_VALUE_MAX || !key_plain(k, klen) || !logfmt_ascii_bare(v, n))
        return log_record_add(r, k, klen, v, n);
    if (!log_record_room(r, klen + n + 2))
        return false;
    o = r->line.data + r->line.len;
    *o++ = ' ';
    copy_short(o, k, klen);
    o[klen] = '=';
    copy_short(o + klen + 1, v, n);
    r->line.len += klen + n + 2;
    return true;
}

/* Appends one pair of a PAIRS entry: a copied string, or a number. */
static bool add_pair(struct log_record *r, const char *k, size_t klen, uint8_t type, const char *v,
                     size_t vlen)
{
    char tmp[DIGITS_MAX];

    if (type != LOG_COPY)
        return add_plain(r, k, klen, tmp, number_text(type, v, tmp));
    return add_plain(r, k, klen, v, vlen);
}

/* The raw field journald gets, cut to LOG_FIELD_MAX. */
static size_t field_cut(size_t n)
{
    return n < LOG_FIELD_MAX ? n : LOG_FIELD_MAX;
}

void log_capture_format(const struct log_entry *e, struct log_record *r, struct log_line *out)
{
    struct fmt_cache *fc = cache_get(r);
    const struct log_cap *c = (const struct log_cap *)(e + 1);
    const char *text = (const char *)e + c->text;
    const char *job = text, *plugin = job + c->job_len, *run = plugin + c->plugin_len;
    const char *event = c->event ? c->event : run + c->run_len;
    size_t event_len = c->event_len;
    size_t run_len = c->run_len;
    char *hex = fc->hex;

    /* As log_record_open: event always, then the run's names when given. */
    log_record_start(r, e->level, e->ts);
    if (c->event) {
        const struct frag *f = frag_of(fc, k_event, c->event);
        event_len = f->vlen;
        (void)add_frag(r, f);
    } else {
        (void)add_value(r, &fc->event, k_event, event, event_len);
    }
    if (c->job_len)
        (void)add_value(r, &fc->job, k_job, job, c->job_len);
    if (!run_len && c->run_id) {
        run_hex(c->run_id, hex);
        run = hex;
        run_len = 16;
        (void)add_bare(r, &fc->run, k_run, hex, 16);
    } else if (run_len) {
        (void)add_value(r, &fc->run, k_run, run, run_len);
    }
    if (c->plugin_len)
        (void)add_value(r, &fc->plugin, k_plugin, plugin, c->plugin_len);
    if (e->kind == LOG_ENTRY_FIELDS) {
        const struct log_slot *slot = (const struct log_slot *)(c + 1);
        const uint8_t *type = (const uint8_t *)(slot + e->n);
        for (size_t i = 0; i < e->n; i++)
            if (!add_field(fc, r, &slot[i], type[i], text))
                break;
    } else {
        const char *p = event + event_len;
        for (size_t i = 0; i < c->n_pairs; i++) {
            uint16_t klen, vlen;
            uint8_t type = (uint8_t)p[4];
            memcpy(&klen, p, 2);
            memcpy(&vlen, p + 2, 2);
            p += PAIR_HEAD;
            if (!add_pair(r, p, klen, type, p + klen, vlen))
                break;
            p += klen + vlen;
        }
    }
    log_record_end(r);

    log_line_view(out, r, e->level, event, field_cut(event_len), job, field_cut(c->job_len), run,
                  field_cut(run_len));
}
