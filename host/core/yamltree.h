/*
 * yamltree — the first pass of reading a manifest: bytes to a tree of YAML
 * nodes that remember their line and column, through libyaml's event
 * stream. Internal to the manifest reader (core/manifest.c).
 *
 * What no manifest may hold is refused here, before any schema is applied:
 * bytes that are not UTF-8 text (a NUL, an invalid sequence), anchors and
 * aliases (so an alias bomb never expands), a second document, nesting
 * deeper than YAMLTREE_MAX_DEPTH, more than YAMLTREE_MAX_NODES nodes or more
 * than YAMLTREE_MAX_BYTES bytes. The limits hold per file. A UTF-8 byte
 * order mark at the start is skipped (editors on some systems write one);
 * positions are counted after it, as editors show them.
 *
 * Nodes and their text live in an arena the caller gives. A manifest's long
 * list (its `jobs:`) need not be held whole: with a stream hook, each item of
 * the list under a chosen top-level key is handed over once complete, then
 * dropped, so reading 100,000 jobs holds the nodes of one job at a time.
 * Pure: no I/O, no globals.
 */
#ifndef JH_YAMLTREE_H
#define JH_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"

#define YAMLTREE_MAX_BYTES (64u << 20) /* a 100,000-job manifest is about 8 MiB */
#define YAMLTREE_MAX_DEPTH 32
#define YAMLTREE_MAX_NODES 2000000 /* aliases are refused, so nodes <= bytes read */

struct schema;

enum ynode_kind { YSCALAR, YSEQ, YMAP };

struct ynode {
    struct ynode *first; /* YSEQ: the items; YMAP: key, value, key, value ... */
    struct ynode *last;
    struct ynode *next;  /* the next sibling */
    const char *text;    /* YSCALAR, NUL-terminated (a NUL inside is refused) */
    size_t count;        /* children: YSEQ items, YMAP keys and values (2 per entry) */
    int line, col;       /* 1-based */
    unsigned char kind;  /* enum ynode_kind */
    bool plain;          /* YSCALAR written without quotes (so `null`, `true` mean something) */
    bool streamed;       /* YSEQ whose items went to the stream hook: count only */
};

/* Called with each item of the streamed list once it is complete; index is
 * the item's position in the list. The item and its subtree are dropped
 * when the hook returns. */
typedef void yamltree_item_fn(void *arg, const struct ynode *item, size_t index);

struct yamltree_stream {
    const char *key;       /* the top-level key whose list is streamed */
    yamltree_item_fn *fn;
    void *arg;
};

/* Builds the tree of the one document in text[0..len). Nodes are allocated
 * in `nodes` and stay valid until the caller releases it. Problems are
 * reported through `s` (schema_error), with s->file as the file name.
 * `stream` may be NULL; otherwise only the first occurrence of the key in
 * the top-level mapping is streamed, and only when its value is a list.
 * Returns the root, or NULL after reporting a problem, or NULL with no
 * report for a document that is empty (nothing but comments). */
struct ynode *yamltree_parse(struct schema *s, struct arena *nodes, const char *text, size_t len,
                             const struct yamltree_stream *stream);

#endif /* JH_YAMLTREE_H */
