/*
 * schema — typed getters, key checks and messages over the YAML node tree.
 * See schema.h.
 *
 * Messages are kept with their position and sorted when flushed, because the
 * reader does not meet problems in document order: a streamed `jobs:` list
 * is read while the tree is still being built, before a `host:` that came
 * earlier in the file. Collection stops at ten times what is shown, which
 * bounds the memory a manifest full of mistakes can take.
 */
#include "core/schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/suggest.h"
#include "lib/units.h"

#define SCHEMA_KEEP_ERRORS (10 * SCHEMA_MAX_ERRORS)

struct schema_error {
    unsigned file_seq;
    int line, col;
    size_t seq; /* order of report, to keep the sort stable */
    char *msg;
};

/* ---- messages -------------------------------------------------------------- */

/* Messages quote keys and values as written; a problem must stay one line
 * whatever they hold, and must not drive the user's terminal: control
 * characters are shown escaped. */
static void one_line(struct buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            buf_puts(out, "\\n");
        else if (c == '\t')
            buf_puts(out, "\\t");
        else if (c < 0x20 || c == 0x7f)
            buf_printf(out, "\\x%02x", c);
        else
            buf_putc(out, (char)c);
    }
}

/* One message, one line: "FILE:LINE:COL: [kind: ]path: text". */
static char *format_message(const struct schema *s, int line, int col, const char *kind,
                            const char *path, const char *fmt, va_list ap)
{
    struct buf raw = {0}, msg = {0};

    buf_printf(&raw, "%s:%d:%d: %s", s->file, line, col, kind ? kind : "");
    if (path && *path)
        buf_printf(&raw, "%s: ", path);
    buf_vprintf(&raw, fmt, ap);
    one_line(&msg, raw.data); /* keys in the path are the user's too */
    buf_free(&raw);
    return msg.data;
}

static void keep(struct schema_error **list, size_t *n, size_t *cap, const struct schema *s,
                 int line, int col, char *msg)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *list = xrealloc(*list, *cap * sizeof(**list));
    }
    (*list)[*n] = (struct schema_error){
        .file_seq = s->file_seq, .line = line, .col = col, .seq = *n, .msg = msg};
    (*n)++;
}

void schema_error(struct schema *s, int line, int col, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    s->failed = true;
    if (s->n_errors >= SCHEMA_KEEP_ERRORS) {
        s->dropped++;
        return;
    }
    va_start(ap, fmt);
    msg = format_message(s, line, col, NULL, path, fmt, ap);
    va_end(ap);
    keep(&s->errors, &s->n_errors, &s->cap_errors, s, line, col, msg);
}

void schema_warning(struct schema *s, int line, int col, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (s->n_warnings >= SCHEMA_KEEP_ERRORS)
        return;
    va_start(ap, fmt);
    msg = format_message(s, line, col, "warning: ", path, fmt, ap);
    va_end(ap);
    keep(&s->warnings, &s->n_warnings, &s->cap_warnings, s, line, col, msg);
}

static int error_cmp(const void *a, const void *b)
{
    const struct schema_error *x = a, *y = b;

    if (x->file_seq != y->file_seq)
        return x->file_seq < y->file_seq ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void schema_withdraw(struct schema *s, size_t since)
{
    while (s->n_errors > since)
        free(s->errors[--s->n_errors].msg);
}

void schema_adopt(struct schema *dst, struct schema *src)
{
    for (size_t i = 0; i < src->n_errors; i++) {
        struct schema_error e = src->errors[i];
        if (dst->n_errors >= SCHEMA_KEEP_ERRORS) {
            free(e.msg);
            dst->dropped++;
            continue;
        }
        if (dst->n_errors == dst->cap_errors) {
            dst->cap_errors = dst->cap_errors ? 2 * dst->cap_errors : 8;
            dst->errors = xrealloc(dst->errors, dst->cap_errors * sizeof(*dst->errors));
        }
        e.seq = dst->n_errors;
        dst->errors[dst->n_errors++] = e;
    }
    dst->dropped += src->dropped;
    dst->failed |= src->failed;
    free(src->errors);
    src->errors = NULL;
    src->n_errors = src->cap_errors = src->dropped = 0;
}

void schema_discard(struct schema *s)
{
    schema_withdraw(s, 0);
    free(s->errors);
    s->errors = NULL;
    s->n_errors = s->cap_errors = s->dropped = 0;
}

void schema_flush(struct schema *s, struct errors *errs, const char *main)
{
    size_t shown = 0;

    if (s->n_errors)
        qsort(s->errors, s->n_errors, sizeof(*s->errors), error_cmp);
    for (size_t i = 0; i < s->n_errors; i++) {
        if (shown < SCHEMA_MAX_ERRORS) {
            errors_add(errs, "%s", s->errors[i].msg);
            shown++;
        }
        free(s->errors[i].msg);
    }
    if (s->n_errors + s->dropped > SCHEMA_MAX_ERRORS)
        errors_add(errs, "%s: too many errors, stopping", main);
    free(s->errors);
    s->errors = NULL;
    s->n_errors = s->cap_errors = s->dropped = 0;
}

void schema_flush_warnings(struct schema *s, struct errors *warnings)
{
    if (s->n_warnings)
        qsort(s->warnings, s->n_warnings, sizeof(*s->warnings), error_cmp);
    for (size_t i = 0; i < s->n_warnings; i++) {
        if (i < SCHEMA_MAX_ERRORS)
            errors_add(warnings, "%s", s->warnings[i].msg);
        free(s->warnings[i].msg);
    }
    free(s->warnings);
    s->warnings = NULL;
    s->n_warnings = s->cap_warnings = 0;
}

/* ---- key paths --------------------------------------------------------------- */

/* A path too long for the buffer is cut, which only shortens a message. */
static void path_join(char *out, size_t len, const char *parent, const char *sep,
                      const char *key, const char *close)
{
    size_t used = 0;
    const char *parts[] = {parent, sep, key, close};

    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        size_t n = parts[i] ? strlen(parts[i]) : 0;
        if (n > len - 1 - used)
            n = len - 1 - used;
        memcpy(out + used, parts[i], n);
        used += n;
    }
    out[used] = '\0';
}

void schema_child_path(char *out, size_t len, const char *parent, const char *key)
{
    path_join(out, len, parent, parent && *parent ? "." : "", key, "");
}

void schema_index_path(char *out, size_t len, const char *parent, size_t i)
{
    char num[24];
    snprintf(num, sizeof(num), "%zu", i);
    path_join(out, len, parent, "[", num, "]");
}

/* ---- shapes ------------------------------------------------------------------- */

const char *schema_kind_name(const struct ynode *n)
{
    switch (n->kind) {
    case YSCALAR:
        return "a scalar";
    case YSEQ:
        return "a list";
    default:
        return "a mapping";
    }
}

bool schema_is_null(const struct ynode *n)
{
    return n->kind == YSCALAR && n->plain &&
           (n->text[0] == '\0' || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

bool schema_expect(struct schema *s, const struct ynode *n, enum ynode_kind kind, const char *path)
{
    static const char *const names[] = {"a scalar", "a list", "a mapping"};

    if (n->kind == kind)
        return true;
    schema_error(s, n->line, n->col, path, "expected %s, got %s", names[kind], schema_kind_name(n));
    return false;
}

static void unknown_key(struct schema *s, const struct ynode *key, const char *kpath,
                        const char *const *allowed)
{
    size_t n = 0;
    const char *best;
    struct buf list = {0};

    while (allowed[n])
        n++;
    best = suggest_nearest(key->text, allowed, n);
    for (size_t i = 0; i < n; i++)
        buf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
    if (best)
        schema_error(s, key->line, key->col, kpath, "unknown key (did you mean \"%s\"?)", best);
    else
        schema_error(s, key->line, key->col, kpath, "unknown key (expected one of: %s)",
                     list.data ? list.data : "");
    buf_free(&list);
}

void schema_check_keys(struct schema *s, const struct ynode *map, const char *path,
                       const char *const *allowed)
{
    for (const struct ynode *key = map->first; key && key->next; key = key->next->next) {
        char kpath[SCHEMA_PATH_MAX];
        bool known = false;

        if (key->kind != YSCALAR) {
            schema_error(s, key->line, key->col, path, "keys must be plain strings, got %s",
                         schema_kind_name(key));
            continue;
        }
        schema_child_path(kpath, sizeof(kpath), path, key->text);
        for (const struct ynode *earlier = map->first; earlier != key;
             earlier = earlier->next->next) {
            if (earlier->kind == YSCALAR && strcmp(earlier->text, key->text) == 0) {
                schema_error(s, key->line, key->col, kpath, "duplicate key (first at line %d)",
                             earlier->line);
                break;
            }
        }
        if (!allowed)
            continue;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key->text) == 0;
        if (!known)
            unknown_key(s, key, kpath, allowed);
    }
}

const struct ynode *schema_get(const struct ynode *map, const char *key)
{
    for (const struct ynode *k = map->first; k && k->next; k = k->next->next) {
        if (k->kind == YSCALAR && strcmp(k->text, key) == 0)
            return k->next;
    }
    return NULL;
}

/* ---- typed values ------------------------------------------------------------- */

bool schema_string(struct schema *s, const struct ynode *n, const char *path, char **out)
{
    if (!schema_expect(s, n, YSCALAR, path))
        return false;
    *out = arena_strdup(s->strings, n->text);
    return true;
}

bool schema_bool(struct schema *s, const struct ynode *n, const char *path, bool *out)
{
    if (!schema_expect(s, n, YSCALAR, path))
        return false;
    if (bool_parse(n->text, out) == 0)
        return true;
    schema_error(s, n->line, n->col, path, "expected true or false, got \"%s\"", n->text);
    return false;
}

bool schema_uint(struct schema *s, const struct ynode *n, const char *path, unsigned long min,
                 unsigned long max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (!schema_expect(s, n, YSCALAR, path))
        return false;
    errno = 0;
    v = strtoul(n->text, &end, 10);
    if (!isdigit((unsigned char)n->text[0]) || *end || errno) {
        schema_error(s, n->line, n->col, path, "expected a whole number, got \"%s\"", n->text);
        return false;
    }
    if (v < min || v > max) {
        schema_error(s, n->line, n->col, path, "%lu is out of range %lu-%lu", v, min, max);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

bool schema_duration(struct schema *s, const struct ynode *n, const char *path, int64_t min,
                     int64_t max, int64_t *out)
{
    char lo[32], hi[32];
    int64_t v;
    int rc;

    if (!schema_expect(s, n, YSCALAR, path))
        return false;
    rc = duration_parse(n->text, &v);
    if (rc == -ERANGE || (rc == 0 && (v < min || v > max))) {
        schema_error(s, n->line, n->col, path, "%s is out of range (from %s to %s)", n->text,
                     duration_format(min, lo, sizeof(lo)), duration_format(max, hi, sizeof(hi)));
        return false;
    }
    if (rc < 0) {
        char *end;
        (void)strtod(n->text, &end); /* only to tell a bare number from other text */
        if (n->text[0] && !*end)
            schema_error(s, n->line, n->col, path,
                         "duration \"%s\" needs a unit (ms, s, m, h, d), e.g. \"%ss\"", n->text,
                         n->text);
        else
            schema_error(s, n->line, n->col, path,
                         "invalid duration \"%s\" (expected e.g. 500ms, 10s, 5m, 1h30m, 14d)",
                         n->text);
        return false;
    }
    *out = v;
    return true;
}

bool schema_size(struct schema *s, const struct ynode *n, const char *path, uint64_t *out)
{
    if (!schema_expect(s, n, YSCALAR, path))
        return false;
    if (size_parse(n->text, out) < 0) {
        schema_error(s, n->line, n->col, path,
                     "invalid size \"%s\" (expected e.g. 512KiB, 10MiB, 1GiB)", n->text);
        return false;
    }
    return true;
}

bool schema_path(struct schema *s, const struct ynode *n, const char *path, char **out)
{
    size_t dl, tl;
    char *p;

    if (!schema_expect(s, n, YSCALAR, path))
        return false;
    if (n->text[0] == '\0') {
        schema_error(s, n->line, n->col, path, "must not be empty");
        return false;
    }
    if (n->text[0] == '/') {
        *out = arena_strdup(s->strings, n->text);
        return true;
    }
    dl = strlen(s->dir);
    tl = strlen(n->text);
    p = arena_alloc(s->strings, dl + 1 + tl + 1);
    memcpy(p, s->dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, n->text, tl + 1);
    *out = p;
    return true;
}
