/*
 * yamltree — libyaml events to a node tree. See yamltree.h.
 *
 * The text is checked as a whole first (size, UTF-8, NUL), so libyaml only
 * ever sees valid UTF-8. Then one loop turns events into nodes: collections
 * are pushed on a stack bounded by the depth limit, scalars are attached to
 * the collection on top. An item of the streamed list is allocated after an
 * arena mark; once complete it is handed to the hook and the arena is
 * released back to the mark, so the list's items never accumulate.
 *
 * The first problem stops the loop. Anything the stream hook reported for
 * the items read before it is withdrawn: a file that is not YAML gets the
 * one message that says so, as it would without streaming.
 */
#include "core/yamltree.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/schema.h"
#include "lib/utf8.h"

/* The state of one parse. */
struct tree {
    struct schema *s;
    struct arena *nodes;
    const struct yamltree_stream *stream;
    struct ynode *stack[YAMLTREE_MAX_DEPTH + 1];
    int depth;
    struct ynode *root;
    size_t n_nodes;
    bool stream_done;      /* the streamed key was met: later ones are kept whole */
    struct ynode *item;    /* the streamed item being built, or NULL */
    size_t item_index;
    struct arena_mark item_mark;
    bool failed;
    int fail_line, fail_col;
    char fail_msg[512];
};

static void fail(struct tree *t, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct tree *t, int line, int col, const char *fmt, ...)
{
    va_list ap;

    if (t->failed)
        return;
    t->failed = true;
    t->fail_line = line;
    t->fail_col = col;
    va_start(ap, fmt);
    vsnprintf(t->fail_msg, sizeof(t->fail_msg), fmt, ap);
    va_end(ap);
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

static void syntax_error(struct tree *t, const yaml_parser_t *parser)
{
    const yaml_mark_t *m = &parser->problem_mark, *cm = &parser->context_mark;
    const char *problem = parser->problem ? parser->problem : "malformed";
    int line = (int)m->line + 1, col = (int)m->column + 1;

    if (parser->context && (cm->line != m->line || cm->column != m->column))
        fail(t, line, col, "YAML syntax error: %s %s (which started at %d:%d)", problem,
             parser->context, (int)cm->line + 1, (int)cm->column + 1);
    else if (parser->context)
        fail(t, line, col, "YAML syntax error: %s %s", problem, parser->context);
    else
        fail(t, line, col, "YAML syntax error: %s", problem);
}

/* True when a node starting now is an item of the streamed list. */
static bool starts_item(const struct tree *t)
{
    return t->depth > 0 && t->stack[t->depth - 1]->streamed;
}

/* Hands the completed streamed item over and drops it. */
static void item_done(struct tree *t)
{
    t->stream->fn(t->stream->arg, t->item, t->item_index);
    t->item = NULL;
    arena_release(t->nodes, t->item_mark);
}

static struct ynode *node_new(struct tree *t, enum ynode_kind kind, const yaml_mark_t *mark)
{
    struct ynode *n;

    if (starts_item(t)) {
        t->item_mark = arena_mark(t->nodes);
        t->item_index = t->stack[t->depth - 1]->count;
    }
    n = arena_calloc(t->nodes, 1, sizeof(*n));
    n->kind = (unsigned char)kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    t->n_nodes++;
    return n;
}

/* Puts a new node in its place: the root, a streamed item (counted, not
 * linked), or the last child of the collection on top of the stack. */
static void attach(struct tree *t, struct ynode *n)
{
    struct ynode *parent;

    if (t->depth == 0) {
        t->root = n;
        return;
    }
    parent = t->stack[t->depth - 1];
    if (parent->streamed) {
        parent->count++;
        t->item = n;
        return;
    }
    /* The value of the streamed key in the top-level mapping is a list:
     * stream it (the first time the key is met). */
    if (t->stream && !t->stream_done && t->depth == 1 && parent->kind == YMAP &&
        parent->count % 2 == 1 && parent->last->kind == YSCALAR &&
        strcmp(parent->last->text, t->stream->key) == 0) {
        t->stream_done = true;
        n->streamed = n->kind == YSEQ;
    }
    if (parent->last)
        parent->last->next = n;
    else
        parent->first = n;
    parent->last = n;
    parent->count++;
}

static void on_event(struct tree *t, const yaml_event_t *ev, int *documents, bool *done)
{
    const yaml_mark_t *mark = &ev->start_mark;
    int line = (int)mark->line + 1, col = (int)mark->column + 1;
    struct ynode *n = NULL;

    if (event_anchor(ev)) {
        fail(t, line, col, "anchors (&%s) and aliases are not allowed in a manifest",
             event_anchor(ev));
        return;
    }
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return;
    case YAML_DOCUMENT_START_EVENT:
        if (++*documents > 1)
            fail(t, line, col, "a manifest holds one YAML document; found a second");
        return;
    case YAML_ALIAS_EVENT:
        fail(t, line, col, "aliases (*%s) and anchors are not allowed in a manifest",
             (const char *)ev->data.alias.anchor);
        return;
    case YAML_SCALAR_EVENT:
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
            fail(t, line, col, "NUL character in a value");
            return;
        }
        n = node_new(t, YSCALAR, mark);
        n->text = arena_strndup(t->nodes, (const char *)ev->data.scalar.value,
                                ev->data.scalar.length);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (t->depth >= YAMLTREE_MAX_DEPTH) {
            fail(t, line, col, "manifest nests deeper than %d levels", YAMLTREE_MAX_DEPTH);
            return;
        }
        n = node_new(t, ev->type == YAML_SEQUENCE_START_EVENT ? YSEQ : YMAP, mark);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        t->depth--;
        if (t->item && t->depth == 2 && t->stack[1]->streamed)
            item_done(t);
        return;
    default:
        return;
    }
    if (t->n_nodes > YAMLTREE_MAX_NODES) {
        fail(t, n->line, n->col, "manifest has more than %d nodes", YAMLTREE_MAX_NODES);
        return;
    }
    attach(t, n);
    if (n->kind != YSCALAR)
        t->stack[t->depth++] = n;
    else if (t->item == n)
        item_done(t);
}

struct ynode *yamltree_parse(struct schema *s, struct arena *nodes, const char *text, size_t len,
                             const struct yamltree_stream *stream)
{
    struct tree t = {.s = s, .nodes = nodes, .stream = stream};
    size_t first_error = s->n_errors;
    yaml_parser_t parser;
    yaml_event_t ev;
    int documents = 0;
    bool done = false;
    long bad;

    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3; /* the byte order mark: not part of the document */
        len -= 3;
    }
    if (len > YAMLTREE_MAX_BYTES) {
        schema_error(s, 1, 1, NULL, "manifest is larger than %u bytes", YAMLTREE_MAX_BYTES);
        return NULL;
    }
    bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad >= 0) {
        int line, col;
        offset_to_position(text, (size_t)bad, &line, &col);
        if (text[bad] == '\0')
            schema_error(s, line, col, NULL, "NUL byte in the file; a manifest must be UTF-8 text");
        else
            schema_error(s, line, col, NULL,
                         "not valid UTF-8 (byte 0x%02x); a manifest must be UTF-8 text",
                         (unsigned char)text[bad]);
        return NULL;
    }
    if (!yaml_parser_initialize(&parser)) {
        schema_error(s, 1, 1, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    while (!done && !t.failed) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&t, &parser);
            break;
        }
        on_event(&t, &ev, &documents, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (t.failed) {
        /* withdraw what the hook said about items before the problem */
        schema_withdraw(s, first_error);
        schema_error(s, t.fail_line, t.fail_col, NULL, "%s", t.fail_msg);
        return NULL;
    }
    return t.root;
}
