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
            slot[i].v.u = f[i].v.u; /* the union's widest member: any of them */
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

#define PAIR_HEAD 4 /* two 16-bit lengths before each pair's bytes */

void log_capture_pairs(const struct log_ctx *ctx, uint64_t run_id, int level, const char *event,
                       const char *const *kv, size_t n_pairs)
{
    size_t jl = 0, pl = 0, rl = 0, el = copy_len(event), head, size, least = 0, kept, bytes = 0;
    struct log_entry *e;
    struct log_cap *c;
    char *o;

    if (ctx) {
        jl = copy_len(ctx->job);
        pl = copy_len(ctx->plugin);
        rl = run_id ? 0 : copy_len(ctx->run_id);
    }
    for (kept = 0; kept < n_pairs && least <= LOG_LINE_MAX; kept++) {
        const char *k = kv[2 * kept], *v = kv[2 * kept + 1];
        size_t klen = k ? strnlen(k, LOG_LINE_MAX) : 0, vlen = copy_len(v);
        least += pair_least(klen, vlen);
        bytes += PAIR_HEAD + klen + vlen;
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
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        uint16_t klen = (uint16_t)(k ? strnlen(k, LOG_LINE_MAX) : 0);
        uint16_t vlen = (uint16_t)copy_len(v);
        memcpy(o, &klen, 2);
        memcpy(o + 2, &vlen, 2);
        o = put(o + PAIR_HEAD, k, klen);
        o = put(o, v, vlen);
    }
    log_queue_commit(e);
}

/* --- formatting (the writer) -------------------------------------------------- */

static void run_hex(uint64_t id, char out[16])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++)
        out[i] = hex[(id >> (60 - 4 * i)) & 0xf];
}

/* The value of field `i` as jlog would have written it; *len its bytes. */
static const char *field_text(const struct log_slot *s, uint8_t type, const char *text,
                              char *tmp, size_t *len)
{
    switch (type) {
    case LOG_STR:
        *len = copy_len(s->v.s);
        return s->v.s ? s->v.s : "";
    case LOG_COPY:
        *len = s->v.copy.len;
        return text + s->v.copy.off;
    case LOG_INT:
        *len = (size_t)(numfmt_i64(tmp, s->v.i) - tmp);
        return tmp;
    case LOG_UINT:
        *len = (size_t)(numfmt_u64(tmp, s->v.u) - tmp);
        return tmp;
    case LOG_MS: {
        double ms = (double)s->v.i / 1e6;
        char *end = numfmt_fixed(tmp, ms, 3);
        /* as jlog's "%.3f": numfmt when it can, snprintf when it cannot */
        *len = end ? (size_t)(end - tmp) : (size_t)snprintf(tmp, RFC3339_BUFLEN, "%.3f", ms);
        if (*len >= RFC3339_BUFLEN) /* a huge double: the digits snprintf kept */
            *len = RFC3339_BUFLEN - 1;
        return tmp;
    }
    case LOG_TIME:
        if (!s->v.i) {
            *len = 0;
            return "";
        }
        rfc3339_format(s->v.i, NULL, true, tmp, RFC3339_BUFLEN);
        *len = strlen(tmp);
        return tmp;
    case LOG_BOOL:
        *len = s->v.i ? 4 : 5;
        return s->v.i ? "true" : "false";
    default:
        *len = 0;
        return "";
    }
}

/* The raw field journald gets, cut to LOG_FIELD_MAX. */
static size_t field_cut(size_t n)
{
    return n < LOG_FIELD_MAX ? n : LOG_FIELD_MAX;
}

const struct log_line *log_capture_format(const struct log_entry *e, struct log_record *r,
                                          struct buf *out)
{
    const struct log_cap *c = (const struct log_cap *)(e + 1);
    const char *text = (const char *)e + c->text;
    const char *job = text, *plugin = job + c->job_len, *run = plugin + c->plugin_len;
    const char *event = c->event ? c->event : run + c->run_len;
    size_t event_len = c->event ? copy_len(c->event) : c->event_len;
    size_t run_len = c->run_len;
    char hex[16], tmp[RFC3339_BUFLEN > NUMFMT_MAX ? RFC3339_BUFLEN : NUMFMT_MAX];
    struct log_line *l;

    if (!run_len && c->run_id) {
        run_hex(c->run_id, hex);
        run = hex;
        run_len = 16;
    }
    /* As log_record_open: event always, then the run's names when given. */
    log_record_start(r, e->level, e->ts);
    (void)log_record_add(r, "event", 5, event, event_len);
    if (c->job_len)
        (void)log_record_add(r, "job", 3, job, c->job_len);
    if (run_len)
        (void)log_record_add(r, "run_id", 6, run, run_len);
    if (c->plugin_len)
        (void)log_record_add(r, "plugin", 6, plugin, c->plugin_len);
    if (e->kind == LOG_ENTRY_FIELDS) {
        const struct log_slot *slot = (const struct log_slot *)(c + 1);
        const uint8_t *type = (const uint8_t *)(slot + e->n);
        const char *values = text;
        for (size_t i = 0; i < e->n; i++) {
            size_t len;
            const char *v = field_text(&slot[i], type[i], values, tmp, &len);
            if (!log_record_add(r, slot[i].key, strlen(slot[i].key), v, len))
                break;
        }
    } else {
        const char *p = event + event_len;
        for (size_t i = 0; i < c->n_pairs; i++) {
            uint16_t klen, vlen;
            memcpy(&klen, p, 2);
            memcpy(&vlen, p + 2, 2);
            p += PAIR_HEAD;
            if (!log_record_add(r, p, klen, p + klen, vlen))
                break;
            p += klen + vlen;
        }
    }
    log_record_end(r);

    size_t el = field_cut(event_len), jl = field_cut(c->job_len), rl = field_cut(run_len);
    out->len = 0;
    buf_reserve(out, log_line_size(r->line.len, el, jl, rl));
    l = (struct log_line *)out->data;
    log_line_write(l, r, e->level, event, el, job, jl, run, rl);
    return l;
}
