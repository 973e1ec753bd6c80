/*
 * manifest — YAML -> struct manifest. See manifest.h.
 *
 * Two passes. First libyaml's event stream is turned into a small tree of
 * nodes that remember their line and column; anchors and aliases are refused
 * there (so an alias bomb never expands), as are documents that nest too
 * deep or hold too many nodes. Then the tree is walked against the schema
 * below, with the key path of each node in hand for messages. The walk keeps
 * going after an error so `jobhost check` reports every problem at once.
 */
#include "core/manifest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <yaml.h>

#include <jobhost/plugin.h>

#include "core/log.h"
#include "lib/listen.h"
#include "lib/tz.h"
#include "lib/units.h"
#include "lib/utf8.h"

#define MANIFEST_MAX_BYTES (64u << 20) /* a 100,000-job manifest is about 8 MiB */
#define MANIFEST_MAX_DEPTH 32
#define MANIFEST_MAX_NODES 2000000 /* aliases are refused, so nodes = bytes read */
#define MANIFEST_MAX_ERRORS 100
#define JOB_ID_MAX 128

/* ---- the node tree -------------------------------------------------------- */

enum ynode_kind { YSCALAR, YSEQ, YMAP };

struct ynode {
    enum ynode_kind kind;
    int line, col;   /* 1-based */
    char *text;      /* YSCALAR */
    bool plain;      /* YSCALAR written without quotes (so `null`, `true` mean something) */
    size_t count;    /* entries in items */
    size_t cap;      /* room in items */
    struct ynode **items; /* YSEQ: the items; YMAP: key, value, key, value ... */
};

static void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->count; i++)
        ynode_free(n->items[i]);
    free(n->items);
    free(n->text);
    free(n);
}

static void ynode_push(struct ynode *parent, struct ynode *child)
{
    if (parent->count == parent->cap) {
        parent->cap = parent->cap ? 2 * parent->cap : 4;
        parent->items = xrealloc(parent->items, parent->cap * sizeof(*parent->items));
    }
    parent->items[parent->count++] = child;
}

/* The state of one parse: where messages go and how to phrase them. */
struct parse {
    const char *name;  /* file name for messages */
    const char *dir;   /* for relative paths */
    struct errors *errs;
    size_t nodes;
    bool failed;
};

/* Messages quote keys and values as written; a problem must stay one line
 * whatever they hold, and must not drive the user's terminal: control
 * characters are shown escaped. */
static void one_line(struct buf *msg)
{
    struct buf out = {0};
    for (size_t i = 0; i < msg->len; i++) {
        unsigned char c = (unsigned char)msg->data[i];
        if (c == '\n')
            buf_puts(&out, "\\n");
        else if (c == '\t')
            buf_puts(&out, "\\t");
        else if (c < 0x20 || c == 0x7f)
            buf_printf(&out, "\\x%02x", c);
        else
            buf_putc(&out, (char)c);
    }
    buf_free(msg);
    *msg = out;
}

static void perr(struct parse *p, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void perr(struct parse *p, int line, int col, const char *path, const char *fmt, ...)
{
    struct buf msg = {0};
    va_list ap;

    p->failed = true;
    if (p->errs->count >= MANIFEST_MAX_ERRORS)
        return;
    if (path && *path)
        buf_printf(&msg, "%s:%d:%d: %s: ", p->name, line, col, path);
    else
        buf_printf(&msg, "%s:%d:%d: ", p->name, line, col);
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    one_line(&msg); /* keys in the path are the user's too */
    errors_add(p->errs, "%s", msg.data);
    if (p->errs->count == MANIFEST_MAX_ERRORS)
        errors_add(p->errs, "%s: too many errors, stopping", p->name);
    buf_free(&msg);
}

/* Returns the byte offset of the first invalid UTF-8 sequence or NUL (valid
 * UTF-8, but never in a text file), or -1. */
static long utf8_invalid_at(const unsigned char *s, size_t len)
{
    const unsigned char *nul = memchr(s, 0, len);
    size_t valid = utf8_valid_prefix((const char *)s, nul ? (size_t)(nul - s) : len);

    if (valid < len)
        return (long)valid;
    return -1;
}

static void offset_to_position(const char *text, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static struct ynode *ynode_new(struct parse *p, enum ynode_kind kind, const yaml_mark_t *mark)
{
    struct ynode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    p->nodes++;
    return n;
}

static const char *event_anchor(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return (const char *)ev->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT:
        return (const char *)ev->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:
        return (const char *)ev->data.mapping_start.anchor;
    default:
        return NULL;
    }
}

/* Builds the tree of the one document in `text`. NULL after reporting. */
static struct ynode *yaml_to_tree(struct parse *p, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct ynode *stack[MANIFEST_MAX_DEPTH + 1];
    int depth = 0;
    struct ynode *root = NULL;
    int documents = 0;
    bool done = false;

    if (!yaml_parser_initialize(&parser)) {
        perr(p, 1, 1, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            const yaml_mark_t *cm = &parser.context_mark;
            if (parser.context && (cm->line != m->line || cm->column != m->column))
                perr(p, (int)m->line + 1, (int)m->column + 1, NULL,
                     "YAML syntax error: %s %s (which started at %d:%d)",
                     parser.problem ? parser.problem : "malformed", parser.context,
                     (int)cm->line + 1, (int)cm->column + 1);
            else if (parser.context)
                perr(p, (int)m->line + 1, (int)m->column + 1, NULL, "YAML syntax error: %s %s",
                     parser.problem ? parser.problem : "malformed", parser.context);
            else
                perr(p, (int)m->line + 1, (int)m->column + 1, NULL, "YAML syntax error: %s",
                     parser.problem ? parser.problem : "malformed");
            break;
        }
        const yaml_mark_t *mark = &ev.start_mark;
        if (event_anchor(&ev)) {
            perr(p, (int)mark->line + 1, (int)mark->column + 1, NULL,
                 "anchors (&%s) and aliases are not allowed in a manifest", event_anchor(&ev));
            yaml_event_delete(&ev);
            break;
        }
        struct ynode *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                perr(p, (int)mark->line + 1, (int)mark->column + 1, NULL,
                     "a manifest holds one YAML document; found a second");
                done = true;
            }
            break;
        case YAML_ALIAS_EVENT:
            perr(p, (int)mark->line + 1, (int)mark->column + 1, NULL,
                 "aliases (*%s) and anchors are not allowed in a manifest",
                 (const char *)ev.data.alias.anchor);
            done = true;
            break;
        case YAML_SCALAR_EVENT:
            node = ynode_new(p, YSCALAR, mark);
            node->text = xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (strlen(node->text) != ev.data.scalar.length) {
                perr(p, node->line, node->col, NULL, "NUL character in a value");
                ynode_free(node);
                node = NULL;
                done = true;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            node = ynode_new(p, ev.type == YAML_SEQUENCE_START_EVENT ? YSEQ : YMAP, mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (node) {
            if (p->nodes > MANIFEST_MAX_NODES) {
                perr(p, node->line, node->col, NULL, "manifest has more than %d nodes",
                     MANIFEST_MAX_NODES);
                ynode_free(node);
                break;
            }
            if (depth == 0) {
                ynode_free(root); /* cannot happen with one document; be safe */
                root = node;
            } else {
                ynode_push(stack[depth - 1], node);
            }
            if (node->kind != YSCALAR) {
                if (depth >= MANIFEST_MAX_DEPTH) {
                    perr(p, node->line, node->col, NULL, "manifest nests deeper than %d levels",
                         MANIFEST_MAX_DEPTH);
                    break;
                }
                stack[depth++] = node;
            }
        }
    }
    yaml_parser_delete(&parser);
    if (p->failed) {
        ynode_free(root);
        return NULL;
    }
    return root;
}

/* ---- schema helpers --------------------------------------------------------- */

static const char *kind_name(const struct ynode *n)
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

/* Key paths for messages: "host.log.file.path", "jobs[2].trigger.cron".
 * A path too long for the buffer is cut, which only shortens a message. */
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

static void child_path(char *out, size_t len, const char *parent, const char *key)
{
    path_join(out, len, parent, parent && *parent ? "." : "", key, "");
}

static void index_path(char *out, size_t len, const char *parent, size_t i)
{
    char num[24];
    snprintf(num, sizeof(num), "%zu", i);
    path_join(out, len, parent, "[", num, "]");
}

static bool is_null(const struct ynode *n)
{
    return n->kind == YSCALAR && n->plain &&
           (n->text[0] == '\0' || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

static bool expect_kind(struct parse *p, const struct ynode *n, enum ynode_kind kind,
                        const char *path)
{
    static const char *const names[] = {"a scalar", "a list", "a mapping"};
    if (n->kind == kind)
        return true;
    perr(p, n->line, n->col, path, "expected %s, got %s", names[kind], kind_name(n));
    return false;
}

/* Edit distance, for "did you mean" on unknown keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

/* Checks that every key of `map` is a scalar that appears once and, unless
 * `allowed` is NULL (free-form maps), is named in `allowed` (NULL terminated).
 * Unknown keys are errors, with a suggestion. */
static void check_keys(struct parse *p, const struct ynode *map, const char *path,
                       const char *const *allowed)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const struct ynode *key = map->items[i];
        char kpath[512];
        bool known = false;

        if (key->kind != YSCALAR) {
            perr(p, key->line, key->col, path, "keys must be plain strings, got %s", kind_name(key));
            continue;
        }
        child_path(kpath, sizeof(kpath), path, key->text);
        for (size_t j = 0; j < i; j += 2) {
            const struct ynode *earlier = map->items[j];
            if (earlier->kind == YSCALAR && strcmp(earlier->text, key->text) == 0) {
                perr(p, key->line, key->col, kpath, "duplicate key (first at line %d)",
                     earlier->line);
                break;
            }
        }
        if (!allowed)
            continue;
        for (const char *const *a = allowed; *a; a++)
            known = known || strcmp(*a, key->text) == 0;
        if (known)
            continue;
        const char *best = NULL;
        size_t best_d = 3;
        struct buf list = {0};
        for (const char *const *a = allowed; *a; a++) {
            size_t d = edit_distance(*a, key->text);
            /* a suggestion must share most of the key: "x" is not "id" */
            if (d < best_d && d < strlen(key->text)) {
                best_d = d;
                best = *a;
            }
            buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a);
        }
        if (best)
            perr(p, key->line, key->col, kpath, "unknown key (did you mean \"%s\"?)", best);
        else
            perr(p, key->line, key->col, kpath, "unknown key (expected one of: %s)", list.data);
        buf_free(&list);
    }
}

/* The value under `key` in `map`, or NULL. */
static const struct ynode *map_get(const struct ynode *map, const char *key)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const struct ynode *k = map->items[i];
        if (k->kind == YSCALAR && strcmp(k->text, key) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

static bool get_string(struct parse *p, const struct ynode *n, const char *path, char **out)
{
    if (!expect_kind(p, n, YSCALAR, path))
        return false;
    free(*out);
    *out = xstrdup(n->text);
    return true;
}

static bool get_bool(struct parse *p, const struct ynode *n, const char *path, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off", NULL};

    if (!expect_kind(p, n, YSCALAR, path))
        return false;
    for (const char *const *w = yes; *w; w++) {
        if (strcmp(n->text, *w) == 0) {
            *out = true;
            return true;
        }
    }
    for (const char *const *w = no; *w; w++) {
        if (strcmp(n->text, *w) == 0) {
            *out = false;
            return true;
        }
    }
    perr(p, n->line, n->col, path, "expected true or false, got \"%s\"", n->text);
    return false;
}

static bool get_uint(struct parse *p, const struct ynode *n, const char *path, unsigned long min,
                     unsigned long max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (!expect_kind(p, n, YSCALAR, path))
        return false;
    errno = 0;
    v = strtoul(n->text, &end, 10);
    if (!isdigit((unsigned char)n->text[0]) || *end || errno) {
        perr(p, n->line, n->col, path, "expected a whole number, got \"%s\"", n->text);
        return false;
    }
    if (v < min || v > max) {
        perr(p, n->line, n->col, path, "%lu is out of range %lu-%lu", v, min, max);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static bool get_duration(struct parse *p, const struct ynode *n, const char *path, int64_t *out)
{
    int rc;

    if (!expect_kind(p, n, YSCALAR, path))
        return false;
    rc = duration_parse(n->text, out);
    if (rc == -ERANGE) {
        perr(p, n->line, n->col, path, "duration \"%s\" is too long", n->text);
        return false;
    }
    if (rc < 0) {
        char *end;
        strtod(n->text, &end);
        if (n->text[0] && !*end)
            perr(p, n->line, n->col, path,
                 "duration \"%s\" needs a unit (ms, s, m, h, d), e.g. \"%ss\"", n->text, n->text);
        else
            perr(p, n->line, n->col, path,
                 "invalid duration \"%s\" (expected e.g. 500ms, 10s, 5m, 1h30m, 14d)", n->text);
        return false;
    }
    return true;
}

static bool get_size(struct parse *p, const struct ynode *n, const char *path, uint64_t *out)
{
    if (!expect_kind(p, n, YSCALAR, path))
        return false;
    if (size_parse(n->text, out) < 0) {
        perr(p, n->line, n->col, path, "invalid size \"%s\" (expected e.g. 512KiB, 10MiB, 1GiB)",
             n->text);
        return false;
    }
    return true;
}

/* A path value, resolved against the manifest's directory. */
static bool get_path(struct parse *p, const struct ynode *n, const char *path, char **out)
{
    struct buf b = {0};

    if (!expect_kind(p, n, YSCALAR, path))
        return false;
    if (n->text[0] == '\0') {
        perr(p, n->line, n->col, path, "must not be empty");
        return false;
    }
    if (n->text[0] != '/')
        buf_printf(&b, "%s/", p->dir);
    buf_puts(&b, n->text);
    free(*out);
    *out = b.data;
    return true;
}

/* ---- host ------------------------------------------------------------------ */

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"cron", LOG_CRON},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static void parse_level(struct parse *p, const struct ynode *n, const char *path, int *level)
{
    if (!expect_kind(p, n, YSCALAR, path))
        return;
    int v = log_level_parse(n->text);
    if (v < 0)
        perr(p, n->line, n->col, path, "unknown level \"%s\" (expected debug, info, warn or error)",
             n->text);
    else
        *level = v;
}

static void parse_log(struct parse *p, const struct ynode *n, const char *path,
                      struct manifest_host *h)
{
    static const char *const keys[] = {"level", "syslog", "file", "stderr", "journald", NULL};
    static const char *const syslog_keys[] = {"enabled", "ident", "facility", NULL};
    static const char *const file_keys[] = {"path", "max_size", "keep", "daily", NULL};
    const struct ynode *v;
    char sub[512], leaf[512];

    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, keys);
    if ((v = map_get(n, "level"))) {
        child_path(sub, sizeof(sub), path, "level");
        parse_level(p, v, sub, &h->log.level);
    }
    if ((v = map_get(n, "syslog"))) {
        child_path(sub, sizeof(sub), path, "syslog");
        if (expect_kind(p, v, YMAP, sub)) {
            const struct ynode *w;
            check_keys(p, v, sub, syslog_keys);
            if ((w = map_get(v, "enabled"))) {
                child_path(leaf, sizeof(leaf), sub, "enabled");
                get_bool(p, w, leaf, &h->log.syslog);
            }
            if ((w = map_get(v, "ident"))) {
                child_path(leaf, sizeof(leaf), sub, "ident");
                if (get_string(p, w, leaf, &h->log.ident) && h->log.ident[0] == '\0')
                    perr(p, w->line, w->col, leaf, "must not be empty");
            }
            if ((w = map_get(v, "facility"))) {
                bool found = false;
                child_path(leaf, sizeof(leaf), sub, "facility");
                if (expect_kind(p, w, YSCALAR, leaf)) {
                    for (size_t i = 0; i < ARRAY_SIZE(facilities); i++) {
                        if (strcmp(facilities[i].name, w->text) == 0) {
                            h->log.facility = facilities[i].value;
                            found = true;
                        }
                    }
                    if (!found)
                        perr(p, w->line, w->col, leaf,
                             "unknown facility \"%s\" (expected daemon, user, cron or local0-local7)",
                             w->text);
                }
            }
        }
    }
    if ((v = map_get(n, "file"))) {
        child_path(sub, sizeof(sub), path, "file");
        if (is_null(v)) {
            /* file: ~ turns the file sink off */
        } else if (expect_kind(p, v, YMAP, sub)) {
            const struct ynode *w;
            check_keys(p, v, sub, file_keys);
            if ((w = map_get(v, "path"))) {
                child_path(leaf, sizeof(leaf), sub, "path");
                get_path(p, w, leaf, &h->log.file_path);
            } else {
                perr(p, v->line, v->col, sub, "missing key \"path\"");
            }
            if ((w = map_get(v, "max_size"))) {
                child_path(leaf, sizeof(leaf), sub, "max_size");
                get_size(p, w, leaf, &h->log.file_max_size);
            }
            if ((w = map_get(v, "keep"))) {
                child_path(leaf, sizeof(leaf), sub, "keep");
                get_uint(p, w, leaf, 0, 1000, &h->log.file_keep);
            }
            if ((w = map_get(v, "daily"))) {
                child_path(leaf, sizeof(leaf), sub, "daily");
                get_bool(p, w, leaf, &h->log.file_daily);
            }
        }
    }
    if ((v = map_get(n, "stderr"))) {
        child_path(sub, sizeof(sub), path, "stderr");
        if (v->kind == YSCALAR && strcmp(v->text, "auto") == 0) {
            h->log.to_stderr = -1;
        } else {
            bool b = false;
            if (get_bool(p, v, sub, &b))
                h->log.to_stderr = b;
        }
    }
    if ((v = map_get(n, "journald"))) {
        child_path(sub, sizeof(sub), path, "journald");
        get_bool(p, v, sub, &h->log.journald);
    }
}

static void parse_http(struct parse *p, const struct ynode *n, const char *path,
                       struct manifest_host *h)
{
    static const char *const keys[] = {"enabled", "listen", "token_file", "cert_file", "key_file",
                                       NULL};
    const struct ynode *v;
    char sub[512];

    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, keys);
    if ((v = map_get(n, "enabled"))) {
        child_path(sub, sizeof(sub), path, "enabled");
        get_bool(p, v, sub, &h->http.enabled);
    }
    if ((v = map_get(n, "listen"))) {
        child_path(sub, sizeof(sub), path, "listen");
        if (get_string(p, v, sub, &h->http.listen)) {
            struct listen_addr addr;
            char why[256];
            /* the same parser the server binds with: port 0 is "any free port" */
            if (listen_parse(h->http.listen, LISTEN_PORT_ZERO, &addr, why, sizeof(why)) < 0)
                perr(p, v->line, v->col, sub, "%s", why);
        }
    }
    if ((v = map_get(n, "token_file"))) {
        child_path(sub, sizeof(sub), path, "token_file");
        get_path(p, v, sub, &h->http.token_file);
    }
    if ((v = map_get(n, "cert_file"))) {
        child_path(sub, sizeof(sub), path, "cert_file");
        get_path(p, v, sub, &h->http.cert_file);
    }
    if ((v = map_get(n, "key_file"))) {
        child_path(sub, sizeof(sub), path, "key_file");
        get_path(p, v, sub, &h->http.key_file);
    }
    if (!h->http.cert_file != !h->http.key_file)
        perr(p, n->line, n->col, path, "cert_file and key_file go together");
}

static void parse_metrics(struct parse *p, const struct ynode *n, const char *path,
                          struct manifest_host *h)
{
    static const char *const keys[] = {"duration_buckets", NULL};
    const struct ynode *v;
    char sub[512], item[512];

    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, keys);
    if (!(v = map_get(n, "duration_buckets")))
        return;
    child_path(sub, sizeof(sub), path, "duration_buckets");
    if (!expect_kind(p, v, YSEQ, sub))
        return;
    if (v->count == 0 || v->count > 64) {
        perr(p, v->line, v->col, sub, "expected 1 to 64 bucket bounds, got %zu", v->count);
        return;
    }
    free(h->duration_buckets);
    h->duration_buckets = xcalloc(v->count, sizeof(double));
    h->n_duration_buckets = v->count;
    for (size_t i = 0; i < v->count; i++) {
        const struct ynode *b = v->items[i];
        char *end;
        double d;
        index_path(item, sizeof(item), sub, i);
        if (!expect_kind(p, b, YSCALAR, item))
            continue;
        d = strtod(b->text, &end);
        if (!b->text[0] || *end || !isfinite(d) || d <= 0) {
            perr(p, b->line, b->col, item, "expected a positive number of seconds, got \"%s\"",
                 b->text);
            continue;
        }
        if (i > 0 && d <= h->duration_buckets[i - 1])
            perr(p, b->line, b->col, item, "bucket bounds must increase (%s after %g)", b->text,
                 h->duration_buckets[i - 1]);
        h->duration_buckets[i] = d;
    }
}

static void parse_host(struct parse *p, const struct ynode *n, struct manifest_host *h)
{
    static const char *const keys[] = {"plugin_dir", "strict_permissions", "workers",
                                       "shutdown_timeout", "drain_timeout", "watch", "http", "log",
                                       "metrics", NULL};
    const struct ynode *v;

    if (!expect_kind(p, n, YMAP, "host"))
        return;
    check_keys(p, n, "host", keys);
    if ((v = map_get(n, "plugin_dir")))
        get_path(p, v, "host.plugin_dir", &h->plugin_dir);
    if ((v = map_get(n, "strict_permissions")))
        get_bool(p, v, "host.strict_permissions", &h->strict_permissions);
    if ((v = map_get(n, "workers")))
        get_uint(p, v, "host.workers", 1, 1024, &h->workers);
    if ((v = map_get(n, "shutdown_timeout")))
        get_duration(p, v, "host.shutdown_timeout", &h->shutdown_timeout_ns);
    if ((v = map_get(n, "drain_timeout")))
        get_duration(p, v, "host.drain_timeout", &h->drain_timeout_ns);
    if ((v = map_get(n, "watch")))
        get_bool(p, v, "host.watch", &h->watch);
    if ((v = map_get(n, "http")))
        parse_http(p, v, "host.http", h);
    if ((v = map_get(n, "log")))
        parse_log(p, v, "host.log", h);
    if ((v = map_get(n, "metrics")))
        parse_metrics(p, v, "host.metrics", h);
}

/* ---- jobs ------------------------------------------------------------------ */

static bool valid_name(const char *s, bool allow_dot)
{
    if (!isalnum((unsigned char)s[0]))
        return false;
    for (const char *c = s; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && !(allow_dot && *c == '.'))
            return false;
    }
    return true;
}

static void parse_params(struct parse *p, const struct ynode *n, const char *path,
                         struct manifest_job *job)
{
    char sub[512], item[512];

    if (is_null(n))
        return;
    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, NULL);
    job->params = xcalloc(n->count / 2 + 1, sizeof(*job->params));
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const struct ynode *k = n->items[i], *v = n->items[i + 1];
        struct manifest_param *prm;
        if (k->kind != YSCALAR)
            continue;
        child_path(sub, sizeof(sub), path, k->text);
        prm = &job->params[job->n_params++];
        prm->key = xstrdup(k->text);
        if (v->kind == YSCALAR) {
            prm->kind = JH_PARAM_SCALAR;
            prm->value = xstrdup(is_null(v) ? "" : v->text);
            continue;
        }
        prm->kind = v->kind == YSEQ ? JH_PARAM_LIST : JH_PARAM_MAP;
        prm->n = v->kind == YSEQ ? v->count : v->count / 2;
        prm->values = xcalloc(prm->n + 1, sizeof(char *));
        if (v->kind == YMAP)
            prm->names = xcalloc(prm->n + 1, sizeof(char *));
        for (size_t j = 0; j < prm->n; j++) {
            const struct ynode *name = v->kind == YMAP ? v->items[2 * j] : NULL;
            const struct ynode *val = v->kind == YMAP ? v->items[2 * j + 1] : v->items[j];
            if (name) {
                child_path(item, sizeof(item), sub, name->kind == YSCALAR ? name->text : "?");
                if (!expect_kind(p, name, YSCALAR, item))
                    continue;
                prm->names[j] = xstrdup(name->text);
            } else {
                index_path(item, sizeof(item), sub, j);
            }
            if (val->kind != YSCALAR) {
                perr(p, val->line, val->col, item,
                     "parameters hold scalars, lists of scalars or maps of scalars; got %s here",
                     kind_name(val));
                continue;
            }
            prm->values[j] = xstrdup(is_null(val) ? "" : val->text);
        }
        if (v->kind == YMAP)
            check_keys(p, v, sub, NULL);
    }
}

static void parse_trigger(struct parse *p, const struct ynode *n, const char *path,
                          struct manifest_job *job)
{
    static const char *const keys[] = {"cron", "interval", "date", "timezone", "start", "end",
                                       "jitter", NULL};
    const struct ynode *cron = NULL, *interval = NULL, *date = NULL, *v;
    char sub[512];
    struct trigger *t = &job->trigger;
    int kinds = 0;
    struct buf text = {0};

    if (is_null(n))
        return;
    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, keys);
    kinds += (cron = map_get(n, "cron")) != NULL;
    kinds += (interval = map_get(n, "interval")) != NULL;
    kinds += (date = map_get(n, "date")) != NULL;
    if (kinds != 1) {
        perr(p, n->line, n->col, path,
             kinds ? "give only one of cron, interval or date"
                   : "needs one of cron, interval or date (leave `trigger` out for a job run only by hand)");
        return;
    }
    if (cron) {
        char err[256];
        child_path(sub, sizeof(sub), path, "cron");
        t->kind = TRIGGER_CRON;
        if (expect_kind(p, cron, YSCALAR, sub)) {
            if (cron_parse(cron->text, &t->cron, err, sizeof(err)) < 0)
                perr(p, cron->line, cron->col, sub, "%s", err);
            buf_printf(&text, "cron %s", cron->text);
        }
        if ((v = map_get(n, "timezone"))) {
            child_path(sub, sizeof(sub), path, "timezone");
            if (get_string(p, v, sub, &job->timezone)) {
                t->tz = tz_get(job->timezone, err, sizeof(err));
                if (!t->tz)
                    perr(p, v->line, v->col, sub, "%s", err);
                buf_printf(&text, " (%s)", job->timezone);
            }
        }
    } else if ((v = map_get(n, "timezone"))) {
        child_path(sub, sizeof(sub), path, "timezone");
        perr(p, v->line, v->col, sub, "only a cron trigger takes a timezone");
    }
    if (interval) {
        child_path(sub, sizeof(sub), path, "interval");
        t->kind = TRIGGER_INTERVAL;
        if (get_duration(p, interval, sub, &t->interval_ns)) {
            if (t->interval_ns <= 0)
                perr(p, interval->line, interval->col, sub, "interval must be longer than 0");
            buf_printf(&text, "every %s", interval->text);
        }
    }
    if (date) {
        child_path(sub, sizeof(sub), path, "date");
        t->kind = TRIGGER_DATE;
        if (expect_kind(p, date, YSCALAR, sub)) {
            if (rfc3339_parse(date->text, &t->at_ns) < 0)
                perr(p, date->line, date->col, sub,
                     "invalid time \"%s\" (expected RFC 3339, e.g. 2026-05-01T09:00:00+02:00)",
                     date->text);
            buf_printf(&text, "at %s", date->text);
        }
    }
    if ((v = map_get(n, "start"))) {
        child_path(sub, sizeof(sub), path, "start");
        if (date)
            perr(p, v->line, v->col, sub, "a date trigger takes no start");
        else if (expect_kind(p, v, YSCALAR, sub) && rfc3339_parse(v->text, &t->start_ns) < 0)
            perr(p, v->line, v->col, sub, "invalid time \"%s\" (expected RFC 3339)", v->text);
    }
    if ((v = map_get(n, "end"))) {
        child_path(sub, sizeof(sub), path, "end");
        if (date)
            perr(p, v->line, v->col, sub, "a date trigger takes no end");
        else if (expect_kind(p, v, YSCALAR, sub) && rfc3339_parse(v->text, &t->end_ns) < 0)
            perr(p, v->line, v->col, sub, "invalid time \"%s\" (expected RFC 3339)", v->text);
        else if (t->start_ns && t->end_ns && t->end_ns <= t->start_ns)
            perr(p, v->line, v->col, sub, "end must come after start");
    }
    if ((v = map_get(n, "jitter"))) {
        child_path(sub, sizeof(sub), path, "jitter");
        get_duration(p, v, sub, &t->jitter_ns);
    }
    job->trigger_text = text.data ? text.data : xstrdup("");
}

static void parse_limits(struct parse *p, const struct ynode *n, const char *path,
                         struct manifest_job *job)
{
    static const char *const keys[] = {"address_space", "cpu", "open_files", NULL};
    const struct ynode *v;
    char sub[512];

    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, keys);
    if (job->isolation != ISOLATION_PROCESS) {
        perr(p, n->line, n->col, path,
             "limits apply to worker processes: set `isolation: process` before them");
        return;
    }
    if ((v = map_get(n, "address_space"))) {
        child_path(sub, sizeof(sub), path, "address_space");
        if (get_size(p, v, sub, &job->limits.address_space) && job->limits.address_space < (16u << 20))
            perr(p, v->line, v->col, sub, "at least 16MiB (the worker itself needs some)");
    }
    if ((v = map_get(n, "cpu"))) {
        child_path(sub, sizeof(sub), path, "cpu");
        if (get_duration(p, v, sub, &job->limits.cpu_ns) && job->limits.cpu_ns < NS_PER_SEC)
            perr(p, v->line, v->col, sub, "at least 1s (the limit counts whole seconds)");
    }
    if ((v = map_get(n, "open_files"))) {
        child_path(sub, sizeof(sub), path, "open_files");
        get_uint(p, v, sub, 16, 1u << 20, &job->limits.open_files);
    }
}

static void parse_job(struct parse *p, const struct ynode *n, const char *path,
                      struct manifest_job *job)
{
    static const char *const keys[] = {"id", "plugin", "trigger", "params", "enabled",
                                       "max_instances", "misfire_grace", "coalesce", "timeout",
                                       "isolation", "limits", "log_level", NULL};
    const struct ynode *v;
    char sub[512];

    job->enabled = true;
    job->max_instances = 1;
    job->misfire_grace_ns = 60 * NS_PER_SEC;
    job->coalesce = true;
    job->log_level = -1;
    job->line = n->line;
    job->col = n->col;
    if (!expect_kind(p, n, YMAP, path))
        return;
    check_keys(p, n, path, keys);

    child_path(sub, sizeof(sub), path, "id");
    if (!(v = map_get(n, "id"))) {
        perr(p, n->line, n->col, path, "missing key \"id\"");
    } else if (get_string(p, v, sub, &job->id)) {
        if (job->id[0] == '\0')
            perr(p, v->line, v->col, sub, "must not be empty");
        else if (strlen(job->id) > JOB_ID_MAX || !valid_name(job->id, true))
            perr(p, v->line, v->col, sub,
                 "\"%s\" is not a valid id (letters, digits, '.', '_' and '-', starting with a "
                 "letter or digit, at most %d)",
                 job->id, JOB_ID_MAX);
    }
    child_path(sub, sizeof(sub), path, "plugin");
    if (!(v = map_get(n, "plugin"))) {
        perr(p, n->line, n->col, path, "missing key \"plugin\"");
    } else if (get_string(p, v, sub, &job->plugin)) {
        job->plugin_line = v->line;
        job->plugin_col = v->col;
        if (job->plugin[0] == '\0')
            perr(p, v->line, v->col, sub, "must not be empty");
        else if (!valid_name(job->plugin, false))
            perr(p, v->line, v->col, sub,
                 "\"%s\" is not a plugin name (letters, digits, '_' and '-'; it names "
                 "<plugin_dir>/%s.so)",
                 job->plugin, "NAME");
    }
    if ((v = map_get(n, "trigger"))) {
        child_path(sub, sizeof(sub), path, "trigger");
        parse_trigger(p, v, sub, job);
    }
    if (!job->trigger_text)
        job->trigger_text = xstrdup("manual");
    if ((v = map_get(n, "params"))) {
        child_path(sub, sizeof(sub), path, "params");
        parse_params(p, v, sub, job);
    }
    if ((v = map_get(n, "enabled"))) {
        child_path(sub, sizeof(sub), path, "enabled");
        get_bool(p, v, sub, &job->enabled);
    }
    if ((v = map_get(n, "max_instances"))) {
        child_path(sub, sizeof(sub), path, "max_instances");
        get_uint(p, v, sub, 1, 10000, &job->max_instances);
    }
    if ((v = map_get(n, "misfire_grace"))) {
        child_path(sub, sizeof(sub), path, "misfire_grace");
        get_duration(p, v, sub, &job->misfire_grace_ns);
    }
    if ((v = map_get(n, "coalesce"))) {
        child_path(sub, sizeof(sub), path, "coalesce");
        get_bool(p, v, sub, &job->coalesce);
    }
    if ((v = map_get(n, "timeout"))) {
        child_path(sub, sizeof(sub), path, "timeout");
        get_duration(p, v, sub, &job->timeout_ns);
    }
    if ((v = map_get(n, "isolation"))) {
        child_path(sub, sizeof(sub), path, "isolation");
        if (expect_kind(p, v, YSCALAR, sub)) {
            if (strcmp(v->text, "thread") == 0)
                job->isolation = ISOLATION_THREAD;
            else if (strcmp(v->text, "process") == 0)
                job->isolation = ISOLATION_PROCESS;
            else
                perr(p, v->line, v->col, sub, "unknown isolation \"%s\" (expected thread or process)",
                     v->text);
        }
    }
    if ((v = map_get(n, "limits"))) {
        child_path(sub, sizeof(sub), path, "limits");
        parse_limits(p, v, sub, job);
    }
    if ((v = map_get(n, "log_level"))) {
        child_path(sub, sizeof(sub), path, "log_level");
        parse_level(p, v, sub, &job->log_level);
    }
}

/* ---- the whole ------------------------------------------------------------- */

static void host_defaults(struct manifest_host *h, const char *dir)
{
    struct buf b = {0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    buf_printf(&b, "%s/plugins", dir);
    h->plugin_dir = b.data;
    h->strict_permissions = true;
    h->workers = cpus > 0 ? (unsigned)cpus : 1;
    h->shutdown_timeout_ns = 30 * NS_PER_SEC;
    h->drain_timeout_ns = 60 * NS_PER_SEC;
    h->http.enabled = true;
    h->http.listen = xstrdup("127.0.0.1:9464");
    h->log.level = JH_LOG_INFO;
    h->log.syslog = true;
    h->log.ident = xstrdup("jobhost");
    h->log.facility = LOG_DAEMON;
    h->log.file_max_size = 10u << 20;
    h->log.file_keep = 5;
    h->log.to_stderr = -1;
}

struct id_ref {
    const char *id;
    size_t index;
};

static int id_ref_cmp(const void *a, const void *b)
{
    const struct id_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int index_cmp(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* Duplicate ids, found by sorting (a manifest may hold 100,000 jobs), and
 * reported in manifest order against the first job with that id. */
static void check_duplicate_ids(struct parse *p, struct manifest *m, const struct ynode *jobs)
{
    struct id_ref *refs = xcalloc(m->n_jobs + 1, sizeof(*refs));
    size_t *dups = xcalloc(m->n_jobs + 1, sizeof(*dups));
    size_t *first = xcalloc(m->n_jobs + 1, sizeof(*first));
    size_t n = 0, n_dups = 0;

    for (size_t i = 0; i < m->n_jobs; i++) {
        if (m->jobs[i].id && m->jobs[i].id[0])
            refs[n++] = (struct id_ref){m->jobs[i].id, i};
    }
    qsort(refs, n, sizeof(*refs), id_ref_cmp);
    for (size_t i = 1, group = 0; i < n; i++) {
        if (strcmp(refs[group].id, refs[i].id) != 0) {
            group = i; /* a new id; its first entry is its earliest job */
            continue;
        }
        first[refs[i].index] = refs[group].index;
        dups[n_dups++] = refs[i].index;
    }
    qsort(dups, n_dups, sizeof(*dups), index_cmp);
    for (size_t d = 0; d < n_dups; d++) {
        size_t i = dups[d], j = first[i];
        const struct ynode *idn = map_get(jobs->items[i], "id");
        char path[64];
        snprintf(path, sizeof(path), "jobs[%zu].id", i);
        perr(p, idn->line, idn->col, path, "duplicate job id \"%s\" (also jobs[%zu], line %d)",
             m->jobs[i].id, j, m->jobs[j].line);
    }
    free(refs);
    free(dups);
    free(first);
}

int manifest_parse(const char *name, const char *dir, const char *text, size_t len,
                   struct manifest **out, struct errors *errs)
{
    static const char *const top_keys[] = {"host", "jobs", NULL};
    struct parse p = {.name = name, .dir = dir, .errs = errs};
    struct manifest *m = NULL;
    struct ynode *root = NULL;
    const struct ynode *v;
    long bad;
    int rc = -EINVAL;

    *out = NULL;
    if (len > MANIFEST_MAX_BYTES) {
        perr(&p, 1, 1, NULL, "manifest is larger than %u bytes", MANIFEST_MAX_BYTES);
        goto out;
    }
    bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad >= 0) {
        int line, col;
        offset_to_position(text, (size_t)bad, &line, &col);
        if (text[bad] == '\0')
            perr(&p, line, col, NULL, "NUL byte in the file; a manifest must be UTF-8 text");
        else
            perr(&p, line, col, NULL,
                 "not valid UTF-8 (byte 0x%02x); a manifest must be UTF-8 text",
                 (unsigned char)text[bad]);
        goto out;
    }
    root = yaml_to_tree(&p, text, len);
    if (!root) {
        if (!p.failed)
            perr(&p, 1, 1, NULL, "manifest is empty (expected a mapping with `host` and `jobs`)");
        goto out;
    }
    m = xcalloc(1, sizeof(*m));
    m->path = xstrdup(name);
    m->dir = xstrdup(dir);
    host_defaults(&m->host, dir);
    if (is_null(root)) {
        perr(&p, root->line, root->col, NULL,
             "manifest is empty (expected a mapping with `host` and `jobs`)");
        goto out;
    }
    if (!expect_kind(&p, root, YMAP, NULL))
        goto out;
    check_keys(&p, root, "", top_keys);
    if ((v = map_get(root, "host")) && !is_null(v))
        parse_host(&p, v, &m->host);
    if ((v = map_get(root, "jobs")) && !is_null(v) && expect_kind(&p, v, YSEQ, "jobs")) {
        m->jobs = xcalloc(v->count + 1, sizeof(*m->jobs));
        for (size_t i = 0; i < v->count; i++) {
            char path[64];
            snprintf(path, sizeof(path), "jobs[%zu]", i);
            parse_job(&p, v->items[i], path, &m->jobs[m->n_jobs++]);
        }
        check_duplicate_ids(&p, m, v);
    }
    if (!p.failed)
        rc = 0;
out:
    ynode_free(root);
    if (rc == 0) {
        *out = m;
    } else {
        manifest_free(m);
    }
    return rc;
}

int manifest_load(const char *path, struct manifest **out, struct errors *errs)
{
    struct buf text = {0};
    char dirbuf[PATH_MAX];
    char *slash;
    int fd = -1, rc;
    struct stat st;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        errors_add(errs, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        errors_add(errs, "%s: not a regular file", path);
        goto out;
    }
    for (;;) {
        buf_reserve(&text, 65536);
        ssize_t n = read(fd, text.data + text.len, text.cap - text.len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            errors_add(errs, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        text.len += (size_t)n;
        text.data[text.len] = '\0';
        if (text.len > MANIFEST_MAX_BYTES)
            break;
    }
    /* The directory relative paths are resolved against: the manifest's own,
     * made absolute so a later chdir cannot change what it means. */
    if (!realpath(path, dirbuf)) {
        rc = -errno;
        errors_add(errs, "%s: %s", path, strerror(errno));
        goto out;
    }
    slash = strrchr(dirbuf, '/');
    if (slash == dirbuf)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    rc = manifest_parse(path, dirbuf, text.data ? text.data : "", text.len, out, errs);
out:
    if (fd >= 0)
        close(fd);
    buf_free(&text);
    return rc;
}

static void param_free(struct manifest_param *prm)
{
    for (size_t i = 0; i < prm->n; i++) {
        if (prm->values)
            free(prm->values[i]);
        if (prm->names)
            free(prm->names[i]);
    }
    free(prm->values);
    free(prm->names);
    free(prm->value);
    free(prm->key);
}

static void job_free(struct manifest_job *j)
{
    for (size_t k = 0; k < j->n_params; k++)
        param_free(&j->params[k]);
    free(j->params);
    free(j->id);
    free(j->plugin);
    free(j->trigger_text);
    free(j->timezone);
}

void manifest_retain_job(struct manifest *m, const char *id)
{
    size_t kept = 0;
    for (size_t i = 0; i < m->n_jobs; i++) {
        if (m->jobs[i].id && strcmp(m->jobs[i].id, id) == 0 && kept == 0)
            m->jobs[kept++] = m->jobs[i];
        else
            job_free(&m->jobs[i]);
    }
    m->n_jobs = kept;
}

void manifest_free(struct manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_jobs; i++)
        job_free(&m->jobs[i]);
    free(m->jobs);
    free(m->host.plugin_dir);
    free(m->host.http.listen);
    free(m->host.http.token_file);
    free(m->host.http.cert_file);
    free(m->host.http.key_file);
    free(m->host.log.ident);
    free(m->host.log.file_path);
    free(m->host.duration_buckets);
    free(m->path);
    free(m->dir);
    free(m);
}

const struct manifest_job *manifest_find_job(const struct manifest *m, const char *id)
{
    for (size_t i = 0; i < m->n_jobs; i++) {
        if (m->jobs[i].id && strcmp(m->jobs[i].id, id) == 0)
            return &m->jobs[i];
    }
    return NULL;
}
